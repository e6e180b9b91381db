//! Params of the agent and chat methods.

use std::time::Duration;

use serde_json::Value;

use crate::channel::normalize_session_key;
use crate::media::FileUpload;
use crate::protocol::error::ErrorShape;
use crate::protocol::validate::Checker;
use crate::registry::channels::SendOutbound;

use super::{Call, Params};

/// `p` as an object, or `invalid <method> params: must be object`.
pub(super) fn obj<'a>(
    method: &str,
    p: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, ErrorShape> {
    p.as_object()
        .ok_or_else(|| ErrorShape::invalid(format!("invalid {method} params: must be object")))
}

/// `invalid <method> params: <what the checker found>`.
pub(super) fn fail(method: &str, c: &Checker) -> ErrorShape {
    ErrorShape::invalid(format!("invalid {method} params: {}", c.message()))
}

/// `chat.send` / `agent` → (session key, text, run id, final wait, attached images).
pub(super) fn submit(
    method: &str,
    p: &Value,
) -> Result<(String, String, String, Duration, Vec<FileUpload>), ErrorShape> {
    let o = obj(method, p)?;
    let mut c = Checker::new();
    if method != "agent" {
        c.required("", o, "sessionKey");
        c.required("", o, "message");
    } else {
        c.required("", o, "message");
    }
    c.required("", o, "idempotencyKey");
    let key = c
        .string("", o, "sessionKey", true)
        .map(normalize_session_key);
    let text = c.string("", o, "message", false).map(str::to_owned);
    let run_id = c.string("", o, "idempotencyKey", true).map(str::to_owned);
    // `openclaw agent --timeout 0` disables its deadline: the longest wait here.
    let timeout_s = c.integer("", o, "timeout", 0).filter(|s| *s > 0);
    let agent = c
        .string("", o, "agentId", true)
        .map(|a| a.trim().to_ascii_lowercase());
    let (Some(text), Some(run_id)) = (text, run_id) else {
        return Err(fail(method, &c));
    };
    if !c.ok() {
        return Err(fail(method, &c));
    }
    let uploads = crate::media::parse_uploads(o.get("attachments"))
        .map_err(|e| ErrorShape::invalid(format!("invalid {method} params: {e}")))?;
    if text.trim().is_empty() && uploads.is_empty() {
        return Err(ErrorShape::invalid(format!(
            "invalid {method} params: message must not be empty"
        )));
    }
    let key = match (key, agent) {
        (Some(k), Some(a)) if crate::agents::key_agent(&k) != Some(a.as_str()) => {
            return Err(ErrorShape::invalid(format!(
                "invalid {method} params: sessionKey {:?} is not a session of agentId {:?}. Fix: drop one of them, or use agent:{}:<key>",
                k.chars().take(100).collect::<String>(),
                a.chars().take(64).collect::<String>(),
                a.chars().take(64).collect::<String>()
            )));
        }
        (Some(k), _) => k,
        (None, Some(a)) => format!("agent:{a}:main"),
        (None, None) => format!("agent:{}:main", crate::agents::default_id_now()),
    };
    let wait = Duration::from_secs(timeout_s.unwrap_or(600)).min(crate::agent_run::MAX_WAIT);
    Ok((key, text, run_id, wait, uploads))
}

pub(super) fn wait(p: &Value) -> Result<(String, Duration), ErrorShape> {
    let o = obj("agent.wait", p)?;
    let mut c = Checker::new();
    c.required("", o, "runId");
    let run_id = c.string("", o, "runId", true).map(str::to_owned);
    let ms = c.integer("", o, "timeoutMs", 0);
    match run_id {
        Some(r) if c.ok() => Ok((
            r,
            Duration::from_millis(ms.unwrap_or(30_000)).min(crate::agent_run::MAX_WAIT),
        )),
        _ => Err(fail("agent.wait", &c)),
    }
}

