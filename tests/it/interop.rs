//! Interop with the real OpenClaw CLI (`openclaw@2026.9.6` on Node 24), installed by
//! `scripts/setup-openclaw-ref.sh` into `$OPENCLAW_REF_DIR` (default
//! `$HOME/.cache/openclaw-rs/openclaw-ref`). A missing install fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use actix_web::rt::time::timeout;
use serde_json::{Value, json};

use crate::nodes::ALL_OPERATOR;
use crate::support::{
    Background, CliOutput, Incoming, TestGateway, WsClient, cli_params, isolated_command,
    run_bounded,
};

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
        run_bounded(self.command(args), REAL_CLI_TIMEOUT)
    }

    /// `openclaw <args…>` from the reference install, isolated and offline-guarded.
    fn command(&self, args: &[&str]) -> Command {
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
        cmd
    }

    /// `openclaw <args…>` sharing a gateway's state dir and its config file
    /// (`<state>/openclaw.json`), as on the gateway's host (it finds the gateway by the lock
    /// file), with `token` in the environment.
    fn on_host(&self, state: &Path, token: &str, args: &[&str]) -> CliOutput {
        let mut cmd = self.command(args);
        cmd.env("OPENCLAW_STATE_DIR", state)
            .env("OPENCLAW_CONFIG_PATH", state.join("openclaw.json"))
            .env("OPENCLAW_GATEWAY_TOKEN", token);
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

    // What the apps call at connect, through the real CLI: the wake words (set, then
    // read back normalized) and the gateway's identity.
    let call = |method: &str, params: &str| {
        let out = cli.run(&[
            "gateway", "call", method, "--params", params, "--url", &url, "--token", "T", "--json",
        ]);
        assert_eq!(out.code, Some(0), "{method}: {out}");
        out.json()
    };
    let want = serde_json::json!(["hey claw"]);
    let v = call("voicewake.set", r#"{"triggers":["  hey claw ",""]}"#);
    assert_eq!(v["triggers"], want, "{v}");
    let v = call("voicewake.get", "{}");
    assert_eq!(v["triggers"], want, "{v}");
    let v = call("gateway.identity.get", "{}");
    assert_eq!(v["deviceId"].as_str().map(str::len), Some(64), "{v}");
}

/// `openclaw health` (the real CLI's own rendering) shows our agents, their heartbeat and
/// our session stores (the gateway's, not the CLI host's).
#[actix_web::test]
async fn real_openclaw_cli_health_shows_our_agents_and_session_stores() {
    let cli = RealCli::locate();
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(
            r#"{ agents: { entries: { home: { default: true }, work: { name: "Work" } },
                 defaults: { heartbeat: { every: "45m" } } } }"#,
        ),
    );
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let res = op
        .request("sessions.reset", json!({"key": "agent:work:main"}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let url = gw.url();
    let mut cmd = cli.command(&["health", "--verbose"]);
    cmd.env("OPENCLAW_GATEWAY_URL", &url)
        .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out}\n{}", cli.guard_log());
    // `openclaw health` asks for `operator.read` only: the stores are named relative to the
    // state directory, whose location `hello-ok` also shows to admins only.
    for want in [
        "Agents: home (default), work",
        "Heartbeat interval: 45m (home), disabled (work)",
        "Session store (home): agents/home/sessions/sessions.json (0 entries)",
        "Session store (work): agents/work/sessions/sessions.json (1 entries)",
        "- agent:work:main (0m ago)",
    ] {
        assert!(out.stdout.contains(want), "{want:?} not in:\n{out}");
    }
    let state = gw.dir.path().display().to_string();
    assert!(!out.stdout.contains(&state), "{out}");
}

/// Waits (bounded) for an event named `name` on `op`, failing early if `host` exits.
pub async fn wait_event_or_exit(
    op: &mut WsClient,
    name: &str,
    host: &mut Background,
    limit: Duration,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        assert!(
            Instant::now() < deadline,
            "no {name:?} event within {limit:?}\nnode host output:\n{}",
            host.output()
        );
        if let Some(status) = host.try_status() {
            panic!(
                "node host exited ({status}) before {name:?}:\n{}",
                host.output()
            );
        }
        // Wake up every second to check on the node host.
        match timeout(Duration::from_secs(1), op.recv()).await {
            Err(_) => {}
            Ok(Incoming::Json(v)) if v["type"] == "event" && v["event"] == name => return v,
            Ok(Incoming::Json(_)) => {}
            Ok(other) => panic!("operator socket ended: {other:?}"),
        }
    }
}

