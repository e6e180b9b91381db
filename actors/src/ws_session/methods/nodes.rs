//! `node.*` and `skills.bins` (OpenClaw's `server-methods/nodes.ts`): the operator side
//! (`node.list`, `node.describe`, `node.invoke`, `node.pair.*`) and the node side
//! (`node.invoke.result`, `node.invoke.progress`, `node.event`, `node.*.update`,
//! `skills.bins`).

use actix::prelude::*;
use serde_json::{Value, json};

use super::node_params::{NodeEventParams, NodeIdParams};
use super::{Call, Method, gone};
use crate::node_session::{InvokeError, InvokeNode, InvokeResult};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, PAIRING, READ, WRITE};
use crate::registry::node_events::{NodeSubscribe, SubmitNodeRun};
use crate::registry::nodes::{
    DescribeNode, InvokeNodeCommand, ListNodes, LookupNode, NodeHostStats, PairingOp,
};
use crate::registry::pending_work::{
    AckPending, DrainWork, NodeCaller, PullPending, QueueForeground,
};
use crate::ws_session::{Phase, WsSession};

/// Largest `node.host.stats` payload accepted (serialized). It is kept per node and
/// rebroadcast to every operator, so it must stay small.
pub const MAX_HOST_STATS_BYTES: usize = 16 * 1024;

/// Bound on an operator session's node-address cache.
const NODE_CACHE_MAX: usize = 64;

/// A call queued until the iOS app is in the foreground again.
struct Queued {
    node_id: String,
    action: String,
    command: String,
    node_error: Value,
}

impl Queued {
    /// OpenClaw's answer: `UNAVAILABLE`, retryable, `QUEUED_UNTIL_FOREGROUND`. This gateway
    /// has no APNs relay, so no wake is sent.
    fn to_shape(&self) -> ErrorShape {
        let mut e = ErrorShape::unavailable("node command queued until iOS returns to foreground")
            .with_details(json!({
                "code": "QUEUED_UNTIL_FOREGROUND",
                "queuedActionId": self.action,
                "nodeId": self.node_id,
                "command": self.command,
                "wake": {"path": "none", "available": false, "throttled": false},
                "nodeError": self.node_error,
            }));
        e.retryable = Some(true);
        e
    }
}

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "node.list",
        access: MethodAccess::Operator(READ),
        handler: WsSession::node_list,
    },
    Method {
        name: "node.describe",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::node_describe),
    },
    Method {
        name: "node.invoke",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::node_invoke),
    },
    Method {
        name: "node.invoke.result",
        access: MethodAccess::Node,
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::node_invoke_result),
    },
    Method {
        name: "node.invoke.progress",
        access: MethodAccess::Node,
        handler: WsSession::node_invoke_progress,
    },
    Method {
        name: "node.event",
        access: MethodAccess::Node,
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::node_event),
    },
    Method {
        name: "node.pair.list",
        access: MethodAccess::Operator(PAIRING),
        handler: WsSession::node_pair_list,
    },
    Method {
        name: "node.pair.approve",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::pair_decide),
    },
    Method {
        name: "node.pair.reject",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::pair_decide),
    },
    Method {
        name: "node.pair.remove",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::node_pair_remove),
    },
    Method {
        name: "node.rename",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| match super::node_params::rename(&call.params) {
            Ok(op) => s.reply_pairing(call, op, ctx),
            Err(e) => s.respond_err(&call.id, &e, ctx),
        },
    },
    Method {
        name: "node.pluginTools.update",
        access: MethodAccess::Node,
        handler: WsSession::node_plugin_tools_update,
    },
    Method {
        name: "node.skills.update",
        access: MethodAccess::Node,
        handler: WsSession::node_skills_update,
    },
    Method {
        name: "node.runnerInventory.update",
        access: MethodAccess::Node,
        handler: WsSession::node_runner_inventory_update,
    },
    Method {
        name: "skills.bins",
        access: MethodAccess::Node,
        handler: WsSession::skills_bins,
    },
    Method {
        name: "node.pending.pull",
        access: MethodAccess::Node,
        handler: WsSession::node_pending_pull,
    },
    Method {
        name: "node.pending.ack",
        access: MethodAccess::Node,
        handler: WsSession::node_pending_ack,
    },
    Method {
        name: "node.pending.drain",
        access: MethodAccess::Node,
        handler: WsSession::node_pending_drain,
    },
    Method {
        name: "node.pending.enqueue",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| match super::node_params::pending_enqueue(&call.params) {
            Ok(msg) => s.reply_registry(call.id, msg, ctx),
            Err(e) => s.respond_err(&call.id, &e, ctx),
        },
    },
];

