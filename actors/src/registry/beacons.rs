//! `system-event`: the apps' presence beacons and the system events they queue
//! (OpenClaw's `server-methods/system.ts` and `infra/system-presence.ts`).
//!
//! The macOS app reports its host name, address, version and mode every few minutes with
//! `system-event {text: "Node: …", host, ip, version, deviceId, …}`. A beacon is merged
//! into the presence row it names — by `deviceId`, else `instanceId`, else the host or
//! address in its text — and kept [`TTL`] (five minutes) after it was last heard. A row
//! whose key is the device id or instance id of a connected node is shown merged into that
//! node's row, as OpenClaw keys node connections by device id; any other is a row of its
//! own. At most [`MAX_ENTRIES`] beacons are held; beyond that the one heard longest ago is
//! forgotten.
//!
//! Other texts are system events: queued for the next run of the main session (or
//! `sessionKey`), or, with `wake: true`, a turn of that session runs now. A `Node:` beacon
//! queues only what changed about the machine (host, address, version, mode, or a reason
//! that is not a periodic one), so the agent hears "the laptop is now on 10.0.0.7", not a
//! line every five minutes.
//!
//! Deliberately unlike OpenClaw: an event with no presence field and no `Node:` text
//! (`system-event {text: "deploy finished"}`) makes no presence row; OpenClaw lists one
//! keyed by the text's first 64 characters for five minutes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::Registry;
use super::presence::{MAX_ENTRIES, PresenceEntry};
use super::runs::EnqueueSystemEvent;
use crate::util::now_ms;

/// The longest presence field (`host`, `version`, …), in characters.
pub const MAX_FIELD_CHARS: usize = 256;

/// How long a beacon row is kept after it was last heard (OpenClaw's `TTL_MS`).
pub const TTL: Duration = Duration::from_secs(300);

/// The tag the macOS app sends to clear the input recency an older app left.
pub const CLEAR_LAST_INPUT_TAG: &str = "system-presence-clear-last-input";

/// Reasons that say nothing new about the machine (not queued as system events).
const ROUTINE_REASONS: &[&str] = &["heartbeat", "connect", "launch", "instances-refresh"];

/// One `system-event`'s presence fields (checked and bounded by the method's parser).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Beacon {
    /// `text` (non-empty).
    pub text: String,
    /// `deviceId`.
    pub device_id: Option<String>,
    /// `instanceId`.
    pub instance_id: Option<String>,
    /// `host`.
    pub host: Option<String>,
    /// `ip`.
    pub ip: Option<String>,
    /// `mode`.
    pub mode: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `platform`.
    pub platform: Option<String>,
    /// `deviceFamily`.
    pub device_family: Option<String>,
    /// `modelIdentifier`.
    pub model_identifier: Option<String>,
    /// `lastInputSeconds` (whole seconds).
    pub last_input_seconds: Option<u64>,
    /// `reason`.
    pub reason: Option<String>,
    /// `roles`.
    pub roles: Option<Vec<String>>,
    /// `scopes`.
    pub scopes: Option<Vec<String>>,
    /// `tags`.
    pub tags: Option<Vec<String>>,
}

impl Beacon {
    /// Whether this is a `Node:` presence line (never a wake, never queued verbatim).
    pub fn is_node_line(&self) -> bool {
        self.text.starts_with("Node:")
    }

    /// Whether it says anything about a machine: a `Node:` line or any presence field.
    /// Plain events (`{text}` alone) make no presence row.
    pub fn describes_presence(&self) -> bool {
        self.is_node_line()
            || [
                &self.device_id,
                &self.instance_id,
                &self.host,
                &self.ip,
                &self.mode,
                &self.version,
                &self.platform,
                &self.device_family,
                &self.model_identifier,
            ]
            .iter()
            .any(|f| f.is_some())
    }
}

/// The fields of the older apps' one-line form, `Node: <host> (<ip>) · app <version> ·
/// last input <n>s ago · mode <mode> · reason <reason>` (OpenClaw's `parsePresence`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Legacy {
    /// The host.
    pub host: Option<String>,
    /// The address.
    pub ip: Option<String>,
    /// The app version.
    pub version: Option<String>,
    /// Seconds since the last input.
    pub last_input_seconds: Option<u64>,
    /// The mode.
    pub mode: Option<String>,
    /// The reason.
    pub reason: Option<String>,
}

