//! Who may run which node command: the one check every `node.invoke` passes, whether it
//! comes from an operator socket or from an agent run's `nodes` tool. The node's
//! [`crate::node_session::NodeSession`] runs [`check`] before anything reaches the node.
//!
//! - For everyone: `worker.*` (private to the gateway) and `system.execApprovals.*` (use
//!   `exec.approvals.node.*`) are refused.
//! - Operators: the admin-only commands ([`ADMIN_INVOKE`]) need `operator.admin`.
//! - Agent runs (chat messages, operator `chat.send`/`agent`): the configured
//!   [`AgentToolPolicy`] (`agents.defaults.tools.nodes`), resolved for the run's sender.
//!   Deny wins over allow; the default allow list is [`READ_ONLY_COMMANDS`]; `system.run`,
//!   `system.run.prepare` and the admin-only commands are allowed only when listed by
//!   their exact name (a wildcard never grants them).

use std::collections::BTreeMap;

use crate::node_session::InvokeError;
use crate::protocol::scopes;

/// Commands that need `operator.admin` to invoke (and an exact allow entry for agents).
pub const ADMIN_INVOKE: &[&str] = &[
    "browser.proxy",
    "browser.proxy.upload.v1",
    "fs.listDir",
    "terminal.upload",
];

/// Commands an agent may call only when the owner lists them by exact name.
pub const EXPLICIT_ONLY: &[&str] = &["system.run", "system.run.prepare"];

/// What an agent may call when `allowCommands` is not configured: commands that only read.
pub const READ_ONLY_COMMANDS: &[&str] = &[
    "system.which",
    "device.info",
    "device.status",
    "device.permissions",
    "device.health",
    "camera.list",
];

/// Allow/deny rules for one scope (the defaults, or one sender's override).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeToolRules {
    /// `allowCommands` (`None`: not set here).
    pub allow_commands: Option<Vec<String>>,
    /// `denyCommands`.
    pub deny_commands: Vec<String>,
    /// `allowNodes`: node ids or display names (`None`: not set here, i.e. every node).
    pub allow_nodes: Option<Vec<String>>,
}

/// `agents.defaults.tools.nodes`: the defaults plus per-sender overrides keyed by
/// `<channel>:<senderId>` (e.g. `<channel>:123456789`). An override's `allowCommands` and
/// `allowNodes` replace the defaults; its `denyCommands` add to them (a default deny is
/// never lifted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentToolPolicy {
    /// Rules for every run.
    pub defaults: NodeToolRules,
    /// Overrides by `<channel>:<senderId>`.
    pub senders: BTreeMap<String, NodeToolRules>,
}

/// The rules one agent run invokes under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRules {
    allow: Vec<String>,
    deny: Vec<String>,
    nodes: Option<Vec<String>>,
    /// The config path the decision came from (for error messages).
    source: String,
}

const BASE: &str = "agents.defaults.tools.nodes";

impl AgentToolPolicy {
    /// The rules for a run from `sender` (`<channel>:<senderId>`; `None` for operator runs).
    pub fn resolve(&self, sender: Option<&str>) -> ResolvedRules {
        let d = &self.defaults;
        let over = sender.and_then(|s| self.senders.get(s).map(|r| (s, r)));
        let mut deny = d.deny_commands.clone();
        let (allow, nodes, source) = match over {
            Some((key, o)) => {
                deny.extend(o.deny_commands.iter().cloned());
                (
                    o.allow_commands
                        .clone()
                        .or_else(|| d.allow_commands.clone()),
                    o.allow_nodes.clone().or_else(|| d.allow_nodes.clone()),
                    format!("{BASE}.senders[\"{key}\"]"),
                )
            }
            None => (
                d.allow_commands.clone(),
                d.allow_nodes.clone(),
                BASE.to_owned(),
            ),
        };
        ResolvedRules {
            allow: allow
                .unwrap_or_else(|| READ_ONLY_COMMANDS.iter().map(|s| (*s).to_owned()).collect()),
            deny,
            nodes,
            source,
        }
    }

