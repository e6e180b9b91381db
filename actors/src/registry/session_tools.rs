//! The registry's side of the agent's session tools (see [`crate::session_tools`]): which
//! sessions a run may see, `session_status`, `sessions_list`, and the visibility check
//! before `sessions_history` reads a transcript.

use actix::prelude::*;
use serde_json::{Value, json};

use super::Registry;
use crate::session_tools::{MAX_BYTES, MAX_LIST, Visibility, kind_of};
use crate::util::now_ms;

/// A session tool call of the run in `caller`.
#[derive(Message)]
#[rtype(result = "Result<Value, String>")]
pub struct SessionToolCall {
    /// The caller's session.
    pub caller: String,
    /// The caller answers a shared chat (or is an isolated or shared job): `tree` at most.
    pub clamped: bool,
    /// `session_status`, `sessions_list` or `sessions_history`.
    pub name: String,
    /// The arguments.
    pub args: Value,
}

impl Registry {
    /// Whether the run in `caller` may see session `target`.
    fn session_visible(
        &self,
        s: &crate::session_tools::SessionToolSettings,
        caller: &str,
        clamped: bool,
        target: &str,
    ) -> bool {
        if target == caller {
            return true;
        }
        let mode = if clamped {
            match s.visibility {
                Visibility::Own => Visibility::Own,
                _ => Visibility::Tree,
            }
        } else {
            s.visibility
        };
        let own_child = self.children.is_child_of(target, caller);
        let from = crate::agents::key_agent(caller).unwrap_or(crate::agents::MAIN);
        let to = crate::agents::key_agent(target).unwrap_or(crate::agents::MAIN);
        let same_agent = from == to;
        match mode {
            Visibility::Own => false,
            Visibility::Tree => own_child || (!clamped && same_agent && kind_of(caller) == "main"),
            Visibility::Agent => own_child || same_agent,
            Visibility::All => own_child || same_agent || s.cross_agent(from, to),
        }
    }

    /// The session `args.sessionKey` names (`current` or none: the caller's), normalized.
    fn tool_target(&self, caller: &str, args: &Value) -> Result<String, String> {
        match args.get("sessionKey") {
            None | Some(Value::Null) => Ok(caller.to_owned()),
            Some(Value::String(k)) if k.trim().is_empty() || k.trim() == "current" => {
                Ok(caller.to_owned())
            }
            Some(Value::String(k)) if k.len() <= 512 && !k.chars().any(char::is_control) => {
                Ok(self.shared.live.get().agents.normalize_key(k.trim()))
            }
            Some(Value::String(_)) => Err("sessionKey is not a session key".into()),
            Some(_) => Err("sessionKey must be a string".into()),
        }
    }
}

impl Registry {
    /// The session `sessions_send` names: `sessionKey`, else the session with `label`,
    /// else agent `agentId`'s main session.
    fn send_target(&self, caller: &str, args: &Value) -> Result<String, String> {
        if args.get("sessionKey").is_some_and(|v| !v.is_null()) {
            return self.tool_target(caller, args);
        }
        if let Some(label) = args["label"]
            .as_str()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            return self
                .sessions_index
                .by_recency()
                .into_iter()
                .find(|(_, m)| m.label.as_deref() == Some(label))
                .map(|(k, _)| k.clone())
                .ok_or_else(|| {
                    format!(
                        "no session is labelled {:?}",
                        crate::subagents::clean(label, 80)
                    )
                });
        }
        if let Some(agent) = args["agentId"]
            .as_str()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            let agent = agent.to_ascii_lowercase();
            if !crate::agents::valid_id(&agent)
                || self.shared.live.get().agents.get(&agent).is_none()
            {
                return Err(format!(
                    "there is no agent {:?}",
                    crate::subagents::clean(&agent, 64)
                ));
            }
            return Ok(format!("agent:{agent}:main"));
        }
        Err("name the session: sessionKey, label or agentId".into())
    }
}

