//! `gateway run` start-up refusals and shutdown.

use std::time::Duration;

use crate::support::{CliHome, TestGateway, WsClient, cli_params};

/// Exit code for "refused to start because of configuration" (`EX_CONFIG`).
const EX_CONFIG: i32 = 78;

fn assert_refused(out: &crate::support::CliOutput) {
    assert_eq!(out.code, Some(EX_CONFIG), "{out}");
    assert!(
        !out.stdout.contains("listening on"),
        "must not listen: {out}"
    );
    assert!(out.stderr.contains("Fix:"), "stderr names the fix: {out}");
}

#[test]
fn lan_bind_without_auth_is_refused() {
    let home = CliHome::new();
    let out = home.run(
        &[
            "gateway", "run", "--bind", "lan", "--auth", "none", "--port", "0",
        ],
        &[],
    );
    assert_refused(&out);
    assert!(out.stderr.contains("without auth"), "{out}");
    assert!(
        out.stderr.contains("gateway.auth.token") && out.stderr.contains("--bind loopback"),
        "stderr names the ways out: {out}"
    );
}

#[test]
fn lan_bind_in_token_mode_without_a_token_is_refused() {
    // Token mode with no configured token would only have a generated runtime token.
    let home = CliHome::new();
    let out = home.run(&["gateway", "run", "--bind", "lan", "--port", "0"], &[]);
    assert_refused(&out);
    assert!(out.stderr.contains("gateway.auth.token"), "{out}");
}

#[test]
fn custom_non_loopback_bind_without_auth_is_refused() {
    let home = CliHome::with_config(
        r#"{gateway: {bind: "custom", customBindHost: "192.0.2.7", auth: {mode: "none"}}}"#,
    );
    let out = home.run(&["gateway", "run", "--port", "0"], &[]);
    assert_refused(&out);
    assert!(out.stderr.contains("192.0.2.7"), "{out}");
}

#[test]
fn port_in_use_fails_and_names_the_port() {
    let gw = TestGateway::with_token("T");
    let port = gw.port.to_string();
    let home = CliHome::new();
    let out = home.run(&["gateway", "run", "--port", &port, "--token", "T"], &[]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.code.is_some(), "exits, not killed: {out}");
    assert!(!out.stdout.contains("listening on"), "{out}");
    assert!(
        out.stderr.contains(&port),
        "stderr names port {port}: {out}"
    );
    assert!(out.stderr.contains("already in use"), "{out}");
}

#[actix_web::test]
async fn sigterm_sends_shutdown_closes_1012_and_exits_0() {
    let mut gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    gw.sigterm();
    let ev = c.event_within("shutdown", Duration::from_secs(5)).await;
    assert!(ev["payload"]["reason"].is_string(), "{ev}");
    let (code, _reason, _) = c.until_close().await;
    assert_eq!(code, Some(1012));
    let status = gw.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", gw.stderr());
}
