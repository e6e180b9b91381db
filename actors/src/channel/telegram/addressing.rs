//! Group addressing: whether a group message is meant for the bot, and its text without
//! the mention.

use super::api::{TgEntity, TgMessage, TgUser};

/// Telegram sends at most 100 entities per message; more are ignored.
const MAX_ENTITIES: usize = 100;

/// Whether a group message is addressed to the bot `me` — a reply to one of its messages,
/// or a mention of it — and if so the text with every mention of the bot removed.
///
/// Mentions are found through Telegram's entities (`mention` `@name`, `text_mention` of the
/// bot's id, `bot_command` `/cmd@name`; offsets and lengths in UTF-16 units, checked
/// against the text: an entity that is out of range or splits a character is ignored).
/// Only a message without any usable entity falls back to the text: `@name` (ASCII
/// case-insensitive, as usernames are ASCII) not preceded or followed by a username
/// character, so `@bot` never matches `@bot2` or `x@bot`. Never panics, whatever the text
/// and entities.
pub fn addressed_to(me: &TgUser, msg: &TgMessage, text: &str) -> Option<String> {
    let replied = msg
        .reply_to_message
        .as_ref()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|u| u.id == me.id);
    let entities = if msg.text.is_some() {
        msg.entities.as_deref()
    } else {
        msg.caption_entities.as_deref()
    };
    let ranges = mention_ranges(me, text, entities.unwrap_or_default());
    if ranges.is_empty() && !replied {
        return None;
    }
    Some(strip_ranges(text, ranges))
}

/// Byte ranges of `text` that mention `me`.
fn mention_ranges(me: &TgUser, text: &str, entities: &[TgEntity]) -> Vec<std::ops::Range<usize>> {
    let username = me.username.as_deref().filter(|u| !u.is_empty());
    let located: Vec<(&TgEntity, std::ops::Range<usize>)> = entities
        .iter()
        .take(MAX_ENTITIES)
        .filter_map(|e| utf16_range(text, e.offset, e.length).map(|r| (e, r)))
        .collect();
    if located.is_empty() {
        return username.map(|u| word_mentions(text, u)).unwrap_or_default();
    }
    let mut out = Vec::new();
    for (e, r) in located {
        let Some(slice) = text.get(r.clone()) else {
            continue;
        };
        match e.kind.as_str() {
            "mention" => {
                if let (Some(u), Some(name)) = (username, slice.strip_prefix('@'))
                    && name.eq_ignore_ascii_case(u)
                {
                    out.push(r);
                }
            }
            "text_mention" if e.user.as_ref().is_some_and(|u| u.id == me.id) => {
                out.push(r);
            }
            "bot_command" => {
                // `/cmd@name`: addressed when `name` is the bot; only `@name` is removed.
                if let (Some(u), Some(at)) = (username, slice.find('@'))
                    && slice[at + 1..].eq_ignore_ascii_case(u)
                {
                    out.push(r.start + at..r.end);
                }
            }
            _ => {}
        }
    }
    out
}

/// The byte range of the UTF-16 range `offset .. offset + length` of `text`, when both ends
/// fall on character boundaries within the text (and `length > 0`).
fn utf16_range(text: &str, offset: i64, length: i64) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let len = usize::try_from(length).ok().filter(|l| *l > 0)?;
    let end = start.checked_add(len)?;
    let mut units = 0usize;
    let mut byte_start = None;
    for (i, c) in text.char_indices() {
        if units == start {
            byte_start = Some(i);
        }
        if units == end {
            return Some(byte_start?..i);
        }
        if units > end {
            return None;
        }
        units += c.len_utf16();
    }
    (units == end).then_some(byte_start?..text.len())
}

/// Username characters (`[A-Za-z0-9_]`).
fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `@username` occurrences in `text` standing as a word of their own.
fn word_mentions(text: &str, username: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0usize;
    while let Some(p) = text.get(from..).and_then(|t| t.find('@')) {
        let at = from + p;
        let end = at + 1 + username.len();
        let matches = bytes
            .get(at + 1..end)
            .is_some_and(|b| b.eq_ignore_ascii_case(username.as_bytes()))
            && text.is_char_boundary(end);
        let before_ok = text
            .get(..at)
            .and_then(|h| h.chars().next_back())
            .is_none_or(|c| !is_username_char(c));
        let after_ok = matches
            && text
                .get(end..)
                .and_then(|t| t.chars().next())
                .is_none_or(|c| !is_username_char(c));
        if matches && before_ok && after_ok {
            out.push(at..end);
            from = end;
        } else {
            from = at + 1; // '@' is one byte: still a character boundary
        }
    }
    out
}

