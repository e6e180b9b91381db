//! A fake Telegram Bot API server for one bot token: a real actix-web `HttpServer` on
//! `127.0.0.1:0`, running on its own thread with its own actix `System`, so it serves both
//! `#[actix_web::test]` tests (in-process clients) and plain `#[test]` tests that drive the
//! gateway binary as a child process. Control and inspection go through [`FakeTelegram`]
//! from any thread; every wait is bounded and has a blocking and an `async` flavour (use the
//! async one inside an actix test, where blocking the thread would stall the client).
//!
//! Semantics follow the real API where the gateway depends on them:
//! - `/bot{token}/{method}`; another token → 401 `Unauthorized`, an unknown method → 404;
//! - `getUpdates` returns pending updates with `update_id ≥ offset` (at most `limit`),
//!   forgets the confirmed ones (`< offset`), long-polls up to `timeout` s for a push,
//!   honours (and remembers) `allowed_updates`, answers 409 while a webhook is set, and
//!   ends an older concurrent poll with 409 `terminated by other getUpdates request`;
//! - `sendMessage` needs `chat_id` and 1..=4096 UTF-16 code units of `text` (400 otherwise)
//!   and answers the sent `Message`;
//! - `sendPhoto`, `sendVideo`, `sendAnimation`, `sendDocument` and `sendVoice` take `multipart/form-data`
//!   (parsed here, per RFC 7578) with `chat_id`, the file in the method's field, an optional
//!   `caption` of ≤ 1024 UTF-16 code units and `reply_parameters` as JSON text; `sendPhoto`
//!   refuses a file that is not a JPEG, PNG or WebP (`IMAGE_PROCESS_FAILED`) or is over
//!   10 MB, as Telegram does;
//! - `getFile` answers a `file_path` for the files added with [`FakeTelegram::add_file`]
//!   (400 `invalid file_id` otherwise), served at `/file/bot{token}/{file_path}`;
//! - `setWebhook` / `deleteWebhook` set and clear the webhook.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use openclaw::actors::channel::telegram::api::{TgChat, TgEntity, TgMessage, TgUser};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Longest long poll the fake honours.
const MAX_POLL: Duration = Duration::from_secs(60);

/// One recorded `sendMessage` (or media upload: see [`Self::method`]).
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// `sendMessage`, `sendPhoto`, `sendVideo`, `sendAnimation` or `sendDocument`.
    pub method: String,
    /// The JSON body as received (an upload's text fields, `reply_parameters` parsed).
    pub body: Value,
    /// An upload's file.
    pub file: Option<SentFile>,
    /// When it arrived.
    pub at: Instant,
    /// The `message_id` the fake answered.
    pub message_id: i64,
}

/// The file of an upload.
#[derive(Debug, Clone)]
pub struct SentFile {
    /// Its form field (`photo`, `video`, `animation`, `document`).
    pub field: String,
    /// `filename` of its part.
    pub file_name: String,
    /// `Content-Type` of its part.
    pub content_type: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl SentMessage {
    /// `body.caption` (uploads).
    pub fn caption(&self) -> Option<&str> {
        self.body.get("caption").and_then(Value::as_str)
    }

    /// `body.chat_id`.
    pub fn chat_id(&self) -> Option<i64> {
        self.body.get("chat_id").and_then(Value::as_i64)
    }

    /// `body.text`.
    pub fn text(&self) -> &str {
        self.body.get("text").and_then(Value::as_str).unwrap_or("")
    }

    /// `body.reply_parameters.message_id`.
    pub fn reply_to(&self) -> Option<i64> {
        self.body
            .pointer("/reply_parameters/message_id")
            .and_then(Value::as_i64)
    }
}

/// The webhook registered with `setWebhook`.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// `url`.
    pub url: String,
    /// `secret_token`.
    pub secret_token: Option<String>,
    /// The whole request body.
    pub body: Value,
}

#[derive(Debug)]
struct InjectedFailure {
    method: Option<String>,
    status: u16,
    body: Value,
}

#[derive(Debug, Default)]
struct State {
    /// The token accepted since [`FakeTelegram::revoke_token`] (`None`: the first one).
    token_now: Option<String>,
    next_update_id: i64,
    next_message_id: i64,
    /// Pushed, not yet confirmed.
    pending: VecDeque<Value>,
    allowed: Option<Vec<String>>,
    get_updates_calls: u64,
    last_offset: Option<i64>,
    poll_generation: u64,
    sent: Vec<SentMessage>,
    calls: HashMap<String, u64>,
    failures: VecDeque<InjectedFailure>,
    down: bool,
    webhook: Option<Webhook>,
    /// When each `getUpdates` call arrived, and when each failed one was answered.
    get_updates_at: Vec<Instant>,
    get_updates_failed_at: Vec<Instant>,
    /// While set, `sendMessage` records the message as sent but holds its answer.
    hold_send: bool,
    /// The command menu (`setMyCommands`; `deleteMyCommands` empties it).
    my_commands: Vec<(String, String)>,
    /// Files users sent: file id → (file path, bytes).
    files: HashMap<String, (String, Vec<u8>)>,
    /// Downloads served, by file path.
    downloads: Vec<String>,
    /// `sendChatAction` calls: when, and the body.
    chat_actions: Vec<(Instant, Value)>,
    /// The text each message of the bot shows now, by (chat, message id) (`editMessageText`
    /// changes it); deleted messages are gone from it.
    texts: HashMap<(i64, i64), String>,
    /// `editMessageText` calls that changed a message, in order.
    edits: Vec<Edit>,
    /// `deleteMessage` calls that deleted a message, in order.
    deleted: Vec<Deleted>,
    /// `setMessageReaction` calls Telegram took: (chat, message, emoji).
    reactions: Vec<(i64, i64, String)>,
    /// `pinChatMessage` / `unpinChatMessage` calls: (chat, message, pinned).
    pins: Vec<(i64, i64, bool)>,
    /// `answerCallbackQuery` calls: (callback query id, text).
    callback_answers: Vec<(String, Option<String>)>,
    /// The inline keyboard each message of the bot shows now, by (chat, message id)
    /// (`editMessageReplyMarkup` changes it).
    keyboards: HashMap<(i64, i64), Value>,
    next_callback_id: u64,
    /// Public chats `getChat` knows by username (lowercase, without `@`): their ids.
    public_chats: HashMap<String, i64>,
}

