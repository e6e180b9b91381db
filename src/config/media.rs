//! `tools.media` (OpenClaw's media understanding), the audio part: which transcription
//! entries run for voice messages, in which order, with which limits ([`audio_plan`]).
//!
//! - `tools.media.models[]`: entries tagged `capabilities: ["audio"]` (an entry without
//!   tags counts when its provider is one OpenClaw treats as audio-only or audio-capable:
//!   groq, xai, deepgram, senseaudio, mistral, openrouter, google, deepinfra). A provider
//!   entry is spoken to over the OpenAI-compatible `POST {baseUrl}/audio/transcriptions`
//!   (the base URL from the entry, `tools.media.audio.baseUrl`, `models.providers.<id>`,
//!   or the provider's public API); its key is `models.providers.<id>.apiKey` or
//!   `<ID>_API_KEY`. A `type: "cli"` entry runs `command` with `args` (templates
//!   `{{AttachmentPath}}`, `{{OutputDir}}`, …; no shell).
//! - `tools.media.audio`: `enabled` (`false` turns it off), `preferredModel`, `scope`,
//!   `maxBytes` (20 MiB), `maxChars`, `timeoutSeconds` (60), `language`, `prompt`,
//!   `baseUrl`, `headers`, `attachments` (`mode: "first"` or `"all"`, `maxAttachments`),
//!   `echoTranscript`, `echoFormat`.
//! - With no audio entry and `enabled` not `false`, a configured `models.providers.<id>`
//!   with a key for groq, openai, mistral, deepinfra or senseaudio is used with that
//!   provider's default transcription model (OpenClaw's auto-detection, without its local
//!   CLI probing).
//!
//! Keys OpenClaw has and this gateway does not read (`image`, `video`, `concurrency`,
//! `providerOptions`, `request`, `profile`, …) are accepted and ignored.

use std::collections::BTreeMap;
use std::time::Duration;

use openclaw_actors::hearing::{AudioPolicy, DEFAULT_ECHO_FORMAT, Scope, ScopeRule};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `tools`: only `tools.media` is read here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolsCfg {
    /// Media understanding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaCfg>,
    /// The base set of agent tools: `full` (every tool), `coding`, `messaging`, `minimal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Only these tools (names, `*` wildcards, `group:*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// These tools besides the profile's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub also_allow: Option<Vec<String>>,
    /// Never these tools (wins over any allow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<String>>,
    /// The `exec` tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCfg>,
    /// The web tools (`fetch` is read; `search` and others are accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebCfg>,
    /// The `message` tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageToolCfg>,
    /// Sub-agents' tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagents: Option<SubagentToolsCfg>,
    /// The session tools' reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionsToolCfg>,
    /// Cross-agent access of the session tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_to_agent: Option<AgentToAgentCfg>,
}

/// `tools.sessions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsToolCfg {
    /// `self`, `tree`, `agent` or `all` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
}

/// `tools.agentToAgent`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentToAgentCfg {
    /// Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Agent ids or `*` patterns (both sides must match; empty: every agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
}

impl ToolsCfg {
    /// `tools.sessions` and `tools.agentToAgent`; `Err` names the key and the fix.
    pub fn session_tool_settings(
        &self,
    ) -> Result<openclaw_actors::session_tools::SessionToolSettings, String> {
        use openclaw_actors::session_tools::{SessionToolSettings, Visibility};
        let mut s = SessionToolSettings::default();
        if let Some(v) = self.sessions.as_ref().and_then(|c| c.visibility.as_deref()) {
            s.visibility = Visibility::parse(v).ok_or_else(|| {
                format!(
                    "tools.sessions.visibility is {v:?}. Fix: use \"self\", \"tree\", \"agent\" or \"all\""
                )
            })?;
        }
        if let Some(a) = &self.agent_to_agent {
            s.agent_to_agent = a.enabled != Some(false);
            s.allow = a
                .allow
                .iter()
                .flatten()
                .map(|p| p.trim().to_owned())
                .collect();
            // A list of only blank entries denies every cross-agent call (OpenClaw's rule).
            if a.allow.as_ref().is_some_and(|l| !l.is_empty())
                && s.allow.iter().all(String::is_empty)
            {
                s.agent_to_agent = false;
            }
            s.allow.retain(|p| !p.is_empty());
        }
        Ok(s)
    }
}

/// `tools.subagents`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubagentToolsCfg {
    /// `tools.subagents.tools`: a further filter on sub-agents' tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<AllowDenyCfg>,
}

/// An `allow` / `deny` pair of tool names (`*` wildcards, `group:*`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowDenyCfg {
    /// Only these (deny still wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// Never these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<String>>,
}

