//! Telegram → agent → node → reply benchmark: spawns the release `openclaw` binary with a
//! config pointing `channels.telegram.apiRoot` and `models.providers.bench.baseUrl` at
//! in-bench fakes (one actix-web `HttpServer` on `127.0.0.1:0`, on its own thread), connects
//! an in-process fake node (Ed25519 device proof, silently paired on loopback, surface
//! approved with `node.pair.approve`) that answers `echo.test` at once, and sends Telegram
//! messages one at a time.
//!
//! For each message it measures the gateway's own added time:
//!
//! ```text
//! added = (sendMessage arrival − getUpdates response sent) − model handler time − node time
//! ```
//!
//! where the model handler time is what the fake model spent between receiving a request and
//! handing back its answer (both calls of the run), and the node time is what the fake node
//! spent between reading `node.invoke.request` and sending `node.invoke.result`. What is left
//! is the gateway: update parsing and policy, the durable channel-state write, session
//! lookup, transcript reads/appends, two model HTTP round trips (client side), the node
//! round trip over WebSocket, and the `sendMessage` call.
//!
//! Flows:
//! 1. with a model: the model answers a `nodes` tool call (`invoke bench-node echo.test`),
//!    then the final text;
//! 2. no model configured: the embedded command agent runs `/invoke bench-node echo.test
//!    {"x":1}`.
//!
//! Run: `cargo bench --bench flow_bench`. Every loop is bounded in count and time, every
//! await has a timeout, traffic goes only to 127.0.0.1, and each gateway is killed on exit
//! (including on panic) by [`Gateway`]'s `Drop`. The fakes, the node and the driver share the
//! machine's cores with the gateway.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::rt::time::timeout;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context as _, Result, anyhow, bail};
use awc::ws::{CloseCode, Codec, Frame, Message};
use futures_util::{SinkExt as _, StreamExt as _};
use openclaw::actors::identity::{self, DeviceKey};
use openclaw::actors::protocol::connect;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc as tmpsc};

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
const TOKEN: &str = "BENCH";
const TG_TOKEN: &str = "990001:BENCH-flow";
const NODE_NAME: &str = "bench-node";
const USER: i64 = 5550001;

/// Bound on every single network await.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on spawn → listening.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

const WARMUP: usize = 50;
const N: usize = 1000;
/// Each flow stops after this long even if N messages were not done.
const FLOW_MAX: Duration = Duration::from_secs(180);

const GOAL_MS: f64 = 1.0;

type Ws = actix_codec::Framed<awc::BoxedSocket, Codec>;

// ===================================================================== gateway process

/// The spawned gateway. Dropping it kills the process (SIGKILL) and reaps it; the temp state
/// dir is removed afterwards (fields drop after `Drop::drop`).
struct Gateway {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<Vec<String>>>,
    _state: tempfile::TempDir,
}

impl Gateway {
    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().map(|v| v.join("\n")).unwrap_or_default();
        if lines.is_empty() {
            String::new()
        } else {
            format!("\ngateway stderr:\n{lines}")
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns a gateway with `config` as `$OPENCLAW_STATE_DIR/openclaw.json` and waits for its
/// `listening on ws://127.0.0.1:PORT` line.
fn spawn_gateway(config: &Value) -> Result<Gateway> {
    let state = tempfile::Builder::new()
        .prefix("openclaw-flow-bench-")
        .tempdir_in(std::env::temp_dir())
        .context("creating a temp state dir")?;
    std::fs::write(
        state.path().join("openclaw.json"),
        serde_json::to_vec_pretty(config)?,
    )
    .context("writing the gateway config")?;
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("OPENCLAW_") || k.starts_with("TELEGRAM_") {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.args(["gateway", "run", "--port", "0", "--token", TOKEN])
        .env_remove("RUST_LOG")
        .env("OPENCLAW_STATE_DIR", state.path())
        .env("HOME", state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("spawning {BIN}"))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut gw = Gateway {
        child,
        port: 0,
        stderr: Arc::default(),
        _state: state,
    };
    // Reader threads end at EOF (gateway exit) and keep the pipes drained meanwhile.
    let (tx, rx) = mpsc::channel::<String>();
    if let Some(out) = stdout {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
    }
    if let Some(err) = stderr {
        let sink = gw.stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut v) = sink.lock()
                    && v.len() < 40
                {
                    v.push(line);
                }
            }
        });
    }
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(port) = line.trim().strip_prefix("listening on ws://127.0.0.1:") {
                    gw.port = port
                        .parse()
                        .with_context(|| format!("bad port in {line:?}"))?;
                    return Ok(gw);
                }
            }
            Err(RecvTimeoutError::Timeout) => bail!(
                "no `listening on ws://127.0.0.1:PORT` line within {STARTUP_TIMEOUT:?}{}",
                gw.stderr_tail()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let status = gw.child.wait().ok();
                bail!(
                    "gateway exited before listening (status {status:?}){}",
                    gw.stderr_tail()
                )
            }
        }
    }
}

