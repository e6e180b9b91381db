//! The `openclaw` command line: the [`Command`] enum and its dispatch, `gateway run|call`,
//! target resolution and failure messages. The other commands live in their modules:
//! [`status`] (`health`, `status`, `gateway status|probe`), [`remote`] (`gateway
//! fingerprint|tunnel`, the SSH transport), [`nodes`], [`devices`], [`agent`], [`sessions`],
//! [`cron`].
//! Output is readable by default and machine-readable with `--json`; failures exit 1 with
//! a one-line reason and the likely fix.

pub mod agent;
pub mod audit;
pub mod backup;
pub mod client;
pub mod config_cmd;
pub mod cron;
pub mod dashboard;
pub mod devices;
pub mod doctor;
pub mod healthcheck;
pub mod logs;
pub mod models;
pub mod nodes;
pub mod qr;
pub mod remote;
pub mod restart;
pub mod secrets;
pub mod sessions;
pub mod stability;
pub mod status;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::config::{self, AuthModeCfg, BindMode, FlagOverrides, GatewayMode, Loaded, ProcessEnv};
use client::{CallError, Target, scopes_for};

/// openclaw-rs: a Gateway for your assistant, wire-compatible with OpenClaw.
#[derive(Debug, Parser)]
#[command(name = "openclaw", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file (default: $OPENCLAW_CONFIG_PATH, $OPENCLAW_STATE_DIR/openclaw.json, ~/.openclaw/openclaw.json).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Profile: state and config under ~/.openclaw-NAME (unless OPENCLAW_STATE_DIR is set).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Dev profile: ~/.openclaw-dev, default port 19001.
    #[arg(long, global = true, conflicts_with = "profile")]
    pub dev: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run or query the gateway (plain `openclaw gateway` runs it).
    Gateway(GatewayCmd),
    /// Show the gateway's health.
    Health(HealthArgs),
    /// Show the gateway's status.
    Status(StatusArgs),
    /// List, inspect, invoke and approve nodes.
    Nodes(nodes::NodesCmd),
    /// Manage paired devices and their tokens.
    Devices(devices::DevicesCmd),
    /// List the gateway's sessions (`sessions delete` deletes them).
    Sessions(sessions::SessionsCmd),
    /// Schedule jobs on the gateway: status, list, add, rm, run, runs, enable, disable.
    Cron(cron::CronCmd),
    /// Run a node host (`node run`) or show its identity.
    Node(crate::node_host::NodeCmd),
    /// Run one agent turn via the gateway and print the reply.
    Agent(agent::AgentArgs),
    /// Send messages to a channel.
    Message(agent::MessageCmd),
    /// Show chat channel accounts.
    Channels(agent::ChannelsCmd),
    /// List and approve DM pairing requests from chat channels.
    Pairing(agent::PairingCmd),
    /// Read, edit and validate the config file.
    Config(config_cmd::ConfigCmd),
    /// The agent's model, its fallbacks and the models a chat may choose (from the local
    /// config and environment; never a key).
    Models(models::ModelsCmd),
    /// Tail the gateway log (`logs.tail`).
    Logs(logs::LogsArgs),
    /// Page the gateway's audit ledger: which agents ran, which tools they called and how
    /// each ended (and chat messages when recorded), never their content.
    Audit(audit::AuditArgs),
    /// Probe the local gateway's /healthz (or /readyz) without credentials (container
    /// HEALTHCHECK).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Check this host's gateway setup (config, file modes, the running gateway, recent
    /// errors) and say what to fix; exit 1 on a critical finding.
    Doctor(doctor::DoctorArgs),
    /// Print (or --open) the Control UI's URL for the configured gateway.
    Dashboard(dashboard::DashboardArgs),
    /// Ask the gateway for a single-use setup code that pairs a phone (the OpenClaw app) or
    /// a headless node host (`openclaw node run --pair <code>`).
    Qr(qr::QrArgs),
    /// Back up the state dir, the config and the workspaces to a `.tar.gz` (OpenClaw's
    /// archive layout), verify an archive, or restore one into a new directory.
    Backup(backup::BackupCmd),
    /// Secrets in the running gateway: `secrets reload` re-reads `tokenFile`s,
    /// `<state dir>/.env` and `${VAR}` references and applies what changed.
    Secrets(secrets::SecretsCmd),
}