#[actix_web::test]
async fn real_openclaw_node_host_pairs_and_runs_system_which() {
    let cli = RealCli::locate();
    let host_env = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let url = gw.url();
    let port = gw.port.to_string();
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;

    let mut cmd = host_env.command(&[
        "node",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--no-tls",
        "--display-name",
        "it-real-node",
    ]);
    cmd.env("OPENCLAW_GATEWAY_TOKEN", "T");
    let mut host = Background::spawn(cmd);

    // The node host connects with token T and a device; its surface waits for approval.
    let ev = wait_event_or_exit(
        &mut op,
        "node.pair.requested",
        &mut host,
        Duration::from_secs(60),
    )
    .await;
    let node_id = ev["payload"]["nodeId"]
        .as_str()
        .unwrap_or_else(|| panic!("node.pair.requested carries nodeId: {ev}"))
        .to_owned();
    let request_id = ev["payload"]["requestId"]
        .as_str()
        .expect("node.pair.requested carries requestId")
        .to_owned();
    let commands = ev["payload"]["commands"].clone();
    assert!(
        commands
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x == "system.which")),
        "the real node host declares system.which: {ev}"
    );
    let list = op.request("node.list", json!({})).await;
    let node = list["payload"]["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["nodeId"] == node_id.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("node {node_id} not listed: {list}"));
    assert_eq!(node["connected"], true, "{node}");
    assert_eq!(node["approvalState"], "pending-approval", "{node}");
    assert_eq!(node["displayName"], "it-real-node", "{node}");

    // Approve with the real CLI.
    let out = cli.run(&[
        "nodes",
        "approve",
        &request_id,
        "--url",
        &url,
        "--token",
        "T",
    ]);
    assert_eq!(
        out.code,
        Some(0),
        "{out}\noffline-guard log:\n{}",
        cli.guard_log()
    );
    let res = op
        .request(
            "node.invoke",
            json!({
                "nodeId": node_id,
                "command": "system.which",
                "params": {"bins": ["sh"]},
                "timeoutMs": 15000,
                "idempotencyKey": "it-real-which",
            }),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}\nnode host:\n{}", host.output());
    let sh = res["payload"]["payload"]["bins"]["sh"]
        .as_str()
        .unwrap_or_else(|| panic!("system.which returns a path for sh: {res}"));
    assert!(sh.starts_with('/') && sh.ends_with("/sh"), "{res}");

    for what in ["nodes", "devices"] {
        let out = cli.run(&[what, "list", "--url", &url, "--token", "T"]);
        assert_eq!(out.code, Some(0), "{what} list: {out}");
        assert!(out.stdout.contains("it-real-node"), "{what} list: {out}");
        assert!(out.stdout.contains(&node_id), "{what} list: {out}");
    }

    // `nodes rename` (`node.rename`) names it; `nodes list` shows the new name.
    let out = cli.run(&[
        "nodes",
        "rename",
        "--node",
        &node_id,
        "--name",
        "Kitchen Pi",
        "--url",
        &url,
        "--token",
        "T",
    ]);
    assert_eq!(out.code, Some(0), "nodes rename: {out}");
    let out = cli.run(&["nodes", "list", "--json", "--url", &url, "--token", "T"]);
    assert_eq!(out.code, Some(0), "nodes list: {out}");
    let listed = out.json().to_string();
    assert!(
        listed.contains("Kitchen Pi"),
        "nodes list after rename: {out}"
    );

    // Its own exec approvals, through our gateway (`exec.approvals.node.*`): the real CLI's
    // `approvals get --node` and `approvals allowlist add --node`.
    let approvals = |args: &[&str]| {
        let mut all = vec!["approvals"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--node", &node_id, "--url", &url, "--token", "T", "--json"]);
        let out = cli.run(&all);
        assert_eq!(out.code, Some(0), "approvals {args:?}: {out}");
        out.json()
    };
    let before = approvals(&["get"]);
    let old_hash = before["hash"].as_str().unwrap_or_default().to_owned();
    assert!(!old_hash.is_empty(), "{before}");
    let after = approvals(&["allowlist", "add", "/usr/bin/uname"]);
    let list = &after["file"]["agents"]["*"]["allowlist"];
    assert_eq!(list[0]["pattern"], "/usr/bin/uname", "{after}");
    let again = approvals(&["get"]);
    assert_ne!(again["hash"], old_hash.as_str(), "{again}");
    assert_eq!(
        again["file"]["agents"]["*"]["allowlist"][0]["pattern"], "/usr/bin/uname",
        "{again}"
    );
    // A write against the old hash is refused by the node, and nothing changes.
    let res = op
        .request(
            "exec.approvals.node.set",
            json!({"nodeId": node_id, "file": {"version": 1}, "baseHash": old_hash}),
        )
        .await;
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(approvals(&["get"])["hash"], again["hash"]);

    host.kill_group();
    assert!(host.try_status().is_some(), "node host is gone");
}

/// A setup code from our CLI (`openclaw qr --node --url …`) enrolls the **real OpenClaw node
/// host** (`openclaw node run --pair <code>`) with no other credential and no approval step:
/// it is paired, its first command surface is approved, `system.which` runs at once; after a
/// restart it reconnects with the device token it saved; a second node host given the same
/// (used) code is refused with `AUTH_BOOTSTRAP_TOKEN_INVALID` and gives up.
#[actix_web::test]
async fn real_openclaw_node_host_pairs_with_our_setup_code() {
    let host_env = RealCli::locate();
    let second_env = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let port = gw.port.to_string();
    let url = format!("ws://127.0.0.1:{port}");
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;

    // Our CLI asks our gateway for a node setup code.
    let home = tempfile::tempdir().expect("CLI home");
    let mut qr = isolated_command(crate::support::BIN, home.path());
    qr.args(["qr", "--node", "--url", &url, "--json"])
        .env("OPENCLAW_GATEWAY_PORT", &port)
        .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let out = run_bounded(qr, REAL_CLI_TIMEOUT);
    assert_eq!(out.code, Some(0), "openclaw qr: {out}");
    let made = out.json();
    assert_eq!(made["access"], "node", "{out}");
    assert_eq!(made["gatewayUrl"], url.as_str(), "{out}");
    let code = made["setupCode"].as_str().expect("setupCode").to_owned();
    let setup_id = made["setupId"].as_str().expect("setupId").to_owned();

    // The real node host pairs with it, no token in its environment.
    let mut host = Background::spawn(host_env.command(&[
        "node",
        "run",
        "--pair",
        &code,
        "--display-name",
        "it-setup-code-node",
    ]));
    let ev = wait_event_or_exit(
        &mut op,
        "device.pair.setup.completed",
        &mut host,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(ev["payload"]["setupId"], setup_id.as_str(), "{ev}");
    assert_eq!(ev["payload"]["access"], "node", "{ev}");
    let node_id = ev["payload"]["deviceId"]
        .as_str()
        .expect("the completed setup names the device")
        .to_owned();
    // Its surface came approved with the enrollment: no approval step before the invoke.
    crate::support::which_until_ok(&mut op, &node_id, &mut host, "it-setup-which-1").await;
    let pending = op.request("node.pair.list", json!({})).await;
    assert_eq!(pending["payload"]["pending"], json!([]), "{pending}");

    // A second node host with the same code: refused, and it stops trying.
    let mut second = Background::spawn(second_env.command(&["node", "run", "--pair", &code]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while second.try_status().is_none() {
        assert!(
            Instant::now() < deadline,
            "the second node host keeps running:\n{}",
            second.output()
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        second.output().contains("AUTH_BOOTSTRAP_TOKEN_INVALID"),
        "{}",
        second.output()
    );

    // Restarted without the code (and without a token), it reconnects with its device token.
    host.kill_group();
    let mut host = Background::spawn(host_env.command(&[
        "node",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--no-tls",
    ]));
    crate::support::which_until_ok(&mut op, &node_id, &mut host, "it-setup-which-2").await;
    host.kill_group();
}

/// The real CLI's one-paste node onboarding against our gateway: `openclaw devices
/// join-code` (our `device.pair.setupCode {joinUrl: true}`, with the URL from
/// `plugins.entries.device-pair.config.publicUrl`) prints a join URL, and the real
/// `openclaw connect <join-url>` fetches it (our `GET /j/<shortcode>`), pairs as a node
/// host and runs `system.which`; the join URL then answers 404.
#[actix_web::test]
async fn real_cli_join_code_and_connect_onboard_a_node() {
    let cli = RealCli::locate();
    let node_env = RealCli::locate();
    let port = crate::support::free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let config = format!(
        r#"{{gateway: {{auth: {{token: "T"}}}}, plugins: {{entries: {{"device-pair": {{config: {{publicUrl: "{url}"}}}}}}}}}}"#
    );
    let gw = TestGateway::start(
        &["gateway", "run", "--port", &port.to_string()],
        &[],
        Some(&config),
    );
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let out = cli.run(&[
        "devices",
        "join-code",
        "--url",
        &url,
        "--token",
        "T",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "devices join-code: {out}");
    let join = out.json()["joinUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("joinUrl in {out}"))
        .to_owned();
    assert!(
        join.starts_with(&format!("http://127.0.0.1:{port}/j/")),
        "{join}"
    );
    let mut host =
        Background::spawn(node_env.command(&["connect", &join, "--display-name", "it-join-node"]));
    let ev = wait_event_or_exit(
        &mut op,
        "device.pair.setup.completed",
        &mut host,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(ev["payload"]["access"], "node", "{ev}");
    let node_id = ev["payload"]["deviceId"]
        .as_str()
        .expect("deviceId")
        .to_owned();
    crate::support::which_until_ok(&mut op, &node_id, &mut host, "it-join-which").await;
    // `openclaw devices rename` (device.pair.rename): the label shows in `devices list`.
    let conn = ["--url", url.as_str(), "--token", "T"];
    let mut args = vec![
        "devices",
        "rename",
        "--device",
        &node_id,
        "--name",
        "Garage node",
    ];
    args.extend_from_slice(&conn);
    let out = cli.run(&args);
    assert_eq!(out.code, Some(0), "devices rename: {out}");
    let mut args = vec!["devices", "list", "--json"];
    args.extend_from_slice(&conn);
    let out = cli.run(&args);
    assert_eq!(out.code, Some(0), "devices list: {out}");
    let listed = out.json()["paired"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|d| d["deviceId"] == node_id.as_str())
                .cloned()
        })
        .unwrap_or_else(|| panic!("the node in {out}"));
    assert_eq!(listed["operatorLabel"], "Garage node", "{out}");
    let path = join
        .strip_prefix(&format!("http://127.0.0.1:{port}"))
        .expect("path");
    let (status, _, _) = crate::support::http_request(gw.port, "GET", path, &[]);
    assert_eq!(status, 404, "the join URL was used up");
    host.kill_group();
}

/// The operator handshakes our gateway has completed, from its Prometheus text.
fn operator_handshakes(port: u16, token: &str) -> u64 {
    let (status, head, body) = crate::support::http_request(
        port,
        "GET",
        "/api/diagnostics/prometheus",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(status, 200, "{head}\n{body}");
    body.lines()
        .find_map(|l| l.strip_prefix("openclaw_handshakes_total{role=\"operator\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no operator handshake counter in:\n{body}"))
}

/// `openclaw skills list` and `hooks list` ask the gateway first (`skills.status`,
/// `hooks.status`), and the real CLI prints our reports: our managed skills directory and
/// no bundled skills; no hooks (this gateway runs none), with our managed hooks directory,
/// rather than the CLI's own machine's hooks. Before the gateway used OpenClaw's whole
/// method table it answered `missing scope: operator.admin` to the CLI's read-scoped calls,
/// and both commands failed.
#[test]
fn real_cli_skills_and_hooks_lists_read_ours() {
    let cli = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let before = operator_handshakes(gw.port, "T");
    for (args, key) in [
        (&["skills", "list", "--json"][..], "skills"),
        (&["hooks", "list", "--json"][..], "hooks"),
    ] {
        let mut cmd = cli.command(args);
        cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
            .env("OPENCLAW_GATEWAY_TOKEN", "T");
        let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
        assert_eq!(out.code, Some(0), "{args:?}: {out}");
        let v = out.json();
        assert!(v[key].is_array(), "{args:?}: {out}");
        if key == "skills" {
            assert_eq!(
                v["managedSkillsDir"],
                gw.dir.path().join("skills").display().to_string(),
                "{out}"
            );
            assert!(
                v["skills"]
                    .as_array()
                    .is_some_and(|a| a.iter().all(|s| s["bundled"] == false)),
                "{out}"
            );
        } else {
            assert_eq!(
                v["managedHooksDir"],
                gw.dir.path().join("hooks").display().to_string(),
                "{out}"
            );
            assert_eq!(v["hooks"], json!([]), "{out}");
        }
    }
    // Both asked our gateway (one operator handshake each).
    assert_eq!(operator_handshakes(gw.port, "T"), before + 2);
}

/// The real CLI and our gateway read the same config the same way: the agent's workspace
/// (`agents.defaults.workspace`) is the same directory for `openclaw agents list` and our
/// `agents.list`, and `openclaw skills list` (the real CLI rendering our `skills.status`)
/// shows the workspace's skill, a managed one, and one gated off by a missing program, as
/// our gateway judges them for the model's prompt.
#[actix_web::test]
async fn real_cli_and_our_gateway_agree_on_the_workspace_and_its_skills() {
    let cli = RealCli::locate();
    let ws = tempfile::tempdir().expect("workspace dir");
    let ws_dir = ws.path().join("assistant ✨");
    let cfg = format!(
        "{{agents: {{defaults: {{workspace: {}}}}}}}",
        serde_json::to_string(&ws_dir.display().to_string()).expect("json string")
    );
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(&cfg),
    );
    let config_path = gw.dir.path().join("openclaw.json");
    std::fs::create_dir_all(ws_dir.join("skills/tides")).expect("skill dir");
    std::fs::write(
        ws_dir.join("skills/tides/SKILL.md"),
        "---\nname: tides\ndescription: Tide tables for the harbour\n---\nRead the table.\n",
    )
    .expect("skill");
    let managed = gw.dir.path().join("skills");
    for (name, meta) in [
        ("charts", "{}"),
        (
            "radar",
            r#"{"openclaw": {"requires": {"bins": ["no-such-radar-program"]}}}"#,
        ),
    ] {
        std::fs::create_dir_all(managed.join(name)).expect("managed dir");
        std::fs::write(
            managed.join(name).join("SKILL.md"),
            format!("---\nname: {name}\ndescription: The {name} skill\nmetadata: {meta}\n---\n"),
        )
        .expect("managed skill");
    }

    let mut cmd = cli.command(&["agents", "list", "--json"]);
    cmd.env("OPENCLAW_CONFIG_PATH", &config_path);
    let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out}");
    let theirs = out.json();
    assert_eq!(theirs[0]["id"], "main", "{out}");
    assert_eq!(
        theirs[0]["workspace"],
        ws_dir.display().to_string(),
        "{out}"
    );

    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let ours = op.request("agents.list", json!({})).await;
    assert_eq!(
        ours["payload"]["agents"][0]["workspace"], theirs[0]["workspace"],
        "{ours}"
    );

    let mut cmd = cli.command(&["skills", "list", "--json"]);
    cmd.env("OPENCLAW_CONFIG_PATH", &config_path)
        .env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["workspaceDir"], ws_dir.display().to_string(), "{out}");
    let listed = |name: &str| {
        v["skills"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("the real CLI lists {name}: {out}"))
    };
    let tides = listed("tides");
    assert_eq!(tides["source"], "openclaw-workspace", "{tides}");
    assert_eq!(
        tides["description"], "Tide tables for the harbour",
        "{tides}"
    );
    assert_eq!(listed("charts")["source"], "openclaw-managed");
    let radar = listed("radar");
    assert_eq!(radar["eligible"], false, "{radar}");
    assert_eq!(radar["missing"]["bins"], json!(["no-such-radar-program"]));
    // The CLI's table (`skills list` without --json) renders our report too.
    let mut cmd = cli.command(&["skills", "list"]);
    cmd.env("OPENCLAW_CONFIG_PATH", &config_path)
        .env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out}");
    for name in ["tides", "charts", "radar", "openclaw-managed"] {
        assert!(out.stdout.contains(name), "{name}: {out}");
    }
}

/// `openclaw message send` (the real CLI) goes out through our Telegram channel: the CLI
/// calls `message.action` with `action:"send"`, the gateway delivers it to the Bot API
/// (a local fake), and the CLI prints the message id the Bot API gave.
#[test]
fn real_cli_message_send_goes_out_through_our_telegram_channel() {
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, start_gateway};

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let text = "from the real CLI: ünïcødé ✓";
    // `openclaw message send --channel telegram --target 6101 --message <rest…>`.
    let send = |rest: &[&str]| {
        let mut args = vec![
            "message",
            "send",
            "--channel",
            "telegram",
            "--target",
            "6101",
            "--message",
        ];
        args.extend_from_slice(rest);
        let mut cmd = cli.command(&args);
        cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
            .env("OPENCLAW_GATEWAY_TOKEN", GW_TOKEN);
        run_bounded(cmd, REAL_CLI_TIMEOUT)
    };
    let out = send(&[text, "--json"]);
    assert_eq!(
        out.code,
        Some(0),
        "{out}\noffline-guard log:\n{}",
        cli.guard_log()
    );
    let sent: Vec<_> = tg.sent().into_iter().filter(|s| s.text() == text).collect();
    assert_eq!(sent.len(), 1, "exactly one message reached the Bot API");
    assert_eq!(sent[0].chat_id(), Some(6101), "{:?}", sent[0].body);
    let id = sent[0].message_id;
    assert!(
        out.stdout.contains(&id.to_string()),
        "the CLI printed the Bot API's message id {id}:\n{out}"
    );

    // The human form names the channel and the id.
    let out = send(&["second"]);
    assert_eq!(out.code, Some(0), "{out}");
    let second: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.text() == "second")
        .collect();
    assert_eq!(second.len(), 1, "exactly one second message");
    let expected = format!("Message ID: {}", second[0].message_id);
    assert!(
        out.stdout.contains("Sent via") && out.stdout.contains(&expected),
        "the CLI says it was sent, with the id ({expected}):\n{out}"
    );

    // A public channel by its @username (OpenClaw's documented target form).
    tg.add_public_chat("news_room", -1_005_550_002);
    let mut cmd = cli.command(&[
        "message",
        "send",
        "--channel",
        "telegram",
        "--target",
        "@news_room",
        "--message",
        "to the channel",
    ]);
    cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", GW_TOKEN);
    let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out}");
    let posted: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.text() == "to the channel")
        .collect();
    assert_eq!(posted.len(), 1, "{out}");
    assert_eq!(
        posted[0].chat_id(),
        Some(-1_005_550_002),
        "{:?}",
        posted[0].body
    );

    // `--media <path>`: the CLI passes the path; the gateway reads it from the agent's
    // workspace (relative to it, or absolute inside it), never from elsewhere.
    let ws = gw.dir.path().join("workspace");
    std::fs::create_dir_all(&ws).expect("workspace");
    let pdf = b"%PDF-1.4\n% interop\n";
    std::fs::write(ws.join("interop.pdf"), pdf).expect("pdf");
    let out = send(&["with the file", "--media", "interop.pdf"]);
    assert_eq!(out.code, Some(0), "{out}");
    let doc = tg
        .sent()
        .into_iter()
        .find(|s| s.method == "sendDocument")
        .expect("the file was sent");
    assert_eq!(doc.caption(), Some("with the file"));
    assert_eq!(doc.file.as_ref().map(|f| f.data.as_slice()), Some(&pdf[..]));
    let out = send(&["no", "--media", "/etc/hostname"]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("agent's workspace"),
        "{out}"
    );
}

/// The real CLI's other Telegram message actions through our gateway (`message.action`):
/// `message send --presentation` sends an inline keyboard, `message poll` sends a `sendPoll`, `message edit` edits, `message react` reacts and
/// `--remove` takes the reaction away, `message pin`/`unpin` pin, `message delete` deletes; a gate
/// (`channels.telegram.actions.poll: false`) refuses by name; the CLI exits 0 for each.
#[test]
fn real_cli_message_actions_reach_telegram() {
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, start_gateway};

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let run = |args: &[&str]| {
        let mut cmd = cli.command(args);
        cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
            .env("OPENCLAW_GATEWAY_TOKEN", GW_TOKEN);
        run_bounded(cmd, REAL_CLI_TIMEOUT)
    };
    let base = ["--channel", "telegram", "--target", "6103"];
    let with = |action: &str, rest: &[&str]| {
        let mut v = vec!["message", action];
        v.extend_from_slice(&base);
        v.extend_from_slice(rest);
        run(&v)
    };
    let out = with(
        "poll",
        &[
            "--poll-question",
            "Ship it? 🚢",
            "--poll-option",
            "Yes",
            "--poll-option",
            "No",
            "--poll-duration-seconds",
            "300",
            "--poll-public",
            "--json",
        ],
    );
    assert_eq!(out.code, Some(0), "poll: {out}\n{}", cli.guard_log());
    let polls: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.method == "sendPoll")
        .collect();
    assert_eq!(polls.len(), 1, "one sendPoll");
    let body = &polls[0].body;
    assert_eq!(body["chat_id"], 6103, "{body}");
    assert_eq!(body["question"], "Ship it? 🚢", "{body}");
    assert_eq!(
        body["options"],
        json!([{"text": "Yes"}, {"text": "No"}]),
        "{body}"
    );
    assert_eq!(body["open_period"], 300, "{body}");
    assert_eq!(body["is_anonymous"], false, "--poll-public: {body}");
    assert!(
        out.stdout.contains(&polls[0].message_id.to_string()),
        "{out}"
    );

    // `send --silent --pin`: delivered without a sound, then pinned.
    let out = with("send", &["--message", "notice", "--silent", "--pin"]);
    assert_eq!(out.code, Some(0), "send --silent --pin: {out}");
    let notice = tg
        .sent()
        .into_iter()
        .find(|s| s.text() == "notice")
        .expect("the notice was sent");
    assert_eq!(
        notice.body["disable_notification"], true,
        "{:?}",
        notice.body
    );
    assert!(
        tg.pins().contains(&(6103, notice.message_id, true)),
        "{:?}",
        tg.pins()
    );
    // A message of the bot's to edit, react to and delete.
    let out = with("send", &["--message", "draft"]);
    assert_eq!(out.code, Some(0), "send: {out}");
    let draft = tg
        .sent()
        .into_iter()
        .find(|s| s.text() == "draft")
        .expect("draft");
    assert!(
        draft.body.get("disable_notification").is_none(),
        "not silent unless asked: {:?}",
        draft.body
    );
    let id = tg
        .sent()
        .into_iter()
        .find(|s| s.text() == "draft")
        .map(|s| s.message_id)
        .expect("the draft was sent")
        .to_string();
    let out = with("edit", &["--message-id", &id, "--message", "final text"]);
    assert_eq!(out.code, Some(0), "edit: {out}");
    assert!(
        tg.edits()
            .iter()
            .any(|e| e.text == "final text" && e.message_id.to_string() == id),
        "{:?}",
        tg.edits()
    );
    let out = with("react", &["--message-id", &id, "--emoji", "👍"]);
    assert_eq!(out.code, Some(0), "react: {out}");
    let out = with("react", &["--message-id", &id, "--remove"]);
    assert_eq!(out.code, Some(0), "react --remove: {out}");
    let reactions: Vec<_> = tg
        .reactions()
        .into_iter()
        .filter(|(c, m, _)| *c == 6103 && m.to_string() == id)
        .map(|(_, _, e)| e)
        .collect();
    assert_eq!(reactions, ["👍", ""], "added, then removed");
    let out = with("pin", &["--message-id", &id]);
    assert_eq!(out.code, Some(0), "pin: {out}");
    let out = with("unpin", &["--message-id", &id]);
    assert_eq!(out.code, Some(0), "unpin: {out}");
    let pins: Vec<_> = tg
        .pins()
        .into_iter()
        .filter(|(c, m, _)| *c == 6103 && m.to_string() == id)
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(pins, [true, false], "pinned, then unpinned");
    assert_eq!(
        tg.pins().len(),
        3,
        "the notice's pin, then the draft's pin and unpin"
    );
    let out = with("delete", &["--message-id", &id]);
    assert_eq!(out.code, Some(0), "delete: {out}");
    assert!(
        tg.deleted().iter().any(|d| d.message_id.to_string() == id),
        "{:?}",
        tg.deleted()
    );
    // `send --presentation` (OpenClaw's documented Telegram example): an inline keyboard.
    let out = with(
        "send",
        &[
            "--message",
            "Choose:",
            "--presentation",
            r#"{"blocks":[{"type":"buttons","buttons":[{"label":"Yes","value":"cmd:yes"},{"label":"No","value":"cmd:no"}]}]}"#,
        ],
    );
    assert_eq!(out.code, Some(0), "send --presentation: {out}");
    let choose = tg
        .sent()
        .into_iter()
        .find(|s| s.text() == "Choose:")
        .expect("the message with buttons was sent");
    assert_eq!(
        choose.body["reply_markup"],
        json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "cmd:yes"},
                                    {"text": "No", "callback_data": "cmd:no"}]]}),
        "{:?}",
        choose.body
    );
    // Telegram's limits are checked before the call.
    let out = with(
        "poll",
        &["--poll-question", "Only one?", "--poll-option", "A"],
    );
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("2-12 options"),
        "{out}"
    );
}

