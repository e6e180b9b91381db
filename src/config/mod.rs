//! Configuration: figment over defaults < JSON5 file < environment < flags.
//!
//! File location: `--config` > `OPENCLAW_CONFIG_PATH` > `$OPENCLAW_STATE_DIR/openclaw.json`
//! > `~/.openclaw/openclaw.json`. Key names are OpenClaw's (camelCase). Keys we do not
//! > implement yet are warned about once each and otherwise ignored; a wrong type fails with
//! > the file, the key and what was expected. The process environment is read through an
//! > explicit [`EnvSource`], never mutated.

pub mod agents_rpc;
pub mod channel_logout;
pub mod edit;
pub mod env;
pub mod logging;
pub mod reload;
pub mod rpc;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::Serialized;
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod remote;
pub use remote::RemoteCfg;
pub mod agents;
pub mod channels;
pub mod tailscale;
pub use agents::*;
pub use channels::*;
pub mod limits;
pub mod media;
pub mod models;
pub mod plugins;
pub mod session;
pub mod skills;
pub mod speech;

/// Default gateway port.
pub const DEFAULT_PORT: u16 = 18789;

/// `gateway.bind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BindMode {
    /// 127.0.0.1 and ::1.
    #[default]
    Loopback,
    /// 0.0.0.0.
    Lan,
    /// The tailnet (100.64.0.0/10) address plus 127.0.0.1.
    Tailnet,
    /// `gateway.customBindHost`.
    Custom,
    /// 0.0.0.0 in a container, else loopback.
    Auto,
}

impl BindMode {
    /// Config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::Lan => "lan",
            Self::Tailnet => "tailnet",
            Self::Custom => "custom",
            Self::Auto => "auto",
        }
    }
}

/// `gateway.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayMode {
    /// This host runs the gateway.
    Local,
    /// The CLI talks to `gateway.remote.url`.
    Remote,
}

/// `gateway.auth.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthModeCfg {
    /// No shared secret (loopback only).
    None,
    /// Shared token.
    Token,
    /// Shared password.
    Password,
}

/// `gateway.auth.rateLimit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitCfg {
    /// Failures allowed per window (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Window in ms (default 60000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_ms: Option<u64>,
    /// Lockout in ms (default 300000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lockout_ms: Option<u64>,
    /// Loopback exempt from lockout (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt_loopback: Option<bool>,
}

/// `gateway.auth`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthCfg {
    /// Mode; unset means password if a password is set, else token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AuthModeCfg>,
    /// Shared token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Shared password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Failed-auth limiter.
    #[serde(default)]
    pub rate_limit: RateLimitCfg,
    /// Accept verified Tailscale Serve identities for operators (default: true with
    /// `gateway.tailscale.mode: "serve"` unless the auth mode is password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_tailscale: Option<bool>,
}

impl std::fmt::Debug for AuthCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCfg")
            .field("mode", &self.mode)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `gateway.tls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsCfg {
    /// Serve `wss://` (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Generate a self-signed pair when both files are missing (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_generate: Option<bool>,
    /// PEM certificate (chain) path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<String>,
    /// PEM private key path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
}

/// The `gateway` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayCfg {
    /// Port (default 18789).
    pub port: u16,
    /// Bind mode (default loopback).
    pub bind: BindMode,
    /// Address for `bind: "custom"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_bind_host: Option<String>,
    /// `local` or `remote`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<GatewayMode>,
    /// Auth.
    #[serde(default)]
    pub auth: AuthCfg,
    /// Remote target for the CLI.
    #[serde(default)]
    pub remote: RemoteCfg,
    /// Proxies whose forwarding headers (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) are
    /// trusted: IP addresses or CIDR blocks.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Browser-facing settings (`gateway.controlUi`).
    #[serde(default)]
    pub control_ui: ControlUiCfg,
    /// Node settings.
    #[serde(default)]
    pub nodes: NodesCfg,
    /// Server TLS.
    #[serde(default)]
    pub tls: TlsCfg,
    /// Config hot reload (`gateway.reload`).
    #[serde(default)]
    pub reload: reload::ReloadCfg,
    /// Tailscale Serve / Funnel (`gateway.tailscale`).
    #[serde(default)]
    pub tailscale: tailscale::TailscaleCfg,
    /// Connection caps (`gateway.limits`, see `limits.rs`).
    #[serde(default)]
    pub limits: limits::LimitsCfg,
    /// HTTP endpoints besides the WebSocket (`gateway.http`).
    #[serde(default)]
    pub http: HttpCfg,
    /// The policy of tools called directly (`gateway.tools`: `tools.invoke`,
    /// `POST /tools/invoke`).
    #[serde(default)]
    pub tools: GatewayToolsCfg,
}

