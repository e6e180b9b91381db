//! `openclaw audit`: pages of the gateway's audit ledger (`audit.activity.list`), as
//! OpenClaw's `openclaw audit`: which agent ran, which tools it called, how each ended
//! (and, when `logging.audit.messages` records them, the chat messages), never their
//! content. A table (time, kind, direction, channel, status, agent, run, action) or, with
//! `--json`, the page as the gateway answered it (`nextCursor` for `--cursor`).

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use openclaw_actors::audit::{DIRECTIONS, KINDS, STATUSES};

use super::{ConnArgs, Failure, call_one, client_target};

/// `openclaw audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Filter by agent id.
    #[arg(long)]
    pub agent: Option<String>,
    /// Filter by exact session key.
    #[arg(long)]
    pub session: Option<String>,
    /// Filter by run id.
    #[arg(long)]
    pub run: Option<String>,
    /// Inspect one exact execution id (OpenClaw's execution identity: not recorded here).
    #[arg(long)]
    pub execution: Option<String>,
    /// Filter by kind (agent_run, tool_action, or message).
    #[arg(long)]
    pub kind: Option<String>,
    /// Filter by status (started, succeeded, failed, cancelled, timed_out, blocked, or
    /// unknown).
    #[arg(long)]
    pub status: Option<String>,
    /// Filter message direction (inbound or outbound).
    #[arg(long)]
    pub direction: Option<String>,
    /// Filter message channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Include records at/after an ISO time or Unix milliseconds.
    #[arg(long)]
    pub after: Option<String>,
    /// Include records at/before an ISO time or Unix milliseconds.
    #[arg(long)]
    pub before: Option<String>,
    /// Maximum records (1-500, default 100).
    #[arg(long)]
    pub limit: Option<String>,
    /// Continue from a previous result's cursor.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Inspect execution identity (OpenClaw's; not recorded here).
    #[arg(long)]
    pub explain: bool,
    /// Connection flags (`--json` prints the page as JSON).
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// "a, b, or c".
fn human_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [a, b] => format!("{a} or {b}"),
        [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
    }
}

/// An ISO timestamp (or a date, as midnight UTC) or Unix milliseconds.
fn timestamp(value: &str, flag: &str) -> Result<u64, String> {
    let t = value.trim();
    let bad = || format!("{flag} must be an ISO timestamp or Unix milliseconds.");
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| bad());
    }
    let ts = match t.parse::<jiff::Timestamp>() {
        Ok(ts) => ts,
        Err(_) => t
            .parse::<jiff::civil::Date>()
            .ok()
            .and_then(|d| jiff::tz::TimeZone::UTC.to_timestamp(d.at(0, 0, 0, 0)).ok())
            .ok_or_else(bad)?,
    };
    u64::try_from(ts.as_millisecond()).map_err(|_| bad())
}

/// The `audit.activity.list` params of `args`, or the refusal OpenClaw's CLI gives.
pub fn params(args: &AuditArgs) -> Result<Value, String> {
    if args.explain || args.execution.is_some() {
        return Err(
            "openclaw-rs records no execution identity, so there is no run admission to explain. Fix: list what the run did with `openclaw audit --run <id>`".to_owned(),
        );
    }
    let mut p = json!({});
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    for (key, flag, allowed) in [
        ("kind", &args.kind, KINDS),
        ("status", &args.status, STATUSES),
        ("direction", &args.direction, DIRECTIONS),
    ] {
        if let Some(v) = text(flag) {
            if !allowed.contains(&v.as_str()) {
                return Err(format!("--{key} must be {}.", human_list(allowed)));
            }
            p[key] = json!(v);
        }
    }
    for (key, flag) in [
        ("agentId", &args.agent),
        ("sessionKey", &args.session),
        ("runId", &args.run),
        ("channel", &args.channel),
    ] {
        if let Some(v) = text(flag) {
            p[key] = json!(v);
        }
    }
    // OpenClaw's filter rules: message filters only for messages, sessions only for runs
    // and tools.
    let message_flag = if p.get("direction").is_some() {
        Some("--direction")
    } else if p.get("channel").is_some() {
        Some("--channel")
    } else {
        None
    };
    match (
        p["kind"].as_str(),
        p.get("sessionKey").is_some(),
        message_flag,
    ) {
        (Some("message"), true, _) => {
            return Err("--session only applies to --kind agent_run or tool_action.".into());
        }
        (Some(k), _, Some(f)) if k != "message" => {
            return Err(format!("{f} only applies to --kind message."));
        }
        (None, true, Some(f)) => return Err(format!("{f} cannot be combined with --session.")),
        _ => {}
    }
    if let Some(a) = &args.after {
        p["after"] = json!(timestamp(a, "--after")?);
    }
    if let Some(b) = &args.before {
        p["before"] = json!(timestamp(b, "--before")?);
    }
    let limit = match args.limit.as_deref().map(str::trim) {
        None => 100,
        Some(l) => l
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=500).contains(n) && l.bytes().all(|b| b.is_ascii_digit()))
            .ok_or("--limit must be between 1 and 500.")?,
    };
    p["limit"] = json!(limit);
    if let Some(c) = text(&args.cursor) {
        if !c.bytes().all(|b| b.is_ascii_digit()) || c.parse::<u64>().map_or(true, |n| n == 0) {
            return Err(
                "--cursor must be a continuation token returned by a previous audit result.".into(),
            );
        }
        p["cursor"] = json!(c);
    }
    Ok(p)
}

