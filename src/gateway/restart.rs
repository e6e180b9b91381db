//! Restarting the gateway process: `gateway.restart.request` (the real CLI's `openclaw
//! gateway restart [--safe]`, ours) and SIGUSR1 (OpenClaw's restart signal).
//!
//! A restart waits (bounded: 5 minutes by default, or the caller's budget) until no agent
//! run, queued run, memory flush or background command is left, then stops as on SIGTERM
//! (every client gets `shutdown` with `restartExpectedMs` and a 1012 close, state is
//! flushed, the locks are released) and executes the same binary again with the same
//! arguments and environment. The process id stays, so a supervisor (Docker, systemd) sees
//! no exit; the config is read afresh, so keys that need a restart (`gateway.mode`) apply;
//! and a binary upgraded in place at the same path is the one that starts.
//!
//! What a restart must not lose travels in a handoff file
//! (`<state>/gateway/restart-handoff.json`, mode 0600, read once and removed at start,
//! honoured only by the same process id within a minute): the runtime token generated
//! because none is configured (clients that hold it reconnect with it) and the port, which
//! the new process takes when its configured port is 0 (picked by the OS).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Duration;

use openclaw_actors::Engine;
use openclaw_actors::ports::{RestartAsk, RestartTicket};
use openclaw_actors::registry::restart::GetActiveWork;
use serde::{Deserialize, Serialize};

use super::surface::Control;

/// How long a handoff file stays valid (the exec takes milliseconds).
const HANDOFF_MAX_AGE_MS: u64 = 60_000;
/// How often the deferral looks at the active work again.
const POLL: Duration = Duration::from_millis(250);
/// How long the restart waits for the caller's answer to be queued.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// Schedules at most one restart and checks a caller's target against this process.
#[derive(Debug)]
pub struct RestartGate {
    scheduled: AtomicBool,
    /// The chat message that asked for the scheduled restart.
    origin: std::sync::Mutex<Option<String>>,
    ctl: tokio::sync::mpsc::UnboundedSender<Control>,
    pid: u32,
    owner_id: String,
    port: AtomicU16,
}

impl RestartGate {
    /// A gate for this process, whose lock file says `owner_id` and `port`.
    pub fn new(
        ctl: tokio::sync::mpsc::UnboundedSender<Control>,
        owner_id: &str,
        port: u16,
    ) -> Self {
        Self {
            scheduled: AtomicBool::new(false),
            origin: std::sync::Mutex::new(None),
            ctl,
            pid: std::process::id(),
            owner_id: owner_id.to_owned(),
            port: AtomicU16::new(port),
        }
    }

    /// The chat message that asked for the scheduled restart, if one did.
    pub fn origin(&self) -> Option<String> {
        self.origin.lock().ok().and_then(|o| o.clone())
    }

    /// The gateway moved to `port` (an in-process restart of its listeners).
    pub fn set_port(&self, port: u16) {
        self.port.store(port, Ordering::Relaxed);
    }

    /// Schedules the restart (or joins the one scheduled). `Err((true, …))`: the caller
    /// aimed at another gateway.
    pub fn ask(&self, ask: RestartAsk) -> Result<RestartTicket, (bool, String)> {
        if let Some(t) = &ask.target {
            let ours = t.pid == u64::from(self.pid)
                && t.port == self.port.load(Ordering::Relaxed)
                && openclaw_actors::auth::constant_time_eq(
                    t.owner_id.as_bytes(),
                    self.owner_id.as_bytes(),
                );
            if !ours {
                return Err((
                    true,
                    "target gateway no longer owns the active lock".to_owned(),
                ));
            }
        }
        let coalesced = self.scheduled.swap(true, Ordering::SeqCst);
        if coalesced {
            log::info!(
                "gateway restart requested ({}): joined the restart already scheduled",
                ask.reason
            );
        } else {
            log::warn!(
                "gateway restart requested ({}); waiting at most {} s for active work",
                ask.reason,
                ask.wait.as_secs()
            );
            if let Ok(mut o) = self.origin.lock() {
                o.clone_from(&ask.origin);
            }
            self.ctl
                .send(Control::ScheduleRestart {
                    reason: ask.reason,
                    wait: ask.wait,
                    written: ask.written,
                })
                .map_err(|_| (false, "the gateway is stopping".to_owned()))?;
        }
        Ok(RestartTicket {
            pid: self.pid,
            coalesced,
        })
    }
}

/// Waits for the caller's answer to be queued, then (bounded by `wait`) until no work is
/// active, then tells the run loop to restart.
pub async fn drain_then_restart(
    engine: Engine,
    reason: String,
    wait: Duration,
    written: Option<tokio::sync::oneshot::Receiver<()>>,
    ctl: tokio::sync::mpsc::UnboundedSender<Control>,
) {
    if let Some(w) = written {
        let _ = actix_web::rt::time::timeout(ANSWER_GRACE, w).await;
    }
    let deadline = std::time::Instant::now() + wait;
    let mut told = false;
    loop {
        let Ok(work) = engine.registry.send(GetActiveWork).await else {
            break;
        };
        if work.total() == 0 {
            break;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            log::warn!(
                "gateway restart ({reason}): {} after waiting {} s; restarting anyway",
                work.summary(),
                wait.as_secs()
            );
            break;
        }
        if !told {
            log::warn!("gateway restart ({reason}): {}", work.summary());
            told = true;
        }
        actix_web::rt::time::sleep(left.min(POLL)).await;
    }
    let _ = ctl.send(Control::Exec(reason));
}

