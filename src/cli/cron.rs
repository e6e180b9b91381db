//! `openclaw cron …`: the gateway's scheduler (`cron.*`), worded as OpenClaw's `openclaw
//! cron`: `status`, `list [--all]`, `add`, `rm <id>`, `run <id> [--due]`, `runs --id <id>`,
//! `enable <id>`, `disable <id>`. `cron add` builds the params OpenClaw's CLI sends and
//! checks the flags locally first (exactly one schedule, exactly one payload, a payload that
//! fits the session), so a mistake fails before anything is sent.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use openclaw_actors::cron::expr::{self, CronExpr};
use serde_json::{Map, Value, json};

use super::client::{Target, request_once, scopes_for};
use super::nodes::{or_dash, s, table, truncate, usage};
use super::{ConnArgs, Failure, client_target, failure, human_duration, pretty};

/// Jobs per `cron.list` page (the gateway's maximum).
const PAGE_SIZE: u64 = 200;
/// Pages read at most for one listing.
const MAX_PAGES: usize = 50;
/// Times a listing starts over when the jobs change between its pages.
const MAX_RESTARTS: usize = 3;

/// `openclaw cron`.
#[derive(Debug, Args)]
pub struct CronCmd {
    /// What to do.
    #[command(subcommand)]
    pub sub: CronSub,
}

/// `openclaw cron <sub>`.
#[derive(Debug, Subcommand)]
pub enum CronSub {
    /// Show the scheduler's status (JSON).
    Status(StatusArgs),
    /// List the jobs (enabled ones; `--all` adds the disabled).
    List(ListArgs),
    /// Add a job: a schedule (--at, --every or --cron) and a payload (--system-event for
    /// the main session, --message for an agent turn).
    Add(Box<AddArgs>),
    /// Remove a job.
    #[command(name = "rm", visible_alias = "remove", alias = "delete")]
    Rm(IdArgs),
    /// Run a job now (`--due`: only if it is due).
    Run(RunArgs),
    /// Show a job's run history, newest first.
    Runs(RunsArgs),
    /// Enable a job.
    Enable(IdArgs),
    /// Disable a job (it is kept, and never runs on schedule).
    Disable(IdArgs),
}

/// `cron status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `cron list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include disabled jobs.
    #[arg(long)]
    pub all: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// A job id.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Job id (see `openclaw cron list --all`).
    pub id: String,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `cron run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job id (see `openclaw cron list --all`).
    pub id: String,
    /// Run only when the job is due (default: run now).
    #[arg(long)]
    pub due: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `cron runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Job id.
    #[arg(long, required = true)]
    pub id: String,
    /// Most entries to show (1-200).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=200))]
    pub limit: u64,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `cron add`.
