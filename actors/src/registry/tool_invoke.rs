//! One agent tool called directly, outside a model turn: OpenClaw's `tools.invoke` method
//! and its `POST /tools/invoke` HTTP endpoint (`src/gateway/tools-invoke-shared.ts`).
//!
//! The tool runs as a run in the target session would run it: the session's agent, its
//! tool policy (`tools.*`, the agent's own), its model (`apply_patch`), `tools.exec`, the
//! web tools as configured, the same code and the same audit records
//! ([`crate::agent_run::invoke_direct`]). On top of that comes the surface's policy, as
//! OpenClaw's:
//!
//! - **A default deny list** ([`SURFACE_DENY`]: `exec`, `sessions_send`, `cron`, `nodes`,
//!   …: what runs commands, reaches other sessions or persists automation), each removable
//!   with `gateway.tools.allow`; `gateway.tools.deny` adds more (names, globs, `group:*`).
//! - **Owner-only tools** ([`OWNER_ONLY`]: `cron`, `nodes`, `gateway`, …): never for a
//!   caller that is not the owner (a WebSocket client without `operator.admin`, an HTTP
//!   call in `auth.mode: "none"` whose `x-openclaw-scopes` leaves out `operator.admin`),
//!   whatever `gateway.tools.allow` says.
//! - `process` only where `exec` is (it reaches the commands `exec` started).
//! - `sessions_spawn` and `subagents` never: a sub-agent belongs to a run that waits for it,
//!   and a direct call has none.
//!
//! A tool that is unknown or not allowed is `not_found` (OpenClaw's `404`: the caller does
//! not learn which policy hid it).

use std::sync::atomic::{AtomicUsize, Ordering};

use actix::prelude::*;
use serde_json::{Map, Value, json};

use super::Registry;
use super::runs::{RunOrigin, RunRequest, run_tools};
use crate::tool_policy::ToolFilter;

/// OpenClaw's `DEFAULT_GATEWAY_HTTP_TOOL_DENY` (`src/security/dangerous-tools.ts`):
/// refused on this surface unless `gateway.tools.allow` names them. Several are tools this
/// gateway does not have (`terminal`, `computer`, …): kept so that an allow list written
/// for OpenClaw means the same here. `automations` is `cron`'s OpenClaw name.
pub const SURFACE_DENY: &[&str] = &[
    "exec",
    "spawn",
    "shell",
    "fs_write",
    "fs_delete",
    "fs_move",
    "apply_patch",
    "terminal",
    "portal",
    "sessions_spawn",
    "sessions_send",
    "conversations_list",
    "conversations_send",
    "conversations_turn",
    "automations",
    "gateway",
    "plugins",
    "nodes",
    "computer",
    "mobile_ui",
    "openclaw",
];

/// OpenClaw's `GATEWAY_OWNER_ONLY_CORE_TOOLS`: never for a caller that is not the owner.
pub const OWNER_ONLY: &[&str] = &[
    "automations",
    "gateway",
    "plugins",
    "sessions",
    "screen",
    "terminal",
    "portal",
    "conversations_list",
    "conversations_send",
    "conversations_turn",
    "nodes",
    "computer",
    "mobile_ui",
    "openclaw",
];

/// Never on this surface (see the module docs).
const NEVER: &[&str] = &["sessions_spawn", "subagents"];

/// Direct tool calls running at once, at most; more are refused (`busy`) rather than
/// queued without bound.
pub const MAX_IN_FLIGHT: usize = 32;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// A slot among [`MAX_IN_FLIGHT`], given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Self> {
        IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_IN_FLIGHT).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `gateway.tools`: the surface's own allow and deny lists (lowercased).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurfacePolicy {
    /// `gateway.tools.allow`: entries of [`SURFACE_DENY`] to offer after all.
    pub allow: Vec<String>,
    /// `gateway.tools.deny`: more to refuse.
    pub deny: Vec<String>,
}

impl SurfacePolicy {
    /// The policy of `gateway.tools.allow` / `deny`; `Err` names a bad entry and the fix.
    pub fn new(allow: Vec<String>, deny: Vec<String>) -> Result<Self, String> {
        let norm = |key: &str, v: Vec<String>| -> Result<Vec<String>, String> {
            v.into_iter()
                .map(|e| {
                    let e = e.trim().to_ascii_lowercase();
                    if e.is_empty() || e.len() > 128 || e.chars().any(char::is_control) {
                        Err(format!(
                            "gateway.tools.{key} has an entry that is empty, longer than 128 characters or holds control characters. Fix: list tool names such as \"browser\" or \"group:web\""
                        ))
                    } else {
                        Ok(e)
                    }
                })
                .collect()
        };
        Ok(Self {
            allow: norm("allow", allow)?,
            deny: norm("deny", deny)?,
        })
    }

