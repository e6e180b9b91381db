//! Remote-mode CLI semantics (`gateway.mode: "remote"`, `gateway.remote.*`), the plaintext
//! rule, the real OpenClaw CLI pinning our TLS gateway, and [`LineChild`], a long-running
//! child whose output lines can be awaited (used by the ssh, profile and docker tests).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{CliHome, TestGateway};

/// A long-running child (in its own process group) whose stdout and stderr lines arrive on a
/// channel, so tests wait for a line instead of sleeping. Dropping it sends SIGTERM to the
/// child, waits (bounded) and then kills the whole group.
pub struct LineChild {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Arc<Mutex<String>>,
}

impl LineChild {
    /// Spawns `cmd` with stdout and stderr piped.
    pub fn spawn(mut cmd: Command) -> Self {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let (tx, rx) = mpsc::channel();
        let seen = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("stdout piped");
        let err = child.stderr.take().expect("stderr piped");
        for pipe in [
            Box::new(out) as Box<dyn std::io::Read + Send>,
            Box::new(err) as Box<dyn std::io::Read + Send>,
        ] {
            let (tx, seen) = (tx.clone(), seen.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut s) = seen.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                    let _ = tx.send(line);
                }
            });
        }
        Self {
            child,
            lines: rx,
            seen,
        }
    }

    /// Waits (bounded) for a line matching `pred` and returns it; panics with all output.
    pub fn wait_line(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return l,
                Ok(_) => {}
                Err(e) => panic!(
                    "no line {what} within {limit:?} ({e}); output:\n{}",
                    self.output()
                ),
            }
        }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        self.signal(rustix::process::Signal::TERM);
        self.wait(limit)
    }

    /// Waits (bounded) for the exit status; panics with the output otherwise.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "process did not exit within {limit:?}; output:\n{}",
                self.output()
            );
            // The output threads end when the child closes its pipes; a line or the end of
            // the output is the next event worth looking at.
            let _ = self
                .lines
                .recv_timeout(left.min(Duration::from_millis(100)));
        }
    }

    fn signal(&self, sig: rustix::process::Signal) {
        if let Some(pid) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.lines.recv_timeout(Duration::from_millis(100));
            }
        }
        if let Some(pid) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.wait();
    }
}

/// The real OpenClaw CLI from `scripts/setup-openclaw-ref.sh`, isolated and offline-guarded
/// like the one in `interop.rs`.
struct RealCli {
    node_bin: std::path::PathBuf,
    oc_bin: std::path::PathBuf,
    home: tempfile::TempDir,
}

impl RealCli {
    fn locate() -> Self {
        let dir = std::env::var_os("OPENCLAW_REF_DIR")
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(&std::env::var_os("HOME").expect("HOME"))
                    .join(".cache/openclaw-rs/openclaw-ref")
            });
        let node_bin = dir.join("node24/node_modules/.bin");
        let oc_bin = dir.join("oc/node_modules/.bin");
        assert!(
            node_bin.join("node").exists() && oc_bin.join("openclaw").exists(),
            "the reference OpenClaw CLI is not installed in {}. Run scripts/setup-openclaw-ref.sh and rerun this test.",
            dir.display()
        );
        Self {
            node_bin,
            oc_bin,
            home: tempfile::tempdir().expect("real CLI home"),
        }
    }

    fn run(&self, args: &[&str]) -> crate::support::CliOutput {
        let guard = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/offline-guard.cjs");
        let mut path = std::ffi::OsString::from(&self.node_bin);
        path.push(":");
        path.push(&self.oc_bin);
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        let mut cmd =
            crate::support::isolated_command(self.oc_bin.join("openclaw"), self.home.path());
        cmd.args(args)
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env("OPENCLAW_NO_AUTO_UPDATE", "1")
            .env("DO_NOT_TRACK", "1")
            .env("OPENCLAW_DISABLE_BONJOUR", "1")
            .env("OPENCLAW_CLAWHUB_URL", "http://127.0.0.1:9")
            .env("NODE_OPTIONS", format!("--require {}", guard.display()))
            .env(
                "OFFLINE_GUARD_LOG",
                self.home.path().join("offline-guard.log"),
            );
        crate::support::run_bounded(cmd, Duration::from_secs(60))
    }

    fn guard_log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("offline-guard.log")).unwrap_or_default()
    }
}

