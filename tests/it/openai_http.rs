//! OpenClaw's OpenAI-compatible HTTP endpoints (`gateway.http.endpoints.chatCompletions`)
//! against the real binary and the fake model: off by default, the shared secret as a
//! bearer token (with the handshake's lockout), `/v1/models`, non-streaming and streaming
//! chat completions running the agent, conversations kept by `user`, a disconnect
//! aborting the run, and hostile input refused before anything runs.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::{TestGateway, WsClient, cli_params, http_exchange, http_request};
use crate::telegram_flow::GW_TOKEN;

const BEARER: &str = "Bearer gw-secret-token";

fn config(ai: &FakeOpenAi, enabled: bool) -> String {
    config_with(ai, json!({"chatCompletions": {"enabled": enabled}}))
}

fn config_with(ai: &FakeOpenAi, endpoints: Value) -> String {
    json!({
        "gateway": {
            "auth": {"token": GW_TOKEN, "rateLimit": {"maxAttempts": 3, "windowMs": 60000, "lockoutMs": 60000, "exemptLoopback": false}},
            "http": {"endpoints": endpoints},
        },
        "models": {"providers": {"fake": {"baseUrl": ai.base_url(), "models": [{"id": "m1"}, {"id": "m2"}]}}},
        "agents": {"defaults": {"model": {"primary": "fake/m1"}}},
    })
    .to_string()
}

fn start(ai: &FakeOpenAi, enabled: bool) -> TestGateway {
    TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&config(ai, enabled)),
    )
}

fn auth() -> String {
    format!("Bearer {GW_TOKEN}")
}

/// `POST /v1/chat/completions` with `body` (and `extra` headers): (status, headers, JSON).
fn complete(gw: &TestGateway, body: &Value, extra: &[(&str, &str)]) -> (u16, String, Value) {
    let a = auth();
    let mut headers = vec![
        ("Authorization", a.as_str()),
        ("Content-Type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    let (status, head, text) = http_exchange(
        gw.port,
        "POST",
        "/v1/chat/completions",
        &headers,
        body.to_string().as_bytes(),
    );
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, head, v)
}

/// The last user-visible text a recorded model request carried.
fn last_user_text(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

/// Sends a `POST /v1/chat/completions` head with `headers` and no body; returns the
/// response head as soon as it arrives (the server need not read a body it refuses).
fn head_only(port: u16, headers: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req =
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    head
}

#[test]
fn off_by_default_and_behind_the_shared_secret() {
    let ai = FakeOpenAi::start();
    let gw = start(&ai, false);
    let a = auth();
    let (status, _, body) = http_request(gw.port, "GET", "/v1/models", &[("Authorization", &a)]);
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("Fix: set gateway.http.endpoints.chatCompletions.enabled"),
        "{body}"
    );
    drop(gw);

    let gw = start(&ai, true);
    let (status, head, body) = http_request(gw.port, "GET", "/v1/models", &[]);
    assert_eq!(status, 401, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON"),
        json!({"error": {"message": "Unauthorized", "type": "unauthorized"}})
    );
    let (status, _, body) = http_request(gw.port, "GET", "/v1/models", &[("Authorization", &a)]);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["openclaw", "openclaw/default", "openclaw/main"],
        "{v}"
    );
    assert_eq!(v["data"][0]["owned_by"], "openclaw", "{v}");
    let (status, _, body) = http_request(
        gw.port,
        "GET",
        "/v1/models/openclaw%2Fmain",
        &[("Authorization", &a)],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON")["id"],
        "openclaw/main"
    );
    for (path, want) in [
        ("/v1/models/openclaw%2Fghost", 404),
        ("/v1/models/gpt-4o", 400),
        ("/v1/models/%zz", 400),
    ] {
        let (status, _, body) = http_request(gw.port, "GET", path, &[("Authorization", &a)]);
        assert_eq!(status, want, "{path}: {body}");
    }
    // A stranger's body is never read: the answer comes before it (here: never sent).
    let head = head_only(gw.port, "Content-Length: 104857600\r\n");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let head = head_only(
        gw.port,
        &format!("Authorization: {a}\r\nContent-Length: 104857600\r\n"),
    );
    assert!(
        head.starts_with("HTTP/1.1 413"),
        "declared too large: refused before reading: {head}"
    );
    let (status, head, _) = http_request(gw.port, "POST", "/v1/models", &[("Authorization", &a)]);
    assert_eq!(status, 405);
    assert!(head.to_ascii_lowercase().contains("allow: get"), "{head}");

    // Wrong secrets count against the handshake's limiter: locked out with Retry-After,
    // and then even the right secret waits.
    for _ in 0..3 {
        let (status, _, _) =
            http_request(gw.port, "GET", "/v1/models", &[("Authorization", BEARER)]);
        assert_eq!(status, 401);
    }
    let (status, head, body) = http_request(gw.port, "GET", "/v1/models", &[("Authorization", &a)]);
    assert_eq!(status, 429, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    assert_eq!(ai.request_count(), 0);
}

