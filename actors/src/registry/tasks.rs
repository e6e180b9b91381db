//! The task ledger's RPCs (OpenClaw's `server-methods/tasks.ts`: `tasks.list`,
//! `tasks.get`, `tasks.cancel`) over this gateway's background work: its sub-agents
//! (`runtime: "subagent"`, see [`super::subagents`]), kept as long as `subagents list`
//! keeps them. Answers are OpenClaw's `TaskSummary` objects.
//!
//! `tasks.list` pages newest first by keyset (the last row's time and id, bound to the
//! filters): a row that did not change is never repeated or skipped because others started
//! or ended meanwhile; one that changed moves to the front (a fresh first page shows it).

use actix::prelude::*;
use serde_json::{Value, json};

use super::Registry;
use super::subagents::TaskRow;
use crate::protocol::error::ErrorShape;

/// The ledger statuses (OpenClaw's `TaskLedgerStatusSchema`).
pub const STATUSES: [&str; 6] = [
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
    "timed_out",
];

/// Rows a page has when `limit` is absent, and at most.
pub const DEFAULT_LIMIT: usize = 100;
/// See [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: usize = 500;
/// The longest summary line (OpenClaw's, in characters).
const SUMMARY_CHARS: usize = 120;

/// What `tasks.list` asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only these statuses (`None`: all).
    pub statuses: Option<Vec<&'static str>>,
    /// Only this agent's.
    pub agent_id: Option<String>,
    /// Only those this session spawned (normalized key).
    pub session_key: Option<String>,
    /// Rows per page.
    pub limit: usize,
    /// Sorted by when they ended (`sortBy: "endedAt"`), else by their last change.
    pub by_end: bool,
    /// Where the previous page ended (`cursor`).
    pub cursor: Option<String>,
}

/// A task ledger request.
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
pub enum TasksAsk {
    /// `tasks.list`.
    List(ListQuery),
    /// `tasks.get {taskId}`.
    Get(String),
    /// `tasks.cancel {taskId, reason?}`.
    Cancel(String),
}

/// The answer to a cursor that is not this query's.
fn bad_cursor() -> ErrorShape {
    ErrorShape::invalid("invalid or expired tasks.list cursor; restart pagination without a cursor")
}

/// FNV-1a over the query's filters: a cursor is only good for the query that made it.
fn fingerprint(q: &ListQuery) -> u64 {
    let text = format!(
        "{:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{}",
        q.statuses, q.agent_id, q.session_key, q.by_end
    );
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// OpenClaw's `TaskSummary` of `row` (`full`: `tasks.get`'s, with the task and the result).
pub(super) fn summary(row: &TaskRow, full: bool) -> Value {
    let mut v = json!({
        "id": row.id, "taskId": row.id, "runId": row.id,
        "kind": "subagent", "runtime": "subagent", "status": row.status,
        "title": row.title, "agentId": row.agent_id,
        "sessionKey": row.requester_key, "ownerKey": row.requester_key,
        "childSessionKey": row.child_key,
        "createdAt": row.created_at, "updatedAt": row.updated_at(),
    });
    if let Some(t) = row.started_at {
        v["startedAt"] = json!(t);
    }
    if let Some(t) = row.ended_at {
        v["endedAt"] = json!(t);
    }
    if let Some(e) = &row.error {
        v["error"] = json!(e);
    }
    if let Some(line) = row.error.as_deref().or(row.result.as_deref()) {
        v["terminalSummary"] = json!(crate::subagents::clean(line, SUMMARY_CHARS));
    }
    if full {
        if let Some(r) = &row.result {
            v["result"] = json!(r);
        }
        if let Some(p) = &row.prompt {
            v["prompt"] = json!(p);
        }
    }
    v
}

/// One page of `rows` for `q`: `{tasks, nextCursor?}`.
pub(super) fn page(mut rows: Vec<TaskRow>, q: &ListQuery) -> Result<Value, ErrorShape> {
    let fp = fingerprint(q);
    let after = match &q.cursor {
        None => None,
        Some(c) => {
            let mut parts = c.splitn(3, '.');
            let (Some(time), Some(id), Some(bound)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad_cursor());
            };
            let time: u64 = time.parse().map_err(|_| bad_cursor())?;
            if u64::from_str_radix(bound, 16).ok() != Some(fp) {
                return Err(bad_cursor());
            }
            Some((time, id.to_owned()))
        }
    };
    let time = |r: &TaskRow| {
        if q.by_end {
            r.ended_at.unwrap_or_else(|| r.updated_at())
        } else {
            r.updated_at()
        }
    };
    rows.retain(|r| {
        q.statuses.as_ref().is_none_or(|s| s.contains(&r.status))
            && q.agent_id.as_ref().is_none_or(|a| *a == r.agent_id)
            && q.session_key.as_ref().is_none_or(|k| *k == r.requester_key)
            && after
                .as_ref()
                .is_none_or(|(t, id)| (time(r), r.id.as_str()) < (*t, id.as_str()))
    });
    // Newest first; the id breaks ties.
    rows.sort_by(|a, b| (time(b), &b.id).cmp(&(time(a), &a.id)));
    let more = rows.len() > q.limit;
    rows.truncate(q.limit);
    let mut out = json!({"tasks": rows.iter().map(|r| summary(r, false)).collect::<Vec<_>>()});
    if more && let Some(last) = rows.last() {
        out["nextCursor"] = json!(format!("{}.{}.{fp:016x}", time(last), last.id));
    }
    Ok(out)
}

