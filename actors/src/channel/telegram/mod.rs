//! # `TelegramChannel` — one actor per Telegram bot account
//!
//! Long-polls `getUpdates`; applies the DM and group policies; hands accepted messages to
//! the [`Registry`] as [`InboundReceived`]; delivers replies with `sendMessage`.
//!
//! Durability: an accepted update is written to this account's state document (its
//! `pending` list) together with the advanced offset, in one atomic write, *before* the
//! next `getUpdates` confirms it to Telegram. The registry gets it at once, while that write
//! is in flight (see [`durable`] for what waits for the disk and what does not). A pending
//! message leaves the list only once its reply was delivered. After a crash or restart the
//! pending messages are handed to the registry again, and Telegram hands over again every
//! update past the durable offset: nothing is lost, and no transcript line is written twice.
//! A reply may be sent twice (at-least-once): after a crash between `sendMessage`
//! succeeding and the save that records it, or between the reply and the save of the
//! update's receipt.
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
    ApproveChannelPairing, ChannelError, ChannelHandle, ChannelKind, ChannelPairingRequest,
    ChannelRecipients, ChannelStatus, ChatTarget, DeliverReply, FlushChannel, GetChannelStatus,
    InboundMessage, ListChannelPairing, PairingApproval, WebhookDelivery, WebhookError,
    split_message,
};
pub use super::{MAX_PENDING_PAIRING, PAIRING_TTL_MS};
use crate::registry::Registry;
use crate::registry::runs::InboundReceived;
use crate::store::{LoadDocument, SaveDocument, StoreActor, StoreError};
use crate::util::{Backoff, now_ms};

pub mod actions;
mod addressing;
mod batch;
pub mod buttons;
pub use batch::DEFAULT_WINDOW as INBOUND_WINDOW;
pub use history::{DEFAULT_LIMIT as HISTORY_LIMIT, MAX_LIMIT as MAX_HISTORY_LIMIT};
pub mod api;
#[cfg(test)]
mod durability_tests;
mod durable;
mod fetch;
pub mod groups;
mod history;
mod intake;
pub mod names;
pub use intake::{MAX_DOWNLOAD_BYTES, inbound_media};
mod pairing;
pub mod progress;
mod send;
mod typing;
mod webhook;

pub use addressing::addressed_to;
use api::{TelegramApi, TgError, TgUser};

/// Telegram's message length limit, in UTF-16 code units (how Telegram counts it).
pub const MAX_MESSAGE_UNITS: usize = 4096;

/// `textChunkLimit` when the config sets none (OpenClaw's).
pub const TEXT_CHUNK_LIMIT: usize = 4000;
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
    conversation_of: crate::audit::ConversationKind::of_telegram_chat_id,
};

