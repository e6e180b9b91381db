//! OpenAI's Responses API (`api: "openai-responses"`, OpenClaw's API for the built-in
//! `openai` provider): [`ResponsesModel`] implements
//! [`ChatModel`](crate::actors::ports::ChatModel).
//!
//! `POST {base_url}/responses` with the same key, headers, timeout and retries as the
//! chat-completions client ([`super::openai::OpenAiModel`], which this one wraps). The
//! conversation goes as `input` items: `system`, `user` and `assistant` messages (a user's
//! images as `input_image` data URLs), each tool call as a `function_call` item and its result
//! as a `function_call_output` item. Tools are `function` tools with `strict: false` (the
//! API's default is strict, which refuses schemas with optional properties). `store: false`:
//! the provider keeps no copy of the conversation, and every request carries it whole, as
//! OpenClaw does by default. The longest answer is `max_output_tokens` (at least 16, the
//! API's floor).
//!
//! An answer is the response's `output`: `message` items' `output_text` (and `refusal`)
//! parts are its text, `function_call` items its tool calls (`call_id` is the call's id);
//! `reasoning` and other items are skipped. Streamed (`"stream": true`), the text comes from
//! `response.output_text.delta` events, tool calls from `response.output_item.added`,
//! `response.function_call_arguments.delta` / `.done` and `response.output_item.done`, and
//! the stream ends with `response.completed`, `response.incomplete` (its reason, e.g.
//! `max_output_tokens`, becomes the finish reason `length`) or `response.failed` / `error`
//! (an error: rate limits and server errors are retried, any other code is a refusal, so a
//! `context_length_exceeded` leads to compaction as from any provider). A server that
//! sends only the final event still gives its whole answer.
//!
//! With a thinking level (`reasoning.effort`), the request asks for the model's encrypted
//! reasoning (`include: ["reasoning.encrypted_content"]`, as OpenClaw does). An answer that
//! carries some keeps its whole `output` as its [`Replay`], and the run's next rounds send
//! those items back verbatim in place of the assistant message (reasoning, text and calls
//! with their ids), to the same model only: OpenAI's reasoning models keep their chain of
//! thought across tool calls that way, even with `store: false`. Should the provider refuse
//! the reasoning it is given (`invalid_encrypted_content`, e.g. after a key change), the
//! request is sent again once without it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::openai::{DataUrl, OpenAiModel};
use super::retry::{self, Failure};
use super::sse::{self, Fold, Step};
use super::truncate;
use crate::actors::ports::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, DeltaSink, FunctionCall, LocalFut,
    ModelError, Replay, ToolCall, Usage,
};

/// The smallest `max_output_tokens` the API accepts.
const MIN_OUTPUT_TOKENS: u32 = 16;

/// A tool result with no text (the API refuses an empty `output`).
const NO_OUTPUT: &str = "(no output)";

/// What a request asks to be given back with the answer when it sets a reasoning effort.
const ENCRYPTED_REASONING: [&str; 1] = ["reasoning.encrypted_content"];

/// A model behind OpenAI's Responses API (`provider/model`), and whether its requests send
/// the run's encrypted reasoning back (off only for the one retry after the provider
/// refused it).
#[derive(Clone, Debug)]
pub struct ResponsesModel(OpenAiModel, bool);

impl ResponsesModel {
    /// The Responses API of `base`'s endpoint (its base URL, key, model, timeout, headers,
    /// images and longest answer).
    pub fn new(base: OpenAiModel) -> Self {
        Self(base, true)
    }

