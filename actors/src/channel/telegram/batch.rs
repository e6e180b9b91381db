//! Inbound burst batching (OpenClaw's inbound debouncing, on by default for Telegram):
//! text messages one sender sends in quick succession in one chat (and topic) become one
//! agent turn. A message waits until its sender has been quiet for the window
//! (`messages.inbound.byChannel.telegram`, else `messages.inbound.debounceMs`, default
//! 300 ms; `0` turns it off), 1.5 s at least when a message of 4000+ characters (a long
//! paste Telegram split) is in the batch; a batch closes at 12 messages, 50 000
//! characters or 7.5 s after its first message (or the window, if longer).
//!
//! Messages with media, chat commands and messages of other senders or chats do not wait:
//! they first close the batch their own key has open, so a chat's order holds. The turn is
//! the last message (its id and its reply target, as in OpenClaw) with the texts joined by
//! a newline; the other messages are completed with it. Each message stays in the pending
//! list on its own, so after a crash they are handed over (and batched) again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::TelegramChannel;
use crate::channel::InboundMessage;

/// Telegram's quiet window when the config sets none.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(300);
/// The window while a long paste (a message of [`LONG_PASTE_CHARS`]+) is in the batch.
pub const LONG_PASTE_WINDOW: Duration = Duration::from_millis(1500);
/// A message this long is likely a paste Telegram split.
pub const LONG_PASTE_CHARS: usize = 4000;
/// At most this many messages in a batch.
pub const MAX_MESSAGES: usize = 12;
/// At most this many characters in a batch.
pub const MAX_CHARS: usize = 50_000;
/// A batch closes this long after its first message at the latest (or its window).
pub const MAX_WAIT: Duration = Duration::from_millis(7500);

/// (chat, topic, sender).
type Key = (i64, Option<i64>, i64);

/// The open batches, and the messages completed with each batched turn.
#[derive(Default)]
pub(super) struct Batches {
    open: HashMap<Key, Open>,
    /// Turn id → the ids of the other messages of its batch.
    companions: HashMap<String, Vec<String>>,
}

struct Open {
    msgs: Vec<InboundMessage>,
    chars: usize,
    first_at: Instant,
    long_paste: bool,
    timer: SpawnHandle,
}

impl Batches {
    /// The messages answered by turn `id`: itself and its batch companions (forgotten).
    pub(super) fn completed_by(&mut self, id: &str) -> Vec<String> {
        let mut ids = self.companions.remove(id).unwrap_or_default();
        ids.push(id.to_owned());
        ids
    }
}

impl TelegramChannel {
    /// Hands `m` over now, or adds it to its sender's batch (see the module doc).
    pub(super) fn batch_or_hand_over(&mut self, m: InboundMessage, ctx: &mut Context<Self>) {
        let key = (m.chat_id, m.thread_id, m.sender_id);
        let chars = m.text.chars().count();
        let long = chars >= LONG_PASTE_CHARS;
        let batchable = m.media.is_empty()
            && !m.text.trim().is_empty()
            && crate::registry::chat_commands::parse(&m.text).is_none();
        let window = self.cfg.inbound_window;
        if !batchable || (window.is_zero() && !long && !self.batches.open.contains_key(&key)) {
            self.close_batch(key, ctx);
            return self.hand_over(m, ctx);
        }
        if let Some(open) = self.batches.open.get(&key)
            && (open.msgs.len() >= MAX_MESSAGES || open.chars + chars > MAX_CHARS)
        {
            self.close_batch(key, ctx);
        }
        let now = Instant::now();
        let mut m = Some(m);
        let (first_at, long_paste) = match self.batches.open.get_mut(&key) {
            Some(open) => {
                ctx.cancel_future(open.timer);
                open.msgs.extend(m.take());
                open.chars += chars;
                open.long_paste |= long;
                (open.first_at, open.long_paste)
            }
            None => (now, long),
        };
        let quiet = if long_paste {
            window.max(LONG_PASTE_WINDOW)
        } else {
            window
        };
        let deadline = first_at + MAX_WAIT.max(quiet);
        let wait = quiet.min(deadline.saturating_duration_since(now));
        let timer = ctx.run_later(wait, move |act, ctx| act.close_batch(key, ctx));
        match self.batches.open.get_mut(&key) {
            Some(open) => open.timer = timer,
            None => {
                self.batches.open.insert(
                    key,
                    Open {
                        msgs: m.into_iter().collect(),
                        chars,
                        first_at,
                        long_paste,
                        timer,
                    },
                );
            }
        }
        let full = self
            .batches
            .open
            .get(&key)
            .is_some_and(|o| o.msgs.len() >= MAX_MESSAGES || o.chars >= MAX_CHARS);
        if full {
            self.close_batch(key, ctx);
        }
    }

    /// Hands the batch of `key` over as one turn (if one is open).
    fn close_batch(&mut self, key: Key, ctx: &mut Context<Self>) {
        let Some(open) = self.batches.open.remove(&key) else {
            return;
        };
        ctx.cancel_future(open.timer);
        let mut msgs = open.msgs;
        let Some(mut turn) = msgs.pop() else {
            return;
        };
        if !msgs.is_empty() {
            let mut text = String::with_capacity(open.chars + msgs.len() * 2);
            let mut history = Vec::new();
            for m in &mut msgs {
                text.push_str(&m.text);
                text.push('\n');
                history.append(&mut m.history);
            }
            text.push_str(&turn.text);
            turn.text = text;
            history.append(&mut turn.history);
            turn.history = history;
            self.batches
                .companions
                .insert(turn.id.clone(), msgs.into_iter().map(|m| m.id).collect());
        }
        self.hand_over(turn, ctx);
    }
}
