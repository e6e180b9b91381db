//! `session.*` (OpenClaw's `session` block): `session.maintenance`, what keeps the
//! sessions directory within its disk on a gateway that runs for months (see
//! `openclaw_actors::registry::maintenance`).
//!
//! | key | default | |
//! | --- | --- | --- |
//! | `mode` | `"enforce"` | or `"warn"`: plan and log, change nothing |
//! | `pruneAfter` | `"30d"` | sessions untouched this long leave the index (`false`/`0`: never) |
//! | `maxEntries` | `5000` | index entries per agent; the oldest beyond it are archived |
//! | `maxDiskBytes` | `"10gb"` | per-agent sessions directory budget (`false`/`0`: none) |
//! | `highWaterBytes` | 80 % of `maxDiskBytes` | what cleanup brings it down to |
//! | `resetArchiveRetention` | keep | archives older than this are deleted |
//!
//! Durations are `"30d"`, `"12h"`, `"90m"`, … or milliseconds; sizes are `"10gb"`,
//! `"500mb"`, `"512kb"`, … (binary units, as OpenClaw's) or bytes.

use std::time::Duration;

use openclaw_actors::registry::maintenance::MaintenanceSettings;
use openclaw_actors::session_scope::{
    DmScope, MAX_CANONICAL_ID, ResetBlock, ResetMode, SessionRouting, valid_canonical_id,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `session`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCfg {
    /// `session.maintenance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<MaintenanceCfg>,
    /// `session.dmScope`: `main`, `per-peer`, `per-channel-peer` (ours by default),
    /// `per-account-channel-peer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_scope: Option<String>,
    /// `session.groupScope`: `per-group` (default) or `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_scope: Option<String>,
    /// `session.identityLinks`: canonical id → `channel:peer` ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_links: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// `session.reset`: when sessions start over by themselves (default: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<ResetCfg>,
    /// `session.resetByType.{direct,group,thread}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_by_type: Option<std::collections::BTreeMap<String, ResetCfg>>,
    /// `session.resetByChannel.<channel>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_by_channel: Option<std::collections::BTreeMap<String, ResetCfg>>,
}

/// A reset policy: `{mode: "none" | "daily" | "idle", atHour?, idleMinutes?}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetCfg {
    /// `none`, `daily` or `idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The local hour of a daily reset (0-23, default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hour: Option<Value>,
    /// Minutes without a person's message before an idle reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<Value>,
}

impl ResetCfg {
    /// The block as configured, each field checked (OpenClaw merges blocks field by
    /// field: see `openclaw_actors::session_scope::ResetSettings::policy`).
    fn block(&self, at: &str) -> Result<ResetBlock, String> {
        let mode = match self.mode.as_deref() {
            None => None,
            Some("none") => Some(ResetMode::None),
            Some("daily") => Some(ResetMode::Daily),
            Some("idle") => Some(ResetMode::Idle),
            Some(other) => {
                return Err(format!(
                    "{at}.mode: {other:?} is not a reset mode. Fix: use \"daily\" (with atHour), \"idle\" (with idleMinutes) or \"none\""
                ));
            }
        };
        let at_hour = match &self.at_hour {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|h| *h <= 23)
                    .and_then(|h| u8::try_from(h).ok())
                    .ok_or_else(|| {
                        format!("{at}.atHour: {v} is not an hour. Fix: use a whole number from 0 to 23 (local time of the gateway host)")
                    })?,
            ),
        };
        let idle_minutes = match &self.idle_minutes {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|m| *m <= 10 * 365 * 24 * 60)
                    .ok_or_else(|| {
                        format!("{at}.idleMinutes: {v} is not a number of minutes. Fix: use a whole number, e.g. 240 (0: no idle reset)")
                    })?,
            ),
        };
        Ok(ResetBlock {
            mode,
            at_hour,
            idle_minutes,
        })
    }
}

