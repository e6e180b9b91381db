//! The `openclaw` CLI as a black box against a running gateway.

use serde_json::Value;

use crate::support::{CliHome, TestGateway};

fn golden_cli_wrong_token() -> Value {
    serde_json::from_str(include_str!(
        "../fixtures/golden/cli-call-health-wrong-token.json"
    ))
    .expect("golden CLI output is JSON")
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr()
        .expect("local addr of ephemeral listener")
        .port()
}

#[test]
fn call_health_prints_a_title_and_the_payload() {
    let gw = TestGateway::with_token("T");
    let out = CliHome::new().run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &gw.url(),
            "--token",
            "T",
        ],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let body = out
        .stdout
        .strip_prefix("Gateway call: health")
        .unwrap_or_else(|| panic!("stdout starts with the title: {out}"));
    let v: Value = serde_json::from_str(body.trim())
        .unwrap_or_else(|e| panic!("payload is JSON ({e}): {out}"));
    assert_eq!(v["ok"], true, "{out}");
}

#[test]
fn call_health_json_is_our_payload() {
    let gw = TestGateway::with_token("T");
    let out = CliHome::new().run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &gw.url(),
            "--token",
            "T",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["ok"], true, "{out}");
    assert_eq!(v["gateway"]["port"], gw.port, "{out}");
}

#[test]
fn call_with_wrong_token_explains_the_fix() {
    let gw = TestGateway::with_token("T");
    let out = CliHome::new().run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &gw.url(),
            "--token",
            "WRONG",
        ],
        &[],
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("token mismatch"), "{out}");
    assert!(
        out.stderr.lines().any(|l| l.starts_with("Fix:")),
        "stderr has a Fix: line: {out}"
    );
}

#[test]
fn call_with_wrong_token_json_matches_the_reference_cli() {
    let gw = TestGateway::with_token("T");
    let out = CliHome::new().run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &gw.url(),
            "--token",
            "WRONG",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.code, Some(1), "{out}");
    let v = out.json();
    let golden = golden_cli_wrong_token();
    assert_eq!(v["ok"], false, "{out}");
    // Every field the reference CLI prints, with the same value.
    for (k, want) in golden["error"]
        .as_object()
        .expect("golden error is an object")
    {
        assert_eq!(&v["error"][k], want, "error.{k}: {out}");
    }
    assert_eq!(v["error"]["type"], "gateway_request_error");
    assert_eq!(v["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
}

#[test]
fn remote_mode_config_supplies_url_and_token() {
    let gw = TestGateway::with_token("T");
    let home = CliHome::new();
    let cfg = home.write(
        "remote.json5",
        &format!(
            r#"{{gateway: {{mode: "remote", remote: {{url: "{}", token: "T"}}}}}}"#,
            gw.url()
        ),
    );
    let cfg = cfg.to_str().expect("utf-8 path");

    let out = home.run(
        &["gateway", "call", "health", "--json"],
        &[("OPENCLAW_CONFIG_PATH", cfg)],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["gateway"]["port"], gw.port, "{out}");

    let out = home.run(
        &["--config", cfg, "gateway", "call", "health", "--json"],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["ok"], true, "{out}");
}

#[test]
fn url_without_token_sends_no_configured_credentials() {
    let gw = TestGateway::with_token("T");
    let home = CliHome::with_config(r#"{gateway: {auth: {token: "T"}, remote: {token: "T"}}}"#);
    let env = [("OPENCLAW_GATEWAY_TOKEN", "T")];

    let out = home.run(
        &["gateway", "call", "health", "--url", &gw.url(), "--json"],
        &env,
    );
    assert_eq!(
        out.code,
        Some(1),
        "must not fall back to configured tokens: {out}"
    );
    let v = out.json();
    assert_eq!(
        v["error"]["details"]["code"], "DEVICE_IDENTITY_REQUIRED",
        "{out}"
    );

    let out = home.run(&["gateway", "call", "health", "--url", &gw.url()], &env);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("pass --token or --password with --url"),
        "{out}"
    );

    // Control: with --token the same call succeeds.
    let out = home.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &gw.url(),
            "--token",
            "T",
        ],
        &env,
    );
    assert_eq!(out.code, Some(0), "{out}");
}