/// Reads the one-line form; anything else (including a line missing a part) is `None`.
pub fn parse_legacy(text: &str) -> Option<Legacy> {
    let rest = text.trim().strip_prefix("Node:")?.trim_start();
    let mut parts = rest.split('·').map(str::trim);
    let (host, ip) = parts.next()?.split_once('(')?;
    let host = host.trim();
    let ip = ip.strip_suffix(')')?.trim();
    let version = parts.next()?.strip_prefix("app")?.trim();
    let last = parts
        .next()?
        .strip_prefix("last input")?
        .trim()
        .strip_suffix("s ago")?;
    let mode = parts.next()?.strip_prefix("mode")?.trim();
    // The reason is the rest of the line, `·` included.
    let reason_start = rest.find("reason")?;
    let reason = rest.get(reason_start + "reason".len()..)?.trim();
    // The parts become presence fields: held to the same bounds as the fields a beacon
    // gives itself.
    let part = |s: &str| {
        !s.is_empty() && s.chars().count() <= MAX_FIELD_CHARS && !s.chars().any(char::is_control)
    };
    if !part(host)
        || host.contains(char::is_whitespace)
        || ![ip, version, mode, reason].into_iter().all(part)
    {
        return None;
    }
    Some(Legacy {
        host: Some(host.to_owned()),
        ip: Some(ip.to_owned()),
        version: Some(version.to_owned()),
        last_input_seconds: last.trim().parse().ok(),
        mode: Some(mode.to_owned()),
        reason: Some(reason.to_owned()),
    })
}

/// The row a beacon is kept under (OpenClaw's key order): its device id, else its
/// instance id, else the host or address of its one-line form, else its text's first 64
/// characters.
pub fn beacon_key(b: &Beacon, legacy: Option<&Legacy>) -> String {
    let lower = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase)
    };
    lower(&b.device_id)
        .or_else(|| lower(&b.instance_id))
        .or_else(|| legacy.and_then(|l| lower(&l.host)))
        .or_else(|| legacy.and_then(|l| l.ip.clone()))
        .unwrap_or_else(|| b.text.chars().take(64).collect())
}

/// What a beacon changed about its row.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// `host`.
    pub host: bool,
    /// `ip`.
    pub ip: bool,
    /// `version`.
    pub version: bool,
    /// `mode`.
    pub mode: bool,
    /// `reason`.
    pub reason: bool,
}

impl Changed {
    /// Whether the agent should hear of it: the machine's host, address, version or mode,
    /// or a reason other than a routine one.
    pub fn worth_an_event(&self, reason: &str) -> bool {
        self.host || self.ip || self.version || self.mode || (self.reason && !routine(reason))
    }
}

/// Whether a beacon's reason is a routine one (`periodic…`, `heartbeat`, `connect`,
/// `launch`, `instances-refresh`): nothing new about the machine.
pub fn routine(reason: &str) -> bool {
    let reason = reason.trim().to_lowercase();
    reason.starts_with("periodic") || ROUTINE_REASONS.contains(&&*reason)
}

/// A beacon's row after the merge.
#[derive(Debug, Clone)]
pub struct Update {
    /// The row's key.
    pub key: String,
    /// The row.
    pub entry: Arc<PresenceEntry>,
    /// What changed.
    pub changed: Changed,
}

#[derive(Debug)]
struct Held {
    entry: Arc<PresenceEntry>,
    heard: Instant,
}

/// The beacon rows, by key.
#[derive(Debug, Default)]
pub struct Beacons {
    held: HashMap<String, Held>,
}