    /// Checks every pattern; `Err` names the bad entry.
    pub fn validate(&self) -> Result<(), String> {
        let rules = std::iter::once((BASE.to_owned(), &self.defaults)).chain(
            self.senders
                .iter()
                .map(|(k, r)| (format!("{BASE}.senders[\"{k}\"]"), r)),
        );
        for k in self.senders.keys() {
            let ok = k
                .split_once(':')
                .is_some_and(|(c, id)| !c.is_empty() && !id.is_empty());
            if !ok {
                return Err(format!(
                    "{BASE}.senders key {k:?} is not <channel>:<senderId>. Fix: use e.g. \"{}:123456789\"",
                    crate::channel::DEFAULT_KIND.id
                ));
            }
        }
        for (path, r) in rules {
            for (name, list) in [
                ("allowCommands", r.allow_commands.as_deref().unwrap_or(&[])),
                ("denyCommands", &r.deny_commands[..]),
                ("allowNodes", r.allow_nodes.as_deref().unwrap_or(&[])),
            ] {
                for p in list {
                    let wildcard_ok =
                        p == "*" || p.strip_suffix(".*").is_some_and(|s| !s.contains('*'));
                    let bad =
                        p.trim().is_empty() || p.trim() != p || (p.contains('*') && !wildcard_ok);
                    if bad {
                        return Err(format!(
                            "{path}.{name} entry {p:?} is not a command pattern. Fix: use an exact name (\"system.which\"), a prefix (\"camera.*\") or \"*\""
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether `pattern` (exact, `prefix.*` or `*`) matches `command`.
fn matches(pattern: &str, command: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => command
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.')),
        None => pattern == command,
    }
}

impl ResolvedRules {
    /// Whether an agent run under these rules may invoke `command` on some node (the
    /// command-class rules of [`check`], without a node's `allowNodes`).
    pub fn grants(&self, command: &str) -> bool {
        if self.deny.iter().any(|p| matches(p, command)) {
            return false;
        }
        if EXPLICIT_ONLY.contains(&command) || ADMIN_INVOKE.contains(&command) {
            self.allow.iter().any(|p| p == command)
        } else {
            self.allow.iter().any(|p| matches(p, command))
        }
    }
}

/// Who is invoking.
#[derive(Debug, Clone)]
pub enum InvokeCaller {
    /// An operator socket: who (device id, or `shared-secret`) and its granted scopes.
    Operator {
        /// Stable identity for idempotency (device id or `shared-secret`).
        principal: String,
        /// Granted scopes.
        scopes: Vec<String>,
    },
    /// An operator reading or writing a node's exec approvals (`exec.approvals.node.get` /
    /// `.set`, `operator.admin`): [`EXEC_APPROVALS_COMMANDS`] only, on a node that declares
    /// them (no surface approval needed: the method's scope is the approval).
    ExecApprovals {
        /// Stable identity for idempotency (device id or `shared-secret`).
        principal: String,
    },
    /// An agent run's `nodes` tool, under the rules resolved for its origin.
    Agent {
        /// Stable identity for idempotency (`agent:<sender>` or `agent:operator`).
        principal: String,
        /// The policy.
        rules: Box<ResolvedRules>,
    },
}

impl InvokeCaller {
    /// Identity used to bind idempotency keys.
    pub fn principal(&self) -> &str {
        match self {
            Self::Operator { principal, .. }
            | Self::ExecApprovals { principal }
            | Self::Agent { principal, .. } => principal,
        }
    }
}

fn refused(message: String, reason: &'static str, command: &str) -> InvokeError {
    InvokeError::Refused {
        message,
        reason: Some(reason),
        command: command.to_owned(),
    }
}

/// The node commands behind `exec.approvals.node.get` / `.set` (never `node.invoke`).
pub const EXEC_APPROVALS_COMMANDS: [&str; 2] =
    ["system.execApprovals.get", "system.execApprovals.set"];

/// The command-class and caller checks for invoking `command` on the node `node_id`
/// (display name `node_name`). The node's approved surface is checked separately.
pub fn check(
    caller: &InvokeCaller,
    node_id: &str,
    node_name: Option<&str>,
    command: &str,
) -> Result<(), InvokeError> {
    let plain = |message: String| InvokeError::Refused {
        message,
        reason: None,
        command: command.to_owned(),
    };
    let approvals = matches!(caller, InvokeCaller::ExecApprovals { .. });
    if command.starts_with("worker.") {
        return Err(plain(format!(
            "node command not allowed: {command} is private to the gateway"
        )));
    }
    if command.starts_with("system.execApprovals.") && !approvals {
        return Err(plain(format!(
            "node command not allowed: {command} (use exec.approvals.node.*)"
        )));
    }
    match caller {
        InvokeCaller::ExecApprovals { .. } => {
            if EXEC_APPROVALS_COMMANDS.contains(&command) {
                Ok(())
            } else {
                Err(plain(format!(
                    "node command not allowed: {command} (only the exec approvals commands)"
                )))
            }
        }
        InvokeCaller::Operator { scopes: s, .. } => {
            if ADMIN_INVOKE.contains(&command) && !scopes::satisfied(s, scopes::ADMIN) {
                return Err(InvokeError::MissingScope(scopes::ADMIN));
            }
            Ok(())
        }
        InvokeCaller::Agent { rules, .. } => {
            let src = &rules.source;
            if let Some(nodes) = &rules.nodes {
                let ok = nodes
                    .iter()
                    .any(|n| n == "*" || n == node_id || Some(n.as_str()) == node_name);
                if !ok {
                    return Err(refused(
                        format!(
                            "node not allowed for agent runs: {node_id} is not in {src}.allowNodes. Fix: the owner adds it there"
                        ),
                        "agent node policy",
                        command,
                    ));
                }
            }
            if let Some(p) = rules.deny.iter().find(|p| matches(p, command)) {
                return Err(refused(
                    format!(
                        "node command not allowed for agent runs: \"{command}\" is denied by {src}.denyCommands ({p:?})"
                    ),
                    "agent tool policy",
                    command,
                ));
            }
            let explicit = EXPLICIT_ONLY.contains(&command) || ADMIN_INVOKE.contains(&command);
            let allowed = if explicit {
                rules.allow.iter().any(|p| p == command)
            } else {
                rules.allow.iter().any(|p| matches(p, command))
            };
            if !allowed {
                let how = if explicit {
                    " by its exact name (wildcards do not grant it)"
                } else {
                    ""
                };
                return Err(refused(
                    format!(
                        "node command not allowed for agent runs: \"{command}\" is not in {src}.allowCommands. Fix: the owner lists it there{how}"
                    ),
                    "agent tool policy",
                    command,
                ));
            }
            Ok(())
        }
    }
}

/// The agent's tools this gateway has (`nodes`, `message`, `sessions_spawn`, `subagents`,
/// `cron`, `exec`, `process`, `web_search`, `web_fetch`, and the workspace's `read`,
/// `write`, `edit`, `apply_patch`, `memory_search`, `memory_get`).
pub const AGENT_TOOLS: [&str; 20] = [
    "nodes",
    "message",
    "sessions_spawn",
    "subagents",
    "session_status",
    "sessions_list",
    "sessions_history",
    "sessions_search",
    "sessions_send",
    "exec",
    "process",
    "web_search",
    "web_fetch",
    "cron",
    "read",
    "write",
    "edit",
    "apply_patch",
    "memory_search",
    "memory_get",
];

/// One section of [`CATALOG`]: its id, its label, and its tools with their summaries.
pub type CatalogSection = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// `tools.catalog`'s sections: OpenClaw's (`CORE_TOOL_SECTION_ORDER`, in its order) with
/// the tools of [`AGENT_TOOLS`] in each and OpenClaw's one-line summaries of them.
pub const CATALOG: &[CatalogSection] = &[
    (
        "fs",
        "Files",
        &[
            ("read", "Read file contents"),
            ("write", "Create or overwrite files"),
            ("edit", "Make precise edits"),
            ("apply_patch", "Patch files"),
        ],
    ),
    (
        "runtime",
        "Runtime",
        &[
            ("exec", "Run shell now."),
            ("process", "Inspect/control exec sessions."),
        ],
    ),
    (
        "web",
        "Web",
        &[
            ("web_search", "Search the web"),
            ("web_fetch", "Fetch web content"),
        ],
    ),
    (
        "memory",
        "Memory",
        &[
            ("memory_search", "Semantic search"),
            ("memory_get", "Read memory files"),
        ],
    ),
    (
        "sessions",
        "Sessions",
        &[
            ("sessions_list", "List visible sessions; filters/previews."),
            ("sessions_history", "Read sanitized session history."),
            ("sessions_search", "Search past session transcripts."),
            ("sessions_send", "Run same-Gateway session/agent."),
            ("sessions_spawn", "Spawn subagent session."),
            ("subagents", "Background work: subagents. list/cancel."),
            ("session_status", "Show session status/model/usage."),
        ],
    ),
    ("messaging", "Messaging", &[("message", "Send messages")]),
    (
        "automation",
        "Automation",
        &[("cron", "Schedule reminders, automations, wake events.")],
    ),
    ("nodes", "Nodes", &[("nodes", "Nodes + devices")]),
];

/// The profiles `tools.catalog` offers, with their labels (OpenClaw's `PROFILE_OPTIONS`).
pub const PROFILES: [(&str, &str); 4] = [
    ("minimal", "Minimal"),
    ("coding", "Coding"),
    ("messaging", "Messaging"),
    ("full", "Full"),
];

/// The profiles whose list names `tool` (`full`, which names none, is not listed: as
/// OpenClaw's `defaultProfiles`).
pub fn default_profiles(tool: &str) -> Vec<&'static str> {
    PROFILES
        .iter()
        .filter(|(p, _)| matches!(profile(p), Ok(Some(list)) if list.contains(&tool)))
        .map(|(p, _)| *p)
        .collect()
}

/// A tool's summary line in [`CATALOG`].
pub fn summary(tool: &str) -> Option<&'static str> {
    CATALOG
        .iter()
        .flat_map(|(_, _, tools)| tools.iter())
        .find(|(t, _)| *t == tool)
        .map(|(_, d)| *d)
}

/// OpenClaw's tool groups, restricted to the tools above.
fn group(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "group:fs" => &["read", "write", "edit", "apply_patch"],
        "group:nodes" => &["nodes"],
        "group:automation" => &["cron"],
        "group:openclaw" => &[
            "nodes",
            "message",
            "sessions_spawn",
            "subagents",
            "session_status",
            "sessions_list",
            "sessions_history",
            "sessions_search",
            "sessions_send",
            "cron",
            "memory_search",
            "memory_get",
        ],
        "group:memory" => &["memory_search", "memory_get"],
        "group:runtime" => &["exec", "process"],
        "group:web" => &["web_search", "web_fetch"],
        "group:messaging" => &["message"],
        "group:sessions" => &[
            "sessions_spawn",
            "subagents",
            "session_status",
            "sessions_list",
            "sessions_history",
            "sessions_search",
            "sessions_send",
        ],
        "group:ui" | "group:agents" | "group:media" | "group:plugins" => &[],
        _ => return None,
    })
}

/// `tools.profile` → the base allowlist (`None`: every tool).
fn profile(name: &str) -> Result<Option<&'static [&'static str]>, String> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "full" => None,
        "minimal" => Some(&["session_status"]),
        "messaging" => Some(&[
            "message",
            "sessions_spawn",
            "subagents",
            "session_status",
            "sessions_list",
            "sessions_history",
            "sessions_search",
            "sessions_send",
        ]),
        "coding" => Some(&[
            "exec",
            "process",
            "web_search",
            "web_fetch",
            "read",
            "write",
            "edit",
            "apply_patch",
            "cron",
            "memory_search",
            "memory_get",
            "sessions_spawn",
            "subagents",
            "session_status",
            "sessions_list",
            "sessions_history",
            "sessions_search",
            "sessions_send",
        ]),
        other => {
            return Err(format!(
                "tools.profile is {other:?}. Fix: use \"full\", \"coding\", \"messaging\" or \"minimal\" (or leave it unset for every tool)"
            ));
        }
    })
}

