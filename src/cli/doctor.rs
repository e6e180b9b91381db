//! `openclaw doctor`: checks this host's gateway setup and says what to fix.
//!
//! - **Config**: the file loads, and the gateway would start with it (what `gateway run`
//!   refuses, such as a LAN bind without auth, is reported with its fix); keys this gateway
//!   does not read; a config file holding secrets that other users can read (critical, as
//!   OpenClaw's `security audit` says), a state directory open to other users, a short
//!   shared token.
//! - **The running gateway** (unless `--no-probe`): reachable with these credentials; each
//!   channel account running and its last error; what its stability ring saw lately (model
//!   call errors, failed deliveries, channel errors, lockouts, oversized frames and slow
//!   consumers).
//!
//! Read-only: it changes nothing. Exit 1 when a finding is critical, else 0; `--json`
//! prints `{ok, findings: [{severity, area, message, fix?}]}`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use super::{ConnArgs, Failure, call_one, pretty, remote};
use crate::config::{self, FlagOverrides, Loaded, ProcessEnv};

/// `openclaw doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check the config and files only: do not connect to the gateway.
    #[arg(long)]
    pub no_probe: bool,
    /// Connection flags for the live checks.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// As it should be.
    Ok,
    /// Worth knowing.
    Info,
    /// Should be fixed.
    Warn,
    /// Must be fixed.
    Critical,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// What it is about (`config`, `files`, `gateway`, `channels`, `activity`).
    pub area: &'static str,
    /// What was found.
    pub message: String,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn finding(
    severity: Severity,
    area: &'static str,
    message: String,
    fix: Option<String>,
) -> Finding {
    Finding {
        severity,
        area,
        message,
        fix,
    }
}

/// Shortest shared token not called short (OpenClaw's audit warns below this too).
pub const MIN_TOKEN_CHARS: usize = 24;

/// The config and files checks.
pub fn check_files(loaded: &Loaded) -> Vec<Finding> {
    let mut out = Vec::new();
    match &loaded.path {
        Some(p) => out.push(finding(
            Severity::Ok,
            "config",
            format!("{} loads", p.display()),
            None,
        )),
        None => out.push(finding(
            Severity::Info,
            "config",
            "no config file: the built-in defaults are in force".to_owned(),
            Some(
                "write one with `openclaw config set …` or start from openclaw.json5.example"
                    .to_owned(),
            ),
        )),
    }
    if let Err(e) = crate::gateway::prepare(loaded) {
        out.push(finding(
            Severity::Critical,
            "config",
            format!("the gateway would not start: {}", e.message),
            None,
        ));
    }
    for k in loaded.unknown_keys.iter().take(20) {
        out.push(finding(
            Severity::Warn,
            "config",
            format!("key \"{k}\" is not read by openclaw-rs: it has no effect"),
            Some("remove it, or see README \"Keys\" for what this gateway reads".to_owned()),
        ));
    }
    for w in &loaded.warnings {
        out.push(finding(Severity::Warn, "config", w.clone(), None));
    }
    out.extend(shared_main_session(loaded));
    if let Some(p) = &loaded.path {
        out.extend(config_file_mode(p));
    }
    out.extend(state_dir_mode(&loaded.state_dir));
    out.extend(moved_aside(&loaded.state_dir));
    if let Some(t) = &loaded.config.gateway.auth.token
        && !t.is_empty()
        && t.chars().count() < MIN_TOKEN_CHARS
    {
        out.push(finding(
            Severity::Warn,
            "config",
            format!(
                "gateway.auth.token is {} characters: short tokens are guessable",
                t.chars().count()
            ),
            Some(format!(
                "use a long random token (at least {MIN_TOKEN_CHARS} characters), e.g. `openssl rand -hex 32`"
            )),
        ));
    }
    out
}

/// OpenClaw's own CLI ran on this state dir (its SQLite is there): it moves some of our
/// files aside, which the gateway takes back at its next start
/// ([`openclaw_actors::reclaim`]). Tells so, and names a document moved now.
fn moved_aside(state_dir: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    if !state_dir.join("state/openclaw.sqlite").exists() {
        return out;
    }
    out.push(finding(
        Severity::Info,
        "files",
        "OpenClaw's own CLI uses this state directory (state/openclaw.sqlite): it moves some of this gateway's files into its SQLite (cron jobs, voice-wake words; sessions and exec approvals on `openclaw doctor --fix`), and the gateway takes them back at each start".to_owned(),
        Some("run openclaw-rs's own CLI on this host, or give the real one another OPENCLAW_STATE_DIR; see README \"State directory\"".to_owned()),
    ));
    for (rel, _) in openclaw_actors::reclaim::DOCUMENTS {
        let path = state_dir.join(rel);
        if !path.exists()
            && let Some(copy) = openclaw_actors::reclaim::copies_of(&path).pop()
        {
            out.push(finding(
                Severity::Warn,
                "files",
                format!(
                    "{rel} was moved aside to {} by OpenClaw's CLI: a running gateway holds it in memory and writes it again at its next change; a start restores it",
                    copy.display()
                ),
                Some("restart the gateway (`openclaw gateway restart`) to take it back now".to_owned()),
            ));
        }
    }
    out
}

