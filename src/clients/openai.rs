//! An OpenAI-compatible chat-completions client: [`OpenAiModel`] implements
//! [`ChatModel`](crate::actors::ports::ChatModel).
//!
//! `POST {base_url}/chat/completions` with `Authorization: Bearer <key>` when a key is
//! configured: non-streaming ([`ChatModel::complete`]), or with `"stream": true`
//! ([`ChatModel::complete_streaming`]: the chunks' `delta.content` pieces go to the sink as
//! they arrive, `delta.tool_calls` pieces are joined by `index`, `data: [DONE]` ends; a
//! provider that answers with plain JSON instead is read as usual). 429, 5xx, timeouts and network errors are retried (at most
//! [`MAX_ATTEMPTS`] requests, backoff 500 ms then 1 s, or the provider's `Retry-After`
//! capped at 30 s); other 4xx are not. The API key never appears in errors, logs or `Debug`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;

use super::retry::{self, Failure};
use super::sse::{self, Fold, Step};
use super::{http_client, truncate};
use crate::actors::ports::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, DeltaSink, FunctionCall, LocalFut,
    ModelError, Replay, ToolCall,
};

pub use super::retry::{DEFAULT_TIMEOUT, MAX_ATTEMPTS};

#[cfg(test)]
use super::retry::{MAX_RETRY_AFTER, provider_message, retry_after};

/// An OpenAI-compatible chat model (`provider/model`).
#[derive(Clone)]
pub struct OpenAiModel {
    pub(super) provider_id: String,
    pub(super) base_url: String,
    pub(super) api_key: Option<String>,
    pub(super) model: String,
    pub(super) timeout: Duration,
    pub(super) backoff: Vec<Duration>,
    /// The model sees images (`input` lists `image`).
    pub(super) images: bool,
    /// Extra request headers (`models.providers.<id>.headers`), sent after ours.
    headers: Vec<(String, String)>,
    /// Longest answer, when configured (`max_tokens`; `max_completion_tokens` at
    /// api.openai.com, whose current models refuse the older name).
    pub(super) max_tokens: Option<u32>,
    /// Send the conversation's `prompt_cache_key` (api.openai.com only; off with
    /// `params.cacheRetention: "none"`).
    pub(super) cache_key: bool,
    /// The model reasons: a thinking level applies to it (`reasoning_effort`).
    pub(super) reasoning: bool,
    /// Its thinking level when a request names none.
    pub(super) thinking: Option<crate::actors::ports::Thinking>,
    /// Ask for the usage chunk when streaming (`stream_options.include_usage`); turned off
    /// for good when the endpoint refuses the field (shared by the clones of this client).
    stream_usage: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The tool lists sent, encoded (shared by the clones; the Responses API's too, in its
    /// own shape).
    pub(super) tools_json: super::tools_json::ToolsJson,
}

impl std::fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiModel")
            .field("provider_id", &self.provider_id)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("headers", &self.headers.len())
            .finish()
    }
}

