//! Which session a Telegram DM joins (`session.dmScope`, `session.identityLinks`), against
//! the real binary with the fake Bot API and the fake model: with `main`, the owner's
//! Telegram chat and WebChat are one conversation (the model sees both), while a stranger
//! admitted by an open DM policy keeps a session of its own and never sees the owner's
//! words; `per-peer` with identity links joins one person's two accounts; the scopes
//! apply on a hot reload; `openclaw doctor` warns when several senders would share main.

use std::time::Duration;

use serde_json::{Value, json};

use crate::agent_rpc::chat_turn;
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{CliHome, WsClient, cli_params, replace_file};
use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, dm, start_gateway, wait_reply};

const OWNER: i64 = 5501;
const STRANGER: i64 = 5599;

fn with_session(tg: &FakeTelegram, ai: &FakeOpenAi, session: Value) -> String {
    let mut c: Value = serde_json::from_str(&config(
        tg,
        Some(ai),
        json!({"dmPolicy": "open", "allowFrom": ["*", OWNER.to_string()]}),
    ))
    .expect("flow config");
    c["session"] = session;
    c.to_string()
}

/// The texts of every message the model was sent in request `i`.
fn prompt_text(ai: &FakeOpenAi, i: usize) -> String {
    ai.recorded()
        .get(i)
        .map(|r| r.body["messages"].to_string())
        .unwrap_or_default()
}

async fn keys(op: &mut WsClient) -> Vec<String> {
    let list = op.request("sessions.list", json!({})).await;
    let mut v: Vec<String> = list["payload"]["sessions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[actix_web::test]
async fn dm_scope_main_joins_the_owners_telegram_chat_and_webchat_but_never_a_stranger() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&with_session(&tg, &ai, json!({"dmScope": "main"})));
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params(
            GW_TOKEN,
            &["operator.read", "operator.write", "operator.admin"],
        ),
    )
    .await;

    // The owner on Telegram…
    ai.push_text("Noted.");
    let first = dm(&tg, OWNER, "my locker code is 4711");
    wait_reply(&tg, first, Duration::from_secs(10)).await;
    // …then on WebChat, in the main session: the model sees the Telegram exchange.
    ai.push_text("It is 4711.");
    let fin = chat_turn(
        &mut op,
        "scope-webchat-1",
        json!({"sessionKey": "main", "message": "what is my locker code?"}),
    )
    .await;
    assert_eq!(fin["sessionKey"], "agent:main:main", "{fin}");
    let webchat_prompt = prompt_text(&ai, 1);
    assert!(
        webchat_prompt.contains("my locker code is 4711") && webchat_prompt.contains("Noted."),
        "the WebChat turn sees the Telegram turn: {webchat_prompt}"
    );
    assert_eq!(tg.sent().len(), 1, "the WebChat answer stays in WebChat");
    // And back on Telegram, the model sees the WebChat turn.
    ai.push_text("Yes.");
    let second = dm(&tg, OWNER, "did I ask you that on the web?");
    let reply = wait_reply(&tg, second, Duration::from_secs(10)).await;
    assert_eq!(reply.chat_id(), Some(OWNER));
    assert!(
        prompt_text(&ai, 2).contains("what is my locker code?"),
        "{}",
        prompt_text(&ai, 2)
    );

    // A stranger admitted only by "*": a session of its own, without the owner's words.
    ai.push_text("Hello stranger.");
    let theirs = dm(&tg, STRANGER, "hi, what do you know?");
    wait_reply(&tg, theirs, Duration::from_secs(10)).await;
    let stranger_prompt = prompt_text(&ai, 3);
    assert!(
        stranger_prompt.contains("hi, what do you know?"),
        "{stranger_prompt}"
    );
    assert!(
        !stranger_prompt.contains("4711") && !stranger_prompt.contains("locker"),
        "the owner's conversation leaked to a stranger: {stranger_prompt}"
    );
    assert_eq!(
        keys(&mut op).await,
        [
            "agent:main:main",
            &format!("agent:main:telegram:direct:{STRANGER}")
        ],
    );

    // per-peer with an identity link (hot): the owner's two accounts share one session.
    let mut c: Value = serde_json::from_str(&with_session(
        &tg,
        &ai,
        json!({"dmScope": "per-peer",
            "identityLinks": {"owner": [format!("telegram:{OWNER}"), "telegram:5502"]}}),
    ))
    .expect("cfg");
    c["channels"]["telegram"]["allowFrom"] = json!(["*", OWNER.to_string(), "5502"]);
    replace_file(&gw.config_path(), &c.to_string());
    gw.wait_stderr_line(
        &[
            "config reloaded from",
            "channels.telegram.allowFrom",
            "session.dmScope",
        ],
        Duration::from_secs(10),
    );
    ai.push_text("A.");
    let a = dm(&tg, OWNER, "from my phone");
    wait_reply(&tg, a, Duration::from_secs(10)).await;
    ai.push_text("B.");
    let b = dm(&tg, 5502, "from my tablet");
    wait_reply(&tg, b, Duration::from_secs(10)).await;
    assert!(
        prompt_text(&ai, 5).contains("from my phone"),
        "{}",
        prompt_text(&ai, 5)
    );
    let k = keys(&mut op).await;
    assert!(k.contains(&"agent:main:direct:owner".to_owned()), "{k:?}");

    // doctor: several senders sharing main is a warning with the fix.
    let home = CliHome::with_config(
        &json!({"session": {"dmScope": "main"}, "channels": {"telegram": {
            "botToken": "1:x", "dmPolicy": "allowlist", "allowFrom": ["5501", "5502"]}}})
        .to_string(),
    );
    let out = home.run(&["doctor", "--no-probe", "--json"], &[]);
    let v = out.json();
    let warned = v["findings"].as_array().is_some_and(|f| {
        f.iter().any(|x| {
            x["severity"] == "warn"
                && x["message"].as_str().is_some_and(|m| {
                    m.contains("session.dmScope is \"main\": 2 allowed DM senders")
                })
                && x["fix"]
                    .as_str()
                    .is_some_and(|m| m.contains("per-channel-peer"))
        })
    });
    assert!(warned, "{out}");
}

