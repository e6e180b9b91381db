//! The agent's `message` tool (OpenClaw's, `group:messaging`): send a message (with buttons,
//! [`crate::channel::presentation`]), a workspace file or one at an `http(s)` URL
//! ([`crate::media_source`]) or a location to a chat, and react, edit, delete, pin, unpin or
//! poll there, through the same routing, action gates (`channels.telegram.actions.*`) and
//! audit ledger as `message.action`.
//!
//! Where it may act:
//! - A run answering a chat acts in that chat when the call names no target (a reaction
//!   then goes to the message being answered).
//! - Another chat on the same channel needs `tools.message.crossContext.allowWithinProvider`,
//!   another channel `allowAcrossProviders` (both `true` by default, as in OpenClaw; an
//!   agent's own `tools.message` wins).
//! - A run answering a group or a stranger's open DM acts only in its own chat, whatever
//!   `crossContext` says: the people who can talk to the bot there must not be able to
//!   make it write elsewhere (a rule of this gateway's; OpenClaw lets them).
//! - Runs without a chat of their own (an operator's, a cron job's, a node's) name the
//!   target.
//!
//! A tool call sends at most once: its idempotency key is the run's and the call's id, so a
//! repeated call is answered from `send`'s cache.

use std::cell::RefCell;
use std::sync::Arc;

use actix::prelude::*;
use serde_json::{Map, Value, json};

use crate::channel::{ChannelKind, MessageOp};
use crate::ports::ToolSpec;
use crate::registry::Registry;
use crate::registry::channels::{OutboundRun, RouteAction, SendAction, SendOutbound};
use crate::registry::runs::{RunOrigin, RunRequest};
use crate::tool_policy::CrossContext;

/// The longest text one call sends (a few Telegram messages; the model's answer itself is
/// not bounded by this).
pub const MAX_TEXT_CHARS: usize = 16_000;

/// Texts a run sent to its own chat, kept to spare the chat the same text again as the
/// run's answer.
pub const MAX_SENT_HERE: usize = 8;

/// The tool's schema (OpenClaw's param names).
pub fn spec() -> ToolSpec {
    ToolSpec {
        name: "message".into(),
        description: "Send/manage channel messages. Supports actions: delete, edit, pin, poll, react, send, unpin. \
             Without target it acts in the current chat (react: on the message you are answering). \
             Your final answer already goes to the current chat: use send for other chats, files or several messages, \
             and answer NO_REPLY when the message you sent was the whole answer."
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["send", "react", "edit", "delete", "pin", "unpin", "poll"],
                    "description": "Select one action. For action=\"send\", provide message or media."},
                "channel": {"type": "string", "description": "Channel id (telegram). Default: the current chat's."},
                "target": {"type": "string", "description": "Chat id (a Telegram chat id, <chat id>:topic:<topic id> for a forum topic). Default: the current chat."},
                "accountId": {"type": "string"},
                "message": {"type": "string", "description": "Text to send; for edit, the new text."},
                "media": {"type": "string", "description": "A workspace file to send (path relative to the workspace) or an https URL of one; message becomes its caption."},
                "location": {"type": "object", "description": "send: a map pin {latitude, longitude, accuracy?} or, with name and address, a venue card; sent alone (no message or media)."},
                "presentation": {"type": "object", "description": "send (or edit): buttons and blocks under the message, e.g. {\"blocks\":[{\"type\":\"buttons\",\"buttons\":[{\"label\":\"Yes\",\"value\":\"yes\"},{\"label\":\"Docs\",\"url\":\"https://…\"}]}]}. A pressed button comes back to you as a message \"callback_data: <value>\" from the person who pressed it (value: at most 64 bytes). Blocks: text, context, buttons, select, table, chart."},
                "replyTo": {"type": "string", "description": "Message id to reply to."},
                "threadId": {"type": "string", "description": "Forum topic id."},
                "silent": {"type": "boolean", "description": "Send without a notification."},
                "messageId": {"type": "string", "description": "Target message id for react/edit/delete/pin/unpin; reactions default to the current inbound message."},
                "emoji": {"type": "string", "description": "Unicode emoji for react."},
                "remove": {"type": "boolean", "description": "react: remove the bot's reaction."},
                "pollQuestion": {"type": "string"},
                "pollOption": {"type": "array", "items": {"type": "string"}},
                "pollMulti": {"type": "boolean"},
                "pollDurationHours": {"type": "number"}
            },
            "required": ["action"]
        }),
    }
}

