//! What the agents' model calls cost: the `usage` each run's answer records in its
//! transcript line (tokens, and US dollars when the model's `cost` rates are configured),
//! summed per day for `usage.cost` (OpenClaw's `CostUsageSummary`, which the real CLI's
//! `openclaw gateway usage-cost` prints).
//!
//! The scan is bounded: at most [`MAX_FILES`] transcripts, [`MAX_BYTES`] read in all, a line
//! parsed only when it mentions `"usage"`; transcripts last changed before the range are
//! skipped. A summary that hit a bound says so (`cacheStatus.status: "partial"`).

use std::path::Path;

use serde_json::{Value, json};

/// Most transcripts read for one summary.
pub const MAX_FILES: usize = 5_000;
/// Most bytes read for one summary.
pub const MAX_BYTES: u64 = 512 * 1024 * 1024;
/// The longest line looked at (a longer one is skipped).
pub(crate) const MAX_LINE: usize = 4 * 1024 * 1024;

/// OpenClaw's totals (`CostUsageTotals`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Input tokens (not from the cache).
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache reads.
    pub cache_read: u64,
    /// Cache writes.
    pub cache_write: u64,
    /// All tokens.
    pub total_tokens: u64,
    /// US dollars.
    pub total_cost: f64,
    /// Of which input.
    pub input_cost: f64,
    /// Of which output.
    pub output_cost: f64,
    /// Of which cache reads.
    pub cache_read_cost: f64,
    /// Of which cache writes.
    pub cache_write_cost: f64,
    /// Answers whose model has no `cost` rates.
    pub missing_cost_entries: u64,
}

impl Totals {
    /// Adds one transcript `usage` object; `false` when it is not one.
    pub fn add_usage(&mut self, u: &Value) -> bool {
        let Some(o) = u.as_object() else {
            return false;
        };
        let n = |k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
        let (input, output, cache_read, cache_write) =
            (n("input"), n("output"), n("cacheRead"), n("cacheWrite"));
        let total = o
            .get("totalTokens")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| {
                input
                    .saturating_add(output)
                    .saturating_add(cache_read)
                    .saturating_add(cache_write)
            });
        self.input = self.input.saturating_add(input);
        self.output = self.output.saturating_add(output);
        self.cache_read = self.cache_read.saturating_add(cache_read);
        self.cache_write = self.cache_write.saturating_add(cache_write);
        self.total_tokens = self.total_tokens.saturating_add(total);
        let money = |k: &str| {
            o.get("cost")
                .and_then(|c| c.get(k))
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite() && *x >= 0.0)
        };
        match money("total") {
            Some(t) => {
                self.total_cost += t;
                self.input_cost += money("input").unwrap_or(0.0);
                self.output_cost += money("output").unwrap_or(0.0);
                self.cache_read_cost += money("cacheRead").unwrap_or(0.0);
                self.cache_write_cost += money("cacheWrite").unwrap_or(0.0);
            }
            None => self.missing_cost_entries += 1,
        }
        true
    }

    /// OpenClaw's `CostUsageTotals` object.
    pub(crate) fn json(&self) -> Value {
        json!({
            "input": self.input,
            "output": self.output,
            "cacheRead": self.cache_read,
            "cacheWrite": self.cache_write,
            "totalTokens": self.total_tokens,
            "totalCost": self.total_cost,
            "inputCost": self.input_cost,
            "outputCost": self.output_cost,
            "cacheReadCost": self.cache_read_cost,
            "cacheWriteCost": self.cache_write_cost,
            "missingCostEntries": self.missing_cost_entries,
        })
    }
}

/// The calendar a day belongs to.
#[derive(Debug, Clone)]
pub enum DayZone {
    /// UTC (OpenClaw's default).
    Utc,
    /// The gateway host's zone (`mode: "gateway"`).
    Gateway,
}

impl DayZone {
    fn zone(&self) -> jiff::tz::TimeZone {
        match self {
            Self::Utc => jiff::tz::TimeZone::UTC,
            Self::Gateway => jiff::tz::TimeZone::system(),
        }
    }
}

