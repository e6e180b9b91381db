//! # `NodeSession` — one actor per connected node
//!
//! Owns the node's pending `node.invoke` calls, the approved command surface and the
//! idempotency dedupe ([`dedupe`], bounded in entries and bytes). Answers are held as JSON
//! text and shared, never copied ([`InvokeReply`]). The node's `WsSession` starts it on its
//! own worker thread when the handshake completes (so requests and results never cross
//! threads on the node side) and the [`crate::registry::Registry`] stops it when the socket
//! closes; stopping fails every pending call at once with `NODE_DISCONNECTED`. Operator
//! sessions send [`InvokeNode`] straight to it (the address comes from the registry once,
//! then is cached).
//!
//! A node that answers `NODE_NOT_READY` (it did not start the command: an app between
//! background and foreground) is asked again after 100, 250, 500 and 1000 ms within the
//! call's own deadline, its approved surface checked again each time, as OpenClaw's
//! `invokeNodeWithReadinessRetry` does; after progress ([`InvokeProgress`]) the answer is
//! `UNAVAILABLE` instead (the command did start). A not-ready outcome is never cached
//! under the idempotency key (nothing ran).
//!
//! Messages: [`InvokeNode`], [`InvokeResult`], [`InvokeProgress`], [`StopNode`],
//! [`PendingCount`], [`UpdateCommands`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::protocol::codes;
use crate::protocol::error::{ErrorCode, ErrorShape};
use crate::tool_policy::InvokeCaller;
use crate::ws_session::SendTargeted;

pub mod dedupe;
mod reply;

use dedupe::Dedupe;
pub use reply::InvokeReply;

/// Default invoke timeout.
pub const DEFAULT_INVOKE_TIMEOUT_MS: u64 = 30_000;
/// Bound on concurrent invokes per node.
pub const MAX_PENDING_INVOKES: usize = 1024;
/// The waits before asking a not-ready node again (OpenClaw's `READINESS_RETRY_DELAYS_MS`).
pub const READINESS_RETRY_DELAYS: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1000),
];
/// Params larger than this (as sent) are not kept for a readiness retry: a call that
/// big gets the node's `NODE_NOT_READY` as it is (no copy held while calls wait).
pub const RETRY_PARAMS_MAX: usize = 256 * 1024;

/// What a finished invoke carries back to the caller: the `node.invoke` response payload, or
/// why it failed.
pub type InvokeOutcome = Result<InvokeReply, InvokeError>;

/// Why a `node.invoke` failed. The engine passes it around typed; it becomes the wire
/// [`ErrorShape`] ([`InvokeError::to_shape`]) only where an answer is written (the operator's
/// `res` frame, the agent's tool result).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvokeError {
    /// The node is not connected (`NOT_CONNECTED`).
    #[error("node not connected")]
    NotConnected,
    /// The node failed the call, did not answer in time ([`codes::TIMEOUT`]) or went away
    /// before answering ([`codes::NODE_DISCONNECTED`]).
    #[error("{}", if code.is_empty() { message.clone() } else { format!("{code}: {message}") })]
    Node {
        /// The node's error code (may be empty).
        code: String,
        /// The node's message.
        message: String,
        /// The node's own `error` object, when it sent the failure (kept as it sent it).
        raw: Option<Value>,
    },
    /// Refused before it reached the node: a command private to the gateway, outside the
    /// node's approved surface, or denied by the agent tool policy.
    #[error("{message}")]
    Refused {
        /// The whole message (some clients match on it).
        message: String,
        /// `details.reason`, when the refusal has details.
        reason: Option<&'static str>,
        /// The command.
        command: String,
    },
    /// The caller lacks a scope the command needs.
    #[error("missing scope: {0}")]
    MissingScope(&'static str),
    /// The idempotency key was used for a different call.
    #[error(
        "idempotencyKey was already used for a different node.invoke (other caller, command or params); use a new key for a new call"
    )]
    KeyReused,
    /// Too many invokes in flight on this node.
    #[error("node is busy; too many invokes in flight")]
    Busy,
}

