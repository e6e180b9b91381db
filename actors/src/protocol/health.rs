//! The `health` summary (`HealthSummary`: the fields `openclaw health` and `openclaw gateway
//! call health` read) as a typed struct, serialized straight into the response frame: it
//! goes into every `hello-ok` snapshot and every `health` answer, and building it as a
//! `serde_json::Value` tree cost a few dozen allocations each time. Fields are in the order
//! of the wire object's keys (alphabetical, as the `json!` object it replaced wrote them); the
//! wire test below compares the bytes with that object.

use serde::ser::{Serialize, SerializeMap as _, Serializer};

/// `health` without channel details (see [`crate::engine::Shared::health_summary`]).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthSummary<'a> {
    /// Agents (none listed).
    pub agents: [(); 0],
    /// Channel labels (filled in by the `health` method when channels are configured).
    pub channel_labels: EmptyObject,
    /// Channel order (idem).
    pub channel_order: [(); 0],
    /// Channels (idem).
    pub channels: EmptyObject,
    /// `main`.
    pub default_agent_id: std::sync::Arc<str>,
    /// How long gathering took (from memory: 0).
    pub duration_ms: u64,
    /// This gateway.
    pub gateway: HealthGateway<'a>,
    /// Heartbeat interval (none).
    pub heartbeat_seconds: u64,
    /// Always true: the gateway answered.
    pub ok: bool,
    /// The agent sessions.
    pub sessions: HealthSessions<'a>,
    /// When, in ms since the epoch.
    pub ts: u64,
}

impl<'a> HealthSummary<'a> {
    /// The summary for `gateway` with `count` agent sessions indexed at `sessions_path`, at
    /// `ts` (ms since the epoch).
    pub fn new(gateway: HealthGateway<'a>, count: usize, sessions_path: &'a str, ts: u64) -> Self {
        Self {
            agents: [],
            channel_labels: EmptyObject,
            channel_order: [],
            channels: EmptyObject,
            default_agent_id: crate::agents::default_id_now(),
            // Gathered from memory: nothing to wait for.
            duration_ms: 0,
            gateway,
            heartbeat_seconds: 0,
            ok: true,
            sessions: HealthSessions {
                count,
                path: sessions_path,
                recent: [],
            },
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

/// `health.sessions`.
#[derive(serde::Serialize)]
pub struct HealthSessions<'a> {
    /// How many agent sessions there are.
    pub count: usize,
    /// Where the sessions index lives.
    pub path: &'a str,
    /// Recent sessions (none listed).
    pub recent: [(); 0],
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
    use serde_json::json;

    #[test]
    fn health_summary_writes_the_object_it_replaced() {
        for (path, version, bind) in [
            (
                "/var/lib/openclaw/agents/main/sessions/sessions.json",
                "0.1.0",
                "loopback",
            ),
            ("/tmp/a \"quoted\" dir/ü/sessions.json", "1.2.3-rc.1", "lan"),
        ] {
            let gateway = HealthGateway {
                bind,
                port: 18789,
                uptime_ms: 1234,
                version,
            };
            let typed = HealthSummary::new(gateway, 3, path, 1_796_000_000_000);
            // The `json!` builder the typed summary replaced.
            let sessions = json!({"path": path, "count": 3, "recent": []});
            let reference = json!({
                "ok": true,
                "ts": 1_796_000_000_000u64,
                "durationMs": 0,
                "channels": {},
                "channelOrder": [],
                "channelLabels": {},
                "heartbeatSeconds": 0,
                "defaultAgentId": "main",
                "agents": [],
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
}
