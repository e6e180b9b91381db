//! `sessions.list`, `sessions.subscribe`, `sessions.describe`, `sessions.reset`,
//! `sessions.compact`, `sessions.create`, `sessions.delete`, `sessions.patch` (label and model), `agents.list` (OpenClaw's
//! `server-methods/sessions.ts`, `sessions-subscriptions.ts`, `sessions-read.ts`,
//! `sessions-mutations.ts`, `sessions-create.ts`, `sessions-delete.ts`, `agents.ts`).

use actix::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::agent_params::{SessionsListParams, fail, obj};
use super::{Call, Method, Params, gone};
use crate::channel::normalize_session_key;
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{ADMIN, MethodAccess, READ, WRITE};
use crate::protocol::validate::Checker;
use crate::registry::runs::{ListSessions, SessionList, SessionRow};
use crate::registry::session_events::{DescribeSession, SubscribeSessionEvents};
use crate::registry::session_reset::{
    AnnounceSession, CreateSession, DeleteSession, RenameSession, ResetReason, ResetSession,
    SessionMutation,
};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "sessions.list",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_list),
    },
    Method {
        name: "sessions.subscribe",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_subscribe),
    },
    Method {
        name: "sessions.messages.subscribe",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_messages),
    },
    Method {
        name: "sessions.messages.unsubscribe",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_messages),
    },
    Method {
        name: "sessions.describe",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_describe),
    },
    Method {
        name: "sessions.reset",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_reset),
    },
    Method {
        name: "sessions.compact",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_compact),
    },
    Method {
        name: "sessions.create",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_create),
    },
    Method {
        name: "sessions.delete",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_delete),
    },
    Method {
        name: "sessions.cleanup",
        access: MethodAccess::Operator(ADMIN),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_cleanup),
    },
    Method {
        name: "sessions.patch",
        access: MethodAccess::Operator(WRITE),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_patch),
    },
    Method {
        name: "agents.list",
        access: MethodAccess::Operator(READ),
        handler: WsSession::agents_list,
    },
    Method {
        name: "sessions.preview",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_preview),
    },
    Method {
        name: "sessions.search",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_search),
    },
    Method {
        name: "sessions.get",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::sessions_get),
    },
    Method {
        name: "models.list",
        access: MethodAccess::Operator(READ),
        handler: |s, call, ctx| s.with_params(call, ctx, WsSession::models_list),
    },
];

/// What `models.list` answers (OpenClaw's `ModelsListResult`): the models a session may
/// choose (`sessions.patch {model}`, `/model`), the configured default first.
#[derive(Serialize)]
struct ModelsList {
    models: Vec<ModelRow>,
}

/// One model of [`ModelsList`] (OpenClaw's `ModelChoice`; the detail fields only with
/// `includeDetails`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelRow {
    id: String,
    name: String,
    provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context_window: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'static [&'static str]>,
    reasoning: bool,
    available: bool,
}

/// `sessions.get {key | sessionKey, limit?, agentId?}` (OpenClaw's `sessions-read.ts`, which
/// `openclaw acp` calls to replay a session into an editor): the session's last messages.
pub(crate) struct SessionsGetParams {
    /// Normalized session key.
    key: String,
    /// Messages to return (1..=1000, default 200).
    limit: usize,
}

impl Params for SessionsGetParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        use crate::registry::runs::history_limits as l;
        const M: &str = "sessions.get";
        let o = obj(M, &call.params)?;
        // OpenClaw's `requireSessionKey`: `key`, else `sessionKey`; a string or a number.
        let raw = match o.get("key").or_else(|| o.get("sessionKey")) {
            Some(Value::String(k)) => k.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        if raw.is_empty() {
            return Err(ErrorShape::invalid("key required"));
        }
        // A number is floored and raised to 1, as OpenClaw reads it; anything else is the
        // default. At most what `chat.history` answers (the ACP bridge asks for 1e6).
        let limit = match o.get("limit").and_then(Value::as_f64) {
            Some(n) if n.is_finite() => (n.floor().max(1.0) as u64).min(l::MAX_ENTRIES),
            _ => l::DEFAULT_ENTRIES,
        };
        let mut c = Checker::new();
        check_agent(&mut c, o)?;
        Ok(Self {
            key: normalize_session_key(&raw),
            limit: usize::try_from(limit).unwrap_or(200),
        })
    }
}

/// `sessions.preview {keys, limit?, maxChars?}` (OpenClaw's closed
/// `SessionsPreviewParamsSchema`): keys trimmed and normalized, blank ones dropped, the first
/// [`MAX_KEYS`](crate::registry::previews::MAX_KEYS) kept; `limit` at most
/// [`MAX_ITEMS`](crate::registry::previews::MAX_ITEMS).
pub(crate) struct PreviewParams(crate::registry::previews::SessionPreviews);

/// `sessions.search {query, limit?, agentId?, sessionKeys?, scope?}` (OpenClaw's closed
/// schema: `scope` not with `agentId` or `sessionKeys`; of `scope`'s roster filters,
/// `agentId`, `activeMinutes`, `excludeSubagents` and `excludeCron` are applied, the others
/// refused by name).
pub(crate) struct SearchParams {
    query: String,
    limit: usize,
    targets: crate::registry::session_tools::SearchTargets,
}

