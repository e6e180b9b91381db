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
//! It also relays `node.invoke` like a gateway does, with no policy and no bookkeeping beyond
//! the call's id, so `load_bench --port P --pid PID` can measure the invoke floor too: the
//! first `role: "node"` connection is the node (its `hello-ok` carries a device token), an
//! operator's `node.invoke` becomes a `node.invoke.request` event to it, and the node's
//! `node.invoke.result` becomes the operator's `res`. `node.pair.list` shows that node as
//! pending, so the bench's approval step passes.
//!
//! `--actix-server` serves through actix-server (its accept thread hands each socket to one
//! worker thread) instead of accepting on the serving thread: the difference is what that
//! hand-off costs every connection of a server built on actix-server.
//!
//! Run: `cargo bench --bench floor_server -- [--port P] [--actix-server]` (default port 0: an
//! ephemeral port); prints `listening on 127.0.0.1:PORT` and serves until killed. Loopback
//! only.

use std::cell::RefCell;
use std::collections::HashMap;
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
    let mut actix_server = false;
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
            "--actix-server" => actix_server = true,
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => bail!(
                "unknown argument {other:?} (usage: floor_server [--port P] [--actix-server])"
            ),
        }
    }
    if actix_server {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        println!("listening on {} (actix-server)", listener.local_addr()?);
        // One worker: the relay's state is per thread.
        return actix_web::rt::System::new().block_on(async move {
            actix_web::dev::Server::build()
                .workers(1)
                .disable_signals()
                .listen("floor", listener, || {
                    actix_service::fn_service(|sock: TcpStream| async move {
                        sock.set_nodelay(true)?;
                        serve_logged(sock).await;
                        Ok::<_, std::io::Error>(())
                    })
                })?
                .run()
                .await?;
            Ok(())
        });
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
            tokio::task::spawn_local(serve_logged(sock));
        }
    })
}

async fn serve_logged(sock: TcpStream) {
    if let Err(e) = serve(sock).await {
        eprintln!("floor_server: connection ended: {e:#}");
    }
}

/// The relay's state (one per serving thread): the connections' outboxes, the node and the
/// calls in flight.
#[derive(Default)]
struct Relay {
    next_conn: u64,
    next_call: u64,
    outboxes: HashMap<u64, tokio::sync::mpsc::UnboundedSender<String>>,
    /// The node's connection and id.
    node: Option<(u64, String)>,
    /// Invoke id → the operator's connection and request id.
    calls: HashMap<String, (u64, Value)>,
}

thread_local! {
    static RELAY: RefCell<Relay> = RefCell::new(Relay::default());
}

/// Leaves the relay when the connection ends.
struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        RELAY.with_borrow_mut(|r| {
            r.outboxes.remove(&self.0);
            if r.node.as_ref().is_some_and(|(c, _)| *c == self.0) {
                r.node = None;
            }
            r.calls.retain(|_, (c, _)| *c != self.0);
        });
    }
}

/// The answer to client text frame `text` from connection `conn`, if it gets one.
fn on_text(conn: u64, text: &[u8]) -> Option<String> {
    let req: Value = serde_json::from_slice(text).unwrap_or(Value::Null);
    let id = &req["id"];
    let params = &req["params"];
    match req["method"].as_str().unwrap_or("") {
        "connect" if params["role"] == "node" => {
            let node_id = params["device"]["id"].as_str().unwrap_or("floor-node");
            RELAY.with_borrow_mut(|r| r.node = Some((conn, node_id.to_owned())));
            Some(answer(id, "connect-node"))
        }
        "node.pair.list" => {
            let node_id = RELAY.with_borrow(|r| r.node.as_ref().map(|(_, n)| n.clone()));
            let pending: Vec<Value> = node_id
                .into_iter()
                .map(|n| json!({"nodeId": n, "requestId": "floor"}))
                .collect();
            Some(res(id, json!({"pending": pending, "paired": []})))
        }
        "node.invoke" => RELAY.with_borrow_mut(|r| {
            let unavailable = || {
                json!({"type": "res", "id": id, "ok": false,
                       "error": {"code": "UNAVAILABLE", "message": "no node connected"}})
                .to_string()
            };
            let Some((node_conn, node_id)) = r.node.clone() else {
                return Some(unavailable());
            };
            r.next_call += 1;
            let call = format!("00000000-0000-4000-8000-{:012x}", r.next_call);
            let command = params["command"].as_str().unwrap_or("");
            let event = json!({"type": "event", "event": "node.invoke.request", "payload": {
                "command": command, "id": call,
                "idempotencyKey": params["idempotencyKey"], "nodeId": node_id,
                "paramsJSON": params.get("params").map(Value::to_string),
                "timeoutMs": params["timeoutMs"]}});
            let sent = r
                .outboxes
                .get(&node_conn)
                .is_some_and(|tx| tx.send(event.to_string()).is_ok());
            if !sent {
                return Some(unavailable());
            }
            r.calls.insert(call, (conn, id.clone()));
            None
        }),
        "node.invoke.result" => {
            let call = params["id"].as_str().unwrap_or("");
            if let Some((op, op_id)) = RELAY.with_borrow_mut(|r| r.calls.remove(call)) {
                let payload = params["payloadJSON"]
                    .as_str()
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .unwrap_or(Value::Null);
                let out = res(
                    &op_id,
                    json!({"ok": true, "nodeId": params["nodeId"],
                    "command": "system.which", "payload": payload,
                    "payloadJSON": params["payloadJSON"]}),
                );
                RELAY.with_borrow(|r| r.outboxes.get(&op).map(|tx| tx.send(out)));
            }
            Some(res(id, json!({"ok": true})))
        }
        method => Some(answer(id, method)),
    }
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
    let payload = if method == "connect" || method == "connect-node" {
        let mut hello = json!({
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
        });
        if method == "connect-node" {
            hello["auth"] = json!({"deviceToken": "floor", "role": "node", "scopes": []});
        }
        hello
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
    res(id, payload)
}

fn res(id: &Value, payload: Value) -> String {
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
    out.clear();
    let _ = buf.split_to(head_end);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let conn = RELAY.with_borrow_mut(|r| {
        r.next_conn += 1;
        r.outboxes.insert(r.next_conn, tx);
        r.next_conn
    });
    let _registered = Registered(conn);
    loop {
        // Answer every complete frame in the buffer, and send what other connections
        // relayed here, with one write (`out` may already hold a relayed frame).
        let mut closing = false;
        while let Some(frame) = codec.decode(&mut buf)? {
            let reply = match frame {
                ws::Frame::Text(text) => match on_text(conn, &text) {
                    Some(answer) => ws::Message::Text(answer.into()),
                    None => continue,
                },
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
        while !closing && let Ok(relayed) = rx.try_recv() {
            codec.encode(ws::Message::Text(relayed.into()), &mut out)?;
        }
        if !out.is_empty() {
            sock.write_all(&out).await?;
            out.clear();
        }
        if closing {
            sock.shutdown().await?;
            return Ok(());
        }
        tokio::select! {
            n = sock.read_buf(&mut buf) => {
                if n? == 0 {
                    return Ok(());
                }
            }
            Some(relayed) = rx.recv() => {
                codec.encode(ws::Message::Text(relayed.into()), &mut out)?;
            }
        }
    }
}
