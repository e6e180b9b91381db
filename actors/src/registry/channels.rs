//! The registry's channel half: the map of channel accounts ([`ChannelHandle`]s, registered
//! with [`RegisterChannel`]) and the fan-out to them — `send` ([`SendOutbound`]),
//! `message.action` ([`SendAction`], [`RouteAction`]), `channels.status` ([`ChannelsStatus`]), DM pairing ([`ChannelPairingList`],
//! [`ChannelPairingApprove`]) and webhook deliveries ([`RouteWebhook`]). The registry knows
//! a channel only through its handle: its [`ChannelKind`] and its actor's recipients.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use super::Registry;
use crate::channel::{
    ApproveChannelPairing, ChannelAction, ChannelError, ChannelHandle, ChannelKind,
    ChannelPairingRequest, ChannelStatus, DeliverReply, GetChannelStatus, ListChannelPairing,
    MessageOp, PairingApproval, WebhookDelivery, WebhookError,
};
use crate::protocol::error::ErrorShape;
use crate::util::now_ms;

/// Registers a channel account at engine start (a later registration of the same kind and
/// account replaces it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterChannel {
    /// The account's handle.
    pub handle: ChannelHandle,
}

impl Handler<RegisterChannel> for Registry {
    type Result = ();

    fn handle(&mut self, msg: RegisterChannel, ctx: &mut Self::Context) {
        let kind = msg.handle.kind.id;
        let key = (kind, msg.handle.account.clone());
        self.channels.insert(key, msg.handle);
        // Sub-agents a restart interrupted report to this channel's chats now.
        self.report_recovered(kind, ctx);
    }
}

/// Makes the registration of accounts to start, given the state directory.
pub type AccountsToStart =
    Box<dyn FnOnce(&std::path::Path) -> Box<dyn crate::channel::ChannelRegistration> + Send>;

/// A config reload's change of a channel's account list: the accounts in `remove` stop and
/// leave; those of `add` start (each reads its own state off this thread). Answers the
/// accounts started.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct ChangeAccounts {
    /// The channel kind.
    pub kind: &'static str,
    /// Accounts to stop.
    pub remove: Vec<String>,
    /// Makes the registration of the accounts to start, given the state directory (on the
    /// registry's thread: their clients are not `Send`). It reads no file here.
    pub add: AccountsToStart,
}

impl Handler<ChangeAccounts> for Registry {
    type Result = MessageResult<ChangeAccounts>;

    fn handle(&mut self, msg: ChangeAccounts, ctx: &mut Self::Context) -> Self::Result {
        for account in msg.remove {
            if let Some(h) = self.channels.remove(&(msg.kind, account))
                && let Some(stop) = &h.recipients.stop
            {
                stop.do_send(crate::channel::StopChannel);
            }
        }
        let registration = (msg.add)(&self.shared.config.state_dir);
        let mut started = Vec::new();
        for handle in registration.start(&ctx.address(), &self.store, &self.audio_in) {
            started.push(handle.account.clone());
            self.channels
                .insert((handle.kind.id, handle.account.clone()), handle);
        }
        MessageResult(started)
    }
}

/// Sent by a channel registering its command menu (Telegram's `setMyCommands`, OpenClaw's
/// `commands.nativeSkills`): the default agent's skill commands as `(command,
/// description)`, at most [`MAX_MENU_SKILLS`], each description one line of 1 to 256
/// characters.
#[derive(Message)]
#[rtype(result = "Vec<(String, String)>")]
pub struct MenuSkills;

/// Most skill commands in a command menu (Telegram takes 100 commands; the chat commands
/// come first).
pub const MAX_MENU_SKILLS: usize = 80;

impl Handler<MenuSkills> for Registry {
    type Result = ResponseFuture<Vec<(String, String)>>;

    fn handle(&mut self, _: MenuSkills, _: &mut Self::Context) -> Self::Result {
        let ws = self.shared.live.get().workspace.clone();
        Box::pin(async move {
            // Discovery reads the skill folders: not on this thread.
            actix_web::rt::task::spawn_blocking(move || menu_skills(&ws))
                .await
                .unwrap_or_default()
        })
    }
}

/// The menu entries of `ws`'s skill commands.
fn menu_skills(ws: &crate::workspace::WorkspaceSettings) -> Vec<(String, String)> {
    crate::workspace::skills::for_run(ws)
        .commands
        .into_iter()
        .take(MAX_MENU_SKILLS)
        .map(|c| {
            let line = c.description.lines().map(str::trim).find(|l| !l.is_empty());
            let text = match line {
                Some(l) => l.to_owned(),
                None => format!("Run the {} skill", c.skill_name.trim()),
            };
            (c.name, text.chars().take(256).collect())
        })
        .collect()
}

