//! `exec.approvals.node.get` / `.set` (OpenClaw's `server-methods/exec-approvals.ts`): an
//! admin reads or writes a node host's own exec approvals (what its `system.run` may run)
//! through the gateway, as the real CLI's `openclaw approvals get|set|allowlist … --node
//! <id>` does. The gateway relays `system.execApprovals.get` / `.set` to the node, which
//! stays the judge of the file's content and of `baseHash` (a write against a stale hash is
//! refused there). `node.invoke` can never send these commands: this is their only path.
//!
//! `exec.approvals.get` / `.set` are the gateway host's own document (OpenClaw's
//! `openclaw approvals get|set|allowlist … --gateway`), kept by the shell.

use actix::prelude::*;
use serde_json::{Value, json};

use super::agent_params::{fail, obj};
use super::{Call, Method, Params};
use crate::node_session::{InvokeError, InvokeNode};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess};
use crate::protocol::validate::Checker;
use crate::registry::nodes::LookupNode;
use crate::tool_policy::InvokeCaller;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "exec.approvals.get",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::exec_approvals_host,
    },
    Method {
        name: "exec.approvals.set",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::exec_approvals_host,
    },
    Method {
        name: "exec.approvals.node.get",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::exec_approvals_node),
    },
    Method {
        name: "exec.approvals.node.set",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::exec_approvals_node),
    },
];

/// How long the node has to answer.
const TIMEOUT_MS: u64 = 30_000;

/// A relayed read or write.
pub(crate) struct NodeApprovals {
    node_id: String,
    /// `system.execApprovals.get` or `.set`.
    command: &'static str,
    /// The command's params.
    params: Value,
}

fn invalid(method: &str, why: &str) -> ErrorShape {
    ErrorShape::invalid(format!("invalid {method} params: {why}"))
}

impl WsSession {
    /// `exec.approvals.get {}` / `exec.approvals.set {file, baseHash?}`: the gateway host's
    /// own exec approvals document (`<state>/exec-approvals.json`, read and written by the
    /// shell; see `src/clients/host_approvals.rs`), which tightens `tools.exec` for the
    /// agent's `exec` tool on this host.
    fn exec_approvals_host(&mut self, call: Call, ctx: &mut Context<Self>) {
        let method = call.method;
        let params = match &call.params {
            Value::Null => json!({}),
            Value::Object(o) if method == "exec.approvals.get" && !o.is_empty() => {
                let mut c = Checker::new();
                c.closed("", o, &[]);
                return self.respond_err(&call.id, &fail(method, &c), ctx);
            }
            Value::Object(_) => call.params.clone(),
            _ => return self.respond_err(&call.id, &invalid(method, "must be object"), ctx),
        };
        let ops = self.shared.ops.get().cloned();
        let fut = async move {
            let ops = ops.ok_or_else(super::config::unavailable)?;
            let res = tokio::task::spawn_blocking(move || {
                if method == "exec.approvals.get" {
                    ops.exec_approvals_get().map_err(ErrorShape::unavailable)
                } else {
                    ops.exec_approvals_set(&params).map_err(|(caller, m)| {
                        if caller {
                            ErrorShape::invalid(m)
                        } else {
                            ErrorShape::unavailable(m)
                        }
                    })
                }
            })
            .await;
            res.unwrap_or_else(|_| Err(ErrorShape::unavailable("exec approvals operation failed")))
        };
        self.reply_with(call.id, fut, ctx);
    }
}

impl Params for NodeApprovals {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let method = call.method;
        let o = obj(method, &call.params)?;
        let read = method == "exec.approvals.node.get";
        let mut c = Checker::new();
        let allowed: &[&str] = if read {
            &["nodeId"]
        } else {
            &["nodeId", "file", "native", "baseHash"]
        };
        c.closed("", o, allowed);
        c.required("", o, "nodeId");
        let node_id = c.string("", o, "nodeId", true).map(|s| s.trim().to_owned());
        let base_hash = c.string("", o, "baseHash", true).map(str::to_owned);
        let file = o.get("file").and_then(|f| c.object("/file", f));
        let native = o.get("native").and_then(|n| c.object("/native", n));
        if let Some(n) = native {
            c.closed("/native", n, &["defaultAction", "rules"]);
            if !n.get("rules").is_some_and(Value::is_array) {
                c.error("/native/rules", "must be array");
            }
        }
        if !c.ok() {
            return Err(fail(method, &c));
        }
        let node_id = node_id.unwrap_or_default();
        if read {
            return Ok(Self {
                node_id,
                command: "system.execApprovals.get",
                params: json!({}),
            });
        }
        let params = match (file, native, base_hash) {
            (Some(file), None, hash) => {
                let mut p = json!({"file": file});
                if let Some(h) = hash {
                    p["baseHash"] = json!(h);
                }
                p
            }
            (None, Some(native), Some(h)) => {
                let mut p = Value::Object(native.clone());
                p["baseHash"] = json!(h);
                p
            }
            (None, Some(_), None) => {
                return Err(invalid(
                    method,
                    "native needs baseHash (from exec.approvals.node.get)",
                ));
            }
            (Some(_), Some(_), _) => {
                return Err(invalid(method, "pass file or native, not both"));
            }
            (None, None, _) => {
                return Err(invalid(
                    method,
                    "must have required property 'file' (or 'native' with 'baseHash')",
                ));
            }
        };
        Ok(Self {
            node_id,
            command: "system.execApprovals.set",
            params,
        })
    }
}

impl WsSession {
    /// Relays the read or write to the node and answers its payload (for a read, only an
    /// object: anything else is the node's error).
    fn exec_approvals_node(&mut self, call: Call, p: NodeApprovals, ctx: &mut Context<Self>) {
        let msg = InvokeNode {
            command: p.command.to_owned(),
            params: Some(p.params),
            timeout_ms: TIMEOUT_MS,
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            session_key: None,
            caller: InvokeCaller::ExecApprovals {
                principal: self.invoke_principal(),
            },
        };
        let lookup = self.registry.send(LookupNode { node_id: p.node_id });
        let read = p.command == "system.execApprovals.get";
        self.reply_with(
            call.id,
            async move {
                let addr = match lookup.await {
                    Ok(Some(a)) => a,
                    _ => return Err(InvokeError::NotConnected.to_shape()),
                };
                let reply = addr
                    .send(msg)
                    .await
                    .unwrap_or_else(|_| Err(InvokeError::disconnected()))
                    .map_err(|e| e.to_shape())?;
                let payload = reply.payload_value();
                if read && !payload.is_object() {
                    return Err(ErrorShape::invalid(
                        "node returned invalid exec approvals payload",
                    ));
                }
                Ok(payload)
            },
            ctx,
        );
    }
}
