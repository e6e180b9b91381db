//! `openclaw gateway run`: resolve bind addresses and auth, refuse unsafe combinations,
//! bind, start the engine and the HTTP server, and shut down cleanly on SIGTERM/SIGINT.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::Duration;

use openclaw_actors::auth::{AuthMode, AuthSettings, RateLimitSettings};
use openclaw_actors::registry::ShutdownGateway;

use openclaw_actors::{Engine, EngineConfig, EngineDeps};

use crate::config::{AuthModeCfg, BindMode, Loaded};

mod agents;
mod deps;
pub mod owner_lock;
pub mod restart;
mod surface;

pub use agents::{heartbeats, roster};
use deps::build_deps;
pub use deps::{BotAccess, Bots, build_hearing, build_model, build_voices, telegram_accounts};
pub use surface::{Control, RESTART_EXPECTED_MS};
use surface::{HttpSpec, Surface, restart, serve_and_announce, wait_sessions_closed};

/// `EX_CONFIG` from sysexits: refused to start because of configuration.
pub const EXIT_CONFIG: i32 = 78;

/// Why the gateway did not start.
#[derive(Debug)]
pub struct StartError {
    /// Process exit code.
    pub code: i32,
    /// One-line message naming the problem and the fix.
    pub message: String,
}

impl StartError {
    fn config(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_CONFIG,
            message: message.into(),
        }
    }
}

/// Whether we run inside a container (Docker, Podman, Kubernetes…).
pub fn in_container() -> bool {
    std::path::Path::new("/.dockerenv").exists()
        || std::path::Path::new("/run/.containerenv").exists()
        || std::env::var_os("container").is_some()
        || std::fs::read_to_string("/proc/1/cgroup").is_ok_and(|s| {
            ["docker", "kubepods", "containerd", "libpod", "lxc"]
                .iter()
                .any(|k| s.contains(k))
        })
}

/// The first IPv4 address in the tailnet range 100.64.0.0/10 on any interface.
pub fn tailnet_ipv4() -> Option<Ipv4Addr> {
    let ifaces = if_addrs::get_if_addrs().ok()?;
    ifaces.into_iter().find_map(|i| match i.ip() {
        IpAddr::V4(v4) if v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64 => Some(v4),
        _ => None,
    })
}

/// The addresses to bind for a bind mode. `required` addresses must bind; optional ones
/// (`::1` on hosts without IPv6) only warn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindPlan {
    /// `(address, required)`.
    pub addrs: Vec<(IpAddr, bool)>,
    /// Warnings to print.
    pub warnings: Vec<String>,
}

impl BindPlan {
    /// Whether any address is reachable from beyond this host.
    pub fn non_loopback(&self) -> Option<IpAddr> {
        self.addrs
            .iter()
            .map(|(a, _)| *a)
            .find(|a| !a.is_loopback())
    }
}

/// Resolves `gateway.bind` to addresses.
pub fn plan_bind(mode: BindMode, custom: Option<&str>) -> Result<BindPlan, StartError> {
    let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut warnings = Vec::new();
    let addrs = match mode {
        BindMode::Loopback => vec![(lo4, true), (lo6, false)],
        BindMode::Lan => vec![(any, true)],
        BindMode::Auto => {
            if in_container() {
                vec![(any, true)]
            } else {
                vec![(lo4, true), (lo6, false)]
            }
        }
        BindMode::Tailnet => match tailnet_ipv4() {
            Some(ip) => vec![(IpAddr::V4(ip), true), (lo4, true)],
            None => {
                warnings.push(
                    "gateway.bind is \"tailnet\" but no 100.64.0.0/10 address was found (is tailscaled up?); listening on loopback only".to_owned(),
                );
                vec![(lo4, true)]
            }
        },
        BindMode::Custom => {
            let host = custom.map(str::trim).filter(|h| !h.is_empty()).ok_or_else(|| {
                StartError::config(
                    "gateway.bind is \"custom\" but gateway.customBindHost is not set. Fix: set gateway.customBindHost to an IPv4 address of this host",
                )
            })?;
            let ip: Ipv4Addr = host.parse().map_err(|_| {
                StartError::config(format!(
                    "gateway.customBindHost {host:?} is not an IPv4 address. Fix: use an address such as 192.168.1.10"
                ))
            })?;
            let ip = IpAddr::V4(ip);
            if ip == lo4 || ip == any {
                vec![(ip, true)]
            } else {
                vec![(ip, true), (lo4, true)]
            }
        }
    };
    Ok(BindPlan { addrs, warnings })
}

/// The resolved auth, and a runtime token if one had to be generated.
pub fn resolve_auth(loaded: &Loaded) -> Result<(AuthSettings, Option<String>), StartError> {
    let a = &loaded.config.gateway.auth;
    let token = a.token.clone().filter(|t| !t.is_empty());
    let password = a.password.clone().filter(|p| !p.is_empty());
    let mode = match a.mode {
        Some(AuthModeCfg::None) => AuthMode::None,
        Some(AuthModeCfg::Token) => AuthMode::Token,
        Some(AuthModeCfg::Password) => AuthMode::Password,
        None => {
            if token.is_some() && password.is_some() {
                return Err(StartError::config(
                    "both gateway.auth.token and gateway.auth.password are set but gateway.auth.mode is not. Fix: set gateway.auth.mode to \"token\" or \"password\"",
                ));
            }
            if password.is_some() {
                AuthMode::Password
            } else {
                AuthMode::Token
            }
        }
    };
    let rl = &a.rate_limit;
    let defaults = RateLimitSettings::default();
    let rate_limit = RateLimitSettings {
        max_attempts: rl.max_attempts.unwrap_or(defaults.max_attempts).max(1),
        window: rl
            .window_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.window),
        lockout: rl
            .lockout_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.lockout),
        exempt_loopback: rl.exempt_loopback.unwrap_or(defaults.exempt_loopback),
    };
    let mut generated = None;
    let secret = match mode {
        AuthMode::None => None,
        AuthMode::Token => match token {
            Some(t) => Some(t),
            None => {
                let t = openclaw_actors::pairing::new_token();
                generated = Some(t.clone());
                Some(t)
            }
        },
        AuthMode::Password => Some(password.ok_or_else(|| {
            StartError::config(
                "gateway.auth.mode is \"password\" but no password is set. Fix: set gateway.auth.password, OPENCLAW_GATEWAY_PASSWORD or --password",
            )
        })?),
    };
    Ok((
        AuthSettings {
            mode,
            secret,
            rate_limit,
        },
        generated,
    ))
}

