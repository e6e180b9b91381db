//! Inline buttons (`presentation` on `message.action` and the agent's `message` tool) against
//! the real binary, the fake Bot API and the fake model: the keyboard Telegram gets, the text
//! a chat gets where `capabilities.inlineButtons` shows none (and Mini App buttons outside
//! private chats), a press that reaches the agent as `callback_data: <value>` from whoever
//! pressed under the chat's own policy, a command button, the buttons taken away once a press
//! is taken, and presses the policy refuses (a stranger in a group, a chat where buttons are
//! off) answered and dropped.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::{FakeTelegram, SentMessage};
use crate::support::{WsClient, cli_params};
use crate::telegram_flow::{
    GW_TOKEN, SLOW, TG_TOKEN, config, last_user_text, poll_until, start_gateway,
};

/// Operator scopes for `message.action`.
const RW: &[&str] = &["operator.read", "operator.write"];
/// The group the tests post in.
const GROUP: i64 = -1_005_550_777;
/// A group member the group policy admits.
const MEMBER: i64 = 7001;
/// Someone it does not.
const STRANGER: i64 = 7002;
/// A private chat.
const FRIEND: i64 = 6101;

/// Waits until the press `q` was answered (`answerCallbackQuery`).
async fn answered(tg: &FakeTelegram, q: &str) {
    poll_until(SLOW, &format!("the press {q} answered"), || {
        tg.callback_answers()
            .iter()
            .any(|(id, _)| id == q)
            .then_some(())
    })
    .await;
}

/// A presentation with one button of each kind.
fn every_kind() -> Value {
    json!({"title": "Deploy?", "blocks": [
        {"type": "text", "text": "Canary is green."},
        {"type": "buttons", "buttons": [
            {"label": "Yes", "action": {"type": "callback", "value": "deploy:yes"}},
            {"label": "Docs", "action": {"type": "url", "url": "https://example.com/docs"}},
            {"label": "App", "action": {"type": "web-app", "url": "https://example.com/app"}},
        ]},
        {"type": "select", "placeholder": "More", "options": [
            {"label": "Status", "action": {"type": "command", "command": "/status"}},
        ]},
    ]})
}

