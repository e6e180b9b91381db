//! Workspace skills (OpenClaw's `<workspace>/skills/<name>/SKILL.md`): each skill's name and
//! description (from the file's front matter) are listed in the system prompt as OpenClaw's
//! `<available_skills>` catalog, and the model `read`s a skill's file when a task matches.
//! Only the workspace's own skills: the agent's `read` tool reaches nothing else (OpenClaw's
//! managed and bundled skills live outside the workspace).
//!
//! The walk is bounded ([`MAX_SKILLS`], [`MAX_DEPTH`], files read up to the bootstrap limit and
//! cached like the bootstrap files),
//! does not follow directory symlinks, skips dot entries, and reads every file through the
//! confined root (a `SKILL.md` that links out of the workspace is left out).

use std::path::{Path, PathBuf};

use super::confined::Root;

/// Most skills listed.
pub const MAX_SKILLS: usize = 150;
/// How deep under `skills/` a `SKILL.md` is looked for (`skills/<name>/SKILL.md` is 1).
pub const MAX_DEPTH: usize = 3;
/// A description is cut to this many characters in the catalog (OpenClaw's compact form).
pub const DESCRIPTION_CHARS: usize = 220;
/// The catalog's size limit (characters); beyond it descriptions are left out, then skills.
pub const MAX_CATALOG_CHARS: usize = 30_000;

/// One skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    /// Its name (front matter `name`, else the directory's name).
    pub name: String,
    /// Its description (front matter `description`; may be empty).
    pub description: String,
    /// The `SKILL.md`'s absolute path.
    pub location: PathBuf,
}

/// The skills of `found` that `allowlist` names (`None`: all of them).
pub fn allowed(mut found: Vec<Skill>, allowlist: Option<&[String]>) -> Vec<Skill> {
    if let Some(names) = allowlist {
        found.retain(|s| names.contains(&s.name));
    }
    found
}

/// The workspace's skills, sorted by name (blocking).
pub fn discover(root: &Root) -> Vec<Skill> {
    let base = root.dir().join("skills");
    let mut found = Vec::new();
    walk(root, &base, 1, &mut found);
    found.sort_by(|a: &Skill, b| a.name.cmp(&b.name).then(a.location.cmp(&b.location)));
    found.dedup_by(|a, b| a.name == b.name);
    found
}

fn walk(root: &Root, dir: &Path, depth: usize, out: &mut Vec<Skill>) {
    if depth > MAX_DEPTH || out.len() >= MAX_SKILLS {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subdirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        // `file_type` does not follow symlinks: a linked directory is not walked.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        if out.len() >= MAX_SKILLS {
            return;
        }
        let file = sub.join("SKILL.md");
        let rel = root.relative(&file);
        if let Ok(Some(text)) = super::cached_read(root, &file, &rel) {
            let (name, description) = front_matter(&text);
            let fallback = sub
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = name.filter(|n| !n.is_empty()).unwrap_or(fallback);
            if !name.is_empty() {
                out.push(Skill {
                    name: one_line(&name, 100),
                    description: one_line(&description.unwrap_or_default(), DESCRIPTION_CHARS),
                    location: file,
                });
            }
            continue;
        }
        walk(root, &sub, depth + 1, out);
    }
}

/// `name` and `description` of a `---` front matter block: plain, quoted, or a folded /
/// literal block (`>` / `|`) of indented lines.
fn front_matter(text: &str) -> (Option<String>, Option<String>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return (None, None);
    }
    let body: Vec<&str> = lines
        .take_while(|l| l.trim_end() != "---")
        .take(200)
        .collect();
    let value = |key: &str| -> Option<String> {
        let i = body
            .iter()
            .position(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))?;
        let raw = body[i][key.len() + 1..].trim();
        if matches!(raw, ">" | "|" | ">-" | "|-" | ">+" | "|+") {
            let block: Vec<&str> = body[i + 1..]
                .iter()
                .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('\t'))
                .map(|l| l.trim())
                .collect();
            return Some(block.join(" ").trim().to_owned());
        }
        let unquoted = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
            .unwrap_or(raw);
        Some(unquoted.to_owned())
    };
    (value("name"), value("description"))
}

/// `s` on one line (whitespace runs as one space), at most `max` characters (`...` when cut).
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max.saturating_sub(3)).collect();
    format!("{}...", cut.trim_end())
}

