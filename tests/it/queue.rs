//! `messages.queue` against the real binary: a message sent while its chat's run is going
//! steers into that run (OpenClaw's default: the tool calls not started yet are skipped,
//! the model sees the message before any more), is collected with the others that waited
//! into one turn, or interrupts the run; never across senders; `/queue` and
//! `sessions.patch {queueMode}` per session. The model answers are held on a gate until the
//! gateway reports the message waiting (`openclaw_agent_runs_queued`), so no timing decides
//! what the test sees.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::agent_rpc::chat_event;
use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::*;
use crate::telegram_flow::{
    GW_ARGS, GW_TOKEN, SLOW, TG_TOKEN, all_answered, config, dm, last_user_text, poll_until,
    replies_to, start_gateway, wait_reply, with_queue,
};

pub(crate) const SKIPPED: &str = "Skipped to process an incoming message.";

/// `openclaw_agent_runs_queued` now.
pub(crate) fn queued(port: u16) -> u64 {
    let (status, _, body) = http_request(
        port,
        "GET",
        "/api/diagnostics/prometheus",
        &[("Authorization", &format!("Bearer {GW_TOKEN}"))],
    );
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix("openclaw_agent_runs_queued "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the openclaw_agent_runs_queued gauge")
}

async fn until_queued(gw: &TestGateway, n: u64) {
    poll_until(SLOW, &format!("{n} run(s) waiting"), || {
        (queued(gw.port) == n).then_some(())
    })
    .await;
}

/// The model asks for two `read` calls (a steer skips both; run, each reads a file that is
/// not there).
pub(crate) fn two_reads() -> FakeReply {
    FakeReply::completion(
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "read", "arguments": "{\"path\":\"a.md\"}"}},
            {"id": "call_b", "type": "function",
             "function": {"name": "read", "arguments": "{\"path\":\"b.md\"}"}}]}),
        "tool_calls",
    )
}

