//! The handshake: `connect` params, protocol range, role, origin, the shared secret (with
//! the registry's limiter) or a device token, the device proof and pairing, node
//! attachment, then `hello-ok`.

use std::collections::VecDeque;

use actix::prelude::*;
use serde_json::json;

use super::methods::features_json;
use super::peer::TailscaleIdentity;
use super::{Phase, ReadyState, WsSession};
use crate::auth::{AuthMode, AuthScope, constant_time_eq};
use crate::identity;
use crate::node_session::NodeSession;
use crate::pairing::NodeDescriptor;
use crate::protocol::codes;
use crate::protocol::connect::{self, ConnectParams};
use crate::protocol::error::{ErrorCode, ErrorShape};
use crate::protocol::frame::{self, Request};
use crate::protocol::hello::{HelloAuth, HelloOk, Policy, Server, SessionDefaults, Snapshot};
use crate::protocol::role::Role;
use crate::protocol::scopes;
use crate::protocol::{MIN_NODE_PROTOCOL_VERSION, PROTOCOL_VERSION, close};
use crate::registry::nodes::{AttachNode, DeviceConnect, DeviceVerdict, Handoff};
use crate::registry::presence::{self, PresenceEntry};
use crate::registry::{
    AuthAttempt, AuthVerdict, CheckLockout, HelloSnapshot, SessionAuthenticated,
};
use crate::util::now_ms;

/// Why the post-auth handshake steps failed.
enum HelloError {
    Device(DeviceVerdict),
    Locked(std::time::Duration),
    Unavailable,
}

