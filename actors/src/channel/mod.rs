//! Chat channels: what every channel shares with the registry — the inbound message shape,
//! the session-key rules that map a chat to an agent session, the messages a channel actor
//! handles ([`DeliverReply`], [`GetChannelStatus`], [`ListChannelPairing`],
//! [`ApproveChannelPairing`], [`WebhookDelivery`]) and the [`ChannelHandle`] the registry
//! keeps per account. The registry knows channels only through these: adding a channel is
//! its actor (handling these messages) plus a [`ChannelKind`] and a registration.

#[cfg(test)]
pub mod echo;
pub mod prefix;
pub mod presentation;
pub mod progress;
pub mod telegram;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Pairing codes live this long.
pub const PAIRING_TTL_MS: u64 = 60 * 60 * 1000;
/// At most this many pending pairing codes per account.
pub const MAX_PENDING_PAIRING: usize = 3;
/// The answer to a message the agent cannot take now (its chat already has the maximum of
/// queued messages). The message is not processed: the user has to send it again.
pub const BUSY_TEXT: &str = "⏳ I'm still working through earlier messages in this chat, so I could not take this one. Please send it again in a minute.";

/// What the registry knows about a kind of channel, without knowing the channel.
#[derive(Debug)]
pub struct ChannelKind {
    /// Channel id on the wire (`send.channel`, session keys, `channels.status` keys).
    pub id: &'static str,
    /// Display label (`channelLabels`).
    pub label: &'static str,
    /// How to configure an account, for the "channel not configured" error.
    pub setup_hint: &'static str,
    /// Parses a `send` target (`to`, `threadId`) into a chat on this channel; `Err` is the
    /// message of an invalid-params error.
    pub parse_target: fn(&str, Option<i64>) -> Result<ChatTarget, String>,
    /// What kind of conversation a chat is, from its id alone (an outbound delivery's, for
    /// the audit ledger's `logging.audit.messages`).
    pub conversation_of: fn(i64) -> crate::audit::ConversationKind,
}

/// Channel kinds this build supports (known even when no account is configured).
pub const KINDS: &[&ChannelKind] = &[&telegram::KIND];

/// The channel `send` uses when the caller names none.
pub const DEFAULT_KIND: &ChannelKind = &telegram::KIND;

/// A chat on a channel, as the channel addresses it. Opaque to the registry: it comes from
/// an [`InboundMessage`] or from the channel kind's `parse_target`, and goes back to the
/// channel in [`DeliverReply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatTarget {
    /// Chat id.
    pub chat_id: i64,
    /// Topic / thread.
    pub thread_id: Option<i64>,
}

/// A message action (`message.action`: `openclaw message send|poll|react|edit|delete|pin|
/// unpin`).
#[derive(Debug, Clone, PartialEq)]
pub enum MessageOp {
    /// Sending a message (`message.action` `send`): as a [`ChannelAction`] it only asks the
    /// account's gates and answers `{ok: true}`; the message itself goes as a
    /// [`DeliverReply`], with `send`'s idempotency and attachments.
    Send,
    /// A location pin (`send` with `location`: Telegram's `sendLocation`), or a venue card
    /// when it has a name and an address (`sendVenue`).
    Location {
        /// Degrees north (−90 to 90).
        latitude: f64,
        /// Degrees east (−180 to 180).
        longitude: f64,
        /// The radius of uncertainty in meters (0 to 1500).
        accuracy: Option<f64>,
        /// A venue's name and address.
        venue: Option<(String, String)>,
        /// Sent without a notification.
        silent: bool,
    },
    /// A poll (`sendPoll`).
    Poll {
        /// The question (1–300 characters).
        question: String,
        /// The answers (2–12, each 1–100 characters).
        options: Vec<String>,
        /// Several answers may be chosen.
        multi: bool,
        /// Voters are not shown (Telegram's default).
        anonymous: bool,
        /// Open this long (5–604 800 s; `None`: until closed).
        duration_s: Option<u32>,
        /// Sent without a notification.
        silent: bool,
    },
    /// The bot's reaction to a message (`None`: remove the bot's reactions).
    React {
        /// The message.
        message_id: i64,
        /// The emoji.
        emoji: Option<String>,
    },
    /// New text (and buttons) for one of the bot's messages.
    Edit {
        /// The message.
        message_id: i64,
        /// Its new text (empty: only its buttons change).
        text: String,
        /// Its new buttons (`presentation`): `Some` replaces them (an empty list takes them
        /// away); `None` leaves them as they are.
        buttons: Option<Vec<Vec<Button>>>,
    },
    /// Deletes a message.
    Delete {
        /// The message.
        message_id: i64,
    },
    /// Pins a message in its chat (`silent`: without notifying the members).
    Pin {
        /// The message.
        message_id: i64,
        /// No notification.
        silent: bool,
    },
    /// Unpins a message.
    Unpin {
        /// The message.
        message_id: i64,
    },
}

