//! `sessions.subscribe` and the `sessions.changed` events it asks for (OpenClaw's
//! `server-methods/sessions-subscriptions.ts`, `server-session-events.ts`), and
//! `sessions.describe`.
//!
//! A subscribed connection gets `sessions.changed {sessionKey, phase:"message", ts}` when a
//! session's transcript grows: a run starts (its user message) and a run ends (its answer);
//! and `sessions.changed {sessionKey, agentId, reason, ts}` when a session is created
//! (`create`) or given a new transcript (`new`, `reset`: see `session_reset`).
//! OpenClaw's TUI (`openclaw tui`) subscribes before anything else and refreshes the
//! session it shows on these events.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use serde::Serialize;

use super::Registry;
use super::runs::{SessionList, SessionRow};
use crate::util::now_ms;
use crate::ws_session::{SendEvent, WsSession};

/// The connections subscribed to session events, by connection id. A connection is dropped
/// when it closes (the registry hears of tracked sessions closing) or, for the sockets the
/// registry does not track, the next time the set is walked and its actor is gone: at every
/// `sessions.changed`, and when the set has doubled since the last walk. So it never grows past
/// twice its size at the last walk (or 64 entries).
pub struct SessionSubscribers {
    by_conn: HashMap<String, Addr<WsSession>>,
    /// Walk the set for stopped actors when it grows past this (twice its size after the
    /// last walk), so a client repeating `sessions.subscribe` costs O(1) per call.
    prune_at: usize,
}

/// The smallest [`SessionSubscribers::prune_at`].
const MIN_PRUNE_AT: usize = 64;

impl Default for SessionSubscribers {
    fn default() -> Self {
        Self {
            by_conn: HashMap::new(),
            prune_at: MIN_PRUNE_AT,
        }
    }
}

impl SessionSubscribers {
    /// Adds (or refreshes) `conn_id`; drops subscribers whose actor has stopped once the
    /// set has doubled since the last walk.
    pub fn subscribe(&mut self, conn_id: String, addr: Addr<WsSession>) {
        self.by_conn.insert(conn_id, addr);
        if self.by_conn.len() > self.prune_at {
            self.by_conn.retain(|_, a| a.connected());
            self.prune_at = (2 * self.by_conn.len()).max(MIN_PRUNE_AT);
        }
    }

    /// Forgets a closed connection.
    pub fn remove(&mut self, conn_id: &str) {
        self.by_conn.remove(conn_id);
    }

    /// Sends `sessions.changed` for `key` to every live subscriber (a full mailbox drops
    /// the event for that one: a slow client refreshes on the next change).
    pub(super) fn notify(&mut self, key: &str, change: Change<'_>) {
        if self.by_conn.is_empty() {
            return;
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Changed<'a> {
            session_key: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            agent_id: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            phase: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            reason: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            session_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            updated_at: Option<u64>,
            ts: u64,
        }
        let (phase, reason, agent_id, snapshot) = match change {
            Change::Message => (Some("message"), None, None, None),
            Change::Lifecycle(reason, snapshot) => (None, Some(reason), Some("main"), snapshot),
        };
        let payload = serde_json::to_string(&Changed {
            session_key: key,
            agent_id,
            phase,
            reason,
            session_id: snapshot.map(|(id, _)| id),
            updated_at: snapshot.map(|(_, at)| at),
            ts: now_ms(),
        })
        .unwrap_or_else(|_| "{}".to_owned());
        self.send("sessions.changed", Arc::from(payload));
    }
}

impl SessionSubscribers {
    /// Whether nobody is subscribed.
    pub fn is_empty(&self) -> bool {
        self.by_conn.is_empty()
    }

    /// Sends `event` with `payload` to every live subscriber (a full mailbox drops it for
    /// that one), forgetting the stopped ones.
    fn send(&mut self, event: &str, payload: Arc<str>) {
        let event: Arc<str> = Arc::from(event);
        self.by_conn.retain(|_, addr| {
            if !addr.connected() {
                return false;
            }
            let _ = addr.try_send(SendEvent {
                event: event.clone(),
                payload: payload.clone(),
                state_version: None,
            });
            true
        });
        self.prune_at = (2 * self.by_conn.len()).max(MIN_PRUNE_AT);
    }
}

/// A connection follows at most this many sessions' messages.
pub const MAX_MESSAGE_SUBSCRIPTIONS: usize = 64;

/// The connections that follow one session's messages (`sessions.messages.subscribe`), by
/// session key, at most [`MAX_MESSAGE_SUBSCRIPTIONS`] per connection. A closed connection
/// is forgotten when the registry hears of it, or (for the sockets it does not track: the
/// CLI's one-call connections) when a message of a session it followed finds its actor
/// gone, and in a walk once the set has doubled since the last: so it never grows past
/// twice its live size (or 64 connections).
pub struct MessageSubscribers {
    follows: super::follows::Follows<Addr<WsSession>>,
    prune_at: usize,
}

