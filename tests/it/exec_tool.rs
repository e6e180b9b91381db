//! The agent's `exec` tool against the real binary, the fake Bot API and the fake model:
//! off by default, the gateway host only for the owner's private chats, `full` and
//! allowlist modes, the gateway's credentials kept from commands, `/stop` killing the
//! command's whole process group, and `host=node` through the agent tool policy — down to
//! our real node host running the command.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::Background;
use crate::support::fake_node::{Action, FakeNode, always, random_key};
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::telegram_flow::{
    GW_TOKEN, SLOW, TG_TOKEN, admin, config, dm, group_mention, poll_until, start_gateway,
    tool_result, wait_reply,
};

/// The owner's user id: listed by id in `allowFrom`, so their DMs are private sessions.
pub(crate) const OWNER: i64 = 6101;

/// The flow config with the owner listed, `tools.exec` set to `exec` (`Null`: unset), and
/// `agents.defaults.tools.nodes` set to `nodes` (`Null`: unset, the default policy).
pub(crate) fn exec_config(tg: &FakeTelegram, ai: &FakeOpenAi, exec: Value, nodes: Value) -> String {
    let mut cfg: Value = serde_json::from_str(&config(
        tg,
        Some(ai),
        json!({"allowFrom": ["*", OWNER.to_string()], "groupPolicy": "open"}),
    ))
    .expect("flow config is JSON");
    let tools = cfg["agents"]["defaults"]
        .as_object_mut()
        .expect("agents.defaults is an object");
    tools.remove("tools");
    if !nodes.is_null() {
        tools.insert("tools".into(), json!({"nodes": nodes}));
    }
    if !exec.is_null() {
        cfg["tools"] = json!({"exec": exec});
    }
    serde_json::to_string_pretty(&cfg).expect("config serializes")
}

/// The names of the tools a recorded model request offered.
pub(crate) fn offered(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends `text` as the owner with the model scripted to call `exec` with `args` and then
/// answer; returns the tool result the model got back.
pub(crate) async fn exec_once(tg: &FakeTelegram, ai: &FakeOpenAi, user: i64, args: Value) -> Value {
    tool_once(tg, ai, user, "exec", args).await
}

/// As [`exec_once`], for any tool.
pub(crate) async fn tool_once(
    tg: &FakeTelegram,
    ai: &FakeOpenAi,
    user: i64,
    tool: &str,
    args: Value,
) -> Value {
    let before = ai.request_count();
    let call = ai.push_tool_call(tool, args);
    ai.push_text("done");
    let mid = dm(tg, user, "please run it");
    let r = wait_reply(tg, mid, SLOW).await;
    assert_eq!(r.text(), "done");
    let requests = ai.wait_requests_async(before + 2, SLOW).await;
    tool_result(&requests[before + 1], &call)
}

#[actix_web::test]
async fn exec_is_off_by_default_and_a_forced_call_runs_nothing() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, Value::Null, Value::Null));
    let marker = gw.dir.path().join("ran");
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": format!("touch {}", marker.display())}),
    )
    .await;
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(res["error"], "unknown tool: exec", "{res}");
    let first = &ai.requests()[0];
    assert!(
        !offered(first).contains(&"exec".to_owned()),
        "{:?}",
        offered(first)
    );
    assert!(!marker.exists(), "nothing ran");
}

#[actix_web::test]
async fn full_mode_runs_on_the_gateway_for_the_owner_without_the_gateways_credentials() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null));
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": "printf '%s|%s|%s' \"$PWD\" \"${OPENCLAW_GATEWAY_TOKEN:-none}\" \"$OPENCLAW_SHELL\"; echo oops >&2; exit 3"}),
    )
    .await;
    assert_eq!(res["host"], "gateway", "{res}");
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(res["exitCode"], 3, "{res}");
    assert_eq!(res["stderr"], "oops\n", "{res}");
    let workspace = std::fs::canonicalize(gw.dir.path().join("workspace")).expect("workspace");
    assert_eq!(
        res["stdout"],
        format!("{}|none|exec", workspace.display()),
        "{res}"
    );
    // The tool was offered, with its system prompt note.
    let first = &ai.requests()[0];
    assert!(offered(first).contains(&"exec".to_owned()));
    assert!(
        first["messages"][0]["content"]
            .as_str()
            .is_some_and(|s| s.contains("`exec` tool on the gateway host")),
        "{first}"
    );
    // A configured secret printed by a command reaches the model redacted.
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": format!("echo {TG_TOKEN}; echo sk-flow"), "workdir": "/"}),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["cwd"], "/", "{res}");
    assert_eq!(res["stdout"], "<redacted>\n<redacted>\n", "{res}");
    // PATH and loader variables are refused.
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": "true", "env": {"LD_PRELOAD": "/tmp/x.so"}}),
    )
    .await;
    assert!(
        res["error"]
            .as_str()
            .is_some_and(|e| e.contains("LD_PRELOAD may not be set")),
        "{res}"
    );
    // The stability ring has the end of each call that got to a host (the refused
    // arguments above did not), never the command or its output.
    let mut op = admin(&gw).await;
    let res = op
        .request(
            "diagnostics.stability",
            json!({"type": "exec.process.completed"}),
        )
        .await;
    let events = res["payload"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let seen: Vec<(Value, Value, Value)> = events
        .iter()
        .map(|e| {
            (
                e["target"].clone(),
                e["outcome"].clone(),
                e["exitCode"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!("gateway"), json!("failed"), json!(3)),
            (json!("gateway"), json!("completed"), json!(0)),
        ],
        "{res}"
    );
    let text = res.to_string();
    for needle in ["printf", "oops", "LD_PRELOAD", "sk-flow"] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
}

#[actix_web::test]
async fn group_chats_and_strangers_never_get_the_gateway_host() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null));
    let marker = gw.dir.path().join("ran");
    let touch = json!({"command": format!("touch {}", marker.display())});
    // A group member, even the owner, in a group chat.
    let call = ai.push_tool_call("exec", touch.clone());
    ai.push_text("group done");
    let mid = group_mention(&tg, -9100, OWNER, "@openclaw_test_bot run it");
    wait_reply(&tg, mid, SLOW).await;
    let requests = ai.wait_requests_async(2, SLOW).await;
    assert!(!offered(&requests[0]).contains(&"exec".to_owned()));
    assert_eq!(
        tool_result(&requests[1], &call)["error"],
        "unknown tool: exec"
    );
    // A stranger in an open DM (allowFrom "*", not listed by id).
    let res = exec_once(&tg, &ai, 6199, touch).await;
    assert_eq!(res["error"], "unknown tool: exec", "{res}");
    assert!(!marker.exists(), "nothing ran");
}

