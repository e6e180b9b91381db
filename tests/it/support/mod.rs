//! Test support: start the real `openclaw` binary on an ephemeral loopback port, talk to it
//! over real WebSockets (awc), run CLI commands with bounded timeouts, and load the golden
//! frames copied from the reference captures.
//!
//! Every child process gets its own temporary directory as `HOME` and `OPENCLAW_STATE_DIR`
//! and an otherwise empty environment (only `PATH` is kept), so no user configuration leaks
//! in. Gateways are killed when their [`TestGateway`] is dropped.

#![allow(dead_code)]

pub mod disk;
pub mod fake_node;
pub mod fake_openai;
pub mod fake_telegram;
pub mod proxy;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::rt::time::timeout;
use awc::ws::{self, Frame, Message};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

/// Default bound for "this should happen promptly" waits.
pub const WAIT: Duration = Duration::from_secs(10);

/// Default bound for a CLI command against a local gateway.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Golden frames copied from the reference captures (see the file's `_source`).
pub fn golden() -> Value {
    serde_json::from_str(include_str!("../../fixtures/golden/handshake-errors.json"))
        .expect("tests/fixtures/golden/handshake-errors.json is valid JSON")
}

/// One golden scenario.
pub fn golden_case(name: &str) -> Value {
    let g = golden();
    let case = g.get(name).cloned();
    case.unwrap_or_else(|| panic!("golden scenario {name:?} missing from the fixture"))
}

/// Retries an I/O probe until it returns `Some`, for at most `limit`; panics naming `what`
/// otherwise. There is no sleep between attempts: `f` must itself block on I/O (each call is
/// a round trip to the gateway), which paces the loop.
pub fn retry_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
    }
}

/// OpenClaw's gateway lock file of state dir `dir` (on its real path, as OpenClaw's CLI
/// resolves it).
pub fn owner_lock_path(dir: &Path) -> PathBuf {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").expect("/proc/self").uid();
    std::fs::canonicalize(dir)
        .expect("state dir")
        .join("tmp")
        .join(format!("openclaw-{uid}"))
        .join("gateway.state.lock")
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A command with an isolated environment: only `PATH` survives; `HOME` and
/// `OPENCLAW_STATE_DIR` point at `home`.
pub fn isolated_command(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("OPENCLAW_STATE_DIR", home)
        .stdin(Stdio::null());
    cmd
}

/// Reads a pipe to the end on a thread, appending to a shared buffer and forwarding lines.
/// The returned receiver disconnects when the pipe is closed.
fn drain<R: std::io::Read + Send + 'static>(
    pipe: R,
    buf: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) -> mpsc::Receiver<()> {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _done = done_tx;
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Ok(mut b) = buf.lock() {
                        b.push_str(&line);
                    }
                    if let Some(tx) = &lines {
                        let _ = tx.send(line.clone());
                    }
                }
            }
        }
    });
    done_rx
}

/// Waits (bounded) until a [`drain`] thread has seen the end of its pipe.
fn drained(done: &mpsc::Receiver<()>, limit: Duration) {
    let _ = done.recv_timeout(limit);
}