impl OpenAiModel {
    /// A model `model` of provider `provider_id` at `base_url` (e.g.
    /// `https://api.openai.com/v1`; a trailing slash is tolerated). `timeout` bounds each
    /// HTTP request ([`DEFAULT_TIMEOUT`] when `None`).
    pub fn new(
        provider_id: impl Into<String>,
        base_url: &str,
        api_key: Option<String>,
        model: impl Into<String>,
        timeout: Option<Duration>,
    ) -> Self {
        Self {
            provider_id: provider_id.into(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.filter(|k| !k.is_empty()),
            model: model.into(),
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            backoff: retry::default_backoff(),
            images: false,
            headers: Vec::new(),
            max_tokens: None,
            reasoning: false,
            thinking: None,
            cache_key: true,
            stream_usage: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            tools_json: Default::default(),
        }
    }

    /// Whether a streamed answer asks for its usage chunk (`stream_options: {include_usage:
    /// true}`; the model entry's `compat.supportsUsageInStreaming`, default `true`).
    pub fn with_stream_usage(self, on: bool) -> Self {
        self.stream_usage
            .store(on, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Whether the model sees images (its config's `input` lists `image`): user messages
    /// with images go as content parts (`text` + `image_url` data URLs).
    pub fn with_images(mut self, images: bool) -> Self {
        self.images = images;
        self
    }

    /// Whether the model reasons, and its thinking level when a request names none: a
    /// level other than `off` goes as `reasoning_effort` (the Responses API's
    /// `reasoning.effort`); `off` and models that do not reason send nothing.
    pub fn with_thinking(
        mut self,
        reasoning: bool,
        default: Option<crate::actors::ports::Thinking>,
    ) -> Self {
        self.reasoning = reasoning;
        self.thinking = default;
        self
    }

    /// Whether requests carry the conversation's `prompt_cache_key` (OpenAI's prompt-cache
    /// routing, which keeps a long conversation's prefix on one cache): only at
    /// api.openai.com (other endpoints may refuse the field), and not with
    /// `params.cacheRetention: "none"`.
    pub fn with_cache_key(mut self, on: bool) -> Self {
        self.cache_key = on;
        self
    }

    /// The `prompt_cache_key` of `req`, if it goes.
    pub(super) fn cache_key<'a>(&self, req: &'a ChatRequest) -> Option<&'a str> {
        let native = self.base_url.starts_with("https://api.openai.com/");
        req.cache_key
            .as_deref()
            .filter(|_| native && self.cache_key)
    }

    /// The reasoning effort of `req`, if any.
    pub(super) fn effort(&self, req: &ChatRequest) -> Option<&'static str> {
        if !self.reasoning {
            return None;
        }
        req.thinking.or(self.thinking).and_then(|t| t.effort())
    }

    /// The longest answer in tokens (`None`: the provider's default).
    pub fn with_max_tokens(mut self, max_tokens: Option<u32>) -> Self {
        self.max_tokens = max_tokens;
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

    /// The model name sent in requests.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }

    /// The JSON request body for `req`, encoded in one pass (no intermediate `Value`: with
    /// a long history this was most of the client's allocations); with `"stream": true`
    /// when `stream` (absent otherwise).
    pub fn request_body(&self, req: &ChatRequest, stream: bool) -> serde_json::Result<Vec<u8>> {
        #[derive(serde::Serialize)]
        struct Function<'a> {
            name: &'a str,
            description: &'a str,
            parameters: &'a Value,
        }
        #[derive(serde::Serialize)]
        struct Tool<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            function: Function<'a>,
        }
        #[derive(serde::Serialize)]
        struct ImageUrl<'a> {
            url: DataUrl<'a>,
        }
        #[derive(serde::Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Part<'a> {
            Text { text: &'a str },
            ImageUrl { image_url: ImageUrl<'a> },
        }
        #[derive(serde::Serialize)]
        #[serde(untagged)]
        enum Content<'a> {
            Text(&'a str),
            Parts(Vec<Part<'a>>),
        }
        #[derive(serde::Serialize)]
        struct GoogleExtra<'a> {
            thought_signature: &'a str,
        }
        #[derive(serde::Serialize)]
        struct Extra<'a> {
            google: GoogleExtra<'a>,
        }
        #[derive(serde::Serialize)]
        struct Call<'a> {
            #[serde(flatten)]
            call: &'a ToolCall,
            #[serde(skip_serializing_if = "Option::is_none")]
            extra_content: Option<Extra<'a>>,
        }
        #[derive(serde::Serialize)]
        #[serde(untagged)]
        enum Calls<'a> {
            Plain(&'a [ToolCall]),
            Signed(Vec<Call<'a>>),
        }
        #[derive(serde::Serialize)]
        struct Message<'a> {
            role: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            content: Option<Content<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_calls: Option<Calls<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_call_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            reasoning_details: Option<&'a Value>,
        }
        #[derive(serde::Serialize)]
        struct Body<'a> {
            model: &'a str,
            messages: Vec<Message<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tools: Option<&'a RawValue>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_choice: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            max_tokens: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            max_completion_tokens: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            reasoning_effort: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            prompt_cache_key: Option<&'a str>,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            stream: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            stream_options: Option<StreamOptions>,
        }
        #[derive(serde::Serialize)]
        struct StreamOptions {
            include_usage: bool,
        }
        let tools = self.tools_json.get(&req.tools, ("chat", None), |tools| {
            tools
                .iter()
                .map(|t| Tool {
                    kind: "function",
                    function: Function {
                        name: &t.name,
                        description: &t.description,
                        parameters: &t.parameters,
                    },
                })
                .collect::<Vec<_>>()
        })?;
        let stand_in = self.stand_in_signature();
        let messages = req
            .messages
            .iter()
            .map(|m| {
                let text = m.content.as_deref();
                let content = if m.images.is_empty() {
                    text.map(Content::Text)
                } else {
                    let mut parts: Vec<Part<'_>> =
                        text.map(|t| Part::Text { text: t }).into_iter().collect();
                    parts.extend(m.images.iter().map(|i| Part::ImageUrl {
                        image_url: ImageUrl { url: DataUrl(i) },
                    }));
                    Some(Content::Parts(parts))
                };
                // This model's own reasoning of the run, sent back with its calls: Gemini's
                // thought signatures (`extra_content.google`), OpenRouter's
                // `reasoning_details`. Gemini 3 at Google's endpoint refuses a call without a
                // signature: one another model made gets Google's documented stand-in.
                let own = m
                    .replay
                    .as_deref()
                    .filter(|r| r.is_from(&self.provider_id, &self.model))
                    .and_then(|r| r.items.first());
                let signature = |id: &str| {
                    own.and_then(|o| o.pointer("/signatures")?.get(id)?.as_str())
                        .or(stand_in)
                };
                let tool_calls = m.tool_calls.as_deref().map(|calls| {
                    if calls.iter().any(|c| signature(&c.id).is_some()) {
                        Calls::Signed(
                            calls
                                .iter()
                                .map(|call| Call {
                                    call,
                                    extra_content: signature(&call.id).map(|thought_signature| {
                                        Extra {
                                            google: GoogleExtra { thought_signature },
                                        }
                                    }),
                                })
                                .collect(),
                        )
                    } else {
                        Calls::Plain(calls)
                    }
                });
                Message {
                    role: &m.role,
                    content,
                    tool_calls,
                    tool_call_id: m.tool_call_id.as_deref(),
                    reasoning_details: own.and_then(|o| o.get("reasoning_details")),
                }
            })
            .collect();
        let native = self.base_url.starts_with("https://api.openai.com/");
        let body = Body {
            model: &self.model,
            messages,
            tool_choice: tools.is_some().then_some("auto"),
            tools: tools.as_deref(),
            max_tokens: self.max_tokens.filter(|_| !native),
            max_completion_tokens: self.max_tokens.filter(|_| native),
            reasoning_effort: self.effort(req),
            prompt_cache_key: self.cache_key(req),
            stream,
            stream_options: (stream
                && self.stream_usage.load(std::sync::atomic::Ordering::Relaxed))
            .then_some(StreamOptions {
                include_usage: true,
            }),
        };
        let mut out = Vec::with_capacity(256 + req.messages.len() * 128);
        serde_json::to_writer(&mut out, &body)?;
        Ok(out)
    }

    /// The request, headers set.
    fn request(&self) -> awc::ClientRequest {
        self.post(self.endpoint())
    }

    /// The thought signature a tool call without its own gets: Google's documented
    /// stand-in, for Gemini 3 and later at Google's OpenAI-compatible endpoint (which
    /// refuses such calls without one); `None` elsewhere.
    fn stand_in_signature(&self) -> Option<&'static str> {
        let google = self.base_url.contains("generativelanguage.googleapis.com");
        let version = self
            .model
            .rsplit('/')
            .next()
            .and_then(|m| m.strip_prefix("gemini-"))
            .and_then(|rest| rest.split(['-', '.']).next())
            .and_then(|v| v.parse::<u32>().ok());
        (google && version.is_some_and(|v| v >= 3)).then_some(GEMINI_SIGNATURE_STAND_IN)
    }

    /// A `POST` to `url` with this provider's headers (its key as a bearer token, then the
    /// configured ones) and timeout.
    pub(super) fn post(&self, url: String) -> awc::ClientRequest {
        let mut req = http_client()
            .post(url)
            .timeout(self.timeout)
            .content_type("application/json");
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        for (k, v) in &self.headers {
            req = req.insert_header((k.as_str(), v.as_str()));
        }
        req
    }
}