/// What one process hands the next across a restart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Handoff {
    /// The process id (the same after `exec`).
    pub pid: u32,
    /// When it was written (ms since the epoch).
    pub written_at_ms: u64,
    /// The generated runtime token, if the gateway ran with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The port it listened on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The chat message whose `/restart` this was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// `<state>/gateway/restart-handoff.json`.
pub fn handoff_path(state_dir: &Path) -> PathBuf {
    state_dir.join("gateway").join("restart-handoff.json")
}

/// Writes the handoff (mode 0600, atomically).
pub fn write_handoff(
    state_dir: &Path,
    token: Option<&str>,
    port: Option<u16>,
    origin: Option<String>,
) -> std::io::Result<()> {
    let h = Handoff {
        pid: std::process::id(),
        written_at_ms: openclaw_actors::util::now_ms(),
        token: token.map(str::to_owned),
        port,
        origin,
    };
    let bytes = serde_json::to_vec(&h).map_err(std::io::Error::other)?;
    openclaw_actors::store::write_atomic_mode(&handoff_path(state_dir), &bytes, 0o600)
}

/// Reads and removes the handoff; `Some` only when this process wrote it (same process
/// id) within the last minute. A stale or foreign file is removed and ignored.
pub fn take_handoff(state_dir: &Path) -> Option<Handoff> {
    use std::io::Read as _;
    let path = handoff_path(state_dir);
    let file = std::fs::File::open(&path).ok()?;
    let mut buf = Vec::new();
    let read = file.take(64 * 1024).read_to_end(&mut buf);
    let _ = std::fs::remove_file(&path);
    read.ok()?;
    let h: Handoff = serde_json::from_slice(&buf).ok()?;
    let age = openclaw_actors::util::now_ms().saturating_sub(h.written_at_ms);
    (h.pid == std::process::id() && age <= HANDOFF_MAX_AGE_MS).then_some(h)
}

/// The binary to start again: this one, or (Linux names a replaced file `<path>
/// (deleted)`) the new file at its path.
fn own_binary() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(
        match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
            Some(p) => PathBuf::from(p),
            None => exe,
        },
    )
}

/// Replaces this process with a fresh run of the same binary, arguments and environment.
/// Returns only when that fails.
pub fn exec_self() -> std::io::Error {
    use std::os::unix::process::CommandExt as _;
    let exe = match own_binary() {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    std::process::Command::new(&exe)
        .arg0(argv0)
        .args(args)
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_actors::ports::RestartTarget;

    fn ask(target: Option<RestartTarget>) -> RestartAsk {
        RestartAsk {
            reason: "test".into(),
            wait: Duration::ZERO,
            target,
            written: None,
            origin: Some("telegram:default:7".into()),
        }
    }

    #[test]
    fn one_restart_is_scheduled_and_others_join_it() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let gate = RestartGate::new(tx, "owner-1", 18789);
        let first = gate.ask(ask(None)).expect("scheduled");
        assert_eq!((first.pid, first.coalesced), (std::process::id(), false));
        assert_eq!(gate.origin().as_deref(), Some("telegram:default:7"));
        let second = gate.ask(ask(None)).expect("joined");
        assert!(second.coalesced);
        assert!(matches!(rx.try_recv(), Ok(Control::ScheduleRestart { .. })));
        assert!(rx.try_recv().is_err(), "one schedule only");
    }

    #[test]
    fn a_target_that_is_not_this_gateway_is_refused() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let gate = RestartGate::new(tx, "owner-1", 18789);
        let me = u64::from(std::process::id());
        for (pid, owner, port) in [
            (me + 1, "owner-1", 18789),
            (me, "owner-2", 18789),
            (me, "owner-1", 18790),
        ] {
            let t = RestartTarget {
                pid,
                owner_id: owner.into(),
                port,
            };
            let e = gate.ask(ask(Some(t))).expect_err("not ours");
            assert_eq!(
                e,
                (
                    true,
                    "target gateway no longer owns the active lock".to_owned()
                )
            );
        }
        assert!(rx.try_recv().is_err(), "nothing scheduled");
        let t = RestartTarget {
            pid: me,
            owner_id: "owner-1".into(),
            port: 18789,
        };
        assert!(!gate.ask(ask(Some(t))).expect("ours").coalesced);
    }

    #[test]
    fn a_handoff_is_read_once_by_the_same_process_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_handoff(
            dir.path(),
            Some("tok"),
            Some(4242),
            Some("telegram:default:9".into()),
        )
        .expect("write");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(handoff_path(dir.path()))
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let h = take_handoff(dir.path()).expect("ours");
        assert_eq!((h.token.as_deref(), h.port), (Some("tok"), Some(4242)));
        assert_eq!(h.origin.as_deref(), Some("telegram:default:9"));
        assert!(take_handoff(dir.path()).is_none(), "read once");

        for h in [
            Handoff {
                pid: std::process::id() + 1,
                written_at_ms: openclaw_actors::util::now_ms(),
                token: Some("t".into()),
                port: None,
                origin: None,
            },
            Handoff {
                pid: std::process::id(),
                written_at_ms: openclaw_actors::util::now_ms() - 2 * HANDOFF_MAX_AGE_MS,
                token: Some("t".into()),
                port: None,
                origin: None,
            },
        ] {
            let bytes = serde_json::to_vec(&h).expect("encode");
            openclaw_actors::store::write_atomic(&handoff_path(dir.path()), &bytes).expect("write");
            assert!(take_handoff(dir.path()).is_none(), "{h:?} is not ours");
            assert!(
                !handoff_path(dir.path()).exists(),
                "a stale file is removed"
            );
        }
        std::fs::write(handoff_path(dir.path()), b"{not json").expect("write");
        assert!(take_handoff(dir.path()).is_none());
        assert!(!handoff_path(dir.path()).exists());
    }
}
