//! Ports: the small traits through which actors reach systems outside the gateway — an
//! OpenAI-compatible model here, each channel's service in its channel module (for
//! example [`crate::channel::telegram::api`]). The shell implements them over HTTP
//! (`src/clients/`), pointed at a configurable base URL; tests point them at local fakes
//! that speak the same protocol. Futures are `!Send` on purpose: every caller is an actor
//! on the engine arbiter, and the HTTP client (awc) is per-thread.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A boxed, single-threaded future.
pub type LocalFut<T> = Pin<Box<dyn Future<Output = T>>>;

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
    /// `system`, `user`, `assistant` or `tool` (borrowed: no allocation for a message's
    /// role; a provider's other role is kept as it came).
    pub role: std::borrow::Cow<'static, str>,
    /// Text content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool calls (assistant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Which call this answers (tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Images shown with `content` (user messages, for models that see images): the
    /// provider client sends them as content parts.
    #[serde(skip)]
    pub images: Vec<ImagePart>,
    /// What the provider must see again with this answer in the same run (Anthropic's
    /// signed thinking blocks before its tool calls, the Responses API's encrypted
    /// reasoning items), as it sent them; other providers ignore it, and it is never
    /// written to the transcript.
    #[serde(skip)]
    pub replay: Option<std::sync::Arc<Replay>>,
}

/// What a provider sent with an answer that it must see again in the run's next rounds
/// ([`ChatMessage::replay`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Replay {
    /// The model that answered (its label, `provider/model`, set by its client): OpenAI's
    /// encrypted reasoning and Gemini's signatures go back only to the model that wrote
    /// them (Claude's signed thinking, to any Claude model).
    pub from: String,
    /// The provider's items, as it sent them (Anthropic: its `thinking` and
    /// `redacted_thinking` blocks; the Responses API: the answer's whole `output`).
    pub items: Vec<Value>,
}

impl Replay {
    /// `items` as `from`'s, shared.
    pub fn new(from: String, items: Vec<Value>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self { from, items })
    }

    /// Whether `label` (`provider/model`) is the model that answered.
    pub fn is_from(&self, provider: &str, model: &str) -> bool {
        self.from
            .strip_prefix(provider)
            .and_then(|rest| rest.strip_prefix('/'))
            == Some(model)
    }
}

/// How hard a reasoning model thinks before it answers (OpenClaw's `/think` levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Thinking {
    /// No thinking asked for (the provider's own default stands).
    Off,
    /// The least.
    Minimal,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// OpenAI's `xhigh` (Claude Opus 4.7+ and 5: its `xhigh` effort; other Claude models:
    /// as `high`).
    Xhigh,
    /// The provider decides how much (Claude 4.6+'s adaptive thinking with its default
    /// effort; elsewhere: as `medium`).
    Adaptive,
    /// The provider's most (Claude 4.6+: the `max` effort; OpenAI: `xhigh`; fixed budgets:
    /// as `high`).
    Max,
}

impl Thinking {
    /// The levels, as `/think` lists them.
    pub const ALL: [Thinking; 8] = [
        Thinking::Off,
        Thinking::Minimal,
        Thinking::Low,
        Thinking::Medium,
        Thinking::High,
        Thinking::Xhigh,
        Thinking::Adaptive,
        Thinking::Max,
    ];

    /// The levels' names, comma-separated (for messages).
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

