//! Chat commands the gateway answers itself (`/new`, `/reset`, `/stop` and OpenClaw's abort
//! words, `/whoami`, `/help`) from a Telegram chat through the fake Bot API, and the
//! operator's `sessions.reset` / `sessions.create` (what OpenClaw's TUI sends for `/reset`
//! and `/new`) over the wire: the model's view of the conversation, the state directory,
//! restarts, refusals and hostile text.

use std::time::Duration;

use serde_json::{Value, json};

use crate::agent_rpc::chat_event;
use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{TestGateway, WsClient, cli_params};
use crate::telegram_flow::{
    GW_TOKEN, SLOW, TG_TOKEN, admin, all_answered, config, dm, poll_until, replies_to, restart,
    start_gateway, wait_reply, wait_state_file,
};

/// Every conversation message text the model was shown in `request` (the system notes,
/// which carry the clock, left out).
fn shown(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["role"] != "system")
                .filter_map(|m| m["content"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The session index entry of `key` in `sessions.list`.
async fn session(gw: &TestGateway, key: &str) -> Value {
    let res = admin(gw)
        .await
        .request("sessions.list", json!({"limit": 1000}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    res["payload"]["sessions"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["key"] == key).cloned())
        .unwrap_or(Value::Null)
}

/// The session's entry once its run has finished (no active run).
pub(crate) async fn settled_session(gw: &TestGateway, key: &str) -> Value {
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let row = session(gw, key).await;
        if row["hasActiveRun"] == false || std::time::Instant::now() > deadline {
            return row;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Lines of a transcript file in the gateway's state directory.
fn transcript_lines(gw: &TestGateway, session_id: &str) -> usize {
    let path = gw
        .dir
        .path()
        .join(format!("agents/main/sessions/{session_id}.jsonl"));
    std::fs::read_to_string(&path)
        .map(|t| t.lines().count())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[actix_web::test]
async fn new_starts_an_empty_session_the_model_sees_and_a_restart_keeps_it() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("noted");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let key = "agent:main:telegram:direct:7901";

    let m1 = dm(&tg, 7901, "my number is 42");
    wait_reply(&tg, m1, SLOW).await;
    // The answer's own line may follow the reply (the reply never waits for the disk).
    let before = settled_session(&gw, key).await;
    let s1 = before["sessionId"]
        .as_str()
        .expect("a session id")
        .to_owned();
    assert_eq!(before["messageCount"], 2, "{before}");

    let m2 = dm(&tg, 7901, "/new");
    let r = wait_reply(&tg, m2, SLOW).await;
    assert_eq!(r.text(), "✅ New session started.");
    let after = session(&gw, key).await;
    let s2 = after["sessionId"]
        .as_str()
        .expect("a session id")
        .to_owned();
    assert_ne!(s1, s2, "a new transcript");
    assert_eq!(after["messageCount"], 0, "{after}");
    assert_eq!(
        after["channel"], "telegram",
        "still the chat's session: {after}"
    );
    assert_eq!(transcript_lines(&gw, &s1), 2, "the old transcript is kept");
    assert_eq!(ai.request_count(), 1, "no model call for a command");

    let m3 = dm(&tg, 7901, "what is my number?");
    wait_reply(&tg, m3, SLOW).await;
    let seen = shown(&ai.requests()[1]);
    assert!(seen.iter().any(|t| t == "what is my number?"), "{seen:?}");
    assert!(
        !seen.iter().any(|t| t.contains("42")),
        "the new session does not carry the old conversation: {seen:?}"
    );

    // Text after the command is the new session's first message, answered by the model.
    let m4 = dm(&tg, 7901, "/reset@openclaw_test_bot: hello again");
    let r = wait_reply(&tg, m4, SLOW).await;
    assert_eq!(r.text(), "noted");
    let seen = shown(&ai.requests()[2]);
    assert!(seen.iter().any(|t| t == "hello again"), "{seen:?}");
    assert!(
        !seen.iter().any(|t| t.contains("number")),
        "reset again: {seen:?}"
    );
    all_answered(&gw, &tg).await;
    let s3 = session(&gw, key).await["sessionId"]
        .as_str()
        .expect("a session id")
        .to_owned();
    assert!(s3 != s2 && s3 != s1, "{s1} {s2} {s3}");
    assert_eq!(transcript_lines(&gw, &s3), 2);

    // SIGKILL and restart, once the channel's state and the session index are on disk
    // (the index's message counts are saved within a second of a run's end): the session
    // id and every transcript are as they were, and no message is answered twice.
    wait_state_file(&gw, "no pending message", |v| v["pending"] == json!([])).await;
    let index = gw.dir.path().join("agents/main/sessions/sessions.json");
    poll_until(SLOW, "the index to hold the last run", || {
        let v: Value = serde_json::from_slice(&std::fs::read(&index).ok()?).ok()?;
        (v[key]["sessionId"] == s3.as_str() && v[key]["messageCount"] == 2).then_some(())
    })
    .await;
    let sent = tg.sent().len();
    let gw = restart(gw);
    all_answered(&gw, &tg).await;
    let row = settled_session(&gw, key).await;
    assert_eq!(row["sessionId"], s3.as_str(), "{row}");
    assert_eq!(row["messageCount"], 2, "{row}");
    assert_eq!(tg.sent().len(), sent, "{:?}", tg.sent());
    assert_eq!(ai.request_count(), 3);
    for (id, lines) in [(&s1, 2), (&s2, 2), (&s3, 2)] {
        assert_eq!(transcript_lines(&gw, id), lines, "{id}");
    }
}

#[actix_web::test]
async fn stop_aborts_the_reply_in_progress_and_new_drops_the_queue() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // The first two model calls hang (well past the test); later ones answer at once.
    ai.push(FakeReply::text("never").delayed(Duration::from_secs(100)));
    ai.push(FakeReply::text("never either").delayed(Duration::from_secs(100)));
    ai.set_default_text("fresh answer");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));

    let long = dm(&tg, 7902, "a long task");
    ai.wait_requests_async(1, SLOW).await;
    let status = dm(&tg, 7902, "/status");
    let r = wait_reply(&tg, status, SLOW).await;
    let lines: Vec<&str> = r.text().lines().collect();
    assert!(lines[0].starts_with("🦞 openclaw-rs "), "{}", r.text());
    assert_eq!(
        lines[1..].to_vec(),
        [
            "Session: agent:main:telegram:direct:7902 · 0 messages",
            "Model: fake/flow-model",
            "Reply in progress: yes",
            "📥 Queue: steer (debounce 500ms, cap 20, drop summarize; /queue to change)",
            "Nodes: 0 connected",
        ],
        "{}",
        r.text()
    );
    let stop = dm(&tg, 7902, "Stop!");
    let r = wait_reply(&tg, stop, SLOW).await;
    assert_eq!(r.text(), "⚙️ Agent was aborted.");
    let again = dm(&tg, 7902, "/stop");
    let r = wait_reply(&tg, again, SLOW).await;
    assert_eq!(r.text(), "⚙️ Nothing to stop: no reply is in progress.");

    // A run in progress and one queued behind it: `/new` drops both and says so.
    let busy = dm(&tg, 7902, "another long task");
    ai.wait_requests_async(2, SLOW).await;
    let queued = dm(&tg, 7902, "queued behind it");
    crate::telegram_flow::wait_status(&gw, SLOW, "two pending", |a| a["pendingInbound"] == 2).await;
    let new = dm(&tg, 7902, "/new");
    let r = wait_reply(&tg, new, SLOW).await;
    assert_eq!(
        r.text(),
        "✅ New session started. The reply in progress was stopped."
    );
    let after = dm(&tg, 7902, "hello");
    let r = wait_reply(&tg, after, SLOW).await;
    assert_eq!(r.text(), "fresh answer");
    all_answered(&gw, &tg).await;
    for id in [long, busy, queued] {
        assert!(replies_to(&tg, id).is_empty(), "aborted: no reply to {id}");
    }
    assert_eq!(ai.request_count(), 3, "the queued message never ran");
    // The aborted runs' transcripts are the old session's; the new one has its own pair.
    let row = settled_session(&gw, "agent:main:telegram:direct:7902").await;
    assert_eq!(row["messageCount"], 2, "{row}");
}

#[actix_web::test]
async fn whoami_and_help_answer_without_the_model_and_other_text_reaches_it() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("model answer");
    let gw = start_gateway(&crate::telegram_flow::with_queue(
        &config(&tg, Some(&ai), json!({})),
        json!({"mode": "followup"}),
    ));

    let who = dm(&tg, 7903, "/whoami");
    let r = wait_reply(&tg, who, SLOW).await;
    let lines: Vec<&str> = r.text().lines().collect();
    assert_eq!(lines.first(), Some(&"🧭 Identity"), "{}", r.text());
    assert!(lines.contains(&"Channel: telegram"), "{}", r.text());
    assert!(lines.contains(&"User id: 7903"), "{}", r.text());
    assert!(lines.contains(&"AllowFrom: 7903"), "{}", r.text());
    let help = dm(&tg, 7903, "/help");
    let r = wait_reply(&tg, help, SLOW).await;
    assert!(r.text().starts_with("Chat commands:"), "{}", r.text());
    for cmd in ["/new", "/reset", "/stop", "/whoami"] {
        assert!(r.text().contains(cmd), "{cmd}: {}", r.text());
    }
    assert!(
        !r.text().contains("/invoke"),
        "with a model, no command-agent list: {}",
        r.text()
    );
    assert_eq!(ai.request_count(), 0);

    // Hostile and near-miss texts are ordinary messages: each gets the model's answer, and
    // the session is never reset by them (a reset would restart its message count).
    let near = [
        "/newer",
        "please /new",
        "/stop it now",
        "stop the music",
        "/new\u{0}",
        "\u{202e}/new",
        "/\u{200b}new",
        "🙂/stop",
    ];
    let ids: Vec<i64> = near.iter().map(|t| dm(&tg, 7903, t)).collect();
    for (id, text) in ids.iter().zip(near) {
        let r = wait_reply(&tg, *id, SLOW).await;
        assert_eq!(r.text(), "model answer", "{text:?}");
    }
    // The last answer's own line may follow its reply.
    let row = settled_session(&gw, "agent:main:telegram:direct:7903").await;
    assert_eq!(row["messageCount"], 2 * near.len(), "{row}");
    assert_eq!(ai.request_count(), near.len());
}

#[actix_web::test]
async fn help_lists_the_command_agents_commands_when_no_model_is_set() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let help = dm(&tg, 7904, "/commands");
    let r = wait_reply(&tg, help, SLOW).await;
    assert!(r.text().starts_with("Chat commands:"), "{}", r.text());
    assert!(
        r.text().contains("/invoke <node> <command>"),
        "{}",
        r.text()
    );

    // `/status` names the connected nodes and the embedded agent.
    let mut op = admin(&gw).await;
    let _node = crate::telegram_flow::approved_node(&gw, &mut op).await;
    let status = dm(&tg, 7904, "/status");
    let r = wait_reply(&tg, status, SLOW).await;
    let lines: Vec<&str> = r.text().lines().collect();
    assert_eq!(
        lines[1..].to_vec(),
        [
            "Session: agent:main:telegram:direct:7904 · new",
            "Model: embedded/commands",
            "Reply in progress: no",
            "📥 Queue: steer (debounce 500ms, cap 20, drop summarize; /queue to change)",
            "Nodes: 1 connected (it-fake-node)",
        ],
        "{}",
        r.text()
    );
    all_answered(&gw, &tg).await;
}

