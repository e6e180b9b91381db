//! `usage.cost`, `sessions.usage`, `sessions.usage.timeseries`, `sessions.usage.logs`
//! (OpenClaw's `server-methods/usage.ts`): what the agents' model calls cost per day, and
//! per session, from the `usage` their answers recorded in the transcripts
//! ([`crate::usage`], [`crate::session_usage`]), so that the real CLI's
//! `openclaw gateway usage-cost` and the apps' usage views show it.

use actix::prelude::*;
use serde_json::{Map, Value};

use super::agent_params::{fail, obj};
use super::{Call, Method, Params, gone};
use crate::channel::normalize_session_key;
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::registry::usage_targets::UsageTargets;
use crate::session_usage::Query;
use crate::usage::{DayZone, Range};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "usage.cost",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::usage_cost),
    },
    Method {
        name: "sessions.usage",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_usage),
    },
    Method {
        name: "sessions.usage.timeseries",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::session_usage_file),
    },
    Method {
        name: "sessions.usage.logs",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::session_usage_file),
    },
];

/// The calendar of `mode` (`utc`, the default, or the `gateway` host's zone).
fn day_zone(mode: Option<&str>) -> Result<DayZone, ErrorShape> {
    match mode {
        None | Some("utc") => Ok(DayZone::Utc),
        Some("gateway") => Ok(DayZone::Gateway),
        Some(other) => {
            let shown: String = other.chars().take(40).collect();
            Err(ErrorShape::invalid(format!(
                "invalid mode \"{shown}\": this gateway counts days in \"utc\" or the \"gateway\" host's zone"
            )))
        }
    }
}

/// `startDate` with `endDate`, or neither.
fn date_pair<'a>(
    start: Option<&'a str>,
    end: Option<&'a str>,
) -> Result<Option<(&'a str, &'a str)>, ErrorShape> {
    match (start, end) {
        (Some(s), Some(e)) => Ok(Some((s, e))),
        (None, None) => Ok(None),
        _ => Err(ErrorShape::invalid(
            "startDate and endDate must be provided together",
        )),
    }
}

/// The agent `agentId` names (known to the running gateway).
fn known_agent(id: &str) -> Result<String, ErrorShape> {
    let id = id.trim().to_ascii_lowercase();
    if crate::agents::known_now(&id) {
        Ok(id)
    } else {
        let shown: String = id.chars().take(64).collect();
        Err(ErrorShape::invalid(format!("unknown agent id \"{shown}\"")))
    }
}

/// `agentScope`: `"all"` (`true`), or absent.
fn all_agents(scope: Option<&str>) -> Result<bool, ErrorShape> {
    match scope {
        None => Ok(false),
        Some("all") => Ok(true),
        Some(other) => {
            let shown: String = other.chars().take(40).collect();
            Err(ErrorShape::invalid(format!(
                "invalid agentScope \"{shown}\": use \"all\""
            )))
        }
    }
}

fn now() -> i64 {
    i64::try_from(crate::util::now_ms()).unwrap_or(i64::MAX)
}

/// `usage.cost` params.
pub(crate) struct CostParams {
    range: Range,
    /// `None`: every agent (`agentScope: "all"`).
    agent: Option<String>,
}

impl Params for CostParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const METHOD: &str = "usage.cost";
        let o = obj(METHOD, &call.params)?;
        let mut c = Checker::new();
        c.closed(
            "",
            o,
            &[
                "days",
                "startDate",
                "endDate",
                "mode",
                "utcOffset",
                "timeZone",
                "agentId",
                "agentScope",
            ],
        );
        let days = c.integer("", o, "days", 1);
        let start = c.string("", o, "startDate", true);
        let end = c.string("", o, "endDate", true);
        let mode = c.string("", o, "mode", true);
        let agent = c.string("", o, "agentId", true).map(str::trim);
        let scope = c.string("", o, "agentScope", true);
        if !c.ok() {
            return Err(fail(METHOD, &c));
        }
        let zone = day_zone(mode)?;
        let dates = date_pair(start, end)?;
        let range = Range::new(days, dates, zone, now()).map_err(ErrorShape::invalid)?;
        let agent = match (all_agents(scope)?, agent) {
            (true, Some(_)) => {
                return Err(ErrorShape::invalid(
                    "agentScope=all cannot be combined with agentId",
                ));
            }
            (true, None) => None,
            (false, Some(a)) => Some(known_agent(a)?),
            (false, None) => Some(crate::agents::default_id_now().to_string()),
        };
        Ok(Self { range, agent })
    }
}

