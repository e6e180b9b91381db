//! Which session a chat's message joins (OpenClaw's `session.dmScope`, `session.groupScope`,
//! `session.identityLinks`; `docs/concepts/session.md`).
//!
//! | `dmScope` | a direct message from peer `P` on channel `C`, account `A`, goes to |
//! | --- | --- |
//! | `main` | `agent:<id>:main`: the same conversation as WebChat, the TUI and the CLI |
//! | `per-peer` | `agent:<id>:dm:<P>` |
//! | `per-channel-peer` (default here) | `agent:<id>:<C>:dm:<P>` |
//! | `per-account-channel-peer` | `agent:<id>:<C>:<A>:dm:<P>` |
//!
//! `identityLinks` names one person's ids on several channels (`{alice: ["telegram:123",
//! "telegram:456"]}`): outside `main`, their messages use the canonical id (`alice`) as `P`.
//! `groupScope: "main"` routes group chats into the main session too (default `per-group`).
//!
//! **A stranger never joins the main session.** A direct message admitted only because DMs
//! are open to everyone (`dmPolicy: "open"` with `"*"`) keeps its own
//! `agent:<id>:<C>:dm:<P>` session whatever `dmScope` says: `main` is for the owner's
//! senders (listed by id or approved by pairing), so the owner's conversation never
//! reaches someone who merely found the bot.
//!
//! OpenClaw's default is `main`; ours stays `per-channel-peer`, what this gateway always
//! did: a gateway shared by several people never mixes their chats unless told to.

/// `session.dmScope`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DmScope {
    /// Every DM in the agent's main session.
    Main,
    /// One session per peer, across channels.
    PerPeer,
    /// One session per channel and peer.
    #[default]
    PerChannelPeer,
    /// One session per channel account and peer.
    PerAccountChannelPeer,
}

impl DmScope {
    /// Parses OpenClaw's value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "main" => Self::Main,
            "per-peer" => Self::PerPeer,
            "per-channel-peer" => Self::PerChannelPeer,
            "per-account-channel-peer" => Self::PerAccountChannelPeer,
            _ => return None,
        })
    }

    /// OpenClaw's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::PerPeer => "per-peer",
            Self::PerChannelPeer => "per-channel-peer",
            Self::PerAccountChannelPeer => "per-account-channel-peer",
        }
    }
}

/// How chats map to sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRouting {
    /// `session.dmScope`.
    pub dm_scope: DmScope,
    /// `session.groupScope: "main"`.
    pub groups_in_main: bool,
    /// `session.identityLinks`: canonical id (lowercase) → `channel:peer` ids (lowercase).
    pub identity_links: Vec<(String, Vec<String>)>,
}

/// The longest canonical id of `identityLinks`.
pub const MAX_CANONICAL_ID: usize = 64;

/// Whether `id` may be a canonical id: it becomes part of session keys.
pub fn valid_canonical_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CANONICAL_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl SessionRouting {
    /// The canonical id `identityLinks` gives `peer` on `channel`, if any.
    pub fn linked(&self, channel: &str, peer: &str) -> Option<&str> {
        let wanted = format!(
            "{}:{}",
            channel.to_ascii_lowercase(),
            peer.to_ascii_lowercase()
        );
        self.identity_links
            .iter()
            .find(|(_, ids)| ids.contains(&wanted))
            .map(|(canonical, _)| canonical.as_str())
    }

    /// The session key of a direct message from `peer` on `channel` / `account` for
    /// `agent`; `public`: admitted only because DMs are open to everyone (never `main`).
    pub fn direct_key(
        &self,
        agent: &str,
        channel: &str,
        account: &str,
        peer: &str,
        public: bool,
    ) -> String {
        let scope = match self.dm_scope {
            DmScope::Main if public => DmScope::PerChannelPeer,
            s => s,
        };
        if scope == DmScope::Main {
            return format!("agent:{agent}:main");
        }
        let peer = self.linked(channel, peer).unwrap_or(peer);
        match scope {
            DmScope::PerPeer => format!("agent:{agent}:dm:{peer}"),
            DmScope::PerAccountChannelPeer => {
                format!("agent:{agent}:{channel}:{account}:dm:{peer}")
            }
            _ => format!("agent:{agent}:{channel}:dm:{peer}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_gives_its_key_and_strangers_never_join_main() {
        let mut r = SessionRouting::default();
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", false),
            "agent:main:telegram:dm:42"
        );
        r.dm_scope = DmScope::Main;
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", false),
            "agent:main:main"
        );
        assert_eq!(
            r.direct_key("work", "telegram", "default", "42", false),
            "agent:work:main"
        );
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", true),
            "agent:main:telegram:dm:42",
            "an open-DM stranger keeps a session of its own"
        );
        r.dm_scope = DmScope::PerPeer;
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", false),
            "agent:main:dm:42"
        );
        r.dm_scope = DmScope::PerAccountChannelPeer;
        assert_eq!(
            r.direct_key("main", "telegram", "work", "42", false),
            "agent:main:telegram:work:dm:42"
        );
        for s in [
            "main",
            "per-peer",
            "per-channel-peer",
            "per-account-channel-peer",
        ] {
            assert_eq!(DmScope::parse(s).map(DmScope::as_str), Some(s));
        }
        assert_eq!(DmScope::parse("dm"), None);
    }

    #[test]
    fn identity_links_join_one_persons_ids_outside_main() {
        let r = SessionRouting {
            dm_scope: DmScope::PerPeer,
            groups_in_main: false,
            identity_links: vec![(
                "alice".to_owned(),
                vec!["telegram:42".to_owned(), "telegram:77".to_owned()],
            )],
        };
        assert_eq!(
            r.direct_key("main", "telegram", "default", "42", false),
            "agent:main:dm:alice"
        );
        assert_eq!(
            r.direct_key("main", "Telegram", "default", "77", false),
            "agent:main:dm:alice"
        );
        assert_eq!(
            r.direct_key("main", "telegram", "default", "78", false),
            "agent:main:dm:78"
        );
        assert!(
            valid_canonical_id("alice-1.x")
                && !valid_canonical_id("a:b")
                && !valid_canonical_id("")
        );
        assert!(!valid_canonical_id(&"a".repeat(65)));
    }
}
