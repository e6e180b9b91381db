//! The Telegram → agent → node → reply flow against the real gateway binary: a fake Bot API
//! ([`FakeTelegram`]) and a fake model ([`FakeOpenAi`]) reached only through the configured
//! `apiRoot` / `baseUrl`, a signed fake node (or our own `openclaw node run`), restarts and
//! SIGKILLs on the same state directory (also inside both crash windows of at-least-once),
//! Bot API outages and refusals (429/401/409/403), model failures, DM and group policies,
//! non-ASCII group mentions, splitting at 4096 UTF-16 units, the backlog caps, unreadable
//! channel state and webhook mode. Waits are on conditions (the fake's calls and offsets,
//! `channels.status`, the state file), never on elapsed time.
//!
//! The helpers at the top are shared with `agent_rpc.rs`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::nodes::{ALL_OPERATOR, approve_surface};
use crate::support::fake_node::{Action, FakeNode, always, random_key};
use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::{FakeTelegram, SentMessage};
use crate::support::{Background, CliHome, TestGateway, WsClient, cli_params};

/// The bot token the fake Bot API accepts.
pub const TG_TOKEN: &str = "777002:AAH-flow_TOKEN_secret";
/// The gateway's shared token.
pub const GW_TOKEN: &str = "T";
/// `openclaw gateway run` arguments.
pub const GW_ARGS: &[&str] = &["gateway", "run", "--port", "0", "--token", GW_TOKEN];
/// The fake node's display name (see `node_connect_params`).
pub const NODE_NAME: &str = "it-fake-node";

/// Node commands `config` lets chats invoke.
pub const FLOW_COMMANDS: &[&str] = &["echo.test", "system.which", "system.run"];

/// Bound for a reply that involves model retries or Bot API backoff.
pub const SLOW: Duration = Duration::from_secs(15);

/// `cfg` with `messages.queue` set to `queue`: the tests of one run (and one reply) per
/// message say `{"mode": "followup"}`, as by default a message sent while its chat's run is
/// going steers into that run (see `queue.rs`).
pub fn with_queue(cfg: &str, queue: Value) -> String {
    let mut cfg: Value = serde_json::from_str(cfg).expect("config is JSON");
    cfg["messages"]["queue"] = queue;
    cfg.to_string()
}

/// A gateway config: the Telegram account talks to `tg` (dmPolicy open with `"*"`, 1 s long
/// polls), overridden key by key by `telegram` (a `null` value removes the key); with `ai`,
/// the model `fake/flow-model` served by it, otherwise the embedded command agent.
pub fn config(tg: &FakeTelegram, ai: Option<&FakeOpenAi>, telegram: Value) -> String {
    let mut t = json!({
        "enabled": true,
        "botToken": tg.token(),
        "apiRoot": tg.api_root(),
        "pollTimeoutSeconds": 1,
        "dmPolicy": "open",
        "allowFrom": ["*"],
        // These flows count the messages sent: no progress drafts among them (the drafts'
        // own tests, in progress_drafts.rs, pass `"streaming": null` for the default).
        "streaming": {"mode": "off"},
        // They find each answer by the message it quotes (the default, `off`, quotes
        // none: see `reply_to_mode_*` below).
        "replyToMode": "first",
    });
    let obj = t.as_object_mut().expect("telegram config is an object");
    for (k, v) in telegram.as_object().cloned().unwrap_or_default() {
        if v.is_null() {
            obj.remove(&k);
        } else {
            obj.insert(k, v);
        }
    }
    let mut cfg = json!({"channels": {"telegram": t}});
    if let Some(ai) = ai {
        cfg["models"] = json!({"providers": {"fake": {
            "baseUrl": ai.base_url(),
            "apiKey": "sk-flow",
            "api": "openai-completions",
            "models": [{"id": "flow-model"}],
        }}});
        cfg["agents"] = json!({"defaults": {"model": {"primary": "fake/flow-model"}}});
    }
    // These flows send bursts and expect one answer per message: no burst batching (its
    // own tests, in batching.rs, take the default).
    cfg["messages"] = json!({"inbound": {"byChannel": {"telegram": 0}}});
    // These flows invoke echo.test and system.run from chats: the owner allows them (the
    // default agent tool policy allows only read-only commands; see tool_policy.rs).
    cfg["agents"]["defaults"]["tools"] = json!({"nodes": {"allowCommands": FLOW_COMMANDS}});
    serde_json::to_string_pretty(&cfg).expect("config serializes")
}

/// Starts `openclaw gateway run --port 0 --token T` with `cfg` as its config file.
pub fn start_gateway(cfg: &str) -> TestGateway {
    TestGateway::start(GW_ARGS, &[], Some(cfg))
}

/// Restarts on the same state directory (and config) after the old process is gone.
pub fn restart(mut gw: TestGateway) -> TestGateway {
    let dir = gw.take_dir();
    // Dropping kills (SIGKILL) the process if it still runs.
    drop(gw);
    TestGateway::start_in(dir, GW_ARGS, &[], None)
}

/// Pushes a private-chat text from `user` (chat id = user id); returns the message id.
pub fn dm(tg: &FakeTelegram, user: i64, text: &str) -> i64 {
    let msg = tg.message(user, user, text);
    let id = msg.message_id;
    tg.push_message(msg);
    id
}

/// Re-checks `f` every 20 ms until it returns `Some`, at most `limit`.
pub async fn poll_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every `sendMessage` whose first chunk replies to `message_id`.
pub fn replies_to(tg: &FakeTelegram, message_id: i64) -> Vec<SentMessage> {
    tg.sent()
        .into_iter()
        .filter(|s| s.reply_to() == Some(message_id))
        .collect()
}

/// Waits for the (first) reply to `message_id`.
pub async fn wait_reply(tg: &FakeTelegram, message_id: i64, limit: Duration) -> SentMessage {
    poll_until(limit, &format!("a reply to message {message_id}"), || {
        replies_to(tg, message_id).into_iter().next()
    })
    .await
    .clone()
}

/// The `default` Telegram account in `channels.status`.
pub async fn channel_status(gw: &TestGateway) -> Value {
    let status = admin(gw).await.request("channels.status", json!({})).await;
    assert_eq!(status["ok"], true, "{status}");
    status["payload"]["channels"]["telegram"]["accounts"]["default"].clone()
}

/// Polls `channels.status` until `f` accepts the default account; returns it.
pub async fn wait_status(
    gw: &TestGateway,
    limit: Duration,
    what: &str,
    mut f: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    let mut op = admin(gw).await;
    loop {
        let status = op.request("channels.status", json!({})).await;
        let acc = status["payload"]["channels"]["telegram"]["accounts"]["default"].clone();
        if f(&acc) {
            return acc;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}; last status: {acc}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the account's state file until `f` accepts its contents (the pending list, offset
/// … as written to disk); returns them.
pub async fn wait_state_file(
    gw: &TestGateway,
    what: &str,
    mut f: impl FnMut(&Value) -> bool,
) -> Value {
    let path = gw.dir.path().join("channels/telegram/default.json");
    poll_until(SLOW, &format!("{} to show {what}", path.display()), || {
        let v: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        f(&v).then_some(v)
    })
    .await
}

/// Waits until every pushed update is confirmed at Telegram and no accepted message waits
/// for its reply: a reply is sent before its message leaves the pending list, so nothing
/// more will be sent for these messages.
pub async fn all_answered(gw: &TestGateway, tg: &FakeTelegram) {
    wait_status(gw, SLOW, "every update confirmed and answered", |acc| {
        acc["pendingInbound"] == 0 && tg.pending_updates() == 0
    })
    .await;
}

/// An operator with every scope.
pub async fn admin(gw: &TestGateway) -> WsClient {
    WsClient::hello(gw.port, cli_params(GW_TOKEN, ALL_OPERATOR))
        .await
        .0
}

/// Connects the fake node (echo) and approves its surface.
pub async fn approved_node(gw: &TestGateway, op: &mut WsClient) -> FakeNode {
    let node = FakeNode::connect(
        gw.port,
        &random_key(),
        GW_TOKEN,
        &["echo.test", "system.which"],
        always(Action::Echo),
    )
    .await;
    approve_surface(op, &node.node_id).await;
    node
}

/// `health` over a fresh operator connection; asserts `ok`.
pub async fn assert_healthy(gw: &TestGateway) -> Value {
    let mut op = admin(gw).await;
    let res = op.request("health", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["ok"], true, "{res}");
    res["payload"].clone()
}

/// The `tool` message with `tool_call_id` in a recorded model request, its content parsed.
pub fn tool_result(request: &Value, call_id: &str) -> Value {
    let msgs = request["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("model request has messages: {request}"));
    let m = msgs
        .iter()
        .find(|m| m["role"] == "tool" && m["tool_call_id"] == call_id)
        .unwrap_or_else(|| panic!("no tool message for {call_id} in {request}"));
    let content = m["content"]
        .as_str()
        .unwrap_or_else(|| panic!("tool message content is a string: {m}"));
    serde_json::from_str(content).unwrap_or_else(|e| panic!("tool result is JSON ({e}): {m}"))
}

/// The text of the last user message in a model request.
pub fn last_user_text(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_else(|| panic!("no user message in {request}"))
        .to_owned()
}

// === 1. end to end with a model ===

#[actix_web::test]
async fn model_tool_call_reaches_the_node_and_the_reply_goes_to_the_same_chat() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let mut op = admin(&gw).await;
    let node = approved_node(&gw, &mut op).await;

    let params = json!({"x": 1, "s": "hi"});
    let call_id = ai.push_tool_call(
        "nodes",
        json!({"action": "invoke", "node": NODE_NAME, "command": "echo.test", "params": params}),
    );
    ai.push_text("The node echoed x=1.");
    let mid = dm(&tg, 4201, "please echo on my node");

    let reply = wait_reply(&tg, mid, Duration::from_secs(10)).await;
    assert_eq!(reply.chat_id(), Some(4201), "{:?}", reply.body);
    assert_eq!(reply.text(), "The node echoed x=1.", "{:?}", reply.body);
    assert_eq!(tg.sent().len(), 1, "exactly one message: {:?}", tg.sent());

    // The node saw exactly the model's command and params.
    let reqs = node.requests.borrow().clone();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0]["command"], "echo.test", "{}", reqs[0]);
    assert_eq!(reqs[0]["nodeId"], node.node_id.as_str(), "{}", reqs[0]);
    let sent_params: Value = serde_json::from_str(
        reqs[0]["paramsJSON"]
            .as_str()
            .expect("invoke request carries paramsJSON"),
    )
    .expect("paramsJSON is JSON");
    assert_eq!(sent_params, params);

    // Model requests: the user text with the nodes tool, then the tool result.
    let model = ai.requests();
    assert_eq!(model.len(), 2, "{model:?}");
    assert_eq!(last_user_text(&model[0]), "please echo on my node");
    assert!(
        model[0]["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["function"]["name"] == "nodes")),
        "the nodes tool is offered: {}",
        model[0]["tools"]
    );
    assert_eq!(model[0]["model"], "flow-model", "{}", model[0]);
    let assistant = model[1]["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "assistant"))
        .unwrap_or_else(|| panic!("assistant tool-call message echoed back: {}", model[1]));
    assert_eq!(assistant["tool_calls"][0]["id"], call_id.as_str());
    let result = tool_result(&model[1], &call_id);
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["nodeId"], node.node_id.as_str(), "{result}");
    assert_eq!(result["payload"]["echo"], params, "{result}");
    assert_eq!(result["payload"]["command"], "echo.test", "{result}");
}

#[actix_web::test]
async fn model_runs_system_run_on_our_own_node_host() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let mut op = admin(&gw).await;

    let home = tempfile::tempdir().expect("node host home");
    let port = gw.port.to_string();
    let mut cmd = crate::support::isolated_command(crate::support::BIN, home.path());
    cmd.args([
        "node",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--display-name",
        "box",
        "--exec-allow",
        "/usr/bin/echo",
    ])
    .env("OPENCLAW_GATEWAY_TOKEN", GW_TOKEN);
    let mut host = Background::spawn(cmd);
    let ev = crate::interop::wait_event_or_exit(
        &mut op,
        "node.pair.requested",
        &mut host,
        Duration::from_secs(20),
    )
    .await;
    let node_id = ev["payload"]["nodeId"]
        .as_str()
        .unwrap_or_else(|| panic!("node.pair.requested carries nodeId: {ev}"))
        .to_owned();
    approve_surface(&mut op, &node_id).await;

    let call_id = ai.push_tool_call(
        "nodes",
        json!({"action": "invoke", "node": "box", "command": "system.run",
               "params": {"command": ["echo", "hi"]}}),
    );
    ai.push_text("It printed hi.");
    let mid = dm(&tg, 4202, "run echo hi on box");
    let reply = wait_reply(&tg, mid, Duration::from_secs(15)).await;
    assert_eq!(reply.chat_id(), Some(4202));
    assert_eq!(reply.text(), "It printed hi.");

    let model = ai.requests();
    assert_eq!(model.len(), 2, "{model:?}");
    let result = tool_result(&model[1], &call_id);
    assert_eq!(
        result["ok"],
        true,
        "{result}\nnode host:\n{}",
        host.output()
    );
    assert_eq!(result["nodeId"], node_id.as_str(), "{result}");
    assert_eq!(result["payload"]["stdout"], "hi\n", "{result}");
    assert_eq!(result["payload"]["exitCode"], 0, "{result}");
    host.kill_group();
}

