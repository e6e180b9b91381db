//! The `hello-ok` payload as typed structs, serialized straight into the response frame
//! (no `serde_json::Value` tree: the presence entries and the policy are written from where
//! they live, and the method and event lists, the same in every hello, are serialized once:
//! [`Features::to_json`]). Every struct lists its fields in the order of the wire
//! object's keys — alphabetical, as the `json!` objects they replaced wrote them — and the
//! wire test below compares the bytes with those objects.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use super::frame::StateVersion;
use super::health::HealthSummary;
use super::role::Role;
use crate::registry::presence::PresenceEntry;

/// `hello-ok` (the `connect` response payload).
#[derive(Serialize)]
pub struct HelloOk<'a> {
    /// What the client authenticated as.
    pub auth: HelloAuth<'a>,
    /// Methods and events this gateway implements: the same in every hello, so written
    /// once ([`Features::to_json`]) and copied in.
    pub features: &'a RawValue,
    /// Limits the client must respect.
    pub policy: Policy,
    /// The protocol version spoken.
    pub protocol: u64,
    /// This server and connection.
    pub server: Server<'a>,
    /// Presence, health and defaults at hello time.
    pub snapshot: Snapshot<'a>,
    /// Always `hello-ok`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `hello-ok.auth`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloAuth<'a> {
    /// A device token issued at this connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<&'a str>,
    /// When it was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at_ms: Option<u64>,
    /// How the client authenticated (`token`, `password`, `device-token`, …).
    pub method: &'a str,
    /// The connection's role.
    pub role: Role,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// A setup code's other role tokens (the operator handoff), beside `device_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_tokens: Option<[HandoffToken<'a>; 1]>,
}

/// One entry of `hello-ok.auth.deviceTokens`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoffToken<'a> {
    /// The token.
    pub device_token: &'a str,
    /// Its role.
    pub role: &'a str,
    /// Its scopes.
    pub scopes: &'a [String],
    /// Issued.
    pub issued_at_ms: u64,
}

/// `hello-ok.features`.
#[derive(Clone, Copy, Serialize)]
pub struct Features {
    /// Events emitted.
    pub events: &'static [&'static str],
    /// Methods implemented.
    pub methods: &'static [&'static str],
    /// The contracts of OpenClaw's `GATEWAY_SERVER_CAPS` this gateway keeps (a client
    /// requires some before it calls a method: `openclaw models list` needs
    /// `published-model-catalog`).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub capabilities: &'static [&'static str],
}

impl Features {
    /// The object as JSON text, for [`HelloOk::features`].
    pub fn to_json(&self) -> Box<RawValue> {
        // Serializing string slices cannot fail (no maps with non-string keys, no I/O).
        serde_json::value::to_raw_value(self).expect("string lists serialize")
    }
}

/// `hello-ok.policy`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Outbound bytes queued before the connection is closed as a slow consumer.
    pub max_buffered_bytes: usize,
    /// Largest frame accepted.
    pub max_payload: usize,
    /// Interval of `tick` events.
    pub tick_interval_ms: u64,
}

/// `hello-ok.server`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server<'a> {
    /// Per-process boot id.
    pub boot_id: &'a str,
    /// This connection's id.
    pub conn_id: &'a str,
    /// Server version.
    pub version: &'a str,
}

/// `hello-ok.snapshot`. `authMode`, `configPath` and `stateDir` are shown to admins only.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot<'a> {
    /// The gateway's auth mode (admins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<&'a str>,
    /// The config file (admins, when there is one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// The `health` summary.
    pub health: HealthSummary<'a>,
    /// Presence entries, the gateway's own first.
    pub presence: &'a [Arc<PresenceEntry>],
    /// Default agent session.
    pub session_defaults: SessionDefaults,
    /// The state directory (admins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// Version counters, keys sorted (unlike the `stateVersion` of events).
    pub state_version: SortedStateVersion,
    /// Milliseconds since start.
    pub uptime_ms: u64,
}

/// `snapshot.sessionDefaults`: the default agent's (`main` without a roster).
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDefaults {
    /// The default agent (`main`).
    pub default_agent_id: std::sync::Arc<str>,
    /// `main`.
    pub main_key: &'static str,
    /// `agent:<default agent>:main`.
    pub main_session_key: String,
}

impl SessionDefaults {
    /// The defaults of the running gateway's default agent.
    pub fn now() -> Self {
        let id = crate::agents::default_id_now();
        Self {
            main_session_key: format!("agent:{id}:main"),
            default_agent_id: id,
            main_key: "main",
        }
    }
}

/// [`StateVersion`] with its keys in alphabetical order, as the snapshot object wrote it.
#[derive(Clone, Copy, Serialize)]
pub struct SortedStateVersion {
    /// Health version.
    pub health: u64,
    /// Presence version.
    pub presence: u64,
}