/// `tools.profile`, `tools.allow` / `tools.alsoAllow` and `tools.deny` (OpenClaw's keys):
/// which of [`AGENT_TOOLS`] a run is offered. Entries are case-insensitive, may use `*`
/// and OpenClaw's `group:*` names; deny wins; `cron`'s OpenClaw alias `automations` works
/// too. A tool not offered is also refused if the model calls it anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    /// `tools.profile` as named (lowercased; `None`: none).
    profile: Option<String>,
    /// The profile's tools (`None`: no profile filtering).
    base: Option<Vec<String>>,
    /// `allow` (`None`: not set).
    allow: Option<Vec<String>>,
    /// `deny`.
    deny: Vec<String>,
    /// A further filter a tool must also pass (an agent's own `tools.allow` / `deny`).
    and: Option<Box<ToolFilter>>,
    /// `tools.exec.applyPatch.allowModels` (`None`: every model), lowercased.
    patch_models: Option<Vec<String>>,
    /// `tools.message.crossContext` (an agent's own over the global one).
    message_cross: CrossContext,
}

/// `tools.message.crossContext` (OpenClaw's keys and defaults): whether the `message` tool of
/// a run answering a chat may act in another conversation on the same channel
/// (`allowWithinProvider`) or on another channel (`allowAcrossProviders`). Runs without a
/// chat of their own (an operator's, a cron job's) are not confined by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossContext {
    /// `allowWithinProvider` (default `true`).
    pub within_provider: bool,
    /// `allowAcrossProviders` (default `true`).
    pub across_providers: bool,
}

