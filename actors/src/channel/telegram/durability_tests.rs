//! The channel's durability order, with a scripted Bot API and the real store on a temporary
//! state directory: replies overlap the state write, `getUpdates` never confirms an update
//! that is not on disk, and replies are held while saves fail.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::Value;

use super::api::{SendMessage, TelegramApi, TgChat, TgError, TgMessage, TgUpdate, TgUser};
use super::*;
use crate::ports::LocalFut;
use crate::store::LoadDocument;

const USER: i64 = 77;

/// One `getUpdates` call: the offset it confirmed, and the offset on disk at that moment.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Poll {
    sent: Option<i64>,
    on_disk: Option<i64>,
}

#[derive(Default)]
struct Script {
    batches: VecDeque<Vec<TgUpdate>>,
    polls: Vec<Poll>,
    sent: Vec<SendMessage>,
}

/// A scripted Bot API: each `getUpdates` answers the next batch (an empty answer after a
/// short wait when there is none) and records the offset it was given next to the offset in
/// the state file at that moment.
#[derive(Clone)]
struct FakeApi {
    script: Rc<RefCell<Script>>,
    state_file: PathBuf,
}

impl FakeApi {
    fn polls(&self) -> Vec<Poll> {
        self.script.borrow().polls.clone()
    }

    fn sent(&self) -> Vec<SendMessage> {
        self.script.borrow().sent.clone()
    }
}

fn offset_on_disk(path: &Path) -> Option<i64> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok()?["offset"].as_i64()
}

impl TelegramApi for FakeApi {
    fn get_me(&self) -> LocalFut<Result<TgUser, TgError>> {
        Box::pin(async {
            Ok(TgUser {
                id: 1,
                is_bot: true,
                first_name: "bot".into(),
                username: Some("bot".into()),
            })
        })
    }

    fn get_updates(
        &self,
        offset: Option<i64>,
        _timeout_s: u32,
    ) -> LocalFut<Result<Vec<TgUpdate>, TgError>> {
        let poll = Poll {
            sent: offset,
            on_disk: offset_on_disk(&self.state_file),
        };
        let batch = {
            let mut s = self.script.borrow_mut();
            s.polls.push(poll);
            s.batches.pop_front()
        };
        Box::pin(async move {
            match batch {
                Some(b) => Ok(b),
                None => {
                    actix_web::rt::time::sleep(Duration::from_millis(10)).await;
                    Ok(Vec::new())
                }
            }
        })
    }

    fn send_message(&self, msg: SendMessage) -> LocalFut<Result<i64, TgError>> {
        let mut s = self.script.borrow_mut();
        s.sent.push(msg);
        let id = 1000 + s.sent.len() as i64;
        Box::pin(async move { Ok(id) })
    }

    fn get_file(&self, _file_id: String) -> LocalFut<Result<super::api::TgFile, TgError>> {
        Box::pin(async {
            Err(TgError::Api {
                code: 400,
                description: "this fake has no files".into(),
            })
        })
    }

    fn download_file(
        &self,
        _file_path: String,
        _max_bytes: usize,
    ) -> LocalFut<Result<Vec<u8>, TgError>> {
        Box::pin(async {
            Err(TgError::Api {
                code: 400,
                description: "this fake has no files".into(),
            })
        })
    }

    fn send_media(&self, _msg: super::api::SendMedia) -> LocalFut<Result<i64, TgError>> {
        Box::pin(async {
            Err(TgError::Api {
                code: 400,
                description: "this fake sends no media".into(),
            })
        })
    }

    fn set_webhook(&self, _url: String, _secret: String) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn delete_webhook(&self) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn set_my_commands(&self, _commands: Vec<(String, String)>) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn delete_my_commands(&self) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn send_chat_action(
        &self,
        _chat_id: i64,
        _thread_id: Option<i64>,
        _action: &'static str,
    ) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn edit_message_text(
        &self,
        _chat_id: i64,
        _message_id: i64,
        _text: String,
    ) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn send_location(&self, _loc: super::api::SendLocation) -> LocalFut<Result<i64, TgError>> {
        Box::pin(async { Ok(1) })
    }

