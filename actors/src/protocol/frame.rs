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
/// not a well-formed request (the full parse then reports why). Only a JSON object is a
/// request: serde's derived structs also read a sequence positionally, so without the check
/// `["req","1","x"]` would pass here while the full parse (rightly) calls it no request —
/// and a large array could draw an access answer under an id nobody sent as one. (Found by
/// the `frame` fuzz target.)
pub fn peek_request(text: &str) -> Option<(String, String)> {
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return None;
    }
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

/// `text` with every unpaired UTF-16 surrogate escape (`\\ud83d` from a JavaScript string cut
/// inside an emoji) replaced by `\\ufffd`; `None` when there is none. JavaScript clients send
/// them and `JSON.parse` (the real gateway) accepts them; serde_json refuses them, which
/// would drop the whole request as "not JSON" — and the client would wait for an answer that
/// never comes. (Found by the `frame` fuzz target: the head parse, which skips unknown
/// fields unchecked, saw a request the full parse refused.)
pub fn replace_lone_surrogates(text: &str) -> Option<String> {
    fn hex4(s: &str, at: usize) -> Option<u32> {
        let h = s.get(at..at + 4)?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(h, 16).ok()
    }
    let b = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b.get(i + 1) != Some(&b'u') {
            i += 2; // another escape (`\\\\`, `\\"` …): skip both bytes
            continue;
        }
        let Some(unit) = hex4(text, i + 2) else {
            i += 2;
            continue;
        };
        let paired = (0xD800..0xDC00).contains(&unit)
            && b.get(i + 6) == Some(&b'\\')
            && b.get(i + 7) == Some(&b'u')
            && hex4(text, i + 8).is_some_and(|low| (0xDC00..0xE000).contains(&low));
        if paired {
            i += 12;
        } else if (0xD800..0xE000).contains(&unit) {
            out.push_str(&text[copied..i]);
            out.push_str("\\ufffd");
            i += 6;
            copied = i;
        } else {
            i += 6;
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// Classifies an inbound text frame.
pub fn parse_inbound(text: &str) -> Inbound {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(err) => match replace_lone_surrogates(text)
            .and_then(|fixed| serde_json::from_str(&fixed).ok())
        {
            Some(v) => v,
            // Syntactically a request whose body serde_json still refuses (a number beyond
            // f64 such as `1e400`, which `JSON.parse` turns into Infinity): answer it with an
            // error under its own id rather than ignore it and leave the client waiting.
            // (Found by the `frame` fuzz target: the head parse skips such a number unchecked.)
            None => {
                return match peek_request(text) {
                    Some((id, _)) => Inbound::BadRequest {
                        id,
                        message: format!("invalid request frame: {err}"),
                    },
                    None => Inbound::NotJson,
                };
            }
        },
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
    fn lone_surrogates_become_replacement_characters_as_javascript_would_accept_them() {
        let text = r#"{"type":"req","id":"1","method":"chat.send","params":{"text":"cut \ud83d","k\ude0f":1,"pair":"\ud83d\ude00","lit":"\\ud800"}}"#;
        assert!(serde_json::from_str::<Value>(text).is_err());
        assert_eq!(
            peek_request(text),
            Some(("1".to_owned(), "chat.send".to_owned()))
        );
        match parse_inbound(text) {
            Inbound::Request(r) => {
                assert_eq!(r.id, "1");
                assert_eq!(r.method, "chat.send");
                assert_eq!(
                    r.params,
                    serde_json::json!({"text": "cut \u{fffd}", "k\u{fffd}": 1, "pair": "😀", "lit": "\\ud800"})
                );
            }
            other => panic!("{other:?}"),
        }
        // Nothing to replace: still not JSON.
        assert!(matches!(parse_inbound(r#"{"a":"\u12"}"#), Inbound::NotJson));
        assert!(matches!(parse_inbound("{\"a\":\"\\"), Inbound::NotJson));
        assert_eq!(replace_lone_surrogates(r#""\ud83d\ude00""#), None);
        assert_eq!(
            replace_lone_surrogates(r#""x\udc00\ud800""#).as_deref(),
            Some(r#""x\ufffd\ufffd""#)
        );
    }

    #[test]
    fn a_request_with_a_number_beyond_f64_is_answered_under_its_id() {
        // The fuzz finding (trimmed): `2e5318576640` overflows f64; the head parse skips it.
        let text = r#"{"type":"req","id":"81a","method":"node.ine","params":{"free":2e5318576640,"n":[1e400,-1e999]}}"#;
        assert!(serde_json::from_str::<Value>(text).is_err());
        assert_eq!(
            peek_request(text),
            Some(("81a".to_owned(), "node.ine".to_owned()))
        );
        match parse_inbound(text) {
            Inbound::BadRequest { id, message } => {
                assert_eq!(id, "81a");
                assert!(
                    message.starts_with("invalid request frame: number out of range at line 1"),
                    "{message}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        // Not a request: still ignored as not JSON, never answered.
        assert!(matches!(
            parse_inbound(r#"{"type":"event","x":1e400}"#),
            Inbound::NotJson
        ));
    }

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
        // A sequence is no request, though serde would read one into the head positionally.
        assert_eq!(peek_request(r#"["req","q","runtimeVers"]"#), None);
        assert!(matches!(
            parse_inbound(r#"["req","q","runtimeVers"]"#),
            Inbound::NotRequest
        ));
        assert_eq!(
            peek_request(" \r\n\t{\"type\":\"req\",\"id\":\"1\",\"method\":\"x\"}"),
            Some(("1".to_owned(), "x".to_owned()))
        );
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
