//! The `health` summary (`HealthSummary`: the fields `openclaw health` and `openclaw gateway
//! call health` read) as a typed struct, serialized straight into the response frame: it
//! goes into every `hello-ok` snapshot and every `health` answer, and building it as a
//! `serde_json::Value` tree cost a few dozen allocations each time. Fields are in the order
//! of the wire object's keys (alphabetical, as the `json!` object it replaced wrote them); the
//! wire test below compares the bytes with that object.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::ser::{Serialize, SerializeMap as _, SerializeSeq as _, Serializer};

use crate::agents::Roster;

/// How many recent sessions `health` lists per agent (OpenClaw's limit).
pub const RECENT_SESSIONS: usize = 5;

/// `health` without channel details (see [`crate::engine::Shared::health_summary`]).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthSummary<'a> {
    /// Every configured agent: its heartbeat and its sessions.
    pub agents: AgentsHealth<'a>,
    /// Channel labels (filled in by the `health` method when channels are configured).
    pub channel_labels: EmptyObject,
    /// Channel order (idem).
    pub channel_order: [(); 0],
    /// Channels (idem).
    pub channels: EmptyObject,
    /// The agent that owns unbound messages (`main` with one agent).
    pub default_agent_id: &'a str,
    /// How long gathering took (from memory: 0).
    pub duration_ms: u64,
    /// This gateway.
    pub gateway: HealthGateway<'a>,
    /// The default agent's heartbeat interval (0: off).
    pub heartbeat_seconds: u64,
    /// Always true: the gateway answered.
    pub ok: bool,
    /// The default agent's sessions.
    pub sessions: AgentSessionsHealth<'a>,
    /// When, in ms since the epoch.
    pub ts: u64,
}

impl<'a> HealthSummary<'a> {
    /// The summary for `gateway` of `snapshot` (the roster, sessions and heartbeat now),
    /// at `ts` (ms since the epoch).
    pub fn new(gateway: HealthGateway<'a>, snapshot: &'a HealthSnapshot, ts: u64) -> Self {
        let default_agent_id = snapshot.roster.default_id();
        let heartbeat_seconds = snapshot.heartbeat_seconds();
        Self {
            agents: AgentsHealth { snapshot, ts },
            channel_labels: EmptyObject,
            channel_order: [],
            channels: EmptyObject,
            default_agent_id,
            // Gathered from memory: nothing to wait for.
            duration_ms: 0,
            gateway,
            heartbeat_seconds,
            ok: true,
            sessions: AgentSessionsHealth::of(snapshot, default_agent_id, ts),
            ts,
        }
    }
}

/// `health.gateway`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthGateway<'a> {
    /// The bind mode.
    pub bind: &'a str,
    /// The port listened on now.
    pub port: u16,
    /// Milliseconds since start.
    pub uptime_ms: u64,
    /// Server version.
    pub version: &'a str,
}

/// One agent's sessions as `health` reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentSessions {
    /// How many.
    pub count: usize,
    /// The most recently updated (key, `updatedAt`), newest first, at most
    /// [`RECENT_SESSIONS`].
    pub recent: Vec<(String, u64)>,
}

impl AgentSessions {
    /// Counts a session updated at `updated_at`, keeping it if it is among the newest.
    pub fn add(&mut self, key: &str, updated_at: u64) {
        self.count += 1;
        let at = self
            .recent
            .iter()
            .position(|(k, t)| updated_at > *t || (updated_at == *t && key < k.as_str()))
            .unwrap_or(self.recent.len());
        if at < RECENT_SESSIONS {
            self.recent.truncate(RECENT_SESSIONS - 1);
            self.recent.insert(at, (key.to_owned(), updated_at));
        }
    }
}

/// Every agent's sessions, by agent id.
pub type SessionsView = BTreeMap<String, AgentSessions>;