/// A `send` target: a numeric chat id, optionally prefixed `telegram:` or `tg:`.
fn parse_target(to: &str, thread_id: Option<i64>) -> Result<ChatTarget, String> {
    let target = to
        .trim()
        .trim_start_matches("telegram:")
        .trim_start_matches("tg:");
    let target = target.strip_prefix("group:").unwrap_or(target);
    // OpenClaw's forum-topic form: `<chat id>:topic:<thread id>`.
    let (chat, topic) = match target.split_once(":topic:") {
        Some((chat, topic)) => match topic.parse::<i64>() {
            Ok(t) if t > 0 => (chat, Some(t)),
            _ => {
                return Err(format!(
                    "invalid telegram target {to:?}: the topic after :topic: must be a positive number"
                ));
            }
        },
        None => (target, None),
    };
    let thread_id = match (thread_id, topic) {
        (Some(a), Some(b)) if a != b => {
            return Err(format!(
                "invalid telegram target {to:?}: its topic {b} and threadId {a} differ. Fix: give the topic once"
            ));
        }
        (a, b) => a.or(b),
    };
    match chat.parse::<i64>() {
        Ok(chat_id) => Ok(ChatTarget { chat_id, thread_id }),
        Err(_) => Err(format!(
            "invalid telegram target {to:?}: expected a numeric chat id (or <chat id>:topic:<topic id>)"
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
    /// `groups`: when set, the only groups answered in, each with its settings
    /// ([`groups`]); unset, `groupPolicy` and `groupAllowFrom` alone decide.
    pub groups: Option<groups::GroupRules>,
    /// `messages.groupChat.mentionPatterns`: texts that address the bot in groups besides
    /// @mentions and replies (`None`: not set, so the group's agent's own or its identity's
    /// decide; see [`crate::agents::AgentMentions`]).
    pub mention_patterns: Option<groups::MentionPatterns>,
    /// `mentionPatterns` of the account (else the channel's): where patterns apply.
    pub mention_scope: groups::MentionScope,
    /// Long-poll timeout in seconds.
    pub poll_timeout_s: u32,
    /// Webhook mode: public URL and secret (polling when `None`).
    pub webhook: Option<(String, String)>,
    /// Register the chat commands as the bot's command menu at start (`commands.native`);
    /// `false` clears a menu registered before.
    pub native_commands: bool,
    /// Add the default agent's skill commands to that menu (`commands.nativeSkills`).
    pub native_skills: bool,
    /// Show "typing…" while a message is being answered, refreshed this often
    /// (`agents.defaults.typingMode` / `typingIntervalSeconds`); `None`: never.
    pub typing: Option<Duration>,
    /// Progress drafts (`streaming`; see [`crate::channel::progress`]).
    pub streaming: crate::channel::progress::Streaming,
    /// Whether answers quote the message they answer (`replyToMode`).
    pub reply_to_mode: ReplyToMode,
    /// The ack reaction (`ackReaction`, `messages.ackReactionScope`); `None`: off.
    pub ack: Option<AckReaction>,
    /// The quiet window that batches a sender's rapid text messages into one turn
    /// (`messages.inbound`; zero: off, but for long pastes). See [`batch`].
    pub inbound_window: Duration,
    /// Group messages remembered for the next turn there (`historyLimit`; 0: none).
    pub history_limit: usize,
    /// Longest message sent, in UTF-16 code units (`textChunkLimit`, default 4000, at
    /// most Telegram's 4096); longer answers are split.
    pub text_chunk_limit: usize,
    /// Link previews under sent messages (`linkPreview`, default on).
    pub link_preview: bool,
    /// Put before each answer (`responsePrefix`: the account's, the channel's, then
    /// `messages.responsePrefix`; see [`crate::channel::prefix`]).
    pub response_prefix: Option<crate::channel::prefix::ResponsePrefix>,
    /// Which message actions `message.action` may carry out (`actions`).
    pub actions: actions::ActionGates,
    /// Where inline buttons are shown and pressed (`capabilities.inlineButtons`).
    pub inline_buttons: buttons::InlineButtons,
    /// Which bot and token this account runs with (checked against the persisted state).
    pub bot: BotIdentity,
}

/// Which bot a token belongs to, as the account's state records it: a state written for
/// another bot, or under a token since replaced, must not lend its `getUpdates` offset to
/// this one (the new bot's update ids may all lie below it: Telegram would drop every
/// update as confirmed, silently — OpenClaw's issue #11969).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot's user id: the token's numeric prefix (`123456:ABC…`).
    pub bot_id: Option<i64>,
    /// The first 16 hex digits of the token's SHA-256 (not the token; empty: unknown).
    pub fingerprint: String,
}

impl BotIdentity {
    /// The identity of `token`.
    pub fn of_token(token: &str) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(token.trim().as_bytes());
        let fingerprint = crate::identity::hex(&digest[..8]);
        Self {
            bot_id: token
                .trim()
                .split_once(':')
                .and_then(|(id, _)| id.parse::<i64>().ok())
                .filter(|id| *id > 0),
            fingerprint,
        }
    }
}

/// How a loaded state met the account's token ([`ChannelState::adopt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenChange {
    /// No bot recorded yet (a new state, or one written before bots were recorded): this
    /// one is recorded, the state kept.
    Recorded,
    /// The same bot with a new token (revoked and reissued): the offset is dropped.
    Rotated,
    /// Another bot: the offset, the unanswered messages (`dropped` of them), the drafts on
    /// the old bot's screen and the pending pairing codes it sent are dropped; approvals
    /// stay.
    OtherBot {
        /// The bot the state was written for.
        was: Option<i64>,
        /// Unanswered messages dropped.
        dropped: usize,
    },
}

/// The emoji the bot reacts with to a message it takes (OpenClaw's ack reaction), and
/// to which messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckReaction {
    /// The emoji (`ackReaction`; `None`: none is configured, so the chat's agent's
    /// `identity.emoji`, else 👀).
    pub emoji: Option<String>,
    /// Group messages (they reach the agent only when they address the bot).
    pub groups: bool,
    /// Only group messages that mention or reply to the bot (`group-mentions`; a group
    /// with `requireMention: false` takes others too).
    pub mentions_only: bool,
    /// Direct messages.
    pub direct: bool,
}

