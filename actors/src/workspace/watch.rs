//! Snapshots of what a run reads of its workspace (the bootstrap files and the skills), kept
//! between runs while nothing they came from changes, so a turn reads no files and makes no
//! trip to a blocking thread (OpenClaw's skills watcher, `skills.load.watch`, on by default).
//!
//! One inotify instance (Linux) watches, for every workspace a run has read:
//!
//! - the workspace directory, where only its bootstrap files (`AGENTS.md` … `MEMORY.md`) and
//!   the skill roots' names (`skills`, `.agents`) count: the agent's own work files there do
//!   not throw its snapshot away;
//! - every skill root (`skills.load.extraDirs`, the managed `<state>/skills`,
//!   `<workspace>/.agents/skills`, `<workspace>/skills`) and the directories below it that
//!   discovery walks, where every change counts; a root that does not exist yet is watched
//!   for through its nearest existing parent (only its own name counts there).
//!
//! Any event that counts bumps one generation number; a snapshot is used only while the
//! generation is the one read *before* its watches were in place and its files read. The
//! kernel queues an event when the change is made, and the queue is read (without waiting)
//! when a turn asks for its snapshot: a change completed before a turn starts is always seen
//! by that turn (at worst one turn reads the disk for nothing). A snapshot is also used at
//! most [`MAX_AGE`]: what no file event shows here (a binary installed on `PATH` that a skill
//! requires, a re-pointed symlinked root, a renamed parent of a root, a network filesystem
//! changed from another machine) is seen within it. Not cached: a symlinked bootstrap file
//! or `SKILL.md` (its target can change unseen), more than [`MAX_WATCHES`] directories, any
//! watch the kernel refuses (its `max_user_watches`), `skills.load.watch: false`, and other
//! systems than Linux. There, every run reads as before.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::skills::{self, ForRun};
use super::{FILES, Injected, Scope, WorkspaceSettings};

/// What a run reads: the bootstrap files as injected, and its skills.
pub type Loaded = (Vec<Injected>, ForRun);

/// The longest a snapshot is used without reading again (see the module docs).
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// Directories watched at most; a workspace that needs more is read for every run.
pub const MAX_WATCHES: usize = 2048;

/// Snapshots kept (agents × scopes); beyond, the oldest goes.
const MAX_SNAPSHOTS: usize = 64;

/// What a snapshot is of.
#[derive(Clone, PartialEq)]
struct Key {
    settings: WorkspaceSettings,
    scope: Scope,
    /// No bootstrap files (a light run).
    light: bool,
    /// With the skills.
    skills: bool,
}

struct Snapshot {
    key: Key,
    generation: u64,
    at: Instant,
    loaded: Loaded,
}

static SNAPSHOTS: Mutex<Vec<Snapshot>> = Mutex::new(Vec::new());

fn snapshots() -> std::sync::MutexGuard<'static, Vec<Snapshot>> {
    SNAPSHOTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The snapshot of what a run of `settings` reads, while nothing it came from has changed
/// (touches no file: a lock, an atomic read and a copy).
pub fn cached(
    settings: &WorkspaceSettings,
    scope: Scope,
    light: bool,
    skills: bool,
) -> Option<Loaded> {
    if !settings.skill_settings.watch {
        return None;
    }
    let generation = imp::generation()?;
    let list = snapshots();
    let s = list.iter().find(|s| {
        s.key.scope == scope
            && s.key.light == light
            && s.key.skills == skills
            && s.key.settings == *settings
    })?;
    (s.generation == generation && s.at.elapsed() < MAX_AGE).then(|| {
        let (files, skills) = &s.loaded;
        (files.clone(), skills.clone())
    })
}

/// Reads what a run of `settings` reads (blocking), keeping a snapshot of it when its
/// sources can be watched.
pub fn load(settings: &WorkspaceSettings, scope: Scope, light: bool, with_skills: bool) -> Loaded {
    let read = || {
        let skills = if with_skills {
            skills::for_run(settings)
        } else {
            ForRun::default()
        };
        let files = if light {
            Vec::new()
        } else {
            super::load(settings, scope)
        };
        (files, skills)
    };
    if !settings.skill_settings.watch {
        return read();
    }
    // The generation before the watches are in place and the files read: a change made
    // meanwhile leaves this snapshot unused.
    let Some(generation) = imp::watch(settings, with_skills) else {
        return read();
    };
    let loaded = read();
    if symlinked_files(settings, scope, light) {
        return loaded;
    }
    let key = Key {
        settings: settings.clone(),
        scope,
        light,
        skills: with_skills,
    };
    let mut list = snapshots();
    list.retain(|s| s.key != key);
    if list.len() >= MAX_SNAPSHOTS {
        list.remove(0);
    }
    list.push(Snapshot {
        key,
        generation,
        at: Instant::now(),
        loaded: (loaded.0.clone(), loaded.1.clone()),
    });
    loaded
}

