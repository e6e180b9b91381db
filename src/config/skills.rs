//! `skills` (OpenClaw's skills config): `load.extraDirs` (more skill directories, lowest
//! precedence), `load.watch` (on by default: runs reuse what they read of the skills and
//! bootstrap files while an inotify watcher sees no change, see
//! `openclaw_actors::workspace::watch`; `false`: every run reads them), `entries.<skillKey>`
//! (`enabled`, `env`, `apiKey`); `allowBundled`, `load.watchDebounceMs` and `install` are
//! accepted and have nothing to do here (no skills are bundled, the watcher's events are
//! taken when a run starts, so there is nothing to debounce, and this gateway installs
//! nothing). See `openclaw_actors::workspace::skills` for how skills are found and judged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use openclaw_actors::workspace::skills::{EntrySettings, MAX_EXTRA_DIRS, SkillSettings};

/// `skills`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillsCfg {
    /// OpenClaw's allowlist of bundled skills (none are bundled here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_bundled: Option<Vec<String>>,
    /// `skills.load`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<SkillsLoadCfg>,
    /// OpenClaw's installer preferences (this gateway installs nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Value>,
    /// `skills.entries.<skillKey>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<BTreeMap<String, SkillEntryCfg>>,
}

/// `skills.load`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillsLoadCfg {
    /// More skill directories (absolute or `~/`), lowest precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_dirs: Option<Vec<String>>,
    /// The watcher (default on): `false` makes every run read the skills and bootstrap
    /// files afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<bool>,
    /// OpenClaw's watcher debounce (nothing to debounce here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_debounce_ms: Option<u64>,
}

/// `skills.entries.<skillKey>`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillEntryCfg {
    /// `false` turns the skill off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The value of the skill's `primaryEnv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Variables for the agent's commands while the skill is eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// The skill's own settings (read by the skill's scripts, not by the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
}