/// `openclaw gateway`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayCmd {
    /// Subcommand (default: run).
    #[command(subcommand)]
    pub sub: Option<GatewaySub>,
    /// Options for the implicit `run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `openclaw gateway <sub>`.
#[derive(Debug, Subcommand)]
pub enum GatewaySub {
    /// Run the gateway in the foreground.
    Run(RunArgs),
    /// Call one gateway method and print its result.
    Call(CallArgs),
    /// Call `health` and print it.
    Health(ConnArgs),
    /// Is a gateway running here? On which port/bind/auth? Can we connect?
    Status(GatewayStatusArgs),
    /// Probe a gateway: health, status and presence.
    Probe(ConnArgs),
    /// The gateway's recent diagnostic events (runs, model calls, channel failures,
    /// lockouts, oversized frames, memory), payload-free.
    Stability(stability::StabilityArgs),
    /// Restart the running gateway's process once agent runs and background commands are
    /// done (`--force`: now); it comes back with the same process id and reads its config
    /// afresh.
    Restart(restart::RestartArgs),
    /// Print the gateway certificate's SHA-256 fingerprint and SPKI pin.
    Fingerprint(remote::FingerprintArgs),
    /// Hold the SSH tunnel to gateway.remote.sshTarget open in the foreground.
    Tunnel(remote::TunnelArgs),
}

/// Flags of `gateway run`.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Port to listen on (0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Bind mode: loopback, lan, tailnet, custom, auto.
    #[arg(long, value_parser = parse_bind)]
    pub bind: Option<BindMode>,
    /// Auth mode: none, token, password.
    #[arg(long, value_parser = parse_auth)]
    pub auth: Option<AuthModeCfg>,
    /// Shared token.
    #[arg(long, allow_hyphen_values = true)]
    pub token: Option<String>,
    /// Shared password.
    #[arg(long, allow_hyphen_values = true)]
    pub password: Option<String>,
    /// Read the shared password from a file.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
}

/// Connection flags shared by client commands.
#[derive(Debug, Args, Clone, Default)]
pub struct ConnArgs {
    /// Gateway URL (ws:// or wss://). Never falls back to configured credentials.
    #[arg(long)]
    pub url: Option<String>,
    /// Shared token to send.
    #[arg(long, allow_hyphen_values = true)]
    pub token: Option<String>,
    /// Shared password to send.
    #[arg(long, allow_hyphen_values = true)]
    pub password: Option<String>,
    /// SHA-256 fingerprint of a wss:// gateway's certificate.
    #[arg(long)]
    pub tls_fingerprint: Option<String>,
    /// SPKI pin `sha256/<base64>` of a wss:// gateway's key (repeatable; any one matches).
    #[arg(long = "tls-spki-pin", value_name = "sha256/BASE64")]
    pub tls_spki_pin: Vec<String>,
    /// Timeout in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Sign with this machine's device identity even on a loopback URL (always done for
    /// non-loopback gateways; a new device needs `openclaw devices approve` once).
    /// `--sign-device` in `devices rotate|revoke|rename`, whose `--device` names the device.
    #[arg(long, id = "sign_device")]
    pub device: bool,
}

/// `gateway call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// Method name, e.g. `health`.
    pub method: String,
    /// Params as JSON.
    #[arg(long, default_value = "{}")]
    pub params: String,
    /// Wait for the final response of two-phase methods.
    #[arg(long)]
    pub expect_final: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `gateway status`.
