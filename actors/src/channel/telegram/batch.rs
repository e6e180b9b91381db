//! Inbound burst batching (OpenClaw's inbound debouncing, on by default for Telegram):
//! text messages one sender sends in quick succession in one chat (and topic) become one
//! agent turn. A message waits until its sender has been quiet for the window
//! (`messages.inbound.byChannel.telegram`, else `messages.inbound.debounceMs`, default
//! 300 ms; `0` turns it off), 1.5 s at least when a message of 4000+ characters (a long
//! paste Telegram split) is in the batch; a batch closes at 12 messages, 50 000
//! characters or 7.5 s after its first message (or the window, if longer).
//!
//! Messages with media, chat commands and messages of other senders or chats do not wait:
//! they first close the batch their own key has open, so a chat's order holds.
//!
//! **Albums**: Telegram delivers each photo of an album as a message of its own, with the
//! caption on one of them. The parts of one album (`media_group_id`) from one sender wait
//! together until no part came for 500 ms (OpenClaw's `mediaGroupFlushMs`; whatever
//! `debounceMs` says), at most 10 parts or 7.5 s, and become one turn with all the photos
//! and the caption: one answer, not one per photo.
//!
//! The turn is the last message (its id and its reply target, as in OpenClaw) with the
//! texts joined by a newline and the media of all; the other messages are completed with
//! it. Each message stays in the pending list on its own, so after a crash they are handed
//! over (and batched) again.

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
/// An album's parts wait this long for the next one (OpenClaw's `mediaGroupFlushMs`).
pub const ALBUM_WINDOW: Duration = Duration::from_millis(500);
/// Telegram's largest album.
pub const MAX_ALBUM: usize = 10;

/// (chat, topic, sender, album).
type Key = (i64, Option<i64>, i64, Option<String>);

/// The open batches, and the messages completed with each batched turn.
#[derive(Default)]
pub(super) struct Batches {
    open: HashMap<Key, Open>,
    /// Turn id → the ids of the other messages of its batch.
    companions: HashMap<String, Vec<String>>,
    /// Group albums the bot took a part of: (chat, sender, album, when), newest last.
    albums: std::collections::VecDeque<(i64, i64, String, Instant)>,
}

/// How many taken group albums are remembered, and for how long.
const ALBUMS_KEPT: usize = 64;
const ALBUM_KEPT_FOR: Duration = Duration::from_secs(60);

struct Open {
    msgs: Vec<InboundMessage>,
    chars: usize,
    first_at: Instant,
    long_paste: bool,
    timer: SpawnHandle,
}

impl Batches {
    /// A part of `album` from `sender` in group `chat` was taken: its other parts are too
    /// (only one of them carries the caption that mentions the bot).
    pub(super) fn note_album(&mut self, chat: i64, sender: i64, album: &str) {
        if self.album_taken(chat, sender, album) {
            return;
        }
        if self.albums.len() >= ALBUMS_KEPT {
            self.albums.pop_front();
        }
        self.albums
            .push_back((chat, sender, album.to_owned(), Instant::now()));
    }

    /// Whether a part of `album` from `sender` in `chat` was taken in the last minute.
    pub(super) fn album_taken(&self, chat: i64, sender: i64, album: &str) -> bool {
        self.albums.iter().any(|(c, s, a, at)| {
            *c == chat && *s == sender && a == album && at.elapsed() < ALBUM_KEPT_FOR
        })
    }

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
        let key: Key = (m.chat_id, m.thread_id, m.sender_id, m.media_group.clone());
        // The sender's other batch (texts while an album waits, or the reverse) goes first.
        let others: Vec<Key> = self
            .batches
            .open
            .keys()
            .filter(|k| (k.0, k.1, k.2) == (key.0, key.1, key.2) && k.3 != key.3)
            .cloned()
            .collect();
        for k in others {
            self.close_batch(k, ctx);
        }
        if key.3.is_some() {
            return self.add_to_batch(key, m, ALBUM_WINDOW, MAX_ALBUM, ctx);
        }
        let long = m.text.chars().count() >= LONG_PASTE_CHARS;
        let batchable = m.media.is_empty()
            && !m.text.trim().is_empty()
            && crate::registry::chat_commands::parse(&m.text).is_none();
        let window = self.cfg.inbound_window;
        if !batchable || (window.is_zero() && !long && !self.batches.open.contains_key(&key)) {
            self.close_batch(key, ctx);
            return self.hand_over(m, ctx);
        }
        self.add_to_batch(key, m, window, MAX_MESSAGES, ctx);
    }

    /// Adds `m` to the batch of `key` (opened if none is), which closes after `window` of
    /// quiet, at `max_msgs` messages, [`MAX_CHARS`] characters or [`MAX_WAIT`].
    fn add_to_batch(
        &mut self,
        key: Key,
        m: InboundMessage,
        window: Duration,
        max_msgs: usize,
        ctx: &mut Context<Self>,
    ) {
        let chars = m.text.chars().count();
        let long = chars >= LONG_PASTE_CHARS;
        if let Some(open) = self.batches.open.get(&key)
            && (open.msgs.len() >= max_msgs || open.chars + chars > MAX_CHARS)
        {
            self.close_batch(key.clone(), ctx);
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
        let timer = {
            let key = key.clone();
            ctx.run_later(wait, move |act, ctx| act.close_batch(key, ctx))
        };
        match self.batches.open.get_mut(&key) {
            Some(open) => open.timer = timer,
            None => {
                self.batches.open.insert(
                    key.clone(),
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
            .is_some_and(|o| o.msgs.len() >= max_msgs || o.chars >= MAX_CHARS);
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
            // The texts joined (an album's parts without a caption add none), and every
            // part's media in order.
            let mut text = String::with_capacity(open.chars + msgs.len() * 2);
            let mut history = Vec::new();
            let mut media = Vec::new();
            for m in &mut msgs {
                if !m.text.is_empty() {
                    text.push_str(&m.text);
                    text.push('\n');
                }
                history.append(&mut m.history);
                media.append(&mut m.media);
            }
            if turn.text.is_empty() {
                text.pop();
            }
            text.push_str(&turn.text);
            turn.text = text;
            history.append(&mut turn.history);
            turn.history = history;
            media.append(&mut turn.media);
            turn.media = media;
            self.batches
                .companions
                .insert(turn.id.clone(), msgs.into_iter().map(|m| m.id).collect());
        }
        self.hand_over(turn, ctx);
    }
}
