//! `sessions.send`, `sessions.steer`, `sessions.abort`, `chat.send {queueMode}` and
//! `chat.toolTitles` against the real binary (OpenClaw's session-addressed chat methods).
//! The model's answers are held on a gate until the test has seen the run going, so no
//! timing decides what the test sees.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::agent_rpc::chat_event;
use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{WsClient, cli_params};
use crate::telegram_flow::{GW_TOKEN, SLOW, TG_TOKEN, config, start_gateway};

const RW: &[&str] = &["operator.read", "operator.write"];

/// Waits for `sessions.changed` with this `reason` (others are skipped).
async fn changed(op: &mut WsClient, reason: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no sessions.changed {reason}");
        let ev = op.event_within("sessions.changed", left).await;
        if ev["payload"]["reason"] == reason {
            return ev["payload"].clone();
        }
    }
}

/// The message of the failed response `res`.
fn error_of(res: &Value) -> String {
    crate::support::error_of(res)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn sessions_send_and_steer_address_an_existing_session_and_steer_interrupts() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gate = Arc::new(Semaphore::new(0));
    // Never released: the steer stops it.
    ai.push(FakeReply::text("too late").held_by(&gate));
    ai.push_text("doing the new thing");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let sub = op.request("sessions.subscribe", json!({})).await;
    assert_eq!(sub["ok"], true, "{sub}");

    // A session that does not exist is refused, not started (whatever its text).
    for key in ["agent:main:nowhere", "agent:main:\u{202e}🦀\u{0}x"] {
        let res = op
            .request("sessions.send", json!({"key": key, "message": "hi"}))
            .await;
        assert!(error_of(&res).contains("session not found"), "{res}");
    }
    assert_eq!(ai.request_count(), 0);

    // The agent's main session always takes a message; the id is made when absent.
    let first = op
        .request(
            "sessions.send",
            json!({"key": "main", "message": "a long job"}),
        )
        .await;
    assert_eq!(first["payload"]["status"], "started", "{first}");
    assert_eq!(first["payload"]["sessionKey"], "agent:main:main", "{first}");
    let first_id = first["payload"]["runId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(first_id.len(), 36, "a fresh uuid: {first}");
    assert_eq!(
        changed(&mut op, "send").await["sessionKey"],
        "agent:main:main"
    );
    ai.wait_requests_async(1, SLOW).await;

    // The steer stops the run and runs next.
    let steer = op
        .request(
            "sessions.steer",
            json!({"key": "main", "agentId": "main", "message": "never mind, this instead", "idempotencyKey": "steer-1"}),
        )
        .await;
    assert_eq!(steer["payload"]["interruptedActiveRun"], true, "{steer}");
    assert_eq!(
        changed(&mut op, "steer").await["sessionKey"],
        "agent:main:main"
    );
    let fin = chat_event(&mut op, "steer-1", "final").await;
    assert_eq!(
        fin["message"]["content"][0]["text"], "doing the new thing",
        "{fin}"
    );
    chat_event(&mut op, &first_id, "aborted").await;
    assert_eq!(ai.request_count(), 2);

    // The same session by its agent key and agent id; a key of another agent is refused.
    let res = op
        .request(
            "sessions.send",
            json!({"key": "agent:ops:main", "agentId": "main", "message": "x"}),
        )
        .await;
    assert!(error_of(&res).contains("does not match agentId"), "{res}");

    // OpenClaw's closed schema, and `chat.send {queueMode}`'s four modes only.
    let cases = [
        (
            "sessions.send",
            json!({"key": "main"}),
            "required property 'message'",
        ),
        (
            "sessions.send",
            json!({"message": "x"}),
            "required property 'key'",
        ),
        (
            "sessions.send",
            json!({"key": "main", "message": "x", "queueMode": "steer"}),
            "unexpected property 'queueMode'",
        ),
        (
            "sessions.send",
            json!({"key": " ", "message": "x"}),
            "fewer than 1 characters",
        ),
        (
            "sessions.send",
            json!({"key": "main", "message": "x", "mentions": vec![json!({}); 11]}),
            "more than 10 items",
        ),
        (
            "sessions.steer",
            json!({"key": "main", "message": "x", "timeoutMs": -1}),
            "timeoutMs",
        ),
        (
            "chat.send",
            json!({"sessionKey": "main", "message": "x", "idempotencyKey": "q-1", "queueMode": "sideways"}),
            "/queueMode",
        ),
        (
            "chat.send",
            json!({"sessionKey": "main", "message": "x", "idempotencyKey": "q-2", "queueMode": 3}),
            "must be string",
        ),
    ];
    for (method, params, want) in cases {
        let res = op.request(method, params.clone()).await;
        assert!(error_of(&res).contains(want), "{method} {params}: {res}");
    }
    assert_eq!(ai.request_count(), 2, "no refused message ran");
}

#[actix_web::test]
async fn sessions_abort_by_key_keeps_the_queue_unless_asked_and_by_run_id_only_that_run() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gate = Arc::new(Semaphore::new(0));
    ai.push(FakeReply::text("never sent").held_by(&gate));
    ai.push_text("the queued one ran");
    ai.push(FakeReply::text("never sent either").held_by(&gate));
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let send = |id: &str, text: &str| json!({"sessionKey": "main", "message": text, "idempotencyKey": id, "queueMode": "followup"});

    let a = op.request("chat.send", send("ab-1", "a job")).await;
    assert_eq!(a["payload"]["status"], "started", "{a}");
    ai.wait_requests_async(1, SLOW).await;
    // `followup` for this message: it waits instead of steering into the run.
    let b = op.request("chat.send", send("ab-2", "the next job")).await;
    assert_eq!(b["payload"]["status"], "queued", "{b}");

    // Another session's key with this run: refused, nothing stops.
    let res = op
        .request(
            "sessions.abort",
            json!({"key": "agent:main:other", "runId": "ab-1"}),
        )
        .await;
    assert!(
        error_of(&res).contains("runId does not match session"),
        "{res}"
    );

    // Key only: the running run stops, the waiting one runs next.
    let res = op.request("sessions.abort", json!({"key": "main"})).await;
    assert_eq!(
        res["payload"],
        json!({"ok": true, "abortedRunId": "ab-1", "status": "aborted"}),
        "{res}"
    );
    let fin = chat_event(&mut op, "ab-2", "final").await;
    assert_eq!(
        fin["message"]["content"][0]["text"], "the queued one ran",
        "{fin}"
    );
    let res = op.request("sessions.abort", json!({"key": "main"})).await;
    assert_eq!(res["payload"]["status"], "no-active-run", "{res}");
    assert_eq!(res["payload"]["abortedRunId"], Value::Null, "{res}");

    // `clearQueued`: the waiting message goes too.
    op.request("chat.send", send("ab-3", "another job")).await;
    ai.wait_requests_async(3, SLOW).await;
    let d = op.request("chat.send", send("ab-4", "dropped")).await;
    assert_eq!(d["payload"]["status"], "queued", "{d}");
    let res = op
        .request(
            "sessions.abort",
            json!({"key": "main", "clearQueued": true}),
        )
        .await;
    assert_eq!(res["payload"]["abortedRunId"], "ab-3", "{res}");
    let wait = op
        .request("agent.wait", json!({"runId": "ab-4", "timeoutMs": 5000}))
        .await;
    assert_eq!(wait["payload"]["status"], "aborted", "{wait}");
    assert_eq!(ai.request_count(), 3, "the dropped message never ran");

    // A run id alone: a run that is not going is no error.
    let res = op
        .request("sessions.abort", json!({"runId": "never-was"}))
        .await;
    assert_eq!(
        res["payload"],
        json!({"ok": true, "abortedRunId": null, "status": "no-active-run"}),
        "{res}"
    );
    for (params, want) in [
        (json!({}), "key or runId is required"),
        (
            json!({"key": "main", "bogus": 1}),
            "unexpected property 'bogus'",
        ),
        (
            json!({"key": "main", "clearQueued": "yes"}),
            "must be boolean",
        ),
        (json!({"runId": ""}), "fewer than 1 characters"),
    ] {
        let res = op.request("sessions.abort", params.clone()).await;
        assert!(error_of(&res).contains(want), "{params}: {res}");
    }

    // `chat.toolTitles` (deprecated in OpenClaw): checked, then disabled.
    let item = json!({"id": "call_1", "name": "read", "input": "{\"path\":\"a.md\"}"});
    let res = op
        .request(
            "chat.toolTitles",
            json!({"sessionKey": "main", "items": [item]}),
        )
        .await;
    assert_eq!(
        res["payload"],
        json!({"titles": {}, "disabled": true}),
        "{res}"
    );
    for (params, want) in [
        (
            json!({"sessionKey": "main", "items": []}),
            "fewer than 1 items",
        ),
        (
            json!({"sessionKey": "main", "items": vec![item.clone(); 25]}),
            "more than 24 items",
        ),
        (
            json!({"sessionKey": "main", "items": [{"id": "x".repeat(65), "name": "n", "input": "i"}]}),
            "/items/0/id",
        ),
        (json!({"items": [item]}), "required property 'sessionKey'"),
    ] {
        let res = op.request("chat.toolTitles", params.clone()).await;
        assert!(error_of(&res).contains(want), "{params}: {res}");
    }
    drop(gw);
}
