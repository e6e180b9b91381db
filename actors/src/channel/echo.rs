//! # `EchoChannel` — a loopback channel for tests
//!
//! Shows that a channel plugs in by its actor and its registration alone: it handles the
//! channel messages of [`super`], is registered as a [`ChannelHandle`] of kind [`KIND`], and
//! hands what a test "says" in a chat to the registry as [`InboundReceived`]. Every
//! [`DeliverReply`] it gets is forwarded to the test's receiver. Of the message actions it
//! has only the gate of `send` ([`SetSendGate`]).

use actix::prelude::*;
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;

use super::{
    ApproveChannelPairing, ChannelAction, ChannelError, ChannelHandle, ChannelKind,
    ChannelRecipients, ChannelStatus, ChatTarget, DeliverReply, GetChannelStatus, InboundMessage,
    ListChannelPairing, MessageOp, PairingApproval,
};
use crate::registry::runs::InboundReceived;
use crate::util::now_ms;

/// The echo channel kind.
pub const KIND: ChannelKind = ChannelKind {
    id: "echo",
    label: "Echo",
    setup_hint: "register an EchoChannel",
    parse_target: |to, thread_id| {
        to.trim()
            .parse()
            .map(|chat_id| ChatTarget { chat_id, thread_id })
            .map_err(|_| format!("invalid echo target {to:?}"))
    },
    // Its chats are private ones (`chat_type: "private"`).
    conversation_of: |_| crate::audit::ConversationKind::Direct,
};

/// One echo account.
pub struct EchoChannel {
    account: String,
    registry: Recipient<InboundReceived>,
    delivered: UnboundedSender<DeliverReply>,
    next_id: i64,
    /// The message action `send` is allowed (as Telegram's `actions.sendMessage`).
    send_allowed: bool,
}

impl EchoChannel {
    /// An account handing inbound messages to `registry` and replies to `delivered`.
    pub fn new(
        account: &str,
        registry: Recipient<InboundReceived>,
        delivered: UnboundedSender<DeliverReply>,
    ) -> Self {
        Self {
            account: account.to_owned(),
            registry,
            delivered,
            next_id: 0,
            send_allowed: true,
        }
    }

    /// The registry's handle on a started account.
    pub fn handle(addr: &Addr<Self>, account: &str) -> ChannelHandle {
        let mut recipients = ChannelRecipients::of(addr);
        recipients.actions = Some(addr.clone().recipient());
        ChannelHandle {
            kind: &KIND,
            account: account.to_owned(),
            recipients,
        }
    }
}

impl Actor for EchoChannel {
    type Context = Context<Self>;
}

/// A user says `text` in a private chat with id `chat_id`. Replies with the inbound id.
#[derive(Message)]
#[rtype(result = "String")]
pub struct Say {
    /// Chat (and sender) id.
    pub chat_id: i64,
    /// The text.
    pub text: String,
}

impl Handler<Say> for EchoChannel {
    type Result = String;

    fn handle(&mut self, msg: Say, ctx: &mut Self::Context) -> String {
        self.next_id += 1;
        let inbound = InboundMessage {
            id: format!("{}:{}:{}", KIND.id, self.account, self.next_id),
            channel: KIND.id.into(),
            account_id: self.account.clone(),
            chat_id: msg.chat_id,
            chat_type: "private".into(),
            thread_id: None,
            sender_id: msg.chat_id,
            sender_name: "Echo User".into(),
            sender_username: None,
            message_id: self.next_id,
            text: msg.text,
            ts: now_ms(),
            ..Default::default()
        };
        let id = inbound.id.clone();
        self.registry.do_send(InboundReceived {
            msg: inbound,
            reply_to: ctx.address().recipient(),
        });
        id
    }
}

impl Handler<DeliverReply> for EchoChannel {
    type Result = Result<Vec<i64>, ChannelError>;

    fn handle(&mut self, msg: DeliverReply, _: &mut Self::Context) -> Self::Result {
        self.next_id += 1;
        self.delivered
            .send(msg)
            .map_err(|_| ChannelError::Delivery("the test stopped listening".to_owned()))?;
        Ok(vec![self.next_id])
    }
}

/// Turns the gate of the message action `send` on or off.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetSendGate(pub bool);

impl Handler<SetSendGate> for EchoChannel {
    type Result = ();

