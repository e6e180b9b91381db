//! The agent's `exec` tool (OpenClaw's): a shell command on the gateway host or on a node.
//!
//! Where a command may run is decided per run, before the model sees the tool:
//!
//! - **gateway host**: only when `tools.exec.mode` (or OpenClaw's legacy
//!   `tools.exec.security`/`ask`) is set to something other than `deny` — unset means `deny`
//!   here, where OpenClaw's default is `full` — and only for the owner's private sessions
//!   (direct chats from approved senders, operators, the heartbeat, main-session cron jobs an
//!   operator made): never for a group chat, an open DM or a job made with the `cron` tool. `full` runs the command with
//!   the gateway's shell; `allowlist`, `ask` and `auto` run only a simple command (no shell
//!   operators or expansions) whose program is on the gateway's exec allowlist
//!   (`<state>/exec-allowlist.json`, the format of our node host's), without a shell. There
//!   is no approval prompt here: a miss is denied (OpenClaw's `askFallback: "deny"`).
//! - **node**: `system.run` on a connected node, through the same agent tool policy as the
//!   `nodes` tool (`agents.defaults.tools.nodes`: `system.run` only when listed by its exact
//!   name) and then the node's own exec policy.
//!
//! The gateway host itself is reached through the [`CommandHost`](crate::ports::CommandHost)
//! port (the shell runs the process: its own process group, bounded output, killed on
//! timeout or when the run is stopped).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix::Addr;
use serde_json::{Value, json};

use crate::ports::{GatewayExec, ToolSpec};
use crate::registry::Registry;
use crate::registry::nodes::{InvokeNodeCommand, InvokeOrigin, ListNodes};

/// OpenClaw's default `tools.exec.timeoutSeconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Longest command text taken (bytes).
pub const MAX_COMMAND_BYTES: usize = 32 * 1024;

/// Most `env` overrides taken per call.
pub const MAX_ENV: usize = 64;

/// How commands on the gateway host are approved (`tools.exec.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecMode {
    /// No command runs on the gateway host.
    Deny,
    /// Simple commands whose program is on the gateway's exec allowlist; a miss is denied.
    Allowlist,
    /// As `Allowlist`, but a miss (or any command, with `ask_always`) waits for a human's
    /// `/approve` or `exec.approval.resolve`.
    Ask,
    /// Any command, with the gateway's shell.
    Full,
}

/// Where `host: "auto"` runs (`tools.exec.host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecHost {
    /// The gateway host when this run may use it, else a node.
    Auto,
    /// Always the gateway host.
    Gateway,
    /// Always a node.
    Node,
}

impl ExecHost {
    fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Gateway => "gateway",
            Self::Node => "node",
        }
    }
}

/// `tools.exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSettings {
    /// Approval of gateway-host commands.
    pub mode: ExecMode,
    /// What `mode` was written as (`ask`, `auto`, legacy pairs), for messages.
    pub mode_name: String,
    /// Legacy `ask: "always"`: every command waits for a human.
    pub ask_always: bool,
    /// `tools.exec.host`.
    pub host: ExecHost,
    /// `tools.exec.node`: the node `host=node` commands run on.
    pub node: Option<String>,
    /// `tools.exec.timeoutSeconds` (`None`: `0`, no exec timeout; the run's limit stays).
    pub timeout: Option<Duration>,
    /// `tools.exec.pathPrepend`: directories put before `PATH` on the gateway host.
    pub path_prepend: Vec<PathBuf>,
    /// `tools.exec.notifyOnExit` (default true): a background command's end is a system
    /// event of its session and wakes a turn there ([`crate::registry::exec_wake`]).
    pub notify_on_exit: bool,
}

impl Default for ExecSettings {
    fn default() -> Self {
        Self {
            mode: ExecMode::Deny,
            mode_name: "deny (default)".into(),
            ask_always: false,
            host: ExecHost::Auto,
            node: None,
            timeout: Some(DEFAULT_TIMEOUT),
            path_prepend: Vec::new(),
            notify_on_exit: true,
        }
    }
}

/// The raw `tools.exec` keys this gateway reads.
#[derive(Debug, Clone, Default)]
pub struct ExecKeys<'a> {
    /// `host`.
    pub host: Option<&'a str>,
    /// `mode`.
    pub mode: Option<&'a str>,
    /// Legacy `security`.
    pub security: Option<&'a str>,
    /// Legacy `ask`.
    pub ask: Option<&'a str>,
    /// `node`.
    pub node: Option<&'a str>,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<f64>,
    /// `pathPrepend` (`~/` is expanded with `home`).
    pub path_prepend: &'a [String],
    /// The home directory for `~/`.
    pub home: Option<&'a Path>,
    /// `notifyOnExit`.
    pub notify_on_exit: Option<bool>,
}