    /// The items to send in place of `m` when it is this model's answer that carried
    /// encrypted reasoning: its whole `output`, as given, provided its calls are the ones
    /// `m` makes (else `m` is rebuilt, and its reasoning stays out).
    fn replayed<'a>(&self, m: &'a ChatMessage) -> Option<&'a [Value]> {
        let r = m.replay.as_deref().filter(|r| {
            self.1 && m.role == "assistant" && r.is_from(&self.0.provider_id, &self.0.model)
        })?;
        let theirs = r
            .items
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("function_call"))
            .map(|i| i.get("call_id").and_then(Value::as_str));
        let ours = m.tool_calls.iter().flatten().map(|c| Some(c.id.as_str()));
        (carries_reasoning(&r.items) && theirs.eq(ours)).then_some(r.items.as_slice())
    }

    /// Sends `req` (streamed through `sink` if given); when the provider refuses the run's
    /// reasoning, once more without it. A kept [`Replay`] is marked as this model's.
    fn run(
        &self,
        req: ChatRequest,
        sink: Option<DeltaSink>,
    ) -> LocalFut<Result<ChatResponse, ModelError>> {
        let me = self.clone();
        let label = retry::Wire::wire_label(self);
        let logged = label.clone();
        retry::stamped(
            Box::pin(async move {
                let label = logged;
                let replays = req.messages.iter().any(|m| me.replayed(m).is_some());
                match retry::complete(&me, req.clone(), sink.clone()).await {
                    Err(ModelError::Rejected(e)) if replays && refuses_reasoning(&e) => {
                        log::warn!(
                            "{label}: the provider refused this run's encrypted reasoning ({}); \
                         asking again without it",
                            truncate(&e, 200)
                        );
                        retry::complete(&Self(me.0.clone(), false), req, sink).await
                    }
                    other => other,
                }
            }),
            label,
        )
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("{}/responses", self.0.base_url)
    }

    /// The JSON request body for `req`, encoded in one pass; `"stream": true` when
    /// `stream`.
    pub fn request_body(&self, req: &ChatRequest, stream: bool) -> serde_json::Result<Vec<u8>> {
        #[derive(serde::Serialize)]
        struct Tool<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            name: &'a str,
            description: &'a str,
            parameters: &'a Value,
            strict: bool,
        }
        #[derive(serde::Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Part<'a> {
            InputText {
                text: &'a str,
            },
            InputImage {
                image_url: DataUrl<'a>,
                detail: &'static str,
            },
        }
        #[derive(serde::Serialize)]
        #[serde(untagged)]
        enum Content<'a> {
            Text(&'a str),
            Parts(Vec<Part<'a>>),
        }
        #[derive(serde::Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Item<'a> {
            Message {
                role: &'a str,
                content: Content<'a>,
            },
            FunctionCall {
                call_id: &'a str,
                name: &'a str,
                arguments: &'a str,
            },
            FunctionCallOutput {
                call_id: &'a str,
                output: &'a str,
            },
        }
        #[derive(serde::Serialize)]
        #[serde(untagged)]
        enum Input<'a> {
            Item(Item<'a>),
            /// An item of the model's own earlier output, as it sent it.
            Raw(&'a Value),
        }
        #[derive(serde::Serialize)]
        struct Reasoning {
            effort: &'static str,
        }
        #[derive(serde::Serialize)]
        struct Body<'a> {
            model: &'a str,
            input: Vec<Input<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            reasoning: Option<Reasoning>,
            #[serde(skip_serializing_if = "Option::is_none")]
            include: Option<[&'static str; 1]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            prompt_cache_key: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tools: Option<&'a serde_json::value::RawValue>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tool_choice: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            max_output_tokens: Option<u32>,
            store: bool,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            stream: bool,
        }
        let mut input = Vec::with_capacity(req.messages.len() + 4);
        for m in req.messages.iter() {
            if let Some(items) = self.replayed(m) {
                input.extend(items.iter().map(Input::Raw));
                continue;
            }
            push_items(&mut input, m, |m| {
                Input::Item(match m {
                    Piece::Message(role, text, images) => {
                        let content = if images.is_empty() {
                            Content::Text(text)
                        } else {
                            let mut parts = Vec::with_capacity(images.len() + 1);
                            if !text.is_empty() {
                                parts.push(Part::InputText { text });
                            }
                            parts.extend(images.iter().map(|i| Part::InputImage {
                                image_url: DataUrl(i),
                                detail: "auto",
                            }));
                            Content::Parts(parts)
                        };
                        Item::Message { role, content }
                    }
                    Piece::Call(c) => Item::FunctionCall {
                        call_id: &c.id,
                        name: &c.function.name,
                        arguments: &c.function.arguments,
                    },
                    Piece::Output(call_id, output) => Item::FunctionCallOutput { call_id, output },
                })
            });
        }
        let tools = self
            .0
            .tools_json
            .get(&req.tools, ("responses", None), |tools| {
                tools
                    .iter()
                    .map(|t| Tool {
                        kind: "function",
                        name: &t.name,
                        description: &t.description,
                        parameters: &t.parameters,
                        strict: false,
                    })
                    .collect::<Vec<_>>()
            })?;
        let effort = self.0.effort(req);
        let body = Body {
            model: &self.0.model,
            input,
            reasoning: effort.map(|effort| Reasoning { effort }),
            include: effort.map(|_| ENCRYPTED_REASONING),
            prompt_cache_key: self.0.cache_key(req),
            tool_choice: tools.is_some().then_some("auto"),
            tools: tools.as_deref(),
            max_output_tokens: self.0.max_tokens.map(|n| n.max(MIN_OUTPUT_TOKENS)),
            store: false,
            stream,
        };
        let mut out = Vec::with_capacity(256 + req.messages.len() * 128);
        serde_json::to_writer(&mut out, &body)?;
        Ok(out)
    }
}

/// What one chat message becomes in `input`.
enum Piece<'a> {
    /// A message: role, text, images.
    Message(&'a str, &'a str, &'a [crate::actors::ports::ImagePart]),
    /// A tool call of an assistant message.
    Call(&'a ToolCall),
    /// A tool's result: the call's id and the text.
    Output(&'a str, &'a str),
}

/// The input items of `m`, in order, each made by `item`: a tool result is one
/// `function_call_output`; an assistant message calling tools is its text (when it has
/// any) and then one `function_call` per call; any other message is a message.
fn push_items<'a, T>(out: &mut Vec<T>, m: &'a ChatMessage, item: impl Fn(Piece<'a>) -> T) {
    let text = m.content.as_deref().unwrap_or("");
    match (&*m.role, m.tool_calls.as_deref()) {
        ("tool", _) => {
            let output = if text.trim().is_empty() {
                NO_OUTPUT
            } else {
                text
            };
            out.push(item(Piece::Output(
                m.tool_call_id.as_deref().unwrap_or(""),
                output,
            )));
        }
        ("assistant", Some(calls)) if !calls.is_empty() => {
            if !text.is_empty() {
                out.push(item(Piece::Message("assistant", text, &[])));
            }
            out.extend(calls.iter().map(|c| item(Piece::Call(c))));
        }
        (role, _) => out.push(item(Piece::Message(role, text, &m.images))),
    }
}

/// A response's `output` items read: the text of its `message` items (`None` when there is
/// none) and its `function_call` items.
fn read_output(output: &[Value]) -> Result<(Option<String>, Vec<ToolCall>), String> {
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    for (i, item) in output.iter().enumerate() {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                let parts = match item.get("content") {
                    Some(Value::Array(parts)) => parts.as_slice(),
                    Some(Value::String(s)) => {
                        text.get_or_insert_with(String::new).push_str(s);
                        continue;
                    }
                    _ => &[],
                };
                for p in parts {
                    let piece = match p.get("type").and_then(Value::as_str) {
                        Some("output_text") => p.get("text"),
                        Some("refusal") => p.get("refusal"),
                        _ => None,
                    };
                    if let Some(t) = piece.and_then(Value::as_str) {
                        text.get_or_insert_with(String::new).push_str(t);
                    }
                }
            }
            Some("function_call") => calls.push(call_of(item, i)?),
            _ => {}
        }
    }
    Ok((text, calls))
}

