//! The registry's node half: the pairing book's persistence, node attachment, and
//! `node.invoke` routing. Device pairing at connect time is in [`super::devices`], the
//! `node.pair.*` / `device.pair.*` / `device.token.*` operations in [`super::pairing_ops`]
//! (both re-exported here).

use actix::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use super::Registry;
use super::directory::{Kept, NodeConn};
use crate::node_session::{
    InvokeError, InvokeNode, KeptOutcome, NodeSession, StopNode, UpdateCommands,
};
use crate::pairing::{self, NodeDescriptor, PairingBook, PendingDevice};
use crate::protocol::error::ErrorShape;
use crate::store::{SaveDocument, StoreError};
use crate::tool_policy::InvokeCaller;
use crate::util::now_ms;
use crate::ws_session::{CloseSession, SendTargeted, WsSession};

pub(crate) use super::devices::TokenSession;
pub use super::devices::{DeviceConnect, DeviceVerdict, Handoff, IssueSetupCode, SetupStatus};
pub use super::pairing_ops::{PairingOp, PairingRequest};

/// A connected node.
pub(crate) struct NodeEntry {
    /// Its session actor.
    pub(crate) addr: Addr<NodeSession>,
    /// Its socket.
    pub(crate) ws: Addr<WsSession>,
    /// Connection id of the socket.
    pub(crate) conn_id: String,
    /// What it declared.
    pub(crate) descriptor: NodeDescriptor,
    /// Declared commands that are approved.
    pub(crate) approved: Vec<String>,
    /// Client IP.
    pub(crate) remote_ip: Option<String>,
    /// Its PATH.
    pub(crate) path_env: Option<String>,
    /// Declared permissions.
    pub(crate) permissions: Option<Value>,
    /// Last `node.host.stats`.
    pub(crate) host_stats: Option<Value>,
    /// Connect time.
    pub(crate) connected_at_ms: u64,
    /// Last traffic.
    pub(crate) last_seen_at_ms: u64,
}

impl NodeConn for NodeEntry {
    fn conn_id(&self) -> &str {
        &self.conn_id
    }
}