#[actix_web::test]
async fn chat_completions_run_the_agent_and_keep_a_conversation_by_user() {
    let ai = FakeOpenAi::start();
    let gw = start(&ai, true);

    ai.push_text("Paris, of course.");
    ai.set_usage(
        json!({"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46,
                        "prompt_tokens_details": {"cached_tokens": 10}}),
    );
    let (status, _, v) = complete(
        &gw,
        &json!({"model": "openclaw/default", "messages": [
            {"role": "system", "content": "Answer in one line."},
            {"role": "user", "content": "Capital of France?"},
        ]}),
        &[],
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion", "{v}");
    assert!(
        v["id"].as_str().is_some_and(|i| i.starts_with("chatcmpl_")),
        "{v}"
    );
    assert_eq!(v["model"], "openclaw/default", "{v}");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant", "{v}");
    assert_eq!(
        v["choices"][0]["message"]["content"], "Paris, of course.",
        "{v}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46}),
        "what the model reported, cached tokens counted in the prompt: {v}"
    );
    let asked = last_user_text(&ai.requests()[0]);
    assert!(
        asked.contains("[Instructions from the API client]\nAnswer in one line.")
            && asked.ends_with("Capital of France?"),
        "{asked}"
    );

    // `user` keeps one conversation: the second call's model request holds the first turn
    // (from the gateway's own transcript, not from the client's messages).
    ai.push_text("First answer.");
    ai.push_text("Second answer.");
    for (text, want) in [
        ("Remember 7231.", "First answer."),
        ("What did I ask you to remember?", "Second answer."),
    ] {
        let (status, _, v) = complete(
            &gw,
            &json!({"model": "openclaw", "user": "alice 😀", "messages": [{"role": "user", "content": text}]}),
            &[],
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["choices"][0]["message"]["content"], want, "{v}");
    }
    let requests = ai.requests();
    let second = requests.last().expect("a request").to_string();
    assert!(
        second.contains("Remember 7231.") && second.contains("First answer."),
        "{second}"
    );
    let index: Value = serde_json::from_slice(
        &std::fs::read(gw.dir.path().join("agents/main/sessions/sessions.json")).expect("index"),
    )
    .expect("JSON");
    assert!(
        index.get("agent:main:openai-user:alice 😀").is_some(),
        "{index}"
    );
    // Without `user`, a fresh session each time.
    let fresh: Vec<&String> = index
        .as_object()
        .expect("object")
        .keys()
        .filter(|k| k.starts_with("agent:main:openai:"))
        .collect();
    assert_eq!(fresh.len(), 1, "{index}");

    // `x-openclaw-model` picks a configured model for the call.
    ai.push_text("From m2.");
    let (status, _, v) = complete(
        &gw,
        &json!({"messages": [{"role": "user", "content": "hi"}]}),
        &[("x-openclaw-model", "fake/m2")],
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(ai.requests().last().expect("request")["model"], "m2");

    // Refused before anything runs.
    let before = ai.request_count();
    let huge = "x".repeat(21 * 1024 * 1024);
    let (status, _, _) = http_exchange(
        gw.port,
        "POST",
        "/v1/chat/completions",
        &[
            ("Authorization", &auth()),
            ("Content-Type", "application/json"),
        ],
        huge.as_bytes(),
    );
    assert_eq!(status, 413);
    let user = |t: &str| json!([{"role": "user", "content": t}]);
    for (body, extra, want) in [
        (
            json!({"model": "gpt-4o", "messages": user("x")}),
            vec![],
            "Invalid `model`",
        ),
        (
            json!({"model": "openclaw/ghost", "messages": user("x")}),
            vec![],
            "Unknown agent 'ghost'",
        ),
        (
            json!({"messages": []}),
            vec![],
            "Missing user message in `messages`.",
        ),
        (
            json!({"messages": user("x"), "tools": [{"type": "function", "function": {"name": "f"}}]}),
            vec![],
            "`tools`",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://169.254.169.254/"}}]}]}),
            vec![],
            "image_url",
        ),
        (
            json!({"messages": user("x"), "temperature": 9}),
            vec![],
            "`temperature`",
        ),
        (
            json!({"messages": user("x"), "stream": "yes"}),
            vec![],
            "`stream` must be a boolean",
        ),
        (
            json!({"messages": user("x"), "user": "a\u{0}b"}),
            vec![],
            "Invalid user",
        ),
        (
            json!({"messages": user("x")}),
            vec![("x-openclaw-session-key", "cron:job-1")],
            "reserved namespace",
        ),
        (
            json!({"messages": user("x")}),
            vec![("x-openclaw-model", "nope/never")],
            "unknown model",
        ),
        (json!([1, 2]), vec![], "JSON object"),
    ] {
        let (status, _, v) = complete(&gw, &body, &extra);
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{body}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(want)),
            "{body}: {v}"
        );
    }
    let (status, _, _) = http_exchange(
        gw.port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &auth())],
        b"{not json",
    );
    assert_eq!(status, 400);
    assert_eq!(ai.request_count(), before, "nothing reached the model");
}

