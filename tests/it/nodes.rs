//! Nodes: surface approval, `node.invoke` routing through a fake node (happy path, node
//! errors, timeouts, disconnects, concurrency, idempotency, validation), `node.invoke.result`
//! edge cases, `node.list` / `node.describe` and `node.event node.host.stats`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::fake_node::{Action, FakeNode, Script, always, echo_payload, random_key};
use crate::support::{Incoming, TestGateway, WsClient, cli_params, error_of};

/// Every operator scope these tests need (approving `system.*` needs admin).
pub const ALL_OPERATOR: &[&str] = &[
    "operator.read",
    "operator.write",
    "operator.pairing",
    "operator.admin",
];

/// The surface the fake node declares.
const SURFACE: &[&str] = &["echo.test", "system.which"];

fn golden_nodes() -> Value {
    serde_json::from_str(include_str!("../fixtures/golden/device-pairing.json"))
        .expect("tests/fixtures/golden/device-pairing.json is valid JSON")
}

/// The pending `node.pair.list` request for `node_id`.
pub async fn pending_surface(op: &mut WsClient, node_id: &str) -> Value {
    let list = op.request("node.pair.list", json!({})).await;
    assert_eq!(list["ok"], true, "{list}");
    list["payload"]["pending"]
        .as_array()
        .expect("node.pair.list pending is an array")
        .iter()
        .find(|p| p["nodeId"] == node_id)
        .cloned()
        .unwrap_or_else(|| panic!("no pending surface request for {node_id}: {list}"))
}

/// Approves the node's pending surface over `op` (which needs pairing + admin).
pub async fn approve_surface(op: &mut WsClient, node_id: &str) -> String {
    let pending = pending_surface(op, node_id).await;
    let request_id = pending["requestId"]
        .as_str()
        .expect("pending request has a requestId")
        .to_owned();
    let res = op
        .request("node.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(res["ok"], true, "node.pair.approve: {res}");
    request_id
}

/// A gateway (token T), an all-scopes operator and an approved fake node running `script`.
async fn setup(script: Script) -> (TestGateway, WsClient, FakeNode) {
    let gw = TestGateway::with_token("T");
    let key = random_key();
    let node = FakeNode::connect(gw.port, &key, "T", SURFACE, script).await;
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    approve_surface(&mut op, &node.node_id).await;
    (gw, op, node)
}

fn invoke_params(node_id: &str, command: &str, params: Value, key: &str) -> Value {
    json!({
        "nodeId": node_id,
        "command": command,
        "params": params,
        "timeoutMs": 5000,
        "idempotencyKey": key,
    })
}

#[actix_web::test]
async fn surface_waits_for_approval_with_the_right_scopes() {
    let gw = TestGateway::with_token("T");
    let key = random_key();
    let mut node = FakeNode::connect(
        gw.port,
        &key,
        "T",
        &["echo.test", "system.run"],
        always(Action::Echo),
    )
    .await;
    // The node's device was paired silently (local), so it got a device token.
    assert!(
        node.hello["auth"]["deviceToken"].is_string(),
        "{}",
        node.hello["auth"]
    );
    assert_eq!(node.hello["auth"]["role"], "node", "{}", node.hello["auth"]);

    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let devices = op.request("device.pair.list", json!({})).await;
    let paired = devices["payload"]["paired"]
        .as_array()
        .expect("device.pair.list paired is an array");
    let dev = paired
        .iter()
        .find(|d| d["deviceId"] == node.node_id)
        .unwrap_or_else(|| panic!("node device is not paired: {devices}"));
    assert_eq!(dev["approvedVia"], "silent", "{dev}");
    assert_eq!(dev["roles"], json!(["node"]), "{dev}");

    let pending = pending_surface(&mut op, &node.node_id).await;
    assert_eq!(
        pending["commands"],
        json!(["echo.test", "system.run"]),
        "declared commands (sorted): {pending}"
    );
    assert_eq!(
        pending["requiredApproveScopes"],
        json!(["operator.pairing", "operator.admin"]),
        "{pending}"
    );
    let request_id = pending["requestId"]
        .as_str()
        .expect("pending requestId")
        .to_owned();

    // Before approval the declared command is refused with a reason.
    let res = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({}), "before"),
        )
        .await;
    let err = error_of(&res);
    assert_eq!(err["code"], "INVALID_REQUEST", "{res}");
    assert_eq!(err["details"]["reason"], "command not approved", "{res}");
    assert_eq!(
        err["message"],
        "node command not allowed: \"echo.test\" is awaiting operator approval (run openclaw nodes approve)",
        "{res}"
    );
    assert!(
        node.requests.borrow().is_empty(),
        "nothing reached the node"
    );

    // operator.pairing alone cannot approve a surface with system.run.
    let (mut pairing_only, _) =
        WsClient::hello(gw.port, cli_params("T", &["operator.pairing"])).await;
    let res = pairing_only
        .request("node.pair.approve", json!({"requestId": request_id}))
        .await;
    let err = error_of(&res);
    assert_eq!(err["code"], "FORBIDDEN", "{res}");
    assert_eq!(err["message"], "missing scope: operator.admin", "{res}");
    assert_eq!(err["details"]["missingScope"], "operator.admin", "{res}");

    let res = op
        .request("node.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["requestId"], request_id.as_str(), "{res}");
    let resolved = node
        .event_within("node.pair.resolved", Duration::from_secs(5))
        .await;
    assert_eq!(resolved["payload"]["requestId"], request_id.as_str());
    assert_eq!(resolved["payload"]["nodeId"], node.node_id.as_str());
    assert_eq!(resolved["payload"]["decision"], "approved", "{resolved}");

    let res = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({"x": 1}), "after"),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["payload"]["echo"], json!({"x": 1}), "{res}");
    let list = op.request("node.pair.list", json!({})).await;
    assert_eq!(
        list["payload"]["pending"],
        json!([]),
        "nothing pending: {list}"
    );
}