fn env_ms(var: &str, default: u64) -> Duration {
    Duration::from_millis(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v > 0)
            .unwrap_or(default),
    )
}

fn bind_error(addr: SocketAddr, e: &std::io::Error) -> StartError {
    let message = if e.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "port {} is already in use on {} (is another gateway running? check with `openclaw gateway status`). Fix: stop the other process or pass --port <free port>",
            addr.port(),
            addr.ip()
        )
    } else if e.kind() == std::io::ErrorKind::PermissionDenied {
        format!(
            "permission denied binding {addr}. Fix: use a port above 1023 or run with the needed privileges"
        )
    } else {
        format!("cannot bind {addr}: {e}. Fix: check gateway.bind / gateway.customBindHost")
    };
    StartError { code: 1, message }
}

/// A config resolved and checked as a whole (bind plan, auth, proxies, origins, policies,
/// channel accounts, model, logging), without touching the running gateway. Used at start
/// and by the config watcher ([`crate::reload`]) to validate an edit before applying it.
pub struct Prepared {
    /// Where to listen.
    pub plan: BindPlan,
    /// Shared-secret auth.
    pub auth: AuthSettings,
    /// The runtime token generated because none is configured.
    pub generated: Option<String>,
    /// `gateway.trustedProxies`.
    pub trusted_proxies: Vec<openclaw_actors::auth::Cidr>,
    /// `gateway.tools`.
    pub http_tools: openclaw_actors::registry::tool_invoke::SurfacePolicy,
    /// `gateway.controlUi.allowedOrigins`, normalized.
    pub allowed_origins: Vec<String>,
    /// `gateway.nodes.pairing.autoApproveLocal`.
    pub auto_approve_local: bool,
    /// `agents.defaults.tools.nodes`.
    pub agent_tools: openclaw_actors::tool_policy::AgentToolPolicy,
    /// `agents.defaults.timeoutSeconds`.
    pub run_timeout: Duration,
    /// `agents.defaults.compaction`.
    pub compaction: openclaw_actors::compaction::CompactionSettings,
    /// `session.maintenance`.
    pub session_maintenance: openclaw_actors::registry::maintenance::MaintenanceSettings,
    /// `session.dmScope`, `session.groupScope`, `session.identityLinks`.
    pub session_routing: openclaw_actors::session_scope::SessionRouting,
    /// The heartbeats (`agents.defaults.heartbeat`, or the agents' own).
    pub heartbeats: Vec<openclaw_actors::cron::heartbeat::HeartbeatSettings>,
    /// The agent's workspace (`agents.defaults.workspace`, …).
    pub workspace: openclaw_actors::workspace::WorkspaceSettings,
    /// `agents.defaults.skipBootstrap`: no starter files for a new workspace.
    pub skip_bootstrap: bool,
    /// Which agent tools runs are offered (`tools.profile|allow|alsoAllow|deny`).
    pub tools: openclaw_actors::tool_policy::ToolFilter,
    /// `tools.exec`.
    pub exec: openclaw_actors::exec_tool::ExecSettings,
    /// `tools.web.fetch`.
    pub web_fetch: openclaw_actors::web_fetch::WebFetchSettings,
    /// `tools.web.search` and its providers.
    pub web_search: openclaw_actors::web_search::WebSearchSettings,
    /// Where the gateway's own requests go (`proxy.*`, the proxy variables).
    pub egress: crate::clients::proxy::Egress,
    /// The agents and their bindings (`None`: the single agent `main`).
    pub agents: Option<std::sync::Arc<openclaw_actors::agents::Roster>>,
    /// Warnings about the configuration (printed at start).
    pub warnings: Vec<String>,
    /// Model and channel accounts.
    pub deps: EngineDeps,
    /// Number of channel accounts.
    pub channel_accounts: usize,
    /// The Telegram accounts' bots (a reload compares them: a `tokenFile` may change
    /// while its path stays).
    pub bots: deps::Bots,
    /// What the agent runs on (for the start-up line).
    pub model_label: String,
    /// `logging`.
    pub logging: crate::logging::Settings,
    /// The Control UI (`gateway.controlUi`).
    pub ui: crate::http::ui::Ui,
    /// The OpenAI-compatible endpoints (`gateway.http.endpoints.chatCompletions`).
    pub openai: crate::http::openai::Settings,
    /// Connection caps (`gateway.limits`).
    pub conn_limits: crate::http::ceiling::ConnLimits,
    /// What setup codes' URLs are chosen from besides the bound addresses.
    pub setup_urls: openclaw_actors::setup_code::SetupUrls,
    /// `commands.ownerAllowFrom`, checked and normalized.
    pub owners: Vec<String>,
    /// `commands.restart` (default on).
    pub restart_enabled: bool,
    /// `logging.audit`.
    pub audit: openclaw_actors::audit::AuditSettings,
    /// `messages.queue`.
    pub queue: openclaw_actors::run_queue::QueueSettings,
    /// `messages.responseUsage`.
    pub response_usage: openclaw_actors::usage_footer::ResponseUsage,
    /// `agents.defaults.subagents`, `tools.subagents.tools`.
    pub subagents: openclaw_actors::subagents::SubagentSettings,
    /// `tools.sessions`, `tools.agentToAgent`.
    pub session_tools: openclaw_actors::session_tools::SessionToolSettings,
}

