//! The `node.pair.*`, `device.pair.*` and `device.token.*` operations ([`PairingRequest`]
//! with a [`PairingOp`]), each persisted before it is answered.

use actix::prelude::*;
use serde::Serialize;

use super::Registry;
use super::nodes::PendingDeviceView;
use crate::node_session::UpdateCommands;
use crate::pairing::{self, DeviceView, NodeSurface, PairingBook, PendingNode};
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
    /// `node.rename`: the approved surface's display name.
    NodeRename {
        /// Node id.
        node_id: String,
        /// The new name (trimmed, not empty).
        display_name: String,
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
    /// `device.pair.rename`: the operator's label for a paired device.
    DeviceRename {
        /// Device id.
        device_id: String,
        /// The label (trimmed, 1–64 characters).
        label: String,
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
#[rtype(result = "Result<PairingReply, PairingError>")]
pub struct PairingRequest {
    /// The operation.
    pub op: PairingOp,
    /// The caller's granted scopes.
    pub caller_scopes: Vec<String>,
    /// The device whose own credential (its device token, or a setup code) authenticated
    /// the caller: without `operator.admin`, such a caller manages only that device
    /// (OpenClaw's device-management authz). `None`: the shared secret (or no device).
    pub caller_device: Option<String>,
}

/// What a [`PairingOp`] answers, one variant per operation (serialized as the bare wire
/// object; fields in the order of its keys).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
pub enum PairingReply {
    /// `node.pair.list`.
    NodeList {
        /// Approved surfaces.
        paired: Vec<NodeSurface>,
        /// Surface requests.
        pending: Vec<PendingNode>,
    },
    /// `node.pair.approve`.
    NodeApproved {
        /// The approved surface.
        node: NodeSurface,
        /// Request id.
        request_id: String,
    },
    /// `node.pair.reject`.
    NodeRejected {
        /// `rejected`.
        decision: &'static str,
        /// Node id.
        node_id: String,
        /// Request id.
        request_id: String,
    },
    /// `node.pair.remove`.
    NodeRemoved {
        /// Node id.
        node_id: String,
        /// `true`.
        removed: bool,
    },
    /// `node.rename`.
    NodeRenamed {
        /// Node id.
        node_id: String,
        /// The name now stored.
        display_name: String,
    },
    /// `device.pair.list`.
    DeviceList {
        /// Paired devices.
        paired: Vec<DeviceView>,
        /// Pairing requests.
        pending: Vec<PendingDeviceView>,
    },
    /// `device.pair.approve`.
    DeviceApproved {
        /// The paired device.
        device: DeviceView,
        /// Request id.
        request_id: String,
    },
    /// `device.pair.reject`.
    DeviceRejected {
        /// `rejected`.
        decision: &'static str,
        /// Device id.
        device_id: String,
        /// Request id.
        request_id: String,
    },
    /// `device.pair.remove`.
    DeviceRemoved {
        /// Device id.
        device_id: String,
        /// `true`.
        removed: bool,
    },
    /// `device.pair.rename`.
    DeviceRenamed {
        /// Device id.
        device_id: String,
        /// The label now stored.
        label: String,
    },
    /// `device.token.rotate`: the new token (shown once).
    TokenRotated {
        /// Device id.
        device_id: String,
        /// Issue time.
        issued_at_ms: u64,
        /// Role.
        role: String,
        /// Scopes.
        scopes: Vec<String>,
        /// The token.
        token: String,
    },
    /// `device.token.revoke`.
    TokenRevoked {
        /// Device id.
        device_id: String,
        /// `true`.
        revoked: bool,
        /// Role.
        role: String,
    },
}

/// Why a pairing operation failed; [`PairingError::to_shape`] gives the wire error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// No pending request has this id.
    #[error("unknown requestId")]
    UnknownRequest,
    /// No approved surface for this node.
    #[error("unknown nodeId")]
    UnknownNode,
    /// No paired device of this id.
    #[error("unknown deviceId")]
    UnknownDevice,
    /// The caller lacks a scope the operation needs.
    #[error("missing scope: {0}")]
    MissingScope(String),
    /// The device is not paired for the role.
    #[error("device is not paired for role {0}")]
    RoleNotPaired(String),
    /// A requested scope is beyond what the device was approved for.
    #[error("scope {0} is not approved for this device")]
    ScopeNotApproved(String),
    /// Nothing to revoke.
    #[error("no token for that device and role")]
    NoToken,
    /// The change could not be persisted (and was undone).
    #[error("could not save pairing state; check the state directory")]
    NotSaved,
    /// Refused by the device-management policy (OpenClaw's wording: `device pairing
    /// removal denied`, …); why is logged, not told.
    #[error("{0}")]
    Denied(&'static str),
}

impl PairingError {
    /// The wire error: `FORBIDDEN` with `MISSING_SCOPE` details for a missing scope,
    /// `UNAVAILABLE` when the change was not saved, `INVALID_REQUEST` otherwise.
    pub fn to_shape(&self) -> ErrorShape {
        match self {
            Self::MissingScope(s) => ErrorShape::missing_scope(s),
            Self::NotSaved => ErrorShape::unavailable(self.to_string()),
            _ => ErrorShape::invalid(self.to_string()),
        }
    }
}

type PairingResult = Result<PairingReply, PairingError>;

impl Registry {
    pub(super) fn pairing_op(
        &mut self,
        op: PairingOp,
        caller: &[String],
        caller_device: Option<&str>,
    ) -> (PairingResult, bool) {
        if let Err(e) = self.device_management_allowed(&op, caller, caller_device) {
            return (Err(e), false);
        }
        match self.apply_pairing_op(op, caller, caller_device) {
            Ok(reply) => {
                let changed = !matches!(
                    reply,
                    PairingReply::NodeList { .. } | PairingReply::DeviceList { .. }
                );
                (Ok(reply), changed)
            }
            Err(e) => (Err(e), false),
        }
    }

    /// OpenClaw's device-management authz (`server-methods/devices.ts`) for the
    /// `device.*` operations, before anything changes:
    ///
    /// - a caller authenticated by a device's own credential and without `operator.admin`
    ///   manages only that device (`device-ownership-mismatch`): it may not approve,
    ///   reject, remove, rename, rotate or revoke for another device, nor learn whether
    ///   another device's request exists;
    /// - without `operator.admin`, nobody approves a request for a role other than
    ///   `operator`, rotates or revokes a non-operator token, and a device-bound caller
    ///   does not remove or rename a device paired for one (`role-management-requires-admin`).
    /// - the same for nodes: a device-bound caller without admin removes no node's approved
    ///   surface (`node pairing removal denied`) and renames only its own (`node rename
    ///   denied`).
    ///
    /// A refusal answers OpenClaw's `… denied` message; the reason goes to the log and to
    /// the stability ring (`security.event`), with the device ids in the log only.
    fn device_management_allowed(
        &self,
        op: &PairingOp,
        caller: &[String],
        caller_device: Option<&str>,
    ) -> Result<(), PairingError> {
        const APPROVE: &str = "device pairing approval denied";
        const REJECT: &str = "device pairing rejection denied";
        const REMOVE: &str = "device pairing removal denied";
        const RENAME: &str = "device pairing rename denied";
        const ROTATE: &str = "device token rotation denied";
        const REVOKE: &str = "device token revocation denied";
        const NODE_REMOVE: &str = "node pairing removal denied";
        const NODE_RENAME: &str = "node rename denied";
        if caller.iter().any(|s| s == scopes::ADMIN) {
            return Ok(());
        }
        let deny = |message: &'static str, target: &str, reason: &'static str| {
            log::warn!("{message} device={target} reason={reason}");
            let (source, action) = match message {
                ROTATE => ("gateway.device-token", "device.token.rotation_denied"),
                REVOKE => ("gateway.device-token", "device.token.revocation_denied"),
                _ => ("gateway.device-pairing", "device.pairing.denied"),
            };
            crate::stability::record(
                crate::stability::Record::of("security.event")
                    .source(source)
                    .action(action)
                    .outcome("denied")
                    .level("warning")
                    .target("device")
                    .reason(reason)
                    .repeated(),
            );
            Err(PairingError::Denied(message))
        };
        let other = |target: &str| caller_device.is_some_and(|c| c != target.trim());
        let pending = |request_id: &str| self.book.pending_devices.get(request_id);
        let paired_non_operator = |device_id: &str| {
            self.book
                .devices
                .get(device_id.trim())
                .is_some_and(crate::pairing::PairedDevice::has_non_operator_role)
        };
        match op {
            PairingOp::DeviceApprove { request_id } => {
                let Some(p) = pending(request_id) else {
                    return Err(PairingError::Denied(APPROVE));
                };
                if other(&p.device_id) {
                    return deny(APPROVE, &p.device_id, "device-ownership-mismatch");
                }
                if p.role.trim() != "operator" {
                    return deny(APPROVE, &p.device_id, "role-management-requires-admin");
                }
            }
            PairingOp::DeviceReject { request_id } if caller_device.is_some() => {
                let Some(p) = pending(request_id) else {
                    return Err(PairingError::Denied(REJECT));
                };
                if other(&p.device_id) {
                    return deny(REJECT, &p.device_id, "device-ownership-mismatch");
                }
            }
            PairingOp::DeviceRemove { device_id } | PairingOp::DeviceRename { device_id, .. } => {
                let message = if matches!(op, PairingOp::DeviceRemove { .. }) {
                    REMOVE
                } else {
                    RENAME
                };
                if other(device_id) {
                    return deny(message, device_id, "device-ownership-mismatch");
                }
                if caller_device.is_some() && paired_non_operator(device_id) {
                    return deny(message, device_id, "role-management-requires-admin");
                }
            }
            PairingOp::TokenRotate {
                device_id, role, ..
            }
            | PairingOp::TokenRevoke { device_id, role } => {
                let message = if matches!(op, PairingOp::TokenRotate { .. }) {
                    ROTATE
                } else {
                    REVOKE
                };
                if other(device_id) {
                    return deny(message, device_id, "device-ownership-mismatch");
                }
                if !role.trim().is_empty() && role.trim() != "operator" {
                    return deny(message, device_id, "role-management-requires-admin");
                }
            }
            // A node is a device too (OpenClaw's `removePairedDeviceBackedNode`, `node.rename`).
            PairingOp::NodeRemove { node_id } if caller_device.is_some() => {
                let reason = if other(node_id) {
                    "device-ownership-mismatch"
                } else {
                    "role-management-requires-admin"
                };
                return deny(NODE_REMOVE, node_id, reason);
            }
            PairingOp::NodeRename { node_id, .. } if other(node_id) => {
                return deny(NODE_RENAME, node_id, "device-ownership-mismatch");
            }
            _ => {}
        }
        Ok(())
    }

    fn apply_pairing_op(
        &mut self,
        op: PairingOp,
        caller: &[String],
        caller_device: Option<&str>,
    ) -> PairingResult {
        let now = now_ms();
        let missing = |s: &str| PairingError::MissingScope(s.to_owned());
        match op {
            PairingOp::NodeList => Ok(PairingReply::NodeList {
                paired: self.book.nodes.values().cloned().collect(),
                pending: self.book.pending_nodes.values().cloned().collect(),
            }),
            PairingOp::NodeApprove { request_id } => {
                let p = self
                    .book
                    .pending_nodes
                    .get(&request_id)
                    .ok_or(PairingError::UnknownRequest)?;
                for needed in pairing::approve_scopes(&p.node.commands) {
                    if !scopes::satisfied(caller, &needed) {
                        return Err(missing(&needed));
                    }
                }
                let surface = self
                    .book
                    .approve_surface(&request_id, now)
                    .ok_or(PairingError::UnknownRequest)?;
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
                Ok(PairingReply::NodeApproved {
                    node: surface,
                    request_id,
                })
            }
            PairingOp::NodeReject { request_id } => {
                let p = self
                    .book
                    .pending_nodes
                    .remove(&request_id)
                    .ok_or(PairingError::UnknownRequest)?;
                self.resolved("node", &request_id, "nodeId", &p.node.node_id, "rejected");
                Ok(PairingReply::NodeRejected {
                    decision: "rejected",
                    node_id: p.node.node_id,
                    request_id,
                })
            }
            PairingOp::NodeRemove { node_id } => {
                let removed = self.book.nodes.remove(&node_id).is_some();
                // It follows no session any more (an approved node's privilege), and what
                // waited for it is dropped.
                self.node_subs.forget(&node_id);
                self.pending_work.forget(&node_id);
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
                    return Err(PairingError::UnknownNode);
                }
                Ok(PairingReply::NodeRemoved {
                    node_id,
                    removed: true,
                })
            }
            PairingOp::NodeRename {
                node_id,
                display_name,
            } => {
                if !self.book.rename_surface(&node_id, &display_name) {
                    return Err(PairingError::UnknownNode);
                }
                if let Some(n) = self.nodes.get(&node_id) {
                    // The agent tool policy's `allowNodes` matches this name from now on.
                    n.addr.do_send(UpdateCommands {
                        approved: n.approved.clone(),
                        seed: Vec::new(),
                        display_name: Some(display_name.clone()),
                    });
                }
                Ok(PairingReply::NodeRenamed {
                    node_id,
                    display_name,
                })
            }
            PairingOp::DeviceList => {
                // A device-bound caller without admin sees only its own device.
                let admin = caller.iter().any(|s| s == scopes::ADMIN);
                let visible = |id: &str| admin || caller_device.is_none_or(|c| c == id);
                Ok(PairingReply::DeviceList {
                    paired: self
                        .book
                        .devices
                        .values()
                        .filter(|d| visible(&d.device_id))
                        .map(|d| PairingBook::device_view(d, self.device_connected(&d.device_id)))
                        .collect(),
                    pending: self
                        .book
                        .pending_devices
                        .values()
                        .filter(|p| visible(&p.device_id))
                        .map(Self::pending_device_view)
                        .collect(),
                })
            }
            PairingOp::DeviceApprove { request_id } => {
                let p = self
                    .book
                    .pending_devices
                    .get(&request_id)
                    .cloned()
                    .ok_or(PairingError::UnknownRequest)?;
                // An approver cannot hand out more than it holds.
                if let Some(s) = p.scopes.iter().find(|s| !scopes::satisfied(caller, s)) {
                    return Err(missing(s));
                }
                let device = self.book.approve_device(&p, "operator", now);
                self.resolved("device", &request_id, "deviceId", &p.device_id, "approved");
                let device =
                    PairingBook::device_view(&device, self.device_connected(&device.device_id));
                Ok(PairingReply::DeviceApproved { device, request_id })
            }
            PairingOp::DeviceReject { request_id } => {
                let p = self
                    .book
                    .pending_devices
                    .remove(&request_id)
                    .ok_or(PairingError::UnknownRequest)?;
                self.resolved("device", &request_id, "deviceId", &p.device_id, "rejected");
                Ok(PairingReply::DeviceRejected {
                    decision: "rejected",
                    device_id: p.device_id,
                    request_id,
                })
            }
            PairingOp::DeviceRemove { device_id } => {
                if !self.book.remove_device(&device_id) {
                    return Err(PairingError::UnknownDevice);
                }
                for e in self.sessions.conns() {
                    if e.device_id() == Some(device_id.as_str()) {
                        e.addr.do_send(CloseSession {
                            code: 4001,
                            reason: "client invalidated: device removed".into(),
                        });
                    }
                }
                Ok(PairingReply::DeviceRemoved {
                    device_id,
                    removed: true,
                })
            }
            PairingOp::DeviceRename { device_id, label } => {
                if !self.book.rename_device(&device_id, &label) {
                    return Err(PairingError::UnknownDevice);
                }
                log::info!("device pairing renamed device={device_id}");
                Ok(PairingReply::DeviceRenamed { device_id, label })
            }
            PairingOp::TokenRotate {
                device_id,
                role,
                scopes: requested,
            } => {
                let d = self
                    .book
                    .devices
                    .get(&device_id)
                    .ok_or(PairingError::UnknownDevice)?;
                if !d.roles.contains(&role) {
                    return Err(PairingError::RoleNotPaired(role));
                }
                let scopes = requested.unwrap_or_else(|| d.scopes.clone());
                if let Some(extra) = scopes.iter().find(|s| !d.scopes.contains(s)) {
                    return Err(PairingError::ScopeNotApproved(extra.clone()));
                }
                if let Some(s) = scopes.iter().find(|s| !scopes::satisfied(caller, s)) {
                    return Err(missing(s));
                }
                let token = self
                    .book
                    .issue_token(&device_id, &role, &scopes, now)
                    .ok_or(PairingError::UnknownDevice)?;
                self.close_stale_token_sessions(&device_id, &role, "device token rotated");
                Ok(PairingReply::TokenRotated {
                    device_id,
                    issued_at_ms: now,
                    role,
                    scopes,
                    token,
                })
            }
            PairingOp::TokenRevoke { device_id, role } => {
                if !self.book.revoke_token(&device_id, &role) {
                    return Err(PairingError::NoToken);
                }
                self.close_stale_token_sessions(&device_id, &role, "device token revoked");
                Ok(PairingReply::TokenRevoked {
                    device_id,
                    revoked: true,
                    role,
                })
            }
        }
    }
}

impl Handler<PairingRequest> for Registry {
    type Result = ResponseActFuture<Self, PairingResult>;

    fn handle(&mut self, msg: PairingRequest, _: &mut Self::Context) -> Self::Result {
        self.book.expire(now_ms());
        let before = self.book.clone();
        let (result, changed) =
            self.pairing_op(msg.op, &msg.caller_scopes, msg.caller_device.as_deref());
        if !changed {
            return Box::pin(actix::fut::ready(result));
        }
        Box::pin(
            self.save_book_or_undo(before)
                .map(move |r, act, _| match r {
                    Ok(()) => {
                        // OpenClaw's refresh hint for device lists (`{}`; pairing scope).
                        if matches!(result, Ok(PairingReply::DeviceRenamed { .. })) {
                            act.broadcast(
                                "device.pair.changed",
                                &serde_json::json!({}),
                                true,
                                None,
                            );
                        }
                        result
                    }
                    Err(e) => {
                        log::error!("cannot persist pairing state: {e}");
                        Err(PairingError::NotSaved)
                    }
                }),
        )
    }
}