/// `data:<mime>;base64,<data>`, written straight into a request body (no copy of the image
/// per request).
pub(super) struct DataUrl<'a>(pub(super) &'a crate::actors::ports::ImagePart);

impl serde::Serialize for DataUrl<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!(
            "data:{};base64,{}",
            self.0.mime, self.0.base64
        ))
    }
}

/// Text content: a string, `null`, or an array of `{type:"text", text}` parts (joined).
fn parse_content(v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(parts)) => Ok(Some(
            parts
                .iter()
                .filter_map(|p| match p {
                    Value::String(s) => Some(s.as_str()),
                    _ if p.get("type").and_then(Value::as_str).unwrap_or("text") == "text" => {
                        p.get("text").and_then(Value::as_str)
                    }
                    _ => None,
                })
                .collect::<String>(),
        )),
        Some(other) => Err(format!(
            "message content is neither text nor parts: {other}"
        )),
    }
}

/// Google's documented stand-in for a missing thought signature.
const GEMINI_SIGNATURE_STAND_IN: &str = "skip_thought_signature_validator";

/// A tool call's thought signature (Gemini's, in `extra_content.google`, or as some
/// proxies pass it, on the call or its function).
fn thought_signature(call: &Value) -> Option<&str> {
    [
        call.pointer("/extra_content/google/thought_signature"),
        call.pointer("/function/thought_signature"),
        call.get("thought_signature"),
    ]
    .into_iter()
    .flatten()
    .find_map(Value::as_str)
    .filter(|s| !s.is_empty())
}

/// What an answer must send back in the run's next rounds (see [`Replay`]): its calls'
/// thought signatures by call id, and OpenRouter's `reasoning_details`; `None` when there
/// is neither. Marked as the model's by [`OpenAiModel`]'s `complete`.
fn replay_of(
    signatures: serde_json::Map<String, Value>,
    reasoning_details: Option<Value>,
) -> Option<std::sync::Arc<Replay>> {
    let details = reasoning_details.filter(|d| d.as_array().is_some_and(|a| !a.is_empty()));
    if signatures.is_empty() && details.is_none() {
        return None;
    }
    let mut item = serde_json::Map::new();
    item.insert("signatures".into(), Value::Object(signatures));
    if let Some(d) = details {
        item.insert("reasoning_details".into(), d);
    }
    Some(Replay::new(String::new(), vec![Value::Object(item)]))
}

fn parse_tool_calls(v: Option<&Value>) -> Result<Option<Vec<ToolCall>>, String> {
    let items = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("tool_calls is not an array: {other}")),
    };
    let mut calls = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let function = item
            .get("function")
            .ok_or_else(|| format!("tool call {i} has no function"))?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("tool call {i} has no function name"))?;
        let arguments = match function.get("arguments") {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        calls.push(ToolCall {
            id: item
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{i}"), str::to_owned),
            kind: item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("function")
                .to_owned(),
            function: FunctionCall {
                name: name.to_owned(),
                arguments,
            },
        });
    }
    Ok((!calls.is_empty()).then_some(calls))
}

