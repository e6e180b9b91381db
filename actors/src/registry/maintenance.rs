//! Session store maintenance (OpenClaw's `session.maintenance`, `sessions.cleanup`): what
//! keeps a gateway that runs for months within its disk.
//!
//! Each agent's sessions directory (`agents/<id>/sessions/`) holds its index
//! (`sessions.json`), one transcript per live session (`<sessionId>.jsonl`), the
//! transcripts a reset left behind (unreferenced `<sessionId>.jsonl`) and archives
//! (`<sessionId>.jsonl.deleted.<ms>`). A pass, per agent:
//!
//! 1. **Missing transcripts** (only when asked, `fixMissing`): entries whose transcript
//!    file is gone and that were not touched in the last [`RECENT`] are dropped.
//! 2. **Age** (`pruneAfter`, default 30 days): entries not updated for that long leave
//!    the index; their transcripts are archived (`.deleted.<ms>`), except those of
//!    disposable automation (cron sessions), which are deleted. The next message of a
//!    pruned chat starts a fresh session.
//! 3. **Count** (`maxEntries`, default 5000): the oldest entries beyond the cap are
//!    archived the same way. Group and topic sessions (durable conversations) are not
//!    evicted for the cap.
//! 4. **Archive retention** (`resetArchiveRetention`, default: keep): archives and
//!    transcripts left by resets older than that are deleted.
//! 5. **Disk budget** (`maxDiskBytes`, default 10 GiB per agent): when the directory is
//!    larger, archives and transcripts left by resets are deleted, oldest first, until it
//!    is at most `highWaterBytes` (default 80 %). Live sessions are never deleted for the
//!    budget; a directory still over it is logged.
//!
//! Never touched: the agent's main session, a session with a run going or queued, the
//! `activeKey` of a `sessions.cleanup` call. `mode: "warn"` plans and logs, and changes
//! nothing (`sessions.cleanup {enforce: true}` applies anyway).
//!
//! The planner ([`plan`]) is a pure function of the index, the directory listing, the
//! busy keys and the clock; the registry applies its plan (index first, then the files,
//! through the store, in that order).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

/// The default age after which an untouched session leaves the index.
pub const DEFAULT_PRUNE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default cap on index entries per agent.
pub const DEFAULT_MAX_ENTRIES: usize = 5000;
/// The default disk budget per agent (10 GiB).
pub const DEFAULT_MAX_DISK_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// A session touched this recently is not dropped for a missing transcript (it may not
/// have written its first line yet).
pub const RECENT: Duration = Duration::from_secs(10 * 60);
/// How often the gateway runs a pass by itself (the first one this long after start).
pub const EVERY: Duration = Duration::from_secs(30 * 60);

/// `session.maintenance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceSettings {
    /// `mode: "enforce"` (default) applies; `"warn"` only reports.
    pub enforce: bool,
    /// `pruneAfter` (`None`: off).
    pub prune_after: Option<Duration>,
    /// `maxEntries`.
    pub max_entries: usize,
    /// `maxDiskBytes` (`None`: no budget).
    pub max_disk_bytes: Option<u64>,
    /// `highWaterBytes` (default 80 % of the budget).
    pub high_water_bytes: u64,
    /// `resetArchiveRetention` (`None`: archives are kept, up to the disk budget).
    pub archive_retention: Option<Duration>,
}

impl Default for MaintenanceSettings {
    fn default() -> Self {
        Self {
            enforce: true,
            prune_after: Some(DEFAULT_PRUNE_AFTER),
            max_entries: DEFAULT_MAX_ENTRIES,
            max_disk_bytes: Some(DEFAULT_MAX_DISK_BYTES),
            high_water_bytes: DEFAULT_MAX_DISK_BYTES / 10 * 8,
            archive_retention: None,
        }
    }
}

/// A file of a sessions directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirFile {
    /// Its name (no directory).
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// Last modified (ms since the epoch).
    pub modified_ms: u64,
}

/// A sessions directory as [`crate::store::ScanDir`] found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirListing {
    /// Its files.
    pub files: Vec<DirFile>,
    /// The session ids its `sessions.json` names on disk (`None`: it could not be read,
    /// and then no file is a leftover).
    pub on_disk: Option<HashSet<String>>,
    /// Every file was listed (`false`: the listing stopped at its bound or a file could
    /// not be looked at; then no transcript counts as missing).
    pub complete: bool,
}

/// An index entry as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The session key.
    pub key: String,
    /// Its transcript id.
    pub session_id: String,
    /// Last activity (ms).
    pub updated_at: u64,
}

/// What becomes of an entry that leaves the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Its transcript is renamed `<file>.deleted.<ms>` (kept until retention or budget).
    Archive,
    /// Its transcript is deleted (disposable automation, or archived and then over budget).
    Delete,
    /// It has no transcript.
    Forget,
}

/// One pass's decisions for one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Entries to drop from the index, with their transcript's fate.
    pub entries: Vec<(String, String, Fate)>,
    /// Files of the directory to delete (archives, transcripts left by resets).
    pub delete_files: Vec<String>,
    /// What it amounts to.
    pub summary: Counts,
}

