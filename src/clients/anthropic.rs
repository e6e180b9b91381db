//! An Anthropic Messages API client (`api: "anthropic-messages"`): [`AnthropicModel`]
//! implements [`ChatModel`](crate::actors::ports::ChatModel).
//!
//! `POST {base_url}/v1/messages` (or `{base_url}/messages` when the base already ends with
//! `/v1`) with `x-api-key: <key>` when a key is configured and
//! `anthropic-version: 2023-06-01`: non-streaming ([`ChatModel::complete`]), or with
//! `"stream": true` ([`ChatModel::complete_streaming`]: `text_delta` pieces go to the sink
//! as they arrive, `input_json_delta` pieces make each `tool_use` block's input,
//! `message_stop` ends; a provider that answers with plain JSON instead is read as usual). The engine's OpenAI-shaped history is mapped to
//! Anthropic's: `system` messages become the top-level `system` text, tool calls `tool_use`
//! blocks, tool results `tool_result` blocks in a user message, and consecutive messages of
//! one role are merged (the API wants user and assistant turns to alternate). The answer's
//! `text` blocks become the message's content, its `tool_use` blocks tool calls.
//!
//! Retries and error classes are [`OpenAiModel`](super::openai::OpenAiModel)'s: 429, 5xx
//! (Anthropic's 529 `overloaded_error` included), timeouts and network errors are retried
//! (at most [`MAX_ATTEMPTS`] requests); 401/403 and other 4xx are not. The API key never
//! appears in errors, logs or `Debug`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::retry::{self, Failure};
use super::sse::{self, Fold, Step};
use super::{http_client, truncate};
use crate::actors::ports::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, DeltaSink, FunctionCall, ImagePart,
    LocalFut, ModelError, Replay, Thinking, ToolCall,
};

pub use super::retry::{DEFAULT_TIMEOUT, MAX_ATTEMPTS};

/// The `anthropic-version` header sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// `max_tokens` when none is configured.
pub const DEFAULT_MAX_TOKENS: u32 = 8192;

/// A model of Anthropic's Messages API, or of a provider speaking it (`provider/model`).
#[derive(Clone)]
pub struct AnthropicModel {
    provider_id: String,
    base_url: String,
    api_key: Option<String>,
    model: String,
    timeout: Duration,
    backoff: Vec<Duration>,
    /// The model sees images (`input` lists `image`).
    images: bool,
    /// Extra request headers (`models.providers.<id>.headers`), sent after ours.
    headers: Vec<(String, String)>,
    max_tokens: u32,
    /// Prompt caching (`cache_control` breakpoints) and its lifetime: `Some("5m")` or
    /// `Some("1h")`; `None`: off.
    cache: Option<&'static str>,
    /// The model thinks (extended thinking): a thinking level applies to it.
    reasoning: bool,
    /// Its thinking level when a request names none.
    thinking: Option<Thinking>,
    /// How it takes thinking (by its id).
    claude: ClaudeThinking,
    /// The tool lists sent, encoded (shared by the clones).
    tools_json: super::tools_json::ToolsJson,
}

/// Whether, and when, a Claude model thinks adaptively (`thinking: {type: "adaptive"}`, how
/// much set by `output_config.effort`) rather than with a fixed budget, told apart by its
/// id as OpenClaw does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Adaptive {
    /// A fixed budget (`thinking: {type: "enabled", budget_tokens}`): Claude 3.7 to 4.5,
    /// and any model not known to take adaptive thinking.
    No,
    /// Adaptive when a level asks for thinking, off otherwise (Opus 4.7, 4.8).
    OnRequest,
    /// Adaptive also with no level set (Claude 4.6, Opus 5, Sonnet 5); `off` disables it.
    ByDefault,
    /// Always adaptive, `off` as the lowest effort (Opus 5.5, Fable 5, Mythos).
    Always,
}

/// How a Claude model takes thinking: adaptively or not, and whether it has the native
/// `xhigh` and `max` efforts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClaudeThinking {
    adaptive: Adaptive,
    xhigh: bool,
    max: bool,
}

impl ClaudeThinking {
    /// By the model id (any provider's spelling: `claude-opus-4-7`, `claude-opus-4.7`,
    /// `us.anthropic.claude-opus-4-7-v1:0`, `anthropic/claude-sonnet-5`, `opus`).
    fn of(model: &str) -> Self {
        let id = model.to_ascii_lowercase().replace('.', "-");
        let bare = id.rsplit('/').next().unwrap_or_default();
        let has = |family: &str| {
            id.match_indices(family).any(|(at, _)| {
                let before = id[..at].chars().next_back();
                let after = id[at + family.len()..].chars().next();
                before.is_none_or(|c| !c.is_ascii_alphanumeric())
                    && after.is_none_or(|c| !c.is_ascii_alphanumeric())
            })
        };
        let opus55 = has("claude-opus-5-5") || bare == "opus-5-5";
        let opus5 = opus55 || has("claude-opus-5") || bare == "opus" || bare == "opus-5";
        let fable_mythos = has("claude-fable-5") || has("claude-mythos-5");
        let (opus46, opus47_48) = (
            has("claude-opus-4-6"),
            has("claude-opus-4-7") || has("claude-opus-4-8"),
        );
        let (sonnet46, sonnet5) = (has("claude-sonnet-4-6"), has("claude-sonnet-5"));
        let adaptive = if opus55 || fable_mythos || has("claude-mythos-preview") {
            Adaptive::Always
        } else if opus5 || sonnet5 || opus46 || sonnet46 {
            Adaptive::ByDefault
        } else if opus47_48 {
            Adaptive::OnRequest
        } else {
            Adaptive::No
        };
        let xhigh = opus5 || fable_mythos || opus47_48 || sonnet5;
        Self {
            adaptive,
            xhigh,
            max: xhigh || opus46 || sonnet46,
        }
    }

    /// The `output_config.effort` of `level` (`None`: the provider's default).
    fn effort(self, level: Thinking) -> Option<&'static str> {
        Some(match level {
            Thinking::Adaptive => return None,
            Thinking::Off | Thinking::Minimal | Thinking::Low => "low",
            Thinking::Medium => "medium",
            Thinking::High => "high",
            Thinking::Xhigh if self.xhigh => "xhigh",
            Thinking::Max if self.max => "max",
            Thinking::Xhigh | Thinking::Max => "high",
        })
    }

    /// The request's `thinking`, its `output_config.effort` and the tokens added to
    /// `max_tokens` for the thinking, at `level` (`None`: no level set).
    fn request(
        self,
        level: Option<Thinking>,
    ) -> (Option<ThinkingParam>, Option<&'static str>, u32) {
        /// Room for adaptive thinking with no fixed budget: as much as `high` gets.
        const ADAPTIVE_ROOM: u32 = 16_384;
        let adaptive = |level: Option<Thinking>| {
            let room = level
                .filter(|l| !matches!(l, Thinking::Adaptive | Thinking::Off))
                .and_then(Thinking::budget_tokens)
                .unwrap_or(ADAPTIVE_ROOM);
            (
                Some(ThinkingParam::Adaptive),
                level.and_then(|l| self.effort(l)),
                room,
            )
        };
        match (self.adaptive, level) {
            (Adaptive::No, level) => match level.and_then(Thinking::budget_tokens) {
                Some(budget_tokens) => (
                    Some(ThinkingParam::Enabled { budget_tokens }),
                    None,
                    budget_tokens,
                ),
                None => (None, None, 0),
            },
            (Adaptive::Always, level) => adaptive(level),
            (Adaptive::ByDefault | Adaptive::OnRequest, Some(Thinking::Off)) => {
                (Some(ThinkingParam::Disabled), None, 0)
            }
            (Adaptive::OnRequest, None) => (None, None, 0),
            (_, level) => adaptive(level),
        }
    }
}