impl From<StateVersion> for SortedStateVersion {
    fn from(v: StateVersion) -> Self {
        Self {
            health: v.health,
            presence: v.presence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The `json!` builder the typed payload replaced (kept here as the reference).
    #[allow(clippy::too_many_arguments)]
    fn reference(
        h: &HelloOk<'_>,
        presence: &[Arc<PresenceEntry>],
        sv: StateVersion,
        admin: bool,
    ) -> Value {
        let mut snapshot = json!({
            "presence": presence,
            "health": h.snapshot.health,
            "stateVersion": sv,
            "uptimeMs": h.snapshot.uptime_ms,
            "sessionDefaults": {
                "defaultAgentId": "main",
                "mainKey": "main",
                "mainSessionKey": "agent:main:main",
            },
        });
        if admin {
            snapshot["authMode"] = json!(h.snapshot.auth_mode);
            snapshot["stateDir"] = json!(h.snapshot.state_dir);
            if let Some(p) = &h.snapshot.config_path {
                snapshot["configPath"] = json!(p);
            }
        }
        let mut hello = json!({
            "type": "hello-ok",
            "protocol": 4,
            "server": {
                "version": h.server.version,
                "connId": h.server.conn_id,
                "bootId": h.server.boot_id,
            },
            "features": {
                "methods": ["health", "node.invoke", "a\"b"],
                "events": ["connect.challenge", "tick"],
            },
            "snapshot": snapshot,
            "auth": { "role": h.auth.role, "scopes": h.auth.scopes, "method": h.auth.method },
            "policy": {
                "maxPayload": h.policy.max_payload,
                "maxBufferedBytes": h.policy.max_buffered_bytes,
                "tickIntervalMs": h.policy.tick_interval_ms,
            },
        });
        if let (Some(token), Some(at)) = (h.auth.device_token, h.auth.issued_at_ms) {
            hello["auth"]["deviceToken"] = json!(token);
            hello["auth"]["issuedAtMs"] = json!(at);
        }
        hello
    }

    #[test]
    fn hello_ok_writes_the_object_it_replaced() {
        let presence = vec![
            Arc::new(PresenceEntry {
                host: "gw \"host\"".into(),
                instance_id: "i-1".into(),
                mode: "gateway".into(),
                platform: "linux".into(),
                reason: "self".into(),
                text: "Gateway: gw".into(),
                ts: 1,
                version: "0.1.0".into(),
                ..Default::default()
            }),
            Arc::new(PresenceEntry {
                client_id: Some("cli".into()),
                device_id: Some("d1".into()),
                host: "h".into(),
                instance_id: "c1".into(),
                ip: Some("127.0.0.1".into()),
                mode: "ui".into(),
                online_since: Some(5),
                platform: "web".into(),
                reason: "connect".into(),
                roles: Some(["operator".into()]),
                scopes: Some(vec!["operator.read".into()]),
                text: "Client: h · mode ui".into(),
                ts: 5,
                version: "1".into(),
                ..Default::default()
            }),
        ];
        let sv = StateVersion {
            presence: 7,
            health: 2,
        };
        let scopes = vec!["operator.admin".to_owned(), "operator.read".to_owned()];
        let health_snapshot = crate::protocol::health::HealthSnapshot::fixed(
            "/s",
            std::sync::Arc::new(crate::agents::Roster::single(
                std::sync::Arc::default(),
                std::sync::Arc::default(),
            )),
            Default::default(),
            vec![crate::cron::heartbeat::HeartbeatSettings::default().view(true)],
        );
        let health = || {
            let gateway = crate::protocol::health::HealthGateway {
                bind: "loopback",
                port: 1,
                uptime_ms: 2,
                version: "0.1.0",
            };
            HealthSummary::new(gateway, &health_snapshot, 9)
        };
        let features = Features {
            events: &["connect.challenge", "tick"],
            methods: &["health", "node.invoke", "a\"b"],
            capabilities: &[],
        }
        .to_json();
        for (admin, issued, config) in [
            (false, None, None),
            (
                true,
                Some(("tok", 42)),
                Some("/etc/openclaw.json".to_owned()),
            ),
            (true, None, None),
        ] {
            let typed = HelloOk {
                auth: HelloAuth {
                    device_token: issued.map(|(t, _)| t),
                    issued_at_ms: issued.map(|(_, at)| at),
                    method: "token",
                    role: Role::Operator,
                    scopes: &scopes,
                    device_tokens: None,
                },
                features: &features,
                policy: Policy {
                    max_buffered_bytes: 50,
                    max_payload: 25,
                    tick_interval_ms: 30_000,
                },
                protocol: 4,
                server: Server {
                    boot_id: "b-1",
                    conn_id: "c-1",
                    version: "0.1.0",
                },
                snapshot: Snapshot {
                    auth_mode: admin.then_some("token"),
                    config_path: config.filter(|_| admin),
                    health: health(),
                    presence: &presence,
                    session_defaults: SessionDefaults::now(),
                    state_dir: admin.then(|| "/var/lib/openclaw".to_owned()),
                    state_version: sv.into(),
                    uptime_ms: 123,
                },
                kind: "hello-ok",
            };
            assert_eq!(
                serde_json::to_string(&typed).expect("serializes"),
                reference(&typed, &presence, sv, admin).to_string(),
                "admin {admin}, issued {issued:?}"
            );
        }
    }
}
