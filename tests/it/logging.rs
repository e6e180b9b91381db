//! Logs against the real binary: a whole flow with every kind of secret configured
//! (gateway token and password, remote token, device tokens, Telegram bot token, model API
//! key, a rotated token) at debug level, then every log output — stderr, stdout, the
//! rolling file log and its archives, `logs.tail` and `openclaw logs --json` — is searched
//! for each secret; and `logs.tail`'s cursor, limits and params.

use std::time::Duration;

use serde_json::{Value, json};

use crate::nodes::{ALL_OPERATOR, approve_surface};
use crate::support::fake_node::{Action, FakeNode, always, node_connect_params, random_key};
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{CliHome, TestGateway, WsClient, cli_params, replace_file};
use crate::telegram_flow::{dm, wait_reply};

const GW_TOKEN: &str = "gwtok-Secret-1111";
const GW_PASSWORD: &str = "gwpass-Secret-2222";
const REMOTE_TOKEN: &str = "remote-Secret-3333";
const ROTATED: &str = "gwtok-Rotated-4444";
const BOT_TOKEN: &str = "555001:AAH-bot_Secret-5555";
const API_KEY: &str = "sk-apikey-Secret-6666";

fn config(tg: &FakeTelegram, ai: &FakeOpenAi, token: &str) -> String {
    json!({
        "gateway": {
            "auth": {"mode": "token", "token": token, "password": GW_PASSWORD},
            "remote": {"token": REMOTE_TOKEN},
        },
        "logging": {"file": "logs/gateway.log", "level": "debug", "maxFileBytes": 65536},
        "channels": {"telegram": {"enabled": true, "botToken": BOT_TOKEN, "apiRoot": tg.api_root(),
            "pollTimeoutSeconds": 1, "dmPolicy": "open", "allowFrom": ["*"],
            "replyToMode": "first"}},
        "models": {"providers": {"fake": {"baseUrl": ai.base_url(), "apiKey": API_KEY,
            "api": "openai-completions", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "fake/m"},
            "tools": {"nodes": {"allowCommands": ["echo.test"]}}}},
    })
    .to_string()
}

