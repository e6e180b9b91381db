//! The transcript tails of idle sessions, so the next run of a session starts without a trip
//! to the store thread and a read and parse of the transcript's end.
//!
//! Runs of one session never overlap (the scheduler), and agent runs are the only writers
//! of transcripts but one: `chat.inject` (`runs::InjectNote`) appends a note between runs
//! and drops the session's cached tail first, so the next run reads the disk. A run takes its session's tail out of the cache when it starts (a miss
//! loads it from disk) and hands back the tail after its own lines once the store has
//! written all of them; a run that was aborted or whose write failed hands back nothing, so
//! the next run reads the disk. The cache therefore never holds anything the disk lacks.
//!
//! Bounded: at most [`MAX_ENTRIES`] tails and about [`MAX_BYTES`] of text; the least
//! recently handed back go first. A tail's size is counted once per line: a run that only
//! appended to the tail it took hands back a [`Tail`] whose earlier lines are counted
//! already, so a long session's hand-back does not walk its whole context again.

use std::collections::HashMap;

use serde_json::Value;

/// Tails kept at most.
pub const MAX_ENTRIES: usize = 512;
/// Approximate bytes kept at most (string lengths plus a per-value overhead). A session's
/// context can reach its model's window (≈ 1 MiB of text for 200 000 tokens): one that
/// large is still kept, up to half of this.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// A transcript's last lines, with the approximate size of those counted so far.
///
/// Appending ([`Tail::push`], [`Tail::extend`]) keeps what was counted; any other change
/// goes through [`Tail::lines_mut`], which starts the count over.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tail {
    lines: Vec<Value>,
    /// How many of the first lines `bytes` counts.
    counted: usize,
    /// Their approximate size ([`approx_size`]).
    bytes: usize,
}

impl Tail {
    /// Lines nothing is counted of yet.
    pub fn new(lines: Vec<Value>) -> Self {
        Self {
            lines,
            counted: 0,
            bytes: 0,
        }
    }

    /// The lines.
    pub fn lines(&self) -> &[Value] {
        &self.lines
    }

    /// The lines to change in place (a compaction): the size is counted again.
    pub fn lines_mut(&mut self) -> &mut Vec<Value> {
        self.counted = 0;
        self.bytes = 0;
        &mut self.lines
    }

    /// Appends a line (what is counted stays counted).
    pub fn push(&mut self, line: Value) {
        self.lines.push(line);
    }

    /// Appends lines (what is counted stays counted).
    pub fn extend(&mut self, lines: impl IntoIterator<Item = Value>) {
        self.lines.extend(lines);
    }

    /// The lines, without their count.
    pub fn into_lines(self) -> Vec<Value> {
        self.lines
    }

    /// The approximate size of all lines: only those not counted yet are walked.
    pub fn size(&mut self) -> usize {
        let new = self.lines.get(self.counted..).unwrap_or_default();
        self.bytes += new.iter().map(approx_size).sum::<usize>();
        self.counted = self.lines.len();
        self.bytes
    }
}

struct Entry {
    tail: Tail,
    bytes: usize,
    /// When it was put (higher is newer).
    seq: u64,
}

/// Transcript name → its last lines.
#[derive(Default)]
pub struct TailCache {
    map: HashMap<String, Entry>,
    bytes: usize,
    seq: u64,
}

impl TailCache {
    /// Takes the tail of `transcript` out (the run that starts now owns it).
    pub fn take(&mut self, transcript: &str) -> Option<Tail> {
        let e = self.map.remove(transcript)?;
        self.bytes -= e.bytes;
        Some(e.tail)
    }

    /// Puts the tail of `transcript` back (`None`: unknown, the next run reads the disk).
    pub fn put(&mut self, transcript: String, tail: Option<Tail>) {
        if let Some(old) = self.map.remove(&transcript) {
            self.bytes -= old.bytes;
        }
        let Some(mut tail) = tail else {
            return;
        };
        let bytes = tail.size();
        if bytes > MAX_BYTES / 2 {
            return;
        }
        self.seq += 1;
        self.bytes += bytes;
        self.map.insert(
            transcript,
            Entry {
                tail,
                bytes,
                seq: self.seq,
            },
        );
        while self.bytes > MAX_BYTES || self.map.len() > MAX_ENTRIES {
            let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.seq)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.take(&oldest);
        }
    }

    /// Tails held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no tail is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Roughly what a value costs in memory: its strings plus a fixed overhead per value.
