//! Params validation for the node and pairing methods, worded like the real gateway.

use serde_json::Value;

use crate::node_session::DEFAULT_INVOKE_TIMEOUT_MS;
use crate::node_session::InvokeResult;
use crate::protocol::error::ErrorShape;
use crate::protocol::validate::Checker;
use crate::registry::nodes::{InvokeNodeCommand, InvokeOrigin, PairingOp};

use super::nodes::MAX_HOST_STATS_BYTES;
use super::{Call, Params};

/// Longest invoke timeout accepted.
const MAX_INVOKE_TIMEOUT_MS: u64 = 10 * 60 * 1000;

fn fail(method: &str, c: &Checker) -> ErrorShape {
    ErrorShape::invalid(format!("invalid {method} params: {}", c.message()))
}

fn object<'a>(
    method: &str,
    params: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, ErrorShape> {
    let mut c = Checker::new();
    c.object("", params).ok_or_else(|| fail(method, &c))
}

pub(super) fn string_field(method: &str, params: &Value, key: &str) -> Result<String, ErrorShape> {
    let obj = object(method, params)?;
    let mut c = Checker::new();
    c.required("", obj, key);
    let v = c.string("", obj, key, true).map(str::to_owned);
    c.closed("", obj, &[key]);
    match v {
        Some(v) if c.ok() => Ok(v),
        _ => Err(fail(method, &c)),
    }
}

pub(super) fn node_id(method: &str, params: &Value) -> Result<String, ErrorShape> {
    string_field(method, params, "nodeId")
}

pub(super) fn token_op(method: &str, params: &Value) -> Result<PairingOp, ErrorShape> {
    let obj = object(method, params)?;
    let mut c = Checker::new();
    c.required("", obj, "deviceId");
    c.required("", obj, "role");
    let device_id = c.string("", obj, "deviceId", true).map(str::to_owned);
    let role = c.string("", obj, "role", true).map(str::to_owned);
    let scopes = if method == "device.token.rotate" {
        c.closed("", obj, &["deviceId", "role", "scopes"]);
        c.string_array("", obj, "scopes")
    } else {
        c.closed("", obj, &["deviceId", "role"]);
        None
    };
    match (device_id, role) {
        (Some(device_id), Some(role)) if c.ok() => Ok(if method == "device.token.rotate" {
            PairingOp::TokenRotate {
                device_id,
                role,
                scopes,
            }
        } else {
            PairingOp::TokenRevoke { device_id, role }
        }),
        _ => Err(fail(method, &c)),
    }
}

/// Longest display name `node.rename` stores, in characters.
pub(crate) const MAX_DISPLAY_NAME_CHARS: usize = 256;

/// `node.rename {nodeId, displayName}` (OpenClaw's `NodeRenameParamsSchema`): the name is
/// trimmed and must not be empty (`displayName required`, OpenClaw's words) or longer than
/// [`MAX_DISPLAY_NAME_CHARS`].
pub(super) fn rename(params: &Value) -> Result<PairingOp, ErrorShape> {
    const METHOD: &str = "node.rename";
    let obj = object(METHOD, params)?;
    let mut c = Checker::new();
    c.required("", obj, "nodeId");
    c.required("", obj, "displayName");
    c.closed("", obj, &["nodeId", "displayName"]);
    let node_id = c.string("", obj, "nodeId", true).map(str::to_owned);
    let name = c.string("", obj, "displayName", false).map(str::trim);
    let (Some(node_id), Some(name)) = (node_id, name) else {
        return Err(fail(METHOD, &c));
    };
    if !c.ok() {
        return Err(fail(METHOD, &c));
    }
    if name.is_empty() {
        return Err(ErrorShape::invalid("displayName required"));
    }
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(ErrorShape::invalid(format!(
            "invalid {METHOD} params: displayName is longer than {MAX_DISPLAY_NAME_CHARS} characters"
        )));
    }
    Ok(PairingOp::NodeRename {
        node_id,
        display_name: name.to_owned(),
    })
}

