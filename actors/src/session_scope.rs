//! Which session a chat's message joins (OpenClaw's `session.dmScope`, `session.groupScope`,
//! `session.identityLinks`; `docs/concepts/session.md`).
//!
//! | `dmScope` | a direct message from peer `P` on channel `C`, account `A`, goes to |
//! | --- | --- |
//! | `main` | `agent:<id>:main`: the same conversation as WebChat, the TUI and the CLI |
//! | `per-peer` | `agent:<id>:direct:<P>` |
//! | `per-channel-peer` (default here) | `agent:<id>:<C>:direct:<P>` |
//! | `per-account-channel-peer` | `agent:<id>:<C>:<A>:direct:<P>` |
//!
//! `identityLinks` names one person's ids on several channels (`{alice: ["telegram:123",
//! "telegram:456"]}`): outside `main`, their messages use the canonical id (`alice`) as `P`.
//! `groupScope: "main"` routes group chats into the main session too (default `per-group`).
//!
//! **A stranger never joins the main session.** A direct message admitted only because DMs
//! are open to everyone (`dmPolicy: "open"` with `"*"`) keeps its own
//! `agent:<id>:<C>:direct:<P>` session whatever `dmScope` says: `main` is for the owner's
//! senders (listed by id or approved by pairing), so the owner's conversation never
//! reaches someone who merely found the bot.
//!
//! OpenClaw's default is `main`; ours stays `per-channel-peer`, what this gateway always
//! did: a gateway shared by several people never mixes their chats unless told to.
//!
//! **When a session starts over by itself** (`session.reset`, `resetByType`,
//! `resetByChannel`; OpenClaw's default: never, compaction bounds the context): `daily`
//! starts a new session at the first message after `atHour` (local time of the gateway
//! host, default 4) when the current one began before it; `idle` after `idleMinutes`
//! without a message from a person (cron and heartbeat runs do not count); `daily` with
//! `idleMinutes` does both, whichever comes first. The policy of the message's channel
//! wins over that of its chat type (`direct`, `group`, `thread`), which wins over
//! `session.reset`; an operator's run (WebChat, the TUI, `openclaw agent`) follows
//! `session.reset`. Cron runs never start a session over.

/// `session.dmScope`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DmScope {
    /// Every DM in the agent's main session.
    Main,
    /// One session per peer, across channels.
    PerPeer,
    /// One session per channel and peer.
    #[default]
    PerChannelPeer,
    /// One session per channel account and peer.
    PerAccountChannelPeer,
}

impl DmScope {
    /// Parses OpenClaw's value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "main" => Self::Main,
            "per-peer" => Self::PerPeer,
            "per-channel-peer" => Self::PerChannelPeer,
            "per-account-channel-peer" => Self::PerAccountChannelPeer,
            _ => return None,
        })
    }

    /// OpenClaw's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::PerPeer => "per-peer",
            Self::PerChannelPeer => "per-channel-peer",
            Self::PerAccountChannelPeer => "per-account-channel-peer",
        }
    }
}

/// One automatic reset policy, as resolved for a session: what [`ResetPolicy::expired`]
/// checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetPolicy {
    /// `daily`: the local hour (0-23) after which a session begun earlier starts over.
    pub daily_at_hour: Option<u8>,
    /// `idleMinutes` (with mode `daily` or `idle`): this long without a person's message.
    pub idle: Option<std::time::Duration>,
}

/// A reset `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMode {
    /// Never by itself.
    None,
    /// At `atHour`.
    Daily,
    /// After `idleMinutes`.
    Idle,
}

/// One reset block as configured (`{mode?, atHour?, idleMinutes?}`): every field is
/// optional, because OpenClaw merges a chat type's block over `session.reset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetBlock {
    /// `mode`.
    pub mode: Option<ResetMode>,
    /// `atHour` (0-23).
    pub at_hour: Option<u8>,
    /// `idleMinutes` (0: no idle reset).
    pub idle_minutes: Option<u64>,
}

/// A chat's type, for `resetByType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    /// A direct chat (and the main session, and operators' sessions).
    Direct,
    /// A group.
    Group,
    /// A forum topic or thread.
    Thread,
}

