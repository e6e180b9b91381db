//! Tailscale Serve / Funnel managed by the gateway (protocol spec §5.10).
//!
//! With `gateway.tailscale.mode: "serve"` (or `"funnel"`) the gateway binds a **dedicated**
//! loopback listener (`127.0.0.1:<ephemeral>`) that serves the same page and WebSocket as the
//! ordinary port, and runs `tailscale serve` (or `tailscale funnel`) in the foreground pointing
//! at it. That foreground claim is the gateway's child: start-up waits until Tailscale prints
//! the URL, and stopping the gateway ends the child, which releases the route.
//!
//! Requests on the dedicated listener must come from tailscaled on loopback with
//! `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`; the client is the
//! `X-Forwarded-For` address (walked past loopback only) and must not be loopback. When
//! `gateway.auth.allowTailscale` holds (default: on in serve mode unless the auth mode is
//! password), a `tailscale-user-login` header is checked against tailscaled: `tailscale whois
//! --json <ip>` (binary `gateway.tailscale.binary`), or the LocalAPI `whois` on
//! `gateway.tailscale.socket`. Answers are cached (60 s, failures 5 s). The login must match
//! case-insensitively and be a person (tagged nodes are refused). A verified identity
//! authenticates **operators** only ([`TailscaleIdentity`] in the handshake); nodes, and
//! every request on the ordinary listener, never get it (there, the headers are refused).
//! Funnel requests (`Tailscale-Funnel-Request`) never carry identity.
//!
//! Like OpenClaw's, this tokenless path trusts the gateway host: any local process can reach
//! the loopback listener and claim a tailnet address; set `gateway.auth.allowTailscale: false`
//! where untrusted code runs on the same host.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::server::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, web};
use openclaw_actors::Engine;
use openclaw_actors::auth::{AuthMode, canonical_ip};
use openclaw_actors::ws_session::{PeerInfo, TailscaleIdentity};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::config::tailscale::{TailscaleCfg, TailscaleMode};
use crate::http::ws::{client_from_chain, origin_allowed, parse_xff, refuse};

/// Identity headers Tailscale Serve adds for tailnet users.
pub const IDENTITY_HEADERS: &[&str] = &[
    "tailscale-user-login",
    "tailscale-user-name",
    "tailscale-user-profile-pic",
];

/// How long `whois` may take.
const WHOIS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a successful answer is reused.
const WHOIS_TTL: Duration = Duration::from_secs(60);
/// How long a failure is reused.
const WHOIS_ERROR_TTL: Duration = Duration::from_secs(5);
/// Cached answers at most (expired ones are dropped first, then everything).
const WHOIS_CACHE_MAX: usize = 4096;
/// Listen backlog of the dedicated Serve listener (its connections all come from tailscaled).
const SERVE_BACKLOG: u32 = 1024;
/// Largest `whois` answer read.
const WHOIS_MAX_BYTES: usize = 256 * 1024;
/// `whois` lookups running at once at most (further ones wait for a slot).
const WHOIS_CONCURRENCY: usize = 8;
/// How long `tailscale serve` has to print its URL.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(30);

/// Who tailscaled says an address belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoisUser {
    /// `UserProfile.LoginName`.
    pub login: String,
    /// The node is tagged (a machine, not a person).
    pub tagged: bool,
}

/// A cached whois answer and when it was fetched.
type Cached = (Instant, Result<WhoisUser, String>);

/// Asks tailscaled who an address is, with a short cache.
pub struct Whois {
    binary: String,
    socket: Option<std::path::PathBuf>,
    cache: Mutex<HashMap<IpAddr, Cached>>,
    slots: tokio::sync::Semaphore,
}

impl Whois {
    /// From `gateway.tailscale`.
    pub fn new(cfg: &TailscaleCfg) -> Self {
        Self {
            binary: tailscale_binary(cfg),
            socket: cfg.socket.as_ref().map(std::path::PathBuf::from),
            cache: Mutex::new(HashMap::new()),
            slots: tokio::sync::Semaphore::new(WHOIS_CONCURRENCY),
        }
    }

