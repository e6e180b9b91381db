//! `openclaw node run`: a headless node host. It connects to a gateway as `role:"node"` with
//! a persistent Ed25519 identity, declares `system.which` and `system.run`, answers
//! `node.invoke.request` events (each command runs in its own task; results go back through
//! the socket writer), publishes `node.host.stats`, and reconnects with jittered backoff.
//!
//! It authenticates with OPENCLAW_GATEWAY_TOKEN / OPENCLAW_GATEWAY_PASSWORD or the device
//! token the gateway issued it (stored per gateway URL), or pairs with a setup code
//! (`--pair`, `--pair-if-needed`, see [`pair`]): the code's bootstrap token is the first
//! connect's only credential, kept in memory until that connect succeeds.
//!
//! `system.run` only starts programs on this node's own exec allowlist
//! (`$STATE/node/exec-allowlist.json`, empty by default), whatever the gateway approved.

pub mod exec;
pub mod pair;
mod run;

/// The node's `host.stats` (read by the same code as the gateway's `system.info`).
pub use openclaw_actors::host_facts::host_stats;
#[cfg(test)]
use openclaw_actors::host_facts::parse_meminfo;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use awc::ws::{self, Frame, Message};
use clap::{Args, Subcommand};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};

use crate::client::connect::{ClientInfo, ConnectParams, Payload};
use crate::client::identity as state;
use crate::client::{CallError, Target, WsConn, validate};
use crate::config::{self, ProcessEnv};
use openclaw_actors::util::Backoff;

/// Why `openclaw node …` ended: exit code and what to print (empty after a signal).
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: i32,
    /// Human message (already includes the fix).
    pub message: String,
}

/// `$STATE/node/exec-allowlist.json`.
pub fn allowlist_path(state_dir: &std::path::Path) -> PathBuf {
    state::node_dir(state_dir).join("exec-allowlist.json")
}

/// Commands this node declares.
pub const COMMANDS: &[&str] = &["system.run", "system.which"];
/// Caps this node declares.
pub const CAPS: &[&str] = &["system"];

/// Reconnect delays: 1 s doubling to 30 s (each ± 20 %), back to 1 s after a connection.
const RECONNECT_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
/// The retry delay after the gateway rejected a stored device token.
const RETRY_SOON: Duration = Duration::from_secs(1);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
const STATS_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_TICK_MS: u64 = 30_000;

/// `openclaw node`.
#[derive(Debug, Args)]
pub struct NodeCmd {
    /// What to do.
    #[command(subcommand)]
    pub sub: NodeSub,
}

/// `openclaw node <sub>`.
#[derive(Debug, Subcommand)]
pub enum NodeSub {
    /// Run the node host in the foreground (token from OPENCLAW_GATEWAY_TOKEN or
    /// OPENCLAW_GATEWAY_PASSWORD, or pair with a setup code: --pair).
    Run(NodeRunArgs),
    /// Print this node's device id and public key (creating the identity if needed).
    Identity(NodeIdentityArgs),
}

/// Flags of `node run`.
#[derive(Debug, Args, Clone)]
pub struct NodeRunArgs {
    /// Gateway host [default: 127.0.0.1, or the host of the --pair code's URL].
    #[arg(long)]
    pub host: Option<String>,
    /// Gateway port [default: 18789, or the port of the --pair code's URL].
    #[arg(long)]
    pub port: Option<u16>,
    /// Connect with wss://.
    #[arg(long)]
    pub tls: bool,
    /// SHA-256 fingerprint of the gateway's certificate (implies --tls).
    #[arg(long)]
    pub tls_fingerprint: Option<String>,
    /// SPKI pin `sha256/<base64>` of the gateway's key (implies --tls; repeatable; survives
    /// re-issuing the certificate with the same key).
    #[arg(long = "tls-spki-pin", value_name = "sha256/BASE64")]
    pub tls_spki_pin: Vec<String>,
    /// Name shown to operators (default: the host name).
    #[arg(long)]
    pub display_name: Option<String>,
    /// Path prefix of the gateway's WebSocket endpoint, e.g. /openclaw.
    #[arg(long)]
    pub context_path: Option<String>,
    /// Also allow system.run to start this program (absolute path or name on PATH, any
    /// arguments). Repeatable. $STATE/node/exec-allowlist.json is the recommended place, and
    /// the only one for argument patterns, applets and the env allowlist:
    /// {"allow":["/usr/bin/uname", {"program":"ls","args":["-l","/*"]}], "env":["LANG"]}.
    #[arg(long = "exec-allow", value_name = "PROGRAM")]
    pub exec_allow: Vec<String>,
    /// Pair with a setup code (`openclaw qr --node` on the gateway host), bare or as
    /// oc-pair://<code>: its URL sets the gateway (--host/--port/--tls/--context-path
    /// override it) and its single-use token is the first connect's credential, after which
    /// the node reconnects with the device token the gateway issued.
    #[arg(long, value_name = "CODE_OR_URL", conflicts_with = "pair_if_needed")]
    pub pair: Option<pair::PairArg>,
    /// Like --pair, but when a device token is already stored for the code's gateway URL,
    /// connect with it and leave the code unused (for a service started with the same
    /// command line again after the code expired).
    #[arg(long, value_name = "CODE_OR_URL")]
    pub pair_if_needed: Option<pair::PairArg>,
}