/// `tools.message` (also an agent's `agents.entries[].tools.message`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageToolCfg {
    /// Where a run answering a chat may act.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_context: Option<CrossContextCfg>,
}

/// `tools.message.crossContext`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossContextCfg {
    /// Other conversations on the run's channel (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_within_provider: Option<bool>,
    /// Other channels (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_across_providers: Option<bool>,
}

impl MessageToolCfg {
    /// `crossContext` over `base` (fields left out keep `base`'s).
    pub fn cross_over(
        cfg: Option<&Self>,
        base: openclaw_actors::tool_policy::CrossContext,
    ) -> openclaw_actors::tool_policy::CrossContext {
        let c = cfg.and_then(|m| m.cross_context.as_ref());
        openclaw_actors::tool_policy::CrossContext {
            within_provider: c
                .and_then(|c| c.allow_within_provider)
                .unwrap_or(base.within_provider),
            across_providers: c
                .and_then(|c| c.allow_across_providers)
                .unwrap_or(base.across_providers),
        }
    }
}

/// `tools.web`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebCfg {
    /// `web_fetch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<WebFetchCfg>,
    /// `web_search`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<WebSearchCfg>,
}

/// `tools.web.search` (OpenClaw's keys). The providers' own settings live under
/// `plugins.entries.<id>.config.webSearch`; the legacy spellings OpenClaw migrates
/// (`tools.web.search.apiKey` for Brave, `tools.web.search.<id>.*`) are read below them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebSearchCfg {
    /// Offered at all (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `brave`, `perplexity`, `exa`, `tavily` or `searxng` (unset: the first one configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Results when a call does not say (1 to 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<f64>,
    /// Bound on a search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    /// Cache lifetime (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_minutes: Option<f64>,
    /// Legacy: Brave's API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Legacy: Brave's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brave: Option<super::plugins::SearchProviderCfg>,
    /// Legacy: SearXNG's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searxng: Option<super::plugins::SearchProviderCfg>,
    /// Legacy: Perplexity's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<super::plugins::SearchProviderCfg>,
}

/// `tools.web.fetch` (OpenClaw's keys; `provider`, `readability`, `headers` and the
/// others are accepted and not read).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebFetchCfg {
    /// Offered at all (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Default text returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<f64>,
    /// Most text a call may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars_cap: Option<f64>,
    /// Most body bytes read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<f64>,
    /// Bound on a fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    /// Cache lifetime (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_minutes: Option<f64>,
    /// Redirects followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_redirects: Option<f64>,
    /// `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Which addresses may be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssrf_policy: Option<SsrfPolicyCfg>,
}

/// `tools.web.fetch.ssrfPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SsrfPolicyCfg {
    /// Every host may reach private addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dangerously_allow_private_network: Option<bool>,
    /// These hosts may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hostnames: Option<Vec<String>>,
}

/// `tools.exec` (OpenClaw's keys; the others, such as `safeBins`, `notifyOnExit` or
/// `reviewer`, are accepted and not read).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCfg {
    /// `auto`, `gateway` or `node`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `deny`, `allowlist`, `ask`, `auto` or `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Legacy: `deny`, `allowlist`, `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
    /// Legacy: `off`, `on-miss`, `always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    /// The node `host=node` commands run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Per-command timeout (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    /// Directories put before `PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prepend: Option<Vec<String>>,
    /// A background command's end is a system event for its session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_on_exit: Option<bool>,
    /// The `apply_patch` tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_patch: Option<ApplyPatchCfg>,
}

/// `tools.exec.applyPatch` (OpenClaw's keys; `workspaceOnly` is accepted: the tool is
/// always confined to the workspace here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyPatchCfg {
    /// Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Only runs of these models get it (`gpt-5.4` or `openai/gpt-5.4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_models: Option<Vec<String>>,
    /// Accepted; the tool never leaves the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_only: Option<bool>,
}

impl ToolsCfg {
    /// Which agent tools runs are offered; `Err` names the key and the fix.
    pub fn filter(&self) -> Result<openclaw_actors::tool_policy::ToolFilter, String> {
        let patch = self.exec.as_ref().and_then(|e| e.apply_patch.as_ref());
        let mut deny = self.deny.clone();
        if patch.and_then(|p| p.enabled) == Some(false) {
            deny.get_or_insert_with(Vec::new)
                .push("apply_patch".to_owned());
        }
        let filter = openclaw_actors::tool_policy::ToolFilter::new(
            self.profile.as_deref(),
            self.allow.clone(),
            self.also_allow.clone(),
            deny,
        )?;
        let filter = filter.with_message_cross(MessageToolCfg::cross_over(
            self.message.as_ref(),
            Default::default(),
        ));
        Ok(match patch.and_then(|p| p.allow_models.clone()) {
            Some(models) => filter.with_patch_models(models),
            None => filter,
        })
    }
}