/// A heartbeat as `health` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatView {
    /// The agent it runs as (`None`: the default agent).
    pub agent: Option<String>,
    /// Its interval when it runs (`None`: off, paused or cron disabled).
    pub every_ms: Option<u64>,
    /// Its prompt.
    pub prompt: String,
    /// Where its answers go (`none`, `last`, or a channel).
    pub target: String,
    /// `ackMaxChars`.
    pub ack_max_chars: usize,
}

/// What `health` reports beyond the settings: kept up to date by the registry (sessions)
/// and the scheduler (heartbeat), so that `health` needs no round trip to either.
#[derive(Debug)]
pub struct HealthView {
    /// The state directory, as shown in paths.
    state_dir: Arc<str>,
    sessions: RwLock<Arc<SessionsView>>,
    heartbeats: RwLock<Arc<Vec<HeartbeatView>>>,
}

/// What a caller of `health` may see beyond counts: the session index paths (they name
/// the state directory, which `hello-ok` shows to admins only) and recent session keys
/// (what `sessions.list` shows to `operator.read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthAudience {
    /// Absolute paths (else relative to the state directory).
    pub paths: bool,
    /// Recent session keys (else none listed).
    pub recent: bool,
}

impl HealthAudience {
    /// Everything (the operator console, tests).
    pub const ALL: Self = Self {
        paths: true,
        recent: true,
    };

    /// What a client of `role` with `scopes` may see.
    pub fn of(operator: bool, scopes: &[String]) -> Self {
        use super::scopes::{ADMIN, READ, satisfied};
        Self {
            paths: operator && satisfied(scopes, ADMIN),
            recent: operator && satisfied(scopes, READ),
        }
    }
}

/// One consistent reading of the [`HealthView`] with the roster in force.
#[derive(Debug, Clone)]
pub struct HealthSnapshot {
    audience: HealthAudience,
    state_dir: Arc<str>,
    roster: Arc<Roster>,
    sessions: Arc<SessionsView>,
    heartbeats: Arc<Vec<HeartbeatView>>,
}

