//! Interop with the real OpenClaw CLI (`openclaw@2026.9.6` on Node 24), installed by
//! `scripts/setup-openclaw-ref.sh` into `$OPENCLAW_REF_DIR` (default
//! `$HOME/.cache/openclaw-rs/openclaw-ref`). A missing install fails the test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{CliOutput, TestGateway, isolated_command, run_bounded};

/// Bound for one real-CLI invocation (it normally takes 1–3 s).
const REAL_CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// The reference install, from the real environment of the test process.
fn ref_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OPENCLAW_REF_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").expect("HOME is set for the test process");
    Path::new(&home).join(".cache/openclaw-rs/openclaw-ref")
}

struct RealCli {
    node_bin: PathBuf,
    oc_bin: PathBuf,
    home: tempfile::TempDir,
}

impl RealCli {
    fn locate() -> Self {
        let dir = ref_dir();
        let node_bin = dir.join("node24/node_modules/.bin");
        let oc_bin = dir.join("oc/node_modules/.bin");
        let missing: Vec<String> = [node_bin.join("node"), oc_bin.join("openclaw")]
            .iter()
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "the reference OpenClaw CLI is not installed (missing: {}). Run scripts/setup-openclaw-ref.sh \
             (or set OPENCLAW_REF_DIR to an existing install) and rerun this test.",
            missing.join(", ")
        );
        Self {
            node_bin,
            oc_bin,
            home: tempfile::tempdir().expect("create real-CLI tempdir"),
        }
    }

    fn run(&self, args: &[&str]) -> CliOutput {
        let guard = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/offline-guard.cjs");
        let mut path = std::ffi::OsString::from(&self.node_bin);
        path.push(":");
        path.push(&self.oc_bin);
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        let mut cmd = isolated_command(self.oc_bin.join("openclaw"), self.home.path());
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
        run_bounded(cmd, REAL_CLI_TIMEOUT)
    }

    /// The offline guard's log of blocked non-loopback lookups, for diagnostics.
    fn guard_log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("offline-guard.log")).unwrap_or_default()
    }
}

#[test]
fn real_openclaw_cli_calls_health_on_our_gateway() {
    let cli = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let url = gw.url();

    let out = cli.run(&[
        "gateway", "call", "health", "--url", &url, "--token", "T", "--json",
    ]);
    assert_eq!(
        out.code,
        Some(0),
        "{out}\noffline-guard log:\n{}",
        cli.guard_log()
    );
    let v = out.json();
    assert_eq!(v["ok"], true, "{out}");
    // Only our gateway reports this port: the payload is ours.
    assert_eq!(v["gateway"]["port"], gw.port, "{out}");

    let out = cli.run(&[
        "gateway", "call", "health", "--url", &url, "--token", "WRONG", "--json",
    ]);
    assert_eq!(out.code, Some(1), "{out}");
    let v = out.json();
    assert_eq!(v["ok"], false, "{out}");
    assert_eq!(
        v["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH",
        "{out}"
    );
}
