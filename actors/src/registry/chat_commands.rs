//! Chat commands the gateway answers itself, before any model sees the message (OpenClaw's
//! `docs/tools/slash-commands.md`): `/new` and `/reset` start the chat's session over (text
//! after the command becomes the new session's first message), `/stop` (or a bare "stop",
//! "abort", "стоп", … as in OpenClaw's abort triggers) aborts the reply in progress,
//! `/status` shows the session, the model and the nodes, `/whoami` (`/id`) shows the
//! sender's ids for `allowFrom`, `/help` (`/commands`) lists them, and the owner's
//! `/restart` restarts the gateway process (`commands.ownerAllowFrom` in a chat,
//! `operator.admin` for an operator; off with `commands.restart: false`).
//!
//! An operator's `chat.send` / `agent` takes them too (OpenClaw's TUI sends its
//! `--message` and WebChat its input that way): the answer is the run's `chat` events, and
//! `agent.wait` finds the run ended with it.
//!
//! They reach this far only from a sender the channel already admitted (DM pairing or
//! allowlist, group policy and mention), or an operator with `operator.write`: the same
//! senders who may talk to the agent. A
//! command is the whole message: `/new@mybot`, `/new: text` and any case are accepted;
//! "/newer" or a command later in the text is an ordinary message.

use actix::prelude::*;

use super::Registry;
use super::runs::{RunOrigin, RunRequest, SubmitAck, SubmitRun};
use super::scheduler::QueueFull;
use super::session_reset::ResetReason;
use crate::channel::{DeliverReply, InboundMessage};

/// A chat command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatCommand {
    /// `/new`, `/reset`: start over; `rest` (may be empty) is the first message.
    Reset {
        /// Which one.
        reason: ResetReason,
        /// Text after the command.
        rest: String,
    },
    /// `/stop` or an abort trigger word.
    Stop,
    /// `/whoami`, `/id`.
    WhoAmI,
    /// `/status`: the session, the model, the reply in progress, the nodes.
    Status,
    /// `/help`, `/commands`.
    Help,
    /// `/tts [on|off|default|status]`: this chat's spoken answers.
    Tts(TtsChoice),
    /// `/tts audio <text>`: `text` as a voice note (empty: the usage).
    TtsAudio(String),
    /// `/tts latest`: this chat's last answer as a voice note.
    TtsLatest,
    /// `/model [status|list|default|<model>]`, `/models`: this chat's model.
    Model(ModelAsk),
    /// `/approve <id> allow-once|allow-always|deny`: answers an exec approval (`None`: the
    /// words were not that).
    Approve(Option<(String, super::approvals::Decision)>),
    /// `/compact [focus]`: summarize the older conversation now.
    Compact(String),
    /// `/think [level] [message]`, `/thinking`, `/t`: how hard the model thinks.
    Think(ThinkAsk),
    /// `/restart`: the owner restarts the gateway process.
    Restart,
    /// `/queue [mode] [cap:N] [drop:policy] | default`: what this chat's messages do while
    /// a reply is in progress.
    Queue(QueueAsk),
    /// `/steer <message>`, `/tell <message>`: the message into the reply in progress
    /// whatever the queue mode (empty: the usage).
    Steer(String),
    /// `/usage [off|tokens|full|reset]`: this chat's per-reply usage footer.
    Usage(UsageAsk),
    /// `/subagents [list|info <#>|kill <#|all>]`: this chat's sub-agents.
    Subagents(super::subagents::SubagentsAsk),
    /// `/tools [compact|verbose]`: the tools the agent can use in this conversation now
    /// (`None`: another word, answered with the usage).
    Tools(Option<bool>),
}

/// What `/usage` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageAsk {
    /// No word: the next mode after the one in force (off → tokens → full → off).
    Cycle,
    /// A mode.
    Set(crate::usage_footer::FooterMode),
    /// `reset` (`default`, `inherit`, `inherited`, `clear`, `unpin`): back to the
    /// configured default.
    Reset,
    /// `cost`: what this session, today and the last 30 days cost (answered in a chat).
    Cost,
    /// Not a word `/usage` takes (shortened).
    Bad(String),
}

/// What `/queue` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueAsk {
    /// `/queue`: what is in force.
    Status,
    /// `/queue default` (`reset`): back to `messages.queue`.
    Default,
    /// `/queue <mode> cap:N drop:<policy> debounce:<time>` (any of them): this chat's own
    /// settings.
    Set(crate::run_queue::SessionQueue),
    /// Not understood: the word.
    Usage(String),
}

/// Parses `/queue`'s words.
fn queue_ask(rest: &str) -> QueueAsk {
    use crate::run_queue::{DropPolicy, MAX_CAP, QueueMode, SessionQueue};
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        [] | ["status"] => return QueueAsk::Status,
        [w] if ["default", "reset", "clear", "inherit"]
            .iter()
            .any(|d| w.eq_ignore_ascii_case(d)) =>
        {
            return QueueAsk::Default;
        }
        _ => {}
    }
    let mut own = SessionQueue::default();
    let usage = |w: &str| QueueAsk::Usage(w.chars().take(40).collect());
    for w in words {
        let option = w.split_once(':').or_else(|| w.split_once('='));
        match option {
            Some((k, v)) if k.eq_ignore_ascii_case("cap") => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_CAP).contains(&n) => own.cap = Some(n),
                _ => return usage(w),
            },
            Some((k, v)) if k.eq_ignore_ascii_case("drop") => match DropPolicy::parse(v) {
                Some(d) => own.drop = Some(d),
                None => return usage(w),
            },
            Some((k, v)) if k.eq_ignore_ascii_case("debounce") => {
                match crate::run_queue::parse_debounce(v) {
                    Some(ms) => own.debounce_ms = Some(ms),
                    None => return usage(w),
                }
            }
            _ => match QueueMode::parse(w) {
                Some(m) if own.mode.is_none() => own.mode = Some(m),
                _ => return usage(w),
            },
        }
    }
    QueueAsk::Set(own)
}

/// What `/think` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThinkAsk {
    /// `/think`: the level in force.
    Status,
    /// `/think <level>` alone: this chat's level from now on.
    Set(crate::ports::Thinking),
    /// `/think default` (`inherit`, `clear`, `reset`, `unpin`): back to the configured one.
    Default,
    /// `/think <level> <message>`: that level for this message only.
    Once(crate::ports::Thinking, String),
    /// Not a level: the words given.
    Usage(String),
}

/// What `/model` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelAsk {
    /// `/model`, `/model status`.
    Status,
    /// `/model list`, `/models`.
    List,
    /// `/model default`: back to the configured model.
    Default,
    /// `/model <model>` (`-s` / `--session` allowed).
    Set(String),
    /// `/model <model> -a|-g`: not from a chat here.
    Wider,
}

/// What `/tts` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtsChoice {
    /// `/tts`, `/tts status`.
    Status,
    /// `/tts on`: every answer in this chat is spoken.
    On,
    /// `/tts off`: none is.
    Off,
    /// `/tts default`: back to `tts.auto`.
    Default,
    /// Anything else: the usage.
    Usage,
}

/// OpenClaw's abort triggers (`abort-trigger-text.ts`): a message that is only one of these
/// (any case, trailing punctuation ignored) stops the reply in progress.
const ABORT_TRIGGERS: &[&str] = &[
    "stop",
    "esc",
    "abort",
    "exit",
    "interrupt",
    "detente",
    "deten",
    "detén",
    "arrete",
    "arrête",
    "停止",
    "停下来",
    "暂停",
    "やめて",
    "止めて",
    "रुको",
    "توقف",
    "стоп",
    "остановись",
    "останови",
    "остановить",
    "прекрати",
    "halt",
    "anhalten",
    "aufhören",
    "hoer auf",
    "stopp",
    "pare",
    "stop openclaw",
    "openclaw stop",
    "stop action",
    "stop current action",
    "stop run",
    "stop current run",
    "stop agent",
    "stop the agent",
    "stop don't do anything",
    "stop dont do anything",
    "stop do not do anything",
    "stop doing anything",
    "do not do that",
    "please stop",
    "stop please",
];

/// The longest trigger, in bytes: longer messages are not compared.
const MAX_TRIGGER_BYTES: usize = 32;

/// Characters a trigger may be followed by (OpenClaw's `TRAILING_ABORT_PUNCTUATION_RE`).
fn trailing_punctuation(c: char) -> bool {
    ".!?！？…,，。;；:：'\"’”)]}".contains(c)
}

fn is_abort_trigger(text: &str) -> bool {
    // Only short texts can be a trigger (with room for spaces and punctuation).
    if text.len() > 4 * MAX_TRIGGER_BYTES {
        return false;
    }
    let mut norm = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !norm.is_empty() {
            norm.push(' ');
        }
        for c in word.chars() {
            match c {
                '’' | '`' => norm.push('\''),
                c => norm.extend(c.to_lowercase()),
            }
        }
    }
    let norm = norm.trim_end_matches(trailing_punctuation).trim_end();
    ABORT_TRIGGERS.contains(&norm)
}