impl WsSession {
    pub(super) fn on_connect(&mut self, req: Request, ctx: &mut Context<Self>) {
        let params = match connect::parse(&req.params) {
            Ok(p) => p,
            Err(msg) => {
                let err = ErrorShape::invalid(format!("invalid connect params: {msg}"));
                return self.fail_handshake(&req.id, err, close::POLICY, ctx);
            }
        };
        self.webchat = params.client.mode.trim().eq_ignore_ascii_case("webchat")
            || params.client.id.trim().eq_ignore_ascii_case("webchat-ui");
        let node_client = params.role == "node" && params.client.mode == "node";
        let probe = params.client.mode == "probe";
        let accepts_current =
            params.min_protocol <= PROTOCOL_VERSION && params.max_protocol >= PROTOCOL_VERSION;
        let accepts_legacy = (node_client || probe)
            && params.min_protocol <= MIN_NODE_PROTOCOL_VERSION
            && params.max_protocol >= MIN_NODE_PROTOCOL_VERSION;
        if !(accepts_current || accepts_legacy) {
            let err = ErrorShape::invalid("protocol mismatch").with_details(json!({
                "code": codes::PROTOCOL_MISMATCH,
                "clientMinProtocol": params.min_protocol,
                "clientMaxProtocol": params.max_protocol,
                "expectedProtocol": PROTOCOL_VERSION,
                "minimumProbeProtocol": MIN_NODE_PROTOCOL_VERSION,
            }));
            return self.fail_handshake(&req.id, err, close::PROTOCOL_ERROR, ctx);
        }
        if params.role != "operator" && params.role != "node" {
            return self.fail_handshake(
                &req.id,
                ErrorShape::invalid("invalid role"),
                close::POLICY,
                ctx,
            );
        }
        if !self.peer.origin_allowed {
            let err = ErrorShape::invalid(
                "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)",
            )
            .with_details(json!({"code": codes::CONTROL_UI_ORIGIN_NOT_ALLOWED}));
            return self.fail_handshake(&req.id, err, close::POLICY, ctx);
        }

        let live = self.shared.live.get();
        let auth = &live.auth;
        let mode = auth.mode;
        if mode == AuthMode::None {
            return self.after_auth(req.id, params, true, ctx);
        }
        let offered: Vec<&str> = [
            params.auth.token.as_deref(),
            params.auth.password.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if offered.is_empty()
            && params.auth.device_token.is_none()
            && params.role == "operator"
            && let Some(ts) = &self.peer.tailscale
        {
            // Tailscale Serve identity (spec §5.10): set only on the dedicated Serve
            // listener; operators only (a node falls through to the token check below).
            return match ts {
                TailscaleIdentity::Verified { .. } => self.after_auth(req.id, params, true, ctx),
                TailscaleIdentity::Unverified { reason } => {
                    let err = auth_failure(reason, &params, false);
                    self.fail_handshake(&req.id, err, close::POLICY, ctx)
                }
            };
        }
        if offered.is_empty()
            && params.device.is_some()
            && (params.auth.device_token.is_some() || params.auth.bootstrap_token.is_some())
        {
            // Device-token (or setup-code bootstrap-token) auth: checked against the pairing
            // store with the device proof, unless this client is locked out of device-token
            // attempts.
            self.phase = Phase::Authenticating {
                pending: VecDeque::new(),
            };
            let id = req.id;
            self.registry
                .send(CheckLockout {
                    key: self.peer.limiter_key(AuthScope::DeviceToken),
                })
                .into_actor(self)
                .map(move |locked, act, ctx| match locked {
                    Ok(None) => act.after_auth(id, params, false, ctx),
                    Ok(Some(retry)) => {
                        act.fail_locked(&id, &params, retry, ctx);
                    }
                    Err(_) => {
                        act.fail_busy(&id, ctx);
                    }
                })
                .wait(ctx);
            return;
        }
        if offered.is_empty() {
            if params.device.is_none() {
                let err = ErrorShape::new(ErrorCode::NotPaired, "device identity required")
                    .with_details(json!({"code": codes::DEVICE_IDENTITY_REQUIRED}));
                return self.fail_handshake(&req.id, err, close::POLICY, ctx);
            }
            let reason = if mode == AuthMode::Password {
                "password_missing"
            } else {
                "token_missing"
            };
            let err = auth_failure(reason, &params, self.peer.is_local);
            return self.fail_handshake(&req.id, err, close::POLICY, ctx);
        }
        let secret = auth.secret.as_deref().unwrap_or("");
        let matched = !secret.is_empty()
            && offered
                .iter()
                .any(|o| constant_time_eq(o.as_bytes(), secret.as_bytes()));
        if matched && params.device.is_none() {
            // Fast path: the lockout check rides on the registration round trip.
            self.defer_lockout = true;
            return self.after_auth(req.id, params, true, ctx);
        }
        self.phase = Phase::Authenticating {
            pending: VecDeque::new(),
        };
        let id = req.id;
        self.registry
            .send(AuthAttempt {
                key: self.peer.limiter_key(AuthScope::SharedSecret),
                matched,
            })
            .into_actor(self)
            .map(move |verdict, act, ctx| match verdict {
                Ok(AuthVerdict::Allowed) => act.after_auth(id, params, true, ctx),
                Ok(AuthVerdict::Locked(retry)) => {
                    act.fail_locked(&id, &params, retry, ctx);
                }
                Ok(AuthVerdict::Failed(delay)) => {
                    let reason = if mode == AuthMode::Password {
                        "password_mismatch"
                    } else {
                        "token_mismatch"
                    };
                    let err = auth_failure(reason, &params, act.peer.is_local);
                    ctx.run_later(delay, move |act, ctx| {
                        act.fail_handshake(&id, err, close::POLICY, ctx);
                    });
                }
                Err(_) => {
                    act.fail_busy(&id, ctx);
                }
            })
            .wait(ctx);
    }

    /// The shared secret (or `auth.mode: none`, or a device token still to be checked) is
    /// settled: device proof and pairing, scopes, node attachment, hello.
    fn after_auth(
        &mut self,
        id: String,
        params: ConnectParams,
        secret_ok: bool,
        ctx: &mut Context<Self>,
    ) {
        if matches!(self.phase, Phase::Closing) {
            return;
        }
        let Some(role) = Role::parse(&params.role) else {
            // on_connect refused other roles already.
            return self.fail_handshake(
                &id,
                ErrorShape::invalid("invalid role"),
                close::POLICY,
                ctx,
            );
        };
        let mut scopes: Vec<String> = if role == Role::Node {
            Vec::new()
        } else {
            let mut v: Vec<String> = Vec::with_capacity(params.scopes.len());
            for s in &params.scopes {
                if scopes::OPERATOR_SCOPES.contains(&s.as_str()) && !v.contains(s) {
                    v.push(s.clone());
                }
            }
            v
        };
        let mut device: Option<(String, String)> = None;
        match &params.device {
            None => {
                if role == Role::Node {
                    let err = ErrorShape::new(ErrorCode::NotPaired, "device identity required")
                        .with_details(json!({"code": codes::DEVICE_IDENTITY_REQUIRED}));
                    return self.fail_handshake(&id, err, close::POLICY, ctx);
                }
                let keeps_scopes = self.peer.local_cli()
                    && matches!(
                        (params.client.id.as_str(), params.client.mode.as_str()),
                        ("cli", "cli") | ("gateway-client", "backend")
                    );
                if !keeps_scopes {
                    scopes.clear();
                }
            }
            Some(proof) => match identity::verify_proof(&params, proof, &self.nonce, now_ms()) {
                Ok(raw) => {
                    use base64::Engine as _;
                    let pk = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
                    device = Some((identity::device_id(&raw), pk));
                }
                Err(e) => {
                    let (message, code, reason) = e.wire();
                    let err = ErrorShape::invalid(message)
                        .with_details(json!({"code": code, "reason": reason}));
                    return self.fail_handshake(&id, err, close::POLICY, ctx);
                }
            },
        }
        let device_id = device.as_ref().map(|(d, _)| d.clone());
        let live = self.shared.live.get();
        let via_tailscale = self.peer.tailscale_login().is_some()
            && params.auth.token.is_none()
            && params.auth.password.is_none()
            && live.auth.mode != AuthMode::None;
        let method = if secret_ok && via_tailscale {
            "tailscale"
        } else if secret_ok {
            live.auth.mode.as_str()
        } else if params.auth.device_token.is_none() && params.auth.bootstrap_token.is_some() {
            "bootstrap-token"
        } else {
            "device-token"
        };
        if !matches!(self.phase, Phase::Authenticating { .. }) {
            self.phase = Phase::Authenticating {
                pending: VecDeque::new(),
            };
        }
        let remote_ip = self.peer.ip.to_string();
        let ready_device_id = device_id.clone();
        let device_connect = device.map(|(device_id, public_key)| DeviceConnect {
            conn_id: self.conn_id.clone(),
            device_id,
            public_key,
            client_id: params.client.id.clone(),
            client_mode: params.client.mode.clone(),
            display_name: params.client.display_name.clone(),
            platform: Some(params.client.platform.clone()).filter(|p| !p.is_empty()),
            device_family: params.client.device_family.clone(),
            role,
            scopes: scopes.clone(),
            is_local: self
                .peer
                .local_for_pairing(&params.client.id, &params.client.mode),
            remote_ip: remote_ip.clone(),
            device_token: params.auth.device_token.clone(),
            bootstrap_token: params.auth.bootstrap_token.clone(),
            secret_ok,
        });
        let check_lockout = std::mem::take(&mut self.defer_lockout)
            .then(|| self.peer.limiter_key(AuthScope::SharedSecret));
        if device_connect.is_none()
            && role == Role::Operator
            && !presence::mode_tracked(&params.client.mode)
        {
            // A short-lived client with no device (the common CLI / backend call): nothing
            // to pair, no presence change, so the registry never hears of it (see
            // `Untracked`) — the lockout check and the snapshot come from its shared view.
            if let Some(key) = &check_lockout
                && let AuthVerdict::Locked(retry) = self.shared.hello_view.auth_verdict(key, true)
            {
                return self.fail_locked(&id, &params, retry, ctx);
            }
            return self.fast_hello(id, role, scopes, method, ctx);
        }
        let presence = self.presence_entry(&params, &scopes, device_id.as_deref());
        // The requests below are about this connection: the registry must track it first.
        self.register(ctx);
        let authenticated = SessionAuthenticated {
            conn_id: self.conn_id.clone(),
            role,
            scopes: scopes.clone(),
            presence,
            device_id: device_id.clone(),
            check_lockout,
        };
        let attach = (role == Role::Node).then(|| {
            let mut caps = params.caps.clone();
            caps.sort();
            caps.dedup();
            let mut commands = params.commands.clone();
            commands.sort();
            commands.dedup();
            let node_id = device_id
                .clone()
                .unwrap_or_else(|| params.client.id.clone());
            // Started here, on this socket's worker thread: node.invoke requests and results
            // then never cross threads on the node side.
            let addr = NodeSession::new(
                node_id.clone(),
                ctx.address().recipient(),
                commands.clone(),
                params.client.platform.clone(),
            )
            .with_registry(self.registry.clone().recipient())
            .start();
            AttachNode {
                conn_id: self.conn_id.clone(),
                ws: ctx.address(),
                addr,
                descriptor: NodeDescriptor {
                    node_id,
                    client_id: params.client.id.clone(),
                    client_mode: params.client.mode.clone(),
                    display_name: params.client.display_name.clone(),
                    platform: Some(params.client.platform.clone()).filter(|p| !p.is_empty()),
                    version: Some(params.client.version.clone()).filter(|p| !p.is_empty()),
                    device_family: params.client.device_family.clone(),
                    caps,
                    commands,
                },
                remote_ip: Some(remote_ip.clone()),
                path_env: params.path_env.clone(),
                permissions: params.permissions.clone(),
                enrolled: false,
            }
        });
        let registry = self.registry.clone();
        let requested_scopes = params.scopes.clone();
        let locked_error = auth_failure("rate_limited", &params, self.peer.is_local);
        let mut attach = attach;
        let work = async move {
            let mut issued = None;
            let mut handoff = None;
            if let Some(dc) = device_connect {
                match registry.send(dc).await {
                    Ok(DeviceVerdict::Approved {
                        issued: i,
                        handoff: h,
                        enrolled,
                    }) => {
                        issued = i;
                        handoff = h;
                        if let Some(a) = attach.as_mut() {
                            a.enrolled = enrolled;
                        }
                    }
                    Ok(other) => return Err(HelloError::Device(other)),
                    Err(_) => return Err(HelloError::Unavailable),
                }
            }
            let snap = match registry.send(authenticated).await {
                Ok(Ok(s)) => s,
                Ok(Err(retry)) => return Err(HelloError::Locked(retry)),
                Err(_) => return Err(HelloError::Unavailable),
            };
            let node = match attach {
                Some(a) => {
                    let node_id = a.descriptor.node_id.clone();
                    let addr = a.addr.clone();
                    registry
                        .send(a)
                        .await
                        .map_err(|_| HelloError::Unavailable)?;
                    Some((addr, node_id))
                }
                None => None,
            };
            Ok((snap, (issued, handoff), node))
        };
        work.into_actor(self)
            .map(move |res, act, ctx| {
                let (snap, issued, node) = match res {
                    Ok(v) => v,
                    Err(HelloError::Locked(retry)) => {
                        let err = locked_error.retry_after(millis(retry));
                        return act.fail_handshake(&id, err, close::POLICY, ctx);
                    }
                    Err(HelloError::Device(DeviceVerdict::PairingRequired {
                        request_id,
                        reason,
                        bootstrap,
                    })) => {
                        let requirement = match reason.as_str() {
                            "role-upgrade" => {
                                "device is asking for a higher role than currently approved"
                            }
                            "scope-upgrade" => {
                                "device is asking for more scopes than currently approved"
                            }
                            _ => "device is not approved yet",
                        };
                        let hint = match reason.as_str() {
                            "role-upgrade" => "Review the requested role upgrade, then approve the pending request.",
                            "scope-upgrade" => "Review the requested scopes, then approve the pending upgrade.",
                            _ => "Approve this device from the pending pairing requests.",
                        };
                        let message = format!("pairing required: {requirement}");
                        let mut details = json!({
                            "code": codes::PAIRING_REQUIRED,
                            "reason": reason,
                            "requestId": request_id,
                            "remediationHint": hint,
                            "deviceId": device_id,
                            "requestedRole": role,
                        });
                        if !requested_scopes.is_empty() {
                            details["requestedScopes"] = json!(requested_scopes);
                        }
                        if bootstrap {
                            // The setup code stays valid for this device: keep retrying
                            // with it until an operator approves (OpenClaw's hints).
                            details["recommendedNextStep"] = json!("wait_then_retry");
                            details["retryable"] = json!(true);
                            details["pauseReconnect"] = json!(false);
                        }
                        let err = ErrorShape::new(ErrorCode::NotPaired, message.clone())
                            .with_details(details);
                        act.respond_err(&id, &err, ctx);
                        return act.close(
                            close::POLICY,
                            &format!("{message} (requestId: {request_id})"),
                            ctx,
                        );
                    }
                    Err(HelloError::Device(DeviceVerdict::ScopeMismatch)) => {
                        let err = ErrorShape::invalid(
                            "unauthorized: device token scope mismatch (re-pair or approve scope upgrade)",
                        )
                        .with_details(json!({
                            "code": codes::AUTH_SCOPE_MISMATCH,
                            "authReason": "scope_mismatch",
                            "canRetryWithDeviceToken": false,
                            "recommendedNextStep": "review_auth_configuration",
                        }));
                        return act.fail_handshake(&id, err, close::POLICY, ctx);
                    }
                    Err(HelloError::Device(DeviceVerdict::TokenMismatch)) => {
                        act.registry.do_send(AuthAttempt {
                            key: act.peer.limiter_key(AuthScope::DeviceToken),
                            matched: false,
                        });
                        let err = ErrorShape::invalid(
                            "unauthorized: device token mismatch (rotate/reissue device token)",
                        )
                        .with_details(json!({
                            "code": codes::AUTH_DEVICE_TOKEN_MISMATCH,
                            "authReason": "device_token_mismatch",
                            "canRetryWithDeviceToken": false,
                            "recommendedNextStep": "update_auth_credentials",
                        }));
                        return act.fail_handshake(&id, err, close::POLICY, ctx);
                    }
                    Err(HelloError::Device(DeviceVerdict::BootstrapInvalid)) => {
                        act.registry.do_send(AuthAttempt {
                            key: act.peer.limiter_key(AuthScope::DeviceToken),
                            matched: false,
                        });
                        let err = ErrorShape::invalid(
                            "unauthorized: setup code invalid, expired, revoked, or already used (create a new code; review `openclaw devices list`)",
                        )
                        .with_details(json!({
                            "code": codes::AUTH_BOOTSTRAP_TOKEN_INVALID,
                            "authReason": "bootstrap_token_invalid",
                            "canRetryWithDeviceToken": false,
                            "recommendedNextStep": "update_auth_credentials",
                        }));
                        return act.fail_handshake(&id, err, close::POLICY, ctx);
                    }
                    Err(HelloError::Device(DeviceVerdict::Unavailable)) => {
                        let err = ErrorShape::unavailable(
                            "gateway cannot save its device pairing state (the gateway's owner should check the state directory: see the gateway log); retry later",
                        )
                        .retry_after(5_000);
                        return act.fail_handshake(&id, err, 1013, ctx);
                    }
                    Err(_) => {
                        return act.fail_busy(&id, ctx);
                    }
                };
                let credential_device = ready_device_id
                    .clone()
                    .filter(|_| matches!(method, "device-token" | "bootstrap-token"));
                let ready = ReadyState {
                    role,
                    scopes,
                    node_id: node.as_ref().map(|(_, n)| n.clone()),
                    device_id: ready_device_id,
                    credential_device,
                };
                act.node = node.map(|(addr, _)| addr);
                act.finish_hello(&id, ready, method, &snap, issued, ctx);
            })
            .wait(ctx);
    }

    /// Sends `hello-ok` and makes the session ready: the post-auth frame limit, the tick,
    /// then the frames the client pipelined behind its `connect`.
    fn finish_hello(
        &mut self,
        id: &str,
        ready: ReadyState,
        method: &str,
        snap: &HelloSnapshot,
        issued: (Option<(String, u64)>, Option<Handoff>),
        ctx: &mut Context<Self>,
    ) {
        crate::metrics::METRICS.handshake_ok(ready.role);
        self.release_preauth();
        let (issued, handoff) = issued;
        let issued = issued.as_ref().map(|(t, at)| (t.as_str(), *at));
        let hello = self.hello_frame(
            id,
            ready.role,
            &ready.scopes,
            method,
            snap,
            (issued, handoff.as_ref()),
        );
        self.send_raw(hello, ctx);
        let pending = match std::mem::replace(&mut self.phase, Phase::Ready(Box::new(ready))) {
            Phase::Authenticating { pending } => pending,
            Phase::Closing => {
                self.phase = Phase::Closing;
                return;
            }
            _ => VecDeque::new(),
        };
        self.limit.set(self.shared.config.max_payload);
        let tick = self.shared.config.tick_interval;
        ctx.run_interval(tick, |act, ctx| act.tick(ctx));
        for text in pending {
            self.on_text(&text, ctx);
        }
    }

    /// The hello of an operator that [`after_auth`](Self::after_auth) found the registry
    /// has nothing to do with (its lockout was checked in the shared limiter): snapshot from
    /// the published presence, and the session stays in the shared
    /// [`Untracked`](super::Untracked) set, marked authenticated with its scopes, where the
    /// registry's broadcasts, counts and closes find it. Its whole life wakes no other thread.
    fn fast_hello(
        &mut self,
        id: String,
        role: Role,
        scopes: Vec<String>,
        method: &'static str,
        ctx: &mut Context<Self>,
    ) {
        let marked = self
            .ticket
            .is_some_and(|t| self.shared.untracked.authenticate(t, &scopes));
        if !marked {
            // A shutdown or restart took the entry (and told this session to close).
            return self.close(close::SERVICE_RESTART, "service restart", ctx);
        }
        let snap = self.shared.hello_view.snapshot(self.shared.self_presence());
        let ready = ReadyState {
            role,
            scopes,
            node_id: None,
            device_id: None,
            credential_device: None,
        };
        self.finish_hello(&id, ready, method, &snap, (None, None), ctx);
    }

    fn presence_entry(
        &self,
        p: &ConnectParams,
        scopes: &[String],
        device_id: Option<&str>,
    ) -> PresenceEntry {
        let host = p
            .client
            .display_name
            .clone()
            .unwrap_or_else(|| p.client.id.clone());
        let now = now_ms();
        let text = format!(
            "{}: {} · mode {}",
            if p.role == "node" { "Node" } else { "Client" },
            host,
            p.client.mode
        );
        PresenceEntry {
            client_id: Some(p.client.id.clone()),
            device_family: p.client.device_family.clone(),
            device_id: device_id.map(str::to_owned),
            host,
            instance_id: p
                .client
                .instance_id
                .clone()
                .unwrap_or_else(|| self.conn_id.clone()),
            ip: Some(self.peer.ip.to_string()),
            last_input_seconds: None,
            mode: p.client.mode.clone(),
            model_identifier: p.client.model_identifier.clone(),
            online_since: Some(now),
            platform: p.client.platform.clone(),
            reason: "connect".into(),
            roles: Some([p.role.clone()]),
            scopes: Some(scopes.to_vec()),
            text,
            ts: now,
            version: p.client.version.clone(),
        }
    }

    /// The `hello-ok` response frame, written from typed parts (see [`HelloOk`]).
    fn hello_frame(
        &self,
        id: &str,
        role: Role,
        scopes: &[String],
        method: &str,
        snap: &HelloSnapshot,
        (issued, handoff): (Option<(&str, u64)>, Option<&Handoff>),
    ) -> String {
        let cfg = &self.shared.config;
        let admin = role == Role::Operator && scopes.iter().any(|s| s == scopes::ADMIN);
        let live = admin.then(|| self.shared.live.get());
        let health = self
            .shared
            .health_snapshot(crate::protocol::health::HealthAudience::of(
                role == Role::Operator,
                scopes,
            ));
        let hello = HelloOk {
            auth: HelloAuth {
                device_token: issued.map(|(t, _)| t),
                issued_at_ms: issued.map(|(_, at)| at),
                method,
                role,
                scopes,
                device_tokens: handoff.map(|h| {
                    [crate::protocol::hello::HandoffToken {
                        device_token: &h.token,
                        role: h.role,
                        scopes: &h.scopes,
                        issued_at_ms: h.issued_at_ms,
                    }]
                }),
            },
            features: features_json(),
            policy: Policy {
                max_buffered_bytes: cfg.max_buffered_bytes,
                max_payload: cfg.max_payload,
                tick_interval_ms: millis(cfg.tick_interval),
            },
            protocol: PROTOCOL_VERSION,
            server: Server {
                boot_id: &self.shared.boot_id,
                conn_id: &self.conn_id,
                version: &cfg.server_version,
            },
            snapshot: Snapshot {
                auth_mode: live.as_ref().map(|l| l.auth.mode.as_str()),
                config_path: cfg
                    .config_path
                    .as_ref()
                    .filter(|_| admin)
                    .map(|p| p.display().to_string()),
                health: self.shared.health_summary(&health),
                presence: &snap.presence,
                session_defaults: SessionDefaults::now(),
                state_dir: admin.then(|| cfg.state_dir.display().to_string()),
                state_version: snap.state_version.into(),
                uptime_ms: self.shared.uptime_ms(),
            },
            kind: "hello-ok",
        };
        frame::response_ok(id, &hello)
    }

    /// The handshake is refused because this client is locked out for `retry`.
    fn fail_locked(
        &mut self,
        id: &str,
        params: &ConnectParams,
        retry: std::time::Duration,
        ctx: &mut Context<Self>,
    ) {
        let err =
            auth_failure("rate_limited", params, self.peer.is_local).retry_after(millis(retry));
        self.fail_handshake(id, err, close::POLICY, ctx);
    }

    /// The registry did not answer (it is stopping or overloaded): try again shortly.
    fn fail_busy(&mut self, id: &str, ctx: &mut Context<Self>) {
        let err = ErrorShape::unavailable("gateway busy; retry shortly").retry_after(500);
        self.fail_handshake(id, err, 1013, ctx);
    }
}

/// The `unauthorized: …` error for a failed shared-secret check.
fn auth_failure(reason: &str, p: &ConnectParams, is_local: bool) -> ErrorShape {
    let is_cli = p.client.mode == "cli";
    let is_ui = matches!(
        p.client.id.as_str(),
        "openclaw-control-ui" | "webchat-ui" | "webchat"
    ) || p.client.mode == "webchat"
        || p.client.mode == "ui";
    let token_hint = if is_cli {
        if is_local {
            "use this gateway's gateway.auth.token or pair the device"
        } else {
            "set gateway.remote.token to match gateway.auth.token"
        }
    } else if is_ui {
        "open the dashboard URL and paste the token in Control UI settings"
    } else {
        "provide gateway auth token"
    };
    let password_hint = if is_cli {
        if is_local {
            "use this gateway's gateway.auth.password"
        } else {
            "set gateway.remote.password to match gateway.auth.password"
        }
    } else if is_ui {
        "enter the password in Control UI settings"
    } else {
        "provide gateway auth password"
    };
    let (message, code, next) = match reason {
        "token_missing" => (
            format!("unauthorized: gateway token missing ({token_hint})"),
            codes::AUTH_TOKEN_MISSING,
            "update_auth_configuration",
        ),
        "token_mismatch" => (
            format!("unauthorized: gateway token mismatch ({token_hint})"),
            codes::AUTH_TOKEN_MISMATCH,
            "update_auth_credentials",
        ),
        "password_missing" => (
            format!("unauthorized: gateway password missing ({password_hint})"),
            codes::AUTH_PASSWORD_MISSING,
            "update_auth_configuration",
        ),
        "password_mismatch" => (
            format!("unauthorized: gateway password mismatch ({password_hint})"),
            codes::AUTH_PASSWORD_MISMATCH,
            "update_auth_credentials",
        ),
        "tailscale_whois_failed" => (
            "unauthorized: tailscale identity could not be verified (tailscaled did not answer whois for this address; check `tailscale status` on the gateway host, or sign in with the gateway token/password)".to_owned(),
            "AUTH_TAILSCALE_WHOIS_FAILED",
            "retry_with_shared_secret",
        ),
        "tailscale_user_mismatch" => (
            "unauthorized: tailscale identity mismatch (tailscale-user-login does not match what tailscaled reports for this address)".to_owned(),
            "AUTH_TAILSCALE_IDENTITY_MISMATCH",
            "retry_with_shared_secret",
        ),
        "tailscale_not_a_user" => (
            "unauthorized: tailscale identity is a tagged node, not a person (sign in with the gateway token/password)".to_owned(),
            "AUTH_TAILSCALE_NOT_A_USER",
            "retry_with_shared_secret",
        ),
        _ => (
            "unauthorized: too many failed authentication attempts (retry later)".to_owned(),
            codes::AUTH_RATE_LIMITED,
            "wait_then_retry",
        ),
    };
    ErrorShape::invalid(message).with_details(json!({
        "code": code,
        "authReason": reason,
        "canRetryWithDeviceToken": false,
        "recommendedNextStep": next,
    }))
}

/// A duration in whole milliseconds, saturating.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
