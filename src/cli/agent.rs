//! `openclaw agent`, `openclaw message send`, `openclaw channels status` and
//! `openclaw pairing list|approve`: run an agent turn, deliver a message to a channel, and
//! manage channel accounts and DM pairing through a running gateway.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{CallError, Target, request_once, scopes_for};
use super::{ConnArgs, Failure, client_target, failure, human_duration, pretty};

/// Longest agent run the gateway waits for (`agent_run::MAX_WAIT`), in seconds.
const MAX_RUN_SECONDS: u64 = 600;
/// Extra time the connection gets beyond the run's own timeout, for the final reply.
const RUN_GRACE_MS: u64 = 30_000;

/// Connection flags whose `--timeout` has no fixed default, so a command can pick one.
#[derive(Debug, Args, Clone, Default)]
pub struct LongConnArgs {
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
    /// SPKI pin `sha256/<base64>` of a wss:// gateway's key (repeatable).
    #[arg(long = "tls-spki-pin", value_name = "sha256/BASE64")]
    pub tls_spki_pin: Vec<String>,
    /// Connection timeout in milliseconds (default: the run timeout plus 30 s).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Sign with this machine's device identity even on a loopback URL.
    #[arg(long)]
    pub device: bool,
}

impl LongConnArgs {
    /// The shared connection flags, with `default_ms` when `--timeout` was not given.
    fn resolve(&self, default_ms: u64) -> ConnArgs {
        ConnArgs {
            url: self.url.clone(),
            token: self.token.clone(),
            password: self.password.clone(),
            tls_fingerprint: self.tls_fingerprint.clone(),
            tls_spki_pin: self.tls_spki_pin.clone(),
            timeout: self.timeout.unwrap_or(default_ms),
            json: self.json,
            device: self.device,
        }
    }
}

/// `openclaw agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Message for the agent.
    #[arg(short, long)]
    pub message: String,
    /// Session key (e.g. `agent:main:main`; a bare key becomes `agent:main:<key>`).
    #[arg(long, visible_alias = "session-key", value_name = "KEY")]
    pub session: Option<String>,
    /// Agent id: runs in that agent's main session (`agent:<id>:main`).
    #[arg(long, value_name = "ID", conflicts_with = "session")]
    pub agent: Option<String>,
    /// How long the gateway waits for the run, in seconds (default and maximum: 600).
    #[arg(long, value_name = "N")]
    pub timeout_seconds: Option<u64>,
    /// Idempotency key / run id (default: random).
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Connection flags.
    #[command(flatten)]
    pub conn: LongConnArgs,
}

/// `openclaw message`.
#[derive(Debug, Args)]
pub struct MessageCmd {
    /// What to do.
    #[command(subcommand)]
    pub sub: MessageSub,
}

/// `openclaw message <sub>`.
#[derive(Debug, Subcommand)]
pub enum MessageSub {
    /// Send a message to a channel target.
    Send(SendArgs),
}

/// `message send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Channel (default: the gateway's default channel kind).
    #[arg(long, default_value = crate::actors::channel::DEFAULT_KIND.id)]
    pub channel: String,
    /// Target: a Telegram chat id (`123456789`, `-100…` for groups, `telegram:` prefix
    /// allowed) or a public group's or channel's `@username`.
    #[arg(short, long)]
    pub target: String,
    /// Message text (the caption, with --media).
    #[arg(short, long, default_value = "")]
    pub message: String,
    /// A file to send (a photo, a video, any file; at most 20 MiB): its bytes go to the
    /// gateway, so this works against a remote gateway too.
    #[arg(long, value_name = "FILE")]
    pub media: Option<PathBuf>,
    /// Channel account id (default: the first configured account).
    #[arg(long)]
    pub account: Option<String>,
    /// Forum topic (message thread) id.
    #[arg(long, value_name = "N")]
    pub thread_id: Option<i64>,
    /// Message id to reply to.
    #[arg(long, value_name = "N")]
    pub reply_to: Option<i64>,
    /// Deliver without a notification sound (Telegram's disable_notification).
    #[arg(long)]
    pub silent: bool,
    /// Print the request instead of sending it.
    #[arg(long)]
    pub dry_run: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `openclaw channels`.