/// A spawned child reaped by a waiter thread, so exits are awaited on a channel instead of
/// polled.
pub struct Proc {
    pid: u32,
    exited: mpsc::Receiver<ExitStatus>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` (stdout and stderr piped) and returns it with its pipes.
    fn spawn(mut cmd: Command) -> (Self, ChildStdout, ChildStderr) {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let out = child.stdout.take().expect("stdout is piped");
        let err = child.stderr.take().expect("stderr is piped");
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        (
            Self {
                pid,
                exited: rx,
                status: None,
            },
            out,
            err,
        )
    }

    /// The exit status, waiting at most `limit`.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.exited.recv_timeout(limit).ok();
        }
        self.status
    }

    /// The exit status if the process has already exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.exited.try_recv().ok();
        }
        self.status
    }

    /// Sends a signal with `kill -<sig>`.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {} failed", self.pid);
    }

    /// Kills the process (if still running) and reaps it.
    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            // The waiter thread has not reaped it, so the pid is still ours.
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = self.wait_timeout(Duration::from_secs(10));
        }
    }
}

/// A running `openclaw gateway run` child process.
pub struct TestGateway {
    proc: Proc,
    /// The port parsed from `listening on ws://127.0.0.1:PORT`.
    pub port: u16,
    /// Its `HOME` / `OPENCLAW_STATE_DIR`.
    pub dir: tempfile::TempDir,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl TestGateway {
    /// Starts `openclaw <args…>` with `env` on top of the isolated environment, and
    /// `config_json5` (if any) written to `$OPENCLAW_STATE_DIR/openclaw.json`. Waits (bounded)
    /// for the `listening on ws://127.0.0.1:PORT` line.
    pub fn start(args: &[&str], env: &[(&str, &str)], config_json5: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("create gateway tempdir");
        Self::start_in(dir, args, env, config_json5)
    }

    /// Like [`Self::start`], but in an existing state directory (a restart keeps its state).
    pub fn start_in(
        dir: tempfile::TempDir,
        args: &[&str],
        env: &[(&str, &str)],
        config_json5: Option<&str>,
    ) -> Self {
        if let Some(cfg) = config_json5 {
            std::fs::write(dir.path().join("openclaw.json"), cfg).expect("write gateway config");
        }
        let mut cmd = isolated_command(BIN, dir.path());
        cmd.args(args).envs(env.iter().copied());
        let (proc, out, err) = Proc::spawn(cmd);
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        drain(out, stdout.clone(), Some(tx));
        let err_done = drain(err, stderr.clone(), None);
        let mut gw = Self {
            proc,
            port: 0,
            dir,
            stdout,
            stderr,
        };
        let limit = Duration::from_secs(20);
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let l = line.trim();
                    if let Some(rest) = l
                        .strip_prefix("listening on ws://127.0.0.1:")
                        .or_else(|| l.strip_prefix("listening on wss://127.0.0.1:"))
                    {
                        gw.port = rest
                            .parse()
                            .unwrap_or_else(|_| panic!("cannot parse the port in {line:?}"));
                        return gw;
                    }
                }
                Err(e) => {
                    // Disconnected: stdout closed (the process exited); Timeout: it hangs.
                    let status = gw.proc.wait_timeout(Duration::from_secs(2));
                    drained(&err_done, Duration::from_secs(2));
                    panic!(
                        "gateway did not print `listening on ws://127.0.0.1:PORT` ({e}; exit: {status:?})\nstdout:\n{}\nstderr:\n{}",
                        gw.stdout(),
                        gw.stderr()
                    );
                }
            }
        }
    }

    /// `gateway run --port 0 --token <token>` with default config.
    pub fn with_token(token: &str) -> Self {
        Self::start(
            &["gateway", "run", "--port", "0", "--token", token],
            &[],
            None,
        )
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Everything the gateway printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Everything the gateway printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// OpenClaw's gateway lock file in this gateway's state dir
    /// (`<state>/tmp/openclaw-<uid>/gateway.state.lock`).
    pub fn owner_lock_path(&self) -> PathBuf {
        owner_lock_path(self.dir.path())
    }

    /// Takes the state directory out of a stopped gateway (for a restart on the same state),
    /// leaving an empty temporary one in its place.
    pub fn take_dir(&mut self) -> tempfile::TempDir {
        let fresh = tempfile::tempdir().expect("create placeholder tempdir");
        std::mem::replace(&mut self.dir, fresh)
    }

    /// Sends `sig` (via `kill -<sig>`).
    pub fn signal(&self, sig: &str) {
        self.proc.signal(sig);
    }

    /// Sends SIGTERM (via `kill -TERM`).
    pub fn sigterm(&self) {
        self.proc.signal("TERM");
    }

    /// Waits (bounded) for the process to exit; panics if it does not.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        match self.proc.wait_timeout(limit) {
            Some(s) => s,
            None => panic!(
                "gateway did not exit within {limit:?}\nstderr:\n{}",
                self.stderr()
            ),
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.proc.kill();
    }
}

