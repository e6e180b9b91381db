//! Cron expressions, time zones, `at` timestamps and durations for the cron scheduler.
//!
//! Pure logic: nothing here touches an actor or does I/O, except that [`resolve_tz`] lets jiff
//! read the system's time zone database (`/usr/share/zoneinfo`, `/etc/localtime`).
//!
//! The syntax is the subset of `croner` (the library OpenClaw's scheduler uses) that the
//! gateway needs: 5 fields (`min hour dom month dow`) or 6 (`sec min hour dom month dow`);
//! `*`, `?`, numbers, `a-b`, `*/n`, `a-b/n`, `a/n`, comma lists, `JAN`-`DEC`, `SUN`-`SAT`,
//! day-of-week 7 = Sunday, and the nicknames `@yearly`, `@annually`, `@monthly`, `@weekly`,
//! `@daily`, `@midnight`, `@hourly`. When both day-of-month and day-of-week are restricted, a
//! day matches if either does (Vixie cron, croner's default `legacyMode`).
//!
//! [`CronExpr::next_after`] walks the zone's civil calendar day by day (at most five years)
//! and, on a matching day, takes the first matching wall time whose instant is later than the
//! given one. A wall time the zone skips (the spring-forward gap) does not fire that day; a
//! wall time the zone repeats (the fall-back fold) fires once, at its earlier instant.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// The longest cron expression [`CronExpr::parse`] accepts, in bytes.
const MAX_EXPR_LEN: usize = 256;
/// The longest time zone name [`resolve_tz`] accepts, in bytes.
const MAX_TZ_LEN: usize = 64;
/// The longest `at` string [`parse_at`] accepts, in bytes.
const MAX_AT_LEN: usize = 64;
/// The longest duration string [`parse_duration_ms`] accepts, in bytes.
const MAX_DURATION_LEN: usize = 64;
/// How many civil days [`CronExpr::next_after`] looks ahead (five years, leap days included).
const MAX_DAYS: u32 = 5 * 366;
/// One day in milliseconds.
const DAY_MS: u64 = 86_400_000;
/// The longest duration [`parse_duration_ms`] accepts: ten years of 365.25 days.
const MAX_DURATION_MS: u64 = 3_652 * DAY_MS + DAY_MS / 2;

/// A parsed cron expression: 5 fields (`min hour dom month dow`) or 6 fields
/// (`sec min hour dom month dow`), each kept as a bitset of the values it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    /// Bits 0..=59.
    seconds: u64,
    /// Bits 0..=59.
    minutes: u64,
    /// Bits 0..=23.
    hours: u32,
    /// Bits 1..=31.
    dom: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6, Sunday = 0.
    dow: u8,
    /// Day-of-month was something other than `*` or `?`.
    dom_restricted: bool,
    /// Day-of-week was something other than `*` or `?`.
    dow_restricted: bool,
}

/// How one field is parsed: its name (for messages), its range and its value names.
struct FieldSpec {
    name: &'static str,
    min: u32,
    /// The largest value a number may have (7 for day-of-week, where 7 is Sunday).
    max: u32,
    /// The largest value `*` and `a/n` run to (6 for day-of-week).
    wild_max: u32,
    /// Names for `min`, `min + 1`, ... (three letters, matched without regard to case).
    names: &'static [&'static str],
    is_dow: bool,
}

const SECOND: FieldSpec = FieldSpec {
    name: "second",
    min: 0,
    max: 59,
    wild_max: 59,
    names: &[],
    is_dow: false,
};
const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    wild_max: 59,
    names: &[],
    is_dow: false,
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    wild_max: 23,
    names: &[],
    is_dow: false,
};
const DOM: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    wild_max: 31,
    names: &[],
    is_dow: false,
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    wild_max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    is_dow: false,
};
const DOW: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    wild_max: 6,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    is_dow: true,
};

