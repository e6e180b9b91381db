//! The session index the [`Registry`](super::Registry) owns: one [`SessionMeta`] per agent
//! session key, persisted as `sessions.json` (a JSON object by key, unchanged by this
//! type). A plain struct: the registry decides when to save it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::runs::{RunOrigin, SessionMeta};

/// Characters of the last message kept as the session's preview.
const PREVIEW_CHARS: usize = 120;

/// What [`SessionIndex::reset`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum ResetOutcome {
    /// The session is already newer than the request: its entry, unchanged.
    Unchanged(SessionMeta),
    /// A fresh session id.
    Fresh {
        /// The entry now.
        meta: SessionMeta,
        /// The id it replaced (`None`: the session is new).
        replaced: Option<String>,
    },
}

/// The session index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionIndex(BTreeMap<String, SessionMeta>);

impl SessionIndex {
    /// The entries split by the agent of their key (a key of no valid agent id, only ever an
    /// old entry, counts as `main`'s), for one file per agent.
    pub fn by_agent(&self) -> BTreeMap<String, SessionIndex> {
        let mut out: BTreeMap<String, SessionIndex> = BTreeMap::new();
        for (k, m) in &self.0 {
            let agent = crate::agents::key_agent(k).unwrap_or(crate::agents::MAIN);
            out.entry(agent.to_owned())
                .or_default()
                .0
                .insert(k.clone(), m.clone());
        }
        out
    }

    /// What `health` reports of the sessions: each agent's count and newest entries.
    pub fn health_view(&self) -> crate::protocol::health::SessionsView {
        let mut out = crate::protocol::health::SessionsView::new();
        for (k, m) in &self.0 {
            let agent = crate::agents::key_agent(k).unwrap_or(crate::agents::MAIN);
            match out.get_mut(agent) {
                Some(a) => a.add(k, m.updated_at),
                None => {
                    let mut a = crate::protocol::health::AgentSessions::default();
                    a.add(k, m.updated_at);
                    out.insert(agent.to_owned(), a);
                }
            }
        }
        out
    }

    /// Adds the entries of `other` (another agent's file) that are not here yet.
    pub fn merge(&mut self, other: SessionIndex) {
        for (k, m) in other.0 {
            self.0.entry(k).or_insert(m);
        }
    }

    /// Sessions known.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No session yet.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entry of `key`.
    pub fn get(&self, key: &str) -> Option<&SessionMeta> {
        self.0.get(key)
    }

    /// The entry of `key` for a run starting now, created (with the id `new_id` gives) if
    /// the session is new; a channel origin records its channel, chat and peer. Returns the
    /// entry and whether it was created (a new session id must be saved before its
    /// transcript grows).
    pub fn touch(
        &mut self,
        key: &str,
        origin: &RunOrigin,
        now: u64,
        new_id: impl FnOnce() -> String,
    ) -> (SessionMeta, bool) {
        let created = !self.0.contains_key(key);
        let meta = self
            .0
            .entry(key.to_owned())
            .or_insert_with(|| fresh(new_id(), now));
        if let RunOrigin::Channel { inbound, .. } = origin {
            meta.channel = Some(inbound.channel.clone());
            meta.chat_id = Some(inbound.chat_id);
            if !inbound.sender_name.is_empty() {
                meta.display_name = Some(inbound.sender_name.clone());
            }
        }
        (meta.clone(), created)
    }

    /// Records the chat's choice of spoken answers (`/tts`), creating the entry (with the
    /// id `new_id` gives) when the session is new.
    pub fn set_tts(
        &mut self,
        key: &str,
        tts: Option<bool>,
        now: u64,
        new_id: impl FnOnce() -> String,
    ) {
        self.0
            .entry(key.to_owned())
            .or_insert_with(|| fresh(new_id(), now))
            .tts = tts;
    }

    /// Sets (or, with `None`, clears) the chat's own thinking level (`/think`).
    pub fn set_thinking(
        &mut self,
        key: &str,
        level: Option<crate::ports::Thinking>,
        now: u64,
        new_id: impl FnOnce() -> String,
    ) {
        self.0
            .entry(key.to_owned())
            .or_insert_with(|| fresh(new_id(), now))
            .thinking_level = level.map(|l| l.as_str().to_owned());
    }

