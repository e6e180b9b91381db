//! Server TLS and certificate pinning: a gateway with `gateway.tls.enabled` serves `wss://`
//! with a self-signed certificate generated on first start; clients pin its SHA-256.

use serde_json::Value;

use crate::support::{CliHome, TestGateway};

const TLS_CONFIG: &str = r#"{gateway: {auth: {token: "T"}, tls: {enabled: true}}}"#;

/// The leaf fingerprint the gateway printed at start.
pub(crate) fn fingerprint(gw: &TestGateway) -> String {
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

/// The SPKI pin the gateway printed at start.
fn spki(gw: &TestGateway) -> String {
    let out = gw.stdout();
    out.lines()
        .find_map(|l| l.trim().strip_prefix("tls spki pin: "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("the gateway prints its SPKI pin: {out}"))
}

/// `sha256/<base64>` of the certificate's SubjectPublicKeyInfo, computed with openssl:
/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256`.
fn openssl_spki(cert: &std::path::Path) -> String {
    let run = |args: &[&str], input: &[u8]| -> Vec<u8> {
        use std::io::Write as _;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run openssl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("feed openssl");
        let out = child.wait_with_output().expect("openssl output");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
        out.stdout
    };
    let pem = std::fs::read(cert).expect("read cert");
    let pubkey = run(&["x509", "-pubkey", "-noout"], &pem);
    let der = run(&["pkey", "-pubin", "-outform", "der"], &pubkey);
    let digest = run(&["dgst", "-sha256", "-binary"], &der);
    use base64::Engine as _;
    format!(
        "sha256/{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
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
            "gateway tls fingerprint mismatch: the gateway presented sha256 {fp} (spki {}), expected sha256 {wrong}",
            spki(&gw)
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
    assert_eq!(
        plain.stderr.trim_end(),
        format!(
            "Error: cannot connect to {}: the gateway serves TLS on this port (gateway.tls.enabled) and answered plain ws:// with 400 Bad Request. Fix: use {} with --tls-fingerprint (see `openclaw gateway fingerprint` on the gateway host)",
            gw.url(),
            wss(&gw)
        ),
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

/// `openclaw gateway fingerprint` prints what the gateway serves: the leaf SHA-256 in
/// OpenClaw's pin format and the SPKI pin, both checked against openssl.
#[test]
fn fingerprint_command_prints_the_leaf_and_spki_pins() {
    let gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(TLS_CONFIG));
    let cert = gw.dir.path().join("gateway/tls/gateway-cert.pem");
    let (fp, pin) = (openssl_fingerprint(&cert), openssl_spki(&cert));
    assert_eq!(fingerprint(&gw), fp);
    assert_eq!(spki(&gw), pin);
    let home = gw.dir.path().to_str().expect("utf-8").to_owned();
    let cli = CliHome::new();
    let out = cli.run(
        &["gateway", "fingerprint"],
        &[("OPENCLAW_STATE_DIR", home.as_str())],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], format!("sha256: {fp}"), "{out}");
    assert_eq!(lines[1], format!("spki:   {pin}"), "{out}");
    assert_eq!(lines[2], format!("cert:   {}", cert.display()), "{out}");
    let json = cli
        .run(
            &["gateway", "fingerprint", "--json"],
            &[("OPENCLAW_STATE_DIR", home.as_str())],
        )
        .json();
    assert_eq!(json["sha256"], fp.as_str());
    assert_eq!(json["spki"], pin.as_str());
    // The container healthcheck speaks https to a TLS gateway, pinned to its certificate.
    let port = gw.port.to_string();
    let live = cli.run(
        &["healthcheck"],
        &[
            ("OPENCLAW_STATE_DIR", home.as_str()),
            ("OPENCLAW_GATEWAY_PORT", port.as_str()),
        ],
    );
    assert_eq!(live.code, Some(0), "{live}");
    assert_eq!(
        live.stdout.trim(),
        r#"{"ok":true,"status":"live"}"#,
        "{live}"
    );
    // Without TLS configured there is nothing to print; the error says how to get one.
    let none = CliHome::new().run(&["gateway", "fingerprint"], &[]);
    assert_eq!(none.code, Some(1), "{none}");
    assert!(
        none.stderr
            .contains("(gateway.tls.enabled is not true). Fix: set gateway.tls.enabled to true"),
        "{none}"
    );
}

/// What a plain HTTP client gets on the TLS port (the body is spelled out here, not taken
/// from the source, so a change of the text is a visible change of this test).
const PLAIN_HTTP_BODY: &str = "Plain HTTP sent to a TLS port: this gateway serves HTTPS/WSS on this port. Use https:// (or wss:// for WebSocket clients), or turn TLS off with gateway.tls.enabled=false.\n";

/// Sends `parts` (each its own write, `TCP_NODELAY`) to `port` and reads until the server
/// closes: the bytes, or the error that ended the read. A read timeout (a hang) fails.
fn exchange(port: u16, parts: &[&[u8]]) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    for p in parts {
        s.write_all(p).expect("write");
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => {
                assert!(
                    !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "the server never closed the connection (a hang); got {got:?}"
                );
                return (got, Some(e.kind()));
            }
        }
    }
}

/// Asserts that `got` is the whole 400 answer (with the body unless `head`).
fn assert_plain_http_answer(got: &[u8], head: bool) {
    let text = String::from_utf8_lossy(got);
    let (head_part, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a complete HTTP response: {text:?}"));
    let mut lines = head_part.split("\r\n");
    assert_eq!(lines.next(), Some("HTTP/1.1 400 Bad Request"), "{text:?}");
    let mut headers: Vec<&str> = lines.collect();
    headers.sort_unstable();
    let len = format!("Content-Length: {}", PLAIN_HTTP_BODY.len());
    assert_eq!(
        headers,
        [
            "Connection: close",
            len.as_str(),
            "Content-Type: text/plain; charset=utf-8"
        ],
        "{text:?}"
    );
    assert_eq!(body, if head { "" } else { PLAIN_HTTP_BODY }, "{text:?}");
}

/// Plain HTTP on the TLS port is answered with a readable 400 that names the fix, then
/// closed (not reset: the whole answer arrives); a plain `ws://` upgrade gets the same.
#[test]
fn plain_http_on_the_tls_port_gets_a_400_naming_the_fix() {
    let gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(TLS_CONFIG));
    let (got, err) = exchange(
        gw.port,
        &[b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"],
    );
    assert_plain_http_answer(&got, false);
    assert_eq!(err, None, "closed with a FIN, not a reset");
    // A plain WebSocket upgrade (what a ws:// client sends).
    let upgrade = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\n\r\n",
        gw.port
    );
    let (got, err) = exchange(gw.port, &[upgrade.as_bytes()]);
    assert_plain_http_answer(&got, false);
    assert_eq!(err, None);
    // A POST with a body, the method token split across writes, and HEAD (no body).
    let (got, _) = exchange(
        gw.port,
        &[
            b"PO",
            b"ST /telegram-webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        ],
    );
    assert_plain_http_answer(&got, false);
    let (got, _) = exchange(gw.port, &[b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"]);
    assert_plain_http_answer(&got, true);
    // curl, a real client, reads it too.
    let curl = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{}/", gw.port))
        .output();
    if let Ok(out) = curl {
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text, format!("{PLAIN_HTTP_BODY}\n400"), "{out:?}");
    }
    // Our node host pointed at the TLS port without --tls says what to change.
    let node_home = tempfile::tempdir().expect("node home");
    let mut cmd = crate::support::isolated_command(crate::support::BIN, node_home.path());
    cmd.args(["node", "run", "--host", "127.0.0.1", "--port"])
        .arg(gw.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let host = crate::support::Background::spawn(cmd);
    let want = format!(
        "node host: cannot connect to {}: the gateway serves TLS on this port (gateway.tls.enabled) and answered plain ws:// with 400 Bad Request. Fix: use {} with --tls-fingerprint",
        gw.url(),
        wss(&gw)
    );
    crate::support::retry_until(
        std::time::Duration::from_secs(30),
        "the node host's use-TLS message",
        || {
            host.output()
                .lines()
                .any(|l| l.starts_with(&want))
                .then_some(())
        },
    );
    drop(host);
    // TLS clients still get the gateway on the same port.
    let fp = fingerprint(&gw);
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
        ],
        &[],
    );
    assert_eq!(ok.code, Some(0), "{ok}");
}

/// A connection that sends nothing is closed by the server (after the TLS handshake
/// timeout); one whose first byte is neither TLS nor HTTP is closed without an answer.
#[test]
fn silent_and_garbage_connections_on_the_tls_port_are_closed() {
    let gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(TLS_CONFIG));
    let (got, err) = exchange(gw.port, &[]);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(err, None, "a silent peer is closed with a FIN");
    for junk in [
        &b"\x00\x01\x02\x03 not a protocol\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"get / HTTP/1.1\r\n\r\n",
        b"\x80\x2e\x01\x00\x02",
    ] {
        let (got, err) = exchange(gw.port, &[junk]);
        assert!(got.is_empty(), "{junk:?} got an answer: {got:?}");
        assert!(
            matches!(err, None | Some(std::io::ErrorKind::ConnectionReset)),
            "{junk:?}: {err:?}"
        );
    }
    // The gateway is unharmed.
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
            &fingerprint(&gw),
        ],
        &[],
    );
    assert_eq!(ok.code, Some(0), "{ok}");
}

