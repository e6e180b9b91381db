//! HTTP probes against the real binary: `/health`, `/healthz` (liveness) and `/ready`,
//! `/readyz` (readiness, 503 with a `failing` list while a configured channel is broken),
//! unauthenticated and revealing nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_telegram::FakeTelegram;
use crate::support::{TestGateway, http_request, retry_until};

const TOKEN: &str = "probe-secret-token-77";

#[test]
fn liveness_and_readiness_answer_without_auth_and_reveal_nothing() {
    let gw = TestGateway::with_token(TOKEN);
    for path in ["/health", "/healthz"] {
        let (status, head, body) = http_request(gw.port, "GET", path, &[]);
        assert_eq!(status, 200, "{path}: {head}");
        assert_eq!(body, r#"{"ok":true,"status":"live"}"#, "{path}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let (status, _, body) = http_request(gw.port, "HEAD", path, &[]);
        assert_eq!((status, body.as_str()), (200, ""), "HEAD {path}");
    }
    for path in ["/ready", "/readyz"] {
        let (status, _, body) = http_request(gw.port, "GET", path, &[]);
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body, r#"{"ok":true,"status":"ready"}"#, "{path}");
        assert!(!body.contains(TOKEN));
    }
    // The probes do not need (or look at) credentials: a wrong bearer changes nothing.
    let (status, _, _) = http_request(
        gw.port,
        "GET",
        "/readyz",
        &[("Authorization", "Bearer nope")],
    );
    assert_eq!(status, 200);
}

#[test]
fn readiness_is_503_while_a_configured_channel_is_broken() {
    // The fake Bot API accepts another token: getMe answers 401 and the account never runs.
    let tg = FakeTelegram::start("111:accepted-token");
    let bot_token = "222:REFUSED-bot-token-secret";
    let cfg = json!({"channels": {"telegram": {
        "enabled": true, "botToken": bot_token, "apiRoot": tg.api_root(),
        "pollTimeoutSeconds": 1, "dmPolicy": "open", "allowFrom": ["*"]}}});
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", TOKEN],
        &[],
        Some(&cfg.to_string()),
    );
    let body = retry_until(
        Duration::from_secs(15),
        "/readyz to report the broken channel",
        || {
            let (status, _, body) = http_request(gw.port, "GET", "/readyz", &[]);
            (status == 503).then_some(body)
        },
    );
    let v: Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(
        v,
        json!({"ok": false, "status": "not-ready", "failing": ["channel:telegram:default"]})
    );
    assert!(
        !body.contains(bot_token) && !body.contains("REFUSED"),
        "{body}"
    );
    // Liveness is unaffected.
    let (status, _, _) = http_request(gw.port, "GET", "/healthz", &[]);
    assert_eq!(status, 200);
}

/// `openclaw healthcheck` run with the gateway's own state dir (and config).
fn healthcheck(gw: &TestGateway, extra: &[&str]) -> crate::support::CliOutput {
    let mut cmd = crate::support::isolated_command(crate::support::BIN, gw.dir.path());
    cmd.args(["healthcheck", "--port", &gw.port.to_string()])
        .args(extra);
    crate::support::run_bounded(cmd, crate::support::CLI_TIMEOUT)
}

#[test]
fn the_container_healthcheck_command_uses_the_probes_over_http_and_tls() {
    let gw = TestGateway::with_token(TOKEN);
    let out = healthcheck(&gw, &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout.trim(), r#"{"ok":true,"status":"live"}"#, "{out}");
    let out = healthcheck(&gw, &["--ready"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout.trim(),
        r#"{"ok":true,"status":"ready"}"#,
        "{out}"
    );
    // wss:// gateway: TLS pinned to the local certificate.
    let tls = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, tls: {enabled: true}}}"#),
    );
    let out = healthcheck(&tls, &["--ready"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout.trim(),
        r#"{"ok":true,"status":"ready"}"#,
        "{out}"
    );
    // Nothing listening: a clear failure.
    drop(gw);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = crate::support::isolated_command(crate::support::BIN, dir.path());
    cmd.args([
        "healthcheck",
        "--port",
        &crate::support::free_port().to_string(),
    ]);
    let out = crate::support::run_bounded(cmd, crate::support::CLI_TIMEOUT);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("cannot connect to 127.0.0.1:"), "{out}");
}
