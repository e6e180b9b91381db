//! The cron scheduler's input parsing (`openclaw_actors::cron`): cron expressions and their
//! next-run search, time zone names, `at` timestamps, durations, and the `cron.add` /
//! `cron.update` params. Nothing may panic; on top of that:
//!
//! - `CronExpr::next_after(tz, t)`, when it answers `n`: `n > t`, `n` is a whole second,
//!   `next_after(n - 1) == n`, and an instant between `t` and `n` also gives `n`; a 5-field
//!   expression parses as its 6-field form with second `0`.
//! - `parse_at` / `parse_duration_ms` answers read back from their digits form; a duration
//!   is in 1 ms ..= 10 years; a zone name that resolves resolves in upper case too.
//! - `parse_add` / `apply_patch` errors start `invalid cron.add params: ` /
//!   `invalid cron.update params: `; an accepted job's next run is after `now`, its view is
//!   an object, it survives the `jobs.json` round trip, and an empty patch keeps it valid.
//!
//! Input: the first byte, XOR `'0'`, picks the mode (bits 0-1), the clock for the JSON
//! modes (bits 2-3) and the job a patch applies to (bits 4-5), so the ASCII digits `0`..`3`
//! are the four modes with the defaults. The rest is:
//!
//! - mode 0: 8 bytes (little-endian i64, Unix ms) then a cron expression;
//! - mode 1: a string for `resolve_tz`, `parse_at` and `parse_duration_ms`;
//! - mode 2: JSON `cron.add` params;
//! - mode 3: a JSON `cron.update` patch.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openclaw::actors::cron::expr::{CronExpr, parse_at, parse_duration_ms, resolve_tz};
use openclaw::actors::cron::job::{self, CronJob};
use serde_json::{Value, json};

/// 2026-05-28T20:26:40Z, the clock of the unit tests.
const NOW: u64 = 1_780_000_000_000;
/// `NOW` as a signed instant.
const NOW_MS: i64 = NOW as i64;
/// OpenClaw's `MAX_DATE_TIMESTAMP_MS`.
const MAX_TS_MS: u64 = 8_640_000_000_000_000;
/// The longest duration `parse_duration_ms` accepts: ten years of 365.25 days.
const MAX_DURATION_MS: u64 = 3_652 * 86_400_000 + 43_200_000;
/// Four years, the span of the input-relative instants.
const FOUR_YEARS_MS: i64 = 4 * 366 * 86_400_000;
/// The clocks the JSON modes run at.
const NOWS: [u64; 4] = [NOW, 0, MAX_TS_MS, u64::MAX];

/// One hour before each 2026 transition (UTC): Berlin's spring-forward and fall-back, Lord
/// Howe's half-hour fall-back and spring-forward.
const BERLIN_DST: [i64; 2] = [1_774_746_000_000 - 3_600_000, 1_792_890_000_000 - 3_600_000];
const LORD_HOWE_DST: [i64; 2] = [1_775_314_800_000 - 3_600_000, 1_791_041_400_000 - 3_600_000];

/// The jobs a patch is applied to (built with `parse_add` at `NOW`).
const BASE_JOBS: [&str; 4] = [
    r#"{"name":"x","schedule":{"kind":"every","everyMs":60000},"payload":{"kind":"agentTurn","message":"m"}}"#,
    r#"{"name":"Morning","enabled":true,"schedule":{"kind":"cron","expr":"0 7 * * *","tz":"Europe/Berlin","staggerMs":300000},"sessionTarget":"main","wakeMode":"now","payload":{"kind":"systemEvent","text":"Good morning"}}"#,
    r#"{"name":"Reminder","schedule":{"kind":"at","at":"2026-12-24T18:00:00Z"},"sessionTarget":"isolated","payload":{"kind":"agentTurn","message":"Presents","timeoutSeconds":120},"delivery":{"mode":"announce","channel":"telegram","to":"123"}}"#,
    r#"{"name":"Ops","description":"every ten seconds","schedule":{"kind":"cron","expr":"*/10 * * * * *","tz":"Australia/Lord_Howe"},"sessionTarget":"session:ops","payload":{"kind":"agentTurn","message":"check"},"delivery":{"mode":"none"}}"#,
];

fn base_jobs() -> &'static [CronJob] {
    static JOBS: OnceLock<Vec<CronJob>> = OnceLock::new();
    JOBS.get_or_init(|| {
        BASE_JOBS
            .iter()
            .map(|text| {
                let params: Value = serde_json::from_str(text).expect("base job JSON");
                job::parse_add(&params, "fuzz-base-job".into(), NOW).expect("base job is valid")
            })
            .collect()
    })
}

/// The invariants of one `next_after` answer; `next` is `|t| expr.next_after(&tz, t)`.
fn check_next(what: &str, next: &dyn Fn(i64) -> Option<i64>, t: i64) {
    let Some(n) = next(t) else {
        return;
    };
    assert!(n > t, "{what}: next_after({t}) = {n} is not after it");
    assert_eq!(
        n.rem_euclid(1000),
        0,
        "{what}: next_after({t}) = {n} is not a whole second"
    );
    if let Some(before) = n.checked_sub(1) {
        assert_eq!(
            next(before),
            Some(n),
            "{what}: next_after({t}) = {n}, but next_after({before}) differs"
        );
    }
    let mid = i64::try_from((i128::from(t) + i128::from(n)) / 2).expect("between two i64");
    if mid > t && mid < n {
        assert_eq!(
            next(mid),
            Some(n),
            "{what}: next_after({t}) = {n}, but next_after({mid}) differs"
        );
    }
}

