//! Several agents in one gateway (`agents.entries` + `bindings`, OpenClaw's multi-agent
//! routing) against the real binary: two Telegram bots and a peer binding route to three
//! agents, each with its own workspace, model, tools and session store (kept across a
//! restart); operators reach an agent by its session key or `agentId` and nothing else; a
//! fleet without an owner does not answer unbound messages; bad rosters refuse the start.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{CliHome, TestGateway, WsClient, cli_params};
use crate::telegram_flow::{GW_ARGS, GW_TOKEN, SLOW, TG_TOKEN, admin, config, dm, wait_reply};
use crate::workspace::{offered, system_texts};

/// `config` of `telegram_flow` plus a second bot (`alerts`) on `tg2`, a second model and
/// the `agents` / `bindings` given.
fn fleet_config(
    tg: &FakeTelegram,
    tg2: &FakeTelegram,
    ai: &FakeOpenAi,
    entries: Value,
    bindings: Value,
) -> String {
    let mut c: Value = serde_json::from_str(&config(tg, Some(ai), json!({}))).expect("cfg");
    c["channels"]["telegram"]["accounts"] = json!({"alerts": {
        "botToken": tg2.token(),
        "apiRoot": tg2.api_root(),
    }});
    c["models"]["providers"]["fake"]["models"] =
        json!([{"id": "flow-model"}, {"id": "work-model"}]);
    c["agents"]["entries"] = entries;
    c["bindings"] = bindings;
    c.to_string()
}

/// The system messages of a recorded request, as one text.
fn system_text(request: &Value) -> String {
    system_texts(request).join("\n")
}

