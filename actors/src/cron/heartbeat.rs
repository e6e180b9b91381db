//! The heartbeat (OpenClaw's `agents.defaults.heartbeat`): a periodic agent turn in the main
//! session, so the agent can bring up what needs attention. The [`super::CronService`] owns
//! its timer; this module holds the settings, the quiet-hours check and the `HEARTBEAT_OK`
//! acknowledgement rule.
//!
//! The gateway puts the workspace's `HEARTBEAT.md` (when it exists, at most
//! [`MAX_CHECKLIST_BYTES`]) into the heartbeat's prompt. A checklist that holds nothing but headings and blank lines skips the run
//! (no model call), as in OpenClaw.

use std::time::Duration;

use serde_json::{Value, json};

use super::expr;

/// OpenClaw's default heartbeat prompt.
pub const DEFAULT_PROMPT: &str = "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. \
Do not infer or repeat old tasks from prior chats. If nothing needs attention, reply HEARTBEAT_OK.";
/// The acknowledgement token.
pub const ACK_TOKEN: &str = "HEARTBEAT_OK";
/// Default `ackMaxChars`: an answer that is the token plus at most this much is not sent.
pub const DEFAULT_ACK_MAX_CHARS: usize = 300;
/// The checklist file, relative to the state directory.
pub const CHECKLIST: &str = "workspace/HEARTBEAT.md";
/// Longest checklist put into the prompt.
pub const MAX_CHECKLIST_BYTES: usize = 16 * 1024;

/// Where a heartbeat's answer goes (`target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatTarget {
    /// Nowhere: it stays in the main session (OpenClaw's default).
    None,
    /// The chat written from last.
    Last,
    /// A channel target (`target: "telegram"`, `to`, `accountId`).
    Chat {
        /// Channel id.
        channel: String,
        /// Target on it.
        to: String,
        /// Account.
        account_id: Option<String>,
    },
}

/// `activeHours`: heartbeats run only between `start` and `end` (minutes after midnight;
/// `end` may be 1440, and `end < start` wraps past midnight) in `timezone` (default: the
/// host's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveHours {
    /// From (minutes after midnight).
    pub start: u16,
    /// Until (minutes after midnight, exclusive).
    pub end: u16,
    /// IANA zone.
    pub timezone: Option<String>,
}

impl ActiveHours {
    /// Parses `HH:MM` times (`24:00` allowed as the end) and checks the zone.
    pub fn parse(start: &str, end: &str, timezone: Option<&str>) -> Result<Self, String> {
        let hm = |s: &str, what: &str, allow_24: bool| -> Result<u16, String> {
            let bad = || format!("activeHours.{what} must be HH:MM (got {s:?})");
            let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
            let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)) {
                return Err(bad());
            }
            Ok(h * 60 + m)
        };
        let start = hm(start, "start", false)?;
        let end = hm(end, "end", true)?;
        if start == end {
            return Err(
                "activeHours.start and end are equal: the heartbeat would never run".into(),
            );
        }
        expr::resolve_tz(timezone).map_err(|e| format!("activeHours.timezone: {e}"))?;
        Ok(Self {
            start,
            end,
            timezone: timezone.map(str::to_owned),
        })
    }

    /// Whether `now_ms` falls inside.
    pub fn contains(&self, now_ms: u64) -> bool {
        let zone = expr::resolve_tz(self.timezone.as_deref()).unwrap_or(jiff::tz::TimeZone::UTC);
        let Ok(ts) = jiff::Timestamp::from_millisecond(i64::try_from(now_ms).unwrap_or(i64::MAX))
        else {
            return true;
        };
        let t = ts.to_zoned_datetime(zone).time();
        let minute =
            u16::try_from(t.hour()).unwrap_or(0) * 60 + u16::try_from(t.minute()).unwrap_or(0);
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

/// The heartbeat's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatSettings {
    /// How often (none: off).
    pub every: Option<Duration>,
    /// The prompt (the user message of each heartbeat).
    pub prompt: String,
    /// Where the answer goes.
    pub target: HeartbeatTarget,
    /// When it may run.
    pub active_hours: Option<ActiveHours>,
    /// Longest text beside `HEARTBEAT_OK` that still counts as "nothing to report".
    pub ack_max_chars: usize,
    /// The checklist (`<workspace>/HEARTBEAT.md`; `None`: [`CHECKLIST`] under the state
    /// directory, the default workspace).
    pub checklist: Option<std::path::PathBuf>,
    /// The agent it runs as (`None`: the default agent).
    pub agent: Option<String>,
    /// `model`: the beats' model (`provider/model` or an alias; `None`: the session's).
    pub model: Option<String>,
    /// `session`: the conversation the beats belong to (`None`: the agent's main session).
    pub session: Option<String>,
    /// `isolatedSession`: each beat runs without history, in `<session>:heartbeat`, so the
    /// conversation's context is neither sent nor grown by the beats.
    pub isolated: bool,
    /// `lightContext`: the beats' prompt carries none of the workspace's bootstrap files
    /// (`AGENTS.md`, `SOUL.md`, …); the checklist is in the beat's message either way.
    pub light_context: bool,
}

