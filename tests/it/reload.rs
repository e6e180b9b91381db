//! Config hot reload against the real binary: edits of the config file (editor-style
//! write + rename) while clients are connected — token rotation, an invalid edit, a
//! Telegram allowlist change, a port change (in-process restart in `hybrid`, a log line in
//! `off`) — and the config RPCs and CLI that write the file.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::nodes::{ALL_OPERATOR, approve_surface};
use crate::support::fake_node::{Action, FakeNode, always, node_connect_params, random_key};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{
    CliHome, Incoming, TestGateway, WsClient, cli_params, free_port, replace_file,
};

const OLD: &str = "old-shared-token-0001";
const NEW: &str = "new-shared-token-0002";

fn token_config(token: &str) -> String {
    format!(
        "// gateway config\n{{\n  gateway: {{\n    auth: {{ token: \"{token}\" }},\n  }},\n}}\n"
    )
}

/// Whether a fresh operator handshake with `token` succeeds.
async fn can_connect(port: u16, token: &str) -> Result<(), Value> {
    let mut ws = WsClient::open(port).await;
    ws.challenge().await;
    let res = ws.connect(cli_params(token, &["operator.read"])).await;
    if res["ok"] == true { Ok(()) } else { Err(res) }
}

/// Waits (bounded) until `token` is accepted by new connections.
async fn wait_accepts(port: u16, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match can_connect(port, token).await {
            Ok(()) => return,
            Err(res) => assert!(
                Instant::now() < deadline,
                "token {token} still refused after 10 s: {res}"
            ),
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn token_rotation_by_file_edit_keeps_the_process_and_device_token_sessions() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&token_config(OLD)),
    );
    let pid = gw.pid();
    // A node that authenticates with its device token (paired with the shared one first)…
    let key = random_key();
    let first = FakeNode::connect(gw.port, &key, OLD, &["echo.test"], always(Action::Echo)).await;
    let device_token = first.hello["auth"]["deviceToken"]
        .as_str()
        .expect("paired node gets a device token")
        .to_owned();
    first.close();
    drop(first);
    let mut params = node_connect_params(&["echo.test"], json!({"deviceToken": device_token}));
    params["client"]["id"] = json!("node-host");
    let token_node = FakeNode::connect_with(gw.port, &key, params, always(Action::Echo))
        .await
        .expect("device-token node connects");
    // …a node and an operator on the shared secret.
    let other = random_key();
    let mut secret_node =
        FakeNode::connect(gw.port, &other, OLD, &["echo.test"], always(Action::Echo)).await;
    let (mut op, _) = WsClient::hello(gw.port, cli_params(OLD, ALL_OPERATOR)).await;
    approve_surface(&mut op, &token_node.node_id).await;

    replace_file(&gw.config_path(), &token_config(NEW));

    // The shared-secret sessions are closed with a clear reason…
    let (code, reason, _) = op.until_close().await;
    assert_eq!(code, Some(1012), "{reason}");
    assert_eq!(
        reason,
        "gateway auth changed: reconnect with the new token or password"
    );
    match secret_node.closed_within(Duration::from_secs(10)).await {
        Incoming::Close { code, reason } => {
            assert_eq!(code, Some(1012));
            assert!(reason.contains("gateway auth changed"), "{reason}");
        }
        other => panic!("shared-secret node: {other:?}"),
    }
    // …new connections need the new token…
    wait_accepts(gw.port, NEW).await;
    let refused = can_connect(gw.port, OLD)
        .await
        .expect_err("old token refused");
    assert_eq!(
        refused["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH",
        "{refused}"
    );
    // …the device-token node is still connected and answers invokes…
    let (mut op2, _) = WsClient::hello(gw.port, cli_params(NEW, ALL_OPERATOR)).await;
    let res = op2
        .request(
            "node.invoke",
            json!({"nodeId": token_node.node_id, "command": "echo.test", "params": {"x": 1},
                   "timeoutMs": 5000, "idempotencyKey": "after-rotation"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    // …and it is the same process, which logged what it applied.
    assert_eq!(gw.pid(), pid);
    let line = gw.wait_stderr_line(
        &["config reloaded from", "gateway.auth.token"],
        Duration::from_secs(5),
    );
    assert!(line.contains("closed 2 session(s)"), "{line}");
    assert!(
        !gw.stderr().contains(OLD) && !gw.stderr().contains(NEW),
        "{}",
        gw.stderr()
    );
}

#[actix_web::test]
async fn an_invalid_edit_is_rejected_and_the_old_config_keeps_working() {
    let mut gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&token_config(OLD)),
    );
    let path = gw.config_path();
    let file = path.display().to_string();
    // Broken JSON5.
    let broken = "{ gateway: { auth: { token: \"x\" }";
    replace_file(&path, broken);
    let line = gw.wait_stderr_line(
        &["config reload skipped (invalid config)", &file],
        Duration::from_secs(10),
    );
    assert!(
        line.contains("the last good config stays in force"),
        "{line}"
    );
    // A value of the wrong type: the key is named.
    let wrong_type =
        format!("{{gateway: {{auth: {{token: \"{NEW}\"}}, trustedProxies: \"10.0.0.1\"}}}}");
    replace_file(&path, &wrong_type);
    let line = gw.wait_stderr_line(
        &["invalid config", "key gateway.trustedProxies"],
        Duration::from_secs(10),
    );
    assert!(line.contains(&file), "{line}");
    // A semantic error: a trusted proxy that is not an address.
    let bad_proxy =
        format!("{{gateway: {{auth: {{token: \"{NEW}\"}}, trustedProxies: [\"proxy.example\"]}}}}");
    replace_file(&path, &bad_proxy);
    let line = gw.wait_stderr_line(
        &["gateway.trustedProxies", "proxy.example"],
        Duration::from_secs(10),
    );
    assert!(
        line.contains("config reload skipped (invalid config) in"),
        "{line}"
    );
    assert!(line.contains(&file), "{line}");
    // The old token still works, the one in the rejected file does not, the file is as the
    // user left it, and the gateway runs.
    can_connect(gw.port, OLD)
        .await
        .expect("old token still accepted");
    assert!(can_connect(gw.port, NEW).await.is_err());
    assert_eq!(
        std::fs::read_to_string(&path).expect("read config"),
        bad_proxy
    );
    assert!(gw.running());
    assert!(
        !gw.stderr().contains(NEW),
        "secret in the log: {}",
        gw.stderr()
    );
    // SIGHUP re-reads the (still invalid) file and rejects it again.
    let before = gw.stderr().matches("config reload skipped").count();
    gw.signal_hup();
    crate::support::retry_until(
        Duration::from_secs(10),
        "a second rejection after SIGHUP",
        || (gw.stderr().matches("config reload skipped").count() > before).then_some(()),
    );
    assert!(gw.running());
}

#[actix_web::test]
async fn a_telegram_allowlist_change_applies_without_restart() {
    use crate::telegram_flow::{GW_ARGS, config, dm, replies_to, wait_reply};
    let tg = FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let cfg = config(
        &tg,
        None,
        json!({"dmPolicy": "allowlist", "allowFrom": [5101]}),
    );
    let gw = TestGateway::start(GW_ARGS, &[], Some(&cfg));
    let pid = gw.pid();
    let friend = dm(&tg, 5101, "/help");
    wait_reply(&tg, friend, Duration::from_secs(10)).await;
    let stranger = dm(&tg, 5102, "/help");
    tg.wait_offset_async(stranger, Duration::from_secs(10))
        .await;
    assert!(replies_to(&tg, stranger).is_empty(), "{:?}", tg.sent());

    let cfg = config(
        &tg,
        None,
        json!({"dmPolicy": "allowlist", "allowFrom": [5101, 5102]}),
    );
    replace_file(&gw.config_path(), &cfg);
    gw.wait_stderr_line(
        &["config reloaded from", "channels.telegram.allowFrom"],
        Duration::from_secs(10),
    );
    let again = dm(&tg, 5102, "/help");
    let r = wait_reply(&tg, again, Duration::from_secs(10)).await;
    assert_eq!(r.chat_id(), Some(5102));
    assert_eq!(gw.pid(), pid);
    // The poll kept going: no second getMe, no lost offset.
    assert_eq!(tg.calls("getMe"), 1, "the channel was not restarted");
}

#[actix_web::test]
async fn a_port_change_in_hybrid_restarts_in_process_and_answers_on_the_new_port() {
    let p1 = free_port();
    let cfg = |port: u16| format!("{{gateway: {{port: {port}, auth: {{token: \"{OLD}\"}}}}}}");
    let gw = TestGateway::start(&["gateway", "run"], &[], Some(&cfg(p1)));
    assert_eq!(gw.port, p1);
    let pid = gw.pid();
    let lock = |gw: &TestGateway| -> Value {
        serde_json::from_slice(&std::fs::read(gw.owner_lock_path()).expect("lock file"))
            .expect("lock JSON")
    };
    let before = lock(&gw);
    assert_eq!(before["port"], p1, "{before}");
    let (mut op, _) = WsClient::hello(p1, cli_params(OLD, ALL_OPERATOR)).await;
    // A socket still in its handshake is closed too, so it reconnects to the new listener.
    let (mut waiting, _) = WsClient::open_challenged(p1).await;
    let p2 = free_port();
    replace_file(&gw.config_path(), &cfg(p2));

    let ev = op.event_within("shutdown", Duration::from_secs(10)).await;
    let reason = ev["payload"]["reason"].as_str().expect("reason");
    assert!(reason.contains("gateway.port"), "{ev}");
    assert!(reason.contains("restarting in-process"), "{ev}");
    assert_eq!(ev["payload"]["restartExpectedMs"], 1500, "{ev}");
    let (code, _, _) = op.until_close().await;
    assert_eq!(code, Some(1012));
    let (code, reason, _) = waiting.until_close().await;
    assert_eq!((code, reason.as_str()), (Some(1012), "service restart"));

    assert_eq!(gw.wait_new_port(p1, Duration::from_secs(10)), p2);
    let (mut op2, hello) = WsClient::hello(p2, cli_params(OLD, ALL_OPERATOR)).await;
    assert_eq!(hello["type"], "hello-ok", "{hello}");
    assert_eq!(
        hello["snapshot"]["health"]["gateway"]["port"], p2,
        "{hello}"
    );
    let h = op2.request("health", json!({})).await;
    assert_eq!(h["payload"]["ok"], true, "{h}");
    assert_eq!(gw.pid(), pid, "same process");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", p1)).is_err(),
        "the old port is closed"
    );
    let (status, _, body) = crate::support::http_request(p2, "GET", "/readyz", &[]);
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"ok":true,"status":"ready"}"#)
    );
    // OpenClaw's CLI finds the gateway by its lock file: it names the new port, same owner.
    let after = lock(&gw);
    assert_eq!(after["port"], p2, "{after}");
    assert_eq!(after["ownerId"], before["ownerId"], "{after}");
    assert_eq!(after["pid"], pid, "{after}");
    // A restart aimed at the old port is not for this gateway any more.
    let old_target = op2
        .request(
            "gateway.restart.request",
            json!({"target": {"pid": pid, "ownerId": before["ownerId"], "port": p1}}),
        )
        .await;
    assert_eq!(
        old_target["error"]["message"], "target gateway no longer owns the active lock",
        "{old_target}"
    );
}