#[derive(Debug, Args, Default)]
pub struct AddArgs {
    /// Job name.
    #[arg(long)]
    pub name: Option<String>,
    /// Job description.
    #[arg(long)]
    pub description: Option<String>,
    /// Run once at WHEN: an ISO 8601 time (2026-02-01T16:00:00Z) or a duration from now
    /// (20m, 2h, 1d).
    #[arg(long, value_name = "WHEN")]
    pub at: Option<String>,
    /// Run every DUR (10m, 1h, 1d).
    #[arg(long, value_name = "DUR")]
    pub every: Option<String>,
    /// Run on a cron expression (5 or 6 fields, e.g. "0 7 * * *").
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// IANA time zone of --cron (or of an --at without an offset); default: the gateway
    /// host's.
    #[arg(long, value_name = "IANA")]
    pub tz: Option<String>,
    /// Agent-turn payload: the message an agent run gets (isolated session by default).
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// System-event payload: a note for the main session's agent.
    #[arg(long, value_name = "TEXT")]
    pub system_event: Option<String>,
    /// The agent turn's model (provider/model or an alias; default: the session's).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// The agent turn's thinking level (off, minimal, low, medium, high, …).
    #[arg(long, value_name = "LEVEL")]
    pub thinking: Option<String>,
    /// The agent turn's prompt without the workspace's bootstrap files (AGENTS.md,
    /// SOUL.md, …): a smaller, cheaper run (isolated jobs).
    #[arg(long)]
    pub light_context: bool,
    /// Session: main, isolated or session:<key> (default: main for --system-event,
    /// isolated for --message).
    #[arg(long, value_name = "TARGET")]
    pub session: Option<String>,
    /// Announce the answer on a chat (the default for --message jobs).
    #[arg(long)]
    pub announce: bool,
    /// Do not deliver the answer anywhere.
    #[arg(long)]
    pub no_deliver: bool,
    /// Channel to announce on (e.g. telegram; default: the chat the user wrote from last).
    #[arg(long)]
    pub channel: Option<String>,
    /// Target on the channel (e.g. a chat id).
    #[arg(long)]
    pub to: Option<String>,
    /// Remove the job after a successful run (the default for --at).
    #[arg(long)]
    pub delete_after_run: bool,
    /// Keep (disable) the job after a successful --at run.
    #[arg(long)]
    pub keep_after_run: bool,
    /// Create the job disabled.
    #[arg(long)]
    pub disabled: bool,
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Runs `openclaw cron …`.
pub async fn run_cron(config: Option<PathBuf>, cmd: CronCmd) -> Result<(), Failure> {
    match cmd.sub {
        CronSub::Status(a) => cron_status(config, a).await,
        CronSub::List(a) => cron_list(config, a).await,
        CronSub::Add(a) => cron_add(config, *a).await,
        CronSub::Rm(a) => cron_rm(config, a).await,
        CronSub::Run(a) => cron_run(config, a).await,
        CronSub::Runs(a) => cron_runs(config, a).await,
        CronSub::Enable(a) => cron_toggle(config, a, true).await,
        CronSub::Disable(a) => cron_toggle(config, a, false).await,
    }
}

/// One `cron.*` call with the scopes the method needs (read, or admin for changes); an
/// unknown job id names the way to find the right one.
async fn call(
    target: &Target,
    method: &str,
    params: Value,
    timeout: u64,
) -> Result<Value, Failure> {
    request_once(target, scopes_for(method), method, params, timeout, false)
        .await
        .map_err(|e| {
            let mut f = failure(&e, target);
            if e.detail_code() == Some(openclaw_actors::protocol::codes::CRON_JOB_NOT_FOUND)
                && !f.message.contains("\nFix:")
            {
                f.message = format!(
                    "{}\nFix: run `openclaw cron list --all` to see the job ids",
                    f.message
                );
            }
            f
        })
}

/// Warns on stderr when the gateway keeps jobs but does not run them (`cron.enabled:
/// false`), as OpenClaw's CLI does after `add` and `enable`.
async fn warn_if_scheduler_disabled(target: &Target, timeout: u64) {
    let Ok(st) = call(target, "cron.status", json!({}), timeout).await else {
        return;
    };
    if st.get("enabled") == Some(&json!(false)) {
        eprintln!(
            "warning: the gateway's cron scheduler is disabled; jobs are saved but will not run on schedule.\nFix: set `cron.enabled: true` (or remove `cron.enabled: false`) in the gateway's config and restart it"
        );
    }
}

async fn cron_status(config: Option<PathBuf>, a: StatusArgs) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let r = call(&target, "cron.status", json!({}), a.conn.timeout).await?;
    println!("{}", pretty(&r));
    Ok(())
}

/// Every job in one revision of the list: pages of [`PAGE_SIZE`], started over when the
/// jobs change between pages. The first page's fields with all the jobs.
async fn list_all(target: &Target, include_disabled: bool, timeout: u64) -> Result<Value, Failure> {
    for _ in 0..=MAX_RESTARTS {
        let mut first: Option<Value> = None;
        let mut jobs: Vec<Value> = Vec::new();
        let mut offset = 0u64;
        let mut changed = false;
        for _ in 0..MAX_PAGES {
            let page = call(
                target,
                "cron.list",
                json!({"includeDisabled": include_disabled, "limit": PAGE_SIZE, "offset": offset}),
                timeout,
            )
            .await?;
            if let Some(f) = &first
                && (f.get("snapshotRevision") != page.get("snapshotRevision")
                    || f.get("total") != page.get("total"))
            {
                changed = true;
                break;
            }
            let rows = page.get("jobs").and_then(Value::as_array).cloned();
            let Some(rows) = rows else {
                return Err(usage(
                    "cron.list returned no jobs array. Fix: check that the URL points at an OpenClaw gateway",
                ));
            };
            jobs.extend(rows);
            let next = page.get("nextOffset").and_then(Value::as_u64);
            let more = page.get("hasMore") == Some(&json!(true));
            first.get_or_insert(page);
            match next {
                Some(n) if more && n > offset => offset = n,
                _ if more => {
                    return Err(usage(
                        "cron.list pagination did not advance. Fix: retry; if it persists, report the gateway version",
                    ));
                }
                _ => {
                    let mut out = first.unwrap_or_else(|| json!({}));
                    out["jobs"] = Value::Array(jobs);
                    out["hasMore"] = json!(false);
                    out["nextOffset"] = Value::Null;
                    return Ok(out);
                }
            }
        }
        if !changed {
            return Err(usage(format!(
                "cron.list needs more than {MAX_PAGES} pages. Fix: remove jobs you no longer need"
            )));
        }
    }
    Err(usage(
        "the cron jobs changed repeatedly while they were being listed. Fix: retry",
    ))
}

