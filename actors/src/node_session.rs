//! # `NodeSession` — one actor per connected node
//!
//! Owns the node's pending `node.invoke` calls, the approved command surface and the
//! idempotency dedupe. The node's `WsSession` starts it on its own worker thread when the
//! handshake completes (so requests and results never cross threads on the node side) and
//! the [`crate::registry::Registry`] stops it when the socket closes; stopping fails every
//! pending call at once with `NODE_DISCONNECTED`. Operator sessions send [`InvokeNode`]
//! straight to it (the address comes from the registry once, then is cached).
//!
//! Messages: [`InvokeNode`], [`InvokeResult`], [`StopNode`], [`PendingCount`],
//! [`UpdateCommands`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::protocol::codes;
use crate::protocol::error::{ErrorCode, ErrorShape};
use crate::tool_policy::InvokeCaller;
use crate::ws_session::{SendTargeted, WsSession};

/// Default invoke timeout.
pub const DEFAULT_INVOKE_TIMEOUT_MS: u64 = 30_000;
/// Bound on concurrent invokes per node.
pub const MAX_PENDING_INVOKES: usize = 1024;

/// What a finished invoke carries back to the caller: the `node.invoke` response payload, or
/// the error to answer with.
pub type InvokeOutcome = Result<Value, ErrorShape>;

struct Pending {
    reply: oneshot::Sender<InvokeOutcome>,
    command: String,
    timer: SpawnHandle,
}

/// The node session actor.
pub struct NodeSession {
    /// Node id (= device id).
    node_id: String,
    /// The node's socket.
    ws: Addr<WsSession>,
    /// In-flight invokes by invoke id.
    pending: HashMap<String, Pending>,
    /// Commands the node declared.
    declared: Vec<String>,
    /// Declared commands an operator approved (set by the registry).
    approved: Vec<String>,
    /// The node's platform (for error messages).
    platform: String,
    /// Finished invokes by idempotency key with the call's fingerprint, kept 5 minutes
    /// (at most 1000).
    dedupe: HashMap<String, (Instant, Fingerprint, InvokeOutcome)>,
    /// Callers waiting on an in-flight invoke with the same key (and its fingerprint).
    inflight: HashMap<String, (Fingerprint, Vec<oneshot::Sender<InvokeOutcome>>)>,
    /// Display name (for `allowNodes` of the agent tool policy; set by the registry).
    display_name: Option<String>,
    /// The registry, which keeps finished outcomes across a reconnect of the node.
    registry: Option<Addr<crate::registry::Registry>>,
}

/// What an idempotency key is bound to: SHA-256 over the caller's principal, the command
/// and the params (the node is implicit: each node has its own cache).
pub type Fingerprint = [u8; 32];

/// A finished outcome handed over across a node reconnect: `(key, fingerprint, outcome)`.
pub type KeptOutcome = (String, Fingerprint, InvokeOutcome);

/// The fingerprint of a call.
pub fn fingerprint(principal: &str, command: &str, params: Option<&Value>) -> Fingerprint {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [principal, command] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    // serde_json's maps are ordered, so equal params serialize equally. Serialized straight
    // into the hasher: no copy of the params on the invoke path.
    if let Some(p) = params {
        // Writing into a hasher cannot fail, and a `Value` always serializes.
        let _ = serde_json::to_writer(HashWriter(&mut h), p);
    }
    h.finalize().into()
}

/// `io::Write` into a SHA-256 state.
struct HashWriter<'a>(&'a mut sha2::Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The error for a reused idempotency key whose call differs from the first one.
pub fn key_reused() -> ErrorShape {
    ErrorShape::invalid(
        "idempotencyKey was already used for a different node.invoke (other caller, command or params); use a new key for a new call",
    )
    .with_details(json!({"reason": "idempotency key reused"}))
}

/// Dedupe window for idempotency keys (`DEDUPE_TTL_MS`).
const DEDUPE_TTL: Duration = Duration::from_secs(300);
/// Dedupe capacity (`DEDUPE_MAX`).
const DEDUPE_MAX: usize = 1000;

impl NodeSession {
    /// A session for `node_id` talking through `ws`. Nothing is approved until the
    /// registry sends [`UpdateCommands`].
    pub fn new(
        node_id: String,
        ws: Addr<WsSession>,
        declared: Vec<String>,
        platform: String,
    ) -> Self {
        Self {
            node_id,
            ws,
            pending: HashMap::new(),
            declared,
            approved: Vec::new(),
            platform,
            dedupe: HashMap::new(),
            inflight: HashMap::new(),
            display_name: None,
            registry: None,
        }
    }

