//! The Telegram update decoder: a `getUpdates` response body (any bytes) through the
//! client's decoder (`decode_get_updates`: envelope, then update by update), and every
//! decoded message through the group addressing logic (`addressed_to`: mentions by
//! entity — UTF-16 offsets a stranger controls — and by word, replies, commands), then the
//! chat-command parser (`/new`, `/stop`, abort words) on the text the agent would get, and
//! the media picker (`inbound_media`: at most one photo size, the largest that may be
//! downloaded when there is one).
//! Nothing may panic, and a decoded update keeps its `update_id` so the offset can advance
//! past it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::channel::telegram::api::TgUser;
use openclaw::actors::channel::telegram::{MAX_DOWNLOAD_BYTES, addressed_to, inbound_media};
use openclaw::actors::registry::chat_commands;
use openclaw::clients::telegram::decode_get_updates;

fuzz_target!(|data: &[u8]| {
    let Ok(updates) = decode_get_updates(data) else {
        return;
    };
    let me = TgUser {
        id: 777_002,
        is_bot: true,
        first_name: "Claw".into(),
        username: Some("claw_bot".into()),
    };
    for u in &updates {
        if let Some(msg) = &u.message {
            let text = msg
                .text
                .clone()
                .or_else(|| msg.caption.clone())
                .unwrap_or_default();
            let _ = chat_commands::parse(&text);
            let media = inbound_media(msg);
            let photos: Vec<_> = media.iter().filter(|m| m.kind == "photo").collect();
            assert_eq!(
                photos.len(),
                usize::from(msg.photo.as_ref().is_some_and(|p| !p.is_empty()))
            );
            if let (Some(p), Some(sizes)) = (photos.first(), &msg.photo) {
                let fits = |n: Option<u64>| n.is_none_or(|n| n <= MAX_DOWNLOAD_BYTES as u64);
                assert!(sizes.iter().any(|s| Some(&s.file_id) == p.file_id.as_ref()));
                if sizes.iter().any(|s| fits(s.file_size)) {
                    assert!(fits(p.file_size), "a size that fits was there");
                }
            }
            assert!(media.len() <= 7);
            if let Some(stripped) = addressed_to(&me, msg, &text) {
                assert!(
                    stripped.len() <= text.len(),
                    "stripping made the text longer"
                );
                if let Some(chat_commands::ChatCommand::Reset { rest, .. }) =
                    chat_commands::parse(&stripped)
                {
                    assert!(rest.len() < stripped.len(), "the rest is inside the text");
                }
            }
        }
    }
});
