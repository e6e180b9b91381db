//! A node's successful answer to `node.invoke`, held as JSON text.
//!
//! The `node.invoke` response carries the node's payload twice, as OpenClaw's does:
//! `payload` (the parsed `payloadJSON`, or the `payload` value the node sent) and
//! `payloadJSON` (the string as sent, or null). A camera snapshot is megabytes of base64, so
//! the answer is never turned into a `serde_json::Value` tree: `payloadJSON` is validated
//! once and written into `payload` as it is ([`RawValue`]), and the text is held once.
//! [`InvokeReply`] is shared (an `Arc`): the dedupe cache, every caller waiting on the same
//! idempotency key and a node's reconnect hand-over hold the same answer, not copies.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::protocol::frame::replace_lone_surrogates;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct InvokeReply(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    node_id: String,
    command: String,
    payload: Payload,
}

#[derive(Debug)]
enum Payload {
    /// `payloadJSON` is JSON with nothing around it: it is also `payload`.
    Json(Box<RawValue>),
    /// `payloadJSON` is JSON whose value reads differently: whitespace around it, or an
    /// unpaired surrogate escape, which `payload` carries as U+FFFD (as every frame we read
    /// does, see [`replace_lone_surrogates`]).
    Apart { raw: Box<RawValue>, text: String },
    /// `payloadJSON` is not JSON: `payload` is `{"payloadJSON": text}` (OpenClaw's answer).
    NotJson(String),
    /// No `payloadJSON`: the `payload` value the node sent (`None`: null).
    Value(Option<Box<RawValue>>),
}

impl InvokeReply {
    /// The answer of `node_id` to `command`, from the `payloadJSON` and `payload` of its
    /// `node.invoke.result` (`payloadJSON` wins when both are sent).
    pub fn new(
        node_id: &str,
        command: &str,
        payload_json: Option<String>,
        payload: Option<Value>,
    ) -> Self {
        let payload = match payload_json {
            Some(text) => match strict_raw(&text).or_else(|| {
                // JavaScript's `JSON.parse` (OpenClaw's) takes an unpaired surrogate escape,
                // such as a node's output cut inside an emoji: so does every frame we read.
                strict_raw(&replace_lone_surrogates(&text)?)
            }) {
                Some(raw) if raw.get() == text => Payload::Json(raw),
                Some(raw) => Payload::Apart { raw, text },
                None => Payload::NotJson(text),
            },
            None => Payload::Value(
                payload
                    .filter(|v| !v.is_null())
                    .and_then(|v| serde_json::value::to_raw_value(&v).ok()),
            ),
        };
        Self(Arc::new(Inner {
            node_id: node_id.to_owned(),
            command: command.to_owned(),
            payload,
        }))
    }

    /// Bytes of text held (what the dedupe cache budgets).
    pub fn size(&self) -> usize {
        let payload = match &self.0.payload {
            Payload::Json(raw) => raw.get().len(),
            Payload::Apart { raw, text } => raw.get().len() + text.len(),
            Payload::NotJson(text) => text.len(),
            Payload::Value(raw) => raw.as_ref().map_or(0, |r| r.get().len()),
        };
        self.0.node_id.len() + self.0.command.len() + payload
    }

    /// `payload` as a value (for the agent's tool result; the operator's answer is written
    /// from the text).
    pub fn payload_value(&self) -> Value {
        let raw = match &self.0.payload {
            Payload::Json(raw) | Payload::Apart { raw, .. } => raw,
            Payload::Value(Some(raw)) => raw,
            Payload::Value(None) => return Value::Null,
            Payload::NotJson(text) => return serde_json::json!({ "payloadJSON": text }),
        };
        // The text passed `strict_raw`, so it parses; a `Value` is what the agent gets anyway.
        serde_json::from_str(raw.get())
            .unwrap_or_else(|_| serde_json::json!({ "payloadJSON": raw.get() }))
    }
}

