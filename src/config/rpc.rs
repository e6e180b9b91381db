//! The config file over the gateway API (`config.get`, `config.set`, `config.patch`,
//! `config.apply`; OpenClaw's `server-methods/config.ts`) and `logs.tail`, served to the
//! engine through [`OpsPort`]. Also used by `openclaw config …` (src/cli/config_cmd.rs).
//!
//! - Secrets are never returned: every value under a key named like a secret (`token`,
//!   `password`, `apiKey`, `botToken`, `webhookSecret`, …) is replaced by
//!   [`REDACTED`] in `parsed` and `config`, and its text in `raw`. A write that sends
//!   [`REDACTED`] back keeps the stored value.
//! - Writes are checked like a hand edit (the same loader and [`gateway::prepare`]), then
//!   written atomically (temp file, fsync, rename; mode 0600). `config.patch` edits only
//!   the patched values in the JSON5 text, so comments elsewhere stay.
//! - `baseHash` (the `hash` of `config.get`, SHA-256 of the file) is required once the file
//!   exists: a write based on a stale read is refused.

use std::path::PathBuf;

use openclaw_actors::ports::OpsPort;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{FlagOverrides, Loaded, ProcessEnv, edit};
use crate::gateway;

/// What redacted values read as (OpenClaw's sentinel).
pub const REDACTED: &str = "__OPENCLAW_REDACTED__";

/// Whether a config key holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("token")
        || k.ends_with("password")
        || k.ends_with("apikey")
        || k.ends_with("api-key")
        || k.ends_with("api_key")
        || k.ends_with("secret")
        || k == "authorization"
        || k == "proxy-authorization"
}

/// Whether `key: value` is a proxy URL with credentials (`proxy.proxyUrl`,
/// `channels.telegram.proxy`: `http://user:password@host:port`), which is redacted whole.
fn holds_proxy_credentials(key: &str, value: &Value) -> bool {
    matches!(key, "proxyUrl" | "proxy")
        && value.as_str().is_some_and(|u| {
            u.split_once("://").is_some_and(|(_, rest)| {
                rest.split(['/', '?', '#'])
                    .next()
                    .is_some_and(|a| a.contains('@'))
            })
        })
}

/// Replaces secret values in `v` by [`REDACTED`]; returns the values removed.
pub fn redact_value(v: &mut Value) -> Vec<String> {
    let mut found = Vec::new();
    fn walk(v: &mut Value, found: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let reference = x
                        .as_str()
                        .is_some_and(|t| t == REDACTED || super::env::contains_reference(t));
                    let secret = is_secret_key(k) || holds_proxy_credentials(k, x);
                    if secret && !x.is_null() && !x.is_object() && !reference {
                        if let Some(s) = x.as_str() {
                            found.push(s.to_owned());
                        } else {
                            found.push(x.to_string());
                        }
                        *x = Value::String(REDACTED.to_owned());
                    } else {
                        walk(x, found);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, found)),
            _ => {}
        }
    }
    // Every value of the `env` block (`env.vars.<KEY>`, `env.<KEY>`) is treated as a
    // secret: its names are free (`FAKE_KEY`, `GROQ`), and it is where keys go.
    if let Some(Value::Object(env)) = v.get_mut("env") {
        for (k, x) in env.iter_mut() {
            let strings: Vec<&mut Value> = match (k.as_str(), x) {
                ("shellEnv", _) => Vec::new(),
                ("vars", Value::Object(vars)) => vars.values_mut().collect(),
                (_, x) => vec![x],
            };
            for s in strings {
                if let Value::String(text) = s
                    && text != REDACTED
                {
                    found.push(std::mem::replace(text, REDACTED.to_owned()));
                }
            }
        }
    }
    walk(v, &mut found);
    found
}

