//! `models.*` and `agents.*`: model providers and agent defaults (tool policy).

use serde::{Deserialize, Serialize};

/// `models.providers.<id>.models[]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelEntryCfg {
    /// Model id sent to the provider.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the model takes (OpenClaw's key): `["text"]`, or `["text", "image"]` for a
    /// model that sees images (photos from nodes and chats are then shown to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Vec<String>>,
    /// Longest answer in tokens (Anthropic's API requires one; default 8192).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Prices in US dollars per million tokens (OpenClaw's `cost`: `input`, `output`,
    /// `cacheRead`, `cacheWrite`), for `usage.cost` and `/status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<serde_json::Value>,
    /// The model's context window in tokens (OpenClaw's `contextWindow`): what a request
    /// may hold before the gateway compacts the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// A lower cap on what a request holds (OpenClaw's `contextTokens`: cheaper turns, or
    /// a server configured below the model's native window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u64>,
    /// OpenClaw's endpoint capability flags; `supportsUsageInStreaming: false` stops asking
    /// a streaming endpoint for its usage chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compat: Option<serde_json::Value>,
    /// The model reasons (OpenClaw's key): thinking levels (`/think`) apply to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
}

/// `models.providers.<id>`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderCfg {
    /// Base URL, e.g. `https://api.openai.com/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Wire API: `openai-completions`, `anthropic-messages` or `ollama` (its
    /// OpenAI-compatible API under `/v1`); default: the built-in provider's, else
    /// `openai-completions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Models offered.
    #[serde(default)]
    pub models: Vec<ModelEntryCfg>,
    /// Per-request timeout (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Per-request timeout (s), OpenClaw's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for ProviderCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderCfg")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api", &self.api)
            .field("models", &self.models)
            .field("timeout_ms", &self.timeout_ms)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `models`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelsCfg {
    /// Providers by id.
    #[serde(default)]
    pub providers: std::collections::BTreeMap<String, ProviderCfg>,
}

/// `agents.defaults.model`: `"provider/model"` or `{ primary, fallbacks }`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentModelCfg {
    /// `provider/model` (or an alias of `agents.defaults.models`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Tried in order when the primary fails (for that turn only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for AgentModelCfg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Object {
            #[serde(default)]
            primary: Option<String>,
            #[serde(default)]
            fallbacks: Option<Vec<String>>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Ref(String),
            Object(Object),
        }
        Ok(match Form::deserialize(d)? {
            Form::Ref(r) => Self {
                primary: Some(r),
                fallbacks: None,
            },
            Form::Object(o) => Self {
                primary: o.primary,
                fallbacks: o.fallbacks,
            },
        })
    }
}

/// `agents.defaults.models["provider/model"]`: an alias and request parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelDefaultsCfg {
    /// A short name usable in `model` / `fallbacks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Provider parameters (`maxTokens` is read; the rest is OpenClaw's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
}

/// Allow/deny lists of `agents.defaults.tools.nodes` (and of one sender's override).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeToolRulesCfg {
    /// Commands the agent may invoke (exact, `prefix.*`, `*`); default: read-only ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_commands: Option<Vec<String>>,
    /// Commands it may never invoke (wins over allow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_commands: Option<Vec<String>>,
    /// Nodes (ids or display names) it may invoke on; default: every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_nodes: Option<Vec<String>>,
}

impl NodeToolRulesCfg {
    fn to_rules(&self) -> openclaw_actors::tool_policy::NodeToolRules {
        openclaw_actors::tool_policy::NodeToolRules {
            allow_commands: self.allow_commands.clone(),
            deny_commands: self.deny_commands.clone().unwrap_or_default(),
            allow_nodes: self.allow_nodes.clone(),
        }
    }
}

/// `agents.defaults.tools.nodes`: what the agent's `nodes` tool may invoke.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodesToolCfg {
    /// Commands the agent may invoke (exact, `prefix.*`, `*`); default: read-only ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_commands: Option<Vec<String>>,
    /// Commands it may never invoke (wins over allow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_commands: Option<Vec<String>>,
    /// Nodes (ids or display names) it may invoke on; default: every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_nodes: Option<Vec<String>>,
    /// Per-sender overrides keyed by `<channel>:<senderId>` (e.g. `telegram:123456789`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub senders: std::collections::BTreeMap<String, NodeToolRulesCfg>,
}

impl NodesToolCfg {
    /// The engine's policy; `Err` (a configuration refusal) names the bad entry.
    pub fn to_policy(&self) -> Result<openclaw_actors::tool_policy::AgentToolPolicy, String> {
        let policy = openclaw_actors::tool_policy::AgentToolPolicy {
            defaults: NodeToolRulesCfg {
                allow_commands: self.allow_commands.clone(),
                deny_commands: self.deny_commands.clone(),
                allow_nodes: self.allow_nodes.clone(),
            }
            .to_rules(),
            senders: self
                .senders
                .iter()
                .map(|(k, v)| (k.clone(), v.to_rules()))
                .collect(),
        };
        policy.validate()?;
        Ok(policy)
    }
}

/// `agents.defaults.tools`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentToolsCfg {
    /// The `nodes` tool.
    #[serde(default)]
    pub nodes: NodesToolCfg,
}

