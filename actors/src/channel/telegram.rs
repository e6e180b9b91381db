//! # `TelegramChannel` — one actor per Telegram bot account
//!
//! Long-polls `getUpdates`; applies the DM and group policies; hands accepted messages to
//! the [`Registry`] as [`InboundReceived`]; delivers replies with `sendMessage`.
//!
//! Durability: an accepted update is written to this account's state document (its
//! `pending` list) together with the advanced offset, in one atomic write, *before* the
//! next `getUpdates` confirms it to Telegram and before the registry sees it. A pending
//! message leaves the list only once its reply was delivered. After a crash or restart the
//! pending messages are handed to the registry again: nothing is lost, and nothing that was
//! answered is answered again (barring a crash in the instant between `sendMessage`
//! succeeding and the list being saved).
//!
//! Messages: [`DeliverReply`], [`GetChannelStatus`], [`ListChannelPairing`],
//! [`ApproveChannelPairing`], [`WebhookUpdate`].

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{InboundMessage, split_message};
use crate::ports::{SendMessage, TelegramApi, TgError, TgMessage, TgUpdate, TgUser};
use crate::registry::Registry;
use crate::registry::runs::InboundReceived;
use crate::store::{SaveDocument, StoreActor};
use crate::util::now_ms;

/// Telegram's message length limit.
pub const MAX_MESSAGE_CHARS: usize = 4096;
/// Pairing codes live this long.
pub const PAIRING_TTL_MS: u64 = 60 * 60 * 1000;
/// At most this many pending pairing codes per account.
pub const MAX_PENDING_PAIRING: usize = 3;
/// Alphabet of pairing codes (no 0/O/1/I).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Upper bound on remembered pending inbound messages (a backlog beyond this is left
/// unconfirmed at Telegram rather than growing our memory).
const MAX_PENDING_INBOUND: usize = 1000;

/// `channels.telegram.dmPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DmPolicy {
    /// Unknown senders get a pairing code.
    #[default]
    Pairing,
    /// Only `allowFrom`.
    Allowlist,
    /// Anyone (`allowFrom` must contain `"*"`).
    Open,
    /// No DMs.
    Disabled,
}

/// `channels.telegram.groupPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GroupPolicy {
    /// Only groups (or senders) in `groupAllowFrom`.
    #[default]
    Allowlist,
    /// Any group.
    Open,
    /// No groups.
    Disabled,
}

/// One bot account's settings (resolved by the shell from `channels.telegram`).
#[derive(Debug, Clone)]
pub struct TelegramAccountConfig {
    /// Account id (`default`).
    pub account_id: String,
    /// DM policy.
    pub dm_policy: DmPolicy,
    /// Allowed DM senders (numeric ids, or `*`).
    pub allow_from: Vec<String>,
    /// Group policy.
    pub group_policy: GroupPolicy,
    /// Allowed groups or group senders (numeric ids, or `*`).
    pub group_allow_from: Vec<String>,
    /// Long-poll timeout in seconds.
    pub poll_timeout_s: u32,
    /// Webhook mode: public URL and secret (polling when `None`).
    pub webhook: Option<(String, String)>,
}

/// A pending DM pairing code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PairingCode {
    /// The code.
    pub code: String,
    /// Sender's user id.
    pub user_id: i64,
    /// Sender's name.
    pub name: String,
    /// Sender's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Created.
    pub created_at_ms: u64,
    /// Last time the code was sent to the user.
    pub last_sent_at_ms: u64,
}

/// What the account persists.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChannelState {
    /// Next `getUpdates` offset.
    #[serde(default)]
    pub offset: Option<i64>,
    /// Accepted messages not yet answered.
    #[serde(default)]
    pub pending: Vec<InboundMessage>,
    /// Senders approved through pairing.
    #[serde(default)]
    pub approved: Vec<i64>,
    /// Pending pairing codes.
    #[serde(default)]
    pub pairing: Vec<PairingCode>,
}

impl ChannelState {
    /// Where an account's state lives, relative to the state directory.
    pub fn document(account_id: &str) -> String {
        format!("channels/telegram/{account_id}.json")
    }
}