impl CronExpr {
    /// Parses a cron expression (5 or 6 fields, or a nickname such as `@daily`).
    ///
    /// The error names the field and the offending token, e.g.
    /// `"minute field: 61 is out of range 0-59"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() > MAX_EXPR_LEN {
            return Err(format!(
                "cron expression is too long ({} bytes, at most {MAX_EXPR_LEN})",
                s.len()
            ));
        }
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err("cron expression is empty".to_string());
        }
        let expanded = if trimmed.starts_with('@') {
            nickname(trimmed)?
        } else {
            trimmed
        };
        let fields: Vec<&str> = expanded.split_ascii_whitespace().collect();
        let (sec, rest): (Option<&str>, &[&str]) = match fields.as_slice() {
            [_, _, _, _, _] => (None, &fields[..]),
            [sec, rest @ ..] if rest.len() == 5 => (Some(*sec), rest),
            _ => {
                return Err(format!(
                    "cron expression must have 5 or 6 fields (sec? min hour dom month dow), got {}",
                    fields.len()
                ));
            }
        };
        let [min, hour, dom, month, dow] = rest else {
            return Err("cron expression must have 5 or 6 fields".to_string());
        };
        let seconds = match sec {
            Some(text) => parse_field(&SECOND, text)?,
            None => 1,
        };
        let minutes = parse_field(&MINUTE, min)?;
        let hours = parse_field(&HOUR, hour)?;
        let dom_bits = parse_field(&DOM, dom)?;
        let month_bits = parse_field(&MONTH, month)?;
        let dow_bits = parse_field(&DOW, dow)?;
        Ok(CronExpr {
            seconds,
            minutes,
            hours: low_bits(hours, 24) as u32,
            dom: low_bits(dom_bits, 32) as u32,
            months: low_bits(month_bits, 13) as u16,
            dow: low_bits(dow_bits, 7) as u8,
            dom_restricted: !is_wildcard(dom),
            dow_restricted: !is_wildcard(dow),
        })
    }

    /// The first instant strictly after `after_ms` (Unix ms) at which the expression matches,
    /// evaluated in the wall-clock time of `tz`; `None` if there is none within five years
    /// (e.g. `"0 0 30 2 *"`) or the search leaves the range jiff can represent.
    ///
    /// The answer is a whole second (its millisecond part is 0). A wall time inside a
    /// spring-forward gap is skipped for that day; a wall time repeated by a fall-back fold
    /// matches once, at its earlier instant.
    pub fn next_after(&self, tz: &TimeZone, after_ms: i64) -> Option<i64> {
        // Candidates are whole seconds; the first one strictly after `after_ms`.
        let start_sec = after_ms.div_euclid(1000).checked_add(1)?;
        let start = Timestamp::from_second(start_sec).ok()?;
        let start_dt = tz.to_datetime(start);
        let mut date = start_dt.date();
        // Within a day, wall time → earlier instant is increasing (gaps excluded), so on the
        // first day nothing before the start's own wall time can be later than the start.
        let mut from = (
            to_u32(start_dt.hour()),
            to_u32(start_dt.minute()),
            to_u32(start_dt.second()),
        );
        for _ in 0..=MAX_DAYS {
            if self.day_matches(date)
                && let Some(sec) = self.first_in_day(tz, date, from, start_sec)
            {
                return sec.checked_mul(1000);
            }
            from = (0, 0, 0);
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// Whether the month and the day (day-of-month / day-of-week, Vixie-cron rules) match.
    fn day_matches(&self, date: Date) -> bool {
        if !has_bit(u64::from(self.months), to_u32(date.month())) {
            return false;
        }
        let dom_ok = has_bit(u64::from(self.dom), to_u32(date.day()));
        let weekday = to_u32(date.weekday().to_sunday_zero_offset());
        let dow_ok = has_bit(u64::from(self.dow), weekday);
        if self.dom_restricted && self.dow_restricted {
            dom_ok || dow_ok
        } else {
            dom_ok && dow_ok
        }
    }

    /// The first matching wall time of `date` at or after `from` (hour, minute, second) whose
    /// instant is at or after `start_sec`, as Unix seconds.
    fn first_in_day(
        &self,
        tz: &TimeZone,
        date: Date,
        from: (u32, u32, u32),
        start_sec: i64,
    ) -> Option<i64> {
        let (from_h, from_m, from_s) = from;
        let mut hour = next_bit(u64::from(self.hours), from_h);
        while let Some(h) = hour {
            let first_hour = h == from_h;
            let mut minute = next_bit(self.minutes, if first_hour { from_m } else { 0 });
            while let Some(m) = minute {
                let first_minute = first_hour && m == from_m;
                let mut second = next_bit(self.seconds, if first_minute { from_s } else { 0 });
                while let Some(s) = second {
                    if let Some(sec) = wall_to_second(tz, date, h, m, s)
                        && sec >= start_sec
                    {
                        return Some(sec);
                    }
                    second = next_bit(self.seconds, s + 1);
                }
                minute = next_bit(self.minutes, m + 1);
            }
            hour = next_bit(u64::from(self.hours), h + 1);
        }
        None
    }
}

/// The instant (Unix seconds) of a wall time in `tz`: `None` inside a gap, the earlier
/// instant inside a fold.
fn wall_to_second(tz: &TimeZone, date: Date, h: u32, m: u32, s: u32) -> Option<i64> {
    let dt = DateTime::new(
        date.year(),
        date.month(),
        date.day(),
        i8::try_from(h).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(s).ok()?,
        0,
    )
    .ok()?;
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    if let AmbiguousOffset::Gap { .. } = ambiguous.offset() {
        return None;
    }
    ambiguous.earlier().ok().map(Timestamp::as_second)
}

/// The expansion of an `@nickname`.
fn nickname(s: &str) -> Result<&'static str, String> {
    match s.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => Ok("0 0 1 1 *"),
        "@monthly" => Ok("0 0 1 * *"),
        "@weekly" => Ok("0 0 * * 0"),
        "@daily" | "@midnight" => Ok("0 0 * * *"),
        "@hourly" => Ok("0 * * * *"),
        "@reboot" => Err("cron expression: @reboot is not supported".to_string()),
        _ => Err(format!(
            "cron expression: unknown nickname {s:?} (expected @yearly, @annually, @monthly, \
             @weekly, @daily, @midnight or @hourly)"
        )),
    }
}

/// Whether a whole field leaves its values unrestricted (`*` or `?`).
fn is_wildcard(field: &str) -> bool {
    field == "*" || field == "?"
}

/// Parses one field into a bitset (bit `v` set for each matching value `v`; day-of-week 7 is
/// folded onto 0).
fn parse_field(spec: &FieldSpec, text: &str) -> Result<u64, String> {
    let mut bits = 0u64;
    for element in text.split(',') {
        bits |= parse_element(spec, element)?;
    }
    Ok(bits)
}