    /// The names a caller (`owner` or not) is refused on this surface.
    fn denied(&self, owner: bool) -> Vec<&str> {
        let allowed = |n: &str| {
            self.allow
                .iter()
                .any(|a| a == n || (a == "cron" && n == "automations"))
        };
        let mut out: Vec<&str> = SURFACE_DENY
            .iter()
            .copied()
            .filter(|n| !allowed(n))
            .collect();
        if !owner {
            out.extend(OWNER_ONLY.iter().copied());
        }
        out.extend(self.deny.iter().map(String::as_str));
        out.extend(NEVER.iter().copied());
        out
    }

    /// `agent`'s filter narrowed by this surface for a caller (`owner` or not).
    pub fn narrow(&self, agent: ToolFilter, owner: bool) -> ToolFilter {
        let denied = self.denied(owner);
        let mut f = agent.and(ToolFilter::denying(&denied));
        if !f.offers("exec") {
            f = f.and(ToolFilter::denying(&["process"]));
        }
        f
    }
}

/// Where a direct call runs: `sessionKey` (`main` when absent) and `agentId`, as OpenClaw
/// resolves them: `main` (or any key not naming an agent) is the agent's; a key naming
/// another agent than `agentId` is refused. The key is normalized; whether its agent is
/// configured is the registry's to check.
pub fn target(session_key: Option<&str>, agent_id: Option<&str>) -> Result<String, String> {
    let key = session_key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .unwrap_or("main");
    if key.chars().count() > 512 || key.chars().any(char::is_control) {
        return Err("sessionKey must be at most 512 characters, without control characters".into());
    }
    let agent = agent_id
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_ascii_lowercase);
    let Some(agent) = agent else {
        return Ok(crate::channel::normalize_session_key(key));
    };
    if agent.chars().count() > 64 || agent.chars().any(|c| c.is_control() || c == ':') {
        return Err(
            "agentId must be an agent id (at most 64 characters, no ':' or control characters)"
                .into(),
        );
    }
    if !key.starts_with("agent:") {
        return Ok(crate::channel::normalize_session_key(&format!(
            "agent:{agent}:{key}"
        )));
    }
    let normalized = crate::channel::normalize_session_key(key);
    match crate::agents::key_agent(&normalized) {
        Some(a) if a == agent => Ok(normalized),
        other => Err(format!(
            "agent id {:?} does not match session agent {:?}",
            agent.chars().take(64).collect::<String>(),
            other.unwrap_or("")
        )),
    }
}

/// How a direct call failed, as OpenClaw types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// A bad request (`400`).
    InvalidRequest,
    /// No such tool here (`404`).
    NotFound,
    /// The tool refused the call by its policy (`403`).
    Blocked,
    /// The tool ran and failed (`400`: its arguments or what they named were wrong).
    ToolError,
    /// Too many calls at once, or the gateway is stopping (`503`).
    Busy,
}

impl FailKind {
    /// OpenClaw's HTTP `error.type`.
    pub fn http_type(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::Blocked => "tool_call_blocked",
            Self::ToolError => "tool_error",
            Self::Busy => "unavailable",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::ToolError => 400,
            Self::NotFound => 404,
            Self::Blocked => 403,
            Self::Busy => 503,
        }
    }

    /// OpenClaw's `tools.invoke` `error.code`.
    pub fn rpc_code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "validation_error",
            Self::NotFound => "not_found",
            Self::Blocked => "forbidden",
            Self::ToolError | Self::Busy => "internal_error",
        }
    }
}

/// A failed direct call.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailKind,
    /// What it says.
    pub message: String,
}