/// Replaces strings of `v` that came from the environment (`${VAR}`, SecretRefs) by
/// [`REDACTED`]: equal to such a value, or containing one of 6 characters or more (a
/// substituted host in a URL stays).
pub fn redact_env_values(v: &mut Value, values: &[String]) {
    match v {
        Value::String(s)
            if values.iter().any(|x| {
                !x.is_empty() && (s == x || (x.chars().count() >= 6 && s.contains(x.as_str())))
            }) =>
        {
            *s = REDACTED.to_owned();
        }
        Value::Object(m) => m.values_mut().for_each(|x| redact_env_values(x, values)),
        Value::Array(a) => a.iter_mut().for_each(|x| redact_env_values(x, values)),
        _ => {}
    }
}

/// Secrets shorter than this are replaced in text only as whole quoted strings: replacing
/// every occurrence of a short token (`T`) would mangle the rest of the file.
const MIN_FREE_SECRET: usize = 8;

/// `text` with every secret in `secrets` replaced by [`REDACTED`] (short ones only where
/// they are a whole `"…"` or `'…'` string).
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    let mut s: Vec<&String> = secrets
        .iter()
        .filter(|s| !s.is_empty() && s.as_str() != REDACTED)
        .collect();
    s.sort_by_key(|x| std::cmp::Reverse(x.len()));
    s.dedup();
    for x in s {
        if x.chars().count() >= MIN_FREE_SECRET {
            out = out.replace(x.as_str(), REDACTED);
        } else {
            for q in ['"', '\''] {
                out = out.replace(&format!("{q}{x}{q}"), &format!("{q}{REDACTED}{q}"));
            }
        }
    }
    out
}

/// SHA-256 (hex) of the file text.
pub fn hash_of(text: &str) -> String {
    openclaw_actors::identity::hex(&Sha256::digest(text.as_bytes()))
}

/// The config file and how the gateway loads it.
#[derive(Debug, Clone)]
pub struct ConfigOps {
    /// The config file.
    pub path: PathBuf,
    /// Flag overrides in force (they win over the file, as at start).
    pub flags: FlagOverrides,
    /// Where a candidate is written to be checked (`<state>/gateway/`, private): the
    /// config file's own directory may be read-only.
    pub scratch_dir: PathBuf,
    /// The config watcher's queue (`secrets.reload`, apply now; `None`: no gateway runs
    /// here).
    pub watcher: Option<tokio::sync::mpsc::Sender<crate::reload::WatcherRequest>>,
    /// The gateway host's exec approvals document (`<state>/exec-approvals.json`).
    pub exec_approvals: PathBuf,
    /// The state directory (its device identity: `gateway.identity.get`).
    pub state_dir: PathBuf,
    /// `gateway.restart.request` (none: not offered).
    pub restart: Option<std::sync::Arc<crate::gateway::restart::RestartGate>>,
}

/// A rejected write: `true` when the caller's input is at fault.
type WriteError = (bool, String);