impl Registry {
    /// Persists the pairing book; the future resolves once the write is durable. Every
    /// change to the book is followed by a save, so the save counter tells a failed save
    /// whether a later change has been made since.
    pub(super) fn save_book(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + use<> {
        self.book_saves = self.book_saves.wrapping_add(1);
        let fut = self.store.send(SaveDocument {
            name: pairing::DOCUMENT.to_owned(),
            contents: self.book.to_json(),
        });
        async move { StoreError::flatten(fut.await) }
    }

    /// Saves the book changed from `before`. If the save fails and nothing changed the
    /// book since, the change is undone: what the gateway acts on never runs ahead of what
    /// is on disk (a device answered `UNAVAILABLE` is not left paired in memory only).
    pub(super) fn save_book_or_undo(
        &mut self,
        before: PairingBook,
    ) -> impl ActorFuture<Self, Output = Result<(), StoreError>> + use<> {
        let save = self.save_book();
        let this_save = self.book_saves;
        actix::fut::wrap_future::<_, Self>(save).map(move |r, act, _| {
            if r.is_err() && act.book_saves == this_save {
                act.book = before;
            }
            r
        })
    }

    /// Fire-and-forget save, logging failures.
    pub(super) fn save_book_logged(&mut self) {
        let fut = self.save_book();
        actix::spawn(async move {
            if let Err(e) = fut.await {
                log::error!("cannot persist pairing state: {e}");
            }
        });
    }

    pub(super) fn expire_pending(&mut self) {
        if self.book.expire(now_ms()) {
            self.save_book_logged();
        }
    }

    /// A socket closed: forget its node (if it was one) and its device-token record.
    pub(super) fn detach_node(&mut self, conn_id: &str) {
        self.token_sessions.remove(conn_id);
        if let Some((node_id, n)) = self.nodes.detach_conn(conn_id, now_ms()) {
            self.node_subs.forget(&node_id);
            n.addr.do_send(StopNode);
        }
    }

    pub(super) fn send_to_node(&self, node_id: &str, event: &'static str, payload: &Value) {
        if let Some(n) = self.nodes.get(node_id) {
            n.ws.do_send(SendTargeted {
                event,
                payload: payload.to_string(),
            });
        }
    }

    pub(super) fn node_view(&self, node_id: &str) -> Option<NodeView> {
        let connected = self.nodes.get(node_id);
        let surface = self.book.nodes.get(node_id);
        let pending = self
            .book
            .pending_nodes
            .values()
            .find(|p| p.node.node_id == node_id);
        if connected.is_none() && surface.is_none() {
            return None;
        }
        let desc = connected
            .map(|c| &c.descriptor)
            .or_else(|| surface.map(|s| &s.node))?;
        let commands: Vec<String> = match connected {
            Some(c) => c.approved.clone(),
            None => surface.map(|s| s.node.commands.clone()).unwrap_or_default(),
        };
        let approval_state = match (surface, pending) {
            (Some(_), Some(_)) => ApprovalState::PendingReapproval,
            (Some(_), None) => ApprovalState::Approved,
            (None, Some(_)) => ApprovalState::PendingApproval,
            (None, None) => ApprovalState::Unapproved,
        };
        let seen = self.nodes.seen(node_id);
        Some(NodeView {
            approval_state,
            approved_at_ms: surface.map(|s| s.approved_at_ms),
            caps: desc.caps.clone(),
            client_id: desc.client_id.clone(),
            client_mode: desc.client_mode.clone(),
            commands,
            connected: connected.is_some(),
            connected_at_ms: connected.map(|c| c.connected_at_ms),
            declared_commands: pending.map(|p| p.node.commands.clone()),
            device_family: desc.device_family.clone(),
            // The approved surface's name first (an operator's `node.rename`), as in
            // OpenClaw's node catalog, then what the node declared.
            display_name: surface
                .and_then(|s| s.node.display_name.clone())
                .or_else(|| desc.display_name.clone()),
            host_stats: connected.and_then(|c| c.host_stats.clone()),
            last_connected_at_ms: seen.map(|s| s.last_connected_at_ms),
            last_disconnected_at_ms: seen.and_then(|s| s.last_disconnected_at_ms),
            last_seen_at_ms: connected.map(|c| c.last_seen_at_ms),
            last_seen_reason: connected.map(|_| "connect"),
            node_id: node_id.to_owned(),
            paired: surface.is_some() || self.book.devices.contains_key(node_id),
            path_env: connected.and_then(|c| c.path_env.clone()),
            pending_request_id: pending.map(|p| p.request_id.clone()),
            permissions: connected.and_then(|c| c.permissions.clone()),
            platform: desc.platform.clone(),
            remote_ip: connected.and_then(|c| c.remote_ip.clone()),
            ts: None,
            version: desc.version.clone(),
        })
    }

    pub(super) fn pending_device_view(p: &PendingDevice) -> PendingDeviceView {
        PendingDeviceView {
            client_id: p.client_id.clone(),
            client_mode: p.client_mode.clone(),
            device_family: p.device_family.clone(),
            device_id: p.device_id.clone(),
            display_name: p.display_name.clone(),
            platform: p.platform.clone(),
            public_key: p.public_key.clone(),
            reason: p.reason.clone(),
            remote_ip: p.remote_ip.clone(),
            request_id: p.request_id.clone(),
            role: p.role.clone(),
            roles: vec![p.role.clone()],
            scopes: p.scopes.clone(),
            silent: false,
            ts: p.ts,
        }
    }

    pub(super) fn device_connected(&self, device_id: &str) -> bool {
        self.sessions.device_connected(device_id)
    }

    pub(super) fn resolved(
        &self,
        kind: &str,
        request_id: &str,
        id_key: &str,
        id: &str,
        decision: &str,
    ) {
        let payload =
            json!({"requestId": request_id, id_key: id, "decision": decision, "ts": now_ms()});
        self.broadcast(&format!("{kind}.pair.resolved"), &payload, false, None);
        if kind == "node" {
            self.send_to_node(id, "node.pair.resolved", &payload);
        }
    }
}

/// A device pairing request as `device.pair.list` and `device.pair.requested` show it.
/// Fields in the order of the wire object's keys; absent ones are omitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingDeviceView {
    /// Client id.
    pub client_id: String,
    /// Client mode.
    pub client_mode: String,
    /// Device family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Device id.
    pub device_id: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Public key.
    pub public_key: String,
    /// Why pairing is needed.
    pub reason: String,
    /// Client IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// Request id.
    pub request_id: String,
    /// Requested role.
    pub role: String,
    /// Requested roles (the one role).
    pub roles: Vec<String>,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Always `false`.
    pub silent: bool,
    /// Request time.
    pub ts: u64,
}

