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
//! answered is answered again — barring a crash in the instant between `sendMessage`
//! succeeding and the list being saved: then the reply is sent again (at-least-once).
//!
//! Backlog: at [`MAX_PENDING_INBOUND`] pending messages polling pauses (updates stay
//! unconfirmed at Telegram) until a delivered reply frees a slot. A state document that
//! cannot be read at start leaves the channel waiting (no polling, error in the status),
//! re-reading it every few seconds. Group messages count only when they mention the bot
//! ([`addressed_to`]); replies are split as Telegram counts (UTF-16 units).
//!
//! Handles the channel messages of [`super`]: [`DeliverReply`], [`GetChannelStatus`],
//! [`ListChannelPairing`], [`ApproveChannelPairing`], [`WebhookDelivery`]; registered with the
//! registry as a [`ChannelHandle`] of kind [`KIND`] ([`TelegramChannel::handle`]).

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    ApproveChannelPairing, ChannelError, ChannelHandle, ChannelKind, ChannelRecipients, ChatTarget,
    DeliverReply, GetChannelStatus, InboundMessage, ListChannelPairing, WebhookDelivery,
    WebhookError, split_message,
};
pub use super::{MAX_PENDING_PAIRING, PAIRING_TTL_MS};
use crate::ports::{SendMessage, TelegramApi, TgEntity, TgError, TgMessage, TgUpdate, TgUser};
use crate::registry::Registry;
use crate::registry::runs::InboundReceived;
use crate::store::{LoadDocument, SaveDocument, StoreActor, StoreError};
use crate::util::{Backoff, now_ms};

/// Telegram's message length limit, in UTF-16 code units (how Telegram counts it).
pub const MAX_MESSAGE_UNITS: usize = 4096;
/// Alphabet of pairing codes (no 0/O/1/I).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Upper bound on remembered pending inbound messages (a backlog beyond this is left
/// unconfirmed at Telegram rather than growing our memory; polling pauses until a pending
/// message is answered).
pub const MAX_PENDING_INBOUND: usize = 1000;
/// The Telegram channel kind, as the registry knows it.
pub const KIND: ChannelKind = ChannelKind {
    id: "telegram",
    label: "Telegram",
    setup_hint: "set channels.telegram.botToken and enabled: true",
    parse_target,
};

/// A `send` target: a numeric chat id, optionally prefixed `telegram:` or `tg:`.
fn parse_target(to: &str, thread_id: Option<i64>) -> Result<ChatTarget, String> {
    let target = to
        .trim()
        .trim_start_matches("telegram:")
        .trim_start_matches("tg:");
    match target.parse::<i64>() {
        Ok(chat_id) => Ok(ChatTarget { chat_id, thread_id }),
        Err(_) => Err(format!(
            "invalid telegram target {to:?}: expected a numeric chat id"
        )),
    }
}
/// Waits between `getUpdates` attempts after a rejected token (401/404): 60 s doubling to 15 min.
const UNAUTHORIZED_BACKOFF: Backoff =
    Backoff::new(Duration::from_secs(60), Duration::from_secs(15 * 60));
/// Waits between `getUpdates` attempts after a conflict (409): 10 s doubling to 5 min.
const CONFLICT_BACKOFF: Backoff =
    Backoff::new(Duration::from_secs(10), Duration::from_secs(5 * 60));