/// `message.action send` of `presentation` to `to`; the message sent.
async fn send_buttons(
    op: &mut WsClient,
    tg: &FakeTelegram,
    to: i64,
    text: &str,
    presentation: Value,
) -> SentMessage {
    let res = op
        .request(
            "message.action",
            json!({"channel": "telegram", "action": "send", "idempotencyKey": format!("b-{to}-{text}"),
                   "params": {"to": to.to_string(), "message": text, "presentation": presentation}}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    poll_until(SLOW, "the message with buttons", || {
        tg.sent()
            .into_iter()
            .find(|s| s.chat_id() == Some(to) && s.text().starts_with(text))
    })
    .await
}

/// The Bot API call's keyboard: rows of (text, what the button does).
fn keyboard_of(sent: &SentMessage) -> Vec<Vec<(String, Value)>> {
    sent.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    r.as_array()
                        .into_iter()
                        .flatten()
                        .map(|b| {
                            let mut b = b.clone();
                            let text = b["text"].as_str().unwrap_or_default().to_owned();
                            b.as_object_mut().map(|o| o.remove("text"));
                            (text, b)
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn buttons_show_where_the_scope_allows_and_a_press_reaches_the_agent_from_the_presser() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value = serde_json::from_str(&config(
        &tg,
        Some(&ai),
        json!({"groupPolicy": "allowlist", "groupAllowFrom": [MEMBER.to_string()]}),
    ))
    .expect("config is JSON");
    cfg["messages"]["queue"] = json!({"mode": "followup"});
    let gw = start_gateway(&cfg.to_string());
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;

    // A private chat gets every kind as Telegram's keyboard, three to a row.
    let dm = send_buttons(&mut op, &tg, FRIEND, "Choose:", every_kind()).await;
    assert_eq!(
        dm.text(),
        "Choose:\n\nDeploy?\n\nCanary is green.",
        "{:?}",
        dm.body
    );
    assert_eq!(
        keyboard_of(&dm),
        vec![
            vec![
                ("Yes".to_owned(), json!({"callback_data": "deploy:yes"})),
                (
                    "Docs".to_owned(),
                    json!({"url": "https://example.com/docs"})
                ),
                (
                    "App".to_owned(),
                    json!({"web_app": {"url": "https://example.com/app"}})
                ),
            ],
            vec![("Status".to_owned(), json!({"callback_data": "/status"}))],
        ]
    );
    // A group gets the Mini App button as text (Telegram takes none there).
    let grp = send_buttons(&mut op, &tg, GROUP, "Team:", every_kind()).await;
    assert!(
        grp.text().ends_with("- App: https://example.com/app"),
        "{}",
        grp.text()
    );
    assert_eq!(keyboard_of(&grp).concat().len(), 3, "{:?}", grp.body);

    // The friend presses Yes: a message from them to the agent, replying to the buttons'
    // message; the buttons go away and the press is answered.
    let before = ai.request_count();
    ai.push_text("Deploying.");
    let q = tg.push_callback(FRIEND, FRIEND, dm.message_id, "deploy:yes");
    let reqs = ai.wait_requests_async(before + 1, SLOW).await;
    assert!(
        last_user_text(&reqs[before]).contains("callback_data: deploy:yes"),
        "{}",
        last_user_text(&reqs[before])
    );
    poll_until(SLOW, "the answer to the press", || {
        tg.sent()
            .into_iter()
            .find(|s| s.chat_id() == Some(FRIEND) && s.text() == "Deploying.")
    })
    .await;
    poll_until(SLOW, "the press answered and the buttons gone", || {
        (tg.callback_answers().iter().any(|(id, _)| *id == q)
            && tg.keyboard(FRIEND, dm.message_id).is_none())
        .then_some(())
    })
    .await;

    // In the group a stranger's press is answered and dropped: no run, the buttons stay
    // for someone the group admits.
    let q = tg.push_callback(STRANGER, GROUP, grp.message_id, "deploy:no");
    answered(&tg, &q).await;
    assert!(tg.keyboard(GROUP, grp.message_id).is_some());
    // The member's press is taken (a group press counts as addressed to the bot), and
    // the answer goes to the group.
    ai.push_text("On it, team.");
    tg.push_callback(MEMBER, GROUP, grp.message_id, "deploy:yes");
    let reqs = ai.wait_requests_async(before + 2, SLOW).await;
    assert_eq!(
        reqs.len(),
        before + 2,
        "the stranger's press started no run"
    );
    // The run is the member's: a run of the stranger's press (in the same session, so
    // before it) would have been asked about "deploy:no" first.
    let text = last_user_text(&reqs[before + 1]);
    assert!(text.contains("callback_data: deploy:yes"), "{text}");
    poll_until(SLOW, "the answer in the group", || {
        tg.sent()
            .into_iter()
            .find(|s| s.chat_id() == Some(GROUP) && s.text() == "On it, team.")
    })
    .await;
    poll_until(SLOW, "the group's buttons gone", || {
        tg.keyboard(GROUP, grp.message_id).is_none().then_some(())
    })
    .await;

    // A command button runs the command as if typed (no model run): /status answers.
    let again = send_buttons(&mut op, &tg, FRIEND, "More:", every_kind()).await;
    let sent_before = tg.sent().len();
    tg.push_callback(FRIEND, FRIEND, again.message_id, "/status");
    let status = poll_until(SLOW, "the /status answer", || {
        tg.sent()
            .into_iter()
            .skip(sent_before)
            .find(|s| s.chat_id() == Some(FRIEND))
    })
    .await;
    assert!(status.text().contains("openclaw-rs"), "{}", status.text());
    assert_eq!(ai.request_count(), before + 2, "a command runs no model");

    // `edit` with a presentation and no text changes only the buttons; with a text and no
    // presentation the buttons go (as Telegram does on a text edit).
    let edit = |params: Value, key: &str| json!({"channel": "telegram", "action": "edit", "idempotencyKey": key, "params": params});
    let res = op
        .request(
            "message.action",
            edit(
                json!({"to": FRIEND.to_string(), "messageId": again.message_id,
                       "presentation": {"blocks": [{"type": "buttons", "buttons": [{"label": "Done", "value": "done"}]}]}}),
                "e-1",
            ),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        tg.keyboard(FRIEND, again.message_id),
        Some(json!({"inline_keyboard": [[{"text": "Done", "callback_data": "done"}]]}))
    );
    assert_eq!(
        tg.text_of(FRIEND, again.message_id).as_deref(),
        Some(again.text()),
        "the text stayed"
    );
    let res = op
        .request(
            "message.action",
            edit(
                json!({"to": FRIEND.to_string(), "messageId": again.message_id, "message": "Chosen."}),
                "e-2",
            ),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        tg.text_of(FRIEND, again.message_id).as_deref(),
        Some("Chosen.")
    );
    assert_eq!(tg.keyboard(FRIEND, again.message_id), None);

    // Presses of the gateway's reserved encodings and of empty data start nothing.
    for data in ["tgq1:ask_0123", "", "mdl1~x"] {
        let q = tg.push_callback(FRIEND, FRIEND, again.message_id, data);
        answered(&tg, &q).await;
    }
    assert_eq!(ai.request_count(), before + 2);

    // Bad presentations are refused by name and send nothing.
    let count = tg.sent().len();
    for (presentation, why) in [
        (
            json!({"blocks": [{"type": "buttons", "buttons": [{"label": "OK", "value": "/approve x allow-always"}]}]}),
            "may not carry /approve",
        ),
        (
            json!({"blocks": [{"type": "buttons", "buttons": [{"label": "OK", "value": "tga1:e:a:x"}]}]}),
            "reserved",
        ),
        (
            json!({"blocks": [{"type": "buttons", "buttons": [{"label": "OK", "value": "v".repeat(65)}]}]}),
            "at most 64",
        ),
        (json!({"blocks": [{"type": "hero"}]}), "is not one of"),
        (json!("{"), "not valid JSON"),
    ] {
        let res = op
            .request(
                "message.action",
                json!({"channel": "telegram", "action": "send", "idempotencyKey": format!("bad-{why}"),
                       "params": {"to": FRIEND.to_string(), "message": "x", "presentation": presentation}}),
            )
            .await;
        assert_eq!(res["ok"], false, "{res}");
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(why), "{msg:?} should say {why:?}");
    }
    assert_eq!(tg.sent().len(), count, "nothing was sent");
}

#[actix_web::test]
async fn where_inline_buttons_are_off_they_go_as_text_and_presses_are_only_answered() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = config(
        &tg,
        Some(&ai),
        json!({"capabilities": {"inlineButtons": "group"}, "groupPolicy": "open"}),
    );
    let gw = start_gateway(&cfg);
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    // A private chat: buttons are for groups only here.
    let dm = send_buttons(&mut op, &tg, FRIEND, "Pick", every_kind()).await;
    assert!(dm.body.get("reply_markup").is_none(), "{:?}", dm.body);
    assert_eq!(
        dm.text(),
        "Pick\n\nDeploy?\n\nCanary is green.\n\n- Yes\n- Docs: https://example.com/docs\n- App: https://example.com/app\n- Status: `/status`",
    );
    // A press of an old button there (or a forged one) starts nothing.
    let q = tg.push_callback(FRIEND, FRIEND, dm.message_id, "deploy:yes");
    answered(&tg, &q).await;
    // The group keeps its keyboard (without the Mini App button).
    let grp = send_buttons(&mut op, &tg, GROUP, "Team", every_kind()).await;
    assert_eq!(keyboard_of(&grp).concat().len(), 3, "{:?}", grp.body);
    // A message after the press: the only run is its.
    ai.push_text("hello");
    tg.push_text(FRIEND, FRIEND, "hi");
    let reqs = ai.wait_requests_async(1, Duration::from_secs(15)).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(last_user_text(&reqs[0]).trim_end(), "hi");

    // A bad scope refuses to start, naming the key.
    let bad = config(
        &tg,
        None,
        json!({"capabilities": {"inlineButtons": "sometimes"}}),
    );
    let out = crate::support::CliHome::with_config(&bad).run(crate::telegram_flow::GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr
            .contains("channels.telegram.capabilities inlineButtons is \"sometimes\""),
        "{out}"
    );
}

/// A location (`send` with `location`, OpenClaw's Telegram form): a pin (`sendLocation`) or,
/// with a name and an address, a venue card (`sendVenue`); through the `sendMessage` gate;
/// bad coordinates and mixes with text are refused by name, nothing sent.
#[actix_web::test]
async fn a_location_goes_as_a_pin_or_a_venue_and_bad_ones_are_refused() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let mut n = 0;
    let mut send = |params: Value| {
        n += 1;
        json!({"channel": "telegram", "action": "send", "idempotencyKey": format!("l-{n}"),
               "params": params})
    };
    let res = op
        .request(
            "message.action",
            send(json!({"to": FRIEND.to_string(), "silent": true,
                        "location": {"latitude": 48.858844, "longitude": "2.294351", "accuracy": 12}})),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let res = op
        .request(
            "message.action",
            send(json!({"to": FRIEND.to_string(),
                        "location": {"latitude": -33.8568, "longitude": 151.2153, "accuracy": 5,
                                     "name": "Opera House 🎭", "address": "Bennelong Point, Sydney"}})),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let sent = tg.wait_sent_async(2, SLOW).await;
    assert_eq!(sent[0].method, "sendLocation", "{:?}", sent[0]);
    assert_eq!(sent[0].body["latitude"], 48.858844);
    assert_eq!(sent[0].body["longitude"], 2.294351);
    assert_eq!(sent[0].body["horizontal_accuracy"], 12.0);
    assert_eq!(sent[0].body["disable_notification"], true);
    assert_eq!(
        res["payload"]["messageId"],
        sent[1].message_id.to_string(),
        "{res}"
    );
    assert_eq!(sent[1].method, "sendVenue", "{:?}", sent[1]);
    assert_eq!(sent[1].body["title"], "Opera House 🎭");
    assert_eq!(sent[1].body["address"], "Bennelong Point, Sydney");
    assert!(
        sent[1].body.get("horizontal_accuracy").is_none(),
        "{:?}",
        sent[1].body
    );
    for (location, extra, why) in [
        (
            json!({"latitude": 91, "longitude": 0}),
            json!({}),
            "latitude must be a number from -90 to 90",
        ),
        (
            json!({"latitude": 0, "longitude": "east"}),
            json!({}),
            "longitude must be",
        ),
        (
            json!({"latitude": 0, "longitude": 0, "accuracy": 5000}),
            json!({}),
            "accuracy",
        ),
        (
            json!({"latitude": 0, "longitude": 0, "name": "Only a name"}),
            json!({}),
            "needs both",
        ),
        (
            json!({"latitude": 0, "longitude": 0}),
            json!({"message": "and text"}),
            "sent alone",
        ),
        (json!("48.8,2.3"), json!({}), "must be an object"),
    ] {
        let mut params = extra.clone();
        params["to"] = json!(FRIEND.to_string());
        params["location"] = location.clone();
        let res = op.request("message.action", send(params)).await;
        assert_eq!(res["ok"], false, "{location}: {res}");
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(why), "{location}: {msg:?} should say {why:?}");
    }
    assert_eq!(tg.sent().len(), 2, "nothing more was sent");
}

/// A press taken is durable like a typed message: the gateway SIGKILLed while the press's
/// run waits for the model runs it again after the restart, and answers it once.
#[actix_web::test]
async fn a_press_survives_a_sigkill_and_is_answered_once() {
    use crate::support::TestGateway;
    use crate::support::fake_openai::FakeReply;
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("answered after the restart");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, RW)).await;
    let asked = send_buttons(&mut op, &tg, FRIEND, "Go?", every_kind()).await;
    drop(op);
    // The press's model call hangs; the gateway dies while waiting for it.
    ai.push(FakeReply::text("never delivered").delayed(Duration::from_secs(30)));
    tg.push_callback(FRIEND, FRIEND, asked.message_id, "deploy:yes");
    ai.wait_requests_async(1, SLOW).await;
    let mut gw = gw;
    let dir = gw.take_dir();
    drop(gw);
    let _gw = TestGateway::start_in(dir, crate::telegram_flow::GW_ARGS, &[], None);
    let answer = poll_until(SLOW, "the answer after the restart", || {
        tg.sent()
            .into_iter()
            .find(|s| s.text() == "answered after the restart")
    })
    .await;
    assert_eq!(answer.chat_id(), Some(FRIEND));
    let reqs = ai.wait_requests_async(2, SLOW).await;
    for r in &reqs {
        assert!(
            last_user_text(r).contains("callback_data: deploy:yes"),
            "{r}"
        );
    }
    // Once: no second answer arrives before a later message's.
    ai.push_text("later");
    let later = crate::telegram_flow::dm(&tg, FRIEND, "later");
    crate::telegram_flow::wait_reply(&tg, later, SLOW).await;
    assert_eq!(
        tg.sent()
            .iter()
            .filter(|s| s.text() == "answered after the restart")
            .count(),
        1,
        "{:?}",
        tg.sent()
    );
}