impl Registry {
    /// The kind called `id`: one this build supports, or one a registered account has.
    fn channel_kind(&self, id: &str) -> Option<&'static ChannelKind> {
        crate::channel::KINDS
            .iter()
            .copied()
            .chain(self.channels.values().map(|h| h.kind))
            .find(|k| k.id == id)
    }

    /// The accounts of channel `kind`, in account order.
    fn accounts_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a ChannelHandle> + 'a {
        self.channels
            .iter()
            .filter(move |((k, _), _)| *k == kind)
            .map(|(_, h)| h)
    }
}

/// Why `send` or `channels.pairing.approve` failed in the registry's channel routing;
/// [`RouteError::to_shape`] gives the wire error.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No channel kind of that id (`supported` lists the ids, for `send`).
    #[error("unsupported channel: {channel}{}", supported.as_ref().map(|s| format!(" (supported: {s})")).unwrap_or_default())]
    Unsupported {
        /// The id asked for.
        channel: String,
        /// The supported ids, comma-separated.
        supported: Option<String>,
    },
    /// The kind is known but no account of it is configured.
    #[error("channel not configured: {} ({})", .0.id, .0.setup_hint)]
    NotConfigured(&'static ChannelKind),
    /// The target does not parse for this kind.
    #[error("{0}")]
    BadTarget(String),
    /// The channel could not deliver.
    #[error("delivery failed: {0}")]
    Delivery(ChannelError),
    /// The channel refused the pairing code.
    #[error("{0}")]
    Refused(String),
    /// The channel actor is gone.
    #[error("channel unavailable")]
    Unavailable,
    /// A file named by path or URL could not be loaded (the reason, with the fix).
    #[error("media: {0}")]
    BadMedia(String),
    /// A file to send could not be kept in the state directory.
    #[error("the file could not be kept: {0}")]
    NotSaved(String),
}

impl RouteError {
    /// The wire error: `INVALID_REQUEST` for what the caller can fix, `UNAVAILABLE` for
    /// what the gateway cannot do now.
    pub fn to_shape(&self) -> ErrorShape {
        match self {
            Self::Unsupported { .. }
            | Self::BadTarget(_)
            | Self::Refused(_)
            | Self::BadMedia(_) => ErrorShape::invalid(self.to_string()),
            Self::NotConfigured(_) | Self::Delivery(_) | Self::Unavailable | Self::NotSaved(_) => {
                ErrorShape::unavailable(self.to_string())
            }
        }
    }
}

/// What `send` answers: where the text went and the ids of the messages sent. Fields in
/// the order of the wire object's keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReceipt {
    /// Channel kind id.
    pub channel: &'static str,
    /// Set on a repeated `send` answered from the idempotency cache.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deduplicated: bool,
    /// The first message id (`null` when nothing was sent).
    pub message_id: Option<i64>,
    /// Every message id (a long text is split into several messages).
    pub message_ids: Vec<i64>,
    /// Always `true`.
    pub ok: bool,
    /// The target as given.
    pub to: String,
}

/// `send`: outbound delivery to a channel target.
#[derive(Message)]
#[rtype(result = "Result<SendReceipt, RouteError>")]
pub struct SendOutbound {
    /// Channel kind id.
    pub channel: String,
    /// Account (default: `default`, else the first).
    pub account_id: Option<String>,
    /// Target, as the channel parses it.
    pub to: String,
    /// Text.
    pub text: String,
    /// Attachments (files of the state directory; the scheduler's runs' answers).
    pub media: Vec<crate::media::MediaRef>,
    /// Files an operator sends (`send` with `buffer`): saved under `media/outbound`, then
    /// sent like attachments.
    pub files: Vec<crate::media::FileUpload>,
    /// Buttons under the message, in rows (`presentation`; see
    /// [`crate::channel::presentation`]).
    pub buttons: Vec<Vec<crate::channel::Button>>,
    /// Files named by path or URL, loaded before sending (see [`crate::media_source`]).
    pub sources: crate::media_source::Sources,
    /// Topic.
    pub thread_id: Option<i64>,
    /// Reply to.
    pub reply_to: Option<i64>,
    /// Without a notification (`silent`).
    pub silent: bool,
    /// Idempotency key: a repeated `send` within 5 minutes returns the first result
    /// instead of sending again.
    pub idempotency_key: String,
    /// The run whose answer this is (a cron job's, `agent --deliver`'s), for the audit
    /// ledger's outbound row; none: an operator's `send`.
    pub run: Option<OutboundRun>,
}

