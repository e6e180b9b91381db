//! The node's commands: `system.which` and `system.run`, and the node's own exec allowlist.
//!
//! `system.run` executes only programs whose resolved absolute path is on this node's
//! allowlist (`$STATE/node/exec-allowlist.json`, plus `--exec-allow`). The check happens on
//! the node, whatever the gateway approved: the gateway decides *which commands* may be
//! invoked, the node decides *which programs* `system.run` may start.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;
use tokio::time::{Instant, sleep_until};

/// Most bytes of stdout (and, separately, stderr) returned by `system.run`.
pub const OUTPUT_CAP: usize = 256 * 1024;

/// Default `system.run` timeout when neither the params nor the request give one.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// How long to keep reading output after the process exited (a daemonised grandchild may
/// hold the pipes open).
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Environment variables a caller may not set: they would let an allowlisted program load
/// or run arbitrary code (dynamic loader, interpreter start-up hooks).
const BLOCKED_ENV_PREFIXES: &[&str] = &["LD_", "DYLD_"];
const BLOCKED_ENV_KEYS: &[&str] = &[
    "BASH_ENV",
    "ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "IFS",
    "GCONV_PATH",
    "NODE_OPTIONS",
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PYTHONHOME",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "RUBYOPT",
    "RUBYLIB",
    "GIT_EXEC_PATH",
    "GIT_SSH_COMMAND",
];

/// An error answered to the gateway as `ok:false, error:{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeError {
    /// `INVALID_REQUEST`, `SYSTEM_RUN_DENIED`, `UNAVAILABLE`.
    pub code: &'static str,
    /// Human message.
    pub message: String,
}

impl InvokeError {
    /// `INVALID_REQUEST`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "INVALID_REQUEST",
            message: message.into(),
        }
    }

    fn denied(message: impl Into<String>) -> Self {
        Self {
            code: "SYSTEM_RUN_DENIED",
            message: message.into(),
        }
    }
}

/// The absolute directories of a `PATH` value (relative and empty entries are skipped: they
/// would depend on the node's working directory).
pub fn path_dirs(path: Option<&OsStr>) -> Vec<PathBuf> {
    path.map(|p| {
        std::env::split_paths(p)
            .filter(|d| d.is_absolute())
            .collect()
    })
    .unwrap_or_default()
}

/// Whether `p` is (or links to) a regular file with an execute bit.
pub fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds a bare program name on `dirs`, first match wins. Names with a `/` are not searched.
pub fn which_in(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| is_executable_file(p))
}

/// `system.which {bins:[…]}` → `{bins:{name:"/abs/path"}}`; missing bins are omitted.
pub fn system_which(params: &Value, dirs: &[PathBuf]) -> Result<Value, InvokeError> {
    let bins = params
        .get("bins")
        .and_then(Value::as_array)
        .ok_or_else(|| InvokeError::invalid("bins required (an array of program names)"))?;
    let mut found = serde_json::Map::new();
    for b in bins {
        let name = b
            .as_str()
            .ok_or_else(|| InvokeError::invalid("bins must be an array of strings"))?;
        if let Some(p) = which_in(name, dirs) {
            found.insert(name.to_owned(), json!(p.to_string_lossy()));
        }
    }
    Ok(json!({ "bins": found }))
}

/// Resolves one allowlist entry (absolute path, or bare name looked up on `dirs`) to its
/// canonical absolute path. Relative paths and missing programs resolve to nothing.
pub fn resolve_allow_entry(entry: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let entry = entry.trim();
    let path = if entry.starts_with('/') {
        PathBuf::from(entry)
    } else if entry.contains('/') {
        return None;
    } else {
        which_in(entry, dirs)?
    };
    if !is_executable_file(&path) {
        return None;
    }
    std::fs::canonicalize(path).ok()
}

/// Reads `{"allow":[…]}` from `file` (a missing file is an empty list).
pub fn read_allowlist_file(file: &Path) -> Result<Vec<String>, String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", file.display()))?;
    let allow = v
        .get("allow")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{} has no \"allow\" array", file.display()))?;
    allow
        .iter()
        .map(|e| {
            e.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{}: \"allow\" must hold strings", file.display()))
        })
        .collect()
}