impl InvokeError {
    /// Whether a policy refused the call, so nothing ran: the gateway's (a command outside
    /// the node's approved surface, the agent tool policy, a missing scope) or the node's
    /// own exec approvals (`SYSTEM_RUN_DENIED`).
    pub fn refused(&self) -> bool {
        match self {
            Self::Refused { .. } | Self::MissingScope(_) => true,
            Self::Node { code, .. } => code == "SYSTEM_RUN_DENIED",
            _ => false,
        }
    }

    /// No answer before the deadline.
    pub fn timeout() -> Self {
        Self::node(codes::TIMEOUT, "node invoke timed out")
    }

    /// The node went away before answering.
    pub fn disconnected() -> Self {
        Self::node(
            codes::NODE_DISCONNECTED,
            "node disconnected before answering",
        )
    }

    pub(crate) fn node(code: &str, message: &str) -> Self {
        Self::Node {
            code: code.to_owned(),
            message: message.to_owned(),
            raw: None,
        }
    }

    /// The wire error, as the real gateway sends it.
    pub fn to_shape(&self) -> ErrorShape {
        let text = self.to_string();
        match self {
            Self::NotConnected => {
                ErrorShape::new(ErrorCode::Unavailable, text).with_details(json!({
                    "code": codes::NOT_CONNECTED,
                    "nodeError": {"code": codes::NOT_CONNECTED, "message": "node not connected"},
                    "nodeCommandDispatched": false,
                }))
            }
            // `respondUnavailableOnNodeInvokeError`.
            Self::Node { code, message, raw } => {
                let node_error = raw
                    .clone()
                    .unwrap_or_else(|| json!({"code": code, "message": message}));
                ErrorShape::new(ErrorCode::Unavailable, text).with_details(json!({
                    "nodeError": node_error,
                    "nodeCommandDispatched": true,
                }))
            }
            Self::Refused {
                reason, command, ..
            } => {
                let e = ErrorShape::invalid(text);
                match reason {
                    Some(r) => e.with_details(json!({"reason": r, "command": command})),
                    None => e,
                }
            }
            Self::MissingScope(scope) => ErrorShape::missing_scope(scope),
            Self::KeyReused => {
                ErrorShape::invalid(text).with_details(json!({"reason": "idempotency key reused"}))
            }
            Self::Busy => ErrorShape::unavailable(text).retry_after(1000),
        }
    }
}

impl From<InvokeError> for ErrorShape {
    fn from(e: InvokeError) -> Self {
        e.to_shape()
    }
}

/// A call sent to the node and not answered yet. Its callers wait in `inflight` under
/// `key`; the answer (or the deadline) settles them all at once ([`NodeSession::settle`]).
struct Pending {
    command: String,
    key: String,
    fingerprint: Fingerprint,
    timer: SpawnHandle,
    /// What is sent again when the node was not ready: the params as sent, the session
    /// key and whether only the declared surface counts (`exec.approvals.node.*`).
    params_json: Option<String>,
    session_key: Option<String>,
    declared_only: bool,
    /// The call's own deadline (retries stay inside it) and its timeout as asked.
    deadline: Instant,
    timeout_ms: u64,
    /// Readiness retries so far.
    attempt: usize,
    /// Whether it may be sent again (its params were small enough to keep).
    retryable: bool,
    /// The node reported progress: it started the command.
    progressed: bool,
}

/// The node session actor.
pub struct NodeSession {
    /// Node id (= device id).
    node_id: String,
    /// The node's socket.
    ws: Recipient<SendTargeted>,
    /// In-flight invokes by invoke id.
    pending: HashMap<String, Pending>,
    /// Commands the node declared.
    declared: Vec<String>,
    /// Declared commands an operator approved (set by the registry).
    approved: Vec<String>,
    /// The node's platform (for error messages).
    platform: String,
    /// Finished invokes by idempotency key with the call's fingerprint (see [`dedupe`]).
    dedupe: Dedupe,
    /// Callers waiting on an in-flight invoke with the same key (and its fingerprint).
    inflight: HashMap<String, (Fingerprint, Vec<oneshot::Sender<InvokeOutcome>>)>,
    /// Display name (for `allowNodes` of the agent tool policy; set by the registry).
    display_name: Option<String>,
    /// The registry, which keeps finished outcomes across a reconnect of the node.
    registry: Option<Recipient<crate::registry::nodes::KeepOutcomes>>,
}