/// What a call runs with.
pub struct Ctx<'a> {
    /// The registry (routing, channels).
    pub registry: &'a Addr<Registry>,
    /// The run.
    pub req: &'a RunRequest,
    /// The tool call's id.
    pub call_id: &'a str,
    /// `tools.message.crossContext` in force.
    pub cross: CrossContext,
    /// The workspace, for `media`.
    pub workspace: Option<(
        &'a Arc<crate::workspace::WorkspaceSettings>,
        crate::workspace::Scope,
    )>,
    /// Texts sent to the run's own chat (see [`MAX_SENT_HERE`]).
    pub sent_here: &'a RefCell<Vec<String>>,
}

/// The chat a run answers.
struct Own<'a> {
    channel: &'a str,
    account_id: &'a str,
    chat_id: i64,
    thread_id: Option<i64>,
    message_id: i64,
    /// A group or a stranger's open DM.
    shared: bool,
}

fn own_chat(req: &RunRequest) -> Option<Own<'_>> {
    match &req.origin {
        RunOrigin::Channel { inbound, .. } => Some(Own {
            channel: &inbound.channel,
            account_id: &inbound.account_id,
            chat_id: inbound.chat_id,
            thread_id: inbound.thread_id,
            message_id: inbound.message_id,
            shared: inbound.shared(),
        }),
        _ => None,
    }
}

fn fail(e: impl std::fmt::Display) -> Value {
    json!({"ok": false, "error": e.to_string()})
}

/// A string param (numbers as written), trimmed, empty as none.
fn text_of(args: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match args.get(*k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// A whole-number param; `Err` names it.
fn int_of(args: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str()?.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| format!("{key} must be a whole number")),
    }
}

/// Runs one `message` call; the answer is the tool result.
pub async fn run(ctx: &Ctx<'_>, arguments: &str) -> Value {
    let mut args = match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(m)) => m,
        _ => return fail("tool arguments must be a JSON object"),
    };
    // OpenClaw's aliases.
    for (alias, key) in [
        ("message_id", "messageId"),
        ("to", "target"),
        ("text", "message"),
        ("caption", "message"),
        ("path", "media"),
        ("filePath", "media"),
        ("reply_to", "replyTo"),
        ("thread_id", "threadId"),
    ] {
        if !args.contains_key(key)
            && let Some(v) = args.remove(alias)
        {
            args.insert(key.to_owned(), v);
        }
    }
    let action = match args.get("action").and_then(Value::as_str) {
        Some(a) => a.trim().to_ascii_lowercase(),
        None => return fail("action is required (send, react, edit, delete, pin, unpin or poll)"),
    };
    let action = if action == "unsend" {
        "delete".to_owned()
    } else {
        action
    };
    if !matches!(
        action.as_str(),
        "send" | "react" | "edit" | "delete" | "pin" | "unpin" | "poll"
    ) {
        return fail(format!(
            "unknown action {:?}: use send, react, edit, delete, pin, unpin or poll",
            action.chars().take(40).collect::<String>()
        ));
    }
    match place(ctx, &args) {
        // A location goes as its own action (`MessageOp::Location`).
        Ok(place) if action == "send" && args.get("location").is_none_or(Value::is_null) => {
            send(ctx, &args, place).await
        }
        Ok(mut place) => {
            // A reaction without a message id goes to the message being answered.
            if action == "react"
                && place.here
                && !args.contains_key("messageId")
                && let Some(own) = own_chat(ctx.req)
            {
                args.insert("messageId".into(), json!(own.message_id));
            }
            let op = match MessageOp::from_params(&action, &args) {
                Ok(op) => op,
                Err(e) => return fail(e),
            };
            let routed = ctx
                .registry
                .send(RouteAction {
                    channel: std::mem::take(&mut place.channel),
                    account_id: place.account_id.take(),
                    to: std::mem::take(&mut place.to),
                    thread_id: place.thread_id,
                    op,
                })
                .await;
            match routed {
                Ok(Ok(result)) => json!({"ok": true, "action": action, "result": result}),
                Ok(Err(e)) => fail(e),
                Err(_) => fail("gateway is shutting down"),
            }
        }
        Err(e) => fail(e),
    }
}

