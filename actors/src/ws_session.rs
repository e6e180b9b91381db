//! # `WsSession` — one actor per WebSocket connection
//!
//! Built on `actix-ws` rather than the deprecated `actix-web-actors`: the socket's outbound
//! half is an `actix_ws::Session` owned by a small writer task that drains this actor's
//! byte-bounded queue, so the actor keeps running (timers, mailbox) even when a client stops
//! reading, and can close a slow consumer at `maxBufferedBytes`. The inbound half is
//! [`ClientFrames`], a frame decoder whose size limit the actor raises from 64 KiB to
//! `maxPayload` once the client has authenticated.
//!
//! Lifecycle: `connect.challenge` on start → the first frame must be `connect` → protocol,
//! role, origin, shared-secret (with the [`Registry`]'s limiter), device rules → `hello-ok`
//! → request dispatch and `tick` events every `tickIntervalMs`.
//!
//! Messages: the inbound frame stream, [`SendEvent`], [`SendTargeted`], [`CloseSession`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Codec, Frame, ProtocolError};
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev, web};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::auth::{AuthMode, AuthScope, ClientKey, LimiterKey, constant_time_eq};
use crate::engine::{Engine, Shared};
use crate::identity;
use crate::node_session::{InvokeNode, NodeSession};
use crate::pairing::NodeDescriptor;
use crate::protocol::connect::{self, ConnectParams};
use crate::protocol::error::{ErrorCode, ErrorShape};
use crate::protocol::frame::{self, Inbound, Request, StateVersion};
use crate::protocol::scopes::{self, MethodAccess};
use crate::protocol::validate::optional_bool_params;
use crate::protocol::{
    MAX_PENDING_HANDSHAKE_FRAMES, MAX_PREAUTH_PAYLOAD_BYTES, MIN_NODE_PROTOCOL_VERSION,
    PROTOCOL_VERSION, close,
};
use crate::registry::nodes::{
    AttachNode, DescribeNode, DeviceConnect, DeviceVerdict, InvokeNodeCommand, ListNodes,
    LookupNode, NodeHostStats, PairingOp, PairingRequest, not_connected,
};
use crate::registry::runs::ChannelsStatus;
use crate::registry::{
    AuthAttempt, AuthVerdict, CheckLockout, GetPresence, GetStats, Registry, SessionAuthenticated,
    SessionClosed, SessionOpened,
};
use crate::util::{now_ms, truncate_close_reason};

/// Events dropped (not queued) for a session whose outbound queue is over
/// [`SLOW_QUEUE_BYTES`].
const DROP_IF_SLOW: &[&str] = &["presence", "health", "node.hostStats", "heartbeat"];
/// Queue depth above which snapshot events are dropped.
const SLOW_QUEUE_BYTES: usize = 256 * 1024;

/// Largest `node.host.stats` payload accepted (serialized). It is kept per node and
/// rebroadcast to every operator, so it must stay small.
pub const MAX_HOST_STATS_BYTES: usize = 16 * 1024;

/// How long a client has to answer a ping (after the tick that sent it).
const PONG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(25);

/// Methods this gateway implements (advertised in `hello-ok.features.methods`).
pub const METHODS: &[&str] = &[
    "health",
    "status",
    "system-presence",
    "node.list",
    "node.describe",
    "node.invoke",
    "node.invoke.result",
    "node.invoke.progress",
    "node.event",
    "node.pair.list",
    "node.pair.approve",
    "node.pair.reject",
    "node.pair.remove",
    "node.pluginTools.update",
    "node.skills.update",
    "node.runnerInventory.update",
    "skills.bins",
    "device.pair.list",
    "device.pair.approve",
    "device.pair.reject",
    "device.pair.remove",
    "device.token.rotate",
    "device.token.revoke",
    "chat.send",
    "chat.history",
    "chat.abort",
    "agent",
    "agent.wait",
    "send",
    "sessions.list",
    "channels.status",
    "channels.pairing.list",
    "channels.pairing.approve",
];
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
    "chat",
    "agent",
];

/// Where a connection comes from, as worked out by the HTTP layer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Client IP (the TCP peer, or the forwarded client behind a trusted proxy; `0.0.0.0`
    /// when the peer address is unknown).
    pub ip: IpAddr,
    /// A direct loopback peer with no proxy headers (this includes SSH port-forwards).
    pub is_local: bool,
    /// The `Host` header names a loopback or private host.
    pub local_host: bool,
    /// The browser `Origin` header, if any.
    pub origin: Option<String>,
    /// `false` when a browser `Origin` header names a host we do not allow.
    pub origin_allowed: bool,
    /// Shuts the connection's socket down (set by the HTTP shell when it can).
    pub hard_close: Option<HardClose>,
}

/// Shuts a connection's TCP socket down in both directions: the last resort when a peer
/// that does not read leaves our writes (and so the connection) pending forever.
#[derive(Clone)]
pub struct HardClose(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for HardClose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HardClose")
    }
}

impl PeerInfo {
    /// The limiter bucket for failures of `scope` from this client: a truly local CLI by
    /// address (exempt), a browser page on loopback by origin, anyone else by address.
    pub fn limiter_key(&self, scope: AuthScope) -> LimiterKey {
        LimiterKey {
            client: ClientKey::for_client(self.ip, self.is_local, self.origin.as_deref()),
            scope,
        }
    }

    /// §5.9 locality for silent pairing approval: a direct loopback peer without proxy
    /// headers whose `Host` is loopback/private; a browser page only for the Control UI or
    /// webchat clients.
    pub fn local_for_pairing(&self, client_id: &str, client_mode: &str) -> bool {
        let browser_ok = self.origin.is_none()
            || matches!(client_id, "openclaw-control-ui" | "webchat-ui" | "webchat")
            || client_mode == "webchat";
        self.is_local && self.local_host && browser_ok
    }

    /// A local CLI for the device-less scope rule: local, and not a browser.
    fn local_cli(&self) -> bool {
        self.is_local && self.origin.is_none()
    }
}

// === inbound frames ===

/// Decodes client frames from the raw request payload. The size limit lives in a shared
/// cell so the session can raise it after the handshake without rebuilding the stream.
///
/// Back-pressure: while our pong to the client's last ping is still unsent (the client is
/// not reading), no further frame is decoded, so a ping flood from a peer that never reads
/// stalls on TCP flow control instead of growing our memory.
pub struct ClientFrames {
    payload: dev::Payload,
    buf: BytesMut,
    codec: Codec,
    codec_limit: usize,
    limit: Rc<Cell<usize>>,
    out: Rc<OutState>,
    eof: bool,
}

impl ClientFrames {
    fn new(payload: dev::Payload, limit: Rc<Cell<usize>>, out: Rc<OutState>) -> Self {
        let codec_limit = limit.get();
        Self {
            payload,
            buf: BytesMut::new(),
            codec: Codec::new().max_size(codec_limit),
            codec_limit,
            limit,
            out,
            eof: false,
        }
    }
}