/// Whether process `pid` still exists.
fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[actix_web::test]
async fn stop_kills_the_commands_whole_process_group() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null));
    let pid_file = gw.dir.path().join("sleeper.pid");
    // A grandchild (the backgrounded sleep) and the shell waiting for it.
    ai.push_tool_call(
        "exec",
        json!({"command": format!("sleep 300 & echo $! > {}; wait", pid_file.display()),
            "yieldMs": 600_000}),
    );
    let mid = dm(&tg, OWNER, "run the long thing");
    let pid: i32 = poll_until(SLOW, "the sleeper's pid", || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    })
    .await;
    assert!(alive(pid));
    dm(&tg, OWNER, "/stop");
    poll_until(SLOW, "the sleeper to be killed", || {
        (!alive(pid)).then_some(())
    })
    .await;
    // The run ended without an answer to the stopped message.
    assert!(crate::telegram_flow::replies_to(&tg, mid).is_empty());
}

#[actix_web::test]
async fn allowlist_mode_runs_only_allowlisted_simple_commands() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(
        &tg,
        &ai,
        json!({"mode": "allowlist"}),
        Value::Null,
    ));
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s"})).await;
    assert_eq!(res["ok"], false, "{res}");
    assert!(
        res["error"].as_str().is_some_and(|e| e
            .starts_with("exec denied: command not on the gateway's exec allowlist")
            && e.contains("exec-allowlist.json")),
        "{res}"
    );
    let file = gw.dir.path().join("exec-allowlist.json");
    std::fs::write(&file, r#"{"allow": ["uname"]}"#).expect("write allowlist");
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s"})).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["stdout"], "Linux\n", "{res}");
    // No shell: an operator or an expansion is refused before anything runs.
    for cmd in ["uname -s | sh", "uname $(id -u)", "uname -s; id"] {
        let res = exec_once(&tg, &ai, OWNER, json!({"command": cmd})).await;
        assert!(
            res["error"].as_str().is_some_and(
                |e| e.contains("only one simple command runs here") && e.contains("allowlist")
            ),
            "{cmd}: {res}"
        );
    }
}

#[actix_web::test]
async fn host_node_goes_through_the_agent_policy_and_sends_system_run() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // With the default policy (system.run not granted) exec is not offered at all.
    let gw = start_gateway(&exec_config(&tg, &ai, Value::Null, Value::Null));
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "ls", "host": "node"})).await;
    assert_eq!(res["error"], "unknown tool: exec", "{res}");
    drop(gw);

    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(
        &tg,
        &ai,
        Value::Null,
        json!({"allowCommands": ["system.run"]}),
    ));
    let mut op = admin(&gw).await;
    let node = FakeNode::connect(
        gw.port,
        &random_key(),
        GW_TOKEN,
        &["system.run"],
        always(Action::Echo),
    )
    .await;
    crate::nodes::approve_surface(&mut op, &node.node_id).await;
    // `auto` with the gateway host off: the node. A simple command goes as its argv.
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s"})).await;
    assert_eq!(res["host"], "node", "{res}");
    assert_eq!(res["nodeId"], node.node_id.as_str(), "{res}");
    // A shell command goes through the node's shell, as OpenClaw sends it.
    exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": "ls | wc -l", "env": {"LANG": "C"}}),
    )
    .await;
    let requests = node.requests.borrow().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let params_of = |r: &Value| -> Value {
        serde_json::from_str(r["paramsJSON"].as_str().unwrap_or("null")).expect("paramsJSON")
    };
    assert_eq!(requests[0]["command"], "system.run");
    let params = params_of(&requests[0]);
    assert_eq!(params["command"], json!(["uname", "-s"]), "{params}");
    assert!(params.get("rawCommand").is_none(), "{params}");
    assert_eq!(params["timeoutMs"], 1_800_000, "{params}");
    let params = params_of(&requests[1]);
    assert_eq!(
        params["command"],
        json!(["/bin/sh", "-lc", "ls | wc -l"]),
        "{params}"
    );
    assert_eq!(params["rawCommand"], "ls | wc -l", "{params}");
    assert_eq!(params["env"], json!({"LANG": "C"}), "{params}");
    // The gateway host is still off.
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "id", "host": "gateway"})).await;
    assert!(
        res["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("exec on the gateway host is off")),
        "{res}"
    );
    assert_eq!(node.requests.borrow().len(), 2);
}