/// Parses one comma-separated element: `*`, `?`, `a`, `a-b`, each optionally `/step`.
fn parse_element(spec: &FieldSpec, element: &str) -> Result<u64, String> {
    let name = spec.name;
    if element.is_empty() {
        return Err(format!("{name} field: empty list element"));
    }
    let (base, step) = match element.split_once('/') {
        Some((base, step_text)) => {
            let step = parse_step(spec, element, step_text)?;
            (base, Some(step))
        }
        None => (element, None),
    };
    let (lo, hi) = if base == "*" || base == "?" {
        (spec.min, spec.wild_max)
    } else if let Some((a, b)) = base.split_once('-') {
        let lo = parse_value(spec, a, false)?;
        let hi = parse_value(spec, b, true)?;
        if lo > hi {
            return Err(format!(
                "{name} field: range {base} is reversed ({lo} is greater than {hi})"
            ));
        }
        (lo, hi)
    } else {
        let value = parse_value(spec, base, false)?;
        match step {
            // `a/n`: from a to the field's maximum.
            Some(_) => (value, spec.wild_max.max(value)),
            None => (value, value),
        }
    };
    let step = step.unwrap_or(1);
    let mut bits = 0u64;
    let mut v = lo;
    while v <= hi {
        let bit = if spec.is_dow { v % 7 } else { v };
        bits |= 1u64 << bit;
        match v.checked_add(step) {
            Some(next) => v = next,
            None => break,
        }
    }
    Ok(bits)
}

/// Parses the step after `/`: a positive number no larger than the field's span.
fn parse_step(spec: &FieldSpec, element: &str, text: &str) -> Result<u32, String> {
    let name = spec.name;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} field: bad step in {element:?}"));
    }
    let span = spec.wild_max - spec.min + 1;
    let step = text.parse::<u32>().unwrap_or(u32::MAX);
    if step == 0 {
        return Err(format!(
            "{name} field: step 0 in {element:?} is not allowed"
        ));
    }
    if step > span {
        return Err(format!(
            "{name} field: step {text} in {element:?} is larger than the field's {span} values"
        ));
    }
    Ok(step)
}

/// Parses one value: a number in range or a three-letter name. `range_end` makes `SUN` mean 7
/// in day-of-week (so `MON-SUN` works).
fn parse_value(spec: &FieldSpec, token: &str, range_end: bool) -> Result<u32, String> {
    let name = spec.name;
    if token.is_empty() {
        return Err(format!("{name} field: missing value"));
    }
    if token.bytes().all(|b| b.is_ascii_digit()) {
        let value = token.parse::<u32>().unwrap_or(u32::MAX);
        if value < spec.min || value > spec.max {
            return Err(format!(
                "{name} field: {token} is out of range {}-{}",
                spec.min, spec.max
            ));
        }
        return Ok(value);
    }
    if let Some(index) = spec
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(token))
    {
        let value = spec.min + u32::try_from(index).unwrap_or(0);
        if spec.is_dow && range_end && value == 0 {
            return Ok(7);
        }
        return Ok(value);
    }
    let upper = token.to_ascii_uppercase();
    let quartz_modifier = upper.contains('#')
        || upper == "L"
        || upper == "LW"
        || ((upper.ends_with('L') || upper.ends_with('W'))
            && upper[..upper.len() - 1].bytes().all(|b| b.is_ascii_digit()));
    if quartz_modifier {
        return Err(format!(
            "{name} field: {token:?} uses L, W or #, which are not supported"
        ));
    }
    if spec.names.is_empty() {
        Err(format!("{name} field: {token:?} is not a number"))
    } else {
        Err(format!(
            "{name} field: {token:?} is not a number or a known name ({}-{})",
            spec.names.first().copied().unwrap_or_default(),
            spec.names.last().copied().unwrap_or_default()
        ))
    }
}

/// Keeps the lowest `n` bits of `bits`.
fn low_bits(bits: u64, n: u32) -> u64 {
    if n >= 64 {
        bits
    } else {
        bits & ((1u64 << n) - 1)
    }
}

/// Whether bit `i` of `bits` is set.
fn has_bit(bits: u64, i: u32) -> bool {
    i < 64 && bits & (1u64 << i) != 0
}

/// The lowest set bit of `bits` at index `from` or above.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = bits >> from;
    if rest == 0 {
        None
    } else {
        Some(from + rest.trailing_zeros())
    }
}

/// A civil-calendar component (never negative for hours, minutes, days, months) as `u32`.
fn to_u32(v: i8) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// Resolves an IANA time zone name (`"Europe/Berlin"`, `"UTC"`, `"America/Los_Angeles"`,
/// matched without regard to ASCII case). `None` or `""` gives the system's zone, or UTC when
/// the system's zone cannot be determined.
pub fn resolve_tz(name: Option<&str>) -> Result<TimeZone, String> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Ok(TimeZone::try_system().unwrap_or(TimeZone::UTC));
    }
    if name.len() > MAX_TZ_LEN {
        return Err(format!(
            "time zone name is too long ({} bytes, at most {MAX_TZ_LEN})",
            name.len()
        ));
    }
    let plausible = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
        && !name.split('/').any(|part| part.is_empty());
    if !plausible {
        return Err(format!("unknown time zone {name:?}"));
    }
    if name.eq_ignore_ascii_case("UTC") || name.eq_ignore_ascii_case("Etc/UTC") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|_| format!("unknown time zone {name:?}"))
}

