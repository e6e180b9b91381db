//! `system-event` (the macOS app's presence beacons, and system events for the agent) and
//! `system.info`, against the real binary: a beacon shows in the presence list (merged into
//! the connected node's row it names, or a row of its own) and reaches the operators'
//! `presence` event; what changed about the machine, and plain events, reach the main
//! session's next run as `System:` lines; `wake` runs a turn now; hostile and unauthorized
//! calls are refused by name and change nothing.

use serde_json::{Value, json};

use crate::nodes::ALL_OPERATOR;
use crate::support::fake_openai::FakeOpenAi;
use crate::support::{TestGateway, WsClient, cli_params, error_of};
use crate::telegram_flow::{GW_ARGS, GW_TOKEN, SLOW, approved_node, last_user_text};

fn config(ai: &FakeOpenAi) -> String {
    json!({
        "models": {"providers": {"fake": {
            "baseUrl": ai.base_url(),
            "apiKey": "sk-system",
            "api": "openai-completions",
            "models": [{"id": "m"}],
        }}},
        "agents": {"defaults": {"model": {"primary": "fake/m"}}},
    })
    .to_string()
}

async fn ok(op: &mut WsClient, method: &str, params: Value) -> Value {
    let res = op.request(method, params).await;
    assert_eq!(res["ok"], true, "{method}: {res}");
    res["payload"].clone()
}

async fn presence(op: &mut WsClient) -> Vec<Value> {
    ok(op, "system-presence", json!({}))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The user text of the next model request after `chat.send {message}` in `main`.
async fn next_turn(op: &mut WsClient, ai: &FakeOpenAi, message: &str) -> String {
    let before = ai.request_count();
    let key = format!("sys-{}", uuid::Uuid::new_v4().simple());
    let sent = ok(
        op,
        "chat.send",
        json!({"sessionKey": "main", "message": message, "idempotencyKey": key}),
    )
    .await;
    let run = sent["runId"].as_str().unwrap_or_default().to_owned();
    let reqs = ai.wait_requests(before + 1, SLOW);
    assert_eq!(reqs.len(), before + 1, "one model request for {message:?}");
    // Wait for the run to end so the next message is not queued behind it.
    ok(op, "agent.wait", json!({"runId": run, "timeoutMs": 15_000})).await;
    last_user_text(reqs.last().expect("a request"))
}

fn rows_of<'a>(list: &'a [Value], key: &str, value: &str) -> Vec<&'a Value> {
    list.iter().filter(|r| r[key] == value).collect()
}