/// `text` as a [`RawValue`] if it is JSON that a `serde_json::Value` can hold. `RawValue`
/// alone is more lenient (it skips over a lone surrogate escape or a number out of `f64`'s
/// range without decoding it), and the answer must parse wherever it goes, our own CLI
/// included: text a `Value` cannot hold is treated as not JSON (`{"payloadJSON": …}`), as it
/// was when the answer was a `Value`, once its lone surrogates are replaced (see
/// [`InvokeReply::new`]). The check decodes every string and number but builds nothing.
fn strict_raw(text: &str) -> Option<Box<RawValue>> {
    serde_json::from_str::<Strict>(text).ok()?;
    serde_json::from_str::<Box<RawValue>>(text).ok()
}

/// Deserializes anything, decoding as a `Value` would, and keeps nothing.
struct Strict;

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        while map.next_entry::<Strict, Strict>()?.is_some() {}
        Ok(Strict)
    }
}

/// Equal when they write the same answer.
impl PartialEq for InvokeReply {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || serde_json::to_string(self).ok() == serde_json::to_string(other).ok()
    }
}

/// `{"command", "nodeId", "ok": true, "payload", "payloadJSON"}`, keys in the order of the
/// `json!` object this replaced.
impl Serialize for InvokeReply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct NotJson<'a>(&'a str);
        impl Serialize for NotJson<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("payloadJSON", self.0)?;
                m.end()
            }
        }
        let r = &*self.0;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("command", &r.command)?;
        m.serialize_entry("nodeId", &r.node_id)?;
        m.serialize_entry("ok", &true)?;
        match &r.payload {
            Payload::Json(raw) => {
                m.serialize_entry("payload", raw)?;
                m.serialize_entry("payloadJSON", raw.get())?;
            }
            Payload::Apart { raw, text } => {
                m.serialize_entry("payload", raw)?;
                m.serialize_entry("payloadJSON", text)?;
            }
            Payload::NotJson(text) => {
                m.serialize_entry("payload", &NotJson(text))?;
                m.serialize_entry("payloadJSON", text)?;
            }
            Payload::Value(raw) => {
                m.serialize_entry("payload", raw)?;
                m.serialize_entry("payloadJSON", &Value::Null)?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the answer was before: a `json!` object with the parsed payload.
    fn old(payload_json: Option<&str>, payload: Option<Value>) -> Value {
        let parsed = match (payload_json, payload) {
            (Some(s), _) => serde_json::from_str(s).unwrap_or_else(|_| json!({"payloadJSON": s})),
            (None, Some(v)) => v,
            (None, None) => Value::Null,
        };
        json!({
            "ok": true,
            "nodeId": "n1",
            "command": "camera.snap",
            "payload": parsed,
            "payloadJSON": payload_json,
        })
    }

    #[test]
    fn the_answer_is_the_object_it_replaced_for_every_form_of_payload() {
        let big = format!(r#"{{"format":"jpg","base64":"{}"}}"#, "A".repeat(100_000));
        let cases: Vec<(Option<&str>, Option<Value>)> = vec![
            (Some(r#"{"stdout":"hi\n","exitCode":0}"#), None),
            (Some(&big), None),
            (Some("  [1, 2.5, \"é\\u00e9\\ud83d\\ude00\"]\n"), None),
            (Some("not json {"), None),
            (Some(""), None),
            (Some("null"), None),
            (Some("1e400"), None),
            (Some("-0.0"), None),
            (Some("123456789012345678901234567890"), None),
            // Found by the invoke_reply fuzz target: without serde_json's `float_roundtrip`,
            // this value written and read again came back one unit in the last place off.
            (
                None,
                serde_json::from_str(&format!("\n\t{}", "8".repeat(56))).ok(),
            ),
            (Some("\"a \\\"quoted\\\" string\""), None),
            (None, Some(json!({"a": [1, {"b": null}], "c": "ü"}))),
            (None, Some(Value::Null)),
            (None, None),
            (Some("7"), Some(json!({"ignored": true}))),
        ];
        for (pj, p) in cases {
            let reply = InvokeReply::new("n1", "camera.snap", pj.map(str::to_owned), p.clone());
            let text = serde_json::to_string(&reply).expect("serializes");
            let back: Value = serde_json::from_str(&text).expect("the answer is JSON");
            let want = old(pj, p);
            assert_eq!(back, want, "payloadJSON {pj:?}");
            assert_eq!(reply.payload_value(), want["payload"], "payloadJSON {pj:?}");
            // A payload already in the form the old object wrote (compact, keys sorted) is
            // written byte for byte as it was; any other is written as the node sent it (key
            // order and spacing kept, as OpenClaw's `JSON.parse` and `stringify` keep order).
            let canonical = pj.is_none_or(|s| {
                serde_json::from_str::<Value>(s)
                    .map_or(true, |v| serde_json::to_string(&v).is_ok_and(|t| t == s))
            });
            if canonical {
                assert_eq!(text, want.to_string(), "payloadJSON {pj:?}");
            } else if let Some(s) = pj.filter(|s| s.trim() == *s) {
                assert!(text.contains(&format!(",\"payload\":{s},")), "{text}");
            }
        }
    }

    /// Text `RawValue` takes but a strict parser refuses (a number beyond `f64`) is not
    /// passed through: the answer would not parse in our own CLI.
    #[test]
    fn text_a_strict_parser_refuses_is_not_passed_through() {
        for bad in ["[1e400]", r#"{"s":"\ud800","n":-1e999}"#] {
            assert!(serde_json::from_str::<Box<RawValue>>(bad).is_ok(), "{bad}");
            let reply = InvokeReply::new("n1", "x", Some(bad.into()), None);
            let text = serde_json::to_string(&reply).expect("serializes");
            let back: Value = serde_json::from_str(&text).expect("the answer parses");
            assert_eq!(back["payload"], json!({"payloadJSON": bad}), "{bad}");
            assert_eq!(back["payloadJSON"], bad);
            assert_eq!(reply.payload_value(), json!({"payloadJSON": bad}));
        }
    }

    /// An unpaired surrogate escape (a node's output cut inside an emoji) is JSON to
    /// OpenClaw's `JSON.parse`: `payload` is the value with U+FFFD in its place, as in every
    /// frame we read, and `payloadJSON` is the text as sent.
    #[test]
    fn lone_surrogates_in_a_payload_become_replacement_characters_as_in_frames() {
        for (sent, want) in [
            (r#"{"s":"\ud800"}"#, json!({"s": "\u{fffd}"})),
            (r#""\udfff\ud800""#, json!("\u{fffd}\u{fffd}")),
            (
                r#"["ok \ud83d\ude00", "cut \ud83d"]"#,
                json!(["ok 😀", "cut \u{fffd}"]),
            ),
        ] {
            let reply = InvokeReply::new("n1", "x", Some(sent.into()), None);
            let text = serde_json::to_string(&reply).expect("serializes");
            let back: Value = serde_json::from_str(&text).expect("the answer parses");
            assert_eq!(back["payload"], want, "{sent}");
            assert_eq!(back["payloadJSON"], sent);
            assert_eq!(reply.payload_value(), want);
        }
    }

    #[test]
    fn the_text_is_held_once_and_clones_share_it() {
        let body = format!(r#"{{"base64":"{}"}}"#, "B".repeat(1 << 20));
        let reply = InvokeReply::new("node", "camera.snap", Some(body.clone()), None);
        assert_eq!(
            reply.size(),
            body.len() + "node".len() + "camera.snap".len()
        );
        let copy = reply.clone();
        assert!(Arc::ptr_eq(&reply.0, &copy.0), "a clone shares the answer");
        let padded = InvokeReply::new("node", "x", Some(format!(" {body} ")), None);
        assert_eq!(padded.size(), 2 * body.len() + 2 + "node".len() + 1);
    }
}
