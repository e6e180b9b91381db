//! The agents this gateway runs (`agents.entries` / legacy `agents.list`) and the
//! `bindings` that route a channel's messages to one of them (OpenClaw's multi-agent
//! routing).
//!
//! An agent is a persona boundary: its own workspace (files, memory, skills), its own
//! session store (`agents/<id>/sessions/`), its own model and tool policy. Its id is part of
//! every session key (`agent:<id>:…`) and of the paths under the state directory, so only
//! ids of [`valid_id`]'s form are ever configured, and a session key only counts when its
//! agent is in the roster ([`Roster::agent_of_key`]).
//!
//! Routing (OpenClaw's tiers, first match within a tier): an exact peer
//! (`match.peer {kind, id}`), the parent peer of a forum topic, a peer wildcard
//! (`id: "*"`), the account (`match.accountId`; omitted = the `default` account), the
//! channel (`accountId: "*"`), then the fallback owner: the agent marked `default: true`
//! (legacy, still honoured), else the sole agent. A fleet of several agents with no owner
//! and no matching binding **fails closed**: the message is not answered (as OpenClaw
//! 2026.9).

use std::sync::Arc;

use crate::tool_policy::ToolFilter;
use crate::workspace::WorkspaceSettings;

/// The id of the agent of a gateway with no roster.
pub const MAIN: &str = "main";

/// Whether `id` is an agent id: 1–64 of `a-z`, `0-9`, `_`, `-`, starting with a letter or a
/// digit (OpenClaw's normalized form). Such an id is safe as a path segment and as a
/// segment of a session key.
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// The agent segment of `agent:<id>:<rest>` when it is a valid id (`None`: not an agent
/// key, or a malformed one).
pub fn key_agent(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("agent:")?;
    let (id, tail) = rest.split_once(':')?;
    (valid_id(id) && !tail.is_empty()).then_some(id)
}

/// The default agent's id of the running gateway, for the parsers of operator params that
/// turn a bare session key into an agent key ([`crate::channel::normalize_session_key`]);
/// kept in step with the live roster by [`crate::hot::LiveSettings`].
static DEFAULT_ID: std::sync::RwLock<Option<Arc<str>>> = std::sync::RwLock::new(None);

/// The running gateway's default agent id (`main` before a roster is set).
pub fn default_id_now() -> Arc<str> {
    let g = match DEFAULT_ID.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    g.clone().unwrap_or_else(|| Arc::from(MAIN))
}

/// Whether `id` is one of the running gateway's agents (`main` before a roster is set).
pub fn known_now(id: &str) -> bool {
    running().map_or(id == MAIN, |r| r.get(id).is_some())
}

