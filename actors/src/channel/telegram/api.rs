//! The Telegram Bot API port: the update and message shapes the channel reads and the
//! [`TelegramApi`] trait the shell implements over HTTP (`src/clients/telegram.rs`),
//! pointed at a configurable base URL (tests point it at a local fake).

use serde::{Deserialize, Serialize};

use crate::ports::LocalFut;

/// A Telegram user (`User`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TgUser {
    /// User id.
    pub id: i64,
    /// Whether it is a bot.
    #[serde(default)]
    pub is_bot: bool,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Username without `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// A chat (`Chat`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TgChat {
    /// Chat id.
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Group title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A message entity (mentions, commands…).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TgEntity {
    /// Entity type (`mention`, `bot_command`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Offset in UTF-16 code units.
    pub offset: i64,
    /// Length in UTF-16 code units.
    pub length: i64,
    /// The mentioned user (`text_mention`, for users without a username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<TgUser>,
}

/// A message (`Message`), only the fields the gateway reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TgMessage {
    /// Message id.
    pub message_id: i64,
    /// Forum topic / thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
    /// Sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<TgUser>,
    /// Chat.
    pub chat: TgChat,
    /// Unix time.
    #[serde(default)]
    pub date: i64,
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Caption of media messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// Entities in `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<TgEntity>>,
    /// Entities in `caption`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption_entities: Option<Vec<TgEntity>>,
    /// The message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_message: Option<Box<TgMessage>>,
    /// A photo, in several sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<Vec<TgPhotoSize>>,
    /// A file (a photo sent "as a file" among them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<TgDocument>,
    /// A voice note (`Voice`: its file id, type and size are read, as a file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<TgDocument>,
    /// An audio file (`Audio`), read as a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<TgDocument>,
    /// A round video message (`VideoNote`): its sound is transcribed like a voice note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_note: Option<TgDocument>,
    /// Media the gateway does not read (only their presence counts: the agent is told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Present>,
    /// See [`Self::video`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticker: Option<Present>,
    /// The album this message is a part of (each photo of an album is a message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_group_id: Option<String>,
}

/// A field whose content the gateway ignores: only its presence counts (serialized `{}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Present;

impl Serialize for Present {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Present)
    }
}

/// One size of a photo (`PhotoSize`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TgPhotoSize {
    /// File id, for `getFile`.
    pub file_id: String,
    /// Width.
    #[serde(default)]
    pub width: i64,
    /// Height.
    #[serde(default)]
    pub height: i64,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// A file (`Document`), only the fields the gateway reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TgDocument {
    /// File id, for `getFile`.
    pub file_id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Its type, as the sender's app said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// `getFile`'s answer (`File`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TgFile {
    /// File id.
    pub file_id: String,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    /// Where to download it (`<api root>/file/bot<token>/<file_path>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
}

/// An update (`Update`). `message` and `callback_query` are consumed; other kinds are
/// skipped (but their `update_id` still advances the offset).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TgUpdate {
    /// Update id.
    pub update_id: i64,
    /// A new message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<TgMessage>,
    /// A press of one of the bot's inline buttons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_query: Option<TgCallbackQuery>,
}

/// `sendMessage` parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendMessage {
    /// Target chat.
    pub chat_id: i64,
    /// Text (≤ 4096 UTF-16 code units, as Telegram counts; the channel splits longer
    /// replies).
    pub text: String,
    /// Reply to this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_message_id: Option<i64>,
    /// Forum topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
    /// `reply_markup` (an inline keyboard, see [`inline_keyboard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<serde_json::Value>,
    /// `disable_notification`: delivered without a sound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_notification: bool,
    /// `link_preview_options.is_disabled` (`linkPreview: false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_link_preview: bool,
}

/// `sendPoll` parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendPoll {
    /// Target chat.
    pub chat_id: i64,
    /// Forum topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
    /// The question.
    pub question: String,
    /// The answers (`InputPollOption`s: `{text}`).
    pub options: Vec<serde_json::Value>,
    /// Voters are not shown.
    pub is_anonymous: bool,
    /// Several answers may be chosen.
    pub allows_multiple_answers: bool,
    /// Open this long, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_period: Option<u32>,
    /// Sent without a notification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_notification: bool,
}