// === CLI ===

/// What a finished command printed.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl CliOutput {
    /// Stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for CliOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion within `limit` (killed and reported otherwise).
pub fn run_bounded(cmd: Command, limit: Duration) -> CliOutput {
    let desc = format!("{cmd:?}");
    let (mut proc, out, err) = Proc::spawn(cmd);
    let out_buf = Arc::new(Mutex::new(String::new()));
    let err_buf = Arc::new(Mutex::new(String::new()));
    let out_done = drain(out, out_buf.clone(), None);
    let err_done = drain(err, err_buf.clone(), None);
    let status = proc.wait_timeout(limit);
    if status.is_none() {
        proc.kill();
    }
    // The pipes close when the process exits (unless a grandchild keeps them open).
    drained(&out_done, Duration::from_secs(5));
    drained(&err_done, Duration::from_secs(5));
    let output = CliOutput {
        code: status.and_then(|s| s.code()),
        stdout: out_buf.lock().map(|s| s.clone()).unwrap_or_default(),
        stderr: err_buf.lock().map(|s| s.clone()).unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "command {desc} did not finish within {limit:?}\n{output}"
    );
    output
}

/// An isolated home for running `openclaw` CLI commands.
pub struct CliHome {
    /// `HOME` and `OPENCLAW_STATE_DIR`.
    pub dir: tempfile::TempDir,
}

impl CliHome {
    /// A fresh empty home.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create CLI tempdir"),
        }
    }

    /// A home whose `$OPENCLAW_STATE_DIR/openclaw.json` is `config_json5`.
    pub fn with_config(config_json5: &str) -> Self {
        let home = Self::new();
        std::fs::write(home.config_path(), config_json5).expect("write CLI config");
        home
    }

    /// `$OPENCLAW_STATE_DIR/openclaw.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("openclaw.json")
    }

    /// Writes another file into the home and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write file into CLI home");
        p
    }

    /// `openclaw gateway call <method> --url <url> --token <token> --json [extra…]`.
    pub fn call(&self, url: &str, token: &str, method: &str, extra: &[&str]) -> CliOutput {
        let mut args = vec![
            "gateway", "call", method, "--url", url, "--token", token, "--json",
        ];
        args.extend_from_slice(extra);
        self.run(&args, &[])
    }

    /// Runs `openclaw <args…>` with `env`.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
        let mut cmd = isolated_command(BIN, self.dir.path());
        cmd.args(args).envs(env.iter().copied());
        run_bounded(cmd, CLI_TIMEOUT)
    }
}

// === raw HTTP upgrade (to see refused upgrades' status and body) ===

/// The response to a raw upgrade request.
#[derive(Debug)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Header block (lower-cased names kept as sent).
    pub headers: String,
    /// Body (empty for 101).
    pub body: String,
}

/// Sends a WebSocket upgrade request by hand and reads the response (blocking, bounded).
pub fn raw_upgrade(port: u16, extra_headers: &[(&str, &str)]) -> RawResponse {
    raw_upgrade_keep(port, extra_headers).1
}

