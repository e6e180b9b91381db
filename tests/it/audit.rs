//! The audit ledger against the real binary, the fake Bot API and the fake model: a chat
//! message that makes the host and a node run (or be refused) commands leaves a trail of
//! runs, tool actions and (opt-in) pseudonymized messages, without a word of their content;
//! `audit.activity.list` and `audit.list` page it as OpenClaw does; `logging.audit` applies
//! live and the numbering survives a restart.

use std::time::Duration;

use serde_json::{Value, json};

use crate::exec_tool::{OWNER, exec_config, exec_once, tool_once};
use crate::support::WsClient;
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::telegram_flow::{
    SLOW, TG_TOKEN, admin, all_answered, approved_node, config, dm, restart, start_gateway,
    wait_reply, wait_state_file,
};

/// The whole ledger (newest first), paging with the smallest pages to exercise cursors.
async fn whole(op: &mut WsClient, method: &str, filter: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = filter.clone();
        params["limit"] = json!(2);
        if let Some(c) = &cursor {
            params["cursor"] = json!(c);
        }
        let res = op.request(method, params).await;
        assert_eq!(res["ok"], true, "{res}");
        let page = &res["payload"];
        let events = page["events"].as_array().cloned().unwrap_or_default();
        assert!(events.len() <= 2, "{page}");
        out.extend(events);
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// Waits until `audit.activity.list` holds `n` rows matching `filter`; returns them all.
pub async fn wait_rows(op: &mut WsClient, filter: Value, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let mut params = filter.clone();
        params["limit"] = json!(500);
        let res = op.request("audit.activity.list", params).await;
        let rows = res["payload"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if rows.len() >= n {
            return rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} audit rows for {filter}: {res}",
            rows.len()
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every string in `v`.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn is_hmac_ref(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 4
        && parts[..2] == ["hmac-sha256", "v1"]
        && parts[2].len() == 32
        && parts[3].len() == 64
        && parts[2..]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[actix_web::test]
async fn a_chat_that_runs_and_is_refused_commands_leaves_a_trail_without_content() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value = serde_json::from_str(&exec_config(
        &tg,
        &ai,
        json!({"mode": "allowlist"}),
        Value::Null,
    ))
    .expect("config is JSON");
    cfg["logging"] = json!({"audit": {"messages": "direct"}});
    let gw = start_gateway(&cfg.to_string());
    std::fs::write(
        gw.dir.path().join("exec-allowlist.json"),
        r#"{"allow": ["printf"]}"#,
    )
    .expect("write allowlist");
    let mut op = admin(&gw).await;
    let node = approved_node(&gw, &mut op).await;

    // Allowed, refused by the host's allowlist, refused by the node's approved surface.
    let ran = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": "printf secret-output-4711"}),
    )
    .await;
    assert_eq!(ran["stdout"], "secret-output-4711", "{ran}");
    let refused = exec_once(&tg, &ai, OWNER, json!({"command": "uname -a"})).await;
    assert_eq!(refused["denied"], true, "{refused}");
    let node_refused = tool_once(
        &tg,
        &ai,
        OWNER,
        "nodes",
        json!({"action": "invoke", "node": node.node_id, "command": "system.run",
            "params": {"command": ["id"]}}),
    )
    .await;
    assert_eq!(node_refused["denied"], true, "{node_refused}");

    let tools = wait_rows(
        &mut op,
        json!({"kind": "tool_action", "status": "blocked"}),
        2,
    )
    .await;
    let rows = wait_rows(&mut op, json!({}), 18).await;
    // Newest first, numbered without gaps.
    let seqs: Vec<u64> = rows.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert_eq!(seqs, (1..=18).rev().collect::<Vec<_>>(), "{rows:#?}");
    let count = |kind: &str, action: &str, status: &str| {
        rows.iter()
            .filter(|e| e["kind"] == kind && e["action"] == action && e["status"] == status)
            .count()
    };
    assert_eq!(count("agent_run", "agent.run.started", "started"), 3);
    assert_eq!(count("agent_run", "agent.run.finished", "succeeded"), 3);
    assert_eq!(count("tool_action", "tool.action.started", "started"), 3);
    assert_eq!(count("tool_action", "tool.action.finished", "succeeded"), 1);
    assert_eq!(count("tool_action", "tool.action.finished", "blocked"), 2);
    assert_eq!(
        count("message", "message.inbound.processed", "succeeded"),
        3
    );
    assert_eq!(
        count("message", "message.outbound.finished", "succeeded"),
        3
    );
    let names: Vec<&str> = tools
        .iter()
        .filter_map(|t| t["toolName"].as_str())
        .collect();
    assert_eq!(names, vec!["nodes", "exec"]);
    for t in &tools {
        assert_eq!(t["errorCode"], "tool_blocked", "{t}");
        assert_eq!(t["eventType"], "tool_action", "{t}");
        assert_eq!(t["agentId"], "main", "{t}");
        assert!(
            t["toolCallId"]
                .as_str()
                .is_some_and(|c| c.starts_with("sha256:") && c.len() == 71),
            "{t}"
        );
    }
    // One run's events share its id and are numbered within it.
    let run_id = tools[0]["runId"].as_str().expect("runId");
    let run = whole(&mut op, "audit.activity.list", json!({"runId": run_id})).await;
    let in_run: Vec<(String, u64)> = run
        .iter()
        .filter(|e| e["kind"] != "message")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["sourceSequence"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        in_run,
        vec![
            ("agent.run.finished".to_owned(), 4),
            ("tool.action.finished".to_owned(), 3),
            ("tool.action.started".to_owned(), 2),
            ("agent.run.started".to_owned(), 1),
        ]
    );
    // Message rows: pseudonyms only, never the session key.
    for m in rows.iter().filter(|e| e["kind"] == "message") {
        assert_eq!(m["channel"], "telegram", "{m}");
        assert_eq!(m["conversationKind"], "direct", "{m}");
        assert!(m.get("sessionKey").is_none(), "{m}");
        for f in ["accountRef", "conversationRef", "messageRef"] {
            assert!(is_hmac_ref(&m[f]), "{f}: {m}");
        }
        if m["direction"] == "inbound" {
            assert_eq!(m["actor"]["type"], "channel_sender", "{m}");
            assert!(is_hmac_ref(&m["actor"]["id"]), "{m}");
            assert_eq!(m["outcome"], "completed", "{m}");
        } else {
            assert!(is_hmac_ref(&m["targetRef"]), "{m}");
            assert_eq!(m["outcome"], "sent", "{m}");
            assert_eq!(m["deliveryKind"], "text", "{m}");
            assert_eq!(m["resultCount"], 1, "{m}");
        }
    }
    // Not a word of what was said or run, in the answers or on disk.
    let mut all = Vec::new();
    strings(&json!(rows), &mut all);
    let disk: String = std::fs::read_dir(gw.dir.path().join("audit"))
        .expect("audit dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("events-"))
        .map(|e| std::fs::read_to_string(e.path()).expect("read ledger"))
        .collect();
    strings(
        &Value::Array(
            disk.lines()
                .map(|l| serde_json::from_str(l).expect("ledger lines are JSON"))
                .collect(),
        ),
        &mut all,
    );
    // Run and tool rows keep their session key (OpenClaw's correlation; a direct chat's
    // names its peer, as the session itself does): everything else is checked.
    let keys: Vec<&str> = rows
        .iter()
        .filter_map(|e| e["sessionKey"].as_str())
        .collect();
    assert!(
        keys.iter()
            .all(|k| *k == format!("agent:main:telegram:direct:{OWNER}"))
    );
    for s in all.iter().filter(|s| !keys.contains(&s.as_str())) {
        for secret in ["secret-output", "printf", "uname", "please run it", "done"] {
            assert!(!s.contains(secret), "{secret:?} in {s:?}");
        }
        assert_ne!(s, &OWNER.to_string());
        assert!(!s.ends_with(&format!(":{OWNER}")), "{s}");
    }
    // `audit.list`: OpenClaw's older shape, runs and tools only.
    let legacy = whole(&mut op, "audit.list", json!({})).await;
    assert_eq!(legacy.len(), 12);
    assert!(
        legacy.iter().all(|e| e.get("eventType").is_none()
            && e.get("schemaVersion").is_none()
            && e["kind"] != "message"
            && e["actor"]["type"] == "agent"),
        "{legacy:#?}"
    );
    // Bad requests are refused with OpenClaw's errors.
    let res = op
        .request("audit.activity.list", json!({"cursor": "abc"}))
        .await;
    assert_eq!(
        res["error"]["message"], "invalid audit.activity.list range or cursor",
        "{res}"
    );
    let res = op
        .request(
            "audit.activity.list",
            json!({"kind": "message", "sessionKey": "agent:main:main"}),
        )
        .await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
    // The key behind the pseudonyms is private to the host.
    use std::os::unix::fs::PermissionsExt as _;
    let key = gw.dir.path().join("audit").join("identity-key.json");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(gw.dir.path().join("audit"))
        .expect("audit dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
}

#[actix_web::test]
async fn audit_settings_apply_live_and_the_ledger_outlives_a_restart() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let base: Value = serde_json::from_str(&config(&tg, None, json!({}))).expect("config is JSON");
    let gw = start_gateway(&base.to_string());
    for text in ["hello", "again"] {
        let mid = dm(&tg, 4242, text);
        wait_reply(&tg, mid, SLOW).await;
    }
    let mut op = admin(&gw).await;
    let before = wait_rows(&mut op, json!({"kind": "agent_run"}), 4).await;
    // Messages are off by default.
    let res = op
        .request("audit.activity.list", json!({"kind": "message"}))
        .await;
    assert_eq!(res["payload"]["events"], json!([]), "{res}");

    // Off: nothing new is recorded; what was recorded stays readable.
    let mut off = base.clone();
    off["logging"] = json!({"audit": {"enabled": false}});
    crate::support::replace_file(&gw.config_path(), &off.to_string());
    gw.wait_stderr_line(&["config reloaded from", "logging"], SLOW);
    let mid = dm(&tg, 4242, "while off");
    wait_reply(&tg, mid, SLOW).await;
    let res = op.request("audit.activity.list", json!({})).await;
    assert_eq!(res["payload"]["events"], json!(before), "{res}");

    // A restart with the ledger on again: the numbering goes on.
    let mut on = base.clone();
    on["logging"] = json!({"audit": {"enabled": true, "messages": "all"}});
    crate::support::replace_file(&gw.config_path(), &on.to_string());
    gw.wait_stderr_line(&["config reloaded from", "logging"], SLOW);
    drop(op);
    // The restart is a SIGKILL: an update whose offset is not on disk yet is handed over
    // again, and a reply whose receipt is not is sent again (at-least-once), with rows of
    // their own. Kill once both are: every update confirmed at Telegram (the offset it
    // carried was durable) and nothing pending on disk.
    all_answered(&gw, &tg).await;
    wait_state_file(&gw, "no pending message", |v| v["pending"] == json!([])).await;
    let gw = restart(gw);
    let mid = dm(&tg, 4242, "after the restart");
    wait_reply(&tg, mid, SLOW).await;
    let mut op = admin(&gw).await;
    let rows = wait_rows(&mut op, json!({}), 8).await;
    let seqs: Vec<u64> = rows.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    let brief: Vec<String> = rows
        .iter()
        .map(|e| format!("{} {} {}", e["sequence"], e["action"], e["runId"]))
        .collect();
    assert_eq!(
        seqs,
        (1..=8).rev().collect::<Vec<_>>(),
        "{brief:#?}\n{}",
        gw.stderr()
    );
    assert_eq!(&rows[4..], &before[..]);
    let top: Vec<&str> = rows[..4]
        .iter()
        .filter_map(|e| e["eventType"].as_str())
        .collect();
    assert!(
        top.contains(&"inbound_message") && top.contains(&"outbound_message"),
        "{top:?}"
    );

    // A bad mode is refused before the gateway starts, naming the key and the fix.
    let mut bad = base.clone();
    bad["logging"] = json!({"audit": {"messages": "sometimes"}});
    let home = crate::support::CliHome::with_config(&bad.to_string());
    let out = home.run(crate::telegram_flow::GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out:?}");
    assert!(
        out.stderr
            .contains("logging.audit.messages \"sometimes\" is not a mode")
            && out.stderr.contains("\"direct\""),
        "{}",
        out.stderr
    );
}

#[actix_web::test]
async fn audit_pages_need_the_read_scope() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let (mut op, _) = WsClient::hello(
        gw.port,
        crate::support::cli_params(crate::telegram_flow::GW_TOKEN, &["operator.pairing"]),
    )
    .await;
    let res = op.request("audit.activity.list", json!({})).await;
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(
        res["error"]["message"], "missing scope: operator.read",
        "{res}"
    );
}

#[actix_web::test]
async fn a_stopped_run_ends_its_tool_action_first_both_cancelled() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null));
    let started = gw.dir.path().join("started");
    ai.push_tool_call(
        "exec",
        json!({"command": format!("touch {}; sleep 300", started.display()), "yieldMs": 600_000}),
    );
    dm(&tg, OWNER, "run the long thing");
    crate::telegram_flow::poll_until(SLOW, "the command to start", || {
        started.exists().then_some(())
    })
    .await;
    dm(&tg, OWNER, "/stop");
    let mut op = admin(&gw).await;
    let ended = wait_rows(
        &mut op,
        json!({"kind": "agent_run", "status": "cancelled"}),
        1,
    )
    .await;
    let run_id = ended[0]["runId"].as_str().expect("runId").to_owned();
    assert_eq!(ended[0]["errorCode"], "run_cancelled", "{ended:?}");
    let run = whole(&mut op, "audit.activity.list", json!({"runId": run_id})).await;
    let seen: Vec<(String, String, u64)> = run
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["status"].as_str().unwrap_or("").to_owned(),
                e["sourceSequence"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let want = |a: &str, s: &str, n: u64| (a.to_owned(), s.to_owned(), n);
    assert_eq!(
        seen,
        vec![
            want("agent.run.finished", "cancelled", 4),
            want("tool.action.finished", "cancelled", 3),
            want("tool.action.started", "started", 2),
            want("agent.run.started", "started", 1),
        ]
    );
    assert_eq!(run[1]["errorCode"], "tool_cancelled", "{run:?}");
}