/// `openclaw agent --deliver` (the real CLI, as a host's cron script would run it): the
/// run's answer goes to the Telegram chat it names, and `--json` reports the delivery.
#[test]
fn real_cli_agent_deliver_sends_the_answer_to_telegram() {
    use crate::support::fake_openai::FakeOpenAi;
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, start_gateway};

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    ai.push_text("Backups: all 3 done ✓");
    let mut cmd = cli.command(&[
        "agent",
        "--agent",
        "main",
        "--message",
        "how did the backups go?",
        "--deliver",
        "--reply-channel",
        "telegram",
        "--reply-to",
        "6102",
        "--json",
    ]);
    cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", GW_TOKEN);
    let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(
        out.code,
        Some(0),
        "{out}\noffline-guard log:\n{}",
        cli.guard_log()
    );
    let sent: Vec<_> = tg
        .sent()
        .into_iter()
        .filter(|s| s.text() == "Backups: all 3 done ✓")
        .collect();
    assert_eq!(sent.len(), 1, "delivered once: {:?}", tg.sent());
    assert_eq!(sent[0].chat_id(), Some(6102));
    let start = out.stdout.find('{').unwrap_or(0);
    let v: Value = serde_json::from_str(out.stdout[start..].trim()).unwrap_or(Value::Null);
    let status = v
        .pointer("/deliveryStatus/status")
        .or_else(|| v.pointer("/result/deliveryStatus/status"));
    assert_eq!(status, Some(&json!("sent")), "{out}");
}

/// `actors/src/protocol/openclaw_methods.rs` is what `scripts/gen-method-scopes.mjs`
/// makes of the reference package's method table: not edited by hand, not stale.
#[test]
fn openclaw_method_table_matches_the_reference_package() {
    let cli = RealCli::locate();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-method-scopes.mjs");
    let pkg = cli
        .oc_bin
        .parent()
        .map(|modules| modules.join("openclaw"))
        .expect("node_modules/.bin has a parent");
    let mut cmd = Command::new(cli.node_bin.join("node"));
    cmd.arg(&script).arg("--check").arg(&pkg);
    let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("up to date with openclaw@"), "{out}");
}

/// Quotes `s` for `sh -c`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// OpenClaw's terminal UI (`openclaw tui`, run in a pseudo-terminal by `script`) against our
/// gateway: it subscribes to session events (`sessions.subscribe`, without which it stops at
/// "session event subscription failed"), sends its `--message` with `chat.send`, and shows
/// the agent's answer (a local fake model) as it arrives in `chat` events.
#[test]
fn real_openclaw_tui_chats_with_our_agent() {
    use std::io::Write as _;

    use crate::support::fake_openai::{FakeOpenAi, FakeReply};
    use crate::support::fake_telegram::FakeTelegram;
    use crate::support::retry_until;
    use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, start_gateway};

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.push(FakeReply::text("Reply-for-the-TUI-7f3"));
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));

    let url = gw.url();
    let args = [
        "tui",
        "--url",
        &url,
        "--token",
        GW_TOKEN,
        "--message",
        "hello from the real TUI",
    ];
    let base = cli.command(&args);
    let line = std::iter::once(base.get_program())
        .chain(base.get_args())
        .map(|a| sh_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("TERM", "xterm")
        .env("COLUMNS", "120")
        .env("LINES", "40")
        .args(["-qec", &line, "/dev/null"]);
    // What we type: `script` passes it to the TUI's terminal.
    let (keys_out, mut keys) = std::io::pipe().expect("a pipe for the TUI's input");
    cmd.stdin(keys_out);
    let (mut tui, lines) = Background::spawn_lines(cmd);
    // Waits (bounded) until the TUI's output after byte `from` shows `needle`; returns
    // where it ends.
    let wait_screen = |tui: &Background, from: usize, needle: &str| -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = tui.stdout();
            if let Some(i) = out.get(from..).and_then(|o| o.find(needle)) {
                return from + i + needle.len();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if lines.recv_timeout(left).is_err() && left.is_zero() {
                panic!(
                    "{needle:?} never reached the TUI's screen:\n{}",
                    tui.output()
                );
            }
        }
    };
    let requests = ai.wait_requests(1, Duration::from_secs(60));
    assert!(
        requests[0].to_string().contains("hello from the real TUI"),
        "{:?}\n{}",
        requests[0],
        tui.output()
    );
    // The answer is drawn on the screen, then the TUI is idle (keys typed while it is
    // busy are not read as a command).
    let at = wait_screen(&tui, 0, "Reply-for-the-TUI-7f3");
    let at = wait_screen(&tui, at, "connected | idle");

    // The TUI's own `/reset` (`sessions.reset`) and `/new` (`sessions.create`), typed.
    let index = gw.dir.path().join("agents/main/sessions/sessions.json");
    let session_id = |key: &str| -> Option<String> {
        let v: Value = serde_json::from_slice(&std::fs::read(&index).ok()?).ok()?;
        v[key]["sessionId"].as_str().map(str::to_owned)
    };
    let before = retry_until(
        Duration::from_secs(10),
        "the TUI's session in the index",
        || session_id("agent:main:main"),
    );
    keys.write_all(b"/reset\r").expect("type /reset");
    let at = wait_screen(&tui, at, "session agent:main:main reset");
    let at = wait_screen(&tui, at, "connected | idle");
    let after = session_id("agent:main:main").expect("still indexed");
    assert_ne!(before, after, "the reset gave the session a new transcript");
    keys.write_all(b"/new\r").expect("type /new");
    wait_screen(&tui, at, "new session: agent:main:tui-");
    let out = tui.stdout();
    let key = out
        .split("new session: ")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
                .collect::<String>()
        })
        .expect("the new key");
    assert!(
        session_id(&key).is_some(),
        "{key} is in the session index:\n{out}"
    );
    let out = tui.output();
    assert!(
        !out.contains("session event subscription failed")
            && !out.contains("startup failed")
            && !out.contains("agents list failed")
            && !out.contains("refresh failed")
            && !out.contains("description failed")
            && !out.contains("reset failed")
            && !out.contains("new session failed"),
        "{out}"
    );
    assert!(
        tui.try_status().is_none(),
        "the TUI is still running:\n{out}"
    );
    tui.kill_group();
}

/// `openclaw sessions delete KEY --yes --json` (the real CLI: `sessions.list` to find the
/// session, then `sessions.delete` with its id): the chat's session leaves the index and
/// its transcript is archived where the CLI says.
#[test]
fn real_cli_sessions_delete_archives_a_chat_session() {
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, dm, start_gateway};

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    dm(&tg, 6301, "keep this line");
    tg.wait_sent(1, Duration::from_secs(15));
    let key = "agent:main:telegram:direct:6301";
    let index = gw.dir.path().join("agents/main/sessions/sessions.json");
    let read_index = || -> Value {
        serde_json::from_slice(&std::fs::read(&index).expect("sessions.json")).expect("json")
    };
    let session_id = read_index()[key]["sessionId"]
        .as_str()
        .expect("the chat's session")
        .to_owned();

    let mut cmd = cli.command(&["sessions", "delete", key, "--yes", "--json"]);
    cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", GW_TOKEN);
    let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(
        out.code,
        Some(0),
        "{out}\noffline-guard log:\n{}",
        cli.guard_log()
    );
    let v: Value = serde_json::from_str(&out.stdout).expect("--json output");
    let result = &v["results"][0];
    assert_eq!(result["status"], "deleted", "{out}");
    let archived = result["archived"][0].as_str().expect("an archived path");
    assert!(
        archived.contains(&format!("{session_id}.jsonl.deleted.")),
        "{out}"
    );
    let kept = std::fs::read_to_string(archived).expect("the archived transcript");
    assert!(kept.contains("keep this line"), "{kept}");
    assert!(
        !gw.dir
            .path()
            .join(format!("agents/main/sessions/{session_id}.jsonl"))
            .exists()
    );
    assert!(read_index().get(key).is_none(), "{}", read_index());
}

/// `openclaw cron add | list | run | runs | disable | edit | rm | status` (the real CLI)
/// against our scheduler: the job the CLI adds is the one it lists, a manual run shows in
/// its run history with the agent's answer, and edits, removal and status come back in the
/// shapes the CLI checks (its list pager refuses a page without `snapshotRevision`).
#[test]
fn real_cli_manages_cron_jobs_on_our_gateway() {
    let cli = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let oc = |args: &[&str]| -> Value {
        let mut cmd = cli.command(args);
        cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
            .env("OPENCLAW_GATEWAY_TOKEN", "T");
        let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
        assert_eq!(out.code, Some(0), "{args:?}: {out}");
        out.json()
    };
    let job = oc(&[
        "cron",
        "add",
        "--name",
        "brief",
        "--cron",
        "0 7 * * *",
        "--tz",
        "Europe/Berlin",
        "--message",
        "/help",
        "--no-deliver",
    ]);
    let id = job["id"].as_str().expect("the job's id").to_owned();
    assert_eq!(job["schedule"]["tz"], "Europe/Berlin", "{job}");
    assert!(job["nextRunAtMs"].as_u64().is_some(), "{job}");
    let list = oc(&["cron", "list", "--json"]);
    assert_eq!(list["jobs"][0]["id"], id.as_str(), "{list}");
    // The human table shows where the answers go (our `deliveryPreviews`).
    let mut cmd = cli.command(&["cron", "list"]);
    cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let table = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert!(
        table.stdout.contains("none (kept in the session)"),
        "{table}"
    );
    let ran = oc(&["cron", "run", &id]);
    assert_eq!(ran["enqueued"], true, "{ran}");
    // The run's answer (the embedded command agent's help) lands in the run history.
    let deadline = Instant::now() + Duration::from_secs(30);
    let entry = loop {
        let runs = oc(&["cron", "runs", "--id", &id]);
        if runs["entries"][0]["status"] == "ok" {
            break runs["entries"][0].clone();
        }
        // Each check is a CLI process start (about a second): no pause between checks.
        assert!(Instant::now() < deadline, "no finished run: {runs}");
    };
    assert!(
        entry["summary"]
            .as_str()
            .is_some_and(|s| s.contains("/invoke")),
        "{entry}"
    );
    let off = oc(&["cron", "disable", &id]);
    assert_eq!(off["enabled"], false, "{off}");
    let edited = oc(&["cron", "edit", &id, "--every", "2h", "--name", "brief2"]);
    assert_eq!(edited["schedule"]["everyMs"], 7_200_000, "{edited}");
    assert_eq!(edited["name"], "brief2", "{edited}");
    let rm = oc(&["cron", "rm", &id]);
    assert_eq!(rm["removed"], true, "{rm}");
    let status = oc(&["cron", "status"]);
    assert_eq!(status["jobs"], 0, "{status}");
    // `openclaw system event` is `wake`: a turn in the main session now.
    let woke = oc(&[
        "system",
        "event",
        "--text",
        "deploy finished",
        "--mode",
        "now",
        "--json",
    ]);
    assert_eq!(woke["ok"], true, "{woke}");
}