/// `replyToMode`: which messages of an answer reply to (quote) the message it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyToMode {
    /// None (OpenClaw's default).
    #[default]
    Off,
    /// The first (OpenClaw's `first`, and `batched`: this gateway answers each message).
    First,
    /// Every one.
    All,
}

impl ReplyToMode {
    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "first" | "batched" => Some(Self::First),
            "all" => Some(Self::All),
            _ => None,
        }
    }
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
    /// Progress drafts on screen (deleted at the next start if a crash left them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drafts: Vec<progress::DraftRef>,
    /// The bot this state belongs to ([`BotIdentity::bot_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<i64>,
    /// Its token's fingerprint ([`BotIdentity::fingerprint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_fingerprint: Option<String>,
}

impl ChannelState {
    /// Fits the state to the account's bot `me` before anything uses it: what changed, if
    /// anything (the state must then be saved). An unknown identity changes nothing.
    pub fn adopt(&mut self, me: &BotIdentity) -> Option<TokenChange> {
        if me.fingerprint.is_empty() {
            return None;
        }
        let other_bot = matches!((self.bot_id, me.bot_id), (Some(a), Some(b)) if a != b);
        let change = if other_bot {
            let dropped = self.pending.len();
            self.offset = None;
            self.pending.clear();
            self.drafts.clear();
            // Codes the old bot sent: approving one would admit someone who never wrote
            // to this bot (they ask this bot for a new code).
            self.pairing.clear();
            TokenChange::OtherBot {
                was: self.bot_id,
                dropped,
            }
        } else {
            match &self.token_fingerprint {
                Some(f) if *f == me.fingerprint => {
                    if self.bot_id == me.bot_id {
                        return None;
                    }
                    TokenChange::Recorded
                }
                Some(_) => {
                    self.offset = None;
                    TokenChange::Rotated
                }
                None => TokenChange::Recorded,
            }
        };
        self.bot_id = me.bot_id;
        self.token_fingerprint = Some(me.fingerprint.clone());
        Some(change)
    }

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
    /// Stopped by an operator (`channels.stop`) until `channels.start`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    manual_stop: bool,
}

/// Work done in order per chat: each piece waits for the chat's previous one, other chats
/// do not wait. The last piece of each chat with work in flight, by number.
#[derive(Default)]
struct ChatOrder {
    last: std::collections::HashMap<
        i64,
        (
            u64,
            futures_util::future::Shared<tokio::sync::oneshot::Receiver<()>>,
        ),
    >,
    seq: u64,
}

/// A piece of work's place in its chat's order ([`ChatOrder::enter`]).
struct Turn {
    /// Its number, for [`ChatOrder::leave`].
    seq: u64,
    /// Resolves once the chat's previous piece is done (or gone).
    previous: Option<futures_util::future::Shared<tokio::sync::oneshot::Receiver<()>>>,
    /// Dropped when this piece is done: the chat's next piece may go.
    done: tokio::sync::oneshot::Sender<()>,
}

impl ChatOrder {
    /// Whether work of `chat` is in flight.
    fn busy(&self, chat: i64) -> bool {
        self.last.contains_key(&chat)
    }

    /// Queues a piece of work for `chat`.
    fn enter(&mut self, chat: i64) -> Turn {
        use futures_util::FutureExt as _;
        let (done, done_rx) = tokio::sync::oneshot::channel();
        self.seq += 1;
        let previous = self
            .last
            .insert(chat, (self.seq, done_rx.shared()))
            .map(|(_, p)| p);
        Turn {
            seq: self.seq,
            previous,
            done,
        }
    }

    /// Piece `seq` of `chat` ended: forgotten unless a later one came.
    fn leave(&mut self, chat: i64, seq: u64) {
        if self.last.get(&chat).is_some_and(|(s, _)| *s == seq) {
            self.last.remove(&chat);
        }
    }
}

