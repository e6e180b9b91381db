//! The engine's outside links built from config: Telegram accounts with their Bot API
//! clients, and the model provider.

use std::rc::Rc;
use std::time::Duration;

use openclaw_actors::EngineDeps;
use openclaw_actors::channel::telegram::api::TelegramApi;
use openclaw_actors::channel::telegram::{AckReaction, ReplyToMode, TelegramAccountConfig};

use super::StartError;
use crate::config::Loaded;

pub(super) fn id_list(values: Option<&Vec<serde_json::Value>>) -> Vec<String> {
    values
        .map(|v| {
            v.iter()
                .filter_map(|x| match x {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A `groupPolicy` value (`key` names it in the error).
fn group_policy_of(
    key: &str,
    v: &str,
) -> Result<openclaw_actors::channel::telegram::GroupPolicy, StartError> {
    use openclaw_actors::channel::telegram::GroupPolicy;
    match v {
        "allowlist" => Ok(GroupPolicy::Allowlist),
        "open" => Ok(GroupPolicy::Open),
        "disabled" => Ok(GroupPolicy::Disabled),
        other => {
            let shown: String = other.chars().take(32).collect();
            Err(StartError::config(format!(
                "{key} is {shown:?}. Fix: use \"allowlist\", \"open\" or \"disabled\""
            )))
        }
    }
}

/// An `allowFrom` list of a group: numeric user ids (`telegram:` / `tg:` prefixes
/// allowed) or `"*"`; anything else names the key.
fn sender_list(
    key: &str,
    v: Option<&Vec<serde_json::Value>>,
) -> Result<Option<Vec<String>>, StartError> {
    let Some(list) = v else { return Ok(None) };
    let ids = id_list(Some(list));
    if ids.len() != list.len()
        || ids.iter().any(|e| {
            let e = e.trim();
            let bare = e
                .strip_prefix("telegram:")
                .or_else(|| e.strip_prefix("tg:"))
                .unwrap_or(e);
            e != "*" && bare.parse::<i64>().is_err()
        })
    {
        return Err(StartError::config(format!(
            "{key} holds an entry that is not a numeric Telegram user id or \"*\". Fix: list user ids such as 123456789 (group chat ids go under channels.telegram.groups)"
        )));
    }
    Ok(Some(ids))
}

/// `channels.telegram.groups` (or an account's), checked: keys are chat ids or `"*"`,
/// topic keys thread ids or `"*"`.
fn group_rules(
    key: &str,
    map: &std::collections::BTreeMap<String, crate::config::TelegramGroupCfg>,
) -> Result<openclaw_actors::channel::telegram::groups::GroupRules, StartError> {
    use openclaw_actors::channel::telegram::groups::{GroupRule, GroupRules};
    let mut rules = GroupRules::default();
    for (id, g) in map {
        let here = format!("{key}.{id}");
        // A group's or a topic's own fields, checked (`at` names them in errors).
        let rule_of = |at: &str,
                       enabled: Option<bool>,
                       require_mention: Option<bool>,
                       policy: Option<&str>,
                       allow_from: Option<&Vec<serde_json::Value>>|
         -> Result<GroupRule, StartError> {
            Ok(GroupRule {
                enabled,
                require_mention,
                policy: policy
                    .map(|p| group_policy_of(&format!("{at}.groupPolicy"), p))
                    .transpose()?,
                allow_from: sender_list(&format!("{at}.allowFrom"), allow_from)?,
                ..Default::default()
            })
        };
        let mut rule = rule_of(
            &here,
            g.enabled,
            g.require_mention,
            g.group_policy.as_deref(),
            g.allow_from.as_ref(),
        )?;
        for (tid, t) in g.topics.iter().flatten() {
            let there = format!("{here}.topics.{tid}");
            let topic = rule_of(
                &there,
                t.enabled,
                t.require_mention,
                t.group_policy.as_deref(),
                t.allow_from.as_ref(),
            )?;
            match tid.trim() {
                "*" => rule.any_topic = Some(Box::new(topic)),
                n => match n.parse::<i64>() {
                    Ok(thread) if thread > 0 => {
                        rule.topics.insert(thread, topic);
                    }
                    _ => {
                        return Err(StartError::config(format!(
                            "{there}: {tid:?} is not a forum topic id. Fix: use the topic's numeric message_thread_id, or \"*\" for every topic"
                        )));
                    }
                },
            }
        }
        match id.trim() {
            "*" => rules.any = Some(rule),
            n => match n.parse::<i64>() {
                Ok(chat) if chat != 0 => {
                    rules.by_chat.insert(chat, rule);
                }
                _ => {
                    let shown: String = id.chars().take(32).collect();
                    return Err(StartError::config(format!(
                        "{key}: {shown:?} is not a group chat id. Fix: use the group's numeric chat id (e.g. \"-1001234567890\"; with \"*\" listed, /whoami in the group shows it), or \"*\" for every group"
                    )));
                }
            },
        }
    }
    Ok(rules)
}

/// A configured bot account and its API client.
type TelegramAccount = (TelegramAccountConfig, BotAccess);

/// How an account reaches its bot: its Bot API client (plain data, `Send`; made into the
/// account's `Rc<dyn TelegramApi>` on the thread that uses it; never logged).
pub type BotAccess = crate::clients::telegram::BotApi;

pub(super) fn telegram_account(
    account_id: &str,
    t: &crate::config::TelegramCfg,
    base: Option<&crate::config::TelegramCfg>,
    env_token: Option<String>,
    global_native: (Option<bool>, Option<bool>),
    typing: Option<Duration>,
    messages: Option<&crate::config::MessagesCfg>,
) -> Result<Option<TelegramAccount>, StartError> {
    use openclaw_actors::channel::telegram::{DmPolicy, GroupPolicy};
    let pick = |f: &dyn Fn(&crate::config::TelegramCfg) -> Option<String>| {
        f(t).or_else(|| base.and_then(f))
    };
    let prefix = if base.is_some() {
        format!("channels.telegram.accounts.{account_id}")
    } else {
        "channels.telegram".to_owned()
    };
    let token = match (&t.bot_token, &t.token_file) {
        (Some(tok), _) if !tok.trim().is_empty() => Some(tok.trim().to_owned()),
        (_, Some(file)) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| {
                    StartError::config(format!(
                        "{prefix}.tokenFile {file}: {e}. Fix: point it at a file holding the bot token"
                    ))
                })?
                .trim()
                .to_owned(),
        ),
        _ => env_token,
    };
    let enabled = t.enabled.unwrap_or(token.is_some());
    if !enabled {
        return Ok(None);
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(StartError::config(format!(
            "{prefix} is enabled but has no bot token. Fix: set {prefix}.botToken (or tokenFile, or TELEGRAM_BOT_TOKEN)"
        )));
    };
    let parse =
        |what: &str, v: Option<String>, allowed: &[&str]| -> Result<Option<String>, StartError> {
            match v {
                Some(x) if !allowed.contains(&x.as_str()) => Err(StartError::config(format!(
                    "{prefix}.{what} {x:?} is not one of {}",
                    allowed.join(", ")
                ))),
                other => Ok(other),
            }
        };
    let dm = parse(
        "dmPolicy",
        pick(&|c| c.dm_policy.clone()),
        &["pairing", "allowlist", "open", "disabled"],
    )?;
    let group = parse(
        "groupPolicy",
        pick(&|c| c.group_policy.clone()),
        &["allowlist", "open", "disabled"],
    )?;
    let dm_policy = match dm.as_deref() {
        Some("allowlist") => DmPolicy::Allowlist,
        Some("open") => DmPolicy::Open,
        Some("disabled") => DmPolicy::Disabled,
        _ => DmPolicy::Pairing,
    };
    let group_policy = match group.as_deref() {
        Some("open") => GroupPolicy::Open,
        Some("disabled") => GroupPolicy::Disabled,
        _ => GroupPolicy::Allowlist,
    };
    let allow_from = {
        let own = id_list(t.allow_from.as_ref());
        if own.is_empty() {
            id_list(base.and_then(|b| b.allow_from.as_ref()))
        } else {
            own
        }
    };
    let group_allow_from = {
        let own = id_list(t.group_allow_from.as_ref());
        if own.is_empty() {
            id_list(base.and_then(|b| b.group_allow_from.as_ref()))
        } else {
            own
        }
    };
    if dm_policy == DmPolicy::Open && !allow_from.iter().any(|a| a == "*") {
        return Err(StartError::config(format!(
            "{prefix}.dmPolicy is \"open\" but allowFrom does not contain \"*\". Fix: add \"*\" to {prefix}.allowFrom to confirm anyone may talk to the bot"
        )));
    }
    if dm_policy == DmPolicy::Allowlist && allow_from.is_empty() {
        return Err(StartError::config(format!(
            "{prefix}.dmPolicy is \"allowlist\" but allowFrom is empty. Fix: list the numeric Telegram user ids allowed to talk to the bot"
        )));
    }
    // Webhook settings are per account: inheriting them would register one bot's URL and
    // secret for another.
    let webhook = match (t.webhook_url.clone(), t.webhook_secret.clone()) {
        (Some(url), Some(secret)) if !secret.is_empty() => Some((url, secret)),
        (Some(_), _) => {
            return Err(StartError::config(format!(
                "{prefix}.webhookUrl is set without webhookSecret. Fix: set a random {prefix}.webhookSecret (checked on every webhook request)"
            )));
        }
        _ => None,
    };
    // Mention patterns (their warnings are reported once, by `prepare`).
    let mention_patterns = messages
        .map(crate::config::MessagesCfg::mention_patterns)
        .transpose()
        .map_err(StartError::config)?
        .flatten()
        .map(|list| {
            openclaw_actors::channel::telegram::groups::MentionPatterns::compile(
                &list,
                &mut Vec::new(),
            )
        });
    // Where patterns apply: the account's scope, else the channel's.
    let mention_scope = match (
        &t.mention_patterns,
        base.and_then(|b| b.mention_patterns.as_ref()),
    ) {
        (Some(own), _) => crate::config::mention_scope(&format!("{prefix}.mentionPatterns"), own)
            .map_err(StartError::config)?,
        (None, Some(shared)) => {
            crate::config::mention_scope("channels.telegram.mentionPatterns", shared)
                .map_err(StartError::config)?
        }
        (None, None) => Default::default(),
    };
    // `groups`: the account's map replaces the shared one (`{}` keeps it out of it).
    let group_map = match (&t.groups, base.and_then(|b| b.groups.as_ref())) {
        (Some(own), _) => Some(group_rules(&format!("{prefix}.groups"), own)?),
        (None, Some(shared)) => Some(group_rules("channels.telegram.groups", shared)?),
        (None, None) => None,
    };
    let api_root =
        pick(&|c| c.api_root.clone()).unwrap_or_else(|| "https://api.telegram.org".into());
    // The account's own proxy, else the one all accounts share; errors name where it is.
    let proxy = match (&t.proxy, base.and_then(|b| b.proxy.as_ref())) {
        (Some(own), _) => Some((format!("{prefix}.proxy"), own)),
        (None, Some(shared)) => Some(("channels.telegram.proxy".to_owned(), shared)),
        (None, None) => None,
    }
    .filter(|(_, url)| !url.trim().is_empty())
    .map(|(key, url)| {
        crate::clients::proxy::ProxyUrl::parse(url, true)
            .map(std::sync::Arc::new)
            .map_err(|e| StartError::config(format!("{key} {e}")))
    })
    .transpose()?;
    let native_of = |c: &crate::config::TelegramCfg, key: &str, skills: bool| {
        c.commands
            .as_ref()
            .map_or(Ok(None), |n| {
                if skills {
                    n.native_skills_switch(key)
                } else {
                    n.native_switch(key)
                }
            })
            .map_err(StartError::config)
    };
    let native_commands = native_of(t, &format!("{prefix}.commands.native"), false)?
        .or(match base {
            Some(b) => native_of(b, "channels.telegram.commands.native", false)?,
            None => None,
        })
        .or(global_native.0)
        .unwrap_or(true);
    let native_skills = native_of(t, &format!("{prefix}.commands.nativeSkills"), true)?
        .or(match base {
            Some(b) => native_of(b, "channels.telegram.commands.nativeSkills", true)?,
            None => None,
        })
        .or(global_native.1)
        .unwrap_or(true);
    // An account's own `streaming` replaces the channel's as a whole (as OpenClaw's
    // account overrides do).
    let (streaming, stream_mode, key) = if t.streaming.is_some() || t.stream_mode.is_some() {
        (
            t.streaming.as_ref(),
            t.stream_mode.as_deref(),
            format!("{prefix}.streaming"),
        )
    } else {
        (
            base.and_then(|b| b.streaming.as_ref()),
            base.and_then(|b| b.stream_mode.as_deref()),
            "channels.telegram.streaming".to_owned(),
        )
    };
    let streaming =
        openclaw_actors::channel::progress::Streaming::parse(streaming, stream_mode, &key)
            .map_err(StartError::config)?;
    let reply_to_mode = match pick(&|c| c.reply_to_mode.clone()) {
        None => ReplyToMode::Off,
        Some(m) => ReplyToMode::parse(&m).ok_or_else(|| {
            StartError::config(format!(
                "{prefix}.replyToMode is {m:?}. Fix: use \"off\", \"first\", \"all\" or \"batched\""
            ))
        })?,
    };
    // The ack reaction: the account's emoji, the channel's, `messages.ackReaction`, 👀;
    // `""` at any level turns it off.
    let scope = messages.and_then(|m| m.ack_reaction_scope.as_deref());
    let (groups, direct) = match scope.map(str::trim) {
        None | Some("group-mentions" | "group-all") => (true, false),
        Some("direct") => (false, true),
        Some("all") => (true, true),
        Some("off" | "none") => (false, false),
        Some(other) => {
            return Err(StartError::config(format!(
                "messages.ackReactionScope is {other:?}. Fix: use \"group-mentions\", \"group-all\", \"direct\", \"all\" or \"off\""
            )));
        }
    };
    // None configured: the chat's agent's `identity.emoji`, else 👀, chosen per message.
    let emoji = pick(&|c| c.ack_reaction.clone())
        .or_else(|| messages.and_then(|m| m.ack_reaction.clone()))
        .map(|e| e.trim().to_owned());
    let ack = (emoji.as_deref() != Some("") && (groups || direct)).then(|| AckReaction {
        emoji,
        groups,
        direct,
        mentions_only: matches!(scope.map(str::trim), None | Some("group-mentions")),
    });
    let inbound_window = match messages {
        Some(m) => m
            .inbound_window(
                "telegram",
                openclaw_actors::channel::telegram::INBOUND_WINDOW,
            )
            .map_err(StartError::config)?,
        None => openclaw_actors::channel::telegram::INBOUND_WINDOW,
    };
    // Group history: the account's, the channel's, `messages.groupChat.historyLimit`, 50.
    let history_of = |v: &serde_json::Value, key: &str| match v.as_u64() {
        Some(n) => Ok(usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(openclaw_actors::channel::telegram::MAX_HISTORY_LIMIT)),
        None => Err(StartError::config(format!(
            "{key} is {v}. Fix: use a whole number of messages (0 turns the group context off)"
        ))),
    };
    let history_limit = match (
        t.history_limit.as_ref(),
        base.and_then(|b| b.history_limit.as_ref()),
        messages
            .and_then(|m| m.group_chat.as_ref())
            .and_then(|g| g.history_limit.as_ref()),
    ) {
        (Some(v), _, _) => history_of(v, &format!("{prefix}.historyLimit"))?,
        (None, Some(v), _) => history_of(v, "channels.telegram.historyLimit")?,
        (None, None, Some(v)) => history_of(v, "messages.groupChat.historyLimit")?,
        (None, None, None) => openclaw_actors::channel::telegram::HISTORY_LIMIT,
    };
    let chunk_key = if t.text_chunk_limit.is_some() {
        format!("{prefix}.textChunkLimit")
    } else {
        "channels.telegram.textChunkLimit".to_owned()
    };
    let text_chunk_limit = match t
        .text_chunk_limit
        .as_ref()
        .or_else(|| base.and_then(|b| b.text_chunk_limit.as_ref()))
    {
        None => openclaw_actors::channel::telegram::TEXT_CHUNK_LIMIT,
        Some(v) => match v.as_u64().filter(|n| *n >= 1) {
            Some(n) => usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(openclaw_actors::channel::telegram::MAX_MESSAGE_UNITS),
            None => {
                return Err(StartError::config(format!(
                    "{chunk_key} is {v}. Fix: use a number of characters from 1 to 4096"
                )));
            }
        },
    };
    // Each gate: the account's, else the channel's, else on.
    let gate = |get: &dyn Fn(&crate::config::channels::TelegramActionsCfg) -> Option<bool>| {
        t.actions
            .as_ref()
            .and_then(get)
            .or_else(|| base.and_then(|b| b.actions.as_ref()).and_then(get))
            .unwrap_or(true)
    };
    let actions = openclaw_actors::channel::telegram::actions::ActionGates {
        send_message: gate(&|a| a.send_message),
        poll: gate(&|a| a.poll),
        reactions: gate(&|a| a.reactions),
        edit_message: gate(&|a| a.edit_message),
        delete_message: gate(&|a| a.delete_message),
    };
    // Inline buttons: the account's capabilities, else the channel's, else `allowlist`.
    let caps = |c: Option<&crate::config::TelegramCfg>, key: &str| {
        c.and_then(|c| c.capabilities.as_ref())
            .map(|v| {
                openclaw_actors::channel::telegram::buttons::InlineButtons::parse(v)
                    .map_err(|e| StartError::config(format!("{key}.capabilities {e}")))
            })
            .transpose()
            .map(Option::flatten)
    };
    let inline_buttons = match caps(Some(t), &prefix)? {
        Some(own) => own,
        None => caps(base, "channels.telegram")?.unwrap_or_default(),
    };
    // The response prefix: the account's, the channel's, `messages.responsePrefix`; `""`
    // at any level turns it off.
    let response_prefix = pick(&|c| c.response_prefix.clone())
        .or_else(|| messages.and_then(|m| m.response_prefix.clone()))
        .and_then(|p| openclaw_actors::channel::prefix::ResponsePrefix::parse(&p));
    let cfg = TelegramAccountConfig {
        inline_buttons,
        account_id: account_id.to_owned(),
        response_prefix,
        dm_policy,
        allow_from,
        group_policy,
        group_allow_from,
        groups: group_map,
        mention_patterns,
        mention_scope,
        link_preview: t
            .link_preview
            .or_else(|| base.and_then(|b| b.link_preview))
            .unwrap_or(true),
        poll_timeout_s: t
            .poll_timeout_seconds
            .or_else(|| base.and_then(|b| b.poll_timeout_seconds))
            .unwrap_or(30)
            .clamp(1, 50),
        webhook,
        native_commands,
        native_skills,
        typing,
        streaming,
        reply_to_mode,
        ack,
        inbound_window,
        history_limit,
        text_chunk_limit,
        actions,
        bot: openclaw_actors::channel::telegram::BotIdentity::of_token(&token),
    };
    Ok(Some((
        cfg,
        crate::clients::telegram::BotApi::new(&api_root, &token).with_proxy(proxy),
    )))
}

/// The Telegram accounts `cfg` runs, in order (`default` first), with their bots.
pub fn telegram_accounts(cfg: &crate::config::Config) -> Result<Vec<TelegramAccount>, StartError> {
    let mut telegram = Vec::new();
    let Some(t) = &cfg.channels.telegram else {
        return Ok(telegram);
    };
    let global_native = match &cfg.commands {
        Some(c) => (
            c.native_switch("commands.native")
                .map_err(StartError::config)?,
            c.native_skills_switch("commands.nativeSkills")
                .map_err(StartError::config)?,
        ),
        None => (None, None),
    };
    let typing = cfg.agents.defaults.typing().map_err(StartError::config)?;
    let env_token = cfg.env_var("TELEGRAM_BOT_TOKEN");
    let has_default = t.bot_token.is_some() || t.token_file.is_some() || t.enabled == Some(true);
    if (has_default || t.accounts.as_ref().is_none_or(|a| a.is_empty()))
        && let Some(acc) = telegram_account(
            "default",
            t,
            None,
            env_token,
            global_native,
            typing,
            cfg.messages.as_ref(),
        )?
    {
        telegram.push(acc);
    }
    for (id, a) in t.accounts.iter().flatten() {
        let messages = cfg.messages.as_ref();
        if let Some(acc) = telegram_account(id, a, Some(t), None, global_native, typing, messages)?
        {
            telegram.push(acc);
        }
    }
    Ok(telegram)
}

/// The Telegram accounts' bots as built (account id, bot): what a reload compares a new
/// build with, since a `tokenFile`'s content is not part of the config.
pub type Bots = Vec<(String, BotAccess)>;

/// Builds the engine's outside links (model provider, Telegram accounts) from config, and
/// says which bot each account got.
pub(super) fn build_deps(loaded: &Loaded) -> Result<(EngineDeps, usize, String, Bots), StartError> {
    let cfg = &loaded.config;
    let mut deps = EngineDeps::default();
    let accounts = telegram_accounts(cfg)?;
    let bots: Bots = accounts
        .iter()
        .map(|(c, access)| (c.account_id.clone(), access.clone()))
        .collect();
    let telegram: Vec<(TelegramAccountConfig, Rc<dyn TelegramApi>)> = accounts
        .into_iter()
        .map(|(c, access)| (c, Rc::new(access) as Rc<dyn TelegramApi>))
        .collect();
    let (model, mut label) = build_model(cfg)?;
    deps.model = model;
    deps.hearing = build_hearing(cfg)?;
    if let Some(h) = &deps.hearing {
        label.push_str("; voice transcription: ");
        label.push_str(&h.transcriber.label());
    }
    deps.web_fetcher = Some(Rc::new(crate::clients::web_fetch::HttpWebFetcher));
    deps.exec_host = Some(Rc::new(crate::clients::exec_host::LocalExec::new(
        &loaded.state_dir,
    )));
    deps.voices = build_voices(cfg)?;
    if let Some(s) = &deps.voices.speech {
        label.push_str("; spoken answers: ");
        label.push_str(&s.speaker.label());
        if s.policy.auto == openclaw_actors::speech::AutoSpeech::Off {
            label.push_str(" (off until a chat sends /tts on)");
        }
    }
    match &deps.voices.talk {
        openclaw_actors::speech::TalkVoice::Ready(s) => {
            label.push_str("; talk: ");
            label.push_str(&s.label());
        }
        openclaw_actors::speech::TalkVoice::Unavailable { message, .. } if cfg.talk.is_some() => {
            log::warn!("{message}");
        }
        openclaw_actors::speech::TalkVoice::Unavailable { .. } => {}
    }
    let n = telegram.len();
    if n > 0 {
        deps.channels.push(Box::new(
            openclaw_actors::channel::telegram::TelegramAccounts::new(telegram),
        ));
    }
    Ok((deps, n, label, bots))
}

/// Voice transcription from `tools.media` (and `models.providers` for keys and base URLs);
/// `None` when off or nothing is configured to transcribe with.
pub fn build_hearing(
    cfg: &crate::config::Config,
) -> Result<Option<Rc<openclaw_actors::hearing::Hearing>>, StartError> {
    let plan =
        crate::config::media::audio_plan(cfg, &|k| cfg.env_var(k)).map_err(StartError::config)?;
    Ok(plan.map(|p| {
        Rc::new(openclaw_actors::hearing::Hearing {
            transcriber: Rc::new(crate::clients::transcribe::Transcribers::new(p.entries)),
            policy: p.policy,
        })
    }))
}

/// The voices: spoken answers from `tts`, Talk playback from `talk` (and `models.providers`
/// for keys and base URLs), and the providers `tts.status` lists. `Err` for a `tts` that
/// cannot work; a `talk` that cannot is reported by `talk.speak` (and warned about).
pub fn build_voices(
    cfg: &crate::config::Config,
) -> Result<openclaw_actors::speech::Voices, StartError> {
    use crate::config::speech;
    use openclaw_actors::speech::{ProviderInfo, Speech, TalkVoice, Voices};
    let env = |k: &str| cfg.env_var(k);
    let plan = speech::speech_plan(cfg, &env).map_err(StartError::config)?;
    let speech_provider = plan.as_ref().map(|p| p.provider.clone());
    let speech = plan.map(|p| {
        let policy = p.policy.clone();
        Rc::new(Speech {
            speaker: Rc::new(crate::clients::speech::PlannedSpeaker::new(p)),
            policy,
        })
    });
    let (talk, talk_provider) = match speech::talk_plan(cfg, &env) {
        Ok(p) => {
            let id = p.provider.clone();
            (
                TalkVoice::Ready(Rc::new(crate::clients::speech::PlannedSpeaker::new(p))),
                Some(id),
            )
        }
        Err(u) => (
            TalkVoice::Unavailable {
                reason: u.reason,
                message: u.message,
            },
            None,
        ),
    };
    let tts = cfg.tts.clone().unwrap_or_default();
    let blocks = tts.providers.clone().unwrap_or_default();
    let mut ids: Vec<String> = ["openai", speech::ELEVENLABS, "deepinfra"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for id in blocks.keys() {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    let providers = ids
        .into_iter()
        .map(|id| {
            let block = blocks.get(&id).cloned().unwrap_or_default();
            let listed = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            let own = |a: &Option<String>, b: &Option<String>| {
                a.clone()
                    .or_else(|| b.clone())
                    .into_iter()
                    .collect::<Vec<_>>()
            };
            let (label, models, voices) = match id.as_str() {
                "openai" => (
                    "OpenAI".to_owned(),
                    listed(speech::OPENAI_MODELS),
                    listed(speech::OPENAI_VOICES),
                ),
                speech::ELEVENLABS => (
                    "ElevenLabs".to_owned(),
                    listed(speech::ELEVENLABS_MODELS),
                    own(&block.voice_id, &None),
                ),
                "deepinfra" => (
                    "DeepInfra".to_owned(),
                    listed(&["hexgrad/Kokoro-82M"]),
                    listed(&["af_bella"]),
                ),
                _ => (
                    id.clone(),
                    own(&block.model, &block.model_id),
                    own(&block.speaker_voice, &block.voice),
                ),
            };
            ProviderInfo {
                configured: speech::is_configured(cfg, &id, &env),
                id,
                label,
                models,
                voices,
            }
        })
        .collect();
    Ok(Voices {
        speech,
        speech_provider,
        talk,
        talk_provider,
        providers,
        max_text_length: tts
            .max_text_length
            .unwrap_or(speech::DEFAULT_MAX_TEXT_LENGTH)
            .clamp(10, speech::DEFAULT_MAX_TEXT_LENGTH),
    })
}

/// The chat model of `agents.defaults.model` (primary, then fallbacks; see
/// [`crate::config::models`]), `None` for the embedded command agent; with the start-up
/// line's label.
pub fn build_model(
    cfg: &crate::config::Config,
) -> Result<(Option<Rc<dyn openclaw_actors::ports::ChatModel>>, String), StartError> {
    let agents = agent_models(cfg)?;
    let Some(plan) =
        crate::config::models::plan(cfg, &|k| cfg.env_var(k)).map_err(StartError::config)?
    else {
        if agents.is_empty() {
            return Ok((
                None,
                "embedded command agent (no model provider configured)".to_owned(),
            ));
        }
        // Only some agents have a model: the others get the embedded command agent.
        let model = crate::clients::choice::Choosable::new(
            Rc::new(openclaw_actors::agent_run::CommandAgent),
            Vec::new(),
        )
        .with_agents(agents);
        return Ok((
            Some(Rc::new(model)),
            "embedded command agent (agents with a model of their own use it)".to_owned(),
        ));
    };
    let mut models: Vec<Rc<dyn openclaw_actors::ports::ChatModel>> = std::iter::once(&plan.primary)
        .chain(&plan.fallbacks)
        .map(chat_model)
        .collect();
    let label = format!(
        "model {}{}",
        plan.primary.label(),
        if plan.fallbacks.is_empty() {
            String::new()
        } else {
            format!(
                " (fallbacks: {})",
                plan.fallbacks
                    .iter()
                    .map(crate::config::models::Target::label)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let model = if models.len() == 1 {
        models.pop()
    } else {
        crate::clients::fallback::WithFallbacks::new(models)
            .map(|m| Rc::new(m) as Rc<dyn openclaw_actors::ports::ChatModel>)
    };
    let choices = crate::config::models::choices(cfg, &|k| cfg.env_var(k))
        .into_iter()
        .map(|c| {
            (
                openclaw_actors::ports::ModelChoice {
                    context_window: c.target.context_window,
                    images: c.target.images,
                    local: crate::config::models::is_local_base_url(&c.target.base_url),
                    reasoning: c.target.reasoning,
                    reference: c.reference,
                    alias: c.alias,
                    name: c.name,
                    tags: c.tags,
                },
                chat_model(&c.target),
            )
        })
        .collect();
    let model = model.map(|m| {
        Rc::new(crate::clients::choice::Choosable::new(m, choices).with_agents(agents))
            as Rc<dyn openclaw_actors::ports::ChatModel>
    });
    Ok((model, label))
}

/// Agent ids with their own models.
type AgentModels = Vec<(String, Rc<dyn openclaw_actors::ports::ChatModel>)>;

/// The models of the agents that have their own (`agents.entries.<id>.model`): a string is
/// strict, `{primary, fallbacks}` falls back in order. A reference that cannot be called
/// refuses the start, naming the key.
fn agent_models(cfg: &crate::config::Config) -> Result<AgentModels, StartError> {
    let env = |k: &str| cfg.env_var(k);
    let mut out = Vec::new();
    for (id, key, e) in cfg.agents.configured().map_err(StartError::config)? {
        let Some(m) = e.model else { continue };
        let Some(primary) = m
            .primary
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        else {
            if m.fallbacks.as_ref().is_some_and(|f| !f.is_empty()) {
                return Err(StartError::config(format!(
                    "{key}.model.fallbacks is set but there is no primary model. Fix: set {key}.model.primary to \"<provider>/<model>\""
                )));
            }
            continue;
        };
        let mut chain: Vec<Rc<dyn openclaw_actors::ports::ChatModel>> = vec![chat_model(
            &crate::config::models::target(cfg, primary, &format!("{key}.model"), &env)
                .map_err(StartError::config)?,
        )];
        for (i, r) in m.fallbacks.iter().flatten().enumerate() {
            let t =
                crate::config::models::target(cfg, r, &format!("{key}.model.fallbacks[{i}]"), &env)
                    .map_err(StartError::config)?;
            chain.push(chat_model(&t));
        }
        let model = if chain.len() == 1 {
            chain.pop()
        } else {
            crate::clients::fallback::WithFallbacks::new(chain)
                .map(|m| Rc::new(m) as Rc<dyn openclaw_actors::ports::ChatModel>)
        };
        if let Some(model) = model {
            out.push((id, model));
        }
    }
    Ok(out)
}

/// The client of one model (its usage priced when its `cost` is configured; its context
/// window when its entry names one).
fn chat_model(t: &crate::config::models::Target) -> Rc<dyn openclaw_actors::ports::ChatModel> {
    let model = leaf_model(t);
    if t.cost.is_none() && t.context_window.is_none() {
        return model;
    }
    Rc::new(crate::clients::Configured {
        model,
        rates: t.cost,
        window: t.context_window,
    })
}

fn leaf_model(t: &crate::config::models::Target) -> Rc<dyn openclaw_actors::ports::ChatModel> {
    use crate::config::models::Api;
    let openai = || {
        crate::clients::openai::OpenAiModel::new(
            &t.provider,
            &t.base_url,
            t.api_key.clone(),
            &t.model,
            t.timeout,
        )
        .with_images(t.images)
        .with_headers(t.headers.clone())
        .with_max_tokens(t.max_tokens)
        .with_thinking(t.reasoning, t.thinking)
        .with_cache_key(t.cache_retention.as_deref() != Some("none"))
    };
    match t.api {
        Api::OpenAiCompletions => Rc::new(openai().with_stream_usage(t.stream_usage)),
        Api::OpenAiResponses => Rc::new(crate::clients::openai_responses::ResponsesModel::new(
            openai(),
        )),
        Api::AnthropicMessages => Rc::new(
            crate::clients::anthropic::AnthropicModel::new(
                &t.provider,
                &t.base_url,
                t.api_key.clone(),
                &t.model,
                t.timeout,
            )
            .with_images(t.images)
            .with_headers(t.headers.clone())
            .with_cache_retention(t.cache_retention.as_deref())
            .with_thinking(t.reasoning, t.thinking)
            .with_max_tokens(
                t.max_tokens
                    .unwrap_or(crate::clients::anthropic::DEFAULT_MAX_TOKENS),
            ),
        ),
    }
}