/// `sessions.search`'s transcripts (an operator sees every session): most recent first, at
/// most [`SEARCH_MAX_SESSIONS`](crate::session_tools::SEARCH_MAX_SESSIONS), narrowed by
/// these.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Vec<crate::session_tools::SearchTarget>")]
pub struct SearchTargets {
    /// Only the sessions this run's session may see (`(caller, clamped)`, as
    /// [`SessionToolCall`]'s); `None`: an operator's search, every session.
    pub viewer: Option<(String, bool)>,
    /// Only this agent's sessions.
    pub agent: Option<String>,
    /// Only these sessions.
    pub keys: Option<Vec<String>>,
    /// Only those active within this many minutes.
    pub active_minutes: Option<u64>,
    /// Leave out sub-agents' sessions.
    pub exclude_subagents: bool,
    /// Leave out cron sessions.
    pub exclude_cron: bool,
}

impl Handler<SearchTargets> for Registry {
    type Result = MessageResult<SearchTargets>;

    fn handle(&mut self, msg: SearchTargets, _: &mut Self::Context) -> Self::Result {
        let since = msg
            .active_minutes
            .map(|m| now_ms().saturating_sub(m.saturating_mul(60_000)));
        let settings = self.shared.live.get().session_tools.clone();
        let mut out = Vec::new();
        for (key, meta) in self.sessions_index.by_recency() {
            if out.len() >= crate::session_tools::SEARCH_MAX_SESSIONS {
                break;
            }
            let kind = kind_of(key);
            if msg
                .keys
                .as_ref()
                .is_some_and(|k| !k.iter().any(|k| k == key))
                || msg.agent.as_deref().is_some_and(|a| {
                    crate::agents::key_agent(key).unwrap_or(crate::agents::MAIN) != a
                })
                || since.is_some_and(|t| meta.updated_at < t)
                || (msg.exclude_subagents && kind == "subagent")
                || (msg.exclude_cron && kind == "cron")
                || msg.viewer.as_ref().is_some_and(|(caller, clamped)| {
                    !self.session_visible(&settings, caller, *clamped, key)
                })
            {
                continue;
            }
            out.push(self.search_target(key, &meta.session_id));
        }
        MessageResult(out)
    }
}

impl Registry {
    /// The transcript `sessions_search` / `sessions.search` reads for session `key`.
    fn search_target(&self, key: &str, session_id: &str) -> crate::session_tools::SearchTarget {
        crate::session_tools::SearchTarget {
            key: key.to_owned(),
            session_id: session_id.to_owned(),
            path: self
                .shared
                .config
                .state_dir
                .join(super::runs::transcript_name(key, session_id)),
        }
    }
}

/// `sessions_send`'s turn in the target session, queued like its other runs.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct SubmitSessionTurn(pub super::runs::RunRequest);

