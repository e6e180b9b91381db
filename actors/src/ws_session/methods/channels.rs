//! `send`, `message.action` (its `send` action), `channels.status`, `channels.stop`,
//! `channels.start`, `channels.logout`, `channels.pairing.list`, `channels.pairing.approve` (OpenClaw's
//! `server-methods/send.ts`, `channels.ts`).

use actix::prelude::*;

use serde::Serialize;

use super::agent_params::{MessageAction, PairingApproveParams};
use super::{Call, Method, gone};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess, PAIRING, READ, WRITE};
use crate::registry::channels::{
    ChannelPairingApprove, ChannelPairingList, ChannelsStatus, SendAction, SendOutbound,
};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "send",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::send_outbound),
    },
    Method {
        name: "message.action",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::message_action),
    },
    Method {
        name: "channels.status",
        access: MethodAccess::Operator(READ),
        handler: WsSession::channels_status,
    },
    Method {
        name: "channels.stop",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::channels_run,
    },
    Method {
        name: "channels.start",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::channels_run,
    },
    Method {
        name: "channels.logout",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::channels_logout,
    },
    Method {
        name: "channels.pairing.list",
        access: MethodAccess::Operator(PAIRING),
        handler: WsSession::channels_pairing_list,
    },
    Method {
        name: "channels.pairing.approve",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::channels_pairing_approve),
    },
];

/// `channels.stop|start {channel, accountId?}` (OpenClaw's closed
/// `ChannelsStartParamsSchema` / `ChannelsStopParamsSchema`).
fn parse_channel_run(call: &Call) -> Result<crate::registry::channels::ChannelRun, ErrorShape> {
    use super::args::{closed, invalid, opt_str, params};
    let m = call.method;
    let o = params(m, &call.params)?;
    closed(m, &o, &["channel", "accountId"])?;
    let channel = match opt_str(m, &o, "channel", &[])?.map(str::trim) {
        Some(c) if !c.is_empty() => c.to_owned(),
        Some(_) => return Err(invalid(m, "channel must NOT be empty")),
        None => return Err(invalid(m, "must have required property 'channel'")),
    };
    let account = opt_str(m, &o, "accountId", &[])?.map(str::to_owned);
    Ok(crate::registry::channels::ChannelRun {
        channel,
        account,
        start: m == "channels.start",
    })
}

impl WsSession {
    /// `channels.logout {channel, accountId?}`: the account's saved bot token leaves the
    /// config (applied before the answer, which stops its poller), and the account is
    /// stopped if another credential keeps it configured (`src/config/channel_logout.rs`).
    fn channels_logout(&mut self, call: Call, ctx: &mut Context<Self>) {
        let Some(ops) = self.shared.ops.get().cloned() else {
            let e = ErrorShape::unavailable("channels.logout is not available in this gateway");
            return self.respond_err(&call.id, &e, ctx);
        };
        let registry = self.registry.clone();
        let params = call.params;
        let fut = async move {
            let res = tokio::task::spawn_blocking(move || ops.channels_logout(&params))
                .await
                .unwrap_or_else(|_| Err((false, "channels.logout failed".to_owned())));
            let v = res.map_err(|(caller, m)| {
                if caller {
                    ErrorShape::invalid(m)
                } else {
                    ErrorShape::unavailable(m)
                }
            })?;
            // Still configured (a token file, TELEGRAM_BOT_TOKEN): stopped, as OpenClaw does.
            if v.get("loggedOut") == Some(&serde_json::Value::Bool(false)) {
                let stop = crate::registry::channels::ChannelRun {
                    channel: "telegram".into(),
                    account: v
                        .get("accountId")
                        .and_then(|a| a.as_str())
                        .map(str::to_owned),
                    start: false,
                };
                if let Ok(Err(e)) = registry.send(stop).await {
                    log::info!(
                        "channels.logout: the account was not stopped: {}",
                        e.message
                    );
                }
            }
            Ok(v)
        };
        self.reply_with(call.id, fut, ctx);
    }

