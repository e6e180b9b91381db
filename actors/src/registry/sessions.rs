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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct SessionIndex(BTreeMap<String, SessionMeta>);

/// Read with every key in OpenClaw's current form
/// ([`canonical_key`](crate::session_scope::canonical_key)): a DM session this gateway
/// saved as `…:direct:<peer>` goes on as `…:direct:<peer>` (its transcript file is named by
/// its id, so it stays where it is). Should both forms be there, the one updated last wins.
impl<'de> Deserialize<'de> for SessionIndex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, SessionMeta>::deserialize(d)?;
        let mut out: BTreeMap<String, SessionMeta> = BTreeMap::new();
        for (k, m) in raw {
            let key = crate::session_scope::canonical_key(&k).into_owned();
            match out.get(&key) {
                Some(have) if have.updated_at >= m.updated_at => {}
                _ => {
                    out.insert(key, m);
                }
            }
        }
        Ok(Self(out))
    }
}

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
        // A person's message (its arrival, for a channel's): what an idle reset measures.
        let spoke = match origin {
            RunOrigin::Channel { inbound, .. } if inbound.ts > 0 => Some(inbound.ts.min(now)),
            RunOrigin::Channel { .. } | RunOrigin::Operator | RunOrigin::Node { .. } => Some(now),
            RunOrigin::Cron { .. } | RunOrigin::Subagent { .. } => None,
        };
        if let Some(t) = spoke {
            meta.last_interaction_at = Some(meta.last_interaction_at.map_or(t, |l| l.max(t)));
        }
        if let RunOrigin::Channel { inbound, .. } = origin {
            meta.channel = Some(inbound.channel.clone());
            meta.chat_id = Some(inbound.chat_id);
            meta.last_account_id = Some(inbound.account_id.clone());
            meta.last_thread_id = inbound.thread_id;
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

    /// Sets the session's own queue settings (`/queue`, `sessions.patch {queueMode}`): the
    /// mode, cap and drop policy given (the others stay).
    pub fn set_queue(
        &mut self,
        key: &str,
        own: crate::run_queue::SessionQueue,
        now: u64,
        new_id: impl FnOnce() -> String,
    ) {
        let meta = self
            .0
            .entry(key.to_owned())
            .or_insert_with(|| fresh(new_id(), now));
        if let Some(m) = own.mode {
            meta.queue_mode = Some(m.as_str().to_owned());
        }
        if let Some(c) = own.cap {
            meta.queue_cap = Some(c as u64);
        }
        if let Some(d) = own.drop {
            meta.queue_drop = Some(d.as_str().to_owned());
        }
        if let Some(ms) = own.debounce_ms {
            meta.queue_debounce_ms = Some(ms);
        }
    }

    /// Sets (or, with `None`, clears) the chat's own usage footer (`/usage`).
    pub fn set_footer(
        &mut self,
        key: &str,
        mode: Option<crate::usage_footer::FooterMode>,
        now: u64,
        new_id: impl FnOnce() -> String,
    ) {
        self.0
            .entry(key.to_owned())
            .or_insert_with(|| fresh(new_id(), now))
            .response_usage = mode.map(|m| m.as_str().to_owned());
    }

    /// Clears the session's own queue settings (`/queue default`).
    pub fn clear_queue(&mut self, key: &str) {
        if let Some(meta) = self.0.get_mut(key) {
            meta.queue_mode = None;
            meta.queue_cap = None;
            meta.queue_drop = None;
            meta.queue_debounce_ms = None;
        }
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
                meta.model_provider = None;
                meta.model = None;
                meta.last_interaction_at = None;
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
            // Which model answered (unchanged: nothing allocated).
            if let Some((p, m)) = outcome.model.as_deref().and_then(|l| l.split_once('/')) {
                if meta.model_provider.as_deref() != Some(p) {
                    meta.model_provider = Some(p.to_owned());
                }
                if meta.model.as_deref() != Some(m) {
                    meta.model = Some(m.to_owned());
                }
            }
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

    /// Whether a session is the chat `to` of `channel` (any case).
    pub fn has_chat(&self, channel: &str, to: &str) -> bool {
        self.0.values().any(|m| {
            m.channel
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(channel))
                && m.chat_id.is_some_and(|id| id.to_string() == to)
        })
    }

    /// Every session, most recently updated first.
    pub fn by_recency(&self) -> Vec<(&String, &SessionMeta)> {
        let mut rows: Vec<(&String, &SessionMeta)> = self.0.iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.updated_at));
        rows
    }
}