/// `gateway.tools`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayToolsCfg {
    /// Tools of the default deny list to offer after all (`exec`, `cron`, `nodes`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// More tools to refuse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// `gateway.http`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCfg {
    /// `gateway.http.endpoints`.
    #[serde(default)]
    pub endpoints: HttpEndpointsCfg,
}

/// `gateway.http.endpoints`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpEndpointsCfg {
    /// OpenClaw's OpenAI-compatible `/v1/chat/completions` and `/v1/models`.
    #[serde(default)]
    pub chat_completions: EndpointCfg,
    /// OpenClaw's OpenResponses-compatible `/v1/responses` (and `/v1/models`).
    #[serde(default)]
    pub responses: EndpointCfg,
}

/// One optional HTTP endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCfg {
    /// Served (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `gateway.controlUi`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlUiCfg {
    /// Browser origins (`scheme://host[:port]`) allowed to open a WebSocket besides
    /// same-origin pages from loopback/private hosts; `"*"` allows any origin.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Serve the Control UI page (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// URL prefix of the page (default `/`), e.g. `/openclaw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_path: Option<String>,
}

/// `gateway.nodes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodesCfg {
    /// `gateway.nodes.pairing`.
    #[serde(default)]
    pub pairing: NodePairingCfg,
}

/// `gateway.nodes.pairing`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePairingCfg {
    /// Approve new devices from direct loopback peers silently (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_approve_local: Option<bool>,
}

impl Default for GatewayCfg {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            bind: BindMode::Loopback,
            custom_bind_host: None,
            mode: None,
            auth: AuthCfg::default(),
            remote: RemoteCfg::default(),
            trusted_proxies: Vec::new(),
            control_ui: ControlUiCfg::default(),
            nodes: NodesCfg::default(),
            tls: TlsCfg::default(),
            reload: reload::ReloadCfg::default(),
            tailscale: tailscale::TailscaleCfg::default(),
            limits: limits::LimitsCfg::default(),
            http: HttpCfg::default(),
            tools: GatewayToolsCfg::default(),
        }
    }
}

/// The whole configuration (only the parts openclaw-rs implements).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// The `gateway` section.
    #[serde(default)]
    pub gateway: GatewayCfg,
    /// Chat channels.
    #[serde(default)]
    pub channels: ChannelsCfg,
    /// Model providers.
    #[serde(default)]
    pub models: ModelsCfg,
    /// Agent settings.
    #[serde(default)]
    pub agents: AgentsCfg,
    /// Route bindings: which agent answers which channel, account or peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Vec<BindingCfg>>,
    /// Logging (`logging.file`, `logging.level`, `logging.maxFileBytes`).
    #[serde(default)]
    pub logging: logging::LoggingCfg,
    /// Chat command settings (`commands.native`; per account in
    /// `channels.telegram.commands`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<channels::CommandsCfg>,
    /// Message settings (`messages.ackReaction`, `ackReactionScope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<channels::MessagesCfg>,
    /// The scheduler (`cron.enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<CronCfg>,
    /// Tools (`tools.media`: voice transcription).
    #[serde(default)]
    pub tools: media::ToolsCfg,
    /// Spoken answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts: Option<speech::TtsCfg>,
    /// The apps' Talk mode (its speech provider is read here, the rest by the apps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk: Option<speech::TalkCfg>,
    /// Plugin entries (the built-in web search providers').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<plugins::PluginsCfg>,
    /// Skills: more skill directories and per-skill settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<skills::SkillsCfg>,
    /// Inline environment variables (`env.vars.<KEY>`, `env.<KEY>`; see [`env`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvCfg>,
    /// Memory (`memory.search.enabled`; the embedding settings are not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryCfg>,
    /// `session` (`session.maintenance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<session::SessionCfg>,
    /// `proxy`: the forward proxy the gateway's own requests go through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyCfg>,
    /// The variables of `<state>/.env` and the `env` block (below the process
    /// environment); read through [`Config::env_var`].
    #[serde(skip)]
    pub extra_env: std::sync::Arc<env::ExtraEnv>,
}

