//! Sub-agents (`sessions_spawn`, `subagents`, `/subagents`) against the real binary, the
//! fake Bot API and the fake model: a child works in the background in a session of its
//! own and its result comes back to the chat through the agent's review; children never
//! get the tools that reach people or outlive them, nor the owner's private memory; a
//! stranger's child and review keep the stranger's scope; `maxChildrenPerAgent`,
//! `maxConcurrent`, `runTimeoutSeconds`, `/subagents kill` and `/stop`. And a cron job a
//! stranger made runs with the stranger's scope.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::exec_tool::{OWNER, exec_config, offered};
use crate::support::WsClient;
use crate::support::fake_openai::{FakeOpenAi, FakeReply};
use crate::support::fake_telegram::FakeTelegram;
use crate::telegram_flow::{SLOW, TG_TOKEN, dm, poll_until, start_gateway, wait_reply};
use crate::workspace::{result_of, system_texts};

/// A child's requests carry this; the parent's never do.
const CHILD: &str = "[Subagent Task]";
/// The review turn's requests carry this.
const RESULT: &str = "[Subagent Result]";
/// In the owner's private memory.
const SECRET: &str = "MEMO-SECRET-4471";
/// A stranger: admitted only because DMs are open.
const STRANGER: i64 = 6199;

/// The owner's flow config with `subagents` as `agents.defaults.subagents` (`Null`: unset)
/// and the owner's private memory written.
fn setup(tg: &FakeTelegram, ai: &FakeOpenAi, subagents: Value) -> crate::support::TestGateway {
    let mut cfg: Value =
        serde_json::from_str(&exec_config(tg, ai, Value::Null, Value::Null)).expect("JSON");
    if !subagents.is_null() {
        cfg["agents"]["defaults"]["subagents"] = subagents;
    }
    let gw = start_gateway(&serde_json::to_string(&cfg).expect("config"));
    let ws = gw.dir.path().join("workspace");
    std::fs::create_dir_all(&ws).expect("workspace");
    std::fs::write(ws.join("MEMORY.md"), format!("{SECRET}\n")).expect("memory");
    gw
}

/// The requests so far whose newest user message starts with `marker` (a child's, a
/// review's: later turns of the session carry the marker in their history).
fn requests_with(ai: &FakeOpenAi, marker: &str) -> Vec<Value> {
    ai.requests()
        .into_iter()
        .filter(|r| {
            r["messages"]
                .as_array()
                .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
                .and_then(|m| m["content"].as_str())
                .is_some_and(|t| t.starts_with(marker))
        })
        .collect()
}

/// Sends `/subagents` until the answer contains `needle` (a kill lands asynchronously).
async fn wait_list(tg: &FakeTelegram, needle: &str) -> String {
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let mid = dm(tg, OWNER, "/subagents");
        let text = wait_reply(tg, mid, SLOW).await.text().to_owned();
        if text.contains(needle) || std::time::Instant::now() > deadline {
            return text;
        }
    }
}

/// The texts sent to `chat`.
fn texts_to(tg: &FakeTelegram, chat: i64) -> Vec<String> {
    tg.sent()
        .into_iter()
        .filter(|s| s.chat_id() == Some(chat))
        .map(|s| s.text().to_owned())
        .collect()
}

/// Waits for a text to `chat` that contains `needle`.
async fn wait_text(tg: &FakeTelegram, chat: i64, needle: &str) -> String {
    poll_until(
        SLOW,
        &format!("a message to {chat} with {needle:?}"),
        || texts_to(tg, chat).into_iter().find(|t| t.contains(needle)),
    )
    .await
}

/// `user` writes; the model calls `sessions_spawn` with each of `spawns` (one per round),
/// then answers `answer`. Returns each call's tool result.
async fn spawn_turn(
    tg: &FakeTelegram,
    ai: &FakeOpenAi,
    user: i64,
    spawns: &[Value],
    answer: &str,
) -> Vec<Value> {
    let ids: Vec<String> = spawns
        .iter()
        .map(|a| ai.push_tool_call("sessions_spawn", a.clone()))
        .collect();
    ai.push_text(answer);
    let mid = dm(tg, user, "please look into it");
    assert_eq!(wait_reply(tg, mid, SLOW).await.text(), answer);
    ids.iter().map(|id| result_of(ai, id)).collect()
}