    /// A level by name (any case; OpenClaw's aliases: `x-high`, `extra-high`, … for `xhigh`,
    /// `highest` for `high`, `none`, `false`, `disabled` for `off`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        Some(match s.as_str() {
            "off" | "none" | "false" | "disabled" => Thinking::Off,
            "minimal" => Thinking::Minimal,
            "low" => Thinking::Low,
            "medium" => Thinking::Medium,
            "high" | "highest" => Thinking::High,
            "xhigh" | "x-high" | "x_high" | "extra-high" | "extra high" | "extra_high" => {
                Thinking::Xhigh
            }
            "adaptive" => Thinking::Adaptive,
            "max" => Thinking::Max,
            _ => return None,
        })
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Thinking::Off => "off",
            Thinking::Minimal => "minimal",
            Thinking::Low => "low",
            Thinking::Medium => "medium",
            Thinking::High => "high",
            Thinking::Xhigh => "xhigh",
            Thinking::Adaptive => "adaptive",
            Thinking::Max => "max",
        }
    }

    /// OpenAI's `reasoning.effort` / `reasoning_effort` (`None` for `off`: the field is left
    /// out, since not every model takes `none`; `adaptive` is `medium`, `max` its most,
    /// `xhigh`).
    pub fn effort(self) -> Option<&'static str> {
        match self {
            Thinking::Off => None,
            Thinking::Adaptive => Some("medium"),
            Thinking::Max => Some("xhigh"),
            t => Some(t.as_str()),
        }
    }

    /// Anthropic's fixed thinking budget in tokens (OpenClaw's: minimal 1024, low 2048,
    /// medium and adaptive 8192, high, xhigh and max 16384); `None` for `off`.
    pub fn budget_tokens(self) -> Option<u32> {
        match self {
            Thinking::Off => None,
            Thinking::Minimal => Some(1_024),
            Thinking::Low => Some(2_048),
            Thinking::Medium | Thinking::Adaptive => Some(8_192),
            Thinking::High | Thinking::Xhigh | Thinking::Max => Some(16_384),
        }
    }
}

/// An image for the model: OpenAI's `image_url` content part, as a data URL.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePart {
    /// `image/jpeg`, `image/png`, `image/webp` or `image/gif`.
    pub mime: &'static str,
    /// The image, base64 (shared: a run's messages are sent again each round).
    pub base64: std::sync::Arc<str>,
}

impl ChatMessage {
    /// The assistant's message calling tools (with its text, if any).
    pub fn calling(content: Option<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            role: "assistant".into(),
            content,
            tool_calls: Some(calls),
            ..Self::default()
        }
    }

    /// The model's answer `answer` as the next round sends it back: its text and `calls`,
    /// with what the provider must see again ([`Self::replay`]: Claude's signed thinking,
    /// OpenAI's encrypted reasoning).
    pub fn calling_from(answer: &ChatMessage, calls: Vec<ToolCall>) -> Self {
        Self {
            replay: answer.replay.clone(),
            ..Self::calling(answer.content.clone(), calls)
        }
    }

    /// `role` as a [`ChatMessage::role`]: the known roles without an allocation.
    pub fn role_of(role: &str) -> std::borrow::Cow<'static, str> {
        match role {
            "user" => "user".into(),
            "assistant" => "assistant".into(),
            "system" => "system".into(),
            "tool" => "tool".into(),
            other => other.to_owned().into(),
        }
    }

    /// A tool's result answering the call `id`.
    pub fn tool_result(id: String, text: String) -> Self {
        Self {
            role: "tool".into(),
            content: Some(text),
            tool_call_id: Some(id),
            ..Self::default()
        }
    }

    /// A message with text content.
    pub fn text(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: Self::role_of(role),
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The conversation so far (shared: a run sends it again each round, adding to it only
    /// once the provider is done with it, so a long context is not copied per round).
    pub messages: std::sync::Arc<Vec<ChatMessage>>,
    /// Tools on offer (shared, as the messages).
    pub tools: std::sync::Arc<Vec<ToolSpec>>,
    /// The thinking level asked for this request (the chat's `/think`); `None`: the model's
    /// configured default. Only models that reason get it.
    pub thinking: Option<Thinking>,
    /// A stable, opaque key of the conversation (not its session key: a hash of it), for a
    /// provider's prompt cache routing (OpenAI's `prompt_cache_key`).
    pub cache_key: Option<std::sync::Arc<str>>,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The assistant message (text and/or tool calls).
    pub message: ChatMessage,
    /// `stop`, `tool_calls`, `length`…
    pub finish_reason: Option<String>,
    /// The tokens it cost, as the provider reported them (zero when it did not).
    pub usage: Usage,
    /// `provider/model` of the model that answered, when a fallback chain says which
    /// (`None`: the model asked).
    pub model: Option<String>,
}

/// Tokens of one or more model calls (OpenClaw's transcript `usage`), and their cost in
/// US dollars when the model's `cost` rates are configured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Input tokens not read from the provider's prompt cache.
    pub input: u64,
    /// Output tokens (reasoning included).
    pub output: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write: u64,
    /// The cost (`None`: no rates configured for the model, or no usage reported).
    pub cost: Option<Cost>,
    /// Model calls that reported usage.
    pub calls: u32,
}