#[actix_web::test]
async fn a_telegram_message_runs_a_command_on_our_real_node_host() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(
        &tg,
        &ai,
        json!({"host": "node"}),
        json!({"allowCommands": ["system.run"]}),
    ));
    let mut op = admin(&gw).await;
    let home = tempfile::tempdir().expect("node host home");
    std::fs::create_dir_all(home.path().join("node")).expect("node dir");
    std::fs::write(
        home.path().join("node/exec-allowlist.json"),
        r#"{"allow": ["uname"]}"#,
    )
    .expect("node allowlist");
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
        "it-exec-pi",
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
        .unwrap_or_default()
        .to_owned();
    crate::nodes::approve_surface(&mut op, &node_id).await;
    // The node must be connected with system.run before the message: wait for it.
    poll_node_ready(&mut op, &node_id).await;

    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": "uname -s", "node": "it-exec-pi"}),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}\nnode host:\n{}", host.output());
    assert_eq!(res["stdout"], "Linux\n", "{res}");
    // The node's own allowlist still decides.
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "id"})).await;
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(res["error"]["code"], "SYSTEM_RUN_DENIED", "{res}");
}

/// Waits until `node.list` shows the node connected with `system.run`.
pub(crate) async fn poll_node_ready(op: &mut crate::support::WsClient, node_id: &str) {
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let res = op.request("node.list", json!({})).await;
        let ready = res["payload"]["nodes"].as_array().is_some_and(|n| {
            n.iter().any(|n| {
                n["nodeId"] == node_id
                    && n["connected"] == true
                    && n["commands"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c == "system.run"))
            })
        });
        if ready {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node {node_id} never ready: {res}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn bad_exec_settings_refuse_to_start() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    for (exec, want) in [
        (
            json!({"host": "sandbox"}),
            "tools.exec.host is \"sandbox\", but openclaw-rs has no sandbox runtime",
        ),
        (json!({"mode": "yolo"}), "tools.exec.mode is \"yolo\""),
        (
            json!({"mode": "full", "security": "full"}),
            "tools.exec.mode is set together with the legacy",
        ),
    ] {
        let home = crate::support::CliHome::with_config(&exec_config(&tg, &ai, exec, Value::Null));
        let out = home.run(crate::telegram_flow::GW_ARGS, &[]);
        assert_eq!(out.code, Some(78), "{out:?}");
        assert!(out.stderr.contains(want), "{}", out.stderr);
    }
}