// === node attachment ===

/// Sent by a node's `WsSession` once its handshake succeeded, with the `NodeSession` it
/// started: the registry records the node, works out the approved command surface (and
/// tells the session) and files a surface request if needed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachNode {
    /// Connection id of the socket.
    pub conn_id: String,
    /// The socket.
    pub ws: Addr<WsSession>,
    /// The node's session actor.
    pub addr: Addr<NodeSession>,
    /// What the node declared.
    pub descriptor: NodeDescriptor,
    /// Client IP.
    pub remote_ip: Option<String>,
    /// PATH.
    pub path_env: Option<String>,
    /// Permissions.
    pub permissions: Option<Value>,
    /// A setup code enrolled this node just now: its first declared command surface is
    /// approved with it (the operator who made the code approved it).
    pub enrolled: bool,
}

impl Handler<AttachNode> for Registry {
    type Result = ();

    fn handle(&mut self, msg: AttachNode, _: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        let node_id = msg.descriptor.node_id.clone();
        let addr = msg.addr;
        if msg.enrolled && !self.book.nodes.contains_key(&node_id) {
            self.book.nodes.insert(
                node_id.clone(),
                crate::pairing::NodeSurface {
                    node: msg.descriptor.clone(),
                    created_at_ms: now,
                    approved_at_ms: now,
                },
            );
            self.book
                .pending_nodes
                .retain(|_, p| p.node.node_id != node_id);
            self.save_book_logged();
        }
        let approved = self.book.approved_commands(&msg.descriptor);
        if let Some((req, created)) = self.book.request_surface(&msg.descriptor, now)
            && created
        {
            let mut payload = serde_json::to_value(&req).unwrap_or(Value::Null);
            payload["nodeId"] = json!(node_id);
            self.broadcast("node.pair.requested", &payload, false, None);
            self.save_book_logged();
        }
        // The tool policy's `allowNodes` matches the approved name, which only an operator
        // changes, before the one the node declares for itself.
        let display_name = self
            .book
            .nodes
            .get(&node_id)
            .and_then(|s| s.node.display_name.clone())
            .or_else(|| msg.descriptor.display_name.clone());
        let (old, seed) = self.nodes.attach(
            &node_id,
            NodeEntry {
                addr: addr.clone(),
                ws: msg.ws,
                conn_id: msg.conn_id,
                descriptor: msg.descriptor,
                approved: approved.clone(),
                remote_ip: msg.remote_ip,
                path_env: msg.path_env,
                permissions: msg.permissions,
                host_stats: None,
                connected_at_ms: now,
                last_seen_at_ms: now,
            },
            now,
        );
        if let Some(old) = old {
            // A reconnect replaces the old socket (and what it followed).
            self.node_subs.forget(&node_id);
            old.addr.do_send(StopNode);
            old.ws.do_send(CloseSession {
                code: 1000,
                reason: "replaced by a newer connection".into(),
            });
        }
        addr.do_send(UpdateCommands {
            approved,
            seed,
            display_name,
        });
        // The wake words, as every node gets them when it connects.
        if let Some(n) = self.nodes.get(&node_id) {
            self.voicewake_snapshot(&n.ws);
        }
    }
}

/// Sent by a stopping `NodeSession`: its finished invoke outcomes, kept for 5 minutes so
/// the node's next session answers a retried idempotency key without running it again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct KeepOutcomes {
    /// Node id.
    pub node_id: String,
    /// Outcomes by idempotency key, with the fingerprint each key is bound to.
    pub entries: Vec<KeptOutcome>,
}

