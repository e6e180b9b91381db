//! The gateway's edge against hostile peers and pages: the WebSocket closing handshake,
//! bounded per-connection work (pings, slow consumers, frame sizes), the `Host` check against
//! DNS rebinding, browser `Origin` rules, and client attribution behind trusted proxies.
//!
//! Raw-socket tests use [`RawWs`], a blocking RFC 6455 client on a plain `TcpStream`, so they
//! can see exactly when the server closes TCP and can stop reading on purpose.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::fake_node::{Sig, random_key, sign_device};
use crate::support::{
    TestGateway, WAIT, WsClient, cli_params, connect_params, error_of, masked_frame, now_ms,
    raw_upgrade,
};

// === a raw WebSocket client ===

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A blocking WebSocket client that never does anything behind the test's back.
struct RawWs {
    s: TcpStream,
    buf: Vec<u8>,
}

/// What reading produced.
#[derive(Debug)]
enum Read_ {
    Frame(u8, Vec<u8>),
    /// The server closed TCP (EOF or reset).
    Eof,
}

impl RawWs {
    /// Upgrades with `Host: host` and `extra` headers; `Err(status line + body)` if refused.
    fn open_as(port: u16, host: &str, extra: &[(&str, &str)]) -> Result<Self, String> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("TCP connect");
        s.set_read_timeout(Some(WAIT)).expect("read timeout");
        s.set_write_timeout(Some(WAIT)).expect("write timeout");
        let mut req = format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).expect("write upgrade");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut chunk).expect("read upgrade response");
            assert!(n > 0, "closed before the upgrade response");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            // Read the (short) body too.
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let mut rest = buf[end..].to_vec();
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 || rest.len() > 64 * 1024 {
                    break;
                }
                rest.extend_from_slice(&chunk[..n]);
                if head.to_ascii_lowercase().contains("content-length") && rest.ends_with(b"}") {
                    break;
                }
            }
            return Err(format!("{head}{}", String::from_utf8_lossy(&rest)));
        }
        Ok(Self {
            s,
            buf: buf[end..].to_vec(),
        })
    }

    fn open(port: u16) -> Self {
        Self::open_as(port, &format!("127.0.0.1:{port}"), &[])
            .unwrap_or_else(|e| panic!("upgrade refused: {e}"))
    }

    fn frame_bytes(opcode: u8, payload: &[u8]) -> Vec<u8> {
        masked_frame(opcode, payload)
    }

    fn send(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        self.s.write_all(&Self::frame_bytes(opcode, payload))
    }

    fn send_json(&mut self, v: &Value) {
        self.send(OP_TEXT, v.to_string().as_bytes())
            .expect("send a text frame");
    }

    fn close_frame(code: u16) -> Vec<u8> {
        code.to_be_bytes().to_vec()
    }

    fn fill(&mut self) -> Result<bool, std::io::Error> {
        let mut chunk = [0u8; 65536];
        match self.s.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The next frame, or EOF; panics when nothing arrives within [`WAIT`].
    fn read(&mut self) -> Read_ {
        loop {
            if self.buf.len() >= 2 {
                let op = self.buf[0] & 0x0F;
                let len0 = (self.buf[1] & 0x7F) as usize;
                let (len, hdr) = match len0 {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&self.buf[2..10]);
                        (u64::from_be_bytes(b) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n, 2),
                };
                if len != usize::MAX && self.buf.len() >= hdr + len {
                    let payload = self.buf[hdr..hdr + len].to_vec();
                    self.buf.drain(..hdr + len);
                    return Read_::Frame(op, payload);
                }
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return Read_::Eof,
                Err(e) => panic!("nothing from the gateway within {WAIT:?}: {e}"),
            }
        }
    }

    fn read_json(&mut self) -> Value {
        loop {
            match self.read() {
                Read_::Frame(OP_TEXT, p) => {
                    return serde_json::from_slice(&p).expect("JSON text frame");
                }
                Read_::Frame(OP_PING | OP_PONG, _) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Reads (skipping text and control frames) until the server's close frame; returns its
    /// code and reason.
    fn read_close(&mut self) -> (Option<u16>, String) {
        loop {
            match self.read() {
                Read_::Frame(OP_CLOSE, p) => {
                    let code = (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
                    let reason = String::from_utf8_lossy(p.get(2..).unwrap_or(&[])).into_owned();
                    return (code, reason);
                }
                Read_::Frame(..) => {}
                Read_::Eof => panic!("TCP closed without a close frame"),
            }
        }
    }

    /// Reads until the server closes TCP (without closing our side), within [`WAIT`].
    fn expect_eof(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "the server did not close TCP within {WAIT:?}"
            );
            match self.read() {
                Read_::Eof => return,
                Read_::Frame(..) => {}
            }
        }
    }
}

fn hello_raw(port: u16, params: Value) -> RawWs {
    let mut c = RawWs::open(port);
    let ch = c.read_json();
    assert_eq!(ch["event"], "connect.challenge", "{ch}");
    c.send_json(&json!({"type": "req", "id": "c1", "method": "connect", "params": params}));
    let res = c.read_json();
    assert_eq!(res["ok"], true, "{res}");
    c
}

// === item 5: the closing handshake ===

/// A gateway whose fallback for an unanswered close frame is a minute away: the tests below
/// see EOF long before that only if the server closes TCP because the closing handshake is
/// complete (RFC 6455 §7.1.1), not because a timer ran out.
fn gateway_with_a_long_close_linger() -> TestGateway {
    TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[("OPENCLAW_CLOSE_LINGER_MS", "60000")],
        None,
    )
}