impl MessageOp {
    /// The `message.action` name (`send`, `poll`, `react`, `edit`, `delete`, `pin`,
    /// `unpin`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Send | Self::Location { .. } => "send",
            Self::Poll { .. } => "poll",
            Self::React { .. } => "react",
            Self::Edit { .. } => "edit",
            Self::Delete { .. } => "delete",
            Self::Pin { .. } => "pin",
            Self::Unpin { .. } => "unpin",
        }
    }

    /// The `poll` / `react` / `edit` / `delete` / `pin` / `unpin` action of `message.action`
    /// and the agent's `message` tool (OpenClaw's CLI
    /// param names: `pollQuestion`, `pollOption`, `messageId`, `emoji`, …); `Err` says which
    /// param is wrong.
    pub fn from_params(
        action: &str,
        params: &serde_json::Map<String, Value>,
    ) -> Result<Self, String> {
        let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
        let flag = |key: &str| match params.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("params.{key} must be a boolean")),
        };
        let number = |key: &str| -> Result<Option<i64>, String> {
            match params.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_str()?.trim().parse().ok())
                    .map(Some)
                    .ok_or_else(|| format!("params.{key} must be a whole number")),
            }
        };
        let message_id = || -> Result<i64, String> {
            match number("messageId")? {
                Some(id) if id > 0 => Ok(id),
                _ => Err(
                    "params.messageId (a positive message id, --message-id) is required".to_owned(),
                ),
            }
        };
        Ok(match action {
            "send" if params.get("location").is_some_and(|l| !l.is_null()) => {
                if text("message")
                    .or_else(|| text("text"))
                    .is_some_and(|m| !m.trim().is_empty())
                    || ["media", "mediaUrl", "mediaUrls", "buffer", "presentation"]
                        .iter()
                        .any(|k| params.get(*k).is_some_and(|v| !v.is_null()))
                {
                    return Err("a location is sent alone: without message text, media or buttons. Fix: send the text in another message".to_owned());
                }
                let loc = params
                    .get("location")
                    .and_then(Value::as_object)
                    .ok_or("params.location must be an object {latitude, longitude, accuracy?, name?, address?}")?;
                let coord = |key: &str, max: f64| -> Result<f64, String> {
                    loc.get(key)
                        .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
                        .filter(|x| x.is_finite() && x.abs() <= max)
                        .ok_or_else(|| {
                            format!("params.location.{key} must be a number from -{max} to {max}")
                        })
                };
                let latitude = coord("latitude", 90.0)?;
                let longitude = coord("longitude", 180.0)?;
                let accuracy = match loc
                    .get("accuracy")
                    .or_else(|| loc.get("horizontalAccuracy"))
                {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        v.as_f64()
                            .filter(|a| a.is_finite() && (0.0..=1500.0).contains(a))
                            .ok_or("params.location.accuracy must be meters from 0 to 1500")?,
                    ),
                };
                let field = |key: &str| -> Result<Option<String>, String> {
                    match loc.get(key) {
                        None | Some(Value::Null) => Ok(None),
                        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                        Some(Value::String(s)) if s.chars().count() <= 256 => {
                            Ok(Some(s.trim().to_owned()))
                        }
                        Some(_) => Err(format!(
                            "params.location.{key} must be a string of at most 256 characters"
                        )),
                    }
                };
                let venue = match (field("name")?, field("address")?) {
                    (Some(n), Some(a)) => Some((n, a)),
                    (None, None) => None,
                    _ => {
                        return Err(
                            "a venue needs both params.location.name and .address (or neither, for a pin)"
                                .to_owned(),
                        );
                    }
                };
                Self::Location {
                    latitude,
                    longitude,
                    accuracy,
                    venue,
                    silent: flag("silent")?,
                }
            }
            "poll" => {
                let question = text("pollQuestion")
                    .or_else(|| text("question"))
                    .ok_or_else(|| {
                        "params.pollQuestion (--poll-question) is required".to_owned()
                    })?;
                let options = match params.get("pollOption").or_else(|| params.get("answers")) {
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| "params.pollOption must be strings".to_owned())
                        })
                        .collect::<Result<Vec<_>, String>>()?,
                    Some(Value::String(s)) => vec![s.clone()],
                    _ => Vec::new(),
                };
                if text("message").is_some_and(|m| !m.trim().is_empty()) {
                    return Err(
                    "a Telegram poll has no message body. Fix: send the text with `openclaw message send`, then the poll".to_owned(),
                );
                }
                let (anonymous, public) = (flag("pollAnonymous")?, flag("pollPublic")?);
                if anonymous && public {
                    return Err(
                        "--poll-anonymous and --poll-public are mutually exclusive".to_owned()
                    );
                }
                let seconds = number("pollDurationSeconds")?;
                let hours = number("pollDurationHours")?;
                let duration = match (seconds, hours) {
                    (Some(s), _) => Some(s),
                    (None, Some(h)) => Some(h.saturating_mul(3600)),
                    (None, None) => None,
                };
                let duration_s = match duration {
                    None => None,
                    Some(d) => Some(u32::try_from(d).map_err(|_| {
                        "a Telegram poll stays open 5-604800 seconds (seven days)".to_owned()
                    })?),
                };
                Self::Poll {
                    question,
                    options,
                    multi: flag("pollMulti")?,
                    anonymous: !public,
                    duration_s,
                    silent: flag("silent")?,
                }
            }
            "react" => {
                let emoji = text("emoji")
                    .map(|e| e.trim().to_owned())
                    .filter(|e| !e.is_empty());
                let remove = flag("remove")?;
                if !remove && emoji.is_none() {
                    return Err(
                    "params.emoji (--emoji) is required; pass --remove to take the bot's reaction away".to_owned(),
                );
                }
                if emoji.as_ref().is_some_and(|e| e.chars().count() > 16) {
                    return Err("params.emoji must be one emoji".to_owned());
                }
                Self::React {
                    message_id: message_id()?,
                    emoji: if remove { None } else { emoji },
                }
            }
            "edit" => {
                let given = text("message")
                    .or_else(|| text("text"))
                    .filter(|t| !t.trim().is_empty());
                // Buttons (OpenClaw's `presentation` on edit): with no new text, only the
                // buttons change.
                let rendered =
                    presentation::of_params(given.as_deref().unwrap_or_default(), params)?;
                let (text, buttons) = match (given, rendered) {
                    (None, Some(r)) if r.controls_only => (String::new(), Some(r.buttons)),
                    (_, Some(r)) => (r.text, Some(r.buttons)),
                    (Some(t), None) => (t, None),
                    (None, None) => {
                        return Err(
                            "params.message (--message, the new text) or presentation is required"
                                .to_owned(),
                        );
                    }
                };
                Self::Edit {
                    message_id: message_id()?,
                    text,
                    buttons,
                }
            }
            "delete" => Self::Delete {
                message_id: message_id()?,
            },
            "pin" => Self::Pin {
                message_id: message_id()?,
                silent: flag("silent")?,
            },
            "unpin" => Self::Unpin {
                message_id: message_id()?,
            },
            other => {
                return Err(format!(
                    "unknown action {:?} (send, poll, react, edit, delete, pin or unpin)",
                    other.chars().take(64).collect::<String>()
                ));
            }
        })
    }
}