impl Failure {
    fn new(kind: FailKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// A call of one tool (see the module docs).
#[derive(Message)]
#[rtype(result = "Result<Value, Failure>")]
pub struct InvokeTool {
    /// The session, from [`target`].
    pub session_key: String,
    /// The tool's name.
    pub name: String,
    /// Its arguments.
    pub args: Map<String, Value>,
    /// Goes into `args.action` when the tool has one and `args` does not set it.
    pub action: Option<String>,
    /// Makes the tool call id stable (`<surface>-<key>`).
    pub idempotency_key: Option<String>,
    /// The caller is the owner (see the module docs).
    pub owner: bool,
    /// `rpc` or `http`: the call id's prefix, and the log's.
    pub surface: &'static str,
}

/// OpenClaw's tool result: the text the model would read (`content`) and the tool's own
/// object (`details`).
pub fn tool_result(result: Value) -> Value {
    let text = crate::agent_run::tool_result_text(&result);
    json!({"content": [{"type": "text", "text": text}], "details": result})
}

/// A tool's `{"ok": false, "error"}` as a failure: `denied: true` (a node's or the
/// exec policy's refusal) is [`FailKind::Blocked`].
fn failure_of(result: &Value) -> Option<Failure> {
    if result.get("ok") != Some(&Value::Bool(false)) {
        return None;
    }
    let message = match result.get("error") {
        Some(Value::String(s)) => s.clone(),
        Some(e) => e
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| e.to_string(), str::to_owned),
        None => "the tool failed".to_owned(),
    };
    let kind = if result.get("denied") == Some(&Value::Bool(true)) {
        FailKind::Blocked
    } else {
        FailKind::ToolError
    };
    Some(Failure { kind, message })
}

impl Handler<InvokeTool> for Registry {
    type Result = ResponseFuture<Result<Value, Failure>>;