impl ExecSettings {
    /// Parses `tools.exec`; `Err` names the key and the fix.
    pub fn parse(k: &ExecKeys<'_>) -> Result<Self, String> {
        let host = match k.host.map(|h| h.trim().to_ascii_lowercase()).as_deref() {
            None | Some("auto") => ExecHost::Auto,
            Some("gateway") => ExecHost::Gateway,
            Some("node") => ExecHost::Node,
            Some("sandbox") => {
                return Err("tools.exec.host is \"sandbox\", but openclaw-rs has no sandbox runtime. Fix: use \"gateway\" (with tools.exec.mode) or \"node\", or leave it \"auto\"".into());
            }
            Some(other) => {
                return Err(format!(
                    "tools.exec.host is {other:?}. Fix: use \"auto\", \"gateway\" or \"node\""
                ));
            }
        };
        let mut s = Self {
            host,
            ..Self::default()
        };
        let legacy = k.security.is_some() || k.ask.is_some();
        if let Some(m) = k.mode {
            if legacy {
                return Err("tools.exec.mode is set together with the legacy tools.exec.security/ask. Fix: keep only mode (security \"full\" + ask \"off\" is mode \"full\"; \"allowlist\" + \"on-miss\" is \"ask\")".into());
            }
            let m = m.trim().to_ascii_lowercase();
            s.mode = match m.as_str() {
                "deny" => ExecMode::Deny,
                "allowlist" => ExecMode::Allowlist,
                // No reviewer model here: what it would review asks a human.
                "ask" | "auto" => ExecMode::Ask,
                "full" => ExecMode::Full,
                other => {
                    return Err(format!(
                        "tools.exec.mode is {other:?}. Fix: use \"deny\", \"allowlist\", \"ask\", \"auto\" or \"full\""
                    ));
                }
            };
            s.mode_name = m;
        } else if legacy {
            let security = k.security.map(|v| v.trim().to_ascii_lowercase());
            let ask = k.ask.map(|v| v.trim().to_ascii_lowercase());
            let security_mode = match security.as_deref() {
                None | Some("full") => ExecMode::Full,
                Some("allowlist") => ExecMode::Allowlist,
                Some("deny") => ExecMode::Deny,
                Some(other) => {
                    return Err(format!(
                        "tools.exec.security is {other:?}. Fix: use tools.exec.mode (\"deny\", \"allowlist\", \"ask\" or \"full\")"
                    ));
                }
            };
            s.mode = match ask.as_deref() {
                None | Some("off") => security_mode,
                // With `full` nothing misses.
                Some("on-miss") if security_mode == ExecMode::Full => ExecMode::Full,
                Some("on-miss" | "always") if security_mode == ExecMode::Deny => ExecMode::Deny,
                Some("on-miss") => ExecMode::Ask,
                Some("always") => {
                    s.ask_always = true;
                    ExecMode::Ask
                }
                Some(other) => {
                    return Err(format!(
                        "tools.exec.ask is {other:?}. Fix: use tools.exec.mode (\"deny\", \"allowlist\", \"ask\" or \"full\")"
                    ));
                }
            };
            s.mode_name = format!(
                "security {} / ask {}",
                security.as_deref().unwrap_or("full"),
                ask.as_deref().unwrap_or("off")
            );
        }
        s.node = k
            .node
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        s.timeout = match k.timeout_seconds {
            None => Some(DEFAULT_TIMEOUT),
            Some(0.0) => None,
            Some(t) if t.is_finite() && t > 0.0 && t <= 7.0 * 86_400.0 => {
                Some(Duration::from_secs_f64(t))
            }
            Some(t) => {
                return Err(format!(
                    "tools.exec.timeoutSeconds is {t}. Fix: a number of seconds from 1 to 604800, or 0 for no exec timeout"
                ));
            }
        };
        s.notify_on_exit = k.notify_on_exit.unwrap_or(true);
        for d in k.path_prepend {
            let p = match (d.strip_prefix("~/"), k.home) {
                (Some(rest), Some(home)) => home.join(rest),
                _ => PathBuf::from(d),
            };
            if !p.is_absolute() || d.contains(':') {
                return Err(format!(
                    "tools.exec.pathPrepend entry {d:?} is not an absolute directory. Fix: use absolute paths (or ~/…) without ':'"
                ));
            }
            s.path_prepend.push(p);
        }
        Ok(s)
    }
}

/// Why a command cannot be taken as one simple command.
fn not_simple(what: &str) -> String {
    format!("{what}: only one simple command runs here (no shell operators, expansions or globs)")
}

/// Splits `command` into an argv the way a POSIX shell would for one **simple** command:
/// words separated by blanks, `'…'`, `"…"` and `\` quoting. Anything that would need a
/// shell (operators `| & ; < > ( )`, `$` and backquote expansions, globs `* ? [`, `~`,
/// braces, comments, newlines, a leading `VAR=value`) is refused, so the argv is exactly
/// what the shell would have run.
pub fn simple_argv(command: &str) -> Result<Vec<String>, String> {
    let mut argv = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    argv.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) if c.is_control() && c != '\t' => {
                            return Err(not_simple(&format!("the control character {c:?}")));
                        }
                        Some(c) => word.push(c),
                        None => return Err("an unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c @ ('$' | '`')) => {
                                return Err(not_simple(&format!("an escaped {c} in quotes")));
                            }
                            Some(c) if c.is_control() => {
                                return Err(not_simple(&format!("the control character {c:?}")));
                            }
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("an unterminated \" quote".into()),
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(not_simple(&format!("a {c} expansion")));
                        }
                        Some(c) if c.is_control() && c != '\t' => {
                            return Err(not_simple(&format!("the control character {c:?}")));
                        }
                        Some(c) => word.push(c),
                        None => return Err("an unterminated \" quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                None => return Err(not_simple("a trailing backslash")),
                Some(c) if c.is_control() => {
                    return Err(not_simple(&format!("the control character {c:?}")));
                }
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
            },
            '|' | '&' | ';' | '<' | '>' | '(' | ')' => {
                return Err(not_simple(&format!("the shell operator {c:?}")));
            }
            '$' | '`' => return Err(not_simple(&format!("a {c} expansion"))),
            '*' | '?' | '[' => return Err(not_simple(&format!("the glob {c:?}"))),
            '{' | '}' => return Err(not_simple(&format!("the brace {c:?}"))),
            '\n' | '\r' => return Err(not_simple("a line break")),
            '~' | '#' if !in_word => return Err(not_simple(&format!("a leading {c:?}"))),
            c if c.is_control() => {
                return Err(not_simple(&format!("the control character {c:?}")));
            }
            c => {
                if c == '=' && argv.is_empty() && !word.contains('/') {
                    return Err(not_simple("a leading VAR=value assignment"));
                }
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        argv.push(word);
    }
    if argv.first().is_none_or(String::is_empty) {
        return Err("an empty command".into());
    }
    Ok(argv)
}

/// The tool's schema (OpenClaw's parameter names).
pub fn spec(gateway: bool, node: bool) -> ToolSpec {
    let hosts = match (gateway, node) {
        (true, true) => "the gateway host (default) or a node (`host: \"node\"`)",
        (true, false) => "the gateway host",
        _ => "a node (the user's device)",
    };
    ToolSpec {
        name: "exec".into(),
        description: format!(
            "Run a shell command on {hosts} and get its exit code and output. On the gateway host a \
             command still running after yieldMs continues in the background (status \"running\", a sessionId for the process tool)."
        ),
        parameters: json!({
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "Shell command to run."},
                "workdir": {"type": "string", "description": "Working directory (default: the workspace on the gateway host, the node's own on a node)."},
                "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Environment overrides (PATH and loader variables are refused)."},
                "timeoutSeconds": {"type": "number", "description": "Kill the command after this many seconds (0: no exec timeout)."},
                "host": {"type": "string", "enum": ["auto", "gateway", "node"]},
                "yieldMs": {"type": "number", "description": "Gateway host: after this many ms (default 10000) a command still running continues in the background; follow it with the process tool."},
                "background": {"type": "boolean", "description": "Gateway host: start in the background at once."},
                "node": {"type": "string", "description": "Node id or name when host=node."}
            },
            "required": ["command"]
        }),
    }
}