impl std::fmt::Debug for AnthropicModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicModel")
            .field("provider_id", &self.provider_id)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("headers", &self.headers.len())
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl AnthropicModel {
    /// A model `model` of provider `provider_id` at `base_url` (e.g.
    /// `https://api.anthropic.com`, with or without `/v1`; a trailing slash is tolerated).
    /// `timeout` bounds each HTTP request ([`DEFAULT_TIMEOUT`] when `None`).
    pub fn new(
        provider_id: impl Into<String>,
        base_url: &str,
        api_key: Option<String>,
        model: impl Into<String>,
        timeout: Option<Duration>,
    ) -> Self {
        let model: String = model.into();
        Self {
            provider_id: provider_id.into(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.filter(|k| !k.is_empty()),
            model: model.clone(),
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            backoff: retry::default_backoff(),
            images: false,
            headers: Vec::new(),
            max_tokens: DEFAULT_MAX_TOKENS,
            cache: None,
            reasoning: false,
            thinking: None,
            claude: ClaudeThinking::of(&model),
            tools_json: Default::default(),
        }
    }

    /// Whether the model thinks (`reasoning`), and its thinking level when a request names
    /// none: a level other than `off` turns on extended thinking (`thinking: {type:
    /// "enabled", budget_tokens}`, OpenClaw's budgets, `max_tokens` raised by the budget),
    /// or, for the models that think adaptively (Claude 4.6, Opus 4.7+, Sonnet 5, …),
    /// `thinking: {type: "adaptive"}` with the level as `output_config.effort`; the signed
    /// thinking blocks of the run's answers go back with them in its tool rounds, as the API
    /// requires.
    pub fn with_thinking(mut self, reasoning: bool, default: Option<Thinking>) -> Self {
        self.reasoning = reasoning;
        self.thinking = default;
        self
    }

    /// Whether the model sees images (its config's `input` lists `image`): user messages'
    /// images then go as base64 `image` blocks; otherwise they are left out.
    pub fn with_images(mut self, images: bool) -> Self {
        self.images = images;
        self
    }

    /// Extra headers for every request (`models.providers.<id>.headers`); a header named
    /// like one of ours replaces it.
    pub fn with_headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers = headers;
        self
    }

    /// Replaces the waits between attempts (default 500 ms, 1 s): `delays[i]` is waited
    /// after failed attempt `i + 1`; the number of attempts stays [`MAX_ATTEMPTS`]. For tests.
    pub fn with_backoff(mut self, delays: Vec<Duration>) -> Self {
        self.backoff = delays;
        self
    }

    /// Prompt caching, as OpenClaw's `cacheRetention` param: `"short"` (5 minutes),
    /// `"long"` (1 hour), `"none"`; unset: short on Anthropic's own API
    /// (`api.anthropic.com`), off elsewhere (a compatible endpoint may refuse the field).
    /// Breakpoints go on the system prompt, the last tool and the last message, so a run's
    /// later tool rounds and the chat's next message within the lifetime read the prefix
    /// from the cache.
    pub fn with_cache_retention(mut self, retention: Option<&str>) -> Self {
        let direct = self.base_url.starts_with("https://api.anthropic.com");
        self.cache = match retention.map(str::trim) {
            Some("none") => None,
            Some("long") => Some("1h"),
            Some("short") => Some("5m"),
            _ if direct => Some("5m"),
            _ => None,
        };
        self
    }

    /// The answer's length bound, `max_tokens` (default [`DEFAULT_MAX_TOKENS`]; the API
    /// requires one).
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// The model name sent in requests.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The endpoint URL: `{base}/v1/messages`, or `{base}/messages` when the base already
    /// ends with `/v1`.
    pub fn endpoint(&self) -> String {
        if self.base_url.ends_with("/v1") {
            format!("{}/messages", self.base_url)
        } else {
            format!("{}/v1/messages", self.base_url)
        }
    }

    /// The JSON request body for `req`, encoded in one pass (structures borrowing the
    /// history, images written straight from their shared base64); with `"stream": true`
    /// when `stream` (absent otherwise).
    pub fn request_body(&self, req: &ChatRequest, stream: bool) -> serde_json::Result<Vec<u8>> {
        // The last tool carries the cache breakpoint (its lifetime is the shape's setting).
        let tools = self
            .tools_json
            .get(&req.tools, ("messages", self.cache), |tools| {
                let mut tools: Vec<Tool<'_>> = tools
                    .iter()
                    .map(|t| Tool {
                        name: &t.name,
                        description: &t.description,
                        input_schema: &t.parameters,
                        cache_control: None,
                    })
                    .collect();
                if let Some(last) = tools.last_mut() {
                    last.cache_control = CacheControl::of(self.cache);
                }
                tools
            })?;
        let (mut thinking, mut effort, mut room) = if self.reasoning {
            self.claude.request(req.thinking.or(self.thinking))
        } else {
            (None, None, 0)
        };
        // With thinking on, the API wants the last assistant message of a tool loop to
        // start with its signed thinking: one written without it (another model answered
        // that round, after a fallback) gets this round without thinking, not a refusal.
        if matches!(
            thinking,
            Some(ThinkingParam::Enabled { .. } | ThinkingParam::Adaptive)
        ) && self.claude.adaptive != Adaptive::Always
            && unsigned_tool_loop(&req.messages)
        {
            (thinking, effort, room) = (Some(ThinkingParam::Disabled), None, 0);
        }
        let thinks = matches!(
            thinking,
            Some(ThinkingParam::Enabled { .. } | ThinkingParam::Adaptive)
        );
        let mut system: Vec<&str> = Vec::new();
        let mut messages: Vec<Message<'_>> = Vec::with_capacity(req.messages.len());
        for m in req.messages.iter() {
            // The API refuses empty (and whitespace-only) text blocks.
            let text = m.content.as_deref().filter(|t| !t.trim().is_empty());
            let mut raw: &[Value] = &[];
            let (role, blocks): (&'static str, Vec<Block<'_>>) = match &*m.role {
                "system" | "developer" => {
                    system.extend(text);
                    continue;
                }
                "assistant" => {
                    let calls = m.tool_calls.as_deref().unwrap_or_default();
                    // Its thinking goes first, as it came (signed).
                    if let Some(r) = m.replay.as_deref().filter(|r| thinks && signed(r)) {
                        raw = &r.items;
                    }
                    let mut blocks = Vec::with_capacity(1 + calls.len());
                    blocks.extend(text.map(|text| Block::Text { text }));
                    blocks.extend(calls.iter().map(|c| Block::ToolUse {
                        id: tool_id(&c.id),
                        name: &c.function.name,
                        input: Input::parse(&c.function.arguments),
                    }));
                    ("assistant", blocks)
                }
                "tool" => match m.tool_call_id.as_deref() {
                    Some(id) => (
                        "user",
                        vec![Block::ToolResult {
                            tool_use_id: tool_id(id),
                            content: text.unwrap_or_default(),
                        }],
                    ),
                    // Answers no call: plain text.
                    None => (
                        "user",
                        text.map(|text| Block::Text { text }).into_iter().collect(),
                    ),
                },
                _ => {
                    let images: &[ImagePart] = if self.images { &m.images } else { &[] };
                    let mut blocks = Vec::with_capacity(1 + images.len());
                    blocks.extend(text.map(|text| Block::Text { text }));
                    blocks.extend(images.iter().map(|i| Block::Image {
                        source: Source {
                            kind: "base64",
                            media_type: i.mime,
                            data: &i.base64,
                        },
                    }));
                    ("user", blocks)
                }
            };
            if blocks.is_empty() && raw.is_empty() {
                continue;
            }
            let parts = raw
                .iter()
                .map(Content::Raw)
                .chain(blocks.into_iter().map(|b| Content::Part(Part::from(b))));
            match messages.last_mut() {
                Some(last) if last.role == role => last.content.extend(parts),
                _ => messages.push(Message {
                    role,
                    content: parts.collect(),
                }),
            }
        }
        if let Some(Content::Part(part)) = messages.last_mut().and_then(|m| m.content.last_mut()) {
            part.cache_control = CacheControl::of(self.cache);
        }
        let body = Body {
            model: &self.model,
            max_tokens: self.max_tokens.saturating_add(room),
            thinking,
            output_config: effort.map(|effort| OutputConfig { effort }),
            system: (!system.is_empty()).then(|| System(system, CacheControl::of(self.cache))),
            messages,
            tools: tools.as_deref(),
            stream,
        };
        let mut out = Vec::with_capacity(256 + req.messages.len() * 128);
        serde_json::to_writer(&mut out, &body)?;
        Ok(out)
    }

    /// The request, headers set.
    fn request(&self) -> awc::ClientRequest {
        let mut req = http_client()
            .post(self.endpoint())
            .timeout(self.timeout)
            .insert_header(("anthropic-version", ANTHROPIC_VERSION))
            .content_type("application/json");
        if let Some(key) = &self.api_key {
            req = req.insert_header(("x-api-key", key.as_str()));
        }
        for (k, v) in &self.headers {
            req = req.insert_header((k.as_str(), v.as_str()));
        }
        req
    }
}