/// `session.dmScope: "main"` puts every allowed DM sender in the owner's conversation: fine
/// for one person, a leak between several (OpenClaw's audit says the same). Strangers of
/// an open DM policy never join it (see `openclaw_actors::session_scope`).
fn shared_main_session(loaded: &Loaded) -> Vec<Finding> {
    let c = &loaded.config;
    let mut out = Vec::new();
    if c.session.as_ref().and_then(|s| s.group_scope.as_deref()) == Some("main") {
        out.push(finding(
            Severity::Warn,
            "config",
            "session.groupScope is \"main\": every member of an admitted group talks in your main conversation (and can start it over with /new)".to_owned(),
            Some("use it only for groups of people you trust with that conversation; otherwise remove it (per-group sessions)".to_owned()),
        ));
    }
    if c.session.as_ref().and_then(|s| s.dm_scope.as_deref()) != Some("main") {
        return out;
    }
    // The accounts as the gateway builds them (the top level counts only when it runs a
    // bot; each account's policy and list after inheritance). A config that does not
    // build is reported above.
    let Ok(accounts) = crate::gateway::telegram_accounts(c) else {
        return out;
    };
    let mut senders: Vec<String> = Vec::new();
    let mut pairing = false;
    for (a, _) in &accounts {
        use openclaw_actors::channel::telegram::DmPolicy;
        pairing |= a.dm_policy == DmPolicy::Pairing;
        for id in &a.allow_from {
            if id != "*" && !senders.contains(id) {
                senders.push(id.clone());
            }
        }
    }
    if senders.len() <= 1 && !pairing {
        return out;
    }
    let who = if senders.len() > 1 {
        format!("{} allowed DM senders", senders.len())
    } else {
        "everyone you approve by pairing".to_owned()
    };
    out.push(finding(
        Severity::Warn,
        "config",
        format!(
            "session.dmScope is \"main\": {who} share one conversation with you (each can ask what the others said)"
        ),
        Some(
            "keep \"main\" only if they are all you; otherwise set session.dmScope to \"per-channel-peer\""
                .to_owned(),
        ),
    ));
    out
}

/// A config file that holds secrets must not be readable by others.
fn config_file_mode(path: &Path) -> Vec<Finding> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Vec::new();
    }
    let has_secrets = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| json5::from_str::<Value>(&t).ok())
        .is_some_and(|mut v| !crate::config::rpc::redact_value(&mut v).is_empty());
    let (severity, what) = if has_secrets {
        (
            Severity::Critical,
            "holds secrets and is readable by other users",
        )
    } else {
        (Severity::Warn, "is readable by other users")
    };
    vec![finding(
        severity,
        "files",
        format!("{} {what} (mode {mode:03o})", path.display()),
        Some(format!("chmod 600 {}", path.display())),
    )]
}

/// The state directory holds device tokens' hashes, transcripts and pairing state.
fn state_dir_mode(dir: &Path) -> Vec<Finding> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return vec![finding(
            Severity::Info,
            "files",
            format!("state directory {} does not exist yet", dir.display()),
            Some("`openclaw gateway run` creates it".to_owned()),
        )];
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return vec![finding(
            Severity::Ok,
            "files",
            format!(
                "state directory {} is private (mode {mode:03o})",
                dir.display()
            ),
            None,
        )];
    }
    vec![finding(
        Severity::Warn,
        "files",
        format!(
            "state directory {} is open to other users (mode {mode:03o})",
            dir.display()
        ),
        Some(format!("chmod 700 {}", dir.display())),
    )]
}

/// What the channel accounts report (`channels.status`: `channels.<kind>.accounts.<id>`).
pub fn check_channels(status: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(channels) = status.get("channels").and_then(Value::as_object) else {
        return out;
    };
    for (channel, kind) in channels {
        let Some(accounts) = kind.get("accounts").and_then(Value::as_object) else {
            continue;
        };
        for (id, a) in accounts {
            let name = clean(&format!("{channel}/{id}"));
            let running = a.get("running").and_then(Value::as_bool) == Some(true);
            let error = a
                .get("lastError")
                .and_then(Value::as_str)
                .filter(|e| !e.is_empty());
            out.push(match (running, error) {
                (true, None) => {
                    finding(Severity::Ok, "channels", format!("{name} is running"), None)
                }
                (_, Some(e)) => finding(
                    Severity::Warn,
                    "channels",
                    format!("{name}: {}", clean(e)),
                    Some("openclaw channels status (the error names its fix)".to_owned()),
                ),
                (false, None) => finding(
                    Severity::Warn,
                    "channels",
                    format!("{name} is not running"),
                    Some("check that it is enabled and has its bot token".to_owned()),
                ),
            });
        }
    }
    out
}

