//! `cron.status`, `cron.list`, `cron.get`, `cron.add`, `cron.update`, `cron.remove`,
//! `cron.run`, `cron.runs` (OpenClaw's `server-methods/cron.ts`): the params are checked
//! here, the jobs live in the [`CronService`](crate::cron::CronService).

use actix::prelude::*;
use serde_json::{Map, Value};

use super::args::{closed, invalid, opt_str, params};
use super::{Call, Method, gone};
use crate::cron::{
    CronAdd, CronError, CronGet, CronList, CronRemove, CronRun, CronRuns, CronStatus, CronUpdate,
    CronWake, LastHeartbeat, SetHeartbeats,
};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess, READ, WRITE};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "cron.status",
        access: MethodAccess::Operator(READ),
        handler: WsSession::cron_status,
    },
    Method {
        name: "cron.list",
        access: MethodAccess::Operator(READ),
        handler: WsSession::cron_list,
    },
    Method {
        name: "cron.get",
        access: MethodAccess::Operator(READ),
        handler: WsSession::cron_get,
    },
    Method {
        name: "cron.add",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::cron_add,
    },
    Method {
        name: "cron.update",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::cron_update,
    },
    Method {
        name: "cron.remove",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::cron_remove,
    },
    Method {
        name: "cron.run",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::cron_run,
    },
    Method {
        name: "cron.runs",
        access: MethodAccess::Operator(READ),
        handler: WsSession::cron_runs,
    },
    Method {
        name: "wake",
        access: MethodAccess::Operator(WRITE),
        handler: WsSession::wake,
    },
    Method {
        name: "last-heartbeat",
        access: MethodAccess::Operator(READ),
        handler: WsSession::last_heartbeat,
    },
    Method {
        name: "set-heartbeats",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::set_heartbeats,
    },
];

/// The job id of `{id}` or `{jobId}` (OpenClaw's `cronIdOrJobIdParams`).
fn job_id(method: &str, o: &Map<String, Value>) -> Result<String, ErrorShape> {
    let id = match (o.get("id"), o.get("jobId")) {
        (Some(_), Some(_)) => return Err(invalid(method, "give id or jobId, not both")),
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => return Err(invalid(method, "missing id")),
    };
    match id.as_str().map(str::trim) {
        Some(s) if !s.is_empty() && s.len() <= 128 && !s.contains(['/', '\\']) => Ok(s.to_owned()),
        Some(_) => Err(invalid(method, "id must be a job id")),
        None => Err(invalid(method, "id must be a string")),
    }
}

fn opt_uint(
    method: &str,
    o: &Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<usize>, ErrorShape> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(usize::try_from(n).ok()),
            _ => Err(invalid(
                method,
                format!("{key} must be an integer from {min} to {max}"),
            )),
        },
    }
}

fn check_agent(method: &str, o: &Map<String, Value>) -> Result<(), ErrorShape> {
    match opt_str(method, o, "agentId", &[])? {
        None => Ok(()),
        Some(a) if crate::agents::known_now(&a.trim().to_ascii_lowercase()) => Ok(()),
        Some(a) => {
            let shown: String = a.chars().take(64).collect();
            Err(invalid(method, format!("unknown agent \"{shown}\"")))
        }
    }
}

