//! Voice wake (OpenClaw's `docs/nodes/voicewake.md`): one global list of wake words owned
//! by the gateway, which the phone and desktop apps read (`voicewake.get`), edit
//! (`voicewake.set`) and follow (`voicewake.changed`, sent to operators with
//! `operator.read` and to every connected node, and to a node as a snapshot when it
//! connects); and the routing of a wake word to an agent or a session
//! (`voicewake.routing.get`, applied to `agent {voiceWakeTrigger}`).
//!
//! Stored in the state directory as OpenClaw's files before its state database:
//! `settings/voicewake.json` (`{triggers, updatedAtMs}`) and
//! `settings/voicewake-routing.json` (`{version, defaultTarget, routes, updatedAtMs}`,
//! edited by hand: OpenClaw 2026.9.6 has no method that writes it).

use serde::Serialize;
use serde_json::{Value, json};

/// The wake words file (relative to the state directory).
pub const TRIGGERS_FILE: &str = "settings/voicewake.json";
/// The routing file (relative to the state directory).
pub const ROUTING_FILE: &str = "settings/voicewake-routing.json";

/// The built-in wake words: what an empty list falls back to.
pub const DEFAULT_TRIGGERS: [&str; 3] = ["openclaw", "claude", "computer"];
/// At most this many wake words are kept.
pub const MAX_TRIGGERS: usize = 32;
/// A wake word is cut to this many UTF-16 code units (never inside a character).
pub const MAX_TRIGGER_UNITS: usize = 64;
/// At most this many routes are read.
pub const MAX_ROUTES: usize = 32;

/// The wake words and when they were last set (0: never, the defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Triggers {
    /// The words.
    pub triggers: Vec<String>,
    /// When `voicewake.set` last wrote them (ms).
    pub updated_at_ms: u64,
}

impl Default for Triggers {
    fn default() -> Self {
        Self {
            triggers: DEFAULT_TRIGGERS.iter().map(|s| (*s).to_owned()).collect(),
            updated_at_ms: 0,
        }
    }
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
}

/// `voicewake.set`'s normalization (OpenClaw's `normalizeVoiceWakeTriggers`): strings
/// trimmed, empty ones and non-strings dropped, the first [`MAX_TRIGGERS`] kept, each cut
/// to [`MAX_TRIGGER_UNITS`] UTF-16 units (never inside a character) and trimmed again
/// (unlike OpenClaw, a cut never leaves a trailing space); nothing left gives the defaults.
pub fn normalize_triggers(input: &[Value]) -> Vec<String> {
    let words: Vec<String> = input
        .iter()
        .filter_map(Value::as_str)
        .map(trim)
        .filter(|w| !w.is_empty())
        .take(MAX_TRIGGERS)
        .map(|w| {
            // Cut, then trimmed again: a cut can end on a space.
            match crate::channel::utf16_prefix_limit(w, MAX_TRIGGER_UNITS) {
                Some(cut) => trim(&w[..cut]),
                None => w,
            }
            .to_owned()
        })
        .collect();
    if words.is_empty() {
        Triggers::default().triggers
    } else {
        words
    }
}

/// The stored file read back: its `triggers` normalized as `voicewake.set` does (a file
/// edited by hand gets no more than the method allows); anything unreadable: the defaults.
pub fn triggers_from_file(doc: &Value) -> Triggers {
    let triggers = match doc.get("triggers").and_then(Value::as_array) {
        Some(a) => normalize_triggers(a),
        None => return Triggers::default(),
    };
    Triggers {
        triggers,
        updated_at_ms: doc.get("updatedAtMs").and_then(Value::as_u64).unwrap_or(0),
    }
}

/// Where a wake word sends the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The session the app is in.
    Current,
    /// This agent's main session.
    Agent(String),
    /// This session.
    Session(String),
}

impl Target {
    fn from_value(v: &Value) -> Option<Self> {
        let o = v.as_object()?;
        let field = |k: &str| {
            o.get(k)
                .and_then(Value::as_str)
                .map(trim)
                .filter(|s| !s.is_empty())
        };
        if field("mode") == Some("current") {
            return Some(Self::Current);
        }
        match (field("agentId"), field("sessionKey")) {
            (Some(a), None) => Some(Self::Agent(a.to_ascii_lowercase())),
            (None, Some(k)) => Some(Self::Session(k.to_owned())),
            _ => None,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Self::Current => json!({"mode": "current"}),
            Self::Agent(a) => json!({"agentId": a}),
            Self::Session(k) => json!({"sessionKey": k}),
        }
    }
}

