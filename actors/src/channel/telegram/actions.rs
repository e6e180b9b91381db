//! Message actions besides sending (`message.action`: `openclaw message poll|react|edit|
//! delete --channel telegram`), each gated by `channels.telegram.actions.<key>` as in
//! OpenClaw (all on by default; a poll needs both `sendMessage` and `poll`). The message
//! action `send` asks its gate (`sendMessage`) here too, then goes as any delivery; the
//! `send` RPC and the agents' replies are not gated. The Bot API's own limits are checked
//! first, so a bad call is refused by name instead of by Telegram.

use actix::prelude::*;
use serde_json::json;

use super::TelegramChannel;
use super::api::{SendPoll, TgError};
use crate::channel::{ChannelAction, ChannelError, MessageOp};

/// Which actions the account allows (`channels.telegram.actions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionGates {
    /// `sendMessage`.
    pub send_message: bool,
    /// `poll`.
    pub poll: bool,
    /// `reactions`.
    pub reactions: bool,
    /// `editMessage`.
    pub edit_message: bool,
    /// `deleteMessage`.
    pub delete_message: bool,
}

impl Default for ActionGates {
    fn default() -> Self {
        Self {
            send_message: true,
            poll: true,
            reactions: true,
            edit_message: true,
            delete_message: true,
        }
    }
}

impl ActionGates {
    /// `Err` names the key that turns `op` off.
    pub fn allow(&self, op: &MessageOp) -> Result<(), ChannelError> {
        let off = match op {
            MessageOp::Send | MessageOp::Location { .. } | MessageOp::Poll { .. }
                if !self.send_message =>
            {
                Some("sendMessage")
            }
            MessageOp::Poll { .. } if !self.poll => Some("poll"),
            MessageOp::React { .. } if !self.reactions => Some("reactions"),
            MessageOp::Edit { .. } if !self.edit_message => Some("editMessage"),
            MessageOp::Delete { .. } if !self.delete_message => Some("deleteMessage"),
            _ => None,
        };
        off.map_or(Ok(()), |k| Err(ChannelError::ActionDisabled(k)))
    }
}

/// Telegram's limits on a poll (`sendPoll`).
pub const POLL_QUESTION_MAX: usize = 300;
/// Most answers.
pub const POLL_OPTIONS_MAX: usize = 12;
/// Longest answer.
pub const POLL_OPTION_MAX: usize = 100;

/// Checks a poll against the Bot API's limits (characters as Telegram counts them, in UTF-16
/// units).
pub fn check_poll(
    question: &str,
    options: &[String],
    duration_s: Option<u32>,
) -> Result<(), String> {
    let units = |s: &str| s.encode_utf16().count();
    if question.trim().is_empty() || units(question) > POLL_QUESTION_MAX {
        return Err(format!(
            "the poll question must have 1-{POLL_QUESTION_MAX} characters"
        ));
    }
    if !(2..=POLL_OPTIONS_MAX).contains(&options.len()) {
        return Err(format!(
            "a Telegram poll has 2-{POLL_OPTIONS_MAX} options ({} given)",
            options.len()
        ));
    }
    if let Some(o) = options
        .iter()
        .find(|o| o.trim().is_empty() || units(o) > POLL_OPTION_MAX)
    {
        return Err(format!(
            "poll option {:?} must have 1-{POLL_OPTION_MAX} characters",
            o.chars().take(40).collect::<String>()
        ));
    }
    if duration_s.is_some_and(|d| !(5..=604_800).contains(&d)) {
        return Err("a Telegram poll stays open 5-604800 seconds (seven days)".to_owned());
    }
    Ok(())
}

/// Checks `op` against the Bot API's limits.
pub fn check_op(op: &MessageOp) -> Result<(), String> {
    match op {
        MessageOp::Poll {
            question,
            options,
            duration_s,
            ..
        } => check_poll(question, options, *duration_s),
        MessageOp::Edit { text, buttons, .. } if text.is_empty() && buttons.is_none() => {
            Err("an edit needs a new text or buttons".to_owned())
        }
        MessageOp::Edit { text, .. } if text.encode_utf16().count() > super::MAX_MESSAGE_UNITS => {
            Err(format!(
                "the new text is longer than one Telegram message ({} characters)",
                super::MAX_MESSAGE_UNITS
            ))
        }
        _ => Ok(()),
    }
}

fn failed(e: TgError) -> ChannelError {
    ChannelError::Delivery(e.to_string())
}

impl Handler<ChannelAction> for TelegramChannel {
    type Result = ResponseFuture<Result<serde_json::Value, ChannelError>>;

