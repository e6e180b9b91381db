//! Config hot reload (`gateway.reload`, OpenClaw's `config/hot-reload`).
//!
//! The watcher polls the config file's identity (mtime, size, inode) every
//! [`POLL`] and waits until it has been unchanged for [`SETTLE`]: an editor's temp-write +
//! rename, or a truncate-then-write, is seen as one edit of the final file. SIGHUP checks
//! the file at once. The file is loaded exactly as at start (same `--config` path, same
//! environment and flag overrides, which still win), then checked as a whole with
//! [`gateway::prepare`]. An invalid edit is logged (`config reload skipped (invalid config)`
//! with the file, the key and the reason) and changes nothing: the last good config stays
//! in force, and the gateway never rewrites the file.
//!
//! A valid edit is compared with the config in force key by key (values are never logged)
//! and each changed key is classified ([`classify`]):
//!
//! - **hot** (`gateway.auth.*`: token, password, mode, rate limit; `gateway.trustedProxies`,
//!   `gateway.controlUi.*`, `gateway.nodes.*`, `channels.telegram` admission settings,
//!   `models.*`, `agents.*`, `logging.*`, `cron.*`, `tools.*`, `tts.*`): applied in place
//!   (`registry::reload::ApplyHotConfig`). When the shared secret changes, sessions that
//!   authenticated with the old secret are closed (1012, "gateway auth changed: reconnect
//!   with the new token or password"); sessions authenticated with a device token stay.
//! - **listener** (`gateway.port`, `gateway.bind`, `gateway.customBindHost`,
//!   `gateway.tls.*`): in `hybrid`, an in-process restart of the HTTP surface (see
//!   `gateway::restart`): clients get `shutdown {reason, restartExpectedMs}`, the process
//!   and its state stay.
//! - **a Telegram account's bot** (its `botToken`, `tokenFile`, `apiRoot`, webhook, or any
//!   other key of an account that is neither added nor removed): the running account swaps
//!   its bot in place (`channel::telegram::BotSwap`): it keeps its state, pending messages
//!   and registry handle, drops the old bot's calls, and identifies and polls anew.
//! - **Telegram accounts added or removed** (an `accounts.<id>` entry, `enabled`, the top
//!   level's token): the registry starts the new accounts as at engine start and stops the
//!   removed ones (`registry::channels::ChangeAccounts`; their state stays on disk).
//! - **process** (everything else, e.g. `gateway.mode`, or a
//!   Telegram config that does not build): logged as needing a gateway restart; not
//!   applied.
//! - **none** (`gateway.reload.*`, `gateway.remote.*` but `gateway.remote.url`, which setup
//!   codes may carry): nothing to do.
//!
//! With `gateway.reload.mode: "off"` nothing is applied: one log line names the changed
//! keys and which of them need a restart.
//!
//! A Telegram account whose bot token differs from the one it runs with, while none of its
//! keys changed (a `tokenFile` rewritten in place), swaps its bot too.
//!
//! `secrets.reload` (`Watcher::secrets_reload`) resolves the config in force again
//! (`<state dir>/.env`, the `env` block, every `tokenFile`; not the file's own edits) and
//! applies what changed the same way, whatever the mode: the caller asked.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use openclaw_actors::Engine;
use serde_json::Value;

use crate::config::reload::ReloadMode;
use crate::config::{Loaded, ProcessEnv};
use crate::gateway::{self, Control};

/// Reloads applied / rejected / restarts (for `/api/diagnostics/prometheus`).
static RELOADS: [openclaw_actors::metrics::Counter; 3] = [
    openclaw_actors::metrics::Counter::new(),
    openclaw_actors::metrics::Counter::new(),
    openclaw_actors::metrics::Counter::new(),
];

/// Appends `openclaw_config_reloads_total{outcome}`.
pub fn render_metrics(out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP openclaw_config_reloads_total Config file reloads by outcome.\n# TYPE openclaw_config_reloads_total counter"
    );
    for (i, o) in ["applied", "rejected", "restart"].iter().enumerate() {
        let _ = writeln!(
            out,
            "openclaw_config_reloads_total{{outcome=\"{o}\"}} {}",
            RELOADS[i].get()
        );
    }
}