#[actix_web::test]
async fn a_port_change_with_reload_off_is_only_logged() {
    let p1 = free_port();
    let cfg = |port: u16| {
        format!(
            "{{gateway: {{port: {port}, reload: {{mode: \"off\"}}, auth: {{token: \"{OLD}\"}}}}}}"
        )
    };
    let gw = TestGateway::start(&["gateway", "run"], &[], Some(&cfg(p1)));
    let (mut op, _) = WsClient::hello(p1, cli_params(OLD, ALL_OPERATOR)).await;
    replace_file(&gw.config_path(), &cfg(free_port()));
    let line = gw.wait_stderr_line(&["gateway.reload.mode is \"off\""], Duration::from_secs(10));
    assert!(line.contains("gateway.port need(s) a restart"), "{line}");
    let h = op.request("health", json!({})).await;
    assert_eq!(h["ok"], true, "still connected on the old port: {h}");
}

#[actix_web::test]
async fn config_rpcs_redact_secrets_check_base_hash_and_keep_comments() {
    let text = format!(
        "// owner's notes\n{{\n  gateway: {{\n    auth: {{ token: \"{OLD}\" }}, // rotate monthly\n  }},\n  models: {{ providers: {{ p: {{ baseUrl: \"http://127.0.0.1:9\", apiKey: \"sk-secret-key-1\", models: [{{id: \"m\"}}] }} }} }},\n}}\n"
    );
    let gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(&text));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(OLD, ALL_OPERATOR)).await;
    let got = op.request("config.get", json!({})).await;
    assert_eq!(got["ok"], true, "{got}");
    let p = &got["payload"];
    let dump = p.to_string();
    assert!(
        !dump.contains(OLD) && !dump.contains("sk-secret-key-1"),
        "secret leaked: {dump}"
    );
    assert_eq!(p["exists"], true);
    assert_eq!(p["valid"], true);
    assert_eq!(p["path"], gw.config_path().display().to_string());
    assert_eq!(
        p["parsed"]["gateway"]["auth"]["token"],
        "__OPENCLAW_REDACTED__"
    );
    assert_eq!(
        p["config"]["models"]["providers"]["p"]["apiKey"],
        "__OPENCLAW_REDACTED__"
    );
    assert!(
        p["raw"]
            .as_str()
            .expect("raw")
            .contains("// rotate monthly")
    );
    let hash = p["hash"].as_str().expect("hash").to_owned();

    // A read-only operator may not write.
    let (mut reader, _) = WsClient::hello(gw.port, cli_params(OLD, &["operator.read"])).await;
    let denied = reader
        .request(
            "config.patch",
            json!({"raw": "{gateway: {trustedProxies: [\"10.0.0.1\"]}}", "baseHash": hash}),
        )
        .await;
    assert_eq!(
        denied["error"]["message"], "missing scope: operator.admin",
        "{denied}"
    );
    // Without or with a stale baseHash: refused.
    let stale = op
        .request(
            "config.patch",
            json!({"raw": "{gateway: {trustedProxies: [\"10.0.0.1\"]}}", "baseHash": "0000"}),
        )
        .await;
    assert!(
        stale["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("config changed since last load"),
        "{stale}"
    );
    let missing = op.request("config.patch", json!({"raw": "{}"})).await;
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("base hash required"),
        "{missing}"
    );
    // An invalid patch is refused and the file is untouched.
    let invalid = op
        .request(
            "config.patch",
            json!({"raw": "{gateway: {trustedProxies: [\"nope\"]}}", "baseHash": hash}),
        )
        .await;
    assert_eq!(invalid["error"]["code"], "INVALID_REQUEST", "{invalid}");
    assert!(
        invalid["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("gateway.trustedProxies"),
        "{invalid}"
    );
    assert_eq!(
        std::fs::read_to_string(gw.config_path()).expect("read"),
        text
    );
    // A valid patch: only that value changes in the text; comments and secrets stay.
    let ok = op
        .request(
            "config.patch",
            json!({"raw": "{gateway: {trustedProxies: [\"10.0.0.1\"]}}", "baseHash": hash}),
        )
        .await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(
        ok["payload"]["changedPaths"],
        json!(["gateway.trustedProxies"]),
        "{ok}"
    );
    let after = std::fs::read_to_string(gw.config_path()).expect("read");
    assert!(
        after.contains("// owner's notes") && after.contains("// rotate monthly"),
        "{after}"
    );
    assert!(
        after.contains(OLD) && after.contains("sk-secret-key-1"),
        "{after}"
    );
    let v: Value = json5::from_str(&after).expect("still JSON5");
    assert_eq!(v["gateway"]["trustedProxies"], json!(["10.0.0.1"]));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(gw.config_path())
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // config.set sending the redacted token back keeps the stored one.
    let got = op.request("config.get", json!({})).await;
    let hash = got["payload"]["hash"].as_str().expect("hash").to_owned();
    let raw = got["payload"]["raw"].as_str().expect("raw").to_owned();
    let set = op
        .request("config.set", json!({"raw": raw, "baseHash": hash}))
        .await;
    assert_eq!(set["ok"], true, "{set}");
    let v: Value =
        json5::from_str(&std::fs::read_to_string(gw.config_path()).expect("read")).expect("json5");
    assert_eq!(v["gateway"]["auth"]["token"], OLD);
    assert_eq!(v["models"]["providers"]["p"]["apiKey"], "sk-secret-key-1");
    // The patch applied live (hot): the gateway logged it, nothing restarted.
    gw.wait_stderr_line(
        &["config reloaded from", "gateway.trustedProxies"],
        Duration::from_secs(10),
    );
}