/// Decodes a chat completion (`choices[0]`).
fn parse_completion(body: &[u8]) -> Result<ChatResponse, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({e}): {:?}",
            truncate(&String::from_utf8_lossy(body), 200)
        )
    })?;
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| format!("no choices in {}", truncate(&v.to_string(), 200)))?;
    let message = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or("choices[0] has no message")?;
    let tool_calls = parse_tool_calls(message.get("tool_calls"))?;
    let raw_calls = message.get("tool_calls").and_then(Value::as_array);
    let signatures = tool_calls
        .iter()
        .flatten()
        .zip(raw_calls.into_iter().flatten())
        .filter_map(|(c, raw)| Some((c.id.clone(), Value::from(thought_signature(raw)?))))
        .collect();
    Ok(ChatResponse {
        message: ChatMessage {
            role: ChatMessage::role_of(
                message
                    .get("role")
                    .and_then(Value::as_str)
                    .unwrap_or("assistant"),
            ),
            content: parse_content(message.get("content"))?,
            tool_calls,
            tool_call_id: None,
            images: Vec::new(),
            replay: replay_of(signatures, message.get("reasoning_details").cloned()),
        },
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        usage: usage_of(v.get("usage")).unwrap_or_default(),
        model: None,
    })
}

/// OpenAI's `usage` (`prompt_tokens` includes the cached ones, reported in
/// `prompt_tokens_details.cached_tokens`).
pub(crate) fn usage_of(u: Option<&Value>) -> Option<openclaw_actors::ports::Usage> {
    let u = u.filter(|u| u.is_object())?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cached = u
        .pointer("/prompt_tokens_details/cached_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(openclaw_actors::ports::Usage {
        input: n("prompt_tokens").saturating_sub(cached),
        output: n("completion_tokens"),
        cache_read: cached,
        cache_write: 0,
        cost: None,
        calls: 1,
    })
}

/// A streamed completion so far (`chat.completion.chunk` events).
#[derive(Debug, Default)]
pub(crate) struct StreamFold {
    role: Option<String>,
    /// `None` until a `content` string arrives.
    text: Option<String>,
    /// By `index`.
    calls: BTreeMap<u64, PartialCall>,
    finish_reason: Option<String>,
    /// Bytes of text and tool calls so far ([`sse::grow`]).
    size: usize,
    /// The usage chunk's (`stream_options.include_usage`).
    usage: Option<openclaw_actors::ports::Usage>,
    /// OpenRouter's `reasoning_details` pieces, in order.
    reasoning_details: Vec<Value>,
}

/// A tool call as its pieces arrive.
#[derive(Debug, Default)]
struct PartialCall {
    id: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    /// `None` until an `arguments` piece arrives.
    arguments: Option<String>,
    /// Its thought signature (Gemini).
    signature: Option<String>,
}

impl Fold for StreamFold {
    fn event(&mut self, data: &str, text: &dyn Fn(&str)) -> Result<Step, Failure> {
        if data.trim() == "[DONE]" {
            return Ok(Step::Done);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| sse::bad_event(data, e))?;
        if v.get("error").is_some_and(|e| !e.is_null()) {
            let msg = retry::provider_message(data.as_bytes());
            return Err(Failure::Retry(ModelError::Unavailable(msg), None));
        }
        if let Some(u) = usage_of(v.get("usage")) {
            self.usage = Some(u);
        }
        // No choice: a usage chunk (or a keep-alive of some server).
        let Some(choice) = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return Ok(Step::More);
        };
        if let Some(delta) = choice.get("delta").filter(|d| d.is_object()) {
            if let Some(role) = delta.get("role").and_then(Value::as_str) {
                self.role = Some(role.to_owned());
            }
            let piece = match delta.get("content") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(std::borrow::Cow::Borrowed(s.as_str())),
                content => parse_content(content)
                    .map_err(|e| sse::bad_event(data, e))?
                    .map(std::borrow::Cow::Owned),
            };
            if let Some(piece) = piece {
                sse::grow(&mut self.size, piece.len())?;
                self.text.get_or_insert_with(String::new).push_str(&piece);
                if !piece.is_empty() {
                    text(&piece);
                }
            }
            if let Some(Value::Array(details)) = delta.get("reasoning_details") {
                for d in details {
                    sse::grow(&mut self.size, d.to_string().len())?;
                    self.reasoning_details.push(d.clone());
                }
            }
            match delta.get("tool_calls") {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for (pos, item) in items.iter().enumerate() {
                        self.tool_call_piece(pos, item)?;
                    }
                }
                Some(other) => {
                    return Err(sse::bad_event(
                        data,
                        format!(
                            "tool_calls is not an array: {}",
                            truncate(&other.to_string(), 50)
                        ),
                    ));
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
        }
        Ok(Step::More)
    }

    fn finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    fn answer(self) -> Result<ChatResponse, String> {
        let mut calls = Vec::with_capacity(self.calls.len());
        let mut signatures = serde_json::Map::new();
        for (i, call) in self.calls.into_values().enumerate() {
            let name = call
                .name
                .ok_or_else(|| format!("tool call {i} has no function name"))?;
            let id = call.id.unwrap_or_else(|| format!("call_{i}"));
            if let Some(s) = call.signature {
                signatures.insert(id.clone(), Value::String(s));
            }
            calls.push(ToolCall {
                id,
                kind: call.kind.unwrap_or_else(|| "function".to_owned()),
                function: FunctionCall {
                    name,
                    arguments: call.arguments.unwrap_or_else(|| "{}".to_owned()),
                },
            });
        }
        Ok(ChatResponse {
            message: ChatMessage {
                role: ChatMessage::role_of(self.role.as_deref().unwrap_or("assistant")),
                content: self.text,
                tool_calls: (!calls.is_empty()).then_some(calls),
                tool_call_id: None,
                images: Vec::new(),
                replay: replay_of(signatures, Some(Value::Array(self.reasoning_details))),
            },
            finish_reason: self.finish_reason,
            usage: self.usage.unwrap_or_default(),
            model: None,
        })
    }
}