/// Sent by the registry for `message.action`: carry out `op` in `target`'s chat (for
/// [`MessageOp::Send`], only check that it is allowed). Answers
/// the action's result object (OpenClaw's: `{ok, messageId, chatId, pollId}`, `{ok, added}`,
/// `{ok, deleted}`, …).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<serde_json::Value, ChannelError>")]
pub struct ChannelAction {
    /// Where.
    pub target: ChatTarget,
    /// What.
    pub op: MessageOp,
}

/// Sent by the registry (agent run finished, message refused or aborted) or for the `send`
/// RPC: deliver `text` to a chat. When `inbound_id` is set, that pending message is done once
/// this succeeds. A blank `text` sends nothing and only completes `inbound_id` (an aborted
/// run). Replies with the ids of the messages sent.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<i64>, ChannelError>")]
pub struct DeliverReply {
    /// The inbound message this answers, if any.
    pub inbound_id: Option<String>,
    /// Where to.
    pub target: ChatTarget,
    /// Message to reply to.
    pub reply_to: Option<i64>,
    /// `reply_to` was asked for by the caller (`send`'s `replyTo`): it holds whatever the
    /// channel's `replyToMode` says. Otherwise it is the message answered, and the mode
    /// decides (OpenClaw's default `off`: no reply threading).
    pub explicit_reply: bool,
    /// Sent without a notification (`send`'s `silent`, Telegram's `disable_notification`).
    pub silent: bool,
    /// Text (split as the channel requires).
    pub text: String,
    /// Attachments (files of the state directory, [`crate::media`]): sent with the text
    /// (as the caption of the first one when it fits) by channels that can; at most
    /// [`crate::media::MAX_ATTACHMENTS`].
    pub media: Vec<crate::media::MediaRef>,
    /// Buttons under the message, in rows (channels that have them: Telegram's inline
    /// keyboard, on the last part of a split text); a press comes back as the button's
    /// `data`. Empty: none.
    pub buttons: Vec<Vec<Button>>,
    /// For a run's reply: resolves once the run's transcript lines are synced (or the run
    /// gave up on them), or fails if the run went away first. `inbound_id` is done only once
    /// it resolved, so a power cut never leaves a message that is neither pending nor in a
    /// transcript. The reply itself does not wait for it.
    pub recorded: Option<Recorded>,
    /// An answer (a run's, an operator's `send`): the channel puts its response prefix
    /// before it ([`prefix`]), filled with these. `None`: a notice of the gateway's own (a
    /// command's answer, an approval prompt), never prefixed.
    pub prefix: Option<prefix::PrefixVars>,
}

/// A button under a message ([`DeliverReply::buttons`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// Its label.
    pub text: String,
    /// What pressing it does.
    pub action: ButtonAction,
}

