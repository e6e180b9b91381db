//! Scaffolding shared by the benches (`mod common;` in each; Cargo builds this file only as a
//! module of each bench, never as a bench target of its own):
//!
//! - [`Gateway`]: spawns the release `openclaw` binary (`gateway run --port 0 --token BENCH`,
//!   fresh temp state dir, `OPENCLAW_*` env cleared), waits for its
//!   `listening on ws://127.0.0.1:PORT` line and kills it on drop;
//! - [`Client`] / [`Conn`]: the handshake of the shared protocol client
//!   (`openclaw::client::handshake`: challenge → `connect` → `hello-ok`) on a bench-tuned awc
//!   socket, request/response correlation and a pipelined request window, every wait
//!   bounded by [`Limits::io`];
//! - a fake node (`connect` params from `openclaw::client::connect`, signed; surface
//!   approval; an answering loop);
//! - percentiles and small formatting helpers.
//!
//! Each bench uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod flow;
pub mod invoke;
pub mod raw;

use std::cell::Cell;
use std::future::Future;
use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::rt::time::timeout;
use actix_web::web::Bytes;
use anyhow::{Context as _, Result, anyhow, bail};
use awc::ws::{CloseCode, Codec, Frame, Message};
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use openclaw::actors::identity::DeviceKey;
use openclaw::client::connect::{ClientInfo, ConnectParams};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The gateway binary the benches spawn: `OPENCLAW_BENCH_BIN` if set (an A/B of two builds
/// with the same bench), else the `openclaw` of this build.
pub fn bin() -> String {
    std::env::var("OPENCLAW_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_openclaw").to_owned())
}
pub const TOKEN: &str = "BENCH";
/// Bound on spawn → `listening` line (and, in gateway_bench, → first hello-ok).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How many gateway stderr lines are kept for error messages.
const STDERR_KEEP: usize = 40;
/// How long a fake node may wait for its next frame (idle gaps between figures are fine).
const NODE_IDLE: Duration = Duration::from_secs(300);
/// Bound on waiting for the gateway's Close echo in [`Conn::close`].
const CLOSE_WAIT: Duration = Duration::from_secs(1);

pub type Ws = actix_codec::Framed<awc::BoxedSocket, Codec>;

/// Runs `run` on an actix system; on error prints `name: error` and exits with status 1.
pub fn run_main(name: &str, run: impl Future<Output = Result<()>>) {
    let outcome = actix_web::rt::System::new().block_on(run);
    if let Err(e) = outcome {
        eprintln!("{name}: {e:#}");
        std::process::exit(1);
    }
}

// ===================================================================== gateway process

/// How to start a gateway.
pub struct Spawn<'a> {
    /// Prefix of the temp state dir's name.
    pub state_prefix: &'a str,
    /// Written to `$OPENCLAW_STATE_DIR/openclaw.json` when given.
    pub config: Option<&'a Value>,
    /// Inherited env vars with these prefixes are removed (besides `OPENCLAW_*` and `RUST_LOG`).
    pub clear_env: &'a [&'a str],
}

/// The spawned gateway. Dropping it kills the process (SIGKILL) and reaps it; the temp state
/// dir is removed afterwards (fields drop after `Drop::drop`).
pub struct Gateway {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<Vec<String>>>,
    _state: tempfile::TempDir,
}

impl Gateway {
    /// Spawns a gateway and waits for its `listening on ws://127.0.0.1:PORT` line (at most
    /// [`STARTUP_TIMEOUT`]). Returns the guard and the `Instant` just before `Command::spawn`.
    pub fn spawn(how: &Spawn<'_>) -> Result<(Self, Instant)> {
        let state = tempfile::Builder::new()
            .prefix(how.state_prefix)
            .tempdir_in(std::env::temp_dir())
            .context("creating a temp state dir")?;
        if let Some(config) = how.config {
            std::fs::write(
                state.path().join("openclaw.json"),
                serde_json::to_vec_pretty(config)?,
            )
            .context("writing the gateway config")?;
        }
        let bin = bin();
        let mut cmd = Command::new(&bin);
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if name.starts_with("OPENCLAW_") || how.clear_env.iter().any(|p| name.starts_with(p)) {
                cmd.env_remove(&k);
            }
        }
        cmd.args(["gateway", "run", "--port", "0", "--token", TOKEN])
            .env_remove("RUST_LOG")
            .env("OPENCLAW_STATE_DIR", state.path())
            .env("HOME", state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let t0 = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("spawning {bin}"))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut gw = Self {
            child,
            port: 0,
            stderr: Arc::default(),
            _state: state,
        };

