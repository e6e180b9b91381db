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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// An IP network from `gateway.trustedProxies`: a single address (`"10.0.0.1"`, `"::1"`)
/// or a CIDR block (`"10.0.0.0/8"`, `"2001:db8::/32"`). IPv4-mapped IPv6 addresses are
/// matched as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr` or `addr/prefix`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip = canonical_ip(
            addr.parse::<IpAddr>()
                .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?,
        );
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("{s:?} has an invalid prefix length (0-{max})")),
            },
        };
        Ok(Self {
            net: mask(ip, prefix),
            prefix,
        })
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        ip.is_ipv4() == self.net.is_ipv4() && mask(ip, self.prefix) == self.net
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as IPv4; anything else unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// `ip` with all but the first `prefix` bits cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// Who the limiter counts a failure against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A truly local peer: a direct loopback TCP peer with no proxy headers and no browser
    /// `Origin`. The only kind `exemptLoopback` exempts from lockout.
    Local(IpAddr),
    /// Any other client, by address; IPv6 on its /64 (one host usually owns a whole /64).
    Remote(IpAddr),
    /// A browser page on a loopback connection, by its `Origin` (never exempt).
    Origin(String),
}

/// Longest origin kept as a limiter key (longer ones are cut; the origin check refuses
/// anything that long anyway).
const MAX_ORIGIN_KEY: usize = 256;

impl ClientKey {
    /// The key for a client: `local` is a direct loopback peer without proxy headers,
    /// `origin` the browser `Origin` header if any.
    pub fn for_client(ip: IpAddr, local: bool, origin: Option<&str>) -> Self {
        let ip = canonical_ip(ip);
        match origin {
            Some(o) if local || ip.is_loopback() => {
                let mut o = o.to_ascii_lowercase();
                if o.len() > MAX_ORIGIN_KEY {
                    let mut cut = MAX_ORIGIN_KEY;
                    while !o.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    o.truncate(cut);
                }
                Self::Origin(o)
            }
            None if local => Self::Local(ip),
            _ => Self::Remote(match ip {
                IpAddr::V6(_) => mask(ip, 64),
                v4 => v4,
            }),
        }
    }
}

/// Which credential a failure was about (OpenClaw keys its limiter by client and scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthScope {
    /// `auth.token` / `auth.password`.
    SharedSecret,
    /// `auth.deviceToken` (and a setup code's `auth.bootstrapToken`).
    DeviceToken,
    /// `GET /j/<shortcode>` (a join URL).
    DeviceJoin,
}

/// One limiter bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LimiterKey {
    /// The client.
    pub client: ClientKey,
    /// The credential.
    pub scope: AuthScope,
}

#[derive(Debug, Default)]
struct Entry {
    failures: Vec<Instant>,
    locked_until: Option<Instant>,
    streak: u32,
}

impl Entry {
    fn live_lockout(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|u| u > now)
    }
}

/// What the limiter says about one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Delay to apply before answering.
    pub delay: Duration,
    /// This failure locked the key out, for this long.
    pub locked: Option<Duration>,
}

/// Failed authentication attempts per [`LimiterKey`].
#[derive(Debug)]
pub struct AuthLimiter {
    settings: RateLimitSettings,
    entries: HashMap<LimiterKey, Entry>,
    max_tracked: usize,
    /// When the table is full of live lockouts, the next prune is not tried before this.
    next_prune: Option<Instant>,
}

/// Bound on tracked keys so a spray of addresses cannot grow memory without limit.
const MAX_TRACKED: usize = 65_536;

impl AuthLimiter {
    /// A limiter with these settings.
    pub fn new(settings: RateLimitSettings) -> Self {
        Self::with_capacity(settings, MAX_TRACKED)
    }

    /// A limiter tracking at most `max_tracked` keys.
    pub fn with_capacity(settings: RateLimitSettings, max_tracked: usize) -> Self {
        Self {
            settings,
            entries: HashMap::new(),
            max_tracked: max_tracked.max(1),
            next_prune: None,
        }
    }

    /// Applies new settings (a config reload). The failures already counted stay and are
    /// judged by the new numbers from the next attempt on; a lockout already running keeps
    /// its end, as it was announced to the client as `retryAfterMs`.
    pub fn set_settings(&mut self, settings: RateLimitSettings) {
        self.settings = settings;
    }

