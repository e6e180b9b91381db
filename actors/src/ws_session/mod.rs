//! # `WsSession` — one actor per WebSocket connection
//!
//! Not built on the deprecated `actix-web-actors`, nor on `actix-ws`: once the HTTP layer has
//! answered the upgrade it hands the session the raw socket (see [`serve_socket`]), so an
//! idle connection keeps no HTTP dispatcher and no buffers. The socket's outbound half is a
//! writer future ([`transport`]) that drains this actor's byte-bounded queue, so the actor
//! keeps running (timers, mailbox) even when a client stops reading, and can close a slow
//! consumer at `maxBufferedBytes`. The inbound half is [`ClientFrames`], a frame decoder
//! reading the socket, whose size limit the actor raises from 64 KiB to `maxPayload` once the
//! client has authenticated.
//!
//! Lifecycle: `connect.challenge` on start → the first frame must be `connect` → protocol,
//! role, origin, shared-secret (with the [`Registry`]'s limiter), device rules → `hello-ok`
//! → request dispatch and `tick` events every `tickIntervalMs`. Until the registry needs to
//! know the session (the slow hello path's first request about itself) the session is only
//! in the engine's shared [`Untracked`] set (`untracked.rs`); a deviceless operator that
//! presence does not list (the CLI's one-call connections) stays there for its whole life.
//!
//! Layout: this file holds the actor (state, lifecycle, frame routing, tick, messages);
//! `transport.rs` the frame decoder and the writer queue (pings, pongs, close);
//! `handshake.rs` everything from `connect` to `hello-ok`; `peer.rs` the connection's
//! origin facts; `methods/` the method table (each RPC method's name, access and handler,
//! grouped by area) and the dispatcher that checks access and calls them.
//!
//! Messages: the inbound frame stream, [`SendEvent`], [`SendTargeted`], [`CloseSession`].

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::{Frame, ProtocolError};
use bytes::{Bytes, BytesMut};
use serde::Serialize;

use crate::engine::{Engine, Shared};
use crate::node_session::NodeSession;
use crate::protocol::error::ErrorShape;
use crate::protocol::frame::{self, Inbound, StateVersion};
use crate::protocol::role::Role;
use crate::protocol::{MAX_PENDING_HANDSHAKE_FRAMES, MAX_PREAUTH_PAYLOAD_BYTES, close};
use crate::registry::{Opening, Registry, SessionClosed, SessionOpened};
use crate::util::now_ms;

mod handshake;
mod methods;
mod peer;
mod transport;
mod untracked;

pub use methods::{
    MAX_HOST_STATS_BYTES, RESTART_WAIT_MS, method_access, method_names, parse_system_event,
    parse_talk_mode,
};
pub use peer::{PeerInfo, TailscaleIdentity};
pub use transport::{CLOSE_GRACE, ClientFrames, OutState, SharedIo, Sock, SockIo};
use transport::{Outbound, Push};
pub use untracked::{Untracked, UntrackedCounts};

/// Events dropped (not queued) for a session whose outbound queue is over
/// [`SLOW_QUEUE_BYTES`].
const DROP_IF_SLOW: &[&str] = &[
    "presence",
    "talk.mode",
    "health",
    "node.hostStats",
    "heartbeat",
    "voicewake.changed",
];
/// Queue depth above which snapshot events are dropped.
const SLOW_QUEUE_BYTES: usize = 256 * 1024;

/// How long a client has to answer a ping (after the tick that sent it).
const PONG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(25);

/// Events this gateway emits (advertised in `hello-ok.features.events`).
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "presence",
    "shutdown",
    "node.invoke.request",
    "node.hostStats",
    "node.pair.requested",
    "node.pair.resolved",
    "device.pair.requested",
    "device.pair.resolved",
    "device.pair.setup.completed",
    "device.pair.changed",
    "chat",
    "agent",
    "sessions.changed",
    "session.message",
    "voicewake.changed",
    "voicewake.routing.changed",
    "talk.mode",
];

// === the actor ===