fn index(state: &Path, agent: &str) -> Value {
    let p = state.join(format!("agents/{agent}/sessions/sessions.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .expect("index json")
}

#[actix_web::test]
async fn bindings_route_chats_to_agents_with_their_own_workspace_model_tools_and_sessions() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let tg2 = FakeTelegram::start("777:alerts-bot-token");
    let ai = FakeOpenAi::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().to_path_buf();
    let home_ws = state.join("ws-home");
    let work_ws = state.join("ws-work");
    for (ws, soul) in [
        (&home_ws, "You are the HOME persona."),
        (&work_ws, "You are the WORK persona."),
    ] {
        std::fs::create_dir_all(ws).expect("mkdir");
        std::fs::write(ws.join("SOUL.md"), soul).expect("soul");
    }
    let c = fleet_config(
        &tg,
        &tg2,
        &ai,
        json!({
            "home": {"default": true, "workspace": home_ws, "name": "Home"},
            "work": {"workspace": work_ws, "model": "fake/work-model", "tools": {"deny": ["cron"]}},
            "alerts": {"identity": {"name": "Alert desk"}},
        }),
        json!([
            {"agentId": "work", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": 5201}}},
            {"agentId": "alerts", "match": {"channel": "telegram", "accountId": "alerts"}},
            {"agentId": "work", "type": "acp", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "5101"}}},
        ]),
    );
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&c));

    // An unbound DM on the default bot: the owner, `home`, with its persona and the default
    // model and tools.
    ai.push_text("home here");
    let m = dm(&tg, 5101, "hello");
    assert_eq!(wait_reply(&tg, m, SLOW).await.text(), "home here");
    // The start line (written before the channels start).
    let started = format!("{}{}", gw.stdout(), gw.stderr());
    assert!(
        started.contains(
            "agents: alerts, home, work (fake/work-model); 2 bindings, unbound messages to home"
        ),
        "{started}"
    );
    assert!(
        started.contains("bindings[2] is an ACP binding"),
        "{started}"
    );
    let r = &ai.requests()[0];
    assert_eq!(r["model"], "flow-model", "{r}");
    let sys = system_text(r);
    assert!(
        sys.contains("HOME persona") && !sys.contains("WORK persona"),
        "{sys}"
    );
    assert!(offered(r).contains(&"cron".to_owned()), "{:?}", offered(r));

    // The bound peer: `work`, its persona, its own model, `cron` denied for it alone.
    ai.push_text("work here");
    let m = dm(&tg, 5201, "status?");
    assert_eq!(wait_reply(&tg, m, SLOW).await.text(), "work here");
    let r = &ai.requests()[1];
    assert_eq!(r["model"], "work-model", "{r}");
    let sys = system_text(r);
    assert!(
        sys.contains("WORK persona") && !sys.contains("HOME persona"),
        "{sys}"
    );
    assert!(!offered(r).contains(&"cron".to_owned()), "{:?}", offered(r));

    // The second bot: `alerts`, in a workspace of its own made for it.
    ai.push_text("alerts here");
    let m = dm(&tg2, 5301, "anything?");
    assert_eq!(wait_reply(&tg2, m, SLOW).await.text(), "alerts here");
    let alerts_ws = gw.dir.path().join("workspace-alerts");
    assert!(alerts_ws.join("AGENTS.md").is_file(), "seeded");
    let sys = system_text(&ai.requests()[2]);
    assert!(sys.contains(&alerts_ws.display().to_string()), "{sys}");
    assert!(
        !sys.contains("HOME persona") && !sys.contains("WORK persona"),
        "{sys}"
    );
    assert!(
        tg.sent().iter().all(|s| s.text() != "alerts here"),
        "answered by its own bot"
    );

    // Each agent's sessions in its own store.
    let state = gw.dir.path().to_path_buf();
    let idx = |agent: &str| -> Vec<String> {
        index(&state, agent)
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(idx("home"), ["agent:home:telegram:direct:5101"]);
    assert_eq!(idx("work"), ["agent:work:telegram:direct:5201"]);
    assert_eq!(idx("alerts"), ["agent:alerts:telegram:direct:5301"]);
    let work_sid = index(&state, "work")["agent:work:telegram:direct:5201"]["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_owned();
    assert!(
        state
            .join(format!("agents/work/sessions/{work_sid}.jsonl"))
            .is_file()
    );

    // Operators: the roster, the default agent, an agent's session by key or by agentId.
    let mut op = admin(&gw).await;
    let list = op.request("agents.list", json!({})).await;
    assert_eq!(list["payload"]["defaultId"], "home", "{list}");
    let names: Vec<(String, String)> = list["payload"]["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or_default().to_owned(),
                a["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("alerts".to_owned(), "Alert desk".to_owned()),
            ("home".to_owned(), "Home".to_owned()),
            ("work".to_owned(), "work".to_owned())
        ]
    );
    let (_, hello) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    assert_eq!(
        hello["snapshot"]["sessionDefaults"]["mainSessionKey"], "agent:home:main",
        "{hello}"
    );
    // A reader sees session keys but not where the state directory is.
    let h = &hello["snapshot"]["health"];
    assert_eq!(
        h["sessions"]["path"], "agents/home/sessions/sessions.json",
        "{hello}"
    );
    assert_eq!(
        h["sessions"]["recent"][0]["key"], "agent:home:telegram:direct:5101",
        "{hello}"
    );
    ai.push_text("work via operator");
    let id = op
        .send_request(
            "agent",
            json!({"message": "report", "agentId": "work", "idempotencyKey": "op-work-1"}),
        )
        .await;
    assert_eq!(op.response(&id).await["ok"], true);
    let done = op.response(&id).await;
    assert_eq!(done["payload"]["status"], "ok", "{done}");
    let r = &ai.requests()[3];
    assert_eq!(r["model"], "work-model", "{r}");
    assert!(system_text(r).contains("WORK persona"));
    assert!(idx("work").contains(&"agent:work:main".to_owned()));
    for (params, want) in [
        (
            json!({"sessionKey": "agent:nope:main", "message": "x", "idempotencyKey": "bad-1"}),
            "unknown agent id \"nope\"",
        ),
        (
            json!({"sessionKey": "agent:../../etc:main", "message": "x", "idempotencyKey": "bad-2"}),
            "not of the form",
        ),
        (
            json!({"sessionKey": "agent:home:main", "agentId": "work", "message": "x", "idempotencyKey": "bad-3"}),
            "is not a session of agentId",
        ),
    ] {
        let res = op.request("chat.send", params).await;
        assert_eq!(res["ok"], false, "{res}");
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{want}: {res}");
    }
    for (method, params) in [
        ("sessions.reset", json!({"key": "agent:nope:main"})),
        (
            "sessions.patch",
            json!({"key": "agent:nope:main", "label": "x"}),
        ),
    ] {
        let res = op.request(method, params).await;
        assert_eq!(res["ok"], false, "{method}: {res}");
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("not a session of a configured agent"),
            "{method}: {res}"
        );
    }
    assert!(!state.join("agents/nope").exists());
    assert!(!state.join("etc").exists());
    let files = op
        .request(
            "agents.files.get",
            json!({"agentId": "work", "name": "SOUL.md"}),
        )
        .await;
    assert_eq!(
        files["payload"]["file"]["content"], "You are the WORK persona.",
        "{files}"
    );
    let files = op
        .request("agents.files.list", json!({"agentId": "ghost"}))
        .await;
    assert_eq!(files["ok"], false, "{files}");
    assert_eq!(ai.request_count(), 4, "refused calls reach no model");

    // `health`: every agent with its own store and count; the default agent's on top.
    let health = op.request("health", json!({})).await;
    let h = &health["payload"];
    let store = |agent: &str| {
        state
            .join(format!("agents/{agent}/sessions/sessions.json"))
            .display()
            .to_string()
    };
    assert_eq!(h["defaultAgentId"], "home", "{health}");
    assert_eq!(h["sessions"]["path"], store("home"), "{health}");
    let rows: Vec<(String, bool, u64, String)> = h["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| {
            (
                a["agentId"].as_str().unwrap_or_default().to_owned(),
                a["isDefault"] == true,
                a["sessions"]["count"].as_u64().unwrap_or(99),
                a["sessions"]["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("alerts".to_owned(), false, 1, store("alerts")),
            ("home".to_owned(), true, 1, store("home")),
            ("work".to_owned(), false, 2, store("work")),
        ],
        "{health}"
    );
    // Deleting a work session archives its transcript in work's own directory.
    let del = op
        .request("sessions.delete", json!({"key": "agent:work:main"}))
        .await;
    let archived = del["payload"]["archived"][0].as_str().unwrap_or_default();
    assert!(
        archived.starts_with(&format!("{}/agents/work/sessions/", state.display()))
            && Path::new(archived).is_file(),
        "{del}"
    );

    // After a restart each agent finds its sessions again: the work chat goes on.
    drop(op);
    let gw = crate::telegram_flow::restart(gw);
    ai.push_text("still work");
    let m = dm(&tg, 5201, "and now?");
    assert_eq!(wait_reply(&tg, m, SLOW).await.text(), "still work");
    let r = ai.requests().last().cloned().expect("request");
    let history: Vec<&str> = r["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        history.iter().any(|t| t.contains("status?")) && history.contains(&"work here"),
        "{history:?}"
    );
    drop(gw);
}

#[actix_web::test]
async fn a_fleet_without_an_owner_leaves_unbound_chats_unanswered() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let tg2 = FakeTelegram::start("778:second-bot-token");
    let ai = FakeOpenAi::start();
    let c = fleet_config(
        &tg,
        &tg2,
        &ai,
        json!({"a": {}, "b": {}}),
        json!([{"agentId": "b", "match": {"channel": "telegram", "accountId": "*", "peer": {"kind": "direct", "id": "tg:5101"}}}]),
    );
    let gw = TestGateway::start(GW_ARGS, &[], Some(&c));
    // A stranger's DM, then the bound one's: only the second is answered, by `b`.
    let stranger = dm(&tg, 5999, "hi?");
    ai.push_text("b answers");
    let m = dm(&tg, 5101, "hello");
    assert_eq!(wait_reply(&tg, m, SLOW).await.text(), "b answers");
    let started = format!("{}{}", gw.stdout(), gw.stderr());
    assert!(
        started.contains("unbound messages not answered"),
        "{started}"
    );
    crate::support::retry_until(Duration::from_secs(10), "the refusal logged", || {
        gw.stderr().contains("matches no binding").then_some(())
    });
    assert!(
        crate::telegram_flow::replies_to(&tg, stranger).is_empty(),
        "{:?}",
        tg.sent()
    );
    assert_eq!(ai.request_count(), 1, "{:?}", ai.requests());
    assert!(system_text(&ai.requests()[0]).contains("workspace-b"));
    // The unbound message is not retried after a restart (it was dropped, not kept).
    let gw = crate::telegram_flow::restart(gw);
    ai.push_text("b again");
    let m = dm(&tg, 5101, "again");
    assert_eq!(wait_reply(&tg, m, SLOW).await.text(), "b again");
    assert_eq!(ai.request_count(), 2, "{:?}", ai.requests());
    drop(gw);
}