#[test]
fn config_cli_get_set_unset_validate_file() {
    let home = CliHome::with_config(
        "// keep me\n{gateway: {port: 18001, auth: {token: \"cli-secret-tok\"}}}\n",
    );
    let path = home.config_path();
    let out = home.run(&["config", "file"], &[]);
    assert_eq!(out.stdout.trim(), path.display().to_string(), "{out}");
    let out = home.run(&["config", "get", "gateway.port"], &[]);
    assert_eq!((out.code, out.stdout.trim()), (Some(0), "18001"), "{out}");
    let out = home.run(&["config", "get", "gateway.auth.token"], &[]);
    assert_eq!(out.stdout.trim(), "__OPENCLAW_REDACTED__", "{out}");
    let out = home.run(&["config", "set", "gateway.port", "18002"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = home.run(
        &[
            "config",
            "set",
            "gateway.trustedProxies",
            "[\"10.1.0.0/16\"]",
        ],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.starts_with("// keep me\n"), "{text}");
    let v: Value = json5::from_str(&text).expect("json5");
    assert_eq!(v["gateway"]["port"], 18002);
    assert_eq!(v["gateway"]["trustedProxies"], json!(["10.1.0.0/16"]));
    // A value the gateway would refuse is refused and nothing is written.
    let out = home.run(&["config", "set", "gateway.bind", "moon"], &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(out.stderr.contains("gateway.bind"), "{out}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    let out = home.run(&["config", "unset", "gateway.trustedProxies"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = home.run(&["config", "get", "gateway.trustedProxies"], &[]);
    assert_eq!(out.stdout.trim(), "[]", "{out}");
    let out = home.run(&["config", "validate"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    std::fs::write(&path, "{gateway: {port: 'x'}}").expect("write");
    let out = home.run(&["config", "validate"], &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(out.stderr.contains("gateway.port"), "{out}");
    let out = home.run(&["config", "unset", "nope.nothing"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
}

#[actix_web::test]
async fn proxies_origins_and_pairing_policy_apply_to_the_next_connection() {
    let cfg = |extra: &str| format!("{{gateway: {{auth: {{token: \"{OLD}\"}}{extra}}}}}");
    let gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(&cfg("")));
    let port = gw.port;
    let origin_connect = |origin: &'static str| async move {
        let mut c = WsClient::open_with(port, &[("Origin", origin)])
            .await
            .expect("upgrade");
        c.challenge().await;
        c.connect(cli_params(OLD, &["operator.read"])).await
    };
    // Before: forwarded headers from loopback are refused, the origin is not allowed.
    let refused = crate::support::raw_upgrade(port, &[("X-Forwarded-For", "203.0.113.9")]);
    assert_eq!(refused.status, 403, "{refused:?}");
    let res = origin_connect("https://ui.example").await;
    assert_eq!(
        res["error"]["details"]["code"], "CONTROL_UI_ORIGIN_NOT_ALLOWED",
        "{res}"
    );
    let (mut op, _) = WsClient::hello(port, cli_params(OLD, ALL_OPERATOR)).await;

    replace_file(
        &gw.config_path(),
        &cfg(
            ", trustedProxies: [\"127.0.0.1\"], controlUi: {allowedOrigins: [\"https://ui.example\"]}, nodes: {pairing: {autoApproveLocal: false}}",
        ),
    );
    let line = gw.wait_stderr_line(&["config reloaded from"], Duration::from_secs(10));
    for key in [
        "gateway.trustedProxies",
        "gateway.controlUi.allowedOrigins",
        "gateway.nodes.pairing.autoApproveLocal",
    ] {
        assert!(line.contains(key), "{key} not in {line}");
    }
    assert!(!line.contains("closed"), "no session closed: {line}");
    // After: the proxy is trusted, the origin allowed, a new local device waits for approval.
    let ok = crate::support::raw_upgrade(port, &[("X-Forwarded-For", "203.0.113.9")]);
    assert_eq!(ok.status, 101, "{ok:?}");
    let res = origin_connect("https://ui.example").await;
    assert_eq!(res["ok"], true, "{res}");
    let params = node_connect_params(&["echo.test"], json!({"token": OLD}));
    let waiting = FakeNode::connect_with(port, &random_key(), params, always(Action::Echo))
        .await
        .err()
        .expect("a new local device is no longer paired silently");
    assert!(
        waiting["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("pairing required"),
        "{waiting}"
    );
    // The operator connected before the edit is still there.
    let h = op.request("health", json!({})).await;
    assert_eq!(h["ok"], true, "{h}");
}

#[actix_web::test]
async fn a_model_provider_change_applies_to_the_next_run() {
    use crate::support::fake_openai::FakeOpenAi;
    use crate::telegram_flow::{GW_ARGS, config, dm, wait_reply};
    let tg = FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let (a, b) = (FakeOpenAi::start(), FakeOpenAi::start());
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&tg, Some(&a), json!({}))));
    a.push_text("answer from A");
    let first = dm(&tg, 5201, "hello");
    assert_eq!(
        wait_reply(&tg, first, Duration::from_secs(10)).await.text(),
        "answer from A"
    );

    b.push_text("answer from B");
    replace_file(&gw.config_path(), &config(&tg, Some(&b), json!({})));
    gw.wait_stderr_line(
        &["config reloaded from", "models.providers.fake.baseUrl"],
        Duration::from_secs(10),
    );
    let second = dm(&tg, 5201, "again");
    assert_eq!(
        wait_reply(&tg, second, Duration::from_secs(10))
            .await
            .text(),
        "answer from B"
    );
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
}

/// A new bot token (and API root) applies in place: the account goes on with the new bot
/// (it identifies itself and polls anew; the old bot is not polled any more), in the same
/// process, and the token is never logged. An account added starts, and stops when removed.
#[actix_web::test]
async fn a_bot_token_change_swaps_the_bot_in_place() {
    use crate::telegram_flow::{GW_ARGS, config, dm, wait_reply};
    let tg = FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&tg, None, json!({}))));
    let pid = gw.pid();
    let first = dm(&tg, 5301, "/help");
    wait_reply(&tg, first, Duration::from_secs(10)).await;

    // Another bot (id 999), at another API root.
    let new_token = "999:NEW-bot-token-never-logged";
    let other = FakeTelegram::start_with_username(new_token, "the_new_bot");
    replace_file(&gw.config_path(), &config(&other, None, json!({})));
    let line = gw.wait_stderr_line(
        &["config reloaded from", "channels.telegram.botToken"],
        Duration::from_secs(10),
    );
    assert!(line.contains("channels.telegram.apiRoot"), "{line}");
    let reply = {
        let id = dm(&other, 5302, "/help");
        wait_reply(&other, id, Duration::from_secs(10)).await
    };
    assert_eq!(reply.chat_id(), Some(5302));
    assert_eq!(gw.pid(), pid, "no restart");
    assert_eq!(other.calls("getMe"), 1);
    gw.wait_stderr_line(&["now another bot's", "999"], Duration::from_secs(10));
    assert!(!gw.stderr().contains("NEW-bot-token"), "{}", gw.stderr());
    assert!(
        !gw.stderr().contains("needs a gateway restart"),
        "{}",
        gw.stderr()
    );
    // The old bot is not polled any more: a message to it stays unconfirmed and unanswered
    // while the new bot answers the next one (its poll ran meanwhile).
    let polls = tg.calls("getUpdates");
    let to_old = dm(&tg, 5303, "/help");
    let id = dm(&other, 5302, "/status");
    wait_reply(&other, id, Duration::from_secs(10)).await;
    let id = dm(&other, 5302, "/help");
    wait_reply(&other, id, Duration::from_secs(10)).await;
    assert!(
        tg.calls("getUpdates") <= polls + 1,
        "one poll of the old bot may have been in flight"
    );
    assert!(crate::telegram_flow::replies_to(&tg, to_old).is_empty());
    // And the new bot is polled by one loop only (two would end each other's polls with
    // Telegram's 409 conflict).
    let seen = other.calls("getUpdates");
    other
        .wait_polls_async(seen + 3, Duration::from_secs(20))
        .await;
    assert!(
        !gw.stderr().contains("terminated by other getUpdates"),
        "{}",
        gw.stderr()
    );

    // A new account starts in place, with its own bot; removed again, it stops.
    let work = FakeTelegram::start_with_username("777:WORK-token-never-logged", "work_bot");
    let mut two: Value = serde_json::from_str(&config(&other, None, json!({}))).expect("cfg");
    two["channels"]["telegram"]["accounts"] = json!({"work": {
        "botToken": "777:WORK-token-never-logged", "apiRoot": work.api_root()}});
    replace_file(&gw.config_path(), &two.to_string());
    gw.wait_stderr_line(
        &["telegram account(s) started: work"],
        Duration::from_secs(10),
    );
    let id = dm(&work, 5304, "/help");
    assert_eq!(
        wait_reply(&work, id, Duration::from_secs(10))
            .await
            .chat_id(),
        Some(5304)
    );
    let id = dm(&other, 5302, "/help");
    wait_reply(&other, id, Duration::from_secs(10)).await;
    let mut op = crate::telegram_flow::admin(&gw).await;
    let status = op.request("channels.status", json!({})).await;
    let accounts = &status["payload"]["channels"]["telegram"]["accounts"];
    assert_eq!(accounts["work"]["running"], true, "{status}");
    // Removed while a reply of its is on its way (Telegram's answer held): the account lets
    // the delivery settle and saves its message as answered before it stops, so adding it
    // back would not answer it again.
    work.hold_send_responses(true);
    let in_flight = dm(&work, 5304, "/help");
    wait_reply(&work, in_flight, Duration::from_secs(10)).await;
    replace_file(&gw.config_path(), &config(&other, None, json!({})));
    gw.wait_stderr_line(
        &["telegram[work]: removed from the config; the account stops"],
        Duration::from_secs(10),
    );
    let work_state = gw.dir.path().join("channels/telegram/work.json");
    let pending = || -> Value {
        std::fs::read(&work_state)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map_or(Value::Null, |v| v["pending"].clone())
    };
    assert_eq!(pending().as_array().map(Vec::len), Some(1), "{}", pending());
    work.hold_send_responses(false);
    crate::telegram_flow::poll_until(
        Duration::from_secs(10),
        "the removed account's answered message saved",
        || (pending() == json!([])).then_some(()),
    )
    .await;
    assert_eq!(crate::telegram_flow::replies_to(&work, in_flight).len(), 1);
    let status = op.request("channels.status", json!({})).await;
    let accounts = &status["payload"]["channels"]["telegram"]["accounts"];
    assert!(accounts.get("work").is_none(), "{status}");
    assert_eq!(accounts["default"]["running"], true, "{status}");
    assert!(!gw.stderr().contains("WORK-token"), "{}", gw.stderr());
    assert!(
        !gw.stderr().contains("needs a gateway restart"),
        "{}",
        gw.stderr()
    );
    assert_eq!(gw.pid(), pid, "no restart");
}

/// Turning webhook mode on and off by a config edit applies in place too: the account
/// registers its webhook (and stops polling), takes updates posted with the secret, and back
/// in polling mode removes the webhook and polls again.
#[actix_web::test]
async fn webhook_mode_can_be_turned_on_and_off_without_restart() {
    use crate::telegram_flow::{GW_ARGS, admin, config, dm, poll_until, wait_reply};
    let tg = FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&tg, None, json!({}))));
    let pid = gw.pid();
    let first = dm(&tg, 5401, "/help");
    wait_reply(&tg, first, Duration::from_secs(10)).await;

    let (url, secret) = (
        "https://bot.example.invalid/telegram-webhook",
        "whs-reload-0123456789",
    );
    replace_file(
        &gw.config_path(),
        &config(
            &tg,
            None,
            json!({"webhookUrl": url, "webhookSecret": secret}),
        ),
    );
    let hook = poll_until(Duration::from_secs(10), "setWebhook", || tg.webhook()).await;
    assert_eq!(
        (hook.url.as_str(), hook.secret_token.as_deref()),
        (url, Some(secret))
    );
    let msg = tg.message(5401, 5401, "/help");
    let mid = msg.message_id;
    let res = awc::Client::default()
        .post(format!("http://127.0.0.1:{}/telegram-webhook", gw.port))
        .insert_header(("X-Telegram-Bot-Api-Secret-Token", secret))
        .send_json(&json!({"update_id": tg.take_update_id(), "message": msg}))
        .await
        .expect("POST the webhook");
    assert_eq!(res.status().as_u16(), 200);
    wait_reply(&tg, mid, Duration::from_secs(10)).await;
    let mut op = admin(&gw).await;
    let status = op.request("channels.status", json!({})).await;
    let acc = &status["payload"]["channels"]["telegram"]["accounts"]["default"];
    assert_eq!(acc["mode"], "webhook", "{status}");
    assert!(!gw.stderr().contains(secret), "{}", gw.stderr());

    // Back to polling: the webhook is removed and messages are polled again.
    replace_file(&gw.config_path(), &config(&tg, None, json!({})));
    poll_until(Duration::from_secs(10), "deleteWebhook", || {
        tg.webhook().is_none().then_some(())
    })
    .await;
    let again = dm(&tg, 5401, "/help");
    wait_reply(&tg, again, Duration::from_secs(10)).await;
    let status = op.request("channels.status", json!({})).await;
    let acc = &status["payload"]["channels"]["telegram"]["accounts"]["default"];
    assert_eq!(acc["mode"], "polling", "{status}");
    assert_eq!(gw.pid(), pid, "no restart");
}