/// The emoji Telegram takes as a reaction (`ReactionTypeEmoji`); others get
/// `REACTION_INVALID`.
const REACTION_EMOJI: &[&str] = &[
    "👍",
    "👎",
    "❤",
    "🔥",
    "🥰",
    "👏",
    "😁",
    "🤔",
    "🤯",
    "😱",
    "🤬",
    "😢",
    "🎉",
    "🤩",
    "🤮",
    "💩",
    "🙏",
    "👌",
    "🕊",
    "🤡",
    "🥱",
    "🥴",
    "😍",
    "🐳",
    "❤‍🔥",
    "🌚",
    "🌭",
    "💯",
    "🤣",
    "⚡",
    "🍌",
    "🏆",
    "💔",
    "🤨",
    "😐",
    "🍓",
    "🍾",
    "💋",
    "🖕",
    "😈",
    "😴",
    "😭",
    "🤓",
    "👻",
    "👨‍💻",
    "👀",
    "🎃",
    "🙈",
    "😇",
    "😨",
    "🤝",
    "✍",
    "🤗",
    "🫡",
    "🎅",
    "🎄",
    "☃",
    "💅",
    "🤪",
    "🗿",
    "🆒",
    "💘",
    "🙉",
    "🦄",
    "😘",
    "💊",
    "🙊",
    "😎",
    "👾",
    "🤷‍♂",
    "🤷",
    "🤷‍♀",
    "😡",
];

/// An edit of a bot message.
#[derive(Debug, Clone)]
pub struct Edit {
    /// Its chat.
    pub chat_id: i64,
    /// The message.
    pub message_id: i64,
    /// Its new text.
    pub text: String,
    /// When.
    pub at: Instant,
}

/// A deleted bot message.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// Its chat.
    pub chat_id: i64,
    /// The message.
    pub message_id: i64,
    /// When.
    pub at: Instant,
}

struct Shared {
    token: String,
    bot: TgUser,
    state: Mutex<State>,
    cond: Condvar,
    changed: Notify,
}

impl Shared {
    /// Whether the path's `bot<token>` names the token accepted now.
    fn accepts(&self, bot: &str) -> bool {
        let Ok(state) = self.state.lock() else {
            return false;
        };
        let now = state.token_now.as_deref().unwrap_or(&self.token);
        bot.strip_prefix("bot") == Some(now)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes blocking and async waiters (and long polls).
    fn bump(&self) {
        self.cond.notify_all();
        self.changed.notify_waiters();
    }
}

/// A running fake Bot API. Stopped when dropped.
pub struct FakeTelegram {
    shared: Arc<Shared>,
    addr: SocketAddr,
    handle: ServerHandle,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        // Sends the stop command now; the server thread winds down on its own.
        drop(self.handle.stop(false));
    }
}

fn tg_error(status: u16, description: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .json(json!({"ok": false, "error_code": status, "description": description}))
}

fn tg_ok(result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true, "result": result}))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// The update kind: its first key other than `update_id`.
fn update_kind(u: &Value) -> String {
    u.as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id").cloned())
        .unwrap_or_default()
}

/// `mention` entities for `@name` words and a `bot_command` entity for a leading `/cmd`
/// (offsets and lengths in UTF-16 code units, as Telegram counts them).
pub fn entities_for(text: &str) -> Vec<TgEntity> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    let mut word: Option<(i64, String)> = None;
    let flush = |word: &mut Option<(i64, String)>, out: &mut Vec<TgEntity>| {
        if let Some((start, w)) = word.take() {
            let length = w.encode_utf16().count() as i64;
            if w.starts_with('@') && length > 1 {
                out.push(TgEntity {
                    kind: "mention".into(),
                    offset: start,
                    length,
                    user: None,
                });
            } else if w.starts_with('/') && start == 0 && length > 1 {
                out.push(TgEntity {
                    kind: "bot_command".into(),
                    offset: start,
                    length,
                    user: None,
                });
            }
        }
    };
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut word, &mut out);
        } else {
            word.get_or_insert_with(|| (offset, String::new()))
                .1
                .push(c);
        }
        offset += c.len_utf16() as i64;
    }
    flush(&mut word, &mut out);
    out
}

impl FakeTelegram {
    /// Starts a fake for `token` (bot `@openclaw_test_bot`, id = the token's numeric prefix).
    pub fn start(token: &str) -> Self {
        Self::start_with_username(token, "openclaw_test_bot")
    }