/// The run a [`SendOutbound`] delivers the answer of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRun {
    /// Its session key (`agent:<id>:…`: the agent the row names).
    pub session_key: String,
    /// Its run id.
    pub run_id: String,
}

impl Registry {
    /// The account a `send` or `message.action` goes to (`account_id`, else `default`,
    /// else the kind's first) and the parsed target.
    fn route(
        &self,
        channel: &str,
        account_id: Option<&str>,
        to: &str,
        thread_id: Option<i64>,
    ) -> Result<
        (
            &'static ChannelKind,
            &ChannelHandle,
            crate::channel::ChatTarget,
        ),
        RouteError,
    > {
        let (kind, handle) = self.account_for(channel, account_id)?;
        let target = (kind.parse_target)(to, thread_id).map_err(RouteError::BadTarget)?;
        Ok((kind, handle, target))
    }

    /// When `to` is not a target its channel parses but the account looks names up
    /// (Telegram's `@username`): who looks it up.
    fn name_lookup(
        &self,
        channel: &str,
        account_id: Option<&str>,
        to: &str,
        thread_id: Option<i64>,
    ) -> Option<NameLookup> {
        let (kind, handle) = self.account_for(channel, account_id).ok()?;
        if (kind.parse_target)(to, thread_id).is_ok() {
            return None;
        }
        Some(NameLookup {
            resolver: handle.recipients.resolve.clone()?,
            parse: kind.parse_target,
            thread_id,
        })
    }

    /// The account of `channel` named `account_id` (else `default`, else the first).
    fn account_for(
        &self,
        channel: &str,
        account_id: Option<&str>,
    ) -> Result<(&'static ChannelKind, &ChannelHandle), RouteError> {
        let Some(kind) = self.channel_kind(channel) else {
            let mut supported: Vec<&str> = crate::channel::KINDS.iter().map(|k| k.id).collect();
            for h in self.channels.values() {
                if !supported.contains(&h.kind.id) {
                    supported.push(h.kind.id);
                }
            }
            return Err(RouteError::Unsupported {
                channel: channel.to_owned(),
                supported: Some(supported.join(", ")),
            });
        };
        let handle = match account_id {
            Some(a) => self.channels.get(&(kind.id, a.to_owned())),
            None => self
                .channels
                .get(&(kind.id, "default".to_owned()))
                .or_else(|| self.accounts_of(kind.id).next()),
        };
        let Some(handle) = handle else {
            return Err(RouteError::NotConfigured(kind));
        };
        Ok((kind, handle))
    }
}

/// A chat name to look up before routing ([`Registry::name_lookup`]).
struct NameLookup {
    resolver: Recipient<crate::channel::ResolveTarget>,
    parse: fn(&str, Option<i64>) -> Result<crate::channel::ChatTarget, String>,
    thread_id: Option<i64>,
}

impl NameLookup {
    /// The target `to` names, in the form the channel parses (`Err`: the name is unknown,
    /// or not one the channel can have).
    async fn resolve(self, to: &str) -> Result<String, RouteError> {
        let found = self
            .resolver
            .send(crate::channel::ResolveTarget { to: to.to_owned() })
            .await
            .map_err(|_| RouteError::Unavailable)?;
        let resolved = match found {
            Ok(Some(t)) => t,
            // Not a name: the parser's own error says what a target looks like.
            Ok(None) => {
                return Err(RouteError::BadTarget(
                    (self.parse)(to, self.thread_id)
                        .err()
                        .unwrap_or_else(|| format!("invalid target {to:?}")),
                ));
            }
            Err(ChannelError::Invalid(e)) => return Err(RouteError::BadTarget(e)),
            Err(e) => return Err(RouteError::Delivery(e)),
        };
        // What comes back must parse: never a second lookup.
        (self.parse)(&resolved, self.thread_id).map_err(RouteError::BadTarget)?;
        Ok(resolved)
    }
}

/// `message.action` besides `send` (`poll`, `react`, `edit`, `delete`): carried out by the
/// channel account, which answers the action's result object.
#[derive(Message)]
#[rtype(result = "Result<serde_json::Value, RouteError>")]
pub struct RouteAction {
    /// Channel kind id.
    pub channel: String,
    /// Account (default: `default`, else the first).
    pub account_id: Option<String>,
    /// Target, as the channel parses it.
    pub to: String,
    /// Topic.
    pub thread_id: Option<i64>,
    /// What to do.
    pub op: crate::channel::MessageOp,
}

impl Handler<RouteAction> for Registry {
    type Result = ResponseFuture<Result<serde_json::Value, RouteError>>;

