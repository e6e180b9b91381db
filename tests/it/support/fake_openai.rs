//! A fake OpenAI-compatible chat-completions server: `POST /v1/chat/completions` on
//! `127.0.0.1:0`, running on its own thread with its own actix `System` (usable from
//! `#[actix_web::test]` and from plain `#[test]` tests driving the gateway binary).
//!
//! Answers come from a scripted queue ([`FakeOpenAi::push_text`],
//! [`FakeOpenAi::push_tool_call`], [`FakeOpenAi::push_status`], [`FakeOpenAi::push_raw`],
//! or any [`FakeReply`], optionally delayed); when the queue is empty the default text is
//! answered. Every request is recorded (body, `Authorization`, arrival time). With a
//! required key, requests without `Authorization: Bearer <key>` get 401 and do not consume
//! the script.
//!
//! `POST /v1/messages` speaks Anthropic's Messages API from the same script: each scripted
//! answer is converted (text → a `text` block, tool calls → `tool_use` blocks with their
//! arguments parsed as `input`, `finish_reason` `stop` → `stop_reason` `end_turn`,
//! `tool_calls` → `tool_use`, `length` → `max_tokens`; a scripted `thinking: {thinking,
//! signature}` → a signed `thinking` block first); statuses and raw bodies go as they
//! are. Its requests are recorded with the others (see [`RecordedRequest::path`] and
//! [`RecordedRequest::header`]); with a required key, requests without `x-api-key: <key>`
//! get Anthropic's 401 and do not consume the script. [`FakeOpenAi::anthropic_base_url`]
//! is a base URL without `/v1`.
//!
//! With [`FakeOpenAi::set_streaming`] on, a request whose body has `"stream": true` gets
//! its scripted answer (text or tool calls) as `text/event-stream` in the provider's own
//! format: OpenAI's `chat.completion.chunk` events ending with `data: [DONE]`, Anthropic's
//! `message_start` … `message_stop`; the text in up to four pieces (cut at character
//! boundaries), each tool call's arguments in two, one event per body chunk
//! ([`FakeReply::with_chunk_delay`] pauses between chunks, [`FakeReply::cut_after`] ends the
//! stream early without the end events). Statuses and raw bodies go as they are.
//!
//! `POST /v1/responses` speaks OpenAI's Responses API from the same script: each scripted
//! answer becomes a `response` object (`resp_fake<n>`) whose `output` holds a `message` item
//! with one `output_text` part (when there is text), then one `function_call` item per tool
//! call (its `call_id` the scripted call's id, its `arguments` the string as scripted);
//! `finish_reason` `length` → `status: "incomplete"` with `incomplete_details.reason`
//! `max_output_tokens`, anything else → `completed`; the configured usage
//! ([`FakeOpenAi::set_usage`]) is converted to `input_tokens`/`output_tokens`. Auth, recording
//! and 401s are as for chat completions; statuses and raw bodies go as they are. Streamed, it
//! is named events (`event: <type>`, every payload with an increasing `sequence_number`):
//! `response.created`, `response.in_progress`, each output item between
//! `response.output_item.added` and `response.output_item.done` (text via
//! `response.content_part.added`, `response.output_text.delta` in up to four pieces,
//! `response.output_text.done`, `response.content_part.done`; tool-call arguments via
//! `response.function_call_arguments.delta` in two pieces and
//! `response.function_call_arguments.done`), then `response.completed` (or
//! `response.incomplete`) with the whole response, and no `[DONE]`. Marked replies
//! ([`FakeOpenAi::push_marked`]) also look at `instructions` and `input`.
//!
//! Reasoning, as OpenAI's reasoning models: a scripted `thinking: {thinking, signature}`
//! becomes a `reasoning` item (`rs_fake<n>`) first in `output`, whose `encrypted_content`
//! is the signature only when the request's `include` asks for
//! `reasoning.encrypted_content` (else `null`). A request whose `input` carries a
//! `reasoning` item is refused (400) as the real API refuses it: `invalid_encrypted_content`
//! when the content is not one this fake issued (or any, after
//! [`FakeOpenAi::refuse_reasoning`]), and a reasoning item that no other item follows. A
//! refused request is recorded and does not consume the script.
//!
//! `POST /v1/audio/transcriptions` (speech to text) parses the real `multipart/form-data`
//! upload, records it ([`FakeOpenAi::transcriptions`]) and answers from its own queue
//! ([`FakeOpenAi::push_transcript`], [`FakeOpenAi::push_transcription_status`]), else
//! `{"text": <default transcript>}`. `POST /v1/audio/speech` (text to speech) records its
//! JSON body ([`FakeOpenAi::speech_requests`]) and answers OGG-signed audio bytes
//! ([`FakeOpenAi::SPEECH`]) unless [`FakeOpenAi::push_speech_status`] scripted a failure.
//! ElevenLabs' `POST /v1/text-to-speech/{voiceId}` (its own API, key in `xi-api-key`) is
//! served on the same port: recorded with its query in the path, answered with
//! [`FakeOpenAi::ELEVEN_AUDIO`] ([`FakeOpenAi::SPEECH`] for an Opus `output_format`; or
//! the same scripted failures), after
//! [`FakeOpenAi::set_speech_delay`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// When it arrived.
    pub at: Instant,
    /// The request path (`/v1/chat/completions`, `/v1/messages`, `/v1/responses`, …).
    pub path: String,
    /// Every header, lowercased names.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first value of header `name` (any case), e.g. `x-api-key`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