/// Whether a response's `output` items hold encrypted reasoning to send back.
fn carries_reasoning(output: &[Value]) -> bool {
    output.iter().any(|i| {
        i.get("type").and_then(Value::as_str) == Some("reasoning")
            && i.get("encrypted_content")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty())
    })
}

/// An answer's replay: its whole `output`, when that holds encrypted reasoning (marked as
/// the model's by [`ResponsesModel::run`]).
fn replay_of(output: Vec<Value>) -> Option<std::sync::Arc<Replay>> {
    carries_reasoning(&output).then(|| Replay::new(String::new(), output))
}

/// Whether a refusal is the provider's refusing the encrypted reasoning it was sent
/// (OpenAI's `invalid_encrypted_content`, in its words).
fn refuses_reasoning(e: &str) -> bool {
    let e = e.to_ascii_lowercase();
    e.contains("invalid_encrypted_content")
        || e.contains("could not decrypt the provided encrypted_content")
        || (e.contains("encrypted content")
            && (e.contains("could not be verified") || e.contains("could not be decrypted")))
}

/// A complete `function_call` item as a tool call (`n`: its place, for a missing id).
fn call_of(item: &Value, n: usize) -> Result<ToolCall, String> {
    let s = |k: &str| {
        item.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let name = s("name").ok_or_else(|| format!("function call {n} has no name"))?;
    let arguments = match item.get("arguments") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(a)) if a.trim().is_empty() => "{}".to_owned(),
        Some(Value::String(a)) => a.clone(),
        Some(other) => other.to_string(),
    };
    Ok(ToolCall {
        id: s("call_id")
            .or_else(|| s("id"))
            .map_or_else(|| format!("call_{n}"), str::to_owned),
        kind: "function".to_owned(),
        function: FunctionCall {
            name: name.to_owned(),
            arguments,
        },
    })
}

/// The finish reason of a finished response: `length` when it stopped at
/// `max_output_tokens`, `content_filter` when filtered, another incomplete reason as it
/// is; else `tool_calls` when it calls tools, `stop` when not.
fn finish_of(response: &Value, calls: bool) -> String {
    let reason = response
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str);
    match (response.get("status").and_then(Value::as_str), reason) {
        (Some("incomplete"), Some("max_output_tokens") | None) => "length".to_owned(),
        (Some("incomplete"), Some(r)) => r.to_owned(),
        _ if calls => "tool_calls".to_owned(),
        _ => "stop".to_owned(),
    }
}

/// The failure an `error` object (`{code, message}`) stands for: rate limits and server
/// errors are retried, any other code is a refusal.
fn failure_of(error: Option<&Value>) -> Failure {
    let s = |k: &str| {
        error
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let message = truncate(s("message").unwrap_or("the response failed"), 500);
    // A nested error's `type` names its kind; the `error` event's own `type` does not.
    let code = s("code").or_else(|| s("type").filter(|t| *t != "error"));
    let text = match code {
        Some(c) if !message.contains(c) => format!("{message} ({})", truncate(c, 80)),
        _ => message,
    };
    match code {
        Some("rate_limit_exceeded" | "rate_limit_error") => {
            Failure::Retry(ModelError::RateLimited(text), None)
        }
        None
        | Some(
            "server_error"
            | "server_is_overloaded"
            | "overloaded"
            | "overloaded_error"
            | "internal_error"
            | "service_unavailable"
            | "api_error",
        ) => Failure::Retry(ModelError::Unavailable(text), None),
        Some(_) => Failure::Fatal(ModelError::Rejected(text)),
    }
}

/// The Responses API's `usage` (`input_tokens` includes the cached ones, reported in
/// `input_tokens_details.cached_tokens`).
fn usage_of_responses(u: Option<&Value>) -> Option<Usage> {
    let u = u.filter(|u| u.is_object())?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cached = u
        .pointer("/input_tokens_details/cached_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(Usage {
        input: n("input_tokens").saturating_sub(cached),
        output: n("output_tokens"),
        cache_read: cached,
        cache_write: 0,
        cost: None,
        calls: 1,
    })
}

/// Decodes a whole (non-streamed) response.
fn parse_response(body: &[u8]) -> Result<ChatResponse, String> {
    let mut v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({e}): {:?}",
            truncate(&String::from_utf8_lossy(body), 200)
        )
    })?;
    if v.get("status").and_then(Value::as_str) == Some("failed") {
        let e = match failure_of(v.get("error")) {
            Failure::Retry(e, _) | Failure::Fatal(e) => e,
        };
        return Err(format!("the response failed: {e}"));
    }
    let output = v
        .get("output")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no output in {}", truncate(&v.to_string(), 200)))?;
    let (text, calls) = read_output(output)?;
    let finish = finish_of(&v, !calls.is_empty());
    let replay = match v.get_mut("output").map(Value::take) {
        Some(Value::Array(output)) => replay_of(output),
        _ => None,
    };
    Ok(ChatResponse {
        message: ChatMessage {
            role: "assistant".into(),
            content: text,
            tool_calls: (!calls.is_empty()).then_some(calls),
            tool_call_id: None,
            images: Vec::new(),
            replay,
        },
        finish_reason: Some(finish),
        usage: usage_of_responses(v.get("usage")).unwrap_or_default(),
        model: None,
    })
}

