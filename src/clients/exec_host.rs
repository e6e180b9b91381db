//! The gateway host's side of the agent's `exec` tool
//! ([`CommandHost`](openclaw_actors::ports::CommandHost)): runs a command as a child of the
//! gateway, in its own process group, stdin closed, output capped, the whole group killed
//! on timeout or when the run stops waiting.
//!
//! - `mode: "full"`: `command` runs with the gateway's shell (`$SHELL` when it is an
//!   absolute path to a POSIX shell, else `/bin/sh`), `-c`. The environment is the
//!   gateway's, without its own credentials: `OPENCLAW_GATEWAY_TOKEN` / `_PASSWORD`,
//!   `TELEGRAM_BOT_TOKEN`, every `*_API_KEY`, and any variable whose value holds a
//!   configured secret are dropped. `OPENCLAW_SHELL=exec` is set, as OpenClaw does.
//! - allowlist modes: the argv (already split, see
//!   [`simple_argv`](openclaw_actors::exec_tool::simple_argv)) runs without a shell, only if
//!   its program is on `<state>/exec-allowlist.json`, the file format and the checks of our
//!   node host's allowlist ([`crate::node_host::exec`]): program identity by canonical
//!   path and name, argument patterns, and an environment of `PATH`, `HOME` and the file's
//!   `env` patterns only.
//!
//! Configured secrets are redacted from the output before the model sees it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openclaw_actors::exec_process::LiveOutput;
use openclaw_actors::ports::{CommandHost, GatewayExec, LocalFut};
use serde_json::{Value, json};

use crate::node_host::exec as policy;

/// Most bytes of stdout (and, separately, stderr) kept (the model gets at most 16 KiB of a
/// tool result anyway).
pub const OUTPUT_CAP: usize = 64 * 1024;

/// "No timeout": longer than any run.
const NO_TIMEOUT: Duration = Duration::from_secs(30 * 86_400);

/// The gateway's exec allowlist in `state_dir`.
pub fn allowlist_path(state_dir: &Path) -> PathBuf {
    state_dir.join("exec-allowlist.json")
}

/// Runs `exec` commands on this host.
#[derive(Debug, Clone)]
pub struct LocalExec {
    allow_file: PathBuf,
    state_dir: PathBuf,
}

impl LocalExec {
    /// With the allowlist and the host exec approvals of `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            allow_file: allowlist_path(state_dir),
            state_dir: state_dir.to_path_buf(),
        }
    }
}

/// What to start.
struct Launch {
    program: PathBuf,
    argv: Vec<String>,
    cwd: PathBuf,
    env: BTreeMap<String, String>,
    timeout: Duration,
    note: Option<String>,
}

impl CommandHost for LocalExec {
    fn host_approvals(
        &self,
        agent: &str,
    ) -> LocalFut<Result<openclaw_actors::ports::HostApprovals, String>> {
        let (dir, agent) = (self.state_dir.clone(), agent.to_owned());
        Box::pin(async move {
            actix_web::rt::task::spawn_blocking(move || {
                crate::clients::host_approvals::for_agent(&dir, &agent)
            })
            .await
            .unwrap_or_else(|_| Err("exec approvals could not be read".into()))
        })
    }

    fn run(
        &self,
        req: GatewayExec,
        live: Option<std::rc::Rc<std::cell::RefCell<LiveOutput>>>,
    ) -> LocalFut<Value> {
        let allow_file = self.allow_file.clone();
        Box::pin(async move {
            let launch =
                actix_web::rt::task::spawn_blocking(move || prepare(req, &allow_file)).await;
            let launch = match launch {
                Ok(Ok(l)) => l,
                Ok(Err(Refusal { message, miss })) => {
                    let mut v = json!({"ok": false, "error": message});
                    if miss {
                        v["allowlistMiss"] = json!(true);
                    }
                    return v;
                }
                Err(_) => return json!({"ok": false, "error": "exec failed to start"}),
            };
            if let Some(l) = &live {
                l.borrow_mut().set_scrub(std::rc::Rc::new(|t: &str| {
                    crate::logging::redact(t).into_owned()
                }));
            }
            let watch = |_stderr: bool, bytes: &[u8]| {
                if let Some(l) = &live {
                    l.borrow_mut().push(bytes);
                }
            };
            let mut res = policy::run_program_watched(
                &launch.program,
                &launch.argv,
                Some(&launch.cwd),
                &launch.env,
                launch.timeout,
                OUTPUT_CAP,
                &watch,
            )
            .await;
            if let Value::Object(m) = &mut res {
                for k in ["stdout", "stderr", "error"] {
                    if let Some(Value::String(t)) = m.get_mut(k)
                        && crate::logging::holds_secret(t)
                    {
                        *t = crate::logging::redact(t).into_owned();
                    }
                }
                let ok = m.get("success").cloned().unwrap_or(json!(false));
                m.insert("ok".into(), ok);
                m.remove("success");
                if let Some(n) = launch.note {
                    m.insert("note".into(), json!(n));
                }
            }
            res
        })
    }
}