impl Params for SearchParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        use crate::session_tools::{
            SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT, SEARCH_MAX_QUERY_CHARS, SEARCH_MAX_SESSIONS,
        };
        const M: &str = "sessions.search";
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.closed(
            "",
            o,
            &["query", "limit", "agentId", "sessionKeys", "scope"],
        );
        c.required("", o, "query");
        let query = c
            .string("", o, "query", true)
            .unwrap_or_default()
            .trim()
            .to_owned();
        let limit = c.integer("", o, "limit", 1);
        let agent = c.string("", o, "agentId", true).map(str::to_owned);
        let keys = o
            .contains_key("sessionKeys")
            .then(|| c.string_array("", o, "sessionKeys").unwrap_or_default());
        let scope = o.get("scope").and_then(|v| c.object("/scope", v));
        let mut targets = crate::registry::session_tools::SearchTargets::default();
        if let Some(s) = scope {
            const APPLIED: &[&str] = &[
                "agentId",
                "activeMinutes",
                "excludeSubagents",
                "excludeCron",
            ];
            if let Some(k) = s.keys().find(|k| !APPLIED.contains(&k.as_str())) {
                return Err(ErrorShape::invalid(format!(
                    "invalid {M} params: scope.{} is not a filter this gateway applies (it has: {})",
                    k.chars().take(64).collect::<String>(),
                    APPLIED.join(", ")
                )));
            }
            targets.agent = c.string("/scope", s, "agentId", true).map(str::to_owned);
            targets.active_minutes = c.integer("/scope", s, "activeMinutes", 1);
            targets.exclude_subagents = c.boolean("/scope", s, "excludeSubagents").unwrap_or(false);
            targets.exclude_cron = c.boolean("/scope", s, "excludeCron").unwrap_or(false);
        }
        if !c.ok() {
            return Err(fail(M, &c));
        }
        if query.chars().count() > SEARCH_MAX_QUERY_CHARS {
            return Err(ErrorShape::invalid(format!(
                "invalid {M} params: /query must NOT have more than {SEARCH_MAX_QUERY_CHARS} characters"
            )));
        }
        let limit = match limit {
            None => SEARCH_DEFAULT_LIMIT,
            Some(n) if n <= SEARCH_MAX_LIMIT as u64 => {
                usize::try_from(n).unwrap_or(SEARCH_MAX_LIMIT)
            }
            Some(_) => {
                return Err(ErrorShape::invalid(format!(
                    "invalid {M} params: /limit must be <= {SEARCH_MAX_LIMIT}"
                )));
            }
        };
        if scope.is_some() && (agent.is_some() || keys.is_some()) {
            return Err(ErrorShape::invalid(format!(
                "invalid {M} params: scope cannot be combined with agentId or sessionKeys"
            )));
        }
        if let Some(keys) = &keys {
            if keys.is_empty()
                || keys.len() > SEARCH_MAX_SESSIONS
                || keys.iter().any(|k| k.trim().is_empty())
            {
                return Err(ErrorShape::invalid(format!(
                    "invalid {M} params: /sessionKeys must hold 1 to {SEARCH_MAX_SESSIONS} non-empty keys"
                )));
            }
            targets.keys = Some(
                keys.iter()
                    .map(|k| normalize_session_key(k.trim()))
                    .collect(),
            );
        }
        if let Some(a) = agent {
            targets.agent = Some(a);
        }
        if let Some(a) = &targets.agent {
            let a = a.trim().to_ascii_lowercase();
            if !crate::agents::known_now(&a) {
                return Err(ErrorShape::invalid(format!(
                    "unknown agent {:?} (this gateway runs: {})",
                    a.chars().take(64).collect::<String>(),
                    crate::agents::known_ids_now()
                )));
            }
            targets.agent = Some(a);
        }
        Ok(Self {
            query,
            limit,
            targets,
        })
    }
}

impl Params for PreviewParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        use crate::registry::previews as p;
        const M: &str = "sessions.preview";
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.closed("", o, &["keys", "limit", "maxChars"]);
        c.required("", o, "keys");
        let keys = c.string_array("", o, "keys").unwrap_or_default();
        if o.contains_key("keys") && keys.is_empty() && c.ok() {
            c.error("/keys", "must NOT have fewer than 1 items");
        }
        if let Some(i) = keys.iter().position(String::is_empty) {
            c.error(
                &format!("/keys/{i}"),
                "must NOT have fewer than 1 characters",
            );
        }
        let limit = c.integer("", o, "limit", 1);
        let max_chars = c.integer("", o, "maxChars", p::MIN_CHARS as u64);
        if !c.ok() {
            return Err(fail(M, &c));
        }
        let keys: Vec<String> = keys
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
            .take(p::MAX_KEYS)
            .map(normalize_session_key)
            .collect();
        // OpenClaw refuses a key of an agent it does not run.
        if let Some(k) = keys
            .iter()
            .find(|k| !crate::agents::key_agent(k).is_some_and(crate::agents::known_now))
        {
            let shown: String = k.chars().take(100).collect();
            return Err(ErrorShape::invalid(format!(
                "unknown agent in session key {shown:?} (this gateway runs: {})",
                crate::agents::known_ids_now()
            )));
        }
        let clamp = |v: Option<u64>, default: usize, max: usize| {
            v.map_or(default, |n| usize::try_from(n).unwrap_or(max).min(max))
        };
        Ok(Self(p::SessionPreviews {
            keys,
            limit: clamp(limit, p::DEFAULT_ITEMS, p::MAX_ITEMS),
            max_chars: clamp(max_chars, p::DEFAULT_CHARS, p::MAX_CHARS),
        }))
    }
}

/// `models.list` params (OpenClaw's closed `ModelsListParamsSchema`). Every model this
/// gateway lists is configured and callable, so `view` and `refresh` change nothing (there
/// is no provider discovery to refresh) but are checked as OpenClaw checks them.
pub(crate) struct ModelsListParams {
    /// Only this provider's models (lowercased).
    provider: Option<String>,
    /// Context window, input kinds and locality too.
    details: bool,
}