/// The seed's command flow with the real OpenClaw node host: a Telegram message, the model's
/// `exec` call with `host: "node"`, `system.run` on the real node host, the output back to
/// the model and the answer in the chat.
#[actix_web::test]
async fn a_telegram_message_runs_exec_on_the_real_openclaw_node_host() {
    use crate::exec_tool::{OWNER, exec_config, exec_once};
    use crate::support::fake_openai::FakeOpenAi;
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, admin, start_gateway};
    let host_env = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(
        &tg,
        &ai,
        json!({"host": "node"}),
        json!({"allowCommands": ["system.which", "system.run"]}),
    ));
    let mut op = admin(&gw).await;
    let port = gw.port.to_string();
    let mut cmd = host_env.command(&[
        "node",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--no-tls",
        "--display-name",
        "it-real-exec-node",
    ]);
    cmd.env("OPENCLAW_GATEWAY_TOKEN", GW_TOKEN);
    let mut host = Background::spawn(cmd);
    let ev = wait_event_or_exit(
        &mut op,
        "node.pair.requested",
        &mut host,
        Duration::from_secs(60),
    )
    .await;
    let node_id = ev["payload"]["nodeId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    crate::nodes::approve_surface(&mut op, &node_id).await;
    crate::exec_tool::poll_node_ready(&mut op, &node_id).await;
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "echo hello-from-node"})).await;
    assert_eq!(res["host"], "node", "{res}");
    assert_eq!(res["ok"], true, "{res}\nnode host:\n{}", host.output());
    assert!(
        res["stdout"]
            .as_str()
            .is_some_and(|o| o.contains("hello-from-node")),
        "{res}"
    );
    // A shell command goes through the node's shell.
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "echo abc | tr a-c A-C"})).await;
    assert_eq!(res["ok"], true, "{res}\nnode host:\n{}", host.output());
    assert!(
        res["stdout"].as_str().is_some_and(|o| o.contains("ABC")),
        "{res}"
    );
}