/// A field for the table: `-` when absent, control characters dropped, at most `max`
/// characters (the last one `…`).
fn short(v: &Value, max: usize) -> String {
    let clean: String = v
        .as_str()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if clean.is_empty() {
        return "-".to_owned();
    }
    if clean.chars().count() <= max {
        clean
    } else {
        let mut s: String = clean.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// OpenClaw's `openclaw audit` table.
pub fn table(events: &[Value]) -> String {
    let mut out = String::from("TIME\tKIND\tDIRECTION\tCHANNEL\tSTATUS\tAGENT\tRUN\tACTION\n");
    for e in events {
        let time = e["occurredAt"]
            .as_i64()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map_or_else(|| e["occurredAt"].to_string(), |t| format!("{t:.3}"));
        let action = short(&e["action"], 64);
        let action = match e["toolName"].as_str() {
            Some(_) => format!("{action}:{}", short(&e["toolName"], 28)),
            None => action,
        };
        out.push_str(&format!(
            "{time}\t{}\t{}\t{}\t{}\t{}\t{}\t{action}\n",
            short(&e["kind"], 16),
            short(&e["direction"], 10),
            short(&e["channel"], 18),
            short(&e["status"], 16),
            short(&e["agentId"], 18),
            short(&e["runId"], 18),
        ));
    }
    out
}

/// Runs `openclaw audit`.
pub async fn run(config: Option<PathBuf>, args: AuditArgs) -> Result<(), Failure> {
    let p = params(&args).map_err(Failure::usage)?;
    let target = client_target(config, &args.conn).await?;
    let res = call_one(&target, "audit.activity.list", p, args.conn.timeout).await?;
    if args.conn.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&res).unwrap_or_else(|_| res.to_string())
        );
        return Ok(());
    }
    let events = res["events"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    print!("{}", table(events));
    if let Some(c) = res["nextCursor"].as_str() {
        println!("More records: openclaw audit --cursor {c}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn parsed(argv: &[&str]) -> Result<Value, String> {
        let mut full = vec!["openclaw", "audit"];
        full.extend_from_slice(argv);
        let cli = crate::cli::Cli::try_parse_from(full).map_err(|e| e.to_string())?;
        match cli.command {
            crate::cli::Command::Audit(a) => params(&a),
            other => Err(format!("not audit: {other:?}")),
        }
    }

    #[test]
    fn flags_become_openclaws_params_or_its_refusals() {
        assert_eq!(parsed(&[]).unwrap(), json!({"limit": 100}));
        assert_eq!(
            parsed(&[
                "--agent",
                "main",
                "--kind",
                "tool_action",
                "--status",
                "blocked",
                "--after",
                "2026-07-01T00:00:00Z",
                "--before",
                "1800000000000",
                "--limit",
                "5",
                "--cursor",
                "42",
            ])
            .unwrap(),
            json!({"agentId": "main", "kind": "tool_action", "status": "blocked",
                "after": 1782864000000u64, "before": 1800000000000u64, "limit": 5, "cursor": "42"})
        );
        assert_eq!(
            parsed(&["--after", "2026-07-01"]).unwrap()["after"],
            1782864000000u64
        );
        for (argv, want) in [
            (
                &["--limit", "501"][..],
                "--limit must be between 1 and 500.",
            ),
            (
                &["--limit", "1e2"][..],
                "--limit must be between 1 and 500.",
            ),
            (
                &["--kind", "everything"][..],
                "--kind must be agent_run, tool_action, or message.",
            ),
            (
                &["--direction", "up"][..],
                "--direction must be inbound or outbound.",
            ),
            (
                &["--after", "yesterday"][..],
                "--after must be an ISO timestamp or Unix milliseconds.",
            ),
            (
                &["--kind", "message", "--session", "s"][..],
                "--session only applies to --kind agent_run or tool_action.",
            ),
            (
                &["--kind", "agent_run", "--channel", "telegram"][..],
                "--channel only applies to --kind message.",
            ),
            (
                &["--session", "s", "--direction", "inbound"][..],
                "--direction cannot be combined with --session.",
            ),
            (
                &["--cursor", "x1"][..],
                "--cursor must be a continuation token returned by a previous audit result.",
            ),
        ] {
            assert_eq!(parsed(argv).unwrap_err(), want, "{argv:?}");
        }
        assert!(
            parsed(&["--run", "r", "--explain"])
                .unwrap_err()
                .contains("--run <id>")
        );
    }

    #[test]
    fn the_table_is_openclaws_and_sanitized() {
        let t = table(&[
            json!({"occurredAt": 1782864000000u64, "kind": "tool_action", "status": "blocked",
                "agentId": "main", "runId": "r\u{1b}[31m1", "action": "tool.action.finished",
                "toolName": "exec"}),
            json!({"occurredAt": 1782864000001u64, "kind": "message", "direction": "inbound",
                "channel": "telegram", "status": "succeeded", "runId": "x".repeat(40),
                "action": "message.inbound.processed"}),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "TIME\tKIND\tDIRECTION\tCHANNEL\tSTATUS\tAGENT\tRUN\tACTION"
        );
        assert_eq!(
            lines[1],
            "2026-07-01T00:00:00.000Z\ttool_action\t-\t-\tblocked\tmain\tr[31m1\ttool.action.finished:exec"
        );
        assert_eq!(
            lines[2],
            format!(
                "2026-07-01T00:00:00.001Z\tmessage\tinbound\ttelegram\tsucceeded\t-\t{}…\tmessage.inbound.processed",
                "x".repeat(17)
            )
        );
    }
}