enum ReplyBody {
    /// `choices[0].message` plus `finish_reason`.
    Completion(Value, String),
    /// Any JSON body.
    Json(Value),
    /// A raw (non-JSON) body.
    Raw(String),
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct FakeReply {
    status: u16,
    body: ReplyBody,
    delay: Option<Duration>,
    headers: Vec<(String, String)>,
    /// Streamed: the pause between two chunks.
    chunk_delay: Option<Duration>,
    /// Streamed: the chunks sent before the stream stops (without its end events).
    cut_after: Option<usize>,
    /// Answers only once the test releases a permit ([`FakeReply::held_by`]).
    held: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

impl FakeReply {
    /// 200 with an assistant text message (`finish_reason: stop`).
    pub fn text(text: &str) -> Self {
        Self::completion(json!({"role": "assistant", "content": text}), "stop")
    }

    /// 200 with `message` as `choices[0].message`.
    pub fn completion(message: Value, finish_reason: &str) -> Self {
        Self {
            status: 200,
            body: ReplyBody::Completion(message, finish_reason.to_owned()),
            delay: None,
            headers: Vec::new(),
            chunk_delay: None,
            cut_after: None,
            held: None,
        }
    }

    /// 200 with one tool call `id` → `name(arguments)` (arguments JSON-encoded as a string,
    /// like OpenAI).
    pub fn tool_call(id: &str, name: &str, arguments: &Value) -> Self {
        Self::completion(
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": id, "type": "function",
                 "function": {"name": name, "arguments": arguments.to_string()}}]}),
            "tool_calls",
        )
    }

    /// `status` with a JSON body, e.g. `json!({"error": {"message": "…"}})`.
    pub fn status(status: u16, body: Value) -> Self {
        Self {
            status,
            body: ReplyBody::Json(body),
            delay: None,
            headers: Vec::new(),
            chunk_delay: None,
            cut_after: None,
            held: None,
        }
    }

    /// 200 with a raw body (garbage).
    pub fn raw(body: &str) -> Self {
        Self {
            status: 200,
            body: ReplyBody::Raw(body.to_owned()),
            delay: None,
            headers: Vec::new(),
            chunk_delay: None,
            cut_after: None,
            held: None,
        }
    }

    /// Sets the status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Answers only once `gate` has a permit (taken for good; `gate.add_permits(1)`
    /// releases one answer), or after 60 s, so a broken test fails rather than hangs.
    pub fn held_by(mut self, gate: &std::sync::Arc<tokio::sync::Semaphore>) -> Self {
        self.held = Some(gate.clone());
        self
    }

    /// Answers only after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Streamed ([`FakeOpenAi::set_streaming`]): pauses `delay` between two chunks (events),
    /// so pieces arrive over time.
    pub fn with_chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = Some(delay);
        self
    }

    /// Streamed ([`FakeOpenAi::set_streaming`]): the stream stops after `n` chunks
    /// (events), without its finish and end events, as a dropped connection would.
    pub fn cut_after(mut self, n: usize) -> Self {
        self.cut_after = Some(n);
        self
    }

    /// Adds a response header (e.g. `Retry-After`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// One recorded transcription upload.
#[derive(Debug, Clone)]
pub struct Transcription {
    /// The text fields (`model`, `language`, `prompt`).
    pub fields: Value,
    /// The `file` part.
    pub file: Option<super::fake_telegram::SentFile>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// Every header, lowercased names.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug)]
struct State {
    tts_script: VecDeque<(u16, Value)>,
    speech: Vec<RecordedRequest>,
    /// How long a speech request waits before it is answered.
    speech_delay: Duration,
    stt_script: VecDeque<(u16, Value)>,
    default_transcript: String,
    transcriptions: Vec<Transcription>,
    script: VecDeque<FakeReply>,
    default_text: String,
    requests: Vec<RecordedRequest>,
    next_call: u64,
    next_completion: u64,
    /// Answer `"stream": true` requests with Server-Sent Events.
    streaming: bool,
    /// The `usage` of chat completions (OpenAI's shape; `None`: 1 prompt and 1 completion
    /// token).
    usage: Option<Value>,
    /// Refuse requests with `stream_options` (400), as some OpenAI-compatible servers do.
    refuse_stream_options: bool,
    /// Replies for requests whose first message contains the marker (a summarizer's, say),
    /// taken before the main script.
    marked: Vec<(String, VecDeque<FakeReply>)>,
    /// The encrypted reasoning this fake gave out (what it can "decrypt").
    issued_reasoning: Vec<String>,
    /// Refuse every encrypted reasoning sent back.
    refuse_reasoning: bool,
}

struct Shared {
    key: Option<String>,
    state: Mutex<State>,
    cond: Condvar,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.cond.notify_all();
        self.changed.notify_waiters();
    }
}

/// A running fake model server. Stopped when dropped.
pub struct FakeOpenAi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    handle: ServerHandle,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl FakeOpenAi {
    /// Starts a fake that accepts any (or no) API key.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Starts a fake that requires `Authorization: Bearer <key>` (401 otherwise).
    pub fn start_with_key(key: &str) -> Self {
        Self::launch(Some(key.to_owned()))
    }

