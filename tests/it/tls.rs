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

/// `openssl x509 -fingerprint -sha256 -noout -in cert.pem`, normalised to lowercase hex
/// without colons: an independent computation of what the gateway prints.
fn openssl_fingerprint(cert: &std::path::Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-fingerprint", "-sha256", "-noout", "-in"])
        .arg(cert)
        .output()
        .expect("run openssl (installed by .ci/run)");
    assert!(out.status.success(), "openssl x509: {:?}", out);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.trim();
    let (label, value) = line
        .split_once('=')
        .unwrap_or_else(|| panic!("openssl prints `sha256 Fingerprint=…`: {line:?}"));
    assert!(label.eq_ignore_ascii_case("sha256 Fingerprint"), "{line:?}");
    value.replace(':', "").to_lowercase()
}

/// `openssl x509 -noout -text` of the certificate.
fn openssl_text(cert: &std::path::Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl x509 -text: {:?}", out);
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    let cert = gw.dir.path().join("gateway/tls/gateway-cert.pem");
    assert_eq!(
        fp,
        openssl_fingerprint(&cert),
        "printed fingerprint vs openssl"
    );
    assert!(
        gw.stdout().lines().any(|l| l
            == format!(
                "  clients pin it with --tls-fingerprint {fp} (or gateway.remote.tlsFingerprint)"
            )),
        "{}",
        gw.stdout()
    );
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
    assert!(
        bad.stderr.contains(&format!(
            "gateway tls fingerprint mismatch: the gateway presented sha256 {fp}, expected {wrong}"
        )),
        "the error names the presented certificate: {bad}"
    );
    assert!(bad.stderr.lines().any(|l| l.starts_with("Fix: ")), "{bad}");
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
    assert!(
        unpinned
            .stderr
            .contains(&format!("cannot connect to {}", wss(&gw)))
            && unpinned.stderr.contains("invalid peer certificate"),
        "{unpinned}"
    );
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
    assert!(
        plain
            .stderr
            .starts_with(&format!("Error: cannot connect to {}: ", gw.url())),
        "{plain}"
    );
}

/// The self-signed pair is made in-process: no `openssl` on the PATH (as in the distroless
/// image), and the result is what OpenClaw's generator makes (P-256, CN openclaw-gateway,
/// SANs localhost/127.0.0.1/::1, ten years).
#[test]
fn certificate_is_generated_without_an_openssl_command() {
    let empty = tempfile::tempdir().expect("empty PATH dir");
    let path = empty.path().to_str().expect("utf-8 path").to_owned();
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[("PATH", path.as_str())],
        Some(TLS_CONFIG),
    );
    let fp = fingerprint(&gw);
    let cert = gw.dir.path().join("gateway/tls/gateway-cert.pem");
    assert_eq!(fp, openssl_fingerprint(&cert));
    let text = openssl_text(&cert);
    for want in [
        "Subject: CN = openclaw-gateway",
        "ASN1 OID: prime256v1",
        "Signature Algorithm: ecdsa-with-SHA256",
        "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == want),
            "certificate has {want:?}:\n{text}"
        );
    }
    use std::os::unix::fs::PermissionsExt as _;
    let key = gw.dir.path().join("gateway/tls/gateway-key.pem");
    let meta = std::fs::metadata(&key).expect("key written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir_mode = std::fs::metadata(key.parent().expect("tls dir"))
        .expect("tls dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    // And it serves: a pinned health call works.
    let ok = CliHome::new().run(
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