/// Handshake progress.
enum Phase {
    /// Waiting for the `connect` request.
    AwaitConnect,
    /// `connect` received; auth in flight. Further frames are queued (at most 15).
    Authenticating { pending: VecDeque<String> },
    /// Authenticated.
    Ready(Box<ReadyState>),
    /// Closing; frames are ignored.
    Closing,
}

/// What an authenticated session is allowed to do.
struct ReadyState {
    role: Role,
    scopes: Vec<String>,
    /// Set for nodes.
    node_id: Option<String>,
    /// The verified device id, if the client presented one.
    device_id: Option<String>,
    /// The device whose own credential (device token or setup code) authenticated the
    /// session (`None`: the shared secret did): device management is limited to it
    /// without `operator.admin`.
    credential_device: Option<String>,
}

/// One WebSocket connection.
pub struct WsSession {
    /// Connection id (`hello-ok.server.connId`).
    conn_id: String,
    /// Engine facts and config.
    shared: Arc<Shared>,
    /// The registry.
    registry: Addr<Registry>,
    /// Where the client connects from.
    peer: PeerInfo,
    /// Outbound queue.
    out: Outbound,
    /// Inbound frame size limit shared with [`ClientFrames`].
    limit: Rc<Cell<usize>>,
    /// The challenge nonce sent on open.
    nonce: String,
    /// Per-connection event sequence (broadcast events only).
    seq: u64,
    /// Handshake progress.
    phase: Phase,
    /// Last frame received from the client (liveness).
    last_seen: Instant,
    /// The node's session actor, for `role: node` connections.
    node: Option<Addr<NodeSession>>,
    /// The shared secret matched; the lockout check is done at registration.
    defer_lockout: bool,
    /// Node sessions this operator invoked recently (see `invoke_node`).
    node_cache: std::collections::HashMap<String, Addr<NodeSession>>,
    /// The client is WebChat (`client.mode` `webchat` or `client.id` `webchat-ui`, as
    /// OpenClaw's `isWebchatClient`): `talk.mode` needs a Talk-capable node for it.
    webchat: bool,
    /// The pre-auth slot this socket holds (per client address and in all), until the
    /// session is authenticated or gone. The session gives it back itself, at `hello-ok`:
    /// a client must be able to open its next socket as soon as it has its `hello-ok`.
    preauth: Option<std::net::IpAddr>,
    /// This session's entry in [`Shared::untracked`] while the registry does not track
    /// it (see [`untracked`]).
    ticket: Option<u64>,
    /// The registry tracks this session (it was sent `SessionOpened`): it must be told when
    /// the session ends.
    registered: bool,
}

impl WsSession {
    /// Makes sure the registry tracks this session before it sends it a request about
    /// this connection (the slow hello path: device pairing, nodes, presence).
    fn register(&mut self, ctx: &Context<Self>) {
        if std::mem::replace(&mut self.registered, true) {
            return;
        }
        self.registry.do_send(SessionOpened {
            conn_id: self.conn_id.clone(),
            open: Opening {
                addr: ctx.address(),
                ticket: self.ticket,
            },
        });
    }

    /// Gives the pre-auth slot back (once).
    fn release_preauth(&mut self) {
        if let Some(ip) = self.preauth.take() {
            self.shared.preauth.release(ip);
        }
    }
}

impl Drop for WsSession {
    fn drop(&mut self) {
        self.release_preauth();
        if let Some(t) = self.ticket.take() {
            self.shared.untracked.leave(t);
        }
    }
}