#[actix_web::test]
async fn beacons_update_presence_and_tell_the_agent_what_changed() {
    let ai = FakeOpenAi::start();
    ai.set_default_text("noted");
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&ai)));
    let mut op = WsClient::hello(gw.port, cli_params(GW_TOKEN, ALL_OPERATOR))
        .await
        .0;
    // Another operator, told of presence changes.
    let (mut ui, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    let node = approved_node(&gw, &mut op).await;

    // The Mac app's beacon names its node by device id: the node's row shows it.
    let beacon = json!({
        "text": "Node: studio-mac · mode local", "deviceId": node.node_id, "host": "studio-mac",
        "ip": "10.0.0.7", "version": "2026.9.6", "mode": "local", "platform": "macos 15.1",
        "deviceFamily": "Mac", "modelIdentifier": "Mac15,3", "reason": "launch",
        "lastInputSeconds": 30, "tags": ["system-presence-clear-last-input"],
        "roles": ["node"], "scopes": [], "idempotencyKey": "b-1",
    });
    let mut without_tag = beacon.clone();
    without_tag["tags"] = json!([]);
    assert_eq!(
        ok(&mut op, "system-event", without_tag).await,
        json!({"ok": true})
    );
    let list = presence(&mut op).await;
    let rows = rows_of(&list, "deviceId", &node.node_id);
    assert_eq!(rows.len(), 1, "one row for the node: {list:?}");
    let row = rows[0];
    assert_eq!(row["host"], "studio-mac", "{row}");
    assert_eq!(row["ip"], "10.0.0.7");
    assert_eq!(row["mode"], "local");
    assert_eq!(row["lastInputSeconds"], 30);
    assert_eq!(row["modelIdentifier"], "Mac15,3");
    assert_eq!(row["roles"], json!(["node"]), "the connection's role stays");
    assert!(
        row["onlineSince"].as_u64().is_some(),
        "the connection's row: {row}"
    );
    // The other operator hears of it.
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ev = ui.event_within("presence", left).await;
        let seen = ev["payload"]["presence"]
            .as_array()
            .is_some_and(|l| l.iter().any(|r| r["host"] == "studio-mac"));
        if seen {
            break;
        }
    }

    // Another machine that is not connected: a row of its own, by instance id. A plain
    // event with presence fields also reaches the agent.
    ok(
        &mut op,
        "system-event",
        json!({"text": "pi: backup volume mounted", "instanceId": "Pi-1", "host": "pi", "ip": "10.0.0.9"}),
    )
    .await;
    let list = presence(&mut op).await;
    let pi = rows_of(&list, "host", "pi");
    assert_eq!(pi.len(), 1, "{list:?}");
    assert_eq!(pi[0]["instanceId"], "Pi-1");
    assert_eq!(pi[0]["text"], "pi: backup volume mounted");

    // The main session's next run hears what changed about the Mac (its first beacon:
    // host, address, version, mode; `launch` is routine) and the plain event, in order.
    assert_eq!(
        next_turn(&mut op, &ai, "hello").await,
        "System: Node: studio-mac (10.0.0.7) · app 2026.9.6 · mode local\n\
         System: pi: backup volume mounted\n\nhello"
    );

    // The same beacon every few minutes tells the agent nothing; the tag clears the
    // input recency.
    let mut periodic = beacon.clone();
    periodic["reason"] = json!("periodic");
    ok(&mut op, "system-event", periodic).await;
    let list = presence(&mut op).await;
    let row = rows_of(&list, "deviceId", &node.node_id)[0].clone();
    assert!(row.get("lastInputSeconds").is_none(), "{row}");
    // A plain event with no presence field makes no row; any text goes through verbatim.
    let hostile = "disk at 91% 🔥 \u{202e}RTL\u{200d} «ü» [[tts:voice=x]] `rm -rf /`";
    ok(&mut op, "system-event", json!({"text": hostile})).await;
    assert!(
        !presence(&mut op).await.iter().any(|r| r["text"] == hostile),
        "no presence row for a plain event"
    );
    assert_eq!(
        next_turn(&mut op, &ai, "again").await,
        format!("System: {hostile}\n\nagain")
    );
    // The Mac moves to another network: the agent hears only that.
    let mut moved = beacon.clone();
    moved["ip"] = json!("192.168.1.20");
    moved["reason"] = json!("periodic");
    ok(&mut op, "system-event", moved).await;
    assert_eq!(
        next_turn(&mut op, &ai, "where?").await,
        "System: Node: studio-mac (192.168.1.20)\n\nwhere?"
    );

    // `wake: true` runs a turn of the main session now.
    let before = ai.request_count();
    ok(
        &mut op,
        "system-event",
        json!({"text": "backup finished", "wake": true}),
    )
    .await;
    let reqs = ai.wait_requests(before + 1, SLOW);
    assert_eq!(
        last_user_text(reqs.last().expect("the woken turn")),
        "System: backup finished"
    );

    // Refused by name, changing nothing.
    let long = "h".repeat(257);
    let roles: Vec<String> = (0..33).map(|i| format!("r{i}")).collect();
    for (params, needle) in [
        (
            json!({"text": "Node: x", "wake": true}),
            "wake is not supported",
        ),
        (
            json!({"text": "x", "wake": true, "sessionKey": "agent:main:nope"}),
            "Unknown or archived session \"agent:main:nope\"",
        ),
        (
            json!({"text": "x", "sessionKey": "agent:ghost:main"}),
            "Unknown agent id",
        ),
        (json!({"text": "  "}), "text required"),
        (json!({"host": "x"}), "required property 'text'"),
        (
            json!({"text": "Node: x", "deviceId": node.node_id, "host": "evil\u{7}"}),
            "host must not contain control characters",
        ),
        (
            json!({"text": "Node: x", "deviceId": node.node_id, "host": long}),
            "host is longer than 256",
        ),
        (
            json!({"text": "Node: x", "deviceId": node.node_id, "roles": roles}),
            "more than 32 items",
        ),
        (
            json!({"text": "x", "lastInputSeconds": "5"}),
            "must be number",
        ),
        (
            json!({"text": "x", "bogus": true}),
            "additional properties ('bogus')",
        ),
        (json!({"text": "x".repeat(16_001)}), "text is longer than"),
    ] {
        let res = op.request("system-event", params.clone()).await;
        let err = error_of(&res);
        assert_eq!(err["code"], "INVALID_REQUEST", "{params}: {res}");
        let msg = err["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{params}: {msg}");
    }
    // Only an admin may speak for a machine; a node may not at all.
    let (mut reader, _) = WsClient::hello(
        gw.port,
        cli_params(GW_TOKEN, &["operator.read", "operator.write"]),
    )
    .await;
    let res = reader
        .request(
            "system-event",
            json!({"text": "Node: x", "deviceId": node.node_id, "host": "evil"}),
        )
        .await;
    assert!(
        error_of(&res)["message"]
            .as_str()
            .is_some_and(|m| m.contains("operator.admin")),
        "{res}"
    );
    let res = node
        .request("system-event", json!({"text": "Node: x", "host": "evil"}))
        .await;
    assert_eq!(res["ok"], false, "{res}");
    let list = presence(&mut op).await;
    let row = rows_of(&list, "deviceId", &node.node_id)[0].clone();
    assert_eq!(row["host"], "studio-mac", "unchanged: {row}");
    assert!(!list.iter().any(|r| r["host"] == "evil"), "{list:?}");
    // Nothing queued by the refusals either.
    assert_eq!(next_turn(&mut op, &ai, "done").await, "done");
}