impl Params for ModelsListParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "models.list";
        if call.params.is_null() {
            return Ok(Self {
                provider: None,
                details: false,
            });
        }
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.closed(
            "",
            o,
            &[
                "agentId",
                "sessionKey",
                "authProfileId",
                "provider",
                "includeDetails",
                "includeProviderCapabilities",
                "includeDefaultModels",
                "preparedOnly",
                "refresh",
                "view",
            ],
        );
        let _ = c.string("", o, "sessionKey", true);
        let _ = c.string("", o, "authProfileId", true);
        let provider = c
            .string("", o, "provider", true)
            .map(|p| p.trim().to_ascii_lowercase());
        let details = c.boolean("", o, "includeDetails").unwrap_or(false);
        for key in ["includeProviderCapabilities", "includeDefaultModels"] {
            let _ = c.boolean("", o, key);
        }
        let prepared_only = c.boolean("", o, "preparedOnly");
        let refresh = c.boolean("", o, "refresh");
        match o.get("view") {
            None => {}
            Some(Value::String(v))
                if ["default", "configured", "provider-config", "all"].contains(&v.as_str()) => {}
            Some(_) => c.error("/view", "must be equal to one of the allowed values"),
        }
        if prepared_only == Some(true) && refresh == Some(true) {
            c.error("", "must NOT be valid");
        }
        if !c.ok() {
            return Err(fail(M, &c));
        }
        check_agent(&mut c, o)?;
        Ok(Self { provider, details })
    }
}

/// One agent of `agents.list` (OpenClaw's `AgentsListResultSchema` entry).
#[derive(Serialize)]
struct AgentSummary {
    id: String,
    name: String,
    workspace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
}

/// `sessions.subscribe` params: `sessions.list`'s; when there are any, the answer carries
/// that page too.
pub(crate) struct SubscribeParams {
    /// The page to answer with, if the call asked for one.
    list: Option<usize>,
}

impl Params for SubscribeParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        match &call.params {
            Value::Object(o) if o.is_empty() => Ok(Self { list: None }),
            Value::Object(_) => SessionsListParams::parse(call).map(|p| Self {
                list: Some(p.limit),
            }),
            Value::Null => Ok(Self { list: None }),
            _ => Err(ErrorShape::invalid(
                "invalid sessions.subscribe params: must be object",
            )),
        }
    }
}

/// `sessions.messages.subscribe {key, agentId?, includeApprovals?}` /
/// `sessions.messages.unsubscribe {key, agentId?}`.
pub(crate) struct MessagesParams {
    /// Normalized session key.
    key: String,
}

impl Params for MessagesParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let m = call.method;
        let o = obj(m, &call.params)?;
        let mut c = Checker::new();
        let subscribe = m == "sessions.messages.subscribe";
        c.closed(
            "",
            o,
            if subscribe {
                &["key", "agentId", "includeApprovals"]
            } else {
                &["key", "agentId"]
            },
        );
        c.required("", o, "key");
        let key = c
            .string("", o, "key", true)
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let approvals = subscribe && c.boolean("", o, "includeApprovals") == Some(true);
        if !c.ok() {
            return Err(fail(m, &c));
        }
        check_agent(&mut c, o)?;
        let Some(key) = key else {
            return Err(ErrorShape::invalid(format!(
                "invalid {m} params: key is required"
            )));
        };
        if approvals {
            return Err(ErrorShape::unavailable(
                "session approval replay unavailable: follow exec approvals with the operator.approvals scope (exec.approval.requested events)",
            ));
        }
        Ok(Self {
            key: normalize_session_key(key),
        })
    }
}

/// `sessions.describe {key, agentId?}`.
pub(crate) struct DescribeParams {
    /// Normalized session key.
    key: String,
}

impl Params for DescribeParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.describe";
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.required("", o, "key");
        let key = c.string("", o, "key", true).map(normalize_session_key);
        let _ = c.string("", o, "agentId", false);
        match key {
            Some(key) if c.ok() => Ok(Self { key }),
            _ => Err(fail(M, &c)),
        }
    }
}

/// A session `key` that would create an entry: only of a configured agent (its id names
/// the directory the entry is saved in).
fn known_agent(method: &str, key: Option<String>) -> Result<Option<String>, ErrorShape> {
    match key {
        Some(k) if !crate::agents::key_agent(&k).is_some_and(crate::agents::known_now) => {
            let shown: String = k.chars().take(100).collect();
            Err(ErrorShape::invalid(format!(
                "invalid {method} params: session key {shown:?} is not a session of a configured agent (agent:<agentId>:<key>)"
            )))
        }
        k => Ok(k),
    }
}

/// An `agentId` param: one of the configured agents.
fn check_agent(c: &mut Checker, o: &serde_json::Map<String, Value>) -> Result<(), ErrorShape> {
    match c.string("", o, "agentId", true) {
        Some(id) if !crate::agents::known_now(id.trim()) => {
            // Echoed shortened: the id is the caller's, of any size.
            let shown: String = id.chars().take(64).collect();
            Err(ErrorShape::invalid(format!(
                "unknown agent id: {shown} (this gateway runs: {})",
                crate::agents::known_ids_now()
            )))
        }
        _ => Ok(()),
    }
}

/// `sessions.reset {key, agentId?, reason?, expectedSessionId?}`.
pub(crate) struct ResetParams {
    key: String,
    reason: ResetReason,
    expected_session_id: Option<String>,
}

