//! Device pairing at connect time: the [`DeviceConnect`] decision (paired, auto-approved
//! local device, pairing required, device-token checks and issue) and the sessions that
//! authenticated with a device token (closed when that token is revoked or replaced).

use actix::prelude::*;

use super::Registry;
use crate::pairing::{self, DeviceCheck, PendingDevice};
use crate::protocol::role::Role;
use crate::util::now_ms;
use crate::ws_session::CloseSession;

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
    pub(super) fn remember_token_session(
        &mut self,
        conn_id: &str,
        device_id: &str,
        role: &str,
        token: &str,
    ) {
        if self.token_sessions.len() >= TOKEN_SESSIONS_MAX {
            let open = &self.sessions;
            self.token_sessions.retain(|c, _| open.contains(c));
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
    pub(super) fn close_stale_token_sessions(&mut self, device_id: &str, role: &str, why: &str) {
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
        /// A setup code's other role: the operator token it hands over
        /// (`hello-ok.auth.deviceTokens`).
        handoff: Option<Handoff>,
        /// A setup code enrolled this node: its first declared command surface is
        /// approved with it.
        enrolled: bool,
    },
    /// Not approved yet.
    PairingRequired {
        /// The pending request.
        request_id: String,
        /// `not-paired`, `role-upgrade`, `scope-upgrade`.
        reason: String,
        /// The client came with a setup code, which stays valid (bound to this device):
        /// it should retry once the request is approved.
        bootstrap: bool,
    },
    /// The setup code is unknown, expired, used, bound to another device, or does not
    /// cover the role asked for.
    BootstrapInvalid,
    /// The presented device token is wrong.
    TokenMismatch,
    /// The device token is valid but does not cover the requested scopes.
    ScopeMismatch,
    /// The state could not be persisted.
    Unavailable,
}

/// The operator token a setup code hands over beside the connecting role's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The token (shown once).
    pub token: String,
    /// Its role (`operator`).
    pub role: &'static str,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Issued.
    pub issued_at_ms: u64,
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
    /// Presented setup-code bootstrap token (used when neither a shared secret nor a
    /// device token was given).
    pub bootstrap_token: Option<String>,
    /// Whether a shared secret (or `auth.mode: none`) already authenticated the client.
    pub secret_ok: bool,
}

impl Handler<DeviceConnect> for Registry {
    type Result = ResponseActFuture<Self, DeviceVerdict>;