/// `agents.defaults.compaction` (OpenClaw's keys; `mode`, `provider`, `qualityGuard`,
/// `memoryFlush`, … are accepted and have no effect here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactionCfg {
    /// Compact before a run whose context would not fit (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Recent conversation kept as it was (tokens, default 20000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_recent_tokens: Option<u64>,
    /// The summarizer (`provider/model` or an alias; default: the session's model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Tell the chat when an automatic compaction ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_user: Option<bool>,
    /// `strict` (default): identifiers kept verbatim; `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_policy: Option<String>,
    /// The summarizer's time limit (seconds, default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// The silent turn before an automatic compaction (`enabled`, `model`,
    /// `softThresholdTokens`; OpenClaw's `forceFlushTranscriptBytes` accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_flush: Option<serde_json::Map<String, serde_json::Value>>,
    /// OpenClaw's other keys.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// OpenClaw's `compaction` keys this gateway accepts without acting on them.
const COMPACTION_ACCEPTED: &[&str] = &[
    "mode",
    "provider",
    "thinkingLevel",
    "recentTurnsPreserve",
    "qualityGuard",
    "midTurnPrecheck",
    "postIndexSync",
    "postCompactionSections",
    "maxActiveTranscriptBytes",
];

impl CompactionCfg {
    /// The settings; `Err` names the key and the fix.
    pub fn settings(&self) -> Result<openclaw_actors::compaction::CompactionSettings, String> {
        let mut s = openclaw_actors::compaction::CompactionSettings::default();
        if let Some(k) = self
            .other
            .keys()
            .find(|k| !COMPACTION_ACCEPTED.contains(&k.as_str()))
        {
            return Err(format!(
                "agents.defaults.compaction.{k} is not a compaction setting. Fix: remove it (the settings are enabled, keepRecentTokens, model, notifyUser, identifierPolicy, timeoutSeconds)"
            ));
        }
        if let Some(e) = self.enabled {
            s.enabled = e;
        }
        if let Some(n) = self.keep_recent_tokens {
            if !(1..=1_000_000).contains(&n) {
                return Err(format!(
                    "agents.defaults.compaction.keepRecentTokens is {n}. Fix: a number of tokens from 1 to 1000000 (default 20000)"
                ));
            }
            s.keep_recent_tokens = n as u32;
        }
        s.model = self
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        s.notify_user = self.notify_user.unwrap_or(false);
        match self.identifier_policy.as_deref() {
            None | Some("strict") => {}
            Some("off") => s.strict_identifiers = false,
            Some(p) => {
                return Err(format!(
                    "agents.defaults.compaction.identifierPolicy is {:?}. Fix: \"strict\" (default) or \"off\"",
                    p.chars().take(40).collect::<String>()
                ));
            }
        }
        if let Some(f) = &self.memory_flush {
            for (k, v) in f {
                match (k.as_str(), v) {
                    ("enabled", serde_json::Value::Bool(b)) => s.memory_flush = *b,
                    ("model", serde_json::Value::String(m)) if !m.trim().is_empty() => {
                        s.flush_model = Some(m.trim().to_owned());
                    }
                    ("softThresholdTokens", v) => match v.as_u64() {
                        Some(n) if n <= 1_000_000 => s.flush_soft_threshold = n as u32,
                        _ => {
                            return Err(format!(
                                "agents.defaults.compaction.memoryFlush.softThresholdTokens is {}. Fix: a number of tokens from 0 (flush only right before a compaction) to 1000000 (default 4000)",
                                v.to_string().chars().take(40).collect::<String>()
                            ));
                        }
                    },
                    ("forceFlushTranscriptBytes", _) => {}
                    _ => {
                        return Err(format!(
                            "agents.defaults.compaction.memoryFlush.{k} is not a memory-flush setting or has the wrong type. Fix: enabled (true/false), model (\"provider/model\") and softThresholdTokens (a number)"
                        ));
                    }
                }
            }
        }
        if let Some(t) = self.timeout_seconds {
            if !(1..=3_600).contains(&t) {
                return Err(format!(
                    "agents.defaults.compaction.timeoutSeconds is {t}. Fix: seconds from 1 to 3600 (default 300)"
                ));
            }
            s.timeout = std::time::Duration::from_secs(t);
        }
        Ok(s)
    }
}

/// `agents.defaults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentDefaultsCfg {
    /// `systemAgent.agentId` (OpenClaw 2026.9): the agent operator surfaces default to
    /// (a call without an agent, `sessionDefaults`, the shared heartbeat, cron jobs made
    /// without one); unbound chat messages are not its (that is the owner's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_agent: Option<SystemAgentCfg>,
    /// The thinking level of models that reason, when neither the chat (`/think`) nor the
    /// model's `params.thinking` names one (OpenClaw's `thinkingDefault`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_default: Option<String>,
    /// The model.
    #[serde(default)]
    pub model: AgentModelCfg,
    /// Provider parameters for every model (`cacheRetention` is read here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    /// Aliases and parameters per `provider/model`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub models: std::collections::BTreeMap<String, ModelDefaultsCfg>,
    /// Tool policies.
    #[serde(default)]
    pub tools: AgentToolsCfg,
    /// The periodic heartbeat turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatCfg>,
    /// When chats see "typing…": `never`, or `instant` / `thinking` / `message` (the same
    /// here: the model's answer is not streamed, so typing starts with the work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing_mode: Option<String>,
    /// How often "typing…" is refreshed (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing_interval_seconds: Option<u64>,
    /// The longest a chat or operator run may take (seconds; default 600, OpenClaw's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// The agent's workspace directory (`~` expands; default `<state dir>/workspace`;
    /// `OPENCLAW_WORKSPACE_DIR` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Do not create the starter files of a new workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_bootstrap: Option<bool>,
    /// Characters of one workspace file put into the prompt (default 20000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_max_chars: Option<u64>,
    /// Characters of all workspace files put into the prompt (default 60000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_total_max_chars: Option<u64>,
    /// The owner's time zone (IANA, e.g. `Europe/Paris`) for the date and time the agent
    /// is told; default: the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_timezone: Option<String>,
    /// Compaction of long conversations (OpenClaw's `agents.defaults.compaction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compaction: Option<CompactionCfg>,
    /// The skills agents may use (by name; unset: every skill of the workspace; `[]`:
    /// none). An agent's own `skills` replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<String>>,
    /// Sub-agents (`sessions_spawn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagents: Option<SubagentsCfg>,
}

