//! `gateway.limits`: the memory ceiling — how many sockets the gateway holds at once, in all
//! and per client address. OpenClaw has no such keys (its only cap is the per-IP count of
//! unauthenticated sockets, 32, which we apply too); these are ours, named after OpenClaw's
//! `streaming.maxConnections` / `maxConnectionsPerIp` style.
//!
//! ```json5
//! { gateway: { limits: { maxConnections: 10000, maxConnectionsPerIp: 2500,
//!                        maxPreauthConnections: 1024 } } }
//! ```
//!
//! `maxPreauthConnections` bounds the sockets still in their handshake, in all (OpenClaw
//! bounds them only per client address, 32 each): a storm of reconnecting clients, or a
//! flood from many addresses, is answered with HTTP 503 and `Retry-After: 1` beyond it
//! instead of holding every half-open handshake for the 15 s handshake timeout.

use serde::{Deserialize, Serialize};

/// Default `gateway.limits.maxConnections`: at ≈ 70 KB per idle connection about 700 MB,
/// and below a typical `ulimit -n` raised for a server.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;
/// Default `gateway.limits.maxConnectionsPerIp`: a quarter of the total, so one address
/// (or one NAT) cannot take every slot.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u32 = 2_500;
/// Default `gateway.limits.maxPreauthConnections`.
pub const DEFAULT_MAX_PREAUTH_CONNECTIONS: u32 =
    openclaw_actors::engine::DEFAULT_MAX_PREAUTH_SOCKETS as u32;

/// `gateway.limits`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitsCfg {
    /// Open connections (every accepted TCP/TLS socket, WebSocket or plain HTTP) above which
    /// WebSocket upgrades are refused with HTTP 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// WebSockets per client address (as attributed, behind a trusted proxy the forwarded
    /// client) above which upgrades are refused with HTTP 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections_per_ip: Option<u32>,
    /// Sockets still in their handshake (not yet authenticated), in all, above which
    /// upgrades are refused with HTTP 503 and `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_preauth_connections: Option<u32>,
}

/// The resolved limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// `gateway.limits.maxConnections`.
    pub max_connections: usize,
    /// `gateway.limits.maxConnectionsPerIp`.
    pub max_connections_per_ip: usize,
    /// `gateway.limits.maxPreauthConnections`.
    pub max_preauth_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP as usize,
            max_preauth_connections: DEFAULT_MAX_PREAUTH_CONNECTIONS as usize,
        }
    }
}

impl LimitsCfg {
    /// Defaults filled in; `Err` (a start-up refusal) names the bad key and the fix.
    pub fn resolve(&self) -> Result<ConnLimits, String> {
        let total = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        let per_ip = self
            .max_connections_per_ip
            .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_IP);
        if total == 0 {
            return Err("gateway.limits.maxConnections is 0, so no client could ever connect. Fix: set it to at least 1 (default 10000)".into());
        }
        if per_ip == 0 {
            return Err("gateway.limits.maxConnectionsPerIp is 0, so no client could ever connect. Fix: set it to at least 1 (default 2500)".into());
        }
        let preauth = self
            .max_preauth_connections
            .unwrap_or(DEFAULT_MAX_PREAUTH_CONNECTIONS);
        if preauth == 0 {
            return Err("gateway.limits.maxPreauthConnections is 0, so no client could ever complete a handshake. Fix: set it to at least 1 (default 1024)".into());
        }
        Ok(ConnLimits {
            max_connections: total as usize,
            max_connections_per_ip: per_ip.min(total) as usize,
            max_preauth_connections: preauth.min(total) as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(LimitsCfg::default().resolve(), Ok(ConnLimits::default()));
        let small = LimitsCfg {
            max_connections: Some(100),
            ..LimitsCfg::default()
        };
        assert_eq!(
            small.resolve(),
            Ok(ConnLimits {
                max_connections: 100,
                max_connections_per_ip: 100,
                max_preauth_connections: 100,
            })
        );
        let all = LimitsCfg {
            max_connections: Some(20_000),
            max_connections_per_ip: Some(16_000),
            max_preauth_connections: Some(3_000),
        };
        assert_eq!(
            all.resolve(),
            Ok(ConnLimits {
                max_connections: 20_000,
                max_connections_per_ip: 16_000,
                max_preauth_connections: 3_000,
            })
        );
    }

    #[test]
    fn zero_is_refused_naming_the_key() {
        let e = LimitsCfg {
            max_connections: Some(0),
            ..LimitsCfg::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.starts_with("gateway.limits.maxConnections is 0"), "{e}");
        let e = LimitsCfg {
            max_connections_per_ip: Some(0),
            ..LimitsCfg::default()
        }
        .resolve()
        .unwrap_err();
        assert!(
            e.starts_with("gateway.limits.maxConnectionsPerIp is 0"),
            "{e}"
        );
        let e = LimitsCfg {
            max_preauth_connections: Some(0),
            ..LimitsCfg::default()
        }
        .resolve()
        .unwrap_err();
        assert!(
            e.starts_with("gateway.limits.maxPreauthConnections is 0"),
            "{e}"
        );
    }

    #[test]
    fn keys_are_camel_case() {
        let v: LimitsCfg = serde_json::from_str(
            r#"{"maxConnections": 5, "maxConnectionsPerIp": 2, "maxPreauthConnections": 3}"#,
        )
        .expect("parses");
        assert_eq!(v.max_connections, Some(5));
        assert_eq!(v.max_connections_per_ip, Some(2));
        assert_eq!(v.max_preauth_connections, Some(3));
    }
}
