//! `#[actix::test]`s of the registry with a scripted model and a fake channel recipient:
//! no sockets, no files beyond a temporary state directory.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::GetStats;
use super::runs::{AbortRun, InboundReceived, WaitRun};
use crate::channel::{ChannelError, DeliverReply, InboundMessage};
use crate::engine::{Engine, EngineConfig, EngineDeps};
use crate::ports::{ChatMessage, ChatModel, ChatRequest, ChatResponse, LocalFut, ModelError};

/// Answers `you said: <text>`, one answer per permit the test hands out: runs stay active
/// until the test lets them finish.
struct Gated(Rc<Semaphore>);

impl ChatModel for Gated {
    fn label(&self) -> String {
        "test/gated".into()
    }

    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
        let gate = self.0.clone();
        let last = req
            .messages
            .last()
            .and_then(|m| m.content.clone())
            .unwrap_or_default();
        Box::pin(async move {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
            Ok(ChatResponse {
                message: ChatMessage::text("assistant", format!("you said: {last}")),
                finish_reason: Some("stop".into()),
            })
        })
    }
}

/// A fake channel: records what it is asked to deliver.
struct Outbox(UnboundedSender<DeliverReply>);

impl Actor for Outbox {
    type Context = Context<Self>;
}

impl Handler<DeliverReply> for Outbox {
    type Result = Result<Vec<i64>, ChannelError>;

    fn handle(&mut self, msg: DeliverReply, _: &mut Self::Context) -> Self::Result {
        self.0
            .send(msg)
            .map_err(|_| ChannelError::Delivery("test gone".into()))?;
        Ok(vec![1])
    }
}

fn inbound(n: i64, sender: i64, text: &str) -> InboundMessage {
    InboundMessage {
        id: format!("fake:default:{n}"),
        channel: "fake".into(),
        account_id: "default".into(),
        chat_id: sender,
        chat_type: "private".into(),
        thread_id: None,
        sender_id: sender,
        sender_name: format!("user {sender}"),
        sender_username: None,
        message_id: n,
        text: text.into(),
        ts: 0,
    }
}

async fn next(rx: &mut UnboundedReceiver<DeliverReply>) -> DeliverReply {
    // A deadline on waiting, not a timed assertion: a broken route fails, not hangs.
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("no delivery within 30 s")
        .expect("outbox dropped")
}

/// Two messages of one chat run one after the other, another chat's runs beside them;
/// aborting the queued one completes its pending message on the channel (empty text) and
/// `agent.wait` sees every end.
#[actix::test]
async fn registry_runs_one_per_session_and_completes_aborted_channel_messages() {
    let dir = std::env::temp_dir().join(format!("openclaw-reg-{}", uuid::Uuid::new_v4()));
    let mut cfg = EngineConfig::with_token("t");
    cfg.state_dir = dir.clone();
    let gate = Rc::new(Semaphore::new(0));
    let engine = Engine::start(
        cfg,
        EngineDeps {
            model: Some(Rc::new(Gated(gate.clone()))),
            ..Default::default()
        },
    )
    .expect("engine starts");
    let (tx, mut rx) = unbounded_channel();
    let outbox = Outbox(tx).start().recipient::<DeliverReply>();
    let registry = engine.registry.clone();
    for (n, sender, text) in [(1, 10, "first"), (2, 10, "second"), (3, 20, "other")] {
        registry
            .send(InboundReceived {
                msg: inbound(n, sender, text),
                reply_to: outbox.clone(),
            })
            .await
            .expect("registry up");
    }
    // A repeated message (a channel handing it again after a restart) is not run twice.
    registry
        .send(InboundReceived {
            msg: inbound(1, 10, "first"),
            reply_to: outbox.clone(),
        })
        .await
        .expect("registry up");
    let stats = registry.send(GetStats).await.expect("registry up");
    assert_eq!((stats.active_runs, stats.queued_runs), (2, 1));

    let aborted = registry
        .send(AbortRun {
            session_key: "agent:main:fake:dm:10".into(),
            run_id: Some("fake:default:2".into()),
        })
        .await
        .expect("registry up");
    assert_eq!(
        serde_json::to_string(&aborted).expect("serializes"),
        json!({"ok": true, "aborted": true, "runIds": ["fake:default:2"]}).to_string()
    );
    let done = next(&mut rx).await;
    assert_eq!(done.inbound_id.as_deref(), Some("fake:default:2"));
    assert_eq!(
        done.text, "",
        "an aborted message is completed without a reply"
    );

    gate.add_permits(2);
    let mut replies = [next(&mut rx).await, next(&mut rx).await];
    replies.sort_by_key(|r| r.target.chat_id);
    assert_eq!(replies[0].text, "you said: first");
    assert_eq!(replies[0].inbound_id.as_deref(), Some("fake:default:1"));
    assert_eq!(replies[0].reply_to, Some(1));
    assert_eq!(replies[1].text, "you said: other");
    assert_eq!(replies[1].target.chat_id, 20);

    for (run, status) in [
        ("fake:default:1", "ok"),
        ("fake:default:2", "aborted"),
        ("fake:default:3", "ok"),
    ] {
        let v = registry
            .send(WaitRun {
                run_id: run.into(),
                timeout: Duration::from_secs(30),
            })
            .await
            .expect("registry up");
        assert_eq!(v.status().as_str(), status, "{run}: {v:?}");
    }
    let stats = registry.send(GetStats).await.expect("registry up");
    assert_eq!((stats.active_runs, stats.queued_runs), (0, 0));
    assert_eq!(stats.sessions, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A chat whose queue is full gets the busy notice through its channel, and the message
/// is completed (not run, not left pending).
#[actix::test]
async fn registry_answers_busy_when_a_chat_queue_is_full() {
    let dir = std::env::temp_dir().join(format!("openclaw-reg-{}", uuid::Uuid::new_v4()));
    let mut cfg = EngineConfig::with_token("t");
    cfg.state_dir = dir.clone();
    let gate = Rc::new(Semaphore::new(0));
    let engine = Engine::start(
        cfg,
        EngineDeps {
            model: Some(Rc::new(Gated(gate))),
            ..Default::default()
        },
    )
    .expect("engine starts");
    let (tx, mut rx) = unbounded_channel();
    let outbox = Outbox(tx).start().recipient::<DeliverReply>();
    let max = super::scheduler::MAX_QUEUE_PER_SESSION as i64;
    for n in 0..=max + 1 {
        engine
            .registry
            .send(InboundReceived {
                msg: inbound(n, 10, "hi"),
                reply_to: outbox.clone(),
            })
            .await
            .expect("registry up");
    }
    let busy = next(&mut rx).await;
    assert_eq!(busy.text, crate::channel::BUSY_TEXT);
    assert_eq!(
        busy.inbound_id,
        Some(format!("fake:default:{}", max + 1)),
        "one running, {max} queued, the next refused"
    );
    let stats = engine.registry.send(GetStats).await.expect("registry up");
    assert_eq!((stats.active_runs, stats.queued_runs), (1, max as usize));
    let _ = std::fs::remove_dir_all(&dir);
}