/// The command `text` is, if it is one.
pub fn parse(text: &str) -> Option<ChatCommand> {
    let text = text.trim();
    let Some(body) = text.strip_prefix('/') else {
        return is_abort_trigger(text).then_some(ChatCommand::Stop);
    };
    let end = body
        .find(|c: char| c.is_whitespace() || c == ':')
        .unwrap_or(body.len());
    let (token, rest) = body.split_at(end);
    // `/new@mybot`: the bot's name, as Telegram menus send it.
    let name = token.split('@').next().unwrap_or(token);
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
    let reset = |reason| ChatCommand::Reset {
        reason,
        rest: rest.to_owned(),
    };
    let command = if name.eq_ignore_ascii_case("new") {
        reset(ResetReason::New)
    } else if name.eq_ignore_ascii_case("reset") {
        reset(ResetReason::Reset)
    } else if name.eq_ignore_ascii_case("model") || name.eq_ignore_ascii_case("models") {
        let mut words: Vec<&str> = rest.split_whitespace().collect();
        let wider = words
            .iter()
            .any(|w| matches!(*w, "-a" | "--agent" | "-g" | "--global"));
        words.retain(|w| !matches!(*w, "-s" | "--session"));
        let what = words.join(" ");
        ChatCommand::Model(if wider {
            ModelAsk::Wider
        } else if name.eq_ignore_ascii_case("models") || what.eq_ignore_ascii_case("list") {
            ModelAsk::List
        } else if what.is_empty() || what.eq_ignore_ascii_case("status") {
            ModelAsk::Status
        } else if what.eq_ignore_ascii_case("default") {
            ModelAsk::Default
        } else {
            ModelAsk::Set(what)
        })
    } else if name.eq_ignore_ascii_case("tts") {
        // OpenClaw's per-chat form is `/tts chat on|off|default`; here `/tts on` is per chat
        // too, so both say the same.
        let lower = rest.to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        if words.as_slice() == ["latest"] {
            return Some(ChatCommand::TtsLatest);
        }
        if words.first() == Some(&"audio") {
            // The text as written (case and spacing kept).
            let text = rest.trim_start().get("audio".len()..).unwrap_or_default();
            return Some(ChatCommand::TtsAudio(text.trim().to_owned()));
        }
        ChatCommand::Tts(match words.as_slice() {
            [] | ["status"] => TtsChoice::Status,
            ["on"] | ["chat", "on"] => TtsChoice::On,
            ["off"] | ["chat", "off"] => TtsChoice::Off,
            ["default"] | ["chat", "default"] => TtsChoice::Default,
            _ => TtsChoice::Usage,
        })
    } else if ["think", "thinking", "t"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
    {
        let (word, message) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], rest[i..].trim()),
            None => (rest, ""),
        };
        ChatCommand::Think(match (word.to_ascii_lowercase().as_str(), message) {
            ("" | "status", "") => ThinkAsk::Status,
            ("default" | "inherit" | "clear" | "reset" | "unpin", "") => ThinkAsk::Default,
            (w, m) => match crate::ports::Thinking::parse(w) {
                Some(level) if m.is_empty() => ThinkAsk::Set(level),
                Some(level) => ThinkAsk::Once(level, m.to_owned()),
                None => ThinkAsk::Usage(word.chars().take(40).collect()),
            },
        })
    } else if name.eq_ignore_ascii_case("approve") {
        let words: Vec<&str> = rest.split_whitespace().collect();
        ChatCommand::Approve(match words.as_slice() {
            [id, d] => super::approvals::Decision::parse(d).map(|d| ((*id).to_owned(), d)),
            _ => None,
        })
    } else if name.eq_ignore_ascii_case("compact") {
        ChatCommand::Compact(rest.to_owned())
    } else if name.eq_ignore_ascii_case("queue") {
        ChatCommand::Queue(queue_ask(rest))
    } else if name.eq_ignore_ascii_case("usage") {
        let word = rest.trim().to_ascii_lowercase();
        ChatCommand::Usage(match word.as_str() {
            "" => UsageAsk::Cycle,
            "reset" | "default" | "inherit" | "inherited" | "clear" | "unpin" => UsageAsk::Reset,
            "cost" => UsageAsk::Cost,
            w => match crate::usage_footer::FooterMode::parse(w) {
                Some(m) => UsageAsk::Set(m),
                None => UsageAsk::Bad(rest.trim().chars().take(40).collect()),
            },
        })
    } else if name.eq_ignore_ascii_case("subagents") {
        ChatCommand::Subagents(super::subagents::SubagentsAsk::parse(rest))
    } else if name.eq_ignore_ascii_case("tools") {
        ChatCommand::Tools(match rest.trim().to_ascii_lowercase().as_str() {
            "" | "compact" => Some(false),
            "verbose" | "full" => Some(true),
            _ => None,
        })
    } else if name.eq_ignore_ascii_case("steer") || name.eq_ignore_ascii_case("tell") {
        ChatCommand::Steer(rest.to_owned())
    } else if !rest.is_empty() {
        // The others take no arguments: "/stop it now" is a message.
        return None;
    } else if name.eq_ignore_ascii_case("stop") {
        ChatCommand::Stop
    } else if name.eq_ignore_ascii_case("status") {
        ChatCommand::Status
    } else if name.eq_ignore_ascii_case("whoami") || name.eq_ignore_ascii_case("id") {
        ChatCommand::WhoAmI
    } else if name.eq_ignore_ascii_case("help") || name.eq_ignore_ascii_case("commands") {
        ChatCommand::Help
    } else if name.eq_ignore_ascii_case("restart") {
        ChatCommand::Restart
    } else {
        return None;
    };
    Some(command)
}

/// One chat command as `commands.list` shows it (OpenClaw's `CommandEntrySchema`).
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandEntry {
    /// Its name.
    pub name: &'static str,
    /// Its name in a channel's command menu.
    pub native_name: &'static str,
    /// Every text form (`/name` first).
    pub text_aliases: &'static [&'static str],
    /// What it does.
    pub description: &'static str,
    /// OpenClaw's grouping (`session`, `status`).
    pub category: &'static str,
    /// `native`: the gateway's own.
    pub source: &'static str,
    /// `both`: typed as text and in a channel's menu.
    pub scope: &'static str,
    /// Whether text may follow it.
    pub accepts_args: bool,
}

const fn entry(
    name: &'static str,
    text_aliases: &'static [&'static str],
    description: &'static str,
    category: &'static str,
    accepts_args: bool,
) -> CommandEntry {
    CommandEntry {
        name,
        native_name: name,
        text_aliases,
        description,
        category,
        source: "native",
        scope: "both",
        accepts_args,
    }
}

/// The catalog `commands.list` answers (OpenClaw's TUI adds these to its slash-command
/// completion); the same commands as [`MENU`].
pub const CATALOG: &[CommandEntry] = &[
    entry(
        "new",
        &["/new"],
        "Start a new session (text after it is the first message)",
        "session",
        true,
    ),
    entry("reset", &["/reset"], "Start a new session", "session", true),
    entry(
        "stop",
        &["/stop"],
        "Stop the reply in progress",
        "session",
        false,
    ),
    entry(
        "status",
        &["/status"],
        "Session, model and nodes",
        "status",
        false,
    ),
    entry(
        "whoami",
        &["/whoami", "/id"],
        "Show your ids (for allowFrom)",
        "status",
        false,
    ),
    entry(
        "model",
        &["/model", "/models"],
        "This chat's model: list, a name, default",
        "options",
        true,
    ),
    entry(
        "tts",
        &["/tts"],
        "Spoken answers in this chat: on, off, default; audio <text>",
        "media",
        true,
    ),
    entry(
        "think",
        &["/think", "/thinking", "/t"],
        "How hard the model thinks: off, low, medium, high, default",
        "options",
        true,
    ),
    entry(
        "queue",
        &["/queue"],
        "Messages sent during a reply: steer, followup, collect, interrupt, default",
        "options",
        true,
    ),
    entry(
        "steer",
        &["/steer", "/tell"],
        "Send a message into the reply in progress, whatever /queue says",
        "session",
        true,
    ),
    entry(
        "usage",
        &["/usage"],
        "A usage line under each reply: off, tokens, full, reset",
        "options",
        true,
    ),
    entry(
        "subagents",
        &["/subagents"],
        "Background sub-agents of this chat: list, info <#>, kill <#|all>",
        "session",
        true,
    ),
    entry(
        "tools",
        &["/tools"],
        "The tools the agent can use here now: compact, verbose",
        "status",
        true,
    ),
    entry(
        "compact",
        &["/compact"],
        "Summarize the older conversation (text after it: what to focus on)",
        "session",
        true,
    ),
    entry(
        "restart",
        &["/restart"],
        "Restart the gateway (owner only)",
        "management",
        false,
    ),
    entry(
        "help",
        &["/help", "/commands"],
        "List the commands",
        "status",
        false,
    ),
];