fn fuzz_expr(rest: &[u8]) {
    let (t, text) = match rest.split_first_chunk::<8>() {
        Some((head, tail)) => (i64::from_le_bytes(*head), tail),
        None => (NOW_MS, rest),
    };
    let s = String::from_utf8_lossy(text);
    let Ok(expr) = CronExpr::parse(&s) else {
        return;
    };
    // A 5-field expression is its 6-field form with second 0.
    let trimmed = s.trim();
    if !trimmed.starts_with('@') && trimmed.split_ascii_whitespace().count() == 5 {
        let six = format!("0 {trimmed}");
        if six.len() <= 256 {
            assert_eq!(
                CronExpr::parse(&six).as_ref(),
                Ok(&expr),
                "{s:?} and {six:?} differ"
            );
        }
    }
    let near = NOW_MS + t.rem_euclid(FOUR_YEARS_MS);
    for (zone, fixed) in [
        ("UTC", &[NOW_MS][..]),
        ("Europe/Berlin", &BERLIN_DST[..]),
        ("Australia/Lord_Howe", &LORD_HOWE_DST[..]),
    ] {
        let tz = resolve_tz(Some(zone)).expect("known zone");
        let what = format!("{s:?} in {zone}");
        let next = |at: i64| expr.next_after(&tz, at);
        for &at in [t, near].iter().chain(fixed) {
            check_next(&what, &next, at);
        }
    }
}

fn fuzz_strings(rest: &[u8]) {
    let s = String::from_utf8_lossy(rest);
    if let Ok(tz) = resolve_tz(Some(&s)) {
        assert!(
            resolve_tz(Some(&s.to_ascii_uppercase())).is_ok(),
            "zone {s:?} resolves but not in upper case"
        );
        for e in ["0 * * * *", "30 2 * * *"] {
            let expr = CronExpr::parse(e).expect("fixed expression");
            let what = format!("{e:?} in zone {s:?}");
            check_next(&what, &|at| expr.next_after(&tz, at), NOW_MS);
        }
    }
    if let Ok(ms) = parse_at(&s)
        && ms >= 0
    {
        assert_eq!(parse_at(&ms.to_string()), Ok(ms), "at {s:?} = {ms}");
    }
    if let Ok(d) = parse_duration_ms(&s) {
        assert!(
            (1..=MAX_DURATION_MS).contains(&d),
            "duration {s:?} = {d} ms is out of range"
        );
        assert_eq!(
            parse_duration_ms(&d.to_string()),
            Ok(d),
            "duration {s:?} = {d}"
        );
    }
}

/// What every accepted job must satisfy.
fn check_job(what: &str, job: &CronJob, now: u64) {
    if let Some(n) = job::next_run(&job.schedule, &job.id, job.created_at_ms, now) {
        assert!(n > now, "{what}: next run {n} is not after now {now}");
    }
    assert!(job.view().is_object(), "{what}: the view is not an object");
    let text = serde_json::to_string(job).expect("a job serializes");
    let back: CronJob = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: the stored job {text} does not load: {e}"));
    assert_eq!(&back, job, "{what}: the job changed through jobs.json");
    let same = job::apply_patch(job, &json!({}), now)
        .unwrap_or_else(|e| panic!("{what}: an empty patch is refused: {e}"));
    assert_eq!(same.updated_at_ms, now);
}

fn fuzz_add(rest: &[u8], now: u64) {
    let Ok(params) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    match job::parse_add(&params, "fuzz-job".into(), now) {
        Ok(job) => {
            assert_eq!(job.id, "fuzz-job");
            assert_eq!(job.created_at_ms, now);
            check_job("cron.add", &job, now);
        }
        Err(e) => assert!(
            e.starts_with("invalid cron.add params: "),
            "cron.add error without the prefix: {e:?}"
        ),
    }
}

fn fuzz_patch(rest: &[u8], now: u64, base: &CronJob) {
    let Ok(patch) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    match job::apply_patch(base, &patch, now) {
        Ok(next) => {
            assert_eq!(next.id, base.id);
            assert_eq!(next.created_at_ms, base.created_at_ms);
            assert_eq!(next.updated_at_ms, now);
            check_job("cron.update", &next, now);
        }
        Err(e) => assert!(
            e.starts_with("invalid cron.update params: "),
            "cron.update error without the prefix: {e:?}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let sel = first ^ b'0';
    let now = NOWS[usize::from((sel >> 2) & 3)];
    match sel & 3 {
        0 => fuzz_expr(rest),
        1 => fuzz_strings(rest),
        2 => fuzz_add(rest, now),
        _ => fuzz_patch(rest, now, &base_jobs()[usize::from((sel >> 4) & 3)]),
    }
});