/// `gateway.remote.token` is only what the CLI sends: it never enables, replaces or adds to
/// the local gateway's auth, whatever `gateway.mode` says for the CLI.
#[test]
fn remote_token_never_enables_or_changes_local_auth() {
    // 1. No local auth configured: the gateway generates its own token; the remote token
    //    is not accepted.
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {remote: {url: "wss://gw.example", token: "REMOTE", password: "RPW"}}}"#),
    );
    let cli = CliHome::new();
    let out = cli.call(&gw.url(), "REMOTE", "health", &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(
        out.json()["error"]["details"]["code"],
        "AUTH_TOKEN_MISMATCH",
        "{out}"
    );
    let generated = std::fs::read_to_string(gw.dir.path().join("gateway/runtime-token"))
        .expect("a generated runtime token, not the remote one");
    assert_ne!(generated.trim(), "REMOTE");
    let ok = cli.call(&gw.url(), generated.trim(), "health", &[]);
    assert_eq!(ok.code, Some(0), "{ok}");
    drop(gw);

    // 2. Local token A and remote token R: only A opens the local gateway.
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "A"}, remote: {token: "R"}}}"#),
    );
    let bad = cli.call(&gw.url(), "R", "health", &[]);
    assert_eq!(bad.code, Some(1), "{bad}");
    assert_eq!(
        bad.json()["error"]["details"]["code"],
        "AUTH_TOKEN_MISMATCH",
        "{bad}"
    );
    assert_eq!(cli.call(&gw.url(), "A", "health", &[]).code, Some(0));
    drop(gw);

    // 3. auth mode "none" stays none on loopback even with a remote password configured.
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {mode: "none"}, remote: {password: "RPW", token: "R"}}}"#),
    );
    let open = cli.run(
        &["gateway", "call", "health", "--url", &gw.url(), "--json"],
        &[],
    );
    assert_eq!(open.code, Some(0), "{open}");
    // 4. And a non-loopback bind is still refused without a local secret: a remote token
    //    does not count as one.
    let home = CliHome::with_config(r#"{gateway: {bind: "lan", remote: {token: "R"}}}"#);
    let refused = home.run(&["gateway", "run", "--port", "0"], &[]);
    assert_eq!(refused.code, Some(78), "{refused}");
    assert!(refused.stderr.contains("without auth"), "{refused}");
}

/// `gateway.mode: "remote"` with `gateway.remote.url|token|tlsFingerprint`: the CLI reaches
/// the remote (here: a TLS gateway on loopback) with the remote credentials and pin.
#[test]
fn remote_mode_uses_remote_url_token_and_pin() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "GW"}, tls: {enabled: true}}}"#),
    );
    let fp = crate::tls::fingerprint(&gw);
    let cfg = format!(
        r#"{{gateway: {{mode: "remote", auth: {{token: "LOCAL"}}, remote: {{url: "wss://127.0.0.1:{}", token: "GW", tlsFingerprint: "{fp}", transport: "direct"}}}}}}"#,
        gw.port
    );
    let cli = CliHome::with_config(&cfg);
    let out = cli.run(&["gateway", "call", "health", "--json"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["gateway"]["port"], gw.port, "{out}");
    let st = cli.run(&["gateway", "status", "--json"], &[]);
    assert_eq!(st.code, Some(0), "{st}");
    let v = st.json();
    assert_eq!(v["target"]["urlSource"], "gateway.remote.url", "{st}");
    assert_eq!(v["config"]["mode"], "remote", "{st}");
    // This host refuses to run a gateway in remote mode, naming the remote.
    let run = cli.run(&["gateway", "run", "--port", "0"], &[]);
    assert_eq!(run.code, Some(78), "{run}");
    assert!(run.stderr.contains("gateway.mode is \"remote\""), "{run}");
    // A wrong pin in the config is refused naming the presented certificate.
    let wrong = CliHome::with_config(&cfg.replace(&fp, &"0".repeat(64)));
    let bad = wrong.run(&["gateway", "call", "health"], &[]);
    assert_eq!(bad.code, Some(1), "{bad}");
    assert!(
        bad.stderr
            .contains(&format!("the gateway presented sha256 {fp} (spki sha256/")),
        "{bad}"
    );
}

