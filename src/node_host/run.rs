//! Running an allowed `system.run` program: its own process group, a fixed environment,
//! stdin closed, output capped per stream, the whole group killed on timeout.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;
use tokio::time::{Instant, sleep_until};

use super::exec::OUTPUT_CAP;

/// How long to keep reading output after the process exited (a daemonised grandchild may
/// hold the pipes open).
const DRAIN_GRACE: Duration = Duration::from_secs(1);

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

/// Kills the process group when dropped while armed: a caller that stops waiting (a
/// stopped agent run, a dropped invoke) leaves nothing running.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0.take());
    }
}

/// Runs `argv` (program already resolved to `exec_path`) in its own process group, with
/// exactly the environment `env` (see [`child_env`](super::exec::child_env)), stdin closed, output capped at [`OUTPUT_CAP`] per stream and the whole group killed on
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

pub(crate) async fn run_program_capped(
    exec_path: &Path,
    argv: &[String],
    cwd: Option<&Path>,
    env: &BTreeMap<String, String>,
    timeout: Duration,
    cap: usize,
) -> Value {
    run_program_watched(exec_path, argv, cwd, env, timeout, cap, &|_, _| {}).await
}

/// As [`run_program_capped`], also handing every piece of output to `watch` as it comes
/// (`true`: stderr), uncapped (the watcher bounds what it keeps).
pub(crate) async fn run_program_watched(
    exec_path: &Path,
    argv: &[String],
    cwd: Option<&Path>,
    env: &BTreeMap<String, String>,
    timeout: Duration,
    cap: usize,
    watch: &dyn Fn(bool, &[u8]),
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
    // Only what `env` holds: the node's own environment (its gateway token, say) never
    // reaches the program.
    cmd.env_clear();
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
    let mut guard = GroupGuard(pid);
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
                    Ok(n) => {
                        watch(false, &b1[..n]);
                        out_buf.push(&b1[..n]);
                    }
                }
            }
            r = async { match err.as_mut() { Some(o) => o.read(&mut b2).await, None => std::future::pending().await } } => {
                match r {
                    Ok(0) | Err(_) => err = None,
                    Ok(n) => {
                        watch(true, &b2[..n]);
                        err_buf.push(&b2[..n]);
                    }
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
    // Finished: what the command left running in the background stays.
    guard.0 = None;
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