#[test]
fn server_closes_tcp_after_echoing_a_close_before_the_handshake() {
    let gw = gateway_with_a_long_close_linger();
    let mut c = RawWs::open(gw.port);
    let ch = c.read_json();
    assert_eq!(ch["event"], "connect.challenge");
    c.send(OP_CLOSE, &RawWs::close_frame(1000))
        .expect("send close");
    let (code, _) = c.read_close();
    assert_eq!(code, Some(1000));
    // We never close our side: the server must (RFC 6455 §7.1.1).
    c.expect_eof();
}

#[test]
fn server_closes_tcp_after_echoing_a_close_after_the_handshake() {
    let gw = gateway_with_a_long_close_linger();
    let mut c = hello_raw(gw.port, cli_params("T", &["operator.read"]));
    c.send(OP_CLOSE, &RawWs::close_frame(1000))
        .expect("send close");
    let (code, _) = c.read_close();
    assert_eq!(code, Some(1000));
    c.expect_eof();
}

#[test]
fn server_closes_tcp_once_the_client_answers_its_close() {
    let gw = gateway_with_a_long_close_linger();
    let mut c = RawWs::open(gw.port);
    let ch = c.read_json();
    assert_eq!(ch["event"], "connect.challenge");
    // A binary frame before the handshake: the server closes first.
    c.send(OP_BINARY, b"x").expect("send binary");
    let (code, _) = c.read_close();
    assert_eq!(code, Some(1000));
    c.send(OP_CLOSE, &RawWs::close_frame(1000))
        .expect("answer the close");
    c.expect_eof();
}

// === item 4: bounded work from one peer ===

/// Sends 125-byte pings and never reads. Returns once a write fails (the server dropped the
/// connection); panics if the server still takes pings after `limit`.
fn flood_pings_until_closed(c: &mut RawWs, limit: Duration) {
    c.s.set_write_timeout(Some(Duration::from_millis(500)))
        .expect("write timeout");
    let ping = RawWs::frame_bytes(OP_PING, &[b'p'; 125]);
    let deadline = Instant::now() + limit;
    let mut sent = 0u64;
    loop {
        assert!(
            Instant::now() < deadline,
            "the server still accepts pings after {limit:?} ({sent} sent) from a client that never reads"
        );
        match c.s.write_all(&ping) {
            Ok(()) => sent += 1,
            // Blocked: the server stopped reading us (back-pressure). Keep trying until it
            // drops the connection.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

#[test]
fn ping_flood_from_a_client_that_never_reads_is_closed() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[("OPENCLAW_TICK_INTERVAL_MS", "200")],
        None,
    );
    let mut c = hello_raw(gw.port, cli_params("T", &["operator.read"]));
    flood_pings_until_closed(&mut c, Duration::from_secs(40));
    // Whatever was still buffered, the stream ends.
    c.s.set_write_timeout(None).expect("timeout");
    c.expect_eof();
}

#[test]
fn stuck_preauth_socket_is_closed_at_the_handshake_deadline() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[("OPENCLAW_HANDSHAKE_TIMEOUT_MS", "500")],
        None,
    );
    let mut c = RawWs::open(gw.port);
    // Never read (not even the challenge): the server's writes stall on pongs.
    flood_pings_until_closed(&mut c, Duration::from_secs(40));
    c.expect_eof();
    // Its pre-auth slot is free again: 32 new sockets are still admitted.
    let mut idle = Vec::new();
    for _ in 0..32 {
        let r = raw_upgrade(gw.port, &[]);
        assert_eq!(r.status, 101, "{r:?}");
        idle.push(r);
    }
}