impl Params for ResetParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.reset";
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.closed("", o, &["key", "agentId", "reason", "expectedSessionId"]);
        c.required("", o, "key");
        let key = c.string("", o, "key", true).map(normalize_session_key);
        let key = known_agent(M, key)?;
        let reason = match o.get("reason") {
            None => Some(ResetReason::Reset),
            Some(Value::String(r)) if r == "reset" => Some(ResetReason::Reset),
            Some(Value::String(r)) if r == "new" => Some(ResetReason::New),
            Some(_) => {
                c.error("/reason", "must be equal to one of the allowed values");
                None
            }
        };
        let expected = c
            .string("", o, "expectedSessionId", true)
            .map(str::to_owned);
        check_agent(&mut c, o)?;
        match (key, reason) {
            (Some(key), Some(reason)) if c.ok() => Ok(Self {
                key,
                reason,
                expected_session_id: expected,
            }),
            _ => Err(fail(M, &c)),
        }
    }
}

/// `sessions.compact {key, agentId?, maxLines?}`.
pub(crate) struct CompactParams {
    key: String,
    max_lines: Option<u64>,
}

impl Params for CompactParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.compact";
        let o = obj(M, &call.params)?;
        let mut c = Checker::new();
        c.closed("", o, &["key", "agentId", "maxLines"]);
        c.required("", o, "key");
        let key = c.string("", o, "key", true).map(normalize_session_key);
        let key = known_agent(M, key)?;
        let max_lines = c.integer("", o, "maxLines", 1);
        check_agent(&mut c, o)?;
        match key {
            Some(key) if c.ok() => Ok(Self { key, max_lines }),
            _ => Err(fail(M, &c)),
        }
    }
}

/// `sessions.delete {key, agentId?, deleteTranscript?, expectedSessionId?,
/// expectedSessionUpdatedAt?, emitLifecycleHooks?, archivedOnly?}`.
pub(crate) struct DeleteParams {
    key: String,
    archive_transcript: bool,
    expected_session_id: Option<String>,
    expected_updated_at: Option<u64>,
}

impl Params for DeleteParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.delete";
        let o = obj(M, &call.params)?;
        // This gateway keeps no lifecycle revisions and archives no sessions: a guard on
        // either cannot be checked, so it is refused rather than ignored.
        for k in ["expectedLifecycleRevision", "archivedOnly"] {
            if o.get(k).is_some_and(|v| v != &Value::Bool(false)) {
                return Err(ErrorShape::invalid(format!(
                    "sessions.delete {k} is not supported by this gateway (it keeps no session archive): delete with key and expectedSessionId"
                )));
            }
        }
        let mut c = Checker::new();
        c.closed(
            "",
            o,
            &[
                "key",
                "agentId",
                "deleteTranscript",
                "expectedSessionId",
                "expectedLifecycleRevision",
                "expectedSessionUpdatedAt",
                "emitLifecycleHooks",
                "archivedOnly",
            ],
        );
        c.required("", o, "key");
        let key = c.string("", o, "key", true).map(normalize_session_key);
        let archive = c.boolean("", o, "deleteTranscript").unwrap_or(true);
        let expected = c
            .string("", o, "expectedSessionId", true)
            .map(str::to_owned);
        let updated_at = match o.get("expectedSessionUpdatedAt") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None => {
                    c.error("/expectedSessionUpdatedAt", "must be >= 0");
                    None
                }
            },
        };
        let _ = c.boolean("", o, "emitLifecycleHooks");
        check_agent(&mut c, o)?;
        match key {
            Some(key) if c.ok() => Ok(Self {
                key,
                archive_transcript: archive,
                expected_session_id: expected,
                expected_updated_at: updated_at,
            }),
            _ => Err(fail(M, &c)),
        }
    }
}

/// `sessions.patch {key, agentId?, expectedSessionId?, label?, model?, thinkingLevel?}`:
/// the session settings this gateway has are its label, its model (one of the configured
/// models, by `provider/model`, alias or bare id; `null` goes back to the default; the
/// answer's `resolved` names the model that now answers) and its thinking level (`off` …
/// `max`; `null`: back to the configured one), which the real TUI's `/think` sets. Every
/// other OpenClaw setting (verbose and reasoning levels, `archived`, …) is refused by name,
/// so the TUI says why instead of `unknown method`.
pub(crate) struct PatchParams {
    key: String,
    expected_session_id: Option<String>,
    /// The new label (`Some(None)`: cleared, `label: null`; `None`: not sent).
    label: Option<Option<String>>,
    /// The session's model (`Some(None)`: back to the default, `model: null`).
    model: Option<Option<String>>,
    /// The chat's thinking level (`Some(None)`: back to the configured one,
    /// `thinkingLevel: null`).
    thinking_level: Option<Option<crate::ports::Thinking>>,
    /// The session's queue mode (`Some(None)`: back to `messages.queue`, `queueMode:
    /// null`).
    queue_mode: Option<Option<crate::run_queue::QueueMode>>,
    /// The chat's usage footer (`Some(None)`: back to `messages.responseUsage`,
    /// `responseUsage: null`).
    response_usage: Option<Option<crate::usage_footer::FooterMode>>,
}