fn parse_list(call: &Call) -> Result<CronList, ErrorShape> {
    const M: &str = "cron.list";
    let o = params(M, &call.params)?;
    closed(
        M,
        &o,
        &[
            "sessionKey",
            "sessionAgentId",
            "includeDisabled",
            "limit",
            "offset",
            "query",
            "enabled",
            "scheduleKind",
            "lastRunStatus",
            "trigger",
            "sortBy",
            "sortDir",
            "agentId",
            "compact",
            "includeDeliveryPreviews",
        ],
    )?;
    check_agent(M, &o)?;
    for k in ["includeDisabled", "compact", "includeDeliveryPreviews"] {
        if o.get(k).is_some_and(|v| !v.is_boolean()) {
            return Err(invalid(M, format!("{k} must be a boolean")));
        }
    }
    let query = opt_str(M, &o, "query", &[])?;
    if query.is_some_and(|q| q.len() > 256) {
        return Err(invalid(M, "query is longer than 256 bytes"));
    }
    let _ = opt_str(M, &o, "trigger", &["all", "conditional", "unconditional"])?;
    let _ = opt_str(
        M,
        &o,
        "lastRunStatus",
        &["all", "ok", "error", "skipped", "unknown"],
    )?;
    let _ = opt_str(M, &o, "sessionKey", &[])?;
    let _ = opt_str(M, &o, "sessionAgentId", &[])?;
    Ok(CronList {
        include_disabled: o.get("includeDisabled") == Some(&Value::Bool(true)),
        enabled: opt_str(M, &o, "enabled", &["all", "enabled", "disabled"])?.map(str::to_owned),
        schedule_kind: opt_str(
            M,
            &o,
            "scheduleKind",
            &["all", "at", "every", "cron", "on-exit", "stream"],
        )?
        .map(str::to_owned),
        query: query.map(str::to_owned),
        sort_by: opt_str(M, &o, "sortBy", &["nextRunAtMs", "updatedAtMs", "name"])?
            .map(str::to_owned),
        desc: opt_str(M, &o, "sortDir", &["asc", "desc"])? == Some("desc"),
        offset: opt_uint(M, &o, "offset", 0, u64::from(u32::MAX))?.unwrap_or(0),
        limit: opt_uint(M, &o, "limit", 1, 200)?,
        bound_to: None,
        previews: o.get("compact") != Some(&Value::Bool(true))
            && o.get("includeDeliveryPreviews") != Some(&Value::Bool(false)),
    })
}