    /// The identity behind `ip` (cached).
    pub async fn lookup(&self, ip: IpAddr) -> Result<WhoisUser, String> {
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock()
            && let Some((at, res)) = cache.get(&ip)
        {
            let ttl = if res.is_ok() {
                WHOIS_TTL
            } else {
                WHOIS_ERROR_TTL
            };
            if now.duration_since(*at) < ttl {
                return res.clone();
            }
        }
        // Bounded: a burst of new addresses cannot fork unbounded `tailscale` processes.
        let res = match tokio::time::timeout(WHOIS_TIMEOUT, async {
            let _slot = self.slots.acquire().await.map_err(|e| e.to_string())?;
            self.query(ip).await
        })
        .await
        {
            Ok(r) => r,
            Err(_) => Err(format!("whois timed out after {WHOIS_TIMEOUT:?}")),
        };
        if let Err(e) = &res {
            log::warn!("tailscale whois {ip} failed: {e}");
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= WHOIS_CACHE_MAX {
                cache.retain(|_, (at, r)| {
                    let ttl = if r.is_ok() {
                        WHOIS_TTL
                    } else {
                        WHOIS_ERROR_TTL
                    };
                    now.duration_since(*at) < ttl
                });
                if cache.len() >= WHOIS_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(ip, (Instant::now(), res.clone()));
        }
        res
    }

    async fn query(&self, ip: IpAddr) -> Result<WhoisUser, String> {
        let body = match &self.socket {
            Some(sock) => local_api_whois(sock, ip).await?,
            None => cli_whois(&self.binary, ip).await?,
        };
        parse_whois(&body)
    }
}

fn tailscale_binary(cfg: &TailscaleCfg) -> String {
    cfg.binary
        .clone()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "tailscale".to_owned())
}

async fn read_bounded(mut r: impl tokio::io::AsyncRead + Unpin) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut limited = (&mut r).take(WHOIS_MAX_BYTES as u64 + 1);
    limited
        .read_to_end(&mut buf)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if buf.len() > WHOIS_MAX_BYTES {
        return Err(format!("answer larger than {WHOIS_MAX_BYTES} bytes"));
    }
    Ok(buf)
}

