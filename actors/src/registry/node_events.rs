//! What the phone and desktop apps do as nodes besides answering commands (OpenClaw's
//! `server-node-events.ts`, `server-methods/voicewake.ts`): their `node.event`s
//! `voice.transcript` (Talk and voice wake: a spoken request) and `agent.request` (a share
//! or a typed request, optionally answered in a chat channel) start agent runs;
//! `chat.subscribe` / `chat.unsubscribe` let a node follow a session's `chat` and `agent`
//! events; and the gateway's wake words (`voicewake.*`), which every node gets when it
//! connects and whenever they change.
//!
//! A node's run is [`RunOrigin::Node`]: the node tool policy resolved for `node:<nodeId>`
//! (as a chat sender's is for `<channel>:<senderId>`), never the gateway host's `exec`.
//!
//! Messages: [`GetVoiceWake`], [`SetVoiceWake`], [`NodeSubscribe`], [`SubmitNodeRun`].

use std::collections::HashMap;

use actix::prelude::*;
use serde_json::{Value, json};

use super::Registry;
use super::runs::{AgentDelivery, RunOrigin, RunRequest, SubmitAck};
use crate::protocol::error::ErrorShape;
use crate::store::{SaveDocument, StoreError};
use crate::util::now_ms;
use crate::voicewake::{self, Triggers, VoiceWake};
use crate::ws_session::SendTargeted;

/// A node follows at most this many sessions.
pub const MAX_SUBSCRIPTIONS_PER_NODE: usize = 32;

/// Which nodes follow which sessions (`chat.subscribe`), both ways, bounded per node.
pub type NodeSubscriptions = super::follows::Follows<()>;

/// No node follows anything yet.
pub fn node_subscriptions() -> NodeSubscriptions {
    super::follows::Follows::new(MAX_SUBSCRIPTIONS_PER_NODE)
}

/// How long the same transcript for a session is a repeat (OpenClaw's 1.5 s).
const TRANSCRIPT_REPEAT_MS: u64 = 1500;
/// Sessions whose last transcript is remembered.
const MAX_RECENT_TRANSCRIPTS: usize = 200;

/// The last voice transcript of each session (a node that retries a send, or two nodes of
/// one person hearing the same words, start one run), bounded.
#[derive(Debug, Default)]
pub struct RecentTranscripts(HashMap<String, (String, u64)>);

impl RecentTranscripts {
    /// Whether `fingerprint` repeats the last transcript of `session_key` within the
    /// window.
    pub fn is_repeat(&self, session_key: &str, fingerprint: &str, now: u64) -> bool {
        self.0.get(session_key).is_some_and(|(f, at)| {
            f == fingerprint && now.saturating_sub(*at) <= TRANSCRIPT_REPEAT_MS
        })
    }

    /// Records `fingerprint` as the last transcript of `session_key` (one that started a
    /// run: a refused one may be sent again).
    pub fn record(&mut self, session_key: &str, fingerprint: String, now: u64) {
        if self.0.len() >= MAX_RECENT_TRANSCRIPTS && !self.0.contains_key(session_key) {
            self.0
                .retain(|_, (_, at)| now.saturating_sub(*at) <= TRANSCRIPT_REPEAT_MS);
            if self.0.len() >= MAX_RECENT_TRANSCRIPTS
                && let Some(oldest) = self
                    .0
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                self.0.remove(&oldest);
            }
        }
        self.0.insert(session_key.to_owned(), (fingerprint, now));
    }
}

/// What identifies one transcript (OpenClaw's `resolveVoiceTranscriptFingerprint`): the
/// event's id, else its call and sequence or timestamp, else its timestamp and text, else
/// its text.
pub fn transcript_fingerprint(payload: &Value, text: &str) -> String {
    let s = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let n = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_f64)
            .filter(|f| f.is_finite() && f.fract() == 0.0)
            .map(|f| f as i64)
    };
    if let Some(id) = s("eventId")
        .or_else(|| s("providerEventId"))
        .or_else(|| s("transcriptId"))
    {
        return format!("event:{id}");
    }
    let call = s("providerCallId").or_else(|| s("callId"));
    let ts = n("timestamp")
        .or_else(|| n("ts"))
        .or_else(|| n("eventTimestamp"));
    match (call, n("sequence").or_else(|| n("seq")), ts) {
        (Some(c), Some(seq), _) => format!("call-seq:{c}:{seq}"),
        (Some(c), None, Some(t)) => format!("call-ts:{c}:{t}"),
        (None, _, Some(t)) => format!("timestamp:{t}|text:{text}"),
        _ => format!("text:{text}"),
    }
}