impl Params for PatchParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.patch";
        const ACCEPTED: &[&str] = &[
            "key",
            "agentId",
            "expectedSessionId",
            "label",
            "model",
            "thinkingLevel",
            "queueMode",
            "responseUsage",
        ];
        let o = obj(M, &call.params)?;
        if let Some(k) = o.keys().find(|k| !ACCEPTED.contains(&k.as_str())) {
            let shown: String = k.chars().take(64).collect();
            let hint = if k == "archived" {
                "this gateway keeps no session archive: delete the session (`openclaw sessions delete`) or reset it"
            } else {
                "this gateway has no per-session settings besides the label, the model, the thinking level, the queue mode and the usage footer"
            };
            return Err(ErrorShape::invalid(format!(
                "sessions.patch {shown} is not supported by this gateway: {hint}"
            )));
        }
        let mut c = Checker::new();
        c.required("", o, "key");
        if ![
            "label",
            "model",
            "thinkingLevel",
            "queueMode",
            "responseUsage",
        ]
        .iter()
        .any(|k| o.contains_key(*k))
        {
            c.required("", o, "label");
        }
        let key = c.string("", o, "key", true).map(normalize_session_key);
        let key = known_agent(M, key)?;
        let expected = c
            .string("", o, "expectedSessionId", true)
            .map(str::to_owned);
        let model = match o.get("model") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => c.string("", o, "model", true).map(|v| {
                let v = v.trim();
                Some(v.chars().take(256).collect::<String>()).filter(|v| !v.is_empty())
            }),
        };
        let thinking_level = match o.get("thinkingLevel") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => c.string("", o, "thinkingLevel", true).and_then(|v| {
                match crate::ports::Thinking::parse(v) {
                    Some(level) => Some(Some(level)),
                    None => {
                        c.error(
                            "/thinkingLevel",
                            &format!(
                                "must be one of {} (or null)",
                                crate::ports::Thinking::names()
                            ),
                        );
                        None
                    }
                }
            }),
        };
        let queue_mode = match o.get("queueMode") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => c.string("", o, "queueMode", true).and_then(|v| {
                match crate::run_queue::QueueMode::parse(v) {
                    Some(m) => Some(Some(m)),
                    None => {
                        c.error(
                            "/queueMode",
                            &format!(
                                "must be one of {} (or null)",
                                crate::run_queue::QueueMode::NAMES
                            ),
                        );
                        None
                    }
                }
            }),
        };
        let response_usage = match o.get("responseUsage") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => c.string("", o, "responseUsage", true).and_then(|v| {
                match crate::usage_footer::FooterMode::parse(v) {
                    Some(m) => Some(Some(m)),
                    None => {
                        c.error(
                            "/responseUsage",
                            "must be one of off, tokens, full, on (or null)",
                        );
                        None
                    }
                }
            }),
        };
        let label = match o.get("label") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => c.string("", o, "label", true).map(|v| {
                if v.chars().count() > MAX_SESSION_NAME {
                    c.error(
                        "/label",
                        &format!("must NOT have more than {MAX_SESSION_NAME} characters"),
                    );
                    None
                } else {
                    Some(v.trim().to_owned())
                }
            }),
        };
        check_agent(&mut c, o)?;
        match key {
            Some(key) if c.ok() => Ok(Self {
                key,
                expected_session_id: expected,
                label,
                model,
                thinking_level,
                queue_mode,
                response_usage,
            }),
            _ => Err(fail(M, &c)),
        }
    }
}

/// `sessions.create` params this gateway has no feature for (OpenClaw's model, workspace,
/// project and run options): refused by name rather than ignored.
const CREATE_UNSUPPORTED: &[&str] = &[
    "category",
    "model",
    "agentRuntime",
    "contextWindow",
    "thinkingLevel",
    "fastMode",
    "permissionMode",
    "toolOverrides",
    "incognito",
    "visibility",
    "catalogId",
    "spawnDepth",
    "fork",
    "forkFrom",
    "timeoutMs",
    "task",
    "message",
    "mentions",
    "attachments",
    "projectId",
    "projectGitUrl",
    "repository",
    "worktree",
    "worktreeSource",
    "worktreeBaseRef",
    "worktreeName",
    "execNode",
    "cwd",
];

/// The `sessions.create` params it takes: the TUI's `/new` sends `key`, `agentId`,
/// `parentSessionKey`, `succeedsParent` and `emitCommandHooks`.
const CREATE_ACCEPTED: &[&str] = &[
    "key",
    "idempotencyKey",
    "agentId",
    "label",
    "displayName",
    "titleSource",
    "parentSessionKey",
    "succeedsParent",
    "emitCommandHooks",
];

/// Longest `label` / `displayName` (OpenClaw's `SESSION_LABEL_MAX_LENGTH` is 512, its
/// `displayName` limit 500).
const MAX_SESSION_NAME: usize = 500;

/// `sessions.create {key?, idempotencyKey?, agentId?, label?, displayName?, …}`.
pub(crate) struct CreateParams {
    key: String,
    label: Option<String>,
    display_name: Option<String>,
}

impl Params for CreateParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.create";
        let o = obj(M, &call.params)?;
        if let Some(k) = o.keys().find(|k| CREATE_UNSUPPORTED.contains(&k.as_str())) {
            return Err(ErrorShape::invalid(format!(
                "sessions.create {k} is not supported by this gateway: create the session with key, label or displayName only, then chat.send to it"
            )));
        }
        let mut c = Checker::new();
        c.closed("", o, CREATE_ACCEPTED);
        let key = c.string("", o, "key", true).map(normalize_session_key);
        let key = known_agent(M, key)?;
        let idem = c.string("", o, "idempotencyKey", true);
        let mut names = [None, None];
        for (slot, field) in names.iter_mut().zip(["label", "displayName"]) {
            if let Some(v) = c.string("", o, field, true) {
                if v.chars().count() > MAX_SESSION_NAME {
                    c.error(
                        &format!("/{field}"),
                        &format!("must NOT have more than {MAX_SESSION_NAME} characters"),
                    );
                } else {
                    *slot = Some(v.trim().to_owned());
                }
            }
        }
        let _ = c.string("", o, "titleSource", false);
        let _ = c.string("", o, "parentSessionKey", true);
        let _ = c.boolean("", o, "succeedsParent");
        let _ = c.boolean("", o, "emitCommandHooks");
        check_agent(&mut c, o)?;
        if !c.ok() {
            return Err(fail(M, &c));
        }
        // No key: a new one; a retried call with the same idempotency key gets the same.
        let key = key.unwrap_or_else(|| match idem {
            Some(k) => normalize_session_key(&format!("create-{}", k.trim())),
            None => normalize_session_key(&uuid::Uuid::new_v4().to_string()),
        });
        let [label, display_name] = names;
        Ok(Self {
            key,
            label,
            display_name,
        })
    }
}

