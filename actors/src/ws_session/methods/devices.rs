//! `device.pair.*`, `device.token.rotate`, `device.token.revoke` (OpenClaw's
//! `server-methods/devices.ts`). The registry replies once the change is persisted, after
//! OpenClaw's device-management policy (a device-bound caller without `operator.admin`
//! manages only its own device; non-operator roles need admin: see
//! `Registry::device_management_allowed`).

use actix::prelude::*;
use serde_json::{Value, json};

use super::node_params::{DeviceIdParams, RequestIdParams, TokenParams};
use super::{Call, Method, Params};
use crate::auth::AuthMode;
use crate::pairing::BootstrapProfile;
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess, PAIRING};
use crate::protocol::validate::Checker;
use crate::registry::nodes::{IssueSetupCode, PairingOp, SetupStatus};
use crate::setup_code::{self, SetupRequest};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "device.pair.list",
        access: MethodAccess::Operator(PAIRING),
        handler: WsSession::device_pair_list,
    },
    Method {
        name: "device.pair.approve",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::pair_decide),
    },
    Method {
        name: "device.pair.reject",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::pair_decide),
    },
    Method {
        name: "device.pair.remove",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::device_pair_remove),
    },
    Method {
        name: "device.pair.rename",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::device_pair_rename),
    },
    Method {
        name: "device.token.rotate",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::device_token),
    },
    Method {
        name: "device.token.revoke",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::device_token),
    },
    Method {
        name: "device.pair.setupCode",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::setup_code),
    },
    Method {
        name: "device.pair.setupStatus",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::setup_status),
    },
    Method {
        name: "controlUi.handoff",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::control_ui_handoff),
    },
];

/// `controlUi.handoff {}`: no parameters (a closed schema).
pub(crate) struct HandoffParams;

impl Params for HandoffParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        match &call.params {
            Value::Null => Ok(Self),
            Value::Object(o) => match o.keys().next() {
                None => Ok(Self),
                Some(k) => Err(ErrorShape::invalid(format!(
                    "invalid controlUi.handoff params: at root: unexpected property '{}'",
                    k.chars().take(64).collect::<String>()
                ))),
            },
            _ => Err(ErrorShape::invalid(
                "invalid controlUi.handoff params: at root: must be object",
            )),
        }
    }
}

/// `device.pair.setupCode {publicUrl?, preferRemoteUrl?, includeQr?, bootstrapProfile?}`
/// (OpenClaw's closed schema); the second field: `includeQr` (default true).
pub(crate) struct SetupCodeParams(SetupRequest, bool);

impl Params for SetupCodeParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "device.pair.setupCode";
        let bad = |why: &str| ErrorShape::invalid(format!("invalid {M} params: {why}"));
        let o = match &call.params {
            Value::Null => return Ok(Self(SetupRequest::default(), true)),
            Value::Object(o) => o,
            _ => return Err(bad("at root: must be object")),
        };
        let mut req = SetupRequest::default();
        let mut include_qr = true;
        for (k, v) in o {
            match (k.as_str(), v) {
                ("publicUrl", Value::String(s)) if !s.trim().is_empty() => {
                    req.public_url = Some(s.clone());
                }
                ("publicUrl", _) => return Err(bad("at /publicUrl: must be a non-empty string")),
                ("preferRemoteUrl", Value::Bool(b)) => req.prefer_remote = *b,
                ("includeQr", Value::Bool(b)) => include_qr = *b,
                ("preferRemoteUrl" | "includeQr", _) => {
                    return Err(bad(&format!("at /{k}: must be boolean")));
                }
                ("bootstrapProfile", Value::String(s)) => {
                    req.profile = Some(match s.as_str() {
                        "limited" => BootstrapProfile::Limited,
                        "node" => BootstrapProfile::Node,
                        "voice-node" => BootstrapProfile::VoiceNode,
                        _ => {
                            return Err(bad(
                                "at /bootstrapProfile: must be equal to one of the allowed values (limited, node, voice-node)",
                            ));
                        }
                    });
                }
                ("bootstrapProfile", _) => {
                    return Err(bad("at /bootstrapProfile: must be string"));
                }
                ("joinUrl", Value::Bool(true)) => req.join_url = true,
                ("joinUrl", _) => return Err(bad("at /joinUrl: must be equal to constant true")),
                _ => {
                    return Err(bad(&format!(
                        "at root: unexpected property '{}'",
                        k.chars().take(64).collect::<String>()
                    )));
                }
            }
        }
        if req.join_url {
            // A join URL enrolls a node host (`openclaw connect`): node codes only.
            match req.profile {
                None => req.profile = Some(BootstrapProfile::Node),
                Some(BootstrapProfile::Node) => {}
                Some(_) => {
                    return Err(ErrorShape::invalid(
                        "Join URLs require bootstrapProfile=node.",
                    ));
                }
            }
        }
        Ok(Self(req, include_qr))
    }
}

/// The longest operator label (OpenClaw's `DevicePairLabelString`).
const MAX_LABEL_CHARS: usize = 64;