/// Held by every read-modify-write of the config file through the API (`config.*`,
/// `agents.*`), so two calls never interleave.
pub(super) fn writes_lock() -> std::sync::MutexGuard<'static, ()> {
    static WRITES: std::sync::Mutex<()> = std::sync::Mutex::new(());
    WRITES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ConfigOps {
    /// For the running gateway's config.
    pub fn new(loaded: &Loaded) -> Self {
        let path = loaded
            .path
            .clone()
            .unwrap_or_else(|| super::config_path(loaded.source.0.as_deref(), &ProcessEnv).0);
        Self {
            path,
            flags: loaded.source.1.clone(),
            scratch_dir: loaded.state_dir.join("gateway"),
            watcher: None,
            exec_approvals: crate::clients::host_approvals::path(&loaded.state_dir),
            state_dir: loaded.state_dir.clone(),
            restart: None,
        }
    }

    /// With the process's restart gate.
    pub fn with_restart(
        mut self,
        gate: std::sync::Arc<crate::gateway::restart::RestartGate>,
    ) -> Self {
        self.restart = Some(gate);
        self
    }

    /// With the config watcher's queue.
    pub fn with_watcher(
        mut self,
        watcher: tokio::sync::mpsc::Sender<crate::reload::WatcherRequest>,
    ) -> Self {
        self.watcher = Some(watcher);
        self
    }

    pub(super) fn read(&self) -> Result<Option<String>, String> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }

    /// Loads and checks `text` as the config file would be: `Ok(loaded)` or the problem
    /// (naming the file and key).
    pub fn check(&self, text: &str) -> Result<Loaded, String> {
        self.check_prepared(text).map(|(l, _)| l)
    }

    /// [`Self::check`], with what the gateway would run (its roster, workspace, …).
    pub fn check_prepared(&self, text: &str) -> Result<(Loaded, gateway::Prepared), String> {
        let tmp = self.scratch_dir.join(format!(
            ".{}.check-{}.tmp",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("openclaw.json"),
            uuid::Uuid::new_v4().simple()
        ));
        openclaw_actors::store::write_atomic(&tmp, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        let res = super::load(Some(&tmp), &ProcessEnv, &self.flags);
        let _ = std::fs::remove_file(&tmp);
        let fix =
            |m: String| m.replace(&tmp.display().to_string(), &self.path.display().to_string());
        let mut loaded = res.map_err(|e| fix(e.to_string()))?;
        loaded.path = Some(self.path.clone());
        let prepared = gateway::prepare(&loaded).map_err(|e| fix(e.message))?;
        Ok((loaded, prepared))
    }

    /// Has the config watcher apply the file now and waits until it has;
    /// `Err` says why it did not (no watcher: nothing applies a write here). Call from a
    /// blocking thread.
    pub fn apply_now(&self) -> Result<(), String> {
        let queue = self
            .watcher
            .as_ref()
            .ok_or_else(|| "no gateway runs with this config".to_owned())?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        queue
            .blocking_send(crate::reload::WatcherRequest::Apply(reply))
            .map_err(|_| "the config watcher is not running".to_owned())?;
        // The watcher answers every request once its (bounded) reload is done.
        answer
            .blocking_recv()
            .unwrap_or_else(|_| Err("the config watcher stopped".to_owned()))
    }

    /// The `config.get` snapshot.
    pub fn snapshot(&self) -> Result<Value, String> {
        let raw = self.read()?;
        let (parsed, issues): (Option<Value>, Vec<Value>) = match &raw {
            None => (None, Vec::new()),
            Some(t) => match json5::from_str::<Value>(t) {
                Ok(v) => (Some(v), Vec::new()),
                Err(e) => (None, vec![json!({"path": "", "message": e.to_string()})]),
            },
        };
        let mut from_env = Vec::new();
        let (config, issues) = if issues.is_empty() {
            let res = match &raw {
                Some(t) => self.check(t).map(|l| {
                    from_env = l.env_values;
                    l.config
                }),
                None => super::load(
                    None,
                    &std::collections::BTreeMap::new(),
                    &FlagOverrides::default(),
                )
                .map(|l| l.config)
                .map_err(|e| e.to_string()),
            };
            match res {
                Ok(c) => (serde_json::to_value(c).unwrap_or(Value::Null), issues),
                Err(m) => (Value::Null, vec![json!({"path": "", "message": m})]),
            }
        } else {
            (Value::Null, issues)
        };
        let mut secrets = Vec::new();
        let parsed = parsed.map(|mut p| {
            secrets.extend(redact_value(&mut p));
            p
        });
        let mut config = config;
        secrets.extend(redact_value(&mut config));
        redact_env_values(&mut config, &from_env);
        let hash = raw.as_deref().map(hash_of);
        Ok(json!({
            "path": self.path.display().to_string(),
            "exists": raw.is_some(),
            "valid": issues.is_empty(),
            "raw": raw.as_deref().map(|t| redact_text(t, &secrets)),
            "parsed": parsed,
            "config": config,
            "issues": issues,
            "hash": hash,
        }))
    }

    /// Validates `text` and writes it atomically; returns the new loaded config.
    pub fn write(&self, text: &str) -> Result<Loaded, WriteError> {
        let loaded = self.check(text).map_err(|m| (true, m))?;
        openclaw_actors::store::write_atomic(&self.path, text.as_bytes())
            .map_err(|e| (false, format!("cannot write {}: {e}", self.path.display())))?;
        Ok(loaded)
    }

    fn write_rpc(&self, method: &str, params: &Value) -> Result<Value, WriteError> {
        let _writing = writes_lock();
        let bad = |m: String| (true, m);
        let obj = params.as_object().cloned().unwrap_or_default();
        for k in obj.keys() {
            if ![
                "raw",
                "baseHash",
                "replacePaths",
                "sessionKey",
                "note",
                "restartDelayMs",
            ]
            .contains(&k.as_str())
            {
                return Err(bad(format!(
                    "invalid {method} params: at root: unexpected property '{k}'"
                )));
            }
        }
        let raw = obj.get("raw").and_then(Value::as_str).ok_or_else(|| {
            bad(format!(
                "invalid {method} params: must have required property 'raw'"
            ))
        })?;
        if raw.len() > 1024 * 1024 {
            return Err(bad(format!(
                "invalid {method} params: raw is larger than 1 MiB"
            )));
        }
        let current = self.read().map_err(|m| (false, m))?;
        if let Some(text) = &current {
            match obj.get("baseHash").and_then(Value::as_str) {
                None => {
                    return Err(bad(
                        "config base hash required; re-run config.get and retry".to_owned(),
                    ));
                }
                Some(h) if h != hash_of(text) => {
                    return Err(bad(
                        "config changed since last load; re-run config.get and retry".to_owned(),
                    ));
                }
                Some(_) => {}
            }
        }
        let current_text = current.clone().unwrap_or_else(|| "{}\n".to_owned());
        let current_value: Value = json5::from_str(&current_text).unwrap_or(json!({}));
        let incoming: Value = json5::from_str(raw).map_err(|e| {
            bad(format!(
                "invalid {method} params: raw is not valid JSON5: {e}"
            ))
        })?;
        if !incoming.is_object() {
            return Err(bad(format!(
                "invalid {method} params: raw must be an object"
            )));
        }
        let new_text = if method == "config.patch" {
            let replace: Vec<String> = obj
                .get("replacePaths")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let mut ops = Vec::new();
            patch_ops(&[], &incoming, &current_value, &replace, &mut ops).map_err(bad)?;
            let mut text = current_text.clone();
            for (path, v) in ops {
                text = match v {
                    Some(v) => edit::set(&text, &path, &v).map_err(bad)?,
                    None => edit::unset(&text, &path).map_err(bad)?.unwrap_or(text),
                };
            }
            text
        } else {
            // A whole new file: values sent back redacted keep the stored secret.
            let mut text = raw.to_owned();
            let mut restore = Vec::new();
            sentinel_paths(&[], &incoming, &mut restore);
            for path in restore {
                let old = path
                    .iter()
                    .try_fold(&current_value, |v, k| v.get(k))
                    .cloned()
                    .ok_or_else(|| {
                        bad(format!(
                            "{} is {REDACTED} but has no stored value to keep. Fix: send the real value",
                            path.join(".")
                        ))
                    })?;
                text = edit::set(&text, &path, &old).map_err(bad)?;
            }
            text
        };
        let before = self
            .check(&current_text)
            .ok()
            .and_then(|l| serde_json::to_value(l.config).ok())
            .unwrap_or(Value::Null);
        let loaded = self.write(&new_text)?;
        let mut after = serde_json::to_value(&loaded.config).unwrap_or(Value::Null);
        let changed = crate::reload::changed_keys(&before, &after);
        redact_value(&mut after);
        log::info!(
            "{method}: wrote {} ({} key(s) changed: {})",
            self.path.display(),
            changed.len(),
            changed.join(", ")
        );
        Ok(json!({
            "ok": true,
            "path": self.path.display().to_string(),
            "hash": hash_of(&new_text),
            "changedPaths": changed,
            "config": after,
        }))
    }
}