/// Live status for `channels.status` and `health`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    running: bool,
    mode: &'static str,
    bot_username: Option<String>,
    bot_id: Option<i64>,
    last_poll_at_ms: Option<u64>,
    last_inbound_at_ms: Option<u64>,
    last_outbound_at_ms: Option<u64>,
    last_error: Option<String>,
    last_error_at_ms: Option<u64>,
    consecutive_failures: u32,
}

/// The channel actor.
pub struct TelegramChannel {
    /// Settings.
    cfg: TelegramAccountConfig,
    /// Bot API client.
    api: Rc<dyn TelegramApi>,
    /// Where accepted messages go.
    registry: Addr<Registry>,
    /// Durable state writer.
    store: Addr<StoreActor>,
    /// Persisted state (what was last written successfully).
    state: ChannelState,
    /// The bot itself (from `getMe`).
    me: Option<TgUser>,
    /// Status.
    status: Status,
    /// Backoff for the poll loop.
    backoff: Duration,
}

impl TelegramChannel {
    /// A channel for one account with its persisted state.
    pub fn new(
        cfg: TelegramAccountConfig,
        api: Rc<dyn TelegramApi>,
        registry: Addr<Registry>,
        store: Addr<StoreActor>,
        state: ChannelState,
    ) -> Self {
        let mode = if cfg.webhook.is_some() {
            "webhook"
        } else {
            "polling"
        };
        Self {
            cfg,
            api,
            registry,
            store,
            state,
            me: None,
            status: Status {
                mode,
                ..Default::default()
            },
            backoff: Duration::from_secs(1),
        }
    }

    /// Persists `state`. Callers pass the current state: every save carries all changes
    /// made so far and the store applies saves in order, so the file ends at the latest state.
    fn save(
        &self,
        state: &ChannelState,
    ) -> impl std::future::Future<Output = Result<(), String>> + use<> {
        let fut = self.store.send(SaveDocument {
            name: ChannelState::document(&self.cfg.account_id),
            contents: serde_json::to_vec_pretty(state).unwrap_or_default(),
        });
        async move {
            match fut.await {
                Ok(r) => r,
                Err(e) => Err(format!("store unavailable: {e}")),
            }
        }
    }

    fn record_error(&mut self, e: &TgError) {
        self.status.last_error = Some(e.to_string());
        self.status.last_error_at_ms = Some(now_ms());
        self.status.consecutive_failures = self.status.consecutive_failures.saturating_add(1);
    }

    fn next_backoff(&mut self, e: &TgError) -> Duration {
        let d = match e {
            TgError::RateLimited { retry_after } => Duration::from_secs((*retry_after).max(1)),
            TgError::Unauthorized(_) => Duration::from_secs(60),
            TgError::Conflict(_) => Duration::from_secs(10),
            _ => self.backoff,
        };
        self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
        d
    }

    // --- startup ---