/// `openclaw gateway usage-cost` (the real CLI) reads our `usage.cost`: the tokens and the
/// cost our answers recorded in their transcript lines, today's bucket last, in its JSON and
/// its own rendering.
#[test]
fn real_cli_usage_cost_reads_what_our_answers_recorded() {
    let cli = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let sessions = gw.dir.path().join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("sessions dir");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let line = |tokens: u64, cost: Option<f64>| {
        let mut u = json!({"input": tokens, "output": 10, "cacheRead": 0, "cacheWrite": 0,
            "totalTokens": tokens + 10});
        if let Some(c) = cost {
            u["cost"] =
                json!({"input": c, "output": 0.0, "cacheRead": 0.0, "cacheWrite": 0.0, "total": c});
        }
        json!({"type": "message", "role": "assistant", "content": "ok", "ts": now, "usage": u})
            .to_string()
    };
    std::fs::write(
        sessions.join("s1.jsonl"),
        [line(990, Some(1.25)), line(490, None)].join("\n"),
    )
    .expect("transcript");
    let url = gw.url();
    let out = cli.run(&[
        "gateway",
        "usage-cost",
        "--url",
        &url,
        "--token",
        "T",
        "--days",
        "7",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["totals"]["totalTokens"], 1500, "{out}");
    assert_eq!(v["totals"]["totalCost"], 1.25, "{out}");
    assert_eq!(v["totals"]["missingCostEntries"], 1, "{out}");
    assert_eq!(v["days"], 7, "{out}");
    assert_eq!(v["daily"][6]["totalTokens"], 1500, "{out}");
    let out = cli.run(&["gateway", "usage-cost", "--url", &url, "--token", "T"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("Usage cost (30 days)"), "{out}");
    assert!(out.stdout.contains("$1.25"), "{out}");
    assert!(out.stdout.contains("Missing cost:"), "{out}");
    // And per session, as OpenClaw's docs call it: the transcript with no index entry is
    // listed under its id.
    let out = cli.run(&[
        "gateway",
        "call",
        "sessions.usage",
        "--params",
        r#"{"range":"30d","agentScope":"all"}"#,
        "--url",
        &url,
        "--token",
        "T",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["sessions"][0]["key"], "agent:main:s1", "{out}");
    assert_eq!(v["sessions"][0]["usage"]["totalTokens"], 1500, "{out}");
    assert_eq!(v["aggregates"]["sessionCount"], 1, "{out}");
}

/// `openclaw sessions compact <key> --max-lines N` (the real CLI) runs our
/// `sessions.compact`: the session's context keeps its last messages (no model needed),
/// and the CLI prints our answer; an unknown session makes it exit non-zero.
#[actix_web::test]
async fn real_cli_sessions_compact_cuts_our_sessions_context() {
    let cli = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let mut op = WsClient::hello(gw.port, cli_params("T", crate::nodes::ALL_OPERATOR))
        .await
        .0;
    // Three exchanges with the embedded command agent.
    for n in 0..3 {
        let r = op
            .request(
                "chat.send",
                json!({"sessionKey": "main", "message": format!("echo turn {n}"), "idempotencyKey": format!("cc-{n}")}),
            )
            .await;
        assert_eq!(r["ok"], true, "{r}");
        let w = op
            .request(
                "agent.wait",
                json!({"runId": format!("cc-{n}"), "timeoutMs": 10000}),
            )
            .await;
        assert_eq!(w["payload"]["status"], "ok", "{w}");
    }
    let url = gw.url();
    let out = cli.run(&[
        "sessions",
        "compact",
        "agent:main:main",
        "--max-lines",
        "2",
        "--url",
        &url,
        "--token",
        "T",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["compacted"], true, "{out}");
    assert_eq!(v["kept"], 2, "{out}");
    let lines: Vec<Value> = std::fs::read_dir(gw.dir.path().join("agents/main/sessions"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "compaction" && l["keptMessages"] == 2),
        "{lines:?}"
    );
    let out = cli.run(&[
        "sessions",
        "compact",
        "agent:main:ghost",
        "--max-lines",
        "2",
        "--url",
        &url,
        "--token",
        "T",
    ]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        out.to_string().contains("no session agent:main:ghost"),
        "{out}"
    );
}

/// `openclaw gateway stability` (the real CLI) reads our stability ring, filter and all;
/// `openclaw doctor` finds both methods it asks a running gateway (`diagnostics.stability`
/// for its exporter check, `doctor.memory.status` for the memory probe) instead of
/// reporting them as unknown; `openclaw status --deep` finds our gateway reachable and
/// healthy in local mode.
#[actix_web::test]
async fn real_cli_status_stability_and_doctor_read_ours() {
    let cli = RealCli::locate();
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T", rateLimit: {maxAttempts: 2}}}}"#),
    );
    let page = format!("http://127.0.0.1:{}", gw.port);
    for _ in 0..2 {
        let mut c = WsClient::open_with(gw.port, &[("Origin", page.as_str())])
            .await
            .expect("upgrade");
        c.challenge().await;
        let res = c.connect(cli_params("WRONG", &[])).await;
        assert_eq!(res["ok"], false, "{res}");
    }
    let oc = |args: &[&str]| {
        let mut cmd = cli.command(args);
        cmd.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
            .env("OPENCLAW_GATEWAY_TOKEN", "T");
        run_bounded(cmd, REAL_CLI_TIMEOUT)
    };
    let out = oc(&["gateway", "stability", "--type", "security.event", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["count"], 1, "{out}");
    assert_eq!(v["events"][0]["action"], "lockout", "{out}");
    assert_eq!(v["events"][0]["target"], "browser-origin", "{out}");
    // The CLI's own rendering of the whole ring.
    let out = oc(&["gateway", "stability"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("Gateway Stability"), "{out}");
    assert!(out.stdout.contains("security.event=1"), "{out}");
    assert!(out.stdout.contains("Memory: rss="), "{out}");
    assert!(
        out.stdout
            .contains("security.event level=warning action=lockout outcome=denied"),
        "{out}"
    );
    // A limit the gateway refuses is the CLI's error.
    let out = oc(&["gateway", "stability", "--limit", "5000"]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("limit must be between 1 and 1000"),
        "{out}"
    );

    // `openclaw secrets reload`: nothing to rotate here (the rotations themselves are in
    // `reload::secrets_reload_reads_token_files_and_the_dotenv_again`).
    let out = oc(&["secrets", "reload"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("Secrets reloaded."), "{out}");
    let out = oc(&["secrets", "reload", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json(), json!({"ok": true, "warningCount": 0}), "{out}");

    // `openclaw sessions cleanup` (not a dry run) asks the gateway (`sessions.cleanup`) and
    // prints its summary; the pruning itself is in `maintenance.rs`.
    let out = oc(&["sessions", "cleanup"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains("Session store: ")
            && out.stdout.contains("agents/main/sessions/sessions.json")
            && out
                .stdout
                .contains("Applied maintenance. Current entries: 0"),
        "{out}"
    );
    let out = oc(&["sessions", "cleanup", "--json", "--enforce"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["applied"], true, "{out}");

    // `status` probes with the CLI's config file (its environment alone leaves the probe
    // without credentials): the gateway's host's config, as `openclaw onboard` writes it.
    std::fs::write(
        cli.home.path().join("openclaw.json"),
        format!(
            r#"{{gateway: {{port: {}, auth: {{token: "T"}}}}}}"#,
            gw.port
        ),
    )
    .expect("the CLI's config");
    let out = oc(&["status", "--deep", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["gateway"]["mode"], "local", "{out}");
    assert_eq!(v["gateway"]["reachable"], true, "{out}");
    assert_eq!(v["health"]["gateway"]["port"], gw.port, "{out}");

    let out = oc(&["doctor", "--non-interactive"]);
    assert_eq!(out.code, Some(0), "{out}");
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("Doctor complete."), "{out}");
    // It reached our gateway (only a gateway's `status` gives it a running version).
    assert!(text.contains("the running Gateway is OpenClaw"), "{out}");
    for absent in [
        "unknown method",
        "Exporter diagnostics failed",
        "gateway memory probe",
    ] {
        assert!(!text.contains(absent), "{absent:?} in:\n{text}");
    }
}

/// `openclaw tui <session>` (the real CLI) resolves its target through our
/// `sessions.resolve`: a full key, a short id and a slug with a short id open that session;
/// an unknown key exits non-zero with the CLI's "No session found".
#[actix_web::test]
async fn real_cli_tui_opens_a_session_by_key_or_short_id() {
    let cli = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let url = gw.url();
    let uuid = "9f1c2b3a-4d5e-4f60-8a7b-0c1d2e3f4a5b";
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    crate::support::create_session(&mut op, &format!("tui-{uuid}"), "Trip planning").await;
    let header = format!("session tui-{uuid}");
    for target in [
        format!("agent:main:tui-{uuid}"),
        "9f1c2b3a".to_owned(),
        "trip-planning-9f1c2b3a".to_owned(),
    ] {
        // No terminal on stdin: the TUI draws its first screen and ends at end of input.
        let out = cli.run(&["tui", &target, "--url", &url, "--token", "T"]);
        assert_eq!(out.code, Some(0), "{target}: {out}");
        assert!(out.stdout.contains(&header), "{target}: {out}");
    }
    let out = cli.run(&["tui", "agent:main:nope", "--url", &url, "--token", "T"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("No session found: agent:main:nope"),
        "{out}"
    );
}

/// What a terminal shows of `text`: ANSI control sequences (CSI, OSC) left out.
fn screen_text(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(if c == '\r' { '\n' } else { c });
            continue;
        }
        match chars.next() {
            // CSI: parameters up to a final byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ESC \.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The real TUI on a terminal (a pseudo-terminal from util-linux's `script`): once it has
/// connected, its footer names our default model and its window (the `defaults` our
/// `chat.history` and `sessions.list` answer, as OpenClaw's do), not "unknown".
#[actix_web::test]
async fn real_tui_on_a_terminal_names_our_default_model() {
    let cli = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let url = gw.url();
    let typescript = cli.home.path().join("tui.typescript");
    let oc = cli.command(&[]);
    let mut script = Command::new("script");
    script.env_clear();
    for (k, v) in oc.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    let line = format!(
        "{} tui --url {url} --token T",
        cli.oc_bin.join("openclaw").display()
    );
    script
        .args(["-q", "-e", "-f", "-c", &line])
        .arg(&typescript)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = script.spawn().expect("util-linux's script");
    let deadline = Instant::now() + REAL_CLI_TIMEOUT;
    let footer = loop {
        let screen = screen_text(&std::fs::read(&typescript).unwrap_or_default());
        if let Some(l) = screen
            .lines()
            .rev()
            .find(|l| l.contains("agent main") && l.contains("| session main |"))
            .filter(|l| l.contains("tokens ?/"))
        {
            break l.trim().to_owned();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no connected footer in {REAL_CLI_TIMEOUT:?}:\n{screen}");
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        footer.contains("| commands |") && footer.contains("tokens ?/200k"),
        "{footer}"
    );
    assert!(!footer.contains("unknown"), "{footer}");
}

/// OpenClaw's unified approval API on our exec approvals: the real CLI's `openclaw
/// approvals pending` lists the command waiting and `openclaw approvals resolve <id>
/// allow-once` runs it; `approval.get` / `approval.resolve` answer OpenClaw's snapshots
/// (pending, allowed, denied, cancelled), a second answer learns the first
/// (`applied: false`), and a malformed answer denies (fails closed).
#[actix_web::test]
async fn real_cli_approvals_pending_and_resolve_answer_an_exec_approval() {
    use crate::exec_tool::{OWNER, exec_config};
    use crate::support::fake_openai::FakeOpenAi;
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{
        GW_TOKEN, SLOW, TG_TOKEN, admin, dm, start_gateway, tool_result, wait_reply,
    };

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "ask"}), Value::Null));
    let url = gw.url();
    let mut op = admin(&gw).await;
    let oc = |args: &[&str]| {
        let mut all = vec!["approvals"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--url", &url, "--token", GW_TOKEN, "--json"]);
        cli.run(&all)
    };
    let requested = |ev: &Value| ev["payload"]["id"].as_str().unwrap_or_default().to_owned();

    // 1. Asked, listed by the real CLI, answered by it: the command runs.
    let call = ai.push_tool_call("exec", json!({"command": "uname -s"}));
    ai.push_text("done");
    let mid = dm(&tg, OWNER, "kernel?");
    let id = requested(&op.event_within("exec.approval.requested", SLOW).await);
    let res = op.request("approval.get", json!({"id": id})).await;
    let a = &res["payload"]["approval"];
    assert_eq!(a["status"], "pending", "{res}");
    assert_eq!(a["presentation"]["kind"], "exec", "{res}");
    assert_eq!(a["presentation"]["commandText"], "uname -s", "{res}");
    assert_eq!(a["urlPath"], format!("/approve/{id}"), "{res}");
    assert_eq!(
        a["sourceSessionKey"],
        format!("agent:main:telegram:direct:{OWNER}"),
        "{res}"
    );
    let out = oc(&["pending"]);
    assert_eq!(out.code, Some(0), "{out}");
    let pending = out.json();
    assert_eq!(pending["approvals"][0]["id"], id.as_str(), "{out}");
    assert_eq!(pending["approvals"][0]["kind"], "exec", "{out}");
    assert_eq!(pending["approvals"][0]["summary"], "uname -s", "{out}");
    let out = oc(&["resolve", &id, "allow-once"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["applied"], true, "{out}");
    assert_eq!(v["approval"]["status"], "allowed", "{out}");
    assert_eq!(v["approval"]["decision"], "allow-once", "{out}");
    assert_eq!(v["approval"]["reason"], "user", "{out}");
    wait_reply(&tg, mid, SLOW).await;
    let res = tool_result(&ai.wait_requests_async(2, SLOW).await[1], &call);
    assert_eq!(res["stdout"], "Linux\n", "{res}");
    // A second answer learns the first, and changes nothing.
    let res = op
        .request(
            "approval.resolve",
            json!({"id": id, "kind": "exec", "decision": "deny"}),
        )
        .await;
    assert_eq!(res["payload"]["applied"], false, "{res}");
    assert_eq!(res["payload"]["approval"]["status"], "allowed", "{res}");
    let out = oc(&["pending"]);
    assert_eq!(out.json()["approvals"], json!([]), "{out}");

    // 2. A malformed answer (the wrong kind) denies: nothing runs.
    let marker = gw.dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    ai.push_tool_call("exec", json!({"command": touch}));
    ai.push_text("ok");
    let mid = dm(&tg, OWNER, "touch it");
    let id = requested(&op.event_within("exec.approval.requested", SLOW).await);
    let res = op
        .request(
            "approval.resolve",
            json!({"id": id, "kind": "plugin", "decision": "allow-once"}),
        )
        .await;
    assert_eq!(res["payload"]["applied"], true, "{res}");
    assert_eq!(res["payload"]["approval"]["status"], "denied", "{res}");
    assert_eq!(
        res["payload"]["approval"]["reason"], "malformed-verdict",
        "{res}"
    );
    wait_reply(&tg, mid, SLOW).await;
    assert!(!marker.exists());

    // 3. Withdrawn by /stop: cancelled.
    ai.push_tool_call("exec", json!({"command": touch}));
    dm(&tg, OWNER, "touch it again");
    let id = requested(&op.event_within("exec.approval.requested", SLOW).await);
    let stop = dm(&tg, OWNER, "/stop");
    wait_reply(&tg, stop, SLOW).await;
    let res = op.request("approval.get", json!({"id": id})).await;
    assert_eq!(res["payload"]["approval"]["status"], "cancelled", "{res}");
    assert_eq!(res["payload"]["approval"]["reason"], "run-aborted", "{res}");
    assert!(!marker.exists());

    // Not found, and the shapes refused.
    for (method, params) in [
        ("approval.get", json!({"id": "no-such-approval"})),
        (
            "approval.resolve",
            json!({"id": "no-such-approval", "kind": "exec", "decision": "deny"}),
        ),
        (
            "approval.resolve",
            json!({"id": id, "kind": "exec", "decision": "deny",
                   "reviewer": {"channel": "telegram", "accountId": "default", "senderId": "1"}}),
        ),
    ] {
        let res = op.request(method, params.clone()).await;
        assert_eq!(
            res["error"]["message"], "approval not found",
            "{params}: {res}"
        );
        assert_eq!(
            res["error"]["details"]["reason"], "APPROVAL_NOT_FOUND",
            "{params}: {res}"
        );
    }
    let res = op.request("approval.get", json!({"id": id, "x": 1})).await;
    assert_eq!(
        res["error"]["message"], "invalid approval.get params",
        "{res}"
    );
    let res = op.request("openclaw.approval.list", json!({})).await;
    assert_eq!(res["payload"], json!([]), "{res}");

    // Standing grants (OpenClaw's, for cron jobs' commands) do not exist here.
    let out = oc(&["grants", "list"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json(), json!({"grants": []}), "{out}");
    let out = cli.run(&[
        "approvals",
        "grants",
        "revoke",
        "g-1",
        "--url",
        &url,
        "--token",
        GW_TOKEN,
    ]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("Grant g-1 not found"),
        "{out}"
    );
    for (method, params, msg) in [
        (
            "exec.approval.grants.list",
            json!({"limit": 501}),
            "invalid exec.approval.grants.list params: at /limit: must be <= 500",
        ),
        (
            "exec.approval.grants.list",
            json!({"limit": 0}),
            "invalid exec.approval.grants.list params: at /limit: must be >= 1",
        ),
        (
            "exec.approval.grants.revoke",
            json!({}),
            "invalid exec.approval.grants.revoke params: must have required property 'grantId'",
        ),
    ] {
        let res = op.request(method, params.clone()).await;
        assert_eq!(res["error"]["message"], msg, "{params}: {res}");
    }
}

/// OpenClaw's lock file: the real CLI on the gateway's host finds our gateway by it (its
/// port is in no config and no variable: `openclaw models list` reads it from the lock),
/// and the real OpenClaw gateway refuses to start on the state dir ours owns.
#[test]
fn real_cli_finds_our_gateway_by_its_lock_file() {
    let cli = RealCli::locate();
    let mut gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(
            r#"{gateway: {auth: {token: "T"}},
                agents: {defaults: {model: {primary: "local/qwen"}, models: {"local/qwen": {alias: "Q"}}}},
                models: {providers: {local: {baseUrl: "http://127.0.0.1:9/v1",
                  models: [{id: "qwen", name: "Qwen", contextWindow: 32000, input: ["text", "image"]}]}}}}"#,
        ),
    );
    // The CLI shares the gateway's state dir and config, as on the gateway's host.
    let state = gw.dir.path().to_path_buf();
    let oc = |args: &[&str]| cli.on_host(&state, "T", args);
    let out = oc(&["models", "list", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["count"], 1, "{out}");
    let m = &v["models"][0];
    assert_eq!(m["key"], "local/qwen", "{out}");
    assert_eq!(m["name"], "Qwen", "{out}");
    assert_eq!(m["input"], "text+image", "{out}");
    assert_eq!(m["contextWindow"], 32000, "{out}");
    assert_eq!(m["local"], true, "{out}");
    assert_eq!(m["available"], true, "{out}");
    assert_eq!(
        m["tags"],
        json!(["default", "configured", "alias:Q"]),
        "{out}"
    );
    assert!(
        !out.stderr.contains("Gateway is not running"),
        "read from our gateway: {out}"
    );

    // The real OpenClaw gateway leaves a state dir ours owns alone.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let theirs = oc(&[
        "gateway",
        "run",
        "--port",
        &free.to_string(),
        "--allow-unconfigured",
    ]);
    assert_ne!(theirs.code, Some(0), "{theirs}");
    let said = format!("{}{}", theirs.stdout, theirs.stderr);
    assert!(
        said.contains(&format!("Another gateway (pid {})", gw.pid()))
            && said.contains("already owns this state directory"),
        "{theirs}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", free)).is_err(),
        "it never listened"
    );
    let mut health = cli.command(&["gateway", "call", "health", "--json"]);
    health
        .env("OPENCLAW_GATEWAY_URL", gw.url())
        .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let health = run_bounded(health, REAL_CLI_TIMEOUT);
    assert_eq!(health.code, Some(0), "ours still serves: {health}");

    // Once ours stops, its lock is gone and the CLI no longer finds a gateway.
    gw.sigterm();
    assert!(gw.wait_exit(Duration::from_secs(10)).success());
    assert!(!gw.owner_lock_path().exists());
    let out = oc(&["models", "list", "--json"]);
    assert!(
        out.stderr.contains("Gateway is not running"),
        "the lock was how it found ours: {out}"
    );
}

/// The real `openclaw acp`, the bridge an editor (Zed, any ACP client) speaks to over
/// stdio, driven against our gateway by JSON-RPC lines as an editor drives it.
struct AcpBridge {
    proc: Background,
    lines: std::sync::mpsc::Receiver<String>,
    input: std::io::PipeWriter,
    next: u64,
    /// `session/update` notifications seen so far, in order.
    updates: Vec<Value>,
    /// Every other notification seen so far, in order.
    notifications: Vec<Value>,
}

impl AcpBridge {
    /// `openclaw acp --url <url> --token-file <file> <extra…>` with its own `HOME` (its
    /// event ledger), so a second bridge knows nothing the first one saw.
    fn spawn(cli: &RealCli, home: &Path, url: &str, token_file: &Path, extra: &[&str]) -> Self {
        let token_file = token_file.to_str().expect("utf-8 path");
        let mut args = vec!["acp", "--url", url, "--token-file", token_file];
        args.extend_from_slice(extra);
        Self::spawn_args(cli, home, &args)
    }

    /// `openclaw <args…>` speaking JSON-RPC on stdio, with its own `HOME`.
    fn spawn_args(cli: &RealCli, home: &Path, args: &[&str]) -> Self {
        let mut cmd = cli.command(args);
        cmd.env("HOME", home)
            .env("OPENCLAW_STATE_DIR", home.join(".openclaw"));
        let (stdin, input) = std::io::pipe().expect("a pipe for the bridge's stdin");
        cmd.stdin(stdin);
        let (proc, lines) = Background::spawn_lines(cmd);
        Self {
            proc,
            lines,
            input,
            next: 0,
            updates: Vec::new(),
            notifications: Vec::new(),
        }
    }

    fn send(&mut self, v: &Value) {
        use std::io::Write as _;
        writeln!(self.input, "{v}").expect("write to the bridge");
    }

    /// Sends a request and waits (bounded) for its answer, keeping the notifications.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no answer to {method} ({e}):\n{}", self.proc.output()));
            let Ok(m) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if m["method"] == "session/update" {
                self.updates.push(m["params"].clone());
            } else if m.get("method").is_some() && m.get("id").is_none() {
                self.notifications.push(m);
            } else if m["id"] == id {
                return m;
            }
        }
    }

    /// The text of the updates of kind `kind` (`agent_message_chunk`, …), joined.
    fn text_of(&self, kind: &str) -> String {
        self.updates
            .iter()
            .filter(|u| u["update"]["sessionUpdate"] == kind)
            .filter_map(|u| u["update"]["content"]["text"].as_str())
            .collect()
    }
}

/// An editor on our gateway through the real `openclaw acp`: a new session's prompt runs
/// our agent (a local fake model) and streams its answer back; the session is listed; a
/// second bridge that never saw it replays it from our transcript (`sessions.get`); the
/// editor's stop button (`session/cancel`) aborts a run (`chat.abort`).
#[test]
fn real_cli_acp_bridge_runs_an_editor_session_on_our_gateway() {
    use crate::support::fake_openai::{FakeOpenAi, FakeReply};
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, start_gateway};

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let work = tempfile::tempdir().expect("a work dir");
    let token_file = work.path().join("gateway.token");
    std::fs::write(&token_file, GW_TOKEN).expect("token file");
    let project = work.path().join("project");
    std::fs::create_dir_all(&project).expect("project dir");
    let cwd = project.to_str().expect("utf-8").to_owned();

    let mut a = AcpBridge::spawn(&cli, &work.path().join("a"), &gw.url(), &token_file, &[]);
    let init = a.call(
        "initialize",
        json!({"protocolVersion": 1, "clientCapabilities": {}}),
    );
    assert_eq!(init["result"]["protocolVersion"], 1, "{init}");
    let new = a.call("session/new", json!({"cwd": cwd, "mcpServers": []}));
    let sid = new["result"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("{new}"))
        .to_owned();
    let key = format!("agent:main:acp-bridge:{sid}");

    ai.push(FakeReply::text("ACP-answer-91c"));
    let done = a.call(
        "session/prompt",
        json!({"sessionId": sid, "prompt": [{"type": "text", "text": "what is 2+2 in acp?"}]}),
    );
    assert_eq!(done["result"]["stopReason"], "end_turn", "{done}");
    assert_eq!(
        a.text_of("agent_message_chunk"),
        "ACP-answer-91c",
        "{:?}",
        a.updates
    );
    let asked = ai.wait_requests(1, Duration::from_secs(30))[0].to_string();
    assert!(
        asked.contains("what is 2+2 in acp?") && asked.contains("[Working directory:"),
        "{asked}"
    );
    let index: Value = serde_json::from_slice(
        &std::fs::read(gw.dir.path().join("agents/main/sessions/sessions.json"))
            .expect("sessions.json"),
    )
    .expect("JSON");
    assert!(index.get(&key).is_some(), "{key} in {index}");
    let list = a.call("session/list", json!({}));
    assert!(
        list["result"]["sessions"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r["_meta"]["sessionKey"] == key.as_str())),
        "{list}"
    );

    // The stop button: a slow answer is aborted and the prompt ends as cancelled.
    ai.push(FakeReply::text("too late").delayed(Duration::from_secs(20)));
    a.next += 1;
    let id = a.next;
    a.send(
        &json!({"jsonrpc": "2.0", "id": id, "method": "session/prompt",
        "params": {"sessionId": sid, "prompt": [{"type": "text", "text": "a long job"}]}}),
    );
    ai.wait_requests(2, Duration::from_secs(30));
    a.send(&json!({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": sid}}));
    let deadline = Instant::now() + Duration::from_secs(30);
    let cancelled = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = a.lines.recv_timeout(left).unwrap_or_else(|e| {
            panic!("no end of the cancelled prompt ({e}):\n{}", a.proc.output())
        });
        if let Ok(m) = serde_json::from_str::<Value>(&line)
            && m["id"] == id
        {
            break m;
        }
    };
    assert_eq!(
        cancelled["result"]["stopReason"], "cancelled",
        "{cancelled}"
    );
    assert!(!a.text_of("agent_message_chunk").contains("too late"));
    drop(a);

    // Another editor (its own ledger: it never saw the session) attaches to the session
    // and loads it: the history comes from our transcript.
    let mut b = AcpBridge::spawn(
        &cli,
        &work.path().join("b"),
        &gw.url(),
        &token_file,
        &["--session", &key],
    );
    b.call(
        "initialize",
        json!({"protocolVersion": 1, "clientCapabilities": {}}),
    );
    let load = b.call(
        "session/load",
        json!({"sessionId": "editor-two", "cwd": cwd, "mcpServers": []}),
    );
    assert!(load.get("error").is_none(), "{load}");
    assert!(
        b.text_of("user_message_chunk")
            .contains("what is 2+2 in acp?"),
        "{:?}",
        b.updates
    );
    assert!(
        b.text_of("agent_message_chunk").contains("ACP-answer-91c"),
        "{:?}",
        b.updates
    );
}

/// An editor answers the agent's shell command: through the real `openclaw acp`, a prompt
/// whose run asks to `exec` on the gateway host (`tools.exec.mode: "ask"`) reaches the
/// editor as `session/request_permission` (the bridge reads the command and the choices
/// with `exec.approval.get`), the editor's "Allow once" goes back as
/// `exec.approval.resolve`, the command runs and the answer streams back.
#[test]
fn real_cli_acp_bridge_relays_an_exec_approval_to_the_editor() {
    use crate::exec_tool::exec_config;
    use crate::support::fake_openai::FakeOpenAi;
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, start_gateway, tool_result};

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "ask"}), Value::Null));
    let work = tempfile::tempdir().expect("a work dir");
    let token_file = work.path().join("gateway.token");
    std::fs::write(&token_file, GW_TOKEN).expect("token file");
    let cwd = work.path().to_str().expect("utf-8").to_owned();
    let mut a = AcpBridge::spawn(&cli, &work.path().join("a"), &gw.url(), &token_file, &[]);
    a.call(
        "initialize",
        json!({"protocolVersion": 1, "clientCapabilities": {}}),
    );
    let new = a.call("session/new", json!({"cwd": cwd, "mcpServers": []}));
    let sid = new["result"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("{new}"))
        .to_owned();

    // A simple command: "Allow always" is offered, which the bridge learns only from
    // `exec.approval.get` (without it, it offers "Allow once" and "Deny").
    let call = ai.push_tool_call("exec", json!({"command": "echo acp-approved-42"}));
    ai.push_text("It printed 42.");
    a.next += 1;
    let id = a.next;
    a.send(
        &json!({"jsonrpc": "2.0", "id": id, "method": "session/prompt",
        "params": {"sessionId": sid, "prompt": [{"type": "text", "text": "run the echo"}]}}),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut asked = None;
    let done = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = a
            .lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("the prompt did not end ({e}):\n{}", a.proc.output()));
        let Ok(m) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if m["method"] == "session/request_permission" {
            // The editor's prompt: answer "Allow once".
            let options: Vec<&str> = m["params"]["options"]
                .as_array()
                .map(|o| o.iter().filter_map(|o| o["optionId"].as_str()).collect())
                .unwrap_or_default();
            assert_eq!(options, ["allow-once", "allow-always", "deny"], "{m}");
            a.send(&json!({"jsonrpc": "2.0", "id": m["id"],
                "result": {"outcome": {"outcome": "selected", "optionId": "allow-once"}}}));
            asked = Some(m);
        } else if m["method"] == "session/update" {
            a.updates.push(m["params"].clone());
        } else if m["id"] == id {
            break m;
        }
    };
    let asked = asked.unwrap_or_else(|| panic!("no permission request:\n{}", a.proc.output()));
    let raw = &asked["params"]["toolCall"]["rawInput"];
    assert_eq!(raw["command"], "echo acp-approved-42", "{asked}");
    assert_eq!(raw["host"], "gateway", "{asked}");
    assert_eq!(done["result"]["stopReason"], "end_turn", "{done}");
    assert_eq!(a.text_of("agent_message_chunk"), "It printed 42.");
    let requests = ai.wait_requests(2, Duration::from_secs(30));
    let res = tool_result(&requests[1], &call);
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["stdout"], "acp-approved-42\n", "{res}");
}

