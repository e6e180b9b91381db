//! Restarting the gateway process (`gateway.restart.preflight|request`, SIGUSR1, `openclaw
//! gateway restart`): the process comes back with the same id, port, generated token and
//! state; clients are told (`shutdown` with `restartExpectedMs`, close 1012); a restart
//! waits for a running agent turn; the wrong caller or target changes nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{CliHome, TestGateway, WsClient, cli_params, error_of};
use crate::telegram_flow::{GW_TOKEN, TG_TOKEN, config, start_gateway};

const ADMIN: &[&str] = &["operator.admin"];
/// An admin who also chats.
const ADMIN_RW: &[&str] = &["operator.admin", "operator.read", "operator.write"];
const LIMIT: Duration = Duration::from_secs(20);

/// Connects to `port` once the gateway listens again (bounded); the client and `hello-ok`.
pub(crate) async fn reconnect(port: u16, params: Value) -> (WsClient, Value) {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Ok(mut c) = WsClient::open_with(port, &[]).await {
            let first = c.next_json().await;
            if first["event"] == "connect.challenge" {
                let res = c.connect(params.clone()).await;
                if res["ok"] == true {
                    return (c, res["payload"].clone());
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not come back on port {port} within {LIMIT:?}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `system.info`'s process id and instance id.
pub(crate) async fn process_of(op: &mut WsClient) -> (u64, String) {
    let info = op.request("system.info", json!({})).await;
    assert_eq!(info["ok"], true, "{info}");
    let p = &info["payload"];
    (
        p["pid"].as_u64().unwrap_or_else(|| panic!("pid: {info}")),
        p["processInstanceId"]
            .as_str()
            .unwrap_or_else(|| panic!("processInstanceId: {info}"))
            .to_owned(),
    )
}

/// Waits for the `shutdown` event and the close that follows it.
pub(crate) async fn told_to_reconnect(c: &mut WsClient) -> Value {
    let ev = c.event_within("shutdown", LIMIT).await;
    let (code, _, _) = c.until_close().await;
    assert_eq!(code, Some(1012), "service restart close");
    ev["payload"].clone()
}

#[actix_web::test]
async fn a_restart_request_restarts_the_process_in_place_and_keeps_the_generated_token() {
    // No token configured: the generated one must survive the restart.
    let mut gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], None);
    let token_file = gw.dir.path().join("gateway").join("runtime-token");
    let token = std::fs::read_to_string(&token_file)
        .expect("runtime token written")
        .trim()
        .to_owned();
    let (mut op, _) = WsClient::hello(gw.port, cli_params(&token, ADMIN)).await;
    let (pid, instance) = process_of(&mut op).await;
    assert_eq!(pid, u64::from(gw.pid()));
    let (mut watcher, _) = WsClient::hello(gw.port, cli_params(&token, &["operator.read"])).await;

    // A reader may look at the preflight, not restart.
    let pre = watcher
        .request("gateway.restart.preflight", json!({}))
        .await;
    assert_eq!(pre["payload"]["safe"], true, "{pre}");
    assert_eq!(pre["payload"]["summary"], "safe to restart now", "{pre}");
    let denied = watcher
        .request("gateway.restart.request", json!({"reason": "no"}))
        .await;
    assert_eq!(
        error_of(&denied)["message"],
        "missing scope: operator.admin",
        "{denied}"
    );
    // A target that is not this gateway (another owner id) restarts nothing.
    let lock: Value = serde_json::from_slice(
        &std::fs::read(gw.owner_lock_path()).expect("the lock file is written"),
    )
    .expect("lock JSON");
    let wrong = op
        .request(
            "gateway.restart.request",
            json!({"target": {"pid": pid, "ownerId": "someone-else", "port": gw.port}}),
        )
        .await;
    assert_eq!(
        error_of(&wrong)["message"],
        "target gateway no longer owns the active lock",
        "{wrong}"
    );
    let malformed = op
        .request("gateway.restart.request", json!({"target": {"pid": "1"}}))
        .await;
    assert_eq!(
        error_of(&malformed)["message"],
        "invalid targeted gateway restart"
    );
    assert_eq!(process_of(&mut op).await.1, instance, "still the same run");

    // The right target: the CLI's plain `gateway restart` form.
    let res = op
        .request(
            "gateway.restart.request",
            json!({"reason": "it restart", "target": {"pid": pid, "ownerId": lock["ownerId"], "port": gw.port},
                   "restartIntent": {"waitMs": 1000}}),
        )
        .await;
    assert_eq!(
        res["payload"],
        json!({"ok": true, "status": "emitted", "pid": pid}),
        "{res}"
    );
    let said = told_to_reconnect(&mut watcher).await;
    assert_eq!(
        said,
        json!({"reason": "gateway restarting: it restart", "restartExpectedMs": 1500})
    );
    told_to_reconnect(&mut op).await;

    // Back on the same port, with the same token, in the same process, as a new run.
    let (mut op, _) = reconnect(gw.port, cli_params(&token, ADMIN)).await;
    let (pid2, instance2) = process_of(&mut op).await;
    assert_eq!(pid2, pid, "exec keeps the process id");
    assert_ne!(instance2, instance, "a new run of the gateway");
    assert!(gw.running(), "the process never exited");
    assert_eq!(
        std::fs::read_to_string(&token_file)
            .expect("token file written again")
            .trim(),
        token
    );
    assert!(
        !gw.dir
            .path()
            .join("gateway")
            .join("restart-handoff.json")
            .exists(),
        "the handoff is read once and removed"
    );
    let listening = gw
        .stdout()
        .lines()
        .filter(|l| l.starts_with("listening on ws://127.0.0.1:"))
        .count();
    assert_eq!(listening, 2, "{}", gw.stdout());

    // SIGUSR2 (OpenClaw's restart signal) does the same.
    gw.signal("USR2");
    let said = told_to_reconnect(&mut op).await;
    assert_eq!(said["reason"], "gateway restarting: SIGUSR2", "{said}");
    let (mut op, _) = reconnect(gw.port, cli_params(&token, ADMIN)).await;
    let (pid3, instance3) = process_of(&mut op).await;
    assert_eq!(pid3, pid);
    assert!(instance3 != instance && instance3 != instance2);

    // Our CLI: `openclaw gateway restart --force --json`.
    let cli = CliHome::new();
    let out = cli.run(
        &[
            "gateway",
            "restart",
            "--force",
            "--json",
            "--url",
            &gw.url(),
            "--token",
            &token,
        ],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["result"], "scheduled", "{out}");
    assert_eq!(v["restart"]["pid"], pid, "{out}");
    told_to_reconnect(&mut op).await;
    let (mut op, _) = reconnect(gw.port, cli_params(&token, ADMIN)).await;
    assert_eq!(process_of(&mut op).await.0, pid);

    // A plain stop still stops.
    gw.sigterm();
    assert!(gw.wait_exit(LIMIT).success());
}

#[actix_web::test]
async fn a_restart_waits_for_the_running_agent_turn_and_keeps_its_answer() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, ADMIN_RW)).await;
    ai.push(FakeReply::text("finished before the restart").delayed(Duration::from_secs(2)));
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "take your time", "idempotencyKey": "slow-1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    // The model has the request: the run is in progress.
    ai.wait_requests_async(1, LIMIT).await;

    let pre = op.request("gateway.restart.preflight", json!({})).await;
    assert_eq!(pre["payload"]["safe"], false, "{pre}");
    assert_eq!(pre["payload"]["counts"]["embeddedRuns"], 1, "{pre}");
    assert_eq!(
        pre["payload"]["blockers"][0]["kind"], "embedded-run",
        "{pre}"
    );
    let res = op
        .request(
            "gateway.restart.request",
            json!({"reason": "after the turn"}),
        )
        .await;
    assert_eq!(res["payload"]["status"], "deferred", "{res}");
    assert_eq!(
        res["payload"]["preflight"]["summary"], "restart deferred: 1 active embedded run(s)",
        "{res}"
    );
    assert_eq!(res["payload"]["restart"]["coalesced"], false, "{res}");
    // A second request joins the first.
    let again = op
        .request("gateway.restart.request", json!({"reason": "again"}))
        .await;
    assert_eq!(again["payload"]["status"], "coalesced", "{again}");

    // The turn finishes and is answered; only then the restart.
    let fin = crate::agent_rpc::chat_event(&mut op, "slow-1", "final").await;
    assert_eq!(
        fin["message"]["content"][0]["text"],
        "finished before the restart"
    );
    let said = told_to_reconnect(&mut op).await;
    assert_eq!(said["reason"], "gateway restarting: after the turn");

    let (mut op, _) = reconnect(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    let hist = op
        .request("chat.history", json!({"sessionKey": "main"}))
        .await;
    let msgs = hist["payload"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(msgs.len(), 2, "{hist}");
    assert_eq!(
        msgs[1]["content"][0]["text"], "finished before the restart",
        "{hist}"
    );
}

#[actix_web::test]
async fn restart_signals_follow_commands_restart() {
    // `commands.restart: false`: SIGUSR2 is logged and ignored, the run goes on.
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some("{commands: {restart: false}}"),
    );
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ADMIN)).await;
    let (_, instance) = process_of(&mut op).await;
    gw.signal("USR2");
    gw.wait_stderr_line(
        &["SIGUSR2 restart ignored", "commands.restart=false"],
        LIMIT,
    );
    assert_eq!(
        process_of(&mut op).await.1,
        instance,
        "the same run, same socket"
    );
    // Turned on again in the config file: applied without a restart, the next signal
    // restarts.
    crate::support::replace_file(&gw.config_path(), "{commands: {restart: true}}");
    gw.wait_stderr_line(&["config reloaded from", "commands.restart"], LIMIT);
    gw.signal("USR2");
    let said = told_to_reconnect(&mut op).await;
    assert_eq!(said["reason"], "gateway restarting: SIGUSR2", "{said}");
    let (mut op, _) = reconnect(gw.port, cli_params("T", ADMIN)).await;
    assert_ne!(process_of(&mut op).await.1, instance);

    // By default SIGUSR1 (what OpenClaw's CLI sends an unmanaged gateway) restarts it too.
    let gw = TestGateway::with_token("T");
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ADMIN)).await;
    let (pid, instance) = process_of(&mut op).await;
    gw.signal("USR1");
    let said = told_to_reconnect(&mut op).await;
    assert_eq!(said["reason"], "gateway restarting: SIGUSR1", "{said}");
    let (mut op, _) = reconnect(gw.port, cli_params("T", ADMIN)).await;
    let (pid2, instance2) = process_of(&mut op).await;
    assert_eq!(pid2, pid);
    assert_ne!(instance2, instance);
}