/// Resolves and checks `loaded` (see [`Prepared`]).
pub fn prepare(loaded: &Loaded) -> Result<Prepared, StartError> {
    let gw = &loaded.config.gateway;
    if gw.mode == Some(crate::config::GatewayMode::Remote) {
        return Err(StartError::config(format!(
            "gateway.mode is \"remote\"{}: this host is configured as a client of {}. Fix: set gateway.mode to \"local\" to run a gateway here",
            loaded
                .path
                .as_ref()
                .map(|p| format!(" in {}", p.display()))
                .unwrap_or_default(),
            gw.remote.url.as_deref().unwrap_or("a remote gateway")
        )));
    }
    let plan = plan_bind(gw.bind, gw.custom_bind_host.as_deref())?;
    let (auth, generated) = resolve_auth(loaded)?;
    crate::tailscale::check(&gw.tailscale, auth.mode).map_err(StartError::config)?;
    let ui = crate::http::ui::Ui::from_config(&gw.control_ui).map_err(StartError::config)?;
    let conn_limits = gw.limits.resolve().map_err(StartError::config)?;
    if let Some(addr) = plan.non_loopback() {
        let has_secret = auth.mode != AuthMode::None && generated.is_none();
        if !has_secret {
            return Err(StartError::config(format!(
                "refusing to bind gateway to {addr}:{} without auth (gateway.bind is \"{}\"). Fix: set gateway.auth.token (or OPENCLAW_GATEWAY_TOKEN / --token) or gateway.auth.password, or use --bind loopback",
                gw.port,
                gw.bind.as_str()
            )));
        }
    }
    let http_tools = openclaw_actors::registry::tool_invoke::SurfacePolicy::new(
        gw.tools.allow.clone(),
        gw.tools.deny.clone(),
    )
    .map_err(StartError::config)?;
    let mut trusted_proxies = Vec::new();
    for p in &gw.trusted_proxies {
        match openclaw_actors::auth::Cidr::parse(p) {
            Ok(c) => trusted_proxies.push(c),
            Err(e) => {
                return Err(StartError::config(format!(
                    "gateway.trustedProxies entry {e}. Fix: list proxy addresses or CIDR blocks such as \"127.0.0.1\" or \"10.0.0.0/8\""
                )));
            }
        }
    }
    let allowed_origins =
        crate::http::ws::normalize_allowed_origins(&gw.control_ui.allowed_origins)
            .map_err(StartError::config)?;
    let agent_tools = loaded
        .config
        .agents
        .defaults
        .tools
        .nodes
        .to_policy()
        .map_err(StartError::config)?;
    let owners = loaded
        .config
        .commands
        .as_ref()
        .map(|c| c.owners())
        .transpose()
        .map_err(StartError::config)?
        .unwrap_or_default();
    let defaults = &loaded.config.agents.defaults;
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(std::path::PathBuf::from);
    let mut workspace = defaults
        .workspace_settings(
            &loaded.state_dir,
            loaded.config.env_var("OPENCLAW_WORKSPACE_DIR").as_deref(),
            home.as_deref(),
        )
        .map_err(StartError::config)?;
    workspace.skill_settings = std::sync::Arc::new(
        loaded
            .config
            .skills
            .clone()
            .unwrap_or_default()
            .settings(
                &loaded.state_dir.join("skills"),
                home.as_deref(),
                loaded.config.extra_env.vars.keys().cloned(),
                &serde_json::to_value(&loaded.config).unwrap_or_default(),
            )
            .map_err(StartError::config)?,
    );
    check_workspace_apart(&workspace.dir, &loaded.state_dir, loaded.path.as_deref())
        .map_err(StartError::config)?;
    let tools = loaded.config.tool_filter().map_err(StartError::config)?;
    let mut warnings = Vec::new();
    for (i, d) in workspace.skill_settings.extra_dirs.iter().enumerate() {
        if !d.is_dir() {
            warnings.push(format!(
                "skills.load.extraDirs[{i}] ({}) is not a directory; no skills are read from it until it is",
                d.display()
            ));
        }
    }
    let roster = agents::roster(
        loaded,
        &workspace,
        &tools,
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(std::path::PathBuf::from)
            .as_deref(),
        &mut |w| warnings.push(w),
    )
    .map_err(StartError::config)?;
    // With a roster, the default agent's workspace is the one seeded, watched and given
    // to the heartbeat.
    let workspace = match &roster {
        Some(r) => (*r.default_agent().workspace).clone(),
        None => workspace,
    };
    let session_cfg = loaded.config.session.clone().unwrap_or_default();
    let session_maintenance = session_cfg
        .maintenance_settings()
        .map_err(StartError::config)?;
    let session_routing = session_cfg.routing().map_err(StartError::config)?;
    let exec = loaded
        .config
        .tools
        .exec_settings(
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(std::path::PathBuf::from)
                .as_deref(),
        )
        .map_err(StartError::config)?;
    let web_fetch = loaded
        .config
        .tools
        .web_fetch_settings()
        .map_err(StartError::config)?;
    let web_search = loaded
        .config
        .web_search_settings()
        .map_err(StartError::config)?;
    let egress = loaded
        .config
        .egress(&mut warnings)
        .map_err(StartError::config)?;
    if let Some(m) = &loaded.config.messages {
        let patterns = m
            .mention_patterns()
            .map_err(StartError::config)?
            .unwrap_or_default();
        openclaw_actors::channel::telegram::groups::MentionPatterns::compile(
            &patterns,
            &mut warnings,
        );
    }
    let queue = match loaded
        .config
        .messages
        .as_ref()
        .and_then(|m| m.queue.as_ref())
    {
        Some(q) => q.settings().map_err(StartError::config)?,
        None => openclaw_actors::run_queue::QueueSettings::default(),
    };
    let response_usage = match loaded
        .config
        .messages
        .as_ref()
        .and_then(|m| m.response_usage.as_ref())
    {
        Some(v) => openclaw_actors::usage_footer::ResponseUsage::from_config(v)
            .map_err(StartError::config)?,
        None => Default::default(),
    };
    let subagents = crate::config::agents::SubagentsCfg::settings(
        loaded.config.agents.defaults.subagents.as_ref(),
        loaded
            .config
            .tools
            .subagents
            .as_ref()
            .and_then(|s| s.tools.as_ref()),
    )
    .map_err(StartError::config)?;
    let session_tools = loaded
        .config
        .tools
        .session_tool_settings()
        .map_err(StartError::config)?;
    let heartbeats = agents::heartbeats(&loaded.config, roster.as_ref(), &workspace)
        .map_err(StartError::config)?;
    let run_timeout = loaded
        .config
        .agents
        .defaults
        .run_timeout()
        .map_err(StartError::config)?;
    let compaction = loaded
        .config
        .agents
        .defaults
        .compaction_settings()
        .map_err(StartError::config)?;
    let logging = loaded
        .config
        .logging
        .resolve(&loaded.state_dir)
        .map_err(StartError::config)?;
    let audit = loaded
        .config
        .logging
        .audit_settings()
        .map_err(StartError::config)?;
    let (deps, channel_accounts, mut model_label, bots) = build_deps(loaded)?;
    if let Some(r) = &roster {
        model_label.push_str(&format!(
            "; agents: {}; {} binding{}{}",
            r.agents()
                .iter()
                .map(|a| match &a.model {
                    Some(m) => format!("{} ({m})", a.id),
                    None => a.id.clone(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            r.bindings().len(),
            if r.bindings().len() == 1 { "" } else { "s" },
            match r.owner() {
                Some(o) => format!(", unbound messages to {o}"),
                None => ", unbound messages not answered".to_owned(),
            }
        ));
    }
    Ok(Prepared {
        plan,
        auth,
        generated,
        trusted_proxies,
        http_tools,
        allowed_origins,
        auto_approve_local: gw.nodes.pairing.auto_approve_local.unwrap_or(true),
        agent_tools,
        run_timeout,
        compaction,
        session_maintenance,
        session_routing,
        heartbeats,
        skip_bootstrap: defaults.skip_bootstrap.unwrap_or(false),
        agents: roster.map(std::sync::Arc::new),
        warnings,
        workspace,
        tools,
        exec,
        web_fetch,
        web_search,
        egress,
        deps,
        channel_accounts,
        bots,
        model_label,
        logging,
        ui,
        openai: crate::http::openai::Settings {
            enabled: gw.http.endpoints.chat_completions.enabled == Some(true),
            responses: gw.http.endpoints.responses.enabled == Some(true),
        },
        conn_limits,
        owners,
        restart_enabled: loaded.config.commands.as_ref().and_then(|c| c.restart) != Some(false),
        audit,
        queue,
        response_usage,
        subagents,
        session_tools,
        setup_urls: openclaw_actors::setup_code::SetupUrls {
            tls: gw.tls.enabled == Some(true),
            remote_url: gw.remote.url.clone(),
            public_url: loaded
                .config
                .plugins
                .as_ref()
                .and_then(|p| p.entries.as_ref())
                .and_then(|e| e.device_pair.as_ref())
                .and_then(|d| d.config.as_ref())
                .and_then(|c| c.public_url.clone()),
        },
    })
}

/// Refuses a workspace that would hand the agent's file tools the gateway's own state: the
/// state directory itself or a directory above it (`openclaw.json`, `.env`, device keys and
/// tokens), or one holding the config file. Edits there would let a chat rewrite the
/// gateway's config (its tool policy, `allowFrom`, …). The default `<state>/workspace` is
/// below the state directory, where the confined tools cannot climb out.
fn check_workspace_apart(
    workspace: &std::path::Path,
    state_dir: &std::path::Path,
    config: Option<&std::path::Path>,
) -> Result<(), String> {
    let ws = openclaw_actors::workspace::confined::real_path_of(workspace);
    let state = openclaw_actors::workspace::confined::real_path_of(state_dir);
    let fix = "Fix: point agents.defaults.workspace (or OPENCLAW_WORKSPACE_DIR) at a directory of its own, e.g. the default <state dir>/workspace";
    if state.starts_with(&ws) {
        return Err(format!(
            "the agent's workspace {} is the gateway's state directory {} or above it: the agent's file tools would reach its config, keys and tokens. {fix}",
            workspace.display(),
            state_dir.display()
        ));
    }
    if let Some(cfg) = config
        && openclaw_actors::workspace::confined::real_path_of(cfg).starts_with(&ws)
    {
        return Err(format!(
            "the agent's workspace {} holds the config file {}: a chat could make the agent rewrite it. {fix}",
            workspace.display(),
            cfg.display()
        ));
    }
    Ok(())
}

/// `git init` in a brand-new workspace, as OpenClaw does when git is installed (the
/// workspace is private memory worth a private repository; the agent's file tools never
/// touch `.git`). At most 5 s; no git, or a failure, is fine.
fn git_init(dir: &std::path::Path) -> bool {
    let child = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().is_ok_and(|s| s.success()));
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(ok) => ok,
        Err(_) => {
            // A git that hangs is killed; its waiting thread then ends.
            if let Some(p) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
            false
        }
    }
}

/// Creates the agent's workspace and, unless `skipBootstrap`, the starter files of a new
/// one; returns the line that says so. A workspace that cannot be created is logged and
/// the gateway runs on: the agent then sees `[MISSING]` lines, as in OpenClaw.
pub fn seed_workspace(dir: &std::path::Path, skip_bootstrap: bool) -> String {
    try_seed_workspace(dir, skip_bootstrap).unwrap_or_else(|line| {
        log::warn!("{line}");
        line
    })
}

/// [`seed_workspace`], with a workspace that cannot be prepared as `Err` (the line).
pub fn try_seed_workspace(dir: &std::path::Path, skip_bootstrap: bool) -> Result<String, String> {
    let result = if skip_bootstrap {
        std::fs::create_dir_all(dir).map(|()| Vec::new())
    } else {
        openclaw_actors::workspace::seed(dir)
    };
    match result {
        Ok(written) if written.is_empty() => Ok(format!("agent workspace: {}", dir.display())),
        Ok(written) => Ok(format!(
            "agent workspace: {} (new: wrote {}{})",
            dir.display(),
            written.join(", "),
            if git_init(dir) { "; git init" } else { "" }
        )),
        Err(e) => Err(format!(
            "agent workspace {} could not be prepared: {e}. Fix: make it a writable directory or set agents.defaults.workspace",
            dir.display()
        )),
    }
}

/// The hot part of `p`, listening on `port` at `bound`.
pub fn hot_config(
    p: &Prepared,
    port: u16,
    bound: &[SocketAddr],
) -> openclaw_actors::hot::HotConfig {
    openclaw_actors::hot::HotConfig {
        auth: p.auth.clone(),
        trusted_proxies: p.trusted_proxies.clone(),
        http_tools: std::sync::Arc::new(p.http_tools.clone()),
        allowed_origins: p.allowed_origins.clone(),
        auto_approve_local: p.auto_approve_local,
        agent_tools: p.agent_tools.clone(),
        run_timeout: p.run_timeout,
        compaction: std::sync::Arc::new(p.compaction.clone()),
        session_maintenance: std::sync::Arc::new(p.session_maintenance.clone()),
        session_routing: std::sync::Arc::new(p.session_routing.clone()),
        workspace: std::sync::Arc::new(p.workspace.clone()),
        tools: std::sync::Arc::new(p.tools.clone()),
        exec: std::sync::Arc::new(p.exec.clone()),
        web_fetch: std::sync::Arc::new(p.web_fetch.clone()),
        web_search: std::sync::Arc::new(p.web_search.clone()),
        agents: p.agents.clone().unwrap_or_else(|| {
            std::sync::Arc::new(openclaw_actors::agents::Roster::single(
                std::sync::Arc::new(p.workspace.clone()),
                std::sync::Arc::new(p.tools.clone()),
            ))
        }),
        port,
        bind_addrs: bound.iter().map(ToString::to_string).collect(),
        setup_urls: p.setup_urls.clone(),
        owners: std::sync::Arc::new(p.owners.clone()),
        restart_enabled: p.restart_enabled,
        audit: p.audit,
        queue: std::sync::Arc::new(p.queue.clone()),
        response_usage: std::sync::Arc::new(p.response_usage.clone()),
        subagents: std::sync::Arc::new(p.subagents.clone()),
        session_tools: std::sync::Arc::new(p.session_tools.clone()),
    }
}

/// Every secret value in `loaded` (and the generated token), for the log redactor.
pub fn secrets_of(loaded: &Loaded, generated: Option<&str>) -> Vec<String> {
    let c = &loaded.config;
    let mut v: Vec<String> = Vec::new();
    let mut add = |s: &Option<String>| {
        if let Some(s) = s {
            v.push(s.trim().to_owned());
        }
    };
    add(&c.gateway.auth.token);
    add(&c.gateway.auth.password);
    add(&c.gateway.remote.token);
    add(&c.gateway.remote.password);
    add(&generated.map(str::to_owned));
    add(&loaded.source.1.token);
    add(&loaded.source.1.password);
    if let Some(t) = &c.channels.telegram {
        for a in std::iter::once(t).chain(t.accounts.iter().flat_map(|m| m.values())) {
            add(&a.bot_token);
            add(&a.webhook_secret);
            if let Some(f) = &a.token_file {
                add(&std::fs::read_to_string(f).ok());
            }
        }
    }
    add(&c.env_var("TELEGRAM_BOT_TOKEN"));
    for value in c.extra_env.secret_values() {
        add(&Some(value.clone()));
    }
    for p in c.models.providers.values() {
        add(&p.api_key);
    }
    for k in c.web_search_secrets() {
        add(&Some(k));
    }
    // Proxy passwords (the gateway's and the Telegram bots' own).
    let mut ignored = Vec::new();
    for p in c.egress(&mut ignored).iter().flat_map(|e| e.passwords()) {
        add(&Some(p));
    }
    let telegram = c.channels.telegram.as_ref();
    let accounts = telegram
        .and_then(|t| t.accounts.as_ref())
        .into_iter()
        .flat_map(|a| a.values());
    for url in telegram
        .into_iter()
        .chain(accounts)
        .filter_map(|t| t.proxy.as_ref())
    {
        if let Ok(p) = crate::clients::proxy::ProxyUrl::parse(url, true) {
            add(&p.password().map(str::to_owned));
        }
    }
    for k in c.skills.iter().flat_map(|s| s.secrets()) {
        add(&Some(k));
    }
    v
}

/// Binds every address of `plan` on one port; with port 0 the first bind picks it.
fn bind_all(
    plan: &BindPlan,
    port: u16,
) -> Result<(Vec<TcpListener>, Vec<SocketAddr>, u16), StartError> {
    let mut port = port;
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    for (ip, required) in &plan.addrs {
        let addr = SocketAddr::new(*ip, port);
        match crate::http::server::bind(addr, crate::http::BACKLOG) {
            Ok(l) => {
                let local = l.local_addr().map_err(|e| bind_error(addr, &e))?;
                port = local.port();
                bound.push(local);
                listeners.push(l);
            }
            Err(e) if !required => {
                log::debug!("optional bind {addr} failed: {e}");
            }
            Err(e) => return Err(bind_error(addr, &e)),
        }
    }
    Ok((listeners, bound, port))
}

fn load_tls(loaded: &Loaded) -> Result<Option<crate::tls::ServerTls>, StartError> {
    let gw = &loaded.config.gateway;
    if gw.tls.enabled == Some(true) {
        Ok(Some(
            crate::tls::load(&gw.tls, &loaded.state_dir).map_err(StartError::config)?,
        ))
    } else {
        Ok(None)
    }
}

/// Runs the gateway until SIGTERM/SIGINT. Returns the exit code.
pub async fn run(loaded: Loaded) -> Result<(), StartError> {
    let gw = &loaded.config.gateway;
    let mut prepared = prepare(&loaded)?;
    // A restart's handoff (see `restart.rs`): the generated token clients hold, the port.
    let handoff = restart::take_handoff(&loaded.state_dir);
    if let (Some(_), Some(t)) = (
        &prepared.generated,
        handoff.as_ref().and_then(|h| h.token.clone()),
    ) {
        prepared.auth.secret = Some(t.clone());
        prepared.generated = Some(t);
    }
    for w in prepared.plan.warnings.iter().chain(&prepared.warnings) {
        eprintln!("warning: {w}");
    }
    crate::logging::configure(&prepared.logging).map_err(StartError::config)?;
    crate::logging::set_secrets(secrets_of(&loaded, prepared.generated.as_deref()));
    // What the agent's session tools read back is redacted as the log is.
    openclaw_actors::util::set_redactor(|t| crate::logging::redact(t).into_owned());
    crate::clients::proxy::install(prepared.egress.clone());

    let state_lock = lock_state_dir(&loaded.state_dir)?;

    // After a restart, a port the OS picked (`--port 0`) is taken again if it is free.
    let (listeners, bound, port) = match handoff.as_ref().and_then(|h| h.port) {
        Some(p) if gw.port == 0 && p != 0 => {
            bind_all(&prepared.plan, p).or_else(|_| bind_all(&prepared.plan, 0))?
        }
        _ => bind_all(&prepared.plan, gw.port)?,
    };
    // OpenClaw's lock file: its CLI finds this gateway by it, and its own gateway and
    // embedded agent leave this state dir alone while we run (refused if one of them holds
    // it now).
    let mut owner_lock = owner_lock::OwnerLock::acquire(
        &loaded.state_dir,
        &loaded
            .path
            .clone()
            .unwrap_or_else(|| loaded.state_dir.join("openclaw.json")),
        port,
    )?;
    // What OpenClaw's own CLI moved aside on this host (its SQLite migrations), back before
    // anything reads the state.
    for line in openclaw_actors::reclaim::reclaim(&loaded.state_dir) {
        log::warn!("{line}");
    }

    let deps = std::mem::take(&mut prepared.deps);
    let channel_accounts = prepared.channel_accounts;
    let generated = prepared.generated.clone();
    let state_dir = loaded.state_dir.clone();
    let config = EngineConfig {
        auth: prepared.auth.clone(),
        tick_interval: env_ms(
            "OPENCLAW_TICK_INTERVAL_MS",
            openclaw_actors::protocol::TICK_INTERVAL_MS,
        ),
        handshake_timeout: env_ms(
            "OPENCLAW_HANDSHAKE_TIMEOUT_MS",
            openclaw_actors::protocol::HANDSHAKE_TIMEOUT_MS,
        ),
        close_linger: env_ms(
            "OPENCLAW_CLOSE_LINGER_MS",
            openclaw_actors::protocol::CLOSE_LINGER_MS,
        ),
        max_payload: openclaw_actors::protocol::MAX_PAYLOAD_BYTES,
        max_buffered_bytes: openclaw_actors::protocol::MAX_BUFFERED_BYTES,
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        state_dir,
        config_path: loaded.path.clone(),
        host_name: host_name(),
        port,
        bind_mode: gw.bind.as_str().to_owned(),
        bind_addrs: bound.iter().map(ToString::to_string).collect(),
        setup_urls: prepared.setup_urls.clone(),
        owners: prepared.owners.clone(),
        restart_enabled: prepared.restart_enabled,
        audit: prepared.audit,
        queue: prepared.queue.clone(),
        response_usage: prepared.response_usage.clone(),
        subagents: prepared.subagents.clone(),
        session_tools: prepared.session_tools.clone(),
        restarted_by: handoff.as_ref().and_then(|h| h.origin.clone()),
        trusted_proxies: prepared.trusted_proxies.clone(),
        http_tools: prepared.http_tools.clone(),
        allowed_origins: prepared.allowed_origins.clone(),
        auto_approve_local: prepared.auto_approve_local,
        channel_accounts,
        agent_tools: prepared.agent_tools.clone(),
        run_timeout: prepared.run_timeout,
        compaction: prepared.compaction.clone(),
        session_maintenance: prepared.session_maintenance.clone(),
        session_routing: prepared.session_routing.clone(),
        cron_enabled: cron_enabled(&loaded.config),
        heartbeats: prepared.heartbeats.clone(),
        workspace: prepared.workspace.clone(),
        tools: prepared.tools.clone(),
        exec: prepared.exec.clone(),
        web_fetch: prepared.web_fetch.clone(),
        web_search: prepared.web_search.clone(),
        agents: prepared.agents.clone(),
    };
    let mut workspace_line = seed_workspace(&prepared.workspace.dir, prepared.skip_bootstrap);
    for a in prepared.agents.iter().flat_map(|r| r.agents()) {
        if a.workspace.dir != prepared.workspace.dir {
            workspace_line.push_str(&format!(
                "\nagent {}: {}",
                a.id,
                seed_workspace(&a.workspace.dir, prepared.skip_bootstrap)
            ));
        }
    }
    let tls = load_tls(&loaded)?;
    // Scratch directories a transcription program left when the process died (the state
    // dir's lock, held above, says no other gateway is using them).
    let _ = std::fs::remove_dir_all(loaded.state_dir.join(openclaw_actors::media::WORK_DIR));
    let engine = Engine::start(config, deps).map_err(|message| StartError {
        code: EXIT_CONFIG,
        message: if message.contains("Fix:") {
            message
        } else {
            format!(
                "{message}. Fix: the state dir {} and the directories under it must be writable directories (move aside whatever file is in the way), or set OPENCLAW_STATE_DIR",
                loaded.state_dir.display()
            )
        },
    })?;
    // `secrets.reload` calls reach the config watcher (a few at a time: each is one
    // admin's request).
    let (secrets_tx, secrets_rx) = tokio::sync::mpsc::channel(4);
    let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel::<Control>();
    let restart_gate = std::sync::Arc::new(restart::RestartGate::new(
        ctl_tx.clone(),
        owner_lock.owner_id(),
        port,
    ));
    let _ = engine.shared.ops.set(std::sync::Arc::new(
        crate::config::rpc::ConfigOps::new(&loaded)
            .with_watcher(secrets_tx)
            .with_restart(restart_gate.clone()),
    ));
    let fingerprint = tls
        .as_ref()
        .map(|t| (t.fingerprint.clone(), t.cert_path.clone()));
    let spki = tls.as_ref().map(|t| t.spki.clone());

    // A generated token is shown only to a person at a terminal; otherwise (a service
    // manager's journal, `docker logs`, a CI log) it goes to a 0600 file and only the path is
    // logged. A stale file from an earlier run is removed either way.
    let token_file = runtime_token_path(&loaded.state_dir);
    let token_shown = match &generated {
        Some(t) => Some(show_runtime_token(t, &token_file)?),
        None => {
            let _ = std::fs::remove_file(&token_file);
            None
        }
    };

    // Install the signal handlers before announcing that we listen, so a supervisor that
    // signals right after the line still gets a clean shutdown.
    let signals = Signals::install();
    let mut out = std::io::stdout().lock();
    if let Some((fp, path)) = &fingerprint {
        let _ = writeln!(
            out,
            "tls fingerprint sha256: {fp} ({})\n  clients pin it with --tls-fingerprint {fp} (or gateway.remote.tlsFingerprint)",
            path.display()
        );
        if let Some(spki) = &spki {
            let _ = writeln!(
                out,
                "tls spki pin: {spki}\n  survives re-issuing the certificate with the same key: --tls-spki-pin {spki} (or gateway.remote.tlsSpkiPins)"
            );
        }
    }
    // The auth line comes before `listening on`: whoever waits for that line has it.
    match (&generated, &token_shown) {
        (Some(t), Some(RuntimeToken::Terminal)) => {
            let _ = writeln!(
                out,
                "auth: token mode with no token configured; generated a runtime-only token (not saved, gone when the gateway stops):\n  {t}\n  use it with: openclaw gateway call health --url ws://127.0.0.1:{port} --token {t}\n  set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN to keep a stable token"
            );
        }
        (Some(_), Some(RuntimeToken::File(path))) => {
            let _ = writeln!(
                out,
                "auth: token mode with no token configured; generated a runtime-only token, written to {} (mode 0600; not printed because stdout is not a terminal; removed when the gateway stops)\n  use it with: openclaw gateway call health --url ws://127.0.0.1:{port} --token \"$(cat {})\"\n  set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN to keep a stable token",
                path.display(),
                path.display()
            );
        }
        _ => {}
    }
    let _ = out.flush();
    drop(out);
    let tls_config = tls.map(|t| t.config);
    engine
        .shared
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // Tailscale Serve/Funnel: a dedicated loopback listener plus the foreground claim.
    let tailscale =
        crate::tailscale::start(gw, engine.clone(), prepared.ui.clone(), prepared.auth.mode)
            .await
            .map_err(|message| StartError { code: 1, message })?;
    if let Some(t) = &tailscale {
        if let Some(u) = &t.url {
            let _ = engine.shared.tailscale_url.set(u.clone());
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "tailscale: {} → {} (dedicated listener http://{})",
            gw.tailscale.mode.unwrap_or_default().as_str(),
            t.url.as_deref().unwrap_or("(no URL printed)"),
            t.listener
        );
        let _ = out.flush();
    }
    let spec = HttpSpec {
        tls: tls_config.clone(),
        ui: prepared.ui.clone(),
        openai: prepared.openai,
        limits: prepared.conn_limits,
    };
    let handle = serve_and_announce(&engine, listeners, &bound, spec, 0, &ctl_tx)?;
    let mut surface = Surface {
        handle,
        generation: 0,
        plan: prepared.plan.clone(),
        port,
        tls: tls_config,
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "agent: {}{}{}",
            prepared.model_label,
            if channel_accounts > 0 {
                format!("; telegram: {channel_accounts} account(s)")
            } else {
                String::new()
            },
            prepared
                .web_search
                .label()
                .map(|l| format!("; web search: {l}"))
                .unwrap_or_default()
        );
        let egress = prepared.egress.describe();
        if !egress.is_empty() {
            let _ = writeln!(out, "{egress}");
        }
        let _ = writeln!(out, "{workspace_line}");
        let _ = out.flush();
    }

    {
        let tx = ctl_tx.clone();
        let gate = restart_gate.clone();
        // `commands.restart: false` turns the restart signals off (OpenClaw's rule; the
        // setting in force when the signal comes).
        let shared = engine.shared.clone();
        actix_web::rt::spawn(async move {
            let mut signals = signals;
            loop {
                match signals.next().await {
                    Sig::Stop => {
                        let _ = tx.send(Control::Stop);
                        break;
                    }
                    Sig::Restart(name) if !shared.live.get().restart_enabled => {
                        log::warn!(
                            "{name} restart ignored (not authorized; commands.restart=false). Restart with `openclaw gateway restart` (operator.admin) or your service manager"
                        );
                    }
                    // OpenClaw's restart signals: as `gateway.restart.request {}`.
                    Sig::Restart(name) => {
                        let _ = gate.ask(openclaw_actors::ports::RestartAsk {
                            reason: name.to_owned(),
                            wait: Duration::from_millis(
                                openclaw_actors::ws_session::RESTART_WAIT_MS,
                            ),
                            target: None,
                            written: None,
                            origin: None,
                        });
                    }
                }
            }
        });
    }
    crate::reload::spawn_watcher(
        loaded.clone(),
        prepared.bots.clone(),
        engine.clone(),
        ctl_tx.clone(),
        generated.clone(),
        secrets_rx,
    );

    let mut restart_for = None;
    loop {
        match ctl_rx.recv().await {
            None | Some(Control::Stop) => break,
            Some(Control::ScheduleRestart {
                reason,
                wait,
                written,
            }) => {
                actix_web::rt::spawn(restart::drain_then_restart(
                    engine.clone(),
                    reason,
                    wait,
                    written,
                    ctl_tx.clone(),
                ));
            }
            Some(Control::Exec(reason)) => {
                restart_for = Some(reason);
                break;
            }
            Some(Control::ServerFailed(generation, e)) if generation == surface.generation => {
                return Err(StartError {
                    code: 1,
                    message: format!("server error: {e}"),
                });
            }
            Some(Control::ServerFailed(..)) => {}
            Some(Control::Restart { loaded: new, keys }) => {
                // OpenClaw's CLI finds the gateway (and aims restarts) by the lock's port.
                let mut bound_on = |port| {
                    owner_lock.set_port(port);
                    restart_gate.set_port(port);
                };
                restart(
                    &engine,
                    &mut surface,
                    &new,
                    generated.as_deref(),
                    &keys,
                    &ctl_tx,
                    &mut bound_on,
                )
                .await;
            }
        }
    }

    let registry = engine.registry.clone();
    engine
        .shared
        .ready
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let (reason, restart_expected_ms) = match &restart_for {
        Some(r) => {
            log::warn!("restarting the gateway process ({r})");
            (
                format!("gateway restarting: {r}"),
                Some(surface::RESTART_EXPECTED_MS),
            )
        }
        None => {
            log::info!("shutting down");
            ("gateway stopping".to_owned(), None)
        }
    };
    let _ = registry
        .send(ShutdownGateway {
            reason,
            restart_expected_ms,
        })
        .await;
    let _ = actix_web::rt::time::timeout(
        Duration::from_secs(2),
        registry.send(openclaw_actors::registry::runs::FlushState),
    )
    .await;
    // The audit records of the runs just stopped (bounded: a hung disk does not hold the
    // exit).
    let audit = engine.shared.audit.clone();
    let _ = actix_web::rt::time::timeout(
        Duration::from_secs(2),
        actix_web::rt::task::spawn_blocking(move || audit.flush(Duration::from_secs(2))),
    )
    .await;
    // Wait (bounded) for the sessions to flush the shutdown event and close frames,
    // then stop the server without the graceful drain: every socket is closed already.
    wait_sessions_closed(&engine, Duration::from_millis(500)).await;
    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    // Every socket is closed: stop accepting and exit now.
    if let Some(t) = tailscale {
        t.release().await;
    }
    drop(surface.handle.stop());
    if let Some(RuntimeToken::File(path)) = &token_shown {
        let _ = std::fs::remove_file(path);
    }
    owner_lock.release();
    if let Some(r) = restart_for {
        if let Err(e) = restart::write_handoff(
            &loaded.state_dir,
            generated.as_deref(),
            Some(surface.port),
            restart_gate.origin(),
        ) {
            log::error!(
                "cannot write {}: {e}; the restarted gateway generates a new token",
                restart::handoff_path(&loaded.state_dir).display()
            );
        }
        drop(state_lock);
        log::info!("stopped; starting again ({r})");
        log::logger().flush();
        let e = restart::exec_self();
        log::error!(
            "cannot start the gateway again: {e}. Exiting with status 1 so a supervisor (Docker's restart policy, systemd) starts it"
        );
        std::process::exit(1);
    }
    drop(state_lock);
    log::info!("stopped");
    std::process::exit(0);
}