fn approx_size(v: &Value) -> usize {
    const NODE: usize = 32;
    match v {
        Value::String(s) => NODE + s.len(),
        Value::Array(a) => NODE + a.iter().map(approx_size).sum::<usize>(),
        Value::Object(o) => {
            NODE + o
                .iter()
                .map(|(k, v)| NODE + k.len() + approx_size(v))
                .sum::<usize>()
        }
        _ => NODE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(text: &str) -> Value {
        json!({"type": "message", "role": "user", "content": text})
    }

    #[test]
    fn a_tail_is_taken_once_and_unknown_clears_it() {
        let mut c = TailCache::default();
        c.put("a".into(), Some(Tail::new(vec![line("hi")])));
        assert_eq!(c.len(), 1);
        assert!(c.bytes() > 0);
        assert_eq!(c.take("a").map(Tail::into_lines), Some(vec![line("hi")]));
        assert_eq!(
            c.take("a"),
            None,
            "a running session's tail is out of the cache"
        );
        assert_eq!(c.bytes(), 0);
        c.put("a".into(), Some(Tail::new(vec![line("one")])));
        c.put("a".into(), None);
        assert_eq!(c.take("a"), None, "unknown replaces what was there");
        assert!(c.is_empty());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn the_cache_stays_within_its_bounds_dropping_the_oldest() {
        let mut c = TailCache::default();
        for i in 0..MAX_ENTRIES + 10 {
            c.put(format!("s{i}"), Some(Tail::new(vec![line("x")])));
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        assert!(c.take("s0").is_none(), "the oldest went first");
        assert!(c.take(&format!("s{}", MAX_ENTRIES + 9)).is_some());

        let mut c = TailCache::default();
        let big = "é".repeat(100 * 1024);
        for i in 0..60 {
            c.put(format!("b{i}"), Some(Tail::new(vec![line(&big)])));
        }
        assert!(c.bytes() <= MAX_BYTES, "{}", c.bytes());
        assert!(c.take("b59").is_some());
        assert!(c.take("b0").is_none());
        // One tail larger than half the budget is not kept at all.
        c.put(
            "huge".into(),
            Some(Tail::new(vec![line(&"x".repeat(MAX_BYTES / 2))])),
        );
        assert!(c.take("huge").is_none());
    }

    /// The size a tail is handed back with is what its lines weigh, however it changed:
    /// appended lines are counted once, a change in place counts everything again.
    #[test]
    fn a_tail_is_counted_once_per_line_and_again_after_a_change_in_place() {
        let walk = |t: &Tail| t.lines().iter().map(approx_size).sum::<usize>();
        let mut c = TailCache::default();
        c.put("a".into(), Some(Tail::new(vec![line("one"), line("two")])));
        let mut t = c.take("a").expect("kept");
        assert_eq!(t.counted, 2, "counted when it was put");
        for i in 0..50 {
            t.push(line(&format!("appended {i} {}", "é".repeat(i))));
            c.put("a".into(), Some(t));
            t = c.take("a").expect("kept");
            assert_eq!(t.bytes, walk(&t));
        }
        t.extend([line("x"), line("y")]);
        assert_eq!(t.size(), walk(&t));
        // A compaction: fewer, different lines.
        let lines = t.lines_mut();
        lines.drain(..40);
        lines.push(json!({"type": "compaction", "summary": "s".repeat(5000)}));
        c.put("a".into(), Some(t));
        assert_eq!(c.bytes(), walk(&c.take("a").expect("kept")));
        // Cleared in place below the counted mark: counted again from nothing.
        let mut t = Tail::new(vec![line("a"), line("b"), line("c")]);
        t.size();
        t.lines_mut().clear();
        t.push(line("d"));
        assert_eq!(t.size(), walk(&t));
    }
}