    /// Hands finished outcomes to `registry` when the session stops, so a retry after the
    /// node reconnects is still answered from the dedupe cache.
    #[must_use]
    pub fn with_registry(mut self, registry: Addr<crate::registry::Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Refuses commands outside the approved surface, with the real gateway's wording.
    fn check_allowed(&self, command: &str) -> Result<(), ErrorShape> {
        if self.approved.iter().any(|c| c == command) {
            return Ok(());
        }
        let (reason, message) = if self.declared.iter().any(|c| c == command) {
            (
                "command not approved",
                format!(
                    "node command not allowed: \"{command}\" is awaiting operator approval (run openclaw nodes approve)"
                ),
            )
        } else {
            (
                "command not allowlisted",
                format!(
                    "node command not allowed: \"{command}\" is not in the allowlist for platform \"{}\"",
                    self.platform
                ),
            )
        };
        Err(ErrorShape::invalid(message)
            .with_details(json!({"reason": reason, "command": command})))
    }

    /// Sends the request to the node and arms its deadline.
    fn dispatch(
        &mut self,
        msg: &InvokeNode,
        tx: oneshot::Sender<InvokeOutcome>,
        ctx: &mut Context<Self>,
    ) {
        let id = uuid::Uuid::new_v4().to_string();
        let timeout = Duration::from_millis(msg.timeout_ms.max(1));
        let timer_id = id.clone();
        let timer = ctx.run_later(timeout, move |act, _| {
            if let Some(p) = act.pending.remove(&timer_id) {
                let _ = p.reply.send(Err(node_error(
                    codes::TIMEOUT,
                    "node invoke timed out",
                    true,
                )));
            }
        });
        let params_json = msg.params.as_ref().map(Value::to_string);
        let mut payload = json!({
            "id": id,
            "nodeId": self.node_id,
            "command": msg.command,
            "paramsJSON": params_json,
            "timeoutMs": msg.timeout_ms,
            "idempotencyKey": msg.idempotency_key,
        });
        if let Some(k) = &msg.session_key {
            payload["sessionKey"] = json!(k);
        }
        self.pending.insert(
            id,
            Pending {
                reply: tx,
                command: msg.command.clone(),
                timer,
            },
        );
        self.ws.do_send(SendTargeted {
            event: "node.invoke.request",
            payload: payload.to_string(),
        });
    }
}

/// The error for a node-side failure (`respondUnavailableOnNodeInvokeError`).
pub fn node_error(code: &str, message: &str, dispatched: bool) -> ErrorShape {
    let text = if code.is_empty() {
        message.to_owned()
    } else {
        format!("{code}: {message}")
    };
    ErrorShape::new(ErrorCode::Unavailable, text).with_details(json!({
        "nodeError": {"code": code, "message": message},
        "nodeCommandDispatched": dispatched,
    }))
}

/// The error of a call whose node went away before answering.
pub fn disconnected() -> ErrorShape {
    node_error(
        codes::NODE_DISCONNECTED,
        "node disconnected before answering",
        true,
    )
}

impl Actor for NodeSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAX_PENDING_INVOKES);
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        if let Some(registry) = &self.registry {
            let entries: Vec<KeptOutcome> = self
                .dedupe
                .drain()
                .filter(|(_, (at, _, _))| at.elapsed() < DEDUPE_TTL)
                .map(|(k, (_, fp, v))| (k, fp, v))
                .collect();
            if !entries.is_empty() {
                registry.do_send(crate::registry::nodes::KeepOutcomes {
                    node_id: self.node_id.clone(),
                    entries,
                });
            }
        }
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(disconnected()));
        }
        Running::Stop
    }
}

/// Sent by the `Registry` to run a command on this node. Resolves when the node answers,
/// the deadline passes (`TIMEOUT`) or the node disconnects (`NODE_DISCONNECTED`).
#[derive(Message)]
#[rtype(result = "InvokeOutcome")]
pub struct InvokeNode {
    /// Command name.
    pub command: String,
    /// Params for the command (`paramsJSON` on the wire).
    pub params: Option<Value>,
    /// Deadline.
    pub timeout_ms: u64,
    /// Caller's idempotency key.
    pub idempotency_key: String,
    /// Session key, if the call came from an agent run.
    pub session_key: Option<String>,
    /// Who is calling: the caller checks of [`crate::tool_policy::check`] run here, on the
    /// path every invoke takes, and the idempotency key is bound to the caller.
    pub caller: InvokeCaller,
}

impl Handler<InvokeNode> for NodeSession {
    type Result = ResponseFuture<InvokeOutcome>;

