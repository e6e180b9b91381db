//! The scheduler (`cron.*`): jobs added over the wire run as agent runs and their answers
//! reach a Telegram chat through the fake Bot API; jobs, their state and run logs survive a
//! SIGKILL; the agent's `cron` tool schedules from a chat, bound to that chat and to the
//! asking sender's node tool policy; refusals and hostile params.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{TestGateway, WsClient, cli_params, error_of};
use crate::telegram_flow::{
    GW_TOKEN, NODE_NAME, SLOW, TG_TOKEN, admin, config, dm, poll_until, restart, start_gateway,
    wait_reply,
};

/// An ISO time `ms` from now.
fn iso_in(ms: u64) -> String {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(ms as i64);
    at.to_string()
}

async fn call(op: &mut WsClient, method: &str, params: Value) -> Value {
    let res = op.request(method, params).await;
    assert_eq!(res["ok"], true, "{method}: {res}");
    res["payload"].clone()
}

/// Every message the bot sent to `chat`.
fn sent_to(tg: &FakeTelegram, chat: i64) -> Vec<String> {
    tg.sent()
        .into_iter()
        .filter(|s| s.chat_id() == Some(chat))
        .map(|s| s.text().to_owned())
        .collect()
}

async fn wait_sent_to(tg: &FakeTelegram, chat: i64, text: &str) {
    poll_until(SLOW, &format!("{text:?} sent to chat {chat}"), || {
        sent_to(tg, chat).iter().any(|t| t == text).then_some(())
    })
    .await;
}

/// The jobs file as on disk.
fn jobs_file(gw: &TestGateway) -> Value {
    let path = gw.dir.path().join("cron/jobs.json");
    serde_json::from_slice(&std::fs::read(&path).expect("cron/jobs.json")).expect("jobs json")
}