/// How often the file is checked.
pub const POLL: Duration = Duration::from_millis(200);
/// How long the file must stay unchanged before it is read.
pub const SETTLE: Duration = Duration::from_millis(300);

/// What a changed key needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Applied in place.
    Hot,
    /// In-process restart of the listeners.
    Listener,
    /// Needs the gateway process restarted.
    Process,
    /// Nothing to do.
    None,
}

const TELEGRAM_HOT: &[&str] = &[
    "dmPolicy",
    "allowFrom",
    "groupPolicy",
    "groupAllowFrom",
    "groups",
    "pollTimeoutSeconds",
    // Progress drafts: from the next report on.
    "streaming",
    "streamMode",
    // Answers' reply threading: from the next answer on.
    "replyToMode",
    // The ack reaction: from the next message on.
    "ackReaction",
    // Where mention patterns apply: from the next group message on.
    "mentionPatterns",
    // Group history: from the next group message on.
    "historyLimit",
    // Splitting: from the next answer on.
    "textChunkLimit",
    // Link previews: from the next message on.
    "linkPreview",
    // Message actions: from the next call on.
    "actions",
];

/// Classifies one changed key path (`a.b.c`).
pub fn classify(path: &str) -> Class {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}."));
    if under("gateway.port")
        || under("gateway.bind")
        || under("gateway.customBindHost")
        || under("gateway.tls")
        || under("gateway.limits")
        || under("gateway.controlUi.basePath")
        || under("gateway.controlUi.enabled")
        || under("gateway.http")
    {
        return Class::Listener;
    }
    // `gateway.remote.url` is also where setup codes point (when nothing closer is known).
    if under("gateway.remote.url") {
        return Class::Hot;
    }
    if under("gateway.reload") || under("gateway.remote") {
        return Class::None;
    }
    if under("gateway.auth")
        || under("gateway.trustedProxies")
        || under("gateway.controlUi")
        || under("gateway.nodes")
        || under("gateway.tools")
        || under("models")
        || under("agents")
        || under("logging")
        || under("cron")
        || under("tools")
        || under("memory")
        || under("tts")
        || under("talk")
        || under("env")
        || under("messages")
        || under("plugins")
        || under("skills")
        || under("bindings")
        || under("session")
        || under("proxy")
        || under("commands.ownerAllowFrom")
        || under("commands.restart")
    {
        return Class::Hot;
    }
    if let Some(rest) = path.strip_prefix("channels.telegram.") {
        let rest = match rest.strip_prefix("accounts.") {
            Some(r) => r.split_once('.').map_or("", |(_, k)| k),
            None => rest,
        };
        if TELEGRAM_HOT.contains(&rest.split('.').next().unwrap_or("")) {
            return Class::Hot;
        }
    }
    Class::Process
}

/// A Telegram account as the config builds it: its settings and its bot.
type TelegramAccount = (
    openclaw_actors::channel::telegram::TelegramAccountConfig,
    gateway::BotAccess,
);

/// What a reload changes in the running Telegram accounts.
struct AccountChanges {
    /// The bot swaps (`BotSwap`, as channel settings) of the accounts that stay.
    swaps: Vec<(
        &'static str,
        String,
        openclaw_actors::channel::ReconfigureChannel,
    )>,
    /// New accounts, to start.
    added: Vec<TelegramAccount>,
    /// Accounts no longer configured (or disabled), to stop.
    removed: Vec<String>,
}