/// `tailscale whois --json <ip>`.
async fn cli_whois(binary: &str, ip: IpAddr) -> Result<Vec<u8>, String> {
    let mut child = tokio::process::Command::new(binary)
        .args(["whois", "--json", &ip.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {binary:?}: {e} (set gateway.tailscale.binary)"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let body = read_bounded(stdout).await?;
    let status = child.wait().await.map_err(|e| format!("wait: {e}"))?;
    if !status.success() {
        return Err(format!("`{binary} whois --json {ip}` exited with {status}"));
    }
    Ok(body)
}

/// `GET /localapi/v0/whois?addr=<ip>` on tailscaled's socket (HTTP/1.0: no chunking).
async fn local_api_whois(sock: &std::path::Path, ip: IpAddr) -> Result<Vec<u8>, String> {
    let mut s = tokio::net::UnixStream::connect(sock)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", sock.display()))?;
    let req = format!(
        "GET /localapi/v0/whois?addr={ip} HTTP/1.0\r\nHost: local-tailscaled.sock\r\nAccept: application/json\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let raw = read_bounded(s).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed LocalAPI answer")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if status != "200" {
        return Err(format!("LocalAPI whois answered {status:?}"));
    }
    Ok(raw[split + 4..].to_vec())
}

/// Reads `UserProfile.LoginName` (and whether the node is tagged) from a whois answer.
pub fn parse_whois(body: &[u8]) -> Result<WhoisUser, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("whois answer is not JSON: {e}"))?;
    let profile = &v["UserProfile"];
    let login = ["LoginName", "Login", "loginName"]
        .iter()
        .find_map(|k| profile[*k].as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("whois answer has no UserProfile.LoginName")?;
    let tagged =
        v["Node"]["Tags"].as_array().is_some_and(|t| !t.is_empty()) || login == "tagged-devices";
    Ok(WhoisUser {
        login: login.to_owned(),
        tagged,
    })
}

/// The dedicated listener's settings (app data of its server only).
pub struct Ingress {
    /// Identity headers may authenticate operators.
    pub allow_identity: bool,
    /// The whois client.
    pub whois: Whois,
    /// The gateway's port (the origin rule's "own loopback origins").
    pub port: u16,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Works out who a request on the dedicated listener is (see the module docs).
pub async fn attribute(
    req: &HttpRequest,
    engine: &Engine,
    ingress: &Ingress,
) -> Result<PeerInfo, Box<HttpResponse>> {
    let peer_ip = req.peer_addr().map(|a| canonical_ip(a.ip()));
    let from_tailscaled = peer_ip.is_some_and(|ip| ip.is_loopback());
    let forwarded = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]
        .iter()
        .all(|h| req.headers().contains_key(*h));
    if !from_tailscaled || !forwarded {
        return Err(refuse(
            "tailscale_proxy_required",
            "This listener only takes traffic from Tailscale Serve (X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host from tailscaled). Local clients use the gateway's ordinary port.",
        ));
    }
    let xff: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .collect();
    let client = client_from_chain(
        &parse_xff(&xff),
        peer_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        |ip| ip.is_loopback(),
    );
    if client.is_loopback() {
        return Err(refuse(
            "tailscale_proxy_required",
            "X-Forwarded-For names no tailnet client. Local clients use the gateway's ordinary port.",
        ));
    }
    let host = header(req, "x-forwarded-host").or_else(|| header(req, "host"));
    let origin = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
    let origin_ok = origin.as_deref().is_none_or(|o| {
        origin_allowed(o, host, &engine.shared.config.allowed_origins, ingress.port)
    });
    let funnel = req.headers().contains_key("tailscale-funnel-request");
    let login = header(req, "tailscale-user-login")
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let tailscale = match login {
        Some(login) if ingress.allow_identity && !funnel => {
            Some(match ingress.whois.lookup(client).await {
                Err(_) => TailscaleIdentity::Unverified {
                    reason: "tailscale_whois_failed",
                },
                Ok(who) if who.tagged => TailscaleIdentity::Unverified {
                    reason: "tailscale_not_a_user",
                },
                Ok(who) if !who.login.eq_ignore_ascii_case(login) => {
                    log::warn!("tailscale identity header does not match whois for {client}");
                    TailscaleIdentity::Unverified {
                        reason: "tailscale_user_mismatch",
                    }
                }
                Ok(_) => TailscaleIdentity::Verified {
                    login: login.to_owned(),
                },
            })
        }
        _ => None,
    };
    Ok(PeerInfo {
        ip: client,
        is_local: false,
        local_host: false,
        origin,
        origin_allowed: origin_ok,
        tailscale,
    })
}

/// Refuses configurations that must not start (before anything is bound).
pub fn check(cfg: &TailscaleCfg, auth: AuthMode) -> Result<(), String> {
    let mode = cfg.mode.unwrap_or_default();
    if mode == TailscaleMode::Funnel && auth != AuthMode::Password {
        return Err(format!(
            "gateway.tailscale.mode is \"funnel\" (public internet) but gateway.auth.mode is \"{}\". Fix: set gateway.auth.mode to \"password\" with gateway.auth.password (or OPENCLAW_GATEWAY_PASSWORD), or use mode \"serve\" for tailnet-only access",
            auth.as_str()
        ));
    }
    if let Some(p) = cfg.https_port
        && mode == TailscaleMode::Funnel
        && ![443, 8443, 10000].contains(&p)
    {
        return Err(format!(
            "gateway.tailscale.httpsPort {p} cannot be used with Funnel. Fix: use 443, 8443 or 10000"
        ));
    }
    Ok(())
}

/// Whether identity headers may authenticate (spec §5.10 defaults).
pub fn allow_identity(cfg: &crate::config::GatewayCfg, auth: AuthMode) -> bool {
    cfg.tailscale.mode.unwrap_or_default() == TailscaleMode::Serve
        && cfg
            .auth
            .allow_tailscale
            .unwrap_or(auth != AuthMode::Password)
}

/// A running Serve/Funnel claim: the dedicated listener's server and the foreground
/// `tailscale` child.
pub struct Claim {
    server: ServerHandle,
    child_pid: Option<u32>,
    exited: tokio::sync::watch::Receiver<bool>,
    /// The dedicated listener.
    pub listener: SocketAddr,
    /// The URL Tailscale printed (if it printed one).
    pub url: Option<String>,
}

impl Claim {
    /// Ends the `tailscale` child (which releases the route) and stops the listener.
    pub async fn release(mut self) {
        if let Some(pid) = self.child_pid
            && !*self.exited.borrow()
            && let Some(pid) = rustix::process::Pid::from_raw(pid as i32)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let _ =
                tokio::time::timeout(Duration::from_secs(3), self.exited.wait_for(|e| *e)).await;
        }
        drop(self.server.stop());
    }
}

/// Where the running `tailscale serve|funnel` child is recorded (pid, subcommand, target),
/// relative to the state directory.
pub const CLAIM_FILE: &str = "tailscale-claim";