impl Stream for ClientFrames {
    type Item = Result<Frame, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        use tokio_util_codec::Decoder as _;
        let this = self.get_mut();
        if this.out.pong.borrow().is_some() {
            *this.out.reader.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let limit = this.limit.get();
        if limit != this.codec_limit {
            this.codec = Codec::new().max_size(limit);
            this.codec_limit = limit;
        }
        loop {
            match this.codec.decode(&mut this.buf) {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            if this.eof {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.buf.extend_from_slice(&bytes),
                Poll::Ready(Some(Err(e))) => {
                    this.eof = true;
                    return Poll::Ready(Some(Err(ProtocolError::Io(std::io::Error::other(
                        e.to_string(),
                    )))));
                }
                Poll::Ready(None) => this.eof = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

mod tokio_util_codec {
    pub(super) use actix_codec::Decoder;
}

// === outbound queue ===

/// Bytes counted per queued frame on top of its payload (frame header, bookkeeping), so
/// empty pings and close frames count too.
const FRAME_OVERHEAD: usize = 16;

/// How long the writer may take to put a close frame on the wire (behind the frame it is
/// writing) before the socket is dropped without it: a peer that does not read cannot hold
/// the connection open past this.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

enum OutItem {
    Text(String),
    Ping,
    /// Answer the latest ping (its payload is in [`OutState::pong`]).
    Pong,
    Close(Option<CloseReason>),
}

/// State shared by the session, its writer task and its [`ClientFrames`] (all on the same
/// worker thread).
#[derive(Default)]
pub struct OutState {
    /// Bytes queued and not yet handed to the socket (every frame kind counts).
    queued: Cell<usize>,
    /// Payload of the latest ping still to be answered. A newer ping replaces it (RFC 6455
    /// §5.5.3 allows answering only the most recent one), so at most one pong is queued.
    pong: RefCell<Option<Bytes>>,
    /// When the pending pong was queued.
    pong_since: Cell<Option<Instant>>,
    /// Slow consumer: everything still queued except the close frame is dropped.
    discard: Cell<bool>,
    /// The frame reader, parked while a pong is pending.
    reader: RefCell<Option<std::task::Waker>>,
    /// The peer's close frame arrived: the closing handshake is complete once ours is out.
    peer_closed: Cell<bool>,
    /// Wakes the close task when the peer's close frame arrives.
    peer_closed_notify: tokio::sync::Notify,
}

impl OutState {
    fn sub(&self, n: usize) {
        self.queued.set(self.queued.get().saturating_sub(n));
    }
}

/// The session's handle on its writer task: a channel whose *bytes* are bounded by `max`
/// (every push is counted, pongs are coalesced, the one close frame is the only item
/// allowed past the limit).
struct Outbound {
    tx: mpsc::UnboundedSender<OutItem>,
    state: Rc<OutState>,
    max: usize,
    writer: Option<actix_web::rt::task::JoinHandle<()>>,
    closing: bool,
    hard_close: Option<HardClose>,
    /// `EngineConfig::close_linger`.
    linger: std::time::Duration,
}

enum Push {
    Ok,
    Full,
    Gone,
}

impl Outbound {
    fn spawn(
        mut session: actix_ws::Session,
        max: usize,
        state: Rc<OutState>,
        hard_close: Option<HardClose>,
        linger: std::time::Duration,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<OutItem>();
        let st = state.clone();
        let writer = actix_web::rt::spawn(async move {
            while let Some(item) = rx.recv().await {
                let discard = st.discard.get();
                let ok = match item {
                    OutItem::Text(s) => {
                        let n = s.len() + FRAME_OVERHEAD;
                        let r = if discard {
                            Ok(())
                        } else {
                            session.text(s).await
                        };
                        st.sub(n);
                        r.is_ok()
                    }
                    OutItem::Ping => {
                        let r = if discard {
                            Ok(())
                        } else {
                            session.ping(b"").await
                        };
                        st.sub(FRAME_OVERHEAD);
                        r.is_ok()
                    }
                    OutItem::Pong => {
                        let payload = st.pong.borrow_mut().take().unwrap_or_default();
                        let n = payload.len() + FRAME_OVERHEAD;
                        let r = if discard {
                            Ok(())
                        } else {
                            session.pong(&payload).await
                        };
                        st.sub(n);
                        st.pong_since.set(None);
                        if let Some(w) = st.reader.borrow_mut().take() {
                            w.wake();
                        }
                        r.is_ok()
                    }
                    OutItem::Close(reason) => {
                        // Ending the session ends the response body: the server closes the
                        // TCP connection right after the close frame (RFC 6455 §7.1.1).
                        let _ = session.close(reason).await;
                        return;
                    }
                };
                if !ok {
                    break;
                }
            }
            // The socket is gone: release a reader parked on an unsendable pong, so it sees
            // the end of the stream and the session stops.
            st.pong.borrow_mut().take();
            st.pong_since.set(None);
            if let Some(w) = st.reader.borrow_mut().take() {
                w.wake();
            }
        });
        Self {
            tx,
            state,
            max,
            writer: Some(writer),
            closing: false,
            hard_close,
            linger,
        }
    }

    fn queued(&self) -> usize {
        self.state.queued.get()
    }

    fn reserve(&self, n: usize) -> bool {
        let q = self.state.queued.get();
        if q.saturating_add(n) > self.max {
            return false;
        }
        self.state.queued.set(q + n);
        true
    }

    fn push_text(&self, s: String) -> Push {
        if self.closing {
            return Push::Gone;
        }
        if !self.reserve(s.len() + FRAME_OVERHEAD) {
            return Push::Full;
        }
        match self.tx.send(OutItem::Text(s)) {
            Ok(()) => Push::Ok,
            Err(_) => Push::Gone,
        }
    }

    fn push_ping(&self) -> Push {
        if self.closing {
            return Push::Gone;
        }
        if !self.reserve(FRAME_OVERHEAD) {
            return Push::Full;
        }
        match self.tx.send(OutItem::Ping) {
            Ok(()) => Push::Ok,
            Err(_) => Push::Gone,
        }
    }

    /// Queues a pong for `payload`, or replaces the payload of the pong already queued.
    fn push_pong(&self, payload: Bytes) -> Push {
        if self.closing {
            return Push::Gone;
        }
        let mut slot = self.state.pong.borrow_mut();
        if let Some(old) = slot.as_mut() {
            let (a, b) = (old.len(), payload.len());
            if b > a && !self.reserve(b - a) {
                return Push::Full;
            }
            self.state.sub(a.saturating_sub(b));
            *old = payload;
            return Push::Ok;
        }
        if !self.reserve(payload.len() + FRAME_OVERHEAD) {
            return Push::Full;
        }
        *slot = Some(payload);
        self.state.pong_since.set(Some(Instant::now()));
        match self.tx.send(OutItem::Pong) {
            Ok(()) => Push::Ok,
            Err(_) => Push::Gone,
        }
    }

    /// How long the current pong has been waiting to be written.
    fn pong_waiting(&self) -> Option<std::time::Duration> {
        self.state.pong_since.get().map(|t| t.elapsed())
    }

    /// Queues the close frame (counted, but allowed past the limit: it is sent once) and
    /// bounds the writer's life: after [`CLOSE_GRACE`] it is aborted, which drops the
    /// socket even if the peer never reads. With `discard`, frames still queued are dropped
    /// so the close frame is next on the wire.
    fn close(&mut self, code: u16, reason: &str, discard: bool) {
        if self.closing {
            return;
        }
        self.closing = true;
        let reason = if code == close::NORMAL && reason.is_empty() {
            Some(CloseReason {
                code: CloseCode::Normal,
                description: None,
            })
        } else {
            Some(CloseReason {
                code: CloseCode::from(code),
                description: (!reason.is_empty()).then(|| truncate_close_reason(reason)),
            })
        };
        if discard {
            self.state.discard.set(true);
        }
        let n = FRAME_OVERHEAD
            + reason
                .as_ref()
                .and_then(|r| r.description.as_ref())
                .map_or(0, String::len);
        self.state
            .queued
            .set(self.state.queued.get().saturating_add(n));
        let _ = self.tx.send(OutItem::Close(reason));
        if let Some(w) = self.writer.take() {
            let abort = w.abort_handle();
            let hard_close = self.hard_close.take();
            let state = self.state.clone();
            let linger = self.linger;
            actix_web::rt::spawn(async move {
                if tokio::time::timeout(CLOSE_GRACE, w).await.is_err() {
                    // The peer is not reading: the close frame cannot go out. Drop the
                    // connection for real (actix would keep its pending writes forever).
                    abort.abort();
                } else {
                    // Our close frame is handed to actix; let its dispatcher (same worker
                    // thread, woken by the hand-over) write it to the socket.
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    // RFC 6455 §7.1.1: once both close frames have passed, the server
                    // closes TCP first. actix 3 would keep the connection lingering (a
                    // standard client waits its whole close timeout for our FIN), so shut
                    // the socket down ourselves as soon as the peer's close frame is in,
                    // or after `linger` if it never comes.
                    if !state.peer_closed.get() {
                        let _ =
                            tokio::time::timeout(linger, state.peer_closed_notify.notified()).await;
                    }
                }
                if let Some(h) = hard_close {
                    (h.0)();
                }
            });
        }
    }
}

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
    role: String,
    scopes: Vec<String>,
    /// Set for nodes.
    node_id: Option<String>,
    /// The verified device id, if the client presented one.
    device_id: Option<String>,
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
}

/// Bound on an operator session's node-address cache.
const NODE_CACHE_MAX: usize = 64;

/// Why the post-auth handshake steps failed.
enum HelloError {
    Device(DeviceVerdict),
    Locked(std::time::Duration),
    Unavailable,
}

/// Accepts a WebSocket upgrade and starts its `WsSession`. The HTTP layer has already
/// admitted the peer (pre-auth socket cap) and worked out [`PeerInfo`].
pub async fn start(
    req: &HttpRequest,
    payload: web::Payload,
    engine: &Engine,
    peer: PeerInfo,
) -> Result<HttpResponse, actix_web::Error> {
    let real_payload = payload.into_inner();
    // actix-ws owns the response body and the outbound `Session`; we hand it an empty
    // payload and decode the real one ourselves so the frame limit can change after auth.
    let empty = web::Payload::from_request(req, &mut dev::Payload::None).await?;
    let (response, session, _unused) = actix_ws::handle(req, empty)?;
    let limit = Rc::new(Cell::new(MAX_PREAUTH_PAYLOAD_BYTES));
    let state = Rc::new(OutState::default());
    let frames = ClientFrames::new(real_payload, limit.clone(), state.clone());
    let out = Outbound::spawn(
        session,
        engine.shared.config.max_buffered_bytes,
        state,
        peer.hard_close.clone(),
        engine.shared.config.close_linger,
    );
    let shared = engine.shared.clone();
    let registry = engine.registry.clone();
    WsSession::create(move |ctx| {
        ctx.add_stream(frames);
        WsSession {
            conn_id: uuid::Uuid::new_v4().to_string(),
            shared,
            registry,
            peer,
            out,
            limit,
            nonce: uuid::Uuid::new_v4().to_string(),
            seq: 0,
            phase: Phase::AwaitConnect,
            last_seen: Instant::now(),
            node: None,
            defer_lockout: false,
            node_cache: std::collections::HashMap::new(),
        }
    });
    Ok(response)
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
        self.registry.do_send(SessionOpened {
            conn_id: self.conn_id.clone(),
            ip: self.peer.ip,
            addr: ctx.address(),
        });
        let challenge = json!({"nonce": self.nonce, "ts": now_ms()});
        self.send_raw(
            frame::event("connect.challenge", &challenge.to_string(), None, None),
            ctx,
        );
        ctx.run_later(self.shared.config.handshake_timeout, |act, ctx| {
            if !matches!(act.phase, Phase::Ready(_)) {
                log::debug!("conn {}: handshake timeout", act.conn_id);
                act.close(close::NORMAL, "", ctx);
            }
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.registry.do_send(SessionClosed {
            conn_id: self.conn_id.clone(),
        });
        Running::Stop
    }
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
            Push::Full => self.slow_consumer(ctx),
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
        log::warn!("conn {}: slow consumer, closing", self.conn_id);
        self.phase = Phase::Closing;
        self.out.close(close::POLICY, "slow consumer", true);
        ctx.stop();
    }

    fn respond_ok(&mut self, id: &str, payload: &Value, ctx: &mut Context<Self>) {
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
                    && let Some(err) = access_denied(state, &method)
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

    // --- handshake ---

    fn on_connect(&mut self, req: Request, ctx: &mut Context<Self>) {
        let params = match connect::parse(&req.params) {
            Ok(p) => p,
            Err(msg) => {
                let err = ErrorShape::invalid(format!("invalid connect params: {msg}"));
                return self.fail_handshake(&req.id, err, close::POLICY, ctx);
            }
        };
        let node_client = params.role == "node" && params.client.mode == "node";
        let probe = params.client.mode == "probe";
        let accepts_current =
            params.min_protocol <= PROTOCOL_VERSION && params.max_protocol >= PROTOCOL_VERSION;
        let accepts_legacy = (node_client || probe)
            && params.min_protocol <= MIN_NODE_PROTOCOL_VERSION
            && params.max_protocol >= MIN_NODE_PROTOCOL_VERSION;
        if !(accepts_current || accepts_legacy) {
            let err = ErrorShape::invalid("protocol mismatch").with_details(json!({
                "code": "PROTOCOL_MISMATCH",
                "clientMinProtocol": params.min_protocol,
                "clientMaxProtocol": params.max_protocol,
                "expectedProtocol": PROTOCOL_VERSION,
                "minimumProbeProtocol": MIN_NODE_PROTOCOL_VERSION,
            }));
            return self.fail_handshake(&req.id, err, close::PROTOCOL_ERROR, ctx);
        }
        if params.role != "operator" && params.role != "node" {
            return self.fail_handshake(
                &req.id,
                ErrorShape::invalid("invalid role"),
                close::POLICY,
                ctx,
            );
        }
        if !self.peer.origin_allowed {
            let err = ErrorShape::invalid(
                "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)",
            )
            .with_details(json!({"code": "CONTROL_UI_ORIGIN_NOT_ALLOWED"}));
            return self.fail_handshake(&req.id, err, close::POLICY, ctx);
        }

        let auth = &self.shared.config.auth;
        let mode = auth.mode;
        if mode == AuthMode::None {
            return self.after_auth(req.id, params, true, ctx);
        }
        let offered: Vec<&str> = [
            params.auth.token.as_deref(),
            params.auth.password.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if offered.is_empty() && params.device.is_some() && params.auth.device_token.is_some() {
            // Device-token auth: checked against the pairing store with the device proof,
            // unless this client is locked out of device-token attempts.
            self.phase = Phase::Authenticating {
                pending: VecDeque::new(),
            };
            let id = req.id;
            self.registry
                .send(CheckLockout {
                    key: self.peer.limiter_key(AuthScope::DeviceToken),
                })
                .into_actor(self)
                .map(move |locked, act, ctx| match locked {
                    Ok(None) => act.after_auth(id, params, false, ctx),
                    Ok(Some(retry)) => {
                        let retry_ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
                        let err = auth_failure("rate_limited", &params, act.peer.is_local)
                            .retry_after(retry_ms);
                        act.fail_handshake(&id, err, close::POLICY, ctx);
                    }
                    Err(_) => {
                        let err =
                            ErrorShape::unavailable("gateway busy; retry shortly").retry_after(500);
                        act.fail_handshake(&id, err, 1013, ctx);
                    }
                })
                .wait(ctx);
            return;
        }
        if offered.is_empty() {
            if params.device.is_none() {
                let err = ErrorShape::new(ErrorCode::NotPaired, "device identity required")
                    .with_details(json!({"code": "DEVICE_IDENTITY_REQUIRED"}));
                return self.fail_handshake(&req.id, err, close::POLICY, ctx);
            }
            let reason = if mode == AuthMode::Password {
                "password_missing"
            } else {
                "token_missing"
            };
            let err = auth_failure(reason, &params, self.peer.is_local);
            return self.fail_handshake(&req.id, err, close::POLICY, ctx);
        }
        let secret = auth.secret.as_deref().unwrap_or("");
        let matched = !secret.is_empty()
            && offered
                .iter()
                .any(|o| constant_time_eq(o.as_bytes(), secret.as_bytes()));
        if matched && params.device.is_none() {
            // Fast path: the lockout check rides on the registration round trip.
            self.defer_lockout = true;
            return self.after_auth(req.id, params, true, ctx);
        }
        self.phase = Phase::Authenticating {
            pending: VecDeque::new(),
        };
        let id = req.id;
        self.registry
            .send(AuthAttempt {
                key: self.peer.limiter_key(AuthScope::SharedSecret),
                matched,
            })
            .into_actor(self)
            .map(move |verdict, act, ctx| match verdict {
                Ok(AuthVerdict::Allowed) => act.after_auth(id, params, true, ctx),
                Ok(AuthVerdict::Locked(retry)) => {
                    let retry_ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
                    let err = auth_failure("rate_limited", &params, act.peer.is_local)
                        .retry_after(retry_ms);
                    act.fail_handshake(&id, err, close::POLICY, ctx);
                }
                Ok(AuthVerdict::Failed(delay)) => {
                    let reason = if mode == AuthMode::Password {
                        "password_mismatch"
                    } else {
                        "token_mismatch"
                    };
                    let err = auth_failure(reason, &params, act.peer.is_local);
                    ctx.run_later(delay, move |act, ctx| {
                        act.fail_handshake(&id, err, close::POLICY, ctx);
                    });
                }
                Err(_) => {
                    let err =
                        ErrorShape::unavailable("gateway busy; retry shortly").retry_after(500);
                    act.fail_handshake(&id, err, 1013, ctx);
                }
            })
            .wait(ctx);
    }

    /// The shared secret (or `auth.mode: none`, or a device token still to be checked) is
    /// settled: device proof and pairing, scopes, node attachment, hello.
    fn after_auth(
        &mut self,
        id: String,
        params: ConnectParams,
        secret_ok: bool,
        ctx: &mut Context<Self>,
    ) {
        if matches!(self.phase, Phase::Closing) {
            return;
        }
        let mut scopes: Vec<String> = if params.role == "node" {
            Vec::new()
        } else {
            let mut v: Vec<String> = Vec::with_capacity(params.scopes.len());
            for s in &params.scopes {
                if scopes::OPERATOR_SCOPES.contains(&s.as_str()) && !v.contains(s) {
                    v.push(s.clone());
                }
            }
            v
        };
        let mut device: Option<(String, String)> = None;
        match &params.device {
            None => {
                if params.role == "node" {
                    let err = ErrorShape::new(ErrorCode::NotPaired, "device identity required")
                        .with_details(json!({"code": "DEVICE_IDENTITY_REQUIRED"}));
                    return self.fail_handshake(&id, err, close::POLICY, ctx);
                }
                let keeps_scopes = self.peer.local_cli()
                    && matches!(
                        (params.client.id.as_str(), params.client.mode.as_str()),
                        ("cli", "cli") | ("gateway-client", "backend")
                    );
                if !keeps_scopes {
                    scopes.clear();
                }
            }
            Some(proof) => match identity::verify_proof(&params, proof, &self.nonce, now_ms()) {
                Ok(raw) => {
                    use base64::Engine as _;
                    let pk = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
                    device = Some((identity::device_id(&raw), pk));
                }
                Err(e) => {
                    let (message, code, reason) = e.wire();
                    let err = ErrorShape::invalid(message)
                        .with_details(json!({"code": code, "reason": reason}));
                    return self.fail_handshake(&id, err, close::POLICY, ctx);
                }
            },
        }
        let device_id = device.as_ref().map(|(d, _)| d.clone());
        let presence = self.presence_entry(&params, &scopes, device_id.as_deref());
        let method = if secret_ok {
            self.shared.config.auth.mode.as_str()
        } else {
            "device-token"
        };
        let role = params.role.clone();
        if !matches!(self.phase, Phase::Authenticating { .. }) {
            self.phase = Phase::Authenticating {
                pending: VecDeque::new(),
            };
        }
        let remote_ip = self.peer.ip.to_string();
        let ready_device_id = device_id.clone();
        let device_connect = device.map(|(device_id, public_key)| DeviceConnect {
            conn_id: self.conn_id.clone(),
            device_id,
            public_key,
            client_id: params.client.id.clone(),
            client_mode: params.client.mode.clone(),
            display_name: params.client.display_name.clone(),
            platform: Some(params.client.platform.clone()).filter(|p| !p.is_empty()),
            device_family: params.client.device_family.clone(),
            role: role.clone(),
            scopes: scopes.clone(),
            is_local: self
                .peer
                .local_for_pairing(&params.client.id, &params.client.mode),
            remote_ip: remote_ip.clone(),
            device_token: params.auth.device_token.clone(),
            secret_ok,
        });
        let authenticated = SessionAuthenticated {
            conn_id: self.conn_id.clone(),
            role: role.clone(),
            scopes: scopes.clone(),
            presence,
            device_id: device_id.clone(),
            check_lockout: std::mem::take(&mut self.defer_lockout)
                .then(|| self.peer.limiter_key(AuthScope::SharedSecret)),
        };
        let attach = (role == "node").then(|| {
            let mut caps = params.caps.clone();
            caps.sort();
            caps.dedup();
            let mut commands = params.commands.clone();
            commands.sort();
            commands.dedup();
            let node_id = device_id
                .clone()
                .unwrap_or_else(|| params.client.id.clone());
            // Started here, on this socket's worker thread: node.invoke requests and results
            // then never cross threads on the node side.
            let addr = NodeSession::new(
                node_id.clone(),
                ctx.address(),
                commands.clone(),
                params.client.platform.clone(),
            )
            .with_registry(self.registry.clone())
            .start();
            AttachNode {
                conn_id: self.conn_id.clone(),
                ws: ctx.address(),
                addr,
                descriptor: NodeDescriptor {
                    node_id,
                    client_id: params.client.id.clone(),
                    client_mode: params.client.mode.clone(),
                    display_name: params.client.display_name.clone(),
                    platform: Some(params.client.platform.clone()).filter(|p| !p.is_empty()),
                    version: Some(params.client.version.clone()).filter(|p| !p.is_empty()),
                    device_family: params.client.device_family.clone(),
                    caps,
                    commands,
                },
                remote_ip: Some(remote_ip.clone()),
                path_env: params.path_env.clone(),
                permissions: params.permissions.clone(),
            }
        });
        let registry = self.registry.clone();
        let requested_scopes = params.scopes.clone();
        let locked_error = auth_failure("rate_limited", &params, self.peer.is_local);
        let work = async move {
            let mut issued = None;
            if let Some(dc) = device_connect {
                match registry.send(dc).await {
                    Ok(DeviceVerdict::Approved { issued: i }) => issued = i,
                    Ok(other) => return Err(HelloError::Device(other)),
                    Err(_) => return Err(HelloError::Unavailable),
                }
            }
            let snap = match registry.send(authenticated).await {
                Ok(Ok(s)) => s,
                Ok(Err(retry)) => return Err(HelloError::Locked(retry)),
                Err(_) => return Err(HelloError::Unavailable),
            };
            let node = match attach {
                Some(a) => {
                    let node_id = a.descriptor.node_id.clone();
                    let addr = a.addr.clone();
                    registry
                        .send(a)
                        .await
                        .map_err(|_| HelloError::Unavailable)?;
                    Some((addr, node_id))
                }
                None => None,
            };
            Ok((snap, issued, node))
        };
        work.into_actor(self)
            .map(move |res, act, ctx| {
                let (snap, issued, node) = match res {
                    Ok(v) => v,
                    Err(HelloError::Locked(retry)) => {
                        let retry_ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
                        let err = locked_error.retry_after(retry_ms);
                        return act.fail_handshake(&id, err, close::POLICY, ctx);
                    }
                    Err(HelloError::Device(DeviceVerdict::PairingRequired { request_id, reason })) => {
                        let requirement = match reason.as_str() {
                            "role-upgrade" => {
                                "device is asking for a higher role than currently approved"
                            }
                            "scope-upgrade" => {
                                "device is asking for more scopes than currently approved"
                            }
                            _ => "device is not approved yet",
                        };
                        let hint = match reason.as_str() {
                            "role-upgrade" => "Review the requested role upgrade, then approve the pending request.",
                            "scope-upgrade" => "Review the requested scopes, then approve the pending upgrade.",
                            _ => "Approve this device from the pending pairing requests.",
                        };
                        let message = format!("pairing required: {requirement}");
                        let mut details = json!({
                            "code": "PAIRING_REQUIRED",
                            "reason": reason,
                            "requestId": request_id,
                            "remediationHint": hint,
                            "deviceId": device_id,
                            "requestedRole": role,
                        });
                        if !requested_scopes.is_empty() {
                            details["requestedScopes"] = json!(requested_scopes);
                        }
                        let err = ErrorShape::new(ErrorCode::NotPaired, message.clone())
                            .with_details(details);
                        act.respond_err(&id, &err, ctx);
                        return act.close(
                            close::POLICY,
                            &format!("{message} (requestId: {request_id})"),
                            ctx,
                        );
                    }
                    Err(HelloError::Device(DeviceVerdict::ScopeMismatch)) => {
                        let err = ErrorShape::invalid(
                            "unauthorized: device token scope mismatch (re-pair or approve scope upgrade)",
                        )
                        .with_details(json!({
                            "code": "AUTH_SCOPE_MISMATCH",
                            "authReason": "scope_mismatch",
                            "canRetryWithDeviceToken": false,
                            "recommendedNextStep": "review_auth_configuration",
                        }));
                        return act.fail_handshake(&id, err, close::POLICY, ctx);
                    }
                    Err(HelloError::Device(DeviceVerdict::TokenMismatch)) => {
                        act.registry.do_send(AuthAttempt {
                            key: act.peer.limiter_key(AuthScope::DeviceToken),
                            matched: false,
                        });
                        let err = ErrorShape::invalid(
                            "unauthorized: device token mismatch (rotate/reissue device token)",
                        )
                        .with_details(json!({
                            "code": "AUTH_DEVICE_TOKEN_MISMATCH",
                            "authReason": "device_token_mismatch",
                            "canRetryWithDeviceToken": false,
                            "recommendedNextStep": "update_auth_credentials",
                        }));
                        return act.fail_handshake(&id, err, close::POLICY, ctx);
                    }
                    Err(HelloError::Device(DeviceVerdict::Unavailable)) => {
                        let err = ErrorShape::unavailable(
                            "gateway cannot save its device pairing state (the gateway's owner should check the state directory: see the gateway log); retry later",
                        )
                        .retry_after(5_000);
                        return act.fail_handshake(&id, err, 1013, ctx);
                    }
                    Err(_) => {
                        let err = ErrorShape::unavailable("gateway busy; retry shortly")
                            .retry_after(500);
                        return act.fail_handshake(&id, err, 1013, ctx);
                    }
                };
                let mut hello =
                    act.hello_ok(&role, &scopes, method, snap.presence, snap.state_version);
                if let Some((token, at)) = issued {
                    hello["auth"]["deviceToken"] = json!(token);
                    hello["auth"]["issuedAtMs"] = json!(at);
                }
                act.respond_ok(&id, &hello, ctx);
                let node_id = node.as_ref().map(|(_, n)| n.clone());
                act.node = node.map(|(addr, _)| addr);
                let pending = match std::mem::replace(
                    &mut act.phase,
                    Phase::Ready(Box::new(ReadyState {
                        role,
                        scopes,
                        node_id,
                        device_id: ready_device_id,
                    })),
                ) {
                    Phase::Authenticating { pending } => pending,
                    Phase::Closing => {
                        act.phase = Phase::Closing;
                        return;
                    }
                    _ => VecDeque::new(),
                };
                act.limit.set(act.shared.config.max_payload);
                let tick = act.shared.config.tick_interval;
                ctx.run_interval(tick, |act, ctx| act.tick(ctx));
                for text in pending {
                    act.on_text(&text, ctx);
                }
            })
            .wait(ctx);
    }

    fn presence_entry(
        &self,
        p: &ConnectParams,
        scopes: &[String],
        device_id: Option<&str>,
    ) -> Value {
        let host = p
            .client
            .display_name
            .clone()
            .unwrap_or_else(|| p.client.id.clone());
        let now = now_ms();
        let mut e = json!({
            "host": host,
            "ip": self.peer.ip.to_string(),
            "clientId": p.client.id,
            "version": p.client.version,
            "platform": p.client.platform,
            "mode": p.client.mode,
            "roles": [p.role],
            "scopes": scopes,
            "instanceId": p.client.instance_id.clone().unwrap_or_else(|| self.conn_id.clone()),
            "reason": "connect",
            "onlineSince": now,
            "ts": now,
            "text": format!("{}: {} · mode {}", if p.role == "node" { "Node" } else { "Client" }, host, p.client.mode),
        });
        if let Some(f) = &p.client.device_family {
            e["deviceFamily"] = json!(f);
        }
        if let Some(m) = &p.client.model_identifier {
            e["modelIdentifier"] = json!(m);
        }
        if let Some(d) = device_id {
            e["deviceId"] = json!(d);
        }
        e
    }

    fn hello_ok(
        &self,
        role: &str,
        scopes: &[String],
        method: &str,
        presence: Vec<Value>,
        state_version: StateVersion,
    ) -> Value {
        let cfg = &self.shared.config;
        let mut snapshot = json!({
            "presence": presence,
            "health": self.shared.health(),
            "stateVersion": state_version,
            "uptimeMs": self.shared.uptime_ms(),
            "sessionDefaults": {
                "defaultAgentId": "main",
                "mainKey": "main",
                "mainSessionKey": "agent:main:main",
            },
        });
        if role == "operator" && scopes.iter().any(|s| s == scopes::ADMIN) {
            snapshot["authMode"] = json!(cfg.auth.mode.as_str());
            snapshot["stateDir"] = json!(cfg.state_dir.display().to_string());
            if let Some(p) = &cfg.config_path {
                snapshot["configPath"] = json!(p.display().to_string());
            }
        }
        json!({
            "type": "hello-ok",
            "protocol": PROTOCOL_VERSION,
            "server": {
                "version": cfg.server_version,
                "connId": self.conn_id,
                "bootId": self.shared.boot_id,
            },
            "features": { "methods": METHODS, "events": EVENTS },
            "snapshot": snapshot,
            "auth": { "role": role, "scopes": scopes, "method": method },
            "policy": {
                "maxPayload": cfg.max_payload,
                "maxBufferedBytes": cfg.max_buffered_bytes,
                "tickIntervalMs": u64::try_from(cfg.tick_interval.as_millis()).unwrap_or(u64::MAX),
            },
        })
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

    // --- requests ---

    fn dispatch(&mut self, req: Request, ctx: &mut Context<Self>) {
        let Phase::Ready(state) = &self.phase else {
            return;
        };
        if let Some(err) = access_denied(state, &req.method) {
            return self.respond_err(&req.id, &err, ctx);
        }
        let is_admin = state.scopes.iter().any(|s| s == scopes::ADMIN);
        let caller_scopes = state.scopes.clone();
        let my_node_id = state.node_id.clone();
        if req.method.starts_with("node.")
            || req.method.starts_with("device.")
            || req.method == "skills.bins"
        {
            return self.dispatch_nodes(req, caller_scopes, my_node_id, ctx);
        }
        if matches!(
            req.method.as_str(),
            "chat.send"
                | "chat.history"
                | "chat.abort"
                | "agent"
                | "agent.wait"
                | "send"
                | "sessions.list"
                | "channels.status"
                | "channels.pairing.list"
                | "channels.pairing.approve"
        ) {
            return self.dispatch_agent(req, ctx);
        }
        match req.method.as_str() {
            "health" => match optional_bool_params("health", &req.params, &["probe"]) {
                Ok(()) if self.shared.config.channel_accounts == 0 => {
                    let health = self.shared.health();
                    self.respond_ok(&req.id, &health, ctx);
                }
                Ok(()) => {
                    let id = req.id;
                    let fut = self.registry.send(ChannelsStatus);
                    let shared = self.shared.clone();
                    self.reply_with(
                        id,
                        async move {
                            let mut health = shared.health();
                            if let Ok(ch) = fut.await {
                                for k in ["channels", "channelOrder", "channelLabels"] {
                                    health[k] = ch[k].clone();
                                }
                                let healthy = ch["channels"].as_object().is_none_or(|m| {
                                    m.values().all(|c| c["running"] == json!(true))
                                });
                                health["channelsHealthy"] = json!(healthy);
                            }
                            Ok(health)
                        },
                        ctx,
                    );
                }
                Err(m) => self.respond_err(&req.id, &ErrorShape::invalid(m), ctx),
            },
            "status" => {
                if let Err(m) = optional_bool_params(
                    "status",
                    &req.params,
                    &["includeChannelSummary", "includeCliProjection"],
                ) {
                    return self.respond_err(&req.id, &ErrorShape::invalid(m), ctx);
                }
                let id = req.id;
                self.registry
                    .send(GetStats)
                    .into_actor(self)
                    .map(move |stats, act, ctx| {
                        let stats = stats.unwrap_or_default();
                        let status = act.status_payload(stats, is_admin);
                        act.respond_ok(&id, &status, ctx);
                    })
                    .spawn(ctx);
            }
            "system-presence" => {
                if let Err(m) = optional_bool_params("system-presence", &req.params, &[]) {
                    return self.respond_err(&req.id, &ErrorShape::invalid(m), ctx);
                }
                let id = req.id;
                self.registry
                    .send(GetPresence)
                    .into_actor(self)
                    .map(move |list, act, ctx| {
                        let list = Value::Array(list.unwrap_or_default());
                        act.respond_ok(&id, &list, ctx);
                    })
                    .spawn(ctx);
            }
            "connect" => self.respond_err(
                &req.id,
                &ErrorShape::invalid("connect is only valid as the first request"),
                ctx,
            ),
            other => {
                let err = ErrorShape::unknown_method(other);
                self.respond_err(&req.id, &err, ctx);
            }
        }
    }

    /// Replies to `id` when `fut` resolves with `Ok(payload)` / `Err(error)`.
    fn reply_with<F>(&mut self, id: String, fut: F, ctx: &mut Context<Self>)
    where
        F: std::future::Future<Output = Result<Value, ErrorShape>> + 'static,
    {
        fut.into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(v) => act.respond_ok(&id, &v, ctx),
                Err(e) => act.respond_err(&id, &e, ctx),
            })
            .spawn(ctx);
    }

    /// Agent, chat, sessions and channel methods (access already checked).
    fn dispatch_agent(&mut self, req: Request, ctx: &mut Context<Self>) {
        use crate::registry::runs::{
            AbortRun, ChannelPairingApprove, ChannelPairingList, ChatHistory, ListSessions,
            SubmitRun, WaitRun,
        };
        let registry = self.registry.clone();
        let gone = || ErrorShape::unavailable("gateway is shutting down");
        let id = req.id;
        let p = &req.params;
        let method = req.method.as_str();
        let sender = Some(format!("operator:{}", self.conn_id));
        match method {
            "chat.send" | "agent" => {
                let parsed = agent_params::submit(method, p);
                let (session_key, text, run_id, wait) = match parsed {
                    Ok(v) => v,
                    Err(e) => return self.respond_err(&id, &e, ctx),
                };
                let fut = registry.send(SubmitRun {
                    run_id: run_id.clone(),
                    session_key,
                    text,
                    sender,
                });
                let two_phase = method == "agent";
                fut.into_actor(self)
                    .map(move |res, act, ctx| {
                        let ack = match res {
                            Ok(Ok(a)) => a,
                            Ok(Err(e)) => return act.respond_err(&id, &e, ctx),
                            Err(_) => return act.respond_err(&id, &gone(), ctx),
                        };
                        if !two_phase {
                            return act.respond_ok(
                                &id,
                                &json!({"runId": ack.run_id, "status": ack.status, "sessionKey": ack.session_key}),
                                ctx,
                            );
                        }
                        act.respond_ok(
                            &id,
                            &json!({"runId": ack.run_id, "status": "accepted", "acceptedAt": now_ms(), "sessionKey": ack.session_key}),
                            ctx,
                        );
                        let wait_fut = act.registry.send(WaitRun {
                            run_id: ack.run_id.clone(),
                            timeout: wait,
                        });
                        act.reply_with(
                            id,
                            async move {
                                let v = wait_fut.await.map_err(|_| gone())?;
                                let status = v["status"].as_str().unwrap_or("error").to_owned();
                                let summary = match status.as_str() {
                                    "ok" => "completed",
                                    "aborted" => "aborted",
                                    _ => "failed",
                                };
                                let text = v["text"].as_str().unwrap_or("").to_owned();
                                let mut out = json!({
                                    "runId": ack.run_id, "status": if status == "aborted" { "error" } else { status.as_str() },
                                    "summary": summary, "sessionKey": ack.session_key,
                                    "result": {"payloads": [{"text": text}], "meta": {"startedAt": v["startedAt"], "endedAt": v["endedAt"]}},
                                });
                                if let Some(e) = v["error"].as_str() {
                                    out["error"] = json!(e);
                                }
                                Ok(out)
                            },
                            ctx,
                        );
                    })
                    .spawn(ctx);
            }
            "agent.wait" => match agent_params::wait(p) {
                Ok((run_id, timeout)) => {
                    let fut = registry.send(WaitRun { run_id, timeout });
                    self.reply_with(id, async move { fut.await.map_err(|_| gone()) }, ctx);
                }
                Err(e) => self.respond_err(&id, &e, ctx),
            },
            "chat.history" => match agent_params::history(p) {
                Ok((session_key, limit)) => {
                    let fut = registry.send(ChatHistory { session_key, limit });
                    self.reply_with(
                        id,
                        async move { fut.await.unwrap_or_else(|_| Err(gone())) },
                        ctx,
                    );
                }
                Err(e) => self.respond_err(&id, &e, ctx),
            },
            "chat.abort" => match agent_params::abort(p) {
                Ok((session_key, run_id)) => {
                    let fut = registry.send(AbortRun {
                        session_key,
                        run_id,
                    });
                    self.reply_with(id, async move { fut.await.map_err(|_| gone()) }, ctx);
                }
                Err(e) => self.respond_err(&id, &e, ctx),
            },
            "sessions.list" => {
                let limit = p
                    .get("limit")
                    .and_then(Value::as_u64)
                    .unwrap_or(50)
                    .clamp(1, 1000);
                let fut = registry.send(ListSessions {
                    limit: usize::try_from(limit).unwrap_or(50),
                });
                self.reply_with(id, async move { fut.await.map_err(|_| gone()) }, ctx);
            }
            "send" => match agent_params::send(p) {
                Ok(msg) => {
                    let fut = registry.send(msg);
                    self.reply_with(
                        id,
                        async move { fut.await.unwrap_or_else(|_| Err(gone())) },
                        ctx,
                    );
                }
                Err(e) => self.respond_err(&id, &e, ctx),
            },
            "channels.status" => {
                let fut = registry.send(ChannelsStatus);
                self.reply_with(id, async move { fut.await.map_err(|_| gone()) }, ctx);
            }
            "channels.pairing.list" => {
                let fut = registry.send(ChannelPairingList);
                self.reply_with(id, async move { fut.await.map_err(|_| gone()) }, ctx);
            }
            _ => match agent_params::pairing_approve(p) {
                Ok((channel, account_id, code)) => {
                    let fut = registry.send(ChannelPairingApprove {
                        channel,
                        account_id,
                        code,
                    });
                    self.reply_with(
                        id,
                        async move { fut.await.unwrap_or_else(|_| Err(gone())) },
                        ctx,
                    );
                }
                Err(e) => self.respond_err(&id, &e, ctx),
            },
        }
    }

    /// `node.invoke` straight to the node's session: the address comes from the registry
    /// once and is cached, so a call crosses threads only to the node's worker and back.
    fn invoke_node(&mut self, id: String, cmd: InvokeNodeCommand, ctx: &mut Context<Self>) {
        let cached = self
            .node_cache
            .get(&cmd.node_id)
            .filter(|a| a.connected())
            .cloned();
        let registry = self.registry.clone();
        let node_id = cmd.node_id.clone();
        let scopes = match cmd.origin {
            crate::registry::nodes::InvokeOrigin::Operator { scopes } => scopes,
            crate::registry::nodes::InvokeOrigin::AgentRun { .. } => Vec::new(),
        };
        // Idempotency keys are bound to the caller: the device, or the shared secret.
        let principal = match &self.phase {
            Phase::Ready(r) => r.device_id.clone(),
            _ => None,
        }
        .map_or_else(|| "shared-secret".to_owned(), |d| format!("device:{d}"));
        let msg = InvokeNode {
            command: cmd.command,
            params: cmd.params,
            timeout_ms: cmd.timeout_ms,
            idempotency_key: cmd.idempotency_key,
            session_key: cmd.session_key,
            caller: crate::tool_policy::InvokeCaller::Operator { principal, scopes },
        };
        async move {
            let addr = match cached {
                Some(a) => a,
                None => match registry.send(LookupNode { node_id }).await {
                    Ok(Some(a)) => a,
                    _ => return (None, Err(not_connected())),
                },
            };
            let out = addr
                .send(msg)
                .await
                .unwrap_or_else(|_| Err(crate::node_session::disconnected()));
            (Some(addr), out)
        }
        .into_actor(self)
        .map(move |(addr, out), act, ctx| {
            if let Some(a) = addr {
                if act.node_cache.len() >= NODE_CACHE_MAX {
                    act.node_cache.retain(|_, a| a.connected());
                }
                if act.node_cache.len() < NODE_CACHE_MAX {
                    act.node_cache.insert(cmd.node_id, a);
                }
            }
            match out {
                Ok(v) => act.respond_ok(&id, &v, ctx),
                Err(e) => act.respond_err(&id, &e, ctx),
            }
        })
        .spawn(ctx);
    }

    /// `node.*`, `device.*` and `skills.bins` (access already checked).
    fn dispatch_nodes(
        &mut self,
        req: Request,
        caller_scopes: Vec<String>,
        my_node_id: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let registry = self.registry.clone();
        let gone = || ErrorShape::unavailable("gateway is shutting down");
        let method = req.method.as_str();
        let params = req.params;
        let id = req.id;
        let pairing = |op: PairingOp| {
            let fut = registry.send(PairingRequest {
                op,
                caller_scopes: caller_scopes.clone(),
            });
            async move { fut.await.unwrap_or_else(|_| Err(gone())) }
        };
        match method {
            "node.list" => {
                let fut = registry.send(ListNodes);
                self.reply_with(id, async move { fut.await.map_err(|_| gone()) }, ctx);
            }
            "node.describe" => match node_params::node_id(method, &params) {
                Ok(node_id) => {
                    let fut = registry.send(DescribeNode { node_id });
                    self.reply_with(
                        id,
                        async move { fut.await.unwrap_or_else(|_| Err(gone())) },
                        ctx,
                    );
                }
                Err(e) => self.respond_err(&id, &e, ctx),
            },
            "node.invoke" => match node_params::invoke(&params, &caller_scopes) {
                Ok(cmd) => self.invoke_node(id, cmd, ctx),
                Err(e) => self.respond_err(&id, &e, ctx),
            },
            "node.pair.list" => self.reply_with(id, pairing(PairingOp::NodeList), ctx),
            "device.pair.list" => self.reply_with(id, pairing(PairingOp::DeviceList), ctx),
            "node.pair.approve"
            | "node.pair.reject"
            | "device.pair.approve"
            | "device.pair.reject" => match node_params::string_field(method, &params, "requestId")
            {
                Ok(request_id) => {
                    let op = match method {
                        "node.pair.approve" => PairingOp::NodeApprove { request_id },
                        "node.pair.reject" => PairingOp::NodeReject { request_id },
                        "device.pair.approve" => PairingOp::DeviceApprove { request_id },
                        _ => PairingOp::DeviceReject { request_id },
                    };
                    self.reply_with(id, pairing(op), ctx);
                }
                Err(e) => self.respond_err(&id, &e, ctx),
            },
            "node.pair.remove" => match node_params::node_id(method, &params) {
                Ok(node_id) => self.reply_with(id, pairing(PairingOp::NodeRemove { node_id }), ctx),
                Err(e) => self.respond_err(&id, &e, ctx),
            },
            "device.pair.remove" => match node_params::string_field(method, &params, "deviceId") {
                Ok(device_id) => {
                    self.reply_with(id, pairing(PairingOp::DeviceRemove { device_id }), ctx);
                }
                Err(e) => self.respond_err(&id, &e, ctx),
            },
            "device.token.rotate" | "device.token.revoke" => {
                match node_params::token_op(method, &params) {
                    Ok(op) => self.reply_with(id, pairing(op), ctx),
                    Err(e) => self.respond_err(&id, &e, ctx),
                }
            }
            // --- node side ---
            "node.invoke.result" => {
                let Some(node_id) = my_node_id else {
                    return self.respond_err(
                        &id,
                        &ErrorShape::invalid("unauthorized role: operator"),
                        ctx,
                    );
                };
                match node_params::invoke_result(&params, &node_id) {
                    Ok(result) => match self.node.clone() {
                        Some(node) => {
                            let fut = node.send(result);
                            self.reply_with(
                                id,
                                async move {
                                    Ok(match fut.await {
                                        Ok(true) => json!({"ok": true}),
                                        _ => json!({"ok": true, "ignored": true}),
                                    })
                                },
                                ctx,
                            );
                        }
                        None => self.respond_ok(&id, &json!({"ok": true, "ignored": true}), ctx),
                    },
                    Err(e) => self.respond_err(&id, &e, ctx),
                }
            }
            "node.event" => {
                let Some(obj) = params.as_object() else {
                    return self.respond_err(
                        &id,
                        &ErrorShape::invalid("invalid node.event params: must be object"),
                        ctx,
                    );
                };
                let Some(event) = obj.get("event").and_then(Value::as_str).map(str::to_owned)
                else {
                    return self.respond_err(
                        &id,
                        &ErrorShape::invalid(
                            "invalid node.event params: must have required property 'event'",
                        ),
                        ctx,
                    );
                };
                if event == "node.host.stats" {
                    let size = match obj.get("payloadJSON").and_then(Value::as_str) {
                        Some(s) => s.len(),
                        None => obj
                            .get("payload")
                            .map_or(0, |p| serde_json::to_vec(p).map_or(usize::MAX, |v| v.len())),
                    };
                    if size > MAX_HOST_STATS_BYTES {
                        return self.respond_err(
                            &id,
                            &ErrorShape::invalid(format!(
                                "invalid node.event params: node.host.stats payload too large ({size} bytes, max {MAX_HOST_STATS_BYTES})"
                            )),
                            ctx,
                        );
                    }
                }
                let payload = match obj.get("payloadJSON").and_then(Value::as_str) {
                    Some(s) => serde_json::from_str::<Value>(s).ok(),
                    None => obj.get("payload").cloned(),
                };
                let handled = match (event.as_str(), payload, &my_node_id) {
                    ("node.host.stats", Some(stats), Some(node_id)) if stats.is_object() => {
                        registry.do_send(NodeHostStats {
                            node_id: node_id.clone(),
                            stats,
                        });
                        true
                    }
                    _ => false,
                };
                let mut out = json!({"ok": true, "event": event, "handled": handled});
                if handled {
                    out["reason"] = json!("updated");
                }
                self.respond_ok(&id, &out, ctx);
            }
            "node.invoke.progress" => self.respond_ok(&id, &json!({"ok": true}), ctx),
            "node.runnerInventory.update" => {
                self.respond_ok(&id, &json!({"nodeId": my_node_id}), ctx);
            }
            "node.pluginTools.update" => {
                let tools = params.get("tools").cloned().unwrap_or(json!([]));
                self.respond_ok(&id, &json!({"nodeId": my_node_id, "tools": tools}), ctx);
            }
            "node.skills.update" => {
                let skills = params.get("skills").cloned().unwrap_or(json!([]));
                self.respond_ok(&id, &json!({"nodeId": my_node_id, "skills": skills}), ctx);
            }
            "skills.bins" => self.respond_ok(&id, &json!({"bins": []}), ctx),
            other => {
                let err = ErrorShape::unknown_method(other);
                self.respond_err(&id, &err, ctx);
            }
        }
    }

    fn status_payload(&self, stats: crate::registry::Stats, is_admin: bool) -> Value {
        let cfg = &self.shared.config;
        let mut gateway = json!({
            "version": cfg.server_version,
            "uptimeMs": self.shared.uptime_ms(),
            "port": cfg.port,
            "bind": cfg.bind_mode,
            "bindAddrs": cfg.bind_addrs,
            "authMode": cfg.auth.mode.as_str(),
            "connections": stats,
            "protocol": PROTOCOL_VERSION,
        });
        if is_admin {
            gateway["stateDir"] = json!(cfg.state_dir.display().to_string());
            if let Some(p) = &cfg.config_path {
                gateway["configPath"] = json!(p.display().to_string());
            }
        }
        json!({
            "runtimeVersion": cfg.server_version,
            "pid": std::process::id(),
            "uptimeMs": self.shared.uptime_ms(),
            "heartbeat": {"defaultAgentId": "main", "agents": []},
            "channelSummary": [],
            "queuedSystemEvents": [],
            "sessions": {
                "paths": [self.shared.sessions_path()],
                "count": stats.sessions,
                "defaults": {"model": Value::Null, "contextTokens": Value::Null},
                "recent": [],
                "byAgent": [],
            },
            "gateway": gateway,
        })
    }
}

/// Why an authenticated session may not call `method` (role, then scope), if it may not.
fn access_denied(state: &ReadyState, method: &str) -> Option<ErrorShape> {
    match scopes::method_access(method) {
        MethodAccess::Open => None,
        MethodAccess::Node if state.role != "node" => Some(ErrorShape::invalid(format!(
            "unauthorized role: {}",
            state.role
        ))),
        MethodAccess::Node => None,
        MethodAccess::Operator(_) if state.role != "operator" => Some(ErrorShape::invalid(
            format!("unauthorized role: {}", state.role),
        )),
        MethodAccess::Operator(scope) if !scopes::satisfied(&state.scopes, scope) => {
            Some(ErrorShape::missing_scope(scope))
        }
        MethodAccess::Operator(_) => None,
    }
}

/// The `unauthorized: …` error for a failed shared-secret check.
fn auth_failure(reason: &str, p: &ConnectParams, is_local: bool) -> ErrorShape {
    let is_cli = p.client.mode == "cli";
    let is_ui = matches!(
        p.client.id.as_str(),
        "openclaw-control-ui" | "webchat-ui" | "webchat"
    ) || p.client.mode == "webchat"
        || p.client.mode == "ui";
    let token_hint = if is_cli {
        if is_local {
            "use this gateway's gateway.auth.token or pair the device"
        } else {
            "set gateway.remote.token to match gateway.auth.token"
        }
    } else if is_ui {
        "open the dashboard URL and paste the token in Control UI settings"
    } else {
        "provide gateway auth token"
    };
    let password_hint = if is_cli {
        if is_local {
            "use this gateway's gateway.auth.password"
        } else {
            "set gateway.remote.password to match gateway.auth.password"
        }
    } else if is_ui {
        "enter the password in Control UI settings"
    } else {
        "provide gateway auth password"
    };
    let (message, code, next) = match reason {
        "token_missing" => (
            format!("unauthorized: gateway token missing ({token_hint})"),
            "AUTH_TOKEN_MISSING",
            "update_auth_configuration",
        ),
        "token_mismatch" => (
            format!("unauthorized: gateway token mismatch ({token_hint})"),
            "AUTH_TOKEN_MISMATCH",
            "update_auth_credentials",
        ),
        "password_missing" => (
            format!("unauthorized: gateway password missing ({password_hint})"),
            "AUTH_PASSWORD_MISSING",
            "update_auth_configuration",
        ),
        "password_mismatch" => (
            format!("unauthorized: gateway password mismatch ({password_hint})"),
            "AUTH_PASSWORD_MISMATCH",
            "update_auth_credentials",
        ),
        _ => (
            "unauthorized: too many failed authentication attempts (retry later)".to_owned(),
            "AUTH_RATE_LIMITED",
            "wait_then_retry",
        ),
    };
    ErrorShape::invalid(message).with_details(json!({
        "code": code,
        "authReason": reason,
        "canRetryWithDeviceToken": false,
        "recommendedNextStep": next,
    }))
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
                self.out.state.peer_closed_notify.notify_one();
                self.close(close::NORMAL, "", ctx);
            }
            Ok(Frame::Continuation(_)) => {
                self.close(
                    close::UNSUPPORTED,
                    "fragmented frames are not supported",
                    ctx,
                );
            }
            Err(ProtocolError::Overflow) => self.close(close::TOO_BIG, "", ctx),
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
        // one supersedes them, and queueing them would only grow our memory.
        if DROP_IF_SLOW.contains(&&*msg.event) && self.out.queued() > SLOW_QUEUE_BYTES {
            return;
        }
        let seq = self.next_seq();
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

/// Params validation for the node and pairing methods, worded like the real gateway.
mod node_params {
    use serde_json::Value;

    use crate::node_session::DEFAULT_INVOKE_TIMEOUT_MS;
    use crate::node_session::InvokeResult;
    use crate::protocol::error::ErrorShape;
    use crate::protocol::validate::Checker;
    use crate::registry::nodes::{InvokeNodeCommand, InvokeOrigin, PairingOp};

    /// Longest invoke timeout accepted.
    const MAX_INVOKE_TIMEOUT_MS: u64 = 10 * 60 * 1000;

    fn fail(method: &str, c: &Checker) -> ErrorShape {
        ErrorShape::invalid(format!("invalid {method} params: {}", c.message()))
    }

    fn object<'a>(
        method: &str,
        params: &'a Value,
    ) -> Result<&'a serde_json::Map<String, Value>, ErrorShape> {
        let mut c = Checker::new();
        c.object("", params).ok_or_else(|| fail(method, &c))
    }

    pub(super) fn string_field(
        method: &str,
        params: &Value,
        key: &str,
    ) -> Result<String, ErrorShape> {
        let obj = object(method, params)?;
        let mut c = Checker::new();
        c.required("", obj, key);
        let v = c.string("", obj, key, true).map(str::to_owned);
        c.closed("", obj, &[key]);
        match v {
            Some(v) if c.ok() => Ok(v),
            _ => Err(fail(method, &c)),
        }
    }

    pub(super) fn node_id(method: &str, params: &Value) -> Result<String, ErrorShape> {
        string_field(method, params, "nodeId")
    }

    pub(super) fn token_op(method: &str, params: &Value) -> Result<PairingOp, ErrorShape> {
        let obj = object(method, params)?;
        let mut c = Checker::new();
        c.required("", obj, "deviceId");
        c.required("", obj, "role");
        let device_id = c.string("", obj, "deviceId", true).map(str::to_owned);
        let role = c.string("", obj, "role", true).map(str::to_owned);
        let scopes = if method == "device.token.rotate" {
            c.closed("", obj, &["deviceId", "role", "scopes"]);
            c.string_array("", obj, "scopes")
        } else {
            c.closed("", obj, &["deviceId", "role"]);
            None
        };
        match (device_id, role) {
            (Some(device_id), Some(role)) if c.ok() => Ok(if method == "device.token.rotate" {
                PairingOp::TokenRotate {
                    device_id,
                    role,
                    scopes,
                }
            } else {
                PairingOp::TokenRevoke { device_id, role }
            }),
            _ => Err(fail(method, &c)),
        }
    }

    pub(super) fn invoke(
        params: &Value,
        caller: &[String],
    ) -> Result<InvokeNodeCommand, ErrorShape> {
        const METHOD: &str = "node.invoke";
        let obj = object(METHOD, params)?;
        let mut c = Checker::new();
        for key in ["nodeId", "command", "idempotencyKey"] {
            c.required("", obj, key);
        }
        c.closed(
            "",
            obj,
            &[
                "nodeId",
                "command",
                "params",
                "timeoutMs",
                "idempotencyKey",
                "sessionKey",
                "turnSourceChannel",
                "turnSourceTo",
                "turnSourceAccountId",
                "turnSourceThreadId",
            ],
        );
        let node_id = c.string("", obj, "nodeId", true).map(str::to_owned);
        let command = c.string("", obj, "command", true).map(str::to_owned);
        let key = c.string("", obj, "idempotencyKey", true).map(str::to_owned);
        let timeout = c.integer("", obj, "timeoutMs", 1);
        let session_key = c.string("", obj, "sessionKey", false).map(str::to_owned);
        let (Some(node_id), Some(command), Some(idempotency_key)) = (node_id, command, key) else {
            return Err(fail(METHOD, &c));
        };
        if !c.ok() {
            return Err(fail(METHOD, &c));
        }
        // The command-class and caller checks run in the node's session
        // (`tool_policy::check`), on the path agent runs take too.
        Ok(InvokeNodeCommand {
            node_id,
            command,
            params: obj.get("params").cloned().filter(|v| !v.is_null()),
            timeout_ms: timeout
                .unwrap_or(DEFAULT_INVOKE_TIMEOUT_MS)
                .min(MAX_INVOKE_TIMEOUT_MS),
            idempotency_key,
            session_key,
            origin: InvokeOrigin::Operator {
                scopes: caller.to_vec(),
            },
        })
    }

    pub(super) fn invoke_result(
        params: &Value,
        my_node_id: &str,
    ) -> Result<InvokeResult, ErrorShape> {
        const METHOD: &str = "node.invoke.result";
        let obj = object(METHOD, params)?;
        let mut c = Checker::new();
        for key in ["id", "nodeId", "ok"] {
            c.required("", obj, key);
        }
        c.closed(
            "",
            obj,
            &["id", "nodeId", "ok", "payload", "payloadJSON", "error"],
        );
        let id = c.string("", obj, "id", true).map(str::to_owned);
        let node_id = c.string("", obj, "nodeId", true).map(str::to_owned);
        let ok = c.boolean("", obj, "ok");
        let payload_json = match obj.get("payloadJSON") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                c.error("/payloadJSON", "must be string");
                None
            }
        };
        let error = match obj.get("error") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => {
                c.error("/error", "must be object");
                None
            }
        };
        let (Some(id), Some(node_id), Some(ok)) = (id, node_id, ok) else {
            return Err(fail(METHOD, &c));
        };
        if !c.ok() {
            return Err(fail(METHOD, &c));
        }
        if node_id != my_node_id {
            return Err(ErrorShape::invalid("nodeId mismatch"));
        }
        Ok(InvokeResult {
            id,
            ok,
            payload: obj.get("payload").cloned().filter(|v| !v.is_null()),
            payload_json,
            error,
        })
    }
}