pub(super) fn history(p: &Value) -> Result<HistoryParams, ErrorShape> {
    use crate::registry::runs::history_limits as l;
    let o = obj("chat.history", p)?;
    let mut c = Checker::new();
    c.required("", o, "sessionKey");
    let key = c
        .string("", o, "sessionKey", true)
        .map(normalize_session_key);
    let limit = c
        .integer("", o, "limit", 1)
        .unwrap_or(l::DEFAULT_ENTRIES)
        .min(l::MAX_ENTRIES);
    let max_chars = c.integer("", o, "maxChars", 1);
    let max_bytes = c.integer("", o, "maxBytes", 1024);
    if max_chars.is_some_and(|n| n > l::MAX_CHARS) {
        return Err(ErrorShape::invalid(format!(
            "invalid chat.history params: maxChars must be at most {}",
            l::MAX_CHARS
        )));
    }
    let size = |n: u64, dflt: usize| usize::try_from(n).unwrap_or(dflt);
    match key {
        Some(session_key) if c.ok() => Ok(HistoryParams {
            session_key,
            limit: size(limit, 200),
            max_chars: max_chars.map_or(l::DEFAULT_CHARS, |n| size(n, l::DEFAULT_CHARS)),
            max_bytes: max_bytes
                .map_or(l::MAX_BYTES, |n| size(n, l::MAX_BYTES))
                .min(l::MAX_BYTES),
        }),
        _ => Err(fail("chat.history", &c)),
    }
}

pub(super) fn abort(p: &Value) -> Result<(String, Option<String>), ErrorShape> {
    let o = obj("chat.abort", p)?;
    let mut c = Checker::new();
    c.required("", o, "sessionKey");
    let key = c
        .string("", o, "sessionKey", true)
        .map(normalize_session_key);
    let run = c.string("", o, "runId", true).map(str::to_owned);
    match key {
        Some(k) if c.ok() => Ok((k, run)),
        _ => Err(fail("chat.abort", &c)),
    }
}

pub(super) fn send(p: &Value) -> Result<SendOutbound, ErrorShape> {
    let o = obj("send", p)?;
    let mut c = Checker::new();
    c.required("", o, "to");
    c.required("", o, "idempotencyKey");
    let to = c.string("", o, "to", true).map(str::to_owned);
    let idempotency_key = c
        .string("", o, "idempotencyKey", true)
        .map(str::to_owned)
        .unwrap_or_default();
    let text = c.string("", o, "message", false).map(str::to_owned);
    let channel = c
        .string("", o, "channel", true)
        .unwrap_or(crate::channel::DEFAULT_KIND.id)
        .to_owned();
    let account_id = c.string("", o, "accountId", true).map(str::to_owned);
    let thread_id = o
        .get("threadId")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
    let reply_to = o
        .get("replyToId")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
    let Some(to) = to else {
        return Err(fail("send", &c));
    };
    if !c.ok() {
        return Err(fail("send", &c));
    }
    // Files named by path (the agent's workspace) or URL: loaded when sent.
    let sources = crate::media_source::sources_of(o)
        .map_err(|e| ErrorShape::invalid(format!("invalid send params: {e}")))?;
    let files = match o.get("buffer") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(b)) => {
            let name = o.get("filename").and_then(Value::as_str);
            let ctype = o.get("contentType").and_then(Value::as_str);
            let as_voice = o.get("asVoice").and_then(Value::as_bool) == Some(true);
            vec![
                crate::media::parse_send_file(b, name, ctype, as_voice)
                    .map_err(|e| ErrorShape::invalid(format!("invalid send params: {e}")))?,
            ]
        }
        Some(_) => {
            return Err(ErrorShape::invalid(
                "invalid send params: buffer must be a base64 string",
            ));
        }
    };
    let text = text.unwrap_or_default();
    if text.is_empty() && files.is_empty() && sources.list.is_empty() {
        return Err(ErrorShape::invalid(
            "invalid send params: message is required (or a file as buffer or media)",
        ));
    }
    if files.len() + sources.list.len() > crate::media::MAX_ATTACHMENTS {
        return Err(ErrorShape::invalid(format!(
            "invalid send params: at most {} files go with one message",
            crate::media::MAX_ATTACHMENTS
        )));
    }
    Ok(SendOutbound {
        channel,
        account_id,
        to,
        text,
        media: Vec::new(),
        files,
        buttons: Vec::new(),
        sources,
        thread_id,
        reply_to,
        silent: o.get("silent").and_then(Value::as_bool) == Some(true),
        idempotency_key,
        run: None,
    })
}

