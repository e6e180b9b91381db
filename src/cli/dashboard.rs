//! `openclaw dashboard [--open] [--json]`: the Control UI's URL for the configured gateway.
//!
//! The URL never carries the token or password (a secret in a URL ends up in the shell
//! history, the browser history and proxy logs); the page asks for it. A local gateway is
//! reached on loopback (`http://127.0.0.1:<port><basePath>/`, `https` with `gateway.tls`);
//! with `gateway.mode: "remote"` the URL is derived from `gateway.remote.url`. `--open` hands
//! the URL to `$BROWSER` if set, else `xdg-open` (Linux) / `open` (macOS).

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::Failure;
use crate::config::{BindMode, FlagOverrides, GatewayMode, Loaded};

/// `openclaw dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Open the page in a browser ($BROWSER, else xdg-open / open).
    #[arg(long)]
    pub open: bool,
    /// Print `{ok, httpUrl, wsUrl, port, tokenIncluded}` instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The page's URL (and the WebSocket URL) for a loaded config.
pub fn urls(loaded: &Loaded) -> Result<(String, String, u16), String> {
    let gw = &loaded.config.gateway;
    let ui = crate::http::ui::Ui::from_config(&gw.control_ui)?;
    if !ui.enabled {
        return Err("the Control UI is off (gateway.controlUi.enabled: false). Fix: set gateway.controlUi.enabled to true and restart the gateway".to_owned());
    }
    let page = ui.page_path();
    if gw.mode == Some(GatewayMode::Remote) {
        let remote = gw.remote.url.as_deref().ok_or(
            "gateway.mode is \"remote\" but gateway.remote.url is not set. Fix: set gateway.remote.url (e.g. \"wss://gateway.example:18789\")",
        )?;
        let (scheme, rest) = remote
            .split_once("://")
            .ok_or_else(|| format!("gateway.remote.url {remote:?} is not a ws:// or wss:// URL"))?;
        let http = match scheme.to_ascii_lowercase().as_str() {
            "ws" => "http",
            "wss" => "https",
            _ => {
                return Err(format!(
                    "gateway.remote.url {remote:?} is not a ws:// or wss:// URL"
                ));
            }
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.is_empty() || authority.contains('@') {
            return Err(format!(
                "gateway.remote.url {remote:?} has no usable host. Fix: use wss://host[:port]"
            ));
        }
        let port = authority
            .rsplit_once(':')
            .and_then(|(_, p)| p.trim_end_matches(']').parse().ok())
            .unwrap_or(if http == "https" { 443 } else { 80 });
        return Ok((
            format!("{http}://{authority}{page}"),
            format!("{scheme}://{authority}{page}"),
            port,
        ));
    }
    let tls = gw.tls.enabled == Some(true);
    let host = match (gw.bind, gw.custom_bind_host.as_deref()) {
        (BindMode::Custom, Some(h)) => match h.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() || ip.is_loopback() => "127.0.0.1".to_owned(),
            Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
            Ok(ip) => ip.to_string(),
            Err(_) => h.to_owned(),
        },
        _ => "127.0.0.1".to_owned(),
    };
    let (http, ws) = if tls {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    Ok((
        format!("{http}://{host}:{}{page}", gw.port),
        format!("{ws}://{host}:{}{page}", gw.port),
        gw.port,
    ))
}

fn listening(http_url: &str, port: u16) -> Option<bool> {
    let host = http_url.split_once("://")?.1.split(['/', ':']).next()?;
    let ip: IpAddr = host.parse().ok()?;
    Some(TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_millis(500)).is_ok())
}

fn open_browser(url: &str) -> Result<String, String> {
    let program = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".to_owned()
            } else {
                "xdg-open".to_owned()
            }
        });
    let status = std::process::Command::new(&program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {program:?}: {e}"))?;
    if status.success() {
        Ok(program)
    } else {
        Err(format!("{program:?} exited with {status}"))
    }
}

/// Runs `openclaw dashboard`.
pub async fn run(config: Option<PathBuf>, args: DashboardArgs) -> Result<(), Failure> {
    let loaded = super::load(config, &FlagOverrides::default())?;
    let (http_url, ws_url, port) = urls(&loaded).map_err(|message| Failure {
        code: 1,
        json: Some(json!({"ok": false, "reason": message})),
        message,
    })?;
    let up = listening(&http_url, port);
    if args.json {
        let out = json!({
            "ok": true,
            "url": http_url,
            "httpUrl": http_url,
            "wsUrl": ws_url,
            "port": port,
            "tokenIncluded": false,
            "listening": up,
        });
        println!("{out}");
        return Ok(());
    }
    println!("{http_url}");
    if up == Some(false) {
        eprintln!(
            "warning: nothing is listening on port {port} yet. Start the gateway with `openclaw gateway`."
        );
    }
    let auth_hint = match loaded.config.gateway.auth.mode {
        Some(crate::config::AuthModeCfg::None) => None,
        Some(crate::config::AuthModeCfg::Password) => Some("sign in with gateway.auth.password"),
        _ if loaded.config.gateway.auth.password.is_some()
            && loaded.config.gateway.auth.token.is_none() =>
        {
            Some("sign in with gateway.auth.password")
        }
        _ => Some("sign in with gateway.auth.token (or OPENCLAW_GATEWAY_TOKEN)"),
    };
    if let Some(h) = auth_hint {
        eprintln!("The page asks for the secret: {h}. The URL never contains it.");
    }
    if args.open {
        match open_browser(&http_url) {
            Ok(program) => eprintln!("opened with {program}"),
            Err(e) => {
                return Err(Failure {
                    code: 1,
                    message: format!(
                        "cannot open a browser ({e}). Fix: open {http_url} yourself, or set BROWSER to your browser's command"
                    ),
                    json: None,
                });
            }
        }
    }
    Ok(())
}
