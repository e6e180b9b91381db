//! Shared-secret auth: the resolved auth settings, constant-time comparison, and the
//! failed-attempt limiter (OpenClaw's `auth-rate-limit.ts` defaults: 10 failures per 60 s
//! lock a client out for 5 min; loopback is exempt by default but still pays an escalating
//! 250 ms → 5 s delay). The limiter is plain data owned by the `Registry` actor.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// `gateway.auth.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No shared secret (loopback only).
    None,
    /// Shared token.
    Token,
    /// Shared password.
    Password,
}

impl AuthMode {
    /// The wire name (`hello-ok.auth.method`, `snapshot.authMode`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Token => "token",
            Self::Password => "password",
        }
    }
}

/// The gateway's resolved auth settings.
#[derive(Clone)]
pub struct AuthSettings {
    /// The mode.
    pub mode: AuthMode,
    /// The secret that mode compares against (token or password). Never logged.
    pub secret: Option<String>,
    /// Failed-attempt limiter settings.
    pub rate_limit: RateLimitSettings,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("mode", &self.mode)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// `gateway.auth.rateLimit`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitSettings {
    /// Failures allowed per window.
    pub max_attempts: u32,
    /// The window.
    pub window: Duration,
    /// How long a client stays locked out.
    pub lockout: Duration,
    /// Whether loopback clients are exempt from lockout (they still get a delay).
    pub exempt_loopback: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            exempt_loopback: true,
        }
    }
}

/// Compares two secrets in constant time (over their SHA-256 digests, so the lengths do
/// not leak either).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let da = Sha256::digest(a);
    let db = Sha256::digest(b);
    let mut diff = 0u8;
    for (x, y) in da.iter().zip(db.iter()) {
        diff |= x ^ y;
    }
    diff == 0
}

#[derive(Debug, Default)]
struct Entry {
    failures: Vec<Instant>,
    locked_until: Option<Instant>,
    streak: u32,
}

/// What the limiter says about one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Delay to apply before answering.
    pub delay: Duration,
}

/// Failed shared-secret attempts per client IP.
#[derive(Debug)]
pub struct AuthLimiter {
    settings: RateLimitSettings,
    entries: HashMap<IpAddr, Entry>,
}

/// Bound on tracked IPs so a spray of addresses cannot grow memory without limit.
const MAX_TRACKED: usize = 65_536;

impl AuthLimiter {
    /// A limiter with these settings.
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            settings,
            entries: HashMap::new(),
        }
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        self.settings.exempt_loopback && ip.is_loopback()
    }

    /// `Some(retry_after)` while `ip` is locked out.
    pub fn locked(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        if self.exempt(ip) {
            return None;
        }
        let entry = self.entries.get_mut(&ip)?;
        match entry.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                entry.locked_until = None;
                entry.failures.clear();
                None
            }
            None => None,
        }
    }

    /// Records a failure from `ip`.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> FailureOutcome {
        if self.entries.len() >= MAX_TRACKED && !self.entries.contains_key(&ip) {
            self.prune(now);
        }
        let exempt = self.exempt(ip);
        let settings = self.settings;
        let entry = self.entries.entry(ip).or_default();
        entry.streak = entry.streak.saturating_add(1);
        if exempt {
            // 250 ms, 500 ms, 1 s, 2 s, 4 s, 5 s, 5 s …
            let shift = entry.streak.saturating_sub(1).min(5);
            let ms = (250u64 << shift).min(5_000);
            return FailureOutcome {
                delay: Duration::from_millis(ms),
            };
        }
        entry
            .failures
            .retain(|t| now.duration_since(*t) < settings.window);
        entry.failures.push(now);
        if entry.failures.len() >= settings.max_attempts as usize {
            entry.locked_until = Some(now + settings.lockout);
        }
        FailureOutcome {
            delay: Duration::ZERO,
        }
    }

    /// Clears the failure streak of `ip` after a successful auth.
    pub fn record_success(&mut self, ip: IpAddr) {
        if let Some(e) = self.entries.get_mut(&ip)
            && e.locked_until.is_none()
        {
            self.entries.remove(&ip);
        }
    }

    fn prune(&mut self, now: Instant) {
        let window = self.settings.window;
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now)
                || e.failures.iter().any(|t| now.duration_since(*t) < window)
        });
        if self.entries.len() >= MAX_TRACKED {
            self.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn lockout_after_max_attempts() {
        let mut l = AuthLimiter::new(RateLimitSettings {
            exempt_loopback: false,
            ..Default::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let now = Instant::now();
        for _ in 0..9 {
            l.record_failure(ip, now);
            assert!(l.locked(ip, now).is_none());
        }
        l.record_failure(ip, now);
        assert!(l.locked(ip, now).is_some());
        assert!(l.locked(ip, now + Duration::from_secs(301)).is_none());
    }

    #[test]
    fn loopback_gets_escalating_delay() {
        let mut l = AuthLimiter::new(RateLimitSettings::default());
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let now = Instant::now();
        let d: Vec<u64> = (0..8)
            .map(|_| l.record_failure(ip, now).delay.as_millis() as u64)
            .collect();
        assert_eq!(d, vec![250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
        assert!(l.locked(ip, now).is_none());
    }
}