/// Every file under `dir` whose name starts with `gateway.log`, concatenated.
fn file_logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with("gateway.log") {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

#[actix_web::test]
async fn no_secret_reaches_any_log_output() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let ai = FakeOpenAi::start_with_key(API_KEY);
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[("RUST_LOG", "debug")],
        Some(&config(&tg, &ai, GW_TOKEN)),
    );
    // A node pairs (gets a device token) and reconnects with it.
    let key = random_key();
    let first = FakeNode::connect(
        gw.port,
        &key,
        GW_TOKEN,
        &["echo.test"],
        always(Action::Echo),
    )
    .await;
    let device_token = first.hello["auth"]["deviceToken"]
        .as_str()
        .expect("device token")
        .to_owned();
    first.close();
    drop(first);
    let params = node_connect_params(&["echo.test"], json!({"deviceToken": device_token}));
    let node = FakeNode::connect_with(gw.port, &key, params, always(Action::Echo))
        .await
        .expect("device-token reconnect");
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, ALL_OPERATOR)).await;
    approve_surface(&mut op, &node.node_id).await;
    // A failed handshake with the password as a token, one with a wrong token.
    for wrong in [GW_PASSWORD, "not-the-token"] {
        let mut c = WsClient::open(gw.port).await;
        c.challenge().await;
        let _ = c.connect(cli_params(wrong, &["operator.read"])).await;
    }
    // A Telegram DM runs the agent: model call with the API key, a tool call on the node,
    // a reply through the Bot API with the bot token.
    ai.push_tool_call(
        "nodes",
        json!({"action": "invoke", "node": node.node_id, "command": "echo.test", "params": {"a": 1}}),
    );
    ai.push_text("done");
    let mid = dm(&tg, 6001, "run it");
    wait_reply(&tg, mid, Duration::from_secs(15)).await;
    // The device token is rotated over RPC (the new one is in the answer only).
    let rotated = op
        .request(
            "device.token.rotate",
            json!({"deviceId": node.node_id, "role": "node"}),
        )
        .await;
    let new_device_token = rotated["payload"]["token"].as_str().map(str::to_owned);
    // The shared token is rotated by editing the file.
    replace_file(&gw.config_path(), &config(&tg, &ai, ROTATED));
    gw.wait_stderr_line(
        &["config reloaded from", "gateway.auth.token"],
        Duration::from_secs(10),
    );

    // logs.tail over RPC and `openclaw logs --json`.
    let (mut reader, _) = WsClient::hello(gw.port, cli_params(ROTATED, &["operator.read"])).await;
    let tail = reader
        .request("logs.tail", json!({"limit": 5000, "maxBytes": 1000000}))
        .await;
    assert_eq!(tail["ok"], true, "{tail}");
    let lines = tail["payload"]["lines"].as_array().expect("lines").clone();
    assert!(lines.len() >= 5, "logs.tail returned too little: {tail}");
    let tail_text = tail.to_string();
    assert!(tail_text.contains("config reloaded from"), "{tail_text}");
    assert_eq!(
        tail["payload"]["file"],
        gw.dir.path().join("logs/gateway.log").display().to_string()
    );
    let home = CliHome::new();
    let cli = home.run(
        &[
            "logs",
            "--json",
            "--url",
            &gw.url(),
            "--token",
            ROTATED,
            "--limit",
            "5000",
        ],
        &[],
    );
    assert_eq!(cli.code, Some(0), "{cli}");
    let first_line: Value =
        serde_json::from_str(cli.stdout.lines().next().unwrap_or("")).expect("meta line");
    assert_eq!(first_line["type"], "meta", "{cli}");
    assert!(
        cli.stdout
            .lines()
            .skip(1)
            .all(|l| serde_json::from_str::<Value>(l)
                .is_ok_and(|v| v["type"] == "log" || v["type"] == "notice")),
        "{cli}"
    );

    let files = file_logs(&gw.dir.path().join("logs"));
    assert!(
        files.contains("config reloaded from"),
        "file log is written"
    );
    let outputs = [
        ("stderr", gw.stderr()),
        ("stdout", gw.stdout()),
        ("file log", files),
        ("logs.tail", tail_text),
        ("openclaw logs", cli.stdout.clone() + &cli.stderr),
    ];
    let mut secrets = vec![
        GW_TOKEN,
        GW_PASSWORD,
        REMOTE_TOKEN,
        ROTATED,
        BOT_TOKEN,
        API_KEY,
        device_token.as_str(),
    ];
    if let Some(t) = &new_device_token {
        secrets.push(t.as_str());
    }
    for (name, text) in &outputs {
        assert!(!text.is_empty() || *name == "stdout", "{name} is empty");
        for s in &secrets {
            assert!(!text.contains(s), "secret {s:?} found in {name}");
        }
    }
}

#[actix_web::test]
async fn logs_tail_cursor_limits_and_params() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some("{logging: {level: \"info\"}}"),
    );
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    let first = op.request("logs.tail", json!({})).await;
    assert_eq!(first["ok"], true, "{first}");
    let p = &first["payload"];
    let cursor = p["cursor"].as_u64().expect("cursor");
    assert_eq!(p["size"].as_u64(), Some(cursor), "{p}");
    assert_eq!(p["file"], Value::Null, "no file log configured: {p}");
    // A new log line (an invalid edit is logged at error level) appears after the cursor.
    replace_file(&gw.config_path(), "{logging: {level: 'loud'}}");
    gw.wait_stderr_line(&["logging.level", "loud"], Duration::from_secs(10));
    let next = op.request("logs.tail", json!({"cursor": cursor})).await;
    let lines = next["payload"]["lines"].as_array().expect("lines").clone();
    assert!(!lines.is_empty(), "{next}");
    let entry: Value = serde_json::from_str(lines.last().and_then(Value::as_str).expect("line"))
        .expect("JSON line");
    assert_eq!(entry["level"], "error", "{entry}");
    assert_eq!(entry["subsystem"], "openclaw::reload", "{entry}");
    assert!(
        entry["message"]
            .as_str()
            .unwrap_or("")
            .contains("logging.level"),
        "{entry}"
    );
    assert!(
        entry["time"].as_str().unwrap_or("").ends_with('Z'),
        "{entry}"
    );
    assert!(next["payload"]["cursor"].as_u64() > Some(cursor));
    // Nothing new after the returned cursor.
    let again = op
        .request("logs.tail", json!({"cursor": next["payload"]["cursor"]}))
        .await;
    assert_eq!(again["payload"]["lines"], json!([]), "{again}");
    // limit keeps the newest lines and says it truncated.
    let one = op
        .request("logs.tail", json!({"cursor": 0, "limit": 1}))
        .await;
    assert_eq!(
        one["payload"]["lines"].as_array().map(Vec::len),
        Some(1),
        "{one}"
    );
    assert_eq!(one["payload"]["truncated"], true, "{one}");
    // A cursor past the end resets to what is held.
    let reset = op.request("logs.tail", json!({"cursor": 1u64 << 40})).await;
    assert_eq!(reset["payload"]["reset"], true, "{reset}");
    // Bad params are refused.
    for (params, msg) in [
        (
            json!({"limit": 0}),
            "invalid logs.tail params: at /limit: must be an integer in 1..=5000",
        ),
        (
            json!({"maxBytes": 2_000_000}),
            "invalid logs.tail params: at /maxBytes: must be an integer in 1..=1000000",
        ),
        (
            json!({"cursor": -1}),
            "invalid logs.tail params: at /cursor: must be an integer in 0..=18446744073709551615",
        ),
        (
            json!({"follow": true}),
            "invalid logs.tail params: at root: unexpected property 'follow'",
        ),
    ] {
        let res = op.request("logs.tail", params).await;
        assert_eq!(res["error"]["message"], msg, "{res}");
    }
    // A node may not read the log.
    let node = FakeNode::connect(gw.port, &random_key(), "T", &[], always(Action::Echo)).await;
    let res = node.request("logs.tail", json!({})).await;
    assert_eq!(res["error"]["message"], "unauthorized role: node", "{res}");
}

