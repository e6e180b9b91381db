//! `exec.approvals.node.get` / `.set` (OpenClaw's `server-methods/exec-approvals.ts`): an
//! admin reads or writes a node host's own exec approvals (what its `system.run` may run)
//! through the gateway, as the real CLI's `openclaw approvals get|set|allowlist … --node
//! <id>` does. The gateway relays `system.execApprovals.get` / `.set` to the node, which
//! stays the judge of the file's content and of `baseHash` (a write against a stale hash is
//! refused there). `node.invoke` can never send these commands: this is their only path.

use actix::prelude::*;
use serde_json::{Map, Value, json};

use super::agent_params::obj;
use super::{Call, Method, Params};
use crate::node_session::{InvokeError, InvokeNode};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess};
use crate::registry::nodes::LookupNode;
use crate::tool_policy::InvokeCaller;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
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

fn node_id(method: &str, o: &Map<String, Value>) -> Result<String, ErrorShape> {
    match o.get("nodeId") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::String(_)) => Err(invalid(
            method,
            "at /nodeId: must NOT have fewer than 1 characters",
        )),
        Some(_) => Err(invalid(method, "at /nodeId: must be string")),
        None => Err(invalid(method, "must have required property 'nodeId'")),
    }
}

impl Params for NodeApprovals {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let method = call.method;
        let o = obj(method, &call.params)?;
        if method == "exec.approvals.node.get" {
            if let Some(k) = o.keys().find(|k| *k != "nodeId") {
                return Err(invalid(method, &format!("unexpected property '{k}'")));
            }
            return Ok(Self {
                node_id: node_id(method, o)?,
                command: "system.execApprovals.get",
                params: json!({}),
            });
        }
        if let Some(k) = o
            .keys()
            .find(|k| !["nodeId", "file", "native", "baseHash"].contains(&k.as_str()))
        {
            return Err(invalid(method, &format!("unexpected property '{k}'")));
        }
        let node_id = node_id(method, o)?;
        let base_hash = match o.get("baseHash") {
            None => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(_) => {
                return Err(invalid(method, "at /baseHash: must be a non-empty string"));
            }
        };
        let params = match (o.get("file"), o.get("native")) {
            (Some(Value::Object(file)), None) => {
                let mut p = json!({"file": file});
                if let Some(h) = base_hash {
                    p["baseHash"] = json!(h);
                }
                p
            }
            (Some(_), None) => return Err(invalid(method, "at /file: must be object")),
            (None, Some(Value::Object(native))) => {
                let Some(h) = base_hash else {
                    return Err(invalid(
                        method,
                        "native needs baseHash (from exec.approvals.node.get)",
                    ));
                };
                if let Some(k) = native
                    .keys()
                    .find(|k| !["defaultAction", "rules"].contains(&k.as_str()))
                {
                    return Err(invalid(
                        method,
                        &format!("at /native: unexpected property '{k}'"),
                    ));
                }
                if !native.get("rules").is_some_and(Value::is_array) {
                    return Err(invalid(method, "at /native/rules: must be array"));
                }
                let mut p = Value::Object(native.clone());
                p["baseHash"] = json!(h);
                p
            }
            (None, Some(_)) => return Err(invalid(method, "at /native: must be object")),
            (Some(_), Some(_)) => {
                return Err(invalid(method, "pass file or native, not both"));
            }
            (None, None) => {
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
