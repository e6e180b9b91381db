//! `--profile NAME` / `--dev` (state and config under `~/.openclaw-NAME`) and one gateway
//! per state dir (`gateway.lock`, released when the process dies, even by SIGKILL).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::remote::LineChild;
use serde_json::{Value, json};

use crate::support::{BIN, CliHome, TestGateway, process_start_time, run_bounded};

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

/// OpenClaw's lock file (`<state>/tmp/openclaw-<uid>/gateway.state.lock`): written with
/// this gateway's pid, port and start time (mode 0600), removed on a clean stop; a lock
/// naming a live OpenClaw process refuses the start, a lock left by a dead one does not.
#[test]
fn the_openclaw_lock_file_names_this_gateway_and_a_live_foreign_owner_refuses_the_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut gw = TestGateway::with_token("T");
    let lock = gw.owner_lock_path();
    let read = |p: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(p).expect("lock file")).expect("JSON")
    };
    let v = read(&lock);
    assert_eq!(v["pid"], gw.pid(), "{v}");
    assert_eq!(v["port"], gw.port, "{v}");
    assert_eq!(v["startTime"], json!(process_start_time(gw.pid())), "{v}");
    let state = std::fs::canonicalize(gw.dir.path()).expect("state dir");
    assert_eq!(v["stateDir"], state.to_str().expect("utf-8"), "{v}");
    assert_eq!(
        v["configPath"],
        state.join("openclaw.json").to_str().expect("utf-8"),
        "{v}"
    );
    assert!(v.get("role").is_none(), "a gateway's lock has no role: {v}");
    assert!(v["ownerId"].as_str().is_some_and(|o| o.len() == 36), "{v}");
    assert_eq!(v["cronOwnerProjection"], "dynamic-default-v1", "{v}");
    let mode = std::fs::metadata(&lock).expect("lock").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    // A clean stop removes it.
    gw.sigterm();
    assert!(gw.wait_exit(Duration::from_secs(10)).success());
    assert!(!lock.exists(), "removed on a clean stop");

    // A live OpenClaw process's lock (here: a process whose pid and start time it names)
    // refuses the start, naming the owner and the fix; nothing is listened on.
    let dir = gw.take_dir();
    let state_str = dir.path().to_str().expect("utf-8").to_owned();
    let mut owner = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("spawn sleep");
    let foreign = json!({
        "pid": owner.id(),
        "createdAt": "2026-12-05T00:00:00.000Z",
        "configPath": "/elsewhere/openclaw.json",
        "port": 18789,
        "startTime": process_start_time(owner.id()),
    });
    std::fs::create_dir_all(lock.parent().expect("lock dir")).expect("lock dir");
    std::fs::write(&lock, foreign.to_string()).expect("write foreign lock");
    let cli = CliHome::new();
    let refused = cli.run(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[("OPENCLAW_STATE_DIR", state_str.as_str())],
    );
    assert_eq!(refused.code, Some(1), "{refused}");
    assert!(
        refused.stderr.contains(&format!(
            "an OpenClaw gateway (pid {}, port 18789) owns state dir {state_str}",
            owner.id()
        )) && refused.stderr.contains("Fix: stop it first"),
        "{refused}"
    );
    assert!(!refused.stdout.contains("listening on"), "{refused}");
    assert_eq!(read(&lock), foreign, "the owner's lock is left as it was");
    // The CLI's embedded agent writing the state dir is named as such.
    let embedded = json!({
        "pid": owner.id(), "createdAt": "2026-12-05T00:00:00.000Z",
        "configPath": "/x", "role": "agent-embedded",
        "startTime": process_start_time(owner.id()),
    });
    std::fs::write(&lock, embedded.to_string()).expect("write embedded lock");
    let refused = cli.run(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[("OPENCLAW_STATE_DIR", state_str.as_str())],
    );
    assert_eq!(refused.code, Some(1), "{refused}");
    assert!(
        refused
            .stderr
            .contains("an OpenClaw agent running without a gateway (pid"),
        "{refused}"
    );

    // The same pid with another start time is a reused pid, not the owner; a dead pid is
    // no owner either: both starts go ahead and take the lock.
    let reused = json!({
        "pid": owner.id(), "createdAt": "2026-12-05T00:00:00.000Z", "configPath": "/x",
        "startTime": process_start_time(owner.id()).map(|t| t + 1),
    });
    std::fs::write(&lock, reused.to_string()).expect("write reused-pid lock");
    let _ = owner.kill();
    let _ = owner.wait();
    let mut again = TestGateway::start_in(
        dir,
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        None,
    );
    assert_eq!(read(&lock)["pid"], again.pid());
    assert_eq!(read(&lock)["port"], again.port);
    // SIGKILL leaves the lock behind, naming a dead process: the next start replaces it.
    again.signal("KILL");
    let _ = again.wait_exit(Duration::from_secs(10));
    assert_eq!(
        read(&lock)["pid"],
        again.pid(),
        "a killed gateway leaves its lock"
    );
    let dir = again.take_dir();
    let third = TestGateway::start_in(
        dir,
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        None,
    );
    assert_eq!(read(&third.owner_lock_path())["pid"], third.pid());
}
