//! Sockets the [`Registry`](crate::registry::Registry) does not track: sessions still in
//! their handshake, and the short-lived operators the hello fast path admitted.
//!
//! A session tells the registry about itself only once the registry has something to do
//! with it: with `SessionOpened` right before its first registry request on the slow hello
//! path (device pairing, nodes, presence-listed clients), whose `SessionAuthenticated` then
//! lists it. Until then it is in this set, which a worker thread updates under a short lock
//! instead of waking the registry's thread.
//!
//! The common connect never leaves it: an operator with no device and an ephemeral presence
//! mode (the CLI's and backends' one-call connections) has nothing to pair and changes no
//! presence list, so the fast path only marks its entry here as authenticated, with its
//! scopes ([`authenticate`](Untracked::authenticate)), and it leaves the set when it ends. Its
//! whole life costs the registry's thread no wake-up. What the registry still owes such a
//! session it finds here: its broadcasts reach the authenticated entries their guard admits
//! ([`audience`](Untracked::audience)), `status` counts them ([`counts`](Untracked::counts)),
//! a rotated shared secret closes them ([`authenticated`](Untracked::authenticated)), and
//! shutdown and restart close every entry ([`close`](Untracked::close),
//! [`drain`](Untracked::drain)). A socket that never authenticates (a scanner, a wrong token,
//! a stalled client) never reaches the registry at all.
//!
//! The registry takes a session out of the set when it starts tracking it, so every open
//! socket is counted in exactly one place.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use actix::Addr;

use super::WsSession;
use crate::protocol::role::Role;
use crate::protocol::scopes::EventGuard;

/// Capacity kept after a storm has passed (the table shrinks back to this once empty).
const IDLE_CAPACITY: usize = 64;

/// See the module docs.
#[derive(Default)]
pub struct Untracked {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    closed: bool,
    sessions: HashMap<u64, Entry>,
    /// Entries with `scopes` set.
    authenticated: usize,
}

struct Entry {
    addr: Addr<WsSession>,
    /// Set once the fast path admitted the session: an operator with these scopes.
    scopes: Option<Box<[String]>>,
}

/// Untracked sockets by state, for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UntrackedCounts {
    /// Still in their handshake.
    pub handshaking: usize,
    /// Operators admitted by the hello fast path.
    pub operators: usize,
}

impl Untracked {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a session in its handshake; its ticket, or `None` once the gateway is shutting
    /// down (the caller closes the socket).
    pub fn enter(&self, addr: Addr<WsSession>) -> Option<u64> {
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        inner.next = inner.next.wrapping_add(1);
        let ticket = inner.next;
        inner.sessions.insert(ticket, Entry { addr, scopes: None });
        Some(ticket)
    }

    /// Marks the session of `ticket` as an authenticated operator holding `scopes` (the hello
    /// fast path). False when its entry is gone: a shutdown or restart took it and has told
    /// the session to close.
    pub fn authenticate(&self, ticket: u64, scopes: &[String]) -> bool {
        let mut inner = self.lock();
        let Some(entry) = inner.sessions.get_mut(&ticket) else {
            return false;
        };
        if entry.scopes.replace(scopes.into()).is_none() {
            inner.authenticated += 1;
        }
        true
    }

    /// Removes a session (the registry tracks it now, or it ended). Unknown tickets are
    /// ignored: both sides call this.
    pub fn leave(&self, ticket: u64) {
        let mut inner = self.lock();
        if let Some(entry) = inner.sessions.remove(&ticket)
            && entry.scopes.is_some()
        {
            inner.authenticated -= 1;
        }
        if inner.sessions.is_empty() && inner.sessions.capacity() > IDLE_CAPACITY {
            inner.sessions.shrink_to(IDLE_CAPACITY);
        }
    }

    /// Untracked sockets.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// No untracked socket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Untracked sockets by state.
    pub fn counts(&self) -> UntrackedCounts {
        let inner = self.lock();
        UntrackedCounts {
            handshaking: inner.sessions.len() - inner.authenticated,
            operators: inner.authenticated,
        }
    }

    /// The authenticated sessions `guard` admits (taken under the lock, sent to after it, so
    /// the workers' connects and closes never wait on a broadcast's sends).
    pub fn audience(&self, guard: EventGuard) -> Vec<Addr<WsSession>> {
        let inner = self.lock();
        if inner.authenticated == 0 {
            return Vec::new();
        }
        inner
            .sessions
            .values()
            .filter(|e| {
                e.scopes
                    .as_ref()
                    .is_some_and(|s| guard.admits(Role::Operator, s))
            })
            .map(|e| e.addr.clone())
            .collect()
    }