    fn identify(&mut self, ctx: &mut Context<Self>) {
        self.api
            .get_me()
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok(me) => {
                    log::info!(
                        "telegram[{}]: connected as @{}",
                        act.cfg.account_id,
                        me.username.as_deref().unwrap_or("?")
                    );
                    act.status.bot_username = me.username.clone();
                    act.status.bot_id = Some(me.id);
                    act.me = Some(me);
                    act.status.running = true;
                    act.backoff = Duration::from_secs(1);
                    if act.cfg.webhook.is_none() {
                        act.start_polling(ctx);
                    } else {
                        act.register_webhook(ctx);
                    }
                }
                Err(e) => {
                    log::warn!("telegram[{}]: getMe failed: {e}", act.cfg.account_id);
                    act.record_error(&e);
                    let d = act.next_backoff(&e);
                    ctx.run_later(d, |act, ctx| act.identify(ctx));
                }
            })
            .spawn(ctx);
    }

    fn register_webhook(&mut self, ctx: &mut Context<Self>) {
        let Some((url, secret)) = self.cfg.webhook.clone() else {
            return;
        };
        self.api
            .set_webhook(url, secret)
            .into_actor(self)
            .map(|res, act, ctx| {
                if let Err(e) = res {
                    log::warn!("telegram[{}]: setWebhook failed: {e}", act.cfg.account_id);
                    act.record_error(&e);
                    let d = act.next_backoff(&e);
                    ctx.run_later(d, |act, ctx| act.register_webhook(ctx));
                }
            })
            .spawn(ctx);
    }

    fn start_polling(&mut self, ctx: &mut Context<Self>) {
        // A webhook left over from another deployment makes getUpdates fail with 409.
        self.api
            .delete_webhook()
            .into_actor(self)
            .map(|_, act, ctx| act.poll(ctx))
            .spawn(ctx);
    }

    // --- polling ---

    fn poll(&mut self, ctx: &mut Context<Self>) {
        let offset = self.state.offset;
        self.api
            .get_updates(offset, self.cfg.poll_timeout_s)
            .into_actor(self)
            .map(|res, act, ctx| {
                act.status.last_poll_at_ms = Some(now_ms());
                match res {
                    Ok(updates) => {
                        act.backoff = Duration::from_secs(1);
                        act.status.consecutive_failures = 0;
                        // Recovered: keep when the last error happened, drop its text.
                        act.status.last_error = None;
                        act.accept_updates(updates, ctx);
                    }
                    Err(e) => {
                        log::warn!("telegram[{}]: getUpdates failed: {e}", act.cfg.account_id);
                        act.record_error(&e);
                        let d = act.next_backoff(&e);
                        ctx.run_later(d, |act, ctx| act.poll(ctx));
                    }
                }
            })
            .spawn(ctx);
    }

    /// Applies policy to a batch, persists offset + pending in one write, then hands the
    /// accepted messages to the registry and polls again.
    fn accept_updates(&mut self, updates: Vec<TgUpdate>, ctx: &mut Context<Self>) {
        if updates.is_empty() {
            return self.poll(ctx);
        }
        let batch = self.apply(updates);
        self.save(&self.state)
            .into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(()) => {
                    act.commit(batch, ctx);
                    act.poll(ctx);
                }
                Err(e) => {
                    // Not persisted: take the batch back; Telegram hands it over again.
                    log::error!(
                        "telegram[{}]: cannot persist channel state: {e}",
                        act.cfg.account_id
                    );
                    act.rollback(&batch);
                    act.status.last_error = Some(format!("state not saved: {e}"));
                    ctx.run_later(Duration::from_secs(2), |act, ctx| act.poll(ctx));
                }
            })
            .spawn(ctx);
    }

    /// Applies policy to updates, changing the state in memory (offset, pending, pairing
    /// codes). The caller persists it and hands the batch over only once it is on disk.
    fn apply(&mut self, updates: Vec<TgUpdate>) -> Batch {
        let old_offset = self.state.offset;
        let mut accepted = Vec::new();
        let mut replies = Vec::new();
        for u in updates {
            if self.state.offset.is_some_and(|o| u.update_id < o) {
                continue; // already confirmed
            }
            if self.state.pending.len() >= MAX_PENDING_INBOUND {
                break; // leave the rest unconfirmed at Telegram
            }
            self.state.offset = Some(u.update_id + 1);
            let Some(msg) = u.message else { continue };
            let mut state = std::mem::take(&mut self.state);
            let decision = self.classify(&msg, &mut state);
            self.state = state;
            match decision {
                Decision::Accept(text) => {
                    let inbound = self.inbound(u.update_id, &msg, text);
                    if !self.state.pending.iter().any(|p| p.id == inbound.id) {
                        self.state.pending.push(inbound.clone());
                        accepted.push(inbound);
                    }
                }
                Decision::Reply(text) => replies.push((msg.chat.id, msg.message_thread_id, text)),
                Decision::Drop(why) => log::debug!(
                    "telegram[{}]: dropped update {}: {why}",
                    self.cfg.account_id,
                    u.update_id
                ),
            }
        }
        Batch {
            old_offset,
            accepted,
            replies,
        }
    }

    /// A batch could not be persisted: forget its messages and its offset advance.
    fn rollback(&mut self, batch: &Batch) {
        self.state
            .pending
            .retain(|p| !batch.accepted.iter().any(|a| a.id == p.id));
        self.state.offset = batch.old_offset;
    }

    /// The batch's state is durable: adopt it, hand accepted messages to the registry and
    /// send pairing notices.
    fn commit(&mut self, batch: Batch, ctx: &mut Context<Self>) {
        if !batch.accepted.is_empty() {
            self.status.last_inbound_at_ms = Some(now_ms());
        }
        for m in batch.accepted {
            self.registry.do_send(InboundReceived {
                msg: m,
                reply_to: ctx.address().recipient(),
            });
        }
        for (chat_id, thread_id, text) in batch.replies {
            self.send_notice(chat_id, thread_id, text, ctx);
        }
    }

    fn inbound(&self, update_id: i64, msg: &TgMessage, text: String) -> InboundMessage {
        let from = msg.from.clone();
        InboundMessage {
            id: format!("telegram:{}:{update_id}", self.cfg.account_id),
            channel: "telegram".into(),
            account_id: self.cfg.account_id.clone(),
            chat_id: msg.chat.id,
            chat_type: msg.chat.kind.clone(),
            thread_id: msg.message_thread_id,
            sender_id: from.as_ref().map(|u| u.id).unwrap_or(msg.chat.id),
            sender_name: from
                .as_ref()
                .map(|u| u.first_name.clone())
                .unwrap_or_default(),
            sender_username: from.and_then(|u| u.username),
            message_id: msg.message_id,
            text,
            ts: now_ms(),
        }
    }

    /// Decides what to do with one message.
    fn classify(&self, msg: &TgMessage, state: &mut ChannelState) -> Decision {
        let Some(text) = msg.text.clone().or_else(|| msg.caption.clone()) else {
            return Decision::Drop("no text");
        };
        let Some(from) = &msg.from else {
            return Decision::Drop("no sender");
        };
        if from.is_bot {
            return Decision::Drop("from a bot");
        }
        if msg.chat.kind == "private" {
            return self.classify_dm(from, text, state);
        }
        if msg.chat.kind != "group" && msg.chat.kind != "supergroup" {
            return Decision::Drop("unsupported chat type");
        }
        match self.cfg.group_policy {
            GroupPolicy::Disabled => return Decision::Drop("groups disabled"),
            GroupPolicy::Allowlist => {
                if !allowed(&self.cfg.group_allow_from, msg.chat.id)
                    && !allowed(&self.cfg.group_allow_from, from.id)
                {
                    return Decision::Drop("group not allowed");
                }
            }
            GroupPolicy::Open => {}
        }
        match self.addressed_to_me(msg, &text) {
            Some(stripped) => Decision::Accept(stripped),
            None => Decision::Drop("not mentioned"),
        }
    }

    fn classify_dm(&self, from: &TgUser, text: String, state: &mut ChannelState) -> Decision {
        match self.cfg.dm_policy {
            DmPolicy::Disabled => Decision::Drop("DMs disabled"),
            DmPolicy::Open => {
                if allowed(&self.cfg.allow_from, from.id)
                    || self.cfg.allow_from.iter().any(|a| a == "*")
                {
                    Decision::Accept(text)
                } else {
                    Decision::Drop("open policy without \"*\" in allowFrom")
                }
            }
            DmPolicy::Allowlist => {
                if allowed_exact(&self.cfg.allow_from, from.id) {
                    Decision::Accept(text)
                } else {
                    Decision::Drop("sender not in allowFrom")
                }
            }
            DmPolicy::Pairing => {
                if allowed_exact(&self.cfg.allow_from, from.id) || state.approved.contains(&from.id)
                {
                    return Decision::Accept(text);
                }
                let now = now_ms();
                state
                    .pairing
                    .retain(|p| now.saturating_sub(p.created_at_ms) < PAIRING_TTL_MS);
                if let Some(p) = state.pairing.iter_mut().find(|p| p.user_id == from.id) {
                    if now.saturating_sub(p.last_sent_at_ms) < 60_000 {
                        return Decision::Drop("pairing code already sent");
                    }
                    p.last_sent_at_ms = now;
                    return Decision::Reply(pairing_text(from.id, &p.code));
                }
                if state.pairing.len() >= MAX_PENDING_PAIRING {
                    return Decision::Drop("too many pending pairing requests");
                }
                let code = new_code();
                state.pairing.push(PairingCode {
                    code: code.clone(),
                    user_id: from.id,
                    name: from.first_name.clone(),
                    username: from.username.clone(),
                    created_at_ms: now,
                    last_sent_at_ms: now,
                });
                Decision::Reply(pairing_text(from.id, &code))
            }
        }
    }

    /// In groups the bot answers only when mentioned or replied to. Returns the text with
    /// the mention removed.
    fn addressed_to_me(&self, msg: &TgMessage, text: &str) -> Option<String> {
        let me = self.me.as_ref()?;
        if msg
            .reply_to_message
            .as_ref()
            .and_then(|r| r.from.as_ref())
            .is_some_and(|u| u.id == me.id)
        {
            return Some(text.to_owned());
        }
        let username = me.username.as_deref()?;
        let handle = format!("@{username}");
        let lower = text.to_lowercase();
        let handle_lower = handle.to_lowercase();
        let pos = lower.find(&handle_lower)?;
        // Same length in lowercase for ASCII usernames (Telegram usernames are ASCII).
        let mut stripped = String::with_capacity(text.len());
        stripped.push_str(&text[..pos]);
        stripped.push_str(&text[pos + handle.len()..]);
        Some(stripped.trim().to_owned())
    }

    /// Sends a notice (pairing code) without blocking polling; failures are logged.
    fn send_notice(
        &mut self,
        chat_id: i64,
        thread_id: Option<i64>,
        text: String,
        ctx: &mut Context<Self>,
    ) {
        self.send_chunks(chat_id, thread_id, None, text)
            .into_actor(self)
            .map(|res, act, _| {
                if let Err(e) = res {
                    log::warn!(
                        "telegram[{}]: notice not delivered: {e}",
                        act.cfg.account_id
                    );
                }
            })
            .spawn(ctx);
    }

    /// Sends `text` in ≤ 4096-character chunks, in order, retrying each chunk on rate
    /// limits and network failures (bounded), replying to `reply_to` with the first chunk.
    fn send_chunks(
        &self,
        chat_id: i64,
        thread_id: Option<i64>,
        reply_to: Option<i64>,
        text: String,
    ) -> impl std::future::Future<Output = Result<Vec<i64>, TgError>> + use<> {
        let api = self.api.clone();
        async move {
            let mut ids = Vec::new();
            for (i, chunk) in split_message(&text, MAX_MESSAGE_CHARS)
                .into_iter()
                .enumerate()
            {
                let msg = SendMessage {
                    chat_id,
                    text: chunk,
                    reply_to_message_id: if i == 0 { reply_to } else { None },
                    message_thread_id: thread_id,
                };
                let mut delay = Duration::from_millis(500);
                let mut attempt = 0u32;
                loop {
                    attempt += 1;
                    match api.send_message(msg.clone()).await {
                        Ok(id) => {
                            ids.push(id);
                            break;
                        }
                        Err(TgError::RateLimited { retry_after }) if attempt < 20 => {
                            actix_web::rt::time::sleep(Duration::from_secs(
                                retry_after.clamp(1, 300),
                            ))
                            .await;
                        }
                        Err(TgError::Network(_)) if attempt < 20 => {
                            actix_web::rt::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(30));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(ids)
        }
    }
}

enum Decision {
    Accept(String),
    Reply(String),
    Drop(&'static str),
}

/// A batch of updates applied to the state: its messages are handed over (and pairing
/// notices sent) only once the state is on disk.
struct Batch {
    old_offset: Option<i64>,
    accepted: Vec<InboundMessage>,
    replies: Vec<(i64, Option<i64>, String)>,
}

fn parse_id(entry: &str) -> Option<i64> {
    let e = entry.trim();
    let e = e
        .strip_prefix("telegram:")
        .or_else(|| e.strip_prefix("tg:"))
        .unwrap_or(e);
    e.parse().ok()
}

fn allowed_exact(list: &[String], id: i64) -> bool {
    list.iter().any(|e| parse_id(e) == Some(id))
}

fn allowed(list: &[String], id: i64) -> bool {
    list.iter().any(|e| e.trim() == "*") || allowed_exact(list, id)
}

fn new_code() -> String {
    let bytes = uuid::Uuid::new_v4();
    bytes
        .as_bytes()
        .iter()
        .take(8)
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect()
}

fn pairing_text(user_id: i64, code: &str) -> String {
    format!(
        "OpenClaw: access not configured.\n\nYour Telegram user id: {user_id}\nPairing code: {code}\n\nAsk the bot owner to approve with:\nopenclaw pairing approve telegram {code}"
    )
}

impl Actor for TelegramChannel {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        // Messages accepted before a restart but not answered: run them again.
        for m in self.state.pending.clone() {
            self.registry.do_send(InboundReceived {
                msg: m,
                reply_to: ctx.address().recipient(),
            });
        }
        self.identify(ctx);
    }
}

/// Sent by the registry (agent run finished) or for the `send` RPC: deliver `text` to a
/// chat. When `inbound_id` is set, that pending message is done once this succeeds.
#[derive(Message, Clone)]
#[rtype(result = "Result<Vec<i64>, String>")]
pub struct DeliverReply {
    /// The inbound message this answers, if any.
    pub inbound_id: Option<String>,
    /// Chat.
    pub chat_id: i64,
    /// Topic.
    pub thread_id: Option<i64>,
    /// Message to reply to.
    pub reply_to: Option<i64>,
    /// Text (split at 4096 characters).
    pub text: String,
}

impl Handler<DeliverReply> for TelegramChannel {
    type Result = ResponseActFuture<Self, Result<Vec<i64>, String>>;

    fn handle(&mut self, msg: DeliverReply, _: &mut Self::Context) -> Self::Result {
        let send = self.send_chunks(msg.chat_id, msg.thread_id, msg.reply_to, msg.text);
        let inbound = msg.inbound_id;
        Box::pin(send.into_actor(self).then(move |res, act, _| {
            let mut done = None;
            match &res {
                Ok(_) => {
                    act.status.last_outbound_at_ms = Some(now_ms());
                    done = inbound.clone();
                }
                // A permanent refusal (chat gone, bot blocked) will not get better on a
                // restart: stop retrying that message. Transient failures keep it pending.
                Err(TgError::Api { .. }) | Err(TgError::Unauthorized(_)) => {
                    done = inbound.clone();
                }
                Err(_) => {}
            }
            if let Err(e) = &res {
                act.record_error(e);
            }
            let save = done.map(|id| {
                act.state.pending.retain(|p| p.id != id);
                act.save(&act.state)
            });
            async move {
                if let Some(save) = save
                    && let Err(e) = save.await
                {
                    log::error!("cannot persist channel state: {e}");
                }
                res.map_err(|e| e.to_string())
            }
            .into_actor(act)
        }))
    }
}

/// Status for `channels.status` / `health`.
#[derive(Message)]
#[rtype(result = "Value")]
pub struct GetChannelStatus;

impl Handler<GetChannelStatus> for TelegramChannel {
    type Result = MessageResult<GetChannelStatus>;

    fn handle(&mut self, _: GetChannelStatus, _: &mut Self::Context) -> Self::Result {
        let mut v = serde_json::to_value(&self.status).unwrap_or(Value::Null);
        v["accountId"] = json!(self.cfg.account_id);
        v["enabled"] = json!(true);
        v["configured"] = json!(true);
        v["dmPolicy"] = json!(self.cfg.dm_policy);
        v["groupPolicy"] = json!(self.cfg.group_policy);
        v["pendingInbound"] = json!(self.state.pending.len());
        v["pendingPairing"] = json!(self.state.pairing.len());
        MessageResult(v)
    }
}

/// Pending pairing codes (`channels.pairing.list`).
#[derive(Message)]
#[rtype(result = "Vec<Value>")]
pub struct ListChannelPairing;

impl Handler<ListChannelPairing> for TelegramChannel {
    type Result = MessageResult<ListChannelPairing>;

    fn handle(&mut self, _: ListChannelPairing, _: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        MessageResult(
            self.state
                .pairing
                .iter()
                .filter(|p| now.saturating_sub(p.created_at_ms) < PAIRING_TTL_MS)
                .map(|p| {
                    json!({
                        "channel": "telegram",
                        "accountId": self.cfg.account_id,
                        "requestId": p.code,
                        "code": p.code,
                        "id": p.user_id.to_string(),
                        "name": p.name,
                        "username": p.username,
                        "createdAtMs": p.created_at_ms,
                        "expiresAtMs": p.created_at_ms + PAIRING_TTL_MS,
                    })
                })
                .collect(),
        )
    }
}

/// Approves a pairing code (`channels.pairing.approve`, `openclaw pairing approve`).
#[derive(Message)]
#[rtype(result = "Result<Value, String>")]
pub struct ApproveChannelPairing {
    /// The code (case-insensitive).
    pub code: String,
}

impl Handler<ApproveChannelPairing> for TelegramChannel {
    type Result = ResponseActFuture<Self, Result<Value, String>>;

    fn handle(&mut self, msg: ApproveChannelPairing, _: &mut Self::Context) -> Self::Result {
        let code = msg.code.trim().to_uppercase();
        let now = now_ms();
        self.state
            .pairing
            .retain(|p| now.saturating_sub(p.created_at_ms) < PAIRING_TTL_MS);
        let Some(pos) = self.state.pairing.iter().position(|p| p.code == code) else {
            return Box::pin(actix::fut::ready(Err(
                "pending DM access request no longer exists".to_owned(),
            )));
        };
        let req = self.state.pairing.remove(pos);
        let newly = !self.state.approved.contains(&req.user_id);
        if newly {
            self.state.approved.push(req.user_id);
        }
        let save = self.save(&self.state);
        let account = self.cfg.account_id.clone();
        Box::pin(save.into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = res {
                // Not on disk: undo, so memory and file agree.
                if newly {
                    act.state.approved.retain(|u| *u != req.user_id);
                }
                act.state.pairing.push(req);
                return Err(e);
            }
            act.send_notice(
                req.user_id,
                None,
                "OpenClaw: access approved. Send me a message.".to_owned(),
                ctx,
            );
            Ok(json!({
                "requestId": code,
                "approved": true,
                "channel": "telegram",
                "accountId": account,
                "id": req.user_id.to_string(),
            }))
        }))
    }
}