pub(super) fn invoke(params: &Value, caller: &[String]) -> Result<InvokeNodeCommand, ErrorShape> {
    const METHOD: &str = "node.invoke";
    let obj = object(METHOD, params)?;
    let mut c = Checker::new();
    for key in ["nodeId", "command", "idempotencyKey"] {
        c.required("", obj, key);
    }
    c.closed(
        "",
        obj,
        &[
            "nodeId",
            "command",
            "params",
            "timeoutMs",
            "idempotencyKey",
            "sessionKey",
            "turnSourceChannel",
            "turnSourceTo",
            "turnSourceAccountId",
            "turnSourceThreadId",
        ],
    );
    let node_id = c.string("", obj, "nodeId", true).map(str::to_owned);
    let command = c.string("", obj, "command", true).map(str::to_owned);
    let key = c.string("", obj, "idempotencyKey", true).map(str::to_owned);
    let timeout = c.integer("", obj, "timeoutMs", 1);
    let session_key = c.string("", obj, "sessionKey", false).map(str::to_owned);
    let (Some(node_id), Some(command), Some(idempotency_key)) = (node_id, command, key) else {
        return Err(fail(METHOD, &c));
    };
    if !c.ok() {
        return Err(fail(METHOD, &c));
    }
    // The command-class and caller checks run in the node's session
    // (`tool_policy::check`), on the path agent runs take too.
    Ok(InvokeNodeCommand {
        node_id,
        command,
        params: obj.get("params").cloned().filter(|v| !v.is_null()),
        timeout_ms: timeout
            .unwrap_or(DEFAULT_INVOKE_TIMEOUT_MS)
            .min(MAX_INVOKE_TIMEOUT_MS),
        idempotency_key,
        session_key,
        origin: InvokeOrigin::Operator {
            scopes: caller.to_vec(),
        },
    })
}

/// Checks a `node.invoke.result` and moves its payload out of `params` (no copy of it).
pub(super) fn invoke_result(
    params: &mut Value,
    my_node_id: &str,
) -> Result<InvokeResult, ErrorShape> {
    const METHOD: &str = "node.invoke.result";
    let obj = object(METHOD, params)?;
    let mut c = Checker::new();
    for key in ["id", "nodeId", "ok"] {
        c.required("", obj, key);
    }
    c.closed(
        "",
        obj,
        &["id", "nodeId", "ok", "payload", "payloadJSON", "error"],
    );
    let id = c.string("", obj, "id", true).map(str::to_owned);
    let node_id = c.string("", obj, "nodeId", true).map(str::to_owned);
    let ok = c.boolean("", obj, "ok");
    if !matches!(
        obj.get("payloadJSON"),
        None | Some(Value::Null | Value::String(_))
    ) {
        c.error("/payloadJSON", "must be string");
    }
    let error = match obj.get("error") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => {
            c.error("/error", "must be object");
            None
        }
    };
    let (Some(id), Some(node_id), Some(ok)) = (id, node_id, ok) else {
        return Err(fail(METHOD, &c));
    };
    if !c.ok() {
        return Err(fail(METHOD, &c));
    }
    if node_id != my_node_id {
        return Err(ErrorShape::invalid("nodeId mismatch"));
    }
    let (payload_json, payload) = match params.as_object_mut() {
        Some(obj) => (
            match obj.remove("payloadJSON") {
                Some(Value::String(s)) => Some(s),
                _ => None,
            },
            obj.remove("payload").filter(|v| !v.is_null()),
        ),
        None => (None, None),
    };
    Ok(InvokeResult {
        id,
        ok,
        payload,
        payload_json,
        error,
    })
}

// --- typed params of the node and device methods ---

/// `{nodeId}` (`node.describe`, `node.pair.remove`).
pub(crate) struct NodeIdParams {
    /// The node.
    pub node_id: String,
}

impl Params for NodeIdParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        node_id(call.method, &call.params).map(|node_id| Self { node_id })
    }
}

/// `{requestId}` (`node.pair.approve|reject`, `device.pair.approve|reject`).
pub(crate) struct RequestIdParams {
    /// The pairing request.
    pub request_id: String,
}

impl Params for RequestIdParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        string_field(call.method, &call.params, "requestId").map(|request_id| Self { request_id })
    }
}

/// `{deviceId}` (`device.pair.remove`).
pub(crate) struct DeviceIdParams {
    /// The device.
    pub device_id: String,
}

impl Params for DeviceIdParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        string_field(call.method, &call.params, "deviceId").map(|device_id| Self { device_id })
    }
}

/// `device.token.rotate {deviceId, role, scopes?}` / `device.token.revoke {deviceId, role}`,
/// as the registry's pairing operation.
pub(crate) struct TokenParams(pub PairingOp);

impl Params for TokenParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        token_op(call.method, &call.params).map(Self)
    }
}

/// `node.invoke {nodeId, command, idempotencyKey, params?, timeoutMs?, …}`, bound to the
/// caller's scopes.
impl Params for InvokeNodeCommand {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        invoke(&call.params, &call.scopes)
    }
}