/// The routing of wake words (OpenClaw's `VoiceWakeRoutingConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// Where an unrouted wake word goes.
    pub default_target: Target,
    /// `(normalized trigger, target)`, first match wins.
    pub routes: Vec<(String, Target)>,
    /// When the file says it was written (ms).
    pub updated_at_ms: u64,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            default_target: Target::Current,
            routes: Vec::new(),
            updated_at_ms: 0,
        }
    }
}

/// A route trigger as matched (OpenClaw's `normalizeVoiceWakeTriggerWord`): lowercased,
/// punctuation and symbols stripped from both ends of each word, words joined by one space
/// (`"Hey, Bot!!"` and `"hey bot"` are the same trigger).
pub fn normalize_trigger_word(s: &str) -> String {
    let edge =
        |c: char| !(c.is_alphanumeric() || c.is_whitespace() || crate::channel::is_attaching(c));
    s.to_lowercase()
        .split_whitespace()
        .map(|w| w.trim_matches(edge))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Routing {
    /// The routing file read back (OpenClaw's `normalizeVoiceWakeRoutingConfig`): routes
    /// without a trigger or with a target that is not exactly one of `mode: "current"`,
    /// `agentId` or `sessionKey` are dropped; triggers longer than 64 characters too; at
    /// most [`MAX_ROUTES`] are kept.
    pub fn from_file(doc: &Value) -> Self {
        let routes = doc
            .get("routes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        let raw = r.get("trigger")?.as_str()?;
                        if raw.chars().count() > MAX_TRIGGER_UNITS {
                            return None;
                        }
                        let trigger = normalize_trigger_word(raw);
                        let target = Target::from_value(r.get("target")?)?;
                        (!trigger.is_empty()).then_some((trigger, target))
                    })
                    .take(MAX_ROUTES)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            default_target: doc
                .get("defaultTarget")
                .and_then(Target::from_value)
                .unwrap_or(Target::Current),
            routes,
            updated_at_ms: doc.get("updatedAtMs").and_then(Value::as_u64).unwrap_or(0),
        }
    }

    /// The wire object (`voicewake.routing.get`, `voicewake.routing.changed`).
    pub fn to_value(&self) -> Value {
        json!({
            "version": 1,
            "defaultTarget": self.default_target.to_value(),
            "routes": self.routes.iter().map(|(t, target)| json!({"trigger": t, "target": target.to_value()})).collect::<Vec<_>>(),
            "updatedAtMs": self.updated_at_ms,
        })
    }

    /// Where `trigger` goes: its route, else the default target.
    pub fn route(&self, trigger: &str) -> &Target {
        let t = normalize_trigger_word(trigger);
        if !t.is_empty()
            && let Some((_, target)) = self.routes.iter().find(|(r, _)| *r == t)
        {
            return target;
        }
        &self.default_target
    }
}

/// Both documents, as the gateway holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoiceWake {
    /// The wake words.
    pub triggers: Triggers,
    /// Their routing.
    pub routing: Routing,
}