impl Handler<KeepOutcomes> for Registry {
    type Result = ();

    fn handle(&mut self, msg: KeepOutcomes, _: &mut Self::Context) {
        match self.nodes.keep(msg.node_id.clone(), msg.entries) {
            Kept::Stored | Kept::Full => {}
            Kept::SeedNow(seed) => {
                if let Some(n) = self.nodes.get(&msg.node_id) {
                    n.addr.do_send(UpdateCommands {
                        approved: n.approved.clone(),
                        seed,
                        display_name: None,
                    });
                }
            }
        }
    }
}

/// Asks for a connected node's session (operator sessions cache it for `node.invoke`).
#[derive(Message)]
#[rtype(result = "Option<Addr<NodeSession>>")]
pub struct LookupNode {
    /// Node id.
    pub node_id: String,
}

impl Handler<LookupNode> for Registry {
    type Result = Option<Addr<NodeSession>>;

    fn handle(&mut self, msg: LookupNode, _: &mut Self::Context) -> Self::Result {
        self.nodes.get(&msg.node_id).map(|n| n.addr.clone())
    }
}

/// Sent by a node's `WsSession` for `node.event node.host.stats`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NodeHostStats {
    /// Node id.
    pub node_id: String,
    /// The parsed stats.
    pub stats: Value,
}

impl Handler<NodeHostStats> for Registry {
    type Result = ();

    fn handle(&mut self, msg: NodeHostStats, _: &mut Self::Context) {
        let now = now_ms();
        if let Some(n) = self.nodes.get_mut(&msg.node_id) {
            let mut stats = msg.stats;
            stats["updatedAtMs"] = json!(now);
            n.host_stats = Some(stats.clone());
            n.last_seen_at_ms = now;
            self.broadcast(
                "node.hostStats",
                &json!({"nodeId": msg.node_id, "hostStats": stats}),
                false,
                None,
            );
        }
    }
}

// === node.invoke ===

/// Sent by an agent run's `nodes` tool (operator sockets parse `node.invoke` into this
/// too, then skip the hop: they cache the node's `NodeSession` address). Checks the node is
/// connected, resolves the agent tool policy for the run's origin and forwards to the
/// node's session, which runs the caller checks, checks the approved surface and dedupes
/// on the idempotency key.
#[derive(Message)]
#[rtype(result = "crate::node_session::InvokeOutcome")]
pub struct InvokeNodeCommand {
    /// Target node.
    pub node_id: String,
    /// Command.
    pub command: String,
    /// Params.
    pub params: Option<Value>,
    /// Deadline in ms.
    pub timeout_ms: u64,
    /// Idempotency key.
    pub idempotency_key: String,
    /// Session key of the caller, if any.
    pub session_key: Option<String>,
    /// Who asks.
    pub origin: InvokeOrigin,
}

/// Where a [`InvokeNodeCommand`] comes from.
#[derive(Debug, Clone)]
pub enum InvokeOrigin {
    /// An operator socket with these granted scopes (its `WsSession` adds its identity).
    Operator {
        /// Granted scopes.
        scopes: Vec<String>,
    },
    /// An agent run; `sender` is `<channel>:<senderId>` for chat-originated runs.
    AgentRun {
        /// The chat sender, if the run came from a channel.
        sender: Option<String>,
    },
}

impl Handler<InvokeNodeCommand> for Registry {
    type Result = ResponseFuture<crate::node_session::InvokeOutcome>;