    /// Sets (or, with `None`, clears) the session's own model (`provider/model`).
    pub fn set_model(
        &mut self,
        key: &str,
        reference: Option<&str>,
        now: u64,
        new_id: impl FnOnce() -> String,
    ) {
        let meta = self
            .0
            .entry(key.to_owned())
            .or_insert_with(|| fresh(new_id(), now));
        match reference.and_then(|r| r.split_once('/')) {
            Some((p, m)) => {
                meta.provider_override = Some(p.to_owned());
                meta.model_override = Some(m.to_owned());
                meta.model_override_source = Some("user".to_owned());
            }
            None => {
                meta.provider_override = None;
                meta.model_override = None;
                meta.model_override_source = None;
            }
        }
    }

    /// Gives `key` a fresh session id (a new, empty transcript; the old one stays on disk),
    /// keeping where the session lives (channel, chat, peer name). `asked_at` is when the
    /// chat message asking for it arrived: a session whose current id is no older than that
    /// already satisfies it (the same `/new` handed again after a restart, after it or a
    /// later one was done), and nothing changes.
    pub fn reset(
        &mut self,
        key: &str,
        now: u64,
        asked_at: Option<u64>,
        new_id: impl FnOnce() -> String,
    ) -> ResetOutcome {
        if let Some(meta) = self.0.get(key)
            && asked_at.is_some_and(|t| meta.created_at >= t)
        {
            return ResetOutcome::Unchanged(meta.clone());
        }
        match self.0.get_mut(key) {
            Some(meta) => {
                let old = std::mem::replace(&mut meta.session_id, new_id());
                meta.created_at = now;
                meta.updated_at = now;
                meta.last_message_preview = None;
                meta.message_count = 0;
                // A new transcript: nothing sent yet (the window stays the model's).
                meta.input_tokens = None;
                meta.output_tokens = None;
                meta.total_tokens = None;
                ResetOutcome::Fresh {
                    meta: meta.clone(),
                    replaced: Some(old),
                }
            }
            None => {
                let meta = fresh(new_id(), now);
                self.0.insert(key.to_owned(), meta.clone());
                ResetOutcome::Fresh {
                    meta,
                    replaced: None,
                }
            }
        }
    }

    /// Forgets the session `key`; returns its entry.
    pub fn remove(&mut self, key: &str) -> Option<SessionMeta> {
        self.0.remove(key)
    }

    /// Names the session `key`: its `label` (`sessions.create` / `sessions.patch`; `None`
    /// clears it) and, when given, its display name (`sessions.create {displayName}`).
    /// Returns its entry.
    pub fn set_names(
        &mut self,
        key: &str,
        label: Option<String>,
        display_name: Option<String>,
    ) -> Option<SessionMeta> {
        let meta = self.0.get_mut(key)?;
        meta.label = label;
        if display_name.is_some() {
            meta.display_name = display_name;
        }
        Some(meta.clone())
    }

    /// A run of `key` ended at `ended_at` with the answer `text` (empty: no answer).
    pub fn run_ended(&mut self, key: &str, outcome: &super::runs::RunOutcome) {
        if let Some(meta) = self.0.get_mut(key) {
            meta.updated_at = outcome.ended_at;
            if let Some(k) = outcome.flushed {
                meta.memory_flush_at = Some(outcome.ended_at);
                meta.memory_flush_compaction_count = Some(meta.compaction_count + u64::from(k));
            }
            if let Some(k) = outcome.flush_tried {
                meta.flush_tried_count = Some(meta.compaction_count + u64::from(k));
            }
            meta.compaction_count += u64::from(outcome.compactions);
            if let Some((tokens, window)) = outcome.context {
                meta.total_tokens = Some(u64::from(tokens));
                meta.context_tokens = Some(u64::from(window));
            }
            let u = &outcome.usage;
            if u.calls > 0 {
                meta.input_tokens = Some(u.input + u.cache_read + u.cache_write);
                meta.output_tokens = Some(u.output);
            }
            // A compaction run's notice is not part of the conversation.
            if outcome.detail.is_some() {
                return;
            }
            let text = &outcome.text;
            meta.message_count += if text.is_empty() { 1 } else { 2 };
            if !text.is_empty() {
                meta.last_message_preview = Some(preview(text));
            }
        }
    }

