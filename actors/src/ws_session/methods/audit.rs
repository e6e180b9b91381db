//! `audit.activity.list` and `audit.list` (OpenClaw's `server-methods/audit.ts`): pages of
//! the audit ledger ([`crate::audit`]), newest first, so that the real CLI's `openclaw
//! audit` shows which agents ran, which tools they called and how each ended. Both need
//! `operator.read`; `audit.list` is OpenClaw's older run/tool-only shape.

use actix::prelude::*;
use serde_json::{Value, json};

use super::agent_params::{fail, obj};
use super::{Call, Method, Params, gone};
use crate::audit::{DIRECTIONS, KINDS, ListFilter, STATUSES};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ};
use crate::protocol::validate::Checker;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "audit.activity.list",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::audit_activity_list),
    },
    Method {
        name: "audit.list",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::audit_list),
    },
];

/// Rows per page unless asked.
const DEFAULT_LIMIT: u64 = 100;

/// `audit.activity.list` params.
pub(crate) struct ActivityParams(ListFilter);

/// `audit.list` params.
pub(crate) struct LegacyParams(ListFilter);

/// Parses either method's params: closed, OpenClaw's types and bounds, then its filter
/// rules (a message filter only with messages) and the range and cursor check.
fn parse(method: &str, params: &Value, activity: bool) -> Result<ListFilter, ErrorShape> {
    let o = obj(method, params)?;
    let mut c = Checker::new();
    let mut keys = vec![
        "agentId",
        "sessionKey",
        "runId",
        "kind",
        "status",
        "after",
        "before",
        "limit",
        "cursor",
    ];
    if activity {
        keys.extend(["direction", "channel"]);
    }
    c.closed("", o, &keys);
    let text = |c: &mut Checker, key: &str| c.string("", o, key, true).map(str::to_owned);
    let agent_id = text(&mut c, "agentId");
    let session_key = text(&mut c, "sessionKey");
    let run_id = text(&mut c, "runId");
    let cursor = text(&mut c, "cursor");
    let channel = if activity {
        text(&mut c, "channel")
    } else {
        None
    };
    let kinds = if activity { KINDS } else { &KINDS[..2] };
    let one_of = |c: &mut Checker, key: &str, allowed: &[&str]| {
        let v = c.string("", o, key, false)?;
        if allowed.contains(&v) {
            Some(v.to_owned())
        } else {
            c.error(
                &format!("/{key}"),
                "must be equal to one of the allowed values",
            );
            None
        }
    };
    let kind = one_of(&mut c, "kind", kinds);
    let status = one_of(&mut c, "status", STATUSES);
    let direction = if activity {
        one_of(&mut c, "direction", DIRECTIONS)
    } else {
        None
    };
    let after = c.integer("", o, "after", 0);
    let before = c.integer("", o, "before", 0);
    let limit = c.integer("", o, "limit", 1);
    if limit.is_some_and(|l| l > 500) {
        c.error("/limit", "must be <= 500");
    }
    if !c.ok() {
        return Err(fail(method, &c));
    }
    if activity {
        // OpenClaw's `findAuditActivityFilterConflict`.
        let message_field = if direction.is_some() {
            Some("direction")
        } else if channel.is_some() {
            Some("channel")
        } else {
            None
        };
        let conflict = match (kind.as_deref(), session_key.is_some(), message_field) {
            (Some("message"), true, _) => {
                Some("sessionKey only applies to kind agent_run or tool_action".to_owned())
            }
            (Some(k), _, Some(f)) if k != "message" => {
                Some(format!("{f} only applies to kind message"))
            }
            (None, true, Some(f)) => Some(format!("{f} cannot be combined with sessionKey")),
            _ => None,
        };
        if let Some(detail) = conflict {
            return Err(ErrorShape::invalid(format!(
                "invalid {method} filters: {detail}"
            )));
        }
    }
    // OpenClaw's digit-only positive cursor; an empty range is refused too.
    let cursor = match cursor.as_deref().map(str::trim) {
        None => Ok(None),
        Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => match t.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(()),
        },
        Some(_) => Err(()),
    };
    let (Ok(cursor), false) = (
        cursor,
        matches!((after, before), (Some(a), Some(b)) if a > b),
    ) else {
        return Err(ErrorShape::invalid(format!(
            "invalid {method} range or cursor"
        )));
    };
    let trimmed = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    Ok(ListFilter {
        agent_id: trimmed(agent_id),
        session_key: trimmed(session_key),
        run_id: trimmed(run_id),
        kind,
        include_messages: activity,
        status,
        direction,
        channel,
        after,
        before,
        limit: usize::try_from(limit.unwrap_or(DEFAULT_LIMIT)).unwrap_or(500),
        cursor,
    })
}