/// What an idempotency key is bound to: SHA-256 over the caller's principal, the command
/// and the params (the node is implicit: each node has its own cache).
pub type Fingerprint = [u8; 32];

/// A finished outcome handed over across a node reconnect: `(key, fingerprint, outcome,
/// when it finished)` (its dedupe window runs from then, not from the reconnect).
pub type KeptOutcome = (String, Fingerprint, InvokeOutcome, Instant);

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

/// A fresh invoke id: a UUID v4 as OpenClaw's `randomUUID()` writes it, drawn without a
/// system call. Invoke ids only correlate a node's answer with its call (a node can answer
/// only its own session's calls), so they need to be unique, not secret: 122 bits of keyed
/// SipHash over a per-thread counter, keyed once per thread from the OS (std's
/// `RandomState`).
fn invoke_id() -> String {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static IDS: (std::collections::hash_map::RandomState, Cell<u64>) =
            (std::collections::hash_map::RandomState::new(), Cell::new(0));
    }
    IDS.with(|(keys, n)| {
        let count = n.get().wrapping_add(1);
        n.set(count);
        let mut bytes = [0u8; 16];
        for (half, chunk) in bytes.chunks_exact_mut(8).enumerate() {
            let mut h = keys.build_hasher();
            h.write_u64(count);
            h.write_u8(half as u8);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        let mut buf = uuid::Uuid::encode_buffer();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .encode_lower(&mut buf)
            .to_owned()
    })
}