/// Reads SSE `data:` lines from `reader` until `[DONE]` (bounded).
fn read_events(reader: &mut BufReader<TcpStream>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            out.push(data.to_owned());
            if data == "[DONE]" {
                break;
            }
        }
    }
    out
}

/// Opens a streaming request; returns the reader positioned after the response head.
fn open_stream(port: u16, body: &Value) -> (BufReader<TcpStream>, String) {
    open_stream_at(port, "/v1/chat/completions", body)
}

/// As [`open_stream`], to `path`.
fn open_stream_at(port: u16, path: &str, body: &Value) -> (BufReader<TcpStream>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = body.to_string();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {GW_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    (reader, head)
}

#[actix_web::test]
async fn a_stream_carries_the_answer_as_it_comes_and_a_disconnect_aborts_the_run() {
    let ai = FakeOpenAi::start();
    ai.set_streaming(true);
    let gw = start(&ai, true);
    let answer = "The quick brown fox jumps over the lazy dog — 🦊.";
    ai.push(FakeReply::text(answer).with_chunk_delay(Duration::from_millis(150)));
    ai.set_usage(json!({"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}));
    let (mut reader, head) = open_stream(
        gw.port,
        &json!({"model": "openclaw", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "a pangram"}]}),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    let events = read_events(&mut reader);
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk JSON"))
        .collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant"}),
        "{chunks:?}"
    );
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"])
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, answer, "{chunks:?}");
    let pieces = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["content"].is_string())
        .count();
    assert!(pieces >= 2, "streamed in pieces: {chunks:?}");
    // The stop chunk, then (asked for) the usage chunk, then `[DONE]`.
    let usage = chunks.last().expect("chunk");
    assert_eq!(usage["choices"], json!([]), "{chunks:?}");
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}),
        "{chunks:?}"
    );
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );

    // A client that goes away mid-answer aborts the run.
    ai.push(FakeReply::text("never seen").delayed(Duration::from_secs(20)));
    let (mut reader, head) = open_stream(
        gw.port,
        &json!({"stream": true, "user": "bob", "messages": [{"role": "user", "content": "slow one"}]}),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut first = String::new();
    while !first.starts_with("data: ") {
        first.clear();
        reader.read_line(&mut first).expect("the role chunk");
    }
    let run_id = serde_json::from_str::<Value>(first.trim_end().trim_start_matches("data: "))
        .expect("chunk")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    ai.wait_requests(2, Duration::from_secs(10));
    drop(reader);
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params(GW_TOKEN, &["operator.read", "operator.write"]),
    )
    .await;
    let id = op
        .send_request("agent.wait", json!({"runId": run_id, "timeoutMs": 15000}))
        .await;
    let waited = op.response_within(&id, Duration::from_secs(20)).await;
    assert_eq!(waited["payload"]["status"], "aborted", "{waited}");
}