/// The days asked for, as `[start, end]` milliseconds (inclusive) and their calendar.
#[derive(Debug, Clone)]
pub struct Range {
    /// First millisecond.
    pub start_ms: i64,
    /// Last millisecond.
    pub end_ms: i64,
    /// The calendar.
    pub zone: DayZone,
}

impl Range {
    /// `days` days up to today (`days` ≥ 1), or `start`..=`end` (`YYYY-MM-DD`); `Err` says
    /// what is wrong, in OpenClaw's words.
    pub fn new(
        days: Option<u64>,
        dates: Option<(&str, &str)>,
        zone: DayZone,
        now_ms: i64,
    ) -> Result<Self, String> {
        let tz = zone.zone();
        let today = jiff::Timestamp::from_millisecond(now_ms)
            .map_err(|e| e.to_string())?
            .to_zoned_datetime(tz.clone())
            .date();
        let (first, last) = match dates {
            Some((s, e)) => {
                let parse = |v: &str, k: &str| {
                    v.parse::<jiff::civil::Date>()
                        .ok()
                        .filter(|_| v.len() == 10)
                        .ok_or_else(|| {
                            format!("invalid {k}: expected a valid YYYY-MM-DD calendar date")
                        })
                };
                let (s, e) = (parse(s, "startDate")?, parse(e, "endDate")?);
                if e < s {
                    return Err("endDate must not be before startDate".into());
                }
                if (e - s).get_days() > 366 {
                    return Err("the range may span at most 367 days".into());
                }
                (s, e)
            }
            None => {
                let days = days.unwrap_or(30).clamp(1, 367);
                let back = i64::try_from(days - 1).unwrap_or(0);
                let first = today
                    .checked_sub(jiff::Span::new().days(back))
                    .map_err(|e| e.to_string())?;
                (first, today)
            }
        };
        let start = first
            .to_zoned_datetime(tz.clone())
            .map_err(|e| e.to_string())?
            .timestamp()
            .as_millisecond();
        let end = last
            .tomorrow()
            .map_err(|e| e.to_string())?
            .to_zoned_datetime(tz)
            .map_err(|e| e.to_string())?
            .timestamp()
            .as_millisecond()
            - 1;
        Ok(Self {
            start_ms: start,
            end_ms: end,
            zone,
        })
    }

    /// Everything up to the end of today (OpenClaw's `range: "all"`).
    pub fn all(zone: DayZone, now_ms: i64) -> Result<Self, String> {
        let today = Self::new(Some(1), None, zone, now_ms)?;
        Ok(Self {
            start_ms: 0,
            ..today
        })
    }

    /// The calendar day of `ms`.
    pub(crate) fn day_of(&self, ms: i64) -> Option<jiff::civil::Date> {
        Some(
            jiff::Timestamp::from_millisecond(ms)
                .ok()?
                .to_zoned_datetime(self.zone.zone())
                .date(),
        )
    }
}