/// The commands as the bot's menu (Telegram `setMyCommands`; names: 1–32 of `a-z0-9_`,
/// descriptions 1–256 characters).
pub const MENU: &[(&str, &str)] = &[
    (
        "new",
        "Start a new session (text after it is the first message)",
    ),
    ("reset", "Start a new session"),
    ("stop", "Stop the reply in progress"),
    ("status", "Session, model and nodes"),
    ("whoami", "Show your ids (for allowFrom)"),
    ("model", "This chat's model: list, a name, default"),
    (
        "tts",
        "Spoken answers in this chat: on, off, default; audio <text>",
    ),
    (
        "think",
        "How hard the model thinks: off, low, medium, high, default",
    ),
    (
        "queue",
        "Messages sent during a reply: steer, followup, collect, interrupt, default",
    ),
    (
        "steer",
        "Send a message into the reply in progress, whatever /queue says",
    ),
    (
        "usage",
        "A usage line under each reply: off, tokens, full, reset",
    ),
    (
        "subagents",
        "Background sub-agents of this chat: list, info <#>, kill <#|all>",
    ),
    (
        "tools",
        "The tools the agent can use here now: compact, verbose",
    ),
    (
        "compact",
        "Summarize the older conversation (text after it: what to focus on)",
    ),
    ("restart", "Restart the gateway (owner only)"),
    ("help", "List the commands"),
];

/// `/help`'s text (the embedded command agent's own list follows it when no model is set).
const HELP: &str = "Chat commands:\n\
/new [message] — start a new session (the agent forgets this chat so far)\n\
/reset — the same\n\
/stop — stop the reply in progress\n\
/status — this session, the model, the nodes\n\
/whoami — your ids (for allowFrom)\n\
/model [list|<name>|default] — this chat's model (/model: which one answers)\n\
/tts on|off|default — spoken answers in this chat (/tts: what is set)\n\
/tts audio <text> — the text as a voice note (/tts latest: the last answer)\n\
/think off|minimal|low|medium|high|xhigh|default [message] — how hard the model thinks in this chat (with a message: for it only; /think: what is set)\n\
/queue steer|followup|collect|interrupt|default [cap:N] [drop:old|new|summarize] — what your messages do while a reply is in progress (steer: the reply takes them in; /queue: what is set)\n\
/steer <message> (/tell) — into the reply in progress now, whatever /queue says\n\
/usage off|tokens|full|reset — a usage line under each reply in this chat (/usage: the next mode)\n\
/subagents [list|info <#>|kill <#|all>] — the background sub-agents the agent started for this chat\n\
/tools [verbose] — the tools the agent can use in this conversation now\n\
/approve <id> allow-once|allow-always|deny — answer a shell command waiting for approval\n\
/compact [focus] — summarize the older conversation (the agent keeps the gist, the model reads less)\n\
/restart — restart the gateway once its work is done (owner only)\n\
/help — this text";

/// OpenClaw's `/usage cost` answer: `💸 Usage cost`, the session (`Session $0.12 · 3.4k
/// tokens`), then today and the last 30 days from a `usage.cost` summary (`None`: a shared
/// chat, which is not told the agent's totals), `(partial)` where answers had no price,
/// `n/a` where nothing was used.
fn cost_text(
    session: Option<crate::usage::Totals>,
    agent: Option<(&serde_json::Value, jiff::civil::Date)>,
) -> String {
    use crate::usage_footer::{tokens, usd};
    let partial = |missing: u64| if missing > 0 { " (partial)" } else { "" };
    let session_line = match session.filter(|t| t.total_tokens > 0) {
        Some(t) => format!(
            "Session {}{} · {} tokens",
            usd(t.total_cost),
            partial(t.missing_cost_entries),
            tokens(t.total_tokens)
        ),
        None => "Session n/a".to_owned(),
    };
    let Some((summary, today)) = agent else {
        return format!(
            "💸 Usage cost\n{session_line}\nToday and the last 30 days: in a private chat with the bot (they cover every chat)."
        );
    };
    let cost_of = |v: &serde_json::Value| {
        format!(
            "{}{}",
            usd(v["totalCost"].as_f64().unwrap_or(0.0)),
            partial(v["missingCostEntries"].as_u64().unwrap_or(0))
        )
    };
    let day = today.to_string();
    let today_cost = summary["daily"]
        .as_array()
        .and_then(|d| d.iter().find(|e| e["date"] == day.as_str()))
        .filter(|e| e["totalTokens"].as_u64().unwrap_or(0) > 0)
        .map_or_else(|| "n/a".to_owned(), cost_of);
    let cache = match summary["cacheStatus"]["status"].as_str() {
        Some(s) if s != "fresh" => {
            format!("Usage totals may be incomplete ({s}). Run this command again later.\n")
        }
        _ => String::new(),
    };
    format!(
        "💸 Usage cost\n{session_line}\n{cache}Today {today_cost}\nLast 30d {}",
        cost_of(&summary["totals"])
    )
}

/// `models.list`: the models a session may choose.
#[derive(actix::Message)]
#[rtype(result = "Vec<crate::ports::ModelChoice>")]
pub struct ListModels;

impl actix::Handler<ListModels> for Registry {
    type Result = actix::MessageResult<ListModels>;

    fn handle(&mut self, _: ListModels, _: &mut Self::Context) -> Self::Result {
        actix::MessageResult(self.model.choices())
    }
}

/// `/new` without a first message.
const NEW_SESSION: &str = "✅ New session started.";

/// `/whoami`'s answer (OpenClaw's `commands-whoami.ts` lines).
fn whoami(m: &InboundMessage) -> String {
    let mut lines = vec![
        "🧭 Identity".to_owned(),
        format!("Channel: {}", m.channel),
        format!("User id: {}", m.sender_id),
    ];
    if let Some(u) = &m.sender_username {
        lines.push(format!("Username: @{}", u.trim_start_matches('@')));
    }
    if m.chat_type != "private" {
        lines.push(format!("Chat: {}", m.chat_id));
    }
    if let Some(t) = m.thread_id {
        lines.push(format!("Thread: {t}"));
    }
    lines.push(format!("AllowFrom: {}", m.sender_id));
    lines.join("\n")
}

impl Registry {
    /// The answer to a command other than a reset with a first message, for session `key`;
    /// `who` is `/whoami`'s text; `channel` the asker's (`webchat`: an operator). A reset's
    /// index save is returned when there is one.
    fn command_reply(
        &mut self,
        command: &ChatCommand,
        key: &str,
        (asked_at, channel): (Option<u64>, &str),
        who: impl FnOnce() -> String,
        ctx: &mut Context<Self>,
    ) -> (String, Option<super::session_reset::ResetDone>) {
        match command {
            ChatCommand::Stop => {
                // A run whose reply is out and that only saves memory notes now: that
                // stops, but no reply was in progress.
                let flushing = self.flushing.contains_key(key) && self.runs.queued_in(key) == 0;
                let aborted = !self.abort_runs(key, None).is_empty();
                // The chat's sub-agents stop with it (OpenClaw's cascade).
                let children = self.kill_all_children(key, ctx);
                let text = if !aborted && children > 0 {
                    format!("⚙️ Stopped {children} sub-agent(s).")
                } else if !aborted {
                    "⚙️ Nothing to stop: no reply is in progress.".to_owned()
                } else if flushing {
                    "⚙️ Nothing to stop: the reply was already sent (its memory notes were stopped)."
                        .to_owned()
                } else if children > 0 {
                    format!("⚙️ Agent was aborted, and {children} sub-agent(s) stopped.")
                } else {
                    "⚙️ Agent was aborted.".to_owned()
                };
                (text, None)
            }
            ChatCommand::Subagents(ask) => (self.subagents_command(ask, key, ctx), None),
            ChatCommand::Tools(verbose) => {
                let req = RunRequest::new(
                    String::new(),
                    key.to_owned(),
                    String::new(),
                    RunOrigin::Operator,
                    None,
                );
                (self.tools_command(&req, *verbose), None)
            }
            ChatCommand::WhoAmI => (who(), None),
            ChatCommand::Approve(_) => (
                "⚙️ Operators answer exec approvals with exec.approval.resolve (it needs operator.approvals).".to_owned(),
                None,
            ),
            ChatCommand::Status => (self.status_text(key, channel), None),
            // Reached only without a model (otherwise `/compact` is a run of its own).
            ChatCommand::Compact(_) => (
                "⚙️ Compaction unavailable: no model is configured to summarize with.".to_owned(),
                None,
            ),
            ChatCommand::Tts(choice) => (self.tts_command(key, *choice), None),
            // From a chat it is a voice note (`tts_audio`); an operator has `tts.convert`.
            ChatCommand::TtsAudio(_) | ChatCommand::TtsLatest => (
                "🔊 /tts audio <text> answers with a voice note in a chat; operators use tts.convert (openclaw infer tts convert).".to_owned(),
                None,
            ),
            ChatCommand::Think(ask) => (self.think_command(key, ask), None),
            ChatCommand::Queue(ask) => (self.queue_command(key, ask, channel), None),
            ChatCommand::Usage(ask) => (self.usage_command(key, ask, channel), None),
            // With a message it is a run (`submit_run_of`); alone, the usage.
            ChatCommand::Steer(_) => (
                "Usage: /steer <message> (or /tell): the message goes into the reply in progress at its next step, whatever /queue says; with no reply in progress it is an ordinary message.".to_owned(),
                None,
            ),
            // Answered by `restart_command` (it needs to know who asked).
            ChatCommand::Restart => (
                "⚙️ /restart is for the owner's chats and operator.admin.".to_owned(),
                None,
            ),
            ChatCommand::Model(ask) => (self.model_command(key, ask), None),
            ChatCommand::Help => {
                let text = match self.model.commands_help() {
                    Some(agent) => format!("{HELP}\n\n{agent}"),
                    None => HELP.to_owned(),
                };
                (text, None)
            }
            ChatCommand::Reset { reason, .. } => {
                let done = self.reset_session(key, asked_at, ctx);
                if done.changed {
                    self.session_lifecycle(key, reason.as_str());
                }
                let text = if done.aborted.is_empty() {
                    NEW_SESSION.to_owned()
                } else {
                    format!("{NEW_SESSION} The reply in progress was stopped.")
                };
                (text, Some(done))
            }
        }
    }

