//! One agent tool called directly (`POST /tools/invoke`, `tools.invoke`) against the real
//! binary: the tool really runs (a file written into the workspace on disk and read back),
//! the surface's policy (the default deny list, `gateway.tools.allow` / `deny`, owner-only
//! tools, the agent's own policy), the shared secret, and hostile input: other sites'
//! pages, non-JSON bodies, oversized bodies, odd Unicode, names and keys of any size.

use serde_json::{Value, json};

use crate::support::{TestGateway, WsClient, cli_params, http_exchange, http_request};
/// A secret no log line would hold by chance.
const GW_TOKEN: &str = "tools-invoke-secret-9f3a2c";

fn start(auth: Value, tools: Value, agent_deny: Value) -> TestGateway {
    let config = json!({
        "gateway": {"auth": auth, "tools": tools},
        "tools": {"deny": agent_deny},
    });
    TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&config.to_string()),
    )
}

/// `POST /tools/invoke` with `body` and `headers` (JSON content type unless given):
/// (status, JSON body).
fn invoke(gw: &TestGateway, body: &[u8], headers: &[(&str, &str)]) -> (u16, Value) {
    let mut h: Vec<(&str, &str)> = headers.to_vec();
    if !h
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        h.push(("Content-Type", "application/json"));
    }
    let (status, _, text) = http_exchange(gw.port, "POST", "/tools/invoke", &h, body);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn bearer() -> String {
    format!("Bearer {GW_TOKEN}")
}

fn call(gw: &TestGateway, body: Value) -> (u16, Value) {
    let a = bearer();
    invoke(gw, body.to_string().as_bytes(), &[("Authorization", &a)])
}