/// The array under `key` of a gateway answer (empty when missing).
fn array_of(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn cron_list(config: Option<PathBuf>, a: ListArgs) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let page = list_all(&target, a.all, a.conn.timeout).await?;
    if a.conn.json {
        println!("{}", pretty(&page));
        return Ok(());
    }
    let jobs = array_of(&page, "jobs");
    if jobs.is_empty() {
        if a.all {
            println!("No cron jobs.");
        } else {
            println!("No cron jobs. (`openclaw cron list --all` includes disabled ones.)");
        }
        return Ok(());
    }
    let now = openclaw_actors::util::now_ms();
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let enabled = j.get("enabled") != Some(&json!(false));
            let state = j.get("state").unwrap_or(&Value::Null);
            vec![
                s(j, "id").to_owned(),
                truncate(or_dash(s(j, "name")), 24),
                truncate(
                    &schedule_label(j.get("schedule").unwrap_or(&Value::Null)),
                    40,
                ),
                if enabled {
                    relative(state.get("nextRunAtMs").and_then(Value::as_u64), now)
                } else {
                    "-".to_owned()
                },
                relative(state.get("lastRunAtMs").and_then(Value::as_u64), now),
                job_status(j).to_owned(),
                or_dash(s(j, "sessionTarget")).to_owned(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["ID", "NAME", "SCHEDULE", "NEXT", "LAST", "STATUS", "TARGET"],
            &rows
        )
    );
    Ok(())
}

/// OpenClaw's status column: `disabled`, `running`, the last run's status, or `idle`.
fn job_status(j: &Value) -> &str {
    if j.get("enabled") == Some(&json!(false)) {
        return "disabled";
    }
    let state = j.get("state").unwrap_or(&Value::Null);
    if state.get("runningAtMs").and_then(Value::as_u64).is_some() {
        return "running";
    }
    state
        .get("lastRunStatus")
        .or_else(|| state.get("lastStatus"))
        .and_then(Value::as_str)
        .unwrap_or("idle")
}

/// `at <iso>`, `every <dur>`, `cron <expr> @ <tz>`.
fn schedule_label(sch: &Value) -> String {
    match s(sch, "kind") {
        "at" => {
            let at = s(sch, "at");
            let shown = expr::parse_at(at)
                .ok()
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                .map_or_else(|| at.to_owned(), |t| format!("{t:.0}"));
            format!("at {shown}")
        }
        "every" => match sch.get("everyMs").and_then(Value::as_u64) {
            Some(ms) => format!("every {}", compact_duration(ms)),
            None => "every ?".to_owned(),
        },
        "cron" => match sch.get("tz").and_then(Value::as_str) {
            Some(tz) if !tz.is_empty() => format!("cron {} @ {tz}", s(sch, "expr")),
            _ => format!("cron {}", s(sch, "expr")),
        },
        _ => "-".to_owned(),
    }
}

/// `90000` → `1m30s`, `86400000` → `1d` (the units `--every` takes).
fn compact_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// `in 5m`, `2h ago`, `<1m`-precision as OpenClaw's list shows it; `-` for none.
fn relative(ms: Option<u64>, now: u64) -> String {
    let Some(ms) = ms else {
        return "-".to_owned();
    };
    let span = ms.abs_diff(now);
    let round = |unit: u64| (span + unit / 2) / unit;
    let label = if span < 60_000 {
        "<1m".to_owned()
    } else if round(60_000) < 60 {
        format!("{}m", round(60_000))
    } else if round(3_600_000) < 24 {
        format!("{}h", round(3_600_000))
    } else {
        format!("{}d", round(86_400_000))
    };
    if ms >= now {
        format!("in {label}")
    } else {
        format!("{label} ago")
    }
}