    /// `/tts audio <text>`: the text as a voice note, spoken by the spoken answers'
    /// provider (`tts`), as a reply to the command. Bounded like a client's synthesis: at
    /// most `tts.maxTextLength` characters, and the gateway-wide 4 at once / 60 a minute
    /// (every synthesis costs the owner money, and anyone the bot answers can ask).
    fn tts_audio(
        &mut self,
        text: String,
        inbound: InboundMessage,
        deliver: Recipient<DeliverReply>,
        ctx: &mut Context<Self>,
    ) {
        let reply = move |text: String, media: Vec<crate::media::MediaRef>| DeliverReply {
            media,
            ..inbound.answer(text)
        };
        let refuse = |why: String| {
            deliver.do_send(reply(why, Vec::new()));
        };
        let Some(speech) = self.voices.speech.clone() else {
            return refuse("🔇 Spoken answers are not set up on this gateway (tts.provider, see the README's \"Spoken answers\").".to_owned());
        };
        if text.is_empty() {
            return refuse("Usage: /tts audio <text> (the text as a voice note).".to_owned());
        }
        let max = self.voices.max_text_length;
        if text.chars().count() > max {
            return refuse(format!(
                "🔇 That is longer than {max} characters (tts.maxTextLength); send a shorter text."
            ));
        }
        let slot = match self.synth_gate.admit() {
            Ok(slot) => slot,
            Err((why, retry_ms)) => {
                return refuse(format!(
                    "🔇 Not now: {why}; try again in {} s.",
                    retry_ms.div_ceil(1000)
                ));
            }
        };
        let store = self.store.clone();
        let fut = async move {
            let spoken = crate::agent_run::speak(
                &speech,
                text,
                crate::ports::SpeakRequest::default(),
                &store,
            )
            .await;
            drop(slot);
            let msg = match spoken {
                Ok(voice) => reply(String::new(), vec![voice]),
                Err(e) => {
                    log::warn!("/tts audio: {e}");
                    reply(
                        "🔇 The voice note could not be made (the gateway log says why)."
                            .to_owned(),
                        Vec::new(),
                    )
                }
            };
            deliver.do_send(msg);
        };
        ctx.spawn(fut.into_actor(self));
    }

    /// `/usage cost` (OpenClaw's words): what this session, today and the last 30 days
    /// (the gateway's calendar, the session's agent) cost, read from the transcripts off
    /// the registry's thread. A shared chat (a group, an open DM) gets its session's line
    /// only: the agent's totals are the owner's business, and reading every transcript is
    /// not for anyone who can write to the bot to start.
    fn usage_cost(
        &mut self,
        key: &str,
        inbound: InboundMessage,
        deliver: Recipient<DeliverReply>,
        ctx: &mut Context<Self>,
    ) {
        let state_dir = self.shared.config.state_dir.clone();
        let agent = crate::agents::key_agent(key).map_or_else(
            || crate::agents::default_id_now().to_string(),
            str::to_owned,
        );
        let session = self
            .sessions_index
            .get(key)
            .and_then(|m| crate::session_usage::transcript_path(&state_dir, &agent, &m.session_id));
        let shared = inbound.shared();
        let fut = actix_web::rt::task::spawn_blocking(move || {
            let now = i64::try_from(crate::util::now_ms()).unwrap_or(i64::MAX);
            let session = session.and_then(|p| crate::session_usage::session_totals(&p, now));
            if shared {
                return Some(cost_text(session, None));
            }
            let range =
                crate::usage::Range::new(Some(30), None, crate::usage::DayZone::Gateway, now)
                    .ok()?;
            let summary = crate::usage::summary(&state_dir, &[agent], &range, now);
            Some(cost_text(session, Some((&summary, range.day_of(now)?))))
        });
        ctx.spawn(fut.into_actor(self).map(move |text, _, _| {
            let text = text.ok().flatten().unwrap_or_else(|| {
                "💸 Usage cost unavailable: the transcripts could not be read.".to_owned()
            });
            deliver.do_send(inbound.answer(text));
        }));
    }

    /// `/tts latest`: this chat's last answer (read from the end of its transcript), as it
    /// would be read aloud (markdown gone, mostly-code answers as OpenClaw's sentence), cut
    /// to `tts.maxTextLength`, then as `/tts audio`.
    fn tts_latest(
        &mut self,
        key: &str,
        inbound: InboundMessage,
        deliver: Recipient<DeliverReply>,
        ctx: &mut Context<Self>,
    ) {
        let read = self.sessions_index.get(key).map(|meta| {
            self.store.send(crate::store::LoadLines {
                name: super::runs::transcript_name(key, &meta.session_id),
                limit: 200,
                max_bytes: 1024 * 1024,
            })
        });
        let max = self.voices.max_text_length.max(2);
        let fut = async move {
            let lines = match read {
                Some(read) => read.await.ok()?.ok()?,
                None => return None,
            };
            let last = lines.iter().rev().find_map(|line| {
                let m = super::runs::HistoryMessage::shown(line)?;
                (m.role.as_ref().and_then(serde_json::Value::as_str) == Some("assistant"))
                    .then(|| m.content.first().map(|p| p.text.clone()))
                    .flatten()
            })?;
            let said = crate::speech::spoken_text(&last)?;
            Some(if said.chars().count() > max {
                crate::speech::speakable(&said, max - 1)
                    .unwrap_or_else(|| said.chars().take(max).collect())
            } else {
                said
            })
        };
        ctx.spawn(fut.into_actor(self).map(move |said, act, ctx| match said {
            Some(text) => act.tts_audio(text, inbound, deliver, ctx),
            None => deliver.do_send(
                inbound.answer("🔇 Nothing to speak yet: this chat has no answer.".to_owned()),
            ),
        }));
    }

    /// `/model`: this chat's model (the configured ones only; strict: a chosen model has
    /// no fallbacks, as in OpenClaw).
    fn model_command(&mut self, key: &str, ask: &ModelAsk) -> String {
        let chosen = self.sessions_index.get(key).and_then(|m| m.model_choice());
        let default = self.model.label();
        match ask {
            ModelAsk::Status => match chosen {
                Some(r) => format!(
                    "🧠 Model: {r} (chosen for this chat; /model default: back to {default}). /model list: the others."
                ),
                None => format!(
                    "🧠 Model: {default} (the configured default). /model list: what this chat can choose."
                ),
            },
            ModelAsk::List => {
                let choices = self.model.choices();
                if choices.is_empty() {
                    return format!(
                        "🧠 Only the configured model answers here: {default}. More models are listed in models.providers or agents.defaults.models."
                    );
                }
                let mut lines = vec!["🧠 Models this chat can choose (/model <name>):".to_owned()];
                for c in choices {
                    let mark = if chosen.as_deref() == Some(c.reference.as_str()) {
                        " ← this chat"
                    } else {
                        ""
                    };
                    lines.push(match c.alias {
                        Some(a) => format!("• {} ({a}){mark}", c.reference),
                        None => format!("• {}{mark}", c.reference),
                    });
                }
                lines.push(format!("/model default: the configured default ({default})."));
                lines.join("\n")
            }
            ModelAsk::Wider => "⚙️ From a chat, /model changes only this chat's model. Set agents.defaults.model in the gateway's config to change it for everyone.".to_owned(),
            ModelAsk::Default => {
                if chosen.is_some() {
                    self.save_model_choice(key, None);
                }
                format!("✅ Model for this chat: the configured default ({default}).")
            }
            ModelAsk::Set(name) => match self.model.pick(name) {
                Ok((reference, _)) => {
                    self.save_model_choice(key, Some(&reference));
                    format!(
                        "✅ Model for this chat: {reference} (until /model default). If it fails, the reply says so: a chosen model has no fallbacks."
                    )
                }
                Err(e) => format!("⚠️ Model not changed: {e}."),
            },
        }
    }

    /// Records the session's own model (`None`: the default) and saves the index at once.
    pub(super) fn save_model_choice(&mut self, key: &str, reference: Option<&str>) {
        self.sessions_index
            .set_model(key, reference, crate::util::now_ms(), || {
                uuid::Uuid::new_v4().to_string()
            });
        self.publish_sessions();
        self.save_sessions_now();
        self.session_changed(key);
    }