/// `agents.defaults.subagents` (OpenClaw's keys; others it has are accepted and unused).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubagentsCfg {
    /// Children running at once, gateway-wide (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u64>,
    /// Active children of one session (default 5, 1–20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_children_per_agent: Option<u64>,
    /// A child's time limit in seconds (default 0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_seconds: Option<u64>,
    /// The children's model (default: their agent's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<AgentModelCfg>,
    /// The children's thinking level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// Other agents a spawn may name (`*`: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_agents: Option<Vec<String>>,
    /// How long a finished child stays listed, in minutes (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_after_minutes: Option<u64>,
    /// OpenClaw's other keys (`maxSpawnDepth`, `announceTimeoutMs`, `delegationMode`, …).
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl SubagentsCfg {
    /// `own` over `defaults`, field by field (`maxConcurrent` is gateway-wide: the
    /// defaults').
    pub fn over(own: &Self, defaults: Option<&Self>) -> Self {
        let d = defaults.cloned().unwrap_or_default();
        Self {
            max_concurrent: d.max_concurrent,
            max_children_per_agent: own.max_children_per_agent.or(d.max_children_per_agent),
            run_timeout_seconds: own.run_timeout_seconds.or(d.run_timeout_seconds),
            model: own.model.clone().or(d.model),
            thinking: own.thinking.clone().or(d.thinking),
            allow_agents: own.allow_agents.clone().or(d.allow_agents),
            archive_after_minutes: own.archive_after_minutes.or(d.archive_after_minutes),
            other: serde_json::Map::new(),
        }
    }

    /// The settings of `cfg` with `tools.subagents.tools` (`tools`); `Err` names the key and
    /// the fix.
    pub fn settings(
        cfg: Option<&Self>,
        tools: Option<&crate::config::media::AllowDenyCfg>,
    ) -> Result<openclaw_actors::subagents::SubagentSettings, String> {
        let mut s = openclaw_actors::subagents::SubagentSettings::default();
        if let Some(t) = tools {
            s.tools = openclaw_actors::tool_policy::ToolFilter::new(
                None,
                t.allow.clone(),
                None,
                t.deny.clone(),
            )
            .map_err(|e| e.replace("tools.", "tools.subagents.tools."))?;
        }
        let Some(c) = cfg else {
            return Ok(s);
        };
        let key = "agents.defaults.subagents";
        if let Some(n) = c.max_concurrent {
            if !(1..=64).contains(&n) {
                return Err(format!("{key}.maxConcurrent is {n}. Fix: use 1 to 64"));
            }
            s.max_concurrent = n as usize;
        }
        if let Some(n) = c.max_children_per_agent {
            if !(1..=20).contains(&n) {
                return Err(format!(
                    "{key}.maxChildrenPerAgent is {n}. Fix: use 1 to 20"
                ));
            }
            s.max_children = n as usize;
        }
        if let Some(n) = c.run_timeout_seconds {
            let max = openclaw_actors::subagents::MAX_RUN.as_secs();
            if n > max {
                return Err(format!(
                    "{key}.runTimeoutSeconds is {n}. Fix: use 0 (no limit) to {max} (a day)"
                ));
            }
            s.run_timeout = (n > 0).then(|| std::time::Duration::from_secs(n));
        }
        s.model = c
            .model
            .as_ref()
            .and_then(|m| m.primary.as_deref())
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        if let Some(t) = &c.thinking {
            s.thinking = Some(openclaw_actors::ports::Thinking::parse(t).ok_or_else(|| {
                format!(
                    "{key}.thinking is {t:?}. Fix: use one of {}",
                    openclaw_actors::ports::Thinking::names()
                )
            })?);
        }
        if let Some(list) = &c.allow_agents {
            if list.len() > 1000 {
                return Err(format!("{key}.allowAgents lists more than 1000 agents"));
            }
            s.allow_agents = list
                .iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect();
        }
        if let Some(m) = c.archive_after_minutes {
            s.archive_after = std::time::Duration::from_secs(m.min(7 * 24 * 60) * 60);
        }
        Ok(s)
    }
}

