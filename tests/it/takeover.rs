//! The WebSocket takeover (`src/http/takeover.rs`): after the `101` the session owns the
//! socket. What a client can see of that: bytes sent right behind the upgrade request are not
//! lost, every other answer to an upgrade request closes the connection, and a WebSocket
//! costs the gateway one file descriptor (no duplicate kept for the hard close).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use serde_json::{Value, json};

use crate::support::{TestGateway, WAIT, cli_params, masked_frame};

const OP_TEXT: u8 = 0x1;

/// Reads one unmasked server frame from `buf`/`s`: (opcode, payload).
fn read_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> (u8, Vec<u8>) {
    loop {
        if buf.len() >= 2 {
            let len7 = usize::from(buf[1] & 0x7f);
            let (len, off) = match len7 {
                126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
                127 if buf.len() >= 10 => {
                    let mut l = [0u8; 8];
                    l.copy_from_slice(&buf[2..10]);
                    (
                        usize::try_from(u64::from_be_bytes(l)).expect("frame size"),
                        10,
                    )
                }
                126 | 127 => (usize::MAX, 0),
                n => (n, 2),
            };
            if len != usize::MAX && buf.len() >= off + len {
                let op = buf[0] & 0x0f;
                let payload = buf[off..off + len].to_vec();
                buf.drain(..off + len);
                return (op, payload);
            }
        }
        let mut chunk = [0u8; 8192];
        let n = s.read(&mut chunk).expect("read a frame");
        assert!(n > 0, "the gateway closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn read_json(s: &mut TcpStream, buf: &mut Vec<u8>) -> Value {
    let (op, payload) = read_frame(s, buf);
    assert_eq!(op, OP_TEXT, "a text frame");
    serde_json::from_slice(&payload).expect("a JSON frame")
}

/// Sends `bytes` and reads the HTTP response head; returns it and what followed it.
fn send_upgrade(port: u16, tail: &[u8]) -> (TcpStream, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut req = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    req.extend_from_slice(tail);
    // One write: the frames arrive in the same segment as the request.
    s.write_all(&req).expect("send");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i + 4]).into_owned();
            let rest = buf[i + 4..].to_vec();
            return (s, head, rest);
        }
        let n = s.read(&mut chunk).expect("read the response head");
        assert!(n > 0, "closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A client that writes its `connect` (and a request) in the same packet as the upgrade
/// request is served: the bytes the HTTP layer had already read reach the session.
#[test]
fn frames_sent_behind_the_upgrade_request_are_not_lost() {
    let gw = TestGateway::with_token("T");
    let connect = json!({"type": "req", "id": "c1", "method": "connect", "params": cli_params("T", &["operator.read"])});
    let health = json!({"type": "req", "id": "h1", "method": "health", "params": {}});
    let mut tail = masked_frame(OP_TEXT, connect.to_string().as_bytes());
    tail.extend(masked_frame(OP_TEXT, health.to_string().as_bytes()));
    let (mut s, head, mut rest) = send_upgrade(gw.port, &tail);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let challenge = read_json(&mut s, &mut rest);
    assert_eq!(challenge["event"], "connect.challenge", "{challenge}");
    let hello = read_json(&mut s, &mut rest);
    assert_eq!(hello["id"], "c1", "{hello}");
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(hello["payload"]["type"], "hello-ok", "{hello}");
    let res = read_json(&mut s, &mut rest);
    assert_eq!(res["id"], "h1", "{res}");
    assert_eq!(res["ok"], true, "{res}");
}

/// Answers to upgrade requests that are not taken over (a probe, a malformed handshake, a
/// refused Host) are complete HTTP responses, and the connection is closed after them.
#[test]
fn other_answers_to_upgrade_requests_are_whole_and_close_the_connection() {
    let gw = TestGateway::with_token("T");
    let cases: [(&str, &str, &str); 3] = [
        (
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "HTTP/1.1 200 ",
            "\"status\":\"live\"",
        ),
        (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            "HTTP/1.1 426 ",
            "",
        ),
        (
            "GET / HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            "HTTP/1.1 403 ",
            "host_not_allowed",
        ),
    ];
    for (req, status, body) in cases {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("read timeout");
        s.write_all(req.as_bytes()).expect("send");
        // Everything up to EOF: the gateway closes once the answer is out.
        let mut all = Vec::new();
        s.read_to_end(&mut all).expect("the answer, then EOF");
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with(status), "{req:?} → {text}");
        assert!(
            text.to_ascii_lowercase().contains("\r\nconnection: close"),
            "{text}"
        );
        let (head, got) = text.split_once("\r\n\r\n").expect("a head");
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("a content-length in {head}"));
        assert_eq!(got.len(), len, "a whole body: {text}");
        assert!(got.contains(body), "{text}");
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Each open WebSocket costs the gateway one descriptor (its socket), not two: no
/// duplicate is kept for closing a peer that stops reading. Measured as the difference
/// between 20 and 40 open WebSockets, so whatever the gateway opens once (logs, state
/// files) does not count.
#[test]
fn a_websocket_holds_one_file_descriptor() {
    let gw = TestGateway::with_token("T");
    let pid = gw.pid();
    // Authenticated, so they do not count against the 32 handshakes allowed per address.
    let connect = json!({"type": "req", "id": "c1", "method": "connect", "params": cli_params("T", &["operator.read"])});
    let tail = masked_frame(OP_TEXT, connect.to_string().as_bytes());
    let open = |n: usize, held: &mut Vec<TcpStream>| {
        for _ in 0..n {
            let (mut s, head, mut rest) = send_upgrade(gw.port, &tail);
            assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
            let challenge = read_json(&mut s, &mut rest);
            assert_eq!(challenge["event"], "connect.challenge");
            let hello = read_json(&mut s, &mut rest);
            assert_eq!(hello["ok"], true, "{hello}");
            held.push(s);
        }
    };
    let mut held = Vec::new();
    open(20, &mut held);
    let at_20 = open_fds(pid);
    open(20, &mut held);
    let at_40 = open_fds(pid);
    assert!(
        (20..=22).contains(&at_40.saturating_sub(at_20)),
        "20 more WebSockets: {at_20} → {at_40} descriptors"
    );
    drop(held);
    // The gateway closes its side once the peers are gone (within milliseconds: poll).
    let deadline = Instant::now() + WAIT;
    while open_fds(pid) > at_20 - 20 + 2 {
        assert!(
            Instant::now() < deadline,
            "descriptors not released: {} (with 20 open: {at_20})",
            open_fds(pid)
        );
        std::thread::yield_now();
    }
}

/// A stranger's malformed requests are the stranger's fault: they do not write ERROR lines
/// into the gateway's log (actix-http logs each one as an error otherwise), and the gateway
/// keeps serving.
#[test]
fn malformed_requests_do_not_write_errors_into_the_log() {
    let gw = TestGateway::with_token("T");
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n"[..],
        b"\x00\x01\x02 garbage \xff\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: \x7f\x00\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("read timeout");
        s.write_all(junk).expect("send");
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let text = String::from_utf8_lossy(&all);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 400 "),
            "{text}"
        );
    }
    // Served after them; then nothing the junk caused is in the log.
    let (mut s, head, mut rest) = send_upgrade(gw.port, &[]);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(read_json(&mut s, &mut rest)["event"], "connect.challenge");
    let log = gw.stderr();
    assert!(!log.contains("ERROR"), "{log}");
    assert!(!log.contains("parse error"), "{log}");
}