    /// Starts a fake whose bot has this `username`.
    pub fn start_with_username(token: &str, username: &str) -> Self {
        let bot_id = token
            .split(':')
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(4242);
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            bot: TgUser {
                id: bot_id,
                is_bot: true,
                first_name: "OpenClaw Test".into(),
                username: Some(username.to_owned()),
            },
            state: Mutex::new(State {
                next_update_id: 100,
                next_message_id: 1,
                ..State::default()
            }),
            cond: Condvar::new(),
            changed: Notify::new(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let data = web::Data::from(shared.clone());
        std::thread::Builder::new()
            .name("fake-telegram".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                            .route("/file/{bot}/{path:.*}", web::get().to(download))
                            .route("/{bot}/{method}", web::route().to(handle))
                            .default_service(web::to(|| async { tg_error(404, "Not Found") }))
                    })
                    .workers(1)
                    .shutdown_timeout(1)
                    .disable_signals()
                    .bind(("127.0.0.1", 0));
                    let server = match server {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let Some(addr) = server.addrs().first().copied() else {
                        let _ = tx.send(Err("no bound address".to_owned()));
                        return;
                    };
                    let running = server.run();
                    let _ = tx.send(Ok((addr, running.handle())));
                    let _ = running.await;
                });
            })
            .expect("spawn the fake Telegram thread");
        let (addr, handle) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fake Telegram did not start within 10 s")
            .unwrap_or_else(|e| panic!("fake Telegram failed to bind: {e}"));
        Self {
            shared,
            addr,
            handle,
        }
    }

    /// `http://127.0.0.1:PORT` — the `api_root` to give the client.
    pub fn api_root(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token this fake was started with.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// As BotFather's `/revoke`: from now on only `new` is accepted (the old token gets
    /// 401 Unauthorized), for the same bot at the same API root.
    pub fn revoke_token(&self, new: &str) {
        self.shared.state.lock().expect("fake state").token_now = Some(new.to_owned());
    }

    /// The bot (`getMe`).
    pub fn bot(&self) -> TgUser {
        self.shared.bot.clone()
    }

    /// The bot's username (without `@`).
    pub fn bot_username(&self) -> String {
        self.shared.bot.username.clone().unwrap_or_default()
    }

    // === updates ===

    /// A user (`id`, first name and username `user{id}`).
    pub fn user(id: i64) -> TgUser {
        TgUser {
            id,
            is_bot: false,
            first_name: format!("user{id}"),
            username: Some(format!("user{id}")),
        }
    }

    /// A message with a fresh `message_id` (not pushed): a private chat when `chat_id > 0`,
    /// a supergroup otherwise.
    pub fn message(&self, chat_id: i64, from_id: i64, text: &str) -> TgMessage {
        let message_id = {
            let mut st = self.shared.lock();
            st.next_message_id += 1;
            st.next_message_id
        };
        let group = chat_id <= 0;
        TgMessage {
            message_id,
            message_thread_id: None,
            from: Some(Self::user(from_id)),
            chat: TgChat {
                id: chat_id,
                kind: if group { "supergroup" } else { "private" }.into(),
                title: group.then(|| format!("group {chat_id}")),
            },
            date: unix_now(),
            text: Some(text.to_owned()),
            caption: None,
            entities: None,
            caption_entities: None,
            reply_to_message: None,
            ..Default::default()
        }
    }

    /// A message sent earlier by the bot in `chat_id` (for `reply_to_message`).
    pub fn bot_message(&self, chat_id: i64, message_id: i64, text: &str) -> TgMessage {
        let mut m = self.message(chat_id, 0, text);
        m.message_id = message_id;
        m.from = Some(self.bot());
        m
    }

    /// The next `update_id`, taken (for an update delivered to a webhook by the test:
    /// Telegram numbers a bot's updates in one sequence, webhook or polling).
    pub fn take_update_id(&self) -> i64 {
        let mut st = self.shared.lock();
        let id = st.next_update_id;
        st.next_update_id += 1;
        id
    }

    /// Pushes a raw update (its `update_id` is assigned when absent); returns the update id.
    pub fn push_raw(&self, mut update: Value) -> i64 {
        let id = {
            let mut st = self.shared.lock();
            let id = match update.get("update_id").and_then(Value::as_i64) {
                Some(id) => {
                    st.next_update_id = st.next_update_id.max(id + 1);
                    id
                }
                None => {
                    let id = st.next_update_id;
                    st.next_update_id += 1;
                    update["update_id"] = json!(id);
                    id
                }
            };
            st.pending.push_back(update);
            id
        };
        self.shared.bump();
        id
    }

    /// Pushes a `callback_query` update: `from_id` pressed the button with `data` under the
    /// bot's message `message_id` in `chat_id` (its current text included, as Telegram
    /// sends it); returns the callback query id.
    pub fn push_callback(&self, from_id: i64, chat_id: i64, message_id: i64, data: &str) -> String {
        let (id, text) = {
            let mut st = self.shared.lock();
            st.next_callback_id += 1;
            (
                format!("cbq{}", st.next_callback_id),
                st.texts
                    .get(&(chat_id, message_id))
                    .cloned()
                    .unwrap_or_default(),
            )
        };
        let chat_type = if chat_id > 0 { "private" } else { "supergroup" };
        self.push_raw(json!({"callback_query": {
            "id": id,
            "from": Self::user(from_id),
            "chat_instance": format!("ci{chat_id}"),
            "message": {"message_id": message_id, "date": 1, "chat": {"id": chat_id, "type": chat_type},
                        "from": self.bot(), "text": text},
            "data": data,
        }}));
        id
    }

    /// The inline keyboard the bot's message `message_id` in `chat_id` shows now.
    pub fn keyboard(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        self.shared
            .lock()
            .keyboards
            .get(&(chat_id, message_id))
            .cloned()
    }

    /// The `answerCallbackQuery` calls so far: (callback query id, text).
    pub fn callback_answers(&self) -> Vec<(String, Option<String>)> {
        self.shared.lock().callback_answers.clone()
    }

    /// Pushes a `message` update; returns the update id.
    pub fn push_message(&self, msg: TgMessage) -> i64 {
        let message = serde_json::to_value(&msg).expect("TgMessage serializes");
        self.push_raw(json!({"message": message}))
    }

    /// Pushes a text message from user `from_id` in `chat_id` (private when `chat_id > 0`);
    /// returns the update id.
    pub fn push_text(&self, chat_id: i64, from_id: i64, text: &str) -> i64 {
        let msg = self.message(chat_id, from_id, text);
        self.push_message(msg)
    }

    /// Pushes a group text message with entities computed from `text` (`@mentions`, a leading
    /// `/command`); returns the update id.
    pub fn push_group_text(&self, chat_id: i64, from_id: i64, text: &str) -> i64 {
        let mut msg = self.message(chat_id, from_id, text);
        let entities = entities_for(text);
        msg.entities = (!entities.is_empty()).then_some(entities);
        self.push_message(msg)
    }

    /// Pushes a group message replying to the bot's message `reply_to_message_id`.
    pub fn push_group_reply(
        &self,
        chat_id: i64,
        from_id: i64,
        text: &str,
        reply_to_message_id: i64,
    ) -> i64 {
        let mut msg = self.message(chat_id, from_id, text);
        let entities = entities_for(text);
        msg.entities = (!entities.is_empty()).then_some(entities);
        msg.reply_to_message = Some(Box::new(self.bot_message(
            chat_id,
            reply_to_message_id,
            "(earlier bot reply)",
        )));
        self.push_message(msg)
    }

    /// Updates pushed and not yet confirmed by an offset.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().pending.len()
    }

    // === faults ===

    /// The next `n` requests (any method, valid token) answer `status` with `body` (a JSON
    /// value; a JSON string is sent as a raw text body), e.g.
    /// `fail_next(1, 429, json!({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}))`.
    pub fn fail_next(&self, n: usize, status: u16, body: Value) {
        self.inject(None, n, status, body);
    }

    /// Like [`Self::fail_next`], for the next `n` calls of `method` only.
    pub fn fail_next_on(&self, method: &str, n: usize, status: u16, body: Value) {
        self.inject(Some(method.to_owned()), n, status, body);
    }

    fn inject(&self, method: Option<String>, n: usize, status: u16, body: Value) {
        let mut st = self.shared.lock();
        for _ in 0..n {
            st.failures.push_back(InjectedFailure {
                method: method.clone(),
                status,
                body: body.clone(),
            });
        }
    }

    /// While down, every request answers 502 with an HTML body (like a proxy in front of a
    /// dead backend).
    pub fn set_down(&self, down: bool) {
        self.shared.lock().down = down;
        self.shared.bump();
    }

    // === inspection ===

    /// `getUpdates` calls so far (all of them, failed ones included).
    pub fn get_updates_calls(&self) -> u64 {
        self.shared.lock().get_updates_calls
    }

    /// The last `offset` a `getUpdates` call carried.
    pub fn last_offset(&self) -> Option<i64> {
        self.shared.lock().last_offset
    }

    /// Calls of `method` so far (failed ones included; wrong-token ones not).
    pub fn calls(&self, method: &str) -> u64 {
        self.shared.lock().calls.get(method).copied().unwrap_or(0)
    }

    /// The `sendChatAction` calls so far: when each arrived, and its body.
    pub fn chat_actions(&self) -> Vec<(Instant, Value)> {
        self.shared.lock().chat_actions.clone()
    }

    /// The bot's command menu as last set (`deleteMyCommands`: empty).
    pub fn my_commands(&self) -> Vec<(String, String)> {
        self.shared.lock().my_commands.clone()
    }

    /// Every successful `sendMessage` so far.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// The current webhook.
    pub fn webhook(&self) -> Option<Webhook> {
        self.shared.lock().webhook.clone()
    }

    fn summary(&self) -> String {
        let st = self.shared.lock();
        format!(
            "getUpdates calls {}, last offset {:?}, pending {}, sent {:?}, calls {:?}",
            st.get_updates_calls,
            st.last_offset,
            st.pending.len(),
            st.sent
                .iter()
                .map(|s| s.body.to_string())
                .collect::<Vec<_>>(),
            st.calls
        )
    }

    /// Blocks until `f` returns `Some` (re-checked on every change), at most `limit`.
    fn wait_blocking<T>(
        &self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut(&State) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        let mut st = self.shared.lock();
        loop {
            if let Some(v) = f(&st) {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(st);
                panic!(
                    "fake Telegram: timed out after {limit:?} waiting for {what} ({})",
                    self.summary()
                );
            }
            st = self
                .shared
                .cond
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Awaits until `f` returns `Some` (re-checked on every change), at most `limit`.
    async fn wait_async<T>(
        &self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut(&State) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.shared.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = f(&self.shared.lock()) {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "fake Telegram: timed out after {limit:?} waiting for {what} ({})",
                    self.summary()
                );
            }
            // Woken by any change (or the deadline); the loop re-checks.
            let _ = actix_web::rt::time::timeout(left, notified).await;
        }
    }

    /// Blocks until at least `n` messages were sent; returns them all.
    pub fn wait_sent(&self, n: usize, limit: Duration) -> Vec<SentMessage> {
        self.wait_blocking(limit, &format!("{n} sendMessage calls"), |st| {
            (st.sent.len() >= n).then(|| st.sent.clone())
        })
    }

    /// Async [`Self::wait_sent`].
    pub async fn wait_sent_async(&self, n: usize, limit: Duration) -> Vec<SentMessage> {
        self.wait_async(limit, &format!("{n} sendMessage calls"), |st| {
            (st.sent.len() >= n).then(|| st.sent.clone())
        })
        .await
    }

    /// Blocks until at least `n` `getUpdates` calls arrived.
    pub fn wait_polls(&self, n: u64, limit: Duration) {
        self.wait_blocking(limit, &format!("{n} getUpdates calls"), |st| {
            (st.get_updates_calls >= n).then_some(())
        });
    }

    /// Async [`Self::wait_polls`].
    pub async fn wait_polls_async(&self, n: u64, limit: Duration) {
        self.wait_async(limit, &format!("{n} getUpdates calls"), |st| {
            (st.get_updates_calls >= n).then_some(())
        })
        .await;
    }

    /// Blocks until a `getUpdates` carried `offset ≥ at_least` (i.e. confirmed every update
    /// below it).
    pub fn wait_offset(&self, at_least: i64, limit: Duration) {
        self.wait_blocking(limit, &format!("getUpdates offset ≥ {at_least}"), |st| {
            st.last_offset.filter(|o| *o >= at_least).map(|_| ())
        });
    }

    /// Async [`Self::wait_offset`].
    pub async fn wait_offset_async(&self, at_least: i64, limit: Duration) {
        self.wait_async(limit, &format!("getUpdates offset ≥ {at_least}"), |st| {
            st.last_offset.filter(|o| *o >= at_least).map(|_| ())
        })
        .await;
    }
}