impl ChatKind {
    /// The type of the session `key`, as OpenClaw's `resolveSessionResetType` reads it.
    pub fn of_key(key: &str) -> Self {
        let k = key.to_ascii_lowercase();
        if k.contains(":topic:") || k.contains(":thread:") {
            Self::Thread
        } else if k.contains(":group:") || k.contains(":channel:") {
            Self::Group
        } else {
            Self::Direct
        }
    }
}

/// `session.reset`, `resetByType`, `resetByChannel`, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetSettings {
    /// `session.reset`.
    pub base: Option<ResetBlock>,
    /// `resetByType.direct`.
    pub direct: Option<ResetBlock>,
    /// `resetByType.group`.
    pub group: Option<ResetBlock>,
    /// `resetByType.thread`.
    pub thread: Option<ResetBlock>,
    /// `resetByChannel.<channel>` (lowercase channel ids).
    pub by_channel: Vec<(String, ResetBlock)>,
}

/// The default daily hour.
pub const DEFAULT_AT_HOUR: u8 = 4;

impl ResetSettings {
    /// The policy of a session of type `kind`, for a message on `channel` (`None`: an
    /// operator's run), resolved as OpenClaw's `resolveSessionResetPolicy`: the channel's
    /// block, if any, replaces `session.reset` and ignores `resetByType`; a type block
    /// takes its missing fields from the base block (its mode too, unless that is `none`),
    /// and a block without a mode means `daily`. `idleMinutes` applies in modes `daily`
    /// and `idle`; `none` never resets.
    pub fn policy(&self, channel: Option<&str>, kind: ChatKind) -> ResetPolicy {
        let by_channel = channel.and_then(|c| {
            self.by_channel
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(c))
                .map(|(_, b)| *b)
        });
        let base = by_channel.or(self.base);
        let typed = if by_channel.is_some() {
            None
        } else {
            match kind {
                ChatKind::Direct => self.direct,
                ChatKind::Group => self.group,
                ChatKind::Thread => self.thread,
            }
        };
        let inherited = typed
            .and(base.and_then(|b| b.mode))
            .filter(|m| *m != ResetMode::None);
        let mode = typed
            .and_then(|t| t.mode)
            .or(inherited)
            .or(typed.map(|_| ResetMode::Daily))
            .or(base.and_then(|b| b.mode))
            .or(base.map(|_| ResetMode::Daily))
            .unwrap_or(ResetMode::None);
        let at = typed
            .and_then(|t| t.at_hour)
            .or(base.and_then(|b| b.at_hour))
            .unwrap_or(DEFAULT_AT_HOUR);
        let idle = typed
            .and_then(|t| t.idle_minutes)
            .or(base.and_then(|b| b.idle_minutes))
            .filter(|m| *m > 0)
            .map(|m| std::time::Duration::from_secs(m.saturating_mul(60)));
        match mode {
            ResetMode::None => ResetPolicy::default(),
            ResetMode::Daily => ResetPolicy {
                daily_at_hour: Some(at),
                idle,
            },
            ResetMode::Idle => ResetPolicy {
                daily_at_hour: None,
                idle,
            },
        }
    }

    /// Whether any reset is configured (no work at all otherwise).
    pub fn any(&self) -> bool {
        self.base.is_some()
            || self.direct.is_some()
            || self.group.is_some()
            || self.thread.is_some()
            || !self.by_channel.is_empty()
    }
}

impl ResetPolicy {
    /// Why a session begun at `started_ms`, last spoken to at `last_ms`, starts over at
    /// `now_ms` in `tz` (`daily` or `idle`), or `None`.
    pub fn expired(
        &self,
        started_ms: u64,
        last_ms: u64,
        now_ms: u64,
        tz: &jiff::tz::TimeZone,
    ) -> Option<&'static str> {
        if let Some(idle) = self.idle
            && now_ms.saturating_sub(last_ms) > u64::try_from(idle.as_millis()).unwrap_or(u64::MAX)
        {
            return Some("idle");
        }
        let hour = self.daily_at_hour?;
        let boundary = last_boundary(now_ms, hour, tz)?;
        (started_ms < boundary).then_some("daily")
    }
}