/// What a `message.action` call asks for.
pub(crate) enum MessageAction {
    /// `action:"send"`: deliver the text, as `send` does.
    Send(SendOutbound, bool),
    /// `action:"send"` with `params.dryRun: true`: check it, send nothing.
    DryRun {
        /// Channel kind id.
        channel: String,
        /// The target as given.
        to: String,
    },
    /// `poll`, `react`, `edit` or `delete`.
    Op(crate::registry::channels::RouteAction),
}

/// `message.action {channel, action, params, idempotencyKey, accountId?, …}`, the call the
/// CLI's `openclaw message send` makes (OpenClaw's `MessageActionParamsSchema`): `send`
/// (text, `presentation` buttons, files by `buffer`, path or URL), `poll`, `react`, `edit`,
/// `delete`, `pin` and `unpin`; any other action gets an error that says so rather than
/// being dropped.
pub(super) fn message_action(p: &Value) -> Result<MessageAction, ErrorShape> {
    const M: &str = "message.action";
    let o = obj(M, p)?;
    let mut c = Checker::new();
    for key in ["channel", "action", "params", "idempotencyKey"] {
        c.required("", o, key);
    }
    let channel = c.string("", o, "channel", true).map(str::to_owned);
    let action = c.string("", o, "action", true).map(str::to_owned);
    let idempotency_key = c.string("", o, "idempotencyKey", true).map(str::to_owned);
    let account_id = c.string("", o, "accountId", false).map(str::to_owned);
    let params = o.get("params").and_then(|v| c.object("/params", v));
    let (Some(channel), Some(action), Some(idempotency_key), Some(params)) =
        (channel, action, idempotency_key, params)
    else {
        return Err(fail(M, &c));
    };
    if !c.ok() {
        return Err(fail(M, &c));
    }
    // The account: the call's, else the one named in its params.
    let account_id = account_id.filter(|a| !a.is_empty()).or_else(|| {
        params
            .get("accountId")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
    });
    // A location (a pin or a venue card) is its own Bot API call, like the other actions.
    let location = action == "send" && params.get("location").is_some_and(|l| !l.is_null());
    if action != "send" || location {
        if !location
            && !matches!(
                action.as_str(),
                "poll" | "react" | "edit" | "delete" | "pin" | "unpin"
            )
        {
            return Err(ErrorShape::invalid(format!(
                "Channel {channel} does not support action {action}."
            )));
        }
        let to = params
            .get("to")
            .or_else(|| params.get("target"))
            .or_else(|| params.get("chatId"))
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_i64().map(|n| n.to_string()))
            })
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                ErrorShape::invalid(
                    "invalid message.action params: params.to (or params.target) is required",
                )
            })?;
        let op = crate::channel::MessageOp::from_params(&action, params)
            .map_err(|why| ErrorShape::invalid(format!("invalid message.action params: {why}")))?;
        let thread_id = params
            .get("threadId")
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()));
        return Ok(MessageAction::Op(crate::registry::channels::RouteAction {
            channel,
            account_id,
            to,
            thread_id,
            op,
        }));
    }
    // Files named by path (the agent's workspace) or URL, or sent as bytes.
    let sources = crate::media_source::sources_of(params)
        .map_err(|e| ErrorShape::invalid(format!("invalid message.action params: {e}")))?;
    let files = match params.get("buffer") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(b)) if b.is_empty() => Vec::new(),
        Some(Value::String(b)) => vec![
            crate::media::parse_send_file(
                b,
                params.get("filename").and_then(Value::as_str),
                params
                    .get("contentType")
                    .or_else(|| params.get("mimeType"))
                    .and_then(Value::as_str),
                sources.as_voice,
            )
            .map_err(|e| ErrorShape::invalid(format!("invalid message.action params: {e}")))?,
        ],
        Some(_) => {
            return Err(ErrorShape::invalid(
                "invalid message.action params: buffer must be a base64 string",
            ));
        }
    };
    let to = params
        .get("to")
        .or_else(|| params.get("target"))
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map(str::to_owned);
    let Some(to) = to else {
        return Err(ErrorShape::invalid(
            "invalid message.action params: params.to (or params.target) is required",
        ));
    };
    let text = params
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Buttons and blocks (`presentation`, OpenClaw's deprecated `interactive`, or
    // Telegram's own rows as `buttons`): rendered
    // as the text and the keyboard.
    let rendered = crate::channel::presentation::of_params(text, params)
        .map_err(|e| ErrorShape::invalid(format!("invalid message.action params: {e}")))?;
    let (text, buttons) = match rendered {
        Some(r) => (r.text, r.buttons),
        None => (text.to_owned(), Vec::new()),
    };
    if text.is_empty() && files.is_empty() && sources.list.is_empty() {
        return Err(ErrorShape::invalid(
            "invalid message.action params: params.message is required (or presentation, media or buffer)",
        ));
    }
    if files.len() + sources.list.len() > crate::media::MAX_ATTACHMENTS {
        return Err(ErrorShape::invalid(format!(
            "invalid message.action params: at most {} files go with one message",
            crate::media::MAX_ATTACHMENTS
        )));
    }
    let int = |key: &str| {
        params
            .get(key)
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
    };
    if params.get("dryRun").and_then(Value::as_bool) == Some(true) {
        return Ok(MessageAction::DryRun { channel, to });
    }
    // `--pin` / `--delivery '{"pin":true}'`: the first message is pinned once sent.
    let pin = params.get("pin").and_then(Value::as_bool) == Some(true)
        || params
            .get("delivery")
            .and_then(|d| d.get("pin"))
            .and_then(Value::as_bool)
            == Some(true);
    Ok(MessageAction::Send(
        SendOutbound {
            channel,
            account_id,
            to,
            text,
            media: Vec::new(),
            files,
            buttons,
            sources,
            thread_id: int("threadId"),
            reply_to: int("replyTo").or_else(|| int("replyToId")),
            silent: params.get("silent").and_then(Value::as_bool) == Some(true),
            // Its own namespace, as in OpenClaw: a `send` with the same key is another call.
            idempotency_key: format!("message.action:{idempotency_key}"),
            run: None,
        },
        pin,
    ))
}