/// Waits between `getUpdates` attempts after other errors: 1 s doubling to 30 s.
const POLL_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
/// Longest `retry_after` honoured (a larger one is capped).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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
    /// The last polling / state error; cleared once polling and saving work again.
    last_error: Option<String>,
    last_error_at_ms: Option<u64>,
    /// Consecutive failed polls (or state saves).
    consecutive_failures: u32,
    /// When the next attempt is due, while backing off after an error.
    retry_at_ms: Option<u64>,
    /// The last failed reply delivery (kept: it is about one chat, not the channel).
    last_delivery_error: Option<String>,
    last_delivery_error_at_ms: Option<u64>,
    /// Polling is paused: `MAX_PENDING_INBOUND` messages wait for their replies.
    backlog_full: bool,
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
    /// Backoff for the poll loop (network errors).
    backoff: Backoff,
    /// Backoff after 401/404 and 409 answers.
    auth_backoff: Backoff,
    conflict_backoff: Backoff,
    /// Why the persisted state could not be read at start (the channel waits, without
    /// polling, until it can: starting empty would forget the offset and approvals).
    load_error: Option<String>,
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
            backoff: POLL_BACKOFF,
            auth_backoff: UNAUTHORIZED_BACKOFF,
            conflict_backoff: CONFLICT_BACKOFF,
            load_error: None,
        }
    }

    /// A channel whose state document could not be read (`Err` carries why, with a fix):
    /// it reports the error in its status, polls nothing (Telegram keeps the updates) and
    /// retries reading the document every 5 s; the rest of the gateway runs normally.
    pub fn with_loaded_state(
        cfg: TelegramAccountConfig,
        api: Rc<dyn TelegramApi>,
        registry: Addr<Registry>,
        store: Addr<StoreActor>,
        state: Result<ChannelState, String>,
    ) -> Self {
        match state {
            Ok(state) => Self::new(cfg, api, registry, store, state),
            Err(e) => {
                let mut ch = Self::new(cfg, api, registry, store, ChannelState::default());
                ch.status.last_error = Some(e.clone());
                ch.status.last_error_at_ms = Some(now_ms());
                ch.load_error = Some(e);
                ch
            }
        }
    }

    /// The registry's handle on a started account actor.
    pub fn handle(addr: &Addr<Self>, account: String) -> ChannelHandle {
        let mut recipients = ChannelRecipients::of(addr);
        recipients.webhook = Some(addr.clone().recipient());
        ChannelHandle {
            kind: &KIND,
            account,
            recipients,
        }
    }

    /// Persists `state`. Callers pass the current state: every save carries all changes
    /// made so far and the store applies saves in order, so the file ends at the latest state.
    fn save(
        &self,
        state: &ChannelState,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + use<> {
        let fut = self.store.send(SaveDocument {
            name: ChannelState::document(&self.cfg.account_id),
            contents: serde_json::to_vec_pretty(state).unwrap_or_default(),
        });
        async move { StoreError::flatten(fut.await) }
    }

    /// A polling (or getMe / setWebhook) failure: shown in the status until polling works.
    fn record_error(&mut self, e: &TgError) {
        let text = match e {
            TgError::Unauthorized(_) => format!(
                "{e}. Fix: check channels.telegram.botToken (a token from @BotFather), then restart the gateway"
            ),
            TgError::Conflict(_) => format!(
                "{e}. Fix: stop the other program polling with this bot token, or remove its webhook"
            ),
            _ => e.to_string(),
        };
        self.record_error_text(text);
    }

    fn record_error_text(&mut self, text: String) {
        self.status.last_error = Some(text);
        self.status.last_error_at_ms = Some(now_ms());
        self.status.consecutive_failures = self.status.consecutive_failures.saturating_add(1);
    }

    /// Polling works (and what it fetched is saved): clear the error state.
    fn recovered(&mut self) {
        self.backoff.reset();
        self.auth_backoff.reset();
        self.conflict_backoff.reset();
        self.status.consecutive_failures = 0;
        self.status.retry_at_ms = None;
        self.status.running = true;
        // Keep when the last error happened, drop its text.
        self.status.last_error = None;
    }

    /// How long to wait after `e`: Telegram's `retry_after` on 429; 60 s doubling to 15 min
    /// on a rejected token (it will not fix itself); 10 s doubling to 5 min on a conflict
    /// (another poller or a webhook); 1 s doubling to 30 s otherwise. Recorded in the
    /// status as `retryAtMs`.
    fn next_backoff(&mut self, e: &TgError) -> Duration {
        let d = match e {
            TgError::RateLimited { retry_after } => {
                Duration::from_secs((*retry_after).max(1)).min(MAX_RETRY_AFTER)
            }
            TgError::Unauthorized(_) => {
                // Not polling in any useful sense until the token is fixed.
                self.status.running = false;
                self.auth_backoff.next_delay()
            }
            TgError::Conflict(_) => self.conflict_backoff.next_delay(),
            _ => self.backoff.next_delay(),
        };
        self.status.retry_at_ms =
            Some(now_ms().saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)));
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
                    act.recovered();
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
                    Ok(updates) => act.accept_updates(updates, ctx),
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
    /// accepted messages to the registry and polls again — or pauses, when the pending list
    /// is full (a delivered reply resumes polling).
    fn accept_updates(&mut self, updates: Vec<TgUpdate>, ctx: &mut Context<Self>) {
        if updates.is_empty() {
            self.recovered();
            return self.poll(ctx);
        }
        let batch = self.apply(updates);
        if batch.accepted.is_empty()
            && batch.replies.is_empty()
            && batch.old_offset == self.state.offset
        {
            // Nothing changed (every update was already confirmed, or the backlog is full):
            // no write.
            self.recovered();
            return self.next_poll(batch.hit_cap, ctx);
        }
        self.save(&self.state)
            .into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(()) => {
                    act.recovered();
                    let hit_cap = batch.hit_cap;
                    act.commit(batch, ctx);
                    act.next_poll(hit_cap, ctx);
                }
                Err(e) => {
                    // Not persisted: take the batch back; Telegram hands it over again.
                    log::error!(
                        "telegram[{}]: cannot persist channel state: {e}",
                        act.cfg.account_id
                    );
                    act.rollback(&batch);
                    act.record_error_text(format!(
                        "state not saved, updates left unconfirmed at Telegram: {e}. Fix: make the state directory writable"
                    ));
                    let d = act.next_backoff(&TgError::Network(String::new()));
                    ctx.run_later(d, |act, ctx| act.poll(ctx));
                }
            })
            .spawn(ctx);
    }

    /// Polls again, or pauses while the pending list is full.
    fn next_poll(&mut self, hit_cap: bool, ctx: &mut Context<Self>) {
        if hit_cap && self.state.pending.len() >= MAX_PENDING_INBOUND {
            if !self.status.backlog_full {
                log::warn!(
                    "telegram[{}]: {MAX_PENDING_INBOUND} messages wait for replies; polling pauses until one is answered",
                    self.cfg.account_id
                );
            }
            self.status.backlog_full = true;
        } else {
            self.status.backlog_full = false;
            self.poll(ctx);
        }
    }

    /// A pending message left the list: resume polling if it was paused for the backlog.
    fn resume_if_paused(&mut self, ctx: &mut Context<Self>) {
        if self.status.backlog_full && self.state.pending.len() < MAX_PENDING_INBOUND {
            self.status.backlog_full = false;
            if self.cfg.webhook.is_none() {
                self.poll(ctx);
            }
        }
    }

    /// Applies policy to updates, changing the state in memory (offset, pending, pairing
    /// codes). The caller persists it and hands the batch over only once it is on disk.
    fn apply(&mut self, updates: Vec<TgUpdate>) -> Batch {
        let old_offset = self.state.offset;
        let mut accepted = Vec::new();
        let mut replies = Vec::new();
        let mut hit_cap = false;
        for u in updates {
            if self.state.offset.is_some_and(|o| u.update_id < o) {
                continue; // already confirmed
            }
            if self.state.pending.len() >= MAX_PENDING_INBOUND {
                hit_cap = true;
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
            hit_cap,
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
            channel: KIND.id.into(),
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
        addressed_to(self.me.as_ref()?, msg, text)
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

    /// Sends `text` in chunks of ≤ 4096 UTF-16 units, in order, retrying each chunk on rate
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
            // Telegram refuses a blank message; a blank chunk carries nothing visible.
            for (i, chunk) in split_message(&text, MAX_MESSAGE_UNITS)
                .into_iter()
                .filter(|c| !c.trim().is_empty())
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
    /// Updates were left unconfirmed because the pending list is full.
    hit_cap: bool,
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
    crate::util::random_bytes::<8>()
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect()
}

fn pairing_text(user_id: i64, code: &str) -> String {
    format!(
        "OpenClaw: access not configured.\n\nYour Telegram user id: {user_id}\nPairing code: {code}\n\nAsk the bot owner to approve with:\nopenclaw pairing approve telegram {code}"
    )
}

// --- group addressing ---

/// Telegram sends at most 100 entities per message; more are ignored.
const MAX_ENTITIES: usize = 100;

/// Whether a group message is addressed to the bot `me` — a reply to one of its messages,
/// or a mention of it — and if so the text with every mention of the bot removed.
///
/// Mentions are found through Telegram's entities (`mention` `@name`, `text_mention` of the
/// bot's id, `bot_command` `/cmd@name`; offsets and lengths in UTF-16 units, checked
/// against the text: an entity that is out of range or splits a character is ignored).
/// Only a message without any usable entity falls back to the text: `@name` (ASCII
/// case-insensitive, as usernames are ASCII) not preceded or followed by a username
/// character, so `@bot` never matches `@bot2` or `x@bot`. Never panics, whatever the text
/// and entities.
pub fn addressed_to(me: &TgUser, msg: &TgMessage, text: &str) -> Option<String> {
    let replied = msg
        .reply_to_message
        .as_ref()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|u| u.id == me.id);
    let entities = if msg.text.is_some() {
        msg.entities.as_deref()
    } else {
        msg.caption_entities.as_deref()
    };
    let ranges = mention_ranges(me, text, entities.unwrap_or_default());
    if ranges.is_empty() && !replied {
        return None;
    }
    Some(strip_ranges(text, ranges))
}

/// Byte ranges of `text` that mention `me`.
fn mention_ranges(me: &TgUser, text: &str, entities: &[TgEntity]) -> Vec<std::ops::Range<usize>> {
    let username = me.username.as_deref().filter(|u| !u.is_empty());
    let located: Vec<(&TgEntity, std::ops::Range<usize>)> = entities
        .iter()
        .take(MAX_ENTITIES)
        .filter_map(|e| utf16_range(text, e.offset, e.length).map(|r| (e, r)))
        .collect();
    if located.is_empty() {
        return username.map(|u| word_mentions(text, u)).unwrap_or_default();
    }
    let mut out = Vec::new();
    for (e, r) in located {
        let Some(slice) = text.get(r.clone()) else {
            continue;
        };
        match e.kind.as_str() {
            "mention" => {
                if let (Some(u), Some(name)) = (username, slice.strip_prefix('@'))
                    && name.eq_ignore_ascii_case(u)
                {
                    out.push(r);
                }
            }
            "text_mention" if e.user.as_ref().is_some_and(|u| u.id == me.id) => {
                out.push(r);
            }
            "bot_command" => {
                // `/cmd@name`: addressed when `name` is the bot; only `@name` is removed.
                if let (Some(u), Some(at)) = (username, slice.find('@'))
                    && slice[at + 1..].eq_ignore_ascii_case(u)
                {
                    out.push(r.start + at..r.end);
                }
            }
            _ => {}
        }
    }
    out
}

/// The byte range of the UTF-16 range `offset .. offset + length` of `text`, when both ends
/// fall on character boundaries within the text (and `length > 0`).
fn utf16_range(text: &str, offset: i64, length: i64) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let len = usize::try_from(length).ok().filter(|l| *l > 0)?;
    let end = start.checked_add(len)?;
    let mut units = 0usize;
    let mut byte_start = None;
    for (i, c) in text.char_indices() {
        if units == start {
            byte_start = Some(i);
        }
        if units == end {
            return Some(byte_start?..i);
        }
        if units > end {
            return None;
        }
        units += c.len_utf16();
    }
    (units == end).then_some(byte_start?..text.len())
}