impl Handler<TasksAsk> for Registry {
    type Result = Result<Value, ErrorShape>;

    fn handle(&mut self, msg: TasksAsk, ctx: &mut Self::Context) -> Self::Result {
        match msg {
            TasksAsk::List(q) => page(self.children.task_rows(), &q),
            TasksAsk::Get(id) => match self.children.task_row(&id) {
                Some(row) => Ok(json!({"task": summary(&row, true)})),
                None => Err(ErrorShape::invalid(format!(
                    "task not found: {}",
                    crate::subagents::clean(&id, 100)
                ))),
            },
            TasksAsk::Cancel(id) => {
                let done = self.cancel_task(&id, ctx);
                let task = self.children.task_row(&id).map(|r| summary(&r, false));
                Ok(match (done, task) {
                    (None, _) | (_, None) => json!({"found": false, "cancelled": false}),
                    (Some(Ok(())), Some(t)) => {
                        log::info!("sub-agent {id}: cancelled (tasks.cancel)");
                        json!({"found": true, "cancelled": true, "task": t})
                    }
                    (Some(Err(why)), Some(t)) => {
                        json!({"found": true, "cancelled": false, "reason": why, "task": t})
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: &'static str, created: u64, ended: Option<u64>) -> TaskRow {
        TaskRow {
            id: id.into(),
            status,
            title: format!("t-{id}"),
            agent_id: "main".into(),
            requester_key: if id.starts_with('x') {
                "agent:main:other".into()
            } else {
                "agent:main:main".into()
            },
            child_key: format!("agent:main:subagent:{id}"),
            created_at: created,
            started_at: Some(created + 1),
            ended_at: ended,
            error: None,
            result: Some("r".repeat(500)),
            prompt: None,
        }
    }

    fn ids(v: &Value) -> Vec<String> {
        v["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect()
    }

    #[test]
    fn pages_newest_first_by_keyset_and_cursors_are_bound_to_their_query() {
        let rows = || {
            vec![
                row("a", "completed", 10, Some(50)),
                row("b", "running", 20, None),
                row("c", "completed", 30, Some(40)),
                row("d", "queued", 40, None),
                row("x", "running", 45, None),
            ]
        };
        let q = ListQuery {
            limit: 2,
            ..ListQuery::default()
        };
        let first = page(rows(), &q).expect("page");
        assert_eq!(ids(&first), ["a", "x"]);
        let cursor = first["nextCursor"].as_str().expect("more").to_owned();
        // A row ending between pages moves to the front; the others neither repeat nor
        // go missing.
        let mut later = rows();
        later[1].ended_at = Some(60);
        let second = page(
            later,
            &ListQuery {
                cursor: Some(cursor.clone()),
                ..q.clone()
            },
        )
        .expect("page");
        assert_eq!(ids(&second), ["d", "c"]);
        // By end time, only completed ones, only one session's.
        let done = ListQuery {
            statuses: Some(vec!["completed"]),
            by_end: true,
            limit: 10,
            session_key: Some("agent:main:main".into()),
            ..ListQuery::default()
        };
        let v = page(rows(), &done).expect("page");
        assert_eq!(ids(&v), ["a", "c"]);
        assert!(v.get("nextCursor").is_none());
        // A cursor is only good for its own query, and never a panic.
        for bad in [
            cursor.replace('.', ":"),
            format!("{cursor}0"),
            "x.y.z".into(),
            "..".into(),
            "18446744073709551616.a.0".into(),
            "\u{202e}".into(),
        ] {
            let err = page(
                rows(),
                &ListQuery {
                    cursor: Some(bad.clone()),
                    ..done.clone()
                },
            )
            .expect_err("refused");
            assert!(err.message.contains("invalid or expired"), "{bad}");
        }
        let err = page(
            rows(),
            &ListQuery {
                cursor: Some(cursor),
                ..done
            },
        )
        .expect_err("another query's cursor");
        assert!(err.message.contains("cursor"));
        // Summaries are bounded; the full one carries the result.
        let r = row("a", "completed", 1, Some(2));
        let s = summary(&r, false);
        assert!(
            s["terminalSummary"]
                .as_str()
                .is_some_and(|t| t.chars().count() <= SUMMARY_CHARS)
        );
        assert!(s.get("result").is_none());
        assert_eq!(
            summary(&r, true)["result"].as_str().map(str::len),
            Some(500)
        );
    }
}