/// `proxy`: OpenClaw's managed network proxy (`docs/security/network-proxy.md`), through
/// which the gateway's own HTTP requests go (model providers, Telegram, speech, web search
/// and fetch); see [`crate::clients::proxy`]. `proxy.tls` (an `https://` proxy endpoint's
/// CA) has nothing to act on here: such endpoints are refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyCfg {
    /// `false` keeps `proxyUrl` without using it (default: on when a URL is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `http://[user:password@]host:port` (else `OPENCLAW_PROXY_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// `gateway-only` (default: loopback direct), `proxy` or `block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loopback_mode: Option<String>,
}

impl Config {
    /// Where the gateway's egress goes: `proxy.*`, `OPENCLAW_PROXY_URL`, then the
    /// standard proxy variables ([`crate::clients::proxy::Egress::resolve`]).
    pub fn egress(
        &self,
        warnings: &mut Vec<String>,
    ) -> Result<crate::clients::proxy::Egress, String> {
        let p = self.proxy.clone().unwrap_or_default();
        crate::clients::proxy::Egress::resolve(
            p.enabled,
            p.proxy_url.as_deref(),
            p.loopback_mode.as_deref(),
            &|k| self.env_var(k),
            warnings,
        )
    }
}

/// `memory`: what of OpenClaw's memory settings applies here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryCfg {
    /// `memory.search`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<MemorySearchCfg>,
}

/// `memory.search`: only `enabled` is read. This gateway's `memory_search` is keyword
/// search over the workspace's memory files; OpenClaw's embedding settings (`provider`,
/// `model`, `remote`, …) have nothing to act on and are reported as not supported.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemorySearchCfg {
    /// `false`: the agents get neither `memory_search` nor `memory_get` (OpenClaw's "memory
    /// search is explicitly disabled").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl Config {
    /// The agent tool filter: `tools.*` ([`media::ToolsCfg::filter`]), without the memory
    /// tools when `memory.search.enabled` is false.
    pub fn tool_filter(&self) -> Result<openclaw_actors::tool_policy::ToolFilter, String> {
        let off = self
            .memory
            .as_ref()
            .and_then(|m| m.search.as_ref())
            .and_then(|s| s.enabled)
            == Some(false);
        if !off {
            return self.tools.filter();
        }
        let mut tools = self.tools.clone();
        let deny = tools.deny.get_or_insert_with(Vec::new);
        deny.extend(
            openclaw_actors::workspace::memory::NAMES
                .iter()
                .map(|n| (*n).to_owned()),
        );
        tools.filter()
    }
}

/// `env`: variables applied when the process environment lacks them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvCfg {
    /// `KEY: value`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, Value>,
    /// OpenClaw's login-shell import (not done here: set the variables in the service's
    /// environment or `<state>/.env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell_env: Option<Value>,
    /// `env.<KEY>: value`, the short form.
    #[serde(flatten)]
    pub direct: BTreeMap<String, Value>,
}

impl Config {
    /// An environment variable as the gateway sees it: the process environment (non-empty
    /// values), then `<state>/.env`, then the config's `env` block.
    pub fn env_var(&self, key: &str) -> Option<String> {
        std::env::var(key)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| self.extra_env.vars.get(key).cloned())
    }
}

/// `cron`: OpenClaw's scheduler settings (only `enabled` is read here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronCfg {
    /// Run jobs on their schedule (default `true`); with `false` jobs stay listed and
    /// editable and `cron.run` still runs one by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `a.b.c` of a key serde ignored (option and newtype levels add no segment); `None`