/// What a pass did (or would do), in OpenClaw's summary terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Entries before.
    pub before: usize,
    /// Entries after.
    pub after: usize,
    /// Dropped for a missing transcript.
    pub missing: usize,
    /// Archived for age.
    pub archived: usize,
    /// Deleted for age (disposable automation).
    pub pruned: usize,
    /// Archived for the count cap.
    pub cap_archived: usize,
    /// Files scanned, and archives / reset leftovers deleted for retention.
    pub artifacts_scanned: usize,
    /// Deleted for retention.
    pub artifacts_removed: usize,
    /// The disk budget, when one is set: bytes before and after, files deleted for it.
    pub disk: Option<(u64, u64, usize)>,
}

impl Counts {
    /// Whether the pass changes anything.
    pub fn mutates(&self) -> bool {
        self.before != self.after
            || self.artifacts_removed > 0
            || self.disk.is_some_and(|(_, _, removed)| removed > 0)
    }
}

/// OpenClaw's per-store summary (`sessions.cleanup`'s answer for one agent).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreSummary {
    /// The agent.
    pub agent_id: String,
    /// Its index file (absolute).
    pub store_path: String,
    /// `enforce` or `warn`.
    pub mode: &'static str,
    /// Always `false` (the gateway applies).
    pub dry_run: bool,
    /// Entries before.
    pub before_count: usize,
    /// Entries after.
    pub after_count: usize,
    /// Dropped for a missing transcript.
    pub missing: usize,
    /// Not applicable here (OpenClaw's `dmScope` repair): 0.
    pub dm_scope_retired: usize,
    /// Not applicable here (OpenClaw's model-run probes): 0.
    pub model_run_pruned: usize,
    /// Archived for age.
    pub archived: usize,
    /// Archived for the cap.
    pub cap_archived: usize,
    /// Deleted for age.
    pub pruned: usize,
    /// Deleted for the cap (never: the cap archives).
    pub capped: usize,
    /// Archives and reset leftovers deleted for retention.
    pub unreferenced_artifacts: Artifacts,
    /// The disk budget's work (`null`: no budget).
    pub disk_budget: Option<DiskBudget>,
    /// Whether anything changed (or, in warn mode, would).
    pub would_mutate: bool,
    /// Set when applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<bool>,
    /// Entries after, when applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_count: Option<usize>,
    /// A dry run's planned actions (ours: OpenClaw's CLI plans dry runs itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<PlannedAction>>,
}

/// One planned change of a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedAction {
    /// `archive`, `delete` (with its transcript) or `forget` (no transcript).
    pub action: &'static str,
    /// The session key.
    pub key: String,
    /// Its last activity (ms).
    pub updated_at: u64,
}

/// `unreferencedArtifacts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifacts {
    /// Files looked at.
    pub scanned_files: usize,
    /// Files deleted.
    pub removed_files: usize,
}

/// `diskBudget`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskBudget {
    /// Bytes before.
    pub total_bytes_before: u64,
    /// Bytes after.
    pub total_bytes_after: u64,
    /// Files deleted for it.
    pub removed_files: usize,
    /// Entries dropped for it (never: live sessions are kept).
    pub removed_entries: usize,
}

impl StoreSummary {
    /// The summary of `counts` for `agent` (`applied`: the plan was carried out).
    pub fn of(agent: &str, store_path: String, enforce: bool, c: &Counts, applied: bool) -> Self {
        Self {
            agent_id: agent.to_owned(),
            store_path,
            mode: if enforce { "enforce" } else { "warn" },
            dry_run: false,
            before_count: c.before,
            after_count: c.after,
            missing: c.missing,
            dm_scope_retired: 0,
            model_run_pruned: 0,
            archived: c.archived,
            cap_archived: c.cap_archived,
            pruned: c.pruned,
            capped: 0,
            unreferenced_artifacts: Artifacts {
                scanned_files: c.artifacts_scanned,
                removed_files: c.artifacts_removed,
            },
            disk_budget: c.disk.map(|(before, after, removed)| DiskBudget {
                total_bytes_before: before,
                total_bytes_after: after,
                removed_files: removed,
                removed_entries: 0,
            }),
            would_mutate: c.mutates(),
            applied: applied.then_some(true),
            applied_count: applied.then_some(c.after),
            actions: None,
        }
    }
}

/// The inputs of one agent's pass.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The agent.
    pub agent: &'a str,
    /// Its index entries.
    pub entries: Vec<Entry>,
    /// Its sessions directory.
    pub files: Vec<DirFile>,
    /// The session ids its index names on disk (`None`: unreadable: no leftovers).
    pub on_disk: Option<HashSet<String>>,
    /// The listing is complete (`false`: a transcript not listed is not missing).
    pub complete: bool,
    /// Keys with a run going or queued.
    pub busy: &'a HashSet<String>,
    /// A key the caller protects (`activeKey`).
    pub active_key: Option<&'a str>,
    /// Now (ms).
    pub now: u64,
    /// The settings.
    pub settings: &'a MaintenanceSettings,
    /// Drop entries whose transcript is missing (`fixMissing`).
    pub fix_missing: bool,
}

