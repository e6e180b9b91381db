//! OpenClaw's OpenResponses-compatible `POST /v1/responses`
//! (`gateway.http.endpoints.responses`, off by default): the same agent targets, auth,
//! sessions and limits as `/v1/chat/completions` (see [`super::openai`]), in the
//! Responses API's shapes.
//!
//! - **Input**: a string, or items: `message` items (roles `system`/`developer` go first as
//!   the client's instructions, `user`/`assistant` make the conversation; text parts
//!   `input_text`/`output_text`/`text`), `function_call` and `function_call_output` items
//!   (given to the agent as the conversation's tool turns), `reasoning` and
//!   `item_reference` items (ignored, as OpenClaw ignores them). `instructions` goes first.
//! - **Sessions**: as chat completions (`user`, `x-openclaw-session-key`, else a fresh one),
//!   and `previous_response_id` continues the session of an earlier response of the same
//!   agent (the last 4096 are remembered, in memory).
//! - **Answer**: a `response` object (`resp_…`, `status: "completed"`, one `message` output
//!   item with an `output_text` part, `usage` with `input_tokens`/`output_tokens` when the
//!   model reported them).
//! - **Streaming** (`stream: true`): `event:`/`data:` pairs with increasing
//!   `sequence_number`: `response.created`, `response.in_progress`,
//!   `response.output_item.added`, `response.content_part.added`,
//!   `response.output_text.delta`…, `response.output_text.done`, `response.content_part.done`,
//!   `response.output_item.done`, `response.completed` (a failed run: `response.failed`),
//!   then `data: [DONE]`; a `: keep-alive` comment every 3 s; a client that disconnects
//!   aborts the run.
//! - Images: the latest user message's `input_image` parts with a `data:` URL go with the
//!   run (as the chat completions endpoint's `image_url`s, see there).
//! - Refused with `400`: client `tools`, `input_image` by `http(s)` URL (no URL is ever
//!   fetched), `input_file` parts, an unknown `previous_response_id`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use openclaw_actors::Engine;
use openclaw_actors::registry::scheduler::RunTokens;
use serde_json::{Value, json};

use super::openai::{
    Endpoint, EventStream, Outcome, Settings, StreamFormat, build_prompt, error, invalid,
    latest_images, read_request, resolve_agent, resolve_session, shown, start_run, string_field,
    wait_end,
};

/// Responses whose sessions `previous_response_id` can continue.
const REMEMBERED: usize = 4096;

/// Response id → (agent, session key).
type Remembered = HashMap<String, (String, String)>;

/// Response id → (agent, session key), the newest [`REMEMBERED`] (with their order).
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<(Remembered, VecDeque<String>)>,
}