impl StreamFold {
    /// One `delta.tool_calls[]` item (`pos` its place in the array, for servers that send
    /// no `index`): the first piece of a call names it, later ones extend its arguments.
    fn tool_call_piece(&mut self, pos: usize, item: &Value) -> Result<(), Failure> {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let is_new = !self.calls.contains_key(&index);
        let call = self.calls.entry(index).or_default();
        let text = |key: &str| {
            item.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let function = item.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let arguments = match function.and_then(|f| f.get("arguments")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(std::borrow::Cow::Borrowed(s.as_str())),
            Some(other) => Some(std::borrow::Cow::Owned(other.to_string())),
        };
        let added = usize::from(is_new)
            + text("id").map_or(0, str::len)
            + name.map_or(0, str::len)
            + arguments.as_ref().map_or(0, |a| a.len());
        sse::grow(&mut self.size, added)?;
        if let Some(id) = text("id") {
            call.id = Some(id.to_owned());
        }
        if let Some(kind) = text("type") {
            call.kind = Some(kind.to_owned());
        }
        if let Some(name) = name {
            call.name = Some(name.to_owned());
        }
        if let Some(a) = arguments {
            call.arguments.get_or_insert_with(String::new).push_str(&a);
        }
        if let Some(s) = thought_signature(item) {
            sse::grow(&mut self.size, s.len())?;
            call.signature = Some(s.to_owned());
        }
        Ok(())
    }
}

impl retry::Wire for OpenAiModel {
    type Fold = StreamFold;
    const PARSE: fn(&[u8]) -> Result<ChatResponse, String> = parse_completion;

    fn wire_label(&self) -> String {
        format!("{}/{}", self.provider_id, self.model)
    }

