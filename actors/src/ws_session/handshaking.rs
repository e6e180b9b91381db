//! Sockets still in their handshake, which the [`Registry`](crate::registry::Registry) does
//! not know yet.
//!
//! A session tells the registry about itself only once it needs it: with its
//! `SessionAuthenticated` on the hello fast path (one message instead of an open and an
//! authenticate), or with `SessionOpened` right before its first registry request on the
//! slow path. Until then it is in this set, which a worker thread updates under a short lock
//! instead of waking the registry's thread: a socket that never authenticates (a scanner, a
//! wrong token, a stalled client) never reaches the registry at all. The registry takes a
//! session out of the set when it starts tracking it, so every open socket is counted in
//! exactly one place (`GetStats`), and shutdown and restart close the sessions still in
//! here too ([`close`](Handshaking::close), [`drain`](Handshaking::drain)).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use actix::Addr;

use super::WsSession;

/// Capacity kept after a storm has passed (the table shrinks back to this once empty).
const IDLE_CAPACITY: usize = 64;

/// See the module docs.
#[derive(Default)]
pub struct Handshaking {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    closed: bool,
    sessions: HashMap<u64, Addr<WsSession>>,
}

impl Handshaking {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a session; its ticket, or `None` once the gateway is shutting down (the caller
    /// closes the socket).
    pub fn enter(&self, addr: Addr<WsSession>) -> Option<u64> {
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        inner.next = inner.next.wrapping_add(1);
        let ticket = inner.next;
        inner.sessions.insert(ticket, addr);
        Some(ticket)
    }

    /// Removes a session (the registry tracks it now, or it ended). Unknown tickets are
    /// ignored: both sides call this.
    pub fn leave(&self, ticket: u64) {
        let mut inner = self.lock();
        inner.sessions.remove(&ticket);
        if inner.sessions.is_empty() && inner.sessions.capacity() > IDLE_CAPACITY {
            inner.sessions.shrink_to(IDLE_CAPACITY);
        }
    }

    /// Sessions in their handshake.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// No session in its handshake.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every session out (an in-process restart closes them; new ones still enter).
    pub fn drain(&self) -> Vec<Addr<WsSession>> {
        let mut inner = self.lock();
        let taken = std::mem::take(&mut inner.sessions);
        taken.into_values().collect()
    }

    /// Refuses new sessions from now on and takes every session out (shutdown).
    pub fn close(&self) -> Vec<Addr<WsSession>> {
        // No session enters once `closed` is set, so the drain after it takes them all.
        self.lock().closed = true;
        self.drain()
    }
}

impl std::fmt::Debug for Handshaking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Handshaking")
            .field("sessions", &inner.sessions.len())
            .field("closed", &inner.closed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Addr<WsSession>` values without a socket: a stopped actor's address is still an
    /// address, which is all the set stores.
    fn addr() -> Addr<WsSession> {
        let (tx, _rx) = actix::dev::channel::channel::<WsSession>(1);
        Addr::new(tx)
    }

    #[actix::test]
    async fn entries_leave_once_and_drain_or_close_take_the_rest() {
        let set = Handshaking::default();
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
    async fn the_table_shrinks_back_after_a_storm() {
        let set = Handshaking::default();
        let tickets: Vec<u64> = (0..5000).filter_map(|_| set.enter(addr())).collect();
        assert_eq!(set.len(), 5000);
        for t in tickets {
            set.leave(t);
        }
        assert!(set.lock().sessions.capacity() <= 2 * IDLE_CAPACITY);
    }
}
