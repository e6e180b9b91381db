//! The client's floor: a "gateway" that does no work, for measuring what a bench client
//! itself costs. `scripts/side-by-side.sh` runs `bench.py latency` and `throughput` against
//! it next to the real OpenClaw and ours: no server can score better than this on the same
//! client and machine, so it shows which ratios the client caps, not the server.
//!
//! It speaks just enough of protocol v4 for those benches, on one thread, with nothing in
//! between the socket and a canned answer: the `101` and `connect.challenge` in one write,
//! then for each client text frame a `res` with the request's id (`hello-ok` for `connect`,
//! a `health`-sized payload otherwise), pong for ping, and close for close. No auth, no
//! state, no checks beyond framing: never point a real client at it.
//!
//! Run: `cargo bench --bench floor_server -- [--port P]` (default 0: an ephemeral port);
//! prints `listening on 127.0.0.1:PORT` and serves until killed. Loopback only.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_codec::{Decoder as _, Encoder as _};
use actix_http::ws;
use anyhow::{Context as _, Result, bail};
use bytes::BytesMut;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head or client frame accepted.
const MAX_IN: usize = 1 << 20;

fn main() -> Result<()> {
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => {
                port = args
                    .next()
                    .context("--port needs a value")?
                    .parse()
                    .context("--port: not a port number")?;
            }
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => bail!("unknown argument {other:?} (usage: floor_server [--port P])"),
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (sock, _) = listener.accept().await?;
            sock.set_nodelay(true)?;
            tokio::task::spawn_local(async move {
                if let Err(e) = serve(sock).await {
                    eprintln!("floor_server: connection ended: {e:#}");
                }
            });
        }
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

/// A `res` frame's JSON for request `id` (`hello-ok` for `connect`). Sizes match what the
/// gateways send (≈ 2 KB hello, ≈ 360 B health), so the client parses as much.
fn answer(id: &Value, method: &str) -> String {
    let payload = if method == "connect" {
        json!({
            "type": "hello-ok", "protocol": 4,
            "server": {"version": "floor", "connId": "floor", "host": "floor"},
            "features": {"methods": ["health", "status", "node.list", "node.invoke", "chat.send",
                                     "chat.history", "sessions.list", "send", "agent", "agent.wait"],
                         "events": ["tick", "presence", "shutdown", "agent", "chat", "health"]},
            "snapshot": {"presence": [{"host": "floor", "mode": "gateway", "reason": "self",
                                       "text": "Gateway: floor", "ts": now_ms()}],
                         "health": {"ok": true}, "stateVersion": {"presence": 1, "health": 1},
                         "uptimeMs": 0, "sessionDefaults": {"defaultAgentId": "main"}},
            "policy": {"maxPayload": 26_214_400, "maxBufferedBytes": 52_428_800,
                       "tickIntervalMs": 30_000},
            "padding": "x".repeat(1200),
        })
    } else {
        json!({
            "ok": true, "ts": now_ms(), "durationMs": 0, "defaultAgentId": "main",
            "agents": [], "channels": {}, "channelOrder": [], "channelLabels": {},
            "heartbeatSeconds": 0,
            "gateway": {"bind": "loopback", "port": 0, "uptimeMs": 0, "version": "floor"},
            "sessions": {"count": 0, "path": "/floor/agents/main/sessions/sessions.json",
                         "recent": []},
        })
    };
    json!({"type": "res", "id": id, "ok": true, "payload": payload}).to_string()
}

async fn serve(mut sock: TcpStream) -> Result<()> {
    let mut buf = BytesMut::with_capacity(4096);
    // The upgrade request.
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_IN {
            bail!("request head too long");
        }
        if sock.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("request head not UTF-8")?;
    let key = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_owned())
        })
        .context("no Sec-WebSocket-Key")?;
    let accept = actix_http::ws::hash_key(key.as_bytes());
    let mut out = BytesMut::with_capacity(4096);
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ");
    out.extend_from_slice(&accept);
    out.extend_from_slice(b"\r\n\r\n");
    // actix-http's frame codec (server side: client frames must be masked).
    let mut codec = ws::Codec::new().max_size(MAX_IN);
    let challenge = json!({"type": "event", "event": "connect.challenge",
                           "payload": {"nonce": "00000000-0000-4000-8000-000000000000", "ts": now_ms()}});
    codec.encode(ws::Message::Text(challenge.to_string().into()), &mut out)?;
    sock.write_all(&out).await?;
    let _ = buf.split_to(head_end);

    loop {
        // Answer every complete frame in the buffer with one write.
        out.clear();
        let mut closing = false;
        while let Some(frame) = codec.decode(&mut buf)? {
            let reply = match frame {
                ws::Frame::Text(text) => {
                    let req: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
                    let method = req["method"].as_str().unwrap_or("");
                    ws::Message::Text(answer(&req["id"], method).into())
                }
                ws::Frame::Ping(p) => ws::Message::Pong(p),
                ws::Frame::Close(reason) => {
                    closing = true;
                    ws::Message::Close(reason)
                }
                _ => continue,
            };
            codec.encode(reply, &mut out)?;
            if closing {
                break;
            }
        }
        if !out.is_empty() {
            sock.write_all(&out).await?;
        }
        if closing {
            sock.shutdown().await?;
            return Ok(());
        }
        if sock.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}