/// What one run may do with `exec`.
#[derive(Clone)]
pub struct ExecAccess {
    /// The settings in force when the run started.
    pub settings: std::sync::Arc<ExecSettings>,
    /// The gateway host (set only when this run may run commands there).
    pub gateway: Option<std::rc::Rc<dyn crate::ports::CommandHost>>,
    /// The run's agent policy grants `system.run` on nodes.
    pub node: bool,
    /// Default working directory on the gateway host (the workspace).
    pub workdir: PathBuf,
    /// Where gateway-host commands go when they outlast `yieldMs` (set with `gateway`).
    pub processes: Option<std::rc::Rc<crate::exec_process::ProcessTable>>,
    /// The eligible skills' variables for gateway-host commands (set when the run's skills
    /// are known).
    pub skill_env: std::collections::BTreeMap<String, String>,
}

impl ExecAccess {
    /// Whether the tool is offered at all.
    pub fn offered(&self) -> bool {
        self.gateway.is_some() || self.node
    }
}

/// Runs `req` on the gateway host; one still running after the call's `yieldMs` goes to
/// the background (see [`crate::exec_process`]) and the answer says how to follow it.
async fn drive(
    port: &std::rc::Rc<dyn crate::ports::CommandHost>,
    access: &ExecAccess,
    ctx: &CallCtx<'_>,
    args: &Args,
    req: GatewayExec,
) -> Value {
    use crate::exec_process::{AbortOnDrop, LiveOutput, Running};
    let Some(table) = access.processes.as_ref() else {
        return port.run(req, None).await;
    };
    let live = std::rc::Rc::new(std::cell::RefCell::new(LiveOutput::default()));
    let (tx, done) = tokio::sync::watch::channel(None);
    let fut = port.run(req, Some(live.clone()));
    let task = actix_web::rt::spawn(async move {
        let v = fut.await;
        let _ = tx.send(Some(v));
    });
    // Dropped while waiting (the run stopped): the command is killed.
    let mut guard = AbortOnDrop(Some(Running {
        output: live.clone(),
        done,
        task,
    }));
    let mut limit = args.yield_for;
    loop {
        let Some(running) = guard.0.as_mut() else {
            return fail("exec lost track of its command");
        };
        if let Some(v) = running.wait(limit).await {
            return v;
        }
        let Some(running) = guard.0.take() else {
            return fail("exec lost track of its command");
        };
        let done = running.done.clone();
        match table.adopt(&args.command, ctx.session_key, running) {
            Ok(id) => {
                if access.settings.notify_on_exit {
                    notify_on_exit(ctx, &id, done, live.clone());
                }
                let output = live.borrow().tail();
                return json!({
                    "ok": true, "status": "running", "sessionId": id, "host": "gateway",
                    "output": output,
                    "note": format!("still running after {} ms: it continues in the background. Use the process tool (action poll, sessionId {id}) to follow it, kill to stop it.", args.yield_for.as_millis()),
                });
            }
            // No room in the background: keep waiting here.
            Err(running) => {
                guard.0 = Some(running);
                limit = Duration::from_secs(3600);
            }
        }
    }
}

/// When the background command `id` ends (not when it is killed), its session gets
/// OpenClaw's completion event, `Exec completed (<id>, code 0) :: <last output>` (or
/// `Exec failed (<id>, code N | signal SIGKILL) …`), and a turn is woken there to tell the
/// user (see [`crate::registry::exec_wake`]). A success without output is not announced
/// (OpenClaw's `notifyOnExitEmptySuccess` default).
fn notify_on_exit(
    ctx: &CallCtx<'_>,
    id: &str,
    mut done: tokio::sync::watch::Receiver<Option<Value>>,
    live: std::rc::Rc<std::cell::RefCell<crate::exec_process::LiveOutput>>,
) {
    let registry = ctx.registry.clone();
    let session_key = ctx.session_key.to_owned();
    let id = id.to_owned();
    actix_web::rt::spawn(async move {
        let result = match done.wait_for(Option::is_some).await {
            Ok(v) => v.clone(),
            Err(_) => return,
        };
        let Some(result) = result else { return };
        let tail = live.borrow().tail();
        let Some(text) = completion_event(&id, &result, &tail) else {
            return;
        };
        registry.do_send(crate::registry::exec_wake::ExecCompleted { session_key, text });
    });
}

/// Most characters of output in a completion event (its end).
const EVENT_OUTPUT_CHARS: usize = 2_000;

/// OpenClaw's completion event of command `id` with `result` and output `tail` (`None`: a
/// success without output, not announced).
pub fn completion_event(id: &str, result: &Value, tail: &str) -> Option<String> {
    let code = result.get("exitCode").and_then(Value::as_i64);
    let timed_out = result.get("timedOut").and_then(Value::as_bool) == Some(true);
    let (action, status) = match code {
        Some(0) => ("completed", "code 0".to_owned()),
        Some(c) => ("failed", format!("code {c}")),
        None if timed_out => ("failed", "signal SIGKILL".to_owned()),
        None => ("failed", "signal unknown".to_owned()),
    };
    let out = tail.trim();
    if out.is_empty() && code == Some(0) {
        return None;
    }
    let mut text = format!("Exec {action} ({id}, {status})");
    if !out.is_empty() {
        let n = out.chars().count();
        text.push_str(" :: ");
        if n > EVENT_OUTPUT_CHARS {
            text.push('…');
            text.extend(out.chars().skip(n - EVENT_OUTPUT_CHARS));
        } else {
            text.push_str(out);
        }
    }
    Some(text)
}

/// The system prompt's note on `exec` for this run.
pub fn system_note(access: &ExecAccess) -> String {
    let mut s = String::from("You can run shell commands with the `exec` tool");
    match (&access.gateway, access.node) {
        (Some(_), true) => s.push_str(
            " on the gateway host (the default; it starts in your workspace) or on a node (`host: \"node\"`, the user's device)",
        ),
        (Some(_), false) => s.push_str(" on the gateway host (it starts in your workspace)"),
        _ => s.push_str(" on a node (the user's device)"),
    }
    s.push_str(". It returns the exit code and output when the command ends.");
    match (&access.gateway, access.settings.mode) {
        (Some(_), ExecMode::Allowlist) => s.push_str(" On the gateway host only allowlisted programs run, one simple command at a time (no pipes, redirections, `$` or globs)."),
        (Some(_), ExecMode::Ask) => s.push_str(" On the gateway host a command the allowlist does not cover waits for the user's approval (the call returns once they answer)."),
        _ => {}
    }
    s
}