impl Default for MessageSubscribers {
    fn default() -> Self {
        Self {
            follows: super::follows::Follows::new(MAX_MESSAGE_SUBSCRIPTIONS),
            prune_at: MIN_PRUNE_AT,
        }
    }
}

impl MessageSubscribers {
    /// `conn_id` follows `key`; `false` when it follows the most it may.
    pub fn subscribe(&mut self, conn_id: &str, addr: Addr<WsSession>, key: &str) -> bool {
        if !self.follows.follows_any(conn_id) && self.follows.follower_count() >= self.prune_at {
            self.follows.forget_where(|a| !a.connected());
            self.prune_at = (2 * self.follows.follower_count()).max(MIN_PRUNE_AT);
        }
        self.follows.follow(conn_id, key, || addr)
    }

    /// `conn_id` stops following `key`.
    pub fn unsubscribe(&mut self, conn_id: &str, key: &str) {
        self.follows.unfollow(conn_id, key);
    }

    /// A closed connection follows nothing.
    pub fn remove(&mut self, conn_id: &str) {
        self.follows.forget(conn_id);
    }

    /// Whether nobody follows anything.
    pub fn is_empty(&self) -> bool {
        self.follows.is_empty()
    }

    /// Sends `session.message` with `payload` to the live followers of `key` not in
    /// `skip` (they got it as subscribers of every session), forgetting the stopped ones.
    fn send(&mut self, key: &str, payload: &Arc<str>, skip: &SessionSubscribers) {
        let event: Arc<str> = Arc::from("session.message");
        let mut gone = Vec::new();
        for (conn, addr) in self.follows.followers(key) {
            if !addr.connected() {
                gone.push(conn.clone());
            } else if !skip.by_conn.contains_key(conn) {
                let _ = addr.try_send(SendEvent {
                    event: event.clone(),
                    payload: payload.clone(),
                    state_version: None,
                });
            }
        }
        for conn in gone {
            self.follows.forget(&conn);
        }
    }
}

/// `sessions.messages.subscribe {key}` / `sessions.messages.unsubscribe {key}`: whether
/// the connection now follows the session's messages (`false` for an unsubscribe; an
/// `Err` when it follows the most it may).
#[derive(Message)]
#[rtype(result = "Result<bool, ()>")]
pub struct FollowSessionMessages {
    /// The connection.
    pub conn_id: String,
    /// Its session actor.
    pub addr: Addr<WsSession>,
    /// Normalized session key.
    pub key: String,
    /// Follow or stop.
    pub on: bool,
}

impl Handler<FollowSessionMessages> for Registry {
    type Result = Result<bool, ()>;

    fn handle(&mut self, msg: FollowSessionMessages, _: &mut Self::Context) -> Self::Result {
        if !msg.on {
            self.message_subscribers.unsubscribe(&msg.conn_id, &msg.key);
            return Ok(false);
        }
        if self
            .message_subscribers
            .subscribe(&msg.conn_id, msg.addr, &msg.key)
        {
            Ok(true)
        } else {
            Err(())
        }
    }
}

/// What changed in a session, as `sessions.changed` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Its transcript grew (`phase: "message"`).
    Message,
    /// It was created or given a new transcript (`reason`: `create`, `new`, `reset`), with
    /// its session id and last update now (OpenClaw's snapshot fields the TUI reads).
    Lifecycle(&'static str, Option<(&'a str, u64)>),
}

/// Sent by an agent run (its user's line as it starts, its answer when it ends) and by
/// `chat.inject`: lines appended to a session's transcript. Subscribers of
/// `sessions.subscribe` get each shown message as `session.message` (OpenClaw's event):
/// `{sessionKey, agentId, messageId?, message, runId?, deliveryContext?, lastChannel?, lastTo?,
/// lastAccountId?, lastThreadId?}`, the message as `chat.history` shows it. The MCP channel
/// bridge (`openclaw mcp serve`) reads conversations from it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TranscriptGrew {
    /// The session.
    pub session_key: String,
    /// The run that wrote them, if any.
    pub run_id: Option<String>,
    /// The lines (only `message` lines are shown).
    pub lines: Vec<serde_json::Value>,
    /// A chat message's sender (`<channel>:<senderId>`): its `session.message` says
    /// whether it is the owner (`senderIsOwner`, from `commands.ownerAllowFrom`).
    pub sender: Option<String>,
}

impl Handler<TranscriptGrew> for Registry {
    type Result = ();