/// The transcript file name of a session id.
pub fn transcript_file(session_id: &str) -> String {
    format!("{session_id}.jsonl")
}

/// Whether `name` is an archive (`<id>.jsonl.deleted.<ms>` or `.reset.<ms>`).
pub fn is_archive(name: &str) -> bool {
    name.contains(".jsonl.deleted.") || name.contains(".jsonl.reset.")
}

/// When an archive was made: its `.deleted.<ms>` / `.reset.<ms>` suffix (`None`: not an
/// archive, or no readable stamp).
pub fn archived_at(name: &str) -> Option<u64> {
    let (_, stamp) = name
        .rsplit_once(".jsonl.deleted.")
        .or_else(|| name.rsplit_once(".jsonl.reset."))?;
    stamp.parse().ok()
}

/// Disposable automation: a cron job's session.
fn disposable(key: &str) -> bool {
    key.contains(":cron:")
}

/// A durable conversation the count cap does not evict: a group or a topic.
fn durable(key: &str) -> bool {
    key.contains(":group:") || key.contains(":topic:") || key.contains(":thread:")
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Plans one agent's pass (see the module docs).
pub fn plan(i: &Inputs<'_>) -> Plan {
    let s = i.settings;
    let main = format!("agent:{}:main", i.agent);
    let protected =
        |e: &Entry| e.key == main || i.busy.contains(&e.key) || i.active_key == Some(&e.key);
    let sizes: HashMap<&str, &DirFile> = i.files.iter().map(|f| (f.name.as_str(), f)).collect();
    let mut out = Plan::default();
    out.summary.before = i.entries.len();
    let mut live: Vec<&Entry> = Vec::with_capacity(i.entries.len());
    for e in &i.entries {
        let has_file = !i.complete || sizes.contains_key(transcript_file(&e.session_id).as_str());
        let fate = if protected(e) {
            None
        } else if i.fix_missing && !has_file && e.updated_at.saturating_add(ms(RECENT)) < i.now {
            out.summary.missing += 1;
            Some(Fate::Forget)
        } else if s
            .prune_after
            .is_some_and(|age| e.updated_at.saturating_add(ms(age)) < i.now)
        {
            if disposable(&e.key) {
                out.summary.pruned += 1;
                Some(Fate::Delete)
            } else {
                out.summary.archived += 1;
                Some(Fate::Archive)
            }
        } else {
            None
        };
        match fate {
            Some(f) => {
                let f = if has_file { f } else { Fate::Forget };
                out.entries.push((e.key.clone(), e.session_id.clone(), f));
            }
            None => live.push(e),
        }
    }
    if live.len() > s.max_entries {
        let mut evictable: Vec<&Entry> = live
            .iter()
            .copied()
            .filter(|e| !protected(e) && !durable(&e.key))
            .collect();
        evictable.sort_by(|a, b| a.updated_at.cmp(&b.updated_at).then(a.key.cmp(&b.key)));
        let over = live.len() - s.max_entries;
        let gone: HashSet<&str> = evictable
            .iter()
            .take(over)
            .map(|e| e.key.as_str())
            .collect();
        for e in evictable.iter().take(over) {
            let has_file =
                !i.complete || sizes.contains_key(transcript_file(&e.session_id).as_str());
            let fate = if has_file {
                Fate::Archive
            } else {
                Fate::Forget
            };
            out.entries
                .push((e.key.clone(), e.session_id.clone(), fate));
            out.summary.cap_archived += 1;
        }
        live.retain(|e| !gone.contains(e.key.as_str()));
    }
    out.summary.after = live.len();

    // Files: referenced by a live entry (kept), archives and reset leftovers (candidates).
    let referenced: HashSet<String> = live
        .iter()
        .map(|e| transcript_file(&e.session_id))
        .collect();
    // An entry that leaves while another that stays shares its transcript (an alias key of
    // an old store) leaves the file alone.
    for (_, id, fate) in &mut out.entries {
        if referenced.contains(&transcript_file(id)) {
            *fate = Fate::Forget;
        }
    }
    let leaving: HashMap<String, Fate> = out
        .entries
        .iter()
        .map(|(_, id, f)| (transcript_file(id), *f))
        .collect();
    let index = "sessions.json";
    // (name, bytes, age stamp): the files the budget and retention may delete.
    let mut candidates: Vec<(String, u64, u64)> = Vec::new();
    let mut total: u64 = 0;
    for f in &i.files {
        total = total.saturating_add(f.bytes);
        out.summary.artifacts_scanned += 1;
        if f.name == index || f.name.starts_with('.') || referenced.contains(&f.name) {
            continue;
        }
        match leaving.get(&f.name) {
            // Deleted with its entry: freed now.
            Some(Fate::Delete) => total = total.saturating_sub(f.bytes),
            // Archived now: a fresh archive (dated now for retention).
            Some(_) => candidates.push((f.name.clone(), f.bytes, i.now)),
            // Named by the index on disk (an entry this process does not hold), or the
            // index is unreadable: kept.
            None if i.on_disk.as_ref().is_none_or(|ids| {
                f.name
                    .strip_suffix(".jsonl")
                    .is_some_and(|id| ids.contains(id))
            }) => {}
            // Archives are as old as their stamp says; transcripts left by resets, as
            // their last write.
            None if is_archive(&f.name) || f.name.ends_with(".jsonl") => {
                let stamp = archived_at(&f.name).unwrap_or(f.modified_ms);
                candidates.push((f.name.clone(), f.bytes, stamp));
            }
            None => {}
        }
    }
    let mut deleted: HashSet<String> = HashSet::new();
    if let Some(keep) = s.archive_retention {
        for (name, bytes, stamp) in &candidates {
            if stamp.saturating_add(ms(keep)) < i.now {
                deleted.insert(name.clone());
                total = total.saturating_sub(*bytes);
                out.summary.artifacts_removed += 1;
            }
        }
    }
    if let Some(max) = s.max_disk_bytes {
        let before = i
            .files
            .iter()
            .map(|f| f.bytes)
            .fold(0u64, u64::saturating_add);
        let mut removed = 0;
        if total > max {
            candidates.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)));
            for (name, bytes, _) in &candidates {
                if total <= s.high_water_bytes {
                    break;
                }
                if deleted.insert(name.clone()) {
                    total = total.saturating_sub(*bytes);
                    removed += 1;
                }
            }
        }
        out.summary.disk = Some((before, total, removed));
    }
    // An entry archived now whose archive the budget or retention takes is deleted outright.
    for (_, id, fate) in &mut out.entries {
        if *fate == Fate::Archive && deleted.remove(&transcript_file(id)) {
            *fate = Fate::Delete;
        }
    }
    let mut files: Vec<String> = deleted.into_iter().collect();
    files.sort();
    out.delete_files = files;
    out
}