#[derive(Debug, Args)]
pub struct GatewayStatusArgs {
    /// Only show configuration; do not connect.
    #[arg(long)]
    pub no_probe: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `openclaw health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Force a fresh probe.
    #[arg(long)]
    pub verbose: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `openclaw status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Also run health checks.
    #[arg(long)]
    pub deep: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

fn parse_bind(s: &str) -> Result<BindMode, String> {
    serde_json::from_value(json!(s))
        .map_err(|_| format!("unknown bind mode {s:?}; use loopback, lan, tailnet, custom or auto"))
}

fn parse_auth(s: &str) -> Result<AuthModeCfg, String> {
    serde_json::from_value(json!(s))
        .map_err(|_| format!("unknown auth mode {s:?}; use none, token or password"))
}

/// A failed command: exit code and what to print.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: i32,
    /// Human message (already includes the fix).
    pub message: String,
    /// JSON body for `--json`.
    pub json: Option<Value>,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
            json: None,
        }
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let profile = match (&cli.profile, cli.dev) {
        (_, true) => Some(config::remote::Profile {
            name: "dev".into(),
            dev: true,
        }),
        (Some(name), false) => Some(config::remote::Profile {
            name: name.clone(),
            dev: false,
        }),
        (None, false) => None,
    };
    if let Some(p) = profile {
        config::remote::select_profile(p).map_err(Failure::usage)?;
    }
    let result = dispatch(cli).await;
    remote::close_tunnels().await;
    result
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Gateway(g) => match g.sub {
            None => run_gateway(cli.config, g.run).await,
            Some(GatewaySub::Run(r)) => run_gateway(cli.config, r).await,
            Some(GatewaySub::Call(c)) => gateway_call(cli.config, c).await,
            Some(GatewaySub::Health(c)) => status::health(cli.config, c).await,
            Some(GatewaySub::Status(s)) => status::gateway_status(cli.config, s).await,
            Some(GatewaySub::Probe(c)) => status::probe(cli.config, c).await,
            Some(GatewaySub::Stability(a)) => stability::run(cli.config, a).await,
            Some(GatewaySub::Restart(a)) => restart::run(cli.config, a).await,
            Some(GatewaySub::Fingerprint(f)) => remote::fingerprint(cli.config, f),
            Some(GatewaySub::Tunnel(t)) => remote::tunnel(cli.config, t).await,
        },
        Command::Health(h) => status::health(cli.config, h.conn).await,
        Command::Status(s) => status::status(cli.config, s).await,
        Command::Nodes(n) => nodes::run_nodes(cli.config, n).await,
        Command::Devices(d) => devices::run_devices(cli.config, d).await,
        Command::Sessions(c) => sessions::run_sessions(cli.config, c).await,
        Command::Models(m) => models::run_models(cli.config, m).await,
        Command::Cron(c) => cron::run_cron(cli.config, c).await,
        Command::Node(n) => crate::node_host::run(n).await.map_err(|f| Failure {
            code: f.code,
            message: f.message,
            json: None,
        }),
        Command::Agent(a) => agent::run_agent(cli.config, a).await,
        Command::Message(m) => agent::run_message(cli.config, m).await,
        Command::Channels(c) => agent::run_channels(cli.config, c).await,
        Command::Pairing(p) => agent::run_pairing(cli.config, p).await,
        Command::Config(c) => config_cmd::run(cli.config, c).await,
        Command::Logs(l) => logs::run(cli.config, l).await,
        Command::Audit(a) => audit::run(cli.config, a).await,
        Command::Healthcheck(h) => healthcheck::run(cli.config, h).await,
        Command::Doctor(d) => doctor::run(cli.config, d).await,
        Command::Dashboard(d) => dashboard::run(cli.config, d).await,
        Command::Qr(q) => qr::run(cli.config, q).await,
        Command::Secrets(c) => secrets::run(cli.config, c).await,
        Command::Backup(c) => backup::run(cli.config, c).await,
    }
}

fn load(config: Option<PathBuf>, flags: &FlagOverrides) -> Result<Loaded, Failure> {
    let loaded = config::load(config.as_deref(), &ProcessEnv, flags).map_err(|e| Failure {
        code: crate::gateway::EXIT_CONFIG,
        message: e.to_string(),
        json: None,
    })?;
    for key in &loaded.unknown_keys {
        eprintln!("warning: config key \"{key}\" is not supported by openclaw-rs yet; ignoring it");
    }
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}

async fn run_gateway(config: Option<PathBuf>, args: RunArgs) -> Result<(), Failure> {
    let mut password = args.password;
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| Failure {
            code: crate::gateway::EXIT_CONFIG,
            message: format!("cannot read --password-file {}: {e}", path.display()),
            json: None,
        })?;
        password = Some(text.trim().to_owned());
    }
    let flags = FlagOverrides {
        port: args.port,
        bind: args.bind,
        auth_mode: args.auth,
        token: args.token,
        password,
    };
    let loaded = load(config, &flags)?;
    crate::gateway::run(loaded).await.map_err(|e| Failure {
        code: e.code,
        message: e.message,
        json: None,
    })
}