impl ToolsCfg {
    /// `tools.web.fetch` as settings; `Err` names the key and the fix.
    pub fn web_fetch_settings(
        &self,
    ) -> Result<openclaw_actors::web_fetch::WebFetchSettings, String> {
        let f = self
            .web
            .as_ref()
            .and_then(|w| w.fetch.clone())
            .unwrap_or_default();
        let ssrf = f.ssrf_policy.clone().unwrap_or_default();
        let hosts = ssrf.allowed_hostnames.unwrap_or_default();
        openclaw_actors::web_fetch::WebFetchSettings::parse(
            &openclaw_actors::web_fetch::WebFetchKeys {
                enabled: f.enabled,
                max_chars: f.max_chars,
                max_chars_cap: f.max_chars_cap,
                max_response_bytes: f.max_response_bytes,
                timeout_seconds: f.timeout_seconds,
                cache_ttl_minutes: f.cache_ttl_minutes,
                max_redirects: f.max_redirects,
                user_agent: f.user_agent.as_deref(),
                allow_private_network: ssrf.dangerously_allow_private_network,
                allowed_hostnames: &hosts,
            },
        )
    }

    /// `tools.exec` as settings; `Err` names the key and the fix.
    pub fn exec_settings(
        &self,
        home: Option<&std::path::Path>,
    ) -> Result<openclaw_actors::exec_tool::ExecSettings, String> {
        let e = self.exec.clone().unwrap_or_default();
        let pp = e.path_prepend.unwrap_or_default();
        openclaw_actors::exec_tool::ExecSettings::parse(&openclaw_actors::exec_tool::ExecKeys {
            host: e.host.as_deref(),
            mode: e.mode.as_deref(),
            security: e.security.as_deref(),
            ask: e.ask.as_deref(),
            node: e.node.as_deref(),
            timeout_seconds: e.timeout_seconds,
            path_prepend: &pp,
            home,
            notify_on_exit: e.notify_on_exit,
        })
    }
}

/// `tools.media`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaCfg {
    /// The shared, capability-tagged entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<MediaModelCfg>>,
    /// Voice messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioCfg>,
    /// Accepted, not read (runs transcribe one voice note at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Accepted, not read (images go to a model that sees images as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Value>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Value>,
}

/// One `tools.media.models[]` entry.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaModelCfg {
    /// Provider id (`openai`, `groq`, a `models.providers` id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `image`, `audio`, `video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// `provider` (default) or `cli`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The CLI's program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The CLI's arguments (templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Transcript cut to this many characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
    /// Larger audio skips this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Transcription prompt (context, spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Per-attempt timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Language hint (`en`, `de`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// OpenAI-compatible base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_options: Option<Value>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deepgram: Option<Value>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Value>,
    /// Accepted, not read (auth profiles are OpenClaw's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_profile: Option<String>,
}

impl std::fmt::Debug for MediaModelCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaModelCfg")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("kind", &self.kind)
            .field("command", &self.command)
            .field("base_url", &self.base_url)
            .field("headers", &self.headers.as_ref().map(|h| h.len()))
            .finish_non_exhaustive()
    }
}

/// `tools.media.audio`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioCfg {
    /// `false` turns transcription off (and auto-detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The entry tried first (`provider/model`, a model id, `provider:<id>`, `cli:<command>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_model: Option<String>,
    /// Which chats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeCfg>,
    /// Default `maxBytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Default `maxChars`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
    /// Default prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Default timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Default language hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Default base URL for provider entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Headers added to provider requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_options: Option<Value>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deepgram: Option<Value>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Value>,
    /// How many voice notes of a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<AttachmentsCfg>,
    /// Send the transcript back to the chat first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_transcript: Option<bool>,
    /// Its format (`{transcript}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_format: Option<String>,
}

impl std::fmt::Debug for AudioCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioCfg")
            .field("enabled", &self.enabled)
            .field("preferred_model", &self.preferred_model)
            .field("base_url", &self.base_url)
            .field("headers", &self.headers.as_ref().map(|h| h.len()))
            .finish_non_exhaustive()
    }
}

/// `scope`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeCfg {
    /// `allow` (default) or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// First match wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<ScopeRuleCfg>>,
}

/// `scope.rules[]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeRuleCfg {
    /// `allow` or `deny`.
    pub action: String,
    /// What it matches (absent: everything).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matches: Option<ScopeMatchCfg>,
}