/// [`raw_upgrade`], also handing back the socket (to see whether the gateway closes it).
pub fn raw_upgrade_keep(port: u16, extra_headers: &[(&str, &str)]) -> (TcpStream, RawResponse) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("TCP connect to the gateway");
    s.set_read_timeout(Some(WAIT))
        .expect("set read timeout on raw socket");
    let mut req = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .expect("write raw upgrade request");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).expect("read raw upgrade response");
        assert!(n > 0, "connection closed before the response headers");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let content_length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    if status != 101 {
        while body.len() < content_length {
            let n = s.read(&mut chunk).expect("read raw upgrade body");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let r = RawResponse {
        status,
        headers: head,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    (s, r)
}

// === WebSocket client ===

/// What arrived next on a socket.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A text frame, parsed.
    Json(Value),
    /// A text frame that is not JSON.
    Text(String),
    /// A close frame.
    Close {
        /// Close code (`None` when the frame carried none).
        code: Option<u16>,
        /// Close reason.
        reason: String,
    },
    /// The stream ended without a close frame.
    Eof,
}

type Framed = actix_codec::Framed<awc::BoxedSocket, ws::Codec>;

/// A small protocol-v4 test client over awc.
pub struct WsClient {
    framed: Framed,
    next_id: u64,
    /// Frames that arrived while waiting for something else (events, mostly).
    pub backlog: Vec<Value>,
}

/// Builds `connect` params for an operator.
pub fn connect_params(client_id: &str, mode: &str, scopes: &[&str], auth: Value) -> Value {
    let mut p = json!({
        "minProtocol": 4,
        "maxProtocol": 4,
        "client": {"id": client_id, "version": "0.0.1-it", "platform": "linux", "mode": mode},
        "role": "operator",
        "scopes": scopes,
        "caps": [],
    });
    if !auth.is_null() {
        p["auth"] = auth;
    }
    p
}

/// `cli`/`cli` operator with a token and these scopes.
pub fn cli_params(token: &str, scopes: &[&str]) -> Value {
    connect_params("cli", "cli", scopes, json!({"token": token}))
}

impl WsClient {
    /// Opens a socket to `ws://127.0.0.1:port/`.
    pub async fn open(port: u16) -> Self {
        Self::open_with(port, &[])
            .await
            .unwrap_or_else(|e| panic!("WebSocket upgrade to port {port} failed: {e}"))
    }

    /// Opens a socket with extra request headers; `Err` describes a refused upgrade.
    pub async fn open_with(port: u16, headers: &[(&str, &str)]) -> Result<Self, String> {
        let client = awc::Client::builder()
            .timeout(WAIT)
            .max_http_version(awc::http::Version::HTTP_11)
            .finish();
        let mut req = client
            .ws(format!("ws://127.0.0.1:{port}/"))
            .max_frame_size(32 * 1024 * 1024);
        for (k, v) in headers {
            req = req.set_header(*k, *v);
        }
        let (_resp, framed) = req.connect().await.map_err(|e| e.to_string())?;
        Ok(Self {
            framed,
            next_id: 0,
            backlog: Vec::new(),
        })
    }

    /// Opens a socket and reads the `connect.challenge` event.
    pub async fn open_challenged(port: u16) -> (Self, Value) {
        let mut c = Self::open(port).await;
        let ch = c.challenge().await;
        (c, ch)
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.framed
            .send(Message::Text(text.into()))
            .await
            .expect("send a text frame");
    }

    /// Sends a JSON value as a text frame.
    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(v.to_string()).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, data: Vec<u8>) {
        self.framed
            .send(Message::Binary(data.into()))
            .await
            .expect("send a binary frame");
    }

    /// Sends a close frame (1000).
    pub async fn close(&mut self) {
        let _ = self
            .framed
            .send(Message::Close(Some(ws::CloseCode::Normal.into())))
            .await;
    }

    /// The next frame (pings/pongs skipped), waiting at most `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Incoming {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let item = timeout(left, self.framed.next())
                .await
                .unwrap_or_else(|_| panic!("no frame from the gateway within {limit:?}"));
            return match item {
                None => Incoming::Eof,
                Some(Err(e)) => {
                    // A reset after the close is as good as the end of the stream.
                    eprintln!("websocket read error: {e}");
                    Incoming::Eof
                }
                Some(Ok(Frame::Text(b))) => match serde_json::from_slice::<Value>(&b) {
                    Ok(v) => Incoming::Json(v),
                    Err(_) => Incoming::Text(String::from_utf8_lossy(&b).into_owned()),
                },
                Some(Ok(Frame::Close(reason))) => Incoming::Close {
                    code: reason.as_ref().map(|r| u16::from(r.code)),
                    reason: reason.and_then(|r| r.description).unwrap_or_default(),
                },
                Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
                Some(Ok(other)) => panic!("unexpected frame from the gateway: {other:?}"),
            };
        }
    }

    /// The next frame, without a deadline (for use inside a `select!` that has its own).
    pub async fn recv(&mut self) -> Incoming {
        loop {
            return match self.framed.next().await {
                None | Some(Err(_)) => Incoming::Eof,
                Some(Ok(Frame::Text(b))) => match serde_json::from_slice::<Value>(&b) {
                    Ok(v) => Incoming::Json(v),
                    Err(_) => Incoming::Text(String::from_utf8_lossy(&b).into_owned()),
                },
                Some(Ok(Frame::Close(reason))) => Incoming::Close {
                    code: reason.as_ref().map(|r| u16::from(r.code)),
                    reason: reason.and_then(|r| r.description).unwrap_or_default(),
                },
                Some(Ok(Frame::Ping(b))) => {
                    let _ = self.framed.send(Message::Pong(b)).await;
                    continue;
                }
                Some(Ok(_)) => continue,
            };
        }
    }

    /// The next frame within [`WAIT`].
    pub async fn next(&mut self) -> Incoming {
        self.next_within(WAIT).await
    }

    /// The next frame, which must be a JSON text frame.
    pub async fn next_json(&mut self) -> Value {
        match self.next().await {
            Incoming::Json(v) => v,
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }

    /// Reads the `connect.challenge` event (must be the first frame).
    pub async fn challenge(&mut self) -> Value {
        let ev = self.next_json().await;
        assert_eq!(ev["type"], "event", "first frame: {ev}");
        assert_eq!(ev["event"], "connect.challenge", "first frame: {ev}");
        ev
    }

    /// Reads until the close frame; returns it and the JSON frames that came before it.
    pub async fn until_close(&mut self) -> (Option<u16>, String, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            match self.next().await {
                Incoming::Json(v) => before.push(v),
                Incoming::Text(t) => panic!("non-JSON text frame before close: {t:?}"),
                Incoming::Close { code, reason } => return (code, reason, before),
                Incoming::Eof => panic!("stream ended without a close frame (after {before:?})"),
            }
        }
    }

    /// A fresh request id.
    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("it-{}", self.next_id)
    }

    /// Sends a request and returns its id.
    pub async fn send_request(&mut self, method: &str, params: Value) -> String {
        let id = self.next_id();
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.send_json(&frame).await;
        id
    }

    /// The `res` frame with `id` if it already arrived (while another response was awaited).
    fn take_backlogged(&mut self, id: &str) -> Option<Value> {
        let at = self
            .backlog
            .iter()
            .position(|v| v["type"] == "res" && v["id"] == id)?;
        Some(self.backlog.remove(at))
    }

    /// Waits for the `res` frame with `id`; other frames go to [`Self::backlog`].
    pub async fn response(&mut self, id: &str) -> Value {
        if let Some(v) = self.take_backlogged(id) {
            return v;
        }
        loop {
            match self.next().await {
                Incoming::Json(v) if v["type"] == "res" && v["id"] == id => return v,
                Incoming::Json(v) => self.backlog.push(v),
                other => panic!("expected res {id}, got {other:?}"),
            }
        }
    }

    /// Waits at most `limit` for the `res` frame with `id`; other frames go to the backlog.
    pub async fn response_within(&mut self, id: &str, limit: Duration) -> Value {
        if let Some(v) = self.take_backlogged(id) {
            return v;
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no response to {id} within {limit:?}");
            match self.next_within(left).await {
                Incoming::Json(v) if v["type"] == "res" && v["id"] == id => return v,
                Incoming::Json(v) => self.backlog.push(v),
                other => panic!("expected res {id}, got {other:?}"),
            }
        }
    }

    /// Sends a request and waits for its response frame.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params).await;
        self.response(&id).await
    }

    /// Sends `connect` with `params` and returns the response frame.
    pub async fn connect(&mut self, params: Value) -> Value {
        self.request("connect", params).await
    }

    /// Opens a socket, reads the challenge and completes a successful handshake; returns the
    /// client and the `hello-ok` payload.
    pub async fn hello(port: u16, params: Value) -> (Self, Value) {
        let (mut c, _) = Self::open_challenged(port).await;
        let res = c.connect(params).await;
        assert_eq!(res["ok"], true, "connect failed: {res}");
        assert_eq!(res["payload"]["type"], "hello-ok", "{res}");
        (c, res["payload"].clone())
    }

    /// Waits for the next event named `name` (from the backlog first), within `limit`.
    pub async fn event_within(&mut self, name: &str, limit: Duration) -> Value {
        if let Some(i) = self
            .backlog
            .iter()
            .position(|v| v["type"] == "event" && v["event"] == name)
        {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {name:?} event within {limit:?}");
            match self.next_within(left).await {
                Incoming::Json(v) if v["type"] == "event" && v["event"] == name => return v,
                Incoming::Json(v) => self.backlog.push(v),
                other => panic!("waiting for event {name:?}, got {other:?}"),
            }
        }
    }

    /// `chat.send`s `message` to `session` (idempotency key `key`) and waits (15 s) for the
    /// run's `final` `chat` event; returns its payload.
    pub async fn chat_until_final(&mut self, session: &str, message: &str, key: &str) -> Value {
        let res = self
            .request(
                "chat.send",
                serde_json::json!({"sessionKey": session, "message": message, "idempotencyKey": key}),
            )
            .await;
        assert_eq!(res["ok"], true, "{res}");
        loop {
            let e = self.event_within("chat", Duration::from_secs(15)).await;
            if e["payload"]["state"] == "final" {
                return e["payload"].clone();
            }
        }
    }
}