/// The real OpenClaw CLI (`scripts/setup-openclaw-ref.sh`), isolated and offline-guarded
/// like `interop.rs` runs it.
fn real_openclaw(home: &std::path::Path, args: &[&str]) -> crate::support::CliOutput {
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
        oc_bin.join("openclaw").exists(),
        "the reference OpenClaw CLI is not installed; run scripts/setup-openclaw-ref.sh"
    );
    let guard =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/offline-guard.cjs");
    let mut path = std::ffi::OsString::from(&node_bin);
    path.push(":");
    path.push(&oc_bin);
    if let Some(p) = std::env::var_os("PATH") {
        path.push(":");
        path.push(p);
    }
    let mut cmd = crate::support::isolated_command(oc_bin.join("openclaw"), home);
    cmd.args(args)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .env("DO_NOT_TRACK", "1")
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
        .env("OPENCLAW_CLAWHUB_URL", "http://127.0.0.1:9")
        .env("NODE_OPTIONS", format!("--require {}", guard.display()))
        .env("OFFLINE_GUARD_LOG", home.join("offline-guard.log"));
    crate::support::run_bounded(cmd, Duration::from_secs(90))
}

#[test]
fn the_real_openclaw_cli_tails_our_log_and_our_cli_prints_the_same_records() {
    let gw = TestGateway::with_token("T");
    let url = gw.url();
    let home = tempfile::tempdir().expect("tempdir");
    let real = real_openclaw(
        home.path(),
        &[
            "logs", "--url", &url, "--token", "T", "--json", "--limit", "50",
        ],
    );
    assert_eq!(real.code, Some(0), "{real}");
    let ours = CliHome::new().run(
        &[
            "logs", "--url", &url, "--token", "T", "--json", "--limit", "50",
        ],
        &[],
    );
    assert_eq!(ours.code, Some(0), "{ours}");
    let records = |out: &str| -> Vec<Value> {
        out.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["type"] == "log")
            .collect()
    };
    let (real_logs, our_logs) = (records(&real.stdout), records(&ours.stdout));
    assert!(!real_logs.is_empty(), "{real}");
    // The real CLI parsed our JSONL records into time/level/subsystem/message.
    let first = &real_logs[0];
    for k in ["time", "level", "subsystem", "message"] {
        assert!(
            first[k].as_str().is_some_and(|s| !s.is_empty()),
            "{k} in {first}"
        );
    }
    // Ours prints the same records (the log may have grown in between: compare a prefix).
    let n = real_logs.len().min(our_logs.len());
    assert!(n > 0);
    for (r, o) in real_logs.iter().zip(&our_logs).take(n) {
        for k in ["time", "level", "subsystem", "message", "raw"] {
            assert_eq!(r[k], o[k], "{k}: real {r} ours {o}");
        }
    }
}