/// Resolves where a client command connects and with which credentials.
pub fn resolve_target(
    conn: &ConnArgs,
    loaded: &Loaded,
    env: &dyn config::EnvSource,
) -> Result<Target, Failure> {
    if let Some(url) = &conn.url {
        // --url never falls back to configured or environment credentials.
        return Ok(Target {
            url: url.clone(),
            url_source: "--url",
            token: conn.token.clone(),
            password: conn.password.clone(),
            tls_fingerprint: conn.tls_fingerprint.clone(),
            tls_spki_pins: conn.tls_spki_pin.clone(),
            allow_private_ws: allow_private_ws(env),
            force_device: conn.device,
        });
    }
    let gw = &loaded.config.gateway;
    if gw.mode == Some(GatewayMode::Remote) {
        let ssh = gw.remote.effective_transport() == config::remote::RemoteTransport::Ssh;
        let url = if ssh {
            // The tunnel's local end; `remote::target_with_tunnel` fills in the real port.
            Some(
                gw.remote
                    .url
                    .clone()
                    .unwrap_or_else(|| "ws://127.0.0.1:0".into()),
            )
        } else {
            gw.remote.url.clone()
        };
        let url = url.ok_or_else(|| {
            Failure::usage(
                "gateway.mode is \"remote\" but gateway.remote.url is not set. Fix: set gateway.remote.url (e.g. ws://127.0.0.1:18789 through an SSH tunnel) or pass --url",
            )
        })?;
        let file_auth_token = gw.auth.token.clone();
        return Ok(Target {
            url,
            url_source: "gateway.remote.url",
            token: conn
                .token
                .clone()
                .or_else(|| gw.remote.token.clone())
                .or_else(|| env.get("OPENCLAW_GATEWAY_TOKEN"))
                .or(file_auth_token),
            password: conn
                .password
                .clone()
                .or_else(|| env.get("OPENCLAW_GATEWAY_PASSWORD"))
                .or_else(|| gw.remote.password.clone())
                .or_else(|| gw.auth.password.clone()),
            tls_fingerprint: conn
                .tls_fingerprint
                .clone()
                .or_else(|| gw.remote.tls_fingerprint.clone()),
            tls_spki_pins: if conn.tls_spki_pin.is_empty() {
                gw.remote.tls_spki_pins.clone()
            } else {
                conn.tls_spki_pin.clone()
            },
            allow_private_ws: allow_private_ws(env),
            force_device: conn.device,
        });
    }
    // Local gateway with TLS: wss, pinned to the certificate it serves from this state dir.
    let (scheme, local_pin) = if gw.tls.enabled == Some(true) {
        let (cert, _) = crate::tls::paths(&gw.tls, &loaded.state_dir);
        ("wss", crate::tls::fingerprint_of_file(&cert).ok())
    } else {
        ("ws", None)
    };
    let token = conn
        .token
        .clone()
        .or_else(|| gw.auth.token.clone())
        .or_else(|| gw.remote.token.clone());
    let password = conn
        .password
        .clone()
        .or_else(|| gw.auth.password.clone())
        .or_else(|| gw.remote.password.clone());
    // Nothing configured: a local gateway that generated a runtime token while not on a
    // terminal left it in a 0600 file in this state dir; the same user on the same host
    // may use it.
    let token = match (&token, &password) {
        (None, None) => read_runtime_token(&loaded.state_dir),
        _ => token,
    };
    Ok(Target {
        url: format!("{scheme}://127.0.0.1:{}", gw.port),
        url_source: "local config",
        token,
        password,
        tls_fingerprint: conn.tls_fingerprint.clone().or(local_pin),
        tls_spki_pins: conn.tls_spki_pin.clone(),
        allow_private_ws: allow_private_ws(env),
        force_device: conn.device,
    })
}

/// The token a local gateway generated and wrote to `<state>/gateway/runtime-token`, if
/// that file is there and holds one line.
fn read_runtime_token(state_dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(crate::gateway::runtime_token_path(state_dir)).ok()?;
    let t = text.trim();
    (!t.is_empty() && t.len() <= 512 && !t.contains(char::is_whitespace)).then(|| t.to_owned())
}

