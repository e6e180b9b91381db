//! The agent's `cron` tool: "remind me in 20 minutes", "every morning at 7 tell me …".
//!
//! A job made here is bound to the chat it was asked from: it runs in that chat's session
//! (`session:<key>`), its answer goes back to that chat, and its node commands run under
//! the asking sender's tool policy (`createdBy`). From a chat the tool can list and remove
//! only that chat's jobs. Because any sender the channel admits can reach the agent, the
//! tool is bounded harder than `cron.add`: at most [`MAX_JOBS_PER_CHAT`] jobs per chat, no
//! repeat more often than every [`MIN_AGENT_INTERVAL_MS`], and a job's own run cannot
//! schedule more jobs.

use actix::Addr;
use serde_json::{Value, json};

use super::expr;
use super::{CronAdd, CronList, CronRemove, CronService};
use crate::ports::ToolSpec;
use crate::registry::runs::{RunOrigin, RunRequest};
use crate::util::now_ms;

/// Jobs one chat (session) may hold through the tool.
pub const MAX_JOBS_PER_CHAT: usize = 20;
/// Shortest repeat the tool schedules (5 minutes).
pub const MIN_AGENT_INTERVAL_MS: u64 = 5 * 60_000;

/// The tool offered to the model.
pub fn spec() -> ToolSpec {
    ToolSpec {
        name: "cron".into(),
        description: "Schedule reminders and recurring tasks for this chat. action add: give exactly one of \
at (an ISO 8601 time such as 2026-12-24T18:00:00+01:00, or a delay such as 20m, 2h, 1d), \
every (a repeat such as 30m, 1h, 1d) or cron (a 5-field cron expression, with tz an IANA zone such as Europe/Berlin), \
a short name, and message: the instruction you will get when it runs (for example \"Remind the user to call mom\"); \
what you answer then is sent to this chat. action list: this chat's jobs. action remove: a job id from list."
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["add", "list", "remove"]},
                "name": {"type": "string"},
                "message": {"type": "string"},
                "at": {"type": "string"},
                "every": {"type": "string"},
                "cron": {"type": "string"},
                "tz": {"type": "string"},
                "id": {"type": "string"}
            },
            "required": ["action"]
        }),
    }
}

/// The scheduler's part of the volatile system note (after the time: the model needs it
/// to schedule anything).
pub const SYSTEM_NOTE: &str = "Use the `cron` tool for reminders and scheduled tasks.";

fn fail(error: impl Into<String>) -> Value {
    json!({"ok": false, "error": error.into()})
}