// === 2. no model: the embedded command agent ===

#[actix_web::test]
async fn command_agent_answers_help_nodes_and_invoke() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let mut op = admin(&gw).await;
    let node = approved_node(&gw, &mut op).await;

    let help = dm(&tg, 4301, "/help");
    let nodes = dm(&tg, 4301, "/nodes");
    let invoke = dm(
        &tg,
        4301,
        &format!("/invoke {NODE_NAME} echo.test {{\"x\":1}}"),
    );

    let r = wait_reply(&tg, help, Duration::from_secs(10)).await;
    assert!(
        r.text().contains("/invoke <node> <command>"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("/help"), "{}", r.text());

    let r = wait_reply(&tg, nodes, Duration::from_secs(10)).await;
    let short: String = node.node_id.chars().take(12).collect();
    let lines: Vec<&str> = r.text().lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"Gateway OK. 1 node(s):"),
        "{}",
        r.text()
    );
    assert!(
        lines.contains(
            &format!("• {NODE_NAME} ({short}) — connected, approved, 2 command(s)").as_str()
        ),
        "the node's line, exactly: {}",
        r.text()
    );

    let r = wait_reply(&tg, invoke, Duration::from_secs(10)).await;
    assert_eq!(r.chat_id(), Some(4301));
    assert!(r.text().contains("echo.test"), "{}", r.text());
    assert!(r.text().contains("\"x\": 1"), "{}", r.text());
    let reqs = node.requests.borrow().clone();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0]["command"], "echo.test");
    assert_eq!(reqs[0]["paramsJSON"], "{\"x\":1}");
    assert_eq!(tg.sent().len(), 3, "{:?}", tg.sent());
}

// === 3. restarts ===

#[actix_web::test]
async fn sigkill_mid_run_then_restart_answers_each_update_exactly_once() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("answer after restart");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));

    // A's first model call hangs; the gateway dies while waiting for it.
    ai.push(FakeReply::text("never delivered").delayed(Duration::from_secs(30)));
    let a = dm(&tg, 4401, "message A");
    ai.wait_requests_async(1, Duration::from_secs(10)).await;
    let mut gw = gw;
    let dir = gw.take_dir();
    drop(gw); // SIGKILL while the model call is in flight
    let b = dm(&tg, 4402, "message B");
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], None);

    let ra = wait_reply(&tg, a, Duration::from_secs(10)).await;
    let rb = wait_reply(&tg, b, Duration::from_secs(10)).await;
    assert_eq!(ra.text(), "answer after restart");
    assert_eq!(ra.chat_id(), Some(4401));
    assert_eq!(rb.chat_id(), Some(4402));
    all_answered(&gw, &tg).await;
    assert_eq!(replies_to(&tg, a).len(), 1, "A once: {:?}", tg.sent());
    assert_eq!(replies_to(&tg, b).len(), 1, "B once: {:?}", tg.sent());
    assert_eq!(tg.sent().len(), 2, "{:?}", tg.sent());
    // A ran again after the restart (its first model call was lost with the process).
    let model = ai.requests();
    assert_eq!(model.len(), 3, "{model:?}");
    let texts: Vec<String> = model.iter().map(last_user_text).collect();
    assert_eq!(
        texts.iter().filter(|t| *t == "message A").count(),
        2,
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| *t == "message B").count(),
        1,
        "{texts:?}"
    );
    assert_healthy(&gw).await;
}

#[actix_web::test]
async fn answered_update_is_not_answered_again_after_a_clean_restart() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let a = dm(&tg, 4501, "answer me once");
    wait_reply(&tg, a, Duration::from_secs(10)).await;

    gw.sigterm();
    let mut gw = gw;
    let status = gw.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "clean exit: {status:?}\n{}", gw.stderr());
    let gw = restart(gw);
    // Nothing pending after the restart (a pending message would run and be answered first).
    all_answered(&gw, &tg).await;
    let b = dm(&tg, 4501, "second message");
    wait_reply(&tg, b, Duration::from_secs(10)).await;
    assert_eq!(replies_to(&tg, a).len(), 1, "{:?}", tg.sent());
    assert_eq!(tg.sent().len(), 2, "{:?}", tg.sent());
    assert_eq!(ai.request_count(), 2, "{:?}", ai.requests());
    drop(gw);
}

/// A SIGTERM while a reply's `sendMessage` answer is still on its way: the gateway lets the
/// delivery settle (bounded) and saves its message as answered before it exits, so the
/// next start does not send the reply again.
#[actix_web::test]
async fn a_reply_in_flight_at_sigterm_is_saved_as_answered_before_the_exit() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // Info: the wait is logged there.
    let gw = TestGateway::start(
        GW_ARGS,
        &[("RUST_LOG", "info")],
        Some(&config(&tg, Some(&ai), json!({}))),
    );
    tg.hold_send_responses(true);
    let a = dm(&tg, 4502, "answer me once");
    wait_reply(&tg, a, SLOW).await;

    gw.sigterm();
    gw.wait_stderr_line(
        &["telegram[default]: waiting for 1 reply being delivered before stopping"],
        SLOW,
    );
    let on_disk = |gw: &TestGateway| -> Value {
        let path = gw.dir.path().join("channels/telegram/default.json");
        serde_json::from_slice(&std::fs::read(path).expect("state")).expect("state is JSON")
    };
    // Still pending on disk: the gateway has not learnt that the reply went out.
    let state = on_disk(&gw);
    assert_eq!(
        state["pending"].as_array().map(Vec::len),
        Some(1),
        "{state}"
    );
    tg.hold_send_responses(false);
    let mut gw = gw;
    let status = gw.wait_exit(SLOW);
    assert!(status.success(), "clean exit: {status:?}\n{}", gw.stderr());
    let state = on_disk(&gw);
    assert_eq!(state["pending"], json!([]), "{state}");

    let gw = restart(gw);
    all_answered(&gw, &tg).await;
    let b = dm(&tg, 4502, "second message");
    wait_reply(&tg, b, SLOW).await;
    assert_eq!(replies_to(&tg, a).len(), 1, "{:?}", tg.sent());
    assert_eq!(ai.request_count(), 2, "{:?}", ai.requests());
}

// === 4. Bot API outages and rate limits ===

#[actix_web::test]
async fn bot_api_down_for_a_while_loses_nothing() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));

    // The answer to A is computed while the Bot API is down.
    ai.push(FakeReply::text("answer A").delayed(Duration::from_millis(300)));
    let a = dm(&tg, 4601, "message A");
    ai.wait_requests_async(1, Duration::from_secs(10)).await;
    tg.set_down(true);
    // B arrives during the outage.
    let b = dm(&tg, 4602, "message B");
    // Wait until A's reply failed three times (502, ~1.5 s) and a poll failed too.
    poll_until(
        Duration::from_secs(10),
        "three failed sendMessage calls",
        || (tg.calls("sendMessage") >= 3).then_some(()),
    )
    .await;
    let polls = tg.get_updates_calls();
    tg.wait_polls_async(polls + 1, Duration::from_secs(10))
        .await;
    assert!(tg.sent().is_empty(), "nothing delivered while down");
    tg.set_down(false);

    let ra = wait_reply(&tg, a, SLOW).await;
    let rb = wait_reply(&tg, b, SLOW).await;
    assert_eq!(ra.text(), "answer A");
    assert_eq!(ra.chat_id(), Some(4601));
    assert_eq!(rb.chat_id(), Some(4602));
    all_answered(&gw, &tg).await;
    assert_eq!(tg.sent().len(), 2, "{:?}", tg.sent());
    let status = admin(&gw).await.request("channels.status", json!({})).await;
    let acc = &status["payload"]["channels"]["telegram"]["accounts"]["default"];
    assert_eq!(acc["running"], true, "{status}");
    assert_eq!(acc["pendingInbound"], 0, "{status}");
}

#[actix_web::test]
async fn send_message_rate_limited_once_is_retried_after_retry_after() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    tg.fail_next_on(
        "sendMessage",
        1,
        429,
        json!({"ok": false, "error_code": 429,
               "description": "Too Many Requests: retry after 1",
               "parameters": {"retry_after": 1}}),
    );
    let a = dm(&tg, 4603, "hello");
    ai.wait_requests_async(1, Duration::from_secs(10)).await;
    let asked = Instant::now();
    let r = wait_reply(&tg, a, Duration::from_secs(10)).await;
    assert_eq!(r.text(), "ok");
    assert_eq!(tg.calls("sendMessage"), 2, "one 429, one success");
    assert!(
        r.at.duration_since(asked) >= Duration::from_millis(900),
        "retry_after 1 s honoured: {:?}",
        r.at.duration_since(asked)
    );
    all_answered(&gw, &tg).await;
    assert_eq!(tg.sent().len(), 1, "{:?}", tg.sent());
}

// === 5. model failures ===

