//! OpenClaw's gateway lock file: `<state>/tmp/openclaw-<uid>/gateway.state.lock`.
//!
//! OpenClaw's CLI reads it to learn that a gateway owns a state directory and on which port
//! (`readActiveGatewayLockIdentity`): `openclaw models list` and the chat clients find the
//! running gateway by it, and the CLI's embedded agent, its cron config writes and a real
//! OpenClaw gateway refuse to touch a state directory whose lock names a live gateway. We
//! write the same JSON (`{pid, ownerId, cronOwnerProjection, createdAt, configPath,
//! stateDir, port, startTime}`,
//! mode 0600) once the listeners are bound, and remove it on a clean stop. A lock left by a
//! killed process is harmless: readers check that its pid is alive with the same start time.
//!
//! Our own `gateway.lock` (an OS lock, see `lock_state_dir`) keeps two of our gateways
//! apart; this file keeps us apart from OpenClaw's processes. A lock that names a live
//! OpenClaw process (a gateway, or the CLI's embedded agent writing the state directory)
//! refuses the start.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StartError;

/// The lock file's name in [`lock_dir`].
pub const FILE_NAME: &str = "gateway.state.lock";

/// The largest lock file read (a payload is a few hundred bytes).
const MAX_LOCK_BYTES: u64 = 64 * 1024;

/// The lock file's JSON (OpenClaw's `LockPayloadSchema`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// The owner's process id.
    pub pid: u32,
    /// A random id of this ownership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// When the lock was written (ISO 8601).
    pub created_at: String,
    /// The config file the owner loaded.
    pub config_path: String,
    /// The state directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// The port the gateway listens on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `gateway` (absent) or the role of another OpenClaw state writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The owner's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    /// How the gateway reads a cron job that names no agent: [`CRON_OWNER_PROJECTION`].
    /// OpenClaw's CLI refuses to write the config while a live gateway's lock lacks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_owner_projection: Option<String>,
}

/// A cron job without `agentId` or session key runs as whichever agent is the default
/// when it runs, not as one pinned when it was made (`CronJob::effective_agent`): what
/// OpenClaw 2026.9's gateways promise as `dynamic-default-v1`.
pub const CRON_OWNER_PROJECTION: &str = "dynamic-default-v1";

/// The lock this gateway wrote; removed on [`release`](Self::release) or drop.
#[derive(Debug)]
pub struct OwnerLock {
    path: PathBuf,
    owner_id: String,
    payload: Payload,
}

/// `<state>/tmp/openclaw-<uid>`, as OpenClaw's `resolveGatewayLockDir` (on the state dir's
/// real path, as OpenClaw resolves it).
pub fn lock_dir(state_dir: &Path) -> PathBuf {
    let real = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let suffix = match process_uid() {
        Some(uid) => format!("openclaw-{uid}"),
        None => "openclaw".to_owned(),
    };
    real.join("tmp").join(suffix)
}