/// The owner's `/restart` from Telegram restarts the gateway once; a non-owner is told how
/// the operator would make them the owner; the `/restart` that comes back after the
/// restart (a pending message) is answered, not obeyed again.
#[actix_web::test]
async fn the_owners_restart_command_restarts_once_and_others_are_refused() {
    use crate::telegram_flow::{dm, poll_until, replies_to, wait_reply};
    let tg = FakeTelegram::start(TG_TOKEN);
    let mut cfg: Value = serde_json::from_str(&config(&tg, None, json!({}))).expect("config");
    cfg["commands"] = json!({"ownerAllowFrom": ["telegram:6501"]});
    let gw = start_gateway(&cfg.to_string());
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, ADMIN)).await;
    let (pid, instance) = process_of(&mut op).await;

    let theirs = dm(&tg, 6502, "/restart");
    let refused = wait_reply(&tg, theirs, LIMIT).await;
    assert_eq!(
        refused.text(),
        "You are not authorized to use this owner-only command. Ask the operator to run `openclaw config set commands.ownerAllowFrom '[\"telegram:6501\",\"telegram:6502\"]'` in a terminal to make this sender a command owner."
    );
    assert_eq!(process_of(&mut op).await.1, instance, "nothing restarted");

    // (Telegram's confirmation of the answer may or may not reach the old process before
    // the restart: both ends are fine, a restart loop is not.)
    let mine = dm(&tg, 6501, "/restart");
    let said = told_to_reconnect(&mut op).await;
    assert_eq!(said["reason"], "gateway restarting: /restart", "{said}");
    let (mut op, _) = reconnect(gw.port, cli_params(GW_TOKEN, ADMIN)).await;
    let (pid2, instance2) = process_of(&mut op).await;
    assert_eq!(pid2, pid);
    assert_ne!(instance2, instance);
    // Its answer, sent before the restart; and if the message comes back to the new
    // process (pending, its delivery unconfirmed), "has restarted", not a second restart.
    let answer = poll_until(LIMIT, "the answer to /restart", || {
        replies_to(&tg, mine).into_iter().next()
    })
    .await;
    assert!(
        answer.text().starts_with("⚙️ Restarting the gateway"),
        "{}",
        answer.text()
    );
    let health = op.request("health", json!({})).await;
    assert_eq!(
        health["ok"], true,
        "the same connection still works: {health}"
    );
    assert_eq!(process_of(&mut op).await.1, instance2, "restarted once");
    for later in replies_to(&tg, mine).iter().skip(1) {
        assert_eq!(later.text(), "✅ The gateway has restarted.");
    }
}