#[actix_web::test]
async fn model_failures_get_a_clear_message_and_the_gateway_stays_up() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let err = json!({"error": {"message": "upstream exploded", "type": "server_error"}});

    // 500 on every attempt.
    for _ in 0..3 {
        ai.push_status(500, err.clone());
    }
    let m = dm(&tg, 4701, "first");
    let r = wait_reply(&tg, m, SLOW).await;
    assert!(r.text().contains("model provider"), "{}", r.text());
    assert!(
        !r.text().contains("upstream exploded"),
        "no raw detail: {}",
        r.text()
    );
    assert_eq!(ai.request_count(), 3, "three attempts");
    assert_healthy(&gw).await;

    // Garbage.
    ai.push_raw("<html>definitely not json</html>");
    let m = dm(&tg, 4701, "second");
    let r = wait_reply(&tg, m, SLOW).await;
    assert!(r.text().contains("model provider"), "{}", r.text());
    assert_eq!(ai.request_count(), 4, "garbage is not retried");
    assert_healthy(&gw).await;

    // An unknown tool: the model is told, then answers.
    let call_id = ai.push_tool_call("nope", json!({}));
    ai.push_text("Sorry, I used a tool that does not exist.");
    let m = dm(&tg, 4701, "third");
    let r = wait_reply(&tg, m, SLOW).await;
    assert_eq!(r.text(), "Sorry, I used a tool that does not exist.");
    let model = ai.requests();
    let result = tool_result(&model[5], &call_id);
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("unknown tool") && e.contains("nope")),
        "{result}"
    );

    // Still healthy, and the next message is answered normally.
    let health = assert_healthy(&gw).await;
    assert_eq!(health["channelsHealthy"], true, "{health}");
    let m = dm(&tg, 4701, "fourth");
    let r = wait_reply(&tg, m, SLOW).await;
    assert_eq!(r.text(), "ok");
    assert_eq!(tg.sent().len(), 4, "{:?}", tg.sent());
}

// === 6. DM and group policies ===

const CODE_ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The pairing code in a pairing notice.
fn code_of(text: &str) -> String {
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix("Pairing code: "))
        .unwrap_or_else(|| panic!("no pairing code in {text:?}"))
        .trim()
        .to_owned();
    assert_eq!(code.chars().count(), 8, "{code}");
    assert!(
        code.chars().all(|c| CODE_ALPHABET.contains(c)),
        "code {code} uses only the unambiguous alphabet"
    );
    code
}

/// The pairing notice sent to `user`.
async fn pairing_notice(tg: &FakeTelegram, user: i64) -> SentMessage {
    poll_until(Duration::from_secs(10), "a pairing notice", || {
        tg.sent()
            .into_iter()
            .find(|s| s.chat_id() == Some(user) && s.text().contains("Pairing code: "))
    })
    .await
}

/// The "access approved" notice sent to `user`.
async fn approval_notice(tg: &FakeTelegram, user: i64) -> SentMessage {
    poll_until(Duration::from_secs(10), "an approval notice", || {
        tg.sent()
            .into_iter()
            .find(|s| s.chat_id() == Some(user) && s.text().contains("access approved"))
    })
    .await
}

#[actix_web::test]
async fn dm_pairing_code_then_rpc_and_cli_approval() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = config(&tg, Some(&ai), json!({"dmPolicy": null, "allowFrom": null}));
    let gw = start_gateway(&cfg);
    let mut op = admin(&gw).await;

    // An unknown sender gets a code, and their message is not answered.
    let first = dm(&tg, 4801, "hello bot");
    let notice = pairing_notice(&tg, 4801).await;
    assert!(notice.text().contains("4801"), "{}", notice.text());
    let code = code_of(notice.text());
    assert!(
        notice
            .text()
            .contains(&format!("openclaw pairing approve telegram {code}")),
        "{}",
        notice.text()
    );
    assert_eq!(ai.request_count(), 0, "no model call for an unknown sender");

    let list = op.request("channels.pairing.list", json!({})).await;
    assert_eq!(list["ok"], true, "{list}");
    let reqs = list["payload"]["requests"]
        .as_array()
        .unwrap_or_else(|| panic!("requests array: {list}"));
    let entry = reqs
        .iter()
        .find(|r| r["code"] == code.as_str())
        .unwrap_or_else(|| panic!("{code} listed: {list}"));
    assert_eq!(entry["channel"], "telegram", "{entry}");
    assert_eq!(entry["id"], "4801", "{entry}");
    assert_eq!(entry["requestId"], code.as_str(), "{entry}");

    let res = op
        .request(
            "channels.pairing.approve",
            json!({"channel": "telegram", "requestId": code}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["approved"], true, "{res}");
    assert_eq!(res["payload"]["id"], "4801", "{res}");
    approval_notice(&tg, 4801).await;
    let again = op
        .request(
            "channels.pairing.approve",
            json!({"channel": "telegram", "requestId": code}),
        )
        .await;
    assert_eq!(again["ok"], false, "a used code is gone: {again}");

    let next = dm(&tg, 4801, "now?");
    let r = wait_reply(&tg, next, Duration::from_secs(10)).await;
    assert_eq!(r.text(), "ok");
    assert!(
        replies_to(&tg, first).is_empty(),
        "the message sent before approval stays unanswered: {:?}",
        tg.sent()
    );

    // The same through the CLI.
    let _ = dm(&tg, 4802, "hi, me too");
    let code2 = code_of(pairing_notice(&tg, 4802).await.text());
    let url = gw.url();
    let cli = CliHome::new();
    let help = cli.run(&["pairing", "--help"], &[]);
    assert_eq!(help.code, Some(0), "{help}");
    let out = cli.run(
        &[
            "pairing", "list", "--url", &url, "--token", GW_TOKEN, "--json",
        ],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains(&code2), "{out}");
    let out = cli.run(
        &[
            "pairing", "approve", "telegram", &code2, "--url", &url, "--token", GW_TOKEN,
        ],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    approval_notice(&tg, 4802).await;
    let next = dm(&tg, 4802, "and now?");
    wait_reply(&tg, next, Duration::from_secs(10)).await;
    assert_eq!(ai.request_count(), 2, "{:?}", ai.requests());
}

#[actix_web::test]
async fn dm_allowlist_answers_only_listed_ids_and_open_groups_need_a_mention() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = config(
        &tg,
        Some(&ai),
        // historyLimit 0: the unaddressed messages are not carried as group context (see
        // a_group_turn_carries_the_messages_since_the_last_one), so the texts compare.
        json!({"dmPolicy": "allowlist", "allowFrom": [4901], "groupPolicy": "open", "historyLimit": 0}),
    );
    let gw = start_gateway(&cfg);
    let stranger = dm(&tg, 4902, "let me in");
    tg.push_group_text(-4900, 4903, "just chatting");
    let mention_msg = {
        let mut m = tg.message(-4900, 4903, "@openclaw_test_bot what's up");
        m.entities = Some(crate::support::fake_telegram::entities_for(
            "@openclaw_test_bot what's up",
        ));
        m
    };
    let mention = mention_msg.message_id;
    tg.push_message(mention_msg);
    let friend = dm(&tg, 4901, "hi, it's me");

    let r = wait_reply(&tg, friend, Duration::from_secs(10)).await;
    assert_eq!(r.chat_id(), Some(4901));
    let r = wait_reply(&tg, mention, Duration::from_secs(10)).await;
    assert_eq!(r.chat_id(), Some(-4900));
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, stranger).is_empty(), "{:?}", tg.sent());
    assert!(
        !tg.sent().iter().any(|s| s.chat_id() == Some(4902)),
        "no pairing code under allowlist: {:?}",
        tg.sent()
    );
    assert_eq!(tg.sent().len(), 2, "{:?}", tg.sent());
    let texts: Vec<String> = ai.requests().iter().map(last_user_text).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts.contains(&"what's up".to_owned()),
        "mention stripped: {texts:?}"
    );
    assert!(texts.contains(&"hi, it's me".to_owned()), "{texts:?}");
}

#[actix_web::test]
async fn dm_disabled_and_group_allowlist_answer_only_mentions_and_replies() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = config(
        &tg,
        Some(&ai),
        json!({"dmPolicy": "disabled", "allowFrom": null, "historyLimit": 0,
               "groupPolicy": "allowlist", "groupAllowFrom": [-5000]}),
    );
    let gw = start_gateway(&cfg);
    let direct = dm(&tg, 5001, "hello?");
    let other_group = {
        let m = tg.message(-5999, 5002, "@openclaw_test_bot hi");
        let id = m.message_id;
        let mut m = m;
        m.entities = Some(crate::support::fake_telegram::entities_for(
            "@openclaw_test_bot hi",
        ));
        tg.push_message(m);
        id
    };
    tg.push_group_text(-5000, 5002, "not for the bot");
    let mention = {
        let mut m = tg.message(-5000, 5002, "hey @openclaw_test_bot status?");
        m.entities = Some(crate::support::fake_telegram::entities_for(
            "hey @openclaw_test_bot status?",
        ));
        let id = m.message_id;
        tg.push_message(m);
        id
    };
    let reply_msg = {
        let mut m = tg.message(-5000, 5003, "and you?");
        m.reply_to_message = Some(Box::new(tg.bot_message(-5000, 1, "(earlier bot reply)")));
        let id = m.message_id;
        tg.push_message(m);
        id
    };
    let last_update = tg.push_group_text(-5000, 5003, "still not for the bot");

    let r = wait_reply(&tg, mention, Duration::from_secs(10)).await;
    assert_eq!(r.chat_id(), Some(-5000));
    let r = wait_reply(&tg, reply_msg, Duration::from_secs(10)).await;
    assert_eq!(r.chat_id(), Some(-5000));
    tg.wait_offset_async(last_update + 1, Duration::from_secs(10))
        .await;
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, direct).is_empty(), "{:?}", tg.sent());
    assert!(replies_to(&tg, other_group).is_empty(), "{:?}", tg.sent());
    assert_eq!(tg.sent().len(), 2, "{:?}", tg.sent());
    let texts: Vec<String> = ai.requests().iter().map(last_user_text).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].starts_with("hey") && texts[0].ends_with("status?") && !texts[0].contains('@'),
        "mention stripped: {texts:?}"
    );
    assert_eq!(texts[1], "and you?");
}

#[test]
fn dm_open_without_star_refuses_to_start() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let cfg = config(&tg, None, json!({"dmPolicy": "open", "allowFrom": [123]}));
    let home = CliHome::with_config(&cfg);
    let out = home.run(GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(out.stderr.contains("allowFrom"), "{out}");
    assert!(out.stderr.contains("\"*\""), "{out}");
    assert_eq!(tg.calls("getMe"), 0, "never reached Telegram");
}

// === 6b. reply threading (replyToMode) ===

#[actix_web::test]
async fn reply_to_mode_off_by_default_all_quotes_every_chunk_and_send_keeps_its_reply_to() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // `null`: OpenClaw's default, `off`.
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"replyToMode": null})));
    ai.push_text("an answer that quotes nothing");
    let mid = dm(&tg, 5151, "hello");
    let answer = poll_until(SLOW, "the answer", || {
        tg.sent()
            .into_iter()
            .find(|s| s.text() == "an answer that quotes nothing")
    })
    .await;
    assert_eq!(answer.reply_to(), None, "{:?}", answer.body);
    assert_eq!(answer.chat_id(), Some(5151));
    // `send` with a replyToId asked for it: kept whatever the mode.
    let mut op = admin(&gw).await;
    let res = op
        .request(
            "send",
            json!({"to": "5151", "message": "asked to quote", "replyToId": mid, "idempotencyKey": "rtm-1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let sent = poll_until(SLOW, "the send", || {
        tg.sent().into_iter().find(|s| s.text() == "asked to quote")
    })
    .await;
    assert_eq!(sent.reply_to(), Some(mid), "{:?}", sent.body);
    drop(gw);

    // `all`: every chunk of a long answer quotes the message.
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"replyToMode": "all"})));
    let long: String = "word ".repeat(2000);
    ai.push_text(&long);
    let mid = dm(&tg, 5152, "say a lot");
    let sent = tg.wait_sent_async(3, SLOW).await;
    assert_eq!(sent.len(), 3, "{} chunks", sent.len());
    for s in &sent {
        assert_eq!(s.reply_to(), Some(mid), "{:?}", s.body);
    }
    all_answered(&gw, &tg).await;

    // A value OpenClaw does not know refuses the start.
    let cfg = config(&tg, None, json!({"replyToMode": "sometimes"}));
    let out = CliHome::with_config(&cfg).run(GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr.contains("channels.telegram.replyToMode") && out.stderr.contains("Fix:"),
        "{out}"
    );
}