#[test]
fn status_health_and_probe_commands_work_against_a_gateway() {
    let gw = TestGateway::with_token("T");
    let url = gw.url();
    let port = gw.port.to_string();
    // The local config points the CLI at the gateway (no --url).
    let home = CliHome::with_config(&format!(
        r#"{{gateway: {{port: {port}, auth: {{token: "T"}}}}}}"#
    ));

    let out = home.run(&["health"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout.lines().next(),
        Some("Gateway health: ok"),
        "{out}"
    );
    assert!(
        has_fields(&out.stdout, &["url:", &url, "(local", "config)"]),
        "{out}"
    );

    let out = home.run(&["status", "--deep"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        has_fields(
            &out.stdout,
            &[
                "Listening:",
                "bind",
                "loopback",
                "port",
                &port,
                "auth",
                "token"
            ]
        ),
        "{out}"
    );
    assert!(has_fields(&out.stdout, &["Health:", "ok"]), "{out}");

    let out = home.run(&["gateway", "status"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        has_fields(&out.stdout, &["Target:", &url, "(local", "config)"]),
        "{out}"
    );
    let probe = line_starting(&out.stdout, "Probe:");
    assert_eq!(probe.split_whitespace().nth(1), Some("reachable"), "{out}");

    let out = home.run(&["gateway", "probe", "--url", &url, "--token", "T"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        line_starting(&out.stdout, "Probe:").starts_with(&format!("Probe: {url} — reachable in ")),
        "{out}"
    );
    for m in ["health: ok", "status: ok", "system-presence: ok"] {
        assert!(
            out.stdout.lines().any(|l| l.trim() == m),
            "probe shows the line {m:?}: {out}"
        );
    }

    let out = home.run(
        &["gateway", "health", "--url", &url, "--token", "T", "--json"],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["ok"], true, "{out}");
}

#[test]
fn gateway_status_with_nothing_listening_exits_1() {
    let port = free_port();
    let home = CliHome::with_config(&format!(
        r#"{{gateway: {{port: {port}, auth: {{token: "T"}}}}}}"#
    ));
    let out = home.run(&["gateway", "status", "--timeout", "3000"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    let probe = line_starting(&out.stdout, "Probe:");
    let words: Vec<&str> = probe.split_whitespace().take(3).collect();
    assert_eq!(words, ["Probe:", "not", "reachable"], "{out}");
    assert!(
        probe.contains(&format!("cannot connect to ws://127.0.0.1:{port}")),
        "{out}"
    );
}

/// Whether some line of `text` consists of exactly these whitespace-separated fields.
fn has_fields(text: &str, fields: &[&str]) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().eq(fields.iter().copied()))
}

/// The first line starting with `prefix` (panics naming the output otherwise).
fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}:\n{text}"))
}

#[test]
fn wrong_config_type_exits_78_naming_file_and_key() {
    let home = CliHome::with_config(r#"{gateway: {port: "x"}}"#);
    let out = home.run(&["gateway", "call", "health"], &[]);
    assert_eq!(out.code, Some(78), "{out}");
    let path = home.config_path();
    let want = format!(
        "Error: invalid config in {}: key gateway.port: invalid type: found string \"x\", expected u16",
        path.display()
    );
    assert!(
        out.stderr.lines().any(|l| l == want),
        "stderr names the file and the key: {out}"
    );
}

#[test]
fn json5_syntax_error_exits_78_with_line_and_column() {
    // Line 4, column 5: `bind` after a value without a comma.
    let home =
        CliHome::with_config("{\n  gateway: {\n    port: 18789\n    bind: \"loopback\"\n  }\n}\n");
    let want = format!(
        "Error: config file {} is not valid JSON5: expected comma at line 4 column 5",
        home.config_path().display()
    );
    for args in [
        &["gateway", "call", "health"][..],
        &["gateway", "run", "--port", "0"][..],
    ] {
        let out = home.run(args, &[]);
        assert_eq!(out.code, Some(78), "{args:?}: {out}");
        assert!(
            out.stderr.lines().any(|l| l == want),
            "{args:?}: the file, the problem, line and column: {out}"
        );
        assert!(!out.stdout.contains("listening on"), "{out}");
    }
}

#[test]
fn missing_config_file_exits_78_naming_the_path() {
    let home = CliHome::new();
    let missing = home.dir.path().join("no-such-dir").join("openclaw.json5");
    let missing_s = missing.to_str().expect("utf-8 path");
    let want = format!(
        "Error: config file {missing_s} not found (passed with --config or OPENCLAW_CONFIG_PATH). Fix: create it or point at an existing file"
    );
    let runs = [
        home.run(
            &["--config", missing_s, "gateway", "run", "--port", "0"],
            &[],
        ),
        home.run(&["--config", missing_s, "health"], &[]),
        home.run(
            &["gateway", "run", "--port", "0"],
            &[("OPENCLAW_CONFIG_PATH", missing_s)],
        ),
    ];
    for out in runs {
        assert_eq!(out.code, Some(78), "{out}");
        assert!(out.stderr.lines().any(|l| l == want), "{out}");
        assert!(!out.stdout.contains("listening on"), "{out}");
    }
}

#[test]
fn unknown_config_key_warns_once_and_still_works() {
    let gw = TestGateway::with_token("T");
    let home = CliHome::with_config("{models: {catalogRefresh: {enabled: false}}}");
    let out = home.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &gw.url(),
            "--token",
            "T",
            "--json",
        ],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["ok"], true, "{out}");
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning: {out}");
    assert!(warnings[0].contains("models.catalogRefresh"), "{out}");
}

#[test]
fn device_flag_signs_with_a_persistent_identity_that_gets_paired() {
    let gw = TestGateway::with_token("T");
    let home = CliHome::new();
    let call = |method: &str| home.call(&gw.url(), "T", method, &["--device"]);
    let out = call("status");
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.json()["gateway"].is_object(), "{out}");
    // The identity is created once, private, and reused.
    let identity = home.dir.path().join("node").join("identity.json");
    let meta = std::fs::metadata(&identity).expect("identity file written");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let id: Value =
        serde_json::from_str(&std::fs::read_to_string(&identity).expect("read identity"))
            .expect("identity is JSON");
    let device_id = id["deviceId"].as_str().expect("deviceId").to_owned();
    assert_eq!(call("health").code, Some(0));
    // The gateway paired it (loopback: silently) with the CLI's full scope set.
    let list = home.run(
        &[
            "gateway",
            "call",
            "device.pair.list",
            "--url",
            &gw.url(),
            "--token",
            "T",
            "--json",
        ],
        &[],
    );
    assert_eq!(list.code, Some(0), "{list}");
    let paired = list.json()["paired"]
        .as_array()
        .cloned()
        .expect("paired list");
    assert_eq!(paired.len(), 1, "one device, reused across calls: {list}");
    assert_eq!(paired[0]["deviceId"], device_id, "{list}");
    assert_eq!(paired[0]["clientId"], "cli", "{list}");
    assert!(
        paired[0]["scopes"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x == "operator.admin")),
        "{list}"
    );
}

