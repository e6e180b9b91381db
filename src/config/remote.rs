//! `gateway.remote` (what the CLI and node host use to reach a gateway on another host) and
//! the `--profile` / `--dev` state-dir selection.
//!
//! `gateway.remote` is client-side only: it never configures this host's gateway auth.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// `gateway.remote.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoteTransport {
    /// Connect to `gateway.remote.url` (ws/wss) directly.
    Direct,
    /// Open an SSH tunnel (`ssh -N -L`) to `gateway.remote.sshTarget` first.
    Ssh,
}

/// `gateway.remote.sshHostKeyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HostKeyPolicy {
    /// `-F none`, `BatchMode=yes`, `StrictHostKeyChecking=yes`, our own known-hosts file.
    #[default]
    Strict,
    /// The user's own ssh configuration decides.
    Openssh,
}

/// `gateway.remote`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteCfg {
    /// `ws://` or `wss://` URL (with `transport: "ssh"`: the local end of the tunnel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Token sent to the remote gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Password sent to the remote gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// SHA-256 of the remote gateway's leaf certificate (pins a `wss://` gateway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<String>,
    /// SPKI pins `sha256/<base64>` (openclaw-rs): survive re-issuing with the same key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_spki_pins: Vec<String>,
    /// `direct` or `ssh` (default: `ssh` when `sshTarget` is set and `url` is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<RemoteTransport>,
    /// `user@host[:port]` of the gateway host's sshd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_target: Option<String>,
    /// Private key for ssh (`-i`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_identity: Option<String>,
    /// The gateway's port on the ssh host (default: the port of `url`, else 18789).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u16>,
    /// `strict` (default) or `openssh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_host_key_policy: Option<HostKeyPolicy>,
    /// Known-hosts file under `strict` (default `$OPENCLAW_STATE_DIR/ssh/known_hosts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_known_hosts_file: Option<String>,
}

impl RemoteCfg {
    /// The effective transport.
    pub fn effective_transport(&self) -> RemoteTransport {
        match self.transport {
            Some(t) => t,
            None if self.ssh_target.is_some() && self.url.is_none() => RemoteTransport::Ssh,
            None => RemoteTransport::Direct,
        }
    }
}

impl std::fmt::Debug for RemoteCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCfg")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls_fingerprint", &self.tls_fingerprint)
            .field("tls_spki_pins", &self.tls_spki_pins)
            .field("transport", &self.transport)
            .field("ssh_target", &self.ssh_target)
            .field("ssh_identity", &self.ssh_identity)
            .field("remote_port", &self.remote_port)
            .field("ssh_host_key_policy", &self.ssh_host_key_policy)
            .field("ssh_known_hosts_file", &self.ssh_known_hosts_file)
            .finish()
    }
}

/// The port `--dev` gateways use by default.
pub const DEV_PORT: u16 = 19001;

/// A `--profile NAME` / `--dev` selection: state and config under `~/.openclaw-NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The name (`dev` for `--dev`).
    pub name: String,
    /// `--dev`: default port 19001.
    pub dev: bool,
}

static PROFILE: OnceLock<Profile> = OnceLock::new();

/// Validates a profile name: 1–64 of `[A-Za-z0-9_-]`, so it is one safe path component.
pub fn check_profile_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid profile name {name:?}. Fix: use 1-64 letters, digits, '-' or '_' (the state dir is ~/.openclaw-<name>)"
        ))
    }
}

/// Selects the process-wide profile (once, from `main` before anything reads the
/// environment). [`super::ProcessEnv`] then answers `OPENCLAW_STATE_DIR` (and for `--dev` a
/// default `OPENCLAW_GATEWAY_PORT`) from it.
pub fn select_profile(profile: Profile) -> Result<(), String> {
    check_profile_name(&profile.name)?;
    PROFILE
        .set(profile)
        .map_err(|_| "a profile was already selected".to_owned())
}

/// The selected profile, if any.
pub fn selected_profile() -> Option<&'static Profile> {
    PROFILE.get()
}

/// What the profile says about `key`, given the real environment `real` (OpenClaw's
/// `applyCliProfileEnv`: an explicit `OPENCLAW_STATE_DIR` is kept, otherwise the state dir
/// (and with it the default config file) is `~/.openclaw-<name>`; `--dev` sets the port only
/// when `OPENCLAW_GATEWAY_PORT` is not set).
pub fn profile_env(
    profile: &Profile,
    key: &str,
    real: &dyn Fn(&str) -> Option<String>,
) -> Option<Option<String>> {
    let dir = || {
        let home = real("OPENCLAW_HOME")
            .or_else(|| real("HOME"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        home.join(format!(".openclaw-{}", profile.name))
    };
    match key {
        "OPENCLAW_STATE_DIR" => {
            Some(real(key).or_else(|| Some(dir().to_string_lossy().into_owned())))
        }
        "OPENCLAW_PROFILE" => Some(Some(profile.name.clone())),
        "OPENCLAW_GATEWAY_PORT" if profile.dev => {
            Some(real(key).or_else(|| Some(DEV_PORT.to_string())))
        }
        _ => None,
    }
}

/// The environment as the selected profile shapes it (see [`profile_env`]).
pub fn env_with_profile(key: &str) -> Option<String> {
    let real = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match selected_profile().and_then(|p| profile_env(p, key, &real)) {
        Some(v) => v,
        None => real(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_are_one_safe_path_component() {
        for ok in ["work", "a-b_c", "dev", "X1"] {
            assert!(check_profile_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", ".", "a b", &"x".repeat(65)] {
            assert!(check_profile_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn profile_env_rules() {
        let real = |k: &str| (k == "HOME").then(|| "/home/u".to_owned());
        let work = Profile {
            name: "work".into(),
            dev: false,
        };
        assert_eq!(
            profile_env(&work, "OPENCLAW_STATE_DIR", &real),
            Some(Some("/home/u/.openclaw-work".into()))
        );
        // An explicit state dir is kept.
        let explicit = |k: &str| match k {
            "HOME" => Some("/home/u".to_owned()),
            "OPENCLAW_STATE_DIR" => Some("/elsewhere".to_owned()),
            _ => None,
        };
        assert_eq!(
            profile_env(&work, "OPENCLAW_STATE_DIR", &explicit),
            Some(Some("/elsewhere".into()))
        );
        assert_eq!(profile_env(&work, "OPENCLAW_GATEWAY_PORT", &real), None);
        let dev = Profile {
            name: "dev".into(),
            dev: true,
        };
        assert_eq!(
            profile_env(&dev, "OPENCLAW_GATEWAY_PORT", &real),
            Some(Some("19001".into()))
        );
        let with_port = |k: &str| (k == "OPENCLAW_GATEWAY_PORT").then(|| "5".to_owned());
        assert_eq!(
            profile_env(&dev, "OPENCLAW_GATEWAY_PORT", &with_port),
            Some(Some("5".into()))
        );
    }
}