// === 6c. ack reactions ===

#[actix_web::test]
async fn the_bot_acks_group_messages_addressed_to_it_with_an_eyes_reaction() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"groupPolicy": "open"})));
    let group = group_mention(&tg, -7100, 7101, "@openclaw_test_bot hi");
    let direct = dm(&tg, 7102, "hi");
    wait_reply(&tg, group, SLOW).await;
    wait_reply(&tg, direct, SLOW).await;
    all_answered(&gw, &tg).await;
    // The reaction is its own call, beside the run: wait for it.
    let reacted = || (!tg.reactions().is_empty()).then_some(());
    poll_until(SLOW, "a reaction", reacted).await;
    // OpenClaw's default scope, group-mentions: the group message, not the DM.
    assert_eq!(tg.reactions(), [(-7100, group, "👀".to_owned())]);
    drop(gw);

    // `direct` with the channel's own emoji; an emoji Telegram does not take is refused
    // and logged with the fix, and the answer still comes.
    let tg = FakeTelegram::start(TG_TOKEN);
    let with_messages = |tg: &FakeTelegram, telegram: Value, messages: Value| {
        let mut cfg: Value =
            serde_json::from_str(&config(tg, Some(&ai), telegram)).expect("config is JSON");
        cfg["messages"] = messages;
        cfg.to_string()
    };
    let cfg = with_messages(
        &tg,
        json!({"ackReaction": "🔥"}),
        json!({"ackReactionScope": "direct"}),
    );
    let gw = start_gateway(&cfg);
    let direct = dm(&tg, 7103, "hello");
    wait_reply(&tg, direct, SLOW).await;
    all_answered(&gw, &tg).await;
    let reacted = || (!tg.reactions().is_empty()).then_some(());
    poll_until(SLOW, "a reaction", reacted).await;
    assert_eq!(tg.reactions(), [(7103, direct, "🔥".to_owned())]);
    drop(gw);
    let tg = FakeTelegram::start(TG_TOKEN);
    let cfg = with_messages(
        &tg,
        json!({"ackReaction": "🦞"}),
        json!({"ackReactionScope": "all"}),
    );
    let gw = start_gateway(&cfg);
    let direct = dm(&tg, 7104, "hello");
    wait_reply(&tg, direct, SLOW).await;
    gw.wait_stderr_line(
        &["ack reaction 🦞 refused", "REACTION_INVALID", "Fix:"],
        SLOW,
    );
    assert!(tg.reactions().is_empty());
    drop(gw);

    // `""` turns it off; an unknown scope refuses the start.
    let tg = FakeTelegram::start(TG_TOKEN);
    let cfg = with_messages(
        &tg,
        json!({"groupPolicy": "open"}),
        json!({"ackReaction": ""}),
    );
    let gw = start_gateway(&cfg);
    let group = group_mention(&tg, -7100, 7105, "@openclaw_test_bot hi");
    wait_reply(&tg, group, SLOW).await;
    all_answered(&gw, &tg).await;
    assert_eq!(tg.calls("setMessageReaction"), 0);
    let cfg = with_messages(&tg, json!({}), json!({"ackReactionScope": "everyone"}));
    let out = CliHome::with_config(&cfg).run(GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(out.stderr.contains("messages.ackReactionScope"), "{out}");
}

// === 6d. group history context ===

#[actix_web::test]
async fn a_group_turn_carries_the_messages_since_the_last_one() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("noted");
    let cfg = config(
        &tg,
        Some(&ai),
        json!({"groupPolicy": "allowlist", "groupAllowFrom": [-7300]}),
    );
    let gw = start_gateway(&cfg);
    // Not addressed to the bot: remembered for the group's next turn.
    tg.push_message(tg.message(-7300, 7301, "lunch at\nnoon?"));
    tg.push_message(tg.message(-7300, 7302, "pizza or sushi?"));
    // Another group, not allowed: never remembered, never answered.
    tg.push_message(tg.message(-7400, 7303, "secret plans"));
    let asked = group_mention(&tg, -7300, 7303, "@openclaw_test_bot what do they want?");
    wait_reply(&tg, asked, SLOW).await;
    let text = last_user_text(&ai.requests()[0]);
    let want_head = "[Chat messages since your last reply - for context]\n\
        user7301 (@user7301): lunch at noon?\n\
        user7302 (@user7302): pizza or sushi?\n\
        \n[Current message - respond to this]\n";
    assert!(text.starts_with(want_head), "{text:?}");
    assert!(text.ends_with("what do they want?"), "{text:?}");
    assert!(!text.contains("secret"), "{text:?}");
    // The next turn gets only what came since.
    tg.push_message(tg.message(-7300, 7301, "sushi it is"));
    let again = group_mention(&tg, -7300, 7302, "@openclaw_test_bot and now?");
    wait_reply(&tg, again, SLOW).await;
    let text = last_user_text(&ai.requests()[1]);
    assert!(
        text.contains("user7301 (@user7301): sushi it is") && !text.contains("pizza"),
        "{text:?}"
    );
    let direct = dm(&tg, 7304, "hi");
    wait_reply(&tg, direct, SLOW).await;
    assert_eq!(last_user_text(&ai.requests()[2]), "hi", "a DM carries none");
    all_answered(&gw, &tg).await;
    drop(gw);

    // historyLimit 0: no context; a bad value refuses the start.
    let tg = FakeTelegram::start(TG_TOKEN);
    let cfg = config(
        &tg,
        Some(&ai),
        json!({"groupPolicy": "open", "historyLimit": 0}),
    );
    let gw = start_gateway(&cfg);
    tg.push_message(tg.message(-7500, 7501, "chatter"));
    let asked = group_mention(&tg, -7500, 7502, "@openclaw_test_bot hi");
    wait_reply(&tg, asked, SLOW).await;
    let text = last_user_text(&ai.requests()[3]);
    assert!(
        !text.contains("chatter") && text.ends_with("hi"),
        "{text:?}"
    );
    all_answered(&gw, &tg).await;
    let cfg = config(&tg, None, json!({"historyLimit": "lots"}));
    let out = CliHome::with_config(&cfg).run(GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr.contains("channels.telegram.historyLimit"),
        "{out}"
    );
}

// === 7. splitting ===

#[actix_web::test]
async fn long_answers_are_split_at_the_chunk_limit_in_order() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    // 90 lines of 99 characters + newline: 9000 characters (the last newline trimmed).
    let text: String = (0..90)
        .map(|i| format!("{i:02} {}\n", "é".repeat(10) + &"x".repeat(86)))
        .collect::<String>()
        .trim_end()
        .to_owned();
    assert_eq!(text.chars().count(), 8999);
    ai.push_text(&text);
    let mid = dm(&tg, 5101, "tell me everything");
    let sent = tg.wait_sent_async(3, Duration::from_secs(10)).await;
    all_answered(&gw, &tg).await;
    let sent_now = tg.sent();
    assert_eq!(sent_now.len(), 3, "{}", sent.len());
    for w in sent_now.windows(2) {
        assert!(w[0].at <= w[1].at && w[0].message_id < w[1].message_id);
    }
    for s in &sent_now {
        // OpenClaw's default textChunkLimit, 4000 (Telegram takes 4096).
        assert!(
            s.text().encode_utf16().count() <= 4000,
            "{}",
            s.text().len()
        );
        assert_eq!(s.chat_id(), Some(5101));
    }
    assert_eq!(sent_now[0].reply_to(), Some(mid));
    assert_eq!(sent_now[1].reply_to(), None);
    assert_eq!(sent_now[2].reply_to(), None);
    let joined = sent_now.iter().map(SentMessage::text).collect::<String>();
    assert_eq!(joined, text, "lossless chunks");
    for s in &sent_now[..2] {
        assert!(
            s.text().ends_with('\n'),
            "split at a line break: {:?}",
            s.text()
        );
    }
    drop(gw);

    // A smaller textChunkLimit: nine parts of ten lines (1000 characters), still lossless.
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"textChunkLimit": 1000})));
    ai.push_text(&text);
    dm(&tg, 5102, "again");
    tg.wait_sent_async(9, Duration::from_secs(10)).await;
    all_answered(&gw, &tg).await;
    let parts = tg.sent();
    assert_eq!(parts.len(), 9, "{}", parts.len());
    assert!(
        parts
            .iter()
            .all(|s| s.text().encode_utf16().count() <= 1000)
    );
    assert_eq!(
        parts.iter().map(SentMessage::text).collect::<String>(),
        text
    );
    // Nothing below 1 or above Telegram's 4096 makes sense.
    let out =
        CliHome::with_config(&config(&tg, None, json!({"textChunkLimit": 0}))).run(GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr.contains("channels.telegram.textChunkLimit"),
        "{out}"
    );
}

// === 9. webhook mode ===

#[actix_web::test]
async fn webhook_mode_checks_the_secret_and_answers() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let url = "https://bot.example.invalid/telegram-webhook";
    let secret = "whs-0123456789abcdef";
    let cfg = config(
        &tg,
        Some(&ai),
        json!({"webhookUrl": url, "webhookSecret": secret}),
    );
    let gw = start_gateway(&cfg);
    let hook = poll_until(Duration::from_secs(10), "setWebhook", || tg.webhook()).await;
    assert_eq!(hook.url, url);
    assert_eq!(hook.secret_token.as_deref(), Some(secret));

    let msg = tg.message(5201, 5201, "via webhook");
    let mid = msg.message_id;
    let update = json!({"update_id": 9_000_001, "message": msg});
    let endpoint = format!("http://127.0.0.1:{}/telegram-webhook", gw.port);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let post = |secret: Option<&str>| {
        let mut req = client.post(endpoint.clone());
        if let Some(s) = secret {
            req = req.insert_header(("X-Telegram-Bot-Api-Secret-Token", s.to_owned()));
        }
        req.send_json(&update)
    };
    let wrong = post(Some("not-the-secret"))
        .await
        .expect("POST the webhook (wrong secret)");
    assert_eq!(wrong.status().as_u16(), 401);
    let missing = post(None).await.expect("POST the webhook (no secret)");
    assert_eq!(missing.status().as_u16(), 401);
    assert_eq!(ai.request_count(), 0, "rejected updates go nowhere");

    let ok = post(Some(secret))
        .await
        .expect("POST the webhook (right secret)");
    assert_eq!(ok.status().as_u16(), 200);
    let r = wait_reply(&tg, mid, Duration::from_secs(10)).await;
    assert_eq!(r.chat_id(), Some(5201));
    assert_eq!(r.text(), "ok");
    // A redelivery of the same update is not answered twice.
    let dup = post(Some(secret)).await.expect("POST the webhook again");
    assert_eq!(dup.status().as_u16(), 200);
    // A later update in the same chat is answered after it (runs of a chat are sequential).
    let later = tg.message(5201, 5201, "later");
    let later_id = later.message_id;
    let update = json!({"update_id": 9_000_002, "message": later});
    let res = client
        .post(endpoint.clone())
        .insert_header(("X-Telegram-Bot-Api-Secret-Token", secret))
        .send_json(&update)
        .await
        .expect("POST the second update");
    assert_eq!(res.status().as_u16(), 200);
    wait_reply(&tg, later_id, Duration::from_secs(10)).await;
    assert_eq!(replies_to(&tg, mid).len(), 1, "{:?}", tg.sent());
    assert_eq!(tg.calls("getUpdates"), 0, "no polling in webhook mode");
    let status = admin(&gw).await.request("channels.status", json!({})).await;
    let acc = &status["payload"]["channels"]["telegram"]["accounts"]["default"];
    assert_eq!(acc["mode"], "webhook", "{status}");
    assert_eq!(acc["running"], true, "{status}");
    assert_eq!(tg.sent().len(), 2, "{:?}", tg.sent());
    assert_eq!(ai.request_count(), 2);

    // Stopped by an operator, the webhook answers 503 (Telegram delivers the update again
    // later) and nothing runs; started again, the redelivery is answered.
    let mut op = admin(&gw).await;
    let res = op
        .request("channels.stop", json!({"channel": "telegram"}))
        .await;
    assert_eq!(res["payload"]["stopped"], true, "{res}");
    let held = tg.message(5201, 5201, "while stopped");
    let held_id = held.message_id;
    let update = json!({"update_id": 9_000_003, "message": held});
    let deliver = || {
        client
            .post(endpoint.clone())
            .insert_header(("X-Telegram-Bot-Api-Secret-Token", secret))
            .send_json(&update)
    };
    let res = deliver().await.expect("POST while stopped");
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(ai.request_count(), 2, "nothing ran");
    let res = op
        .request("channels.start", json!({"channel": "telegram"}))
        .await;
    assert_eq!(res["payload"]["outcome"]["status"], "handed-off", "{res}");
    let res = deliver().await.expect("POST after the start");
    assert_eq!(res.status().as_u16(), 200);
    wait_reply(&tg, held_id, Duration::from_secs(10)).await;
    assert_eq!(ai.request_count(), 3);
}