#[test]
fn slow_consumer_is_closed_with_1008() {
    let gw = TestGateway::with_token("T");
    let mut c = hello_raw(gw.port, cli_params("T", &["operator.admin"]));
    // Each request is answered with `unknown method: <its 1 MiB name>`; we read none of
    // the answers, so more than maxBufferedBytes (50 MiB) pile up. The requests go out from
    // another thread, whole frames only, until all are sent or the socket fails: once the
    // gateway has closed us it reads and drops what we still send (bounded), so the sender
    // finishes, and only then do we read.
    // One frame, built once, sent 100 times: the sender is as fast as the socket.
    let name = "x".repeat(1024 * 1024);
    let req = json!({"type": "req", "id": "r", "method": name}).to_string();
    let frame = RawWs::frame_bytes(OP_TEXT, req.as_bytes());
    let mut tx = c.s.try_clone().expect("clone the socket");
    let sender = std::thread::spawn(move || {
        for i in 0..100 {
            if tx.write_all(&frame).is_err() {
                return i;
            }
        }
        100
    });
    let sent = sender.join().expect("the sender thread");
    assert_eq!(sent, 100, "the gateway stopped taking our frames");
    let (code, reason) = c.read_close();
    assert_eq!(code, Some(1008));
    assert_eq!(reason, "slow consumer");
    c.expect_eof();
}

#[actix_web::test]
async fn frames_over_64k_after_auth_are_answered_over_25mib_closed_1009() {
    let gw = TestGateway::with_token("T");
    let (mut c, hello) = WsClient::hello(gw.port, cli_params("T", &["operator.admin"])).await;
    assert_eq!(hello["policy"]["maxPayload"], 26_214_400);
    // 100 KiB: over the pre-auth limit, well under maxPayload.
    let name = "m".repeat(100 * 1024);
    let res = c.request(&name, json!({})).await;
    assert_eq!(
        error_of(&res)["message"],
        format!("unknown method: {name}").as_str()
    );
    // Just under 25 MiB is still fine.
    let pad = "p".repeat(25 * 1024 * 1024 - 200);
    let res = c.request("health", json!({"pad": pad})).await;
    assert_eq!(
        error_of(&res)["message"],
        "invalid health params: at root: unexpected property 'pad'"
    );
    // Over 25 MiB: 1009, no reason, no response.
    let big = format!(
        r#"{{"type":"req","id":"big","method":"health","params":{{"pad":"{}"}}}}"#,
        "p".repeat(25 * 1024 * 1024)
    );
    assert!(big.len() > 26_214_400);
    c.send_text(big).await;
    let (code, reason, before) = c.until_close().await;
    assert!(before.iter().all(|f| f["id"] != "big"), "{before:?}");
    assert_eq!(code, Some(1009));
    assert_eq!(reason, "");
}