impl WsSession {
    /// The calling node and its connection (`None`: not a node session).
    fn node_caller(&self, call: &Call) -> Option<NodeCaller> {
        Some(NodeCaller {
            node_id: call.node_id.clone()?,
            conn_id: self.conn_id.clone(),
        })
    }

    /// `node.pending.pull` (the node's own foreground actions).
    fn node_pending_pull(&mut self, call: Call, ctx: &mut Context<Self>) {
        // No params (OpenClaw checks them against node.list's empty schema).
        if !matches!(&call.params, Value::Null)
            && call.params.as_object().is_none_or(|o| !o.is_empty())
        {
            let e = ErrorShape::invalid(
                "invalid node.pending.pull params: must NOT have additional properties",
            );
            return self.respond_err(&call.id, &e, ctx);
        }
        let Some(caller) = self.node_caller(&call) else {
            let e = ErrorShape::invalid("nodeId required");
            return self.respond_err(&call.id, &e, ctx);
        };
        self.reply_registry(call.id, PullPending(caller), ctx);
    }

    /// `node.pending.ack {ids}`.
    fn node_pending_ack(&mut self, call: Call, ctx: &mut Context<Self>) {
        let ids = match super::node_params::pending_ack(&call.params) {
            Ok(ids) => ids,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let Some(caller) = self.node_caller(&call) else {
            let e = ErrorShape::invalid("nodeId required");
            return self.respond_err(&call.id, &e, ctx);
        };
        self.reply_registry(call.id, AckPending { caller, ids }, ctx);
    }

    /// `node.pending.drain {maxItems?}`.
    fn node_pending_drain(&mut self, call: Call, ctx: &mut Context<Self>) {
        let max_items = match super::node_params::pending_drain(&call.params) {
            Ok(n) => n,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let Some(caller) = self.node_caller(&call) else {
            let e = ErrorShape::invalid("node.pending.drain requires a connected device identity");
            return self.respond_err(&call.id, &e, ctx);
        };
        self.reply_registry(call.id, DrainWork { caller, max_items }, ctx);
    }

    /// `node.list`.
    fn node_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        let fut = self.registry.send(ListNodes);
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `node.describe {nodeId}`.
    fn node_describe(&mut self, call: Call, p: NodeIdParams, ctx: &mut Context<Self>) {
        self.reply_registry(call.id, DescribeNode { node_id: p.node_id }, ctx);
    }

    /// `node.invoke {nodeId, command, idempotencyKey, params?, timeoutMs?, …}`.
    fn node_invoke(&mut self, call: Call, cmd: InvokeNodeCommand, ctx: &mut Context<Self>) {
        self.invoke_node(call.id, cmd, ctx);
    }

    /// Who invokes, for the idempotency keys bound to the caller: the device, or the
    /// shared secret.
    pub(super) fn invoke_principal(&self) -> String {
        self.device_id()
            .map_or_else(|| "shared-secret".to_owned(), |d| format!("device:{d}"))
    }

    /// The connection's device id, when it has a device.
    pub(super) fn device_id(&self) -> Option<String> {
        match &self.phase {
            Phase::Ready(r) => r.device_id.clone(),
            _ => None,
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
        let node_id_for_queue = cmd.node_id.clone();
        let scopes = match cmd.origin {
            crate::registry::nodes::InvokeOrigin::Operator { scopes } => scopes,
            crate::registry::nodes::InvokeOrigin::AgentRun { .. } => Vec::new(),
        };
        let principal = self.invoke_principal();
        // Kept for queueing the call should an iOS node refuse it in the background: only a
        // foreground command's (the others, the hot path, copy nothing).
        let queue_as =
            crate::registry::pending_work::is_foreground_command(&cmd.command).then(|| {
                (
                    cmd.command.clone(),
                    cmd.params.as_ref().map(Value::to_string),
                    cmd.idempotency_key.clone(),
                )
            });
        let msg = InvokeNode {
            command: cmd.command,
            params: cmd.params,
            timeout_ms: cmd.timeout_ms,
            idempotency_key: cmd.idempotency_key,
            session_key: cmd.session_key,
            caller: crate::tool_policy::InvokeCaller::Operator { principal, scopes },
        };
        let started = std::time::Instant::now();
        async move {
            let addr = match cached {
                Some(a) => a,
                None => match registry.send(LookupNode { node_id }).await {
                    Ok(Some(a)) => a,
                    _ => return (None, Ok(Err(InvokeError::NotConnected))),
                },
            };
            let out = addr
                .send(msg)
                .await
                .unwrap_or_else(|_| Err(InvokeError::disconnected()));
            crate::metrics::METRICS.node_invoke(out.is_ok(), started.elapsed());
            // An iOS app in the background: the call waits for it to come back
            // (`node.pending.pull`), and the caller is told so.
            let out = match (out, queue_as) {
                (Err(InvokeError::Node { code, message, raw }), Some(queue_as)) => {
                    let (command, params_json, idempotency_key) = queue_as;
                    let queued = registry
                        .send(QueueForeground {
                            node_id: node_id_for_queue.clone(),
                            command: command.clone(),
                            params_json,
                            idempotency_key,
                            error: (code.clone(), message.clone()),
                        })
                        .await
                        .ok()
                        .flatten();
                    match queued {
                        Some(action) => Err(Queued {
                            node_id: node_id_for_queue,
                            action,
                            command,
                            node_error: raw
                                .unwrap_or_else(|| json!({"code": code, "message": message})),
                        }),
                        None => Ok(Err(InvokeError::Node { code, message, raw })),
                    }
                }
                (other, _) => Ok(other),
            };
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
                Ok(Ok(v)) => act.respond_ok(&id, &v, ctx),
                Ok(Err(e)) => act.respond_err(&id, &e.to_shape(), ctx),
                Err(q) => act.respond_err(&id, &q.to_shape(), ctx),
            }
        })
        .spawn(ctx);
    }

    /// `node.pair.list`.
    fn node_pair_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        self.reply_pairing(call, PairingOp::NodeList, ctx);
    }