/// Paths whose value in `v` is the redaction sentinel.
fn sentinel_paths(prefix: &[String], v: &Value, out: &mut Vec<Vec<String>>) {
    match v {
        Value::String(s) if s == REDACTED => out.push(prefix.to_vec()),
        Value::Object(m) => {
            for (k, x) in m {
                let mut p = prefix.to_vec();
                p.push(k.clone());
                sentinel_paths(&p, x, out);
            }
        }
        _ => {}
    }
}

/// The edits of a JSON merge patch (objects merge, `null` deletes, anything else replaces).
/// Removing array entries needs the array's path in `replace` (`replacePaths`); a
/// [`REDACTED`] value keeps the stored one.
fn patch_ops(
    prefix: &[String],
    patch: &Value,
    current: &Value,
    replace: &[String],
    out: &mut Vec<(Vec<String>, Option<Value>)>,
) -> Result<(), String> {
    let Value::Object(m) = patch else {
        return Ok(());
    };
    for (k, v) in m {
        let mut path = prefix.to_vec();
        path.push(k.clone());
        let cur = current.get(k).unwrap_or(&Value::Null);
        let dotted = path.join(".");
        let arrays_removed = |c: &Value| contains_array(c);
        match v {
            Value::Null => {
                if !cur.is_null() && arrays_removed(cur) && !replace.contains(&dotted) {
                    return Err(format!(
                        "config.patch would delete array entries at {dotted}. Fix: list \"{dotted}\" in replacePaths"
                    ));
                }
                out.push((path, None));
            }
            Value::Object(_) if cur.is_object() => patch_ops(&path, v, cur, replace, out)?,
            Value::String(s) if s == REDACTED => {}
            Value::Array(new) => {
                if let Value::Array(old) = cur
                    && old.iter().any(|x| !new.contains(x))
                    && !replace.contains(&dotted)
                {
                    return Err(format!(
                        "config.patch would remove entries of the array {dotted}. Fix: list \"{dotted}\" in replacePaths"
                    ));
                }
                out.push((path, Some(v.clone())));
            }
            _ => out.push((path, Some(v.clone()))),
        }
    }
    Ok(())
}