#[actix_web::test]
async fn a_sub_agent_works_in_the_background_and_its_result_comes_back_through_the_agent() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = setup(&tg, &ai, Value::Null);
    ai.push_marked(CHILD, FakeReply::text("Cheapest: 99 EUR on the 12th"));
    ai.push_marked(
        RESULT,
        FakeReply::text("Found it: a 99 EUR flight on the 12th ✈️"),
    );

    let res = spawn_turn(
        &tg,
        &ai,
        OWNER,
        &[json!({"task": "Find the cheapest flight to Lisbon in May", "label": "Flights", "taskName": "flights"})],
        "On it, I will tell you.",
    )
    .await;
    let r = &res[0];
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["status"], "accepted", "{r}");
    let child_key = r["childSessionKey"].as_str().expect("a child session");
    assert!(child_key.starts_with("agent:main:subagent:"), "{r}");
    assert_eq!(r["taskId"], r["runId"], "{r}");

    // The review's answer reaches the owner's chat on its own.
    wait_text(&tg, OWNER, "Found it: a 99 EUR flight").await;

    // The child: its task, isolated, without the private memory or the tools that reach
    // people or outlive it.
    let child = requests_with(&ai, CHILD);
    assert_eq!(child.len(), 1, "one child request");
    let child = &child[0];
    assert!(
        child["messages"]
            .to_string()
            .contains("cheapest flight to Lisbon"),
        "{child}"
    );
    assert!(
        !child["messages"]
            .to_string()
            .contains("please look into it"),
        "isolated: {child}"
    );
    assert!(
        !system_texts(child).join("\n").contains(SECRET),
        "no private memory"
    );
    let tools = offered(child);
    for t in [
        "message",
        "cron",
        "sessions_spawn",
        "subagents",
        "memory_search",
        "sessions_list",
        "sessions_history",
    ] {
        assert!(
            !tools.contains(&t.to_owned()),
            "child offered {t}: {tools:?}"
        );
    }
    assert!(tools.contains(&"read".to_owned()), "{tools:?}");

    // The review: in the owner's session (the private memory is theirs), with the child's
    // report marked as such, and no tool that would start more or write elsewhere.
    let review = requests_with(&ai, RESULT);
    assert_eq!(review.len(), 1, "one review request");
    let review = &review[0];
    let text = review["messages"].to_string();
    assert!(text.contains("Task: Flights"), "{text}");
    assert!(text.contains("Cheapest: 99 EUR on the 12th"), "{text}");
    assert!(text.contains(child_key), "{text}");
    assert!(
        text.contains("please look into it"),
        "the owner's conversation: {text}"
    );
    assert!(
        system_texts(review).join("\n").contains(SECRET),
        "the owner's own session"
    );
    let tools = offered(review);
    for t in ["message", "cron", "sessions_spawn"] {
        assert!(
            !tools.contains(&t.to_owned()),
            "review offered {t}: {tools:?}"
        );
    }

    // `/subagents` shows it done; `info` its result.
    let list = dm(&tg, OWNER, "/subagents");
    let list = wait_reply(&tg, list, SLOW).await;
    assert!(list.text().contains("#1 Flights · done"), "{}", list.text());
    let info = dm(&tg, OWNER, "/subagents info flights");
    let info = wait_reply(&tg, info, SLOW).await;
    assert!(
        info.text().contains("Result: Cheapest: 99 EUR"),
        "{}",
        info.text()
    );
    assert!(info.text().contains(child_key), "{}", info.text());
    let bad = dm(&tg, OWNER, "/subagents explode");
    assert!(
        wait_reply(&tg, bad, SLOW)
            .await
            .text()
            .contains("takes list, info")
    );

    // The child's session is an ordinary session with its transcript.
    let mut op = crate::telegram_flow::admin(&gw).await;
    let listed = op.request("sessions.list", json!({})).await;
    assert!(listed.to_string().contains(child_key), "{listed}");
}

#[actix_web::test]
async fn limits_queueing_kill_and_time_limits() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = setup(
        &tg,
        &ai,
        json!({"maxChildrenPerAgent": 2, "maxConcurrent": 1}),
    );
    // The first child's model call waits until the gate opens (it never does: it is killed).
    let gate = Arc::new(Semaphore::new(0));
    ai.push_marked(CHILD, FakeReply::text("never sent").held_by(&gate));
    // The second child's too: its time limit stops it.
    ai.push_marked(CHILD, FakeReply::text("too late").held_by(&gate));
    ai.push_marked(
        RESULT,
        FakeReply::text("The second search ran out of time."),
    );

    let res = spawn_turn(
        &tg,
        &ai,
        OWNER,
        &[
            json!({"task": "first", "label": "Alpha"}),
            json!({"task": "second", "label": "Beta", "runTimeoutSeconds": 1}),
            json!({"task": "third", "label": "Gamma"}),
            json!({"task": "fourth", "to": "123"}),
        ],
        "Started.",
    )
    .await;
    assert_eq!(res[0]["queued"], false, "{}", res[0]);
    // One runs at a time: the second waits for a slot.
    assert_eq!(res[1]["queued"], true, "{}", res[1]);
    assert_eq!(res[2]["ok"], false, "{}", res[2]);
    assert!(
        res[2]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("maxChildrenPerAgent"),
        "{}",
        res[2]
    );
    assert!(
        res[3]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("takes no to"),
        "{}",
        res[3]
    );
    poll_until(SLOW, "the first child's request", || {
        (requests_with(&ai, CHILD).len() == 1).then_some(())
    })
    .await;
    let list = dm(&tg, OWNER, "/subagents list");
    let list = wait_reply(&tg, list, SLOW).await;
    assert!(
        list.text().contains("#1 Alpha · running"),
        "{}",
        list.text()
    );
    assert!(list.text().contains("#2 Beta · waiting"), "{}", list.text());
    let status = dm(&tg, OWNER, "/status");
    let status = wait_reply(&tg, status, SLOW).await;
    assert!(
        status
            .text()
            .contains("🤖 Sub-agents: 1 running, 1 waiting")
            && status.text().contains("#2 Beta · waiting"),
        "{}",
        status.text()
    );

    // Killing the first frees the slot: the second starts, and its time limit stops it.
    let kill = dm(&tg, OWNER, "/subagents kill 1");
    assert_eq!(
        wait_reply(&tg, kill, SLOW).await.text(),
        "⚙️ Stopped: Alpha."
    );
    wait_text(&tg, OWNER, "The second search ran out of time.").await;
    let children = requests_with(&ai, CHILD);
    assert_eq!(children.len(), 2, "the second child ran");
    assert!(children[1]["messages"].to_string().contains("second"));
    // Only the timed-out child reported back; a killed one does not.
    let reviews = requests_with(&ai, RESULT);
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let text = reviews[0]["messages"].to_string();
    assert!(text.contains("Task: Beta"), "{text}");
    assert!(text.contains("Status: timed out after 1 s"), "{text}");
    assert!(
        !text.contains("too late"),
        "a stopped run's text is not handed on"
    );
    let list = dm(&tg, OWNER, "/subagents");
    let list = wait_reply(&tg, list, SLOW).await;
    assert!(list.text().contains("#1 Alpha · killed"), "{}", list.text());
    assert!(
        list.text().contains("#2 Beta · timed out"),
        "{}",
        list.text()
    );

    // `/stop` stops the chat's running children too.
    ai.push_marked(CHILD, FakeReply::text("never either").held_by(&gate));
    spawn_turn(
        &tg,
        &ai,
        OWNER,
        &[json!({"task": "fifth", "label": "Delta"})],
        "Again.",
    )
    .await;
    poll_until(SLOW, "the third child's request", || {
        (requests_with(&ai, CHILD).len() == 3).then_some(())
    })
    .await;
    let stop = dm(&tg, OWNER, "/stop");
    assert_eq!(
        wait_reply(&tg, stop, SLOW).await.text(),
        "⚙️ Stopped 1 sub-agent(s)."
    );
    let list = wait_list(&tg, "Delta · killed").await;
    assert!(list.contains("Delta · killed"), "{list}");
    assert_eq!(
        requests_with(&ai, RESULT).len(),
        1,
        "no review for killed children"
    );
    crate::telegram_flow::assert_healthy(&gw).await;
}