pub(super) fn pairing_approve(p: &Value) -> Result<(String, Option<String>, String), ErrorShape> {
    const M: &str = "channels.pairing.approve";
    let o = obj(M, p)?;
    let mut c = Checker::new();
    c.required("", o, "channel");
    let channel = c.string("", o, "channel", true).map(str::to_owned);
    let code = c
        .string("", o, "requestId", true)
        .or_else(|| o.get("code").and_then(Value::as_str))
        .map(str::to_owned);
    let account = c.string("", o, "accountId", true).map(str::to_owned);
    match (channel, code) {
        (Some(ch), Some(code)) if c.ok() => Ok((ch, account, code)),
        (_, None) if c.ok() => Err(ErrorShape::invalid(format!(
            "invalid {M} params: must have required property 'requestId'"
        ))),
        _ => Err(fail(M, &c)),
    }
}

// --- typed params of the chat, agent and channel methods ---

/// `chat.send` / `agent` params.
pub(crate) struct SubmitParams {
    /// Normalized session key (`agent:<agentId or the default agent>:main` when absent,
    /// `agent` only).
    pub session_key: String,
    /// The message.
    pub text: String,
    /// The run id (`idempotencyKey`).
    pub run_id: String,
    /// How long `agent` waits for the run's outcome (`timeout`, seconds).
    pub wait: Duration,
    /// Images attached (`attachments`).
    pub uploads: Vec<FileUpload>,
    /// `agent`'s `thinking`: this run's level.
    pub thinking: Option<crate::ports::Thinking>,
    /// `agent {deliver: true, …}`: where the answer also goes.
    pub delivery: Option<crate::registry::runs::AgentDelivery>,
    /// `agent {model}`: this run's model.
    pub model: Option<String>,
    /// `agent {sessionId}` without a `sessionKey`: the session with this transcript id.
    pub session_id: Option<String>,
    /// `agent {voiceWakeTrigger}` (the apps' voice wake) without another target: the wake
    /// word whose route (`voicewake.routing.get`) picks the session.
    pub voice_wake_trigger: Option<String>,
    /// `chat.send {queueMode}` (`sessions.steer`: `interrupt`): this message's queue mode.
    pub queue_mode: Option<crate::run_queue::QueueMode>,
    /// `sessions.send` / `sessions.steer`: only into a session that exists.
    pub existing: bool,
}

