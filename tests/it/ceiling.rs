//! The memory ceiling (`gateway.limits.maxConnections`, `gateway.limits.maxConnectionsPerIp`):
//! under a flood the gateway refuses further WebSocket upgrades with HTTP 503, a JSON body
//! naming the limit and `Connection: close` — and closes the refused socket — instead of
//! holding every socket; the sockets it holds keep working, and a freed slot is reused.

use std::io::Read as _;

use serde_json::{Value, json};

use crate::support::{
    CliHome, TestGateway, WAIT, WsClient, cli_params, raw_upgrade, raw_upgrade_keep, retry_until,
};

/// A raw upgrade's status line code, header block and body; the socket is read to its end
/// when the answer is not 101, and `closed` says whether the gateway closed it.
struct Refusal {
    status: u16,
    headers: String,
    body: Value,
    closed: bool,
}

fn upgrade_raw(port: u16, headers: &[(&str, &str)]) -> Refusal {
    let (mut s, r) = raw_upgrade_keep(port, headers);
    let mut closed = false;
    if r.status != 101 {
        // Read to EOF: a refused socket must be closed by the gateway (bounded by WAIT).
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    Refusal {
        status: r.status,
        headers: r.headers.to_ascii_lowercase(),
        body: serde_json::from_str(&r.body).unwrap_or(Value::String(r.body)),
        closed,
    }
}

#[actix_web::test]
async fn a_flood_beyond_max_connections_is_refused_with_503_and_closed() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, limits: {maxConnections: 8}}}"#),
    );
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(
            WsClient::hello(gw.port, cli_params("T", &["operator.read"]))
                .await
                .0,
        );
    }
    let flood = 200;
    let mut refused = 0;
    for i in 0..flood {
        let r = upgrade_raw(gw.port, &[]);
        assert_eq!(r.status, 503, "attempt {i}: {:?} {}", r.headers, r.body);
        assert_eq!(
            r.body["error"]["type"], "too_many_connections",
            "{}",
            r.body
        );
        let msg = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains("maximum of 8 connections (gateway.limits.maxConnections)"),
            "{msg}"
        );
        assert!(r.headers.contains("connection: close"), "{}", r.headers);
        assert!(r.headers.contains("retry-after: 5"), "{}", r.headers);
        assert!(r.closed, "attempt {i}: the refused socket was left open");
        refused += 1;
    }
    println!(
        "ceiling: maxConnections 8: 8 held, {refused} of {flood} further upgrades refused with 503 and closed"
    );
    // The held ones are unaffected.
    for c in &mut held {
        let res = c.request("health", json!({})).await;
        assert_eq!(res["ok"], true, "{res}");
    }
    // A closed socket frees its slot.
    let mut first = held.remove(0);
    first.close().await;
    let (code, _, _) = first.until_close().await;
    assert_eq!(code, Some(1000));
    let status = retry_until(WAIT, "a freed connection slot", || {
        let r = raw_upgrade(gw.port, &[]);
        (r.status == 101).then_some(r.status)
    });
    assert_eq!(status, 101);
}

#[actix_web::test]
async fn one_address_is_capped_by_max_connections_per_ip_others_are_not() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(
            r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"],
                limits: {maxConnections: 100, maxConnectionsPerIp: 3}}}"#,
        ),
    );
    let a = [("X-Forwarded-For", "203.0.113.5")];
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = WsClient::open_with(gw.port, &a)
            .await
            .expect("upgrade within the per-IP cap");
        c.challenge().await;
        held.push(c);
    }
    let r = upgrade_raw(gw.port, &a);
    assert_eq!(r.status, 503, "{} {}", r.headers, r.body);
    assert_eq!(
        r.body,
        json!({"error": {"type": "too_many_connections_per_ip",
            "message": "this address holds the maximum of 3 connections (gateway.limits.maxConnectionsPerIp); close some or retry later"}})
    );
    assert!(r.closed, "the refused socket was left open");
    // Another client address, and a direct loopback client, are served.
    let mut other = WsClient::open_with(gw.port, &[("X-Forwarded-For", "203.0.113.6")])
        .await
        .expect("another address is not capped");
    other.challenge().await;
    let (mut local, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    assert_eq!(local.request("health", json!({})).await["ok"], true);
    // Closing one of A's sockets lets A in again.
    let mut first = held.remove(0);
    first.close().await;
    first.until_close().await;
    let status = retry_until(WAIT, "a freed per-IP slot", || {
        let r = raw_upgrade(gw.port, &a);
        (r.status == 101).then_some(r.status)
    });
    assert_eq!(status, 101);
}

#[test]
fn zero_limits_refuse_to_start_naming_the_key() {
    for (cfg, key) in [
        (
            r#"{gateway: {auth: {token: "T"}, limits: {maxConnections: 0}}}"#,
            "gateway.limits.maxConnections is 0",
        ),
        (
            r#"{gateway: {auth: {token: "T"}, limits: {maxConnectionsPerIp: 0}}}"#,
            "gateway.limits.maxConnectionsPerIp is 0",
        ),
    ] {
        let home = CliHome::with_config(cfg);
        let out = home.run(&["gateway", "run", "--port", "0"], &[]);
        assert_eq!(out.code, Some(78), "{out}");
        assert!(out.stderr.contains(key), "{out}");
        assert!(out.stderr.contains("Fix: set it to at least 1"), "{out}");
    }
}