    fn handle(&mut self, mut msg: RouteAction, ctx: &mut Self::Context) -> Self::Result {
        if let Some(lookup) = self.name_lookup(
            &msg.channel,
            msg.account_id.as_deref(),
            &msg.to,
            msg.thread_id,
        ) {
            let me = ctx.address();
            return Box::pin(async move {
                msg.to = lookup.resolve(&msg.to).await?;
                me.send(msg).await.map_err(|_| RouteError::Unavailable)?
            });
        }
        let routed = self.route(
            &msg.channel,
            msg.account_id.as_deref(),
            &msg.to,
            msg.thread_id,
        );
        let (kind, handle, target) = match routed {
            Ok(r) => r,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let Some(actions) = handle.recipients.actions.clone() else {
            let refused = RouteError::Refused(format!(
                "Channel {} does not support action {}.",
                kind.id,
                msg.op.name()
            ));
            return Box::pin(async move { Err(refused) });
        };
        Box::pin(async move {
            match actions.send(ChannelAction { target, op: msg.op }).await {
                Ok(r) => r.map_err(action_refused),
                Err(_) => Err(RouteError::Unavailable),
            }
        })
    }
}

/// A channel's refusal of a message action: what the caller can fix (a gate that turns it
/// off, a call outside the channel's limits) is `Refused`, the rest a delivery failure.
fn action_refused(e: ChannelError) -> RouteError {
    match e {
        ChannelError::ActionDisabled(_) | ChannelError::Invalid(_) => {
            RouteError::Refused(e.to_string())
        }
        e => RouteError::Delivery(e),
    }
}

/// `message.action` `send` (what `openclaw message send` calls): a [`SendOutbound`] that
/// the account's action gates apply to first (Telegram's `actions.sendMessage`, as for
/// OpenClaw's message action `send`). A refused send delivers nothing and records nothing
/// for its idempotency key. The plain `send` RPC and the agents' replies are not gated.
#[derive(Message)]
#[rtype(result = "Result<SendReceipt, RouteError>")]
pub struct SendAction(pub SendOutbound);

impl Handler<SendAction> for Registry {
    type Result = ResponseActFuture<Self, Result<SendReceipt, RouteError>>;

    fn handle(&mut self, msg: SendAction, ctx: &mut Self::Context) -> Self::Result {
        self.send_named_or(msg.0, true, ctx)
    }
}

/// How long `send` results are remembered for idempotency.
const SEND_DEDUPE_TTL: Duration = Duration::from_secs(300);
/// At most this many remembered `send` results.
const SEND_DEDUPE_MAX: usize = 1000;

impl Handler<SendOutbound> for Registry {
    type Result = ResponseActFuture<Self, Result<SendReceipt, RouteError>>;