// === request body ===

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

/// A prompt-cache breakpoint (`{"type": "ephemeral", "ttl": "5m"|"1h"}`).
#[derive(Serialize, Clone, Copy)]
struct CacheControl {
    #[serde(rename = "type")]
    kind: &'static str,
    ttl: &'static str,
}

impl CacheControl {
    fn of(ttl: Option<&'static str>) -> Option<Self> {
        ttl.map(|ttl| Self {
            kind: "ephemeral",
            ttl,
        })
    }
}

/// A content block, with a cache breakpoint after it when set.
#[derive(Serialize)]
struct Part<'a> {
    #[serde(flatten)]
    block: Block<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

impl<'a> From<Block<'a>> for Part<'a> {
    fn from(block: Block<'a>) -> Self {
        Self {
            block,
            cache_control: None,
        }
    }
}

/// The system messages' texts, joined with a blank line: a string; with a cache
/// breakpoint, text blocks: the first message (the run's stable prompt: identity, tools,
/// workspace files) carrying the breakpoint, then the others (the volatile time note)
/// after it, so a new minute does not invalidate the cached prefix.
struct System<'a>(Vec<&'a str>, Option<CacheControl>);

impl Serialize for System<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some(cc) = self.1 {
            #[derive(Serialize)]
            struct TextBlock<'b> {
                #[serde(rename = "type")]
                kind: &'static str,
                text: System<'b>,
                #[serde(skip_serializing_if = "Option::is_none")]
                cache_control: Option<CacheControl>,
            }
            let (first, rest) = self
                .0
                .split_first()
                .map_or((&[][..], &[][..]), |(f, r)| (std::slice::from_ref(f), r));
            let mut blocks = vec![TextBlock {
                kind: "text",
                text: System(first.to_vec(), None),
                cache_control: Some(cc),
            }];
            if !rest.is_empty() {
                blocks.push(TextBlock {
                    kind: "text",
                    text: System(rest.to_vec(), None),
                    cache_control: None,
                });
            }
            return blocks.serialize(s);
        }
        struct Joined<'b>(&'b [&'b str]);
        impl std::fmt::Display for Joined<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                for (i, part) in self.0.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n\n")?;
                    }
                    f.write_str(part)?;
                }
                Ok(())
            }
        }
        s.collect_str(&Joined(&self.0))
    }
}

/// A tool call's arguments as the `tool_use` block's `input`: the arguments' JSON text as
/// it is when it is an object, else `{}`.
struct Input<'a>(Option<&'a RawValue>);

impl<'a> Input<'a> {
    fn parse(arguments: &'a str) -> Self {
        Self(
            serde_json::from_str::<&RawValue>(arguments)
                .ok()
                .filter(|raw| raw.get().starts_with('{')),
        )
    }
}

impl Serialize for Input<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(raw) => raw.serialize(s),
            None => serde::ser::SerializeMap::end(s.serialize_map(Some(0))?),
        }
    }
}

/// Whether `messages` end in a tool loop (tool results last) whose assistant message has
/// no signed thinking to start with.
fn unsigned_tool_loop(messages: &[ChatMessage]) -> bool {
    if messages.last().is_none_or(|m| m.role != "tool") {
        return false;
    }
    messages
        .iter()
        .rev()
        .find(|m| m.role == "assistant")
        .is_some_and(|m| {
            m.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
                && !m
                    .replay
                    .as_deref()
                    .is_some_and(|r| !r.items.is_empty() && signed(r))
        })
}

/// Whether `r` is Claude's signed thinking (`thinking` / `redacted_thinking` blocks, any
/// Claude model's), not another provider's items (the Responses API's reasoning, after a
/// fallback within the run).
fn signed(r: &Replay) -> bool {
    r.items.iter().all(|b| {
        matches!(
            b.get("type").and_then(Value::as_str),
            Some("thinking" | "redacted_thinking")
        )
    })
}

/// A tool call id as the API accepts it (`[A-Za-z0-9_-]+`): ids from another provider in
/// the history may hold other characters; both ends of a call map the same way.
fn tool_id(id: &str) -> Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !id.is_empty() && id.chars().all(ok) {
        Cow::Borrowed(id)
    } else if id.is_empty() {
        Cow::Borrowed("call")
    } else {
        Cow::Owned(id.chars().map(|c| if ok(c) { c } else { '_' }).collect())
    }
}

#[derive(Serialize)]
struct Source<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: Source<'a>,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: &'a str,
        input: Input<'a>,
    },
    ToolResult {
        tool_use_id: Cow<'a, str>,
        #[serde(skip_serializing_if = "str::is_empty")]
        content: &'a str,
    },
}

/// A message's content block: one of ours, or one the provider sent, sent back as it
/// was (a signed thinking block).
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Part(Part<'a>),
    Raw(&'a Value),
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Vec<Content<'a>>,
}

/// `thinking`: `{type: "enabled", budget_tokens}`, `{type: "adaptive"}` or `{type:
/// "disabled"}`.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ThinkingParam {
    Enabled { budget_tokens: u32 },
    Adaptive,
    Disabled,
}

/// `output_config: {effort}` (adaptive thinking's effort).
#[derive(Serialize)]
struct OutputConfig {
    effort: &'static str,
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<ThinkingParam>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutputConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<System<'a>>,
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

// === response ===

/// Our `finish_reason` for Anthropic's `stop_reason`.
fn finish_reason(stop_reason: &str) -> &str {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "tool_use" => "tool_calls",
        "max_tokens" => "length",
        other => other,
    }
}