impl Sessions {
    fn remember(&self, id: &str, agent: &str, key: &str) {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (map, order) = &mut *g;
        if map
            .insert(id.to_owned(), (agent.to_owned(), key.to_owned()))
            .is_none()
        {
            order.push_back(id.to_owned());
        }
        while order.len() > REMEMBERED {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    fn find(&self, id: &str) -> Option<(String, String)> {
        let g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0.get(id).cloned()
    }
}

/// The Responses `input` (and `instructions`) as chat-completions messages, for the shared
/// prompt builder. `Err`: what is refused.
pub fn input_messages(instructions: Option<&str>, input: &Value) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    if let Some(i) = instructions.map(str::trim).filter(|i| !i.is_empty()) {
        out.push(json!({"role": "system", "content": i}));
    }
    let items = match input {
        Value::Null => return Ok(out),
        Value::String(s) => {
            out.push(json!({"role": "user", "content": s}));
            return Ok(out);
        }
        Value::Array(items) => items,
        _ => return Err("`input` must be a string or an array of items.".into()),
    };
    for item in items {
        let Some(o) = item.as_object() else {
            return Err("each `input` item must be an object.".into());
        };
        let kind = o.get("type").and_then(Value::as_str);
        let role = o.get("role").and_then(Value::as_str);
        match (kind, role) {
            (Some("message") | None, Some(role)) => {
                let mut content = o.get("content").cloned().unwrap_or(Value::Null);
                if let Value::Array(parts) = &mut content {
                    for p in parts.iter_mut() {
                        match p.get("type").and_then(Value::as_str) {
                            // An image part, as the chat completions shape has it.
                            Some("input_image") => {
                                let url = p.get("image_url").cloned().unwrap_or(Value::Null);
                                *p = json!({"type": "image_url", "image_url": {"url": url}});
                            }
                            Some("input_file") => {
                                return Err("`input_file` parts are not supported by this gateway's OpenResponses endpoint; send the text (images as `input_image` with a `data:` URL)".into());
                            }
                            _ => {}
                        }
                    }
                }
                out.push(json!({"role": role, "content": content}));
            }
            (Some("function_call"), _) => {
                out.push(json!({"role": "assistant", "content": "", "tool_calls": [{
                    "id": o.get("call_id").cloned().unwrap_or(Value::Null),
                    "type": "function",
                    "function": {"name": o.get("name").cloned().unwrap_or(Value::Null),
                                 "arguments": o.get("arguments").cloned().unwrap_or(Value::Null)},
                }]}));
            }
            (Some("function_call_output"), _) => {
                let output = match o.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                };
                out.push(json!({"role": "tool", "tool_call_id": o.get("call_id").cloned().unwrap_or(Value::Null), "content": output}));
            }
            (Some("reasoning" | "item_reference"), _) => {}
            (Some(t @ ("input_image" | "input_file")), _) => {
                return Err(format!(
                    "`{t}` items are not supported by this gateway's OpenResponses endpoint; send the text"
                ));
            }
            (Some(t), _) => {
                let shown: String = t.chars().take(64).collect();
                return Err(format!("Unsupported input item type `{shown}`."));
            }
            (None, None) => return Err("an `input` item has neither `type` nor `role`.".into()),
        }
    }
    Ok(out)
}

/// The Responses API's `usage`.
fn usage_json(t: RunTokens) -> Value {
    json!({
        "input_tokens": t.prompt,
        "output_tokens": t.completion,
        "total_tokens": t.prompt.saturating_add(t.completion),
    })
}

/// What identifies a response on the wire.
struct Ids<'a> {
    id: &'a str,
    msg_id: &'a str,
    created: u64,
    model: &'a str,
}

/// A `response` object in `status`, with its answer `text` (none: no output yet), its
/// tokens and, failed, why.
fn response_object(
    ids: &Ids<'_>,
    status: &str,
    text: Option<&str>,
    tokens: Option<RunTokens>,
    failure: Option<&str>,
) -> Value {
    let output = match text {
        Some(t) => json!([{
            "type": "message", "id": ids.msg_id, "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": t, "annotations": []}],
        }]),
        None => json!([]),
    };
    let mut r = json!({
        "id": ids.id, "object": "response", "created_at": ids.created, "status": status,
        "model": ids.model, "output": output, "error": null, "incomplete_details": null,
    });
    if let Some(t) = tokens {
        r["usage"] = usage_json(t);
    }
    if let Some(f) = failure {
        r["error"] = json!({"code": "api_error", "message": format!("agent run failed: {f}")});
    }
    r
}