/// A skill allowlist (`key` names it in errors): names trimmed, at most 1000 of at most
/// 200 characters each.
pub fn skill_allowlist(
    list: Option<&[String]>,
    key: &str,
) -> Result<Option<std::sync::Arc<[String]>>, String> {
    let Some(list) = list else {
        return Ok(None);
    };
    if list.len() > 1000 {
        return Err(format!(
            "{key} lists {} skills. Fix: list at most 1000",
            list.len()
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for name in list {
        let n = name.trim();
        if n.is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) {
            return Err(format!(
                "{key} has the entry {:?}, which is not a skill name. Fix: use the skill's name (its SKILL.md front matter `name`, else its directory)",
                n.chars().take(60).collect::<String>()
            ));
        }
        out.push(n.to_owned());
    }
    Ok(Some(out.into()))
}

/// Default refresh of "typing…": Telegram shows it for 5 s, so 4 s keeps it steady
/// (OpenClaw's default is 6 s).
pub const DEFAULT_TYPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(4);

impl AgentDefaultsCfg {
    /// `compaction`'s settings; `Err` names the key and the fix.
    pub fn compaction_settings(
        &self,
    ) -> Result<openclaw_actors::compaction::CompactionSettings, String> {
        self.compaction
            .as_ref()
            .map_or_else(|| Ok(Default::default()), CompactionCfg::settings)
    }

    /// The bound on a run (`timeoutSeconds`); `Err` names the key and the fix.
    pub fn run_timeout(&self) -> Result<std::time::Duration, String> {
        match self.timeout_seconds {
            None => Ok(openclaw_actors::agent_run::DEFAULT_RUN_TIMEOUT),
            Some(s) if (1..=86_400).contains(&s) => Ok(std::time::Duration::from_secs(s)),
            Some(s) => Err(format!(
                "agents.defaults.timeoutSeconds is {s}. Fix: use a number of seconds from 1 to 86400 (default 600)"
            )),
        }
    }

    /// The workspace settings; `Err` names the key and the fix. `workspace_env` is
    /// `OPENCLAW_WORKSPACE_DIR`, `home` the home directory (for `~`).
    pub fn workspace_settings(
        &self,
        state_dir: &std::path::Path,
        workspace_env: Option<&str>,
        home: Option<&std::path::Path>,
    ) -> Result<openclaw_actors::workspace::WorkspaceSettings, String> {
        use openclaw_actors::workspace as ws;
        let (raw, key) = match workspace_env.map(str::trim).filter(|s| !s.is_empty()) {
            Some(e) => (Some(e), "OPENCLAW_WORKSPACE_DIR"),
            None => (
                self.workspace
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty()),
                "agents.defaults.workspace",
            ),
        };
        let dir = match raw {
            None => state_dir.join("workspace"),
            Some(p) => absolute_dir(p, key, home)?,
        };
        let chars = |v: Option<u64>, k: &str, default: usize| -> Result<usize, String> {
            match v {
                None => Ok(default),
                Some(n) if (1..=10_000_000).contains(&n) => Ok(n as usize),
                Some(n) => Err(format!(
                    "agents.defaults.{k} is {n}. Fix: use a number of characters from 1 to 10000000 (default {default})"
                )),
            }
        };
        let max_chars = chars(
            self.bootstrap_max_chars,
            "bootstrapMaxChars",
            ws::DEFAULT_MAX_CHARS,
        )?;
        let total_max_chars = match self.bootstrap_total_max_chars {
            // OpenClaw: an unset total is at least the per-file limit.
            None => ws::DEFAULT_TOTAL_MAX_CHARS.max(max_chars),
            v => chars(v, "bootstrapTotalMaxChars", ws::DEFAULT_TOTAL_MAX_CHARS)?,
        };
        let user_timezone = match self
            .user_timezone
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(tz) => {
                openclaw_actors::cron::expr::resolve_tz(Some(tz)).map_err(|e| {
                    format!("agents.defaults.userTimezone: {e}. Fix: use an IANA zone such as \"Europe/Paris\" or \"America/New_York\"")
                })?;
                Some(tz.to_owned())
            }
        };
        Ok(ws::WorkspaceSettings {
            dir,
            max_chars,
            total_max_chars,
            user_timezone,
            skills: skill_allowlist(self.skills.as_deref(), "agents.defaults.skills")?,
            skill_settings: std::sync::Arc::default(),
        })
    }

    /// The "typing…" refresh interval (`None`: `typingMode: "never"`); `Err` names the key
    /// and the fix.
    pub fn typing(&self) -> Result<Option<std::time::Duration>, String> {
        match self.typing_mode.as_deref().map(str::trim) {
            Some("never") => return Ok(None),
            None | Some("instant" | "thinking" | "message") => {}
            Some(other) => {
                return Err(format!(
                    "agents.defaults.typingMode is {other:?}. Fix: use \"never\", \"instant\", \"thinking\" or \"message\""
                ));
            }
        }
        match self.typing_interval_seconds {
            None => Ok(Some(DEFAULT_TYPING_INTERVAL)),
            Some(0) => Err(
                "agents.defaults.typingIntervalSeconds is 0. Fix: use a positive number of seconds (4 keeps Telegram's indicator steady)".into(),
            ),
            Some(s) => Ok(Some(std::time::Duration::from_secs(s.min(3600)))),
        }
    }
}