#[test]
fn a_script_calls_one_tool_under_the_gateways_policy() {
    let gw = start(
        json!({"token": GW_TOKEN}),
        json!({"allow": ["nodes"], "deny": ["web_fetch"]}),
        json!(["edit"]),
    );
    let ws = gw.dir.path().join("workspace");

    // No secret, a wrong one: refused, nothing runs.
    let body = json!({"tool": "write", "args": {"path": "x.md", "content": "x"}}).to_string();
    let (status, v) = invoke(&gw, body.as_bytes(), &[]);
    assert_eq!(status, 401, "{v}");
    let (status, v) = invoke(&gw, body.as_bytes(), &[("Authorization", "Bearer nope")]);
    assert_eq!(status, 401, "{v}");
    assert!(!ws.join("x.md").exists());

    // The tool runs: the file is on disk, read back through `read`, any Unicode kept.
    let text = "milk 🥛, עברית, e\u{301}, \u{202e}rtl, zero\u{200b}width";
    let (status, v) = call(
        &gw,
        json!({"tool": "write", "args": {"path": "notes/todo.md", "content": text}}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        std::fs::read_to_string(ws.join("notes/todo.md")).expect("written"),
        text
    );
    let (status, v) = call(
        &gw,
        json!({"name": "read", "tool": "exec", "args": {"path": "notes/todo.md"}}),
    );
    assert_eq!(status, 200, "`name` wins over `tool`: {v}");
    assert_eq!(v["result"]["content"][0]["type"], "text", "{v}");
    let shown = v["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(shown.contains("milk 🥛"), "{v}");
    assert!(v["result"]["details"].is_object(), "{v}");

    // The workspace's confinement holds here too: a tool error, nothing read.
    let (status, v) = call(
        &gw,
        json!({"tool": "read", "args": {"path": "../../../etc/passwd"}}),
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["type"], "tool_error", "{v}");
    assert!(!v.to_string().contains("root:"), "{v}");

    // The default deny list (exec, cron, sessions_send …), `gateway.tools.deny` and the
    // agent's own `tools.deny`: 404, whichever hid it.
    for tool in [
        "exec",
        "process",
        "cron",
        "automations",
        "sessions_send",
        "sessions_spawn",
        "subagents",
        "web_fetch",
        "edit",
        "no_such_tool",
    ] {
        let (status, v) = call(&gw, json!({"tool": tool, "args": {}}));
        assert_eq!(status, 404, "{tool}: {v}");
        assert_eq!(v["error"]["type"], "not_found", "{tool}: {v}");
    }

    // `gateway.tools.allow` lifts `nodes` for the owner; `action` goes into the args.
    let (status, v) = call(&gw, json!({"tool": "nodes", "action": "status"}));
    assert_eq!(status, 200, "{v}");
    assert!(v["result"]["details"]["nodes"].is_array(), "{v}");

    // Sessions: `main` is the default agent's; another agent, a mismatch, a bad key.
    let (status, v) = call(&gw, json!({"tool": "sessions_list", "sessionKey": "main"}));
    assert_eq!(status, 200, "{v}");
    let (status, v) = call(
        &gw,
        json!({"tool": "sessions_list", "sessionKey": "agent:ghost:main"}),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("ghost"),
        "{v}"
    );
    let (status, v) = call(
        &gw,
        json!({"tool": "sessions_list", "sessionKey": "agent:main:main", "agentId": "other"}),
    );
    assert_eq!(status, 400, "{v}");
    let (status, v) = call(
        &gw,
        json!({"tool": "sessions_list", "sessionKey": "a\u{0}b"}),
    );
    assert_eq!(status, 400, "{v}");

    // Hostile names: control characters, bidi overrides, a megabyte: 404, the name cut.
    let long = "x".repeat(1_000_000);
    for name in ["re\u{0}ad", "\u{202e}daer", "READ ", long.as_str()] {
        let (status, v) = call(&gw, json!({"tool": name}));
        assert!(status == 404 || status == 200, "{status} {v}");
        if status == 404 {
            assert!(
                v["error"]["message"].as_str().unwrap_or("").len() < 600,
                "the name is cut"
            );
        }
    }

    // Bad requests: not JSON, not an object, no name, wrong types, too large, not a POST.
    let a = bearer();
    for (body, want) in [
        (&b"{not json"[..], 400),
        (b"[1,2]", 400),
        (b"{}", 400),
        (br#"{"tool": 7}"#, 400),
        (br#"{"tool": "read", "args": [1]}"#, 400),
        (br#"{"tool": "read", "sessionKey": {"a": 1}}"#, 400),
    ] {
        let (status, v) = invoke(&gw, body, &[("Authorization", &a)]);
        assert_eq!(status, want, "{} -> {v}", String::from_utf8_lossy(body));
        assert_eq!(v["ok"], false, "{v}");
    }
    let big = vec![b' '; 2 * 1024 * 1024 + 10];
    let (status, _) = invoke(&gw, &big, &[("Authorization", &a)]);
    assert_eq!(status, 413);
    let (status, _, _) = http_request(gw.port, "GET", "/tools/invoke", &[("Authorization", &a)]);
    assert_eq!(status, 405);

    // `curl -d` without a content type: read as JSON, as OpenClaw reads it (a page cannot
    // send the secret).
    let (status, v) = invoke(
        &gw,
        json!({"tool": "sessions_list"}).to_string().as_bytes(),
        &[
            ("Authorization", &a),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
    );
    assert_eq!(status, 200, "{v}");

    // The gateway is still serving, and said nothing of the secret.
    let (status, _) = call(&gw, json!({"tool": "sessions_list"}));
    assert_eq!(status, 200);
    assert!(!gw.stdout().contains(GW_TOKEN) && !gw.stderr().contains(GW_TOKEN));
}

#[test]
fn without_auth_a_web_page_cannot_reach_the_tools_and_scopes_narrow_the_caller() {
    let gw = start(
        json!({"mode": "none"}),
        json!({"allow": ["nodes"]}),
        json!([]),
    );
    let ws = gw.dir.path().join("workspace");
    let write = json!({"tool": "write", "args": {"path": "pwned.md", "content": "x"}}).to_string();
    // Another site's page: its Origin, or a form's content type (no preflight).
    let (status, v) = invoke(&gw, write.as_bytes(), &[("Origin", "https://evil.example")]);
    assert_eq!(status, 403, "{v}");
    let (status, v) = invoke(&gw, write.as_bytes(), &[("Content-Type", "text/plain")]);
    assert_eq!(status, 415, "{v}");
    let (status, v) = invoke(
        &gw,
        write.as_bytes(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    assert_eq!(status, 415, "{v}");
    // A name that is not loopback in Host (DNS rebinding).
    let (status, _) = invoke(&gw, write.as_bytes(), &[("Host", "evil.example")]);
    assert_ne!(status, 200);
    assert!(!ws.join("pwned.md").exists(), "nothing was written");

    // A local script: the owner, unless its scopes leave out operator.admin.
    let nodes = json!({"tool": "nodes", "action": "status"}).to_string();
    let (status, v) = invoke(&gw, nodes.as_bytes(), &[]);
    assert_eq!(status, 200, "{v}");
    let (status, v) = invoke(
        &gw,
        nodes.as_bytes(),
        &[("x-openclaw-scopes", "operator.write")],
    );
    assert_eq!(status, 404, "owner-only: {v}");
    let (status, v) = invoke(
        &gw,
        nodes.as_bytes(),
        &[("x-openclaw-scopes", "operator.write, operator.admin")],
    );
    assert_eq!(status, 200, "{v}");
}

#[actix_web::test]
async fn tools_invoke_over_the_websocket_answers_as_openclaw_does() {
    let gw = start(
        json!({"token": GW_TOKEN}),
        json!({"allow": ["nodes"]}),
        json!([]),
    );
    let ws = gw.dir.path().join("workspace");
    let (mut writer, hello) =
        WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.write"])).await;
    let methods = hello["features"]["methods"].to_string();
    assert!(methods.contains("\"tools.invoke\""), "{methods}");

    let res = writer
        .request(
            "tools.invoke",
            json!({"name": "write", "args": {"path": "from-ws.md", "content": "héllo"}, "idempotencyKey": "k1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["ok"], true, "{res}");
    assert_eq!(res["payload"]["toolName"], "write", "{res}");
    assert_eq!(res["payload"]["source"], "core", "{res}");
    assert_eq!(
        std::fs::read_to_string(ws.join("from-ws.md")).expect("written"),
        "héllo"
    );

    // Owner-only for a caller without operator.admin, even when allowed.
    let res = writer
        .request(
            "tools.invoke",
            json!({"name": "nodes", "args": {"action": "status"}}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["ok"], false, "{res}");
    assert_eq!(res["payload"]["error"]["code"], "not_found", "{res}");

    // A tool error is a result too.
    let res = writer
        .request(
            "tools.invoke",
            json!({"name": "read", "args": {"path": "missing.md"}}),
        )
        .await;
    assert_eq!(res["payload"]["ok"], false, "{res}");
    assert_eq!(res["payload"]["error"]["code"], "internal_error", "{res}");

    // Bad params: OpenClaw's closed schema.
    for params in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "read", "tool": "read"}),
        json!({"name": "read", "args": "x"}),
        json!({"name": "read", "conversationReadOrigin": "delegated"}),
    ] {
        let res = writer.request("tools.invoke", params.clone()).await;
        assert_eq!(res["ok"], false, "{params} -> {res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
    }

    // A reader may not call tools at all.
    let (mut reader, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    let res = reader
        .request("tools.invoke", json!({"name": "sessions_list"}))
        .await;
    assert_eq!(res["ok"], false, "{res}");

    // The admin is the owner.
    let (mut admin, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.admin"])).await;
    let res = admin
        .request(
            "tools.invoke",
            json!({"name": "nodes", "args": {"action": "status"}}),
        )
        .await;
    assert_eq!(res["payload"]["ok"], true, "{res}");
    assert!(
        res["payload"]["output"]["details"]["nodes"].is_array(),
        "{res}"
    );

    // Each call is on the audit ledger as a tool action (its start and its end), never
    // with its arguments.
    let rows = crate::audit::wait_rows(&mut admin, json!({"kind": "tool_action"}), 6).await;
    let ended: Vec<&Value> = rows
        .iter()
        .filter(|r| r["action"] == "tool.action.finished")
        .collect();
    assert!(
        ended
            .iter()
            .any(|r| r["toolName"] == "write" && r["status"] == "succeeded"),
        "{rows:#?}"
    );
    assert!(
        ended
            .iter()
            .any(|r| r["toolName"] == "read" && r["status"] != "succeeded"),
        "{rows:#?}"
    );
    let all = serde_json::to_string(&rows).unwrap_or_default();
    assert!(
        !all.contains("héllo") && !all.contains("from-ws.md"),
        "{all}"
    );
}

#[actix_web::test]
async fn a_script_sends_a_telegram_message_through_the_message_tool() {
    use crate::support::fake_telegram::FakeTelegram;
    use crate::telegram_flow::{SLOW, TG_TOKEN, config, poll_until, start_gateway};
    let tg = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(&tg, None, json!({})));
    let text = "Backup done ✅ — 12 GB, ३ files";
    let body = json!({"tool": "message", "args": {"action": "send", "channel": "telegram", "target": "4242", "message": text}});
    let (status, v) = invoke(
        &gw,
        body.to_string().as_bytes(),
        &[("Authorization", "Bearer T")],
    );
    assert_eq!(status, 200, "{v}");
    let sent = poll_until(SLOW, "the message on Telegram", || {
        tg.sent()
            .into_iter()
            .find(|s| s.chat_id() == Some(4242) && s.text() == text)
    })
    .await;
    assert_eq!(sent.text(), text);
    assert_eq!(v["result"]["details"]["ok"], true, "{v}");
}