/// OpenClaw's `CostUsageSummary` of the transcripts of `agents` under `state_dir` (blocking).
pub fn summary(state_dir: &Path, agents: &[String], range: &Range, now_ms: i64) -> Value {
    let mut daily: std::collections::BTreeMap<jiff::civil::Date, Totals> = Default::default();
    if let (Some(first), Some(last)) = (range.day_of(range.start_ms), range.day_of(range.end_ms)) {
        let mut d = first;
        while d <= last && daily.len() < 400 {
            daily.insert(d, Totals::default());
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
    }
    let mut totals = Totals::default();
    let (mut files, mut bytes, mut skipped) = (0usize, 0u64, 0usize);
    for agent in agents {
        let dir = state_dir.join("agents").join(agent).join("sessions");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            // Transcripts, and the archives a reset or a delete made of them: their model
            // calls were paid for all the same.
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !name.ends_with(".jsonl") && !crate::registry::maintenance::is_archive(&name) {
                continue;
            }
            // Not a link out, not a FIFO: regular files only.
            let Some((len, modified)) = file_facts(&path) else {
                continue;
            };
            if modified < range.start_ms {
                continue;
            }
            if files >= MAX_FILES || bytes.saturating_add(len) > MAX_BYTES {
                skipped += 1;
                continue;
            }
            files += 1;
            bytes = bytes.saturating_add(len);
            scan(&path, range, &mut daily, &mut totals);
        }
    }
    json!({
        "updatedAt": now_ms,
        "days": daily.len(),
        "daily": daily.iter().map(|(d, t)| {
            let mut v = t.json();
            v["date"] = json!(d.to_string());
            v
        }).collect::<Vec<_>>(),
        "totals": totals.json(),
        "cacheStatus": {
            "status": if skipped > 0 { "partial" } else { "fresh" },
            "cachedFiles": files,
            "pendingFiles": skipped,
            "staleFiles": skipped,
        },
    })
}

/// Adds the answers of one transcript inside `range`.
fn scan(
    path: &Path,
    range: &Range,
    daily: &mut std::collections::BTreeMap<jiff::civil::Date, Totals>,
    totals: &mut Totals,
) {
    let Ok(file) = std::fs::File::open(path) else {
        return;
    };
    let reader = std::io::BufReader::new(std::io::Read::take(file, MAX_BYTES));
    for_each_line(reader, &[b"\"usage\""], |line| {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        // Answers, compactions (their summarizer calls) and memory flushes after a reply.
        let flush = v.get("type").and_then(Value::as_str) == Some("custom")
            && v.get("customType").and_then(Value::as_str) == Some(crate::agent_run::FLUSH_USAGE);
        if v.get("role").and_then(Value::as_str) != Some("assistant")
            && !crate::compaction::is_compaction(&v)
            && !flush
        {
            return;
        }
        let Some(ts) = v.get("ts").and_then(Value::as_i64) else {
            return;
        };
        if ts < range.start_ms || ts > range.end_ms {
            return;
        }
        let Some(u) = v.get("usage") else { return };
        let Some(day) = range.day_of(ts) else {
            return;
        };
        if totals.add_usage(u)
            && let Some(d) = daily.get_mut(&day)
        {
            d.add_usage(u);
        }
    });
}

/// A regular file's size and modification time (ms); `None`: missing, a link, a FIFO.
pub(crate) fn file_facts(path: &Path) -> Option<(u64, i64)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(i64::MAX, |d| {
            i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
        });
    Some((meta.len(), modified))
}

/// Calls `f` with each line `reader` gives (without its newline, at most [`MAX_LINE`]
/// bytes: a longer one is skipped) that contains one of `needles`, a cheap test before any
/// parsing.
pub(crate) fn for_each_line(
    mut reader: impl std::io::BufRead,
    needles: &[&[u8]],
    mut f: impl FnMut(&[u8]),
) {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line_bounded(&mut reader, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if buf.len() > MAX_LINE || !needles.iter().any(|n| contains(&buf, n)) {
            continue;
        }
        f(&buf);
    }
}