/// A streamed response so far.
#[derive(Debug, Default)]
pub(crate) struct StreamFold {
    /// The text shown so far (`None` until a piece arrives).
    text: Option<String>,
    /// Function calls by `output_index`.
    calls: BTreeMap<u64, PartialCall>,
    /// Set by the final event.
    finish_reason: Option<String>,
    /// Bytes of text, tool calls and whole items so far ([`sse::grow`]).
    size: usize,
    usage: Option<Usage>,
    /// The finished output items by `output_index` (the answer's replay, when they hold
    /// encrypted reasoning).
    items: BTreeMap<u64, Value>,
}

/// A function call as its pieces arrive.
#[derive(Debug, Default)]
struct PartialCall {
    /// The item's `id` (argument events name the item by it).
    item_id: Option<String>,
    call_id: Option<String>,
    name: Option<String>,
    arguments: String,
}

impl StreamFold {
    /// The call an event is about: by `output_index`, else the one whose item is
    /// `item_id`, else a new one after the others.
    fn call_for(&mut self, v: &Value) -> &mut PartialCall {
        let index = v.get("output_index").and_then(Value::as_u64).or_else(|| {
            let id = v.get("item_id").and_then(Value::as_str)?;
            self.calls
                .iter()
                .find(|(_, c)| c.item_id.as_deref() == Some(id))
                .map(|(i, _)| *i)
        });
        let index = index.unwrap_or_else(|| self.calls.keys().next_back().map_or(0, |i| i + 1));
        self.calls.entry(index).or_default()
    }

    /// A `function_call` item (added, or done and so complete).
    fn call_item(&mut self, v: &Value, item: &Value, done: bool) -> Result<(), Failure> {
        let s = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let arguments = item.get("arguments").and_then(Value::as_str);
        let added = s("id").map_or(0, str::len)
            + s("call_id").map_or(0, str::len)
            + s("name").map_or(0, str::len)
            + arguments.map_or(0, str::len)
            + 1;
        sse::grow(&mut self.size, added)?;
        let call = self.call_for(v);
        if let Some(id) = s("id") {
            call.item_id = Some(id.to_owned());
        }
        if let Some(id) = s("call_id") {
            call.call_id = Some(id.to_owned());
        }
        if let Some(name) = s("name") {
            call.name = Some(name.to_owned());
        }
        if let Some(a) = arguments
            && (done || call.arguments.is_empty())
        {
            a.clone_into(&mut call.arguments);
        }
        Ok(())
    }

    /// The final event's `response`: its usage and finish reason; when nothing was
    /// streamed before (a server that sends only the final event), its whole output,
    /// the text shown through `text`.
    fn end(&mut self, mut response: Option<Value>, text: &dyn Fn(&str)) -> Result<(), String> {
        if let Some(u) = response
            .as_ref()
            .and_then(|r| usage_of_responses(r.get("usage")))
        {
            self.usage = Some(u);
        }
        let output = response
            .as_ref()
            .and_then(|r| r.get("output"))
            .and_then(Value::as_array);
        if self.text.is_none()
            && self.calls.is_empty()
            && let Some(output) = output
        {
            let (t, calls) = read_output(output)?;
            if let Some(t) = &t
                && !t.is_empty()
            {
                text(t);
            }
            self.text = t;
            for (i, c) in calls.into_iter().enumerate() {
                self.calls.insert(
                    i as u64,
                    PartialCall {
                        item_id: None,
                        call_id: Some(c.id),
                        name: Some(c.function.name),
                        arguments: c.function.arguments,
                    },
                );
            }
        }
        let fallback = Value::Null;
        self.finish_reason = Some(finish_of(
            response.as_ref().unwrap_or(&fallback),
            !self.calls.is_empty(),
        ));
        // The items, when no `output_item.done` gave them.
        if self.items.is_empty()
            && let Some(Value::Array(output)) = response
                .as_mut()
                .and_then(|r| r.get_mut("output"))
                .map(Value::take)
        {
            self.items = (0..).zip(output).collect();
        }
        Ok(())
    }
}

