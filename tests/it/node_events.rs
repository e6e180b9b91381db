//! The phone apps as nodes (OpenClaw's `server-node-events.ts`, `docs/nodes/voicewake.md`):
//! a node's `voice.transcript` and `agent.request` events run the agent, under the node
//! tool policy of `node:<nodeId>`; `chat.subscribe` lets the node follow the answers; a
//! node's request is delivered only to chats the gateway talks with; the gateway's wake
//! words (`voicewake.*`) are saved, broadcast and pushed to nodes; `talk.config` and
//! `gateway.identity.get` answer what the apps ask at connect. Real binary, fake node
//! (a signed WebSocket client), fake Bot API.

use std::time::Duration;

use serde_json::{Value, json};

use crate::nodes::{ALL_OPERATOR, approve_surface};
use crate::support::fake_node::{Action, FakeNode, always, random_key};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{TestGateway, WAIT, WsClient, cli_params, error_of};
use crate::telegram_flow::{GW_TOKEN, config, dm, poll_until, restart, start_gateway, wait_reply};

async fn operator(gw: &TestGateway, scopes: &[&str]) -> WsClient {
    WsClient::hello(gw.port, cli_params(GW_TOKEN, scopes))
        .await
        .0
}

/// The node's `node.event` answer (asserting the request itself succeeded).
async fn node_event(node: &FakeNode, event: &str, payload: Value) -> Value {
    let res = node
        .request(
            "node.event",
            json!({"event": event, "payloadJSON": payload.to_string()}),
        )
        .await;
    assert_eq!(res["ok"], true, "{event}: {res}");
    res["payload"].clone()
}

/// Waits for the `final` `chat` event of `run_id` pushed to the node.
async fn node_final(node: &mut FakeNode, run_id: &str) -> Value {
    loop {
        let ev = node.event_within("chat", WAIT).await;
        if ev["payload"]["runId"] == run_id && ev["payload"]["state"] == "final" {
            return ev["payload"].clone();
        }
    }
}

/// Waits for the `final` `chat` event of `run_id` on an operator socket.
async fn op_final(op: &mut WsClient, run_id: &str) -> Value {
    loop {
        let ev = op.event_within("chat", WAIT).await;
        if ev["payload"]["runId"] == run_id && ev["payload"]["state"] == "final" {
            return ev["payload"].clone();
        }
    }
}