    fn handle(&mut self, msg: DeviceConnect, _: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        let mut token_ok = false;
        // The book before this connect changed it (a setup code binds to its device first).
        let mut before = None;
        let mut bootstrap = None;
        if !msg.secret_ok
            && msg.device_token.is_none()
            && let Some(t) = msg.bootstrap_token.as_deref()
        {
            let unbound = self.book.clone();
            let b = self.book.redeem_bootstrap(t, &msg.device_id, now);
            // A setup code pairs only its own roles, with at most its scopes.
            let covers = |b: &pairing::BootstrapToken| {
                b.profile.roles().contains(&msg.role.as_str())
                    && msg
                        .scopes
                        .iter()
                        .all(|s| b.profile.operator_scopes().contains(&s.as_str()))
            };
            match b {
                Some(b) if covers(&b) => bootstrap = Some(b),
                _ => {
                    self.book = unbound;
                    return Box::pin(actix::fut::ready(DeviceVerdict::BootstrapInvalid));
                }
            }
            before = Some(unbound);
        } else if !msg.secret_ok {
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
        let before = before.unwrap_or_else(|| self.book.clone());
        let check = self
            .book
            .check_device(&msg.device_id, msg.role.as_str(), &msg.scopes);
        // A setup code redeemed by the client class it was made for pairs every role it
        // hands over, without an operator (the operator who made the code approved it).
        let enroll = bootstrap.as_ref().filter(|b| {
            b.profile.silent_for(
                &msg.client_id,
                msg.platform.as_deref().unwrap_or(""),
                msg.device_family.as_deref().unwrap_or(""),
            )
        });
        let approve_now = match check {
            DeviceCheck::Paired => true,
            DeviceCheck::Needs(_) => {
                enroll.is_some() || (msg.is_local && self.shared.live.get().auto_approve_local)
            }
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
                    &serde_json::to_value(Self::pending_device_view(&pending))
                        .unwrap_or(serde_json::Value::Null),
                    false,
                    None,
                );
            }
            let verdict = DeviceVerdict::PairingRequired {
                request_id: pending.request_id.clone(),
                reason: pending.reason.clone(),
                bootstrap: bootstrap.is_some(),
            };
            return Box::pin(self.save_book_or_undo(before).map(move |r, _, _| match r {
                Ok(()) => verdict,
                Err(e) => {
                    log::error!("cannot persist pairing request: {e}");
                    DeviceVerdict::Unavailable
                }
            }));
        }
        let mut enrolled = false;
        if let Some(b) = enroll {
            // Every role of the code: the connecting one, and the operator it hands over.
            for role in b.profile.roles() {
                let scopes = if *role == "operator" {
                    b.profile
                        .operator_scopes()
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect()
                } else {
                    Vec::new()
                };
                let leg = PendingDevice {
                    role: (*role).to_owned(),
                    scopes,
                    ..req.clone()
                };
                self.book.approve_device(&leg, "setup-code", now);
            }
            enrolled = msg.role == Role::Node;
        } else if check != DeviceCheck::Paired {
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
        // A setup code's operator token, when the device holds that role (a code redeemed
        // by another client class pairs only after an operator approves, and then only the
        // role it asked for).
        let mut handoff = None;
        let mut completed: Option<serde_json::Value> = None;
        if let Some(b) = &bootstrap {
            let scopes: Vec<String> = b
                .profile
                .operator_scopes()
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            if msg.role != Role::Operator
                && b.profile.roles().contains(&"operator")
                && self.book.check_device(&msg.device_id, "operator", &scopes)
                    == DeviceCheck::Paired
                && let Some(token) = self
                    .book
                    .issue_token(&msg.device_id, "operator", &scopes, now)
            {
                self.close_stale_token_sessions(
                    &msg.device_id,
                    "operator",
                    "device token replaced",
                );
                handoff = Some(Handoff {
                    token,
                    role: "operator",
                    scopes,
                    issued_at_ms: now,
                });
            }
            // The code is used up: it paired its device.
            if let Some(t) = msg.bootstrap_token.as_deref()
                && let Some((setup_id, done)) =
                    self.book
                        .complete_bootstrap(t, msg.display_name.clone(), now)
            {
                let mut payload = serde_json::json!({
                    "setupId": setup_id,
                    "deviceId": done.device_id,
                    "access": done.access,
                    "ts": done.completed_at_ms,
                });
                if let Some(n) = &done.device_name {
                    payload["deviceName"] = serde_json::json!(n);
                }
                completed = Some(payload);
            }
        }
        Box::pin(
            self.save_book_or_undo(before)
                .map(move |r, act, _| match r {
                    Ok(()) => {
                        // Told once the pairing is on disk (a failed save undoes it and tells
                        // nobody), as the device's hello goes out.
                        if let Some(payload) = completed {
                            act.broadcast("device.pair.setup.completed", &payload, false, None);
                        }
                        DeviceVerdict::Approved {
                            issued,
                            handoff,
                            enrolled,
                        }
                    }
                    Err(e) => {
                        log::error!("cannot persist pairing state: {e}");
                        DeviceVerdict::Unavailable
                    }
                }),
        )
    }
}

// === setup codes ===

/// `device.pair.setupCode`: a new setup code's bootstrap token, persisted (only its hash)
/// before the answer: `(token, setupId, expiresAtMs)`.
#[derive(Message)]
#[rtype(result = "Result<(String, String, u64), String>")]
pub struct IssueSetupCode {
    /// What the code hands over.
    pub profile: pairing::BootstrapProfile,
}

impl Handler<IssueSetupCode> for Registry {
    type Result = ResponseActFuture<Self, Result<(String, String, u64), String>>;

    fn handle(&mut self, msg: IssueSetupCode, _: &mut Self::Context) -> Self::Result {
        let before = self.book.clone();
        let issued = self.book.issue_bootstrap(msg.profile, now_ms());
        Box::pin(self.save_book_or_undo(before).map(move |r, _, _| match r {
            Ok(()) => Ok(issued),
            Err(e) => {
                log::error!("cannot persist a setup code: {e}");
                Err("gateway cannot save its device pairing state (see the gateway log)".into())
            }
        }))
    }
}

/// `device.pair.setupStatus {setupId}`: the device the code paired, if it did.
#[derive(Message)]
#[rtype(result = "Option<pairing::SetupCompletion>")]
pub struct SetupStatus {
    /// The code's setup id.
    pub setup_id: String,
}

impl Handler<SetupStatus> for Registry {
    type Result = Option<pairing::SetupCompletion>;

    fn handle(&mut self, msg: SetupStatus, _: &mut Self::Context) -> Self::Result {
        self.book.expire(now_ms());
        self.book.setup_completions.get(&msg.setup_id).cloned()
    }
}
