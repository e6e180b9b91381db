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
    /// Wire API; only `openai-completions` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Models offered.
    #[serde(default)]
    pub models: Vec<ModelEntryCfg>,
    /// Per-request timeout (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl std::fmt::Debug for ProviderCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderCfg")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api", &self.api)
            .field("models", &self.models)
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

/// `agents.defaults.model`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentModelCfg {
    /// `provider/model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
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

/// `agents.defaults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentDefaultsCfg {
    /// The model.
    #[serde(default)]
    pub model: AgentModelCfg,
    /// Tool policies.
    #[serde(default)]
    pub tools: AgentToolsCfg,
}

/// `agents`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentsCfg {
    /// Defaults for every agent.
    #[serde(default)]
    pub defaults: AgentDefaultsCfg,
}