/// `POST /v1/responses` to `gw` with `body`: (status, JSON or the raw text).
fn respond(gw: &TestGateway, body: &Value) -> (u16, Value) {
    let a = auth();
    let (status, _, text) = http_exchange(
        gw.port,
        "POST",
        "/v1/responses",
        &[("Authorization", &a), ("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// OpenClaw's OpenResponses endpoint (`gateway.http.endpoints.responses`): its own switch,
/// the `response` object, `previous_response_id` continuing a session, the event stream,
/// and refusals.
#[actix_web::test]
async fn responses_answer_continue_and_stream_in_the_responses_shape() {
    let ai = FakeOpenAi::start();
    ai.set_streaming(true);
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&config_with(&ai, json!({"responses": {"enabled": true}}))),
    );
    let a = auth();
    // Chat completions stay off; the model list is served for either.
    let (status, body) = complete_status(&gw);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("chatCompletions.enabled"), "{body}");
    let (status, _, _) = http_request(gw.port, "GET", "/v1/models", &[("Authorization", &a)]);
    assert_eq!(status, 200);

    ai.set_usage(json!({"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}));
    ai.push_text("Bonjour.");
    let (status, v) = respond(
        &gw,
        &json!({"model": "openclaw", "instructions": "Answer in French.", "input": "Say hello."}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "response", "{v}");
    assert_eq!(v["status"], "completed", "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("resp_"), "{v}");
    let item = &v["output"][0];
    assert_eq!(item["type"], "message", "{v}");
    assert_eq!(item["role"], "assistant", "{v}");
    assert_eq!(item["content"][0]["type"], "output_text", "{v}");
    assert_eq!(item["content"][0]["text"], "Bonjour.", "{v}");
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 21, "output_tokens": 4, "total_tokens": 25}),
        "{v}"
    );
    let asked = last_user_text(&ai.requests()[0]);
    assert!(
        asked.starts_with("[Instructions from the API client]\nAnswer in French.")
            && asked.ends_with("Say hello."),
        "{asked}"
    );

    // `previous_response_id` continues that session.
    ai.push_text("Au revoir.");
    let (status, v) = respond(
        &gw,
        &json!({"previous_response_id": id, "input": [{"role": "user", "content": [{"type": "input_text", "text": "Now goodbye."}]}]}),
    );
    assert_eq!(status, 200, "{v}");
    let second = ai.requests().last().expect("request").to_string();
    assert!(
        second.contains("Say hello.") && second.contains("Bonjour."),
        "{second}"
    );

    // Streamed: the Responses events in order, deltas that make the text, usage at the end.
    ai.push(
        FakeReply::text("Un, deux, trois, quatre.").with_chunk_delay(Duration::from_millis(120)),
    );
    let (mut reader, head) = open_stream_at(
        gw.port,
        "/v1/responses",
        &json!({"input": "Count.", "stream": true}),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut kinds = Vec::new();
    let mut datas = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(k) = line.trim_end().strip_prefix("event: ") {
            kinds.push(k.to_owned());
        } else if let Some(d) = line.trim_end().strip_prefix("data: ") {
            if d == "[DONE]" {
                break;
            }
            datas.push(serde_json::from_str::<Value>(d).expect("event JSON"));
        }
    }
    let first_delta = kinds
        .iter()
        .position(|k| k == "response.output_text.delta")
        .expect("deltas");
    assert_eq!(
        &kinds[..first_delta],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ],
        "{kinds:?}"
    );
    let tail: Vec<&str> = kinds
        .iter()
        .skip_while(|k| *k != "response.output_text.done")
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ],
        "{kinds:?}"
    );
    assert!(
        datas
            .iter()
            .zip(0u64..)
            .all(|(d, i)| d["sequence_number"] == i),
        "{datas:?}"
    );
    let deltas: String = datas
        .iter()
        .filter(|d| d["type"] == "response.output_text.delta")
        .filter_map(|d| d["delta"].as_str())
        .collect();
    assert_eq!(deltas, "Un, deux, trois, quatre.");
    let done = datas.last().expect("completed");
    assert_eq!(done["response"]["status"], "completed", "{done}");
    assert_eq!(
        done["response"]["output"][0]["content"][0]["text"], "Un, deux, trois, quatre.",
        "{done}"
    );
    assert!(
        done["response"]["usage"]["output_tokens"].is_u64(),
        "{done}"
    );

    let before = ai.request_count();
    for (body, want) in [
        (
            json!({"previous_response_id": "resp_nope", "input": "x"}),
            "Unknown `previous_response_id`",
        ),
        (
            json!({"input": [{"type": "input_image", "image_url": "http://169.254.169.254/"}]}),
            "`input_image`",
        ),
        (
            json!({"input": "x", "tools": [{"type": "function", "name": "f"}]}),
            "`tools`",
        ),
        (json!({"input": 7}), "must be a string or an array"),
        (json!({"input": []}), "Missing user message in `input`."),
        (json!({"model": "gpt-4o", "input": "x"}), "Invalid `model`"),
        (
            json!({"input": "x", "max_output_tokens": 0}),
            "`max_output_tokens`",
        ),
    ] {
        let (status, v) = respond(&gw, &body);
        assert_eq!(status, 400, "{body}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(want)),
            "{body}: {v}"
        );
    }
    assert_eq!(ai.request_count(), before, "nothing reached the model");
}