/// The latest `hour:00` local time at or before `now_ms` (ms), in `tz`.
fn last_boundary(now_ms: u64, hour: u8, tz: &jiff::tz::TimeZone) -> Option<u64> {
    let now = jiff::Timestamp::from_millisecond(i64::try_from(now_ms).ok()?).ok()?;
    let here = tz.to_datetime(now);
    // A wall-clock hour skipped or doubled by a DST change resolves as jiff's `compatible`.
    let at = |d: jiff::civil::Date| {
        tz.to_timestamp(d.at(i8::try_from(hour).ok()?, 0, 0, 0))
            .ok()
    };
    let today = at(here.date())?;
    let t = if today <= now {
        today
    } else {
        at(here.date().yesterday().ok()?)?
    };
    u64::try_from(t.as_millisecond()).ok()
}

/// How chats map to sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRouting {
    /// `session.dmScope`.
    pub dm_scope: DmScope,
    /// `session.groupScope: "main"`.
    pub groups_in_main: bool,
    /// `session.identityLinks`: canonical id (lowercase) → `channel:peer` ids (lowercase).
    pub identity_links: Vec<(String, Vec<String>)>,
    /// When sessions start over by themselves.
    pub reset: ResetSettings,
}

/// The longest canonical id of `identityLinks`.
pub const MAX_CANONICAL_ID: usize = 64;

/// Whether `id` may be a canonical id: it becomes part of session keys.
pub fn valid_canonical_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CANONICAL_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl SessionRouting {
    /// The canonical id `identityLinks` gives `peer` on `channel`, if any: an id listed as
    /// `channel:peer`, or bare (`peer`, any channel), as OpenClaw matches them.
    pub fn linked(&self, channel: &str, peer: &str) -> Option<&str> {
        let bare = peer.to_ascii_lowercase();
        let scoped = format!("{}:{bare}", channel.to_ascii_lowercase());
        self.identity_links
            .iter()
            .find(|(_, ids)| ids.iter().any(|i| *i == scoped || *i == bare))
            .map(|(canonical, _)| canonical.as_str())
    }

    /// The session key of a direct message from `peer` on `channel` / `account` for
    /// `agent`; `public`: admitted only because DMs are open to everyone (never `main`).
    pub fn direct_key(
        &self,
        agent: &str,
        channel: &str,
        account: &str,
        peer: &str,
        public: bool,
    ) -> String {
        let scope = match self.dm_scope {
            DmScope::Main if public => DmScope::PerChannelPeer,
            s => s,
        };
        if scope == DmScope::Main {
            return format!("agent:{agent}:main");
        }
        let peer = self.linked(channel, peer).unwrap_or(peer);
        match scope {
            DmScope::PerPeer => format!("agent:{agent}:direct:{peer}"),
            DmScope::PerAccountChannelPeer => {
                format!("agent:{agent}:{channel}:{account}:direct:{peer}")
            }
            _ => format!("agent:{agent}:{channel}:direct:{peer}"),
        }
    }
}