impl FakeTelegram {
    /// Adds a file a user sent (downloadable through `getFile`).
    pub fn add_file(&self, file_id: &str, data: Vec<u8>) {
        let mut st = self.shared.lock();
        let path = format!("photos/file_{}.jpg", st.files.len());
        st.files.insert(file_id.to_owned(), (path, data));
    }

    /// The `editMessageText` calls that changed a message.
    pub fn edits(&self) -> Vec<Edit> {
        self.shared.lock().edits.clone()
    }

    /// The reactions set (`setMessageReaction`): (chat, message, emoji).
    pub fn reactions(&self) -> Vec<(i64, i64, String)> {
        self.shared.lock().reactions.clone()
    }

    /// A public group or channel `getChat` finds by its `@username`.
    pub fn add_public_chat(&self, username: &str, chat_id: i64) {
        self.shared.lock().public_chats.insert(
            username.trim_start_matches('@').to_ascii_lowercase(),
            chat_id,
        );
    }

    /// The pins and unpins (`pinChatMessage`, `unpinChatMessage`): (chat, message, pinned).
    pub fn pins(&self) -> Vec<(i64, i64, bool)> {
        self.shared.lock().pins.clone()
    }

    /// The messages deleted (`deleteMessage`).
    pub fn deleted(&self) -> Vec<Deleted> {
        self.shared.lock().deleted.clone()
    }

    /// A user deletes message `message_id` of `chat_id` in their app (not a
    /// `deleteMessage` call: the bot is not told).
    pub fn delete_as_user(&self, chat_id: i64, message_id: i64) {
        self.shared.lock().texts.remove(&(chat_id, message_id));
        self.shared.bump();
    }

    /// What message `message_id` of `chat_id` shows now (`None`: deleted or never sent).
    pub fn text_of(&self, chat_id: i64, message_id: i64) -> Option<String> {
        self.shared
            .lock()
            .texts
            .get(&(chat_id, message_id))
            .cloned()
    }

    /// Async wait until `f` holds for the fake's (sent messages, edits, deletions).
    pub async fn wait_drafts_async(
        &self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut(&[SentMessage], &[Edit], &[Deleted]) -> bool,
    ) {
        self.wait_async(limit, what, |st| {
            f(&st.sent, &st.edits, &st.deleted).then_some(())
        })
        .await;
    }

    /// The file paths downloaded so far.
    pub fn downloads(&self) -> Vec<String> {
        self.shared.lock().downloads.clone()
    }

    /// While `hold` is set, every `sendMessage` is recorded as sent (Telegram delivered it)
    /// but its answer is held back — the gateway does not learn that it succeeded. Clearing
    /// it releases the held answers.
    pub fn hold_send_responses(&self, hold: bool) {
        self.shared.lock().hold_send = hold;
        self.shared.bump();
    }

    /// When each `getUpdates` call arrived.
    pub fn get_updates_times(&self) -> Vec<Instant> {
        self.shared.lock().get_updates_at.clone()
    }

    /// When each failed (injected) `getUpdates` answer was sent.
    pub fn get_updates_failure_times(&self) -> Vec<Instant> {
        self.shared.lock().get_updates_failed_at.clone()
    }

    /// Async wait until `f` holds for the fake's `(getUpdates calls, sent messages)`.
    pub async fn wait_until_async(
        &self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut(u64, &[SentMessage]) -> bool,
    ) {
        self.wait_async(limit, what, |st| {
            f(st.get_updates_calls, &st.sent).then_some(())
        })
        .await;
    }
}

// === server side ===