#[actix_web::test]
async fn a_strangers_sub_agent_and_cron_job_keep_the_strangers_scope() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let _gw = setup(&tg, &ai, Value::Null);
    ai.push_marked(CHILD, FakeReply::text("stranger result"));
    ai.push_marked(RESULT, FakeReply::text("Here is what I found for you."));
    let res = spawn_turn(
        &tg,
        &ai,
        STRANGER,
        &[json!({"task": "look something up", "label": "Lookup"})],
        "Working on it.",
    )
    .await;
    assert_eq!(res[0]["ok"], true, "{}", res[0]);
    wait_text(&tg, STRANGER, "Here is what I found for you.").await;
    for r in requests_with(&ai, CHILD)
        .iter()
        .chain(&requests_with(&ai, RESULT))
    {
        assert!(
            !system_texts(r).join("\n").contains(SECRET),
            "a stranger's child or review saw the private memory"
        );
        assert!(
            !offered(r).contains(&"memory_search".to_owned()),
            "{:?}",
            offered(r)
        );
    }
    // Nothing went to the owner.
    assert!(
        texts_to(&tg, OWNER).is_empty(),
        "{:?}",
        texts_to(&tg, OWNER)
    );
    // The stranger's own child is theirs to read (the session tools' `tree`).
    let child = res[0]["childSessionKey"]
        .as_str()
        .expect("child key")
        .to_owned();
    let r = tool_turn(
        &tg,
        &ai,
        STRANGER,
        "sessions_history",
        &[json!({"sessionKey": child})],
    )
    .await;
    assert_eq!(r[0]["ok"], true, "{}", r[0]);
    assert!(
        r[0]["messages"].to_string().contains("stranger result"),
        "{}",
        r[0]
    );

    // A reminder the stranger sets runs in their chat's scope, not the owner's.
    // (The job runs in the stranger's session, after this turn: the script's order.)
    let call = ai.push_tool_call(
        "cron",
        json!({"action": "add", "name": "ping", "at": "2s", "message": "CRON-PING-88: say hi"}),
    );
    ai.push_text("Reminder set.");
    ai.push_text("hi from the reminder");
    let mid = dm(&tg, STRANGER, "remind me");
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "Reminder set.");
    assert_eq!(
        result_of(&ai, &call)["ok"],
        true,
        "{}",
        result_of(&ai, &call)
    );
    wait_text(&tg, STRANGER, "hi from the reminder").await;
    let job = ai
        .requests()
        .into_iter()
        .find(|r| crate::telegram_flow::last_user_text(r).contains("CRON-PING-88"))
        .expect("the job's run");
    assert!(
        !system_texts(&job).join("\n").contains(SECRET),
        "a stranger's job saw the private memory"
    );
    assert!(!offered(&job).contains(&"memory_search".to_owned()));
}