/// The default gateway host of `node run`.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// The default gateway port of `node run`.
pub const DEFAULT_PORT: u16 = 18789;

/// Flags of `node identity`.
#[derive(Debug, Args)]
pub struct NodeIdentityArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn fail(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
    }
}

/// Runs `openclaw node …`.
pub async fn run(cmd: NodeCmd) -> Result<(), Failure> {
    let state_dir = config::state_dir(&ProcessEnv);
    match cmd.sub {
        NodeSub::Identity(a) => identity(&state_dir, a.json),
        NodeSub::Run(a) => run_host(state_dir, a).await,
    }
}

fn identity(state_dir: &std::path::Path, as_json: bool) -> Result<(), Failure> {
    let id = state::load_or_create_identity(state_dir).map_err(|e| {
        fail(format!(
            "{e}\nFix: move the broken file aside; a new identity will be created (the node must then be paired again)"
        ))
    })?;
    if as_json {
        let v = json!({"deviceId": id.device_id, "publicKey": id.key.public_key_b64(), "path": id.path});
        println!(
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
        );
    } else {
        println!("Device ID:  {}", id.device_id);
        println!("Public key: {}", id.key.public_key_b64());
        println!("Stored in:  {}", id.path.display());
    }
    Ok(())
}

/// Builds `{ws|wss}://host:port[/contextPath]`.
pub fn gateway_url(host: &str, port: u16, tls: bool, context_path: Option<&str>) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let path = context_path
        .map(|p| p.trim().trim_end_matches('/'))
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.starts_with('/') {
                p.to_owned()
            } else {
                format!("/{p}")
            }
        })
        .unwrap_or_default();
    format!("{}://{host}:{port}{path}", if tls { "wss" } else { "ws" })
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".to_owned())
}

/// Everything a session needs.
struct Ctx {
    url: String,
    target: Target,
    state_dir: PathBuf,
    identity: state::NodeIdentity,
    display_name: String,
    token: Option<String>,
    password: Option<String>,
    exec_allow: Vec<String>,
    path_env: Option<std::ffi::OsString>,
    /// The setup code's bootstrap token, until a `connect` with it succeeded (memory only).
    bootstrap: RefCell<Option<pair::BootstrapToken>>,
    /// Connect with the stored device token even when a shared token is set (`--pair`,
    /// `--pair-if-needed`: the node was enrolled with a code, its device token is its
    /// credential).
    prefer_device_token: bool,
}

enum SessionEnd {
    /// Try again after a backoff; `connected` resets the backoff.
    Retry {
        reason: String,
        connected: bool,
        delay_hint: Option<Duration>,
    },
    /// Stop with this failure (exit code inside).
    Exit(Failure),
}

/// Where `node run` connects: each explicit flag wins over the setup code's URL, which wins
/// over the defaults. TLS is on with --tls, a TLS pin, or a `wss://` code.
fn resolve_gateway(args: &NodeRunArgs, code: Option<&pair::GatewayAddr>) -> pair::GatewayAddr {
    pair::GatewayAddr {
        host: args
            .host
            .clone()
            .or_else(|| code.map(|c| c.host.clone()))
            .unwrap_or_else(|| DEFAULT_HOST.to_owned()),
        port: args.port.or(code.map(|c| c.port)).unwrap_or(DEFAULT_PORT),
        tls: args.tls
            || args.tls_fingerprint.is_some()
            || !args.tls_spki_pin.is_empty()
            || code.is_some_and(|c| c.tls),
        context_path: args
            .context_path
            .clone()
            .or_else(|| code.and_then(|c| c.context_path.clone())),
    }
}