impl Default for CrossContext {
    fn default() -> Self {
        Self {
            within_provider: true,
            across_providers: true,
        }
    }
}

impl ToolFilter {
    /// This filter narrowed by `other`: a tool is offered only when both offer it.
    pub fn and(mut self, other: ToolFilter) -> Self {
        self.and = Some(Box::new(match self.and.take() {
            Some(inner) => inner.and(other),
            None => other,
        }));
        self
    }

    /// The filter of these settings; `Err` names the key and the fix.
    pub fn new(
        profile_name: Option<&str>,
        allow: Option<Vec<String>>,
        also_allow: Option<Vec<String>>,
        deny: Option<Vec<String>>,
    ) -> Result<Self, String> {
        if allow.is_some() && also_allow.is_some() {
            return Err("tools.allow and tools.alsoAllow are both set. Fix: merge the alsoAllow entries into allow, or drop allow and use tools.profile with alsoAllow".into());
        }
        let norm = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|e| e.trim().to_ascii_lowercase())
                .filter(|e| !e.is_empty())
                .collect()
        };
        let mut base = match profile_name {
            Some(p) => profile(p)?.map(|t| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()),
            None => None,
        };
        if let (Some(b), Some(extra)) = (base.as_mut(), also_allow) {
            b.extend(norm(extra));
        }
        Ok(Self {
            profile: profile_name.map(|p| p.trim().to_ascii_lowercase()),
            base,
            allow: allow.map(norm),
            deny: deny.map(norm).unwrap_or_default(),
            and: None,
            patch_models: None,
            message_cross: CrossContext::default(),
        })
    }

    /// A filter that offers everything but `names`.
    pub fn denying(names: &[&str]) -> Self {
        Self {
            deny: names.iter().map(|n| (*n).to_owned()).collect(),
            ..Self::default()
        }
    }

    /// With `tools.message.crossContext` set to `cross`.
    pub fn with_message_cross(mut self, cross: CrossContext) -> Self {
        self.message_cross = cross;
        self
    }

    /// The `tools.profile` in force (`full` when none is set), as `tools.effective` names it.
    pub fn profile_name(&self) -> &str {
        self.profile.as_deref().unwrap_or("full")
    }

    /// `tools.message.crossContext` in force.
    pub fn message_cross(&self) -> CrossContext {
        self.message_cross
    }

    /// Offers `apply_patch` only to runs of these models (`gpt-5.4` or `openai/gpt-5.4`).
    pub fn with_patch_models(mut self, models: Vec<String>) -> Self {
        self.patch_models = Some(
            models
                .into_iter()
                .map(|m| m.trim().to_ascii_lowercase())
                .filter(|m| !m.is_empty())
                .collect(),
        );
        self
    }

    /// Whether `tool` is offered to a run of `model` (`provider/model`): [`Self::offers`],
    /// and for `apply_patch` also `tools.exec.applyPatch.allowModels`.
    pub fn offers_to(&self, tool: &str, model: &str) -> bool {
        if !self.offers(tool) {
            return false;
        }
        if !tool.eq_ignore_ascii_case("apply_patch") {
            return true;
        }
        let model = model.trim().to_ascii_lowercase();
        let bare = model.split_once('/').map_or(model.as_str(), |(_, m)| m);
        let allowed = |f: &ToolFilter| {
            f.patch_models
                .as_deref()
                .is_none_or(|list| list.iter().any(|m| *m == model || *m == bare))
        };
        allowed(self) && self.and.as_deref().is_none_or(allowed)
    }

    /// Whether `tool` is offered.
    pub fn offers(&self, tool: &str) -> bool {
        let tool = tool.to_ascii_lowercase();
        let hit = |list: &[String]| list.iter().any(|p| Self::matches(p, &tool));
        if hit(&self.deny) {
            return false;
        }
        self.base.as_deref().is_none_or(hit)
            && self.allow.as_deref().is_none_or(hit)
            && self.and.as_deref().is_none_or(|f| f.offers(&tool))
    }

    fn matches(pattern: &str, tool: &str) -> bool {
        if let Some(members) = group(pattern) {
            return members.contains(&tool);
        }
        let pattern = match pattern {
            "automations" => "cron",
            p => p,
        };
        glob(pattern, tool)
    }
}