/// What a [`Button`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonAction {
    /// A press comes back with this value (Telegram: at most 64 bytes of `callback_data`);
    /// the gateway's own approval buttons, or a caller's value, which reaches the agent as
    /// `callback_data: <value>` from the person who pressed.
    Callback(String),
    /// A press runs this chat command (`/status`) as if the presser had typed it.
    Command(String),
    /// Opens a link.
    Url(String),
    /// Opens a Telegram Mini App (private chats only; elsewhere shown as its link).
    WebApp(String),
}

impl Button {
    /// A button whose press comes back as `data`.
    pub fn callback(text: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            action: ButtonAction::Callback(data.into()),
        }
    }
}

/// See [`DeliverReply::recorded`].
pub type Recorded = futures_util::future::Shared<tokio::sync::oneshot::Receiver<()>>;

/// Status of one account for `channels.status` / `health`.
#[derive(Message)]
#[rtype(result = "ChannelStatus")]
pub struct GetChannelStatus;

/// One account's status: what the registry reads (`running`) and the channel's own fields
/// (`details`, flattened into the same wire object: for Telegram the bot, poll mode, last
/// error, policies and queue lengths).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    /// Account id (absent only for an account whose actor is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Whether it is taking messages.
    pub running: bool,
    /// The channel's own status fields.
    #[serde(flatten)]
    pub details: serde_json::Map<String, Value>,
}

impl ChannelStatus {
    /// The status of an account whose actor does not answer.
    pub fn stopped() -> Self {
        let mut details = serde_json::Map::new();
        details.insert("lastError".into(), "channel actor stopped".into());
        Self {
            account_id: None,
            running: false,
            details,
        }
    }
}

/// Pending DM pairing requests of one account (`channels.pairing.list`).
#[derive(Message)]
#[rtype(result = "Vec<ChannelPairingRequest>")]
pub struct ListChannelPairing;

/// A pending DM pairing request, as `channels.pairing.list` shows it. Fields in the order
/// of the wire object's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelPairingRequest {
    /// Account.
    pub account_id: String,
    /// Channel kind id.
    pub channel: &'static str,
    /// The code.
    pub code: String,
    /// Created.
    pub created_at_ms: u64,
    /// Expires.
    pub expires_at_ms: u64,
    /// The sender's id on the channel.
    pub id: String,
    /// The sender's name.
    pub name: String,
    /// Same as `code`.
    pub request_id: String,
    /// The sender's username (`null` when none).
    pub username: Option<String>,
}

/// Approves a pairing code (`channels.pairing.approve`, `openclaw pairing approve`).
#[derive(Message)]
#[rtype(result = "Result<PairingApproval, ChannelError>")]
pub struct ApproveChannelPairing {
    /// The code (case-insensitive).
    pub code: String,
}

/// What an approved pairing code answers. Fields in the order of the wire object's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingApproval {
    /// Account.
    pub account_id: String,
    /// Always `true`.
    pub approved: bool,
    /// Channel kind id.
    pub channel: &'static str,
    /// The approved sender's id on the channel.
    pub id: String,
    /// The code (normalized).
    pub request_id: String,
}

/// Why a channel could not deliver a message or approve a pairing code. The registry turns
/// it into the wire error of the RPC that asked (`send`, `channels.pairing.approve`).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A blank text and no pending message to complete.
    #[error("message text is empty: nothing to send")]
    EmptyText,
    /// No pending pairing request has this code (wrong, used or expired).
    #[error("pending DM access request no longer exists")]
    UnknownPairingCode,
    /// The channel does not do DM pairing.
    #[error("the {0} channel has no pairing")]
    NoPairing(&'static str),
    /// The channel's state could not be read at start, so it cannot change it.
    #[error("the {channel} channel state is not loaded: {reason}")]
    StateNotLoaded {
        /// Channel kind id.
        channel: &'static str,
        /// Why (with the fix).
        reason: String,
    },
    /// The change could not be persisted (and was undone).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The action does not fit the channel's limits (a poll of one option, a text too long).
    #[error("{0}")]
    Invalid(String),
    /// The account's config turns this action off (`channels.telegram.actions.<key>`).
    #[error(
        "Telegram {0} is disabled. Fix: set channels.telegram.actions.{0} to true (or remove it)"
    )]
    ActionDisabled(&'static str),
    /// The channel's service refused or failed the delivery.
    #[error("{0}")]
    Delivery(String),
}

/// Why a webhook delivery was refused; the HTTP edge maps it to a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No such channel account (404).
    #[error("no such channel account")]
    NotFound,
    /// The body is not an update of this channel (400).
    #[error("not an update: {0}")]
    BadRequest(String),
    /// Wrong webhook secret (401).
    #[error("wrong webhook secret")]
    Unauthorized,
    /// The account does not take webhook deliveries (409).
    #[error("{0}")]
    Conflict(&'static str),
    /// Not taken now; the sender should deliver it again (503).
    #[error("unavailable")]
    Unavailable,
}