/// `chat.send {queueMode}`: one of OpenClaw's `QUEUE_MODES` exactly (no aliases on the
/// wire), or absent.
fn queue_mode(method: &str, p: &Value) -> Result<Option<crate::run_queue::QueueMode>, ErrorShape> {
    use crate::run_queue::QueueMode;
    match p.get("queueMode") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => [
            QueueMode::Steer,
            QueueMode::Followup,
            QueueMode::Collect,
            QueueMode::Interrupt,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .map(Some)
        .ok_or_else(|| {
            ErrorShape::invalid(format!(
                "invalid {method} params: at /queueMode: must be equal to one of the allowed values ({})",
                QueueMode::NAMES
            ))
        }),
        Some(_) => Err(ErrorShape::invalid(format!(
            "invalid {method} params: at /queueMode: must be string"
        ))),
    }
}

impl Params for SubmitParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let (session_key, text, run_id, wait, uploads) = submit(call.method, &call.params)?;
        // `chat.send` has `thinking` and `deliver` too (the TUI's `--deliver`: to the
        // session's chat), not `model`.
        let (thinking, delivery, model) = agent_extras(call.method, &call.params)?;
        let model = model.filter(|_| call.method == "agent");
        // `openclaw agent --session-id <id>`: an existing session, found by its id (only
        // when no session key names one).
        let session_id = match call.params.get("sessionId") {
            _ if call.method != "agent" => None,
            _ if call.params.get("sessionKey").is_some_and(|k| !k.is_null()) => None,
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().chars().take(200).collect()),
            Some(_) => {
                return Err(ErrorShape::invalid(
                    "invalid agent params: sessionId must be a string",
                ));
            }
        };
        let voice_wake_trigger = (call.method == "agent")
            .then(|| voice_wake_trigger(&call.params))
            .flatten();
        let queue_mode = match call.method {
            "agent" => None,
            m => queue_mode(m, &call.params)?,
        };
        Ok(Self {
            session_key,
            text,
            run_id,
            wait,
            uploads,
            thinking,
            delivery,
            model,
            session_id,
            voice_wake_trigger,
            queue_mode,
            existing: false,
        })
    }
}

/// `agent {voiceWakeTrigger}`, when its route may pick the session (OpenClaw's
/// `canAutoRouteVoiceWake`): no `agentId`, `sessionId`, `to` or `replyTo`, and no session
/// key other than an agent's main session. The trigger may be empty (the default route).
fn voice_wake_trigger(p: &Value) -> Option<String> {
    let o = p.as_object()?;
    let given = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    if !o.contains_key("voiceWakeTrigger")
        || ["agentId", "sessionId", "to", "replyTo"]
            .iter()
            .any(|k| given(k).is_some())
    {
        return None;
    }
    if let Some(k) = given("sessionKey") {
        let k = normalize_session_key(k);
        let main = k
            .strip_prefix("agent:")
            .and_then(|r| r.split_once(':'))
            .is_some_and(|(_, rest)| rest == "main");
        if !main {
            return None;
        }
    }
    Some(
        given("voiceWakeTrigger")
            .unwrap_or("")
            .chars()
            .take(200)
            .collect(),
    )
}