impl Fold for StreamFold {
    fn event(&mut self, data: &str, text: &dyn Fn(&str)) -> Result<Step, Failure> {
        if data.trim() == "[DONE]" {
            return Ok(Step::Done);
        }
        let mut v: Value = serde_json::from_str(data).map_err(|e| sse::bad_event(data, e))?;
        match v.get("type").and_then(Value::as_str) {
            Some("response.output_text.delta" | "response.refusal.delta") => {
                if let Some(piece) = v.get("delta").and_then(Value::as_str) {
                    sse::grow(&mut self.size, piece.len())?;
                    self.text.get_or_insert_with(String::new).push_str(piece);
                    if !piece.is_empty() {
                        text(piece);
                    }
                }
            }
            Some(kind @ ("response.output_item.added" | "response.output_item.done")) => {
                let done = kind.ends_with("done");
                if let Some(item) = v.get("item")
                    && item.get("type").and_then(Value::as_str) == Some("function_call")
                {
                    self.call_item(&v, item, done)?;
                }
                // Kept whole for the replay (the event's own copy, taken).
                if done {
                    sse::grow(&mut self.size, data.len())?;
                    let index = v.get("output_index").and_then(Value::as_u64);
                    let index =
                        index.unwrap_or_else(|| self.items.keys().next_back().map_or(0, |i| i + 1));
                    if let Some(item) = v.get_mut("item").map(Value::take) {
                        self.items.insert(index, item);
                    }
                }
            }
            Some("response.function_call_arguments.delta") => {
                if let Some(piece) = v.get("delta").and_then(Value::as_str) {
                    sse::grow(&mut self.size, piece.len())?;
                    self.call_for(&v).arguments.push_str(piece);
                }
            }
            Some("response.function_call_arguments.done") => {
                if let Some(all) = v.get("arguments").and_then(Value::as_str) {
                    sse::grow(&mut self.size, all.len())?;
                    all.clone_into(&mut self.call_for(&v).arguments);
                }
            }
            Some("response.completed" | "response.incomplete") => {
                let response = v.get_mut("response").map(Value::take);
                self.end(response, text)
                    .map_err(|e| sse::bad_event(data, e))?;
                return Ok(Step::Done);
            }
            Some("response.failed") => {
                return Err(failure_of(v.pointer("/response/error")));
            }
            Some("error") => {
                let error = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
                return Err(failure_of(Some(error)));
            }
            // response.created, content parts, reasoning, annotations, future events.
            _ => {}
        }
        Ok(Step::More)
    }

    fn finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    fn answer(self) -> Result<ChatResponse, String> {
        let mut calls = Vec::with_capacity(self.calls.len());
        for (i, call) in self.calls.into_values().enumerate() {
            let name = call
                .name
                .ok_or_else(|| format!("function call {i} has no name"))?;
            calls.push(ToolCall {
                id: call
                    .call_id
                    .or(call.item_id)
                    .unwrap_or_else(|| format!("call_{i}")),
                kind: "function".to_owned(),
                function: FunctionCall {
                    name,
                    arguments: if call.arguments.trim().is_empty() {
                        "{}".to_owned()
                    } else {
                        call.arguments
                    },
                },
            });
        }
        Ok(ChatResponse {
            message: ChatMessage {
                role: "assistant".into(),
                content: self.text,
                tool_calls: (!calls.is_empty()).then_some(calls),
                tool_call_id: None,
                images: Vec::new(),
                replay: replay_of(self.items.into_values().collect()),
            },
            finish_reason: self.finish_reason,
            usage: self.usage.unwrap_or_default(),
            model: None,
        })
    }
}

impl retry::Wire for ResponsesModel {
    type Fold = StreamFold;
    const PARSE: fn(&[u8]) -> Result<ChatResponse, String> = parse_response;

    fn wire_label(&self) -> String {
        format!("{}/{}", self.0.provider_id, self.0.model)
    }

    fn request(&self) -> awc::ClientRequest {
        self.0.post(self.endpoint())
    }

    fn body(&self, req: &ChatRequest, stream: bool) -> serde_json::Result<Vec<u8>> {
        self.request_body(req, stream)
    }

    fn timeout(&self) -> Duration {
        self.0.timeout
    }

    fn backoff(&self) -> &[Duration] {
        &self.0.backoff
    }

    fn key(&self) -> Option<&str> {
        self.0.api_key.as_deref()
    }
}

impl ChatModel for ResponsesModel {
    fn label(&self) -> String {
        retry::Wire::wire_label(self)
    }

    fn reasons(&self) -> bool {
        self.0.reasoning
    }

    fn sees_images(&self) -> bool {
        self.0.images
    }

    fn complete(&self, req: ChatRequest) -> LocalFut<Result<ChatResponse, ModelError>> {
        self.run(req, None)
    }