/// Whether a bootstrap file the run reads is a symlink (its target changes unseen).
fn symlinked_files(settings: &WorkspaceSettings, scope: Scope, light: bool) -> bool {
    !light
        && FILES.iter().filter(|n| scope.includes(n)).any(|n| {
            std::fs::symlink_metadata(settings.dir.join(n))
                .is_ok_and(|m| m.file_type().is_symlink())
        })
}

/// The directories to watch for `settings`: (directory, the names that count there; `None`:
/// all). `None` when they cannot be watched (a symlinked `SKILL.md`, too many).
fn plan(
    settings: &WorkspaceSettings,
    with_skills: bool,
) -> Option<Vec<(PathBuf, Option<Vec<String>>)>> {
    let ws = &settings.dir;
    let mut names: Vec<String> = FILES.iter().map(|n| (*n).to_owned()).collect();
    names.push(".agents".to_owned());
    names.push("skills".to_owned());
    let mut out = vec![(ws.clone(), Some(names))];
    if !with_skills {
        return Some(out);
    }
    let s = &settings.skill_settings;
    let mut roots: Vec<PathBuf> = s
        .extra_dirs
        .iter()
        .take(skills::MAX_EXTRA_DIRS)
        .cloned()
        .collect();
    roots.extend(s.managed_dir.clone());
    roots.push(ws.join(".agents/skills"));
    roots.push(ws.join("skills"));
    for root in roots {
        if root.is_dir() {
            tree(&root, 0, &mut out)?;
        } else {
            // Watched for through its nearest existing parent.
            let mut child = root.as_path();
            while let Some(parent) = child.parent() {
                if parent.is_dir() {
                    let name = child.file_name()?.to_string_lossy().into_owned();
                    out.push((parent.to_path_buf(), Some(vec![name])));
                    break;
                }
                child = parent;
            }
        }
        if out.len() > MAX_WATCHES {
            return None;
        }
    }
    Some(out)
}