/// inside a list, whose entries are not checked (e.g. the many OpenClaw fields of
/// `models.providers.<id>.models[]` that openclaw-rs does not read).
fn key_path(path: &serde_ignored::Path<'_>) -> Option<String> {
    use serde_ignored::Path;
    let (parent, key) = match path {
        Path::Root => return Some(String::new()),
        Path::Seq { .. } => return None,
        Path::Map { parent, key } => (parent, key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => {
            return key_path(parent);
        }
    };
    let parent = key_path(parent)?;
    Some(if parent.is_empty() {
        key.clone()
    } else {
        format!("{parent}.{key}")
    })
}

/// Merges `over` into `base` (objects key by key, anything else replaced), as figment
/// merges the file over the defaults.
fn merge_json(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The keys of a config document that [`Config`] does not read (found by `serde_ignored`
/// while deserializing the document over the defaults), e.g. `models.x`. A value of the
/// wrong type stops the search there; loading reports that error.
fn unknown_keys(doc: &Value) -> Vec<String> {
    let mut merged = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    merge_json(&mut merged, doc);
    let mut out = Vec::new();
    let _: Result<Config, _> =
        serde_ignored::deserialize(&merged, |path| out.extend(key_path(&path)));
    out.retain(|k| !is_bookkeeping(k) && !is_plugin_switched_on(doc, k));
    out
}

/// `plugins.entries.<provider>: {enabled: true}` and nothing else, for a model provider the
/// config uses: OpenClaw's `doctor --fix` writes it for the configured model's provider
/// plugin (`plugins.entries.openai`). It asks for what is already so here (the model APIs
/// are built in and on), so it is no setting to warn about. `enabled: false`, a plugin
/// `config`, or a plugin this gateway lacks (`discord`) still is.
fn is_plugin_switched_on(doc: &Value, key: &str) -> bool {
    let Some(id) = key.strip_prefix("plugins.entries.") else {
        return false;
    };
    let on = doc
        .pointer("/plugins/entries")
        .and_then(|e| e.get(id))
        .and_then(Value::as_object)
        .is_some_and(|e| e.len() == 1 && e.get("enabled") == Some(&Value::Bool(true)));
    let model = doc.pointer("/agents/defaults/model");
    let primary = model
        .and_then(|m| m.as_str().or_else(|| m.get("primary")?.as_str()))
        .and_then(|m| m.split_once('/'))
        .map(|(provider, _)| provider);
    let configured = doc
        .pointer("/models/providers")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key(id));
    on && (configured || primary == Some(id))
}

/// What OpenClaw's own CLI records in the config file about itself when it runs on this
/// host (`meta.lastTouchedVersion`, `meta.migrations`, `wizard.lastRunAt` … from its
/// `doctor`, `onboard` or `configure`): no setting of a gateway, so nothing to warn about.
fn is_bookkeeping(key: &str) -> bool {
    ["meta", "wizard"]
        .iter()
        .any(|top| key == *top || key.strip_prefix(top).is_some_and(|r| r.starts_with('.')))
}

/// Flag overrides (highest precedence). Absent flags are `None` and do not override.
#[derive(Clone, Default, Serialize)]
pub struct FlagOverrides {
    /// `--port`.
    pub port: Option<u16>,
    /// `--bind`.
    pub bind: Option<BindMode>,
    /// `--auth`.
    pub auth_mode: Option<AuthModeCfg>,
    /// `--token`.
    pub token: Option<String>,
    /// `--password`.
    pub password: Option<String>,
}

impl std::fmt::Debug for FlagOverrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlagOverrides")
            .field("port", &self.port)
            .field("bind", &self.bind)
            .field("auth_mode", &self.auth_mode)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A configuration problem, reported with the file and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The explicit config file does not exist.
    #[error(
        "config file {0} not found (passed with --config or OPENCLAW_CONFIG_PATH). Fix: create it or point at an existing file"
    )]
    Missing(PathBuf),
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid JSON5.
    #[error("config file {path} is not valid JSON5: {message}")]
    Syntax {
        /// File.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A value has the wrong type.
    #[error("{0}")]
    Invalid(String),
}

/// Where environment variables come from (the real process env, or a map in tests).
pub trait EnvSource {
    /// The variable's value.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        // `--profile` / `--dev` shape the state dir and port (see `remote::profile_env`).
        remote::env_with_profile(key)
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).cloned()
    }
}