/// Where a call acts.
struct Place {
    channel: String,
    account_id: Option<String>,
    to: String,
    thread_id: Option<i64>,
    /// The run's own chat.
    here: bool,
}

/// The call's chat, and whether the run may act there.
fn place(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Result<Place, String> {
    let own = own_chat(ctx.req);
    let channel = text_of(args, &["channel"])
        .map(|c| c.to_ascii_lowercase())
        .or_else(|| own.as_ref().map(|o| o.channel.to_owned()))
        .unwrap_or_else(|| crate::channel::DEFAULT_KIND.id.to_owned());
    let same_channel = own.as_ref().is_some_and(|o| o.channel == channel);
    let account_id = text_of(args, &["accountId"]).or_else(|| {
        own.as_ref()
            .filter(|_| same_channel)
            .map(|o| o.account_id.to_owned())
    });
    let thread_arg = int_of(args, "threadId")?;
    let target = text_of(args, &["target", "chatId", "channelId"]);
    let Some(own) = own else {
        // No chat of its own: the target is required, and any is allowed.
        let Some(to) = target else {
            return Err("target is required: this run answers no chat. Give the chat id (target) and, for another channel than telegram, channel".into());
        };
        return Ok(Place {
            channel,
            account_id,
            to,
            thread_id: thread_arg,
            here: false,
        });
    };
    let (to, here) = match target {
        None if same_channel => (own.chat_id.to_string(), true),
        None => {
            return Err(format!(
                "target is required to act on {channel:?}, which is not this chat's channel"
            ));
        }
        Some(to) => {
            let parsed = kind_of(&channel).and_then(|k| (k.parse_target)(&to, thread_arg).ok());
            let here = same_channel
                && account_id.as_deref() == Some(own.account_id)
                && parsed.is_some_and(|t| t.chat_id == own.chat_id);
            (to, here)
        }
    };
    if !here {
        if own.shared {
            return Err("this chat is a group or an open DM: the message tool acts only in this chat here (leave target out)".into());
        }
        if same_channel && !ctx.cross.within_provider {
            return Err("tools.message.crossContext.allowWithinProvider is false: the message tool acts only in this chat (leave target out)".into());
        }
        if !same_channel && !ctx.cross.across_providers {
            return Err("tools.message.crossContext.allowAcrossProviders is false: the message tool acts only on this chat's channel".into());
        }
    }
    Ok(Place {
        channel,
        account_id,
        to,
        // The current chat's topic unless the call names one.
        thread_id: thread_arg.or(if here { own.thread_id } else { None }),
        here,
    })
}

fn kind_of(id: &str) -> Option<&'static ChannelKind> {
    crate::channel::KINDS.iter().copied().find(|k| k.id == id)
}