#[actix_web::test]
async fn an_operators_sub_agent_reports_back_in_the_operators_session() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = setup(&tg, &ai, Value::Null);
    let mut op = crate::telegram_flow::admin(&gw).await;
    ai.push_marked(CHILD, FakeReply::text("the child computed 42"));
    ai.push_marked(RESULT, FakeReply::text("The answer is 42."));
    let call = ai.push_tool_call(
        "sessions_spawn",
        json!({"task": "compute it", "label": "Calc", "cleanup": "delete"}),
    );
    ai.push_text("Spawned.");
    let fin = crate::agent_rpc::chat_turn(
        &mut op,
        "op-spawn-1",
        json!({"sessionKey": "main", "message": "please compute"}),
    )
    .await;
    assert_eq!(fin["message"]["content"][0]["text"], "Spawned.", "{fin}");
    let r = result_of(&ai, &call);
    let id = r["taskId"].as_str().expect("a task id");
    // The review's answer streams to operators as the session's own run.
    let review =
        crate::agent_rpc::chat_event(&mut op, &format!("subagent-result:{id}"), "final").await;
    assert_eq!(review["sessionKey"], "agent:main:main", "{review}");
    assert_eq!(
        review["message"]["content"][0]["text"], "The answer is 42.",
        "{review}"
    );
    // And is in its history, after the handoff.
    let hist = op
        .request("chat.history", json!({"sessionKey": "main"}))
        .await;
    let text = hist["payload"]["messages"].to_string();
    assert!(
        text.contains("[Subagent Result]") && text.contains("The answer is 42."),
        "{hist}"
    );
    // `cleanup: "delete"`: the child's session is gone once its result was handed back.
    let child = r["childSessionKey"].as_str().expect("child key").to_owned();
    let mut gone = false;
    for _ in 0..50 {
        let listed = op.request("sessions.list", json!({})).await;
        if !listed.to_string().contains(&child) {
            gone = true;
            break;
        }
        // The delete is queued behind the handoff; ask again once the registry moved on.
        let _ = op.request("health", json!({})).await;
    }
    assert!(gone, "{child} still listed");
    // No chat got anything.
    assert!(tg.sent().is_empty(), "{:?}", tg.sent());
}

/// An operator's turn in `session` spawns a child (with `args`) whose model answer is held
/// on `gate` forever; returns its task id once the child's request reached the model.
async fn held_child(
    ai: &FakeOpenAi,
    op: &mut WsClient,
    gate: &std::sync::Arc<tokio::sync::Semaphore>,
    (session, run): (&str, &str),
    args: Value,
) -> String {
    let before = requests_with(ai, CHILD).len();
    ai.push_marked(CHILD, FakeReply::text("never sent").held_by(gate));
    let call = ai.push_tool_call("sessions_spawn", args);
    ai.push_text("Spawned.");
    crate::agent_rpc::chat_turn(op, run, json!({"sessionKey": session, "message": "go"})).await;
    poll_until(SLOW, "the child's request", || {
        (requests_with(ai, CHILD).len() == before + 1).then_some(())
    })
    .await;
    result_of(ai, &call)["taskId"]
        .as_str()
        .expect("a task id")
        .to_owned()
}

/// `tasks.get`'s status of `id` once it is `want` (or the last seen after 100 asks: a kill
/// lands once the child's run has ended).
async fn task_status(op: &mut WsClient, id: &str, want: &str) -> Value {
    let mut status = Value::Null;
    for _ in 0..100 {
        let got = op.request("tasks.get", json!({"taskId": id})).await;
        status = got["payload"]["task"]["status"].clone();
        if status == want {
            break;
        }
        let _ = op.request("health", json!({})).await;
    }
    status
}

#[actix_web::test]
async fn sessions_abort_by_key_stops_the_sessions_sub_agents_too() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = setup(&tg, &ai, Value::Null);
    let mut op = crate::telegram_flow::admin(&gw).await;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let args = json!({"task": "a slow search", "label": "Slow"});
    held_child(&ai, &mut op, &gate, ("main", "op-abort-1"), args).await;
    // The session itself is idle: its child is what stops.
    let res = op.request("sessions.abort", json!({"key": "main"})).await;
    assert_eq!(
        res["payload"],
        json!({"ok": true, "abortedRunId": null, "status": "no-active-run", "subagentsStopped": 1}),
        "{res}"
    );
    let again = op.request("sessions.abort", json!({"key": "main"})).await;
    assert_eq!(again["payload"].get("subagentsStopped"), None, "{again}");
    // A run-id abort never reaches the children.
    let by_run = op
        .request("sessions.abort", json!({"runId": "op-abort-1"}))
        .await;
    assert_eq!(by_run["payload"]["status"], "no-active-run", "{by_run}");
    assert!(
        requests_with(&ai, RESULT).is_empty(),
        "no review for a killed child"
    );
}