async fn handle(
    req: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (bot, method) = path.into_inner();
    if !shared.accepts(&bot) {
        return tg_error(401, "Unauthorized");
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut uploads = Vec::new();
    let body: Value = if content_type.starts_with("multipart/form-data") {
        match parse_multipart(&content_type, &body) {
            Some((fields, files)) => {
                uploads = files;
                fields
            }
            None => return tg_error(400, "Bad Request: can't parse multipart body"),
        }
    } else if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return tg_error(400, "Bad Request: can't parse JSON body"),
        }
    };
    let injected = {
        let mut st = shared.lock();
        *st.calls.entry(method.clone()).or_default() += 1;
        if method == "getUpdates" {
            st.get_updates_calls += 1;
            st.get_updates_at.push(Instant::now());
            if let Some(o) = body.get("offset").and_then(Value::as_i64) {
                st.last_offset = Some(o);
            }
        }
        if st.down {
            Some(InjectedFailure {
                method: None,
                status: 502,
                body: json!("<html><body><h1>502 Bad Gateway</h1></body></html>"),
            })
        } else {
            st.failures
                .iter()
                .position(|f| f.method.as_deref().is_none_or(|m| m == method))
                .and_then(|i| st.failures.remove(i))
        }
    };
    shared.bump();
    if let Some(f) = injected {
        if method == "getUpdates" {
            shared.lock().get_updates_failed_at.push(Instant::now());
            shared.bump();
        }
        let mut resp = HttpResponse::build(
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
        return match f.body {
            Value::String(s) => resp.content_type("text/html").body(s),
            other => resp.json(other),
        };
    }
    match method.as_str() {
        "getMe" => tg_ok(json!(shared.bot)),
        "getUpdates" => get_updates(&shared, &body).await,
        "sendMessage" => {
            let resp = send_message(&shared, body);
            hold_while_asked(&shared).await;
            resp
        }
        "sendPhoto" | "sendVideo" | "sendAnimation" | "sendDocument" | "sendVoice" => {
            let resp = send_media(&shared, &method, body, uploads.pop());
            hold_while_asked(&shared).await;
            resp
        }
        "sendMediaGroup" => {
            let resp = send_media_group(&shared, body, uploads);
            hold_while_asked(&shared).await;
            resp
        }
        "setWebhook" => {
            let Some(url) = body.get("url").and_then(Value::as_str) else {
                return tg_error(400, "Bad Request: bad webhook: URL is empty");
            };
            let hook = Webhook {
                url: url.to_owned(),
                secret_token: body
                    .get("secret_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                body: body.clone(),
            };
            {
                let mut st = shared.lock();
                if let Some(a) = allowed_of(&body) {
                    st.allowed = Some(a);
                }
                st.webhook = Some(hook);
            }
            shared.bump();
            tg_ok(json!(true))
        }
        "deleteWebhook" => {
            {
                let mut st = shared.lock();
                st.webhook = None;
                if body.get("drop_pending_updates") == Some(&json!(true)) {
                    st.pending.clear();
                }
            }
            shared.bump();
            tg_ok(json!(true))
        }
        "setMyCommands" => set_my_commands(&shared, &body),
        "getFile" => {
            let id = body.get("file_id").and_then(Value::as_str).unwrap_or("");
            let st = shared.lock();
            match st.files.get(id) {
                Some((path, data)) => {
                    tg_ok(json!({"file_id": id, "file_unique_id": format!("u{id}"),
                    "file_size": data.len(), "file_path": path}))
                }
                None => tg_error(400, "Bad Request: invalid file_id"),
            }
        }
        "sendChatAction" => {
            if body.get("chat_id").and_then(Value::as_i64).is_none()
                || body.get("action").and_then(Value::as_str).is_none()
            {
                return tg_error(400, "Bad Request: chat_id and action are required");
            }
            shared.lock().chat_actions.push((Instant::now(), body));
            shared.bump();
            tg_ok(json!(true))
        }
        "editMessageText" => edit_message_text(&shared, &body),
        "editMessageReplyMarkup" => edit_reply_markup(&shared, &body),
        "answerCallbackQuery" => {
            let Some(id) = body.get("callback_query_id").and_then(Value::as_str) else {
                return tg_error(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID is invalid",
                );
            };
            let text = body.get("text").and_then(Value::as_str).map(str::to_owned);
            if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
                return tg_error(400, "Bad Request: MESSAGE_TOO_LONG");
            }
            shared.lock().callback_answers.push((id.to_owned(), text));
            shared.bump();
            tg_ok(json!(true))
        }
        "deleteMessage" => delete_message(&shared, &body),
        "sendPoll" => send_poll(&shared, body),
        "sendLocation" | "sendVenue" => send_location(&shared, &method, body),
        "pinChatMessage" | "unpinChatMessage" => {
            let (Some(chat), Some(message)) = (
                body.get("chat_id").and_then(Value::as_i64),
                body.get("message_id").and_then(Value::as_i64),
            ) else {
                return tg_error(400, "Bad Request: message to pin not found");
            };
            shared
                .lock()
                .pins
                .push((chat, message, method == "pinChatMessage"));
            shared.bump();
            tg_ok(json!(true))
        }
        // Public chats by `@username` (case-insensitive), any chat by its id.
        "getChat" => match &body["chat_id"] {
            Value::String(name) if name.starts_with('@') => {
                let found = shared
                    .lock()
                    .public_chats
                    .get(&name[1..].to_ascii_lowercase())
                    .copied();
                match found {
                    Some(id) => tg_ok(
                        json!({"id": id, "type": "channel", "title": &name[1..], "username": &name[1..]}),
                    ),
                    None => tg_error(400, "Bad Request: chat not found"),
                }
            }
            v => match v.as_i64().or_else(|| v.as_str()?.parse().ok()) {
                Some(id) => tg_ok(json!({"id": id, "type": "private"})),
                None => tg_error(400, "Bad Request: chat not found"),
            },
        },
        "setMessageReaction" => {
            let (Some(chat), Some(message)) = (
                body.get("chat_id").and_then(Value::as_i64),
                body.get("message_id").and_then(Value::as_i64),
            ) else {
                return tg_error(400, "Bad Request: message identifier is not specified");
            };
            // An empty list takes the bot's reactions away (recorded as "").
            let emoji = body["reaction"][0]["emoji"].as_str().unwrap_or("");
            let removal = body["reaction"].as_array().is_some_and(Vec::is_empty);
            if !removal
                && (body["reaction"][0]["type"] != "emoji" || !REACTION_EMOJI.contains(&emoji))
            {
                return tg_error(400, "Bad Request: REACTION_INVALID");
            }
            shared
                .lock()
                .reactions
                .push((chat, message, emoji.to_owned()));
            shared.bump();
            tg_ok(json!(true))
        }
        "deleteMyCommands" => {
            shared.lock().my_commands.clear();
            shared.bump();
            tg_ok(json!(true))
        }
        _ => tg_error(404, "Not Found"),
    }
}