/// An operator's `/restart` (`chat.send`): `operator.admin` is the owner; without it, a
/// refusal; with `commands.restart: false`, disabled.
#[actix_web::test]
async fn an_operators_restart_command_needs_admin_and_commands_restart() {
    use crate::agent_rpc::chat_turn;
    let gw = TestGateway::with_token("T");
    let (mut writer, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.write"]),
    )
    .await;
    let fin = chat_turn(
        &mut writer,
        "restart-no-admin",
        json!({"sessionKey": "main", "message": "/restart"}),
    )
    .await;
    assert_eq!(
        fin["message"]["content"][0]["text"],
        "You are not authorized to use this owner-only command. Ask the operator to grant this Gateway client operator.admin access."
    );
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ADMIN_RW)).await;
    let (pid, instance) = process_of(&mut admin).await;
    let res = admin
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "/restart", "idempotencyKey": "restart-admin"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let said = told_to_reconnect(&mut admin).await;
    assert_eq!(said["reason"], "gateway restarting: /restart", "{said}");
    let (mut admin, _) = reconnect(gw.port, cli_params("T", ADMIN_RW)).await;
    let (pid2, instance2) = process_of(&mut admin).await;
    assert_eq!(pid2, pid);
    assert_ne!(instance2, instance);

    // `commands.restart: false`: disabled for everyone.
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some("{commands: {restart: false}}"),
    );
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ADMIN_RW)).await;
    let fin = chat_turn(
        &mut admin,
        "restart-disabled",
        json!({"sessionKey": "main", "message": "/restart"}),
    )
    .await;
    assert_eq!(
        fin["message"]["content"][0]["text"],
        "⚠️ /restart is disabled (commands.restart=false)."
    );
}

