//! The model's tool arguments, as the file tools ([`super::tools`]) and the memory tools
//! ([`super::memory`]) read them: a bounded JSON object, aliases (`file_path` for `path`),
//! `null` as absent, whole numbers given as integers, integral floats or digit strings,
//! and errors that name the argument and echo a clipped value.

use serde_json::{Map, Value};

use super::confined::{floor_char_boundary, human_limit, human_size, len_u64};

/// The arguments object.
pub(super) type Args = Map<String, Value>;

/// Parses the model's `args` (at most `max` bytes; empty means `{}`); the error shows
/// `example`.
pub(super) fn parse(args: &str, max: usize, example: &str) -> Result<Args, String> {
    if args.len() > max {
        return Err(format!(
            "the arguments are {}, more than the {} accepted",
            human_size(len_u64(args.len())),
            human_limit(max)
        ));
    }
    if args.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "the arguments must be a JSON object like {example}, not {}",
            kind(&other)
        )),
        Err(e) => Err(format!(
            "the arguments are not valid JSON ({e}); send a JSON object like {example}"
        )),
    }
}

/// The first of `names` present (and not null) in `m`.
pub(super) fn pick<'a>(m: &'a Args, names: &[&'static str]) -> Option<(&'static str, &'a Value)> {
    names
        .iter()
        .find_map(|n| m.get(*n).filter(|v| !v.is_null()).map(|v| (*n, v)))
}

/// What kind of JSON value `v` is, for messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// How a rejected value is echoed.
pub(super) fn shown(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("\"{}\"", clip(s, 40)),
        other => kind(other).to_owned(),
    }
}

/// An optional whole number in `min..=max` (a JSON integer, an integral float or a digit
/// string) under any of `names`; the error says what it is for (`what`).
pub(super) fn whole(
    m: &Args,
    names: &[&'static str],
    min: u64,
    max: u64,
    what: &str,
) -> Result<Option<u64>, String> {
    let Some((name, v)) = pick(m, names) else {
        return Ok(None);
    };
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => {
            let range = if max == u64::MAX {
                format!("of {min} or more")
            } else {
                format!("from {min} to {max}")
            };
            Err(format!(
                "argument \"{name}\" must be a whole number {range} ({what}), not {}",
                shown(v)
            ))
        }
    }
}

/// At most `max` bytes of `s`, cut at a char boundary (with `…` when cut).
pub(super) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    format!(
        "{}…",
        s.get(..floor_char_boundary(s, max)).unwrap_or_default()
    )
}