// ===================================================================== fakes (Bot API + model)

#[derive(Default)]
struct FakeState {
    /// Pushed, not yet confirmed by an offset.
    pending: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    /// When the last non-empty `getUpdates` answer was handed to actix.
    updates_sent_at: Option<Instant>,
    /// Time spent inside the model handler since the last reset.
    model_spent: Duration,
    model_calls: u64,
}

struct Fakes {
    state: Mutex<FakeState>,
    /// Wakes a waiting long poll.
    pushed: Notify,
    /// `(arrival, text)` of every `sendMessage`.
    sent: tmpsc::UnboundedSender<(Instant, String)>,
}

impl Fakes {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The fakes' server, stopped on drop.
struct FakeServer {
    shared: Arc<Fakes>,
    port: u16,
    handle: ServerHandle,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl FakeServer {
    fn start() -> Result<(Self, tmpsc::UnboundedReceiver<(Instant, String)>)> {
        let (sent_tx, sent_rx) = tmpsc::unbounded_channel();
        let shared = Arc::new(Fakes {
            state: Mutex::new(FakeState {
                next_update_id: 1000,
                next_message_id: 1,
                ..FakeState::default()
            }),
            pushed: Notify::new(),
            sent: sent_tx,
        });
        let data = web::Data::from(shared.clone());
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("flow-bench-fakes".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                            .route("/v1/chat/completions", web::post().to(model))
                            .route("/{bot}/{method}", web::post().to(telegram))
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
                    let _ = tx.send(Ok((addr.port(), running.handle())));
                    let _ = running.await;
                });
            })
            .context("spawning the fakes' thread")?;
        let (port, handle) = rx
            .recv_timeout(STARTUP_TIMEOUT)
            .map_err(|_| anyhow!("fakes did not start"))?
            .map_err(|e| anyhow!("fakes failed to bind: {e}"))?;
        Ok((
            Self {
                shared,
                port,
                handle,
            },
            sent_rx,
        ))
    }

    fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Resets the per-message counters and pushes a private text message.
    fn push(&self, text: &str) {
        {
            let mut st = self.shared.lock();
            st.updates_sent_at = None;
            st.model_spent = Duration::ZERO;
            st.next_message_id += 1;
            let update_id = st.next_update_id;
            st.next_update_id += 1;
            let message_id = st.next_message_id;
            st.pending.push_back(json!({
                "update_id": update_id,
                "message": {
                    "message_id": message_id,
                    "from": {"id": USER, "is_bot": false, "first_name": "Bench"},
                    "chat": {"id": USER, "type": "private"},
                    "date": 1_700_000_000,
                    "text": text,
                }
            }));
        }
        self.shared.pushed.notify_waiters();
    }
}

fn tg_ok(result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true, "result": result}))
}

async fn telegram(
    path: web::Path<(String, String)>,
    body: web::Bytes,
    fakes: web::Data<Fakes>,
) -> HttpResponse {
    let arrived = Instant::now();
    let (bot, method) = path.into_inner();
    if bot.strip_prefix("bot") != Some(TG_TOKEN) {
        return HttpResponse::Unauthorized()
            .json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    match method.as_str() {
        "getMe" => tg_ok(
            json!({"id": 990001, "is_bot": true, "first_name": "Bench", "username": "bench_bot"}),
        ),
        "deleteWebhook" | "setWebhook" => tg_ok(json!(true)),
        "getUpdates" => {
            let offset = body.get("offset").and_then(Value::as_i64);
            let wait =
                Duration::from_secs(body.get("timeout").and_then(Value::as_u64).unwrap_or(0))
                    .min(Duration::from_secs(30));
            let deadline = Instant::now() + wait;
            loop {
                let notified = fakes.pushed.notified();
                let mut notified = std::pin::pin!(notified);
                notified.as_mut().enable();
                {
                    let mut st = fakes.lock();
                    if let Some(o) = offset {
                        st.pending
                            .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= o));
                    }
                    if !st.pending.is_empty() {
                        let out: Vec<Value> = st.pending.iter().cloned().collect();
                        st.updates_sent_at = Some(Instant::now());
                        return tg_ok(Value::Array(out));
                    }
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return tg_ok(json!([]));
                }
                let _ = timeout(left, notified).await;
            }
        }
        "sendMessage" => {
            let text = body["text"].as_str().unwrap_or("").to_owned();
            let chat = body["chat_id"].clone();
            let id = {
                let mut st = fakes.lock();
                st.next_message_id += 1;
                st.next_message_id
            };
            let _ = fakes.sent.send((arrived, text.clone()));
            tg_ok(
                json!({"message_id": id, "chat": {"id": chat, "type": "private"},
                         "date": 1_700_000_000, "text": text}),
            )
        }
        _ => HttpResponse::NotFound()
            .json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
    }
}