const RW: &[&str] = &["operator.read", "operator.write"];

#[actix_web::test]
async fn sessions_reset_and_create_over_the_wire() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("hi operator");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let mut op = admin(&gw).await;
    let (mut sub, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let res = sub.request("sessions.subscribe", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");

    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "remember blue", "idempotencyKey": "r-blue"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let res = op
        .request("agent.wait", json!({"runId": "r-blue", "timeoutMs": 10000}))
        .await;
    assert_eq!(res["payload"]["status"], "ok", "{res}");
    let s1 = session(&gw, "agent:main:main").await["sessionId"].clone();

    // A write-only operator may not reset (OpenClaw: operator.admin).
    let (mut rw, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let res = rw.request("sessions.reset", json!({"key": "main"})).await;
    assert_eq!(res["error"]["code"], "FORBIDDEN", "{res}");
    assert_eq!(
        res["error"]["message"], "missing scope: operator.admin",
        "{res}"
    );
    // The caller's view is stale: refused, nothing changes.
    let res = op
        .request(
            "sessions.reset",
            json!({"key": "main", "expectedSessionId": "not-the-id"}),
        )
        .await;
    assert_eq!(
        res["error"]["message"], "Session agent:main:main changed before reset. Retry.",
        "{res}"
    );
    assert_eq!(session(&gw, "agent:main:main").await["sessionId"], s1);
    for (params, msg) in [
        (
            json!({}),
            "invalid sessions.reset params: must have required property 'key'",
        ),
        (
            json!({"key": "main", "reason": "wipe"}),
            "invalid sessions.reset params: at /reason: must be equal to one of the allowed values",
        ),
        (
            json!({"key": "main", "bogus": 1}),
            "invalid sessions.reset params: at root: unexpected property 'bogus'",
        ),
        (
            json!({"key": "main", "agentId": "other"}),
            "unknown agent id: other (this gateway runs: main)",
        ),
    ] {
        let res = op.request("sessions.reset", params.clone()).await;
        assert_eq!(res["error"]["message"], msg, "{params}: {res}");
    }

    // A stranger-sized agent id is not echoed back whole.
    let res = op
        .request(
            "sessions.reset",
            json!({"key": "main", "agentId": "ä".repeat(100_000)}),
        )
        .await;
    let msg = res["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.starts_with("unknown agent id: ää") && msg.chars().count() < 200,
        "{}",
        msg.chars().take(300).collect::<String>()
    );
    let res = op
        .request(
            "sessions.reset",
            json!({"key": "main", "reason": "new", "expectedSessionId": s1}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let p = &res["payload"];
    assert_eq!(p["key"], "agent:main:main", "{res}");
    assert_ne!(p["entry"]["sessionId"], s1, "{res}");
    assert_eq!(p["entry"]["messageCount"], 0, "{res}");
    assert_eq!(p["resolved"]["agentId"], "main", "{res}");
    let s2 = p["entry"]["sessionId"].clone();
    let history = op
        .request("chat.history", json!({"sessionKey": "main"}))
        .await;
    assert_eq!(history["payload"]["messages"], json!([]), "{history}");
    assert_eq!(history["payload"]["sessionId"], s2, "{history}");
    // The subscriber hears of it (after the run's two message events).
    let mut reasons = Vec::new();
    while reasons.len() < 3 {
        let ev = sub
            .event_within("sessions.changed", Duration::from_secs(10))
            .await;
        reasons.push(ev["payload"]["reason"].clone());
        if ev["payload"]["reason"] == "new" {
            assert_eq!(ev["payload"]["sessionKey"], "agent:main:main", "{ev}");
            assert_eq!(ev["payload"]["agentId"], "main", "{ev}");
            break;
        }
    }
    assert_eq!(reasons.last(), Some(&json!("new")), "{reasons:?}");

    // sessions.create as the TUI's /new sends it (operator.write is enough).
    let tui_new = json!({
        "key": "tui-5c1e", "agentId": "main", "parentSessionKey": "agent:main:main",
        "succeedsParent": true, "emitCommandHooks": true,
    });
    let res = rw.request("sessions.create", tui_new.clone()).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["key"], "agent:main:tui-5c1e", "{res}");
    assert_eq!(res["payload"]["runStarted"], false, "{res}");
    let created = res["payload"]["sessionId"].clone();
    assert!(created.is_string(), "{res}");
    assert_eq!(res["payload"]["entry"]["sessionId"], created, "{res}");
    let res = rw.request("sessions.create", tui_new).await;
    assert_eq!(
        res["payload"]["sessionId"], created,
        "an existing key is adopted: {res}"
    );
    let a = rw
        .request(
            "sessions.create",
            json!({"idempotencyKey": "k-77", "displayName": "Trip planning"}),
        )
        .await;
    let b = rw
        .request("sessions.create", json!({"idempotencyKey": "k-77"}))
        .await;
    assert_eq!(a["payload"]["key"], b["payload"]["key"], "{a} {b}");
    assert_eq!(a["payload"]["sessionId"], b["payload"]["sessionId"]);
    assert_eq!(a["payload"]["entry"]["displayName"], "Trip planning", "{a}");
    for (params, msg) in [
        (
            json!({"model": "x/y"}),
            "sessions.create model is not supported by this gateway: create the session with key, label or displayName only, then chat.send to it",
        ),
        (
            json!({"key": "k", "nope": true}),
            "invalid sessions.create params: at root: unexpected property 'nope'",
        ),
        (
            json!({"displayName": "x".repeat(501)}),
            "invalid sessions.create params: at /displayName: must NOT have more than 500 characters",
        ),
        (
            json!({"key": ""}),
            "invalid sessions.create params: at /key: must NOT have fewer than 1 characters",
        ),
    ] {
        let res = rw.request("sessions.create", params.clone()).await;
        assert_eq!(res["error"]["message"], msg, "{params}: {res}");
    }

    // sessions.patch: the label is the one setting (operator.write may set it); OpenClaw's
    // other settings are refused by name.
    let res = rw
        .request("sessions.patch", json!({"key": "main", "label": " Daily "}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["entry"]["label"], "Daily", "{res}");
    assert_eq!(session(&gw, "agent:main:main").await["label"], "Daily");
    for (params, msg) in [
        (
            json!({"key": "main", "verboseLevel": "on"}),
            "sessions.patch verboseLevel is not supported by this gateway: this gateway has no per-session settings besides the label, the model, the thinking level, the queue mode and the usage footer",
        ),
        (
            json!({"key": "main", "thinkingLevel": "enormous"}),
            "invalid sessions.patch params: at /thinkingLevel: must be one of off, minimal, low, medium, high, xhigh, adaptive, max (or null)",
        ),
        (
            json!({"key": "main", "responseUsage": "loud"}),
            "invalid sessions.patch params: at /responseUsage: must be one of off, tokens, full, on (or null)",
        ),
        (
            json!({"key": "main", "archived": true}),
            "sessions.patch archived is not supported by this gateway: this gateway keeps no session archive: delete the session (`openclaw sessions delete`) or reset it",
        ),
        (
            json!({"key": "nosuch", "label": "x"}),
            "unknown session: agent:main:nosuch",
        ),
        (
            json!({"key": "main"}),
            "invalid sessions.patch params: must have required property 'label'",
        ),
        (
            json!({"key": "main", "label": 7}),
            "invalid sessions.patch params: at /label: must be string",
        ),
    ] {
        let res = rw.request("sessions.patch", params.clone()).await;
        assert_eq!(res["error"]["message"], msg, "{params}: {res}");
    }
    let res = rw
        .request("sessions.patch", json!({"key": "main", "label": null}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert!(res["payload"]["entry"].get("label").is_none(), "{res}");
    let res = rw
        .request("sessions.patch", json!({"key": "main", "label": "Kept"}))
        .await;
    assert_eq!(res["ok"], true, "{res}");

    // A restart keeps all of it.
    let gw = restart(gw);
    assert_eq!(session(&gw, "agent:main:main").await["label"], "Kept");
    assert_eq!(session(&gw, "agent:main:main").await["sessionId"], s2);
    assert_eq!(
        session(&gw, "agent:main:tui-5c1e").await["sessionId"],
        created
    );
}

/// What OpenClaw's TUI (`--message`) and WebChat send: the command as `chat.send` text. The
/// answer is the run's `chat` events and `agent.wait`; nothing reaches the model.
#[actix_web::test]
async fn operator_chat_send_takes_the_same_commands() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.push(FakeReply::text("never").delayed(Duration::from_secs(100)));
    ai.set_default_text("after the reset");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let send =
        |text: &str, id: &str| json!({"sessionKey": "main", "message": text, "idempotencyKey": id});

    let res = op.request("chat.send", send("think long", "op-long")).await;
    assert_eq!(res["payload"]["status"], "started", "{res}");
    ai.wait_requests_async(1, SLOW).await;
    let before = session(&gw, "agent:main:main").await["sessionId"].clone();

    let res = op.request("chat.send", send("/stop", "op-stop")).await;
    assert_eq!(res["payload"]["runId"], "op-stop", "{res}");
    let fin = chat_event(&mut op, "op-stop", "final").await;
    assert_eq!(
        fin["message"]["content"][0]["text"], "⚙️ Agent was aborted.",
        "{fin}"
    );
    chat_event(&mut op, "op-long", "aborted").await;
    let waited = op
        .request("agent.wait", json!({"runId": "op-stop", "timeoutMs": 1000}))
        .await;
    assert_eq!(waited["payload"]["status"], "ok", "{waited}");
    assert_eq!(
        waited["payload"]["text"], "⚙️ Agent was aborted.",
        "{waited}"
    );
    // The same idempotency key again is the same (ended) run, not a second command.
    let res = op.request("chat.send", send("/stop", "op-stop")).await;
    assert_eq!(res["payload"]["status"], "accepted", "{res}");

    let res = op
        .request(
            "agent",
            json!({"message": "/new", "sessionKey": "main", "idempotencyKey": "op-new"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let fin = chat_event(&mut op, "op-new", "final").await;
    assert_eq!(
        fin["message"]["content"][0]["text"], "✅ New session started.",
        "{fin}"
    );
    let after = session(&gw, "agent:main:main").await["sessionId"].clone();
    assert_ne!(before, after);

    let res = op
        .request("chat.send", send("/reset now greet me", "op-rest"))
        .await;
    assert_eq!(res["payload"]["status"], "started", "{res}");
    let fin = chat_event(&mut op, "op-rest", "final").await;
    assert_eq!(
        fin["message"]["content"][0]["text"], "after the reset",
        "{fin}"
    );
    let seen = shown(&ai.requests()[1]);
    assert!(seen.iter().any(|t| t == "now greet me"), "{seen:?}");
    assert!(!seen.iter().any(|t| t == "think long"), "{seen:?}");

    let res = op.request("chat.send", send("/whoami", "op-who")).await;
    assert_eq!(res["ok"], true, "{res}");
    let fin = chat_event(&mut op, "op-who", "final").await;
    let text = fin["message"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(text.contains("Session: agent:main:main"), "{fin}");
    assert_eq!(ai.request_count(), 2, "commands never reach the model");
}

/// The workspace's user-invocable skills join the bot's menu after the chat commands
/// (OpenClaw's `commands.nativeSkills`, default on), under their command names and the first
/// line of their description; `nativeSkills: false` (applied by a config reload, in place)
/// leaves the chat commands only.
#[actix_web::test]
async fn skills_join_the_bots_menu_unless_turned_off() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let dir = tempfile::tempdir().expect("state dir");
    let skills = dir.path().join("workspace/skills");
    let long = format!(
        "---\nname: almanac\ndescription: {}\n---\n# Almanac\n",
        "é".repeat(300)
    );
    for (folder, text) in [
        (
            "tides",
            "---\nname: Tide Tables\ndescription: Tide tables for the coast 🌊\n---\n# Tides\n",
        ),
        (
            "hidden",
            "---\nname: hidden\ndescription: Not a command\nuser-invocable: false\n---\n# Hidden\n",
        ),
        ("almanac", long.as_str()),
    ] {
        std::fs::create_dir_all(skills.join(folder)).expect("mkdir");
        std::fs::write(skills.join(folder).join("SKILL.md"), text).expect("SKILL.md");
    }
    let gw = TestGateway::start_in(
        dir,
        crate::telegram_flow::GW_ARGS,
        &[],
        Some(&config(&tg, None, json!({}))),
    );
    let menu = poll_until(SLOW, "setMyCommands", || {
        let m = tg.my_commands();
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(menu.len(), 18, "{menu:?}");
    assert_eq!(menu[0].0, "new");
    let skill = |name: &str| {
        menu[16..]
            .iter()
            .find(|(c, _)| c == name)
            .map(|(_, d)| d.clone())
    };
    assert_eq!(
        skill("tide_tables").as_deref(),
        Some("Tide tables for the coast 🌊")
    );
    // Within Telegram's bound of 256 characters (not bytes; a skill's description is
    // already cut at 220).
    let almanac = skill("almanac").unwrap_or_default();
    assert!(almanac.starts_with("ééé"), "{almanac}");
    assert!(
        almanac.chars().count() <= 256 && almanac.len() > 256,
        "{almanac}"
    );
    assert_eq!(skill("hidden"), None);

    // Turned off: the next menu has the chat commands only.
    crate::support::replace_file(
        &gw.config_path(),
        &config(&tg, None, json!({"commands": {"nativeSkills": false}})),
    );
    // The fake counts a call when it arrives and sets the menu after: wait for the menu
    // the second call sets (the skills gone), not for the count alone.
    let menu = poll_until(SLOW, "a second setMyCommands without the skills", || {
        let m = tg.my_commands();
        (tg.calls("setMyCommands") >= 2 && !m.iter().any(|(c, _)| c == "tide_tables")).then_some(m)
    })
    .await;
    assert_eq!(menu.len(), 16, "{menu:?}");
    assert!(
        !menu
            .iter()
            .any(|(c, _)| c == "tide_tables" || c == "almanac")
    );
    // The top-level switch applies in place too: the menu is cleared.
    let mut off: Value = serde_json::from_str(&config(&tg, None, json!({}))).expect("cfg");
    off["commands"] = json!({"native": false});
    crate::support::replace_file(&gw.config_path(), &off.to_string());
    poll_until(SLOW, "deleteMyCommands", || {
        // (The menu is emptied just after the call is counted.)
        (tg.calls("deleteMyCommands") >= 1 && tg.my_commands().is_empty()).then_some(())
    })
    .await;
    assert!(
        !gw.stderr().contains("needs a gateway restart"),
        "{}",
        gw.stderr()
    );
}

/// The commands become the bot's menu at start (`commands.native`, default on); `false`
/// clears a menu set before; a value that is not a setting refuses the start.
#[actix_web::test]
async fn the_commands_become_the_bots_menu_unless_turned_off() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let menu = poll_until(SLOW, "setMyCommands", || {
        let m = tg.my_commands();
        (!m.is_empty()).then_some(m)
    })
    .await;
    let names: Vec<&str> = menu.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "new",
            "reset",
            "stop",
            "status",
            "whoami",
            "model",
            "tts",
            "think",
            "queue",
            "steer",
            "usage",
            "subagents",
            "tools",
            "compact",
            "restart",
            "help"
        ]
    );
    drop(gw);

    // Turned off per account: the menu set before is cleared.
    let gw = start_gateway(&config(&tg, None, json!({"commands": {"native": false}})));
    poll_until(SLOW, "deleteMyCommands", || {
        (tg.calls("deleteMyCommands") == 1 && tg.my_commands().is_empty()).then_some(())
    })
    .await;
    assert_eq!(tg.calls("setMyCommands"), 1, "only the first start set it");
    drop(gw);

    // The top-level switch applies when the account says nothing.
    let mut cfg: Value = serde_json::from_str(&config(&tg, None, json!({}))).expect("json");
    cfg["commands"] = json!({"native": false});
    let gw = start_gateway(&cfg.to_string());
    poll_until(SLOW, "a second deleteMyCommands", || {
        (tg.calls("deleteMyCommands") == 2).then_some(())
    })
    .await;
    assert_eq!(tg.calls("setMyCommands"), 1);
    drop(gw);
}

#[test]
fn a_native_commands_value_that_is_not_a_setting_refuses_the_start() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let cfg = config(&tg, None, json!({"commands": {"native": "sometimes"}}));
    let home = crate::support::CliHome::with_config(&cfg);
    let out = home.run(crate::telegram_flow::GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr
            .contains("channels.telegram.commands.native is \"sometimes\""),
        "{out}"
    );
    assert_eq!(tg.calls("getMe"), 0, "never reached Telegram");
}

/// `sessions.delete` (OpenClaw's; `openclaw sessions delete`): refusals, a run in progress
/// aborted before its transcript is archived, the key starting afresh, a restart.
#[actix_web::test]
async fn sessions_delete_forgets_a_session_and_archives_its_transcript() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("first answer");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let mut op = admin(&gw).await;
    let key = "agent:main:telegram:direct:7905";
    let m = dm(&tg, 7905, "remember the lighthouse");
    wait_reply(&tg, m, SLOW).await;
    let row = session(&gw, key).await;
    let sid = row["sessionId"].as_str().expect("id").to_owned();

    let (mut rw, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let res = rw.request("sessions.delete", json!({"key": key})).await;
    assert_eq!(
        res["error"]["message"], "missing scope: operator.admin",
        "{res}"
    );
    for (params, msg) in [
        (
            json!({"key": "main"}),
            "Cannot delete the main session (agent:main:main).",
        ),
        (
            json!({"key": key, "expectedSessionId": "other"}),
            "Session agent:main:telegram:direct:7905 changed before deletion. Retry.",
        ),
        (
            json!({"key": key, "archivedOnly": true}),
            "sessions.delete archivedOnly is not supported by this gateway (it keeps no session archive): delete with key and expectedSessionId",
        ),
        (
            json!({"key": key, "deleteTranscript": "yes"}),
            "invalid sessions.delete params: at /deleteTranscript: must be boolean",
        ),
        (
            json!({"key": key, "expectedSessionUpdatedAt": -1}),
            "invalid sessions.delete params: at /expectedSessionUpdatedAt: must be >= 0",
        ),
    ] {
        let res = op.request("sessions.delete", params.clone()).await;
        assert_eq!(res["error"]["message"], msg, "{params}: {res}");
    }
    assert_eq!(session(&gw, key).await["sessionId"], sid.as_str());
    let res = op
        .request("sessions.delete", json!({"key": "agent:main:nosuch"}))
        .await;
    assert_eq!(res["payload"]["deleted"], false, "{res}");

    // A run in progress: aborted, then the transcript (with its user line) is archived.
    ai.push(FakeReply::text("never").delayed(Duration::from_secs(100)));
    let hanging = dm(&tg, 7905, "a question that hangs");
    ai.wait_requests_async(2, SLOW).await;
    let res = op
        .request(
            "sessions.delete",
            json!({"key": key, "expectedSessionId": sid}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["deleted"], true, "{res}");
    let archived = res["payload"]["archived"][0]
        .as_str()
        .expect("the archived transcript")
        .to_owned();
    assert!(archived.contains(&format!("{sid}.jsonl.deleted.")), "{res}");
    let kept = std::fs::read_to_string(&archived).expect("archived file");
    assert!(kept.contains("remember the lighthouse"), "{kept}");
    assert!(kept.contains("a question that hangs"), "{kept}");
    assert!(
        !gw.dir
            .path()
            .join(format!("agents/main/sessions/{sid}.jsonl"))
            .exists(),
        "no live transcript is left under the old id"
    );
    assert_eq!(session(&gw, key).await, Value::Null);
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, hanging).is_empty());

    // The key starts a new session: the model does not see the old conversation.
    let m = dm(&tg, 7905, "what did I ask you to remember?");
    wait_reply(&tg, m, SLOW).await;
    let seen = shown(&ai.requests()[2]);
    assert!(!seen.iter().any(|t| t.contains("lighthouse")), "{seen:?}");
    let fresh = session(&gw, key).await["sessionId"].clone();
    assert!(fresh.is_string() && fresh != sid.as_str(), "{fresh}");

    // deleteTranscript: false leaves the file where it is.
    let res = op
        .request(
            "sessions.delete",
            json!({"key": key, "deleteTranscript": false}),
        )
        .await;
    assert_eq!(res["payload"]["archived"], json!([]), "{res}");
    let live = gw.dir.path().join(format!(
        "agents/main/sessions/{}.jsonl",
        fresh.as_str().unwrap_or("")
    ));
    assert!(live.exists());
    let gw = restart(gw);
    assert_eq!(
        session(&gw, key).await,
        Value::Null,
        "still gone after a restart"
    );
}

/// A `/new` handed again after a crash (SIGKILL while its reply's `sendMessage` answer is
/// held, so it is still pending) is answered again but resets nothing: the session it made,
/// and the message answered in it since, stay. (At least once: the user sees the notice
/// twice.)
#[actix_web::test]
async fn a_new_handed_again_after_a_crash_does_not_reset_twice() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("kept");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let key = "agent:main:telegram:direct:7906";
    let first = dm(&tg, 7906, "before");
    wait_reply(&tg, first, SLOW).await;
    // Its run ends after its reply is out: the /new must not find it still going.
    let before = settled_session(&gw, key).await["sessionId"].clone();

    tg.hold_send_responses(true);
    let new = dm(&tg, 7906, "/new");
    wait_reply(&tg, new, SLOW).await;
    let after = session(&gw, key).await["sessionId"].clone();
    assert_ne!(before, after);
    crate::telegram_flow::wait_status(&gw, SLOW, "the /new still pending", |a| {
        a["pendingInbound"] == 1
    })
    .await;
    let mut gw = gw;
    let dir = gw.take_dir();
    drop(gw); // SIGKILL while the sendMessage answer is held
    tg.hold_send_responses(false);
    let gw = TestGateway::start_in(dir, crate::telegram_flow::GW_ARGS, &[], None);
    all_answered(&gw, &tg).await;
    let notices = replies_to(&tg, new);
    assert_eq!(notices.len(), 2, "answered again: {:?}", tg.sent());
    assert!(
        notices
            .iter()
            .all(|n| n.text() == "✅ New session started."),
        "{:?}",
        notices.iter().map(|n| n.text()).collect::<Vec<_>>()
    );
    assert_eq!(
        session(&gw, key).await["sessionId"],
        after,
        "the second hand-over reset nothing"
    );
    let m = dm(&tg, 7906, "still here?");
    wait_reply(&tg, m, SLOW).await;
    assert_eq!(session(&gw, key).await["sessionId"], after);
}

/// In a group the bot reads only what is addressed to it: `/new@bot` (Telegram's form from
/// the command menu) resets the group's session for everyone in it; a bare `/new` is not
/// addressed and changes nothing; `@bot stop` aborts the group's reply in progress.
#[actix_web::test]
async fn group_commands_must_be_addressed_to_the_bot() {
    use crate::telegram_flow::group_mention;

    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("group answer");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"groupPolicy": "open"})));
    let key = "agent:main:telegram:group:-7100";
    let m = group_mention(
        &tg,
        -7100,
        7101,
        "@openclaw_test_bot remember the blue door",
    );
    wait_reply(&tg, m, SLOW).await;
    let first = session(&gw, key).await["sessionId"].clone();

    let bare = group_mention(&tg, -7100, 7102, "/new");
    // Confirmed to Telegram and nothing pending: the channel has decided on it.
    all_answered(&gw, &tg).await;
    assert!(
        replies_to(&tg, bare).is_empty(),
        "not addressed: {:?}",
        tg.sent()
    );
    assert_eq!(session(&gw, key).await["sessionId"], first);

    let new = group_mention(&tg, -7100, 7102, "/new@openclaw_test_bot");
    let r = wait_reply(&tg, new, SLOW).await;
    assert_eq!(r.text(), "✅ New session started.");
    assert_ne!(session(&gw, key).await["sessionId"], first);

    ai.push(FakeReply::text("never").delayed(Duration::from_secs(100)));
    let hang = group_mention(&tg, -7100, 7101, "@openclaw_test_bot think hard");
    ai.wait_requests_async(2, SLOW).await;
    let stop = group_mention(&tg, -7100, 7103, "@openclaw_test_bot stop");
    let r = wait_reply(&tg, stop, SLOW).await;
    assert_eq!(r.text(), "⚙️ Agent was aborted.");
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, hang).is_empty());
    assert_eq!(
        ai.request_count(),
        2,
        "the commands never reached the model"
    );
}