/// `cron.enabled` is applied in place: off, a due job does not run on its schedule; on
/// again, it runs (same process).
#[actix_web::test]
async fn cron_enabled_applies_without_restart() {
    let cfg = |on: bool| {
        format!(
            "{{\n  gateway: {{ auth: {{ token: \"{OLD}\" }} }},\n  cron: {{ enabled: {on} }},\n}}\n"
        )
    };
    let gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(&cfg(false)));
    let pid = gw.pid();
    let (mut op, _) = WsClient::hello(gw.port, cli_params(OLD, ALL_OPERATOR)).await;
    let status = op.request("cron.status", json!({})).await;
    assert_eq!(status["payload"]["enabled"], false, "{status}");
    let add = op
        .request(
            "cron.add",
            json!({"name": "due now", "schedule": {"kind": "at", "at": "2020-01-01T00:00:00Z"},
                "payload": {"kind": "agentTurn", "message": "/help"}, "delivery": {"mode": "none"}}),
        )
        .await;
    assert_eq!(add["ok"], true, "{add}");
    let id = add["payload"]["id"].as_str().expect("job id").to_owned();
    // Its time has passed, so it is due at once; with the scheduler off it waits.
    let runs = op.request("cron.runs", json!({"id": id})).await;
    assert_eq!(runs["payload"]["total"], 0, "{runs}");

    replace_file(&gw.config_path(), &cfg(true));
    gw.wait_stderr_line(
        &["config reloaded from", "cron.enabled"],
        Duration::from_secs(10),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let runs = op.request("cron.runs", json!({"id": id})).await;
        if runs["payload"]["total"] == 1 {
            // A one-shot job that ran is removed (deleteAfterRun).
            assert_eq!(runs["payload"]["entries"][0]["status"], "ok", "{runs}");
            break;
        }
        assert!(Instant::now() < deadline, "the job never ran: {runs}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let status = op.request("cron.status", json!({})).await;
    assert_eq!(status["payload"]["enabled"], true, "{status}");
    assert_eq!(gw.pid(), pid);
}

/// `agents.defaults.heartbeat` applies in place: off at start (no beat), on after a config
/// edit (a beat is reported by `last-heartbeat`), same process.
#[actix_web::test]
async fn a_heartbeat_change_applies_without_restart() {
    let cfg = |every: &str| {
        format!(
            "{{\n  gateway: {{ auth: {{ token: \"{OLD}\" }} }},\n  agents: {{ defaults: {{ heartbeat: {{ every: \"{every}\" }} }} }},\n}}\n"
        )
    };
    let gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(&cfg("0m")));
    let pid = gw.pid();
    let (mut op, _) = WsClient::hello(gw.port, cli_params(OLD, ALL_OPERATOR)).await;
    let last = op.request("last-heartbeat", json!({})).await;
    assert_eq!(last["payload"], Value::Null, "off: no beat yet: {last}");

    replace_file(&gw.config_path(), &cfg("1s"));
    gw.wait_stderr_line(
        &["config reloaded from", "agents.defaults.heartbeat.every"],
        Duration::from_secs(10),
    );
    let ev = op.event_within("heartbeat", Duration::from_secs(10)).await;
    // The embedded command agent answers the prompt; the default target is none.
    assert_eq!(ev["payload"]["status"], "skipped", "{ev}");
    assert_eq!(ev["payload"]["reason"], "target-none", "{ev}");
    let last = op.request("last-heartbeat", json!({})).await;
    assert_eq!(last["payload"]["status"], "skipped", "{last}");
    assert_eq!(gw.pid(), pid);
}