// === 10. group mentions with non-ASCII text ===

/// Pushes a plain text message (no entities) from `from` in `chat`; returns its message id.
pub fn group_text(tg: &FakeTelegram, chat: i64, from: i64, text: &str) -> i64 {
    let m = tg.message(chat, from, text);
    let id = m.message_id;
    tg.push_message(m);
    id
}

/// Pushes a group message with Telegram's entities (UTF-16 offsets); returns its message id.
pub fn group_mention(tg: &FakeTelegram, chat: i64, from: i64, text: &str) -> i64 {
    let mut m = tg.message(chat, from, text);
    m.entities = Some(crate::support::fake_telegram::entities_for(text));
    let id = m.message_id;
    tg.push_message(m);
    id
}

#[actix_web::test]
async fn group_mentions_after_non_ascii_text_are_answered_and_the_channel_survives() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let cfg = config(&tg, Some(&ai), json!({"groupPolicy": "open"}));
    let gw = start_gateway(&cfg);
    // Kelvin sign and dotted capital I lowercase to another byte length (this panicked).
    let kelvin = group_mention(&tg, -7000, 7001, "\u{212A} @openclaw_test_bot hi");
    let dotted = group_mention(&tg, -7000, 7002, "İstanbul @openclaw_test_bot merhaba");
    let emoji = group_mention(&tg, -7000, 7003, "👨‍👩‍👧 @OPENCLAW_TEST_BOT wave");
    // A longer username is another bot.
    let other = group_mention(&tg, -7000, 7004, "@openclaw_test_bot2 not you");
    let later = dm(&tg, 7005, "still alive?");

    for id in [kelvin, dotted, emoji, later] {
        wait_reply(&tg, id, SLOW).await;
    }
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, other).is_empty(), "{:?}", tg.sent());
    assert_eq!(tg.sent().len(), 4, "{:?}", tg.sent());
    let mut texts: Vec<String> = ai.requests().iter().map(last_user_text).collect();
    texts.sort();
    let mut expected = vec![
        "\u{212A}  hi".to_owned(),
        "İstanbul  merhaba".to_owned(),
        "👨‍👩‍👧  wave".to_owned(),
        "still alive?".to_owned(),
    ];
    expected.sort();
    assert_eq!(texts, expected, "mentions stripped, nothing else");
    let acc = channel_status(&gw).await;
    assert_eq!(acc["running"], true, "{acc}");
}

// === 11. splitting as Telegram counts (UTF-16) ===

#[actix_web::test]
async fn emoji_heavy_replies_are_split_at_4096_utf16_units() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    // About 14 500 UTF-16 units of astral emoji, ZWJ families and combining marks, no spaces.
    let text: String = (0..2000)
        .map(|i| match i % 4 {
            0 => "😀🎉🚀".to_owned(),
            1 => "👨‍👩‍👧e\u{301}".to_owned(),
            2 => "🏳️‍🌈\u{212A}".to_owned(),
            _ => "𝔘𝔫𝔦".to_owned(),
        })
        .collect();
    let units = text.encode_utf16().count();
    assert!(units > 2 * 4096, "{units}");
    ai.push_text(&text);
    let mid = dm(&tg, 7101, "emoji please");
    wait_reply(&tg, mid, SLOW).await;
    all_answered(&gw, &tg).await;
    let sent = tg.sent();
    assert!(sent.len() >= 3, "{} chunks", sent.len());
    for s in &sent {
        let n = s.text().encode_utf16().count();
        assert!(n <= 4096, "a chunk of {n} UTF-16 units");
        assert_eq!(s.chat_id(), Some(7101));
    }
    assert_eq!(sent[0].reply_to(), Some(mid));
    assert_eq!(sent.iter().map(SentMessage::text).collect::<String>(), text);
}

// === 12. backlog caps ===

/// What a user whose chat has too many queued messages is told.
const BUSY: &str = "⏳ I'm still working through earlier messages in this chat, so I could not take this one. Please send it again in a minute.";

#[actix_web::test]
async fn a_message_refused_by_the_chat_queue_gets_a_busy_reply_and_leaves_pending() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // The first run hangs; the chat's queue fills (1 running + 100 queued).
    ai.push(FakeReply::text("late").delayed(Duration::from_secs(100)));
    ai.set_default_text("late too");
    let ids: Vec<i64> = (0..104)
        .map(|i| dm(&tg, 7201, &format!("msg {i}")))
        .collect();
    let gw = start_gateway(&with_queue(
        &config(&tg, Some(&ai), json!({})),
        json!({"mode": "followup", "cap": 100, "drop": "new"}),
    ));

    let sent = tg.wait_sent_async(3, SLOW).await;
    for (s, id) in sent.iter().zip(&ids[101..]) {
        assert_eq!(s.text(), BUSY, "{:?}", s.body);
        assert_eq!(s.reply_to(), Some(*id), "{:?}", s.body);
        assert_eq!(s.chat_id(), Some(7201));
    }
    let acc = wait_status(&gw, SLOW, "the refused messages dropped", |a| {
        a["pendingInbound"] == 101
    })
    .await;
    assert_eq!(acc["running"], true, "{acc}");
    // "running" is set when the run starts; its model request follows once the workspace
    // has been read on the blocking pool, so wait for that request rather than race it.
    ai.wait_requests_async(1, SLOW).await;
    assert_eq!(tg.sent().len(), 3, "{:?}", tg.sent());
    assert_eq!(ai.request_count(), 1, "refused messages start no run");
}

#[actix_web::test]
async fn at_the_pending_cap_polling_pauses_until_a_reply_frees_a_slot() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // One run answers at once, the others hang; its reply is delivered to Telegram but the
    // answer is held, so its message stays pending until the test releases it.
    ai.push_text("first");
    for _ in 0..20 {
        ai.push(FakeReply::text("late").delayed(Duration::from_secs(100)));
    }
    tg.hold_send_responses(true);
    // 11 chats × 92 messages = 1012 updates: 1000 fit the pending list.
    for chat in 0..11 {
        for i in 0..92 {
            dm(&tg, 7300 + chat, &format!("m{i}"));
        }
    }
    let gw = start_gateway(&with_queue(
        &config(&tg, Some(&ai), json!({})),
        json!({"mode": "followup", "cap": 100, "drop": "new"}),
    ));
    wait_status(&gw, Duration::from_secs(60), "1000 pending", |a| {
        a["pendingInbound"] == 1000
    })
    .await;
    let at_cap = tg.get_updates_calls();
    // Whichever comes first: the channel reports the paused backlog, or it re-polls 20
    // times (a hot loop).
    let mut paused = false;
    let deadline = Instant::now() + SLOW;
    while Instant::now() < deadline {
        if tg.get_updates_calls() >= at_cap + 20 {
            break;
        }
        if channel_status(&gw).await["backlogFull"] == true {
            paused = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let polls = tg.get_updates_calls() - at_cap;
    assert!(
        paused,
        "backlogFull never reported; {polls} getUpdates calls at the cap"
    );
    assert!(polls <= 2, "{polls} getUpdates calls while at the cap");
    assert_eq!(
        tg.pending_updates(),
        12,
        "the rest stays unconfirmed at Telegram"
    );

    // Delivering the one reply frees a slot: one poll takes one more update, then it pauses.
    tg.hold_send_responses(false);
    let acc = wait_status(&gw, SLOW, "the freed slot taken again", |a| {
        a["lastOutboundAtMs"].is_u64() && a["pendingInbound"] == 1000 && a["backlogFull"] == true
    })
    .await;
    let polls = tg.get_updates_calls() - at_cap;
    assert!(polls <= 3, "{polls} getUpdates calls: {acc}");
    assert_eq!(tg.sent().len(), 1, "{:?}", tg.sent());
}

// === 13. crashes at the edges of at-least-once ===

/// SIGKILL after `getUpdates` handed an update over but before its state write succeeded
/// (held there deterministically: a file stands where the state directory must be, so the
/// write fails and the channel retries it). The message is handed to the agent at once (the
/// model call overlaps the write), but while saves fail its reply is held and the update
/// stays unconfirmed at Telegram. After the restart it is answered once, with the answer
/// the transcript recorded (the model is not asked again).
#[actix_web::test]
async fn sigkill_between_get_updates_and_the_state_write_loses_nothing() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // The answer comes well after the failed write (which fails at once).
    ai.push(FakeReply::text("ok").delayed(Duration::from_millis(500)));
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    tg.wait_polls_async(1, Duration::from_secs(10)).await;
    let blocker = gw.dir.path().join("channels/telegram");
    std::fs::create_dir_all(gw.dir.path().join("channels")).expect("mkdir channels");
    std::fs::write(&blocker, "not a directory").expect("write the blocking file");

    let a = dm(&tg, 7401, "survive the crash");
    let acc = wait_status(&gw, SLOW, "the failed state write", |acc| {
        acc["lastError"].as_str().is_some_and(|e| {
            e.starts_with("state not saved, updates left unconfirmed at Telegram: ")
        })
    })
    .await;
    let err = acc["lastError"].as_str().unwrap_or_default();
    assert!(
        err.ends_with(
            "Fix: a file stands where the state directory needs a directory: move it away"
        ),
        "{acc}"
    );
    assert_eq!(acc["pendingInbound"], 1, "kept in memory: {acc}");
    let acc = wait_status(&gw, SLOW, "the reply held", |acc| acc["repliesHeld"] == 1).await;
    assert!(
        acc["lastError"]
            .as_str()
            .is_some_and(|e| e.starts_with("state not saved")),
        "{acc}"
    );
    assert_eq!(ai.request_count(), 1, "handed over at once");
    assert!(tg.sent().is_empty(), "{:?}", tg.sent());
    assert_eq!(tg.pending_updates(), 1, "still unconfirmed at Telegram");
    assert_healthy(&gw).await;

    let mut gw = gw;
    let dir = gw.take_dir();
    drop(gw); // SIGKILL
    std::fs::remove_file(dir.path().join("channels/telegram")).expect("remove the blocker");
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], None);
    let r = wait_reply(&tg, a, SLOW).await;
    assert_eq!(r.text(), "ok");
    all_answered(&gw, &tg).await;
    assert_eq!(replies_to(&tg, a).len(), 1, "{:?}", tg.sent());
    assert_eq!(ai.request_count(), 1, "the recorded answer was sent");
}

