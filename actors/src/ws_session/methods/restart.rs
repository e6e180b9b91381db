//! `gateway.restart.preflight` and `gateway.restart.request` (OpenClaw's
//! `server-methods/restart.ts`): what a restart would cut short, and a restart of the
//! gateway process that waits (bounded) for it. The real CLI's `openclaw gateway restart
//! [--safe]` and ours call them.
//!
//! Three forms, as OpenClaw's:
//! - `{reason?, skipDeferral?}`: restart once active work is done (at most 5 minutes),
//!   or at once with `skipDeferral: true`; answers `{ok, status, preflight, restart}`.
//! - `{reason?, safe: true, target: {pid, ownerId, port}, skipDeferral?}`: the same, aimed at
//!   the gateway the caller found in the state directory's lock file.
//! - `{reason?, target, restartIntent?: {waitMs?} | {force: true, drainBudgetMs?}}`: the
//!   CLI's plain `gateway restart`; answers `{ok, status: "emitted", pid}`.
//!
//! A target that is not this process (another pid, owner id or port) is refused: the
//! caller meant another gateway.

use actix::prelude::*;
use serde_json::{Map, Value, json};

use super::{Call, Method};
use crate::ports::{RestartAsk, RestartTarget};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess, READ};
use crate::registry::restart::GetActiveWork;
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "gateway.restart.preflight",
        access: MethodAccess::Operator(READ),
        handler: WsSession::restart_preflight,
    },
    Method {
        name: "gateway.restart.request",
        access: MethodAccess::Operator(ADMIN),
        handler: WsSession::restart_request,
    },
];

/// The longest reason kept, in UTF-16 units (OpenClaw's).
pub const MAX_REASON_UNITS: usize = 200;
/// How long active work holds a restart back by default (OpenClaw's deferral timeout).
pub const DEFAULT_WAIT_MS: u64 = 300_000;
/// How long in-flight work may finish on a forced restart without a budget (OpenClaw's
/// minute less its shutdown reserve).
pub const FORCE_DRAIN_MS: u64 = 50_000;
/// The longest wait a caller may ask for (OpenClaw's bound).
pub const MAX_WAIT_MS: u64 = 2_147_000_000;

/// What the caller asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartParams {
    /// One line, at most [`MAX_REASON_UNITS`].
    pub reason: String,
    /// The gateway the caller aimed at.
    pub target: Option<RestartTarget>,
    /// The CLI's plain restart (answered `{ok, status, pid}`), not a safe one.
    pub targeted_plain: bool,
    /// How long active work may hold the restart back.
    pub wait_ms: u64,
}

fn bad(message: &str) -> ErrorShape {
    ErrorShape::invalid(message)
}

/// The reason: trimmed, control characters as spaces (it goes to the log and the
/// `shutdown` event), cut at [`MAX_REASON_UNITS`] without splitting a character.
fn reason_of(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    let line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cut = crate::channel::utf16_prefix_limit(&line, MAX_REASON_UNITS).unwrap_or(line.len());
    Some(line[..cut].trim_end().to_owned())
}

/// A positive safe integer (JavaScript's `Number.isSafeInteger`).
fn safe_int(v: Option<&Value>) -> Option<u64> {
    const MAX_SAFE: u64 = (1 << 53) - 1;
    match v? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| {
                let f = n.as_f64()?;
                (f.fract() == 0.0 && f >= 0.0 && f <= MAX_SAFE as f64).then_some(f as u64)
            })
            .filter(|n| *n <= MAX_SAFE),
        _ => None,
    }
}

/// OpenClaw's `parseTargetedGatewayRestart`: `Ok(None)` when absent.
fn target_of(o: &Map<String, Value>) -> Result<Option<RestartTarget>, ErrorShape> {
    let Some(v) = o.get("target") else {
        return Ok(None);
    };
    let invalid = || bad("invalid targeted gateway restart");
    let t = v.as_object().ok_or_else(invalid)?;
    let pid = safe_int(t.get("pid"))
        .filter(|p| *p > 0)
        .ok_or_else(invalid)?;
    let owner_id = t
        .get("ownerId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(invalid)?;
    let port = safe_int(t.get("port"))
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(invalid)?;
    Ok(Some(RestartTarget {
        pid,
        owner_id: owner_id.chars().take(256).collect(),
        port,
    }))
}

/// OpenClaw's `parseTargetedGatewayRestartIntent`: the wait it asks for.
fn intent_wait(o: &Map<String, Value>) -> Result<u64, ErrorShape> {
    let invalid = || bad("invalid targeted gateway restart intent");
    let empty = Map::new();
    let raw = match o.get("restartIntent") {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid()),
    };
    let force = match raw.get("force") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid()),
    };
    let (budget_key, other_key) = if force {
        ("drainBudgetMs", "waitMs")
    } else {
        ("waitMs", "drainBudgetMs")
    };
    if raw.contains_key(other_key) {
        return Err(invalid());
    }
    let budget = match raw.get(budget_key) {
        None => None,
        Some(v) => Some(
            safe_int(Some(v))
                .filter(|n| *n <= MAX_WAIT_MS)
                .ok_or_else(invalid)?,
        ),
    };
    Ok(match (force, budget) {
        (_, Some(ms)) => ms,
        (true, None) => FORCE_DRAIN_MS,
        (false, None) => DEFAULT_WAIT_MS,
    })
}