impl HeartbeatSettings {
    /// What `health` reports of these settings; `running`: the scheduler runs heartbeats
    /// (cron enabled, not paused by `set-heartbeats`).
    pub fn view(&self, running: bool) -> crate::protocol::health::HeartbeatView {
        crate::protocol::health::HeartbeatView {
            agent: self.agent.clone(),
            every_ms: self
                .every
                .filter(|_| running)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            prompt: self.prompt.clone(),
            target: match &self.target {
                HeartbeatTarget::None => "none".to_owned(),
                HeartbeatTarget::Last => "last".to_owned(),
                HeartbeatTarget::Chat { channel, .. } => channel.clone(),
            },
            ack_max_chars: self.ack_max_chars,
        }
    }
}

impl Default for HeartbeatSettings {
    fn default() -> Self {
        Self {
            every: None,
            prompt: DEFAULT_PROMPT.to_owned(),
            target: HeartbeatTarget::None,
            active_hours: None,
            ack_max_chars: DEFAULT_ACK_MAX_CHARS,
            checklist: None,
            agent: None,
            model: None,
            session: None,
            isolated: false,
            light_context: false,
        }
    }
}

/// Whether `answer` only acknowledges: it starts or ends with `HEARTBEAT_OK` (any case, in
/// markdown emphasis too) and what is left is at most `max_chars` characters.
pub fn is_ack(answer: &str, max_chars: usize) -> bool {
    let t = answer
        .trim()
        .trim_matches(|c: char| matches!(c, '*' | '_' | '`' | '.' | '!'));
    let t = t.trim();
    let upper = t.to_ascii_uppercase();
    let rest = if upper.starts_with(ACK_TOKEN) {
        t.get(ACK_TOKEN.len()..)
    } else if upper.ends_with(ACK_TOKEN) {
        t.get(..t.len() - ACK_TOKEN.len())
    } else {
        return false;
    };
    rest.map(|r| r.trim().chars().count() <= max_chars)
        .unwrap_or(false)
}

/// Whether a checklist holds anything to do (a line that is not blank and not a heading).
pub fn checklist_has_tasks(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#')
    })
}

/// The prompt of one heartbeat: the configured prompt, then the checklist when there is one.
pub fn prompt_with(prompt: &str, checklist: Option<&str>) -> String {
    match checklist {
        Some(c) => format!("{prompt}\n\nHEARTBEAT.md:\n{c}"),
        None => prompt.to_owned(),
    }
}

/// A `heartbeat` event / `last-heartbeat` answer (OpenClaw's shape).
pub fn event(status: &str, reason: Option<&str>, preview: Option<&str>, duration_ms: u64) -> Value {
    let mut v = json!({"ts": crate::util::now_ms(), "status": status, "durationMs": duration_ms});
    if let Some(r) = reason {
        v["reason"] = Value::from(r);
    }
    if let Some(p) = preview {
        v["preview"] = Value::from(p.chars().take(200).collect::<String>());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_are_recognized() {
        for ok in [
            "HEARTBEAT_OK",
            "heartbeat_ok",
            "**HEARTBEAT_OK**",
            "HEARTBEAT_OK. All quiet.",
            "Nothing new. HEARTBEAT_OK",
        ] {
            assert!(is_ack(ok, 300), "{ok}");
        }
        for not in [
            "",
            "Your disk is 91% full.",
            "HEARTBEAT_OK is what I would say, but the backup failed",
        ] {
            assert!(!is_ack(not, 20), "{not}");
        }
        assert!(!is_ack(&format!("HEARTBEAT_OK {}", "x".repeat(301)), 300));
        assert!(is_ack("HEARTBEAT_OK ünïcödé ✓", 300));
    }

    #[test]
    fn active_hours_wrap_midnight_and_refuse_nonsense() {
        let day = ActiveHours::parse("08:00", "22:00", Some("UTC")).expect("valid");
        let at = |h: u64, m: u64| 1_780_012_800_000 + (h * 60 + m) * 60_000; // a UTC midnight
        assert!(day.contains(at(8, 0)));
        assert!(day.contains(at(21, 59)));
        assert!(!day.contains(at(22, 0)));
        assert!(!day.contains(at(3, 0)));
        let night = ActiveHours::parse("22:00", "06:00", Some("UTC")).expect("valid");
        assert!(night.contains(at(23, 0)) && night.contains(at(5, 59)));
        assert!(!night.contains(at(12, 0)));
        let all = ActiveHours::parse("00:00", "24:00", None).expect("valid");
        assert!(all.contains(at(23, 59)));
        for (s, e, tz) in [
            ("8", "22:00", None),
            ("08:00", "24:01", None),
            ("24:00", "08:00", None),
            ("08:60", "09:00", None),
            ("08:00", "08:00", None),
            ("08:00", "22:00", Some("Mars/Base")),
        ] {
            assert!(ActiveHours::parse(s, e, tz).is_err(), "{s} {e} {tz:?}");
        }
    }

    #[test]
    fn checklists_and_prompts() {
        assert!(!checklist_has_tasks("# Heartbeat\n\n## Later\n  \n"));
        assert!(checklist_has_tasks("# Heartbeat\n- check the backup"));
        let p = prompt_with(DEFAULT_PROMPT, Some("- check the backup"));
        assert!(p.starts_with(DEFAULT_PROMPT) && p.ends_with("HEARTBEAT.md:\n- check the backup"));
        assert_eq!(prompt_with("x", None), "x");
    }
}