/// How `node run` reaches and authenticates with the gateway, from its flags.
#[derive(Debug)]
struct Plan {
    /// The gateway URL (also the key of the stored device token).
    url: String,
    /// A setup code was given (--pair or --pair-if-needed).
    with_code: bool,
    /// The bootstrap token to present on the first connect.
    bootstrap: Option<pair::BootstrapToken>,
    /// When that token expires (ms since the epoch), when the code says.
    expires_at_ms: Option<u64>,
}

/// Decodes --pair / --pair-if-needed and decides whether the first connect presents the
/// code: always with --pair; with --pair-if-needed only when no device token is stored for
/// the URL. A malformed code, or an expired one that would be presented, is an error (with
/// the fix) before anything connects.
fn plan(args: &NodeRunArgs, state_dir: &std::path::Path, now_ms: u64) -> Result<Plan, Failure> {
    let (arg, if_needed) = match (&args.pair, &args.pair_if_needed) {
        (Some(a), _) => (Some(a), false),
        (None, Some(a)) => (Some(a), true),
        (None, None) => (None, false),
    };
    let code = arg
        .map(|a| pair::decode(a.expose()))
        .transpose()
        .map_err(|e| {
            fail(format!(
                "invalid setup code: {e}\nFix: {} (and pass all of it to --pair)",
                pair::NEW_CODE_FIX
            ))
        })?;
    let addr = resolve_gateway(args, code.as_ref().map(|c| &c.gateway));
    let url = gateway_url(
        &addr.host,
        addr.port,
        addr.tls,
        addr.context_path.as_deref(),
    );
    let Some(code) = code else {
        return Ok(Plan {
            url,
            with_code: false,
            bootstrap: None,
            expires_at_ms: None,
        });
    };
    if if_needed && state::stored_device_token(state_dir, &url).is_some() {
        return Ok(Plan {
            url,
            with_code: true,
            bootstrap: None,
            expires_at_ms: None,
        });
    }
    pair::check_fresh(&code, now_ms)
        .map_err(|e| fail(format!("{e}\nFix: {}", pair::NEW_CODE_FIX)))?;
    Ok(Plan {
        url,
        with_code: true,
        bootstrap: Some(code.bootstrap_token),
        expires_at_ms: code.expires_at_ms,
    })
}

