//! `node.invoke` benchmark: spawns the release `openclaw` binary (`gateway run --port 0 --token
//! BENCH`, fresh temp state dir), connects an in-process fake node (Ed25519 device proof; the
//! local device is paired silently; its surface is approved with `node.pair.approve`) that
//! answers `system.which` at once, and measures the full round trip
//! operator → gateway → node → gateway → operator over loopback.
//!
//! Figures:
//! 1. latency of 10 000 sequential `node.invoke` calls (p50 / p90 / p99 / max)
//! 2. throughput: 20 000 calls on one operator connection with 64 in flight (calls/s)
//!
//! Run: `cargo bench --bench invoke_bench`. Every loop is bounded in count and time, every
//! await has a timeout, traffic goes only to 127.0.0.1, and the gateway is killed on exit
//! (including on panic) by [`Gateway`]'s `Drop`. The operator client and the fake node share
//! one client thread, and the machine's cores with the gateway, so the figures include
//! client-side CPU.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::rt::time::timeout;
use anyhow::{Context as _, Result, anyhow, bail};
use awc::ws::{CloseCode, Codec, Frame, Message};
use futures_util::{SinkExt as _, StreamExt as _};
use openclaw::actors::identity::{self, DeviceKey};
use openclaw::actors::protocol::connect;
use serde::Deserialize;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");
const TOKEN: &str = "BENCH";

/// Bound on every single network await.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on spawn → listening.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

const WARMUP: usize = 500;
const LATENCY_N: usize = 10_000;
const LATENCY_MAX: Duration = Duration::from_secs(120);
const THROUGHPUT_N: usize = 20_000;
const THROUGHPUT_WINDOW: usize = 64;
const THROUGHPUT_MAX: Duration = Duration::from_secs(120);

const GOAL_P50_US: f64 = 100.0;
const GOAL_P99_US: f64 = 500.0;

/// What the fake node answers for `system.which`.
const WHICH_PAYLOAD: &str = r#"{"bins":{"sh":"/usr/bin/sh"}}"#;

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

/// Spawns a gateway and waits for its `listening on ws://127.0.0.1:PORT` line.
fn spawn_gateway() -> Result<Gateway> {
    let state = tempfile::Builder::new()
        .prefix("openclaw-invoke-bench-")
        .tempdir_in(std::env::temp_dir())
        .context("creating a temp state dir")?;
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OPENCLAW_") {
            cmd.env_remove(k);
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

// ===================================================================== protocol client

/// The parts of a frame the bench looks at.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    ok: Option<bool>,
    error: Option<Value>,
}

/// The parts of a `node.invoke.request` event the node needs.
#[derive(Deserialize)]
struct InvokeEvent {
    event: Option<String>,
    payload: Option<InvokePayload>,
}

#[derive(Deserialize)]
struct InvokePayload {
    id: String,
}

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