    /// `node.pair.remove {nodeId}`.
    fn node_pair_remove(&mut self, call: Call, p: NodeIdParams, ctx: &mut Context<Self>) {
        let op = PairingOp::NodeRemove { node_id: p.node_id };
        self.reply_pairing(call, op, ctx);
    }

    // --- node side ---

    /// `node.invoke.result {id, nodeId, ok, payload?, payloadJSON?, error?}`: handed to
    /// this node's `NodeSession`; late or unknown ids are answered `ignored`.
    fn node_invoke_result(&mut self, call: Call, result: InvokeResult, ctx: &mut Context<Self>) {
        let id = call.id;
        match self.node.clone() {
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
        }
    }

    /// `node.event {event, payload? | payloadJSON?}`: `node.host.stats` is kept (bounded
    /// by its params) and rebroadcast as `node.hostStats`; `voice.transcript` and
    /// `agent.request` start a run of the node (see [`node_ask`]); `chat.subscribe` /
    /// `chat.unsubscribe` follow a session. Other events are acknowledged, not handled.
    fn node_event(&mut self, call: Call, p: NodeEventParams, ctx: &mut Context<Self>) {
        let NodeEventParams { event, payload } = p;
        let Some(node_id) = call.node_id.clone() else {
            let out = json!({"ok": true, "event": event, "handled": false});
            return self.respond_ok(&call.id, &out, ctx);
        };
        let ask = match node_ask(&node_id, &event, payload.as_ref()) {
            Ok(a) => a,
            Err(reason) => {
                let out = json!({"ok": true, "event": event, "handled": false, "reason": reason});
                return self.respond_ok(&call.id, &out, ctx);
            }
        };
        let conn_id = self.conn_id.clone();
        match ask {
            NodeAsk::HostStats(stats) => {
                self.registry.do_send(NodeHostStats { node_id, stats });
                let out = json!({"ok": true, "event": event, "handled": true, "reason": "updated"});
                self.respond_ok(&call.id, &out, ctx);
            }
            NodeAsk::Follow { session_key, on } => {
                let fut = self.registry.send(NodeSubscribe {
                    node_id,
                    conn_id,
                    session_key,
                    on,
                });
                self.reply_with(
                    call.id,
                    async move {
                        Ok(match fut.await.map_err(|_| gone())? {
                            Ok(()) => json!({"ok": true, "event": event, "handled": true}),
                            Err(reason) => json!({"ok": true, "event": event, "handled": false,
                                "reason": reason}),
                        })
                    },
                    ctx,
                );
            }
            NodeAsk::Run(mut run) => {
                run.conn_id = conn_id;
                let fut = self.registry.send(*run);
                self.reply_with(
                    call.id,
                    async move {
                        let ack = fut.await.map_err(|_| gone())??;
                        let handled = ack.status != "duplicate";
                        let mut out = json!({"ok": true, "event": event, "handled": handled,
                            "runId": ack.run_id, "sessionKey": ack.session_key});
                        if !handled {
                            out["reason"] = json!("duplicate");
                        }
                        Ok(out)
                    },
                    ctx,
                );
            }
        }
    }