#[actix_web::test]
async fn the_task_ledger_lists_gets_and_cancels_sub_agents() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = setup(&tg, &ai, Value::Null);
    let mut op = crate::telegram_flow::admin(&gw).await;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let args = json!({"task": "index the \u{202e}archive", "label": "Indexer"});
    let id = held_child(&ai, &mut op, &gate, ("main", "op-tasks-1"), args).await;

    let list = op.request("tasks.list", json!({})).await;
    let task = &list["payload"]["tasks"][0];
    assert_eq!(task["id"], id.as_str(), "{list}");
    assert_eq!(task["status"], "running", "{list}");
    assert_eq!(task["runtime"], "subagent", "{list}");
    assert_eq!(task["title"], "Indexer", "{list}");
    assert_eq!(task["sessionKey"], "agent:main:main", "{list}");
    assert!(
        task["childSessionKey"]
            .as_str()
            .is_some_and(|k| k.starts_with("agent:main:subagent:")),
        "{list}"
    );
    let none = op
        .request("tasks.list", json!({"status": ["completed", "failed"]}))
        .await;
    assert_eq!(none["payload"]["tasks"], json!([]), "{none}");
    let other = op
        .request("tasks.list", json!({"sessionKey": "agent:main:elsewhere"}))
        .await;
    assert_eq!(other["payload"]["tasks"], json!([]), "{other}");

    let got = op.request("tasks.get", json!({"taskId": id})).await;
    assert_eq!(got["payload"]["task"]["id"], id.as_str(), "{got}");

    // Cancel: the child stops; a second cancel says why not.
    let cancel = op
        .request("tasks.cancel", json!({"taskId": id, "reason": "enough"}))
        .await;
    assert_eq!(cancel["payload"]["found"], true, "{cancel}");
    assert_eq!(cancel["payload"]["cancelled"], true, "{cancel}");
    let again = op.request("tasks.cancel", json!({"taskId": id})).await;
    assert_eq!(again["payload"]["cancelled"], false, "{again}");
    assert!(
        again["payload"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("task is already")),
        "{again}"
    );
    assert_eq!(task_status(&mut op, &id, "cancelled").await, "cancelled");
    assert!(
        requests_with(&ai, RESULT).is_empty(),
        "no review for a cancelled child"
    );

    let unknown = op.request("tasks.cancel", json!({"taskId": "nope"})).await;
    assert_eq!(
        unknown["payload"],
        json!({"found": false, "cancelled": false}),
        "{unknown}"
    );
    for (method, params, want) in [
        (
            "tasks.get",
            json!({"taskId": "nope\u{0}"}),
            "task not found",
        ),
        ("tasks.get", json!({}), "required property 'taskId'"),
        (
            "tasks.get",
            json!({"taskId": "x", "reason": "y"}),
            "unexpected property 'reason'",
        ),
        ("tasks.list", json!({"status": "done"}), "/status"),
        ("tasks.list", json!({"status": ["running", 3]}), "/status/1"),
        ("tasks.list", json!({"limit": 501}), "/limit"),
        ("tasks.list", json!({"limit": 0}), "/limit"),
        ("tasks.list", json!({"sortBy": "title"}), "/sortBy"),
        (
            "tasks.list",
            json!({"cursor": "x".repeat(513)}),
            "invalid or expired",
        ),
        (
            "tasks.list",
            json!({"cursor": "1.a.ffff"}),
            "invalid or expired",
        ),
    ] {
        let res = op.request(method, params.clone()).await;
        assert_eq!(res["ok"], false, "{method} {params}: {res}");
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{method} {params}: {res}");
    }
}

#[actix_web::test]
async fn resetting_or_deleting_a_session_stops_its_sub_agents() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = setup(&tg, &ai, Value::Null);
    let mut op = crate::telegram_flow::admin(&gw).await;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let args = || json!({"task": "a slow job"});
    let first = held_child(&ai, &mut op, &gate, ("main", "reset-1"), args()).await;
    let reset = op.request("sessions.reset", json!({"key": "main"})).await;
    assert_eq!(reset["ok"], true, "{reset}");
    assert_eq!(task_status(&mut op, &first, "cancelled").await, "cancelled");
    let side = ("agent:main:side", "delete-1");
    let second = held_child(&ai, &mut op, &gate, side, args()).await;
    let deleted = op
        .request("sessions.delete", json!({"key": "agent:main:side"}))
        .await;
    assert_eq!(deleted["ok"], true, "{deleted}");
    assert_eq!(
        task_status(&mut op, &second, "cancelled").await,
        "cancelled"
    );
    assert!(
        requests_with(&ai, RESULT).is_empty(),
        "no review for a stopped child"
    );
}

/// `user` writes; the model calls `tool` with each of `calls` (one per round), then answers
/// "ok". Returns each call's result.
async fn tool_turn(
    tg: &FakeTelegram,
    ai: &FakeOpenAi,
    user: i64,
    tool: &str,
    calls: &[Value],
) -> Vec<Value> {
    let ids: Vec<String> = calls
        .iter()
        .map(|a| ai.push_tool_call(tool, a.clone()))
        .collect();
    ai.push_text("ok");
    let mid = dm(tg, user, "show me");
    assert_eq!(wait_reply(tg, mid, SLOW).await.text(), "ok");
    ids.iter().map(|id| result_of(ai, id)).collect()
}