/// `node.invoke.result {id, nodeId, ok, payload?, payloadJSON?, error?}` from this node.
impl Params for InvokeResult {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let Some(node_id) = &call.node_id else {
            return Err(ErrorShape::invalid("unauthorized role: operator"));
        };
        invoke_result(&mut call.params.clone(), node_id)
    }

    fn take(call: &mut Call) -> Result<Self, ErrorShape> {
        let Some(node_id) = &call.node_id else {
            return Err(ErrorShape::invalid("unauthorized role: operator"));
        };
        invoke_result(&mut call.params, node_id)
    }
}

/// `node.event {event, payload? | payloadJSON?}`; a `node.host.stats` payload is bounded by
/// [`MAX_HOST_STATS_BYTES`].
pub(crate) struct NodeEventParams {
    /// The event name.
    pub event: String,
    /// The payload (`payloadJSON` parsed; `None` when absent or not JSON).
    pub payload: Option<Value>,
}

impl Params for NodeEventParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let Some(obj) = call.params.as_object() else {
            return Err(ErrorShape::invalid(
                "invalid node.event params: must be object",
            ));
        };
        let Some(event) = obj.get("event").and_then(Value::as_str).map(str::to_owned) else {
            return Err(ErrorShape::invalid(
                "invalid node.event params: must have required property 'event'",
            ));
        };
        if event == "node.host.stats" {
            let size = match obj.get("payloadJSON").and_then(Value::as_str) {
                Some(s) => s.len(),
                None => obj
                    .get("payload")
                    .map_or(0, |p| serde_json::to_vec(p).map_or(usize::MAX, |v| v.len())),
            };
            if size > MAX_HOST_STATS_BYTES {
                return Err(ErrorShape::invalid(format!(
                    "invalid node.event params: node.host.stats payload too large ({size} bytes, max {MAX_HOST_STATS_BYTES})"
                )));
            }
        }
        let payload = match obj.get("payloadJSON").and_then(Value::as_str) {
            Some(s) => serde_json::from_str::<Value>(s).ok(),
            None => obj.get("payload").cloned(),
        };
        Ok(Self { event, payload })
    }
}

/// Most ids one `node.pending.ack` takes (a node holds at most 64 actions).
const MAX_ACK_IDS: usize = 256;