/// The fake model: a `nodes` invoke tool call for a user turn, the final text after a tool
/// result.
async fn model(body: web::Bytes, fakes: web::Data<Fakes>) -> HttpResponse {
    let t0 = Instant::now();
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let last_role = req["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["role"].as_str())
        .unwrap_or("")
        .to_owned();
    let message = if last_role == "tool" {
        json!({"role": "assistant", "content": "done"})
    } else {
        let args = json!({"action": "invoke", "node": NODE_NAME, "command": "echo.test",
                          "params": {"x": 1}});
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "call_bench", "type": "function",
            "function": {"name": "nodes", "arguments": args.to_string()}}]})
    };
    let finish = if last_role == "tool" {
        "stop"
    } else {
        "tool_calls"
    };
    let resp = HttpResponse::Ok().json(json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000,
        "model": req["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }));
    let mut st = fakes.lock();
    st.model_calls += 1;
    st.model_spent += t0.elapsed();
    resp
}

// ===================================================================== protocol client

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(IO_TIMEOUT)
        .max_http_version(awc::http::Version::HTTP_11)
        .finish()
}

async fn send_text(ws: &mut Ws, text: String) -> Result<()> {
    timeout(IO_TIMEOUT, ws.send(Message::Text(text.into())))
        .await
        .map_err(|_| anyhow!("send timed out after {IO_TIMEOUT:?}"))?
        .map_err(|e| anyhow!("send failed: {e}"))
}

/// Next text frame parsed (pings answered, other control frames skipped).
async fn recv_json(ws: &mut Ws, limit: Duration) -> Result<Value> {
    loop {
        let item = timeout(limit, ws.next())
            .await
            .map_err(|_| anyhow!("no frame from the gateway within {limit:?}"))?;
        match item {
            Some(Ok(Frame::Text(b))) => return serde_json::from_slice(&b).context("frame JSON"),
            Some(Ok(Frame::Ping(p))) => {
                let _ = ws.send(Message::Pong(p)).await;
            }
            Some(Ok(Frame::Close(r))) => bail!("gateway closed the connection: {r:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("WebSocket error: {e}"),
            None => bail!("gateway closed the connection (EOF)"),
        }
    }
}

async fn response(ws: &mut Ws, id: &str) -> Result<Value> {
    for _ in 0..10_000 {
        let v = recv_json(ws, IO_TIMEOUT).await?;
        if v["type"] == "res" && v["id"] == id {
            return Ok(v);
        }
    }
    bail!("no response to {id} among 10000 frames")
}

async fn handshake(url: &str, params_for: impl FnOnce(&str) -> Value) -> Result<Ws> {
    let (_resp, mut ws) = timeout(
        IO_TIMEOUT,
        client().ws(url).max_frame_size(1 << 24).connect(),
    )
    .await
    .map_err(|_| anyhow!("WebSocket upgrade timed out"))?
    .map_err(|e| anyhow!("WebSocket upgrade to {url} failed: {e}"))?;
    let challenge = recv_json(&mut ws, IO_TIMEOUT).await?;
    let nonce = challenge
        .pointer("/payload/nonce")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("first frame is not connect.challenge: {challenge}"))?
        .to_owned();
    let req = json!({"type": "req", "id": "c", "method": "connect", "params": params_for(&nonce)});
    send_text(&mut ws, req.to_string()).await?;
    let res = response(&mut ws, "c").await?;
    if res["ok"] != true {
        bail!("connect rejected: {}", res["error"]);
    }
    Ok(ws)
}

async fn request(ws: &mut Ws, id: &str, method: &str, params: Value) -> Result<Value> {
    let req = json!({"type": "req", "id": id, "method": method, "params": params});
    send_text(ws, req.to_string()).await?;
    let res = response(ws, id).await?;
    if res["ok"] != true {
        bail!("{method} failed: {}", res["error"]);
    }
    Ok(res["payload"].clone())
}

