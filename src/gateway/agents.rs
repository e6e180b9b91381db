//! The agent roster of a configuration (`agents.entries` / `agents.list` and `bindings`):
//! each agent's workspace, tool policy and model label, checked as the start-up checks the
//! single agent's (a workspace apart from the state directory, valid tool names).

use std::sync::Arc;

use openclaw_actors::agents::{AccountMatch, AgentDef, Binding, PeerKind, Roster, valid_id};
use openclaw_actors::tool_policy::ToolFilter;
use openclaw_actors::workspace::WorkspaceSettings;

use crate::config::{BindingCfg, Loaded, PeerIdCfg};

/// The roster of `loaded` (`None`: no `agents.entries` / `agents.list`, the single agent
/// `main` with `workspace` and `tools`). `default_ws` is the default agent's workspace
/// (`agents.defaults.workspace`, `OPENCLAW_WORKSPACE_DIR`); every other agent's defaults
/// to `<agents.defaults.workspace>/<id>` when that is set, else `<state>/workspace-<id>`,
/// as OpenClaw's. Warnings (ignored bindings) go to `warn`.
pub fn roster(
    loaded: &Loaded,
    default_ws: &WorkspaceSettings,
    tools: &ToolFilter,
    home: Option<&std::path::Path>,
    warn: &mut dyn FnMut(String),
) -> Result<Option<Roster>, String> {
    let cfg = &loaded.config;
    let configured = cfg.agents.configured()?;
    if configured.is_empty() {
        if cfg.bindings.as_ref().is_some_and(|b| !b.is_empty()) {
            warn("bindings are set but no agents are configured (agents.entries): every message goes to the agent main".into());
        }
        return Ok(None);
    }
    for (id, key, _) in &configured {
        if !valid_id(id) {
            return Err(format!(
                "{key}: the agent id {:?} is not valid. Fix: use 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
                id.chars().take(80).collect::<String>()
            ));
        }
    }
    let explicit = match cfg.agents.ownership.as_deref().map(str::trim) {
        None => false,
        Some("explicit") => true,
        Some(other) => {
            return Err(format!(
                "agents.ownership is {:?}. Fix: \"explicit\" (no agent answers the chats no binding matches), or leave it out",
                other.chars().take(40).collect::<String>()
            ));
        }
    };
    // The owner of unbound messages: the legacy `default: true` marker; a legacy
    // `agents.list` without one keeps its first agent (OpenClaw's migration does the same).
    // An explicit fleet has none (OpenClaw retires the markers there).
    let marked: Vec<&String> = configured
        .iter()
        .filter(|(_, _, e)| e.default == Some(true))
        .map(|(id, _, _)| id)
        .collect();
    if explicit && !marked.is_empty() {
        warn(format!(
            "agents.ownership is \"explicit\", so default: true on {} is ignored: the chats no binding matches are not answered. Fix: add a binding, or remove agents.ownership",
            marked
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if marked.len() > 1 {
        return Err(format!(
            "several agents are marked default: true ({}). Fix: mark one",
            marked
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let owner = marked
        .first()
        .map(|s| (*s).clone())
        .or_else(|| {
            cfg.agents
                .list
                .is_some()
                .then(|| configured.first().map(|(id, _, _)| id.clone()))
                .flatten()
        })
        .filter(|_| !explicit);
    // Operator surfaces: `agents.defaults.systemAgent.agentId`, else the owner, else `main`,
    // else the first.
    let system = match cfg
        .agents
        .defaults
        .system_agent
        .as_ref()
        .and_then(|s| s.agent_id.as_deref())
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
    {
        Some(id) if configured.iter().any(|(c, _, _)| *c == id) => Some(id),
        Some(id) => {
            return Err(format!(
                "agents.defaults.systemAgent.agentId is {:?}, which is not a configured agent. Fix: use one of: {}",
                id.chars().take(80).collect::<String>(),
                configured
                    .iter()
                    .map(|(c, _, _)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        None => None,
    };
    let default_id = system
        .clone()
        .or_else(|| owner.clone())
        .or_else(|| (configured.len() == 1).then(|| configured[0].0.clone()))
        .or_else(|| {
            configured
                .iter()
                .any(|(id, _, _)| id == openclaw_actors::agents::MAIN)
                .then(|| openclaw_actors::agents::MAIN.to_owned())
        })
        .unwrap_or_else(|| configured[0].0.clone());
    let defaults_dir = cfg
        .agents
        .defaults
        .workspace
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|p| crate::config::absolute_dir(p, "agents.defaults.workspace", home))
        .transpose()?;
    let global_patterns_unset = cfg
        .messages
        .as_ref()
        .map(crate::config::MessagesCfg::mention_patterns)
        .transpose()?
        .flatten()
        .is_none();
    let mut agents = Vec::new();
    for (id, key, e) in &configured {
        let dir = match e
            .workspace
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(p) => crate::config::absolute_dir(p, &format!("{key}.workspace"), home)?,
            None if *id == default_id => default_ws.dir.clone(),
            None => match &defaults_dir {
                Some(d) => d.join(id),
                None => loaded.state_dir.join(format!("workspace-{id}")),
            },
        };
        super::check_workspace_apart(&dir, &loaded.state_dir, loaded.path.as_deref())
            .map_err(|m| format!("{key}: {m}"))?;
        let tools = agent_tools(tools, &cfg.tools, e.tools.as_ref())
            .map_err(|m| m.replace("tools.", &format!("{key}.tools.")))?;
        let identity_name = e
            .identity
            .as_ref()
            .and_then(|i| i.name.as_deref())
            .and_then(display_name);
        // Its own `subagents` over the defaults' (with `tools.subagents.tools`).
        let subagents = match &e.subagents {
            Some(own) => Some(Arc::new(
                crate::config::agents::SubagentsCfg::settings(
                    Some(&crate::config::agents::SubagentsCfg::over(
                        own,
                        cfg.agents.defaults.subagents.as_ref(),
                    )),
                    cfg.tools.subagents.as_ref().and_then(|s| s.tools.as_ref()),
                )
                .map_err(|m| m.replace("agents.defaults.subagents", &format!("{key}.subagents")))?,
            )),
            None => None,
        };
        if let Some(d) = e
            .agent_dir
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            let usual = loaded.state_dir.join("agents").join(id).join("agent");
            let given = crate::config::absolute_dir(d, &format!("{key}.agentDir"), home)?;
            if given != usual {
                warn(format!(
                    "{key}.agentDir is {}: openclaw-rs keeps every agent's state under {} and does not use another directory",
                    given.display(),
                    loaded.state_dir.join("agents").join(id).display()
                ));
            }
        }
        let mentions = agent_mentions(key, e, warn)?;
        // A short name derived into a pattern wakes the bot on a common word.
        if mentions.own.is_none()
            && global_patterns_unset
            && let Some(w) = e
                .identity
                .as_ref()
                .and_then(|i| i.name.as_deref())
                .and_then(|n| short_name_warning(key, n))
        {
            warn(w);
        }
        agents.push(AgentDef {
            mentions,
            subagents,
            id: id.clone(),
            name: e
                .name
                .as_deref()
                .and_then(display_name)
                .or_else(|| identity_name.clone()),
            identity_name,
            workspace: Arc::new(WorkspaceSettings {
                dir,
                skills: match &e.skills {
                    Some(own) => {
                        crate::config::skill_allowlist(Some(own), &format!("{key}.skills"))?
                    }
                    None => default_ws.skills.clone(),
                },
                ..default_ws.clone()
            }),
            tools: Arc::new(tools),
            model: e.model.as_ref().and_then(|m| m.primary.clone()),
            thinking: match e.thinking_default.as_deref() {
                None => None,
                Some(t) => Some(openclaw_actors::ports::Thinking::parse(t).ok_or_else(|| {
                    format!(
                        "{key}.thinkingDefault is {:?}. Fix: one of off, minimal, low, medium, high, xhigh",
                        t.chars().take(40).collect::<String>()
                    )
                })?),
            },
        });
    }
    let mut bindings = Vec::new();
    for (i, b) in cfg.bindings.iter().flatten().enumerate() {
        if let Some(bound) = binding(i, b, warn)? {
            bindings.push(bound);
        }
    }
    let roster = Roster::new(agents, owner, bindings)?;
    Ok(Some(match system {
        Some(id) => roster.with_default(&id),
        None => roster,
    }))
}

/// The heartbeats of `cfg` (OpenClaw's scope rules): when any agent has its own
/// `heartbeat` block, one per such agent (its block over `agents.defaults.heartbeat`, its
/// workspace's `HEARTBEAT.md`); else the default agent's, from `agents.defaults.heartbeat`
/// with `default_ws`'s checklist. `Err` names the bad key and the fix.
pub fn heartbeats(
    cfg: &crate::config::Config,
    roster: Option<&Roster>,
    default_ws: &WorkspaceSettings,
) -> Result<Vec<openclaw_actors::cron::heartbeat::HeartbeatSettings>, String> {
    // The shared block is checked on its own first, so its mistakes name its keys.
    let mut shared = cfg.agents.defaults.heartbeat_settings()?;
    if let Some(r) = roster {
        let base = cfg.agents.defaults.heartbeat.as_ref();
        let mut own = Vec::new();
        for (id, key, e) in cfg.agents.configured()? {
            let Some(h) = &e.heartbeat else { continue };
            let mut s = h.over(base).settings(&format!("{key}.heartbeat"))?;
            s.checklist = r.get(&id).map(|a| a.workspace.dir.join("HEARTBEAT.md"));
            s.agent = Some(id);
            own.push(s);
        }
        if !own.is_empty() {
            return Ok(own);
        }
    }
    shared.checklist = Some(default_ws.dir.join("HEARTBEAT.md"));
    let owner = cfg
        .agents
        .defaults
        .heartbeat
        .as_ref()
        .and_then(|h| h.agent_id.as_deref())
        .map(|id| id.trim().to_ascii_lowercase())
        .filter(|id| !id.is_empty());
    if let Some(id) = owner {
        let known = match roster {
            Some(r) => r.get(&id).map(|a| a.workspace.dir.join("HEARTBEAT.md")),
            None => {
                (id == openclaw_actors::agents::MAIN).then(|| default_ws.dir.join("HEARTBEAT.md"))
            }
        };
        let Some(checklist) = known else {
            return Err(format!(
                "agents.defaults.heartbeat.agentId is {:?}, which is not a configured agent. Fix: name one of agents.entries (or remove it: the default agent runs the heartbeat)",
                id.chars().take(64).collect::<String>()
            ));
        };
        shared.checklist = Some(checklist);
        shared.agent = Some(id);
    }
    Ok(vec![shared])
}

/// The warning for an agent whose `identity.name` has fewer than 3 letters or digits: in
/// groups, the word alone (any case) addresses the bot when no mention patterns are set.
fn short_name_warning(key: &str, name: &str) -> Option<String> {
    let letters = name.chars().filter(|c| c.is_alphanumeric()).count();
    (1..3).contains(&letters).then(|| {
        format!(
            "{key}.identity.name {:?} is short: in groups, any message with that word addresses the bot (OpenClaw's identity-derived mention). Fix: set {key}.groupChat.mentionPatterns (or messages.groupChat.mentionPatterns, [] for none)",
            name.chars().take(32).collect::<String>()
        )
    })
}

/// An agent's mention patterns and ack emoji (see [`AgentMentions`]): its own
/// `groupChat.mentionPatterns`, and those its `identity` (name, emoji) gives. Patterns it
/// cannot use are named in warnings and skipped.
fn agent_mentions(
    key: &str,
    e: &crate::config::AgentEntryCfg,
    warn: &mut dyn FnMut(String),
) -> Result<openclaw_actors::agents::AgentMentions, String> {
    use openclaw_actors::channel::telegram::groups::{MentionPatterns, derived_mention_patterns};
    let mut warnings = Vec::new();
    let own_key = format!("{key}.groupChat.mentionPatterns");
    let own = match e.group_chat.as_ref() {
        Some(g) => g
            .patterns(&own_key)?
            .map(|list| Arc::new(MentionPatterns::compile_at(&own_key, &list, &mut warnings))),
        None => None,
    };
    let identity = e.identity.as_ref();
    let emoji = identity
        .and_then(|i| i.emoji.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let derived =
        derived_mention_patterns(identity.and_then(|i| i.name.as_deref()), emoji.as_deref());
    let derived = (!derived.is_empty()).then(|| {
        Arc::new(MentionPatterns::compile_at(
            &format!("{key}.identity"),
            &derived,
            &mut warnings,
        ))
    });
    for w in warnings {
        warn(w);
    }
    Ok(openclaw_actors::agents::AgentMentions {
        own,
        derived,
        emoji,
    })
}

/// An agent's tool filter: its `profile` replaces `tools.profile`; its `allow` / `deny`
/// narrow what the global policy offers (a level never grants back what another denies).
fn agent_tools(
    global: &ToolFilter,
    global_cfg: &crate::config::media::ToolsCfg,
    own: Option<&crate::config::AgentEntryToolsCfg>,
) -> Result<ToolFilter, String> {
    let Some(own) = own else {
        return Ok(global.clone());
    };
    let base = match own.profile.as_deref() {
        Some(p) => ToolFilter::new(
            Some(p),
            global_cfg.allow.clone(),
            if global_cfg.allow.is_some() {
                None
            } else {
                global_cfg
                    .also_allow
                    .clone()
                    .into_iter()
                    .flatten()
                    .chain(own.also_allow.clone().into_iter().flatten())
                    .collect::<Vec<_>>()
                    .into()
            },
            global_cfg.deny.clone(),
        )?,
        None => global.clone(),
    };
    let narrow = ToolFilter::new(None, own.allow.clone(), None, own.deny.clone())?;
    let cross = crate::config::media::MessageToolCfg::cross_over(
        own.message.as_ref(),
        global.message_cross(),
    );
    Ok(base.and(narrow).with_message_cross(cross))
}

/// One `bindings[i]` entry (`None`: one that can never route here, warned about).
fn binding(
    i: usize,
    b: &BindingCfg,
    warn: &mut dyn FnMut(String),
) -> Result<Option<Binding>, String> {
    let key = format!("bindings[{i}]");
    let agent_id = b.agent_id.trim().to_ascii_lowercase();
    match b.kind.as_deref().map(str::trim) {
        None | Some("route") | Some("") => {}
        Some("acp") => {
            warn(format!(
                "{key} is an ACP binding, which openclaw-rs does not run; ignoring it"
            ));
            return Ok(None);
        }
        Some(other) => {
            return Err(format!(
                "{key}.type is {:?}. Fix: use \"route\" (or leave it out)",
                other.chars().take(40).collect::<String>()
            ));
        }
    }
    let m = &b.matches;
    let channel = m.channel.trim().to_ascii_lowercase();
    if channel.is_empty() {
        return Err(format!(
            "{key}.match.channel is empty. Fix: name the channel, e.g. \"telegram\""
        ));
    }
    if m.guild_id.is_some() || m.team_id.is_some() || m.roles.is_some() {
        warn(format!(
            "{key} matches a Discord guild or Slack team, channels openclaw-rs does not run; ignoring it"
        ));
        return Ok(None);
    }
    if channel != "telegram" {
        warn(format!(
            "{key} is for the channel {:?}, which openclaw-rs does not run; it never matches",
            channel.chars().take(40).collect::<String>()
        ));
    }
    let account = match m.account_id.as_deref().map(str::trim) {
        None | Some("") => AccountMatch::Default,
        Some("*") => AccountMatch::Any,
        Some(a) => AccountMatch::Id(a.to_owned()),
    };
    let peer = match &m.peer {
        None => None,
        Some(p) => {
            let kind = PeerKind::parse(&p.kind).ok_or_else(|| {
                format!(
                    "{key}.match.peer.kind is {:?}. Fix: use \"direct\", \"group\" or \"channel\"",
                    p.kind.chars().take(40).collect::<String>()
                )
            })?;
            let id = match &p.id {
                PeerIdCfg::Number(n) => n.to_string(),
                PeerIdCfg::Text(t) => {
                    let t = t.trim();
                    let t = t
                        .strip_prefix("telegram:")
                        .or_else(|| t.strip_prefix("tg:"))
                        .unwrap_or(t);
                    t.to_owned()
                }
            };
            if id.is_empty() {
                return Err(format!(
                    "{key}.match.peer.id is empty. Fix: use the chat's or sender's id, or \"*\""
                ));
            }
            Some((kind, id))
        }
    };
    Ok(Some(Binding {
        agent_id,
        channel,
        account,
        peer,
    }))
}

/// A configured name as shown: trimmed, at most 200 characters; `None` when blank.
fn display_name(name: &str) -> Option<String> {
    let name: String = name.trim().chars().take(200).collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_short_identity_name_is_warned_about() {
        let w = super::short_name_warning("agents.entries.x", "Al").expect("warned");
        assert!(
            w.contains("agents.entries.x.identity.name \"Al\" is short"),
            "{w}"
        );
        assert!(w.contains("Fix:"), "{w}");
        assert!(super::short_name_warning("k", "🦞 A").is_some());
        assert!(super::short_name_warning("k", "Bob").is_none());
        assert!(
            super::short_name_warning("k", "🦞").is_none(),
            "no word: matched as written"
        );
    }
}
