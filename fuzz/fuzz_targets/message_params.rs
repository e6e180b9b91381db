//! What a caller or the agent's `message` tool names a message action with
//! (`openclaw_actors::channel::MessageOp::from_params`, the `message.action` params and the
//! tool's arguments) and a Telegram target's `@username`
//! (`openclaw_actors::channel::telegram::names::split`). Nothing may panic; on top of that:
//!
//! - an action read from params has a positive message id, a reaction at most one short
//!   emoji (none: removal), an edit a non-blank text (or buttons), a poll its question, a
//!   location coordinates in range and a venue a bounded name and address;
//! - a username taken is 5 to 32 ASCII letters, digits or underscores, lowercase, starting
//!   with a letter, and what follows it starts with `:`; a refused one is named in the error;
//! - a `presentation` (or Telegram `buttons` rows) taken
//!   (`openclaw_actors::channel::presentation::of_params`) has a non-blank text, at most 100
//!   controls, and every press value or command fits Telegram's 64 bytes, has no control
//!   characters, is not one of the gateway's reserved encodings and is no `/approve`; every
//!   link is `https://`, `http://` or `tg://` (a Mini App `https://`);
//! - files named by path or URL (`openclaw_actors::media_source::sources_of`) are at most
//!   four, bounded, without control characters, and what is taken as a URL is `http(s)`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::channel::telegram::names::split;
use openclaw::actors::channel::{ButtonAction, MessageOp, presentation};
use openclaw::actors::media_source;
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
            assert!(
                name.starts_with(|c: char| c.is_ascii_lowercase()),
                "{name:?}"
            );
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
    if let Ok(sources) = media_source::sources_of(&params) {
        assert!(sources.list.len() <= 4);
        for src in &sources.list {
            assert!(!src.is_empty() && src.chars().count() <= media_source::MAX_SOURCE_CHARS);
            assert!(!src.chars().any(char::is_control), "{src:?}");
            if let Ok(media_source::Source::Url(u)) = media_source::classify(src) {
                let l = u.to_ascii_lowercase();
                assert!(
                    l.starts_with("http://") || l.starts_with("https://"),
                    "{u:?}"
                );
            }
        }
    }
    match presentation::of_params("m", &params) {
        Ok(None) | Err(_) => {}
        Ok(Some(r)) => {
            assert!(!r.text.trim().is_empty());
            let buttons: Vec<_> = r.buttons.iter().flatten().collect();
            assert!(buttons.len() <= presentation::MAX_CONTROLS);
            for b in buttons {
                assert!(!b.text.trim().is_empty());
                match &b.action {
                    ButtonAction::Callback(v) | ButtonAction::Command(v) => {
                        assert!(!v.is_empty() && v.len() <= 64, "{v:?}");
                        assert!(!v.chars().any(char::is_control), "{v:?}");
                        assert!(!presentation::is_reserved(v), "{v:?}");
                        // The command a press would run (its name up to a space or `@`).
                        let name = v.strip_prefix('/').and_then(|c| {
                            c.split(|ch: char| ch.is_whitespace() || ch == '@').next()
                        });
                        assert!(
                            !name.is_some_and(|n| n.eq_ignore_ascii_case("approve")),
                            "{v:?}"
                        );
                    }
                    ButtonAction::Url(u) => {
                        let l = u.to_ascii_lowercase();
                        assert!(
                            l.starts_with("https://")
                                || l.starts_with("http://")
                                || l.starts_with("tg://"),
                            "{u:?}"
                        );
                    }
                    ButtonAction::WebApp(u) => {
                        assert!(u.to_ascii_lowercase().starts_with("https://"), "{u:?}")
                    }
                }
            }
        }
    }
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
            MessageOp::Edit {
                message_id,
                text,
                buttons,
            } => {
                assert!(message_id > 0);
                assert!(!text.trim().is_empty() || buttons.is_some(), "{text:?}");
            }
            MessageOp::Delete { message_id }
            | MessageOp::Pin { message_id, .. }
            | MessageOp::Unpin { message_id } => assert!(message_id > 0),
            MessageOp::Location {
                latitude,
                longitude,
                accuracy,
                venue,
                ..
            } => {
                assert!(latitude.is_finite() && latitude.abs() <= 90.0);
                assert!(longitude.is_finite() && longitude.abs() <= 180.0);
                assert!(accuracy.is_none_or(|a| (0.0..=1500.0).contains(&a)));
                if let Some((name, address)) = venue {
                    assert!(!name.is_empty() && name.chars().count() <= 256);
                    assert!(!address.is_empty() && address.chars().count() <= 256);
                }
            }
            MessageOp::Poll { .. } | MessageOp::Send => {}
        }
    }
});
