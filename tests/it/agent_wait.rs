//! `agent.wait` waiters are bounded: a timed-out wait leaves nothing behind, and one run
//! holds at most 64 waiting calls (the 65th gets a clear error at once).

use std::time::Duration;

use serde_json::json;

use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{Incoming, WsClient, cli_params};
use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, start_gateway};

const RW: &[&str] = &["operator.read", "operator.write"];

#[actix_web::test]
async fn timed_out_waiters_are_removed_and_waiters_per_run_are_capped() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;

    // A run that stays in flight for the whole test.
    ai.push(FakeReply::text("late").delayed(Duration::from_secs(100)));
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "take your time", "idempotencyKey": "w-1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    ai.wait_requests_async(1, Duration::from_secs(10)).await;

    // 100 waits that time out one after another: each leaves, so none is refused.
    for i in 0..100 {
        let w = op
            .request("agent.wait", json!({"runId": "w-1", "timeoutMs": 1}))
            .await;
        assert_eq!(w["ok"], true, "wait {i}: {w}");
        assert_eq!(w["payload"]["status"], "timeout", "wait {i}: {w}");
    }

    // 64 waits at once are held; the 65th is refused at once with a clear error.
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(
            op.send_request("agent.wait", json!({"runId": "w-1", "timeoutMs": 60_000}))
                .await,
        );
    }
    let extra = op
        .send_request("agent.wait", json!({"runId": "w-1", "timeoutMs": 60_000}))
        .await;
    let refused = op.response_within(&extra, Duration::from_secs(10)).await;
    assert_eq!(refused["ok"], true, "{refused}");
    assert_eq!(refused["payload"]["status"], "error", "{refused}");
    assert_eq!(
        refused["payload"]["error"],
        "too many agent.wait calls are waiting on this run (at most 64); wait for one of them to return, then retry",
        "{refused}"
    );

    // Aborting the run releases every held waiter.
    let abort = op
        .request("chat.abort", json!({"sessionKey": "main", "runId": "w-1"}))
        .await;
    assert_eq!(abort["ok"], true, "{abort}");
    let mut answers: Vec<serde_json::Value> = std::mem::take(&mut op.backlog)
        .into_iter()
        .filter(|v| v["type"] == "res" && held.iter().any(|h| v["id"] == h.as_str()))
        .collect();
    while answers.len() < held.len() {
        match op.next_within(Duration::from_secs(10)).await {
            Incoming::Json(v)
                if v["type"] == "res" && held.iter().any(|h| v["id"] == h.as_str()) =>
            {
                answers.push(v)
            }
            Incoming::Json(_) => {}
            other => panic!("unexpected frame while waiting for the held waiters: {other:?}"),
        }
    }
    for w in answers {
        assert_eq!(w["ok"], true, "{w}");
        assert_eq!(
            w["payload"]["status"], "aborted",
            "released by the end of the run: {w}"
        );
    }
}
