//! `device.pair.*`, `device.token.rotate`, `device.token.revoke` (OpenClaw's
//! `server-methods/devices.ts`). The registry replies once the change is persisted.

use actix::prelude::*;

use super::{Call, Method, node_params};
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
        handler: WsSession::pair_decide,
    },
    Method {
        name: "device.pair.reject",
        access: MethodAccess::Operator(PAIRING),
        handler: WsSession::pair_decide,
    },
    Method {
        name: "device.pair.remove",
        access: MethodAccess::Operator(PAIRING),
        handler: WsSession::device_pair_remove,
    },
    Method {
        name: "device.token.rotate",
        access: MethodAccess::Operator(PAIRING),
        handler: WsSession::device_token,
    },
    Method {
        name: "device.token.revoke",
        access: MethodAccess::Operator(PAIRING),
        handler: WsSession::device_token,
    },
];

impl WsSession {
    /// `device.pair.list`.
    fn device_pair_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        self.reply_pairing(call, PairingOp::DeviceList, ctx);
    }

    /// `node.pair.approve|reject` and `device.pair.approve|reject {requestId}`.
    pub(super) fn pair_decide(&mut self, call: Call, ctx: &mut Context<Self>) {
        match node_params::string_field(call.method, &call.params, "requestId") {
            Ok(request_id) => {
                let op = match call.method {
                    "node.pair.approve" => PairingOp::NodeApprove { request_id },
                    "node.pair.reject" => PairingOp::NodeReject { request_id },
                    "device.pair.approve" => PairingOp::DeviceApprove { request_id },
                    _ => PairingOp::DeviceReject { request_id },
                };
                self.reply_pairing(call, op, ctx);
            }
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `device.pair.remove {deviceId}`.
    fn device_pair_remove(&mut self, call: Call, ctx: &mut Context<Self>) {
        match node_params::string_field(call.method, &call.params, "deviceId") {
            Ok(device_id) => self.reply_pairing(call, PairingOp::DeviceRemove { device_id }, ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `device.token.rotate {deviceId, role, scopes?}`, `device.token.revoke {deviceId, role}`.
    fn device_token(&mut self, call: Call, ctx: &mut Context<Self>) {
        match node_params::token_op(call.method, &call.params) {
            Ok(op) => self.reply_pairing(call, op, ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }
}
