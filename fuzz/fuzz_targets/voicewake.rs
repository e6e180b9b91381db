//! What the apps send about voice (`openclaw_actors::voicewake`,
//! `openclaw_actors::registry::node_events`): `voicewake.set`'s trigger list, the routing
//! file (and a trigger routed through it), and a voice transcript's fingerprint. Nothing may
//! panic; on top of that:
//!
//! - the saved list holds 1 to 32 words, each non-empty, trimmed, at most 64 UTF-16 units
//!   and a prefix of a word it was given (or the defaults, when nothing was usable);
//! - a route trigger's normalization is idempotent, lowercase-stable and has no edge
//!   spaces or double spaces; at most 32 routes are read, each with a normalized trigger;
//! - a route lookup gives one of the file's targets or its default.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::registry::node_events::transcript_fingerprint;
use openclaw::actors::voicewake::{
    DEFAULT_TRIGGERS, MAX_ROUTES, MAX_TRIGGER_UNITS, MAX_TRIGGERS, Routing, normalize_trigger_word,
    normalize_triggers,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let word = normalize_trigger_word(text);
    assert_eq!(normalize_trigger_word(&word), word, "{text:?}");
    assert!(
        !word.starts_with(' ') && !word.ends_with(' ') && !word.contains("  "),
        "{word:?}"
    );
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if let Some(list) = v
        .as_array()
        .or_else(|| v.get("triggers").and_then(Value::as_array))
    {
        let got = normalize_triggers(list);
        assert!(!got.is_empty() && got.len() <= MAX_TRIGGERS, "{got:?}");
        let given: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        if got.iter().map(String::as_str).ne(DEFAULT_TRIGGERS) {
            for w in &got {
                assert!(!w.is_empty() && w.trim() == w, "{w:?}");
                assert!(w.encode_utf16().count() <= MAX_TRIGGER_UNITS, "{w:?}");
                assert!(
                    given.iter().any(|g| g.contains(w.as_str())),
                    "{w:?} from {given:?}"
                );
            }
        }
    }
    let routing = Routing::from_file(&v);
    assert!(routing.routes.len() <= MAX_ROUTES);
    for (t, _) in &routing.routes {
        assert!(!t.is_empty() && normalize_trigger_word(t) == *t, "{t:?}");
    }
    let _ = routing.to_value();
    let target = routing.route(text);
    assert!(
        *target == routing.default_target || routing.routes.iter().any(|(_, r)| r == target),
        "{target:?}"
    );
    if let Some(t) = v.get("text").and_then(Value::as_str) {
        let _ = transcript_fingerprint(&v, t);
    }
});
