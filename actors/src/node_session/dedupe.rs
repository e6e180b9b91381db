//! The idempotency cache of a node's finished invokes (`DEDUPE_TTL_MS`, `DEDUPE_MAX`), with
//! a budget in bytes that OpenClaw's lacks.
//!
//! A retry with the same idempotency key within [`DEDUPE_TTL`] is answered from here instead
//! of running the command again. Answers can be large (a camera snapshot is megabytes), so
//! besides [`DEDUPE_MAX`] entries the cache holds at most [`DEDUPE_MAX_BYTES`] of them: the
//! oldest go first, and an answer larger than the whole budget is not kept (a retry of that
//! call runs the command again). Memory per node is bounded either way.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::{Fingerprint, InvokeError, InvokeOutcome, KeptOutcome};

/// Dedupe window for idempotency keys (`DEDUPE_TTL_MS`).
pub const DEDUPE_TTL: Duration = Duration::from_secs(300);
/// Dedupe capacity (`DEDUPE_MAX`).
pub const DEDUPE_MAX: usize = 1000;
/// Bytes of answers one node's cache holds at most.
pub const DEDUPE_MAX_BYTES: usize = 16 * 1024 * 1024;
/// What an entry costs besides its answer (key, fingerprint, map slot), for the budget.
const ENTRY_OVERHEAD: usize = 128;

/// See the module docs.
#[derive(Default)]
pub struct Dedupe {
    entries: HashMap<String, Done>,
    /// Keys in the order they were kept (oldest first), each with the sequence number of
    /// the entry it was queued for: a key kept again leaves a stale item behind, skipped
    /// when it reaches the front. Making room is then a pop, not a search.
    order: VecDeque<(u64, String)>,
    next_seq: u64,
    bytes: usize,
}

struct Done {
    at: Instant,
    seq: u64,
    fingerprint: Fingerprint,
    outcome: InvokeOutcome,
    bytes: usize,
}

/// Bytes an outcome holds, as the budget counts them.
pub fn outcome_bytes(outcome: &InvokeOutcome) -> usize {
    match outcome {
        Ok(reply) => reply.size(),
        Err(InvokeError::Node { code, message, raw }) => {
            let raw = raw.as_ref().map_or(0, |v| {
                let mut n = Count(0);
                // Counting cannot fail, and a `Value` always serializes.
                let _ = serde_json::to_writer(&mut n, v);
                n.0
            });
            code.len() + message.len() + raw
        }
        Err(_) => 0,
    }
}

struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Dedupe {
    /// The outcome kept for `key` (younger than [`DEDUPE_TTL`]) and its call's fingerprint.
    pub fn get(&self, key: &str, now: Instant) -> Option<(&Fingerprint, &InvokeOutcome)> {
        let done = self.entries.get(key)?;
        (now.saturating_duration_since(done.at) < DEDUPE_TTL)
            .then_some((&done.fingerprint, &done.outcome))
    }

    /// Keeps `outcome` for `key`, making room (expired entries, then the oldest) within
    /// [`DEDUPE_MAX`] and [`DEDUPE_MAX_BYTES`]; one larger than the whole budget is not kept.
    pub fn insert(&mut self, key: String, fingerprint: Fingerprint, outcome: InvokeOutcome) {
        self.insert_at(key, fingerprint, outcome, Instant::now());
    }

    /// As [`insert`](Self::insert), for an outcome that finished at `at` (oldest first:
    /// the cache expires and evicts in the order entries were kept).
    pub fn insert_at(
        &mut self,
        key: String,
        fingerprint: Fingerprint,
        outcome: InvokeOutcome,
        at: Instant,
    ) {
        self.remove(&key);
        let bytes = outcome_bytes(&outcome) + key.len() + ENTRY_OVERHEAD;
        if bytes > DEDUPE_MAX_BYTES {
            return;
        }
        // Expired entries go first (they are at the front), then the oldest until it fits.
        while let Some((seq, k)) = self.order.front() {
            let fits = self.entries.len() < DEDUPE_MAX && self.bytes + bytes <= DEDUPE_MAX_BYTES;
            match self.entries.get(k).filter(|d| d.seq == *seq) {
                Some(d) if fits && at.saturating_duration_since(d.at) < DEDUPE_TTL => break,
                Some(_) => {
                    let k = k.clone();
                    self.remove(&k);
                }
                // A stale item: its key was kept again later, or is gone.
                None => {}
            }
            self.order.pop_front();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += bytes;
        self.order.push_back((seq, key.clone()));
        self.entries.insert(
            key,
            Done {
                at,
                seq,
                fingerprint,
                outcome,
                bytes,
            },
        );
    }

    fn remove(&mut self, key: &str) {
        if let Some(d) = self.entries.remove(key) {
            self.bytes -= d.bytes;
        }
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes kept, as the budget counts them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes the entries younger than [`DEDUPE_TTL`] out (a stopping session hands them to
    /// the registry for the node's next session).
    pub fn take_live(&mut self) -> Vec<KeptOutcome> {
        self.bytes = 0;
        self.order.clear();
        self.entries
            .drain()
            .filter(|(_, d)| d.at.elapsed() < DEDUPE_TTL)
            .map(|(k, d)| (k, d.fingerprint, d.outcome, d.at))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_session::InvokeReply;

    fn reply(bytes: usize) -> InvokeOutcome {
        Ok(InvokeReply::new(
            "n",
            "camera.snap",
            Some(format!("\"{}\"", "A".repeat(bytes.saturating_sub(2)))),
            None,
        ))
    }

    #[test]
    fn a_flood_of_large_answers_stays_within_the_byte_budget_oldest_out_first() {
        let mut d = Dedupe::default();
        let t0 = Instant::now();
        // 200 answers of 1 MiB: 200 MiB if all were kept.
        for i in 0..200u64 {
            let at = t0 + Duration::from_millis(i);
            d.insert_at(format!("k{i}"), [0; 32], reply(1 << 20), at);
            assert!(
                d.bytes() <= DEDUPE_MAX_BYTES,
                "after {i}: {} bytes",
                d.bytes()
            );
        }
        assert_eq!(
            d.len(),
            15,
            "16 MiB holds 15 answers of 1 MiB and their overhead"
        );
        let now = t0 + Duration::from_secs(1);
        assert!(d.get("k199", now).is_some(), "the newest is kept");
        assert!(d.get("k185", now).is_some());
        assert!(d.get("k184", now).is_none(), "the oldest went first");
        // An answer larger than the whole budget is not kept, and evicts nothing.
        d.insert_at("huge".into(), [0; 32], reply(DEDUPE_MAX_BYTES + 1), now);
        assert!(d.get("huge", now).is_none());
        assert_eq!(d.len(), 15);
        // Re-inserting a key replaces its entry and its bytes.
        let before = d.bytes();
        d.insert_at("k199".into(), [1; 32], reply(10), now);
        assert!(d.bytes() < before);
        assert_eq!(d.get("k199", now).map(|(fp, _)| *fp), Some([1; 32]));
        assert_eq!(d.take_live().len(), 15);
        assert_eq!((d.len(), d.bytes()), (0, 0));
    }

    #[test]
    fn entries_expire_and_the_count_is_capped() {
        let mut d = Dedupe::default();
        let t0 = Instant::now();
        for i in 0..DEDUPE_MAX + 10 {
            let at = t0 + Duration::from_millis(i as u64);
            d.insert_at(format!("k{i}"), [0; 32], Err(InvokeError::Busy), at);
        }
        assert_eq!(d.len(), DEDUPE_MAX);
        let later = t0 + Duration::from_millis(DEDUPE_MAX as u64 + 10);
        assert!(d.get("k9", later).is_none(), "the oldest went first");
        assert!(d.get("k10", later).is_some());
        let expired = t0 + DEDUPE_TTL + Duration::from_secs(5);
        assert!(
            d.get("k10", expired).is_none(),
            "expired entries are not answered"
        );
        // At capacity, an insert drops every expired entry, not only the oldest.
        d.insert_at("fresh".into(), [0; 32], Err(InvokeError::Busy), expired);
        assert_eq!(d.len(), 1);
    }

    /// What a stopping session hands over keeps its age: seeded into the node's next session,
    /// an entry expires when it would have, not 5 minutes after the reconnect.
    #[test]
    fn handed_over_entries_keep_their_age() {
        let mut old = Dedupe::default();
        let t0 = Instant::now();
        old.insert_at("k".into(), [7; 32], reply(10), t0);
        let kept = old.take_live();
        let mut new = Dedupe::default();
        for (k, fp, v, at) in kept {
            assert_eq!(at, t0);
            new.insert_at(k, fp, v, at);
        }
        assert!(
            new.get("k", t0 + DEDUPE_TTL - Duration::from_secs(1))
                .is_some()
        );
        assert!(new.get("k", t0 + DEDUPE_TTL).is_none());
    }

    #[test]
    fn a_node_error_counts_its_own_error_object() {
        let e: InvokeOutcome = Err(InvokeError::Node {
            code: "E".into(),
            message: "m".into(),
            raw: Some(serde_json::json!({"detail": "x".repeat(1000)})),
        });
        assert!(outcome_bytes(&e) > 1000);
        assert_eq!(outcome_bytes(&Err(InvokeError::Busy)), 0);
    }
}
