//! `channels.logout {channel, accountId?}` (OpenClaw's `server-methods/channels.ts` and its
//! Telegram plugin's `logoutAccount`; the real CLI's `openclaw channels logout --channel
//! telegram` calls it): the account's saved bot token leaves the config file, and the
//! account stops.
//!
//! - `botToken` is removed from the account's section (`channels.telegram` for `default`,
//!   also `channels.telegram.accounts.default`; `channels.telegram.accounts.<id>` for
//!   another), in place (comments elsewhere stay), checked, written atomically (0600) and
//!   applied before the answer: the account's poller stops with it.
//! - `enabled: true` goes too when nothing else gives the account a token (it would make
//!   the config refuse to load: "enabled but has no bot token"); a token added later turns
//!   the account on again, as for a new one.
//! - A `tokenFile`, or `TELEGRAM_BOT_TOKEN` for the default account, is left alone:
//!   `loggedOut: false`, `envToken` says whether the variable is set (the CLI then prints
//!   "Other credentials may still be active").
//!
//! Answer: `{channel, accountId, cleared, envToken, loggedOut}`.

use serde_json::{Map, Value, json};

use super::agents_rpc::{current, path};
use super::edit;
use super::rpc::ConfigOps;

type Failure = (bool, String);

fn bad(m: impl Into<String>) -> Failure {
    (true, m.into())
}

/// Whether `v` (an account section) holds a non-empty `key`.
fn has(v: Option<&Value>, key: &str) -> bool {
    match v.and_then(|s| s.get(key)) {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    }
}

impl ConfigOps {
    /// `channels.logout` (see the module docs).
    pub fn channels_logout(&self, params: &Value) -> Result<Value, Failure> {
        const M: &str = "channels.logout";
        let empty = Map::new();
        let obj = match params {
            Value::Null => &empty,
            Value::Object(o) => o,
            _ => return Err(bad(format!("invalid {M} params: must be object"))),
        };
        if let Some(k) = obj.keys().find(|k| *k != "channel" && *k != "accountId") {
            return Err(bad(format!(
                "invalid {M} params: must NOT have additional properties ({:?})",
                k.chars().take(64).collect::<String>()
            )));
        }
        let channel = match obj.get("channel") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_ascii_lowercase(),
            Some(Value::String(_)) => {
                return Err(bad(format!(
                    "invalid {M} params: channel must NOT be empty"
                )));
            }
            Some(_) => return Err(bad(format!("invalid {M} params: channel must be string"))),
            None => {
                return Err(bad(format!(
                    "invalid {M} params: must have required property 'channel'"
                )));
            }
        };
        if channel != "telegram" {
            return Err(bad(format!(
                "channel {:?} does not support logout (this gateway's channel is telegram)",
                channel.chars().take(64).collect::<String>()
            )));
        }
        let account = match obj.get("accountId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()),
            Some(_) => {
                return Err(bad(format!("invalid {M} params: accountId must be string")));
            }
        };
        let _writing = super::rpc::writes_lock();
        let (text, doc) = current(self)?;
        let section = doc.pointer("/channels/telegram");
        let accounts = section
            .and_then(|t| t.get("accounts"))
            .and_then(Value::as_object);
        // No account named: `default`, or the only one when the section has no token of
        // its own.
        let account = account.unwrap_or_else(|| {
            match accounts.filter(|a| a.len() == 1 && !has(section, "botToken")) {
                Some(a) => a.keys().next().cloned().unwrap_or_else(|| "default".into()),
                None => "default".to_owned(),
            }
        });
        if account.chars().count() > 64 || account.chars().any(char::is_control) {
            return Err(bad(format!(
                "invalid {M} params: accountId must be at most 64 characters, without control characters"
            )));
        }
        let mut targets: Vec<(Vec<String>, Option<&Value>)> = Vec::new();
        if account == "default" {
            targets.push((path(&["channels", "telegram"]), section));
        }
        if let Some(own) = accounts.and_then(|a| a.get(&account)) {
            targets.push((
                path(&["channels", "telegram", "accounts", &account]),
                Some(own),
            ));
        } else if account != "default" {
            return Err(bad(format!(
                "channels.logout: telegram has no account {:?}",
                account.chars().take(64).collect::<String>()
            )));
        }
        let env_token = account == "default"
            && self
                .check(&text)
                .ok()
                .and_then(|l| l.config.env_var("TELEGRAM_BOT_TOKEN"))
                .is_some_and(|v| !v.trim().is_empty());
        let token_file = targets.iter().any(|(_, s)| has(*s, "tokenFile"));
        let mut new_text = text.clone();
        let mut cleared = false;
        for (p, s) in &targets {
            if s.and_then(|s| s.get("botToken")).is_some() {
                let mut key = p.clone();
                key.push("botToken".into());
                if let Some(t) = edit::unset(&new_text, &key).map_err(bad)? {
                    new_text = t;
                    cleared = true;
                }
            }
            // Nothing else gives the account a token: `enabled: true` would make the config
            // refuse to load.
            if !token_file
                && !env_token
                && s.and_then(|s| s.get("enabled")) == Some(&Value::Bool(true))
            {
                let mut key = p.clone();
                key.push("enabled".into());
                if let Some(t) = edit::unset(&new_text, &key).map_err(bad)? {
                    new_text = t;
                }
            }
        }
        if new_text != text {
            match self.commit(&new_text)? {
                Ok(()) => {}
                Err(why) => log::warn!("channels.logout: the change waits for a reload: {why}"),
            }
        }
        let logged_out = !token_file && !env_token;
        log::info!(
            "channels.logout: telegram/{account}: {}",
            if cleared {
                "the saved bot token was removed from the config"
            } else {
                "no saved bot token to remove"
            }
        );
        Ok(json!({
            "channel": "telegram",
            "accountId": account,
            "cleared": cleared,
            "envToken": env_token,
            "loggedOut": logged_out,
        }))
    }
}