/// The gateway's environment as strings.
fn own_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Whether a variable of the gateway's environment is one of its credentials.
fn credential(name: &str, value: &str) -> bool {
    matches!(
        name,
        "OPENCLAW_GATEWAY_TOKEN" | "OPENCLAW_GATEWAY_PASSWORD" | "TELEGRAM_BOT_TOKEN"
    ) || name.ends_with("_API_KEY")
        || crate::logging::holds_secret(value)
}

/// The shell for `mode: "full"`.
fn shell(env: &BTreeMap<String, String>) -> PathBuf {
    if let Some(s) = env.get("SHELL").map(Path::new)
        && s.is_absolute()
        && policy::is_executable_file(s)
        && s.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| matches!(n, "sh" | "bash" | "zsh" | "dash" | "ksh" | "ash"))
    {
        return s.to_path_buf();
    }
    PathBuf::from("/bin/sh")
}

/// Why a command does not start.
struct Refusal {
    message: String,
    /// The allowlist did not allow it (a human may).
    miss: bool,
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Self {
            message,
            miss: false,
        }
    }
}

/// The gateway's environment for a shell or an approved command: its own, without its
/// credentials, the eligible skills' variables where it lacks them, the call's overrides,
/// `PATH` from `dirs` and `OPENCLAW_SHELL=exec`.
fn open_env(
    own: BTreeMap<String, String>,
    skill_env: BTreeMap<String, String>,
    overrides: BTreeMap<String, String>,
    dirs: &[PathBuf],
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> =
        own.into_iter().filter(|(k, v)| !credential(k, v)).collect();
    for (k, v) in skill_env {
        env.entry(k).or_insert(v);
    }
    env.extend(overrides);
    if let Ok(p) = std::env::join_paths(dirs)
        && let Some(p) = p.to_str()
    {
        env.insert("PATH".into(), p.to_owned());
    }
    env.insert("OPENCLAW_SHELL".into(), "exec".into());
    env
}

/// Adds `argv` (its program as located, its exact arguments) to the allowlist file, written
/// whole to a temporary file and renamed over it, mode 0600.
fn remember(allow_file: &Path, program: &Path, argv: &[String]) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut doc: Value = match std::fs::read_to_string(allow_file) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| format!("{}: {e}", allow_file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({"allow": []}),
        Err(e) => return Err(format!("cannot read {}: {e}", allow_file.display())),
    };
    let args: Vec<&String> = argv.iter().skip(1).collect();
    let entry = json!({"program": program.display().to_string(), "args": args});
    match doc.get_mut("allow").and_then(Value::as_array_mut) {
        Some(list) => {
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
        None => return Err(format!("{} has no \"allow\" list", allow_file.display())),
    }
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    let tmp = allow_file.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, allow_file)
        .map_err(|e| format!("cannot replace {}: {e}", allow_file.display()))
}

/// The program of `argv` when one of the host approvals document's `patterns` allows it
/// (matched on its real path, or its name as located).
fn host_allowed(
    argv: &[String],
    cwd: &Path,
    dirs: &[PathBuf],
    patterns: &[String],
) -> Option<PathBuf> {
    if patterns.is_empty() {
        return None;
    }
    let located = policy::locate(argv.first()?, Some(cwd), dirs)?;
    let real = std::fs::canonicalize(&located).ok()?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    crate::clients::host_approvals::allows(patterns, &located, &real, home.as_deref())
        .then_some(real)
}

