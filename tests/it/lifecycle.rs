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
    // A socket still in its handshake (challenged, no `connect` yet) is closed the same way.
    let (mut waiting, _) = WsClient::open_challenged(gw.port).await;
    gw.sigterm();
    let ev = c.event_within("shutdown", Duration::from_secs(5)).await;
    assert!(ev["payload"]["reason"].is_string(), "{ev}");
    let (code, _reason, _) = c.until_close().await;
    assert_eq!(code, Some(1012));
    let (code, reason, _) = waiting.until_close().await;
    assert_eq!(
        (code, reason.as_str()),
        (Some(1012), "service restart"),
        "the socket in its handshake"
    );
    let status = gw.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", gw.stderr());
}

/// No token configured on loopback: the generated token is not printed when stdout is not a
/// terminal (here: a pipe, like a service log); it is written to a 0600 file whose path is
/// printed, it works for auth, and the file is removed when the gateway stops.
#[actix_web::test]
async fn generated_runtime_token_goes_to_a_private_file_not_to_a_log() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], None);
    let file = gw.dir.path().join("gateway").join("runtime-token");
    let token = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{} written ({e}): {}", file.display(), gw.stdout()))
        .trim()
        .to_owned();
    assert!(
        token.len() >= 32 && !token.contains(char::is_whitespace),
        "one long token on one line: {token:?}"
    );
    let mode = std::fs::metadata(&file)
        .expect("token file metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let (out, err) = (gw.stdout(), gw.stderr());
    assert!(!out.contains(&token), "token on stdout:\n{out}");
    assert!(!err.contains(&token), "token on stderr:\n{err}");
    let announce = format!(
        "auth: token mode with no token configured; generated a runtime-only token, written to {} (mode 0600; not printed because stdout is not a terminal; removed when the gateway stops)",
        file.display()
    );
    assert!(out.lines().any(|l| l == announce), "{out}");

    // It is the gateway's token: a client presenting it gets in, a wrong one does not.
    let (_c, hello) = WsClient::hello(gw.port, cli_params(&token, &["operator.read"])).await;
    assert_eq!(hello["type"], "hello-ok", "{hello}");
    let (mut bad, _) = WsClient::open_challenged(gw.port).await;
    let res = bad.connect(cli_params("wrong", &["operator.read"])).await;
    assert_eq!(res["ok"], false, "{res}");

    // The CLI on the same host and state dir finds the token in that file: no --token.
    let home = gw.dir.path().to_str().expect("utf-8 path").to_owned();
    let port = gw.port.to_string();
    let out = CliHome::new().run(
        &["gateway", "call", "health", "--json"],
        &[
            ("OPENCLAW_STATE_DIR", home.as_str()),
            ("OPENCLAW_GATEWAY_PORT", port.as_str()),
        ],
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["ok"], true, "{}", out.stdout);
    assert!(!out.stdout.contains(&token) && !out.stderr.contains(&token));

    gw.sigterm();
    assert_eq!(gw.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert!(
        !file.exists(),
        "the runtime token file is removed on shutdown"
    );
    let (out, err) = (gw.stdout(), gw.stderr());
    assert!(
        !out.contains(&token) && !err.contains(&token),
        "{out}\n{err}"
    );
}

/// A configured token removes a stale runtime-token file left by a crashed earlier run.
#[test]
fn a_configured_token_removes_a_stale_runtime_token_file() {
    let dir = tempfile::tempdir().expect("state dir");
    let file = dir.path().join("gateway").join("runtime-token");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    std::fs::write(&file, "stale\n").expect("write stale token");
    let gw = TestGateway::start_in(
        dir,
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        None,
    );
    assert!(!file.exists(), "{}", gw.stdout());
    assert!(!gw.stdout().contains("runtime-only"), "{}", gw.stdout());
}