    fn launch(key: Option<String>) -> Self {
        let shared = Arc::new(Shared {
            key,
            state: Mutex::new(State {
                tts_script: VecDeque::new(),
                speech: Vec::new(),
                speech_delay: Duration::ZERO,
                stt_script: VecDeque::new(),
                default_transcript: "hello from the voice note".into(),
                transcriptions: Vec::new(),
                script: VecDeque::new(),
                default_text: "ok".into(),
                requests: Vec::new(),
                next_call: 0,
                next_completion: 0,
                streaming: false,
                usage: None,
                refuse_stream_options: false,
                marked: Vec::new(),
                issued_reasoning: Vec::new(),
                refuse_reasoning: false,
            }),
            cond: Condvar::new(),
            changed: Notify::new(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let data = web::Data::from(shared.clone());
        std::thread::Builder::new()
            .name("fake-openai".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                            .route("/v1/chat/completions", web::post().to(completions))
                            .route("/v1/messages", web::post().to(messages))
                            .route("/v1/responses", web::post().to(responses))
                            .route("/v1/audio/transcriptions", web::post().to(transcriptions))
                            .route("/v1/audio/speech", web::post().to(speech))
                            .route("/v1/text-to-speech/{voice}", web::post().to(speech))
                            .default_service(web::to(|| async {
                                HttpResponse::NotFound().json(json!({"error": {
                                    "message": "Unknown request URL", "type": "invalid_request_error"}}))
                            }))
                    })
                    .workers(1)
                    .shutdown_timeout(1)
                    .disable_signals()
                    .bind(("127.0.0.1", 0));
                    let server = match server {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let Some(addr) = server.addrs().first().copied() else {
                        let _ = tx.send(Err("no bound address".to_owned()));
                        return;
                    };
                    let running = server.run();
                    let _ = tx.send(Ok((addr, running.handle())));
                    let _ = running.await;
                });
            })
            .expect("spawn the fake OpenAI thread");
        let (addr, handle) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fake OpenAI did not start within 10 s")
            .unwrap_or_else(|e| panic!("fake OpenAI failed to bind: {e}"));
        Self {
            shared,
            addr,
            handle,
        }
    }

    /// `http://127.0.0.1:PORT/v1` — the `base_url` to give the client.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT` — a base URL as Anthropic's are usually written (the client
    /// adds `/v1/messages`).
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What `/v1/audio/speech` answers (an OGG-signed voice note).
    pub const SPEECH: &'static [u8] = b"OggS\0\x02fake-opus-voice-note-bytes";

    /// What ElevenLabs' `/v1/text-to-speech` answers (MP3-signed bytes).
    pub const ELEVEN_AUDIO: &'static [u8] = b"ID3\x04\0\0fake-elevenlabs-audio-\xff\xfb";

    /// Speech requests wait `delay` before they are answered.
    pub fn set_speech_delay(&self, delay: Duration) {
        self.shared.lock().speech_delay = delay;
    }

    /// The next speech request answers `status` with `body`.
    pub fn push_speech_status(&self, status: u16, body: Value) {
        self.shared.lock().tts_script.push_back((status, body));
    }

    /// The speech requests so far.
    pub fn speech_requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().speech.clone()
    }

    /// The next transcription answers `{"text": text}`.
    pub fn push_transcript(&self, text: &str) {
        self.shared
            .lock()
            .stt_script
            .push_back((200, json!({"text": text})));
    }

    /// The next transcription answers `status` with `body`.
    pub fn push_transcription_status(&self, status: u16, body: Value) {
        self.shared.lock().stt_script.push_back((status, body));
    }

    /// The transcription uploads so far.
    pub fn transcriptions(&self) -> Vec<Transcription> {
        self.shared.lock().transcriptions.clone()
    }

    // === script ===

    /// Queues an answer.
    pub fn push(&self, reply: FakeReply) {
        self.shared.lock().script.push_back(reply);
    }

    /// Answers the next request whose messages (or Anthropic `system`, or the Responses
    /// API's `instructions` and `input`) contain `marker` with `reply` (such requests take
    /// these replies first, in order, then the main script's).
    pub fn push_marked(&self, marker: &str, reply: FakeReply) {
        let mut st = self.shared.lock();
        match st.marked.iter_mut().find(|(m, _)| m == marker) {
            Some((_, q)) => q.push_back(reply),
            None => st.marked.push((marker.to_owned(), VecDeque::from([reply]))),
        }
    }

    /// Queues a text answer.
    pub fn push_text(&self, text: &str) {
        self.push(FakeReply::text(text));
    }

    /// Queues a tool call `name(args)`; returns its generated call id (`call_N`).
    pub fn push_tool_call(&self, name: &str, args: Value) -> String {
        let id = {
            let mut st = self.shared.lock();
            st.next_call += 1;
            format!("call_{}", st.next_call)
        };
        self.push(FakeReply::tool_call(&id, name, &args));
        id
    }

    /// Queues an error status with a JSON body.
    pub fn push_status(&self, status: u16, body: Value) {
        self.push(FakeReply::status(status, body));
    }

    /// Queues a 200 with a raw (garbage) body.
    pub fn push_raw(&self, body: &str) {
        self.push(FakeReply::raw(body));
    }

    /// Refuse (400) every request that carries `stream_options`, as some servers do.
    pub fn refuse_stream_options(&self) {
        self.shared.lock().refuse_stream_options = true;
    }

    /// From now on, refuse every encrypted reasoning sent back with
    /// `invalid_encrypted_content`, as after a change of key or organization.
    pub fn refuse_reasoning(&self) {
        self.shared.lock().refuse_reasoning = true;
    }

    /// The `usage` every later chat completion reports (OpenAI's shape; `/v1/responses`
    /// reports it converted to `input_tokens`/`output_tokens`).
    pub fn set_usage(&self, usage: Value) {
        self.shared.lock().usage = Some(usage);
    }

    /// Whether requests asking for `"stream": true` get their scripted answer streamed as
    /// Server-Sent Events (default off: plain JSON, whatever the request says).
    pub fn set_streaming(&self, on: bool) {
        self.shared.lock().streaming = on;
    }

    /// The text answered when the script is empty (default `ok`).
    pub fn set_default_text(&self, text: &str) {
        self.shared.lock().default_text = text.to_owned();
    }

    /// Scripted answers not yet used.
    pub fn script_len(&self) -> usize {
        self.shared.lock().script.len()
    }

    // === inspection ===

    /// Every request body so far.
    pub fn requests(&self) -> Vec<Value> {
        self.shared
            .lock()
            .requests
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    /// Every request so far, with headers of interest and arrival times.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests so far.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Blocks until at least `n` requests arrived; returns all bodies.
    pub fn wait_requests(&self, n: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut st = self.shared.lock();
        loop {
            if st.requests.len() >= n {
                return st.requests.iter().map(|r| r.body.clone()).collect();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "fake OpenAI: timed out after {limit:?} waiting for {n} requests (got {})",
                st.requests.len()
            );
            st = self
                .shared
                .cond
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Async [`Self::wait_requests`] (use inside an actix test).
    pub async fn wait_requests_async(&self, n: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.shared.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.shared.lock();
                if st.requests.len() >= n {
                    return st.requests.iter().map(|r| r.body.clone()).collect();
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "fake OpenAI: timed out after {limit:?} waiting for {n} requests (got {})",
                self.request_count()
            );
            let _ = actix_web::rt::time::timeout(left, notified).await;
        }
    }
}

// === server side ===

/// A request header's value, if it is text.
fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Every request header, lowercased names.
fn all_headers(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// `req` with `body` parsed as JSON (`Null` when it is not), as recorded.
fn record(req: &HttpRequest, body: &[u8]) -> RecordedRequest {
    RecordedRequest {
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        authorization: header(req, "authorization"),
        at: Instant::now(),
        path: req.path().to_owned(),
        headers: all_headers(req),
    }
}

async fn speech(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let mut recorded = record(&req, &body);
    let eleven = req.path().starts_with("/v1/text-to-speech/");
    if !req.query_string().is_empty() {
        recorded.path = format!("{}?{}", req.path(), req.query_string());
    }
    let (scripted, delay) = {
        let mut st = shared.lock();
        st.speech.push(recorded);
        (st.tts_script.pop_front(), st.speech_delay)
    };
    shared.bump();
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    match scripted {
        Some((status, body)) => HttpResponse::build(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .json(body),
        // Opus is OGG-wrapped, as ElevenLabs sends it.
        None if eleven && req.query_string().contains("output_format=opus") => HttpResponse::Ok()
            .content_type("audio/ogg")
            .body(FakeOpenAi::SPEECH),
        None if eleven => HttpResponse::Ok()
            .content_type("audio/mpeg")
            .body(FakeOpenAi::ELEVEN_AUDIO),
        None => HttpResponse::Ok()
            .content_type("audio/ogg")
            .body(FakeOpenAi::SPEECH),
    }
}

async fn transcriptions(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let ctype = header(&req, "content-type").unwrap_or_default();
    let Some((fields, mut files)) = super::fake_telegram::parse_multipart(&ctype, &body) else {
        return HttpResponse::BadRequest()
            .json(json!({"error": {"message": "could not parse multipart form"}}));
    };
    let authorization = header(&req, "authorization");
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let authorized = match &shared.key {
        None => true,
        Some(k) => authorization.as_deref() == Some(format!("Bearer {k}").as_str()),
    };
    let answer = {
        let mut st = shared.lock();
        st.transcriptions.push(Transcription {
            fields,
            file: files.pop(),
            authorization,
            headers,
        });
        if authorized {
            let next = st.stt_script.pop_front();
            Some(next.unwrap_or_else(|| (200, json!({"text": st.default_transcript}))))
        } else {
            None
        }
    };
    shared.bump();
    match answer {
        None => HttpResponse::Unauthorized()
            .json(json!({"error": {"message": "Incorrect API key provided."}})),
        Some((status, body)) => HttpResponse::build(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .json(body),
    }
}

async fn completions(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let recorded = record(&req, &body);
    let model = recorded
        .body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_owned();
    let authorized = bearer_ok(&shared, &recorded);
    let wants_stream = recorded.body.get("stream") == Some(&Value::Bool(true));
    if recorded.body.get("stream_options").is_some() && shared.lock().refuse_stream_options {
        let mut st = shared.lock();
        st.requests.push(recorded);
        drop(st);
        shared.bump();
        return HttpResponse::BadRequest().json(json!({"error": {
            "message": "Unrecognized request argument supplied: stream_options",
            "type": "invalid_request_error", "param": null, "code": null}}));
    }
    let (reply, completion_id) = next_reply(&shared, recorded, authorized);
    let streamed = wants_stream && shared.lock().streaming;
    let usage = configured_usage(&shared);
    let Some(reply) = reply else {
        return openai_unauthorized();
    };
    let mut resp = start_reply(&reply).await;
    match reply.body {
        ReplyBody::Completion(message, finish_reason) if streamed => {
            let id = format!("chatcmpl-fake{completion_id}");
            let events = openai_events(&id, &model, &message, &finish_reason, &usage);
            stream_events(resp, events, reply.chunk_delay, reply.cut_after)
        }
        ReplyBody::Completion(message, finish_reason) => resp.json(json!({
            "id": format!("chatcmpl-fake{completion_id}"),
            "object": "chat.completion",
            "created": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage,
        })),
        ReplyBody::Json(v) => resp.json(v),
        ReplyBody::Raw(s) => resp.content_type("text/plain").body(s),
    }
}

/// Whether `recorded` carries the required key as a bearer token (OpenAI's APIs).
fn bearer_ok(shared: &Shared, recorded: &RecordedRequest) -> bool {
    match &shared.key {
        None => true,
        Some(k) => recorded.authorization.as_deref() == Some(format!("Bearer {k}").as_str()),
    }
}

/// OpenAI's answer to a wrong key.
fn openai_unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"error": {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}))
}

/// The usage answers report ([`FakeOpenAi::set_usage`], chat-completions shape).
fn configured_usage(shared: &Shared) -> Value {
    shared
        .lock()
        .usage
        .clone()
        .unwrap_or_else(|| json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}))
}