// === the registry's side ===

use actix::prelude::*;

use super::Registry;
use crate::protocol::error::ErrorShape;
use crate::util::now_ms;

/// `sessions.cleanup`, or the gateway's own pass every [`EVERY`].
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<Vec<StoreSummary>, ErrorShape>")]
pub struct CleanupSessions {
    /// The agents to maintain (`None`: every agent).
    pub agents: Option<Vec<String>>,
    /// Apply even with `mode: "warn"` (`enforce`).
    pub force: bool,
    /// A key that stays whatever its age (`activeKey`).
    pub active_key: Option<String>,
    /// Drop entries whose transcript is missing (`fixMissing`).
    pub fix_missing: bool,
    /// Plan and answer what would be done, change nothing (ours: `dryRun`).
    pub dry_run: bool,
}

/// At most this many `sessions.changed` events per pass (a client refreshes its list on
/// the next one anyway).
const MAX_CHANGE_EVENTS: usize = 64;

/// A directory's part of an applied plan.
struct Tidy {
    agent: String,
    dir: String,
    archive: Vec<String>,
    delete: Vec<String>,
}

fn sessions_dir(agent: &str) -> String {
    format!("agents/{agent}/sessions")
}

fn human_bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    #[allow(clippy::cast_precision_loss)]
    let mib = n as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

impl Registry {
    /// The index entries by agent (every configured agent has one, maybe empty).
    fn maintenance_entries(&self) -> std::collections::BTreeMap<String, Vec<Entry>> {
        let mut out: std::collections::BTreeMap<String, Vec<Entry>> = self
            .shared
            .live
            .get()
            .agents
            .agents()
            .iter()
            .map(|a| (a.id.clone(), Vec::new()))
            .collect();
        for (key, meta) in self.sessions_index.by_recency() {
            let agent = crate::agents::key_agent(key).unwrap_or(crate::agents::MAIN);
            out.entry(agent.to_owned()).or_default().push(Entry {
                key: key.clone(),
                session_id: meta.session_id.clone(),
                updated_at: meta.updated_at,
            });
        }
        out
    }

