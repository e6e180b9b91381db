//! Ports: the small traits through which actors reach systems outside the gateway — the
//! Telegram Bot API and an OpenAI-compatible model. The shell implements them over HTTP
//! (`src/clients/`), pointed at a configurable base URL; tests point them at local fakes
//! that speak the same protocol. Futures are `!Send` on purpose: every caller is an actor
//! on the engine arbiter, and the HTTP client (awc) is per-thread.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A boxed, single-threaded future.
pub type LocalFut<T> = Pin<Box<dyn Future<Output = T>>>;

// === Telegram Bot API ===

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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
}

/// An update (`Update`). Only `message` is consumed; other kinds are skipped (but their
/// `update_id` still advances the offset).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TgUpdate {
    /// Update id.
    pub update_id: i64,
    /// A new message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<TgMessage>,
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
    /// `setWebhook` with a secret token (webhook mode).
    fn set_webhook(&self, url: String, secret: String) -> LocalFut<Result<(), TgError>>;
    /// `deleteWebhook` (polling mode).
    fn delete_webhook(&self) -> LocalFut<Result<(), TgError>>;
}

// === OpenAI-compatible chat completions ===

/// A function call requested by the model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    /// Tool name.
    pub name: String,
    /// JSON-encoded arguments.
    #[serde(default)]
    pub arguments: String,
}

/// A tool call (`tool_calls[]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCall {
    /// Call id, echoed in the tool result.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The call.
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// One chat message in OpenAI's shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool calls (assistant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Which call this answers (tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with text content.
    pub fn text(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_owned(),
            content: Some(content.into()),
            ..Default::default()
        }
    }
}

/// A tool the model may call (`tools[].function`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolSpec {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// JSON schema of the arguments.
    pub parameters: Value,
}

/// One completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools on offer.
    pub tools: Vec<ToolSpec>,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The assistant message (text and/or tool calls).
    pub message: ChatMessage,
    /// `stop`, `tool_calls`, `length`…
    pub finish_reason: Option<String>,
}

/// A model failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// Unreachable, timed out or 5xx after the retries.
    #[error("model provider unavailable: {0}")]
    Unavailable(String),
    /// 429 after the retries.
    #[error("model provider rate limit: {0}")]
    RateLimited(String),
    /// 401/403.
    #[error("model provider rejected the API key: {0}")]
    Unauthorized(String),
    /// A 2xx whose body is not a chat completion.
    #[error("model provider sent an unreadable answer: {0}")]
    BadResponse(String),
    /// Any other 4xx.
    #[error("model provider refused the request: {0}")]
    Rejected(String),
}

/// An OpenAI-compatible chat model.
pub trait ChatModel {
    /// `provider/model`, for status output.
    fn label(&self) -> String;
    /// One chat completion (non-streaming), with the provider's retries applied.
    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>>;
}

/// Operations the shell serves for the `config.*` and `logs.tail` methods: the config file,
/// its validation and the log ring live in the shell (`src/`), the method table here. Calls
/// are short and synchronous (a small file read or an atomic write of a small file).
pub trait OpsPort: Send + Sync + std::fmt::Debug {
    /// `config.get`: the redacted snapshot of the config file.
    fn config_get(&self) -> Result<serde_json::Value, String>;
    /// `config.set` / `config.patch` / `config.apply`: validate and write atomically.
    /// `Err((invalid_request, message))`: `true` when the caller's input is at fault.
    fn config_write(
        &self,
        method: &str,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, (bool, String)>;
    /// `logs.tail`: lines of the gateway log after `cursor`.
    fn logs_tail(&self, params: &serde_json::Value) -> Result<serde_json::Value, String>;
}
