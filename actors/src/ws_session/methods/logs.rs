//! `logs.tail` (OpenClaw's `server-methods/logs.ts`): `{cursor?, limit?, maxBytes?}` →
//! `{file, cursor, size, lines, truncated?, reset?}`. The lines come from the shell's
//! bounded in-memory log ring ([`OpsPort::logs_tail`](crate::ports::OpsPort::logs_tail)),
//! already redacted.

use actix::prelude::*;
use serde_json::Value;

use super::{Call, Method};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[Method {
    name: "logs.tail",
    access: MethodAccess::Operator(READ),
    handler: WsSession::logs_tail,
}];

/// Checks `logs.tail` params: `cursor` integer ≥ 0, `limit` 1..=5000, `maxBytes`
/// 1..=1000000, nothing else.
pub(crate) fn check_params(params: &Value) -> Result<(), String> {
    let Some(obj) = params.as_object() else {
        return if params.is_null() {
            Ok(())
        } else {
            Err("invalid logs.tail params: must be object".to_owned())
        };
    };
    for (k, v) in obj {
        let (min, max) = match k.as_str() {
            "cursor" => (0, u64::MAX),
            "limit" => (1, 5000),
            "maxBytes" => (1, 1_000_000),
            other => {
                return Err(format!(
                    "invalid logs.tail params: at root: unexpected property '{other}'"
                ));
            }
        };
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => {}
            _ => {
                return Err(format!(
                    "invalid logs.tail params: at /{k}: must be an integer in {min}..={max}"
                ));
            }
        }
    }
    Ok(())
}

impl WsSession {
    fn logs_tail(&mut self, call: Call, ctx: &mut Context<Self>) {
        if let Err(m) = check_params(&call.params) {
            return self.respond_err(&call.id, &ErrorShape::invalid(m), ctx);
        }
        let res = match self.shared.ops.get() {
            Some(ops) => ops.logs_tail(&call.params).map_err(ErrorShape::unavailable),
            None => Err(super::config::unavailable()),
        };
        match res {
            Ok(v) => self.respond_ok(&call.id, &v, ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }
}