/// The channel actor.
pub struct TelegramChannel {
    /// Settings.
    cfg: TelegramAccountConfig,
    /// Groups already logged as missing from `groups`.
    unlisted: intake::Unlisted,
    /// Bot API client.
    api: Rc<dyn TelegramApi>,
    /// Public chats' `@username`s looked up ([`names`]).
    names: names::Names,
    /// Where accepted messages go.
    registry: Recipient<InboundReceived>,
    /// Where approval button presses go (none: presses are only answered).
    approvals: Option<Recipient<crate::registry::approvals::ResolveExecApproval>>,
    /// The registry, for the skill commands of the command menu (`None`: chat commands
    /// only).
    skills_menu: Option<Recipient<crate::registry::channels::MenuSkills>>,
    /// The command menu's registration in flight, and whether another was asked for.
    menu: MenuCalls,
    /// Its state document is still to be read (an account a config reload added): it is
    /// read at start, off this thread, before anything else happens; until then the
    /// account acts as one whose state could not be read (nothing is taken or written).
    read_first: bool,
    /// Durable state writer (this account's own: see [`durable`]).
    store: Addr<StoreActor>,
    /// The state; what is on disk may lag behind (see [`durable`]).
    state: ChannelState,
    /// Save bookkeeping (group commit).
    durable: durable::Durability,
    /// Deliveries in flight per chat: the next delivery to a chat waits for the last one.
    sends: ChatOrder,
    /// Messages being handed over per chat (their media fetched; [`fetch`]): the chat's
    /// next message waits for the last one.
    handovers: ChatOrder,
    /// Whether voice notes and audio files are fetched for transcription.
    audio_in: crate::hearing::AudioIn,
    /// Chats shown "typing…" ([`typing`]).
    typing: typing::Typing,
    /// Progress drafts of runs in progress ([`progress`]).
    drafts: progress::Drafts,
    /// Rapid messages waiting to be one turn ([`batch`]).
    batches: batch::Batches,
    /// Recent group messages that did not address the bot ([`history`]).
    history: history::GroupHistory,
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
    /// Bumped when the account's bot is swapped ([`BotSwap`]): answers and retries of the
    /// previous bot's calls (`getMe`, `getUpdates`, `setWebhook`) are dropped.
    generation: u64,
    /// Stopped by an operator (`channels.stop`): no `getMe`, no `getUpdates`, webhook
    /// deliveries answered 503 (Telegram keeps them), until `channels.start`.
    operator_stopped: bool,
}

/// The command menu's registrations: one at a time (see `register_commands`).
#[derive(Debug, Default)]
struct MenuCalls {
    /// One is in flight.
    busy: bool,
    /// Another was asked for meanwhile.
    again: bool,
}

/// A config reload's new bot for a running account (a new token, API root or webhook):
/// the account goes on in place with it — its state, its pending messages and the
/// registry's handle stay — as after a restart with the new settings (sent as a
/// [`super::ReconfigureChannel`] payload).
pub struct BotSwap {
    /// The account's whole new settings.
    pub cfg: TelegramAccountConfig,
    /// Makes its Bot API client (on the account's thread: clients are not `Send`).
    pub api: Box<dyn FnOnce() -> Rc<dyn TelegramApi> + Send>,
}

impl TelegramChannel {
    /// A channel for one account with its persisted state.
    pub fn new(
        cfg: TelegramAccountConfig,
        api: Rc<dyn TelegramApi>,
        registry: Recipient<InboundReceived>,
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
            unlisted: intake::Unlisted::default(),
            api,
            registry,
            approvals: None,
            skills_menu: None,
            menu: MenuCalls::default(),
            read_first: false,
            store,
            durable: durable::Durability::loaded(&state),
            sends: ChatOrder::default(),
            handovers: ChatOrder::default(),
            audio_in: crate::hearing::AudioIn::default(),
            typing: typing::Typing::default(),
            drafts: progress::Drafts::default(),
            batches: batch::Batches::default(),
            history: history::GroupHistory::default(),
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
            generation: 0,
            operator_stopped: false,
            names: names::Names::default(),
        }
    }

    /// A channel whose state document could not be read (`Err` carries why, with a fix):
    /// it reports the error in its status, polls nothing (Telegram keeps the updates) and
    /// retries reading the document every 5 s; the rest of the gateway runs normally.
    pub fn with_loaded_state(
        cfg: TelegramAccountConfig,
        api: Rc<dyn TelegramApi>,
        registry: Recipient<InboundReceived>,
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
        recipients.reconfigure = Some(addr.clone().recipient());
        recipients.stop = Some(addr.clone().recipient());
        recipients.actions = Some(addr.clone().recipient());
        recipients.resolve = Some(addr.clone().recipient());
        recipients.lifecycle = Some(addr.clone().recipient());
        recipients.flush = Some(addr.clone().recipient());
        ChannelHandle {
            kind: &KIND,
            account,
            recipients,
        }
    }

    /// Persists `state` (only [`durable`]'s group commit calls this: one save in flight).
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
        crate::stability::record(
            crate::stability::Record::of("channel.error")
                .channel("telegram")
                .reason(&e.category())
                .repeated(),
        );
        let text = match e {
            TgError::Unauthorized(_) => format!(
                "{e}. Fix: set channels.telegram.botToken to a token from @BotFather (an edit of the config file applies without a restart)"
            ),
            TgError::Conflict(_) => format!(
                "{e}. Fix: stop the other program polling with this bot token, or remove its webhook"
            ),
            _ => e.to_string(),
        };
        self.record_error_text(text);
    }

    fn record_error_text(&mut self, text: String) {
        crate::metrics::METRICS.channel_errors.inc();
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
        // Keep when the last error happened, drop its text (unless saves still fail).
        if self.durable.failing.is_none() {
            self.status.last_error = None;
        }
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
}