impl Registry {
    /// The session a wake word's route picks (`None`: the one asked for): an agent's main
    /// session, or a session, of a configured agent (an unknown one is ignored, logged).
    pub(super) fn voice_route(&self, trigger: &str) -> Option<String> {
        use crate::voicewake::Target;
        let (agent, key) = match self.voicewake.routing.route(trigger) {
            Target::Current => return None,
            Target::Agent(a) => (a.clone(), format!("agent:{a}:main")),
            Target::Session(k) => {
                let k = crate::channel::normalize_session_key(k);
                let agent = k
                    .strip_prefix("agent:")
                    .and_then(|r| r.split_once(':'))
                    .map(|(a, _)| a.to_owned())
                    .unwrap_or_default();
                (agent, k)
            }
        };
        if crate::agents::known_now(&agent) {
            Some(key)
        } else {
            log::warn!(
                "voicewake routing ignored unknown agent {agent:?} (trigger {:?})",
                trigger.chars().take(64).collect::<String>()
            );
            None
        }
    }

    /// Where a node's `agent.request {deliver: true, channel?, to?}` answer goes: the chat
    /// asked for, with what is missing taken from the session's own chat (`None`, logged,
    /// when there is none). A node may only have the bot write to a chat the gateway
    /// already talks with (one that has a session): a paired phone is not an operator
    /// with `send`, and its requests cannot make the bot message strangers.
    fn node_delivery(
        &self,
        node_id: &str,
        key: &str,
        channel: Option<String>,
        to: Option<String>,
    ) -> Result<Option<AgentDelivery>, ErrorShape> {
        let own = self
            .sessions_index
            .get(key)
            .and_then(|m| Some((m.channel.clone()?, m.chat_id?.to_string())));
        let (channel, to) = match (channel, to, own) {
            (Some(c), Some(t), _) => (c, t),
            (c, t, Some((oc, ot))) => (c.unwrap_or(oc), t.unwrap_or(ot)),
            (c, t, None) => {
                log::warn!(
                    "agent delivery disabled node={node_id}: missing session delivery route (channel={} to={})",
                    c.as_deref().unwrap_or("-"),
                    t.as_deref().unwrap_or("-")
                );
                return Ok(None);
            }
        };
        if !self.sessions_index.has_chat(&channel, &to) {
            let shown: String = format!("{channel}:{to}").chars().take(80).collect();
            return Err(ErrorShape::invalid(format!(
                "agent.request delivery target {shown:?} is not a chat this gateway talks with: a node's request is answered only in chats that have written to the bot. Fix: omit channel and to (the session's own chat), or write to the bot from that chat first"
            )));
        }
        Ok(Some(AgentDelivery {
            channel: Some(channel),
            to: Some(to),
            best_effort: true,
            ..AgentDelivery::default()
        }))
    }

    /// Sends `voicewake.changed` (and with `routing`, `voicewake.routing.changed`) to the
    /// node on `ws`: the snapshot a node gets when it connects.
    pub(super) fn voicewake_snapshot(&self, ws: &Addr<crate::ws_session::WsSession>) {
        ws.do_send(SendTargeted {
            event: "voicewake.changed",
            payload: json!({"triggers": self.voicewake.triggers.triggers}).to_string(),
        });
        ws.do_send(SendTargeted {
            event: "voicewake.routing.changed",
            payload: json!({"config": self.voicewake.routing.to_value()}).to_string(),
        });
    }

    /// Sends a session's `chat` or `agent` event (`payload`, as serialized for the
    /// broadcast) to the nodes following session `key` (a node that does not keep up misses
    /// events, as an operator does).
    pub(super) fn send_to_followers(&self, event: &str, key: &str, payload: &str) {
        let event: &'static str = match event {
            "chat" => "chat",
            "agent" => "agent",
            _ => return,
        };
        for (node_id, ()) in self.node_subs.followers(key) {
            if let Some(n) = self.nodes.get(node_id) {
                let _ = n.ws.try_send(SendTargeted {
                    event,
                    payload: payload.to_owned(),
                });
            }
        }
    }
}

/// `voicewake.get`, `voicewake.routing.get`: the wake words and their routing.
#[derive(Message)]
#[rtype(result = "VoiceWake")]
pub struct GetVoiceWake;

impl Handler<GetVoiceWake> for Registry {
    type Result = MessageResult<GetVoiceWake>;

    fn handle(&mut self, _: GetVoiceWake, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.voicewake.clone())
    }
}

