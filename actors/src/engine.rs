//! Engine wiring: the resolved configuration, process-wide facts, and the handle the HTTP
//! shell uses to reach the actors.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use serde_json::Value;

use std::rc::Rc;

use crate::auth::AuthSettings;
use crate::channel::ChannelRegistration;
use crate::pairing::{self, PairingBook};
use crate::ports::ChatModel;
use crate::protocol;
use crate::protocol::health::{HealthGateway, HealthSummary};
use crate::registry::Registry;
use crate::registry::channels::RegisterChannel;
use crate::store::{self, StoreActor};
use crate::util::now_ms;

/// Everything the engine needs to know, resolved by the shell from config, env and flags.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Shared-secret auth.
    pub auth: AuthSettings,
    /// `policy.tickIntervalMs`.
    pub tick_interval: Duration,
    /// Pre-auth handshake deadline.
    pub handshake_timeout: Duration,
    /// After our close frame is out, how long to wait for the peer's close frame before
    /// shutting the socket down anyway.
    pub close_linger: Duration,
    /// `policy.maxPayload`.
    pub max_payload: usize,
    /// `policy.maxBufferedBytes`.
    pub max_buffered_bytes: usize,
    /// Version reported in `hello-ok.server.version`.
    pub server_version: String,
    /// The state directory.
    pub state_dir: PathBuf,
    /// The config file in use, if any.
    pub config_path: Option<PathBuf>,
    /// This host's name (presence).
    pub host_name: String,
    /// The port the gateway listens on.
    pub port: u16,
    /// `gateway.bind` as configured.
    pub bind_mode: String,
    /// The addresses actually bound.
    pub bind_addrs: Vec<String>,
    /// `gateway.tls.enabled` and `gateway.remote.url`, for setup codes' URLs.
    pub setup_urls: crate::setup_code::SetupUrls,
    /// `commands.ownerAllowFrom`: the owner's chat identities (`<channel>:<senderId>`).
    pub owners: Vec<String>,
    /// `commands.restart` (default on): the owner's `/restart` and the restart signals.
    pub restart_enabled: bool,
    /// The chat message whose `/restart` restarted the process into this one (from the
    /// restart's handoff): answered, not obeyed, when it comes back.
    pub restarted_by: Option<String>,
    /// Proxies whose forwarding headers are trusted (`gateway.trustedProxies`: addresses
    /// and CIDR blocks).
    pub trusted_proxies: Vec<crate::auth::Cidr>,
    /// `gateway.tools` (see [`crate::registry::tool_invoke`]).
    pub http_tools: crate::registry::tool_invoke::SurfacePolicy,
    /// Browser origins allowed besides same-origin loads from private hosts
    /// (`gateway.controlUi.allowedOrigins`; `"*"` allows any).
    pub allowed_origins: Vec<String>,
    /// Approve new devices from direct loopback peers silently
    /// (`gateway.nodes.pairing.autoApproveLocal`).
    pub auto_approve_local: bool,
    /// Number of channel accounts configured (0: `health` needs no channel round trip).
    pub channel_accounts: usize,
    /// What agent runs may invoke on nodes (`agents.defaults.tools.nodes`).
    pub agent_tools: crate::tool_policy::AgentToolPolicy,
    /// The longest a chat or operator run may take (`agents.defaults.timeoutSeconds`).
    pub run_timeout: Duration,
    /// `agents.defaults.compaction`.
    pub compaction: crate::compaction::CompactionSettings,
    /// `session.maintenance`.
    pub session_maintenance: crate::registry::maintenance::MaintenanceSettings,
    /// `session.dmScope`, `session.groupScope`, `session.identityLinks`.
    pub session_routing: crate::session_scope::SessionRouting,
    /// `cron.enabled`: run scheduled jobs (with `false` they are kept and editable only).
    pub cron_enabled: bool,
    /// The heartbeats: the default agent's (`agents.defaults.heartbeat`), or one per agent
    /// with its own `heartbeat`.
    pub heartbeats: Vec<crate::cron::heartbeat::HeartbeatSettings>,
    /// The agent's workspace.
    pub workspace: crate::workspace::WorkspaceSettings,
    /// Which agent tools runs are offered (`tools.*`).
    pub tools: crate::tool_policy::ToolFilter,
    /// `tools.exec`: where and how the agent's `exec` tool runs commands.
    pub exec: crate::exec_tool::ExecSettings,
    /// `tools.web.fetch`.
    pub web_fetch: crate::web_fetch::WebFetchSettings,
    /// `tools.web.search` and its providers.
    pub web_search: crate::web_search::WebSearchSettings,
    /// The agents (`agents.entries` and `bindings`); `None`: the single agent `main` with
    /// [`Self::workspace`] and [`Self::tools`].
    pub agents: Option<std::sync::Arc<crate::agents::Roster>>,
    /// `logging.audit`: the audit ledger's settings.
    pub audit: crate::audit::AuditSettings,
    /// `messages.queue`.
    pub queue: crate::run_queue::QueueSettings,
    /// `messages.responseUsage`.
    pub response_usage: crate::usage_footer::ResponseUsage,
    /// `agents.defaults.subagents`, `tools.subagents.tools`.
    pub subagents: crate::subagents::SubagentSettings,
    /// `tools.sessions`, `tools.agentToAgent`.
    pub session_tools: crate::session_tools::SessionToolSettings,
}