impl Usage {
    /// All tokens.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
    }

    /// Adds `other` (a cost is kept only while every call had one).
    pub fn add(&mut self, other: &Usage) {
        if other.calls == 0 {
            return;
        }
        self.cost = match (self.calls, self.cost, other.cost) {
            (0, _, c) => c,
            (_, Some(a), Some(b)) => Some(Cost {
                input: a.input + b.input,
                output: a.output + b.output,
                cache_read: a.cache_read + b.cache_read,
                cache_write: a.cache_write + b.cache_write,
            }),
            _ => None,
        };
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_write = self.cache_write.saturating_add(other.cache_write);
        self.calls = self.calls.saturating_add(other.calls);
    }

    /// Prices the tokens at `rates` (US dollars per million tokens).
    pub fn priced(mut self, rates: Option<&CostRates>) -> Self {
        let m = |tokens: u64, rate: f64| tokens as f64 * rate / 1_000_000.0;
        self.cost = rates.filter(|_| self.calls > 0).map(|r| Cost {
            input: m(self.input, r.input),
            output: m(self.output, r.output),
            cache_read: m(self.cache_read, r.cache_read),
            cache_write: m(self.cache_write, r.cache_write),
        });
        self
    }

    /// OpenClaw's transcript form: `{input, output, cacheRead, cacheWrite, totalTokens,
    /// cost?: {input, output, cacheRead, cacheWrite, total}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "input": self.input,
            "output": self.output,
            "cacheRead": self.cache_read,
            "cacheWrite": self.cache_write,
            "totalTokens": self.total(),
        });
        if let Some(c) = self.cost.filter(|c| c.total().is_finite()) {
            v["cost"] = serde_json::json!({
                "input": c.input,
                "output": c.output,
                "cacheRead": c.cache_read,
                "cacheWrite": c.cache_write,
                "total": c.total(),
            });
        }
        v
    }
}

/// What tokens cost, in US dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost {
    /// Input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache reads.
    pub cache_read: f64,
    /// Cache writes.
    pub cache_write: f64,
}

impl Cost {
    /// The sum.
    pub fn total(&self) -> f64 {
        self.input + self.output + self.cache_read + self.cache_write
    }
}

/// A model's prices (OpenClaw's `models.providers.<id>.models[].cost`), US dollars per
/// million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CostRates {
    /// Input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache reads.
    pub cache_read: f64,
    /// Cache writes.
    pub cache_write: f64,
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

impl ModelError {
    /// A short code for the kind of failure (the stability ring's `reason`).
    pub fn category(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::RateLimited(_) => "rate_limited",
            Self::Unauthorized(_) => "unauthorized",
            Self::BadResponse(_) => "bad_response",
            Self::Rejected(_) => "rejected",
        }
    }
}

/// A piece of an answer as the model streams it ([`ChatModel::complete_streaming`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta<'a> {
    /// More text of the answer (appended to what came before).
    Text(&'a str),
    /// The attempt that streamed the text so far failed; a retry or the next fallback
    /// starts over, so what was shown is void.
    Restart,
}

/// Where streamed pieces go (called on the actor's thread, in order).
pub type DeltaSink = std::rc::Rc<dyn Fn(Delta<'_>)>;

/// A model a chat (`/model`) or an operator (`sessions.patch {model}`) may choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    /// `provider/model`.
    pub reference: String,
    /// Its alias (`agents.defaults.models["provider/model"].alias`).
    pub alias: Option<String>,
    /// Its display name, if configured (else its id is shown).
    pub name: Option<String>,
    /// Its roles in the config: `default`, `fallback#<n>`, `configured`.
    pub tags: Vec<String>,
    /// The tokens a request may hold, if configured.
    pub context_window: Option<u32>,
    /// It reads images as well as text.
    pub images: bool,
    /// Its provider runs on this machine (a loopback or `.local` base URL).
    pub local: bool,
    /// It reasons.
    pub reasoning: bool,
}