    fn handle(&mut self, msg: InvokeTool, ctx: &mut Self::Context) -> Self::Result {
        let refused = |f: Failure| -> Self::Result { Box::pin(async move { Err(f) }) };
        let live = self.shared.live.get();
        let key = msg.session_key;
        let Some(agent) = live.agents.agent_of_key(&key) else {
            let why = live.agents.refuse_key(&key).unwrap_or_default();
            return refused(Failure::new(FailKind::InvalidRequest, why));
        };
        let Some(slot) = Slot::take() else {
            return refused(Failure::new(
                FailKind::Busy,
                format!(
                    "{MAX_IN_FLIGHT} tool calls are running already; retry when one has finished"
                ),
            ));
        };
        let call_id = match &msg.idempotency_key {
            Some(k) => format!("{}-direct-operator-{k}", msg.surface),
            None => format!(
                "{}-direct-operator-{}",
                msg.surface,
                uuid::Uuid::new_v4().simple()
            ),
        };
        let req = RunRequest::new(
            format!("invoke-{}", uuid::Uuid::new_v4()),
            key.clone(),
            String::new(),
            RunOrigin::Operator,
            None,
        );
        let meta = self.sessions_index.get(&key);
        let model = self
            .run_model(&key, meta.and_then(|m| m.model_choice()), agent)
            .primary();
        let filter = live
            .http_tools
            .narrow((*run_tools(&live, agent, &req.origin)).clone(), msg.owner);
        let exec = Some(self.exec_access(&live, agent, &req))
            .filter(crate::exec_tool::ExecAccess::offered);
        let (web, search) = self.web_tools(&live);
        let direct = crate::agent_run::Direct {
            registry: ctx.address(),
            store: self.store.clone(),
            cron: self.shared.cron.get().map(|c| c.0.clone()),
            req,
            filter,
            model,
            workspace: agent.workspace.clone(),
            exec,
            web,
            search,
            audit: self
                .shared
                .audit
                .enabled()
                .then(|| (self.shared.audit.clone(), agent.id.clone())),
        };
        let (name, surface, owner) = (msg.name, msg.surface, msg.owner);
        Box::pin(async move {
            let _slot = slot;
            let Some(result) =
                crate::agent_run::invoke_direct(direct, &name, msg.args, msg.action, call_id).await
            else {
                log::info!(
                    "{surface} tool call refused: {:?} is not available in {key} (owner: {owner})",
                    name.chars().take(64).collect::<String>()
                );
                return Err(Failure::new(
                    FailKind::NotFound,
                    format!(
                        "Tool not available: {}",
                        name.chars().take(128).collect::<String>()
                    ),
                ));
            };
            let failed = failure_of(&result);
            log::info!(
                "{surface} tool call: {name} in {key}: {}",
                if failed.is_some() { "failed" } else { "ok" }
            );
            match failed {
                Some(f) => Err(f),
                None => Ok(tool_result(result)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> ToolFilter {
        ToolFilter::default()
    }

    #[test]
    fn the_default_deny_list_hides_what_runs_commands_or_reaches_other_sessions() {
        let p = SurfacePolicy::default();
        let f = p.narrow(all(), true);
        for t in [
            "exec",
            "process",
            "sessions_send",
            "cron",
            "nodes",
            "sessions_spawn",
        ] {
            assert!(!f.offers(t), "{t} must be denied by default");
        }
        for t in [
            "read",
            "write",
            "sessions_list",
            "web_fetch",
            "message",
            "memory_get",
        ] {
            assert!(f.offers(t), "{t} must be offered by default");
        }
    }

    #[test]
    fn allow_lifts_the_default_deny_for_the_owner_only() {
        let p = SurfacePolicy::new(
            vec!["CRON".into(), "nodes".into(), "exec".into()],
            vec!["group:web".into()],
        )
        .expect("valid");
        let owner = p.narrow(all(), true);
        assert!(owner.offers("cron") && owner.offers("nodes") && owner.offers("exec"));
        assert!(owner.offers("process"), "process follows exec");
        assert!(!owner.offers("web_fetch") && !owner.offers("web_search"));
        let other = p.narrow(all(), false);
        assert!(!other.offers("cron") && !other.offers("nodes"));
        assert!(
            other.offers("exec"),
            "exec is not owner-only in OpenClaw either"
        );
        // Never, whatever the lists say.
        let p = SurfacePolicy::new(vec!["sessions_spawn".into(), "subagents".into()], vec![])
            .expect("valid");
        let f = p.narrow(all(), true);
        assert!(!f.offers("sessions_spawn") && !f.offers("subagents"));
    }

    #[test]
    fn the_agents_own_policy_still_applies() {
        let agent = ToolFilter::new(None, None, None, Some(vec!["read".into()])).expect("ok");
        let f = SurfacePolicy::default().narrow(agent, true);
        assert!(!f.offers("read"));
        assert!(f.offers("write"));
    }

    #[test]
    fn bad_entries_are_refused_with_the_key() {
        let e = SurfacePolicy::new(vec![" ".into()], vec![]).expect_err("empty");
        assert!(e.contains("gateway.tools.allow"), "{e}");
        let e = SurfacePolicy::new(vec![], vec!["a\u{0}b".into()]).expect_err("control");
        assert!(e.contains("gateway.tools.deny"), "{e}");
    }

    #[test]
    fn targets_resolve_like_openclaws() {
        assert!(target(None, None).expect("main").ends_with(":main"));
        assert_eq!(
            target(Some("main"), Some("Work")).expect("agent main"),
            "agent:work:main"
        );
        assert_eq!(
            target(Some("agent:work:telegram:direct:1"), Some("work")).expect("same"),
            "agent:work:telegram:direct:1"
        );
        let e = target(Some("agent:home:main"), Some("work")).expect_err("mismatch");
        assert!(e.contains("does not match"), "{e}");
        assert!(target(Some("a\nb"), None).is_err());
        assert!(target(Some(&"x".repeat(600)), None).is_err());
    }

    #[test]
    fn any_text_as_a_key_or_an_agent_is_answered_never_a_panic() {
        let nasty = [
            "",
            " ",
            ":",
            "agent:",
            "agent::",
            "agent:x",
            "agent:ü:main",
            "agent:main:\u{202e}evil",
            "main\u{0}",
            "\u{feff}main",
            "agent:MAIN:Main",
            "🦀:🦀:🦀",
            "a\u{301}",
            "\u{10ffff}",
            "agent:main:telegram:group:-100:topic:9",
        ];
        for key in nasty {
            for agent in [
                None,
                Some(""),
                Some("main"),
                Some("🦀"),
                Some("MAIN"),
                Some("x\ny"),
            ] {
                if let Ok(k) = target(Some(key), agent) {
                    assert!(k.starts_with("agent:"), "{key:?} {agent:?} -> {k:?}");
                    assert!(!k.chars().any(char::is_control), "{k:?}");
                }
            }
        }
        let long = "é".repeat(10_000);
        assert!(target(Some(&long), None).is_err());
        assert!(target(None, Some(&long)).is_err());
        assert!(target(None, Some("a:b")).is_err());
    }

    #[test]
    fn failures_keep_the_tools_message_and_a_refusal_is_blocked() {
        let f = failure_of(&json!({"ok": false, "error": "no such file"})).expect("failed");
        assert_eq!(
            (f.kind, f.message.as_str()),
            (FailKind::ToolError, "no such file")
        );
        let f = failure_of(&json!({"ok": false, "denied": true, "error": {"message": "denied by policy", "code": "X"}}))
            .expect("failed");
        assert_eq!(
            (f.kind, f.message.as_str()),
            (FailKind::Blocked, "denied by policy")
        );
        assert!(failure_of(&json!({"ok": true})).is_none());
        assert!(failure_of(&json!({"sessions": []})).is_none());
    }

    #[test]
    fn in_flight_calls_are_bounded() {
        let held: Vec<Slot> = std::iter::from_fn(Slot::take)
            .take(MAX_IN_FLIGHT + 5)
            .collect();
        // Other tests may hold slots at the same time: never more than the bound.
        assert!(held.len() <= MAX_IN_FLIGHT);
        assert!(Slot::take().is_none());
        drop(held);
        assert!(Slot::take().is_some());
    }
}