/// OpenClaw's escaping of catalog text.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The `## Skills` section with the `<available_skills>` catalog (empty without skills),
/// for a model that reads files with `read`.
pub fn section(skills: &[Skill]) -> String {
    if skills.is_empty() {
        return String::new();
    }
    let render = |with_descriptions: bool, n: usize| {
        let mut s = String::from(
            "## Skills\nScan <available_skills>. Clear match: read exact <location> with `read`; obey.\nSeveral: most specific. None: read none.\nUp-front max one. Never invent paths.\n\nThe following skills provide specialized instructions for specific tasks.\nRead a skill's file at its listed location when the task matches its name or description.\nWhen a skill file references a relative path, resolve it against the skill directory (parent of SKILL.md) and use that path.\n\n<available_skills>\n",
        );
        for k in &skills[..n] {
            s.push_str("  <skill>\n    <name>");
            s.push_str(&xml(&k.name));
            s.push_str("</name>\n");
            if with_descriptions && !k.description.is_empty() {
                s.push_str("    <description>");
                s.push_str(&xml(&k.description));
                s.push_str("</description>\n");
            }
            s.push_str("    <location>");
            s.push_str(&xml(&k.location.display().to_string()));
            s.push_str("</location>\n  </skill>\n");
        }
        s.push_str("</available_skills>\n\n");
        s
    };
    let full = render(true, skills.len());
    if full.chars().count() <= MAX_CATALOG_CHARS {
        return full;
    }
    let mut n = skills.len();
    loop {
        let s = render(false, n);
        if s.chars().count() <= MAX_CATALOG_CHARS || n <= 1 {
            return s;
        }
        n = n * 3 / 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(ws: &Path, dir: &str, text: &str) {
        let d = ws.join("skills").join(dir);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("SKILL.md"), text).expect("write");
    }

    #[test]
    fn skills_are_found_with_their_front_matter_and_listed_escaped() {
        let d = tempfile::tempdir().expect("tmp");
        let ws = d.path();
        skill(
            ws,
            "weather",
            "---\nname: weather\ndescription: \"Get the forecast <fast> & free\"\n---\n# Weather\n",
        );
        skill(
            ws,
            "notes",
            "---\nname: note-taking\ndescription: >\n  Keep tidy notes\n  in memory/.\nmetadata: {}\n---\nbody",
        );
        skill(ws, "plain", "no front matter at all");
        skill(ws, "group/nested", "---\ndescription: 'Nested one'\n---\n");
        skill(ws, ".hidden", "---\nname: hidden\n---\n");
        let outside = tempfile::tempdir().expect("outside");
        std::fs::create_dir_all(outside.path().join("evil")).expect("mkdir");
        std::fs::write(
            outside.path().join("evil/SKILL.md"),
            "---\nname: evil\n---\n",
        )
        .expect("w");
        std::os::unix::fs::symlink(outside.path().join("evil"), ws.join("skills/evil"))
            .expect("ln dir");
        std::fs::create_dir_all(ws.join("skills/linked")).expect("mkdir");
        std::os::unix::fs::symlink(
            outside.path().join("evil/SKILL.md"),
            ws.join("skills/linked/SKILL.md"),
        )
        .expect("ln file");
        let found = discover(&Root::new(ws.to_path_buf()));
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["nested", "note-taking", "plain", "weather"]);
        let notes = &found[1];
        assert_eq!(notes.description, "Keep tidy notes in memory/.");
        assert_eq!(notes.location, ws.join("skills/notes/SKILL.md"));
        let s = section(&found);
        assert!(s.starts_with("## Skills\n"), "{s}");
        assert!(
            s.contains("<description>Get the forecast &lt;fast&gt; &amp; free</description>"),
            "{s}"
        );
        assert!(s.contains(&format!(
            "<location>{}</location>",
            ws.join("skills/weather/SKILL.md").display()
        )));
        assert!(!s.contains("evil") && !s.contains("hidden"), "{s}");
        assert!(section(&[]).is_empty());
    }

    #[test]
    fn the_catalog_stays_within_its_limits() {
        let d = tempfile::tempdir().expect("tmp");
        let long = "ü".repeat(5000);
        for i in 0..200 {
            skill(
                d.path(),
                &format!("s{i:03}"),
                &format!("---\nname: skill-{i:03}\ndescription: {long}\n---\n"),
            );
        }
        let found = discover(&Root::new(d.path().to_path_buf()));
        assert_eq!(found.len(), MAX_SKILLS);
        assert!(
            found
                .iter()
                .all(|s| s.description.chars().count() <= DESCRIPTION_CHARS)
        );
        let s = section(&found);
        assert!(s.chars().count() <= MAX_CATALOG_CHARS, "{}", s.len());
        assert!(s.contains("skill-000"));
        assert!(!s.contains("<description>"), "descriptions dropped first");
    }
}
