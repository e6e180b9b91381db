//! The registry's connection table: every open socket, who it authenticated as, and what
//! follows from that — the `system-presence` list, the connection counts of `status`, which
//! sessions an event may reach, the devices connected. A plain struct the
//! [`Registry`](super::Registry) owns; `S` is a session's handle (its `WsSession` address
//! in the registry, a plain value in tests).
//!
//! Presence follows OpenClaw (`system-presence.ts`, `message-handler.ts`):
//! - ephemeral control-plane clients (`client.mode` `cli`, `backend`, `probe`) get no entry,
//!   and their connects and disconnects broadcast nothing ([`tracked`]);
//! - the list holds at most [`MAX_ENTRIES`] entries, the gateway's own included, the most
//!   recent (`ts`) first.
//!
//! What a `presence` event costs: every one carries the whole list (≤ 200 entries) to every
//! reader, so the registry coalesces them ([`Presence::coalesce_window`], at most 1 s) and
//! serializes each once for all recipients. Under a storm of N connects a reader gets at
//! most one event per window instead of one per connect, and each is bounded in size.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::protocol::role::Role;
use crate::protocol::scopes;

/// Entries in the `system-presence` list at most, the gateway's own included (OpenClaw's
/// `MAX_ENTRIES`; the oldest by `ts` are left out).
pub const MAX_ENTRIES: usize = 200;

/// Shortest presence coalescing window (few sockets open).
pub const WINDOW_MIN: Duration = Duration::from_millis(100);
/// Longest presence coalescing window: a change is broadcast at most this long after it
/// happened.
pub const WINDOW_MAX: Duration = Duration::from_secs(1);

/// `client.mode`s that OpenClaw does not turn into presence entries (short-lived CLI
/// commands, backend RPC clients, probes).
pub const EPHEMERAL_MODES: &[&str] = &["cli", "backend", "probe"];

/// One `system-presence` entry (OpenClaw's `SystemPresence`): a client's, built at its
/// hello, or the gateway's own (`reason: "self"`). Fields in wire-key order (alphabetical,
/// the order of the JSON objects this struct replaced), absent ones left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceEntry {
    /// `client.id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `client.deviceFamily`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// The verified device id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// `client.displayName`, else `client.id`; the gateway's host name for its own entry.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub host: String,
    /// `client.instanceId`, else the connection id.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub instance_id: String,
    /// The client's address (after trusted-proxy attribution).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Seconds since the user last touched the machine, as a `system-event` beacon
    /// reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_input_seconds: Option<u64>,
    /// `client.mode` (`gateway` for the gateway's own entry).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub mode: String,
    /// `client.modelIdentifier`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_identifier: Option<String>,
    /// When the session authenticated (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_since: Option<u64>,
    /// `client.platform`.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub platform: String,
    /// `connect` or `self`, or what a `system-event` beacon said (`periodic`, `launch`, …).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: Cow<'static, str>,
    /// The connect's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<[String; 1]>,
    /// Granted scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// The one-line summary OpenClaw's apps show.
    pub text: String,
    /// Last update (ms since the epoch): the list's sort key.
    pub ts: u64,
    /// `client.version` (the server version for the gateway's own entry).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub version: String,
}

/// The newest [`MAX_ENTRIES`]` - 1` of `entries`, newest first.
fn newest(mut entries: Vec<&Arc<PresenceEntry>>) -> Vec<Arc<PresenceEntry>> {
    let keep = MAX_ENTRIES - 1;
    let newest_first = |a: &&Arc<PresenceEntry>, b: &&Arc<PresenceEntry>| b.ts.cmp(&a.ts);
    if entries.len() > keep {
        entries.select_nth_unstable_by(keep, newest_first);
        entries.truncate(keep);
    }
    entries.sort_by(newest_first);
    entries.into_iter().cloned().collect()
}

/// Whether a session with this presence entry is listed in `system-presence` (and its
/// connect and disconnect broadcast): every `mode` but the ephemeral ones.
pub fn tracked(entry: &PresenceEntry) -> bool {
    mode_tracked(&entry.mode)
}

