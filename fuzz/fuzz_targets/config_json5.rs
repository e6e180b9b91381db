//! The config file: any bytes as `openclaw.json` go through `config::load` (JSON5 syntax,
//! unknown keys, figment extraction into the typed config) and, when they load, through
//! what `gateway run` derives from them before binding (bind plan, auth settings, the agent
//! tool policy, the model plan with its fallbacks). `${VAR}` references and env SecretRefs
//! resolve against a small environment. Nothing may panic: bad files get a `ConfigError`
//! naming the problem.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openclaw::config::{self, FlagOverrides};

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("openclaw-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz temp dir");
        dir.join("openclaw.json")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).expect("write the fuzz config file");
    let mut env = BTreeMap::new();
    env.insert(
        "OPENCLAW_STATE_DIR".to_owned(),
        path.parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    env.insert("A_KEY".to_owned(), "sk-a".to_owned());
    env.insert("HOST".to_owned(), "h".to_owned());
    let Ok(loaded) = config::load(Some(path), &env, &FlagOverrides::default()) else {
        return;
    };
    let gw = &loaded.config.gateway;
    let _ = openclaw::gateway::plan_bind(gw.bind, gw.custom_bind_host.as_deref());
    let _ = openclaw::gateway::resolve_auth(&loaded);
    let _ = loaded.config.agents.defaults.tools.nodes.to_policy();
    let _ = config::models::plan(&loaded.config, &|k| env.get(k).cloned());
});
