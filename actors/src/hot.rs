//! Settings that a config reload may change while the gateway runs (`gateway.reload`):
//! the shared secret, trusted proxies, allowed browser origins, the node pairing policy and
//! the agent's node-tool policy. Everything else in [`EngineConfig`](crate::EngineConfig)
//! is fixed for the life of the engine.
//!
//! Readers take a cheap snapshot ([`LiveSettings::get`]: a read lock and an `Arc` clone) and
//! use it for the whole decision, so one handshake never mixes an old and a new secret. The
//! shell swaps the snapshot through the registry (`registry::reload::ApplyHotConfig`), which
//! also closes the sessions that authenticated with the previous shared secret.

use std::sync::{Arc, RwLock};

use crate::auth::{AuthSettings, Cidr};
use crate::tool_policy::AgentToolPolicy;

/// The hot-reloadable settings.
#[derive(Debug, Clone)]
pub struct HotConfig {
    /// Shared-secret auth (`gateway.auth`).
    pub auth: AuthSettings,
    /// `gateway.trustedProxies`.
    pub trusted_proxies: Vec<Cidr>,
    /// `gateway.tools`: the policy of tools called directly (`tools.invoke`,
    /// `POST /tools/invoke`).
    pub http_tools: Arc<crate::registry::tool_invoke::SurfacePolicy>,
    /// `gateway.controlUi.allowedOrigins` (normalized).
    pub allowed_origins: Vec<String>,
    /// `gateway.nodes.pairing.autoApproveLocal`.
    pub auto_approve_local: bool,
    /// `agents.defaults.tools.nodes`.
    pub agent_tools: AgentToolPolicy,
    /// `agents.defaults.timeoutSeconds`: the longest a chat or operator run may take.
    pub run_timeout: std::time::Duration,
    /// `agents.defaults.compaction`.
    pub compaction: Arc<crate::compaction::CompactionSettings>,
    /// `session.maintenance`.
    pub session_maintenance: Arc<crate::registry::maintenance::MaintenanceSettings>,
    /// `session.dmScope`, `session.groupScope`, `session.identityLinks`.
    pub session_routing: Arc<crate::session_scope::SessionRouting>,
    /// The agent's workspace (`agents.defaults.workspace` and its limits).
    pub workspace: Arc<crate::workspace::WorkspaceSettings>,
    /// `tools.profile` / `tools.allow` / `tools.deny`.
    pub tools: Arc<crate::tool_policy::ToolFilter>,
    /// `tools.exec`.
    pub exec: Arc<crate::exec_tool::ExecSettings>,
    /// `tools.web.fetch`.
    pub web_fetch: Arc<crate::web_fetch::WebFetchSettings>,
    /// `tools.web.search` and its providers.
    pub web_search: Arc<crate::web_search::WebSearchSettings>,
    /// The agents and the bindings that route messages to them.
    pub agents: Arc<crate::agents::Roster>,
    /// The port the gateway listens on now (changes with an in-process restart).
    pub port: u16,
    /// The addresses bound now (changes with an in-process restart).
    pub bind_addrs: Vec<String>,
    /// `gateway.tls.enabled` and `gateway.remote.url`, for setup codes' URLs.
    pub setup_urls: crate::setup_code::SetupUrls,
    /// `commands.ownerAllowFrom`: the owner's chat identities (`<channel>:<senderId>`).
    pub owners: Arc<Vec<String>>,
    /// `commands.restart` (default on): the owner's `/restart` and the restart signals.
    pub restart_enabled: bool,
    /// `logging.audit`.
    pub audit: crate::audit::AuditSettings,
    /// `messages.queue`.
    pub queue: Arc<crate::run_queue::QueueSettings>,
    /// `messages.responseUsage`.
    pub response_usage: Arc<crate::usage_footer::ResponseUsage>,
    /// `agents.defaults.subagents`, `tools.subagents.tools`.
    pub subagents: Arc<crate::subagents::SubagentSettings>,
    /// `tools.sessions`, `tools.agentToAgent`.
    pub session_tools: Arc<crate::session_tools::SessionToolSettings>,
}

impl HotConfig {
    /// The hot part of a start-up configuration.
    pub fn of(config: &crate::EngineConfig) -> Self {
        let workspace = Arc::new(config.workspace.clone());
        let tools = Arc::new(config.tools.clone());
        let agents = config.agents.clone().unwrap_or_else(|| {
            Arc::new(crate::agents::Roster::single(
                workspace.clone(),
                tools.clone(),
            ))
        });
        Self {
            agents,
            auth: config.auth.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
            http_tools: Arc::new(config.http_tools.clone()),
            allowed_origins: config.allowed_origins.clone(),
            auto_approve_local: config.auto_approve_local,
            agent_tools: config.agent_tools.clone(),
            run_timeout: config.run_timeout,
            compaction: Arc::new(config.compaction.clone()),
            session_maintenance: Arc::new(config.session_maintenance.clone()),
            session_routing: Arc::new(config.session_routing.clone()),
            workspace,
            tools,
            exec: Arc::new(config.exec.clone()),
            web_fetch: Arc::new(config.web_fetch.clone()),
            web_search: Arc::new(config.web_search.clone()),
            port: config.port,
            bind_addrs: config.bind_addrs.clone(),
            setup_urls: config.setup_urls.clone(),
            owners: Arc::new(config.owners.clone()),
            restart_enabled: config.restart_enabled,
            audit: config.audit,
            queue: Arc::new(config.queue.clone()),
            response_usage: Arc::new(config.response_usage.clone()),
            subagents: Arc::new(config.subagents.clone()),
            session_tools: Arc::new(config.session_tools.clone()),
        }
    }
}

/// The current [`HotConfig`], swapped atomically as a whole.
#[derive(Debug)]
pub struct LiveSettings(RwLock<Arc<HotConfig>>);

impl LiveSettings {
    /// Starts with `hot`.
    pub fn new(hot: HotConfig) -> Self {
        crate::agents::set_running(&hot.agents);
        Self(RwLock::new(Arc::new(hot)))
    }

    /// The current snapshot.
    pub fn get(&self) -> Arc<HotConfig> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the snapshot; returns the previous one.
    pub fn set(&self, hot: HotConfig) -> Arc<HotConfig> {
        crate::agents::set_running(&hot.agents);
        let new = Arc::new(hot);
        match self.0.write() {
            Ok(mut g) => std::mem::replace(&mut *g, new),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), new),
        }
    }
}