/// `session.reset`: an `idle` policy for Telegram (`resetByChannel`) and a `daily` one for
/// the rest (an operator's WebChat). The index on disk is aged while the gateway is stopped (a person's
/// last message two hours ago; a main session begun two days ago); after the restart, those
/// sessions start over at their next message (the model no longer sees what was said),
/// while a chat spoken to recently keeps its context.
#[actix_web::test]
async fn session_reset_idle_and_daily_start_expired_sessions_over() {
    use crate::support::TestGateway;
    use crate::telegram_flow::GW_ARGS;
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = with_session(
        &tg,
        &ai,
        json!({"reset": {"mode": "daily", "atHour": 4},
            "resetByChannel": {"telegram": {"mode": "idle", "idleMinutes": 60}}}),
    );
    let mut gw = start_gateway(&cfg);
    let rw = ["operator.read", "operator.write", "operator.admin"];
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &rw)).await;
    for (who, fact) in [(OWNER, "A-old-fact"), (STRANGER, "B-old-fact")] {
        ai.push_text("Noted.");
        let id = dm(&tg, who, &format!("remember {fact}"));
        wait_reply(&tg, id, Duration::from_secs(10)).await;
    }
    ai.push_text("Noted.");
    chat_turn(
        &mut op,
        "reset-main-1",
        json!({"sessionKey": "main", "message": "remember main-old-fact"}),
    )
    .await;
    let ids_before: Value = op.request("sessions.list", json!({})).await;
    let id_of = |list: &Value, key: &str| {
        list["payload"]["sessions"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["key"] == key))
            .map(|s| s["sessionId"].clone())
            .unwrap_or(Value::Null)
    };
    drop(op);
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", gw.stderr());
    let dir = gw.take_dir();
    let index = dir.path().join("agents/main/sessions/sessions.json");
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&index).expect("index")).expect("json");
    let now = crate::support::now_ms();
    let owner_key = format!("agent:main:telegram:direct:{OWNER}");
    v[&owner_key]["lastInteractionAt"] = json!(now - 2 * 3_600_000);
    v[&owner_key]["updatedAt"] = json!(now - 2 * 3_600_000);
    v["agent:main:main"]["createdAt"] = json!(now - 2 * 86_400_000);
    std::fs::write(&index, v.to_string()).expect("aged index");

    let gw = TestGateway::start_in(dir, GW_ARGS, &[], None);
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &rw)).await;
    let before = ai.recorded().len();
    ai.push_text("Hm?");
    let a = dm(&tg, OWNER, "what should you remember?");
    wait_reply(&tg, a, Duration::from_secs(10)).await;
    let owner_prompt = prompt_text(&ai, before);
    assert!(
        owner_prompt.contains("what should you remember?") && !owner_prompt.contains("A-old-fact"),
        "an idle chat starts over: {owner_prompt}"
    );
    ai.push_text("B-old-fact.");
    let b = dm(&tg, STRANGER, "what should you remember?");
    wait_reply(&tg, b, Duration::from_secs(10)).await;
    assert!(
        prompt_text(&ai, before + 1).contains("B-old-fact"),
        "a chat spoken to recently keeps its context: {}",
        prompt_text(&ai, before + 1)
    );
    ai.push_text("Hm?");
    chat_turn(
        &mut op,
        "reset-main-2",
        json!({"sessionKey": "main", "message": "what should you remember?"}),
    )
    .await;
    let main_prompt = prompt_text(&ai, before + 2);
    assert!(
        !main_prompt.contains("main-old-fact"),
        "a main session begun before today's 04:00 starts over: {main_prompt}"
    );
    let after = op.request("sessions.list", json!({})).await;
    assert_ne!(
        id_of(&after, &owner_key),
        id_of(&ids_before, &owner_key),
        "{after}"
    );
    assert_ne!(
        id_of(&after, "agent:main:main"),
        id_of(&ids_before, "agent:main:main")
    );
    let stranger_key = format!("agent:main:telegram:direct:{STRANGER}");
    assert_eq!(
        id_of(&after, &stranger_key),
        id_of(&ids_before, &stranger_key)
    );
}

