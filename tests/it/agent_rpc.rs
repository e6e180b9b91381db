//! The operator side of agent runs against the real gateway binary: `chat.send` with its
//! `chat` events, `chat.history`, idempotency, the two-phase `agent` response, `agent.wait`,
//! `sessions.list`, `send`, `channels.status` / `health` with a Telegram account, and the
//! per-session run queue (sequential within a session, parallel across sessions).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{TestGateway, WsClient, cli_params, replace_file};
use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, dm, poll_until, start_gateway, wait_reply};

const RW: &[&str] = &["operator.read", "operator.write"];

async fn setup() -> (FakeTelegram, FakeOpenAi, TestGateway, WsClient) {
    setup_with(None).await
}

/// [`setup`] with `messages.queue` set (`followup`: one run per message).
async fn setup_with(queue: Option<Value>) -> (FakeTelegram, FakeOpenAi, TestGateway, WsClient) {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg = config(&tg, Some(&ai), json!({}));
    if let Some(q) = queue {
        cfg = crate::telegram_flow::with_queue(&cfg, q);
    }
    let gw = start_gateway(&cfg);
    let (op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    (tg, ai, gw, op)
}

/// Waits for the `chat` event of `run_id` in `state` (the others go back to the backlog).
pub async fn chat_event(op: &mut WsClient, run_id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no chat {state} event for {run_id}; saw {seen:?}"
        );
        let ev = op.event_within("chat", left).await;
        if ev["payload"]["runId"] == run_id && ev["payload"]["state"] == state {
            // Put the others back for later waits.
            op.backlog.extend(seen);
            return ev["payload"].clone();
        }
        seen.push(ev);
    }
}

/// `chat.send` with `params` (and the idempotency key `key`), then its `final` event.
pub(crate) async fn chat_turn(op: &mut WsClient, key: &str, mut params: Value) -> Value {
    params["idempotencyKey"] = json!(key);
    let res = op.request("chat.send", params).await;
    assert_eq!(res["ok"], true, "{res}");
    chat_event(op, key, "final").await
}

#[actix_web::test]
async fn chat_send_streams_chat_events_and_records_history() {
    let (_tg, ai, _gw, mut op) = setup().await;
    ai.push(FakeReply::text("Hello from the model.").delayed(Duration::from_millis(300)));
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "hi there", "idempotencyKey": "run-chat-1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["runId"], "run-chat-1", "{res}");
    assert_eq!(res["payload"]["status"], "started", "{res}");

    // The same idempotency key while the run is in flight: no second run.
    let dup = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "hi there", "idempotencyKey": "run-chat-1"}),
        )
        .await;
    assert_eq!(dup["ok"], true, "{dup}");
    let st = dup["payload"]["status"].as_str().unwrap_or_default();
    assert!(st == "in_flight" || st == "accepted", "{dup}");
    assert_eq!(dup["payload"]["runId"], "run-chat-1", "{dup}");

    let delta = chat_event(&mut op, "run-chat-1", "delta").await;
    assert_eq!(delta["sessionKey"], "agent:main:main", "{delta}");
    assert_eq!(delta["deltaText"], "Hello from the model.", "{delta}");
    let fin = chat_event(&mut op, "run-chat-1", "final").await;
    assert_eq!(fin["sessionKey"], "agent:main:main", "{fin}");
    assert_eq!(
        fin["message"]["content"][0]["text"], "Hello from the model.",
        "{fin}"
    );
    assert_eq!(fin["message"]["role"], "assistant", "{fin}");
    assert!(delta["seq"].as_u64() < fin["seq"].as_u64(), "{delta} {fin}");

    let hist = op
        .request("chat.history", json!({"sessionKey": "main"}))
        .await;
    assert_eq!(hist["ok"], true, "{hist}");
    let msgs = hist["payload"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("messages array: {hist}"));
    assert_eq!(msgs.len(), 2, "{hist}");
    assert_eq!(msgs[0]["role"], "user", "{hist}");
    assert_eq!(msgs[0]["content"][0]["text"], "hi there", "{hist}");
    assert_eq!(msgs[1]["role"], "assistant", "{hist}");
    assert_eq!(
        msgs[1]["content"][0]["text"], "Hello from the model.",
        "{hist}"
    );

    // Each message has its id (`__openclaw.id`), and `chat.message.get` finds it by that.
    let ids: Vec<String> = msgs
        .iter()
        .map(|m| {
            m["__openclaw"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        ids.iter().all(|i| i.len() == 32) && ids[0] != ids[1],
        "{hist}"
    );
    let one = op
        .request(
            "chat.message.get",
            json!({"sessionKey": "main", "messageId": ids[1]}),
        )
        .await;
    assert_eq!(one["payload"]["ok"], true, "{one}");
    assert_eq!(one["payload"]["message"], msgs[1], "{one}");
    let cut = op
        .request(
            "chat.message.get",
            json!({"sessionKey": "agent:main:main", "messageId": ids[1], "maxChars": 5}),
        )
        .await;
    assert_eq!(
        cut["payload"]["message"]["content"][0]["text"], "Hello\n...(truncated)...",
        "{cut}"
    );
    for params in [
        json!({"sessionKey": "main", "messageId": "0".repeat(32)}),
        json!({"sessionKey": "agent:main:elsewhere", "messageId": ids[0]}),
    ] {
        let none = op.request("chat.message.get", params).await;
        assert_eq!(
            none["payload"],
            json!({"ok": false, "unavailableReason": "not_found"}),
            "{none}"
        );
    }
    for (params, want) in [
        (
            json!({"sessionKey": "main"}),
            "must have required property 'messageId'",
        ),
        (
            json!({"sessionKey": "main", "messageId": ""}),
            "must NOT have fewer than 1 characters",
        ),
        (
            json!({"sessionKey": "main", "messageId": "x", "maxChars": 0}),
            "must be >= 1",
        ),
        (
            json!({"sessionKey": "main", "messageId": "x", "extra": 1}),
            "unexpected property",
        ),
    ] {
        let bad = op.request("chat.message.get", params.clone()).await;
        assert!(
            bad["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(want)),
            "{params}: {bad}"
        );
    }

    // `sessions.get` (what `openclaw acp` replays an editor session from): the same
    // messages by `key` or `sessionKey`, a number `limit` floored, an unknown session empty.
    for params in [
        json!({"key": "main"}),
        json!({"sessionKey": "agent:main:main", "limit": 1e9}),
    ] {
        let got = op.request("sessions.get", params.clone()).await;
        assert_eq!(
            got["payload"]["messages"], hist["payload"]["messages"],
            "{params}: {got}"
        );
    }
    let last = op
        .request("sessions.get", json!({"key": "main", "limit": 1.7}))
        .await;
    assert_eq!(
        last["payload"]["messages"],
        json!([msgs[1].clone()]),
        "{last}"
    );
    let none = op
        .request("sessions.get", json!({"key": "agent:main:never-😀"}))
        .await;
    assert_eq!(none["payload"], json!({"messages": []}), "{none}");
    for (params, want) in [
        (json!({}), "key required"),
        (json!({"key": "   "}), "key required"),
        (json!({"key": ["main"]}), "key required"),
        (
            json!({"key": "main", "agentId": "ghost"}),
            "unknown agent id: ghost",
        ),
        (json!("main"), "invalid sessions.get params: must be object"),
    ] {
        let bad = op.request("sessions.get", params.clone()).await;
        assert_eq!(bad["ok"], false, "{params}: {bad}");
        assert!(
            bad["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(want)),
            "{params}: {bad}"
        );
    }

    // After the run: the key is still known, nothing new runs.
    let again = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "hi there", "idempotencyKey": "run-chat-1"}),
        )
        .await;
    assert_eq!(again["payload"]["status"], "accepted", "{again}");
    assert_eq!(ai.request_count(), 1, "one model call: {:?}", ai.requests());
}