    fn request(&self) -> awc::ClientRequest {
        OpenAiModel::request(self)
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

impl ChatModel for OpenAiModel {
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
        retry::stamped(self.complete_streaming_unstamped(req, sink), self.label())
    }
}

impl OpenAiModel {
    /// [`ChatModel::complete_streaming`] before its answer's replay is marked.
    fn complete_streaming_unstamped(
        &self,
        req: ChatRequest,
        sink: DeltaSink,
    ) -> LocalFut<Result<ChatResponse, ModelError>> {
        if !self.stream_usage.load(std::sync::atomic::Ordering::Relaxed) {
            return retry::complete(self, req, Some(sink));
        }
        let first = retry::complete(self, req.clone(), Some(sink.clone()));
        let me = self.clone();
        Box::pin(async move {
            match first.await {
                // An endpoint that refuses the field (a 4xx naming it): asked again without
                // it, and never again with it.
                Err(ModelError::Rejected(m)) if m.contains("stream_options") => {
                    me.stream_usage
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                    log::warn!(
                        "{}: the endpoint refuses stream_options; asking again without it (its streamed answers report no usage; set the model's compat.supportsUsageInStreaming to false to skip the first try)",
                        me.label()
                    );
                    retry::complete(&me, req, Some(sink)).await
                }
                other => other,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::ports::ToolSpec;
    use serde_json::json;

    #[test]
    fn the_prompt_cache_key_goes_to_api_openai_com_only() {
        let req = ChatRequest {
            messages: vec![ChatMessage::text("user", "hi")].into(),
            cache_key: Some("oc-0123".into()),
            ..Default::default()
        };
        let key = |body: Vec<u8>| -> Value {
            let b: Value = serde_json::from_slice(&body).expect("JSON");
            b.get("prompt_cache_key").cloned().unwrap_or(Value::Null)
        };
        let native = OpenAiModel::new("openai", "https://api.openai.com/v1", None, "gpt-5", None);
        assert_eq!(
            key(native.request_body(&req, false).expect("body")),
            "oc-0123"
        );
        let r = super::super::openai_responses::ResponsesModel::new(native.clone());
        assert_eq!(key(r.request_body(&req, true).expect("body")), "oc-0123");
        // `cacheRetention: "none"`, another endpoint, or no key: none.
        let off = native.clone().with_cache_key(false);
        assert_eq!(
            key(off.request_body(&req, false).expect("body")),
            Value::Null
        );
        let local = OpenAiModel::new("lms", "http://127.0.0.1:1234/v1", None, "q", None);
        assert_eq!(
            key(local.request_body(&req, false).expect("body")),
            Value::Null
        );
        let keyless = ChatRequest {
            cache_key: None,
            ..req.clone()
        };
        assert_eq!(
            key(native.request_body(&keyless, false).expect("body")),
            Value::Null
        );
    }

    #[test]
    fn a_thinking_level_is_reasoning_effort_for_models_that_reason() {
        use crate::actors::ports::Thinking;
        let req = |thinking| ChatRequest {
            messages: vec![ChatMessage::text("user", "hi")].into(),
            thinking,
            ..Default::default()
        };
        let effort = |m: &OpenAiModel, r: &ChatRequest| -> Value {
            let b: Value =
                serde_json::from_slice(&m.request_body(r, false).expect("encodes")).expect("JSON");
            b.get("reasoning_effort").cloned().unwrap_or(Value::Null)
        };
        let m = OpenAiModel::new("p", "http://x/v1", None, "m", None)
            .with_thinking(true, Some(Thinking::Medium));
        assert_eq!(effort(&m, &req(None)), "medium");
        assert_eq!(effort(&m, &req(Some(Thinking::Xhigh))), "xhigh");
        assert_eq!(effort(&m, &req(Some(Thinking::Off))), Value::Null);
        let plain = m.clone().with_thinking(false, Some(Thinking::High));
        assert_eq!(effort(&plain, &req(Some(Thinking::High))), Value::Null);
        // The Responses API: `reasoning.effort`.
        let r = super::super::openai_responses::ResponsesModel::new(m);
        let b: Value = serde_json::from_slice(
            &r.request_body(&req(Some(Thinking::Low)), false)
                .expect("encodes"),
        )
        .expect("JSON");
        assert_eq!(b["reasoning"], json!({"effort": "low"}));
        let b: Value = serde_json::from_slice(
            &r.request_body(&req(Some(Thinking::Off)), false)
                .expect("encodes"),
        )
        .expect("JSON");
        assert_eq!(b.get("reasoning"), None);
    }

    #[test]
    fn debug_and_label_hide_the_key() {
        let m = OpenAiModel::new(
            "openai",
            "https://api.openai.com/v1/",
            Some("sk-VERYSECRET".into()),
            "gpt-4o-mini",
            None,
        );
        let dbg = format!("{m:?}");
        assert!(!dbg.contains("VERYSECRET"), "{dbg}");
        assert_eq!(m.label(), "openai/gpt-4o-mini");
        assert_eq!(m.endpoint(), "https://api.openai.com/v1/chat/completions");
        assert_eq!(
            retry::scrub("bad key sk-VERYSECRET", retry::Wire::key(&m)),
            "bad key <redacted>"
        );
    }

    #[test]
    fn body_omits_tools_when_none() {
        let m = OpenAiModel::new("p", "http://x/v1", None, "m", None);
        let req = ChatRequest {
            messages: vec![ChatMessage::text("user", "hi")].into(),
            tools: Default::default(),
            thinking: None,
            cache_key: None,
        };
        let body = |req: &ChatRequest| -> Value {
            serde_json::from_slice(&m.request_body(req, false).expect("encodes")).expect("JSON")
        };
        assert_eq!(
            body(&req),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        );
        let req = ChatRequest {
            tools: vec![ToolSpec {
                name: "t".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}),
            }]
            .into(),
            ..req
        };
        let body = body(&req);
        assert_eq!(
            body["tools"],
            json!([{"type": "function", "function": {"name": "t", "description": "d",
                "parameters": {"type": "object"}}}])
        );
        assert_eq!(body["tool_choice"], "auto");
    }

    #[test]
    fn images_go_as_content_parts_and_the_flag_follows_the_config() {
        use crate::actors::ports::ImagePart;
        let m = OpenAiModel::new("p", "http://x/v1", None, "m", None);
        assert!(!m.sees_images());
        assert!(m.clone().with_images(true).sees_images());
        let mut shown = ChatMessage::text("user", "look");
        shown.images = vec![ImagePart {
            mime: "image/png",
            base64: "iVBO".into(),
        }];
        let req = ChatRequest {
            messages: vec![ChatMessage::text("system", "s"), shown].into(),
            tools: Default::default(),
            thinking: None,
            cache_key: None,
        };
        let body: Value =
            serde_json::from_slice(&m.request_body(&req, false).expect("encodes")).expect("JSON");
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "s"})
        );
        assert_eq!(
            body["messages"][1],
            json!({"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            ]})
        );
    }

    #[test]
    fn parses_content_variants_and_arguments() {
        let r = parse_completion(
            br#"{"choices":[{"message":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],
            "tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{"x":1}}}]},"finish_reason":"tool_calls"}]}"#,
        )
        .expect("parses");
        assert_eq!(r.message.content.as_deref(), Some("ab"));
        let calls = r.message.tool_calls.expect("tool calls");
        assert_eq!(calls[0].function.arguments, r#"{"x":1}"#);
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        assert!(parse_completion(b"<html>").is_err());
        assert!(parse_completion(b"{}").is_err());
        assert!(parse_completion(br#"{"choices":[]}"#).is_err());
    }

    #[test]
    fn provider_messages_and_retry_after() {
        assert_eq!(
            provider_message(br#"{"error":{"message":"bad model","type":"x"}}"#),
            "bad model"
        );
        assert_eq!(provider_message(br#"{"error":"nope"}"#), "nope");
        assert_eq!(provider_message(b""), "(empty body)");
        let mut h = awc::http::header::HeaderMap::new();
        h.insert(
            awc::http::header::RETRY_AFTER,
            awc::http::header::HeaderValue::from_static("120"),
        );
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(
            awc::http::header::RETRY_AFTER,
            awc::http::header::HeaderValue::from_static("2"),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    }

    /// Folds `events` (an event's data each) until one ends the stream: the text pieces
    /// handed out, whether an end marker came, and the fold.
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
        let m = OpenAiModel::new("p", "http://x/v1", None, "m", None);
        let req = ChatRequest {
            messages: vec![ChatMessage::text("user", "hi")].into(),
            tools: Default::default(),
            thinking: None,
            cache_key: None,
        };
        let plain = m.request_body(&req, false).expect("encodes");
        assert_eq!(
            plain,
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#
        );
        let streamed: Value =
            serde_json::from_slice(&m.request_body(&req, true).expect("encodes")).expect("JSON");
        assert_eq!(
            streamed,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true,
                "stream_options": {"include_usage": true}})
        );
        // `compat.supportsUsageInStreaming: false`: not asked.
        let quiet: Value = serde_json::from_slice(
            &m.with_stream_usage(false)
                .request_body(&req, true)
                .expect("encodes"),
        )
        .expect("JSON");
        assert_eq!(quiet.get("stream_options"), None, "{quiet}");
    }

    #[test]
    fn stream_text_pieces_and_finish() {
        let (pieces, done, f) = fold(&[
            r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"thinking…"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hé"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"llo ✓"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
            "[DONE]",
            r#"{"choices":[{"index":0,"delta":{"content":"after the end"}}]}"#,
        ]);
        assert!(done);
        assert_eq!(pieces, ["Hé", "llo ✓"]);
        assert!(f.finished());
        let r = f.answer().expect("answer");
        assert_eq!(r.message.role, "assistant");
        assert_eq!(r.message.content.as_deref(), Some("Héllo ✓"));
        assert_eq!(r.message.tool_calls, None);
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        // The same answer as the non-streaming one.
        let whole = parse_completion(
            r#"{"choices":[{"message":{"role":"assistant","content":"Héllo ✓"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#.as_bytes(),
        )
        .expect("parses");
        // The same answer, usage included (the usage chunk comes after the finish).
        assert_eq!(r, whole);
        assert_eq!((r.usage.input, r.usage.output, r.usage.calls), (1, 2, 1));
        // Cached prompt tokens are counted apart from the input.
        let cached = parse_completion(
            br#"{"choices":[{"message":{"role":"assistant","content":"x"}}],"usage":{"prompt_tokens":1200,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":200}}}"#,
        )
        .expect("parses");
        assert_eq!(
            (
                cached.usage.input,
                cached.usage.cache_read,
                cached.usage.output,
                cached.usage.total()
            ),
            (1000, 200, 300, 1500)
        );
        let none =
            parse_completion(br#"{"choices":[{"message":{"role":"assistant","content":"x"}}]}"#)
                .expect("parses");
        assert_eq!(none.usage.calls, 0);
    }

    #[test]
    fn stream_tool_calls_assemble_by_index() {
        let (pieces, done, f) = fold(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_time","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"lookup","arguments":"{\"q\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"tz\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"UTC\"}"}},{"index":1,"function":{"arguments":"\"rust\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"id":"call_c","type":"function","function":{"name":"noargs"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ]);
        assert!(!done, "no [DONE]: the stream just ends");
        assert!(pieces.is_empty());
        assert!(f.finished(), "a finish reason makes the answer whole");
        let r = f.answer().expect("answer");
        assert_eq!(r.message.content, None);
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        let calls = r.message.tool_calls.expect("tool calls");
        let got: Vec<_> = calls
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.kind.as_str(),
                    c.function.name.as_str(),
                    c.function.arguments.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("call_a", "function", "get_time", r#"{"tz":"UTC"}"#),
                ("call_b", "function", "lookup", r#"{"q":"rust"}"#),
                ("call_c", "function", "noargs", "{}"),
            ]
        );

        // A call that never got a name is unreadable, as in a whole answer.
        let (_, _, f) = fold(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        ]);
        assert!(f.answer().is_err_and(|e| e.contains("no function name")));
    }

    #[test]
    fn stream_errors_and_bad_chunks() {
        let mut f = StreamFold::default();
        let e = f.event(
            r#"{"error":{"message":"Overloaded, try later","type":"server_error"}}"#,
            &|_| {},
        );
        assert!(
            matches!(e, Err(Failure::Retry(ModelError::Unavailable(ref m), None)) if m == "Overloaded, try later")
        );
        assert!(matches!(
            f.event("{not json", &|_| {}),
            Err(Failure::Fatal(ModelError::BadResponse(_)))
        ));
        assert!(matches!(
            f.event(r#"{"choices":[{"delta":{"tool_calls":{"x":1}}}]}"#, &|_| {}),
            Err(Failure::Fatal(ModelError::BadResponse(_)))
        ));
        // No finish reason yet: not finished.
        let (_, done, f) = fold(&[r#"{"choices":[{"index":0,"delta":{"content":"cut"}}]}"#]);
        assert!(!done && !f.finished());
        // Too much text.
        let mut f = StreamFold::default();
        let big = json!({"choices": [{"delta": {"content": "x".repeat(1024 * 1024)}}]}).to_string();
        let mut result = Ok(Step::More);
        for _ in 0..=(super::super::MAX_BODY / (1024 * 1024)) {
            result = f.event(&big, &|_| {});
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(
            result,
            Err(Failure::Fatal(ModelError::BadResponse(_)))
        ));
    }

    #[test]
    fn gemini_thought_signatures_and_openrouter_reasoning_go_back_with_their_calls() {
        // Whole: the signature of each call and the reasoning details are kept.
        let whole = json!({"choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": null,
        "reasoning_details": [{"type": "reasoning.encrypted", "data": "ENC"}],
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "nodes", "arguments": "{}"},
                "extra_content": {"google": {"thought_signature": "SIG-1"}}},
            {"id": "c2", "type": "function", "function": {"name": "cron", "arguments": "{}"}},
        ]}}]});
        let r = parse_completion(whole.to_string().as_bytes()).expect("parses");
        let kept = r.message.replay.clone().expect("kept");
        assert_eq!(kept.items[0]["signatures"], json!({"c1": "SIG-1"}));
        assert_eq!(kept.items[0]["reasoning_details"][0]["data"], "ENC");
        // Streamed alike (the signature in the call's first piece).
        let (_, _, f) = fold(&[
            r#"{"choices":[{"delta":{"role":"assistant","reasoning_details":[{"type":"reasoning.encrypted","data":"ENC"}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"nodes","arguments":""},"extra_content":{"google":{"thought_signature":"SIG-1"}}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"c2","type":"function","function":{"name":"cron","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
        ]);
        let streamed = f.answer().expect("answer");
        assert_eq!(streamed.message.replay, r.message.replay);
        // Nothing to keep: none.
        let plain = json!({"choices": [{"message": {"role": "assistant", "content": "hi"}}]});
        assert_eq!(
            parse_completion(plain.to_string().as_bytes())
                .expect("parses")
                .message
                .replay,
            None
        );

        // Sent back with the calls, to the model that wrote them only.
        let body = |m: &OpenAiModel, from: &str| -> Value {
            let mut answer = r.message.clone();
            answer.replay = Some(Replay::new(from.into(), kept.items.clone()));
            let calls = answer.tool_calls.clone().unwrap_or_default();
            let req = ChatRequest {
                messages: vec![
                    ChatMessage::text("user", "hi"),
                    ChatMessage::calling_from(&answer, calls),
                    ChatMessage::tool_result("c1".into(), "[]".into()),
                    ChatMessage::tool_result("c2".into(), "[]".into()),
                ]
                .into(),
                tools: Default::default(),
                thinking: None,
                cache_key: None,
            };
            serde_json::from_slice(&m.request_body(&req, false).expect("encodes")).expect("JSON")
        };
        let gemini = OpenAiModel::new(
            "or",
            "https://openrouter.ai/api/v1",
            None,
            "google/gemini-3-pro",
            None,
        );
        let b = body(&gemini, "or/google/gemini-3-pro");
        let calls = &b["messages"][1]["tool_calls"];
        assert_eq!(
            calls[0]["extra_content"]["google"]["thought_signature"], "SIG-1",
            "{b}"
        );
        assert_eq!(calls[0]["function"]["name"], "nodes");
        assert_eq!(calls[0]["id"], "c1");
        assert_eq!(calls[1].get("extra_content"), None, "{b}");
        assert_eq!(b["messages"][1]["reasoning_details"][0]["data"], "ENC");
        let b = body(&gemini, "or/another-model");
        assert!(
            !b.to_string().contains("SIG-1") && !b.to_string().contains("ENC"),
            "{b}"
        );

        // Gemini 3 at Google's endpoint: a call without a signature gets Google's stand-in.
        let google = |model: &str| {
            OpenAiModel::new(
                "google",
                "https://generativelanguage.googleapis.com/v1beta/openai",
                None,
                model,
                None,
            )
        };
        let b = body(&google("gemini-3-pro-preview"), "someone/else");
        let calls = &b["messages"][1]["tool_calls"];
        for c in calls.as_array().into_iter().flatten() {
            assert_eq!(
                c["extra_content"]["google"]["thought_signature"], GEMINI_SIGNATURE_STAND_IN,
                "{b}"
            );
        }
        let b = body(
            &google("gemini-3-pro-preview"),
            "google/gemini-3-pro-preview",
        );
        let calls = &b["messages"][1]["tool_calls"];
        assert_eq!(
            calls[0]["extra_content"]["google"]["thought_signature"],
            "SIG-1"
        );
        assert_eq!(
            calls[1]["extra_content"]["google"]["thought_signature"],
            GEMINI_SIGNATURE_STAND_IN
        );
        // Not for Gemini 2.5, nor at other endpoints.
        for m in [
            google("gemini-2.5-flash"),
            OpenAiModel::new("x", "http://x/v1", None, "gemini-3-pro", None),
        ] {
            let b = body(&m, "someone/else");
            assert!(!b.to_string().contains("extra_content"), "{b}");
        }
    }
}