/// Whether a client of `client.mode` `mode` is listed in presence (see [`tracked`]).
pub fn mode_tracked(mode: &str) -> bool {
    let mode = mode.trim();
    !EPHEMERAL_MODES.iter().any(|m| mode.eq_ignore_ascii_case(m))
}

/// Who an authenticated session is.
#[derive(Debug, Clone)]
pub struct Authed {
    /// Its role.
    pub role: Role,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Its `system-presence` entry (shared by every list that includes it).
    pub presence: Arc<PresenceEntry>,
    /// The verified device id, if it presented one.
    pub device_id: Option<String>,
}

/// One open socket.
#[derive(Debug)]
pub struct Conn<S> {
    /// The session.
    pub addr: S,
    /// Set once the handshake succeeded.
    pub authed: Option<Authed>,
}

impl Authed {
    /// Whether this session is listed in presence (see [`tracked`]).
    pub fn tracked(&self) -> bool {
        tracked(&self.presence)
    }
}

impl<S> Conn<S> {
    /// The verified device id of an authenticated session.
    pub fn device_id(&self) -> Option<&str> {
        self.authed.as_ref()?.device_id.as_deref()
    }
}

/// Connection counts for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Authenticated operators.
    pub operators: usize,
    /// Authenticated nodes.
    pub nodes: usize,
    /// Sockets still in their handshake.
    pub pending: usize,
}

/// The connection table.
#[derive(Debug)]
pub struct Presence<S> {
    conns: HashMap<String, Conn<S>>,
    /// The apps' `system-event` beacons (see [`super::beacons`]).
    beacons: super::beacons::Beacons,
    /// Connection ids of the authenticated, [`tracked`] sessions: the list is built from
    /// these alone, so a storm of CLI connections costs each hello nothing.
    listed: HashSet<String>,
}

impl<S> Default for Presence<S> {
    fn default() -> Self {
        Self {
            conns: HashMap::new(),
            beacons: super::beacons::Beacons::default(),
            listed: HashSet::new(),
        }
    }
}

impl<S> Presence<S> {
    /// A socket opened (not yet authenticated).
    pub fn open(&mut self, conn_id: String, addr: S) {
        self.conns.insert(conn_id, Conn { addr, authed: None });
    }

    /// A socket's handshake succeeded (an unknown socket is ignored). Its pre-auth slot is
    /// the session's to give back, not this table's.
    pub fn authenticate(&mut self, conn_id: &str, authed: Authed) {
        let Some(conn) = self.conns.get_mut(conn_id) else {
            return;
        };
        if authed.tracked() {
            self.listed.insert(conn_id.to_owned());
        } else {
            self.listed.remove(conn_id);
        }
        conn.authed = Some(authed);
    }

    /// A socket closed.
    pub fn close(&mut self, conn_id: &str) -> Option<Conn<S>> {
        self.listed.remove(conn_id);
        self.conns.remove(conn_id)
    }

    /// The socket `conn_id`.
    pub fn get(&self, conn_id: &str) -> Option<&Conn<S>> {
        self.conns.get(conn_id)
    }

    /// Whether `conn_id` is open.
    pub fn contains(&self, conn_id: &str) -> bool {
        self.conns.contains_key(conn_id)
    }

    /// Open sockets.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// No socket open.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Every open socket.
    pub fn conns(&self) -> impl Iterator<Item = &Conn<S>> {
        self.conns.values()
    }

