//! What an app sends about itself and what a session list asks
//! (`openclaw_actors::registry::beacons`, `registry::previews`, `ws_session`): `system-event`
//! params and beacons merged into presence, the older one-line `Node: …` form, `talk.mode`
//! params, and the preview cut of a message. Nothing may panic; on top of that:
//!
//! - an accepted `system-event` has a trimmed, non-empty text of at most 16 000 characters,
//!   every presence string at most 256 characters without control characters, every list at
//!   most 32 items; the row it lands in carries its text;
//! - however many beacons arrive, at most 200 rows are held and listed, the list is newest
//!   first, and the system event a `Node:` beacon queues starts `Node: ` and has no control
//!   characters;
//! - a one-line form that parses has a host without whitespace and non-empty parts of at
//!   most 256 characters without control characters (they become presence fields);
//! - an accepted `talk.mode` phase is at most 64 characters without control characters;
//! - a preview is the whole text, or a prefix of it and `...`, within 20..=800 UTF-16 units
//!   of what was asked.
//!
//! Input: JSON params (or, when not JSON, the text as `{"text": …}`); the first byte also
//! picks the preview length.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use openclaw::actors::registry::beacons::{Beacon, Beacons, TTL, node_event_text, parse_legacy};
use openclaw::actors::registry::presence::{MAX_ENTRIES, Presence};
use openclaw::actors::registry::previews::{MAX_CHARS, MIN_CHARS, cut};
use openclaw::actors::ws_session::{parse_system_event, parse_talk_mode};
use serde_json::{Value, json};

fn clean(s: &str, max: usize) -> bool {
    s.chars().count() <= max && !s.chars().any(char::is_control)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let params: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({"text": text}));

    // The preview cut.
    let asked = usize::from(data.first().copied().unwrap_or(0)) * 4;
    let c = cut(text, asked);
    let limit = asked.clamp(MIN_CHARS, MAX_CHARS);
    assert!(c.encode_utf16().count() <= limit, "{asked}: {c:?}");
    if c != text {
        let head = c.strip_suffix("...").expect("a cut ends with ...");
        assert!(text.starts_with(head), "{c:?}");
    }

    // The one-line form.
    if let Some(l) = parse_legacy(text) {
        let host = l.host.as_deref().unwrap_or_default();
        assert!(
            !host.is_empty() && !host.contains(char::is_whitespace),
            "{l:?}"
        );
        for part in [&l.host, &l.ip, &l.version, &l.mode, &l.reason] {
            assert!(
                part.as_deref()
                    .is_some_and(|p| !p.is_empty() && clean(p, 256)),
                "{l:?}"
            );
        }
    }

    // talk.mode.
    for webchat in [false, true] {
        if let Ok(m) = parse_talk_mode(&params, webchat) {
            assert_eq!(m.needs_talk_node, webchat);
            assert!(
                m.phase.as_deref().is_none_or(|p| clean(p, 64)),
                "{:?}",
                m.phase
            );
        }
    }

    // system-event, and the beacons it makes.
    let Ok(ev) = parse_system_event(&params) else {
        return;
    };
    let b = &ev.beacon;
    assert!(
        !b.text.is_empty() && b.text.trim() == b.text,
        "{:?}",
        b.text
    );
    assert!(b.text.chars().count() <= 16_000);
    for f in [
        &b.device_id,
        &b.instance_id,
        &b.host,
        &b.ip,
        &b.mode,
        &b.version,
        &b.platform,
        &b.device_family,
        &b.model_identifier,
        &b.reason,
    ] {
        assert!(
            f.as_deref().is_none_or(|s| clean(s, 256) && !s.is_empty()),
            "{f:?}"
        );
    }
    for l in [&b.roles, &b.scopes, &b.tags] {
        assert!(
            l.as_ref()
                .is_none_or(|l| l.len() <= 32 && l.iter().all(|s| clean(s, 256)))
        );
    }

    let mut beacons = Beacons::default();
    let mut presence: Presence<u8> = Presence::default();
    let t0 = Instant::now();
    let u = beacons.update(b, t0, 1);
    assert_eq!(u.entry.text, b.text);
    presence.beacon(b, t0, 1);
    if let Some(event) = node_event_text(&u) {
        assert!(event.starts_with("Node: "), "{event:?}");
        assert!(!event.chars().any(char::is_control), "{event:?}");
    }
    // A flood of variants of it: bounded, newest first.
    for i in 0..(MAX_ENTRIES + 20) {
        let v = Beacon {
            instance_id: Some(format!("{}-{i}", b.instance_id.as_deref().unwrap_or("i"))),
            device_id: None,
            ..b.clone()
        };
        let at = t0 + Duration::from_millis(i as u64);
        beacons.update(&v, at, i as u64 + 2);
        presence.beacon(&v, at, i as u64 + 2);
    }
    let now = t0 + Duration::from_secs(1);
    assert!(beacons.all_live(now).count() <= MAX_ENTRIES);
    let list = presence.entries_at(now);
    assert!(list.len() < MAX_ENTRIES);
    assert!(list.windows(2).all(|w| w[0].ts >= w[1].ts));
    // All gone once their time is up.
    assert!(presence.entries_at(now + TTL * 2).is_empty());
});