/// A session key in OpenClaw's current form: a DM key in this gateway's earlier form
/// (`agent:<id>[:<channel>[:<account>]]:direct:<peer>`, written before 2026-12-05) becomes
/// OpenClaw's `…:direct:<peer>`; any other key is returned as it is. Applied to every key a
/// client sends and to the session index as it is read, so earlier sessions go on and
/// earlier references (a cron job's `session:<key>`, a CLI command) still find them.
pub fn canonical_key(key: &str) -> std::borrow::Cow<'_, str> {
    // Every key a client sends passes here: no allocation unless there is a `:dm:`.
    if !key.starts_with("agent:") || !key.contains(":dm:") {
        return key.into();
    }
    let parts: Vec<&str> = key.split(':').collect();
    let n = parts.len();
    if n >= 4 && (2..=4).contains(&(n - 2)) && parts[n - 2] == "dm" {
        let mut out: Vec<&str> = parts;
        out[n - 2] = "direct";
        return out.join(":").into();
    }
    key.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_dm_keys_read_as_openclaws_direct_keys() {
        for (old, new) in [
            ("agent:main:telegram:dm:42", "agent:main:telegram:direct:42"),
            ("agent:main:dm:alice", "agent:main:direct:alice"),
            (
                "agent:work:telegram:acct:dm:7",
                "agent:work:telegram:acct:direct:7",
            ),
        ] {
            assert_eq!(canonical_key(old), new);
            assert_eq!(canonical_key(new), new, "idempotent");
        }
        for same in [
            "agent:main:main",
            "agent:main:telegram:group:-100",
            "agent:main:telegram:group:-100:topic:dm",
            "agent:main:a:b:c:dm:x",
            "agent:main:dm",
            "dm:42",
            "telegram:dm:42",
            "",
        ] {
            assert!(
                matches!(canonical_key(same), std::borrow::Cow::Borrowed(k) if k == same),
                "{same}"
            );
        }
    }

    #[test]
    fn each_scope_gives_its_key_and_strangers_never_join_main() {
        let mut r = SessionRouting::default();
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", false),
            "agent:main:telegram:direct:42"
        );
        r.dm_scope = DmScope::Main;
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", false),
            "agent:main:main"
        );
        assert_eq!(
            r.direct_key("work", "telegram", "default", "42", false),
            "agent:work:main"
        );
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", true),
            "agent:main:telegram:direct:42",
            "an open-DM stranger keeps a session of its own"
        );
        r.dm_scope = DmScope::PerPeer;
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", false),
            "agent:main:direct:42"
        );
        r.dm_scope = DmScope::PerAccountChannelPeer;
        assert_eq!(
            r.direct_key("main", "telegram", "work", "42", false),
            "agent:main:telegram:work:direct:42"
        );
        for s in [
            "main",
            "per-peer",
            "per-channel-peer",
            "per-account-channel-peer",
        ] {
            assert_eq!(DmScope::parse(s).map(DmScope::as_str), Some(s));
        }
        assert_eq!(DmScope::parse("dm"), None);
    }

    #[test]
    fn daily_and_idle_resets_expire_sessions() {
        let utc = jiff::tz::TimeZone::UTC;
        let ms = |s: &str| {
            u64::try_from(
                s.parse::<jiff::Timestamp>()
                    .expect("timestamp")
                    .as_millisecond(),
            )
            .expect("positive")
        };
        let daily = ResetPolicy {
            daily_at_hour: Some(4),
            idle: None,
        };
        let now = ms("2026-12-05T10:00:00Z");
        // Begun yesterday evening: past today's 04:00, starts over.
        assert_eq!(
            daily.expired(ms("2026-12-04T20:00:00Z"), now, now, &utc),
            Some("daily")
        );
        // Begun at 05:00 today: fresh.
        assert_eq!(
            daily.expired(ms("2026-12-05T05:00:00Z"), now, now, &utc),
            None
        );
        // At 03:00, the boundary is yesterday's 04:00.
        let early = ms("2026-12-05T03:00:00Z");
        assert_eq!(
            daily.expired(ms("2026-12-04T20:00:00Z"), early, early, &utc),
            None
        );
        assert_eq!(
            daily.expired(ms("2026-12-04T03:00:00Z"), early, early, &utc),
            Some("daily")
        );
        // In another zone the hour is local: 04:00 in Tokyo is 19:00 UTC the day before.
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").expect("tzdb");
        assert_eq!(
            daily.expired(ms("2026-12-04T18:00:00Z"), now, now, &tokyo),
            Some("daily")
        );
        assert_eq!(
            daily.expired(ms("2026-12-04T20:00:00Z"), now, now, &tokyo),
            None
        );
        let idle = ResetPolicy {
            daily_at_hour: None,
            idle: Some(std::time::Duration::from_secs(3600)),
        };
        assert_eq!(idle.expired(0, now - 3_600_001, now, &utc), Some("idle"));
        assert_eq!(idle.expired(0, now - 3_500_000, now, &utc), None);
        let both = ResetPolicy {
            daily_at_hour: Some(4),
            idle: Some(std::time::Duration::from_secs(3600)),
        };
        assert_eq!(
            both.expired(ms("2026-12-05T05:00:00Z"), now - 7_200_000, now, &utc),
            Some("idle")
        );
        assert_eq!(ResetPolicy::default().expired(0, 0, now, &utc), None);
    }

    #[test]
    fn reset_blocks_merge_as_openclaws_resolve_session_reset_policy() {
        use ChatKind::{Direct, Group, Thread};
        use ResetMode::{Daily, Idle};
        let block = |mode: Option<ResetMode>, at: Option<u8>, idle: Option<u64>| ResetBlock {
            mode,
            at_hour: at,
            idle_minutes: idle,
        };
        let min = |m: u64| Some(std::time::Duration::from_secs(m * 60));
        // Nothing configured: never.
        assert_eq!(
            ResetSettings::default().policy(None, Direct),
            ResetPolicy::default()
        );
        assert!(!ResetSettings::default().any());
        // A base block without a mode is daily at 04:00.
        let s = ResetSettings {
            base: Some(block(None, None, Some(60))),
            ..ResetSettings::default()
        };
        assert_eq!(
            s.policy(None, Direct),
            ResetPolicy {
                daily_at_hour: Some(4),
                idle: min(60)
            }
        );
        // A type block inherits the base mode and fields it lacks.
        let s = ResetSettings {
            base: Some(block(Some(Idle), Some(6), Some(30))),
            group: Some(block(None, None, Some(120))),
            thread: Some(block(Some(Daily), None, None)),
            direct: Some(block(Some(Idle), None, None)),
            ..ResetSettings::default()
        };
        assert_eq!(
            s.policy(Some("telegram"), Group),
            ResetPolicy {
                daily_at_hour: None,
                idle: min(120)
            }
        );
        assert_eq!(
            s.policy(Some("telegram"), Thread),
            ResetPolicy {
                daily_at_hour: Some(6),
                idle: min(30)
            }
        );
        assert_eq!(
            s.policy(None, Direct),
            ResetPolicy {
                daily_at_hour: None,
                idle: min(30)
            }
        );
        // A base "none" is not inherited: a type block without a mode is daily.
        let s = ResetSettings {
            base: Some(block(Some(ResetMode::None), None, None)),
            group: Some(block(None, Some(2), None)),
            ..ResetSettings::default()
        };
        assert_eq!(
            s.policy(None, Group),
            ResetPolicy {
                daily_at_hour: Some(2),
                idle: None
            }
        );
        assert_eq!(s.policy(None, Direct), ResetPolicy::default());
        // Mode idle without minutes does nothing; the channel's block wins outright.
        let s = ResetSettings {
            base: Some(block(Some(Idle), None, None)),
            direct: Some(block(Some(Daily), None, None)),
            by_channel: vec![("telegram".to_owned(), block(Some(Idle), None, Some(10)))],
            ..ResetSettings::default()
        };
        assert_eq!(s.policy(None, Group), ResetPolicy::default());
        assert_eq!(
            s.policy(Some("Telegram"), Direct),
            ResetPolicy {
                daily_at_hour: None,
                idle: min(10)
            }
        );
        assert_eq!(
            s.policy(None, Direct),
            ResetPolicy {
                daily_at_hour: Some(4),
                idle: None
            }
        );
        assert_eq!(
            ChatKind::of_key("agent:main:telegram:group:-1:topic:7"),
            Thread
        );
        assert_eq!(ChatKind::of_key("agent:main:telegram:group:-1"), Group);
        assert_eq!(ChatKind::of_key("agent:main:main"), Direct);
    }

    #[test]
    fn identity_links_join_one_persons_ids_outside_main() {
        let r = SessionRouting {
            dm_scope: DmScope::PerPeer,
            groups_in_main: false,
            reset: ResetSettings::default(),
            identity_links: vec![(
                "alice".to_owned(),
                vec!["telegram:42".to_owned(), "telegram:77".to_owned()],
            )],
        };
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", false),
            "agent:main:direct:alice"
        );
        assert_eq!(
            r.direct_key("main", "Telegram", "default", "77", false),
            "agent:main:direct:alice"
        );
        assert_eq!(
            r.direct_key("main", "telegram", "default", "78", false),
            "agent:main:direct:78"
        );
        let bare = SessionRouting {
            identity_links: vec![("bob".to_owned(), vec!["99".to_owned()])],
            ..r.clone()
        };
        assert_eq!(
            bare.direct_key("main", "telegram", "default", "99", false),
            "agent:main:direct:bob",
            "a bare id matches on any channel"
        );
        assert!(
            valid_canonical_id("alice-1.x")
                && !valid_canonical_id("a:b")
                && !valid_canonical_id("")
        );
        assert!(!valid_canonical_id(&"a".repeat(65)));
    }
}