/// The `error` object of a failed `res` frame (asserting it failed).
pub fn error_of(res: &Value) -> &Value {
    assert_eq!(res["type"], "res", "not a response: {res}");
    assert_eq!(res["ok"], false, "expected a failed response: {res}");
    &res["error"]
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

// === long-running helper processes ===

/// A long-running child in its own process group (a node host, say), killed with its whole
/// group on drop. Its stdout and stderr are collected.
pub struct Background {
    proc: Proc,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl Background {
    /// Spawns `cmd` as the leader of a new process group.
    pub fn spawn(cmd: Command) -> Self {
        Self::start(cmd, None)
    }

    /// Like [`Self::spawn`], and each line of its stdout is also sent on the receiver.
    pub fn spawn_lines(cmd: Command) -> (Self, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel();
        (Self::start(cmd, Some(tx)), rx)
    }

    fn start(mut cmd: Command, lines: Option<mpsc::Sender<String>>) -> Self {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
        let (proc, out, err) = Proc::spawn(cmd);
        let out_buf = Arc::new(Mutex::new(String::new()));
        let err_buf = Arc::new(Mutex::new(String::new()));
        drain(out, out_buf.clone(), lines);
        drain(err, err_buf.clone(), None);
        Self {
            proc,
            out: out_buf,
            err: err_buf,
        }
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        self.out.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Its output so far (stdout, then stderr), for diagnostics.
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.out.lock().map(|s| s.clone()).unwrap_or_default(),
            self.err.lock().map(|s| s.clone()).unwrap_or_default()
        )
    }

    /// The exit status if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.proc.try_status()
    }

    /// Kills the whole process group and reaps the leader. (A process group id is not
    /// reused while any member lives, so this only reaches what we started.)
    pub fn kill_group(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.proc.pid)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.proc.wait_timeout(Duration::from_secs(10));
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.kill_group();
    }
}