    fn handle(&mut self, msg: TranscriptGrew, _: &mut Self::Context) {
        if self.session_subscribers.is_empty() && self.message_subscribers.is_empty() {
            return;
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct SessionMessage<'a> {
            session_key: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            sender_is_owner: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            agent_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            message_id: Option<&'a str>,
            message: super::runs::HistoryMessage,
            #[serde(skip_serializing_if = "Option::is_none")]
            run_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            delivery_context: Option<&'a super::runs::DeliveryContext>,
            #[serde(skip_serializing_if = "Option::is_none")]
            last_channel: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            last_to: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            last_account_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            last_thread_id: Option<i64>,
        }
        let key = msg.session_key.as_str();
        let delivery = self
            .sessions_index
            .get(key)
            .and_then(super::runs::SessionMeta::delivery_context);
        let agent_id = crate::agents::key_agent(key);
        let sender_is_owner = msg.sender.as_ref().map(|s| {
            let (channel, id) = s.split_once(':').unwrap_or((s, ""));
            self.is_owner(&owner_key(channel, id))
        });
        for line in &msg.lines {
            let Some(message) = super::runs::HistoryMessage::shown(line) else {
                continue;
            };
            let user = line.get("role").and_then(serde_json::Value::as_str) == Some("user");
            let payload = serde_json::to_string(&SessionMessage {
                session_key: key,
                sender_is_owner: sender_is_owner.filter(|_| user),
                agent_id,
                message_id: line.get("id").and_then(serde_json::Value::as_str),
                message,
                run_id: msg.run_id.as_deref(),
                delivery_context: delivery.as_ref(),
                last_channel: delivery.as_ref().map(|d| d.channel.as_str()),
                last_to: delivery.as_ref().map(|d| d.to.as_str()),
                last_account_id: delivery.as_ref().and_then(|d| d.account_id.as_deref()),
                last_thread_id: delivery.as_ref().and_then(|d| d.thread_id),
            });
            if let Ok(p) = payload {
                let p: Arc<str> = Arc::from(p);
                self.message_subscribers
                    .send(key, &p, &self.session_subscribers);
                self.session_subscribers.send("session.message", p);
            }
        }
    }
}

impl Registry {
    /// A session's transcript grew: tell the subscribers.
    pub(super) fn session_changed(&mut self, key: &str) {
        self.session_subscribers.notify(key, Change::Message);
    }

    /// A session was created or reset (`reason`): tell the subscribers.
    pub(super) fn session_lifecycle(&mut self, key: &str, reason: &'static str) {
        let snapshot = self
            .sessions_index
            .get(key)
            .map(|m| (m.session_id.as_str(), m.updated_at));
        self.session_subscribers
            .notify(key, Change::Lifecycle(reason, snapshot));
    }
}

/// `sessions.subscribe`: from now on `addr` gets `sessions.changed`. With `list`, answers
/// the `sessions.list` page as well (OpenClaw does when the call has list params).
#[derive(Message)]
#[rtype(result = "Option<SessionList>")]
pub struct SubscribeSessionEvents {
    /// The subscribing connection.
    pub conn_id: String,
    /// Its session actor.
    pub addr: Addr<WsSession>,
    /// A `sessions.list` page to answer with (its limit).
    pub list: Option<usize>,
}

impl Handler<SubscribeSessionEvents> for Registry {
    type Result = MessageResult<SubscribeSessionEvents>;

    fn handle(&mut self, msg: SubscribeSessionEvents, _: &mut Self::Context) -> Self::Result {
        self.session_subscribers.subscribe(msg.conn_id, msg.addr);
        MessageResult(msg.list.map(|limit| self.session_list(limit, None)))
    }
}

/// `sessions.resolve`: the session a selector names (see
/// [`super::sessions::SessionIndex::resolve`]).
#[derive(Message)]
#[rtype(result = "super::sessions::Resolution")]
pub struct ResolveSession {
    /// What to look for.
    pub selector: super::sessions::Selector,
    /// Only this agent's sessions.
    pub agent: Option<String>,
}

impl Handler<ResolveSession> for Registry {
    type Result = MessageResult<ResolveSession>;

    fn handle(&mut self, msg: ResolveSession, _: &mut Self::Context) -> Self::Result {
        MessageResult(
            self.sessions_index
                .resolve(&msg.selector, msg.agent.as_deref()),
        )
    }
}

/// `sessions.describe {key}`: the session's `sessions.list` row, if the session exists.
#[derive(Message)]
#[rtype(result = "Option<SessionRow>")]
pub struct DescribeSession {
    /// Normalized session key.
    pub key: String,
}

impl Handler<DescribeSession> for Registry {
    type Result = MessageResult<DescribeSession>;

    fn handle(&mut self, msg: DescribeSession, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.session_row(&msg.key))
    }
}

/// A chat sender's identity as `commands.ownerAllowFrom` lists it: `<channel>:<senderId>`,
/// the channel lowercased (as the config's entries are).
pub(super) fn owner_key(channel: &str, sender_id: &str) -> String {
    format!("{}:{sender_id}", channel.to_ascii_lowercase())
}

impl Registry {
    /// Whether `key` ([`owner_key`]) is in `commands.ownerAllowFrom` now.
    pub(super) fn is_owner(&self, key: &str) -> bool {
        self.shared.live.get().owners.iter().any(|o| o == key)
    }
}
