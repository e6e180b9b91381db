//! Frame encoding. Inbound frames are parsed as `serde_json::Value` and inspected by
//! [`crate::ws_session`]; outbound frames are written by the helpers here, which avoid
//! building intermediate `Value` trees on the hot path.

use serde::Serialize;
use serde_json::Value;

use super::error::ErrorShape;

/// A successful `res` frame.
pub fn response_ok<T: Serialize + ?Sized>(id: &str, payload: &T) -> String {
    #[derive(Serialize)]
    struct Res<'a, T: ?Sized> {
        #[serde(rename = "type")]
        kind: &'static str,
        id: &'a str,
        ok: bool,
        payload: &'a T,
    }
    serde_json::to_string(&Res {
        kind: "res",
        id,
        ok: true,
        payload,
    })
    .unwrap_or_else(|_| response_err(id, &ErrorShape::unavailable("response not serializable")))
}

/// A failed `res` frame.
pub fn response_err(id: &str, error: &ErrorShape) -> String {
    #[derive(Serialize)]
    struct Res<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        id: &'a str,
        ok: bool,
        error: &'a ErrorShape,
    }
    serde_json::to_string(&Res {
        kind: "res",
        id,
        ok: false,
        error,
    })
    .unwrap_or_else(|_| String::from("{\"type\":\"res\",\"id\":\"invalid\",\"ok\":false}"))
}

/// Version counters attached to `presence` and `health` broadcasts.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct StateVersion {
    /// Bumped on every presence change.
    pub presence: u64,
    /// Bumped on every health change.
    pub health: u64,
}

/// An `event` frame. `payload` is already-serialized JSON, so a broadcast serializes its
/// payload once and each connection only adds its own `seq`.
pub fn event(name: &str, payload_json: &str, seq: Option<u64>, sv: Option<StateVersion>) -> String {
    let name_json = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into());
    let mut out = String::with_capacity(payload_json.len() + name_json.len() + 64);
    out.push_str("{\"type\":\"event\",\"event\":");
    out.push_str(&name_json);
    out.push_str(",\"payload\":");
    out.push_str(payload_json);
    if let Some(seq) = seq {
        out.push_str(",\"seq\":");
        out.push_str(&seq.to_string());
    }
    if let Some(sv) = sv {
        out.push_str(&format!(
            ",\"stateVersion\":{{\"presence\":{},\"health\":{}}}",
            sv.presence, sv.health
        ));
    }
    out.push('}');
    out
}

/// The parts of an inbound `req` frame the dispatcher needs.
#[derive(Debug)]
pub struct Request {
    /// The request id, echoed in the response.
    pub id: String,
    /// The method name.
    pub method: String,
    /// The params (`Value::Null` when absent).
    pub params: Value,
}

/// What an inbound text frame turned out to be.
#[derive(Debug)]
pub enum Inbound {
    /// Not JSON at all.
    NotJson,
    /// JSON, but not a `req` frame (an event, a response, or anything else).
    NotRequest,
    /// A `req` frame that is malformed; `message` is the `invalid request frame: …` text and
    /// `id` the id to answer with (`"invalid"` when it had none).
    BadRequest {
        /// The id to echo.
        id: String,
        /// The error message.
        message: String,
    },
    /// A well-formed request.
    Request(Request),
}

/// The `id` and `method` of a `req` frame, read without building the params: the session
/// checks access on a large frame before paying for a full parse. `None` when the frame is
/// not a well-formed request (the full parse then reports why).
pub fn peek_request(text: &str) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: Option<String>,
        id: Option<String>,
        method: Option<String>,
    }
    let head: Head = serde_json::from_str(text).ok()?;
    match (head.kind.as_deref(), head.id, head.method) {
        (Some("req"), Some(id), Some(method)) if !id.is_empty() && !method.is_empty() => {
            Some((id, method))
        }
        _ => None,
    }
}

/// Classifies an inbound text frame.
pub fn parse_inbound(text: &str) -> Inbound {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Inbound::NotJson,
    };
    let Value::Object(mut map) = value else {
        return Inbound::NotRequest;
    };
    if map.get("type").and_then(Value::as_str) != Some("req") {
        return Inbound::NotRequest;
    }
    let id = match map.remove("id") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::String(_)) => {
            return Inbound::BadRequest {
                id: "invalid".into(),
                message: "invalid request frame: at /id: must NOT have fewer than 1 characters"
                    .into(),
            };
        }
        Some(_) => {
            return Inbound::BadRequest {
                id: "invalid".into(),
                message: "invalid request frame: at /id: must be string".into(),
            };
        }
        None => {
            return Inbound::BadRequest {
                id: "invalid".into(),
                message: "invalid request frame: must have required property 'id'".into(),
            };
        }
    };
    let method = match map.remove("method") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(_) => {
            return Inbound::BadRequest {
                id,
                message: "invalid request frame: at /method: must be a non-empty string".into(),
            };
        }
        None => {
            return Inbound::BadRequest {
                id,
                message: "invalid request frame: must have required property 'method'".into(),
            };
        }
    };
    let params = map.remove("params").unwrap_or(Value::Null);
    Inbound::Request(Request { id, method, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_and_rejects_garbage() {
        assert!(matches!(parse_inbound("{not json"), Inbound::NotJson));
        assert!(matches!(
            parse_inbound(r#"{"type":"event","event":"x"}"#),
            Inbound::NotRequest
        ));
        match parse_inbound(r#"{"type":"req","method":"health"}"#) {
            Inbound::BadRequest { id, message } => {
                assert_eq!(id, "invalid");
                assert_eq!(
                    message,
                    "invalid request frame: must have required property 'id'"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse_inbound(r#"{"type":"req","id":"1","method":"health","params":{"a":1}}"#) {
            Inbound::Request(r) => {
                assert_eq!(r.id, "1");
                assert_eq!(r.method, "health");
                assert_eq!(r.params["a"], 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn peek_reads_id_and_method_only() {
        let big = format!(
            r#"{{"type":"req","params":{{"x":"{}"}},"id":"7","method":"node.invoke"}}"#,
            "a".repeat(100_000)
        );
        assert_eq!(
            peek_request(&big),
            Some(("7".to_owned(), "node.invoke".to_owned()))
        );
        assert_eq!(
            peek_request(r#"{"type":"event","id":"1","method":"x"}"#),
            None
        );
        assert_eq!(peek_request(r#"{"type":"req","id":1,"method":"x"}"#), None);
        assert_eq!(peek_request(r#"{"type":"req","id":"","method":"x"}"#), None);
        assert_eq!(peek_request("not json"), None);
    }

    #[test]
    fn event_frame_is_valid_json() {
        let s = event(
            "tick",
            r#"{"ts":1}"#,
            Some(3),
            Some(StateVersion {
                presence: 1,
                health: 2,
            }),
        );
        let v: Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v["event"], "tick");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["stateVersion"]["health"], 2);
    }
}
