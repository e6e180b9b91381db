//! `openclaw gateway run`: resolve bind addresses and auth, refuse unsafe combinations,
//! bind, start the engine and the HTTP server, and shut down cleanly on SIGTERM/SIGINT.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::Duration;

use openclaw_actors::auth::{AuthMode, AuthSettings, RateLimitSettings};
use openclaw_actors::registry::ShutdownGateway;
use std::rc::Rc;

use openclaw_actors::channel::telegram::TelegramAccountConfig;
use openclaw_actors::channel::telegram::api::TelegramApi;
use openclaw_actors::{Engine, EngineConfig, EngineDeps};

use crate::config::{AuthModeCfg, BindMode, Loaded};
use crate::http;

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
    /// `gateway.controlUi.allowedOrigins`, normalized.
    pub allowed_origins: Vec<String>,
    /// `gateway.nodes.pairing.autoApproveLocal`.
    pub auto_approve_local: bool,
    /// `agents.defaults.tools.nodes`.
    pub agent_tools: openclaw_actors::tool_policy::AgentToolPolicy,
    /// Model and channel accounts.
    pub deps: EngineDeps,
    /// Number of channel accounts.
    pub channel_accounts: usize,
    /// What the agent runs on (for the start-up line).
    pub model_label: String,
    /// `logging`.
    pub logging: crate::logging::Settings,
    /// The Control UI (`gateway.controlUi`).
    pub ui: crate::http::ui::Ui,
    /// Connection caps (`gateway.limits`).
    pub conn_limits: crate::http::ceiling::ConnLimits,
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
    let logging = loaded
        .config
        .logging
        .resolve(&loaded.state_dir)
        .map_err(StartError::config)?;
    let (deps, channel_accounts, model_label) = build_deps(loaded)?;
    Ok(Prepared {
        plan,
        auth,
        generated,
        trusted_proxies,
        allowed_origins,
        auto_approve_local: gw.nodes.pairing.auto_approve_local.unwrap_or(true),
        agent_tools,
        deps,
        channel_accounts,
        model_label,
        logging,
        ui,
        conn_limits,
    })
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
        allowed_origins: p.allowed_origins.clone(),
        auto_approve_local: p.auto_approve_local,
        agent_tools: p.agent_tools.clone(),
        port,
        bind_addrs: bound.iter().map(ToString::to_string).collect(),
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
    add(&std::env::var("TELEGRAM_BOT_TOKEN").ok());
    for p in c.models.providers.values() {
        add(&p.api_key);
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
        match TcpListener::bind(addr) {
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

/// What the gateway loop is told to do.
pub enum Control {
    /// SIGTERM/SIGINT: stop.
    Stop,
    /// The config watcher validated a config whose listener keys (port, bind, TLS) changed:
    /// restart the HTTP surface in-process with it (the engine and its state stay).
    Restart {
        /// The new config.
        loaded: Box<Loaded>,
        /// The changed keys (for the `shutdown` event and the log).
        keys: Vec<String>,
    },
    /// The HTTP server of generation `.0` failed.
    ServerFailed(u64, String),
}

/// The HTTP surface currently serving.
struct Surface {
    handle: actix_web::dev::ServerHandle,
    generation: u64,
    plan: BindPlan,
    port: u16,
    tls: Option<rustls::ServerConfig>,
}

/// Starts the HTTP server on `listeners` and prints the `listening on` lines.
fn serve_and_announce(
    engine: &Engine,
    listeners: Vec<TcpListener>,
    bound: &[SocketAddr],
    tls: Option<rustls::ServerConfig>,
    ui: crate::http::ui::Ui,
    limits: crate::http::ceiling::ConnLimits,
    generation: u64,
    ctl: &tokio::sync::mpsc::UnboundedSender<Control>,
) -> Result<actix_web::dev::ServerHandle, StartError> {
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let server =
        http::serve(listeners, engine.clone(), tls, ui, limits).map_err(|e| StartError {
            code: 1,
            message: format!("cannot start the HTTP server: {e}"),
        })?;
    let handle = server.handle();
    let tx = ctl.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = server.await {
            let _ = tx.send(Control::ServerFailed(generation, e.to_string()));
        }
    });
    let mut out = std::io::stdout().lock();
    for a in bound {
        let _ = writeln!(out, "listening on {scheme}://{a}");
    }
    let _ = out.flush();
    Ok(handle)
}