/// `POST /v1/responses`.
pub async fn responses(
    req: HttpRequest,
    body: web::Payload,
    engine: web::Data<Engine>,
    settings: web::Data<Settings>,
    remembered: web::Data<Sessions>,
) -> HttpResponse {
    let payload = match read_request(&req, body, &engine, &settings, Endpoint::Responses).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let o = &payload;
    let text_field = |k: &str| string_field(o, k);
    let fields = (
        text_field("model"),
        text_field("user"),
        text_field("instructions"),
        text_field("previous_response_id"),
    );
    let (model, user, instructions, previous) = match fields {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
            return invalid(e);
        }
    };
    let stream = match o.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return invalid("`stream` must be a boolean."),
    };
    if let Some(t) = o.get("tools").filter(|t| !t.is_null()) {
        if !t.is_array() {
            return invalid("`tools` must be an array.");
        }
        if t.as_array().is_some_and(|a| !a.is_empty()) {
            return invalid(
                "Client function tools (`tools`) are not supported by this gateway: the agent runs with its own tools. Send the request without `tools`.",
            );
        }
    }
    for (k, lo, hi) in [("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)] {
        if let Some(v) = o.get(k).filter(|v| !v.is_null())
            && !v.as_f64().is_some_and(|x| (lo..=hi).contains(&x))
        {
            return invalid(format!("`{k}` must be a number between {lo} and {hi}."));
        }
    }
    if let Some(v) = o.get("max_output_tokens").filter(|v| !v.is_null())
        && v.as_u64().is_none_or(|n| n == 0)
    {
        return invalid("`max_output_tokens` must be a positive integer.");
    }
    let agent = match resolve_agent(&req, &engine, model) {
        Ok(a) => a,
        Err(e) => return invalid(e),
    };
    let session_key = match previous.map(str::trim).filter(|p| !p.is_empty()) {
        Some(prev) => match remembered.find(prev) {
            Some((a, key)) if a == agent => key,
            Some(_) => {
                return invalid("`previous_response_id` belongs to another agent's session.");
            }
            None => {
                let shown: String = prev.chars().take(100).collect();
                return invalid(format!(
                    "Unknown `previous_response_id` {shown:?} (the gateway remembers its last {REMEMBERED} responses)."
                ));
            }
        },
        None => match resolve_session(&req, &engine, &agent, user) {
            Ok(k) => k,
            Err(e) => return invalid(e),
        },
    };
    let messages = match input_messages(instructions, o.get("input").unwrap_or(&Value::Null)) {
        Ok(m) => m,
        Err(e) => return invalid(e),
    };
    let prompt = match build_prompt(&messages) {
        Ok(p) => p,
        Err(e) => return invalid(e.replace("`messages`", "`input`")),
    };
    let images = match latest_images(&messages) {
        Ok(i) => i,
        Err(e) => return invalid(e.replace("image_url", "input_image")),
    };
    let model_name = model.unwrap_or("openclaw").to_owned();
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    let run_id = format!("resp_{uuid}");
    let msg_id = format!("msg_{uuid}");
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
    remembered.remember(&run_id, &agent, &session_key);
    let Some(rx) = tap else {
        let outcome = wait_end(&engine, &run_id).await;
        guard.done = true;
        return match outcome {
            Outcome::Answer(text, tokens) => {
                let ids = Ids {
                    id: &run_id,
                    msg_id: &msg_id,
                    created,
                    model: &model_name,
                };
                HttpResponse::Ok().json(response_object(
                    &ids,
                    "completed",
                    Some(shown(&text)),
                    tokens,
                    None,
                ))
            }
            Outcome::Failed(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                format!("agent run failed: {e}"),
            ),
        };
    };
    let format = ResponsesFormat {
        id: run_id,
        msg_id,
        model: model_name,
        created,
        seq: 0,
    };
    EventStream::respond(rx, guard, format)
}

/// The Responses API's events, numbered by `sequence_number`.
struct ResponsesFormat {
    id: String,
    msg_id: String,
    model: String,
    created: u64,
    seq: u64,
}

impl ResponsesFormat {
    fn event(&mut self, kind: &str, mut data: Value, out: &mut VecDeque<Bytes>) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        out.push_back(Bytes::from(format!("event: {kind}\ndata: {data}\n\n")));
    }

    fn response(
        &self,
        status: &str,
        text: Option<&str>,
        tokens: Option<RunTokens>,
        failure: Option<&str>,
    ) -> Value {
        let ids = Ids {
            id: &self.id,
            msg_id: &self.msg_id,
            created: self.created,
            model: &self.model,
        };
        response_object(&ids, status, text, tokens, failure)
    }
}

