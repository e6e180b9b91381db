//! Chat channels: the inbound message shape every channel hands to the registry, and the
//! session-key rules that map a chat to an agent session.

pub mod telegram;

use serde::{Deserialize, Serialize};

/// A message that arrived on a channel and was durably accepted by it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessage {
    /// Stable id (`telegram:<account>:<update_id>`): runs are deduplicated on it.
    pub id: String,
    /// Channel id (`telegram`).
    pub channel: String,
    /// Channel account id (`default`).
    pub account_id: String,
    /// Chat to answer in.
    pub chat_id: i64,
    /// `private`, `group`, `supergroup`.
    pub chat_type: String,
    /// Forum topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<i64>,
    /// Sender's user id.
    pub sender_id: i64,
    /// Sender's display name.
    #[serde(default)]
    pub sender_name: String,
    /// Sender's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_username: Option<String>,
    /// The message to reply to.
    pub message_id: i64,
    /// The text (mention of the bot stripped in groups).
    pub text: String,
    /// Arrival time (ms).
    pub ts: u64,
}

impl InboundMessage {
    /// The session this message belongs to: one per DM peer, one per group (and topic).
    pub fn session_key(&self, agent_id: &str) -> String {
        if self.chat_type == "private" {
            format!("agent:{agent_id}:{}:dm:{}", self.channel, self.sender_id)
        } else {
            match self.thread_id {
                Some(t) => format!(
                    "agent:{agent_id}:{}:group:{}:topic:{t}",
                    self.channel, self.chat_id
                ),
                None => format!("agent:{agent_id}:{}:group:{}", self.channel, self.chat_id),
            }
        }
    }
}

/// Normalises an operator-supplied session key: `main` → `agent:main:main`.
pub fn normalize_session_key(key: &str) -> String {
    let key = key.trim();
    if key.starts_with("agent:") {
        key.to_owned()
    } else {
        format!("agent:main:{key}")
    }
}

/// Splits text into chunks of at most `max` characters, preferring line breaks, then
/// spaces, and never splitting inside a character.
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let byte_limit = rest
            .char_indices()
            .nth(max)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let window = &rest[..byte_limit];
        let cut = window
            .rfind('\n')
            .filter(|&i| i > byte_limit / 2)
            .or_else(|| window.rfind(' ').filter(|&i| i > byte_limit / 2))
            .map(|i| i + 1)
            .unwrap_or(byte_limit);
        out.push(rest[..cut].trim_end().to_owned());
        rest = &rest[cut..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_limit_and_chars() {
        let text = "é".repeat(5000);
        let parts = split_message(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= 4096));
        assert_eq!(parts.concat(), text);
        let lines = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        let parts = split_message(&lines, 4096);
        assert_eq!(parts, vec!["a".repeat(3000), "b".repeat(3000)]);
        assert_eq!(split_message("hi", 4096), vec!["hi".to_owned()]);
    }

    #[test]
    fn session_keys() {
        let mut m = InboundMessage {
            id: "x".into(),
            channel: "telegram".into(),
            account_id: "default".into(),
            chat_id: -100,
            chat_type: "private".into(),
            thread_id: None,
            sender_id: 42,
            sender_name: String::new(),
            sender_username: None,
            message_id: 1,
            text: String::new(),
            ts: 0,
        };
        assert_eq!(m.session_key("main"), "agent:main:telegram:dm:42");
        m.chat_type = "supergroup".into();
        m.thread_id = Some(7);
        assert_eq!(
            m.session_key("main"),
            "agent:main:telegram:group:-100:topic:7"
        );
        assert_eq!(normalize_session_key("main"), "agent:main:main");
    }
}