/// A key rotated in the config's `env.vars` (used through `${VAR}`) applies to the next run
/// without a restart, and the log names the key, never its value.
#[actix_web::test]
async fn a_key_rotated_in_env_vars_applies_to_the_next_run() {
    use crate::support::fake_openai::FakeOpenAi;
    use crate::telegram_flow::{GW_ARGS, dm, wait_reply};
    let tg = FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = |key: &str| {
        let mut c: Value =
            serde_json::from_str(&crate::telegram_flow::config(&tg, Some(&ai), json!({})))
                .expect("flow config");
        c["env"] = json!({"vars": {"ROTATING_API_KEY": key}});
        c["models"]["providers"]["fake"]["apiKey"] = json!("${ROTATING_API_KEY}");
        c.to_string()
    };
    let gw = TestGateway::start(GW_ARGS, &[], Some(&cfg("sk-old-0001")));
    ai.push_text("one");
    let first = dm(&tg, 5301, "hello");
    wait_reply(&tg, first, Duration::from_secs(10)).await;

    replace_file(&gw.config_path(), &cfg("sk-new-0002"));
    gw.wait_stderr_line(
        &["config reloaded from", "env.vars.ROTATING_API_KEY"],
        Duration::from_secs(10),
    );
    ai.push_text("two");
    let second = dm(&tg, 5301, "again");
    wait_reply(&tg, second, Duration::from_secs(10)).await;
    let auth: Vec<Option<String>> = ai.recorded().into_iter().map(|r| r.authorization).collect();
    assert_eq!(
        auth,
        [
            Some("Bearer sk-old-0001".to_owned()),
            Some("Bearer sk-new-0002".to_owned())
        ]
    );
    assert!(!gw.stderr().contains("sk-new-0002") && !gw.stderr().contains("sk-old-0001"));
}

