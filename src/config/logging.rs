//! `logging` (OpenClaw's keys `file`, `level`, `maxFileBytes`, `audit`).

use serde::{Deserialize, Serialize};

/// `logging`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggingCfg {
    /// The rolling file log: a path (relative paths are in the state dir). Unset: no file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Level of the file log and of `logs.tail` (`silent`, `error`, `warn`, `info`
    /// (default), `debug`, `trace`). Stderr follows `RUST_LOG`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Rotate the file log at this size (default 10 MB); five archives are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_bytes: Option<u64>,
    /// The audit ledger (`logging.audit.enabled`, `.messages`, `.executionIdentity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditCfg>,
}

/// `logging.audit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditCfg {
    /// Record new run and tool events (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Chat message records: `off` (default), `direct`, `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<String>,
    /// OpenClaw's execution identity contexts: accepted, not collected here (see the
    /// README's Audit section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_identity: Option<bool>,
}

impl LoggingCfg {
    /// `logging.audit` resolved; `Err` names the bad key.
    pub fn audit_settings(&self) -> Result<openclaw_actors::audit::AuditSettings, String> {
        use openclaw_actors::audit::{AuditSettings, MessageMode};
        let Some(a) = &self.audit else {
            return Ok(AuditSettings::default());
        };
        let messages = match a.messages.as_deref() {
            None => MessageMode::Off,
            Some(m) => MessageMode::parse(m.trim()).ok_or_else(|| {
                let shown: String = m.chars().take(40).collect();
                format!(
                    "logging.audit.messages {shown:?} is not a mode. Fix: use \"off\", \"direct\" or \"all\""
                )
            })?,
        };
        Ok(AuditSettings {
            enabled: a.enabled != Some(false),
            messages,
        })
    }

    /// The resolved settings; `Err` names the bad key.
    pub fn resolve(&self, state_dir: &std::path::Path) -> Result<crate::logging::Settings, String> {
        let level = match self.level.as_deref() {
            None => log::LevelFilter::Info,
            Some(l) => crate::logging::parse_level(l).ok_or_else(|| {
                format!(
                    "logging.level {l:?} is not a level. Fix: use one of silent, error, warn, info, debug, trace"
                )
            })?,
        };
        let file = self
            .file
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| state_dir.join(f));
        Ok(crate::logging::Settings {
            file,
            max_file_bytes: self
                .max_file_bytes
                .unwrap_or(crate::logging::DEFAULT_MAX_FILE_BYTES),
            level,
        })
    }
}