/// `session.maintenance`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceCfg {
    /// `"enforce"` or `"warn"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// A duration, or `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_after: Option<Value>,
    /// A count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_entries: Option<Value>,
    /// A size, or `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_disk_bytes: Option<Value>,
    /// A size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water_bytes: Option<Value>,
    /// A duration, or `false` (keep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_archive_retention: Option<Value>,
}

const AT: &str = "session.maintenance";

/// `false`, `0` and `"0"` turn a limit off.
fn off(v: &Value) -> bool {
    matches!(v, Value::Bool(false)) || v.as_u64() == Some(0) || v.as_str() == Some("0")
}

fn duration(v: &Value) -> Result<Option<Duration>, String> {
    if off(v) {
        return Ok(None);
    }
    let ms = match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| String::from("not a whole number"))?,
        Value::String(s) => openclaw_actors::cron::expr::parse_duration_ms(s)?,
        _ => return Err("not a duration".to_owned()),
    };
    Ok(Some(Duration::from_millis(ms)))
}

/// A byte size: bytes, or a number with `b`, `kb`/`k`, `mb`/`m`, `gb`/`g`, `tb`/`t`
/// (binary units, any case), OpenClaw's `parseByteSize`.
pub fn parse_byte_size(raw: &str) -> Result<u64, String> {
    let t = raw.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        _ => return Err(format!("unknown unit {unit:?}")),
    };
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1
    {
        return Err("expected a number".to_owned());
    }
    let value: f64 = num.parse().map_err(|_| "expected a number".to_owned())?;
    #[allow(clippy::cast_precision_loss)]
    let bytes = (value * multiplier as f64).round();
    // 2^53: JavaScript's safe integers, as OpenClaw checks.
    if !bytes.is_finite() || bytes > 9_007_199_254_740_991.0 {
        return Err("too large".to_owned());
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

fn size(v: &Value) -> Result<Option<u64>, String> {
    if off(v) {
        return Ok(None);
    }
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| "not a whole number of bytes".to_owned()),
        Value::String(s) => parse_byte_size(s).map(Some),
        _ => Err("not a size".to_owned()),
    }
}

impl SessionCfg {
    /// How chats map to sessions, or a message naming the key and the fix.
    pub fn routing(&self) -> Result<SessionRouting, String> {
        let mut out = SessionRouting::default();
        if let Some(s) = &self.dm_scope {
            out.dm_scope = DmScope::parse(s).ok_or_else(|| {
                format!(
                    "session.dmScope: {s:?} is not a scope. Fix: use \"main\" (every DM in the main session), \"per-peer\", \"per-channel-peer\" or \"per-account-channel-peer\""
                )
            })?;
        }
        match self.group_scope.as_deref() {
            None | Some("per-group") => {}
            Some("main") => out.groups_in_main = true,
            Some(other) => {
                return Err(format!(
                    "session.groupScope: {other:?} is not a scope. Fix: use \"per-group\" or \"main\""
                ));
            }
        }
        for (canonical, ids) in self.identity_links.iter().flatten() {
            let c = canonical.trim().to_ascii_lowercase();
            if !valid_canonical_id(&c) {
                return Err(format!(
                    "session.identityLinks: {canonical:?} is not a usable id (it becomes part of session keys). Fix: use 1-{MAX_CANONICAL_ID} letters, digits, '_', '-' or '.'"
                ));
            }
            let mut links = Vec::with_capacity(ids.len());
            for id in ids {
                // `telegram:123`, or a bare `123` (any channel), as OpenClaw matches them.
                let lower = id.trim().to_ascii_lowercase();
                let usable = match lower.split_once(':') {
                    Some((ch, peer)) => !ch.is_empty() && !peer.is_empty(),
                    None => !lower.is_empty(),
                };
                if !usable {
                    return Err(format!(
                        "session.identityLinks.{canonical}: {id:?} is not a user id. Fix: write it as \"telegram:<user id>\""
                    ));
                }
                links.push(lower);
            }
            if let Some((other, _)) = out
                .identity_links
                .iter()
                .find(|(_, l)| l.iter().any(|x| links.contains(x)))
            {
                return Err(format!(
                    "session.identityLinks: {canonical:?} and {other:?} list the same id. Fix: give each id to one person"
                ));
            }
            out.identity_links.push((c, links));
        }
        if let Some(r) = &self.reset {
            out.reset.base = Some(r.block("session.reset")?);
        }
        for (kind, r) in self.reset_by_type.iter().flatten() {
            let at = format!("session.resetByType.{kind}");
            let p = Some(r.block(&at)?);
            match kind.as_str() {
                "direct" => out.reset.direct = p,
                "group" => out.reset.group = p,
                "thread" => out.reset.thread = p,
                "dm" => {
                    return Err(format!(
                        "{at}: \"dm\" is OpenClaw's retired name. Fix: rename it \"direct\""
                    ));
                }
                _ => {
                    return Err(format!(
                        "{at}: not a chat type. Fix: use \"direct\", \"group\" or \"thread\""
                    ));
                }
            }
        }
        for (channel, r) in self.reset_by_channel.iter().flatten() {
            let p = r.block(&format!("session.resetByChannel.{channel}"))?;
            out.reset.by_channel.push((channel.to_ascii_lowercase(), p));
        }
        Ok(out)
    }