/// The node's allowlist, resolved to canonical absolute paths.
pub fn resolve_allowlist(entries: &[String], dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = entries
        .iter()
        .filter_map(|e| resolve_allow_entry(e, dirs))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Resolves the program of an argv: a name with `/` is taken as a path (relative to `cwd`),
/// a bare name is looked up on `dirs`. Returns the canonical path.
pub fn resolve_program(program: &str, cwd: Option<&Path>, dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = if program.contains('/') {
        let p = Path::new(program);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            match cwd {
                Some(c) => c.join(p),
                None => std::env::current_dir().ok()?.join(p),
            }
        }
    } else {
        which_in(program, dirs)?
    };
    if !is_executable_file(&path) {
        return None;
    }
    std::fs::canonicalize(path).ok()
}

/// Checks `program` against the resolved allowlist; returns the canonical path to execute.
pub fn check_allowed(
    program: &str,
    cwd: Option<&Path>,
    dirs: &[PathBuf],
    allow: &[PathBuf],
    allow_file: &Path,
) -> Result<PathBuf, InvokeError> {
    let resolved = resolve_program(program, cwd, dirs);
    match resolved {
        Some(p) if allow.contains(&p) => Ok(p),
        Some(p) => Err(InvokeError::denied(format!(
            "command not on this node's exec allowlist ({}); add it to {}",
            p.display(),
            allow_file.display()
        ))),
        None => Err(InvokeError::denied(format!(
            "command not on this node's exec allowlist ({program}: not found on the node's PATH); add it to {}",
            allow_file.display()
        ))),
    }
}

/// A parsed `system.run` request.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Timeout from the params.
    pub timeout: Option<Duration>,
}

/// Validates `system.run` params.
pub fn parse_run(params: &Value) -> Result<RunRequest, InvokeError> {
    let argv: Vec<String> = params
        .get("command")
        .and_then(Value::as_array)
        .ok_or_else(|| InvokeError::invalid("command required (an argv array)"))?
        .iter()
        .map(|a| a.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| InvokeError::invalid("command must be an array of strings"))?;
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err(InvokeError::invalid("command required (an argv array)"));
    }
    let cwd = match params.get("cwd") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            let p = PathBuf::from(s);
            if !p.is_absolute() {
                return Err(InvokeError::invalid("cwd must be an absolute path"));
            }
            Some(p)
        }
        Some(_) => return Err(InvokeError::invalid("cwd must be a string")),
    };
    let mut env = BTreeMap::new();
    match params.get("env") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = v
                    .as_str()
                    .ok_or_else(|| InvokeError::invalid("env values must be strings"))?;
                if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                    return Err(InvokeError::invalid(format!("invalid env entry {k:?}")));
                }
                let upper = k.to_ascii_uppercase();
                if BLOCKED_ENV_KEYS.contains(&upper.as_str())
                    || BLOCKED_ENV_PREFIXES.iter().any(|p| upper.starts_with(p))
                {
                    return Err(InvokeError::denied(format!(
                        "env {k} may not be set by system.run on this node"
                    )));
                }
                env.insert(k.clone(), v.to_owned());
            }
        }
        Some(_) => return Err(InvokeError::invalid("env must be an object of strings")),
    }
    let timeout = match params.get("timeoutMs") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms)),
            _ => return Err(InvokeError::invalid("timeoutMs must be a positive integer")),
        },
    };
    Ok(RunRequest {
        argv,
        cwd,
        env,
        timeout,
    })
}

/// Output kept up to a cap, counting what was dropped.
#[derive(Debug, Default)]
pub struct Capped {
    buf: Vec<u8>,
    cap: usize,
    omitted: u64,
}