/// Params of the agent and chat methods.
mod agent_params {
    use std::time::Duration;

    use serde_json::Value;

    use crate::channel::normalize_session_key;
    use crate::protocol::error::ErrorShape;
    use crate::protocol::validate::Checker;
    use crate::registry::runs::SendOutbound;

    fn obj<'a>(
        method: &str,
        p: &'a Value,
    ) -> Result<&'a serde_json::Map<String, Value>, ErrorShape> {
        p.as_object()
            .ok_or_else(|| ErrorShape::invalid(format!("invalid {method} params: must be object")))
    }

    fn fail(method: &str, c: &Checker) -> ErrorShape {
        ErrorShape::invalid(format!("invalid {method} params: {}", c.message()))
    }

    /// `chat.send` / `agent` → (session key, text, run id, final wait).
    pub(super) fn submit(
        method: &str,
        p: &Value,
    ) -> Result<(String, String, String, Duration), ErrorShape> {
        let o = obj(method, p)?;
        let mut c = Checker::new();
        if method == "chat.send" {
            c.required("", o, "sessionKey");
            c.required("", o, "message");
        } else {
            c.required("", o, "message");
        }
        c.required("", o, "idempotencyKey");
        let key = c
            .string("", o, "sessionKey", true)
            .map(normalize_session_key);
        let text = c.string("", o, "message", false).map(str::to_owned);
        let run_id = c.string("", o, "idempotencyKey", true).map(str::to_owned);
        let timeout_s = c.integer("", o, "timeout", 1);
        let (Some(text), Some(run_id)) = (text, run_id) else {
            return Err(fail(method, &c));
        };
        if !c.ok() {
            return Err(fail(method, &c));
        }
        if text.trim().is_empty() {
            return Err(ErrorShape::invalid(format!(
                "invalid {method} params: message must not be empty"
            )));
        }
        let key = key.unwrap_or_else(|| "agent:main:main".to_owned());
        let wait = Duration::from_secs(timeout_s.unwrap_or(600)).min(crate::agent_run::MAX_WAIT);
        Ok((key, text, run_id, wait))
    }

    pub(super) fn wait(p: &Value) -> Result<(String, Duration), ErrorShape> {
        let o = obj("agent.wait", p)?;
        let mut c = Checker::new();
        c.required("", o, "runId");
        let run_id = c.string("", o, "runId", true).map(str::to_owned);
        let ms = c.integer("", o, "timeoutMs", 0);
        match run_id {
            Some(r) if c.ok() => Ok((
                r,
                Duration::from_millis(ms.unwrap_or(30_000)).min(crate::agent_run::MAX_WAIT),
            )),
            _ => Err(fail("agent.wait", &c)),
        }
    }

    pub(super) fn history(p: &Value) -> Result<(String, usize), ErrorShape> {
        let o = obj("chat.history", p)?;
        let mut c = Checker::new();
        c.required("", o, "sessionKey");
        let key = c
            .string("", o, "sessionKey", true)
            .map(normalize_session_key);
        let limit = c.integer("", o, "limit", 1).unwrap_or(200).min(5000);
        match key {
            Some(k) if c.ok() => Ok((k, usize::try_from(limit).unwrap_or(200))),
            _ => Err(fail("chat.history", &c)),
        }
    }

    pub(super) fn abort(p: &Value) -> Result<(String, Option<String>), ErrorShape> {
        let o = obj("chat.abort", p)?;
        let mut c = Checker::new();
        c.required("", o, "sessionKey");
        let key = c
            .string("", o, "sessionKey", true)
            .map(normalize_session_key);
        let run = c.string("", o, "runId", true).map(str::to_owned);
        match key {
            Some(k) if c.ok() => Ok((k, run)),
            _ => Err(fail("chat.abort", &c)),
        }
    }

    pub(super) fn send(p: &Value) -> Result<SendOutbound, ErrorShape> {
        let o = obj("send", p)?;
        let mut c = Checker::new();
        c.required("", o, "to");
        c.required("", o, "idempotencyKey");
        let to = c.string("", o, "to", true).map(str::to_owned);
        let idempotency_key = c
            .string("", o, "idempotencyKey", true)
            .map(str::to_owned)
            .unwrap_or_default();
        let text = c.string("", o, "message", false).map(str::to_owned);
        let channel = c
            .string("", o, "channel", true)
            .unwrap_or("telegram")
            .to_owned();
        let account_id = c.string("", o, "accountId", true).map(str::to_owned);
        let thread_id = o
            .get("threadId")
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
        let reply_to = o
            .get("replyToId")
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
        let Some(to) = to else {
            return Err(fail("send", &c));
        };
        if !c.ok() {
            return Err(fail("send", &c));
        }
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return Err(ErrorShape::invalid(
                "invalid send params: message is required (media is not supported yet)",
            ));
        };
        Ok(SendOutbound {
            channel,
            account_id,
            to,
            text,
            thread_id,
            reply_to,
            idempotency_key,
        })
    }

    pub(super) fn pairing_approve(
        p: &Value,
    ) -> Result<(String, Option<String>, String), ErrorShape> {
        const M: &str = "channels.pairing.approve";
        let o = obj(M, p)?;
        let mut c = Checker::new();
        c.required("", o, "channel");
        let channel = c.string("", o, "channel", true).map(str::to_owned);
        let code = c
            .string("", o, "requestId", true)
            .or_else(|| o.get("code").and_then(Value::as_str))
            .map(str::to_owned);
        let account = c.string("", o, "accountId", true).map(str::to_owned);
        match (channel, code) {
            (Some(ch), Some(code)) if c.ok() => Ok((ch, account, code)),
            (_, None) if c.ok() => Err(ErrorShape::invalid(format!(
                "invalid {M} params: must have required property 'requestId'"
            ))),
            _ => Err(fail(M, &c)),
        }
    }
}