/// The `tool` messages of a model request.
pub(crate) fn tool_results(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `(role, content)` of the transcripts' messages.
fn transcript(gw: &TestGateway) -> Vec<(String, String)> {
    crate::media::transcript_lines(gw)
        .iter()
        .filter(|l| l["type"] == "message")
        .map(|l| {
            (
                l["role"].as_str().unwrap_or_default().to_owned(),
                l["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn a_message_sent_during_a_run_steers_into_it_and_skips_the_tools_not_started() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gate = Arc::new(Semaphore::new(0));
    ai.push(two_reads().held_by(&gate));
    ai.push_text("Tides at 6, wind 12 knots.");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));

    let first = dm(&tg, 8801, "check the tides");
    ai.wait_requests_async(1, SLOW).await;
    let second = dm(&tg, 8801, "and the wind 🌬 too");
    until_queued(&gw, 1).await;
    gate.add_permits(1);

    let r = wait_reply(&tg, first, SLOW).await;
    assert_eq!(r.text(), "Tides at 6, wind 12 knots.");
    all_answered(&gw, &tg).await;
    // One answer for both: the steered message left the pending list without its own.
    assert!(replies_to(&tg, second).is_empty(), "{:?}", tg.sent());
    assert_eq!(tg.sent().len(), 1, "{:?}", tg.sent());
    let reqs = ai.requests();
    assert_eq!(reqs.len(), 2, "one run, two model calls");
    // The calls the model asked for did not run; the message came right after them.
    assert_eq!(tool_results(&reqs[1]), [SKIPPED, SKIPPED]);
    assert_eq!(last_user_text(&reqs[1]), "and the wind 🌬 too");
    let last = reqs[1]["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned();
    assert_eq!(last.map(|m| m["role"].clone()), Some(json!("user")));
    // The transcript has both messages, in order, and the one answer.
    assert_eq!(
        transcript(&gw),
        [
            ("user".to_owned(), "check the tides".to_owned()),
            ("user".to_owned(), "and the wind 🌬 too".to_owned()),
            (
                "assistant".to_owned(),
                "Tides at 6, wind 12 knots.".to_owned()
            ),
        ]
    );
    assert_eq!(queued(gw.port), 0);
}

#[actix_web::test]
async fn in_a_group_another_persons_message_never_steers_into_a_run() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gate = Arc::new(Semaphore::new(0));
    ai.push(two_reads().held_by(&gate));
    ai.push_text("answer for ann");
    ai.push_text("answer for bob");
    let gw = start_gateway(&config(
        &tg,
        Some(&ai),
        json!({"groupPolicy": "open", "historyLimit": 0,
            "groups": {"*": {"requireMention": false}}}),
    ));
    let push = |from: i64, text: &str| {
        let m = tg.message(-9300, from, text);
        let id = m.message_id;
        tg.push_message(m);
        id
    };
    let ann = push(9301, "ann: list my files");
    ai.wait_requests_async(1, SLOW).await;
    // Same group, same session, another person (another tool policy): it waits its turn.
    let bob = push(9302, "bob: delete them all");
    until_queued(&gw, 1).await;
    gate.add_permits(1);
    assert_eq!(wait_reply(&tg, ann, SLOW).await.text(), "answer for ann");
    assert_eq!(wait_reply(&tg, bob, SLOW).await.text(), "answer for bob");
    all_answered(&gw, &tg).await;
    let reqs = ai.requests();
    assert_eq!(reqs.len(), 3, "ann's run (two calls), then bob's own");
    // Ann's tools ran (no skip), and her run never saw bob's words.
    let results = tool_results(&reqs[1]);
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r != SKIPPED), "{results:?}");
    assert!(!reqs[1].to_string().contains("delete them all"));
    assert!(last_user_text(&reqs[2]).contains("bob: delete them all"));
}

#[actix_web::test]
async fn collect_runs_the_waiting_messages_as_one_turn_after_the_run() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gate = Arc::new(Semaphore::new(0));
    ai.push(FakeReply::text("first answer").held_by(&gate));
    ai.push_text("both at once");
    let mut cfg: Value = serde_json::from_str(&with_queue(
        &config(&tg, Some(&ai), json!({})),
        json!({"mode": "followup", "byChannel": {"telegram": "coalesce"}}),
    ))
    .expect("config is JSON");
    // Each message is its own (no burst batching), so the queue is what joins them.
    cfg["messages"]["inbound"] = json!({"debounceMs": 0});
    let gw = start_gateway(&cfg.to_string());

    let first = dm(&tg, 8811, "one");
    ai.wait_requests_async(1, SLOW).await;
    let second = dm(&tg, 8811, "two");
    let third = dm(&tg, 8811, "three\nlines");
    until_queued(&gw, 2).await;
    gate.add_permits(1);
    assert_eq!(wait_reply(&tg, first, SLOW).await.text(), "first answer");
    assert_eq!(wait_reply(&tg, second, SLOW).await.text(), "both at once");
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, third).is_empty(), "{:?}", tg.sent());
    let reqs = ai.requests();
    assert_eq!(reqs.len(), 2);
    let turn = last_user_text(&reqs[1]);
    assert!(
        turn.starts_with("[Queued messages while agent was busy]\n\n---\nQueued #1 (from "),
        "{turn:?}"
    );
    assert!(turn.contains(")\ntwo\n\n---\nQueued #2 (from "), "{turn:?}");
    assert!(turn.ends_with(")\nthree\nlines"), "{turn:?}");
}