fn contains_array(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => m.values().any(contains_array),
        _ => false,
    }
}

impl OpsPort for ConfigOps {
    fn config_get(&self) -> Result<Value, String> {
        self.snapshot()
    }

    fn config_write(&self, method: &str, params: &Value) -> Result<Value, (bool, String)> {
        self.write_rpc(method, params)
    }

    fn logs_tail(&self, params: &Value) -> Result<Value, String> {
        Ok(crate::logging::tail(params))
    }

    fn agents_write(&self, method: &str, params: &Value) -> Result<Value, (bool, String)> {
        self.agents_rpc(method, params)
    }

    fn channels_logout(&self, params: &Value) -> Result<Value, (bool, String)> {
        ConfigOps::channels_logout(self, params)
    }

    fn secrets_reload(&self) -> Option<openclaw_actors::ports::SecretsReloadReply> {
        let queue = self.watcher.as_ref()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        // A full queue (or a stopped watcher) drops `reply`: the caller is refused, and the
        // log says why (the CLI's refusal points there).
        if let Err(e) = queue.try_send(crate::reload::WatcherRequest::Secrets(reply)) {
            log::warn!(
                "secrets.reload failed: {}; nothing changed",
                match e {
                    tokio::sync::mpsc::error::TrySendError::Full(_) =>
                        "other reloads are still waiting; retry in a moment",
                    tokio::sync::mpsc::error::TrySendError::Closed(_) =>
                        "the config watcher is not running (the gateway is stopping)",
                }
            );
        }
        Some(answer)
    }

    fn exec_approvals_get(&self) -> Result<Value, String> {
        crate::clients::host_approvals::get(&self.exec_approvals)
    }