fn union(a: Option<&Vec<String>>, b: Option<&Vec<String>>) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in a.into_iter().chain(b).flatten() {
        let s = s.trim();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `new` if given, else `old` (empty stays empty).
fn pick(new: Option<&String>, old: &str) -> String {
    new.cloned().unwrap_or_else(|| old.to_owned())
}

impl Beacons {
    /// No beacon is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Merges `b` into its row (OpenClaw's `updateSystemPresence`): each field the beacon
    /// (or its one-line form) gives replaces the row's, roles and scopes accumulate, and
    /// the row is heard again at `now` (`ts`: ms since the epoch).
    pub fn update(&mut self, b: &Beacon, now: Instant, ts: u64) -> Update {
        let legacy = parse_legacy(&b.text);
        let key = beacon_key(b, legacy.as_ref());
        let old = match self.held.get(&key) {
            Some(h) if now.saturating_duration_since(h.heard) <= TTL => Some(h.entry.clone()),
            _ => None,
        };
        let old_ref = old.as_deref();
        let l = legacy.unwrap_or_default();
        let or_old =
            |new: Option<&String>, parsed: Option<&String>, f: fn(&PresenceEntry) -> &str| {
                pick(new.or(parsed), old_ref.map_or("", f))
            };
        let clear = b
            .tags
            .as_ref()
            .is_some_and(|t| t.iter().any(|t| t == CLEAR_LAST_INPUT_TAG));
        let opt_or_old = |new: Option<&String>, f: fn(&PresenceEntry) -> Option<&String>| {
            new.or_else(|| old_ref.and_then(f)).cloned()
        };
        let entry = PresenceEntry {
            client_id: old_ref.and_then(|o| o.client_id.clone()),
            device_family: opt_or_old(b.device_family.as_ref(), |o| o.device_family.as_ref()),
            device_id: opt_or_old(b.device_id.as_ref(), |o| o.device_id.as_ref()),
            host: or_old(b.host.as_ref(), l.host.as_ref(), |o| &o.host),
            instance_id: or_old(b.instance_id.as_ref(), None, |o| &o.instance_id),
            ip: opt_or_old(b.ip.as_ref().or(l.ip.as_ref()), |o| o.ip.as_ref()),
            last_input_seconds: if clear {
                None
            } else {
                b.last_input_seconds
                    .or(l.last_input_seconds)
                    .or_else(|| old_ref.and_then(|o| o.last_input_seconds))
            },
            mode: or_old(b.mode.as_ref(), l.mode.as_ref(), |o| &o.mode),
            model_identifier: opt_or_old(b.model_identifier.as_ref(), |o| {
                o.model_identifier.as_ref()
            }),
            online_since: None,
            platform: or_old(b.platform.as_ref(), None, |o| &o.platform),
            reason: or_old(b.reason.as_ref(), l.reason.as_ref(), |o| &o.reason).into(),
            // Roles are a one-element array on connection rows; a beacon's are kept only
            // when it names exactly one.
            roles: match union(None, b.roles.as_ref()).as_deref() {
                Some([one]) => Some([one.clone()]),
                _ => old_ref.and_then(|o| o.roles.clone()),
            },
            scopes: union(old_ref.and_then(|o| o.scopes.as_ref()), b.scopes.as_ref()),
            text: b.text.clone(),
            ts,
            version: or_old(b.version.as_ref(), l.version.as_ref(), |o| &o.version),
        };
        let changed = Changed {
            host: old_ref.map(|o| o.host.as_str()) != Some(entry.host.as_str()),
            ip: old_ref.map(|o| o.ip.as_deref()) != Some(entry.ip.as_deref()),
            version: old_ref.map(|o| o.version.as_str()) != Some(entry.version.as_str()),
            mode: old_ref.map(|o| o.mode.as_str()) != Some(entry.mode.as_str()),
            reason: old_ref.map(|o| &*o.reason) != Some(&*entry.reason),
        };
        let _ = self.prune(now);
        if !self.held.contains_key(&key)
            && self.held.len() >= MAX_ENTRIES
            && let Some(oldest) = self
                .held
                .iter()
                .min_by_key(|(_, h)| h.heard)
                .map(|(k, _)| k.clone())
        {
            self.held.remove(&oldest);
        }
        let entry = Arc::new(entry);
        self.held.insert(
            key.clone(),
            Held {
                entry: entry.clone(),
                heard: now,
            },
        );
        Update {
            key,
            entry,
            changed,
        }
    }

    /// The row kept under `key`, if heard within [`TTL`] of `now`.
    pub fn live(&self, key: &str, now: Instant) -> Option<&Arc<PresenceEntry>> {
        self.held
            .get(key)
            .filter(|h| now.saturating_duration_since(h.heard) <= TTL)
            .map(|h| &h.entry)
    }

    /// Every row heard within [`TTL`] of `now`, with its key.
    pub fn all_live(&self, now: Instant) -> impl Iterator<Item = (&str, &Arc<PresenceEntry>)> {
        self.held
            .iter()
            .filter(move |(_, h)| now.saturating_duration_since(h.heard) <= TTL)
            .map(|(k, h)| (k.as_str(), &h.entry))
    }

    /// Forgets the rows not heard within [`TTL`] of `now`; answers how many.
    pub fn prune(&mut self, now: Instant) -> usize {
        let before = self.held.len();
        self.held
            .retain(|_, h| now.saturating_duration_since(h.heard) <= TTL);
        before - self.held.len()
    }
}

/// A connected node's row with its beacon's fields over it: what the machine said last
/// about itself wins, the connection's identity (client id, online since) stays.
pub fn overlay(conn: &PresenceEntry, beacon: &PresenceEntry) -> PresenceEntry {
    let or = |b: &str, c: &str| if b.is_empty() { c } else { b }.to_owned();
    PresenceEntry {
        client_id: conn.client_id.clone(),
        device_family: beacon
            .device_family
            .clone()
            .or_else(|| conn.device_family.clone()),
        device_id: conn.device_id.clone().or_else(|| beacon.device_id.clone()),
        host: or(&beacon.host, &conn.host),
        instance_id: conn.instance_id.clone(),
        ip: beacon.ip.clone().or_else(|| conn.ip.clone()),
        last_input_seconds: beacon.last_input_seconds,
        mode: or(&beacon.mode, &conn.mode),
        model_identifier: beacon
            .model_identifier
            .clone()
            .or_else(|| conn.model_identifier.clone()),
        online_since: conn.online_since,
        platform: or(&beacon.platform, &conn.platform),
        reason: if beacon.reason.is_empty() {
            conn.reason.clone()
        } else {
            beacon.reason.clone()
        },
        roles: conn.roles.clone(),
        scopes: union(conn.scopes.as_ref(), beacon.scopes.as_ref()),
        text: beacon.text.clone(),
        ts: conn.ts.max(beacon.ts),
        version: or(&beacon.version, &conn.version),
    }
}

/// The system event a `Node:` beacon queues for the agent, when the change is worth one:
/// `Node: <host> (<ip>)`, then what changed (`app <version>`, `mode <mode>`, `reason
/// <reason>`), joined with ` · `.
pub fn node_event_text(u: &Update) -> Option<String> {
    let e = &u.entry;
    if !u.changed.worth_an_event(&e.reason) {
        return None;
    }
    let or_unknown = |s: &str| if s.is_empty() { "unknown" } else { s }.to_owned();
    let host = if e.host.is_empty() {
        "Unknown"
    } else {
        &e.host
    };
    let mut parts = vec![match e.ip.as_deref() {
        Some(ip) => format!("Node: {host} ({ip})"),
        None => format!("Node: {host}"),
    }];
    if u.changed.version {
        parts.push(format!("app {}", or_unknown(&e.version)));
    }
    if u.changed.mode {
        parts.push(format!("mode {}", or_unknown(&e.mode)));
    }
    if u.changed.reason && !routine(&e.reason) {
        parts.push(format!("reason {}", or_unknown(&e.reason)));
    }
    Some(parts.join(" · "))
}

/// Why a `system-event` was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SystemEventError {
    /// The call is wrong (`INVALID_REQUEST`).
    Invalid(String),
    /// The event could not be queued now (`UNAVAILABLE`).
    Unavailable(String),
}

