//! Skills beyond the workspace against the real binary, the fake Bot API and the fake
//! model: the managed skills (`<state>/skills`) and `skills.load.extraDirs` join the
//! catalog below the workspace's own, OpenClaw's gating (`requires.bins`, `requires.env`,
//! `skills.entries.<key>.enabled`) decides what is listed, `read` reaches inside an
//! offered skill's directory and nowhere else outside the workspace, the skill's `env` and
//! `apiKey` reach `exec` commands (the key redacted from their output), a skill command
//! (`/weather Berlin`) tells the model to read the skill first while one the agent may not
//! use is refused without a model call, and `skills.status` reports it all in OpenClaw's
//! shape.

use serde_json::{Value, json};

use crate::exec_tool::{OWNER, exec_config, exec_once, tool_once};
use crate::support::TestGateway;
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::telegram_flow::{GW_ARGS, SLOW, TG_TOKEN, admin, dm, wait_reply};

const API_KEY: &str = "wx-skill-key-7f3a9c";

fn put(path: &std::path::Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn skill_md(name: &str, description: &str, metadata: &str) -> String {
    format!("---\nname: {name}\ndescription: {description}\nmetadata: {metadata}\n---\n# {name}\n")
}

#[actix_web::test]
async fn managed_and_extra_skills_are_gated_readable_in_place_and_reported() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let dir = tempfile::tempdir().expect("state dir");
    let state = dir.path().to_path_buf();
    let outside = tempfile::tempdir().expect("outside");
    let extra = tempfile::tempdir().expect("extra dir");
    std::fs::write(outside.path().join("secret.txt"), "OUTSIDE-SECRET").expect("secret");
    let managed = state.join("skills");
    put(
        &managed.join("weather/SKILL.md"),
        &skill_md(
            "weather",
            "Forecasts from the weather API",
            r#"{"openclaw": {"emoji": "🌦", "primaryEnv": "WX_API_KEY", "requires": {"env": ["WX_API_KEY"], "bins": ["sh"]}}}"#,
        ),
    );
    put(
        &managed.join("weather/references/api.md"),
        "WEATHER-REF: GET /forecast",
    );
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        managed.join("weather/leak.md"),
    )
    .expect("link out");
    put(
        &managed.join("radar/SKILL.md"),
        &skill_md(
            "radar",
            "Needs a program this host lacks",
            r#"{"openclaw": {"requires": {"bins": ["no-such-radar-program"]}}}"#,
        ),
    );
    put(
        &managed.join("github/SKILL.md"),
        &skill_md(
            "github",
            "Turned off by its entry",
            r#"{"openclaw": {"skillKey": "gh-key"}}"#,
        ),
    );
    put(
        &managed.join("charts/SKILL.md"),
        &skill_md("charts", "Not on this agent's allowlist", "{}"),
    );
    put(
        &extra.path().join("tides/SKILL.md"),
        &skill_md("tides", "Tide tables", "{}"),
    );
    put(
        &state.join("workspace/skills/notes/SKILL.md"),
        &skill_md("notes", "Keep notes", "{}"),
    );
    let mut c: Value =
        serde_json::from_str(&exec_config(&tg, &ai, json!({"mode": "full"}), Value::Null))
            .expect("cfg");
    c["agents"]["defaults"]["skills"] = json!(["weather", "tides", "notes", "radar", "github"]);
    c["skills"] = json!({
        "allowBundled": ["gemini"],
        "load": {"extraDirs": [extra.path()], "watch": true},
        "entries": {
            "weather": {"apiKey": API_KEY, "env": {"WX_REGION": "north-sea"}},
            "gh-key": {"enabled": false},
        },
    });
    let gw = TestGateway::start_in(dir, GW_ARGS, &[], Some(&c.to_string()));

    // 1. The catalog: eligible skills from every source, the managed one at its place.
    let weather_dir = managed.join("weather");
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "read",
        json!({"path": weather_dir.join("references/api.md")}),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["content"], "WEATHER-REF: GET /forecast", "{res}");
    let sys = crate::workspace::system_texts(&ai.requests()[0]).join("\n");
    for listed in ["weather", "tides", "notes"] {
        assert!(
            sys.contains(&format!("<name>{listed}</name>")),
            "{listed}: {sys}"
        );
    }
    for hidden in ["radar", "github", "charts"] {
        assert!(
            !sys.contains(&format!("<name>{hidden}</name>")),
            "{hidden}: {sys}"
        );
    }
    assert!(
        sys.contains(&format!(
            "<location>{}</location>",
            weather_dir.join("SKILL.md").display()
        )),
        "{sys}"
    );
    assert!(
        sys.contains("`read` also reads files inside the directory of a skill"),
        "{sys}"
    );

    // 2. Nothing else outside the workspace: a link out of the skill, a skill not offered,
    // a climb out of it, and no writes.
    for (path, why) in [
        (weather_dir.join("leak.md"), "outside"),
        (managed.join("radar/SKILL.md"), "radar"),
        (weather_dir.join("../radar/SKILL.md"), "climb"),
        (state.join("openclaw.json"), "config"),
    ] {
        let res = tool_once(&tg, &ai, OWNER, "read", json!({"path": path})).await;
        assert_eq!(res["ok"], false, "{why}: {res}");
        assert!(!res.to_string().contains("OUTSIDE-SECRET"), "{why}: {res}");
    }
    let before = std::fs::read_to_string(weather_dir.join("SKILL.md")).expect("skill");
    let res = tool_once(
        &tg,
        &ai,
        OWNER,
        "write",
        json!({"path": weather_dir.join("SKILL.md"), "content": "hijacked"}),
    )
    .await;
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(
        std::fs::read_to_string(weather_dir.join("SKILL.md")).expect("skill"),
        before
    );

    // 3. The skill's variables reach commands; its key never reaches the model.
    let res = exec_once(
        &tg,
        &ai,
        OWNER,
        json!({"command": "printf '%s|%s\\n' \"$WX_REGION\" \"${WX_API_KEY:+set}\"; echo \"$WX_API_KEY\""}),
    )
    .await;
    assert_eq!(res["stdout"], "north-sea|set\n<redacted>\n", "{res}");
    assert!(
        !gw.stdout().contains(API_KEY) && !gw.stderr().contains(API_KEY),
        "the key was logged"
    );
    assert!(
        ai.requests()
            .iter()
            .all(|r| !r.to_string().contains(API_KEY)),
        "the key reached the model"
    );

    // 4. Skill commands: the model is told to read the skill first, the transcript keeps
    // what was typed; a skill this agent may not use is refused without asking the model.
    let before = ai.request_count();
    ai.push_text("sunny");
    let mid = dm(&tg, OWNER, "/weather Berlin");
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "sunny");
    let asked = &ai.wait_requests_async(before + 1, SLOW).await[before];
    let user = asked["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| m["content"].to_string())
        .unwrap_or_default();
    assert!(
        user.contains("Read each skill's SKILL.md before acting:\\n- weather\\n\\nUser request:\\n/weather Berlin"),
        "{user}"
    );
    let before = ai.request_count();
    let mid = dm(&tg, OWNER, "/charts today");
    assert_eq!(
        wait_reply(&tg, mid, SLOW).await.text(),
        "Skill \"charts\" is not available for this agent. Update the skill allowlist or choose an allowed skill."
    );
    assert_eq!(ai.request_count(), before, "the model was asked");

    // 5. `skills.status`: OpenClaw's report, eligibility and what is missing.
    let mut op = admin(&gw).await;
    let r = op.request("skills.status", json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
    let p = &r["payload"];
    assert_eq!(p["managedSkillsDir"], managed.display().to_string(), "{p}");
    assert_eq!(p["agentId"], "main", "{p}");
    let skill = |name: &str| {
        p["skills"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} not reported: {p}"))
    };
    let w = skill("weather");
    assert_eq!(w["source"], "openclaw-managed", "{w}");
    assert_eq!(w["eligible"], true, "{w}");
    assert_eq!(w["primaryEnv"], "WX_API_KEY", "{w}");
    assert_eq!(w["emoji"], "🌦", "{w}");
    assert_eq!(w["baseDir"], weather_dir.display().to_string(), "{w}");
    assert_eq!(skill("tides")["source"], "openclaw-extra");
    assert_eq!(skill("notes")["source"], "openclaw-workspace");
    let radar = skill("radar");
    assert_eq!(radar["eligible"], false, "{radar}");
    assert_eq!(
        radar["missing"]["bins"],
        json!(["no-such-radar-program"]),
        "{radar}"
    );
    let gh = skill("github");
    assert_eq!(
        (gh["disabled"].clone(), gh["skillKey"].clone()),
        (json!(true), json!("gh-key"))
    );
    let charts = skill("charts");
    assert_eq!(
        (
            charts["eligible"].clone(),
            charts["blockedByAgentFilter"].clone()
        ),
        (json!(true), json!(true))
    );
    assert!(!p.to_string().contains(API_KEY), "{p}");
    // Bad params and unknown agents are refused by name.
    let r = op
        .request("skills.status", json!({"agentId": "ghost"}))
        .await;
    assert_eq!(r["error"]["message"], "unknown agent id \"ghost\"", "{r}");
    let r = op.request("skills.status", json!({"extra": 1})).await;
    assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");

    // 6. `skills` is hot: turning `weather` off takes it out of the next run's catalog.
    c["skills"]["entries"]["weather"]["enabled"] = json!(false);
    crate::support::replace_file(&gw.config_path(), &c.to_string());
    gw.wait_stderr_line(
        &["config reloaded from", "skills.entries.weather"],
        std::time::Duration::from_secs(10),
    );
    let before = ai.request_count();
    ai.push_text("ok");
    let mid = dm(&tg, OWNER, "anything new?");
    assert_eq!(wait_reply(&tg, mid, SLOW).await.text(), "ok");
    let asked = &ai.wait_requests_async(before + 1, SLOW).await[before];
    let sys = crate::workspace::system_texts(asked).join("\n");
    assert!(!sys.contains("<name>weather</name>"), "{sys}");
    assert!(sys.contains("<name>tides</name>"), "{sys}");
}

#[actix_web::test]
async fn bad_skills_config_refuses_the_start_naming_the_key() {
    for (skills, want) in [
        (
            json!({"load": {"extraDirs": ["relative/skills"]}}),
            "skills.load.extraDirs[0]",
        ),
        (
            json!({"entries": {"wx": {"env": {"LD_PRELOAD": "/tmp/x.so"}}}}),
            "skills.entries.wx.env sets LD_PRELOAD",
        ),
    ] {
        let cfg = json!({"gateway": {"auth": {"token": "T"}}, "skills": skills});
        let home = crate::support::CliHome::with_config(&cfg.to_string());
        let out = home.run(GW_ARGS, &[]);
        assert_eq!(out.code, Some(78), "{skills}: {out:?}");
        assert!(
            out.stderr.contains(want) && out.stderr.contains("Fix:"),
            "{skills}: {}",
            out.stderr
        );
    }
}

/// A skill directory that is not there is named at start (a typo would otherwise go
/// unnoticed), and the gateway runs.
#[actix_web::test]
async fn a_missing_extra_directory_is_named_at_start() {
    let missing = tempfile::tempdir()
        .expect("tmp")
        .path()
        .join("no-such-skills");
    let cfg = json!({"gateway": {"auth": {"token": "T"}},
        "skills": {"load": {"extraDirs": [missing]}}});
    let gw = TestGateway::start(GW_ARGS, &[], Some(&cfg.to_string()));
    let line = gw.wait_stderr_line(
        &["skills.load.extraDirs[0]", "is not a directory"],
        std::time::Duration::from_secs(10),
    );
    assert!(line.contains("no-such-skills"), "{line}");
    let mut op = admin(&gw).await;
    let r = op.request("skills.status", json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
}