#[actix_web::test]
async fn agent_answers_twice_on_one_id_and_agent_wait_reports_the_run() {
    let (_tg, ai, _gw, mut op) = setup().await;
    ai.push_text("Agent answer.");
    let id = op
        .send_request(
            "agent",
            json!({"message": "do the thing", "idempotencyKey": "run-agent-1"}),
        )
        .await;
    let first = op.response(&id).await;
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(first["payload"]["runId"], "run-agent-1", "{first}");
    assert_eq!(first["payload"]["status"], "accepted", "{first}");
    assert!(first["payload"]["acceptedAt"].is_u64(), "{first}");
    let second = op.response(&id).await;
    assert_eq!(second["ok"], true, "{second}");
    let p = &second["payload"];
    assert_eq!(p["runId"], "run-agent-1", "{second}");
    assert_eq!(p["status"], "ok", "{second}");
    assert_eq!(p["summary"], "completed", "{second}");
    assert_eq!(
        p["result"]["payloads"][0]["text"], "Agent answer.",
        "{second}"
    );

    let wait = op
        .request(
            "agent.wait",
            json!({"runId": "run-agent-1", "timeoutMs": 5000}),
        )
        .await;
    assert_eq!(wait["ok"], true, "{wait}");
    assert_eq!(wait["payload"]["status"], "ok", "{wait}");
    assert_eq!(wait["payload"]["text"], "Agent answer.", "{wait}");
    assert!(wait["payload"]["endedAt"].is_u64(), "{wait}");

    // agent.wait on a run still in flight resolves when it ends.
    ai.push(FakeReply::text("slow answer").delayed(Duration::from_millis(500)));
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "slow", "idempotencyKey": "run-agent-2"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let wait = op
        .request(
            "agent.wait",
            json!({"runId": "run-agent-2", "timeoutMs": 5000}),
        )
        .await;
    assert_eq!(wait["payload"]["status"], "ok", "{wait}");
    assert_eq!(wait["payload"]["text"], "slow answer", "{wait}");
    assert_eq!(ai.request_count(), 2);
}