impl std::fmt::Debug for SkillEntryCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkillEntryCfg")
            .field("enabled", &self.enabled)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field(
                "env",
                &self.env.as_ref().map(|e| e.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

impl SkillsCfg {
    /// The settings the agents' runs use; `Err` names the key and the fix. `managed` is
    /// `<state>/skills`, `home` expands `~/`, `env_names` are the variables of
    /// `<state>/.env` and `env.vars`, `config` the whole config (for `requires.config`).
    pub fn settings(
        &self,
        managed: &Path,
        home: Option<&Path>,
        env_names: impl IntoIterator<Item = String>,
        config: &Value,
    ) -> Result<SkillSettings, String> {
        let mut extra_dirs: Vec<PathBuf> = Vec::new();
        let dirs = self
            .load
            .as_ref()
            .and_then(|l| l.extra_dirs.as_deref())
            .unwrap_or_default();
        if dirs.len() > MAX_EXTRA_DIRS {
            return Err(format!(
                "skills.load.extraDirs lists {} directories. Fix: list at most {MAX_EXTRA_DIRS}",
                dirs.len()
            ));
        }
        for (i, d) in dirs.iter().enumerate() {
            let key = format!("skills.load.extraDirs[{i}]");
            let d = d.trim();
            if d.is_empty() {
                return Err(format!(
                    "{key} is empty. Fix: name a directory of skills, e.g. \"~/my-skills\""
                ));
            }
            let dir = super::agents::absolute_dir(d, &key, home)?;
            if !extra_dirs.contains(&dir) {
                extra_dirs.push(dir);
            }
        }
        let mut entries = BTreeMap::new();
        for (k, e) in self.entries.iter().flatten() {
            let key = format!("skills.entries.{k}");
            let mut env = BTreeMap::new();
            for (name, value) in e.env.iter().flatten() {
                if !openclaw_actors::exec_tool::valid_env_name(name) {
                    return Err(format!(
                        "{key}.env has the variable {:?}, which is not a variable name. Fix: use letters, digits and _ (e.g. \"GEMINI_API_KEY\")",
                        name.chars().take(80).collect::<String>()
                    ));
                }
                if openclaw_actors::exec_tool::forbidden_env(name) {
                    return Err(format!(
                        "{key}.env sets {name}, which commands may not be given (PATH, loader and shell start-up variables). Fix: remove it"
                    ));
                }
                if value.contains('\0') {
                    return Err(format!(
                        "{key}.env.{name} contains a NUL byte. Fix: remove it"
                    ));
                }
                env.insert(name.clone(), value.clone());
            }
            entries.insert(
                k.clone(),
                EntrySettings {
                    enabled: e.enabled,
                    env,
                    api_key: e.api_key.clone().filter(|k| !k.trim().is_empty()),
                },
            );
        }
        Ok(SkillSettings {
            extra_dirs,
            managed_dir: Some(managed.to_path_buf()),
            entries,
            env_names: env_names.into_iter().collect(),
            truthy_config: openclaw_actors::workspace::skills::truthy_paths(config),
            watch: self.load.as_ref().and_then(|l| l.watch).unwrap_or(true),
        })
    }

    /// The secrets of `skills.entries` (`apiKey`, and `env` values whose name says it holds
    /// one: `*_KEY`, `*TOKEN`, `*PASSWORD`, `*SECRET`), for the log redactor and the
    /// command output's.
    pub fn secrets(&self) -> Vec<String> {
        let mut v = Vec::new();
        for e in self.entries.iter().flat_map(|m| m.values()) {
            v.extend(e.api_key.iter().cloned());
            v.extend(
                e.env
                    .iter()
                    .flatten()
                    .filter(|(k, _)| {
                        super::rpc::is_secret_key(k) || k.to_ascii_uppercase().ends_with("_KEY")
                    })
                    .map(|(_, x)| x.clone()),
            );
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> SkillsCfg {
        serde_json::from_value(v).expect("skills cfg")
    }

    #[test]
    fn settings_expand_dirs_and_keep_entries() {
        let c = cfg(json!({
            "allowBundled": ["gemini"],
            "load": {"extraDirs": ["~/packs", "/opt/skills", "/opt/skills"], "watch": true},
            "entries": {"wx": {"enabled": true, "apiKey": "k-1", "env": {"WX_REGION": "eu", "WX_TOKEN": "t-2", "WX_KEY": "k-3"}}, "off": {"enabled": false}},
        }));
        let s = c
            .settings(
                Path::new("/st/skills"),
                Some(Path::new("/home/u")),
                ["DOT".to_owned()],
                &json!({"tools": {"on": true}}),
            )
            .expect("ok");
        assert_eq!(
            s.extra_dirs,
            [PathBuf::from("/home/u/packs"), PathBuf::from("/opt/skills")]
        );
        assert_eq!(s.managed_dir.as_deref(), Some(Path::new("/st/skills")));
        assert_eq!(s.entries["wx"].api_key.as_deref(), Some("k-1"));
        assert_eq!(s.entries["off"].enabled, Some(false));
        assert!(s.env_names.contains("DOT") && s.truthy_config.contains("tools.on"));
        let mut secrets = c.secrets();
        secrets.sort();
        assert_eq!(secrets, ["k-1", "k-3", "t-2"]);
        assert!(!format!("{c:?}").contains("k-1"), "{c:?}");
        assert!(s.watch);
        // The watcher is on unless turned off.
        let watch_of = |c: SkillsCfg| {
            c.settings(Path::new("/st/skills"), None, [], &json!({}))
                .expect("ok")
                .watch
        };
        assert!(watch_of(cfg(json!({}))));
        assert!(!watch_of(cfg(json!({"load": {"watch": false}}))));
    }

    #[test]
    fn bad_skills_config_names_the_key() {
        let home = Some(Path::new("/home/u"));
        for (v, want) in [
            (
                json!({"load": {"extraDirs": ["relative/dir"]}}),
                "skills.load.extraDirs[0]",
            ),
            (
                json!({"load": {"extraDirs": ["  "]}}),
                "skills.load.extraDirs[0] is empty",
            ),
            (
                json!({"entries": {"x": {"env": {"A-B": "1"}}}}),
                "skills.entries.x.env has the variable \"A-B\"",
            ),
            (
                json!({"entries": {"x": {"env": {"LD_PRELOAD": "/x.so"}}}}),
                "skills.entries.x.env sets LD_PRELOAD",
            ),
            (
                json!({"entries": {"x": {"env": {"PATH": "/tmp"}}}}),
                "sets PATH",
            ),
        ] {
            let e = cfg(v.clone())
                .settings(Path::new("/s"), home, [], &json!({}))
                .expect_err("refused");
            assert!(e.contains(want) && e.contains("Fix:"), "{v}: {e}");
        }
        let many: Vec<String> = (0..=MAX_EXTRA_DIRS).map(|i| format!("/d{i}")).collect();
        let e = cfg(json!({"load": {"extraDirs": many}}))
            .settings(Path::new("/s"), home, [], &json!({}))
            .expect_err("too many");
        assert!(e.contains("at most"), "{e}");
    }
}