/// `node.pending.ack {ids}`: at least one non-empty id; trimmed, without repeats.
pub(super) fn pending_ack(params: &Value) -> Result<Vec<String>, ErrorShape> {
    const M: &str = "node.pending.ack";
    let obj = object(M, params)?;
    let mut c = Checker::new();
    c.required("", obj, "ids");
    c.closed("", obj, &["ids"]);
    let ids = c.string_array("", obj, "ids").unwrap_or_default();
    if c.ok() && ids.is_empty() {
        c.error("/ids", "must NOT have fewer than 1 items");
    }
    if ids.len() > MAX_ACK_IDS {
        c.error(
            "/ids",
            &format!("must NOT have more than {MAX_ACK_IDS} items"),
        );
    }
    for (i, id) in ids.iter().enumerate() {
        if id.is_empty() {
            c.error(
                &format!("/ids/{i}"),
                "must NOT have fewer than 1 characters",
            );
        }
    }
    if !c.ok() {
        return Err(fail(M, &c));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.trim().to_owned();
        if !id.is_empty() && !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// `node.pending.drain {maxItems?}` (1–10, default 4).
pub(super) fn pending_drain(params: &Value) -> Result<usize, ErrorShape> {
    const M: &str = "node.pending.drain";
    if params.is_null() {
        return Ok(crate::registry::pending_work::DRAIN_DEFAULT);
    }
    let obj = object(M, params)?;
    let mut c = Checker::new();
    c.closed("", obj, &["maxItems"]);
    let max = c.integer("", obj, "maxItems", 1);
    if max.is_some_and(|n| n > crate::registry::pending_work::DRAIN_MAX as u64) {
        c.error("/maxItems", "must be <= 10");
    }
    if !c.ok() {
        return Err(fail(M, &c));
    }
    Ok(max.map_or(crate::registry::pending_work::DRAIN_DEFAULT, |n| n as usize))
}

/// `node.pending.enqueue {nodeId, type, priority?, expiresInMs?, wake?}`.
pub(super) fn pending_enqueue(
    params: &Value,
) -> Result<crate::registry::pending_work::EnqueueWork, ErrorShape> {
    const M: &str = "node.pending.enqueue";
    let obj = object(M, params)?;
    let mut c = Checker::new();
    c.required("", obj, "nodeId");
    c.required("", obj, "type");
    c.closed(
        "",
        obj,
        &["nodeId", "type", "priority", "expiresInMs", "wake"],
    );
    let node_id = c
        .string("", obj, "nodeId", true)
        .map(|s| s.trim().to_owned());
    let kind = match c.string("", obj, "type", true) {
        Some(t @ ("status.request" | "location.request")) => Some(t.to_owned()),
        Some(_) => {
            c.error("/type", "must be equal to one of the allowed values");
            None
        }
        None => None,
    };
    let priority = match c.string("", obj, "priority", false) {
        None | Some("normal") => "normal",
        Some("high") => "high",
        Some(_) => {
            c.error("/priority", "must be equal to one of the allowed values");
            "normal"
        }
    };
    let expires = c.integer("", obj, "expiresInMs", 1000);
    if expires.is_some_and(|n| n > crate::registry::pending_work::WORK_TTL_MS) {
        c.error("/expiresInMs", "must be <= 86400000");
    }
    let _ = c.boolean("", obj, "wake");
    match (node_id, kind) {
        (Some(node_id), Some(kind)) if c.ok() && !node_id.is_empty() => {
            Ok(crate::registry::pending_work::EnqueueWork {
                node_id,
                kind,
                priority,
                expires_in_ms: expires,
            })
        }
        _ => Err(fail(M, &c)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(method: &'static str, params: Value, node_id: Option<&str>) -> Call {
        Call {
            id: "1".into(),
            method,
            params,
            scopes: vec!["operator.write".into()],
            node_id: node_id.map(str::to_owned),
            caller_device: None,
        }
    }

    fn err<P: Params>(c: &Call) -> String {
        match P::parse(c) {
            Ok(_) => panic!("{} {} parsed", c.method, c.params),
            Err(e) => e.message,
        }
    }

    #[test]
    fn typed_params_keep_the_wire_errors() {
        let c = call("node.describe", json!({"nodeId": "n1"}), None);
        assert_eq!(
            NodeIdParams::parse(&c).map(|p| p.node_id).ok().as_deref(),
            Some("n1")
        );
        assert_eq!(
            err::<NodeIdParams>(&call("node.describe", json!({}), None)),
            "invalid node.describe params: must have required property 'nodeId'"
        );
        assert_eq!(
            err::<RequestIdParams>(&call("device.pair.approve", json!({"requestId": 1}), None)),
            "invalid device.pair.approve params: at /requestId: must be string"
        );
        assert_eq!(
            err::<DeviceIdParams>(&call("device.pair.remove", json!([]), None)),
            "invalid device.pair.remove params: at root: must be object"
        );
        let c = call(
            "device.token.revoke",
            json!({"deviceId": "d", "role": "operator"}),
            None,
        );
        assert!(matches!(
            TokenParams::parse(&c),
            Ok(TokenParams(PairingOp::TokenRevoke { .. }))
        ));
    }

    #[test]
    fn invoke_params_bind_the_caller() {
        let c = call(
            "node.invoke",
            json!({"nodeId": "n", "command": "system.which", "idempotencyKey": "k"}),
            None,
        );
        let cmd = InvokeNodeCommand::parse(&c).unwrap_or_else(|e| panic!("{}", e.message));
        assert!(matches!(cmd.origin, InvokeOrigin::Operator { ref scopes } if scopes == &c.scopes));
        // A result only comes from a node, for itself.
        let params = json!({"id": "i", "nodeId": "n", "ok": true});
        assert_eq!(
            err::<InvokeResult>(&call("node.invoke.result", params.clone(), None)),
            "unauthorized role: operator"
        );
        assert_eq!(
            err::<InvokeResult>(&call("node.invoke.result", params.clone(), Some("m"))),
            "nodeId mismatch"
        );
        assert!(InvokeResult::parse(&call("node.invoke.result", params, Some("n"))).is_ok());
    }

    #[test]
    fn node_event_bounds_host_stats() {
        let big = "x".repeat(MAX_HOST_STATS_BYTES + 1);
        let c = call(
            "node.event",
            json!({"event": "node.host.stats", "payloadJSON": big}),
            Some("n"),
        );
        assert!(
            err::<NodeEventParams>(&c)
                .starts_with("invalid node.event params: node.host.stats payload too large (")
        );
        let c = call(
            "node.event",
            json!({"event": "node.host.stats", "payloadJSON": "{\"cpu\":1}"}),
            Some("n"),
        );
        let p = NodeEventParams::parse(&c).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(p.event, "node.host.stats");
        assert_eq!(p.payload, Some(json!({"cpu": 1})));
        assert_eq!(
            err::<NodeEventParams>(&call("node.event", json!({}), Some("n"))),
            "invalid node.event params: must have required property 'event'"
        );
    }
}