    /// `/think`: this chat's thinking level (a level with a message is that message's run,
    /// handled before this).
    fn think_command(&mut self, key: &str, ask: &ThinkAsk) -> String {
        use crate::ports::Thinking;
        let levels = Thinking::names();
        let reasons = self.model.reasons();
        let note = if reasons {
            String::new()
        } else {
            format!(
                " ({} does not reason, so it has no effect there; models that do: an entry with reasoning: true, or OpenAI's o-series and GPT-5, Claude, Gemini 2.5+)",
                self.model.label()
            )
        };
        let chosen = match ask {
            ThinkAsk::Status => {
                let now = match self
                    .sessions_index
                    .get(key)
                    .and_then(|m| m.thinking_level.clone())
                {
                    Some(l) => format!("{l} in this chat (/think default: back to the configured level)"),
                    None => "the configured level (agents.defaults.thinkingDefault or the model's params.thinking; none: the provider's default)".to_owned(),
                };
                return format!("🧠 Thinking: {now}{note}. Levels: {levels}.");
            }
            ThinkAsk::Usage(word) => {
                return format!(
                    "⚠️ {word:?} is not a thinking level. Usage: /think {levels} | default [message] (/think: what is set)."
                );
            }
            ThinkAsk::Set(level) => Some(*level),
            ThinkAsk::Default => None,
            // Answered by its run.
            ThinkAsk::Once(..) => return String::new(),
        };
        self.sessions_index
            .set_thinking(key, chosen, crate::util::now_ms(), || {
                uuid::Uuid::new_v4().to_string()
            });
        self.publish_sessions();
        self.save_sessions_now();
        self.session_changed(key);
        match chosen {
            Some(Thinking::Off) => format!("🧠 Thinking disabled in this chat{note}."),
            Some(level) => format!("🧠 Thinking level set to {}{note}.", level.as_str()),
            None => "🧠 Thinking: back to the configured level in this chat.".to_owned(),
        }
    }

    /// `/usage`: this chat's per-reply usage footer (OpenClaw's `/usage`; the chat's choice
    /// is kept by `/new`).
    fn usage_command(&mut self, key: &str, ask: &UsageAsk, channel: &str) -> String {
        use crate::usage_footer::FooterMode;
        let own = self.sessions_index.get(key).and_then(|m| m.footer());
        let live = self.shared.live.get();
        let in_force = live.response_usage.resolve(own, channel);
        let chosen = match ask {
            UsageAsk::Bad(word) => {
                return format!(
                    "⚠️ {word:?} is not a usage mode. Usage: /usage off|tokens|full|reset (/usage alone: the next mode). Cost totals: the Control UI's Usage tab, or openclaw gateway usage-cost."
                );
            }
            // From a chat it is `usage_cost`; an operator has `usage.cost`.
            UsageAsk::Cost => {
                return "💸 /usage cost answers in a chat; operators read usage.cost (openclaw gateway usage-cost) or the Control UI's Usage tab.".to_owned();
            }
            UsageAsk::Cycle => Some(in_force.next()),
            UsageAsk::Set(m) => Some(*m),
            UsageAsk::Reset => None,
        };
        self.sessions_index
            .set_footer(key, chosen, crate::util::now_ms(), || {
                uuid::Uuid::new_v4().to_string()
            });
        self.publish_sessions();
        self.save_sessions_now();
        self.session_changed(key);
        let now = live.response_usage.resolve(chosen, channel);
        let what = match now {
            FooterMode::Off => "off: replies end without a usage line",
            FooterMode::Tokens => "tokens: each reply ends with the tokens it used",
            FooterMode::Full => {
                "full: each reply ends with the tokens it used and their estimated cost (when the model has rates)"
            }
        };
        match chosen {
            Some(_) => format!(
                "📊 Usage footer {what} (in this chat; /usage reset: back to messages.responseUsage)."
            ),
            None => format!("📊 Usage footer back to the configured default: {what}."),
        }
    }

    /// `/queue`: what this chat's messages do while a reply is in progress.
    fn queue_command(&mut self, key: &str, ask: &QueueAsk, channel: &str) -> String {
        use crate::run_queue::QueueMode;
        const USAGE: &str = "Usage: /queue steer|followup|collect|interrupt [cap:N] [drop:old|new|summarize] [debounce:500ms|2s], /queue default (/queue: what is set).";
        match ask {
            QueueAsk::Usage(word) => {
                return format!("⚠️ {word:?} is not a queue setting. {USAGE}");
            }
            QueueAsk::Set(own) => {
                self.sessions_index
                    .set_queue(key, *own, crate::util::now_ms(), || {
                        uuid::Uuid::new_v4().to_string()
                    });
            }
            QueueAsk::Default => {
                self.sessions_index.clear_queue(key);
            }
            QueueAsk::Status => {}
        }
        if !matches!(ask, QueueAsk::Status) {
            self.publish_sessions();
            self.save_sessions_now();
            self.session_changed(key);
        }
        let own = self
            .sessions_index
            .get(key)
            .map(super::runs::SessionMeta::queue)
            .unwrap_or_default();
        // The asker's channel decides `byChannel`, as for their messages.
        let live = self.shared.live.get();
        let r = live.queue.resolve(own, channel);
        let whose = if own.is_set() {
            "this chat's own (/queue default: back to messages.queue)"
        } else {
            "from messages.queue"
        };
        let what = match r.mode {
            QueueMode::Steer => "a message sent during a reply goes into it at its next step",
            QueueMode::Followup => "a message sent during a reply runs on its own after it",
            QueueMode::Collect => "messages sent during a reply run together after it, as one turn",
            QueueMode::Interrupt => "a message sent during a reply stops it and runs instead",
        };
        let head = match ask {
            QueueAsk::Status => "📥 Queue",
            QueueAsk::Default => "📥 Queue back to the configured settings",
            _ => "📥 Queue set",
        };
        format!(
            "{head}: {} ({what}); debounce {}, cap {}, drop {} — {whose}. Modes: {}.",
            r.mode.as_str(),
            crate::run_queue::debounce_text(r.debounce_ms),
            r.cap,
            r.drop.as_str(),
            QueueMode::NAMES
        )
    }

    /// `/tts`: this chat's spoken answers.
    fn tts_command(&mut self, key: &str, choice: TtsChoice) -> String {
        let Some(speech) = &self.speech else {
            return "🔇 Spoken answers are not set up on this gateway (tts.provider, see the README's \"Spoken answers\").".to_owned();
        };
        let label = speech.speaker.label();
        let chosen = match choice {
            TtsChoice::On => Some(true),
            TtsChoice::Off => Some(false),
            TtsChoice::Default => None,
            TtsChoice::Status => {
                let now = match self.sessions_index.get(key).and_then(|m| m.tts) {
                    Some(true) => {
                        "on in this chat (/tts default: back to the gateway's setting)".to_owned()
                    }
                    Some(false) => {
                        "off in this chat (/tts default: back to the gateway's setting)".to_owned()
                    }
                    None => format!("{} (the gateway's setting)", speech.policy.auto.describe()),
                };
                return format!("🔊 Spoken answers: {now}. Voice: {label}.");
            }
            TtsChoice::Usage => {
                return "Usage: /tts on | off | default (spoken answers in this chat; /tts chat on|off|default too), /tts (what is set).".to_owned();
            }
        };
        self.sessions_index
            .set_tts(key, chosen, crate::util::now_ms(), || {
                uuid::Uuid::new_v4().to_string()
            });
        self.publish_sessions();
        self.save_sessions_now();
        match chosen {
            Some(true) => format!("🔊 Spoken answers on in this chat ({label})."),
            Some(false) => "🔇 Spoken answers off in this chat.".to_owned(),
            None => format!(
                "🔊 Spoken answers in this chat: back to the gateway's setting ({}).",
                speech.policy.auto.describe()
            ),
        }
    }