/// What `sessions.subscribe` answers.
#[derive(Serialize)]
struct Subscribed {
    subscribed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    list: Option<SessionList>,
}

/// What `sessions.describe` answers.
#[derive(Serialize)]
struct Described {
    session: Option<SessionRow>,
}

impl WsSession {
    /// `sessions.list {limit?}` (1..=1000, default 50).
    fn sessions_list(&mut self, call: Call, p: SessionsListParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(ListSessions {
            limit: p.limit,
            search: p.search,
        });
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `sessions.messages.subscribe` → `{subscribed: true, key}`: this connection gets the
    /// session's `session.message` events from now on; `sessions.messages.unsubscribe` →
    /// `{subscribed: false, key}`.
    fn sessions_messages(&mut self, call: Call, p: MessagesParams, ctx: &mut Context<Self>) {
        let fut = self
            .registry
            .send(crate::registry::session_events::FollowSessionMessages {
                conn_id: self.conn_id.clone(),
                addr: ctx.address(),
                key: p.key.clone(),
                on: call.method == "sessions.messages.subscribe",
            });
        let key = p.key;
        self.reply_with(
            call.id,
            async move {
                match fut.await.map_err(|_| gone())? {
                    Ok(subscribed) => Ok(serde_json::json!({"subscribed": subscribed, "key": key})),
                    Err(()) => Err(ErrorShape::invalid(format!(
                        "this connection already follows {} sessions' messages; unsubscribe one first",
                        crate::registry::session_events::MAX_MESSAGE_SUBSCRIPTIONS
                    ))),
                }
            },
            ctx,
        );
    }

    /// `sessions.subscribe`: this connection gets `sessions.changed` from now on.
    fn sessions_subscribe(&mut self, call: Call, p: SubscribeParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(SubscribeSessionEvents {
            conn_id: self.conn_id.clone(),
            addr: ctx.address(),
            list: p.list,
        });
        self.reply_with(
            call.id,
            async move {
                let list = fut.await.map_err(|_| gone())?;
                Ok(Subscribed {
                    subscribed: true,
                    list,
                })
            },
            ctx,
        );
    }

    /// `sessions.reset`: the session starts over (its run aborted, a fresh transcript);
    /// answered once the new session id is on disk, then announced.
    fn sessions_reset(&mut self, call: Call, p: ResetParams, ctx: &mut Context<Self>) {
        let reason = p.reason.as_str();
        let fut = self.registry.send(ResetSession {
            key: p.key,
            expected_session_id: p.expected_session_id,
        });
        self.reply_then_announce(call.id, fut, Some(reason), ctx);
    }

    /// `sessions.compact`: the session's context summarized (or, with `maxLines`, cut to
    /// its last messages), queued behind its runs; answered when done (OpenClaw's
    /// `{ok, key, compacted, result: {tokensBefore, tokensAfter}}` or `{…, kept}`).
    fn sessions_compact(&mut self, call: Call, p: CompactParams, ctx: &mut Context<Self>) {
        use crate::registry::runs::{SubmitCompaction, WaitReply, WaitRun};
        let id = call.id;
        let key = p.key;
        let fut = self.registry.send(SubmitCompaction {
            run_id: format!("compact-{}", uuid::Uuid::new_v4()),
            session_key: key.clone(),
            max_lines: p.max_lines,
        });
        fut.into_actor(self)
            .map(move |res, act, ctx| {
                let ack = match res {
                    Ok(Ok(a)) => a,
                    Ok(Err(e)) => return act.respond_err(&id, &e, ctx),
                    Err(_) => return act.respond_err(&id, &gone(), ctx),
                };
                let wait = act.registry.send(WaitRun {
                    run_id: ack.run_id,
                    // Behind the session's runs, then the summarizer's calls.
                    timeout: std::time::Duration::from_secs(30 * 60),
                });
                act.reply_with(
                    id,
                    async move {
                        let view = match wait.await.map_err(|_| gone())? {
                            WaitReply::Run(v) => v,
                            WaitReply::Failed { error, .. } => {
                                return Err(ErrorShape::unavailable(error));
                            }
                            WaitReply::Gone => return Err(gone()),
                        };
                        let mut out = match view.detail {
                            Some(d) => d,
                            None => {
                                return Err(ErrorShape::unavailable(format!(
                                    "the compaction did not finish ({})",
                                    view.error.unwrap_or_else(
                                        || format!("{:?}", view.status).to_lowercase()
                                    )
                                )));
                            }
                        };
                        if out.get("failed") == Some(&Value::Bool(true)) {
                            let why = out["reason"].as_str().unwrap_or("failed").to_owned();
                            return Err(ErrorShape::unavailable(format!(
                                "compaction failed: {why}"
                            )));
                        }
                        if let Some(o) = out.as_object_mut() {
                            o.remove("failed");
                            o.insert("ok".into(), Value::Bool(true));
                            o.insert("key".into(), Value::String(key));
                        }
                        Ok(out)
                    },
                    ctx,
                );
            })
            .spawn(ctx);
    }

    /// `sessions.create`: a new session, or the existing one of that key.
    fn sessions_create(&mut self, call: Call, p: CreateParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(CreateSession {
            key: p.key,
            label: p.label,
            display_name: p.display_name,
        });
        self.reply_then_announce(call.id, fut, None, ctx);
    }

    /// `sessions.patch`: labels (or un-labels) a session, then announces it.
    fn sessions_patch(&mut self, call: Call, p: PatchParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(RenameSession {
            key: p.key,
            expected_session_id: p.expected_session_id,
            label: p.label,
            model: p.model,
            thinking_level: p.thinking_level,
            queue_mode: p.queue_mode,
            response_usage: p.response_usage,
        });
        self.reply_then_announce(call.id, fut, Some("patch"), ctx);
    }

    /// `sessions.delete`: the session is forgotten (its transcript archived); answered once
    /// the index is saved and the transcript renamed, then announced.
    fn sessions_delete(&mut self, call: Call, p: DeleteParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(DeleteSession {
            key: p.key,
            archive_transcript: p.archive_transcript,
            expected_session_id: p.expected_session_id,
            expected_updated_at: p.expected_updated_at,
        });
        let id = call.id;
        fut.into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(Ok(d)) => {
                    act.respond_ok(&id, &d, ctx);
                    if d.deleted {
                        act.registry.do_send(AnnounceSession {
                            key: d.key,
                            reason: "delete",
                        });
                    }
                }
                Ok(Err(e)) => act.respond_err(&id, &e, ctx),
                Err(_) => act.respond_err(&id, &gone(), ctx),
            })
            .spawn(ctx);
    }

    /// Answers a session mutation, then has the registry send `sessions.changed` (OpenClaw
    /// answers first: the TUI applies its answer before the event). `reason`: the event's
    /// (`None`: `create`, only for a session the call created).
    fn reply_then_announce<F>(
        &mut self,
        id: String,
        fut: F,
        reason: Option<&'static str>,
        ctx: &mut Context<Self>,
    ) where
        F: std::future::Future<Output = Result<Result<SessionMutation, ErrorShape>, MailboxError>>
            + 'static,
    {
        fut.into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(Ok(m)) => {
                    act.respond_ok(&id, &m, ctx);
                    let reason = match reason {
                        Some(r) => r,
                        None if m.created => "create",
                        None => return,
                    };
                    act.registry.do_send(AnnounceSession { key: m.key, reason });
                }
                Ok(Err(e)) => act.respond_err(&id, &e, ctx),
                Err(_) => act.respond_err(&id, &gone(), ctx),
            })
            .spawn(ctx);
    }

    /// `agents.list`: the configured agents (params: an object, not read).
    fn agents_list(&mut self, call: Call, ctx: &mut Context<Self>) {
        if !call.params.is_object() && !call.params.is_null() {
            let err = ErrorShape::invalid("invalid agents.list params: must be object");
            return self.respond_err(&call.id, &err, ctx);
        }
        // Each agent's workspace, and its identity as its IDENTITY.md states it (read off
        // the actor thread).
        let roster = self.shared.live.get().agents.clone();
        self.reply_with(
            call.id,
            async move {
                let agents = actix_web::rt::task::spawn_blocking({
                    let roster = roster.clone();
                    move || {
                        roster
                            .agents()
                            .iter()
                            .map(|a| {
                                let identity = crate::workspace::Identity::of(&a.workspace);
                                let mut v = serde_json::to_value(AgentSummary {
                                    id: a.id.clone(),
                                    name: a.name.clone().unwrap_or_else(|| a.id.clone()),
                                    workspace: a.workspace.dir.display().to_string(),
                                    model: a.model.clone(),
                                })
                                .unwrap_or_default();
                                if !identity.is_empty() {
                                    v["identity"] = serde_json::json!(identity);
                                }
                                v
                            })
                            .collect::<Vec<_>>()
                    }
                })
                .await
                .map_err(|_| gone())?;
                Ok(serde_json::json!({
                    "defaultId": roster.default_id(),
                    "mainKey": "main",
                    "scope": "per-sender",
                    "agents": agents,
                }))
            },
            ctx,
        );
    }

    /// `models.list`: the configured models a session may choose, each callable now (its key
    /// is set), the default first; `provider` filters, `includeDetails` adds the context
    /// window, the input kinds and whether the provider runs on this machine.
    fn models_list(&mut self, call: Call, p: ModelsListParams, ctx: &mut Context<Self>) {
        let fut = self
            .registry
            .send(crate::registry::chat_commands::ListModels);
        self.reply_with(
            call.id,
            async move {
                let choices = fut.await.map_err(|_| gone())?;
                let models = choices
                    .into_iter()
                    .filter_map(|c| {
                        let (provider, id) = c.reference.split_once('/')?;
                        if p.provider
                            .as_deref()
                            .is_some_and(|want| !provider.eq_ignore_ascii_case(want))
                        {
                            return None;
                        }
                        Some(ModelRow {
                            id: id.to_owned(),
                            name: c.name.unwrap_or_else(|| id.to_owned()),
                            provider: provider.to_owned(),
                            alias: c.alias,
                            tags: c.tags,
                            context_window: c.context_window.filter(|_| p.details),
                            local: p.details.then_some(c.local),
                            input: p.details.then_some(if c.images {
                                &["text", "image"][..]
                            } else {
                                &["text"][..]
                            }),
                            reasoning: c.reasoning,
                            available: true,
                        })
                    })
                    .collect();
                Ok(ModelsList { models })
            },
            ctx,
        );
    }

    /// `sessions.get`: `{messages}`, oldest first, as `chat.history` gives them (an unknown
    /// session has none).
    fn sessions_get(&mut self, call: Call, p: SessionsGetParams, ctx: &mut Context<Self>) {
        use crate::registry::runs::{ChatHistory, history_limits as l};
        let fut = self.registry.send(ChatHistory {
            session_key: p.key,
            limit: p.limit,
            max_chars: l::DEFAULT_CHARS,
            max_bytes: l::MAX_BYTES,
        });
        self.reply_with(
            call.id,
            async move {
                let history = fut.await.map_err(|_| gone())?.map_err(|e| e.to_shape())?;
                Ok(serde_json::json!({ "messages": history.messages }))
            },
            ctx,
        );
    }

    /// `sessions.preview {keys, limit?, maxChars?}`: `{ts, previews: [{key, status, items}]}`.
    fn sessions_preview(&mut self, call: Call, p: PreviewParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(p.0);
        self.reply_with(call.id, async move { fut.await.map_err(|_| gone()) }, ctx);
    }

    /// `sessions.search`: OpenClaw's full-text search over the transcripts (the agent's
    /// `sessions_search`, over every session an operator sees): `{results: [{sessionKey,
    /// sessionId, messageId?, role, timestamp, snippet, score}], truncated?}`.
    fn sessions_search(&mut self, call: Call, p: SearchParams, ctx: &mut Context<Self>) {
        let targets = self.registry.send(p.targets);
        let (query, limit) = (p.query, p.limit);
        self.reply_with(
            call.id,
            async move {
                let targets = targets.await.map_err(|_| gone())?;
                let v = tokio::task::spawn_blocking(move || {
                    crate::session_tools::search_transcripts(&targets, &query, limit)
                })
                .await
                .map_err(|_| gone())?;
                match v.get("error").and_then(Value::as_str) {
                    Some(e) => Err(ErrorShape::invalid(e.to_owned())),
                    None => Ok(v),
                }
            },
            ctx,
        );
    }

    /// `sessions.describe {key}`: `{session: row}`, or `{session: null}` for no such session.
    fn sessions_describe(&mut self, call: Call, p: DescribeParams, ctx: &mut Context<Self>) {
        let fut = self.registry.send(DescribeSession { key: p.key });
        self.reply_with(
            call.id,
            async move {
                let session = fut.await.map_err(|_| gone())?;
                Ok(Described { session })
            },
            ctx,
        );
    }
}