    /// The key of the session whose transcript id is `id`.
    pub fn key_of_id(&self, id: &str) -> Option<&String> {
        self.0
            .iter()
            .find(|(_, m)| m.session_id == id)
            .map(|(k, _)| k)
    }

    /// Every session, most recently updated first.
    pub fn by_recency(&self) -> Vec<(&String, &SessionMeta)> {
        let mut rows: Vec<(&String, &SessionMeta)> = self.0.iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.updated_at));
        rows
    }
}

/// A new, empty session with id `session_id`, created `now`.
fn fresh(session_id: String, now: u64) -> SessionMeta {
    SessionMeta {
        session_id,
        created_at: now,
        updated_at: now,
        channel: None,
        chat_id: None,
        display_name: None,
        last_message_preview: None,
        message_count: 0,
        label: None,
        tts: None,
        provider_override: None,
        model_override: None,
        model_override_source: None,
        thinking_level: None,
        compaction_count: 0,
        memory_flush_at: None,
        memory_flush_compaction_count: None,
        input_tokens: None,
        output_tokens: None,
        total_tokens: None,
        context_tokens: None,
        flush_tried_count: None,
    }
}

fn preview(text: &str) -> String {
    let mut p: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        p.push('…');
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(
        at: u64,
        text: &str,
        compactions: u32,
        notice: bool,
    ) -> super::super::runs::RunOutcome {
        super::super::runs::RunOutcome {
            status: super::super::runs::RunStatus::Ok,
            text: text.to_owned(),
            media: Vec::new(),
            error: None,
            started_at: at,
            ended_at: at,
            compactions,
            detail: notice.then(|| serde_json::json!({"compacted": true})),
            context: None,
            flushed: None,
            flush_tried: None,
            usage: Default::default(),
            delivery: None,
        }
    }

    #[test]
    fn runs_set_the_token_counters_and_a_reset_clears_them() {
        let mut idx = SessionIndex::default();
        idx.touch("k", &RunOrigin::Operator, 1, || "s1".into());
        let mut out = ended(5, "answer", 0, false);
        out.context = Some((1_500, 200_000));
        out.usage = crate::ports::Usage {
            input: 1_000,
            output: 90,
            cache_read: 400,
            cache_write: 100,
            cost: None,
            calls: 2,
        };
        idx.run_ended("k", &out);
        let m = idx.get("k").expect("session").clone();
        assert_eq!(
            (
                m.input_tokens,
                m.output_tokens,
                m.total_tokens,
                m.context_tokens
            ),
            (Some(1_500), Some(90), Some(1_500), Some(200_000))
        );
        // A run whose model reported nothing leaves the usage as it was.
        idx.run_ended("k", &ended(6, "again", 0, false));
        assert_eq!(idx.get("k").and_then(|m| m.output_tokens), Some(90));
        let json = serde_json::to_value(idx.get("k")).expect("JSON");
        assert_eq!(
            (
                &json["inputTokens"],
                &json["totalTokens"],
                &json["contextTokens"]
            ),
            (
                &serde_json::json!(1_500),
                &serde_json::json!(1_500),
                &serde_json::json!(200_000)
            )
        );
        idx.reset("k", 10, None, || "s2".into());
        let m = idx.get("k").expect("session");
        assert_eq!(
            (
                m.input_tokens,
                m.output_tokens,
                m.total_tokens,
                m.context_tokens
            ),
            (None, None, None, Some(200_000))
        );
    }

    #[test]
    fn sessions_are_created_once_and_count_messages_with_a_preview() {
        let mut idx = SessionIndex::default();
        let (m, created) = idx.touch("agent:main:main", &RunOrigin::Operator, 10, || "s1".into());
        assert!(created);
        assert_eq!((m.session_id.as_str(), m.created_at), ("s1", 10));
        let (m, created) = idx.touch("agent:main:main", &RunOrigin::Operator, 20, || {
            panic!("an existing session keeps its id")
        });
        assert!(!created);
        assert_eq!(m.session_id, "s1");
        idx.run_ended("agent:main:main", &ended(30, "", 0, false));
        idx.run_ended("agent:main:main", &ended(40, &"é".repeat(200), 0, false));
        let m = idx.get("agent:main:main").expect("kept");
        assert_eq!(
            m.message_count, 3,
            "an unanswered run counts its question only"
        );
        assert_eq!(m.updated_at, 40);
        let p = m.last_message_preview.as_deref().expect("preview");
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
        // A compaction's notice counts no message; compactions are counted.
        idx.run_ended("agent:main:main", &ended(45, "⚙️ Compacted", 1, true));
        idx.run_ended("agent:main:main", &ended(46, "hi", 1, false));
        let m = idx.get("agent:main:main").expect("kept");
        assert_eq!((m.message_count, m.compaction_count), (5, 2));
        assert_eq!(m.last_message_preview.as_deref(), Some("hi"));
        assert_eq!(
            (m.memory_flush_at, m.memory_flush_compaction_count),
            (None, None)
        );
        // A flush that ran after one of the run's compactions belongs to the new cycle.
        let mut flushed = ended(50, "ok", 2, false);
        flushed.flushed = Some(1);
        flushed.flush_tried = Some(2);
        idx.run_ended("agent:main:main", &flushed);
        let m = idx.get("agent:main:main").expect("kept");
        assert_eq!(
            (
                m.compaction_count,
                m.memory_flush_compaction_count,
                m.memory_flush_at
            ),
            (4, Some(3), Some(50))
        );
        assert_eq!(m.flush_tried_count, Some(4));
        // Unknown sessions are ignored.
        idx.run_ended("agent:main:other", &ended(50, "x", 0, false));
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn a_reset_starts_a_new_id_unless_the_session_is_newer_than_the_request() {
        let mut idx = SessionIndex::default();
        idx.touch("k", &RunOrigin::Operator, 1, || "s1".into());
        if let Some(m) = idx.0.get_mut("k") {
            m.channel = Some("telegram".into());
            m.chat_id = Some(42);
            m.display_name = Some("Ada".into());
        }
        idx.run_ended("k", &ended(2, "answer", 0, false));
        // `/new` that arrived at 4, handled at 5.
        let fresh = |o: ResetOutcome| match o {
            ResetOutcome::Fresh { meta, replaced } => (meta, replaced),
            ResetOutcome::Unchanged(m) => panic!("unchanged: {m:?}"),
        };
        let unchanged = |o: ResetOutcome| match o {
            ResetOutcome::Unchanged(m) => m.session_id,
            ResetOutcome::Fresh { meta, .. } => panic!("reset: {meta:?}"),
        };
        let (m, old) = fresh(idx.reset("k", 5, Some(4), || "s2".into()));
        assert_eq!(old.as_deref(), Some("s1"));
        assert_eq!(
            (m.session_id.as_str(), m.created_at, m.message_count),
            ("s2", 5, 0)
        );
        assert_eq!(m.last_message_preview, None);
        assert_eq!(
            (m.channel.as_deref(), m.chat_id, m.display_name.as_deref()),
            (Some("telegram"), Some(42), Some("Ada"))
        );
        // The same message handed again (after a restart) changes nothing; so does an
        // older one handed again after a newer reset.
        assert_eq!(unchanged(idx.reset("k", 9, Some(4), || "x".into())), "s2");
        assert_eq!(unchanged(idx.reset("k", 9, Some(3), || "x".into())), "s2");
        // A later request does; an operator's (no arrival time) always does.
        let (m, old) = fresh(idx.reset("k", 9, Some(6), || "s3".into()));
        assert_eq!((m.session_id.as_str(), old.as_deref()), ("s3", Some("s2")));
        let (m, _) = fresh(idx.reset("k", 9, None, || "s4".into()));
        assert_eq!(m.session_id, "s4");
        // An unknown key gets a fresh entry.
        let (m, old) = fresh(idx.reset("new", 9, Some(8), || "n1".into()));
        assert_eq!((m.session_id.as_str(), old), ("n1", None));
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn the_index_lists_by_recency_and_persists_as_an_object_by_key() {
        let mut idx = SessionIndex::default();
        for (key, at) in [("a", 5), ("b", 9), ("c", 1)] {
            idx.touch(key, &RunOrigin::Operator, at, || format!("id-{key}"));
        }
        let order: Vec<&str> = idx.by_recency().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(order, vec!["b", "a", "c"]);
        let json = serde_json::to_value(&idx).expect("serializes");
        assert_eq!(json["b"]["sessionId"], "id-b");
        assert_eq!(json["b"]["createdAt"], 9);
        let back: SessionIndex = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, idx);
    }
}