    /// Every open socket with its connection id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Conn<S>)> {
        self.conns.iter().map(|(id, c)| (id.as_str(), c))
    }

    /// Whether `conn_id` is authenticated and listed in presence: its connect and close
    /// change the list (and are broadcast).
    pub fn is_tracked(&self, conn_id: &str) -> bool {
        self.listed.contains(conn_id)
    }

    /// Authenticated sessions listed in presence.
    pub fn tracked_count(&self) -> usize {
        self.listed.len()
    }

    /// The `system-presence` list: `own` (the gateway's entry) first, then the entries of
    /// the tracked sessions, most recent first, [`MAX_ENTRIES`] in all at most.
    pub fn list(&self, own: PresenceEntry) -> Vec<Arc<PresenceEntry>> {
        let entries = self.entries();
        let mut list = Vec::with_capacity(entries.len() + 1);
        list.push(Arc::new(own));
        list.extend(entries);
        list
    }

    /// The tracked sessions' entries of the `system-presence` list (without the gateway's
    /// own) and the apps' beacons, most recent first, [`MAX_ENTRIES`]` - 1` at most.
    pub fn entries(&self) -> Vec<Arc<PresenceEntry>> {
        self.entries_at(Instant::now())
    }

    /// [`Self::entries`] with the beacons heard within their TTL of `now`. A beacon kept
    /// under a connected node's device id or instance id is shown in that node's row.
    pub fn entries_at(&self, now: Instant) -> Vec<Arc<PresenceEntry>> {
        let listed = self
            .listed
            .iter()
            .filter_map(|id| self.conns.get(id)?.authed.as_ref());
        if self.beacons.is_empty() {
            return newest(listed.map(|a| &a.presence).collect());
        }
        let mut merged: Vec<Arc<PresenceEntry>> = Vec::new();
        let mut shown: HashSet<String> = HashSet::new();
        for a in listed {
            let beacon = (a.role == Role::Node)
                .then(|| {
                    [
                        a.device_id.as_deref(),
                        Some(a.presence.instance_id.as_str()),
                    ]
                    .into_iter()
                    .flatten()
                    .map(str::to_lowercase)
                    .find_map(|k| Some((self.beacons.live(&k, now)?, k)))
                })
                .flatten();
            match beacon {
                Some((b, key)) => {
                    merged.push(Arc::new(super::beacons::overlay(&a.presence, b)));
                    shown.insert(key);
                }
                None => merged.push(a.presence.clone()),
            }
        }
        merged.extend(
            self.beacons
                .all_live(now)
                .filter(|(k, _)| !shown.contains(*k))
                .map(|(_, e)| e.clone()),
        );
        newest(merged.iter().collect())
    }

    /// Merges a `system-event` beacon into its row (see [`super::beacons::Beacons::update`]).
    pub fn beacon(
        &mut self,
        b: &super::beacons::Beacon,
        now: Instant,
        ts: u64,
    ) -> super::beacons::Update {
        self.beacons.update(b, now, ts)
    }

    /// Forgets the beacons not heard within their TTL of `now`; answers how many.
    pub fn prune_beacons(&mut self, now: Instant) -> usize {
        self.beacons.prune(now)
    }

    /// Connection counts by role.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for conn in self.conns.values() {
            match conn.authed.as_ref().map(|a| a.role) {
                Some(Role::Node) => c.nodes += 1,
                Some(Role::Operator) => c.operators += 1,
                None => c.pending += 1,
            }
        }
        c
    }

    /// The sessions the event `event` may reach (authenticated, admitted by the event's
    /// guard), except `skip`.
    pub fn audience<'a>(
        &'a self,
        event: &str,
        skip: Option<&'a str>,
    ) -> impl Iterator<Item = &'a S> + 'a {
        let guard = scopes::event_guard(event);
        self.conns.iter().filter_map(move |(id, c)| {
            if skip == Some(id.as_str()) {
                return None;
            }
            let a = c.authed.as_ref()?;
            guard.admits(a.role, &a.scopes).then_some(&c.addr)
        })
    }

    /// Whether a session of device `device_id` is open.
    pub fn device_connected(&self, device_id: &str) -> bool {
        self.conns
            .values()
            .any(|c| c.device_id() == Some(device_id))
    }

    /// How long presence broadcasts are coalesced: each carries the list (≤ [`MAX_ENTRIES`])
    /// to every reader, so the window grows with the sockets open — 100 ms plus 1 ms per
    /// socket, these and the `untracked` ones the registry does not hold — up to
    /// [`WINDOW_MAX`] (1 s), which bounds how late a change is seen.
    pub fn coalesce_window(&self, untracked: usize) -> Duration {
        let n = u64::try_from(self.conns.len().saturating_add(untracked)).unwrap_or(u64::MAX);
        WINDOW_MIN
            .saturating_add(Duration::from_millis(n))
            .min(WINDOW_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn moded(mode: &str) -> PresenceEntry {
        PresenceEntry {
            mode: mode.into(),
            ..PresenceEntry::default()
        }
    }

    fn lv<S>(p: &Presence<S>, own: PresenceEntry) -> Vec<Value> {
        p.list(own)
            .iter()
            .map(|e| serde_json::to_value(&**e).unwrap_or_default())
            .collect()
    }

    fn authed(role: Role, scopes: &[&str], device: Option<&str>, name: &str) -> Authed {
        Authed {
            role,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            presence: Arc::new(PresenceEntry {
                host: name.into(),
                ..PresenceEntry::default()
            }),
            device_id: device.map(str::to_owned),
        }
    }

    fn entry(mode: &str, ts: u64) -> Authed {
        Authed {
            role: Role::Operator,
            scopes: vec![scopes::READ.to_owned()],
            presence: Arc::new(PresenceEntry {
                mode: mode.into(),
                ts,
                host: format!("{mode}-{ts}"),
                ..PresenceEntry::default()
            }),
            device_id: None,
        }
    }

    #[test]
    fn sockets_authenticate_once_and_are_counted_by_role() {
        let mut p = Presence::default();
        p.open("a".into(), 1);
        p.open("b".into(), 2);
        p.open("c".into(), 3);
        assert_eq!(
            p.counts(),
            Counts {
                operators: 0,
                nodes: 0,
                pending: 3
            }
        );
        let op = authed(Role::Operator, &[scopes::READ], None, "cli");
        p.authenticate("a", op.clone());
        // Authenticating twice changes nothing; an unknown socket is ignored.
        p.authenticate("a", op);
        p.authenticate("b", authed(Role::Node, &[], Some("dev-1"), "node"));
        p.authenticate("nope", authed(Role::Node, &[], None, "x"));
        assert!(!p.contains("nope"));
        assert_eq!(
            p.counts(),
            Counts {
                operators: 1,
                nodes: 1,
                pending: 1
            }
        );
        assert!(p.device_connected("dev-1"));
        assert!(!p.device_connected("dev-2"));
        let gateway = PresenceEntry {
            host: "gateway".into(),
            ..PresenceEntry::default()
        };
        let list = p.list(gateway.clone());
        assert_eq!(*list[0], gateway, "the gateway first");
        let mut rest: Vec<&str> = list[1..].iter().map(|e| e.host.as_str()).collect();
        rest.sort_unstable();
        assert_eq!(rest, vec!["cli", "node"]);
        assert_eq!(p.close("b").map(|c| c.addr), Some(2));
        assert!(!p.device_connected("dev-1"));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn events_reach_only_sessions_their_guard_admits() {
        let mut p = Presence::default();
        for (id, h) in [("read", 1), ("none", 2), ("node", 3), ("pending", 4)] {
            p.open(id.into(), h);
        }
        p.authenticate("read", authed(Role::Operator, &[scopes::READ], None, "r"));
        p.authenticate("none", authed(Role::Operator, &[], None, "n"));
        p.authenticate("node", authed(Role::Node, &[], None, "x"));
        let to = |event: &str, skip: Option<&'static str>| {
            let mut v: Vec<i32> = p.audience(event, skip).copied().collect();
            v.sort_unstable();
            v
        };
        // `shutdown` goes to every authenticated session; never to one in its handshake.
        assert_eq!(to("shutdown", None), vec![1, 2, 3]);
        assert_eq!(to("shutdown", Some("none")), vec![1, 3]);
        // `presence` and `chat` need operator.read: not a node, not a scopeless operator.
        assert_eq!(to("presence", None), vec![1]);
        assert_eq!(to("chat", Some("none")), vec![1]);
        assert_eq!(to("chat", Some("read")), Vec::<i32>::new());
        // Events nobody may see (node-targeted ones) are never broadcast.
        assert_eq!(to("node.invoke.request", None), Vec::<i32>::new());
    }

    #[test]
    fn the_coalescing_window_grows_with_open_sockets_up_to_one_second() {
        let mut p = Presence::default();
        assert_eq!(p.coalesce_window(0), Duration::from_millis(100));
        for i in 0..100 {
            p.open(format!("c{i}"), i);
        }
        assert_eq!(p.coalesce_window(0), Duration::from_millis(200));
        for i in 100..800 {
            p.open(format!("c{i}"), i);
            p.authenticate(&format!("c{i}"), entry("cli", i as u64));
        }
        assert_eq!(p.coalesce_window(0), Duration::from_millis(900));
        // Sockets the registry does not hold (see `ws_session::Untracked`) count too.
        assert_eq!(p.coalesce_window(50), Duration::from_millis(950));
        for i in 800..3000 {
            p.open(format!("c{i}"), i);
        }
        assert_eq!(p.coalesce_window(0), WINDOW_MAX);
        assert_eq!(p.coalesce_window(usize::MAX), WINDOW_MAX);
    }

    #[test]
    fn ephemeral_clients_are_not_listed_or_tracked() {
        for mode in ["cli", "backend", "probe", " CLI ", "Probe"] {
            assert!(!tracked(&moded(mode)), "{mode}");
        }
        for mode in ["ui", "webchat", "node", "test", "worker", ""] {
            assert!(tracked(&moded(mode)), "{mode:?}");
        }
        assert!(tracked(&PresenceEntry::default()), "no mode: listed");
        let mut p = Presence::default();
        for (id, mode) in [
            ("cli", "cli"),
            ("be", "backend"),
            ("probe", "probe"),
            ("ui", "ui"),
        ] {
            p.open(id.into(), 0);
            p.authenticate(id, entry(mode, 1));
        }
        p.open("pending".into(), 0);
        assert!(p.is_tracked("ui"));
        assert!(!p.is_tracked("cli") && !p.is_tracked("be") && !p.is_tracked("probe"));
        assert!(!p.is_tracked("pending") && !p.is_tracked("nope"));
        assert_eq!(p.tracked_count(), 1);
        let list = lv(&p, moded("gateway"));
        let modes: Vec<&str> = list.iter().filter_map(|e| e["mode"].as_str()).collect();
        assert_eq!(modes, vec!["gateway", "ui"]);
        // They still count as connections.
        assert_eq!(p.counts().operators, 4);
        assert_eq!(p.counts().pending, 1);
        // Closing a listed session unlists it.
        assert!(p.close("ui").is_some());
        assert!(!p.is_tracked("ui"));
        assert_eq!(p.tracked_count(), 0);
        assert_eq!(p.list(moded("gateway")).len(), 1);
    }

    #[test]
    fn the_list_keeps_the_newest_entries_up_to_the_cap_gateway_first() {
        let mut p = Presence::default();
        for i in 0..1000u64 {
            let id = format!("c{i}");
            p.open(id.clone(), i);
            // Insertion order differs from `ts` order.
            p.authenticate(&id, entry("ui", (i * 7919) % 1000));
        }
        let list = lv(&p, moded("gateway"));
        assert_eq!(list.len(), MAX_ENTRIES);
        assert_eq!(list[0]["mode"], "gateway", "the gateway first");
        let ts: Vec<u64> = list[1..].iter().filter_map(|e| e["ts"].as_u64()).collect();
        let want: Vec<u64> = (0..1000u64).rev().take(MAX_ENTRIES - 1).collect();
        assert_eq!(ts, want, "the newest 199, newest first");
        // Below the cap, everything is listed.
        let mut small = Presence::default();
        for i in 0..3u64 {
            small.open(format!("s{i}"), i);
            small.authenticate(&format!("s{i}"), entry("node", i));
        }
        let list = lv(&small, moded("gateway"));
        let ts: Vec<u64> = list[1..].iter().filter_map(|e| e["ts"].as_u64()).collect();
        assert_eq!(ts, vec![2, 1, 0]);
    }
}