#[test]
fn reject_and_remove_of_unknown_entries_fail_naming_the_fix() {
    let gw = TestGateway::with_token("T");
    let home = CliHome::new();
    let url = format!("ws://127.0.0.1:{}", gw.port);
    for (what, hint) in [
        (
            "devices",
            "list pending requests with `openclaw devices list`",
        ),
        (
            "nodes",
            "list pending requests with `openclaw nodes pending`",
        ),
    ] {
        let out = home.run(
            &[
                what,
                "reject",
                "no-such-request",
                "--url",
                &url,
                "--token",
                "T",
            ],
            &[],
        );
        assert_eq!(out.code, Some(1), "{out}");
        assert!(out.stderr.contains(hint), "{out}");
        assert!(out.stdout.is_empty(), "{out}");
    }
    let out = home.run(
        &[
            "devices",
            "remove",
            "no-such-device",
            "--url",
            &url,
            "--token",
            "T",
        ],
        &[],
    );
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
}

/// Our `openclaw nodes rename --node NODE --name NAME`, as the real CLI words it: the node
/// found by its declared name, renamed, listed under the new name; a blank name and a node
/// that is not approved fail naming the fix.
#[actix_web::test]
async fn nodes_rename_renames_an_approved_node() {
    use crate::nodes::{ALL_OPERATOR, approve_surface};
    use crate::support::fake_node::{Action, FakeNode, always, random_key};
    use crate::support::{WsClient, cli_params};

    let gw = TestGateway::with_token("T");
    let home = CliHome::new();
    let url = gw.url();
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let node = FakeNode::connect(
        gw.port,
        &random_key(),
        "T",
        &["echo.test"],
        always(Action::Echo),
    )
    .await;
    let rename = |name: &str| {
        home.run(
            &[
                "nodes",
                "rename",
                "--node",
                "it-fake-node",
                "--name",
                name,
                "--url",
                &url,
                "--token",
                "T",
            ],
            &[],
        )
    };
    let out = rename("Kitchen Pi");
    assert_eq!(out.code, Some(1), "not approved yet: {out}");
    assert!(out.stderr.contains("openclaw nodes pending"), "{out}");

    approve_surface(&mut op, &node.node_id).await;
    let out = rename("  ");
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("--name must not be empty"), "{out}");
    let out = rename(" Kitchen Pi ");
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout.trim(),
        format!("node rename ok: {} -> Kitchen Pi", node.node_id),
        "{out}"
    );
    let list = home.run(
        &["nodes", "list", "--json", "--url", &url, "--token", "T"],
        &[],
    );
    assert_eq!(list.code, Some(0), "{list}");
    let v = list.json();
    let listed = v["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["nodeId"] == node.node_id.as_str()))
        .unwrap_or_else(|| panic!("node listed: {list}"));
    assert_eq!(listed["displayName"], "Kitchen Pi", "{list}");
}

