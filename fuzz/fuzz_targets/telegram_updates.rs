//! The Telegram update decoder: a `getUpdates` response body (any bytes) through the
//! client's decoder (`decode_get_updates`: envelope, then update by update), and every
//! decoded message through the group addressing logic (`addressed_to`: mentions by
//! entity — UTF-16 offsets a stranger controls — and by word, replies, commands), then the
//! chat-command parser (`/new`, `/stop`, abort words) on the text the agent would get, and
//! the media picker (`inbound_media`: at most one photo size, the largest that may be
//! downloaded when there is one).
//! Then the group admission (`channels.telegram.groups` with topics: the chat and thread
//! ids a stranger sends) and the mention patterns (`messages.groupChat.mentionPatterns`,
//! matched on the stranger's text).
//! Nothing may panic, and a decoded update keeps its `update_id` so the offset can advance
//! past it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::channel::telegram::GroupPolicy;
use openclaw::actors::channel::telegram::api::TgUser;
use openclaw::actors::channel::telegram::groups::{GroupRule, GroupRules, MentionPatterns};
use openclaw::actors::channel::telegram::{MAX_DOWNLOAD_BYTES, addressed_to, inbound_media};
use openclaw::actors::registry::chat_commands;
use openclaw::clients::telegram::decode_get_updates;

/// Fixed group rules and patterns (built once).
fn rules() -> &'static (GroupRules, MentionPatterns) {
    static RULES: std::sync::OnceLock<(GroupRules, MentionPatterns)> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        let mut group = GroupRule {
            require_mention: Some(false),
            allow_from: Some(vec!["42".into(), "*".into()]),
            ..Default::default()
        };
        group.topics.insert(
            7,
            GroupRule {
                policy: Some(GroupPolicy::Disabled),
                ..Default::default()
            },
        );
        group.any_topic = Some(Box::new(GroupRule {
            enabled: Some(false),
            ..Default::default()
        }));
        let mut rules = GroupRules::default();
        rules.by_chat.insert(-100, group);
        rules.any = Some(GroupRule::default());
        let patterns = MentionPatterns::compile(
            &[
                r"\bclaw\b".to_owned(),
                "(a+)+$".to_owned(),
                "кл[оа]у".to_owned(),
            ],
            &mut Vec::new(),
        );
        (rules, patterns)
    })
}

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
            let (rules, patterns) = rules();
            let _ = patterns.matches(&text);
            let owner = ["1".to_owned()];
            let admission = rules.admission(
                msg.chat.id,
                msg.message_thread_id,
                GroupPolicy::Allowlist,
                &[],
                &owner,
            );
            assert!(admission.is_some(), "\"*\" lists every group");
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