impl VoiceWake {
    /// Reads both files of `state_dir`. A missing file gives the defaults; an unreadable
    /// or invalid one too, with a warning naming it (wake words are a convenience: they
    /// never keep the gateway from starting). The wake words file is rewritten only by the
    /// next `voicewake.set`.
    pub fn load(state_dir: &std::path::Path) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut read = |name: &str| match crate::engine::load_json::<Value>(state_dir, name) {
            Ok(v) => v,
            Err(e) => {
                warnings.push(format!("voice wake: {e}; using the defaults"));
                None
            }
        };
        let triggers = read(TRIGGERS_FILE)
            .map(|d| triggers_from_file(&d))
            .unwrap_or_default();
        let routing = read(ROUTING_FILE)
            .map(|d| Routing::from_file(&d))
            .unwrap_or_default();
        (Self { triggers, routing }, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_trimmed_bounded_and_fall_back_to_the_defaults() {
        let got = normalize_triggers(&[json!("  hey  "), json!(""), json!(7), json!("\u{FEFF} x")]);
        assert_eq!(got, ["hey", "x"]);
        assert_eq!(
            normalize_triggers(&[json!(" "), json!(null)]),
            DEFAULT_TRIGGERS
        );
        assert_eq!(normalize_triggers(&[]), DEFAULT_TRIGGERS);
        let many: Vec<Value> = (0..100).map(|i| json!(format!("w{i}"))).collect();
        let got = normalize_triggers(&many);
        assert_eq!(got.len(), MAX_TRIGGERS);
        assert_eq!(got[31], "w31");
        // 64 UTF-16 units, never half of a surrogate pair: 63 ASCII then an emoji (2 units)
        // keeps the 63.
        let long = format!("{}😀tail", "a".repeat(63));
        assert_eq!(normalize_triggers(&[json!(long)]), ["a".repeat(63)]);
        // A cut that ends on a space is trimmed (found by the `voicewake` fuzz target).
        let spaced = format!("{}  😀x", "h".repeat(62));
        assert_eq!(normalize_triggers(&[json!(spaced)]), ["h".repeat(62)]);
        let emoji = "😀".repeat(40);
        let got = normalize_triggers(&[json!(emoji)]);
        assert_eq!(got[0].chars().count(), 32);
        assert_eq!(got[0].encode_utf16().count(), 64);
    }

    #[test]
    fn the_stored_file_is_normalized_and_a_broken_one_gives_the_defaults() {
        let t = triggers_from_file(&json!({"triggers": ["a", " b "], "updatedAtMs": 5}));
        assert_eq!(t.triggers, ["a", "b"]);
        assert_eq!(t.updated_at_ms, 5);
        assert_eq!(
            triggers_from_file(&json!({"triggers": "a"})),
            Triggers::default()
        );
        assert_eq!(triggers_from_file(&json!([1, 2])), Triggers::default());
        let dir = std::env::temp_dir().join(format!("vw-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("settings")).expect("mkdir");
        std::fs::write(dir.join(TRIGGERS_FILE), b"{not json").expect("write");
        let (vw, warnings) = VoiceWake::load(&dir);
        assert_eq!(vw, VoiceWake::default());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("voicewake.json"), "{warnings:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn route_triggers_match_without_case_or_edge_punctuation() {
        assert_eq!(normalize_trigger_word("  Hey,   Bot!! "), "hey bot");
        assert_eq!(normalize_trigger_word("¡¿Ça va?!"), "ça va");
        assert_eq!(normalize_trigger_word("café\u{301}"), "café\u{301}");
        assert_eq!(normalize_trigger_word("!!! ..."), "");
        let r = Routing::from_file(&json!({
            "defaultTarget": {"agentId": "Main"},
            "routes": [
                {"trigger": "Robot, wake!", "target": {"sessionKey": "agent:ops:main"}},
                {"trigger": "both", "target": {"agentId": "a", "sessionKey": "b"}},
                {"trigger": "", "target": {"mode": "current"}},
                {"trigger": "x".repeat(65), "target": {"mode": "current"}},
                {"trigger": "work", "target": {"agentId": "ops"}},
            ],
            "updatedAtMs": 9,
        }));
        assert_eq!(r.routes.len(), 2);
        assert_eq!(
            r.route("robot wake"),
            &Target::Session("agent:ops:main".into())
        );
        assert_eq!(r.route("WORK."), &Target::Agent("ops".into()));
        assert_eq!(r.route("other"), &Target::Agent("main".into()));
        assert_eq!(r.route(""), &Target::Agent("main".into()));
        assert_eq!(
            r.to_value(),
            json!({"version": 1, "defaultTarget": {"agentId": "main"}, "routes": [
                {"trigger": "robot wake", "target": {"sessionKey": "agent:ops:main"}},
                {"trigger": "work", "target": {"agentId": "ops"}},
            ], "updatedAtMs": 9})
        );
        assert_eq!(Routing::from_file(&json!("x")), Routing::default());
        let many: Vec<Value> = (0..50)
            .map(|i| json!({"trigger": format!("t{i}"), "target": {"mode": "current"}}))
            .collect();
        assert_eq!(
            Routing::from_file(&json!({"routes": many})).routes.len(),
            MAX_ROUTES
        );
    }
}