/// Saves fail for a while, then work again without a restart: the held reply goes out once
/// the state is on disk, the update is confirmed only then, and the error clears.
#[actix_web::test]
async fn a_held_reply_goes_out_once_the_state_can_be_saved_again() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.push(FakeReply::text("ok").delayed(Duration::from_millis(500)));
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    tg.wait_polls_async(1, Duration::from_secs(10)).await;
    let blocker = gw.dir.path().join("channels/telegram");
    std::fs::create_dir_all(gw.dir.path().join("channels")).expect("mkdir channels");
    std::fs::write(&blocker, "not a directory").expect("write the blocking file");

    let a = dm(&tg, 7403, "wait for the disk");
    wait_status(&gw, SLOW, "the reply held", |acc| acc["repliesHeld"] == 1).await;
    assert!(tg.sent().is_empty(), "{:?}", tg.sent());
    assert_eq!(tg.pending_updates(), 1, "still unconfirmed at Telegram");

    std::fs::remove_file(&blocker).expect("remove the blocker");
    let r = wait_reply(&tg, a, SLOW).await;
    assert_eq!(r.text(), "ok");
    all_answered(&gw, &tg).await;
    let state = wait_state_file(&gw, "the answered message saved", |v| {
        v["pending"] == json!([])
    })
    .await;
    assert!(state["offset"].as_i64().is_some_and(|o| o > 0), "{state}");
    let acc = wait_status(&gw, SLOW, "the error cleared", |acc| {
        acc["lastError"].is_null() && acc["repliesHeld"] == 0
    })
    .await;
    assert_eq!(acc["running"], true, "{acc}");
    assert_eq!(replies_to(&tg, a).len(), 1, "{:?}", tg.sent());
    assert_eq!(ai.request_count(), 1);
}

/// SIGKILL after Telegram accepted a reply but before the gateway learnt it (the fake holds
/// the `sendMessage` answer): the message is still pending, so after the restart it runs
/// again and the reply is sent a second time — at-least-once, as the README says (the rerun
/// sends the answer recorded in the transcript; see also `soak.rs`).
#[actix_web::test]
async fn sigkill_between_send_message_and_the_pending_drop_sends_the_reply_again() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    tg.hold_send_responses(true);
    let a = dm(&tg, 7402, "reply at least once");
    wait_reply(&tg, a, SLOW).await;
    assert_eq!(channel_status(&gw).await["pendingInbound"], 1);
    // The answer's line is written alongside the reply (not before it): the kill comes
    // once it is there, the window this test is about.
    crate::soak::answer_recorded(gw.dir.path()).await;

    let mut gw = gw;
    let dir = gw.take_dir();
    drop(gw); // SIGKILL while the sendMessage answer is held
    tg.hold_send_responses(false);
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], None);
    all_answered(&gw, &tg).await;
    let replies = replies_to(&tg, a);
    assert_eq!(
        replies.len(),
        2,
        "sent again after the crash: {:?}",
        tg.sent()
    );
    assert_eq!(replies[0].text(), "ok");
    assert_eq!(replies[1].text(), "ok");
    // The rerun found its answer in the transcript: the model is not asked twice.
    assert_eq!(ai.request_count(), 1, "the recorded answer was sent again");
}

// === 14. Bot API refusals ===

#[actix_web::test]
async fn get_updates_429_waits_retry_after() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    tg.wait_polls_async(1, Duration::from_secs(10)).await;
    tg.fail_next_on(
        "getUpdates",
        1,
        429,
        json!({"ok": false, "error_code": 429,
               "description": "Too Many Requests: retry after 2",
               "parameters": {"retry_after": 2}}),
    );
    let acc = wait_status(&gw, SLOW, "the 429 in the status", |acc| {
        acc["lastError"] == "telegram rate limit: retry after 2s"
    })
    .await;
    let (at, retry) = (acc["lastErrorAtMs"].as_u64(), acc["retryAtMs"].as_u64());
    assert!(
        at.zip(retry).is_some_and(|(at, retry)| retry >= at + 2000),
        "retry scheduled after retry_after: {acc}"
    );
    // The next call comes after at least retry_after (a lower bound: never flaky).
    let failed_at = tg.get_updates_failure_times()[0];
    poll_until(SLOW, "the retried getUpdates", || {
        tg.get_updates_times().into_iter().find(|t| *t > failed_at)
    })
    .await;
    let next = tg
        .get_updates_times()
        .into_iter()
        .find(|t| *t > failed_at)
        .expect("a later call");
    assert!(
        next.duration_since(failed_at) >= Duration::from_millis(1900),
        "retried after {:?}",
        next.duration_since(failed_at)
    );
    // And it works again.
    let m = dm(&tg, 7501, "after the rate limit");
    wait_reply(&tg, m, SLOW).await;
    let acc = channel_status(&gw).await;
    assert_eq!(acc["lastError"], Value::Null, "{acc}");
    assert_eq!(acc["consecutiveFailures"], 0, "{acc}");
}

#[actix_web::test]
async fn get_updates_401_reports_the_token_and_backs_off() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    tg.wait_polls_async(1, Duration::from_secs(10)).await;
    tg.fail_next_on(
        "getUpdates",
        1,
        401,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
    );
    let acc = wait_status(&gw, SLOW, "the 401 in the status", |acc| {
        acc["running"] == false
    })
    .await;
    assert_eq!(
        acc["lastError"],
        "telegram rejected the bot token: Unauthorized. Fix: set channels.telegram.botToken to a token from @BotFather (an edit of the config file applies without a restart)",
        "{acc}"
    );
    let (at, retry) = (acc["lastErrorAtMs"].as_u64(), acc["retryAtMs"].as_u64());
    assert!(
        at.zip(retry)
            .is_some_and(|(at, retry)| retry >= at + 60_000),
        "next attempt in a minute or more: {acc}"
    );
    // No retry yet: the failed call is the last one.
    let failed = tg.get_updates_failure_times();
    assert_eq!(failed.len(), 1);
    assert!(
        tg.get_updates_times().iter().all(|t| *t <= failed[0]),
        "no getUpdates after the 401"
    );
    let health = admin(&gw).await.request("health", json!({})).await;
    assert_eq!(health["payload"]["channelsHealthy"], false, "{health}");
}

#[actix_web::test]
async fn get_updates_409_conflict_backs_off() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    tg.wait_polls_async(1, Duration::from_secs(10)).await;
    tg.fail_next_on(
        "getUpdates",
        1,
        409,
        json!({"ok": false, "error_code": 409,
               "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}),
    );
    let acc = wait_status(&gw, SLOW, "the 409 in the status", |acc| {
        acc["lastError"]
            .as_str()
            .is_some_and(|e| e.starts_with("telegram conflict: "))
    })
    .await;
    assert_eq!(
        acc["lastError"],
        "telegram conflict: Conflict: terminated by other getUpdates request; make sure that only one bot instance is running. Fix: stop the other program polling with this bot token, or remove its webhook",
        "{acc}"
    );
    let (at, retry) = (acc["lastErrorAtMs"].as_u64(), acc["retryAtMs"].as_u64());
    assert!(
        at.zip(retry)
            .is_some_and(|(at, retry)| retry >= at + 10_000),
        "next attempt in 10 s or more: {acc}"
    );
    let failed = tg.get_updates_failure_times();
    assert_eq!(failed.len(), 1);
    assert!(
        tg.get_updates_times().iter().all(|t| *t <= failed[0]),
        "no getUpdates right after the 409"
    );
}

/// A chat that blocked the bot: the reply fails with 403 once, the message is dropped from
/// the pending list (not retried, not after a restart either) and the error is recorded.
#[actix_web::test]
async fn a_chat_that_blocked_the_bot_is_not_retried() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    tg.fail_next_on(
        "sendMessage",
        1,
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    );
    dm(&tg, 7601, "then I block you");
    let acc = wait_status(&gw, SLOW, "the dropped message", |acc| {
        acc["lastDeliveryError"].is_string() && acc["pendingInbound"] == 0
    })
    .await;
    assert_eq!(
        acc["lastDeliveryError"],
        "chat 7601: telegram error 403: Forbidden: bot was blocked by the user (message dropped)",
        "{acc}"
    );
    assert_eq!(tg.calls("sendMessage"), 1);
    assert!(tg.sent().is_empty());
    // Not on disk either: a restart does not try again.
    wait_state_file(&gw, "no pending message", |v| v["pending"] == json!([])).await;
    let gw = restart(gw);
    all_answered(&gw, &tg).await;
    assert_eq!(tg.calls("sendMessage"), 1);
    assert_eq!(ai.request_count(), 1);
}

// === 15. unwritable state ===

/// A file where the Telegram state directory must be, from the start: the gateway runs,
/// the channel reports the problem and polls nothing (so no update is confirmed, none is
/// lost), and recovers once the path is fixed.
#[actix_web::test]
async fn unreadable_channel_state_at_start_reports_and_recovers() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let dir = tempfile::tempdir().expect("state dir");
    std::fs::create_dir_all(dir.path().join("channels")).expect("mkdir channels");
    std::fs::write(dir.path().join("channels/telegram"), "in the way").expect("blocker");
    let a = dm(&tg, 7701, "waiting for you");
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&config(&tg, Some(&ai), json!({}))));
    let acc = wait_status(&gw, SLOW, "the state error", |acc| {
        acc["lastError"].is_string()
    })
    .await;
    let err = acc["lastError"].as_str().unwrap_or_default();
    assert!(
        err.starts_with("cannot read ")
            && err.contains("channels/telegram/default.json: Not a directory"),
        "{acc}"
    );
    assert!(
        err.ends_with("Fix: make the state directory readable and writable (a file may be in the way of a directory)"),
        "{acc}"
    );
    assert_eq!(acc["running"], false, "{acc}");
    assert_eq!(
        tg.get_updates_calls(),
        0,
        "nothing confirmed while the state is unreadable"
    );
    assert_eq!(tg.pending_updates(), 1);
    assert_healthy(&gw).await;

    std::fs::remove_file(gw.dir.path().join("channels/telegram")).expect("remove the blocker");
    let r = wait_reply(&tg, a, Duration::from_secs(30)).await;
    assert_eq!(r.text(), "ok");
    all_answered(&gw, &tg).await;
    let acc = channel_status(&gw).await;
    assert_eq!(acc["running"], true, "{acc}");
    assert_eq!(acc["lastError"], Value::Null, "{acc}");
}