impl EngineConfig {
    /// Defaults suitable for tests: token auth with `secret`, protocol defaults.
    pub fn with_token(secret: &str) -> Self {
        Self {
            auth: AuthSettings {
                mode: crate::auth::AuthMode::Token,
                secret: Some(secret.to_owned()),
                rate_limit: Default::default(),
            },
            tick_interval: Duration::from_millis(protocol::TICK_INTERVAL_MS),
            handshake_timeout: Duration::from_millis(protocol::HANDSHAKE_TIMEOUT_MS),
            close_linger: Duration::from_millis(protocol::CLOSE_LINGER_MS),
            max_payload: protocol::MAX_PAYLOAD_BYTES,
            max_buffered_bytes: protocol::MAX_BUFFERED_BYTES,
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            state_dir: std::env::temp_dir(),
            config_path: None,
            host_name: "localhost".to_owned(),
            port: 0,
            bind_mode: "loopback".to_owned(),
            bind_addrs: Vec::new(),
            setup_urls: Default::default(),
            owners: Vec::new(),
            restart_enabled: true,
            restarted_by: None,
            trusted_proxies: Vec::new(),
            http_tools: Default::default(),
            allowed_origins: Vec::new(),
            auto_approve_local: true,
            channel_accounts: 0,
            agent_tools: Default::default(),
            run_timeout: crate::agent_run::DEFAULT_RUN_TIMEOUT,
            compaction: crate::compaction::CompactionSettings::default(),
            session_maintenance: Default::default(),
            session_routing: Default::default(),
            cron_enabled: true,
            heartbeats: Vec::new(),
            workspace: Default::default(),
            tools: Default::default(),
            exec: Default::default(),
            web_fetch: Default::default(),
            web_search: Default::default(),
            agents: None,
            // Tests share the temporary directory: nothing recorded unless a test asks.
            audit: crate::audit::AuditSettings {
                enabled: false,
                ..Default::default()
            },
            queue: crate::run_queue::QueueSettings::default(),
            response_usage: Default::default(),
            subagents: Default::default(),
            session_tools: Default::default(),
        }
    }
}

/// Unauthenticated sockets per client IP, checked synchronously in the upgrade handler.
///
/// Why a mutex and not the registry: this is touched once per upgrade and once when the
/// socket authenticates or closes, for one short map operation; a registry round trip on
/// the connect hot path costs a cross-thread wake-up instead (measured: the bigger part of
/// the upgrade time).
///
/// Besides the per-IP cap (OpenClaw's 32) it bounds the unauthenticated sockets in all
/// (`gateway.limits.maxPreauthConnections`, [`DEFAULT_MAX_PREAUTH_SOCKETS`] unless set), so
/// a reconnect storm or a many-address flood cannot hold more half-open handshakes than that.
#[derive(Debug, Default)]
pub struct PreauthCounter {
    counts: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
    closed: std::sync::atomic::AtomicBool,
    /// Unauthenticated sockets in all (changed under the `counts` lock).
    total: std::sync::atomic::AtomicUsize,
    /// Cap on `total`; 0 means [`DEFAULT_MAX_PREAUTH_SOCKETS`].
    max_total: std::sync::atomic::AtomicUsize,
}

/// Default cap on unauthenticated sockets in all (`gateway.limits.maxPreauthConnections`).
pub const DEFAULT_MAX_PREAUTH_SOCKETS: usize = 1024;

/// Why [`PreauthCounter::try_admit`] refused a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreauthRefusal {
    /// The gateway is shutting down.
    Closed,
    /// This address already holds its unauthenticated sockets.
    PerIp,
    /// The gateway holds this many unauthenticated sockets in all.
    Total(usize),
}

impl PreauthCounter {
    /// Counts a new unauthenticated socket from `ip`; `false` when over a cap (or the
    /// gateway is shutting down).
    pub fn admit(&self, ip: IpAddr) -> bool {
        self.try_admit(ip).is_ok()
    }

