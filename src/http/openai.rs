//! OpenClaw's OpenAI-compatible HTTP surface (`gateway.http.endpoints.chatCompletions`,
//! off by default): `GET /v1/models`, `GET /v1/models/{id}` and `POST
//! /v1/chat/completions` on the gateway's port, so any OpenAI client (Open WebUI, an
//! editor, a script) talks to the gateway's agent.
//!
//! - **Auth**: the shared secret as `Authorization: Bearer <token or password>` (constant
//!   time, the handshake's failed-auth limiter: `429` with `Retry-After` once locked), none
//!   with `gateway.auth.mode: "none"` (loopback only). A valid secret is the owner: the
//!   call runs as an operator's `agent` call would.
//! - **`model` is an agent target**, not a provider model: `openclaw`, `openclaw/default`
//!   (the default agent), `openclaw/<agentId>`, `openclaw:<agentId>`, `agent:<agentId>`
//!   (`x-openclaw-agent-id` overrides). `x-openclaw-model: provider/model` picks one of the
//!   configured models for the call.
//! - **Sessions**: a fresh `agent:<id>:openai:<uuid>` per call; with the OpenAI `user`
//!   field `agent:<id>:openai-user:<user>`, so repeated calls continue one conversation;
//!   `x-openclaw-session-key` names one (not under `subagent:`, `cron:` or `acp:`).
//! - **Prompt**: OpenClaw's: the latest user (or tool) turn is the message, earlier turns
//!   are given as context (`[Chat messages since your last reply - for context]` …
//!   `[Current message - respond to this]`), `system` / `developer` text goes first,
//!   marked as the client's instructions (this gateway's runs have no extra system-prompt
//!   slot).
//! - **Streaming** (`stream: true`): Server-Sent Events `chat.completion.chunk`s as the
//!   agent writes (a role chunk, content deltas, a `stop` chunk, `data: [DONE]`); a failed
//!   run is an `error` object, then `[DONE]`. A comment line (`: keep-alive`) every 3 s
//!   keeps proxies from closing a quiet stream and finds out when the client has left.
//! - **A streaming client that disconnects aborts the run** (noticed at the next write,
//!   within about two keep-alive periods). A non-streaming call's run goes on to its end
//!   (its answer stays in the session's transcript).
//! - **Images**: the latest user message's `image_url` parts (at most
//!   [`MAX_IMAGES`], each a `data:` URL of a JPEG, PNG, WebP or GIF of at most 6 MiB, typed
//!   by its bytes) are attached to the run, as `chat.send`'s attachments are; an image given
//!   by an `http(s)` URL is refused (`400`): this gateway never fetches a URL for a caller
//!   (OpenClaw's `images.allowUrl` is off by default too). Earlier messages' images are
//!   left out (their text stays), as in OpenClaw.
//! - Not here: client-defined function tools (`tools`) and `/v1/embeddings` are refused
//!   with `400` naming them; sampling fields (`temperature`, `max_tokens`, `stop`, …) are
//!   checked as OpenClaw checks them and not forwarded.
//! - **`usage`**: the tokens the run's model calls reported (`prompt_tokens` counts cache
//!   reads and writes), in the answer, or with `stream_options.include_usage` as a last
//!   chunk before `[DONE]`; left out when the model reported none.
//!
//! Errors are OpenAI's shape: `{"error": {"message", "type"}}`.

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use openclaw_actors::Engine;
use openclaw_actors::protocol::error::ErrorCode;
use openclaw_actors::registry::runs::{AbortRun, SubmitRun, TapRun, UntapRun, WaitReply, WaitRun};
use openclaw_actors::registry::scheduler::RunTokens;
use serde_json::{Map, Value, json};

use crate::http::metrics::{Denied, check_bearer};

/// The largest request body (OpenClaw's 20 MB).
pub const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

/// The largest prompt built from `messages` (bytes).
pub const MAX_PROMPT_BYTES: usize = 4 * 1024 * 1024;

/// Most images taken from the latest user message (this gateway's attachment limit;
/// OpenClaw takes 8).
pub const MAX_IMAGES: usize = openclaw_actors::media::MAX_ATTACHMENTS;

/// Longest `user` and `x-openclaw-session-key` (characters).
const MAX_KEY_CHARS: usize = 256;

/// A comment line this often keeps an idle stream open through proxies, and notices a
/// client that left (a write to its closed connection fails).
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(3);

/// Deltas buffered for a stream that is not read fast enough (then some are skipped: each
/// carries the answer so far).
pub(crate) const TAP_BUFFER: usize = 64;

/// `gateway.http.endpoints`: which OpenAI-compatible endpoints answer (else `404` naming
/// the key). `/v1/models` answers when either does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// `chatCompletions.enabled`: `/v1/chat/completions`.
    pub enabled: bool,
    /// `responses.enabled`: `/v1/responses` (see [`super::openresponses`]).
    pub responses: bool,
}