    fn handle(&mut self, msg: InvokeNode, ctx: &mut Self::Context) -> Self::Result {
        if let Err(e) = crate::tool_policy::check(
            &msg.caller,
            &self.node_id,
            self.display_name.as_deref(),
            &msg.command,
        ) {
            return Box::pin(async move { Err(e) });
        }
        if let Err(e) = self.check_allowed(&msg.command) {
            return Box::pin(async move { Err(e) });
        }
        let key = msg.idempotency_key.clone();
        let fp = fingerprint(msg.caller.principal(), &msg.command, msg.params.as_ref());
        let now = Instant::now();
        if let Some((at, done_fp, done)) = self.dedupe.get(&key)
            && now.duration_since(*at) < DEDUPE_TTL
        {
            let done = if *done_fp == fp {
                done.clone()
            } else {
                Err(key_reused())
            };
            return Box::pin(async move { done });
        }
        let (tx, rx) = oneshot::channel();
        if let Some((first_fp, waiters)) = self.inflight.get_mut(&key) {
            if *first_fp != fp {
                return Box::pin(async { Err(key_reused()) });
            }
            // Same key while the first call runs: wait for its result, run nothing new.
            waiters.push(tx);
        } else {
            if self.pending.len() >= MAX_PENDING_INVOKES {
                return Box::pin(async {
                    Err(
                        ErrorShape::unavailable("node is busy; too many invokes in flight")
                            .retry_after(1000),
                    )
                });
            }
            self.inflight.insert(key.clone(), (fp, vec![tx]));
            let (first_tx, first_rx) = oneshot::channel();
            self.dispatch(&msg, first_tx, ctx);
            // Fan the node's single answer out to every caller with this key.
            ctx.spawn(
                async move { first_rx.await.unwrap_or_else(|_| Err(disconnected())) }
                    .into_actor(self)
                    .map(move |outcome, act, _| {
                        if act.dedupe.len() >= DEDUPE_MAX {
                            act.dedupe.retain(|_, (at, _, _)| at.elapsed() < DEDUPE_TTL);
                            if act.dedupe.len() >= DEDUPE_MAX {
                                act.dedupe.clear();
                            }
                        }
                        act.dedupe
                            .insert(key.clone(), (Instant::now(), fp, outcome.clone()));
                        let waiters = act.inflight.remove(&key).map(|(_, w)| w);
                        for w in waiters.unwrap_or_default() {
                            let _ = w.send(outcome.clone());
                        }
                    }),
            );
        }
        Box::pin(async move { rx.await.unwrap_or_else(|_| Err(disconnected())) })
    }
}

/// Sent by the node's `WsSession` for each `node.invoke.result` request. Replies whether
/// the id matched a pending call (late or unknown ids are ignored).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct InvokeResult {
    /// Invoke id.
    pub id: String,
    /// Whether the command succeeded.
    pub ok: bool,
    /// `payload`, if sent as an object.
    pub payload: Option<Value>,
    /// `payloadJSON`, if sent as a string.
    pub payload_json: Option<String>,
    /// `error`, if any.
    pub error: Option<Value>,
}

impl Handler<InvokeResult> for NodeSession {
    type Result = bool;

    fn handle(&mut self, msg: InvokeResult, ctx: &mut Self::Context) -> bool {
        let Some(p) = self.pending.remove(&msg.id) else {
            return false;
        };
        ctx.cancel_future(p.timer);
        let outcome = if msg.ok {
            let payload = match (&msg.payload_json, msg.payload) {
                (Some(s), _) => {
                    serde_json::from_str(s).unwrap_or_else(|_| json!({"payloadJSON": s}))
                }
                (None, Some(v)) => v,
                (None, None) => Value::Null,
            };
            Ok(json!({
                "ok": true,
                "nodeId": self.node_id,
                "command": p.command,
                "payload": payload,
                "payloadJSON": msg.payload_json,
            }))
        } else {
            let code = msg
                .error
                .as_ref()
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let message = msg
                .error
                .as_ref()
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("node invoke failed")
                .to_owned();
            let mut err = node_error(&code, &message, true);
            if let Some(d) = err.details.as_mut() {
                d["nodeError"] = msg.error.unwrap_or(Value::Null);
            }
            Err(err)
        };
        let _ = p.reply.send(outcome);
        true
    }
}

/// Sent by the `Registry` to stop the session (socket closed or node removed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopNode;

impl Handler<StopNode> for NodeSession {
    type Result = ();

    fn handle(&mut self, _: StopNode, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Count of in-flight invokes (for `node.describe`/status).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct PendingCount;

impl Handler<PendingCount> for NodeSession {
    type Result = usize;

    fn handle(&mut self, _: PendingCount, _: &mut Self::Context) -> usize {
        self.pending.len()
    }
}

/// Sent by the registry when the node's approved surface changes (attach, approve,
/// remove): only these commands may run. At attach it also carries the outcomes the node's
/// previous session finished (idempotency across a reconnect).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateCommands {
    /// The approved commands.
    pub approved: Vec<String>,
    /// Finished outcomes by idempotency key, from the previous session.
    pub seed: Vec<KeptOutcome>,
    /// The node's display name (for the agent tool policy's `allowNodes`).
    pub display_name: Option<String>,
}

impl Handler<UpdateCommands> for NodeSession {
    type Result = ();

    fn handle(&mut self, msg: UpdateCommands, _: &mut Self::Context) {
        self.approved = msg.approved;
        if msg.display_name.is_some() {
            self.display_name = msg.display_name;
        }
        let now = Instant::now();
        for (k, fp, v) in msg.seed {
            if self.dedupe.len() < DEDUPE_MAX {
                self.dedupe.entry(k).or_insert((now, fp, v));
            }
        }
    }
}