#[actix_web::test]
async fn bad_rosters_refuse_the_start_naming_the_key() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let tg2 = FakeTelegram::start("779:third-bot-token");
    let ai = FakeOpenAi::start();
    for (entries, bindings, want) in [
        (
            json!({"home": {}}),
            json!([{"agentId": "ghost", "match": {"channel": "telegram"}}]),
            "bindings[0].agentId is \"ghost\"",
        ),
        (json!({"Bad Id": {}}), Value::Null, "is not valid"),
        (
            json!({"a": {"default": true}, "b": {"default": true}}),
            Value::Null,
            "several agents are marked default",
        ),
        (
            json!({"a": {"model": "nowhere/model"}}),
            Value::Null,
            "agents.entries.a.model",
        ),
        (
            json!({"a": {"workspace": "relative/dir"}}),
            Value::Null,
            "agents.entries.a.workspace",
        ),
        (
            json!({"a": {"tools": {"profile": "superuser"}}}),
            Value::Null,
            "agents.entries.a.tools.profile",
        ),
        (
            json!({"a": {}}),
            json!([{"agentId": "a", "match": {"channel": "telegram", "peer": {"kind": "room", "id": "1"}}}]),
            "bindings[0].match.peer.kind",
        ),
        (
            json!({"a": {"skills": ["ok", " "]}}),
            Value::Null,
            "agents.entries.a.skills has the entry",
        ),
        (
            json!({"a": {"heartbeat": {"every": "soon"}}}),
            Value::Null,
            "agents.entries.a.heartbeat.every",
        ),
        (
            json!({"a": {"heartbeat": {"every": "1h", "target": "telegram"}}}),
            Value::Null,
            "needs agents.entries.a.heartbeat.to",
        ),
        (
            json!({"a": {"thinkingDefault": "ultra"}}),
            Value::Null,
            "agents.entries.a.thinkingDefault",
        ),
    ] {
        let home = CliHome::with_config(&fleet_config(&tg, &tg2, &ai, entries, bindings));
        let out = home.run(GW_ARGS, &[]);
        assert_eq!(out.code, Some(78), "{want}: {out:?}");
        assert!(out.stderr.contains(want), "{want}: {}", out.stderr);
    }
    // A workspace that is the state directory is refused for any agent.
    let home = CliHome::new();
    let state = home.config_path();
    let state = state.parent().expect("state dir");
    let c = fleet_config(
        &tg,
        &tg2,
        &ai,
        json!({"a": {}, "b": {"workspace": state}}),
        Value::Null,
    );
    std::fs::write(home.config_path(), c).expect("write config");
    let out = home.run(GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out:?}");
    assert!(out.stderr.contains("agents.entries.b"), "{}", out.stderr);
    // OpenClaw 2026.9's roster keys, with bad values.
    for (key, value, want) in [
        (
            "ownership",
            json!("sometimes"),
            "agents.ownership is \"sometimes\"",
        ),
        (
            "defaults",
            json!({"systemAgent": {"agentId": "ghost"}}),
            "agents.defaults.systemAgent.agentId is \"ghost\"",
        ),
    ] {
        let mut c: Value = serde_json::from_str(&fleet_config(
            &tg,
            &tg2,
            &ai,
            json!({"a": {}, "b": {}}),
            Value::Null,
        ))
        .expect("cfg");
        c["agents"][key] = value;
        let home = CliHome::with_config(&c.to_string());
        let out = home.run(GW_ARGS, &[]);
        assert_eq!(out.code, Some(78), "{want}: {out:?}");
        assert!(out.stderr.contains(want), "{want}: {}", out.stderr);
    }
}