/// An update pushed to the webhook endpoint (webhook mode). Replies `Err(401)` when the
/// secret header is wrong, `Err(409)` when this account polls instead, `Err(503)` when the
/// update could not be persisted (Telegram retries).
#[derive(Message)]
#[rtype(result = "Result<(), u16>")]
pub struct WebhookUpdate {
    /// `X-Telegram-Bot-Api-Secret-Token`.
    pub secret: Option<String>,
    /// The update.
    pub update: TgUpdate,
}

impl Handler<WebhookUpdate> for TelegramChannel {
    type Result = ResponseActFuture<Self, Result<(), u16>>;

    fn handle(&mut self, msg: WebhookUpdate, _: &mut Self::Context) -> Self::Result {
        let Some((_, expected)) = &self.cfg.webhook else {
            return Box::pin(actix::fut::ready(Err(409)));
        };
        let presented = msg.secret.unwrap_or_default();
        if !crate::auth::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Box::pin(actix::fut::ready(Err(401)));
        }
        // Same durable path as polling: persist, then hand over, then answer 200.
        let batch = self.apply(vec![msg.update]);
        let save = self.save(&self.state);
        Box::pin(save.into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = res {
                log::error!(
                    "telegram[{}]: cannot persist webhook update: {e}",
                    act.cfg.account_id
                );
                act.rollback(&batch);
                return Err(503);
            }
            act.commit(batch, ctx);
            Ok(())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_allowlists() {
        let c = new_code();
        assert_eq!(c.len(), 8);
        assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        let list = vec!["123".to_owned(), "tg:456".to_owned()];
        assert!(allowed_exact(&list, 123));
        assert!(allowed_exact(&list, 456));
        assert!(!allowed_exact(&list, 789));
        assert!(allowed(&["*".to_owned()], 789));
        assert!(pairing_text(5, "ABCD2345").contains("openclaw pairing approve telegram ABCD2345"));
    }
}