/// The process's user id (the owner of `/proc/self`).
fn process_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`, read after the command name's `)` as
/// OpenClaw's `getProcessStartTime` does (`None` off Linux or for no such process).
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The command line of `pid`, split at NULs.
fn process_cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Whether `args` run an OpenClaw gateway (OpenClaw's `isGatewayArgv` with its gateway
/// binary allowed): an `openclaw` executable or entry script with a `gateway` argument.
fn is_gateway_argv(args: &[String]) -> bool {
    const ENTRIES: &[&str] = &[
        "dist/index.js",
        "dist/entry.js",
        "openclaw.mjs",
        "scripts/run-node.mjs",
        "src/entry.ts",
        "src/index.ts",
    ];
    let norm: Vec<String> = args
        .iter()
        .map(|a| a.replace('\\', "/").to_lowercase())
        .collect();
    let exe = norm.first().map(String::as_str).unwrap_or("");
    let exe = exe
        .strip_suffix(".exe")
        .or_else(|| exe.strip_suffix(".cmd"))
        .or_else(|| exe.strip_suffix(".bat"))
        .unwrap_or(exe);
    let openclaw = exe == "openclaw"
        || exe.ends_with("/openclaw")
        || norm.iter().any(|a| ENTRIES.iter().any(|e| a.ends_with(e)));
    (openclaw && norm.iter().any(|a| a == "gateway"))
        || exe == "openclaw-gateway"
        || exe.ends_with("/openclaw-gateway")
}

/// Whether the process a lock names still owns it (OpenClaw's `resolveGatewayOwnerStatus`,
/// where an owner that cannot be checked counts as alive: refusing a start is safer than
/// two writers).
fn owner_alive(p: &Payload) -> bool {
    if p.pid == 0 || !Path::new(&format!("/proc/{}", p.pid)).exists() {
        return false;
    }
    if let Some(started) = p.start_time
        && let Some(now) = process_start_time(p.pid)
    {
        return started == now;
    }
    match process_cmdline(p.pid) {
        Some(args) if p.role.as_deref().is_none_or(|r| r == "gateway") => is_gateway_argv(&args),
        _ => true,
    }
}

/// Milliseconds since the epoch as ISO 8601 UTC with milliseconds (`toISOString`).
fn iso_now() -> String {
    use openclaw_actors::util::{iso_ms, now_ms};
    iso_ms(now_ms()).unwrap_or_default()
}

impl OwnerLock {
    /// Writes the lock for this process on `port`, unless a live OpenClaw process owns the
    /// state directory (then the start is refused with the owner's pid and the fix).
    pub fn acquire(state_dir: &Path, config_path: &Path, port: u16) -> Result<Self, StartError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let dir = lock_dir(state_dir);
        let path = dir.join(FILE_NAME);
        if let Some(held) = read(&path)
            && held.pid != std::process::id()
            && owner_alive(&held)
        {
            let who = match held.role.as_deref() {
                None | Some("gateway") => "an OpenClaw gateway".to_owned(),
                Some("agent-embedded") => "an OpenClaw agent running without a gateway".to_owned(),
                Some(r) => format!("OpenClaw's {r}"),
            };
            return Err(StartError {
                code: 1,
                message: format!(
                    "{who} (pid {}{}) owns state dir {} (it holds {}). Fix: stop it first (`openclaw gateway stop`, or end that process), or give this gateway its own OPENCLAW_STATE_DIR",
                    held.pid,
                    held.port.map(|p| format!(", port {p}")).unwrap_or_default(),
                    state_dir.display(),
                    path.display()
                ),
            });
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| StartError {
                code: 1,
                message: format!(
                    "cannot create {}: {e}. Fix: make the state dir writable, or set OPENCLAW_STATE_DIR",
                    dir.display()
                ),
            })?;
        let pid = std::process::id();
        let owner_id = uuid::Uuid::new_v4().to_string();
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let payload = Payload {
            pid,
            owner_id: Some(owner_id.clone()),
            created_at: iso_now(),
            config_path: canonical(config_path).display().to_string(),
            state_dir: Some(canonical(state_dir).display().to_string()),
            port: Some(port),
            role: None,
            start_time: process_start_time(pid),
            cron_owner_projection: Some(CRON_OWNER_PROJECTION.to_owned()),
        };
        write(&path, &payload).map_err(|e| StartError {
            code: 1,
            message: format!(
                "cannot write {}: {e}. Fix: make the state dir writable, or set OPENCLAW_STATE_DIR",
                path.display()
            ),
        })?;
        Ok(Self {
            path,
            owner_id,
            payload,
        })
    }

    /// Says the gateway now listens on `port` (an in-process restart moved it), so
    /// OpenClaw's CLI finds it there.
    pub fn set_port(&mut self, port: u16) {
        if self.payload.port == Some(port) {
            return;
        }
        self.payload.port = Some(port);
        if let Err(e) = write(&self.path, &self.payload) {
            log::warn!(
                "cannot rewrite {} with the new port {port}: {e}",
                self.path.display()
            );
        }
    }

    /// This ownership's random id (the lock's `ownerId`).
    pub fn owner_id(&self) -> &str {
        &self.owner_id
    }

    /// Removes the lock if it is still ours.
    pub fn release(&self) {
        if read(&self.path).is_some_and(|p| p.owner_id.as_deref() == Some(&self.owner_id)) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        self.release();
    }
}

/// Writes `payload` at `path` (mode 0600, atomically).
fn write(path: &Path, payload: &Payload) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(payload).map_err(std::io::Error::other)?;
    openclaw_actors::store::write_atomic_mode(path, &bytes, 0o600)
}

/// The lock at `path`, if there is a readable one (a missing, oversized or malformed file
/// is no lock: OpenClaw's readers skip it too).
pub fn read(path: &Path) -> Option<Payload> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    file.take(MAX_LOCK_BYTES).read_to_end(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn gateway_command_lines_are_told_apart_as_openclaw_does() {
        assert!(is_gateway_argv(&argv(&[
            "/usr/bin/openclaw",
            "gateway",
            "run"
        ])));
        assert!(is_gateway_argv(&argv(&[
            "node",
            "/usr/lib/node_modules/openclaw/dist/index.js",
            "gateway"
        ])));
        assert!(is_gateway_argv(&argv(&["/opt/bin/openclaw-gateway"])));
        assert!(is_gateway_argv(&argv(&[
            "C:\\bin\\OpenClaw.exe",
            "Gateway"
        ])));
        assert!(!is_gateway_argv(&argv(&["/usr/bin/openclaw", "status"])));
        assert!(!is_gateway_argv(&argv(&["/usr/bin/sleep", "gateway"])));
        assert!(!is_gateway_argv(&argv(&[])));
    }

    #[test]
    fn the_start_time_is_read_after_the_command_name() {
        let me = std::process::id();
        let t = process_start_time(me).expect("own start time");
        assert_eq!(process_start_time(me), Some(t));
        assert_eq!(process_start_time(u32::MAX), None);
    }

    #[test]
    fn a_lock_of_a_dead_or_reused_pid_is_not_alive() {
        let me = std::process::id();
        let mut p = Payload {
            pid: me,
            owner_id: None,
            created_at: String::new(),
            config_path: String::new(),
            state_dir: None,
            port: Some(1),
            role: None,
            start_time: process_start_time(me),
            cron_owner_projection: None,
        };
        assert!(owner_alive(&p));
        p.start_time = p.start_time.map(|t| t + 1);
        assert!(!owner_alive(&p), "same pid, another process");
        p.pid = u32::MAX;
        assert!(!owner_alive(&p));
        p.pid = 0;
        assert!(!owner_alive(&p));
    }
}