fn parse_runs(call: &Call) -> Result<CronRuns, ErrorShape> {
    const M: &str = "cron.runs";
    let o = params(M, &call.params)?;
    closed(
        M,
        &o,
        &[
            "agentId",
            "scope",
            "id",
            "jobId",
            "runId",
            "limit",
            "offset",
            "statuses",
            "status",
            "deliveryStatuses",
            "deliveryStatus",
            "query",
            "sortDir",
        ],
    )?;
    check_agent(M, &o)?;
    let has_id = o.contains_key("id") || o.contains_key("jobId");
    let scope =
        opt_str(M, &o, "scope", &["job", "all"])?.unwrap_or(if has_id { "job" } else { "all" });
    let id = match scope {
        "job" => Some(job_id(M, &o)?),
        _ => None,
    };
    let mut statuses = Vec::new();
    match opt_str(M, &o, "status", &["all", "ok", "error", "skipped"])? {
        None | Some("all") => {}
        Some(s) => statuses.push(s.to_owned()),
    }
    match o.get("statuses") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if (1..=3).contains(&a.len()) => {
            for s in a {
                match s.as_str() {
                    Some(s @ ("ok" | "error" | "skipped")) => statuses.push(s.to_owned()),
                    _ => return Err(invalid(M, "statuses must hold ok, error or skipped")),
                }
            }
        }
        Some(_) => return Err(invalid(M, "statuses must be an array of 1 to 3 statuses")),
    }
    let query = opt_str(M, &o, "query", &[])?;
    if query.is_some_and(|q| q.len() > 256) {
        return Err(invalid(M, "query is longer than 256 bytes"));
    }
    let run_id = opt_str(M, &o, "runId", &[])?.map(str::to_owned);
    const DELIVERY: &[&str] = &["delivered", "not-delivered", "unknown", "not-requested"];
    let mut delivery_statuses = Vec::new();
    if let Some(d) = opt_str(M, &o, "deliveryStatus", DELIVERY)? {
        delivery_statuses.push(d.to_owned());
    }
    match o.get("deliveryStatuses") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if (1..=4).contains(&a.len()) => {
            for d in a {
                match d.as_str() {
                    Some(d) if DELIVERY.contains(&d) => delivery_statuses.push(d.to_owned()),
                    _ => {
                        return Err(invalid(
                            M,
                            format!("deliveryStatuses must hold {}", DELIVERY.join(", ")),
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(invalid(
                M,
                "deliveryStatuses must be an array of 1 to 4 statuses",
            ));
        }
    }
    Ok(CronRuns {
        run_id,
        delivery_statuses,
        id,
        statuses,
        asc: opt_str(M, &o, "sortDir", &["asc", "desc"])? == Some("asc"),
        offset: opt_uint(M, &o, "offset", 0, u64::from(u32::MAX))?.unwrap_or(0),
        limit: opt_uint(M, &o, "limit", 1, 200)?.unwrap_or(50),
        query: query.map(str::to_owned),
    })
}

fn map_err(e: CronError) -> ErrorShape {
    e.to_shape()
}

impl WsSession {
    fn cron_addr(&self) -> Result<Addr<crate::cron::CronService>, ErrorShape> {
        self.shared
            .cron
            .get()
            .map(|c| c.0.clone())
            .ok_or_else(|| ErrorShape::unavailable("the cron scheduler is not running"))
    }

    fn cron_call<M, T>(&mut self, call: Call, msg: Result<M, ErrorShape>, ctx: &mut Context<Self>)
    where
        M: Message<Result = Result<T, CronError>> + Send + 'static,
        M::Result: Send,
        T: serde::Serialize + Send + 'static,
        crate::cron::CronService: Handler<M>,
    {
        let fut = match (msg, self.cron_addr()) {
            (Ok(m), Ok(addr)) => addr.send(m),
            (Err(e), _) | (_, Err(e)) => return self.respond_err(&call.id, &e, ctx),
        };
        self.reply_with(
            call.id,
            async move {
                match fut.await {
                    Ok(r) => r.map_err(map_err),
                    Err(_) => Err(gone()),
                }
            },
            ctx,
        );
    }

    /// Sends `msg` (a message whose answer is the wire result) to the scheduler and answers
    /// with its reply.
    fn cron_ask<M>(&mut self, call: Call, msg: Result<M, ErrorShape>, ctx: &mut Context<Self>)
    where
        M: Message + Send + 'static,
        M::Result: serde::Serialize + Send,
        crate::cron::CronService: Handler<M>,
    {
        let fut = match msg.and_then(|m| Ok(self.cron_addr()?.send(m))) {
            Ok(f) => f,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `cron.status {}`.
    fn cron_status(&mut self, call: Call, ctx: &mut Context<Self>) {
        let msg = params("cron.status", &call.params)
            .and_then(|o| closed("cron.status", &o, &[]))
            .map(|()| CronStatus);
        self.cron_ask(call, msg, ctx);
    }

    /// `cron.list {includeDisabled?, limit?, offset?, query?, enabled?, scheduleKind?, sortBy?, sortDir?, …}`.
    fn cron_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        let msg = parse_list(&call);
        self.cron_ask(call, msg, ctx);
    }

    /// `cron.get {id | jobId}`.
    fn cron_get(&mut self, call: Call, ctx: &mut Context<Self>) {
        let msg = params("cron.get", &call.params).and_then(|o| {
            closed("cron.get", &o, &["id", "jobId"])?;
            Ok(CronGet {
                id: job_id("cron.get", &o)?,
            })
        });
        self.cron_call(call, msg, ctx);
    }

    /// `cron.add {name, schedule, payload, sessionTarget?, wakeMode?, delivery?, …}`.
    fn cron_add(&mut self, mut call: Call, ctx: &mut Context<Self>) {
        let params = std::mem::take(&mut call.params);
        let msg = Ok(CronAdd {
            params,
            caller_session: None,
            created_by: None,
            shared_chat: false,
            per_chat_limit: None,
        });
        self.cron_call(call, msg, ctx);
    }

    /// `cron.update {id | jobId, patch, expectedConfigRevision?}`.
    fn cron_update(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "cron.update";
        let msg = params(M, &call.params).and_then(|o| {
            closed(M, &o, &["id", "jobId", "patch", "expectedConfigRevision"])?;
            if o.contains_key("expectedConfigRevision") {
                return Err(invalid(
                    M,
                    "expectedConfigRevision is not supported by this gateway (it keeps no job revisions)",
                ));
            }
            Ok(CronUpdate {
                id: job_id(M, &o)?,
                patch: o
                    .get("patch")
                    .cloned()
                    .ok_or_else(|| invalid(M, "must have required property 'patch'"))?,
            })
        });
        self.cron_call(call, msg, ctx);
    }

    /// `cron.remove {id | jobId}`.
    fn cron_remove(&mut self, call: Call, ctx: &mut Context<Self>) {
        let msg = params("cron.remove", &call.params).and_then(|o| {
            closed("cron.remove", &o, &["id", "jobId"])?;
            Ok(CronRemove {
                id: job_id("cron.remove", &o)?,
                bound_to: None,
            })
        });
        self.cron_call(call, msg, ctx);
    }

    /// `cron.run {id | jobId, mode?, expectedProcessInstanceId?}`.
    fn cron_run(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "cron.run";
        let boot = self.shared.boot_id.clone();
        let msg = params(M, &call.params).and_then(|o| {
            closed(M, &o, &["id", "jobId", "mode", "expectedProcessInstanceId"])?;
            if let Some(p) = opt_str(M, &o, "expectedProcessInstanceId", &[])?
                && p != boot
            {
                return Err(invalid(M, "Gateway process changed after preflight"));
            }
            Ok(CronRun {
                id: job_id(M, &o)?,
                mode: opt_str(M, &o, "mode", &["due", "force", "if-enabled"])?
                    .unwrap_or("force")
                    .to_owned(),
            })
        });
        let boot = self.shared.boot_id.clone();
        let fut = match msg.and_then(|m| Ok(self.cron_addr()?.send(m))) {
            Ok(f) => f,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        self.reply_with(
            call.id,
            async move {
                let mut v = fut.await.map_err(|_| gone())?.map_err(map_err)?;
                if let Value::Object(m) = &mut v {
                    m.insert("processInstanceId".to_owned(), Value::from(boot));
                }
                Ok(v)
            },
            ctx,
        );
    }

    /// `last-heartbeat {}` (`openclaw system heartbeat last`): the last `heartbeat` event.
    fn last_heartbeat(&mut self, call: Call, ctx: &mut Context<Self>) {
        self.cron_ask(call, Ok(LastHeartbeat), ctx);
    }

    /// `set-heartbeats {enabled}`: pause or resume the heartbeat.
    fn set_heartbeats(&mut self, call: Call, ctx: &mut Context<Self>) {
        let msg = match call.params.get("enabled") {
            Some(Value::Bool(b)) => Ok(SetHeartbeats(*b)),
            _ => Err(invalid("set-heartbeats", "enabled (boolean) required")),
        };
        self.cron_ask(call, msg, ctx);
    }

    /// `wake {mode, text, sessionKey?, agentId?}` (`openclaw system event`).
    fn wake(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "wake";
        let msg = params(M, &call.params).and_then(|o| {
            closed(M, &o, &["mode", "text", "sessionKey", "agentId"])?;
            check_agent(M, &o)?;
            let now = match opt_str(M, &o, "mode", &["now", "next-heartbeat"])? {
                Some(m) => m == "now",
                None => return Err(invalid(M, "must have required property 'mode'")),
            };
            let text = match opt_str(M, &o, "text", &[])?.map(str::trim) {
                Some(t) if !t.is_empty() => t,
                _ => return Err(invalid(M, "text must be a non-empty string")),
            };
            if text.chars().count() > crate::cron::job::MAX_TEXT_CHARS {
                return Err(invalid(
                    M,
                    format!(
                        "text is longer than {} characters",
                        crate::cron::job::MAX_TEXT_CHARS
                    ),
                ));
            }
            let session_key = match opt_str(M, &o, "sessionKey", &[])?.map(str::trim) {
                Some("") => None,
                Some(k) if k.len() > 256 => {
                    return Err(invalid(M, "sessionKey is longer than 256 bytes"));
                }
                Some(k) => Some(crate::channel::normalize_session_key(k)),
                None => None,
            };
            Ok(CronWake {
                prompt: false,
                now,
                text: text.to_owned(),
                session_key,
            })
        });
        self.cron_call(call, msg, ctx);
    }

    /// `cron.runs {id | jobId, scope?, limit?, offset?, status?, statuses?, query?, sortDir?}`.
    fn cron_runs(&mut self, call: Call, ctx: &mut Context<Self>) {
        let msg = parse_runs(&call);
        self.cron_call(call, msg, ctx);
    }
}