/// Which endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/v1/models`, `/v1/models/{id}`.
    Models,
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/responses`.
    Responses,
}

pub(crate) fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("cache-control", "no-store"))
        .json(json!({"error": {"message": message.into(), "type": kind}}))
}

pub(crate) fn invalid(message: impl Into<String>) -> HttpResponse {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

/// The endpoint is on and the caller holds the shared secret.
pub(crate) async fn gate(
    req: &HttpRequest,
    engine: &Engine,
    settings: &Settings,
    endpoint: Endpoint,
) -> Result<(), HttpResponse> {
    let (on, key) = match endpoint {
        Endpoint::Models => (
            settings.enabled || settings.responses,
            "chatCompletions.enabled (or responses.enabled)",
        ),
        Endpoint::Chat => (settings.enabled, "chatCompletions.enabled"),
        Endpoint::Responses => (settings.responses, "responses.enabled"),
    };
    if !on {
        return Err(error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "this OpenAI-compatible endpoint is off. Fix: set gateway.http.endpoints.{key}: true"
            ),
        ));
    }
    match check_bearer(req, engine).await {
        Ok(()) => Ok(()),
        Err(Denied::Unauthorized) => Err(HttpResponse::Unauthorized()
            .insert_header(("www-authenticate", "Bearer"))
            .json(json!({"error": {"message": "Unauthorized", "type": "unauthorized"}}))),
        Err(Denied::Locked(secs)) => Err(HttpResponse::TooManyRequests()
            .insert_header(("retry-after", secs.to_string()))
            .json(json!({"error": {"message": "Too many failed authentication attempts. Retry later.", "type": "rate_limited"}}))),
        Err(Denied::Busy) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "the gateway is stopping",
        )),
        Err(Denied::Refused(resp)) => Err(resp),
    }
}

/// `openclaw`, `openclaw/default`, `openclaw/<id>` for every configured agent.
fn agent_model_ids(engine: &Engine) -> Vec<String> {
    let live = engine.shared.live.get();
    let mut ids = vec!["openclaw".to_owned(), "openclaw/default".to_owned()];
    ids.extend(
        live.agents
            .agents()
            .iter()
            .map(|a| format!("openclaw/{}", a.id)),
    );
    ids
}

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "openclaw", "permission": []})
}

pub(crate) fn method_not_allowed(allow: &str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("allow", allow))
        .body("Method Not Allowed")
}

/// `GET /v1/models`.
pub async fn models(
    req: HttpRequest,
    engine: web::Data<Engine>,
    settings: web::Data<Settings>,
) -> HttpResponse {
    if req.method() != actix_web::http::Method::GET {
        return method_not_allowed("GET");
    }
    if let Err(resp) = gate(&req, &engine, &settings, Endpoint::Models).await {
        return resp;
    }
    let data: Vec<Value> = agent_model_ids(&engine)
        .iter()
        .map(|id| model_object(id))
        .collect();
    HttpResponse::Ok().json(json!({"object": "list", "data": data}))
}

/// `GET /v1/models/{id}` (the id percent-encoded: `openclaw%2Fdefault`).
pub async fn model(
    req: HttpRequest,
    engine: web::Data<Engine>,
    settings: web::Data<Settings>,
) -> HttpResponse {
    if req.method() != actix_web::http::Method::GET {
        return method_not_allowed("GET");
    }
    if let Err(resp) = gate(&req, &engine, &settings, Endpoint::Models).await {
        return resp;
    }
    let raw = req.match_info().get("id").unwrap_or("");
    if raw.is_empty() {
        return invalid("Missing model id.");
    }
    let Some(id) = percent_decode(raw) else {
        return invalid("Invalid model id encoding.");
    };
    if !is_agent_model_id(&id) {
        return invalid("Invalid model id.");
    }
    if !agent_model_ids(&engine).contains(&id) {
        let shown: String = id.chars().take(100).collect();
        return error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("Model '{shown}' not found."),
        );
    }
    HttpResponse::Ok().json(model_object(&id))
}

/// `%XX` decoded (`None`: a bad escape or not UTF-8).
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // Two hex digits (`from_str_radix` alone would take a sign: `%+f`).
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An agent id as OpenClaw takes it in a model id: 1–64 of `a-z0-9_-`, starting with a
/// letter or digit (any case; lowercased).
fn agent_id_part(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| s.to_ascii_lowercase())
}

/// OpenClaw's `isOpenClawAgentModelId`.
pub fn is_agent_model_id(raw: &str) -> bool {
    let l = raw.trim().to_ascii_lowercase();
    l == "openclaw" || model_agent(&l).is_some()
}

/// The agent a model id names (`Some("default")` for `openclaw/default`).
pub fn model_agent(raw: &str) -> Option<String> {
    let l = raw.trim().to_ascii_lowercase();
    let rest = l
        .strip_prefix("openclaw/")
        .or_else(|| l.strip_prefix("openclaw:"))
        .or_else(|| l.strip_prefix("agent:"))?;
    agent_id_part(rest)
}

pub(crate) fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The agent of the call: `x-openclaw-agent-id`, else the model's, else the default.
pub(crate) fn resolve_agent(
    req: &HttpRequest,
    engine: &Engine,
    model: Option<&str>,
) -> Result<String, String> {
    let live = engine.shared.live.get();
    let roster = &live.agents;
    if let Some(m) = model.map(str::trim).filter(|m| !m.is_empty())
        && !is_agent_model_id(m)
    {
        return Err("Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.".into());
    }
    let known = |id: &str| -> Result<String, String> {
        if roster.get(id).is_some() {
            Ok(id.to_owned())
        } else {
            let shown: String = id.chars().take(64).collect();
            Err(format!(
                "Unknown agent '{shown}'. This gateway runs: {}",
                roster
                    .agents()
                    .iter()
                    .map(|a| a.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    if let Some(h) = header(req, "x-openclaw-agent-id") {
        return match agent_id_part(h) {
            Some(id) => known(&id),
            None => Err("Invalid x-openclaw-agent-id.".into()),
        };
    }
    match model.and_then(model_agent) {
        Some(id) if id == "default" => Ok(roster.default_id().to_owned()),
        Some(id) => known(&id),
        None => Ok(roster.default_id().to_owned()),
    }
}

/// A caller-chosen key part: 1–256 characters without control characters.
fn key_part(what: &str, s: &str) -> Result<(), String> {
    if s.chars().count() > MAX_KEY_CHARS || s.chars().any(char::is_control) {
        return Err(format!(
            "Invalid {what}: at most {MAX_KEY_CHARS} characters, without control characters."
        ));
    }
    Ok(())
}

/// The session of the call (see the module docs).
pub(crate) fn resolve_session(
    req: &HttpRequest,
    engine: &Engine,
    agent: &str,
    user: Option<&str>,
) -> Result<String, String> {
    if let Some(explicit) = header(req, "x-openclaw-session-key") {
        key_part("x-openclaw-session-key", explicit)?;
        let lowered = explicit.to_ascii_lowercase();
        let tail = match lowered.strip_prefix("agent:") {
            Some(rest) => rest.split_once(':').map_or("", |(_, t)| t),
            None => lowered.as_str(),
        };
        if ["subagent:", "cron:", "acp:"]
            .iter()
            .any(|p| tail.starts_with(p) || lowered.starts_with(p))
        {
            return Err(
                "x-openclaw-session-key uses a reserved namespace (subagent:, cron:, acp:)".into(),
            );
        }
        let key = if lowered.starts_with("agent:") {
            explicit.to_owned()
        } else {
            format!("agent:{agent}:{explicit}")
        };
        if let Some(e) = engine.shared.live.get().agents.refuse_key(&key) {
            return Err(e);
        }
        return Ok(key);
    }
    match user.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => {
            key_part("user", u)?;
            Ok(format!("agent:{agent}:openai-user:{u}"))
        }
        None => Ok(format!("agent:{agent}:openai:{}", uuid::Uuid::new_v4())),
    }
}

/// OpenClaw's `extractTextContent`: a string, or the text parts of a content array.
pub(crate) fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| {
                    let kind = p.get("type").and_then(Value::as_str);
                    match (kind, p.get("text").and_then(Value::as_str)) {
                        (Some("text" | "input_text" | "output_text"), Some(t)) => Some(t),
                        _ => p.get("input_text").and_then(Value::as_str),
                    }
                })
                .collect();
            Some(texts.join("\n"))
        }
        _ => None,
    }
}

/// The images of the latest user message (`image_url` parts: `{"image_url": {"url"}}` or
/// `{"image_url": "<url>"}`), decoded and typed as `chat.send`'s attachments are. `Err`:
/// too many, a URL that is not a `data:` URL, or data that is not a supported image.
pub fn latest_images(
    messages: &[Value],
) -> Result<Vec<openclaw_actors::media::FileUpload>, String> {
    let Some(parts) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str).map(str::trim) == Some("user"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
    else {
        return Ok(Vec::new());
    };
    let mut attachments = Vec::new();
    for p in parts {
        if p.get("type").and_then(Value::as_str) != Some("image_url") {
            continue;
        }
        let url = p
            .get("image_url")
            .and_then(|u| u.get("url").or(Some(u)))
            .and_then(Value::as_str)
            .map(str::trim)
            .ok_or("an `image_url` part has no `url`.")?;
        if !url
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("data:"))
        {
            return Err("An `image_url` given by URL is not fetched by this gateway: send the image inline as a `data:` URL (base64).".into());
        }
        attachments.push(json!({"type": "image", "content": url}));
    }
    if attachments.len() > MAX_IMAGES {
        return Err(format!(
            "At most {MAX_IMAGES} images per message ({} given).",
            attachments.len()
        ));
    }
    openclaw_actors::media::parse_uploads(Some(&Value::Array(attachments)))
        .map_err(|e| format!("{}.", e.replace("attachments[", "image_url[")))
}

/// The prompt: OpenClaw's `buildAgentPrompt` (the client's system text, the conversation
/// as context, the current turn). `Err`: what the request lacks or has that is refused.
pub fn build_prompt(messages: &[Value]) -> Result<String, String> {
    let mut system = Vec::new();
    // (role, "Sender: body")
    let mut entries: Vec<(&str, String, String)> = Vec::new();
    for m in messages {
        let Some(o) = m.as_object() else { continue };
        let role = o.get("role").and_then(Value::as_str).unwrap_or("").trim();
        // A user message of images only is still a turn (its images go with the run).
        let has_image = role == "user"
            && matches!(o.get("content"), Some(Value::Array(parts))
                if parts.iter().any(|p| p.get("type").and_then(Value::as_str) == Some("image_url")));
        let content = if role == "function" && o.get("content") == Some(&Value::Null) {
            Some(String::new())
        } else {
            o.get("content").and_then(text_of)
        };
        let content = content.map(|c| c.trim().to_owned());
        match role {
            "system" | "developer" => {
                if let Some(c) = content.filter(|c| !c.is_empty()) {
                    system.push(c);
                }
                continue;
            }
            "user" | "assistant" | "tool" | "function" => {}
            _ => continue,
        }
        let role = if role == "function" { "tool" } else { role };
        let mut body = content.clone().unwrap_or_default();
        if role == "assistant"
            && let Some(Value::Array(calls)) = o.get("tool_calls")
        {
            for c in calls {
                let id = c.get("id").and_then(Value::as_str).unwrap_or("");
                let f = c.get("function");
                let name = f
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let args = match f.and_then(|f| f.get("arguments")) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                };
                if !id.is_empty() && !name.is_empty() {
                    if !body.is_empty() {
                        body.push('\n');
                    }
                    body.push_str(&format!("tool_call id={id} name={name} arguments={args}"));
                }
            }
        }
        let call_id = o
            .get("tool_call_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        let name = o.get("name").and_then(Value::as_str).unwrap_or("").trim();
        let is_tool_result =
            role == "tool" && content.is_some() && (!call_id.is_empty() || !name.is_empty());
        if body.is_empty() && !is_tool_result && !has_image {
            continue;
        }
        let sender = match role {
            "assistant" => "Assistant".to_owned(),
            "user" => "User".to_owned(),
            _ if !call_id.is_empty() => format!("Tool:{call_id}"),
            _ if !name.is_empty() => format!("Tool:{name}"),
            _ => "Tool".to_owned(),
        };
        entries.push((role, sender, body));
    }
    let Some(current) = entries
        .iter()
        .rposition(|(role, _, _)| *role == "user" || *role == "tool")
    else {
        return Err("Missing user message in `messages`.".into());
    };
    let (role, sender, body) = &entries[current];
    let history: Vec<String> = entries[..current]
        .iter()
        .map(|(_, s, b)| format!("{s}: {b}"))
        .collect();
    let mut message = if history.is_empty() && *role != "tool" {
        body.clone()
    } else if history.is_empty() {
        format!("{sender}: {body}")
    } else {
        format!(
            "[Chat messages since your last reply - for context]\n{}\n\n[Current message - respond to this]\n{sender}: {body}",
            history.join("\n")
        )
    };
    if !system.is_empty() {
        message = format!(
            "[Instructions from the API client]\n{}\n\n{message}",
            system.join("\n\n")
        );
    }
    if message.len() > MAX_PROMPT_BYTES {
        return Err(format!(
            "The conversation is too long ({} bytes; at most {MAX_PROMPT_BYTES}). Send fewer messages: with `user`, the gateway keeps the conversation itself.",
            message.len()
        ));
    }
    Ok(message)
}

/// Checks the sampling fields as OpenClaw does (they are not forwarded here).
pub fn check_sampling(o: &Map<String, Value>) -> Result<(), String> {
    let num = |k: &str| o.get(k).filter(|v| !v.is_null());
    for (k, lo, hi) in [
        ("temperature", 0.0, 2.0),
        ("top_p", 0.0, 1.0),
        ("frequency_penalty", -2.0, 2.0),
        ("presence_penalty", -2.0, 2.0),
    ] {
        if let Some(v) = num(k) {
            match v.as_f64() {
                Some(x) if (lo..=hi).contains(&x) => {}
                _ => return Err(format!("`{k}` must be a number between {lo} and {hi}.")),
            }
        }
    }
    for k in ["max_tokens", "max_completion_tokens"] {
        if let Some(v) = num(k)
            && v.as_u64().is_none_or(|n| n == 0)
        {
            return Err(format!("`{k}` must be a positive integer."));
        }
    }
    if let Some(v) = num("seed")
        && v.as_i64().is_none()
        && v.as_u64().is_none()
    {
        return Err("`seed` must be an integer.".into());
    }
    match num("stop") {
        None => {}
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::Array(a))
            if a.len() <= 4 && a.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty())) => {}
        Some(_) => {
            return Err("Invalid stop: a non-empty string or at most 4 non-empty strings.".into());
        }
    }
    if let Some(v) = num("response_format")
        && !v.is_object()
    {
        return Err("Invalid response_format: response_format must be an object".into());
    }
    Ok(())
}

/// Aborts the run and stops following it when the caller goes away first.
pub(crate) struct RunGuard {
    pub(crate) engine: Engine,
    pub(crate) run_id: String,
    pub(crate) session_key: String,
    pub(crate) tapped: bool,
    pub(crate) done: bool,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if self.tapped {
            self.engine.registry.do_send(UntapRun {
                run_id: self.run_id.clone(),
            });
        }
        if !self.done {
            log::info!(
                "openai-http: the client of run {} went away; aborting it",
                self.run_id
            );
            self.engine.registry.do_send(AbortRun {
                session_key: self.session_key.clone(),
                run_id: Some(self.run_id.clone()),
            });
        }
    }
}

/// What a finished run answers (with its tokens), or its error.
pub(crate) enum Outcome {
    /// The answer and its tokens.
    Answer(String, Option<RunTokens>),
    /// Why it failed.
    Failed(String),
}

/// OpenAI's `usage` object.
pub(crate) fn usage_json(t: RunTokens) -> Value {
    json!({
        "prompt_tokens": t.prompt,
        "completion_tokens": t.completion,
        "total_tokens": t.prompt.saturating_add(t.completion),
    })
}

/// Waits (bounded by the run's own limit) for run `run_id` to end.
pub(crate) async fn wait_end(engine: &Engine, run_id: &str) -> Outcome {
    use openclaw_actors::registry::scheduler::WaitStatus;
    // The run ends by its own time limit; a few rounds of the longest wait cover it.
    for _ in 0..12 {
        let reply = engine
            .registry
            .send(WaitRun {
                run_id: run_id.to_owned(),
                timeout: openclaw_actors::agent_run::MAX_WAIT,
            })
            .await;
        match reply {
            Ok(WaitReply::Run(v)) => match v.status {
                WaitStatus::Ok => return Outcome::Answer(v.text.unwrap_or_default(), v.tokens),
                WaitStatus::Aborted => return Outcome::Failed("the run was aborted".into()),
                WaitStatus::Error => {
                    return Outcome::Failed(v.error.unwrap_or_else(|| "the run failed".into()));
                }
                WaitStatus::Queued | WaitStatus::Running | WaitStatus::Timeout => {}
            },
            Ok(WaitReply::Failed { error, .. }) => return Outcome::Failed(error),
            Ok(WaitReply::Gone) | Err(_) => return Outcome::Failed("the run is gone".into()),
        }
    }
    Outcome::Failed("the run did not end in time".into())
}

/// The text an answer shows (a silent `NO_REPLY` shows nothing).
pub(crate) fn shown(text: &str) -> &str {
    if text.trim().eq_ignore_ascii_case("NO_REPLY") {
        ""
    } else {
        text
    }
}

/// Submits the agent run of an HTTP call (its model picked by `x-openclaw-model`), first
/// following its events when `stream`; the guard aborts the run and stops following it if
/// the call is dropped before the run ends.
pub(crate) async fn start_run(
    req: &HttpRequest,
    engine: &Engine,
    run_id: String,
    session_key: String,
    prompt: String,
    uploads: Vec<openclaw_actors::media::FileUpload>,
    stream: bool,
) -> Result<(RunGuard, Option<tokio::sync::mpsc::Receiver<Value>>), HttpResponse> {
    let mut guard = RunGuard {
        engine: engine.clone(),
        run_id: run_id.clone(),
        session_key: session_key.clone(),
        tapped: false,
        done: true,
    };
    // A stream follows the run's events from before it starts.
    let tap = if stream {
        let (tx, rx) = tokio::sync::mpsc::channel(TAP_BUFFER);
        let tapped = engine
            .registry
            .send(TapRun {
                run_id: run_id.clone(),
                to: tx,
            })
            .await;
        if tapped != Ok(true) {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "too many streams are open; retry shortly",
            ));
        }
        guard.tapped = true;
        Some(rx)
    } else {
        None
    };
    let submitted = engine
        .registry
        .send(SubmitRun {
            run_id,
            session_key,
            text: prompt,
            sender: Some("operator:openai-http".into()),
            uploads,
            thinking: None,
            delivery: None,
            model: header(req, "x-openclaw-model").map(str::to_owned),
            session_id: None,
            voice_wake_trigger: None,
            // The gateway's secret is the owner's credential (see the module docs).
            admin: true,
            // Each request is answered by its own completion: never steered into, or
            // interrupting, another request's run of the same session.
            alone: true,
            queue_mode: None,
            existing: false,
        })
        .await;
    match submitted {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.code == ErrorCode::InvalidRequest => return Err(invalid(e.message)),
        Ok(Err(e)) => {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                e.message,
            ));
        }
        Err(_) => {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "the gateway is stopping",
            ));
        }
    }
    guard.done = false;
    Ok((guard, tap))
}

/// Why a request body was not read.
pub(crate) enum BodyError {
    /// Longer than the limit (declared or sent).
    TooLarge,
    /// The connection failed while it was read.
    Read(String),
}

/// Reads a request body of at most `limit` bytes (refused up front when `Content-Length`
/// says more).
pub(crate) async fn read_limited(
    mut body: web::Payload,
    req: &HttpRequest,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    use futures_util::StreamExt as _;
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut buf = Vec::with_capacity(declared.map_or(8 * 1024, |n| n as usize).min(limit));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        if buf.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Reads the request body, at most [`MAX_BODY_BYTES`] (`413` beyond, also when
/// `Content-Length` says so up front).
pub(crate) async fn read_body(
    body: web::Payload,
    req: &HttpRequest,
) -> Result<Vec<u8>, HttpResponse> {
    read_limited(body, req, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
            ),
            BodyError::Read(e) => invalid(format!("Cannot read the request body: {e}")),
        })
}

/// A `POST` to an OpenAI-compatible endpoint, up to its JSON object: the method, the
/// switch and the secret are checked before the body is read (bounded).
pub(crate) async fn read_request(
    req: &HttpRequest,
    body: web::Payload,
    engine: &Engine,
    settings: &Settings,
    endpoint: Endpoint,
) -> Result<Map<String, Value>, HttpResponse> {
    if req.method() != actix_web::http::Method::POST {
        return Err(method_not_allowed("POST"));
    }
    gate(req, engine, settings, endpoint).await?;
    let body = read_body(body, req).await?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(invalid("The body must be a JSON object.")),
        Err(e) => Err(invalid(format!("Invalid JSON body: {e}"))),
    }
}

/// An optional string field of a request.
pub(crate) fn string_field<'a>(
    o: &'a Map<String, Value>,
    k: &str,
) -> Result<Option<&'a str>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("`{k}` must be a string.")),
    }
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    req: HttpRequest,
    body: web::Payload,
    engine: web::Data<Engine>,
    settings: web::Data<Settings>,
) -> HttpResponse {
    let payload = match read_request(&req, body, &engine, &settings, Endpoint::Chat).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let o = &payload;
    let (model, user) = match (string_field(o, "model"), string_field(o, "user")) {
        (Ok(m), Ok(u)) => (m, u),
        (Err(e), _) | (_, Err(e)) => return invalid(e),
    };
    let stream = match o.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return invalid("`stream` must be a boolean."),
    };
    let include_usage = match o.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(so)) => match so.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return invalid("`stream_options.include_usage` must be a boolean."),
        },
        Some(_) => return invalid("`stream_options` must be an object."),
    } && stream;
    if let Some(t) = o.get("tools")
        && !t.is_null()
    {
        let empty = t.as_array().is_some_and(Vec::is_empty);
        if !t.is_array() {
            return invalid("`tools` must be an array.");
        }
        if !empty {
            return invalid(
                "Client function tools (`tools`) are not supported by this gateway: the agent runs with its own tools. Send the request without `tools`.",
            );
        }
    }
    match o.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(c)) if c == "auto" || c == "none" => {}
        Some(_) => {
            return invalid("`tool_choice` needs client tools, which this gateway does not take.");
        }
    }
    if let Err(e) = check_sampling(o) {
        return invalid(e);
    }
    let messages = match o.get("messages") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return invalid("`messages` must be an array."),
    };
    let prompt = match build_prompt(messages) {
        Ok(p) => p,
        Err(e) => return invalid(e),
    };
    let images = match latest_images(messages) {
        Ok(i) => i,
        Err(e) => return invalid(e),
    };
    let agent = match resolve_agent(&req, &engine, model) {
        Ok(a) => a,
        Err(e) => return invalid(e),
    };
    let session_key = match resolve_session(&req, &engine, &agent, user) {
        Ok(k) => k,
        Err(e) => return invalid(e),
    };
    let model_name = model.unwrap_or("openclaw").to_owned();
    let run_id = format!("chatcmpl_{}", uuid::Uuid::new_v4());
    let created = openclaw_actors::util::now_ms() / 1000;

    let (mut guard, tap) = match start_run(
        &req,
        engine.get_ref(),
        run_id.clone(),
        session_key.clone(),
        prompt,
        images,
        stream,
    )
    .await
    {
        Ok(started) => started,
        Err(resp) => return resp,
    };
    match tap {
        None => {
            let outcome = wait_end(&engine, &run_id).await;
            guard.done = true;
            match outcome {
                Outcome::Answer(text, tokens) => {
                    let text = shown(&text);
                    let content = if text.is_empty() {
                        "No response from OpenClaw."
                    } else {
                        text
                    };
                    let mut answer = json!({
                        "id": run_id,
                        "object": "chat.completion",
                        "created": created,
                        "model": model_name,
                        "choices": [{
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }],
                    });
                    if let Some(t) = tokens {
                        answer["usage"] = usage_json(t);
                    }
                    HttpResponse::Ok().json(answer)
                }
                Outcome::Failed(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    format!("agent run failed: {e}"),
                ),
            }
        }
        Some(rx) => {
            let format = ChunkFormat {
                id: run_id,
                model: model_name,
                created,
                include_usage,
            };
            EventStream::respond(rx, guard, format)
        }
    }
}

/// What the answer `text` (the whole of the current model round so far) adds to what was
/// streamed of that round (`sent`, updated): the new suffix, or, for a new round (the
/// earlier text was a preamble before tool calls), the whole text after a blank line, as
/// OpenClaw keeps separate assistant messages.
pub(crate) fn next_piece(sent: &mut String, text: &str) -> String {
    let text = shown(text);
    let piece = if let Some(rest) = text.strip_prefix(sent.as_str()) {
        rest.to_owned()
    } else if sent.is_empty() {
        text.to_owned()
    } else {
        format!("\n\n{text}")
    };
    text.clone_into(sent);
    piece
}

/// The text of a `chat` event's `message` (the answer so far), if it carries one.
pub(crate) fn event_text(ev: &Value) -> Option<String> {
    match &ev["message"]["content"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<String>(),
        ),
        _ => None,
    }
}

/// What a streamed answer's format writes at each step of a run (chat-completion chunks, or
/// the Responses API's events); [`EventStream`] drives it.
pub(crate) trait StreamFormat {
    /// The lines before the run's first piece.
    fn start(&mut self, out: &mut VecDeque<Bytes>);
    /// A new piece of the answer (what it adds to what was sent).
    fn piece(&mut self, piece: &str, out: &mut VecDeque<Bytes>);
    /// The run answered: `text` is everything sent, `tokens` what its model calls reported.
    fn answered(&mut self, text: &str, tokens: Option<RunTokens>, out: &mut VecDeque<Bytes>);
    /// The run failed (or the gateway stops): why.
    fn failed(&mut self, why: &str, out: &mut VecDeque<Bytes>);
}

/// Where a stream is.
enum Phase {
    Start,
    Running,
    /// The run answered; its tokens are read from its record before the closing lines.
    Answered,
    Ended,
}

/// A streamed answer: the run's `chat` events (through its tap) in format `F`, then `data:
/// [DONE]`, with a `: keep-alive` comment every [`KEEPALIVE`]; dropping it (the client
/// left) aborts the run through its guard.
pub(crate) struct EventStream<F> {
    rx: tokio::sync::mpsc::Receiver<Value>,
    guard: RunGuard,
    format: F,
    /// What was streamed of the current model round.
    sent: String,
    /// Everything streamed.
    text: String,
    queue: VecDeque<Bytes>,
    phase: Phase,
}