// === operations (config reload, probes, metrics, logs) ===

impl TestGateway {
    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.proc.pid
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.proc.try_status().is_none()
    }

    /// Waits (bounded) for a stderr line containing every one of `needles`; returns it.
    pub fn wait_stderr_line(&self, needles: &[&str], limit: Duration) -> String {
        retry_until(limit, &format!("a stderr line with {needles:?}"), || {
            self.stderr()
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_owned)
        })
    }

    /// Waits (bounded) for a `listening on ws://127.0.0.1:PORT` line whose port is not
    /// `old`; returns the port.
    pub fn wait_new_port(&self, old: u16, limit: Duration) -> u16 {
        retry_until(limit, "a new `listening on` line", || {
            self.stdout().lines().find_map(|l| {
                let p: u16 = l
                    .trim()
                    .strip_prefix("listening on ws://127.0.0.1:")?
                    .parse()
                    .ok()?;
                (p != old).then_some(p)
            })
        })
    }

    /// `$OPENCLAW_STATE_DIR/openclaw.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("openclaw.json")
    }

    /// Sends SIGHUP.
    pub fn signal_hup(&self) {
        self.proc.signal("HUP");
    }
}

/// Replaces `path` the way editors do: a temp file beside it, then a rename over it.
pub fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("json.swp");
    std::fs::write(&tmp, text).expect("write the temp file");
    std::fs::rename(&tmp, path).expect("rename over the config file");
}