/// An update pushed to a channel's webhook endpoint.
#[derive(Message)]
#[rtype(result = "Result<(), WebhookError>")]
pub struct WebhookDelivery {
    /// The secret the sender presented, if any.
    pub secret: Option<String>,
    /// The request body.
    pub body: bytes::Bytes,
}

/// A channel's configured accounts, as the shell hands them to the engine
/// ([`crate::EngineDeps::channels`]): their persisted state is read at engine start (an
/// unreadable state fails the start with a fix), then their actors start once the registry
/// runs.
pub trait ChannelRegistration {
    /// Reads the accounts' persisted state from the state directory.
    fn load(&mut self, state_dir: &std::path::Path) -> Result<(), String>;
    /// Starts one actor per account; returns the handles the registry keeps. `audio_in`
    /// says whether voice notes are fetched for transcription (the registry flips it on a
    /// config reload).
    fn start(
        self: Box<Self>,
        registry: &Addr<crate::registry::Registry>,
        store: &Addr<crate::store::StoreActor>,
        audio_in: &crate::hearing::AudioIn,
    ) -> Vec<ChannelHandle>;

    /// Each account's settings that apply without a restart, for a config reload
    /// (`(kind id, account, settings)`, sent to the running account as [`ReconfigureChannel`]).
    fn hot_settings(&self) -> Vec<(&'static str, String, ReconfigureChannel)> {
        Vec::new()
    }
}

/// Sent by the registry on a config reload (`gateway.reload`): an account's new settings,
/// opaque to the registry; the channel takes what it can apply live (for Telegram: the
/// admission policy) and ignores a payload of another type.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReconfigureChannel(pub Box<dyn std::any::Any + Send>);

/// Sent by the registry to an account a config reload removed: it stops taking updates and
/// stops (its state stays on disk, for the account's return).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopChannel;

/// The endpoints of a channel account actor.
#[derive(Clone)]
pub struct ChannelRecipients {
    /// Reply / outbound delivery.
    pub deliver: Recipient<DeliverReply>,
    /// Status.
    pub status: Recipient<GetChannelStatus>,
    /// Pending pairing requests.
    pub pairing_list: Recipient<ListChannelPairing>,
    /// Pairing approval.
    pub pairing_approve: Recipient<ApproveChannelPairing>,
    /// Webhook deliveries, for channels that take them.
    pub webhook: Option<Recipient<WebhookDelivery>>,
    /// New admission policy on a config reload, for channels that take one.
    pub reconfigure: Option<Recipient<ReconfigureChannel>>,
    /// Removal by a config reload, for channels that can stop.
    pub stop: Option<Recipient<StopChannel>>,
    /// Message actions besides sending, for channels that have them.
    pub actions: Option<Recipient<ChannelAction>>,
    /// Chat names looked up to targets ([`ResolveTarget`]), for channels that have them.
    pub resolve: Option<Recipient<ResolveTarget>>,
    /// Stopped and started by an operator (`channels.stop` / `channels.start`), for
    /// channels that can.
    pub lifecycle: Option<Recipient<SetChannelRunning>>,
    /// The gateway is stopping: the account's state is written, for channels that keep one.
    pub flush: Option<Recipient<FlushChannel>>,
}

/// Sent by the registry for a `send` or `message.action` target its kind's parser does not
/// take: the channel's own name for a chat (Telegram's public `@username`), looked up to a
/// target the parser takes. `Ok(None)`: not a name this channel looks up.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Option<String>, ChannelError>")]
pub struct ResolveTarget {
    /// The target as given.
    pub to: String,
}

/// Sent when the gateway stops (SIGTERM, a restart): resolves once the replies being
/// delivered have settled (each one's message left the pending list, or stays pending on a
/// failure) and the account's state as it is then is on disk. A reply that went out is
/// then not sent again by the next start. The sender bounds the wait.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushChannel;

/// `channels.stop` (`false`) / `channels.start` (`true`): an operator stops an account —
/// it takes no updates, its state and credentials stay — or starts it again. In memory: a
/// restart of the gateway starts every configured account.
#[derive(Message)]
#[rtype(result = "RunState")]
pub struct SetChannelRunning(pub bool);

/// What [`SetChannelRunning`] found and left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunState {
    /// It was stopped by an operator before this message.
    pub was_stopped: bool,
    /// It is taking messages now (a start hands over to the account, which reports
    /// running once it has reached the service).
    pub running: bool,
}