/// `agents.defaults.heartbeat.activeHours`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveHoursCfg {
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM` (`24:00` allowed).
    pub end: String,
    /// IANA zone (default: the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// `agents.defaults.heartbeat` (OpenClaw's keys).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatCfg {
    /// `agents.defaults.heartbeat.agentId`: the agent the shared heartbeat runs as when no
    /// agent has a `heartbeat` block of its own (default: the default agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// `"30m"`, `"1h"`; `"0m"` or unset: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// The prompt (default: OpenClaw's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// `"none"` (default), `"last"`, or a channel id with `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The chat on `target`'s channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The channel account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Run only between these times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_hours: Option<ActiveHoursCfg>,
    /// Longest text beside `HEARTBEAT_OK` that is still not sent (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_max_chars: Option<usize>,
    /// The beats' model (`provider/model` or an alias; default: the session's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The conversation the beats belong to (default: the agent's main session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Each beat without history, beside the conversation (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated_session: Option<bool>,
    /// The beats' prompt without the workspace's bootstrap files (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light_context: Option<bool>,
}

impl AgentDefaultsCfg {
    /// The heartbeat's settings; `Err` names the bad key and the fix.
    pub fn heartbeat_settings(
        &self,
    ) -> Result<openclaw_actors::cron::heartbeat::HeartbeatSettings, String> {
        match &self.heartbeat {
            None => Ok(openclaw_actors::cron::heartbeat::HeartbeatSettings::default()),
            Some(h) => h.settings("agents.defaults.heartbeat"),
        }
    }
}

impl HeartbeatCfg {
    /// This block over `base` (`agents.defaults.heartbeat`): each key set here wins.
    pub fn over(&self, base: Option<&HeartbeatCfg>) -> HeartbeatCfg {
        let Some(b) = base else {
            return self.clone();
        };
        HeartbeatCfg {
            // The owner of the shared heartbeat only: an agent's own block runs as itself.
            agent_id: None,
            every: self.every.clone().or_else(|| b.every.clone()),
            prompt: self.prompt.clone().or_else(|| b.prompt.clone()),
            target: self.target.clone().or_else(|| b.target.clone()),
            to: self.to.clone().or_else(|| b.to.clone()),
            account_id: self.account_id.clone().or_else(|| b.account_id.clone()),
            active_hours: self.active_hours.clone().or_else(|| b.active_hours.clone()),
            ack_max_chars: self.ack_max_chars.or(b.ack_max_chars),
            model: self.model.clone().or_else(|| b.model.clone()),
            session: self.session.clone().or_else(|| b.session.clone()),
            isolated_session: self.isolated_session.or(b.isolated_session),
            light_context: self.light_context.or(b.light_context),
        }
    }

    /// The settings of this block (at config key `k`); `Err` names the bad key and the fix.
    pub fn settings(
        &self,
        k: &str,
    ) -> Result<openclaw_actors::cron::heartbeat::HeartbeatSettings, String> {
        use openclaw_actors::cron::heartbeat::{ActiveHours, HeartbeatSettings, HeartbeatTarget};
        let h = self;
        let every = match h.every.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e)
                if e.trim_end_matches(['s', 'm', 'h', 'd'])
                    .trim_matches('0')
                    .is_empty() =>
            {
                None
            }
            Some(e) => {
                let ms = openclaw_actors::cron::expr::parse_duration_ms(e).map_err(|err| {
                    format!("{k}.every: {err}. Fix: a duration such as \"30m\" or \"1h\", or \"0m\" for off")
                })?;
                Some(std::time::Duration::from_millis(ms))
            }
        };
        let target = match h.target.as_deref().map(str::trim) {
            None | Some("") | Some("none") => HeartbeatTarget::None,
            Some("last") => HeartbeatTarget::Last,
            Some(channel) => {
                if !openclaw_actors::channel::KINDS
                    .iter()
                    .any(|k| k.id == channel)
                {
                    return Err(format!(
                        "{k}.target {channel:?} is not a channel of this gateway. Fix: \"none\", \"last\" or \"telegram\" with {k}.to"
                    ));
                }
                let to = h.to.as_deref().map(str::trim).filter(|t| !t.is_empty()).ok_or_else(|| {
                    format!("{k}.target {channel:?} needs {k}.to (the chat id). Fix: set it, or use \"last\"")
                })?;
                HeartbeatTarget::Chat {
                    channel: channel.to_owned(),
                    to: to.to_owned(),
                    account_id: h.account_id.clone(),
                }
            }
        };
        let prompt = match h.prompt.as_deref().map(str::trim) {
            None | Some("") => openclaw_actors::cron::heartbeat::DEFAULT_PROMPT.to_owned(),
            Some(p) if p.chars().count() > openclaw_actors::cron::job::MAX_TEXT_CHARS => {
                return Err(format!(
                    "{k}.prompt is longer than {} characters",
                    openclaw_actors::cron::job::MAX_TEXT_CHARS
                ));
            }
            Some(p) => p.to_owned(),
        };
        let active_hours = match &h.active_hours {
            None => None,
            Some(a) => Some(
                ActiveHours::parse(&a.start, &a.end, a.timezone.as_deref())
                    .map_err(|e| format!("{k}.{e}"))?,
            ),
        };
        Ok(HeartbeatSettings {
            every,
            prompt,
            target,
            active_hours,
            ack_max_chars: h
                .ack_max_chars
                .unwrap_or(openclaw_actors::cron::heartbeat::DEFAULT_ACK_MAX_CHARS),
            checklist: None,
            agent: None,
            model: h
                .model
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned),
            session: match h.session.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(s) if s.chars().count() > 200 || s.chars().any(char::is_control) => {
                    return Err(format!(
                        "{k}.session is not a session key. Fix: \"main\" or a key from `openclaw sessions --json`, e.g. \"agent:main:telegram:direct:123456789\""
                    ));
                }
                Some(s) => Some(s.to_owned()),
            },
            isolated: h.isolated_session.unwrap_or(false),
            light_context: h.light_context.unwrap_or(false),
        })
    }
}