    fn handle(&mut self, msg: SendOutbound, ctx: &mut Self::Context) -> Self::Result {
        self.send_named_or(msg, false, ctx)
    }
}

impl Registry {
    /// [`Self::send_outbound`], after looking up a chat name (Telegram's `@username`) its
    /// target is: the receipt names the target as given.
    fn send_named_or(
        &mut self,
        mut msg: SendOutbound,
        gated: bool,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<SendReceipt, RouteError>> {
        let Some(lookup) = self.name_lookup(
            &msg.channel,
            msg.account_id.as_deref(),
            &msg.to,
            msg.thread_id,
        ) else {
            return self.send_outbound(msg, gated);
        };
        let me = ctx.address();
        Box::pin(
            async move {
                let given = msg.to.clone();
                msg.to = lookup.resolve(&given).await?;
                let sent = if gated {
                    me.send(SendAction(msg)).await
                } else {
                    me.send(msg).await
                };
                let mut receipt = sent.map_err(|_| RouteError::Unavailable)??;
                receipt.to = given;
                Ok(receipt)
            }
            .into_actor(self),
        )
    }

    /// Delivers `msg` (a repeated idempotency key answers the first result); `gated`: the
    /// account's gate for sending is asked first ([`SendAction`]).
    fn send_outbound(
        &mut self,
        msg: SendOutbound,
        gated: bool,
    ) -> ResponseActFuture<Self, Result<SendReceipt, RouteError>> {
        let now = std::time::Instant::now();
        self.send_dedupe
            .retain(|_, (at, _)| now.duration_since(*at) < SEND_DEDUPE_TTL);
        if let Some((_, done)) = self.send_dedupe.get(&msg.idempotency_key) {
            let receipt = SendReceipt {
                deduplicated: true,
                ..done.clone()
            };
            return Box::pin(actix::fut::ready(Ok(receipt)));
        }
        let (kind, handle, target) = match self.route(
            &msg.channel,
            msg.account_id.as_deref(),
            &msg.to,
            msg.thread_id,
        ) {
            Ok(r) => r,
            Err(e) => return Box::pin(actix::fut::ready(Err(e))),
        };
        let deliver = handle.recipients.deliver.clone();
        // A channel without message actions has no gates.
        let gate = handle.recipients.actions.clone().filter(|_| gated);
        let to = msg.to.clone();
        let key = msg.idempotency_key.clone();
        let store = self.store.clone();
        let channel = kind.id;
        // The sending agent: the run's, else the default one.
        let live = self.shared.live.get();
        let agent = msg
            .run
            .as_ref()
            .and_then(|r| live.agents.agent_of_key(&r.session_key))
            .unwrap_or_else(|| live.agents.default_agent());
        // The channel's response prefix goes before it when it fills from what is known
        // here: its agent's identity name.
        let prefix = crate::channel::prefix::PrefixVars {
            identity_name: agent.identity_name.clone(),
            strict: true,
            ..Default::default()
        };
        // Files named by path or URL: the agent's workspace and the `web_fetch` client.
        let loader = (!msg.sources.list.is_empty()).then(|| {
            let fetch = self.web.as_ref().map(|w| crate::media_source::Fetch {
                fetcher: w.fetcher.clone(),
                settings: live.web_fetch.clone(),
            });
            (agent.workspace.clone(), fetch)
        });
        // The audit ledger's outbound row (`logging.audit.messages`), once the channel was
        // asked to send: OpenClaw records every delivery, not only a chat's replies.
        // Nothing is built for it when the ledger does not record this conversation.
        let audit = self.shared.audit.clone();
        let conversation = (kind.conversation_of)(target.chat_id);
        let audited = audit.records_messages(conversation).then(|| {
            let ids = crate::audit::MessageIds {
                channel: channel.to_owned(),
                account: handle.account.clone(),
                conversation: target.chat_id.to_string(),
                message: None,
                sender: None,
                target: Some(target.chat_id.to_string()),
            };
            let run = msg.run.as_ref().and_then(|r| {
                Some(crate::audit::RunIds {
                    agent_id: crate::agents::key_agent(&r.session_key)?.to_owned(),
                    session_key: r.session_key.clone(),
                    run_id: r.run_id.clone(),
                })
            });
            (ids, run)
        });
        Box::pin(
            async move {
                if let Some(gate) = gate {
                    let op = MessageOp::Send;
                    match gate.send(ChannelAction { target, op }).await {
                        Ok(r) => r.map_err(action_refused)?,
                        Err(_) => return Err(RouteError::Unavailable),
                    };
                }
                let mut media = msg.media;
                let mut files = msg.files;
                if let Some((workspace, fetch)) = &loader {
                    for src in &msg.sources.list {
                        let f = crate::media_source::load(
                            src,
                            Some(workspace),
                            fetch.as_ref(),
                            msg.sources.as_voice,
                        )
                        .await
                        .map_err(RouteError::BadMedia)?;
                        files.push(f);
                    }
                }
                for f in &files {
                    let saved = crate::media::save_file(&store, crate::media::MEDIA_DIR, f)
                        .await
                        .map_err(|e| RouteError::NotSaved(format!("{e}. Fix: {}", e.fix())))?;
                    media.push(saved);
                }
                let has_media = !media.is_empty();
                let sending = crate::util::now_ms();
                let sent = deliver
                    .send(DeliverReply {
                        inbound_id: None,
                        target,
                        reply_to: msg.reply_to,
                        explicit_reply: true,
                        silent: msg.silent,
                        text: msg.text,
                        recorded: None,
                        media,
                        buttons: msg.buttons,
                        prefix: Some(prefix),
                    })
                    .await;
                if let Some((audit_ids, audit_run)) = audited {
                    let (end, ids) = match &sent {
                        Ok(Ok(ids)) => (crate::audit::OutboundEnd::Sent, ids.as_slice()),
                        _ => (crate::audit::OutboundEnd::Failed, &[][..]),
                    };
                    let now = crate::util::now_ms();
                    audit.outbound(
                        crate::audit::MessageIds {
                            message: ids.first().map(ToString::to_string),
                            ..audit_ids
                        },
                        conversation,
                        end,
                        audit_run.as_ref(),
                        has_media,
                        now.saturating_sub(sending),
                        ids.len() as u64,
                        now,
                    );
                }
                match sent {
                    Ok(Ok(ids)) => Ok(SendReceipt {
                        channel,
                        deduplicated: false,
                        message_id: ids.first().copied(),
                        message_ids: ids,
                        ok: true,
                        to,
                    }),
                    Ok(Err(e)) => Err(RouteError::Delivery(e)),
                    Err(_) => Err(RouteError::Unavailable),
                }
            }
            .into_actor(self)
            .map(move |res, act, _| {
                if let Ok(v) = &res {
                    if act.send_dedupe.len() >= SEND_DEDUPE_MAX {
                        act.send_dedupe.clear();
                    }
                    act.send_dedupe
                        .insert(key, (std::time::Instant::now(), v.clone()));
                }
                res
            }),
        )
    }
}

/// One channel kind in `channels.status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindStatus {
    /// Its accounts by id.
    pub accounts: BTreeMap<String, ChannelStatus>,
    /// Always `true` (only configured kinds are listed).
    pub configured: bool,
    /// Whether any account is running.
    pub running: bool,
}

/// What `channels.status` answers (and `health` takes its channel part from). Fields in
/// the order of the wire object's keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelsStatusReply {
    /// Display labels by kind id.
    pub channel_labels: BTreeMap<&'static str, &'static str>,
    /// Kind ids, in order.
    pub channel_order: Vec<&'static str>,
    /// Status by kind id.
    pub channels: BTreeMap<&'static str, KindStatus>,
    /// The model provider's label.
    pub model: String,
    /// Answer time.
    pub ts: u64,
}