/// `chat.abort` on a Telegram session: the aborted messages (running and queued) get no
/// reply and leave the pending list, so they neither wait forever nor run after a restart.
#[actix_web::test]
async fn aborted_telegram_runs_leave_the_pending_list() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.push(FakeReply::text("never").delayed(Duration::from_secs(100)));
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    dm(&tg, 7801, "first, hangs");
    dm(&tg, 7801, "second, queued");
    ai.wait_requests_async(1, SLOW).await;
    wait_status(&gw, SLOW, "two pending", |a| a["pendingInbound"] == 2).await;
    let res = admin(&gw)
        .await
        .request(
            "chat.abort",
            json!({"sessionKey": "agent:main:telegram:direct:7801"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"]["runIds"].as_array().map(Vec::len),
        Some(2),
        "{res}"
    );
    all_answered(&gw, &tg).await;
    assert!(
        tg.sent().is_empty(),
        "no reply to aborted runs: {:?}",
        tg.sent()
    );
    wait_state_file(&gw, "no pending message", |v| v["pending"] == json!([])).await;
    let gw = restart(gw);
    all_answered(&gw, &tg).await;
    assert_eq!(ai.request_count(), 1, "nothing ran again after the restart");
    assert!(tg.sent().is_empty(), "{:?}", tg.sent());
}

/// "typing…" (`agents.defaults.typingMode` / `typingIntervalSeconds`): shown half a second
/// after a message is handed to the agent (not at all for a faster answer), refreshed while
/// the model thinks, stopped by the answer; `typingMode: "never"` (a hot config edit) turns
/// it off.
#[actix_web::test]
async fn chats_see_typing_until_the_answer_arrives() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("config is JSON");
    cfg["agents"]["defaults"]["typingIntervalSeconds"] = json!(1);
    let gw = start_gateway(&cfg.to_string());
    let of = |chat: i64| -> Vec<(Instant, Value)> {
        tg.chat_actions()
            .into_iter()
            .filter(|(_, b)| b["chat_id"] == chat)
            .collect()
    };
    ai.push(FakeReply::text("a slow answer").delayed(Duration::from_millis(2500)));
    let first = dm(&tg, 5401, "think hard");
    let answer = wait_reply(&tg, first, SLOW).await;
    let typed = of(5401);
    assert!(
        typed.len() >= 2,
        "typing at once, then refreshed: {typed:?}"
    );
    assert!(
        typed.iter().all(|(_, b)| b["action"] == "typing"),
        "{typed:?}"
    );
    assert!(typed[0].0 < answer.at, "typing before the answer");

    // While another chat waits 2.5 s for its answer, the first one types no more (one
    // refresh may have been on its way as the answer went out).
    // An answer faster than the first indicator (a chat command) costs no request.
    let quick = dm(&tg, 5404, "/whoami");
    wait_reply(&tg, quick, SLOW).await;
    ai.push(FakeReply::text("another slow answer").delayed(Duration::from_millis(2500)));
    let second = dm(&tg, 5402, "and you?");
    let other = wait_reply(&tg, second, SLOW).await;
    let after = of(5401).iter().filter(|(at, _)| *at > answer.at).count();
    assert!(after <= 1, "{after} typing actions after the answer");
    assert!(of(5404).is_empty(), "{:?}", of(5404));
    assert!(of(5402).len() >= 2);
    assert!(other.at > answer.at);

    // Off by a config edit.
    cfg["agents"]["defaults"]["typingMode"] = json!("never");
    crate::support::replace_file(&gw.config_path(), &cfg.to_string());
    gw.wait_stderr_line(
        &["config reloaded from", "agents.defaults.typingMode"],
        Duration::from_secs(10),
    );
    ai.push(FakeReply::text("quiet").delayed(Duration::from_millis(1500)));
    let third = dm(&tg, 5403, "no typing please");
    wait_reply(&tg, third, SLOW).await;
    assert!(of(5403).is_empty(), "{:?}", of(5403));
}

/// A state directory written for one bot: switching the account to another bot's token,
/// or to the same bot's reissued token, must not lend it the old `getUpdates` offset
/// (Telegram would drop every update of the new bot as confirmed, silently: OpenClaw's
/// issue #11969). The state records the bot id and a token fingerprint, never the token.
#[actix_web::test]
async fn a_new_bot_token_does_not_inherit_the_old_bots_update_offset() {
    let old = FakeTelegram::start("111111:old-bot-SECRET-token");
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&old, None, json!({}))));
    // The old bot's update ids are high.
    let msg = old.message(4501, 4501, "/whoami");
    let id = msg.message_id;
    old.push_raw(json!({"update_id": 900_000, "message": msg}));
    wait_reply(&old, id, SLOW).await;
    old.wait_offset_async(900_001, SLOW).await;
    let mut gw = gw;
    let dir = gw.take_dir();
    drop(gw);
    let state_file = dir.path().join("channels/telegram/default.json");
    let state = std::fs::read_to_string(&state_file).expect("the account's state");
    let v: Value = serde_json::from_str(&state).expect("JSON");
    assert_eq!(
        (&v["botId"], &v["offset"]),
        (&json!(111111), &json!(900_001)),
        "{v}"
    );
    assert_eq!(
        v["tokenFingerprint"].as_str().map(str::len),
        Some(16),
        "{v}"
    );
    assert!(!state.contains("SECRET"), "{state}");

    // Another bot, whose update ids start far lower.
    let new = FakeTelegram::start("222222:new-bot-SECRET-token");
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&config(&new, None, json!({}))));
    let id = dm(&new, 4501, "/whoami");
    assert!(!wait_reply(&new, id, SLOW).await.text().is_empty());
    let logs = gw.stdout() + &gw.stderr();
    assert!(logs.contains("another bot's (111111 → 222222)"), "{logs}");
    assert!(!logs.contains("SECRET"), "no token in the log");

    // The same bot with a reissued token: its update ids start over here too.
    let mut gw = gw;
    let dir = gw.take_dir();
    drop(gw);
    let reissued = FakeTelegram::start("222222:reissued-SECRET-token");
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&config(&reissued, None, json!({}))));
    let id = dm(&reissued, 4501, "/whoami");
    assert!(!wait_reply(&reissued, id, SLOW).await.text().is_empty());
    assert!(
        (gw.stdout() + &gw.stderr()).contains("the bot token changed (same bot)"),
        "{}",
        gw.stderr()
    );
}

/// `channels.stop` / `channels.start` (OpenClaw's non-destructive per-account recovery,
/// called with `openclaw gateway call`): a stopped account takes no updates — a message
/// sent meanwhile waits at Telegram — and keeps its state; started again, it answers that
/// message exactly once. Refusals name the problem; only an admin may.
#[actix_web::test]
async fn an_operator_stops_and_starts_the_telegram_account() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let m = dm(&tg, 8801, "/whoami");
    wait_reply(&tg, m, SLOW).await;
    let mut op = admin(&gw).await;

    let res = op
        .request("channels.stop", json!({"channel": "telegram"}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"],
        json!({"channel": "telegram", "accountId": "default", "stopped": true})
    );
    let acc = wait_status(&gw, SLOW, "the account stopped", |a| {
        a["running"] == false && a["manualStop"] == true
    })
    .await;
    assert!(acc["lastError"].is_null(), "a stop is not an error: {acc}");
    // Stopping again changes nothing.
    let again = op
        .request(
            "channels.stop",
            json!({"channel": "telegram", "accountId": "default"}),
        )
        .await;
    assert_eq!(again["payload"]["stopped"], true, "{again}");

    // A message sent while stopped waits at Telegram.
    let waiting = dm(&tg, 8801, "/whoami");
    let _ = channel_status(&gw).await;
    assert!(
        replies_to(&tg, waiting).is_empty(),
        "not answered while stopped"
    );

    let res = op
        .request("channels.start", json!({"channel": "Telegram"}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"]["outcome"],
        json!({"status": "handed-off"}),
        "{res}"
    );
    assert_eq!(res["payload"]["accountId"], "default");
    wait_reply(&tg, waiting, SLOW).await;
    wait_status(&gw, SLOW, "the account running", |a| {
        a["running"] == true && a.get("manualStop").is_none()
    })
    .await;
    all_answered(&gw, &tg).await;
    assert_eq!(replies_to(&tg, waiting).len(), 1, "answered once");
    // Starting a running account: OpenClaw's `task-owned`.
    let res = op
        .request("channels.start", json!({"channel": "telegram"}))
        .await;
    assert_eq!(
        res["payload"]["outcome"],
        json!({"status": "retry", "reason": "task-owned"}),
        "{res}"
    );
    assert_eq!(res["payload"]["started"], true, "{res}");

    for (method, params, needle) in [
        (
            "channels.stop",
            json!({}),
            "must have required property 'channel'",
        ),
        (
            "channels.stop",
            json!({"channel": " "}),
            "channel must NOT be empty",
        ),
        (
            "channels.stop",
            json!({"channel": "whatsapp"}),
            "unknown channel \"whatsapp\"",
        ),
        (
            "channels.start",
            json!({"channel": "telegram", "accountId": "work"}),
            "telegram has no account \"work\" (configured: default)",
        ),
        (
            "channels.start",
            json!({"channel": "telegram", "force": true}),
            "additional properties ('force')",
        ),
    ] {
        let res = op.request(method, params.clone()).await;
        assert_eq!(res["ok"], false, "{params}: {res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{params}: {msg}");
    }
    let (mut writer, _) = WsClient::hello(
        gw.port,
        cli_params(GW_TOKEN, &["operator.read", "operator.write"]),
    )
    .await;
    let res = writer
        .request("channels.stop", json!({"channel": "telegram"}))
        .await;
    assert!(
        res["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("operator.admin")),
        "{res}"
    );
    assert_eq!(channel_status(&gw).await["running"], true);
}

/// `channels.telegram.groups` as OpenClaw has it: the map is the group allowlist (by chat
/// id, or `"*"`), each group with its `requireMention`, `groupPolicy` and `allowFrom`
/// (default `groupAllowFrom`, else `allowFrom`), forum topics over their group; a change
/// applies hot. A message taken without a mention gets no 👀 under `group-mentions`.
#[actix_web::test]
async fn the_groups_map_decides_groups_senders_and_mentions() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let groups = json!({
        "-8100": {"requireMention": false},
        "-8200": {"groupPolicy": "open"},
        "-8300": {"requireMention": false, "allowFrom": [8003],
                  "topics": {"7": {"requireMention": true}, "*": {"enabled": false}}},
    });
    let telegram = |groups: &Value| {
        json!({"dmPolicy": "allowlist", "allowFrom": [8001], "historyLimit": 0,
               "groups": groups})
    };
    // At info level, to see the line naming an unlisted group.
    let gw = TestGateway::start(
        GW_ARGS,
        &[("RUST_LOG", "info")],
        Some(&config(&tg, Some(&ai), telegram(&groups))),
    );
    // Pushes a group message (in a topic, with a mention); its message id.
    let group = |chat: i64, from: i64, thread: Option<i64>, text: &str, mention: bool| {
        let mut m = tg.message(chat, from, text);
        m.message_thread_id = thread;
        if mention {
            m.entities = Some(crate::support::fake_telegram::entities_for(text));
        }
        let id = m.message_id;
        tg.push_message(m);
        id
    };

    let plain_owner = group(-8100, 8001, None, "plain hello", false);
    let plain_stranger = group(-8100, 8002, None, "plain from a stranger", false);
    let open_plain = group(-8200, 8002, None, "plain in the open group", false);
    let open_mention = group_mention(&tg, -8200, 8002, "@openclaw_test_bot hi there");
    let unlisted = group_mention(&tg, -8400, 8001, "@openclaw_test_bot anyone?");
    let unlisted_again = group_mention(&tg, -8400, 8001, "@openclaw_test_bot hello?");
    let topic_plain = group(-8300, 8003, Some(7), "plain in topic 7", false);
    let topic_mention = group(-8300, 8003, Some(7), "@openclaw_test_bot in topic 7", true);
    let other_topic = group(-8300, 8003, Some(9), "@openclaw_test_bot in topic 9", true);
    let general = group(-8300, 8003, None, "plain in the general chat", false);
    let wrong_sender = group(-8300, 8001, None, "the owner, not listed here", false);

    for id in [plain_owner, open_mention, topic_mention, general] {
        wait_reply(&tg, id, SLOW).await;
    }
    all_answered(&gw, &tg).await;
    for id in [
        plain_stranger,
        open_plain,
        unlisted,
        unlisted_again,
        topic_plain,
        other_topic,
        wrong_sender,
    ] {
        assert!(replies_to(&tg, id).is_empty(), "{id}: {:?}", tg.sent());
    }
    assert_eq!(tg.sent().len(), 4, "{:?}", tg.sent());
    // The unlisted group is named once, with what to add.
    let named = "group -8400 is not in channels.telegram.groups, so the bot ignores it; add \"-8400\" there";
    assert_eq!(gw.stderr().matches(named).count(), 1, "{}", gw.stderr());
    let texts: Vec<String> = ai.requests().iter().map(last_user_text).collect();
    assert!(texts.contains(&"plain hello".to_owned()), "{texts:?}");
    // 👀 only on the messages that addressed the bot (OpenClaw's group-mentions).
    let reacted = || (tg.reactions().len() >= 2).then_some(());
    poll_until(SLOW, "the reactions", reacted).await;
    let mut on: Vec<i64> = tg.reactions().iter().map(|r| r.1).collect();
    on.sort_unstable();
    let mut want = vec![open_mention, topic_mention];
    want.sort_unstable();
    assert_eq!(on, want, "{:?}", tg.reactions());

    // Hot: -8100 leaves the map; its messages are no longer answered.
    let mut fewer = groups.clone();
    fewer.as_object_mut().map(|g| g.remove("-8100"));
    crate::support::replace_file(&gw.config_path(), &config(&tg, Some(&ai), telegram(&fewer)));
    gw.wait_stderr_line(
        &["config reloaded from", "channels.telegram.groups"],
        Duration::from_secs(10),
    );
    let gone = group(-8100, 8001, None, "still there?", false);
    let check = group_mention(&tg, -8200, 8002, "@openclaw_test_bot after the reload");
    wait_reply(&tg, check, SLOW).await;
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, gone).is_empty(), "{:?}", tg.sent());
}