/// Waits for the approval prompt sent to the chat after `before` messages; its id and text.
async fn approval_prompt(tg: &FakeTelegram, before: usize) -> (String, String) {
    let text = poll_until(SLOW, "the approval prompt", || {
        tg.sent()
            .into_iter()
            .skip(before)
            .map(|s| s.text().to_owned())
            .find(|t| t.starts_with("🔐 Approval needed"))
    })
    .await;
    let id = text
        .split("/approve ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("an id in {text}"))
        .to_owned();
    (id, text)
}

#[actix_web::test]
async fn ask_mode_waits_for_the_owners_approve_in_the_chat() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "ask"}), Value::Null));
    let mut op = admin(&gw).await;
    // A pipe is not a simple command: it can only run once approved, with the shell. The
    // prompt shows hidden characters escaped.
    let command = "uname -s | tr a-z A-Z # \u{202E}";
    let call = ai.push_tool_call("exec", json!({"command": command}));
    ai.push_text("done");
    let before = tg.sent().len();
    let mid = dm(&tg, OWNER, "shout the kernel name");
    let (id, prompt) = approval_prompt(&tg, before).await;
    assert!(
        prompt.contains("uname -s | tr a-z A-Z # \\u{202e}")
            && prompt.contains(&format!("/approve {id} allow-once"))
            && prompt.contains(&format!("/approve {id} deny"))
            && !prompt.contains("allow-always"),
        "{prompt}"
    );
    // Operators with operator.approvals see it, and can list it.
    let ev = op.event_within("exec.approval.requested", SLOW).await;
    assert_eq!(ev["payload"]["id"], id.as_str(), "{ev}");
    assert_eq!(ev["payload"]["request"]["command"], command, "{ev}");
    assert_eq!(ev["payload"]["request"]["host"], "gateway", "{ev}");
    let list = op.request("exec.approval.list", json!({})).await;
    assert_eq!(list["payload"][0]["id"], id.as_str(), "{list}");
    // `exec.approval.get` (what OpenClaw's ACP bridge asks), by id or a prefix of it.
    for asked in [id.as_str(), &id[..8]] {
        let got = op.request("exec.approval.get", json!({"id": asked})).await;
        let p = &got["payload"];
        assert_eq!(p["id"], id.as_str(), "{got}");
        assert_eq!(p["commandText"], command, "{got}");
        assert_eq!(
            p["allowedDecisions"],
            json!(["allow-once", "deny"]),
            "{got}"
        );
        assert_eq!(p["host"], "gateway", "{got}");
        assert_eq!(p["agentId"], "main", "{got}");
        assert!(p["expiresAtMs"].as_u64().is_some(), "{got}");
    }
    for (params, message) in [
        (
            json!({"id": "no-such-approval"}),
            "unknown or expired approval id",
        ),
        (
            json!({"id": " "}),
            "invalid exec.approval.get params: at /id: must NOT have fewer than 1 characters",
        ),
    ] {
        let got = op.request("exec.approval.get", params).await;
        assert_eq!(got["error"]["code"], "INVALID_REQUEST", "{got}");
        assert_eq!(got["error"]["message"], message, "{got}");
    }
    let got = op.request("exec.approval.get", json!({})).await;
    assert_eq!(got["ok"], false, "{got}");
    // Nothing ran yet, and someone else's /approve does not count.
    assert_eq!(ai.request_count(), 1);
    let other = dm(&tg, 6102, &format!("/approve {id} allow-once"));
    let r = wait_reply(&tg, other, SLOW).await;
    assert!(
        r.text().starts_with("⚠️ only the sender who asked"),
        "{}",
        r.text()
    );
    let bad = dm(&tg, OWNER, &format!("/approve {id} allow-always"));
    let r = wait_reply(&tg, bad, SLOW).await;
    assert!(
        r.text().contains("allow-always is unavailable"),
        "{}",
        r.text()
    );
    let yes = dm(&tg, OWNER, &format!("/approve {id} allow-once"));
    let r = wait_reply(&tg, yes, SLOW).await;
    assert_eq!(r.text(), "✅ Approved once: running it now.");
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "done");
    let requests = ai.wait_requests_async(2, SLOW).await;
    let res = tool_result(&requests[1], &call);
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["stdout"], "LINUX\n", "{res}");
    let ev = op.event_within("exec.approval.resolved", SLOW).await;
    assert_eq!(ev["payload"]["decision"], "allow-once", "{ev}");
    assert_eq!(
        ev["payload"]["resolvedBy"],
        format!("telegram:{OWNER}"),
        "{ev}"
    );
    // Answered: a second answer finds nothing, nor does `exec.approval.get`.
    let got = op.request("exec.approval.get", json!({"id": id})).await;
    assert_eq!(
        got["error"]["details"]["reason"], "APPROVAL_NOT_FOUND",
        "{got}"
    );
    let late = dm(&tg, OWNER, &format!("/approve {id} deny"));
    let r = wait_reply(&tg, late, SLOW).await;
    assert!(
        r.text().starts_with("⚠️ no pending exec approval"),
        "{}",
        r.text()
    );
}

#[actix_web::test]
async fn telegram_buttons_answer_an_approval_for_the_sender_who_asked_only() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let _gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "ask"}), Value::Null));
    let call = ai.push_tool_call("exec", json!({"command": "uname -s"}));
    ai.push_text("done");
    let before = tg.sent().len();
    let mid = dm(&tg, OWNER, "kernel?");
    let (id, _) = approval_prompt(&tg, before).await;
    // The prompt carries OpenClaw's three buttons, one row.
    let prompt = tg
        .sent()
        .into_iter()
        .find(|m| m.text().starts_with("🔐 Approval needed"))
        .expect("the prompt");
    let row = &prompt.body["reply_markup"]["inline_keyboard"][0];
    let labels: Vec<&str> = row
        .as_array()
        .map(|r| r.iter().filter_map(|b| b["text"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        labels,
        ["Allow Once", "Allow Always", "Deny"],
        "{}",
        prompt.body
    );
    assert_eq!(row[0]["callback_data"], format!("tga1:e:o:{id}"));
    let prompt_id = prompt.message_id;
    // Someone else pressing (a forged or forwarded button) is refused, and told so.
    let q1 = tg.push_callback(6102, OWNER, prompt_id, &format!("tga1:e:o:{id}"));
    // Forged data is only answered.
    let q2 = tg.push_callback(OWNER, OWNER, prompt_id, "tga1:e:x:nope");
    let answers = poll_until(SLOW, "both presses answered", || {
        let a = tg.callback_answers();
        (a.iter().any(|(q, _)| *q == q1) && a.iter().any(|(q, _)| *q == q2)).then_some(a)
    })
    .await;
    let text_of = |q: &str| {
        answers
            .iter()
            .find(|(x, _)| x == q)
            .and_then(|(_, t)| t.clone())
    };
    assert!(
        text_of(&q1).is_some_and(|t| t.starts_with("only the sender who asked")),
        "{answers:?}"
    );
    assert_eq!(text_of(&q2), None, "{answers:?}");
    assert_eq!(ai.request_count(), 1, "nothing ran yet");
    // The owner presses Allow Once: it runs; the prompt is edited to say so.
    let q3 = tg.push_callback(OWNER, OWNER, prompt_id, &format!("tga1:e:o:{id}"));
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "done");
    let res = tool_result(&ai.wait_requests_async(2, SLOW).await[1], &call);
    assert_eq!(res["stdout"], "Linux\n", "{res}");
    let answer = poll_until(SLOW, "the owner's press answered", || {
        tg.callback_answers().into_iter().find(|(q, _)| *q == q3)
    })
    .await;
    assert_eq!(answer.1.as_deref(), Some("✅ Allowed once"));
    let edited = poll_until(SLOW, "the prompt edited", || {
        tg.text_of(OWNER, prompt_id)
            .filter(|t| t.ends_with("\n\n✅ Allowed once"))
    })
    .await;
    assert!(edited.contains("uname -s"), "{edited}");
    // A second press of a decided prompt finds nothing.
    let q4 = tg.push_callback(OWNER, OWNER, prompt_id, &format!("tga1:e:d:{id}"));
    let late = poll_until(SLOW, "the late press answered", || {
        tg.callback_answers().into_iter().find(|(q, _)| *q == q4)
    })
    .await;
    assert!(
        late.1
            .is_some_and(|t| t.starts_with("no pending exec approval")),
        "late press"
    );
}