impl<F: StreamFormat + 'static> EventStream<F> {
    /// The SSE response of a run followed by `rx`.
    pub(crate) fn respond(
        rx: tokio::sync::mpsc::Receiver<Value>,
        guard: RunGuard,
        format: F,
    ) -> HttpResponse {
        let state = Self {
            rx,
            guard,
            format,
            sent: String::new(),
            text: String::new(),
            queue: VecDeque::new(),
            phase: Phase::Start,
        };
        HttpResponse::Ok()
            .insert_header(("content-type", "text/event-stream; charset=utf-8"))
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(futures_util::stream::unfold(state, Self::next))
    }

    fn extend(&mut self, text: &str) {
        let piece = next_piece(&mut self.sent, text);
        if !piece.is_empty() {
            self.text.push_str(&piece);
            self.format.piece(&piece, &mut self.queue);
        }
    }

    fn fail(&mut self, why: &str) {
        self.format.failed(why, &mut self.queue);
        self.queue
            .push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        self.phase = Phase::Ended;
        self.guard.done = true;
    }

    fn on_event(&mut self, ev: &Value) {
        match ev["state"].as_str() {
            Some("delta") => {
                let text = event_text(ev).unwrap_or_else(|| {
                    format!("{}{}", self.sent, ev["deltaText"].as_str().unwrap_or(""))
                });
                self.extend(&text);
            }
            Some("final") => {
                if let Some(text) = event_text(ev)
                    && text.starts_with(self.sent.as_str())
                {
                    self.extend(&text);
                }
                self.phase = Phase::Answered;
                self.guard.done = true;
            }
            Some("error") => {
                let e = ev["errorMessage"]
                    .as_str()
                    .unwrap_or("the run failed")
                    .to_owned();
                self.fail(&e);
            }
            Some("aborted") => self.fail("the run was aborted"),
            _ => {}
        }
    }

    async fn next(mut self) -> Option<(Result<Bytes, actix_web::Error>, Self)> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some((Ok(b), self));
            }
            match self.phase {
                Phase::Ended => return None,
                Phase::Start => {
                    self.format.start(&mut self.queue);
                    self.phase = Phase::Running;
                }
                Phase::Answered => {
                    let reply = self
                        .guard
                        .engine
                        .registry
                        .send(WaitRun {
                            run_id: self.guard.run_id.clone(),
                            timeout: Duration::from_secs(5),
                        })
                        .await;
                    let tokens = match reply {
                        Ok(WaitReply::Run(v)) => v.tokens,
                        _ => None,
                    };
                    self.format.answered(&self.text, tokens, &mut self.queue);
                    self.queue
                        .push_back(Bytes::from_static(b"data: [DONE]\n\n"));
                    self.phase = Phase::Ended;
                }
                Phase::Running => match tokio::time::timeout(KEEPALIVE, self.rx.recv()).await {
                    Ok(Some(ev)) => self.on_event(&ev),
                    Ok(None) => self.fail("the gateway is stopping"),
                    Err(_) => return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), self)),
                },
            }
        }
    }
}