#[actix_web::test]
async fn system_info_reports_the_gateway_host() {
    let gw = TestGateway::start(GW_ARGS, &[], None);
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    let info = ok(&mut op, "system.info", json!({})).await;
    assert_eq!(info["pid"], gw.pid(), "{info}");
    assert_eq!(info["port"], gw.port);
    assert_eq!(info["platform"], "linux");
    assert!(
        ["x64", "arm64"].contains(&info["arch"].as_str().unwrap_or_default()),
        "{info}"
    );
    let release = info["release"].as_str().unwrap_or_default();
    assert!(!release.is_empty());
    assert_eq!(info["osLabel"], format!("Linux {release}"));
    for key in [
        "hostname",
        "machineName",
        "nodeVersion",
        "processInstanceId",
    ] {
        assert!(
            info[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {info}"
        );
    }
    assert!(info["cpuCount"].as_u64().is_some_and(|n| n >= 1), "{info}");
    let total = info["memoryTotalBytes"].as_u64().unwrap_or_default();
    let free = info["memoryFreeBytes"].as_u64().unwrap_or(u64::MAX);
    assert!(total > 0 && free <= total, "{info}");
    assert!(info["uptimeMs"].as_u64().is_some(), "{info}");
    // The state directory's disk.
    let state = gw
        .dir
        .path()
        .canonicalize()
        .unwrap_or_else(|_| gw.dir.path().to_owned());
    let path = std::path::PathBuf::from(info["diskPath"].as_str().unwrap_or_default());
    assert!(
        path.starts_with(&state) || state.starts_with(&path),
        "{path:?} vs {state:?}"
    );
    let disk = &info["disks"][0];
    assert_eq!(disk["path"], info["diskPath"]);
    let (dt, da) = (
        disk["totalBytes"].as_u64().unwrap_or_default(),
        disk["availableBytes"].as_u64().unwrap_or(u64::MAX),
    );
    assert!(dt > 0 && da <= dt && dt % 1024 == 0, "{disk}");
    assert_eq!(
        info["defaultAgentUtilityModel"],
        json!({"status": "unavailable"})
    );
    // The process is the same one across calls; params are a closed empty object.
    let again = ok(&mut op, "system.info", json!({})).await;
    assert_eq!(again["processInstanceId"], info["processInstanceId"]);
    let res = op.request("system.info", json!({"verbose": true})).await;
    assert!(
        error_of(&res)["message"]
            .as_str()
            .is_some_and(|m| m.contains("additional properties ('verbose')")),
        "{res}"
    );
}