/// Parses `gateway.restart.request`'s params (OpenClaw's checks and error messages).
pub fn parse_restart_request(p: &Value) -> Result<RestartParams, ErrorShape> {
    let empty = Map::new();
    let o = match p {
        Value::Object(o) => o,
        Value::Null => &empty,
        _ => return Err(bad("invalid gateway.restart.request params")),
    };
    let reason = reason_of(o.get("reason"));
    let target = target_of(o)?;
    let skip = o.get("skipDeferral") == Some(&Value::Bool(true));
    let deferral = if skip { 0 } else { DEFAULT_WAIT_MS };
    let Some(target) = target else {
        return Ok(RestartParams {
            reason: reason.unwrap_or_else(|| "gateway.restart.request".to_owned()),
            target: None,
            targeted_plain: false,
            wait_ms: deferral,
        });
    };
    let safe = match o.get("safe") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("invalid safe targeted restart mode")),
    };
    if safe {
        if o.contains_key("restartIntent") {
            return Err(bad("safe targeted restart does not accept intent"));
        }
        return Ok(RestartParams {
            reason: reason.unwrap_or_else(|| "gateway.restart.safe".to_owned()),
            target: Some(target),
            targeted_plain: false,
            wait_ms: deferral,
        });
    }
    Ok(RestartParams {
        wait_ms: intent_wait(o)?,
        reason: reason.unwrap_or_else(|| "gateway.restart".to_owned()),
        target: Some(target),
        targeted_plain: true,
    })
}

impl WsSession {
    /// `gateway.restart.preflight {}` (read): OpenClaw's `{safe, counts, blockers,
    /// summary}` for the work in progress now. Params are not read (OpenClaw takes none).
    fn restart_preflight(&mut self, call: Call, ctx: &mut Context<Self>) {
        let fut = self.registry.send(GetActiveWork);
        self.reply_with(
            call.id,
            async move { Ok(fut.await.map_err(|_| super::gone())?.preflight()) },
            ctx,
        );
    }