#[actix_web::test]
async fn session_tools_see_what_the_chat_may_see_and_redact_credentials() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let _gw = setup(&tg, &ai, Value::Null);
    // A stranger writes a credential; the owner writes too.
    ai.push_text("noted");
    let m = dm(
        &tg,
        STRANGER,
        &format!("my key is sk-abcdefghijklmnopqrstuvwxyz0123 keep it, and {TG_TOKEN}"),
    );
    wait_reply(&tg, m, SLOW).await;
    ai.push_text("hello owner");
    let m = dm(&tg, OWNER, "hi");
    wait_reply(&tg, m, SLOW).await;
    let owner_key = format!("agent:main:telegram:direct:{OWNER}");
    let stranger_key = format!("agent:main:telegram:direct:{STRANGER}");

    // The owner (default visibility "all") sees both, reads the stranger's history with
    // the credential redacted, and gets the status card.
    let r = tool_turn(&tg, &ai, OWNER, "sessions_list", &[json!({})]).await;
    let keys: Vec<&str> = r[0]["sessions"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|s| s["key"].as_str())
        .collect();
    assert!(
        keys.contains(&owner_key.as_str()) && keys.contains(&stranger_key.as_str()),
        "{}",
        r[0]
    );
    let r = tool_turn(
        &tg,
        &ai,
        OWNER,
        "sessions_history",
        &[json!({"sessionKey": stranger_key, "limit": 10})],
    )
    .await;
    assert_eq!(r[0]["ok"], true, "{}", r[0]);
    let text = r[0]["messages"].to_string();
    assert!(text.contains("my key is <redacted> keep it"), "{text}");
    assert!(!text.contains("sk-abcdef"), "{text}");
    // The bot's token is a configured secret (too short to look like one).
    assert!(!text.contains("AAH-flow_TOKEN_secret"), "{text}");
    let r = tool_turn(&tg, &ai, OWNER, "session_status", &[json!({})]).await;
    assert!(
        r[0]["status"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("Session: {owner_key}")),
        "{}",
        r[0]
    );

    // The stranger sees only their own conversation: the owner's is as unknown as a
    // session that does not exist.
    let r = tool_turn(
        &tg,
        &ai,
        STRANGER,
        "sessions_list",
        &[json!({}), json!({"kinds": ["direct"], "limit": 1})],
    )
    .await;
    let rows = r[0]["sessions"].as_array().expect("rows");
    assert!(
        rows.iter().all(|s| s["key"] == json!(stranger_key)),
        "{}",
        r[0]
    );
    assert_eq!(r[0]["visibility"], "tree", "{}", r[0]);
    // The owner's sessions are not even counted: one row, and no "more".
    assert_eq!(r[1]["count"], 1, "{}", r[1]);
    assert!(r[1].get("truncated").is_none(), "{}", r[1]);
    let r = tool_turn(
        &tg,
        &ai,
        STRANGER,
        "sessions_history",
        &[
            json!({"sessionKey": owner_key}),
            json!({"sessionKey": "agent:main:nope"}),
            json!({"sessionKey": 5}),
        ],
    )
    .await;
    assert_eq!(r[0]["ok"], false, "{}", r[0]);
    let e0 = r[0]["error"].as_str().unwrap_or_default();
    let e1 = r[1]["error"].as_str().unwrap_or_default();
    assert!(e0.contains("that this conversation may see"), "{e0}");
    assert_eq!(
        e0.replace(&owner_key, "K"),
        e1.replace("agent:main:nope", "K"),
        "a hidden session and a missing one look the same"
    );
    assert!(!r[0].to_string().contains("hello owner"));
    assert!(
        r[2]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("must be a string")
    );
    let r = tool_turn(
        &tg,
        &ai,
        STRANGER,
        "session_status",
        &[json!({"sessionKey": owner_key})],
    )
    .await;
    assert_eq!(r[0]["ok"], false, "{}", r[0]);
}