/// `sendLocation` (a pin) or, with a title and an address, `sendVenue`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendLocation {
    /// Target chat.
    pub chat_id: i64,
    /// Forum topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<i64>,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// Meters of uncertainty (a pin only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizontal_accuracy: Option<f64>,
    /// A venue's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A venue's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Sent without a notification.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable_notification: bool,
}

/// Telegram's `InlineKeyboardMarkup` for `rows` (`None` when there is no button). A
/// button whose `callback_data` would pass Telegram's 64-byte limit is left out (the
/// presentation parser refuses those before).
pub fn inline_keyboard(rows: &[Vec<crate::channel::Button>]) -> Option<serde_json::Value> {
    use crate::channel::ButtonAction;
    let rows: Vec<Vec<serde_json::Value>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .filter_map(|b| match &b.action {
                    ButtonAction::Callback(d) | ButtonAction::Command(d) => (!d.is_empty()
                        && d.len() <= 64)
                        .then(|| serde_json::json!({"text": b.text, "callback_data": d})),
                    ButtonAction::Url(u) => Some(serde_json::json!({"text": b.text, "url": u})),
                    ButtonAction::WebApp(u) => {
                        Some(serde_json::json!({"text": b.text, "web_app": {"url": u}}))
                    }
                })
                .collect::<Vec<_>>()
        })
        .filter(|r| !r.is_empty())
        .collect();
    (!rows.is_empty()).then(|| serde_json::json!({"inline_keyboard": rows}))
}

/// A button press (`CallbackQuery`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TgCallbackQuery {
    /// Its id, for `answerCallbackQuery`.
    pub id: String,
    /// Who pressed.
    pub from: TgUser,
    /// The message the button was under (kept raw: it may be an "inaccessible" one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<serde_json::Value>,
    /// The button's `callback_data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// `sendPhoto`, `sendVideo`, `sendAnimation` or `sendDocument` parameters (a file upload,
/// `multipart/form-data`).
#[derive(Debug, Clone, PartialEq)]
pub struct SendMedia {
    /// Target chat.
    pub chat_id: i64,
    /// Which method, and the file's field.
    pub kind: crate::media::MediaKind,
    /// The file.
    pub data: std::rc::Rc<[u8]>,
    /// Its MIME type.
    pub mime: String,
    /// Its name.
    pub file_name: String,
    /// Caption (≤ 1024 UTF-16 code units).
    pub caption: Option<String>,
    /// Reply to this message.
    pub reply_to_message_id: Option<i64>,
    /// Forum topic.
    pub message_thread_id: Option<i64>,
    /// `disable_notification`: delivered without a sound.
    pub disable_notification: bool,
}

/// A Bot API failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TgError {
    /// Could not reach the API (connect, timeout, 5xx, unreadable body). Retry with backoff.
    #[error("telegram unreachable: {0}")]
    Network(String),
    /// 429 Too Many Requests: wait `retry_after` seconds.
    #[error("telegram rate limit: retry after {retry_after}s")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 401/404: the bot token is wrong. Do not retry fast.
    #[error("telegram rejected the bot token: {0}")]
    Unauthorized(String),
    /// 409: another poller or a webhook is active.
    #[error("telegram conflict: {0}")]
    Conflict(String),
    /// Any other `ok:false` answer (400 bad request…).
    #[error("telegram error {code}: {description}")]
    Api {
        /// `error_code`.
        code: u16,
        /// `description`.
        description: String,
    },
}

impl TgError {
    /// A short code for the kind of failure (the stability ring's `reason`).
    pub fn category(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::Network(_) => "network".into(),
            Self::RateLimited { .. } => "rate_limited".into(),
            Self::Unauthorized(_) => "unauthorized".into(),
            Self::Conflict(_) => "conflict".into(),
            Self::Api { code, .. } => format!("api_{code}").into(),
        }
    }
}