/// Turning TLS on by a config edit restarts the listeners in-process onto the TLS server
/// (plain HTTP gets the 400, pinned `wss://` works); turning it off again serves plain.
#[test]
fn tls_toggled_by_reload_keeps_the_plain_http_answer() {
    use std::time::Duration;
    let port = crate::support::free_port();
    let cfg = |tls: bool| {
        format!("{{gateway: {{port: {port}, auth: {{token: \"T\"}}, tls: {{enabled: {tls}}}}}}}")
    };
    let gw = TestGateway::start(&["gateway", "run"], &[], Some(&cfg(false)));
    assert_eq!(gw.port, port);
    let pid = gw.pid();
    crate::support::replace_file(&gw.config_path(), &cfg(true));
    let wss_line = format!("listening on wss://127.0.0.1:{port}");
    crate::support::retry_until(Duration::from_secs(20), &wss_line, || {
        gw.stdout().contains(&wss_line).then_some(())
    });
    let fp = openssl_fingerprint(&tls_cert(&gw));
    let (got, _) = exchange(port, &[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]);
    assert_plain_http_answer(&got, false);
    let call = |url: &str, extra: &[&str]| {
        let mut args = vec!["gateway", "call", "health", "--url", url, "--token", "T"];
        args.extend_from_slice(extra);
        CliHome::new().run(&args, &[])
    };
    let ok = call(
        &format!("wss://127.0.0.1:{port}"),
        &["--tls-fingerprint", &fp],
    );
    assert_eq!(ok.code, Some(0), "{ok}");
    assert_eq!(gw.pid(), pid, "restarted in-process");
    // Off again: plain HTTP is served.
    crate::support::replace_file(&gw.config_path(), &cfg(false));
    let ws_line = format!("listening on ws://127.0.0.1:{port}");
    crate::support::retry_until(Duration::from_secs(20), &ws_line, || {
        (gw.stdout().matches(&ws_line).count() >= 2).then_some(())
    });
    let (got, _) = exchange(
        port,
        &[b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
    );
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    let ok = call(&format!("ws://127.0.0.1:{port}"), &[]);
    assert_eq!(ok.code, Some(0), "{ok}");
}

/// Re-issuing the certificate with the same key (here with openssl, as an operator renewing
/// it would) changes the leaf fingerprint but not the SPKI pin: the CLI and the node host
/// pinned by SPKI keep working, the old leaf pin is refused naming what was presented.
#[test]
fn spki_pin_survives_reissue_with_the_same_key_for_cli_and_node_host() {
    let mut gw = TestGateway::start(&["gateway", "run", "--port", "0"], &[], Some(TLS_CONFIG));
    let (old_fp, pin) = (fingerprint(&gw), spki(&gw));
    gw.sigterm();
    let status = gw.wait_exit(std::time::Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", gw.stderr());
    let dir = gw.take_dir();
    let tls = dir.path().join("gateway/tls");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "30",
            "-subj",
            "/CN=renewed",
            "-key",
        ])
        .arg(tls.join("gateway-key.pem"))
        .arg("-out")
        .arg(tls.join("gateway-cert.pem"))
        .output()
        .expect("run openssl req");
    assert!(out.status.success(), "openssl req: {out:?}");
    let gw = TestGateway::start_in(dir, &["gateway", "run", "--port", "0"], &[], None);
    let new_fp = fingerprint(&gw);
    assert_ne!(new_fp, old_fp, "a new certificate");
    assert_eq!(spki(&gw), pin, "the same key");
    assert_eq!(openssl_spki(&tls_cert(&gw)), pin);

    let cli = CliHome::new();
    let url = wss(&gw);
    let call = |extra: &[&str]| {
        let mut args = vec![
            "gateway",
            "call",
            "health",
            "--url",
            url.as_str(),
            "--token",
            "T",
            "--json",
        ];
        args.extend_from_slice(extra);
        cli.run(&args, &[])
    };
    let ok = call(&["--tls-spki-pin", &pin]);
    assert_eq!(ok.code, Some(0), "{ok}");
    assert_eq!(ok.json()["ok"], true, "{ok}");
    // Several pins: any one matching admits the gateway.
    let other = format!("sha256/{}", "A".repeat(43) + "=");
    let ok2 = call(&["--tls-spki-pin", &other, "--tls-spki-pin", &pin]);
    assert_eq!(ok2.code, Some(0), "{ok2}");
    // The old leaf pin is refused, naming the presented certificate and key.
    let bad = call(&["--tls-fingerprint", &old_fp]);
    assert_eq!(bad.code, Some(1), "{bad}");
    assert!(
        bad.json()["error"]["message"].as_str().is_some_and(|m| m.contains(&format!(
            "gateway tls fingerprint mismatch: the gateway presented sha256 {new_fp} (spki {pin}), expected sha256 {old_fp}"
        ))),
        "{bad}"
    );
    // A wrong SPKI pin alone is refused too.
    let bad2 = call(&["--tls-spki-pin", &other]);
    assert_eq!(bad2.code, Some(1), "{bad2}");
    assert!(
        bad2.stdout.contains(&format!("expected spki {other}")),
        "{bad2}"
    );
    // A malformed pin is a usage error naming it, before any connection.
    let malformed = call(&["--tls-spki-pin", "sha256/short"]);
    assert_eq!(malformed.code, Some(1), "{malformed}");
    assert!(
        malformed.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(
                "SPKI pin \"sha256/short\" is not of the form sha256/<base64 of 32 bytes>"
            )),
        "{malformed}"
    );

    // Our node host, pinned by SPKI, connects over wss and asks to be paired.
    let node_home = tempfile::tempdir().expect("node home");
    let port = gw.port.to_string();
    let mut cmd = crate::support::isolated_command(crate::support::BIN, node_home.path());
    cmd.args([
        "node",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--tls-spki-pin",
        &pin,
        "--display-name",
        "it-tls-node",
    ])
    .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let host = crate::support::Background::spawn(cmd);
    crate::support::retry_until(
        std::time::Duration::from_secs(30),
        "the SPKI-pinned node host's pairing request",
        || {
            let listed = cli.run(
                &[
                    "gateway",
                    "call",
                    "node.pair.list",
                    "--url",
                    &wss(&gw),
                    "--token",
                    "T",
                    "--tls-spki-pin",
                    &pin,
                    "--json",
                ],
                &[],
            );
            listed.stdout.contains("it-tls-node").then_some(())
        },
    );
    drop(host);

    // With the old leaf pin the node host never gets in, and says why.
    let node_home2 = tempfile::tempdir().expect("node home");
    let mut cmd = crate::support::isolated_command(crate::support::BIN, node_home2.path());
    cmd.args([
        "node",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--tls-fingerprint",
        &old_fp,
    ])
    .env("OPENCLAW_GATEWAY_TOKEN", "T");
    let host2 = crate::support::Background::spawn(cmd);
    let want = format!("the gateway presented sha256 {new_fp}");
    crate::support::retry_until(
        std::time::Duration::from_secs(30),
        "the node host's pin mismatch message",
        || {
            // Each round trip paces the loop.
            let _ = call(&["--tls-spki-pin", &pin]);
            host2.output().contains(&want).then_some(())
        },
    );
}