/// What a call runs with.
pub struct CallCtx<'a> {
    /// The registry (nodes).
    pub registry: &'a Addr<Registry>,
    /// The run (idempotency keys, `system.run`'s `runId`).
    pub run_id: &'a str,
    /// The session (`system.run`'s `sessionKey`).
    pub session_key: &'a str,
    /// Whose node policy applies.
    pub sender: Option<&'a str>,
    /// The tool call's id.
    pub call_id: &'a str,
    /// Where the run came from (an approval is asked in its chat).
    pub origin: &'a crate::registry::runs::RunOrigin,
}

fn fail(error: impl Into<String>) -> Value {
    json!({"ok": false, "error": error.into()})
}

/// A refusal: nothing ran because a policy said no (`denied`, the audit ledger's
/// `blocked`; the model reads it as well).
fn deny(error: impl Into<String>) -> Value {
    json!({"ok": false, "denied": true, "error": error.into()})
}

/// A variable name as a shell takes it: 1–256 of `A-Za-z0-9_`, not starting with a digit
/// (an `exec` call's `env`, a skill's `env`).
pub fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Environment names a call (or a skill's `env`) may never set: `PATH` and loader/shell
/// start-up hooks.
pub fn forbidden_env(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper == "PATH"
        || upper.starts_with("LD_")
        || upper.starts_with("DYLD_")
        || matches!(
            upper.as_str(),
            "BASH_ENV" | "ENV" | "SHELLOPTS" | "BASHOPTS" | "IFS" | "PS4" | "NODE_OPTIONS"
        )
        || upper.starts_with("BASH_FUNC_")
}

/// The parsed arguments of one call.
struct Args {
    command: String,
    workdir: Option<String>,
    env: BTreeMap<String, String>,
    timeout: Option<Option<Duration>>,
    host: Option<ExecHost>,
    node: Option<String>,
    /// How long to wait before a gateway-host command goes to the background.
    yield_for: Duration,
}

fn parse_args(arguments: &str) -> Result<Args, String> {
    let v: Value = serde_json::from_str(arguments)
        .ok()
        .filter(Value::is_object)
        .ok_or("tool arguments must be a JSON object")?;
    let command = v
        .get("command")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or("command required: the shell command to run")?;
    if command.len() > MAX_COMMAND_BYTES {
        return Err(format!(
            "command is {} bytes; at most {MAX_COMMAND_BYTES}. Write a script with the write tool and run that",
            command.len()
        ));
    }
    if command.contains('\0') {
        return Err("command contains a NUL character".into());
    }
    let workdir = match v.get("workdir").or_else(|| v.get("cwd")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if s.contains('\0') => {
            return Err("workdir contains a NUL character".into());
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("workdir must be a string".into()),
    };
    let mut env = BTreeMap::new();
    match v.get("env") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            if m.len() > MAX_ENV {
                return Err(format!("env has {} entries; at most {MAX_ENV}", m.len()));
            }
            for (k, val) in m {
                let val = val.as_str().ok_or("env values must be strings")?;
                if !valid_env_name(k) || val.contains('\0') || val.len() > 32 * 1024 {
                    return Err(format!("invalid env entry {k:?}"));
                }
                if forbidden_env(k) {
                    return Err(format!(
                        "env {k} may not be set by exec (PATH and loader or shell start-up variables are refused)"
                    ));
                }
                env.insert(k.clone(), val.to_owned());
            }
        }
        Some(_) => return Err("env must be an object of strings".into()),
    }
    let timeout = match v.get("timeoutSeconds") {
        None | Some(Value::Null) => None,
        Some(t) => match t.as_f64() {
            Some(0.0) => Some(None),
            Some(t) if t.is_finite() && t > 0.0 && t <= 7.0 * 86_400.0 => {
                Some(Some(Duration::from_secs_f64(t)))
            }
            _ => return Err("timeoutSeconds must be a number of seconds (0: none)".into()),
        },
    };
    let host = match v.get("host").and_then(Value::as_str).map(str::trim) {
        None | Some("") => None,
        Some(h) => Some(match h.to_ascii_lowercase().as_str() {
            "auto" => ExecHost::Auto,
            "gateway" => ExecHost::Gateway,
            "node" => ExecHost::Node,
            "sandbox" => {
                return Err("host=sandbox: there is no sandbox runtime on this gateway; use host=gateway or host=node".into());
            }
            _ => {
                return Err(format!(
                    "host must be auto, gateway or node (not a host name: {h:?})"
                ));
            }
        }),
    };
    let node = v
        .get("node")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let yield_for = if v.get("background").and_then(Value::as_bool) == Some(true) {
        Duration::ZERO
    } else {
        match v.get("yieldMs") {
            None | Some(Value::Null) => crate::exec_process::DEFAULT_YIELD,
            Some(y) => match y.as_f64() {
                Some(ms) if ms.is_finite() && ms >= 0.0 => {
                    Duration::from_millis(ms.min(3_600_000.0) as u64)
                }
                _ => return Err("yieldMs must be a number of milliseconds".into()),
            },
        }
    };
    Ok(Args {
        command: command.to_owned(),
        workdir,
        env,
        timeout,
        host,
        node,
        yield_for,
    })
}

/// Checks a call's arguments as [`run`] does (the fuzz target's entry); `Err` is the error
/// the model gets.
pub fn check_arguments(arguments: &str) -> Result<(), String> {
    parse_args(arguments).map(|_| ())
}

/// Runs one `exec` call; the result is always a JSON object the model can read.
pub async fn run(ctx: &CallCtx<'_>, access: &ExecAccess, arguments: &str) -> Value {
    let args = match parse_args(arguments) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let s = &*access.settings;
    // A per-call host may pick gateway or node only from a configured `auto`.
    let wanted = match (s.host, args.host.unwrap_or(ExecHost::Auto)) {
        (ExecHost::Auto, call) => call,
        (configured, ExecHost::Auto) => configured,
        (configured, call) if configured == call => call,
        (configured, call) => {
            return deny(format!(
                "exec host not allowed: host={} was asked, but tools.exec.host is {}",
                call.name(),
                configured.name()
            ));
        }
    };
    let host = match wanted {
        ExecHost::Auto if access.gateway.is_some() => ExecHost::Gateway,
        ExecHost::Auto => ExecHost::Node,
        h => h,
    };
    let timeout = args.timeout.unwrap_or(s.timeout);
    let started = std::time::Instant::now();
    let out = match host {
        ExecHost::Gateway => run_on_gateway(ctx, access, args, timeout).await,
        _ => run_on_node(ctx, access, args, timeout).await,
    };
    record_exec(host, &out, started.elapsed());
    out
}