    /// The authenticated sessions (a rotated shared secret closes them: the fast path admits
    /// no device-token session): the audience of an event for everyone.
    pub fn authenticated(&self) -> Vec<Addr<WsSession>> {
        self.audience(EventGuard::Everyone)
    }

    /// Takes every session out (an in-process restart closes them; new ones still enter).
    pub fn drain(&self) -> Vec<Addr<WsSession>> {
        let mut inner = self.lock();
        inner.authenticated = 0;
        let taken = std::mem::take(&mut inner.sessions);
        taken.into_values().map(|e| e.addr).collect()
    }

    /// Refuses new sessions from now on and takes every session out (shutdown).
    pub fn close(&self) -> Vec<Addr<WsSession>> {
        // No session enters once `closed` is set, so the drain after it takes them all.
        self.lock().closed = true;
        self.drain()
    }
}

impl std::fmt::Debug for Untracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Untracked")
            .field("sessions", &inner.sessions.len())
            .field("authenticated", &inner.authenticated)
            .field("closed", &inner.closed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::scopes::event_guard;

    /// `Addr<WsSession>` values without a socket: a stopped actor's address is still an
    /// address, which is all the set stores.
    fn addr() -> Addr<WsSession> {
        let (tx, _rx) = actix::dev::channel::channel::<WsSession>(1);
        Addr::new(tx)
    }

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[actix::test]
    async fn entries_leave_once_and_drain_or_close_take_the_rest() {
        let set = Untracked::default();
        let a = set.enter(addr()).expect("open");
        let b = set.enter(addr()).expect("open");
        assert_ne!(a, b, "tickets are unique");
        assert_eq!(set.len(), 2);
        set.leave(a);
        set.leave(a);
        assert_eq!(
            set.len(),
            1,
            "leaving twice (session and registry) is harmless"
        );
        assert_eq!(set.drain().len(), 1);
        assert!(set.is_empty());
        set.leave(b);
        // After a drain (in-process restart) new sessions still enter.
        let c = set.enter(addr()).expect("still open after a drain");
        assert_eq!(set.close().len(), 1);
        assert!(set.enter(addr()).is_none(), "refused once closed");
        set.leave(c);
        assert!(set.is_empty());
    }

    #[actix::test]
    async fn fast_path_operators_are_counted_and_reached_by_the_events_their_scopes_admit() {
        let set = Untracked::default();
        let reader = set.enter(addr()).expect("open");
        let admin = set.enter(addr()).expect("open");
        let _pending = set.enter(addr()).expect("open");
        assert!(set.authenticate(reader, &scopes(&["operator.read"])));
        assert!(set.authenticate(admin, &scopes(&["operator.admin"])));
        // Authenticating twice (it cannot happen, but must not skew the count).
        assert!(set.authenticate(admin, &scopes(&["operator.admin"])));
        assert_eq!(
            set.counts(),
            UntrackedCounts {
                handshaking: 1,
                operators: 2
            }
        );
        let reached = |event: &str| set.audience(event_guard(event)).len();
        assert_eq!(reached("tick"), 2, "not the one still in its handshake");
        assert_eq!(reached("chat"), 2, "admin implies read");
        assert_eq!(reached("device.pair.requested"), 1, "pairing: admin only");
        assert_eq!(reached("no.such.event"), 0, "unknown events fail closed");
        assert_eq!(set.authenticated().len(), 2);

        set.leave(reader);
        assert_eq!(set.counts().operators, 1);
        // A ticket a shutdown took cannot be authenticated: the session is being closed.
        assert_eq!(set.close().len(), 2);
        assert!(!set.authenticate(admin, &scopes(&["operator.read"])));
        assert_eq!(set.counts(), UntrackedCounts::default());
        assert_eq!(reached("tick"), 0);
    }

    #[actix::test]
    async fn the_table_shrinks_back_after_a_storm() {
        let set = Untracked::default();
        let tickets: Vec<u64> = (0..5000).filter_map(|_| set.enter(addr())).collect();
        assert_eq!(set.len(), 5000);
        for t in &tickets {
            assert!(set.authenticate(*t, &scopes(&["operator.read"])));
        }
        for t in tickets {
            set.leave(t);
        }
        assert_eq!(set.counts(), UntrackedCounts::default());
        assert!(set.lock().sessions.capacity() <= 2 * IDLE_CAPACITY);
    }
}
