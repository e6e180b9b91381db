//! What a caller or the agent's `message` tool names a message action with
//! (`openclaw_actors::channel::MessageOp::from_params`, the `message.action` params and the
//! tool's arguments) and a Telegram target's `@username`
//! (`openclaw_actors::channel::telegram::names::split`). Nothing may panic; on top of that:
//!
//! - an action read from params has a positive message id, a reaction at most one short
//!   emoji (none: removal), an edit a non-blank text, a poll its question;
//! - a username taken is 5 to 32 ASCII letters, digits or underscores, lowercase, starting
//!   with a letter, and what follows it starts with `:`; a refused one is named in the error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::channel::MessageOp;
use openclaw::actors::channel::telegram::names::split;
use serde_json::Value;

const ACTIONS: [&str; 8] = [
    "poll", "react", "edit", "delete", "pin", "unpin", "send", "teleport",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match split(text) {
        None => {}
        Some(Ok((name, rest))) => {
            assert!((5..=32).contains(&name.len()), "{name:?}");
            assert!(name.starts_with(|c: char| c.is_ascii_lowercase()), "{name:?}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name:?}"
            );
            assert!(rest.is_empty() || rest.starts_with(':'), "{rest:?}");
        }
        Some(Err(e)) => assert!(e.contains("invalid telegram target"), "{e}"),
    }
    let Ok(Value::Object(params)) = serde_json::from_str::<Value>(text) else {
        return;
    };
    for action in ACTIONS {
        let Ok(op) = MessageOp::from_params(action, &params) else {
            continue;
        };
        assert_eq!(op.name(), action, "{op:?}");
        match op {
            MessageOp::React { message_id, emoji } => {
                assert!(message_id > 0);
                if let Some(e) = emoji {
                    assert!(!e.trim().is_empty() && e.chars().count() <= 16, "{e:?}");
                }
            }
            MessageOp::Edit { message_id, text } => {
                assert!(message_id > 0);
                assert!(!text.trim().is_empty(), "{text:?}");
            }
            MessageOp::Delete { message_id }
            | MessageOp::Pin { message_id, .. }
            | MessageOp::Unpin { message_id } => assert!(message_id > 0),
            MessageOp::Poll { .. } | MessageOp::Send => {}
        }
    }
});