/// `scope.rules[].match`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeMatchCfg {
    /// `telegram`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// `direct`, `group`, `channel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_type: Option<String>,
    /// Session-key prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// Session-key prefix (keys here are not normalized: the same as `keyPrefix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_key_prefix: Option<String>,
}

/// `attachments`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentsCfg {
    /// `first` (default) or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// With `all`: at most this many (default 4, the most a message carries here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attachments: Option<usize>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefer: Option<String>,
}

/// Default `maxBytes` for audio (OpenClaw's 20 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// Default per-attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Providers OpenClaw treats as audio-capable when an entry has no `capabilities`.
const AUDIO_BY_DEFAULT: &[&str] = &[
    "groq",
    "xai",
    "deepgram",
    "senseaudio",
    "mistral",
    "openrouter",
    "google",
    "deepinfra",
];

/// Providers whose public API has an OpenAI-compatible `/audio/transcriptions`: base URL
/// and default transcription model (`None`: the entry must name one).
const KNOWN: &[(&str, &str, Option<&str>)] = &[
    (
        "openai",
        "https://api.openai.com/v1",
        Some("gpt-4o-transcribe"),
    ),
    (
        "groq",
        "https://api.groq.com/openai/v1",
        Some("whisper-large-v3-turbo"),
    ),
    (
        "mistral",
        "https://api.mistral.ai/v1",
        Some("voxtral-mini-latest"),
    ),
    ("xai", "https://api.x.ai/v1", None),
    (
        "deepinfra",
        "https://api.deepinfra.com/v1/openai",
        Some("openai/whisper-large-v3-turbo"),
    ),
    (
        "senseaudio",
        "https://api.senseaudio.cn/v1",
        Some("senseaudio-asr-pro-1.5-260319"),
    ),
];

/// Auto-detection order (OpenClaw's provider priority, those spoken here).
const AUTO: &[&str] = &["groq", "openai", "mistral", "deepinfra", "senseaudio"];

/// One transcription entry, resolved.
#[derive(Clone)]
pub struct EntryPlan {
    /// `openai/gpt-4o-transcribe`, `cli:whisper-cli`.
    pub label: String,
    /// Larger audio skips it.
    pub max_bytes: u64,
    /// Transcript cut.
    pub max_chars: Option<usize>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// How it runs.
    pub how: How,
}

impl std::fmt::Debug for EntryPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryPlan")
            .field("label", &self.label)
            .field("max_bytes", &self.max_bytes)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How an entry runs.
#[derive(Clone)]
pub enum How {
    /// An OpenAI-compatible provider.
    Provider(ProviderHow),
    /// A local program.
    Cli(CliHow),
}