/// `sessions.cleanup {agent?, allAgents?, enforce?, activeKey?, fixMissing?, fixDmScope?}`
/// (OpenClaw's closed schema; `fixDmScope` is accepted and has nothing to do here), and
/// ours, `dryRun` (plan and answer the actions, change nothing: OpenClaw's CLI plans dry
/// runs on its own store instead).
pub(crate) struct CleanupParams {
    /// `None`: the default agent; `Some(None)`: every agent.
    agent: Option<Option<String>>,
    msg: crate::registry::maintenance::CleanupSessions,
}

impl Params for CleanupParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        const M: &str = "sessions.cleanup";
        let o = match &call.params {
            Value::Null => &serde_json::Map::new(),
            p => obj(M, p)?,
        };
        let mut c = Checker::new();
        c.closed(
            "",
            o,
            &[
                "agent",
                "allAgents",
                "enforce",
                "activeKey",
                "fixMissing",
                "fixDmScope",
                "dryRun",
            ],
        );
        let agent = c.string("", o, "agent", true).map(|a| a.trim().to_owned());
        let all = c.boolean("", o, "allAgents").unwrap_or(false);
        let enforce = c.boolean("", o, "enforce").unwrap_or(false);
        let active_key = c
            .string("", o, "activeKey", true)
            .map(|k| k.trim().to_owned());
        let fix_missing = c.boolean("", o, "fixMissing").unwrap_or(false);
        let _ = c.boolean("", o, "fixDmScope");
        let dry_run = c.boolean("", o, "dryRun").unwrap_or(false);
        if !c.ok() {
            return Err(fail(M, &c));
        }
        if all && agent.is_some() {
            return Err(ErrorShape::invalid(
                "invalid sessions.cleanup params: agent and allAgents exclude each other",
            ));
        }
        Ok(Self {
            agent: if all { Some(None) } else { agent.map(Some) },
            msg: crate::registry::maintenance::CleanupSessions {
                agents: None,
                force: enforce,
                active_key: active_key.map(|k| normalize_session_key(&k)),
                fix_missing,
                dry_run,
            },
        })
    }
}