fn read<T>(lock: &RwLock<Arc<T>>) -> Arc<T> {
    match lock.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write<T>(lock: &RwLock<Arc<T>>, value: T) {
    let value = Arc::new(value);
    match lock.write() {
        Ok(mut g) => *g = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

impl HealthView {
    /// The view of a gateway whose state lives in `state_dir`.
    pub fn new(
        state_dir: &std::path::Path,
        sessions: SessionsView,
        heartbeats: Vec<HeartbeatView>,
    ) -> Self {
        Self {
            state_dir: state_dir.display().to_string().into(),
            sessions: RwLock::new(Arc::new(sessions)),
            heartbeats: RwLock::new(Arc::new(heartbeats)),
        }
    }

    /// Replaces the sessions (the registry, when its index changed).
    pub fn set_sessions(&self, sessions: SessionsView) {
        write(&self.sessions, sessions);
    }

    /// Replaces the heartbeats (the scheduler, when they are armed or stopped).
    pub fn set_heartbeat(&self, heartbeats: Vec<HeartbeatView>) {
        if *read(&self.heartbeats) != heartbeats {
            write(&self.heartbeats, heartbeats);
        }
    }

    /// The view now, with `roster`, as `audience` may see it.
    pub fn snapshot(&self, roster: Arc<Roster>, audience: HealthAudience) -> HealthSnapshot {
        HealthSnapshot {
            audience,
            state_dir: self.state_dir.clone(),
            roster,
            sessions: read(&self.sessions),
            heartbeats: read(&self.heartbeats),
        }
    }

    /// `agent`'s session index file (`<state>/agents/<agent>/sessions/sessions.json`).
    pub fn sessions_path(&self, agent: &str) -> String {
        format!("{}/agents/{agent}/sessions/sessions.json", self.state_dir)
    }
}

impl HealthSnapshot {
    /// A snapshot of fixed parts (tests and benches).
    pub fn fixed(
        state_dir: &str,
        roster: Arc<Roster>,
        sessions: SessionsView,
        heartbeats: Vec<HeartbeatView>,
    ) -> Self {
        Self {
            audience: HealthAudience::ALL,
            state_dir: state_dir.into(),
            roster,
            sessions: Arc::new(sessions),
            heartbeats: Arc::new(heartbeats),
        }
    }

    /// The heartbeat of `agent` (`is_default`: it is the default agent), if it has one.
    fn heartbeat_of(&self, agent: &str, is_default: bool) -> Option<&HeartbeatView> {
        self.heartbeats
            .iter()
            .find(|h| h.agent.as_deref() == Some(agent))
            .or_else(|| is_default.then(|| self.shared_heartbeat()).flatten())
    }

    /// The heartbeat of `agents.defaults` (run by the default agent), if that is the one.
    fn shared_heartbeat(&self) -> Option<&HeartbeatView> {
        self.heartbeats.iter().find(|h| h.agent.is_none())
    }

    /// `heartbeatSeconds`: the interval of the first agent whose heartbeat runs (0: none).
    fn heartbeat_seconds(&self) -> u64 {
        let default_id = self.roster.default_id();
        self.roster
            .agents()
            .iter()
            .filter_map(|a| self.heartbeat_of(&a.id, a.id == default_id))
            .find_map(|h| h.every_ms)
            .map_or(0, |ms| ms.saturating_add(500) / 1000)
    }
}

/// `health.agents`: one entry per configured agent, in the roster's order.
pub struct AgentsHealth<'a> {
    snapshot: &'a HealthSnapshot,
    ts: u64,
}

impl Serialize for AgentsHealth<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let snap = self.snapshot;
        let agents = snap.roster.agents();
        let default_id = snap.roster.default_id();
        let mut seq = s.serialize_seq(Some(agents.len()))?;
        for a in agents {
            let is_default = a.id == default_id;
            seq.serialize_element(&AgentHealth {
                agent_id: &a.id,
                heartbeat: match snap.heartbeat_of(&a.id, is_default) {
                    Some(own) => HeartbeatHealth {
                        view: Some(own),
                        runs: true,
                    },
                    None => HeartbeatHealth {
                        view: snap.shared_heartbeat(),
                        runs: false,
                    },
                },
                is_default,
                name: a.name.as_deref(),
                sessions: AgentSessionsHealth::of(snap, &a.id, self.ts),
            })?;
        }
        seq.end()
    }
}

/// One entry of `health.agents`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentHealth<'a> {
    agent_id: &'a str,
    heartbeat: HeartbeatHealth<'a>,
    is_default: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    sessions: AgentSessionsHealth<'a>,
}

/// An agent's `heartbeat` (OpenClaw's summary: `every` is `disabled` when it does not run;
/// an agent without a heartbeat of its own shows the shared settings, off).
struct HeartbeatHealth<'a> {
    view: Option<&'a HeartbeatView>,
    /// It runs as this agent.
    runs: bool,
}

impl Serialize for HeartbeatHealth<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use crate::cron::heartbeat::{DEFAULT_ACK_MAX_CHARS, DEFAULT_PROMPT};
        let view = self.view;
        let every = view.and_then(|v| v.every_ms).filter(|_| self.runs);
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry(
            "ackMaxChars",
            &view.map_or(DEFAULT_ACK_MAX_CHARS, |v| v.ack_max_chars),
        )?;
        m.serialize_entry("enabled", &every.is_some())?;
        match every {
            Some(ms) => m.serialize_entry("every", &Every(ms))?,
            None => m.serialize_entry("every", "disabled")?,
        }
        m.serialize_entry("everyMs", &every)?;
        m.serialize_entry("prompt", view.map_or(DEFAULT_PROMPT, |v| v.prompt.as_str()))?;
        m.serialize_entry("target", view.map_or("none", |v| v.target.as_str()))?;
        m.end()
    }
}

/// An interval as OpenClaw's config writes it (`30m`, `1h`, `45s`, `1500ms`).
struct Every(u64);

