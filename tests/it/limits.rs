//! Abuse limits and client attribution: auth lockout, the handshake deadline, the per-IP
//! cap on unauthenticated sockets, and `X-Forwarded-For` handling.

use serde_json::{Value, json};

use crate::support::{
    TestGateway, WAIT, WsClient, cli_params, connect_params, error_of, golden_case, raw_upgrade,
    retry_until,
};

#[actix_web::test]
async fn lockout_after_max_attempts_refuses_even_the_right_token() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(
            r#"{gateway: {auth: {token: "T", rateLimit: {exemptLoopback: false, maxAttempts: 3}}}}"#,
        ),
    );
    let wrong = golden_case("wrong_token");
    for attempt in 1..=3 {
        let (mut c, _) = WsClient::open_challenged(gw.port).await;
        c.send_request("connect", cli_params("WRONG", &["operator.read"]))
            .await;
        let (code, _, before) = c.until_close().await;
        assert_eq!(code, Some(1008), "attempt {attempt}");
        assert_eq!(error_of(&before[0]), &wrong["error"], "attempt {attempt}");
    }
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    c.send_request("connect", cli_params("T", &["operator.read"]))
        .await;
    let (code, _, before) = c.until_close().await;
    assert_eq!(code, Some(1008));
    let err = error_of(&before[0]);
    assert_eq!(err["code"], "INVALID_REQUEST", "{err}");
    assert_eq!(err["details"]["code"], "AUTH_RATE_LIMITED", "{err}");
    assert_eq!(err["retryable"], true, "{err}");
    let retry = err["retryAfterMs"]
        .as_u64()
        .expect("retryAfterMs is a number");
    assert!(retry > 0, "{err}");
}

#[actix_web::test]
async fn silent_socket_is_closed_at_the_handshake_deadline() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[("OPENCLAW_HANDSHAKE_TIMEOUT_MS", "300")],
        None,
    );
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    let (code, reason, before) = c.until_close().await;
    let golden = golden_case("handshake_timeout");
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(code.map(u64::from), golden["close"]["code"].as_u64());
    assert_eq!(reason, golden["close"]["reason"]);
}

#[actix_web::test]
async fn thirty_third_unauthenticated_socket_gets_503() {
    let gw = TestGateway::with_token("T");
    let mut idle = Vec::new();
    for _ in 0..32 {
        let (c, _) = WsClient::open_challenged(gw.port).await;
        idle.push(c);
    }
    let golden = golden_case("preauth_flood");
    let resp = raw_upgrade(gw.port, &[]);
    assert_eq!(u64::from(resp.status), golden["status"], "{resp:?}");
    assert_eq!(resp.body, golden["body"], "{resp:?}");
    assert!(
        resp.headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{resp:?}"
    );

    // Closing one idle socket frees its slot.
    let mut first = idle.remove(0);
    first.close().await;
    let (code, _, _) = first.until_close().await;
    assert_eq!(code, Some(1000));
    let status = retry_until(WAIT, "a freed pre-auth slot", || {
        let r = raw_upgrade(gw.port, &[]);
        (r.status == 101).then_some(r.status)
    });
    assert_eq!(status, 101);
}

#[actix_web::test]
async fn forwarded_header_from_untrusted_peer_is_refused() {
    let gw = TestGateway::with_token("T");
    let resp = raw_upgrade(gw.port, &[("X-Forwarded-For", "203.0.113.9")]);
    let golden = golden_case("proxy_attribution_required");
    assert_eq!(u64::from(resp.status), golden["status"], "{resp:?}");
    let body: Value = serde_json::from_str(&resp.body)
        .unwrap_or_else(|e| panic!("403 body is JSON ({e}): {resp:?}"));
    assert_eq!(body, golden["body"]);
    assert_eq!(body["error"]["type"], "proxy_attribution_required");
    assert!(
        resp.headers
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{resp:?}"
    );
}

#[actix_web::test]
async fn client_behind_trusted_proxy_is_remote_and_loses_scopes() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    // Control: the same client without the header keeps its scopes.
    let (mut local, hello) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
    assert_eq!(local.request("status", json!({})).await["ok"], true);

    let mut c = WsClient::open_with(gw.port, &[("X-Forwarded-For", "203.0.113.9")])
        .await
        .expect("upgrade through a trusted proxy is accepted");
    c.challenge().await;
    let res = c.connect(cli_params("T", &["operator.read"])).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["scopes"], json!([]), "{res}");
    let status = c.request("status", json!({})).await;
    assert_eq!(
        error_of(&status),
        &golden_case("remote_nodevice_cli")["error"]
    );

    // The presence entry carries the forwarded client address (of a client listed in
    // presence: OpenClaw lists no `cli` connection).
    let mut listed = WsClient::open_with(gw.port, &[("X-Forwarded-For", "203.0.113.9")])
        .await
        .expect("upgrade through a trusted proxy is accepted");
    listed.challenge().await;
    let res = listed
        .connect(connect_params("test", "test", &[], json!({"token": "T"})))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let list = local.request("system-presence", json!({})).await;
    let ips: Vec<&str> = list["payload"]
        .as_array()
        .expect("system-presence is an array")
        .iter()
        .filter_map(|e| e["ip"].as_str())
        .collect();
    assert!(ips.contains(&"203.0.113.9"), "{list}");
}