impl WsSession {
    /// `sessions.cleanup` (`operator.admin`): session maintenance now, for the default
    /// agent, one agent or all; answers OpenClaw's summary (one store's, or `{allAgents,
    /// mode, dryRun, stores}`).
    fn sessions_cleanup(&mut self, call: Call, p: CleanupParams, ctx: &mut Context<Self>) {
        let mut msg = p.msg;
        let all = matches!(p.agent, Some(None));
        msg.agents = match p.agent {
            None => Some(vec![crate::agents::default_id_now().to_string()]),
            Some(Some(a)) => Some(vec![a]),
            Some(None) => None,
        };
        let dry_run = msg.dry_run;
        let mode = if self.shared.live.get().session_maintenance.enforce {
            "enforce"
        } else {
            "warn"
        };
        let fut = self.registry.send(msg);
        self.reply_with(
            call.id,
            async move {
                let stores = match fut.await {
                    Ok(r) => r?,
                    Err(_) => return Err(gone()),
                };
                Ok(match (all, stores.as_slice()) {
                    (false, [one]) => serde_json::to_value(one).unwrap_or(Value::Null),
                    _ => serde_json::json!({"allAgents": true, "mode": mode, "dryRun": dry_run,
                        "stores": stores}),
                })
            },
            ctx,
        );
    }
}