#[actix_web::test]
async fn invoke_round_trip_through_the_node() {
    let (_gw, mut op, mut node) = setup(always(Action::Echo)).await;
    let params = json!({"bins": ["sh"], "nested": {"a": [1, 2]}});
    let res = op
        .request(
            "node.invoke",
            json!({
                "nodeId": node.node_id,
                "command": "echo.test",
                "params": params,
                "timeoutMs": 4321,
                "idempotencyKey": "k-happy",
            }),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let p = &res["payload"];
    assert_eq!(p["ok"], true, "{p}");
    assert_eq!(p["nodeId"], node.node_id.as_str(), "{p}");
    assert_eq!(p["command"], "echo.test", "{p}");
    let want = json!({"echo": params, "command": "echo.test"});
    assert_eq!(p["payload"], want, "{p}");
    let payload_json = p["payloadJSON"].as_str().expect("payloadJSON is a string");
    assert_eq!(
        serde_json::from_str::<Value>(payload_json).expect("payloadJSON parses"),
        want
    );

    // What the node saw.
    let reqs = node.requests.borrow().clone();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let r = &reqs[0];
    assert!(r["id"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
    assert_eq!(r["nodeId"], node.node_id.as_str(), "{r}");
    assert_eq!(r["command"], "echo.test", "{r}");
    let pj = r["paramsJSON"].as_str().expect("paramsJSON is a string");
    assert_eq!(
        serde_json::from_str::<Value>(pj).expect("paramsJSON parses"),
        params
    );
    assert_eq!(r["timeoutMs"], 4321, "{r}");
    assert_eq!(r["idempotencyKey"], "k-happy", "{r}");
    // The gateway acked the node's result.
    let ack = node.ack_within(Duration::from_secs(5)).await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["payload"], json!({"ok": true}), "{ack}");
    assert_eq!(node.acks.borrow().len(), 1, "one ack: {:?}", node.acks);
}

#[actix_web::test]
async fn node_error_result_is_unavailable_with_the_node_error() {
    let (_gw, mut op, node) = setup(always(Action::Error {
        code: "E_BOOM".into(),
        message: "it broke".into(),
    }))
    .await;
    let res = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({}), "k-err"),
        )
        .await;
    let err = error_of(&res);
    assert_eq!(err["code"], "UNAVAILABLE", "{res}");
    assert_eq!(err["message"], "E_BOOM: it broke", "{res}");
    assert_eq!(
        err["details"]["nodeError"],
        json!({"code": "E_BOOM", "message": "it broke"}),
        "{res}"
    );
    // The stability ring has the command and the code, not the node's message.
    let res = op
        .request(
            "diagnostics.stability",
            json!({"type": "tool.execution.error"}),
        )
        .await;
    let e = &res["payload"]["events"][0];
    assert_eq!(
        (&e["toolName"], &e["source"], &e["reason"]),
        (&json!("echo.test"), &json!("node"), &json!("E_BOOM")),
        "{res}"
    );
    assert!(!res.to_string().contains("it broke"), "{res}");
}

#[actix_web::test]
async fn silent_node_times_out() {
    let (_gw, mut op, node) = setup(always(Action::Never)).await;
    let res = op
        .request(
            "node.invoke",
            json!({
                "nodeId": node.node_id,
                "command": "echo.test",
                "timeoutMs": 300,
                "idempotencyKey": "k-timeout",
            }),
        )
        .await;
    let err = error_of(&res);
    assert_eq!(err["code"], "UNAVAILABLE", "{res}");
    assert_eq!(err["message"], "TIMEOUT: node invoke timed out", "{res}");
    assert_eq!(err["details"]["nodeError"]["code"], "TIMEOUT", "{res}");
    assert_eq!(node.requests.borrow().len(), 1, "the node got the request");
    let res = op
        .request(
            "diagnostics.stability",
            json!({"type": "tool.execution.error"}),
        )
        .await;
    assert_eq!(res["payload"]["events"][0]["reason"], "TIMEOUT", "{res}");
    // Without params the request carries no paramsJSON value.
    let req = node.requests.borrow()[0].clone();
    assert!(req["paramsJSON"].is_null(), "{req}");
}

#[actix_web::test]
async fn node_disconnect_fails_the_invoke_promptly() {
    let (_gw, mut op, mut node) = setup(always(Action::Close)).await;
    let id = op
        .send_request(
            "node.invoke",
            json!({
                "nodeId": node.node_id,
                "command": "echo.test",
                "params": {},
                "timeoutMs": 30000,
                "idempotencyKey": "k-disc",
            }),
        )
        .await;
    // Far below the 30 s invoke timeout.
    let res = op.response_within(&id, Duration::from_secs(5)).await;
    let err = error_of(&res);
    assert_eq!(err["code"], "UNAVAILABLE", "{res}");
    assert_eq!(
        err["details"]["nodeError"]["code"], "NODE_DISCONNECTED",
        "{res}"
    );
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("NODE_DISCONNECTED")),
        "{res}"
    );
    node.closed_within(Duration::from_secs(5)).await;
    // The node is gone from the routing table.
    let res = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({}), "k-after"),
        )
        .await;
    assert_eq!(error_of(&res)["message"], "node not connected", "{res}");
}

#[actix_web::test]
async fn hundred_concurrent_invokes_correlate_out_of_order() {
    const N: usize = 100;
    let (_gw, mut op, node) = setup(always(Action::HoldThenReverse(N))).await;
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        let id = op
            .send_request(
                "node.invoke",
                invoke_params(
                    &node.node_id,
                    "echo.test",
                    json!({"n": i}),
                    &format!("k-{i}"),
                ),
            )
            .await;
        ids.push(id);
    }
    // The node answers only once all 100 are in, last first. (Responses arrive in any
    // order, so collect them by id.)
    let mut answers = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while answers.len() < N {
        let left = deadline.saturating_duration_since(Instant::now());
        match op.next_within(left).await {
            Incoming::Json(v) if v["type"] == "res" => {
                let id = v["id"].as_str().expect("res id").to_owned();
                assert!(answers.insert(id, v).is_none(), "duplicate response");
            }
            Incoming::Json(_) => {}
            other => panic!("socket ended while waiting for answers: {other:?}"),
        }
    }
    for (i, id) in ids.iter().enumerate() {
        let res = &answers[id];
        assert_eq!(res["ok"], true, "call {i}: {res}");
        assert_eq!(
            res["payload"]["payload"]["echo"],
            json!({"n": i}),
            "call {i} got another call's answer: {res}"
        );
    }
    let reqs = node.requests.borrow().clone();
    assert_eq!(reqs.len(), N);
    let mut keys: Vec<&str> = reqs
        .iter()
        .filter_map(|r| r["idempotencyKey"].as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), N, "one request per key");
}

#[actix_web::test]
async fn same_idempotency_key_reaches_the_node_once() {
    let script: Script = std::rc::Rc::new(|req: &Value| {
        if req["idempotencyKey"] == "k-dup" {
            Action::Delay(Duration::from_millis(200), Box::new(Action::Echo))
        } else {
            Action::Echo
        }
    });
    let (_gw, mut op, node) = setup(script).await;
    let p = invoke_params(&node.node_id, "echo.test", json!({"v": 1}), "k-dup");
    // Two callers: this operator twice in flight, and a second connection.
    let (mut op2, _) = WsClient::hello(_gw.port, cli_params("T", ALL_OPERATOR)).await;
    let a = op.send_request("node.invoke", p.clone()).await;
    let b = op2.send_request("node.invoke", p.clone()).await;
    let ra = op.response(&a).await;
    let rb = op2.response(&b).await;
    assert_eq!(ra["ok"], true, "{ra}");
    assert_eq!(ra["payload"], rb["payload"], "same result for both callers");
    // After completion the key is still remembered.
    let rc = op.request("node.invoke", p).await;
    assert_eq!(rc["payload"], ra["payload"], "{rc}");
    // A later call with another key is a barrier: any duplicate would have arrived first.
    let barrier = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({}), "k-barrier"),
        )
        .await;
    assert_eq!(barrier["ok"], true, "{barrier}");
    assert_eq!(node.requests_with_key("k-dup"), 1, "{:?}", node.requests);
    assert_eq!(node.requests_with_key("k-barrier"), 1);
}

