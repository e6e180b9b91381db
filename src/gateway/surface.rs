//! The HTTP surface of a running gateway and its in-process restart (a config reload that
//! changes a listener key): [`Control`] messages, [`serve_and_announce`], [`restart`].

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use openclaw_actors::Engine;

use super::{BindPlan, StartError, bind_all, hot_config, load_tls, prepare};
use crate::config::Loaded;
use crate::http;

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
    /// `gateway.restart.request` or SIGUSR1: wait (bounded) until no work is active, then
    /// restart the process (see `restart.rs`).
    ScheduleRestart {
        /// Why (logged, and in the `shutdown` event).
        reason: String,
        /// How long active work may hold it back.
        wait: Duration,
        /// Fired once the caller's answer is queued.
        written: Option<tokio::sync::oneshot::Receiver<()>>,
    },
    /// The wait is over: stop and start the process again.
    Exec(String),
}

/// The HTTP surface currently serving.
pub(super) struct Surface {
    pub(super) handle: crate::http::server::ServerHandle,
    pub(super) generation: u64,
    pub(super) plan: BindPlan,
    pub(super) port: u16,
    pub(super) tls: Option<rustls::ServerConfig>,
}

/// What an HTTP surface generation serves besides the engine.
#[derive(Clone)]
pub(super) struct HttpSpec {
    /// TLS, when `gateway.tls.enabled`.
    pub(super) tls: Option<rustls::ServerConfig>,
    /// The Control UI.
    pub(super) ui: crate::http::ui::Ui,
    /// The OpenAI-compatible endpoints.
    pub(super) openai: crate::http::openai::Settings,
    /// `gateway.limits`.
    pub(super) limits: crate::http::ceiling::ConnLimits,
}

/// Starts the HTTP server on `listeners` and prints the `listening on` lines.
pub(super) fn serve_and_announce(
    engine: &Engine,
    listeners: Vec<TcpListener>,
    bound: &[SocketAddr],
    spec: HttpSpec,
    generation: u64,
    ctl: &tokio::sync::mpsc::UnboundedSender<Control>,
) -> Result<crate::http::server::ServerHandle, StartError> {
    let scheme = if spec.tls.is_some() { "wss" } else { "ws" };
    let server = http::serve(
        listeners,
        engine.clone(),
        spec.tls,
        spec.ui,
        spec.openai,
        spec.limits,
    )
    .map_err(|e| StartError {
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

/// Waits (bounded) until the registry counts no open socket.
pub(super) async fn wait_sessions_closed(engine: &Engine, limit: Duration) {
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
pub(super) async fn restart(
    engine: &Engine,
    surface: &mut Surface,
    new: &Loaded,
    generated: Option<&str>,
    keys: &[String],
    ctl: &tokio::sync::mpsc::UnboundedSender<Control>,
    bound_on: &mut dyn FnMut(u16),
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
    surface.handle.stop().await;
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
    // Where the gateway is (its lock file, what restarts aim at) says the new port before
    // anything answers there: a client that reached it finds the lock agreeing.
    bound_on(port);
    let generation = surface.generation + 1;
    engine
        .shared
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let spec = HttpSpec {
        tls: tls.clone(),
        ui: prepared.ui.clone(),
        openai: prepared.openai,
        limits: prepared.conn_limits,
    };
    match serve_and_announce(engine, listeners, &bound, spec, generation, ctl) {
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
            hearing: None,
            speech: None,
            channels: Vec::new(),
        })
        .await;
    log::warn!("gateway restarted in-process on port {port}");
}
