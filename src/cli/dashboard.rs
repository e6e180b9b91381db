//! `openclaw dashboard [--open] [--json] [--no-handoff]`: the Control UI's URL for the
//! configured gateway, and a one-time sign-in link for one browser.
//!
//! The URL never carries the token or password (a secret in a URL ends up in the shell
//! history, the browser history and proxy logs). When the gateway answers and this CLI holds
//! its secret, the gateway issues OpenClaw's host-issued browser handoff (`controlUi.handoff`,
//! `operator.admin`): `<url>#bootstrapToken=…&bootstrapProfile=owner`, single use, 10
//! minutes, bound to the first browser that opens it, which it pairs as an owner device; the
//! page takes it out of the address bar at once. A local gateway is reached on loopback
//! (`http://127.0.0.1:<port><basePath>/`, `https` with `gateway.tls`); with `gateway.mode:
//! "remote"` the URL is derived from `gateway.remote.url`. `--open` hands the link (else the
//! URL) to `$BROWSER` if set, else `xdg-open` (Linux) / `open` (macOS).

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
    /// Print `{ok, httpUrl, wsUrl, port, tokenIncluded, browserUrl?,
    /// browserBootstrapExpiresAtMs?}` instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not ask the gateway for a one-time sign-in link (the page then asks for the secret).
    #[arg(long)]
    pub no_handoff: bool,
    /// Do not open a browser (the default here; OpenClaw's flag, accepted).
    #[arg(long)]
    pub no_open: bool,
}

/// How long the handoff call may take.
const HANDOFF_TIMEOUT_MS: u64 = 10_000;

/// Asks the configured gateway for a one-time sign-in link's token: `(token, expiresAtMs)`,
/// or why there is none (the page then asks for the secret).
async fn handoff(loaded: &Loaded) -> Result<(String, u64), String> {
    use super::client::request_once;
    if loaded.config.gateway.auth.mode == Some(crate::config::AuthModeCfg::None)
        && loaded.config.gateway.mode != Some(GatewayMode::Remote)
    {
        return Err("gateway.auth.mode is \"none\": the page needs no sign-in".to_owned());
    }
    let target = super::remote::target_with_tunnel(&super::ConnArgs::default(), loaded)
        .await
        .map_err(|f| f.message)?;
    if target.token.is_none() && target.password.is_none() {
        return Err("this CLI has no gateway token or password to ask the gateway with".into());
    }
    let v = request_once(
        &target,
        &["operator.admin"],
        "controlUi.handoff",
        json!({}),
        HANDOFF_TIMEOUT_MS,
        false,
    )
    .await
    .map_err(|e| e.message())?;
    let token = v["bootstrapToken"]
        .as_str()
        .filter(|t| !t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or("the gateway answered no usable sign-in token")?;
    Ok((token.to_owned(), v["expiresAtMs"].as_u64().unwrap_or(0)))
}

/// The page's URL with a sign-in token in its fragment (never sent to a server; the page
/// removes it from the address bar). The token is base64url, which needs no escaping; any
/// other byte is percent-encoded all the same.
fn link(http_url: &str, token: &str) -> String {
    format!(
        "{http_url}#bootstrapToken={}&bootstrapProfile=owner",
        openclaw_actors::web_search::encode(token)
    )
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
    // A sign-in link needs the gateway: not asked for when nothing listens on loopback.
    let issued = if args.no_handoff {
        Err("--no-handoff".to_owned())
    } else if up == Some(false) {
        Err(format!("nothing is listening on port {port}"))
    } else {
        handoff(&loaded).await
    };
    if args.json {
        let mut out = json!({
            "ok": true,
            "url": http_url,
            "httpUrl": http_url,
            "wsUrl": ws_url,
            "port": port,
            "tokenIncluded": false,
            "listening": up,
        });
        match &issued {
            Ok((token, expires)) => {
                out["browserUrl"] = json!(link(&http_url, token));
                out["browserBootstrapExpiresAtMs"] = json!(expires);
            }
            Err(why) => out["browserHandoffError"] = json!(why),
        }
        println!("{out}");
        return Ok(());
    }
    println!("{http_url}");
    if up == Some(false) {
        eprintln!(
            "warning: nothing is listening on port {port} yet. Start the gateway with `openclaw gateway`."
        );
    }
    let browser_url = match &issued {
        Ok((token, _)) => {
            let url = link(&http_url, token);
            if !args.open {
                eprintln!(
                    "One-time sign-in link (single use, valid 10 minutes; the first browser that opens it is paired as an owner device, no secret typed):"
                );
                println!("{url}");
            }
            Some(url)
        }
        Err(why) if !args.no_handoff && up != Some(false) => {
            eprintln!("No one-time sign-in link: {why}.");
            None
        }
        Err(_) => None,
    };
    if let Some(url) = browser_url {
        if args.open {
            return match open_browser(&url) {
                Ok(program) => {
                    eprintln!("opened a one-time sign-in link with {program}");
                    Ok(())
                }
                Err(e) => Err(Failure {
                    code: 1,
                    message: format!(
                        "cannot open a browser ({e}). Fix: run `openclaw dashboard` without --open and open its sign-in link yourself, or set BROWSER to your browser's command"
                    ),
                    json: None,
                }),
            };
        }
        return Ok(());
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