impl Handler<SubmitSessionTurn> for Registry {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: SubmitSessionTurn, ctx: &mut Self::Context) -> Self::Result {
        self.submit(msg.0, ctx)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl Handler<SessionToolCall> for Registry {
    type Result = Result<Value, String>;

    fn handle(&mut self, msg: SessionToolCall, _: &mut Self::Context) -> Self::Result {
        let SessionToolCall {
            caller,
            clamped,
            name,
            args,
        } = msg;
        // Read once per call (a list checks every session).
        let live = self.shared.live.get();
        let settings = live.session_tools.clone();
        match name.as_str() {
            "session_status" | "sessions_history" | "sessions_send" => {
                let target = if name == "sessions_send" {
                    self.send_target(&caller, &args)?
                } else {
                    self.tool_target(&caller, &args)?
                };
                // The same answer for a session that exists and one that is not visible.
                let unknown = || {
                    format!(
                        "no session {:?} that this conversation may see (sessions_list shows them)",
                        crate::subagents::clean(&target, 120)
                    )
                };
                if !self.session_visible(&settings, &caller, clamped, &target) {
                    return Err(unknown());
                }
                if name == "sessions_send" {
                    if target == caller {
                        return Err("that is this conversation: answer here instead".into());
                    }
                    return Ok(json!({"ok": true, "sessionKey": target}));
                }
                if name == "sessions_history" {
                    if self.sessions_index.get(&target).is_none() {
                        return Err(unknown());
                    }
                    return Ok(json!({"ok": true, "sessionKey": target}));
                }
                if target != caller && self.sessions_index.get(&target).is_none() {
                    return Err(unknown());
                }
                Ok(json!({"ok": true, "sessionKey": target,
                    "status": self.status_text(&target, "agent")}))
            }
            "sessions_search" => {
                // One session (`sessionKey`), or every visible one, most recent first.
                let one = match args.get("sessionKey") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(k)) if k.trim().is_empty() => None,
                    Some(_) => Some(self.tool_target(&caller, &args)?),
                };
                if let Some(target) = &one
                    && (!self.session_visible(&settings, &caller, clamped, target)
                        || self.sessions_index.get(target).is_none())
                {
                    return Err(format!(
                        "no session {:?} that this conversation may see (sessions_list shows them)",
                        crate::subagents::clean(target, 120)
                    ));
                }
                // The transcripts themselves come from `SearchTargets` (with this caller as
                // the viewer).
                Ok(json!({"ok": true, "sessionKey": one}))
            }
            "sessions_list" => {
                let limit = args["limit"]
                    .as_u64()
                    .map_or(50, |n| usize::try_from(n).unwrap_or(MAX_LIST))
                    .clamp(1, MAX_LIST);
                let kinds: Option<Vec<String>> = args["kinds"].as_array().map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .collect()
                });
                let agent = args["agentId"].as_str().map(str::to_ascii_lowercase);
                let search = args["search"]
                    .as_str()
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| !s.is_empty());
                let now = now_ms();
                let since = args["activeMinutes"]
                    .as_u64()
                    .map(|m| now.saturating_sub(m.saturating_mul(60_000)));
                let mut rows = Vec::new();
                let mut used = 2usize;
                let mut truncated = false;
                for (key, meta) in self.sessions_index.by_recency() {
                    if !self.session_visible(&settings, &caller, clamped, key)
                        || kinds
                            .as_ref()
                            .is_some_and(|k| !k.iter().any(|k| k == kind_of(key)))
                        || agent.as_deref().is_some_and(|a| {
                            crate::agents::key_agent(key).unwrap_or(crate::agents::MAIN) != a
                        })
                        || since.is_some_and(|t| meta.updated_at < t)
                    {
                        continue;
                    }
                    if let Some(q) = &search {
                        let has = |s: Option<&str>| s.is_some_and(|s| s.to_lowercase().contains(q));
                        if !(has(Some(key))
                            || has(meta.label.as_deref())
                            || has(meta.display_name.as_deref()))
                        {
                            continue;
                        }
                    }
                    // Only a further row this caller may see says there are more.
                    if rows.len() >= limit {
                        truncated = true;
                        break;
                    }
                    let mut row = json!({"key": key, "kind": kind_of(key),
                        "agentId": crate::agents::key_agent(key).unwrap_or(crate::agents::MAIN),
                        "updatedAt": meta.updated_at, "messageCount": meta.message_count,
                        "running": self.runs.active_run(key).is_some()});
                    for (field, v) in [
                        ("label", meta.label.as_deref()),
                        ("displayName", meta.display_name.as_deref()),
                        ("channel", meta.channel.as_deref()),
                        ("model", meta.model.as_deref()),
                    ] {
                        if let Some(v) = v {
                            row[field] = json!(crate::subagents::clean(v, 200));
                        }
                    }
                    if key == &caller {
                        row["current"] = json!(true);
                    }
                    let n = row.to_string().len().saturating_add(1);
                    if used.saturating_add(n) > MAX_BYTES {
                        truncated = true;
                        break;
                    }
                    used += n;
                    rows.push(row);
                }
                let mut out = json!({"ok": true, "count": rows.len(), "sessions": rows});
                if truncated {
                    out["truncated"] = json!(true);
                }
                let mode = settings.visibility;
                if clamped || mode != Visibility::All {
                    out["visibility"] = json!(if clamped && mode != Visibility::Own {
                        "tree"
                    } else {
                        mode.as_str()
                    });
                }
                Ok(out)
            }
            other => Err(format!("unknown tool: {other}")),
        }
    }
}