/// A scripted answer's response, once its delay has passed: its status and headers.
async fn start_reply(reply: &FakeReply) -> actix_web::HttpResponseBuilder {
    if let Some(d) = reply.delay {
        actix_web::rt::time::sleep(d).await;
    }
    if let Some(gate) = &reply.held
        && let Ok(Ok(permit)) = tokio::time::timeout(Duration::from_secs(60), gate.acquire()).await
    {
        permit.forget();
    }
    let mut resp = HttpResponse::build(
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (k, v) in &reply.headers {
        resp.insert_header((k.as_str(), v.as_str()));
    }
    resp
}

/// Records `recorded` and takes the next scripted answer (the default text when the script
/// is empty; `None` when not `authorized`, leaving the script as it is), with its number.
fn next_reply(
    shared: &Shared,
    recorded: RecordedRequest,
    authorized: bool,
) -> (Option<FakeReply>, u64) {
    let out = {
        let mut st = shared.lock();
        let first = first_message_text(&recorded.body)
            + &recorded
                .body
                .get("messages")
                .or_else(|| recorded.body.get("input"))
                .map(Value::to_string)
                .unwrap_or_default();
        st.requests.push(recorded);
        let reply = if authorized {
            let marked = st
                .marked
                .iter_mut()
                .find(|(m, q)| !q.is_empty() && first.contains(m.as_str()))
                .and_then(|(_, q)| q.pop_front());
            let next = marked.or_else(|| st.script.pop_front());
            Some(next.unwrap_or_else(|| FakeReply::text(&st.default_text)))
        } else {
            None
        };
        st.next_completion += 1;
        (reply, st.next_completion)
    };
    shared.bump();
    out
}

/// The text of a request's first message (OpenAI's `messages[0]`, Anthropic's `system`, or
/// the Responses API's `instructions` followed by `input[0].content`, or `input` itself when
/// it is a string).
fn first_message_text(body: &Value) -> String {
    let text = |c: &Value| match c {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(system) = body.get("system") {
        return text(system);
    }
    if let Some(content) = body.pointer("/messages/0/content") {
        return text(content);
    }
    let mut out = body
        .get("instructions")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match body.get("input") {
        Some(Value::String(s)) => out.push_str(s),
        Some(input) => {
            if let Some(content) = input.pointer("/0/content") {
                out.push_str(&text(content));
            }
        }
        None => {}
    }
    out
}

/// Anthropic's `stop_reason` for a scripted `finish_reason`.
fn stop_reason(finish_reason: &str) -> &str {
    match finish_reason {
        "stop" => "end_turn",
        "tool_calls" => "tool_use",
        "length" => "max_tokens",
        other => other,
    }
}

/// Anthropic's content blocks for a scripted OpenAI-shaped assistant `message`: its text
/// (a string, or `text` parts) as `text` blocks, its tool calls as `tool_use` blocks (the
/// arguments string parsed as `input`; `{}` when it is not JSON).
fn anthropic_blocks(message: &Value) -> Vec<Value> {
    let mut blocks = Vec::new();
    // A scripted `thinking: {thinking, signature}`: a thinking block first, as Claude's.
    if let Some(t) = message.get("thinking").filter(|t| t.is_object()) {
        blocks.push(json!({"type": "thinking",
            "thinking": t.get("thinking").cloned().unwrap_or(json!("")),
            "signature": t.get("signature").cloned().unwrap_or(json!(""))}));
    }
    match message.get("content") {
        Some(Value::String(t)) if !t.is_empty() => {
            blocks.push(json!({"type": "text", "text": t}));
        }
        Some(Value::Array(parts)) => {
            for p in parts {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    blocks.push(json!({"type": "text", "text": t}));
                }
            }
        }
        _ => {}
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let input = match call.pointer("/function/arguments") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| json!({})),
            Some(v @ Value::Object(_)) => v.clone(),
            _ => json!({}),
        };
        blocks.push(json!({
            "type": "tool_use",
            "id": call.get("id").cloned().unwrap_or_else(|| json!("toolu_fake")),
            "name": call.pointer("/function/name").cloned().unwrap_or(Value::Null),
            "input": input,
        }));
    }
    blocks
}

