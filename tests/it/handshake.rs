//! The connect handshake and the request errors, compared with the golden frames of the
//! reference gateway (tests/fixtures/golden/handshake-errors.json).

use serde_json::{Value, json};

use crate::support::{
    TestGateway, WsClient, cli_params, connect_params, error_of, golden_case, now_ms,
};

/// Checks what a rejected first frame produced against a golden scenario: the `res` error
/// (or no frame at all) and the close code and reason.
fn assert_golden_rejection(case: &str, code: Option<u16>, reason: &str, before: &[Value]) {
    let g = golden_case(case);
    if g["error"].is_null() {
        assert!(
            before.is_empty(),
            "{case}: expected no frame before close, got {before:?}"
        );
    } else {
        assert_eq!(
            before.len(),
            1,
            "{case}: expected one res before close: {before:?}"
        );
        assert_eq!(error_of(&before[0]), &g["error"], "{case}: error object");
    }
    let want_code = g["close"]["code"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok());
    assert_eq!(code, want_code, "{case}: close code");
    assert_eq!(reason, g["close"]["reason"], "{case}: close reason");
}

/// Sends `frame` as the first request after the challenge and collects the close.
async fn reject_connect(gw: &TestGateway, params: Value) -> (Option<u16>, String, Vec<Value>) {
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    c.send_request("connect", params).await;
    c.until_close().await
}

#[actix_web::test]
async fn token_handshake_matches_reference_hello() {
    let gw = TestGateway::with_token("T");
    let (mut c, challenge) = WsClient::open_challenged(gw.port).await;

    // {type:event, event:connect.challenge, payload:{nonce, ts}} and no seq.
    let nonce = challenge["payload"]["nonce"]
        .as_str()
        .expect("challenge nonce is a string");
    assert_eq!(nonce.len(), 36, "nonce is a UUID: {challenge}");
    let ts = challenge["payload"]["ts"]
        .as_u64()
        .expect("challenge ts is a number");
    assert!(
        ts.abs_diff(now_ms()) < 60_000,
        "challenge ts is the server clock: {ts}"
    );
    assert!(
        challenge.get("seq").is_none(),
        "challenge carries no seq: {challenge}"
    );

    let res = c.connect(cli_params("T", &["operator.read"])).await;
    assert_eq!(res["ok"], true, "{res}");
    let hello = &res["payload"];
    let golden = golden_case("hello_ok");
    assert_eq!(hello["type"], golden["type"]);
    assert_eq!(hello["protocol"], golden["protocol"]);
    for key in ["maxPayload", "maxBufferedBytes", "tickIntervalMs"] {
        assert_eq!(hello["policy"][key], golden["policy"][key], "policy.{key}");
    }
    // A loopback cli/cli client keeps its scopes.
    assert_eq!(hello["auth"], golden["auth"], "hello auth");
    let methods: Vec<&str> = hello["features"]["methods"]
        .as_array()
        .expect("features.methods is an array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for m in ["health", "status", "system-presence"] {
        assert!(
            methods.contains(&m),
            "features.methods lacks {m}: {methods:?}"
        );
    }
    assert!(hello["server"]["connId"].is_string(), "{hello}");

    let status = c.request("status", json!({})).await;
    assert_eq!(status["ok"], true, "cli/cli keeps operator.read: {status}");
    assert_eq!(status["payload"]["gateway"]["port"], gw.port);
    // The default model and its window, as `sessions.list` and `chat.history` give them.
    let defaults =
        json!({"modelProvider": "embedded", "model": "commands", "contextTokens": 200_000});
    assert_eq!(
        status["payload"]["sessions"]["defaults"], defaults,
        "{status}"
    );
    let list = c.request("sessions.list", json!({})).await;
    assert_eq!(list["payload"]["defaults"], defaults, "{list}");
    let history = c
        .request("chat.history", json!({"sessionKey": "main"}))
        .await;
    assert_eq!(history["payload"]["defaults"], defaults, "{history}");
    let health = c.request("health", json!({})).await;
    assert_eq!(health["payload"]["ok"], true, "{health}");
}