impl Actor for TelegramChannel {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        if std::mem::take(&mut self.read_first) {
            // Read through its own writer thread (not on this one), then begun.
            return self.reload(ctx);
        }
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
        self.adopt_bot(ctx);
        // Messages accepted before a restart but not answered: run them again.
        for m in self.state.pending.clone() {
            self.batch_or_hand_over(m, ctx);
        }
        self.delete_leftover_drafts(ctx);
        self.identify(ctx);
    }

    /// A state written for another bot or token lends it neither its offset nor (another
    /// bot's) its unanswered messages.
    fn adopt_bot(&mut self, ctx: &mut Context<Self>) {
        if let Some(change) = self.state.adopt(&self.cfg.bot) {
            let account = &self.cfg.account_id;
            match &change {
                // Saved with the state's next change (a fresh state is not written early).
                TokenChange::Recorded => {}
                TokenChange::Rotated => log::warn!(
                    "telegram[{account}]: the bot token changed (same bot); the stored update offset is dropped, so Telegram hands over every update not yet confirmed"
                ),
                TokenChange::OtherBot { was, dropped } => log::warn!(
                    "telegram[{account}]: the bot token is now another bot's ({} → {}); the stored update offset is dropped{}",
                    was.map_or_else(|| "?".to_owned(), |b| b.to_string()),
                    self.cfg
                        .bot
                        .bot_id
                        .map_or_else(|| "?".to_owned(), |b| b.to_string()),
                    if *dropped > 0 {
                        format!(
                            ", and {dropped} unanswered message(s) to the old bot are dropped (its chats are not this bot's)"
                        )
                    } else {
                        String::new()
                    }
                ),
            }
            if change != TokenChange::Recorded {
                // Nothing of the old offset is confirmed to the new bot or token, even
                // before the dropped offset is on disk.
                self.durable.saved_offset = self.state.offset;
                self.changed(ctx);
            }
        }
    }

    /// A config reload's new bot token, API root or webhook ([`BotSwap`]): the calls of
    /// the previous settings are abandoned (their answers dropped), the state adopts the new
    /// bot as at a start, and the account identifies itself and polls (or registers its
    /// webhook) anew. Its pending messages stay (another bot's are dropped, as at a start);
    /// replies still running are sent with the new bot.
    fn swap_bot(&mut self, swap: BotSwap, ctx: &mut Context<Self>) {
        if swap.cfg.account_id != self.cfg.account_id {
            return;
        }
        let other_bot = swap.cfg.bot.bot_id != self.cfg.bot.bot_id;
        if other_bot && self.cfg.webhook.is_some() {
            // Best effort: the old bot stops sending its updates here.
            let account = self.cfg.account_id.clone();
            let old = self.api.clone();
            actix::spawn(async move {
                if let Err(e) = old.delete_webhook().await {
                    log::warn!(
                        "telegram[{account}]: the previous bot's webhook was not removed: {e}"
                    );
                }
            });
        }
        self.generation += 1;
        self.names.clear();
        self.api = (swap.api)();
        self.cfg = swap.cfg;
        self.status.mode = if self.cfg.webhook.is_some() {
            "webhook"
        } else {
            "polling"
        };
        self.me = None;
        self.status.bot_username = None;
        self.status.bot_id = None;
        self.status.running = false;
        // The new bot's poll loop is the only one: none resumes from a pause or a save.
        self.durable.poll_waiting = None;
        self.status.backlog_full = false;
        self.backoff.reset();
        self.auth_backoff.reset();
        self.conflict_backoff.reset();
        log::warn!(
            "telegram[{}]: the bot token, API root or webhook changed; the account goes on with the new settings (no restart)",
            self.cfg.account_id
        );
        if self.load_error.is_some() {
            // Started once its state is readable again.
            return;
        }
        self.adopt_bot(ctx);
        // Stopped by an operator: the new bot is identified at `channels.start`.
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
                        act.durable = durable::Durability::loaded(&state);
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

impl Handler<GetChannelStatus> for TelegramChannel {
    type Result = MessageResult<GetChannelStatus>;

    fn handle(&mut self, _: GetChannelStatus, _: &mut Self::Context) -> Self::Result {
        let mut details = match serde_json::to_value(&self.status) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        details.remove("running");
        details.insert("enabled".into(), json!(true));
        details.insert("configured".into(), json!(true));
        details.insert("dmPolicy".into(), json!(self.cfg.dm_policy));
        details.insert("groupPolicy".into(), json!(self.cfg.group_policy));
        details.insert("pendingInbound".into(), json!(self.state.pending.len()));
        details.insert("pendingPairing".into(), json!(self.state.pairing.len()));
        details.insert("repliesHeld".into(), json!(self.durable.held()));
        MessageResult(ChannelStatus {
            account_id: Some(self.cfg.account_id.clone()),
            running: self.status.running,
            details,
        })
    }
}

/// The configured bot accounts, as the shell hands them to the engine.
pub struct TelegramAccounts {
    configured: Vec<(TelegramAccountConfig, Rc<dyn TelegramApi>)>,
    loaded: Vec<LoadedAccount>,
}

impl TelegramAccounts {
    /// The accounts with their API clients.
    pub fn new(accounts: Vec<(TelegramAccountConfig, Rc<dyn TelegramApi>)>) -> Self {
        Self {
            configured: accounts,
            loaded: Vec::new(),
        }
    }

    /// Accounts a config reload added, in `state_dir`: started without reading their state
    /// documents here (the caller is an actor); each reads its own at start
    /// (`TelegramChannel::read_first`).
    pub fn unread(
        accounts: Vec<(TelegramAccountConfig, Rc<dyn TelegramApi>)>,
        state_dir: &std::path::Path,
    ) -> Self {
        Self {
            configured: Vec::new(),
            loaded: accounts
                .into_iter()
                .map(|(cfg, api)| LoadedAccount {
                    cfg,
                    api,
                    state: Err("the channel state is being read".to_owned()),
                    state_dir: state_dir.to_path_buf(),
                    read_first: true,
                })
                .collect(),
        }
    }
}

impl super::ChannelRegistration for TelegramAccounts {
    fn load(&mut self, state_dir: &std::path::Path) -> Result<(), String> {
        let configured = std::mem::take(&mut self.configured);
        self.loaded.extend(load_accounts(state_dir, configured)?);
        Ok(())
    }

    fn start(
        self: Box<Self>,
        registry: &Addr<Registry>,
        store: &Addr<StoreActor>,
        audio_in: &crate::hearing::AudioIn,
    ) -> Vec<ChannelHandle> {
        start_accounts(self.loaded, registry, store, audio_in)
    }

    fn hot_settings(&self) -> Vec<(&'static str, String, super::ReconfigureChannel)> {
        self.configured
            .iter()
            .map(|(c, _)| c)
            .chain(self.loaded.iter().map(|l| &l.cfg))
            .map(|c| {
                (
                    KIND.id,
                    c.account_id.clone(),
                    super::ReconfigureChannel(Box::new(c.clone())),
                )
            })
            .collect()
    }
}

/// A config reload's new settings for this account: the admission policy (DM and group
/// policy, allowlists, poll timeout) applies from the next update on, without dropping the
/// poll or the persisted state. A new bot token, API root or webhook comes as a [`BotSwap`]
/// payload instead.
impl Handler<super::ReconfigureChannel> for TelegramChannel {
    type Result = ();

    fn handle(&mut self, msg: super::ReconfigureChannel, ctx: &mut Self::Context) {
        let new = match msg.0.downcast::<TelegramAccountConfig>() {
            Ok(new) => new,
            Err(other) => {
                if let Ok(swap) = other.downcast::<BotSwap>() {
                    self.swap_bot(*swap, ctx);
                }
                return;
            }
        };
        if new.account_id != self.cfg.account_id {
            return;
        }
        self.cfg.dm_policy = new.dm_policy;
        self.cfg.allow_from = new.allow_from;
        self.cfg.group_policy = new.group_policy;
        self.cfg.group_allow_from = new.group_allow_from;
        self.cfg.groups = new.groups;
        self.cfg.mention_patterns = new.mention_patterns;
        self.cfg.mention_scope = new.mention_scope;
        self.cfg.poll_timeout_s = new.poll_timeout_s;
        self.cfg.typing = new.typing;
        // From the next report on; a draft on screen is still deleted with its answer.
        self.cfg.streaming = new.streaming;
        self.cfg.reply_to_mode = new.reply_to_mode;
        self.cfg.ack = new.ack;
        self.cfg.inbound_window = new.inbound_window;
        self.cfg.history_limit = new.history_limit;
        self.cfg.text_chunk_limit = new.text_chunk_limit;
        self.cfg.link_preview = new.link_preview;
        self.cfg.actions = new.actions;
        self.cfg.inline_buttons = new.inline_buttons;
        self.cfg.native_skills = new.native_skills;
        if new.typing.is_none() {
            self.typing.stop_all(ctx);
        }
        // The skills (or their settings) may have changed with the config.
        if self.me.is_some() && self.cfg.native_commands {
            self.register_commands(0, ctx);
        }
        log::info!(
            "telegram[{}]: admission policy reloaded",
            self.cfg.account_id
        );
    }
}

/// `channels.stop` / `channels.start`. A stop abandons the calls in flight (an update a
/// poll in flight brings is not confirmed, so Telegram hands it over again) and its typing
/// indicators; replies of runs already going are still sent. A start identifies the bot
/// and polls (or registers the webhook) as at a start of the gateway.
impl Handler<super::SetChannelRunning> for TelegramChannel {
    type Result = MessageResult<super::SetChannelRunning>;

    fn handle(&mut self, msg: super::SetChannelRunning, ctx: &mut Self::Context) -> Self::Result {
        let was_stopped = self.operator_stopped;
        let account = self.cfg.account_id.clone();
        if msg.0 == was_stopped {
            // One poll loop at a time: every resumption (a save, the backlog) is dropped,
            // and the account starts over below or stays still.
            self.generation += 1;
            self.durable.poll_waiting = None;
            self.status.backlog_full = false;
            self.status.retry_at_ms = None;
            self.operator_stopped = !msg.0;
            self.status.manual_stop = !msg.0;
            if msg.0 {
                log::warn!("telegram[{account}]: started again by an operator (channels.start)");
                if self.load_error.is_none() {
                    self.identify(ctx);
                }
            } else {
                self.typing.stop_all(ctx);
                self.status.running = false;
                log::warn!(
                    "telegram[{account}]: stopped by an operator (channels.stop): new messages wait at Telegram until channels.start (or a restart of the gateway)"
                );
            }
        }
        MessageResult(super::RunState {
            was_stopped,
            running: self.status.running,
        })
    }
}

/// A config reload removed the account: its polls are abandoned (their answers dropped), its
/// typing indicators stop, the replies being delivered settle and its state is saved as it
/// is then (at most [`STOP_SAVE_LIMIT`]), and the actor stops; its state document stays, so
/// an account added back goes on from there without answering anything twice.
impl Handler<super::StopChannel> for TelegramChannel {
    type Result = ();

    fn handle(&mut self, _: super::StopChannel, ctx: &mut Self::Context) {
        self.generation += 1;
        // No poll starts again while the last save is waited for.
        self.operator_stopped = true;
        self.typing.stop_all(ctx);
        log::warn!(
            "telegram[{}]: removed from the config; the account stops (its state stays in {})",
            self.cfg.account_id,
            ChannelState::document(&self.cfg.account_id)
        );
        ctx.spawn(self.save_settled().map(|(), _, ctx| ctx.stop()));
        ctx.run_later(STOP_SAVE_LIMIT, |_, ctx| ctx.stop());
    }
}

/// How long a removed account waits for its deliveries and its last save.
const STOP_SAVE_LIMIT: Duration = Duration::from_secs(2);

/// A configured account with its state document as read at engine start.
pub struct LoadedAccount {
    cfg: TelegramAccountConfig,
    api: Rc<dyn TelegramApi>,
    /// `Err`: the document could not be read; the channel starts waiting (see
    /// [`TelegramChannel::with_loaded_state`]).
    state: Result<ChannelState, String>,
    /// The state directory (the account's own writer thread writes there).
    state_dir: std::path::PathBuf,
    /// Not read yet: the channel reads it at start ([`TelegramAccounts::unread`]).
    read_first: bool,
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
        out.push(LoadedAccount {
            cfg,
            api,
            state,
            state_dir: state_dir.to_path_buf(),
            read_first: false,
        });
    }
    Ok(out)
}