impl Serialize for Every {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ms = self.0;
        match ms {
            0 => s.serialize_str("0ms"),
            _ if ms.is_multiple_of(3_600_000) => {
                s.collect_str(&format_args!("{}h", ms / 3_600_000))
            }
            _ if ms.is_multiple_of(60_000) => s.collect_str(&format_args!("{}m", ms / 60_000)),
            _ if ms.is_multiple_of(1000) => s.collect_str(&format_args!("{}s", ms / 1000)),
            _ => s.collect_str(&format_args!("{ms}ms")),
        }
    }
}

/// `health.sessions` and each agent's `sessions`.
pub struct AgentSessionsHealth<'a> {
    /// `None`: paths relative to the state directory.
    state_dir: Option<&'a str>,
    agent: &'a str,
    sessions: Option<&'a AgentSessions>,
    /// Recent session keys may be listed.
    recent: bool,
    ts: u64,
}

impl<'a> AgentSessionsHealth<'a> {
    fn of(snap: &'a HealthSnapshot, agent: &'a str, ts: u64) -> Self {
        Self {
            state_dir: snap.audience.paths.then_some(&*snap.state_dir),
            agent,
            sessions: snap.sessions.get(agent),
            recent: snap.audience.recent,
            ts,
        }
    }
}

impl Serialize for AgentSessionsHealth<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("count", &self.sessions.map_or(0, |x| x.count))?;
        m.serialize_entry(
            "path",
            &Path {
                state_dir: self.state_dir,
                agent: self.agent,
            },
        )?;
        m.serialize_entry(
            "recent",
            &Recent {
                rows: self
                    .sessions
                    .filter(|_| self.recent)
                    .map_or(&[][..], |x| &x.recent[..]),
                ts: self.ts,
            },
        )?;
        m.end()
    }
}

/// An agent's session index path, written without building the string.
struct Path<'a> {
    state_dir: Option<&'a str>,
    agent: &'a str,
}

impl Serialize for Path<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.state_dir {
            Some(dir) => s.collect_str(&format_args!(
                "{dir}/agents/{}/sessions/sessions.json",
                self.agent
            )),
            None => s.collect_str(&format_args!(
                "agents/{}/sessions/sessions.json",
                self.agent
            )),
        }
    }
}

/// `recent`: `{age, key, updatedAt}` rows.
struct Recent<'a> {
    rows: &'a [(String, u64)],
    ts: u64,
}

impl Serialize for Recent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for (key, at) in self.rows {
            seq.serialize_element(&RecentRow {
                age: self.ts.saturating_sub(*at),
                key,
                updated_at: *at,
            })?;
        }
        seq.end()
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RecentRow<'a> {
    age: u64,
    key: &'a str,
    updated_at: u64,
}