/// `sessions_search` (OpenClaw's): every word of the query, case aside and any script, in
/// the user's and the assistant's messages of the sessions the caller may see, newest
/// first, credentials redacted in the snippets; a stranger's chat finds only its own; bad
/// arguments are refused in OpenClaw's error shape.
#[actix_web::test]
async fn sessions_search_finds_words_in_the_chats_the_caller_may_see() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let _gw = setup(&tg, &ai, Value::Null);
    ai.push_text("noted, the walrus");
    let m = dm(
        &tg,
        STRANGER,
        "the Walrus ate seven SARDINES; my key is sk-abcdefghijklmnopqrstuvwxyz0123",
    );
    wait_reply(&tg, m, SLOW).await;
    ai.push_text("Booked: the ZÜRICH café at 10:30 \u{202e}ok");
    let m = dm(&tg, OWNER, "book the café in Zürich, 東京 next");
    wait_reply(&tg, m, SLOW).await;
    let owner_key = format!("agent:main:telegram:direct:{OWNER}");
    let stranger_key = format!("agent:main:telegram:direct:{STRANGER}");

    let r = tool_turn(
        &tg,
        &ai,
        OWNER,
        "sessions_search",
        &[
            json!({"query": "sardines walrus"}),
            json!({"query": "zürich CAFÉ"}),
            json!({"query": "東京"}),
            json!({"query": "walrus", "sessionKey": owner_key}),
            json!({"query": "walrus", "limit": 1}),
        ],
    )
    .await;
    let hits = |v: &Value| v["results"].as_array().cloned().unwrap_or_default();
    let found = hits(&r[0]);
    assert_eq!(found.len(), 1, "{}", r[0]);
    assert_eq!(found[0]["sessionKey"], stranger_key.as_str(), "{}", r[0]);
    assert_eq!(found[0]["role"], "user", "{}", r[0]);
    let snippet = found[0]["snippet"].as_str().unwrap_or_default();
    assert!(snippet.contains("Walrus ate seven SARDINES"), "{snippet}");
    assert!(
        snippet.contains("<redacted>") && !snippet.contains("sk-abc"),
        "{snippet}"
    );
    assert!(found[0]["sessionId"].is_string() && found[0]["timestamp"].as_u64() > Some(0));
    // Both the owner's words and the assistant's answer hold "Zürich" and "café": newest first.
    let found = hits(&r[1]);
    assert_eq!(found.len(), 2, "{}", r[1]);
    assert_eq!(found[0]["role"], "assistant", "{}", r[1]);
    assert_eq!(found[1]["role"], "user", "{}", r[1]);
    assert!(found.iter().all(|h| h["sessionKey"] == json!(owner_key)));
    assert_eq!(hits(&r[2]).len(), 1, "{}", r[2]);
    assert!(hits(&r[3]).is_empty(), "only the owner's session: {}", r[3]);
    // "walrus" is in the stranger's message and in the answer to it: the limit says more.
    assert_eq!(hits(&r[4]).len(), 1, "{}", r[4]);
    assert_eq!(r[4]["truncated"], true, "{}", r[4]);

    // The stranger's chat sees only itself.
    let r = tool_turn(
        &tg,
        &ai,
        STRANGER,
        "sessions_search",
        &[
            json!({"query": "café"}),
            json!({"query": "sardines"}),
            json!({"query": "café", "sessionKey": owner_key}),
        ],
    )
    .await;
    assert!(hits(&r[0]).is_empty(), "{}", r[0]);
    assert_eq!(hits(&r[1]).len(), 1, "{}", r[1]);
    assert_eq!(r[2]["status"], "error", "{}", r[2]);
    assert!(!r[2].to_string().contains("Zürich"), "{}", r[2]);

    // Bad arguments.
    let r = tool_turn(
        &tg,
        &ai,
        OWNER,
        "sessions_search",
        &[
            json!({"query": "  "}),
            json!({"query": "?!"}),
            json!({"query": "x".repeat(4097)}),
            json!({"query": "walrus", "limit": 0}),
            json!({"query": "walrus", "limit": 26}),
            json!({"query": 7}),
            json!({}),
        ],
    )
    .await;
    for (i, v) in r.iter().enumerate() {
        if i == 4 {
            // Above the most: the most (OpenClaw clamps).
            assert_eq!(v["results"].as_array().map(Vec::len), Some(2), "{v}");
            continue;
        }
        assert_eq!(v["status"], "error", "{i}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
}

#[actix_web::test]
async fn a_restart_reports_the_interrupted_sub_agent_to_its_chat() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = setup(&tg, &ai, Value::Null);
    let gate = Arc::new(Semaphore::new(0));
    ai.push_marked(CHILD, FakeReply::text("never answered").held_by(&gate));
    spawn_turn(
        &tg,
        &ai,
        OWNER,
        &[json!({"task": "a long job", "label": "Long job"})],
        "Started.",
    )
    .await;
    poll_until(SLOW, "the child's request", || {
        (requests_with(&ai, CHILD).len() == 1).then_some(())
    })
    .await;
    // The gateway is killed while the child works, and starts again on the same state.
    let file = gw.dir.path().join("subagents/runs.json");
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("runs.json")).expect("JSON");
    assert_eq!(saved["runs"][0]["label"], "Long job", "{saved}");
    ai.push_marked(
        RESULT,
        FakeReply::text("Sorry, the long job was cut off by a restart."),
    );
    let gw = crate::telegram_flow::restart(gw);
    wait_text(&tg, OWNER, "the long job was cut off").await;
    let review = requests_with(&ai, RESULT);
    assert_eq!(review.len(), 1, "told once");
    let text = review[0]["messages"].to_string();
    assert!(
        text.contains("Task: Long job") && text.contains("Status: interrupted"),
        "{text}"
    );
    // Reported once: the file no longer lists it.
    poll_until(SLOW, "runs.json emptied", || {
        let v: Value = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
        (v["runs"].as_array()?.is_empty()).then_some(())
    })
    .await;
    drop(gw);
}

