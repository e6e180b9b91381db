//! `skills.status` (OpenClaw's `server-methods/skills.ts`): the skills an agent has, where
//! each comes from, whether it is eligible on this host and what it lacks, in OpenClaw's
//! `SkillStatusReport` shape, so that the real CLI's `openclaw skills list` / `skills
//! check` show this gateway's skills.

use actix::prelude::*;
use serde_json::Value;

use super::agent_params::{fail, obj};
use super::{Call, Method, Params, gone};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::workspace::skills;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "skills.status",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::skills_status),
    },
    Method {
        name: "hooks.status",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::hooks_status),
    },
];

/// A configured agent's id (any case), or OpenClaw's refusal.
fn known_agent(a: &str) -> Result<String, ErrorShape> {
    let id = a.to_ascii_lowercase();
    if crate::agents::known_now(&id) {
        Ok(id)
    } else {
        let shown: String = a.chars().take(64).collect();
        Err(ErrorShape::invalid(format!("unknown agent id \"{shown}\"")))
    }
}

/// `hooks.status {agentId?}` (OpenClaw's closed schema).
pub(crate) struct HooksParams {
    agent: Option<String>,
}

impl Params for HooksParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const METHOD: &str = "hooks.status";
        let o = match &call.params {
            Value::Null => &serde_json::Map::new(),
            p => obj(METHOD, p)?,
        };
        let mut c = Checker::new();
        c.closed("", o, &["agentId"]);
        let agent = c.string("", o, "agentId", true).map(str::trim);
        if !c.ok() {
            return Err(fail(METHOD, &c));
        }
        Ok(Self {
            agent: agent.map(known_agent).transpose()?,
        })
    }
}

/// `skills.status` params: the agent (`agentId`, or the agent of `sessionKey`, else the
/// default one).
pub(crate) struct StatusParams {
    agent: Option<String>,
}

impl Params for StatusParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const METHOD: &str = "skills.status";
        let o = obj(METHOD, &call.params)?;
        let mut c = Checker::new();
        c.closed("", o, &["agentId", "sessionKey"]);
        let agent = c.string("", o, "agentId", true).map(str::trim);
        let key = c.string("", o, "sessionKey", true).map(str::trim);
        if !c.ok() {
            return Err(fail(METHOD, &c));
        }
        let agent = match (agent, key) {
            (Some(a), _) => Some(known_agent(a)?),
            (None, Some(k)) => match crate::agents::key_agent(k) {
                Some(id) if crate::agents::known_now(id) => Some(id.to_owned()),
                Some(_) => return Err(ErrorShape::invalid("Session not found.")),
                None => None,
            },
            (None, None) => None,
        };
        Ok(Self { agent })
    }
}

/// The agent `agent` names, else the default one.
fn agent_or_default<'a>(
    live: &'a crate::hot::HotConfig,
    agent: Option<&str>,
) -> &'a crate::agents::AgentDef {
    agent
        .and_then(|a| live.agents.get(a))
        .unwrap_or_else(|| live.agents.default_agent())
}

impl WsSession {
    /// `hooks.status`: OpenClaw's hook report for this gateway, which runs no hooks
    /// (OpenClaw's `HOOK.md` event hooks are not done here): the agent's workspace, the
    /// managed hooks directory (`<state>/hooks`) and an empty list. Without it the real
    /// CLI's `openclaw hooks list` would show the hooks of its own machine as if this
    /// gateway ran them (or fail, with a remote gateway).
    fn hooks_status(&mut self, call: Call, p: HooksParams, ctx: &mut Context<Self>) {
        let live = self.shared.live.get();
        let def = agent_or_default(&live, p.agent.as_deref());
        let report = serde_json::json!({
            "workspaceDir": def.workspace.dir.display().to_string(),
            "managedHooksDir": self.shared.config.state_dir.join("hooks").display().to_string(),
            "hooks": [],
        });
        self.respond_ok(&call.id, &report, ctx);
    }

    fn skills_status(&mut self, call: Call, p: StatusParams, ctx: &mut Context<Self>) {
        let live = self.shared.live.get();
        let def = agent_or_default(&live, p.agent.as_deref());
        let (agent, ws) = (def.id.clone(), def.workspace.clone());
        self.reply_with(
            call.id,
            async move {
                actix_web::rt::task::spawn_blocking(move || -> Value {
                    let judged = skills::judged_here(&ws);
                    skills::status_report(
                        &ws.dir,
                        ws.skill_settings.managed_dir.as_deref(),
                        &agent,
                        &judged,
                        ws.skills.as_deref(),
                    )
                })
                .await
                .map_err(|_| gone())
            },
            ctx,
        );
    }
}