/// Checks the request and builds what to start (blocking: reads the allowlist, resolves
/// programs).
fn prepare(req: GatewayExec, allow_file: &Path) -> Result<Launch, Refusal> {
    if !req.cwd.is_dir() {
        return Err(format!(
            "workdir {} is not a directory on the gateway host",
            req.cwd.display()
        )
        .into());
    }
    let own = own_env();
    let mut dirs = req.path_prepend.clone();
    dirs.extend(policy::path_dirs(own.get("PATH").map(std::ffi::OsStr::new)));
    let timeout = req.timeout.unwrap_or(NO_TIMEOUT);
    match req.argv {
        Some(argv) if req.approved => {
            let program = argv
                .first()
                .and_then(|p| policy::locate(p, Some(&req.cwd), &dirs))
                .ok_or_else(|| {
                    format!(
                        "{}: not found on the gateway host's PATH",
                        argv.first().map(String::as_str).unwrap_or_default()
                    )
                })?;
            let note = if req.remember {
                Some(match remember(allow_file, &program, &argv) {
                    Ok(()) => format!("added to {}", allow_file.display()),
                    Err(e) => format!("allow-always not saved ({e}); it ran once"),
                })
            } else {
                None
            };
            let env = open_env(own, req.skill_env, req.env, &dirs);
            Ok(Launch {
                program,
                argv,
                cwd: req.cwd,
                env,
                timeout,
                note,
            })
        }
        None => {
            let env = open_env(own, req.skill_env, req.env, &dirs);
            let program = shell(&env);
            let name = program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sh".into());
            Ok(Launch {
                program,
                argv: vec![name, "-c".into(), req.command],
                cwd: req.cwd,
                env,
                timeout,
                note: None,
            })
        }
        Some(argv) => {
            use std::os::unix::fs::PermissionsExt as _;
            if let Ok(meta) = std::fs::metadata(allow_file)
                && meta.permissions().mode() & 0o022 != 0
            {
                return Err(format!(
                    "exec denied: {} is writable by other users, so anyone could allow programs with it. Fix: chmod 600 it",
                    allow_file.display()
                )
                .into());
            }
            let file = policy::read_allowlist_file(allow_file)
                .map_err(|e| format!("exec denied: {e}; fix the gateway's exec allowlist"))?;
            let p = policy::resolve_policy(&file, &[], &dirs);
            let program = match policy::check_allowed(&argv, Some(&req.cwd), &dirs, &p, allow_file)
            {
                Ok(program) => program,
                // The host approvals document's patterns for this agent allow it too.
                Err(e) => match host_allowed(&argv, &req.cwd, &dirs, &req.host_patterns) {
                    Some(program) => program,
                    None => {
                        return Err(Refusal {
                            message: format!(
                                "exec denied: {}",
                                e.message.replace("this node's", "the gateway's")
                            ),
                            miss: true,
                        });
                    }
                },
            };
            let (mut env, dropped) = policy::child_env(&req.env, &own, &p.env, &dirs);
            env.retain(|k, v| !credential(k, v));
            env.insert("OPENCLAW_SHELL".into(), "exec".into());
            let note = (!dropped.is_empty()).then(|| {
                format!(
                    "env {} not passed (not on the exec allowlist's \"env\")",
                    dropped.join(", ")
                )
            });
            Ok(Launch {
                program,
                argv,
                cwd: req.cwd,
                env,
                timeout,
                note,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(command: &str, argv: Option<Vec<&str>>, cwd: &Path) -> GatewayExec {
        GatewayExec {
            host_patterns: Vec::new(),
            command: command.to_owned(),
            argv: argv.map(|a| a.into_iter().map(str::to_owned).collect()),
            cwd: cwd.to_path_buf(),
            env: BTreeMap::new(),
            skill_env: BTreeMap::new(),
            timeout: Some(Duration::from_secs(20)),
            path_prepend: Vec::new(),
            approved: false,
            remember: false,
        }
    }

    #[test]
    fn credentials_are_recognised_by_name_and_value() {
        assert!(credential("OPENCLAW_GATEWAY_TOKEN", "x"));
        assert!(credential("OPENAI_API_KEY", "x"));
        assert!(credential("TELEGRAM_BOT_TOKEN", "x"));
        assert!(!credential("GH_TOKEN", "ghp_x"));
        assert!(!credential("LANG", "C.UTF-8"));
    }

    #[actix_web::test]
    async fn full_mode_runs_the_shell_in_the_workdir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = LocalExec::new(dir.path());
        let mut r = req(
            "printf '%s|' \"$OPENCLAW_SHELL\" \"$(pwd)\"; exit 3",
            None,
            dir.path(),
        );
        r.env.insert("EXTRA".into(), "1".into());
        let v = host.run(r, None).await;
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["exitCode"], 3, "{v}");
        let real = std::fs::canonicalize(dir.path()).expect("canonical");
        assert_eq!(
            v["stdout"].as_str().unwrap_or_default(),
            format!("exec|{}|", real.display())
        );
    }

    #[actix_web::test]
    async fn allowlist_mode_runs_only_listed_programs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = LocalExec::new(dir.path());
        let v = host
            .run(req("uname -s", Some(vec!["uname", "-s"]), dir.path()), None)
            .await;
        assert_eq!(v["ok"], false);
        let e = v["error"].as_str().unwrap_or_default();
        assert!(
            e.contains("the gateway's exec allowlist") && e.contains("exec-allowlist.json"),
            "{e}"
        );
        std::fs::write(allowlist_path(dir.path()), r#"{"allow": ["uname"]}"#).expect("write");
        let v = host
            .run(req("uname -s", Some(vec!["uname", "-s"]), dir.path()), None)
            .await;
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["stdout"].as_str().map(str::trim), Some("Linux"));
        // A group-writable allowlist is not trusted.
        std::fs::set_permissions(
            allowlist_path(dir.path()),
            std::os::unix::fs::PermissionsExt::from_mode(0o666),
        )
        .expect("chmod");
        let v = host
            .run(req("uname -s", Some(vec!["uname", "-s"]), dir.path()), None)
            .await;
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("writable by other users")),
            "{v}"
        );
    }

    #[actix_web::test]
    async fn a_missing_workdir_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = LocalExec::new(dir.path());
        let v = host
            .run(req("true", None, &dir.path().join("nope")), None)
            .await;
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("not a directory")),
            "{v}"
        );
    }
}