/// DM sessions are keyed as OpenClaw keys them (`agent:main:telegram:direct:<user>`). A
/// state directory from before (this gateway wrote `…:dm:<user>`) goes on: after a restart
/// the same chat continues the same session (the model sees the earlier turn), the
/// earlier key still finds it, and the index is written back in the current form.
#[actix_web::test]
async fn dm_sessions_saved_under_the_earlier_key_form_go_on() {
    use crate::support::TestGateway;
    use crate::telegram_flow::{GW_ARGS, poll_until};

    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("noted");
    let cfg = config(&tg, Some(&ai), json!({}));
    let mut gw = start_gateway(&cfg);
    let m = dm(&tg, 7301, "my locker code is 4512");
    wait_reply(&tg, m, Duration::from_secs(15)).await;
    let index = gw.dir.path().join("agents/main/sessions/sessions.json");
    let key = "agent:main:telegram:direct:7301";
    let first: Value = poll_until(Duration::from_secs(15), "the index written", || {
        let v: Value = serde_json::from_slice(&std::fs::read(&index).ok()?).ok()?;
        v.get(key).is_some().then_some(v)
    })
    .await;
    let session_id = first[key]["sessionId"].clone();
    assert!(session_id.is_string(), "{first}");
    gw.sigterm();
    assert!(gw.wait_exit(Duration::from_secs(15)).success());
    // What the earlier version left on disk.
    let old = std::fs::read_to_string(&index)
        .expect("the index")
        .replace(":direct:7301", ":dm:7301");
    assert!(old.contains("agent:main:telegram:dm:7301"));
    replace_file(&index, &old);

    let dir = gw.take_dir();
    drop(gw);
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&cfg));
    let before = ai.request_count();
    let m = dm(&tg, 7301, "what is my locker code?");
    wait_reply(&tg, m, Duration::from_secs(15)).await;
    let reqs = ai.wait_requests(before + 1, Duration::from_secs(15));
    let prompt = reqs
        .last()
        .map(|r| r["messages"].to_string())
        .unwrap_or_default();
    assert!(
        prompt.contains("my locker code is 4512"),
        "the earlier turn is there: {prompt}"
    );

    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    for k in [key, "agent:main:telegram:dm:7301", "telegram:dm:7301"] {
        let res = op.request("sessions.describe", json!({"key": k})).await;
        assert_eq!(res["payload"]["session"]["key"], key, "{k}: {res}");
        assert_eq!(
            res["payload"]["session"]["sessionId"], session_id,
            "{k}: {res}"
        );
    }
    let all = keys(&mut op).await;
    assert_eq!(
        all.iter().filter(|k| k.contains(":7301")).count(),
        1,
        "{all:?}"
    );
    // Written back in the current form.
    poll_until(Duration::from_secs(15), "the index rewritten", || {
        let text =
            std::fs::read_to_string(gw.dir.path().join("agents/main/sessions/sessions.json"))
                .ok()?;
        (text.contains(key) && !text.contains(":dm:7301")).then_some(())
    })
    .await;
}