fn tls_cert(gw: &TestGateway) -> std::path::PathBuf {
    gw.dir.path().join("gateway/tls/gateway-cert.pem")
}

/// The TLS listeners keep what the plain ones do: the peer address reaches the WebSocket
/// code and the connection ceiling (`gateway.limits.maxConnectionsPerIp`) counts `wss://`
/// clients by it, giving the slot back when the socket closes.
#[actix_web::test]
async fn the_connection_ceiling_counts_wss_clients_by_their_address() {
    use futures_util::StreamExt as _;
    use std::time::{Duration, Instant};
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(
            r#"{gateway: {auth: {token: "T"}, tls: {enabled: true},
                limits: {maxConnections: 100, maxConnectionsPerIp: 1}}}"#,
        ),
    );
    let target = openclaw::client::Target {
        url: wss(&gw),
        tls_fingerprint: Some(fingerprint(&gw)),
        ..Default::default()
    };
    let client = openclaw::client::client_for(&target, Duration::from_secs(10)).expect("client");
    let (_, mut first) = client
        .ws(wss(&gw))
        .connect()
        .await
        .expect("the first wss:// client is within the cap");
    let challenge = actix_web::rt::time::timeout(Duration::from_secs(10), first.next())
        .await
        .expect("a first frame in time");
    assert!(
        matches!(&challenge, Some(Ok(awc::ws::Frame::Text(t))) if String::from_utf8_lossy(t).contains("connect.challenge")),
        "{challenge:?}"
    );
    match client.ws(wss(&gw)).connect().await {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => assert_eq!(s, 503),
        Err(e) => panic!("the second wss:// client from 127.0.0.1: {e}"),
        Ok(_) => panic!("the second wss:// client from 127.0.0.1 was admitted beyond the cap"),
    }
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.ws(wss(&gw)).connect().await {
            Ok(_) => break,
            Err(e) => assert!(
                Instant::now() < deadline,
                "the slot is not given back after the first socket closed: {e}"
            ),
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}
