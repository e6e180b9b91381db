//! Presses of the bot's inline buttons (`callback_query` updates). The buttons it sends are
//! the exec approval prompt's (OpenClaw's `tga1:e:<o|a|d>:<id>` callback data): a press
//! resolves the approval as the `/approve` reply would — only the sender who asked may —
//! then the prompt is edited to say what was decided (which also takes the buttons away).
//! Every press is answered (`answerCallbackQuery`), so the client's spinner stops; a
//! refusal is shown to the presser as a notification. Other callback data is only
//! answered: nothing else sends buttons.

use actix::prelude::*;

use super::TelegramChannel;
use super::api::TgCallbackQuery;
use crate::registry::approvals::{AskedIn, Decision, ResolveExecApproval, Resolver};

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
    /// Handles one button press (see the module docs).
    pub(super) fn on_button(&mut self, cb: TgCallbackQuery, ctx: &mut Context<Self>) {
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
        async move {
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