/// `openclaw approvals set|allowlist add|remove|get --gateway`: the real CLI edits our
/// gateway host's exec approvals (`exec.approvals.get|set`, compare-and-swap on the hash),
/// and the agent's `exec` on the gateway host follows them: narrowed from `full` to an
/// allowlist, a pattern the CLI added allows a program, one it removed no longer does.
#[actix_web::test]
async fn real_cli_approvals_gateway_edits_our_hosts_exec_approvals() {
    use crate::exec_tool::{OWNER, exec_config, exec_once};
    use crate::support::fake_openai::FakeOpenAi;
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, start_gateway};

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null));
    let url = gw.url();
    let oc = |args: &[&str]| {
        let mut all = vec!["approvals"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--gateway", "--url", &url, "--token", GW_TOKEN, "--json"]);
        cli.run(&all)
    };
    let policy = gw.dir.path().join("policy.json5");
    std::fs::write(
        &policy,
        "{ version: 1, defaults: { security: 'allowlist' } }",
    )
    .expect("write policy");
    let out = oc(&["set", "--file", policy.to_str().expect("utf-8")]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = oc(&["allowlist", "add", "/usr/bin/uname"]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = oc(&["get"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["file"]["defaults"]["security"], "allowlist", "{out}");
    assert_eq!(
        v["file"]["agents"]["*"]["allowlist"][0]["pattern"], "/usr/bin/uname",
        "{out}"
    );
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(gw.dir.path().join("exec-approvals.json")).expect("the document"),
    )
    .expect("JSON");
    assert_eq!(
        on_disk["agents"]["*"]["allowlist"][0]["pattern"],
        "/usr/bin/uname"
    );

    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s"})).await;
    assert_eq!(res["stdout"], "Linux\n", "{res}");
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s | tr a-z A-Z"})).await;
    assert!(
        res["error"]
            .as_str()
            .is_some_and(|e| e.contains("only one simple command")),
        "{res}"
    );

    let out = oc(&["allowlist", "remove", "/usr/bin/uname"]);
    assert_eq!(out.code, Some(0), "{out}");
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s"})).await;
    assert!(
        res["error"].as_str().is_some_and(
            |e| e.starts_with("exec denied: command not on the gateway's exec allowlist")
        ),
        "{res}"
    );
}

/// The official OpenAI SDK for Node (the `openai` package of the reference install) on our
/// OpenAI-compatible endpoints, as an application uses it: the model list, an answer, a
/// streamed answer continuing the same conversation (`user`), the same through the
/// Responses API (`previous_response_id`), and the SDK's errors for a model that is not an
/// agent target and for a wrong key.
#[test]
fn real_openai_sdk_chats_with_our_gateway() {
    use crate::support::fake_openai::{FakeOpenAi, FakeReply};

    let cli = RealCli::locate();
    let ai = FakeOpenAi::start();
    ai.set_streaming(true);
    ai.push(FakeReply::text("SDK answer one."));
    ai.push(
        FakeReply::text("SDK answer two, streamed in pieces.")
            .with_chunk_delay(Duration::from_millis(100)),
    );
    ai.push(FakeReply::text("Responses answer three."));
    ai.push(
        FakeReply::text("Responses answer four, streamed.")
            .with_chunk_delay(Duration::from_millis(100)),
    );
    let cfg = json!({
        "gateway": {"auth": {"token": "T"}, "http": {"endpoints": {
            "chatCompletions": {"enabled": true}, "responses": {"enabled": true}}}},
        "models": {"providers": {"fake": {"baseUrl": ai.base_url(), "models": [{"id": "m1"}]}}},
        "agents": {"defaults": {"model": {"primary": "fake/m1"}}},
    });
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&cfg.to_string()),
    );
    let sdk = cli.oc_bin.join("../openai");
    assert!(
        sdk.join("index.mjs").exists(),
        "no openai package at {}",
        sdk.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openai-sdk-client.mjs");
    let mut cmd = isolated_command(cli.node_bin.join("node"), cli.home.path());
    cmd.arg(&script)
        .arg(&sdk)
        .arg(format!("http://127.0.0.1:{}/v1", gw.port))
        .arg("T");
    let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(
        v["models"],
        json!(["openclaw", "openclaw/default", "openclaw/main"]),
        "{out}"
    );
    assert_eq!(v["first"], "SDK answer one.", "{out}");
    assert_eq!(v["firstFinish"], "stop", "{out}");
    let chunks = v["chunks"].as_array().expect("chunks");
    assert!(chunks.len() >= 2, "streamed in pieces: {out}");
    let joined: String = chunks.iter().filter_map(Value::as_str).collect();
    assert_eq!(joined, "SDK answer two, streamed in pieces.", "{out}");
    assert_eq!(v["streamFinish"], "stop", "{out}");
    assert_eq!(v["badModel"]["status"], 400, "{out}");
    assert!(
        v["badModel"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Invalid `model`")),
        "{out}"
    );
    assert_eq!(v["wrongKey"]["status"], 401, "{out}");
    assert_eq!(v["responseText"], "Responses answer three.", "{out}");
    assert_eq!(v["responseStatus"], "completed", "{out}");
    let deltas: String = v["responseDeltas"]
        .as_array()
        .expect("deltas")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(deltas, "Responses answer four, streamed.", "{out}");
    assert_eq!(
        v["responseCompleted"], "Responses answer four, streamed.",
        "{out}"
    );
    // `previous_response_id` continued the third question's session.
    let fourth = ai.requests()[3].to_string();
    assert!(
        fourth.contains("third question") && fourth.contains("Responses answer three."),
        "{fourth}"
    );
    // One conversation: the second model request carries the first turn.
    let second = ai.requests()[1].to_string();
    assert!(
        second.contains("first question") && second.contains("SDK answer one."),
        "{second}"
    );
}

/// A coding agent (Claude Code, Codex) on our Telegram conversations through the real
/// `openclaw mcp serve` (OpenClaw's MCP channel bridge): it lists the conversation a DM
/// started (its `deliveryContext`), reads its messages (`sessions.get`), hears the next
/// message as it arrives (`session.message` after `sessions.subscribe`, and the Claude
/// channel notification), and answers in the chat (`send` to the conversation's route).
#[test]
fn real_cli_mcp_channel_bridge_reads_and_answers_our_telegram_chats() {
    use crate::support::fake_openai::FakeOpenAi;
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{GW_TOKEN, SLOW, TG_TOKEN, config, dm, start_gateway};

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("MCP-side answer 7f2");
    let mut cfg: Value = serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("JSON");
    cfg["commands"] = json!({"ownerAllowFrom": ["Telegram:4242"]});
    let gw = start_gateway(&cfg.to_string());
    let wait_sent = |what: &str, f: &dyn Fn(&str) -> bool| {
        crate::support::retry_until(SLOW, what, || {
            tg.sent().into_iter().find(|m| f(m.text())).map(|_| ())
        })
    };
    dm(&tg, 4242, "first hello über 🦀");
    wait_sent("the first answer", &|t| t.contains("MCP-side answer 7f2"));

    let work = tempfile::tempdir().expect("a work dir");
    let token_file = work.path().join("gateway.token");
    std::fs::write(&token_file, GW_TOKEN).expect("token file");
    let url = gw.url();
    let mut m = AcpBridge::spawn_args(
        &cli,
        &work.path().join("home"),
        &[
            "mcp",
            "serve",
            "--url",
            &url,
            "--token-file",
            token_file.to_str().expect("utf-8"),
        ],
    );
    let init = m.call(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "it", "version": "1"}}),
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "openclaw", "{init}");
    m.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let tool = |m: &mut AcpBridge, name: &str, args: Value| {
        let res = m.call("tools/call", json!({"name": name, "arguments": args}));
        assert!(res["result"]["isError"] != true, "{name}: {res}");
        res["result"]["structuredContent"].clone()
    };

    let list = tool(&mut m, "conversations_list", json!({}));
    let convs = list["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let conv = convs
        .iter()
        .find(|c| c["channel"] == "telegram" && c["to"] == "4242")
        .unwrap_or_else(|| panic!("the DM is a conversation: {list}"))
        .clone();
    let key = conv["sessionKey"].as_str().expect("sessionKey").to_owned();
    assert_eq!(conv["accountId"], "default", "{conv}");
    let got = tool(&mut m, "conversation_get", json!({"session_key": key}));
    assert_eq!(got["conversation"]["to"], "4242", "{got}");
    let found = tool(
        &mut m,
        "conversations_list",
        json!({"search": "mcp-SIDE answer"}),
    );
    assert_eq!(
        found["conversations"].as_array().map(Vec::len),
        Some(1),
        "{found}"
    );
    let none = tool(
        &mut m,
        "conversations_list",
        json!({"search": "no-such-chat-xyz"}),
    );
    assert_eq!(none["conversations"], json!([]), "{none}");

    let read = tool(&mut m, "messages_read", json!({"session_key": key}));
    let texts = read["messages"].to_string();
    assert!(
        texts.contains("first hello über 🦀") && texts.contains("MCP-side answer 7f2"),
        "{read}"
    );

    // The next message reaches the coding agent as an event (and a Claude notification).
    dm(&tg, 4242, "second note for the agent");
    let deadline = Instant::now() + Duration::from_secs(30);
    let event = loop {
        let polled = tool(
            &mut m,
            "events_wait",
            json!({"session_key": key, "timeout_ms": 5000}),
        );
        if let Some(e) = polled.get("event").filter(|e| {
            e["role"] == "user" && e["text"].as_str().unwrap_or("").contains("second note")
        }) {
            break e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no session.message event: {polled}"
        );
    };
    assert_eq!(event["type"], "message", "{event}");
    assert_eq!(event["conversation"]["to"], "4242", "{event}");
    // The event names its message, and the bridge fetches that one message by id
    // (`chat.message.get`): the MCP tool that lists a message's attachments finds it.
    let message_id = event["messageId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(message_id.len(), 32, "{event}");
    let fetched = tool(
        &mut m,
        "attachments_fetch",
        json!({"session_key": key, "message_id": message_id}),
    );
    assert_eq!(fetched["attachments"], json!([]), "{fetched}");
    assert!(
        fetched["message"]
            .to_string()
            .contains("second note for the agent"),
        "{fetched}"
    );
    assert!(
        m.notifications
            .iter()
            .any(|n| n["method"] == "notifications/claude/channel"
                && n["params"]["content"]
                    .as_str()
                    .unwrap_or("")
                    .contains("second note")
                && n["params"]["meta"]["channel"] == "telegram"
                && n["params"]["meta"]["message_id"] == message_id.as_str()),
        "{:?}",
        m.notifications
    );

    // And it answers in the chat.
    let sent = tool(
        &mut m,
        "messages_send",
        json!({"session_key": key, "text": "hello from the coding agent"}),
    );
    assert!(
        sent["result"]["messageId"].is_string() || sent["result"].is_object(),
        "{sent}"
    );
    wait_sent("the coding agent's message", &|t| {
        t == "hello from the coding agent"
    });
    let to_chat = tg
        .sent()
        .into_iter()
        .find(|s| s.text() == "hello from the coding agent")
        .and_then(|s| s.chat_id());
    assert_eq!(to_chat, Some(4242));

    // Claude asks permission for a tool; only the owner (`commands.ownerAllowFrom`) can
    // answer from the chat. Another sender's "yes" is just a message.
    m.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/claude/channel/permission_request",
        "params": {"request_id": "abcde", "tool_name": "Bash", "description": "list files",
            "input_preview": "ls"}}),
    );
    let permission = |m: &AcpBridge| {
        m.notifications
            .iter()
            .find(|n| n["method"] == "notifications/claude/channel/permission")
            .cloned()
    };
    dm(&tg, 5151, "yes abcde");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let polled = tool(&mut m, "events_wait", json!({"timeout_ms": 5000}));
        let events = tool(&mut m, "events_poll", json!({"limit": 200}));
        let stranger = events["events"].as_array().into_iter().flatten().any(|e| {
            e["role"] == "user" && e["text"] == "yes abcde" && e["raw"]["senderIsOwner"] == false
        });
        if stranger {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no event for the stranger's yes: {polled} {events}"
        );
    }
    assert_eq!(
        permission(&m),
        None,
        "a stranger answered the permission request"
    );
    dm(&tg, 4242, "yes abcde");
    let deadline = Instant::now() + Duration::from_secs(30);
    let granted = loop {
        let _ = tool(&mut m, "events_poll", json!({"limit": 1}));
        if let Some(n) = permission(&m) {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "the owner's yes did not answer: {:?}",
            m.notifications
        );
    };
    assert_eq!(
        granted["params"],
        json!({"request_id": "abcde", "behavior": "allow"}),
        "{granted}"
    );
}