impl SystemEventError {
    /// The wire error.
    pub fn to_shape(&self) -> crate::protocol::error::ErrorShape {
        use crate::protocol::error::ErrorShape;
        match self {
            Self::Invalid(m) => ErrorShape::invalid(m.clone()),
            Self::Unavailable(m) => ErrorShape::unavailable(m.clone()),
        }
    }
}

/// `system-event`: a beacon and/or a system event (see the module docs). Answers
/// `{ok: true}`.
#[derive(Message)]
#[rtype(result = "Result<serde_json::Value, SystemEventError>")]
pub struct SystemEvent {
    /// The event's text and presence fields.
    pub beacon: Beacon,
    /// `sessionKey` (normalized), else the default agent's main session.
    pub session_key: Option<String>,
    /// `wake`: run a turn of the session now.
    pub wake: bool,
}

impl Handler<SystemEvent> for Registry {
    type Result = Result<serde_json::Value, SystemEventError>;

    fn handle(&mut self, msg: SystemEvent, ctx: &mut Self::Context) -> Self::Result {
        let node_line = msg.beacon.is_node_line();
        if msg.wake && node_line {
            return Err(SystemEventError::Invalid(
                "wake is not supported for node presence events".to_owned(),
            ));
        }
        // (The parser refused a key of an agent this gateway does not run.)
        if msg.wake
            && let Some(key) = &msg.session_key
            && self.sessions_index.get(key).is_none()
        {
            let shown: String = key.chars().take(128).collect();
            return Err(SystemEventError::Invalid(format!(
                "Unknown or archived session \"{shown}\""
            )));
        }
        let target = msg
            .session_key
            .clone()
            .unwrap_or_else(|| format!("agent:{}:main", crate::agents::default_id_now()));
        let update = msg
            .beacon
            .describes_presence()
            .then(|| self.sessions.beacon(&msg.beacon, Instant::now(), now_ms()));
        if node_line {
            if let Some(text) = update.as_ref().and_then(node_event_text) {
                let queued = <Self as Handler<EnqueueSystemEvent>>::handle(
                    self,
                    EnqueueSystemEvent {
                        session_key: target,
                        text,
                    },
                    ctx,
                );
                if let Err(e) = queued {
                    // The presence row is updated all the same; the change is only not
                    // told to the agent.
                    log::debug!("a node's presence change was not queued: {e}");
                }
            }
        } else if msg.wake {
            let Some(cron) = self.shared.cron.get() else {
                return Err(SystemEventError::Unavailable(
                    "the scheduler is not running".to_owned(),
                ));
            };
            cron.0.do_send(crate::cron::CronWake {
                prompt: false,
                now: true,
                text: msg.beacon.text,
                session_key: msg.session_key,
            });
        } else {
            <Self as Handler<EnqueueSystemEvent>>::handle(
                self,
                EnqueueSystemEvent {
                    session_key: target,
                    text: msg.beacon.text,
                },
                ctx,
            )
            .map_err(SystemEventError::Unavailable)?;
        }
        if update.is_some() {
            self.broadcast_presence(ctx);
        }
        Ok(serde_json::json!({"ok": true}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::role::Role;
    use crate::registry::presence::{Authed, Presence};

    fn mac(reason: &str) -> Beacon {
        Beacon {
            text: "Node: mac · mode local".into(),
            device_id: Some("DEV-Mac".into()),
            host: Some("mac".into()),
            ip: Some("10.0.0.7".into()),
            version: Some("2026.9.6".into()),
            mode: Some("local".into()),
            reason: Some(reason.into()),
            last_input_seconds: Some(4),
            scopes: Some(vec!["operator.admin".into()]),
            ..Beacon::default()
        }
    }

    #[test]
    fn the_older_one_line_form_is_read_and_anything_else_is_not() {
        let l = parse_legacy(
            "Node: studio (192.168.1.9) · app 1.2.3 · last input 42s ago · mode local · reason periodic · extra",
        )
        .expect("parsed");
        assert_eq!(l.host.as_deref(), Some("studio"));
        assert_eq!(l.ip.as_deref(), Some("192.168.1.9"));
        assert_eq!(l.version.as_deref(), Some("1.2.3"));
        assert_eq!(l.last_input_seconds, Some(42));
        assert_eq!(l.mode.as_deref(), Some("local"));
        assert_eq!(l.reason.as_deref(), Some("periodic · extra"));
        for bad in [
            "Node: mac · mode local",
            "Client: a (b) · app 1 · last input 1s ago · mode m · reason r",
            "Node: two words (ip) · app 1 · last input 1s ago · mode m · reason r",
            "Node: h (ip · app 1 · last input 1s ago · mode m · reason r",
            "Node: h (ip) · app 1 · last input 1s ago · mode m",
            "Node: h (ip) · app · last input 1s ago · mode m · reason r",
            "Node: h (ip) · app 1 · last input 1s · mode m · reason r",
            "Node:",
            "",
            "Node: 🦀 (ip) · app 1 · last input 9999999999999999999999s ago · mode m · reason ·",
            // Found by the fuzzer: the parts become presence fields, so no control
            // characters and no part over 256 characters.
            "Node: st\u{14}udio (1.2.3.4) · app 1 · last input 1s ago · mode m · reason r",
            "Node: h (ip) · app 1\u{7} · last input 1s ago · mode m · reason r",
            "Node: h (ip) · app 1 · last input 1s ago · mode m · reason r\nx",
        ] {
            let parsed = parse_legacy(bad);
            assert!(
                parsed.is_none()
                    || parsed
                        .as_ref()
                        .is_some_and(|l| l.last_input_seconds.is_none()),
                "{bad:?}: {parsed:?}"
            );
        }
    }

    #[test]
    fn a_beacon_is_kept_under_its_device_then_instance_then_host_then_text() {
        let mut b = Beacon {
            text: "Node: studio (10.1.1.1) · app 1 · last input 1s ago · mode m · reason r".into(),
            ..Beacon::default()
        };
        let legacy = parse_legacy(&b.text);
        assert_eq!(beacon_key(&b, legacy.as_ref()), "studio");
        b.instance_id = Some(" Inst-A ".into());
        assert_eq!(beacon_key(&b, legacy.as_ref()), "inst-a");
        b.device_id = Some("DEV".into());
        assert_eq!(beacon_key(&b, legacy.as_ref()), "dev");
        let plain = Beacon {
            text: "é".repeat(100),
            ..Beacon::default()
        };
        assert_eq!(beacon_key(&plain, None).chars().count(), 64);
    }

    #[test]
    fn beacons_merge_into_their_row_and_say_what_changed() {
        let mut beacons = Beacons::default();
        let t0 = Instant::now();
        let first = beacons.update(&mac("launch"), t0, 1);
        assert_eq!(first.key, "dev-mac");
        assert_eq!(
            first.changed,
            Changed {
                host: true,
                ip: true,
                version: true,
                mode: true,
                reason: true
            },
            "a new row changes everything"
        );
        assert_eq!(first.entry.host, "mac");
        assert_eq!(first.entry.last_input_seconds, Some(4));
        // The same beacon again: nothing changed but the reason.
        let again = beacons.update(&mac("periodic"), t0 + Duration::from_secs(60), 2);
        assert_eq!(
            again.changed,
            Changed {
                reason: true,
                ..Changed::default()
            }
        );
        assert!(!again.changed.worth_an_event("periodic"));
        assert!(node_event_text(&again).is_none(), "routine: nothing queued");
        // A partial beacon keeps the fields it does not give; scopes accumulate; the
        // clear tag drops the input recency.
        let partial = Beacon {
            text: "Node: mac · mode local".into(),
            device_id: Some("dev-mac".into()),
            ip: Some("10.0.0.8".into()),
            scopes: Some(vec!["operator.read".into(), "operator.admin".into()]),
            tags: Some(vec![CLEAR_LAST_INPUT_TAG.into()]),
            ..Beacon::default()
        };
        let moved = beacons.update(&partial, t0 + Duration::from_secs(120), 3);
        assert_eq!(moved.entry.host, "mac");
        assert_eq!(moved.entry.version, "2026.9.6");
        assert_eq!(moved.entry.ip.as_deref(), Some("10.0.0.8"));
        assert_eq!(moved.entry.last_input_seconds, None);
        assert_eq!(
            moved.entry.scopes.as_deref(),
            Some(&["operator.admin".to_owned(), "operator.read".to_owned()][..])
        );
        assert_eq!(
            moved.changed,
            Changed {
                ip: true,
                ..Changed::default()
            }
        );
        assert_eq!(
            node_event_text(&moved).as_deref(),
            Some("Node: mac (10.0.0.8)")
        );
        // A new version and a reason worth telling.
        let mut upgraded = mac("update");
        upgraded.version = Some("2026.10.1".into());
        upgraded.ip = Some("10.0.0.8".into());
        let u = beacons.update(&upgraded, t0 + Duration::from_secs(130), 4);
        assert_eq!(
            node_event_text(&u).as_deref(),
            Some("Node: mac (10.0.0.8) · app 2026.10.1 · reason update")
        );
    }

    #[test]
    fn beacons_expire_and_are_bounded() {
        let mut beacons = Beacons::default();
        let t0 = Instant::now();
        beacons.update(&mac("launch"), t0, 1);
        assert!(beacons.live("dev-mac", t0 + TTL).is_some());
        assert!(
            beacons
                .live("dev-mac", t0 + TTL + Duration::from_secs(1))
                .is_none()
        );
        // Heard again after it expired: a new row (everything changed).
        let later = beacons.update(&mac("periodic"), t0 + TTL * 2, 2);
        assert!(later.changed.host && later.changed.version);
        for i in 0..(MAX_ENTRIES * 3) {
            let b = Beacon {
                text: format!("Node: host-{i}"),
                instance_id: Some(format!("i-{i}")),
                ..Beacon::default()
            };
            beacons.update(&b, t0 + TTL * 2 + Duration::from_millis(i as u64), i as u64);
        }
        let now = t0 + TTL * 2 + Duration::from_secs(10);
        let live: Vec<&str> = beacons.all_live(now).map(|(k, _)| k).collect();
        assert_eq!(live.len(), MAX_ENTRIES, "bounded");
        assert!(live.contains(&"i-599"), "the newest kept");
        assert!(!live.contains(&"i-0"), "the oldest forgotten");
        assert_eq!(beacons.prune(now + TTL), MAX_ENTRIES);
        assert!(beacons.is_empty());
    }

    #[test]
    fn a_connected_nodes_beacon_is_shown_in_its_row_others_stand_alone() {
        let mut p: Presence<u8> = Presence::default();
        let row = |host: &str, mode: &str, ts: u64| {
            Arc::new(PresenceEntry {
                host: host.into(),
                instance_id: format!("{host}-inst"),
                mode: mode.into(),
                platform: "macos".into(),
                reason: "connect".into(),
                client_id: Some("openclaw-macos".into()),
                online_since: Some(ts),
                roles: Some(["node".into()]),
                ts,
                ..PresenceEntry::default()
            })
        };
        p.open("node".into(), 1);
        p.authenticate(
            "node",
            Authed {
                role: Role::Node,
                scopes: Vec::new(),
                presence: row("MacBook", "node", 10),
                device_id: Some("dev-mac".into()),
            },
        );
        // An operator of the same device keeps its own row, unmerged.
        p.open("op".into(), 2);
        p.authenticate(
            "op",
            Authed {
                role: Role::Operator,
                scopes: vec!["operator.read".into()],
                presence: row("MacBook-ui", "ui", 11),
                device_id: Some("dev-mac".into()),
            },
        );
        let now = Instant::now();
        p.beacon(&mac("launch"), now, 20);
        let other = Beacon {
            text: "Node: pi (10.0.0.9) · app 1 · last input 3s ago · mode remote · reason launch"
                .into(),
            ..Beacon::default()
        };
        p.beacon(&other, now, 15);
        let list = p.entries_at(now);
        assert_eq!(list.len(), 3, "{list:?}");
        let node = list
            .iter()
            .find(|e| e.client_id.is_some() && e.mode == "local")
            .expect("the node's row, merged");
        assert_eq!(node.host, "mac");
        assert_eq!(node.ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(
            node.online_since,
            Some(10),
            "the connection's identity stays"
        );
        assert_eq!(node.instance_id, "MacBook-inst");
        assert_eq!(node.ts, 20);
        let op = list.iter().find(|e| e.mode == "ui").expect("operator row");
        assert_eq!(op.host, "MacBook-ui");
        let pi = list
            .iter()
            .find(|e| e.host == "pi")
            .expect("a row of its own");
        assert_eq!(pi.last_input_seconds, Some(3));
        assert_eq!(list[0].ts, 20, "newest first");
        // Once the beacon expires the node's row is its connection's again.
        let later = p.entries_at(now + TTL + Duration::from_secs(1));
        assert_eq!(later.len(), 2);
        assert!(
            later
                .iter()
                .any(|e| e.host == "MacBook" && e.mode == "node")
        );
    }

    #[test]
    fn only_events_that_describe_a_machine_make_a_row() {
        let plain = Beacon {
            text: "deploy finished".into(),
            ..Beacon::default()
        };
        assert!(!plain.describes_presence());
        assert!(mac("x").describes_presence());
        let line = Beacon {
            text: "Node: x".into(),
            ..Beacon::default()
        };
        assert!(line.is_node_line() && line.describes_presence());
    }
}