/// The `/restart` comes back to the restarted gateway when Telegram's confirmation of its
/// answer never reached the old process (it stays pending): the new process answers it and
/// does not restart again. The restart is held back by a running turn, so the pending
/// state is seen before it happens.
#[actix_web::test]
async fn a_restart_command_that_comes_back_is_answered_not_obeyed_again() {
    use crate::telegram_flow::{dm, poll_until, replies_to, wait_status};
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value = serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("config");
    cfg["commands"] = json!({"ownerAllowFrom": ["telegram:6601"]});
    let gw = start_gateway(&cfg.to_string());
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params(GW_TOKEN, &["operator.admin", "operator.write"]),
    )
    .await;
    let (pid, instance) = process_of(&mut op).await;

    // A turn that runs until it is stopped holds the restart back.
    ai.push(FakeReply::text("never sent").delayed(Duration::from_secs(120)));
    dm(&tg, 6603, "take your time");
    ai.wait_requests_async(1, LIMIT).await;

    tg.hold_send_responses(true);
    let mine = dm(&tg, 6601, "/restart");
    poll_until(LIMIT, "the answer to /restart", || {
        replies_to(&tg, mine).into_iter().next()
    })
    .await;
    // Both messages pending: the turn's, and the /restart whose answer is unconfirmed.
    wait_status(&gw, LIMIT, "two pending messages", |a| {
        a["pendingInbound"] == 2
    })
    .await;
    let pre = op.request("gateway.restart.preflight", json!({})).await;
    assert_eq!(pre["payload"]["safe"], false, "{pre}");

    // The turn is stopped: the restart goes ahead.
    let stop = op
        .request(
            "chat.abort",
            json!({"sessionKey": "agent:main:telegram:direct:6603"}),
        )
        .await;
    assert_eq!(stop["ok"], true, "{stop}");
    let said = told_to_reconnect(&mut op).await;
    assert_eq!(said["reason"], "gateway restarting: /restart", "{said}");
    // Released once the new process serves: the old one never learns of the delivery.
    let (mut op, _) = reconnect(gw.port, cli_params(GW_TOKEN, ADMIN)).await;
    tg.hold_send_responses(false);
    let (pid2, instance2) = process_of(&mut op).await;
    assert_eq!(pid2, pid);
    assert_ne!(instance2, instance);
    let answers = poll_until(LIMIT, "the /restart answered again", || {
        let r = replies_to(&tg, mine);
        (r.len() >= 2).then_some(r)
    })
    .await;
    assert!(answers[0].text().starts_with("⚙️ Restarting the gateway"));
    assert_eq!(answers[1].text(), "✅ The gateway has restarted.");
    wait_status(&gw, LIMIT, "nothing pending", |a| a["pendingInbound"] == 0).await;
    assert_eq!(process_of(&mut op).await.1, instance2, "restarted once");
}
