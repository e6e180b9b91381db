//! `usage.cost` (OpenClaw's `server-methods/usage.ts`): what the agents' model calls cost
//! per day, from the `usage` their answers recorded in the transcripts
//! ([`crate::usage`]), so that the real CLI's `openclaw gateway usage-cost` shows it.

use actix::prelude::*;

use super::agent_params::{fail, obj};
use super::{Call, Method, Params, gone};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::usage::{DayZone, Range};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[Method {
    name: "usage.cost",
    access: MethodAccess::Operator(READ),
    handler: |s, call, ctx| s.with_params(call, ctx, WsSession::usage_cost),
}];

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
        let zone = match mode {
            None | Some("utc") => DayZone::Utc,
            Some("gateway") => DayZone::Gateway,
            Some(other) => {
                let shown: String = other.chars().take(40).collect();
                return Err(ErrorShape::invalid(format!(
                    "invalid mode \"{shown}\": this gateway counts days in \"utc\" or the \"gateway\" host's zone"
                )));
            }
        };
        let dates = match (start, end) {
            (Some(s), Some(e)) => Some((s, e)),
            (None, None) => None,
            _ => {
                return Err(ErrorShape::invalid(
                    "startDate and endDate must be provided together",
                ));
            }
        };
        let now = i64::try_from(crate::util::now_ms()).unwrap_or(i64::MAX);
        let range = Range::new(days, dates, zone, now).map_err(ErrorShape::invalid)?;
        let agent = match (scope, agent) {
            (Some("all"), Some(_)) => {
                return Err(ErrorShape::invalid(
                    "agentScope=all cannot be combined with agentId",
                ));
            }
            (Some("all"), None) => None,
            (Some(other), _) => {
                let shown: String = other.chars().take(40).collect();
                return Err(ErrorShape::invalid(format!(
                    "invalid agentScope \"{shown}\": use \"all\""
                )));
            }
            (None, Some(a)) => {
                let id = a.to_ascii_lowercase();
                if !crate::agents::known_now(&id) {
                    let shown: String = a.chars().take(64).collect();
                    return Err(ErrorShape::invalid(format!("unknown agent id \"{shown}\"")));
                }
                Some(id)
            }
            (None, None) => Some(crate::agents::default_id_now().to_string()),
        };
        Ok(Self { range, agent })
    }
}

impl WsSession {
    fn usage_cost(&mut self, call: Call, p: CostParams, ctx: &mut Context<Self>) {
        let state_dir = self.shared.config.state_dir.clone();
        let agents: Vec<String> = match p.agent {
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
        };
        let range = p.range;
        self.reply_with(
            call.id,
            async move {
                actix_web::rt::task::spawn_blocking(move || {
                    let now = i64::try_from(crate::util::now_ms()).unwrap_or(i64::MAX);
                    crate::usage::summary(&state_dir, &agents, &range, now)
                })
                .await
                .map_err(|_| gone())
            },
            ctx,
        );
    }
}