/// [`glob`] with both sides folded to lowercase.
pub fn glob_ci(pattern: &str, text: &str) -> bool {
    glob(&pattern.to_lowercase(), &text.to_lowercase())
}

/// `*` matches any run of characters (the only wildcard), case already folded.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn agent(rules: ResolvedRules) -> InvokeCaller {
        InvokeCaller::Agent {
            principal: "agent:test".into(),
            rules: Box::new(rules),
        }
    }

    #[test]
    fn default_agent_rules_allow_only_read_only_commands() {
        let a = agent(AgentToolPolicy::default().resolve(Some("telegram:1")));
        assert!(check(&a, "n", None, "system.which").is_ok());
        let e = check(&a, "n", None, "system.run").expect_err("system.run refused");
        assert_eq!(
            e.to_string(),
            "node command not allowed for agent runs: \"system.run\" is not in agents.defaults.tools.nodes.allowCommands. Fix: the owner lists it there by its exact name (wildcards do not grant it)"
        );
        assert!(check(&a, "n", None, "camera.snap").is_err());
        assert!(check(&a, "n", None, "fs.listDir").is_err());
    }

    #[test]
    fn wildcards_never_grant_explicit_commands_and_deny_wins() {
        let p = AgentToolPolicy {
            defaults: NodeToolRules {
                allow_commands: Some(strings(&["*"])),
                deny_commands: strings(&["camera.*"]),
                allow_nodes: None,
            },
            senders: BTreeMap::from([(
                "telegram:7".to_owned(),
                NodeToolRules {
                    allow_commands: Some(strings(&["system.run", "camera.snap", "fs.listDir"])),
                    deny_commands: strings(&["fs.listDir"]),
                    allow_nodes: Some(strings(&["box"])),
                },
            )]),
        };
        let any = agent(p.resolve(Some("telegram:8")));
        assert!(check(&any, "n", None, "echo.test").is_ok());
        assert!(check(&any, "n", None, "system.run").is_err());
        assert!(check(&any, "n", None, "browser.proxy").is_err());
        assert!(check(&any, "n", None, "camera.snap").is_err());
        assert!(check(&any, "n", None, "cameraX.snap").is_ok());
        let owner = agent(p.resolve(Some("telegram:7")));
        assert!(check(&owner, "n", Some("box"), "system.run").is_ok());
        // allowNodes of the override applies.
        assert!(check(&owner, "other", Some("other"), "system.run").is_err());
        // The default deny is not lifted by the override's allow.
        assert!(check(&owner, "n", Some("box"), "camera.snap").is_err());
        // The override's own deny wins over its allow.
        assert!(check(&owner, "n", Some("box"), "fs.listDir").is_err());
    }

    #[test]
    fn the_exec_approvals_caller_reaches_only_its_two_commands() {
        let ea = InvokeCaller::ExecApprovals {
            principal: "device:d".into(),
        };
        assert_eq!(ea.principal(), "device:d");
        for ok in EXEC_APPROVALS_COMMANDS {
            assert!(check(&ea, "n", None, ok).is_ok(), "{ok}");
        }
        for refused in [
            "system.run",
            "system.which",
            "worker.x",
            "system.execApprovals.other",
            "",
            "system.execApprovals.get\u{0}",
        ] {
            assert!(check(&ea, "n", None, refused).is_err(), "{refused}");
        }
        // Every other caller is still sent to exec.approvals.node.*.
        let admin = InvokeCaller::Operator {
            principal: "d".into(),
            scopes: strings(&["operator.admin"]),
        };
        assert!(check(&admin, "n", None, "system.execApprovals.set").is_err());
    }

    #[test]
    fn command_classes_apply_to_every_caller() {
        let op = InvokeCaller::Operator {
            principal: "d".into(),
            scopes: strings(&["operator.write"]),
        };
        assert!(check(&op, "n", None, "worker.x").is_err());
        assert!(check(&op, "n", None, "system.execApprovals.get").is_err());
        assert_eq!(
            check(&op, "n", None, "fs.listDir")
                .expect_err("admin only")
                .to_string(),
            "missing scope: operator.admin"
        );
        assert!(check(&op, "n", None, "system.run").is_ok());
        let all = agent(
            AgentToolPolicy {
                defaults: NodeToolRules {
                    allow_commands: Some(strings(&["*", "worker.x"])),
                    ..Default::default()
                },
                ..Default::default()
            }
            .resolve(None),
        );
        assert!(check(&all, "n", None, "worker.x").is_err());
        assert!(check(&all, "n", None, "system.execApprovals.set").is_err());
    }

    #[test]
    fn validate_refuses_bad_patterns_and_sender_keys() {
        let mut p = AgentToolPolicy::default();
        p.defaults.allow_commands = Some(strings(&["sys*"]));
        assert!(p.validate().is_err());
        p.defaults.allow_commands = Some(strings(&["system.*", "*", "x.y"]));
        assert!(p.validate().is_ok());
        p.senders.insert("123".into(), NodeToolRules::default());
        assert!(p.validate().is_err());
    }

    #[test]
    fn apply_patch_can_be_kept_to_some_models() {
        let all = ToolFilter::default();
        assert!(all.offers_to("apply_patch", "anthropic/claude-opus-5"));
        let some = ToolFilter::default().with_patch_models(strings(&["gpt-5.4", "OpenAI/GPT-5.5"]));
        assert!(some.offers_to("apply_patch", "openai/gpt-5.4"));
        assert!(some.offers_to("apply_patch", "openrouter/gpt-5.4"));
        assert!(some.offers_to("apply_patch", "openai/gpt-5.5"));
        assert!(!some.offers_to("apply_patch", "openrouter/gpt-5.5"));
        assert!(!some.offers_to("apply_patch", "anthropic/claude-opus-5"));
        // Other tools are not affected; a deny still wins.
        assert!(some.offers_to("edit", "anthropic/claude-opus-5"));
        let denied = ToolFilter::new(None, None, None, Some(strings(&["apply_patch"])))
            .expect("filter")
            .with_patch_models(strings(&["gpt-5.4"]));
        assert!(!denied.offers_to("apply_patch", "openai/gpt-5.4"));
    }

    #[test]
    fn the_catalog_lists_every_tool_once_with_its_profiles() {
        let listed: Vec<&str> = CATALOG
            .iter()
            .flat_map(|(_, _, tools)| tools.iter().map(|(t, _)| *t))
            .collect();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        let mut all = AGENT_TOOLS.to_vec();
        all.sort_unstable();
        assert_eq!(sorted, all, "every tool, once");
        assert!(CATALOG.iter().all(|(_, _, tools)| !tools.is_empty()));
        assert_eq!(
            default_profiles("session_status"),
            ["minimal", "coding", "messaging"]
        );
        assert_eq!(default_profiles("message"), ["messaging"]);
        assert_eq!(default_profiles("exec"), ["coding"]);
        assert!(default_profiles("nodes").is_empty());
        assert_eq!(summary("web_fetch"), Some("Fetch web content"));
        assert_eq!(summary("nope"), None);
        let named = |p: Option<&str>| {
            ToolFilter::new(p, None, None, None)
                .expect("filter")
                .profile_name()
                .to_owned()
        };
        assert_eq!(named(None), "full");
        assert_eq!(named(Some(" Coding ")), "coding");
    }

    #[test]
    fn tool_filter_profiles_groups_wildcards_and_deny() {
        let f = |p: Option<&str>, a: Option<&[&str]>, also: Option<&[&str]>, d: Option<&[&str]>| {
            let v = |x: Option<&[&str]>| x.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
            ToolFilter::new(p, v(a), v(also), v(d)).expect("filter")
        };
        let offered = |t: &ToolFilter| -> Vec<&str> {
            AGENT_TOOLS.into_iter().filter(|n| t.offers(n)).collect()
        };
        assert_eq!(offered(&ToolFilter::default()), AGENT_TOOLS);
        assert_eq!(offered(&f(Some("full"), None, None, None)), AGENT_TOOLS);
        assert_eq!(
            offered(&f(Some("minimal"), None, None, None)),
            ["session_status"]
        );
        assert_eq!(
            offered(&f(Some("Coding"), None, None, None)),
            [
                "sessions_spawn",
                "subagents",
                "session_status",
                "sessions_list",
                "sessions_history",
                "sessions_search",
                "sessions_send",
                "exec",
                "process",
                "web_search",
                "web_fetch",
                "cron",
                "read",
                "write",
                "edit",
                "apply_patch",
                "memory_search",
                "memory_get"
            ]
        );
        assert_eq!(
            offered(&f(
                Some("messaging"),
                None,
                Some(&["group:nodes", "READ"]),
                None
            )),
            [
                "nodes",
                "message",
                "sessions_spawn",
                "subagents",
                "session_status",
                "sessions_list",
                "sessions_history",
                "sessions_search",
                "sessions_send",
                "read"
            ]
        );
        assert_eq!(
            offered(&f(None, None, None, Some(&["group:fs"]))),
            [
                "nodes",
                "message",
                "sessions_spawn",
                "subagents",
                "session_status",
                "sessions_list",
                "sessions_history",
                "sessions_search",
                "sessions_send",
                "exec",
                "process",
                "web_search",
                "web_fetch",
                "cron",
                "memory_search",
                "memory_get"
            ]
        );
        assert_eq!(
            offered(&f(None, None, None, Some(&["w*", "e?it", "group:memory"]))),
            [
                "nodes",
                "message",
                "sessions_spawn",
                "subagents",
                "session_status",
                "sessions_list",
                "sessions_history",
                "sessions_search",
                "sessions_send",
                "exec",
                "process",
                "cron",
                "read",
                "edit",
                "apply_patch"
            ]
        );
        assert_eq!(
            offered(&f(
                None,
                Some(&["*"]),
                None,
                Some(&["automations", "memory_*"])
            )),
            [
                "nodes",
                "message",
                "sessions_spawn",
                "subagents",
                "session_status",
                "sessions_list",
                "sessions_history",
                "sessions_search",
                "sessions_send",
                "exec",
                "process",
                "web_search",
                "web_fetch",
                "read",
                "write",
                "edit",
                "apply_patch"
            ]
        );
        assert_eq!(
            offered(&f(Some("messaging"), None, Some(&["group:runtime"]), None)),
            [
                "message",
                "sessions_spawn",
                "subagents",
                "session_status",
                "sessions_list",
                "sessions_history",
                "sessions_search",
                "sessions_send",
                "exec",
                "process"
            ]
        );
        assert_eq!(
            offered(&f(None, None, None, Some(&["group:runtime"]))),
            [
                "nodes",
                "message",
                "sessions_spawn",
                "subagents",
                "session_status",
                "sessions_list",
                "sessions_history",
                "sessions_search",
                "sessions_send",
                "web_search",
                "web_fetch",
                "cron",
                "read",
                "write",
                "edit",
                "apply_patch",
                "memory_search",
                "memory_get"
            ]
        );
        assert_eq!(
            offered(&f(Some("messaging"), None, Some(&["group:web"]), None)),
            [
                "message",
                "sessions_spawn",
                "subagents",
                "session_status",
                "sessions_list",
                "sessions_history",
                "sessions_search",
                "sessions_send",
                "web_search",
                "web_fetch"
            ]
        );
        assert_eq!(
            offered(&f(None, Some(&["r*d", "nodes"]), None, None)),
            ["nodes", "read"]
        );
        // Deny wins over an explicit allow.
        assert_eq!(
            offered(&f(None, Some(&["write"]), None, Some(&["group:fs"]))),
            Vec::<&str>::new()
        );
        assert!(
            ToolFilter::new(Some("everything"), None, None, None)
                .unwrap_err()
                .contains("tools.profile")
        );
        assert!(
            ToolFilter::new(None, Some(vec![]), Some(vec![]), None)
                .unwrap_err()
                .contains("alsoAllow")
        );
        assert!(
            glob("*", "")
                && glob("a*b*c", "aXbYc")
                && !glob("a*b*c", "aXc")
                && !glob("ab*ba", "aba")
        );
    }
}