/// A run's duration: `350ms`, `12s`, `1m 5s`.
fn run_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        human_duration(ms)
    }
}

fn nonblank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Unix ms as ISO 8601 UTC with milliseconds (JavaScript's `toISOString`).
fn iso_ms(ms: i64) -> Result<String, String> {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .map_err(|_| format!("{ms} ms is out of range for a time"))
}

/// The `at` of `--at WHEN [--tz IANA]`: an absolute time as given (an offset-less one in
/// `--tz`, converted to UTC), or a duration from `now_ms` as ISO 8601 UTC.
fn at_value(at: &str, tz: Option<&str>, now_ms: u64) -> Result<String, String> {
    let invalid = || {
        format!(
            "invalid --at {at:?}: not an ISO time or a duration. Fix: pass an ISO 8601 time such as 2026-02-01T16:00:00Z, or a duration from now such as 20m, 2h or 1d"
        )
    };
    if expr::parse_at(at).is_ok() {
        let Some(tz) = tz else {
            return Ok(at.to_owned());
        };
        if at.parse::<jiff::Timestamp>().is_ok() {
            return Err(format!(
                "--tz applies to an --at without an offset, and {at:?} has one. Fix: drop --tz, or give the local time without an offset (e.g. 2026-03-23T23:00:00)"
            ));
        }
        let zone = expr::resolve_tz(Some(tz)).map_err(|e| {
            format!("invalid --tz: {e}. Fix: pass an IANA zone such as Europe/Berlin")
        })?;
        let local: jiff::civil::DateTime = at.parse().map_err(|_| invalid())?;
        let ts = zone.to_timestamp(local).map_err(|e| {
            format!("--at {at:?} does not exist in {tz} ({e}). Fix: pick another time")
        })?;
        return iso_ms(ts.as_millisecond());
    }
    let is_number = at.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match expr::parse_duration_ms(at) {
        Ok(_) if is_number => Err(invalid()),
        Ok(_) if tz.is_some() => Err(
            "--tz applies to --cron and to an --at time without an offset, not to a duration. Fix: drop --tz".to_owned(),
        ),
        Ok(ms) => {
            let when = now_ms.saturating_add(ms);
            iso_ms(i64::try_from(when).map_err(|_| invalid())?)
        }
        Err(_) => Err(invalid()),
    }
}

/// The `schedule` of `cron add`: exactly one of `--at`, `--every`, `--cron`.
fn add_schedule(a: &AddArgs, now_ms: u64) -> Result<Value, String> {
    let (at, every, cron, tz) = (
        nonblank(&a.at),
        nonblank(&a.every),
        nonblank(&a.cron),
        nonblank(&a.tz),
    );
    let given: Vec<&str> = [("--at", at), ("--every", every), ("--cron", cron)]
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| *k)
        .collect();
    match given.len() {
        0 => {
            return Err(
                "cron add needs a schedule. Fix: pass one of --at WHEN (an ISO time or a duration like 20m), --every DUR (like 10m) or --cron EXPR [--tz IANA]".to_owned(),
            );
        }
        1 => {}
        _ => {
            return Err(format!(
                "cron add takes exactly one schedule, got {}. Fix: keep one of --at, --every or --cron",
                given.join(" and ")
            ));
        }
    }
    if let Some(at) = at {
        return Ok(json!({"kind": "at", "at": at_value(at, tz, now_ms)?}));
    }
    if let Some(every) = every {
        if tz.is_some() {
            return Err(
                "--tz applies to --cron and to an --at time without an offset, not to --every. Fix: drop --tz".to_owned(),
            );
        }
        let bad = |why: String| {
            format!("invalid --every {every:?}: {why}. Fix: pass a duration such as 10m, 1h or 1d")
        };
        if every.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("missing unit".to_owned()));
        }
        let ms = expr::parse_duration_ms(every).map_err(bad)?;
        if ms < openclaw_actors::cron::job::MIN_EVERY_MS {
            return Err(bad("shorter than 1s".to_owned()));
        }
        return Ok(json!({"kind": "every", "everyMs": ms}));
    }
    let cron = cron.unwrap_or_default();
    CronExpr::parse(cron).map_err(|e| {
        format!(
            "invalid --cron {cron:?}: {e}. Fix: pass 5 fields (min hour day month weekday), e.g. \"0 7 * * *\""
        )
    })?;
    let mut sch = json!({"kind": "cron", "expr": cron});
    if let Some(tz) = tz {
        expr::resolve_tz(Some(tz)).map_err(|e| {
            format!("invalid --tz: {e}. Fix: pass an IANA zone such as Europe/Berlin or UTC")
        })?;
        sch["tz"] = json!(tz);
    }
    Ok(sch)
}