/// Our `openclaw sessions` lists the gateway's sessions and `openclaw sessions delete`
/// deletes them as OpenClaw's CLI does: confirmation required (`--yes` when stdin is not a
/// terminal), `--dry-run`, the archived transcript named, unknown keys and the main session
/// refused with the reason.
#[actix_web::test]
async fn sessions_list_and_delete() {
    use serde_json::json;

    use crate::support::{WsClient, cli_params};

    let gw = TestGateway::with_token("T");
    let home = CliHome::new();
    let url = gw.url();
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.write"]),
    )
    .await;
    for (key, run) in [("scratch", "cli-s-1"), ("main", "cli-s-2")] {
        let res = op
            .request(
                "chat.send",
                json!({"sessionKey": key, "message": "hello", "idempotencyKey": run}),
            )
            .await;
        assert_eq!(res["ok"], true, "{res}");
        let res = op
            .request("agent.wait", json!({"runId": run, "timeoutMs": 10000}))
            .await;
        assert_eq!(res["payload"]["status"], "ok", "{res}");
    }
    let run = |args: &[&str]| {
        let mut all = vec!["sessions"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--url", &url, "--token", "T"]);
        home.run(&all, &[])
    };

    let out = run(&["--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let keys: Vec<String> = out.json()["sessions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert!(keys.contains(&"agent:main:scratch".to_owned()), "{out}");
    let out = run(&["list"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("KEY"), "{out}");
    assert!(out.stdout.contains("agent:main:scratch"), "{out}");

    let out = run(&["delete", "scratch"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("pass --yes"), "{out}");
    let out = run(&["delete", "scratch", "--dry-run"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout.trim(),
        "[dry-run] delete session agent:main:scratch"
    );

    let out = run(&["delete", "scratch", "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
    let mut lines = out.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("Deleted session agent:main:scratch."),
        "{out}"
    );
    let archived = lines
        .next()
        .and_then(|l| l.strip_prefix("Archived transcript: "))
        .expect("the archived path");
    assert!(std::path::Path::new(archived).exists(), "{out}");
    assert!(archived.contains(".jsonl.deleted."), "{out}");

    let out = run(&["delete", "scratch", "--yes"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("Session not found"), "{out}");
    let out = run(&["delete", "main", "--yes", "--json"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(out.json()["results"][0]["status"], "failed", "{out}");
    assert!(
        out.stdout
            .contains("Cannot delete the main session (agent:main:main)."),
        "{out}"
    );
}

/// Our `openclaw cron`, worded as OpenClaw's: `cron add` builds the job OpenClaw's CLI
/// would (an `--at` duration becomes an ISO time), `cron list` shows it, `cron run` runs it
/// and `cron runs` records the run, `cron disable` hides it from the plain list, `cron rm`
/// removes it; two schedules and an unknown id fail naming the problem.
#[test]
fn cli_cron_add_list_run_and_remove() {
    use serde_json::json;

    use crate::support::{WAIT, now_ms, retry_until};

    let gw = TestGateway::with_token("T");
    let home = CliHome::new();
    let url = gw.url();
    let cron = |args: &[&str]| {
        let mut all = vec!["cron"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--url", &url, "--token", "T"]);
        home.run(&all, &[])
    };
    // A table row's cells (columns are two or more spaces apart).
    let cells = |row: &str| -> Vec<String> {
        row.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };

    // Two schedules: refused before anything is sent.
    let out = cron(&[
        "add",
        "--name",
        "x",
        "--at",
        "20m",
        "--every",
        "1h",
        "--message",
        "hi",
    ]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("exactly one schedule, got --at and --every"),
        "{out}"
    );
    assert!(out.stderr.contains("Fix: "), "{out}");
    assert!(out.stdout.is_empty(), "{out}");

    let out = cron(&[
        "add",
        "--name",
        "Stretch",
        "--cron",
        "0 7 * * *",
        "--tz",
        "UTC",
        "--message",
        "stretch now",
        "--no-deliver",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    let job = out.json();
    let id = job["id"].as_str().expect("the job's id").to_owned();
    assert_eq!(
        job["schedule"],
        json!({"kind": "cron", "expr": "0 7 * * *", "tz": "UTC"}),
        "{out}"
    );
    assert_eq!(job["sessionTarget"], "isolated", "{out}");
    assert_eq!(job["wakeMode"], "now", "{out}");
    assert_eq!(
        job["payload"],
        json!({"kind": "agentTurn", "message": "stretch now"}),
        "{out}"
    );
    assert_eq!(job["delivery"]["mode"], "none", "{out}");
    assert_eq!(job["enabled"], true, "{out}");

    // `--at 20m`: now + 20 minutes as an ISO 8601 UTC time, a system event in main.
    let before = now_ms();
    let out = cron(&[
        "add",
        "--name",
        "Water",
        "--at",
        "20m",
        "--system-event",
        "drink water",
        "--json",
    ]);
    let after = now_ms();
    assert_eq!(out.code, Some(0), "{out}");
    let once = out.json();
    let once_id = once["id"].as_str().expect("the job's id").to_owned();
    let at = once["schedule"]["at"].as_str().expect("schedule.at");
    assert!(at.ends_with('Z') && at.contains('T'), "ISO UTC: {out}");
    let at_ms = openclaw::actors::cron::expr::parse_at(at).expect("the gateway reads it");
    let at_ms = u64::try_from(at_ms).expect("after the epoch");
    assert!(
        (before + 1_200_000..=after + 1_200_000).contains(&at_ms),
        "{at} is 20 minutes from now: {out}"
    );
    assert_eq!(once["sessionTarget"], "main", "{out}");
    assert_eq!(
        once["payload"],
        json!({"kind": "systemEvent", "text": "drink water"}),
        "{out}"
    );

    let out = cron(&["list"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("ID"), "{out}");
    let row = cells(line_starting(&out.stdout, &id));
    assert_eq!(row[..3], [&id, "Stretch", "cron 0 7 * * * @ UTC"], "{out}");
    assert!(row[3].starts_with("in "), "next run (daily): {out}");
    assert_eq!(row[4..], ["-", "idle", "isolated"], "{out}");
    let at_shown = format!("at {}Z", &at[..19]);
    assert_eq!(
        cells(line_starting(&out.stdout, &once_id)),
        [&once_id, "Water", &at_shown, "in 20m", "-", "idle", "main"],
        "{out}"
    );
    let out = cron(&["list", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["total"], 2, "{out}");

    // Not run yet; `cron run` runs it now and its run is logged with status ok.
    let out = cron(&["runs", "--id", &id]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout.trim(),
        format!("No runs of cron job {id} yet."),
        "{out}"
    );
    let out = cron(&["run", &id]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.starts_with(&format!("Started run cron:{id}:")),
        "{out}"
    );
    let entry = retry_until(WAIT, "the run in `cron runs`", || {
        let out = cron(&["runs", "--id", &id, "--json"]);
        assert_eq!(out.code, Some(0), "{out}");
        let e = out.json()["entries"][0].clone();
        e.is_object().then_some(e)
    });
    assert_eq!(entry["status"], "ok", "{entry}");
    assert_eq!(entry["jobId"], id.as_str(), "{entry}");
    let out = cron(&["runs", "--id", &id, "--limit", "5"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("WHEN"), "{out}");
    let run = cells(out.stdout.lines().nth(1).unwrap_or_default());
    assert_eq!(run[..2], ["<1m ago", "ok"], "{out}");
    assert_eq!(run[3], "not-requested", "{out}");
    let out = cron(&["list"]);
    assert_eq!(cells(line_starting(&out.stdout, &id))[5], "ok", "{out}");

    // Disabled: gone from the plain list, `--all` shows it.
    let out = cron(&["disable", &id]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout.trim(),
        format!("Disabled cron job {id} (Stretch)."),
        "{out}"
    );
    let out = cron(&["list"]);
    assert!(!out.stdout.contains(&id), "{out}");
    let out = cron(&["list", "--all"]);
    let row = cells(line_starting(&out.stdout, &id));
    assert_eq!(
        (row[1].as_str(), row[3].as_str(), row[5].as_str()),
        ("Stretch", "-", "disabled"),
        "{out}"
    );

    for job in [&id, &once_id] {
        let out = cron(&["rm", job]);
        assert_eq!(out.code, Some(0), "{out}");
        assert_eq!(
            out.stdout.trim(),
            format!("Removed cron job {job}."),
            "{out}"
        );
    }
    let out = cron(&["list", "--all", "--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["jobs"], json!([]), "{out}");
    let out = cron(&["list", "--all"]);
    assert_eq!(out.stdout.trim(), "No cron jobs.", "{out}");

    // An unknown id: not found, and how to find the right one.
    let out = cron(&["rm", &id]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!("cron job not found: {id}")),
        "{out}"
    );
    assert!(out.stderr.contains("openclaw cron list --all"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
}

/// Our `openclaw gateway stability` draws the gateway's stability ring (OpenClaw's
/// layout), prints it as JSON with `--json`, passes its filters, and a refused limit is a
/// non-zero exit naming the range.
#[test]
fn gateway_stability_draws_the_ring() {
    let gw = TestGateway::with_token("T");
    let url = gw.url();
    let home = CliHome::new();
    let conn = ["--url", url.as_str(), "--token", "T"];
    let run = |extra: &[&str]| {
        let mut args = vec!["gateway", "stability"];
        args.extend_from_slice(&conn);
        args.extend_from_slice(extra);
        home.run(&args, &[])
    };
    let out = run(&[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.starts_with("Gateway Stability\nEvents: "),
        "{out}"
    );
    assert!(out.stdout.contains("Memory: rss="), "{out}");
    assert!(
        out.stdout.contains(" diagnostic.memory.sample rss="),
        "{out}"
    );
    let out = run(&[
        "--json",
        "--type",
        "diagnostic.memory.sample",
        "--since-seq",
        "0",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["capacity"], 1000, "{out}");
    assert_eq!(v["events"][0]["type"], "diagnostic.memory.sample", "{out}");
    let out = run(&["--type", "no.such.type"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, "Gateway Stability\nEvents: 0/1000\n", "{out}");
    let out = run(&["--limit", "0"]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("limit must be between 1 and 1000"),
        "{out}"
    );
}

/// Our `openclaw doctor`: a config file holding the token and readable by others is
/// critical (exit 1) until `chmod 600`; the running gateway is found with the config's
/// port and token; `--json` lists the findings; what `gateway run` would refuse, and a
/// config that does not load, are critical too.
#[test]
fn doctor_finds_what_to_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let gw = TestGateway::with_token("T");
    let home = CliHome::with_config(&format!(
        "{{ gateway: {{ port: {}, auth: {{ token: \"T\" }} }} }}",
        gw.port
    ));
    let cfg = home.config_path();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = home.run(&["doctor"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout
            .contains("holds secrets and is readable by other users (mode 644)"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(&format!("Fix: chmod 600 {}", cfg.display())),
        "{out}"
    );
    assert!(
        out.stdout.contains("gateway.auth.token is 1 characters"),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "ok   [gateway] ws://127.0.0.1:{} answers",
            gw.port
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains("[activity] no errors among the last"),
        "{out}"
    );
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = home.run(&["doctor", "--json"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["ok"], true, "{out}");
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        findings.iter().all(|f| f["severity"] != "critical"),
        "{out}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["area"] == "gateway" && f["severity"] == "ok"),
        "{out}"
    );
    // Without the probe: nothing about the gateway.
    let out = home.run(&["doctor", "--no-probe"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(!out.stdout.contains("[gateway]"), "{out}");

    // A LAN bind without auth: the gateway would refuse to start.
    let lan = CliHome::with_config("{ gateway: { bind: \"lan\", auth: { mode: \"none\" } } }");
    let out = lan.run(&["doctor", "--no-probe"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout
            .contains("CRIT [config] the gateway would not start:"),
        "{out}"
    );
    // A config that does not load.
    let bad = CliHome::with_config("{ gateway: { port: \"many\" } }");
    let out = bad.run(&["doctor"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout
            .contains("CRIT [config] the config does not load:"),
        "{out}"
    );
}