        // Reader threads end at EOF, i.e. when the gateway exits; they keep draining the pipes
        // so the gateway never blocks on a full one.
        let (tx, rx) = mpsc::channel::<String>();
        if let Some(out) = stdout {
            drain_lines(out, move |line| {
                let _ = tx.send(line);
            });
        }
        if let Some(err) = stderr {
            let sink = gw.stderr.clone();
            drain_lines(err, move |line| {
                if let Ok(mut v) = sink.lock()
                    && v.len() < STDERR_KEEP
                {
                    v.push(line);
                }
            });
        }

        let deadline = t0 + STARTUP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.trim().strip_prefix("listening on ws://127.0.0.1:") {
                        gw.port = port
                            .parse()
                            .with_context(|| format!("bad port in {line:?}"))?;
                        return Ok((gw, t0));
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The first stderr lines, prefixed with a header line (empty if there were none).
    pub fn stderr_tail(&self) -> String {
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

/// Feeds every line of `pipe` to `each` on a new thread, until EOF or a read error.
fn drain_lines(pipe: impl Read + Send + 'static, mut each: impl FnMut(String) + Send + 'static) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            each(line);
        }
    });
}

// ===================================================================== protocol client

/// The bounds of one bench's protocol client.
#[derive(Clone, Copy)]
pub struct Limits {
    /// Bound on every single network await.
    pub io: Duration,
    /// Largest WebSocket frame accepted.
    pub max_frame_size: usize,
    /// How many unrelated frames a wait for a response skips before giving up (the handshake
    /// is bounded by `io` as a whole).
    pub max_skipped: usize,
}

/// The parts of a frame the benches look at (the rest is skipped without building a tree).
#[derive(Deserialize)]
pub struct Head {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    pub event: Option<String>,
    pub ok: Option<bool>,
    pub error: Option<Value>,
}

/// Instants at which the WebSocket upgrade finished, the challenge arrived, hello-ok arrived.
pub type Marks = [Instant; 3];

/// A finished handshake.
pub struct Hello {
    /// The `hello-ok` payload.
    pub payload: Value,
    pub marks: Marks,
}

/// An awc client with a bench's [`Limits`].
pub struct Client {
    http: awc::Client,
    limits: Limits,
}

impl Client {
    pub fn new(limits: Limits) -> Self {
        let http = awc::Client::builder()
            .timeout(limits.io)
            .max_http_version(awc::http::Version::HTTP_11)
            // Upgraded sockets keep their pool permit; the default limit (100) would stall
            // gateway_bench's idle-connection figure.
            .connector(awc::Connector::new().limit(0).timeout(limits.io))
            .finish();
        Self { http, limits }
    }

    /// TCP + WebSocket upgrade, `connect.challenge`, `connect` with `params_for(nonce)`,
    /// `hello-ok`.
    pub async fn handshake(
        &self,
        url: &str,
        params_for: impl FnOnce(&str) -> Result<Value>,
    ) -> Result<(Conn, Hello)> {
        let io = self.limits.io;
        let upgrade = self
            .http
            .ws(url)
            .max_frame_size(self.limits.max_frame_size)
            .connect();
        let (_resp, mut ws) = timeout(io, upgrade)
            .await
            .map_err(|_| anyhow!("WebSocket upgrade timed out after {io:?}"))?
            .map_err(|e| anyhow!("WebSocket upgrade to {url} failed: {e}"))?;
        let opened = Instant::now();
        let mut challenged = opened;
        let mut params_err = None;
        let shake = openclaw::client::handshake(&mut ws, |challenge| {
            challenged = Instant::now();
            params_for(challenge.nonce.as_deref().unwrap_or_default()).map_err(|e| {
                let message = format!("{e:#}");
                params_err = Some(e);
                openclaw::client::CallError::Transport {
                    kind: "config",
                    message,
                    close_code: None,
                }
            })
        });
        let payload = match timeout(io, shake).await {
            Err(_) => bail!("handshake timed out after {io:?}"),
            Ok(Ok(payload)) => payload,
            Ok(Err(openclaw::client::CallError::Request { error, .. })) => {
                bail!("connect rejected: {error}")
            }
            Ok(Err(e)) => match params_err {
                Some(e) => return Err(e),
                None => bail!("handshake failed: {}", e.message()),
            },
        };
        let kind = payload.get("type").and_then(Value::as_str);
        if kind != Some("hello-ok") {
            bail!("connect answered with payload type {kind:?}, not hello-ok");
        }
        let conn = Conn {
            ws,
            io,
            max_skipped: self.limits.max_skipped,
        };
        let hello = Hello {
            payload,
            marks: [opened, challenged, Instant::now()],
        };
        Ok((conn, hello))
    }
}