/// A loaded configuration with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The merged config.
    pub config: Config,
    /// The config file, if one was read.
    pub path: Option<PathBuf>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Unknown keys found in the file (already warned about).
    pub unknown_keys: Vec<String>,
    /// How to load it again (config reload): the `--config` path and the flag overrides.
    pub source: (Option<PathBuf>, FlagOverrides),
    /// Problems that lose nothing (an unset `${VAR}`, a bad `.env` line), to warn about.
    pub warnings: Vec<String>,
    /// Values the config took from the environment (`${VAR}`, SecretRefs): never shown by
    /// `config.get`.
    pub env_values: Vec<String>,
    /// The file's parsed content before `${VAR}` and SecretRefs were resolved (`None`: no
    /// file), for [`Loaded::reresolve`].
    pub doc: Option<Value>,
}

fn home_dir(env: &dyn EnvSource) -> PathBuf {
    env.get("OPENCLAW_HOME")
        .or_else(|| env.get("HOME"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The state directory: `OPENCLAW_STATE_DIR` or `~/.openclaw`.
pub fn state_dir(env: &dyn EnvSource) -> PathBuf {
    env.get("OPENCLAW_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir(env).join(".openclaw"))
}

/// Resolves the config file path and whether it was given explicitly.
pub fn config_path(explicit: Option<&Path>, env: &dyn EnvSource) -> (PathBuf, bool) {
    if let Some(p) = explicit {
        return (p.to_path_buf(), true);
    }
    if let Some(p) = env.get("OPENCLAW_CONFIG_PATH") {
        return (PathBuf::from(p), true);
    }
    if let Some(dir) = env.get("OPENCLAW_STATE_DIR") {
        return (PathBuf::from(dir).join("openclaw.json"), false);
    }
    (home_dir(env).join(".openclaw").join("openclaw.json"), false)
}

/// A figment provider for an already-parsed JSON5 document.
struct Json5Doc {
    path: PathBuf,
    value: Value,
}

impl Provider for Json5Doc {
    fn metadata(&self) -> Metadata {
        Metadata::from("JSON5 file", self.path.as_path())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.value).data()
    }
}

/// Environment variables we read, mapped to their keys.
struct EnvProvider {
    values: Vec<(&'static str, &'static str, String)>,
}

impl Provider for EnvProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable(s)")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut f = Figment::new();
        for (var, key, value) in &self.values {
            let v: figment::value::Value = if *key == "gateway.port" {
                match value.parse::<u64>() {
                    Ok(n) => n.into(),
                    Err(_) => {
                        return Err(figment::Error::from(format!(
                            "{var}={value:?} is not a port number (expected 0-65535)"
                        )));
                    }
                }
            } else {
                value.clone().into()
            };
            f = f.merge(Serialized::default(key, v));
        }
        f.data()
    }
}

/// Loads the configuration with the documented precedence.
pub fn load(
    explicit: Option<&Path>,
    env: &dyn EnvSource,
    flags: &FlagOverrides,
) -> Result<Loaded, ConfigError> {
    let (path, is_explicit) = config_path(explicit, env);
    let mut doc = None;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let value: Value = json5::from_str(&text).map_err(|e| ConfigError::Syntax {
                path: path.clone(),
                message: e.to_string(),
            })?;
            doc = Some(value);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if is_explicit {
                return Err(ConfigError::Missing(path));
            }
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.clone(),
                source,
            });
        }
    }
    build(
        &path,
        doc,
        env,
        (explicit.map(Path::to_path_buf), flags.clone()),
    )
}

impl Loaded {
    /// The same config file content resolved again against the environment as it is now:
    /// `<state dir>/.env` and the config's `env` block are read again (the process
    /// environment cannot change). The file itself is not read: edits to it are the
    /// watcher's (`secrets.reload`, OpenClaw's "re-resolve secret references").
    pub fn reresolve(&self, env: &dyn EnvSource) -> Result<Loaded, ConfigError> {
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| config_path(self.source.0.as_deref(), env).0);
        build(&path, self.doc.clone(), env, self.source.clone())
    }
}