    fn complete_streaming(
        &self,
        req: ChatRequest,
        sink: DeltaSink,
    ) -> LocalFut<Result<ChatResponse, ModelError>> {
        self.run(req, Some(sink))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::ports::{ImagePart, ToolSpec};
    use serde_json::json;
    use std::sync::Arc;

    fn model() -> ResponsesModel {
        ResponsesModel::new(OpenAiModel::new(
            "openai",
            "https://api.openai.com/v1/",
            Some("sk-VERYSECRET".into()),
            "gpt-5",
            None,
        ))
    }

    fn body(m: &ResponsesModel, req: &ChatRequest, stream: bool) -> Value {
        serde_json::from_slice(&m.request_body(req, stream).expect("encodes")).expect("JSON")
    }

    /// An answer's tool calls as `(id, name, arguments)`.
    fn triples(r: &ChatResponse) -> Vec<(&str, &str, &str)> {
        r.message
            .tool_calls
            .iter()
            .flatten()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.function.name.as_str(),
                    c.function.arguments.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn label_endpoint_and_debug_hide_the_key() {
        let m = model();
        assert_eq!(m.label(), "openai/gpt-5");
        assert_eq!(m.endpoint(), "https://api.openai.com/v1/responses");
        assert!(!format!("{m:?}").contains("VERYSECRET"));
        assert_eq!(retry::Wire::key(&m), Some("sk-VERYSECRET"));
    }

    #[test]
    fn a_conversation_with_images_tool_calls_and_results_becomes_input_items() {
        let mut shown = ChatMessage::text("user", "look");
        shown.images = vec![ImagePart {
            mime: "image/png",
            base64: "iVBO".into(),
        }];
        let call = |id: &str, name: &str, args: &str| ToolCall {
            id: id.into(),
            kind: "function".into(),
            function: FunctionCall {
                name: name.into(),
                arguments: args.into(),
            },
        };
        let req = ChatRequest {
            messages: vec![
                ChatMessage::text("system", "be brief"),
                ChatMessage::text("user", "hi"),
                ChatMessage::text("assistant", "hello"),
                shown,
                ChatMessage::calling(
                    Some("checking".into()),
                    vec![
                        call("call_1", "nodes", r#"{"action":"list"}"#),
                        call("call_2", "cron", "{}"),
                    ],
                ),
                ChatMessage::tool_result("call_1".into(), "[]".into()),
                ChatMessage::tool_result("call_2".into(), "  ".into()),
                ChatMessage::calling(None, vec![call("call_3", "exec", "{}")]),
            ]
            .into(),
            tools: vec![ToolSpec {
                name: "nodes".into(),
                description: "d".into(),
                parameters: json!({"type": "object", "properties": {"x": {"type": "string"}}}),
            }]
            .into(),
            thinking: None,
            cache_key: None,
        };
        let v = body(&model().0.with_max_tokens(Some(4)).into(), &req, true);
        assert_eq!(
            v,
            json!({
                "model": "gpt-5",
                "input": [
                    {"type": "message", "role": "system", "content": "be brief"},
                    {"type": "message", "role": "user", "content": "hi"},
                    {"type": "message", "role": "assistant", "content": "hello"},
                    {"type": "message", "role": "user", "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": "data:image/png;base64,iVBO",
                         "detail": "auto"},
                    ]},
                    {"type": "message", "role": "assistant", "content": "checking"},
                    {"type": "function_call", "call_id": "call_1", "name": "nodes",
                     "arguments": "{\"action\":\"list\"}"},
                    {"type": "function_call", "call_id": "call_2", "name": "cron",
                     "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "call_1", "output": "[]"},
                    {"type": "function_call_output", "call_id": "call_2", "output": "(no output)"},
                    {"type": "function_call", "call_id": "call_3", "name": "exec",
                     "arguments": "{}"},
                ],
                "tools": [{"type": "function", "name": "nodes", "description": "d",
                    "parameters": {"type": "object", "properties": {"x": {"type": "string"}}},
                    "strict": false}],
                "tool_choice": "auto",
                "max_output_tokens": 16,
                "store": false,
                "stream": true,
            })
        );
        // Not streamed, no tools, no limit: none of their fields.
        let plain = ChatRequest {
            messages: vec![ChatMessage::text("user", "hi")].into(),
            tools: Default::default(),
            thinking: None,
            cache_key: None,
        };
        assert_eq!(
            model().request_body(&plain, false).expect("encodes"),
            br#"{"model":"gpt-5","input":[{"type":"message","role":"user","content":"hi"}],"store":false}"#
        );
    }

    impl From<OpenAiModel> for ResponsesModel {
        fn from(m: OpenAiModel) -> Self {
            Self::new(m)
        }
    }

    #[test]
    fn whole_responses_give_text_calls_finish_and_usage() {
        let r = parse_response(
            r#"{"id":"resp_1","object":"response","status":"completed","output":[
              {"type":"reasoning","id":"rs_1","summary":[]},
              {"type":"message","id":"msg_1","role":"assistant","status":"completed",
               "content":[{"type":"output_text","text":"Hé","annotations":[]},{"type":"output_text","text":"llo"}]},
              {"type":"function_call","id":"fc_1","call_id":"call_a","name":"nodes","arguments":"{\"a\":1}","status":"completed"},
              {"type":"function_call","id":"fc_2","call_id":"call_b","name":"cron","arguments":""}],
             "usage":{"input_tokens":1200,"input_tokens_details":{"cached_tokens":200},"output_tokens":300,"total_tokens":1500}}"#
                .as_bytes(),
        )
        .expect("parses");
        assert_eq!(r.message.content.as_deref(), Some("Héllo"));
        let got = triples(&r);
        assert_eq!(
            got,
            [("call_a", "nodes", r#"{"a":1}"#), ("call_b", "cron", "{}")]
        );
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            (
                r.usage.input,
                r.usage.cache_read,
                r.usage.output,
                r.usage.calls
            ),
            (1000, 200, 300, 1)
        );
        // Cut at max_output_tokens; a refusal is the answer's text.
        let cut = parse_response(
            br#"{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message","content":[{"type":"output_text","text":"par"}]}]}"#,
        )
        .expect("parses");
        assert_eq!(
            (cut.message.content.as_deref(), cut.finish_reason.as_deref()),
            (Some("par"), Some("length"))
        );
        let refused = parse_response(
            br#"{"status":"completed","output":[{"type":"message","content":[{"type":"refusal","refusal":"I can't help with that."}]}]}"#,
        )
        .expect("parses");
        assert_eq!(
            refused.message.content.as_deref(),
            Some("I can't help with that.")
        );
        assert_eq!(refused.finish_reason.as_deref(), Some("stop"));
        // Unreadable or failed.
        for bad in [
            &b"<html>"[..],
            b"{}",
            br#"{"output":{}}"#,
            br#"{"output":[{"type":"function_call","call_id":"c"}]}"#,
            br#"{"status":"failed","error":{"code":"server_error","message":"boom"},"output":[]}"#,
            br#"{"choices":[{"message":{"role":"assistant","content":"hi"}}]}"#,
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// Folds `events` until one ends the stream: the pieces shown, whether it ended, the fold.
    fn fold(events: &[Value]) -> (Vec<String>, bool, StreamFold) {
        let pieces = std::cell::RefCell::new(Vec::new());
        let mut f = StreamFold::default();
        let mut done = false;
        for e in events {
            let step = f
                .event(&e.to_string(), &|t| pieces.borrow_mut().push(t.to_owned()))
                .unwrap_or_else(|_| panic!("event {e} fails"));
            if step == Step::Done {
                done = true;
                break;
            }
        }
        (pieces.into_inner(), done, f)
    }

    #[test]
    fn a_streamed_answer_with_text_and_calls_is_the_whole_answer() {
        let completed = json!({"type": "response.completed", "response": {"status": "completed",
            "output": [], "usage": {"input_tokens": 5, "output_tokens": 7}}});
        let (pieces, done, f) = fold(&[
            json!({"type": "response.created", "response": {"status": "in_progress", "output": []}}),
            json!({"type": "response.output_item.added", "output_index": 0,
                "item": {"type": "reasoning", "id": "rs_1"}}),
            json!({"type": "response.output_item.added", "output_index": 1,
                "item": {"type": "message", "id": "msg_1", "content": []}}),
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1,
                "content_index": 0, "delta": "Hé"}),
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1,
                "content_index": 0, "delta": "llo ✓"}),
            json!({"type": "response.output_text.done", "text": "Héllo ✓"}),
            json!({"type": "response.output_item.added", "output_index": 2, "item": {
                "type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "nodes",
                "arguments": ""}}),
            json!({"type": "response.output_item.added", "output_index": 3, "item": {
                "type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "cron",
                "arguments": ""}}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1",
                "output_index": 2, "delta": "{\"act"}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_2",
                "delta": "{\"x\":"}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1",
                "output_index": 2, "delta": "ion\":\"list\"}"}),
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_2",
                "output_index": 3, "arguments": "{\"x\":2}"}),
            json!({"type": "response.output_item.done", "output_index": 2, "item": {
                "type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "nodes",
                "arguments": "{\"action\":\"list\"}"}}),
            completed,
            json!({"type": "response.output_text.delta", "delta": "after the end"}),
        ]);
        assert!(done && f.finished());
        assert_eq!(pieces, ["Hé", "llo ✓"]);
        let r = f.answer().expect("answer");
        assert_eq!(r.message.content.as_deref(), Some("Héllo ✓"));
        let got = triples(&r);
        assert_eq!(
            got,
            [
                ("call_a", "nodes", r#"{"action":"list"}"#),
                ("call_b", "cron", r#"{"x":2}"#)
            ]
        );
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!((r.usage.input, r.usage.output), (5, 7));
    }

    #[test]
    fn a_stream_of_only_the_final_event_still_gives_and_shows_the_answer() {
        let (pieces, done, f) = fold(&[json!({"type": "response.incomplete", "response": {
            "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
            "output": [{"type": "message", "content": [{"type": "output_text", "text": "cut he"}]}]}})]);
        assert!(done);
        assert_eq!(pieces, ["cut he"]);
        let r = f.answer().expect("answer");
        assert_eq!(r.message.content.as_deref(), Some("cut he"));
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        // No final event: not finished (the stream ended early, a retry follows).
        let (_, done, f) = fold(&[json!({"type": "response.output_text.delta", "delta": "x"})]);
        assert!(!done && !f.finished());
        // A call that never got a name is unreadable.
        let (_, _, f) = fold(&[
            json!({"type": "response.function_call_arguments.delta", "output_index": 0, "delta": "{}"}),
            json!({"type": "response.completed", "response": {"status": "completed"}}),
        ]);
        assert!(f.answer().is_err_and(|e| e.contains("no name")));
    }

    #[test]
    fn failures_are_retried_or_refused_by_their_code() {
        let fail = |data: Value| StreamFold::default().event(&data.to_string(), &|_| {});
        let overflow = fail(
            json!({"type": "response.failed", "response": {"status": "failed",
            "error": {"code": "context_length_exceeded",
                "message": "Your input exceeds the context window of this model."}}}),
        );
        match overflow {
            Err(Failure::Fatal(e)) => {
                assert!(crate::actors::compaction::is_overflow(&e), "{e}");
            }
            _ => panic!("an overflow is a refusal"),
        }
        assert!(matches!(
            fail(json!({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"})),
            Err(Failure::Retry(ModelError::RateLimited(_), None))
        ));
        assert!(matches!(
            fail(json!({"type": "error", "error": {"type": "server_error", "message": "boom"}})),
            Err(Failure::Retry(ModelError::Unavailable(ref m), None)) if m == "boom (server_error)"
        ));
        assert!(matches!(
            fail(json!({"type": "error", "code": null, "message": "hiccup"})),
            Err(Failure::Retry(ModelError::Unavailable(ref m), None)) if m == "hiccup"
        ));
        assert!(matches!(
            fail(json!({"type": "error", "code": "invalid_prompt", "message": "no"})),
            Err(Failure::Fatal(ModelError::Rejected(ref m))) if m == "no (invalid_prompt)"
        ));
        assert!(matches!(
            fail(json!({"type": "response.failed", "response": {}})),
            Err(Failure::Retry(ModelError::Unavailable(_), None))
        ));
        assert!(matches!(
            StreamFold::default().event("{not json", &|_| {}),
            Err(Failure::Fatal(ModelError::BadResponse(_)))
        ));
        // Too much text.
        let mut f = StreamFold::default();
        let big = json!({"type": "response.output_text.delta", "delta": "x".repeat(1024 * 1024)})
            .to_string();
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

    /// An answer of `gpt-5` with encrypted reasoning, a preamble and a call, as OpenAI
    /// gives it.
    fn reasoned_output() -> Value {
        json!([
            {"type": "reasoning", "id": "rs_9", "summary": [], "encrypted_content": "gAAAAB-secret"},
            {"type": "message", "id": "msg_9", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Looking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_9", "call_id": "call_9", "name": "nodes",
                "arguments": "{}", "status": "completed"},
        ])
    }

    #[test]
    fn encrypted_reasoning_is_asked_for_kept_and_sent_back_to_its_model_only() {
        use crate::actors::ports::Thinking;
        let thinking = ResponsesModel::new(
            OpenAiModel::new("openai", "https://api.openai.com/v1/", None, "gpt-5", None)
                .with_thinking(true, None),
        );
        let ask = |level| ChatRequest {
            messages: vec![ChatMessage::text("user", "nodes?")].into(),
            tools: Default::default(),
            thinking: level,
            cache_key: None,
        };
        // Asked for with an effort only.
        let b = body(&thinking, &ask(Some(Thinking::High)), false);
        assert_eq!(b["include"], json!(["reasoning.encrypted_content"]), "{b}");
        for b in [
            body(&thinking, &ask(None), false),
            body(&thinking, &ask(Some(Thinking::Off)), false),
            body(&model(), &ask(Some(Thinking::High)), false),
        ] {
            assert_eq!(b.get("include"), None, "{b}");
        }

        // Kept: the whole output, whole or streamed alike.
        let whole = json!({"status": "completed", "output": reasoned_output()});
        let r = parse_response(whole.to_string().as_bytes()).expect("parses");
        assert_eq!(r.message.content.as_deref(), Some("Looking."));
        let kept = r.message.replay.clone().expect("kept");
        assert_eq!(Value::Array(kept.items.clone()), reasoned_output());
        let mut events = vec![];
        for (i, item) in reasoned_output()
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if item["type"] == "message" {
                events.push(
                    json!({"type": "response.output_text.delta", "output_index": i,
                    "delta": "Looking."}),
                );
            }
            events.push(
                json!({"type": "response.output_item.done", "output_index": i,
                "item": item}),
            );
        }
        events.push(json!({"type": "response.completed",
            "response": {"status": "completed", "output": reasoned_output()}}));
        let (_, done, f) = fold(&events);
        assert!(done);
        let streamed = f.answer().expect("answer");
        assert_eq!(streamed.message.replay, r.message.replay);
        assert_eq!(triples(&streamed), vec![("call_9", "nodes", "{}")]);
        // Only the final event: the same.
        let (_, _, f) = fold(&events[events.len() - 1..]);
        assert_eq!(f.answer().expect("answer").message.replay, r.message.replay);
        // No encrypted content (not asked for): nothing kept.
        let mut bare = reasoned_output();
        bare[0]["encrypted_content"] = Value::Null;
        let r2 = parse_response(json!({"output": bare}).to_string().as_bytes()).expect("parses");
        assert_eq!(r2.message.replay, None);

        // Sent back verbatim, in place of the message, to the model that wrote it.
        let mut answer = r.message.clone();
        answer.replay = Some(Replay::new("openai/gpt-5".into(), kept.items.clone()));
        let calls = answer.tool_calls.clone().unwrap_or_default();
        let next = |answer: &ChatMessage| ChatRequest {
            messages: vec![
                ChatMessage::text("user", "nodes?"),
                ChatMessage::calling_from(answer, calls.clone()),
                ChatMessage::tool_result("call_9".into(), "[]".into()),
            ]
            .into(),
            ..ask(Some(Thinking::High))
        };
        let b = body(&thinking, &next(&answer), false);
        let input = b["input"].as_array().expect("input");
        assert_eq!(Value::Array(input[1..4].to_vec()), reasoned_output(), "{b}");
        assert_eq!(input[4]["type"], "function_call_output");
        // Another model, a retry without it, or calls that are not the answer's: rebuilt,
        // and the reasoning stays out.
        let mut other = answer.clone();
        other.replay = Some(Replay::new("openai/gpt-5-mini".into(), kept.items.clone()));
        let mut fewer = answer.clone();
        fewer.tool_calls = Some(vec![]);
        for b in [
            body(&thinking, &next(&other), false),
            body(
                &ResponsesModel(thinking.0.clone(), false),
                &next(&answer),
                false,
            ),
            body(
                &thinking,
                &next(&ChatMessage {
                    replay: None,
                    ..answer.clone()
                }),
                false,
            ),
        ] {
            assert!(!b.to_string().contains("gAAAAB-secret"), "{b}");
            let input = b["input"].as_array().expect("input");
            assert_eq!(input[2]["type"], "function_call", "{b}");
            assert_eq!(input[2].get("id"), None, "{b}");
        }
        let mut only = next(&answer);
        Arc::make_mut(&mut only.messages)[1] = fewer;
        assert!(
            !body(&thinking, &only, false)
                .to_string()
                .contains("gAAAAB-secret")
        );
    }

    #[test]
    fn the_providers_refusal_of_its_reasoning_is_recognised() {
        for e in [
            "The encrypted content for item rs_123 could not be verified.",
            "Encrypted content could not be decrypted or parsed.",
            "bad (invalid_encrypted_content)",
            "could not decrypt the provided encrypted_content",
        ] {
            assert!(refuses_reasoning(e), "{e}");
        }
        for e in ["Invalid 'input[2].id'", "maximum context length", ""] {
            assert!(!refuses_reasoning(e), "{e}");
        }
    }
}