/// Starts the session of an upgraded connection. The HTTP layer has already admitted the
/// peer (pre-auth socket cap) and worked out [`PeerInfo`]; `io` is the socket, `read` what
/// the client sent right behind its upgrade request, and `preamble` the encoded `101`
/// answer, which goes out in the same write as the `connect.challenge` (one wake-up of the
/// client instead of two). Returns the connection's writer, which the caller runs for the
/// life of the connection: it ends once the socket is closed.
pub fn serve_socket(
    io: SharedIo,
    read: BytesMut,
    preamble: Bytes,
    engine: &Engine,
    peer: PeerInfo,
) -> impl Future<Output = ()> + use<> {
    let limit = Rc::new(Cell::new(MAX_PREAUTH_PAYLOAD_BYTES));
    let state = Rc::new(OutState::with_read(read, preamble));
    let frames = ClientFrames::new(io.clone(), limit.clone(), state.clone());
    let out = Outbound::new(engine.shared.config.max_buffered_bytes, state.clone());
    let shared = engine.shared.clone();
    let registry = engine.registry.clone();
    let linger = shared.config.close_linger;
    let peer_ip = peer.ip;
    // The connection id and the challenge nonce: two v4 UUIDs from one `getrandom`.
    let [conn_id, nonce] = crate::util::random_uuid_pair();
    WsSession::create(move |ctx| {
        ctx.add_stream(frames);
        WsSession {
            conn_id,
            shared,
            registry,
            peer,
            out,
            limit,
            nonce,
            seq: 0,
            phase: Phase::AwaitConnect,
            last_seen: Instant::now(),
            node: None,
            defer_lockout: false,
            node_cache: std::collections::HashMap::new(),
            webchat: false,
            preauth: Some(peer_ip),
            ticket: None,
            registered: false,
        }
    });
    transport::drive(io, state, linger)
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
        // Known to the registry only once it needs to be (see `untracked`).
        self.ticket = self.shared.untracked.enter(ctx.address());
        let challenge = Challenge {
            nonce: &self.nonce,
            ts: now_ms(),
        };
        // Serializing a string and an integer cannot fail; were it to, the frame stays JSON.
        let payload = serde_json::to_string(&challenge).unwrap_or_else(|_| "{}".to_owned());
        self.send_raw(frame::event("connect.challenge", &payload, None, None), ctx);
        if self.ticket.is_none() {
            // The gateway is shutting down.
            self.close(close::SERVICE_RESTART, "service restart", ctx);
            return;
        }
        ctx.run_later(self.shared.config.handshake_timeout, |act, ctx| {
            if !matches!(act.phase, Phase::Ready(_)) {
                log::debug!("conn {}: handshake timeout", act.conn_id);
                crate::metrics::METRICS
                    .handshake_failed_as(crate::metrics::HandshakeFailure::Timeout);
                act.close(close::NORMAL, "", ctx);
            }
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        if self.registered {
            self.registry.do_send(SessionClosed {
                conn_id: self.conn_id.clone(),
            });
        }
        if let Some(t) = self.ticket.take() {
            self.shared.untracked.leave(t);
        }
        Running::Stop
    }
}

/// The `connect.challenge` payload.
#[derive(Serialize)]
struct Challenge<'a> {
    /// The nonce a device signs.
    nonce: &'a str,
    /// When it was issued (ms since the epoch).
    ts: u64,
}

impl WsSession {
    /// Queues a frame; closes the session as a slow consumer when the queue is full.
    fn send_raw(&mut self, text: String, ctx: &mut Context<Self>) {
        let pushed = self.out.push_text(text);
        self.after_push(pushed, ctx);
    }

    fn after_push(&mut self, pushed: Push, ctx: &mut Context<Self>) {
        match pushed {
            Push::Ok => {}
            Push::Full => {
                crate::metrics::METRICS.outbound_drops.inc();
                self.slow_consumer(ctx);
            }
            Push::Gone => {
                self.phase = Phase::Closing;
                ctx.stop();
            }
        }
    }

    /// The client is not reading: drop what is queued, send 1008 `slow consumer` next, and
    /// drop the socket if even that cannot be written within the close grace.
    fn slow_consumer(&mut self, ctx: &mut Context<Self>) {
        if matches!(self.phase, Phase::Closing) {
            return;
        }
        crate::metrics::METRICS.outbound_closes.inc();
        crate::stability::record(
            crate::stability::Record::of("payload.large")
                .surface("gateway.ws.outbound_buffer")
                .action("rejected")
                .bytes(self.out.queued() as u64)
                .limit_bytes(self.out.max() as u64)
                .reason("ws_send_buffer_close")
                .repeated(),
        );
        log::warn!("conn {}: slow consumer, closing", self.conn_id);
        self.phase = Phase::Closing;
        self.out.close(close::POLICY, "slow consumer", true);
        ctx.stop();
    }