#[actix_web::test]
async fn invoke_validation_errors() {
    let (_gw, mut op, node) = setup(always(Action::Echo)).await;
    let golden = golden_nodes();

    // A command the node never declared.
    let res = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "no.such.command", json!({}), "k1"),
        )
        .await;
    assert_eq!(
        error_of(&res),
        &golden["node_invoke_not_allowlisted"]["error"],
        "{res}"
    );
    let res = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "x", json!({}), "k1b"),
        )
        .await;
    assert_eq!(
        error_of(&res)["message"],
        "node command not allowed: \"x\" is not in the allowlist for platform \"linux\"",
        "{res}"
    );

    // An unknown node.
    let res = op
        .request(
            "node.invoke",
            invoke_params("no-such-node", "echo.test", json!({}), "k2"),
        )
        .await;
    let err = error_of(&res);
    assert_eq!(err["code"], "UNAVAILABLE", "{res}");
    assert_eq!(err["message"], "node not connected", "{res}");
    assert_eq!(err["details"]["code"], "NOT_CONNECTED", "{res}");

    // Bad params.
    let res = op.request("node.invoke", json!({"bogus": true})).await;
    let err = error_of(&res);
    assert_eq!(err["code"], "INVALID_REQUEST", "{res}");
    let msg = err["message"].as_str().expect("message is a string");
    assert!(
        msg.starts_with("invalid node.invoke params: must have required property 'nodeId'"),
        "{res}"
    );
    assert_eq!(
        msg,
        "invalid node.invoke params: must have required property 'nodeId'; must have required property 'command'; must have required property 'idempotencyKey'; at root: unexpected property 'bogus'",
        "{res}"
    );

    assert!(
        node.requests.borrow().is_empty(),
        "no invalid call reached the node"
    );

    // Scope: a read-only operator may not invoke.
    let (mut reader, _) = WsClient::hello(_gw.port, cli_params("T", &["operator.read"])).await;
    let res = reader
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({}), "k3"),
        )
        .await;
    assert_eq!(
        error_of(&res)["message"],
        "missing scope: operator.write",
        "{res}"
    );
}

#[actix_web::test]
async fn invoke_result_edge_cases() {
    let (_gw, mut op, node) = setup(always(Action::Never)).await;
    // A pending call to answer by hand.
    let id = op
        .send_request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({"h": 1}), "k-hand"),
        )
        .await;
    let mut node = node;
    let req = node
        .event_within("node.invoke.request", Duration::from_secs(5))
        .await;
    let invoke_id = req["payload"]["id"].clone();

    // Another node's id.
    let res = node
        .request(
            "node.invoke.result",
            json!({"id": invoke_id, "nodeId": "someone-else", "ok": true, "payloadJSON": "{}"}),
        )
        .await;
    let err = error_of(&res);
    assert_eq!(err["code"], "INVALID_REQUEST", "{res}");
    assert_eq!(err["message"], "nodeId mismatch", "{res}");

    // The real answer.
    let payload = echo_payload(&req["payload"]);
    let res = node
        .request(
            "node.invoke.result",
            json!({"id": invoke_id, "nodeId": node.node_id, "ok": true, "payloadJSON": payload.to_string()}),
        )
        .await;
    assert_eq!(res["payload"], json!({"ok": true}), "{res}");
    let answered = op.response(&id).await;
    assert_eq!(answered["payload"]["payload"], payload, "{answered}");

    // Late (already answered) and unknown ids are acknowledged and ignored.
    for late in [invoke_id.clone(), json!("no-such-invoke")] {
        let res = node
            .request(
                "node.invoke.result",
                json!({"id": late, "nodeId": node.node_id, "ok": true, "payloadJSON": "{}"}),
            )
            .await;
        assert_eq!(res["ok"], true, "{res}");
        assert_eq!(
            res["payload"],
            json!({"ok": true, "ignored": true}),
            "{res}"
        );
    }

    // An operator cannot post results.
    let res = op
        .request(
            "node.invoke.result",
            json!({"id": "x", "nodeId": node.node_id, "ok": true}),
        )
        .await;
    assert_eq!(
        error_of(&res)["message"],
        "unauthorized role: operator",
        "{res}"
    );
}

#[actix_web::test]
async fn node_list_describe_and_host_stats() {
    let (_gw, mut op, node) = setup(always(Action::Echo)).await;
    let list = op.request("node.list", json!({})).await;
    assert_eq!(list["ok"], true, "{list}");
    assert!(list["payload"]["ts"].is_u64(), "{list}");
    let nodes = list["payload"]["nodes"]
        .as_array()
        .expect("node.list nodes is an array");
    assert_eq!(nodes.len(), 1, "{list}");
    let n = &nodes[0];
    assert_eq!(n["nodeId"], node.node_id.as_str(), "{n}");
    assert_eq!(n["paired"], true, "{n}");
    assert_eq!(n["connected"], true, "{n}");
    assert_eq!(n["approvalState"], "approved", "{n}");
    assert_eq!(n["commands"], json!(SURFACE), "{n}");
    assert_eq!(n["clientId"], "node-host", "{n}");
    assert_eq!(n["clientMode"], "node", "{n}");
    assert_eq!(n["platform"], "linux", "{n}");
    assert_eq!(n["displayName"], "it-fake-node", "{n}");
    assert_eq!(n["caps"], json!(["system"]), "{n}");
    let seen = n["lastSeenAtMs"].as_u64().expect("lastSeenAtMs");
    assert!(seen > 0, "{n}");

    let res = op
        .request("node.describe", json!({"nodeId": node.node_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let d = &res["payload"];
    assert_eq!(d["nodeId"], node.node_id.as_str(), "{d}");
    assert_eq!(d["connected"], true, "{d}");
    assert_eq!(d["commands"], json!(SURFACE), "{d}");
    assert!(d["ts"].is_u64(), "{d}");
    assert!(d.get("hostStats").is_none(), "no stats yet: {d}");

    let res = op.request("node.describe", json!({"nodeId": "nope"})).await;
    let err = error_of(&res);
    assert_eq!(err["code"], "INVALID_REQUEST", "{res}");
    assert_eq!(err["message"], "unknown nodeId", "{res}");

    let stats = json!({"cpuCount": 2, "loadAverage": [0.5, 0.25, 0.125], "memoryTotalBytes": 1024});
    let res = node
        .request(
            "node.event",
            json!({"event": "node.host.stats", "payloadJSON": stats.to_string()}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["ok"], true, "{res}");
    assert_eq!(res["payload"]["handled"], true, "{res}");
    assert_eq!(res["payload"]["event"], "node.host.stats", "{res}");

    let res = op
        .request("node.describe", json!({"nodeId": node.node_id}))
        .await;
    let hs = &res["payload"]["hostStats"];
    assert_eq!(hs["cpuCount"], 2, "{res}");
    assert_eq!(hs["loadAverage"], json!([0.5, 0.25, 0.125]), "{res}");
    assert!(hs["updatedAtMs"].is_u64(), "{res}");

    // Other node events are accepted but not handled.
    let res = node
        .request("node.event", json!({"event": "it.other", "payload": {}}))
        .await;
    assert_eq!(res["payload"]["handled"], false, "{res}");

    // After the node leaves: still listed (paired) but not connected. Each poll is a round
    // trip to the gateway, which paces the bounded loop.
    node.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    let gone = loop {
        let list = op.request("node.list", json!({})).await;
        let n = list["payload"]["nodes"][0].clone();
        if n["connected"] == false {
            break n;
        }
        assert!(Instant::now() < deadline, "node still connected: {list}");
    };
    assert_eq!(gone["paired"], true, "{gone}");
    assert_eq!(gone["approvalState"], "approved", "{gone}");
    assert!(gone["lastDisconnectedAtMs"].is_u64(), "{gone}");
}

/// Our own node host (`openclaw node run`) against our gateway: `system.run` runs only what
/// the exec allowlist names.
#[actix_web::test]
async fn our_node_host_runs_only_allowlisted_programs() {
    let gw = TestGateway::with_token("T");
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let home = tempfile::tempdir().expect("node host home");
    std::fs::create_dir_all(home.path().join("node")).expect("create $STATE/node");
    std::fs::write(
        home.path().join("node/exec-allowlist.json"),
        r#"{"allow":["/usr/bin/echo"]}"#,
    )
    .expect("write exec-allowlist.json");
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
        "it-rs-node",
    ])
    .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let mut host = crate::support::Background::spawn(cmd);

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
    assert_eq!(ev["payload"]["displayName"], "it-rs-node", "{ev}");
    assert!(
        ev["payload"]["commands"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x == "system.run")),
        "our node host declares system.run: {ev}"
    );
    approve_surface(&mut op, &node_id).await;

    let run = |argv: Value, key: &str| {
        json!({
            "nodeId": node_id,
            "command": "system.run",
            "params": {"command": argv},
            "timeoutMs": 10000,
            "idempotencyKey": key,
        })
    };
    let res = op
        .request("node.invoke", run(json!(["echo", "hi"]), "it-rs-echo"))
        .await;
    assert_eq!(res["ok"], true, "{res}\nnode host:\n{}", host.output());
    let p = &res["payload"]["payload"];
    assert_eq!(p["stdout"], "hi\n", "{res}");
    assert_eq!(p["exitCode"], 0, "{res}");

    let res = op
        .request("node.invoke", run(json!(["uname"]), "it-rs-uname"))
        .await;
    let err = error_of(&res);
    assert_eq!(err["code"], "UNAVAILABLE", "{res}");
    assert_eq!(
        err["details"]["nodeError"]["code"],
        "SYSTEM_RUN_DENIED",
        "{res}\nnode host:\n{}",
        host.output()
    );
    host.kill_group();
}

#[actix_web::test]
async fn idempotency_key_survives_a_node_reconnect() {
    let gw = TestGateway::with_token("T");
    let key = random_key();
    let node = FakeNode::connect(gw.port, &key, "T", SURFACE, always(Action::Echo)).await;
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    approve_surface(&mut op, &node.node_id).await;
    let node_id = node.node_id.clone();
    let p = invoke_params(&node_id, "echo.test", json!({"run": "once"}), "k-reconnect");
    let first = op.request("node.invoke", p.clone()).await;
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(node.requests_with_key("k-reconnect"), 1);

    // The node goes away and comes back (same identity, surface still approved).
    node.close();
    drop(node);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list = op.request("node.list", json!({})).await;
        let connected = list["payload"]["nodes"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["nodeId"] == node_id.as_str()))
            .is_some_and(|n| n["connected"] == true);
        if !connected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node still listed as connected: {list}"
        );
    }
    let again = FakeNode::connect(gw.port, &key, "T", SURFACE, always(Action::Echo)).await;
    // The retry is answered from the previous session's outcome: the command does not run
    // again on the node.
    let retry = op.request("node.invoke", p).await;
    assert_eq!(retry["ok"], true, "{retry}");
    assert_eq!(retry["payload"], first["payload"], "{retry}");
    let barrier = op
        .request(
            "node.invoke",
            invoke_params(&node_id, "echo.test", json!({}), "k-after"),
        )
        .await;
    assert_eq!(barrier["ok"], true, "{barrier}");
    assert_eq!(
        again.requests_with_key("k-reconnect"),
        0,
        "{:?}",
        again.requests
    );
    assert_eq!(again.requests_with_key("k-after"), 1);
}