/// Parses an `at` schedule into Unix ms: an RFC 3339 / ISO 8601 timestamp with an offset
/// (`"2026-02-01T16:00:00Z"`, `"2026-02-01T16:00:00+02:00"`, `"2026-02-01T16:00:00.123Z"`),
/// one without (`"2026-02-01T16:00:00"`, `"2026-02-01 16:00"`, `"2026-02-01"`), read as UTC,
/// or a string of digits, read as Unix ms.
pub fn parse_at(s: &str) -> Result<i64, String> {
    if s.len() > MAX_AT_LEN {
        return Err(format!(
            "at: timestamp is too long ({} bytes, at most {MAX_AT_LEN})",
            s.len()
        ));
    }
    let s = s.trim();
    if s.is_empty() {
        return Err("at: timestamp is empty".to_string());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let ms = s
            .parse::<i64>()
            .map_err(|_| format!("at: {s} is out of range for Unix milliseconds"))?;
        return Timestamp::from_millisecond(ms)
            .map(Timestamp::as_millisecond)
            .map_err(|_| format!("at: {s} is out of range for Unix milliseconds"));
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    // Without an offset the time is UTC; a bracketed zone annotation without an offset
    // would otherwise be silently ignored, so it is refused.
    if !s.contains('[')
        && let Ok(dt) = s.parse::<DateTime>()
        && let Ok(ts) = TimeZone::UTC.to_timestamp(dt)
    {
        return Ok(ts.as_millisecond());
    }
    Err(format!(
        "at: {s:?} is not a timestamp (expected ISO 8601 such as 2026-02-01T16:00:00Z, \
         2026-02-01T16:00:00+02:00, 2026-02-01 16:00 (UTC), 2026-02-01, or Unix milliseconds)"
    ))
}

/// Parses a duration into milliseconds: `"90s"`, `"20m"`, `"1h"`, `"1h30m"`, `"2d"`,
/// `"500ms"`, `"1.5h"`, or plain digits (milliseconds). Units are `ms`, `s`, `m`, `h`, `d`
/// (any case). Zero, more than ten years, and anything else is an error.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    if s.len() > MAX_DURATION_LEN {
        return Err(format!(
            "duration is too long ({} bytes, at most {MAX_DURATION_LEN})",
            s.len()
        ));
    }
    let text = s.trim();
    if text.is_empty() {
        return Err("duration is empty".to_string());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let ms = text
            .parse::<u64>()
            .map_err(|_| format!("duration {text:?} is too large"))?;
        return check_duration(text, u128::from(ms));
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    while i < bytes.len() {
        let int_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &text[int_start..i];
        let mut frac_part = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let frac_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &text[frac_start..i];
            if frac_part.is_empty() {
                return Err(format!("duration {text:?}: a number may not end with '.'"));
            }
        }
        if int_part.is_empty() {
            return Err(format!(
                "duration {text:?}: expected a number such as 90s, 20m, 1h30m, 2d or 500ms"
            ));
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_ms: u128 = match text[unit_start..i].to_ascii_lowercase().as_str() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => u128::from(DAY_MS),
            "" => {
                return Err(format!(
                    "duration {text:?}: missing unit after {int_part} (use ms, s, m, h or d)"
                ));
            }
            other => {
                return Err(format!(
                    "duration {text:?}: unknown unit {other:?} (use ms, s, m, h or d)"
                ));
            }
        };
        // More digits than this cannot be under ten years in any unit.
        if int_part.len() > 15 || frac_part.len() > 9 {
            return Err(format!("duration {text:?} is too large or too precise"));
        }
        let int_value = int_part.parse::<u128>().unwrap_or(u128::MAX);
        let mut component = int_value.saturating_mul(unit_ms);
        if !frac_part.is_empty() {
            let frac_value = frac_part.parse::<u128>().unwrap_or(0);
            let scale = 10u128.pow(u32::try_from(frac_part.len()).unwrap_or(9));
            component = component.saturating_add(frac_value.saturating_mul(unit_ms) / scale);
        }
        total = total.saturating_add(component);
    }
    check_duration(text, total)
}