    /// Counts a new unauthenticated socket from `ip`, or says which cap refuses it.
    pub fn try_admit(&self, ip: IpAddr) -> Result<(), PreauthRefusal> {
        use std::sync::atomic::Ordering;
        if self.closed.load(Ordering::Relaxed) {
            return Err(PreauthRefusal::Closed);
        }
        let Ok(mut map) = self.counts.lock() else {
            return Err(PreauthRefusal::Closed);
        };
        let max_total = match self.max_total.load(Ordering::Relaxed) {
            0 => DEFAULT_MAX_PREAUTH_SOCKETS,
            n => n,
        };
        let total = self.total.load(Ordering::Relaxed);
        if total >= max_total {
            return Err(PreauthRefusal::Total(max_total));
        }
        let n = map.entry(ip).or_insert(0);
        if *n >= protocol::MAX_PREAUTH_SOCKETS_PER_IP {
            return Err(PreauthRefusal::PerIp);
        }
        *n += 1;
        self.total.store(total + 1, Ordering::Relaxed);
        Ok(())
    }

    /// Sets the cap on unauthenticated sockets in all (at least 1).
    pub fn set_max_total(&self, n: usize) {
        self.max_total
            .store(n.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// Unauthenticated sockets held now.
    pub fn total(&self) -> usize {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Releases one slot of `ip` (authenticated, closed, or upgrade failed).
    pub fn release(&self, ip: IpAddr) {
        if let Ok(mut map) = self.counts.lock()
            && let Some(n) = map.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&ip);
            }
            let total = self.total.load(std::sync::atomic::Ordering::Relaxed);
            self.total.store(
                total.saturating_sub(1),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    /// Whether shutdown closed it.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Refuses every further upgrade (shutdown).
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Process-wide, read-only facts shared by every actor.
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub config: EngineConfig,
    /// When the engine started.
    pub started: Instant,
    /// Random id of this process run.
    pub boot_id: String,
    /// Instance id of the gateway in presence.
    pub instance_id: String,
    /// Unauthenticated sockets per IP.
    pub preauth: PreauthCounter,
    /// Sessions in their handshake that the registry does not track yet.
    pub untracked: crate::ws_session::Untracked,
    /// The sessions (kept by the registry) and the heartbeat (kept by the scheduler) as
    /// `health` reports them, read without a round trip.
    pub health_view: crate::protocol::health::HealthView,
    /// The hot-reloadable settings (auth, proxies, origins, pairing and tool policy); read
    /// these instead of the start-up values in `config`.
    pub live: crate::hot::LiveSettings,
    /// Operations hooks supplied by the shell (config RPCs, log tail, readiness).
    pub ops: std::sync::OnceLock<std::sync::Arc<dyn crate::ports::OpsPort>>,
    /// Serving traffic: false while starting, restarting in-process or draining (`/readyz`).
    pub ready: std::sync::atomic::AtomicBool,
    /// The failed-auth limiter and the published presence (see
    /// [`crate::registry::hello_view`]).
    pub hello_view: crate::registry::hello_view::HelloView,
    /// The cron scheduler, once started (the `cron.*` methods reach it here).
    pub cron: std::sync::OnceLock<CronAddr>,
    /// The Tailscale Serve/Funnel URL, once serving (setup codes point there).
    pub tailscale_url: std::sync::OnceLock<String>,
    /// Single-use join URLs' payloads (`GET /j/<shortcode>`).
    pub join_codes: crate::setup_code::JoinCodes,
    /// The audit ledger (`audit.*` read it; runs and channels record into it).
    pub audit: crate::audit::Recorder,
}

/// The address of the [`crate::cron::CronService`] (a newtype: `Shared` is `Debug`).
#[derive(Clone)]
pub struct CronAddr(pub Addr<crate::cron::CronService>);

impl std::fmt::Debug for CronAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CronAddr")
    }
}

impl Shared {
    /// Milliseconds since start.
    pub fn uptime_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The default agent's session index (`sessions.list`'s `path`).
    pub fn sessions_path(&self) -> String {
        self.health_view
            .sessions_path(&crate::agents::default_id_now())
    }

