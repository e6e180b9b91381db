//! `channels.*`: the chat channels' config sections.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `channels.telegram` (and each `channels.telegram.accounts.<id>`).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelegramCfg {
    /// Run this account (default: true when a token is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Bot token from @BotFather.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// File holding the bot token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// Bot API root (default `https://api.telegram.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_root: Option<String>,
    /// The bot's own proxy (`http://`, `socks5://`, `socks5h://`, with credentials if
    /// any): every Bot API request of the account goes through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// `pairing` (default), `allowlist`, `open`, `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<String>,
    /// Allowed DM senders (numeric ids; `"*"` with `open`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<Vec<Value>>,
    /// `allowlist` (default), `open`, `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<String>,
    /// Allowed groups / group senders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_allow_from: Option<Vec<Value>>,
    /// The groups the bot answers in (`"<chatId>"` or `"*"`) and their settings; set, it
    /// is the group allowlist (an account's map replaces the shared one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<std::collections::BTreeMap<String, TelegramGroupCfg>>,
    /// Webhook mode: public HTTPS URL Telegram posts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Webhook mode: secret checked on every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Long-poll timeout in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_timeout_seconds: Option<u32>,
    /// Progress drafts while the agent works (`off`, `partial`, `block`, `progress`:
    /// the default), as an object (`{"mode": …, "progress": {…}, "preview": {…}}`), a mode
    /// string, or OpenClaw's legacy boolean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<Value>,
    /// Whether answers quote the message they answer: `off` (default), `first`, `all`,
    /// `batched`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_mode: Option<String>,
    /// Group messages remembered as context for the next turn there (default
    /// `messages.groupChat.historyLimit`, else 50; 0: none; at most 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_limit: Option<Value>,
    /// Longest message sent, in UTF-16 code units (default 4000, at most 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_chunk_limit: Option<Value>,
    /// `false`: no link preview under the bot's messages (default on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_preview: Option<bool>,
    /// The ack reaction's emoji for this bot (`""`: none); else `messages.ackReaction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_reaction: Option<String>,
    /// Where mention patterns apply (`{mode, allowIn, denyIn}`; checked by
    /// [`mention_scope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention_patterns: Option<Value>,
    /// Put before this bot's answers (`""`: none; `"auto"`: `[identity.name]`); else
    /// `messages.responsePrefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_prefix: Option<String>,
    /// OpenClaw's legacy spelling of `streaming.mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_mode: Option<String>,
    /// Native commands (`commands.native`: the bot's command menu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<CommandsCfg>,
    /// Which message actions operators may carry out (`openclaw message poll|react|…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<TelegramActionsCfg>,
    /// `{inlineButtons: "off" | "dm" | "group" | "all" | "allowlist"}` (or OpenClaw's legacy
    /// list): where inline buttons are shown and pressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Value>,
    /// Extra bot accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<std::collections::BTreeMap<String, TelegramCfg>>,
}

/// `channels.telegram.groups.<chatId>` (or `"*"`): one group's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelegramGroupCfg {
    /// `false`: the bot ignores the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Answer only messages that mention or reply to the bot (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// Who may talk to the bot here: `open`, `allowlist`, `disabled` (default: the
    /// account's `groupPolicy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<String>,
    /// The senders `allowlist` admits here (default: `groupAllowFrom`, else `allowFrom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<Vec<Value>>,
    /// Forum topics (`"<threadId>"` or `"*"`), each over the group's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<std::collections::BTreeMap<String, TelegramTopicCfg>>,
}

/// `channels.telegram.groups.<chatId>.topics.<threadId>`: a topic's own settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelegramTopicCfg {
    /// As the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// As the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// As the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<String>,
    /// As the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<Vec<Value>>,
}

/// `channels.telegram.actions`: each on unless `false` (OpenClaw's gates).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelegramActionsCfg {
    /// Every outbound message, polls included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_message: Option<bool>,
    /// Polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<bool>,
    /// Reactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactions: Option<bool>,
    /// Edits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_message: Option<bool>,
    /// Deletions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_message: Option<bool>,
}

/// `commands` (top level) and `channels.telegram.commands`: what this gateway reads of
/// OpenClaw's command settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandsCfg {
    /// Register the chat commands as the bot's command menu (Telegram `setMyCommands`):
    /// `true`, `false` (clears a menu registered before) or `"auto"` (default: on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<Value>,
    /// Add the user-invocable skills' commands to that menu: `true`, `false` or `"auto"`
    /// (default: on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_skills: Option<Value>,
    /// The owner's chat identities (`<channel>:<senderId>`, top level only): what
    /// `session.message` marks `senderIsOwner` (the MCP channel bridge takes permission
    /// replies only from the owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_allow_from: Option<Vec<String>>,
    /// `commands.restart` (top level, default on): `false` ignores the restart signals
    /// (SIGUSR2, SIGUSR1), as OpenClaw does; `gateway.restart.request` (admin) still works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
}