/// `setMyCommands` with the Bot API's checks: 1–100 commands, names of 1–32 characters of
/// `a-z0-9_`, descriptions of 1–256 characters.
fn set_my_commands(shared: &Shared, body: &Value) -> HttpResponse {
    let Some(list) = body.get("commands").and_then(Value::as_array) else {
        return tg_error(400, "Bad Request: parameter \"commands\" is required");
    };
    if list.len() > 100 {
        return tg_error(400, "Bad Request: too many commands");
    }
    let mut menu = Vec::new();
    for c in list {
        let (Some(name), Some(desc)) = (
            c.get("command").and_then(Value::as_str),
            c.get("description").and_then(Value::as_str),
        ) else {
            return tg_error(400, "Bad Request: can't parse BotCommand");
        };
        let name_ok = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return tg_error(400, "Bad Request: BOT_COMMAND_INVALID");
        }
        if !(1..=256).contains(&desc.chars().count()) {
            return tg_error(400, "Bad Request: command description is empty or too long");
        }
        menu.push((name.to_owned(), desc.to_owned()));
    }
    shared.lock().my_commands = menu;
    shared.bump();
    tg_ok(json!(true))
}

fn allowed_of(body: &Value) -> Option<Vec<String>> {
    body.get("allowed_updates")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
}

async fn get_updates(shared: &Shared, body: &Value) -> HttpResponse {
    let offset = body.get("offset").and_then(Value::as_i64);
    let timeout =
        Duration::from_secs(body.get("timeout").and_then(Value::as_u64).unwrap_or(0)).min(MAX_POLL);
    let limit = body
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(100)
        .clamp(1, 100);
    let limit = usize::try_from(limit).unwrap_or(100);
    let generation = {
        let mut st = shared.lock();
        if st.webhook.is_some() {
            return tg_error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            );
        }
        if let Some(a) = allowed_of(body) {
            st.allowed = Some(a);
        }
        if let Some(o) = offset {
            st.pending.retain(|u| {
                u.get("update_id")
                    .and_then(Value::as_i64)
                    .is_some_and(|id| id >= o)
            });
        }
        st.poll_generation += 1;
        st.poll_generation
    };
    // An older poll still waiting is terminated (409), like the real API.
    shared.bump();
    let deadline = Instant::now() + timeout;
    loop {
        let notified = shared.changed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        {
            let mut st = shared.lock();
            if st.poll_generation != generation {
                return tg_error(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                );
            }
            if let Some(allowed) = st.allowed.clone() {
                // Kinds outside `allowed_updates` are never delivered.
                st.pending
                    .retain(|u| allowed.is_empty() || allowed.contains(&update_kind(u)));
            }
            let out: Vec<Value> = st.pending.iter().take(limit).cloned().collect();
            if !out.is_empty() {
                return tg_ok(Value::Array(out));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return tg_ok(json!([]));
        }
        // Woken by any change; the loop re-checks.
        let _ = actix_web::rt::time::timeout(left, notified).await;
    }
}

/// Waits (at most a minute) while `hold_send` is set.
async fn hold_while_asked(shared: &Shared) {
    let deadline = Instant::now() + MAX_POLL;
    loop {
        let notified = shared.changed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if !shared.lock().hold_send {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let _ = actix_web::rt::time::timeout(left, notified).await;
    }
}

fn send_message(shared: &Shared, body: Value) -> HttpResponse {
    let Some(chat_id) = body.get("chat_id").and_then(Value::as_i64) else {
        return tg_error(400, "Bad Request: chat not found");
    };
    let text = body.get("text").and_then(Value::as_str).unwrap_or("");
    if text.trim().is_empty() {
        return tg_error(400, "Bad Request: message text is empty");
    }
    // Telegram counts the limit in UTF-16 code units.
    if text.encode_utf16().count() > 4096 {
        return tg_error(400, "Bad Request: message is too long");
    }
    if let Some(markup) = body.get("reply_markup")
        && let Err(e) = check_keyboard(markup, chat_id)
    {
        return tg_error(400, &format!("Bad Request: {e}"));
    }
    let message = {
        let mut st = shared.lock();
        let (message_id, mut message) = bot_message(shared, &mut st, chat_id);
        message["text"] = json!(text);
        if let Some(t) = body.get("message_thread_id") {
            message["message_thread_id"] = t.clone();
        }
        if let Some(markup) = body.get("reply_markup") {
            message["reply_markup"] = markup.clone();
            st.keyboards.insert((chat_id, message_id), markup.clone());
        }
        st.texts.insert((chat_id, message_id), text.to_owned());
        st.sent.push(SentMessage {
            method: "sendMessage".into(),
            body: body.clone(),
            file: None,
            at: Instant::now(),
            message_id,
        });
        message
    };
    shared.bump();
    tg_ok(message)
}

/// The Bot API's checks of an `InlineKeyboardMarkup`: rows of buttons, each with a text and
/// exactly one of `callback_data` (1–64 bytes), `url` or `web_app` (private chats only).
fn check_keyboard(markup: &Value, chat_id: i64) -> Result<(), &'static str> {
    let rows = markup["inline_keyboard"]
        .as_array()
        .ok_or("can't parse inline keyboard button: InlineKeyboardMarkup expected")?;
    for row in rows {
        for b in row.as_array().ok_or("can't parse inline keyboard button")? {
            if b["text"].as_str().is_none_or(str::is_empty) {
                return Err(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                );
            }
            let kinds = ["callback_data", "url", "web_app"]
                .iter()
                .filter(|k| b.get(**k).is_some())
                .count();
            if kinds != 1 {
                return Err("can't parse inline keyboard button: exactly one action expected");
            }
            if b.get("callback_data")
                .is_some_and(|d| d.as_str().is_none_or(|d| d.is_empty() || d.len() > 64))
            {
                return Err("BUTTON_DATA_INVALID");
            }
            if b.get("web_app").is_some() && chat_id < 0 {
                return Err("BUTTON_TYPE_INVALID");
            }
        }
    }
    Ok(())
}

/// A call's `chat_id` and `message_id`.
fn message_ids(body: &Value) -> Option<(i64, i64)> {
    Some((
        body.get("chat_id").and_then(Value::as_i64)?,
        body.get("message_id").and_then(Value::as_i64)?,
    ))
}

/// `editMessageReplyMarkup`: the message's keyboard replaced (without `reply_markup`:
/// taken away).
fn edit_reply_markup(shared: &Shared, body: &Value) -> HttpResponse {
    let Some((chat_id, message_id)) = message_ids(body) else {
        return tg_error(400, "Bad Request: message identifier is not specified");
    };
    {
        let mut st = shared.lock();
        if !st.texts.contains_key(&(chat_id, message_id)) {
            return tg_error(400, "Bad Request: message to edit not found");
        }
        match body.get("reply_markup") {
            Some(m) => {
                st.keyboards.insert((chat_id, message_id), m.clone());
            }
            None => {
                if st.keyboards.remove(&(chat_id, message_id)).is_none() {
                    return tg_error(400, "Bad Request: message is not modified");
                }
            }
        }
    }
    shared.bump();
    tg_ok(json!(true))
}