impl ModelError {
    /// The same kind of error with its text replaced by `f` of it (scrubbing a key,
    /// summarizing several failures).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::Unavailable(s) => Self::Unavailable(f(s)),
            Self::RateLimited(s) => Self::RateLimited(f(s)),
            Self::Unauthorized(s) => Self::Unauthorized(f(s)),
            Self::BadResponse(s) => Self::BadResponse(f(s)),
            Self::Rejected(s) => Self::Rejected(f(s)),
        }
    }
}

/// An OpenAI-compatible chat model.
pub trait ChatModel {
    /// `provider/model`, for status output.
    fn label(&self) -> String;
    /// `provider/model` of the model asked first (without fallbacks): what per-model
    /// settings such as `tools.exec.applyPatch.allowModels` are matched against.
    fn primary(&self) -> String {
        self.label()
    }
    /// One chat completion (non-streaming), with the provider's retries applied.
    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>>;
    /// The same completion, its text also handed to `sink` piece by piece as the provider
    /// streams it (a provider that does not stream gives the whole answer at the end, and
    /// `sink` sees nothing). The result is the same as [`Self::complete`]'s.
    fn complete_streaming(
        &self,
        req: ChatRequest,
        sink: DeltaSink,
    ) -> LocalFut<Result<ChatResponse, ModelError>> {
        let _ = sink;
        self.complete(req)
    }
    /// The commands this model itself understands, for the chat's `/help` (the embedded
    /// command agent's; a real model has none).
    fn commands_help(&self) -> Option<&'static str> {
        None
    }
    /// Whether the model sees images (its config lists `input: ["text", "image"]`): photos
    /// from nodes and chats are then shown to it, not only described.
    fn sees_images(&self) -> bool {
        false
    }
    /// The tokens a request may hold (its entry's `contextWindow`, capped by
    /// `contextTokens`); `None`: not configured (the default window applies).
    fn context_window(&self) -> Option<u32> {
        None
    }
    /// Whether thinking levels (`/think`) apply to it: the model reasons.
    fn reasons(&self) -> bool {
        false
    }
    /// Whether it records its own calls in the stability ring (a fallback chain does, per
    /// model tried); otherwise the agent run records each call under [`Self::label`].
    fn records_calls(&self) -> bool {
        false
    }
    /// The model of the agent `agent` when it has its own (`agents.entries.<id>.model`),
    /// with the same choices; `None`: this one answers for it.
    fn for_agent(&self, agent: &str) -> Option<std::rc::Rc<dyn ChatModel>> {
        let _ = agent;
        None
    }
    /// The models a session may choose instead of this default (the configured ones).
    fn choices(&self) -> Vec<ModelChoice> {
        Vec::new()
    }
    /// The choice `reference` names (its `provider/model`, its alias, or its bare model id
    /// when only one choice has it), as a model of its own: strict, without fallbacks.
    /// `Err` says why, for the user.
    fn pick(&self, reference: &str) -> Result<(String, std::rc::Rc<dyn ChatModel>), String> {
        Err(format!(
            "there is no model {:?} to choose from: this gateway has no configured models",
            reference.chars().take(100).collect::<String>()
        ))
    }
}

/// An audio file to transcribe: a file of the state directory ([`crate::media::INBOUND_DIR`]).
#[derive(Debug, Clone)]
pub struct AudioClip {
    /// Its absolute path (a CLI transcriber is given it; a provider's upload reads it).
    pub path: std::path::PathBuf,
    /// Its MIME type, from its signature.
    pub mime: String,
    /// Its size.
    pub bytes: u64,
    /// Where a CLI's scratch directory goes (`<state>/media/work`: writable where the rest
    /// of the file system may not be, as in the read-only container).
    pub work_dir: std::path::PathBuf,
}