/// The config from the file's parsed (unresolved) content `doc` (`None`: no file at
/// `path`), the environment and the flag overrides.
fn build(
    path: &Path,
    doc: Option<Value>,
    env: &dyn EnvSource,
    source: (Option<PathBuf>, FlagOverrides),
) -> Result<Loaded, ConfigError> {
    let flags = &source.1;
    let path = path.to_path_buf();
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    let used_path = doc.as_ref().map(|_| path.clone());
    let raw = doc.clone();
    let state = state_dir(env);
    let mut warnings = Vec::new();
    let extra = env::ExtraEnv::gather(&state, doc.as_ref(), &mut warnings);
    let layered = env::Layered {
        first: env,
        extra: &extra,
    };
    let mut unknown = Vec::new();
    let mut resolved_values = Vec::new();
    if let Some(mut value) = doc {
        let r = env::resolve(&mut value, &layered)
            .map_err(|m| ConfigError::Invalid(format!("{}: {m}", path.display())))?;
        warnings.extend(r.warnings);
        resolved_values = r.values;
        unknown = unknown_keys(&value);
        figment = figment.merge(Json5Doc {
            path: path.clone(),
            value,
        });
    }
    let mut env_values = Vec::new();
    for (var, key) in [
        ("OPENCLAW_GATEWAY_PORT", "gateway.port"),
        ("OPENCLAW_GATEWAY_TOKEN", "gateway.auth.token"),
        ("OPENCLAW_GATEWAY_PASSWORD", "gateway.auth.password"),
    ] {
        if let Some(v) = layered.get(var) {
            env_values.push((var, key, v));
        }
    }
    figment = figment.merge(EnvProvider { values: env_values });
    let mut flag_fig = Figment::new();
    if let Some(p) = flags.port {
        flag_fig = flag_fig.merge(Serialized::default("gateway.port", p));
    }
    if let Some(b) = flags.bind {
        flag_fig = flag_fig.merge(Serialized::default("gateway.bind", b));
    }
    if let Some(m) = flags.auth_mode {
        flag_fig = flag_fig.merge(Serialized::default("gateway.auth.mode", m));
    }
    if let Some(t) = &flags.token {
        flag_fig = flag_fig.merge(Serialized::default("gateway.auth.token", t));
    }
    if let Some(p) = &flags.password {
        flag_fig = flag_fig.merge(Serialized::default("gateway.auth.password", p));
    }
    figment = figment.merge(flag_fig);
    let mut config: Config = figment.extract().map_err(|e| describe(&e))?;
    config.extra_env = std::sync::Arc::new(extra);
    Ok(Loaded {
        config,
        path: used_path,
        state_dir: state,
        unknown_keys: unknown,
        source,
        warnings,
        env_values: resolved_values,
        doc: raw,
    })
}

