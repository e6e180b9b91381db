//! Accept back-off, logged once per episode. When `accept()` fails with anything but a
//! connection-level error — above all `EMFILE` (`Too many open files`) at the open-file
//! limit — a worker does not spin: it pauses its accept for 500 ms
//! ([`super::server::ACCEPT_PAUSE`]) and tries again, leaving new connections in the kernel's
//! listen backlog. Every worker hits the limit, at every retry: the first error of an episode
//! is logged (saying what happens and what to do), the rest are counted, and the next
//! accepted connection ([`accepted`], from the connection hook) ends the episode with one
//! `accept resumed` line.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// An episode is in progress (accept errors seen, no connection accepted since).
static PAUSED: AtomicBool = AtomicBool::new(false);
/// Accept errors of the current episode that were not logged.
static REPEATS: AtomicU64 = AtomicU64::new(0);

/// The line to log for an accept error: the first of an episode; `None` (not logged,
/// counted) for the others.
pub fn on_accept_error(err: &std::io::Error) -> Option<String> {
    if PAUSED.swap(true, Ordering::AcqRel) {
        REPEATS.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    REPEATS.store(0, Ordering::Relaxed);
    // EMFILE (the process's limit) and ENFILE (the system's).
    let hint = if matches!(err.raw_os_error(), Some(23 | 24)) {
        " Fix: raise the open-file limit (`ulimit -n`, systemd `LimitNOFILE=`) or lower gateway.limits.maxConnections."
    } else {
        ""
    };
    Some(format!(
        "accept paused: {err}; new connections wait in the listen backlog and accept is retried every {} ms (logged once until a connection is accepted again).{hint}",
        super::server::ACCEPT_PAUSE.as_millis()
    ))
}

/// A connection was accepted: ends an episode (logs `accept resumed` once).
pub fn accepted() {
    if PAUSED.load(Ordering::Relaxed) && PAUSED.swap(false, Ordering::AcqRel) {
        let n = REPEATS.swap(0, Ordering::Relaxed);
        log::warn!("accept resumed ({n} more accept errors in this episode were not logged)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_episode() {
        let err = std::io::Error::from_raw_os_error(24);
        let first = on_accept_error(&err).expect("the first error of an episode is logged");
        assert!(
            first.starts_with("accept paused: Too many open files (os error 24); "),
            "{first}"
        );
        assert!(first.contains("ulimit -n"), "{first}");
        for _ in 0..10 {
            assert_eq!(on_accept_error(&err), None);
        }
        assert_eq!(REPEATS.load(Ordering::Relaxed), 10);
        accepted();
        assert!(!PAUSED.load(Ordering::Relaxed));
        // A new episode logs again; other errors get no open-file hint.
        let again = on_accept_error(&std::io::Error::from_raw_os_error(12))
            .expect("a new episode is logged");
        assert!(
            again.starts_with("accept paused: Cannot allocate memory"),
            "{again}"
        );
        assert!(!again.contains("ulimit"), "{again}");
        accepted();
    }
}