/// An open, authenticated connection.
pub struct Conn {
    pub ws: Ws,
    io: Duration,
    max_skipped: usize,
}

impl Conn {
    pub async fn send(&mut self, msg: Message) -> Result<()> {
        let io = self.io;
        timeout(io, self.ws.send(msg))
            .await
            .map_err(|_| anyhow!("send timed out after {io:?}"))?
            .map_err(|e| anyhow!("send failed: {e}"))
    }

    pub async fn send_text(&mut self, text: String) -> Result<()> {
        self.send(Message::Text(text.into())).await
    }

    /// Queues a text frame without flushing (see [`Conn::flush`]).
    pub async fn feed_text(&mut self, text: String) -> Result<()> {
        let io = self.io;
        timeout(io, self.ws.feed(Message::Text(text.into())))
            .await
            .map_err(|_| anyhow!("send timed out after {io:?}"))?
            .map_err(|e| anyhow!("send failed: {e}"))
    }

    pub async fn flush(&mut self) -> Result<()> {
        let io = self.io;
        timeout(io, self.ws.flush())
            .await
            .map_err(|_| anyhow!("flush timed out after {io:?}"))?
            .map_err(|e| anyhow!("flush failed: {e}"))
    }

    /// Next text frame's bytes (pings answered, other control frames skipped).
    pub async fn recv_text(&mut self) -> Result<Bytes> {
        loop {
            let io = self.io;
            let item = timeout(io, self.ws.next())
                .await
                .map_err(|_| anyhow!("no frame from the gateway within {io:?}"))?;
            if let Some(b) = self.text_or_control(item).await? {
                return Ok(b);
            }
        }
    }