#[actix_web::test]
async fn allow_always_adds_to_the_allowlist_and_deny_runs_nothing() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "ask"}), Value::Null));
    let mut op = admin(&gw).await;
    let call = ai.push_tool_call(
        "exec",
        json!({"command": "uname -s", "env": {"LC_ALL": "C"}}),
    );
    ai.push_text("done");
    let before = tg.sent().len();
    let mid = dm(&tg, OWNER, "kernel?");
    let (id, prompt) = approval_prompt(&tg, before).await;
    // What the command runs with is shown too.
    assert!(prompt.contains("with environment:\nLC_ALL=C"), "{prompt}");
    assert!(
        prompt.contains(&format!("/approve {id} allow-always")),
        "{prompt}"
    );
    let yes = dm(&tg, OWNER, &format!("/approve {id} always"));
    wait_reply(&tg, yes, SLOW).await;
    wait_reply(&tg, mid, SLOW).await;
    let res = tool_result(&ai.wait_requests_async(2, SLOW).await[1], &call);
    assert_eq!(res["stdout"], "Linux\n", "{res}");
    let file = gw.dir.path().join("exec-allowlist.json");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("allowlist written"))
            .expect("allowlist is JSON");
    assert_eq!(saved["allow"][0]["args"], json!(["-s"]), "{saved}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Now on the allowlist: it runs without a prompt.
    let before = tg.sent().len();
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s"})).await;
    assert_eq!(res["ok"], true, "{res}");
    assert!(
        !tg.sent()
            .iter()
            .skip(before)
            .any(|s| s.text().starts_with("🔐")),
        "no prompt"
    );
    // An operator's deny: nothing runs, and the model is told.
    let marker = gw.dir.path().join("ran");
    let call = ai.push_tool_call(
        "exec",
        json!({"command": format!("touch {}", marker.display())}),
    );
    ai.push_text("ok");
    let before_requests = ai.request_count();
    let mid = dm(&tg, OWNER, "touch it");
    // (The first approval's event came first.)
    let id = loop {
        let ev = op.event_within("exec.approval.requested", SLOW).await;
        if ev["payload"]["request"]["command"] == format!("touch {}", marker.display()) {
            break ev["payload"]["id"].as_str().unwrap_or_default().to_owned();
        }
    };
    let res = op
        .request(
            "exec.approval.resolve",
            json!({"id": id, "decision": "deny"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    wait_reply(&tg, mid, SLOW).await;
    let requests = ai.wait_requests_async(before_requests + 2, SLOW).await;
    let res = tool_result(&requests[before_requests + 1], &call);
    assert!(
        res["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("exec denied: the user answered deny")),
        "{res}"
    );
    assert!(!marker.exists());
    let again = op
        .request(
            "exec.approval.resolve",
            json!({"id": id, "decision": "allow-once"}),
        )
        .await;
    assert_eq!(again["ok"], false, "{again}");
    let bad = op
        .request(
            "exec.approval.resolve",
            json!({"id": "x", "decision": "maybe"}),
        )
        .await;
    assert_eq!(bad["error"]["message"], "invalid decision", "{bad}");
}

#[actix_web::test]
async fn stop_withdraws_a_waiting_approval() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "ask"}), Value::Null));
    let mut op = admin(&gw).await;
    let marker = gw.dir.path().join("ran");
    ai.push_tool_call(
        "exec",
        json!({"command": format!("touch {}", marker.display())}),
    );
    let before = tg.sent().len();
    dm(&tg, OWNER, "touch it");
    let (id, _) = approval_prompt(&tg, before).await;
    let stop = dm(&tg, OWNER, "/stop");
    wait_reply(&tg, stop, SLOW).await;
    let late = dm(&tg, OWNER, &format!("/approve {id} allow-once"));
    let r = wait_reply(&tg, late, SLOW).await;
    assert!(
        r.text().starts_with("⚠️ no pending exec approval"),
        "{}",
        r.text()
    );
    let list = op.request("exec.approval.list", json!({})).await;
    assert_eq!(list["payload"], json!([]), "{list}");
    assert!(!marker.exists());
}