#[actix_web::test]
async fn a_request_with_a_number_beyond_f64_is_answered_not_ignored() {
    // JSON.parse reads `1e400` as Infinity; serde_json refuses it. The client must still get
    // an answer under its id (fuzz finding), and the session stays usable.
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::hello(gw.port, cli_params("T", &["operator.admin"])).await;
    c.send_text(r#"{"type":"req","id":"inf","method":"health","params":{"x":1e400}}"#)
        .await;
    let res = c.response("inf").await;
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(error_of(&res)["code"], "INVALID_REQUEST", "{res}");
    let message = error_of(&res)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("invalid request frame: number out of range at line 1 column"),
        "{message}"
    );
    let res = c.request("health", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
}

#[actix_web::test]
async fn large_frames_for_a_forbidden_method_get_the_scope_error() {
    let gw = TestGateway::with_token("T");
    let (mut c, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    let params = json!({"nodeId": "n", "command": "x", "idempotencyKey": "k", "params": {"blob": "b".repeat(1024 * 1024)}});
    let res = c.request("node.invoke", params).await;
    assert_eq!(error_of(&res)["message"], "missing scope: operator.write");
    assert_eq!(error_of(&res)["details"]["code"], "MISSING_SCOPE");
    let res = c.request("health", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
}

#[actix_web::test]
async fn oversized_node_host_stats_are_refused_and_not_broadcast() {
    use crate::support::fake_node::{Action, FakeNode, always};
    let gw = TestGateway::with_token("T");
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.write", "operator.admin"]),
    )
    .await;
    let key = random_key();
    let node = FakeNode::connect(gw.port, &key, "T", &[], always(Action::Echo)).await;
    let big = json!({"cpuCount": 2, "junk": "j".repeat(64 * 1024)});
    for params in [
        json!({"event": "node.host.stats", "payloadJSON": big.to_string()}),
        json!({"event": "node.host.stats", "payload": big}),
    ] {
        let res = node.request("node.event", params).await;
        let err = error_of(&res);
        assert_eq!(err["code"], "INVALID_REQUEST", "{res}");
        let msg = err["message"].as_str().expect("message");
        assert!(
            msg.starts_with("invalid node.event params: node.host.stats payload too large ("),
            "{res}"
        );
        assert!(msg.ends_with(" bytes, max 16384)"), "{res}");
    }
    let res = op
        .request("node.describe", json!({"nodeId": node.node_id}))
        .await;
    assert!(res["payload"]["hostStats"].is_null(), "{res}");
    // A normal one is still taken.
    let res = node
        .request(
            "node.event",
            json!({"event": "node.host.stats", "payload": {"cpuCount": 2}}),
        )
        .await;
    assert_eq!(res["payload"]["handled"], true, "{res}");
}

// === item 3: Host, Origin and DNS rebinding ===

#[test]
fn rebinding_host_is_refused_on_a_loopback_gateway() {
    let gw = TestGateway::with_token("T");
    let p = gw.port;
    for host in [
        format!("evil.example:{p}"),
        format!("localhost.evil.example:{p}"),
        format!("192.168.1.5:{p}"),
    ] {
        let err = RawWs::open_as(p, &host, &[("Origin", &format!("http://{host}"))])
            .err()
            .unwrap_or_else(|| panic!("Host {host} was upgraded"));
        assert!(err.starts_with("HTTP/1.1 403"), "{host}: {err}");
        assert!(
            err.contains(r#""type":"host_not_allowed""#),
            "{host}: {err}"
        );
    }
    // Loopback names on any port (an SSH tunnel on another local port) are fine.
    for host in [
        format!("localhost:{p}"),
        format!("127.0.0.1:{p}"),
        format!("[::1]:{p}"),
        "127.0.0.1:28789".to_owned(),
    ] {
        let mut c = RawWs::open_as(p, &host, &[]).unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(c.read_json()["event"], "connect.challenge", "{host}");
    }
}

async fn origin_connect(port: u16, origin: &str, params: Value) -> Value {
    let mut c = WsClient::open_with(port, &[("Origin", origin)])
        .await
        .unwrap_or_else(|e| panic!("upgrade with Origin {origin} refused: {e}"));
    c.challenge().await;
    c.connect(params).await
}

#[actix_web::test]
async fn browser_origins_follow_the_spec() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(
            r#"{gateway: {auth: {token: "T"}, controlUi: {allowedOrigins: ["https://ui.example"]}}}"#,
        ),
    );
    let p = gw.port;
    let params = || cli_params("T", &["operator.read"]);
    for ok in [
        format!("http://127.0.0.1:{p}"),
        format!("http://localhost:{p}"),
        "https://ui.example".to_owned(),
    ] {
        let res = origin_connect(p, &ok, params()).await;
        assert_eq!(res["ok"], true, "{ok}: {res}");
    }
    for bad in [
        format!("http://evil.example:{p}"),
        "http://localhost:3000".to_owned(),
        "null".to_owned(),
        "http://ui.example".to_owned(),
    ] {
        let res = origin_connect(p, &bad, params()).await;
        let err = error_of(&res);
        assert_eq!(
            err["details"]["code"], "CONTROL_UI_ORIGIN_NOT_ALLOWED",
            "{bad}: {res}"
        );
    }
}

#[actix_web::test]
async fn browser_auth_failures_on_loopback_are_locked_out_by_origin() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T", rateLimit: {maxAttempts: 3}}}}"#),
    );
    let p = gw.port;
    let page = format!("http://127.0.0.1:{p}");
    for _ in 0..3 {
        let res = origin_connect(p, &page, cli_params("WRONG", &[])).await;
        assert_eq!(
            error_of(&res)["details"]["code"],
            "AUTH_TOKEN_MISMATCH",
            "{res}"
        );
    }
    // The page is locked out even with the right token (loopback is not exempt for it).
    let res = origin_connect(p, &page, cli_params("T", &[])).await;
    let err = error_of(&res);
    assert_eq!(err["details"]["code"], "AUTH_RATE_LIMITED", "{res}");
    assert_eq!(err["retryable"], true, "{res}");
    // Keyed by origin: another origin and the CLI on the same address are unaffected.
    let res = origin_connect(p, &format!("http://localhost:{p}"), cli_params("T", &[])).await;
    assert_eq!(res["ok"], true, "{res}");
    let (_cli, _) = WsClient::hello(p, cli_params("T", &["operator.read"])).await;
}

