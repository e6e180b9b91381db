//! `gateway.reload` (OpenClaw's keys): how the running gateway reacts to edits of its
//! config file.

use serde::{Deserialize, Serialize};

/// `gateway.reload.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReloadMode {
    /// Apply hot settings in place; restart in-process for listener changes (default).
    #[default]
    Hybrid,
    /// Keep watching and validating, apply nothing, log what would need a restart.
    Off,
}

impl ReloadMode {
    /// Config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hybrid => "hybrid",
            Self::Off => "off",
        }
    }
}

/// `gateway.reload`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadCfg {
    /// `hybrid` (default) or `off`.
    #[serde(default)]
    pub mode: ReloadMode,
}