/// An all-scopes operator with its own device identity (silently paired on loopback).
async fn device_operator(port: u16) -> WsClient {
    use crate::support::fake_node::{Sig, sign_device};
    let (mut c, ch) = WsClient::open_challenged(port).await;
    let nonce = ch["payload"]["nonce"]
        .as_str()
        .expect("challenge nonce")
        .to_owned();
    let mut p = cli_params("T", ALL_OPERATOR);
    sign_device(
        &mut p,
        &random_key(),
        &nonce,
        crate::support::now_ms(),
        Sig::V3,
    );
    let res = c.connect(p).await;
    assert_eq!(res["ok"], true, "device operator connect: {res}");
    c
}

#[actix_web::test]
async fn reused_idempotency_key_with_another_call_is_an_error() {
    let script: Script = std::rc::Rc::new(|req: &Value| {
        if req["idempotencyKey"] == "k-slow" {
            Action::Delay(Duration::from_millis(300), Box::new(Action::Echo))
        } else {
            Action::Echo
        }
    });
    let (gw, mut op, node) = setup(script).await;
    let reused = "idempotencyKey was already used for a different node.invoke (other caller, command or params); use a new key for a new call";
    let first = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({"v": 1}), "k-bind"),
        )
        .await;
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(
        first["payload"]["payload"]["echo"],
        json!({"v": 1}),
        "{first}"
    );

    // Other params, other command: an error, not the first call's result.
    for (command, params) in [
        ("echo.test", json!({"v": 2})),
        ("echo.test", json!(null)),
        ("system.which", json!({"v": 1})),
    ] {
        let res = op
            .request(
                "node.invoke",
                invoke_params(&node.node_id, command, params.clone(), "k-bind"),
            )
            .await;
        let err = error_of(&res);
        assert_eq!(err["code"], "INVALID_REQUEST", "{command} {params}: {res}");
        assert_eq!(err["message"], reused, "{command} {params}: {res}");
    }
    // Another caller (an operator with its own device) with the very same call.
    let mut other = device_operator(gw.port).await;
    let res = other
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({"v": 1}), "k-bind"),
        )
        .await;
    assert_eq!(error_of(&res)["message"], reused, "{res}");
    // The same call again is still answered from the cache.
    let again = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({"v": 1}), "k-bind"),
        )
        .await;
    assert_eq!(again["payload"], first["payload"], "{again}");

    // While the first call is in flight, too.
    let a = op
        .send_request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({"v": 1}), "k-slow"),
        )
        .await;
    node_requested(&node, "k-slow").await;
    let res = other
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({"v": 9}), "k-slow"),
        )
        .await;
    assert_eq!(error_of(&res)["message"], reused, "{res}");
    let ra = op.response(&a).await;
    assert_eq!(ra["payload"]["payload"]["echo"], json!({"v": 1}), "{ra}");
    assert_eq!(node.requests_with_key("k-bind"), 1, "{:?}", node.requests);
    assert_eq!(node.requests_with_key("k-slow"), 1, "{:?}", node.requests);
}