/// Starts one actor per account, each with its own state writer thread (its fsyncs do not
/// queue in front of the shared store's transcript work); returns their handles for the
/// registry.
pub fn start_accounts(
    accounts: Vec<LoadedAccount>,
    registry: &Addr<Registry>,
    _shared_store: &Addr<StoreActor>,
    audio_in: &crate::hearing::AudioIn,
) -> Vec<ChannelHandle> {
    accounts
        .into_iter()
        .map(|a| {
            let account = a.cfg.account_id.clone();
            let mut channel = TelegramChannel::with_loaded_state(
                a.cfg,
                a.api,
                registry.clone().recipient(),
                StoreActor::start(a.state_dir),
                a.state,
            );
            channel.audio_in = audio_in.clone();
            channel.approvals = Some(registry.clone().recipient());
            channel.skills_menu = Some(registry.clone().recipient());
            channel.read_first = a.read_first;
            let addr = channel.start();
            TelegramChannel::handle(&addr, account)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_lends_its_offset_only_to_the_bot_and_token_it_was_written_for() {
        let a = BotIdentity::of_token("111111:AAAA-secret");
        assert_eq!(a.bot_id, Some(111111));
        assert_eq!(a.fingerprint.len(), 16);
        assert!(!a.fingerprint.contains("AAAA"));
        assert_eq!(a, BotIdentity::of_token(" 111111:AAAA-secret\n"));
        let rotated = BotIdentity::of_token("111111:BBBB-secret");
        assert_eq!(rotated.bot_id, a.bot_id);
        assert_ne!(rotated.fingerprint, a.fingerprint);
        assert_eq!(BotIdentity::of_token("no-colon").bot_id, None);
        assert_eq!(BotIdentity::of_token("-5:x").bot_id, None);

        let state = || ChannelState {
            offset: Some(900_001),
            pending: vec![InboundMessage::default(), InboundMessage::default()],
            approved: vec![7],
            pairing: vec![PairingCode {
                code: "ABCD1234".into(),
                user_id: 9,
                name: "old bot's visitor".into(),
                username: None,
                created_at_ms: 1,
                last_sent_at_ms: 1,
            }],
            ..Default::default()
        };
        // Written before bots were recorded: kept, the bot recorded.
        let mut s = state();
        assert_eq!(s.adopt(&a), Some(TokenChange::Recorded));
        assert_eq!(
            (s.offset, s.pending.len(), s.bot_id),
            (Some(900_001), 2, Some(111111))
        );
        // The same token again: nothing to do.
        assert_eq!(s.adopt(&a), None);
        // The same bot's new token: the offset goes, the messages stay.
        assert_eq!(s.adopt(&rotated), Some(TokenChange::Rotated));
        assert_eq!((s.offset, s.pending.len()), (None, 2));
        assert_eq!(
            s.token_fingerprint.as_deref(),
            Some(rotated.fingerprint.as_str())
        );
        // Another bot: the offset and the old bot's unanswered messages go; approvals stay.
        let mut s = state();
        s.adopt(&a);
        let b = BotIdentity::of_token("222222:CCCC");
        assert_eq!(
            s.adopt(&b),
            Some(TokenChange::OtherBot {
                was: Some(111111),
                dropped: 2
            })
        );
        assert_eq!(
            (
                s.offset,
                s.pending.len(),
                s.approved.clone(),
                s.pairing.len()
            ),
            (None, 0, vec![7], 0)
        );
        assert_eq!(s.bot_id, Some(222222));
        // An unknown identity (tests, no token) changes nothing.
        let mut s = state();
        assert_eq!(s.adopt(&BotIdentity::default()), None);
        assert_eq!(s.offset, Some(900_001));
        // The fingerprint, never the token, is what the file holds.
        let mut s = state();
        s.adopt(&a);
        let saved = serde_json::to_string(&s).expect("JSON");
        assert!(
            saved.contains("\"botId\":111111") && !saved.contains("AAAA"),
            "{saved}"
        );
    }

    #[test]
    fn send_targets_are_numeric_chat_ids_with_optional_prefix() {
        let t = |chat_id, thread_id| Ok(ChatTarget { chat_id, thread_id });
        assert_eq!(parse_target("42", None), t(42, None));
        assert_eq!(parse_target(" telegram:-100 ", Some(7)), t(-100, Some(7)));
        assert_eq!(parse_target("tg:5", None), t(5, None));
        assert_eq!(
            parse_target("@someone", None),
            Err("invalid telegram target \"@someone\": expected a numeric chat id (or <chat id>:topic:<topic id>)".to_owned())
        );
        // OpenClaw's forum-topic targets.
        assert_eq!(
            parse_target("-1001234567890:topic:42", None),
            t(-1001234567890, Some(42))
        );
        assert_eq!(
            parse_target("telegram:group:-100123:topic:7", Some(7)),
            t(-100123, Some(7))
        );
        assert!(
            parse_target("-100123:topic:7", Some(8)).is_err(),
            "two topics"
        );
        assert!(parse_target("-100123:topic:x", None).is_err());
        assert!(parse_target("-100123:topic:0", None).is_err());
        assert_eq!(KIND.id, "telegram");
    }
}