/// Next text frame's bytes (pings answered, other control frames skipped).
async fn recv_text(ws: &mut Ws) -> Result<actix_web::web::Bytes> {
    loop {
        let item = timeout(IO_TIMEOUT, ws.next())
            .await
            .map_err(|_| anyhow!("no frame from the gateway within {IO_TIMEOUT:?}"))?;
        match item {
            Some(Ok(Frame::Text(b))) => return Ok(b),
            Some(Ok(Frame::Ping(p))) => {
                timeout(IO_TIMEOUT, ws.send(Message::Pong(p)))
                    .await
                    .map_err(|_| anyhow!("pong timed out"))?
                    .map_err(|e| anyhow!("pong failed: {e}"))?;
            }
            Some(Ok(Frame::Close(r))) => bail!("gateway closed the connection: {r:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("WebSocket error: {e}"),
            None => bail!("gateway closed the connection (EOF)"),
        }
    }
}

/// Waits for the `res` with `id` (other frames skipped) and returns it parsed.
async fn response(ws: &mut Ws, id: &str) -> Result<Value> {
    // Bounded: every recv has IO_TIMEOUT, and a gateway that floods other frames is cut off.
    for _ in 0..100_000 {
        let b = recv_text(ws).await?;
        let h: Head = serde_json::from_slice(&b).context("frame is not JSON")?;
        if h.kind == "res" && h.id.as_deref() == Some(id) {
            return serde_json::from_slice(&b).context("response is not JSON");
        }
    }
    bail!("no response to {id} among 100000 frames")
}

/// Opens a socket, reads the challenge and sends `connect` (`params_for(nonce)`); returns
/// the socket and the `hello-ok` payload.
async fn handshake(
    client: &awc::Client,
    url: &str,
    params_for: impl FnOnce(&str) -> Value,
) -> Result<(Ws, Value)> {
    let (_resp, mut ws) = timeout(IO_TIMEOUT, client.ws(url).max_frame_size(1 << 24).connect())
        .await
        .map_err(|_| anyhow!("WebSocket upgrade timed out after {IO_TIMEOUT:?}"))?
        .map_err(|e| anyhow!("WebSocket upgrade to {url} failed: {e}"))?;
    let challenge: Value = serde_json::from_slice(&recv_text(&mut ws).await?)?;
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
    Ok((ws, res["payload"].clone()))
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

async fn close(mut ws: Ws) {
    let _ = timeout(
        Duration::from_secs(1),
        ws.send(Message::Close(Some(CloseCode::Normal.into()))),
    )
    .await;
}

// ===================================================================== fake node

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
                   "displayName": "bench-node"},
        "role": "node",
        "scopes": [],
        "caps": ["system"],
        "commands": ["system.which"],
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

/// The node's loop: answers every `node.invoke.request` at once; ends when the socket does,
/// or after `max_frames` frames (a bound far above what the figures need).
async fn run_node(mut ws: Ws, node_id: String, max_frames: usize) -> Result<usize> {
    let prefix = format!(
        r#"{{"type":"req","method":"node.invoke.result","params":{{"nodeId":"{node_id}","ok":true,"payloadJSON":{},"id":""#,
        serde_json::to_string(WHICH_PAYLOAD)?
    );
    let mut answered = 0usize;
    let mut n = 0u64;
    for _ in 0..max_frames {
        // Idle gaps between figures are fine: wait longer than IO_TIMEOUT for the next frame.
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
            Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return Ok(answered),
            Some(Ok(_)) => continue,
        };
        let ev: InvokeEvent = match serde_json::from_slice(&b) {
            Ok(ev) => ev,
            Err(_) => continue,
        };
        if ev.event.as_deref() != Some("node.invoke.request") {
            continue; // acks, ticks, pairing events
        }
        let Some(p) = ev.payload else { continue };
        n += 1;
        // The invoke id is a UUID: no escaping needed.
        let frame = format!(r#"{prefix}{}"}},"id":"n{n}"}}"#, p.id);
        send_text(&mut ws, frame).await?;
        answered += 1;
    }
    Ok(answered)
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

fn invoke_frame(id: &str, node_id: &str, key: &str) -> String {
    format!(
        r#"{{"type":"req","id":"{id}","method":"node.invoke","params":{{"nodeId":"{node_id}","command":"system.which","params":{{"bins":["sh"]}},"timeoutMs":5000,"idempotencyKey":"{key}"}}}}"#
    )
}

// ===================================================================== figures

/// Figure 1: sequential round trips.
async fn fig_latency(op: &mut Ws, node_id: &str) -> Result<(f64, f64)> {
    println!(
        "[1] node.invoke round trip: {LATENCY_N} sequential calls (+{WARMUP} warm-up), one operator connection"
    );
    let mut lat = Vec::with_capacity(LATENCY_N);
    let started = Instant::now();
    for i in 0..WARMUP + LATENCY_N {
        if started.elapsed() > LATENCY_MAX {
            println!("    stopped: {LATENCY_MAX:?} time limit reached after {i} calls");
            break;
        }
        let id = format!("s{i}");
        let t0 = Instant::now();
        send_text(op, invoke_frame(&id, node_id, &format!("seq-{i}"))).await?;
        let b = loop {
            let b = recv_text(op).await?;
            let h: Head = serde_json::from_slice(&b)?;
            if h.kind == "res" && h.id.as_deref() == Some(id.as_str()) {
                if h.ok != Some(true) {
                    bail!("call {i} failed: {}", h.error.unwrap_or(Value::Null));
                }
                break b;
            }
        };
        let dt = t0.elapsed();
        if i == 0 {
            let v: Value = serde_json::from_slice(&b)?;
            let sh = v
                .pointer("/payload/payload/bins/sh")
                .and_then(Value::as_str);
            if sh != Some("/usr/bin/sh") {
                bail!("unexpected invoke result: {v}");
            }
        }
        if i >= WARMUP {
            lat.push(dt.as_secs_f64() * 1e6);
        }
    }
    if lat.is_empty() {
        bail!("no measured call completed");
    }
    lat.sort_by(f64::total_cmp);
    let (p50, p90, p99, max) = (
        pct(&lat, 50.0),
        pct(&lat, 90.0),
        pct(&lat, 99.0),
        lat[lat.len() - 1],
    );
    println!(
        "    {} calls: p50 {p50:.1} µs, p90 {p90:.1} µs, p99 {p99:.1} µs, max {max:.1} µs",
        lat.len()
    );
    Ok((p50, p99))
}

/// Figure 2: pipelined throughput.
async fn fig_throughput(op: &mut Ws, node_id: &str) -> Result<f64> {
    println!(
        "[2] node.invoke throughput: {THROUGHPUT_N} calls, {THROUGHPUT_WINDOW} in flight, one operator connection"
    );
    let mut sent = 0usize;
    let mut ok = 0usize;
    let mut failed = 0usize;
    let mut first_error = None;
    let t0 = Instant::now();
    while ok + failed < THROUGHPUT_N {
        if t0.elapsed() > THROUGHPUT_MAX {
            bail!(
                "stopped: {THROUGHPUT_MAX:?} time limit reached after {} responses",
                ok + failed
            );
        }
        let mut fed = false;
        while sent < THROUGHPUT_N && sent - (ok + failed) < THROUGHPUT_WINDOW {
            let frame = invoke_frame(&format!("t{sent}"), node_id, &format!("tp-{sent}"));
            timeout(IO_TIMEOUT, op.feed(Message::Text(frame.into())))
                .await
                .map_err(|_| anyhow!("feed timed out"))?
                .map_err(|e| anyhow!("feed failed: {e}"))?;
            sent += 1;
            fed = true;
        }
        if fed {
            timeout(IO_TIMEOUT, op.flush())
                .await
                .map_err(|_| anyhow!("flush timed out"))?
                .map_err(|e| anyhow!("flush failed: {e}"))?;
        }
        let b = recv_text(op).await?;
        let h: Head = serde_json::from_slice(&b)?;
        if h.kind != "res" || !h.id.as_deref().is_some_and(|id| id.starts_with('t')) {
            continue;
        }
        if h.ok == Some(true) {
            ok += 1;
        } else {
            failed += 1;
            first_error.get_or_insert(h.error.unwrap_or(Value::Null));
        }
    }
    let wall = t0.elapsed();
    let rate = ok as f64 / wall.as_secs_f64();
    println!(
        "    {ok} ok, {failed} failed in {:.1} ms: {rate:.0} calls/s",
        wall.as_secs_f64() * 1e3
    );
    if let Some(e) = first_error {
        println!("    first error: {e}");
    }
    Ok(rate)
}

async fn run() -> Result<()> {
    println!("invoke_bench: {BIN}");
    let gw = spawn_gateway()?;
    let url = gw.url();
    let client = client();

    // The fake node: local device, paired silently.
    let key = random_key();
    let node_id = key.device_id();
    let (node_ws, hello) = handshake(&client, &url, |nonce| node_params(&key, nonce))
        .await
        .with_context(|| format!("node connect{}", gw.stderr_tail()))?;
    if hello.pointer("/auth/deviceToken").is_none() {
        bail!("node hello-ok has no device token: {}", hello["auth"]);
    }
    let node_task = actix_web::rt::spawn(run_node(
        node_ws,
        node_id.clone(),
        4 * (WARMUP + LATENCY_N + THROUGHPUT_N) + 1000,
    ));

    // The operator: approves the node's surface, then calls it.
    let (mut op, _) = handshake(&client, &url, |_| {
        json!({
            "minProtocol": 4,
            "maxProtocol": 4,
            "client": {"id": "cli", "mode": "cli", "platform": "linux", "version": "bench"},
            "role": "operator",
            "scopes": ["operator.read", "operator.write", "operator.pairing", "operator.admin"],
            "caps": [],
            "auth": {"token": TOKEN},
        })
    })
    .await
    .context("operator connect")?;
    let list = request(&mut op, "p1", "node.pair.list", json!({})).await?;
    let request_id = list["pending"]
        .as_array()
        .and_then(|p| p.iter().find(|r| r["nodeId"] == node_id.as_str()))
        .and_then(|r| r["requestId"].as_str())
        .ok_or_else(|| anyhow!("no pending surface request for the node: {list}"))?
        .to_owned();
    request(
        &mut op,
        "p2",
        "node.pair.approve",
        json!({"requestId": request_id}),
    )
    .await?;

    let (p50, p99) = fig_latency(&mut op, &node_id).await?;
    let rate = fig_throughput(&mut op, &node_id).await?;
    close(op).await;
    drop(gw); // kills the gateway; the node's socket ends
    let answered = match timeout(Duration::from_secs(10), node_task).await {
        Ok(Ok(Ok(n))) => n.to_string(),
        Ok(Ok(Err(e))) => format!("error: {e:#}"),
        Ok(Err(e)) => format!("task failed: {e}"),
        Err(_) => "still running".to_owned(),
    };

    println!();
    println!("summary (fake node answered {answered} invokes)");
    println!(
        "    round trip p50 {p50:.1} µs   goal ≤ {GOAL_P50_US:.0} µs   {}",
        verdict(p50 <= GOAL_P50_US)
    );
    println!(
        "    round trip p99 {p99:.1} µs   goal ≤ {GOAL_P99_US:.0} µs   {}",
        verdict(p99 <= GOAL_P99_US)
    );
    println!("    pipelined     {rate:.0} calls/s ({THROUGHPUT_WINDOW} in flight)");
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; there are no options.
    let outcome = actix_web::rt::System::new().block_on(run());
    if let Err(e) = outcome {
        eprintln!("invoke_bench: {e:#}");
        std::process::exit(1);
    }
}
