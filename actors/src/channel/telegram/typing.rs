//! "typing…" in a chat while one of its messages is being answered (OpenClaw's typing
//! indicator, `agents.defaults.typingMode` / `typingIntervalSeconds`): `sendChatAction`
//! [`TYPING_DELAY`] after the message is handed over (its media fetch and transcription
//! count as work too; an answer faster than that needs no indicator, and costs no request),
//! again every interval (Telegram shows it for 5 s), until the answer to it is delivered.
//! One loop per chat (and topic), however many of its messages wait; a loop ends on its
//! own after [`MAX_TYPING`] without a new message, so a run that never answers does not
//! type forever. A failed `sendChatAction` is only logged: it never delays an answer.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::TelegramChannel;
use crate::channel::ChatTarget;

/// Longest a chat is shown typing since its last message arrived.
pub const MAX_TYPING: Duration = Duration::from_secs(10 * 60);

/// How long after the hand-over the first "typing…" goes out.
pub const TYPING_DELAY: Duration = Duration::from_millis(500);

type Key = (i64, Option<i64>);

/// The chats shown typing.
#[derive(Default)]
pub(super) struct Typing {
    chats: HashMap<Key, Chat>,
}

struct Chat {
    handle: SpawnHandle,
    /// The messages of this chat not answered yet.
    waiting: HashSet<String>,
    /// When the last of them arrived.
    since: Instant,
}

impl Typing {
    fn end(&mut self, key: Key, ctx: &mut Context<TelegramChannel>) {
        if let Some(c) = self.chats.remove(&key) {
            ctx.cancel_future(c.handle);
        }
    }

    /// Stops every loop (typing turned off by a config reload).
    pub(super) fn stop_all(&mut self, ctx: &mut Context<TelegramChannel>) {
        for (_, c) in self.chats.drain() {
            ctx.cancel_future(c.handle);
        }
    }
}

impl TelegramChannel {
    /// Message `id` of `target` is being answered: type there until [`Self::stop_typing`].
    pub(super) fn start_typing(&mut self, id: &str, target: ChatTarget, ctx: &mut Context<Self>) {
        let Some(every) = self.cfg.typing else {
            return;
        };
        let key = (target.chat_id, target.thread_id);
        if let Some(c) = self.typing.chats.get_mut(&key) {
            c.waiting.insert(id.to_owned());
            c.since = Instant::now();
            return;
        }
        let handle = ctx.run_later(TYPING_DELAY, move |act, ctx| {
            act.send_typing(key, ctx);
            let interval = ctx.run_interval(every, move |act, ctx| {
                let expired = act
                    .typing
                    .chats
                    .get(&key)
                    .is_none_or(|c| c.since.elapsed() >= MAX_TYPING);
                if expired {
                    act.typing.end(key, ctx);
                } else {
                    act.send_typing(key, ctx);
                }
            });
            match act.typing.chats.get_mut(&key) {
                Some(c) => c.handle = interval,
                None => {
                    ctx.cancel_future(interval);
                }
            }
        });
        self.typing.chats.insert(
            key,
            Chat {
                handle,
                waiting: HashSet::from([id.to_owned()]),
                since: Instant::now(),
            },
        );
    }

    /// The answer to message `id` is going out: its chat stops typing unless another of
    /// its messages waits.
    pub(super) fn stop_typing(&mut self, id: &str, ctx: &mut Context<Self>) {
        let Some((&key, chat)) = self
            .typing
            .chats
            .iter_mut()
            .find(|(_, c)| c.waiting.contains(id))
        else {
            return;
        };
        chat.waiting.remove(id);
        if chat.waiting.is_empty() {
            self.typing.end(key, ctx);
        }
    }

    fn send_typing(&self, key: Key, ctx: &mut Context<Self>) {
        let api = self.api.clone();
        let account = self.cfg.account_id.clone();
        ctx.spawn(
            async move {
                if let Err(e) = api.send_chat_action(key.0, key.1, "typing").await {
                    log::debug!("telegram[{account}]: sendChatAction to {}: {e}", key.0);
                }
            }
            .into_actor(self),
        );
    }
}

impl TelegramChannel {
    /// The ack reaction (OpenClaw's `ackReaction`, scope `messages.ackReactionScope`,
    /// default 👀 on group messages that address the bot): the bot reacts to a message it
    /// has just taken, so the sender sees it was received. Once per message (not again
    /// when a restart hands it over again); a refusal (an emoji Telegram does not take as
    /// a reaction, no right to react) is logged, never retried.
    pub(super) fn acknowledge(
        &mut self,
        m: &crate::channel::InboundMessage,
        ctx: &mut Context<Self>,
    ) {
        let Some(ack) = &self.cfg.ack else {
            return;
        };
        let wanted = if m.chat_type == "private" {
            ack.direct
        } else {
            ack.groups && !(ack.mentions_only && m.unaddressed)
        };
        if !wanted {
            return;
        }
        // None configured: the chat's agent's identity emoji, else 👀 (OpenClaw's order).
        let emoji = ack.emoji.clone().unwrap_or_else(|| {
            let chat = crate::agents::ChatRef {
                channel: &m.channel,
                account: &m.account_id,
                chat_type: &m.chat_type,
                chat_id: m.chat_id,
                thread_id: m.thread_id,
                sender_id: m.sender_id,
            };
            crate::agents::with_chat_mentions(&chat, |a| {
                a.and_then(|a| a.emoji.clone())
                    .unwrap_or_else(|| "👀".to_owned())
            })
        });
        let api = self.api.clone();
        let (chat, message) = (m.chat_id, m.message_id);
        let account = self.cfg.account_id.clone();
        ctx.spawn(
            async move {
                match api.set_message_reaction(chat, message, emoji.clone()).await {
                    Ok(()) => {}
                    Err(e @ super::api::TgError::Api { .. }) => log::warn!(
                        "telegram[{account}]: ack reaction {emoji} refused in chat {chat}: {e}. Fix: use an emoji Telegram offers as a reaction (channels.telegram.ackReaction or messages.ackReaction), or \"\" to turn it off"
                    ),
                    Err(e) => log::debug!("telegram[{account}]: ack reaction in chat {chat}: {e}"),
                }
            }
            .into_actor(self),
        );
    }
}