/// Username characters (`[A-Za-z0-9_]`).
fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `@username` occurrences in `text` standing as a word of their own.
fn word_mentions(text: &str, username: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0usize;
    while let Some(p) = text.get(from..).and_then(|t| t.find('@')) {
        let at = from + p;
        let end = at + 1 + username.len();
        let matches = bytes
            .get(at + 1..end)
            .is_some_and(|b| b.eq_ignore_ascii_case(username.as_bytes()))
            && text.is_char_boundary(end);
        let before_ok = text
            .get(..at)
            .and_then(|h| h.chars().next_back())
            .is_none_or(|c| !is_username_char(c));
        let after_ok = matches
            && text
                .get(end..)
                .and_then(|t| t.chars().next())
                .is_none_or(|c| !is_username_char(c));
        if matches && before_ok && after_ok {
            out.push(at..end);
            from = end;
        } else {
            from = at + 1; // '@' is one byte: still a character boundary
        }
    }
    out
}

/// `text` without `ranges` (valid, possibly overlapping byte ranges), trimmed.
fn strip_ranges(text: &str, mut ranges: Vec<std::ops::Range<usize>>) -> String {
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut pos = 0usize;
    for r in ranges {
        if r.end <= pos {
            continue;
        }
        let start = r.start.max(pos);
        if let Some(kept) = text.get(pos..start) {
            out.push_str(kept);
        }
        pos = r.end;
    }
    if let Some(kept) = text.get(pos..) {
        out.push_str(kept);
    }
    out.trim().to_owned()
}