    /// The `health` summary (`HealthSummary`): the fields `openclaw health` and
    /// `openclaw gateway call health` read, written from where they live.
    pub fn health_summary<'a>(
        &'a self,
        snapshot: &'a crate::protocol::health::HealthSnapshot,
    ) -> HealthSummary<'a> {
        let gateway = HealthGateway {
            bind: &self.config.bind_mode,
            port: self.live.get().port,
            uptime_ms: self.uptime_ms(),
            version: &self.config.server_version,
        };
        HealthSummary::new(gateway, snapshot, now_ms())
    }

    /// What [`Self::health_summary`] reads: the sessions, heartbeat and agents now, as
    /// `audience` may see them.
    pub fn health_snapshot(
        &self,
        audience: crate::protocol::health::HealthAudience,
    ) -> crate::protocol::health::HealthSnapshot {
        self.health_view
            .snapshot(self.live.get().agents.clone(), audience)
    }

    /// [`Self::health_summary`] as a JSON object, for callers that add to it.
    pub fn health(&self, audience: crate::protocol::health::HealthAudience) -> Value {
        let snapshot = self.health_snapshot(audience);
        serde_json::to_value(self.health_summary(&snapshot)).unwrap_or_default()
    }

    /// This gateway's own presence entry.
    pub fn self_presence(&self) -> crate::registry::presence::PresenceEntry {
        crate::registry::presence::PresenceEntry {
            host: self.config.host_name.clone(),
            version: self.config.server_version.clone(),
            platform: std::env::consts::OS.to_owned(),
            mode: "gateway".to_owned(),
            reason: "self".into(),
            instance_id: self.instance_id.clone(),
            text: format!(
                "Gateway: {} · app {} · mode gateway · reason self",
                self.config.host_name, self.config.server_version
            ),
            ts: now_ms(),
            ..Default::default()
        }
    }
}

/// The engine's links to the outside world, built by the shell (HTTP clients pointed at
/// configurable base URLs). Not `Send`: everything here lives on the engine arbiter.
#[derive(Default)]
pub struct EngineDeps {
    /// The model provider; `None` runs the embedded command agent.
    pub model: Option<Rc<dyn ChatModel>>,
    /// The configured channels' accounts (each channel module provides its registration).
    pub channels: Vec<Box<dyn ChannelRegistration>>,
    /// Voice transcription (`tools.media`), when configured.
    pub hearing: Option<Rc<crate::hearing::Hearing>>,
    /// Spoken answers (`tts`) and Talk playback (`talk`).
    pub voices: crate::speech::Voices,
    /// Runs the agent's `exec` commands on the gateway host.
    pub exec_host: Option<Rc<dyn crate::ports::CommandHost>>,
    /// HTTP for `web_fetch` and `web_search` (none: neither is offered).
    pub web_fetcher: Option<Rc<dyn crate::ports::WebFetcher>>,
}

/// Reads a JSON document of the state directory: `Ok(None)` when absent; `Err` (with a fix)
/// when unreadable or not valid.
pub(crate) fn load_json<T: serde::de::DeserializeOwned>(
    dir: &std::path::Path,
    name: &str,
) -> Result<Option<T>, String> {
    match store::read_document(dir, name) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            format!(
                "{} is not valid ({e}). Fix: restore it from a backup or move it aside",
                dir.join(name).display()
            )
        }),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", dir.join(name).display())),
    }
}

/// The running engine: what the HTTP layer needs to accept sockets.
#[derive(Clone)]
pub struct Engine {
    /// Shared facts.
    pub shared: Arc<Shared>,
    /// The registry actor.
    pub registry: Addr<Registry>,
}