/// `agent`'s `thinking`, `model` and its delivery keys (`deliver`, `channel` /
/// `replyChannel`, `to` / `replyTo`, `accountId` / `replyAccountId`, `threadId`,
/// `bestEffortDeliver`; the `reply*` keys win). Without `deliver: true` the delivery keys
/// are not used.
fn agent_extras(method: &str, p: &Value) -> Result<AgentExtras, ErrorShape> {
    let o = obj(method, p)?;
    let mut c = Checker::new();
    let text = |c: &mut Checker, key: &str| {
        c.string("", o, key, true)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let thinking = text(&mut c, "thinking");
    let model = text(&mut c, "model");
    let channel = text(&mut c, "replyChannel").or_else(|| text(&mut c, "channel"));
    let to = text(&mut c, "replyTo").or_else(|| text(&mut c, "to"));
    let account_id = text(&mut c, "replyAccountId").or_else(|| text(&mut c, "accountId"));
    let flag = |key: &str| -> Result<bool, ErrorShape> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ErrorShape::invalid(format!(
                "invalid {method} params: {key} must be a boolean"
            ))),
        }
    };
    let deliver = flag("deliver")?;
    let best_effort = flag("bestEffortDeliver")?;
    let thread_id = match o.get("threadId") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().parse::<i64>().map_err(|_| {
            ErrorShape::invalid(format!(
                "invalid {method} params: threadId must be a topic number"
            ))
        })?),
        Some(_) => {
            return Err(ErrorShape::invalid(format!(
                "invalid {method} params: threadId must be a topic number"
            )));
        }
    };
    if !c.ok() {
        return Err(fail(method, &c));
    }
    let thinking = match thinking {
        None => None,
        Some(t) => Some(crate::ports::Thinking::parse(&t).ok_or_else(|| {
            let shown: String = t.chars().take(40).collect();
            ErrorShape::invalid(format!(
                "invalid {method} params: unknown thinking level {shown:?}; use one of: {}",
                crate::ports::Thinking::names()
            ))
        })?),
    };
    let delivery = deliver.then_some(crate::registry::runs::AgentDelivery {
        channel: channel.filter(|c| !c.eq_ignore_ascii_case("last")),
        to,
        account_id,
        thread_id,
        best_effort,
    });
    Ok((thinking, delivery, model))
}

/// What [`agent_extras`] reads.
type AgentExtras = (
    Option<crate::ports::Thinking>,
    Option<crate::registry::runs::AgentDelivery>,
    Option<String>,
);

/// `agent.wait {runId, timeoutMs?}`.
pub(crate) struct WaitParams {
    /// The run to wait for.
    pub run_id: String,
    /// How long to wait.
    pub timeout: Duration,
}

impl Params for WaitParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let (run_id, timeout) = wait(&call.params)?;
        Ok(Self { run_id, timeout })
    }
}

/// `chat.history {sessionKey, limit?}`.
pub(crate) struct HistoryParams {
    /// Normalized session key.
    pub session_key: String,
    /// Messages to return (1..=1000, default 200).
    pub limit: usize,
    /// `maxChars`: a message's text beyond this many UTF-16 units is cut (default 8000,
    /// at most 500 000).
    pub max_chars: usize,
    /// `maxBytes`: the messages' JSON stays under this (at least 1024; at most and by
    /// default 6 MiB).
    pub max_bytes: usize,
}

impl Params for HistoryParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        history(&call.params)
    }
}

/// `chat.abort {sessionKey, runId?}`.
pub(crate) struct AbortParams {
    /// Normalized session key.
    pub session_key: String,
    /// The run to abort (all of the session's when absent).
    pub run_id: Option<String>,
}