impl NodeSession {
    /// A session for `node_id` talking through `ws`. Nothing is approved until the
    /// registry sends [`UpdateCommands`].
    pub fn new(
        node_id: String,
        ws: Recipient<SendTargeted>,
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
            dedupe: Dedupe::default(),
            inflight: HashMap::new(),
            display_name: None,
            registry: None,
        }
    }

    /// Hands finished outcomes to `registry` when the session stops, so a retry after the
    /// node reconnects is still answered from the dedupe cache.
    #[must_use]
    pub fn with_registry(
        mut self,
        registry: Recipient<crate::registry::nodes::KeepOutcomes>,
    ) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Refuses commands outside the approved surface, with the real gateway's wording.
    /// For `exec.approvals.node.*`: the node must offer the command itself.
    fn check_declared(&self, command: &str) -> Result<(), InvokeError> {
        if self.declared.iter().any(|c| c == command) {
            return Ok(());
        }
        Err(InvokeError::Refused {
            message: format!(
                "node command not allowed: {command} (the node does not declare it; its host manages exec approvals some other way)"
            ),
            reason: Some("command not declared"),
            command: command.to_owned(),
        })
    }

    fn check_allowed(&self, command: &str) -> Result<(), InvokeError> {
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
        Err(InvokeError::Refused {
            message,
            reason: Some(reason),
            command: command.to_owned(),
        })
    }

    /// Sends the request to the node and arms its deadline.
    fn dispatch(&mut self, msg: InvokeNode, fingerprint: Fingerprint, ctx: &mut Context<Self>) {
        let timeout = Duration::from_millis(msg.timeout_ms.max(1));
        let p = Pending {
            params_json: msg.params.as_ref().map(Value::to_string),
            command: msg.command,
            key: msg.idempotency_key,
            fingerprint,
            // Armed by `send_request`.
            timer: SpawnHandle::default(),
            session_key: msg.session_key,
            declared_only: matches!(msg.caller, InvokeCaller::ExecApprovals { .. }),
            deadline: Instant::now() + timeout,
            timeout_ms: msg.timeout_ms,
            attempt: 0,
            retryable: true,
            progressed: false,
        };
        self.send_request(p, ctx);
    }

    /// Sends `p` to the node under a fresh invoke id, with what is left of its deadline.
    fn send_request(&mut self, mut p: Pending, ctx: &mut Context<Self>) {
        let id = invoke_id();
        let left = p.deadline.saturating_duration_since(Instant::now());
        let timer_id = id.clone();
        p.timer = ctx.run_later(left, move |act, _| {
            if let Some(p) = act.pending.remove(&timer_id) {
                act.settle(p, Err(InvokeError::timeout()));
            }
        });
        let payload = InvokeRequestPayload {
            command: &p.command,
            id: &id,
            idempotency_key: &p.key,
            node_id: &self.node_id,
            params_json: p.params_json.as_deref(),
            session_key: p.session_key.as_deref(),
            // The first request says the timeout as asked; a retry what is left of it.
            timeout_ms: if p.attempt == 0 {
                p.timeout_ms
            } else {
                u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1)
            },
        };
        // Serializing a struct of string slices cannot fail.
        let payload = serde_json::to_string(&payload).unwrap_or_default();
        if p.params_json
            .as_ref()
            .is_some_and(|j| j.len() > RETRY_PARAMS_MAX)
        {
            p.params_json = None;
            p.retryable = false;
        }
        self.pending.insert(id, p);
        self.ws.do_send(SendTargeted {
            event: "node.invoke.request",
            payload,
        });
    }

    /// The node was not ready for `p`: asks again after the next readiness wait if the
    /// deadline allows (the surface checked again then), else settles it.
    fn not_ready(&mut self, mut p: Pending, outcome: InvokeOutcome, ctx: &mut Context<Self>) {
        if p.progressed {
            let e = InvokeError::node(
                "UNAVAILABLE",
                "node reported not-ready after invocation progress",
            );
            return self.settle(p, Err(e));
        }
        let Some(wait) = READINESS_RETRY_DELAYS
            .get(p.attempt)
            .copied()
            .filter(|_| p.retryable)
        else {
            return self.settle(p, outcome);
        };
        let left = p.deadline.saturating_duration_since(Instant::now());
        if left <= wait {
            return self.settle(p, Err(InvokeError::timeout()));
        }
        p.attempt += 1;
        ctx.run_later(wait, move |act, ctx| {
            let checked = if p.declared_only {
                act.check_declared(&p.command)
            } else {
                act.check_allowed(&p.command)
            };
            match checked {
                Ok(()) => act.send_request(p, ctx),
                Err(e) => act.settle(p, Err(e)),
            }
        });
    }

    /// A call finished (answered or timed out): its outcome goes into the dedupe cache and
    /// to every caller waiting on its idempotency key, straight from here (no task between
    /// the node's answer and the callers).
    fn settle(&mut self, p: Pending, outcome: InvokeOutcome) {
        if let Err(InvokeError::Node { code, .. }) = &outcome {
            // A failed call (the node's error, a timeout, the node gone): its command and
            // code, never its params or the node's message.
            crate::stability::record(
                crate::stability::Record::of("tool.execution.error")
                    .tool(&p.command)
                    .source("node")
                    .outcome("error")
                    .reason(if code.is_empty() { "node_error" } else { code })
                    .repeated(),
            );
        }
        let waiters = self.inflight.remove(&p.key).map(|(_, w)| w);
        for w in waiters.unwrap_or_default() {
            // A clone of an answer shares its text (see `InvokeReply`).
            let _ = w.send(outcome.clone());
        }
        // Nothing ran on a node that was not ready: a retry with the key runs it.
        if !matches!(&outcome, Err(InvokeError::Node { code, .. }) if code == codes::NODE_NOT_READY)
        {
            self.dedupe.insert(p.key, p.fingerprint, outcome);
        }
    }
}

/// The `node.invoke.request` event payload, written straight from the call (no `Value`
/// tree). Fields in the order of the wire object's keys (sorted, as the `json!` object it
/// replaced wrote them); `paramsJSON` is `null` when the call has no params.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvokeRequestPayload<'a> {
    /// Command name.
    pub command: &'a str,
    /// Invoke id (the node answers with it).
    pub id: &'a str,
    /// Caller's idempotency key.
    pub idempotency_key: &'a str,
    /// The node.
    pub node_id: &'a str,
    /// The params, serialized.
    #[serde(rename = "paramsJSON")]
    pub params_json: Option<&'a str>,
    /// Session key, for calls from an agent run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_key: Option<&'a str>,
    /// Deadline.
    pub timeout_ms: u64,
}