/// The account changes of a reload that changes the Telegram keys of `restarting`
/// (`default` for keys directly under `channels.telegram`, which every account inherits
/// from; `accounts.<id>`): a bot swap for each account that stays and whose settings or bot
/// may have changed, the accounts to start and those to stop. `None` when a config does not
/// build (that needs a restart).
fn account_changes(
    old: &crate::config::Config,
    new: &crate::config::Config,
    restarting: &std::collections::BTreeSet<String>,
) -> Option<AccountChanges> {
    use openclaw_actors::channel::telegram::{BotSwap, KIND};
    let (old, new) = (
        gateway::telegram_accounts(old).ok()?,
        gateway::telegram_accounts(new).ok()?,
    );
    let removed = old
        .iter()
        .filter(|(o, _)| !new.iter().any(|(c, _)| c.account_id == o.account_id))
        .map(|(o, _)| o.account_id.clone())
        .collect();
    let (staying, added): (Vec<TelegramAccount>, Vec<TelegramAccount>) = new
        .into_iter()
        .partition(|(c, _)| old.iter().any(|(o, _)| o.account_id == c.account_id));
    let base = restarting.contains("default");
    let swaps = staying
        .into_iter()
        .filter(|(c, access)| {
            let before = old.iter().find(|(o, _)| o.account_id == c.account_id);
            base || restarting.contains(&format!("accounts.{}", c.account_id))
                || before.is_none_or(|(o, a)| a != access || o.webhook != c.webhook)
        })
        .map(|(cfg, access)| {
            let account = cfg.account_id.clone();
            let swap = BotSwap {
                cfg,
                api: Box::new(move || {
                    Rc::new(access) as Rc<dyn openclaw_actors::channel::telegram::api::TelegramApi>
                }),
            };
            (
                KIND.id,
                account,
                openclaw_actors::channel::ReconfigureChannel(Box::new(swap)),
            )
        })
        .collect();
    Some(AccountChanges {
        swaps,
        added,
        removed,
    })
}

/// The Telegram account a key belongs to (`default` or `accounts.<id>`). The top-level
/// `commands.native` / `commands.nativeSkills` switches count as `default`: every account
/// without its own inherits them.
fn telegram_account_of(key: &str) -> Option<String> {
    if ["commands.native", "commands.nativeSkills"].contains(&key) || key == "commands" {
        return Some("default".to_owned());
    }
    let rest = key.strip_prefix("channels.telegram")?;
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    Some(match rest.strip_prefix("accounts.") {
        Some(r) => format!("accounts.{}", r.split('.').next().unwrap_or("")),
        None => "default".to_owned(),
    })
}

