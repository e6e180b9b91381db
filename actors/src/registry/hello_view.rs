//! What the [`Registry`](super::Registry) shares with the sessions so the most common
//! connect — a short-lived client (`client.mode` `cli`, `backend` or `probe`: no presence
//! entry, no device, no node) with the shared secret — is answered without a registry round
//! trip: the failed-auth limiter (the registry and the sessions lock the same one) and the
//! presence list with its version as the registry last changed them (published on every
//! change, before the change's broadcast). Such a client changes neither, so the snapshot it
//! reads here is the one the registry would have replied with.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::presence::PresenceEntry;
use super::{AuthVerdict, HelloSnapshot};
use crate::auth::{AuthLimiter, LimiterKey, RateLimitSettings};
use crate::protocol::frame::StateVersion;

/// The limiter and the published presence.
#[derive(Debug)]
pub struct HelloView {
    limiter: Mutex<AuthLimiter>,
    presence: RwLock<Published>,
}

/// The presence list without the gateway's own entry (most recent first, bounded like the
/// list), and its version.
#[derive(Debug, Default)]
struct Published {
    entries: Arc<[Arc<PresenceEntry>]>,
    version: StateVersion,
}

/// A client was locked out: a `security.event` in the stability ring (what kind of client
/// and credential, never its address or origin).
fn record_lockout(key: &LimiterKey, lockout: Duration) {
    use crate::auth::{AuthScope, ClientKey};
    let target = match key.client {
        ClientKey::Local(_) => "local",
        ClientKey::Remote(_) => "remote",
        ClientKey::Origin(_) => "browser-origin",
    };
    let credential = match key.scope {
        AuthScope::SharedSecret => "shared_secret",
        AuthScope::DeviceToken => "device_token",
        AuthScope::DeviceJoin => "device_join",
    };
    crate::stability::record(
        crate::stability::Record::of("security.event")
            .source("gateway.auth")
            .action("lockout")
            .outcome("denied")
            .level("warning")
            .target(target)
            .reason(credential)
            .duration(lockout)
            .repeated(),
    );
}

impl HelloView {
    /// An empty view with a limiter using `settings`.
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            limiter: Mutex::new(AuthLimiter::new(settings)),
            presence: RwLock::new(Published::default()),
        }
    }

    fn limiter(&self) -> MutexGuard<'_, AuthLimiter> {
        self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The limiter's verdict on an attempt by `key` (locked-out keys are refused even with
    /// the right credential; a match clears the key's failures).
    pub fn auth_verdict(&self, key: &LimiterKey, matched: bool) -> AuthVerdict {
        let now = Instant::now();
        let mut limiter = self.limiter();
        if let Some(retry) = limiter.locked(key, now) {
            return AuthVerdict::Locked(retry);
        }
        if matched {
            limiter.record_success(key);
            AuthVerdict::Allowed
        } else {
            let outcome = limiter.record_failure(key, now);
            if let Some(lockout) = outcome.locked {
                record_lockout(key, lockout);
            }
            AuthVerdict::Failed(outcome.delay)
        }
    }

    /// New limiter settings (`gateway.auth.rateLimit` reloaded).
    pub fn set_rate_limit(&self, settings: RateLimitSettings) {
        self.limiter().set_settings(settings);
    }

    /// How long `key` is still locked out, if it is.
    pub fn locked(&self, key: &LimiterKey) -> Option<Duration> {
        self.limiter().locked(key, Instant::now())
    }

    /// Called by the registry whenever presence or its version changed.
    pub(crate) fn publish(&self, entries: Vec<Arc<PresenceEntry>>, version: StateVersion) {
        let published = Published {
            entries: entries.into(),
            version,
        };
        *self
            .presence
            .write()
            .unwrap_or_else(PoisonError::into_inner) = published;
    }

    /// The `hello-ok` snapshot: `own` (the gateway's entry, made now) first, then the
    /// published entries.
    pub fn snapshot(&self, own: PresenceEntry) -> HelloSnapshot {
        let (entries, version) = {
            let p = self.presence.read().unwrap_or_else(PoisonError::into_inner);
            (p.entries.clone(), p.version)
        };
        let mut presence = Vec::with_capacity(entries.len() + 1);
        presence.push(Arc::new(own));
        presence.extend(entries.iter().cloned());
        HelloSnapshot {
            presence,
            state_version: version,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::auth::{AuthScope, ClientKey, RateLimitSettings};
    use crate::protocol::role::Role;
    use crate::registry::presence::{Authed, Presence};

    fn authed(mode: &str, ts: u64) -> Authed {
        Authed {
            role: Role::Operator,
            scopes: Vec::new(),
            presence: Arc::new(PresenceEntry {
                mode: mode.into(),
                ts,
                host: format!("{mode}-{ts}"),
                ..PresenceEntry::default()
            }),
            device_id: None,
        }
    }

    fn own() -> PresenceEntry {
        PresenceEntry {
            host: "gateway".into(),
            reason: "self".into(),
            ts: 99,
            ..PresenceEntry::default()
        }
    }

    /// The snapshot read from the view is the list the registry replies with, in order
    /// (gateway first, then most recent first), with its version.
    #[test]
    fn snapshot_is_the_registrys_list() {
        let mut p: Presence<u32> = Presence::default();
        for (i, (mode, ts)) in [("ui", 5), ("cli", 9), ("node", 7), ("webchat", 1)]
            .into_iter()
            .enumerate()
        {
            let id = format!("c{i}");
            p.open(id.clone(), 0);
            p.authenticate(&id, authed(mode, ts));
        }
        let view = HelloView::new(RateLimitSettings::default());
        assert_eq!(
            view.snapshot(own()).presence.len(),
            1,
            "empty before a publish"
        );
        let version = StateVersion {
            presence: 3,
            health: 0,
        };
        view.publish(p.entries(), version);
        let snap = view.snapshot(own());
        let expected = p.list(own());
        assert_eq!(snap.presence, expected);
        let hosts: Vec<&str> = snap.presence.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(hosts, ["gateway", "node-7", "ui-5", "webchat-1"]);
        assert_eq!(snap.state_version, version);
    }

    /// The registry and the sessions share one limiter: failures recorded through the
    /// view lock the key out for a later fast-path check, even with the right secret.
    #[test]
    fn shared_limiter_locks_out_after_failures() {
        let settings = RateLimitSettings::default();
        let view = HelloView::new(settings);
        let key = |last: u8| LimiterKey {
            client: ClientKey::Remote(IpAddr::from([10, 0, 0, last])),
            scope: AuthScope::SharedSecret,
        };
        let (key, other) = (key(1), key(2));
        assert_eq!(view.auth_verdict(&key, true), AuthVerdict::Allowed);
        let mut locked = false;
        for _ in 0..100 {
            if let AuthVerdict::Locked(_) = view.auth_verdict(&key, false) {
                locked = true;
                break;
            }
        }
        assert!(locked, "repeated failures lock the key");
        assert!(view.locked(&key).is_some());
        assert!(matches!(
            view.auth_verdict(&key, true),
            AuthVerdict::Locked(_)
        ));
        assert_eq!(view.auth_verdict(&other, true), AuthVerdict::Allowed);
    }
}
