//! The small param checks the hand-written parsers share (cron, `system-event`,
//! `talk.mode`, `channels.stop|start`): errors worded `invalid <method> params: <why>`, as
//! OpenClaw's validator words them.

use serde_json::{Map, Value};

use crate::protocol::error::ErrorShape;

/// `invalid <method> params: <why>`.
pub(crate) fn invalid(method: &str, why: impl std::fmt::Display) -> ErrorShape {
    ErrorShape::invalid(format!("invalid {method} params: {why}"))
}

/// The params as an object (`null`: none).
pub(crate) fn params<'a>(
    method: &str,
    v: &'a Value,
) -> Result<std::borrow::Cow<'a, Map<String, Value>>, ErrorShape> {
    match v {
        Value::Object(o) => Ok(std::borrow::Cow::Borrowed(o)),
        Value::Null => Ok(std::borrow::Cow::Owned(Map::new())),
        _ => Err(invalid(method, "must be object")),
    }
}

/// Refuses a key not in `known` (OpenClaw's closed objects).
pub(crate) fn closed(
    method: &str,
    o: &Map<String, Value>,
    known: &[&str],
) -> Result<(), ErrorShape> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => {
            let shown: String = k.chars().take(64).collect();
            Err(invalid(
                method,
                format!("must NOT have additional properties ('{shown}')"),
            ))
        }
        None => Ok(()),
    }
}

/// An optional string (`null`: absent), one of `allowed` unless that is empty.
pub(crate) fn opt_str<'a>(
    method: &str,
    o: &'a Map<String, Value>,
    key: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, ErrorShape> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.is_empty() || allowed.contains(&s.as_str()) => {
            Ok(Some(s.as_str()))
        }
        Some(_) if allowed.is_empty() => Err(invalid(method, format!("{key} must be a string"))),
        Some(_) => Err(invalid(
            method,
            format!("{key} must be one of {}", allowed.join(", ")),
        )),
    }
}