/// The keys (leaf paths; arrays count as one value) whose values differ.
pub fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    fn walk(prefix: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(
                        &p,
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            (Value::Object(x), Value::Null) | (Value::Null, Value::Object(x)) => {
                // An empty object that appears or goes (`agents.entries.work: {}`) is a
                // change of its own key.
                if x.is_empty() {
                    out.push(prefix.to_owned());
                }
                for (k, v) in x {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if matches!(a, Value::Null) {
                        walk(&p, &Value::Null, v, out);
                    } else {
                        walk(&p, v, &Value::Null, out);
                    }
                }
            }
            (x, y) if x != y => out.push(prefix.to_owned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

/// The file's identity: `None` when it does not exist.
fn signature(path: &Path) -> Option<(i64, i64, u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((m.mtime(), m.mtime_nsec(), m.len(), m.ino()))
}

/// Starts the watcher on the current (system) arbiter.
pub fn spawn_watcher(
    loaded: Loaded,
    bots: gateway::Bots,
    engine: Engine,
    ctl: tokio::sync::mpsc::UnboundedSender<Control>,
    generated: Option<String>,
    secrets: tokio::sync::mpsc::Receiver<WatcherRequest>,
) {
    let path = loaded
        .path
        .clone()
        .unwrap_or_else(|| crate::config::config_path(loaded.source.0.as_deref(), &ProcessEnv).0);
    let mut w = Watcher {
        path,
        current: loaded,
        bots,
        engine,
        ctl,
        generated,
    };
    actix_web::rt::spawn(async move { w.run(secrets).await });
}

struct Watcher {
    path: PathBuf,
    /// The config in force.
    current: Loaded,
    /// The bots the Telegram accounts run with.
    bots: gateway::Bots,
    engine: Engine,
    ctl: tokio::sync::mpsc::UnboundedSender<Control>,
    /// The runtime token generated at start (kept while no token is configured).
    generated: Option<String>,
}

impl Watcher {
    async fn run(&mut self, mut secrets: tokio::sync::mpsc::Receiver<WatcherRequest>) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).ok();
        let mut applied = signature(&self.path);
        let mut seen = applied;
        let mut since = Instant::now();
        // An edit made between the start-up load and now is caught here (an unchanged file
        // changes nothing and logs nothing).
        let _ = self.reload();
        loop {
            let forced = tokio::select! {
                () = actix_web::rt::time::sleep(POLL) => false,
                Some(request) = secrets.recv() => {
                    match request {
                        WatcherRequest::Secrets(reply) => self.secrets_reload(reply).await,
                        WatcherRequest::Apply(reply) => {
                            // The caller wrote the file: apply it now, and the poll does
                            // not apply it again.
                            applied = signature(&self.path);
                            seen = applied;
                            let res = match self.reload() {
                                Ok(Some(applying)) => applying
                                    .await
                                    .map_err(|_| "the config change failed to apply".to_owned()),
                                Ok(None) => Ok(()),
                                Err(e) => Err(e),
                            };
                            let _ = reply.send(res);
                        }
                    }
                    continue;
                }
                Some(()) = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                } => true,
            };
            let sig = signature(&self.path);
            if forced {
                log::info!("SIGHUP: reloading {}", self.path.display());
                applied = sig;
                seen = sig;
                let _ = self.reload();
                continue;
            }
            if sig != seen {
                seen = sig;
                since = Instant::now();
                continue;
            }
            if sig != applied && since.elapsed() >= SETTLE {
                applied = sig;
                let _ = self.reload();
            }
        }
    }

    fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// Logs the load warnings of `new` the config in force did not have (each once).
    fn log_new_warnings(&self, new: &Loaded) {
        for w in &new.warnings {
            if !self.current.warnings.contains(w) {
                log::warn!("{w}");
            }
        }
    }

    /// Loads, validates and applies the file (see the module docs). `Err` says why
    /// nothing was applied (an invalid file, `gateway.reload.mode` off); an unchanged file
    /// is `Ok(None)`; else the task applying its hot part.
    fn reload(&mut self) -> Result<Option<actix_web::rt::task::JoinHandle<()>>, String> {
        if !self.path.exists() {
            if self.current.path.is_some() {
                log::error!(
                    "config reload skipped (invalid config): {} was removed; the last good config stays in force",
                    self.file()
                );
            }
            return Err(format!("{} does not exist", self.file()));
        }
        let flags = self.current.source.1.clone();
        let new = match crate::config::load(Some(&self.path), &ProcessEnv, &flags) {
            Ok(n) => n,
            Err(e) => {
                RELOADS[1].inc();
                log::error!(
                    "config reload skipped (invalid config): {e}; the last good config stays in force"
                );
                return Err(e.to_string());
            }
        };
        let prepared = match gateway::prepare(&new) {
            Ok(p) => p,
            Err(e) => {
                RELOADS[1].inc();
                log::error!(
                    "config reload skipped (invalid config) in {}: {}; the last good config stays in force",
                    self.file(),
                    e.message
                );
                return Err(e.message);
            }
        };
        self.log_new_warnings(&new);
        for k in &new.unknown_keys {
            if !self.current.unknown_keys.contains(k) {
                log::warn!(
                    "config key \"{k}\" in {} is not supported by openclaw-rs yet; ignoring it",
                    self.file()
                );
            }
        }
        let Some(plan) = self.plan(&new, &prepared) else {
            log::debug!("config file {} touched; no setting changed", self.file());
            return Ok(None);
        };
        if new.config.gateway.reload.mode == ReloadMode::Off {
            let restart: Vec<String> = plan.listener.iter().chain(&plan.process).cloned().collect();
            log::warn!(
                "config change in {} not applied (gateway.reload.mode is \"off\"): {}{}",
                self.file(),
                plan.keys.join(", "),
                if restart.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; restart the gateway to apply; {} need(s) a restart",
                        restart.join(", ")
                    )
                }
            );
            return Err("gateway.reload.mode is \"off\": restart the gateway to apply".to_owned());
        }
        let what = format!("config reloaded from {}", self.file());
        Ok(self.execute(new, prepared, plan, what))
    }

    /// `secrets.reload`: resolves the config in force again (`.env`, the `env` block,
    /// every `tokenFile`; not the file's edits, which are [`Self::reload`]'s), answers
    /// `reply` with the warning count, waits (at most [`ANSWER_WAIT`]) until the caller's
    /// answer is written, then applies what changed as a config reload does, whatever
    /// `gateway.reload.mode` says (the caller asked). A config that no longer resolves
    /// or builds changes nothing.
    async fn secrets_reload(&mut self, reply: SecretsRequest) {
        let refuse = |reply: SecretsRequest, why: String| {
            RELOADS[1].inc();
            log::error!("secrets.reload failed: {why}; the secrets in force stay");
            let _ = reply.send(Err(why));
        };
        let new = match self.current.reresolve(&ProcessEnv) {
            Ok(n) => n,
            Err(e) => return refuse(reply, e.to_string()),
        };
        let prepared = match gateway::prepare(&new) {
            Ok(p) => p,
            Err(e) => return refuse(reply, e.message),
        };
        self.log_new_warnings(&new);
        let plan = self.plan(&new, &prepared);
        let (written, wait) = tokio::sync::oneshot::channel();
        let answer = openclaw_actors::ports::SecretsReloaded {
            warning_count: new.warnings.len() + plan.as_ref().map_or(0, |p| p.process.len()),
            written,
        };
        if reply.send(Ok(answer)).is_ok() {
            // Fired, dropped (the caller left) or too slow: apply either way.
            let _ = tokio::time::timeout(ANSWER_WAIT, wait).await;
        }
        match plan {
            Some(plan) => {
                let _ = self.execute(new, prepared, plan, "secrets reloaded".to_owned());
            }
            None => log::info!("secrets reloaded: no resolved value changed"),
        }
    }

    /// What `new` (checked as `prepared`) changes against the config in force; `None`:
    /// nothing. A Telegram account whose bot token differs from the one it runs with
    /// while its keys do not (a `tokenFile` rewritten in place) swaps its bot too.
    fn plan(&self, new: &Loaded, prepared: &gateway::Prepared) -> Option<Plan> {
        let old_v = serde_json::to_value(&self.current.config).unwrap_or(Value::Null);
        let new_v = serde_json::to_value(&new.config).unwrap_or(Value::Null);
        let keys = changed_keys(&old_v, &new_v);
        let rebuilt: Vec<&String> = prepared
            .bots
            .iter()
            .filter(|(id, access)| self.bots.iter().any(|(o, a)| o == id && a != access))
            .map(|(id, _)| id)
            .collect();
        if keys.is_empty() && rebuilt.is_empty() {
            return None;
        }
        let of = |c: Class| -> Vec<String> {
            keys.iter().filter(|k| classify(k) == c).cloned().collect()
        };
        let (mut hot, listener, mut process) =
            (of(Class::Hot), of(Class::Listener), of(Class::Process));
        // A Telegram account whose token, API root or webhook changes goes on in place with
        // its new bot (`BotSwap`). Adding or removing accounts needs a restart, and then the
        // changed accounts' admission keys wait for it too.
        let mut restarting: std::collections::BTreeSet<String> = process
            .iter()
            .filter_map(|k| telegram_account_of(k))
            .collect();
        restarting.extend(rebuilt.iter().map(|id| format!("accounts.{id}")));
        let mut swaps = Vec::new();
        let mut swapped = Vec::new();
        let mut accounts: Option<(Vec<TelegramAccount>, Vec<String>)> = None;
        let mut bots_follow = true;
        if !restarting.is_empty() {
            match account_changes(&self.current.config, &new.config, &restarting) {
                Some(c) => {
                    swaps = c.swaps;
                    if !c.added.is_empty() || !c.removed.is_empty() {
                        accounts = Some((c.added, c.removed));
                    }
                    (swapped, process) = process
                        .into_iter()
                        .partition(|k| telegram_account_of(k).is_some());
                    swapped.extend(
                        rebuilt
                            .iter()
                            .map(|id| format!("telegram account {id}'s bot token (tokenFile)")),
                    );
                }
                None => {
                    bots_follow = false;
                    let (waiting, still_hot): (Vec<String>, Vec<String>) =
                        hot.into_iter().partition(|k| {
                            telegram_account_of(k).is_some_and(|a| restarting.contains(&a))
                        });
                    hot = still_hot;
                    process.extend(waiting);
                }
            }
        }
        Some(Plan {
            keys,
            hot,
            listener,
            process,
            swaps,
            swapped,
            accounts,
            bots_follow,
        })
    }

    /// Applies `plan` (see the module docs); `what` starts the log line that says what
    /// was applied.
    /// Applies `plan`; the hot part goes to the registry on a task of its own, returned so a
    /// caller can wait until it is in force.
    fn execute(
        &mut self,
        new: Loaded,
        prepared: gateway::Prepared,
        plan: Plan,
        what: String,
    ) -> Option<actix_web::rt::task::JoinHandle<()>> {
        let Plan {
            keys: _,
            hot,
            listener,
            process,
            swaps,
            swapped,
            accounts,
            bots_follow,
        } = plan;
        // Secrets of both the old and the new config stay redacted in logs.
        let mut secrets = gateway::secrets_of(&self.current, self.generated.as_deref());
        secrets.extend(gateway::secrets_of(&new, self.generated.as_deref()));
        crate::logging::set_secrets(secrets);
        crate::clients::proxy::install(prepared.egress.clone());
        if let Err(e) = crate::logging::configure(&prepared.logging) {
            log::error!("config reload: {e}");
        }
        RELOADS[0].inc();
        if hot.iter().any(|k| k == "cron" || k.starts_with("cron."))
            && let Some(cron) = self.engine.shared.cron.get()
        {
            cron.0.do_send(openclaw_actors::cron::SetCronEnabled(
                gateway::cron_enabled(&new.config),
            ));
        }
        if hot.iter().any(|k| {
            k.starts_with("agents.defaults.heartbeat")
                || k.starts_with("agents.entries")
                || k.starts_with("agents.list")
        }) && let Some(cron) = self.engine.shared.cron.get()
        {
            cron.0.do_send(openclaw_actors::cron::SetHeartbeat(
                prepared.heartbeats.clone(),
            ));
        }
        let mut applying = None;
        if !hot.is_empty() || !swapped.is_empty() {
            let live = self.engine.shared.live.get();
            let bound: Vec<std::net::SocketAddr> = live
                .bind_addrs
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect();
            // A new agent's workspace (or a moved one) gets its starter files.
            for a in prepared.agents.iter().flat_map(|r| r.agents()) {
                if a.workspace.dir != prepared.workspace.dir
                    && live.agents.get(&a.id).map(|o| &o.workspace.dir) != Some(&a.workspace.dir)
                {
                    let (dir, skip) = (a.workspace.dir.clone(), prepared.skip_bootstrap);
                    actix_web::rt::spawn(async move {
                        let seeded = actix_web::rt::task::spawn_blocking(move || {
                            gateway::seed_workspace(&dir, skip)
                        });
                        if let Ok(line) = seeded.await {
                            log::info!("{line}");
                        }
                    });
                }
            }
            if prepared.workspace.dir != live.workspace.dir {
                // Directory, starter files, fsyncs and `git init`: not on this thread.
                let (dir, skip) = (prepared.workspace.dir.clone(), prepared.skip_bootstrap);
                actix_web::rt::spawn(async move {
                    let seeded = actix_web::rt::task::spawn_blocking(move || {
                        gateway::seed_workspace(&dir, skip)
                    });
                    if let Ok(line) = seeded.await {
                        log::info!("{line}");
                    }
                });
            }
            let mut cfg = gateway::hot_config(&prepared, live.port, &bound);
            if prepared.generated.is_some() {
                // Still no configured token: keep the one generated at start.
                cfg.auth.secret = self.generated.clone().or(cfg.auth.secret);
            }
            let model_changed = hot.iter().any(|k| {
                k.starts_with("models.")
                    || k.starts_with("agents.defaults.model")
                    || k == "agents"
                    || k.starts_with("agents.entries")
                    || k.starts_with("agents.list")
                    || k == "env"
                    || k.starts_with("env.")
            });
            let model: Option<openclaw_actors::registry::reload::ModelFactory> = model_changed
                .then(|| {
                    let c = new.config.clone();
                    Box::new(move || match gateway::build_model(&c) {
                        Ok((Some(m), _)) => m,
                        _ => Rc::new(openclaw_actors::agent_run::CommandAgent)
                            as Rc<dyn openclaw_actors::ports::ChatModel>,
                    }) as openclaw_actors::registry::reload::ModelFactory
                });
            let hearing_changed = hot.iter().any(|k| {
                k == "tools"
                    || k == "models"
                    || k == "env"
                    || k.starts_with("tools.")
                    || k.starts_with("models.")
                    || k.starts_with("env.")
            });
            let hearing: Option<openclaw_actors::registry::reload::HearingFactory> =
                hearing_changed.then(|| {
                    let c = new.config.clone();
                    Box::new(move || gateway::build_hearing(&c).ok().flatten())
                        as openclaw_actors::registry::reload::HearingFactory
                });
            let speech_changed = hot.iter().any(|k| {
                k == "tts"
                    || k == "talk"
                    || k.starts_with("talk.")
                    || k == "models"
                    || k == "env"
                    || k.starts_with("tts.")
                    || k.starts_with("models.")
                    || k.starts_with("env.")
            });
            let speech: Option<openclaw_actors::registry::reload::SpeechFactory> = speech_changed
                .then(|| {
                    let c = new.config.clone();
                    Box::new(move || gateway::build_voices(&c).unwrap_or_default())
                        as openclaw_actors::registry::reload::SpeechFactory
                });
            let mut channels: Vec<_> = prepared
                .deps
                .channels
                .iter()
                .flat_map(|c| c.hot_settings())
                .collect();
            // After the accounts' hot settings, which the swaps carry too.
            channels.extend(swaps);
            let registry = self.engine.registry.clone();
            let applied = hot
                .iter()
                .chain(&swapped)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            applying = Some(actix_web::rt::spawn(async move {
                if let Some((added, removed)) = accounts {
                    let change = openclaw_actors::registry::channels::ChangeAccounts {
                        kind: openclaw_actors::channel::telegram::KIND.id,
                        remove: removed,
                        add: Box::new(move |state_dir: &Path| {
                            Box::new(openclaw_actors::channel::telegram::TelegramAccounts::unread(
                                added
                                    .into_iter()
                                    .map(|(c, a)| (c, Rc::new(a) as Rc<dyn openclaw_actors::channel::telegram::api::TelegramApi>))
                                    .collect(),
                                state_dir,
                            ))
                        }),
                    };
                    match registry.send(change).await {
                        Ok(started) if !started.is_empty() => log::warn!(
                            "config reload: telegram account(s) started: {}",
                            started.join(", ")
                        ),
                        Ok(_) => {}
                        Err(e) => log::error!("config reload: registry unavailable: {e}"),
                    }
                }
                let closed = registry
                    .send(openclaw_actors::registry::reload::ApplyHotConfig {
                        hot: cfg,
                        model,
                        hearing,
                        speech,
                        channels,
                    })
                    .await
                    .unwrap_or(0);
                log::warn!(
                    "{what}: applied {applied}{}",
                    if closed > 0 {
                        format!(
                            "; closed {closed} session(s) authenticated with the previous shared secret"
                        )
                    } else {
                        String::new()
                    }
                );
            }));
        }
        if !process.is_empty() {
            log::warn!(
                "config change in {} needs a gateway restart to apply (stop and start it): {}; the running gateway keeps the previous values",
                self.file(),
                process.join(", ")
            );
        }
        if !listener.is_empty() {
            RELOADS[2].inc();
            let _ = self.ctl.send(Control::Restart {
                loaded: Box::new(new.clone()),
                keys: listener,
            });
        }
        if bots_follow {
            self.bots = prepared.bots;
        }
        self.current = new;
        applying
    }
}