impl ChannelRecipients {
    /// The recipients of a channel actor handling every channel message but webhooks.
    pub fn of<A>(addr: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>>
            + Handler<DeliverReply>
            + Handler<GetChannelStatus>
            + Handler<ListChannelPairing>
            + Handler<ApproveChannelPairing>,
    {
        Self {
            deliver: addr.clone().recipient(),
            status: addr.clone().recipient(),
            pairing_list: addr.clone().recipient(),
            pairing_approve: addr.clone().recipient(),
            webhook: None,
            reconfigure: None,
            stop: None,
            actions: None,
            resolve: None,
            lifecycle: None,
            flush: None,
        }
    }
}

/// One channel account as the registry holds it.
#[derive(Clone)]
pub struct ChannelHandle {
    /// The kind of channel.
    pub kind: &'static ChannelKind,
    /// Account id (`default`).
    pub account: String,
    /// Its actor's endpoints.
    pub recipients: ChannelRecipients,
}

/// Media an inbound message carries: a photo or an image file the channel fetches for the
/// agent, or something it only tells the agent about (a voice message, a video, a sticker).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct InboundMedia {
    /// `photo`, `document`, `voice`, `audio`, `video`, `video_note` or `sticker`.
    pub kind: String,
    /// The channel's id for fetching it (photos and image files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Its size, as the channel said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    /// Its name (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Its type, as the sender's app said (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
}

/// A message that arrived on a channel and was durably accepted by it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessage {
    /// Stable id (`telegram:<account>:<update_id>`): runs are deduplicated on it.
    pub id: String,
    /// Channel id (`telegram`).
    pub channel: String,
    /// Channel account id (`default`).
    pub account_id: String,
    /// Chat to answer in.
    pub chat_id: i64,
    /// `private`, `group`, `supergroup`.
    pub chat_type: String,
    /// Forum topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<i64>,
    /// Sender's user id.
    pub sender_id: i64,
    /// Sender's display name.
    #[serde(default)]
    pub sender_name: String,
    /// Sender's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_username: Option<String>,
    /// The message to reply to.
    pub message_id: i64,
    /// The text (mention of the bot stripped in groups; a media message's caption).
    pub text: String,
    /// Arrival time (ms).
    pub ts: u64,
    /// The media it carries (kept with the pending message: fetched again after a restart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<InboundMedia>,
    /// The Telegram album it is a part of (`media_group_id`; kept, so a restart groups
    /// the album again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_group: Option<String>,
    /// A direct chat admitted only because DMs are open to everyone (`dmPolicy: "open"`
    /// with `"*"`, the sender not listed by id): not the owner's private chat, so the
    /// agent's private memory stays out of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
    /// In a group: the messages since the bot's last turn there that did not address it
    /// (`Name: text` lines, oldest first), for context; kept with the pending message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    /// A group message taken without mentioning or replying to the bot (its group has
    /// `requireMention: false`; not kept).
    #[serde(skip)]
    pub unaddressed: bool,
    /// The files fetched for the agent before the message was handed over (not kept).
    #[serde(skip)]
    pub attached: Vec<crate::media::MediaRef>,
    /// What the agent is told of media that was not fetched (not kept).
    #[serde(skip)]
    pub media_notes: Vec<String>,
    /// Where the run reports its progress, for a channel that shows a progress draft
    /// ([`progress`]); set at each hand-over (not kept).
    #[serde(skip)]
    pub progress: Option<progress::ProgressSink>,
}

impl InboundMessage {
    /// A plain text answer to this message, in its chat, quoting it (no media, no buttons,
    /// nothing to wait for before it is done).
    pub fn answer(&self, text: String) -> DeliverReply {
        DeliverReply {
            inbound_id: Some(self.id.clone()),
            target: self.target(),
            reply_to: Some(self.message_id),
            explicit_reply: false,
            silent: false,
            text,
            recorded: None,
            media: Vec::new(),
            buttons: Vec::new(),
            prefix: None,
        }
    }

    /// A group, or a DM open to everyone ([`Self::public`]): people other than the owner
    /// talk to the bot here, so the owner's private memory, other chats and the agent's
    /// totals stay out of it.
    pub fn shared(&self) -> bool {
        self.chat_type != "private" || self.public
    }

    /// The chat to answer in.
    pub fn target(&self) -> ChatTarget {
        ChatTarget {
            chat_id: self.chat_id,
            thread_id: self.thread_id,
        }
    }

    /// The session this message belongs to (see [`crate::session_scope`]): by default one
    /// per DM peer, one per group (and topic).
    pub fn session_key(
        &self,
        agent_id: &str,
        routing: &crate::session_scope::SessionRouting,
    ) -> String {
        if self.chat_type == "private" {
            routing.direct_key(
                agent_id,
                &self.channel,
                &self.account_id,
                &self.sender_id.to_string(),
                self.public,
            )
        } else if routing.groups_in_main {
            format!("agent:{agent_id}:main")
        } else {
            match self.thread_id {
                Some(t) => format!(
                    "agent:{agent_id}:{}:group:{}:topic:{t}",
                    self.channel, self.chat_id
                ),
                None => format!("agent:{agent_id}:{}:group:{}", self.channel, self.chat_id),
            }
        }
    }
}