#[actix_web::test]
async fn password_handshake() {
    let gw = TestGateway::start(
        &[
            "gateway",
            "run",
            "--port",
            "0",
            "--auth",
            "password",
            "--password",
            "P",
        ],
        &[],
        None,
    );
    let params = connect_params("cli", "cli", &["operator.read"], json!({"password": "P"}));
    let (mut c, hello) = WsClient::hello(gw.port, params).await;
    assert_eq!(hello["protocol"], 4);
    assert_eq!(
        hello["auth"],
        json!({"method": "password", "role": "operator", "scopes": ["operator.read"]})
    );
    let status = c.request("status", json!({})).await;
    assert_eq!(status["ok"], true, "{status}");

    // The token is not the password.
    let params = connect_params(
        "cli",
        "cli",
        &["operator.read"],
        json!({"password": "nope"}),
    );
    let (code, _reason, before) = reject_connect(&gw, params).await;
    assert_eq!(code, Some(1008));
    assert_eq!(
        error_of(&before[0])["details"]["code"],
        "AUTH_PASSWORD_MISMATCH",
        "{before:?}"
    );
}

#[actix_web::test]
async fn test_client_without_device_loses_scopes_but_keeps_health() {
    let gw = TestGateway::with_token("T");
    let params = connect_params("test", "test", &["operator.read"], json!({"token": "T"}));
    let (mut c, hello) = WsClient::hello(gw.port, params).await;
    assert_eq!(hello["auth"]["scopes"], json!([]), "{hello}");
    let status = c.request("status", json!({})).await;
    let golden = golden_case("nodevice_test_client");
    assert_eq!(error_of(&status), &golden["error"]);
    assert_eq!(status["error"]["details"]["code"], "MISSING_SCOPE");
    let health = c.request("health", json!({})).await;
    assert_eq!(health["ok"], true, "health needs no scope: {health}");
}

// --- bad first frames ---

#[actix_web::test]
async fn bad_json_first_frame_closes_1000() {
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    c.send_text("this is {not json").await;
    let (code, reason, before) = c.until_close().await;
    assert_golden_rejection("bad_json", code, &reason, &before);
}

#[actix_web::test]
async fn binary_first_frame_closes_1000() {
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    c.send_binary(b"\x00\x01binary".to_vec()).await;
    let (code, reason, before) = c.until_close().await;
    assert_golden_rejection("binary_frame", code, &reason, &before);
}

#[actix_web::test]
async fn oversized_first_frame_closes_1009() {
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    let big = format!(
        r#"{{"type":"req","id":"x","method":"connect","pad":"{}"}}"#,
        "a".repeat(70_000)
    );
    assert!(big.len() > 64 * 1024);
    c.send_text(big).await;
    let (code, reason, before) = c.until_close().await;
    assert_golden_rejection("oversized_preauth", code, &reason, &before);
}

#[actix_web::test]
async fn event_frame_first_closes_1008() {
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    c.send_json(&json!({"type": "event", "event": "hello", "payload": {}}))
        .await;
    let (code, reason, before) = c.until_close().await;
    assert_golden_rejection("first_event_frame", code, &reason, &before);
}

#[actix_web::test]
async fn health_before_connect_is_rejected() {
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    let id = c.send_request("health", json!({})).await;
    let (code, reason, before) = c.until_close().await;
    assert_golden_rejection("first_not_connect", code, &reason, &before);
    assert_eq!(
        before[0]["id"],
        id.as_str(),
        "the error answers our request id"
    );
}

#[actix_web::test]
async fn unknown_client_id_is_rejected() {
    let gw = TestGateway::with_token("T");
    let params = connect_params("nope", "cli", &[], json!({"token": "T"}));
    let (code, reason, before) = reject_connect(&gw, params).await;
    assert_golden_rejection("bad_client_id", code, &reason, &before);
}

#[actix_web::test]
async fn extra_root_key_is_rejected() {
    let gw = TestGateway::with_token("T");
    let mut params = cli_params("T", &["operator.read"]);
    params["bogus"] = json!(true);
    let (code, reason, before) = reject_connect(&gw, params).await;
    assert_golden_rejection("extra_param", code, &reason, &before);
}

#[actix_web::test]
async fn protocol_too_new_is_rejected() {
    let gw = TestGateway::with_token("T");
    let mut params = cli_params("T", &["operator.read"]);
    params["minProtocol"] = json!(5);
    params["maxProtocol"] = json!(5);
    let (code, reason, before) = reject_connect(&gw, params).await;
    assert_golden_rejection("protocol_too_new", code, &reason, &before);
}

#[actix_web::test]
async fn protocol_too_old_for_operator_is_rejected() {
    let gw = TestGateway::with_token("T");
    let mut params = cli_params("T", &["operator.read"]);
    params["minProtocol"] = json!(3);
    params["maxProtocol"] = json!(3);
    let (code, reason, before) = reject_connect(&gw, params).await;
    assert_golden_rejection("protocol_too_old", code, &reason, &before);
}