fn text_of(payload: &Value) -> String {
    payload["message"]["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// A phone talks to the assistant: its transcript runs in the main session, the answer
/// comes back to it once it follows the session (and to operators); a repeated transcript
/// starts nothing; a share (`agent.request`) runs in the node's own session; hostile and
/// empty payloads are ignored with a reason, an unknown agent's session is refused.
#[actix_web::test]
async fn a_phone_node_talks_to_the_agent_and_follows_the_answers() {
    let gw = TestGateway::with_token(GW_TOKEN);
    let mut op = operator(&gw, &["operator.read", "operator.write"]).await;
    let mut node =
        FakeNode::connect(gw.port, &random_key(), GW_TOKEN, &[], always(Action::Echo)).await;

    // Operators following the sessions see each new transcript message (`session.message`);
    // a viewer following only the main session sees only its messages.
    let res = op.request("sessions.subscribe", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
    let mut viewer = operator(&gw, &["operator.read"]).await;
    let res = viewer
        .request("sessions.messages.subscribe", json!({"key": "main"}))
        .await;
    assert_eq!(
        res["payload"],
        json!({"subscribed": true, "key": "agent:main:main"}),
        "{res}"
    );
    for (params, code) in [
        (
            json!({"key": "main", "includeApprovals": true}),
            "UNAVAILABLE",
        ),
        (json!({"key": "main", "nope": 1}), "INVALID_REQUEST"),
        (json!({"key": " "}), "INVALID_REQUEST"),
        (json!({}), "INVALID_REQUEST"),
    ] {
        let res = viewer
            .request("sessions.messages.subscribe", params.clone())
            .await;
        assert_eq!(error_of(&res)["code"], code, "{params}: {res}");
    }

    // Until an operator approves the node, it may not talk to the agent or follow a session.
    let res = node
        .request(
            "node.event",
            json!({"event": "voice.transcript", "payloadJSON": json!({"text": "too early"}).to_string()}),
        )
        .await;
    assert_eq!(error_of(&res)["code"], "NOT_PAIRED", "{res}");
    assert!(
        error_of(&res)["message"]
            .as_str()
            .unwrap_or("")
            .contains("openclaw nodes approve"),
        "{res}"
    );
    let out = node_event(&node, "chat.subscribe", json!({"sessionKey": "main"})).await;
    assert_eq!(out["reason"], "not_approved", "{out}");
    let mut admin = operator(&gw, ALL_OPERATOR).await;
    approve_surface(&mut admin, &node.node_id).await;

    // Before it follows the main session, a transcript's answer is not pushed to it.
    let out = node_event(&node, "chat.subscribe", json!({"sessionKey": "main"})).await;
    assert_eq!(out["handled"], true, "{out}");

    let spoken = "Hello there 👋 — שלום \u{200D} 你好";
    let out = node_event(
        &node,
        "voice.transcript",
        json!({"text": format!("  {spoken}  "), "eventId": "utt-1"}),
    )
    .await;
    assert_eq!(out["handled"], true, "{out}");
    assert_eq!(out["sessionKey"], "agent:main:main", "{out}");
    let run = out["runId"].as_str().expect("runId").to_owned();
    let fin = node_final(&mut node, &run).await;
    assert_eq!(fin["sessionKey"], "agent:main:main", "{fin}");
    assert!(
        text_of(&fin).contains("No model provider is configured"),
        "the embedded agent answered: {fin}"
    );
    let seen = op_final(&mut op, &run).await;
    assert_eq!(text_of(&seen), text_of(&fin));
    let mut roles = Vec::new();
    while roles.len() < 2 {
        let ev = op.event_within("session.message", WAIT).await;
        let p = &ev["payload"];
        assert_eq!(p["sessionKey"], "agent:main:main", "{ev}");
        assert_eq!(p["runId"], run.as_str(), "{ev}");
        assert_eq!(p["agentId"], "main", "{ev}");
        if p["message"]["role"] == "user" {
            assert!(text_of(p).contains(spoken), "{ev}");
        }
        roles.push(p["message"]["role"].clone());
    }
    assert_eq!(roles, [json!("user"), json!("assistant")]);
    let ev = viewer.event_within("session.message", WAIT).await;
    assert_eq!(ev["payload"]["runId"], run.as_str(), "{ev}");

    // The same utterance again (a retried send): nothing new runs.
    let out = node_event(
        &node,
        "voice.transcript",
        json!({"text": spoken, "eventId": "utt-1"}),
    )
    .await;
    assert_eq!(out["handled"], false, "{out}");
    assert_eq!(out["reason"], "duplicate", "{out}");

    // The transcript is the user's line of the main session.
    let hist = op
        .request("chat.history", json!({"sessionKey": "agent:main:main"}))
        .await;
    let users: Vec<String> = hist["payload"]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .map(text_of_message)
        .collect();
    assert_eq!(users.len(), 1, "one run: {hist}");
    assert!(users[0].contains(spoken), "{users:?}");

    // A share from the phone: its own session, answered to operators (the node does not
    // follow that session).
    let out = node_event(&node, "agent.request", json!({"message": "/help"})).await;
    assert_eq!(out["handled"], true, "{out}");
    let own = format!("agent:main:node-{}", node.node_id);
    assert_eq!(out["sessionKey"], own.as_str(), "{out}");
    let run = out["runId"].as_str().expect("runId").to_owned();
    let fin = op_final(&mut op, &run).await;
    assert_eq!(fin["sessionKey"], own.as_str(), "{fin}");
    // The viewer follows the main session only: after its unsubscribe answer, none of
    // this run's messages reached it.
    let res = viewer
        .request("sessions.messages.unsubscribe", json!({"key": "main"}))
        .await;
    assert_eq!(res["payload"]["subscribed"], false, "{res}");
    let seen: Vec<&Value> = viewer
        .backlog
        .iter()
        .filter(|e| e["event"] == "session.message")
        .collect();
    assert!(
        seen.iter()
            .all(|e| e["payload"]["sessionKey"] == "agent:main:main"),
        "{seen:?}"
    );

    // Ignored, with the reason: empty, too long (20 000 UTF-16 units; an emoji is two),
    // not an object, attachments not a list, no session to follow.
    let long = "😀".repeat(10_001);
    for (event, payload, reason) in [
        ("voice.transcript", json!({"text": " \n\t"}), "empty"),
        ("voice.transcript", json!({"text": long}), "too_long"),
        ("voice.transcript", json!("text"), "invalid_payload"),
        ("agent.request", json!({"message": ""}), "empty"),
        (
            "agent.request",
            json!({"message": "x", "attachments": "no"}),
            "invalid_attachments",
        ),
        (
            "chat.subscribe",
            json!({"sessionKey": "  "}),
            "missing_session_key",
        ),
        ("it.unknown", json!({}), "unhandled"),
    ] {
        let out = node_event(&node, event, payload).await;
        assert_eq!(out["handled"], false, "{event}: {out}");
        assert_eq!(out["reason"], reason, "{event}: {out}");
    }
    // A payload that is not JSON at all.
    let res = node
        .request(
            "node.event",
            json!({"event": "voice.transcript", "payloadJSON": "{not json"}),
        )
        .await;
    assert_eq!(res["payload"]["reason"], "invalid_payload", "{res}");

    // A session of an agent that does not exist is refused.
    let res = node
        .request(
            "node.event",
            json!({"event": "agent.request", "payloadJSON": json!({"message": "hi", "sessionKey": "agent:ghost:main"}).to_string()}),
        )
        .await;
    assert_eq!(error_of(&res)["code"], "INVALID_REQUEST", "{res}");

    // Unfollowing stops the pushes: the next transcript's answer reaches operators only.
    let out = node_event(
        &node,
        "chat.unsubscribe",
        json!({"sessionKey": "agent:main:main"}),
    )
    .await;
    assert_eq!(out["handled"], true, "{out}");
    let out = node_event(&node, "voice.transcript", json!({"text": "again"})).await;
    let run = out["runId"].as_str().expect("runId").to_owned();
    op_final(&mut op, &run).await;
    // The node answers a request of its own after the run ended: had the gateway pushed
    // the run's events to it, they would be in its inbox before this answer.
    let _ = node
        .request("node.event", json!({"event": "it.ping"}))
        .await;
    let leftover = node.drain();
    assert!(
        leftover
            .iter()
            .all(|e| e["payload"]["runId"] != run.as_str()),
        "unfollowed session's events reached the node: {leftover:?}"
    );

    // An operator removes the node: it is refused again, and what it followed is dropped.
    let out = node_event(&node, "chat.subscribe", json!({"sessionKey": "main"})).await;
    assert_eq!(out["handled"], true, "{out}");
    let res = admin
        .request("node.pair.remove", json!({"nodeId": node.node_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let res = node
        .request(
            "node.event",
            json!({"event": "agent.request", "payloadJSON": json!({"message": "still here?"}).to_string()}),
        )
        .await;
    assert_eq!(error_of(&res)["code"], "NOT_PAIRED", "{res}");
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "after removal", "idempotencyKey": "op-after"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    op_final(&mut op, "op-after").await;
    let _ = node
        .request("node.event", json!({"event": "it.ping"}))
        .await;
    let leftover = node.drain();
    assert!(
        leftover.iter().all(|e| e["payload"]["runId"] != "op-after"),
        "a removed node still follows the session: {leftover:?}"
    );
}

fn text_of_message(m: &Value) -> String {
    match &m["content"] {
        Value::String(s) => s.clone(),
        c => c
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .collect(),
    }
}

/// A node's own request runs under the node tool policy of `node:<nodeId>` (as a chat
/// sender's does for `<channel>:<id>`): the owner denied this phone `system.which`, which
/// operators may call. A share delivered to Telegram goes only to a chat that wrote to the
/// bot: with a receipt first, then the answer; a stranger's chat is refused.
#[actix_web::test]
async fn a_nodes_requests_follow_its_own_policy_and_reach_only_known_chats() {
    let tg = FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let phone_key = random_key();
    let phone_id = phone_key.device_id();
    let mut cfg: Value = serde_json::from_str(&config(&tg, None, json!({}))).expect("config JSON");
    cfg["agents"]["defaults"]["tools"]["nodes"]["senders"] =
        json!({format!("node:{phone_id}"): {"denyCommands": ["system.which"]}});
    let gw = start_gateway(&cfg.to_string());
    let mut op = operator(&gw, ALL_OPERATOR).await;
    let worker = crate::telegram_flow::approved_node(&gw, &mut op).await;
    let mut phone =
        FakeNode::connect(gw.port, &phone_key, GW_TOKEN, &[], always(Action::Echo)).await;
    approve_surface(&mut op, &phone.node_id).await;
    node_event(&phone, "chat.subscribe", json!({"sessionKey": "main"})).await;

    let ask = format!("/which {} ls", worker.node_id);
    let out = node_event(&phone, "voice.transcript", json!({"text": ask})).await;
    let run = out["runId"].as_str().expect("runId").to_owned();
    let fin = node_final(&mut phone, &run).await;
    let said = text_of(&fin);
    assert!(
        said.contains("system.which") && said.contains(&format!("node:{phone_id}")),
        "the phone's request is refused by its own rule: {said}"
    );
    assert!(
        worker.commands_seen().is_empty(),
        "{:?}",
        worker.commands_seen()
    );
    // An operator's same request runs.
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": ask, "idempotencyKey": "op-which"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    poll_until(WAIT, "the operator's system.which", || {
        (!worker.commands_seen().is_empty()).then_some(())
    })
    .await;

    // A stranger's chat: refused, nothing sent.
    let res = phone
        .request(
            "node.event",
            json!({"event": "agent.request", "payloadJSON": json!({
                "message": "/help", "deliver": true, "channel": "telegram", "to": "999",
                "receipt": true,
            }).to_string()}),
        )
        .await;
    let err = error_of(&res);
    assert_eq!(err["code"], "INVALID_REQUEST", "{res}");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or("")
            .contains("not a chat this gateway talks with"),
        "{res}"
    );

    // The owner's DM (it wrote to the bot): receipt, then the answer.
    let first = dm(&tg, 4242, "hello there");
    wait_reply(&tg, first, crate::telegram_flow::SLOW).await;
    let before = tg.sent().len();
    let out = node_event(
        &phone,
        "agent.request",
        json!({"message": "/help", "deliver": true, "channel": "telegram", "to": "4242",
            "receipt": true, "receiptText": "Got it 📎"}),
    )
    .await;
    assert_eq!(out["handled"], true, "{out}");
    let sent = poll_until(
        crate::telegram_flow::SLOW,
        "the receipt and the answer",
        || {
            let sent = tg.sent();
            let new: Vec<_> = sent[before..].to_vec();
            (new.len() >= 2).then_some(new)
        },
    )
    .await;
    assert!(sent.iter().all(|m| m.chat_id() == Some(4242)), "{sent:?}");
    assert_eq!(
        sent[0].text(),
        "Got it 📎",
        "the receipt goes first: {sent:?}"
    );
    assert!(
        sent[1].text().contains("/which"),
        "the answer (help): {sent:?}"
    );
}

/// The wake words: defaults, set (normalized) by a writer, broadcast to readers and pushed
/// to nodes (also as a snapshot at connect), saved across a restart; a reader cannot set
/// them; bad params are refused. The routing file is read, normalized, and given to nodes.
/// `talk.config` and `gateway.identity.get` answer.
#[actix_web::test]
async fn wake_words_are_saved_broadcast_and_pushed_to_nodes() {
    let tg = FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let mut writer = operator(&gw, &["operator.read", "operator.write"]).await;
    let mut reader = operator(&gw, &["operator.read"]).await;
    let mut node =
        FakeNode::connect(gw.port, &random_key(), GW_TOKEN, &[], always(Action::Echo)).await;
    let snap = node.event_within("voicewake.changed", WAIT).await;
    assert_eq!(
        snap["payload"]["triggers"],
        json!(["openclaw", "claude", "computer"])
    );
    let snap = node.event_within("voicewake.routing.changed", WAIT).await;
    assert_eq!(
        snap["payload"]["config"],
        json!({"version": 1, "defaultTarget": {"mode": "current"}, "routes": [], "updatedAtMs": 0})
    );

    let res = reader.request("voicewake.get", json!({})).await;
    assert_eq!(
        res["payload"]["triggers"],
        json!(["openclaw", "claude", "computer"]),
        "{res}"
    );

    let emoji = "😀".repeat(40);
    let res = writer
        .request(
            "voicewake.set",
            json!({"triggers": ["  Hey Claw ", "", 7, emoji, "\u{FEFF}jarvis"]}),
        )
        .await;
    let want = json!(["Hey Claw", "😀".repeat(32), "jarvis"]);
    assert_eq!(res["payload"]["triggers"], want, "{res}");
    let ev = reader.event_within("voicewake.changed", WAIT).await;
    assert_eq!(ev["payload"]["triggers"], want);
    let ev = node.event_within("voicewake.changed", WAIT).await;
    assert_eq!(ev["payload"]["triggers"], want);

    // A reader may not set them; a missing or wrong list is refused.
    let res = reader
        .request("voicewake.set", json!({"triggers": ["x"]}))
        .await;
    assert!(
        error_of(&res)["message"]
            .as_str()
            .unwrap_or("")
            .contains("operator.write"),
        "{res}"
    );
    for bad in [json!({}), json!({"triggers": "hey"}), json!(null)] {
        let res = writer.request("voicewake.set", bad.clone()).await;
        assert_eq!(
            error_of(&res)["message"],
            "voicewake.set requires triggers: string[]",
            "{bad}: {res}"
        );
    }
    let res = reader.request("voicewake.get", json!({"x": 1})).await;
    assert_eq!(error_of(&res)["code"], "INVALID_REQUEST", "{res}");
    // An empty list gives the defaults back.
    let res = writer
        .request("voicewake.set", json!({"triggers": [" "]}))
        .await;
    assert_eq!(
        res["payload"]["triggers"],
        json!(["openclaw", "claude", "computer"]),
        "{res}"
    );
    let res = writer
        .request("voicewake.set", json!({"triggers": want}))
        .await;
    assert_eq!(res["ok"], true, "{res}");

    // talk.config: nothing configured; never the secrets.
    let res = reader.request("talk.config", json!({})).await;
    assert_eq!(res["payload"], json!({"config": {}}), "{res}");
    let res = reader
        .request("talk.config", json!({"includeSecrets": true}))
        .await;
    assert_eq!(error_of(&res)["code"], "INVALID_REQUEST", "{res}");

    // gateway.identity.get: the host's device identity, stable.
    let res = reader.request("gateway.identity.get", json!({})).await;
    let id = res["payload"].clone();
    let device_id = id["deviceId"].as_str().expect("deviceId").to_owned();
    let key = openclaw_actors::identity::normalize_public_key(
        id["publicKey"].as_str().expect("publicKey"),
    )
    .expect("a raw Ed25519 key");
    assert_eq!(
        openclaw_actors::identity::device_id(&key),
        device_id,
        "{id}"
    );

    // Saved: a restart keeps them. The routing file, edited by hand, is read and normalized.
    drop(node);
    std::fs::write(
        gw.dir.path().join("settings/voicewake-routing.json"),
        json!({"version": 1, "defaultTarget": {"agentId": "Main"}, "routes": [
            {"trigger": "Robot, WAKE!", "target": {"sessionKey": "agent:main:robot"}},
            {"trigger": "bad", "target": {"agentId": "a", "sessionKey": "b"}},
            {"trigger": "ghost", "target": {"agentId": "ghost"}},
        ], "updatedAtMs": 7})
        .to_string(),
    )
    .expect("write the routing file");
    let gw = restart(gw);
    let mut reader = operator(&gw, &["operator.read"]).await;
    let res = reader.request("voicewake.get", json!(null)).await;
    assert_eq!(res["payload"]["triggers"], want, "{res}");
    let routing = json!({"version": 1, "defaultTarget": {"agentId": "main"}, "routes": [
        {"trigger": "robot wake", "target": {"sessionKey": "agent:main:robot"}},
        {"trigger": "ghost", "target": {"agentId": "ghost"}},
    ], "updatedAtMs": 7});
    let res = reader.request("voicewake.routing.get", json!({})).await;
    assert_eq!(res["payload"]["config"], routing, "{res}");
    let mut node =
        FakeNode::connect(gw.port, &random_key(), GW_TOKEN, &[], always(Action::Echo)).await;
    let snap = node.event_within("voicewake.changed", WAIT).await;
    assert_eq!(snap["payload"]["triggers"], want);
    let snap = node.event_within("voicewake.routing.changed", WAIT).await;
    assert_eq!(snap["payload"]["config"], routing);
    let res = reader.request("gateway.identity.get", json!({})).await;
    assert_eq!(res["payload"]["deviceId"], device_id.as_str(), "{res}");

    // `agent {voiceWakeTrigger}` (the desktop app's voice wake): the route picks the
    // session, the default route the rest; an explicit session other than a main one wins;
    // a route to an agent that does not exist is ignored.
    let mut writer = operator(&gw, &["operator.read", "operator.write"]).await;
    for (id, extra, want) in [
        (
            "vw1",
            json!({"voiceWakeTrigger": "robot wake"}),
            "agent:main:robot",
        ),
        (
            "vw2",
            json!({"voiceWakeTrigger": "something else"}),
            "agent:main:main",
        ),
        (
            "vw3",
            json!({"voiceWakeTrigger": "Robot, wake!", "sessionKey": "agent:main:work"}),
            "agent:main:work",
        ),
        (
            "vw4",
            json!({"voiceWakeTrigger": "Robot, wake!", "sessionKey": "main"}),
            "agent:main:robot",
        ),
        (
            "vw5",
            json!({"voiceWakeTrigger": "ghost"}),
            "agent:main:main",
        ),
        (
            "vw6",
            json!({"sessionKey": "agent:main:plain"}),
            "agent:main:plain",
        ),
    ] {
        let mut params = json!({"message": "/help", "idempotencyKey": id});
        for (k, v) in extra.as_object().expect("object") {
            params[k] = v.clone();
        }
        let res = writer.request("agent", params).await;
        assert_eq!(res["payload"]["sessionKey"], want, "{id}: {res}");
    }

    // A broken wake words file never stops the gateway: the defaults, with a warning.
    std::fs::write(gw.dir.path().join("settings/voicewake.json"), "{broken").expect("write");
    let gw = restart(gw);
    let mut reader = operator(&gw, &["operator.read"]).await;
    let res = reader.request("voicewake.get", json!({})).await;
    assert_eq!(
        res["payload"]["triggers"],
        json!(["openclaw", "claude", "computer"]),
        "{res}"
    );
    poll_until(WAIT, "the warning naming the file", || {
        (gw.stderr() + &gw.stdout())
            .contains("voicewake.json")
            .then_some(())
    })
    .await;
}

/// A node's burst (timing a stranger to the session controls as much as a node does): while
/// one transcript's run waits on a slow model, 100 more wait in the session's queue and
/// the rest are refused `UNAVAILABLE` with a retry hint, nothing dropped silently; an
/// abort clears the queue and the next transcript is taken again.
#[actix_web::test]
async fn a_burst_of_transcripts_is_queued_up_to_the_bound_and_the_rest_refused() {
    use crate::support::fake_openai::{FakeOpenAi, FakeReply};
    let tg = FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.push(FakeReply::text("slow").delayed(Duration::from_secs(60)));
    ai.set_default_text("quick");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let mut admin = operator(&gw, ALL_OPERATOR).await;
    let node = FakeNode::connect(gw.port, &random_key(), GW_TOKEN, &[], always(Action::Echo)).await;
    approve_surface(&mut admin, &node.node_id).await;

    let (mut accepted, mut refused) = (0, 0);
    for i in 0..110 {
        let res = node
            .request(
                "node.event",
                json!({"event": "voice.transcript",
                    "payloadJSON": json!({"text": format!("burst {i} ✨"), "eventId": format!("b{i}")}).to_string()}),
            )
            .await;
        if res["ok"] == true {
            assert_eq!(res["payload"]["handled"], true, "{res}");
            accepted += 1;
        } else {
            let err = error_of(&res);
            assert_eq!(err["code"], "UNAVAILABLE", "{res}");
            assert_eq!(err["retryable"], true, "{res}");
            assert!(
                err["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0),
                "{res}"
            );
            refused += 1;
        }
        if i == 0 {
            ai.wait_requests(1, Duration::from_secs(10));
        }
    }
    assert_eq!(
        (accepted, refused),
        (101, 9),
        "one running, 100 queued, the rest refused"
    );

    let res = admin
        .request("chat.abort", json!({"sessionKey": "agent:main:main"}))
        .await;
    assert_eq!(res["payload"]["aborted"], true, "{res}");
    assert_eq!(
        res["payload"]["runIds"].as_array().map(Vec::len),
        Some(101),
        "{res}"
    );
    let out = node_event(
        &node,
        "voice.transcript",
        json!({"text": "after the abort"}),
    )
    .await;
    assert_eq!(out["handled"], true, "{out}");
    let health = admin.request("health", json!({})).await;
    assert_eq!(health["ok"], true, "{health}");
}
