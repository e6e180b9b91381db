//! # `NodeSession` — one actor per connected node
//!
//! Owns the node's pending `node.invoke` calls. The [`crate::registry::Registry`] starts it
//! when a node's handshake completes and stops it when the socket closes; stopping fails
//! every pending call at once with `NODE_DISCONNECTED`.
//!
//! Messages: [`InvokeNode`], [`InvokeResult`], [`StopNode`], [`PendingCount`],
//! [`UpdateCommands`].

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::protocol::error::{ErrorCode, ErrorShape};
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
}

impl NodeSession {
    /// A session for `node_id` talking through `ws`.
    pub fn new(node_id: String, ws: Addr<WsSession>) -> Self {
        Self {
            node_id,
            ws,
            pending: HashMap::new(),
        }
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

impl Actor for NodeSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAX_PENDING_INVOKES);
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(node_error(
                "NODE_DISCONNECTED",
                "node disconnected before answering",
                true,
            )));
        }
        Running::Stop
    }
}

/// Sent by the `Registry` to run a command on this node. Resolves when the node answers,
/// the deadline passes (`TIMEOUT`) or the node disconnects (`NODE_DISCONNECTED`).
#[derive(Message)]
#[rtype(result = "InvokeOutcome")]
pub struct InvokeNode {
    /// Command name (already checked against the approved surface).
    pub command: String,
    /// Params for the command (`paramsJSON` on the wire).
    pub params: Option<Value>,
    /// Deadline.
    pub timeout_ms: u64,
    /// Caller's idempotency key.
    pub idempotency_key: String,
    /// Session key, if the call came from an agent run.
    pub session_key: Option<String>,
}

impl Handler<InvokeNode> for NodeSession {
    type Result = ResponseFuture<InvokeOutcome>;

    fn handle(&mut self, msg: InvokeNode, ctx: &mut Self::Context) -> Self::Result {
        if self.pending.len() >= MAX_PENDING_INVOKES {
            return Box::pin(async {
                Err(
                    ErrorShape::unavailable("node is busy; too many invokes in flight")
                        .retry_after(1000),
                )
            });
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        let timeout = Duration::from_millis(msg.timeout_ms.max(1));
        let timer_id = id.clone();
        let timer = ctx.run_later(timeout, move |act, _| {
            if let Some(p) = act.pending.remove(&timer_id) {
                let _ = p
                    .reply
                    .send(Err(node_error("TIMEOUT", "node invoke timed out", true)));
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
                command: msg.command,
                timer,
            },
        );
        self.ws.do_send(SendTargeted {
            event: "node.invoke.request",
            payload: payload.to_string(),
        });
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(node_error(
                    "NODE_DISCONNECTED",
                    "node disconnected before answering",
                    true,
                ))
            })
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

/// Kept for symmetry with the actor catalogue: surface changes are tracked by the
/// registry, which checks commands before they reach the node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateCommands;

impl Handler<UpdateCommands> for NodeSession {
    type Result = ();

    fn handle(&mut self, _: UpdateCommands, _: &mut Self::Context) {}
}