/// Stops the `tailscale serve|funnel` a previous run of this gateway left behind (it was
/// SIGKILLed or crashed, so it could not stop its child): the recorded process is sent
/// SIGTERM only if it still runs that very command line (a reused pid is left alone), and
/// is waited for (bounded) before the new claim starts.
async fn stop_stale_claim(file: &std::path::Path) {
    let Ok(record) = std::fs::read_to_string(file) else {
        return;
    };
    let _ = std::fs::remove_file(file);
    let mut parts = record.lines();
    let (Some(pid), Some(sub), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Some(pid) = pid
        .trim()
        .parse::<i32>()
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.as_raw_nonzero()));
    let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
        return; // gone already
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let ours = args.contains(&sub.as_bytes()) && args.contains(&target.as_bytes());
    if !ours {
        return;
    }
    log::warn!(
        "stopping `tailscale {sub}` (pid {}) left running by a previous run of this gateway",
        pid.as_raw_nonzero()
    );
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while proc_dir.exists() && tokio::time::Instant::now() < deadline {
        // A zombie (its parent is gone, init reaps it) counts as stopped.
        let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
        if state
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Binds the dedicated listener, serves the page and WebSocket on it, and runs the
/// foreground `tailscale serve|funnel` claim pointing at it. `Ok(None)` when the mode is off.
pub async fn start(
    gw: &crate::config::GatewayCfg,
    engine: Engine,
    ui: crate::http::ui::Ui,
    auth: AuthMode,
) -> Result<Option<Claim>, String> {
    let cfg = &gw.tailscale;
    let mode = cfg.mode.unwrap_or_default();
    if mode == TailscaleMode::Off {
        return Ok(None);
    }
    let listener = crate::http::server::bind(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        SERVE_BACKLOG,
    )
    .map_err(|e| format!("cannot bind the Tailscale Serve listener on 127.0.0.1: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("Tailscale Serve listener: {e}"))?;
    let ingress = web::Data::new(Ingress {
        allow_identity: allow_identity(gw, auth),
        whois: Whois::new(cfg),
        port: engine.shared.config.port,
    });
    let engine_state_dir = engine.shared.config.state_dir.clone();
    let data = web::Data::new(engine);
    let ui = web::Data::new(ui);
    let app = move || {
        App::new()
            .app_data(data.clone())
            .app_data(ui.clone())
            .app_data(ingress.clone())
            .route("/j/{code}", web::to(crate::http::join::join))
            .default_service(web::to(crate::http::ws::upgrade))
    };
    let settings = crate::http::server::Settings {
        workers: 1,
        backlog: SERVE_BACKLOG,
        tcp_nodelay: true,
        client_disconnect_timeout: Duration::from_millis(50),
    };
    let server = crate::http::server::serve(
        vec![listener],
        app,
        Arc::new(|_: &dyn std::any::Any, _: &mut actix_web::dev::Extensions| {}),
        settings,
        None,
    )
    .map_err(|e| format!("Tailscale Serve listener: {e}"))?;
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let binary = tailscale_binary(cfg);
    let https = cfg.https_port.unwrap_or(443);
    let sub = if mode == TailscaleMode::Funnel {
        "funnel"
    } else {
        "serve"
    };
    let target = format!("http://{local}");
    let claim_file = engine_state_dir.join(CLAIM_FILE);
    stop_stale_claim(&claim_file).await;
    let mut child = match tokio::process::Command::new(&binary)
        .args([sub, "--yes", &format!("--https={https}"), &target])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            drop(handle.stop());
            return Err(format!(
                "cannot run `{binary} {sub}`: {e}. Fix: install Tailscale and log in, set gateway.tailscale.binary, or set gateway.tailscale.mode to \"off\""
            ));
        }
    };
    let child_pid = child.id();
    if let Some(pid) = child_pid {
        // A SIGKILLed gateway cannot stop its foreground claim: the next start does, by this.
        let record = format!("{pid}\n{sub}\n{target}\n");
        if let Err(e) = crate::actors::store::write_atomic(&claim_file, record.as_bytes()) {
            log::warn!(
                "cannot record the tailscale {sub} process in {}: {e}",
                claim_file.display()
            );
        }
    }
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        drop(handle.stop());
        return Err("tailscale child has no output pipes".to_owned());
    };
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Option<String>>(4);
    let err_tail = Arc::new(Mutex::new(String::new()));
    {
        let tx = ready_tx.clone();
        actix_web::rt::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut announced = false;
            while let Ok(Some(line)) = lines.next_line().await {
                log::debug!("tailscale {sub}: {line}");
                let l = line.trim();
                if !announced && (l.starts_with("https://") || l.contains("Ctrl+C")) {
                    announced = true;
                    let url = l.starts_with("https://").then(|| l.to_owned());
                    let _ = tx.send(url).await;
                }
            }
        });
    }
    {
        let tail = err_tail.clone();
        actix_web::rt::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log::info!("tailscale {sub}: {line}");
                if let Ok(mut t) = tail.lock()
                    && t.len() < 4096
                {
                    t.push_str(&line);
                    t.push('\n');
                }
            }
        });
    }
    let (exit_tx, exit_rx) = tokio::sync::watch::channel(false);
    let (status_tx, mut status_rx) = tokio::sync::mpsc::channel(1);
    actix_web::rt::spawn(async move {
        let status = child.wait().await;
        let _ = exit_tx.send(true);
        let _ = status_tx.send(status).await;
    });
    drop(ready_tx);
    let url = tokio::select! {
        ready = ready_rx.recv() => match ready {
            Some(url) => url,
            None => {
                // Output closed without the line: wait for the exit status below.
                let status = tokio::time::timeout(Duration::from_secs(5), status_rx.recv()).await;
                drop(handle.stop());
                let tail = err_tail.lock().map(|t| t.trim().to_owned()).unwrap_or_default();
                return Err(format!(
                    "`{binary} {sub}` stopped before it was ready ({}){}. Fix: check `tailscale status` (logged in, HTTPS enabled for the tailnet{})",
                    match status { Ok(Some(Ok(s))) => s.to_string(), _ => "no exit status".to_owned() },
                    if tail.is_empty() { String::new() } else { format!(": {tail}") },
                    if sub == "funnel" { ", Funnel allowed" } else { "" }
                ));
            }
        },
        status = status_rx.recv() => {
            drop(handle.stop());
            let tail = err_tail.lock().map(|t| t.trim().to_owned()).unwrap_or_default();
            return Err(format!(
                "`{binary} {sub}` exited at start-up ({}){}. Fix: check `tailscale status` (logged in, HTTPS enabled for the tailnet)",
                match status { Some(Ok(s)) => s.to_string(), _ => "no exit status".to_owned() },
                if tail.is_empty() { String::new() } else { format!(": {tail}") }
            ));
        }
        _ = tokio::time::sleep(CLAIM_TIMEOUT) => {
            if let Some(pid) = child_pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            drop(handle.stop());
            return Err(format!(
                "`{binary} {sub}` did not become ready within {CLAIM_TIMEOUT:?}. Fix: check `tailscale status`"
            ));
        }
    };
    // Losing the claim while running is logged (the tailnet URL is gone).
    let mut watch = exit_rx.clone();
    actix_web::rt::spawn(async move {
        if watch.wait_for(|e| *e).await.is_ok() {
            log::warn!("tailscale {sub} exited; the Tailscale URL no longer reaches this gateway");
        }
    });
    Ok(Some(Claim {
        server: handle,
        child_pid,
        exited: exit_rx,
        listener: local,
        url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whois_answers() {
        let user = br#"{"Node":{"Name":"laptop.tail.ts.net.","Tags":null},"UserProfile":{"ID":1,"LoginName":"Alice@Example.com","DisplayName":"Alice"}}"#;
        assert_eq!(
            parse_whois(user),
            Ok(WhoisUser {
                login: "Alice@Example.com".into(),
                tagged: false
            })
        );
        let tagged =
            br#"{"Node":{"Tags":["tag:server"]},"UserProfile":{"LoginName":"tagged-devices"}}"#;
        assert!(parse_whois(tagged).expect("parses").tagged);
        assert!(parse_whois(b"{}").is_err());
        assert!(parse_whois(b"not json").is_err());
        assert!(parse_whois(br#"{"UserProfile":{"LoginName":"  "}}"#).is_err());
    }

    #[test]
    fn funnel_needs_password() {
        let funnel = TailscaleCfg {
            mode: Some(TailscaleMode::Funnel),
            ..Default::default()
        };
        assert!(check(&funnel, AuthMode::Token).is_err());
        assert!(check(&funnel, AuthMode::None).is_err());
        assert!(check(&funnel, AuthMode::Password).is_ok());
        let serve = TailscaleCfg {
            mode: Some(TailscaleMode::Serve),
            ..Default::default()
        };
        assert!(check(&serve, AuthMode::Token).is_ok());
    }
}
