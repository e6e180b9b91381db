//! `device.pair.*`, `device.token.rotate`, `device.token.revoke` (OpenClaw's
//! `server-methods/devices.ts`). The registry replies once the change is persisted.

use actix::prelude::*;

use super::node_params::{DeviceIdParams, RequestIdParams, TokenParams};
use super::{Call, Method};
use crate::protocol::scopes::{MethodAccess, PAIRING};
use crate::registry::nodes::PairingOp;
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
        name: "device.token.rotate",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::device_token),
    },
    Method {
        name: "device.token.revoke",
        access: MethodAccess::Operator(PAIRING),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::device_token),
    },
];

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

    /// `device.token.rotate {deviceId, role, scopes?}`, `device.token.revoke {deviceId, role}`.
    fn device_token(&mut self, call: Call, p: TokenParams, ctx: &mut Context<Self>) {
        self.reply_pairing(call, p.0, ctx);
    }
}