    /// `channels.stop {channel, accountId?}` / `channels.start {channel, accountId?}`:
    /// stop an account without clearing its credentials or state, or start it again.
    fn channels_run(&mut self, call: Call, ctx: &mut Context<Self>) {
        match parse_channel_run(&call) {
            Ok(msg) => self.reply_registry(call.id, msg, ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `send {to, message, idempotencyKey, channel?, accountId?, threadId?, replyToId?}`.
    fn send_outbound(&mut self, call: Call, msg: SendOutbound, ctx: &mut Context<Self>) {
        self.reply_registry(call.id, msg, ctx);
    }

    /// `message.action` with `action:"send"`: the same delivery as `send` (and the same
    /// idempotency), but refused when the account's gate turns sending off (Telegram's
    /// `actions.sendMessage`; [`SendAction`]), answered in the shape the CLI's `message send`
    /// reads its message id from (`messageId`, `result.messageId`).
    fn message_action(&mut self, call: Call, action: MessageAction, ctx: &mut Context<Self>) {
        let (msg, pin) = match action {
            MessageAction::Send(msg, pin) => (msg, pin),
            MessageAction::DryRun { channel, to } => {
                let answer = ActionReceipt {
                    ok: true,
                    channel,
                    to,
                    via: "gateway",
                    dry_run: true,
                    deduplicated: false,
                    message_id: None,
                    message_ids: Vec::new(),
                    result: ActionResult { message_id: None },
                };
                return self.respond_ok(&call.id, &answer, ctx);
            }
            MessageAction::Op(route) => {
                let channel = route.channel.clone();
                let action = route.op.name();
                let fut = self.registry.send(route);
                return self.reply_with(
                    call.id,
                    async move {
                        let result = match fut.await {
                            Ok(r) => r.map_err(|e| e.to_shape())?,
                            Err(_) => return Err(gone()),
                        };
                        let mut answer = serde_json::json!({"ok": true, "channel": channel,
                            "action": action, "via": "gateway", "result": result});
                        if let Some(id) = answer["result"].get("messageId").cloned() {
                            answer["messageId"] = id;
                        }
                        Ok(answer)
                    },
                    ctx,
                );
            }
        };
        // `--pin`: the first message is pinned once sent (not again for a repeated key).
        let pin_route = pin.then(|| {
            (
                msg.channel.clone(),
                msg.account_id.clone(),
                msg.to.clone(),
                msg.thread_id,
                msg.silent,
            )
        });
        let registry = self.registry.clone();
        let fut = self.registry.send(SendAction(msg));
        self.reply_with(
            call.id,
            async move {
                let receipt = match fut.await {
                    Ok(r) => r.map_err(|e| e.to_shape())?,
                    Err(_) => return Err(gone()),
                };
                if let (Some((channel, account_id, to, thread_id, silent)), Some(id), false) =
                    (pin_route, receipt.message_id, receipt.deduplicated)
                {
                    let pinned = registry
                        .send(crate::registry::channels::RouteAction {
                            channel,
                            account_id,
                            to,
                            thread_id,
                            op: crate::channel::MessageOp::Pin {
                                message_id: id,
                                silent,
                            },
                        })
                        .await;
                    match pinned {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            return Err(crate::protocol::error::ErrorShape::unavailable(format!(
                                "the message was sent (message id {id}) but not pinned: {e}"
                            )));
                        }
                        Err(_) => return Err(gone()),
                    }
                }
                let message_id = receipt.message_id.map(|id| id.to_string());
                Ok(ActionReceipt {
                    ok: receipt.ok,
                    channel: receipt.channel.to_owned(),
                    to: receipt.to,
                    via: "gateway",
                    dry_run: false,
                    deduplicated: receipt.deduplicated,
                    message_id: message_id.clone(),
                    message_ids: receipt.message_ids.iter().map(i64::to_string).collect(),
                    result: ActionResult { message_id },
                })
            },
            ctx,
        );
    }

    /// `channels.status`.
    fn channels_status(&mut self, call: Call, ctx: &mut Context<Self>) {
        let fut = self.registry.send(ChannelsStatus);
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `channels.pairing.list`.
    fn channels_pairing_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        let fut = self.registry.send(ChannelPairingList);
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `channels.pairing.approve {channel, requestId | code, accountId?}`.
    fn channels_pairing_approve(
        &mut self,
        call: Call,
        p: PairingApproveParams,
        ctx: &mut Context<Self>,
    ) {
        self.reply_registry(
            call.id,
            ChannelPairingApprove {
                channel: p.channel,
                account_id: p.account_id,
                code: p.code,
            },
            ctx,
        );
    }
}

/// What `message.action` answers for `send`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionReceipt {
    ok: bool,
    channel: String,
    to: String,
    /// The gateway delivered it (the CLI reads `result.messageId` then).
    via: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deduplicated: bool,
    /// The first message id, as a string (`null` when nothing was sent).
    message_id: Option<String>,
    message_ids: Vec<String>,
    result: ActionResult,
}

/// `result` of [`ActionReceipt`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionResult {
    message_id: Option<String>,
}