/// OpenClaw 2026.9's `agents.ownership: "explicit"` (what it stamps on a fleet it creates):
/// no agent owns unbound chats, a `default: true` marker included (with a warning), and
/// `agents.defaults.systemAgent.agentId` is the agent operator calls go to by default.
#[actix_web::test]
async fn an_explicit_fleet_has_no_owner_and_its_system_agent_takes_operator_calls() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let tg2 = FakeTelegram::start("781:fifth-bot-token");
    let ai = FakeOpenAi::start();
    let mut c: Value = serde_json::from_str(&fleet_config(
        &tg,
        &tg2,
        &ai,
        json!({"home": {"default": true}, "work": {}}),
        Value::Null,
    ))
    .expect("cfg");
    c["agents"]["ownership"] = json!("explicit");
    c["agents"]["defaults"]["systemAgent"] = json!({"agentId": "work"});
    let gw = TestGateway::start(GW_ARGS, &[], Some(&c.to_string()));
    let out = crate::support::retry_until(Duration::from_secs(10), "the start line", || {
        let out = format!("{}{}", gw.stdout(), gw.stderr());
        out.contains("unbound messages not answered").then_some(out)
    });
    assert!(out.contains("default: true on home is ignored"), "{out}");
    assert!(!out.contains("not supported by openclaw-rs"), "{out}");
    let stranger = dm(&tg, 5998, "anyone?");
    crate::support::retry_until(Duration::from_secs(10), "the refusal logged", || {
        gw.stderr().contains("matches no binding").then_some(())
    });
    assert!(crate::telegram_flow::replies_to(&tg, stranger).is_empty());

    let mut op = admin(&gw).await;
    let list = ok_call(&mut op, "agents.list", json!({})).await;
    assert_eq!(list["defaultId"], "work", "{list}");
    ai.push_text("work speaking");
    let id = op
        .send_request(
            "agent",
            json!({"message": "who?", "idempotencyKey": "sys-1"}),
        )
        .await;
    assert_eq!(op.response(&id).await["ok"], true);
    let done = op.response(&id).await;
    assert_eq!(done["payload"]["status"], "ok", "{done}");
    assert!(
        index(gw.dir.path(), "work")
            .as_object()
            .is_some_and(|m| m.contains_key("agent:work:main")),
        "the default agent's main session"
    );
    assert_eq!(ai.request_count(), 1);
}

/// Per-agent heartbeats (OpenClaw's scope rule): when an agent has its own `heartbeat`
/// block, only such agents beat, each with its block over `agents.defaults.heartbeat`, in
/// its own main session with its own workspace's checklist; `health` says which runs.
#[actix_web::test]
async fn only_agents_with_their_own_heartbeat_beat_in_their_own_session() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("HEARTBEAT_OK");
    ai.push_text("Work: the deploy is red.");
    let mut c: Value = serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("cfg");
    c["agents"]["defaults"]["heartbeat"] =
        json!({"every": "1s", "target": "telegram", "to": "8701", "prompt": "SHARED CHECK"});
    c["agents"]["entries"] = json!({
        "home": {"default": true},
        "work": {"heartbeat": {"prompt": "WORK CHECK: read HEARTBEAT.md"}},
    });
    let dir = tempfile::tempdir().expect("state dir");
    let work_ws = dir.path().join("workspace-work");
    std::fs::create_dir_all(&work_ws).expect("work workspace");
    std::fs::write(work_ws.join("HEARTBEAT.md"), "- is the deploy green?\n").expect("checklist");
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&c.to_string()));
    let mut op = admin(&gw).await;

    // The work agent's beat: its prompt, its checklist, its session; sent to the target.
    crate::telegram_flow::poll_until(SLOW, "the work heartbeat's message", || {
        tg.sent()
            .iter()
            .any(|m| m.text() == "Work: the deploy is red.")
            .then_some(())
    })
    .await;
    let first = ai.requests()[0].to_string();
    assert!(
        first.contains("WORK CHECK: read HEARTBEAT.md") && first.contains("is the deploy green?"),
        "{first}"
    );
    assert!(
        first.contains(&work_ws.display().to_string()),
        "work's workspace: {first}"
    );
    // A few more beats: every one is work's; home never beats.
    crate::telegram_flow::poll_until(SLOW, "three beats", || {
        (ai.request_count() >= 3).then_some(())
    })
    .await;
    for r in ai.requests() {
        let t = r.to_string();
        assert!(
            t.contains("WORK CHECK") && !t.contains("SHARED CHECK"),
            "{t}"
        );
    }
    let state = gw.dir.path().to_path_buf();
    saved(
        &state.join("agents/work/sessions/sessions.json"),
        "agent:work:main",
    )
    .await;
    assert!(
        !state.join("agents/home/sessions/sessions.json").exists()
            || index(&state, "home").get("agent:home:main").is_none(),
        "home never ran a heartbeat"
    );

    let health = op.request("health", json!({})).await;
    let agents = &health["payload"]["agents"];
    assert_eq!(agents[0]["agentId"], "home", "{health}");
    assert_eq!(agents[0]["heartbeat"]["enabled"], false, "{health}");
    assert_eq!(agents[1]["agentId"], "work", "{health}");
    assert_eq!(agents[1]["heartbeat"]["enabled"], true, "{health}");
    assert_eq!(agents[1]["heartbeat"]["every"], "1s", "{health}");
    assert_eq!(health["payload"]["heartbeatSeconds"], 1, "{health}");

    // Paused: health shows every heartbeat off.
    let off = op
        .request("set-heartbeats", json!({"enabled": false}))
        .await;
    assert_eq!(off["ok"], true, "{off}");
    let health = op.request("health", json!({})).await;
    assert_eq!(
        health["payload"]["agents"][1]["heartbeat"]["enabled"], false,
        "{health}"
    );
    assert_eq!(health["payload"]["heartbeatSeconds"], 0, "{health}");
}