/// Runs the gateway until SIGTERM/SIGINT. Returns the exit code.
pub async fn run(loaded: Loaded) -> Result<(), StartError> {
    let gw = &loaded.config.gateway;
    let mut prepared = prepare(&loaded)?;
    for w in &prepared.plan.warnings {
        eprintln!("warning: {w}");
    }
    crate::logging::configure(&prepared.logging).map_err(StartError::config)?;
    crate::logging::set_secrets(secrets_of(&loaded, prepared.generated.as_deref()));

    let _state_lock = lock_state_dir(&loaded.state_dir)?;

    let (listeners, bound, port) = bind_all(&prepared.plan, gw.port)?;

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
        trusted_proxies: prepared.trusted_proxies.clone(),
        allowed_origins: prepared.allowed_origins.clone(),
        auto_approve_local: prepared.auto_approve_local,
        channel_accounts,
        agent_tools: prepared.agent_tools.clone(),
    };
    let tls = load_tls(&loaded)?;
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
    let _ = engine
        .shared
        .ops
        .set(std::sync::Arc::new(crate::config::rpc::ConfigOps::new(
            &loaded,
        )));
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
    let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel::<Control>();
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
    let handle = serve_and_announce(
        &engine,
        listeners,
        &bound,
        tls_config.clone(),
        prepared.ui.clone(),
        prepared.conn_limits,
        0,
        &ctl_tx,
    )?;
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
            "agent: {}{}",
            prepared.model_label,
            if channel_accounts > 0 {
                format!("; telegram: {channel_accounts} account(s)")
            } else {
                String::new()
            }
        );
        let _ = out.flush();
    }

    {
        let tx = ctl_tx.clone();
        actix_web::rt::spawn(async move {
            signals.wait().await;
            let _ = tx.send(Control::Stop);
        });
    }
    crate::reload::spawn_watcher(
        loaded.clone(),
        engine.clone(),
        ctl_tx.clone(),
        generated.clone(),
    );

    loop {
        match ctl_rx.recv().await {
            None | Some(Control::Stop) => break,
            Some(Control::ServerFailed(generation, e)) if generation == surface.generation => {
                return Err(StartError {
                    code: 1,
                    message: format!("server error: {e}"),
                });
            }
            Some(Control::ServerFailed(..)) => {}
            Some(Control::Restart { loaded: new, keys }) => {
                restart(
                    &engine,
                    &mut surface,
                    &new,
                    generated.as_deref(),
                    &keys,
                    &ctl_tx,
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
    log::info!("shutting down");
    let _ = registry
        .send(ShutdownGateway {
            reason: "gateway stopping".into(),
        })
        .await;
    let _ = actix_web::rt::time::timeout(
        Duration::from_secs(2),
        registry.send(openclaw_actors::registry::runs::FlushState),
    )
    .await;
    // Wait (bounded) for the sessions to flush the shutdown event and close frames,
    // then stop the server without the graceful drain: every socket is closed already.
    wait_sessions_closed(&engine, Duration::from_millis(500)).await;
    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    // Every socket is closed: stop accepting and exit now. (Awaiting the server's own
    // stop joins its worker threads, which adds about a second.)
    if let Some(t) = tailscale {
        t.release().await;
    }
    drop(surface.handle.stop(false));
    if let Some(RuntimeToken::File(path)) = &token_shown {
        let _ = std::fs::remove_file(path);
    }
    log::info!("stopped");
    std::process::exit(0);
}

/// Waits (bounded) until the registry counts no open socket.
async fn wait_sessions_closed(engine: &Engine, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        match engine
            .registry
            .send(openclaw_actors::registry::GetStats)
            .await
        {
            Ok(s) if s.connections > 0 => {
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            _ => break,
        }
    }
}

/// How long clients are told to wait before reconnecting after an in-process restart.
pub const RESTART_EXPECTED_MS: u64 = 1500;

/// The in-process restart for listener keys (`gateway.port`, `gateway.bind`,
/// `gateway.customBindHost`, `gateway.tls.*`): tell every client (`shutdown` with the
/// reason and `restartExpectedMs`, then close 1012), stop the HTTP server, bind the new
/// addresses and serve again with the same engine — pairing, nodes' state, sessions, runs
/// and channels stay in memory, the process id does not change. When the new addresses
/// cannot be bound, the previous ones are bound again and the error is logged.
async fn restart(
    engine: &Engine,
    surface: &mut Surface,
    new: &Loaded,
    generated: Option<&str>,
    keys: &[String],
    ctl: &tokio::sync::mpsc::UnboundedSender<Control>,
) {
    let file = new
        .path
        .as_ref()
        .map_or_else(|| "config".to_owned(), |p| p.display().to_string());
    let prepared = match prepare(new) {
        Ok(p) => p,
        Err(e) => {
            log::error!(
                "config reload skipped (invalid config) in {file}: {}",
                e.message
            );
            return;
        }
    };
    let tls = match load_tls(new) {
        Ok(t) => t.map(|t| t.config),
        Err(e) => {
            log::error!(
                "config reload skipped (invalid config) in {file}: {}",
                e.message
            );
            return;
        }
    };
    let reason = format!(
        "config change: {} (gateway restarting in-process)",
        keys.join(", ")
    );
    log::warn!("{reason}");
    engine
        .shared
        .ready
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = engine
        .registry
        .send(openclaw_actors::registry::reload::RestartNotice {
            reason: reason.clone(),
            restart_expected_ms: RESTART_EXPECTED_MS,
        })
        .await;
    wait_sessions_closed(engine, Duration::from_millis(500)).await;
    surface.handle.stop(false).await;
    let want_port = new.config.gateway.port;
    let (listeners, bound, port, plan, tls) = match bind_all(&prepared.plan, want_port) {
        Ok((l, b, p)) => (l, b, p, prepared.plan.clone(), tls),
        Err(e) => {
            log::error!(
                "config reload: {}; serving on the previous addresses again",
                e.message
            );
            match bind_all(&surface.plan, surface.port) {
                Ok((l, b, p)) => (l, b, p, surface.plan.clone(), surface.tls.clone()),
                Err(e) => {
                    log::error!("cannot bind the previous addresses again: {}", e.message);
                    let _ = ctl.send(Control::ServerFailed(surface.generation, e.message));
                    return;
                }
            }
        }
    };
    let generation = surface.generation + 1;
    engine
        .shared
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    match serve_and_announce(
        engine,
        listeners,
        &bound,
        tls.clone(),
        prepared.ui.clone(),
        prepared.conn_limits,
        generation,
        ctl,
    ) {
        Ok(handle) => {
            *surface = Surface {
                handle,
                generation,
                plan,
                port,
                tls,
            };
        }
        Err(e) => {
            let _ = ctl.send(Control::ServerFailed(surface.generation, e.message));
            return;
        }
    }
    let mut hot = hot_config(&prepared, port, &bound);
    if let (Some(g), Some(_)) = (generated, &prepared.generated) {
        hot.auth.secret = Some(g.to_owned());
    }
    let _ = engine
        .registry
        .send(openclaw_actors::registry::reload::ApplyHotConfig {
            hot,
            model: None,
            channels: Vec::new(),
        })
        .await;
    log::warn!("gateway restarted in-process on port {port}");
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

fn id_list(values: Option<&Vec<serde_json::Value>>) -> Vec<String> {
    values
        .map(|v| {
            v.iter()
                .filter_map(|x| match x {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A configured bot account and its API client.
type TelegramAccount = (TelegramAccountConfig, Rc<dyn TelegramApi>);

fn telegram_account(
    account_id: &str,
    t: &crate::config::TelegramCfg,
    base: Option<&crate::config::TelegramCfg>,
    env_token: Option<String>,
) -> Result<Option<TelegramAccount>, StartError> {
    use openclaw_actors::channel::telegram::{DmPolicy, GroupPolicy};
    let pick = |f: &dyn Fn(&crate::config::TelegramCfg) -> Option<String>| {
        f(t).or_else(|| base.and_then(f))
    };
    let prefix = if base.is_some() {
        format!("channels.telegram.accounts.{account_id}")
    } else {
        "channels.telegram".to_owned()
    };
    let token = match (&t.bot_token, &t.token_file) {
        (Some(tok), _) if !tok.trim().is_empty() => Some(tok.trim().to_owned()),
        (_, Some(file)) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| {
                    StartError::config(format!(
                        "{prefix}.tokenFile {file}: {e}. Fix: point it at a file holding the bot token"
                    ))
                })?
                .trim()
                .to_owned(),
        ),
        _ => env_token,
    };
    let enabled = t.enabled.unwrap_or(token.is_some());
    if !enabled {
        return Ok(None);
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(StartError::config(format!(
            "{prefix} is enabled but has no bot token. Fix: set {prefix}.botToken (or tokenFile, or TELEGRAM_BOT_TOKEN)"
        )));
    };
    let parse =
        |what: &str, v: Option<String>, allowed: &[&str]| -> Result<Option<String>, StartError> {
            match v {
                Some(x) if !allowed.contains(&x.as_str()) => Err(StartError::config(format!(
                    "{prefix}.{what} {x:?} is not one of {}",
                    allowed.join(", ")
                ))),
                other => Ok(other),
            }
        };
    let dm = parse(
        "dmPolicy",
        pick(&|c| c.dm_policy.clone()),
        &["pairing", "allowlist", "open", "disabled"],
    )?;
    let group = parse(
        "groupPolicy",
        pick(&|c| c.group_policy.clone()),
        &["allowlist", "open", "disabled"],
    )?;
    let dm_policy = match dm.as_deref() {
        Some("allowlist") => DmPolicy::Allowlist,
        Some("open") => DmPolicy::Open,
        Some("disabled") => DmPolicy::Disabled,
        _ => DmPolicy::Pairing,
    };
    let group_policy = match group.as_deref() {
        Some("open") => GroupPolicy::Open,
        Some("disabled") => GroupPolicy::Disabled,
        _ => GroupPolicy::Allowlist,
    };
    let allow_from = {
        let own = id_list(t.allow_from.as_ref());
        if own.is_empty() {
            id_list(base.and_then(|b| b.allow_from.as_ref()))
        } else {
            own
        }
    };
    let group_allow_from = {
        let own = id_list(t.group_allow_from.as_ref());
        if own.is_empty() {
            id_list(base.and_then(|b| b.group_allow_from.as_ref()))
        } else {
            own
        }
    };
    if dm_policy == DmPolicy::Open && !allow_from.iter().any(|a| a == "*") {
        return Err(StartError::config(format!(
            "{prefix}.dmPolicy is \"open\" but allowFrom does not contain \"*\". Fix: add \"*\" to {prefix}.allowFrom to confirm anyone may talk to the bot"
        )));
    }
    if dm_policy == DmPolicy::Allowlist && allow_from.is_empty() {
        return Err(StartError::config(format!(
            "{prefix}.dmPolicy is \"allowlist\" but allowFrom is empty. Fix: list the numeric Telegram user ids allowed to talk to the bot"
        )));
    }
    // Webhook settings are per account: inheriting them would register one bot's URL and
    // secret for another.
    let webhook = match (t.webhook_url.clone(), t.webhook_secret.clone()) {
        (Some(url), Some(secret)) if !secret.is_empty() => Some((url, secret)),
        (Some(_), _) => {
            return Err(StartError::config(format!(
                "{prefix}.webhookUrl is set without webhookSecret. Fix: set a random {prefix}.webhookSecret (checked on every webhook request)"
            )));
        }
        _ => None,
    };
    let api_root =
        pick(&|c| c.api_root.clone()).unwrap_or_else(|| "https://api.telegram.org".into());
    let cfg = TelegramAccountConfig {
        account_id: account_id.to_owned(),
        dm_policy,
        allow_from,
        group_policy,
        group_allow_from,
        poll_timeout_s: t
            .poll_timeout_seconds
            .or_else(|| base.and_then(|b| b.poll_timeout_seconds))
            .unwrap_or(30)
            .clamp(1, 50),
        webhook,
    };
    let api: Rc<dyn TelegramApi> =
        Rc::new(crate::clients::telegram::BotApi::new(&api_root, &token));
    Ok(Some((cfg, api)))
}

/// Builds the engine's outside links (model provider, Telegram accounts) from config.
fn build_deps(loaded: &Loaded) -> Result<(EngineDeps, usize, String), StartError> {
    let cfg = &loaded.config;
    let mut deps = EngineDeps::default();
    let mut telegram = Vec::new();
    if let Some(t) = &cfg.channels.telegram {
        let env_token = std::env::var("TELEGRAM_BOT_TOKEN")
            .ok()
            .filter(|v| !v.is_empty());
        let has_default =
            t.bot_token.is_some() || t.token_file.is_some() || t.enabled == Some(true);
        if (has_default || t.accounts.as_ref().is_none_or(|a| a.is_empty()))
            && let Some(acc) = telegram_account("default", t, None, env_token)?
        {
            telegram.push(acc);
        }
        for (id, a) in t.accounts.iter().flatten() {
            if let Some(acc) = telegram_account(id, a, Some(t), None)? {
                telegram.push(acc);
            }
        }
    }
    let (model, label) = build_model(cfg)?;
    deps.model = model;
    let n = telegram.len();
    if n > 0 {
        deps.channels.push(Box::new(
            openclaw_actors::channel::telegram::TelegramAccounts::new(telegram),
        ));
    }
    Ok((deps, n, label))
}

/// The model provider of `agents.defaults.model.primary` (or the first configured model),
/// `None` for the embedded command agent; with the start-up line's label.
pub fn build_model(
    cfg: &crate::config::Config,
) -> Result<(Option<Rc<dyn openclaw_actors::ports::ChatModel>>, String), StartError> {
    let mut model: Option<Rc<dyn openclaw_actors::ports::ChatModel>> = None;
    let providers = &cfg.models.providers;
    let primary = cfg.agents.defaults.model.primary.clone().or_else(|| {
        providers
            .iter()
            .find_map(|(id, p)| p.models.first().map(|m| format!("{id}/{}", m.id)))
    });
    let label = match primary {
        None => "embedded command agent (no model provider configured)".to_owned(),
        Some(primary) => {
            let (provider_id, model_id) = primary.split_once('/').ok_or_else(|| {
                StartError::config(format!(
                    "agents.defaults.model.primary {primary:?} must be \"<provider>/<model>\""
                ))
            })?;
            let p = providers.get(provider_id).ok_or_else(|| {
                StartError::config(format!(
                    "agents.defaults.model.primary names provider {provider_id:?}, but models.providers.{provider_id} is not configured"
                ))
            })?;
            if let Some(api) = p.api.as_deref().filter(|a| *a != "openai-completions") {
                return Err(StartError::config(format!(
                    "models.providers.{provider_id}.api {api:?} is not supported. Fix: use \"openai-completions\" (any OpenAI-compatible chat completions endpoint)"
                )));
            }
            let base_url = p.base_url.clone().ok_or_else(|| {
                StartError::config(format!(
                    "models.providers.{provider_id}.baseUrl is not set. Fix: e.g. \"https://api.openai.com/v1\""
                ))
            })?;
            model = Some(Rc::new(crate::clients::openai::OpenAiModel::new(
                provider_id,
                &base_url,
                p.api_key.clone(),
                model_id,
                p.timeout_ms.map(Duration::from_millis),
            )));
            format!("model {provider_id}/{model_id}")
        }
    };
    Ok((model, label))
}

/// SIGTERM and SIGINT, registered up front.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    async fn wait(mut self) {
        let term = async {
            match self.term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let int = async {
            match self.int.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => {}
            _ = int => {}
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