/// The Bot API methods the Telegram channel uses.
pub trait TelegramApi {
    /// `getMe`.
    fn get_me(&self) -> LocalFut<Result<TgUser, TgError>>;
    /// `getUpdates` (long poll). `offset` confirms every update below it.
    fn get_updates(
        &self,
        offset: Option<i64>,
        timeout_s: u32,
    ) -> LocalFut<Result<Vec<TgUpdate>, TgError>>;
    /// `sendMessage`; returns the new message id.
    fn send_message(&self, msg: SendMessage) -> LocalFut<Result<i64, TgError>>;
    /// `sendPhoto` / `sendVideo` / `sendAnimation` / `sendDocument` (by
    /// [`SendMedia::kind`]); returns the new message id.
    fn send_media(&self, msg: SendMedia) -> LocalFut<Result<i64, TgError>>;
    /// `sendMediaGroup`: 2 to 10 photos as one album (the first item's caption, and its
    /// reply, topic and silence for the album); returns the new messages' ids in order.
    /// A client without it answers an API error, and the photos go one by one.
    fn send_media_group(&self, items: Vec<SendMedia>) -> LocalFut<Result<Vec<i64>, TgError>> {
        let _ = items;
        Box::pin(async {
            Err(TgError::Api {
                code: 400,
                description: "sendMediaGroup is not available".to_owned(),
            })
        })
    }
    /// `getFile`: where a received file can be downloaded.
    fn get_file(&self, file_id: String) -> LocalFut<Result<TgFile, TgError>>;
    /// Downloads `<api root>/file/bot<token>/<file_path>` (at most `max_bytes`: a larger
    /// file fails with [`TgError::Api`] 413).
    fn download_file(
        &self,
        file_path: String,
        max_bytes: usize,
    ) -> LocalFut<Result<Vec<u8>, TgError>>;
    /// `setWebhook` with a secret token (webhook mode).
    fn set_webhook(&self, url: String, secret: String) -> LocalFut<Result<(), TgError>>;
    /// `deleteWebhook` (polling mode).
    fn delete_webhook(&self) -> LocalFut<Result<(), TgError>>;
    /// `setMyCommands`: the bot's command menu, `(command, description)` pairs.
    fn set_my_commands(&self, commands: Vec<(String, String)>) -> LocalFut<Result<(), TgError>>;
    /// `deleteMyCommands`: no command menu.
    fn delete_my_commands(&self) -> LocalFut<Result<(), TgError>>;
    /// `sendChatAction` (`typing`): shown in the chat for up to 5 s, or until the bot's
    /// next message arrives.
    fn send_chat_action(
        &self,
        chat_id: i64,
        thread_id: Option<i64>,
        action: &'static str,
    ) -> LocalFut<Result<(), TgError>>;
    /// `editMessageText` of one of the bot's own messages (a progress draft), as plain text.
    fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        text: String,
    ) -> LocalFut<Result<(), TgError>>;
    /// `editMessageReplyMarkup` of one of the bot's own messages: `None` takes its buttons
    /// away.
    fn edit_message_reply_markup(
        &self,
        chat_id: i64,
        message_id: i64,
        markup: Option<serde_json::Value>,
    ) -> LocalFut<Result<(), TgError>>;
    /// `answerCallbackQuery`: ends the button's loading state, with `text` shown as a
    /// notification when given.
    fn answer_callback_query(
        &self,
        id: String,
        text: Option<String>,
    ) -> LocalFut<Result<(), TgError>>;
    /// `deleteMessage` of one of the bot's own messages (a progress draft).
    fn delete_message(&self, chat_id: i64, message_id: i64) -> LocalFut<Result<(), TgError>>;
    /// `pinChatMessage` (`silent`: `disable_notification`) or, with `pin: false`,
    /// `unpinChatMessage`.
    fn pin_message(
        &self,
        chat_id: i64,
        message_id: i64,
        pin: bool,
        silent: bool,
    ) -> LocalFut<Result<(), TgError>>;
    /// `sendLocation`, or `sendVenue` when `loc` has a title and an address; returns the new
    /// message's id.
    fn send_location(&self, loc: SendLocation) -> LocalFut<Result<i64, TgError>>;
    /// `sendPoll`; returns the new message's id and the poll's id.
    fn send_poll(&self, poll: SendPoll) -> LocalFut<Result<(i64, String), TgError>>;
    /// `getChat` of a public chat's `@username`: its numeric id.
    fn get_chat(&self, username: String) -> LocalFut<Result<i64, TgError>>;

    /// `setMessageReaction`: the bot reacts to a message with one emoji (the ack reaction);
    /// an empty `emoji` removes the bot's reactions.
    fn set_message_reaction(
        &self,
        chat_id: i64,
        message_id: i64,
        emoji: String,
    ) -> LocalFut<Result<(), TgError>>;
}