    fn handle(&mut self, msg: ChannelAction, _: &mut Self::Context) -> Self::Result {
        // Telegram's limits first (a call that could never go), then the account's gates.
        if let Err(e) = check_op(&msg.op)
            .map_err(ChannelError::Invalid)
            .and_then(|()| self.cfg.actions.allow(&msg.op))
        {
            return Box::pin(async move { Err(e) });
        }
        let api = self.api.clone();
        let chat_id = msg.target.chat_id;
        let thread_id = msg.target.thread_id;
        let mut msg = msg;
        // An edit's buttons: where this chat shows none, as text (see `send`).
        if let MessageOp::Edit {
            text,
            buttons: Some(rows),
            ..
        } = &mut msg.op
        {
            let private = chat_id > 0;
            *rows = super::send::split_buttons(
                std::mem::take(rows),
                self.cfg.inline_buttons.allows(private),
                private,
                text,
            );
        }
        Box::pin(async move {
            match msg.op {
                // Allowed: the registry delivers it (`DeliverReply`).
                MessageOp::Send => Ok(json!({"ok": true})),
                MessageOp::Poll {
                    question,
                    options,
                    multi,
                    anonymous,
                    duration_s,
                    silent,
                } => {
                    let poll = SendPoll {
                        chat_id,
                        message_thread_id: thread_id,
                        question,
                        options: options.into_iter().map(|t| json!({"text": t})).collect(),
                        is_anonymous: anonymous,
                        allows_multiple_answers: multi,
                        open_period: duration_s,
                        disable_notification: silent,
                    };
                    let (message_id, poll_id) =
                        super::send::retrying(|| api.send_poll(poll.clone()))
                            .await
                            .map_err(failed)?;
                    Ok(json!({"ok": true, "messageId": message_id.to_string(),
                        "chatId": chat_id.to_string(), "pollId": poll_id}))
                }
                MessageOp::Location {
                    latitude,
                    longitude,
                    accuracy,
                    venue,
                    silent,
                } => {
                    let (title, address) = venue.map_or((None, None), |(t, a)| (Some(t), Some(a)));
                    let loc = super::api::SendLocation {
                        chat_id,
                        message_thread_id: thread_id,
                        latitude,
                        longitude,
                        horizontal_accuracy: accuracy.filter(|_| title.is_none()),
                        title,
                        address,
                        disable_notification: silent,
                    };
                    let message_id = super::send::retrying(|| api.send_location(loc.clone()))
                        .await
                        .map_err(failed)?;
                    Ok(json!({"ok": true, "messageId": message_id.to_string(),
                        "chatId": chat_id.to_string()}))
                }
                MessageOp::React { message_id, emoji } => {
                    let e = emoji.clone().unwrap_or_default();
                    super::send::retrying(|| {
                        api.set_message_reaction(chat_id, message_id, e.clone())
                    })
                    .await
                    .map_err(failed)?;
                    Ok(match emoji {
                        Some(e) => json!({"ok": true, "added": e}),
                        None => json!({"ok": true, "removed": true}),
                    })
                }
                MessageOp::Edit {
                    message_id,
                    text,
                    buttons,
                } => {
                    if !text.is_empty() {
                        super::send::retrying(|| {
                            api.edit_message_text(chat_id, message_id, text.clone())
                        })
                        .await
                        .map_err(failed)?;
                    }
                    // A new text takes the buttons away unless they are given again.
                    if let Some(rows) = buttons {
                        let markup = super::api::inline_keyboard(&rows);
                        super::send::retrying(|| {
                            api.edit_message_reply_markup(chat_id, message_id, markup.clone())
                        })
                        .await
                        .map_err(failed)?;
                    }
                    Ok(json!({"ok": true, "messageId": message_id.to_string(),
                        "chatId": chat_id.to_string()}))
                }
                MessageOp::Delete { message_id } => {
                    super::send::retrying(|| api.delete_message(chat_id, message_id))
                        .await
                        .map_err(failed)?;
                    Ok(json!({"ok": true, "deleted": true}))
                }
                MessageOp::Pin { message_id, silent } => {
                    super::send::retrying(|| api.pin_message(chat_id, message_id, true, silent))
                        .await
                        .map_err(failed)?;
                    Ok(json!({"ok": true, "pinned": true, "messageId": message_id.to_string()}))
                }
                MessageOp::Unpin { message_id } => {
                    super::send::retrying(|| api.pin_message(chat_id, message_id, false, false))
                        .await
                        .map_err(failed)?;
                    Ok(json!({"ok": true, "unpinned": true, "messageId": message_id.to_string()}))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_keep_to_telegrams_limits() {
        let two = vec!["Yes".to_owned(), "No".to_owned()];
        assert!(check_poll("Ship it?", &two, None).is_ok());
        assert!(check_poll("Ship it?", &two, Some(300)).is_ok());
        assert!(check_poll(" ", &two, None).is_err());
        assert!(
            check_poll(&"🙂".repeat(151), &two, None).is_err(),
            "302 UTF-16 units"
        );
        assert!(check_poll(&"🙂".repeat(150), &two, None).is_ok());
        assert!(check_poll("q", &two[..1], None).is_err());
        assert!(check_poll("q", &vec!["a".to_owned(); 13], None).is_err());
        assert!(check_poll("q", &["a".to_owned(), "".to_owned()], None).is_err());
        assert!(check_poll("q", &two, Some(4)).is_err());
        assert!(check_poll("q", &two, Some(604_801)).is_err());
    }

    #[test]
    fn gates_name_the_key_that_turns_an_action_off() {
        let poll = MessageOp::Poll {
            question: "q".into(),
            options: vec![],
            multi: false,
            anonymous: true,
            duration_s: None,
            silent: false,
        };
        let all = ActionGates::default();
        assert!(all.allow(&poll).is_ok());
        assert!(all.allow(&MessageOp::Send).is_ok());
        let no_send = ActionGates {
            send_message: false,
            ..all
        };
        let refused = Err("Telegram sendMessage is disabled. Fix: set channels.telegram.actions.sendMessage to true (or remove it)".to_owned());
        assert_eq!(no_send.allow(&poll).map_err(|e| e.to_string()), refused);
        assert_eq!(
            no_send.allow(&MessageOp::Send).map_err(|e| e.to_string()),
            refused,
            "the message action send"
        );
        assert!(
            no_send
                .allow(&MessageOp::React {
                    message_id: 1,
                    emoji: None
                })
                .is_ok(),
            "only sending is off"
        );
        let no_delete = ActionGates {
            delete_message: false,
            ..all
        };
        assert!(
            no_delete
                .allow(&MessageOp::Delete { message_id: 1 })
                .is_err()
        );
        assert!(no_delete.allow(&poll).is_ok());
        assert!(no_delete.allow(&MessageOp::Send).is_ok());
    }
}