/// `<state>/gateway/runtime-token`: where a generated token goes when stdout is not a
/// terminal.
pub fn runtime_token_path(state_dir: &std::path::Path) -> std::path::PathBuf {
    state_dir.join("gateway").join("runtime-token")
}

/// Where a generated runtime token was shown.
enum RuntimeToken {
    /// Printed to the interactive terminal on stdout.
    Terminal,
    /// Written (mode 0600) to this file.
    File(std::path::PathBuf),
}

/// Prints the generated token only when stdout is a terminal; otherwise writes it to `file`
/// (atomically, mode 0600, in a 0700 directory).
fn show_runtime_token(token: &str, file: &std::path::Path) -> Result<RuntimeToken, StartError> {
    use std::io::IsTerminal as _;
    if std::io::stdout().is_terminal() {
        let _ = std::fs::remove_file(file);
        return Ok(RuntimeToken::Terminal);
    }
    openclaw_actors::store::write_atomic(file, format!("{token}\n").as_bytes()).map_err(|e| {
        StartError {
            code: 1,
            message: format!(
                "cannot write the generated runtime token to {}: {e}. Fix: set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN, or make the state dir writable",
                file.display()
            ),
        }
    })?;
    Ok(RuntimeToken::File(file.to_path_buf()))
}

/// Creates the state dir (mode 0700) and takes `gateway.lock` so one gateway owns it.
/// The returned file holds the lock until the process exits.
fn lock_state_dir(dir: &std::path::Path) -> Result<std::fs::File, StartError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StartError {
            code: 1,
            message: format!(
                "cannot create state dir {}: {e}. Fix: set OPENCLAW_STATE_DIR to a writable directory",
                dir.display()
            ),
        })?;
    let path = dir.join("gateway.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StartError {
            code: 1,
            message: format!("cannot open {}: {e}", path.display()),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError {
            code: 1,
            message: format!(
                "another gateway is already running with state dir {} (it holds {}). Fix: stop it, or give this one its own OPENCLAW_STATE_DIR and port",
                dir.display(),
                path.display()
            ),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StartError {
            code: 1,
            message: format!("cannot lock {}: {e}", path.display()),
        }),
    }
}

