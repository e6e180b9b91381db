//! Where a connection comes from ([`PeerInfo`], worked out by the HTTP layer).

use std::net::IpAddr;

use crate::auth::{AuthScope, ClientKey, LimiterKey};

/// Where a connection comes from, as worked out by the HTTP layer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Client IP (the TCP peer, or the forwarded client behind a trusted proxy; `0.0.0.0`
    /// when the peer address is unknown).
    pub ip: IpAddr,
    /// A direct loopback peer with no proxy headers (this includes SSH port-forwards).
    pub is_local: bool,
    /// The `Host` header names a loopback or private host.
    pub local_host: bool,
    /// The browser `Origin` header, if any.
    pub origin: Option<String>,
    /// `false` when a browser `Origin` header names a host we do not allow.
    pub origin_allowed: bool,
    /// A Tailscale Serve identity, set only for requests on the gateway's dedicated Serve
    /// listener that carried identity headers (spec §5.10); `None` everywhere else.
    pub tailscale: Option<TailscaleIdentity>,
}

/// The outcome of checking a request's Tailscale identity headers with tailscaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailscaleIdentity {
    /// `tailscale whois` named the same login as the `tailscale-user-login` header.
    Verified {
        /// The login (as the header wrote it).
        login: String,
    },
    /// The headers could not be verified; the reason goes into the auth failure.
    Unverified {
        /// `tailscale_whois_failed`, `tailscale_user_mismatch`, …
        reason: &'static str,
    },
}

impl PeerInfo {
    /// The limiter bucket for failures of `scope` from this client: a truly local CLI by
    /// address (exempt), a browser page on loopback by origin, anyone else by address.
    pub fn limiter_key(&self, scope: AuthScope) -> LimiterKey {
        LimiterKey {
            client: ClientKey::for_client(self.ip, self.is_local, self.origin.as_deref()),
            scope,
        }
    }

    /// §5.9 locality for silent pairing approval: a direct loopback peer without proxy
    /// headers whose `Host` is loopback/private; a browser page only for the Control UI or
    /// webchat clients.
    pub fn local_for_pairing(&self, client_id: &str, client_mode: &str) -> bool {
        let browser_ok = self.origin.is_none()
            || matches!(client_id, "openclaw-control-ui" | "webchat-ui" | "webchat")
            || client_mode == "webchat";
        self.is_local && self.local_host && browser_ok
    }

    /// The verified Tailscale login, if any.
    pub fn tailscale_login(&self) -> Option<&str> {
        match &self.tailscale {
            Some(TailscaleIdentity::Verified { login }) => Some(login),
            _ => None,
        }
    }

    /// A local CLI for the device-less scope rule: local, and not a browser.
    pub(crate) fn local_cli(&self) -> bool {
        self.is_local && self.origin.is_none()
    }
}