/// `sendPoll` with the Bot API's checks: a question, 2–12 options of `{text}`, an
/// `open_period` of 5–604 800 s. Recorded in `sent` (method `sendPoll`).
fn send_poll(shared: &Shared, body: Value) -> HttpResponse {
    let Some(chat_id) = body.get("chat_id").and_then(Value::as_i64) else {
        return tg_error(400, "Bad Request: chat not found");
    };
    let question = body.get("question").and_then(Value::as_str).unwrap_or("");
    if question.trim().is_empty() {
        return tg_error(400, "Bad Request: poll question must be non-empty");
    }
    let options = body.get("options").and_then(Value::as_array);
    let ok_options = options.is_some_and(|o| {
        (2..=12).contains(&o.len())
            && o.iter()
                .all(|x| x["text"].as_str().is_some_and(|t| !t.trim().is_empty()))
    });
    if !ok_options {
        return tg_error(400, "Bad Request: poll must have 2-12 options");
    }
    if body
        .get("open_period")
        .and_then(Value::as_u64)
        .is_some_and(|p| !(5..=604_800).contains(&p))
    {
        return tg_error(400, "Bad Request: wrong open period specified");
    }
    let message = {
        let mut st = shared.lock();
        let (message_id, mut message) = bot_message(shared, &mut st, chat_id);
        message["poll"] = json!({"id": format!("poll-{message_id}"), "question": question,
            "options": body["options"], "is_anonymous": body["is_anonymous"]});
        st.sent.push(SentMessage {
            method: "sendPoll".into(),
            body: body.clone(),
            file: None,
            at: Instant::now(),
            message_id,
        });
        message
    };
    shared.bump();
    tg_ok(message)
}

/// `sendLocation` / `sendVenue` with the Bot API's checks (coordinates in range, a venue's
/// title and address); recorded in `sent`.
fn send_location(shared: &Shared, method: &str, body: Value) -> HttpResponse {
    let Some(chat_id) = body.get("chat_id").and_then(Value::as_i64) else {
        return tg_error(400, "Bad Request: chat not found");
    };
    let lat = body.get("latitude").and_then(Value::as_f64);
    let lon = body.get("longitude").and_then(Value::as_f64);
    if !lat.is_some_and(|l| l.abs() <= 90.0) || !lon.is_some_and(|l| l.abs() <= 180.0) {
        return tg_error(400, "Bad Request: wrong latitude or longitude");
    }
    if method == "sendVenue"
        && (body["title"].as_str().is_none_or(str::is_empty)
            || body["address"].as_str().is_none_or(str::is_empty))
    {
        return tg_error(400, "Bad Request: venue title and address are required");
    }
    let message = {
        let mut st = shared.lock();
        let (message_id, mut message) = bot_message(shared, &mut st, chat_id);
        message["location"] = json!({"latitude": lat, "longitude": lon});
        st.sent.push(SentMessage {
            method: method.to_owned(),
            body: body.clone(),
            file: None,
            at: Instant::now(),
            message_id,
        });
        message
    };
    shared.bump();
    tg_ok(message)
}

/// `editMessageText` as Telegram answers it: only a message of the bot that is still there,
/// and only to a different, valid text.
fn edit_message_text(shared: &Shared, body: &Value) -> HttpResponse {
    let Some((chat_id, message_id)) = message_ids(body) else {
        return tg_error(400, "Bad Request: message identifier is not specified");
    };
    let text = body.get("text").and_then(Value::as_str).unwrap_or("");
    if text.trim().is_empty() {
        return tg_error(400, "Bad Request: message text is empty");
    }
    if text.encode_utf16().count() > 4096 {
        return tg_error(400, "Bad Request: MESSAGE_TOO_LONG");
    }
    {
        let mut st = shared.lock();
        match st.texts.get(&(chat_id, message_id)) {
            None => return tg_error(400, "Bad Request: message to edit not found"),
            Some(t) if t == text => {
                return tg_error(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                );
            }
            Some(_) => {}
        }
        st.texts.insert((chat_id, message_id), text.to_owned());
        // As Telegram: an edit without `reply_markup` takes the inline keyboard away.
        match body.get("reply_markup") {
            Some(m) => {
                st.keyboards.insert((chat_id, message_id), m.clone());
            }
            None => {
                st.keyboards.remove(&(chat_id, message_id));
            }
        }
        st.edits.push(Edit {
            chat_id,
            message_id,
            text: text.to_owned(),
            at: Instant::now(),
        });
    }
    shared.bump();
    tg_ok(json!({"message_id": message_id, "chat": {"id": chat_id}, "text": text}))
}

/// `deleteMessage` of a message that is still there.
fn delete_message(shared: &Shared, body: &Value) -> HttpResponse {
    let Some((chat_id, message_id)) = message_ids(body) else {
        return tg_error(400, "Bad Request: message identifier is not specified");
    };
    {
        let mut st = shared.lock();
        if st.texts.remove(&(chat_id, message_id)).is_none() {
            return tg_error(400, "Bad Request: message to delete not found");
        }
        st.deleted.push(Deleted {
            chat_id,
            message_id,
            at: Instant::now(),
        });
    }
    shared.bump();
    tg_ok(json!(true))
}

/// A new message of the bot in `chat_id` (its id, and the `Message` without content).
fn bot_message(shared: &Shared, st: &mut State, chat_id: i64) -> (i64, Value) {
    st.next_message_id += 1;
    let message_id = st.next_message_id;
    let message = json!({
        "message_id": message_id,
        "from": shared.bot,
        "chat": {"id": chat_id, "type": if chat_id > 0 { "private" } else { "supergroup" }},
        "date": unix_now(),
    });
    (message_id, message)
}

/// An upload (`sendPhoto` …): checked as Telegram checks it, recorded with its file.
fn send_media(shared: &Shared, method: &str, body: Value, file: Option<SentFile>) -> HttpResponse {
    let field = match method {
        "sendPhoto" => "photo",
        "sendVideo" => "video",
        "sendAnimation" => "animation",
        "sendVoice" => "voice",
        _ => "document",
    };
    let Some(chat_id) = body.get("chat_id").and_then(Value::as_i64) else {
        return tg_error(400, "Bad Request: chat not found");
    };
    let Some(file) = file.filter(|f| f.field == field && !f.data.is_empty()) else {
        return tg_error(
            400,
            &format!("Bad Request: there is no {field} in the request"),
        );
    };
    if let Some(c) = body.get("caption").and_then(Value::as_str)
        && c.encode_utf16().count() > 1024
    {
        return tg_error(400, "Bad Request: message caption is too long");
    }
    if field == "voice" {
        // OGG/Opus, MP3 or M4A, as the Bot API takes a voice note.
        let d = &file.data;
        let voice = d.starts_with(b"OggS")
            || d.starts_with(b"ID3")
            || (d.len() >= 8 && &d[4..8] == b"ftyp");
        if !voice {
            return tg_error(400, "Bad Request: wrong file type of the voice note");
        }
    }
    if field == "photo" {
        let d = &file.data;
        let image = d.starts_with(&[0xFF, 0xD8, 0xFF])
            || d.starts_with(b"\x89PNG\r\n\x1a\n")
            || (d.len() >= 12 && d.starts_with(b"RIFF") && &d[8..12] == b"WEBP");
        if !image {
            return tg_error(400, "Bad Request: IMAGE_PROCESS_FAILED");
        }
        if d.len() > 10_000_000 {
            return tg_error(400, "Bad Request: PHOTO_INVALID_DIMENSIONS");
        }
    }
    let message = {
        let mut st = shared.lock();
        let (message_id, mut message) = bot_message(shared, &mut st, chat_id);
        message[field] =
            json!({"file_id": format!("file-{message_id}"), "file_size": file.data.len()});
        if let Some(c) = body.get("caption") {
            message["caption"] = c.clone();
        }
        st.sent.push(SentMessage {
            method: method.to_owned(),
            body,
            file: Some(file),
            at: Instant::now(),
            message_id,
        });
        message
    };
    shared.bump();
    tg_ok(message)
}