/// `send`: the text and/or a workspace file.
async fn send(ctx: &Ctx<'_>, args: &Map<String, Value>, place: Place) -> Value {
    let text = args
        .get("message")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
        .to_owned();
    if text.chars().count() > MAX_TEXT_CHARS {
        return fail(format!(
            "message is longer than {MAX_TEXT_CHARS} characters: send less at once"
        ));
    }
    let (text, buttons) = match crate::channel::presentation::of_params(&text, args) {
        Ok(Some(r)) => (r.text, r.buttons),
        Ok(None) => (text, Vec::new()),
        Err(e) => return fail(e),
    };
    let media = text_of(args, &["media"]);
    if text.is_empty() && media.is_none() {
        return fail("send needs message (the text), presentation or media (a workspace file)");
    }
    // A URL is fetched when sent (through the `web_fetch` client's SSRF guard); a path is
    // read here, from this run's view of the workspace.
    let mut sources = crate::media_source::Sources::default();
    let files = match media {
        None => Vec::new(),
        Some(url)
            if matches!(
                crate::media_source::classify(&url),
                Ok(crate::media_source::Source::Url(_))
            ) =>
        {
            sources.list.push(url);
            Vec::new()
        }
        Some(reference) => {
            let Some((ws, scope)) = ctx.workspace else {
                return fail("media needs the agent's workspace, which this run does not have");
            };
            match crate::workspace::attach::load_off_thread(ws, scope, reference).await {
                Ok(upload) => vec![upload],
                Err(e) => return fail(format!("media: {e}")),
            }
        }
    };
    let reply_to = match int_of(args, "replyTo") {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let msg = SendOutbound {
        channel: place.channel,
        account_id: place.account_id,
        to: place.to,
        text: text.clone(),
        media: Vec::new(),
        files,
        buttons,
        sources,
        thread_id: place.thread_id,
        reply_to,
        silent: args.get("silent").and_then(Value::as_bool) == Some(true),
        idempotency_key: format!("message-tool:{}:{}", ctx.req.run_id, ctx.call_id),
        run: Some(OutboundRun {
            session_key: ctx.req.session_key.clone(),
            run_id: ctx.req.run_id.clone(),
        }),
    };
    match ctx.registry.send(SendAction(msg)).await {
        Ok(Ok(receipt)) => {
            if place.here && !text.is_empty() {
                let mut sent = ctx.sent_here.borrow_mut();
                if sent.len() >= MAX_SENT_HERE {
                    sent.remove(0);
                }
                sent.push(text);
            }
            json!({"ok": true, "action": "send", "channel": receipt.channel, "to": receipt.to,
                "messageId": receipt.message_id.map(|id| id.to_string()),
                "messageIds": receipt.message_ids.iter().map(i64::to_string).collect::<Vec<_>>()})
        }
        Ok(Err(e)) => fail(e),
        Err(_) => fail("gateway is shutting down"),
    }
}

/// Whether `answer` repeats a text the run already sent to its own chat (then it is not
/// sent again).
pub fn already_sent(sent_here: &[String], answer: &str) -> bool {
    let answer = answer.trim();
    !answer.is_empty() && sent_here.iter().any(|s| s.trim() == answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_repeating_a_text_sent_here_is_known() {
        let sent = vec!["Here is the plan.".to_owned(), "  Done ✅ ".to_owned()];
        assert!(already_sent(&sent, "Here is the plan."));
        assert!(already_sent(&sent, "\nDone ✅"));
        assert!(!already_sent(&sent, "Here is the plan. And more."));
        assert!(!already_sent(&sent, "   "));
        assert!(!already_sent(&[], "Here is the plan."));
    }

    #[test]
    fn params_read_numbers_and_strings_and_name_what_is_wrong() {
        let args = json!({"a": " 12 ", "b": 7, "c": "", "d": "x", "e": 1.5, "t": "  "});
        let args = args.as_object().expect("object");
        assert_eq!(int_of(args, "a"), Ok(Some(12)));
        assert_eq!(int_of(args, "b"), Ok(Some(7)));
        assert_eq!(int_of(args, "c"), Ok(None));
        assert_eq!(int_of(args, "missing"), Ok(None));
        assert_eq!(
            int_of(args, "d"),
            Err("d must be a whole number".to_owned())
        );
        assert!(int_of(args, "e").is_err());
        assert_eq!(text_of(args, &["t", "b"]), Some("7".to_owned()));
        assert_eq!(text_of(args, &["missing", "a"]), Some("12".to_owned()));
        assert_eq!(text_of(args, &["t", "c"]), None);
    }

    #[test]
    fn the_spec_names_every_action_it_carries_out() {
        let s = spec();
        let actions = s.parameters["properties"]["action"]["enum"]
            .as_array()
            .expect("enum");
        for a in actions {
            let a = a.as_str().expect("string");
            assert!(s.description.contains(a), "{a}");
        }
        assert_eq!(s.parameters["required"], json!(["action"]));
    }
}
