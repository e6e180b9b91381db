//! The sessions `sessions.usage` reports: the index entries of the agents asked for (or
//! the one session asked for by key), as [`Target`]s with the row fields OpenClaw's
//! `sessions.usage` shows beside each session's usage.

use std::collections::HashSet;

use actix::prelude::*;
use serde_json::{Map, Value, json};

use super::Registry;
use crate::session_scope::ChatKind;
use crate::session_usage::Target;

/// The index entries of `agents` (`key`: only that session, of any agent), and the
/// `(agent, sessionId)` pairs the index names (a transcript outside them has no entry).
/// `Err`: `key` names no session.
#[derive(Message)]
#[rtype(result = "Result<(Vec<Target>, HashSet<(String, String)>), String>")]
pub struct UsageTargets {
    /// Agent ids.
    pub agents: Vec<String>,
    /// One session (normalized key).
    pub key: Option<String>,
}

impl Handler<UsageTargets> for Registry {
    type Result = MessageResult<UsageTargets>;

    fn handle(&mut self, msg: UsageTargets, _: &mut Self::Context) -> Self::Result {
        let mut targets = Vec::new();
        let mut known = HashSet::new();
        for (key, meta) in self.sessions_index.by_recency() {
            let agent = crate::agents::key_agent(key).unwrap_or(crate::agents::MAIN);
            known.insert((agent.to_owned(), meta.session_id.clone()));
            let wanted = match &msg.key {
                Some(k) => k == key,
                None => msg.agents.iter().any(|a| a == agent),
            };
            if !wanted {
                continue;
            }
            let mut fields = Map::new();
            if let Some(label) = meta.label.as_ref().or(meta.display_name.as_ref()) {
                fields.insert("label".into(), json!(label));
            }
            if let Some(d) = meta.delivery_context() {
                let chat_type = match ChatKind::of_key(key) {
                    ChatKind::Direct => "direct",
                    ChatKind::Group | ChatKind::Thread => "group",
                };
                fields.insert("chatType".into(), json!(chat_type));
                let mut origin = json!({"provider": d.channel, "chatType": chat_type, "to": d.to});
                if let Some(a) = d.account_id {
                    origin["accountId"] = json!(a);
                }
                if let Some(t) = d.thread_id {
                    origin["threadId"] = json!(t);
                }
                fields.insert("origin".into(), origin);
            }
            for (k, v) in [
                ("modelOverride", &meta.model_override),
                ("providerOverride", &meta.provider_override),
                ("modelProvider", &meta.model_provider),
                ("model", &meta.model),
            ] {
                if let Some(v) = v {
                    fields.insert(k.into(), Value::String(v.clone()));
                }
            }
            targets.push(Target {
                key: key.clone(),
                agent_id: agent.to_owned(),
                session_id: meta.session_id.clone(),
                file: None,
                updated_at: Some(meta.updated_at),
                channel: meta.channel.clone(),
                fields,
            });
        }
        if let Some(k) = &msg.key
            && targets.is_empty()
        {
            let shown: String = k.chars().take(120).collect();
            return MessageResult(Err(format!("Invalid session reference: {shown}")));
        }
        MessageResult(Ok((targets, known)))
    }
}