/// Speech to text (`tools.media.models[]` entries with the `audio` capability, tried in
/// order: a provider's OpenAI-compatible `/audio/transcriptions`, or a local CLI such as
/// whisper.cpp).
pub trait Transcriber {
    /// What is configured (`openai/gpt-4o-transcribe, cli:whisper-cli`), for logs and status.
    fn label(&self) -> String;
    /// The transcript of `clip` (trimmed, cut to the entry's `maxChars`), or why no entry
    /// produced one (each entry's failure; never a secret).
    fn transcribe(&self, clip: AudioClip) -> LocalFut<Result<String, String>>;
}

/// What the audio is for: a chat's voice note (Opus by default) or a clip a client plays
/// (MP3 by default), as OpenClaw's synthesis targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpeechTarget {
    /// A voice note sent to a chat.
    #[default]
    VoiceNote,
    /// A clip handed to a client (`talk.speak`, `tts.speak`).
    AudioFile,
}

/// One synthesis: the target and a client's overrides (`talk.speak`'s params). Each
/// provider reads the overrides it knows and ignores the rest, as in OpenClaw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpeakRequest {
    /// The target.
    pub target: SpeechTarget,
    /// A voice id (or one of `voiceAliases`).
    pub voice_id: Option<String>,
    /// A model id.
    pub model_id: Option<String>,
    /// ElevenLabs' `output_format` (`mp3_44100_128`, `pcm_24000`, …).
    pub output_format: Option<String>,
    /// Speaking rate (0.5–2 for ElevenLabs).
    pub speed: Option<f64>,
    /// ElevenLabs voice settings (0–1 each).
    pub stability: Option<f64>,
    /// `similarity_boost`.
    pub similarity: Option<f64>,
    /// `style`.
    pub style: Option<f64>,
    /// `use_speaker_boost`.
    pub speaker_boost: Option<bool>,
    /// A seed (0–4294967295).
    pub seed: Option<u64>,
    /// `apply_text_normalization` (`auto`, `on`, `off`).
    pub normalize: Option<String>,
    /// A language code (`en`, `de`).
    pub language: Option<String>,
    /// `optimize_streaming_latency` (0–4).
    pub latency_tier: Option<u64>,
}

/// Synthesized audio and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clip {
    /// The audio bytes.
    pub audio: Vec<u8>,
    /// The provider id (`openai`, `elevenlabs`, a configured id).
    pub provider: String,
    /// The provider's format name (`opus`, `mp3`, `mp3_44100_128`, `pcm_24000`).
    pub output_format: String,
    /// `.opus`, `.mp3`, `.pcm`, `.wav`, … (`.bin` when unknown).
    pub file_extension: String,
    /// Whether a chat can show it as a voice note (Opus).
    pub voice_compatible: bool,
}

/// Text to speech (`tts`, `talk`): an OpenAI-compatible `/audio/speech` or ElevenLabs'
/// `/v1/text-to-speech/{voice}`.
pub trait Speaker {
    /// `openai/gpt-4o-mini-tts (coral)`, for logs and status.
    fn label(&self) -> String;
    /// The audio of `text` for `req`, or why there is none (never a secret).
    fn synthesize(&self, text: String, req: SpeakRequest) -> LocalFut<Result<Clip, String>>;
    /// The voice note of `text` (OGG/Opus unless configured otherwise).
    fn speak(&self, text: String) -> LocalFut<Result<Vec<u8>, String>> {
        let fut = self.synthesize(text, SpeakRequest::default());
        Box::pin(async move { fut.await.map(|c| c.audio) })
    }
}

/// Which addresses `web_fetch` may reach (`tools.web.fetch.ssrfPolicy`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsrfPolicy {
    /// `dangerouslyAllowPrivateNetwork`: every host may reach private addresses.
    pub allow_private_network: bool,
    /// `allowedHostnames`: these exact hosts (lower case) may.
    pub allowed_hostnames: Vec<String>,
    /// The opposite rule: **only** non-public addresses may be reached (a search
    /// provider's plain `http://` base URL: a credential or a query never crosses the
    /// internet unencrypted).
    pub private_only: bool,
}