fn random_key() -> DeviceKey {
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    DeviceKey::from_seed(&seed)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Signed `connect` params for the bench node.
fn node_params(key: &DeviceKey, nonce: &str) -> Value {
    let mut p = json!({
        "minProtocol": 4,
        "maxProtocol": 4,
        "client": {"id": "node-host", "mode": "node", "platform": "linux", "version": "bench",
                   "displayName": NODE_NAME},
        "role": "node",
        "scopes": [],
        "caps": ["system"],
        "commands": ["echo.test"],
        "auth": {"token": TOKEN},
    });
    let signed_at = now_ms();
    let id = key.device_id();
    let payload = match connect::parse(&p) {
        Ok(parsed) => identity::payload_v3(&parsed, &id, signed_at, nonce),
        Err(e) => panic!("bench node params do not parse: {e}"),
    };
    p["device"] = json!({
        "id": id,
        "publicKey": key.public_key_b64(),
        "signature": key.sign(&payload),
        "signedAt": signed_at,
        "nonce": nonce,
    });
    p
}

/// The node's loop: echoes every `node.invoke.request` at once and adds the time it spent
/// to `spent`; ends with the socket or after `max_frames` frames.
async fn run_node(
    mut ws: Ws,
    node_id: String,
    spent: Rc<std::cell::Cell<Duration>>,
    max_frames: usize,
) -> Result<()> {
    let mut n = 0u64;
    for _ in 0..max_frames {
        let item = match timeout(Duration::from_secs(300), ws.next()).await {
            Ok(item) => item,
            Err(_) => bail!("node idle for 300 s"),
        };
        let b = match item {
            Some(Ok(Frame::Text(b))) => b,
            Some(Ok(Frame::Ping(p))) => {
                let _ = ws.send(Message::Pong(p)).await;
                continue;
            }
            Some(Ok(Frame::Close(_)) | Err(_)) | None => return Ok(()),
            Some(Ok(_)) => continue,
        };
        let t0 = Instant::now();
        let Ok(v) = serde_json::from_slice::<Value>(&b) else {
            continue;
        };
        if v["event"] != "node.invoke.request" {
            continue;
        }
        n += 1;
        let p = &v["payload"];
        let params: Value = p["paramsJSON"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        let payload = json!({"echo": params, "command": p["command"]});
        let frame = json!({"type": "req", "id": format!("n{n}"), "method": "node.invoke.result",
            "params": {"id": p["id"], "nodeId": node_id, "ok": true, "payloadJSON": payload.to_string()}});
        send_text(&mut ws, frame.to_string()).await?;
        spent.set(spent.get() + t0.elapsed());
    }
    Ok(())
}

// ===================================================================== stats

fn pct(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let k = (xs.len() - 1) as f64 * p / 100.0;
    let lo = k.floor() as usize;
    let hi = (lo + 1).min(xs.len() - 1);
    xs[lo] + (xs[hi] - xs[lo]) * (k - lo as f64)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ===================================================================== flows

struct Flow {
    name: &'static str,
    with_model: bool,
    text: String,
    expect: &'static str,
}

async fn run_flow(flow: &Flow) -> Result<()> {
    let (fakes, mut sent_rx) = FakeServer::start()?;
    let mut tg = json!({
        "enabled": true, "botToken": TG_TOKEN, "apiRoot": fakes.root(),
        "dmPolicy": "allowlist", "allowFrom": [USER], "pollTimeoutSeconds": 30,
    });
    tg["groupPolicy"] = json!("disabled");
    let mut config = json!({"channels": {"telegram": tg}});
    if flow.with_model {
        config["models"] = json!({"providers": {"bench": {
            "baseUrl": format!("{}/v1", fakes.root()), "apiKey": "sk-bench",
            "api": "openai-completions", "models": [{"id": "bench-model"}]}}});
        config["agents"] = json!({"defaults": {"model": {"primary": "bench/bench-model"}}});
    }
    let gw = spawn_gateway(&config)?;

    // Node + surface approval.
    let key = random_key();
    let node_id = key.device_id();
    let node_ws = handshake(&gw.url(), |nonce| node_params(&key, nonce)).await?;
    let node_spent = Rc::new(std::cell::Cell::new(Duration::ZERO));
    let node_task = actix_web::rt::spawn(run_node(
        node_ws,
        node_id.clone(),
        node_spent.clone(),
        10 * (WARMUP + N) + 1000,
    ));
    let mut op = handshake(&gw.url(), |_| {
        json!({"minProtocol": 4, "maxProtocol": 4,
               "client": {"id": "cli", "version": "bench", "platform": "linux", "mode": "cli"},
               "role": "operator",
               "scopes": ["operator.read", "operator.write", "operator.pairing", "operator.admin"],
               "caps": [], "auth": {"token": TOKEN}})
    })
    .await?;
    let list = request(&mut op, "l", "node.pair.list", json!({})).await?;
    let request_id = list["pending"]
        .as_array()
        .and_then(|p| p.iter().find(|r| r["nodeId"] == node_id.as_str()))
        .and_then(|r| r["requestId"].as_str())
        .ok_or_else(|| anyhow!("no pending surface request for the node: {list}"))?
        .to_owned();
    request(
        &mut op,
        "a",
        "node.pair.approve",
        json!({"requestId": request_id}),
    )
    .await?;

    println!(
        "[{}] {N} Telegram messages one at a time (+{WARMUP} warm-up): {}",
        flow.name, flow.text
    );
    let mut added = Vec::with_capacity(N);
    let mut total = Vec::with_capacity(N);
    let mut model_t = Vec::with_capacity(N);
    let mut node_t = Vec::with_capacity(N);
    let started = Instant::now();
    for i in 0..WARMUP + N {
        if started.elapsed() > FLOW_MAX {
            println!("    stopped: {FLOW_MAX:?} time limit reached after {i} messages");
            break;
        }
        node_spent.set(Duration::ZERO);
        fakes.push(&flow.text);
        let (arrived, text) = timeout(IO_TIMEOUT, sent_rx.recv())
            .await
            .map_err(|_| {
                anyhow!(
                    "message {i}: no sendMessage within {IO_TIMEOUT:?}{}",
                    gw.stderr_tail()
                )
            })?
            .ok_or_else(|| anyhow!("fakes stopped"))?;
        if !text.contains(flow.expect) {
            bail!(
                "message {i}: unexpected reply {text:?} (wanted {:?})",
                flow.expect
            );
        }
        let (sent_at, model_spent) = {
            let st = fakes.shared.lock();
            (st.updates_sent_at, st.model_spent)
        };
        let sent_at =
            sent_at.ok_or_else(|| anyhow!("message {i}: reply before any getUpdates answer"))?;
        let whole = arrived.saturating_duration_since(sent_at);
        let own = whole
            .saturating_sub(model_spent)
            .saturating_sub(node_spent.get());
        if i >= WARMUP {
            added.push(ms(own));
            total.push(ms(whole));
            model_t.push(ms(model_spent));
            node_t.push(ms(node_spent.get()));
        }
    }
    let model_calls = fakes.shared.lock().model_calls;
    let _ = timeout(
        Duration::from_secs(1),
        op.send(Message::Close(Some(CloseCode::Normal.into()))),
    )
    .await;
    drop(gw);
    node_task.abort();

    for v in [&mut added, &mut total, &mut model_t, &mut node_t] {
        v.sort_by(f64::total_cmp);
    }
    let n = added.len();
    if n == 0 {
        bail!("no samples");
    }
    let mean = added.iter().sum::<f64>() / n as f64;
    println!(
        "    samples {n}; model calls {model_calls}; elapsed {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "    sendMessage − getUpdates answer: p50 {:.3} ms  p99 {:.3} ms",
        pct(&total, 50.0),
        pct(&total, 99.0)
    );
    println!(
        "    fake model time (per message):   p50 {:.3} ms  p99 {:.3} ms",
        pct(&model_t, 50.0),
        pct(&model_t, 99.0)
    );
    println!(
        "    fake node time (per message):    p50 {:.3} ms  p99 {:.3} ms",
        pct(&node_t, 50.0),
        pct(&node_t, 99.0)
    );
    let p50 = pct(&added, 50.0);
    let p99 = pct(&added, 99.0);
    println!(
        "    gateway added time: p50 {p50:.3} ms  p90 {:.3} ms  p99 {p99:.3} ms  max {:.3} ms  mean {mean:.3} ms",
        pct(&added, 90.0),
        added[n - 1]
    );
    println!(
        "    goal ≤ {GOAL_MS} ms: p50 {}, p99 {}",
        verdict(p50 <= GOAL_MS),
        verdict(p99 <= GOAL_MS)
    );
    Ok(())
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing to parse.
    let flows = [
        Flow {
            name: "1 model + nodes tool",
            with_model: true,
            text: "please run echo on my node".to_owned(),
            expect: "done",
        },
        Flow {
            name: "2 embedded command agent",
            with_model: false,
            text: format!("/invoke {NODE_NAME} echo.test {{\"x\":1}}"),
            expect: "echo.test",
        },
    ];
    println!("flow_bench: {BIN}");
    actix_web::rt::System::new().block_on(async move {
        for f in &flows {
            run_flow(f).await?;
        }
        Ok(())
    })
}
