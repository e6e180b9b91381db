//! Group history context (OpenClaw's `historyLimit`, default 50): the messages of an
//! allowed group that did not address the bot are remembered (in memory, per chat and
//! topic), and the next message that addresses it carries them, so the agent knows what
//! the group was talking about. They go with that message (kept with it while it is
//! pending) and are then forgotten: each turn sees the messages since the last one. Only
//! messages that pass the group policy are remembered; the agent gets them in OpenClaw's
//! markers ([`crate::channel::with_history`]).

use std::collections::{HashMap, VecDeque};

use crate::channel::InboundMessage;

/// Default remembered messages per chat (`historyLimit`).
pub const DEFAULT_LIMIT: usize = 50;
/// The most `historyLimit` can be.
pub const MAX_LIMIT: usize = 200;
/// Chats (and topics) remembered at once; the least recently active goes first.
const MAX_CHATS: usize = 128;
/// One remembered message is cut to this many characters.
const MAX_LINE_CHARS: usize = 500;
/// What one turn carries at most, in bytes (the newest lines win).
const MAX_CARRIED_CHARS: usize = 16_000;

type Key = (i64, Option<i64>);

/// The remembered messages.
#[derive(Default)]
pub(super) struct GroupHistory {
    chats: HashMap<Key, (u64, VecDeque<String>)>,
    tick: u64,
}

impl GroupHistory {
    /// Remembers `m` (a group message that did not address the bot), at most `limit` per
    /// chat.
    pub(super) fn observe(&mut self, m: &InboundMessage, limit: usize) {
        if limit == 0 || m.text.trim().is_empty() {
            return;
        }
        self.tick += 1;
        let key = (m.chat_id, m.thread_id);
        if !self.chats.contains_key(&key) && self.chats.len() >= MAX_CHATS {
            let oldest = self
                .chats
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.chats.remove(&k);
            }
        }
        let (tick, lines) = self.chats.entry(key).or_default();
        *tick = self.tick;
        lines.push_back(line(m));
        while lines.len() > limit {
            lines.pop_front();
        }
    }

    /// What the turn `m` carries: the chat's remembered messages (then forgotten), newest
    /// kept within [`MAX_CARRIED_CHARS`].
    pub(super) fn take(&mut self, m: &InboundMessage) -> Vec<String> {
        let Some((_, lines)) = self.chats.remove(&(m.chat_id, m.thread_id)) else {
            return Vec::new();
        };
        let mut total = 0;
        let mut out: Vec<String> = lines
            .into_iter()
            .rev()
            .take_while(|l| {
                total += l.len();
                total <= MAX_CARRIED_CHARS
            })
            .collect();
        out.reverse();
        out
    }
}

/// `Name (@user): text` on one line, cut to [`MAX_LINE_CHARS`].
fn line(m: &InboundMessage) -> String {
    let name = if m.sender_name.trim().is_empty() {
        m.sender_id.to_string()
    } else {
        m.sender_name.trim().to_owned()
    };
    let who = match &m.sender_username {
        Some(u) => format!("{name} (@{u})"),
        None => name,
    };
    let text: String = crate::channel::progress::clean(&m.text)
        .chars()
        .take(MAX_LINE_CHARS)
        .collect();
    format!("{who}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(chat: i64, from: &str, text: &str) -> InboundMessage {
        InboundMessage {
            chat_id: chat,
            chat_type: "group".into(),
            sender_name: from.into(),
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn remembers_per_chat_within_the_limit_and_forgets_once_taken() {
        let mut h = GroupHistory::default();
        for i in 0..5 {
            h.observe(&msg(-1, "Ann", &format!("m{i}\nnext")), 3);
        }
        h.observe(&msg(-2, "Bob", "elsewhere"), 3);
        assert_eq!(
            h.take(&msg(-1, "Cy", "?")),
            ["Ann: m2 next", "Ann: m3 next", "Ann: m4 next"]
        );
        assert!(
            h.take(&msg(-1, "Cy", "?")).is_empty(),
            "since the last turn only"
        );
        assert_eq!(h.take(&msg(-2, "Cy", "?")), ["Bob: elsewhere"]);
        h.observe(&msg(-3, "Ann", "x"), 0);
        assert!(h.take(&msg(-3, "Cy", "?")).is_empty(), "limit 0: nothing");
    }

    #[test]
    fn stays_bounded_in_chats_and_characters() {
        let mut h = GroupHistory::default();
        for chat in 0..(MAX_CHATS as i64 + 10) {
            h.observe(&msg(-chat - 1, "Ann", "hi"), 50);
        }
        assert_eq!(h.chats.len(), MAX_CHATS);
        assert!(
            h.take(&msg(-1, "x", "?")).is_empty(),
            "the oldest chat went first"
        );
        let long = "🦀".repeat(5000);
        for _ in 0..50 {
            h.observe(&msg(-9999, "Ann", &long), 50);
        }
        let carried = h.take(&msg(-9999, "x", "?"));
        assert!(carried.iter().map(String::len).sum::<usize>() <= MAX_CARRIED_CHARS);
        assert!(!carried.is_empty());
        assert!(
            carried
                .iter()
                .all(|l| l.chars().count() <= MAX_LINE_CHARS + 5)
        );
    }
}