/// `channels.status`, and the channel part of `health`.
#[derive(Message)]
#[rtype(result = "ChannelsStatusReply")]
pub struct ChannelsStatus;

impl Handler<ChannelsStatus> for Registry {
    type Result = ResponseActFuture<Self, ChannelsStatusReply>;

    fn handle(&mut self, _: ChannelsStatus, _: &mut Self::Context) -> Self::Result {
        let futs: Vec<_> = self
            .channels
            .iter()
            .map(|((_, id), h)| {
                (
                    h.kind,
                    id.clone(),
                    h.recipients.status.send(GetChannelStatus),
                )
            })
            .collect();
        Box::pin(
            async move {
                // Kinds in key order, each with its accounts in account order.
                let mut kinds: Vec<(&'static ChannelKind, BTreeMap<String, ChannelStatus>)> =
                    Vec::new();
                for (kind, id, f) in futs {
                    let v = f.await.unwrap_or_else(|_| ChannelStatus::stopped());
                    match kinds.iter_mut().find(|(k, _)| k.id == kind.id) {
                        Some((_, accounts)) => {
                            accounts.insert(id, v);
                        }
                        None => kinds.push((kind, BTreeMap::from([(id, v)]))),
                    }
                }
                kinds
            }
            .into_actor(self)
            .map(|kinds, act, _| {
                let mut reply = ChannelsStatusReply {
                    channel_labels: BTreeMap::new(),
                    channel_order: Vec::new(),
                    channels: BTreeMap::new(),
                    model: act.model.label(),
                    ts: now_ms(),
                };
                for (kind, accounts) in kinds {
                    let running = accounts.values().any(|a| a.running);
                    reply.channels.insert(
                        kind.id,
                        KindStatus {
                            accounts,
                            configured: true,
                            running,
                        },
                    );
                    reply.channel_labels.insert(kind.id, kind.label);
                    reply.channel_order.push(kind.id);
                }
                reply
            }),
        )
    }
}

/// Sent by the HTTP layer for a channel's webhook endpoint: forwarded to the account.
#[derive(Message)]
#[rtype(result = "Result<(), WebhookError>")]
pub struct RouteWebhook {
    /// Channel kind id.
    pub kind: &'static str,
    /// Account.
    pub account_id: String,
    /// The update.
    pub delivery: WebhookDelivery,
}

impl Handler<RouteWebhook> for Registry {
    type Result = ResponseFuture<Result<(), WebhookError>>;

    fn handle(&mut self, msg: RouteWebhook, _: &mut Self::Context) -> Self::Result {
        let Some(webhook) = self
            .channels
            .get(&(msg.kind, msg.account_id))
            .and_then(|h| h.recipients.webhook.clone())
        else {
            return Box::pin(async { Err(WebhookError::NotFound) });
        };
        let fut = webhook.send(msg.delivery);
        Box::pin(async move { fut.await.unwrap_or(Err(WebhookError::Unavailable)) })
    }
}

/// A channel account, as `channels.pairing.list` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    /// Account id.
    pub account_id: String,
    /// Channel kind id.
    pub channel: &'static str,
}

/// The pairing bounds `channels.pairing.list` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingLimits {
    /// Pending codes per account.
    pub pending_per_account: usize,
    /// Code lifetime.
    pub ttl_ms: u64,
}

