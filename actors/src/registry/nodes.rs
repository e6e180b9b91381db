//! The registry's node and pairing half: device pairing decisions at connect time, node
//! attachment, `node.invoke` routing with idempotency, and the `node.pair.*` /
//! `device.pair.*` / `device.token.*` operations.

use std::time::Instant;

use actix::prelude::*;
use serde_json::{Value, json};

use super::Registry;
use crate::node_session::{
    InvokeError, InvokeNode, KeptOutcome, NodeSession, StopNode, UpdateCommands,
};
use crate::pairing::{self, DeviceCheck, NodeDescriptor, PairingBook, PendingDevice};
use crate::protocol::error::ErrorShape;
use crate::protocol::role::Role;
use crate::protocol::scopes;
use crate::store::{SaveDocument, StoreError};
use crate::tool_policy::InvokeCaller;
use crate::util::now_ms;
use crate::ws_session::{CloseSession, SendTargeted, WsSession};

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

/// Connect/disconnect times of a node.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NodeSeen {
    pub(crate) last_connected_at_ms: u64,
    pub(crate) last_disconnected_at_ms: Option<u64>,
}

impl Registry {
    /// Persists the pairing book; the future resolves once the write is durable. Every
    /// change to the book is followed by a save, so the save counter tells a failed save
    /// whether a later change has been made since.
    fn save_book(&mut self) -> impl std::future::Future<Output = Result<(), StoreError>> + use<> {
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
    fn save_book_or_undo(
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
    fn save_book_logged(&mut self) {
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
        let Some(node_id) = self
            .nodes
            .iter()
            .find(|(_, n)| n.conn_id == conn_id)
            .map(|(id, _)| id.clone())
        else {
            return;
        };
        if let Some(n) = self.nodes.remove(&node_id) {
            n.addr.do_send(StopNode);
            self.node_seen
                .entry(node_id)
                .or_default()
                .last_disconnected_at_ms = Some(now_ms());
        }
    }

    fn send_to_node(&self, node_id: &str, event: &'static str, payload: &Value) {
        if let Some(n) = self.nodes.get(node_id) {
            n.ws.do_send(SendTargeted {
                event,
                payload: payload.to_string(),
            });
        }
    }

    fn node_view(&self, node_id: &str) -> Option<Value> {
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
        let approval = match (surface, pending) {
            (Some(_), Some(_)) => "pending-reapproval",
            (Some(_), None) => "approved",
            (None, Some(_)) => "pending-approval",
            (None, None) => "unapproved",
        };
        let mut v = json!({
            "nodeId": node_id,
            "clientId": desc.client_id,
            "clientMode": desc.client_mode,
            "caps": desc.caps,
            "commands": commands,
            "approvalState": approval,
            "paired": surface.is_some() || self.book.devices.contains_key(node_id),
            "connected": connected.is_some(),
        });
        for (k, val) in [
            ("displayName", &desc.display_name),
            ("platform", &desc.platform),
            ("version", &desc.version),
            ("deviceFamily", &desc.device_family),
        ] {
            if let Some(x) = val {
                v[k] = json!(x);
            }
        }
        if let Some(p) = pending {
            v["pendingRequestId"] = json!(p.request_id);
            v["declaredCommands"] = json!(p.node.commands);
        }
        if let Some(s) = surface {
            v["approvedAtMs"] = json!(s.approved_at_ms);
        }
        if let Some(seen) = self.node_seen.get(node_id) {
            v["lastConnectedAtMs"] = json!(seen.last_connected_at_ms);
            if let Some(d) = seen.last_disconnected_at_ms {
                v["lastDisconnectedAtMs"] = json!(d);
            }
        }
        if let Some(c) = connected {
            v["connectedAtMs"] = json!(c.connected_at_ms);
            v["lastSeenAtMs"] = json!(c.last_seen_at_ms);
            v["lastSeenReason"] = json!("connect");
            if let Some(ip) = &c.remote_ip {
                v["remoteIp"] = json!(ip);
            }
            if let Some(p) = &c.path_env {
                v["pathEnv"] = json!(p);
            }
            if let Some(p) = &c.permissions {
                v["permissions"] = p.clone();
            }
            if let Some(h) = &c.host_stats {
                v["hostStats"] = h.clone();
            }
        }
        Some(v)
    }

    fn pending_device_view(p: &PendingDevice) -> Value {
        let mut v = json!({
            "requestId": p.request_id,
            "deviceId": p.device_id,
            "publicKey": p.public_key,
            "clientId": p.client_id,
            "clientMode": p.client_mode,
            "role": p.role,
            "roles": [p.role],
            "scopes": p.scopes,
            "reason": p.reason,
            "silent": false,
            "ts": p.ts,
        });
        for (k, val) in [
            ("displayName", &p.display_name),
            ("platform", &p.platform),
            ("deviceFamily", &p.device_family),
            ("remoteIp", &p.remote_ip),
        ] {
            if let Some(x) = val {
                v[k] = json!(x);
            }
        }
        v
    }

    fn device_connected(&self, device_id: &str) -> bool {
        self.sessions
            .values()
            .any(|e| e.authed.as_ref().and_then(|a| a.device_id.as_deref()) == Some(device_id))
    }

    fn resolved(&self, kind: &str, request_id: &str, id_key: &str, id: &str, decision: &str) {
        let payload =
            json!({"requestId": request_id, id_key: id, "decision": decision, "ts": now_ms()});
        self.broadcast(&format!("{kind}.pair.resolved"), &payload, false, None);
        if kind == "node" {
            self.send_to_node(id, "node.pair.resolved", &payload);
        }
    }
}

// === sessions authenticated by a device token ===

/// A session that authenticated with a device token.
#[derive(Debug, Clone)]
pub(crate) struct TokenSession {
    device_id: String,
    role: String,
    /// Hash of the token it presented.
    hash: String,
}

/// Bound on remembered token sessions (closed sessions are pruned first).
const TOKEN_SESSIONS_MAX: usize = 65_536;

impl Registry {
    fn remember_token_session(&mut self, conn_id: &str, device_id: &str, role: &str, token: &str) {
        if self.token_sessions.len() >= TOKEN_SESSIONS_MAX {
            let open = &self.sessions;
            self.token_sessions.retain(|c, _| open.contains_key(c));
        }
        if self.token_sessions.len() < TOKEN_SESSIONS_MAX {
            self.token_sessions.insert(
                conn_id.to_owned(),
                TokenSession {
                    device_id: device_id.to_owned(),
                    role: role.to_owned(),
                    hash: pairing::token_hash(token),
                },
            );
        }
    }

    /// Closes (4001) every open session of `device_id`/`role` that authenticated with a
    /// device token that is no longer the valid one.
    fn close_stale_token_sessions(&mut self, device_id: &str, role: &str, why: &str) {
        let current: Option<String> = self
            .book
            .devices
            .get(device_id)
            .and_then(|d| d.tokens.iter().find(|t| t.role == role))
            .map(|t| t.hash.clone());
        let stale: Vec<String> = self
            .token_sessions
            .iter()
            .filter(|(_, t)| {
                t.device_id == device_id && t.role == role && Some(&t.hash) != current.as_ref()
            })
            .map(|(c, _)| c.clone())
            .collect();
        for conn in stale {
            self.token_sessions.remove(&conn);
            if let Some(e) = self.sessions.get(&conn) {
                e.addr.do_send(CloseSession {
                    code: 4001,
                    reason: format!("client invalidated: {why}"),
                });
            }
        }
    }
}

// === device pairing at connect time ===

/// What the registry decided about a device's connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceVerdict {
    /// Paired: proceed. `issued` is a fresh device token for `hello-ok`.
    Approved {
        /// `(token, issuedAtMs)` when a new token was issued.
        issued: Option<(String, u64)>,
    },
    /// Not approved yet.
    PairingRequired {
        /// The pending request.
        request_id: String,
        /// `not-paired`, `role-upgrade`, `scope-upgrade`.
        reason: String,
    },
    /// The presented device token is wrong.
    TokenMismatch,
    /// The device token is valid but does not cover the requested scopes.
    ScopeMismatch,
    /// The state could not be persisted.
    Unavailable,
}

/// Sent by a `WsSession` after a valid device proof: pairs, auto-approves local devices,
/// checks or issues device tokens.
#[derive(Message)]
#[rtype(result = "DeviceVerdict")]
pub struct DeviceConnect {
    /// Connection id of the socket (a session that authenticates with its device token is
    /// closed when that token is revoked or replaced).
    pub conn_id: String,
    /// Device id.
    pub device_id: String,
    /// Raw public key, base64url.
    pub public_key: String,
    /// Client id.
    pub client_id: String,
    /// Client mode.
    pub client_mode: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Platform.
    pub platform: Option<String>,
    /// Device family.
    pub device_family: Option<String>,
    /// Role.
    pub role: Role,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// Direct loopback peer.
    pub is_local: bool,
    /// Client IP.
    pub remote_ip: String,
    /// Presented device token (used when no shared secret was given).
    pub device_token: Option<String>,
    /// Whether a shared secret (or `auth.mode: none`) already authenticated the client.
    pub secret_ok: bool,
}

impl Handler<DeviceConnect> for Registry {
    type Result = ResponseActFuture<Self, DeviceVerdict>;