/// One failed connect with `token` (the socket is closed after its error), and that error.
async fn failed_connect(port: u16, token: &str) -> Value {
    let (mut c, _) = WsClient::open_challenged(port).await;
    c.send_request("connect", cli_params(token, &["operator.read"]))
        .await;
    let (code, _, before) = c.until_close().await;
    assert_eq!(code, Some(1008), "{before:?}");
    before.into_iter().next().unwrap_or(Value::Null)
}

#[actix_web::test]
async fn the_auth_rate_limit_applies_without_restart() {
    let cfg =
        |limit: &str| format!("{{gateway: {{auth: {{token: \"{OLD}\", rateLimit: {limit}}}}}}}");
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&cfg("{exemptLoopback: false, maxAttempts: 50}")),
    );
    let pid = gw.pid();
    // Four failures, none locked out at 50 per window (a locked-out client is told
    // AUTH_RATE_LIMITED whatever it sends).
    for _ in 0..4 {
        let res = failed_connect(gw.port, "WRONG").await;
        assert_eq!(
            res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH",
            "{res}"
        );
    }

    // Three failures per window now: the four counted before the edit still count, so the
    // next failure locks the client out, for the new lockout time.
    replace_file(
        &gw.config_path(),
        &cfg("{exemptLoopback: false, maxAttempts: 3, lockoutMs: 600000}"),
    );
    let line = gw.wait_stderr_line(
        &["config reloaded from", "gateway.auth.rateLimit"],
        Duration::from_secs(10),
    );
    assert!(!line.contains("restart"), "{line}");
    failed_connect(gw.port, "WRONG").await;
    let res = failed_connect(gw.port, OLD).await;
    assert_eq!(
        res["error"]["details"]["code"], "AUTH_RATE_LIMITED",
        "{res}"
    );
    let retry = res["error"]["retryAfterMs"].as_u64().unwrap_or(0);
    assert!(retry > 300_000, "the new 10 min lockout: {res}");

    // Loopback exempt again: this local client is let in at once, lockout or not.
    replace_file(
        &gw.config_path(),
        &cfg("{exemptLoopback: true, maxAttempts: 3, lockoutMs: 600000}"),
    );
    gw.wait_stderr_line(
        &[
            "config reloaded from",
            "gateway.auth.rateLimit.exemptLoopback",
        ],
        Duration::from_secs(10),
    );
    can_connect(gw.port, OLD)
        .await
        .expect("exempt loopback client");
    assert_eq!(gw.pid(), pid);
    assert!(
        !gw.stderr().contains("needs a gateway restart"),
        "{}",
        gw.stderr()
    );
}