    /// `/status`: what a chat can know about its own session and what serves it (node
    /// names, as the agent's `nodes` tool shows them to the same senders); `channel`: the
    /// asker's (for the queue mode in force).
    pub(super) fn status_text(&self, key: &str, channel: &str) -> String {
        /// Node names listed at most.
        const MAX_NAMES: usize = 10;
        let mut lines = vec![format!("🦞 openclaw-rs {}", env!("CARGO_PKG_VERSION"))];
        lines.push(match self.sessions_index.get(key) {
            Some(m) => format!(
                "Session: {key} · {} message{}",
                m.message_count,
                if m.message_count == 1 { "" } else { "s" }
            ),
            None => format!("Session: {key} · new"),
        });
        if let Some((tokens, window)) = self.sessions_index.get(key).and_then(|m| m.context()) {
            lines.push(format!(
                "Context: ~{}/{} tokens ({}%)",
                crate::usage_footer::tokens(u64::from(tokens)),
                crate::usage_footer::tokens(u64::from(window)),
                u64::from(tokens) * 100 / u64::from(window.max(1))
            ));
        }
        if let Some(n) = self
            .sessions_index
            .get(key)
            .map(|m| m.compaction_count)
            .filter(|n| *n > 0)
        {
            lines.push(format!("🧹 Compactions: {n}"));
        }
        lines.push(
            match self.sessions_index.get(key).and_then(|m| m.model_choice()) {
                Some(r) => format!("Model: {r} (chosen for this chat)"),
                None => format!("Model: {}", self.model.label()),
            },
        );
        if let Some(l) = self
            .sessions_index
            .get(key)
            .and_then(|m| m.thinking_level.as_deref())
        {
            lines.push(format!("🧠 Thinking: {l} (this chat)"));
        }
        if let Some(h) = &self.hearing {
            lines.push(format!("Voice messages: {}", h.transcriber.label()));
        }
        if let Some(s) = &self.speech {
            let when = match self.sessions_index.get(key).and_then(|m| m.tts) {
                Some(true) => "on in this chat",
                Some(false) => "off in this chat",
                None => s.policy.auto.describe(),
            };
            lines.push(format!("Spoken answers: {} ({when})", s.speaker.label()));
        }
        let queued = self.runs.queued_in(key);
        lines.push(match (self.runs.active_run(key).is_some(), queued) {
            (false, _) => "Reply in progress: no".to_owned(),
            (true, 0) => "Reply in progress: yes".to_owned(),
            (true, n) => format!("Reply in progress: yes ({n} more queued)"),
        });
        let own = self
            .sessions_index
            .get(key)
            .map(super::runs::SessionMeta::queue)
            .unwrap_or_default();
        let q = self.shared.live.get().queue.resolve(own, channel);
        lines.push(format!(
            "📥 Queue: {} (debounce {}, cap {}, drop {}; /queue to change)",
            q.mode.as_str(),
            crate::run_queue::debounce_text(q.debounce_ms),
            q.cap,
            q.drop.as_str()
        ));
        let mut names: Vec<String> = self
            .nodes
            .ids()
            .map(|id| {
                self.node_view(id)
                    .and_then(|v| v.display_name)
                    .unwrap_or_else(|| id.chars().take(12).collect())
            })
            .collect();
        names.sort();
        let count = names.len();
        let mut nodes = format!("Nodes: {count} connected");
        if count > 0 {
            let shown: Vec<&str> = names.iter().take(MAX_NAMES).map(String::as_str).collect();
            nodes.push_str(&format!(" ({}", shown.join(", ")));
            if count > MAX_NAMES {
                nodes.push_str(&format!(", … {} more", count - MAX_NAMES));
            }
            nodes.push(')');
        }
        lines.push(nodes);
        // Jobs bound to this chat (its agent tool's reminders, `session:<key>` jobs).
        if let Some(&(n, next)) = self.scheduled.get(&format!("session:{key}")) {
            let mut line = format!("Scheduled: {n} job{}", if n == 1 { "" } else { "s" });
            if let Some(next) = next {
                line.push_str(&format!(
                    " · next {}",
                    in_words(next, crate::util::now_ms())
                ));
            }
            lines.push(line);
        }
        lines.extend(self.children_status(key));
        lines.join("\n")
    }

    /// `/restart`: `refusal` is `Some` when the sender is not the owner; `origin` is the
    /// chat message that asked (`None`: an operator). The message whose `/restart`
    /// restarted the process into this one may come back (a pending message, or handed over
    /// again by the chat service): it is answered, not obeyed again.
    /// `written`: what the restart waits for before it starts (an operator's answer queued).
    fn restart_command(
        &mut self,
        refusal: Option<String>,
        origin: Option<&str>,
        written: Option<tokio::sync::oneshot::Receiver<()>>,
    ) -> String {
        if !self.shared.live.get().restart_enabled {
            return "⚠️ /restart is disabled (commands.restart=false).".to_owned();
        }
        if let Some(r) = refusal {
            return r;
        }
        if origin.is_some() && origin == self.shared.config.restarted_by.as_deref() {
            return "✅ The gateway has restarted.".to_owned();
        }
        let Some(ops) = self.shared.ops.get() else {
            return "⚠️ Restart failed: this gateway cannot restart itself.".to_owned();
        };
        let ask = crate::ports::RestartAsk {
            reason: "/restart".to_owned(),
            wait: std::time::Duration::from_millis(crate::ws_session::RESTART_WAIT_MS),
            target: None,
            written,
            origin: origin.map(str::to_owned),
        };
        match ops.restart(ask) {
            Ok(t) if t.coalesced => {
                "⚙️ A restart is already on its way; back in a few seconds.".to_owned()
            }
            Ok(_) => "⚙️ Restarting the gateway once the work in progress is done; back in a few seconds.".to_owned(),
            Err((_, m)) => format!("⚠️ Restart failed: {m}"),
        }
    }

    /// OpenClaw's refusal for a chat sender who is not in `commands.ownerAllowFrom`, with
    /// the command that would make them the owner (`None`: they are).
    fn owner_refusal(&self, inbound: &InboundMessage) -> Option<String> {
        let me = super::session_events::owner_key(&inbound.channel, &inbound.sender_id.to_string());
        if self.is_owner(&me) {
            return None;
        }
        let live = self.shared.live.get();
        let mut owners: Vec<&str> = live.owners.iter().map(String::as_str).collect();
        owners.push(&me);
        let list = serde_json::to_string(&owners).unwrap_or_default();
        Some(format!(
            "You are not authorized to use this owner-only command. Ask the operator to run `openclaw config set commands.ownerAllowFrom '{list}'` in a terminal to make this sender a command owner."
        ))
    }

    /// `/approve` from a chat: only the sender who was asked, in that chat's channel account.
    fn approve_from_chat(
        &mut self,
        answer: Option<(String, super::approvals::Decision)>,
        inbound: &InboundMessage,
        ctx: &mut Context<Self>,
    ) -> String {
        use super::approvals::{AskedIn, ResolveExecApproval, Resolver};
        let Some((id, decision)) = answer else {
            return "⚙️ Usage: /approve <id> allow-once|allow-always|deny".to_owned();
        };
        let by = Resolver::Chat(AskedIn {
            channel: inbound.channel.clone(),
            account_id: inbound.account_id.clone(),
            sender_id: inbound.sender_id.to_string(),
        });
        match <Self as Handler<ResolveExecApproval>>::handle(
            self,
            ResolveExecApproval { id, decision, by },
            ctx,
        ) {
            Ok(_) => match decision {
                super::approvals::Decision::Deny => "❌ Denied: the command will not run.",
                super::approvals::Decision::AllowOnce => "✅ Approved once: running it now.",
                super::approvals::Decision::AllowAlways => {
                    "✅ Approved, and allowed from now on: running it now."
                }
            }
            .to_owned(),
            Err(e) => format!("⚠️ {e}"),
        }
    }

    /// `/tools`: what a run like `req` is offered now (`None`: the usage). The session may
    /// be new (the command is its first message).
    fn tools_command(&self, req: &RunRequest, verbose: Option<bool>) -> String {
        let Some(verbose) = verbose else {
            return "Usage: /tools [compact|verbose] — the tools the agent can use in this conversation now.".to_owned();
        };
        match self.effective_tools(req, false) {
            Ok(tools) => super::tool_inventory::tools_text(&tools, verbose),
            Err(e) => format!("⚠️ {}", e.message),
        }
    }

    /// Answers a chat command from `inbound` (the channel's message, already admitted).
    pub(super) fn chat_command(
        &mut self,
        command: ChatCommand,
        key: String,
        inbound: InboundMessage,
        deliver: Recipient<DeliverReply>,
        ctx: &mut Context<Self>,
    ) {
        if let ChatCommand::Reset { reason, rest } = &command
            && !rest.is_empty()
        {
            // The rest is the new session's first message: its run answers (and completes)
            // the inbound message. The index write is queued before the run's lines.
            if self.reset_session(&key, Some(inbound.ts), ctx).changed {
                self.session_lifecycle(&key, reason.as_str());
            }
            let rest = rest.clone();
            return self.submit_inbound(key, inbound, rest, deliver, ctx);
        }
        if let ChatCommand::Compact(focus) = &command
            && self.model.commands_help().is_none()
        {
            let text = inbound.text.clone();
            let ask = super::runs::CompactAsk {
                focus: focus.clone(),
                max_lines: None,
            };
            return self.submit_run_of(key, inbound, text, deliver, (Some(ask), None, false), ctx);
        }
        if let ChatCommand::Think(ThinkAsk::Once(level, message)) = &command {
            let (level, message) = (*level, message.clone());
            return self.submit_run_of(
                key,
                inbound,
                message,
                deliver,
                (None, Some(level), false),
                ctx,
            );
        }
        if let ChatCommand::Steer(message) = &command
            && !message.is_empty()
        {
            let message = message.clone();
            return self.submit_run_of(key, inbound, message, deliver, (None, None, true), ctx);
        }
        if let ChatCommand::TtsAudio(text) = &command {
            return self.tts_audio(text.clone(), inbound, deliver, ctx);
        }
        if command == ChatCommand::TtsLatest {
            return self.tts_latest(&key, inbound, deliver, ctx);
        }
        if command == ChatCommand::Usage(UsageAsk::Cost) {
            return self.usage_cost(&key, inbound, deliver, ctx);
        }
        if let ChatCommand::Approve(answer) = &command {
            let text = self.approve_from_chat(answer.clone(), &inbound, ctx);
            deliver.do_send(inbound.answer(text));
            return;
        }
        if let ChatCommand::Tools(verbose) = command {
            // What this sender's own runs here are offered (a group's, a stranger's: less).
            let req = RunRequest {
                origin: RunOrigin::Channel {
                    inbound: Box::new(inbound.clone()),
                    deliver: deliver.clone(),
                },
                ..RunRequest::new(
                    String::new(),
                    key.clone(),
                    String::new(),
                    RunOrigin::Operator,
                    None,
                )
            };
            let text = self.tools_command(&req, verbose);
            deliver.do_send(inbound.answer(text));
            return;
        }
        if command == ChatCommand::Restart {
            let refusal = self.owner_refusal(&inbound);
            let text = self.restart_command(refusal, Some(&inbound.id), None);
            deliver.do_send(inbound.answer(text));
            return;
        }
        let (text, reset) = self.command_reply(
            &command,
            &key,
            (Some(inbound.ts), &inbound.channel),
            || whoami(&inbound),
            ctx,
        );
        // After a reset the message is done only once the new session id is on disk: a
        // crash before that hands it again, and the reset is redone.
        let recorded = reset.map(|done| {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let saved = done.saved;
            actix::spawn(async move {
                if saved.await {
                    let _ = tx.send(());
                }
            });
            futures_util::FutureExt::shared(rx)
        });
        deliver.do_send(DeliverReply {
            recorded,
            ..inbound.answer(text)
        });
    }