/// `{}`.
pub struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::AgentDef;
    use crate::workspace::WorkspaceSettings;
    use serde_json::json;

    fn agent(id: &str, name: Option<&str>) -> AgentDef {
        AgentDef {
            id: id.into(),
            name: name.map(str::to_owned),
            identity_name: None,
            workspace: Arc::new(WorkspaceSettings::new(format!("/w/{id}").into())),
            tools: Arc::default(),
            model: None,
            thinking: None,
            subagents: None,
            mentions: Default::default(),
        }
    }

    fn heartbeat(every_ms: Option<u64>) -> HeartbeatView {
        HeartbeatView {
            agent: None,
            every_ms,
            prompt: "Read \"HEARTBEAT.md\"".into(),
            target: "last".into(),
            ack_max_chars: 300,
        }
    }

    /// `snap`'s summary as JSON, at ts 1000.
    fn summary(snap: &HealthSnapshot) -> serde_json::Value {
        let gateway = HealthGateway {
            bind: "loopback",
            port: 1,
            uptime_ms: 2,
            version: "0",
        };
        serde_json::to_value(HealthSummary::new(gateway, snap, 1000)).expect("json")
    }

    #[test]
    fn health_summary_writes_openclaws_object() {
        let single = Arc::new(Roster::single(
            Arc::new(WorkspaceSettings::default()),
            Arc::default(),
        ));
        let mut main = AgentSessions::default();
        main.add("agent:main:main", 1_795_999_990_000);
        let sessions: SessionsView = [("main".to_owned(), main)].into();
        for (dir, version, bind) in [
            ("/var/lib/openclaw", "0.1.0", "loopback"),
            ("/tmp/a \"quoted\" dir/ü", "1.2.3-rc.1", "lan"),
        ] {
            let gateway = HealthGateway {
                bind,
                port: 18789,
                uptime_ms: 1234,
                version,
            };
            let snap = HealthSnapshot::fixed(
                dir,
                single.clone(),
                sessions.clone(),
                vec![heartbeat(Some(1_800_000))],
            );
            let typed = HealthSummary::new(gateway, &snap, 1_796_000_000_000);
            let sessions = json!({
                "path": format!("{dir}/agents/main/sessions/sessions.json"),
                "count": 1,
                "recent": [{"key": "agent:main:main", "updatedAt": 1_795_999_990_000u64, "age": 10_000}],
            });
            // OpenClaw's object (its captured `health`), key for key.
            let reference = json!({
                "ok": true,
                "ts": 1_796_000_000_000u64,
                "durationMs": 0,
                "channels": {},
                "channelOrder": [],
                "channelLabels": {},
                "heartbeatSeconds": 1800,
                "defaultAgentId": "main",
                "agents": [{
                    "agentId": "main",
                    "isDefault": true,
                    "heartbeat": {
                        "enabled": true,
                        "every": "30m",
                        "everyMs": 1_800_000,
                        "prompt": "Read \"HEARTBEAT.md\"",
                        "target": "last",
                        "ackMaxChars": 300,
                    },
                    "sessions": sessions,
                }],
                "sessions": sessions,
                "gateway": {
                    "version": version,
                    "uptimeMs": 1234,
                    "port": 18789,
                    "bind": bind,
                },
            });
            assert_eq!(
                serde_json::to_string(&typed).expect("serializes"),
                reference.to_string()
            );
        }
    }

    #[test]
    fn every_agent_is_listed_and_the_heartbeat_is_the_default_agents() {
        let roster = Roster::new(
            vec![agent("home", None), agent("work", Some("Work"))],
            Some("work".into()),
            Vec::new(),
        )
        .expect("valid");
        let mut work = AgentSessions::default();
        for (i, key) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
            work.add(&format!("agent:work:{key}"), 100 + i as u64);
        }
        work.add("agent:work:old", 1);
        let snap = HealthSnapshot::fixed(
            "/s",
            Arc::new(roster),
            [("work".to_owned(), work)].into(),
            vec![heartbeat(Some(90_000))],
        );
        let v = summary(&snap);
        assert_eq!(v["defaultAgentId"], "work");
        assert_eq!(v["heartbeatSeconds"], 90);
        let agents = v["agents"].as_array().expect("agents");
        assert_eq!(agents.len(), 2);
        assert_eq!(agents[0]["agentId"], "home");
        assert_eq!(agents[0]["isDefault"], false);
        assert!(agents[0].get("name").is_none());
        assert_eq!(
            agents[0]["heartbeat"],
            json!({"ackMaxChars": 300, "enabled": false, "every": "disabled", "everyMs": null,
                "prompt": "Read \"HEARTBEAT.md\"", "target": "last"})
        );
        assert_eq!(
            agents[0]["sessions"],
            json!({"count": 0, "path": "/s/agents/home/sessions/sessions.json", "recent": []})
        );
        assert_eq!(agents[1]["name"], "Work");
        assert_eq!(agents[1]["heartbeat"]["every"], "90s");
        assert_eq!(agents[1]["sessions"]["count"], 8);
        let recent: Vec<&str> = agents[1]["sessions"]["recent"]
            .as_array()
            .expect("recent")
            .iter()
            .filter_map(|r| r["key"].as_str())
            .collect();
        assert_eq!(
            recent,
            [
                "agent:work:g",
                "agent:work:f",
                "agent:work:e",
                "agent:work:d",
                "agent:work:c"
            ]
        );
        assert_eq!(v["sessions"], agents[1]["sessions"]);
        // Off: no interval anywhere.
        let off = HealthSnapshot::fixed(
            "/s",
            snap.roster.clone(),
            SessionsView::new(),
            vec![heartbeat(None)],
        );
        let v = summary(&off);
        assert_eq!(v["heartbeatSeconds"], 0);
        assert_eq!(v["agents"][1]["heartbeat"]["enabled"], false);
        assert_eq!(v["agents"][1]["heartbeat"]["every"], "disabled");
    }

    #[test]
    fn agents_with_their_own_heartbeat_are_the_ones_shown_running() {
        let roster = Roster::new(
            vec![agent("home", None), agent("work", None)],
            Some("home".into()),
            Vec::new(),
        )
        .expect("valid");
        let work = HeartbeatView {
            agent: Some("work".into()),
            ..heartbeat(Some(3_600_000))
        };
        let snap = HealthSnapshot::fixed("/s", Arc::new(roster), SessionsView::new(), vec![work]);
        let v = summary(&snap);
        assert_eq!(v["heartbeatSeconds"], 3600, "{v}");
        assert_eq!(v["agents"][0]["agentId"], "home");
        assert_eq!(
            v["agents"][0]["heartbeat"],
            json!({"ackMaxChars": 300, "enabled": false, "every": "disabled", "everyMs": null,
                "prompt": crate::cron::heartbeat::DEFAULT_PROMPT, "target": "none"})
        );
        assert_eq!(v["agents"][1]["heartbeat"]["every"], "1h");
        assert_eq!(v["agents"][1]["heartbeat"]["enabled"], true);
    }

    #[test]
    fn paths_are_for_admins_and_recent_keys_for_readers() {
        let single = Arc::new(Roster::single(
            Arc::new(WorkspaceSettings::default()),
            Arc::default(),
        ));
        let mut main = AgentSessions::default();
        main.add("agent:main:telegram:direct:4242", 900);
        let mut snap = HealthSnapshot::fixed(
            "/srv/state",
            single,
            [("main".to_owned(), main)].into(),
            vec![heartbeat(None)],
        );
        let scopes = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        for (audience, path, recent) in [
            (
                HealthAudience::of(true, &scopes(&["operator.admin"])),
                "/srv/state/agents/main/sessions/sessions.json",
                1,
            ),
            (
                HealthAudience::of(true, &scopes(&["operator.read"])),
                "agents/main/sessions/sessions.json",
                1,
            ),
            (
                HealthAudience::of(true, &scopes(&["operator.write"])),
                "agents/main/sessions/sessions.json",
                1,
            ),
            (
                HealthAudience::of(true, &scopes(&["operator.pairing"])),
                "agents/main/sessions/sessions.json",
                0,
            ),
            (
                // A node, even one claiming operator scopes.
                HealthAudience::of(false, &scopes(&["operator.admin"])),
                "agents/main/sessions/sessions.json",
                0,
            ),
        ] {
            snap.audience = audience;
            let v = summary(&snap);
            for s in [&v["sessions"], &v["agents"][0]["sessions"]] {
                assert_eq!(s["path"], path, "{audience:?}");
                assert_eq!(s["count"], 1, "{audience:?}");
                assert_eq!(
                    s["recent"].as_array().map(Vec::len),
                    Some(recent),
                    "{audience:?}"
                );
            }
        }
    }

    #[test]
    fn intervals_are_written_as_openclaw_configs_write_them() {
        for (ms, want) in [
            (1_800_000, "30m"),
            (3_600_000, "1h"),
            (7_200_000, "2h"),
            (45_000, "45s"),
            (1500, "1500ms"),
            (5_400_000, "90m"),
        ] {
            assert_eq!(serde_json::to_value(Every(ms)).expect("json"), want);
        }
    }
}
