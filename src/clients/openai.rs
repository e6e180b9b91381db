//! An OpenAI-compatible chat-completions client: [`OpenAiModel`] implements
//! [`ChatModel`](crate::actors::ports::ChatModel).
//!
//! `POST {base_url}/chat/completions`, non-streaming, with `Authorization: Bearer <key>` when
//! a key is configured. 429, 5xx, timeouts and network errors are retried (at most
//! [`MAX_ATTEMPTS`] requests, backoff 500 ms then 1 s, or the provider's `Retry-After`
//! capped at 30 s); other 4xx are not. The API key never appears in errors, logs or `Debug`.

use std::time::Duration;

use serde_json::Value;

use super::retry::{self, Failure};
use super::{http_client, truncate};
use crate::actors::ports::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, FunctionCall, LocalFut, ModelError, ToolCall,
};

pub use super::retry::{DEFAULT_TIMEOUT, MAX_ATTEMPTS};

#[cfg(test)]
use super::retry::{MAX_RETRY_AFTER, provider_message, retry_after};

/// An OpenAI-compatible chat model (`provider/model`).
#[derive(Clone)]
pub struct OpenAiModel {
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
    /// Longest answer, when configured (`max_tokens`; `max_completion_tokens` at
    /// api.openai.com, whose current models refuse the older name).
    max_tokens: Option<u32>,
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
        }
    }

    /// Whether the model sees images (its config's `input` lists `image`): user messages
    /// with images go as content parts (`text` + `image_url` data URLs).
    pub fn with_images(mut self, images: bool) -> Self {
        self.images = images;
        self
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
    /// a long history this was most of the client's allocations).
    pub fn request_body(&self, req: &ChatRequest) -> serde_json::Result<Vec<u8>> {
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
        /// `data:<mime>;base64,<data>`, written straight into the body (no copy of the
        /// image per request).
        struct DataUrl<'a>(&'a crate::actors::ports::ImagePart);
        impl serde::Serialize for DataUrl<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&format_args!(
                    "data:{};base64,{}",
                    self.0.mime, self.0.base64
                ))
            }
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
        struct Message<'a> {
            role: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            content: Option<Content<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_calls: Option<&'a [ToolCall]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_call_id: Option<&'a str>,
        }
        #[derive(serde::Serialize)]
        struct Body<'a> {
            model: &'a str,
            messages: Vec<Message<'a>>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            tools: Vec<Tool<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_choice: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            max_tokens: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            max_completion_tokens: Option<u32>,
        }
        let tools: Vec<Tool<'_>> = req
            .tools
            .iter()
            .map(|t| Tool {
                kind: "function",
                function: Function {
                    name: &t.name,
                    description: &t.description,
                    parameters: &t.parameters,
                },
            })
            .collect();
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
                Message {
                    role: &m.role,
                    content,
                    tool_calls: m.tool_calls.as_deref(),
                    tool_call_id: m.tool_call_id.as_deref(),
                }
            })
            .collect();
        let native = self.base_url.starts_with("https://api.openai.com/");
        let body = Body {
            model: &self.model,
            messages,
            tool_choice: (!tools.is_empty()).then_some("auto"),
            tools,
            max_tokens: self.max_tokens.filter(|_| !native),
            max_completion_tokens: self.max_tokens.filter(|_| native),
        };
        let mut out = Vec::with_capacity(256 + req.messages.len() * 128);
        serde_json::to_writer(&mut out, &body)?;
        Ok(out)
    }

    async fn attempt(&self, body: &bytes::Bytes) -> Result<ChatResponse, Failure> {
        let mut req = http_client()
            .post(self.endpoint())
            .timeout(self.timeout)
            .content_type("application/json");
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        for (k, v) in &self.headers {
            req = req.insert_header((k.as_str(), v.as_str()));
        }
        retry::send(
            req,
            body,
            self.timeout,
            &|t| self.scrub(t),
            parse_completion,
        )
        .await
    }

    fn scrub(&self, text: &str) -> String {
        retry::scrub(text, self.api_key.as_deref())
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
    Ok(ChatResponse {
        message: ChatMessage {
            role: message
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("assistant")
                .to_owned(),
            content: parse_content(message.get("content"))?,
            tool_calls: parse_tool_calls(message.get("tool_calls"))?,
            tool_call_id: None,
            images: Vec::new(),
        },
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

impl ChatModel for OpenAiModel {
    fn label(&self) -> String {
        format!("{}/{}", self.provider_id, self.model)
    }

    fn sees_images(&self) -> bool {
        self.images
    }

    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
        let this = self.clone();
        Box::pin(async move {
            let body = match this.request_body(&req) {
                Ok(b) => bytes::Bytes::from(b),
                Err(e) => return Err(ModelError::Rejected(format!("cannot encode: {e}"))),
            };
            let label = this.label();
            retry::with_retries(&label, &this.backoff, || this.attempt(&body)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::ports::ToolSpec;
    use serde_json::json;

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
        assert_eq!(m.scrub("bad key sk-VERYSECRET"), "bad key <redacted>");
    }

    #[test]
    fn body_omits_tools_when_none() {
        let m = OpenAiModel::new("p", "http://x/v1", None, "m", None);
        let req = ChatRequest {
            messages: vec![ChatMessage::text("user", "hi")],
            tools: vec![],
        };
        let body = |req: &ChatRequest| -> Value {
            serde_json::from_slice(&m.request_body(req).expect("encodes")).expect("JSON")
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
            }],
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
            messages: vec![ChatMessage::text("system", "s"), shown],
            tools: vec![],
        };
        let body: Value =
            serde_json::from_slice(&m.request_body(&req).expect("encodes")).expect("JSON");
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
}