#[derive(Debug, Args)]
pub struct ChannelsCmd {
    /// What to do.
    #[command(subcommand)]
    pub sub: ChannelsSub,
}

/// `openclaw channels <sub>`.
#[derive(Debug, Subcommand)]
pub enum ChannelsSub {
    /// Show each channel account: running, mode, bot, last poll, last error.
    Status(ConnArgs),
}

/// `openclaw pairing`.
#[derive(Debug, Args)]
pub struct PairingCmd {
    /// What to do.
    #[command(subcommand)]
    pub sub: PairingSub,
}

/// `openclaw pairing <sub>`.
#[derive(Debug, Subcommand)]
pub enum PairingSub {
    /// List pending DM pairing requests.
    List(PairingListArgs),
    /// Approve a DM pairing code: `pairing approve <channel> <code>`.
    Approve(PairingApproveArgs),
}

/// `pairing list`.
#[derive(Debug, Args)]
pub struct PairingListArgs {
    /// Only this channel (e.g. telegram).
    #[arg(value_name = "CHANNEL")]
    pub channel_pos: Option<String>,
    /// Only this channel (e.g. telegram).
    #[arg(
        long = "channel",
        value_name = "CHANNEL",
        conflicts_with = "channel_pos"
    )]
    pub channel: Option<String>,
    /// Only this account.
    #[arg(long)]
    pub account: Option<String>,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `pairing approve`.
