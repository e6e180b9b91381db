use std::sync::Arc;

use super::*;

fn settings(dir: &Path, watch: bool) -> WorkspaceSettings {
    let mut s = WorkspaceSettings::new(dir.to_path_buf());
    s.skill_settings = Arc::new(skills::SkillSettings {
        watch,
        ..skills::SkillSettings::default()
    });
    s
}

fn agents_text(l: &Loaded) -> String {
    l.0.iter()
        .find(|f| f.name == "AGENTS.md")
        .map(|f| f.content.clone())
        .unwrap_or_default()
}

fn skill_names(l: &Loaded) -> Vec<(String, String)> {
    l.1.offered
        .iter()
        .map(|s| (s.name.clone(), s.description.clone()))
        .collect()
}

fn write_skill(dir: &Path, name: &str, description: &str) {
    std::fs::create_dir_all(dir.join(name)).expect("skill dir");
    std::fs::write(
        dir.join(name).join("SKILL.md"),
        format!("---\nname: {name}\ndescription: {description}\n---\nDo it.\n"),
    )
    .expect("write SKILL.md");
}

#[cfg(target_os = "linux")]
#[test]
fn a_snapshot_is_reused_until_what_it_read_changes() {
    let ws = tempfile::tempdir().expect("tempdir");
    std::fs::write(ws.path().join("AGENTS.md"), "one").expect("write");
    let s = settings(ws.path(), true);

    assert!(
        cached(&s, Scope::Main, false, true).is_none(),
        "nothing read yet"
    );
    let first = load(&s, Scope::Main, false, true);
    assert!(agents_text(&first).contains("one"));
    let hit = cached(&s, Scope::Main, false, true).expect("a snapshot");
    assert_eq!(agents_text(&hit), agents_text(&first));
    // The agent's own work files in the workspace do not throw it away.
    std::fs::write(ws.path().join("notes.txt"), "work").expect("write");
    std::fs::create_dir_all(ws.path().join("memory")).expect("mkdir");
    std::fs::write(ws.path().join("memory/today.md"), "work").expect("write");
    assert!(cached(&s, Scope::Main, false, true).is_some());
    // Another scope or kind of run has its own.
    assert!(cached(&s, Scope::Shared, false, true).is_none());
    assert!(cached(&s, Scope::Main, true, true).is_none());

    // A bootstrap file edited: the next turn reads it.
    std::fs::write(ws.path().join("AGENTS.md"), "two").expect("write");
    assert!(cached(&s, Scope::Main, false, true).is_none());
    let second = load(&s, Scope::Main, false, true);
    assert!(agents_text(&second).contains("two"));
    assert!(cached(&s, Scope::Main, false, true).is_some());

    // A skill root created after the snapshot (watched through the workspace), then a
    // skill's SKILL.md edited.
    write_skill(&ws.path().join("skills"), "alpha", "first words");
    assert!(cached(&s, Scope::Main, false, true).is_none());
    let third = load(&s, Scope::Main, false, true);
    assert_eq!(
        skill_names(&third),
        [("alpha".to_owned(), "first words".to_owned())]
    );
    assert!(cached(&s, Scope::Main, false, true).is_some());
    write_skill(&ws.path().join("skills"), "alpha", "second words");
    let fourth = load(&s, Scope::Main, false, true);
    assert_eq!(
        skill_names(&fourth),
        [("alpha".to_owned(), "second words".to_owned())]
    );
    let hit = cached(&s, Scope::Main, false, true).expect("a snapshot");
    assert_eq!(skill_names(&hit), skill_names(&fourth));

    // A skill root moved away and a new one made in its place, many times: each change
    // is seen, the new root's skills are watched (not the moved ones'), and the watches
    // do not pile up.
    for i in 0..30 {
        std::fs::rename(ws.path().join("skills"), ws.path().join(format!("away{i}")))
            .expect("move away");
        assert!(cached(&s, Scope::Main, false, true).is_none());
        write_skill(&ws.path().join("skills"), "alpha", &format!("made {i}"));
        let again = load(&s, Scope::Main, false, true);
        assert_eq!(
            skill_names(&again),
            [("alpha".to_owned(), format!("made {i}"))]
        );
        assert!(cached(&s, Scope::Main, false, true).is_some());
        write_skill(&ws.path().join("skills"), "alpha", &format!("edited {i}"));
        assert!(
            cached(&s, Scope::Main, false, true).is_none(),
            "an edit in the new root is seen ({i})"
        );
        load(&s, Scope::Main, false, true);
        // Nor does a change in a moved one count.
        write_skill(&ws.path().join(format!("away{i}")), "alpha", "stale");
        assert!(cached(&s, Scope::Main, false, true).is_some(), "{i}");
    }
    assert!(
        imp::watched() <= 8,
        "{} directories watched after the moves",
        imp::watched()
    );

    // The workspace directory removed: nothing stale is served.
    std::fs::remove_dir_all(ws.path()).expect("rm");
    assert!(cached(&s, Scope::Main, false, true).is_none());
}

#[cfg(target_os = "linux")]
#[test]
fn other_settings_symlinks_and_watch_off_are_read_every_time() {
    let ws = tempfile::tempdir().expect("tempdir");
    std::fs::write(ws.path().join("AGENTS.md"), "plain").expect("write");
    let on = settings(ws.path(), true);
    load(&on, Scope::Main, false, false);
    assert!(cached(&on, Scope::Main, false, false).is_some());
    // Changed settings (a config reload) are another key.
    let mut other = on.clone();
    other.max_chars = 10;
    assert!(cached(&other, Scope::Main, false, false).is_none());

    // `skills.load.watch: false`.
    let off = settings(ws.path(), false);
    load(&off, Scope::Main, false, false);
    assert!(cached(&off, Scope::Main, false, false).is_none());

    // A symlinked bootstrap file: its target can change without an event here.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::fs::write(elsewhere.path().join("soul.md"), "linked").expect("write");
    let linked = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(
        elsewhere.path().join("soul.md"),
        linked.path().join("SOUL.md"),
    )
    .expect("symlink");
    let s = settings(linked.path(), true);
    load(&s, Scope::Main, false, false);
    assert!(cached(&s, Scope::Main, false, false).is_none());
}