    /// `node.invoke.progress {invokeId, …}`: acknowledged; this node's `NodeSession` notes
    /// that the call started.
    fn node_invoke_progress(&mut self, call: Call, ctx: &mut Context<Self>) {
        if let (Some(node), Some(id)) = (
            self.node.as_ref(),
            call.params.get("invokeId").and_then(Value::as_str),
        ) {
            node.do_send(crate::node_session::InvokeProgress { id: id.to_owned() });
        }
        self.respond_ok(&call.id, &json!({"ok": true}), ctx);
    }

    /// `node.runnerInventory.update`: acknowledged.
    fn node_runner_inventory_update(&mut self, call: Call, ctx: &mut Context<Self>) {
        self.respond_ok(&call.id, &json!({"nodeId": call.node_id}), ctx);
    }

    /// `node.pluginTools.update {tools}`: echoed.
    fn node_plugin_tools_update(&mut self, call: Call, ctx: &mut Context<Self>) {
        let tools = call.params.get("tools").cloned().unwrap_or(json!([]));
        self.respond_ok(
            &call.id,
            &json!({"nodeId": call.node_id, "tools": tools}),
            ctx,
        );
    }

    /// `node.skills.update {skills}`: echoed.
    fn node_skills_update(&mut self, call: Call, ctx: &mut Context<Self>) {
        let skills = call.params.get("skills").cloned().unwrap_or(json!([]));
        self.respond_ok(
            &call.id,
            &json!({"nodeId": call.node_id, "skills": skills}),
            ctx,
        );
    }

    /// `skills.bins`: no skill binaries.
    fn skills_bins(&mut self, call: Call, ctx: &mut Context<Self>) {
        self.respond_ok(&call.id, &json!({"bins": []}), ctx);
    }
}

/// The longest request a node may send (UTF-16 units, OpenClaw's 20 000).
pub const MAX_NODE_REQUEST_UNITS: usize = 20_000;

/// What a node's event asks of the gateway.
pub(crate) enum NodeAsk {
    /// `node.host.stats`.
    HostStats(Value),
    /// `chat.subscribe` (`on`) / `chat.unsubscribe`.
    Follow {
        /// Normalized session key.
        session_key: String,
        /// Follow or stop.
        on: bool,
    },
    /// `voice.transcript` / `agent.request` (its `conn_id` is filled in by the session).
    Run(Box<SubmitNodeRun>),
}