/// `sessions.usage` params (OpenClaw's closed `SessionsUsageParamsSchema`).
pub(crate) struct SessionsUsageParams {
    query: Query,
    /// `None`: every agent.
    agent: Option<String>,
    /// One session.
    key: Option<String>,
}

impl Params for SessionsUsageParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const METHOD: &str = "sessions.usage";
        let o = obj(METHOD, &call.params)?;
        let mut c = Checker::new();
        c.closed(
            "",
            o,
            &[
                "key",
                "agentId",
                "agentScope",
                "creatorKey",
                "startDate",
                "endDate",
                "mode",
                "range",
                "groupBy",
                "includeHistorical",
                "utcOffset",
                "timeZone",
                "limit",
                "includeContextWeight",
            ],
        );
        let key = c.string("", o, "key", true).map(str::trim);
        let agent = c.string("", o, "agentId", true).map(str::trim);
        let scope = c.string("", o, "agentScope", true);
        let creator = c.string("", o, "creatorKey", true);
        let start = c.string("", o, "startDate", true);
        let end = c.string("", o, "endDate", true);
        let mode = c.string("", o, "mode", true);
        let preset = c.string("", o, "range", true);
        let group = c.string("", o, "groupBy", true);
        c.boolean("", o, "includeHistorical");
        c.string("", o, "utcOffset", true);
        c.string("", o, "timeZone", true);
        let limit = c.integer("", o, "limit", 1);
        c.boolean("", o, "includeContextWeight");
        if !c.ok() {
            return Err(fail(METHOD, &c));
        }
        let zone = day_zone(mode)?;
        let dates = date_pair(start, end)?;
        let days = match preset {
            None => None,
            Some("7d") => Some(7),
            Some("30d") => Some(30),
            Some("90d") => Some(90),
            Some("1y") => Some(365),
            Some("all") => Some(0),
            Some(other) => {
                let shown: String = other.chars().take(40).collect();
                return Err(ErrorShape::invalid(format!(
                    "invalid range \"{shown}\": use 7d, 30d, 90d, 1y or all"
                )));
            }
        };
        if let Some(g) = group.filter(|g| !matches!(*g, "instance" | "family")) {
            let shown: String = g.chars().take(40).collect();
            return Err(ErrorShape::invalid(format!(
                "invalid groupBy \"{shown}\": use instance or family"
            )));
        }
        let range = match (dates, days) {
            (None, Some(0)) => Range::all(zone, now()),
            _ => Range::new(days, dates, zone, now()),
        }
        .map_err(ErrorShape::invalid)?;
        let all = all_agents(scope)?;
        if all && (key.is_some() || agent.is_some()) {
            return Err(ErrorShape::invalid(
                "agentScope=all cannot be combined with key or agentId",
            ));
        }
        let agent = match agent {
            Some(a) => Some(known_agent(a)?),
            None if all => None,
            None => Some(crate::agents::default_id_now().to_string()),
        };
        let key = key.map(normalize_session_key);
        Ok(Self {
            query: Query {
                range,
                limit: usize::try_from(limit.unwrap_or(50)).unwrap_or(usize::MAX),
                specific: key.is_some(),
                creator: creator.map(str::to_owned),
            },
            agent,
            key,
        })
    }
}

/// `sessions.usage.timeseries {key, agentId?}` and `sessions.usage.logs {key, agentId?,
/// limit?}` (OpenClaw reads them leniently: other keys are ignored).
pub(crate) struct SessionFileParams {
    key: String,
    /// Log entries (1..=1000, default 200).
    limit: usize,
    logs: bool,
}