/// An `exec` call's end in the stability ring: where it ran, how it ended (`completed`,
/// `failed`, `background`, or `refused`: it did not run), its exit code and time. Never
/// the command or its output.
fn record_exec(host: ExecHost, out: &Value, took: Duration) {
    let outcome = if out.get("status").and_then(Value::as_str) == Some("running") {
        "background"
    } else if out.get("ok").and_then(Value::as_bool) == Some(true) {
        "completed"
    } else if out.get("exitCode").is_some() || out.get("timedOut").is_some() {
        "failed"
    } else {
        "refused"
    };
    let mut r = crate::stability::Record::of("exec.process.completed")
        .target(if host == ExecHost::Gateway {
            "gateway"
        } else {
            "node"
        })
        .outcome(outcome)
        .duration(took);
    if let Some(code) = out.get("exitCode").and_then(Value::as_i64) {
        r = r.exit_code(code);
    }
    if out.get("timedOut").and_then(Value::as_bool) == Some(true) {
        r = r.reason("timeout");
    }
    crate::stability::record(r);
}

/// The mode in force on the gateway host: the stricter of the config's (`mode`, with
/// `ask_always`) and the host approvals document's (OpenClaw's rule: the lower security,
/// the more insistent ask; a field the document leaves out keeps the config's).
pub fn effective_mode(
    mode: ExecMode,
    ask_always: bool,
    host: &crate::ports::HostApprovals,
) -> (ExecMode, bool) {
    use crate::ports::{HostAsk, HostSecurity};
    let (security, ask) = match mode {
        ExecMode::Deny => (HostSecurity::Deny, HostAsk::Off),
        ExecMode::Allowlist => (HostSecurity::Allowlist, HostAsk::Off),
        ExecMode::Ask if ask_always => (HostSecurity::Allowlist, HostAsk::Always),
        ExecMode::Ask => (HostSecurity::Allowlist, HostAsk::OnMiss),
        ExecMode::Full => (HostSecurity::Full, HostAsk::Off),
    };
    let security = host.security.map_or(security, |h| h.min(security));
    let ask = host.ask.map_or(ask, |h| h.max(ask));
    match (security, ask) {
        (HostSecurity::Deny, _) => (ExecMode::Deny, false),
        (HostSecurity::Allowlist, HostAsk::Off) => (ExecMode::Allowlist, false),
        (HostSecurity::Allowlist, HostAsk::OnMiss) => (ExecMode::Ask, false),
        // With `full` nothing misses: `on-miss` never asks.
        (HostSecurity::Full, HostAsk::Off | HostAsk::OnMiss) => (ExecMode::Full, false),
        (_, HostAsk::Always) => (ExecMode::Ask, true),
    }
}

async fn run_on_gateway(
    ctx: &CallCtx<'_>,
    access: &ExecAccess,
    args: Args,
    timeout: Option<Duration>,
) -> Value {
    let s = &*access.settings;
    let Some(port) = access.gateway.as_ref() else {
        let why = if s.mode == ExecMode::Deny {
            format!(
                "exec on the gateway host is off (tools.exec.mode is {}). Fix: the owner sets tools.exec.mode to \"full\", \"ask\" or \"allowlist\"",
                s.mode_name
            )
        } else {
            "exec on the gateway host is only for the owner's private sessions (not group chats, open DMs, or cron jobs made from a chat)".to_owned()
        };
        return deny(why);
    };
    let cwd = match &args.workdir {
        None => access.workdir.clone(),
        Some(w) if w == "." => access.workdir.clone(),
        Some(w) if Path::new(w).is_absolute() => PathBuf::from(w),
        Some(w) => access.workdir.join(w),
    };
    // The gateway host's own exec approvals document can only tighten the config.
    let agent = crate::agents::key_agent(ctx.session_key).unwrap_or("main");
    let host = match port.host_approvals(agent).await {
        Ok(h) => h,
        Err(e) => return deny(format!("exec denied: {e}")),
    };
    let (mode, ask_always) = effective_mode(s.mode, s.ask_always, &host);
    let mode_name = if (mode, ask_always) == (s.mode, s.ask_always) {
        s.mode_name.clone()
    } else {
        format!(
            "{}, tightened by the host's exec approvals {}",
            s.mode_name, host.source
        )
    };
    if mode == ExecMode::Deny {
        return deny(format!(
            "exec on the gateway host is off: the host's exec approvals ({}) say security \"deny\" for agent {agent} (tools.exec.mode is {}). Fix: the owner changes them with `openclaw approvals set --gateway`",
            host.source, s.mode_name
        ));
    }
    let started = std::time::Instant::now();
    let exec = |argv: Option<Vec<String>>, approved: bool, remember: bool| GatewayExec {
        command: args.command.clone(),
        argv,
        cwd: cwd.clone(),
        env: args.env.clone(),
        skill_env: access.skill_env.clone(),
        timeout,
        path_prepend: s.path_prepend.clone(),
        approved,
        remember,
        host_patterns: host.patterns.clone(),
    };
    let simple = simple_argv(&args.command);
    let mut res = match (mode, simple) {
        (ExecMode::Full, _) => drive(port, access, ctx, &args, exec(None, false, false)).await,
        (ExecMode::Allowlist | ExecMode::Deny, Err(e)) => {
            return deny(format!(
                "exec denied: {e} (tools.exec.mode is {mode_name}). Run the program directly, or the owner sets tools.exec.mode to \"ask\" or \"full\""
            ));
        }
        (ExecMode::Allowlist | ExecMode::Deny, Ok(argv)) => {
            drive(port, access, ctx, &args, exec(Some(argv), false, false)).await
        }
        (ExecMode::Ask, simple) => {
            let simple = simple.ok();
            let tried = match (&simple, ask_always) {
                (Some(argv), false) => {
                    let res = drive(
                        port,
                        access,
                        ctx,
                        &args,
                        exec(Some(argv.clone()), false, false),
                    )
                    .await;
                    if res.get("allowlistMiss") == Some(&json!(true)) {
                        None
                    } else {
                        Some(res)
                    }
                }
                _ => None,
            };
            match tried {
                Some(res) => res,
                None => {
                    // Allow-always writes an allowlist entry: only for a simple command whose
                    // arguments hold no pattern characters (the entry would allow more).
                    let always = simple
                        .as_ref()
                        .is_some_and(|a| a.iter().skip(1).all(|w| !w.contains(['*', '?'])));
                    match ask_human(ctx, &args, &cwd, always).await {
                        // No answer (expired, no route): denied, as OpenClaw.
                        Err(e) => return deny(e),
                        Ok(crate::registry::approvals::Decision::Deny) => {
                            return deny(
                                "exec denied: the user answered deny; nothing ran. Do not retry it; ask the user what to do instead",
                            );
                        }
                        Ok(crate::registry::approvals::Decision::AllowAlways) if always => {
                            drive(port, access, ctx, &args, exec(simple, true, true)).await
                        }
                        Ok(_) => drive(port, access, ctx, &args, exec(None, true, false)).await,
                    }
                }
            }
        }
    };
    if let Value::Object(m) = &mut res {
        if m.remove("allowlistMiss") == Some(json!(true)) {
            m.insert("denied".into(), json!(true));
        }
        m.insert("host".into(), json!("gateway"));
        m.insert("cwd".into(), json!(cwd.display().to_string()));
        m.insert(
            "durationMs".into(),
            json!(started.elapsed().as_millis() as u64),
        );
    }
    res
}