#[test]
fn a_groups_map_the_gateway_cannot_read_refuses_to_start() {
    let tg = FakeTelegram::start(TG_TOKEN);
    for (groups, want) in [
        (
            json!({"general": {}}),
            "channels.telegram.groups: \"general\" is not a group chat id",
        ),
        (
            json!({"-1": {"allowFrom": ["bob"]}}),
            "channels.telegram.groups.-1.allowFrom holds an entry that is not a numeric Telegram user id",
        ),
        (
            json!({"-1": {"groupPolicy": "friends"}}),
            "channels.telegram.groups.-1.groupPolicy is \"friends\"",
        ),
        (
            json!({"-1": {"topics": {"news": {}}}}),
            "channels.telegram.groups.-1.topics.news: \"news\" is not a forum topic id",
        ),
    ] {
        let home = CliHome::with_config(&config(&tg, None, json!({"groups": groups})));
        let out = home.run(GW_ARGS, &[]);
        assert_eq!(out.code, Some(78), "{want}: {out:?}");
        assert!(out.stderr.contains(want), "{want}: {}", out.stderr);
        assert!(out.stderr.contains("Fix:"), "{}", out.stderr);
    }
}

/// `messages.groupChat.mentionPatterns`: a group message matching one (case-insensitive)
/// addresses the bot as an @mention would; a pattern this engine cannot use is skipped
/// with a warning naming it, and the gateway runs.
#[actix_web::test]
async fn mention_patterns_address_the_bot_in_groups() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value = serde_json::from_str(&config(
        &tg,
        Some(&ai),
        json!({"groupPolicy": "open", "historyLimit": 0}),
    ))
    .expect("config is JSON");
    cfg["messages"]["groupChat"] = json!({"mentionPatterns": [r"\bclaw\b", "(?<=a)b"]});
    cfg["messages"]["queue"] = json!({"mode": "followup"});
    let gw = start_gateway(&cfg.to_string());
    let plain = |text: &str| group_text(&tg, -9100, 9101, text);
    let named = plain("Hey CLAW, what's the tide?");
    let not_a_word = plain("the cat clawed the sofa");
    let after = plain("claw\u{200b} again");
    wait_reply(&tg, named, SLOW).await;
    wait_reply(&tg, after, SLOW).await;
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, not_a_word).is_empty(), "{:?}", tg.sent());
    let texts: Vec<String> = ai.requests().iter().map(last_user_text).collect();
    assert_eq!(texts[0], "Hey CLAW, what's the tide?", "kept as written");
    assert!(
        gw.stderr()
            .contains("messages.groupChat.mentionPatterns[1] is not a pattern openclaw-rs can use"),
        "{}",
        gw.stderr()
    );
}

/// OpenClaw's identity defaults: without `messages.groupChat.mentionPatterns`, a group
/// message naming the group's agent (`identity.name` as a word, any case) or carrying its
/// `identity.emoji` addresses the bot, and that emoji is the ack reaction when no
/// `ackReaction` is configured. The agent a group is bound to decides: its own
/// `groupChat.mentionPatterns` win over everything; an explicit empty global list turns the
/// derived ones off.
#[actix_web::test]
async fn an_agents_identity_names_it_in_groups_and_gives_its_ack_emoji() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value = serde_json::from_str(&config(
        &tg,
        Some(&ai),
        json!({"groupPolicy": "open", "historyLimit": 0}),
    ))
    .expect("config is JSON");
    cfg["messages"]["queue"] = json!({"mode": "followup"});
    cfg["agents"]["entries"] = json!({
        "main": {"default": true, "identity": {"name": "Clawd", "emoji": "🔥"}},
        "ops": {"identity": {"name": "Opsy"}, "groupChat": {"mentionPatterns": ["\\bpager\\b"]}},
        "tiny": {"identity": {"name": "Al"}},
    });
    cfg["bindings"] = json!([
        {"agentId": "ops", "match": {"channel": "telegram", "peer": {"kind": "group", "id": "-9300"}}},
    ]);
    // OpenClaw's scope: no patterns in this group (ids as numbers or strings).
    cfg["channels"]["telegram"]["mentionPatterns"] = json!({"denyIn": [-9400, "-9401:topic:7"]});
    let gw = start_gateway(&cfg.to_string());
    let plain = |chat: i64, text: &str| group_text(&tg, chat, 9301, text);
    // The main agent's group: its name and its emoji; not a longer word.
    let named = plain(-9200, "CLAWD, what's the tide?");
    let emoji = plain(-9200, "🔥 tide?");
    let longer = plain(-9200, "clawdia says hi");
    // The ops group: only its own pattern (not its name, not main's).
    let paged = plain(-9300, "pager: disk full");
    let other_name = plain(-9300, "opsy, hello");
    let main_name = plain(-9300, "clawd, hello");
    let scoped_out = plain(-9400, "clawd, hello");
    for m in [named, emoji, paged] {
        wait_reply(&tg, m, SLOW).await;
    }
    all_answered(&gw, &tg).await;
    for m in [longer, other_name, main_name, scoped_out] {
        assert!(replies_to(&tg, m).is_empty(), "{m}: {:?}", tg.sent());
    }
    let reactions = tg.reactions();
    assert!(
        reactions.contains(&(-9200, named, "🔥".to_owned())),
        "{reactions:?}"
    );
    assert!(
        reactions.contains(&(-9300, paged, "👀".to_owned())),
        "{reactions:?}"
    );
    // A name that is a common word is named at start, with the fix.
    assert!(
        gw.stderr()
            .contains("agents.entries.tiny.identity.name \"Al\" is short"),
        "{}",
        gw.stderr()
    );
    drop(gw);

    // An explicit empty list: no patterns at all for agents without their own.
    let tg = FakeTelegram::start(TG_TOKEN);
    cfg["channels"]["telegram"]["apiRoot"] = json!(tg.api_root());
    cfg["messages"]["groupChat"] = json!({"mentionPatterns": []});
    let gw = start_gateway(&cfg.to_string());
    let ignored = group_text(&tg, -9200, 9301, "clawd, anyone?");
    let own = group_text(&tg, -9300, 9301, "pager again");
    wait_reply(&tg, own, SLOW).await;
    all_answered(&gw, &tg).await;
    assert!(replies_to(&tg, ignored).is_empty(), "{:?}", tg.sent());
}

/// `linkPreview: false`: the bot's messages go without a link preview
/// (`link_preview_options.is_disabled`); by default Telegram shows one.
#[actix_web::test]
async fn link_previews_can_be_turned_off() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({"linkPreview": false})));
    ai.push_text("see https://example.com/tides");
    let m = dm(&tg, 9201, "where?");
    let r = wait_reply(&tg, m, SLOW).await;
    assert_eq!(
        r.body["link_preview_options"],
        json!({"is_disabled": true}),
        "{:?}",
        r.body
    );
    drop(gw);
    let tg = FakeTelegram::start(TG_TOKEN);
    let _gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    ai.push_text("see https://example.com/tides");
    let m = dm(&tg, 9201, "where?");
    let r = wait_reply(&tg, m, SLOW).await;
    assert!(r.body.get("link_preview_options").is_none(), "{:?}", r.body);
}

/// OpenClaw's response prefix: `messages.responsePrefix` before every answer (its
/// variables filled from the run), never before a command's answer; an operator's `send`
/// gets it only when it fills from what a send knows (the identity name); the channel's
/// own `responsePrefix` wins (`"auto"`: `[identity.name]`, `""`: none).
#[actix_web::test]
async fn the_response_prefix_goes_before_answers_only() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("config is JSON");
    cfg["messages"]["responsePrefix"] = json!("🐚 [{MODEL}|{provider}|{think}|{nope}]");
    let gw = start_gateway(&cfg.to_string());
    ai.push_text("Tide is high.");
    let m = dm(&tg, 9301, "tide?");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "🐚 [flow-model|fake|off|{nope}] Tide is high."
    );
    let status = dm(&tg, 9301, "/status");
    let status = wait_reply(&tg, status, SLOW).await;
    assert!(!status.text().contains("🐚"), "{}", status.text());
    // An operator's `send` of `message` to `to`, as the chat sees it.
    let send = async |gw: &TestGateway, to: &str, message: &str, seen: &str| {
        let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, ALL_OPERATOR)).await;
        let res = op
            .request(
                "send",
                json!({"to": to, "message": message, "idempotencyKey": format!("prefix-{to}")}),
            )
            .await;
        assert_eq!(res["ok"], true, "{res}");
        poll_until(SLOW, &format!("the send RPC's message as {seen:?}"), || {
            tg.sent().into_iter().find(|s| s.text() == seen)
        })
        .await;
    };
    send(&gw, "9301", "plain note", "plain note").await;
    drop(gw);

    // The channel's "auto" wins over the global one, and fills a send too.
    cfg["channels"]["telegram"]["responsePrefix"] = json!("auto");
    cfg["agents"]["entries"] = json!({"main": {"identity": {"name": "Claw"}}});
    let gw = start_gateway(&cfg.to_string());
    ai.push_text("Low now.");
    let m = dm(&tg, 9302, "and now?");
    assert_eq!(wait_reply(&tg, m, SLOW).await.text(), "[Claw] Low now.");
    send(&gw, "9302", "a note", "[Claw] a note").await;
    drop(gw);

    // `""` on the channel turns it off whatever `messages` says.
    cfg["channels"]["telegram"]["responsePrefix"] = json!("");
    let gw = start_gateway(&cfg.to_string());
    ai.push_text("Plain.");
    let m = dm(&tg, 9303, "plain?");
    assert_eq!(wait_reply(&tg, m, SLOW).await.text(), "Plain.");
    drop(gw);
}
