//! Presses of the bot's inline buttons (`callback_query` updates).
//!
//! - **The exec approval prompt's** (OpenClaw's `tga1:e:<o|a|d>:<id>` callback data): a
//!   press resolves the approval as the `/approve` reply would — only the sender who asked
//!   may — then the prompt is edited to say what was decided (which also takes the buttons
//!   away).
//! - **A caller's** (`presentation` buttons of `send`, `message.action` and the agent's
//!   `message` tool): where `capabilities.inlineButtons` takes presses, a press becomes a
//!   message from the presser in the button's chat and topic, replying to the button's
//!   message: `callback_data: <value>`, or the command itself for a command button
//!   (OpenClaw's rule: a value starting with `/`). It goes through the same admission as a
//!   message the presser typed ([`TelegramChannel::classify`]: DM policy, group policy,
//!   sender allowlists, pairing), is durable like one (its update is confirmed only once it
//!   is pending), and counts as addressed to the bot in a group. Once taken, the message's
//!   buttons are taken away, so one choice is made once; a press the policy refuses leaves
//!   them for someone allowed.
//!
//! Every press is answered (`answerCallbackQuery`), so the client's spinner stops; a
//! refused approval is shown to the presser as a notification.

use actix::prelude::*;

use super::TelegramChannel;
use super::api::TgCallbackQuery;
use crate::registry::approvals::{AskedIn, Decision, ResolveExecApproval, Resolver};

/// `capabilities.inlineButtons`: where the bot shows inline buttons and takes presses of
/// them (OpenClaw's scopes). Where they are off, a message's buttons are sent as text
/// (labels, links and commands) and a press of an old one is only answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InlineButtons {
    /// Nowhere.
    Off,
    /// Private chats only.
    Dm,
    /// Groups only.
    Group,
    /// Everywhere.
    All,
    /// Everywhere (OpenClaw's default); a press counts only from someone the chat's policy
    /// admits, which is true of every scope here.
    #[default]
    Allowlist,
}

impl InlineButtons {
    /// Reads OpenClaw's forms: `{inlineButtons: "off" | "dm" | "group" | "all" |
    /// "allowlist"}`, or the legacy list (`["inlineButtons"]`: all; a list without it:
    /// off). `Ok(None)`: inherit (not set, or an empty list). `Err` says what is wrong.
    pub fn parse(v: &serde_json::Value) -> Result<Option<Self>, String> {
        use serde_json::Value;
        match v {
            Value::Null => Ok(None),
            Value::Array(list) if list.is_empty() => Ok(None),
            Value::Array(list) => Ok(Some(
                if list.iter().any(|e| {
                    e.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case("inlineButtons"))
                }) {
                    Self::All
                } else {
                    Self::Off
                },
            )),
            Value::Object(o) => match o.get("inlineButtons") {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                    "off" => Ok(Some(Self::Off)),
                    "dm" => Ok(Some(Self::Dm)),
                    "group" => Ok(Some(Self::Group)),
                    "all" => Ok(Some(Self::All)),
                    "allowlist" => Ok(Some(Self::Allowlist)),
                    other => Err(format!(
                        "inlineButtons is {:?}. Fix: use \"off\", \"dm\", \"group\", \"all\" or \"allowlist\"",
                        other.chars().take(40).collect::<String>()
                    )),
                },
                Some(_) => {
                    Err("inlineButtons must be a string (off, dm, group, all or allowlist)".into())
                }
            },
            _ => {
                Err("must be an object {inlineButtons: ...} (or a list of capability names)".into())
            }
        }
    }

    /// Whether buttons are shown and taken in a private chat (`private`) or a group.
    pub fn allows(self, private: bool) -> bool {
        match self {
            Self::Off => false,
            Self::Dm => private,
            Self::Group => !private,
            Self::All | Self::Allowlist => true,
        }
    }
}

/// OpenClaw's prefix for approval buttons.
pub const APPROVAL_PREFIX: &str = "tga1:";

/// The callback data of an exec approval button (OpenClaw's encoding).
pub fn approval_data(id: &str, decision: Decision) -> String {
    let d = match decision {
        Decision::AllowOnce => 'o',
        Decision::AllowAlways => 'a',
        Decision::Deny => 'd',
    };
    format!("{APPROVAL_PREFIX}e:{d}:{id}")
}

/// The decision and request id of an exec approval button's data.
pub fn parse_approval(data: &str) -> Option<(Decision, &str)> {
    if data.len() > 64 {
        return None;
    }
    let rest = data.strip_prefix(APPROVAL_PREFIX)?.strip_prefix("e:")?;
    let (d, id) = rest.split_once(':')?;
    let decision = match d {
        "o" => Decision::AllowOnce,
        "a" => Decision::AllowAlways,
        "d" => Decision::Deny,
        _ => return None,
    };
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then_some((decision, id))
}