/// `POST /v1/messages`: Anthropic's Messages API over the same script.
async fn messages(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let recorded = record(&req, &body);
    let model = recorded
        .body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_owned();
    let authorized = match &shared.key {
        None => true,
        Some(k) => recorded.header("x-api-key") == Some(k.as_str()),
    };
    let wants_stream = recorded.body.get("stream") == Some(&Value::Bool(true));
    let (reply, message_id) = next_reply(&shared, recorded, authorized);
    let streamed = wants_stream && shared.lock().streaming;
    let Some(reply) = reply else {
        return HttpResponse::Unauthorized().json(json!({"type": "error", "error": {
            "type": "authentication_error", "message": "invalid x-api-key"}}));
    };
    let mut resp = start_reply(&reply).await;
    match reply.body {
        ReplyBody::Completion(message, finish_reason) if streamed => {
            let id = format!("msg_fake{message_id}");
            let events = anthropic_events(&id, &model, &message, &finish_reason);
            stream_events(resp, events, reply.chunk_delay, reply.cut_after)
        }
        ReplyBody::Completion(message, finish_reason) => resp.json(json!({
            "id": format!("msg_fake{message_id}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": anthropic_blocks(&message),
            "stop_reason": stop_reason(&finish_reason),
            "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        })),
        ReplyBody::Json(v) => resp.json(v),
        ReplyBody::Raw(s) => resp.content_type("text/plain").body(s),
    }
}

/// The Responses API's `usage` for a chat-completions-shaped `usage` (`prompt_tokens`,
/// `completion_tokens`, `prompt_tokens_details.cached_tokens`; missing counts are 0).
fn responses_usage(usage: &Value) -> Value {
    let count = |p: &str| usage.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let (input, output) = (count("/prompt_tokens"), count("/completion_tokens"));
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": count("/prompt_tokens_details/cached_tokens")},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

/// The Responses API's `output` items for scripted answer number `n`: a `reasoning` item
/// when scripted `thinking` (its encrypted content when `encrypted`), a `message` item
/// (`msg_fake<n>`, one `output_text` part) when the text is not empty, then one
/// `function_call` item (`fc_fake<n>_<i>`) per tool call, its `arguments` a string.
fn responses_output(n: u64, message: &Value, encrypted: bool) -> Vec<Value> {
    let mut items = Vec::new();
    if let Some(t) = message.get("thinking").filter(|t| t.is_object()) {
        items.push(json!({
            "type": "reasoning",
            "id": format!("rs_fake{n}"),
            "summary": [],
            "encrypted_content": if encrypted { t["signature"].clone() } else { Value::Null },
        }));
    }
    let text = message_text(message);
    if !text.is_empty() {
        items.push(json!({
            "type": "message",
            "id": format!("msg_fake{n}"),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }));
    }
    for (i, call) in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let arguments = match call.pointer("/function/arguments") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        items.push(json!({
            "type": "function_call",
            "id": format!("fc_fake{n}_{i}"),
            "call_id": call.get("id").cloned().unwrap_or_else(|| json!(format!("call_fake{n}_{i}"))),
            "name": call.pointer("/function/name").cloned().unwrap_or(Value::Null),
            "arguments": arguments,
            "status": "completed",
        }));
    }
    items
}

/// The Responses API's `response` object for scripted answer number `n` (`resp_fake<n>`):
/// `completed`, or `incomplete` (`max_output_tokens`) when `finish_reason` is `length`.
fn response_object(
    n: u64,
    model: &str,
    created_at: u64,
    message: &Value,
    finish_reason: &str,
    usage: &Value,
    encrypted: bool,
) -> Value {
    let incomplete = finish_reason == "length";
    json!({
        "id": format!("resp_fake{n}"),
        "object": "response",
        "created_at": created_at,
        "status": if incomplete { "incomplete" } else { "completed" },
        "model": model,
        "output": responses_output(n, message, encrypted),
        "incomplete_details": if incomplete {
            json!({"reason": "max_output_tokens"})
        } else {
            Value::Null
        },
        "error": null,
        "usage": responses_usage(usage),
    })
}

/// The real API's refusal of the `reasoning` items in a request's `input`, if any: content
/// this fake did not issue (`invalid_encrypted_content`), or an item no other item follows.
fn refused_reasoning(shared: &Shared, body: &Value) -> Option<Value> {
    let input = body.get("input").and_then(Value::as_array)?;
    let (issued, refuse) = {
        let st = shared.lock();
        (st.issued_reasoning.clone(), st.refuse_reasoning)
    };
    for (i, item) in input.iter().enumerate() {
        if item["type"] != "reasoning" {
            continue;
        }
        let id = item["id"].as_str().unwrap_or("?");
        let known = !refuse
            && item["encrypted_content"]
                .as_str()
                .is_some_and(|c| issued.iter().any(|s| s == c));
        if !known {
            return Some(json!({"error": {
                "message": format!("The encrypted content for item {id} could not be verified."),
                "type": "invalid_request_error", "param": null,
                "code": "invalid_encrypted_content"}}));
        }
        if input
            .get(i + 1)
            .is_none_or(|next| next["type"] == "reasoning")
        {
            return Some(json!({"error": {
                "message": format!("Item '{id}' of type 'reasoning' was provided without its required following item."),
                "type": "invalid_request_error", "param": "input", "code": null}}));
        }
    }
    None
}

/// `POST /v1/responses`: OpenAI's Responses API over the same script.
async fn responses(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let recorded = record(&req, &body);
    let model = recorded
        .body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_owned();
    let authorized = bearer_ok(&shared, &recorded);
    let wants_stream = recorded.body.get("stream") == Some(&Value::Bool(true));
    let encrypted = recorded
        .body
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|i| i.contains(&json!("reasoning.encrypted_content")));
    if let Some(refusal) = refused_reasoning(&shared, &recorded.body) {
        shared.lock().requests.push(recorded);
        shared.bump();
        return HttpResponse::BadRequest().json(refusal);
    }
    let (reply, response_id) = next_reply(&shared, recorded, authorized);
    let streamed = wants_stream && shared.lock().streaming;
    let usage = configured_usage(&shared);
    let Some(reply) = reply else {
        return openai_unauthorized();
    };
    let mut resp = start_reply(&reply).await;
    let created_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match reply.body {
        ReplyBody::Completion(message, finish_reason) => {
            let response = response_object(
                response_id,
                &model,
                created_at,
                &message,
                &finish_reason,
                &usage,
                encrypted,
            );
            if encrypted
                && let Some(s) = message
                    .pointer("/thinking/signature")
                    .and_then(Value::as_str)
            {
                shared.lock().issued_reasoning.push(s.to_owned());
            }
            if streamed {
                let events = responses_events(&response);
                stream_events(resp, events, reply.chunk_delay, reply.cut_after)
            } else {
                resp.json(response)
            }
        }
        ReplyBody::Json(v) => resp.json(v),
        ReplyBody::Raw(s) => resp.content_type("text/plain").body(s),
    }
}

// === streaming ===

/// `text` in up to `n` non-empty pieces, cut at character boundaries (none when empty).
fn pieces(text: &str, n: usize) -> Vec<&str> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let n = n.min(bounds.len());
    (0..n)
        .map(|k| {
            let start = bounds[k * bounds.len() / n];
            let end = bounds
                .get((k + 1) * bounds.len() / n)
                .copied()
                .unwrap_or(text.len());
            &text[start..end]
        })
        .collect()
}

/// A scripted message's text: a string, or its `text` parts joined.
fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// One SSE event: `event:` line when `name` is given, then the data.
fn sse(name: Option<&str>, data: &str) -> String {
    match name {
        Some(n) => format!("event: {n}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// OpenAI's stream of a scripted answer: a role chunk, the text in pieces, each tool call
/// (named, then its arguments in two pieces), the finish chunk, a usage chunk, `[DONE]`.
fn openai_events(
    id: &str,
    model: &str,
    message: &Value,
    finish_reason: &str,
    usage: &Value,
) -> Vec<String> {
    let chunk = |choices: Value| {
        let data = json!({"id": id, "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": choices});
        sse(None, &data.to_string())
    };
    let delta = |delta: Value| chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}]));
    let text = message_text(message);
    let calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // As OpenAI: `""` before text, `null` before tool calls only.
    let first_content = match message.get("content") {
        Some(Value::String(_) | Value::Array(_)) => json!(""),
        _ => Value::Null,
    };
    let mut events = vec![delta(
        json!({"role": "assistant", "content": first_content}),
    )];
    for p in pieces(&text, 4) {
        events.push(delta(json!({"content": p})));
    }
    for (i, call) in calls.iter().enumerate() {
        let arguments = match call.pointer("/function/arguments") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        events.push(delta(json!({"tool_calls": [{"index": i,
            "id": call.get("id").cloned().unwrap_or(Value::Null),
            "type": "function",
            "function": {"name": call.pointer("/function/name").cloned().unwrap_or(Value::Null),
                "arguments": ""}}]})));
        for p in pieces(&arguments, 2) {
            events.push(delta(
                json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}),
            ));
        }
    }
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": finish_reason}]),
    ));
    let usage = json!({"id": id, "object": "chat.completion.chunk", "created": 0,
        "model": model, "choices": [], "usage": usage});
    events.push(sse(None, &usage.to_string()));
    events.push(sse(None, "[DONE]"));
    events
}