/// One `web_fetch` request.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The http(s) URL.
    pub url: String,
    /// Most body bytes read (more is cut, `truncated`).
    pub max_bytes: usize,
    /// Bound on the whole fetch, redirects included.
    pub timeout: std::time::Duration,
    /// Redirects followed (each checked like the first request).
    pub max_redirects: u8,
    /// `User-Agent`.
    pub user_agent: String,
    /// Which addresses may be reached.
    pub policy: SsrfPolicy,
    /// Request headers besides the defaults (`Accept` here replaces the default one).
    pub headers: Vec<(String, String)>,
    /// An HTTP error status (4xx, 5xx) comes back as a page (its status and body) instead
    /// of an `Err`.
    pub error_pages: bool,
    /// A JSON body: the request is a `POST` with `Content-Type: application/json` (no
    /// redirect is followed for it); `None`: a `GET`.
    pub json_body: Option<Vec<u8>>,
}

/// A fetched page.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    /// The URL after redirects.
    pub final_url: String,
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` (empty when absent).
    pub content_type: String,
    /// The body, at most `max_bytes`.
    pub body: Vec<u8>,
    /// The body was longer.
    pub truncated: bool,
}

/// HTTP for `web_fetch` (the shell's client, with the SSRF policy enforced on every hop).
pub trait WebFetcher {
    /// Fetches `req.url`; `Err` says why nothing was fetched (never a secret).
    fn fetch(&self, req: FetchRequest) -> LocalFut<Result<FetchedPage, String>>;
}

/// One `exec` command for the gateway host (see [`crate::exec_tool`]).
#[derive(Debug, Clone)]
pub struct GatewayExec {
    /// The command as the model wrote it.
    pub command: String,
    /// `Some`: an allowlist mode; run exactly this argv, without a shell, only if its
    /// program is on the gateway's exec allowlist. `None`: `mode: "full"`; run `command`
    /// with the shell.
    pub argv: Option<Vec<String>>,
    /// Working directory (absolute).
    pub cwd: std::path::PathBuf,
    /// Environment overrides (already checked: no `PATH` or loader variables).
    pub env: std::collections::BTreeMap<String, String>,
    /// The eligible skills' variables (`skills.entries.<key>.env` / `apiKey`), set below
    /// `env` and only where the gateway's environment lacks them (`mode: "full"` and
    /// approved commands; the allowlist's environment stays the file's).
    pub skill_env: std::collections::BTreeMap<String, String>,
    /// Kill the command (its whole process group) after this long (`None`: never).
    pub timeout: Option<std::time::Duration>,
    /// `tools.exec.pathPrepend`.
    pub path_prepend: Vec<std::path::PathBuf>,
    /// A human approved this command: run it without the allowlist (`argv`: as that argv;
    /// none: `command` with the shell).
    pub approved: bool,
    /// With `approved` and `argv`: also add the program with these arguments to the
    /// gateway's exec allowlist (`allow-always`).
    pub remember: bool,
    /// The host approvals document's allowlist patterns for the run's agent (programs they
    /// match are allowed as if on the exec allowlist; see [`HostApprovals`]).
    pub host_patterns: Vec<String>,
}

/// `security` of the gateway host's exec approvals document, strictest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostSecurity {
    /// Nothing runs.
    Deny,
    /// Only allowlisted programs.
    Allowlist,
    /// Anything.
    Full,
}

/// `ask` of the gateway host's exec approvals document, least insistent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostAsk {
    /// Never asks.
    Off,
    /// Asks when the allowlist misses.
    OnMiss,
    /// Asks for every command.
    Always,
}

/// What the gateway host's own exec approvals document (OpenClaw's `exec-approvals.json`)
/// says for one agent. It only tightens `tools.exec`: `None` leaves the config's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostApprovals {
    /// The security it allows at most.
    pub security: Option<HostSecurity>,
    /// How insistently it asks at least.
    pub ask: Option<HostAsk>,
    /// Allowlist patterns (OpenClaw's globs on a program's real path or name).
    pub patterns: Vec<String>,
    /// The document's path, for messages (empty: there is none).
    pub source: String,
}

/// Runs `exec` commands on the gateway host. Dropping the future kills the command's
/// process group (a stopped run leaves nothing running).
pub trait CommandHost {
    /// The result the model reads: `ok`, `exitCode`, `timedOut`, `stdout`, `stderr` and,
    /// when it did not run or ended abnormally, `error` (with `allowlistMiss: true` when the
    /// allowlist did not allow it).
    /// `live`: where the output also goes as it comes (a command that may go to the
    /// background).
    fn run(
        &self,
        req: GatewayExec,
        live: Option<std::rc::Rc<std::cell::RefCell<crate::exec_process::LiveOutput>>>,
    ) -> LocalFut<Value>;

    /// The host approvals document's word for `agent`, read now (off the actor's thread: a
    /// file read). `Err`: the document is unusable (the message names it and the fix) and
    /// nothing runs on the gateway host.
    fn host_approvals(&self, _agent: &str) -> LocalFut<Result<HostApprovals, String>> {
        Box::pin(std::future::ready(Ok(HostApprovals::default())))
    }
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
    /// `agents.create` / `agents.update` / `agents.delete`: roster edits of the config
    /// file, applied before the answer. `Err((invalid_request, message))`.
    fn agents_write(
        &self,
        _method: &str,
        _params: &serde_json::Value,
    ) -> Result<serde_json::Value, (bool, String)> {
        Err((false, "agent management is not available here".into()))
    }
    /// `channels.logout {channel, accountId?}`: removes the account's saved credentials
    /// from the config file and applies it. `Err((invalid_request, message))`.
    fn channels_logout(
        &self,
        _params: &serde_json::Value,
    ) -> Result<serde_json::Value, (bool, String)> {
        Err((false, "channel logout is not available here".into()))
    }
    /// `secrets.reload`: asks the config watcher to resolve the config in force again
    /// (`<state dir>/.env`, the `env` block, every `tokenFile`). `None`: no watcher runs.
    fn secrets_reload(&self) -> Option<SecretsReloadReply> {
        None
    }
    /// `exec.approvals.get`: the gateway host's exec approvals document (OpenClaw's
    /// snapshot: `{path, exists, hash, file, resolvedDefaults}`, no socket token).
    fn exec_approvals_get(&self) -> Result<serde_json::Value, String> {
        Err("exec approvals are not available here".into())
    }
    /// `gateway.identity.get`: this host's device identity (`{deviceId, publicKey}`, the
    /// raw Ed25519 key in base64url), created on first use; never the private key.
    fn gateway_identity(&self) -> Result<serde_json::Value, String> {
        Err("the gateway identity is not available here".into())
    }
    /// `exec.approvals.set {file, baseHash}`: replaces it (compare-and-swap on the hash).
    /// `Err((invalid_request, message))`.
    fn exec_approvals_set(
        &self,
        _params: &serde_json::Value,
    ) -> Result<serde_json::Value, (bool, String)> {
        Err((false, "exec approvals are not available here".into()))
    }
    /// `gateway.restart.request`: schedules a restart of the gateway process (the shell
    /// waits, bounded, for active work, then stops cleanly and starts itself again with the
    /// same process id). `Err((invalid_request, message))`.
    fn restart(&self, _ask: RestartAsk) -> Result<RestartTicket, (bool, String)> {
        Err((false, "gateway restart is not available here".into()))
    }
}

/// A restart of the gateway process (`gateway.restart.request`, SIGUSR1).
#[derive(Debug)]
pub struct RestartAsk {
    /// Why (logged, and in the `shutdown` event): one line, at most 200 UTF-16 units.
    pub reason: String,
    /// How long active work may hold the restart back (zero: at once).
    pub wait: std::time::Duration,
    /// The running gateway the caller aimed at (OpenClaw's lock identity); refused unless
    /// it is this one.
    pub target: Option<RestartTarget>,
    /// Fired once the caller's answer is queued: the restart waits for it (bounded), so the
    /// caller reads its answer before its socket closes.
    pub written: Option<tokio::sync::oneshot::Receiver<()>>,
    /// The chat message that asked (`/restart`'s [`crate::channel::InboundMessage::id`]):
    /// it may come back to the restarted gateway (pending, or handed over again by the
    /// chat service), which then answers it instead of restarting again.
    pub origin: Option<String>,
}

/// Opened by the caller's session once its answer is queued; a restart that waits for it
/// (see [`RestartAsk::written`]) goes ahead when it is opened or dropped.
#[derive(Debug, Clone)]
pub struct AnswerGate(std::sync::Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>>);

impl AnswerGate {
    /// A gate and what waits for it.
    pub fn new() -> (Self, tokio::sync::oneshot::Receiver<()>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (
            Self(std::sync::Arc::new(std::sync::Mutex::new(Some(tx)))),
            rx,
        )
    }

    /// The answer is queued.
    pub fn open(&self) {
        if let Some(tx) = self.0.lock().ok().and_then(|mut g| g.take()) {
            let _ = tx.send(());
        }
    }
}

/// OpenClaw's `{pid, ownerId, port}` of a gateway's lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartTarget {
    /// The process id.
    pub pid: u64,
    /// The lock's owner id.
    pub owner_id: String,
    /// The port.
    pub port: u16,
}

/// A scheduled restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartTicket {
    /// This process's id (the same after the restart).
    pub pid: u32,
    /// A restart was already scheduled: this request joined it.
    pub coalesced: bool,
}

/// The watcher's answer to `secrets.reload`: the reload is checked and planned, and
/// applies once the caller's answer is written (`written` fired or dropped), so a caller
/// whose shared secret the reload changes reads its answer before its session closes.
#[derive(Debug)]
pub struct SecretsReloaded {
    /// Problems that lose nothing (an unset `${VAR}`, a change that needs a restart).
    pub warning_count: usize,
    /// Fired when the answer is written.
    pub written: tokio::sync::oneshot::Sender<()>,
}

/// Where the watcher's answer arrives: `Err` names why nothing changed (logged in full by
/// the gateway; the caller gets OpenClaw's short refusal).
pub type SecretsReloadReply = tokio::sync::oneshot::Receiver<Result<SecretsReloaded, String>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_role_is_borrowed_unless_unknown_and_reads_the_same_on_the_wire() {
        use std::borrow::Cow;
        for r in ["user", "assistant", "system", "tool"] {
            assert!(matches!(ChatMessage::role_of(r), Cow::Borrowed(b) if b == r));
        }
        assert!(matches!(ChatMessage::role_of("developer"), Cow::Owned(o) if o == "developer"));
        let m = ChatMessage::text("assistant", "hi");
        let wire = serde_json::to_value(&m).expect("encodes");
        assert_eq!(
            wire,
            serde_json::json!({"role": "assistant", "content": "hi"})
        );
        let back: ChatMessage = serde_json::from_value(wire).expect("decodes");
        assert_eq!(back, m);
    }

    #[test]
    fn usage_adds_and_prices_per_million_tokens() {
        let rates = CostRates {
            input: 3.0,
            output: 15.0,
            cache_read: 0.3,
            cache_write: 3.75,
        };
        let one = Usage {
            input: 1000,
            output: 300,
            cache_read: 200,
            cache_write: 100,
            cost: None,
            calls: 1,
        }
        .priced(Some(&rates));
        let c = one.cost.expect("priced");
        assert!((c.total() - (0.003 + 0.0045 + 0.00006 + 0.000375)).abs() < 1e-12);
        let mut sum = Usage::default();
        sum.add(&Usage::default());
        assert_eq!(sum.calls, 0, "a call without usage adds nothing");
        sum.add(&one);
        sum.add(&one);
        assert_eq!((sum.total(), sum.calls), (3200, 2));
        assert!((sum.cost.expect("cost").total() - 2.0 * c.total()).abs() < 1e-12);
        // One unpriced call makes the sum unpriced.
        sum.add(&Usage {
            input: 1,
            calls: 1,
            ..Usage::default()
        });
        assert_eq!(sum.cost, None);
        let v = sum.to_json();
        assert_eq!(v["totalTokens"], 3201);
        assert!(v.get("cost").is_none());
        assert!(one.to_json()["cost"]["total"].as_f64().is_some());
        assert_eq!(
            Usage::default().priced(Some(&rates)).cost,
            None,
            "no call, no cost"
        );
    }
}