#[actix_web::test]
async fn protocol_range_3_to_9_is_accepted_as_4() {
    let gw = TestGateway::with_token("T");
    let mut params = cli_params("T", &["operator.read"]);
    params["minProtocol"] = json!(3);
    params["maxProtocol"] = json!(9);
    let (_c, hello) = WsClient::hello(gw.port, params).await;
    assert_eq!(hello["protocol"], 4);
}

#[actix_web::test]
async fn wrong_token_is_rejected_after_a_growing_delay() {
    let gw = TestGateway::with_token("T");
    // A loopback CLI is exempt from lockout but each failure is answered later than the one
    // before (250 ms, 500 ms, 1 s, 2 s). We measure the delays and check their order, not
    // their values.
    let mut delays = Vec::new();
    for _ in 0..4 {
        let (mut c, _) = WsClient::open_challenged(gw.port).await;
        let sent = std::time::Instant::now();
        c.send_request("connect", cli_params("WRONG", &["operator.read"]))
            .await;
        let (code, reason, before) = c.until_close().await;
        delays.push(sent.elapsed());
        assert_golden_rejection("wrong_token", code, &reason, &before);
    }
    assert!(
        delays.windows(2).all(|w| w[0] <= w[1]),
        "each failure waits at least as long as the one before: {delays:?}"
    );
    assert!(
        delays[3] > delays[0],
        "the fourth failure waits longer than the first: {delays:?}"
    );
    // Still not locked out: the right token works.
    let (_c, hello) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
}

#[actix_web::test]
async fn no_auth_and_no_device_needs_device_identity() {
    let gw = TestGateway::with_token("T");
    let params = connect_params("cli", "cli", &["operator.read"], Value::Null);
    let (code, reason, before) = reject_connect(&gw, params).await;
    assert_golden_rejection("missing_token", code, &reason, &before);
}

#[actix_web::test]
async fn empty_token_counts_as_no_auth() {
    let gw = TestGateway::with_token("T");
    let params = connect_params("cli", "cli", &["operator.read"], json!({"token": ""}));
    let (code, reason, before) = reject_connect(&gw, params).await;
    assert_golden_rejection("empty_token", code, &reason, &before);
}

#[actix_web::test]
async fn node_role_without_device_needs_device_identity() {
    let gw = TestGateway::with_token("T");
    let mut params = connect_params("node-host", "node", &[], json!({"token": "T"}));
    params["role"] = json!("node");
    let (code, reason, before) = reject_connect(&gw, params).await;
    assert_golden_rejection("node_nodevice", code, &reason, &before);
}

// --- errors after hello ---

const ADMIN: &[&str] = &["operator.read", "operator.write", "operator.admin"];

#[actix_web::test]
async fn admin_connection_errors_match_reference() {
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::hello(gw.port, cli_params("T", ADMIN)).await;
    let res = c.request("no.such.method", json!({})).await;
    assert_eq!(
        error_of(&res),
        &golden_case("admin_unknown_method")["error"]
    );
    let res = c.connect(cli_params("T", &["operator.read"])).await;
    assert_eq!(
        error_of(&res),
        &golden_case("admin_second_connect")["error"]
    );
    // Still open and answering.
    let res = c.request("health", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
}

#[actix_web::test]
async fn read_only_connection_errors_match_reference() {
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    let res = c.request("no.such.method", json!({})).await;
    assert_eq!(error_of(&res), &golden_case("read_unknown_method")["error"]);
    let res = c.connect(cli_params("T", &["operator.read"])).await;
    assert_eq!(error_of(&res), &golden_case("read_second_connect")["error"]);

    // A req without id is answered with id "invalid".
    c.send_json(&json!({"type": "req", "method": "health"}))
        .await;
    let res = c.response("invalid").await;
    let golden = golden_case("req_without_id");
    assert_eq!(res["id"], golden["id"]);
    assert_eq!(error_of(&res), &golden["error"]);

    // Invalid JSON after hello is ignored: the next request is still answered.
    c.send_text("{not json").await;
    let res = c.request("health", json!({})).await;
    assert_eq!(res["ok"], true, "connection survives invalid JSON: {res}");
    assert!(
        c.backlog.is_empty(),
        "nothing answered the invalid JSON: {:?}",
        c.backlog
    );
}

#[actix_web::test]
async fn bad_health_params_are_rejected() {
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    let res = c.request("health", json!({"probe": "x"})).await;
    assert_eq!(
        error_of(&res),
        &json!({"code": "INVALID_REQUEST", "message": "invalid health params: at /probe: must be boolean"})
    );
    let res = c.request("health", json!({"probe": true})).await;
    assert_eq!(res["ok"], true, "{res}");
}