/// Anthropic's stream of a scripted answer: `message_start`, a `ping`, each block (`text`
/// in pieces, `tool_use` with its input JSON in two pieces) between `content_block_start`
/// and `content_block_stop`, `message_delta` with the stop reason, `message_stop`.
fn anthropic_events(id: &str, model: &str, message: &Value, finish_reason: &str) -> Vec<String> {
    let event = |data: Value| {
        let name = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        sse(Some(&name), &data.to_string())
    };
    let mut events = vec![
        event(
            json!({"type": "message_start", "message": {"id": id, "type": "message",
            "role": "assistant", "content": [], "model": model, "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ),
        event(json!({"type": "ping"})),
    ];
    for (index, block) in anthropic_blocks(message).iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("thinking") => {
                let thought = block.get("thinking").and_then(Value::as_str).unwrap_or("");
                events.push(event(json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "thinking", "thinking": ""}})));
                for p in pieces(thought, 2) {
                    events.push(event(json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "thinking_delta", "thinking": p}})));
                }
                events.push(event(json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "signature_delta", "signature": block["signature"]}})));
            }
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                events.push(event(json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}})));
                for p in pieces(text, 4) {
                    events.push(event(json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": p}})));
                }
            }
            _ => {
                let input = block.get("input").map(Value::to_string).unwrap_or_default();
                events.push(event(json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": block["id"],
                        "name": block["name"], "input": {}}})));
                for p in pieces(&input, 2) {
                    events.push(event(json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": p}})));
                }
            }
        }
        events.push(event(json!({"type": "content_block_stop", "index": index})));
    }
    events.push(event(json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason(finish_reason), "stop_sequence": null},
        "usage": {"output_tokens": 1}})));
    events.push(event(json!({"type": "message_stop"})));
    events
}

