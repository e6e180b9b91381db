//! Small helpers shared by the engine modules.

use std::time::{SystemTime, UNIX_EPOCH};

/// `ms` since the Unix epoch as ISO 8601 UTC with milliseconds (JavaScript's
/// `toISOString`, e.g. `2026-12-05T04:31:39.074Z`); `None` beyond what a timestamp holds.
pub fn iso_ms(ms: u64) -> Option<String> {
    let ms = i64::try_from(ms).ok()?;
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| format!("{t:.3}"))
}

/// The process's redactor of configured secrets (set once by the gateway at start).
static REDACTOR: std::sync::OnceLock<fn(&str) -> String> = std::sync::OnceLock::new();

/// Sets the redactor [`redact`] uses (the first call wins).
pub fn set_redactor(f: fn(&str) -> String) {
    let _ = REDACTOR.set(f);
}

/// `text` with the gateway's configured secrets replaced (unchanged before a redactor is
/// set).
pub fn redact(text: &str) -> String {
    match REDACTOR.get() {
        Some(f) => f(text),
        None => text.to_owned(),
    }
}

/// Milliseconds since the Unix epoch (the `ts` fields of the protocol).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `N` bytes from the operating system's random number generator (`getrandom`).
pub fn try_random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(out)
}

/// `N` random bytes for tokens and codes. The OS generator does not fail on a supported
/// system; if it ever does this panics (as `uuid::Uuid::new_v4` would) rather than hand
/// out a predictable secret.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    try_random_bytes().unwrap_or_else(|e| panic!("the OS random number generator failed: {e}"))
}

/// Two random (v4) UUIDs in their hyphenated form, from one call to the OS generator (see
/// [`random_bytes`]).
pub fn random_uuid_pair() -> [String; 2] {
    let bytes: [u8; 32] = random_bytes();
    let (a, b) = bytes.split_at(16);
    [a, b].map(|half| {
        let mut raw = [0u8; 16];
        raw.copy_from_slice(half);
        uuid::Builder::from_random_bytes(raw)
            .into_uuid()
            .to_string()
    })
}

/// Truncates a WebSocket close reason to the 123 bytes a close frame can carry, on a char
/// boundary.
pub(crate) fn truncate_close_reason(reason: &str) -> String {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason.to_owned();
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// A doubling backoff, the one reconnect/retry schedule of the workspace (the node host's
/// reconnects, the Telegram poll loop): [`Backoff::next_delay`] returns the current delay
/// and doubles it up to `max`; [`Backoff::reset`] goes back to `initial` after a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: std::time::Duration,
    max: std::time::Duration,
    current: std::time::Duration,
}

impl Backoff {
    /// Starts at `initial`, never exceeds `max`.
    pub const fn new(initial: std::time::Duration, max: std::time::Duration) -> Self {
        Self {
            initial,
            max,
            current: initial,
        }
    }

    /// The delay to wait now; the next one is twice as long (at most `max`).
    pub fn next_delay(&mut self) -> std::time::Duration {
        let d = self.current;
        self.current = d.saturating_mul(2).min(self.max);
        d
    }

    /// Back to `initial`.
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

#[cfg(test)]
mod random_tests {
    #[test]
    fn random_bytes_differ() {
        let a: [u8; 32] = super::random_bytes();
        let b: [u8; 32] = super::random_bytes();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn doubles_up_to_max_and_resets() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(5));
        let got: Vec<Duration> = (0..5).map(|_| b.next_delay()).collect();
        assert_eq!(got, vec![s(1), s(2), s(4), s(5), s(5)]);
        b.reset();
        assert_eq!(b.next_delay(), s(1));
        assert_eq!(b.next_delay(), s(2));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_uuid_pair_is_two_distinct_v4_uuids() {
        let [a, b] = super::random_uuid_pair();
        assert_ne!(a, b);
        for s in [&a, &b] {
            let u = uuid::Uuid::parse_str(s).expect("hyphenated UUID");
            assert_eq!(s.len(), 36, "{s}");
            assert_eq!(u.get_version(), Some(uuid::Version::Random), "{s}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{s}");
        }
    }
}