/// The real CLI's `openclaw infer tts status|providers|convert|enable --gateway` against
/// ours: what is configured (never a key), a file spoken by the gateway's provider, and the
/// saved preference.
#[test]
fn real_cli_tts_commands_read_and_switch_our_spoken_answers() {
    let cli = RealCli::locate();
    let ai = crate::support::fake_openai::FakeOpenAi::start();
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(&format!(
            r#"{{tts: {{provider: "openai", providers: {{openai: {{apiKey: "sk-never-shown-42", baseUrl: "{}"}}}}}}}}"#,
            ai.base_url()
        )),
    );
    let remote = cli.home.path().join("remote.json");
    std::fs::write(
        &remote,
        format!(
            r#"{{"gateway": {{"mode": "remote", "remote": {{"url": "{}", "token": "T"}}}}}}"#,
            gw.url()
        ),
    )
    .expect("write the CLI's config");
    let oc = |args: &[&str]| {
        let mut cmd = cli.command(args);
        cmd.env("OPENCLAW_CONFIG_PATH", &remote);
        let out = run_bounded(cmd, REAL_CLI_TIMEOUT);
        assert_eq!(out.code, Some(0), "{out}\n{}", cli.guard_log());
        assert!(!out.to_string().contains("sk-never-shown-42"), "{out}");
        out.json()
    };
    let v = oc(&["infer", "tts", "status", "--gateway", "--json"]);
    assert_eq!(v["transport"], "gateway", "{v}");
    assert_eq!(
        (v["provider"].as_str(), v["enabled"].as_bool()),
        (Some("openai"), Some(false)),
        "{v}"
    );
    let v = oc(&["infer", "tts", "providers", "--gateway", "--json"]);
    assert_eq!(v["active"], "openai", "{v}");
    let out = cli.home.path().join("hello.mp3");
    let v = oc(&[
        "infer",
        "tts",
        "convert",
        "--gateway",
        "--text",
        "Grüß dich 👋",
        "--output",
        &out.display().to_string(),
        "--json",
    ]);
    assert_eq!(v["provider"], "openai", "{v}");
    assert_eq!(
        std::fs::read(&out).expect("the CLI's copy"),
        crate::support::fake_openai::FakeOpenAi::SPEECH
    );
    assert_eq!(ai.speech_requests()[0].body["input"], "Grüß dich 👋");
    let v = oc(&["infer", "tts", "enable", "--gateway", "--json"]);
    assert_eq!(v["enabled"], true, "{v}");
    let v = oc(&["infer", "tts", "status", "--gateway", "--json"]);
    assert_eq!(v["auto"], "always", "{v}");
    let prefs = std::fs::read_to_string(gw.dir.path().join("settings/tts.json")).expect("prefs");
    assert!(prefs.contains("\"always\""), "{prefs}");
}

/// OpenClaw's documented per-account recovery with the real CLI
/// (`openclaw gateway call channels.stop|start --params '{"channel":"telegram"}'`) against
/// our Telegram account: stopped (a message sent meanwhile waits at the Bot API), then
/// started again (that message answered once).
#[actix_web::test]
async fn real_cli_channel_recovery_stops_and_starts_our_telegram_account() {
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{
        GW_TOKEN, SLOW, TG_TOKEN, config, dm, replies_to, start_gateway, wait_reply, wait_status,
    };

    let cli = RealCli::locate();
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let url = gw.url();
    let call = |method: &str| {
        let out = cli.run(&[
            "gateway",
            "call",
            method,
            "--params",
            r#"{"channel":"telegram"}"#,
            "--url",
            &url,
            "--token",
            GW_TOKEN,
            "--json",
        ]);
        assert_eq!(out.code, Some(0), "{method}: {out}\n{}", cli.guard_log());
        out.json()
    };
    let v = call("channels.stop");
    assert_eq!(
        v,
        json!({"channel": "telegram", "accountId": "default", "stopped": true})
    );
    wait_status(&gw, SLOW, "stopped", |a| a["running"] == false).await;
    let waiting = dm(&tg, 6401, "/whoami");
    let v = call("channels.start");
    assert_eq!(v["outcome"], json!({"status": "handed-off"}), "{v}");
    wait_reply(&tg, waiting, SLOW).await;
    wait_status(&gw, SLOW, "running", |a| a["running"] == true).await;
    assert_eq!(replies_to(&tg, waiting).len(), 1);
}

/// Our gateway with its port and token (`T`) in its config file, as the real CLI on the
/// gateway's host finds them (no `--port` flag).
fn gateway_on_its_config_port() -> TestGateway {
    let port = crate::support::free_port();
    let gw = TestGateway::start(
        &["gateway", "run"],
        &[],
        Some(&format!(
            "{{gateway: {{port: {port}, auth: {{token: \"T\"}}}}}}"
        )),
    );
    assert_eq!(gw.port, port);
    gw
}