/// `agents.defaults.heartbeat.agentId` names the agent the shared heartbeat runs as; one
/// that is not configured refuses the start.
#[actix_web::test]
async fn the_shared_heartbeat_runs_as_its_agent_id() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("HEARTBEAT_OK");
    let mut c: Value = serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("cfg");
    c["agents"]["entries"] = json!({"home": {"default": true}, "work": {}});
    c["agents"]["defaults"]["heartbeat"] = json!({"every": "1s", "agentId": "ghost"});
    let out = CliHome::with_config(&c.to_string()).run(GW_ARGS, &[]);
    assert_eq!(out.code, Some(78), "{out:?}");
    assert!(
        out.stderr
            .contains("agents.defaults.heartbeat.agentId is \"ghost\""),
        "{}",
        out.stderr
    );

    c["agents"]["defaults"]["heartbeat"] = json!({"every": "1s", "agentId": "work"});
    let gw = TestGateway::start(GW_ARGS, &[], Some(&c.to_string()));
    crate::telegram_flow::poll_until(SLOW, "a beat", || (ai.request_count() >= 1).then_some(()))
        .await;
    let work_ws = gw.dir.path().join("workspace-work").display().to_string();
    let first = ai.requests()[0].to_string();
    assert!(first.contains(&work_ws), "runs as work: {first}");
    let mut op = admin(&gw).await;
    let health = op.request("health", json!({})).await;
    let agents = &health["payload"]["agents"];
    assert_eq!(agents[0]["heartbeat"]["enabled"], false, "{health}");
    assert_eq!(agents[1]["agentId"], "work", "{health}");
    assert_eq!(agents[1]["heartbeat"]["enabled"], true, "{health}");
    saved(
        &gw.dir.path().join("agents/work/sessions/sessions.json"),
        "agent:work:main",
    )
    .await;
}

/// Waits (bounded) until the index file at `path` holds `key`.
async fn saved(path: &Path, key: &str) {
    crate::telegram_flow::poll_until(SLOW, &format!("{key} saved"), || {
        std::fs::read_to_string(path)
            .ok()
            .filter(|t| t.contains(&format!("\"{key}\"")))
    })
    .await;
}

/// Skill allowlists (`agents.defaults.skills`, an agent's `skills`, OpenClaw's keys): an
/// agent is shown only the workspace skills its list names; its own list replaces the
/// defaults' and `[]` means none.
#[actix_web::test]
async fn skill_allowlists_choose_what_each_agent_is_shown() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    ai.set_default_text("ok");
    let mut c: Value = serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("cfg");
    c["agents"]["defaults"]["skills"] = json!(["tides"]);
    c["agents"]["entries"] = json!({
        "home": {"default": true},
        "work": {"skills": []},
        "ops": {"skills": [" charts "]},
    });
    let dir = tempfile::tempdir().expect("state dir");
    for ws in ["workspace", "workspace-work", "workspace-ops"] {
        for skill in ["tides", "charts"] {
            let d = dir.path().join(ws).join("skills").join(skill);
            std::fs::create_dir_all(&d).expect("skill dir");
            std::fs::write(
                d.join("SKILL.md"),
                format!("---\nname: {skill}\ndescription: {skill} skill\n---\nbody\n"),
            )
            .expect("skill");
        }
    }
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&c.to_string()));
    let mut op = admin(&gw).await;
    for (n, (agent, want)) in [
        ("home", &["<name>tides</name>"][..]),
        ("work", &[][..]),
        ("ops", &["<name>charts</name>"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let id = op
            .send_request(
                "agent",
                json!({"message": "hi", "agentId": agent, "idempotencyKey": format!("sk-{agent}")}),
            )
            .await;
        assert_eq!(op.response(&id).await["ok"], true);
        let done = op.response(&id).await;
        assert_eq!(done["payload"]["status"], "ok", "{done}");
        let sys = system_text(&ai.requests()[n]);
        let listed: Vec<&str> = ["<name>tides</name>", "<name>charts</name>"]
            .into_iter()
            .filter(|s| sys.contains(s))
            .collect();
        assert_eq!(listed, want, "{agent}: {sys}");
        assert_eq!(
            sys.contains("<available_skills>"),
            !want.is_empty(),
            "{agent}"
        );
    }
}

/// An agent's `thinkingDefault` is its chats' thinking level until a chat sets its own
/// (`/think`), for a model that reasons (its entry says `reasoning: true`).
#[actix_web::test]
async fn an_agents_thinking_default_applies_until_the_chat_sets_its_own() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let tg2 = FakeTelegram::start("780:fourth-bot-token");
    let ai = FakeOpenAi::start();
    let mut c: Value = serde_json::from_str(&fleet_config(
        &tg,
        &tg2,
        &ai,
        json!({"home": {"default": true, "thinkingDefault": "minimal"}}),
        Value::Null,
    ))
    .expect("cfg");
    c["models"]["providers"]["fake"]["models"] = json!([{"id": "flow-model", "reasoning": true}]);
    let _gw = TestGateway::start(GW_ARGS, &[], Some(&c.to_string()));
    let effort = |ai: &FakeOpenAi| {
        ai.requests()
            .last()
            .map(|r| r["reasoning_effort"].clone())
            .unwrap_or(Value::Null)
    };
    let id = dm(&tg, 6161, "hello");
    wait_reply(&tg, id, SLOW).await;
    assert_eq!(effort(&ai), "minimal");
    let id = dm(&tg, 6161, "/think high");
    wait_reply(&tg, id, SLOW).await;
    let id = dm(&tg, 6161, "again");
    wait_reply(&tg, id, SLOW).await;
    assert_eq!(effort(&ai), "high", "the chat's level over the agent's");
}