/// What `channels.pairing.list` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelPairingListReply {
    /// Every channel account.
    pub accounts: Vec<AccountRef>,
    /// The bounds.
    pub limits: PairingLimits,
    /// Pending requests of every account.
    pub requests: Vec<ChannelPairingRequest>,
}

/// `channels.pairing.list`.
#[derive(Message)]
#[rtype(result = "ChannelPairingListReply")]
pub struct ChannelPairingList;

impl Handler<ChannelPairingList> for Registry {
    type Result = ResponseActFuture<Self, ChannelPairingListReply>;

    fn handle(&mut self, _: ChannelPairingList, _: &mut Self::Context) -> Self::Result {
        let futs: Vec<_> = self
            .channels
            .iter()
            .map(|((kind, id), h)| {
                (
                    *kind,
                    id.clone(),
                    h.recipients.pairing_list.send(ListChannelPairing),
                )
            })
            .collect();
        Box::pin(
            async move {
                let mut requests = Vec::new();
                let mut accounts = Vec::new();
                for (channel, account_id, f) in futs {
                    accounts.push(AccountRef {
                        account_id,
                        channel,
                    });
                    requests.extend(f.await.unwrap_or_default());
                }
                ChannelPairingListReply {
                    accounts,
                    limits: PairingLimits {
                        pending_per_account: crate::channel::MAX_PENDING_PAIRING,
                        ttl_ms: crate::channel::PAIRING_TTL_MS,
                    },
                    requests,
                }
            }
            .into_actor(self),
        )
    }
}

/// `channels.pairing.approve`.
#[derive(Message)]
#[rtype(result = "Result<PairingApproval, RouteError>")]
pub struct ChannelPairingApprove {
    /// Channel kind id.
    pub channel: String,
    /// Account (default: try every account).
    pub account_id: Option<String>,
    /// The code.
    pub code: String,
}

impl Handler<ChannelPairingApprove> for Registry {
    type Result = ResponseActFuture<Self, Result<PairingApproval, RouteError>>;