impl Actor for TelegramChannel {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        if let Some(e) = &self.load_error {
            log::error!("telegram[{}]: {e}", self.cfg.account_id);
            ctx.run_later(RELOAD_INTERVAL, |act, ctx| act.reload(ctx));
            return;
        }
        self.begin(ctx);
    }
}

/// How often a channel whose state could not be read tries again.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

impl TelegramChannel {
    /// Runs the pending messages again and starts talking to Telegram.
    fn begin(&mut self, ctx: &mut Context<Self>) {
        // Messages accepted before a restart but not answered: run them again.
        for m in self.state.pending.clone() {
            self.registry.do_send(InboundReceived {
                msg: m,
                reply_to: ctx.address().recipient(),
            });
        }
        self.identify(ctx);
    }

    /// Tries again to read the state document that could not be read at start.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        let name = ChannelState::document(&self.cfg.account_id);
        self.store
            .send(LoadDocument { name: name.clone() })
            .into_actor(self)
            .map(move |res, act, ctx| {
                let state = match res {
                    Ok(Ok(None)) => Ok(ChannelState::default()),
                    Ok(Ok(Some(bytes))) => serde_json::from_slice::<ChannelState>(&bytes)
                        .map_err(|e| format!("{name} is not valid ({e}). Fix: restore it from a backup or move it aside")),
                    Ok(Err(e)) => Err(format!("cannot read {e}. Fix: make the state directory readable and writable (a file may be in the way of a directory)")),
                    Err(e) => Err(format!("store unavailable: {e}")),
                };
                match state {
                    Ok(state) => {
                        log::info!("telegram[{}]: channel state readable again", act.cfg.account_id);
                        act.state = state;
                        act.load_error = None;
                        act.status.last_error = None;
                        act.begin(ctx);
                    }
                    Err(e) => {
                        act.status.last_error = Some(e.clone());
                        act.status.last_error_at_ms = Some(now_ms());
                        act.load_error = Some(e);
                        ctx.run_later(RELOAD_INTERVAL, |act, ctx| act.reload(ctx));
                    }
                }
            })
            .spawn(ctx);
    }
}