impl CommandsCfg {
    /// `ownerAllowFrom`, checked: each entry `<channel>:<senderId>` (the channel lowercased,
    /// spaces trimmed); a bad one is an error naming it and the fix.
    pub fn owners(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for raw in self.owner_allow_from.iter().flatten() {
            let e = raw.trim();
            let parsed = e.split_once(':').filter(|(c, id)| {
                !c.is_empty()
                    && c.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
                    && !id.is_empty()
                    && !id.contains(':')
                    && !id.chars().any(char::is_whitespace)
            });
            let Some((channel, id)) = parsed else {
                let shown: String = e.chars().take(80).collect();
                return Err(format!(
                    "commands.ownerAllowFrom entry {shown:?} is not <channel>:<senderId>. Fix: use e.g. \"telegram:123456789\" (the sender's numeric id)"
                ));
            };
            out.push(format!("{}:{id}", channel.to_ascii_lowercase()));
        }
        Ok(out)
    }

    /// `native` as a switch: `None` when unset or `"auto"`; an error naming `key` for any
    /// other value.
    pub fn native_switch(&self, key: &str) -> Result<Option<bool>, String> {
        switch(&self.native, key)
    }

    /// `nativeSkills` as a switch (as [`Self::native_switch`]).
    pub fn native_skills_switch(&self, key: &str) -> Result<Option<bool>, String> {
        switch(&self.native_skills, key)
    }
}

/// A `true | false | "auto"` setting: `None` when unset or `"auto"`; an error naming `key`
/// for any other value.
fn switch(v: &Option<Value>, key: &str) -> Result<Option<bool>, String> {
    match v {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "auto" => Ok(None),
        Some(other) => Err(format!(
            "{key} is {other}, which is not a setting. Fix: use true, false or \"auto\""
        )),
    }
}

impl std::fmt::Debug for TelegramCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramCfg")
            .field("enabled", &self.enabled)
            .field("bot_token", &self.bot_token.as_ref().map(|_| "<redacted>"))
            .field("api_root", &self.api_root)
            .field("proxy", &self.proxy.as_ref().map(|_| "<set>"))
            .field("dm_policy", &self.dm_policy)
            .finish()
    }
}

/// `messages.groupChat`: what this gateway reads of it (other keys are reported as not
/// supported).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupChatCfg {
    /// Group messages remembered as context (checked where it is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_limit: Option<Value>,
    /// Texts that address the bot like an @mention (checked by
    /// [`MessagesCfg::mention_patterns`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention_patterns: Option<Value>,
}

impl GroupChatCfg {
    /// `mentionPatterns` as the list it must be (`None`: not set); an error names `key` and
    /// the fix.
    pub fn patterns(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        match &self.mention_patterns {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(Some(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
            )),
            Some(_) => Err(format!(
                "{key} is not a list of strings. Fix: e.g. [\"\\\\bclaw\\\\b\", \"hey bot\"]"
            )),
        }
    }
}

impl MessagesCfg {
    /// `groupChat.mentionPatterns` (`None`: not set, so each agent's own or its identity's
    /// decide); an error names the key and the fix.
    pub fn mention_patterns(&self) -> Result<Option<Vec<String>>, String> {
        match &self.group_chat {
            Some(g) => g.patterns("messages.groupChat.mentionPatterns"),
            None => Ok(None),
        }
    }
}

/// `messages`: what this gateway reads of OpenClaw's message settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagesCfg {
    /// The emoji a channel reacts with to a message it takes (default 👀; `""`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_reaction: Option<String>,
    /// Which messages get it: `group-mentions` (default), `group-all`, `direct`, `all`,
    /// `off` / `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_reaction_scope: Option<String>,
    /// Put before each answer a chat gets (`""`: none; `"auto"`: `[identity.name]`;
    /// `{model}`, `{provider}`, `{thinkingLevel}`, … filled), unless a channel or account
    /// says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_prefix: Option<String>,
    /// Inbound burst batching (`debounceMs`, `byChannel.<channel>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<serde_json::Value>,
    /// Group chats (`historyLimit`, `mentionPatterns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_chat: Option<GroupChatCfg>,
    /// What a message does that arrives while its session's run is going (checked by
    /// [`QueueCfg::settings`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueCfg>,
    /// The per-reply usage footer's default (`"off"`, `"tokens"`, `"full"`, or a map of
    /// channel ids to them with `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_usage: Option<serde_json::Value>,
}