/// The running gateway's agent ids, comma-separated, for error messages.
pub fn known_ids_now() -> String {
    running().map_or_else(
        || MAIN.to_owned(),
        |r| {
            r.agents()
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
    )
}

/// The running gateway's roster (kept with [`default_id_now`]), for the channels' own
/// decisions that depend on the agent a chat routes to (mention patterns, ack emoji).
static RUNNING: std::sync::RwLock<Option<Arc<Roster>>> = std::sync::RwLock::new(None);

/// The running gateway's roster (`None` before one is set).
pub fn running() -> Option<Arc<Roster>> {
    match RUNNING.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// A chat of a channel, as the channels' own routing-dependent decisions name it.
pub struct ChatRef<'a> {
    /// The channel kind (`telegram`).
    pub channel: &'a str,
    /// The account.
    pub account: &'a str,
    /// `private`, `group`, `supergroup` or `channel`.
    pub chat_type: &'a str,
    /// The chat.
    pub chat_id: i64,
    /// The forum topic.
    pub thread_id: Option<i64>,
    /// The sender (a direct chat's peer).
    pub sender_id: i64,
}

/// `f` of the mention settings of the agent that answers `chat` in the running gateway
/// (`None`: no roster yet, or no agent answers it), read in place.
pub fn with_chat_mentions<R>(chat: &ChatRef<'_>, f: impl FnOnce(Option<&AgentMentions>) -> R) -> R {
    let Some(roster) = running() else {
        return f(None);
    };
    let (kind, id, parent) =
        chat_peer(chat.chat_type, chat.chat_id, chat.thread_id, chat.sender_id);
    let agent = roster.route(&Peer {
        channel: chat.channel,
        account: chat.account,
        kind,
        id: &id,
        parent: parent.as_deref(),
    });
    f(agent.and_then(|a| roster.get(a)).map(|a| &a.mentions))
}

/// A chat as [`Roster::route`] matches it: its kind, its peer id (the sender's for a direct
/// chat, `<chat>:topic:<n>` for a forum topic) and the group a topic belongs to.
pub fn chat_peer(
    chat_type: &str,
    chat_id: i64,
    thread_id: Option<i64>,
    sender_id: i64,
) -> (PeerKind, String, Option<String>) {
    if chat_type == "private" {
        return (PeerKind::Direct, sender_id.to_string(), None);
    }
    let kind = if chat_type == "channel" {
        PeerKind::Channel
    } else {
        PeerKind::Group
    };
    let chat = chat_id.to_string();
    match thread_id {
        Some(t) => (kind, format!("{chat}:topic:{t}"), Some(chat)),
        None => (kind, chat, None),
    }
}

/// Makes `roster` the running gateway's (and its default agent, kept apart for
/// [`default_id_now`]'s cheap reads).
pub(crate) fn set_running(roster: &Arc<Roster>) {
    {
        let mut g = match RUNNING.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Some(roster.clone());
    }
    set_default_id(roster.default_id());
}

/// Makes `id` the running gateway's default agent id.
fn set_default_id(id: &str) {
    let mut g = match DEFAULT_ID.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if g.as_deref() != Some(id) {
        *g = Some(Arc::from(id));
    }
}

/// One agent.
#[derive(Debug, Clone)]
pub struct AgentDef {
    /// Its id.
    pub id: String,
    /// Its display name (`name`, else `identity.name`).
    pub name: Option<String>,
    /// Its `identity.name` alone (the response prefix's `"auto"` and `{identity.name}`, as
    /// OpenClaw reads them).
    pub identity_name: Option<String>,
    /// Its workspace.
    pub workspace: Arc<WorkspaceSettings>,
    /// The tools its runs are offered (`tools.*`, narrowed by its own `tools`).
    pub tools: Arc<ToolFilter>,
    /// Its own model (`provider/model`, for status): `None` uses the default.
    pub model: Option<String>,
    /// Its thinking level when the chat names none (`thinkingDefault`, over the model's).
    pub thinking: Option<crate::ports::Thinking>,
    /// Its own `subagents` settings over `agents.defaults.subagents` (`None`: the
    /// defaults').
    pub subagents: Option<Arc<crate::subagents::SubagentSettings>>,
    /// How group messages address it and how its ack reaction looks (its
    /// `groupChat.mentionPatterns`, its `identity`).
    pub mentions: AgentMentions,
}

/// What an agent's group chats go by besides @mentions and replies (OpenClaw's
/// `resolveMentionPatterns`): its own `groupChat.mentionPatterns` when set (they win over
/// `messages.groupChat.mentionPatterns`), else the global ones when set, else patterns
/// derived from its `identity` (its name as a word, its emoji); and its identity's emoji as
/// the ack reaction when no `ackReaction` is configured anywhere.
#[derive(Debug, Clone, Default)]
pub struct AgentMentions {
    /// `agents.entries.<id>.groupChat.mentionPatterns` (set, even empty: they decide).
    pub own: Option<Arc<crate::channel::telegram::groups::MentionPatterns>>,
    /// Derived from `identity.name` / `identity.emoji` (none when it has neither).
    pub derived: Option<Arc<crate::channel::telegram::groups::MentionPatterns>>,
    /// `identity.emoji`.
    pub emoji: Option<String>,
}

/// `match.accountId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountMatch {
    /// Omitted: the channel's `default` account only.
    Default,
    /// `"*"`: every account of the channel.
    Any,
    /// One account.
    Id(String),
}

impl AccountMatch {
    fn matches(&self, account: &str) -> bool {
        match self {
            Self::Default => account == "default",
            Self::Any => true,
            Self::Id(a) => a == account,
        }
    }
}

/// `match.peer.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// A direct chat (`direct`, legacy `dm`).
    Direct,
    /// A group chat (`group`).
    Group,
    /// A broadcast channel (`channel`).
    Channel,
}

