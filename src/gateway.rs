//! `openclaw gateway run`: resolve bind addresses and auth, refuse unsafe combinations,
//! bind, start the engine and the HTTP server, and shut down cleanly on SIGTERM/SIGINT.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::Duration;

use openclaw_actors::auth::{AuthMode, AuthSettings, RateLimitSettings};
use openclaw_actors::registry::ShutdownGateway;
use openclaw_actors::{Engine, EngineConfig};

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
                let t = random_token();
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

fn random_token() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")
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

/// Runs the gateway until SIGTERM/SIGINT. Returns the exit code.
pub async fn run(loaded: Loaded) -> Result<(), StartError> {
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
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let (auth, generated) = resolve_auth(&loaded)?;
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
        match p.trim().parse::<IpAddr>() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => {
                return Err(StartError::config(format!(
                    "gateway.trustedProxies entry {p:?} is not an IP address. Fix: list proxy addresses such as \"127.0.0.1\""
                )));
            }
        }
    }

    let _state_lock = lock_state_dir(&loaded.state_dir)?;

    // Bind every address on one port; with --port 0 the first bind picks it.
    let mut port = gw.port;
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

    let state_dir = loaded.state_dir.clone();
    let config = EngineConfig {
        auth,
        tick_interval: env_ms(
            "OPENCLAW_TICK_INTERVAL_MS",
            openclaw_actors::protocol::TICK_INTERVAL_MS,
        ),
        handshake_timeout: env_ms(
            "OPENCLAW_HANDSHAKE_TIMEOUT_MS",
            openclaw_actors::protocol::HANDSHAKE_TIMEOUT_MS,
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
        trusted_proxies,
        auto_approve_local: gw.nodes.pairing.auto_approve_local.unwrap_or(true),
    };
    let engine = Engine::start(config).map_err(|message| StartError {
        code: EXIT_CONFIG,
        message,
    })?;
    let server = http::serve(listeners, engine.clone()).map_err(|e| StartError {
        code: 1,
        message: format!("cannot start the HTTP server: {e}"),
    })?;
    let handle = server.handle();

    // Install the signal handlers before announcing that we listen, so a supervisor that
    // signals right after the line still gets a clean shutdown.
    let signals = Signals::install();
    let mut out = std::io::stdout().lock();
    for a in &bound {
        let _ = writeln!(out, "listening on ws://{a}");
    }
    if let Some(t) = &generated {
        let _ = writeln!(
            out,
            "auth: token mode with no token configured; generated a runtime-only token (not saved, gone when the gateway stops):\n  {t}\n  use it with: openclaw gateway call health --url ws://127.0.0.1:{port} --token {t}\n  set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN to keep a stable token"
        );
    }
    let _ = out.flush();
    drop(out);

    let registry = engine.registry.clone();
    actix_web::rt::spawn(async move {
        signals.wait().await;
        log::info!("shutting down");
        let _ = registry
            .send(ShutdownGateway {
                reason: "gateway stopping".into(),
            })
            .await;
        // Wait (bounded) for the sessions to flush the shutdown event and close frames,
        // then stop the server without the graceful drain: every socket is closed already.
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        while std::time::Instant::now() < deadline {
            match registry.send(openclaw_actors::registry::GetStats).await {
                Ok(s) if s.connections > 0 => {
                    actix_web::rt::time::sleep(Duration::from_millis(10)).await;
                }
                _ => break,
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        // Every socket is closed: stop accepting and exit now. (Awaiting the server's own
        // stop joins its worker threads, which adds about a second.)
        drop(handle.stop(false));
        log::info!("stopped");
        std::process::exit(0);
    });
    server.await.map_err(|e| StartError {
        code: 1,
        message: format!("server error: {e}"),
    })
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