/// `agents.defaults.systemAgent`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemAgentCfg {
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

/// `agents`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentsCfg {
    /// `"explicit"` (what OpenClaw 2026.9 stamps on a fleet it creates): no agent owns the
    /// chat messages no binding matches, not even one marked `default: true`; a sole agent
    /// still does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<String>,
    /// Defaults for every agent.
    #[serde(default)]
    pub defaults: AgentDefaultsCfg,
    /// The agents, by id (OpenClaw 2026.9's form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<std::collections::BTreeMap<String, AgentEntryCfg>>,
    /// The agents as a list of `{id, …}` (OpenClaw's legacy form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Vec<serde_json::Value>>,
}

/// `agents.entries.<id>` (or an `agents.list[]` item, with its `id`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentEntryCfg {
    /// The legacy owner marker: unbound messages go to this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its workspace (`~` expands; absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Its model: a string is strict (no fallbacks); `{primary, fallbacks}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<AgentModelCfg>,
    /// Its tool policy: `profile` replaces `tools.profile`; `allow` / `deny` narrow the
    /// global policy further.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<AgentEntryToolsCfg>,
    /// Its identity (`name` is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<AgentIdentityCfg>,
    /// Its skills (replaces `agents.defaults.skills`; `[]`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<String>>,
    /// Its own heartbeat, over `agents.defaults.heartbeat`: when any agent has one, only
    /// those agents run heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatCfg>,
    /// Its thinking level when the chat names none (OpenClaw's per-agent `thinkingDefault`,
    /// over the model's `params.thinking`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_default: Option<String>,
    /// Its own sub-agent settings, over `agents.defaults.subagents` (field by field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagents: Option<SubagentsCfg>,
    /// Its agent state directory (OpenClaw's auth profiles; `openclaw agents add` writes
    /// `<state>/agents/<id>/agent`). Not used here: an agent's state is always under
    /// `<state>/agents/<id>`; another directory gets a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_dir: Option<String>,
    /// Its group chats: `mentionPatterns` (over `messages.groupChat.mentionPatterns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_chat: Option<crate::config::channels::GroupChatCfg>,
}

/// `agents.entries.<id>.tools`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentEntryToolsCfg {
    /// Replaces `tools.profile` for this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Only these (on top of the global policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// Added to the agent's profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub also_allow: Option<Vec<String>>,
    /// Never these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<String>>,
    /// The `message` tool's `crossContext` for this agent (over `tools.message`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<crate::config::media::MessageToolCfg>,
}

/// `agents.entries.<id>.identity`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentIdentityCfg {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its emoji: the ack reaction when none is configured, and a mention in groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// Its avatar (a workspace path, an http(s) URL or a data URI; shown by clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

/// A peer id: a string, or a number as Telegram ids are often written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PeerIdCfg {
    /// `"-100123"`, `"*"`.
    Text(String),
    /// `-100123`.
    Number(i64),
}

/// `bindings[].match.peer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BindingPeerCfg {
    /// `direct` (`dm`), `group` or `channel`.
    pub kind: String,
    /// The peer's id, or `"*"`.
    pub id: PeerIdCfg,
}

/// `bindings[].match`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingMatchCfg {
    /// The channel (`telegram`).
    pub channel: String,
    /// The account (`"*"`: any; omitted: `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// One peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<BindingPeerCfg>,
    /// Discord's guild (such a binding never matches here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<serde_json::Value>,
    /// Slack's team (such a binding never matches here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<serde_json::Value>,
    /// Discord's roles (such a binding never matches here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<serde_json::Value>,
}

/// `bindings[]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingCfg {
    /// The agent it routes to.
    pub agent_id: String,
    /// `route` (default) or `acp` (not done: ignored).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What it matches.
    #[serde(rename = "match")]
    pub matches: BindingMatchCfg,
}

/// Expands `~` and checks that `p` (the value of `key`) is an absolute path.
pub fn absolute_dir(
    p: &str,
    key: &str,
    home: Option<&std::path::Path>,
) -> Result<std::path::PathBuf, String> {
    let expanded = match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let Some(home) = home else {
                return Err(format!(
                    "{key} is {p:?} but HOME is not set. Fix: use an absolute path"
                ));
            };
            home.join(rest.trim_start_matches('/'))
        }
        _ => std::path::PathBuf::from(p),
    };
    if !expanded.is_absolute() {
        return Err(format!(
            "{key} is {p:?}, a relative path. Fix: use an absolute path or one starting with ~/ (e.g. \"~/.openclaw/workspace\")"
        ));
    }
    if p.contains('\0') {
        return Err(format!(
            "{key} contains a NUL byte. Fix: use a plain absolute path"
        ));
    }
    Ok(expanded)
}