impl Actor for NodeSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAX_PENDING_INVOKES);
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        if let Some(registry) = &self.registry {
            let entries: Vec<KeptOutcome> = self.dedupe.take_live();
            if !entries.is_empty() {
                registry.do_send(crate::registry::nodes::KeepOutcomes {
                    node_id: self.node_id.clone(),
                    entries,
                });
            }
        }
        self.pending.clear();
        for (_, (_, waiters)) in self.inflight.drain() {
            for w in waiters {
                let _ = w.send(Err(InvokeError::disconnected()));
            }
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

/// A refused invoke: `tool.execution.blocked` in the stability ring (the command's name
/// when it is a plain code, who asked, and why; never its params).
fn record_blocked(msg: &InvokeNode, e: &InvokeError) {
    let why = match e {
        InvokeError::Refused {
            reason: Some(r), ..
        } => r.replace(' ', "_"),
        InvokeError::Refused { reason: None, .. } => "command_class".to_owned(),
        InvokeError::MissingScope(_) => "missing_scope".to_owned(),
        _ => "refused".to_owned(),
    };
    let source = match msg.caller {
        InvokeCaller::Agent { .. } => "agent",
        InvokeCaller::Operator { .. } | InvokeCaller::ExecApprovals { .. } => "operator",
    };
    crate::stability::record(
        crate::stability::Record::of("tool.execution.blocked")
            .tool(&msg.command)
            .source(source)
            .outcome("blocked")
            .reason(&why)
            .repeated(),
    );
}

impl Handler<InvokeNode> for NodeSession {
    type Result = ResponseFuture<InvokeOutcome>;

    fn handle(&mut self, msg: InvokeNode, ctx: &mut Self::Context) -> Self::Result {
        let checked = crate::tool_policy::check(
            &msg.caller,
            &self.node_id,
            self.display_name.as_deref(),
            &msg.command,
        )
        .and_then(|()| match msg.caller {
            InvokeCaller::ExecApprovals { .. } => self.check_declared(&msg.command),
            _ => self.check_allowed(&msg.command),
        });
        if let Err(e) = checked {
            record_blocked(&msg, &e);
            return Box::pin(async move { Err(e) });
        }
        let key = msg.idempotency_key.clone();
        let fp = fingerprint(msg.caller.principal(), &msg.command, msg.params.as_ref());
        let now = Instant::now();
        if let Some((done_fp, done)) = self.dedupe.get(&key, now) {
            let done = if *done_fp == fp {
                done.clone()
            } else {
                Err(InvokeError::KeyReused)
            };
            return Box::pin(async move { done });
        }
        let (tx, rx) = oneshot::channel();
        if let Some((first_fp, waiters)) = self.inflight.get_mut(&key) {
            if *first_fp != fp {
                return Box::pin(async { Err(InvokeError::KeyReused) });
            }
            // Same key while the first call runs: wait for its result, run nothing new.
            waiters.push(tx);
        } else {
            if self.pending.len() >= MAX_PENDING_INVOKES {
                return Box::pin(async { Err(InvokeError::Busy) });
            }
            // The node's single answer settles every caller with this key.
            self.inflight.insert(key, (fp, vec![tx]));
            self.dispatch(msg, fp, ctx);
        }
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(InvokeError::disconnected()))
        })
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
            Ok(InvokeReply::new(
                &self.node_id,
                &p.command,
                msg.payload_json,
                msg.payload,
            ))
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
            Err(InvokeError::Node {
                code,
                message,
                raw: Some(msg.error.unwrap_or(Value::Null)),
            })
        };
        if matches!(&outcome, Err(InvokeError::Node { code, .. }) if code == codes::NODE_NOT_READY)
        {
            self.not_ready(p, outcome, ctx);
        } else {
            self.settle(p, outcome);
        }
        true
    }
}

/// Sent by the node's `WsSession` for each `node.invoke.progress {invokeId}`: the node
/// started the command (a later `NODE_NOT_READY` is then no reason to ask again).
#[derive(Message)]
#[rtype(result = "()")]
pub struct InvokeProgress {
    /// Invoke id.
    pub id: String,
}

impl Handler<InvokeProgress> for NodeSession {
    type Result = ();