/// The real CLI's `openclaw agents delete <id> --force --json` on our host: it calls our
/// `agents.delete` (its `transport` says `gateway`), which takes the agent and its binding
/// out of the config in force and moves its workspace to the trash.
#[actix_web::test]
async fn real_cli_agents_delete_goes_through_our_gateway() {
    let cli = RealCli::locate();
    let port = crate::support::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws-work");
    let cfg = json!({
        "gateway": {"port": port, "auth": {"token": "T"}},
        "agents": {"entries": {"main": {"default": true}, "work": {"workspace": ws}}},
        "bindings": [{"agentId": "work", "match": {"channel": "telegram", "accountId": "*"}}],
    });
    let gw = TestGateway::start_in(dir, &["gateway", "run"], &[], Some(&cfg.to_string()));
    let state = gw.dir.path().to_path_buf();
    assert!(ws.join("AGENTS.md").is_file(), "its workspace was seeded");

    let out = cli.on_host(
        &state,
        "T",
        &["agents", "delete", "work", "--force", "--json"],
    );
    assert_eq!(out.code, Some(0), "{out}\n{}", gw.stderr());
    let v = out.json();
    assert_eq!(v["transport"], "gateway", "{out}");
    assert_eq!(v["removedBindings"], 1, "{out}");
    assert_eq!(v["removed"][0]["path"], ws.display().to_string(), "{out}");
    assert_eq!(v["removed"][0]["method"], "trash", "{out}");
    assert!(!ws.exists());
    let trashed = std::fs::read_dir(state.join(".Trash"))
        .expect("the trash")
        .filter_map(Result::ok)
        .any(|e| e.path().join("ws-work/AGENTS.md").is_file());
    assert!(trashed, "the workspace is in the trash, whole");

    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", &["operator.admin"])).await;
    let list = op.request("agents.list", json!({})).await;
    let ids: Vec<&str> = list["payload"]["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, ["main"], "{list}");
    let doc: Value =
        json5::from_str(&std::fs::read_to_string(state.join("openclaw.json")).expect("config"))
            .expect("json5");
    assert_eq!(doc["bindings"], json!([]), "{doc}");
}

/// The real CLI's own config writes on our host while ours runs (it refuses them when a
/// live gateway's lock does not promise `cronOwnerProjection: "dynamic-default-v1"`):
/// `openclaw agents add` writes OpenClaw 2026.9's fleet (`agents.ownership: "explicit"`),
/// which our watcher applies without a warning, and `openclaw config set` goes through.
#[actix_web::test]
async fn real_cli_config_writes_land_while_our_gateway_runs() {
    let cli = RealCli::locate();
    let port = crate::support::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws-work");
    let cfg = json!({"gateway": {"port": port, "auth": {"token": "T"}}});
    let gw = TestGateway::start_in(dir, &["gateway", "run"], &[], Some(&cfg.to_string()));
    let state = gw.dir.path().to_path_buf();
    let ws_arg = ws.display().to_string();
    let out = cli.on_host(
        &state,
        "T",
        &[
            "agents",
            "add",
            "work",
            "--workspace",
            &ws_arg,
            "--non-interactive",
            "--json",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}\n{}", gw.stderr());
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", &["operator.admin"])).await;
    // The watcher applies the file it did not write within its settle time.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let ids = loop {
        let list = op.request("agents.list", json!({})).await;
        let ids: Vec<String> = list["payload"]["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["id"].as_str().map(str::to_owned))
            .collect();
        if ids.iter().any(|i| i == "work") {
            break ids;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new roster was not applied: {list}\n{}",
            gw.stderr()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(ids.contains(&"main".to_owned()), "{ids:?}");
    let logs = format!("{}{}", gw.stdout(), gw.stderr());
    assert!(!logs.contains("not supported by openclaw-rs"), "{logs}");

    let out = cli.on_host(
        &state,
        "T",
        &["config", "set", "agents.defaults.skipBootstrap", "true"],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let doc: Value =
        json5::from_str(&std::fs::read_to_string(state.join("openclaw.json")).expect("config"))
            .expect("json5");
    assert_eq!(doc["agents"]["defaults"]["skipBootstrap"], true, "{doc}");
}

/// The real CLI's `openclaw gateway restart --safe` (`gateway.restart.request` with the
/// safe-restart capability) and its plain `openclaw gateway restart` (which finds ours by
/// its lock file and its pid listening on the port, then sends the targeted request)
/// restart our gateway in place: same pid and port, a new run.
#[actix_web::test]
async fn real_cli_gateway_restart_restarts_ours_in_place() {
    use crate::restart::{process_of, reconnect, told_to_reconnect};
    let cli = RealCli::locate();
    let gw = gateway_on_its_config_port();
    let port = gw.port;
    let state = gw.dir.path().to_path_buf();
    let oc = |args: &[&str]| cli.on_host(&state, "T", args);
    let admin = || cli_params("T", &["operator.admin"]);
    let (mut op, _) = WsClient::hello(port, admin()).await;
    let (pid, first) = process_of(&mut op).await;

    let out = oc(&["gateway", "restart", "--safe", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["result"], "scheduled", "{out}");
    assert_eq!(v["restart"]["pid"], pid, "{out}");
    assert_eq!(v["preflight"]["safe"], true, "{out}");
    told_to_reconnect(&mut op).await;
    let (mut op, _) = reconnect(port, admin()).await;
    let (pid2, second) = process_of(&mut op).await;
    assert_eq!(pid2, pid);
    assert_ne!(second, first);

    let out = oc(&["gateway", "restart", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["result"], "restarted", "{out}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("port {port}: {pid}"))),
        "{out}"
    );
    told_to_reconnect(&mut op).await;
    let (mut op, _) = reconnect(port, admin()).await;
    let (pid3, third) = process_of(&mut op).await;
    assert_eq!(pid3, pid);
    assert!(third != first && third != second);
}

/// `openclaw audit` (the real CLI, on the gateway's host) reads our audit ledger: its JSON
/// pages (`audit.activity.list`) with their cursor and filters, its table, and its
/// `--explain` (which reports, as for any gateway without execution identity, that there
/// is none).
#[actix_web::test]
async fn real_cli_audit_reads_our_ledger() {
    let cli = RealCli::locate();
    let gw = gateway_on_its_config_port();
    let port = gw.port;
    let state = gw.dir.path().to_path_buf();
    let oc = |args: &[&str]| cli.on_host(&state, "T", args);
    let (mut op, _) = WsClient::hello(port, cli_params("T", ALL_OPERATOR)).await;
    for n in 0..2 {
        let res = op
            .request(
                "chat.send",
                json!({"sessionKey": "main", "message": format!("echo audit {n}"),
                    "idempotencyKey": format!("audit-run-{n}")}),
            )
            .await;
        assert_eq!(res["ok"], true, "{res}");
        let res = op
            .request(
                "agent.wait",
                json!({"runId": format!("audit-run-{n}"), "timeoutMs": 10_000}),
            )
            .await;
        assert_eq!(res["payload"]["status"], "ok", "{res}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = op
            .request("audit.activity.list", json!({"kind": "agent_run"}))
            .await;
        if res["payload"]["events"].as_array().map_or(0, Vec::len) == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "{res}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }

    let out = oc(&["audit", "--json", "--limit", "3"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    let events = v["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 3, "{out}");
    assert_eq!(events[0]["runId"], "audit-run-1", "{out}");
    assert_eq!(events[0]["action"], "agent.run.finished", "{out}");
    assert_eq!(events[0]["status"], "succeeded", "{out}");
    let next = v["nextCursor"].as_str().expect("nextCursor").to_owned();
    let out = oc(&["audit", "--json", "--cursor", &next]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["events"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(v["events"][0]["action"], "agent.run.started", "{out}");
    assert!(v.get("nextCursor").is_none(), "{out}");

    let out = oc(&[
        "audit",
        "--run",
        "audit-run-0",
        "--status",
        "started",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["events"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(v["events"][0]["sessionKey"], "agent:main:main", "{out}");

    let out = oc(&[
        "audit",
        "--kind",
        "message",
        "--channel",
        "telegram",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["events"], json!([]), "{out}");

    let out = oc(&["audit"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout
            .contains("TIME\tKIND\tDIRECTION\tCHANNEL\tSTATUS\tAGENT\tRUN\tACTION"),
        "{out}"
    );
    assert!(
        out.stdout.lines().any(|l| l.contains("agent_run")
            && l.contains("succeeded")
            && l.contains("audit-run-1")
            && l.contains("agent.run.finished")),
        "{out}"
    );

    let out = oc(&["audit", "--run", "audit-run-1", "--explain", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["identity"]["state"], "unsupported", "{out}");

    // A bad filter is the CLI's own refusal (nothing reaches the gateway).
    let out = oc(&["audit", "--limit", "501"]);
    assert_ne!(out.code, Some(0), "{out}");
}

/// OpenClaw 2026.9's CLI migrates the JSON state files of older OpenClaw versions into its
/// SQLite when it opens the state dir, renaming each to `<file>.migrated`, and its
/// `doctor --fix` moves every session index and transcript into an import archive. Those
/// are our files (at OpenClaw's paths): on a host where the real CLI shares our state dir,
/// any command that opens its database (here `approvals allowlist add --gateway`) takes our
/// cron jobs, their run logs and the voice-wake words, and `doctor --fix` (which the CLI's
/// own `approvals get` then asks for) our conversations and the host's exec approvals. Our
/// next start takes them back.
#[actix_web::test]
async fn what_the_real_cli_migrates_away_on_our_host_comes_back_at_our_next_start() {
    let cli = RealCli::locate();
    let config = r#"{gateway: {auth: {token: "T"}}}"#;
    let args = ["gateway", "run", "--port", "0"];
    let mut gw = TestGateway::start(&args, &[], Some(config));
    let state = gw.dir.path().to_path_buf();
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let ok = |res: Value| {
        assert_eq!(res["ok"], true, "{res}");
        res["payload"].clone()
    };
    let job = ok(op
        .request(
            "cron.add",
            json!({"name": "nightly", "enabled": true, "schedule": {"kind": "every", "everyMs": 3_600_000},
                "sessionTarget": "isolated", "wakeMode": "now",
                "payload": {"kind": "agentTurn", "message": "/status"}, "delivery": {"mode": "none"}}),
        )
        .await);
    let id = job["id"].as_str().expect("a job id").to_owned();
    ok(op
        .request("cron.run", json!({"id": id, "mode": "force"}))
        .await);
    ok(op
        .request("voicewake.set", json!({"triggers": ["hey lighthouse"]}))
        .await);
    ok(op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "remember the lighthouse", "idempotencyKey": "m1"}),
        )
        .await);
    let runs = state.join(format!("cron/runs/{id}.jsonl"));
    let sessions = state.join("agents/main/sessions/sessions.json");
    // The main session's transcript, once the index names it and its answer is written.
    let main_transcript = || {
        let index: Value = serde_json::from_slice(&std::fs::read(&sessions).ok()?).ok()?;
        let sid = index["agent:main:main"]["sessionId"].as_str()?;
        let path = state.join(format!("agents/main/sessions/{sid}.jsonl"));
        let text = std::fs::read_to_string(&path).ok()?;
        (text.lines().count() >= 2).then_some(path)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let transcript = loop {
        if let Some(t) = main_transcript().filter(|_| runs.exists()) {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "the cron run and the chat were recorded"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };

    // The host's exec approvals, tightened through the real CLI (our `exec.approvals.set`):
    // a command that opens the CLI's state database, which first migrates what it takes for
    // its own old files.
    let url = gw.url();
    let out = cli.on_host(
        &state,
        "T",
        &[
            "approvals",
            "allowlist",
            "add",
            "--gateway",
            "--url",
            &url,
            "--token",
            "T",
            "/usr/bin/uname",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert!(state.join("exec-approvals.json").exists());
    // Its local `approvals get` now sends the user to `doctor --fix`.
    let out = cli.on_host(&state, "T", &["approvals", "get", "--json"]);
    assert!(out.stdout.contains("openclaw doctor --fix"), "{out}");
    for f in [
        "cron/jobs.json".to_owned(),
        format!("cron/runs/{id}.jsonl"),
        "settings/voicewake.json".to_owned(),
    ] {
        assert!(!state.join(&f).exists(), "OpenClaw moved {f} aside");
        assert!(
            state.join(format!("{f}.migrated")).exists(),
            "OpenClaw moved {f} aside"
        );
    }
    // Stopped (killed), then the real CLI's repairs.
    let dir = gw.take_dir();
    drop(gw);
    let out = cli.on_host(&state, "T", &["doctor", "--fix", "--non-interactive"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        !sessions.exists(),
        "doctor --fix moved the session index away"
    );
    assert!(!transcript.exists(), "and the transcript");
    assert!(
        !state.join("exec-approvals.json").exists(),
        "and deleted the host's exec approvals"
    );

    let gw = TestGateway::start_in(dir, &args, &[], None);
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let list = ok(op
        .request("cron.list", json!({"includeDisabled": true}))
        .await);
    assert_eq!(list["jobs"][0]["id"], id.as_str(), "{list}");
    let page = ok(op.request("cron.runs", json!({"id": id})).await);
    assert_eq!(page["total"], 1, "{page}");
    let words = ok(op.request("voicewake.get", json!({})).await);
    assert_eq!(words["triggers"], json!(["hey lighthouse"]), "{words}");
    let history = ok(op
        .request("chat.history", json!({"sessionKey": "main"}))
        .await);
    assert!(
        history.to_string().contains("remember the lighthouse"),
        "{history}"
    );
    let approvals = ok(op.request("exec.approvals.get", json!({})).await);
    assert_eq!(
        approvals["file"]["agents"]["*"]["allowlist"][0]["pattern"], "/usr/bin/uname",
        "{approvals}"
    );
    // What was restored is in the gateway's log.
    let log = gw.stderr();
    for f in [
        "cron/jobs.json",
        "settings/voicewake.json",
        "sessions.json",
        "exec-approvals.json",
    ] {
        assert!(
            log.lines().any(|l| l.contains("restored") && l.contains(f)),
            "{f}: {log}"
        );
    }
}

/// Backups cross both ways on one state dir: the real CLI's `openclaw backup verify` accepts
/// our archive of a running gateway's state (OpenClaw's layout and manifest), ours accepts
/// the real CLI's archive, and the real CLI's own archive leaves our transcripts out as
/// "volatile" (OpenClaw keeps conversations in SQLite), which is why ours keeps them.
#[actix_web::test]
async fn backups_cross_between_our_cli_and_the_real_one() {
    let cli = RealCli::locate();
    let gw = TestGateway::with_token("T");
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    op.chat_until_final("main", "/nodes", "bk-x").await;
    let out = tempfile::tempdir().expect("out");
    let ours = {
        let mut cmd = isolated_command(crate::support::BIN, gw.dir.path());
        cmd.args(["backup", "create", "--json", "--output"])
            .arg(out.path().join("ours"));
        let o = run_bounded(cmd, REAL_CLI_TIMEOUT);
        assert_eq!(o.code, Some(0), "{o}");
        o.json()["archivePath"].as_str().expect("path").to_owned()
    };
    let v = cli.run(&["backup", "verify", &ours]);
    assert_eq!(v.code, Some(0), "the real CLI verifies ours: {v}");
    assert!(v.stdout.contains("Backup archive OK"), "{v}");

    let mut cmd = cli.command(&["backup", "create", "--json", "--output"]);
    cmd.arg(out.path().join("theirs"))
        .env("OPENCLAW_STATE_DIR", gw.dir.path())
        .env("OPENCLAW_CONFIG_PATH", gw.dir.path().join("openclaw.json"));
    let t = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(t.code, Some(0), "{t}");
    let tv = t.json();
    assert!(
        tv["skipped"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["reason"] == "volatile"
                && s["sourcePath"].as_str().is_some_and(
                    |p| p.contains("/agents/main/sessions/") && p.ends_with(".jsonl")
                ))),
        "OpenClaw's backup leaves our transcript out: {t}"
    );
    let theirs = tv["archivePath"].as_str().expect("their archive");
    let mut cmd = isolated_command(crate::support::BIN, gw.dir.path());
    cmd.args(["backup", "verify", theirs]);
    let o = run_bounded(cmd, REAL_CLI_TIMEOUT);
    assert_eq!(o.code, Some(0), "ours verifies the real CLI's: {o}");
}

/// The real CLI's `openclaw channels logout --channel telegram` goes through our gateway's
/// `channels.logout` (before: `unknown method`, and the CLI fell back to editing the file
/// itself, saying the gateway did not stop the account): the saved bot token leaves the
/// config (its comment stays), the account stops polling, and the config still loads.
#[actix_web::test]
async fn real_cli_channels_logout_goes_through_our_gateway() {
    use crate::support::fake_telegram::FakeTelegram;
    let cli = RealCli::locate();
    let tg = FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let port = crate::support::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = format!(
        "// my gateway\n{{\n  gateway: {{ port: {port}, auth: {{ token: \"T\" }} }},\n  channels: {{\n    telegram: {{\n      enabled: true,\n      botToken: \"{}\",\n      apiRoot: \"{}\", // the fake Bot API\n    }},\n  }},\n}}\n",
        tg.token(),
        tg.api_root()
    );
    let gw = TestGateway::start_in(dir, &["gateway", "run"], &[], Some(&cfg));
    let state = gw.dir.path().to_path_buf();
    crate::telegram_flow::poll_until(crate::telegram_flow::SLOW, "the account polls", || {
        (tg.calls("getUpdates") > 0).then_some(())
    })
    .await;

    let out = cli.on_host(
        &state,
        "T",
        &["channels", "logout", "--channel", "telegram"],
    );
    assert_eq!(out.code, Some(0), "{out}\n{}", gw.stderr());
    assert!(
        out.stdout
            .contains("Cleared saved auth for telegram/default."),
        "{out}"
    );
    assert!(
        !out.stdout.contains("Local logout"),
        "it went through the gateway: {out}"
    );
    let text = std::fs::read_to_string(state.join("openclaw.json")).expect("config");
    assert!(!text.contains(tg.token()), "{text}");
    assert!(
        text.contains("// the fake Bot API"),
        "edited in place: {text}"
    );

    // The account stopped, and the config no longer configures it.
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", &["operator.admin"])).await;
    let mut last = Value::Null;
    for _ in 0..200 {
        let status = op.request("channels.status", json!({})).await;
        assert_eq!(status["ok"], true, "{status}");
        let t = &status["payload"]["channels"]["telegram"];
        if t["running"] != true && t["accounts"]["default"]["running"] != true {
            last = Value::Null;
            break;
        }
        last = status;
        actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(last.is_null(), "the account still runs: {last}");
    let again = op
        .request("channels.logout", json!({"channel": "telegram"}))
        .await;
    assert_eq!(again["ok"], true, "{again}");
    assert_eq!(again["payload"]["cleared"], false, "{again}");
    assert_eq!(again["payload"]["loggedOut"], true, "{again}");
    let bad = op
        .request("channels.logout", json!({"channel": "discord"}))
        .await;
    assert_eq!(bad["ok"], false, "{bad}");
    let bad = op
        .request(
            "channels.logout",
            json!({"channel": "telegram", "accountId": "nope\u{0}"}),
        )
        .await;
    assert_eq!(bad["ok"], false, "{bad}");
    // The gateway still runs on the edited config.
    let health = op.request("health", json!({})).await;
    assert_eq!(health["ok"], true, "{health}");
}