/// An operator's `send` to a Telegram chat; the response.
async fn send(op: &mut WsClient, to: &str, message: &str, key: &str) -> Value {
    op.request(
        "send",
        json!({"channel": "telegram", "to": to, "message": message, "idempotencyKey": key}),
    )
    .await
}

/// Every delivery to a chat leaves an outbound row, not only a chat's replies: an operator's
/// `send` (the gateway's, no run), one the platform refused (failed), and a cron job's
/// announcement (its run's); a group's delivery stays out under `messages: "direct"`.
#[actix_web::test]
async fn sends_and_cron_announcements_leave_outbound_rows_too() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("Stand-up in five minutes.");
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("config is JSON");
    cfg["logging"] = json!({"audit": {"messages": "direct"}});
    let gw = start_gateway(&cfg.to_string());
    let mut op = admin(&gw).await;
    let outbound = json!({"kind": "message", "direction": "outbound"});

    let res = send(&mut op, "7001", "hello there", "a1").await;
    assert_eq!(res["ok"], true, "{res}");
    // A basic group (negative id): sent, not recorded under "direct".
    let res = send(&mut op, "-5005", "hello group", "a2").await;
    assert_eq!(res["ok"], true, "{res}");
    tg.fail_next_on(
        "sendMessage",
        1,
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    );
    let res = send(&mut op, "7001", "are you there", "a3").await;
    assert_eq!(res["ok"], false, "{res}");
    let job = op
        .request(
            "cron.add",
            json!({"name": "standup", "enabled": true, "schedule": {"kind": "every", "everyMs": 3_600_000},
                "sessionTarget": "isolated", "wakeMode": "now",
                "payload": {"kind": "agentTurn", "message": "Announce the stand-up"},
                "delivery": {"mode": "announce", "channel": "telegram", "to": "7002"}}),
        )
        .await;
    let id = job["payload"]["id"].as_str().expect("a job id").to_owned();
    let ran = op
        .request("cron.run", json!({"id": id, "mode": "force"}))
        .await;
    let run_id = ran["payload"]["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("a run id: {ran}"))
        .to_owned();
    let rows = wait_rows(&mut op, outbound.clone(), 3).await;
    assert_eq!(rows.len(), 3, "{rows:#?}");
    // Newest first: the announcement, the refused send, the first send.
    let (cron, failed, sent) = (&rows[0], &rows[1], &rows[2]);
    for r in &rows {
        assert_eq!(r["eventType"], "outbound_message", "{r}");
        assert_eq!(r["action"], "message.outbound.finished", "{r}");
        assert_eq!(r["channel"], "telegram", "{r}");
        assert_eq!(r["conversationKind"], "direct", "{r}");
        assert!(is_hmac_ref(&r["conversationRef"]), "{r}");
        assert!(is_hmac_ref(&r["targetRef"]), "{r}");
        assert!(is_hmac_ref(&r["accountRef"]), "{r}");
    }
    assert_eq!(sent["status"], "succeeded", "{sent}");
    assert_eq!(sent["outcome"], "sent", "{sent}");
    assert_eq!(sent["deliveryKind"], "text", "{sent}");
    assert_eq!(sent["resultCount"], 1, "{sent}");
    assert!(is_hmac_ref(&sent["messageRef"]), "{sent}");
    assert_eq!(sent["actor"], json!({"type": "system", "id": "gateway"}));
    assert!(sent.get("runId").is_none(), "{sent}");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["errorCode"], "message_delivery_failed", "{failed}");
    assert_eq!(failed["resultCount"], 0, "{failed}");
    assert!(failed.get("messageRef").is_none(), "{failed}");
    assert_eq!(cron["status"], "succeeded", "{cron}");
    assert_eq!(cron["runId"], run_id.as_str(), "{cron}");
    assert_eq!(cron["agentId"], "main", "{cron}");
    assert_eq!(cron["actor"], json!({"type": "agent", "id": "main"}));
    // The same chat gets the same pseudonym; another chat another one.
    assert_eq!(sent["conversationRef"], failed["conversationRef"]);
    assert_ne!(sent["conversationRef"], cron["conversationRef"]);
    assert!(
        tg.sent().iter().any(|m| m.chat_id() == Some(-5005)),
        "the group's message went out"
    );
    // No raw chat id (as a value or a `:` segment of one), and no text, in any row.
    let mut all = Vec::new();
    strings(&Value::Array(rows.clone()), &mut all);
    for s in &all {
        for id in ["7001", "7002", "-5005"] {
            assert!(s.split(':').all(|seg| seg != id), "{id:?} in {s:?}");
        }
        for text in ["hello", "there", "tand-up", "five minutes"] {
            assert!(!s.contains(text), "{text:?} in {s:?}");
        }
    }
}
