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
                usage: Default::default(),
                model: None,
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
        ..Default::default()
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
            session_key: "agent:main:fake:direct:10".into(),
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
/// An engine whose model never answers (its runs stay running), and an outbox for the
/// replies of a fake channel.
fn gated_engine(
    cfg: EngineConfig,
) -> (
    Engine,
    actix::Recipient<DeliverReply>,
    UnboundedReceiver<DeliverReply>,
) {
    let gate = Rc::new(Semaphore::new(0));
    let engine = Engine::start(
        cfg,
        EngineDeps {
            model: Some(Rc::new(Gated(gate))),
            ..Default::default()
        },
    )
    .expect("engine starts");
    let (tx, rx) = unbounded_channel();
    let outbox = Outbox(tx).start().recipient::<DeliverReply>();
    (engine, outbox, rx)
}

#[actix::test]
async fn registry_answers_busy_when_a_chat_queue_is_full() {
    let dir = std::env::temp_dir().join(format!("openclaw-reg-{}", uuid::Uuid::new_v4()));
    let mut cfg = EngineConfig::with_token("t");
    cfg.state_dir = dir.clone();
    // One run per message, the newest refused once `cap` wait.
    let cap = 7usize;
    cfg.queue = crate::run_queue::QueueSettings {
        mode: Some(crate::run_queue::QueueMode::Followup),
        cap,
        drop: crate::run_queue::DropPolicy::New,
        ..Default::default()
    };
    let (engine, outbox, mut rx) = gated_engine(cfg);
    let max = cap as i64;
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
    assert_eq!((stats.active_runs, stats.queued_runs), (1, cap));
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix::test]
async fn beyond_the_cap_the_oldest_waiting_messages_go_and_the_next_run_hears_of_them() {
    let dir = std::env::temp_dir().join(format!("openclaw-reg-{}", uuid::Uuid::new_v4()));
    let mut cfg = EngineConfig::with_token("t");
    cfg.state_dir = dir.clone();
    // The defaults but `followup`: cap 20, drop summarize.
    cfg.queue.mode = Some(crate::run_queue::QueueMode::Followup);
    let (engine, outbox, mut rx) = gated_engine(cfg);
    // One runs, 25 wait: the 5 oldest of them go.
    for n in 0..=25 {
        engine
            .registry
            .send(InboundReceived {
                msg: inbound(n, 10, &format!("message   number {n}")),
                reply_to: outbox.clone(),
            })
            .await
            .expect("registry up");
    }
    for n in 1..=5 {
        let done = next(&mut rx).await;
        assert_eq!(
            (done.text.as_str(), done.inbound_id.clone()),
            ("", Some(format!("fake:default:{n}"))),
            "a dropped message leaves its channel's pending list without a reply"
        );
    }
    let stats = engine.registry.send(GetStats).await.expect("registry up");
    assert_eq!((stats.active_runs, stats.queued_runs), (1, 20));
    let overflow = engine
        .registry
        .send(TakeOverflow(inbound(0, 10, "")))
        .await
        .expect("registry up");
    assert_eq!(
        overflow.as_deref(),
        Some(
            "[Queue overflow] Dropped 5 messages due to cap.\nSummary:\n- message number 1\n- message number 2\n- message number 3\n- message number 4\n- message number 5"
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The overflow summary waiting for the next run of a message's session (test-only).
#[derive(Message)]
#[rtype(result = "Option<String>")]
struct TakeOverflow(InboundMessage);

impl Handler<TakeOverflow> for super::Registry {
    type Result = Option<String>;

    fn handle(&mut self, msg: TakeOverflow, _: &mut Self::Context) -> Self::Result {
        let key = self.inbound_key(&msg.0)?;
        self.runs.take_overflow(&key)
    }
}

/// The registry's store (test-only): lets a test hold the store thread.
#[derive(Message)]
#[rtype(result = "Addr<crate::store::StoreActor>")]
struct GetStore;

impl Handler<GetStore> for super::Registry {
    type Result = MessageResult<GetStore>;

    fn handle(&mut self, _: GetStore, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.store.clone())
    }
}

/// Answers `done`, and says on `called` that it was asked (then waits for a permit).
struct Signalling {
    called: UnboundedSender<()>,
    gate: Rc<Semaphore>,
}

impl ChatModel for Signalling {
    fn label(&self) -> String {
        "test/signalling".into()
    }

    fn complete(&self, _: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
        let _ = self.called.send(());
        let gate = self.gate.clone();
        Box::pin(async move {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
            Ok(ChatResponse {
                message: ChatMessage::text("assistant", "done"),
                finish_reason: Some("stop".into()),
                usage: Default::default(),
                model: None,
            })
        })
    }
}

/// A fake channel that, when a reply arrives, records what the session transcripts on disk
/// hold at that moment.
struct DiskWitness {
    sessions: std::path::PathBuf,
    seen: UnboundedSender<(DeliverReply, String)>,
}

impl Actor for DiskWitness {
    type Context = Context<Self>;
}

impl Handler<DeliverReply> for DiskWitness {
    type Result = Result<Vec<i64>, ChannelError>;

    fn handle(&mut self, msg: DeliverReply, _: &mut Self::Context) -> Self::Result {
        let mut on_disk = String::new();
        for e in std::fs::read_dir(&self.sessions)
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "jsonl") {
                on_disk.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        let _ = self.seen.send((msg, on_disk));
        Ok(vec![1])
    }
}

/// Waits (bounded) until the model says it was asked.
async fn model_asked(rx: &mut UnboundedReceiver<()>) {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the model is asked within 30 s")
        .expect("model up");
}

/// A reply reaches the channel only after the user's line it answers is written. The first
/// message fills the registry's cached tail, so the second run starts without the store;
/// with the store then held (reading a FIFO nobody writes yet), its user line waits in the
/// store's queue and the run's reply is not delivered until the store is free, when the
/// disk already has that line. (A reply sent first, then a kill, left an answered message
/// with no user line: the crash soak found it.)
#[actix::test]
async fn a_reply_is_delivered_only_after_its_user_line_is_written() {
    let dir = std::env::temp_dir().join(format!("openclaw-reg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("state dir");
    let mut cfg = EngineConfig::with_token("t");
    cfg.state_dir = dir.clone();
    let gate = Rc::new(Semaphore::new(0));
    let (called_tx, mut called) = unbounded_channel();
    let engine = Engine::start(
        cfg,
        EngineDeps {
            model: Some(Rc::new(Signalling {
                called: called_tx,
                gate: gate.clone(),
            })),
            ..Default::default()
        },
    )
    .expect("engine starts");
    let (tx, mut rx) = unbounded_channel();
    let witness = DiskWitness {
        sessions: dir.join("agents/main/sessions"),
        seen: tx,
    }
    .start()
    .recipient::<DeliverReply>();
    let submit = |n: i64, text: &str| InboundReceived {
        msg: inbound(n, 10, text),
        reply_to: witness.clone(),
    };
    engine
        .registry
        .send(submit(1, "hello"))
        .await
        .expect("registry up");
    model_asked(&mut called).await;
    gate.add_permits(1);
    let (first, _) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the first reply comes")
        .expect("witness up");
    assert_eq!(first.text, "done");
    engine
        .registry
        .send(WaitRun {
            run_id: "fake:default:1".into(),
            timeout: Duration::from_secs(30),
        })
        .await
        .expect("registry up");

    // Hold the store: its next job opens a FIFO for reading, which blocks until a writer.
    let fifo = dir.join("hold.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    let store = engine.registry.send(GetStore).await.expect("registry up");
    let held = store.send(crate::store::LoadDocument {
        name: "hold.fifo".into(),
    });
    engine
        .registry
        .send(submit(2, "remember this"))
        .await
        .expect("registry up");
    model_asked(&mut called).await;
    gate.add_permits(1);
    // The run ends now; give a wrongly early reply time to show up while the store is held.
    let early = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    if let Ok(Some((reply, on_disk))) = &early {
        panic!(
            "the reply {:?} was delivered while the store was held; the disk had:\n{on_disk}",
            reply.text
        );
    }
    // Free the store: open the FIFO's write end and close it (the reader sees EOF).
    let fifo_w = fifo.clone();
    std::thread::spawn(move || drop(std::fs::OpenOptions::new().write(true).open(fifo_w)))
        .join()
        .expect("fifo writer");
    let _ = held.await;
    let (reply, on_disk) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the reply comes once the store is free")
        .expect("witness up");
    assert_eq!(reply.text, "done");
    assert_eq!(reply.inbound_id.as_deref(), Some("fake:default:2"));
    let users: Vec<serde_json::Value> = on_disk
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("whole JSON lines"))
        .filter(|l| l["role"] == "user")
        .collect();
    assert_eq!(users.len(), 2, "{on_disk}");
    assert_eq!(users[1]["content"], "remember this");
    assert_eq!(users[1]["sourceId"], "fake:default:2");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every request's messages (role, content), system prompt left out.
type Seen = Rc<std::cell::RefCell<Vec<Vec<(String, String)>>>>;

/// Answers `you said: <last>` once per permit and records every request's messages.
struct Recording {
    gate: Rc<Semaphore>,
    seen: Seen,
}

impl ChatModel for Recording {
    fn label(&self) -> String {
        "test/recording".into()
    }

    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
        let msgs: Vec<(String, String)> = req
            .messages
            .iter()
            .filter(|m| m.role != "system")
            .map(|m| (m.role.to_string(), m.content.clone().unwrap_or_default()))
            .collect();
        let last = msgs.last().map(|m| m.1.clone()).unwrap_or_default();
        self.seen.borrow_mut().push(msgs);
        let gate = self.gate.clone();
        Box::pin(async move {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
            Ok(ChatResponse {
                message: ChatMessage::text("assistant", format!("you said: {last}")),
                finish_reason: Some("stop".into()),
                usage: Default::default(),
                model: None,
            })
        })
    }
}

/// A session's next run starts from the cached transcript tail (no disk read), and that
/// tail is what the disk holds: the model sees the same history either way. An aborted run
/// hands no tail back, so the run after it reads the disk and sees the aborted run's line.
#[actix::test]
async fn the_next_run_starts_from_the_cached_tail_which_matches_the_disk() {
    let dir = std::env::temp_dir().join(format!("openclaw-reg-{}", uuid::Uuid::new_v4()));
    let mut cfg = EngineConfig::with_token("t");
    cfg.state_dir = dir.clone();
    let gate = Rc::new(Semaphore::new(0));
    let seen = Seen::default();
    let engine = Engine::start(
        cfg.clone(),
        EngineDeps {
            model: Some(Rc::new(Recording {
                gate: gate.clone(),
                seen: seen.clone(),
            })),
            ..Default::default()
        },
    )
    .expect("engine starts");
    let (tx, mut rx) = unbounded_channel();
    let outbox = Outbox(tx).start().recipient::<DeliverReply>();
    let registry = engine.registry.clone();
    let send = |n: i64, text: &str| InboundReceived {
        msg: inbound(n, 10, text),
        reply_to: outbox.clone(),
    };
    let stats = || async { registry.send(GetStats).await.expect("registry up") };

    registry.send(send(1, "first")).await.expect("registry up");
    gate.add_permits(1);
    assert_eq!(next(&mut rx).await.text, "you said: first");
    let wait = |run: &str| WaitRun {
        run_id: run.into(),
        timeout: Duration::from_secs(30),
    };
    registry.send(wait("fake:default:1")).await.expect("up");
    assert_eq!(
        stats().await.transcript_tails,
        1,
        "the idle session's tail is kept"
    );

    registry.send(send(2, "second")).await.expect("registry up");
    assert_eq!(
        stats().await.transcript_tails,
        0,
        "the running session owns its tail"
    );
    gate.add_permits(1);
    assert_eq!(next(&mut rx).await.text, "you said: second");
    registry.send(wait("fake:default:2")).await.expect("up");

    // Third run: started, then aborted while the model works (its user line is written).
    registry.send(send(3, "third")).await.expect("registry up");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.borrow().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "run 3 never asked the model"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let aborted = registry
        .send(AbortRun {
            session_key: "agent:main:fake:direct:10".into(),
            run_id: None,
        })
        .await
        .expect("registry up");
    assert!(aborted.aborted);
    registry.send(wait("fake:default:3")).await.expect("up");
    assert_eq!(
        next(&mut rx).await.text,
        "",
        "the aborted message is completed"
    );
    assert_eq!(
        stats().await.transcript_tails,
        0,
        "an aborted run hands no tail back"
    );

    registry.send(send(4, "fourth")).await.expect("registry up");
    gate.add_permits(2);
    assert_eq!(next(&mut rx).await.text, "you said: fourth");
    registry.send(wait("fake:default:4")).await.expect("up");

    let pair = |r: &str, c: &str| (r.to_owned(), c.to_owned());
    let seen = seen.borrow().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    // Run 2 (cached tail): run 1's exchange, then its own message.
    assert_eq!(
        seen[1],
        [
            pair("user", "first"),
            pair("assistant", "you said: first"),
            pair("user", "second")
        ]
    );
    // Run 4 (disk, after the abort): everything, including the aborted run's message.
    assert_eq!(
        seen[3],
        [
            pair("user", "first"),
            pair("assistant", "you said: first"),
            pair("user", "second"),
            pair("assistant", "you said: second"),
            pair("user", "third"),
            pair("user", "fourth")
        ]
    );
    // And a fresh engine on the same directory (no cache) sees what run 4's would have.
    drop(engine);
    let lines = crate::store::load_lines(
        &std::fs::read_dir(dir.join("agents/main/sessions"))
            .expect("sessions dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .expect("a transcript"),
        100,
    )
    .expect("transcript loads");
    let contents: Vec<&str> = lines.iter().filter_map(|l| l["content"].as_str()).collect();
    assert_eq!(
        contents,
        [
            "first",
            "you said: first",
            "second",
            "you said: second",
            "third",
            "fourth",
            "you said: fourth"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