/// What the stability ring saw lately.
pub fn check_activity(snapshot: &Value) -> Vec<Finding> {
    // Occurrences: a repeated event is one record with a `count`.
    let mut by_type: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for e in snapshot
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = e.get("type").and_then(Value::as_str) {
            let times = e.get("count").and_then(Value::as_u64).unwrap_or(1);
            *by_type.entry(t).or_insert(0) += times;
        }
    }
    let n = |t: &str| by_type.get(t).copied().unwrap_or(0);
    let total = snapshot.get("count").and_then(Value::as_u64).unwrap_or(0);
    let mut out = Vec::new();
    for (kind, what, fix) in [
        (
            "model.call.error",
            "model calls failed",
            "openclaw gateway stability --type model.call.error shows the reasons (a key, a rate limit, an outage)",
        ),
        (
            "message.delivery.error",
            "replies or sends were not delivered",
            "openclaw gateway stability --type message.delivery.error; openclaw channels status",
        ),
        (
            "channel.error",
            "channel polls failed",
            "openclaw channels status --probe",
        ),
        (
            "security.event",
            "clients were locked out after failed logins",
            "openclaw gateway stability --type security.event; check who holds an old token",
        ),
        (
            "payload.large",
            "frames were refused or clients closed for size (oversized frames, slow consumers)",
            "openclaw gateway stability --type payload.large",
        ),
        (
            "tool.execution.blocked",
            "node commands were refused by policy",
            "openclaw gateway stability --type tool.execution.blocked",
        ),
        (
            "tool.execution.error",
            "node commands failed, timed out or lost their node",
            "openclaw gateway stability --type tool.execution.error; openclaw nodes status",
        ),
    ] {
        let count = n(kind);
        if count > 0 {
            out.push(finding(
                Severity::Warn,
                "activity",
                format!("{count} {kind}: {what} (of the last {total} events)"),
                Some(fix.to_owned()),
            ));
        }
    }
    if out.is_empty() {
        out.push(finding(
            Severity::Ok,
            "activity",
            format!("no errors among the last {total} diagnostic events"),
            None,
        ));
    }
    out
}

fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(500).collect()
}

/// The findings as lines for a terminal.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let mark = match f.severity {
            Severity::Ok => "ok  ",
            Severity::Info => "info",
            Severity::Warn => "WARN",
            Severity::Critical => "CRIT",
        };
        out.push_str(&format!("{mark} [{}] {}\n", f.area, f.message));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("       Fix: {fix}\n"));
        }
    }
    let worst = findings.iter().map(|f| f.severity).max();
    let (warn, crit) = (
        findings
            .iter()
            .filter(|f| f.severity == Severity::Warn)
            .count(),
        findings
            .iter()
            .filter(|f| f.severity == Severity::Critical)
            .count(),
    );
    out.push_str(&match worst {
        Some(Severity::Critical) => format!("Doctor: {crit} critical, {warn} warning(s).\n"),
        Some(Severity::Warn) => format!("Doctor: {warn} warning(s).\n"),
        _ => "Doctor: all good.\n".to_owned(),
    });
    out
}

/// Runs `openclaw doctor`.
pub async fn run(config_path: Option<PathBuf>, args: DoctorArgs) -> Result<(), Failure> {
    let mut findings = Vec::new();
    let loaded = match config::load(
        config_path.as_deref(),
        &ProcessEnv,
        &FlagOverrides::default(),
    ) {
        Ok(l) => Some(l),
        Err(e) => {
            findings.push(finding(
                Severity::Critical,
                "config",
                format!("the config does not load: {e}"),
                None,
            ));
            None
        }
    };
    if let Some(loaded) = &loaded {
        findings.extend(check_files(loaded));
        if !args.no_probe {
            findings.extend(live(loaded, &args.conn).await);
        }
    }
    let critical = findings.iter().any(|f| f.severity == Severity::Critical);
    if args.conn.json {
        println!(
            "{}",
            pretty(&json!({"ok": !critical, "findings": findings}))
        );
    } else {
        print!("{}", render(&findings));
    }
    if critical {
        return Err(Failure {
            code: 1,
            message: String::new(),
            json: None,
        });
    }
    Ok(())
}

