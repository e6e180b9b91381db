//! Server TLS and certificate pinning: a gateway with `gateway.tls.enabled` serves `wss://`
//! with a self-signed certificate generated on first start; clients pin its SHA-256.

use serde_json::Value;

use crate::support::{CliHome, TestGateway};

const TLS_CONFIG: &str = r#"{gateway: {auth: {token: "T"}, tls: {enabled: true}}}"#;

fn fingerprint(gw: &TestGateway) -> String {
    let out = gw.stdout();
    out.lines()
        .find_map(|l| l.trim().strip_prefix("tls fingerprint sha256: "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("the gateway prints its certificate fingerprint: {out}"))
}

fn wss(gw: &TestGateway) -> String {
    format!("wss://127.0.0.1:{}", gw.port)
}

#[test]
fn pinned_wss_works_and_a_wrong_pin_is_refused() {
    let gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(TLS_CONFIG));
    assert!(
        gw.stdout()
            .contains(&format!("listening on wss://127.0.0.1:{}", gw.port)),
        "{}",
        gw.stdout()
    );
    let fp = fingerprint(&gw);
    assert_eq!(fp.len(), 64, "{fp}");
    // The generated key is private to the gateway.
    let key = gw.dir.path().join("gateway/tls/gateway-key.pem");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key)
        .expect("key written")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let cli = CliHome::new();
    let ok = cli.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &wss(&gw),
            "--token",
            "T",
            "--tls-fingerprint",
            &fp,
            "--json",
        ],
        &[],
    );
    assert_eq!(ok.code, Some(0), "{ok}");
    assert_eq!(ok.json()["ok"], true, "{ok}");
    // Colon-separated upper-case spelling of the same pin works too.
    let colons: Vec<String> = fp
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    let ok2 = cli.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &wss(&gw),
            "--token",
            "T",
            "--tls-fingerprint",
            &format!("sha256:{}", colons.join(":")),
        ],
        &[],
    );
    assert_eq!(ok2.code, Some(0), "{ok2}");

    let wrong = "ab".repeat(32);
    let bad = cli.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &wss(&gw),
            "--token",
            "T",
            "--tls-fingerprint",
            &wrong,
        ],
        &[],
    );
    assert_eq!(bad.code, Some(1), "{bad}");
    assert!(bad.stderr.contains("fingerprint"), "{bad}");
    // Without a pin the self-signed certificate is not trusted.
    let unpinned = cli.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &wss(&gw),
            "--token",
            "T",
        ],
        &[],
    );
    assert_eq!(unpinned.code, Some(1), "{unpinned}");
    // Plain ws:// to the TLS port does not get a gateway.
    let plain = cli.run(
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &gw.url(),
            "--token",
            "T",
        ],
        &[],
    );
    assert_eq!(plain.code, Some(1), "{plain}");
}

#[test]
fn local_mode_cli_pins_the_local_certificate_and_restarts_keep_it() {
    let mut gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(TLS_CONFIG));
    let fp = fingerprint(&gw);
    // The CLI on the gateway host (same state dir and config, no --url) uses wss and pins
    // the certificate it finds there.
    let home = gw.dir.path().to_str().expect("utf-8 path").to_owned();
    let cli = CliHome::new();
    let port = gw.port.to_string();
    let out = cli.run(
        &["gateway", "call", "status", "--json"],
        &[
            ("OPENCLAW_STATE_DIR", home.as_str()),
            ("OPENCLAW_GATEWAY_PORT", port.as_str()),
            ("OPENCLAW_GATEWAY_TOKEN", "T"),
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let v: Value = out.json();
    assert_eq!(v["gateway"]["port"], gw.port, "{out}");
    // Restart on the same state dir: the certificate (and so the pin) is kept.
    gw.sigterm();
    let status = gw.wait_exit(std::time::Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", gw.stderr());
    let dir = gw.take_dir();
    let gw2 = TestGateway::start_in(dir, &["gateway", "run", "--port", "0"], &[], None);
    assert_eq!(fingerprint(&gw2), fp);
}