    /// Plans each agent's pass from its directory listing and, when it applies, drops the
    /// entries (saved before any file is touched) and tidies the directories.
    fn run_maintenance(
        &mut self,
        msg: CleanupSessions,
        scans: Vec<(String, Result<DirListing, crate::store::StoreError>)>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<StoreSummary>, ErrorShape>>>>
    {
        let settings = self.shared.live.get().session_maintenance.clone();
        let apply = (settings.enforce || msg.force) && !msg.dry_run;
        let mut announced = 0;
        let now = now_ms();
        let mut by_agent = self.maintenance_entries();
        let mut summaries = Vec::new();
        let mut tidies = Vec::new();
        let mut failed = Vec::new();
        for (agent, scan) in scans {
            if !self.indexed_agents.contains(&agent) {
                // Its index was never read: nothing here can be judged.
                continue;
            }
            let listing = match scan {
                Ok(l) => l,
                Err(e) => {
                    log::error!(
                        "session maintenance ({agent}): {e}; its sessions are left as they are"
                    );
                    failed.push(format!("{agent}: {e}"));
                    continue;
                }
            };
            let entries = by_agent.remove(&agent).unwrap_or_default();
            let busy: HashSet<String> = entries
                .iter()
                .filter(|e| {
                    self.runs.active_run(&e.key).is_some() || self.runs.queued_in(&e.key) > 0
                })
                .map(|e| e.key.clone())
                .collect();
            let p = plan(&Inputs {
                agent: &agent,
                entries,
                files: listing.files,
                on_disk: listing.on_disk,
                complete: listing.complete,
                busy: &busy,
                active_key: msg.active_key.as_deref(),
                now,
                settings: &settings,
                fix_missing: msg.fix_missing,
            });
            let dir = sessions_dir(&agent);
            let store_path = self
                .shared
                .config
                .state_dir
                .join(&dir)
                .join("sessions.json")
                .display()
                .to_string();
            let c = &p.summary;
            let mut summary = StoreSummary::of(&agent, store_path, settings.enforce, c, apply);
            if msg.dry_run {
                let updated = |key: &str| self.sessions_index.get(key).map_or(0, |m| m.updated_at);
                summary.dry_run = true;
                summary.actions = Some(
                    p.entries
                        .iter()
                        .map(|(key, _, fate)| PlannedAction {
                            action: match fate {
                                Fate::Archive => "archive",
                                Fate::Delete => "delete",
                                Fate::Forget => "forget",
                            },
                            key: key.clone(),
                            updated_at: updated(key),
                        })
                        .collect(),
                );
                summaries.push(summary);
                continue;
            }
            summaries.push(summary);
            if let Some((before, after, _)) = c.disk
                && let Some(max) = settings.max_disk_bytes
                && after > max
            {
                log::warn!(
                    "session maintenance ({agent}): {} of sessions stay over the disk budget of {} (live transcripts are never deleted for it). Fix: raise session.maintenance.maxDiskBytes, lower pruneAfter or maxEntries, or delete sessions (openclaw sessions delete)",
                    human_bytes(before.min(after)),
                    human_bytes(max)
                );
            }
            if !c.mutates() {
                continue;
            }
            let files_gone = p.delete_files.len();
            let line = format!(
                "{} → {} sessions ({} idle over pruneAfter archived, {} cron sessions deleted, {} over maxEntries archived, {} without a transcript dropped); {} archived or leftover transcripts deleted{}",
                c.before,
                c.after,
                c.archived,
                c.pruned,
                c.cap_archived,
                c.missing,
                files_gone,
                c.disk
                    .map(|(b, a, _)| format!(", {} → {}", human_bytes(b), human_bytes(a)))
                    .unwrap_or_default()
            );
            if !apply {
                log::warn!(
                    "session maintenance ({agent}, mode \"warn\": nothing changed) would do: {line}. Apply with `openclaw sessions cleanup --enforce` or session.maintenance.mode \"enforce\""
                );
                continue;
            }
            log::warn!("session maintenance ({agent}): {line}");
            let mut archive = Vec::new();
            let mut delete = p.delete_files;
            for (key, id, fate) in p.entries {
                self.sessions_index.remove(&key);
                if announced < MAX_CHANGE_EVENTS {
                    announced += 1;
                    self.session_subscribers.notify(
                        &key,
                        super::session_events::Change::Lifecycle("cleanup", None),
                    );
                }
                let _ = self.tails.take(&super::runs::transcript_name(&key, &id));
                match fate {
                    Fate::Archive => archive.push(transcript_file(&id)),
                    Fate::Delete => delete.push(transcript_file(&id)),
                    Fate::Forget => {}
                }
            }
            tidies.push(Tidy {
                agent,
                dir,
                archive,
                delete,
            });
        }
        let store = self.store.clone();
        let saved = (!tidies.is_empty()).then(|| self.save_sessions());
        Box::pin(async move {
            if !failed.is_empty() && summaries.is_empty() {
                return Err(ErrorShape::unavailable(format!(
                    "session maintenance could not read the sessions directory ({}); nothing changed",
                    failed.join("; ")
                )));
            }
            if let Some(saved) = saved
                && !saved.await
            {
                // The files stay as they are while the index on disk still names them.
                return Err(ErrorShape::unavailable(
                    "the session index could not be saved (see the gateway log: a full or read-only disk?); no transcript was archived or deleted",
                ));
            }
            for t in tidies {
                let res = store
                    .send(crate::store::TidyDir {
                        dir: t.dir,
                        archive: t.archive,
                        delete: t.delete,
                        stamp: now,
                    })
                    .await;
                if let Err(e) = crate::store::StoreError::flatten(res) {
                    log::warn!("session maintenance ({}): {e}", t.agent);
                }
            }
            Ok(summaries)
        })
    }

    /// The gateway's own pass (every [`EVERY`]; warn mode logs only).
    pub(super) fn schedule_maintenance(ctx: &mut Context<Self>) {
        ctx.run_interval(EVERY, |_, ctx| ctx.notify(CleanupSessions::default()));
    }
}

impl Handler<CleanupSessions> for Registry {
    type Result = ResponseActFuture<Self, Result<Vec<StoreSummary>, ErrorShape>>;