impl AgentsCfg {
    /// The configured agents in order, with their config key prefix (`agents.entries.<id>`
    /// or `agents.list[i]`); empty when neither is set. `Err` names a malformed entry.
    pub fn configured(&self) -> Result<Vec<(String, String, AgentEntryCfg)>, String> {
        if self.entries.is_some() && self.list.is_some() {
            return Err("agents.entries and agents.list are both set. Fix: keep agents.entries (move each agents.list item there under its id)".into());
        }
        let mut out = Vec::new();
        for (id, e) in self.entries.iter().flatten() {
            out.push((
                id.trim().to_ascii_lowercase(),
                format!("agents.entries.{id}"),
                e.clone(),
            ));
        }
        for (i, v) in self.list.iter().flatten().enumerate() {
            let key = format!("agents.list[{i}]");
            let Some(id) = v.get("id").and_then(serde_json::Value::as_str) else {
                return Err(format!("{key} has no id. Fix: give it an \"id\" string"));
            };
            let mut rest = v.clone();
            if let Some(o) = rest.as_object_mut() {
                o.remove("id");
            }
            let e: AgentEntryCfg = serde_json::from_value(rest)
                .map_err(|e| format!("{key}: {e}. Fix: see agents.entries in the README"))?;
            out.push((id.trim().to_ascii_lowercase(), key, e));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod heartbeat_tests {
    use super::*;
    use openclaw_actors::cron::heartbeat::HeartbeatTarget;

    fn settings(
        v: serde_json::Value,
    ) -> Result<openclaw_actors::cron::heartbeat::HeartbeatSettings, String> {
        let d = AgentDefaultsCfg {
            heartbeat: Some(serde_json::from_value(v).expect("heartbeat cfg")),
            ..AgentDefaultsCfg::default()
        };
        d.heartbeat_settings()
    }

    #[test]
    fn heartbeat_keys_resolve_and_bad_ones_name_the_fix() {
        assert_eq!(
            AgentDefaultsCfg::default()
                .heartbeat_settings()
                .map(|s| s.every),
            Ok(None)
        );
        let s = settings(serde_json::json!({"every": "30m", "target": "last"})).expect("valid");
        assert_eq!(s.every, Some(std::time::Duration::from_secs(1800)));
        assert_eq!(s.target, HeartbeatTarget::Last);
        for off in ["0m", "0", "0h", ""] {
            let s = settings(serde_json::json!({"every": off})).expect("valid");
            assert_eq!(s.every, None, "{off}");
        }
        let s = settings(
            serde_json::json!({"every": "1h", "target": "telegram", "to": "42",
            "activeHours": {"start": "08:00", "end": "22:00", "timezone": "Europe/Berlin"}}),
        )
        .expect("valid");
        assert!(matches!(s.target, HeartbeatTarget::Chat { ref to, .. } if to == "42"));
        assert!(s.active_hours.is_some());
        for (bad, needle) in [
            (
                serde_json::json!({"every": "soon"}),
                "agents.defaults.heartbeat.every",
            ),
            (
                serde_json::json!({"every": "1h", "target": "discord"}),
                "not a channel",
            ),
            (
                serde_json::json!({"every": "1h", "target": "telegram"}),
                "needs agents.defaults.heartbeat.to",
            ),
            (
                serde_json::json!({"every": "1h", "activeHours": {"start": "8am", "end": "22:00"}}),
                "activeHours.start",
            ),
            (
                serde_json::json!({"every": "1h", "prompt": "x".repeat(20_000)}),
                "prompt",
            ),
        ] {
            let e = settings(bad.clone()).expect_err(&bad.to_string());
            assert!(e.contains(needle), "{e} lacks {needle}");
        }
    }
}

#[cfg(test)]
mod typing_tests {
    use super::*;
    use std::time::Duration;

    fn typing(v: serde_json::Value) -> Result<Option<Duration>, String> {
        serde_json::from_value::<AgentDefaultsCfg>(v)
            .map_err(|e| e.to_string())?
            .typing()
    }

    use serde_json::json;

    #[test]
    fn typing_is_on_by_default_and_never_turns_it_off() {
        assert_eq!(typing(json!({})), Ok(Some(DEFAULT_TYPING_INTERVAL)));
        assert_eq!(
            typing(json!({"typingMode": "thinking", "typingIntervalSeconds": 6})),
            Ok(Some(Duration::from_secs(6)))
        );
        assert_eq!(typing(json!({"typingMode": "never"})), Ok(None));
        for bad in [
            json!({"typingMode": "always"}),
            json!({"typingIntervalSeconds": 0}),
        ] {
            let e = typing(bad).expect_err("refused");
            assert!(
                e.contains("agents.defaults.typing") && e.contains("Fix:"),
                "{e}"
            );
        }
    }
}

#[cfg(test)]
mod workspace_tests {
    use super::AgentDefaultsCfg;
    use std::path::Path;

    fn settings(
        v: serde_json::Value,
        env: Option<&str>,
    ) -> Result<openclaw_actors::workspace::WorkspaceSettings, String> {
        let d: AgentDefaultsCfg = serde_json::from_value(v).expect("defaults");
        d.workspace_settings(Path::new("/state"), env, Some(Path::new("/home/u")))
    }

    #[test]
    fn the_workspace_resolves_like_openclaws_and_bad_values_name_the_fix() {
        use serde_json::json;
        let dir = |v, env| settings(v, env).expect("ok").dir;
        assert_eq!(dir(json!({}), None), Path::new("/state/workspace"));
        assert_eq!(
            dir(json!({"workspace": "~/ws"}), None),
            Path::new("/home/u/ws")
        );
        assert_eq!(dir(json!({"workspace": "~"}), None), Path::new("/home/u"));
        assert_eq!(
            dir(json!({"workspace": "/srv/w"}), None),
            Path::new("/srv/w")
        );
        // The environment wins over the file.
        assert_eq!(
            dir(json!({"workspace": "/srv/w"}), Some("/env/w")),
            Path::new("/env/w")
        );
        assert_eq!(
            dir(json!({"workspace": "  "}), Some(" ")),
            Path::new("/state/workspace")
        );
        let s = settings(json!({"bootstrapMaxChars": 70000}), None).expect("ok");
        assert_eq!((s.max_chars, s.total_max_chars), (70_000, 70_000));
        let s = settings(
            json!({"bootstrapTotalMaxChars": 500, "userTimezone": "Asia/Tokyo"}),
            None,
        )
        .expect("ok");
        assert_eq!(s.total_max_chars, 500);
        assert_eq!(s.user_timezone.as_deref(), Some("Asia/Tokyo"));
        for (v, env, key) in [
            (
                json!({"workspace": "ws"}),
                None,
                "agents.defaults.workspace",
            ),
            (
                json!({"workspace": "~bob/ws"}),
                None,
                "agents.defaults.workspace",
            ),
            (json!({}), Some("rel"), "OPENCLAW_WORKSPACE_DIR"),
            (json!({"bootstrapMaxChars": 0}), None, "bootstrapMaxChars"),
            (
                json!({"bootstrapTotalMaxChars": 99_999_999_999u64}),
                None,
                "bootstrapTotalMaxChars",
            ),
            (
                json!({"userTimezone": "Nowhere/Land"}),
                None,
                "userTimezone",
            ),
        ] {
            let e = settings(v.clone(), env).expect_err("refused");
            assert!(e.contains(key) && e.contains("Fix:"), "{v}: {e}");
        }
    }
}

#[cfg(test)]
mod subagent_tests {
    use super::SubagentsCfg;
    use crate::config::media::AllowDenyCfg;
    use serde_json::json;
    use std::time::Duration;

    fn settings(
        v: serde_json::Value,
    ) -> Result<openclaw_actors::subagents::SubagentSettings, String> {
        let c: SubagentsCfg = serde_json::from_value(v).map_err(|e| e.to_string())?;
        SubagentsCfg::settings(Some(&c), None)
    }

    #[test]
    fn openclaws_keys_and_defaults_with_clear_refusals() {
        let d = SubagentsCfg::settings(None, None).expect("defaults");
        assert_eq!(
            (d.max_concurrent, d.max_children, d.run_timeout),
            (8, 5, None)
        );
        assert_eq!(d.archive_after, Duration::from_secs(3600));
        let s = settings(json!({"maxConcurrent": 2, "maxChildrenPerAgent": 3,
            "runTimeoutSeconds": 900, "model": {"primary": "fake/m"}, "thinking": "low",
            "allowAgents": [" research ", ""], "archiveAfterMinutes": 5,
            "maxSpawnDepth": 2, "announceTimeoutMs": 1000}))
        .expect("valid");
        assert_eq!((s.max_concurrent, s.max_children), (2, 3));
        assert_eq!(s.run_timeout, Some(Duration::from_secs(900)));
        assert_eq!(s.model.as_deref(), Some("fake/m"));
        assert_eq!(s.allow_agents, ["research"]);
        assert_eq!(s.archive_after, Duration::from_secs(300));
        assert_eq!(
            settings(json!({"runTimeoutSeconds": 0}))
                .expect("0")
                .run_timeout,
            None
        );
        for (bad, key) in [
            (json!({"maxConcurrent": 0}), "maxConcurrent"),
            (json!({"maxChildrenPerAgent": 21}), "maxChildrenPerAgent"),
            (json!({"runTimeoutSeconds": 86_401}), "runTimeoutSeconds"),
            (json!({"thinking": "hard"}), "thinking"),
        ] {
            let e = settings(bad).expect_err(key);
            assert!(e.contains(key) && e.contains("Fix:"), "{e}");
        }
        let tools = AllowDenyCfg {
            allow: None,
            deny: Some(vec!["exec".into()]),
        };
        let t = SubagentsCfg::settings(None, Some(&tools)).expect("tools");
        assert!(!t.tools.offers("exec") && t.tools.offers("read"));
    }

    #[test]
    fn an_agents_own_keys_win_field_by_field_but_not_the_gateway_wide_cap() {
        let d: SubagentsCfg = serde_json::from_value(
            json!({"maxConcurrent": 3, "maxChildrenPerAgent": 4, "model": "fake/a"}),
        )
        .expect("defaults");
        let own: SubagentsCfg = serde_json::from_value(
            json!({"maxConcurrent": 50, "allowAgents": ["x"], "model": "fake/b"}),
        )
        .expect("own");
        let s =
            SubagentsCfg::settings(Some(&SubagentsCfg::over(&own, Some(&d))), None).expect("valid");
        assert_eq!((s.max_concurrent, s.max_children), (3, 4));
        assert_eq!(s.model.as_deref(), Some("fake/b"));
        assert_eq!(s.allow_agents, ["x"]);
    }
}