/// The command as the approval prompt shows it: exactly its text, except that characters
/// which could hide what it does (control characters other than newline and tab, and
/// Unicode's invisible and direction-changing formatting characters) are shown escaped.
pub fn display_command(command: &str) -> String {
    let mut out = String::with_capacity(command.len());
    for c in command.chars() {
        let hidden = (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}');
        if hidden {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Asks a human to approve `args` (on the gateway host, in `cwd`): broadcast to operators,
/// shown in the run's chat. Waits for the answer; `Err` when it cannot be asked or nobody
/// answered in time.
async fn ask_human(
    ctx: &CallCtx<'_>,
    args: &Args,
    cwd: &Path,
    allow_always: bool,
) -> Result<crate::registry::approvals::Decision, String> {
    use crate::registry::approvals::{APPROVAL_TTL, AskedIn, RequestExecApproval};
    use crate::registry::runs::RunOrigin;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let env_keys: Vec<&String> = args.env.keys().collect();
    let (asked_in, chat) = match ctx.origin {
        RunOrigin::Channel { inbound, deliver } => (
            Some(AskedIn {
                channel: inbound.channel.clone(),
                account_id: inbound.account_id.clone(),
                sender_id: inbound.sender_id.to_string(),
            }),
            Some((inbound.target(), deliver.clone())),
        ),
        _ => (None, None),
    };
    let request = json!({
        "command": args.command,
        "cwd": cwd.display().to_string(),
        "host": "gateway",
        "security": "allowlist",
        "ask": "on-miss",
        "envKeys": if env_keys.is_empty() { Value::Null } else { json!(env_keys) },
        "agentId": crate::agents::key_agent(ctx.session_key).unwrap_or("main"),
        "sessionKey": ctx.session_key,
        "runId": ctx.run_id,
        "toolCallId": ctx.call_id,
        "turnSourceChannel": asked_in.as_ref().map(|a| a.channel.clone()),
    });
    let (id, _) = ctx
        .registry
        .send(RequestExecApproval {
            request,
            asked_in,
            allow_always,
            tx,
        })
        .await
        .map_err(|_| "gateway is shutting down".to_owned())??;
    if let Some((target, deliver)) = chat {
        let mut text = format!(
            "🔐 Approval needed to run on the gateway host:\n\n{}\n\nin {}",
            display_command(&args.command),
            cwd.display()
        );
        if !args.env.is_empty() {
            text.push_str("\nwith environment:");
            for (k, v) in &args.env {
                text.push_str(&format!("\n{k}={}", display_command(v)));
            }
        }
        text.push_str(&format!("\n\nReply /approve {id} allow-once"));
        if allow_always {
            text.push_str(&format!(", /approve {id} allow-always"));
        }
        text.push_str(&format!(
            " or /approve {id} deny (expires in {} min).",
            APPROVAL_TTL.as_secs() / 60
        ));
        // OpenClaw's buttons (Telegram's inline keyboard; a press answers as `/approve`).
        use crate::registry::approvals::Decision;
        let button = |label: &str, d: Decision| {
            crate::channel::Button::callback(
                label,
                crate::channel::telegram::buttons::approval_data(&id, d),
            )
        };
        let mut row = vec![button("Allow Once", Decision::AllowOnce)];
        if allow_always {
            row.push(button("Allow Always", Decision::AllowAlways));
        }
        row.push(button("Deny", Decision::Deny));
        deliver.do_send(crate::channel::DeliverReply {
            inbound_id: None,
            target,
            reply_to: None,
            explicit_reply: false,
            silent: false,
            text,
            media: Vec::new(),
            recorded: None,
            buttons: vec![row],
            prefix: None,
        });
    }
    rx.await.map_err(|_| {
        format!(
            "exec approval {id} expired after {} min without an answer; nothing ran",
            APPROVAL_TTL.as_secs() / 60
        )
    })
}

/// The node `host=node` commands run on: the call's `node`, else `tools.exec.node`, else
/// the one connected node that offers `system.run`.
async fn pick_node(
    registry: &Addr<Registry>,
    wanted: Option<&str>,
) -> Result<(String, Option<String>), String> {
    let list = registry
        .send(ListNodes)
        .await
        .map_err(|_| "gateway is shutting down".to_owned())?;
    let eligible: Vec<_> = list
        .nodes
        .iter()
        .filter(|n| n.connected && n.commands.iter().any(|c| c == "system.run"))
        .collect();
    let ids = || {
        eligible
            .iter()
            .map(|n| match &n.display_name {
                Some(d) => format!("{} ({d})", n.node_id),
                None => n.node_id.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(w) => {
            let id = crate::agent_run::resolve_node(registry, w).await?;
            match eligible.iter().find(|n| n.node_id == id) {
                Some(n) => Ok((n.node_id.clone(), n.platform.clone())),
                None => Err(format!(
                    "exec host=node requires a connected node that supports system.run ({w} is not eligible; eligible node ids: {})",
                    if eligible.is_empty() { "none".to_owned() } else { ids() }
                )),
            }
        }
        None => match eligible.as_slice() {
            [one] => Ok((one.node_id.clone(), one.platform.clone())),
            [] => Err("exec host=node requires a connected node that supports system.run (none available). Start or reconnect the node host".into()),
            _ => Err(format!(
                "exec host=node requires a node when multiple executable nodes are connected: {}. Set node, or tools.exec.node",
                ids()
            )),
        },
    }
}

async fn run_on_node(
    ctx: &CallCtx<'_>,
    access: &ExecAccess,
    args: Args,
    timeout: Option<Duration>,
) -> Value {
    let s = &*access.settings;
    if !access.node {
        return deny(
            "exec on a node needs system.run for agent runs. Fix: the owner lists \"system.run\" in agents.defaults.tools.nodes.allowCommands (or a sender's override)",
        );
    }
    let wanted = args.node.as_deref().or(s.node.as_deref());
    let (node_id, platform) = match pick_node(ctx.registry, wanted).await {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    if let Some(w) = &args.workdir
        && !Path::new(w).is_absolute()
    {
        return fail(format!(
            "workdir {w:?} must be an absolute path on the node"
        ));
    }
    // A simple command goes as its argv, so a node allowlist of programs applies to it; a
    // shell command goes through the node's shell, as OpenClaw sends it.
    let windows = platform
        .as_deref()
        .is_some_and(|p| p.trim().to_ascii_lowercase().starts_with("win"));
    let mut params = match simple_argv(&args.command) {
        Ok(argv) if !windows => json!({"command": argv}),
        _ if windows => {
            json!({"command": ["cmd.exe", "/d", "/s", "/c", args.command], "rawCommand": args.command})
        }
        _ => json!({"command": ["/bin/sh", "-lc", args.command], "rawCommand": args.command}),
    };
    // The node's own limit; the invoke waits a little longer for its answer.
    let run_ms = timeout.map_or(60 * 60 * 1000, |t| t.as_millis().min(60 * 60 * 1000) as u64);
    params["timeoutMs"] = json!(run_ms);
    if let Some(w) = &args.workdir {
        params["cwd"] = json!(w);
    }
    if !args.env.is_empty() {
        params["env"] = json!(args.env);
    }
    params["agentId"] = json!("main");
    params["sessionKey"] = json!(ctx.session_key);
    params["runId"] = json!(ctx.run_id);
    let started = std::time::Instant::now();
    let res = ctx
        .registry
        .send(InvokeNodeCommand {
            node_id: node_id.clone(),
            command: "system.run".into(),
            params: Some(params),
            timeout_ms: run_ms.saturating_add(5_000),
            idempotency_key: format!("{}:{}", ctx.run_id, ctx.call_id),
            session_key: None,
            origin: InvokeOrigin::AgentRun {
                sender: ctx.sender.map(str::to_owned),
            },
        })
        .await;
    let duration = started.elapsed().as_millis() as u64;
    match res {
        Ok(Ok(v)) => {
            let p = v.payload_value();
            let exit_code = p.get("exitCode").cloned().unwrap_or(Value::Null);
            let timed_out = p.get("timedOut").and_then(Value::as_bool).unwrap_or(false);
            let success = p
                .get("success")
                .and_then(Value::as_bool)
                .unwrap_or(exit_code == json!(0) && !timed_out);
            let mut out = json!({
                "ok": success, "host": "node", "nodeId": node_id,
                "exitCode": exit_code, "timedOut": timed_out, "durationMs": duration,
                "stdout": p.get("stdout").cloned().unwrap_or(json!("")),
                "stderr": p.get("stderr").cloned().unwrap_or(json!("")),
            });
            if let Some(e) = p.get("error").filter(|e| !e.is_null()) {
                out["error"] = e.clone();
            }
            out
        }
        Ok(Err(e)) => {
            let mut out = json!({"ok": false, "host": "node", "nodeId": node_id, "durationMs": duration,
                "error": crate::agent_run::tool_error(&e)});
            if e.refused() {
                out["denied"] = json!(true);
            }
            out
        }
        Err(_) => fail("gateway is shutting down"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_approvals_only_tighten_the_config() {
        use crate::ports::{HostApprovals, HostAsk, HostSecurity};
        let h = |security, ask| HostApprovals {
            security,
            ask,
            ..HostApprovals::default()
        };
        use ExecMode::{Allowlist, Ask, Deny, Full};
        let none = h(None, None);
        for (mode, always) in [
            (Deny, false),
            (Allowlist, false),
            (Ask, false),
            (Ask, true),
            (Full, false),
        ] {
            assert_eq!(
                effective_mode(mode, always, &none),
                (mode, always),
                "{mode:?}"
            );
        }
        let cases = [
            // (config, host security, host ask) -> effective
            (
                (Full, false),
                Some(HostSecurity::Allowlist),
                None,
                (Allowlist, false),
            ),
            (
                (Full, false),
                Some(HostSecurity::Allowlist),
                Some(HostAsk::OnMiss),
                (Ask, false),
            ),
            ((Full, false), None, Some(HostAsk::OnMiss), (Full, false)),
            ((Full, false), None, Some(HostAsk::Always), (Ask, true)),
            ((Full, false), Some(HostSecurity::Deny), None, (Deny, false)),
            // Never looser than the config.
            (
                (Allowlist, false),
                Some(HostSecurity::Full),
                Some(HostAsk::Off),
                (Allowlist, false),
            ),
            (
                (Ask, false),
                Some(HostSecurity::Full),
                Some(HostAsk::Off),
                (Ask, false),
            ),
            ((Ask, true), None, Some(HostAsk::Off), (Ask, true)),
            ((Deny, false), Some(HostSecurity::Full), None, (Deny, false)),
            (
                (Allowlist, false),
                None,
                Some(HostAsk::OnMiss),
                (Ask, false),
            ),
        ];
        for (config, security, ask, want) in cases {
            assert_eq!(
                effective_mode(config.0, config.1, &h(security, ask)),
                want,
                "{config:?} {security:?} {ask:?}"
            );
        }
    }

    use super::*;

    fn keys() -> ExecKeys<'static> {
        ExecKeys::default()
    }

    #[test]
    fn completion_events_are_openclaws() {
        let ok = json!({"exitCode": 0, "timedOut": false});
        assert_eq!(
            completion_event("a1", &ok, "one\ntwo\n").as_deref(),
            Some("Exec completed (a1, code 0) :: one\ntwo")
        );
        assert_eq!(completion_event("a1", &ok, " \n"), None);
        let failed = json!({"exitCode": 2});
        assert_eq!(
            completion_event("a1", &failed, "").as_deref(),
            Some("Exec failed (a1, code 2)")
        );
        let timed_out = json!({"exitCode": null, "timedOut": true});
        let long = "x".repeat(5000);
        let e = completion_event("a1", &timed_out, &long).expect("event");
        assert!(
            e.starts_with("Exec failed (a1, signal SIGKILL) :: …x"),
            "{e}"
        );
        let out = e.split_once(" :: …").map_or("", |(_, o)| o);
        assert_eq!(out.chars().count(), 2000);
        assert!(crate::registry::exec_wake::is_completion(&e));
    }

    #[test]
    fn settings_default_to_deny_and_read_openclaws_keys() {
        let d = ExecSettings::parse(&keys()).expect("defaults");
        assert_eq!(d.mode, ExecMode::Deny);
        assert_eq!(d.host, ExecHost::Auto);
        assert_eq!(d.timeout, Some(DEFAULT_TIMEOUT));
        for (mode, want) in [
            ("full", ExecMode::Full),
            ("allowlist", ExecMode::Allowlist),
            ("ask", ExecMode::Ask),
            ("auto", ExecMode::Ask),
            ("deny", ExecMode::Deny),
        ] {
            let k = ExecKeys {
                mode: Some(mode),
                ..keys()
            };
            assert_eq!(ExecSettings::parse(&k).expect(mode).mode, want, "{mode}");
        }
        for (sec, ask, want) in [
            (Some("full"), Some("off"), ExecMode::Full),
            (Some("allowlist"), Some("on-miss"), ExecMode::Ask),
            (Some("full"), Some("always"), ExecMode::Ask),
            (Some("deny"), Some("always"), ExecMode::Deny),
            (Some("deny"), None, ExecMode::Deny),
            (None, Some("off"), ExecMode::Full),
        ] {
            let k = ExecKeys {
                security: sec,
                ask,
                ..keys()
            };
            assert_eq!(ExecSettings::parse(&k).expect("legacy").mode, want);
        }
        let home = PathBuf::from("/home/u");
        let pp = vec!["~/bin".to_owned(), "/opt/x/bin".to_owned()];
        let k = ExecKeys {
            host: Some("node"),
            node: Some(" phone "),
            timeout_seconds: Some(0.0),
            path_prepend: &pp,
            home: Some(&home),
            ..keys()
        };
        let s = ExecSettings::parse(&k).expect("full keys");
        assert_eq!(s.host, ExecHost::Node);
        assert_eq!(s.node.as_deref(), Some("phone"));
        assert_eq!(s.timeout, None);
        assert_eq!(
            s.path_prepend,
            vec![PathBuf::from("/home/u/bin"), PathBuf::from("/opt/x/bin")]
        );
    }

    #[test]
    fn bad_settings_name_the_key_and_the_fix() {
        let rel = vec!["bin".to_owned()];
        let cases = [
            (
                ExecKeys {
                    host: Some("sandbox"),
                    ..keys()
                },
                "tools.exec.host",
            ),
            (
                ExecKeys {
                    host: Some("box.local"),
                    ..keys()
                },
                "tools.exec.host",
            ),
            (
                ExecKeys {
                    mode: Some("yolo"),
                    ..keys()
                },
                "tools.exec.mode",
            ),
            (
                ExecKeys {
                    mode: Some("full"),
                    security: Some("full"),
                    ..keys()
                },
                "tools.exec.mode",
            ),
            (
                ExecKeys {
                    ask: Some("sometimes"),
                    ..keys()
                },
                "tools.exec.ask",
            ),
            (
                ExecKeys {
                    timeout_seconds: Some(-1.0),
                    ..keys()
                },
                "tools.exec.timeoutSeconds",
            ),
            (
                ExecKeys {
                    path_prepend: &rel,
                    ..keys()
                },
                "tools.exec.pathPrepend",
            ),
        ];
        for (k, key) in cases {
            let e = ExecSettings::parse(&k).expect_err(key);
            assert!(e.starts_with(key) && e.contains("Fix:"), "{e}");
        }
    }

    #[test]
    fn simple_commands_split_like_a_shell() {
        let ok = [
            ("ls -la", vec!["ls", "-la"]),
            ("  echo   'a  b'  \"c d\" ", vec!["echo", "a  b", "c d"]),
            (r#"printf "%s\n" 'x'"#, vec!["printf", r"%s\n", "x"]),
            (r#"echo "q\"q" \ x"#, vec!["echo", "q\"q", " x"]),
            ("echo a=b x~ x#y", vec!["echo", "a=b", "x~", "x#y"]),
            ("./bin/tool --k=v", vec!["./bin/tool", "--k=v"]),
            ("echo 🦀 日本", vec!["echo", "🦀", "日本"]),
            ("echo ''", vec!["echo", ""]),
        ];
        for (cmd, want) in ok {
            assert_eq!(simple_argv(cmd).expect(cmd), want, "{cmd}");
        }
        for bad in [
            "ls; rm -rf /",
            "ls | sh",
            "ls && x",
            "echo $(id)",
            "echo `id`",
            "echo \"$HOME\"",
            "echo ${X}",
            "cat < /etc/passwd",
            "echo x > f",
            "ls *",
            "ls ?",
            "ls [a]",
            "echo {a,b}",
            "FOO=1 ls",
            "~/bin/x",
            "# nothing",
            "ls\nrm x",
            "echo 'open",
            "echo \"open",
            "echo x\\",
            "",
            "   ",
            "(ls)",
            "ls &",
            "echo \u{7}",
            "echo 'a\nb'",
            "echo \"a\u{0}b\"",
            "echo \\\n",
        ] {
            assert!(simple_argv(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn the_approval_prompt_shows_hidden_characters() {
        assert_eq!(display_command("ls -l\n\tx"), "ls -l\n\tx");
        assert_eq!(
            display_command("echo \u{202E}fdp.exe\u{7}"),
            "echo \\u{202e}fdp.exe\\u{0007}"
        );
        assert_eq!(display_command("a\u{200B}b"), "a\\u{200b}b");
    }

    #[test]
    fn call_arguments_are_checked() {
        assert!(parse_args("[]").is_err());
        assert!(parse_args(r#"{"command": "  "}"#).is_err());
        let big = "x".repeat(MAX_COMMAND_BYTES + 1);
        assert!(parse_args(&json!({"command": big}).to_string()).is_err());
        for env in [
            json!({"PATH": "/tmp"}),
            json!({"LD_PRELOAD": "/tmp/x.so"}),
            json!({"ld_library_path": "/tmp"}),
            json!({"BASH_ENV": "/tmp/x"}),
            json!({"A=B": "x"}),
            json!({"1A": "x"}),
            json!({"A": 1}),
        ] {
            let a = json!({"command": "ls", "env": env}).to_string();
            assert!(parse_args(&a).is_err(), "{env}");
        }
        for host in ["sandbox", "example.com"] {
            let a = json!({"command": "ls", "host": host}).to_string();
            assert!(parse_args(&a).is_err(), "{host}");
        }
        let a = parse_args(
            &json!({"command": "ls", "env": {"GIT_PAGER": "cat"}, "timeoutSeconds": 0, "host": "Node", "node": "pi", "workdir": "sub"})
                .to_string(),
        )
        .expect("valid");
        assert_eq!(a.env.get("GIT_PAGER").map(String::as_str), Some("cat"));
        assert_eq!(a.timeout, Some(None));
        assert_eq!(a.host, Some(ExecHost::Node));
        assert_eq!(a.node.as_deref(), Some("pi"));
        assert_eq!(a.workdir.as_deref(), Some("sub"));
    }
}
