//! Public chats' `@username`s as targets (`openclaw message send --target @mychannel`,
//! OpenClaw's Telegram target form): the Bot API takes them only for public groups and
//! channels, so the name is looked up once with `getChat` and the numeric id is used from
//! there on (for routing, ordering, the audit ledger). Names are remembered for [`TTL`], at
//! most [`crate::web_fetch::CACHE_ENTRIES`] of them (the web tools' small cache), and
//! forgotten when the account's bot changes.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;

use super::TelegramChannel;
use super::api::TgError;
use crate::channel::{ChannelError, ResolveTarget};
use crate::web_fetch::TtlCache;

/// How long a looked-up name is trusted (a name can move to another chat).
pub const TTL: Duration = Duration::from_secs(10 * 60);

/// The names looked up, lowercase without `@`, and their chat ids.
#[derive(Default, Clone)]
pub struct Names(Rc<TtlCache>);

impl Names {
    fn get(&self, name: &str) -> Option<i64> {
        self.0.get(name, TTL)?.as_i64()
    }

    fn put(&self, name: String, id: i64) {
        self.0.put(name, &serde_json::Value::from(id));
    }

    /// Forgets every name (another bot sees other chats).
    pub fn clear(&self) {
        self.0.clear();
    }
}

/// The `@username` of a target (after `telegram:` / `tg:`), lowercase without `@`, and what
/// follows it (`:topic:<id>`). `None`: not a name; `Err`: a name Telegram cannot have.
pub fn split(to: &str) -> Option<Result<(String, &str), String>> {
    let t = to.trim();
    let t = t
        .strip_prefix("telegram:")
        .or_else(|| t.strip_prefix("tg:"))
        .unwrap_or(t);
    let name = t.strip_prefix('@')?;
    let (name, rest) = match name.find(':') {
        Some(i) => name.split_at(i),
        None => (name, ""),
    };
    let ok = (5..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        let shown: String = to.chars().take(64).collect();
        return Some(Err(format!(
            "invalid telegram target {shown:?}: a username is 5-32 letters, digits or underscores, starting with a letter"
        )));
    }
    Some(Ok((name.to_ascii_lowercase(), rest)))
}

impl Handler<ResolveTarget> for TelegramChannel {
    type Result = ResponseFuture<Result<Option<String>, ChannelError>>;

    fn handle(&mut self, msg: ResolveTarget, _: &mut Self::Context) -> Self::Result {
        let (name, rest) = match split(&msg.to) {
            None => return Box::pin(async { Ok(None) }),
            Some(Err(e)) => return Box::pin(async move { Err(ChannelError::Invalid(e)) }),
            Some(Ok((name, rest))) => (name, rest.to_owned()),
        };
        if let Some(id) = self.names.get(&name) {
            return Box::pin(async move { Ok(Some(format!("{id}{rest}"))) });
        }
        let api = self.api.clone();
        let names = self.names.clone();
        Box::pin(async move {
            match api.get_chat(format!("@{name}")).await {
                Ok(id) => {
                    names.put(name, id);
                    Ok(Some(format!("{id}{rest}")))
                }
                Err(TgError::Api {
                    code: 400,
                    description,
                }) => Err(ChannelError::Invalid(format!(
                    "telegram does not know @{name} ({description}): only public groups and channels have a @username a bot can send to, and the bot must be in them. Fix: use the chat's numeric id"
                ))),
                Err(e) => Err(ChannelError::Delivery(format!(
                    "@{name} could not be looked up: {e}"
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_split_from_targets_and_bad_ones_named() {
        assert_eq!(split("-100123"), None);
        assert_eq!(split("telegram:42"), None);
        assert_eq!(split("@News_Room"), Some(Ok(("news_room".to_owned(), ""))));
        assert_eq!(
            split(" tg:@news_room:topic:7 "),
            Some(Ok(("news_room".to_owned(), ":topic:7")))
        );
        assert_eq!(
            split("telegram:@news_room"),
            Some(Ok(("news_room".to_owned(), "")))
        );
        for bad in [
            "@abc",
            "@1abcde",
            "@news room",
            "@ñandú_news",
            "@",
            "@a_very_long_name_that_is_over_32ch",
        ] {
            assert!(
                matches!(split(bad), Some(Err(e)) if e.contains("5-32 letters")),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_are_kept_for_a_while_and_bounded() {
        let n = Names::default();
        n.put("a_chat".into(), -1);
        assert_eq!(n.get("a_chat"), Some(-1));
        let max = crate::web_fetch::CACHE_ENTRIES;
        for i in 0..(max + 10) {
            n.put(format!("chat_{i}"), i as i64);
        }
        assert_eq!(n.get("a_chat"), None, "the oldest went");
        assert_eq!(n.get(&format!("chat_{}", max + 9)), Some((max + 9) as i64));
        n.clear();
        assert_eq!(n.get(&format!("chat_{}", max + 9)), None);
    }
}