/// What `sessions.resolve` looks a session up by (one of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The session key (normalized).
    Key(String),
    /// The transcript id.
    SessionId(String),
    /// The label set with `sessions.patch`.
    Label(String),
    /// 8–32 hex digits starting the UUID that ends a key (lowercase, no dashes), and a
    /// display-name slug that narrows several matches.
    ShortId(String, Option<String>),
}

/// A session `sessions.resolve` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The key.
    pub key: String,
    /// Its agent.
    pub agent_id: String,
    /// Its name (label, else display name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The outcome of [`SessionIndex::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Exactly this one.
    Found(Candidate),
    /// Several (at most 10), none preferred.
    Ambiguous(Vec<Candidate>),
    /// Several, which is an error for this selector (`label`, `sessionId`): their keys.
    Conflict(Vec<String>),
    /// None.
    Missing,
}

/// Longest session slug (OpenClaw's `SESSION_SLUG_MAX_LENGTH`).
pub const SLUG_MAX: usize = 48;

/// OpenClaw's `controlUiSessionSlug`: the display name lowercased, runs of anything but
/// `a-z0-9` as one `-`, cut after its last word holding a letter past `f` (so a bare hex
/// id is no slug), at most [`SLUG_MAX`] characters.
pub fn session_slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len().min(128));
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    // Up to the end of the last word that holds a letter g-z.
    let Some(last) = slug.rfind(|c: char| ('g'..='z').contains(&c)) else {
        return String::new();
    };
    let end = slug[last..].find('-').map_or(slug.len(), |i| last + i);
    slug.truncate(end.min(SLUG_MAX));
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// The UUID ending a key's part after `agent:<id>:`, lowercase without dashes.
fn uuid_suffix(key: &str) -> Option<String> {
    let tail = key.get(key.len().checked_sub(36)?..)?;
    let b = tail.as_bytes();
    let dashes = [8, 13, 18, 23];
    let ok = b.iter().enumerate().all(|(i, c)| {
        if dashes.contains(&i) {
            *c == b'-'
        } else {
            c.is_ascii_hexdigit()
        }
    });
    ok.then(|| tail.replace('-', "").to_ascii_lowercase())
}