/// OpenClaw's queue debounce: once a run ends, the message that waited behind it starts
/// only after a quiet window since the last one was queued, so one sent just after the
/// answer still joins it (here: steers into its run) instead of becoming another turn.
#[actix_web::test]
async fn a_waiting_message_starts_after_a_quiet_window_and_a_late_one_joins_it() {
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gate = Arc::new(Semaphore::new(0));
    ai.push(FakeReply::text("first answer").held_by(&gate));
    ai.push_text("both answered");
    let mut cfg: Value = serde_json::from_str(&with_queue(
        &config(&tg, Some(&ai), json!({})),
        // Long enough that the test's next step lands inside it however slow the machine.
        json!({"debounceMs": 0, "debounceMsByChannel": {"telegram": WINDOW.as_millis() as u64}}),
    ))
    .expect("config is JSON");
    cfg["messages"]["inbound"] = json!({"debounceMs": 0});
    let gw = start_gateway(&cfg.to_string());

    // A message to an idle chat starts at once (the window is only for waiting ones).
    let first = dm(&tg, 8861, "one");
    ai.wait_requests_async(1, SLOW).await;
    // Sent while the model writes its answer: too late to steer into that run.
    let second = dm(&tg, 8861, "two");
    until_queued(&gw, 1).await;
    gate.add_permits(1);
    assert_eq!(wait_reply(&tg, first, SLOW).await.text(), "first answer");
    // The run ended; "two" waits out its window, and "three" comes within it.
    let third = dm(&tg, 8861, "three");
    // (It starts once the window after "three" has passed.)
    assert_eq!(
        wait_reply(&tg, second, SLOW + WINDOW).await.text(),
        "both answered"
    );
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, third).is_empty(), "{:?}", tg.sent());
    let reqs = ai.requests();
    assert_eq!(
        reqs.len(),
        2,
        "one run for the first, one for the other two"
    );
    let users: Vec<String> = reqs[1]["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].to_string())
        .collect();
    let n = users.len();
    assert!(n >= 3, "{users:?}");
    assert!(
        users[n - 2].contains("two") && users[n - 1].contains("three"),
        "{users:?}"
    );
}

#[actix_web::test]
async fn interrupt_stops_the_run_and_the_newest_message_runs() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // Never released: the run is stopped instead.
    let gate = Arc::new(Semaphore::new(0));
    ai.push(FakeReply::text("too late").held_by(&gate));
    ai.push_text("doing the new thing");
    let gw = start_gateway(&with_queue(
        &config(&tg, Some(&ai), json!({})),
        json!({"mode": "interrupt"}),
    ));
    let first = dm(&tg, 8821, "a long job");
    ai.wait_requests_async(1, SLOW).await;
    let second = dm(&tg, 8821, "never mind, this instead");
    assert_eq!(
        wait_reply(&tg, second, SLOW).await.text(),
        "doing the new thing"
    );
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, first).is_empty(), "{:?}", tg.sent());
    assert_eq!(ai.request_count(), 2);
    assert_eq!(
        last_user_text(&ai.requests()[1]),
        "never mind, this instead"
    );
}

#[actix_web::test]
async fn an_operators_message_steers_too_and_ends_with_the_run() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gate = Arc::new(Semaphore::new(0));
    ai.push(two_reads().held_by(&gate));
    ai.push_text("covered both");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params(GW_TOKEN, &["operator.read", "operator.write"]),
    )
    .await;
    let send = |key: &str, text: &str| json!({"sessionKey": "main", "message": text, "idempotencyKey": key});
    let a = op.request("chat.send", send("steer-a", "first ask")).await;
    assert_eq!(a["payload"]["status"], "started", "{a}");
    ai.wait_requests_async(1, SLOW).await;
    let b = op.request("chat.send", send("steer-b", "second ask")).await;
    assert_eq!(b["payload"]["status"], "queued", "{b}");
    until_queued(&gw, 1).await;
    gate.add_permits(1);
    let fin = chat_event(&mut op, "steer-a", "final").await;
    assert_eq!(
        fin["message"]["content"][0]["text"], "covered both",
        "{fin}"
    );
    // The steered run ends too, without an answer of its own (the run's carries it).
    let fin_b = chat_event(&mut op, "steer-b", "final").await;
    assert!(fin_b.get("message").is_none(), "{fin_b}");
    let wait = op
        .request("agent.wait", json!({"runId": "steer-b", "timeoutMs": 5000}))
        .await;
    assert_eq!(wait["payload"]["status"], "ok", "{wait}");
    assert_eq!(tool_results(&ai.requests()[1]), [SKIPPED, SKIPPED]);
    assert_eq!(last_user_text(&ai.requests()[1]), "second ask");
}