#[actix_web::test]
async fn tools_exec_is_hot_on_a_config_reload() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, Value::Null, Value::Null));
    let pid = gw.pid();
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "echo hi"})).await;
    assert_eq!(res["error"], "unknown tool: exec", "{res}");
    crate::support::replace_file(
        &gw.config_path(),
        &exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null),
    );
    gw.wait_stderr_line(&["config reloaded from", "tools"], SLOW);
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "echo hi"})).await;
    assert_eq!(res["stdout"], "hi\n", "{res}");
    // A bad value is refused; the running settings stay.
    crate::support::replace_file(
        &gw.config_path(),
        &exec_config(&tg, &ai, json!({"mode": "yolo"}), Value::Null),
    );
    gw.wait_stderr_line(&["tools.exec.mode"], SLOW);
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "echo still"})).await;
    assert_eq!(res["stdout"], "still\n", "{res}");
    assert_eq!(gw.pid(), pid);
}

#[actix_web::test]
async fn a_long_command_continues_in_the_background_and_process_follows_it() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // No completion turns here (their scripted answers would interleave with the calls
    // below): `a_background_commands_end_wakes_its_chat` covers them.
    let gw = start_gateway(&exec_config(
        &tg,
        &ai,
        json!({"mode": "full", "notifyOnExit": false}),
        Value::Null,
    ));
    let marker = gw.dir.path().join("finished");
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": format!("echo start; while [ ! -e {m} ]; do sleep 0.05; done; echo end", m = marker.display()), "yieldMs": 100}),
    )
    .await;
    assert_eq!(res["status"], "running", "{res}");
    let id = res["sessionId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 12, "{res}");
    let res = tool_once(&tg, &ai, OWNER, "process", json!({"action": "list"})).await;
    assert_eq!(res["processes"][0]["sessionId"], id.as_str(), "{res}");
    assert_eq!(res["processes"][0]["status"], "running", "{res}");
    // Still running: kill and remove would be refused for a running one.
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "process",
        json!({"action": "remove", "sessionId": id}),
    )
    .await;
    assert_eq!(res["error"], "it is still running: kill it first", "{res}");
    std::fs::write(&marker, "").expect("let it finish");
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "process",
        json!({"action": "poll", "sessionId": id, "timeout": 15000}),
    )
    .await;
    assert_eq!(res["status"], "completed", "{res}");
    assert_eq!(res["exitCode"], 0, "{res}");
    assert!(
        res["output"].as_str().is_some_and(|o| o.contains("end\n")),
        "{res}"
    );
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "process",
        json!({"action": "log", "sessionId": id}),
    )
    .await;
    assert_eq!(res["output"], "start\nend\n", "{res}");
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "process",
        json!({"action": "remove", "sessionId": id}),
    )
    .await;
    assert_eq!(res["removed"], id.as_str(), "{res}");

    // `background: true`, then kill: the whole process group goes.
    let pid_file = gw.dir.path().join("bg.pid");
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": format!("sleep 300 & echo $! > {}; wait", pid_file.display()), "background": true}),
    )
    .await;
    assert_eq!(res["status"], "running", "{res}");
    let id = res["sessionId"].as_str().unwrap_or_default().to_owned();
    let pid: i32 = poll_until(SLOW, "the sleeper's pid", || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    })
    .await;
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "process",
        json!({"action": "kill", "sessionId": id}),
    )
    .await;
    assert_eq!(res["status"], "killed", "{res}");
    poll_until(SLOW, "the sleeper to be killed", || {
        (!alive(pid)).then_some(())
    })
    .await;
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "process",
        json!({"action": "poll", "sessionId": "nope"}),
    )
    .await;
    assert!(
        res["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("no background command")),
        "{res}"
    );
}