/// The `cron.add` params OpenClaw's CLI sends for these flags, or why they do not fit.
pub fn add_params(a: &AddArgs, now_ms: u64) -> Result<Value, String> {
    let Some(name) = nonblank(&a.name) else {
        return Err(
            "cron add needs a job name. Fix: pass --name NAME, e.g. --name \"Morning brief\""
                .to_owned(),
        );
    };
    let schedule = add_schedule(a, now_ms)?;
    let payload = match (nonblank(&a.system_event), nonblank(&a.message)) {
        (Some(_), Some(_)) => {
            return Err(
                "cron add takes exactly one payload, got --system-event and --message. Fix: keep --system-event TEXT (a note for the main session) or --message TEXT (an agent turn)".to_owned(),
            );
        }
        (None, None) => {
            return Err(
                "cron add needs a payload. Fix: pass --system-event TEXT (a note for the main session) or --message TEXT (an agent turn)".to_owned(),
            );
        }
        (Some(text), None) => json!({"kind": "systemEvent", "text": text}),
        (None, Some(message)) => json!({"kind": "agentTurn", "message": message}),
    };
    let agent_turn = payload["kind"] == "agentTurn";
    let mut payload = payload;
    let (model, thinking) = (nonblank(&a.model), nonblank(&a.thinking));
    if !agent_turn && (model.is_some() || thinking.is_some() || a.light_context) {
        return Err(
            "--model, --thinking and --light-context are for --message jobs (an agent turn). Fix: drop them, or use --message TEXT".to_owned(),
        );
    }
    if let Some(m) = model {
        payload["model"] = json!(m);
    }
    if let Some(t) = thinking {
        payload["thinking"] = json!(t);
    }
    if a.light_context {
        payload["lightContext"] = json!(true);
    }
    let session = match nonblank(&a.session) {
        None if agent_turn => "isolated".to_owned(),
        None => "main".to_owned(),
        Some(t) if t.eq_ignore_ascii_case("main") => "main".to_owned(),
        Some(t) if t.eq_ignore_ascii_case("isolated") => "isolated".to_owned(),
        Some(t) => match t.strip_prefix("session:").map(str::trim) {
            Some(key) if !key.is_empty() => format!("session:{key}"),
            _ => {
                return Err(format!(
                    "--session must be main, isolated or session:<key>, not {t:?}. Fix: e.g. --session isolated or --session session:daily-report"
                ));
            }
        },
    };
    let main = session == "main";
    if main && agent_turn {
        return Err(
            "main jobs take --system-event, not --message. Fix: pass --system-event TEXT, or --session isolated for an agent turn".to_owned(),
        );
    }
    if !main && !agent_turn {
        return Err(format!(
            "{session} jobs take --message, not --system-event. Fix: pass --message TEXT, or --session main for a system event"
        ));
    }
    if a.light_context && session != "isolated" {
        return Err(format!(
            "--light-context is for isolated jobs; a {session} job's run keeps its session's context. Fix: drop --light-context, or use --session isolated"
        ));
    }
    if a.delete_after_run && a.keep_after_run {
        return Err(
            "choose --delete-after-run or --keep-after-run, not both. Fix: drop one".to_owned(),
        );
    }
    if a.announce && a.no_deliver {
        return Err("choose --announce or --no-deliver, not both. Fix: drop one".to_owned());
    }
    let (channel, to) = (nonblank(&a.channel), nonblank(&a.to));
    let chat_target = channel.is_some() || to.is_some();
    if main && (a.announce || a.no_deliver || chat_target) {
        return Err(
            "--announce, --no-deliver, --channel and --to are for --message jobs; a main job answers where the user wrote last. Fix: drop them, or use --message with --session isolated".to_owned(),
        );
    }
    if a.no_deliver && chat_target {
        return Err(
            "--channel and --to say where to deliver the answer, and --no-deliver says not to. Fix: drop --no-deliver or drop --channel/--to".to_owned(),
        );
    }
    let mut p = Map::new();
    p.insert("name".into(), json!(name));
    if let Some(d) = nonblank(&a.description) {
        p.insert("description".into(), json!(d));
    }
    p.insert("enabled".into(), json!(!a.disabled));
    if a.delete_after_run || a.keep_after_run {
        p.insert("deleteAfterRun".into(), json!(a.delete_after_run));
    }
    p.insert("schedule".into(), schedule);
    p.insert("sessionTarget".into(), json!(session));
    p.insert("wakeMode".into(), json!("now"));
    p.insert("payload".into(), payload);
    if !main {
        let mut d = Map::new();
        let mode = if a.no_deliver { "none" } else { "announce" };
        d.insert("mode".into(), json!(mode));
        if let Some(c) = channel {
            d.insert("channel".into(), json!(c));
        }
        if let Some(t) = to {
            d.insert("to".into(), json!(t));
        }
        p.insert("delivery".into(), Value::Object(d));
    }
    Ok(Value::Object(p))
}