#[actix_web::test]
async fn sessions_send_runs_another_session_and_returns_its_reply_without_reaching_a_chat() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let _gw = setup(&tg, &ai, Value::Null);
    let stranger_key = format!("agent:main:telegram:direct:{STRANGER}");
    ai.push_text("hi stranger");
    let m = dm(&tg, STRANGER, "hello");
    wait_reply(&tg, m, SLOW).await;
    const ASK: &str = "[Inter-session message from";
    ai.push_marked(ASK, FakeReply::text("The main session says 4."));
    // The turn of the call that does not wait.
    ai.push_marked(ASK, FakeReply::text("ack"));
    let gate = Arc::new(Semaphore::new(0));
    let r = tool_turn(
        &tg,
        &ai,
        OWNER,
        "sessions_send",
        &[
            json!({"sessionKey": "main", "message": "what is 2+2?"}),
            json!({"agentId": "main", "message": "no wait", "timeoutSeconds": 0}),
            json!({"sessionKey": format!("agent:main:telegram:direct:{OWNER}"), "message": "me"}),
            json!({"sessionKey": "main"}),
        ],
    )
    .await;
    assert_eq!(r[0]["status"], "ok", "{}", r[0]);
    assert_eq!(r[0]["sessionKey"], "agent:main:main", "{}", r[0]);
    assert_eq!(r[0]["reply"], "The main session says 4.", "{}", r[0]);
    assert_eq!(r[1]["status"], "accepted", "{}", r[1]);
    assert!(
        r[2]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("this conversation"),
        "{}",
        r[2]
    );
    assert!(
        r[3]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("message is required"),
        "{}",
        r[3]
    );
    // The turn there: marked as another session's, without the tools that send on.
    let turn = ai
        .requests()
        .into_iter()
        .find(|r| crate::telegram_flow::last_user_text(r).starts_with(ASK))
        .expect("the target's turn");
    assert!(crate::telegram_flow::last_user_text(&turn).contains("what is 2+2?"));
    let tools = offered(&turn);
    for t in ["sessions_send", "message", "cron", "sessions_spawn"] {
        assert!(!tools.contains(&t.to_owned()), "{t}: {tools:?}");
    }
    // Only the owner's own chat got anything (the target session has no chat).
    let sent: Vec<i64> = tg.sent().iter().filter_map(|s| s.chat_id()).collect();
    assert!(
        sent.iter().all(|c| *c == OWNER || *c == STRANGER),
        "{sent:?}"
    );

    // A reply that takes longer than the wait: `timeout`, and the turn goes on.
    ai.push_marked(ASK, FakeReply::text("late").held_by(&gate));
    let r = tool_turn(
        &tg,
        &ai,
        OWNER,
        "sessions_send",
        &[json!({"sessionKey": "main", "message": "slow one", "timeoutSeconds": 1})],
    )
    .await;
    assert_eq!(r[0]["status"], "timeout", "{}", r[0]);
    gate.add_permits(1);

    // A stranger cannot reach the owner's sessions.
    let r = tool_turn(
        &tg,
        &ai,
        STRANGER,
        "sessions_send",
        &[json!({"sessionKey": format!("agent:main:telegram:direct:{OWNER}"), "message": "leak?"}),
          json!({"agentId": "main", "message": "leak?"})],
    )
    .await;
    for x in &r {
        assert_eq!(x["ok"], false, "{x}");
        assert!(
            x["error"].as_str().unwrap_or_default().contains("may see"),
            "{x}"
        );
    }
    assert!(
        !ai.requests().iter().any(
            |r| crate::telegram_flow::last_user_text(r).contains("leak?")
                && crate::telegram_flow::last_user_text(r).starts_with(ASK)
        ),
        "no turn ran for the stranger"
    );
    let _ = stranger_key;
}

#[actix_web::test]
async fn an_agents_own_allow_agents_lets_its_children_run_as_another_agent() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value =
        serde_json::from_str(&exec_config(&tg, &ai, Value::Null, Value::Null)).expect("JSON");
    cfg["agents"]["entries"] = json!({
        "main": {"default": true, "subagents": {"allowAgents": ["research"]}},
        "research": {"name": "Research"},
        "home": {"name": "Home"},
    });
    let _gw = start_gateway(&serde_json::to_string(&cfg).expect("config"));
    ai.push_marked(CHILD, FakeReply::text("researched"));
    ai.push_marked(RESULT, FakeReply::text("Research is done."));
    let res = spawn_turn(
        &tg,
        &ai,
        OWNER,
        &[
            json!({"task": "dig", "agentId": "research"}),
            json!({"task": "dig", "agentId": "home"}),
            json!({"task": "dig", "agentId": "nobody"}),
        ],
        "Asked.",
    )
    .await;
    assert_eq!(res[0]["ok"], true, "{}", res[0]);
    assert!(
        res[0]["childSessionKey"]
            .as_str()
            .unwrap_or_default()
            .starts_with("agent:research:subagent:"),
        "{}",
        res[0]
    );
    let e = res[1]["error"].as_str().unwrap_or_default();
    assert!(e.contains("agentId home is not allowed"), "{e}");
    let e = res[2]["error"].as_str().unwrap_or_default();
    assert!(e.contains("not allowed") || e.contains("no agent"), "{e}");
    wait_text(&tg, OWNER, "Research is done.").await;
}

#[actix_web::test]
async fn hostile_spawn_arguments_and_slash_words_are_refused_and_nothing_starts() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = setup(&tg, &ai, Value::Null);
    let huge = "ß".repeat(32_001);
    let res = spawn_turn(
        &tg,
        &ai,
        STRANGER,
        &[
            json!("not an object"),
            json!({"task": huge}),
            json!({"task": "x", "label": "\u{202e}evil\u{0007}", "taskName": "../../etc"}),
            json!({"task": "x", "agentId": "MAIN\u{0000}"}),
            json!({"task": "x", "runTimeoutSeconds": 1e300}),
            json!({"task": "x", "cleanup": {"$gt": ""}}),
        ],
        "No.",
    )
    .await;
    for r in &res {
        assert_eq!(r["ok"], false, "{r}");
        assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
    }
    assert!(
        res[1]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("longer than")
    );
    assert!(
        res[2]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("taskName")
    );
    // Nothing started.
    assert!(requests_with(&ai, CHILD).is_empty());
    for words in [
        "/subagents kill \u{202e}",
        "/subagents info 99999999999999999999",
        "/subagents 🤖🤖🤖",
    ] {
        let m = dm(&tg, STRANGER, words);
        let t = wait_reply(&tg, m, SLOW).await.text().to_owned();
        assert!(t.starts_with("⚙️") || t.starts_with("🤖"), "{words:?}: {t}");
    }
    crate::telegram_flow::assert_healthy(&gw).await;
}
