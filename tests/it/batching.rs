//! Inbound burst batching (OpenClaw's inbound debouncing, on by default for Telegram):
//! rapid text messages of one sender in one chat are one agent turn, answered once; other
//! senders, media and chat commands do not wait. Against the real binary, the fake Bot API
//! and the fake model.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::*;
use crate::telegram_flow::{
    GW_ARGS, SLOW, TG_TOKEN, all_answered, config, dm, last_user_text, replies_to, restart,
    start_gateway, wait_reply, wait_state_file,
};

/// The flows' config with `messages` as given (`null`: OpenClaw's defaults, batching on).
fn with_messages(tg: &FakeTelegram, ai: &FakeOpenAi, messages: Value) -> String {
    let mut cfg: Value =
        serde_json::from_str(&config(tg, Some(ai), json!({}))).expect("config is JSON");
    match messages {
        Value::Null => {
            if let Some(o) = cfg.as_object_mut() {
                o.remove("messages");
            }
        }
        m => cfg["messages"] = m,
    }
    cfg.to_string()
}

#[actix_web::test]
async fn a_burst_from_one_sender_is_one_turn_and_commands_and_others_do_not_wait() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("answered");
    // All of these arrive in one getUpdates batch, long before the 300 ms window ends.
    let one = dm(&tg, 8101, "my flight is");
    let two = dm(&tg, 8101, "LH 123");
    let other = dm(&tg, 8102, "unrelated");
    let whoami = dm(&tg, 8101, "/whoami");
    let three = dm(&tg, 8101, "and the hotel?");
    let gw = start_gateway(&with_messages(&tg, &ai, Value::Null));

    // Each turn is answered replying to its last message (replyToMode "first" in these
    // flows): the first two messages are one turn, closed by the command.
    for id in [two, other, whoami, three] {
        wait_reply(&tg, id, SLOW).await;
    }
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, one).is_empty(), "{:?}", tg.sent());
    let mut asked: Vec<String> = ai.requests().iter().map(last_user_text).collect();
    asked.sort();
    assert_eq!(
        asked,
        ["and the hotel?", "my flight is\nLH 123", "unrelated"],
        "one turn per burst, the command on its own"
    );
    // Four answers: the burst, the other sender, the command, the last message.
    assert_eq!(tg.sent().len(), 4, "{:?}", tg.sent());
    let state = wait_state_file(&gw, "nothing pending", |v| v["pending"] == json!([])).await;
    assert!(state["offset"].as_i64().is_some(), "{state}");
}

#[actix_web::test]
async fn a_batch_cut_by_a_crash_is_batched_again_and_answered_once() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // The batch's turn hangs: the gateway is killed while it runs.
    ai.push(FakeReply::text("lost").delayed(Duration::from_secs(100)));
    let a = dm(&tg, 8201, "first part");
    let b = dm(&tg, 8201, "second part");
    let gw = start_gateway(&with_messages(&tg, &ai, Value::Null));
    ai.wait_requests_async(1, SLOW).await;
    wait_state_file(&gw, "both messages pending", |v| {
        v["pending"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    ai.set_default_text("the one answer");
    let gw = restart(gw);
    assert_eq!(wait_reply(&tg, b, SLOW).await.text(), "the one answer");
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, a).is_empty(), "{:?}", tg.sent());
    assert_eq!(tg.sent().len(), 1, "{:?}", tg.sent());
    let asked: Vec<String> = ai.requests().iter().map(last_user_text).collect();
    assert_eq!(
        asked,
        ["first part\nsecond part", "first part\nsecond part"]
    );
}

#[actix_web::test]
async fn zero_turns_batching_off_and_a_bad_window_refuses_to_start() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("each");
    let a = dm(&tg, 8301, "one");
    let b = dm(&tg, 8301, "two");
    let gw = start_gateway(&with_messages(
        &tg,
        &ai,
        json!({"inbound": {"debounceMs": 0}, "queue": {"mode": "followup"}}),
    ));
    wait_reply(&tg, a, SLOW).await;
    wait_reply(&tg, b, SLOW).await;
    all_answered(&gw, &tg).await;
    assert_eq!(ai.request_count(), 2);
    // Long-paste assembly stays on: a 4000-character message (Telegram split a paste) and
    // its continuation are one turn.
    let paste = "🦀 log line\n".repeat(400);
    let long = {
        let m = tg.message(8301, 8301, &paste);
        let id = m.message_id;
        let rest = tg.message(8301, 8301, "…and the rest");
        let rest_id = rest.message_id;
        tg.push_message(m);
        tg.push_message(rest);
        (id, rest_id)
    };
    wait_reply(&tg, long.1, SLOW).await;
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, long.0).is_empty(), "{:?}", tg.sent());
    assert_eq!(ai.request_count(), 3);
    let last = last_user_text(&ai.requests()[2]);
    assert!(last.ends_with("log line\n\n…and the rest"), "{last:?}");
    drop(gw);
    for (bad, key) in [
        (
            json!({"inbound": {"debounceMs": -1}}),
            "messages.inbound.debounceMs",
        ),
        (
            json!({"inbound": {"byChannel": {"telegram": "fast"}}}),
            "messages.inbound.byChannel.telegram",
        ),
    ] {
        let out = CliHome::with_config(&with_messages(&tg, &ai, bad.clone())).run(GW_ARGS, &[]);
        assert_eq!(out.code, Some(78), "{bad}: {out}");
        assert!(
            out.stderr.contains(key) && out.stderr.contains("Fix:"),
            "{bad}: {out}"
        );
    }
}

#[actix_web::test]
async fn a_batch_closes_at_twelve_messages() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("ok");
    let ids: Vec<i64> = (0..13).map(|i| dm(&tg, 8401, &format!("m{i}"))).collect();
    let gw = start_gateway(&with_messages(&tg, &ai, Value::Null));
    wait_reply(&tg, ids[11], SLOW).await;
    wait_reply(&tg, ids[12], SLOW).await;
    all_answered(&gw, &tg).await;
    let asked: Vec<String> = ai.requests().iter().map(last_user_text).collect();
    let first: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    assert_eq!(asked, [first.join("\n"), "m12".to_owned()]);
    assert_eq!(tg.sent().len(), 2, "{:?}", tg.sent());
}