/// `device.pair.rename {deviceId, label}` (OpenClaw's closed schema: `label` 1–64
/// characters), as the registry's operation: the label trimmed, not blank, and free of
/// control characters (it is shown in terminals and the Control UI).
pub(crate) struct DeviceRenameParams(PairingOp);

impl Params for DeviceRenameParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "device.pair.rename";
        let fail = |why: String| ErrorShape::invalid(format!("invalid {M} params: {why}"));
        let Value::Object(o) = &call.params else {
            return Err(fail("at root: must be object".to_owned()));
        };
        let mut c = Checker::new();
        c.closed("", o, &["deviceId", "label"]);
        c.required("", o, "deviceId");
        c.required("", o, "label");
        let device_id = c
            .string("", o, "deviceId", true)
            .map(|d| d.trim().to_owned());
        let label = c.string("", o, "label", false);
        if let Some(l) = label {
            match l.chars().count() {
                0 => c.error("/label", "must NOT have fewer than 1 characters"),
                n if n > MAX_LABEL_CHARS => c.error(
                    "/label",
                    &format!("must NOT have more than {MAX_LABEL_CHARS} characters"),
                ),
                _ => {}
            }
        }
        if !c.ok() {
            return Err(fail(c.message()));
        }
        let label = label.unwrap_or_default().trim();
        if label.is_empty() {
            return Err(ErrorShape::invalid("label required"));
        }
        if label.chars().any(char::is_control) {
            return Err(ErrorShape::invalid(
                "label must not contain control characters (line breaks, escapes)",
            ));
        }
        Ok(Self(PairingOp::DeviceRename {
            device_id: device_id.unwrap_or_default(),
            label: label.to_owned(),
        }))
    }
}

/// `device.pair.setupStatus {setupId}`.
pub(crate) struct SetupStatusParams(String);

impl Params for SetupStatusParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let id = match call.params.get("setupId") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => s.clone(),
            _ => {
                return Err(ErrorShape::invalid(
                    "invalid device.pair.setupStatus params: must have required property 'setupId' (a setup id from device.pair.setupCode)",
                ));
            }
        };
        Ok(Self(id))
    }
}