    fn handle(&mut self, msg: InvokeProgress, _: &mut Self::Context) {
        if let Some(p) = self.pending.get_mut(&msg.id) {
            p.progressed = true;
        }
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
        let mut seed = msg.seed;
        // Oldest first, as the cache keeps them.
        seed.sort_by_key(|(_, _, _, at)| *at);
        for (k, fp, v, at) in seed {
            if self.dedupe.get(&k, Instant::now()).is_none() {
                self.dedupe.insert_at(k, fp, v, at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(e: &InvokeError) -> Value {
        serde_json::to_value(e.to_shape()).expect("serializes")
    }

    /// The typed `node.invoke.request` payload writes the bytes of the `json!` object it
    /// replaced (keys sorted; `paramsJSON` null without params; `sessionKey` only when set).
    #[test]
    fn invoke_request_payload_writes_the_object_it_replaced() {
        for (params, session) in [
            (
                Some(r#"{"bins":["sh"],"q":"\"x\""}"#),
                Some("agent:main:main"),
            ),
            (None, None),
            (Some("[]"), None),
        ] {
            let typed = InvokeRequestPayload {
                command: "system.which",
                id: "5d1f0c3e-1111-4222-8333-444455556666",
                idempotency_key: "key \"1\"",
                node_id: "n1",
                params_json: params,
                session_key: session,
                timeout_ms: 5000,
            };
            let mut wire = json!({
                "id": typed.id,
                "nodeId": typed.node_id,
                "command": typed.command,
                "paramsJSON": params,
                "timeoutMs": 5000,
                "idempotencyKey": typed.idempotency_key,
            });
            if let Some(k) = session {
                wire["sessionKey"] = json!(k);
            }
            assert_eq!(
                serde_json::to_string(&typed).expect("serializes"),
                wire.to_string()
            );
        }
    }

    /// Invoke ids look like `randomUUID()`'s (version 4, RFC 4122 variant) and differ.
    #[test]
    fn invoke_ids_are_distinct_v4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| invoke_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let u = uuid::Uuid::parse_str(id).expect("a uuid");
            assert_eq!(u.get_version_num(), 4, "{id}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert_eq!(id, &u.hyphenated().to_string(), "lower-case, hyphenated");
        }
    }

    /// Each typed failure becomes the exact error frame the real gateway sends.
    #[test]
    fn invoke_errors_become_the_real_gateways_wire_errors() {
        assert_eq!(
            wire(&InvokeError::NotConnected),
            json!({"code": "UNAVAILABLE", "message": "node not connected", "details": {
                "code": "NOT_CONNECTED",
                "nodeError": {"code": "NOT_CONNECTED", "message": "node not connected"},
                "nodeCommandDispatched": false}})
        );
        assert_eq!(
            wire(&InvokeError::timeout()),
            json!({"code": "UNAVAILABLE", "message": "TIMEOUT: node invoke timed out", "details": {
                "nodeError": {"code": "TIMEOUT", "message": "node invoke timed out"},
                "nodeCommandDispatched": true}})
        );
        assert_eq!(
            wire(&InvokeError::disconnected())["message"],
            "NODE_DISCONNECTED: node disconnected before answering"
        );
        // The node's own error object is passed through as it sent it; no code, no prefix.
        let raw = json!({"message": "denied", "extra": [1]});
        let e = InvokeError::Node {
            code: String::new(),
            message: "denied".into(),
            raw: Some(raw.clone()),
        };
        assert_eq!(
            wire(&e),
            json!({"code": "UNAVAILABLE", "message": "denied", "details": {
                "nodeError": raw, "nodeCommandDispatched": true}})
        );
        let e = InvokeError::Refused {
            message: "node command not allowed: x".into(),
            reason: Some("command not approved"),
            command: "x".into(),
        };
        assert_eq!(
            wire(&e),
            json!({"code": "INVALID_REQUEST", "message": "node command not allowed: x",
                "details": {"reason": "command not approved", "command": "x"}})
        );
        let e = InvokeError::Refused {
            message: "private".into(),
            reason: None,
            command: "worker.x".into(),
        };
        assert_eq!(
            wire(&e),
            json!({"code": "INVALID_REQUEST", "message": "private"})
        );
        assert_eq!(
            wire(&InvokeError::MissingScope("operator.admin"))["details"]["code"],
            "MISSING_SCOPE"
        );
        assert_eq!(
            wire(&InvokeError::KeyReused)["details"],
            json!({"reason": "idempotency key reused"})
        );
        let busy = wire(&InvokeError::Busy);
        assert_eq!(busy["code"], "UNAVAILABLE");
        assert_eq!(busy["retryable"], true);
        assert_eq!(busy["retryAfterMs"], 1000);
    }
}
