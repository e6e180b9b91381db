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
    agents(&loaded);
    skills(&loaded);
    compaction(&loaded);
});

/// `agents.defaults.compaction` and the models' windows: accepted settings are in range,
/// refusals name the key and the fix.
fn compaction(loaded: &config::Loaded) {
    match loaded.config.agents.defaults.compaction_settings() {
        Ok(s) => {
            assert!((1..=1_000_000).contains(&s.keep_recent_tokens), "{s:?}");
            assert!((1..=3_600).contains(&s.timeout.as_secs()), "{s:?}");
        }
        Err(e) => assert!(
            e.contains("agents.defaults.compaction.") && e.contains("Fix:"),
            "{e}"
        ),
    }
    let env = |_: &str| Some("k".to_owned());
    if let Ok(Some(plan)) = config::models::plan(&loaded.config, &env) {
        for t in std::iter::once(&plan.primary).chain(&plan.fallbacks) {
            assert!(t.context_window.is_none_or(|w| w >= 1_024), "{t:?}");
        }
    }
}

/// The `skills` settings: whatever the file says, nothing panics, and what is accepted
/// holds only absolute directories and variable names a command may be given.
fn skills(loaded: &config::Loaded) {
    use openclaw::actors::exec_tool::valid_env_name;
    use openclaw::actors::workspace::skills::MAX_EXTRA_DIRS;
    let Some(cfg) = &loaded.config.skills else {
        return;
    };
    let doc = serde_json::to_value(&loaded.config).unwrap_or_default();
    let managed = loaded.state_dir.join("skills");
    let Ok(s) = cfg.settings(&managed, Some(std::path::Path::new("/home/fuzz")), [], &doc) else {
        return;
    };
    assert!(s.extra_dirs.len() <= MAX_EXTRA_DIRS, "{:?}", s.extra_dirs);
    assert!(
        s.extra_dirs.iter().all(|d| d.is_absolute()),
        "{:?}",
        s.extra_dirs
    );
    for e in s.entries.values() {
        for name in e.env.keys() {
            assert!(
                valid_env_name(name) && !openclaw::actors::exec_tool::forbidden_env(name),
                "{name:?} accepted"
            );
        }
    }
    let _ = cfg.secrets();
}

/// Several agents: the roster (ids, workspaces, tool policies, bindings), the heartbeats
/// and routing over it. Whatever the file says, nothing panics and routing stays inside
/// the roster.
fn agents(loaded: &config::Loaded) {
    use openclaw::actors::agents::{Peer, PeerKind};
    let Ok(ws) = loaded
        .config
        .agents
        .defaults
        .workspace_settings(&loaded.state_dir, None, None)
    else {
        return;
    };
    let Ok(tools) = loaded.config.tool_filter() else {
        return;
    };
    let Ok(roster) = openclaw::gateway::roster(loaded, &ws, &tools, None, &mut |_| {}) else {
        return;
    };
    let _ = openclaw::gateway::heartbeats(&loaded.config, roster.as_ref(), &ws);
    let Some(r) = roster else {
        return;
    };
    for (account, kind, id, parent) in [
        ("default", PeerKind::Direct, "42", None),
        ("biz", PeerKind::Group, "-100:topic:7", Some("-100")),
        ("default", PeerKind::Channel, "*", None),
    ] {
        let peer = Peer {
            channel: "telegram",
            account,
            kind,
            id,
            parent,
        };
        if let Some(agent) = r.route(&peer) {
            assert!(
                r.get(agent).is_some(),
                "routed to {agent}, not in the roster"
            );
        }
    }
    for key in ["main", "agent:ghost:main", "agent:../x:main"] {
        let k = r.normalize_key(key);
        if r.refuse_key(&k).is_none() {
            assert!(
                r.agent_of_key(&k).is_some(),
                "{k} accepted without its agent"
            );
        }
    }
}