    fn respond_ok<T: serde::Serialize + ?Sized>(
        &mut self,
        id: &str,
        payload: &T,
        ctx: &mut Context<Self>,
    ) {
        self.send_raw(frame::response_ok(id, payload), ctx);
    }

    fn respond_err(&mut self, id: &str, err: &ErrorShape, ctx: &mut Context<Self>) {
        self.send_raw(frame::response_err(id, err), ctx);
    }

    fn close(&mut self, code: u16, reason: &str, ctx: &mut Context<Self>) {
        if matches!(self.phase, Phase::Closing) {
            return;
        }
        self.phase = Phase::Closing;
        self.out.close(code, reason, false);
        ctx.stop();
    }

    /// Answers a handshake request with `err` and closes with `code` and the message.
    fn fail_handshake(&mut self, id: &str, err: ErrorShape, code: u16, ctx: &mut Context<Self>) {
        crate::metrics::METRICS.handshake_failed(&err);
        let reason = err.message.clone();
        self.respond_err(id, &err, ctx);
        self.close(code, &reason, ctx);
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        match &mut self.phase {
            Phase::Closing => {}
            Phase::Authenticating { pending } => {
                if pending.len() >= MAX_PENDING_HANDSHAKE_FRAMES {
                    self.close(close::POLICY, "too many pending handshake frames", ctx);
                } else {
                    pending.push_back(text.to_owned());
                }
            }
            Phase::AwaitConnect => match frame::parse_inbound(text) {
                Inbound::NotJson => self.close(close::NORMAL, "", ctx),
                Inbound::NotRequest | Inbound::BadRequest { .. } => {
                    self.close(close::POLICY, "invalid request frame", ctx);
                }
                Inbound::Request(req) if req.method != "connect" => self.fail_handshake(
                    &req.id,
                    ErrorShape::invalid("invalid handshake: first request must be connect"),
                    close::POLICY,
                    ctx,
                ),
                Inbound::Request(req) => self.on_connect(req, ctx),
            },
            Phase::Ready(state) => {
                // A large frame: check the method against the role and scopes before
                // building its params.
                if text.len() > MAX_PREAUTH_PAYLOAD_BYTES
                    && let Some((id, method)) = frame::peek_request(text)
                    && let Some(err) =
                        methods::access_denied(state, &method, methods::access_of(&method))
                {
                    return self.respond_err(&id, &err, ctx);
                }
                self.on_ready_text(text, ctx);
            }
        }
    }

