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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{FlagOverrides, load};

    #[test]
    fn tailscale_and_control_ui_keys_are_known() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("openclaw.json");
        std::fs::write(
            &file,
            "{gateway: {tailscale: {mode: 'serve', binary: '/opt/ts/tailscale', socket: '/run/ts.sock', httpsPort: 8443}, auth: {allowTailscale: false}, controlUi: {enabled: false, basePath: '/openclaw'}}}",
        )
        .expect("write");
        let env: BTreeMap<String, String> = BTreeMap::new();
        let l = load(Some(&file), &env, &FlagOverrides::default()).expect("load");
        assert!(l.unknown_keys.is_empty(), "{:?}", l.unknown_keys);
        let ts = &l.config.gateway.tailscale;
        assert_eq!(ts.mode, Some(TailscaleMode::Serve));
        assert_eq!(ts.binary.as_deref(), Some("/opt/ts/tailscale"));
        assert_eq!(ts.socket.as_deref(), Some("/run/ts.sock"));
        assert_eq!(ts.https_port, Some(8443));
        assert_eq!(l.config.gateway.auth.allow_tailscale, Some(false));
        assert_eq!(l.config.gateway.control_ui.enabled, Some(false));
        assert_eq!(
            l.config.gateway.control_ui.base_path.as_deref(),
            Some("/openclaw")
        );
    }

    #[test]
    fn an_unknown_mode_is_a_config_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("openclaw.json");
        std::fs::write(&file, "{gateway: {tailscale: {mode: 'public'}}}").expect("write");
        let env: BTreeMap<String, String> = BTreeMap::new();
        let err = load(Some(&file), &env, &FlagOverrides::default())
            .expect_err("bad mode")
            .to_string();
        assert!(err.contains("gateway.tailscale.mode"), "{err}");
    }
}