/// `POST {url}` (…`/audio/transcriptions`), multipart.
#[derive(Clone)]
pub struct ProviderHow {
    /// The endpoint.
    pub url: String,
    /// Bearer key.
    pub api_key: Option<String>,
    /// Model id.
    pub model: String,
    /// Language hint.
    pub language: Option<String>,
    /// Prompt.
    pub prompt: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

/// A local program.
#[derive(Clone)]
pub struct CliHow {
    /// Program (`~` expanded).
    pub command: String,
    /// Arguments (templates).
    pub args: Vec<String>,
    /// `{{Prompt}}`.
    pub prompt: Option<String>,
    /// `{{Language}}`.
    pub language: Option<String>,
}

/// Transcription as configured: the entries in order and the policy.
#[derive(Debug, Clone)]
pub struct AudioPlan {
    /// Tried in order until one gives a transcript.
    pub entries: Vec<EntryPlan>,
    /// Scope, count, echo.
    pub policy: AudioPolicy,
}

/// The transcription plan of `cfg` (`Ok(None)`: off, or nothing to transcribe with).
/// `env` reads environment variables (`<ID>_API_KEY`). `Err` names the key and the fix.
pub fn audio_plan(
    cfg: &super::Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<AudioPlan>, String> {
    let media = cfg.tools.media.clone().unwrap_or_default();
    let audio = media.audio.clone().unwrap_or_default();
    let policy = policy(&audio)?;
    if audio.enabled == Some(false) {
        return Ok(None);
    }
    let mut entries = Vec::new();
    for (i, e) in media.models.iter().flatten().enumerate() {
        let at = format!("tools.media.models[{i}]");
        if let Some(plan) = entry(cfg, &audio, e, &at, env)? {
            entries.push(plan);
        }
    }
    if entries.is_empty() {
        for id in AUTO {
            if !cfg.models.providers.contains_key(*id) {
                continue;
            }
            if !matches!(super::models::provider_key(cfg, id, env), Ok(Some(_))) {
                continue;
            }
            let auto = MediaModelCfg {
                provider: Some((*id).to_owned()),
                capabilities: Some(vec!["audio".to_owned()]),
                ..MediaModelCfg::default()
            };
            if let Some(plan) = entry(cfg, &audio, &auto, &format!("models.providers.{id}"), env)? {
                entries.push(plan);
                break;
            }
        }
    }
    if entries.is_empty() {
        if audio.enabled == Some(true) {
            log::warn!(
                "tools.media.audio.enabled is true but no transcription model is configured or found; voice messages are not transcribed. Fix: add an entry to tools.media.models, e.g. {{provider: \"openai\", model: \"gpt-4o-mini-transcribe\", capabilities: [\"audio\"]}}"
            );
        }
        return Ok(None);
    }
    if let Some(pref) = audio.preferred_model.as_deref().map(str::trim) {
        if let Some(pos) = entries.iter().position(|e| prefers(e, pref)) {
            let first = entries.remove(pos);
            entries.insert(0, first);
        } else {
            return Err(format!(
                "tools.media.audio.preferredModel {pref:?} names no audio entry of tools.media.models. Fix: use \"<provider>/<model>\" or \"cli:<command>\" of one of: {}",
                entries
                    .iter()
                    .map(|e| e.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(Some(AudioPlan { entries, policy }))
}

/// Whether `pref` names `e` (`provider/model`, the model id, `provider:<id>`, `cli:<command>`).
fn prefers(e: &EntryPlan, pref: &str) -> bool {
    let label = e.label.as_str();
    if label == pref {
        return true;
    }
    match (label.split_once('/'), pref.strip_prefix("provider:")) {
        (Some((p, _)), Some(want)) => p == want,
        (Some((_, m)), None) => m == pref,
        _ => false,
    }
}

fn policy(audio: &AudioCfg) -> Result<AudioPolicy, String> {
    let action = |v: &str, at: &str| match v.trim().to_ascii_lowercase().as_str() {
        "allow" => Ok(false),
        "deny" => Ok(true),
        _ => Err(format!("{at} is {v:?}. Fix: use \"allow\" or \"deny\"")),
    };
    let mut scope = Scope::default();
    if let Some(s) = &audio.scope {
        if let Some(d) = &s.default {
            scope.default_deny = action(d, "tools.media.audio.scope.default")?;
        }
        for (i, r) in s.rules.iter().flatten().enumerate() {
            let at = format!("tools.media.audio.scope.rules[{i}]");
            let m = r.matches.clone().unwrap_or_default();
            let chat_type = match m.chat_type.as_deref() {
                None => None,
                Some(t) => Some(
                    openclaw_actors::hearing::chat_type(t)
                        .ok_or_else(|| {
                            format!(
                                "{at}.match.chatType is {t:?}. Fix: use \"direct\", \"group\" or \"channel\""
                            )
                        })?
                        .to_owned(),
                ),
            };
            let lower =
                |v: Option<String>| v.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
            scope.rules.push(ScopeRule {
                deny: action(&r.action, &format!("{at}.action"))?,
                channel: lower(m.channel),
                chat_type,
                key_prefix: lower(m.key_prefix.or(m.raw_key_prefix)),
            });
        }
    }
    let max_attachments = match audio.attachments.as_ref() {
        None => 1,
        Some(a) => match a.mode.as_deref().map(str::trim) {
            None | Some("first") => 1,
            Some("all") => a
                .max_attachments
                .unwrap_or(openclaw_actors::media::MAX_ATTACHMENTS)
                .clamp(1, openclaw_actors::media::MAX_ATTACHMENTS),
            Some(other) => {
                return Err(format!(
                    "tools.media.audio.attachments.mode is {other:?}. Fix: use \"first\" or \"all\""
                ));
            }
        },
    };
    let echo = (audio.echo_transcript == Some(true)).then(|| {
        audio
            .echo_format
            .clone()
            .unwrap_or_else(|| DEFAULT_ECHO_FORMAT.to_owned())
    });
    Ok(AudioPolicy {
        scope,
        max_attachments,
        echo,
    })
}

/// `e` resolved, if it is an audio entry.
fn entry(
    cfg: &super::Config,
    audio: &AudioCfg,
    e: &MediaModelCfg,
    at: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<EntryPlan>, String> {
    let cli = match e.kind.as_deref().map(str::trim) {
        None | Some("provider") => false,
        Some("cli") => true,
        Some(other) => {
            return Err(format!(
                "{at}.type is {other:?}. Fix: use \"provider\" (the default) or \"cli\""
            ));
        }
    };
    let provider = e
        .provider
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let is_audio = match &e.capabilities {
        Some(caps) => caps.iter().any(|c| c.trim().eq_ignore_ascii_case("audio")),
        // CLI entries need explicit tags (OpenClaw skips them too).
        None => !cli && provider.is_some_and(|p| AUDIO_BY_DEFAULT.contains(&p)),
    };
    if !is_audio {
        return Ok(None);
    }
    let max_bytes = e.max_bytes.or(audio.max_bytes).unwrap_or(DEFAULT_MAX_BYTES);
    let max_chars = e.max_chars.or(audio.max_chars);
    let timeout = e
        .timeout_seconds
        .or(audio.timeout_seconds)
        .map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(s.clamp(1, 3600)));
    let prompt = e
        .prompt
        .clone()
        .or_else(|| audio.prompt.clone())
        .filter(|p| !p.trim().is_empty());
    let language = e
        .language
        .clone()
        .or_else(|| audio.language.clone())
        .filter(|l| !l.trim().is_empty());
    if cli {
        let command = e
            .command
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                format!(
                    "{at}.command is not set. Fix: set command to the transcription program (e.g. \"whisper-cli\") and args to pass the audio, e.g. [\"-nt\", \"-f\", \"{{{{AttachmentPath}}}}\"]"
                )
            })?;
        let args = e.args.clone().filter(|a| !a.is_empty()).ok_or_else(|| {
            format!(
                "{at}.args is empty. Fix: pass the audio through a template, e.g. [\"-nt\", \"-f\", \"{{{{AttachmentPath}}}}\"] (the audio is never given on stdin)"
            )
        })?;
        let name = std::path::Path::new(command)
            .file_name()
            .map_or(command.to_owned(), |n| n.to_string_lossy().into_owned());
        return Ok(Some(EntryPlan {
            label: format!("cli:{name}"),
            max_bytes,
            max_chars,
            timeout,
            how: How::Cli(CliHow {
                command: expand_home(command, env),
                args,
                prompt,
                language,
            }),
        }));
    }
    let provider = provider.ok_or_else(|| {
        format!(
            "{at}.provider is not set. Fix: name a provider (e.g. \"openai\", \"groq\", or an id of models.providers) or set type: \"cli\""
        )
    })?;
    let configured = cfg.models.providers.get(provider);
    let known = KNOWN.iter().find(|(id, _, _)| *id == provider);
    let base = e
        .base_url
        .clone()
        .or_else(|| audio.base_url.clone())
        .or_else(|| configured.and_then(|p| p.base_url.clone()))
        .or_else(|| known.map(|(_, url, _)| (*url).to_owned()))
        .ok_or_else(|| {
            format!(
                "{at}: provider {provider:?} has no OpenAI-compatible /audio/transcriptions endpoint that openclaw-rs knows. Fix: set {at}.baseUrl to one (any OpenAI-compatible server, e.g. a local faster-whisper server), use openai, groq, mistral, deepinfra or senseaudio, or a type: \"cli\" entry (e.g. whisper-cli)"
            )
        })?;
    let base = base.trim().trim_end_matches('/').to_owned();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!(
            "{at}: base URL {base:?} is not an http(s) URL. Fix: e.g. \"https://api.openai.com/v1\""
        ));
    }
    let model = e
        .model
        .clone()
        .filter(|m| !m.trim().is_empty())
        .or_else(|| known.and_then(|(_, _, m)| m.map(str::to_owned)))
        .ok_or_else(|| {
            format!("{at}.model is not set. Fix: name the transcription model, e.g. \"whisper-1\"")
        })?;
    let api_key = super::models::provider_key(cfg, provider, env)
        .map_err(|e| format!("{at}: {e}"))?
        .map(|(k, _)| k);
    let mut headers: Vec<(String, String)> = audio
        .headers
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in e.headers.iter().flatten() {
        headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        headers.push((k.clone(), v.clone()));
    }
    for (k, v) in &headers {
        if awc::http::header::HeaderName::try_from(k.as_str()).is_err()
            || awc::http::header::HeaderValue::try_from(v.as_str()).is_err()
        {
            return Err(format!(
                "{at}: header {k:?} is not a valid HTTP header. Fix: use a plain header name and a value without line breaks"
            ));
        }
    }
    Ok(Some(EntryPlan {
        label: format!("{provider}/{model}"),
        max_bytes,
        max_chars,
        timeout,
        how: How::Provider(ProviderHow {
            url: format!("{base}/audio/transcriptions"),
            api_key,
            model,
            language,
            prompt,
            headers,
        }),
    }))
}

/// `~/x` with the home directory.
fn expand_home(command: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    match (command.strip_prefix("~/"), env("HOME")) {
        (Some(rest), Some(home)) => format!("{}/{rest}", home.trim_end_matches('/')),
        _ => command.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(doc: Value, env: &[(&str, &str)]) -> Result<Option<AudioPlan>, String> {
        let cfg: super::super::Config = serde_json::from_value(doc).map_err(|e| e.to_string())?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        audio_plan(&cfg, &move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn labels(p: &Option<AudioPlan>) -> Vec<String> {
        p.iter()
            .flat_map(|p| p.entries.iter().map(|e| e.label.clone()))
            .collect()
    }

    #[test]
    fn nothing_configured_is_off() {
        assert!(plan(json!({}), &[]).unwrap().is_none());
        // A provider that is not audio-capable by default and not tagged: not an entry.
        let p = plan(
            json!({"tools": {"media": {"models": [{"provider": "openai", "model": "gpt-5"}]}}}),
            &[],
        )
        .unwrap();
        assert!(p.is_none());
    }

    #[test]
    fn entries_resolve_urls_keys_and_order() {
        let p = plan(
            json!({
                "models": {"providers": {"local": {"baseUrl": "http://127.0.0.1:9/v1/", "apiKey": "k1"}}},
                "tools": {"media": {
                    "models": [
                        {"provider": "openai", "model": "gpt-4o-mini-transcribe", "capabilities": ["audio"]},
                        {"provider": "groq"},
                        {"provider": "local", "model": "whisper-1", "capabilities": ["audio"], "headers": {"X-A": "1"}},
                        {"type": "cli", "command": "~/bin/whisper-cli", "args": ["-f", "{{AttachmentPath}}"], "capabilities": ["audio"], "timeoutSeconds": 5},
                        {"type": "cli", "command": "ignored", "args": ["x"]},
                        {"provider": "google", "model": "gemini", "capabilities": ["image"]}
                    ],
                    "audio": {"preferredModel": "provider:local", "maxBytes": 1000, "language": "de", "headers": {"X-A": "0", "X-B": "2"}}
                }}
            }),
            &[("OPENAI_API_KEY", "sk-env"), ("HOME", "/home/u")],
        )
        .unwrap();
        assert_eq!(
            labels(&p),
            [
                "local/whisper-1",
                "openai/gpt-4o-mini-transcribe",
                "groq/whisper-large-v3-turbo",
                "cli:whisper-cli"
            ]
        );
        let p = p.unwrap();
        let How::Provider(ProviderHow {
            url,
            api_key,
            language,
            headers,
            ..
        }) = &p.entries[0].how
        else {
            panic!("provider entry expected");
        };
        assert_eq!(url, "http://127.0.0.1:9/v1/audio/transcriptions");
        assert_eq!(api_key.as_deref(), Some("k1"));
        assert_eq!(language.as_deref(), Some("de"));
        assert_eq!(
            headers,
            &[
                ("X-B".to_owned(), "2".to_owned()),
                ("X-A".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(p.entries[0].max_bytes, 1000);
        let How::Provider(ProviderHow { url, api_key, .. }) = &p.entries[1].how else {
            panic!("provider entry expected");
        };
        assert_eq!(url, "https://api.openai.com/v1/audio/transcriptions");
        assert_eq!(api_key.as_deref(), Some("sk-env"));
        let How::Cli(CliHow { command, .. }) = &p.entries[3].how else {
            panic!("cli entry expected");
        };
        assert_eq!(command, "/home/u/bin/whisper-cli");
        assert_eq!(p.entries[3].timeout, Duration::from_secs(5));
        assert_eq!(p.policy.max_attachments, 1);
        assert!(p.policy.echo.is_none());
    }

    #[test]
    fn auto_detects_a_configured_provider_with_a_key_unless_disabled() {
        let doc = json!({"models": {"providers": {
            "openai": {"baseUrl": "http://127.0.0.1:9/v1", "apiKey": "k"},
            "fake": {"baseUrl": "http://127.0.0.1:8/v1", "apiKey": "k"}
        }}});
        assert_eq!(
            labels(&plan(doc.clone(), &[]).unwrap()),
            ["openai/gpt-4o-transcribe"]
        );
        let mut off = doc.clone();
        off["tools"] = json!({"media": {"audio": {"enabled": false}}});
        assert!(plan(off, &[]).unwrap().is_none());
        // Without a key: nothing.
        let nokey =
            json!({"models": {"providers": {"groq": {"baseUrl": "http://127.0.0.1:9/v1"}}}});
        assert!(plan(nokey.clone(), &[]).unwrap().is_none());
        assert_eq!(
            labels(&plan(nokey, &[("GROQ_API_KEY", "g")]).unwrap()),
            ["groq/whisper-large-v3-turbo"]
        );
    }

    #[test]
    fn policy_reads_scope_attachments_and_echo() {
        let p = plan(
            json!({"tools": {"media": {
                "models": [{"provider": "groq"}],
                "audio": {
                    "scope": {"default": "deny", "rules": [{"action": "allow", "match": {"chatType": "direct", "channel": "Telegram"}}]},
                    "attachments": {"mode": "all", "maxAttachments": 9},
                    "echoTranscript": true
                }
            }}}),
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.policy.max_attachments, 4);
        assert_eq!(p.policy.echo.as_deref(), Some(DEFAULT_ECHO_FORMAT));
        assert!(p.policy.scope.allows(
            Some("telegram"),
            Some("private"),
            "agent:main:telegram:direct:1"
        ));
        assert!(!p.policy.scope.allows(
            Some("telegram"),
            Some("group"),
            "agent:main:telegram:group:1"
        ));
    }

    #[test]
    fn bad_entries_name_the_key_and_the_fix() {
        let bad = |media: Value| plan(json!({"tools": {"media": media}}), &[]).unwrap_err();
        let e = bad(json!({"models": [{"provider": "deepgram", "model": "nova-3"}]}));
        assert!(
            e.contains("tools.media.models[0]") && e.contains("Fix:"),
            "{e}"
        );
        let e = bad(json!({"models": [{"type": "cli", "capabilities": ["audio"], "args": ["x"]}]}));
        assert!(e.contains("tools.media.models[0].command"), "{e}");
        let e =
            bad(json!({"models": [{"type": "cli", "command": "w", "capabilities": ["audio"]}]}));
        assert!(e.contains("tools.media.models[0].args"), "{e}");
        let e = bad(json!({"models": [{"type": "shell", "capabilities": ["audio"]}]}));
        assert!(e.contains("tools.media.models[0].type"), "{e}");
        let e = bad(
            json!({"models": [{"provider": "x", "baseUrl": "ftp://h", "model": "m", "capabilities": ["audio"]}]}),
        );
        assert!(e.contains("not an http(s) URL"), "{e}");
        let e = bad(json!({"models": [{"provider": "groq", "headers": {"X-A": "a\r\nb"}}]}));
        assert!(e.contains("header"), "{e}");
        let e = bad(
            json!({"models": [{"provider": "groq"}], "audio": {"scope": {"default": "maybe"}}}),
        );
        assert!(e.contains("scope.default"), "{e}");
        let e = bad(
            json!({"models": [{"provider": "groq"}], "audio": {"scope": {"rules": [{"action": "allow", "match": {"chatType": "crowd"}}]}}}),
        );
        assert!(e.contains("chatType"), "{e}");
        let e = bad(
            json!({"models": [{"provider": "groq"}], "audio": {"attachments": {"mode": "some"}}}),
        );
        assert!(e.contains("attachments.mode"), "{e}");
        let e =
            bad(json!({"models": [{"provider": "groq"}], "audio": {"preferredModel": "openai/x"}}));
        assert!(
            e.contains("preferredModel") && e.contains("groq/whisper-large-v3-turbo"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod session_tool_tests {
    use super::ToolsCfg;
    use openclaw_actors::session_tools::Visibility;
    use serde_json::json;

    fn settings(
        v: serde_json::Value,
    ) -> Result<openclaw_actors::session_tools::SessionToolSettings, String> {
        serde_json::from_value::<ToolsCfg>(v)
            .map_err(|e| e.to_string())?
            .session_tool_settings()
    }

    #[test]
    fn visibility_and_agent_to_agent() {
        let d = settings(json!({})).expect("defaults");
        assert_eq!(d.visibility, Visibility::All);
        assert!(d.agent_to_agent && d.allow.is_empty());
        let s = settings(json!({"sessions": {"visibility": "tree"},
            "agentToAgent": {"enabled": true, "allow": ["home", " work "]}}))
        .expect("valid");
        assert_eq!(s.visibility, Visibility::Tree);
        assert!(s.cross_agent("home", "work") && !s.cross_agent("home", "main"));
        let blank = settings(json!({"agentToAgent": {"allow": ["  "]}})).expect("valid");
        assert!(
            !blank.agent_to_agent,
            "only blank entries deny every cross-agent call"
        );
        let off = settings(json!({"agentToAgent": {"enabled": false}})).expect("valid");
        assert!(!off.cross_agent("a", "b"));
        let e = settings(json!({"sessions": {"visibility": "world"}})).expect_err("refused");
        assert!(
            e.contains("tools.sessions.visibility") && e.contains("Fix:"),
            "{e}"
        );
    }
}