/// `voicewake.set {triggers}`: saves the (normalized) wake words, then tells operators
/// (`voicewake.changed`) and every connected node; answers what was saved.
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, StoreError>")]
pub struct SetVoiceWake {
    /// Normalized by [`voicewake::normalize_triggers`].
    pub triggers: Vec<String>,
}

impl Handler<SetVoiceWake> for Registry {
    type Result = ResponseActFuture<Self, Result<Vec<String>, StoreError>>;

    fn handle(&mut self, msg: SetVoiceWake, _: &mut Self::Context) -> Self::Result {
        let doc = Triggers {
            triggers: msg.triggers,
            updated_at_ms: now_ms(),
        };
        let save = self.store.send(SaveDocument {
            name: voicewake::TRIGGERS_FILE.to_owned(),
            contents: serde_json::to_vec_pretty(&doc).unwrap_or_default(),
        });
        Box::pin(
            async move { StoreError::flatten(save.await) }
                .into_actor(self)
                .map(move |res, act, _| {
                    res?;
                    let payload = json!({"triggers": doc.triggers});
                    act.voicewake.triggers = doc.clone();
                    act.broadcast("voicewake.changed", &payload, false, None);
                    let text = payload.to_string();
                    for id in act.nodes.ids() {
                        if let Some(n) = act.nodes.get(id) {
                            n.ws.do_send(SendTargeted {
                                event: "voicewake.changed",
                                payload: text.clone(),
                            });
                        }
                    }
                    Ok(doc.triggers)
                }),
        )
    }
}

/// `node.event chat.subscribe` / `chat.unsubscribe {sessionKey}` from the node on
/// `conn_id`: `Err` names why nothing changed (`replaced`: not the node's current
/// connection; `not_approved`: no operator approved the node; `subscription_limit`).
#[derive(Message)]
#[rtype(result = "Result<(), &'static str>")]
pub struct NodeSubscribe {
    /// The node.
    pub node_id: String,
    /// Its connection (a replaced connection's late event changes nothing).
    pub conn_id: String,
    /// Normalized session key.
    pub session_key: String,
    /// Follow (`true`) or stop.
    pub on: bool,
}

impl Handler<NodeSubscribe> for Registry {
    type Result = Result<(), &'static str>;

    fn handle(&mut self, msg: NodeSubscribe, _: &mut Self::Context) -> Self::Result {
        if self.nodes.get(&msg.node_id).map(|n| n.conn_id.as_str()) != Some(&msg.conn_id) {
            return Err("replaced");
        }
        if !msg.on {
            self.node_subs.unfollow(&msg.node_id, &msg.session_key);
            return Ok(());
        }
        if !self.book.nodes.contains_key(&msg.node_id) {
            return Err("not_approved");
        }
        if self.node_subs.follow(&msg.node_id, &msg.session_key, || ()) {
            Ok(())
        } else {
            Err("subscription_limit")
        }
    }
}

impl Registry {
    /// `Err` unless an operator approved `node_id` (and has not removed it since): only
    /// an approved node talks to the agent or follows sessions.
    fn node_approved(&self, node_id: &str) -> Result<(), ErrorShape> {
        if self.book.nodes.contains_key(node_id) {
            return Ok(());
        }
        let shown: String = node_id.chars().take(16).collect();
        Err(ErrorShape::new(
            crate::protocol::error::ErrorCode::NotPaired,
            format!(
                "node {shown}… is not approved: an operator approves it before it may talk to the agent. Fix: openclaw nodes pending, then openclaw nodes approve <requestId>"
            ),
        ))
    }
}

/// A node's own request: `voice.transcript` or `agent.request` (see the module doc).
#[derive(Message)]
#[rtype(result = "Result<SubmitAck, ErrorShape>")]
pub struct SubmitNodeRun {
    /// The node.
    pub node_id: String,
    /// Its connection.
    pub conn_id: String,
    /// Run id.
    pub run_id: String,
    /// Normalized session key.
    pub session_key: String,
    /// The request.
    pub text: String,
    /// Images the node attached.
    pub uploads: Vec<crate::media::FileUpload>,
    /// Thinking level.
    pub thinking: Option<crate::ports::Thinking>,
    /// `voice.transcript`: the transcript's fingerprint (a repeat starts nothing).
    pub transcript: Option<String>,
    /// `agent.request {deliver: true}`: the channel and chat asked for (each may be
    /// missing: the session's own chat fills them in; without one nothing is delivered).
    pub deliver: Option<(Option<String>, Option<String>)>,
    /// `agent.request {receipt: true}`: this is sent to the delivery chat before the run.
    pub receipt: Option<String>,
}

