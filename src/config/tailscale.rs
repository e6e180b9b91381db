//! `gateway.tailscale`: Tailscale Serve / Funnel managed by the gateway (spec §5.10; see
//! `crate::tailscale`).

use serde::{Deserialize, Serialize};

/// `gateway.tailscale.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TailscaleMode {
    /// No Tailscale automation (default).
    #[default]
    Off,
    /// Tailnet-only HTTPS via `tailscale serve`; identity headers may authenticate operators.
    Serve,
    /// Public HTTPS via `tailscale funnel`; requires `gateway.auth.mode: "password"`.
    Funnel,
}

impl TailscaleMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Serve => "serve",
            Self::Funnel => "funnel",
        }
    }
}

/// `gateway.tailscale`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TailscaleCfg {
    /// `off` (default), `serve` or `funnel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TailscaleMode>,
    /// The `tailscale` CLI (default: `tailscale` on `PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// tailscaled's LocalAPI socket. When set, `whois` goes to the LocalAPI on this socket
    /// instead of running `tailscale whois --json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    /// HTTPS port Tailscale serves on (default 443; Funnel allows 443, 8443, 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_port: Option<u16>,
}