impl Capped {
    /// An empty buffer holding at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            buf: Vec::new(),
            cap,
            omitted: 0,
        }
    }

    /// Appends, dropping what does not fit.
    pub fn push(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.buf.len());
        let take = room.min(bytes.len());
        self.buf.extend_from_slice(&bytes[..take]);
        self.omitted += (bytes.len() - take) as u64;
    }

    /// The text (lossy UTF-8), with a truncation marker when bytes were dropped.
    pub fn into_text(self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.omitted > 0 {
            s.push_str(&format!(
                "\n[output truncated: {} more bytes not shown]",
                self.omitted
            ));
        }
        s
    }
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok())
        && let Some(pid) = rustix::process::Pid::from_raw(pid)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Runs `argv` (program already resolved to `exec_path`) in its own process group, with
/// stdin closed, output capped at [`OUTPUT_CAP`] per stream and the whole group killed on
/// timeout. Returns the `system.run` payload.
pub async fn run_program(
    exec_path: &Path,
    argv: &[String],
    cwd: Option<&Path>,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Value {
    run_program_capped(exec_path, argv, cwd, env, timeout, OUTPUT_CAP).await
}

async fn run_program_capped(
    exec_path: &Path,
    argv: &[String],
    cwd: Option<&Path>,
    env: &BTreeMap<String, String>,
    timeout: Duration,
    cap: usize,
) -> Value {
    let mut cmd = tokio::process::Command::new(exec_path);
    if let Some(arg0) = argv.first() {
        cmd.arg0(arg0);
    }
    cmd.args(argv.iter().skip(1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(c) = cwd {
        cmd.current_dir(c);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return json!({"exitCode": null, "timedOut": false, "success": false,
                "stdout": "", "stderr": "", "error": format!("failed to start {}: {e}", exec_path.display())});
        }
    };
    let pid = child.id();
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let mut out_buf = Capped::new(cap);
    let mut err_buf = Capped::new(cap);
    let mut b1 = vec![0u8; 16 * 1024];
    let mut b2 = vec![0u8; 16 * 1024];
    let hard_deadline = Instant::now() + timeout;
    let mut drain_deadline: Option<Instant> = None;
    let mut status: Option<std::process::ExitStatus> = None;
    let mut wait_failed = false;
    let mut timed_out = false;
    loop {
        let exited = status.is_some() || wait_failed;
        if exited && out.is_none() && err.is_none() {
            break;
        }
        let drain_at = drain_deadline.unwrap_or(hard_deadline + Duration::from_secs(3600));
        tokio::select! {
            r = async { match out.as_mut() { Some(o) => o.read(&mut b1).await, None => std::future::pending().await } } => {
                match r {
                    Ok(0) | Err(_) => out = None,
                    Ok(n) => out_buf.push(&b1[..n]),
                }
            }
            r = async { match err.as_mut() { Some(o) => o.read(&mut b2).await, None => std::future::pending().await } } => {
                match r {
                    Ok(0) | Err(_) => err = None,
                    Ok(n) => err_buf.push(&b2[..n]),
                }
            }
            s = child.wait(), if !exited => {
                match s {
                    Ok(s) => status = Some(s),
                    Err(_) => wait_failed = true,
                }
                drain_deadline = Some(Instant::now() + DRAIN_GRACE);
            }
            _ = sleep_until(hard_deadline), if !exited && !timed_out => {
                timed_out = true;
                kill_group(pid);
                let _ = child.start_kill();
            }
            _ = sleep_until(drain_at), if drain_deadline.is_some() => break,
        }
    }
    if timed_out {
        // Also reap anything left in the group.
        kill_group(pid);
    }
    let exit_code = status.and_then(|s| s.code());
    let error = if timed_out {
        Some(format!(
            "command timed out after {} ms",
            timeout.as_millis()
        ))
    } else if wait_failed {
        Some("lost track of the process".to_owned())
    } else {
        use std::os::unix::process::ExitStatusExt as _;
        status
            .and_then(|s| s.signal())
            .map(|sig| format!("terminated by signal {sig}"))
    };
    json!({
        "exitCode": exit_code,
        "timedOut": timed_out,
        "success": exit_code == Some(0) && !timed_out,
        "stdout": out_buf.into_text(),
        "stderr": err_buf.into_text(),
        "error": error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys_dirs() -> Vec<PathBuf> {
        path_dirs(Some(OsStr::new("/usr/bin:/bin:relative:/nonexistent")))
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn path_dirs_skip_relative() {
        let d = sys_dirs();
        assert_eq!(
            d,
            vec![
                PathBuf::from("/usr/bin"),
                PathBuf::from("/bin"),
                PathBuf::from("/nonexistent")
            ]
        );
        assert!(path_dirs(None).is_empty());
    }

    #[test]
    fn which_finds_executables_only() {
        let tmp = tempfile::tempdir().expect("tmp");
        let exe = tmp.path().join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let plain = tmp.path().join("data");
        std::fs::write(&plain, "x").expect("write");
        std::fs::create_dir(tmp.path().join("subdir")).expect("mkdir");
        let dirs = vec![tmp.path().to_path_buf()];
        assert_eq!(which_in("tool", &dirs), Some(exe.clone()));
        assert_eq!(which_in("data", &dirs), None);
        assert_eq!(which_in("subdir", &dirs), None);
        assert_eq!(which_in("../tool", &dirs), None);
        assert_eq!(which_in("", &dirs), None);
        let v = system_which(&json!({"bins": ["tool", "data", "missing"]}), &dirs).expect("ok");
        assert_eq!(v, json!({"bins": {"tool": exe.to_string_lossy()}}));
        assert_eq!(
            system_which(&json!({"bins": "tool"}), &dirs)
                .expect_err("bad")
                .code,
            "INVALID_REQUEST"
        );
        assert_eq!(
            system_which(&json!({"bins": [1]}), &dirs)
                .expect_err("bad")
                .code,
            "INVALID_REQUEST"
        );
    }

    #[test]
    fn allowlist_resolution() {
        let dirs = sys_dirs();
        let sh = std::fs::canonicalize("/bin/sh").expect("sh");
        let allow = resolve_allowlist(
            &[
                "sh".into(),
                "/bin/sh".into(),
                "relative/sh".into(),
                "no-such-program-xyz".into(),
                "/etc/passwd".into(),
            ],
            &dirs,
        );
        assert_eq!(
            allow,
            vec![sh.clone()],
            "bare name and path dedupe to one entry"
        );
        let file = Path::new("/state/node/exec-allowlist.json");
        assert_eq!(
            check_allowed("sh", None, &dirs, &allow, file).expect("allowed"),
            sh
        );
        assert_eq!(
            check_allowed("/bin/sh", None, &dirs, &allow, file).expect("allowed"),
            sh
        );
        let denied = check_allowed("uname", None, &dirs, &allow, file).expect_err("denied");
        assert_eq!(denied.code, "SYSTEM_RUN_DENIED");
        assert!(denied.message.contains("uname"), "{}", denied.message);
        assert!(denied.message.contains("/state/node/exec-allowlist.json"));
        assert!(check_allowed("nope-xyz", None, &dirs, &allow, file).is_err());
        // Empty allowlist denies everything.
        assert!(check_allowed("sh", None, &dirs, &[], file).is_err());
        // A copy of an allowed program elsewhere is a different path: denied.
        let tmp = tempfile::tempdir().expect("tmp");
        let copy = tmp.path().join("sh");
        std::fs::copy(&sh, &copy).expect("copy");
        assert!(check_allowed("sh", None, &[tmp.path().to_path_buf()], &allow, file).is_err());
        assert!(check_allowed("./sh", Some(tmp.path()), &dirs, &allow, file).is_err());
    }

    #[test]
    fn allowlist_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let f = tmp.path().join("exec-allowlist.json");
        assert_eq!(read_allowlist_file(&f), Ok(vec![]));
        std::fs::write(&f, r#"{"allow":["/usr/bin/echo","uname"]}"#).expect("write");
        assert_eq!(
            read_allowlist_file(&f),
            Ok(vec!["/usr/bin/echo".to_owned(), "uname".to_owned()])
        );
        std::fs::write(&f, r#"{"allow":"x"}"#).expect("write");
        assert!(read_allowlist_file(&f).is_err());
        std::fs::write(&f, "nope").expect("write");
        assert!(read_allowlist_file(&f).is_err());
    }

    #[test]
    fn parse_run_params() {
        let r = parse_run(&json!({"command": ["echo", "hi"], "cwd": "/tmp", "env": {"A": "1"}, "timeoutMs": 500, "runId": "x"}))
            .expect("ok");
        assert_eq!(r.argv, vec!["echo", "hi"]);
        assert_eq!(r.cwd, Some(PathBuf::from("/tmp")));
        assert_eq!(r.timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            parse_run(&json!({})).expect_err("e").code,
            "INVALID_REQUEST"
        );
        assert_eq!(
            parse_run(&json!({"command": []})).expect_err("e").code,
            "INVALID_REQUEST"
        );
        assert_eq!(
            parse_run(&json!({"command": ["x", 1]}))
                .expect_err("e")
                .code,
            "INVALID_REQUEST"
        );
        assert_eq!(
            parse_run(&json!({"command": ["x"], "cwd": "rel"}))
                .expect_err("e")
                .code,
            "INVALID_REQUEST"
        );
        assert_eq!(
            parse_run(&json!({"command": ["x"], "env": {"LD_PRELOAD": "/x.so"}}))
                .expect_err("e")
                .code,
            "SYSTEM_RUN_DENIED"
        );
    }

    #[test]
    fn capped_output() {
        let mut c = Capped::new(4);
        c.push(b"ab");
        c.push(b"cdef");
        c.push(b"g");
        assert_eq!(
            c.into_text(),
            "abcd\n[output truncated: 3 more bytes not shown]"
        );
        let mut c = Capped::new(10);
        c.push(b"hi");
        assert_eq!(c.into_text(), "hi");
    }

    #[test]
    fn run_echo_and_cap() {
        let sh = std::fs::canonicalize("/bin/sh").expect("sh");
        let env = BTreeMap::new();
        let v = rt().block_on(run_program(
            &sh,
            &[
                "sh".into(),
                "-c".into(),
                "echo hi; echo err >&2; exit 3".into(),
            ],
            None,
            &env,
            Duration::from_secs(10),
        ));
        assert_eq!(v["exitCode"], json!(3));
        assert_eq!(v["stdout"], json!("hi\n"));
        assert_eq!(v["stderr"], json!("err\n"));
        assert_eq!(v["success"], json!(false));
        assert_eq!(v["timedOut"], json!(false));
        assert_eq!(v["error"], json!(null));
        // Output beyond the cap is dropped, the process still completes.
        let v = rt().block_on(run_program_capped(
            &sh,
            &["sh".into(), "-c".into(), "yes x | head -c 100000".into()],
            None,
            &env,
            Duration::from_secs(10),
            1000,
        ));
        assert_eq!(v["exitCode"], json!(0));
        let out = v["stdout"].as_str().expect("stdout");
        assert!(out.starts_with(&"x\n".repeat(500)));
        assert!(out.ends_with("[output truncated: 99000 more bytes not shown]"));
    }

    #[test]
    fn run_timeout_kills_group() {
        let sh = std::fs::canonicalize("/bin/sh").expect("sh");
        let started = std::time::Instant::now();
        let v = rt().block_on(run_program(
            &sh,
            // The grandchild `sleep` holds stdout open: killing only `sh` would hang.
            &[
                "sh".into(),
                "-c".into(),
                "echo start; sleep 30; echo never".into(),
            ],
            None,
            &BTreeMap::new(),
            Duration::from_millis(300),
        ));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(v["timedOut"], json!(true));
        assert_eq!(v["success"], json!(false));
        assert_eq!(v["exitCode"], json!(null));
        assert_eq!(v["stdout"], json!("start\n"));
        assert!(v["error"].as_str().expect("error").contains("timed out"));
    }

    #[test]
    fn run_missing_cwd_reports_error() {
        let sh = std::fs::canonicalize("/bin/sh").expect("sh");
        let v = rt().block_on(run_program(
            &sh,
            &["sh".into(), "-c".into(), "true".into()],
            Some(Path::new("/nonexistent-dir-xyz")),
            &BTreeMap::new(),
            Duration::from_secs(5),
        ));
        assert_eq!(v["success"], json!(false));
        assert!(
            v["error"]
                .as_str()
                .expect("error")
                .contains("failed to start")
        );
    }
}