/// `POST /v1/chat/completions` with a minimal body: (status, raw body).
fn complete_status(gw: &TestGateway) -> (u16, String) {
    let a = auth();
    let (status, _, body) = http_exchange(
        gw.port,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &a), ("Content-Type", "application/json")],
        br#"{"messages":[{"role":"user","content":"x"}]}"#,
    );
    (status, body)
}

/// Images from an OpenAI client (Open WebUI's attach button): the latest user message's
/// `data:` URL images reach a model that sees images, through both endpoints; an image by
/// `https` URL is refused (`400`, nothing fetched, nothing run), and so is data that is not
/// an image.
#[actix_web::test]
async fn data_url_images_reach_the_model_and_image_urls_are_not_fetched() {
    let ai = FakeOpenAi::start();
    let mut cfg: Value = serde_json::from_str(&config_with(
        &ai,
        json!({"chatCompletions": {"enabled": true}, "responses": {"enabled": true}}),
    ))
    .expect("config JSON");
    cfg["models"]["providers"]["fake"]["models"][0]["input"] = json!(["text", "image"]);
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&cfg.to_string()),
    );
    // A 1×1 PNG.
    let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    ai.push(FakeReply::text("a single pixel"));
    let (status, _, v) = complete(
        &gw,
        &json!({"model": "openclaw", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is in this picture?"},
            {"type": "image_url", "image_url": {"url": png}},
        ]}]}),
        &[],
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["choices"][0]["message"]["content"], "a single pixel",
        "{v}"
    );
    let reqs = ai.wait_requests(1, Duration::from_secs(10));
    let sent = reqs[0].to_string();
    assert!(sent.contains(png), "the model was shown the image: {sent}");
    assert!(sent.contains("what is in this picture?"), "{sent}");

    // The Responses API's `input_image`.
    ai.push(FakeReply::text("still one pixel"));
    let (status, v) = respond(
        &gw,
        &json!({"model": "openclaw", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "and now?"},
            {"type": "input_image", "image_url": png},
        ]}]}),
    );
    assert_eq!(status, 200, "{v}");
    let reqs = ai.wait_requests(2, Duration::from_secs(10));
    assert!(reqs[1].to_string().contains(png), "{}", reqs[1]);

    // Refused before anything runs.
    for content in [
        json!([{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]),
        json!([{"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGVsbG8="}}]),
    ] {
        let (status, _, v) = complete(
            &gw,
            &json!({"messages": [{"role": "user", "content": content}]}),
            &[],
        );
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    }
    let (status, v) = respond(
        &gw,
        &json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://10.0.0.1/x.png"}]}]}),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("input_image"),
        "{v}"
    );
    assert_eq!(ai.requests().len(), 2, "nothing else reached the model");
}

/// Two requests of one `user` (one session) at once: each is answered by its own run —
/// the second waits for the first, never steers into it (a completion answers its own
/// request), whatever `messages.queue` says.
#[actix_web::test]
async fn two_requests_of_one_user_at_once_get_their_own_completions() {
    let ai = FakeOpenAi::start();
    let gw = start(&ai, true);
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    ai.push(crate::queue::two_reads().held_by(&gate));
    ai.push_text("answer one");
    ai.push_text("answer two");
    let port = gw.port;
    let ask = move |text: &str| {
        let body = json!({"user": "carol", "messages": [{"role": "user", "content": text}]});
        std::thread::spawn(move || {
            let a = auth();
            let (status, _, text) = http_exchange(
                port,
                "POST",
                "/v1/chat/completions",
                &[
                    ("Authorization", a.as_str()),
                    ("Content-Type", "application/json"),
                ],
                body.to_string().as_bytes(),
            );
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            (status, v["choices"][0]["message"]["content"].clone())
        })
    };
    let first = ask("first question");
    ai.wait_requests_async(1, Duration::from_secs(15)).await;
    let second = ask("second question");
    crate::telegram_flow::poll_until(
        Duration::from_secs(15),
        "the second request waiting",
        || (crate::queue::queued(port) == 1).then_some(()),
    )
    .await;
    gate.add_permits(1);
    crate::telegram_flow::poll_until(Duration::from_secs(15), "both answered", || {
        (first.is_finished() && second.is_finished()).then_some(())
    })
    .await;
    let (a, b) = (
        first.join().expect("first request"),
        second.join().expect("second request"),
    );
    assert_eq!(a, (200, json!("answer one")));
    assert_eq!(b, (200, json!("answer two")));
    let reqs = ai.requests();
    assert_eq!(reqs.len(), 3);
    let results = crate::queue::tool_results(&reqs[1]);
    assert!(
        results.iter().all(|r| r != crate::queue::SKIPPED),
        "{results:?}"
    );
    assert!(!reqs[1].to_string().contains("second question"));
}