impl Params for AbortParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let (session_key, run_id) = abort(&call.params)?;
        Ok(Self {
            session_key,
            run_id,
        })
    }
}

/// `message.action` (see [`message_action`]).
impl Params for MessageAction {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        message_action(&call.params)
    }
}

/// `send {to, message, idempotencyKey, channel?, accountId?, threadId?, replyToId?}`: the
/// registry message itself.
impl Params for SendOutbound {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        send(&call.params)
    }
}

/// `channels.pairing.approve {channel, requestId | code, accountId?}`.
pub(crate) struct PairingApproveParams {
    /// Channel kind.
    pub channel: String,
    /// Account, when the channel has several.
    pub account_id: Option<String>,
    /// The pairing code.
    pub code: String,
}

impl Params for PairingApproveParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let (channel, account_id, code) = pairing_approve(&call.params)?;
        Ok(Self {
            channel,
            account_id,
            code,
        })
    }
}

/// `sessions.list {limit?}` (1..=1000, default 50; lenient, like before).
pub(crate) struct SessionsListParams {
    /// At most this many rows (1..=1000, default 50).
    pub limit: usize,
    /// `search`: only sessions whose key, label, display name or last message has it (at
    /// most 200 characters are used).
    pub search: Option<String>,
}

impl Params for SessionsListParams {
    fn parse(call: &Call) -> Result<Self, ErrorShape> {
        let limit = call
            .params
            .get("limit")
            .and_then(Value::as_u64)
            .unwrap_or(50)
            .clamp(1, 1000);
        let search = call
            .params
            .get("search")
            .and_then(Value::as_str)
            .map(|s| s.trim().chars().take(200).collect::<String>())
            .filter(|s| !s.is_empty());
        Ok(Self {
            limit: usize::try_from(limit).unwrap_or(50),
            search,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(method: &'static str, params: Value) -> Call {
        Call {
            id: "1".into(),
            method,
            params,
            scopes: Vec::new(),
            node_id: None,
            caller_device: None,
        }
    }

    fn err<P: Params>(c: &Call) -> String {
        match P::parse(c) {
            Ok(_) => panic!("{} {} parsed", c.method, c.params),
            Err(e) => e.message,
        }
    }

    #[test]
    fn submit_params_per_method() {
        // `agent` defaults the session; `chat.send` requires it.
        let params = json!({"message": "hi", "idempotencyKey": "r1"});
        let p = SubmitParams::parse(&call("agent", params.clone()))
            .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(
            (p.session_key.as_str(), p.text.as_str()),
            ("agent:main:main", "hi")
        );
        assert_eq!(p.run_id, "r1");
        assert_eq!(
            err::<SubmitParams>(&call("chat.send", params)),
            "invalid chat.send params: must have required property 'sessionKey'"
        );
        assert_eq!(
            err::<SubmitParams>(&call(
                "agent",
                json!({"message": " ", "idempotencyKey": "r1"})
            )),
            "invalid agent params: message must not be empty"
        );
    }

    #[test]
    fn other_params() {
        assert_eq!(
            err::<WaitParams>(&call("agent.wait", json!({"runId": "r", "timeoutMs": -1}))),
            "invalid agent.wait params: at /timeoutMs: must be integer"
        );
        let p = HistoryParams::parse(&call("chat.history", json!({"sessionKey": "main"})))
            .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(p.limit, 200);
        assert_eq!(
            err::<AbortParams>(&call("chat.abort", json!("x"))),
            "invalid chat.abort params: must be object"
        );
        assert_eq!(
            err::<PairingApproveParams>(&call(
                "channels.pairing.approve",
                json!({"channel": "telegram"})
            )),
            "invalid channels.pairing.approve params: must have required property 'requestId'"
        );
        let p = SessionsListParams::parse(&call("sessions.list", json!({"limit": 5000})))
            .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(p.limit, 1000);
    }
}