fn arg<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Runs one call of the tool for the run `req`.
pub async fn run(cron: Option<&Addr<CronService>>, req: &RunRequest, arguments: &str) -> Value {
    let Some(cron) = cron else {
        return fail("the scheduler is not running");
    };
    let args: Value = match serde_json::from_str(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => return fail("tool arguments must be a JSON object"),
    };
    let bound = format!("session:{}", req.session_key);
    match arg(&args, "action").unwrap_or("") {
        "add" => add(cron, req, &args, bound).await,
        "list" => {
            let page = cron
                .send(CronList {
                    include_disabled: true,
                    bound_to: Some(bound),
                    ..CronList::default()
                })
                .await;
            match page {
                Ok(v) => {
                    let jobs: Vec<Value> = v["jobs"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|j| {
                                    json!({"id": j["id"], "name": j["name"], "schedule": j["schedule"],
                                        "enabled": j["enabled"], "nextRunAtMs": j["nextRunAtMs"],
                                        "message": j["payload"]["message"]})
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    json!({"ok": true, "jobs": jobs})
                }
                Err(_) => fail("the scheduler is not running"),
            }
        }
        "remove" => {
            let Some(id) = arg(&args, "id") else {
                return fail("action remove needs the id of a job (see action list)");
            };
            match cron
                .send(CronRemove {
                    id: id.chars().take(128).collect(),
                    bound_to: Some(bound),
                })
                .await
            {
                Ok(Ok(_)) => json!({"ok": true, "removed": id}),
                Ok(Err(e)) => fail(e.to_string()),
                Err(_) => fail("the scheduler is not running"),
            }
        }
        other => fail(format!(
            "unknown action {:?}; use add, list or remove",
            other.chars().take(32).collect::<String>()
        )),
    }
}

async fn add(cron: &Addr<CronService>, req: &RunRequest, args: &Value, bound: String) -> Value {
    if matches!(req.origin, RunOrigin::Cron { .. }) {
        return fail("a scheduled run cannot schedule more jobs");
    }
    let Some(message) = arg(args, "message") else {
        return fail("action add needs a message: the instruction you will get when it runs");
    };
    let chosen = ["at", "every", "cron"]
        .iter()
        .filter(|k| arg(args, k).is_some())
        .count();
    if chosen != 1 {
        return fail("action add needs exactly one of at, every or cron");
    }
    let now = now_ms();
    let schedule = if let Some(at) = arg(args, "at") {
        let t = match expr::parse_duration_ms(at) {
            Ok(d) => now.saturating_add(d),
            Err(_) => match expr::parse_at(at) {
                Ok(t) => u64::try_from(t).unwrap_or(0),
                Err(e) => return fail(format!("{e}; use an ISO time or a delay such as 20m")),
            },
        };
        if t <= now {
            return fail("that time has passed");
        }
        let iso = jiff::Timestamp::from_millisecond(i64::try_from(t).unwrap_or(i64::MAX))
            .map(|ts| ts.to_string())
            .unwrap_or_default();
        json!({"kind": "at", "at": iso})
    } else if let Some(every) = arg(args, "every") {
        match expr::parse_duration_ms(every) {
            Ok(d) if d >= MIN_AGENT_INTERVAL_MS => json!({"kind": "every", "everyMs": d}),
            Ok(_) => return fail("repeat at most every 5 minutes"),
            Err(e) => return fail(e),
        }
    } else {
        let e = arg(args, "cron").unwrap_or_default();
        let tz = arg(args, "tz");
        let (parsed, zone) = match (expr::CronExpr::parse(e), expr::resolve_tz(tz)) {
            (Ok(p), Ok(z)) => (p, z),
            (Err(why), _) | (_, Err(why)) => {
                return fail(format!("not a valid cron expression and zone: {why}"));
            }
        };
        // The two next runs must be at least MIN_AGENT_INTERVAL_MS apart (sampled over a
        // day of runs: an expression like "* 9 * * *" repeats every minute within an hour).
        let mut t = i64::try_from(now).unwrap_or(i64::MAX);
        for _ in 0..64 {
            let Some(a) = parsed.next_after(&zone, t) else {
                break;
            };
            let Some(b) = parsed.next_after(&zone, a) else {
                break;
            };
            if u64::try_from(b - a).unwrap_or(0) < MIN_AGENT_INTERVAL_MS {
                return fail("repeat at most every 5 minutes");
            }
            t = a;
        }
        let mut s = json!({"kind": "cron", "expr": e});
        if let Some(tz) = tz {
            s["tz"] = Value::from(tz);
        }
        s
    };
    let name = arg(args, "name")
        .map(|n| n.chars().take(80).collect::<String>())
        .unwrap_or_else(|| message.chars().take(40).collect());
    let delivery = match &req.origin {
        RunOrigin::Channel { inbound, .. } => {
            let mut d = json!({"mode": "announce", "channel": inbound.channel,
                "to": inbound.chat_id.to_string(), "accountId": inbound.account_id});
            if let Some(t) = inbound.thread_id {
                d["threadId"] = Value::from(t);
            }
            d
        }
        // An operator's run: the answer shows in the session (chat events).
        _ => json!({"mode": "none"}),
    };
    let params = json!({
        "name": name,
        "schedule": schedule,
        "sessionTarget": bound,
        "payload": {"kind": "agentTurn", "message": message},
        "delivery": delivery,
    });
    let added = cron
        .send(CronAdd {
            params,
            caller_session: None,
            created_by: req.origin.policy_sender(),
            shared_chat: crate::agent_run::scope_of(req) == crate::workspace::Scope::Shared,
            per_chat_limit: Some(MAX_JOBS_PER_CHAT),
        })
        .await;
    match added {
        Ok(Ok(job)) => json!({"ok": true, "job": {"id": job["id"], "name": job["name"],
            "schedule": job["schedule"], "nextRunAtMs": job["nextRunAtMs"]}}),
        Ok(Err(e)) => fail(e.to_string()),
        Err(_) => fail("the scheduler is not running"),
    }
}