#[derive(Debug, Args)]
pub struct PairingApproveArgs {
    /// `<channel> <code>`, or just `<code>` with --channel.
    #[arg(value_name = "CHANNEL CODE", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    /// Channel (instead of the first positional argument).
    #[arg(long)]
    pub channel: Option<String>,
    /// Account holding the request (default: every account).
    #[arg(long)]
    pub account: Option<String>,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

impl PairingApproveArgs {
    /// (channel, code).
    fn channel_and_code(&self) -> Result<(String, String), Failure> {
        let (channel, code) = match (self.args.as_slice(), &self.channel) {
            ([ch, code], None) => (ch.clone(), code.clone()),
            ([code], Some(ch)) => (ch.clone(), code.clone()),
            ([_, _], Some(_)) => {
                return Err(usage(
                    "the channel is given twice. Fix: use `openclaw pairing approve <channel> <code>` or `--channel <channel> <code>`",
                ));
            }
            _ => {
                return Err(usage(
                    "a channel and a code are required. Fix: `openclaw pairing approve telegram <code>` (codes: `openclaw pairing list`)",
                ));
            }
        };
        let (channel, code) = (channel.trim().to_lowercase(), code.trim().to_owned());
        if channel.is_empty() || code.is_empty() {
            return Err(usage(
                "channel and code must not be empty. Fix: `openclaw pairing approve telegram <code>`",
            ));
        }
        Ok((channel, code))
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
        json: None,
    }
}

/// A failure with a fix for gateway errors the generic mapping does not know.
fn call_failure(err: &CallError, target: &Target) -> Failure {
    let mut f = failure(err, target);
    let msg = err.message();
    let extra = if msg.contains("channel not configured") {
        Some("configure the channel (channels.telegram.botToken) on the gateway and restart it")
    } else if msg.contains("invalid telegram target") {
        Some(
            "pass the numeric Telegram chat id with --target (a user's id appears in `openclaw pairing list`), or a public group's or channel's @username",
        )
    } else if msg.contains("delivery failed") || msg.contains("channel unavailable") {
        Some("check the account with `openclaw channels status`")
    } else if msg.contains("no longer exists") {
        Some("list pending codes with `openclaw pairing list` (codes expire after 1 hour)")
    } else if msg.contains("unsupported channel") {
        Some("use --channel telegram (the only channel openclaw-rs supports)")
    } else {
        None
    };
    if let Some(extra) = extra
        && !f.message.contains("\nFix:")
    {
        f.message = format!("{}\nFix: {extra}", f.message);
    }
    f
}

/// One request on its own connection; `expect_final` waits past an `accepted` reply.
async fn call(
    target: &Target,
    method: &str,
    params: Value,
    timeout_ms: u64,
    expect_final: bool,
) -> Result<Value, Failure> {
    request_once(
        target,
        scopes_for(method),
        method,
        params,
        timeout_ms,
        expect_final,
    )
    .await
    .map_err(|e| call_failure(&e, target))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Renders rows as aligned columns.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(c.chars().count()) + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    for r in rows {
        out.push(line(r.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

/// "5s ago" for a past epoch-ms timestamp, "-" when absent.
fn ago(at_ms: Option<u64>, now_ms: u64) -> String {
    match at_ms {
        None => "-".into(),
        Some(t) if now_ms > t && now_ms - t >= 1000 => {
            format!("{} ago", human_duration(now_ms - t))
        }
        Some(_) => "just now".into(),
    }
}

/// "59m 58s" until an epoch-ms deadline, "expired" once past.
fn expires_in(at_ms: Option<u64>, now_ms: u64) -> String {
    match at_ms {
        None => "-".into(),
        // Round up: "1s" until the last millisecond, never "0s" for a live code.
        Some(t) if t > now_ms => human_duration((t - now_ms).div_ceil(1000) * 1000),
        Some(_) => "expired".into(),
    }
}

fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// The session key `--session` / `--agent` select (None: the gateway's default).
fn session_key(session: Option<&str>, agent: Option<&str>) -> Result<Option<String>, Failure> {
    if let Some(k) = session {
        let k = k.trim();
        if k.is_empty() {
            return Err(usage(
                "--session must not be empty. Fix: pass a session key, e.g. --session agent:main:main",
            ));
        }
        return Ok(Some(k.to_owned()));
    }
    if let Some(a) = agent {
        let a = a.trim();
        if a.is_empty() || a.contains(':') {
            return Err(usage(format!(
                "invalid agent id {a:?}. Fix: pass an agent id such as `main`"
            )));
        }
        return Ok(Some(format!("agent:{a}:main")));
    }
    Ok(None)
}

/// The `agent` request params.
fn agent_params(a: &AgentArgs, key: Option<String>, run_id: &str) -> Value {
    let mut p = json!({"message": a.message, "idempotencyKey": run_id});
    if let Some(k) = key {
        p["sessionKey"] = json!(k);
    }
    if let Some(t) = a.timeout_seconds {
        p["timeout"] = json!(t);
    }
    p
}

/// The reply text of a final `agent` payload (`result.payloads[].text`).
fn reply_text(final_payload: &Value) -> String {
    final_payload
        .pointer("/result/payloads")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Why a final `agent` payload is not a success (reason and `Fix:` line), or None.
fn run_failure(r: &Value, run_seconds: u64) -> Option<String> {
    let status = s(r, "status");
    if status == "ok" {
        return None;
    }
    let run_id = s(r, "runId");
    if status == "timeout" {
        return Some(format!(
            "agent run {} did not finish within {run_seconds} s\nFix: raise --timeout-seconds (max 600), or wait for it with `openclaw gateway call agent.wait --params '{{\"runId\":\"{run_id}\"}}'`",
            or_dash(run_id)
        ));
    }
    let why = match s(r, "error") {
        "" => s(r, "summary"),
        e => e,
    };
    Some(format!(
        "agent run {} failed ({}): {}\nFix: check the gateway log and the model configuration (agents.defaults.model)",
        or_dash(run_id),
        or_dash(status),
        or_dash(why)
    ))
}

/// `openclaw agent`.
pub async fn run_agent(config: Option<PathBuf>, a: AgentArgs) -> Result<(), Failure> {
    if a.message.trim().is_empty() {
        return Err(usage(
            "--message must not be empty. Fix: pass the text for the agent, e.g. --message /help",
        ));
    }
    if a.timeout_seconds == Some(0) {
        return Err(usage(
            "--timeout-seconds must be at least 1. Fix: pass a positive number of seconds (max 600)",
        ));
    }
    if a.idempotency_key
        .as_deref()
        .is_some_and(|k| k.trim().is_empty())
    {
        return Err(usage("--idempotency-key must not be empty"));
    }
    let key = session_key(a.session.as_deref(), a.agent.as_deref())?;
    let run_seconds = a
        .timeout_seconds
        .unwrap_or(MAX_RUN_SECONDS)
        .min(MAX_RUN_SECONDS);
    let conn = a.conn.resolve(run_seconds * 1000 + RUN_GRACE_MS);
    let target = client_target(config, &conn).await?;
    let run_id = a
        .idempotency_key
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let params = agent_params(&a, key, &run_id);
    let r = call(&target, "agent", params, conn.timeout, true).await?;
    if let Some(message) = run_failure(&r, run_seconds) {
        if conn.json {
            println!("{}", pretty(&r));
        }
        return Err(usage(message));
    }
    if conn.json {
        println!("{}", pretty(&r));
        return Ok(());
    }
    let text = reply_text(&r);
    if text.is_empty() {
        eprintln!(
            "(run {} completed with no reply text)",
            or_dash(s(&r, "runId"))
        );
    } else {
        println!("{text}");
    }
    Ok(())
}

/// The `send` request params.
fn send_params(a: &SendArgs, idempotency_key: &str) -> Value {
    let mut p = json!({
        "to": a.target.trim(),
        "message": a.message,
        "channel": a.channel.trim().to_lowercase(),
        "idempotencyKey": idempotency_key,
    });
    if let Some(acc) = &a.account {
        p["accountId"] = json!(acc);
    }
    if let Some(t) = a.thread_id {
        p["threadId"] = json!(t);
    }
    if let Some(r) = a.reply_to {
        p["replyToId"] = json!(r);
    }
    if a.silent {
        p["silent"] = json!(true);
    }
    p
}

/// Reads a file for `message send --media` (a regular file of at most 20 MiB).
fn read_media(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let max = crate::actors::media::MAX_MEDIA_BYTES;
    let meta = std::fs::metadata(path).map_err(|e| {
        usage(format!(
            "--media {}: {e}. Fix: pass a file that exists and is readable",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(usage(format!(
            "--media {}: not a regular file. Fix: pass a file",
            path.display()
        )));
    }
    if meta.len() > max as u64 {
        return Err(usage(format!(
            "--media {}: {} bytes is more than the {} MiB a message may carry. Fix: send a smaller file",
            path.display(),
            meta.len(),
            max / (1024 * 1024)
        )));
    }
    std::fs::read(path).map_err(|e| {
        usage(format!(
            "--media {}: {e}. Fix: pass a readable file",
            path.display()
        ))
    })
}

/// "Sent to telegram:123 (message id 7)".
fn sent_line(channel: &str, to: &str, r: &Value) -> String {
    let ids: Vec<String> = r
        .get("messageIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let ids = if ids.is_empty() {
        match r.get("messageId") {
            Some(Value::Null) | None => vec![],
            Some(Value::String(s)) => vec![s.clone()],
            Some(v) => vec![v.to_string()],
        }
    } else {
        ids
    };
    let to = to.trim();
    let prefix = format!("{channel}:");
    let dest = if to.starts_with(&prefix) {
        to.to_owned()
    } else {
        format!("{channel}:{to}")
    };
    match ids.as_slice() {
        [] => format!("Sent to {dest}"),
        [one] => format!("Sent to {dest} (message id {one})"),
        many => format!("Sent to {dest} (message ids {})", many.join(", ")),
    }
}

/// `openclaw message …`.
pub async fn run_message(config: Option<PathBuf>, cmd: MessageCmd) -> Result<(), Failure> {
    let MessageSub::Send(a) = cmd.sub;
    if a.target.trim().is_empty() {
        return Err(usage(
            "--target must not be empty. Fix: pass the Telegram chat id, e.g. --target 123456789",
        ));
    }
    if a.message.is_empty() && a.media.is_none() {
        return Err(usage(
            "--message must not be empty. Fix: pass the text to send (or a file with --media FILE)",
        ));
    }
    let channel = a.channel.trim().to_lowercase();
    let mut params = send_params(&a, &uuid::Uuid::new_v4().to_string());
    let mut file_bytes = None;
    if let Some(path) = &a.media {
        let data = read_media(path)?;
        file_bytes = Some(data.len());
        use base64::Engine as _;
        params["buffer"] = json!(base64::engine::general_purpose::STANDARD.encode(&data));
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            params["filename"] = json!(name);
        }
    }
    if a.dry_run {
        if let Some(n) = file_bytes {
            params["buffer"] = json!(format!("<{n} bytes, base64>"));
        }
        if a.conn.json {
            println!(
                "{}",
                pretty(&json!({"method": "send", "params": params, "dryRun": true}))
            );
        } else {
            println!("Dry run: would call send with\n{}", pretty(&params));
        }
        return Ok(());
    }
    let target = client_target(config, &a.conn).await?;
    let r = call(&target, "send", params, a.conn.timeout, false).await?;
    if a.conn.json {
        println!("{}", pretty(&r));
    } else {
        println!("{}", sent_line(&channel, &a.target, &r));
    }
    Ok(())
}

/// Rows of `channels status`: one per account.
fn channel_rows(status: &Value, now_ms: u64) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let Some(channels) = status.get("channels").and_then(Value::as_object) else {
        return rows;
    };
    let mut order: Vec<String> = status
        .get("channelOrder")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for k in channels.keys() {
        if !order.contains(k) {
            order.push(k.clone());
        }
    }
    for ch in order {
        let Some(c) = channels.get(&ch) else { continue };
        let Some(accounts) = c.get("accounts").and_then(Value::as_object) else {
            continue;
        };
        for (id, acc) in accounts {
            let running = acc.get("running").and_then(Value::as_bool) == Some(true);
            let bot = match s(acc, "botUsername") {
                "" => "-".to_owned(),
                u => format!("@{u}"),
            };
            let last_error = match s(acc, "lastError") {
                "" => "-".to_owned(),
                e => {
                    let when = ago(acc.get("lastErrorAtMs").and_then(Value::as_u64), now_ms);
                    let text = one_line(e, 60);
                    if when == "-" {
                        text
                    } else {
                        format!("{text} ({when})")
                    }
                }
            };
            rows.push(vec![
                ch.clone(),
                id.clone(),
                if running { "yes" } else { "no" }.to_owned(),
                or_dash(s(acc, "mode")).to_owned(),
                bot,
                ago(acc.get("lastPollAtMs").and_then(Value::as_u64), now_ms),
                last_error,
            ]);
        }
    }
    rows
}

/// `openclaw channels …`.
pub async fn run_channels(config: Option<PathBuf>, cmd: ChannelsCmd) -> Result<(), Failure> {
    let ChannelsSub::Status(conn) = cmd.sub;
    let target = client_target(config, &conn).await?;
    let r = call(&target, "channels.status", json!({}), conn.timeout, false).await?;
    if conn.json {
        println!("{}", pretty(&r));
        return Ok(());
    }
    let rows = channel_rows(&r, openclaw_actors::util::now_ms());
    if rows.is_empty() {
        println!("No channels configured");
        println!("Set channels.telegram.botToken in the gateway config, then restart the gateway.");
        return Ok(());
    }
    println!(
        "{}",
        table(
            &[
                "CHANNEL",
                "ACCOUNT",
                "RUNNING",
                "MODE",
                "BOT",
                "LAST POLL",
                "LAST ERROR"
            ],
            &rows
        )
    );
    if let Some(m) = r.get("model").and_then(Value::as_str) {
        println!("Model: {m}");
    }
    Ok(())
}

/// Pending requests of `channels.pairing.list`, filtered by channel and account.
fn pairing_requests<'a>(
    list: &'a Value,
    channel: Option<&str>,
    account: Option<&str>,
) -> Vec<&'a Value> {
    list.get("requests")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|r| channel.is_none_or(|c| s(r, "channel").eq_ignore_ascii_case(c)))
                .filter(|r| account.is_none_or(|acc| s(r, "accountId") == acc))
                .collect()
        })
        .unwrap_or_default()
}

fn pairing_rows(requests: &[&Value], now_ms: u64) -> Vec<Vec<String>> {
    requests
        .iter()
        .map(|r| {
            let code = match s(r, "code") {
                "" => s(r, "requestId"),
                c => c,
            };
            let name = match (s(r, "name"), s(r, "username")) {
                ("", "") => "-".to_owned(),
                (n, "") => n.to_owned(),
                ("", u) => format!("@{u}"),
                (n, u) => format!("{n} (@{u})"),
            };
            vec![
                code.to_owned(),
                or_dash(s(r, "channel")).to_owned(),
                or_dash(s(r, "accountId")).to_owned(),
                or_dash(s(r, "id")).to_owned(),
                name,
                expires_in(r.get("expiresAtMs").and_then(Value::as_u64), now_ms),
            ]
        })
        .collect()
}

/// `openclaw pairing …`.
pub async fn run_pairing(config: Option<PathBuf>, cmd: PairingCmd) -> Result<(), Failure> {
    match cmd.sub {
        PairingSub::List(a) => {
            let channel = a
                .channel
                .as_deref()
                .or(a.channel_pos.as_deref())
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_lowercase);
            let target = client_target(config, &a.conn).await?;
            let list = call(
                &target,
                "channels.pairing.list",
                json!({}),
                a.conn.timeout,
                false,
            )
            .await?;
            let requests = pairing_requests(&list, channel.as_deref(), a.account.as_deref());
            if a.conn.json {
                if channel.is_none() && a.account.is_none() {
                    println!("{}", pretty(&list));
                } else {
                    let mut out = list.clone();
                    out["requests"] = json!(requests);
                    println!("{}", pretty(&out));
                }
                return Ok(());
            }
            if requests.is_empty() {
                let scope = match &channel {
                    Some(c) => format!(" for {c}"),
                    None => String::new(),
                };
                println!("No pending pairing requests{scope}");
                return Ok(());
            }
            let rows = pairing_rows(&requests, openclaw_actors::util::now_ms());
            println!(
                "{}",
                table(
                    &[
                        "CODE",
                        "CHANNEL",
                        "ACCOUNT",
                        "USER ID",
                        "NAME",
                        "EXPIRES IN"
                    ],
                    &rows
                )
            );
            println!("Approve with: openclaw pairing approve <channel> <code>");
            Ok(())
        }
        PairingSub::Approve(a) => {
            let (channel, code) = a.channel_and_code()?;
            let target = client_target(config, &a.conn).await?;
            let mut params = json!({"channel": channel, "requestId": code});
            if let Some(acc) = &a.account {
                params["accountId"] = json!(acc);
            }
            let r = call(
                &target,
                "channels.pairing.approve",
                params,
                a.conn.timeout,
                false,
            )
            .await?;
            if a.conn.json {
                println!("{}", pretty(&r));
            } else {
                println!(
                    "Approved {} user {} (account {}). They can message the bot now.",
                    match s(&r, "channel") {
                        "" => channel.as_str(),
                        c => c,
                    },
                    or_dash(s(&r, "id")),
                    or_dash(s(&r, "accountId"))
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