/// A free loopback port (bound and released; the gateway binds it right after).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Invokes `system.which sh` on `node_id` until it answers a path (the node may still be
/// connecting or reconnecting), within 60 s, while `host` runs.
pub async fn which_until_ok(op: &mut WsClient, node_id: &str, host: &mut Background, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    loop {
        n += 1;
        let res = op
            .request(
                "node.invoke",
                json!({"nodeId": node_id, "command": "system.which", "params": {"bins": ["sh"]},
                    "timeoutMs": 15000, "idempotencyKey": format!("{key}-{n}")}),
            )
            .await;
        if res["ok"] == true {
            assert!(
                res["payload"]["payload"]["bins"]["sh"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/sh")),
                "{res}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no system.which on {node_id}: {res}\nnode host:\n{}",
            host.output()
        );
        assert!(
            host.try_status().is_none(),
            "node host exited:\n{}",
            host.output()
        );
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One plain HTTP/1.1 request (`Connection: close`), read to the end: (status, headers,
/// body).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    http_exchange(port, method, path, headers, b"")
}

/// As [`http_request`], with a body (its `Content-Length` is added).
pub fn http_exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("TCP connect to the gateway");
    s.set_read_timeout(Some(WAIT)).expect("set read timeout");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write request");
    // A large body may be answered (413) before it is all written: that is not an error.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read response");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    // Chunked bodies: keep only the chunk data.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_owned()
    };
    (status, head.to_owned(), body)
}

/// One final, masked client WebSocket frame (`opcode`, `payload`) as raw bytes, for tests
/// that write to the socket themselves.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let n = payload.len();
    let mut f = Vec::with_capacity(n + 14);
    f.push(0x80 | opcode);
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if let Ok(short) = u16::try_from(n) {
        f.push(0x80 | 126);
        f.extend_from_slice(&short.to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// `sessions.create {key, label}` as `op`, which must succeed.
pub async fn create_session(op: &mut WsClient, key: &str, label: &str) {
    let res = op
        .request("sessions.create", json!({"key": key, "label": label}))
        .await;
    assert_eq!(res["ok"], true, "sessions.create {key}: {res}");
}