/// Waits until the node received a request with `key`.
async fn node_requested(node: &FakeNode, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.requests_with_key(key) == 0 {
        assert!(Instant::now() < deadline, "the node never got {key}");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Large answers (a camera snapshot is megabytes) are kept for idempotency within a byte
/// budget per node, not 1000 of them whatever their size: 48 answers of 1 MiB leave the
/// gateway's memory bounded, the newest are still answered from the cache and the oldest
/// run again.
#[actix_web::test]
async fn large_answers_are_kept_for_retries_within_a_byte_budget() {
    const N: usize = 48;
    let blob = "A".repeat(1 << 20);
    let (gw, mut op, node) = setup(always(Action::Reply(json!({"base64": blob})))).await;
    let call = |i: usize| invoke_params(&node.node_id, "echo.test", json!({}), &format!("big-{i}"));
    let first = op.request("node.invoke", call(0)).await;
    assert_eq!(
        first["payload"]["payload"]["base64"].as_str().map(str::len),
        Some(1 << 20),
        "the answer arrives whole"
    );
    let before = rss_kib(gw.pid());
    for i in 1..N {
        let res = op.request("node.invoke", call(i)).await;
        assert_eq!(res["ok"], true, "call {i}");
    }
    let grown_mib = rss_kib(gw.pid()).saturating_sub(before) / 1024;
    println!("gateway RSS grew {grown_mib} MiB over {N} answers of 1 MiB");
    // Kept whole (as before), the answers alone would be about 2 × 48 MiB (text and tree).
    assert!(
        grown_mib < 40,
        "gateway RSS grew {grown_mib} MiB for {N} answers of 1 MiB"
    );
    // The newest is answered from the cache, the oldest went to make room.
    let again = op.request("node.invoke", call(N - 1)).await;
    assert_eq!(
        again["payload"]["payload"]["base64"].as_str().map(str::len),
        Some(1 << 20),
        "answered whole from the cache"
    );
    assert_eq!(node.requests_with_key(&format!("big-{}", N - 1)), 1);
    let oldest = op.request("node.invoke", call(0)).await;
    assert_eq!(oldest["ok"], true, "{}", oldest["error"]);
    assert_eq!(node.requests_with_key("big-0"), 2, "the oldest ran again");
}

/// A failed answer's `(code, message)`.
fn code_message(res: &Value) -> (String, String) {
    let e = error_of(res);
    (
        e["code"].as_str().unwrap_or_default().to_owned(),
        e["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The `displayName` of a node in `node.list`.
async fn listed_name(op: &mut WsClient, node_id: &str) -> Value {
    let list = op.request("node.list", json!({})).await;
    list["payload"]["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["nodeId"] == node_id))
        .map(|n| n["displayName"].clone())
        .unwrap_or_else(|| panic!("node {node_id} not listed: {list}"))
}

/// `node.rename` (`openclaw nodes rename`): an operator with `operator.pairing` names an
/// approved node; the name is trimmed, bounded, kept on disk across a restart, and wins over
/// the name the node declares, also when it reconnects declaring another one.
#[actix_web::test]
async fn node_rename_names_an_approved_node_until_renamed_again() {
    let gw = TestGateway::with_token("T");
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let key = random_key();
    let node = FakeNode::connect(gw.port, &key, "T", SURFACE, always(Action::Echo)).await;
    let node_id = node.node_id.clone();

    // Not approved yet: nothing to rename.
    let res = op
        .request(
            "node.rename",
            json!({"nodeId": node_id, "displayName": "x"}),
        )
        .await;
    assert_eq!(
        code_message(&res),
        ("INVALID_REQUEST".into(), "unknown nodeId".into()),
        "{res}"
    );
    approve_surface(&mut op, &node_id).await;
    assert_eq!(listed_name(&mut op, &node_id).await, "it-fake-node");

    let name = "Küche 🍳 Pi";
    let res = op
        .request(
            "node.rename",
            json!({"nodeId": node_id, "displayName": format!("\t{name}  ")}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"],
        json!({"nodeId": node_id, "displayName": name})
    );
    assert_eq!(listed_name(&mut op, &node_id).await, name);
    let paired = op.request("node.pair.list", json!({})).await;
    assert_eq!(
        paired["payload"]["paired"][0]["displayName"], name,
        "{paired}"
    );

    // Refusals: no scope, blank, too long, wrong types, unknown node, extra keys.
    let (mut reader, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    let res = reader
        .request(
            "node.rename",
            json!({"nodeId": node_id, "displayName": "y"}),
        )
        .await;
    assert_eq!(
        res["error"]["details"]["missingScope"], "operator.pairing",
        "{res}"
    );
    let long = "é".repeat(257);
    for (params, code, msg) in [
        (
            json!({"nodeId": node_id, "displayName": " \n "}),
            "INVALID_REQUEST",
            "displayName required",
        ),
        (
            json!({"nodeId": node_id, "displayName": long}),
            "INVALID_REQUEST",
            "invalid node.rename params: displayName is longer than 256 characters",
        ),
        (
            json!({"nodeId": node_id, "displayName": 7}),
            "INVALID_REQUEST",
            "invalid node.rename params: at /displayName: must be string",
        ),
        (
            json!({"nodeId": "", "displayName": "z"}),
            "INVALID_REQUEST",
            "invalid node.rename params: at /nodeId: must NOT have fewer than 1 characters",
        ),
        (
            json!({"nodeId": "nope", "displayName": "z"}),
            "INVALID_REQUEST",
            "unknown nodeId",
        ),
        (
            json!({"nodeId": node_id, "displayName": "z", "extra": 1}),
            "INVALID_REQUEST",
            "invalid node.rename params: at root: unexpected property 'extra'",
        ),
    ] {
        let res = op.request("node.rename", params.clone()).await;
        assert_eq!(
            code_message(&res),
            (code.to_owned(), msg.to_owned()),
            "{params}: {res}"
        );
    }
    assert_eq!(
        listed_name(&mut op, &node_id).await,
        name,
        "refusals change nothing"
    );

    // The node reconnects declaring another name: the operator's name stays.
    drop(node);
    let mut params = crate::support::fake_node::node_connect_params(SURFACE, json!({"token": "T"}));
    params["client"]["displayName"] = json!("renamed-by-the-node");
    let node = FakeNode::connect_with(gw.port, &key, params, always(Action::Echo))
        .await
        .unwrap_or_else(|e| panic!("node reconnect: {e}"));
    assert_eq!(listed_name(&mut op, &node.node_id).await, name);

    // And across a restart, from the pairing file.
    let mut gw = gw;
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", gw.stderr());
    drop((node, op, reader));
    let gw2 = TestGateway::start_in(
        gw.take_dir(),
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        None,
    );
    let (mut op, _) = WsClient::hello(gw2.port, cli_params("T", ALL_OPERATOR)).await;
    assert_eq!(listed_name(&mut op, &node_id).await, name);
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                todo.push(path);
            } else if meta.is_file() {
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                if String::from_utf8_lossy(&bytes).contains(needle) {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// Our node host pairs with a setup code (`openclaw node run --pair <code>`, no token): the
/// bootstrap token is its only credential, its first surface is approved with the
/// enrollment, `system.which` runs at once; the token is never written to its state dir;
/// restarted with just `--host/--port` it reconnects with the device token it saved; a second
/// node host given the same (used) code exits 1 saying so.
#[actix_web::test]
async fn our_node_host_pairs_with_a_setup_code() {
    use crate::support::{BIN, Background, CLI_TIMEOUT, isolated_command, run_bounded};
    use base64::Engine as _;

    let gw = TestGateway::with_token("T");
    let port = gw.port.to_string();
    let url = format!("ws://127.0.0.1:{port}");
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let res = op
        .request(
            "device.pair.setupCode",
            json!({"publicUrl": url, "bootstrapProfile": "node"}),
        )
        .await;
    assert_eq!(res["ok"], true, "device.pair.setupCode: {res}");
    let code = res["payload"]["setupCode"]
        .as_str()
        .unwrap_or_else(|| panic!("no setupCode: {res}"))
        .to_owned();
    let decoded: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&code)
            .expect("the setup code is base64url"),
    )
    .expect("the setup code is JSON");
    assert_eq!(decoded["url"], url.as_str(), "{decoded}");
    let bootstrap = decoded["bootstrapToken"]
        .as_str()
        .expect("the code carries a bootstrap token")
        .to_owned();

    // The node's device id (its node id) before it connects.
    let home = tempfile::tempdir().expect("node host home");
    let mut ident = isolated_command(BIN, home.path());
    ident.args(["node", "identity", "--json"]);
    let out = run_bounded(ident, CLI_TIMEOUT);
    assert_eq!(out.code, Some(0), "node identity: {out}");
    let node_id = out.json()["deviceId"]
        .as_str()
        .expect("deviceId")
        .to_owned();

    // No OPENCLAW_GATEWAY_TOKEN: the code is the only credential.
    let mut cmd = isolated_command(BIN, home.path());
    cmd.args([
        "node",
        "run",
        "--pair",
        &format!("oc-pair://{code}"),
        "--display-name",
        "it-rs-setup-node",
    ]);
    let mut host = Background::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = op.request("node.list", json!({})).await;
        let node = list["payload"]["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["nodeId"] == node_id.as_str()))
            .cloned();
        if node
            .as_ref()
            .is_some_and(|n| n["connected"] == true && n["approvalState"] != "pending-approval")
        {
            assert_eq!(
                node.as_ref().map(|n| &n["displayName"]),
                Some(&json!("it-rs-setup-node"))
            );
            break;
        }
        if let Some(status) = host.try_status() {
            panic!("node host exited ({status}):\n{}", host.output());
        }
        assert!(
            Instant::now() < deadline,
            "node {node_id} not connected and approved: {list}\nnode host:\n{}",
            host.output()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    crate::support::which_until_ok(&mut op, &node_id, &mut host, "it-rs-setup-which-1").await;
    let pending = op.request("node.pair.list", json!({})).await;
    assert_eq!(pending["payload"]["pending"], json!([]), "{pending}");

    // The device token is saved for the code's URL; the bootstrap token (and the code) is
    // nowhere in the state dir.
    let auth: Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join("node/device-auth.json"))
            .expect("device-auth.json is written"),
    )
    .expect("device-auth.json is JSON");
    assert!(
        auth["tokens"][url.as_str()]["token"]
            .as_str()
            .is_some_and(|t| !t.is_empty() && t != bootstrap),
        "{auth}"
    );
    for secret in [bootstrap.as_str(), code.as_str()] {
        let leaked = files_containing(home.path(), secret);
        assert!(leaked.is_empty(), "the setup code's token is in {leaked:?}");
    }
    assert!(
        !host.output().contains(&bootstrap),
        "the node host printed the bootstrap token:\n{}",
        host.output()
    );

    // Restarted with only --host/--port (no token, no code): it reconnects with the device
    // token.
    host.kill_group();
    let mut cmd = isolated_command(BIN, home.path());
    cmd.args(["node", "run", "--host", "127.0.0.1", "--port", &port]);
    let mut host = Background::spawn(cmd);
    crate::support::which_until_ok(&mut op, &node_id, &mut host, "it-rs-setup-which-2").await;
    host.kill_group();

    // A second node host (a fresh device) with the used code: refused, exit 1, no retry.
    let other = tempfile::tempdir().expect("second node host home");
    let mut cmd = isolated_command(BIN, other.path());
    cmd.args(["node", "run", "--pair", &code]);
    let mut second = Background::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_status() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the second node host keeps running:\n{}",
            second.output()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Some(1), "{}", second.output());
    let output = second.output();
    assert!(output.contains("setup code invalid"), "{output}");
    assert!(output.contains("openclaw qr --node"), "{output}");
    assert!(
        !std::fs::read_to_string(other.path().join("node/device-auth.json"))
            .is_ok_and(|t| t.contains("\"token\"")),
        "no device token for the refused node"
    );
}

/// `exec.approvals.node.get` / `.set` relay `system.execApprovals.get` / `.set` to a node
/// that declares them (no surface approval needed: the admin scope is the approval), answer
/// the node's payload, check the params' shape first, and are the only way to those
/// commands (`node.invoke` refuses them).
#[actix_web::test]
async fn exec_approvals_node_methods_relay_to_the_node_for_admins_only() {
    let gw = TestGateway::with_token("T");
    let snapshot = json!({"path": "/n/exec-approvals.json", "exists": true, "hash": "h1",
        "file": {"version": 1, "agents": {}}});
    let script: crate::support::fake_node::Script = {
        let snapshot = snapshot.clone();
        std::rc::Rc::new(move |req: &Value| {
            if req["command"] == "system.execApprovals.get" {
                Action::Reply(snapshot.clone())
            } else {
                Action::Echo
            }
        })
    };
    let node = FakeNode::connect(
        gw.port,
        &random_key(),
        "T",
        &[
            "system.execApprovals.get",
            "system.execApprovals.set",
            "echo.test",
        ],
        script,
    )
    .await;
    let plain = FakeNode::connect(
        gw.port,
        &random_key(),
        "T",
        &["echo.test"],
        always(Action::Echo),
    )
    .await;
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let id = node.node_id.as_str();

    let res = admin
        .request("exec.approvals.node.get", json!({"nodeId": id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"], snapshot, "{res}");
    let file =
        json!({"version": 1, "agents": {"*": {"allowlist": [{"pattern": "/usr/bin/uname"}]}}});
    let res = admin
        .request(
            "exec.approvals.node.set",
            json!({"nodeId": id, "file": file, "baseHash": "h1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    // The node got the file and the hash as they were sent.
    assert_eq!(
        res["payload"]["command"], "system.execApprovals.set",
        "{res}"
    );
    assert_eq!(
        res["payload"]["echo"],
        json!({"file": file, "baseHash": "h1"}),
        "{res}"
    );
    let native = json!({"defaultAction": "deny", "rules": []});
    let res = admin
        .request(
            "exec.approvals.node.set",
            json!({"nodeId": id, "native": native, "baseHash": "h2"}),
        )
        .await;
    assert_eq!(
        res["payload"]["echo"],
        json!({"defaultAction": "deny", "rules": [], "baseHash": "h2"}),
        "{res}"
    );

    let refused = |res: &Value, want: &str| {
        assert_eq!(res["ok"], false, "{res}");
        let msg = res["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(want), "{want:?} not in {res}");
    };
    for (method, params, want) in [
        (
            "exec.approvals.node.get",
            json!({}),
            "must have required property 'nodeId'",
        ),
        (
            "exec.approvals.node.get",
            json!({"nodeId": " "}),
            "must NOT have fewer than 1 characters",
        ),
        (
            "exec.approvals.node.get",
            json!({"nodeId": id, "x": 1}),
            "unexpected property 'x'",
        ),
        (
            "exec.approvals.node.set",
            json!({"nodeId": id}),
            "must have required property 'file'",
        ),
        (
            "exec.approvals.node.set",
            json!({"nodeId": id, "file": [1]}),
            "at /file: must be object",
        ),
        (
            "exec.approvals.node.set",
            json!({"nodeId": id, "file": {}, "native": {"rules": []}, "baseHash": "h"}),
            "pass file or native, not both",
        ),
        (
            "exec.approvals.node.set",
            json!({"nodeId": id, "native": {"rules": []}}),
            "native needs baseHash",
        ),
        (
            "exec.approvals.node.set",
            json!({"nodeId": id, "native": {"rules": {}}, "baseHash": "h"}),
            "at /native/rules: must be array",
        ),
        (
            "exec.approvals.node.set",
            json!({"nodeId": id, "native": {"rules": [], "x": 1}, "baseHash": "h"}),
            "at /native: unexpected property 'x'",
        ),
        (
            "exec.approvals.node.set",
            json!({"nodeId": id, "file": {}, "baseHash": ""}),
            "at /baseHash: must NOT have fewer than 1 characters",
        ),
        // A node that does not declare the commands, and one that is not connected.
        (
            "exec.approvals.node.get",
            json!({"nodeId": plain.node_id}),
            "does not declare it",
        ),
        (
            "exec.approvals.node.get",
            json!({"nodeId": "no-such-node"}),
            "not connected",
        ),
    ] {
        refused(&admin.request(method, params.clone()).await, want);
    }
    // Only admins: a write-scoped operator is refused for the scope.
    let (mut writer, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.write"]),
    )
    .await;
    let res = writer
        .request("exec.approvals.node.get", json!({"nodeId": id}))
        .await;
    assert_eq!(
        res["error"]["details"]["missingScope"], "operator.admin",
        "{res}"
    );
    // node.invoke never reaches them, even for an admin.
    let res = admin
        .request(
            "node.invoke",
            json!({"nodeId": id, "command": "system.execApprovals.get", "params": {},
                   "idempotencyKey": "ea-1", "timeoutMs": 5000}),
        )
        .await;
    refused(&res, "use exec.approvals.node.*");
    // The node saw three relayed calls and nothing else.
    let seen = node.commands_seen();
    assert_eq!(
        seen,
        [
            "system.execApprovals.get",
            "system.execApprovals.set",
            "system.execApprovals.set"
        ],
        "{seen:?}"
    );
}

/// A node that answers `NODE_NOT_READY` (an app between background and foreground; it did
/// not start the command) is asked again after 100, 250, 500 and 1000 ms, inside the call's
/// own deadline and with the same idempotency key; the caller sees the answer of the first
/// ready attempt. Four refusals in a row give up with the node's error, a deadline too short
/// for the next wait is a timeout, nothing not-ready is cached under the key, and a call
/// whose params are too big to keep for a retry is not retried.
#[actix_web::test]
async fn a_node_that_is_not_ready_is_asked_again_within_the_deadline() {
    use std::cell::Cell;
    use std::rc::Rc;
    let not_ready = || Action::Error {
        code: "NODE_NOT_READY".into(),
        message: "app is in the background".into(),
    };
    // The first two attempts of each call are refused.
    let seen = Rc::new(Cell::new(0usize));
    let script: Script = {
        let seen = seen.clone();
        let refused = not_ready();
        Rc::new(move |req: &Value| {
            let n = seen.get();
            seen.set(n + 1);
            if req["command"] == "system.which" || n % 3 < 2 {
                refused.clone()
            } else {
                Action::Echo
            }
        })
    };
    let (_gw, mut op, node) = setup(script).await;
    let res = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({"x": "ü🦀"}), "k-ready"),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"]["payload"]["echo"],
        json!({"x": "ü🦀"}),
        "{res}"
    );
    let reqs = node.requests.borrow().clone();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    // The same call each time, under a fresh invoke id, the deadline counting down.
    assert!(
        reqs.iter()
            .all(|r| r["idempotencyKey"] == "k-ready" && r["paramsJSON"] == reqs[0]["paramsJSON"])
    );
    let ids: std::collections::HashSet<_> = reqs.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(reqs[0]["timeoutMs"], 5000);
    let later = reqs[2]["timeoutMs"].as_u64().unwrap_or(u64::MAX);
    assert!(later < 5000 - 300, "{}", reqs[2]);

    // Never ready: four retries, then the node's own error.
    node.requests.borrow_mut().clear();
    let res = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "system.which", json!({}), "k-never"),
        )
        .await;
    let err = error_of(&res);
    assert_eq!(
        err["details"]["nodeError"]["code"], "NODE_NOT_READY",
        "{res}"
    );
    assert_eq!(node.requests.borrow().len(), 5);
    // Not cached: the same key asks the node again.
    node.requests.borrow_mut().clear();
    let res = op
        .request(
            "node.invoke",
            json!({"nodeId": node.node_id, "command": "system.which", "params": {},
                "timeoutMs": 400, "idempotencyKey": "k-never"}),
        )
        .await;
    // 400 ms leave room for the 100 and 250 ms waits, not for the 500 ms one.
    assert_eq!(
        error_of(&res)["details"]["nodeError"]["code"],
        "TIMEOUT",
        "{res}"
    );
    assert_eq!(node.requests.borrow().len(), 3);
    // A call too big to keep a copy of for a retry gets the node's answer as it is.
    node.requests.borrow_mut().clear();
    let big = "ü".repeat(150 * 1024);
    let res = op
        .request(
            "node.invoke",
            invoke_params(&node.node_id, "system.which", json!({"blob": big}), "k-big"),
        )
        .await;
    assert_eq!(
        error_of(&res)["details"]["nodeError"]["code"],
        "NODE_NOT_READY",
        "{}",
        &res.to_string()[..200.min(res.to_string().len())]
    );
    assert_eq!(node.requests.borrow().len(), 1);
}

/// After `node.invoke.progress` the command has started: a `NODE_NOT_READY` then is
/// `UNAVAILABLE`, not a reason to run it again.
#[actix_web::test]
async fn not_ready_after_progress_is_not_retried() {
    let (_gw, mut op, mut node) = setup(always(Action::Never)).await;
    let id = op
        .send_request(
            "node.invoke",
            invoke_params(&node.node_id, "echo.test", json!({}), "k-progress"),
        )
        .await;
    let req = node
        .event_within("node.invoke.request", Duration::from_secs(5))
        .await;
    let invoke_id = req["payload"]["id"].as_str().unwrap_or_default().to_owned();
    let ack = node
        .request(
            "node.invoke.progress",
            json!({"invokeId": invoke_id, "nodeId": node.node_id, "seq": 0, "chunk": "working"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let ack = node
        .request(
            "node.invoke.result",
            json!({"id": invoke_id, "nodeId": node.node_id, "ok": false,
                "error": {"code": "NODE_NOT_READY", "message": "too late"}}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let res = op.response_within(&id, Duration::from_secs(5)).await;
    let err = error_of(&res);
    assert_eq!(err["details"]["nodeError"]["code"], "UNAVAILABLE", "{res}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("not-ready after invocation progress")),
        "{res}"
    );
    assert_eq!(node.requests.borrow().len(), 1);
}

/// An iOS app in the background refuses a camera call (`NODE_BACKGROUND_UNAVAILABLE`): the
/// operator's call is queued (`QUEUED_UNTIL_FOREGROUND`, one per idempotency key) and the
/// app, back in the foreground, pulls and acks it. Work items (`node.pending.enqueue` /
/// `drain`) queue one per type, highest priority first, with the baseline status request.
/// Only the node itself pulls; removing its pairing drops what waited for it.
#[actix_web::test]
async fn an_ios_node_in_the_background_takes_queued_camera_calls_when_it_returns() {
    use crate::support::fake_node::node_connect_params;
    use std::rc::Rc;
    let gw = TestGateway::with_token("T");
    let key = random_key();
    let mut params = node_connect_params(&["camera.snap", "echo.test"], json!({"token": "T"}));
    params["client"]["platform"] = json!("iOS 18.2");
    params["client"]["deviceFamily"] = json!("iPhone");
    params["caps"] = json!(["camera"]);
    let script: Script = Rc::new(|req: &Value| {
        if req["command"] == "camera.snap" {
            Action::Error {
                code: "NODE_BACKGROUND_UNAVAILABLE".into(),
                message: "the app is in the background".into(),
            }
        } else {
            Action::Echo
        }
    });
    let node = FakeNode::connect_with(gw.port, &key, params, script)
        .await
        .unwrap_or_else(|e| panic!("iOS node handshake: {e}"));
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    approve_surface(&mut op, &node.node_id).await;

    let invoke = |key: &str| {
        json!({"nodeId": node.node_id, "command": "camera.snap",
            "params": {"facing": "front"}, "idempotencyKey": key})
    };
    let first = op.request("node.invoke", invoke("snap-1")).await;
    assert_eq!(first["ok"], false, "{first}");
    let err = &first["error"];
    assert_eq!(err["code"], "UNAVAILABLE", "{first}");
    assert_eq!(err["retryable"], true, "{first}");
    assert_eq!(err["details"]["code"], "QUEUED_UNTIL_FOREGROUND", "{first}");
    assert_eq!(err["details"]["command"], "camera.snap", "{first}");
    assert_eq!(
        err["details"]["nodeError"]["code"],
        "NODE_BACKGROUND_UNAVAILABLE"
    );
    assert_eq!(
        err["details"]["wake"]["available"], false,
        "no APNs relay here"
    );
    let a = err["details"]["queuedActionId"]
        .as_str()
        .expect("id")
        .to_owned();
    // The same key: the same action.
    let again = op.request("node.invoke", invoke("snap-1")).await;
    assert_eq!(
        again["error"]["details"]["queuedActionId"],
        a.as_str(),
        "{again}"
    );
    let second = op.request("node.invoke", invoke("snap-2")).await;
    let b = second["error"]["details"]["queuedActionId"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(a, b);
    // A command the app runs in the background is answered as usual.
    let echo = op
        .request(
            "node.invoke",
            json!({"nodeId": node.node_id, "command": "echo.test", "params": {}, "idempotencyKey": "e1"}),
        )
        .await;
    assert_eq!(echo["ok"], true, "{echo}");

    // Back in the foreground: the app takes them, in order, and acks one.
    let pulled = node.request("node.pending.pull", json!({})).await;
    assert_eq!(pulled["ok"], true, "{pulled}");
    let actions = pulled["payload"]["actions"]
        .as_array()
        .expect("actions")
        .clone();
    let ids: Vec<&str> = actions.iter().filter_map(|x| x["id"].as_str()).collect();
    assert_eq!(ids, [a.as_str(), b.as_str()], "{pulled}");
    assert_eq!(actions[0]["command"], "camera.snap");
    assert_eq!(actions[0]["paramsJSON"], r#"{"facing":"front"}"#);
    assert!(actions[0]["enqueuedAtMs"].as_u64().is_some(), "{pulled}");
    let ack = node
        .request("node.pending.ack", json!({"ids": [a, a, " "]}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["payload"]["ackedIds"], json!([a]), "{ack}");
    assert_eq!(ack["payload"]["remainingCount"], 1, "{ack}");
    let pulled = node.request("node.pending.pull", json!({})).await;
    assert_eq!(
        pulled["payload"]["actions"][0]["id"],
        b.as_str(),
        "{pulled}"
    );
    assert_eq!(
        pulled["payload"]["actions"].as_array().map(Vec::len),
        Some(1)
    );

    // Work items: one per type, high first, then the baseline status request.
    let enq = |kind: &str, priority: &str| json!({"nodeId": node.node_id, "type": kind, "priority": priority});
    let q1 = op
        .request("node.pending.enqueue", enq("status.request", "normal"))
        .await;
    assert_eq!(q1["ok"], true, "{q1}");
    assert_eq!(q1["payload"]["wakeTriggered"], false, "{q1}");
    let q2 = op
        .request("node.pending.enqueue", enq("location.request", "high"))
        .await;
    let dup = op
        .request("node.pending.enqueue", enq("location.request", "normal"))
        .await;
    assert_eq!(
        dup["payload"]["queued"]["id"], q2["payload"]["queued"]["id"],
        "{dup}"
    );
    let drained = node
        .request("node.pending.drain", json!({"maxItems": 1}))
        .await;
    assert_eq!(drained["ok"], true, "{drained}");
    assert_eq!(
        drained["payload"]["items"][0]["type"], "location.request",
        "{drained}"
    );
    assert_eq!(drained["payload"]["hasMore"], true, "{drained}");
    let drained = node.request("node.pending.drain", json!({})).await;
    let items = drained["payload"]["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(items.len(), 1, "{drained}");
    assert_eq!(items[0]["id"], q1["payload"]["queued"]["id"], "{drained}");
    assert_eq!(drained["payload"]["hasMore"], false, "{drained}");
    // Nothing queued: the baseline.
    let drained = node.request("node.pending.drain", json!({})).await;
    assert_eq!(
        drained["payload"]["items"][0]["id"], "baseline-status",
        "{drained}"
    );

    // Bad input: clear errors, nothing changes.
    for (who_node, method, p) in [
        (
            false,
            "node.pending.enqueue",
            json!({"nodeId": node.node_id, "type": "reboot"}),
        ),
        (
            false,
            "node.pending.enqueue",
            json!({"nodeId": node.node_id, "type": "status.request", "expiresInMs": 5}),
        ),
        (
            false,
            "node.pending.enqueue",
            json!({"nodeId": node.node_id, "type": "status.request", "extra": 1}),
        ),
        (true, "node.pending.drain", json!({"maxItems": 11})),
        (true, "node.pending.ack", json!({"ids": []})),
        (true, "node.pending.ack", json!({"ids": "x"})),
        (true, "node.pending.pull", json!({"x": 1})),
    ] {
        let res = if who_node {
            node.request(method, p.clone()).await
        } else {
            op.request(method, p.clone()).await
        };
        assert_eq!(res["ok"], false, "{method} {p}: {res}");
        assert_eq!(
            res["error"]["code"], "INVALID_REQUEST",
            "{method} {p}: {res}"
        );
    }
    // Node-only methods are the node's; an unpaired node id has no queue.
    let res = op.request("node.pending.pull", json!({})).await;
    assert_eq!(res["ok"], false, "{res}");
    let res = op
        .request(
            "node.pending.enqueue",
            json!({"nodeId": "nobody", "type": "status.request"}),
        )
        .await;
    assert_eq!(res["error"]["details"]["code"], "PAIRING_CHANGED", "{res}");

    // Unpaired: what waited is dropped, and the node may no longer pull.
    let removed = op
        .request("node.pair.remove", json!({"nodeId": node.node_id}))
        .await;
    assert_eq!(removed["ok"], true, "{removed}");
    let res = node.request("node.pending.pull", json!({})).await;
    assert_eq!(res["error"]["details"]["code"], "PAIRING_CHANGED", "{res}");
}