impl PeerKind {
    /// OpenClaw's spelling (`dm` is the legacy one).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "direct" | "dm" => Some(Self::Direct),
            "group" => Some(Self::Group),
            "channel" => Some(Self::Channel),
            _ => None,
        }
    }
}

/// One route binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The agent it routes to.
    pub agent_id: String,
    /// `match.channel` (lower case).
    pub channel: String,
    /// `match.accountId`.
    pub account: AccountMatch,
    /// `match.peer`: its kind and id (`"*"`: any peer of the kind).
    pub peer: Option<(PeerKind, String)>,
}

/// Where a message came from, for routing.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// `telegram`.
    pub channel: &'a str,
    /// The channel account (`default`).
    pub account: &'a str,
    /// Direct or group.
    pub kind: PeerKind,
    /// The peer's id (a direct chat's sender, a group's chat id; a forum topic's
    /// `<chat>:topic:<thread>`).
    pub id: &'a str,
    /// A forum topic's group (`None` otherwise).
    pub parent: Option<&'a str>,
}

/// The agents and their bindings.
#[derive(Debug, Clone)]
pub struct Roster {
    /// The agents, in config order (never empty).
    agents: Vec<AgentDef>,
    /// Index of the agent operator surfaces default to (a bare session key,
    /// `sessionDefaults`, the heartbeat): the owner, else `main` when configured, else the
    /// first agent.
    default_ix: usize,
    /// The owner of messages no binding matches (the `default: true` agent, or the sole
    /// one); `None`: such messages are not answered.
    owner: Option<String>,
    /// Route bindings, in config order.
    bindings: Vec<Binding>,
}

impl Roster {
    /// A gateway with one agent, `main`.
    pub fn single(workspace: Arc<WorkspaceSettings>, tools: Arc<ToolFilter>) -> Self {
        Self {
            agents: vec![AgentDef {
                id: MAIN.to_owned(),
                name: None,
                identity_name: None,
                workspace,
                tools,
                model: None,
                thinking: None,
                subagents: None,
                mentions: AgentMentions::default(),
            }],
            default_ix: 0,
            owner: Some(MAIN.to_owned()),
            bindings: Vec::new(),
        }
    }

