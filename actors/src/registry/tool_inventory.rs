//! `tools.effective` (OpenClaw's `server-methods/tools-effective.ts`): the tools a run in a
//! session is offered right now, built by the code that builds a run's offer
//! ([`crate::agent_run::offered_specs`]) from what a run of that session would start with:
//! the session's agent and its tool policy, the session's model (`apply_patch`'s models),
//! the `exec` access (`tools.exec`, the nodes that grant `system.run`), `web_fetch` /
//! `web_search` as configured, the cron scheduler, and the memory tools only where private.
//!
//! The run it describes is an operator's in that session (the Control UI's chat, or
//! `chat.send`): a chat's own runs (a group's, a stranger's) may get fewer (see
//! [`crate::agent_run::scope_of`]), never more.

use actix::prelude::*;
use serde::Serialize;

use super::Registry;
use super::runs::{RunOrigin, RunRequest, run_tools};
use crate::protocol::error::ErrorShape;

/// `tools.effective {sessionKey, agentId?}`, parsed.
#[derive(Message)]
#[rtype(result = "Result<EffectiveTools, ErrorShape>")]
pub struct EffectiveToolsAsk {
    /// Normalized session key.
    pub session_key: String,
}

/// OpenClaw's `tools.effective` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveTools {
    /// The session's agent.
    pub agent_id: String,
    /// The agent's `tools.profile` (`full` when none).
    pub profile: String,
    /// One group (`core`: this gateway's tools are all its own), absent when no tool is
    /// offered.
    pub groups: Vec<EffectiveGroup>,
    /// Why the list is empty or short, when something other than the policy decides it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
}

/// A group of `tools.effective`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveGroup {
    /// `core`.
    pub id: &'static str,
    /// `Built-in tools`.
    pub label: &'static str,
    /// `core`.
    pub source: &'static str,
    /// The tools, by label.
    pub tools: Vec<EffectiveTool>,
}

/// One offered tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveTool {
    /// The name the model calls it by.
    pub id: String,
    /// Its display title (`web_fetch` → `Web Fetch`).
    pub label: String,
    /// OpenClaw's one-line summary.
    pub description: String,
    /// The description the model is given.
    pub raw_description: String,
    /// `core`.
    pub source: &'static str,
}

/// A `tools.effective` notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// What it is about.
    pub id: &'static str,
    /// `info` or `warning`.
    pub severity: &'static str,
    /// What it says.
    pub message: String,
}

/// `web_fetch` → `Web Fetch`.
fn title(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_uppercase().chain(c).collect::<String>()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Handler<EffectiveToolsAsk> for Registry {
    type Result = Result<EffectiveTools, ErrorShape>;

    fn handle(&mut self, msg: EffectiveToolsAsk, _: &mut Self::Context) -> Self::Result {
        // The run described: an operator's message in this session.
        let req = RunRequest::new(
            String::new(),
            msg.session_key,
            String::new(),
            RunOrigin::Operator,
            None,
        );
        self.effective_tools(&req, true)
    }
}

impl Registry {
    /// The tools a run like `req` (its session, origin and sender) is offered now;
    /// `known`: the session must exist already (a chat's own, asked from the chat, is made
    /// by its first message).
    pub(super) fn effective_tools(
        &self,
        req: &RunRequest,
        known: bool,
    ) -> Result<EffectiveTools, ErrorShape> {
        let key = req.session_key.clone();
        let live = self.shared.live.get();
        let Some(agent) = live.agents.agent_of_key(&key) else {
            let why = live.agents.refuse_key(&key).unwrap_or_default();
            return Err(ErrorShape::invalid(format!(
                "invalid tools.effective params: {why}"
            )));
        };
        let meta = self.sessions_index.get(&key);
        if known && meta.is_none() && key != format!("agent:{}:main", agent.id) {
            return Err(ErrorShape::invalid(format!(
                "unknown session key {:?}. Fix: sessions.list shows the sessions",
                key.chars().take(200).collect::<String>()
            )));
        }
        let model = self.run_model(&key, meta.and_then(|m| m.model_choice()), agent);
        let profile = agent.tools.profile_name().to_owned();
        if model.commands_help().is_some() {
            return Ok(EffectiveTools {
                agent_id: agent.id.clone(),
                profile,
                groups: Vec::new(),
                notices: vec![Notice {
                    id: "no-model",
                    severity: "warning",
                    message: "no model is configured (agents.defaults.model): runs answer chat commands only, without tools".into(),
                }],
            });
        }
        let filter = run_tools(&live, agent, &req.origin);
        let exec =
            Some(self.exec_access(&live, agent, req)).filter(crate::exec_tool::ExecAccess::offered);
        let (web, search) = self.web_tools(&live);
        let specs = crate::agent_run::offered_specs(
            &filter,
            crate::agent_run::OfferBasis {
                cron: self.shared.cron.get().is_some(),
                workspace: true,
                scope: crate::agent_run::scope_of(req),
                model: &model.primary(),
            },
            exec,
            web,
            search,
        );
        let mut tools: Vec<EffectiveTool> = specs
            .iter()
            .map(|s| EffectiveTool {
                id: s.name.clone(),
                label: title(&s.name),
                description: crate::tool_policy::summary(&s.name)
                    .map_or_else(|| s.description.clone(), str::to_owned),
                raw_description: s.description.clone(),
                source: "core",
            })
            .collect();
        tools.sort_by(|a, b| a.label.cmp(&b.label));
        let groups = if tools.is_empty() {
            Vec::new()
        } else {
            vec![EffectiveGroup {
                id: "core",
                label: "Built-in tools",
                source: "core",
                tools,
            }]
        };
        Ok(EffectiveTools {
            agent_id: agent.id.clone(),
            profile,
            groups,
            notices: Vec::new(),
        })
    }
}

/// `/tools [compact|verbose]`'s answer for `tools` (OpenClaw's chat command: what the agent
/// can use in this conversation now).
pub fn tools_text(tools: &EffectiveTools, verbose: bool) -> String {
    let offered: Vec<&EffectiveTool> = tools.groups.iter().flat_map(|g| &g.tools).collect();
    let mut lines = vec![format!(
        "🧰 Tools of agent {} here (profile {}): {}",
        tools.agent_id,
        tools.profile,
        if offered.is_empty() {
            "none".to_owned()
        } else {
            offered.len().to_string()
        }
    )];
    if verbose {
        lines.extend(
            offered
                .iter()
                .map(|t| format!("- {} ({}): {}", t.label, t.id, t.description)),
        );
    } else if !offered.is_empty() {
        lines.push(
            offered
                .iter()
                .map(|t| t.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    lines.extend(tools.notices.iter().map(|n| format!("⚠️ {}", n.message)));
    if !verbose && !offered.is_empty() {
        lines.push("/tools verbose: what each one does.".to_owned());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn titles() {
        assert_eq!(super::title("web_fetch"), "Web Fetch");
        assert_eq!(super::title("nodes"), "Nodes");
        assert_eq!(super::title("apply_patch"), "Apply Patch");
        assert_eq!(super::title("_x__y_"), "X Y");
    }
}