/// `dir` and the directories below it that skill discovery walks.
fn tree(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, Option<Vec<String>>)>) -> Option<()> {
    if out.len() > MAX_WATCHES {
        return None;
    }
    if std::fs::symlink_metadata(dir.join("SKILL.md")).is_ok_and(|m| m.file_type().is_symlink()) {
        return None;
    }
    out.push((dir.to_path_buf(), None));
    if depth >= skills::MAX_DEPTH {
        return Some(());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Some(());
    };
    for e in entries.flatten().take(4096) {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            tree(&e.path(), depth + 1, out)?;
        }
    }
    Some(())
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::HashMap;
    use std::os::fd::OwnedFd;
    use std::path::PathBuf;
    use std::sync::{Mutex, OnceLock};

    use rustix::fs::inotify::{self, ReadFlags, WatchFlags};

    /// The watcher; `None` when inotify could not be had (every run reads then).
    static WATCHER: OnceLock<Option<Watcher>> = OnceLock::new();

    /// Non-blocking: the events queued by the kernel when a change was made are taken
    /// (without waiting) by whoever asks for the generation next, so a change completed
    /// before a turn starts is always seen by it (no thread to lag behind).
    struct Watcher {
        fd: OwnedFd,
        state: Mutex<State>,
    }

    #[derive(Default)]
    struct State {
        generation: u64,
        /// Directory → its watch.
        by_dir: HashMap<PathBuf, i32>,
        /// Watch → the names that count in it (`None`: every event).
        counts: HashMap<i32, Option<Vec<String>>>,
        /// Reading the events failed: nothing is cached any more.
        broken: bool,
    }

    const MASK: WatchFlags = WatchFlags::CREATE
        .union(WatchFlags::DELETE)
        .union(WatchFlags::MODIFY)
        .union(WatchFlags::CLOSE_WRITE)
        .union(WatchFlags::ATTRIB)
        .union(WatchFlags::MOVED_FROM)
        .union(WatchFlags::MOVED_TO)
        .union(WatchFlags::DELETE_SELF)
        .union(WatchFlags::MOVE_SELF)
        .union(WatchFlags::ONLYDIR);

    fn watcher() -> Option<&'static Watcher> {
        WATCHER
            .get_or_init(|| {
                match inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
                {
                    Ok(fd) => Some(Watcher {
                        fd,
                        state: Mutex::new(State::default()),
                    }),
                    Err(e) => {
                        log::warn!(
                            "workspace files and skills are read for every run: no inotify ({e})"
                        );
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The state with every queued event applied (`None`: nothing can be cached).
    fn current(w: &Watcher) -> Option<std::sync::MutexGuard<'_, State>> {
        let mut state = w
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.broken {
            return None;
        }
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&w.fd, &mut buf);
        let mut bump = false;
        loop {
            let e = match reader.next() {
                Ok(e) => e,
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    log::warn!(
                        "workspace watcher failed ({e}): files and skills are read for every run"
                    );
                    state.broken = true;
                    return None;
                }
            };
            let (wd, flags) = (e.wd(), e.events());
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                bump = true;
                continue;
            }
            if flags.intersects(ReadFlags::IGNORED | ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF)
            {
                // The directory is gone from its path, and so is everything below it that
                // was watched (a moved directory takes its subdirectories along, which
                // tell nothing): watched again at that path by the next read. Moved ones
                // would still be watched where they went: their watches go (the kernel's
                // `IGNORED` that follows forgets them here), so moves pile nothing up.
                let moved = flags.contains(ReadFlags::MOVE_SELF);
                if let Some(gone) = state
                    .by_dir
                    .iter()
                    .find(|(_, d)| **d == wd)
                    .map(|(p, _)| p.clone())
                {
                    let under: Vec<(PathBuf, i32)> = state
                        .by_dir
                        .iter()
                        .filter(|(p, _)| p.starts_with(&gone))
                        .map(|(p, d)| (p.clone(), *d))
                        .collect();
                    for (p, d) in under {
                        state.by_dir.remove(&p);
                        if moved && d != wd {
                            let _ = inotify::remove_watch(&w.fd, d);
                        }
                    }
                }
                if flags.contains(ReadFlags::IGNORED) {
                    state.counts.remove(&wd);
                } else if moved {
                    let _ = inotify::remove_watch(&w.fd, wd);
                }
                bump = true;
                continue;
            }
            bump |= match state.counts.get(&wd) {
                Some(None) => true,
                Some(Some(names)) => e
                    .file_name()
                    .is_some_and(|n| names.iter().any(|x| x.as_bytes() == n.to_bytes())),
                None => false,
            };
        }
        if bump {
            state.generation += 1;
        }
        Some(state)
    }

    /// Watches held (after the queued events are applied).
    #[cfg(test)]
    pub(super) fn watched() -> usize {
        watcher()
            .and_then(current)
            .map_or(0, |s| s.by_dir.len().max(s.counts.len()))
    }

    /// The current generation; `None` when nothing can be cached.
    pub(super) fn generation() -> Option<u64> {
        Some(current(watcher()?)?.generation)
    }

    /// Puts the watches for `settings` in place; returns the generation read before them
    /// (`None`: it cannot be watched).
    pub(super) fn watch(settings: &super::WorkspaceSettings, with_skills: bool) -> Option<u64> {
        let w = watcher()?;
        let generation = current(w)?.generation;
        let plan = super::plan(settings, with_skills)?;
        let mut state = current(w)?;
        for (dir, names) in plan {
            let wd = match state.by_dir.get(&dir) {
                Some(wd) => *wd,
                None => {
                    if state.by_dir.len() >= super::MAX_WATCHES {
                        return None;
                    }
                    match inotify::add_watch(&w.fd, &dir, MASK) {
                        Ok(wd) => {
                            state.by_dir.insert(dir, wd);
                            wd
                        }
                        Err(e) => {
                            log::debug!("cannot watch {}: {e}", dir.display());
                            return None;
                        }
                    }
                }
            };
            let counts = state.counts.entry(wd).or_insert_with(|| Some(Vec::new()));
            match (counts.as_mut(), names) {
                (None, _) => {}
                (Some(_), None) => *counts = None,
                (Some(have), Some(names)) => {
                    for n in names {
                        if !have.contains(&n) {
                            have.push(n);
                        }
                    }
                }
            }
        }
        Some(generation)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn generation() -> Option<u64> {
        None
    }

    pub(super) fn watch(_: &super::WorkspaceSettings, _: bool) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests;