    /// `gateway.restart.request` (admin): schedules the restart, answers before the
    /// socket closes (the restart waits for the answer to be queued).
    fn restart_request(&mut self, call: Call, ctx: &mut Context<Self>) {
        let p = match parse_restart_request(&call.params) {
            Ok(p) => p,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let Some(ops) = self.shared.ops.get().cloned() else {
            let e = ErrorShape::unavailable("gateway restart is not available here");
            return self.respond_err(&call.id, &e, ctx);
        };
        let work = self.registry.send(GetActiveWork);
        let (written_tx, written_rx) = tokio::sync::oneshot::channel();
        let id = call.id;
        async move {
            let work = work.await.map_err(|_| super::gone())?;
            let ticket = ops
                .restart(RestartAsk {
                    reason: p.reason.clone(),
                    wait: std::time::Duration::from_millis(p.wait_ms),
                    target: p.target.clone(),
                    written: Some(written_rx),
                    origin: None,
                })
                .map_err(|(caller, m)| {
                    if caller {
                        ErrorShape::invalid(m)
                    } else {
                        ErrorShape::unavailable(m)
                    }
                })?;
            if p.targeted_plain {
                let status = if ticket.coalesced {
                    "coalesced"
                } else {
                    "emitted"
                };
                return Ok(json!({"ok": true, "status": status, "pid": ticket.pid}));
            }
            let status = if ticket.coalesced {
                "coalesced"
            } else if p.wait_ms == 0 || work.total() == 0 {
                "scheduled"
            } else {
                "deferred"
            };
            Ok(json!({
                "ok": true,
                "status": status,
                "preflight": work.preflight(),
                "restart": {
                    "ok": true,
                    "pid": ticket.pid,
                    "reason": p.reason,
                    "mode": "exec",
                    "delayMs": 0,
                    "coalesced": ticket.coalesced,
                    "cooldownMsApplied": 0,
                },
            }))
        }
        .into_actor(self)
        .map(move |res: Result<Value, ErrorShape>, act, ctx| match res {
            Ok(v) => {
                act.respond_ok(&id, &v, ctx);
                let _ = written_tx.send(());
            }
            Err(e) => act.respond_err(&id, &e, ctx),
        })
        .spawn(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> String {
        match parse_restart_request(&v) {
            Ok(p) => panic!("accepted {v}: {p:?}"),
            Err(e) => e.message,
        }
    }

    fn target() -> Value {
        json!({"pid": 42, "ownerId": " owner ", "port": 18789})
    }

    #[test]
    fn plain_safe_and_targeted_forms() {
        let p = parse_restart_request(&Value::Null).expect("no params");
        assert_eq!(
            (p.reason.as_str(), p.wait_ms, p.targeted_plain),
            ("gateway.restart.request", DEFAULT_WAIT_MS, false)
        );
        let p = parse_restart_request(&json!({"reason": "  upgrade ", "skipDeferral": true}))
            .expect("skip");
        assert_eq!((p.reason.as_str(), p.wait_ms), ("upgrade", 0));

        let p = parse_restart_request(&json!({"safe": true, "target": target()})).expect("safe");
        assert_eq!(p.reason, "gateway.restart.safe");
        assert_eq!(
            p.target,
            Some(RestartTarget {
                pid: 42,
                owner_id: "owner".into(),
                port: 18789
            })
        );
        assert!(!p.targeted_plain);

        let p = parse_restart_request(&json!({"target": target()})).expect("plain targeted");
        assert!(p.targeted_plain);
        assert_eq!(p.wait_ms, DEFAULT_WAIT_MS);
        let p = parse_restart_request(&json!({"target": target(), "restartIntent": {"waitMs": 0}}))
            .expect("wait 0");
        assert_eq!(p.wait_ms, 0);
        let p =
            parse_restart_request(&json!({"target": target(), "restartIntent": {"force": true}}))
                .expect("force");
        assert_eq!(p.wait_ms, FORCE_DRAIN_MS);
        let p = parse_restart_request(
            &json!({"target": target(), "restartIntent": {"force": true, "drainBudgetMs": 5}}),
        )
        .expect("force with budget");
        assert_eq!(p.wait_ms, 5);
    }

    #[test]
    fn openclaws_refusals() {
        assert_eq!(err(json!([])), "invalid gateway.restart.request params");
        assert_eq!(err(json!("x")), "invalid gateway.restart.request params");
        for t in [
            json!(null),
            json!([]),
            json!({"pid": 0, "ownerId": "o", "port": 1}),
            json!({"pid": -1, "ownerId": "o", "port": 1}),
            json!({"pid": 1.5, "ownerId": "o", "port": 1}),
            json!({"pid": 1, "ownerId": "  ", "port": 1}),
            json!({"pid": 1, "ownerId": 7, "port": 1}),
            json!({"pid": 1, "ownerId": "o", "port": 65536}),
            json!({"pid": 1, "ownerId": "o", "port": 0}),
            json!({"pid": 1e300, "ownerId": "o", "port": 1}),
        ] {
            assert_eq!(
                err(json!({"target": t})),
                "invalid targeted gateway restart",
                "{t}"
            );
        }
        assert_eq!(
            err(json!({"target": target(), "safe": "yes"})),
            "invalid safe targeted restart mode"
        );
        assert_eq!(
            err(json!({"target": target(), "safe": true, "restartIntent": {}})),
            "safe targeted restart does not accept intent"
        );
        for intent in [
            json!(null),
            json!(5),
            json!({"force": "yes"}),
            json!({"waitMs": -1}),
            json!({"waitMs": 2_147_000_001u64}),
            json!({"waitMs": "5"}),
            json!({"force": true, "waitMs": 5}),
            json!({"drainBudgetMs": 5}),
        ] {
            assert_eq!(
                err(json!({"target": target(), "restartIntent": intent})),
                "invalid targeted gateway restart intent",
                "{intent}"
            );
        }
    }

    #[test]
    fn a_reason_is_one_bounded_line() {
        let p = parse_restart_request(&json!({"reason": "a\nb\u{1b}[31mc"})).expect("reason");
        assert_eq!(p.reason, "a b [31mc");
        let long = "😀".repeat(150);
        let p = parse_restart_request(&json!({"reason": long})).expect("long");
        assert_eq!(
            p.reason.chars().count(),
            100,
            "200 UTF-16 units, no half emoji"
        );
        let p = parse_restart_request(&json!({"reason": 5})).expect("not a string");
        assert_eq!(p.reason, "gateway.restart.request");
        let p = parse_restart_request(&json!({"reason": "   "})).expect("blank");
        assert_eq!(p.reason, "gateway.restart.request");
    }
}