/// `messages.queue` (OpenClaw's keys).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCfg {
    /// `steer` (default), `followup`, `collect`, `interrupt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Value>,
    /// A mode per channel (`telegram`, `webchat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_channel: Option<Value>,
    /// Messages that may wait per session (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Value>,
    /// `summarize` (default), `old`, `new`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<Value>,
    /// OpenClaw's quiet window before queued messages run (accepted, checked; runs here
    /// start as soon as the session is free: `messages.inbound` batches bursts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce_ms: Option<Value>,
    /// The same per channel (accepted, checked, not applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce_ms_by_channel: Option<Value>,
}

impl QueueCfg {
    /// The checked settings; an error names the key and the fix.
    pub fn settings(&self) -> Result<openclaw_actors::run_queue::QueueSettings, String> {
        use openclaw_actors::run_queue::{DropPolicy, MAX_CAP, QueueMode, QueueSettings};
        let mode_of = |v: &Value, key: &str| match v.as_str().and_then(QueueMode::parse) {
            Some(m) => Ok(m),
            None => Err(format!(
                "{key} is {v}. Fix: use one of {}",
                QueueMode::NAMES
            )),
        };
        let mut out = QueueSettings::default();
        if let Some(v) = self.mode.as_ref().filter(|v| !v.is_null()) {
            out.mode = Some(mode_of(v, "messages.queue.mode")?);
        }
        match self.by_channel.as_ref() {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (channel, v) in map {
                    let key = format!("messages.queue.byChannel.{channel}");
                    out.by_channel
                        .insert(channel.to_ascii_lowercase(), mode_of(v, &key)?);
                }
            }
            Some(other) => {
                return Err(format!(
                    "messages.queue.byChannel is {other}. Fix: an object of channel → mode, e.g. {{\"telegram\": \"followup\"}}"
                ));
            }
        }
        if let Some(v) = self.cap.as_ref().filter(|v| !v.is_null()) {
            out.cap = match v.as_u64() {
                Some(n) if n >= 1 && n <= MAX_CAP as u64 => n as usize,
                _ => {
                    return Err(format!(
                        "messages.queue.cap is {v}. Fix: a whole number from 1 to {MAX_CAP}"
                    ));
                }
            };
        }
        if let Some(v) = self.drop.as_ref().filter(|v| !v.is_null()) {
            out.drop = v.as_str().and_then(DropPolicy::parse).ok_or_else(|| {
                format!(
                    "messages.queue.drop is {v}. Fix: use one of {}",
                    DropPolicy::NAMES
                )
            })?;
        }
        let ms = |v: &Value, key: &str| match v.as_u64() {
            Some(n) if n <= openclaw_actors::run_queue::MAX_DEBOUNCE_MS => Ok(n),
            _ => Err(format!(
                "{key} is {v}. Fix: use milliseconds from 0 to 60000"
            )),
        };
        if let Some(v) = self.debounce_ms.as_ref().filter(|v| !v.is_null()) {
            out.debounce_ms = Some(ms(v, "messages.queue.debounceMs")?);
        }
        match self.debounce_ms_by_channel.as_ref() {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (channel, v) in map {
                    let window = ms(v, &format!("messages.queue.debounceMsByChannel.{channel}"))?;
                    out.debounce_by_channel
                        .insert(channel.to_ascii_lowercase(), window);
                }
            }
            Some(other) => {
                return Err(format!(
                    "messages.queue.debounceMsByChannel is {other}. Fix: an object of channel → milliseconds"
                ));
            }
        }
        Ok(out)
    }
}

impl MessagesCfg {
    /// The quiet window batching a sender's rapid messages on `channel`
    /// (`inbound.byChannel.<channel>`, else `inbound.debounceMs`, else `default`); `Err`
    /// names the key.
    pub fn inbound_window(
        &self,
        channel: &str,
        default: std::time::Duration,
    ) -> Result<std::time::Duration, String> {
        let Some(inbound) = &self.inbound else {
            return Ok(default);
        };
        let ms = |v: &serde_json::Value, key: &str| match v.as_u64() {
            Some(n) if n <= 60_000 => Ok(std::time::Duration::from_millis(n)),
            _ => Err(format!(
                "{key} is {v}. Fix: use milliseconds from 0 (off) to 60000"
            )),
        };
        let by_channel = inbound.get("byChannel").and_then(|b| b.get(channel));
        match (by_channel, inbound.get("debounceMs")) {
            (Some(v), _) if !v.is_null() => ms(v, &format!("messages.inbound.byChannel.{channel}")),
            (_, Some(v)) if !v.is_null() => ms(v, "messages.inbound.debounceMs"),
            _ => Ok(default),
        }
    }
}