/// Turns a figment error into one line per problem naming the source and key.
fn describe(err: &figment::Error) -> ConfigError {
    let mut lines = Vec::new();
    for e in err.clone() {
        let key = if e.path.is_empty() {
            String::from("(root)")
        } else {
            e.path.join(".")
        };
        let source = e
            .metadata
            .as_ref()
            .map(|m| match &m.source {
                Some(figment::Source::File(p)) => p.display().to_string(),
                _ => m.name.to_string(),
            })
            .unwrap_or_else(|| "config".to_owned());
        lines.push(format!("invalid config in {source}: key {key}: {}", e.kind));
    }
    ConfigError::Invalid(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn openclaw_clis_own_bookkeeping_is_no_unknown_key() {
        // What `openclaw doctor --fix` (2026.9.6) adds to a config it touches.
        let doc = serde_json::json!({
            "gateway": {"port": 18789},
            "wizard": {"lastRunAt": "2026-12-06T11:24:59.194Z", "lastRunVersion": "2026.9.6",
                "lastRunCommand": "doctor", "lastRunMode": "local"},
            "meta": {"migrations": {"modelPolicyAllowlist": true}, "lastTouchedVersion": "2026.9.6"},
            "metadata": {"x": 1},
        });
        assert_eq!(unknown_keys(&doc), vec!["metadata".to_owned()]);
    }

    #[test]
    fn a_plugin_switched_on_is_no_unknown_key_but_switched_off_or_configured_is() {
        // `openclaw doctor --fix` (2026.9.6) adds the configured model's provider plugin.
        let doc = serde_json::json!({
            "agents": {"defaults": {"model": {"primary": "openai/gpt-5.5"}}},
            "models": {"providers": {"local": {"baseUrl": "http://127.0.0.1:1/v1"}}},
            "plugins": {"entries": {
                "openai": {"enabled": true},
                "local": {"enabled": true},
                "anthropic": {"enabled": false},
                "discord": {"enabled": true},
                "slack": {"enabled": true, "config": {"x": 1}},
                "a.b": {"enabled": "yes"},
                "brave": {"enabled": true},
            }},
        });
        let mut got = unknown_keys(&doc);
        got.sort();
        assert_eq!(
            got,
            vec![
                "plugins.entries.a.b".to_owned(),
                "plugins.entries.anthropic".to_owned(),
                "plugins.entries.discord".to_owned(),
                "plugins.entries.slack".to_owned(),
            ]
        );
    }

    #[test]
    fn openclaws_message_queue_keys_are_read() {
        let dir = std::env::temp_dir().join(format!("oc-queue-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("openclaw.json");
        std::fs::write(
            &path,
            r#"{messages: {queue: {mode: "Collect", byChannel: {Telegram: "steering", webchat: "followup"},
                cap: 7, drop: "oldest", debounceMs: 250, debounceMsByChannel: {Telegram: 1000}}}}"#,
        )
        .unwrap();
        let e = env(&[("OPENCLAW_STATE_DIR", dir.to_str().unwrap())]);
        let l = load(Some(&path), &e, &FlagOverrides::default()).unwrap();
        assert!(l.unknown_keys.is_empty(), "{:?}", l.unknown_keys);
        let q = l
            .config
            .messages
            .as_ref()
            .and_then(|m| m.queue.as_ref())
            .map(|q| q.settings())
            .expect("messages.queue")
            .expect("valid");
        use openclaw_actors::run_queue::{DropPolicy, QueueMode};
        assert_eq!(q.mode, Some(QueueMode::Collect));
        assert_eq!(q.by_channel.get("telegram"), Some(&QueueMode::Steer));
        assert_eq!(q.by_channel.get("webchat"), Some(&QueueMode::Followup));
        assert_eq!((q.cap, q.drop), (7, DropPolicy::Old));
        assert_eq!(q.debounce_ms, Some(250));
        assert_eq!(q.debounce_by_channel.get("telegram"), Some(&1000));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_example_config_loads_without_unknown_keys() {
        let dir =
            std::env::temp_dir().join(format!("oc-example-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("openclaw.json");
        std::fs::write(&path, include_str!("../../openclaw.json5.example")).unwrap();
        let e = env(&[("OPENCLAW_STATE_DIR", dir.to_str().unwrap())]);
        let l = load(Some(&path), &e, &FlagOverrides::default()).unwrap();
        assert!(l.unknown_keys.is_empty(), "{:?}", l.unknown_keys);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn references_resolve_from_the_state_dotenv_and_env_vars_below_the_process() {
        let dir = std::env::temp_dir().join(format!("oc-dotenv-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(".env"),
            "TOKEN_A=from-dotenv\nOPENCLAW_GATEWAY_TOKEN=gw-dotenv\n",
        )
        .unwrap();
        let path = dir.join("openclaw.json");
        std::fs::write(
            &path,
            r#"{env: {vars: {TOKEN_A: "from-vars", KEY_B: "b-vars"}},
                models: {providers: {p: {baseUrl: "http://${HOST_C}/v1", apiKey: "${TOKEN_A}:${KEY_B}"}}}}"#,
        )
        .unwrap();
        let e = env(&[
            ("OPENCLAW_STATE_DIR", dir.to_str().unwrap()),
            ("HOST_C", "h:1"),
            ("KEY_B", "b-process"),
        ]);
        let l = load(Some(&path), &e, &FlagOverrides::default()).unwrap();
        let p = &l.config.models.providers["p"];
        assert_eq!(p.base_url.as_deref(), Some("http://h:1/v1"));
        assert_eq!(p.api_key.as_deref(), Some("from-dotenv:b-process"));
        assert_eq!(l.config.gateway.auth.token.as_deref(), Some("gw-dotenv"));
        assert!(l.env_values.contains(&"from-dotenv".to_owned()));
        assert_eq!(
            l.config.extra_env.vars.get("KEY_B").map(String::as_str),
            Some("b-vars"),
            "kept below the process environment"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn precedence_defaults_file_env_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("openclaw.json");
        std::fs::write(
            &file,
            "{ // json5\n gateway: { port: 1000, bind: 'lan', auth: { token: 'file' } }, models: {x: 1} }",
        )
        .expect("write");
        let e = env(&[("OPENCLAW_CONFIG_PATH", file.to_str().expect("utf8"))]);
        let l = load(None, &e, &FlagOverrides::default()).expect("load");
        assert_eq!(l.config.gateway.port, 1000);
        assert_eq!(l.config.gateway.bind, BindMode::Lan);
        assert_eq!(l.unknown_keys, vec!["models.x".to_owned()]);

        let e2 = env(&[
            ("OPENCLAW_CONFIG_PATH", file.to_str().expect("utf8")),
            ("OPENCLAW_GATEWAY_PORT", "2000"),
            ("OPENCLAW_GATEWAY_TOKEN", "envtok"),
        ]);
        let l = load(None, &e2, &FlagOverrides::default()).expect("load");
        assert_eq!(l.config.gateway.port, 2000);
        assert_eq!(l.config.gateway.auth.token.as_deref(), Some("envtok"));

        let flags = FlagOverrides {
            port: Some(3000),
            ..Default::default()
        };
        let l = load(None, &e2, &flags).expect("load");
        assert_eq!(l.config.gateway.port, 3000);
        assert_eq!(l.config.gateway.bind, BindMode::Lan);
    }

    #[test]
    fn control_ui_and_trusted_proxies_keys_are_known() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("openclaw.json");
        std::fs::write(
            &file,
            "{gateway: {trustedProxies: ['10.0.0.0/8', '::1'], controlUi: {allowedOrigins: ['https://ui.example']}, auth: {rateLimit: {maxAttempts: 3, windowMs: 1000, lockoutMs: 2000, exemptLoopback: false}}}}",
        )
        .expect("write");
        let l = load(Some(&file), &env(&[]), &FlagOverrides::default()).expect("load");
        assert!(l.unknown_keys.is_empty(), "{:?}", l.unknown_keys);
        assert_eq!(
            l.config.gateway.control_ui.allowed_origins,
            vec!["https://ui.example".to_owned()]
        );
        assert_eq!(l.config.gateway.trusted_proxies, vec!["10.0.0.0/8", "::1"]);
        assert_eq!(l.config.gateway.auth.rate_limit.max_attempts, Some(3));
        assert_eq!(
            l.config.gateway.auth.rate_limit.exempt_loopback,
            Some(false)
        );
    }

    #[test]
    fn unknown_keys_are_found_at_every_depth_but_not_inside_lists() {
        let doc: Value = json5::from_str(
            "{gateway: {port: 1, tls: {enabled: true, extra: 1}, nodes: {pairing: {x: 1}}},
              channels: {telegram: {botToken: 't', accounts: {work: {botToken: 'u', color: 'red'}}},
                         slack: {}},
              models: {providers: {p: {baseUrl: 'http://x', models: [{id: 'm', contextWindow: 8}],
                                       region: 'eu'}}},
              agents: {defaults: {tools: {nodes: {senders: {'tg:1': {allowCommands: ['a'], nope: 1}}}}}},
              top: {a: 1}}",
        )
        .expect("json5");
        let mut got = unknown_keys(&doc);
        got.sort();
        assert_eq!(
            got,
            vec![
                "agents.defaults.tools.nodes.senders.tg:1.nope",
                "channels.slack",
                "channels.telegram.accounts.work.color",
                "gateway.nodes.pairing.x",
                "gateway.tls.extra",
                "models.providers.p.region",
                "top",
            ]
        );
        let known: Value =
            json5::from_str("{gateway: {port: 1, auth: {token: 't'}}}").expect("json5");
        assert!(unknown_keys(&known).is_empty());
    }

    #[test]
    fn wrong_type_names_file_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.json5");
        std::fs::write(&file, "{gateway: {port: 'x'}}").expect("write");
        let err = load(Some(&file), &env(&[]), &FlagOverrides::default())
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("bad.json5"), "{err}");
        assert!(err.contains("gateway.port"), "{err}");
        assert!(err.contains("u16"), "{err}");
    }

    #[test]
    fn missing_explicit_file_is_an_error_default_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.json");
        assert!(load(Some(&missing), &env(&[]), &FlagOverrides::default()).is_err());
        let e = env(&[("OPENCLAW_STATE_DIR", dir.path().to_str().expect("utf8"))]);
        let l = load(None, &e, &FlagOverrides::default()).expect("defaults");
        assert_eq!(l.config.gateway.port, DEFAULT_PORT);
        assert!(l.path.is_none());
    }
}