    fn edit_message_reply_markup(
        &self,
        _chat_id: i64,
        _message_id: i64,
        _markup: Option<serde_json::Value>,
    ) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn delete_message(&self, _chat_id: i64, _message_id: i64) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn answer_callback_query(
        &self,
        _id: String,
        _text: Option<String>,
    ) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn get_chat(&self, _username: String) -> LocalFut<Result<i64, TgError>> {
        Box::pin(async {
            Err(TgError::Api {
                code: 400,
                description: "Bad Request: chat not found".into(),
            })
        })
    }

    fn set_message_reaction(
        &self,
        _chat_id: i64,
        _message_id: i64,
        _emoji: String,
    ) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn pin_message(&self, _: i64, _: i64, _: bool, _: bool) -> LocalFut<Result<(), TgError>> {
        Box::pin(async { Ok(()) })
    }

    fn send_poll(&self, _poll: super::api::SendPoll) -> LocalFut<Result<(i64, String), TgError>> {
        Box::pin(async { Ok((1, "p".to_owned())) })
    }
}

/// Stands in for the registry: answers each message at once (`auto`) or keeps it for the
/// test to answer.
struct FakeRegistry {
    auto: bool,
    got: Rc<RefCell<Vec<InboundReceived>>>,
}

impl Actor for FakeRegistry {
    type Context = Context<Self>;
}

impl Handler<InboundReceived> for FakeRegistry {
    type Result = ();

    fn handle(&mut self, msg: InboundReceived, _: &mut Self::Context) {
        if self.auto {
            msg.reply_to.do_send(reply(&msg));
        }
        self.got.borrow_mut().push(msg);
    }
}

fn reply(msg: &InboundReceived) -> DeliverReply {
    DeliverReply {
        inbound_id: Some(msg.msg.id.clone()),
        target: msg.msg.target(),
        reply_to: Some(msg.msg.message_id),
        explicit_reply: false,
        silent: false,
        text: format!("re: {}", msg.msg.text),
        recorded: None,
        media: Vec::new(),
        buttons: Vec::new(),
        prefix: None,
    }
}

fn dm(update_id: i64, text: &str) -> TgUpdate {
    TgUpdate {
        update_id,
        callback_query: None,
        message: Some(TgMessage {
            message_id: update_id + 500,
            message_thread_id: None,
            from: Some(TgUser {
                id: USER,
                is_bot: false,
                first_name: "U".into(),
                username: None,
            }),
            chat: TgChat {
                id: USER,
                kind: "private".into(),
                title: None,
            },
            date: 0,
            text: Some(text.into()),
            caption: None,
            entities: None,
            caption_entities: None,
            reply_to_message: None,
            ..Default::default()
        }),
    }
}