/// What a reload changes (see [`Watcher::plan`]).
struct Plan {
    /// Every changed key.
    keys: Vec<String>,
    /// Keys applied in place.
    hot: Vec<String>,
    /// Keys that restart the listeners in-process.
    listener: Vec<String>,
    /// Keys that need the gateway restarted (not applied).
    process: Vec<String>,
    /// Bot swaps of the Telegram accounts that stay.
    swaps: Vec<(
        &'static str,
        String,
        openclaw_actors::channel::ReconfigureChannel,
    )>,
    /// What the swaps apply (keys, or a bot token read anew), for the log.
    swapped: Vec<String>,
    /// Telegram accounts to start and to stop.
    accounts: Option<(Vec<TelegramAccount>, Vec<String>)>,
    /// The accounts run the new bots once applied (false when their change needs a
    /// restart).
    bots_follow: bool,
}

/// What the config watcher is asked to do besides polling the file.
#[derive(Debug)]
pub enum WatcherRequest {
    /// `secrets.reload`.
    Secrets(SecretsRequest),
    /// Apply the file now (an `agents.*` call wrote it and answers once it is in force);
    /// the answer says why nothing was applied.
    Apply(tokio::sync::oneshot::Sender<Result<(), String>>),
}

/// A `secrets.reload` call waiting for the watcher's answer.
pub type SecretsRequest =
    tokio::sync::oneshot::Sender<Result<openclaw_actors::ports::SecretsReloaded, String>>;