    fn handle(&mut self, msg: DeviceConnect, _: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        let mut token_ok = false;
        if !msg.secret_ok {
            let bound = msg
                .device_token
                .as_deref()
                .and_then(|t| self.book.token_scopes(&msg.device_id, msg.role.as_str(), t));
            let Some(bound) = bound else {
                // The session records the failure with its limiter key (`AuthAttempt`).
                return Box::pin(actix::fut::ready(DeviceVerdict::TokenMismatch));
            };
            // A device token carries the scopes it was issued for; asking for more needs
            // the shared secret or a re-approval.
            if !msg.scopes.iter().all(|s| bound.contains(s)) {
                return Box::pin(actix::fut::ready(DeviceVerdict::ScopeMismatch));
            }
            token_ok = true;
            if let Some(t) = msg.device_token.as_deref() {
                self.remember_token_session(&msg.conn_id, &msg.device_id, msg.role.as_str(), t);
            }
        }
        let before = self.book.clone();
        let check = self
            .book
            .check_device(&msg.device_id, msg.role.as_str(), &msg.scopes);
        let approve_now = match check {
            DeviceCheck::Paired => true,
            DeviceCheck::Needs(_) => msg.is_local && self.shared.config.auto_approve_local,
        };
        let req = PendingDevice {
            request_id: String::new(),
            device_id: msg.device_id.clone(),
            public_key: msg.public_key.clone(),
            display_name: msg.display_name.clone(),
            platform: msg.platform.clone(),
            device_family: msg.device_family.clone(),
            client_id: msg.client_id.clone(),
            client_mode: msg.client_mode.clone(),
            role: msg.role.as_str().to_owned(),
            scopes: msg.scopes.clone(),
            remote_ip: Some(msg.remote_ip.clone()),
            reason: match check {
                DeviceCheck::Needs(r) => r.to_owned(),
                DeviceCheck::Paired => String::new(),
            },
            ts: now,
        };
        if !approve_now {
            let (pending, created) = self.book.request_device(req);
            if created {
                self.broadcast(
                    "device.pair.requested",
                    &Self::pending_device_view(&pending),
                    false,
                    None,
                );
            }
            let verdict = DeviceVerdict::PairingRequired {
                request_id: pending.request_id.clone(),
                reason: pending.reason.clone(),
            };
            return Box::pin(self.save_book_or_undo(before).map(move |r, _, _| match r {
                Ok(()) => verdict,
                Err(e) => {
                    log::error!("cannot persist pairing request: {e}");
                    DeviceVerdict::Unavailable
                }
            }));
        }
        if check != DeviceCheck::Paired {
            self.book.approve_device(&req, "silent", now);
        }
        if let Some(d) = self.book.devices.get_mut(&msg.device_id) {
            d.last_seen_at_ms = Some(now);
        }
        // A client that authenticated with its device token keeps it; a shared-secret
        // connect gets a fresh one (only hashes are stored, so the old one can't be echoed).
        let issued = if token_ok {
            None
        } else {
            let t = self
                .book
                .issue_token(&msg.device_id, msg.role.as_str(), &msg.scopes, now)
                .map(|t| (t, now));
            // The new token replaces the old one: sessions that used the old one go.
            self.close_stale_token_sessions(
                &msg.device_id,
                msg.role.as_str(),
                "device token replaced",
            );
            t
        };
        Box::pin(self.save_book_or_undo(before).map(move |r, _, _| match r {
            Ok(()) => DeviceVerdict::Approved { issued },
            Err(e) => {
                log::error!("cannot persist pairing state: {e}");
                DeviceVerdict::Unavailable
            }
        }))
    }
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
}

impl Handler<AttachNode> for Registry {
    type Result = ();