#[actix_web::test]
async fn a_browser_page_is_not_silently_paired_but_the_local_cli_is() {
    let gw = TestGateway::with_token("T");
    let p = gw.port;
    async fn device_connect(port: u16, origin: Option<&str>) -> Value {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        let mut c = WsClient::open_with(port, &headers).await.expect("upgrade");
        let ch = c.challenge().await;
        let nonce = ch["payload"]["nonce"].as_str().expect("nonce").to_owned();
        let mut params = connect_params("cli", "cli", &["operator.read"], json!({"token": "T"}));
        sign_device(&mut params, &random_key(), &nonce, now_ms(), Sig::V3);
        c.connect(params).await
    }
    let page = format!("http://127.0.0.1:{p}");
    let res = device_connect(p, Some(&page)).await;
    let err = error_of(&res);
    assert_eq!(err["code"], "NOT_PAIRED", "{res}");
    assert_eq!(err["details"]["code"], "PAIRING_REQUIRED", "{res}");
    // The same connect from the CLI (no Origin) is approved silently.
    let res = device_connect(p, None).await;
    assert_eq!(res["ok"], true, "{res}");
}

// === item 6: client address behind trusted proxies, limiter keying ===

async fn presence_ips(c: &mut WsClient) -> Vec<String> {
    let list = c.request("system-presence", json!({})).await;
    list["payload"]
        .as_array()
        .expect("system-presence is an array")
        .iter()
        .filter_map(|e| e["ip"].as_str().map(str::to_owned))
        .collect()
}