/// Decodes a Messages API answer: `text` blocks joined into the content, `tool_use` blocks
/// as tool calls (their `input` as the JSON arguments); other blocks (thinking…) ignored.
fn parse_message(body: &[u8]) -> Result<ChatResponse, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({e}): {:?}",
            truncate(&String::from_utf8_lossy(body), 200)
        )
    })?;
    if v.get("type").and_then(Value::as_str) != Some("message") {
        return Err(format!("not a message: {}", truncate(&v.to_string(), 200)));
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or("the message has no content array")?;
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    let mut replay = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            // Kept for this run's next round, never shown.
            Some("thinking" | "redacted_thinking") => replay.push(block.clone()),
            Some("text") => {
                let t = block
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("text block {i} has no text"))?;
                text.get_or_insert_with(String::new).push_str(t);
            }
            Some("tool_use") => {
                let name = block
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("tool_use block {i} has no name"))?;
                let arguments = match block.get("input") {
                    None | Some(Value::Null) => "{}".to_owned(),
                    Some(input) => input.to_string(),
                };
                calls.push(ToolCall {
                    id: block
                        .get("id")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("toolu_{i}"), str::to_owned),
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: name.to_owned(),
                        arguments,
                    },
                });
            }
            _ => {}
        }
    }
    Ok(ChatResponse {
        message: ChatMessage {
            role: "assistant".into(),
            content: text,
            tool_calls: (!calls.is_empty()).then_some(calls),
            tool_call_id: None,
            images: Vec::new(),
            replay: (!replay.is_empty()).then(|| Replay::new(String::new(), replay)),
        },
        finish_reason: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(|r| finish_reason(r).to_owned()),
        usage: usage_of(v.get("usage")).unwrap_or_default(),
        model: None,
    })
}

/// Anthropic's `usage` (`input_tokens` excludes the cache's reads and writes).
fn usage_of(u: Option<&Value>) -> Option<openclaw_actors::ports::Usage> {
    let u = u.filter(|u| u.is_object())?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(openclaw_actors::ports::Usage {
        input: n("input_tokens"),
        output: n("output_tokens"),
        cache_read: n("cache_read_input_tokens"),
        cache_write: n("cache_creation_input_tokens"),
        cost: None,
        calls: 1,
    })
}

/// A streamed message so far (its events by their JSON `type`).
#[derive(Debug, Default)]
pub(crate) struct StreamFold {
    /// The content blocks by `index`.
    blocks: BTreeMap<u64, StreamBlock>,
    /// Ours, mapped from `stop_reason`.
    finish_reason: Option<String>,
    /// Bytes of text and tool input so far ([`sse::grow`]).
    size: usize,
    /// Every text piece handed out, in arrival order: the answer's text is exactly what
    /// was shown, even when a stream sends a block's text out of order or under an index
    /// reused by another block (found by the `model_stream` fuzz target).
    shown: String,
    /// `message_start`'s usage, its output count updated by `message_delta`.
    usage: Option<openclaw_actors::ports::Usage>,
}

/// A content block as its pieces arrive.
#[derive(Debug)]
enum StreamBlock {
    Text(String),
    ToolUse {
        id: Option<String>,
        name: Option<String>,
        /// The `input` of `content_block_start` (`{}` in Anthropic's streams).
        input: Option<Value>,
        /// The `input_json_delta` pieces, joined.
        json: String,
    },
    /// Thinking (its text and signature as they arrive): not shown, sent back in the
    /// run's next round.
    Thinking {
        thinking: String,
        signature: String,
    },
    /// Redacted thinking (its encrypted `data`), sent back likewise.
    Redacted(String),
    /// Server tools…: ignored.
    Other,
}

impl Fold for StreamFold {
    fn event(&mut self, data: &str, text: &dyn Fn(&str)) -> Result<Step, Failure> {
        let v: Value = serde_json::from_str(data).map_err(|e| sse::bad_event(data, e))?;
        let str_at = |ptr: &str| v.pointer(ptr).and_then(Value::as_str);
        let index = || v.get("index").and_then(Value::as_u64);
        match str_at("/type") {
            Some("message_start") => {
                if let Some(r) = str_at("/message/stop_reason") {
                    self.finish_reason = Some(finish_reason(r).to_owned());
                }
                if let Some(u) = usage_of(v.pointer("/message/usage")) {
                    self.usage = Some(u);
                }
            }
            Some("content_block_start") => {
                let index = index().unwrap_or(self.blocks.len() as u64);
                let block = match str_at("/content_block/type") {
                    Some("text") => {
                        let t = str_at("/content_block/text").unwrap_or_default();
                        sse::grow(&mut self.size, 1 + t.len())?;
                        if !t.is_empty() {
                            self.shown.push_str(t);
                            text(t);
                        }
                        StreamBlock::Text(t.to_owned())
                    }
                    Some("tool_use") => {
                        let id = str_at("/content_block/id");
                        let name = str_at("/content_block/name");
                        let input = v.pointer("/content_block/input").filter(|i| !i.is_null());
                        let input_len = input.map_or(0, |i| match i {
                            Value::Object(m) if m.is_empty() => 0,
                            other => other.to_string().len(),
                        });
                        let added =
                            1 + id.map_or(0, str::len) + name.map_or(0, str::len) + input_len;
                        sse::grow(&mut self.size, added)?;
                        StreamBlock::ToolUse {
                            id: id.map(str::to_owned),
                            name: name.map(str::to_owned),
                            input: input.cloned(),
                            json: String::new(),
                        }
                    }
                    Some("thinking") => {
                        let t = str_at("/content_block/thinking").unwrap_or_default();
                        let sig = str_at("/content_block/signature").unwrap_or_default();
                        sse::grow(&mut self.size, 1 + t.len() + sig.len())?;
                        StreamBlock::Thinking {
                            thinking: t.to_owned(),
                            signature: sig.to_owned(),
                        }
                    }
                    Some("redacted_thinking") => {
                        let d = str_at("/content_block/data").unwrap_or_default();
                        sse::grow(&mut self.size, 1 + d.len())?;
                        StreamBlock::Redacted(d.to_owned())
                    }
                    _ => StreamBlock::Other,
                };
                self.blocks.insert(index, block);
            }
            Some("content_block_delta") => {
                let index = index().unwrap_or(self.blocks.len().saturating_sub(1) as u64);
                match str_at("/delta/type") {
                    Some("text_delta") => {
                        let piece = str_at("/delta/text").unwrap_or_default();
                        let block = self
                            .blocks
                            .entry(index)
                            .or_insert_with(|| StreamBlock::Text(String::new()));
                        if let StreamBlock::Text(t) = block {
                            sse::grow(&mut self.size, piece.len())?;
                            t.push_str(piece);
                            if !piece.is_empty() {
                                self.shown.push_str(piece);
                                text(piece);
                            }
                        }
                    }
                    Some("input_json_delta") => {
                        let piece = str_at("/delta/partial_json").unwrap_or_default();
                        if let Some(StreamBlock::ToolUse { json, .. }) = self.blocks.get_mut(&index)
                        {
                            sse::grow(&mut self.size, piece.len())?;
                            json.push_str(piece);
                        }
                    }
                    Some(kind @ ("thinking_delta" | "signature_delta")) => {
                        let (key, ptr) = if kind == "thinking_delta" {
                            (0, "/delta/thinking")
                        } else {
                            (1, "/delta/signature")
                        };
                        let piece = str_at(ptr).unwrap_or_default();
                        if let Some(StreamBlock::Thinking {
                            thinking,
                            signature,
                        }) = self.blocks.get_mut(&index)
                        {
                            sse::grow(&mut self.size, piece.len())?;
                            if key == 0 {
                                thinking.push_str(piece);
                            } else {
                                signature.push_str(piece);
                            }
                        }
                    }
                    // citations_delta…
                    _ => {}
                }
            }
            Some("message_delta") => {
                if let Some(r) = str_at("/delta/stop_reason") {
                    self.finish_reason = Some(finish_reason(r).to_owned());
                }
                // The final counts: `output_tokens` always, the input ones on some routes.
                if let Some(d) = v.get("usage").filter(|u| u.is_object()) {
                    let u = self.usage.get_or_insert(openclaw_actors::ports::Usage {
                        calls: 1,
                        ..Default::default()
                    });
                    let n = |k: &str| d.get(k).and_then(Value::as_u64);
                    u.output = n("output_tokens").unwrap_or(u.output);
                    u.input = n("input_tokens").unwrap_or(u.input);
                    u.cache_read = n("cache_read_input_tokens").unwrap_or(u.cache_read);
                    u.cache_write = n("cache_creation_input_tokens").unwrap_or(u.cache_write);
                }
            }
            Some("message_stop") => return Ok(Step::Done),
            Some("error") => {
                let msg = retry::provider_message(data.as_bytes());
                return Err(Failure::Retry(ModelError::Unavailable(msg), None));
            }
            // ping, content_block_stop, future events.
            _ => {}
        }
        Ok(Step::More)
    }