/// Plaintext ws:// to a public address is refused before any connection, with OpenClaw's
/// message; the break-glass env admits host names but never public IP literals.
#[test]
fn plaintext_ws_to_a_public_address_is_refused() {
    let cli = CliHome::new();
    let out = cli.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            "ws://203.0.113.7:18789",
            "--token",
            "T",
        ],
        &[],
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.starts_with(
            "Error: SECURITY ERROR: Cannot connect to \"203.0.113.7\" over plaintext ws://. Both credentials and chat data would be exposed to network interception."
        ),
        "{out}"
    );
    assert!(
        out.stderr.contains(
            "Break-glass (trusted private networks only): set OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1."
        ),
        "{out}"
    );
    let glass = cli.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            "ws://203.0.113.7:18789",
            "--token",
            "T",
        ],
        &[("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS", "1")],
    );
    assert_eq!(glass.code, Some(1), "{glass}");
    assert!(glass.stderr.contains("SECURITY ERROR"), "{glass}");
    assert!(!glass.stderr.contains("Break-glass"), "{glass}");
    // Private and tailnet addresses are fine in plaintext (refused here only because
    // nothing listens: the error is a connection error, not the security error).
    let lan = cli.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            "ws://127.0.0.1:9",
            "--token",
            "T",
        ],
        &[],
    );
    assert_eq!(lan.code, Some(1), "{lan}");
    assert!(!lan.stderr.contains("SECURITY ERROR"), "{lan}");
    // A TLS pin with ws:// is a configuration error.
    let pin_ws = cli.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            "ws://127.0.0.1:9",
            "--tls-fingerprint",
            &"a".repeat(64),
        ],
        &[],
    );
    assert_eq!(pin_ws.code, Some(1), "{pin_ws}");
    assert!(
        pin_ws
            .stderr
            .contains("gateway tls fingerprint requires wss:// gateway url"),
        "{pin_ws}"
    );
}

/// The real OpenClaw CLI, configured with `gateway.mode: "remote"`,
/// `gateway.remote.url: wss://…` and `gateway.remote.tlsFingerprint`, talks to our TLS
/// gateway; with a wrong fingerprint it refuses.
#[test]
fn real_openclaw_cli_pins_our_tls_gateway() {
    let real = RealCli::locate();
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, tls: {enabled: true}}}"#),
    );
    let fp = crate::tls::fingerprint(&gw);
    let write_cfg = |fp: &str| {
        let cfg = serde_json::json!({"gateway": {"mode": "remote", "remote": {
            "url": format!("wss://127.0.0.1:{}", gw.port), "token": "T", "tlsFingerprint": fp}}});
        std::fs::write(
            real.home.path().join("openclaw.json"),
            serde_json::to_string_pretty(&cfg).expect("json"),
        )
        .expect("write real CLI config");
    };
    write_cfg(&fp);
    let out = real.run(&["gateway", "call", "health", "--json"]);
    assert_eq!(
        out.code,
        Some(0),
        "{out}\noffline-guard log:\n{}",
        real.guard_log()
    );
    let v = out.json();
    assert_eq!(v["ok"], true, "{out}");
    assert_eq!(v["gateway"]["port"], gw.port, "our gateway answered: {out}");
    // Colon-separated upper-case form, as browsers show it, works too.
    let colons: Vec<String> = fp
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    write_cfg(&colons.join(":"));
    let out = real.run(&["gateway", "call", "health", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    // A wrong fingerprint: the real CLI refuses the connection.
    write_cfg(&"ab".repeat(32));
    let bad = real.run(&["gateway", "call", "health", "--json"]);
    assert_ne!(bad.code, Some(0), "{bad}");
    assert!(
        format!("{bad}").contains("fingerprint"),
        "the real CLI names the pin: {bad}"
    );
}
