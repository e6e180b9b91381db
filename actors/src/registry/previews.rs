//! `sessions.preview {keys, limit?, maxChars?}` (OpenClaw's `sessions-read.ts`): the last
//! few user and assistant messages of several sessions at once, each cut short, for a
//! session list or the macOS app's menu. A key with no session is `missing`, a session
//! with nothing to show `empty`, one whose transcript cannot be read `error`.
//!
//! Bounds: at most [`MAX_KEYS`] sessions per call (more are left out, as OpenClaw does),
//! [`MAX_ITEMS`] messages each, [`MAX_CHARS`] UTF-16 units per message, and the last
//! [`READ_BYTES`] of each transcript read: one call holds at most 64 × 256 KiB of
//! transcript in memory, whatever the sessions' sizes.

use actix::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use super::Registry;
use super::runs::{HistoryMessage, transcript_name};
use crate::store::LoadLines;
use crate::util::now_ms;

/// Sessions previewed per call at most (OpenClaw's).
pub const MAX_KEYS: usize = 64;
/// Messages per session by default (OpenClaw's).
pub const DEFAULT_ITEMS: usize = 12;
/// Messages per session at most.
pub const MAX_ITEMS: usize = 100;
/// A message's preview by default, in UTF-16 units (OpenClaw's).
pub const DEFAULT_CHARS: usize = 240;
/// The shortest and longest preview of a message, in UTF-16 units (OpenClaw's).
pub const MIN_CHARS: usize = 20;
/// See [`MIN_CHARS`].
pub const MAX_CHARS: usize = 800;
/// How much of a transcript's end is read for its preview.
pub const READ_BYTES: u64 = 256 * 1024;

/// One previewed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewItem {
    /// `user` or `assistant`.
    pub role: &'static str,
    /// Its text, cut to the preview's length (`...` marks a cut).
    pub text: String,
}

/// `text` cut to `max` UTF-16 units (clamped to [`MIN_CHARS`]..=[`MAX_CHARS`]): whole, or
/// its first `max - 3` units (never half a character) and `...`.
pub fn cut(text: &str, max: usize) -> String {
    let max = max.clamp(MIN_CHARS, MAX_CHARS);
    if crate::channel::utf16_prefix_limit(text, max).is_none() {
        return text.to_owned();
    }
    let end = crate::channel::utf16_prefix_limit(text, max - 3).unwrap_or(text.len());
    let mut out = text.get(..end).unwrap_or_default().to_owned();
    out.push_str("...");
    out
}

/// The last `limit` shown user and assistant messages of transcript `lines`, oldest
/// first (the silent `NO_REPLY`, the heartbeat's prompts and acknowledgements, and empty
/// texts are not shown, as in `chat.history`).
pub fn preview_items(lines: &[Value], limit: usize, max_chars: usize) -> Vec<PreviewItem> {
    let mut items: Vec<PreviewItem> = lines
        .iter()
        .rev()
        .filter_map(|line| {
            let m = HistoryMessage::shown(line)?;
            let role = match m.role.as_ref().and_then(Value::as_str) {
                Some("user") => "user",
                Some("assistant") => "assistant",
                _ => return None,
            };
            let text = m.content.first()?.text.trim();
            (!text.is_empty()).then(|| PreviewItem {
                role,
                text: cut(text, max_chars),
            })
        })
        .take(limit)
        .collect();
    items.reverse();
    items
}

/// `sessions.preview`: answers `{ts, previews: [{key, status, items}]}` in the keys'
/// order.
#[derive(Message)]
#[rtype(result = "Value")]
pub struct SessionPreviews {
    /// Normalized session keys (at most [`MAX_KEYS`]).
    pub keys: Vec<String>,
    /// Messages per session (1..=[`MAX_ITEMS`]).
    pub limit: usize,
    /// A message's preview length in UTF-16 units.
    pub max_chars: usize,
}

impl Handler<SessionPreviews> for Registry {
    type Result = ResponseFuture<Value>;

    fn handle(&mut self, msg: SessionPreviews, _: &mut Self::Context) -> Self::Result {
        let (limit, max_chars) = (msg.limit.clamp(1, MAX_ITEMS), msg.max_chars);
        let reads: Vec<_> = msg
            .keys
            .into_iter()
            .take(MAX_KEYS)
            .map(|key| {
                let read = self.sessions_index.get(&key).map(|meta| {
                    self.store.send(LoadLines {
                        name: transcript_name(&key, &meta.session_id),
                        // Hidden lines (usage notes, compactions, heartbeats) are few.
                        limit: limit.saturating_mul(4).saturating_add(64),
                        max_bytes: READ_BYTES,
                    })
                });
                (key, read)
            })
            .collect();
        Box::pin(async move {
            let mut previews = Vec::with_capacity(reads.len());
            for (key, read) in reads {
                let (status, items) = match read {
                    None => ("missing", Vec::new()),
                    Some(read) => match read.await {
                        Ok(Ok(lines)) => {
                            let items = preview_items(&lines, limit, max_chars);
                            (if items.is_empty() { "empty" } else { "ok" }, items)
                        }
                        Ok(Err(e)) => {
                            log::warn!("sessions.preview: {e}");
                            ("error", Vec::new())
                        }
                        Err(_) => ("error", Vec::new()),
                    },
                };
                previews.push(json!({"key": key, "status": status, "items": items}));
            }
            json!({"ts": now_ms(), "previews": previews})
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, text: &str) -> Value {
        json!({"type": "message", "role": role, "content": text, "ts": 1})
    }

    #[test]
    fn previews_show_the_last_user_and_assistant_messages_cut_short() {
        let lines = vec![
            msg("user", "first"),
            msg("assistant", "one"),
            json!({"type": "usage", "tokens": 5}),
            msg("user", "  second  "),
            msg("assistant", "NO_REPLY"),
            msg("system", "not shown"),
            msg("assistant", "   "),
            msg("assistant", "two"),
        ];
        let items = preview_items(&lines, 3, DEFAULT_CHARS);
        let got: Vec<(&str, &str)> = items.iter().map(|i| (i.role, i.text.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("assistant", "one"),
                ("user", "second"),
                ("assistant", "two")
            ]
        );
        assert_eq!(preview_items(&lines, 100, DEFAULT_CHARS).len(), 4);
        assert!(preview_items(&[], 12, DEFAULT_CHARS).is_empty());
    }

    #[test]
    fn cuts_count_utf16_units_and_never_split_a_character() {
        assert_eq!(cut("short", 240), "short");
        let long = "a".repeat(300);
        let c = cut(&long, 240);
        assert_eq!(c.len(), 240);
        assert!(c.ends_with("..."));
        // Clamped: at least 20, at most 800 units.
        assert_eq!(cut(&long, 1).encode_utf16().count(), 20);
        assert_eq!(
            cut(&"b".repeat(5000), usize::MAX).encode_utf16().count(),
            800
        );
        // Each crab is 2 UTF-16 units: 30 of them (60 units) cut to 20 units keep 8 whole
        // crabs (16 units) and the marker.
        let crabs = "🦀".repeat(30);
        let c = cut(&crabs, 20);
        assert_eq!(c, format!("{}...", "🦀".repeat(8)));
        // Exactly at the limit: whole.
        let exact = "é".repeat(20);
        assert_eq!(cut(&exact, 20), exact);
    }
}