/// `text` without `ranges` (valid, possibly overlapping byte ranges), trimmed.
fn strip_ranges(text: &str, mut ranges: Vec<std::ops::Range<usize>>) -> String {
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut pos = 0usize;
    for r in ranges {
        if r.end <= pos {
            continue;
        }
        let start = r.start.max(pos);
        if let Some(kept) = text.get(pos..start) {
            out.push_str(kept);
        }
        pos = r.end;
    }
    if let Some(kept) = text.get(pos..) {
        out.push_str(kept);
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::api::TgChat;
    use crate::channel::testgen;

    const BOT: &str = "openclaw_test_bot";

    fn me() -> TgUser {
        TgUser {
            id: 4242,
            is_bot: true,
            first_name: "Bot".into(),
            username: Some(BOT.into()),
        }
    }

    fn entity(kind: &str, offset: i64, length: i64) -> TgEntity {
        TgEntity {
            kind: kind.into(),
            offset,
            length,
            user: None,
        }
    }

    /// Entities as Telegram computes them: `@word` mentions, a leading `/command`.
    fn telegram_entities(text: &str) -> Vec<TgEntity> {
        let mut out = Vec::new();
        let mut offset = 0i64;
        let mut word: Option<(i64, String)> = None;
        let mut flush = |word: &mut Option<(i64, String)>| {
            if let Some((start, w)) = word.take() {
                let len = w.encode_utf16().count() as i64;
                if w.starts_with('@') && len > 1 {
                    out.push(entity("mention", start, len));
                } else if w.starts_with('/') && start == 0 && len > 1 {
                    out.push(entity("bot_command", start, len));
                }
            }
        };
        for c in text.chars() {
            if c.is_whitespace() {
                flush(&mut word);
            } else {
                word.get_or_insert_with(|| (offset, String::new()))
                    .1
                    .push(c);
            }
            offset += c.len_utf16() as i64;
        }
        flush(&mut word);
        out
    }

    fn group_msg(text: &str, entities: Option<Vec<TgEntity>>) -> TgMessage {
        TgMessage {
            message_id: 1,
            message_thread_id: None,
            from: Some(TgUser {
                id: 7,
                is_bot: false,
                first_name: "u".into(),
                username: None,
            }),
            chat: TgChat {
                id: -1,
                kind: "supergroup".into(),
                title: None,
            },
            date: 0,
            text: Some(text.to_owned()),
            caption: None,
            entities,
            caption_entities: None,
            reply_to_message: None,
            ..Default::default()
        }
    }

    fn addressed(text: &str, with_entities: bool) -> Option<String> {
        let ents = with_entities.then(|| telegram_entities(text));
        addressed_to(&me(), &group_msg(text, ents), text)
    }

    /// The panic of issue 7: a mention after characters whose lowercase has another length.
    #[test]
    fn mention_after_kelvin_sign_and_dotted_i_does_not_panic() {
        for prefix in ["K", "İ", "KKKİİİ", "İstanbul", "ẞ ſ ﬃ"] {
            let text = format!("{prefix} @{BOT} hello");
            for with in [true, false] {
                assert_eq!(
                    addressed(&text, with).as_deref(),
                    Some(format!("{prefix}  hello").as_str()),
                    "{text:?} entities={with}"
                );
            }
        }
        // Uppercase handle after an astral emoji (UTF-16 offset ≠ char offset ≠ byte offset).
        let text = "👨‍👩‍👧 @OpenClaw_Test_Bot what's up";
        assert_eq!(addressed(text, true).as_deref(), Some("👨‍👩‍👧  what's up"));
        assert_eq!(addressed(text, false).as_deref(), Some("👨‍👩‍👧  what's up"));
    }

    #[test]
    fn a_longer_username_is_not_a_mention() {
        for text in [
            format!("@{BOT}2 hi"),
            format!("hi @{BOT}_x"),
            format!("mail me at me@{BOT}"),
            format!("@{BOT}é"),
        ] {
            let with = telegram_entities(&text);
            assert_eq!(addressed(&text, true), None, "{text:?}");
            if !text.ends_with('é') {
                assert_eq!(addressed(&text, false), None, "{text:?} (no entities)");
            }
            drop(with);
        }
        // Followed by punctuation it is a mention.
        assert_eq!(
            addressed(&format!("@{BOT}, hi"), false).as_deref(),
            Some(", hi")
        );
    }

    #[test]
    fn text_mention_bot_command_and_reply() {
        let text = "Bot look";
        let mut e = entity("text_mention", 0, 3);
        e.user = Some(me());
        let m = group_msg(text, Some(vec![e]));
        assert_eq!(addressed_to(&me(), &m, text).as_deref(), Some("look"));

        let text = format!("/status@{BOT} now");
        assert_eq!(addressed(&text, true).as_deref(), Some("/status now"));
        let other = "/status@other_bot now";
        assert_eq!(addressed(other, true), None);

        // A reply to the bot is addressed without a mention; text unchanged.
        let mut m = group_msg("and you?", None);
        let mut earlier = group_msg("earlier", None);
        earlier.from = Some(me());
        m.reply_to_message = Some(Box::new(earlier));
        assert_eq!(
            addressed_to(&me(), &m, "and you?").as_deref(),
            Some("and you?")
        );

        // Entities of a caption are `caption_entities`.
        let caption = format!("pic for @{BOT}");
        let mut m = group_msg("", None);
        m.text = None;
        m.caption = Some(caption.clone());
        m.caption_entities = Some(telegram_entities(&caption));
        assert_eq!(
            addressed_to(&me(), &m, &caption).as_deref(),
            Some("pic for")
        );
    }

    #[test]
    fn bogus_entities_are_ignored() {
        let text = format!("😀 @{BOT} hi");
        let bogus = vec![
            entity("mention", 1, 5),        // inside the surrogate pair
            entity("mention", -3, 10),      // negative
            entity("mention", 3, 0),        // empty
            entity("mention", 3, i64::MAX), // overflow
            entity("mention", i64::MAX, 1),
            entity("mention", 100, 5), // past the end
            entity("mention", 0, 2),   // the emoji, not a handle
        ];
        // Only the emoji entity is usable: it is not the bot, so not addressed.
        let m = group_msg(&text, Some(bogus.clone()));
        assert_eq!(addressed_to(&me(), &m, &text), None);
        // Without a usable entity, the text fallback applies.
        let m = group_msg(&text, Some(bogus[..6].to_vec()));
        assert_eq!(addressed_to(&me(), &m, &text).as_deref(), Some("😀  hi"));
        assert_eq!(utf16_range("😀a", 0, 2), Some(0..4));
        assert_eq!(utf16_range("😀a", 2, 1), Some(4..5));
        assert_eq!(utf16_range("😀a", 1, 2), None);
        assert_eq!(utf16_range("😀a", 0, 4), None);
    }

    /// Property: no text or entity list panics group addressing, and a correctly marked
    /// mention of the bot between random texts is always found and removed.
    #[test]
    fn addressing_property_random_unicode_and_entities() {
        let mut rng = testgen::Rng::new(0x7e1e_6a11);
        let extra = [
            "@openclaw_test_bot",
            "@OPENCLAW_TEST_BOT",
            "@openclaw_test_bot2",
            "x@openclaw_test_bot",
            "/start@openclaw_test_bot",
            "@",
        ];
        let kinds = ["mention", "text_mention", "bot_command", "bold", "url"];
        for round in 0..20_000 {
            let text = testgen::text(&mut rng, 24, &extra);
            let units = text.encode_utf16().count() as i64;
            let mut ents = if rng.below(2) == 0 {
                telegram_entities(&text)
            } else {
                Vec::new()
            };
            for _ in 0..rng.below(4) {
                let pick = |r: &mut testgen::Rng| match r.below(6) {
                    0 => i64::MAX,
                    1 => i64::MIN,
                    2 => -(r.below(5) as i64),
                    _ => r.below(units as usize + 6) as i64,
                };
                let mut e = entity(
                    kinds[rng.below(kinds.len())],
                    pick(&mut rng),
                    pick(&mut rng),
                );
                if rng.below(2) == 0 {
                    e.user = Some(me());
                }
                ents.push(e);
            }
            let mut m = group_msg(&text, Some(ents));
            if rng.below(8) == 0 {
                m.text = None;
                m.caption = Some(text.clone());
                m.caption_entities = m.entities.take();
            }
            let _ = addressed_to(&me(), &m, &text);

            // A real mention between two texts without '@' is found and removed.
            let a = testgen::text(&mut rng, 8, &[]).replace('@', "");
            let b = testgen::text(&mut rng, 8, &[]).replace('@', "");
            let text = format!("{a} @{BOT} {b}");
            let expected = format!("{a}  {b}").trim().to_owned();
            for with in [true, false] {
                assert_eq!(
                    addressed(&text, with).as_deref(),
                    Some(expected.as_str()),
                    "round {round}: {text:?} entities={with}"
                );
            }
        }
    }
}