    fn on_ready_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        match frame::parse_inbound(text) {
            // Invalid JSON and non-request frames after the handshake are ignored, as
            // the real gateway does.
            Inbound::NotJson | Inbound::NotRequest => {}
            Inbound::BadRequest { id, message } => {
                self.respond_err(&id, &ErrorShape::invalid(message), ctx);
            }
            Inbound::Request(req) => self.dispatch(req, ctx),
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        // Liveness: every client answers WebSocket pings; one silent for a full tick
        // interval plus the 25 s pong allowance is gone.
        let allowance = self.shared.config.tick_interval + PONG_TIMEOUT;
        if self.last_seen.elapsed() > allowance {
            log::debug!(
                "conn {}: no traffic or pong for {allowance:?}; closing",
                self.conn_id
            );
            return self.close(close::NORMAL, "", ctx);
        }
        // A pong still unsent after a whole tick interval: the client is not reading.
        if self
            .out
            .pong_waiting()
            .is_some_and(|w| w >= self.shared.config.tick_interval)
        {
            return self.slow_consumer(ctx);
        }
        let pushed = self.out.push_ping();
        self.after_push(pushed, ctx);
        if matches!(self.phase, Phase::Closing) {
            return;
        }
        let seq = self.next_seq();
        let payload = format!("{{\"ts\":{}}}", now_ms());
        self.send_raw(frame::event("tick", &payload, Some(seq), None), ctx);
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for WsSession {
    fn handle(&mut self, item: Result<Frame, ProtocolError>, ctx: &mut Self::Context) {
        self.last_seen = Instant::now();
        match item {
            Ok(Frame::Text(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => self.close(1007, "invalid utf-8", ctx),
            },
            Ok(Frame::Binary(_)) => {
                if !matches!(self.phase, Phase::Ready(_)) {
                    self.close(close::NORMAL, "", ctx);
                }
            }
            Ok(Frame::Ping(b)) => {
                let pushed = self.out.push_pong(b);
                self.after_push(pushed, ctx);
            }
            Ok(Frame::Pong(_)) => {}
            Ok(Frame::Close(_)) => {
                // Echo the close (a no-op when we closed first); the close task shuts TCP
                // down once the echo is written.
                self.out.state.peer_closed.set(true);
                self.close(close::NORMAL, "", ctx);
            }
            Ok(Frame::Continuation(_)) => {
                self.close(
                    close::UNSUPPORTED,
                    "fragmented frames are not supported",
                    ctx,
                );
            }
            Err(ProtocolError::Overflow) => {
                // Before `connect` the limit is the small pre-auth one.
                let (surface, reason) = if matches!(self.phase, Phase::Ready(_)) {
                    ("gateway.ws.frame", "ws_frame_limit")
                } else {
                    ("gateway.ws.preauth", "preauth_frame_limit")
                };
                crate::stability::record(
                    crate::stability::Record::of("payload.large")
                        .surface(surface)
                        .action("rejected")
                        .limit_bytes(self.limit.get() as u64)
                        .reason(reason)
                        .repeated(),
                );
                self.close(close::TOO_BIG, "", ctx)
            }
            Err(e) => {
                log::debug!("conn {}: protocol error: {e}", self.conn_id);
                self.close(close::POLICY, "protocol error", ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.phase = Phase::Closing;
        ctx.stop();
    }
}

/// Sent by the [`Registry`] to fan out a broadcast event; the session adds its own `seq`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendEvent {
    /// Event name.
    pub event: Arc<str>,
    /// Serialized payload, shared by all recipients.
    pub payload: Arc<str>,
    /// `stateVersion` to attach, for `presence` and `health`.
    pub state_version: Option<StateVersion>,
}

impl Handler<SendEvent> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: SendEvent, ctx: &mut Self::Context) {
        if !matches!(self.phase, Phase::Ready(_)) {
            return;
        }
        // Snapshot-style events are dropped for a client that is not keeping up: the next
        // one supersedes them, and queueing them would only grow our memory. As in OpenClaw
        // a dropped event still takes its `seq`, so the client sees the gap.
        let seq = self.next_seq();
        if DROP_IF_SLOW.contains(&&*msg.event) && self.out.queued() > SLOW_QUEUE_BYTES {
            return;
        }
        let text = frame::event(&msg.event, &msg.payload, Some(seq), msg.state_version);
        self.send_raw(text, ctx);
    }
}

/// Sent by a [`NodeSession`] or the [`Registry`] to push an event to this one connection
/// (`node.invoke.request`, `node.pair.resolved`): no `seq`, not scope-filtered.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendTargeted {
    /// Event name.
    pub event: &'static str,
    /// Serialized payload.
    pub payload: String,
}

impl Handler<SendTargeted> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: SendTargeted, ctx: &mut Self::Context) {
        if !matches!(self.phase, Phase::Ready(_)) {
            return;
        }
        let text = frame::event(msg.event, &msg.payload, None, None);
        self.send_raw(text, ctx);
    }
}

/// Sent by the [`Registry`] (shutdown) to close the socket with a code and reason.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseSession {
    /// Close code.
    pub code: u16,
    /// Close reason.
    pub reason: String,
}

impl Handler<CloseSession> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: CloseSession, ctx: &mut Self::Context) {
        self.close(msg.code, &msg.reason, ctx);
    }
}