#[actix_web::test]
async fn sessions_send_channels_status_and_health_with_telegram() {
    let (tg, ai, gw, mut op) = setup().await;
    let mid = dm(&tg, 6101, "hello from telegram");
    wait_reply(&tg, mid, Duration::from_secs(10)).await;
    chat_turn(
        &mut op,
        "run-s-1",
        json!({"sessionKey": "main", "message": "hello from the CLI"}),
    )
    .await;

    let list = op.request("sessions.list", json!({})).await;
    assert_eq!(list["ok"], true, "{list}");
    let rows = list["payload"]["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("sessions array: {list}"));
    let row = |key: &str| {
        rows.iter()
            .find(|r| r["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no session {key}: {list}"))
    };
    let main = row("agent:main:main");
    assert!(main["sessionId"].is_string(), "{main}");
    let tgs = row("agent:main:telegram:direct:6101");
    assert_eq!(tgs["channel"], "telegram", "{tgs}");
    assert_eq!(tgs["chatId"], 6101, "{tgs}");
    assert_eq!(tgs["hasActiveRun"], false, "{tgs}");
    assert_eq!(list["payload"]["count"], 2, "{list}");

    let res = op
        .request(
            "send",
            json!({"to": "6101", "message": "a proactive note", "idempotencyKey": "send-1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let sent = poll_until(Duration::from_secs(10), "the send RPC's message", || {
        tg.sent()
            .into_iter()
            .find(|s| s.text() == "a proactive note")
    })
    .await;
    assert_eq!(sent.chat_id(), Some(6101), "{:?}", sent.body);
    assert_eq!(
        res["payload"]["messageId"], sent.message_id,
        "{res} {:?}",
        sent.body
    );
    // The same idempotency key again: the first result, no second message.
    let again = op
        .request(
            "send",
            json!({"to": "6101", "message": "a proactive note", "idempotencyKey": "send-1"}),
        )
        .await;
    assert_eq!(again["ok"], true, "{again}");
    assert_eq!(
        again["payload"]["messageId"], res["payload"]["messageId"],
        "{again}"
    );
    assert_eq!(again["payload"]["deduplicated"], true, "{again}");
    let copies = tg
        .sent()
        .into_iter()
        .filter(|s| s.text() == "a proactive note")
        .count();
    assert_eq!(copies, 1, "a repeated idempotency key must not send twice");
    let bad = op
        .request(
            "send",
            json!({"to": "@someone", "message": "x", "idempotencyKey": "send-2"}),
        )
        .await;
    assert_eq!(bad["ok"], false, "{bad}");

    let status = op.request("channels.status", json!({})).await;
    assert_eq!(status["ok"], true, "{status}");
    let t = &status["payload"]["channels"]["telegram"];
    assert_eq!(t["configured"], true, "{status}");
    assert_eq!(t["running"], true, "{status}");
    let acc = &t["accounts"]["default"];
    assert_eq!(acc["running"], true, "{status}");
    assert_eq!(acc["mode"], "polling", "{status}");
    assert_eq!(acc["botUsername"], tg.bot_username(), "{status}");
    assert_eq!(acc["dmPolicy"], "open", "{status}");
    assert!(acc["lastInboundAtMs"].is_u64(), "{status}");
    assert!(acc["lastOutboundAtMs"].is_u64(), "{status}");
    assert_eq!(status["payload"]["channelOrder"], json!(["telegram"]));

    let health = op.request("health", json!({})).await;
    assert_eq!(health["ok"], true, "{health}");
    let h = &health["payload"];
    assert_eq!(h["ok"], true, "{health}");
    assert_eq!(h["channels"]["telegram"]["running"], true, "{health}");
    assert_eq!(h["channelsHealthy"], true, "{health}");
    assert_eq!(ai.request_count(), 2);
    drop(gw);
}

#[actix_web::test]
async fn runs_queue_within_a_session_and_run_in_parallel_across_sessions() {
    let (_tg, ai, _gw, mut op) = setup_with(Some(json!({"mode": "followup"}))).await;
    let delay = Duration::from_millis(800);

    // One session: the second run's model call starts only after the first answered.
    ai.push(FakeReply::text("first").delayed(delay));
    ai.push(FakeReply::text("second"));
    let send = |key: &str, session: &str| json!({"sessionKey": session, "message": format!("msg {key}"), "idempotencyKey": key});
    let r1 = op.request("chat.send", send("q-1", "main")).await;
    let r2 = op.request("chat.send", send("q-2", "main")).await;
    assert_eq!(r1["payload"]["status"], "started", "{r1}");
    assert_eq!(r2["payload"]["status"], "queued", "{r2}");
    chat_event(&mut op, "q-2", "final").await;
    let rec = ai.recorded();
    assert_eq!(rec.len(), 2);
    assert!(
        rec[1].at.duration_since(rec[0].at) >= delay,
        "second model call waited for the first: {:?}",
        rec[1].at.duration_since(rec[0].at)
    );
    let q1 = chat_event(&mut op, "q-1", "final").await;
    assert_eq!(q1["message"]["content"][0]["text"], "first");
    // The second run saw the first exchange as history.
    let msgs = rec[1].body["messages"].to_string();
    assert!(msgs.contains("msg q-1") && msgs.contains("first"), "{msgs}");

    // Two sessions: both model calls are in flight at once.
    ai.push(FakeReply::text("a").delayed(delay));
    ai.push(FakeReply::text("b").delayed(delay));
    let ra = op.request("chat.send", send("p-a", "alpha")).await;
    let rb = op.request("chat.send", send("p-b", "beta")).await;
    assert_eq!(ra["payload"]["status"], "started", "{ra}");
    assert_eq!(rb["payload"]["status"], "started", "{rb}");
    ai.wait_requests_async(4, Duration::from_secs(10)).await;
    let rec = ai.recorded();
    assert!(
        rec[3].at.duration_since(rec[2].at) < delay,
        "both sessions' model calls in flight together: {:?}",
        rec[3].at.duration_since(rec[2].at)
    );
    let fa = chat_event(&mut op, "p-a", "final").await;
    let fb = chat_event(&mut op, "p-b", "final").await;
    assert_eq!(fa["sessionKey"], "agent:main:alpha", "{fa}");
    assert_eq!(fb["sessionKey"], "agent:main:beta", "{fb}");
}

#[actix_web::test]

async fn hello_ok_advertises_the_agent_methods() {
    let (_tg, _ai, gw, op) = setup().await;
    drop(op);
    let (_op, hello) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let methods = hello["features"]["methods"]
        .as_array()
        .unwrap_or_else(|| panic!("features.methods: {hello}"));
    for m in [
        "chat.send",
        "chat.history",
        "chat.abort",
        "agent",
        "agent.wait",
        "send",
        "sessions.list",
        "channels.status",
    ] {
        assert!(
            methods.iter().any(|x| x == m),
            "{m} is implemented but not advertised in hello-ok features.methods: {methods:?}"
        );
    }
}

#[actix_web::test]
async fn chat_abort_stops_the_running_run_and_drops_the_queued_one() {
    let (_tg, ai, _gw, mut op) = setup_with(Some(json!({"mode": "followup"}))).await;
    // The model holds its answer far longer than the test runs.
    ai.push(FakeReply::text("too late").delayed(Duration::from_secs(60)));
    for (key, text) in [("run-abort-a", "hold"), ("run-abort-b", "queued")] {
        let res = op
            .request(
                "chat.send",
                json!({"sessionKey": "main", "message": text, "idempotencyKey": key}),
            )
            .await;
        assert_eq!(res["ok"], true, "{res}");
    }
    // Run a is running (the model has its request); b waits behind it.
    ai.wait_requests_async(1, Duration::from_secs(10)).await;

    let res = op
        .request("chat.abort", json!({"sessionKey": "main"}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"],
        json!({"ok": true, "aborted": true, "runIds": ["run-abort-a", "run-abort-b"]}),
        "{res}"
    );
    let ev = chat_event(&mut op, "run-abort-a", "aborted").await;
    assert_eq!(ev["sessionKey"], "agent:main:main", "{ev}");
    assert_eq!(ev["stopReason"], "aborted", "{ev}");
    for run in ["run-abort-a", "run-abort-b"] {
        let wait = op
            .request("agent.wait", json!({"runId": run, "timeoutMs": 5000}))
            .await;
        assert_eq!(wait["payload"]["status"], "aborted", "{run}: {wait}");
    }

    // The session is free again: the next run gets the model's next answer.
    ai.push_text("after the abort");
    let fin = chat_turn(
        &mut op,
        "run-abort-c",
        json!({"sessionKey": "main", "message": "again"}),
    )
    .await;
    assert_eq!(
        fin["message"]["content"][0]["text"], "after the abort",
        "{fin}"
    );
    // b never reached the model, and the aborted answer is not in the history.
    assert_eq!(ai.request_count(), 2);
    let said = history_texts(&mut op, json!({"sessionKey": "main"})).await;
    let pair = |r: &str, t: &str| (r.to_owned(), t.to_owned());
    // The aborted run's user message is kept, its answer is not; b left no trace.
    assert_eq!(
        said,
        vec![
            pair("user", "hold"),
            pair("user", "again"),
            pair("assistant", "after the abort")
        ],
    );
}

#[actix_web::test]
async fn chat_abort_with_nothing_running() {
    let (_tg, ai, _gw, mut op) = setup().await;
    for params in [
        json!({"sessionKey": "main"}),
        json!({"sessionKey": "main", "runId": "no-such-run"}),
        json!({"sessionKey": "never-used"}),
    ] {
        let res = op.request("chat.abort", params.clone()).await;
        assert_eq!(res["ok"], true, "{params}: {res}");
        assert_eq!(
            res["payload"],
            json!({"ok": true, "aborted": false, "runIds": []}),
            "{params}: {res}"
        );
    }
    // A finished run is not aborted after the fact.
    ai.push_text("done");
    chat_turn(
        &mut op,
        "run-done",
        json!({"sessionKey": "main", "message": "hi"}),
    )
    .await;
    let res = op
        .request(
            "chat.abort",
            json!({"sessionKey": "main", "runId": "run-done"}),
        )
        .await;
    assert_eq!(
        res["payload"],
        json!({"ok": true, "aborted": false, "runIds": []}),
        "{res}"
    );
    let wait = op
        .request(
            "agent.wait",
            json!({"runId": "run-done", "timeoutMs": 1000}),
        )
        .await;
    assert_eq!(wait["payload"]["status"], "ok", "{wait}");
    // Bad params.
    let res = op.request("chat.abort", json!({})).await;
    let err = crate::support::error_of(&res);
    assert_eq!(err["code"], "INVALID_REQUEST", "{res}");
    assert_eq!(
        err["message"], "invalid chat.abort params: must have required property 'sessionKey'",
        "{res}"
    );
}

/// Each `message.action` call is refused with INVALID_REQUEST, its message saying the text
/// given beside it.
async fn refused_all<const N: usize>(op: &mut WsClient, refused: [(Value, &str); N]) {
    for (params, why) in refused {
        let res = op.request("message.action", params.clone()).await;
        assert_eq!(res["ok"], false, "{params}: {res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{params}: {res}");
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(why), "{params}: {msg:?} should say {why:?}");
    }
}

/// `message.action` (what `openclaw message send` calls): `send` goes out as `send` does,
/// with the same idempotency; a dry run, media, other actions and malformed calls send
/// nothing and say why.
#[actix_web::test]
async fn message_action_send_delivers_once_and_refuses_what_it_cannot_do() {
    let (tg, _ai, _gw, mut op) = setup().await;
    let text = "line one\nüñí©ødé 🦀 \u{202e}rtl\u{0}nul";
    let call = |params: Value, key: &str| {
        json!({"channel": "telegram", "action": "send", "params": params,
               "idempotencyKey": key, "conversationReadOrigin": "direct-operator"})
    };
    let res = op
        .request(
            "message.action",
            call(json!({"to": "telegram:6101", "message": text}), "ma-1"),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let sent = poll_until(Duration::from_secs(10), "the message.action send", || {
        tg.sent().into_iter().find(|s| s.text() == text)
    })
    .await;
    assert_eq!(sent.chat_id(), Some(6101), "{:?}", sent.body);
    let id = sent.message_id.to_string();
    assert_eq!(res["payload"]["messageId"], id, "{res}");
    assert_eq!(res["payload"]["result"]["messageId"], id, "{res}");
    assert_eq!(res["payload"]["channel"], "telegram", "{res}");

    // The same key again (the CLI's retry after a lost answer): the first result.
    let again = op
        .request(
            "message.action",
            call(json!({"to": "telegram:6101", "message": text}), "ma-1"),
        )
        .await;
    assert_eq!(again["payload"]["messageId"], id, "{again}");
    assert_eq!(again["payload"]["deduplicated"], true, "{again}");
    // A `send` with the same key is another call (OpenClaw keys them apart).
    let other = op
        .request(
            "send",
            json!({"to": "6101", "message": "same key, other method", "idempotencyKey": "ma-1"}),
        )
        .await;
    assert_eq!(other["ok"], true, "{other}");
    assert_ne!(other["payload"]["deduplicated"], true, "{other}");
    poll_until(
        Duration::from_secs(10),
        "the send with the same key",
        || {
            tg.sent()
                .into_iter()
                .find(|s| s.text() == "same key, other method")
        },
    )
    .await;

    // `target` in place of `to`, a dry run: checked, not sent.
    let dry = op
        .request(
            "message.action",
            call(
                json!({"target": "6101", "message": "dry", "dryRun": true}),
                "ma-2",
            ),
        )
        .await;
    assert_eq!(dry["ok"], true, "{dry}");
    assert_eq!(dry["payload"]["dryRun"], true, "{dry}");
    assert_eq!(dry["payload"]["messageId"], Value::Null, "{dry}");

    let refused = [
        (
            json!({"channel": "telegram", "action": "sticker", "params": {"to": "6101", "messageId": 1}, "idempotencyKey": "ma-3"}),
            "Channel telegram does not support action sticker.",
        ),
        (
            call(
                json!({"to": "6101", "message": "pic", "media": "/etc/passwd"}),
                "ma-4",
            ),
            "Files are sent from the agent's workspace",
        ),
        (
            call(
                json!({"to": "6101", "message": "x", "buffer": "%%%"}),
                "ma-5",
            ),
            "buffer is not base64",
        ),
        (
            call(json!({"message": "nobody"}), "ma-6"),
            "params.to (or params.target) is required",
        ),
        (
            call(json!({"to": "6101"}), "ma-7"),
            "params.message is required",
        ),
        (
            call(
                json!({"to": "6101", "message": "x", "presentation": {"blocks": [{"type": "buttons"}]}}),
                "ma-7b",
            ),
            "presentation.blocks[0].buttons must be an array",
        ),
        (
            json!({"channel": "telegram", "action": "send", "params": {"to": "6101", "message": "x"}}),
            "must have required property 'idempotencyKey'",
        ),
        (
            json!({"channel": "telegram", "action": "send", "params": "to=6101", "idempotencyKey": "ma-8"}),
            "must be object",
        ),
        (
            json!({"channel": "", "action": "send", "params": {}, "idempotencyKey": "ma-9"}),
            "invalid message.action params",
        ),
        (
            json!([1, 2]),
            "invalid message.action params: must be object",
        ),
    ];
    refused_all(&mut op, refused).await;
    // An unknown channel and a bad Telegram target are the channel's own errors.
    let res = op
        .request(
            "message.action",
            json!({"channel": "nosuch", "action": "send", "params": {"to": "1", "message": "x"}, "idempotencyKey": "ma-10"}),
        )
        .await;
    assert_eq!(res["ok"], false, "{res}");
    let res = op
        .request(
            "message.action",
            call(json!({"to": "@someone", "message": "x"}), "ma-11"),
        )
        .await;
    assert_eq!(res["ok"], false, "{res}");

    // Only the one message went out.
    let total = tg.sent().len();
    assert_eq!(tg.sent().iter().filter(|s| s.text() == text).count(), 1);
    assert!(
        !tg.sent()
            .iter()
            .any(|s| ["dry", "pic", "x", "nobody"].contains(&s.text())),
        "nothing refused was sent: {total} messages"
    );
}

/// `sessions.subscribe` (what OpenClaw's TUI asks for first): the subscribed connection gets
/// `sessions.changed` when a run starts and ends in a session, others do not;
/// `sessions.describe` answers one session's row (or `null`).
#[actix_web::test]
async fn sessions_subscribe_sends_sessions_changed_and_describe_answers_one_row() {
    let (tg, ai, gw, mut op) = setup().await;
    let (mut sub, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let res = sub.request("sessions.subscribe", json!({})).await;
    assert_eq!(res["payload"], json!({"subscribed": true}), "{res}");
    // `operator.sessions.read` may subscribe (OpenClaw's session read methods).
    let (mut reader, _) =
        WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.sessions.read"])).await;
    let res = reader
        .request("sessions.subscribe", json!({"limit": 1}))
        .await;
    assert_eq!(res["payload"]["subscribed"], true, "{res}");
    assert_eq!(res["payload"]["list"]["sessions"], json!([]), "{res}");

    ai.push(FakeReply::text("hi back"));
    let mid = dm(&tg, 6201, "hello, subscribers");
    wait_reply(&tg, mid, Duration::from_secs(10)).await;
    let key = "agent:main:telegram:direct:6201";
    for who in [&mut sub, &mut reader] {
        for _ in 0..2 {
            let ev = who
                .event_within("sessions.changed", Duration::from_secs(10))
                .await;
            assert_eq!(ev["payload"]["sessionKey"], key, "{ev}");
            assert_eq!(ev["payload"]["phase"], "message", "{ev}");
            assert!(ev["payload"]["ts"].is_u64(), "{ev}");
        }
    }
    // The connection that did not subscribe got none (its answers and events are in order:
    // anything sent to it before this answer is in its backlog now).
    let res = op.request("health", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
    assert!(
        !op.backlog.iter().any(|e| e["event"] == "sessions.changed"),
        "{:?}",
        op.backlog
    );

    let res = sub.request("sessions.describe", json!({"key": key})).await;
    let row = &res["payload"]["session"];
    assert_eq!(row["key"], key, "{res}");
    assert_eq!(row["channel"], "telegram", "{res}");
    assert_eq!(row["hasActiveRun"], false, "{res}");
    let res = sub
        .request("sessions.describe", json!({"key": "agent:main:nosuch"}))
        .await;
    assert_eq!(res["payload"], json!({"session": null}), "{res}");
    for (params, msg) in [
        (
            json!({}),
            "invalid sessions.describe params: must have required property 'key'",
        ),
        (
            json!({"key": 5}),
            "invalid sessions.describe params: at /key: must be string",
        ),
        (
            json!({"key": ""}),
            "invalid sessions.describe params: at /key: must NOT have fewer than 1 characters",
        ),
        (
            json!("agent:main:main"),
            "invalid sessions.describe params: must be object",
        ),
    ] {
        let res = sub.request("sessions.describe", params.clone()).await;
        assert_eq!(res["error"]["message"], msg, "{params}: {res}");
    }
    let res = sub.request("sessions.subscribe", json!([1])).await;
    assert_eq!(
        res["error"]["message"], "invalid sessions.subscribe params: must be object",
        "{res}"
    );
    // `agents.list`: the one agent and its workspace (the TUI reads it at start).
    let res = sub.request("agents.list", json!({})).await;
    let workspace = gw.dir.path().join("workspace").display().to_string();
    assert_eq!(
        res["payload"],
        json!({"defaultId": "main", "mainKey": "main", "scope": "per-sender",
               "agents": [{"id": "main", "name": "main", "workspace": workspace}]}),
        "{res}"
    );
    let res = sub.request("agents.list", json!("x")).await;
    assert_eq!(
        res["error"]["message"], "invalid agents.list params: must be object",
        "{res}"
    );
    // Nothing waits for an operator here: the TUI's two start-up lists are empty.
    let (mut all, _) = WsClient::hello(
        gw.port,
        cli_params(
            GW_TOKEN,
            &["operator.read", "operator.questions", "operator.approvals"],
        ),
    )
    .await;
    let res = all.request("question.list", json!({})).await;
    assert_eq!(res["payload"], json!({"questions": []}), "{res}");
    let res = all.request("question.list", json!({"x": 1})).await;
    assert_eq!(
        res["error"]["message"], "invalid question.list params: at root: unexpected property 'x'",
        "{res}"
    );
    let res = all.request("plugin.approval.list", json!({})).await;
    assert_eq!(res["payload"], json!([]), "{res}");
    // A read-only operator may not (a write one may call `question.list`: OpenClaw lets
    // `operator.sessions.write`, which write implies, stand in on `question.*`).
    let (mut read_only, _) =
        WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    let res = sub.request("question.list", json!({})).await;
    assert_eq!(res["payload"], json!({"questions": []}), "{res}");
    for (method, scope) in [
        ("question.list", "operator.questions"),
        ("plugin.approval.list", "operator.approvals"),
    ] {
        let res = read_only.request(method, json!({})).await;
        assert_eq!(
            res["error"]["details"]["missingScope"], scope,
            "{method}: {res}"
        );
    }
    // Without a read scope: refused.
    let (mut none, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &[])).await;
    let res = none.request("sessions.subscribe", json!({})).await;
    assert_eq!(
        res["error"]["details"]["missingScope"], "operator.read",
        "{res}"
    );
}

/// Subscribers that went away are dropped from the registry's set (walked when it doubles
/// and at every event) without losing the live ones: 100 CLI-style sockets subscribe and
/// close, one more subscribes and stays, and it alone still gets `sessions.changed`.
#[actix_web::test]
async fn sessions_changed_reaches_live_subscribers_after_many_closed_ones() {
    let (tg, ai, gw, _op) = setup().await;
    for _ in 0..100 {
        let (mut c, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
        let res = c.request("sessions.subscribe", json!({})).await;
        assert_eq!(res["payload"]["subscribed"], true, "{res}");
        c.close().await;
    }
    let (mut live, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let res = live.request("sessions.subscribe", json!({})).await;
    assert_eq!(res["payload"]["subscribed"], true, "{res}");
    ai.push(FakeReply::text("ok"));
    let mid = dm(&tg, 6301, "after the storm");
    wait_reply(&tg, mid, Duration::from_secs(10)).await;
    let ev = live
        .event_within("sessions.changed", Duration::from_secs(10))
        .await;
    assert_eq!(
        ev["payload"]["sessionKey"], "agent:main:telegram:direct:6301",
        "{ev}"
    );
}

/// The texts of `chat.history`'s messages, with their roles.
async fn history_texts(op: &mut WsClient, params: Value) -> Vec<(String, String)> {
    let hist = op.request("chat.history", params).await;
    assert_eq!(hist["ok"], true, "{hist}");
    hist["payload"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("chat.history messages: {hist}"))
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or("?").to_owned(),
                m["content"][0]["text"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn a_silent_answer_is_never_shown_and_history_is_bounded() {
    // One run per message: the two Telegram messages below are sent back to back, and
    // under the default (`steer`) the second may ride along with the silent run.
    let (tg, ai, _gw, mut op) = setup_with(Some(json!({"mode": "followup"}))).await;
    // An operator's run answered with the silent token, streamed in pieces: no text
    // streams, the final carries none.
    ai.set_streaming(true);
    ai.push(FakeReply::text("  no_reply\n").with_chunk_delay(Duration::from_millis(200)));
    let fin = chat_turn(
        &mut op,
        "quiet-1",
        json!({"sessionKey": "main", "message": "just listen"}),
    )
    .await;
    assert_eq!(fin["message"]["content"][0]["text"], "", "{fin}");
    // What streamed of it: no text at all (pieces of the token are held back).
    let streamed: String = op
        .backlog
        .iter()
        .filter(|e| e["payload"]["runId"] == "quiet-1")
        .filter_map(|e| e["payload"]["deltaText"].as_str())
        .collect();
    assert_eq!(streamed.trim(), "", "{:?}", op.backlog);

    // On Telegram: nothing is sent for it, and the chat goes on.
    ai.push_text("NO_REPLY");
    let quiet = dm(&tg, 5101, "ok, thanks");
    ai.push_text("Second answer.");
    let next = dm(&tg, 5101, "and now?");
    assert_eq!(
        wait_reply(&tg, next, Duration::from_secs(10)).await.text(),
        "Second answer."
    );
    let sent: Vec<String> = tg.sent().iter().map(|s| s.text().to_owned()).collect();
    assert_eq!(sent, ["Second answer."], "nothing for {quiet}: {sent:?}");

    // History: the silent answer is left out; long texts are cut (8000 UTF-16 units by
    // default, `maxChars` to ask for more); a message too large for one answer is replaced.
    let long: String = "🙂".repeat(5000); // 10 000 UTF-16 units
    ai.push_text(&long);
    let huge = "x".repeat(200_000);
    for (key, text) in [
        ("long-1", "tell me a long story"),
        ("huge-1", huge.as_str()),
    ] {
        let res = op
            .request(
                "chat.send",
                json!({"sessionKey": "main", "message": text, "idempotencyKey": key}),
            )
            .await;
        assert_eq!(res["ok"], true, "{res}");
        if key == "huge-1" {
            ai.push_text("Noted.");
        }
        chat_event(&mut op, key, "final").await;
    }
    let said = history_texts(&mut op, json!({"sessionKey": "main"})).await;
    let roles: Vec<&str> = said.iter().map(|(r, _)| r.as_str()).collect();
    // (The Telegram chat is a session of its own.)
    assert_eq!(
        roles,
        ["user", "user", "assistant", "user", "assistant"],
        "no NO_REPLY row"
    );
    assert_eq!(said[0].1, "just listen");
    let story = &said[2].1;
    assert!(
        story.ends_with("\n...(truncated)...") && story.starts_with(&"🙂".repeat(4000)),
        "{}",
        story.len()
    );
    assert_eq!(story.chars().filter(|c| *c == '🙂').count(), 4000);
    assert_eq!(said[3].1.len(), 8000 + "\n...(truncated)...".len());
    let full = history_texts(&mut op, json!({"sessionKey": "main", "maxChars": 500000})).await;
    assert!(full[2].1 == long, "the whole story with maxChars");
    assert_eq!(full[3].1, "[chat.history omitted: message too large]");
    // `maxBytes`: the newest messages that fit.
    let few = history_texts(&mut op, json!({"sessionKey": "main", "maxBytes": 1024})).await;
    assert_eq!(few, [("assistant".to_owned(), "Noted.".to_owned())]);
    let two = history_texts(&mut op, json!({"sessionKey": "main", "limit": 2})).await;
    assert_eq!(two.len(), 2);
    assert_eq!(two[1].1, "Noted.");
    for bad in [
        json!({"maxChars": 500001}),
        json!({"maxBytes": 1000}),
        json!({"maxChars": 0}),
    ] {
        let mut p = bad.clone();
        p["sessionKey"] = json!("main");
        let res = op.request("chat.history", p).await;
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{bad}: {res}");
    }
}

/// `agent` with `params` (and an idempotency key): its final answer's payload.
async fn agent_final(op: &mut WsClient, key: &str, mut params: Value) -> Value {
    params["idempotencyKey"] = json!(key);
    let id = op.send_request("agent", params).await;
    let first = op.response(&id).await;
    assert_eq!(first["payload"]["status"], "accepted", "{first}");
    let second = op.response(&id).await;
    assert_eq!(second["ok"], true, "{second}");
    second["payload"].clone()
}

#[actix_web::test]
async fn agent_delivers_its_answer_where_the_cli_asks() {
    let (tg, ai, _gw, mut op) = setup().await;
    // Nobody has written to the bot yet: no chat to deliver to. Required: the call fails
    // (the run itself is done); at best: it is ok, and says what happened.
    ai.push_text("Report ready.");
    let p = agent_final(
        &mut op,
        "deliver-0",
        json!({"message": "report", "deliver": true}),
    )
    .await;
    assert_eq!(p["status"], "error", "{p}");
    assert_eq!(
        p["result"]["deliveryStatus"]["reason"], "no_delivery_target",
        "{p}"
    );
    assert!(
        p["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("delivery failed: no delivery target")),
        "{p}"
    );
    ai.push_text("Report ready.");
    let p = agent_final(
        &mut op,
        "deliver-1",
        json!({"message": "report", "deliver": true, "bestEffortDeliver": true}),
    )
    .await;
    assert_eq!(p["status"], "ok", "{p}");
    assert_eq!(p["result"]["deliveryStatus"]["status"], "failed", "{p}");
    assert!(tg.sent().is_empty(), "{:?}", tg.sent());

    // An explicit target (what `openclaw agent --deliver --reply-channel telegram
    // --reply-to 5101` sends).
    ai.push_text("Report ready: all green.");
    let p = agent_final(
        &mut op,
        "deliver-2",
        json!({"message": "report", "deliver": true, "replyChannel": "telegram", "replyTo": "5101",
            "channel": "webchat", "to": "ignored", "thinking": "high"}),
    )
    .await;
    assert_eq!(p["status"], "ok", "{p}");
    assert_eq!(
        p["result"]["deliveryStatus"],
        json!({"requested": true, "attempted": true, "status": "sent", "succeeded": true, "resultCount": 1}),
        "{p}"
    );
    let sent = tg.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].chat_id(), Some(5101));
    assert_eq!(sent[0].text(), "Report ready: all green.");

    // No target: the chat the user wrote from last.
    ai.push_text("Hi!");
    let m = dm(&tg, 5202, "hello");
    wait_reply(&tg, m, Duration::from_secs(10)).await;
    ai.push_text("Nightly summary.");
    let p = agent_final(
        &mut op,
        "deliver-3",
        json!({"message": "summary", "deliver": true}),
    )
    .await;
    assert_eq!(p["result"]["deliveryStatus"]["status"], "sent", "{p}");
    let last = tg.sent().pop().expect("delivered");
    assert_eq!(
        (last.chat_id(), last.text()),
        (Some(5202), "Nightly summary.")
    );

    // A silent answer is not delivered; without `deliver` nothing is.
    let before = tg.sent().len();
    ai.push_text("NO_REPLY");
    let p = agent_final(
        &mut op,
        "deliver-4",
        json!({"message": "anything new?", "deliver": true}),
    )
    .await;
    assert_eq!(p["status"], "ok", "{p}");
    assert_eq!(p["result"]["payloads"], json!([]), "{p}");
    assert_eq!(p["result"]["deliveryStatus"]["status"], "suppressed", "{p}");
    ai.push_text("Just for you.");
    let p = agent_final(
        &mut op,
        "deliver-5",
        json!({"message": "hi", "replyTo": "5101"}),
    )
    .await;
    assert!(p["result"].get("deliveryStatus").is_none(), "{p}");
    assert_eq!(tg.sent().len(), before, "{:?}", tg.sent());

    // The TUI's `chat.send {deliver: true}` (`openclaw tui --deliver`): also to the chat.
    ai.push_text("From the terminal.");
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "tell my phone", "deliver": true,
                "thinking": "low", "idempotencyKey": "deliver-6"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    chat_event(&mut op, "deliver-6", "final").await;
    let wait = op
        .request(
            "agent.wait",
            json!({"runId": "deliver-6", "timeoutMs": 5000}),
        )
        .await;
    assert_eq!(wait["payload"]["status"], "ok", "{wait}");
    let last = tg.sent().pop().expect("delivered");
    assert_eq!(
        (last.chat_id(), last.text()),
        (Some(5202), "From the terminal.")
    );
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "x", "thinking": "loud", "idempotencyKey": "bad"}),
        )
        .await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");

    // Bad values are refused before any run.
    for bad in [
        json!({"deliver": "yes"}),
        json!({"thinking": "extreme"}),
        json!({"deliver": true, "threadId": "general"}),
        json!({"deliver": true, "replyTo": 5101}),
    ] {
        let mut params = bad.clone();
        params["message"] = json!("x");
        params["idempotencyKey"] = json!("bad");
        let res = op.request("agent", params).await;
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{bad}: {res}");
    }
}

#[actix_web::test]
async fn agent_finds_a_session_by_its_id() {
    let (_tg, ai, _gw, mut op) = setup().await;
    ai.push_text("Noted for work.");
    chat_turn(
        &mut op,
        "sid-1",
        json!({"sessionKey": "work", "message": "start"}),
    )
    .await;
    let hist = op
        .request("chat.history", json!({"sessionKey": "work"}))
        .await;
    let sid = hist["payload"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("sessionId: {hist}"))
        .to_owned();
    // `openclaw agent --session-id <id>`: that session, not the main one.
    ai.push_text("Continuing.");
    let p = agent_final(
        &mut op,
        "sid-2",
        // `--timeout 0` (no deadline) is accepted too.
        json!({"message": "continue the task", "sessionId": sid, "timeout": 0}),
    )
    .await;
    assert_eq!(p["status"], "ok", "{p}");
    assert_eq!(p["sessionKey"], "agent:main:work", "{p}");
    let said = history_texts(&mut op, json!({"sessionKey": "work"})).await;
    assert_eq!(said.len(), 4, "{said:?}");
    assert_eq!(said[2].1, "continue the task");
    // A session key wins over the id; an unknown id is refused.
    ai.push_text("Main here.");
    let p = agent_final(
        &mut op,
        "sid-3",
        json!({"message": "hi", "sessionId": sid, "sessionKey": "main"}),
    )
    .await;
    assert_eq!(p["sessionKey"], "agent:main:main", "{p}");
    let res = op
        .request(
            "agent",
            json!({"message": "x", "sessionId": "no-such-id", "idempotencyKey": "sid-4"}),
        )
        .await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
    assert!(
        res["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no session has id \"no-such-id\"")),
        "{res}"
    );
}

/// `message.action` `poll`, `react`, `edit` and `delete` (`openclaw message poll|react|edit|
/// delete`): Telegram's limits and the params are checked before any call, and
/// `channels.telegram.actions.<key>: false` refuses the action by name; the others still go.
/// `sendMessage: false` (set by a reload) refuses the action `send` (the real CLI's `message
/// send`) but not the `send` RPC, and uses up no idempotency key.
#[actix_web::test]
async fn message_actions_are_checked_and_gated() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gates = |send_message: bool| {
        config(
            &tg,
            Some(&ai),
            json!({"actions": {"poll": false, "deleteMessage": false, "sendMessage": send_message}}),
        )
    };
    let gw = start_gateway(&gates(true));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let call = |action: &str, params: Value| {
        json!({"channel": "telegram", "action": action, "params": params,
               "idempotencyKey": format!("ops-{action}")})
    };
    let long = "x".repeat(4097);
    let refused = [
        (
            call(
                "poll",
                json!({"to": "6101", "pollQuestion": "Q?", "pollOption": ["A"]}),
            ),
            "2-12 options",
        ),
        (
            call("poll", json!({"to": "6101", "pollOption": ["A", "B"]})),
            "params.pollQuestion (--poll-question) is required",
        ),
        (
            call(
                "poll",
                json!({"to": "6101", "pollQuestion": "Q?", "pollOption": ["A", "B"], "pollDurationSeconds": 3}),
            ),
            "5-604800 seconds",
        ),
        (
            call(
                "poll",
                json!({"to": "6101", "pollQuestion": "Q?", "pollOption": ["A", "B"], "pollAnonymous": true, "pollPublic": true}),
            ),
            "mutually exclusive",
        ),
        (
            call(
                "poll",
                json!({"to": "6101", "pollQuestion": "Q?", "pollOption": ["A", "B"], "message": "body"}),
            ),
            "has no message body",
        ),
        (
            call("react", json!({"to": "6101", "emoji": "👍"})),
            "params.messageId",
        ),
        (
            call("react", json!({"to": "6101", "messageId": 5})),
            "params.emoji (--emoji) is required",
        ),
        (
            call(
                "react",
                json!({"to": "6101", "messageId": "five", "emoji": "👍"}),
            ),
            "params.messageId must be a whole number",
        ),
        (
            call("edit", json!({"to": "6101", "messageId": 5})),
            "params.message (--message, the new text) or presentation is required",
        ),
        (
            call(
                "edit",
                json!({"to": "6101", "messageId": 5, "message": long}),
            ),
            "longer than one Telegram message",
        ),
        (
            call("delete", json!({"to": "6101", "messageId": -1})),
            "params.messageId",
        ),
        (
            call("delete", json!({"messageId": 5})),
            "params.to (or params.target) is required",
        ),
        // The gates (`channels.telegram.actions`), after the params are fine.
        (
            call(
                "poll",
                json!({"to": "6101", "pollQuestion": "Q?", "pollOption": ["A", "B"]}),
            ),
            "Telegram poll is disabled. Fix: set channels.telegram.actions.poll to true",
        ),
        (
            call("delete", json!({"to": "6101", "messageId": 5})),
            "Telegram deleteMessage is disabled",
        ),
    ];
    refused_all(&mut op, refused).await;
    assert!(
        tg.sent().iter().all(|s| s.method != "sendPoll") && tg.deleted().is_empty(),
        "nothing refused reached Telegram"
    );
    // What is not gated goes: a reaction on a topic target, answered as OpenClaw's.
    let res = op
        .request(
            "message.action",
            call(
                "react",
                json!({"target": "-1001234:topic:7", "messageId": "42", "emoji": "🔥"}),
            ),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"]["result"],
        json!({"ok": true, "added": "🔥"}),
        "{res}"
    );
    assert!(
        tg.reactions().contains(&(-1001234, 42, "🔥".to_owned())),
        "{:?}",
        tg.reactions()
    );
    // `send {silent}` (our CLI's `message send --silent`): no notification sound, in the
    // topic the target names.
    let res = op
        .request(
            "send",
            json!({"to": "-1001234:topic:7", "message": "quiet", "silent": true, "idempotencyKey": "ops-quiet"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let quiet = poll_until(Duration::from_secs(10), "the silent send", || {
        tg.sent().into_iter().find(|s| s.text() == "quiet")
    })
    .await;
    assert_eq!(quiet.body["disable_notification"], true, "{:?}", quiet.body);
    assert_eq!(quiet.body["message_thread_id"], 7, "{:?}", quiet.body);

    // `sendMessage: false`, from the next call on: the action `send` is refused by name
    // before anything goes out; the `send` RPC to the same chat still goes.
    async fn reload(gw: &TestGateway, cfg: &str) {
        let before = gw.stderr().matches("config reloaded from").count();
        replace_file(&gw.config_path(), cfg);
        poll_until(Duration::from_secs(10), "the config reload", || {
            (gw.stderr().matches("config reloaded from").count() > before).then_some(())
        })
        .await;
    }
    reload(&gw, &gates(false)).await;
    let send = json!({"channel": "telegram", "action": "send",
        "params": {"to": "-1001234:topic:7", "message": "gated"}, "idempotencyKey": "ops-send"});
    refused_all(
        &mut op,
        [(
            send.clone(),
            "Telegram sendMessage is disabled. Fix: set channels.telegram.actions.sendMessage to true",
        )],
    )
    .await;
    let res = op
        .request(
            "send",
            json!({"to": "-1001234:topic:7", "message": "not gated", "idempotencyKey": "ops-plain"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    poll_until(Duration::from_secs(10), "the send RPC's message", || {
        tg.sent().into_iter().find(|s| s.text() == "not gated")
    })
    .await;
    // The refused send was answered after its delivery would have been made.
    assert!(
        tg.sent()
            .iter()
            .all(|s| s.method != "sendMessage" || s.text() != "gated"),
        "the refused send reached Telegram: {:?}",
        tg.sent()
    );
    // On again: the same key sends (the refusal recorded nothing for it).
    reload(&gw, &gates(true)).await;
    let res = op.request("message.action", send).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["deduplicated"], Value::Null, "{res}");
    let gated = poll_until(Duration::from_secs(10), "the re-enabled send", || {
        tg.sent().into_iter().find(|s| s.text() == "gated")
    })
    .await;
    assert_eq!(gated.body["message_thread_id"], 7, "{:?}", gated.body);
}

/// `sessions.resolve` (what the real CLI asks for `openclaw tui <session>`): a session by
/// key (bare or full), transcript id, label or short id, `allowMissing`, and the refusals.
#[actix_web::test]
async fn sessions_resolve_finds_a_session_by_key_id_label_and_short_id() {
    let (tg, ai, gw, mut op) = setup().await;
    ai.push(FakeReply::text("hi"));
    let mid = dm(&tg, 6301, "hello");
    wait_reply(&tg, mid, Duration::from_secs(10)).await;
    let uuid = "9f1c2b3a-4d5e-4f60-8a7b-0c1d2e3f4a5b";
    crate::support::create_session(&mut op, &format!("tui-{uuid}"), "Trip planning").await;
    let tui_key = format!("agent:main:tui-{uuid}");
    let dm_key = "agent:main:telegram:direct:6301";
    let res = op
        .request("sessions.describe", json!({"key": dm_key}))
        .await;
    let dm_id = res["payload"]["session"]["sessionId"]
        .as_str()
        .expect("the dm session's id")
        .to_owned();
    let (mut reader, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    for (params, key) in [
        (json!({"key": dm_key}), dm_key),
        (json!({"key": "telegram:direct:6301"}), dm_key),
        (
            json!({"key": "telegram:direct:6301", "agentId": "main"}),
            dm_key,
        ),
        (json!({"sessionId": dm_id}), dm_key),
        (json!({"label": "Trip planning"}), tui_key.as_str()),
        (json!({"shortId": "9F1C2B3A"}), tui_key.as_str()),
        (json!({"reference": {"key": tui_key}}), tui_key.as_str()),
    ] {
        let res = reader.request("sessions.resolve", params.clone()).await;
        assert_eq!(res["ok"], true, "{params}: {res}");
        assert_eq!(res["payload"]["ok"], true, "{params}: {res}");
        assert_eq!(res["payload"]["key"], key, "{params}: {res}");
        assert_eq!(res["payload"]["agentId"], "main", "{params}: {res}");
    }
    let res = reader
        .request("sessions.resolve", json!({"shortId": "9f1c2b3a"}))
        .await;
    assert_eq!(res["payload"]["displayName"], "Trip planning", "{res}");
    let res = reader
        .request(
            "sessions.resolve",
            json!({"key": "agent:main:nosuch", "allowMissing": true}),
        )
        .await;
    assert_eq!(res["payload"], json!({"ok": false}), "{res}");
    for (params, msg) in [
        (
            json!({"key": "agent:main:nosuch"}),
            "No session found: agent:main:nosuch",
        ),
        (
            json!({"label": "nope"}),
            "No session found with label: nope",
        ),
        (json!({"shortId": "deadbeef"}), "No session found: deadbeef"),
        (
            json!({"shortId": "xyz12345"}),
            "shortId must be 8-32 hexadecimal characters",
        ),
        (
            json!({"shortId": "9f1c"}),
            "shortId must be 8-32 hexadecimal characters",
        ),
        (
            json!({"key": dm_key, "label": "x"}),
            "Provide either key, sessionId, label, shortId, or reference (not multiple)",
        ),
        (
            json!({}),
            "Either key, sessionId, label, shortId, or reference is required",
        ),
        (
            json!({"label": "x", "slugHint": "y"}),
            "slugHint requires shortId",
        ),
        (
            json!({"key": dm_key, "agentId": "ghost"}),
            "unknown agent id \"ghost\"",
        ),
        (
            json!({"key": dm_key, "bogus": 1}),
            "invalid sessions.resolve params: at root: unexpected property 'bogus'",
        ),
        (
            json!({"key": 5}),
            "invalid sessions.resolve params: at /key: must be string",
        ),
        (
            json!({"label": "ü".repeat(600)}),
            "label too long (max 512)",
        ),
    ] {
        let res = reader.request("sessions.resolve", params.clone()).await;
        assert_eq!(res["ok"], false, "{params}: {res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{params}: {res}");
        assert_eq!(res["error"]["message"], msg, "{params}: {res}");
    }
}

/// `chat.inject`: an admin's assistant note in a session's transcript, shown as a `chat`
/// `final` event, in `chat.history`, and in the next run's context; refused for a session
/// that does not exist, while a run is going, and for bad params.
#[actix_web::test]
async fn chat_inject_adds_an_assistant_note_the_next_run_sees() {
    let (_tg, ai, gw, mut op) = setup().await;
    let (mut admin, _) =
        WsClient::hello(gw.port, cli_params(GW_TOKEN, crate::nodes::ALL_OPERATOR)).await;
    let none = admin
        .request("chat.inject", json!({"sessionKey": "main", "message": "x"}))
        .await;
    assert_eq!(none["error"]["message"], "session not found", "{none}");

    ai.push_text("First answer.");
    chat_turn(
        &mut op,
        "inject-1",
        json!({"sessionKey": "main", "message": "hello"}),
    )
    .await;
    let res = admin
        .request(
            "chat.inject",
            json!({"sessionKey": "main", "message": "Backup finished: 3 files.", "label": "cron"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let id = res["payload"]["messageId"]
        .as_str()
        .expect("messageId")
        .to_owned();
    assert_eq!(res["payload"]["ok"], true, "{res}");
    let ev = chat_event(&mut admin, &format!("inject-{id}"), "final").await;
    assert_eq!(ev["sessionKey"], "agent:main:main", "{ev}");
    assert_eq!(
        ev["message"]["content"][0]["text"], "[cron]\n\nBackup finished: 3 files.",
        "{ev}"
    );
    let hist = op
        .request("chat.history", json!({"sessionKey": "main"}))
        .await;
    let msgs = hist["payload"]["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 3, "{hist}");
    assert_eq!(msgs[2]["role"], "assistant", "{hist}");
    assert_eq!(
        msgs[2]["content"][0]["text"], "[cron]\n\nBackup finished: 3 files.",
        "{hist}"
    );
    // The next run reads it (the cached transcript tail was dropped).
    ai.push_text("Noted.");
    chat_turn(
        &mut op,
        "inject-2",
        json!({"sessionKey": "main", "message": "what happened?"}),
    )
    .await;
    let asked = ai.requests().last().expect("request").to_string();
    assert!(asked.contains("Backup finished: 3 files."), "{asked}");

    // Not while a run is going: retry later.
    ai.push(FakeReply::text("slow").delayed(Duration::from_millis(1500)));
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "take your time", "idempotencyKey": "inject-3"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let busy = admin
        .request(
            "chat.inject",
            json!({"sessionKey": "main", "message": "now?"}),
        )
        .await;
    assert_eq!(busy["error"]["code"], "UNAVAILABLE", "{busy}");
    assert_eq!(busy["error"]["retryable"], true, "{busy}");
    chat_event(&mut op, "inject-3", "final").await;

    let refused = op
        .request("chat.inject", json!({"sessionKey": "main", "message": "x"}))
        .await;
    assert_eq!(
        refused["error"]["message"], "missing scope: operator.admin",
        "{refused}"
    );
    for (params, want) in [
        (
            json!({"sessionKey": "main", "message": ""}),
            "must NOT have fewer than 1 characters",
        ),
        (
            json!({"sessionKey": "main", "message": "x", "label": "l".repeat(101)}),
            "must NOT have more than 100 characters",
        ),
        (
            json!({"sessionKey": "main", "message": "x", "bogus": 1}),
            "unexpected property 'bogus'",
        ),
        (
            json!({"sessionKey": "main", "message": "x".repeat(70_000)}),
            "at most 65536",
        ),
        (
            json!({"sessionKey": "agent:main:main", "agentId": "ops", "message": "x"}),
            "not a session of agentId",
        ),
    ] {
        let bad = admin.request("chat.inject", params.clone()).await;
        assert_eq!(bad["ok"], false, "{params}: {bad}");
        assert!(
            bad["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(want)),
            "{params}: {bad}"
        );
    }
}

/// `sessions.preview`: the last user and assistant messages of several sessions at once (a
/// WebChat session and a Telegram DM), in the keys' order, cut to `maxChars` UTF-16 units;
/// an unknown key is `missing`; at most 64 sessions; bad params refused by name.
#[actix_web::test]
async fn sessions_preview_shows_the_last_messages_of_several_sessions() {
    let (tg, ai, _gw, mut op) = setup().await;
    ai.push_text("First answer.");
    chat_turn(
        &mut op,
        "prev-1",
        json!({"sessionKey": "main", "message": "one"}),
    )
    .await;
    ai.push_text(&format!("{} the end", "🦀".repeat(40)));
    chat_turn(
        &mut op,
        "prev-2",
        json!({"sessionKey": "main", "message": "two"}),
    )
    .await;
    ai.push_text("Hi from the bot.");
    let m = dm(&tg, 7101, "hello from telegram");
    wait_reply(&tg, m, Duration::from_secs(15)).await;

    let res = op
        .request(
            "sessions.preview",
            json!({"keys": ["main", "  ", "agent:main:telegram:direct:7101", "agent:main:nope"],
                   "limit": 3, "maxChars": 20}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let p = &res["payload"];
    assert!(p["ts"].as_u64().is_some(), "{p}");
    let previews = p["previews"].as_array().cloned().unwrap_or_default();
    assert_eq!(previews.len(), 3, "the blank key is dropped: {p}");
    assert_eq!(previews[0]["key"], "agent:main:main");
    assert_eq!(previews[0]["status"], "ok");
    assert_eq!(
        previews[0]["items"],
        json!([
            {"role": "assistant", "text": "First answer."},
            {"role": "user", "text": "two"},
            {"role": "assistant", "text": format!("{}...", "🦀".repeat(8))},
        ]),
        "the last 3, cut to 20 UTF-16 units: {p}"
    );
    assert_eq!(previews[1]["key"], "agent:main:telegram:direct:7101");
    assert_eq!(previews[1]["status"], "ok");
    assert_eq!(
        previews[1]["items"],
        json!([
            {"role": "user", "text": "hello from telegram"},
            {"role": "assistant", "text": "Hi from the bot."},
        ]),
        "{p}"
    );
    assert_eq!(
        previews[2],
        json!({"key": "agent:main:nope", "status": "missing", "items": []})
    );

    // The defaults (12 items, 240 units); at most 64 sessions per call.
    let many: Vec<String> = (0..100).map(|i| format!("agent:main:s{i}")).collect();
    let res = op.request("sessions.preview", json!({"keys": many})).await;
    assert_eq!(
        res["payload"]["previews"].as_array().map(Vec::len),
        Some(64),
        "{res}"
    );

    for (params, needle) in [
        (json!({}), "must have required property 'keys'"),
        (json!({"keys": []}), "must NOT have fewer than 1 items"),
        (
            json!({"keys": [""]}),
            "must NOT have fewer than 1 characters",
        ),
        (json!({"keys": [7]}), "must be string"),
        (json!({"keys": ["main"], "maxChars": 5}), "must be >= 20"),
        (json!({"keys": ["main"], "limit": 0}), "must be >= 1"),
        (
            json!({"keys": ["main"], "view": "x"}),
            "unexpected property 'view'",
        ),
        (
            json!({"keys": ["agent:ghost:main"]}),
            "unknown agent in session key",
        ),
    ] {
        let res = op.request("sessions.preview", params.clone()).await;
        assert_eq!(res["ok"], false, "{params}: {res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{params}: {msg}");
    }
}

/// `sessions.search` (OpenClaw's; what the Control UI's search box calls): every word of the
/// query across the sessions an operator sees (a WebChat session and a Telegram DM), newest
/// first, narrowed by `sessionKeys`, `agentId` or `scope`; snippets redacted; a reader may
/// search; bad params refused by name.
#[actix_web::test]
async fn sessions_search_finds_words_across_the_sessions() {
    let (tg, ai, gw, mut op) = setup().await;
    ai.push_text("The Lighthouse keeper logs at dusk.");
    chat_turn(
        &mut op,
        "search-1",
        json!({"sessionKey": "main", "message": "who keeps the lighthouse?"}),
    )
    .await;
    ai.push_text("Noted.");
    let m = dm(
        &tg,
        7102,
        "lighthouse código ключ sk-abcdefghijklmnopqrstuvwx12 <b>bold</b>",
    );
    wait_reply(&tg, m, Duration::from_secs(15)).await;
    let dm_key = "agent:main:telegram:direct:7102";

    let res = op
        .request("sessions.search", json!({"query": "LIGHTHOUSE"}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let hits = res["payload"]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Newest session first (the DM), then main's answer and question.
    let got: Vec<(String, String)> = hits
        .iter()
        .map(|h| {
            (
                h["sessionKey"].as_str().unwrap_or("").to_owned(),
                h["role"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (dm_key.to_owned(), "user".to_owned()),
            ("agent:main:main".to_owned(), "assistant".to_owned()),
            ("agent:main:main".to_owned(), "user".to_owned()),
        ],
        "{res}"
    );
    // Each hit names its message, as chat.history does (`__openclaw.id`).
    let history = op
        .request("chat.history", json!({"sessionKey": dm_key, "limit": 10}))
        .await;
    let ids: Vec<&str> = history["payload"]["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m.pointer("/__openclaw/id").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        hits[0]["messageId"]
            .as_str()
            .is_some_and(|id| ids.contains(&id)),
        "{res}\n{history}"
    );
    let snippet = hits[0]["snippet"].as_str().unwrap_or_default();
    assert!(
        snippet.contains("código ключ <redacted> <b>bold</b>"),
        "{snippet}"
    );
    for (params, n) in [
        (json!({"query": "lighthouse", "sessionKeys": ["main"]}), 2),
        (json!({"query": "ключ лighthouse"}), 0),
        (json!({"query": "ключ"}), 1),
        (json!({"query": "lighthouse", "limit": 1}), 1),
        (json!({"query": "lighthouse", "agentId": "main"}), 3),
        (
            json!({"query": "lighthouse", "scope": {"activeMinutes": 5, "excludeCron": true}}),
            3,
        ),
    ] {
        let res = op.request("sessions.search", params.clone()).await;
        assert_eq!(
            res["payload"]["results"].as_array().map(Vec::len),
            Some(n),
            "{params}: {res}"
        );
    }
    let res = op
        .request(
            "sessions.search",
            json!({"query": "lighthouse", "limit": 1}),
        )
        .await;
    assert_eq!(res["payload"]["truncated"], true, "{res}");

    // A reader may search (operator.read).
    let (mut reader, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    let res = reader
        .request("sessions.search", json!({"query": "dusk"}))
        .await;
    assert_eq!(
        res["payload"]["results"].as_array().map(Vec::len),
        Some(1),
        "{res}"
    );

    for (params, needle) in [
        (json!({}), "must have required property 'query'"),
        (
            json!({"query": "  "}),
            "must NOT have fewer than 1 characters",
        ),
        (json!({"query": "?!"}), "has no words"),
        (json!({"query": "x", "limit": 0}), "must be >= 1"),
        (json!({"query": "x", "limit": 26}), "must be <= 25"),
        (json!({"query": "x", "sessionKeys": []}), "1 to 200"),
        (
            json!({"query": "x", "scope": {}, "agentId": "main"}),
            "cannot be combined",
        ),
        (
            json!({"query": "x", "scope": {"pinned": true}}),
            "scope.pinned is not a filter",
        ),
        (json!({"query": "x", "agentId": "ghost"}), "unknown agent"),
        (
            json!({"query": "x", "view": 1}),
            "unexpected property 'view'",
        ),
        (json!({"query": "y".repeat(4097)}), "4096"),
    ] {
        let res = op.request("sessions.search", params.clone()).await;
        assert_eq!(res["ok"], false, "{params}: {res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{params}: {msg}");
    }
}