    fn handle(&mut self, msg: AttachNode, _: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        let node_id = msg.descriptor.node_id.clone();
        if let Some(old) = self.nodes.remove(&node_id) {
            // A reconnect replaces the old socket.
            old.addr.do_send(StopNode);
            old.ws.do_send(CloseSession {
                code: 1000,
                reason: "replaced by a newer connection".into(),
            });
        }
        let addr = msg.addr;
        let approved = self.book.approved_commands(&msg.descriptor);
        let seed = self
            .kept_outcomes
            .remove(&node_id)
            .map(|(at, v)| {
                if at.elapsed() < KEPT_OUTCOMES_TTL {
                    v
                } else {
                    Vec::new()
                }
            })
            .unwrap_or_default();
        addr.do_send(UpdateCommands {
            approved: approved.clone(),
            seed,
            display_name: msg.descriptor.display_name.clone(),
        });
        if let Some((req, created)) = self.book.request_surface(&msg.descriptor, now)
            && created
        {
            let mut payload = serde_json::to_value(&req).unwrap_or(Value::Null);
            payload["nodeId"] = json!(node_id);
            self.broadcast("node.pair.requested", &payload, false, None);
            self.save_book_logged();
        }
        self.node_seen
            .entry(node_id.clone())
            .or_default()
            .last_connected_at_ms = now;
        self.nodes.insert(
            node_id,
            NodeEntry {
                addr: addr.clone(),
                ws: msg.ws,
                conn_id: msg.conn_id,
                descriptor: msg.descriptor,
                approved,
                remote_ip: msg.remote_ip,
                path_env: msg.path_env,
                permissions: msg.permissions,
                host_stats: None,
                connected_at_ms: now,
                last_seen_at_ms: now,
            },
        );
    }
}

/// How long outcomes handed over by a stopped node session are kept for its reconnect.
const KEPT_OUTCOMES_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// Nodes whose outcomes are kept at most.
const KEPT_OUTCOMES_NODES: usize = 256;

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
        self.kept_outcomes
            .retain(|_, (at, _)| at.elapsed() < KEPT_OUTCOMES_TTL);
        if self.kept_outcomes.len() >= KEPT_OUTCOMES_NODES {
            return;
        }
        // A reconnect may already have attached the new session: seed it directly.
        if let Some(n) = self.nodes.get(&msg.node_id) {
            n.addr.do_send(UpdateCommands {
                approved: n.approved.clone(),
                seed: msg.entries,
                display_name: None,
            });
            return;
        }
        self.kept_outcomes
            .insert(msg.node_id, (Instant::now(), msg.entries));
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
                rules: Box::new(self.shared.config.agent_tools.resolve(sender.as_deref())),
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

/// `node.list`.
#[derive(Message)]
#[rtype(result = "Value")]
pub struct ListNodes;

impl Handler<ListNodes> for Registry {
    type Result = MessageResult<ListNodes>;

    fn handle(&mut self, _: ListNodes, _: &mut Self::Context) -> Self::Result {
        let mut ids: Vec<String> = self.book.nodes.keys().cloned().collect();
        for id in self.nodes.keys() {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids.sort();
        let nodes: Vec<Value> = ids.iter().filter_map(|id| self.node_view(id)).collect();
        MessageResult(json!({"ts": now_ms(), "nodes": nodes}))
    }
}

/// `node.describe`.
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
pub struct DescribeNode {
    /// Node id.
    pub node_id: String,
}

impl Handler<DescribeNode> for Registry {
    type Result = Result<Value, ErrorShape>;

    fn handle(&mut self, msg: DescribeNode, _: &mut Self::Context) -> Self::Result {
        let mut v = self
            .node_view(&msg.node_id)
            .ok_or_else(|| ErrorShape::invalid("unknown nodeId"))?;
        v["ts"] = json!(now_ms());
        Ok(v)
    }
}

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
    fn pairing_op(&mut self, op: PairingOp, caller: &[String]) -> (PairingResult, bool) {
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
                for e in self.sessions.values() {
                    if e.authed.as_ref().and_then(|a| a.device_id.as_deref())
                        == Some(device_id.as_str())
                    {
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