/// Waits until the config watcher has made its first pass: it answers `secrets.reload`
/// only from its loop, which starts after that pass. The first pass reloads the file as
/// at start, `<state>/.env` included (an edit made while the gateway started is caught
/// there), so a test that rotates a secret on disk and expects nothing to change until
/// it asks must rotate after it.
async fn watcher_started(port: u16, token: &str) {
    let (mut op, _) = WsClient::hello(port, cli_params(token, ALL_OPERATOR)).await;
    let res = op.request("secrets.reload", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
}

/// `secrets.reload` (the real CLI's `openclaw secrets reload`, see `interop.rs`): the bot
/// token is rotated in its `tokenFile` (the bot's old token revoked, as BotFather does) and
/// the model key in `<state>/.env`, with the config file and the files' paths unchanged.
/// Nothing changes until the call; after it, the next turn reaches the bot with the new
/// token and the model with the new key, in the same process. A `.env` that no longer
/// resolves is refused, changes nothing and logs no secret. Read scope is refused. A SIGHUP
/// notices a token file rewritten in place too.
#[actix_web::test]
async fn secrets_reload_reads_token_files_and_the_dotenv_again() {
    use std::os::unix::fs::PermissionsExt as _;

    use crate::support::fake_openai::FakeOpenAi;
    use crate::telegram_flow::{GW_ARGS, TG_TOKEN, admin, config, dm, wait_reply};
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let dir = tempfile::tempdir().expect("state dir");
    let private = |name: &str, text: &str| {
        let p = dir.path().join(name);
        replace_file(&p, text);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    };
    private(".env", "ROTATING_API_KEY=sk-old-0001\n");
    let token_file = private("bot.token", &format!("{TG_TOKEN}\n"));
    let mut cfg: Value = serde_json::from_str(&config(
        &tg,
        Some(&ai),
        json!({"botToken": null, "tokenFile": token_file}),
    ))
    .expect("flow config");
    cfg["models"]["providers"]["fake"]["apiKey"] =
        json!({"source": "env", "provider": "default", "id": "ROTATING_API_KEY"});
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&cfg.to_string()));
    let pid = gw.pid();
    ai.push_text("one");
    let first = dm(&tg, 5401, "hello");
    wait_reply(&tg, first, Duration::from_secs(10)).await;
    watcher_started(gw.port, crate::telegram_flow::GW_TOKEN).await;

    // Rotated on disk; the gateway goes on with what it resolved until asked.
    let rotated = "777002:AAH-rotated_TOKEN_secret";
    tg.revoke_token(rotated);
    let dir = gw.dir.path().to_path_buf();
    let private = |name: &str, text: &str| {
        let p = dir.join(name);
        replace_file(&p, text);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    };
    private("bot.token", &format!("{rotated}\n"));
    private(".env", "ROTATING_API_KEY=sk-new-0002\n");

    let mut reader = WsClient::hello(
        gw.port,
        cli_params(crate::telegram_flow::GW_TOKEN, &["operator.read"]),
    )
    .await
    .0;
    let res = reader.request("secrets.reload", json!({})).await;
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(
        res["error"]["message"], "missing scope: operator.admin",
        "{res}"
    );

    // Our CLI asks (the real one's `openclaw secrets reload` is in interop.rs).
    let home = CliHome::new();
    let url = gw.url();
    let ours = |extra: &[&str]| {
        let mut args = vec!["secrets", "reload", "--url", url.as_str(), "--token"];
        args.push(crate::telegram_flow::GW_TOKEN);
        args.extend_from_slice(extra);
        home.run(&args, &[])
    };
    let out = ours(&["--json"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json(), json!({"ok": true, "warningCount": 0}), "{out}");
    let line = gw.wait_stderr_line(&["secrets reloaded: applied"], Duration::from_secs(10));
    assert!(line.contains("models.providers.fake.apiKey"), "{line}");
    assert!(
        line.contains("telegram account default's bot token (tokenFile)"),
        "{line}"
    );
    ai.push_text("two");
    let second = dm(&tg, 5401, "again");
    wait_reply(&tg, second, Duration::from_secs(10)).await;
    let auth: Vec<Option<String>> = ai.recorded().into_iter().map(|r| r.authorization).collect();
    assert_eq!(
        auth,
        [
            Some("Bearer sk-old-0001".to_owned()),
            Some("Bearer sk-new-0002".to_owned())
        ]
    );

    // A `.env` that loses the variable: refused, and the key in force stays.
    private(".env", "# emptied\n");
    let mut op = admin(&gw).await;
    let res = op.request("secrets.reload", json!({})).await;
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(res["error"]["code"], "UNAVAILABLE", "{res}");
    assert_eq!(res["error"]["message"], "secrets.reload failed", "{res}");
    let line = gw.wait_stderr_line(&["secrets.reload failed"], Duration::from_secs(10));
    assert!(
        line.contains("ROTATING_API_KEY") && line.contains("the secrets in force stay"),
        "{line}"
    );
    let out = ours(&[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("Could not reload secrets: secrets.reload failed")
            && out.stderr.contains("Nothing changed."),
        "{out}"
    );
    ai.push_text("three");
    let third = dm(&tg, 5401, "still there?");
    wait_reply(&tg, third, Duration::from_secs(10)).await;
    assert_eq!(
        ai.recorded()
            .last()
            .and_then(|r| r.authorization.clone())
            .as_deref(),
        Some("Bearer sk-new-0002")
    );

    // A token file rewritten in place is noticed by a SIGHUP (or any config reload) too.
    private(".env", "ROTATING_API_KEY=sk-new-0002\n");
    let again = "777002:AAH-third_TOKEN_secret";
    tg.revoke_token(again);
    private("bot.token", &format!("{again}\n"));
    gw.signal("HUP");
    gw.wait_stderr_line(
        &[
            "config reloaded from",
            "telegram account default's bot token (tokenFile)",
        ],
        Duration::from_secs(10),
    );
    ai.push_text("four");
    let fourth = dm(&tg, 5401, "and now?");
    wait_reply(&tg, fourth, Duration::from_secs(10)).await;

    assert_eq!(gw.pid(), pid, "no restart");
    let log = gw.stderr();
    for secret in [
        "sk-old-0001",
        "sk-new-0002",
        "AAH-flow_TOKEN",
        "AAH-rotated",
        "AAH-third",
    ] {
        assert!(!log.contains(secret), "{secret} logged:\n{log}");
    }
}

/// A shared secret taken from `<state>/.env` and rotated there: `secrets.reload` answers
/// its caller first, then closes the sessions that authenticated with the old secret (the
/// caller's among them) with the reason; new connections need the new one.
#[actix_web::test]
async fn secrets_reload_of_the_shared_token_answers_before_it_closes_the_caller() {
    let dir = tempfile::tempdir().expect("state dir");
    std::fs::write(
        dir.path().join(".env"),
        format!("ROTATING_GW_TOKEN={OLD}\n"),
    )
    .expect(".env");
    let gw = TestGateway::start_in(
        dir,
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "${ROTATING_GW_TOKEN}"}}}"#),
    );
    let mut op = WsClient::hello(gw.port, cli_params(OLD, ALL_OPERATOR))
        .await
        .0;
    watcher_started(gw.port, OLD).await;
    replace_file(
        &gw.dir.path().join(".env"),
        &format!("ROTATING_GW_TOKEN={NEW}\n"),
    );
    // Untouched until asked.
    can_connect(gw.port, OLD)
        .await
        .expect("old token until the reload");
    let id = op.send_request("secrets.reload", json!({})).await;
    let res = op.response(&id).await;
    // The one warning: `.env` is readable by others (written 0644 above).
    assert_eq!(
        res["payload"],
        json!({"ok": true, "warningCount": 1}),
        "{res}"
    );
    let (code, reason, _) = op.until_close().await;
    assert_eq!(code, Some(1012), "{reason}");
    assert_eq!(
        reason,
        "gateway auth changed: reconnect with the new token or password"
    );
    wait_accepts(gw.port, NEW).await;
    let refused = can_connect(gw.port, OLD)
        .await
        .expect_err("old token refused");
    assert_eq!(
        refused["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH",
        "{refused}"
    );
    gw.wait_stderr_line(
        &["secrets reloaded: applied gateway.auth.token"],
        Duration::from_secs(10),
    );
    gw.wait_stderr_line(
        &[".env can be read by other users", "chmod 600"],
        Duration::from_secs(10),
    );
    assert!(
        !gw.stderr().contains(NEW) && !gw.stderr().contains(OLD),
        "{}",
        gw.stderr()
    );
}
