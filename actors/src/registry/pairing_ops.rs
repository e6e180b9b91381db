//! The `node.pair.*`, `device.pair.*` and `device.token.*` operations ([`PairingRequest`]
//! with a [`PairingOp`]), each persisted before it is answered.

use actix::prelude::*;
use serde_json::{Value, json};

use super::Registry;
use crate::node_session::UpdateCommands;
use crate::pairing::{self, PairingBook};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes;
use crate::util::now_ms;
use crate::ws_session::CloseSession;

// === pairing operations ===

/// A `node.pair.*`, `device.pair.*` or `device.token.*` operation.
#[derive(Debug, Clone)]
pub enum PairingOp {
    /// `node.pair.list`.
    NodeList,
    /// `node.pair.approve`.
    NodeApprove {
        /// Request id.
        request_id: String,
    },
    /// `node.pair.reject`.
    NodeReject {
        /// Request id.
        request_id: String,
    },
    /// `node.pair.remove`.
    NodeRemove {
        /// Node id.
        node_id: String,
    },
    /// `device.pair.list`.
    DeviceList,
    /// `device.pair.approve`.
    DeviceApprove {
        /// Request id.
        request_id: String,
    },
    /// `device.pair.reject`.
    DeviceReject {
        /// Request id.
        request_id: String,
    },
    /// `device.pair.remove`.
    DeviceRemove {
        /// Device id.
        device_id: String,
    },
    /// `device.token.rotate`.
    TokenRotate {
        /// Device id.
        device_id: String,
        /// Role.
        role: String,
        /// Scopes (default: the device's approved scopes).
        scopes: Option<Vec<String>>,
    },
    /// `device.token.revoke`.
    TokenRevoke {
        /// Device id.
        device_id: String,
        /// Role.
        role: String,
    },
}

/// Sent by an operator's `WsSession` for a pairing method; `caller_scopes` are checked
/// against what approving a node surface needs. Replies after the change is persisted.
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
pub struct PairingRequest {
    /// The operation.
    pub op: PairingOp,
    /// The caller's granted scopes.
    pub caller_scopes: Vec<String>,
}

type PairingResult = Result<Value, ErrorShape>;