    /// Next text frame, parsed as `T`.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        let b = self.recv_text().await?;
        parse(&b)
    }

    /// Waits for the `res` with `id` (other frames skipped, at most `max_skipped`); returns
    /// its head and its bytes.
    pub async fn response(&mut self, id: &str) -> Result<(Head, Bytes)> {
        for _ in 0..self.max_skipped {
            let b = self.recv_text().await?;
            let h: Head = parse(&b)?;
            if h.kind == "res" && h.id.as_deref() == Some(id) {
                return Ok((h, b));
            }
        }
        bail!("no response to {id} among {} frames", self.max_skipped)
    }

    /// Sends a request and returns the payload of its successful response.
    pub async fn request(&mut self, id: &str, method: &str, params: Value) -> Result<Value> {
        let req = json!({"type": "req", "id": id, "method": method, "params": params});
        self.send_text(req.to_string()).await?;
        let (h, b) = self.response(id).await?;
        if h.ok != Some(true) {
            bail!("{method} failed: {}", h.error.unwrap_or(Value::Null));
        }
        let v: Value = parse(&b)?;
        Ok(v.get("payload").cloned().unwrap_or(Value::Null))
    }

    /// Sends a Close frame and waits (bounded) for the gateway's Close echo.
    pub async fn close(mut self) {
        if self
            .send(Message::Close(Some(CloseCode::Normal.into())))
            .await
            .is_err()
        {
            return;
        }
        let _ = timeout(CLOSE_WAIT, async {
            while let Some(Ok(f)) = self.ws.next().await {
                if matches!(f, Frame::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

type Item = Option<Result<Frame, awc::error::WsProtocolError>>;

impl Conn {
    /// A text frame's bytes; `None` for a control frame (pings answered); an error when the
    /// connection ends.
    async fn text_or_control(&mut self, item: Item) -> Result<Option<Bytes>> {
        match item {
            Some(Ok(Frame::Text(b))) => Ok(Some(b)),
            Some(Ok(Frame::Ping(p))) => {
                self.send(Message::Pong(p)).await?;
                Ok(None)
            }
            Some(Ok(Frame::Close(r))) => bail!("gateway closed the connection: {r:?}"),
            Some(Ok(_)) => Ok(None),
            Some(Err(e)) => bail!("WebSocket error: {e}"),
            None => bail!("gateway closed the connection (EOF)"),
        }
    }
}

fn parse<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).with_context(|| {
        format!(
            "unexpected frame from the gateway: {}",
            String::from_utf8_lossy(&b[..b.len().min(300)])
        )
    })
}

// ===================================================================== pipelined requests

/// A pipelined run: `total` requests on one connection, at most `in_flight` unanswered.
pub struct Window {
    pub total: usize,
    pub in_flight: usize,
    /// Stop (with an error) after this long.
    pub max_time: Duration,
    /// Stop (with an error) after this many failed responses.
    pub max_failed: usize,
}

/// What a pipelined run saw.
pub struct Pipelined {
    pub ok: usize,
    pub failed: usize,
    pub first_error: Option<Value>,
    /// Per successful request, send → response.
    pub lat: Vec<Duration>,
    pub wall: Duration,
    /// Why the run stopped early, if it did.
    pub outcome: Result<()>,
}

/// Sends `w.total` requests with ids `{prefix}{n}` (`frame(id, n)` builds request `n`), keeping
/// `w.in_flight` unanswered: refill the window, flush once, wait for one response, take
/// whatever else is already readable, repeat. Responses with other ids are skipped.
pub async fn pipeline(
    conn: &mut Conn,
    w: &Window,
    prefix: &str,
    mut frame: impl FnMut(&str, usize) -> String,
) -> Pipelined {
    let mut sent_at: Vec<Option<Instant>> = vec![None; w.total];
    let mut p = Pipelined {
        ok: 0,
        failed: 0,
        first_error: None,
        lat: Vec::with_capacity(w.total),
        wall: Duration::ZERO,
        outcome: Ok(()),
    };
    let mut sent = 0usize;
    let t0 = Instant::now();
    let outcome: Result<()> = async {
        while p.ok + p.failed < w.total {
            if t0.elapsed() > w.max_time {
                bail!(
                    "stopped: {:?} time limit reached after {} responses",
                    w.max_time,
                    p.ok + p.failed
                );
            }
            let mut fed = false;
            while sent < w.total && sent - (p.ok + p.failed) < w.in_flight {
                let req = frame(&format!("{prefix}{sent}"), sent);
                sent_at[sent] = Some(Instant::now());
                conn.feed_text(req).await?;
                sent += 1;
                fed = true;
            }
            if fed {
                conn.flush().await?;
            }
            let b = conn.recv_text().await?;
            p.on_frame(&b, prefix, &mut sent_at)?;
            while let Some(item) = conn.ws.next().now_or_never() {
                if let Some(b) = conn.text_or_control(item).await? {
                    p.on_frame(&b, prefix, &mut sent_at)?;
                }
            }
            if p.failed >= w.max_failed {
                bail!("aborted after {} failed requests", p.failed);
            }
        }
        Ok(())
    }
    .await;
    p.wall = t0.elapsed();
    p.outcome = outcome;
    p
}

impl Pipelined {
    fn on_frame(&mut self, b: &[u8], prefix: &str, sent_at: &mut [Option<Instant>]) -> Result<()> {
        let h: Head = parse(b)?;
        if h.kind != "res" {
            return Ok(());
        }
        let Some(at) =
            h.id.as_deref()
                .and_then(|id| id.strip_prefix(prefix))
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|idx| sent_at.get_mut(idx))
                .and_then(Option::take)
        else {
            return Ok(());
        };
        if h.ok == Some(true) {
            self.ok += 1;
            self.lat.push(at.elapsed());
        } else {
            self.failed += 1;
            self.first_error
                .get_or_insert(h.error.unwrap_or(Value::Null));
        }
        Ok(())
    }
}

// ===================================================================== operator and fake node

/// The bench's client info: `id`/`mode` and an optional display name.
fn client_info(id: &str, mode: &str, display_name: Option<&str>) -> ClientInfo {
    ClientInfo {
        id: id.into(),
        display_name: display_name.map(str::to_owned),
        version: "bench".into(),
        platform: "linux".into(),
        mode: mode.into(),
        ..ClientInfo::default()
    }
}

/// `connect` params for an operator with `scopes`.
pub fn operator_params(scopes: &[&str]) -> Value {
    let mut p = ConnectParams::new(client_info("cli", "cli", None), "operator");
    p.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    p.auth.token = Some(TOKEN.into());
    p.to_value(None).unwrap_or_default()
}

/// All operator scopes (pairing approval needs them).
pub const OPERATOR_ALL: &[&str] = &[
    "operator.read",
    "operator.write",
    "operator.pairing",
    "operator.admin",
];

pub fn random_key() -> DeviceKey {
    openclaw::client::identity::random_key().expect("OS random number generator")
}

/// Signed `connect` params for a bench node named `display_name` offering `commands`.
pub fn node_params(
    key: &DeviceKey,
    nonce: &str,
    display_name: &str,
    commands: &[&str],
) -> Result<Value> {
    let mut p = ConnectParams::new(client_info("node-host", "node", Some(display_name)), "node");
    p.caps = vec!["system".into()];
    p.commands = commands.iter().map(|s| (*s).to_owned()).collect();
    p.auth.token = Some(TOKEN.into());
    p.to_value(Some((key, nonce, openclaw::actors::util::now_ms())))
        .map_err(|e| anyhow!("bench node params: {e}"))
}

/// Approves the pending surface request of `node_id` (`node.pair.list`, `node.pair.approve`).
pub async fn approve_node(op: &mut Conn, node_id: &str) -> Result<()> {
    let list = op.request("l", "node.pair.list", json!({})).await?;
    let request_id = list["pending"]
        .as_array()
        .and_then(|p| p.iter().find(|r| r["nodeId"] == node_id))
        .and_then(|r| r["requestId"].as_str())
        .ok_or_else(|| anyhow!("no pending surface request for the node: {list}"))?
        .to_owned();
    op.request("a", "node.pair.approve", json!({"requestId": request_id}))
        .await?;
    Ok(())
}

/// A fake node's loop: `answer(frame)` returns the frame to send back, if any (acks, ticks and
/// pairing events get `None`). Adds the time from reading a frame to having sent the answer to
/// `spent`. Ends with the socket or after `max_frames` frames; returns how many were answered.
pub async fn serve_node(
    mut conn: Conn,
    max_frames: usize,
    spent: Rc<Cell<Duration>>,
    mut answer: impl FnMut(&[u8]) -> Option<String>,
) -> Result<usize> {
    let mut answered = 0usize;
    for _ in 0..max_frames {
        let Ok(item) = timeout(NODE_IDLE, conn.ws.next()).await else {
            bail!("node idle for {NODE_IDLE:?}");
        };
        let b = match conn.text_or_control(item).await {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(_) => return Ok(answered),
        };
        let t0 = Instant::now();
        let Some(frame) = answer(&b) else { continue };
        conn.send_text(frame).await?;
        answered += 1;
        spent.set(spent.get() + t0.elapsed());
    }
    Ok(answered)
}

// ===================================================================== stats

/// Linear-interpolated percentile (same as openclaw-ref bench.py's `pct`), `xs` sorted
/// ascending.
pub fn pct(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let k = (xs.len() - 1) as f64 * p / 100.0;
    let lo = k.floor() as usize;
    let hi = (lo + 1).min(xs.len() - 1);
    xs[lo] + (xs[hi] - xs[lo]) * (k - lo as f64)
}

/// The durations in milliseconds, sorted ascending.
pub fn sorted_ms(ds: &[Duration]) -> Vec<f64> {
    let mut v: Vec<f64> = ds.iter().map(|&d| ms(d)).collect();
    v.sort_by(f64::total_cmp);
    v
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, …).
pub fn proc_status_kb(pid: u32, key: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("{key} not found in {path}"))
}

/// The resident set of process `pid`, in kB.
pub fn rss_kb(pid: u32) -> Result<u64> {
    proc_status_kb(pid, "VmRSS")
}