/// `channels`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelsCfg {
    /// Telegram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<TelegramCfg>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_entries_are_channel_and_sender_ids() {
        let cfg = |list: &[&str]| CommandsCfg {
            owner_allow_from: Some(list.iter().map(|s| (*s).to_owned()).collect()),
            ..CommandsCfg::default()
        };
        assert_eq!(
            cfg(&[" Telegram:4242 ", "discord:99"]).owners(),
            Ok(vec!["telegram:4242".to_owned(), "discord:99".to_owned()])
        );
        assert_eq!(CommandsCfg::default().owners(), Ok(Vec::new()));
        for bad in [
            "4242",
            ":1",
            "telegram:",
            "tele gram:1",
            "telegram:user:1",
            "telegram:1 2",
            "*",
        ] {
            let e = cfg(&[bad]).owners().expect_err(bad);
            assert!(
                e.contains("commands.ownerAllowFrom") && e.contains("Fix:"),
                "{e}"
            );
        }
    }
}

/// The most conversations `channels.telegram.mentionPatterns.allowIn` / `denyIn` hold.
pub const MAX_MENTION_SCOPE_IDS: usize = 1000;

/// `channels.telegram[.accounts.<id>].mentionPatterns` (`key`) as OpenClaw's scope: `mode`
/// `"allow"` (default) or `"deny"`, `allowIn` / `denyIn` lists of conversation ids (a group's
/// chat id, `<chat id>:topic:<thread id>` for a forum topic; numbers or strings). An error
/// names the key and the fix.
pub fn mention_scope(
    key: &str,
    v: &Value,
) -> Result<openclaw_actors::channel::telegram::groups::MentionScope, String> {
    let Value::Object(o) = v else {
        return Err(format!(
            "{key} is not an object. Fix: e.g. {{mode: \"deny\", allowIn: [\"-1001234567890\"]}}"
        ));
    };
    if let Some(k) = o
        .keys()
        .find(|k| !matches!(k.as_str(), "mode" | "allowIn" | "denyIn"))
    {
        return Err(format!(
            "{key}.{} is not a key of it. Fix: use mode, allowIn and denyIn",
            k.chars().take(64).collect::<String>()
        ));
    }
    let deny_mode = match o.get("mode") {
        None | Some(Value::Null) => false,
        Some(Value::String(m)) if m == "allow" => false,
        Some(Value::String(m)) if m == "deny" => true,
        Some(_) => {
            return Err(format!(
                "{key}.mode must be \"allow\" or \"deny\". Fix: \"deny\" turns the patterns off except in allowIn"
            ));
        }
    };
    let ids = |name: &str| -> Result<Vec<String>, String> {
        match o.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= MAX_MENTION_SCOPE_IDS => items
                .iter()
                .map(|i| match i {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                    Value::Number(n) if n.is_i64() => Ok(n.to_string()),
                    _ => Err(format!(
                        "{key}.{name} holds something that is not a chat id. Fix: list group chat ids (\"-1001234567890\") or topics (\"-1001234567890:topic:42\")"
                    )),
                })
                .collect(),
            Some(_) => Err(format!(
                "{key}.{name} must be a list of at most {MAX_MENTION_SCOPE_IDS} chat ids"
            )),
        }
    };
    Ok(openclaw_actors::channel::telegram::groups::MentionScope {
        deny_mode,
        allow_in: ids("allowIn")?,
        deny_in: ids("denyIn")?,
    })
}

#[cfg(test)]
mod mention_scope_tests {
    use serde_json::json;

    #[test]
    fn mention_scopes_are_read_as_openclaw_writes_them_and_bad_ones_named() {
        let s = super::mention_scope(
            "k",
            &json!({"mode": "deny", "allowIn": [-100, " -200:topic:3 "], "denyIn": []}),
        )
        .expect("scope");
        assert!(s.deny_mode);
        assert_eq!(s.allow_in, ["-100", "-200:topic:3"]);
        assert!(
            !super::mention_scope("k", &json!({}))
                .expect("empty")
                .deny_mode
        );
        for (bad, want) in [
            (json!([]), "k is not an object"),
            (json!({"mode": "off"}), "k.mode must be"),
            (json!({"allowIn": "-1"}), "k.allowIn must be a list"),
            (json!({"denyIn": [1.5]}), "k.denyIn holds"),
            (json!({"denyIn": [""]}), "k.denyIn holds"),
            (json!({"denyIn": vec![1; 1001]}), "at most 1000"),
            (json!({"nope": 1}), "k.nope is not a key"),
        ] {
            let e = super::mention_scope("k", &bad).expect_err("refused");
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