async fn run_host(state_dir: PathBuf, args: NodeRunArgs) -> Result<(), Failure> {
    let plan = plan(&args, &state_dir, openclaw_actors::util::now_ms())?;
    let url = plan.url;
    let target = Target {
        url: url.clone(),
        url_source: if plan.with_code {
            "setup code"
        } else {
            "--host/--port"
        },
        token: None,
        password: None,
        tls_fingerprint: args.tls_fingerprint.clone(),
        tls_spki_pins: args.tls_spki_pin.clone(),
        allow_private_ws: std::env::var("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS").as_deref() == Ok("1"),
        force_device: false,
    };
    // Checks the URL and the pins' format (the error names the bad value).
    validate(&target).map_err(|e| fail(e.message()))?;
    let identity = state::load_or_create_identity(&state_dir).map_err(|e| {
        fail(format!(
            "{e}\nFix: move the broken file aside; a new identity will be created (the node must then be paired again)"
        ))
    })?;
    let env_nonempty = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let ctx = Rc::new(Ctx {
        url,
        target,
        display_name: args.display_name.clone().unwrap_or_else(host_name),
        token: env_nonempty("OPENCLAW_GATEWAY_TOKEN"),
        password: env_nonempty("OPENCLAW_GATEWAY_PASSWORD"),
        exec_allow: args.exec_allow.clone(),
        path_env: std::env::var_os("PATH"),
        state_dir,
        identity,
        bootstrap: RefCell::new(plan.bootstrap),
        prefer_device_token: plan.with_code,
    });
    let allow_file = allowlist_path(&ctx.state_dir);
    let dirs = exec::path_dirs(ctx.path_env.as_deref());
    let file = exec::read_allowlist_file(&allow_file).unwrap_or_else(|e| {
        eprintln!("warning: {e}; system.run will deny everything until it is fixed");
        exec::AllowFile::default()
    });
    let policy = exec::resolve_policy(&file, &ctx.exec_allow, &dirs);
    for r in &policy.refused {
        eprintln!(
            "warning: exec allowlist entry {:?} is refused: {}",
            r.spec, r.reason
        );
    }
    if let Ok(meta) = std::fs::metadata(&allow_file) {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o022 != 0 {
            eprintln!(
                "warning: {} is writable by other users; anyone who can edit it can run programs through this node (chmod 600 it)",
                allow_file.display()
            );
        }
    }
    eprintln!(
        "node host {} ({}) → {}",
        ctx.identity.device_id, ctx.display_name, ctx.url
    );
    if ctx.bootstrap.borrow().is_some() {
        let left = plan
            .expires_at_ms
            .map(|at| {
                format!(
                    " (valid for another {} s)",
                    at.saturating_sub(openclaw_actors::util::now_ms()) / 1000
                )
            })
            .unwrap_or_default();
        let unsent: Vec<&str> = [
            ("OPENCLAW_GATEWAY_TOKEN", ctx.token.is_some()),
            ("OPENCLAW_GATEWAY_PASSWORD", ctx.password.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        eprintln!(
            "node host: pairing with the setup code{left}; it is used once, then the device token the gateway issues{}",
            if unsent.is_empty() {
                String::new()
            } else {
                format!(" ({} not sent with it)", unsent.join(", "))
            }
        );
    } else if plan.with_code {
        eprintln!(
            "node host: a device token is stored for {}; connecting with it (the setup code is not used)",
            ctx.url
        );
    }
    eprintln!(
        "advertised commands: {}; system.run allowlist: {}; env passed: {}",
        COMMANDS.join(", "),
        if policy.entries.is_empty() {
            format!("empty (add programs to {})", allow_file.display())
        } else {
            policy
                .entries
                .iter()
                .map(|e| {
                    let shown = e.path.display().to_string();
                    if file_name_of(&e.path) == e.name {
                        shown
                    } else {
                        format!("{shown} as {}", e.name)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
        policy.env.join(" ")
    );

    let (sd_tx, mut shutdown) = watch::channel::<Option<i32>>(None);
    install_signal_handlers(sd_tx)
        .map_err(|e| fail(format!("cannot install signal handlers: {e}")))?;

    let mut backoff = RECONNECT_BACKOFF;
    loop {
        if let Some(code) = *shutdown.borrow() {
            return Err(exit_code(code));
        }
        match session(&ctx, shutdown.clone()).await {
            SessionEnd::Exit(f) => return Err(f),
            SessionEnd::Retry {
                reason,
                connected,
                delay_hint,
            } => {
                if connected {
                    backoff.reset();
                }
                let base = backoff.next_delay();
                let delay = delay_hint.unwrap_or_else(|| jitter(base));
                eprintln!(
                    "node host: {reason}; reconnecting in {:.1}s",
                    delay.as_secs_f64()
                );
                tokio::select! {
                    _ = sleep(delay) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

fn file_name_of(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn exit_code(code: i32) -> Failure {
    Failure {
        code,
        message: String::new(),
    }
}

fn install_signal_handlers(tx: watch::Sender<Option<i32>>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    actix_web::rt::spawn(async move {
        let code = tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        };
        let _ = tx.send(Some(code));
    });
    Ok(())
}

/// `base` ± 20 %.
fn jitter(base: Duration) -> Duration {
    let r = match openclaw_actors::util::try_random_bytes::<2>() {
        Ok(b) => u64::from(u16::from_le_bytes(b)) % 1000, // 0..999
        Err(_) => 500,
    };
    let factor = 0.8 + (r as f64) * 0.4 / 1000.0;
    base.mul_f64(factor)
}

/// The signed `connect` params.
fn connect_params(
    ctx: &Ctx,
    device_token: Option<&str>,
    nonce: &str,
    signed_at: u64,
) -> Result<Value, String> {
    let mut params = ConnectParams::new(
        ClientInfo {
            id: "node-host".into(),
            display_name: Some(ctx.display_name.clone()),
            version: env!("CARGO_PKG_VERSION").into(),
            platform: "linux".into(),
            device_family: Some("Linux".into()),
            mode: "node".into(),
            instance_id: Some(ctx.identity.device_id.clone()),
        },
        "node",
    );
    params.caps = CAPS.iter().map(|s| (*s).to_owned()).collect();
    params.commands = COMMANDS.iter().map(|s| (*s).to_owned()).collect();
    params.path_env = ctx
        .path_env
        .as_ref()
        .and_then(|p| p.to_str())
        .map(str::to_owned);
    if let Some(b) = ctx.bootstrap.borrow().as_ref() {
        // The setup code's token alone: a shared secret or a device token beside it would
        // authenticate instead and leave the code unredeemed. The device proof signs it (the
        // payload's token is `token ?? deviceToken ?? bootstrapToken`).
        let mut v = params.to_value(None)?;
        let Some(obj) = v.as_object_mut() else {
            return Err("connect params are not an object".into());
        };
        obj.insert("auth".into(), json!({"bootstrapToken": b.expose()}));
        crate::client::connect::sign(&mut v, &ctx.identity.key, nonce, signed_at, Payload::V3)?;
        return Ok(v);
    }
    match (device_token, &ctx.token) {
        (Some(dt), _) if ctx.prefer_device_token => {
            params.auth.device_token = Some(dt.to_owned());
        }
        (_, Some(t)) => params.auth.token = Some(t.clone()),
        (dt, None) => {
            params.auth.password = ctx.password.clone();
            params.auth.device_token = dt.map(str::to_owned);
        }
    }
    params.to_value(Some((&ctx.identity.key, nonce, signed_at)))
}

/// Codes after which the node host stops (like the real one): the operator must fix the
/// credentials first.
const FATAL_CODES: &[&str] = &[
    "AUTH_TOKEN_MISSING",
    "AUTH_TOKEN_MISMATCH",
    "AUTH_BOOTSTRAP_TOKEN_INVALID",
    "AUTH_PASSWORD_MISSING",
    "AUTH_PASSWORD_MISMATCH",
    "AUTH_IDENTITY_HEADER_REQUIRED",
    "CLIENT_VERSION_MISMATCH",
    "PROTOCOL_MISMATCH",
];

fn fatal_fix(code: &str) -> &'static str {
    match code {
        "AUTH_TOKEN_MISSING" => {
            "export OPENCLAW_GATEWAY_TOKEN=<the gateway's gateway.auth.token> and start the node again, or pair it with a setup code (on the gateway host: openclaw qr --node; here: openclaw node run --pair <code>)"
        }
        "AUTH_BOOTSTRAP_TOKEN_INVALID" => {
            "create a new code on the gateway host: openclaw qr --node, and start the node with it (openclaw node run --pair <code>); a code pairs one device, once, within 10 minutes"
        }
        "AUTH_TOKEN_MISMATCH" => {
            "set OPENCLAW_GATEWAY_TOKEN to the gateway's gateway.auth.token and start the node again"
        }
        "AUTH_PASSWORD_MISSING" | "AUTH_PASSWORD_MISMATCH" => {
            "set OPENCLAW_GATEWAY_PASSWORD to the gateway's password and start the node again"
        }
        "PROTOCOL_MISMATCH" | "CLIENT_VERSION_MISMATCH" => {
            "upgrade the node host or the gateway so both speak protocol 4"
        }
        _ => "check the gateway's auth settings and start the node again",
    }
}

/// Handles a failed `connect`.
fn connect_error(ctx: &Ctx, error: &Value, sent_device_token: bool) -> SessionEnd {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("connect rejected")
        .to_owned();
    let details = error.get("details").cloned().unwrap_or(Value::Null);
    let code = details
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if code == "AUTH_DEVICE_TOKEN_MISMATCH" || (sent_device_token && code == "AUTH_TOKEN_MISMATCH")
    {
        if let Err(e) = state::store_device_token(&ctx.state_dir, &ctx.url, None) {
            log::warn!("{e}");
        }
        return SessionEnd::Retry {
            reason: format!("{message}; forgot the stored device token"),
            connected: false,
            delay_hint: Some(RETRY_SOON),
        };
    }
    if FATAL_CODES.contains(&code.as_str()) {
        return SessionEnd::Exit(fail(format!(
            "gateway rejected the node: {message} ({code})\nFix: {}",
            fatal_fix(&code)
        )));
    }
    if code == "PAIRING_REQUIRED" || code == "NOT_PAIRED" || message.contains("pairing required") {
        let request = details
            .get("requestId")
            .and_then(Value::as_str)
            .unwrap_or("<requestId>");
        if details.get("recommendedNextStep").and_then(Value::as_str) == Some("wait_then_retry") {
            // A setup code redeemed by a client class it was not made for: the code stays
            // bound to this device until an operator approves; keep presenting it.
            return SessionEnd::Retry {
                reason: format!(
                    "pairing required: the setup code was accepted, but this device ({}) waits for an operator's approval. Approve it on the gateway with `openclaw devices approve {request}` (see `openclaw devices list`); retrying with the same code",
                    ctx.identity.device_id
                ),
                connected: false,
                delay_hint: None,
            };
        }
        return SessionEnd::Retry {
            reason: format!(
                "pairing required: this device ({}) is not approved yet. Approve it on the gateway with `openclaw devices approve {request}` (see `openclaw devices list`)",
                ctx.identity.device_id
            ),
            connected: false,
            delay_hint: None,
        };
    }
    if code == "DEVICE_IDENTITY_REQUIRED" {
        return SessionEnd::Exit(fail(format!(
            "gateway rejected the node: {message}\nFix: this is a bug in the node host's device proof; please report it"
        )));
    }
    let retry_after = error
        .get("retryAfterMs")
        .and_then(Value::as_u64)
        .map(|ms| Duration::from_millis(ms.clamp(100, 30_000)));
    SessionEnd::Retry {
        reason: format!(
            "connect rejected: {message}{}",
            if code.is_empty() {
                String::new()
            } else {
                format!(" ({code})")
            }
        ),
        connected: false,
        delay_hint: retry_after,
    }
}

/// Opens the socket and completes the handshake. `Ok((framed, hello))` or a session end.
async fn handshake(ctx: &Ctx) -> Result<(WsConn, Value), SessionEnd> {
    let retry = |reason: String| SessionEnd::Retry {
        reason,
        connected: false,
        delay_hint: None,
    };
    let client = crate::client::client_for(&ctx.target, HANDSHAKE_TIMEOUT)
        .map_err(|e| SessionEnd::Exit(fail(e.message())))?;
    let mut framed = crate::client::connect_socket(&client, &ctx.url)
        .await
        .map_err(|e| retry(e.message()))?;
    let bootstrapping = ctx.bootstrap.borrow().is_some();
    let device_token = if !bootstrapping && (ctx.token.is_none() || ctx.prefer_device_token) {
        state::stored_device_token(&ctx.state_dir, &ctx.url)
    } else {
        None
    };
    let hello = crate::client::handshake(&mut framed, |challenge| {
        let protocol = |m: &str| CallError::transport("protocol", m);
        let nonce = challenge
            .nonce
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| protocol("connect.challenge without a nonce"))?;
        let signed_at = challenge
            .ts
            .ok_or_else(|| protocol("gateway connect challenge timestamp invalid"))?;
        connect_params(ctx, device_token.as_deref(), nonce, signed_at)
            .map_err(|e| protocol(&format!("cannot build connect params: {e}")))
    })
    .await;
    match hello {
        Ok(hello) => Ok((framed, hello)),
        Err(CallError::Request { error, .. }) => {
            let _ = framed.send(Message::Close(None)).await;
            Err(connect_error(ctx, &error, device_token.is_some()))
        }
        Err(e) => Err(retry(e.message())),
    }
}

/// An outgoing request from a command task or the stats timer.
type Outgoing = (&'static str, Value);

async fn session(ctx: &Rc<Ctx>, mut shutdown: watch::Receiver<Option<i32>>) -> SessionEnd {
    let hs = tokio::select! {
        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(ctx)) => r,
        _ = shutdown.changed() => {
            return SessionEnd::Exit(exit_code((*shutdown.borrow()).unwrap_or(130)));
        }
    };
    let (mut framed, hello) = match hs {
        Ok(Ok(x)) => x,
        Ok(Err(end)) => return end,
        Err(_) => {
            return SessionEnd::Retry {
                reason: format!("handshake with {} timed out", ctx.url),
                connected: false,
                delay_hint: None,
            };
        }
    };
    // The setup code did its work: never present it again.
    let paired_now = ctx.bootstrap.borrow_mut().take().is_some();
    let auth = hello.get("auth").cloned().unwrap_or(Value::Null);
    let mut stored = false;
    if let Some(dt) = auth.get("deviceToken").and_then(Value::as_str) {
        let entry = json!({
            "token": dt,
            "role": auth.get("role").cloned().unwrap_or(json!("node")),
            "scopes": auth.get("scopes").cloned().unwrap_or(json!([])),
            "issuedAtMs": auth.get("issuedAtMs").cloned().unwrap_or(Value::Null),
        });
        match state::store_device_token(&ctx.state_dir, &ctx.url, Some(entry)) {
            Ok(()) => stored = true,
            Err(e) if paired_now => eprintln!(
                "warning: cannot store the device token: {e}; after a restart this node must be paired again (fix the state directory)"
            ),
            Err(e) => log::warn!("cannot store the device token: {e}"),
        }
    }
    if paired_now {
        if stored {
            eprintln!(
                "node host: paired with the setup code; the device token is saved for {} and used from now on",
                ctx.url
            );
        } else if auth.get("deviceToken").is_none() {
            eprintln!(
                "warning: the gateway issued no device token for the setup code; a reconnect needs OPENCLAW_GATEWAY_TOKEN or a new code"
            );
        }
    }
    let tick_ms = hello
        .get("policy")
        .and_then(|p| p.get("tickIntervalMs"))
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_TICK_MS);
    let silence_limit = Duration::from_millis(tick_ms.saturating_mul(2));
    eprintln!(
        "node host connected: {} (server {})",
        ctx.url,
        hello
            .get("server")
            .and_then(|s| s.get("version"))
            .and_then(Value::as_str)
            .unwrap_or("?")
    );

    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let mut pending: HashMap<String, &'static str> = HashMap::new();
    let mut next_id: u64 = 2;
    let mut unsupported: Vec<&'static str> = Vec::new();
    let mut last_seen = Instant::now();
    let mut stats_timer = tokio::time::interval(STATS_INTERVAL);
    stats_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                let code = (*shutdown.borrow()).unwrap_or(130);
                let _ = framed.send(Message::Close(Some(ws::CloseCode::Normal.into()))).await;
                break SessionEnd::Exit(exit_code(code));
            }
            frame = framed.next() => {
                last_seen = Instant::now();
                match frame {
                    Some(Ok(Frame::Text(b))) => {
                        let Ok(v) = serde_json::from_slice::<Value>(&b) else {
                            log::warn!("gateway sent invalid JSON; ignoring it");
                            continue;
                        };
                        handle_frame(ctx, &tx, &mut pending, &mut unsupported, v);
                    }
                    Some(Ok(Frame::Ping(p))) => {
                        let _ = framed.send(Message::Pong(p)).await;
                    }
                    Some(Ok(Frame::Close(reason))) => {
                        break SessionEnd::Retry { reason: crate::client::close_message(reason).1, connected: true, delay_hint: None };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        break SessionEnd::Retry { reason: format!("connection error: {e}"), connected: true, delay_hint: None };
                    }
                    None => {
                        break SessionEnd::Retry { reason: "gateway closed the connection".into(), connected: true, delay_hint: None };
                    }
                }
            }
            Some((method, params)) = rx.recv() => {
                if unsupported.contains(&method) {
                    continue;
                }
                let id = format!("{next_id}:{}", uuid::Uuid::new_v4());
                next_id += 1;
                let frame = json!({"type": "req", "id": id, "method": method, "params": params});
                if let Err(e) = framed.send(Message::Text(frame.to_string().into())).await {
                    break SessionEnd::Retry { reason: format!("send failed: {e}"), connected: true, delay_hint: None };
                }
                pending.insert(id, method);
            }
            _ = stats_timer.tick() => {
                let stats = host_stats();
                let _ = tx.send(("node.event", json!({"event": "node.host.stats", "payloadJSON": stats.to_string()})));
            }
            _ = sleep_until(last_seen + silence_limit) => {
                let _ = framed.send(Message::Close(Some(ws::CloseCode::Away.into()))).await;
                break SessionEnd::Retry {
                    reason: format!("no frames from the gateway for {} ms (tick {} ms)", silence_limit.as_millis(), tick_ms),
                    connected: true,
                    delay_hint: None,
                };
            }
        }
    }
}

fn handle_frame(
    ctx: &Rc<Ctx>,
    tx: &mpsc::UnboundedSender<Outgoing>,
    pending: &mut HashMap<String, &'static str>,
    unsupported: &mut Vec<&'static str>,
    v: Value,
) {
    match v.get("type").and_then(Value::as_str) {
        Some("event") => {
            let payload = v.get("payload").cloned().unwrap_or(Value::Null);
            match v.get("event").and_then(Value::as_str) {
                Some("node.invoke.request") => on_invoke(ctx, tx, payload),
                Some("node.pair.resolved") => {
                    let decision = payload
                        .get("decision")
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    eprintln!(
                        "node host: command surface {decision} (request {})",
                        payload
                            .get("requestId")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                    );
                }
                Some(other) => log::debug!("event {other}"),
                None => {}
            }
        }
        Some("res") => {
            let Some(method) = v
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| pending.remove(id))
            else {
                return;
            };
            if v.get("ok").and_then(Value::as_bool) == Some(true) {
                return;
            }
            let msg = v
                .get("error")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("error");
            if msg.starts_with("unknown method") {
                log::debug!("gateway does not support {method}; not sending it again");
                if method != "node.invoke.result" {
                    unsupported.push(method);
                }
            } else {
                log::warn!("gateway rejected {method}: {msg}");
            }
        }
        _ => {}
    }
}

fn on_invoke(ctx: &Rc<Ctx>, tx: &mpsc::UnboundedSender<Outgoing>, p: Value) {
    let (Some(id), Some(node_id), Some(command)) = (
        p.get("id").and_then(Value::as_str),
        p.get("nodeId").and_then(Value::as_str),
        p.get("command").and_then(Value::as_str),
    ) else {
        log::warn!("ignoring node.invoke.request without id/nodeId/command");
        return;
    };
    let (id, node_id, command) = (id.to_owned(), node_id.to_owned(), command.to_owned());
    let params: Result<Value, String> = match p.get("paramsJSON") {
        Some(Value::String(s)) => {
            serde_json::from_str(s).map_err(|e| format!("paramsJSON is not valid JSON: {e}"))
        }
        Some(Value::Null) | None => Ok(p.get("params").cloned().unwrap_or(json!({}))),
        Some(_) => Err("paramsJSON must be a string".into()),
    };
    let request_timeout = p
        .get("timeoutMs")
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)
        .map(Duration::from_millis);
    let ctx = Rc::clone(ctx);
    let tx = tx.clone();
    actix_web::rt::spawn(async move {
        let result = match params {
            Ok(params) => invoke(&ctx, &command, params, request_timeout).await,
            Err(m) => Err(exec::InvokeError::invalid(m)),
        };
        let out = match result {
            Ok(payload) => {
                json!({"id": id, "nodeId": node_id, "ok": true, "payloadJSON": payload.to_string()})
            }
            Err(e) => {
                log::info!("{command} failed: {} {}", e.code, e.message);
                json!({"id": id, "nodeId": node_id, "ok": false, "error": {"code": e.code, "message": e.message}})
            }
        };
        if tx.send(("node.invoke.result", out)).is_err() {
            log::warn!("connection closed before the result of {command} could be sent");
        }
    });
}

async fn invoke(
    ctx: &Ctx,
    command: &str,
    params: Value,
    request_timeout: Option<Duration>,
) -> Result<Value, exec::InvokeError> {
    let dirs = exec::path_dirs(ctx.path_env.as_deref());
    match command {
        "system.which" => exec::system_which(&params, &dirs),
        "system.run" => {
            let req = exec::parse_run(&params)?;
            let allow_file = allowlist_path(&ctx.state_dir);
            let file = exec::read_allowlist_file(&allow_file).map_err(|e| exec::InvokeError {
                code: "SYSTEM_RUN_DENIED",
                message: format!("{e}; fix the node's exec allowlist"),
            })?;
            let policy = exec::resolve_policy(&file, &ctx.exec_allow, &dirs);
            let exec_path =
                exec::check_allowed(&req.argv, req.cwd.as_deref(), &dirs, &policy, &allow_file)?;
            let node_env: std::collections::BTreeMap<String, String> = std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect();
            let (env, dropped) = exec::child_env(&req.env, &node_env, &policy.env, &dirs);
            if !dropped.is_empty() {
                log::info!(
                    "system.run: dropped env {} (not on the exec allowlist's \"env\")",
                    dropped.join(", ")
                );
            }
            let timeout = match (req.timeout, request_timeout) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => exec::DEFAULT_RUN_TIMEOUT,
            };
            log::info!("system.run {:?} ({})", req.argv, exec_path.display());
            Ok(exec::run_program(&exec_path, &req.argv, req.cwd.as_deref(), &env, timeout).await)
        }
        _ => Err(exec::InvokeError {
            code: "UNAVAILABLE",
            message: "command not supported".into(),
        }),
    }
}

#[cfg(test)]
mod tests;