/// The checks against the running gateway.
async fn live(loaded: &Loaded, conn: &ConnArgs) -> Vec<Finding> {
    let target = match remote::target_with_tunnel(conn, loaded).await {
        Ok(t) => t,
        Err(f) => {
            return vec![finding(
                Severity::Warn,
                "gateway",
                format!("cannot reach the gateway: {}", clean(&f.message)),
                None,
            )];
        }
    };
    let health = match call_one(&target, "health", json!({}), conn.timeout).await {
        Ok(h) => h,
        Err(f) => {
            return vec![finding(
                Severity::Warn,
                "gateway",
                format!(
                    "the gateway at {} does not answer: {}",
                    target.url,
                    clean(f.message.lines().next().unwrap_or(""))
                ),
                Some(
                    "start it (`openclaw gateway run`), or pass --url/--token for another one"
                        .to_owned(),
                ),
            )];
        }
    };
    let version = health
        .get("gateway")
        .and_then(|g| g.get("version"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    let mut out = vec![finding(
        Severity::Ok,
        "gateway",
        format!("{} answers (version {})", target.url, clean(version)),
        None,
    )];
    if let Ok(status) = call_one(&target, "channels.status", json!({}), conn.timeout).await {
        out.extend(check_channels(&status));
    }
    match call_one(
        &target,
        "diagnostics.stability",
        json!({"limit": 1000}),
        conn.timeout,
    )
    .await
    {
        Ok(snap) => out.extend(check_activity(&snap)),
        Err(f) => out.push(finding(
            Severity::Info,
            "activity",
            format!(
                "no stability diagnostics: {}",
                clean(f.message.lines().next().unwrap_or(""))
            ),
            None,
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_errors_are_counted_by_kind() {
        let snap = json!({"count": 33, "events": [
            {"type": "run.completed"}, {"type": "model.call.error", "count": 2},
            {"type": "model.call.error"}, {"type": "security.event"},
            {"type": "payload.large", "count": 0}]});
        let f = check_activity(&snap);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(
            f[0].message
                .starts_with("3 model.call.error: model calls failed (of the last 33 events)"),
            "{}",
            f[0].message
        );
        assert!(f[1].message.starts_with("1 security.event"));
        let calm =
            check_activity(&json!({"count": 5, "summary": {"byType": {"run.completed": 5}}}));
        assert_eq!(calm[0].severity, Severity::Ok);
        assert_eq!(check_activity(&json!(null))[0].severity, Severity::Ok);
    }

    #[test]
    fn channel_accounts_report_running_and_errors() {
        let status = json!({"channels": {"telegram": {"configured": true, "running": true,
        "accounts": {
            "biz": {"running": false,
                    "lastError": "telegram rejected the bot token: 401\u{1b}[2J"},
            "default": {"running": true},
            "off": {"running": false}
        }}}});
        let f = check_channels(&status);
        assert_eq!(
            f.iter().map(|f| f.severity).collect::<Vec<_>>(),
            [Severity::Warn, Severity::Ok, Severity::Warn]
        );
        assert_eq!(
            f[0].message,
            "telegram/biz: telegram rejected the bot token: 401[2J"
        );
        assert_eq!(f[2].message, "telegram/off is not running");
        assert!(check_channels(&json!({})).is_empty());
    }

    #[test]
    fn files_openclaws_cli_moved_aside_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let s = dir.path();
        assert!(
            moved_aside(s).is_empty(),
            "no OpenClaw SQLite, nothing to say"
        );
        std::fs::create_dir_all(s.join("state")).expect("dir");
        std::fs::write(s.join("state/openclaw.sqlite"), b"").expect("db");
        let f = moved_aside(s);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Info);
        std::fs::create_dir_all(s.join("cron")).expect("dir");
        std::fs::write(s.join("cron/jobs.json.migrated"), b"{}").expect("copy");
        let f = moved_aside(s);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[1].severity, Severity::Warn);
        assert!(
            f[1].message.starts_with("cron/jobs.json was moved aside"),
            "{f:?}"
        );
        // Written again since: nothing more to say.
        std::fs::write(s.join("cron/jobs.json"), b"{}").expect("doc");
        assert_eq!(moved_aside(s).len(), 1);
    }

    #[test]
    fn the_summary_line_names_the_worst() {
        let f = |s| finding(s, "x", "m".into(), None);
        assert!(render(&[f(Severity::Ok)]).ends_with("Doctor: all good.\n"));
        assert!(render(&[f(Severity::Ok), f(Severity::Warn)]).ends_with("Doctor: 1 warning(s).\n"));
        assert!(
            render(&[f(Severity::Critical), f(Severity::Warn)])
                .ends_with("Doctor: 1 critical, 1 warning(s).\n")
        );
    }
}