impl Params for ActivityParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        parse("audit.activity.list", &call.params, true).map(Self)
    }
}

impl Params for LegacyParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        parse("audit.list", &call.params, false).map(Self)
    }
}

/// OpenClaw's shipped `audit.list` event: the V1 record without `eventType` and
/// `schemaVersion`.
fn legacy(mut event: Value) -> Value {
    if let Value::Object(m) = &mut event {
        m.remove("eventType");
        m.remove("schemaVersion");
    }
    event
}

impl WsSession {
    fn audit_page(
        &mut self,
        call: Call,
        filter: ListFilter,
        legacy_shape: bool,
        ctx: &mut Context<Self>,
    ) {
        let audit = self.shared.audit.clone();
        self.reply_with(
            call.id,
            async move {
                let page = actix_web::rt::task::spawn_blocking(move || {
                    audit.list(&filter, crate::util::now_ms())
                })
                .await
                .map_err(|_| gone())?
                .map_err(|e| {
                    log::warn!("audit ledger: {e}");
                    ErrorShape::unavailable(
                        "the audit ledger cannot be read now; see the gateway log",
                    )
                })?;
                let events: Vec<Value> = if legacy_shape {
                    page.events.into_iter().map(legacy).collect()
                } else {
                    page.events
                };
                let mut out = json!({ "events": events });
                if let Some(c) = page.next_cursor {
                    out["nextCursor"] = json!(c.to_string());
                }
                Ok(out)
            },
            ctx,
        );
    }

    fn audit_activity_list(&mut self, call: Call, p: ActivityParams, ctx: &mut Context<Self>) {
        self.audit_page(call, p.0, false, ctx);
    }

    fn audit_list(&mut self, call: Call, p: LegacyParams, ctx: &mut Context<Self>) {
        self.audit_page(call, p.0, true, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(method: &str, params: Value, activity: bool) -> String {
        match parse(method, &params, activity) {
            Ok(_) => String::new(),
            Err(e) => e.message,
        }
    }

    #[test]
    fn params_are_checked_as_openclaw_checks_them() {
        const A: &str = "audit.activity.list";
        assert_eq!(
            err(A, json!({"nope": 1}), true),
            "invalid audit.activity.list params: at root: unexpected property 'nope'"
        );
        assert_eq!(
            err(A, json!({"limit": 501}), true),
            "invalid audit.activity.list params: at /limit: must be <= 500"
        );
        assert_eq!(
            err(A, json!({"limit": 0}), true),
            "invalid audit.activity.list params: at /limit: must be >= 1"
        );
        assert_eq!(
            err(A, json!({"kind": "everything"}), true),
            "invalid audit.activity.list params: at /kind: must be equal to one of the allowed values"
        );
        assert_eq!(
            err(
                A,
                json!({"kind": "message", "sessionKey": "agent:main:main"}),
                true
            ),
            "invalid audit.activity.list filters: sessionKey only applies to kind agent_run or tool_action"
        );
        assert_eq!(
            err(A, json!({"kind": "agent_run", "channel": "telegram"}), true),
            "invalid audit.activity.list filters: channel only applies to kind message"
        );
        assert_eq!(
            err(A, json!({"sessionKey": "s", "direction": "inbound"}), true),
            "invalid audit.activity.list filters: direction cannot be combined with sessionKey"
        );
        for bad in ["abc", "-1", "0", "1e3", "٣", "99999999999999999999999"] {
            assert_eq!(
                err(A, json!({ "cursor": bad }), true),
                "invalid audit.activity.list range or cursor",
                "{bad}"
            );
        }
        assert_eq!(
            err(A, json!({"after": 5, "before": 4}), true),
            "invalid audit.activity.list range or cursor"
        );
        // `audit.list` knows neither messages nor their filters.
        assert_eq!(
            err("audit.list", json!({"kind": "message"}), false),
            "invalid audit.list params: at /kind: must be equal to one of the allowed values"
        );
        assert_eq!(
            err("audit.list", json!({"channel": "telegram"}), false),
            "invalid audit.list params: at root: unexpected property 'channel'"
        );
        let ok = parse(
            A,
            &json!({"cursor": " 42 ", "limit": 7, "agentId": " main "}),
            true,
        )
        .map_err(|e| e.message)
        .unwrap();
        assert_eq!(
            (ok.cursor, ok.limit, ok.agent_id.as_deref()),
            (Some(42), 7, Some("main"))
        );
        let default = parse("audit.list", &json!({}), false)
            .map_err(|e| e.message)
            .unwrap();
        assert_eq!((default.limit, default.include_messages), (100, false));
        assert_eq!(
            legacy(json!({"eventType": "agent_run", "schemaVersion": 1, "sequence": 3})),
            json!({"sequence": 3})
        );
    }
}
