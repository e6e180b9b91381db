//! `logging` (OpenClaw's keys `file`, `level`, `maxFileBytes`).

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
}

impl LoggingCfg {
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