    fn handle(&mut self, msg: ChannelPairingApprove, _: &mut Self::Context) -> Self::Result {
        let Some(kind) = self.channel_kind(&msg.channel) else {
            return Box::pin(actix::fut::ready(Err(RouteError::Unsupported {
                channel: msg.channel,
                supported: None,
            })));
        };
        let targets: Vec<_> = self
            .accounts_of(kind.id)
            .filter(|h| msg.account_id.as_ref().is_none_or(|a| *a == h.account))
            .map(|h| h.recipients.pairing_approve.clone())
            .collect();
        if targets.is_empty() {
            return Box::pin(actix::fut::ready(Err(RouteError::NotConfigured(kind))));
        }
        let code = msg.code;
        Box::pin(
            async move {
                let mut last = String::from("pending DM access request no longer exists");
                for t in targets {
                    match t.send(ApproveChannelPairing { code: code.clone() }).await {
                        Ok(Ok(v)) => return Ok(v),
                        Ok(Err(e)) => last = e.to_string(),
                        Err(_) => last = "channel unavailable".into(),
                    }
                }
                Err(RouteError::Refused(last))
            }
            .into_actor(self),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Routing failures keep the wire codes and texts `send` and `channels.pairing.approve`
    /// answered with before they were typed.
    #[test]
    fn route_errors_become_the_wire_errors() {
        use crate::protocol::error::ErrorCode;
        let cases = [
            (
                RouteError::Unsupported {
                    channel: "x".into(),
                    supported: Some("telegram, echo".into()),
                },
                ErrorCode::InvalidRequest,
                "unsupported channel: x (supported: telegram, echo)",
            ),
            (
                RouteError::Unsupported {
                    channel: "x".into(),
                    supported: None,
                },
                ErrorCode::InvalidRequest,
                "unsupported channel: x",
            ),
            (
                RouteError::NotConfigured(crate::channel::DEFAULT_KIND),
                ErrorCode::Unavailable,
                &format!(
                    "channel not configured: {} ({})",
                    crate::channel::DEFAULT_KIND.id,
                    crate::channel::DEFAULT_KIND.setup_hint
                ),
            ),
            (
                RouteError::Delivery(ChannelError::EmptyText),
                ErrorCode::Unavailable,
                "delivery failed: message text is empty: nothing to send",
            ),
            (
                RouteError::Unavailable,
                ErrorCode::Unavailable,
                "channel unavailable",
            ),
            (
                RouteError::Refused("nope".into()),
                ErrorCode::InvalidRequest,
                "nope",
            ),
        ];
        for (e, code, message) in cases {
            let shape = e.to_shape();
            assert_eq!((shape.code, shape.message.as_str()), (code, message));
        }
    }

    /// The typed `send` answer writes the same bytes as the JSON object it replaces
    /// (keys in order, `deduplicated` only on a repeat, `messageId` null when nothing went).
    #[test]
    fn send_receipt_serializes_as_the_wire_object() {
        let mut r = SendReceipt {
            channel: "telegram",
            deduplicated: false,
            message_id: Some(7),
            message_ids: vec![7, 8],
            ok: true,
            to: "123".into(),
        };
        let wire = json!({"ok": true, "channel": "telegram", "to": "123", "messageIds": [7, 8], "messageId": 7});
        assert_eq!(serde_json::to_string(&r).unwrap(), wire.to_string());
        r.deduplicated = true;
        let mut dup = wire.clone();
        dup["deduplicated"] = json!(true);
        assert_eq!(serde_json::to_string(&r).unwrap(), dup.to_string());
        r.message_ids.clear();
        r.message_id = None;
        assert_eq!(serde_json::to_value(&r).unwrap()["messageId"], Value::Null);
    }
}

/// `channels.stop {channel, accountId?}` / `channels.start {channel, accountId?}` (admin):
/// OpenClaw's non-destructive per-account recovery. A stop answers `{channel, accountId,
/// stopped}`; a start `{channel, accountId, started, outcome}` with OpenClaw's outcome:
/// `{status: "handed-off"}` (the account starts; `started` turns true once it has reached
/// the service) or `{status: "retry", reason: "task-owned"}` (it was running already).
/// `accountId` defaults to `default`, else the account when there is only one.
#[derive(Message)]
#[rtype(result = "Result<Value, ErrorShape>")]
pub struct ChannelRun {
    /// The channel id (`telegram`).
    pub channel: String,
    /// The account, if named.
    pub account: Option<String>,
    /// `true`: start; `false`: stop.
    pub start: bool,
}

impl Handler<ChannelRun> for Registry {
    type Result = ResponseFuture<Result<Value, ErrorShape>>;

    fn handle(&mut self, msg: ChannelRun, _: &mut Self::Context) -> Self::Result {
        let method = if msg.start {
            "channels.start"
        } else {
            "channels.stop"
        };
        let shown = |s: &str| s.chars().take(64).collect::<String>();
        let id = msg.channel.trim().to_ascii_lowercase();
        let Some(kind) = self.channel_kind(&id) else {
            let err = format!("invalid {method} channel: unknown channel {:?}", shown(&id));
            return Box::pin(async move { Err(ErrorShape::invalid(err)) });
        };
        let accounts: Vec<&ChannelHandle> = self.accounts_of(kind.id).collect();
        let wanted = msg
            .account
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let handle = match wanted {
            Some(a) => accounts.iter().find(|h| h.account == a),
            None => accounts
                .iter()
                .find(|h| h.account == "default")
                .or(if accounts.len() == 1 {
                    accounts.first()
                } else {
                    None
                }),
        };
        let Some(handle) = handle else {
            let configured: Vec<&str> = accounts.iter().map(|h| h.account.as_str()).collect();
            let err = match wanted {
                Some(a) => format!(
                    "{method}: {} has no account {:?} (configured: {})",
                    kind.id,
                    shown(a),
                    if configured.is_empty() {
                        "none".to_owned()
                    } else {
                        configured.join(", ")
                    }
                ),
                None if configured.is_empty() => {
                    format!(
                        "{method}: {} is not configured ({})",
                        kind.id, kind.setup_hint
                    )
                }
                None => format!(
                    "{method}: {} has several accounts; name one with accountId ({})",
                    kind.id,
                    configured.join(", ")
                ),
            };
            return Box::pin(async move { Err(ErrorShape::invalid(err)) });
        };
        let Some(lifecycle) = handle.recipients.lifecycle.clone() else {
            let err = format!(
                "channel {} does not support {}",
                kind.id,
                if msg.start { "start" } else { "stop" }
            );
            return Box::pin(async move { Err(ErrorShape::invalid(err)) });
        };
        let (channel, account, start) = (kind.id, handle.account.clone(), msg.start);
        Box::pin(async move {
            let state = lifecycle
                .send(crate::channel::SetChannelRunning(start))
                .await
                .map_err(|_| ErrorShape::unavailable("the channel account is not running"))?;
            Ok(if start {
                let outcome = if state.was_stopped {
                    json!({"status": "handed-off"})
                } else {
                    json!({"status": "retry", "reason": "task-owned"})
                };
                json!({"channel": channel, "accountId": account, "started": state.running, "outcome": outcome})
            } else {
                json!({"channel": channel, "accountId": account, "stopped": !state.running})
            })
        })
    }
}