    fn exempt(&self, key: &LimiterKey) -> bool {
        self.settings.exempt_loopback
            && matches!(key.client, ClientKey::Local(ip) if ip.is_loopback())
    }

    /// `Some(retry_after)` while `key` is locked out.
    pub fn locked(&mut self, key: &LimiterKey, now: Instant) -> Option<Duration> {
        if self.exempt(key) {
            return None;
        }
        let entry = self.entries.get_mut(key)?;
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

    /// Records a failure for `key`.
    pub fn record_failure(&mut self, key: &LimiterKey, now: Instant) -> FailureOutcome {
        if !self.entries.contains_key(key)
            && self.entries.len() >= self.max_tracked
            && !self.prune(now)
        {
            // Every tracked key is a live lockout: keep them all (dropping one would free
            // an attacker) and do not track this one.
            log::warn!("auth limiter full of live lockouts; not tracking a new client");
            return FailureOutcome {
                delay: Duration::ZERO,
                locked: None,
            };
        }
        let exempt = self.exempt(key);
        let settings = self.settings;
        let entry = self.entries.entry(key.clone()).or_default();
        entry.streak = entry.streak.saturating_add(1);
        if exempt {
            // 250 ms, 500 ms, 1 s, 2 s, 4 s, 5 s, 5 s …
            let shift = entry.streak.saturating_sub(1).min(5);
            let ms = (250u64 << shift).min(5_000);
            entry.failures.clear();
            entry.failures.push(now);
            return FailureOutcome {
                delay: Duration::from_millis(ms),
                locked: None,
            };
        }
        entry
            .failures
            .retain(|t| now.duration_since(*t) < settings.window);
        entry.failures.push(now);
        let mut locked = None;
        if entry.failures.len() >= settings.max_attempts as usize {
            entry.locked_until = Some(now + settings.lockout);
            entry.failures.clear();
            locked = Some(settings.lockout);
        }
        FailureOutcome {
            delay: Duration::ZERO,
            locked,
        }
    }

    /// Clears the failure streak of `key` after a successful auth (a live lockout stays).
    pub fn record_success(&mut self, key: &LimiterKey) {
        if let Some(e) = self.entries.get(key)
            && e.locked_until.is_none()
        {
            self.entries.remove(key);
        }
    }

    /// Makes room for one more key; `false` when every entry is a live lockout. Expired
    /// entries go first, then the stalest entries that are not locked out. Live lockouts are
    /// never dropped.
    fn prune(&mut self, now: Instant) -> bool {
        if self.next_prune.is_some_and(|t| now < t) {
            return false;
        }
        let window = self.settings.window;
        self.entries.retain(|_, e| {
            e.live_lockout(now) || e.failures.iter().any(|t| now.duration_since(*t) < window)
        });
        if self.entries.len() >= self.max_tracked {
            // Still full: drop the oldest tenth of the unlocked entries.
            let mut unlocked: Vec<(Instant, LimiterKey)> = self
                .entries
                .iter()
                .filter(|(_, e)| !e.live_lockout(now))
                .map(|(k, e)| (e.failures.last().copied().unwrap_or(now), k.clone()))
                .collect();
            unlocked.sort_by_key(|(t, _)| *t);
            let n = (self.max_tracked / 10).max(1).min(unlocked.len());
            for (_, k) in unlocked.into_iter().take(n) {
                self.entries.remove(&k);
            }
        }
        if self.entries.len() >= self.max_tracked {
            self.next_prune = Some(now + Duration::from_secs(1));
            return false;
        }
        self.next_prune = None;
        true
    }

    /// Number of tracked keys (tests and metrics).
    pub fn tracked(&self) -> usize {
        self.entries.len()
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

    fn key(ip: &str) -> LimiterKey {
        let ip: IpAddr = ip.parse().expect("ip");
        LimiterKey {
            client: ClientKey::for_client(ip, ip.is_loopback(), None),
            scope: AuthScope::SharedSecret,
        }
    }

    #[test]
    fn new_settings_judge_the_next_failure_and_keep_running_lockouts() {
        let strict = RateLimitSettings {
            exempt_loopback: false,
            max_attempts: 3,
            ..Default::default()
        };
        let mut l = AuthLimiter::new(RateLimitSettings {
            max_attempts: 50,
            ..strict
        });
        let (a, b) = (key("192.0.2.1"), key("192.0.2.2"));
        let now = Instant::now();
        for _ in 0..2 {
            l.record_failure(&a, now);
        }
        for _ in 0..50 {
            l.record_failure(&b, now);
        }
        assert_eq!(l.locked(&a, now), None);
        assert_eq!(l.locked(&b, now), Some(strict.lockout));
        l.set_settings(RateLimitSettings {
            lockout: Duration::from_secs(1),
            ..strict
        });
        // The two failures counted before still count: the third locks, for the new time.
        l.record_failure(&a, now);
        assert_eq!(l.locked(&a, now), Some(Duration::from_secs(1)));
        // A lockout already announced keeps its end.
        assert_eq!(l.locked(&b, now), Some(strict.lockout));
        // Loopback made exempt: a locked loopback client is let in.
        let local = key("127.0.0.1");
        for _ in 0..3 {
            l.record_failure(&local, now);
        }
        assert!(l.locked(&local, now).is_some());
        l.set_settings(RateLimitSettings {
            exempt_loopback: true,
            ..strict
        });
        assert_eq!(l.locked(&local, now), None);
    }

    #[test]
    fn lockout_after_max_attempts() {
        let settings = RateLimitSettings {
            exempt_loopback: false,
            ..Default::default()
        };
        assert_eq!(settings.max_attempts, 10);
        let mut l = AuthLimiter::new(settings);
        let k = key("192.0.2.1");
        let now = Instant::now();
        // One below the limit: not locked.
        for n in 1..settings.max_attempts {
            assert_eq!(l.record_failure(&k, now).delay, Duration::ZERO);
            assert_eq!(l.locked(&k, now), None, "locked after only {n} failures");
        }
        // The limit-th failure locks for the full lockout.
        l.record_failure(&k, now);
        assert_eq!(l.locked(&k, now), Some(settings.lockout));
        let later = now + Duration::from_secs(299);
        assert_eq!(l.locked(&k, later), Some(Duration::from_secs(1)));
        // A success while locked does not lift the lockout.
        l.record_success(&k);
        assert!(l.locked(&k, later).is_some());
        // Expired: unlocked, and the count starts again from zero.
        let after = now + Duration::from_secs(301);
        assert_eq!(l.locked(&k, after), None);
        l.record_failure(&k, after);
        assert_eq!(l.locked(&k, after), None);
        // Other clients and the other credential scope are separate buckets.
        let other_scope = LimiterKey {
            scope: AuthScope::DeviceToken,
            ..k.clone()
        };
        assert_eq!(l.locked(&other_scope, later), None);
        assert_eq!(l.locked(&key("192.0.2.2"), later), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let mut l = AuthLimiter::new(RateLimitSettings {
            exempt_loopback: false,
            max_attempts: 3,
            ..Default::default()
        });
        let k = key("192.0.2.1");
        let t0 = Instant::now();
        l.record_failure(&k, t0);
        l.record_failure(&k, t0);
        let t1 = t0 + Duration::from_secs(61);
        l.record_failure(&k, t1);
        assert_eq!(l.locked(&k, t1), None);
        l.record_failure(&k, t1);
        l.record_failure(&k, t1);
        assert!(l.locked(&k, t1).is_some());
    }

    #[test]
    fn loopback_gets_escalating_delay() {
        let mut l = AuthLimiter::new(RateLimitSettings::default());
        let k = key("127.0.0.1");
        assert!(matches!(k.client, ClientKey::Local(_)));
        let now = Instant::now();
        let d: Vec<u64> = (0..12)
            .map(|_| l.record_failure(&k, now).delay.as_millis() as u64)
            .collect();
        assert_eq!(
            d,
            vec![
                250, 500, 1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000, 5000, 5000
            ]
        );
        assert!(l.locked(&k, now).is_none());
    }

    #[test]
    fn proxied_loopback_and_browser_origins_are_not_exempt() {
        let settings = RateLimitSettings {
            max_attempts: 2,
            ..Default::default()
        };
        let mut l = AuthLimiter::new(settings);
        let now = Instant::now();
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        // 127.0.0.1 named by a proxy header is not a local peer.
        let proxied = LimiterKey {
            client: ClientKey::for_client(lo, false, None),
            scope: AuthScope::SharedSecret,
        };
        assert_eq!(proxied.client, ClientKey::Remote(lo));
        // A browser page on loopback is keyed by its origin.
        let page = LimiterKey {
            client: ClientKey::for_client(lo, true, Some("http://Evil.example:18789")),
            scope: AuthScope::SharedSecret,
        };
        assert_eq!(
            page.client,
            ClientKey::Origin("http://evil.example:18789".into())
        );
        for k in [&proxied, &page] {
            l.record_failure(k, now);
            l.record_failure(k, now);
            assert!(l.locked(k, now).is_some(), "{k:?} must lock");
        }
        // The CLI on the same loopback address is still exempt.
        assert_eq!(l.locked(&key("127.0.0.1"), now), None);
    }

    #[test]
    fn ipv6_is_keyed_on_its_64() {
        let a = key("2001:db8:1:2:aaaa::1");
        let b = key("2001:db8:1:2:bbbb::2");
        let c = key("2001:db8:1:3::1");
        assert_eq!(a, b);
        assert_ne!(a, c);
        // IPv4-mapped IPv6 is the IPv4 address.
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
    }

    #[test]
    fn a_missing_peer_is_remote_and_not_exempt() {
        let k = LimiterKey {
            client: ClientKey::for_client(IpAddr::from([0, 0, 0, 0]), false, None),
            scope: AuthScope::SharedSecret,
        };
        assert!(matches!(k.client, ClientKey::Remote(_)));
    }

    #[test]
    fn pruning_never_drops_live_lockouts() {
        let mut l = AuthLimiter::with_capacity(
            RateLimitSettings {
                exempt_loopback: false,
                max_attempts: 1,
                ..Default::default()
            },
            4,
        );
        let now = Instant::now();
        let locked: Vec<LimiterKey> = (1..=4).map(|i| key(&format!("192.0.2.{i}"))).collect();
        for k in &locked {
            l.record_failure(k, now);
            assert!(l.locked(k, now).is_some());
        }
        // A spray of new addresses while the table is full of lockouts.
        for i in 10..200 {
            l.record_failure(
                &key(&format!("198.51.100.{i}")),
                now + Duration::from_secs(2),
            );
        }
        for k in &locked {
            assert!(
                l.locked(k, now + Duration::from_secs(3)).is_some(),
                "{k:?} lost its lockout"
            );
        }
        assert!(l.tracked() <= 4);
        // Unlocked entries are evicted to make room.
        let mut l = AuthLimiter::with_capacity(
            RateLimitSettings {
                exempt_loopback: false,
                max_attempts: 2,
                ..Default::default()
            },
            4,
        );
        let victim = key("192.0.2.1");
        l.record_failure(&victim, now);
        l.record_failure(&victim, now);
        for i in 10..200 {
            l.record_failure(&key(&format!("198.51.100.{i}")), now);
        }
        assert!(l.locked(&victim, now).is_some());
        assert!(l.tracked() <= 4);
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let c = Cidr::parse("10.0.0.0/8").expect("cidr");
        assert!(c.contains("10.1.2.3".parse().expect("ip")));
        assert!(c.contains("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(!c.contains("11.0.0.1".parse().expect("ip")));
        let one = Cidr::parse(" 127.0.0.1 ").expect("ip");
        assert!(one.contains("127.0.0.1".parse().expect("ip")));
        assert!(!one.contains("127.0.0.2".parse().expect("ip")));
        let v6 = Cidr::parse("2001:db8::/32").expect("cidr");
        assert!(v6.contains("2001:db8:ffff::1".parse().expect("ip")));
        assert!(!v6.contains("2001:db9::1".parse().expect("ip")));
        assert!(!v6.contains("10.0.0.1".parse().expect("ip")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("any")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "nope",
            "10.0.0.0/",
            "10.0.0.0/x",
            "",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