/// SIGTERM, SIGINT, SIGUSR2 and SIGUSR1, registered up front.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    usr1: Option<tokio::signal::unix::Signal>,
    usr2: Option<tokio::signal::unix::Signal>,
}

/// What a signal asks for.
enum Sig {
    /// SIGTERM, SIGINT: stop.
    Stop,
    /// SIGUSR2 (OpenClaw's restart signal) or SIGUSR1 (what its CLI sends an unmanaged
    /// gateway): restart the process.
    Restart(&'static str),
}

impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
            usr1: signal(SignalKind::user_defined1()).ok(),
            usr2: signal(SignalKind::user_defined2()).ok(),
        }
    }

    async fn next(&mut self) -> Sig {
        async fn one(s: Option<&mut tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = one(self.term.as_mut()) => Sig::Stop,
            _ = one(self.int.as_mut()) => Sig::Stop,
            _ = one(self.usr2.as_mut()) => Sig::Restart("SIGUSR2"),
            _ = one(self.usr1.as_mut()) => Sig::Restart("SIGUSR1"),
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether scheduled jobs run on their schedule: `cron.enabled` (default `true`), unless
/// `OPENCLAW_SKIP_CRON` is set (and not `0`).
pub fn cron_enabled(config: &crate::config::Config) -> bool {
    config.cron.as_ref().and_then(|c| c.enabled).unwrap_or(true)
        && std::env::var_os("OPENCLAW_SKIP_CRON").is_none_or(|v| v.is_empty() || v == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_plans() {
        let p = plan_bind(BindMode::Loopback, None).expect("plan");
        assert!(p.non_loopback().is_none());
        let p = plan_bind(BindMode::Lan, None).expect("plan");
        assert_eq!(p.non_loopback(), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        let p = plan_bind(BindMode::Custom, Some("192.0.2.7")).expect("plan");
        assert_eq!(p.addrs.len(), 2);
        assert!(plan_bind(BindMode::Custom, None).is_err());
        assert!(plan_bind(BindMode::Custom, Some("nope")).is_err());
    }
}