#[actix_web::test]
async fn jobs_run_as_agent_runs_announce_to_telegram_and_survive_a_restart() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("Time to stretch!");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let mut op = admin(&gw).await;

    let status = call(&mut op, "cron.status", json!({})).await;
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["jobs"], 0, "{status}");

    // A one-shot job a second from now, announced to chat 8101 (what
    // `openclaw cron add --at 1s --message … --announce --channel telegram --to 8101` sends).
    let job = call(
        &mut op,
        "cron.add",
        json!({"name": "stretch", "enabled": true, "schedule": {"kind": "at", "at": iso_in(1000)},
            "sessionTarget": "isolated", "wakeMode": "now",
            "payload": {"kind": "agentTurn", "message": "Remind the user to stretch"},
            "delivery": {"mode": "announce", "channel": "telegram", "to": "8101"}}),
    )
    .await;
    let once = job["id"].as_str().expect("a job id").to_owned();
    assert_eq!(job["deleteAfterRun"], true, "{job}");
    assert!(job["nextRunAtMs"].as_u64().is_some(), "{job}");
    wait_sent_to(&tg, 8101, "Time to stretch!").await;
    // The model got the job's message in the job's own session.
    let req = ai
        .requests()
        .into_iter()
        .find(|r| r.to_string().contains("Remind the user to stretch"))
        .expect("the job's model request");
    assert!(req["tools"].to_string().contains("\"cron\""), "{req}");
    // Done and removed (deleteAfterRun), its run in the log.
    let runs = poll_until(SLOW, "the run logged", || {
        let f =
            std::fs::read_to_string(gw.dir.path().join(format!("cron/runs/{once}.jsonl"))).ok()?;
        (!f.is_empty()).then_some(f)
    })
    .await;
    assert!(runs.contains("\"deliveryStatus\":\"delivered\""), "{runs}");
    let page = call(&mut op, "cron.runs", json!({"id": once})).await;
    assert_eq!(page["total"], 1, "{page}");
    let entry = &page["entries"][0];
    assert_eq!(entry["status"], "ok", "{entry}");
    assert_eq!(entry["summary"], "Time to stretch!", "{entry}");
    assert_eq!(entry["sessionKey"], format!("agent:main:cron:{once}"));
    let list = call(&mut op, "cron.list", json!({"includeDisabled": true})).await;
    assert_eq!(list["total"], 0, "a done one-shot job is removed: {list}");
    // Operators heard each step as a `cron` event.
    let mut actions = Vec::new();
    for _ in 0..3 {
        let ev = op.event_within("cron", SLOW).await;
        assert_eq!(ev["payload"]["jobId"], once.as_str(), "{ev}");
        actions.push(
            ev["payload"]["action"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(actions, ["added", "started", "removed"]);

    // A recurring job, run by hand: `cron.run` answers at once, the run follows.
    ai.set_default_text("Daily brief: all quiet.");
    let job = call(
        &mut op,
        "cron.add",
        json!({"name": "brief", "schedule": {"kind": "cron", "expr": "0 7 * * *", "tz": "Europe/Berlin"},
            "payload": {"kind": "agentTurn", "message": "Write the brief"},
            "delivery": {"mode": "announce", "channel": "telegram", "to": "8101"}}),
    )
    .await;
    let daily = job["id"].as_str().expect("a job id").to_owned();
    let next = job["nextRunAtMs"].as_u64().expect("next run");
    assert_eq!(job["deliveryPreview"]["label"], "telegram → 8101", "{job}");
    let listed = call(&mut op, "cron.list", json!({})).await;
    assert_eq!(
        listed["deliveryPreviews"][daily.as_str()]["label"],
        "telegram → 8101",
        "{listed}"
    );
    let ran = call(&mut op, "cron.run", json!({"id": daily})).await;
    assert_eq!(ran["enqueued"], true, "{ran}");
    let first_run = ran["runId"].clone();
    assert!(ran["runId"].as_str().is_some(), "{ran}");
    wait_sent_to(&tg, 8101, "Daily brief: all quiet.").await;
    let got = poll_until(SLOW, "the job's state updated", || {
        let j = jobs_file(&gw)["jobs"][0].clone();
        (j["state"]["lastRunStatus"] == "ok").then_some(j)
    })
    .await;
    assert_eq!(got["state"]["lastDelivered"], true, "{got}");
    assert_eq!(
        got["state"]["nextRunAtMs"], next,
        "a manual run keeps the schedule"
    );
    assert_eq!(
        got["state"].get("runningAtMs"),
        None,
        "not running any more: {got}"
    );
    // A second manual run while one is in flight is refused as already running.
    ai.push(crate::support::fake_openai::FakeReply::text("slow").delayed(Duration::from_secs(2)));
    call(&mut op, "cron.run", json!({"jobId": daily})).await;
    let again = call(&mut op, "cron.run", json!({"id": daily})).await;
    assert_eq!(again["ran"], false, "{again}");
    assert_eq!(again["reason"], "already-running", "{again}");
    wait_sent_to(&tg, 8101, "slow").await;
    // Each run of an isolated job starts fresh: the second did not see the first's answer.
    let briefs: Vec<Value> = ai
        .requests()
        .into_iter()
        .filter(|r| r.to_string().contains("Write the brief"))
        .collect();
    assert_eq!(briefs.len(), 2, "two runs asked the model");
    assert!(
        !briefs[1].to_string().contains("all quiet"),
        "a fresh run: {}",
        briefs[1]
    );

    // Disable, SIGKILL, restart: the job, its state and its log are as they were.
    let upd = call(
        &mut op,
        "cron.update",
        json!({"id": daily, "patch": {"enabled": false, "name": "brief (paused)"}}),
    )
    .await;
    assert_eq!(upd["enabled"], false, "{upd}");
    assert_eq!(upd.get("nextRunAtMs"), None, "{upd}");
    poll_until(SLOW, "two runs logged", || {
        let f =
            std::fs::read_to_string(gw.dir.path().join(format!("cron/runs/{daily}.jsonl"))).ok()?;
        (f.lines().count() == 2).then_some(())
    })
    .await;
    drop(op);
    let gw = restart(gw);
    let mut op = admin(&gw).await;
    let list = call(&mut op, "cron.list", json!({"includeDisabled": true})).await;
    assert_eq!(list["total"], 1, "{list}");
    let j = &list["jobs"][0];
    assert_eq!(j["id"], daily.as_str());
    assert_eq!(j["name"], "brief (paused)");
    assert_eq!(j["enabled"], false);
    assert_eq!(j["lastRunStatus"], "ok", "{j}");
    assert_eq!(j["effectiveAgentId"], "main");
    let enabled_only = call(&mut op, "cron.list", json!({})).await;
    assert_eq!(enabled_only["total"], 0, "{enabled_only}");
    let page = call(&mut op, "cron.runs", json!({"id": daily, "limit": 1})).await;
    assert_eq!(
        (page["total"].as_u64(), page["hasMore"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(
        page["entries"][0]["summary"], "slow",
        "newest first: {page}"
    );
    let one = call(
        &mut op,
        "cron.runs",
        json!({"id": daily, "runId": first_run}),
    )
    .await;
    assert_eq!(one["total"], 1, "{one}");
    assert_eq!(
        one["entries"][0]["summary"], "Daily brief: all quiet.",
        "{one}"
    );
    let delivered = call(
        &mut op,
        "cron.runs",
        json!({"id": daily, "deliveryStatuses": ["delivered"], "statuses": ["ok"]}),
    )
    .await;
    assert_eq!(delivered["total"], 2, "{delivered}");
    let failed = call(
        &mut op,
        "cron.runs",
        json!({"id": daily, "status": "error"}),
    )
    .await;
    assert_eq!(failed["total"], 0, "{failed}");
    let all = call(&mut op, "cron.runs", json!({"scope": "all"})).await;
    assert_eq!(
        all["total"], 2,
        "the removed job's log is not listed by scope all: {all}"
    );

    // Removed: gone from the file; its id is then unknown, with OpenClaw's code.
    let rm = call(&mut op, "cron.remove", json!({"id": daily})).await;
    assert_eq!(rm, json!({"ok": true, "removed": true}));
    assert_eq!(jobs_file(&gw)["jobs"], json!([]));
    for method in ["cron.get", "cron.remove", "cron.run", "cron.update"] {
        let params = if method == "cron.update" {
            json!({"id": daily, "patch": {"name": "x"}})
        } else {
            json!({"id": daily})
        };
        let res = op.request(method, params).await;
        let e = error_of(&res);
        assert_eq!(e["code"], "INVALID_REQUEST", "{method}: {res}");
        assert_eq!(
            e["details"]["code"], "CRON_JOB_NOT_FOUND",
            "{method}: {res}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(gw.dir.path().join("cron/jobs.json"))
            .expect("jobs file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the jobs file is private");
    }
}

#[actix_web::test]
async fn cron_refuses_what_it_does_not_run_and_bad_params_by_name() {
    let gw = TestGateway::start(crate::telegram_flow::GW_ARGS, &[], None);
    let mut op = admin(&gw).await;
    let every = json!({"kind": "every", "everyMs": 60000});
    let turn = json!({"kind": "agentTurn", "message": "m"});
    let cases = [
        (
            "cron.add",
            json!({"name": "x", "schedule": every, "payload": {"kind": "command", "argv": ["rm", "-rf", "/"]}}),
            "command and script",
        ),
        (
            "cron.add",
            json!({"name": "x", "schedule": every, "payload": turn, "delivery": {"mode": "webhook", "to": "http://169.254.169.254/"}}),
            "webhook",
        ),
        (
            "cron.add",
            json!({"name": "x", "schedule": {"kind": "cron", "expr": "*/0 * * * *"}, "payload": turn}),
            "schedule.expr",
        ),
        (
            "cron.add",
            json!({"name": "x", "schedule": {"kind": "cron", "expr": "0 7 * * *", "tz": "../../etc/passwd"}, "payload": turn}),
            "schedule.tz",
        ),
        (
            "cron.add",
            json!({"name": "x", "schedule": {"kind": "every", "everyMs": 1}, "payload": turn}),
            "everyMs",
        ),
        (
            "cron.add",
            json!({"name": "x", "schedule": every, "payload": turn, "pacing": {"min": "1m"}}),
            "pacing",
        ),
        (
            "cron.add",
            json!({"name": "x", "schedule": every, "payload": {"kind": "agentTurn", "message": "m", "thinking": "loud"}}),
            "payload.thinking \"loud\" is not a thinking level",
        ),
        (
            "cron.add",
            json!({"name": "x", "schedule": every, "payload": {"kind": "agentTurn", "message": "m", "fallbacks": ["a"]}}),
            "payload.fallbacks",
        ),
        (
            "cron.add",
            json!({"name": "x".repeat(10_000), "schedule": every, "payload": turn}),
            "longer than",
        ),
        ("cron.add", json!("not an object"), "must be an object"),
        ("cron.get", json!({}), "missing id"),
        ("cron.get", json!({"id": "../../../etc/passwd"}), "job id"),
        ("cron.runs", json!({"id": "a\\b"}), "job id"),
        ("cron.runs", json!({"limit": 0}), "limit"),
        ("cron.list", json!({"sortBy": "evil"}), "sortBy"),
        ("cron.list", json!({"query": "q".repeat(1000)}), "query"),
        ("cron.run", json!({"id": "x", "mode": "later"}), "mode"),
        ("cron.update", json!({"id": "x"}), "'patch'"),
        ("cron.status", json!({"x": 1}), "additional properties"),
    ];
    for (method, params, needle) in cases {
        let res = op.request(method, params.clone()).await;
        let e = error_of(&res);
        assert_eq!(e["code"], "INVALID_REQUEST", "{method} {params}: {res}");
        let msg = e["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{method}: {msg:?} lacks {needle:?}");
        assert!(
            msg.len() < 600,
            "the refusal does not echo a huge input: {msg}"
        );
    }
    assert_eq!(jobs_file_or_none(&gw), None, "nothing was written");

    // An `every` job first runs one interval after it is added (OpenClaw's rule), not at once.
    let job = call(
        &mut op,
        "cron.add",
        json!({"name": "hourly", "schedule": {"kind": "every", "everyMs": 3_600_000},
            "payload": {"kind": "agentTurn", "message": "/help"}, "delivery": {"mode": "none"}}),
    )
    .await;
    let created = job["createdAtMs"].as_u64().expect("createdAtMs");
    assert_eq!(
        job["nextRunAtMs"].as_u64(),
        Some(created + 3_600_000),
        "{job}"
    );

    // Reading needs operator.read, changing needs operator.admin (OpenClaw's scopes).
    let (mut reader, _) = WsClient::hello(
        gw.port,
        cli_params(GW_TOKEN, &["operator.read", "operator.write"]),
    )
    .await;
    call(&mut reader, "cron.list", json!({})).await;
    call(&mut reader, "cron.status", json!({})).await;
    for method in ["cron.add", "cron.update", "cron.remove", "cron.run"] {
        let res = reader.request(method, json!({"id": "x"})).await;
        let e = error_of(&res);
        assert!(
            e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("operator.admin"),
            "{method}: {res}"
        );
    }
}

fn jobs_file_or_none(gw: &TestGateway) -> Option<Value> {
    std::fs::read(gw.dir.path().join("cron/jobs.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// The `cron` tool result the model got for `call_id` (searched over every request).
fn tool_result(ai: &FakeOpenAi, call_id: &str) -> Value {
    for r in ai.requests() {
        for m in r["messages"].as_array().into_iter().flatten() {
            if m["role"] == "tool" && m["tool_call_id"] == call_id {
                let c = m["content"].as_str().unwrap_or_default();
                return serde_json::from_str(c).unwrap_or(Value::Null);
            }
        }
    }
    Value::Null
}

#[actix_web::test]
async fn a_chat_schedules_a_reminder_that_comes_back_to_that_chat() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));

    // "remind me in a second to drink water": the model calls the tool, then answers.
    let add = ai.push_tool_call(
        "cron",
        json!({"action": "add", "at": "1s", "name": "water", "message": "Remind the user to drink water"}),
    );
    ai.push_text("Okay, I will remind you.");
    ai.push_text("💧 Drink some water!");
    let m = dm(&tg, 8201, "remind me in a second to drink water");
    let r = wait_reply(&tg, m, SLOW).await;
    assert_eq!(r.text(), "Okay, I will remind you.");
    let res = tool_result(&ai, &add);
    assert_eq!(res["ok"], true, "{res}");
    // The model was told the time, and was offered the tool.
    let first = &ai.requests()[0];
    assert!(first.to_string().contains("The current time is"), "{first}");
    wait_sent_to(&tg, 8201, "💧 Drink some water!").await;
    // The reminder ran in the chat's own session: the model saw the conversation.
    let reminder = ai
        .requests()
        .into_iter()
        .find(|r| {
            r["messages"]
                .as_array()
                .and_then(|m| m.last())
                .is_some_and(|m| m["content"] == "Remind the user to drink water")
        })
        .expect("the reminder's model request");
    assert!(
        reminder
            .to_string()
            .contains("remind me in a second to drink water"),
        "the chat's history: {reminder}"
    );
    // Only that chat got it.
    assert!(
        tg.sent().iter().all(|s| s.chat_id() == Some(8201)),
        "{:?}",
        tg.sent().iter().map(|s| s.chat_id()).collect::<Vec<_>>()
    );

    // Limits: no repeat under 5 minutes, no second schedule from a job's own run, bad input.
    let fast = ai.push_tool_call(
        "cron",
        json!({"action": "add", "every": "1m", "message": "spam"}),
    );
    let every_minute = ai.push_tool_call(
        "cron",
        json!({"action": "add", "cron": "* 9 * * *", "message": "spam"}),
    );
    let both = ai.push_tool_call(
        "cron",
        json!({"action": "add", "at": "5m", "every": "1h", "message": "x"}),
    );
    let past = ai.push_tool_call(
        "cron",
        json!({"action": "add", "at": "2001-01-01T00:00:00Z", "message": "x"}),
    );
    let hourly = ai.push_tool_call(
        "cron",
        json!({"action": "add", "every": "1h", "name": "hourly \u{202e}\u{0}", "message": "Hourly check"}),
    );
    let list = ai.push_tool_call("cron", json!({"action": "list"}));
    ai.push_text("done");
    let m = dm(&tg, 8201, "set things up");
    wait_reply(&tg, m, SLOW).await;
    for id in [&fast, &every_minute] {
        let r = tool_result(&ai, id);
        assert_eq!(r["ok"], false, "{r}");
        assert!(
            r["error"]
                .as_str()
                .unwrap_or_default()
                .contains("5 minutes"),
            "{r}"
        );
    }
    assert!(
        tool_result(&ai, &both)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("exactly one")
    );
    assert!(
        tool_result(&ai, &past)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("passed")
    );
    let h = tool_result(&ai, &hourly);
    assert_eq!(h["ok"], true, "{h}");
    let hourly_id = h["job"]["id"].as_str().expect("job id").to_owned();
    let l = tool_result(&ai, &list);
    assert_eq!(l["jobs"].as_array().map(Vec::len), Some(1), "{l}");
    assert_eq!(l["jobs"][0]["id"], hourly_id.as_str());
    // `/status` shows the chat its own schedule.
    let st = dm(&tg, 8201, "/status");
    let r = wait_reply(&tg, st, SLOW).await;
    assert!(
        r.text().contains("Scheduled: 1 job · next in "),
        "{}",
        r.text()
    );

    // Another chat sees none of these, and cannot remove them.
    let list2 = ai.push_tool_call("cron", json!({"action": "list"}));
    let rm2 = ai.push_tool_call("cron", json!({"action": "remove", "id": hourly_id}));
    ai.push_text("nope");
    let m = dm(&tg, 8202, "what is scheduled?");
    wait_reply(&tg, m, SLOW).await;
    assert_eq!(tool_result(&ai, &list2)["jobs"], json!([]));
    let r = tool_result(&ai, &rm2);
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not found"),
        "{r}"
    );

    // The job records its chat and creator; a run of it cannot schedule more jobs.
    let file = jobs_file(&gw);
    let job = &file["jobs"][0];
    assert_eq!(job["createdBy"], "telegram:8201", "{job}");
    assert_eq!(
        job["sessionTarget"],
        "session:agent:main:telegram:direct:8201"
    );
    assert_eq!(job["delivery"]["to"], "8201");
    let mut op = admin(&gw).await;
    let nested = ai.push_tool_call(
        "cron",
        json!({"action": "add", "every": "1h", "message": "replicate"}),
    );
    ai.push_text("hourly: fine");
    call(&mut op, "cron.run", json!({"id": hourly_id})).await;
    wait_sent_to(&tg, 8201, "hourly: fine").await;
    let r = tool_result(&ai, &nested);
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot schedule"),
        "{r}"
    );
    let list = call(&mut op, "cron.list", json!({})).await;
    assert_eq!(list["total"], 1, "{list}");
}

/// The attack path: a sender whose node policy is narrower than the defaults schedules a
/// job; its runs invoke node commands under that sender's policy, not an operator's.
#[actix_web::test]
async fn a_scheduled_run_keeps_the_creators_node_policy() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let nodes = json!({
        "allowCommands": ["echo.test", "system.which"],
        "senders": {"telegram:8301": {"denyCommands": ["echo.test"]}},
    });
    let cfg = crate::tool_policy::config_with(&tg, Some(&ai), nodes);
    let (gw, mut op, node) = crate::tool_policy::gateway_and_node(&cfg).await;

    let add = ai.push_tool_call(
        "cron",
        json!({"action": "add", "every": "1h", "message": "Run echo.test on the node"}),
    );
    ai.push_text("scheduled");
    let m = dm(&tg, 8301, "every hour, run echo.test");
    wait_reply(&tg, m, SLOW).await;
    let id = tool_result(&ai, &add)["job"]["id"]
        .as_str()
        .expect("job id")
        .to_owned();

    // The job's run asks for echo.test: refused by the creator's deny rule.
    let invoke = ai.push_tool_call(
        "nodes",
        json!({"action": "invoke", "node": NODE_NAME, "command": "echo.test", "params": {}}),
    );
    ai.push_text("could not run it");
    call(&mut op, "cron.run", json!({"id": id})).await;
    wait_sent_to(&tg, 8301, "could not run it").await;
    let r = tool_result(&ai, &invoke);
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r.to_string().contains("telegram:8301"),
        "refused by the sender's rule: {r}"
    );
    assert!(node.requests.borrow().is_empty(), "the node ran nothing");

    // The same job made by an operator runs under the defaults: echo.test runs.
    let job = call(
        &mut op,
        "cron.add",
        json!({"name": "op", "schedule": {"kind": "every", "everyMs": 3_600_000},
            "payload": {"kind": "agentTurn", "message": "Run echo.test"}, "delivery": {"mode": "none"}}),
    )
    .await;
    let invoke = ai.push_tool_call(
        "nodes",
        json!({"action": "invoke", "node": NODE_NAME, "command": "echo.test", "params": {}}),
    );
    ai.push_text("ran it");
    call(&mut op, "cron.run", json!({"id": job["id"]})).await;
    poll_until(SLOW, "the operator's job invoked the node", || {
        (!node.requests.borrow().is_empty()).then_some(())
    })
    .await;
    let r = poll_until(SLOW, "the tool result", || {
        let r = tool_result(&ai, &invoke);
        (!r.is_null()).then_some(r)
    })
    .await;
    assert_eq!(r["ok"], true, "{r}");
    drop(gw);
}

/// SIGKILL while a job's run is in progress: after the restart the job is still there,
/// its run recorded as interrupted, and a one-shot job is scheduled to try again (after
/// the first backoff step) instead of being lost; it then runs and is delivered once.
#[actix_web::test]
async fn a_run_cut_by_sigkill_is_recorded_and_a_one_shot_job_tries_again() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.push(
        crate::support::fake_openai::FakeReply::text("never seen").delayed(Duration::from_secs(60)),
    );
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let mut op = admin(&gw).await;
    let job = call(
        &mut op,
        "cron.add",
        json!({"name": "pills", "schedule": {"kind": "at", "at": iso_in(300)},
            "payload": {"kind": "agentTurn", "message": "Remind the user to take the pills"},
            "delivery": {"mode": "announce", "channel": "telegram", "to": "8401"}}),
    )
    .await;
    let id = job["id"].as_str().expect("job id").to_owned();
    // The run started (its model call is held) and `runningAtMs` is on disk.
    ai.wait_requests(1, SLOW);
    poll_until(SLOW, "runningAtMs on disk", || {
        jobs_file(&gw)["jobs"][0]["state"]["runningAtMs"]
            .as_u64()
            .map(|_| ())
    })
    .await;
    drop(op);
    let killed_at = crate::support::now_ms();
    let gw = restart(gw);
    let mut op = admin(&gw).await;
    let got = call(&mut op, "cron.get", json!({"id": id})).await;
    assert_eq!(got["lastRunStatus"], "error", "{got}");
    assert_eq!(
        got["lastRunError"], "interrupted by a gateway restart",
        "{got}"
    );
    assert_eq!(got["state"]["consecutiveErrors"], 1, "{got}");
    assert_eq!(got["enabled"], true, "{got}");
    let next = got["nextRunAtMs"].as_u64().expect("tries again");
    assert!(
        next >= killed_at + 25_000,
        "after the 30 s backoff: {next} vs {killed_at}"
    );
    assert!(sent_to(&tg, 8401).is_empty(), "nothing was delivered yet");
    // Run it now: delivered once, and the one-shot job is done.
    ai.set_default_text("💊 Pills time");
    call(&mut op, "cron.run", json!({"id": id})).await;
    wait_sent_to(&tg, 8401, "💊 Pills time").await;
    poll_until(SLOW, "the job removed after its run", || {
        (jobs_file(&gw)["jobs"] == json!([])).then_some(())
    })
    .await;
    assert_eq!(sent_to(&tg, 8401), vec!["💊 Pills time".to_owned()]);
}

/// `wake` (`openclaw system event`): `now` runs a turn in the main session told
/// `System: <text>` and answers in the chat written from last; a named session answers in
/// its own chat; `next-heartbeat` waits for the session's next run, which sees it first.
#[actix_web::test]
async fn wake_runs_now_or_waits_for_the_sessions_next_run() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("hello");
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let m = dm(&tg, 8502, "hi from the laptop");
    wait_reply(&tg, m, SLOW).await;
    let m = dm(&tg, 8501, "hi from the phone");
    wait_reply(&tg, m, SLOW).await;
    let mut op = admin(&gw).await;

    ai.push_text("🚀 The deploy finished.");
    let res = call(
        &mut op,
        "wake",
        json!({"mode": "now", "text": "deploy finished"}),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    wait_sent_to(&tg, 8501, "🚀 The deploy finished.").await;
    let last_user = |r: &Value| -> String {
        r["messages"]
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let asked = ai.requests();
    assert_eq!(
        last_user(asked.last().expect("a request")),
        "System: deploy finished"
    );

    // A named session: its own chat, not the last one.
    ai.push_text("pong");
    call(
        &mut op,
        "wake",
        json!({"mode": "next-heartbeat", "text": "ping", "sessionKey": "agent:main:telegram:direct:8502"}),
    )
    .await;
    wait_sent_to(&tg, 8502, "pong").await;
    assert!(!sent_to(&tg, 8501).iter().any(|t| t == "pong"));

    // next-heartbeat for the main session: nothing runs until its next message.
    let before = ai.request_count();
    call(
        &mut op,
        "wake",
        json!({"mode": "next-heartbeat", "text": "disk at 91%"}),
    )
    .await;
    let sent = call(
        &mut op,
        "chat.send",
        json!({"sessionKey": "main", "message": "status?", "idempotencyKey": "wake-test-1"}),
    )
    .await;
    assert!(sent["runId"].as_str().is_some(), "{sent}");
    let reqs = ai.wait_requests(before + 1, SLOW);
    assert_eq!(reqs.len(), before + 1, "only the chat.send ran");
    assert_eq!(
        last_user(reqs.last().expect("a request")),
        "System: disk at 91%\n\nstatus?"
    );

    // Bad params are refused by name.
    for (params, needle) in [
        (json!({"text": "x"}), "'mode'"),
        (json!({"mode": "later", "text": "x"}), "mode must be one of"),
        (json!({"mode": "now", "text": "  "}), "non-empty"),
        (
            json!({"mode": "now", "text": "x", "agentId": "ops"}),
            "unknown agent",
        ),
        (
            json!({"mode": "now", "text": "x", "extra": 1}),
            "additional properties",
        ),
    ] {
        let res = op.request("wake", params.clone()).await;
        let e = error_of(&res);
        assert_eq!(e["code"], "INVALID_REQUEST", "{params}: {res}");
        assert!(
            e["message"].as_str().unwrap_or_default().contains(needle),
            "{params}: {res}"
        );
    }
}

/// More due jobs than run slots: at most four run at a time, the others wait for a slot (no
/// job is dropped), and every one runs.
#[actix_web::test]
async fn due_jobs_beyond_the_run_slots_wait_and_all_run() {
    let ai = FakeOpenAi::start();
    let tg = FakeTelegram::start(TG_TOKEN);
    for _ in 0..6 {
        ai.push(
            crate::support::fake_openai::FakeReply::text("done").delayed(Duration::from_secs(2)),
        );
    }
    let gw = start_gateway(&config(&tg, Some(&ai), json!({})));
    let mut op = admin(&gw).await;
    for i in 0..6 {
        // A time already past: due at once.
        call(
            &mut op,
            "cron.add",
            json!({"name": format!("job {i}"), "schedule": {"kind": "at", "at": "2020-01-01T00:00:00Z"},
                "payload": {"kind": "agentTurn", "message": format!("task {i}")}, "delivery": {"mode": "none"}}),
        )
        .await;
    }
    let mut most = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let st = call(&mut op, "cron.status", json!({})).await;
        let running = st["running"].as_u64().unwrap_or(0);
        most = most.max(running);
        assert!(running <= 4, "{st}");
        if st["jobs"] == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "jobs left: {st}");
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    println!("cron: at most {most} runs at a time");
    let asked: Vec<String> = ai
        .requests()
        .iter()
        .filter_map(|r| {
            r["messages"]
                .as_array()
                .and_then(|m| m.last())
                .and_then(|m| m["content"].as_str())
                .map(str::to_owned)
        })
        .collect();
    for i in 0..6 {
        assert!(asked.contains(&format!("task {i}")), "{asked:?}");
    }
    // The file follows the scheduler's state (its save is asynchronous).
    poll_until(SLOW, "cron/jobs.json without the run jobs", || {
        (jobs_file_or_none(&gw)?["jobs"] == json!([])).then_some(())
    })
    .await;
}

/// The heartbeat (`agents.defaults.heartbeat`): a main-session turn every `every` with the
/// checklist in `workspace/HEARTBEAT.md` in its prompt; an answer that only says
/// `HEARTBEAT_OK` is not sent, one that reports something goes to the target chat; a
/// `wake` with `next-heartbeat` is seen by the next beat; an empty checklist skips the
/// model call; `last-heartbeat` and the `heartbeat` event tell operators.
#[actix_web::test]
async fn the_heartbeat_reads_the_checklist_and_speaks_only_when_something_needs_attention() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("HEARTBEAT_OK");
    ai.push_text("HEARTBEAT_OK — all quiet.");
    ai.push_text("⚠️ The backup failed.");
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("config is JSON");
    cfg["agents"]["defaults"]["heartbeat"] =
        json!({"every": "1s", "target": "telegram", "to": "8601"});
    let dir = tempfile::tempdir().expect("state dir");
    std::fs::create_dir_all(dir.path().join("workspace")).expect("workspace");
    std::fs::write(
        dir.path().join("workspace/HEARTBEAT.md"),
        "# Checks\n- tell me if the backup failed\n",
    )
    .expect("checklist");
    let gw = TestGateway::start_in(
        dir,
        crate::telegram_flow::GW_ARGS,
        &[],
        Some(&cfg.to_string()),
    );
    let mut op = admin(&gw).await;

    wait_sent_to(&tg, 8601, "⚠️ The backup failed.").await;
    assert_eq!(
        sent_to(&tg, 8601),
        vec!["⚠️ The backup failed.".to_owned()],
        "the acknowledgement was not sent"
    );
    let first = ai.requests()[0].to_string();
    assert!(
        first.contains("If nothing needs attention, reply HEARTBEAT_OK"),
        "{first}"
    );
    assert!(
        first.contains("HEARTBEAT.md:\\n# Checks\\n- tell me if the backup failed"),
        "{first}"
    );
    // Operators heard both beats: the first acknowledged, the second sent.
    let mut statuses = Vec::new();
    while !statuses.iter().any(|s| s == "sent") {
        let ev = op.event_within("heartbeat", SLOW).await;
        statuses.push(
            ev["payload"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(statuses[0], "ok-token", "{statuses:?}");
    // The main session's history shows the alert only: the beats' prompts and their
    // acknowledgements are hidden (the transcript keeps them).
    let hist = op
        .request("chat.history", json!({"sessionKey": "main"}))
        .await;
    let texts: Vec<&str> = hist["payload"]["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["content"][0]["text"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(texts.contains(&"⚠️ The backup failed."), "{hist}");
    assert!(
        texts
            .iter()
            .all(|t| !t.contains("HEARTBEAT_OK") && !t.contains("HEARTBEAT.md")),
        "{hist}"
    );

    // A system event waits for the next beat, which sees it first.
    call(
        &mut op,
        "wake",
        json!({"mode": "next-heartbeat", "text": "disk at 91%"}),
    )
    .await;
    poll_until(SLOW, "a beat that saw the event", || {
        ai.requests()
            .iter()
            .any(|r| {
                r.to_string()
                    .contains("System: disk at 91%\\n\\nRead HEARTBEAT.md")
            })
            .then_some(())
    })
    .await;

    // An empty checklist: no model call, the beat is skipped.
    std::fs::write(gw.dir.path().join("workspace/HEARTBEAT.md"), "# Checks\n\n").expect("write");
    let last = poll_until(SLOW, "a skipped beat", || {
        let last = gw_last_heartbeat(&gw);
        (last["reason"] == "empty-heartbeat-file").then_some(last)
    })
    .await;
    assert_eq!(last["status"], "skipped", "{last}");

    let off = call(&mut op, "set-heartbeats", json!({"enabled": false})).await;
    assert_eq!(off, json!({"ok": true, "enabled": false}));
    let bad = op.request("set-heartbeats", json!({"enabled": "no"})).await;
    assert_eq!(error_of(&bad)["code"], "INVALID_REQUEST", "{bad}");
}

/// `heartbeat.isolatedSession` and `heartbeat.model`: each beat runs with its own model
/// and without the conversation's history (nor adding to it), and still sees the events
/// waiting for the conversation.
#[actix_web::test]
async fn an_isolated_heartbeat_runs_fresh_on_its_own_model() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("HEARTBEAT_OK");
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("config is JSON");
    cfg["models"] = json!({"providers": {"fake": {"baseUrl": ai.base_url(),
        "models": [{"id": "big"}, {"id": "small"}]}}});
    cfg["agents"]["defaults"]["model"] = json!("fake/big");
    cfg["agents"]["defaults"]["heartbeat"] = json!({"every": "1s", "target": "telegram",
        "to": "8701", "isolatedSession": true, "model": "fake/small", "lightContext": true});
    let dir = tempfile::tempdir().expect("state dir");
    std::fs::create_dir_all(dir.path().join("workspace")).expect("workspace");
    // A bootstrap file the chat's prompt carries and the light beats' does not.
    std::fs::write(
        dir.path().join("workspace/SOUL.md"),
        "Speak like a lighthouse keeper.\n",
    )
    .expect("soul");
    std::fs::write(
        dir.path().join("workspace/HEARTBEAT.md"),
        "- check the disk\n",
    )
    .expect("checklist");
    let gw = TestGateway::start_in(
        dir,
        crate::telegram_flow::GW_ARGS,
        &[],
        Some(&cfg.to_string()),
    );
    let mut op = admin(&gw).await;
    // The conversation: something the beats must not be sent.
    ai.push_text("Noted.");
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "the vault code is swordfish", "idempotencyKey": "hb-iso-1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    call(
        &mut op,
        "wake",
        json!({"mode": "next-heartbeat", "text": "disk at 93%"}),
    )
    .await;
    let beat = poll_until(SLOW, "a beat that saw the event", || {
        ai.requests()
            .into_iter()
            .find(|r| r.to_string().contains("System: disk at 93%"))
    })
    .await;
    assert_eq!(beat["model"], "small", "the heartbeat's model");
    let sent = beat.to_string();
    assert!(sent.contains("check the disk"), "{sent}");
    assert!(
        !sent.contains("swordfish"),
        "no conversation history: {sent}"
    );
    assert!(
        !sent.contains("lighthouse keeper") && !sent.contains("# Project Context"),
        "lightContext: no workspace bootstrap files: {sent}"
    );
    let chat = ai
        .requests()
        .into_iter()
        .find(|r| r.to_string().contains("swordfish"))
        .expect("the chat's request");
    assert_eq!(chat["model"], "big", "the conversation keeps its model");
    assert!(
        chat.to_string().contains("lighthouse keeper"),
        "the chat's prompt has the workspace files: {chat}"
    );
    // The conversation's transcript has only its own exchange.
    let hist = op
        .request("chat.history", json!({"sessionKey": "main"}))
        .await;
    assert_eq!(
        hist["payload"]["messages"].as_array().map(Vec::len),
        Some(2),
        "{hist}"
    );
    let main = std::fs::read_dir(gw.dir.path().join("agents/main/sessions"))
        .expect("sessions dir")
        .filter_map(|e| e.ok())
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .filter(|t| t.contains("swordfish"))
        .collect::<Vec<_>>();
    assert_eq!(main.len(), 1, "one transcript holds the chat");
    assert!(!main[0].contains("HEARTBEAT"), "{}", main[0]);
    let off = call(&mut op, "set-heartbeats", json!({"enabled": false})).await;
    assert_eq!(off["enabled"], false);
}

/// A job's `payload.model` and `payload.thinking` (`openclaw cron add --model --thinking`):
/// its runs use them; a model that is not configured fails the run, naming it.
#[actix_web::test]
async fn a_job_runs_on_its_own_model_and_an_unknown_one_fails_the_run() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("Done.");
    let mut cfg: Value =
        serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("config is JSON");
    cfg["models"] = json!({"providers": {"fake": {"baseUrl": ai.base_url(),
        "models": [{"id": "big"}, {"id": "small"}]}}});
    cfg["agents"]["defaults"]["model"] = json!("fake/big");
    let gw = TestGateway::start(crate::telegram_flow::GW_ARGS, &[], Some(&cfg.to_string()));
    let mut op = admin(&gw).await;
    // A bootstrap file (read fresh by each run) that a light run's prompt leaves out.
    std::fs::write(
        gw.dir.path().join("workspace/SOUL.md"),
        "Speak like a lighthouse keeper.\n",
    )
    .expect("soul");
    let add = |name: &str, model: &str| {
        json!({"name": name, "schedule": {"kind": "every", "everyMs": 3_600_000},
            "payload": {"kind": "agentTurn", "message": format!("job {name}"), "model": model, "thinking": "LOW"},
            "delivery": {"mode": "none"}})
    };
    let job = call(&mut op, "cron.add", add("cheap", "fake/small")).await;
    assert_eq!(job["payload"]["model"], "fake/small", "{job}");
    assert_eq!(job["payload"]["thinking"], "low", "{job}");
    let id = job["id"].as_str().expect("id").to_owned();
    call(&mut op, "cron.run", json!({"id": id})).await;
    let asked = poll_until(SLOW, "the job's model call", || {
        ai.requests()
            .into_iter()
            .find(|r| r.to_string().contains("job cheap"))
    })
    .await;
    assert_eq!(asked["model"], "small");
    assert!(
        asked.to_string().contains("lighthouse keeper"),
        "a job's prompt has the workspace files: {asked}"
    );
    // `lightContext` (`openclaw cron add --light-context`): the isolated run's prompt has
    // none of the workspace's bootstrap files.
    let mut light = add("light", "fake/small");
    light["payload"]["lightContext"] = json!(true);
    let job = call(&mut op, "cron.add", light).await;
    assert_eq!(job["payload"]["lightContext"], true, "{job}");
    let light_id = job["id"].as_str().expect("id").to_owned();
    call(&mut op, "cron.run", json!({"id": light_id})).await;
    let light = poll_until(SLOW, "the light job's model call", || {
        ai.requests()
            .into_iter()
            .find(|r| r.to_string().contains("job light"))
    })
    .await
    .to_string();
    assert!(!light.contains("lighthouse keeper"), "{light}");
    assert!(!light.contains("# Project Context"), "{light}");
    let mut wrong = add("wrong", "fake/small");
    wrong["payload"]["lightContext"] = json!("yes");
    let res = op.request("cron.add", wrong).await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
    assert!(
        res.to_string()
            .contains("payload.lightContext must be a boolean"),
        "{res}"
    );
    let bad = call(&mut op, "cron.add", add("typo", "fake/smal")).await;
    let bad_id = bad["id"].as_str().expect("id").to_owned();
    call(&mut op, "cron.run", json!({"id": bad_id})).await;
    let state = poll_until(SLOW, "the failed run recorded", || {
        let jobs = jobs_file(&gw)["jobs"].clone();
        let j = jobs
            .as_array()?
            .iter()
            .find(|j| j["id"] == bad_id.as_str())?
            .clone();
        (j["state"]["lastRunStatus"] == "error").then_some(j)
    })
    .await;
    assert!(
        state
            .to_string()
            .contains("the job's model fake/smal is not available"),
        "{state}"
    );
    assert!(
        !ai.requests()
            .iter()
            .any(|r| r.to_string().contains("job typo")),
        "no model call for the failed run"
    );
}

/// `last-heartbeat` over a fresh connection (for polling from a sync closure).
fn gw_last_heartbeat(gw: &TestGateway) -> Value {
    let port = gw.port;
    std::thread::scope(|s| {
        s.spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let (mut op, _) =
                    WsClient::hello(port, cli_params(GW_TOKEN, crate::nodes::ALL_OPERATOR)).await;
                let res = op.request("last-heartbeat", json!({})).await;
                res["payload"].clone()
            })
        })
        .join()
        .unwrap_or(Value::Null)
    })
}