impl Handler<DeliverReply> for TelegramChannel {
    type Result = ResponseActFuture<Self, Result<Vec<i64>, ChannelError>>;

    fn handle(&mut self, msg: DeliverReply, ctx: &mut Self::Context) -> Self::Result {
        if msg.text.trim().is_empty() {
            if let Some(id) = msg.inbound_id {
                let before = self.state.pending.len();
                self.state.pending.retain(|p| p.id != id);
                if self.state.pending.len() != before {
                    let save = self.save(&self.state);
                    self.resume_if_paused(ctx);
                    return Box::pin(
                        async move {
                            if let Err(e) = save.await {
                                log::error!("cannot persist channel state: {e}");
                            }
                            Ok(Vec::new())
                        }
                        .into_actor(self),
                    );
                }
            }
            return Box::pin(actix::fut::ready(Err(ChannelError::EmptyText)));
        }
        let send = self.send_chunks(
            msg.target.chat_id,
            msg.target.thread_id,
            msg.reply_to,
            msg.text,
        );
        let inbound = msg.inbound_id;
        let chat_id = msg.target.chat_id;
        Box::pin(send.into_actor(self).then(move |res, act, ctx| {
            let mut done = None;
            match &res {
                Ok(_) => {
                    act.status.last_outbound_at_ms = Some(now_ms());
                    done = inbound.clone();
                }
                // A permanent refusal of this chat (chat gone, bot blocked: 400/403) will
                // not get better on a restart: stop retrying that message. A rejected token
                // (401) and transient failures keep it pending for the next start.
                Err(TgError::Api { .. }) => {
                    done = inbound.clone();
                }
                Err(_) => {}
            }
            if let Err(e) = &res {
                log::warn!(
                    "telegram[{}]: reply to chat {chat_id} not delivered: {e}",
                    act.cfg.account_id
                );
                act.status.last_delivery_error = Some(format!(
                    "chat {chat_id}: {e}{}",
                    if done.is_some() {
                        " (message dropped)"
                    } else {
                        " (message kept pending)"
                    }
                ));
                act.status.last_delivery_error_at_ms = Some(now_ms());
            }
            let save = done.map(|id| {
                act.state.pending.retain(|p| p.id != id);
                act.save(&act.state)
            });
            act.resume_if_paused(ctx);
            async move {
                if let Some(save) = save
                    && let Err(e) = save.await
                {
                    log::error!("cannot persist channel state: {e}");
                }
                res.map_err(|e| ChannelError::Delivery(e.to_string()))
            }
            .into_actor(act)
        }))
    }
}

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
                        "channel": KIND.id,
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

impl Handler<ApproveChannelPairing> for TelegramChannel {
    type Result = ResponseActFuture<Self, Result<Value, ChannelError>>;

    fn handle(&mut self, msg: ApproveChannelPairing, _: &mut Self::Context) -> Self::Result {
        if let Some(e) = &self.load_error {
            return Box::pin(actix::fut::ready(Err(ChannelError::StateNotLoaded {
                channel: KIND.id,
                reason: e.clone(),
            })));
        }
        let code = msg.code.trim().to_uppercase();
        let now = now_ms();
        self.state
            .pairing
            .retain(|p| now.saturating_sub(p.created_at_ms) < PAIRING_TTL_MS);
        let Some(pos) = self.state.pairing.iter().position(|p| p.code == code) else {
            return Box::pin(actix::fut::ready(Err(ChannelError::UnknownPairingCode)));
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
                return Err(e.into());
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
                "channel": KIND.id,
                "accountId": account,
                "id": req.user_id.to_string(),
            }))
        }))
    }
}

