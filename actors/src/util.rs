//! Small helpers shared by the engine modules.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (the `ts` fields of the protocol).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
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
