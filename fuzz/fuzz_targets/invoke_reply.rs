//! A node's answer to `node.invoke` (any bytes as its `payloadJSON`, and the same text as a
//! parsed `payload` when it is JSON) through `InvokeReply`, which holds it as JSON text
//! instead of a `Value`. Nothing may panic, the answer written to the operator must always
//! parse, carry `payloadJSON` exactly as sent, and carry as `payload` what a `Value` parse
//! gives (unpaired surrogate escapes replaced, as in every frame we read; or
//! `{"payloadJSON": text}` for text that is not JSON). Media in it (`base64`) is decoded
//! within bounds and typed by its bytes (`media::extract`); the same text as an operator's
//! `attachments` and `send` file is bounded and yields only safe names and types; as a
//! transcript or an answer to speak, it is cut on characters within bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::node_session::InvokeReply;
use openclaw::actors::protocol::frame::replace_lone_surrogates;
use openclaw::actors::{hearing, media, speech};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // What every frame we read gets: unpaired surrogate escapes become U+FFFD.
    let parsed: Option<Value> = serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&replace_lone_surrogates(text)?).ok());
    let reply = InvokeReply::new("node-1", "camera.snap", Some(text.to_owned()), None);
    let answer = serde_json::to_string(&reply).expect("an answer always serializes");
    let back: Value = serde_json::from_str(&answer).expect("the answer always parses");
    assert_eq!(back["payloadJSON"], text, "payloadJSON as sent");
    let want = parsed
        .clone()
        .unwrap_or_else(|| json!({ "payloadJSON": text }));
    assert_eq!(back["payload"], want);
    assert_eq!(reply.payload_value(), want);
    assert_eq!(back["ok"], true);
    assert!(reply.size() >= text.len());
    // Media in the answer (a `base64` field): decoded within bounds and typed by its bytes.
    if let Some(Ok(m)) = media::extract(&reply.payload_value()) {
        assert!(m.data.len() <= media::MAX_MEDIA_BYTES);
        assert_eq!(media::sniff(&m.data), Some((m.mime, m.ext, m.kind)));
    }
    // The same text as an operator's `attachments` and as `send`'s buffer, name and type.
    if let Ok(uploads) = media::parse_uploads(parsed.as_ref()) {
        assert!(uploads.len() <= media::MAX_ATTACHMENTS);
        for u in uploads {
            assert!(u.data.len() <= media::MAX_UPLOAD_IMAGE_BYTES);
            let typed = if u.kind == media::MediaKind::Audio {
                hearing::sniff_audio(&u.data, true).map(|s| s.0)
            } else {
                media::sniff(&u.data).map(|s| s.0)
            };
            assert_eq!(typed, Some(u.mime.as_str()));
        }
    }
    // The same text as a transcript and as an answer to speak: cut on characters, within
    // bounds, never empty when spoken.
    let cut = hearing::cut(text, Some(64));
    assert!(cut.chars().count() <= 64 && text.contains(cut.as_str()));
    if let Some(spoken) = speech::speakable(text, 40) {
        assert!(spoken.chars().count() <= 41, "{spoken:?}");
        assert!(spoken.chars().count() >= speech::MIN_SPOKEN_CHARS.min(41));
    }
    if let Ok(f) = media::parse_send_file(text, Some(text), Some(text), text.len() % 2 == 0) {
        assert!(!f.data.is_empty() && f.data.len() <= media::MAX_MEDIA_BYTES);
        let safe = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        assert!(
            safe(&f.file_name) && !f.file_name.starts_with('.'),
            "{:?}",
            f.file_name
        );
        assert!(safe(&f.ext), "{:?}", f.ext);
        assert!(!f.mime.contains(['\r', '\n', '"', ';']), "{:?}", f.mime);
    }
    // The node may send the value itself (`payload`, no `payloadJSON`).
    if let Some(v) = parsed {
        let reply = InvokeReply::new("node-1", "camera.snap", None, Some(v.clone()));
        let answer = serde_json::to_string(&reply).expect("serializes");
        let back: Value = serde_json::from_str(&answer).expect("parses");
        assert_eq!(back["payload"], v);
        assert_eq!(back["payloadJSON"], Value::Null);
    }
});
