//! `tasks.list`, `tasks.get` and `tasks.cancel` (OpenClaw's task ledger RPCs; see
//! [`crate::registry::tasks`]), with OpenClaw's closed params schemas.

use actix::prelude::*;
use serde_json::Value;

use super::agent_params::{fail, obj};
use super::{Call, Method};
use crate::protocol::scopes::{MethodAccess, READ, WRITE};
use crate::protocol::validate::Checker;
use crate::registry::tasks::{DEFAULT_LIMIT, ListQuery, MAX_LIMIT, STATUSES, TasksAsk};
use crate::ws_session::{ErrorShape, WsSession};

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "tasks.list",
        access: MethodAccess::Operator(READ),
        handler: WsSession::tasks_call,
    },
    Method {
        name: "tasks.get",
        access: MethodAccess::Operator(READ),
        handler: WsSession::tasks_call,
    },
    Method {
        name: "tasks.cancel",
        access: MethodAccess::Operator(WRITE),
        handler: WsSession::tasks_call,
    },
];

/// The longest `cursor` (OpenClaw's).
const MAX_CURSOR: usize = 512;

/// `status`: one ledger status or a list of them.
fn statuses(c: &mut Checker, v: Option<&Value>) -> Option<Vec<&'static str>> {
    let one = |c: &mut Checker, path: &str, v: &Value| match v.as_str() {
        Some(s) => {
            let hit = STATUSES.iter().find(|k| **k == s).copied();
            if hit.is_none() {
                c.error(
                    path,
                    &format!(
                        "must be equal to one of the allowed values ({})",
                        STATUSES.join(", ")
                    ),
                );
            }
            hit
        }
        None => {
            c.error(path, "must be string");
            None
        }
    };
    match v? {
        Value::Array(items) => Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, s)| one(c, &format!("/status/{i}"), s))
                .collect(),
        ),
        s => one(c, "/status", s).map(|s| vec![s]),
    }
}

fn parse(call: &Call) -> Result<TasksAsk, ErrorShape> {
    let m = call.method;
    let o = obj(m, &call.params)?;
    let mut c = Checker::new();
    if m != "tasks.list" {
        c.closed(
            "",
            o,
            &["taskId", "reason"][..if m == "tasks.get" { 1 } else { 2 }],
        );
        c.required("", o, "taskId");
        let id = c.string("", o, "taskId", true).map(str::to_owned);
        c.string("", o, "reason", false);
        return match id {
            Some(id) if c.ok() && m == "tasks.get" => Ok(TasksAsk::Get(id)),
            Some(id) if c.ok() => Ok(TasksAsk::Cancel(id)),
            _ => Err(fail(m, &c)),
        };
    }
    if o.get("cursor")
        .and_then(Value::as_str)
        .is_some_and(|s| s.len() > MAX_CURSOR)
    {
        return Err(ErrorShape::invalid(
            "invalid or expired tasks.list cursor; restart pagination without a cursor",
        ));
    }
    c.closed(
        "",
        o,
        &[
            "status",
            "agentId",
            "sessionKey",
            "limit",
            "cursor",
            "sortBy",
        ],
    );
    let statuses = statuses(&mut c, o.get("status"));
    let agent = c.string("", o, "agentId", true);
    let key = c.string("", o, "sessionKey", true);
    let limit = c.integer("", o, "limit", 1);
    if limit.is_some_and(|n| n > MAX_LIMIT as u64) {
        c.error("/limit", &format!("must be <= {MAX_LIMIT}"));
    }
    let cursor = c.string("", o, "cursor", false).map(str::to_owned);
    let by_end = match c.string("", o, "sortBy", false) {
        None | Some("updatedAt") => false,
        Some("endedAt") => true,
        Some(_) => {
            c.error(
                "/sortBy",
                "must be equal to one of the allowed values (updatedAt, endedAt)",
            );
            false
        }
    };
    if !c.ok() {
        return Err(fail(m, &c));
    }
    let session_key = key
        .map(|k| super::session_send::session_key(m, k, agent))
        .transpose()?;
    Ok(TasksAsk::List(ListQuery {
        statuses,
        // A session names its agent already.
        agent_id: agent
            .filter(|_| session_key.is_none())
            .map(|a| a.trim().to_ascii_lowercase()),
        session_key,
        limit: limit.map_or(DEFAULT_LIMIT, |n| usize::try_from(n).unwrap_or(MAX_LIMIT)),
        by_end,
        cursor,
    }))
}

impl WsSession {
    /// `tasks.list` / `tasks.get` / `tasks.cancel`.
    fn tasks_call(&mut self, call: Call, ctx: &mut Context<Self>) {
        match parse(&call) {
            Ok(ask) => self.reply_registry(call.id, ask, ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }
}