/// An update pushed to the webhook endpoint (webhook mode). Refused with `Unauthorized` when
/// the secret header is wrong, `Conflict` when this account polls instead, `Unavailable` when
/// the update could not be persisted (Telegram retries).
impl Handler<WebhookDelivery> for TelegramChannel {
    type Result = ResponseActFuture<Self, Result<(), WebhookError>>;

    fn handle(&mut self, msg: WebhookDelivery, _: &mut Self::Context) -> Self::Result {
        let Some((_, expected)) = &self.cfg.webhook else {
            return Box::pin(actix::fut::ready(Err(WebhookError::Conflict(
                "this account uses long polling",
            ))));
        };
        let presented = msg.secret.unwrap_or_default();
        if !crate::auth::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Box::pin(actix::fut::ready(Err(WebhookError::Unauthorized)));
        }
        let update: TgUpdate = match serde_json::from_slice(&msg.body) {
            Ok(u) => u,
            Err(e) => {
                return Box::pin(actix::fut::ready(Err(WebhookError::BadRequest(
                    e.to_string(),
                ))));
            }
        };
        if self.load_error.is_some() {
            // The state could not be read: accepting now would overwrite it.
            return Box::pin(actix::fut::ready(Err(WebhookError::Unavailable)));
        }
        // Same durable path as polling: persist, then hand over, then answer 200.
        let batch = self.apply(vec![update]);
        if batch.hit_cap {
            // Not taken (the pending list is full): Telegram delivers it again later.
            self.status.backlog_full = true;
            return Box::pin(actix::fut::ready(Err(WebhookError::Unavailable)));
        }
        self.status.backlog_full = false;
        let save = self.save(&self.state);
        Box::pin(save.into_actor(self).map(move |res, act, ctx| {
            if let Err(e) = res {
                log::error!(
                    "telegram[{}]: cannot persist webhook update: {e}",
                    act.cfg.account_id
                );
                act.rollback(&batch);
                return Err(WebhookError::Unavailable);
            }
            act.commit(batch, ctx);
            Ok(())
        }))
    }
}

/// A configured account with its state document as read at engine start.
pub struct LoadedAccount {
    cfg: TelegramAccountConfig,
    api: Rc<dyn TelegramApi>,
    /// `Err`: the document could not be read; the channel starts waiting (see
    /// [`TelegramChannel::with_loaded_state`]).
    state: Result<ChannelState, String>,
}

/// Reads each account's state document, before any actor starts. A corrupt document
/// refuses the start; an unreadable one (a file where the directory should be, no
/// permission) leaves that channel waiting with the error in its status while the rest of
/// the gateway runs.
pub fn load_accounts(
    state_dir: &std::path::Path,
    accounts: Vec<(TelegramAccountConfig, Rc<dyn TelegramApi>)>,
) -> Result<Vec<LoadedAccount>, String> {
    let mut out = Vec::with_capacity(accounts.len());
    for (cfg, api) in accounts {
        let doc = ChannelState::document(&cfg.account_id);
        let state = match crate::engine::load_json(state_dir, &doc) {
            Ok(s) => Ok(s.unwrap_or_default()),
            Err(e) if crate::store::read_document(state_dir, &doc).is_err() => Err(format!(
                "{e}. Fix: make the state directory readable and writable (a file may be in the way of a directory)"
            )),
            Err(e) => return Err(e),
        };
        out.push(LoadedAccount { cfg, api, state });
    }
    Ok(out)
}