impl Registry {
    pub(super) fn pairing_op(&mut self, op: PairingOp, caller: &[String]) -> (PairingResult, bool) {
        let now = now_ms();
        match op {
            PairingOp::NodeList => {
                let pending: Vec<Value> = self
                    .book
                    .pending_nodes
                    .values()
                    .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
                    .collect();
                let paired: Vec<Value> = self
                    .book
                    .nodes
                    .values()
                    .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
                    .collect();
                (Ok(json!({"pending": pending, "paired": paired})), false)
            }
            PairingOp::NodeApprove { request_id } => {
                let Some(p) = self.book.pending_nodes.get(&request_id) else {
                    return (Err(ErrorShape::invalid("unknown requestId")), false);
                };
                for needed in pairing::approve_scopes(&p.node.commands) {
                    if !scopes::satisfied(caller, &needed) {
                        return (Err(ErrorShape::missing_scope(&needed)), false);
                    }
                }
                let Some(surface) = self.book.approve_surface(&request_id, now) else {
                    return (Err(ErrorShape::invalid("unknown requestId")), false);
                };
                let node_id = surface.node.node_id.clone();
                if let Some(n) = self.nodes.get_mut(&node_id) {
                    n.approved = n
                        .descriptor
                        .commands
                        .iter()
                        .filter(|c| surface.node.commands.contains(c))
                        .cloned()
                        .collect();
                    n.addr.do_send(UpdateCommands {
                        approved: n.approved.clone(),
                        seed: Vec::new(),
                        display_name: None,
                    });
                }
                self.resolved("node", &request_id, "nodeId", &node_id, "approved");
                let node = serde_json::to_value(&surface).unwrap_or(Value::Null);
                (Ok(json!({"requestId": request_id, "node": node})), true)
            }
            PairingOp::NodeReject { request_id } => {
                let Some(p) = self.book.pending_nodes.remove(&request_id) else {
                    return (Err(ErrorShape::invalid("unknown requestId")), false);
                };
                self.resolved("node", &request_id, "nodeId", &p.node.node_id, "rejected");
                (
                    Ok(
                        json!({"requestId": request_id, "nodeId": p.node.node_id, "decision": "rejected"}),
                    ),
                    true,
                )
            }
            PairingOp::NodeRemove { node_id } => {
                let removed = self.book.nodes.remove(&node_id).is_some();
                self.book
                    .pending_nodes
                    .retain(|_, p| p.node.node_id != node_id);
                if let Some(n) = self.nodes.get_mut(&node_id) {
                    n.approved.clear();
                    n.addr.do_send(UpdateCommands {
                        approved: Vec::new(),
                        seed: Vec::new(),
                        display_name: None,
                    });
                }
                if !removed {
                    return (Err(ErrorShape::invalid("unknown nodeId")), false);
                }
                (Ok(json!({"nodeId": node_id, "removed": true})), true)
            }
            PairingOp::DeviceList => {
                let pending: Vec<Value> = self
                    .book
                    .pending_devices
                    .values()
                    .map(Self::pending_device_view)
                    .collect();
                let paired: Vec<Value> = self
                    .book
                    .devices
                    .values()
                    .map(|d| PairingBook::device_view(d, self.device_connected(&d.device_id)))
                    .collect();
                (Ok(json!({"pending": pending, "paired": paired})), false)
            }
            PairingOp::DeviceApprove { request_id } => {
                let Some(p) = self.book.pending_devices.get(&request_id).cloned() else {
                    return (Err(ErrorShape::invalid("unknown requestId")), false);
                };
                // An approver cannot hand out more than it holds.
                if let Some(s) = p.scopes.iter().find(|s| !scopes::satisfied(caller, s)) {
                    return (Err(ErrorShape::missing_scope(s)), false);
                }
                let device = self.book.approve_device(&p, "operator", now);
                self.resolved("device", &request_id, "deviceId", &p.device_id, "approved");
                let view =
                    PairingBook::device_view(&device, self.device_connected(&device.device_id));
                (Ok(json!({"requestId": request_id, "device": view})), true)
            }
            PairingOp::DeviceReject { request_id } => {
                let Some(p) = self.book.pending_devices.remove(&request_id) else {
                    return (Err(ErrorShape::invalid("unknown requestId")), false);
                };
                self.resolved("device", &request_id, "deviceId", &p.device_id, "rejected");
                (
                    Ok(
                        json!({"requestId": request_id, "deviceId": p.device_id, "decision": "rejected"}),
                    ),
                    true,
                )
            }
            PairingOp::DeviceRemove { device_id } => {
                if !self.book.remove_device(&device_id) {
                    return (Err(ErrorShape::invalid("unknown deviceId")), false);
                }
                for e in self.sessions.conns() {
                    if e.device_id() == Some(device_id.as_str()) {
                        e.addr.do_send(CloseSession {
                            code: 4001,
                            reason: "client invalidated: device removed".into(),
                        });
                    }
                }
                (Ok(json!({"deviceId": device_id, "removed": true})), true)
            }
            PairingOp::TokenRotate {
                device_id,
                role,
                scopes: requested,
            } => {
                let Some(d) = self.book.devices.get(&device_id) else {
                    return (Err(ErrorShape::invalid("unknown deviceId")), false);
                };
                if !d.roles.contains(&role) {
                    return (
                        Err(ErrorShape::invalid(format!(
                            "device is not paired for role {role}"
                        ))),
                        false,
                    );
                }
                let scopes = requested.unwrap_or_else(|| d.scopes.clone());
                if let Some(extra) = scopes.iter().find(|s| !d.scopes.contains(s)) {
                    return (
                        Err(ErrorShape::invalid(format!(
                            "scope {extra} is not approved for this device"
                        ))),
                        false,
                    );
                }
                if let Some(s) = scopes.iter().find(|s| !scopes::satisfied(caller, s)) {
                    return (Err(ErrorShape::missing_scope(s)), false);
                }
                let Some(token) = self.book.issue_token(&device_id, &role, &scopes, now) else {
                    return (Err(ErrorShape::invalid("unknown deviceId")), false);
                };
                self.close_stale_token_sessions(&device_id, &role, "device token rotated");
                (
                    Ok(
                        json!({"deviceId": device_id, "role": role, "token": token, "scopes": scopes, "issuedAtMs": now}),
                    ),
                    true,
                )
            }
            PairingOp::TokenRevoke { device_id, role } => {
                if !self.book.revoke_token(&device_id, &role) {
                    return (
                        Err(ErrorShape::invalid("no token for that device and role")),
                        false,
                    );
                }
                self.close_stale_token_sessions(&device_id, &role, "device token revoked");
                (
                    Ok(json!({"deviceId": device_id, "role": role, "revoked": true})),
                    true,
                )
            }
        }
    }
}

impl Handler<PairingRequest> for Registry {
    type Result = ResponseActFuture<Self, Result<Value, ErrorShape>>;

    fn handle(&mut self, msg: PairingRequest, _: &mut Self::Context) -> Self::Result {
        self.book.expire(now_ms());
        let before = self.book.clone();
        let (result, changed) = self.pairing_op(msg.op, &msg.caller_scopes);
        if !changed {
            return Box::pin(actix::fut::ready(result));
        }
        Box::pin(self.save_book_or_undo(before).map(move |r, _, _| match r {
            Ok(()) => result,
            Err(e) => {
                log::error!("cannot persist pairing state: {e}");
                Err(ErrorShape::unavailable(
                    "could not save pairing state; check the state directory",
                ))
            }
        }))
    }
}