impl Engine {
    /// Loads persisted state and starts the engine's actors on the current arbiter (call
    /// inside an actix system). Fails when the state directory holds a corrupt document:
    /// starting with empty pairing state would silently unpair every device.
    pub fn start(config: EngineConfig, deps: EngineDeps) -> Result<Self, String> {
        let book = match store::read_document(&config.state_dir, pairing::DOCUMENT) {
            Ok(Some(bytes)) => PairingBook::from_json(&bytes).map_err(|e| {
                format!(
                    "{} is not valid pairing state ({e}). Fix: restore it from a backup or move it aside to start with no paired devices",
                    config.state_dir.join(pairing::DOCUMENT).display()
                )
            })?,
            Ok(None) => PairingBook::default(),
            Err(e) => {
                return Err(format!(
                    "cannot read {}: {e}",
                    config.state_dir.join(pairing::DOCUMENT).display()
                ));
            }
        };
        // Each agent's session index (`main`'s too: sessions from before a roster).
        let mut sessions_index: crate::registry::runs::SessionsIndex =
            load_json(&config.state_dir, crate::registry::runs::SESSIONS_INDEX)?
                .unwrap_or_default();
        for a in config.agents.iter().flat_map(|r| r.agents()) {
            if a.id != crate::agents::MAIN
                && let Some(part) = load_json(
                    &config.state_dir,
                    &crate::registry::runs::sessions_index_name(&a.id),
                )?
            {
                sessions_index.merge(part);
            }
        }
        let cron_jobs: crate::cron::job::JobsFile =
            load_json(&config.state_dir, crate::cron::JOBS_FILE)?.unwrap_or_default();

        let mut channels = deps.channels;
        for c in &mut channels {
            c.load(&config.state_dir)?;
        }
        let (voicewake, warnings) = crate::voicewake::VoiceWake::load(&config.state_dir);
        for w in warnings {
            log::warn!("{w}");
        }
        let (tts_pref, warning) = crate::speech::load_prefs(&config.state_dir);
        if let Some(w) = warning {
            log::warn!("{w}");
        }
        let store = StoreActor::start(config.state_dir.clone());
        let live = crate::hot::LiveSettings::new(crate::hot::HotConfig::of(&config));
        let audit = crate::audit::Recorder::start(&config.state_dir, config.audit);
        let hello_view = crate::registry::hello_view::HelloView::new(config.auth.rate_limit);
        let health_view = crate::protocol::health::HealthView::new(
            &config.state_dir,
            sessions_index.health_view(),
            config
                .heartbeats
                .iter()
                .map(|h| h.view(config.cron_enabled))
                .collect(),
        );
        let shared = Arc::new(Shared {
            live,
            ops: std::sync::OnceLock::new(),
            ready: std::sync::atomic::AtomicBool::new(false),
            config,
            started: Instant::now(),
            boot_id: uuid::Uuid::new_v4().to_string(),
            instance_id: uuid::Uuid::new_v4().to_string(),
            preauth: PreauthCounter::default(),
            untracked: crate::ws_session::Untracked::default(),
            health_view,
            hello_view,
            cron: std::sync::OnceLock::new(),
            tailscale_url: std::sync::OnceLock::new(),
            join_codes: Default::default(),
            audit,
        });
        let model: Rc<dyn ChatModel> = deps
            .model
            .unwrap_or_else(|| Rc::new(crate::agent_run::CommandAgent));
        let audio_in = crate::hearing::AudioIn::default();
        let registry = Registry::new(shared.clone(), store.clone(), book, model, sessions_index)
            .with_hearing(deps.hearing, audio_in.clone())
            .with_voices(deps.voices, tts_pref)
            .with_exec_host(deps.exec_host)
            .with_web_fetcher(deps.web_fetcher)
            .with_voicewake(voicewake)
            .start();
        for c in channels {
            for handle in c.start(&registry, &store, &audio_in) {
                registry.do_send(RegisterChannel { handle });
            }
        }
        let cron = crate::cron::CronService::new(
            store.clone(),
            registry.clone(),
            cron_jobs,
            shared.config.cron_enabled,
            shared.config.state_dir.clone(),
        )
        .with_heartbeats(shared.config.heartbeats.clone())
        .with_health(shared.clone())
        .start();
        let _ = shared.cron.set(CronAddr(cron));
        Ok(Self { shared, registry })
    }
}

#[cfg(test)]
mod preauth_tests {
    use super::*;

    #[test]
    fn preauth_sockets_are_capped_per_ip_and_in_all() {
        let c = PreauthCounter::default();
        c.set_max_total(40);
        let a = IpAddr::from([127, 0, 0, 1]);
        let b = IpAddr::from([127, 0, 0, 2]);
        for _ in 0..protocol::MAX_PREAUTH_SOCKETS_PER_IP {
            assert_eq!(c.try_admit(a), Ok(()));
        }
        assert_eq!(c.try_admit(a), Err(PreauthRefusal::PerIp));
        for _ in 0..(40 - protocol::MAX_PREAUTH_SOCKETS_PER_IP) {
            assert_eq!(c.try_admit(b), Ok(()));
        }
        assert_eq!(c.total(), 40);
        // The total cap is checked first: B is under its per-IP cap but refused.
        assert_eq!(c.try_admit(b), Err(PreauthRefusal::Total(40)));
        c.release(b);
        assert_eq!(c.total(), 39);
        assert_eq!(c.try_admit(b), Ok(()));
        // Releasing an address that holds nothing changes nothing.
        c.release(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(c.total(), 40);
        c.close();
        assert_eq!(c.try_admit(b), Err(PreauthRefusal::Closed));
        assert!(!c.admit(b));
    }

    #[test]
    fn the_default_total_cap_applies_until_set() {
        let c = PreauthCounter::default();
        let mut admitted = 0;
        for i in 0..=DEFAULT_MAX_PREAUTH_SOCKETS {
            let ip = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            if c.try_admit(ip).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, DEFAULT_MAX_PREAUTH_SOCKETS);
    }
}