/// `OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1` (OpenClaw's break-glass for plaintext `ws://` to
/// trusted private host names; process environment only, not a config key).
fn allow_private_ws(env: &dyn config::EnvSource) -> bool {
    env.get("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS").as_deref() == Some("1")
}

async fn client_target(config: Option<PathBuf>, conn: &ConnArgs) -> Result<Target, Failure> {
    let loaded = load(config, &FlagOverrides::default())?;
    remote::target_with_tunnel(conn, &loaded).await
}

/// The likely fix for a failure.
fn fix_for(err: &CallError, target: &Target) -> String {
    let no_creds = target.token.is_none() && target.password.is_none();
    match err {
        CallError::Transport { kind: "config", .. } => String::new(),
        CallError::Transport { kind: "tls", message, .. } if message.contains("Fix: ") => String::new(),
        CallError::Transport { kind: "tls", .. } => {
            "check gateway.remote.tlsFingerprint / --tls-fingerprint (or the SPKI pins) against `openclaw gateway fingerprint` on the gateway host".into()
        }
        CallError::Transport { kind: "timeout", .. } => {
            "raise --timeout, or check that the gateway is healthy".into()
        }
        CallError::Transport {
            kind: "connect_failed",
            ..
        } => format!(
            "start a gateway with `openclaw gateway run`, or check the URL ({})",
            target.url_source
        ),
        CallError::Transport { close_code: Some(1008), .. } if no_creds => {
            "pass --token or --password with --url.".into()
        }
        CallError::Transport { .. } => "check that the URL points at an OpenClaw gateway".into(),
        CallError::Request { .. } => match err.detail_code() {
            Some("AUTH_TOKEN_MISMATCH") | Some("AUTH_PASSWORD_MISMATCH") => {
                if target.url_source == "--url" {
                    "pass this gateway's token with --token (gateway.auth.token on the gateway host)".into()
                } else if target.url_source == "gateway.remote.url" {
                    "set gateway.remote.token to the remote gateway's gateway.auth.token".into()
                } else {
                    "set gateway.auth.token (or OPENCLAW_GATEWAY_TOKEN) to the running gateway's token".into()
                }
            }
            Some("AUTH_TOKEN_MISSING")
            | Some("AUTH_PASSWORD_MISSING")
            | Some("DEVICE_IDENTITY_REQUIRED") => {
                if target.url_source == "--url" {
                    "pass --token or --password with --url.".into()
                } else {
                    "set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN, or pass --token".into()
                }
            }
            Some("PAIRING_REQUIRED") => {
                let details = match err {
                    CallError::Request { error, .. } => error.get("details").cloned(),
                    CallError::Transport { .. } => None,
                }
                .unwrap_or(Value::Null);
                format!(
                    "this machine's device {} is not approved on that gateway yet: on the gateway host run `openclaw devices approve {}` (see `openclaw devices list`), then retry",
                    details["deviceId"].as_str().unwrap_or("?"),
                    details["requestId"].as_str().unwrap_or("<requestId>")
                )
            }
            Some("AUTH_SCOPE_MISMATCH") | Some("AUTH_DEVICE_TOKEN_MISMATCH") => {
                "re-pair this device (`openclaw devices remove <id>` on the gateway host, then reconnect and approve)".into()
            }
            Some("AUTH_RATE_LIMITED") => "wait for the lockout to expire, then retry with the right secret".into(),
            Some("PROTOCOL_MISMATCH") => "upgrade the client or the gateway so both speak protocol 4".into(),
            Some("MISSING_SCOPE") => "this connection lacks the scope; run the CLI on the gateway host (loopback CLI connections keep their scopes)".into(),
            _ => String::new(),
        },
    }
}