/// Reads one line into `buf`, keeping at most [`MAX_LINE`] + 1 bytes of it (the rest of a
/// longer line is read and dropped).
fn read_line_bounded(r: &mut impl std::io::BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(total);
        }
        let (used, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..used.min(room)]);
        r.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn ranges_cover_whole_days() {
        // 2026-12-04T09:00:00Z
        let now = 1_796_374_800_000;
        let r = Range::new(Some(3), None, DayZone::Utc, now).expect("range");
        assert_eq!(
            r.day_of(r.start_ms).map(|d| d.to_string()).as_deref(),
            Some("2026-12-02")
        );
        assert_eq!(
            r.day_of(r.end_ms).map(|d| d.to_string()).as_deref(),
            Some("2026-12-04")
        );
        assert_eq!(r.end_ms - r.start_ms + 1, 3 * DAY);
        let r =
            Range::new(None, Some(("2026-11-30", "2026-12-01")), DayZone::Utc, now).expect("dates");
        assert_eq!(r.end_ms - r.start_ms + 1, 2 * DAY);
        for bad in [
            ("2026-13-01", "2026-12-01"),
            ("2026-12-02", "2026-12-01"),
            ("x", "y"),
        ] {
            assert!(
                Range::new(None, Some(bad), DayZone::Utc, now).is_err(),
                "{bad:?}"
            );
        }
        assert!(Range::new(None, Some(("2024-01-01", "2026-01-01")), DayZone::Utc, now).is_err());
    }

    #[test]
    fn transcripts_sum_per_day_with_costs_and_missing_ones() {
        let dir = tempfile::tempdir().expect("tmp");
        let sessions = dir.path().join("agents/main/sessions");
        std::fs::create_dir_all(&sessions).expect("mkdir");
        let now = 1_796_374_800_000; // 2026-12-04T09:00Z
        let line = |ts: i64, usage: Value| {
            json!({"type": "message", "role": "assistant", "content": "x", "ts": ts, "usage": usage}).to_string()
        };
        let priced = json!({"input": 100, "output": 50, "cacheRead": 10, "cacheWrite": 0, "totalTokens": 160,
            "cost": {"input": 0.0003, "output": 0.00075, "cacheRead": 0.000003, "cacheWrite": 0.0, "total": 0.001053}});
        let unpriced =
            json!({"input": 7, "output": 3, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 10});
        let text = [
            line(now, priced.clone()),
            line(now - DAY, unpriced.clone()),
            line(now - 40 * DAY, priced.clone()), // before the range
            json!({"role": "user", "content": "\"usage\"", "ts": now}).to_string(),
            "not json \"usage\"".to_owned(),
            format!(
                "{{\"role\":\"assistant\",\"usage\":{{}},\"pad\":\"{}\"}}",
                "x".repeat(MAX_LINE + 10)
            ),
            line(now, json!("not an object")),
            // A memory flush after a reply counts; another custom line does not.
            json!({"type": "custom", "customType": crate::agent_run::FLUSH_USAGE, "ts": now,
                "usage": {"input": 1000, "output": 20, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 1020}})
            .to_string(),
            json!({"type": "custom", "customType": "other", "ts": now,
                "usage": {"input": 5, "output": 5, "totalTokens": 10}})
            .to_string(),
        ]
        .join("\n");
        std::fs::write(sessions.join("a.jsonl"), text).expect("write");
        std::fs::write(sessions.join("notes.txt"), line(now, priced.clone())).expect("write");
        // A deleted session's archive counts; a stray file beside it does not.
        std::fs::write(
            sessions.join("gone.jsonl.deleted.1796374000000"),
            line(now, unpriced.clone()),
        )
        .expect("write");
        std::fs::write(sessions.join("gone.jsonl.bak"), line(now, priced.clone())).expect("write");
        let r = Range::new(Some(7), None, DayZone::Utc, now).expect("range");
        let s = summary(
            dir.path(),
            &["main".to_owned(), "ghost".to_owned()],
            &r,
            now,
        );
        assert_eq!(s["days"], 7);
        assert_eq!(s["daily"].as_array().map(Vec::len), Some(7));
        let t = &s["totals"];
        assert_eq!(t["input"], 1114);
        assert_eq!(t["output"], 76);
        assert_eq!(t["totalTokens"], 1200);
        assert_eq!(t["missingCostEntries"], 3);
        assert!(
            (t["totalCost"].as_f64().unwrap_or(0.0) - 0.001053).abs() < 1e-12,
            "{t}"
        );
        let last = &s["daily"][6];
        assert_eq!(last["date"], "2026-12-04");
        assert_eq!(last["totalTokens"], 1190);
        assert_eq!(s["daily"][5]["totalTokens"], 10);
        assert_eq!(s["cacheStatus"]["status"], "fresh");
    }
}