    /// The maintenance settings, or a message naming the key and the fix.
    pub fn maintenance_settings(&self) -> Result<MaintenanceSettings, String> {
        let mut out = MaintenanceSettings::default();
        let Some(m) = &self.maintenance else {
            return Ok(out);
        };
        let bad = |key: &str, v: &Value, why: String, example: &str| {
            format!("{AT}.{key}: {v} is invalid ({why}). Fix: use {example}")
        };
        match m.mode.as_deref() {
            None | Some("enforce") => {}
            Some("warn") => out.enforce = false,
            Some(other) => {
                return Err(format!(
                    "{AT}.mode: {other:?} is not a mode. Fix: use \"enforce\" (apply) or \"warn\" (only report)"
                ));
            }
        }
        if let Some(v) = &m.prune_after {
            out.prune_after = duration(v)
                .map_err(|e| bad("pruneAfter", v, e, "a duration such as \"30d\" or false"))?;
        }
        if let Some(v) = &m.reset_archive_retention {
            out.archive_retention = duration(v).map_err(|e| {
                bad(
                    "resetArchiveRetention",
                    v,
                    e,
                    "a duration such as \"90d\", or false to keep archives (up to the disk budget)",
                )
            })?;
        }
        if let Some(v) = &m.max_entries {
            out.max_entries = v
                .as_u64()
                .filter(|n| *n >= 1)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    bad(
                        "maxEntries",
                        v,
                        "not a whole number of at least 1".to_owned(),
                        "a count such as 5000",
                    )
                })?;
        }
        if let Some(v) = &m.max_disk_bytes {
            out.max_disk_bytes = size(v)
                .map_err(|e| bad("maxDiskBytes", v, e, "a size such as \"10gb\" or false"))?;
        }
        let budget = out.max_disk_bytes.unwrap_or(0);
        out.high_water_bytes = budget / 10 * 8;
        if let Some(v) = &m.high_water_bytes {
            match size(v).map_err(|e| bad("highWaterBytes", v, e, "a size such as \"8gb\""))? {
                None => {}
                Some(h) if out.max_disk_bytes.is_some() && h > budget => {
                    return Err(format!(
                        "{AT}.highWaterBytes ({h} bytes) is above maxDiskBytes ({budget} bytes). Fix: make it smaller than the budget (default: 80 % of it)"
                    ));
                }
                Some(h) => out.high_water_bytes = h,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings(v: Value) -> Result<MaintenanceSettings, String> {
        let cfg: SessionCfg = serde_json::from_value(json!({"maintenance": v})).expect("shape");
        cfg.maintenance_settings()
    }

    #[test]
    fn defaults_are_openclaws() {
        let s = SessionCfg::default()
            .maintenance_settings()
            .expect("defaults");
        assert_eq!(s, MaintenanceSettings::default());
        assert!(s.enforce);
        assert_eq!(s.prune_after, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(s.max_entries, 5000);
        assert_eq!(s.max_disk_bytes, Some(10 << 30));
        assert_eq!(s.high_water_bytes, (10u64 << 30) / 10 * 8);
        assert_eq!(s.archive_retention, None);
    }

    #[test]
    fn values_parse_and_turn_off() {
        let s = settings(json!({"mode": "warn", "pruneAfter": "7d", "maxEntries": 10,
            "maxDiskBytes": "1.5gb", "resetArchiveRetention": "90d"}))
        .expect("valid");
        assert!(!s.enforce);
        assert_eq!(s.prune_after, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(s.max_entries, 10);
        assert_eq!(s.max_disk_bytes, Some(1_610_612_736));
        assert_eq!(s.high_water_bytes, 1_610_612_736 / 10 * 8);
        assert_eq!(s.archive_retention, Some(Duration::from_secs(90 * 86_400)));
        let s = settings(json!({"pruneAfter": false, "maxDiskBytes": 0, "highWaterBytes": "0"}))
            .expect("off");
        assert_eq!((s.prune_after, s.max_disk_bytes), (None, None));
        let s = settings(
            json!({"pruneAfter": 60000, "maxDiskBytes": "100mb", "highWaterBytes": "50MB"}),
        )
        .expect("numbers");
        assert_eq!(s.prune_after, Some(Duration::from_secs(60)));
        assert_eq!(s.high_water_bytes, 50 << 20);
        for (raw, want) in [
            ("512kb", 524_288),
            ("10", 10),
            ("2K", 2048),
            ("1t", 1 << 40),
        ] {
            assert_eq!(parse_byte_size(raw), Ok(want), "{raw}");
        }
        for raw in [
            "",
            "gb",
            "1.2.3mb",
            "5pb",
            "-1mb",
            ".5gb",
            "1e9",
            "99999999999tb",
        ] {
            assert!(parse_byte_size(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn routing_parses_and_refuses_with_the_fix() {
        let cfg: SessionCfg = serde_json::from_value(json!({"dmScope": "main",
            "groupScope": "main", "identityLinks": {"Alice": ["Telegram:42", "telegram:77"]}}))
        .expect("shape");
        let r = cfg.routing().expect("valid");
        assert_eq!(r.dm_scope, DmScope::Main);
        assert!(r.groups_in_main);
        assert_eq!(
            r.identity_links,
            vec![(
                "alice".to_owned(),
                vec!["telegram:42".to_owned(), "telegram:77".to_owned()]
            )]
        );
        assert_eq!(
            SessionCfg::default().routing(),
            Ok(SessionRouting::default())
        );
        for (v, needle) in [
            (json!({"dmScope": "dm"}), "session.dmScope"),
            (json!({"groupScope": "per-sender"}), "session.groupScope"),
            (
                json!({"identityLinks": {"a:b": ["telegram:1"]}}),
                "not a usable id",
            ),
            (json!({"identityLinks": {"a": [" "]}}), "not a user id"),
            (
                json!({"identityLinks": {"a": ["telegram:"]}}),
                "not a user id",
            ),
            (
                json!({"identityLinks": {"a": ["telegram:1"], "b": ["TELEGRAM:1"]}}),
                "list the same id",
            ),
        ] {
            let cfg: SessionCfg = serde_json::from_value(v.clone()).expect("shape");
            let e = cfg.routing().expect_err("refused");
            assert!(e.contains(needle) && e.contains("Fix:"), "{v}: {e}");
        }
    }

    #[test]
    fn reset_blocks_parse_and_refuse_with_the_fix() {
        use openclaw_actors::session_scope::{ChatKind, ResetPolicy};
        let cfg: SessionCfg = serde_json::from_value(json!({
            "reset": {"mode": "daily", "atHour": 5, "idleMinutes": 60},
            "resetByType": {"direct": {"mode": "idle", "idleMinutes": 240}, "group": {"mode": "none"}},
            "resetByChannel": {"Telegram": {"mode": "daily"}}}))
        .expect("shape");
        let r = cfg.routing().expect("valid").reset;
        assert_eq!(
            r.base,
            Some(ResetBlock {
                mode: Some(ResetMode::Daily),
                at_hour: Some(5),
                idle_minutes: Some(60)
            })
        );
        assert_eq!(r.by_channel[0].0, "telegram");
        // Resolved as OpenClaw: an operator's run (a direct type) follows resetByType.direct,
        // a Telegram message the channel's block (atHour from nowhere: 4).
        assert_eq!(
            r.policy(None, ChatKind::Direct),
            ResetPolicy {
                daily_at_hour: None,
                idle: Some(Duration::from_secs(240 * 60))
            }
        );
        assert_eq!(
            r.policy(Some("telegram"), ChatKind::Group),
            ResetPolicy {
                daily_at_hour: Some(4),
                idle: None
            }
        );
        assert_eq!(r.policy(None, ChatKind::Group), ResetPolicy::default());
        // Accepted as OpenClaw accepts them: idle without minutes (does nothing), a block
        // without a mode (daily).
        let cfg: SessionCfg = serde_json::from_value(
            json!({"reset": {"mode": "idle"}, "resetByType": {"group": {"atHour": 3}}}),
        )
        .expect("shape");
        assert!(cfg.routing().is_ok());
        for (v, needle) in [
            (json!({"reset": {"mode": "weekly"}}), "session.reset.mode"),
            (
                json!({"reset": {"mode": "daily", "atHour": 24}}),
                "session.reset.atHour",
            ),
            (
                json!({"reset": {"mode": "idle", "idleMinutes": -1}}),
                "session.reset.idleMinutes",
            ),
            (
                json!({"resetByType": {"dm": {"mode": "daily"}}}),
                "retired name",
            ),
            (
                json!({"resetByType": {"room": {"mode": "daily"}}}),
                "not a chat type",
            ),
            (
                json!({"resetByChannel": {"telegram": {"mode": "idle", "idleMinutes": "x"}}}),
                "session.resetByChannel.telegram.idleMinutes",
            ),
        ] {
            let cfg: SessionCfg = serde_json::from_value(v.clone()).expect("shape");
            let e = cfg.routing().expect_err("refused");
            assert!(e.contains(needle) && e.contains("Fix:"), "{v}: {e}");
        }
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        for (v, needle) in [
            (json!({"mode": "sometimes"}), "session.maintenance.mode"),
            (
                json!({"pruneAfter": "soon"}),
                "session.maintenance.pruneAfter",
            ),
            (
                json!({"pruneAfter": true}),
                "session.maintenance.pruneAfter",
            ),
            (json!({"maxEntries": 0}), "session.maintenance.maxEntries"),
            (json!({"maxEntries": -5}), "session.maintenance.maxEntries"),
            (
                json!({"maxDiskBytes": "lots"}),
                "session.maintenance.maxDiskBytes",
            ),
            (
                json!({"maxDiskBytes": "1gb", "highWaterBytes": "2gb"}),
                "above maxDiskBytes",
            ),
            (
                json!({"resetArchiveRetention": [1]}),
                "session.maintenance.resetArchiveRetention",
            ),
        ] {
            let e = settings(v.clone()).expect_err("refused");
            assert!(e.contains(needle) && e.contains("Fix:"), "{v}: {e}");
        }
    }
}