    /// Answers a chat command an operator sent with `chat.send` / `agent`: as a run that
    /// ended at once with the answer (its `chat` events go out now), or, for a reset with a
    /// first message, the new session's first run.
    pub(super) fn operator_command(
        &mut self,
        command: ChatCommand,
        msg: SubmitRun,
        ctx: &mut Context<Self>,
    ) -> Result<SubmitAck, QueueFull> {
        let key = msg.session_key;
        let alone = msg.alone;
        // A reset with a first message starts the new session with it; `/compact` is a
        // run of its own (it waits for the session's runs).
        let run = match &command {
            ChatCommand::Reset { reason, rest } if !rest.is_empty() => {
                let _ = self.reset_session(&key, None, ctx);
                self.session_lifecycle(&key, reason.as_str());
                Some((rest.clone(), None, None, false))
            }
            ChatCommand::Compact(focus) if self.model.commands_help().is_none() => Some((
                msg.text.clone(),
                Some(super::runs::CompactAsk {
                    focus: focus.clone(),
                    max_lines: None,
                }),
                None,
                false,
            )),
            ChatCommand::Think(ThinkAsk::Once(level, message)) => {
                Some((message.clone(), None, Some(*level), false))
            }
            ChatCommand::Steer(message) if !message.is_empty() => {
                Some((message.clone(), None, None, true))
            }
            _ => None,
        };
        if let Some((text, compact, thinking, steer)) = run {
            let uploads = if compact.is_none() {
                msg.uploads
            } else {
                Vec::new()
            };
            let started = self.submit(
                RunRequest {
                    run_id: msg.run_id.clone(),
                    session_key: key.clone(),
                    text,
                    origin: RunOrigin::Operator,
                    sender: msg.sender,
                    uploads,
                    compact,
                    thinking: thinking.or(msg.thinking),
                    delivery: msg.delivery,
                    model: msg.model,
                    queue: if alone {
                        super::runs::Queueing::Alone
                    } else if steer {
                        super::runs::Queueing::Steer
                    } else {
                        super::runs::Queueing::Default
                    },
                },
                ctx,
            )?;
            return Ok(SubmitAck {
                run_id: msg.run_id,
                session_key: key,
                status: if started { "started" } else { "queued" },
                answered: None,
                interrupted: false,
            });
        }
        let sender = msg.sender;
        // The restart waits until the caller's session has queued its answer.
        let mut answered = None;
        let restart = (command == ChatCommand::Restart).then(|| {
            let refusal = (!msg.admin).then(|| {
                "You are not authorized to use this owner-only command. Ask the operator to grant this Gateway client operator.admin access.".to_owned()
            });
            let (gate, written) = crate::ports::AnswerGate::new();
            answered = Some(gate);
            self.restart_command(refusal, None, Some(written))
        });
        let (text, _) = match restart {
            Some(text) => (text, None),
            None => self.command_reply(
                &command,
                &key,
                (None, "webchat"),
                || {
                    let mut lines = vec![
                        "🧭 Identity".to_owned(),
                        "Channel: gateway operator".to_owned(),
                        format!("Session: {key}"),
                    ];
                    if let Some(s) = &sender {
                        lines.push(format!("Sender: {s}"));
                    }
                    lines.join("\n")
                },
                ctx,
            ),
        };
        let now = crate::util::now_ms();
        self.runs
            .record_answered(&msg.run_id, &key, text.clone(), now);
        for payload in [
            crate::agent_run::delta_event(&msg.run_id, &key, &text),
            crate::agent_run::final_event(&msg.run_id, &key, &text, now),
        ] {
            self.broadcast("chat", &payload, false, None);
        }
        Ok(SubmitAck {
            run_id: msg.run_id,
            session_key: key,
            status: "started",
            answered,
            interrupted: false,
        })
    }

    /// Queues the agent run for an inbound message whose text is `text`; a full queue gets
    /// the busy notice.
    pub(super) fn submit_inbound(
        &mut self,
        session_key: String,
        inbound: InboundMessage,
        text: String,
        deliver: Recipient<DeliverReply>,
        ctx: &mut Context<Self>,
    ) {
        self.submit_run_of(
            session_key,
            inbound,
            text,
            deliver,
            (None, None, false),
            ctx,
        );
    }