/// The longest a `secrets.reload` waits for its caller's answer to be written before it
/// applies.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_object_that_appears_or_goes_is_a_change() {
        let before = json!({"agents": {"defaults": {}}});
        let after = json!({"agents": {"defaults": {}, "entries": {"work": {}}}});
        assert_eq!(changed_keys(&before, &after), ["agents.entries.work"]);
        assert_eq!(changed_keys(&after, &before), ["agents.entries.work"]);
        assert!(changed_keys(&after, &after).is_empty());
    }

    #[test]
    fn classification() {
        assert_eq!(classify("gateway.port"), Class::Listener);
        assert_eq!(classify("commands.ownerAllowFrom"), Class::Hot);
        assert_eq!(classify("commands.restart"), Class::Hot);
        assert_eq!(classify("commands.native"), Class::Process);
        assert_eq!(classify("gateway.tls.certPath"), Class::Listener);
        assert_eq!(classify("gateway.auth.token"), Class::Hot);
        assert_eq!(classify("gateway.auth.rateLimit.maxAttempts"), Class::Hot);
        assert_eq!(classify("gateway.mode"), Class::Process);
        assert_eq!(classify("gateway.trustedProxies"), Class::Hot);
        assert_eq!(classify("gateway.reload.mode"), Class::None);
        assert_eq!(classify("gateway.limits.maxConnections"), Class::Listener);
        assert_eq!(classify("gateway.controlUi.basePath"), Class::Listener);
        assert_eq!(classify("gateway.tools.allow"), Class::Hot);
        assert_eq!(
            classify("gateway.http.endpoints.chatCompletions.enabled"),
            Class::Listener
        );
        assert_eq!(classify("gateway.controlUi.allowedOrigins"), Class::Hot);
        assert_eq!(classify("channels.telegram.allowFrom"), Class::Hot);
        assert_eq!(
            classify("channels.telegram.accounts.work.dmPolicy"),
            Class::Hot
        );
        assert_eq!(classify("channels.telegram.streaming.mode"), Class::Hot);
        assert_eq!(classify("messages.ackReactionScope"), Class::Hot);
        assert_eq!(classify("channels.telegram.ackReaction"), Class::Hot);
        assert_eq!(
            classify("channels.telegram.mentionPatterns.denyIn"),
            Class::Hot
        );
        assert_eq!(
            classify("channels.telegram.accounts.work.streaming"),
            Class::Hot
        );
        assert_eq!(classify("channels.telegram.botToken"), Class::Process);
        assert_eq!(
            classify("channels.telegram.accounts.work.botToken"),
            Class::Process
        );
        assert_eq!(classify("models.providers.x.apiKey"), Class::Hot);
        assert_eq!(classify("gateway.portal"), Class::Process);
        assert_eq!(classify("cron.enabled"), Class::Hot);
    }

    #[test]
    fn telegram_accounts_of_keys() {
        assert_eq!(
            telegram_account_of("channels.telegram.allowFrom").as_deref(),
            Some("default")
        );
        assert_eq!(
            telegram_account_of("channels.telegram.accounts.work.botToken").as_deref(),
            Some("accounts.work")
        );
        assert_eq!(
            telegram_account_of("channels.telegram").as_deref(),
            Some("default")
        );
        assert_eq!(telegram_account_of("models.x"), None);
        assert_eq!(
            telegram_account_of("commands.nativeSkills").as_deref(),
            Some("default")
        );
        assert_eq!(telegram_account_of("commands.bash"), None);
    }

    #[test]
    fn changed_keys_are_leaves_and_arrays_whole() {
        let a = json!({"gateway": {"port": 1, "auth": {"token": "a"}}, "x": [1, 2]});
        let b = json!({"gateway": {"port": 1, "auth": {"token": "b", "password": "p"}}, "x": [1], "y": {"z": 1}});
        assert_eq!(
            changed_keys(&a, &b),
            vec!["gateway.auth.password", "gateway.auth.token", "x", "y.z"]
        );
        assert!(changed_keys(&a, &a).is_empty());
    }
}