/// Starts one actor per account; returns their handles for the registry.
pub fn start_accounts(
    accounts: Vec<LoadedAccount>,
    registry: &Addr<Registry>,
    store: &Addr<StoreActor>,
) -> Vec<ChannelHandle> {
    accounts
        .into_iter()
        .map(|a| {
            let account = a.cfg.account_id.clone();
            let addr = TelegramChannel::with_loaded_state(
                a.cfg,
                a.api,
                registry.clone(),
                store.clone(),
                a.state,
            )
            .start();
            TelegramChannel::handle(&addr, account)
        })
        .collect()
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

    #[test]
    fn send_targets_are_numeric_chat_ids_with_optional_prefix() {
        let t = |chat_id, thread_id| Ok(ChatTarget { chat_id, thread_id });
        assert_eq!(parse_target("42", None), t(42, None));
        assert_eq!(parse_target(" telegram:-100 ", Some(7)), t(-100, Some(7)));
        assert_eq!(parse_target("tg:5", None), t(5, None));
        assert_eq!(
            parse_target("@someone", None),
            Err("invalid telegram target \"@someone\": expected a numeric chat id".to_owned())
        );
        assert_eq!(KIND.id, "telegram");
    }

    use crate::channel::testgen;
    use crate::ports::TgChat;

    const BOT: &str = "openclaw_test_bot";

    fn me() -> TgUser {
        TgUser {
            id: 4242,
            is_bot: true,
            first_name: "Bot".into(),
            username: Some(BOT.into()),
        }
    }

    fn entity(kind: &str, offset: i64, length: i64) -> TgEntity {
        TgEntity {
            kind: kind.into(),
            offset,
            length,
            user: None,
        }
    }

    /// Entities as Telegram computes them: `@word` mentions, a leading `/command`.
    fn telegram_entities(text: &str) -> Vec<TgEntity> {
        let mut out = Vec::new();
        let mut offset = 0i64;
        let mut word: Option<(i64, String)> = None;
        let mut flush = |word: &mut Option<(i64, String)>| {
            if let Some((start, w)) = word.take() {
                let len = w.encode_utf16().count() as i64;
                if w.starts_with('@') && len > 1 {
                    out.push(entity("mention", start, len));
                } else if w.starts_with('/') && start == 0 && len > 1 {
                    out.push(entity("bot_command", start, len));
                }
            }
        };
        for c in text.chars() {
            if c.is_whitespace() {
                flush(&mut word);
            } else {
                word.get_or_insert_with(|| (offset, String::new()))
                    .1
                    .push(c);
            }
            offset += c.len_utf16() as i64;
        }
        flush(&mut word);
        out
    }

    fn group_msg(text: &str, entities: Option<Vec<TgEntity>>) -> TgMessage {
        TgMessage {
            message_id: 1,
            message_thread_id: None,
            from: Some(TgUser {
                id: 7,
                is_bot: false,
                first_name: "u".into(),
                username: None,
            }),
            chat: TgChat {
                id: -1,
                kind: "supergroup".into(),
                title: None,
            },
            date: 0,
            text: Some(text.to_owned()),
            caption: None,
            entities,
            caption_entities: None,
            reply_to_message: None,
        }
    }

    fn addressed(text: &str, with_entities: bool) -> Option<String> {
        let ents = with_entities.then(|| telegram_entities(text));
        addressed_to(&me(), &group_msg(text, ents), text)
    }

    /// The panic of issue 7: a mention after characters whose lowercase has another length.
    #[test]
    fn mention_after_kelvin_sign_and_dotted_i_does_not_panic() {
        for prefix in ["K", "İ", "KKKİİİ", "İstanbul", "ẞ ſ ﬃ"] {
            let text = format!("{prefix} @{BOT} hello");
            for with in [true, false] {
                assert_eq!(
                    addressed(&text, with).as_deref(),
                    Some(format!("{prefix}  hello").as_str()),
                    "{text:?} entities={with}"
                );
            }
        }
        // Uppercase handle after an astral emoji (UTF-16 offset ≠ char offset ≠ byte offset).
        let text = "👨‍👩‍👧 @OpenClaw_Test_Bot what's up";
        assert_eq!(addressed(text, true).as_deref(), Some("👨‍👩‍👧  what's up"));
        assert_eq!(addressed(text, false).as_deref(), Some("👨‍👩‍👧  what's up"));
    }

    #[test]
    fn a_longer_username_is_not_a_mention() {
        for text in [
            format!("@{BOT}2 hi"),
            format!("hi @{BOT}_x"),
            format!("mail me at me@{BOT}"),
            format!("@{BOT}é"),
        ] {
            let with = telegram_entities(&text);
            assert_eq!(addressed(&text, true), None, "{text:?}");
            if !text.ends_with('é') {
                assert_eq!(addressed(&text, false), None, "{text:?} (no entities)");
            }
            drop(with);
        }
        // Followed by punctuation it is a mention.
        assert_eq!(
            addressed(&format!("@{BOT}, hi"), false).as_deref(),
            Some(", hi")
        );
    }

    #[test]
    fn text_mention_bot_command_and_reply() {
        let text = "Bot look";
        let mut e = entity("text_mention", 0, 3);
        e.user = Some(me());
        let m = group_msg(text, Some(vec![e]));
        assert_eq!(addressed_to(&me(), &m, text).as_deref(), Some("look"));

        let text = format!("/status@{BOT} now");
        assert_eq!(addressed(&text, true).as_deref(), Some("/status now"));
        let other = "/status@other_bot now";
        assert_eq!(addressed(other, true), None);

        // A reply to the bot is addressed without a mention; text unchanged.
        let mut m = group_msg("and you?", None);
        let mut earlier = group_msg("earlier", None);
        earlier.from = Some(me());
        m.reply_to_message = Some(Box::new(earlier));
        assert_eq!(
            addressed_to(&me(), &m, "and you?").as_deref(),
            Some("and you?")
        );

        // Entities of a caption are `caption_entities`.
        let caption = format!("pic for @{BOT}");
        let mut m = group_msg("", None);
        m.text = None;
        m.caption = Some(caption.clone());
        m.caption_entities = Some(telegram_entities(&caption));
        assert_eq!(
            addressed_to(&me(), &m, &caption).as_deref(),
            Some("pic for")
        );
    }

    #[test]
    fn bogus_entities_are_ignored() {
        let text = format!("😀 @{BOT} hi");
        let bogus = vec![
            entity("mention", 1, 5),        // inside the surrogate pair
            entity("mention", -3, 10),      // negative
            entity("mention", 3, 0),        // empty
            entity("mention", 3, i64::MAX), // overflow
            entity("mention", i64::MAX, 1),
            entity("mention", 100, 5), // past the end
            entity("mention", 0, 2),   // the emoji, not a handle
        ];
        // Only the emoji entity is usable: it is not the bot, so not addressed.
        let m = group_msg(&text, Some(bogus.clone()));
        assert_eq!(addressed_to(&me(), &m, &text), None);
        // Without a usable entity, the text fallback applies.
        let m = group_msg(&text, Some(bogus[..6].to_vec()));
        assert_eq!(addressed_to(&me(), &m, &text).as_deref(), Some("😀  hi"));
        assert_eq!(utf16_range("😀a", 0, 2), Some(0..4));
        assert_eq!(utf16_range("😀a", 2, 1), Some(4..5));
        assert_eq!(utf16_range("😀a", 1, 2), None);
        assert_eq!(utf16_range("😀a", 0, 4), None);
    }

    /// Property: no text or entity list panics group addressing, and a correctly marked
    /// mention of the bot between random texts is always found and removed.
    #[test]
    fn addressing_property_random_unicode_and_entities() {
        let mut rng = testgen::Rng::new(0x7e1e_6a11);
        let extra = [
            "@openclaw_test_bot",
            "@OPENCLAW_TEST_BOT",
            "@openclaw_test_bot2",
            "x@openclaw_test_bot",
            "/start@openclaw_test_bot",
            "@",
        ];
        let kinds = ["mention", "text_mention", "bot_command", "bold", "url"];
        for round in 0..20_000 {
            let text = testgen::text(&mut rng, 24, &extra);
            let units = text.encode_utf16().count() as i64;
            let mut ents = if rng.below(2) == 0 {
                telegram_entities(&text)
            } else {
                Vec::new()
            };
            for _ in 0..rng.below(4) {
                let pick = |r: &mut testgen::Rng| match r.below(6) {
                    0 => i64::MAX,
                    1 => i64::MIN,
                    2 => -(r.below(5) as i64),
                    _ => r.below(units as usize + 6) as i64,
                };
                let mut e = entity(
                    kinds[rng.below(kinds.len())],
                    pick(&mut rng),
                    pick(&mut rng),
                );
                if rng.below(2) == 0 {
                    e.user = Some(me());
                }
                ents.push(e);
            }
            let mut m = group_msg(&text, Some(ents));
            if rng.below(8) == 0 {
                m.text = None;
                m.caption = Some(text.clone());
                m.caption_entities = m.entities.take();
            }
            let _ = addressed_to(&me(), &m, &text);

            // A real mention between two texts without '@' is found and removed.
            let a = testgen::text(&mut rng, 8, &[]).replace('@', "");
            let b = testgen::text(&mut rng, 8, &[]).replace('@', "");
            let text = format!("{a} @{BOT} {b}");
            let expected = format!("{a}  {b}").trim().to_owned();
            for with in [true, false] {
                assert_eq!(
                    addressed(&text, with).as_deref(),
                    Some(expected.as_str()),
                    "round {round}: {text:?} entities={with}"
                );
            }
        }
    }
}