impl Params for SessionFileParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let logs = call.method == "sessions.usage.logs";
        let detail = if logs { "logs" } else { "timeseries" };
        let empty = Map::new();
        let o = call.params.as_object().unwrap_or(&empty);
        let key = o
            .get("key")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ErrorShape::invalid(format!("key is required for {detail}")))?;
        if let Some(a) = o.get("agentId").and_then(Value::as_str) {
            known_agent(a)?;
        }
        let limit = match o.get("limit").and_then(Value::as_f64) {
            Some(n) if n.is_finite() => (n.floor().clamp(0.0, 1000.0)) as usize,
            _ => 200,
        };
        Ok(Self {
            key: normalize_session_key(key),
            limit,
            logs,
        })
    }
}

impl WsSession {
    /// `agent`, or every agent of the running gateway.
    fn usage_agents(&self, agent: Option<String>) -> Vec<String> {
        match agent {
            Some(a) => vec![a],
            None => self
                .shared
                .live
                .get()
                .agents
                .agents()
                .iter()
                .map(|a| a.id.clone())
                .collect(),
        }
    }

    fn usage_cost(&mut self, call: Call, p: CostParams, ctx: &mut Context<Self>) {
        let state_dir = self.shared.config.state_dir.clone();
        let agents = self.usage_agents(p.agent);
        let range = p.range;
        self.reply_with(
            call.id,
            async move {
                actix_web::rt::task::spawn_blocking(move || {
                    crate::usage::summary(&state_dir, &agents, &range, now())
                })
                .await
                .map_err(|_| gone())
            },
            ctx,
        );
    }

    /// `sessions.usage`: each session's usage in the range, most recently active first,
    /// and the sums over them.
    fn sessions_usage(&mut self, call: Call, p: SessionsUsageParams, ctx: &mut Context<Self>) {
        let state_dir = self.shared.config.state_dir.clone();
        let agents = self.usage_agents(p.agent);
        let fut = self.registry.send(UsageTargets {
            agents: agents.clone(),
            key: p.key.clone(),
        });
        let (query, by_key) = (p.query, p.key.is_some());
        self.reply_with(
            call.id,
            async move {
                let (mut targets, known) = fut
                    .await
                    .map_err(|_| gone())?
                    .map_err(ErrorShape::invalid)?;
                actix_web::rt::task::spawn_blocking(move || {
                    if !by_key {
                        targets
                            .extend(crate::session_usage::unindexed(&state_dir, &agents, &known));
                    }
                    crate::session_usage::report(&state_dir, targets, &query, now())
                })
                .await
                .map_err(|_| gone())
            },
            ctx,
        );
    }

    /// `sessions.usage.timeseries` / `sessions.usage.logs` of the session `key`.
    fn session_usage_file(&mut self, call: Call, p: SessionFileParams, ctx: &mut Context<Self>) {
        let state_dir = self.shared.config.state_dir.clone();
        let fut = self.registry.send(UsageTargets {
            agents: Vec::new(),
            key: Some(p.key.clone()),
        });
        self.reply_with(
            call.id,
            async move {
                let (targets, _) = fut.await.map_err(|_| gone())?.map_err(|_| {
                    ErrorShape::invalid(format!("Invalid session key: {}", shown(&p.key)))
                })?;
                let t = targets.into_iter().next().ok_or_else(|| {
                    ErrorShape::invalid(format!("Invalid session key: {}", shown(&p.key)))
                })?;
                let path = crate::session_usage::target_path(&state_dir, &t);
                let (limit, logs, key) = (p.limit, p.logs, p.key);
                actix_web::rt::task::spawn_blocking(move || {
                    let path = path.as_deref();
                    if logs {
                        let logs = path
                            .and_then(|p| crate::session_usage::logs(p, limit))
                            .unwrap_or_default();
                        return Ok(serde_json::json!({ "logs": logs }));
                    }
                    path.and_then(|p| crate::session_usage::timeseries(p, &t.session_id))
                        .ok_or_else(|| {
                            ErrorShape::invalid(format!(
                                "No transcript found for session: {}",
                                shown(&key)
                            ))
                        })
                })
                .await
                .map_err(|_| gone())?
            },
            ctx,
        );
    }
}

/// A caller's key, shortened for an error.
fn shown(key: &str) -> String {
    key.chars().take(120).collect()
}