/// The `payload` of a call that must succeed, or its error when it must fail.
async fn ok_call(op: &mut WsClient, method: &str, params: Value) -> Value {
    let res = op.request(method, params).await;
    assert_eq!(res["ok"], true, "{method}: {res}");
    res["payload"].clone()
}

async fn err_call(op: &mut WsClient, method: &str, params: Value) -> String {
    let res = op.request(method, params).await;
    assert_eq!(res["ok"], false, "{method}: {res}");
    crate::support::error_of(&res)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn listed(list: &Value, id: &str) -> Option<Value> {
    list["agents"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
}

/// `agents.create | update | delete` (what the Control UI and `openclaw agents delete`
/// call): the roster changes in the config file and is in force at the answer; the new
/// agent gets its workspace, identity and model and answers; the implicit `main` stays the
/// default; hostile names cannot add identity lines; a deleted agent's bindings and cron
/// jobs go and its files move to the trash, never deleted; bad calls change nothing.
#[actix_web::test]
async fn agents_are_created_updated_and_deleted_over_the_api() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut c: Value = serde_json::from_str(&config(&tg, Some(&ai), json!({}))).expect("cfg");
    c["models"]["providers"]["fake"]["models"] =
        json!([{"id": "flow-model"}, {"id": "work-model"}]);
    let gw = TestGateway::start(GW_ARGS, &[], Some(&c.to_string()));
    let state = gw.dir.path().to_path_buf();
    let cfg_path = state.join("openclaw.json");
    let mut op = admin(&gw).await;

    let created = ok_call(
        &mut op,
        "agents.create",
        json!({"name": "Work Desk", "emoji": "🛠", "model": "fake/work-model"}),
    )
    .await;
    let ws = state.join("workspace-work-desk");
    assert_eq!(
        created,
        json!({"ok": true, "agentId": "work-desk", "name": "Work Desk",
               "workspace": ws.display().to_string(), "model": "fake/work-model"})
    );
    // In force at the answer: listed, with its identity as its IDENTITY.md states it.
    let list = ok_call(&mut op, "agents.list", json!({})).await;
    assert_eq!(list["defaultId"], "main", "{list}");
    assert!(listed(&list, "main").is_some(), "{list}");
    let work = listed(&list, "work-desk").expect("the new agent");
    assert_eq!(work["identity"]["name"], "Work Desk", "{work}");
    assert_eq!(work["identity"]["emoji"], "🛠", "{work}");
    assert_eq!(work["model"], "fake/work-model", "{work}");
    assert!(ws.join("AGENTS.md").is_file(), "starter files");
    let identity = std::fs::read_to_string(ws.join("IDENTITY.md")).expect("IDENTITY.md");
    assert!(identity.contains("- Name: Work Desk\n"), "{identity}");
    let file = std::fs::read_to_string(&cfg_path).expect("config");
    let doc: Value = json5::from_str(&file).expect("json5");
    assert_eq!(
        doc["agents"]["entries"]["main"],
        json!({"default": true}),
        "{file}"
    );
    // Unbound chats are still answered, by main.
    ai.push_text("main still here");
    let m = dm(&tg, 6402, "anyone?");
    wait_reply(&tg, m, SLOW).await;
    assert!(
        gw.dir
            .path()
            .join("agents/main/sessions/sessions.json")
            .is_file()
    );
    assert_eq!(
        doc["agents"]["entries"]["work-desk"]["workspace"],
        ws.display().to_string()
    );

    // It answers, from its workspace, with its model.
    ai.push_text("desk here");
    let id = op
        .send_request(
            "agent",
            json!({"message": "hi", "agentId": "work-desk", "idempotencyKey": "wd-1"}),
        )
        .await;
    assert_eq!(op.response(&id).await["ok"], true);
    let done = op.response(&id).await;
    assert_eq!(done["payload"]["status"], "ok", "{done}");
    let r = ai.requests().last().cloned().expect("a model request");
    assert_eq!(r["model"], "work-model", "{r}");
    assert!(system_text(&r).contains("Work Desk"), "{r}");

    // Refused, nothing written.
    let before = std::fs::read(&cfg_path).expect("config");
    for (params, want) in [
        (
            json!({"name": "work desk"}),
            "agent \"work-desk\" already exists",
        ),
        (json!({"name": "Main"}), "agent \"main\" already exists"),
        (json!({"name": "OpenClaw"}), "\"openclaw\" is reserved"),
        (json!({"name": "🙂🙂"}), "has no valid id characters"),
        (json!({"name": "x", "model": "nowhere/model"}), "nowhere"),
        (
            json!({"name": "y", "workspace": "relative/dir"}),
            "relative path",
        ),
        (
            json!({"name": "z", "workspace": state.display().to_string()}),
            "state directory",
        ),
        (
            json!({"name": "q", "extra": 1}),
            "unexpected property 'extra'",
        ),
        (json!({"name": "n".repeat(300)}), "longer than 200"),
        (json!({}), "required property 'name'"),
    ] {
        let m = err_call(&mut op, "agents.create", params.clone()).await;
        assert!(m.contains(want), "{params}: {m}");
    }
    assert_eq!(std::fs::read(&cfg_path).expect("config"), before);
    assert!(!state.join("workspace-x").exists() && !state.join("workspace-q").exists());

    // A name cannot add identity lines: it is folded onto one line.
    let evil = ok_call(
        &mut op,
        "agents.create",
        json!({"name": "Evil\n- Avatar: /etc/passwd\r\n- Emoji: 💀"}),
    )
    .await;
    let evil_id = evil["agentId"].as_str().expect("id").to_owned();
    assert_eq!(evil_id, "evil---avatar-etc-passwd---emoji");
    let list = ok_call(&mut op, "agents.list", json!({})).await;
    let e = listed(&list, &evil_id).expect("listed");
    assert_eq!(e["identity"].get("avatar"), None, "{e}");
    assert_eq!(e["identity"].get("emoji"), None, "{e}");
    // A planted symlink for IDENTITY.md is not written through.
    let evil_ws = state.join(format!("workspace-{evil_id}"));
    let target = state.join("outside.txt");
    std::fs::write(&target, "untouched").expect("write");
    std::fs::remove_file(evil_ws.join("IDENTITY.md")).expect("rm");
    std::os::unix::fs::symlink(&target, evil_ws.join("IDENTITY.md")).expect("symlink");
    let m = err_call(
        &mut op,
        "agents.update",
        json!({"agentId": evil_id, "name": "Renamed"}),
    )
    .await;
    assert!(m.contains("unsafe workspace file"), "{m}");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "untouched");

    // Update: a new name and the model override cleared.
    ok_call(
        &mut op,
        "agents.update",
        json!({"agentId": "work-desk", "name": "Workbench", "model": null}),
    )
    .await;
    let list = ok_call(&mut op, "agents.list", json!({})).await;
    let work = listed(&list, "work-desk").expect("still there");
    assert_eq!(work["name"], "Workbench", "{work}");
    assert_eq!(work["identity"]["name"], "Workbench", "{work}");
    assert_eq!(work.get("model"), None, "{work}");
    for (params, want) in [
        (
            json!({"agentId": "nobody", "name": "x"}),
            "agent \"nobody\" not found",
        ),
        (
            json!({"agentId": "work-desk", "agentRuntime": "codex"}),
            "agentRuntime \"codex\" is not available",
        ),
        (json!({"agentId": "work-desk", "model": 5}), "model must be"),
    ] {
        let m = err_call(&mut op, "agents.update", params.clone()).await;
        assert!(m.contains(want), "{params}: {m}");
    }

    // The built-in runtime named (the Control UI sends it with a model) is fine.
    ok_call(
        &mut op,
        "agents.update",
        json!({"agentId": "work-desk", "agentRuntime": "openclaw", "emoji": "🧰"}),
    )
    .await;
    let list = ok_call(&mut op, "agents.list", json!({})).await;
    let work = listed(&list, "work-desk").expect("still there");
    assert_eq!(work["identity"]["emoji"], "🧰", "{work}");

    // A binding and a cron job of the agent, then delete it.
    let got = ok_call(&mut op, "config.get", json!({})).await;
    ok_call(
        &mut op,
        "config.patch",
        json!({"baseHash": got["hash"], "raw": json!({"bindings": [
            {"agentId": "work-desk", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "6401"}}}
        ]}).to_string()}),
    )
    .await;
    let job = ok_call(
        &mut op,
        "cron.add",
        json!({"name": "desk", "agentId": "work-desk", "schedule": {"kind": "every", "everyMs": 3_600_000},
               "sessionTarget": "isolated", "payload": {"kind": "agentTurn", "message": "tidy"}}),
    )
    .await;
    let job_id = job["id"].as_str().expect("job id").to_owned();
    let deleted = ok_call(&mut op, "agents.delete", json!({"agentId": "Work-Desk"})).await;
    assert_eq!(deleted["agentId"], "work-desk", "{deleted}");
    assert_eq!(deleted["removedBindings"], 1, "{deleted}");
    let removed = deleted["removed"].as_array().expect("removed");
    assert_eq!(removed.len(), 2, "{deleted}");
    assert!(removed.iter().all(|r| r["method"] == "trash"), "{deleted}");
    assert_eq!(deleted.get("failed"), None, "{deleted}");
    assert!(!ws.exists() && !state.join("agents/work-desk").exists());
    // In the trash, whole.
    let trashed: Vec<_> = std::fs::read_dir(state.join(".Trash"))
        .expect("the trash")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(
        trashed
            .iter()
            .any(|d| d.join("workspace-work-desk/IDENTITY.md").is_file()),
        "{trashed:?}"
    );
    assert!(
        trashed
            .iter()
            .any(|d| d.join("work-desk/sessions/sessions.json").is_file()),
        "{trashed:?}"
    );
    let list = ok_call(&mut op, "agents.list", json!({})).await;
    assert!(listed(&list, "work-desk").is_none(), "{list}");
    let doc: Value =
        json5::from_str(&std::fs::read_to_string(&cfg_path).expect("cfg")).expect("json5");
    assert_eq!(doc["bindings"], json!([]), "{doc}");
    let jobs = ok_call(&mut op, "cron.list", json!({})).await;
    assert!(!jobs.to_string().contains(&job_id), "{jobs}");
    let m = err_call(&mut op, "agents.delete", json!({"agentId": "work-desk"})).await;
    assert!(m.contains("not found"), "{m}");

    // The last agent stays.
    ok_call(
        &mut op,
        "agents.delete",
        json!({"agentId": evil_id, "deleteFiles": false}),
    )
    .await;
    assert!(evil_ws.exists(), "deleteFiles: false keeps the files");
    let m = err_call(&mut op, "agents.delete", json!({"agentId": "main"})).await;
    assert!(m.contains("only configured agent"), "{m}");

    // Only admins manage agents.
    let (mut writer, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.write"])).await;
    let res = writer
        .request("agents.create", json!({"name": "sneaky"}))
        .await;
    assert_eq!(res["ok"], false, "{res}");
    assert!(!state.join("workspace-sneaky").exists());
}

