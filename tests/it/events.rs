//! Broadcast events: `tick` and `presence`, and the `system-presence` method.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestGateway, WsClient, cli_params, connect_params};

#[actix_web::test]
async fn ticks_arrive_with_increasing_seq() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[("OPENCLAW_TICK_INTERVAL_MS", "200")],
        None,
    );
    let (mut c, hello) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    assert_eq!(
        hello["policy"]["tickIntervalMs"], 200,
        "{}",
        hello["policy"]
    );

    let first = c.event_within("tick", Duration::from_secs(5)).await;
    let second = c.event_within("tick", Duration::from_secs(5)).await;
    let seq1 = first["seq"].as_u64().expect("tick has a numeric seq");
    let seq2 = second["seq"].as_u64().expect("tick has a numeric seq");
    assert!(seq2 > seq1, "seq increases: {first} then {second}");
    let ts1 = first["payload"]["ts"].as_u64().expect("tick payload.ts");
    let ts2 = second["payload"]["ts"].as_u64().expect("tick payload.ts");
    assert!(ts2 >= ts1, "tick ts does not go back: {ts1} then {ts2}");
}

fn instance_ids(presence_event: &Value) -> Vec<String> {
    presence_event["payload"]["presence"]
        .as_array()
        .unwrap_or_else(|| panic!("presence payload has an array: {presence_event}"))
        .iter()
        .filter_map(|e| e["instanceId"].as_str().map(str::to_owned))
        .collect()
}

#[actix_web::test]
async fn presence_follows_connects_and_disconnects() {
    let gw = TestGateway::with_token("T");
    let (mut a, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;

    let list = a.request("system-presence", json!({})).await;
    assert_eq!(list["ok"], true, "{list}");
    let entries = list["payload"]
        .as_array()
        .expect("system-presence is an array");
    assert_eq!(
        entries[0]["mode"], "gateway",
        "first entry is the gateway: {list}"
    );

    // A tracked client (OpenClaw lists no `cli`, `backend` or `probe` connection in presence).
    let mut b_params = connect_params("test", "test", &[], json!({"token": "T"}));
    b_params["client"]["instanceId"] = json!("it-presence-b");
    let (mut b, _) = WsClient::hello(gw.port, b_params).await;

    let joined = a.event_within("presence", Duration::from_secs(5)).await;
    assert!(joined["seq"].is_u64(), "presence carries seq: {joined}");
    let v1 = joined["stateVersion"]["presence"]
        .as_u64()
        .unwrap_or_else(|| panic!("presence carries stateVersion.presence: {joined}"));
    assert!(
        instance_ids(&joined).iter().any(|i| i == "it-presence-b"),
        "B is present: {joined}"
    );

    b.close().await;
    let left = a.event_within("presence", Duration::from_secs(5)).await;
    let v2 = left["stateVersion"]["presence"]
        .as_u64()
        .unwrap_or_else(|| panic!("presence carries stateVersion.presence: {left}"));
    assert!(v2 > v1, "stateVersion.presence increases: {v1} then {v2}");
    assert!(
        left["seq"].as_u64() > joined["seq"].as_u64(),
        "seq increases: {joined} then {left}"
    );
    assert!(
        !instance_ids(&left).iter().any(|i| i == "it-presence-b"),
        "B is gone: {left}"
    );

    let list = a.request("system-presence", json!({})).await;
    let entries = list["payload"]
        .as_array()
        .expect("system-presence is an array");
    assert_eq!(entries[0]["mode"], "gateway", "{list}");
    assert!(
        !entries.iter().any(|e| e["instanceId"] == "it-presence-b"),
        "B is gone from system-presence: {list}"
    );
}