#[actix_web::test]
async fn a_background_commands_end_wakes_its_chat() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null));
    let marker = gw.dir.path().join("go");
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": format!("echo building; while [ ! -e {m} ]; do sleep 0.05; done; echo built ok", m = marker.display()), "background": true}),
    )
    .await;
    assert_eq!(res["status"], "running", "{res}");
    let id = res["sessionId"].as_str().unwrap_or_default().to_owned();
    // The command ends: a turn is woken in the owner's chat with OpenClaw's completion
    // prompt, and its answer is sent there unprompted.
    let before = ai.request_count();
    ai.push_text("Your build finished: built ok");
    std::fs::write(&marker, b"").expect("marker");
    let sent = poll_until(SLOW, "the completion message", || {
        tg.sent()
            .into_iter()
            .find(|m| m.text() == "Your build finished: built ok")
    })
    .await;
    assert_eq!(sent.chat_id(), Some(OWNER));
    let requests = ai.wait_requests_async(before + 1, SLOW).await;
    let woke = requests[before].to_string();
    assert!(
        woke.contains("An async command you ran earlier has completed"),
        "{woke}"
    );
    assert!(
        woke.contains(&format!(
            "Exec completed ({id}, code 0) :: building\\nbuilt ok"
        )),
        "{woke}"
    );
    // A second command fails without output less than 30 s later: no second turn yet;
    // the owner's next message sees the event first, so none is woken for it at all.
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": "sleep 0.5; exit 3", "background": true}),
    )
    .await;
    let id2 = res["sessionId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(res["status"], "running", "{res}");
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "process",
        json!({"action": "poll", "sessionId": id2, "timeout": 15000}),
    )
    .await;
    assert_eq!(res["exitCode"], 3, "{res}");
    // A killed command is not announced.
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": "sleep 300", "background": true}),
    )
    .await;
    let id3 = res["sessionId"].as_str().unwrap_or_default().to_owned();
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "process",
        json!({"action": "kill", "sessionId": id3}),
    )
    .await;
    assert_eq!(res["status"], "killed", "{res}");
    let before = ai.request_count();
    ai.push_text("noted");
    let mid = dm(&tg, OWNER, "anything new?");
    wait_reply(&tg, mid, SLOW).await;
    let requests = ai.wait_requests_async(before + 1, SLOW).await;
    let next = requests[before].to_string();
    // The failure reached the owner's next run as a `System:` line (no output: OpenClaw's
    // form without ` :: `) …
    assert_eq!(
        next.matches(&format!("System: Exec failed ({id2}, code 3)\\n"))
            .count(),
        1,
        "{next}"
    );
    // … and the turn woken for the first command is the only one (the next would be due
    // 30 s after it); the killed command was never announced.
    assert_eq!(
        next.matches("An async command you ran earlier").count(),
        1,
        "{next}"
    );
    assert!(!next.contains(&format!("({id3},")), "{next}");
}

#[actix_web::test]
async fn process_is_offered_only_with_the_gateway_host() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let _gw = start_gateway(&exec_config(
        &tg,
        &ai,
        Value::Null,
        json!({"allowCommands": ["system.run"]}),
    ));
    let res = tool_once(&tg, &ai, OWNER, "process", json!({"action": "list"})).await;
    assert_eq!(res["error"], "unknown tool: process", "{res}");
}

/// A job a group makes with the `cron` tool runs in the group's session: it gets what the
/// group gets — neither the gateway host's shell nor the owner's private memory — even
/// though it runs later, as a cron run.
#[actix_web::test]
async fn a_cron_job_made_from_a_group_gets_neither_the_shell_nor_the_private_memory() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("workspace");
    std::fs::create_dir_all(&ws).expect("mkdir workspace");
    std::fs::write(ws.join("MEMORY.md"), "The vault code is 4711.").expect("memory");
    let cfg = exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null);
    let _gw =
        crate::support::TestGateway::start_in(dir, crate::telegram_flow::GW_ARGS, &[], Some(&cfg));
    ai.push_tool_call(
        "cron",
        json!({"action": "add", "at": "1s", "name": "backup", "message": "run the backup script"}),
    );
    ai.push_text("scheduled");
    let mid = group_mention(
        &tg,
        -9300,
        OWNER,
        "@openclaw_test_bot every second, run the backup",
    );
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "scheduled");
    ai.push_text("done");
    // The job's own run is the third model request.
    let requests = ai.wait_requests_async(3, SLOW).await;
    let job = &requests[2];
    let system: String = job["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "system")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        system.contains("run the backup script")
            || job.to_string().contains("run the backup script"),
        "{job}"
    );
    assert!(
        !job.to_string().contains("4711"),
        "the private memory leaked: {job}"
    );
    let tools = offered(job);
    assert!(
        !tools
            .iter()
            .any(|t| t == "exec" || t == "process" || t.starts_with("memory_")),
        "{tools:?}"
    );
}