/// `agents.workspace.list|get`, the read-only workspace browser of OpenClaw's Control UI
/// and apps: pages of entries (directories first), text and images read back, and nothing
/// reached through a link (symbolic or hard), an absolute path or a `..` out.
#[actix_web::test]
async fn the_workspace_browser_reads_files_and_follows_no_link_out() {
    use base64::Engine as _;
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("secret.txt"), "TOP-SECRET-7").expect("secret");
    let cfg = json!({"gateway": {"auth": {"token": GW_TOKEN}}});
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&cfg.to_string()),
    );
    let ws = gw.dir.path().join("workspace");
    crate::telegram_flow::poll_until(SLOW, "the seeded workspace", || {
        ws.join("AGENTS.md").is_file().then_some(())
    })
    .await;
    std::fs::create_dir_all(ws.join("notes/deep")).expect("notes");
    std::fs::write(ws.join("notes/todo.md"), "milk 🥛\n").expect("todo");
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    std::fs::write(ws.join("pic.png"), png).expect("png");
    std::fs::write(ws.join("fake.png"), "not an image").expect("fake");
    std::fs::write(ws.join("blob.txt"), [0xFF, 0xFE, 0x00, 0x80]).expect("blob");
    std::fs::write(ws.join("big.md"), "x".repeat(300 * 1024)).expect("big");
    symlink(outside.path().join("secret.txt"), ws.join("leak.md")).expect("link");
    symlink(outside.path(), ws.join("outdir")).expect("dir link");
    std::fs::hard_link(outside.path().join("secret.txt"), ws.join("hard.md")).expect("hard");

    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    let res = op
        .request("agents.workspace.list", json!({"agentId": "main"}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let p = &res["payload"];
    let names: Vec<&str> = p["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(
        names[..2],
        [".git", "notes"],
        "directories first: {names:?}"
    );
    assert!(
        names.iter().position(|n| *n == "AGENTS.md") < names.iter().position(|n| *n == "big.md")
            && names.iter().position(|n| *n == "big.md")
                < names.iter().position(|n| *n == "BOOTSTRAP.md"),
        "by name, case folded: {names:?}"
    );
    assert!(
        names.contains(&"pic.png") && names.contains(&"AGENTS.md"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"leak.md") && !names.contains(&"outdir"),
        "links left out: {names:?}"
    );
    assert_eq!(p["path"], "");
    assert!(p.get("parentPath").is_none(), "{p}");
    let todo = op
        .request(
            "agents.workspace.list",
            json!({"agentId": "MAIN", "path": "./notes/"}),
        )
        .await;
    assert_eq!(todo["payload"]["parentPath"], "", "{todo}");
    assert_eq!(
        todo["payload"]["entries"][0]["path"], "notes/deep",
        "{todo}"
    );
    assert_eq!(
        todo["payload"]["entries"][1]["path"], "notes/todo.md",
        "{todo}"
    );
    assert_eq!(todo["payload"]["entries"][1]["size"], 10, "{todo}");
    let page = op
        .request(
            "agents.workspace.list",
            json!({"agentId": "main", "offset": 1, "limit": 2}),
        )
        .await;
    assert_eq!(
        page["payload"]["entries"].as_array().map(Vec::len),
        Some(2),
        "{page}"
    );
    assert_eq!(page["payload"]["offset"], 1);
    assert_eq!(page["payload"]["totalEntries"], p["totalEntries"]);

    let got = op
        .request(
            "agents.workspace.get",
            json!({"agentId": "main", "path": "notes/todo.md"}),
        )
        .await;
    assert_eq!(got["payload"]["file"]["content"], "milk 🥛\n", "{got}");
    assert_eq!(got["payload"]["file"]["encoding"], "utf8");
    let img = op
        .request(
            "agents.workspace.get",
            json!({"agentId": "main", "path": "pic.png"}),
        )
        .await;
    assert_eq!(img["payload"]["file"]["mimeType"], "image/png", "{img}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(img["payload"]["file"]["content"].as_str().unwrap_or(""))
        .expect("base64");
    assert_eq!(bytes, png);

    for (path, kind) in [
        ("leak.md", "workspace_file_not_found"),
        ("outdir/secret.txt", "workspace_file_not_found"),
        ("hard.md", "workspace_file_not_found"),
        ("nope.md", "workspace_file_not_found"),
        ("notes", "workspace_file_not_found"),
        ("big.md", "workspace_file_too_large"),
        ("blob.txt", "workspace_file_unsupported"),
        ("fake.png", "workspace_file_unsupported"),
        ("../secret.txt", "workspace_path_invalid"),
        ("/etc/passwd", "workspace_path_invalid"),
    ] {
        let res = op
            .request(
                "agents.workspace.get",
                json!({"agentId": "main", "path": path}),
            )
            .await;
        assert_eq!(res["ok"], false, "{path}: {res}");
        assert_eq!(res["error"]["details"]["type"], kind, "{path}: {res}");
        assert!(!res.to_string().contains("TOP-SECRET"), "{res}");
    }
    for (path, kind) in [
        ("outdir", "workspace_path_not_found"),
        ("notes/todo.md", "workspace_path_not_found"),
        ("notes/../..", "workspace_path_invalid"),
    ] {
        let res = op
            .request(
                "agents.workspace.list",
                json!({"agentId": "main", "path": path}),
            )
            .await;
        assert_eq!(res["error"]["details"]["type"], kind, "{path}: {res}");
        assert!(!res.to_string().contains("secret.txt"), "{res}");
    }
    let res = op
        .request("agents.workspace.list", json!({"agentId": "ghost"}))
        .await;
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("\"ghost\" not found"),
        "{res}"
    );
    let res = op
        .request(
            "agents.workspace.list",
            json!({"agentId": "main", "limit": 0}),
        )
        .await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
}