    fn handle(&mut self, msg: SetSendGate, _: &mut Self::Context) {
        self.send_allowed = msg.0;
    }
}

impl Handler<ChannelAction> for EchoChannel {
    type Result = Result<serde_json::Value, ChannelError>;

    fn handle(&mut self, msg: ChannelAction, _: &mut Self::Context) -> Self::Result {
        match msg.op {
            MessageOp::Send if self.send_allowed => Ok(json!({"ok": true})),
            MessageOp::Send => Err(ChannelError::ActionDisabled("sendMessage")),
            op => Err(ChannelError::Invalid(format!(
                "the echo channel has no {} action",
                op.name()
            ))),
        }
    }
}

impl Handler<GetChannelStatus> for EchoChannel {
    type Result = MessageResult<GetChannelStatus>;

    fn handle(&mut self, _: GetChannelStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(ChannelStatus {
            account_id: Some(self.account.clone()),
            running: true,
            details: serde_json::Map::new(),
        })
    }
}

impl Handler<ListChannelPairing> for EchoChannel {
    type Result = MessageResult<ListChannelPairing>;

    fn handle(&mut self, _: ListChannelPairing, _: &mut Self::Context) -> Self::Result {
        MessageResult(Vec::new())
    }
}

impl Handler<ApproveChannelPairing> for EchoChannel {
    type Result = Result<PairingApproval, ChannelError>;

    fn handle(&mut self, _: ApproveChannelPairing, _: &mut Self::Context) -> Self::Result {
        Err(ChannelError::NoPairing(KIND.id))
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;
    use crate::engine::{Engine, EngineConfig, EngineDeps};
    use crate::ports::{ChatMessage, ChatModel, ChatRequest, ChatResponse, LocalFut, ModelError};
    use crate::registry::channels::{
        ChannelPairingApprove, ChannelPairingList, ChannelsStatus, RegisterChannel, SendAction,
        SendOutbound,
    };
    use crate::registry::runs::ListSessions;

    /// Answers every message with `you said: <text>`.
    struct Scripted;

    impl ChatModel for Scripted {
        fn label(&self) -> String {
            "test/scripted".into()
        }

        fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
            let last = req
                .messages
                .last()
                .and_then(|m| m.content.clone())
                .unwrap_or_default();
            Box::pin(async move {
                Ok(ChatResponse {
                    message: ChatMessage::text("assistant", format!("you said: {last}")),
                    finish_reason: Some("stop".into()),
                    usage: Default::default(),
                    model: None,
                })
            })
        }
    }

    /// An engine in a fresh state dir with an echo channel for `account` registered: the
    /// state dir, the engine, the channel and the replies it is asked to deliver.
    async fn engine_with_echo(
        account: &str,
        deps: EngineDeps,
    ) -> (
        std::path::PathBuf,
        Engine,
        Addr<EchoChannel>,
        tokio::sync::mpsc::UnboundedReceiver<DeliverReply>,
    ) {
        let dir = std::env::temp_dir().join(format!("openclaw-echo-{}", uuid::Uuid::new_v4()));
        let mut cfg = EngineConfig::with_token("t");
        cfg.state_dir = dir.clone();
        let engine = Engine::start(cfg, deps).expect("engine starts");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let echo = EchoChannel::new(account, engine.registry.clone().recipient(), tx).start();
        engine
            .registry
            .send(RegisterChannel {
                handle: EchoChannel::handle(&echo, account),
            })
            .await
            .expect("registry up");
        (dir, engine, echo, rx)
    }