/// Reads a node's event (OpenClaw's `handleNodeEvent`): `Err` names why it is ignored.
///
/// - `voice.transcript {text, sessionKey?, eventId?, …}`: a spoken request to the session
///   (default: the main session), thinking `low`, answered as `chat` events; a repeat of
///   the session's last transcript within 1.5 s starts nothing.
/// - `agent.request {message, sessionKey?, attachments?, thinking?, deliver?, channel?,
///   to?, receipt?, receiptText?}`: a typed or shared request (default session
///   `node-<nodeId>`); with `deliver` the answer also goes to `channel`/`to` or the
///   session's own chat, with `receipt` a note goes there first.
/// - `chat.subscribe` / `chat.unsubscribe {sessionKey}`.
///
/// Requests over [`MAX_NODE_REQUEST_UNITS`] and empty ones are ignored, as OpenClaw does.
pub(crate) fn node_ask(
    node_id: &str,
    event: &str,
    payload: Option<&Value>,
) -> Result<NodeAsk, &'static str> {
    let text = |p: &Value, k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .map(|s| s.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}'))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let object = || payload.filter(|p| p.is_object()).ok_or("invalid_payload");
    let too_long = |s: &str| s.encode_utf16().count() > MAX_NODE_REQUEST_UNITS;
    let key_of = |p: &Value, default: String| {
        crate::channel::normalize_session_key(&text(p, "sessionKey").unwrap_or(default))
    };
    match event {
        "node.host.stats" => match payload {
            Some(stats) if stats.is_object() => Ok(NodeAsk::HostStats(stats.clone())),
            _ => Err("invalid_payload"),
        },
        "chat.subscribe" | "chat.unsubscribe" => {
            let p = object()?;
            let key = text(p, "sessionKey").ok_or("missing_session_key")?;
            Ok(NodeAsk::Follow {
                session_key: crate::channel::normalize_session_key(&key),
                on: event == "chat.subscribe",
            })
        }
        "voice.transcript" => {
            let p = object()?;
            let t = text(p, "text").ok_or("empty")?;
            if too_long(&t) {
                return Err("too_long");
            }
            Ok(NodeAsk::Run(Box::new(SubmitNodeRun {
                node_id: node_id.to_owned(),
                conn_id: String::new(),
                run_id: uuid::Uuid::new_v4().to_string(),
                session_key: key_of(p, "main".to_owned()),
                transcript: Some(crate::registry::node_events::transcript_fingerprint(p, &t)),
                text: t,
                uploads: Vec::new(),
                thinking: Some(crate::ports::Thinking::Low),
                deliver: None,
                receipt: None,
            })))
        }
        "agent.request" => {
            let p = object()?;
            let message = text(p, "message").unwrap_or_default();
            if too_long(&message) {
                return Err("too_long");
            }
            let uploads = crate::media::parse_uploads(p.get("attachments"))
                .map_err(|_| "invalid_attachments")?;
            if message.is_empty() && uploads.is_empty() {
                return Err("empty");
            }
            let deliver = p.get("deliver").and_then(Value::as_bool) == Some(true);
            let deliver = deliver.then(|| (text(p, "channel"), text(p, "to")));
            let receipt = (deliver.is_some()
                && p.get("receipt").and_then(Value::as_bool) == Some(true))
            .then(|| {
                text(p, "receiptText")
                    .map(|t| t.chars().take(1000).collect())
                    .unwrap_or_else(|| {
                        "Just received your iOS share + request, working on it.".to_owned()
                    })
            });
            Ok(NodeAsk::Run(Box::new(SubmitNodeRun {
                node_id: node_id.to_owned(),
                conn_id: String::new(),
                run_id: uuid::Uuid::new_v4().to_string(),
                session_key: key_of(p, format!("node-{node_id}")),
                text: message,
                uploads,
                thinking: text(p, "thinking").and_then(|t| crate::ports::Thinking::parse(&t)),
                transcript: None,
                deliver,
                receipt,
            })))
        }
        _ => Err("unhandled"),
    }
}