    fn handle(&mut self, msg: CleanupSessions, _: &mut Self::Context) -> Self::Result {
        let known = self.maintenance_entries();
        let agents: Vec<String> = match &msg.agents {
            Some(wanted) => {
                if let Some(unknown) = wanted.iter().find(|a| !known.contains_key(*a)) {
                    let e = ErrorShape::invalid(format!(
                        "unknown agent id \"{}\" (agents.list shows them)",
                        unknown.chars().take(64).collect::<String>()
                    ));
                    return Box::pin(actix::fut::ready(Err(e)));
                }
                wanted.clone()
            }
            None => known.into_keys().collect(),
        };
        let scans = futures_util::future::join_all(agents.into_iter().map(|agent| {
            let scan = self.store.send(crate::store::ScanDir {
                dir: sessions_dir(&agent),
            });
            async move { (agent, crate::store::StoreError::flatten(scan.await)) }
        }));
        Box::pin(scans.into_actor(self).then(move |scans, act, _| {
            actix::fut::wrap_future::<_, Self>(act.run_maintenance(msg, scans))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600 * 1000;
    const NOW: u64 = 1_796_437_200_000;

    fn entry(key: &str, id: &str, days_ago: u64) -> Entry {
        Entry {
            key: key.to_owned(),
            session_id: id.to_owned(),
            updated_at: NOW - days_ago * DAY,
        }
    }

    fn file(name: &str, bytes: u64, days_ago: u64) -> DirFile {
        DirFile {
            name: name.to_owned(),
            bytes,
            modified_ms: NOW - days_ago * DAY,
        }
    }

    fn run(
        entries: Vec<Entry>,
        files: Vec<DirFile>,
        s: &MaintenanceSettings,
        busy: &[&str],
    ) -> Plan {
        let busy: HashSet<String> = busy.iter().map(|k| (*k).to_owned()).collect();
        plan(&Inputs {
            agent: "main",
            entries,
            files,
            on_disk: Some(HashSet::new()),
            complete: true,
            busy: &busy,
            active_key: None,
            now: NOW,
            settings: s,
            fix_missing: false,
        })
    }

    #[test]
    fn old_sessions_are_archived_cron_ones_deleted_main_and_busy_kept() {
        let s = MaintenanceSettings::default();
        let p = run(
            vec![
                entry("agent:main:main", "m", 90),
                entry("agent:main:telegram:direct:1", "a", 31),
                entry("agent:main:telegram:direct:2", "b", 29),
                entry("agent:main:cron:nightly", "c", 40),
                entry("agent:main:telegram:direct:3", "d", 60),
            ],
            vec![
                file("sessions.json", 10, 0),
                file("m.jsonl", 10, 90),
                file("a.jsonl", 10, 31),
                file("b.jsonl", 10, 29),
                file("c.jsonl", 10, 40),
                file("d.jsonl", 10, 60),
            ],
            &s,
            &["agent:main:telegram:direct:3"],
        );
        assert_eq!(
            p.entries,
            vec![
                (
                    "agent:main:telegram:direct:1".to_owned(),
                    "a".to_owned(),
                    Fate::Archive
                ),
                (
                    "agent:main:cron:nightly".to_owned(),
                    "c".to_owned(),
                    Fate::Delete
                ),
            ]
        );
        assert_eq!((p.summary.before, p.summary.after), (5, 3));
        assert_eq!((p.summary.archived, p.summary.pruned), (1, 1));
        assert!(p.delete_files.is_empty());
        assert!(p.summary.mutates());
        // Warn-free defaults: nothing old, nothing to do.
        let none = run(vec![entry("agent:main:main", "m", 90)], vec![], &s, &[]);
        assert!(!none.summary.mutates(), "{none:?}");
        // Off.
        let off = MaintenanceSettings {
            prune_after: None,
            ..s
        };
        let p = run(
            vec![entry("agent:main:telegram:direct:1", "a", 400)],
            vec![],
            &off,
            &[],
        );
        assert!(p.entries.is_empty());
    }

    #[test]
    fn the_cap_archives_the_oldest_but_not_groups_topics_or_protected() {
        let s = MaintenanceSettings {
            prune_after: None,
            max_entries: 3,
            ..MaintenanceSettings::default()
        };
        let p = run(
            vec![
                entry("agent:main:main", "m", 9),
                entry("agent:main:telegram:group:-100", "g", 8),
                entry("agent:main:telegram:group:-100:topic:7", "t", 7),
                entry("agent:main:telegram:direct:1", "a", 6),
                entry("agent:main:telegram:direct:2", "b", 5),
                entry("agent:main:tui-x", "c", 1),
            ],
            vec![file("a.jsonl", 1, 6), file("c.jsonl", 1, 1)],
            &s,
            &[],
        );
        // Six entries, cap three: three go, oldest first among the evictable (b has no
        // transcript: forgotten).
        assert_eq!(
            p.entries,
            vec![
                (
                    "agent:main:telegram:direct:1".to_owned(),
                    "a".to_owned(),
                    Fate::Archive
                ),
                (
                    "agent:main:telegram:direct:2".to_owned(),
                    "b".to_owned(),
                    Fate::Forget
                ),
                ("agent:main:tui-x".to_owned(), "c".to_owned(), Fate::Archive),
            ]
        );
        assert_eq!((p.summary.cap_archived, p.summary.after), (3, 3));
        // Everything protected: the cap cannot be met, nothing is forced.
        let s1 = MaintenanceSettings {
            max_entries: 1,
            ..s
        };
        let p = run(
            vec![
                entry("agent:main:main", "m", 9),
                entry("agent:main:telegram:group:-1", "g", 8),
            ],
            vec![],
            &s1,
            &[],
        );
        assert!(p.entries.is_empty());
    }

    #[test]
    fn retention_and_the_disk_budget_delete_archives_oldest_first_never_live_transcripts() {
        let s = MaintenanceSettings {
            prune_after: None,
            max_disk_bytes: Some(1000),
            high_water_bytes: 800,
            archive_retention: Some(Duration::from_secs(90 * 24 * 3600)),
            ..MaintenanceSettings::default()
        };
        let p = run(
            vec![entry("agent:main:telegram:direct:1", "live", 1)],
            vec![
                file("sessions.json", 50, 0),
                file("live.jsonl", 600, 1),
                file(&format!("old.jsonl.deleted.{}", NOW - 100 * DAY), 100, 1),
                file("reset-left.jsonl", 200, 20),
                file(&format!("newer.jsonl.deleted.{}", NOW - 5 * DAY), 150, 400),
                file("notes.txt", 10, 400),
            ],
            &s,
            &[],
        );
        // Retention takes the 100-day archive (1110 → 1010); the budget then takes the
        // oldest candidates until ≤ 800: the reset leftover (20 days, → 810), then the
        // newer archive (→ 660). The live transcript and other files stay.
        assert_eq!(
            p.delete_files,
            vec![
                format!("newer.jsonl.deleted.{}", NOW - 5 * DAY),
                format!("old.jsonl.deleted.{}", NOW - 100 * DAY),
                "reset-left.jsonl".to_owned()
            ]
        );
        assert_eq!(p.summary.artifacts_removed, 1);
        assert_eq!(p.summary.disk, Some((1110, 660, 2)));
        // A budget the live data alone exceeds: archives go, live stays, still over.
        let tight = MaintenanceSettings {
            max_disk_bytes: Some(100),
            high_water_bytes: 80,
            archive_retention: None,
            ..s
        };
        let p = run(
            vec![entry("agent:main:telegram:direct:1", "live", 1)],
            vec![
                file("live.jsonl", 600, 1),
                file(&format!("x.jsonl.deleted.{}", NOW - 3 * DAY), 5, 3),
            ],
            &tight,
            &[],
        );
        assert_eq!(
            p.delete_files,
            vec![format!("x.jsonl.deleted.{}", NOW - 3 * DAY)]
        );
        assert_eq!(p.summary.disk, Some((605, 600, 1)));
    }

    #[test]
    fn an_archive_made_now_that_the_budget_takes_is_deleted_outright() {
        let s = MaintenanceSettings {
            max_disk_bytes: Some(100),
            high_water_bytes: 80,
            ..MaintenanceSettings::default()
        };
        let p = run(
            vec![
                entry("agent:main:telegram:direct:1", "old", 40),
                entry("agent:main:telegram:direct:2", "new", 1),
            ],
            vec![file("old.jsonl", 100, 40), file("new.jsonl", 50, 1)],
            &s,
            &[],
        );
        assert_eq!(
            p.entries,
            vec![(
                "agent:main:telegram:direct:1".to_owned(),
                "old".to_owned(),
                Fate::Delete
            )]
        );
        assert!(p.delete_files.is_empty(), "deleted with its entry");
        assert_eq!(p.summary.disk, Some((150, 50, 1)));
    }

    #[test]
    fn missing_transcripts_only_when_asked_and_not_for_recent_or_protected_entries() {
        let s = MaintenanceSettings::default();
        let busy = HashSet::new();
        let entries = vec![
            entry("agent:main:telegram:direct:1", "gone", 2),
            entry("agent:main:tui-new", "fresh", 0),
            entry("agent:main:main", "m", 2),
            entry("agent:main:telegram:direct:9", "kept", 2),
        ];
        let inputs = |fix: bool, active: Option<&'static str>| Inputs {
            agent: "main",
            entries: entries.clone(),
            files: vec![],
            on_disk: Some(HashSet::new()),
            complete: true,
            busy: &busy,
            active_key: active,
            now: NOW,
            settings: &s,
            fix_missing: fix,
        };
        assert!(plan(&inputs(false, None)).entries.is_empty());
        let p = plan(&inputs(true, Some("agent:main:telegram:direct:9")));
        assert_eq!(
            p.entries,
            vec![(
                "agent:main:telegram:direct:1".to_owned(),
                "gone".to_owned(),
                Fate::Forget
            )]
        );
        assert_eq!(p.summary.missing, 1);
    }

    #[test]
    fn transcripts_the_index_on_disk_names_are_never_leftovers() {
        let s = MaintenanceSettings {
            max_disk_bytes: Some(10),
            high_water_bytes: 5,
            archive_retention: Some(Duration::from_secs(1)),
            ..MaintenanceSettings::default()
        };
        let busy = HashSet::new();
        let files = vec![
            file("other-agent.jsonl", 100, 60),
            file("stray.jsonl", 100, 60),
        ];
        let inputs = |on_disk: Option<HashSet<String>>| Inputs {
            agent: "work",
            entries: vec![],
            files: files.clone(),
            on_disk,
            complete: true,
            busy: &busy,
            active_key: None,
            now: NOW,
            settings: &s,
            fix_missing: false,
        };
        let named: HashSet<String> = ["other-agent".to_owned()].into();
        assert_eq!(
            plan(&inputs(Some(named))).delete_files,
            vec!["stray.jsonl".to_owned()]
        );
        // An unreadable index on disk: nothing is a leftover.
        assert!(plan(&inputs(None)).delete_files.is_empty());
    }

    #[test]
    fn an_alias_key_never_takes_a_live_transcript_and_a_partial_listing_misses_nothing() {
        let s = MaintenanceSettings::default();
        // `main` (an old alias) aged out, `agent:main:main` shares its transcript.
        let p = run(
            vec![
                entry("main", "shared", 90),
                entry("agent:main:main", "shared", 90),
            ],
            vec![file("shared.jsonl", 10, 1)],
            &s,
            &[],
        );
        assert_eq!(
            p.entries,
            vec![("main".to_owned(), "shared".to_owned(), Fate::Forget)]
        );
        assert!(p.delete_files.is_empty());
        // A listing that stopped early: entries whose transcript it did not list are not
        // missing, and an aged one is archived, not forgotten.
        let busy = HashSet::new();
        let p = plan(&Inputs {
            agent: "main",
            entries: vec![
                entry("agent:main:telegram:direct:1", "unlisted", 2),
                entry("agent:main:telegram:direct:2", "old-unlisted", 40),
            ],
            files: vec![],
            on_disk: Some(HashSet::new()),
            complete: false,
            busy: &busy,
            active_key: None,
            now: NOW,
            settings: &s,
            fix_missing: true,
        });
        assert_eq!(p.summary.missing, 0);
        assert_eq!(
            p.entries,
            vec![(
                "agent:main:telegram:direct:2".to_owned(),
                "old-unlisted".to_owned(),
                Fate::Archive
            )]
        );
    }

    #[test]
    fn archives_are_dated_by_their_stamp() {
        assert_eq!(
            archived_at("a.jsonl.deleted.1700000000000"),
            Some(1_700_000_000_000)
        );
        assert_eq!(archived_at("a.jsonl.reset.5"), Some(5));
        assert_eq!(archived_at("a.jsonl.deleted.x"), None);
        assert_eq!(archived_at("a.jsonl"), None);
        // An archive stamped 100 days ago goes under a 90-day retention although its file
        // was written yesterday; one stamped yesterday stays although written long ago.
        let s = MaintenanceSettings {
            archive_retention: Some(Duration::from_secs(90 * 24 * 3600)),
            ..MaintenanceSettings::default()
        };
        let p = run(
            vec![],
            vec![
                file(&format!("x.jsonl.deleted.{}", NOW - 100 * DAY), 1, 1),
                file(&format!("y.jsonl.deleted.{}", NOW - DAY), 1, 300),
            ],
            &s,
            &[],
        );
        assert_eq!(
            p.delete_files,
            vec![format!("x.jsonl.deleted.{}", NOW - 100 * DAY)]
        );
    }

    #[test]
    fn the_summary_has_openclaws_shape() {
        let c = Counts {
            before: 3,
            after: 2,
            archived: 1,
            artifacts_scanned: 4,
            disk: Some((10, 5, 1)),
            ..Counts::default()
        };
        let v = serde_json::to_value(StoreSummary::of(
            "main",
            "/s/sessions.json".into(),
            true,
            &c,
            true,
        ))
        .expect("json");
        assert_eq!(
            v,
            serde_json::json!({"agentId": "main", "storePath": "/s/sessions.json", "mode": "enforce",
                "dryRun": false, "beforeCount": 3, "afterCount": 2, "missing": 0, "dmScopeRetired": 0,
                "modelRunPruned": 0, "archived": 1, "capArchived": 0, "pruned": 0, "capped": 0,
                "unreferencedArtifacts": {"scannedFiles": 4, "removedFiles": 0},
                "diskBudget": {"totalBytesBefore": 10, "totalBytesAfter": 5, "removedFiles": 1,
                    "removedEntries": 0},
                "wouldMutate": true, "applied": true, "appliedCount": 2})
        );
        let warn = serde_json::to_value(StoreSummary::of(
            "w",
            "p".into(),
            false,
            &Counts::default(),
            false,
        ))
        .expect("json");
        assert_eq!(warn["mode"], "warn");
        assert!(warn["diskBudget"].is_null() && warn.get("applied").is_none());
    }
}