/// `sendMediaGroup` as Telegram checks it: 2 to 10 `media` entries, each a photo or a
/// video attaching a file part of the request (`attach://<part>`) that is an image (for a
/// photo), a caption only within limits. Recorded as one sent message per item (method
/// `sendMediaGroup`, the album's `media_group_id`, the first with the caption); answers
/// their messages.
fn send_media_group(shared: &Shared, body: Value, files: Vec<SentFile>) -> HttpResponse {
    let Some(chat_id) = body.get("chat_id").and_then(Value::as_i64) else {
        return tg_error(400, "Bad Request: chat not found");
    };
    let Some(media) = body.get("media").and_then(Value::as_array).cloned() else {
        return tg_error(400, "Bad Request: media not specified");
    };
    if !(2..=10).contains(&media.len()) {
        return tg_error(400, "Bad Request: wrong number of media specified");
    }
    let mut items = Vec::new();
    for m in &media {
        let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "photo" | "video") {
            return tg_error(400, "Bad Request: wrong media type in the album");
        }
        let Some(part) = m
            .get("media")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("attach://"))
        else {
            return tg_error(400, "Bad Request: wrong file identifier/HTTP URL specified");
        };
        let Some(file) = files.iter().find(|f| f.field == part).cloned() else {
            return tg_error(400, "Bad Request: file must be non-empty");
        };
        if let Some(c) = m.get("caption").and_then(Value::as_str)
            && c.encode_utf16().count() > 1024
        {
            return tg_error(400, "Bad Request: message caption is too long");
        }
        let d = &file.data;
        let image = d.starts_with(&[0xFF, 0xD8, 0xFF])
            || d.starts_with(b"\x89PNG\r\n\x1a\n")
            || (d.len() >= 12 && d.starts_with(b"RIFF") && &d[8..12] == b"WEBP");
        if kind == "photo" && !image {
            return tg_error(400, "Bad Request: IMAGE_PROCESS_FAILED");
        }
        items.push((kind, m.get("caption").cloned(), file));
    }
    let group = format!("album-{}", unix_now());
    let mut messages = Vec::new();
    {
        let mut st = shared.lock();
        for (kind, caption, file) in items {
            let (message_id, mut message) = bot_message(shared, &mut st, chat_id);
            message[kind] =
                json!({"file_id": format!("file-{message_id}"), "file_size": file.data.len()});
            message["media_group_id"] = json!(group);
            let mut recorded = body.clone();
            if let Some(o) = recorded.as_object_mut() {
                o.remove("media");
                o.insert("media_group_id".into(), json!(group));
            }
            if let Some(c) = caption {
                message["caption"] = c.clone();
                recorded["caption"] = c;
            }
            st.sent.push(SentMessage {
                method: "sendMediaGroup".to_owned(),
                body: recorded,
                file: Some(file),
                at: Instant::now(),
                message_id,
            });
            messages.push(message);
        }
    }
    shared.bump();
    tg_ok(Value::Array(messages))
}

/// Parses a `multipart/form-data` body: its text fields as a JSON object (`chat_id` and
/// `message_thread_id` as numbers, `reply_parameters` and `media` as JSON) and its file
/// parts in order. `None` for a body that is not well formed.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Option<(Value, Vec<SentFile>)> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let find = |hay: &[u8], from: usize| -> Option<usize> {
        hay.get(from..)?
            .windows(delim.len())
            .position(|w| w == delim.as_slice())
            .map(|p| p + from)
    };
    let mut fields = serde_json::Map::new();
    let mut files = Vec::new();
    let mut at = find(body, 0)? + delim.len();
    loop {
        let rest = body.get(at..)?;
        if rest.starts_with(b"--") {
            break;
        }
        let part_start = at + 2; // CRLF after the delimiter
        let next = find(body, part_start)?;
        // The part ends with CRLF before the next delimiter.
        let part = body.get(part_start..next.checked_sub(2)?)?;
        let head_end = part.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&part[..head_end]).ok()?;
        let content = &part[head_end + 4..];
        let mut name = None;
        let mut file_name = None;
        let mut ctype = String::new();
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(':')?;
            if k.eq_ignore_ascii_case("content-disposition") {
                for p in v.split(';').map(str::trim) {
                    if let Some(n) = p.strip_prefix("name=") {
                        name = Some(n.trim_matches('"').to_owned());
                    } else if let Some(f) = p.strip_prefix("filename=") {
                        file_name = Some(f.trim_matches('"').to_owned());
                    }
                }
            } else if k.eq_ignore_ascii_case("content-type") {
                ctype = v.trim().to_owned();
            }
        }
        let name = name?;
        match file_name {
            Some(f) => files.push(SentFile {
                field: name,
                file_name: f,
                content_type: ctype,
                data: content.to_vec(),
            }),
            None => {
                let text = std::str::from_utf8(content).ok()?.to_owned();
                let value = match name.as_str() {
                    "chat_id" | "message_thread_id" => json!(text.parse::<i64>().ok()?),
                    "reply_parameters" | "media" => serde_json::from_str(&text).ok()?,
                    _ => json!(text),
                };
                fields.insert(name, value);
            }
        }
        at = next + delim.len();
    }
    Some((Value::Object(fields), files))
}

/// `GET /file/bot{token}/{file_path}`: a file added with [`FakeTelegram::add_file`].
async fn download(path: web::Path<(String, String)>, shared: web::Data<Shared>) -> HttpResponse {
    let (bot, file_path) = path.into_inner();
    if !shared.accepts(&bot) {
        return tg_error(401, "Unauthorized");
    }
    let data = {
        let mut st = shared.lock();
        st.downloads.push(file_path.clone());
        st.files
            .values()
            .find(|(p, _)| *p == file_path)
            .map(|(_, d)| d.clone())
    };
    shared.bump();
    match data {
        Some(d) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(d),
        None => tg_error(404, "Not Found"),
    }
}