    fn finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    fn answer(self) -> Result<ChatResponse, String> {
        let mut text: Option<String> = (!self.shown.is_empty()).then_some(self.shown);
        let mut calls = Vec::new();
        let mut replay = Vec::new();
        for (i, block) in self.blocks {
            match block {
                StreamBlock::Thinking {
                    thinking,
                    signature,
                } => replay.push(serde_json::json!({
                    "type": "thinking", "thinking": thinking, "signature": signature,
                })),
                StreamBlock::Redacted(data) => {
                    replay.push(serde_json::json!({"type": "redacted_thinking", "data": data}));
                }
                StreamBlock::Text(_) => {
                    text.get_or_insert_with(String::new);
                }
                StreamBlock::ToolUse {
                    id,
                    name,
                    input,
                    json,
                } => {
                    let name = name.ok_or_else(|| format!("tool_use block {i} has no name"))?;
                    let arguments = if json.trim().is_empty() {
                        input.map_or_else(|| "{}".to_owned(), |v| v.to_string())
                    } else {
                        match serde_json::from_str::<Value>(&json) {
                            Ok(v @ Value::Object(_)) => v.to_string(),
                            Ok(_) => {
                                return Err(format!("tool_use block {i}: input is not an object"));
                            }
                            Err(e) => {
                                return Err(format!("tool_use block {i}: input is not JSON: {e}"));
                            }
                        }
                    };
                    calls.push(ToolCall {
                        id: id.unwrap_or_else(|| format!("toolu_{i}")),
                        kind: "function".to_owned(),
                        function: FunctionCall { name, arguments },
                    });
                }
                StreamBlock::Other => {}
            }
        }
        Ok(ChatResponse {
            message: ChatMessage {
                role: "assistant".into(),
                content: text,
                tool_calls: (!calls.is_empty()).then_some(calls),
                tool_call_id: None,
                images: Vec::new(),
                replay: (!replay.is_empty()).then(|| Replay::new(String::new(), replay)),
            },
            finish_reason: self.finish_reason,
            usage: self.usage.unwrap_or_default(),
            model: None,
        })
    }
}

impl retry::Wire for AnthropicModel {
    type Fold = StreamFold;
    const PARSE: fn(&[u8]) -> Result<ChatResponse, String> = parse_message;

    fn wire_label(&self) -> String {
        format!("{}/{}", self.provider_id, self.model)
    }

    fn request(&self) -> awc::ClientRequest {
        AnthropicModel::request(self)
    }

    fn body(&self, req: &ChatRequest, stream: bool) -> serde_json::Result<Vec<u8>> {
        self.request_body(req, stream)
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn backoff(&self) -> &[Duration] {
        &self.backoff
    }

    fn key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }
}

impl ChatModel for AnthropicModel {
    fn label(&self) -> String {
        retry::Wire::wire_label(self)
    }

    fn reasons(&self) -> bool {
        self.reasoning
    }