async fn cron_add(config: Option<PathBuf>, a: AddArgs) -> Result<(), Failure> {
    let params = add_params(&a, openclaw_actors::util::now_ms()).map_err(usage)?;
    let target = client_target(config, &a.conn).await?;
    let job = call(&target, "cron.add", params, a.conn.timeout).await?;
    if a.conn.json {
        println!("{}", pretty(&job));
    } else {
        let next = job
            .get("state")
            .and_then(|st| st.get("nextRunAtMs"))
            .and_then(Value::as_u64);
        let when = match next {
            _ if job.get("enabled") == Some(&json!(false)) => "disabled".to_owned(),
            Some(_) => format!(
                "next run {}",
                relative(next, openclaw_actors::util::now_ms())
            ),
            None => "no next run".to_owned(),
        };
        println!(
            "Added cron job {} ({}): {}, {when}.",
            s(&job, "id"),
            s(&job, "name"),
            schedule_label(job.get("schedule").unwrap_or(&Value::Null)),
        );
    }
    warn_if_scheduler_disabled(&target, a.conn.timeout).await;
    Ok(())
}

async fn cron_rm(config: Option<PathBuf>, a: IdArgs) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let r = call(&target, "cron.remove", json!({"id": a.id}), a.conn.timeout).await?;
    let removed = r.get("removed") == Some(&json!(true));
    if a.conn.json {
        println!(
            "{}",
            pretty(&json!({"ok": true, "removed": removed, "id": a.id}))
        );
    } else if removed {
        println!("Removed cron job {}.", a.id);
    } else {
        println!("Cron job {} was not removed.", a.id);
    }
    Ok(())
}

async fn cron_run(config: Option<PathBuf>, a: RunArgs) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let mode = if a.due { "due" } else { "force" };
    let r = call(
        &target,
        "cron.run",
        json!({"id": a.id, "mode": mode}),
        a.conn.timeout,
    )
    .await?;
    if a.conn.json {
        println!("{}", pretty(&r));
    } else if r.get("enqueued") == Some(&json!(true)) {
        println!(
            "Started run {} of cron job {}. See `openclaw cron runs --id {}`.",
            or_dash(s(&r, "runId")),
            a.id,
            a.id
        );
    } else {
        println!(
            "Cron job {} did not run: {}.",
            a.id,
            or_dash(s(&r, "reason"))
        );
    }
    Ok(())
}

async fn cron_runs(config: Option<PathBuf>, a: RunsArgs) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let r = call(
        &target,
        "cron.runs",
        json!({"id": a.id, "limit": a.limit}),
        a.conn.timeout,
    )
    .await?;
    if a.conn.json {
        println!("{}", pretty(&r));
        return Ok(());
    }
    let entries = array_of(&r, "entries");
    if entries.is_empty() {
        println!("No runs of cron job {} yet.", a.id);
        return Ok(());
    }
    let now = openclaw_actors::util::now_ms();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let status = or_dash(s(e, "status"));
            let text = if status == "ok" {
                s(e, "summary")
            } else {
                s(e, "error")
            };
            vec![
                relative(
                    e.get("runAtMs")
                        .or_else(|| e.get("ts"))
                        .and_then(Value::as_u64),
                    now,
                ),
                status.to_owned(),
                e.get("durationMs")
                    .and_then(Value::as_u64)
                    .map_or_else(|| "-".to_owned(), run_duration),
                or_dash(s(e, "deliveryStatus")).to_owned(),
                truncate(or_dash(text), 60).replace('\n', " "),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["WHEN", "STATUS", "DURATION", "DELIVERY", "SUMMARY"],
            &rows
        )
    );
    let total = r.get("total").and_then(Value::as_u64).unwrap_or(0);
    if total > entries.len() as u64 {
        println!("({} of {total} runs; --limit shows more)", entries.len());
    }
    Ok(())
}