impl StreamFormat for ResponsesFormat {
    fn start(&mut self, out: &mut VecDeque<Bytes>) {
        let r = self.response("in_progress", None, None, None);
        self.event("response.created", json!({"response": r}), out);
        let r = self.response("in_progress", None, None, None);
        self.event("response.in_progress", json!({"response": r}), out);
        let item = json!({"type": "message", "id": self.msg_id, "status": "in_progress", "role": "assistant", "content": []});
        self.event(
            "response.output_item.added",
            json!({"output_index": 0, "item": item}),
            out,
        );
        let id = self.msg_id.clone();
        self.event(
            "response.content_part.added",
            json!({"item_id": id, "output_index": 0, "content_index": 0,
                   "part": {"type": "output_text", "text": "", "annotations": []}}),
            out,
        );
    }

    fn piece(&mut self, piece: &str, out: &mut VecDeque<Bytes>) {
        let id = self.msg_id.clone();
        self.event(
            "response.output_text.delta",
            json!({"item_id": id, "output_index": 0, "content_index": 0, "delta": piece}),
            out,
        );
    }

    fn answered(&mut self, text: &str, tokens: Option<RunTokens>, out: &mut VecDeque<Bytes>) {
        let id = self.msg_id.clone();
        let part = json!({"type": "output_text", "text": text, "annotations": []});
        self.event(
            "response.output_text.done",
            json!({"item_id": id, "output_index": 0, "content_index": 0, "text": text}),
            out,
        );
        self.event(
            "response.content_part.done",
            json!({"item_id": id, "output_index": 0, "content_index": 0, "part": part}),
            out,
        );
        let item = json!({"type": "message", "id": id, "status": "completed", "role": "assistant", "content": [part]});
        self.event(
            "response.output_item.done",
            json!({"output_index": 0, "item": item}),
            out,
        );
        let r = self.response("completed", Some(text), tokens, None);
        self.event("response.completed", json!({"response": r}), out);
    }

    fn failed(&mut self, why: &str, out: &mut VecDeque<Bytes>) {
        let r = self.response("failed", None, None, Some(why));
        self.event("response.failed", json!({"response": r}), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_items_become_the_conversation() {
        let m = input_messages(Some("Be brief."), &json!("hi")).expect("ok");
        assert_eq!(
            m,
            vec![
                json!({"role": "system", "content": "Be brief."}),
                json!({"role": "user", "content": "hi"}),
            ]
        );
        let m = input_messages(
            None,
            &json!([
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
                {"type": "reasoning", "summary": []},
                {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            ]),
        )
        .expect("ok");
        let prompt = build_prompt(&m).expect("prompt");
        assert!(
            prompt.ends_with("Assistant: tool_call id=c1 name=w arguments={}\n\n[Current message - respond to this]\nTool:c1: sunny"),
            "{prompt}"
        );
        for (input, want) in [
            (json!(5), "must be a string or an array"),
            (json!([1]), "must be an object"),
            (
                json!([{"type": "input_image", "image_url": "x"}]),
                "`input_image`",
            ),
            (
                json!([{"role": "user", "content": [{"type": "input_file", "file_data": "x"}]}]),
                "data:",
            ),
            (
                json!([{"role": "user", "content": [{"type": "input_file", "file_data": "x"}]}]),
                "`input_file`",
            ),
            (
                json!([{"type": "computer_call"}]),
                "Unsupported input item type",
            ),
            (json!([{}]), "neither"),
        ] {
            let e = input_messages(None, &input).expect_err("refused");
            assert!(e.contains(want), "{input}: {e}");
        }
    }

    #[test]
    fn only_the_newest_responses_are_remembered() {
        let s = Sessions::default();
        for i in 0..REMEMBERED + 10 {
            s.remember(&format!("r{i}"), "main", &format!("k{i}"));
        }
        assert_eq!(s.find("r0"), None);
        assert_eq!(
            s.find(&format!("r{}", REMEMBERED + 9)),
            Some(("main".into(), format!("k{}", REMEMBERED + 9)))
        );
        assert_eq!(s.inner.lock().map(|g| g.0.len()).unwrap_or(0), REMEMBERED);
    }
}