/// Chat-completion chunks (`chat.completion.chunk`).
struct ChunkFormat {
    id: String,
    model: String,
    created: u64,
    /// `stream_options.include_usage`: a usage chunk before `[DONE]`.
    include_usage: bool,
}

impl ChunkFormat {
    fn line(&self, choices: Value, usage: Option<Value>) -> Bytes {
        let mut v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": choices,
        });
        if let Some(u) = usage {
            v["usage"] = u;
        }
        Bytes::from(format!("data: {v}\n\n"))
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        self.line(
            json!([{"index": 0, "delta": delta, "finish_reason": finish}]),
            None,
        )
    }
}

impl StreamFormat for ChunkFormat {
    fn start(&mut self, out: &mut VecDeque<Bytes>) {
        out.push_back(self.chunk(json!({"role": "assistant"}), None));
    }

    fn piece(&mut self, piece: &str, out: &mut VecDeque<Bytes>) {
        out.push_back(self.chunk(json!({"content": piece}), None));
    }

    fn answered(&mut self, _text: &str, tokens: Option<RunTokens>, out: &mut VecDeque<Bytes>) {
        out.push_back(self.chunk(json!({}), Some("stop")));
        if self.include_usage
            && let Some(t) = tokens
        {
            out.push_back(self.line(json!([]), Some(usage_json(t))));
        }
    }