    /// [`Self::submit_inbound`], or `/compact`'s run when `compact` is set; `thinking`:
    /// the message's own thinking level (`/think <level> <message>`); `steer`: `/steer
    /// <message>`.
    fn submit_run_of(
        &mut self,
        session_key: String,
        inbound: InboundMessage,
        text: String,
        deliver: Recipient<DeliverReply>,
        (compact, thinking, steer): (
            Option<super::runs::CompactAsk>,
            Option<crate::ports::Thinking>,
            bool,
        ),
        ctx: &mut Context<Self>,
    ) {
        let req = RunRequest {
            run_id: inbound.id.clone(),
            session_key,
            text,
            sender: Some(match &inbound.sender_username {
                Some(u) => format!("{} (@{u})", inbound.sender_name),
                None => inbound.sender_name.clone(),
            }),
            origin: RunOrigin::Channel {
                inbound: Box::new(inbound.clone()),
                deliver: deliver.clone(),
            },
            uploads: Vec::new(),
            compact,
            thinking,
            delivery: None,
            model: None,
            queue: if steer {
                super::runs::Queueing::Steer
            } else {
                super::runs::Queueing::Default
            },
        };
        if let Err(e) = self.submit(req, ctx) {
            // Refused (the chat's queue is full): tell the user, and let the channel drop
            // the message from its pending list once the notice is delivered.
            log::warn!(
                "inbound message {} refused: {}; the sender is asked to retry",
                inbound.id,
                e
            );
            deliver.do_send(inbound.answer(crate::channel::BUSY_TEXT.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reset(reason: ResetReason, rest: &str) -> Option<ChatCommand> {
        Some(ChatCommand::Reset {
            reason,
            rest: rest.to_owned(),
        })
    }

    #[test]
    fn restart_is_a_whole_message() {
        assert_eq!(parse("/restart"), Some(ChatCommand::Restart));
        assert_eq!(parse("/RESTART@mybot"), Some(ChatCommand::Restart));
        assert_eq!(parse("/restart now"), None, "with words it is a message");
        assert_eq!(parse("/restarting"), None);
    }

    #[test]
    fn commands_are_whole_messages_in_any_case_with_a_bot_name_or_colon() {
        assert_eq!(parse("/new"), reset(ResetReason::New, ""));
        assert_eq!(parse("  /NEW  "), reset(ResetReason::New, ""));
        assert_eq!(parse("/new@my_bot"), reset(ResetReason::New, ""));
        assert_eq!(
            parse("/new: hello there"),
            reset(ResetReason::New, "hello there")
        );
        assert_eq!(parse("/new:hello"), reset(ResetReason::New, "hello"));
        assert_eq!(
            parse("/reset\nline one\nline two"),
            reset(ResetReason::Reset, "line one\nline two")
        );
        assert_eq!(parse("/stop"), Some(ChatCommand::Stop));
        assert_eq!(parse("/Stop@my_bot"), Some(ChatCommand::Stop));
        assert_eq!(parse("/whoami"), Some(ChatCommand::WhoAmI));
        assert_eq!(parse("/status@my_bot"), Some(ChatCommand::Status));
        assert_eq!(parse("/tools"), Some(ChatCommand::Tools(Some(false))));
        assert_eq!(
            parse("/TOOLS verbose"),
            Some(ChatCommand::Tools(Some(true)))
        );
        assert_eq!(
            parse("/tools compact"),
            Some(ChatCommand::Tools(Some(false)))
        );
        assert_eq!(parse("/tools please"), Some(ChatCommand::Tools(None)));
        assert_eq!(parse("/id:"), Some(ChatCommand::WhoAmI));
        assert_eq!(parse("/help"), Some(ChatCommand::Help));
        assert_eq!(parse("/model"), Some(ChatCommand::Model(ModelAsk::Status)));
        assert_eq!(
            parse("/model -s"),
            Some(ChatCommand::Model(ModelAsk::Status))
        );
        assert_eq!(parse("/models"), Some(ChatCommand::Model(ModelAsk::List)));
        assert_eq!(
            parse("/model LIST"),
            Some(ChatCommand::Model(ModelAsk::List))
        );
        assert_eq!(
            parse("/model@bot default --session"),
            Some(ChatCommand::Model(ModelAsk::Default))
        );
        assert_eq!(
            parse("/model openrouter/anthropic/claude-x -s"),
            Some(ChatCommand::Model(ModelAsk::Set(
                "openrouter/anthropic/claude-x".into()
            )))
        );
        assert_eq!(
            parse("/model opus --global"),
            Some(ChatCommand::Model(ModelAsk::Wider))
        );
        assert_eq!(parse("/tts"), Some(ChatCommand::Tts(TtsChoice::Status)));
        assert_eq!(parse("/tts ON"), Some(ChatCommand::Tts(TtsChoice::On)));
        assert_eq!(
            parse("/tts@bot off"),
            Some(ChatCommand::Tts(TtsChoice::Off))
        );
        assert_eq!(
            parse("/tts default"),
            Some(ChatCommand::Tts(TtsChoice::Default))
        );
        assert_eq!(
            parse("/tts audio  Hi, THERE  ✓ "),
            Some(ChatCommand::TtsAudio("Hi, THERE  ✓".into()))
        );
        assert_eq!(
            parse("/tts AUDIO"),
            Some(ChatCommand::TtsAudio(String::new()))
        );
        assert_eq!(parse("/tts Latest"), Some(ChatCommand::TtsLatest));
        assert_eq!(
            parse("/tts latest please"),
            Some(ChatCommand::Tts(TtsChoice::Usage))
        );
        assert_eq!(
            parse("/tts audiobook"),
            Some(ChatCommand::Tts(TtsChoice::Usage))
        );
        assert_eq!(
            parse("/tts chat  OFF"),
            Some(ChatCommand::Tts(TtsChoice::Off))
        );
        assert_eq!(
            parse("/tts chat default"),
            Some(ChatCommand::Tts(TtsChoice::Default))
        );
        assert_eq!(parse("/tts chat"), Some(ChatCommand::Tts(TtsChoice::Usage)));
        use crate::run_queue::{DropPolicy, QueueMode, SessionQueue};
        let queue = |a| Some(ChatCommand::Queue(a));
        assert_eq!(parse("/queue"), queue(QueueAsk::Status));
        assert_eq!(parse("/queue@mybot  status"), queue(QueueAsk::Status));
        assert_eq!(parse("/queue RESET"), queue(QueueAsk::Default));
        assert_eq!(
            parse("/queue Collect cap:5 DROP:newest debounce:2s"),
            queue(QueueAsk::Set(SessionQueue {
                mode: Some(QueueMode::Collect),
                cap: Some(5),
                drop: Some(DropPolicy::New),
                debounce_ms: Some(2_000),
            }))
        );
        assert_eq!(
            parse("/queue cap=100 debounce:0"),
            queue(QueueAsk::Set(SessionQueue {
                cap: Some(100),
                debounce_ms: Some(0),
                ..SessionQueue::default()
            }))
        );
        for bad in [
            "debounce:2h",
            "debounce:soon",
            "debounce:",
            "cap:0",
            "cap:101",
            "cap:-1",
            "cap:",
            "drop:all",
            "steer followup",
        ] {
            assert!(
                matches!(
                    parse(&format!("/queue {bad}")),
                    Some(ChatCommand::Queue(QueueAsk::Usage(_)))
                ),
                "{bad}"
            );
        }
        // Any text: the word quoted back is short, and cut on characters.
        let long = "🦀\u{200b}".repeat(500);
        assert!(
            matches!(parse(&format!("/queue {long}")), Some(ChatCommand::Queue(QueueAsk::Usage(w))) if w.chars().count() == 40)
        );
        use crate::ports::Thinking;
        let think = |a| Some(ChatCommand::Think(a));
        assert_eq!(parse("/think"), think(ThinkAsk::Status));
        assert_eq!(parse("/thinking status"), think(ThinkAsk::Status));
        assert_eq!(parse("/think HIGH"), think(ThinkAsk::Set(Thinking::High)));
        assert_eq!(
            parse("/think:medium"),
            think(ThinkAsk::Set(Thinking::Medium))
        );
        assert_eq!(
            parse("/t@bot x-high"),
            think(ThinkAsk::Set(Thinking::Xhigh))
        );
        assert_eq!(parse("/think off"), think(ThinkAsk::Set(Thinking::Off)));
        assert_eq!(parse("/think unpin"), think(ThinkAsk::Default));
        assert_eq!(
            parse("/think low what is 2+2?\nshow work"),
            think(ThinkAsk::Once(
                Thinking::Low,
                "what is 2+2?\nshow work".into()
            ))
        );
        assert_eq!(
            parse("/think enormous"),
            think(ThinkAsk::Usage("enormous".into()))
        );
        assert_eq!(
            parse("/think enormous thoughts"),
            think(ThinkAsk::Usage("enormous".into()))
        );
        // Any script, any size: a usage answer, never a crash, the word cut.
        let long = "🧠".repeat(5_000);
        assert!(
            matches!(parse(&format!("/think {long}")), Some(ChatCommand::Think(ThinkAsk::Usage(w))) if w.chars().count() == 40)
        );
        // Not a command: "/tomorrow" is a message.
        assert_eq!(parse("/tomorrow"), None);
        assert_eq!(parse("/commands"), Some(ChatCommand::Help));
        for text in [
            "/newer",
            "/news today",
            "please /new",
            "/stop it now",
            "/whoami please",
            "/",
            "//new",
            "/ new",
            "/invoke node echo.test",
            "/status now",
            "",
            "new",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_menu_is_what_telegram_accepts_and_every_entry_parses() {
        for (name, description) in MENU {
            assert!(
                (1..=32).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert!((1..=256).contains(&description.chars().count()), "{name}");
            assert!(parse(&format!("/{name}")).is_some(), "{name}");
        }
    }

    #[test]
    fn the_catalog_and_the_menu_list_the_same_commands_and_every_alias_parses() {
        let catalog: Vec<(&str, &str)> = CATALOG.iter().map(|e| (e.name, e.description)).collect();
        assert_eq!(catalog, MENU.to_vec());
        for e in CATALOG {
            assert_eq!(
                e.text_aliases.first(),
                Some(&format!("/{}", e.name).as_str())
            );
            for alias in e.text_aliases {
                assert!(parse(alias).is_some(), "{alias}");
            }
        }
    }

    #[test]
    fn abort_triggers_match_openclaws_list_whole_and_normalized() {
        for text in [
            "stop",
            "STOP!",
            "Stop.",
            "  please   stop ",
            "stop don’t do anything",
            "стоп",
            "停止",
            "arrête!!",
            "stop please…",
        ] {
            assert_eq!(parse(text), Some(ChatCommand::Stop), "{text:?}");
        }
        for text in [
            "stop the music",
            "don't stop",
            "stopping",
            "s t o p",
            "¿stop",
            &"stop ".repeat(40),
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn any_text_parses_without_panicking() {
        let samples = [
            "/\u{0}",
            "/new\u{202e}evil",
            "/new@",
            "/@",
            "/:",
            "/new\u{0}:x",
            "/é",
            "/new\u{3000}全角",
            "\u{feff}/new",
            "/new🙂",
        ];
        for s in samples {
            let _ = parse(s);
        }
        // The ideographic space is whitespace: the rest is the message.
        assert_eq!(parse("/new\u{3000}全角"), reset(ResetReason::New, "全角"));
        // A NUL is not a separator: "/new\0" is not the command.
        assert_eq!(parse("/new\u{0}:x"), None);
        let long = format!("/new {}", "x".repeat(100_000));
        assert!(
            matches!(parse(&long), Some(ChatCommand::Reset { rest, .. }) if rest.len() == 100_000)
        );
    }
}

/// `at_ms` seen from `now_ms`, in words (`in 5 min`, `in 3 h`, `in 2 d`, `now`).
fn in_words(at_ms: u64, now_ms: u64) -> String {
    let min = at_ms.saturating_sub(now_ms).div_ceil(60_000);
    match min {
        0 => "now".to_owned(),
        1..=119 => format!("in {min} min"),
        120..=2879 => format!("in {} h", min / 60),
        _ => format!("in {} d", min / 1440),
    }
}

#[cfg(test)]
mod in_words_tests {
    #[test]
    fn times_read_in_words() {
        let now = 1_000_000_000;
        assert_eq!(super::in_words(now, now), "now");
        assert_eq!(super::in_words(now - 5, now), "now");
        assert_eq!(super::in_words(now + 1, now), "in 1 min");
        assert_eq!(super::in_words(now + 3_600_000, now), "in 60 min");
        assert_eq!(super::in_words(now + 3 * 3_600_000, now), "in 3 h");
        assert_eq!(super::in_words(now + 3 * 86_400_000, now), "in 3 d");
    }
}