impl SessionIndex {
    /// `sessions.resolve`: the session `sel` names, among `agent`'s sessions when given.
    pub fn resolve(&self, sel: &Selector, agent: Option<&str>) -> Resolution {
        let of_agent =
            |k: &str| agent.is_none_or(|a| crate::agents::key_agent(k).unwrap_or("main") == a);
        let candidate = |k: &String, m: &SessionMeta| Candidate {
            key: k.clone(),
            agent_id: crate::agents::key_agent(k).unwrap_or("main").to_owned(),
            display_name: m.label.clone().or_else(|| m.display_name.clone()),
        };
        let rows = || {
            self.by_recency()
                .into_iter()
                .filter(|(k, _)| of_agent(k.as_str()))
        };
        match sel {
            Selector::Key(key) => match self.0.get_key_value(key) {
                Some((k, m)) if of_agent(k) => Resolution::Found(candidate(k, m)),
                _ => Resolution::Missing,
            },
            Selector::SessionId(id) => {
                let found: Vec<_> = rows()
                    .filter(|(k, m)| m.session_id == *id || *k == id)
                    .collect();
                match found.as_slice() {
                    [] => Resolution::Missing,
                    [(k, m)] => Resolution::Found(candidate(k, m)),
                    more => Resolution::Conflict(more.iter().map(|(k, _)| (*k).clone()).collect()),
                }
            }
            Selector::Label(label) => {
                let found: Vec<_> = rows()
                    .filter(|(_, m)| m.label.as_deref() == Some(label.as_str()))
                    .take(2)
                    .collect();
                match found.as_slice() {
                    [] => Resolution::Missing,
                    [(k, m)] => Resolution::Found(candidate(k, m)),
                    more => Resolution::Conflict(more.iter().map(|(k, _)| (*k).clone()).collect()),
                }
            }
            Selector::ShortId(short, slug) => {
                let found: Vec<Candidate> = rows()
                    .filter(|(k, _)| uuid_suffix(k).is_some_and(|u| u.starts_with(short.as_str())))
                    .map(|(k, m)| candidate(k, m))
                    .collect();
                let narrowed: Vec<Candidate> = match slug {
                    Some(slug) => found
                        .iter()
                        .filter(|c| {
                            c.display_name
                                .as_deref()
                                .is_some_and(|n| session_slug(n) == *slug)
                        })
                        .cloned()
                        .collect(),
                    None => Vec::new(),
                };
                let mut pick = if narrowed.is_empty() { found } else { narrowed };
                match pick.len() {
                    0 => Resolution::Missing,
                    1 => Resolution::Found(pick.remove(0)),
                    _ => {
                        pick.truncate(10);
                        Resolution::Ambiguous(pick)
                    }
                }
            }
        }
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
        model_provider: None,
        model: None,
        flush_tried_count: None,
        last_interaction_at: None,
        last_account_id: None,
        last_thread_id: None,
        queue_mode: None,
        queue_cap: None,
        queue_drop: None,
        queue_debounce_ms: None,
        response_usage: None,
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

    #[test]
    fn an_index_with_earlier_dm_keys_is_read_with_openclaws_keys() {
        let meta = |id: &str, at: u64| serde_json::json!({"sessionId": id, "createdAt": 1, "updatedAt": at});
        let file = serde_json::json!({
            "agent:main:telegram:dm:1": meta("old-1", 5),
            "agent:main:telegram:dm:2": meta("old-2", 9),
            "agent:main:telegram:direct:2": meta("new-2", 3),
            "agent:main:main": meta("main", 1),
        });
        let index: SessionIndex = serde_json::from_value(file).expect("reads");
        let keys: Vec<&String> = index.0.keys().collect();
        assert_eq!(
            keys,
            vec![
                "agent:main:main",
                "agent:main:telegram:direct:1",
                "agent:main:telegram:direct:2"
            ]
        );
        assert_eq!(
            index
                .get("agent:main:telegram:direct:1")
                .map(|m| m.session_id.as_str()),
            Some("old-1")
        );
        // Both forms: the one updated last.
        assert_eq!(
            index
                .get("agent:main:telegram:direct:2")
                .map(|m| m.session_id.as_str()),
            Some("old-2")
        );
        let written = serde_json::to_string(&index).expect("writes");
        assert!(!written.contains(":dm:"), "{written}");
    }

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
            model: Some("openai/gpt-5-mini".into()),
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
        // The model that answered, as OpenClaw's `modelProvider` and `model`; a run no
        // model answered keeps them.
        assert_eq!(
            (m.model_provider.as_deref(), m.model.as_deref()),
            (Some("openai"), Some("gpt-5-mini"))
        );
        let mut none = ended(47, "x", 0, false);
        none.model = None;
        idx.run_ended("agent:main:main", &none);
        let m = idx.get("agent:main:main").expect("kept");
        assert_eq!(m.model.as_deref(), Some("gpt-5-mini"));
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

    const U1: &str = "0b6e54a2-9c1d-4f3e-8a7b-112233445566";
    const U2: &str = "0b6e54a2-ffff-4f3e-8a7b-665544332211";

    fn index() -> SessionIndex {
        let mut idx = SessionIndex::default();
        idx.touch("agent:main:main", &RunOrigin::Operator, 1, || {
            "id-main".into()
        });
        idx.touch(
            &format!("agent:main:tui-{U1}"),
            &RunOrigin::Operator,
            2,
            || "id-1".into(),
        );
        idx.touch(
            &format!("agent:ops:dashboard:{U2}"),
            &RunOrigin::Operator,
            3,
            || "id-2".into(),
        );
        let mut named = idx.0.clone();
        if let Some(m) = named.get_mut(&format!("agent:main:tui-{U1}")) {
            m.label = Some("Trip planning".into());
        }
        if let Some(m) = named.get_mut(&format!("agent:ops:dashboard:{U2}")) {
            m.display_name = Some("Server logs".into());
        }
        SessionIndex(named)
    }

    fn found(r: Resolution) -> String {
        match r {
            Resolution::Found(c) => c.key,
            other => panic!("not found: {other:?}"),
        }
    }

    #[test]
    fn sessions_resolve_by_key_id_label_and_short_id() {
        let idx = index();
        let k1 = format!("agent:main:tui-{U1}");
        let k2 = format!("agent:ops:dashboard:{U2}");
        assert_eq!(
            found(idx.resolve(&Selector::Key("agent:main:main".into()), None)),
            "agent:main:main"
        );
        assert_eq!(
            idx.resolve(&Selector::Key("agent:main:nope".into()), None),
            Resolution::Missing
        );
        // Another agent's key is not found among `main`'s.
        assert_eq!(
            idx.resolve(&Selector::Key(k2.clone()), Some("main")),
            Resolution::Missing
        );
        assert_eq!(
            found(idx.resolve(&Selector::SessionId("id-1".into()), None)),
            k1
        );
        assert_eq!(
            found(idx.resolve(&Selector::Label("Trip planning".into()), None)),
            k1
        );
        assert_eq!(
            idx.resolve(&Selector::Label("trip planning".into()), None),
            Resolution::Missing
        );
        // Both UUIDs start 0b6e54a2: ambiguous, newest first; the slug or more digits pick one.
        match idx.resolve(&Selector::ShortId("0b6e54a2".into(), None), None) {
            Resolution::Ambiguous(c) => {
                let keys: Vec<&str> = c.iter().map(|c| c.key.as_str()).collect();
                assert_eq!(keys, [k2.as_str(), k1.as_str()]);
                assert_eq!(c[0].agent_id, "ops");
                assert_eq!(c[0].display_name.as_deref(), Some("Server logs"));
            }
            other => panic!("{other:?}"),
        }
        let slug = Some("server-logs".to_owned());
        assert_eq!(
            found(idx.resolve(&Selector::ShortId("0b6e54a2".into(), slug), None)),
            k2
        );
        assert_eq!(
            found(idx.resolve(&Selector::ShortId("0b6e54a29c1d".into(), None), None)),
            k1
        );
        assert_eq!(
            found(idx.resolve(&Selector::ShortId("0b6e54a2".into(), None), Some("main"))),
            k1
        );
        assert_eq!(
            idx.resolve(&Selector::ShortId("deadbeef".into(), None), None),
            Resolution::Missing
        );
        // Two sessions with one label is a conflict, naming both.
        let mut twice = idx.clone();
        if let Some(m) = twice.0.get_mut("agent:main:main") {
            m.label = Some("Trip planning".into());
        }
        match twice.resolve(&Selector::Label("Trip planning".into()), None) {
            Resolution::Conflict(keys) => assert_eq!(keys.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn slugs_follow_openclaw() {
        assert_eq!(session_slug("Server logs"), "server-logs");
        assert_eq!(session_slug("  Trip -- planning!! 2026 "), "trip-planning");
        assert_eq!(session_slug("abc 123 def"), "");
        assert_eq!(session_slug("Größe über alles"), "gr-e-ber-alles");
        assert_eq!(session_slug(""), "");
        assert_eq!(session_slug(&"wx".repeat(100)).len(), SLUG_MAX);
        assert_eq!(
            uuid_suffix(&format!("agent:main:x-{U1}")).as_deref(),
            Some("0b6e54a29c1d4f3e8a7b112233445566")
        );
        assert_eq!(uuid_suffix("agent:main:main"), None);
        assert_eq!(uuid_suffix("é"), None);
        assert_eq!(uuid_suffix(&"é".repeat(40)), None);
    }
}