async fn cron_toggle(config: Option<PathBuf>, a: IdArgs, enabled: bool) -> Result<(), Failure> {
    let target = client_target(config, &a.conn).await?;
    let job = call(
        &target,
        "cron.update",
        json!({"id": a.id, "patch": {"enabled": enabled}}),
        a.conn.timeout,
    )
    .await?;
    if a.conn.json {
        println!("{}", pretty(&job));
    } else if enabled {
        let next = job
            .get("state")
            .and_then(|st| st.get("nextRunAtMs"))
            .and_then(Value::as_u64);
        let when = match next {
            Some(_) => format!(
                "next run {}",
                relative(next, openclaw_actors::util::now_ms())
            ),
            None => "no next run".to_owned(),
        };
        println!("Enabled cron job {} ({}); {when}.", a.id, s(&job, "name"));
    } else {
        println!("Disabled cron job {} ({}).", a.id, s(&job, "name"));
    }
    if enabled {
        warn_if_scheduler_disabled(&target, a.conn.timeout).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn add(args: &[&str]) -> Result<Value, String> {
        let mut argv = vec!["openclaw", "cron", "add"];
        argv.extend_from_slice(args);
        let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match cli.command {
            crate::cli::Command::Cron(CronCmd {
                sub: CronSub::Add(a),
            }) => add_params(&a, NOW),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn an_agent_turn_takes_its_model_thinking_and_light_context() {
        let p = add(&[
            "--name",
            "n",
            "--every",
            "1h",
            "--message",
            "hi",
            "--model",
            " fake/small ",
            "--thinking",
            "low",
            "--light-context",
        ])
        .expect("valid");
        assert_eq!(
            p["payload"],
            json!({"kind": "agentTurn", "message": "hi", "model": "fake/small",
                "thinking": "low", "lightContext": true})
        );
        let e = add(&[
            "--name",
            "n",
            "--every",
            "1h",
            "--system-event",
            "x",
            "--model",
            "m",
        ])
        .expect_err("a system event has no model");
        assert!(
            e.contains("--model, --thinking and --light-context are for --message"),
            "{e}"
        );
        let e = add(&[
            "--name",
            "n",
            "--every",
            "1h",
            "--message",
            "x",
            "--session",
            "session:daily",
            "--light-context",
        ])
        .expect_err("light context is for isolated jobs");
        assert!(e.contains("--light-context is for isolated jobs"), "{e}");
        assert!(e.contains("Fix:"), "{e}");
    }

    #[test]
    fn agent_turn_defaults_to_isolated_and_announce() {
        let p = add(&["--name", "n", "--every", "1h", "--message", "hi"]).expect("valid");
        assert_eq!(
            p,
            json!({"name": "n", "enabled": true, "schedule": {"kind": "every", "everyMs": 3_600_000},
                "sessionTarget": "isolated", "wakeMode": "now",
                "payload": {"kind": "agentTurn", "message": "hi"},
                "delivery": {"mode": "announce"}})
        );
        let p = add(&[
            "--name",
            "n",
            "--cron",
            "0 7 * * *",
            "--tz",
            "UTC",
            "--message",
            "hi",
            "--no-deliver",
            "--disabled",
            "--keep-after-run",
        ])
        .expect("valid");
        assert_eq!(
            p["schedule"],
            json!({"kind": "cron", "expr": "0 7 * * *", "tz": "UTC"})
        );
        assert_eq!(p["delivery"], json!({"mode": "none"}));
        assert_eq!(p["enabled"], false);
        assert_eq!(p["deleteAfterRun"], false);
    }

    #[test]
    fn system_event_goes_to_main_and_at_durations_become_iso() {
        let p = add(&["--name", "n", "--at", "20m", "--system-event", "stretch"]).expect("valid");
        assert_eq!(
            p,
            json!({"name": "n", "enabled": true,
                "schedule": {"kind": "at", "at": "2026-01-01T00:20:00.000Z"},
                "sessionTarget": "main", "wakeMode": "now",
                "payload": {"kind": "systemEvent", "text": "stretch"}})
        );
        let p = add(&[
            "--name",
            "n",
            "--at",
            "2026-02-01T16:00:00+02:00",
            "--system-event",
            "x",
        ])
        .expect("valid");
        assert_eq!(p["schedule"]["at"], "2026-02-01T16:00:00+02:00");
        let p = add(&[
            "--name",
            "n",
            "--at",
            "2026-07-01T09:00:00",
            "--tz",
            "Europe/Berlin",
            "--system-event",
            "x",
        ])
        .expect("valid");
        assert_eq!(p["schedule"]["at"], "2026-07-01T07:00:00.000Z");
    }

    #[test]
    fn bad_combinations_name_the_problem() {
        let cases: &[(&[&str], &str)] = &[
            (&["--every", "1h", "--message", "m"], "needs a job name"),
            (&["--name", "n", "--message", "m"], "needs a schedule"),
            (
                &[
                    "--name",
                    "n",
                    "--at",
                    "20m",
                    "--every",
                    "1h",
                    "--message",
                    "m",
                ],
                "exactly one schedule, got --at and --every",
            ),
            (&["--name", "n", "--every", "1h"], "needs a payload"),
            (
                &[
                    "--name",
                    "n",
                    "--every",
                    "1h",
                    "--message",
                    "m",
                    "--system-event",
                    "e",
                ],
                "exactly one payload",
            ),
            (
                &[
                    "--name",
                    "n",
                    "--every",
                    "1h",
                    "--message",
                    "m",
                    "--session",
                    "main",
                ],
                "main jobs take --system-event",
            ),
            (
                &[
                    "--name",
                    "n",
                    "--every",
                    "1h",
                    "--system-event",
                    "e",
                    "--session",
                    "isolated",
                ],
                "isolated jobs take --message",
            ),
            (
                &[
                    "--name",
                    "n",
                    "--every",
                    "1h",
                    "--message",
                    "m",
                    "--session",
                    "bogus",
                ],
                "--session must be main, isolated or session:<key>",
            ),
            (
                &[
                    "--name",
                    "n",
                    "--every",
                    "1h",
                    "--message",
                    "m",
                    "--announce",
                    "--no-deliver",
                ],
                "--announce or --no-deliver, not both",
            ),
            (
                &[
                    "--name",
                    "n",
                    "--every",
                    "1h",
                    "--system-event",
                    "e",
                    "--to",
                    "123",
                ],
                "are for --message jobs",
            ),
            (
                &[
                    "--name",
                    "n",
                    "--at",
                    "20m",
                    "--message",
                    "m",
                    "--delete-after-run",
                    "--keep-after-run",
                ],
                "--delete-after-run or --keep-after-run",
            ),
            (
                &["--name", "n", "--every", "10", "--message", "m"],
                "missing unit",
            ),
            (
                &["--name", "n", "--at", "soon", "--message", "m"],
                "invalid --at",
            ),
            (
                &["--name", "n", "--cron", "61 * * * *", "--message", "m"],
                "invalid --cron",
            ),
            (
                &[
                    "--name",
                    "n",
                    "--cron",
                    "0 7 * * *",
                    "--tz",
                    "Mars/Base",
                    "--message",
                    "m",
                ],
                "invalid --tz",
            ),
            (
                &[
                    "--name",
                    "n",
                    "--every",
                    "1h",
                    "--tz",
                    "UTC",
                    "--message",
                    "m",
                ],
                "--tz applies",
            ),
        ];
        for (args, want) in cases {
            let err = add(args).expect_err(&format!("{args:?} must fail"));
            assert!(err.contains(want), "{args:?}: {err}");
            assert!(err.contains("Fix: "), "{args:?}: {err}");
        }
    }

    #[test]
    fn labels_read_like_openclaw() {
        assert_eq!(
            schedule_label(&json!({"kind": "cron", "expr": "0 7 * * *", "tz": "UTC"})),
            "cron 0 7 * * * @ UTC"
        );
        assert_eq!(
            schedule_label(&json!({"kind": "every", "everyMs": 5_400_000})),
            "every 1h30m"
        );
        assert_eq!(
            schedule_label(&json!({"kind": "at", "at": "2026-02-01T16:00:00.000Z"})),
            "at 2026-02-01T16:00:00Z"
        );
        assert_eq!(relative(Some(NOW + 300_000), NOW), "in 5m");
        assert_eq!(relative(Some(NOW + 3_599_000), NOW), "in 1h");
        assert_eq!(relative(Some(NOW - 2 * 86_400_000), NOW), "2d ago");
        assert_eq!(relative(None, NOW), "-");
    }
}