/// `commands.list` (what OpenClaw's TUI asks for its slash-command completion): the chat
/// commands the gateway answers, in OpenClaw's entry shape; bad filters refused.
#[actix_web::test]
async fn commands_list_names_the_chat_commands() {
    let gw = TestGateway::with_token(GW_TOKEN);
    let (mut reader, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    let res = reader
        .request(
            "commands.list",
            json!({"agentId": "main", "scope": "text", "includeArgs": false}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let commands = res["payload"]["commands"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = commands.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "new",
            "reset",
            "stop",
            "status",
            "whoami",
            "model",
            "tts",
            "think",
            "queue",
            "steer",
            "usage",
            "subagents",
            "tools",
            "compact",
            "restart",
            "help"
        ]
    );
    let whoami = &commands[4];
    assert_eq!(whoami["textAliases"], json!(["/whoami", "/id"]), "{whoami}");
    assert_eq!(whoami["source"], "native");
    assert_eq!(whoami["scope"], "both");
    assert_eq!(commands[0]["acceptsArgs"], true);
    for (params, msg) in [
        (
            json!({"scope": "everywhere"}),
            "invalid commands.list params: at /scope: must be equal to one of the allowed values",
        ),
        (
            json!({"x": 1}),
            "invalid commands.list params: at root: unexpected property 'x'",
        ),
        (json!([1]), "invalid commands.list params: must be object"),
    ] {
        let res = reader.request("commands.list", params.clone()).await;
        assert_eq!(res["error"]["message"], msg, "{params}: {res}");
    }
}