    /// `agents` (in config order) with `owner` (the `default: true` agent; the sole agent
    /// always owns) and `bindings`. `Err` names the problem and the fix: no agent, an id
    /// used twice or not of [`valid_id`]'s form, an owner or a binding naming an agent
    /// that is not configured.
    pub fn new(
        agents: Vec<AgentDef>,
        owner: Option<String>,
        bindings: Vec<Binding>,
    ) -> Result<Self, String> {
        if agents.is_empty() {
            return Err("agents.entries is empty. Fix: configure at least one agent, or remove agents.entries to run the single agent \"main\"".into());
        }
        for (i, a) in agents.iter().enumerate() {
            if !valid_id(&a.id) {
                return Err(format!(
                    "agent id {:?} is not valid. Fix: use 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
                    a.id.chars().take(80).collect::<String>()
                ));
            }
            if agents[..i].iter().any(|b| b.id == a.id) {
                return Err(format!(
                    "agent id {:?} is configured twice. Fix: give each agent its own id",
                    a.id
                ));
            }
        }
        let has = |id: &str| agents.iter().any(|a| a.id == id);
        if let Some(o) = &owner
            && !has(o)
        {
            return Err(format!("the default agent {o:?} is not configured"));
        }
        for (i, b) in bindings.iter().enumerate() {
            if !has(&b.agent_id) {
                return Err(format!(
                    "bindings[{i}].agentId is {:?}, which is not a configured agent. Fix: use one of: {}",
                    b.agent_id.chars().take(80).collect::<String>(),
                    agents
                        .iter()
                        .map(|a| a.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let owner = owner.or_else(|| (agents.len() == 1).then(|| agents[0].id.clone()));
        let default_ix = owner
            .as_deref()
            .or(Some(MAIN))
            .and_then(|d| agents.iter().position(|a| a.id == d))
            .unwrap_or(0);
        Ok(Self {
            agents,
            default_ix,
            owner,
            bindings,
        })
    }

    /// With `id` (a configured agent) as the agent operator surfaces default to, whoever
    /// owns unbound messages (OpenClaw's `agents.defaults.systemAgent`); an unknown id
    /// changes nothing.
    #[must_use]
    pub fn with_default(mut self, id: &str) -> Self {
        if let Some(ix) = self.agents.iter().position(|a| a.id == id) {
            self.default_ix = ix;
        }
        self
    }

    /// The agents, in config order.
    pub fn agents(&self) -> &[AgentDef] {
        &self.agents
    }

    /// The route bindings, in config order.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The owner of unbound messages (`None`: they are not answered).
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// Whether more than one agent is configured.
    pub fn is_fleet(&self) -> bool {
        self.agents.len() > 1
    }

    /// The agent `id`.
    pub fn get(&self, id: &str) -> Option<&AgentDef> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The agent operator surfaces default to.
    pub fn default_agent(&self) -> &AgentDef {
        &self.agents[self.default_ix]
    }

    /// Its id.
    pub fn default_id(&self) -> &str {
        &self.default_agent().id
    }

    /// `key` made an agent key: `main` → `agent:<default>:main`; a key that already names an
    /// agent is kept.
    pub fn normalize_key(&self, key: &str) -> String {
        let key = key.trim();
        if key.starts_with("agent:") {
            key.to_owned()
        } else {
            format!("agent:{}:{key}", self.default_id())
        }
    }

    /// Why an operator's session `key` cannot be used (`None`: it can): its agent is not
    /// configured, or it is not a well-formed agent key.
    pub fn refuse_key(&self, key: &str) -> Option<String> {
        if self.agent_of_key(key).is_some() {
            return None;
        }
        let shown: String = key.chars().take(100).collect();
        Some(match key_agent(key) {
            Some(id) => format!(
                "unknown agent id \"{id}\" in session key {shown:?}. Fix: use one of: {}",
                self.agents
                    .iter()
                    .map(|a| a.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!(
                "session key {shown:?} is not of the form agent:<agentId>:<key> with a valid agent id"
            ),
        })
    }

    /// The agent a session key belongs to, when it is one of the roster's.
    pub fn agent_of_key(&self, key: &str) -> Option<&AgentDef> {
        key_agent(key).and_then(|id| self.get(id))
    }

    /// The agent that answers a message from `peer` (`None`: no binding matches and the
    /// fleet has no owner).
    pub fn route(&self, peer: &Peer<'_>) -> Option<&str> {
        let on_channel = |b: &&Binding| {
            b.channel == peer.channel && b.account.matches(peer.account) && self.has(&b.agent_id)
        };
        let peer_is = |b: &Binding, id: &str| {
            b.peer
                .as_ref()
                .is_some_and(|(k, pid)| *k == peer.kind && pid == id)
        };
        let tiers: [&dyn Fn(&Binding) -> bool; 5] = [
            &|b| peer_is(b, peer.id),
            &|b| {
                peer.parent.is_some_and(|p| {
                    b.peer
                        .as_ref()
                        .is_some_and(|(k, pid)| *k == PeerKind::Group && pid == p)
                })
            },
            &|b| peer_is(b, "*"),
            &|b| b.peer.is_none() && b.account != AccountMatch::Any,
            &|b| b.peer.is_none() && b.account == AccountMatch::Any,
        ];
        for tier in tiers {
            if let Some(b) = self.bindings.iter().filter(on_channel).find(|b| tier(b)) {
                return Some(&b.agent_id);
            }
        }
        self.owner.as_deref()
    }

    fn has(&self, id: &str) -> bool {
        self.agents.iter().any(|a| a.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str) -> AgentDef {
        AgentDef {
            id: id.into(),
            name: None,
            identity_name: None,
            workspace: Arc::new(WorkspaceSettings::new(format!("/w/{id}").into())),
            tools: Arc::default(),
            model: None,
            thinking: None,
            subagents: None,
            mentions: Default::default(),
        }
    }

    fn bind(agent: &str, account: AccountMatch, peer: Option<(PeerKind, &str)>) -> Binding {
        Binding {
            agent_id: agent.into(),
            channel: "telegram".into(),
            account,
            peer: peer.map(|(k, i)| (k, i.to_owned())),
        }
    }

    fn peer<'a>(
        account: &'a str,
        kind: PeerKind,
        id: &'a str,
        parent: Option<&'a str>,
    ) -> Peer<'a> {
        Peer {
            channel: "telegram",
            account,
            kind,
            id,
            parent,
        }
    }

    #[test]
    fn ids_are_safe_path_and_key_segments() {
        for ok in ["main", "work", "a", "family-bot", "x_1", "9lives"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in [
            "",
            "Main",
            "-x",
            "_x",
            "a/b",
            "..",
            "a.b",
            "a:b",
            "ä",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        assert_eq!(key_agent("agent:work:telegram:direct:1"), Some("work"));
        assert_eq!(key_agent("agent:../x:main"), None);
        assert_eq!(key_agent("agent:work:"), None);
        assert_eq!(key_agent("agent:work"), None);
        assert_eq!(key_agent("work:main"), None);
    }

    #[test]
    fn routing_follows_openclaws_tiers_and_fails_closed_without_an_owner() {
        let r = Roster::new(
            vec![agent("home"), agent("work"), agent("family"), agent("ops")],
            None,
            vec![
                bind("work", AccountMatch::Id("biz".into()), None),
                bind("ops", AccountMatch::Any, None),
                bind("family", AccountMatch::Any, Some((PeerKind::Group, "-100"))),
                bind("home", AccountMatch::Default, Some((PeerKind::Direct, "*"))),
                bind(
                    "work",
                    AccountMatch::Default,
                    Some((PeerKind::Direct, "42")),
                ),
            ],
        )
        .expect("valid");
        // An exact peer wins over the wildcard listed before it.
        assert_eq!(
            r.route(&peer("default", PeerKind::Direct, "42", None)),
            Some("work")
        );
        assert_eq!(
            r.route(&peer("default", PeerKind::Direct, "5", None)),
            Some("home")
        );
        // The group, and its topics through the parent peer, on any account.
        assert_eq!(
            r.route(&peer("biz", PeerKind::Group, "-100", None)),
            Some("family")
        );
        assert_eq!(
            r.route(&peer(
                "default",
                PeerKind::Group,
                "-100:topic:3",
                Some("-100")
            )),
            Some("family")
        );
        // The account's binding before the channel-wide one.
        assert_eq!(
            r.route(&peer("biz", PeerKind::Group, "-200", None)),
            Some("work")
        );
        assert_eq!(
            r.route(&peer("other", PeerKind::Group, "-200", None)),
            Some("ops")
        );
        // The wildcard peer binding is for the default account only.
        assert_eq!(
            r.route(&peer("other", PeerKind::Direct, "5", None)),
            Some("ops")
        );
        // Another channel: nothing matches, no owner → not answered.
        let mut p = peer("default", PeerKind::Direct, "5", None);
        p.channel = "discord";
        assert_eq!(r.route(&p), None);
        let owned = Roster {
            owner: Some("home".into()),
            ..r.clone()
        };
        assert_eq!(owned.route(&p), Some("home"));
        // Operators default to `main` when there is no owner, else the first agent.
        assert_eq!(r.default_id(), "home");
        assert_eq!(r.normalize_key("main"), "agent:home:main");
        assert!(r.refuse_key("agent:work:main").is_none());
        let e = r.refuse_key("agent:nope:main").expect("unknown");
        assert!(
            e.contains("unknown agent id \"nope\"") && e.contains("home, work, family, ops"),
            "{e}"
        );
        assert!(r.refuse_key("agent:../../x:main").is_some());
        for (agents, owner, bindings, needle) in [
            (vec![], None, vec![], "is empty"),
            (
                vec![agent("a"), agent("a")],
                None,
                vec![],
                "configured twice",
            ),
            (vec![agent("A")], None, vec![], "not valid"),
            (
                vec![agent("a")],
                Some("b".to_owned()),
                vec![],
                "\"b\" is not configured",
            ),
            (
                vec![agent("a")],
                None,
                vec![bind("ghost", AccountMatch::Any, None)],
                "bindings[0].agentId is \"ghost\"",
            ),
        ] {
            let e = Roster::new(agents, owner, bindings).expect_err(needle);
            assert!(e.contains(needle), "{e}");
        }
        let one = Roster::single(
            Arc::new(WorkspaceSettings::new("/w".into())),
            Arc::default(),
        );
        assert_eq!(one.route(&p), Some("main"));
        assert_eq!(
            one.agent_of_key("agent:main:main").map(|a| a.id.as_str()),
            Some("main")
        );
        assert!(one.agent_of_key("agent:work:main").is_none());
    }
}
