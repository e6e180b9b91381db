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

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::{Frame, ProtocolError};
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev, web};
use serde_json::{Value, json};

use crate::engine::{Engine, Shared};
use crate::node_session::{InvokeNode, NodeSession};
use crate::protocol::error::ErrorShape;
use crate::protocol::frame::{self, Inbound, Request, StateVersion};
use crate::protocol::scopes::{self, MethodAccess};
use crate::protocol::validate::optional_bool_params;
use crate::protocol::{
    MAX_PENDING_HANDSHAKE_FRAMES, MAX_PREAUTH_PAYLOAD_BYTES, PROTOCOL_VERSION, close,
};
use crate::registry::nodes::{
    DescribeNode, InvokeNodeCommand, ListNodes, LookupNode, NodeHostStats, PairingOp,
    PairingRequest, not_connected,
};
use crate::registry::runs::ChannelsStatus;
use crate::registry::{GetPresence, GetStats, Registry, SessionClosed, SessionOpened};
use crate::util::now_ms;

mod handshake;
mod peer;
mod transport;

pub use peer::{HardClose, PeerInfo};
pub use transport::{ClientFrames, OutState};
use transport::{Outbound, Push};

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