struct Setup {
    dir: PathBuf,
    api: FakeApi,
    got: Rc<RefCell<Vec<InboundReceived>>>,
    channel: Addr<TelegramChannel>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oc-tg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// A channel over `dir` whose first `getUpdates` answers `batch`. `before_start` runs once
/// the store exists (to block it).
fn setup(
    dir: PathBuf,
    batch: Vec<TgUpdate>,
    auto: bool,
    before_start: impl FnOnce(&Addr<StoreActor>),
) -> Setup {
    let api = FakeApi {
        script: Rc::new(RefCell::new(Script {
            batches: VecDeque::from([batch]),
            ..Script::default()
        })),
        state_file: dir.join(ChannelState::document("default")),
    };
    let got = Rc::new(RefCell::new(Vec::new()));
    let registry = FakeRegistry {
        auto,
        got: got.clone(),
    }
    .start();
    let store = StoreActor::start(dir.clone());
    before_start(&store);
    let cfg = TelegramAccountConfig {
        response_prefix: None,
        account_id: "default".into(),
        dm_policy: DmPolicy::Allowlist,
        allow_from: vec![USER.to_string()],
        group_policy: GroupPolicy::Disabled,
        group_allow_from: vec![],
        groups: None,
        mention_patterns: None,
        mention_scope: Default::default(),
        link_preview: true,
        poll_timeout_s: 0,
        native_commands: true,
        native_skills: true,
        typing: None,
        streaming: crate::channel::progress::Streaming::default(),
        reply_to_mode: super::ReplyToMode::First,
        ack: None,
        inbound_window: Duration::ZERO,
        history_limit: 0,
        text_chunk_limit: super::MAX_MESSAGE_UNITS,
        actions: Default::default(),
        inline_buttons: Default::default(),
        webhook: None,
        bot: super::BotIdentity::default(),
    };
    let channel = TelegramChannel::new(
        cfg,
        Rc::new(api.clone()),
        registry.recipient(),
        store,
        ChannelState::default(),
    )
    .start();
    Setup {
        dir,
        api,
        got,
        channel,
    }
}

/// Polls `f` every 5 ms until it is `Some`, for at most 10 s.
async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn status(ch: &Addr<TelegramChannel>) -> Value {
    Value::Object(ch.send(GetChannelStatus).await.expect("status").details)
}

/// Every `getUpdates` confirmed only what was on disk when it was sent.
fn assert_confirmed_only_durable(polls: &[Poll]) {
    for p in polls {
        if let Some(sent) = p.sent {
            assert!(
                p.on_disk.is_some_and(|d| d >= sent),
                "getUpdates confirmed offset {sent} with {:?} on disk: {polls:?}",
                p.on_disk
            );
        }
    }
}

/// The state file, as JSON.
fn state_file(dir: &Path) -> Value {
    let bytes = std::fs::read(dir.join(ChannelState::document("default"))).expect("state file");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// A FIFO `LoadDocument` parks the store's one thread until the test opens the FIFO for
/// writing: every save behind it waits, deterministically.
fn block_store(dir: &Path, store: &Addr<StoreActor>) -> PathBuf {
    let fifo = dir.join("block.fifo");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs")
        .success();
    assert!(ok, "mkfifo failed");
    let read = store.send(LoadDocument {
        name: "block.fifo".into(),
    });
    actix::spawn(async move {
        let _ = read.await;
    });
    fifo
}

#[actix::test]
async fn the_reply_overlaps_the_state_write_and_get_updates_waits_for_it() {
    let dir = temp_dir();
    let mut fifo = None;
    let s = setup(
        dir.clone(),
        vec![dm(10, "hi"), dm(11, "again")],
        true,
        |store| {
            fifo = Some(block_store(&dir, store));
        },
    );
    let fifo = fifo.expect("blocked");

    // Both replies go out while the state write waits behind the blocked store.
    let sent = until("two replies", || {
        let sent = s.api.sent();
        (sent.len() == 2).then_some(sent)
    })
    .await;
    assert_eq!(sent[0].text, "re: hi");
    assert_eq!(sent[0].reply_to_message_id, Some(510));
    assert_eq!(sent[1].text, "re: again");
    assert_eq!(s.got.borrow().len(), 2);
    assert!(
        !dir.join(ChannelState::document("default")).exists(),
        "nothing written yet"
    );
    let polls = s.api.polls();
    assert_eq!(
        polls,
        vec![Poll {
            sent: None,
            on_disk: None
        }],
        "no getUpdates while the batch is not on disk"
    );

    // Unblock the store: the batch is saved, then getUpdates confirms it.
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open fifo"),
    );
    until("getUpdates confirming offset 12", || {
        s.api
            .polls()
            .iter()
            .any(|p| p.sent == Some(12))
            .then_some(())
    })
    .await;
    until("the answered messages off the pending list on disk", || {
        let v = state_file(&dir);
        (v["pending"] == serde_json::json!([])).then_some(())
    })
    .await;
    assert_eq!(state_file(&dir)["offset"], 12);
    assert_confirmed_only_durable(&s.api.polls());
    assert_eq!(s.api.sent().len(), 2, "each answered once");
}

#[actix::test]
async fn replies_are_held_while_saves_fail_and_sent_once_the_state_is_saved() {
    let dir = temp_dir();
    // A file where the channel's state directory must be: every save fails.
    std::fs::create_dir_all(dir.join("channels")).expect("mkdir");
    let blocker = dir.join("channels/telegram");
    std::fs::write(&blocker, "in the way").expect("blocker");
    let s = setup(dir.clone(), vec![dm(20, "hold me")], false, |_| {});

    // Handed over at once, though its save fails.
    let msg = until("the message handed over", || {
        s.got.borrow().first().map(reply)
    })
    .await;
    let mut st = status(&s.channel).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !st["lastError"]
        .as_str()
        .is_some_and(|e| e.starts_with("state not saved, updates left unconfirmed at Telegram: "))
    {
        assert!(Instant::now() < deadline, "no save error reported: {st}");
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        st = status(&s.channel).await;
    }
    assert_eq!(st["pendingInbound"], 1, "kept in memory: {st}");

    // The reply is held, not sent.
    let delivery = s.channel.send(msg);
    let held = actix::spawn(delivery);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = status(&s.channel).await;
        if st["repliesHeld"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the reply is not held: {st}");
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(s.api.sent().is_empty(), "{:?}", s.api.sent());
    assert!(
        s.api.polls().iter().all(|p| p.sent.is_none()),
        "{:?}",
        s.api.polls()
    );

    // The disk works again: the retried save releases the reply, then getUpdates confirms.
    std::fs::remove_file(&blocker).expect("remove blocker");
    let ids = held
        .await
        .expect("delivery task")
        .expect("mailbox")
        .expect("delivered");
    assert_eq!(ids, vec![1001]);
    assert_eq!(s.api.sent()[0].text, "re: hold me");
    until("getUpdates confirming offset 21", || {
        s.api
            .polls()
            .iter()
            .any(|p| p.sent == Some(21))
            .then_some(())
    })
    .await;
    assert_confirmed_only_durable(&s.api.polls());
    until("the answered message off the pending list on disk", || {
        (state_file(&dir)["pending"] == serde_json::json!([])).then_some(())
    })
    .await;
    let st = status(&s.channel).await;
    assert_eq!(st["lastError"], Value::Null, "{st}");
    assert_eq!(st["repliesHeld"], 0, "{st}");
}

/// A run's message leaves the pending list only once the run says its transcript lines are
/// synced (`recorded`), not when the reply is delivered; and never if the run went away
/// before saying so (the gateway stopping): the restart runs it again.
#[actix::test]
async fn a_message_stays_pending_until_its_run_recorded_it() {
    let dir = temp_dir();
    let s = setup(
        dir.clone(),
        vec![dm(30, "recorded later"), dm(31, "run gone")],
        false,
        |_| {},
    );
    let (a, b) = until("both messages handed over", || {
        let got = s.got.borrow();
        (got.len() == 2).then(|| (reply(&got[0]), reply(&got[1])))
    })
    .await;
    let (recorded_tx, recorded_rx) = tokio::sync::oneshot::channel::<()>();
    let a = DeliverReply {
        recorded: Some(futures_util::FutureExt::shared(recorded_rx)),
        media: Vec::new(),
        ..a
    };
    let delivery_a = actix::spawn(s.channel.send(a));
    let (gone_tx, gone_rx) = tokio::sync::oneshot::channel::<()>();
    drop(gone_tx);
    let b = DeliverReply {
        recorded: Some(futures_util::FutureExt::shared(gone_rx)),
        media: Vec::new(),
        ..b
    };
    // b's run went away: delivered, and still pending once the delivery is done.
    let ids = s
        .channel
        .send(b)
        .await
        .expect("mailbox")
        .expect("delivered");
    assert_eq!(ids.len(), 1);
    until("a's reply sent", || {
        s.api
            .sent()
            .iter()
            .any(|m| m.text == "re: recorded later")
            .then_some(())
    })
    .await;
    let st = status(&s.channel).await;
    assert_eq!(st["pendingInbound"], 2, "both still pending: {st}");

    // a's lines are on disk: a leaves the list, b stays.
    recorded_tx.send(()).expect("a's delivery waits for it");
    delivery_a
        .await
        .expect("task")
        .expect("mailbox")
        .expect("delivered");
    let st = status(&s.channel).await;
    assert_eq!(st["pendingInbound"], 1, "{st}");
    let on_disk = until("a off the pending list on disk", || {
        let text = std::fs::read(dir.join(ChannelState::document("default"))).ok()?;
        let v: Value = serde_json::from_slice(&text).ok()?;
        (v["pending"].as_array().map(Vec::len) == Some(1)).then_some(v)
    })
    .await;
    assert_eq!(
        on_disk["pending"][0]["id"], "telegram:default:31",
        "{on_disk}"
    );
}