/// The text a run answers: the message, after the group's recent messages in OpenClaw's
/// markers when it carries some ([`InboundMessage::history`]).
pub fn with_history(m: &InboundMessage) -> String {
    if m.history.is_empty() {
        return m.text.clone();
    }
    let mut out = String::from("[Chat messages since your last reply - for context]\n");
    for l in &m.history {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str("\n[Current message - respond to this]\n");
    out.push_str(&m.text);
    out
}

/// Normalises an operator-supplied session key: `main` → `agent:<default agent>:main`
/// (`agent:main:main` with no roster).
pub fn normalize_session_key(key: &str) -> String {
    let key = key.trim();
    if key.starts_with("agent:") {
        crate::session_scope::canonical_key(key).into_owned()
    } else {
        let full = format!("agent:{}:{key}", crate::agents::default_id_now());
        crate::session_scope::canonical_key(&full).into_owned()
    }
}

/// Splits text into chunks of at most `max_units` UTF-16 code units each — the unit in
/// which Telegram counts its 4096 limit, so an astral character (most emoji) counts 2 —
/// preferring a line break, then a space, in the second half of a chunk. A chunk never ends
/// inside a character (so never between the halves of a surrogate pair), and a hard cut
/// avoids splitting before a combining mark or around a zero-width joiner when it can.
/// Lossless: the chunks concatenate to `text` (the break character ends its chunk). A
/// `max_units` below 2 is treated as 2, the size of the largest character.
pub fn split_message(text: &str, max_units: usize) -> Vec<String> {
    let max = max_units.max(2);
    let mut out = Vec::new();
    let mut rest = text;
    // Until the rest fits:
    while let Some(limit) = utf16_prefix_limit(rest, max) {
        let window = &rest[..limit];
        let half = limit / 2;
        let cut = window
            .rfind('\n')
            .filter(|&i| i >= half)
            .or_else(|| window.rfind(' ').filter(|&i| i >= half))
            .map(|i| i + 1)
            .unwrap_or_else(|| cluster_safe_cut(rest, limit));
        // `limit` is at least one character (max ≥ 2), so every round makes progress.
        let cut = if cut == 0 { limit } else { cut };
        let (chunk, tail) = rest.split_at(cut);
        out.push(chunk.to_owned());
        rest = tail;
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// The byte length of the longest prefix of `s` with at most `max` UTF-16 units, or `None`
/// when all of `s` fits.
pub(crate) fn utf16_prefix_limit(s: &str, max: usize) -> Option<usize> {
    let mut units = 0usize;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max {
            return Some(i);
        }
    }
    None
}

/// Characters that attach to the one before them (combining marks, variation selectors,
/// emoji modifiers and tags) or join two (ZWJ): a cut next to them would break what the
/// reader sees as one character.
pub(crate) fn is_attaching(c: char) -> bool {
    matches!(c,
        '\u{200D}'
        | '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0020}'..='\u{E007F}'
        | '\u{E0100}'..='\u{E01EF}')
}

/// A cut at or before byte `limit` of `s` (a character boundary) that does not split a
/// grapheme cluster in the common cases, looking back at most 32 characters; `limit` when
/// there is none.
fn cluster_safe_cut(s: &str, limit: usize) -> usize {
    let mut cut = limit;
    for _ in 0..32 {
        let next = s.get(cut..).and_then(|t| t.chars().next());
        let prev = s.get(..cut).and_then(|h| h.chars().next_back());
        let (Some(next), Some(prev)) = (next, prev) else {
            return limit;
        };
        if !is_attaching(next) && prev != '\u{200D}' {
            return cut;
        }
        cut -= prev.len_utf8();
    }
    limit
}

/// Seeded pseudo-random input for property tests (xorshift; no dependency): tricky Unicode
/// — astral emoji, ZWJ sequences, combining marks, characters whose lowercase has another
/// byte length (Kelvin sign, `İ`) — mixed with ASCII and arbitrary scalar values.
#[cfg(test)]
pub(crate) mod testgen {
    /// A small deterministic generator.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Self(seed.max(1))
        }

        pub fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        /// Uniform in `0..n` (`n > 0`).
        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// Pieces texts are built from.
    pub const PIECES: &[&str] = &[
        "a",
        "Z",
        " ",
        "  ",
        "\n",
        "_",
        "@",
        "/",
        "hello",
        "K",
        "K",
        "İ",
        "ı",
        "ß",
        "ẞ",
        "ﬃ",
        "Σ",
        "ς",
        "é",
        "e\u{301}",
        "\u{301}",
        "😀",
        "👍🏽",
        "👨‍👩‍👧‍👦",
        "🏳️‍🌈",
        "\u{200D}",
        "\u{FE0F}",
        "🇩🇪",
        "𝔘𝔫𝔦",
        "\u{E0067}",
        "中文",
        "\u{FEFF}",
        "\u{0}",
        "\t",
        ",",
        ".",
    ];

    /// A random text of up to `max_pieces` pieces, some pieces arbitrary scalar values.
    pub fn text(rng: &mut Rng, max_pieces: usize, extra: &[&str]) -> String {
        let n = rng.below(max_pieces + 1);
        let mut s = String::new();
        for _ in 0..n {
            match rng.below(10) {
                0 => {
                    let c = char::from_u32((rng.next() % 0x11_0000) as u32).unwrap_or('?');
                    s.push(c);
                }
                1 if !extra.is_empty() => s.push_str(rng.pick(extra)),
                _ => s.push_str(rng.pick(PIECES)),
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> usize {
        s.encode_utf16().count()
    }

    #[test]
    fn split_respects_limit_and_chars() {
        let text = "é".repeat(5000);
        let parts = split_message(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| units(p) <= 4096));
        assert_eq!(parts.concat(), text);
        let lines = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        let parts = split_message(&lines, 4096);
        assert_eq!(parts, vec!["a".repeat(3000) + "\n", "b".repeat(3000)]);
        assert_eq!(split_message("hi", 4096), vec!["hi".to_owned()]);
        assert_eq!(split_message("", 4096), vec![String::new()]);
    }

    /// Telegram counts UTF-16 units: 3000 emoji are 6000 units, two messages.
    #[test]
    fn split_counts_utf16_units_and_never_splits_a_surrogate_pair() {
        let text = "😀".repeat(3000);
        let parts = split_message(&text, 4096);
        assert_eq!(
            parts.len(),
            2,
            "{:?}",
            parts.iter().map(|p| units(p)).collect::<Vec<_>>()
        );
        assert_eq!(units(&parts[0]), 4096);
        assert_eq!(parts.concat(), text);
        // An odd limit cannot hold half an emoji: 4095 → 2047 emoji (4094 units).
        let parts = split_message(&text, 4095);
        assert_eq!(units(&parts[0]), 4094);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn split_keeps_zwj_sequences_and_combining_marks_whole() {
        let family = "👨\u{200D}👩\u{200D}👧";
        let text = format!("{}{}", "x".repeat(4090), family);
        let parts = split_message(&text, 4096);
        assert_eq!(parts, vec!["x".repeat(4090), family.to_owned()]);
        let text = format!("{}e\u{301}", "y".repeat(4095));
        let parts = split_message(&text, 4096);
        assert_eq!(parts, vec!["y".repeat(4095), "e\u{301}".to_owned()]);
    }

    /// Property: for random Unicode text and limits, every chunk fits, none is empty, and
    /// the chunks concatenate to the text.
    #[test]
    fn split_property_random_unicode() {
        let mut rng = testgen::Rng::new(0x5eed_0001);
        for round in 0..20_000 {
            let text = testgen::text(&mut rng, 60, &[]);
            let max = 2 + rng.below(40);
            let parts = split_message(&text, max);
            assert_eq!(parts.concat(), text, "round {round}, max {max}");
            for p in &parts {
                assert!(units(p) <= max, "round {round}: {p:?} over {max}");
                assert!(
                    !p.is_empty() || parts.len() == 1,
                    "round {round}: empty chunk"
                );
            }
        }
        // Long emoji-heavy texts at Telegram's limit.
        for round in 0..50 {
            let text = testgen::text(&mut rng, 6000, &[]);
            let parts = split_message(&text, 4096);
            assert_eq!(parts.concat(), text, "long round {round}");
            assert!(parts.iter().all(|p| units(p) <= 4096), "long round {round}");
        }
    }

    /// The texts clients see in `send` / `channels.pairing.approve` errors are the ones
    /// the channels answered with before the errors were typed.
    #[test]
    fn channel_errors_keep_their_wire_text() {
        let store = crate::store::StoreError::Unavailable(actix::MailboxError::Closed);
        let cases = [
            (
                ChannelError::EmptyText,
                "message text is empty: nothing to send",
            ),
            (
                ChannelError::UnknownPairingCode,
                "pending DM access request no longer exists",
            ),
            (
                ChannelError::NoPairing("echo"),
                "the echo channel has no pairing",
            ),
            (
                ChannelError::StateNotLoaded {
                    channel: "telegram",
                    reason: "x is not valid".into(),
                },
                "the telegram channel state is not loaded: x is not valid",
            ),
            (
                ChannelError::from(store),
                "store unavailable: Mailbox has closed",
            ),
            (
                ChannelError::Delivery("Forbidden: bot was blocked".into()),
                "Forbidden: bot was blocked",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn session_keys() {
        let mut m = InboundMessage {
            id: "x".into(),
            channel: telegram::KIND.id.into(),
            account_id: "default".into(),
            chat_id: -100,
            chat_type: "private".into(),
            thread_id: None,
            sender_id: 42,
            sender_name: String::new(),
            sender_username: None,
            message_id: 1,
            text: String::new(),
            ts: 0,
            ..Default::default()
        };
        assert_eq!(
            m.session_key("main", &Default::default()),
            "agent:main:telegram:direct:42"
        );
        m.chat_type = "supergroup".into();
        m.thread_id = Some(7);
        assert_eq!(
            m.session_key("main", &Default::default()),
            "agent:main:telegram:group:-100:topic:7"
        );
        assert_eq!(normalize_session_key("main"), "agent:main:main");
    }
}