/// The line a decided prompt ends with.
fn decided(decision: Decision) -> &'static str {
    match decision {
        Decision::AllowOnce => "✅ Allowed once",
        Decision::AllowAlways => "✅ Allowed always",
        Decision::Deny => "❌ Denied",
    }
}

impl TelegramChannel {
    /// The message a press of a caller's button stands for (see the module docs), or `None`
    /// (an approval button, an empty or reserved value, a message Telegram no longer shows,
    /// or buttons off where it was pressed).
    pub(super) fn pressed(&self, cb: &TgCallbackQuery) -> Option<super::api::TgMessage> {
        let data = cb.data.as_deref()?.trim();
        if data.is_empty() || data.len() > 64 || crate::channel::presentation::is_reserved(data) {
            return None;
        }
        // An "inaccessible" message (too old) has `date: 0`: nothing to answer under.
        let under: super::api::TgMessage = serde_json::from_value(cb.message.clone()?).ok()?;
        if under.date == 0 {
            return None;
        }
        let private = under.chat.kind == "private";
        if !self.cfg.inline_buttons.allows(private) {
            return None;
        }
        let text = if data.starts_with('/') {
            data.to_owned()
        } else {
            format!("callback_data: {data}")
        };
        let mut replied = under.clone();
        replied.reply_to_message = None;
        Some(super::api::TgMessage {
            message_id: under.message_id,
            message_thread_id: under.message_thread_id,
            from: Some(cb.from.clone()),
            chat: under.chat,
            date: i64::try_from(crate::util::now_ms() / 1000).unwrap_or(under.date),
            text: Some(text),
            reply_to_message: Some(Box::new(replied)),
            ..Default::default()
        })
    }

    /// Handles one button press (see the module docs); `routed`: it was taken as a message.
    pub(super) fn on_button(&mut self, cb: TgCallbackQuery, routed: bool, ctx: &mut Context<Self>) {
        let api = self.api.clone();
        let approvals = self.approvals.clone();
        let account_id = self.cfg.account_id.clone();
        let parsed = cb
            .data
            .as_deref()
            .and_then(parse_approval)
            .map(|(d, id)| (d, id.to_owned()));
        let prompt = cb.message.as_ref().and_then(|m| {
            Some((
                m.pointer("/chat/id")?.as_i64()?,
                m.get("message_id")?.as_i64()?,
                m.get("text")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ))
        });
        let presser = cb.from.id;
        let clear = prompt
            .as_ref()
            .filter(|_| routed)
            .map(|(chat, message, _)| (*chat, *message));
        async move {
            if let Some((chat, message)) = clear
                && let Err(e) = api.edit_message_reply_markup(chat, message, None).await
            {
                log::debug!("telegram[{account_id}]: buttons not taken away: {e}");
            }
            let note = match (parsed, approvals) {
                (None, _) => None,
                (Some(_), None) => Some("Approvals are not answered here.".to_owned()),
                (Some((decision, id)), Some(approvals)) => {
                    let asked = approvals
                        .send(ResolveExecApproval {
                            id,
                            decision,
                            by: Resolver::Chat(AskedIn {
                                channel: super::KIND.id.to_owned(),
                                account_id: account_id.clone(),
                                sender_id: presser.to_string(),
                            }),
                        })
                        .await;
                    match asked {
                        Ok(Ok(_)) => {
                            if let Some((chat, message, text)) = prompt {
                                let text = format!("{}\n\n{}", text.trim_end(), decided(decision));
                                if let Err(e) = api.edit_message_text(chat, message, text).await {
                                    log::debug!(
                                        "telegram[{account_id}]: approval prompt not edited: {e}"
                                    );
                                }
                            }
                            Some(decided(decision).to_owned())
                        }
                        Ok(Err(e)) => Some(e.chars().take(190).collect()),
                        Err(_) => Some("The gateway is shutting down.".to_owned()),
                    }
                }
            };
            if let Err(e) = api.answer_callback_query(cb.id, note).await {
                log::debug!("telegram[{account_id}]: button press not answered: {e}");
            }
        }
        .into_actor(self)
        .spawn(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_buttons_round_trip_and_forgeries_are_ignored() {
        let id = "0b7e4f7c-8d1e-4a55-9c3b-3f0e2b1a9d44";
        for d in [Decision::AllowOnce, Decision::AllowAlways, Decision::Deny] {
            let data = approval_data(id, d);
            assert!(data.len() <= 64, "{data}");
            assert_eq!(parse_approval(&data), Some((d, id)));
        }
        for bad in [
            "",
            "tga1:",
            "tga1:e:x:abc",
            "tga1:p:o:abc",
            "tga1:e:o:",
            "tga1:e:o:a b",
            "tga1:e:o:abc\n/approve",
            "tgcmd:/approve abc allow-once",
            &format!("tga1:e:o:{}", "a".repeat(60)),
        ] {
            assert_eq!(parse_approval(bad), None, "{bad:?}");
        }
    }
}