    fn failed(&mut self, why: &str, out: &mut VecDeque<Bytes>) {
        let v =
            json!({"error": {"message": format!("agent run failed: {why}"), "type": "api_error"}});
        out.push_back(Bytes::from(format!("data: {v}\n\n")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": text})
    }

    #[test]
    fn the_prompt_is_openclaws() {
        assert_eq!(build_prompt(&[user(" hi ")]).as_deref(), Ok("hi"));
        let p = build_prompt(&[
            json!({"role": "system", "content": "Be brief."}),
            user("What is 2+2?"),
            json!({"role": "assistant", "content": "4"}),
            json!({"role": "user", "content": [{"type": "text", "text": "And 3+3?"}]}),
        ])
        .expect("prompt");
        assert_eq!(
            p,
            "[Instructions from the API client]\nBe brief.\n\n[Chat messages since your last reply - for context]\nUser: What is 2+2?\nAssistant: 4\n\n[Current message - respond to this]\nUser: And 3+3?"
        );
        let tool = build_prompt(&[
            user("weather?"),
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"x\"}"}}]}),
            json!({"role": "tool", "tool_call_id": "c1", "content": "sunny"}),
        ])
        .expect("prompt");
        assert!(tool.ends_with("Assistant: tool_call id=c1 name=w arguments={\"city\":\"x\"}\n\n[Current message - respond to this]\nTool:c1: sunny"), "{tool}");
        for bad in [
            vec![],
            vec![json!({"role": "system", "content": "x"})],
            vec![json!({"role": "assistant", "content": "x"})],
            vec![json!(42), json!({"role": 7})],
        ] {
            assert_eq!(
                build_prompt(&bad),
                Err("Missing user message in `messages`.".into())
            );
        }
        // An image-only turn is a turn.
        let img = build_prompt(&[
            json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}),
        ]);
        assert_eq!(img.as_deref(), Ok(""));
        let huge = "x".repeat(MAX_PROMPT_BYTES + 1);
        assert!(build_prompt(&[user(&huge)]).is_err_and(|e| e.contains("too long")));
    }

    #[test]
    fn model_ids_name_agents() {
        assert!(is_agent_model_id("openclaw"));
        assert!(is_agent_model_id("OpenClaw/Default"));
        assert_eq!(model_agent("openclaw/work").as_deref(), Some("work"));
        assert_eq!(model_agent("openclaw:work").as_deref(), Some("work"));
        assert_eq!(model_agent("agent:Work_1").as_deref(), Some("work_1"));
        for bad in [
            "gpt-4o",
            "openclaw/",
            "openclaw/-x",
            "agent:a b",
            "openclaw/ä",
            "",
        ] {
            assert!(!is_agent_model_id(bad), "{bad}");
        }
        assert!(!is_agent_model_id(&format!("openclaw/{}", "a".repeat(65))));
        assert_eq!(
            percent_decode("openclaw%2Fdefault").as_deref(),
            Some("openclaw/default")
        );
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%+f"), None);
    }

    /// A 1×1 PNG.
    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    #[test]
    fn the_latest_user_messages_data_url_images_are_attached() {
        let img = |url: &str| json!({"type": "image_url", "image_url": {"url": url}});
        let data = format!("data:image/png;base64,{PNG}");
        let got = latest_images(&[
            json!({"role": "user", "content": [img("https://example.com/old.png")]}),
            json!({"role": "assistant", "content": "ok"}),
            json!({"role": "user", "content": [{"type": "text", "text": "what is it?"}, img(&data),
                {"type": "image_url", "image_url": data}]}),
        ])
        .expect("two images");
        assert_eq!(got.len(), 2);
        assert_eq!(&*got[0].mime, "image/png");
        assert!(
            latest_images(&[json!({"role": "user", "content": "text"})])
                .is_ok_and(|v| v.is_empty())
        );
        for (parts, want) in [
            (vec![img("https://example.com/x.png")], "not fetched"),
            (vec![img("HTTP://x")], "not fetched"),
            (vec![json!({"type": "image_url"})], "no `url`"),
            (vec![img("data:image/png;base64,!!!")], "not base64"),
            (vec![img("data:text/plain;base64,aGVsbG8=")], "only images"),
            (vec![img(&data); MAX_IMAGES + 1], "At most"),
        ] {
            let e =
                latest_images(&[json!({"role": "user", "content": parts})]).expect_err("refused");
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn sampling_fields_are_checked() {
        let ok = |v: Value| check_sampling(v.as_object().expect("object"));
        assert!(ok(json!({"temperature": 0.7, "top_p": 1, "max_tokens": 5, "seed": -3, "stop": ["a", "b"]})).is_ok());
        assert!(ok(json!({"temperature": null, "max_tokens": null})).is_ok());
        for bad in [
            json!({"temperature": 2.5}),
            json!({"top_p": "x"}),
            json!({"max_tokens": 0}),
            json!({"max_completion_tokens": 1.5}),
            json!({"seed": 1.5}),
            json!({"stop": ["a", "b", "c", "d", "e"]}),
            json!({"stop": ""}),
            json!({"response_format": "json"}),
        ] {
            assert!(ok(bad.clone()).is_err(), "{bad}");
        }
    }
}
