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
            DeviceCheck::Needs(_) => msg.is_local && self.shared.live.get().auto_approve_local,
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