    fn handle(&mut self, msg: InvokeNodeCommand, _: &mut Self::Context) -> Self::Result {
        let Some(node) = self.nodes.get(&msg.node_id) else {
            return Box::pin(async { Err(InvokeError::NotConnected) });
        };
        let caller = match msg.origin {
            InvokeOrigin::Operator { scopes } => InvokeCaller::Operator {
                principal: "shared-secret".into(),
                scopes,
            },
            InvokeOrigin::AgentRun { sender } => InvokeCaller::Agent {
                principal: format!("agent:{}", sender.as_deref().unwrap_or("operator")),
                rules: Box::new(
                    self.shared
                        .live
                        .get()
                        .agent_tools
                        .resolve(sender.as_deref()),
                ),
            },
        };
        let fut = node.addr.send(InvokeNode {
            command: msg.command,
            params: msg.params,
            timeout_ms: msg.timeout_ms,
            idempotency_key: msg.idempotency_key,
            session_key: msg.session_key,
            caller,
        });
        Box::pin(async move {
            fut.await
                .unwrap_or_else(|_| Err(InvokeError::disconnected()))
        })
    }
}

// === queries ===

/// Where a node's command surface stands (`approvalState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalState {
    /// Approved, and a changed surface waits for approval.
    PendingReapproval,
    /// Approved.
    Approved,
    /// Never approved; a request is pending.
    PendingApproval,
    /// Never approved, nothing pending.
    Unapproved,
}

/// A node as `node.list` and `node.describe` show it: what it declared, its approved
/// surface and, while connected, its connection. Fields in the order of the wire object's
/// keys; absent ones are omitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// Surface approval.
    pub approval_state: ApprovalState,
    /// Last approval of its surface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_at_ms: Option<u64>,
    /// Declared capabilities.
    pub caps: Vec<String>,
    /// Client id.
    pub client_id: String,
    /// Client mode.
    pub client_mode: String,
    /// Commands callable now (connected: the approved ones it declared).
    pub commands: Vec<String>,
    /// Whether it is connected.
    pub connected: bool,
    /// Connect time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_at_ms: Option<u64>,
    /// The commands of a pending surface request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_commands: Option<Vec<String>>,
    /// Device family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Last `node.host.stats` (as the node sent it, plus `updatedAtMs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_stats: Option<Value>,
    /// Last connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_connected_at_ms: Option<u64>,
    /// Last disconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_disconnected_at_ms: Option<u64>,
    /// Last traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at_ms: Option<u64>,
    /// Why `lastSeenAtMs` was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_reason: Option<&'static str>,
    /// Node id.
    pub node_id: String,
    /// Whether its device or surface is paired.
    pub paired: bool,
    /// Its PATH.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_env: Option<String>,
    /// The pending surface request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_request_id: Option<String>,
    /// Declared permissions (as the node sent them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Value>,
    /// Platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Client IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// Answer time (`node.describe` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<u64>,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// What `node.list` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeList {
    /// Paired and connected nodes, by id.
    pub nodes: Vec<NodeView>,
    /// Answer time.
    pub ts: u64,
}

/// Why a node query failed; [`NodeError::to_shape`] gives the wire error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// Neither connected nor paired.
    #[error("unknown nodeId")]
    UnknownNode,
}

impl NodeError {
    /// The wire error (`INVALID_REQUEST`).
    pub fn to_shape(&self) -> ErrorShape {
        ErrorShape::invalid(self.to_string())
    }
}

/// `node.list`.
#[derive(Message)]
#[rtype(result = "NodeList")]
pub struct ListNodes;

impl Handler<ListNodes> for Registry {
    type Result = MessageResult<ListNodes>;

    fn handle(&mut self, _: ListNodes, _: &mut Self::Context) -> Self::Result {
        let mut ids: Vec<String> = self.book.nodes.keys().cloned().collect();
        for id in self.nodes.ids() {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids.sort();
        let nodes = ids.iter().filter_map(|id| self.node_view(id)).collect();
        MessageResult(NodeList {
            nodes,
            ts: now_ms(),
        })
    }
}

/// `node.describe`.
#[derive(Message)]
#[rtype(result = "Result<NodeView, NodeError>")]
pub struct DescribeNode {
    /// Node id.
    pub node_id: String,
}

impl Handler<DescribeNode> for Registry {
    type Result = Result<NodeView, NodeError>;

    fn handle(&mut self, msg: DescribeNode, _: &mut Self::Context) -> Self::Result {
        let mut v = self.node_view(&msg.node_id).ok_or(NodeError::UnknownNode)?;
        v.ts = Some(now_ms());
        Ok(v)
    }
}