    fn sees_images(&self) -> bool {
        self.images
    }

    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
        retry::stamped(retry::complete(self, req, None), self.label())
    }

    fn complete_streaming(
        &self,
        req: ChatRequest,
        sink: DeltaSink,
    ) -> LocalFut<Result<ChatResponse, ModelError>> {
        retry::stamped(retry::complete(self, req, Some(sink)), self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::ports::ToolSpec;
    use serde_json::json;
    use std::sync::Arc;

    /// A thinking level turns on extended thinking for a model that reasons: OpenClaw's
    /// budget, `max_tokens` raised by it, and the run's signed thinking blocks sent back
    /// first in their assistant message; `off`, no level or a model that does not reason:
    /// none of it.
    #[test]
    fn thinking_levels_set_the_budget_and_replay_the_signed_blocks() {
        let thought = json!({"type": "thinking", "thinking": "let me see", "signature": "SIG=="});
        let mut calling = ChatMessage::calling(
            Some("Checking.".into()),
            vec![ToolCall {
                id: "toolu_1".into(),
                kind: "function".into(),
                function: FunctionCall {
                    name: "nodes".into(),
                    arguments: "{}".into(),
                },
            }],
        );
        calling.replay = Some(Replay::new(String::new(), vec![thought.clone()]));
        let req = |thinking| ChatRequest {
            messages: vec![
                ChatMessage::text("user", "hi"),
                calling.clone(),
                ChatMessage::tool_result("toolu_1".into(), "[]".into()),
            ]
            .into(),
            tools: Default::default(),
            thinking,
            cache_key: None,
        };
        let body = |m: &AnthropicModel, r: &ChatRequest| -> Value {
            serde_json::from_slice(&m.request_body(r, false).expect("encodes")).expect("JSON")
        };
        let m = AnthropicModel::new("anthropic", "http://x", None, "claude-x", None)
            .with_thinking(true, Some(Thinking::Low));
        // The model's default level.
        let b = body(&m, &req(None));
        assert_eq!(
            b["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        assert_eq!(b["max_tokens"], 8192 + 2048);
        assert_eq!(b["messages"][1]["content"][0], thought, "{b}");
        assert_eq!(b["messages"][1]["content"][1]["type"], "text");
        assert_eq!(b["messages"][1]["content"][2]["type"], "tool_use");
        // Another provider's items (OpenAI's reasoning, before a fallback) never go.
        let mut theirs = req(None);
        Arc::make_mut(&mut theirs.messages)[1].replay = Some(Replay::new(
            "openai/gpt-5".into(),
            vec![
                json!({"type": "reasoning", "encrypted_content": "gAAA"}),
                thought.clone(),
            ],
        ));
        let b = body(&m, &theirs);
        assert_eq!(b["messages"][1]["content"][0]["type"], "text", "{b}");
        assert!(!b.to_string().contains("gAAA"), "{b}");
        // That round (its tool call has no signed thinking) goes without thinking, which
        // the API would refuse; so does one whose answer had none at all.
        assert_eq!(b["thinking"], json!({"type": "disabled"}), "{b}");
        assert_eq!(b["max_tokens"], 8192);
        let mut unsigned = req(None);
        Arc::make_mut(&mut unsigned.messages)[1].replay = None;
        assert_eq!(body(&m, &unsigned)["thinking"], json!({"type": "disabled"}));
        // A new turn after such a loop thinks again.
        let mut next = unsigned.clone();
        Arc::make_mut(&mut next.messages).push(ChatMessage::text("user", "thanks"));
        assert_eq!(body(&m, &next)["thinking"]["type"], "enabled");
        // The chat's level wins; xhigh is high here.
        let b = body(&m, &req(Some(Thinking::Xhigh)));
        assert_eq!(b["thinking"]["budget_tokens"], 16384);
        // Off: no thinking, and the blocks stay home.
        for b in [
            body(&m, &req(Some(Thinking::Off))),
            body(
                &m.clone().with_thinking(false, Some(Thinking::High)),
                &req(None),
            ),
            body(&m.clone().with_thinking(true, None), &req(None)),
        ] {
            assert_eq!(b.get("thinking"), None, "{b}");
            assert_eq!(b["max_tokens"], 8192);
            assert_eq!(b["messages"][1]["content"][0]["type"], "text", "{b}");
        }
    }

    #[test]
    fn claude_4_6_and_later_think_adaptively_with_an_effort() {
        use Adaptive::*;
        let kind = |m: &str| {
            let c = ClaudeThinking::of(m);
            (c.adaptive, c.xhigh, c.max)
        };
        for (model, expected) in [
            ("claude-sonnet-4-5-20250929", (No, false, false)),
            ("claude-3-7-sonnet-latest", (No, false, false)),
            ("claude-opus-4-1", (No, false, false)),
            ("claude-opus-4-60", (No, false, false)),
            ("claude-x", (No, false, false)),
            ("claude-sonnet-4-6", (ByDefault, false, true)),
            ("anthropic/claude-sonnet-4.6", (ByDefault, false, true)),
            ("claude-opus-4-6-20260205", (ByDefault, false, true)),
            ("us.anthropic.claude-opus-4-7-v1:0", (OnRequest, true, true)),
            ("claude-opus-4-8", (OnRequest, true, true)),
            ("claude-opus-5", (ByDefault, true, true)),
            ("CLAUDE-SONNET-5", (ByDefault, true, true)),
            ("opus", (ByDefault, true, true)),
            ("claude-opus-5-5", (Always, true, true)),
            ("claude-fable-5", (Always, true, true)),
            ("claude-mythos-preview", (Always, false, false)),
        ] {
            assert_eq!(kind(model), expected, "{model}");
        }
        let body = |model: &str, level: Option<Thinking>| -> Value {
            let m = AnthropicModel::new("anthropic", "http://x", None, model, None)
                .with_thinking(true, None);
            let req = ChatRequest {
                messages: vec![ChatMessage::text("user", "hi")].into(),
                tools: Default::default(),
                thinking: level,
                cache_key: None,
            };
            serde_json::from_slice(&m.request_body(&req, false).expect("encodes")).expect("JSON")
        };
        let shape = |b: &Value| {
            (
                b.get("thinking").cloned().unwrap_or(Value::Null),
                b.pointer("/output_config/effort")
                    .cloned()
                    .unwrap_or(Value::Null),
                b["max_tokens"].as_u64().unwrap_or(0),
            )
        };
        let adaptive = json!({"type": "adaptive"});
        let base = u64::from(DEFAULT_MAX_TOKENS);
        for (model, level, expected) in [
            // Opus 4.7: off unless asked; its own xhigh and max.
            ("claude-opus-4-7", None, (Value::Null, Value::Null, base)),
            (
                "claude-opus-4-7",
                Some(Thinking::Xhigh),
                (adaptive.clone(), json!("xhigh"), base + 16_384),
            ),
            (
                "claude-opus-4-7",
                Some(Thinking::Max),
                (adaptive.clone(), json!("max"), base + 16_384),
            ),
            (
                "claude-opus-4-7",
                Some(Thinking::Minimal),
                (adaptive.clone(), json!("low"), base + 1_024),
            ),
            (
                "claude-opus-4-7",
                Some(Thinking::Off),
                (json!({"type": "disabled"}), Value::Null, base),
            ),
            // Sonnet 4.6: adaptive by default; xhigh is its high.
            (
                "claude-sonnet-4-6",
                None,
                (adaptive.clone(), Value::Null, base + 16_384),
            ),
            (
                "claude-sonnet-4-6",
                Some(Thinking::Xhigh),
                (adaptive.clone(), json!("high"), base + 16_384),
            ),
            (
                "claude-sonnet-4-6",
                Some(Thinking::Adaptive),
                (adaptive.clone(), Value::Null, base + 16_384),
            ),
            (
                "claude-sonnet-4-6",
                Some(Thinking::Medium),
                (adaptive.clone(), json!("medium"), base + 8_192),
            ),
            // Opus 5.5 cannot stop thinking: off is its lowest effort.
            (
                "claude-opus-5-5",
                Some(Thinking::Off),
                (adaptive.clone(), json!("low"), base + 16_384),
            ),
            // A fixed budget for the others; adaptive is medium there, max is high.
            (
                "claude-sonnet-4-5",
                Some(Thinking::Adaptive),
                (
                    json!({"type": "enabled", "budget_tokens": 8192}),
                    Value::Null,
                    base + 8_192,
                ),
            ),
            (
                "claude-sonnet-4-5",
                Some(Thinking::Max),
                (
                    json!({"type": "enabled", "budget_tokens": 16384}),
                    Value::Null,
                    base + 16_384,
                ),
            ),
            ("claude-sonnet-4-5", None, (Value::Null, Value::Null, base)),
        ] {
            assert_eq!(shape(&body(model, level)), expected, "{model} {level:?}");
        }
    }

    #[test]
    fn thinking_blocks_of_an_answer_are_kept_for_the_next_round_never_shown() {
        let r = parse_message(
            br#"{"type":"message","content":[
                {"type":"thinking","thinking":"hmm","signature":"s1"},
                {"type":"redacted_thinking","data":"ENC"},
                {"type":"tool_use","id":"toolu_2","name":"nodes","input":{}}
            ],"stop_reason":"tool_use"}"#,
        )
        .expect("parses");
        assert_eq!(r.message.content, None);
        let replay = r.message.replay.expect("kept");
        assert_eq!(
            replay.items,
            vec![
                json!({"type":"thinking","thinking":"hmm","signature":"s1"}),
                json!({"type":"redacted_thinking","data":"ENC"}),
            ]
        );
    }

    #[test]
    fn prompt_caching_marks_system_last_tool_and_last_message_on_the_direct_api() {
        let req = ChatRequest {
            messages: vec![
                ChatMessage::text("system", "be brief"),
                ChatMessage::text("user", "hi"),
                ChatMessage::text("assistant", "hello"),
                ChatMessage::text("user", "and now?"),
            ]
            .into(),
            tools: vec![
                ToolSpec {
                    name: "a".into(),
                    description: "A".into(),
                    parameters: json!({"type": "object"}),
                },
                ToolSpec {
                    name: "b".into(),
                    description: "B".into(),
                    parameters: json!({"type": "object"}),
                },
            ]
            .into(),
            thinking: None,
            cache_key: None,
        };
        let body = |m: AnthropicModel| -> Value {
            serde_json::from_slice(&m.request_body(&req, false).unwrap()).unwrap()
        };
        let direct = AnthropicModel::new("anthropic", "https://api.anthropic.com", None, "c", None);
        let v = body(direct.clone().with_cache_retention(None));
        let cc = json!({"type": "ephemeral", "ttl": "5m"});
        assert_eq!(
            v["system"],
            json!([{"type": "text", "text": "be brief", "cache_control": cc}])
        );
        assert!(v["tools"][0].get("cache_control").is_none());
        assert_eq!(v["tools"][1]["cache_control"], cc);
        let msgs = v["messages"].as_array().unwrap();
        assert!(msgs[0]["content"][0].get("cache_control").is_none());
        assert_eq!(msgs[2]["content"][0]["text"], "and now?");
        assert_eq!(msgs[2]["content"][0]["cache_control"], cc);

        // The stable prompt carries the breakpoint; the volatile note follows it uncached.
        let mut two = req.clone();
        std::sync::Arc::make_mut(&mut two.messages)
            .insert(1, ChatMessage::text("system", "The current time is noon."));
        let v: Value = serde_json::from_slice(
            &direct
                .clone()
                .with_cache_retention(None)
                .request_body(&two, false)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            v["system"],
            json!([{"type": "text", "text": "be brief", "cache_control": cc},
                   {"type": "text", "text": "The current time is noon."}])
        );

        let long = body(direct.clone().with_cache_retention(Some("long")));
        assert_eq!(long["tools"][1]["cache_control"]["ttl"], "1h");
        // Off: the body is exactly the uncached one (a plain system string).
        let off = body(direct.clone().with_cache_retention(Some("none")));
        assert_eq!(off["system"], "be brief");
        assert_eq!(off, body(direct));
        // A compatible endpoint gets no breakpoints unless asked.
        let proxy = AnthropicModel::new(
            "minimax",
            "https://api.minimax.io/anthropic",
            None,
            "m",
            None,
        );
        let v = body(proxy.clone().with_cache_retention(None));
        assert!(!v.to_string().contains("cache_control"), "{v}");
        let v = body(proxy.with_cache_retention(Some("short")));
        assert_eq!(v["tools"][1]["cache_control"]["ttl"], "5m");
    }

    fn model() -> AnthropicModel {
        AnthropicModel::new(
            "anthropic",
            "https://api.anthropic.com",
            None,
            "claude",
            None,
        )
    }

    fn body(m: &AnthropicModel, messages: Vec<ChatMessage>, tools: Vec<ToolSpec>) -> Value {
        serde_json::from_slice(
            &m.request_body(
                &ChatRequest {
                    messages: messages.into(),
                    tools: tools.into(),
                    thinking: None,
                    cache_key: None,
                },
                false,
            )
            .unwrap(),
        )
        .unwrap()
    }

    fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            kind: "function".into(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }

    fn tool_result(id: &str, text: &str) -> ChatMessage {
        ChatMessage {
            role: "tool".into(),
            content: Some(text.into()),
            tool_call_id: Some(id.into()),
            ..Default::default()
        }
    }

    #[test]
    fn endpoint_with_and_without_v1() {
        let at = |base: &str| AnthropicModel::new("p", base, None, "m", None).endpoint();
        assert_eq!(
            at("https://api.anthropic.com"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            at("https://api.anthropic.com/"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            at("https://api.anthropic.com/v1"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            at("https://api.anthropic.com/v1/"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            at("https://api.minimax.io/anthropic"),
            "https://api.minimax.io/anthropic/v1/messages"
        );
    }

    #[test]
    fn debug_and_label_hide_the_key() {
        let m = AnthropicModel::new(
            "anthropic",
            "https://api.anthropic.com",
            Some("sk-ant-VERYSECRET".into()),
            "claude-sonnet-4-5",
            None,
        );
        let dbg = format!("{m:?}");
        assert!(!dbg.contains("VERYSECRET"), "{dbg}");
        assert_eq!(m.label(), "anthropic/claude-sonnet-4-5");
        assert_eq!(m.model(), "claude-sonnet-4-5");
        assert_eq!(
            retry::scrub("bad key sk-ant-VERYSECRET", retry::Wire::key(&m)),
            "bad key <redacted>"
        );
        // An empty key is no key.
        let m = AnthropicModel::new("p", "http://x", Some(String::new()), "m", None);
        assert!(format!("{m:?}").contains("api_key: None"));
    }

    #[test]
    fn body_joins_system_and_defaults_max_tokens() {
        let b = body(
            &model(),
            vec![
                ChatMessage::text("system", "be brief"),
                ChatMessage::text("system", "now: noon"),
                ChatMessage::text("user", "hi"),
            ],
            vec![],
        );
        assert_eq!(
            b,
            json!({"model": "claude", "max_tokens": 8192, "system": "be brief\n\nnow: noon",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
        );
        let b = body(
            &model().with_max_tokens(100),
            vec![ChatMessage::text("user", "hi")],
            vec![],
        );
        assert_eq!(b["max_tokens"], 100);
        assert!(b.get("system").is_none(), "{b}");
        assert!(b.get("tools").is_none(), "{b}");
    }

    #[test]
    fn body_tools_use_input_schema() {
        let b = body(
            &model(),
            vec![ChatMessage::text("user", "hi")],
            vec![ToolSpec {
                name: "t".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}),
            }],
        );
        assert_eq!(
            b["tools"],
            json!([{"name": "t", "description": "d", "input_schema": {"type": "object"}}])
        );
        assert!(b.get("tool_choice").is_none());
    }

    #[test]
    fn body_merges_tool_results_into_one_user_message() {
        let mut assistant = ChatMessage::text("assistant", "let me look");
        assistant.tool_calls = Some(vec![
            call("toolu_1", "nodes", r#"{"action":"status"}"#),
            call("toolu_2", "cron", r#" {"action": "list"} "#),
        ]);
        let mut photo = ChatMessage::text("user", "[the photo]");
        photo.images = vec![ImagePart {
            mime: "image/jpeg",
            base64: "/9j/".into(),
        }];
        let b = body(
            &model().with_images(true),
            vec![
                ChatMessage::text("system", "s"),
                ChatMessage::text("user", "status?"),
                assistant,
                tool_result("toolu_1", r#"{"ok":true}"#),
                tool_result("toolu_2", ""),
                photo,
                ChatMessage::text("assistant", "all fine"),
            ],
            vec![],
        );
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "status?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "let me look"},
                    {"type": "tool_use", "id": "toolu_1", "name": "nodes", "input": {"action": "status"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "cron", "input": {"action": "list"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "{\"ok\":true}"},
                    {"type": "tool_result", "tool_use_id": "toolu_2"},
                    {"type": "text", "text": "[the photo]"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
                ]},
                {"role": "assistant", "content": [{"type": "text", "text": "all fine"}]},
            ])
        );
    }

    #[test]
    fn body_tool_use_input_falls_back_to_an_empty_object() {
        let assistant = ChatMessage {
            role: "assistant".into(),
            tool_calls: Some(vec![
                call("a", "f", "not json"),
                call("b", "f", "[1, 2]"),
                call("c", "f", ""),
                call("d", "f", r#"{"x": "y\"z", "n": [1]}"#),
                call("call:0", "f", "{}"),
            ]),
            ..Default::default()
        };
        let b = body(&model(), vec![assistant], vec![]);
        // An assistant message may come first.
        assert_eq!(b["messages"][0]["role"], "assistant");
        let blocks = b["messages"][0]["content"].as_array().unwrap();
        let inputs: Vec<&Value> = blocks.iter().map(|b| &b["input"]).collect();
        assert_eq!(
            inputs,
            [
                &json!({}),
                &json!({}),
                &json!({}),
                &json!({"x": "y\"z", "n": [1]}),
                &json!({})
            ]
        );
        assert_eq!(blocks[0]["type"], "tool_use");
        assert_eq!(blocks[4]["id"], "call_0");
    }

    #[test]
    fn body_omits_empty_text_and_empty_messages() {
        let mut assistant = ChatMessage::text("assistant", "");
        assistant.tool_calls = Some(vec![call("t1", "f", "{}")]);
        let b = body(
            &model(),
            vec![
                ChatMessage::text("system", " "),
                ChatMessage::text("user", "first"),
                ChatMessage::text("user", "  \n"),
                ChatMessage::default(),
                ChatMessage::text("user", "second"),
                assistant,
                ChatMessage::text("assistant", ""),
            ],
            vec![],
        );
        assert!(b.get("system").is_none(), "{b}");
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            ])
        );
    }

    #[test]
    fn body_images_only_when_the_model_sees_them() {
        let mut shown = ChatMessage::text("user", "look");
        shown.images = vec![ImagePart {
            mime: "image/png",
            base64: "iVBO".into(),
        }];
        let only_image = ChatMessage {
            role: "user".into(),
            images: shown.images.clone(),
            ..Default::default()
        };
        let messages = vec![shown, ChatMessage::text("assistant", "ok"), only_image];
        assert!(!model().sees_images());
        let b = body(&model(), messages.clone(), vec![]);
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "look"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            ])
        );
        let m = model().with_images(true);
        assert!(m.sees_images());
        let image = json!({"type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}});
        let b = body(&m, messages, vec![]);
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "look"}, image]},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                {"role": "user", "content": [image]},
            ])
        );
    }

    #[test]
    fn parses_text_and_tool_use_and_ignores_thinking() {
        let r = parse_message(
            br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[
                {"type":"thinking","thinking":"hmm","signature":"x"},
                {"type":"text","text":"Let me "},
                {"type":"redacted_thinking","data":"zzz"},
                {"type":"text","text":"check."},
                {"type":"tool_use","id":"toolu_9","name":"nodes","input":{"action":"status","n":[1]}},
                {"type":"server_tool_use","id":"srv","name":"web_search","input":{}}
            ],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(r.message.role, "assistant");
        assert_eq!(r.message.content.as_deref(), Some("Let me check."));
        let calls = r.message.tool_calls.unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].id, "toolu_9");
        assert_eq!(calls[0].kind, "function");
        assert_eq!(calls[0].function.name, "nodes");
        let args: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
        assert_eq!(args, json!({"action": "status", "n": [1]}));
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));

        // Only tool calls: no content.
        let r = parse_message(
            br#"{"type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"tool_use"}"#,
        )
        .unwrap();
        assert_eq!(r.message.content, None);
        assert_eq!(r.message.tool_calls.unwrap()[0].function.arguments, "{}");
    }

    #[test]
    fn maps_stop_reasons() {
        let reason = |stop: &str| {
            let body = json!({"type": "message", "content": [{"type": "text", "text": "x"}],
                "stop_reason": stop});
            parse_message(body.to_string().as_bytes())
                .unwrap()
                .finish_reason
                .unwrap()
        };
        assert_eq!(reason("end_turn"), "stop");
        assert_eq!(reason("stop_sequence"), "stop");
        assert_eq!(reason("tool_use"), "tool_calls");
        assert_eq!(reason("max_tokens"), "length");
        assert_eq!(reason("refusal"), "refusal");
        let r = parse_message(br#"{"type":"message","content":[],"stop_reason":null}"#).unwrap();
        assert_eq!(r.finish_reason, None);
        assert_eq!(r.message.content, None);
        assert_eq!(r.message.tool_calls, None);
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert!(parse_message(b"<html>").is_err());
        assert!(parse_message(b"{}").is_err());
        assert!(parse_message(br#"{"type":"message"}"#).is_err());
        assert!(parse_message(br#"{"type":"message","content":"hi"}"#).is_err());
        assert!(
            parse_message(
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            )
            .is_err()
        );
        assert!(
            parse_message(br#"{"choices":[{"message":{"role":"assistant","content":"hi"}}]}"#)
                .is_err()
        );
        assert!(
            parse_message(br#"{"type":"message","content":[{"type":"tool_use","id":"t"}]}"#)
                .is_err()
        );
        assert_eq!(
            retry::provider_message(
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            "Overloaded"
        );
    }

    /// Folds `events` (an event's data each) until one ends the stream: the text pieces
    /// handed out, whether `message_stop` came, and the fold.
    fn fold(events: &[&str]) -> (Vec<String>, bool, StreamFold) {
        let pieces = std::cell::RefCell::new(Vec::new());
        let mut f = StreamFold::default();
        let mut done = false;
        for e in events {
            let step = f
                .event(e, &|t| pieces.borrow_mut().push(t.to_owned()))
                .unwrap_or_else(|_| panic!("event {e} fails"));
            if step == Step::Done {
                done = true;
                break;
            }
        }
        (pieces.into_inner(), done, f)
    }

    #[test]
    fn stream_body_only_when_streaming() {
        let m = model();
        let req = ChatRequest {
            messages: vec![ChatMessage::text("user", "hi")].into(),
            tools: Default::default(),
            thinking: None,
            cache_key: None,
        };
        let plain = String::from_utf8(m.request_body(&req, false).unwrap()).unwrap();
        assert!(!plain.contains("stream"), "{plain}");
        let streamed: Value = serde_json::from_slice(&m.request_body(&req, true).unwrap()).unwrap();
        assert_eq!(streamed["stream"], true);
        assert_eq!(
            serde_json::from_str::<Value>(&plain).unwrap(),
            json!({"model": "claude", "max_tokens": DEFAULT_MAX_TOKENS,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
        );
    }

    #[test]
    fn stream_text_tool_use_and_thinking() {
        let (pieces, done, f) = fold(&[
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"usage":{"input_tokens":1,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":"Let "}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"me "}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"chéck."}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_9","name":"nodes","input":{}}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"action\": \"sta"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"tus\", \"n\": [1]}"}}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            r#"{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_10","name":"noargs","input":{}}}"#,
            r#"{"type":"content_block_stop","index":3}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_stop"}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"after the end"}}"#,
        ]);
        assert!(done);
        assert_eq!(pieces, ["Let ", "me ", "chéck."]);
        let r = f.answer().expect("answer");
        let whole = parse_message(
            br#"{"type":"message","content":[
                {"type":"thinking","thinking":"hmm","signature":"sig"},
                {"type":"text","text":"Let me ch\u00e9ck."},
                {"type":"tool_use","id":"toolu_9","name":"nodes","input":{"action":"status","n":[1]}},
                {"type":"tool_use","id":"toolu_10","name":"noargs","input":{}}
            ],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":9}}"#,
        )
        .unwrap();
        // The same answer, usage included (`message_delta` has the final output count).
        assert_eq!(r, whole);
        assert_eq!((r.usage.input, r.usage.output, r.usage.calls), (1, 9, 1));
        assert_eq!(r.message.content.as_deref(), Some("Let me chéck."));
        let calls = r.message.tool_calls.unwrap();
        assert_eq!(calls[1].function.arguments, "{}");
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn stream_stop_reasons_map_like_whole_answers() {
        for (stop, ours) in [
            ("end_turn", "stop"),
            ("tool_use", "tool_calls"),
            ("max_tokens", "length"),
            ("refusal", "refusal"),
        ] {
            let delta =
                json!({"type": "message_delta", "delta": {"stop_reason": stop}}).to_string();
            let (_, done, f) = fold(&[
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#,
                &delta,
            ]);
            assert!(!done);
            assert!(f.finished(), "a stop reason makes the answer whole");
            assert_eq!(f.answer().unwrap().finish_reason.as_deref(), Some(ours));
        }
        // Cut before any stop reason: not finished.
        let (pieces, _, f) = fold(&[
            r#"{"type":"message_start","message":{"type":"message","content":[],"stop_reason":null}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"cu"}}"#,
        ]);
        assert_eq!(pieces, ["cu"]);
        assert!(!f.finished());
    }

    #[test]
    fn stream_errors_and_bad_input() {
        let mut f = StreamFold::default();
        let e = f.event(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            &|_| {},
        );
        assert!(
            matches!(e, Err(Failure::Retry(ModelError::Unavailable(ref m), None)) if m == "Overloaded")
        );
        let e = f.event(
            r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
            &|_| {},
        );
        assert!(matches!(
            e,
            Err(Failure::Retry(ModelError::Unavailable(_), None))
        ));
        assert!(matches!(
            f.event("not json", &|_| {}),
            Err(Failure::Fatal(ModelError::BadResponse(_)))
        ));
        for partial in [r#"{\"a\": "#, "[1, 2]"] {
            let delta = json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": partial}})
            .to_string();
            let (_, _, f) = fold(&[
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#,
                &delta,
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"}}"#,
            ]);
            assert!(f.answer().is_err(), "{partial}");
        }
        let (_, _, f) = fold(&[
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","input":{}}}"#,
        ]);
        assert!(f.answer().is_err_and(|e| e.contains("no name")));
    }
}