#[actix_web::test]
async fn forwarded_and_x_real_ip_from_a_trusted_cidr() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.0/8"]}}"#),
    );
    let p = gw.port;
    let (mut local, _) = WsClient::hello(p, cli_params("T", &["operator.read"])).await;
    let mut keep = Vec::new();
    for (headers, want) in [
        (
            vec![(
                "Forwarded",
                "for=198.51.100.1;proto=http, for=\"203.0.113.5:4711\"",
            )],
            "203.0.113.5",
        ),
        (vec![("X-Real-IP", "198.51.100.4")], "198.51.100.4"),
        (
            vec![
                ("X-Forwarded-For", "6.6.6.6, 198.51.100.9"),
                ("X-Real-IP", "198.51.100.9"),
            ],
            "198.51.100.9",
        ),
        // The proxy's own entry is garbage: the client is the proxy, not the 6.6.6.6 to its left.
        (vec![("X-Forwarded-For", "6.6.6.6, unknown")], "127.0.0.1"),
    ] {
        let mut c = WsClient::open_with(p, &headers).await.expect("upgrade");
        c.challenge().await;
        // A client listed in presence (a `cli` one is not, as in OpenClaw).
        let res = c
            .connect(connect_params(
                "test",
                "test",
                &["operator.read"],
                json!({"token": "T"}),
            ))
            .await;
        assert_eq!(res["ok"], true, "{headers:?}: {res}");
        // Proxied, so never local: a device-less client has no scopes.
        assert_eq!(
            res["payload"]["auth"]["scopes"],
            json!([]),
            "{headers:?}: {res}"
        );
        let ips = presence_ips(&mut local).await;
        assert!(
            ips.iter().any(|i| i == want),
            "{headers:?}: want {want} in {ips:?}"
        );
        keep.push(c);
    }
    // Headers naming different clients are refused.
    let r = raw_upgrade(
        p,
        &[
            ("X-Forwarded-For", "198.51.100.9"),
            ("X-Real-IP", "198.51.100.10"),
        ],
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body.contains(r#""type":"proxy_attribution_conflict""#),
        "{r:?}"
    );
}

async fn proxied_connect(port: u16, client: &str, token: &str) -> Value {
    let mut c = WsClient::open_with(port, &[("X-Forwarded-For", client)])
        .await
        .expect("upgrade through the trusted proxy");
    c.challenge().await;
    c.connect(cli_params(token, &[])).await
}

#[actix_web::test]
async fn proxied_loopback_clients_are_not_exempt_and_ipv6_is_keyed_on_64() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(
            r#"{gateway: {auth: {token: "T", rateLimit: {maxAttempts: 2}}, trustedProxies: ["127.0.0.1"]}}"#,
        ),
    );
    let p = gw.port;
    for client in ["127.0.0.1", "2001:db8:1:2::1"] {
        for _ in 0..2 {
            let res = proxied_connect(p, client, "WRONG").await;
            assert_eq!(
                error_of(&res)["details"]["code"],
                "AUTH_TOKEN_MISMATCH",
                "{res}"
            );
        }
    }
    // 127.0.0.1 named by a proxy is locked out (only a direct loopback peer is exempt).
    let res = proxied_connect(p, "127.0.0.1", "T").await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_RATE_LIMITED",
        "{res}"
    );
    // Another address in the same IPv6 /64 shares the lockout; another /64 does not.
    let res = proxied_connect(p, "2001:db8:1:2:ffff::9", "T").await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_RATE_LIMITED",
        "{res}"
    );
    let res = proxied_connect(p, "2001:db8:1:3::1", "T").await;
    assert_eq!(res["ok"], true, "{res}");
    // The direct loopback CLI is still exempt.
    let (_c, _) = WsClient::hello(p, cli_params("T", &["operator.read"])).await;
}

#[actix_web::test]
async fn device_token_failures_are_locked_out() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(
            r#"{gateway: {auth: {token: "T", rateLimit: {maxAttempts: 2}}, trustedProxies: ["127.0.0.1"]}}"#,
        ),
    );
    let key = random_key();
    let port = gw.port;
    let attempt = |token: &'static str| {
        let key = &key;
        async move {
            let mut c = WsClient::open_with(port, &[("X-Forwarded-For", "203.0.113.7")])
                .await
                .expect("upgrade");
            let ch = c.challenge().await;
            let nonce = ch["payload"]["nonce"].as_str().expect("nonce").to_owned();
            let mut params = connect_params(
                "cli",
                "cli",
                &["operator.read"],
                json!({"deviceToken": token}),
            );
            sign_device(&mut params, key, &nonce, now_ms(), Sig::V3);
            c.connect(params).await
        }
    };
    for _ in 0..2 {
        let res = attempt("not-a-token").await;
        assert_eq!(
            error_of(&res)["details"]["code"],
            "AUTH_DEVICE_TOKEN_MISMATCH",
            "{res}"
        );
    }
    let res = attempt("not-a-token").await;
    let err = error_of(&res);
    assert_eq!(err["details"]["code"], "AUTH_RATE_LIMITED", "{res}");
    assert!(err["retryAfterMs"].as_u64().is_some_and(|r| r > 0), "{res}");
}