    fn exec_approvals_set(&self, params: &Value) -> Result<Value, (bool, String)> {
        crate::clients::host_approvals::set(&self.exec_approvals, params)
    }

    /// The host's device identity: the one the CLI and the node host of this state
    /// directory sign with (`<state>/node/identity.json`), as OpenClaw's gateway uses its
    /// host's process identity.
    fn restart(
        &self,
        ask: openclaw_actors::ports::RestartAsk,
    ) -> Result<openclaw_actors::ports::RestartTicket, (bool, String)> {
        match &self.restart {
            Some(gate) => gate.ask(ask),
            None => Err((false, "gateway restart is not available here".to_owned())),
        }
    }

    fn gateway_identity(&self) -> Result<Value, String> {
        use base64::Engine as _;
        let id = crate::client::identity::load_or_create_identity(&self.state_dir)?;
        Ok(serde_json::json!({
            "deviceId": id.device_id,
            "publicKey": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.key.public_key()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_everywhere() {
        let mut v = json!({"gateway": {"auth": {"token": "s3cret-token", "mode": "token"}},
            "channels": {"telegram": {"botToken": "1:abc", "tokenFile": "/x"}},
            "models": {"providers": {"p": {"apiKey": "sk-1", "baseUrl": "http://x"}}}});
        let found = redact_value(&mut v);
        assert_eq!(found.len(), 3);
        assert_eq!(v["gateway"]["auth"]["token"], REDACTED);
        assert_eq!(v["gateway"]["auth"]["mode"], "token");
        assert_eq!(v["channels"]["telegram"]["tokenFile"], "/x");
        assert_eq!(v["models"]["providers"]["p"]["apiKey"], REDACTED);
        let raw = "{gateway: {auth: {token: 's3cret-token'}}}";
        assert!(!redact_text(raw, &found).contains("s3cret"));

        // The env block holds keys under any name; shellEnv is settings.
        let mut v = json!({"env": {"vars": {"GROQ": "gsk-1", "N": 3}, "OPENAI_API_KEY": "sk-2",
                                   "shellEnv": {"enabled": true, "timeoutMs": "15000"}}});
        let found = redact_value(&mut v);
        assert_eq!(v["env"]["vars"]["GROQ"], REDACTED);
        assert_eq!(v["env"]["vars"]["N"], 3);
        assert_eq!(v["env"]["OPENAI_API_KEY"], REDACTED);
        assert_eq!(v["env"]["shellEnv"]["timeoutMs"], "15000");
        let mut found = found;
        found.sort();
        assert_eq!(found, ["gsk-1", "sk-2"]);

        // A reference to the environment is not a secret: it stays visible.
        let mut v = json!({"models": {"providers": {"p": {"apiKey": "${P_API_KEY}"}}}});
        assert!(redact_value(&mut v).is_empty());
        assert_eq!(v["models"]["providers"]["p"]["apiKey"], "${P_API_KEY}");

        // A short secret is replaced only as a whole string, not inside other words.
        let raw = "{token: \"T\", other: 'T', mode: \"Token\"}";
        assert_eq!(
            redact_text(raw, &["T".to_owned()]),
            format!("{{token: \"{REDACTED}\", other: '{REDACTED}', mode: \"Token\"}}")
        );
    }

    #[test]
    fn merge_patch_ops_guard_arrays() {
        let cur = json!({"a": {"list": [1, 2], "x": 1}});
        let mut ops = Vec::new();
        assert!(patch_ops(&[], &json!({"a": {"list": [1]}}), &cur, &[], &mut ops).is_err());
        let mut ops = Vec::new();
        patch_ops(
            &[],
            &json!({"a": {"list": [1, 2, 3], "x": null}}),
            &cur,
            &[],
            &mut ops,
        )
        .expect("ok");
        assert_eq!(ops.len(), 2);
        let mut ops = Vec::new();
        patch_ops(
            &[],
            &json!({"a": {"list": [1]}}),
            &cur,
            &["a.list".to_owned()],
            &mut ops,
        )
        .expect("ok");
    }
}