impl Handler<SubmitNodeRun> for Registry {
    type Result = Result<SubmitAck, ErrorShape>;

    fn handle(&mut self, msg: SubmitNodeRun, ctx: &mut Self::Context) -> Self::Result {
        if self.nodes.get(&msg.node_id).map(|n| n.conn_id.as_str()) != Some(&msg.conn_id) {
            return Err(ErrorShape::unavailable(
                "this node connection was replaced; send the request on the current one",
            ));
        }
        self.node_approved(&msg.node_id)?;
        if let Some(e) = self.shared.live.get().agents.refuse_key(&msg.session_key) {
            return Err(ErrorShape::invalid(format!(
                "invalid node.event payload: {e}"
            )));
        }
        let key = msg.session_key;
        let now = now_ms();
        if let Some(f) = &msg.transcript
            && self.voice_transcripts.is_repeat(&key, f, now)
        {
            return Ok(SubmitAck {
                run_id: msg.run_id,
                session_key: key,
                status: "duplicate",
                answered: None,
                interrupted: false,
            });
        }
        let delivery = match msg.deliver {
            None => None,
            Some((channel, to)) => self.node_delivery(&msg.node_id, &key, channel, to)?,
        };
        // The note's chat (a delivery always names one).
        let receipt = msg.receipt.zip(
            delivery
                .as_ref()
                .and_then(|d| Some((d.channel.clone()?, d.to.clone()?))),
        );
        let req = RunRequest {
            run_id: msg.run_id.clone(),
            session_key: key.clone(),
            text: msg.text,
            origin: RunOrigin::Node {
                node_id: msg.node_id.clone(),
            },
            sender: Some(format!("node:{}", msg.node_id)),
            uploads: msg.uploads,
            compact: None,
            thinking: msg.thinking,
            delivery,
            model: None,
            queue: super::runs::Queueing::Default,
        };
        let started = self.submit(req, ctx).map_err(|e| e.to_shape())?;
        if let Some(f) = msg.transcript {
            self.voice_transcripts.record(&key, f, now);
        }
        // The note goes out once the request is accepted.
        if let Some((text, (channel, to))) = receipt {
            let send = ctx.address().send(super::channels::SendOutbound {
                channel,
                account_id: None,
                to,
                text,
                media: Vec::new(),
                files: Vec::new(),
                buttons: Vec::new(),
                sources: Default::default(),
                thread_id: None,
                reply_to: None,
                silent: false,
                idempotency_key: format!("node-receipt:{}", msg.run_id),
                run: Some(super::channels::OutboundRun {
                    session_key: key.clone(),
                    run_id: msg.run_id.clone(),
                }),
            });
            let node = msg.node_id.clone();
            actix::spawn(async move {
                if let Ok(Err(e)) = send.await {
                    log::warn!("agent receipt failed node={node}: {e}");
                }
            });
        }
        Ok(SubmitAck {
            run_id: msg.run_id,
            session_key: key,
            status: if started { "started" } else { "queued" },
            answered: None,
            interrupted: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_repeats_only_within_the_window_and_memory_is_bounded() {
        let mut r = RecentTranscripts::default();
        assert!(!r.is_repeat("k", "text:hi", 1000));
        r.record("k", "text:hi".into(), 1000);
        assert!(r.is_repeat("k", "text:hi", 2000));
        assert!(!r.is_repeat("k", "text:hi", 4000));
        assert!(!r.is_repeat("k", "text:other", 2000));
        assert!(!r.is_repeat("k2", "text:hi", 2000));
        for i in 0..1000 {
            r.record(&format!("s{i}"), "x".into(), 5000 + i);
        }
        assert!(r.0.len() <= MAX_RECENT_TRANSCRIPTS);
        assert!(r.is_repeat("s999", "x", 5999), "the newest are kept");
    }

    #[test]
    fn fingerprints_follow_openclaws_precedence() {
        let f = |p: Value| transcript_fingerprint(&p, "hi");
        assert_eq!(f(json!({"eventId": " e1 ", "callId": "c"})), "event:e1");
        assert_eq!(f(json!({"callId": "c", "seq": 3, "ts": 9})), "call-seq:c:3");
        assert_eq!(
            f(json!({"providerCallId": "c", "timestamp": 9})),
            "call-ts:c:9"
        );
        assert_eq!(f(json!({"ts": 9.0})), "timestamp:9|text:hi");
        assert_eq!(f(json!({"ts": 9.5, "seq": 1})), "text:hi");
        assert_eq!(f(json!({})), "text:hi");
    }
}