#[actix_web::test]
async fn queue_settings_per_chat_and_per_session_and_bad_config_refused() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&with_queue(
        &config(&tg, Some(&ai), json!({})),
        json!({"byChannel": {"webchat": "followup"}, "cap": 5}),
    ));
    let ask = async |text: &str| {
        let id = dm(&tg, 8831, text);
        wait_reply(&tg, id, SLOW).await.text().to_owned()
    };
    let status = ask("/queue").await;
    assert!(
        status.starts_with("📥 Queue: steer (")
            && status.contains("debounce 500ms, cap 5, drop summarize — from messages.queue"),
        "{status}"
    );
    let set = ask("/queue COLLECT cap:3 drop:oldest debounce:1.5s").await;
    assert!(
        set.starts_with("📥 Queue set: collect (")
            && set.contains("debounce 1500ms, cap 3, drop old — this chat's own"),
        "{set}"
    );
    let bad = ask("/queue sideways").await;
    assert!(
        bad.starts_with("⚠️ \"sideways\" is not a queue setting."),
        "{bad}"
    );
    let bad_cap = ask("/queue cap:0").await;
    assert!(
        bad_cap.starts_with("⚠️ \"cap:0\" is not a queue setting."),
        "{bad_cap}"
    );
    assert_eq!(ai.request_count(), 0, "commands, not messages");

    // Over the wire: the session shows its mode; sessions.patch changes it or clears it.
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params(
            GW_TOKEN,
            &["operator.read", "operator.write", "operator.admin"],
        ),
    )
    .await;
    let key = "agent:main:telegram:direct:8831";
    let row = |list: &Value| {
        list["payload"]["sessions"]
            .as_array()
            .and_then(|s| s.iter().find(|r| r["key"] == key).cloned())
            .unwrap_or_default()
    };
    let list = op.request("sessions.list", json!({})).await;
    assert_eq!(
        (
            row(&list)["queueMode"].clone(),
            row(&list)["queueCap"].clone(),
            row(&list)["queueDrop"].clone(),
            row(&list)["queueDebounceMs"].clone()
        ),
        (json!("collect"), json!(3), json!("old"), json!(1500)),
        "{list}"
    );
    let patched = op
        .request(
            "sessions.patch",
            json!({"key": key, "queueMode": "interrupt"}),
        )
        .await;
    assert_eq!(patched["ok"], true, "{patched}");
    let list = op.request("sessions.list", json!({})).await;
    assert_eq!(row(&list)["queueMode"], "interrupt", "{list}");
    let refused = op
        .request(
            "sessions.patch",
            json!({"key": key, "queueMode": "sideways"}),
        )
        .await;
    assert_eq!(refused["error"]["code"], "INVALID_REQUEST", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("must be one of steer, followup, collect, interrupt")),
        "{refused}"
    );
    let cleared = op
        .request("sessions.patch", json!({"key": key, "queueMode": null}))
        .await;
    assert_eq!(cleared["ok"], true, "{cleared}");
    let list = op.request("sessions.list", json!({})).await;
    assert!(row(&list).get("queueMode").is_none(), "{list}");
    assert!(row(&list).get("queueCap").is_none(), "{list}");
    let back = ask("/queue").await;
    assert!(back.starts_with("📥 Queue: steer ("), "{back}");
    drop(gw);

    for (bad, key) in [
        (json!({"mode": "sideways"}), "messages.queue.mode"),
        (
            json!({"byChannel": {"telegram": 3}}),
            "messages.queue.byChannel.telegram",
        ),
        (json!({"cap": 0}), "messages.queue.cap"),
        (json!({"cap": 101}), "messages.queue.cap"),
        (json!({"drop": "all"}), "messages.queue.drop"),
        (json!({"debounceMs": -5}), "messages.queue.debounceMs"),
    ] {
        let out =
            CliHome::with_config(&with_queue(&config(&tg, Some(&ai), json!({})), bad.clone()))
                .run(GW_ARGS, &[]);
        assert_eq!(out.code, Some(78), "{bad}: {out}");
        assert!(
            out.stderr.contains(key) && out.stderr.contains("Fix:"),
            "{bad}: {out}"
        );
    }
}