    async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<DeliverReply>) -> DeliverReply {
        // A deadline on waiting, not a timed assertion: a broken route fails, not hangs.
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("no reply within 30 s")
            .expect("channel dropped")
    }

    /// The echo channel plugs in by its actor and one `RegisterChannel`: an inbound message
    /// runs the agent and the reply comes back through the channel's `DeliverReply`; `send`,
    /// `channels.status` and `channels.pairing.*` reach it through its handle.
    #[actix::test]
    async fn echo_channel_end_to_end_through_registry_and_agent_run() {
        let (dir, engine, echo, mut rx) = engine_with_echo(
            "default",
            EngineDeps {
                model: Some(Rc::new(Scripted)),
                ..Default::default()
            },
        )
        .await;

        // Inbound → agent run → reply through the echo channel.
        let id = echo
            .send(Say {
                chat_id: 77,
                text: "hello".into(),
            })
            .await
            .expect("echo up");
        assert_eq!(id, "echo:default:1");
        let reply = next(&mut rx).await;
        assert_eq!(reply.text, "you said: hello");
        assert_eq!(reply.inbound_id.as_deref(), Some("echo:default:1"));
        assert_eq!(
            reply.target,
            ChatTarget {
                chat_id: 77,
                thread_id: None
            }
        );
        assert_eq!(reply.reply_to, Some(1));
        let sessions = engine
            .registry
            .send(ListSessions {
                limit: 10,
                search: None,
            })
            .await
            .expect("registry up");
        let sessions = serde_json::to_value(&sessions).expect("serializes");
        assert_eq!(
            sessions["sessions"][0]["key"],
            json!("agent:main:echo:direct:77")
        );
        assert_eq!(sessions["sessions"][0]["channel"], json!("echo"));

        // `send` through the handle, with the kind's target parser.
        let sent = engine
            .registry
            .send(SendOutbound {
                channel: "echo".into(),
                media: Vec::new(),
                files: Vec::new(),
                buttons: Vec::new(),
                sources: Default::default(),
                account_id: None,
                to: " 9 ".into(),
                text: "out".into(),
                thread_id: Some(3),
                reply_to: None,
                silent: false,
                idempotency_key: "k1".into(),
                run: None,
            })
            .await
            .expect("registry up")
            .expect("sent");
        assert_eq!(sent.channel, "echo");
        assert_eq!(sent.to, " 9 ");
        assert!(!sent.deduplicated);
        assert_eq!(sent.message_ids.len(), 1, "{sent:?}");
        assert_eq!(sent.message_id, sent.message_ids.first().copied());
        let out = next(&mut rx).await;
        assert_eq!(out.text, "out");
        assert_eq!(out.inbound_id, None);
        assert_eq!(
            out.target,
            ChatTarget {
                chat_id: 9,
                thread_id: Some(3)
            }
        );
        let bad = engine
            .registry
            .send(SendOutbound {
                channel: "echo".into(),
                media: Vec::new(),
                files: Vec::new(),
                buttons: Vec::new(),
                sources: Default::default(),
                account_id: None,
                to: "nine".into(),
                text: "out".into(),
                thread_id: None,
                reply_to: None,
                silent: false,
                idempotency_key: "k2".into(),
                run: None,
            })
            .await
            .expect("registry up")
            .expect_err("not a chat id")
            .to_shape();
        assert_eq!(bad.message, "invalid echo target \"nine\"");

        // Status and pairing through the handle.
        let status = engine
            .registry
            .send(ChannelsStatus)
            .await
            .expect("registry up");
        let status = serde_json::to_value(&status).expect("serializes");
        assert_eq!(status["channelOrder"], json!(["echo"]));
        assert_eq!(status["channelLabels"], json!({"echo": "Echo"}));
        assert_eq!(
            status["channels"]["echo"],
            json!({"configured": true, "running": true,
                   "accounts": {"default": {"accountId": "default", "running": true}}})
        );
        let pairing = engine
            .registry
            .send(ChannelPairingList)
            .await
            .expect("registry up");
        let pairing = serde_json::to_value(&pairing).expect("serializes");
        assert_eq!(
            pairing["accounts"],
            json!([{"channel": "echo", "accountId": "default"}])
        );
        let approve = engine
            .registry
            .send(ChannelPairingApprove {
                channel: "echo".into(),
                account_id: None,
                code: "X".into(),
            })
            .await
            .expect("registry up")
            .expect_err("no pairing")
            .to_shape();
        assert_eq!(approve.message, "the echo channel has no pairing");
        // Telegram is a known kind without an account here.
        let none = engine
            .registry
            .send(ChannelPairingApprove {
                channel: crate::channel::telegram::KIND.id.into(),
                account_id: None,
                code: "X".into(),
            })
            .await
            .expect("registry up")
            .expect_err("not configured")
            .to_shape();
        assert_eq!(
            none.message,
            "channel not configured: telegram (set channels.telegram.botToken and enabled: true)"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Unknown kinds are refused naming the supported ones; a webhook for an account without
    /// a webhook recipient (or for no account) is `NotFound`.
    #[actix::test]
    async fn unknown_kinds_and_webhooks_without_a_recipient_are_refused() {
        let (dir, engine, _echo, _rx) = engine_with_echo("a", EngineDeps::default()).await;
        let e = engine
            .registry
            .send(SendOutbound {
                channel: "nope".into(),
                media: Vec::new(),
                files: Vec::new(),
                buttons: Vec::new(),
                sources: Default::default(),
                account_id: None,
                to: "1".into(),
                text: "x".into(),
                thread_id: None,
                reply_to: None,
                silent: false,
                idempotency_key: "k".into(),
                run: None,
            })
            .await
            .expect("registry up")
            .expect_err("unknown kind")
            .to_shape();
        assert_eq!(
            e.message,
            "unsupported channel: nope (supported: telegram, echo)"
        );
        let e = engine
            .registry
            .send(SendOutbound {
                channel: "echo".into(),
                media: Vec::new(),
                files: Vec::new(),
                buttons: Vec::new(),
                sources: Default::default(),
                account_id: Some("b".into()),
                to: "1".into(),
                text: "x".into(),
                thread_id: None,
                reply_to: None,
                silent: false,
                idempotency_key: "k".into(),
                run: None,
            })
            .await
            .expect("registry up")
            .expect_err("unknown account")
            .to_shape();
        assert_eq!(
            e.message,
            "channel not configured: echo (register an EchoChannel)"
        );
        for account in ["a", "b"] {
            let r = engine
                .registry
                .send(crate::registry::channels::RouteWebhook {
                    kind: KIND.id,
                    account_id: account.into(),
                    delivery: crate::channel::WebhookDelivery {
                        secret: None,
                        body: bytes::Bytes::from_static(b"{}"),
                    },
                })
                .await
                .expect("registry up");
            assert_eq!(r, Err(crate::channel::WebhookError::NotFound), "{account}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// `message.action` `send` ([`SendAction`]) asks the account's gate first: refused, it
    /// delivers nothing and keeps no result for its idempotency key (the same key sends once
    /// the gate is on again); the `send` RPC ([`SendOutbound`]) is not gated.
    #[actix::test]
    async fn the_send_action_is_gated_and_the_send_rpc_is_not() {
        use crate::protocol::error::ErrorCode;
        let (dir, engine, echo, mut rx) = engine_with_echo("default", EngineDeps::default()).await;
        let out = |key: &str, text: &str| SendOutbound {
            channel: "echo".into(),
            media: Vec::new(),
            files: Vec::new(),
            buttons: Vec::new(),
            sources: Default::default(),
            account_id: None,
            to: "5".into(),
            text: text.into(),
            thread_id: None,
            reply_to: None,
            silent: false,
            idempotency_key: key.into(),
            run: None,
        };
        echo.send(SetSendGate(false)).await.expect("echo up");
        let refused = engine
            .registry
            .send(SendAction(out("gated", "first try")))
            .await
            .expect("registry up")
            .expect_err("sending is off")
            .to_shape();
        assert_eq!(refused.code, ErrorCode::InvalidRequest);
        assert_eq!(
            refused.message,
            "Telegram sendMessage is disabled. Fix: set channels.telegram.actions.sendMessage to true (or remove it)"
        );
        // A delivery would have reached the receiver before the answer.
        assert!(rx.try_recv().is_err(), "nothing was delivered");
        let plain = engine
            .registry
            .send(out("plain", "not gated"))
            .await
            .expect("registry up")
            .expect("the send RPC is not gated");
        assert!(!plain.deduplicated);
        assert_eq!(next(&mut rx).await.text, "not gated");

        echo.send(SetSendGate(true)).await.expect("echo up");
        let sent = engine
            .registry
            .send(SendAction(out("gated", "second try")))
            .await
            .expect("registry up")
            .expect("sending is on again");
        assert!(!sent.deduplicated, "the refusal kept no result: {sent:?}");
        assert_eq!(next(&mut rx).await.text, "second try");
        let again = engine
            .registry
            .send(SendAction(out("gated", "third try")))
            .await
            .expect("registry up")
            .expect("answered from the first result");
        assert!(again.deduplicated);
        assert_eq!(again.message_id, sent.message_id);
        assert!(rx.try_recv().is_err(), "a repeated key sends nothing");
        let _ = std::fs::remove_dir_all(dir);
    }
}