/// The Responses API's stream of a finished `response` (as [`response_object`] builds it):
/// `response.created` and `response.in_progress` (status `in_progress`, no output, no usage
/// yet), then each output item between `response.output_item.added` (in progress, empty)
/// and `response.output_item.done` — a message's text as `response.content_part.added`,
/// `response.output_text.delta` in up to four pieces, `response.output_text.done`,
/// `response.content_part.done`; a function call's arguments as
/// `response.function_call_arguments.delta` in two pieces and
/// `response.function_call_arguments.done`; a reasoning item's encrypted content only in
/// its `done` — and last `response.completed` (or
/// `response.incomplete`) with the whole response. Each event is named after its `type`
/// and numbered by `sequence_number`; there is no `[DONE]`.
fn responses_events(response: &Value) -> Vec<String> {
    let mut started = response.clone();
    if let Some(o) = started.as_object_mut() {
        o.insert("status".into(), json!("in_progress"));
        o.insert("output".into(), json!([]));
        o.insert("incomplete_details".into(), Value::Null);
        o.insert("usage".into(), Value::Null);
    }
    let mut data = vec![
        json!({"type": "response.created", "response": started}),
        json!({"type": "response.in_progress", "response": started}),
    ];
    let items = response
        .get("output")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (output_index, item) in items.iter().enumerate() {
        let item_id = item.get("id").cloned().unwrap_or(Value::Null);
        let mut added = item.clone();
        if let Some(o) = added.as_object_mut() {
            o.insert("status".into(), json!("in_progress"));
        }
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                let text = item
                    .pointer("/content/0/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some(o) = added.as_object_mut() {
                    o.insert("content".into(), json!([]));
                }
                data.push(json!({"type": "response.output_item.added",
                    "output_index": output_index, "item": added}));
                data.push(
                    json!({"type": "response.content_part.added", "item_id": item_id,
                    "output_index": output_index, "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []}}),
                );
                for p in pieces(text, 4) {
                    data.push(
                        json!({"type": "response.output_text.delta", "item_id": item_id,
                        "output_index": output_index, "content_index": 0, "delta": p,
                        "logprobs": []}),
                    );
                }
                data.push(
                    json!({"type": "response.output_text.done", "item_id": item_id,
                    "output_index": output_index, "content_index": 0, "text": text,
                    "logprobs": []}),
                );
                data.push(
                    json!({"type": "response.content_part.done", "item_id": item_id,
                    "output_index": output_index, "content_index": 0,
                    "part": {"type": "output_text", "text": text, "annotations": []}}),
                );
            }
            // Reasoning: added without its encrypted content, which comes with `done`.
            Some("reasoning") => {
                if let Some(o) = added.as_object_mut() {
                    o.remove("encrypted_content");
                }
                data.push(json!({"type": "response.output_item.added",
                    "output_index": output_index, "item": added}));
            }
            _ => {
                let arguments = item
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some(o) = added.as_object_mut() {
                    o.insert("arguments".into(), json!(""));
                }
                data.push(json!({"type": "response.output_item.added",
                    "output_index": output_index, "item": added}));
                for p in pieces(arguments, 2) {
                    data.push(json!({"type": "response.function_call_arguments.delta",
                        "item_id": item_id, "output_index": output_index, "delta": p}));
                }
                data.push(json!({"type": "response.function_call_arguments.done",
                    "item_id": item_id, "output_index": output_index,
                    "name": item.get("name").cloned().unwrap_or(Value::Null),
                    "arguments": arguments}));
            }
        }
        data.push(json!({"type": "response.output_item.done",
            "output_index": output_index, "item": item}));
    }
    let end = match response.get("status").and_then(Value::as_str) {
        Some("incomplete") => "response.incomplete",
        _ => "response.completed",
    };
    data.push(json!({"type": end, "response": response}));
    data.into_iter()
        .enumerate()
        .map(|(sequence_number, mut d)| {
            if let Some(o) = d.as_object_mut() {
                o.insert("sequence_number".into(), json!(sequence_number));
            }
            let name = d
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned();
            sse(Some(&name), &d.to_string())
        })
        .collect()
}

/// `resp` as a `text/event-stream` of `events`, one body chunk each, `delay` between two,
/// only the first `cut_after` when given.
fn stream_events(
    mut resp: actix_web::HttpResponseBuilder,
    mut events: Vec<String>,
    delay: Option<Duration>,
    cut_after: Option<usize>,
) -> HttpResponse {
    if let Some(n) = cut_after {
        events.truncate(n);
    }
    let body = futures_util::stream::unfold(
        (events.into_iter(), true),
        move |(mut it, first)| async move {
            let next = it.next()?;
            if let (false, Some(d)) = (first, delay) {
                actix_web::rt::time::sleep(d).await;
            }
            Some((
                Ok::<_, actix_web::Error>(web::Bytes::from(next)),
                (it, false),
            ))
        },
    );
    resp.content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(body)
}
