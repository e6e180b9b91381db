//! `--profile NAME` / `--dev` (state and config under `~/.openclaw-NAME`) and one gateway
//! per state dir (`gateway.lock`, released when the process dies, even by SIGKILL).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::remote::LineChild;
use crate::support::{BIN, CliHome, TestGateway, run_bounded};

/// `openclaw <args>` with `HOME=home` and no `OPENCLAW_STATE_DIR`, so the profile decides.
fn in_home(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = crate::support::isolated_command(BIN, home);
    cmd.env_remove("OPENCLAW_STATE_DIR")
        .args(args)
        .envs(env.iter().copied());
    cmd
}

fn listening_port(gw: &LineChild) -> u16 {
    let line = gw.wait_line(
        "listening on ws://127.0.0.1:PORT",
        Duration::from_secs(30),
        |l| l.starts_with("listening on ws://127.0.0.1:"),
    );
    line.trim_start_matches("listening on ws://127.0.0.1:")
        .parse()
        .unwrap_or_else(|_| panic!("port in {line:?}"))
}

#[test]
fn two_profiles_run_side_by_side_with_separate_state() {
    let home = tempfile::tempdir().expect("home");
    for (name, token) in [("a", "TA"), ("b", "TB")] {
        let dir = home.path().join(format!(".openclaw-{name}"));
        std::fs::create_dir_all(&dir).expect("profile dir");
        std::fs::write(
            dir.join("openclaw.json"),
            format!(r#"{{gateway: {{auth: {{token: "{token}"}}}}}}"#),
        )
        .expect("profile config");
    }
    let gw_a = LineChild::spawn(in_home(
        home.path(),
        &["--profile", "a", "gateway", "run", "--port", "0"],
        &[],
    ));
    let gw_b = LineChild::spawn(in_home(
        home.path(),
        &["gateway", "run", "--port", "0", "--profile", "b"],
        &[],
    ));
    let (pa, pb) = (listening_port(&gw_a), listening_port(&gw_b));
    assert_ne!(pa, pb);
    // Each holds the lock of its own state dir.
    for name in ["a", "b"] {
        let lock = home.path().join(format!(".openclaw-{name}/gateway.lock"));
        assert!(lock.exists(), "{}", lock.display());
    }
    assert!(
        !home.path().join(".openclaw").exists(),
        "the default state dir is untouched"
    );

    // Each profile's CLI uses its own config (token) and state dir.
    for (name, port, token, other) in [("a", pa, "TA", "TB"), ("b", pb, "TB", "TA")] {
        let port_s = port.to_string();
        let env = [("OPENCLAW_GATEWAY_PORT", port_s.as_str())];
        let out = run_bounded(
            in_home(
                home.path(),
                &["--profile", name, "gateway", "status", "--json"],
                &env,
            ),
            Duration::from_secs(30),
        );
        assert_eq!(out.code, Some(0), "{out}");
        let v = out.json();
        let dir = home.path().join(format!(".openclaw-{name}"));
        assert_eq!(v["stateDir"], dir.display().to_string(), "{out}");
        assert_eq!(
            v["config"]["path"],
            dir.join("openclaw.json").display().to_string(),
            "{out}"
        );
        assert_eq!(v["probe"]["status"]["gateway"]["port"], port, "{out}");
        // The other profile's token does not open this one.
        let url = format!("ws://127.0.0.1:{port}");
        let bad = CliHome::new().call(&url, other, "health", &[]);
        assert_eq!(bad.code, Some(1), "{bad}");
        let good = CliHome::new().call(&url, token, "health", &[]);
        assert_eq!(good.code, Some(0), "{good}");
    }

    // --dev: ~/.openclaw-dev and port 19001 (only resolved here; no gateway on a fixed port).
    let dev = run_bounded(
        in_home(
            home.path(),
            &["--dev", "gateway", "status", "--no-probe", "--json"],
            &[],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(dev.code, Some(0), "{dev}");
    let v = dev.json();
    assert_eq!(
        v["stateDir"],
        home.path().join(".openclaw-dev").display().to_string(),
        "{dev}"
    );
    assert_eq!(v["config"]["port"], 19001, "{dev}");
    assert_eq!(v["target"]["url"], "ws://127.0.0.1:19001", "{dev}");
    // An explicit OPENCLAW_GATEWAY_PORT still wins over --dev's default.
    let dev5 = run_bounded(
        in_home(
            home.path(),
            &["--dev", "gateway", "status", "--no-probe", "--json"],
            &[("OPENCLAW_GATEWAY_PORT", "5")],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(dev5.json()["config"]["port"], 5, "{dev5}");

    // Bad profile names are refused before anything touches the disk.
    let bad = run_bounded(
        in_home(
            home.path(),
            &["--profile", "../etc", "gateway", "status"],
            &[],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(bad.code, Some(1), "{bad}");
    assert!(
        bad.stderr.contains("invalid profile name \"../etc\""),
        "{bad}"
    );
    drop((gw_a, gw_b));
}

/// A second gateway on a state dir in use is refused (even on another port); the lock goes
/// away with the process, also when it is killed.
#[test]
fn second_gateway_on_one_state_dir_is_refused_and_the_lock_dies_with_the_first() {
    let mut first = TestGateway::with_token("T");
    let state = first.dir.path().to_str().expect("utf-8").to_owned();
    let cli = CliHome::new();
    let second = cli.run(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[("OPENCLAW_STATE_DIR", state.as_str())],
    );
    assert_eq!(second.code, Some(1), "{second}");
    assert!(
        second.stderr.contains(&format!(
            "another gateway is already running with state dir {state} (it holds {state}/gateway.lock). Fix: stop it, or give this one its own OPENCLAW_STATE_DIR and port"
        )),
        "{second}"
    );
    assert!(!second.stdout.contains("listening on"), "{second}");
    // The first still serves.
    assert_eq!(cli.call(&first.url(), "T", "health", &[]).code, Some(0));

    // SIGKILL (a crash): the kernel drops the lock; a new gateway takes the state dir.
    let dir = first.take_dir();
    drop(first);
    let again = TestGateway::start_in(
        dir,
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        None,
    );
    assert_eq!(cli.call(&again.url(), "T", "health", &[]).code, Some(0));
}