#[actix_web::test]
async fn a_steered_message_cut_off_by_a_kill_is_answered_after_the_restart_and_written_once() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let first_call = Arc::new(Semaphore::new(0));
    // The second model call (the one that would answer both) never comes back: the process
    // is killed while it waits.
    let never = Arc::new(Semaphore::new(0));
    ai.push(two_reads().held_by(&first_call));
    ai.push(FakeReply::text("never delivered").held_by(&never));
    ai.set_default_text("after the restart");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let first = dm(&tg, 8841, "check the tides");
    ai.wait_requests_async(1, SLOW).await;
    let second = dm(&tg, 8841, "and the wind");
    until_queued(&gw, 1).await;
    first_call.add_permits(1);
    ai.wait_requests_async(2, SLOW).await;
    // The steered message's line is on its way to the transcript: kill once it is there.
    poll_until(SLOW, "the steered line in the transcript", || {
        transcript(&gw)
            .iter()
            .any(|(_, c)| c == "and the wind")
            .then_some(())
    })
    .await;
    assert!(tg.sent().is_empty(), "{:?}", tg.sent());

    let gw = crate::telegram_flow::restart(gw);
    // Both messages were still pending: after the restart they are answered (one answer
    // covering both, or one each), and neither is lost or written twice.
    assert_eq!(
        wait_reply(&tg, first, SLOW).await.text(),
        "after the restart"
    );
    all_answered(&gw, &tg).await;
    let users: Vec<String> = transcript(&gw)
        .into_iter()
        .filter(|(role, _)| role == "user")
        .map(|(_, c)| c)
        .collect();
    assert_eq!(users, ["check the tides", "and the wind"], "{users:?}");
    let answers = tg.sent().len();
    assert!(
        answers == 1 || replies_to(&tg, second).len() == 1,
        "{:?}",
        tg.sent()
    );
    assert!(answers <= 2, "{:?}", tg.sent());
}

#[actix_web::test]
async fn steer_puts_a_message_into_the_run_even_in_followup_mode() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gate = Arc::new(Semaphore::new(0));
    ai.push(two_reads().held_by(&gate));
    ai.push_text("short version");
    ai.set_default_text("the waiting one, on its own");
    let mut cfg: Value = serde_json::from_str(&with_queue(
        &config(&tg, Some(&ai), json!({})),
        json!({"mode": "followup"}),
    ))
    .expect("config is JSON");
    cfg["messages"]["inbound"] = json!({"debounceMs": 0});
    let gw = start_gateway(&cfg.to_string());
    let first = dm(&tg, 8851, "write the report");
    ai.wait_requests_async(1, SLOW).await;
    // A plain message waits (followup); `/tell` goes ahead of it, into the run.
    let waits = dm(&tg, 8851, "also, what's for lunch?");
    until_queued(&gw, 1).await;
    let steer = dm(&tg, 8851, "/tell keep it short");
    until_queued(&gw, 2).await;
    gate.add_permits(1);
    assert_eq!(wait_reply(&tg, first, SLOW).await.text(), "short version");
    assert_eq!(
        wait_reply(&tg, waits, SLOW).await.text(),
        "the waiting one, on its own"
    );
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, steer).is_empty(), "{:?}", tg.sent());
    let reqs = ai.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(tool_results(&reqs[1]), [SKIPPED, SKIPPED]);
    assert_eq!(last_user_text(&reqs[1]), "keep it short");
    assert!(!reqs[1].to_string().contains("lunch"));
    assert_eq!(last_user_text(&reqs[2]), "also, what's for lunch?");
    // Alone it is the usage; with no run going it is an ordinary message.
    let usage = dm(&tg, 8851, "/steer");
    assert!(
        wait_reply(&tg, usage, SLOW)
            .await
            .text()
            .starts_with("Usage: /steer <message>")
    );
    let idle = dm(&tg, 8851, "/steer hello there");
    wait_reply(&tg, idle, SLOW).await;
    assert_eq!(last_user_text(&ai.requests()[3]), "hello there");
}