/// The gateway host's own exec approvals document (`exec.approvals.get|set`, what the real
/// `openclaw approvals … --gateway` calls): it only tightens `tools.exec`, its patterns
/// allow programs, writes are compare-and-swap on its hash, a bad value is refused and a
/// malformed file on disk stops gateway-host exec until it is fixed.
#[actix_web::test]
async fn host_exec_approvals_only_tighten_and_their_patterns_allow_programs() {
    use std::os::unix::fs::PermissionsExt as _;
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null));
    let mut op = admin(&gw).await;
    let doc = gw.dir.path().join("exec-approvals.json");
    let get = op.request("exec.approvals.get", json!({})).await;
    let p = &get["payload"];
    assert_eq!(p["exists"], false, "{get}");
    assert_eq!(
        p["hash"], "missing:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "{get}"
    );
    assert_eq!(p["path"], doc.to_str().expect("utf-8"), "{get}");
    assert_eq!(
        p["resolvedDefaults"],
        json!({"security": "full", "ask": "off", "askFallback": "deny", "autoAllowSkills": false}),
        "{get}"
    );
    let bad = op
        .request("exec.approvals.get", json!({"nodeId": "x"}))
        .await;
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unexpected property 'nodeId'")),
        "{bad}"
    );
    let piped = json!({"command": "uname -s | tr a-z A-Z"});
    let res = exec_once(&tg, &ai, OWNER, piped.clone()).await;
    assert_eq!(res["stdout"], "LINUX\n", "full mode, no document: {res}");

    // The document narrows `full` to an allowlist with one pattern (a glob on the name).
    let set = op
        .request(
            "exec.approvals.set",
            json!({"file": {"defaults": {"security": "allowlist"},
                            "agents": {"main": {"allowlist": ["unam?"]}}}}),
        )
        .await;
    assert_eq!(set["ok"], true, "a first write needs no hash: {set}");
    let hash = set["payload"]["hash"].as_str().expect("hash").to_owned();
    assert_eq!(set["payload"]["exists"], true, "{set}");
    assert!(
        set["payload"]["file"]["agents"]["main"]["allowlist"][0]["id"].is_string(),
        "{set}"
    );
    let mode = std::fs::metadata(&doc).expect("doc").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let res = exec_once(&tg, &ai, OWNER, piped.clone()).await;
    assert!(
        res["error"]
            .as_str()
            .is_some_and(|e| e.contains("only one simple command")
                && e.contains("tightened by the host's exec approvals")),
        "{res}"
    );
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s"})).await;
    assert_eq!(res["stdout"], "Linux\n", "allowed by the pattern: {res}");
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "id -u"})).await;
    assert!(
        res["error"].as_str().is_some_and(
            |e| e.starts_with("exec denied: command not on the gateway's exec allowlist")
        ),
        "{res}"
    );

    // Compare-and-swap: a stale hash, or none once the file exists, changes nothing; so
    // does a value that would loosen by being dropped.
    for (params, want) in [
        (
            json!({"file": {}, "baseHash": "0000"}),
            "exec approvals changed since last load; re-run exec.approvals.get and retry",
        ),
        (
            json!({"file": {}}),
            "exec approvals base hash required; re-run exec.approvals.get and retry",
        ),
        (
            json!({"file": {"defaults": {"security": "denyy"}}, "baseHash": hash}),
            "defaults.security is \"denyy\"",
        ),
        (json!({"baseHash": hash}), "exec approvals file is required"),
        (
            json!({"file": {}, "baseHash": hash, "extra": 1}),
            "unexpected property 'extra'",
        ),
    ] {
        let r = op.request("exec.approvals.set", params.clone()).await;
        assert_eq!(r["ok"], false, "{params}: {r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(want)),
            "{params}: {r}"
        );
    }
    let again = op.request("exec.approvals.get", json!({})).await;
    assert_eq!(
        again["payload"]["hash"],
        hash.as_str(),
        "unchanged: {again}"
    );

    // `deny` for the agent: nothing runs on the gateway host, and the answer says where.
    let set = op
        .request(
            "exec.approvals.set",
            json!({"file": {"agents": {"main": {"security": "deny"}}}, "baseHash": hash}),
        )
        .await;
    assert_eq!(set["ok"], true, "{set}");
    let hash = set["payload"]["hash"].as_str().expect("hash").to_owned();
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s"})).await;
    assert!(
        res["error"].as_str().is_some_and(|e| e
            .starts_with("exec on the gateway host is off: the host's exec approvals")
            && e.contains("security \"deny\" for agent main")),
        "{res}"
    );

    // `ask: "always"`: every command waits for the owner, even one `full` would run.
    let set = op
        .request(
            "exec.approvals.set",
            json!({"file": {"defaults": {"ask": "always"}}, "baseHash": hash}),
        )
        .await;
    assert_eq!(set["ok"], true, "{set}");
    let call = ai.push_tool_call("exec", json!({"command": "uname -s"}));
    ai.push_text("done");
    let before_sent = tg.sent().len();
    let before = ai.request_count();
    let mid = dm(&tg, OWNER, "kernel?");
    let (id, _) = approval_prompt(&tg, before_sent).await;
    let yes = dm(&tg, OWNER, &format!("/approve {id} allow-once"));
    wait_reply(&tg, yes, SLOW).await;
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "done");
    let requests = ai.wait_requests_async(before + 2, SLOW).await;
    let res = tool_result(&requests[before + 1], &call);
    assert_eq!(res["stdout"], "Linux\n", "{res}");

    // A file broken by hand stops gateway-host exec (fail closed) until it is fixed.
    std::fs::write(&doc, "{nope").expect("break it");
    let res = exec_once(&tg, &ai, OWNER, json!({"command": "uname -s"})).await;
    assert!(
        res["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("exec denied:")
                && e.contains("exec-approvals.json is not valid JSON5")
                && e.contains("Fix:")),
        "{res}"
    );
    let get = op.request("exec.approvals.get", json!({})).await;
    assert_eq!(get["error"]["code"], "UNAVAILABLE", "{get}");
    std::fs::remove_file(&doc).expect("remove it");
    let res = exec_once(&tg, &ai, OWNER, piped).await;
    assert_eq!(
        res["stdout"], "LINUX\n",
        "without the document, the config again: {res}"
    );
}