/// Rejects a zero or over-long duration.
fn check_duration(text: &str, ms: u128) -> Result<u64, String> {
    if ms == 0 {
        return Err(format!("duration {text:?} must be greater than zero"));
    }
    if ms > u128::from(MAX_DURATION_MS) {
        return Err(format!("duration {text:?} is longer than 10 years"));
    }
    u64::try_from(ms).map_err(|_| format!("duration {text:?} is longer than 10 years"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn iso(ms: i64) -> String {
        Timestamp::from_millisecond(ms).unwrap().to_string()
    }

    fn tz(name: &str) -> TimeZone {
        resolve_tz(Some(name)).unwrap()
    }

    fn next(expr: &str, zone: &str, after: &str) -> Option<String> {
        CronExpr::parse(expr)
            .unwrap()
            .next_after(&tz(zone), utc(after))
            .map(iso)
    }

    /// The successive firings after `after`.
    fn series(expr: &str, zone: &str, after: &str, n: usize) -> Vec<String> {
        let e = CronExpr::parse(expr).unwrap();
        let zone = tz(zone);
        let mut t = utc(after);
        let mut out = Vec::new();
        for _ in 0..n {
            t = e.next_after(&zone, t).unwrap();
            out.push(iso(t));
        }
        out
    }

    fn parse_err(expr: &str) -> String {
        CronExpr::parse(expr).unwrap_err()
    }

    /// Whether the expression matches the wall time of `ms` in `zone` (test oracle).
    fn matches_at(e: &CronExpr, zone: &TimeZone, ms: i64) -> bool {
        let dt = zone.to_datetime(Timestamp::from_millisecond(ms).unwrap());
        e.day_matches(dt.date())
            && has_bit(u64::from(e.hours), to_u32(dt.hour()))
            && has_bit(e.minutes, to_u32(dt.minute()))
            && has_bit(e.seconds, to_u32(dt.second()))
    }

    #[test]
    fn every_fifteen_minutes() {
        assert_eq!(
            series("*/15 * * * *", "UTC", "2026-02-01T10:07:30Z", 4),
            [
                "2026-02-01T10:15:00Z",
                "2026-02-01T10:30:00Z",
                "2026-02-01T10:45:00Z",
                "2026-02-01T11:00:00Z"
            ]
        );
        // Strictly after: an exact match moves on.
        assert_eq!(
            next("*/15 * * * *", "UTC", "2026-02-01T10:15:00Z").as_deref(),
            Some("2026-02-01T10:30:00Z")
        );
        // A millisecond before a match gives that match.
        assert_eq!(
            next("*/15 * * * *", "UTC", "2026-02-01T10:14:59.999Z").as_deref(),
            Some("2026-02-01T10:15:00Z")
        );
    }

    #[test]
    fn weekdays_in_berlin() {
        // 2026-01-02 is a Friday: the next run is Monday 09:00 CET.
        assert_eq!(
            series("0 9 * * 1-5", "Europe/Berlin", "2026-01-02T12:00:00Z", 3),
            [
                "2026-01-05T08:00:00Z",
                "2026-01-06T08:00:00Z",
                "2026-01-07T08:00:00Z"
            ]
        );
        // In summer (CEST, +02:00); 2026-07-03 is a Friday.
        assert_eq!(
            next("0 9 * * MON-FRI", "Europe/Berlin", "2026-07-03T12:00:00Z").as_deref(),
            Some("2026-07-06T07:00:00Z")
        );
        // Before 09:00 local on a weekday: the same day.
        assert_eq!(
            next("0 9 * * 1-5", "Europe/Berlin", "2026-01-05T07:59:59Z").as_deref(),
            Some("2026-01-05T08:00:00Z")
        );
    }

    #[test]
    fn los_angeles_across_dst_start() {
        // DST starts 2026-03-08 in the US: 07:00 PST = 15:00Z, then 07:00 PDT = 14:00Z.
        assert_eq!(
            series(
                "0 7 * * *",
                "America/Los_Angeles",
                "2026-03-06T16:00:00Z",
                3
            ),
            [
                "2026-03-07T15:00:00Z",
                "2026-03-08T14:00:00Z",
                "2026-03-09T14:00:00Z"
            ]
        );
        // And back on 2026-11-01.
        assert_eq!(
            series(
                "0 7 * * *",
                "America/Los_Angeles",
                "2026-10-30T16:00:00Z",
                3
            ),
            [
                "2026-10-31T14:00:00Z",
                "2026-11-01T15:00:00Z",
                "2026-11-02T15:00:00Z"
            ]
        );
    }

    #[test]
    fn spring_forward_gap_is_skipped() {
        // 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 does not exist that day.
        assert_eq!(
            series("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 2),
            ["2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"]
        );
        // A time just after the gap still fires that day.
        assert_eq!(
            next("0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z").as_deref(),
            Some("2026-03-29T01:00:00Z")
        );
        // Every minute: 01:59 CET is followed by 03:00 CEST.
        assert_eq!(
            next("* * * * *", "Europe/Berlin", "2026-03-29T00:59:00Z").as_deref(),
            Some("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn fall_back_fold_fires_once() {
        // 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:30 happens twice; run at the first.
        assert_eq!(
            series("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
        // From inside the second 02:xx hour, 02:30 is not repeated.
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z").as_deref(),
            Some("2026-10-26T01:30:00Z")
        );
        // Every wall time of the repeated hour fires once, in its first pass: from inside the
        // second pass the next run is 03:00 CET.
        assert_eq!(
            next("*/15 * * * *", "Europe/Berlin", "2026-10-25T01:10:00Z").as_deref(),
            Some("2026-10-25T02:00:00Z")
        );
        assert_eq!(
            next("*/15 * * * *", "Europe/Berlin", "2026-10-25T00:50:00Z").as_deref(),
            Some("2026-10-25T02:00:00Z")
        );
        // Hourly across the fold: 02:00 CEST, then 03:00 CET (the repeated 02:00 is skipped).
        assert_eq!(
            series("0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z", 3),
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T03:00:00Z"
            ]
        );
    }

    #[test]
    fn leap_day_and_impossible_dates() {
        assert_eq!(
            next("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z").as_deref(),
            Some("2028-02-29T00:00:00Z")
        );
        assert_eq!(next("0 0 30 2 *", "UTC", "2026-01-01T00:00:00Z"), None);
        assert_eq!(
            next("0 0 31 4,6,9,11 *", "UTC", "2026-01-01T00:00:00Z"),
            None
        );
        assert_eq!(
            next("0 0 31 * *", "UTC", "2026-02-01T00:00:00Z").as_deref(),
            Some("2026-03-31T00:00:00Z")
        );
    }

    #[test]
    fn dom_dow_or_semantics() {
        // 2026-01-01 is a Thursday, 2026-02-01 a Sunday.
        assert_eq!(
            series("0 0 1 * MON", "UTC", "2026-01-01T00:00:00Z", 6),
            [
                "2026-01-05T00:00:00Z",
                "2026-01-12T00:00:00Z",
                "2026-01-19T00:00:00Z",
                "2026-01-26T00:00:00Z",
                "2026-02-01T00:00:00Z",
                "2026-02-02T00:00:00Z"
            ]
        );
        // Only dom restricted: dow ignored; `?` counts as unrestricted.
        assert_eq!(
            series("0 0 1 * ?", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]
        );
        // Only dow restricted.
        assert_eq!(
            series("0 0 ? * 1", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"]
        );
        // A stepped dom is restricted: OR with dow.
        assert_eq!(
            series("0 0 */10 * 5", "UTC", "2026-01-01T00:00:00Z", 4),
            [
                "2026-01-02T00:00:00Z",
                "2026-01-09T00:00:00Z",
                "2026-01-11T00:00:00Z",
                "2026-01-16T00:00:00Z"
            ]
        );
    }

    #[test]
    fn names_case_insensitive() {
        let a = CronExpr::parse("0 12 * jan,Mar-may mon-fri").unwrap();
        let b = CronExpr::parse("0 12 * 1,3-5 1-5").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            CronExpr::parse("0 0 * * SUN").unwrap(),
            CronExpr::parse("0 0 * * 0").unwrap()
        );
        // SUN at the end of a range is 7.
        assert_eq!(
            CronExpr::parse("0 0 * * MON-SUN").unwrap(),
            CronExpr::parse("0 0 * * 0-6").unwrap()
        );
        assert_eq!(
            next("0 0 1 DEC *", "UTC", "2026-01-01T00:00:00Z").as_deref(),
            Some("2026-12-01T00:00:00Z")
        );
    }

    #[test]
    fn dow_seven_is_sunday() {
        assert_eq!(
            CronExpr::parse("0 0 * * 7").unwrap(),
            CronExpr::parse("0 0 * * 0").unwrap()
        );
        assert_eq!(
            CronExpr::parse("0 0 * * 5-7").unwrap(),
            CronExpr::parse("0 0 * * 0,5,6").unwrap()
        );
        // 2026-01-04 is a Sunday.
        assert_eq!(
            next("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z").as_deref(),
            Some("2026-01-04T00:00:00Z")
        );
    }

    #[test]
    fn six_fields_with_seconds() {
        assert_eq!(
            series("*/20 * * * * *", "UTC", "2026-02-01T10:00:05Z", 4),
            [
                "2026-02-01T10:00:20Z",
                "2026-02-01T10:00:40Z",
                "2026-02-01T10:01:00Z",
                "2026-02-01T10:01:20Z"
            ]
        );
        assert_eq!(
            next("30 15 9 * * *", "UTC", "2026-02-01T10:00:00Z").as_deref(),
            Some("2026-02-02T09:15:30Z")
        );
        // Five fields: seconds are 0.
        assert_eq!(
            CronExpr::parse("0 * * * * *").unwrap(),
            CronExpr::parse("* * * * *").unwrap()
        );
    }

    #[test]
    fn nicknames() {
        let cases = [
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@hourly", "0 * * * *"),
            ("  @HOURLY\t", "0 * * * *"),
        ];
        for (nick, plain) in cases {
            assert_eq!(
                CronExpr::parse(nick).unwrap(),
                CronExpr::parse(plain).unwrap(),
                "{nick}"
            );
        }
        assert_eq!(
            next("@hourly", "UTC", "2026-02-01T10:00:00Z").as_deref(),
            Some("2026-02-01T11:00:00Z")
        );
        assert!(parse_err("@reboot").contains("not supported"));
        assert!(parse_err("@often").contains("unknown nickname"));
    }

    #[test]
    fn ranges_steps_lists_and_whitespace() {
        let e = CronExpr::parse("  5-20/5\t 1,2 * *   * ").unwrap();
        assert_eq!(e.minutes, (1 << 5) | (1 << 10) | (1 << 15) | (1 << 20));
        assert_eq!(e.hours, 0b110);
        // `a/n` runs from a to the maximum.
        let e = CronExpr::parse("50/3 * * * *").unwrap();
        assert_eq!(e.minutes, (1 << 50) | (1 << 53) | (1 << 56) | (1 << 59));
        let e = CronExpr::parse("0 0 */2 * *").unwrap();
        assert_eq!(e.dom.count_ones(), 16);
        assert!(e.dom & 1 << 1 != 0 && e.dom & 1 << 31 != 0 && e.dom & 1 << 2 == 0);
        let e = CronExpr::parse("0 0 1 */3 *").unwrap();
        assert_eq!(e.months, (1 << 1) | (1 << 4) | (1 << 7) | (1 << 10));
        let e = CronExpr::parse("* * * * *").unwrap();
        assert_eq!(e.minutes, (1u64 << 60) - 1);
        assert_eq!(e.hours, (1u32 << 24) - 1);
        assert_eq!(e.dom, ((1u32 << 31) - 1) << 1);
        assert_eq!(e.months, ((1u16 << 12) - 1) << 1);
        assert_eq!(e.dow, 0x7f);
        assert!(!e.dom_restricted && !e.dow_restricted);
    }

    #[test]
    fn parse_errors_name_the_field() {
        let cases = [
            ("61 * * * *", "minute field", "61 is out of range 0-59"),
            ("* 24 * * *", "hour field", "24"),
            ("* * 0 * *", "day-of-month field", "0 is out of range 1-31"),
            ("* * 32 * *", "day-of-month field", "32"),
            ("* * * 13 *", "month field", "13"),
            ("* * * * 8", "day-of-week field", "8 is out of range 0-7"),
            ("60 * * * * *", "second field", "60"),
            ("*/0 * * * *", "minute field", "step 0"),
            ("* * * * 1-5/0", "day-of-week field", "step 0"),
            ("30-10 * * * *", "minute field", "reversed"),
            ("* * * FOO *", "month field", "FOO"),
            ("* * * * FUNDAY", "day-of-week field", "FUNDAY"),
            ("* * L * *", "day-of-month field", "not supported"),
            ("* * 15W * *", "day-of-month field", "not supported"),
            ("* * * * 5L", "day-of-week field", "not supported"),
            ("* * * * 1#2", "day-of-week field", "not supported"),
            ("1,,2 * * * *", "minute field", "empty"),
            ("a * * * *", "minute field", "not a number"),
            ("-5 * * * *", "minute field", "missing value"),
            ("5- * * * *", "minute field", "missing value"),
            ("*/x * * * *", "minute field", "step"),
            ("*/61 * * * *", "minute field", "step"),
            (
                "99999999999999999999 * * * *",
                "minute field",
                "out of range",
            ),
            ("1-2-3 * * * *", "minute field", "not a number"),
        ];
        for (expr, field, detail) in cases {
            let err = parse_err(expr);
            assert!(err.contains(field), "{expr}: {err}");
            assert!(err.contains(detail), "{expr}: {err}");
        }
        assert!(parse_err("").contains("empty"));
        assert!(parse_err(" \t ").contains("empty"));
        assert!(parse_err("* * * *").contains("5 or 6 fields"));
        assert!(parse_err("* * * * * * *").contains("5 or 6 fields"));
        assert!(parse_err(&"1,".repeat(200)).contains("too long"));
        // Names outside their field.
        assert!(parse_err("* * * * JAN").contains("day-of-week field"));
        assert!(parse_err("* * * MON *").contains("month field"));
    }

    #[test]
    fn no_panic_on_odd_input() {
        for s in [
            "/",
            "*/",
            "-",
            ",",
            "*-*",
            "*/*",
            "1/2/3 * * * *",
            "ü * * * *",
            "* * * * ü",
            "L * * * *",
            "# * * * *",
            "* * * * #",
            "@",
            "@@",
            "* * * * MON-",
            "* * * * -SUN",
        ] {
            let _ = CronExpr::parse(s);
        }
    }

    #[test]
    fn extreme_instants_return_none() {
        let e = CronExpr::parse("* * * * * *").unwrap();
        let zone = tz("Europe/Berlin");
        assert_eq!(e.next_after(&zone, i64::MAX), None);
        assert_eq!(e.next_after(&zone, i64::MAX - 1000), None);
        assert_eq!(e.next_after(&zone, i64::MIN), None);
        // Near the end of jiff's range, in zones far from UTC, the walk stops cleanly.
        let max_ms = Timestamp::MAX.as_millisecond();
        for name in ["Pacific/Kiritimati", "Etc/GMT+12", "UTC"] {
            let zone = tz(name);
            for expr in ["* * * * * *", "@yearly", "0 0 30 2 *"] {
                let ex = CronExpr::parse(expr).unwrap();
                for back in [0, 1, 1_000, 86_400_000, 400 * 86_400_000] {
                    let _ = ex.next_after(&zone, max_ms - back);
                }
                assert_eq!(ex.next_after(&zone, max_ms), None);
            }
        }
        let min_ms = Timestamp::MIN.as_millisecond();
        assert_eq!(
            e.next_after(&TimeZone::UTC, min_ms).map(|n| n > min_ms),
            Some(true)
        );
        // The last representable day: the walk runs off the calendar and stops.
        let late = utc("9999-12-30T00:00:00Z");
        let yearly = CronExpr::parse("@yearly").unwrap();
        assert_eq!(yearly.next_after(&TimeZone::UTC, late), None);
        // Negative (pre-1970) instants work.
        assert_eq!(
            next("0 0 1 1 *", "UTC", "1969-06-01T00:00:00Z").as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            e.next_after(&TimeZone::UTC, -1500).map(iso).as_deref(),
            Some("1969-12-31T23:59:59Z")
        );
    }

    #[test]
    fn resolve_tz_names() {
        assert!(resolve_tz(Some("Europe/Berlin")).is_ok());
        assert!(resolve_tz(Some("America/Los_Angeles")).is_ok());
        assert!(resolve_tz(Some("UTC")).is_ok());
        assert!(resolve_tz(Some("utc")).is_ok());
        assert!(resolve_tz(None).is_ok());
        assert!(resolve_tz(Some("")).is_ok());
        let err = resolve_tz(Some("Mars/Olympus_Mons")).unwrap_err();
        assert!(
            err.contains("Mars/Olympus_Mons") && err.contains("unknown"),
            "{err}"
        );
        assert!(resolve_tz(Some("../../etc/passwd")).is_err());
        assert!(resolve_tz(Some("Europe//Berlin")).is_err());
        assert!(
            resolve_tz(Some(&"A".repeat(65)))
                .unwrap_err()
                .contains("too long")
        );
        let berlin = tz("Europe/Berlin");
        let summer = utc("2026-07-01T12:00:00Z");
        assert_eq!(
            berlin
                .to_datetime(Timestamp::from_millisecond(summer).unwrap())
                .hour(),
            14
        );
    }

    #[test]
    fn parse_at_forms() {
        let base = 1_769_961_600_000; // 2026-02-01T16:00:00Z
        assert_eq!(parse_at("2026-02-01T16:00:00Z"), Ok(base));
        assert_eq!(parse_at("2026-02-01T16:00:00+02:00"), Ok(base - 7_200_000));
        assert_eq!(parse_at("2026-02-01T16:00:00-05:30"), Ok(base + 19_800_000));
        assert_eq!(parse_at("2026-02-01T16:00:00.123Z"), Ok(base + 123));
        assert_eq!(parse_at("2026-02-01T16:00:00"), Ok(base));
        assert_eq!(parse_at("2026-02-01 16:00"), Ok(base));
        assert_eq!(parse_at("2026-02-01T16:00"), Ok(base));
        assert_eq!(parse_at("2026-02-01"), Ok(base - 16 * 3_600_000));
        assert_eq!(parse_at("  2026-02-01T16:00:00Z "), Ok(base));
        assert_eq!(parse_at("1769961600000"), Ok(base));
        assert_eq!(parse_at("0"), Ok(0));
    }

    #[test]
    fn parse_at_errors() {
        for s in [
            "",
            "   ",
            "tomorrow",
            "2026-13-01",
            "2026-02-30T10:00:00Z",
            "2026-02-01T25:00:00Z",
            "-5",
            "99999999999999999999",
            "9999999999999999",
            "2026-02-01T16:00:00[Europe/Berlin]",
            "12:00",
        ] {
            let err = parse_at(s).unwrap_err();
            assert!(err.starts_with("at:"), "{s}: {err}");
        }
        assert!(parse_at(&"1".repeat(65)).unwrap_err().contains("too long"));
    }

    #[test]
    fn duration_forms() {
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        assert_eq!(parse_duration_ms("20m"), Ok(1_200_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("2d"), Ok(172_800_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("1500"), Ok(1_500));
        assert_eq!(parse_duration_ms("1d2h3m4s5ms"), Ok(93_784_005));
        assert_eq!(parse_duration_ms("1.5h"), Ok(5_400_000));
        assert_eq!(parse_duration_ms(" 10S "), Ok(10_000));
        assert_eq!(parse_duration_ms("3650d"), Ok(3_650 * DAY_MS));
    }

    #[test]
    fn duration_errors() {
        for (s, detail) in [
            ("", "empty"),
            ("0", "greater than zero"),
            ("0s", "greater than zero"),
            ("0h0m", "greater than zero"),
            ("abc", "expected a number"),
            ("10x", "unknown unit"),
            ("1h30", "missing unit"),
            ("-5s", "expected a number"),
            ("1.s", "end with"),
            ("3660d", "10 years"),
            ("99999999999999999999", "too large"),
            ("999999999999999999999999h", "too large"),
            ("1 h", "missing unit"),
        ] {
            let err = parse_duration_ms(s).unwrap_err();
            assert!(err.contains(detail), "{s}: {err}");
        }
        assert!(
            parse_duration_ms(&"1".repeat(65))
                .unwrap_err()
                .contains("too long")
        );
    }

    /// 200 pseudo-random instants per expression and zone: the answer is later than the
    /// instant, matches, and is the answer from one millisecond before it.
    #[test]
    fn property_next_is_strictly_later_and_stable() {
        let exprs = [
            "*/15 * * * *",
            "0 9 * * 1-5",
            "30 2 * * *",
            "0 0 1 * MON",
            "*/7 */13 * * * *",
            "0 0 29 2 *",
            "15 1,2,3 * * SUN",
        ];
        let zones = [
            "UTC",
            "Europe/Berlin",
            "America/Los_Angeles",
            "Australia/Lord_Howe",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for expr in exprs {
            let e = CronExpr::parse(expr).unwrap();
            for zone_name in zones {
                let zone = tz(zone_name);
                for _ in 0..200 {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    // Between 2000-01-01 and about 2050, at millisecond resolution.
                    let t =
                        946_684_800_000 + i64::try_from((state >> 16) % 1_600_000_000_000).unwrap();
                    let n = e.next_after(&zone, t).unwrap();
                    assert!(n > t, "{expr} {zone_name} {t}");
                    assert_eq!(n % 1000, 0);
                    assert!(matches_at(&e, &zone, n), "{expr} {zone_name} {}", iso(n));
                    assert_eq!(e.next_after(&zone, n - 1), Some(n), "{expr} {zone_name}");
                }
            }
        }
    }

    /// For minute-level expressions in UTC, nothing between the instant and the answer
    /// matches (checked minute by minute).
    #[test]
    fn property_no_earlier_match_in_utc() {
        let exprs = ["*/15 * * * *", "5-10,40 */3 * * *", "0 */6 * * 1,3"];
        let mut state: u64 = 42;
        for expr in exprs {
            let e = CronExpr::parse(expr).unwrap();
            for _ in 0..50 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let t = 1_700_000_000_000 + i64::try_from((state >> 16) % 100_000_000_000).unwrap();
                let n = e.next_after(&TimeZone::UTC, t).unwrap();
                let mut m = (t.div_euclid(60_000) + 1) * 60_000;
                while m < n {
                    assert!(
                        !matches_at(&e, &TimeZone::UTC, m),
                        "{expr}: {} < {}",
                        iso(m),
                        iso(n)
                    );
                    m += 60_000;
                }
            }
        }
    }
}