impl WsSession {
    /// `device.pair.list`.
    fn device_pair_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        self.reply_pairing(call, PairingOp::DeviceList, ctx);
    }

    /// `node.pair.approve|reject` and `device.pair.approve|reject {requestId}`.
    pub(super) fn pair_decide(&mut self, call: Call, p: RequestIdParams, ctx: &mut Context<Self>) {
        let request_id = p.request_id;
        let op = match call.method {
            "node.pair.approve" => PairingOp::NodeApprove { request_id },
            "node.pair.reject" => PairingOp::NodeReject { request_id },
            "device.pair.approve" => PairingOp::DeviceApprove { request_id },
            _ => PairingOp::DeviceReject { request_id },
        };
        self.reply_pairing(call, op, ctx);
    }

    /// `device.pair.remove {deviceId}`.
    fn device_pair_remove(&mut self, call: Call, p: DeviceIdParams, ctx: &mut Context<Self>) {
        let op = PairingOp::DeviceRemove {
            device_id: p.device_id,
        };
        self.reply_pairing(call, op, ctx);
    }

    /// `device.pair.rename {deviceId, label}`: the operator's name for a paired device,
    /// shown by `device.pair.list` (`operatorLabel`) and kept across re-approvals.
    fn device_pair_rename(&mut self, call: Call, p: DeviceRenameParams, ctx: &mut Context<Self>) {
        self.reply_pairing(call, p.0, ctx);
    }

    /// `device.token.rotate {deviceId, role, scopes?}`, `device.token.revoke {deviceId, role}`.
    fn device_token(&mut self, call: Call, p: TokenParams, ctx: &mut Context<Self>) {
        self.reply_pairing(call, p.0, ctx);
    }

    /// `device.pair.setupCode`: a single-use, 10-minute setup code for a phone or a node
    /// host, pointing at the URL this gateway is reached at (see [`setup_code::resolve`]).
    fn setup_code(&mut self, call: Call, p: SetupCodeParams, ctx: &mut Context<Self>) {
        let live = self.shared.live.get();
        let auth = match live.auth.mode {
            AuthMode::Token => "token",
            AuthMode::Password => "password",
            AuthMode::None => {
                return self.respond_err(
                    &call.id,
                    &ErrorShape::invalid(
                        "Pairing setup requires gateway.auth.mode \"token\" or \"password\"; current mode is \"none\". Fix: set gateway.auth.token",
                    ),
                    ctx,
                );
            }
        };
        let facts = setup_code::Facts {
            urls: &live.setup_urls,
            tailscale: self.shared.tailscale_url.get().map(String::as_str),
            bind_addrs: &live.bind_addrs,
            bind_mode: &self.shared.config.bind_mode,
            port: live.port,
            lan_address: None,
        };
        // The host's LAN address only matters for a gateway bound to every interface.
        let any = live
            .bind_addrs
            .iter()
            .any(|a| a.starts_with("0.0.0.0:") || a.starts_with("[::]:"));
        let facts = setup_code::Facts {
            lan_address: any.then(setup_code::lan_address).flatten(),
            ..facts
        };
        let resolved = match setup_code::resolve(&p.0, &facts) {
            Ok(r) => r,
            Err(e) => return self.respond_err(&call.id, &ErrorShape::invalid(e), ctx),
        };
        let join_base = match p.0.join_url.then(|| setup_code::join_base(&resolved.url)) {
            None => None,
            Some(Ok(base)) => Some(base),
            Some(Err(e)) => return self.respond_err(&call.id, &ErrorShape::invalid(e), ctx),
        };
        let shared = self.shared.clone();
        let issue = self.issue_bootstrap(resolved.profile);
        let include_qr = p.1;
        self.reply_with(
            call.id,
            async move {
                let (token, setup_id, expires_at_ms) = issue.await?;
                let code = setup_code::encode(&resolved.url, &token, expires_at_ms);
                // The QR a phone scans: the setup code itself, as OpenClaw draws it.
                let qr = include_qr.then(|| crate::qr::png_data_url(&code)).flatten();
                let mut out = json!({
                    "setupId": setup_id,
                    "expiresAtMs": expires_at_ms,
                    "setupCode": code,
                    "gatewayUrl": resolved.url,
                    "auth": auth,
                    "urlSource": resolved.source,
                    "access": resolved.profile.access(),
                });
                if resolved.downgraded {
                    out["accessDowngraded"] = json!(true);
                }
                if let Some(qr) = qr {
                    out["qrDataUrl"] = json!(qr);
                }
                if let Some(base) = join_base {
                    let payload = setup_code::payload_json(&resolved.url, &token, expires_at_ms);
                    let code =
                        shared
                            .join_codes
                            .register(payload, expires_at_ms, crate::util::now_ms());
                    out["joinUrl"] = json!(format!("{base}/j/{code}"));
                }
                Ok(out)
            },
            ctx,
        );
    }

    /// A new bootstrap token of `profile`, persisted (only its hash) before it resolves:
    /// `(token, setupId, expiresAtMs)`.
    fn issue_bootstrap(
        &self,
        profile: BootstrapProfile,
    ) -> impl std::future::Future<Output = Result<(String, String, u64), ErrorShape>> + 'static
    {
        let issue = self.registry.send(IssueSetupCode { profile });
        async move {
            match issue.await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(ErrorShape::unavailable(e)),
                Err(_) => Err(ErrorShape::unavailable("gateway busy; retry shortly")),
            }
        }
    }

    /// `controlUi.handoff` (`operator.admin`; what `openclaw dashboard` asks for): a one-time
    /// sign-in for one browser, OpenClaw's host-issued `control-ui-owner` bootstrap token
    /// (single use, 10 minutes, bound to the first device that presents it, only its hash
    /// kept). The Control UI page presents it as `auth.bootstrapToken` and is paired as an
    /// owner device without the shared secret ever reaching the browser; any other client
    /// that presents it waits for an operator's approval. Answers `{bootstrapToken,
    /// bootstrapProfile: "owner", expiresAtMs, setupId}`. Not in auth mode `none` (the page
    /// needs no credential there).
    fn control_ui_handoff(&mut self, call: Call, _: HandoffParams, ctx: &mut Context<Self>) {
        if self.shared.live.get().auth.mode == AuthMode::None {
            return self.respond_err(
                &call.id,
                &ErrorShape::invalid(
                    "gateway.auth.mode is \"none\": the Control UI needs no sign-in link. Fix: open the page's plain URL",
                ),
                ctx,
            );
        }
        let issue = self.issue_bootstrap(BootstrapProfile::ControlUiOwner);
        self.reply_with(
            call.id,
            async move {
                let (token, setup_id, expires_at_ms) = issue.await?;
                Ok(json!({
                    "bootstrapToken": token,
                    "bootstrapProfile": "owner",
                    "expiresAtMs": expires_at_ms,
                    "setupId": setup_id,
                }))
            },
            ctx,
        );
    }

    /// `device.pair.setupStatus {setupId}`: `{completion}` once the code paired a device,
    /// else `{}`.
    fn setup_status(&mut self, call: Call, p: SetupStatusParams, ctx: &mut Context<Self>) {
        let status = self.registry.send(SetupStatus {
            setup_id: p.0.clone(),
        });
        let setup_id = p.0;
        self.reply_with(
            call.id,
            async move {
                match status.await {
                    Ok(Some(c)) => {
                        let mut done = json!({
                            "setupId": setup_id,
                            "deviceId": c.device_id,
                            "access": c.access,
                            "ts": c.completed_at_ms,
                        });
                        if let Some(n) = c.device_name {
                            done["deviceName"] = json!(n);
                        }
                        Ok(json!({"completion": done}))
                    }
                    Ok(None) => Ok(json!({})),
                    Err(_) => Err(ErrorShape::unavailable("gateway busy; retry shortly")),
                }
            },
            ctx,
        );
    }
}