fn failure(err: &CallError, target: &Target) -> Failure {
    let fix = fix_for(err, target);
    let message = if fix.is_empty() {
        err.message()
    } else {
        format!("{}\nFix: {fix}", err.message())
    };
    let json = match err {
        CallError::Request {
            error,
            during_connect,
        } => {
            let _ = during_connect;
            let mut e = json!({
                "type": "gateway_request_error",
                "code": error.get("code"),
                "message": error.get("message"),
                "retryable": error.get("retryable").cloned().unwrap_or(json!(false)),
            });
            if let Some(d) = error.get("details") {
                e["details"] = d.clone();
            }
            if let Some(r) = error.get("retryAfterMs") {
                e["retryAfterMs"] = r.clone();
            }
            json!({"ok": false, "error": e})
        }
        CallError::Transport {
            kind,
            message,
            close_code,
        } => json!({"ok": false, "error": {
            "type": "gateway_transport_error",
            "kind": kind,
            "message": message,
            "code": close_code,
        }, "gateway": {"url": target.url, "urlSource": target.url_source}}),
    };
    Failure {
        code: 1,
        message,
        json: Some(json),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

async fn call_one(
    target: &Target,
    method: &str,
    params: Value,
    timeout_ms: u64,
) -> Result<Value, Failure> {
    call_one_with(target, method, params, timeout_ms, false).await
}

/// Like `call_one`; `expect_final` skips an interim `accepted` response (two-phase methods).
async fn call_one_with(
    target: &Target,
    method: &str,
    params: Value,
    timeout_ms: u64,
    expect_final: bool,
) -> Result<Value, Failure> {
    client::request_once(
        target,
        scopes_for(method),
        method,
        params,
        timeout_ms,
        expect_final,
    )
    .await
    .map_err(|e| failure(&e, target))
}

async fn gateway_call(config: Option<PathBuf>, args: CallArgs) -> Result<(), Failure> {
    let params: Value = serde_json::from_str(&args.params).map_err(|e| {
        Failure::usage(format!(
            "--params is not valid JSON ({e}). Fix: pass a JSON object, e.g. --params '{{\"probe\":true}}'"
        ))
    })?;
    let target = client_target(config, &args.conn).await?;
    let payload = call_one_with(
        &target,
        &args.method,
        params,
        args.conn.timeout,
        args.expect_final,
    )
    .await?;
    if args.conn.json {
        println!("{}", pretty(&payload));
    } else {
        println!("Gateway call: {}\n{}", args.method, pretty(&payload));
    }
    Ok(())
}

fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod hyphen_tests {
    use clap::{CommandFactory as _, Parser as _};

    /// Every subcommand's flags are well formed (clap's own checks: no two arguments share a
    /// name or a flag). `devices rotate --device` once collided with the connection flags'
    /// `--device` and panicked at parse time.
    #[test]
    fn every_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
        const REVOKE: &[&str] = &[
            "openclaw",
            "devices",
            "revoke",
            "--device",
            "abcd",
            "--role",
            "node",
            "--sign-device",
        ];
        for argv in [
            &[
                "openclaw", "devices", "rotate", "--device", "abcd", "--role", "operator",
            ][..],
            REVOKE,
            &[
                "openclaw", "devices", "rename", "--device", "abcd", "--name", "Kitchen",
            ],
        ] {
            let cli = super::Cli::try_parse_from(argv);
            assert!(cli.is_ok(), "{argv:?}: {:?}", cli.err());
        }
        // The device named and the signing flag, each where it belongs.
        let dbg = format!("{:?}", super::Cli::try_parse_from(REVOKE).ok());
        assert!(
            dbg.contains("device: \"abcd\"") && dbg.contains("device: true"),
            "{dbg}"
        );
    }

    /// A token or password may start with `-` (base64url tokens do, one time in 64).
    #[test]
    fn secrets_starting_with_a_hyphen_are_values_not_flags() {
        for argv in [
            &["openclaw", "gateway", "call", "health", "--token", "-oAbC"][..],
            &[
                "openclaw",
                "gateway",
                "call",
                "health",
                "--password",
                "-4pw",
            ],
            &["openclaw", "gateway", "run", "--token", "-oAbC"],
            &["openclaw", "health", "--token", "-oAbC"],
        ] {
            let cli = super::Cli::try_parse_from(argv);
            assert!(cli.is_ok(), "{argv:?}: {:?}", cli.err());
            let dbg = format!("{:?}", cli.ok());
            assert!(
                dbg.contains("\"-oAbC\"") || dbg.contains("\"-4pw\""),
                "{dbg}"
            );
        }
    }
}
