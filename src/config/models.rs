//! Which chat model the agent uses: `agents.defaults.model` (`"provider/model"` or
//! `{ primary, fallbacks }`), resolved against `models.providers` and the built-in
//! providers (OpenClaw's bundled ones that speak an API this gateway has: the OpenAI
//! chat-completions API, its Responses API or Anthropic's Messages API), as OpenClaw resolves them
//! (`docs/gateway/config-agents/models.md`, `docs/concepts/model-providers/*`).
//!
//! - A built-in provider needs no `models.providers` entry: `anthropic/claude-opus-5` with
//!   `ANTHROPIC_API_KEY` set is enough. An entry overrides its base URL, key, API, models,
//!   timeout and headers.
//! - The key: the entry's `apiKey` (a literal, `${VAR}`, an env SecretRef, or the name of
//!   a set variable such as `"OPENAI_API_KEY"`), else the provider's variables
//!   (`OPENAI_API_KEY`, `GEMINI_API_KEY` or `GOOGLE_API_KEY`, …; `<ID>_API_KEY` for any
//!   provider), from the environment, `<state>/.env` or `env.vars`.
//! - A model without a provider (`"opus"`) is an alias of `agents.defaults.models`, or the
//!   one configured provider model with that id.
//!
//! Everything is checked at start (exit 78 with the fix) and on reload: a missing key, an
//! unknown provider, an API this gateway does not speak.

use std::time::Duration;

use super::Config;

/// The wire API of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST {base}/chat/completions` (`openai-completions`, and `ollama` at `{base}/v1`).
    OpenAiCompletions,
    /// `POST {base}/v1/messages` (`anthropic-messages`).
    AnthropicMessages,
    /// `POST {base}/responses` (`openai-responses`: OpenAI's Responses API).
    OpenAiResponses,
}

impl Api {
    /// Its name in `models.providers.<id>.api`.
    pub fn name(self) -> &'static str {
        match self {
            Api::OpenAiCompletions => "openai-completions",
            Api::AnthropicMessages => "anthropic-messages",
            Api::OpenAiResponses => "openai-responses",
        }
    }
}

/// A built-in provider.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Provider id (`models.providers.<id>`, `<id>/<model>`).
    pub id: &'static str,
    /// Default base URL.
    pub base_url: &'static str,
    /// Its API.
    pub api: Api,
    /// Variables holding its key, in order.
    pub key_env: &'static [&'static str],
    /// It needs a key (local servers do not).
    pub needs_key: bool,
}

const fn remote(
    id: &'static str,
    base_url: &'static str,
    key_env: &'static [&'static str],
) -> Builtin {
    Builtin {
        id,
        base_url,
        api: Api::OpenAiCompletions,
        key_env,
        needs_key: true,
    }
}

const fn local(
    id: &'static str,
    base_url: &'static str,
    key_env: &'static [&'static str],
) -> Builtin {
    Builtin {
        needs_key: false,
        ..remote(id, base_url, key_env)
    }
}

/// The built-in providers (OpenClaw's bundled ids, auth variables and endpoints).
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        api: Api::OpenAiResponses,
        ..remote("openai", "https://api.openai.com/v1", &["OPENAI_API_KEY"])
    },
    Builtin {
        id: "anthropic",
        base_url: "https://api.anthropic.com",
        api: Api::AnthropicMessages,
        key_env: &["ANTHROPIC_API_KEY"],
        needs_key: true,
    },
    remote(
        "google",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    ),
    remote("groq", "https://api.groq.com/openai/v1", &["GROQ_API_KEY"]),
    remote("mistral", "https://api.mistral.ai/v1", &["MISTRAL_API_KEY"]),
    remote(
        "openrouter",
        "https://openrouter.ai/api/v1",
        &["OPENROUTER_API_KEY"],
    ),
    remote(
        "deepseek",
        "https://api.deepseek.com",
        &["DEEPSEEK_API_KEY"],
    ),
    remote("xai", "https://api.x.ai/v1", &["XAI_API_KEY"]),
    remote(
        "together",
        "https://api.together.xyz/v1",
        &["TOGETHER_API_KEY"],
    ),
    remote(
        "deepinfra",
        "https://api.deepinfra.com/v1/openai",
        &["DEEPINFRA_API_KEY"],
    ),
    remote(
        "cerebras",
        "https://api.cerebras.ai/v1",
        &["CEREBRAS_API_KEY"],
    ),
    remote(
        "fireworks",
        "https://api.fireworks.ai/inference/v1",
        &["FIREWORKS_API_KEY"],
    ),
    remote(
        "moonshot",
        "https://api.moonshot.ai/v1",
        &["MOONSHOT_API_KEY"],
    ),
    remote(
        "nvidia",
        "https://integrate.api.nvidia.com/v1",
        &["NVIDIA_API_KEY"],
    ),
    remote(
        "zai",
        "https://api.z.ai/api/paas/v4",
        &["ZAI_API_KEY", "Z_AI_API_KEY"],
    ),
    remote(
        "huggingface",
        "https://router.huggingface.co/v1",
        &["HUGGINGFACE_HUB_TOKEN", "HF_TOKEN"],
    ),
    remote(
        "vercel-ai-gateway",
        "https://ai-gateway.vercel.sh/v1",
        &["AI_GATEWAY_API_KEY"],
    ),
    Builtin {
        id: "minimax",
        base_url: "https://api.minimax.io/anthropic",
        api: Api::AnthropicMessages,
        key_env: &["MINIMAX_API_KEY"],
        needs_key: true,
    },
    local("ollama", "http://127.0.0.1:11434/v1", &["OLLAMA_API_KEY"]),
    local("lmstudio", "http://127.0.0.1:1234/v1", &["LM_API_TOKEN"]),
    local("vllm", "http://127.0.0.1:8000/v1", &["VLLM_API_KEY"]),
];

/// The built-in provider `id`.
pub fn builtin(id: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.id == id)
}

/// One model to call.
#[derive(Clone, PartialEq)]
pub struct Target {
    /// Provider id.
    pub provider: String,
    /// Model id sent to the provider.
    pub model: String,
    /// The wire API.
    pub api: Api,
    /// Base URL (for `ollama`'s native URL, with `/v1` added).
    pub base_url: String,
    /// The key, if any.
    pub api_key: Option<String>,
    /// Where the key came from (`models.providers.<id>.apiKey` or a variable's name), for
    /// `openclaw models status`; never the key.
    pub key_source: Option<String>,
    /// Per-request timeout.
    pub timeout: Option<Duration>,
    /// The model sees images.
    pub images: bool,
    /// Longest answer (`maxTokens`), if configured.
    pub max_tokens: Option<u32>,
    /// Extra request headers (`models.providers.<id>.headers`).
    pub headers: Vec<(String, String)>,
    /// `params.cacheRetention` (`none`, `short`, `long`) of `agents.defaults.params` or the
    /// model's entry (Anthropic prompt caching).
    pub cache_retention: Option<String>,
    /// The model's prices (its entry's `cost`), if configured.
    pub cost: Option<openclaw_actors::ports::CostRates>,
    /// The tokens a request may hold: the entry's `contextWindow`, capped by its
    /// `contextTokens` (`None`: neither is set).
    pub context_window: Option<u32>,
    /// Ask a streaming OpenAI-compatible endpoint for its usage chunk (`stream_options`;
    /// the entry's `compat.supportsUsageInStreaming`, default `true`).
    pub stream_usage: bool,
    /// The model reasons (its entry's `reasoning`, else known by its name).
    pub reasoning: bool,
    /// Its thinking level when the chat names none: its `params.thinking`, else
    /// `agents.defaults.thinkingDefault`.
    pub thinking: Option<openclaw_actors::ports::Thinking>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("key_source", &self.key_source)
            .field("timeout", &self.timeout)
            .field("images", &self.images)
            .field("max_tokens", &self.max_tokens)
            .field("headers", &self.headers.len())
            .field("cache_retention", &self.cache_retention)
            .field("cost", &self.cost)
            .field("stream_usage", &self.stream_usage)
            .field("context_window", &self.context_window)
            .finish()
    }
}

impl Target {
    /// `provider/model`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// The primary model and its fallbacks, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Tried first.
    pub primary: Target,
    /// Tried in order when the one before fails.
    pub fallbacks: Vec<Target>,
}

/// The plan of `cfg` (`None`: no model configured, the embedded command agent answers);
/// `Err` names the key and the fix. `env` reads a variable (see [`Config::env_var`]).
pub fn plan(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Plan>, String> {
    let m = &cfg.agents.defaults.model;
    let primary = m
        .primary
        .clone()
        .filter(|p| !p.trim().is_empty())
        .or_else(|| {
            cfg.models
                .providers
                .iter()
                .find_map(|(id, p)| p.models.first().map(|m| format!("{id}/{}", m.id)))
        });
    let Some(primary) = primary else {
        if m.fallbacks.as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(
                "agents.defaults.model.fallbacks is set but there is no primary model. Fix: set agents.defaults.model.primary to \"<provider>/<model>\"".into(),
            );
        }
        return Ok(None);
    };
    let primary = target(cfg, &primary, "agents.defaults.model.primary", env)?;
    let mut fallbacks = Vec::new();
    for (i, r) in m.fallbacks.iter().flatten().enumerate() {
        let t = target(
            cfg,
            r,
            &format!("agents.defaults.model.fallbacks[{i}]"),
            env,
        )?;
        if t.label() != primary.label()
            && !fallbacks.iter().any(|f: &Target| f.label() == t.label())
        {
            fallbacks.push(t);
        }
    }
    Ok(Some(Plan { primary, fallbacks }))
}

/// A model a session may choose (`/model`), with its alias.
#[derive(Debug, Clone)]
pub struct Choice {
    /// `provider/model`.
    pub reference: String,
    /// `agents.defaults.models["provider/model"].alias`.
    pub alias: Option<String>,
    /// Its display name (`models.providers.<id>.models[].name`).
    pub name: Option<String>,
    /// Its roles: `default`, `fallback#<n>`, `configured` (OpenClaw's tags).
    pub tags: Vec<String>,
    /// How to call it.
    pub target: Target,
}

/// Every configured model a session may choose: the primary and its fallbacks, the
/// `agents.defaults.models` entries and the models listed under `models.providers`, in that
/// order, once each. One that cannot be called now (its key is not set, its provider is
/// unknown) is left out, with a debug line.
pub fn choices(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Vec<Choice> {
    let d = &cfg.agents.defaults;
    // Each reference with its role tag, as OpenClaw's `resolveConfiguredModelEntries`:
    // `default`, `fallback#<n>`, `configured` (an `agents.defaults.models` entry).
    let mut refs: Vec<(String, Option<String>)> = Vec::new();
    refs.extend(
        d.model
            .primary
            .iter()
            .map(|r| (r.clone(), Some("default".to_owned()))),
    );
    refs.extend(
        d.model
            .fallbacks
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| (r.clone(), Some(format!("fallback#{}", i + 1)))),
    );
    refs.extend(
        d.models
            .keys()
            .filter(|k| k.contains('/') && !k.ends_with("/*"))
            .map(|k| (k.clone(), Some("configured".to_owned()))),
    );
    for (id, p) in &cfg.models.providers {
        refs.extend(p.models.iter().map(|m| (format!("{id}/{}", m.id), None)));
    }
    let mut out: Vec<Choice> = Vec::new();
    for (r, tag) in refs {
        match target(cfg, &r, "a configured model", env) {
            Ok(t) => {
                let reference = t.label();
                if let Some(c) = out.iter_mut().find(|c| c.reference == reference) {
                    if let Some(tag) = tag
                        && !c.tags.contains(&tag)
                    {
                        c.tags.push(tag);
                    }
                    continue;
                }
                let alias = d
                    .models
                    .get(&reference)
                    .and_then(|e| e.alias.clone())
                    .filter(|a| !a.trim().is_empty());
                let name = cfg
                    .models
                    .providers
                    .get(&t.provider)
                    .and_then(|p| p.models.iter().find(|m| m.id == t.model))
                    .and_then(|m| m.name.clone())
                    .filter(|n| !n.trim().is_empty());
                out.push(Choice {
                    reference,
                    alias,
                    name,
                    tags: tag.into_iter().collect(),
                    target: t,
                });
            }
            Err(e) => log::debug!("model {r} is not offered to /model: {e}"),
        }
    }
    out
}

/// Whether a provider's base URL is on this machine (OpenClaw's `isLocalBaseUrl`:
/// `localhost`, a loopback IPv4, `0.0.0.0`, `::`, `::1`, a `.local` name).
pub fn is_local_base_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    }
    .to_ascii_lowercase();
    host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || host == "0.0.0.0"
        || host == "::"
        || host == "::1"
        || host.ends_with(".local")
}

/// `provider/model` of `reference` (aliases and bare configured ids resolved).
fn split_ref(cfg: &Config, reference: &str, key: &str) -> Result<(String, String), String> {
    let r = reference.trim();
    if let Some((p, m)) = r.split_once('/')
        && !p.is_empty()
        && !m.is_empty()
    {
        return Ok((p.to_owned(), m.to_owned()));
    }
    if let Some((full, _)) = cfg
        .agents
        .defaults
        .models
        .iter()
        .find(|(_, e)| e.alias.as_deref().map(str::trim) == Some(r))
        && let Some((p, m)) = full.split_once('/')
    {
        return Ok((p.to_owned(), m.to_owned()));
    }
    let matches: Vec<&String> = cfg
        .models
        .providers
        .iter()
        .filter(|(_, p)| p.models.iter().any(|m| m.id == r))
        .map(|(id, _)| id)
        .collect();
    match matches.as_slice() {
        [one] => Ok(((*one).clone(), r.to_owned())),
        [] => Err(format!(
            "{key} {reference:?} must be \"<provider>/<model>\" (or an alias in agents.defaults.models). Fix: e.g. \"anthropic/claude-opus-5\" or \"openai/gpt-5.5\""
        )),
        _ => Err(format!(
            "{key} {reference:?} matches models of several providers ({}). Fix: write it as \"<provider>/{r}\"",
            matches
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The key of `provider` and where it came from: `models.providers.<id>.apiKey` (a literal,
/// or the name of a set variable such as `"OPENAI_API_KEY"`, as OpenClaw accepts), else
/// the built-in provider's variables (`GEMINI_API_KEY` or `GOOGLE_API_KEY`, …), else
/// `<ID>_API_KEY`. `Err` when `apiKey` names a variable that is not set. Shared by the
/// chat model, voice transcription and speech.
pub fn provider_key(
    cfg: &Config,
    provider: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, String> {
    let configured = cfg
        .models
        .providers
        .get(provider)
        .and_then(|e| e.api_key.clone())
        .filter(|k| !k.is_empty());
    if let Some(k) = configured {
        if env_name(&k) {
            let v = env(&k).ok_or_else(|| {
                format!(
                    "models.providers.{provider}.apiKey names the variable {k}, which is not set. Fix: set {k} (in the gateway's environment, in .env of the state directory, or in the config's env.vars), or write the key itself"
                )
            })?;
            return Ok(Some((v, k)));
        }
        return Ok(Some((k, format!("models.providers.{provider}.apiKey"))));
    }
    let generic = format!(
        "{}_API_KEY",
        provider.to_ascii_uppercase().replace('-', "_")
    );
    Ok(builtin(provider)
        .map(|b| b.key_env)
        .unwrap_or_default()
        .iter()
        .copied()
        .chain(std::iter::once(generic.as_str()))
        .find_map(|v| env(v).map(|k| (k, v.to_owned()))))
}

/// Whether a string is the name of an environment variable (`OPENAI_API_KEY`), as
/// OpenClaw accepts for `apiKey`.
fn env_name(s: &str) -> bool {
    s.len() >= 3
        && s.contains('_')
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && super::env::is_upper_name(s)
}

pub(crate) fn target(
    cfg: &Config,
    reference: &str,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, String> {
    let (provider, model) = split_ref(cfg, reference, key)?;
    let entry = cfg.models.providers.get(&provider);
    let built = builtin(&provider);
    if entry.is_none() && built.is_none() {
        let known: Vec<&str> = BUILTINS.iter().map(|b| b.id).collect();
        return Err(format!(
            "{key} names provider {provider:?}, which is neither configured in models.providers nor built in. Fix: add models.providers.{provider} with baseUrl (and api, apiKey), or use one of: {}",
            known.join(", ")
        ));
    }
    let api_name = entry.and_then(|e| e.api.as_deref()).map(str::trim);
    let (api, native_ollama) = match api_name {
        None => (built.map_or(Api::OpenAiCompletions, |b| b.api), false),
        Some("openai-completions") => (Api::OpenAiCompletions, false),
        Some("anthropic-messages") => (Api::AnthropicMessages, false),
        Some("openai-responses") => (Api::OpenAiResponses, false),
        Some("ollama") => (Api::OpenAiCompletions, true),
        Some(other) => {
            return Err(format!(
                "models.providers.{provider}.api {other:?} is not supported by this gateway. Fix: use \"openai-completions\" (any OpenAI-compatible chat completions endpoint), \"openai-responses\" (OpenAI's Responses API, /v1/responses) or \"anthropic-messages\" (Anthropic's Messages API)"
            ));
        }
    };
    let base = entry
        .and_then(|e| e.base_url.clone())
        .filter(|b| !b.trim().is_empty())
        .or_else(|| built.map(|b| b.base_url.to_owned()))
        .ok_or_else(|| {
            format!(
                "models.providers.{provider}.baseUrl is not set. Fix: e.g. \"https://api.openai.com/v1\" (an OpenAI-compatible endpoint) or \"http://127.0.0.1:11434/v1\" (Ollama)"
            )
        })?;
    let base = base.trim().trim_end_matches('/').to_owned();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!(
            "models.providers.{provider}.baseUrl {base:?} is not an http(s) URL. Fix: e.g. \"https://api.openai.com/v1\""
        ));
    }
    // OpenClaw's native Ollama URL has no `/v1`; its OpenAI-compatible API is under it.
    let base = if native_ollama && !base.ends_with("/v1") {
        format!("{base}/v1")
    } else {
        base
    };
    let (api_key, key_source) = provider_key(cfg, &provider, env)?.unzip();
    if api_key.is_none() && built.is_some_and(|b| b.needs_key) {
        let vars = built.map(|b| b.key_env.join(" or ")).unwrap_or_default();
        return Err(format!(
            "{key} {provider}/{model} needs an API key, and none is set. Fix: set {vars} (in the gateway's environment, in .env of the state directory, or in the config's env.vars), or models.providers.{provider}.apiKey"
        ));
    }
    let model_entry = entry.and_then(|e| e.models.iter().find(|m| m.id == model));
    let images = match model_entry.and_then(|m| m.input.as_ref()) {
        Some(input) => input.iter().any(|k| k == "image"),
        None => sees_images_by_default(&provider, &model),
    };
    let params = cfg
        .agents
        .defaults
        .models
        .get(&format!("{provider}/{model}"))
        .and_then(|e| e.params.as_ref());
    let max_tokens = params
        .and_then(|p| p.get("maxTokens").or_else(|| p.get("max_tokens")))
        .and_then(serde_json::Value::as_u64)
        .or(model_entry.and_then(|m| m.max_tokens))
        .map(|n| n.clamp(1, u64::from(u32::MAX)) as u32);
    let cache_retention = params
        .and_then(|p| p.get("cacheRetention"))
        .or_else(|| {
            cfg.agents
                .defaults
                .params
                .as_ref()
                .and_then(|p| p.get("cacheRetention"))
        })
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    if let Some(c) = cache_retention.as_deref()
        && !matches!(c, "none" | "short" | "long")
    {
        return Err(format!(
            "params.cacheRetention of {provider}/{model} is {c:?}. Fix: use \"none\", \"short\" (5 minutes) or \"long\" (1 hour)"
        ));
    }
    let timeout = entry.and_then(|e| {
        e.timeout_ms
            .map(Duration::from_millis)
            .or(e.timeout_seconds.map(Duration::from_secs))
    });
    let mut headers = Vec::new();
    for (name, value) in entry.map(|e| &e.headers).into_iter().flatten() {
        let ok_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !ok_name
            || !value
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(format!(
                "models.providers.{provider}.headers has an invalid header {name:?}. Fix: use a plain header name (letters, digits, '-') and a one-line ASCII value"
            ));
        }
        headers.push((name.clone(), value.clone()));
    }
    let cost = match model_entry.and_then(|m| m.cost.as_ref()) {
        None => None,
        Some(c) => Some(cost_rates(c).map_err(|e| {
            format!(
                "models.providers.{provider}.models[{model}].cost {e}. Fix: prices in US dollars per million tokens, e.g. {{input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75}}"
            )
        })?),
    };
    let stream_usage = model_entry
        .and_then(|m| m.compat.as_ref())
        .and_then(|c| c.get("supportsUsageInStreaming"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(true);
    let mut context_window = None;
    for (k, v) in [
        ("contextWindow", model_entry.and_then(|m| m.context_window)),
        ("contextTokens", model_entry.and_then(|m| m.context_tokens)),
    ] {
        let Some(v) = v else { continue };
        if !(1_024..=u64::from(u32::MAX)).contains(&v) {
            return Err(format!(
                "models.providers.{provider}.models[{model}].{k} is {v}. Fix: the model's window in tokens, at least 1024 (e.g. 128000)"
            ));
        }
        let v = v as u32;
        context_window = Some(context_window.map_or(v, |w: u32| w.min(v)));
    }
    let reasoning = model_entry
        .and_then(|m| m.reasoning)
        .unwrap_or_else(|| reasons_by_default(&provider, &model));
    let thinking = match params.and_then(|p| p.get("thinking")) {
        Some(v) => Some(thinking_of(v).ok_or_else(|| {
            format!(
                "agents.defaults.models[\"{provider}/{model}\"].params.thinking is {}. Fix: {}",
                truncate_value(v),
                THINKING_FIX
            )
        })?),
        None => match cfg.agents.defaults.thinking_default.as_deref() {
            Some(t) => Some(openclaw_actors::ports::Thinking::parse(t).ok_or_else(|| {
                format!(
                    "agents.defaults.thinkingDefault is {:?}. Fix: {THINKING_FIX}",
                    t.chars().take(40).collect::<String>()
                )
            })?),
            None => None,
        },
    };
    Ok(Target {
        reasoning,
        thinking,
        context_window,
        provider,
        model,
        api,
        base_url: base,
        api_key,
        key_source,
        timeout,
        images,
        max_tokens,
        headers,
        cache_retention,
        cost,
        stream_usage,
    })
}

/// A model entry's `cost` (`input`, `output`, `cacheRead`, `cacheWrite`: non-negative
/// numbers, missing ones 0); `Err` says what is wrong.
fn cost_rates(v: &serde_json::Value) -> Result<openclaw_actors::ports::CostRates, String> {
    let o = v.as_object().ok_or("is not an object")?;
    let rate = |k: &str| -> Result<f64, String> {
        match o.get(k) {
            None | Some(serde_json::Value::Null) => Ok(0.0),
            Some(x) => match x.as_f64() {
                Some(n) if (0.0..=1_000_000.0).contains(&n) => Ok(n),
                _ => Err(format!("has {k} = {x}, not a price from 0 to 1000000")),
            },
        }
    };
    Ok(openclaw_actors::ports::CostRates {
        input: rate("input")?,
        output: rate("output")?,
        cache_read: rate("cacheRead")?,
        cache_write: rate("cacheWrite")?,
    })
}

/// What a thinking level may be.
const THINKING_FIX: &str = "one of off, minimal, low, medium, high, xhigh";

/// A `params.thinking` value: a level's name, or `false` for `off`.
fn thinking_of(v: &serde_json::Value) -> Option<openclaw_actors::ports::Thinking> {
    match v {
        serde_json::Value::String(s) => openclaw_actors::ports::Thinking::parse(s),
        serde_json::Value::Bool(false) => Some(openclaw_actors::ports::Thinking::Off),
        _ => None,
    }
}

/// A config value, short, for a message.
fn truncate_value(v: &serde_json::Value) -> String {
    v.to_string().chars().take(40).collect()
}

/// Whether a built-in provider's model reasons when its entry does not say: OpenAI's
/// o-series and GPT-5 on, Claude from 3.7 on, Gemini 2.5 and 3; others only when their
/// entry says `reasoning: true`.
fn reasons_by_default(provider: &str, model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    match provider {
        "openai" => ["o1", "o3", "o4", "gpt-5", "gpt-6"]
            .iter()
            .any(|p| m.starts_with(p)),
        "anthropic" => {
            m.starts_with("claude")
                && ![
                    "claude-2",
                    "claude-instant",
                    "claude-3-haiku",
                    "claude-3-opus",
                    "claude-3-sonnet",
                    "claude-3-5",
                ]
                .iter()
                .any(|p| m.starts_with(p))
        }
        "google" => m.starts_with("gemini-2.5") || m.starts_with("gemini-3"),
        _ => false,
    }
}

/// Whether a built-in provider's model sees images when no `input` says: Claude and
/// Gemini models do, and OpenAI's current families.
fn sees_images_by_default(provider: &str, model: &str) -> bool {
    match provider {
        "anthropic" | "google" => true,
        "openai" => ["gpt-4o", "gpt-4.1", "gpt-5", "gpt-6", "o3", "o4"]
            .iter()
            .any(|p| model.starts_with(p)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(text: &str) -> Config {
        let v: serde_json::Value = json5::from_str(text).unwrap();
        serde_json::from_value(v).unwrap()
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<&str, &str> = pairs.iter().copied().collect();
        move |k| m.get(k).map(|v| (*v).to_owned())
    }

    #[test]
    fn a_builtin_provider_needs_only_its_key() {
        let c = cfg(r#"{agents: {defaults: {model: "anthropic/claude-opus-5"}}}"#);
        let p = plan(&c, &env_of(&[("ANTHROPIC_API_KEY", "sk-ant")]))
            .unwrap()
            .unwrap();
        assert_eq!(p.primary.api, Api::AnthropicMessages);
        assert_eq!(p.primary.base_url, "https://api.anthropic.com");
        assert_eq!(p.primary.api_key.as_deref(), Some("sk-ant"));
        assert!(p.primary.images);
        assert!(p.fallbacks.is_empty());

        let err = plan(&c, &env_of(&[])).unwrap_err();
        assert!(
            err.contains("ANTHROPIC_API_KEY") && err.contains("Fix"),
            "{err}"
        );

        let g = cfg(r#"{agents: {defaults: {model: {primary: "google/gemini-3.5-flash"}}}}"#);
        let p = plan(&g, &env_of(&[("GOOGLE_API_KEY", "g")]))
            .unwrap()
            .unwrap();
        assert_eq!(p.primary.api_key.as_deref(), Some("g"));
        assert_eq!(p.primary.api, Api::OpenAiCompletions);

        // OpenAI's own models go over its Responses API, as in OpenClaw; an entry may ask
        // for chat completions, and any provider may speak the Responses API.
        let api_of = |text: &str| {
            plan(&cfg(text), &env_of(&[("OPENAI_API_KEY", "k")]))
                .unwrap()
                .unwrap()
                .primary
                .api
        };
        assert_eq!(
            api_of(r#"{agents: {defaults: {model: "openai/gpt-5"}}}"#),
            Api::OpenAiResponses
        );
        assert_eq!(
            api_of(
                r#"{models: {providers: {openai: {api: "openai-completions"}}}, agents: {defaults: {model: "openai/gpt-5"}}}"#
            ),
            Api::OpenAiCompletions
        );
        assert_eq!(
            api_of(
                r#"{models: {providers: {lms: {baseUrl: "http://127.0.0.1:1234/v1", api: " openai-responses "}}}, agents: {defaults: {model: "lms/qwen"}}}"#
            ),
            Api::OpenAiResponses
        );
        assert_eq!(Api::OpenAiResponses.name(), "openai-responses");

        // Which models reason, and their thinking level when a chat names none.
        use openclaw_actors::ports::Thinking;
        let t = |text: &str| {
            plan(
                &cfg(text),
                &env_of(&[("OPENAI_API_KEY", "k"), ("ANTHROPIC_API_KEY", "a")]),
            )
            .map(|p| p.map(|p| (p.primary.reasoning, p.primary.thinking)))
        };
        assert_eq!(
            t(r#"{agents: {defaults: {model: "openai/gpt-5"}}}"#),
            Ok(Some((true, None)))
        );
        assert_eq!(
            t(r#"{agents: {defaults: {model: "openai/gpt-4o", thinkingDefault: "high"}}}"#),
            Ok(Some((false, Some(Thinking::High))))
        );
        assert_eq!(
            t(r#"{agents: {defaults: {model: "anthropic/claude-3-5-haiku"}}}"#),
            Ok(Some((false, None)))
        );
        assert_eq!(
            t(
                r#"{agents: {defaults: {model: "anthropic/claude-opus-5", thinkingDefault: "low",
                models: {"anthropic/claude-opus-5": {params: {thinking: "x-high"}}}}}}"#
            ),
            Ok(Some((true, Some(Thinking::Xhigh)))),
            "the model's params.thinking over thinkingDefault"
        );
        assert_eq!(
            t(
                r#"{models: {providers: {lms: {baseUrl: "http://127.0.0.1:1234/v1",
                models: [{id: "qwen3", reasoning: true}]}}},
                agents: {defaults: {model: "lms/qwen3", models: {"lms/qwen3": {params: {thinking: false}}}}}}"#
            ),
            Ok(Some((true, Some(Thinking::Off))))
        );
        let err = t(r#"{agents: {defaults: {model: "openai/gpt-5", thinkingDefault: "ultra"}}}"#)
            .unwrap_err();
        assert!(
            err.contains("agents.defaults.thinkingDefault") && err.contains("Fix: one of off"),
            "{err}"
        );
        let err = t(r#"{agents: {defaults: {model: "openai/gpt-5",
            models: {"openai/gpt-5": {params: {thinking: 3}}}}}}"#)
        .unwrap_err();
        assert!(
            err.contains("params.thinking") && err.contains("Fix:"),
            "{err}"
        );

        // Local servers need no key; the model id keeps its slashes and colons.
        let o = cfg(r#"{agents: {defaults: {model: "ollama/qwen3:32b"}}}"#);
        let p = plan(&o, &env_of(&[])).unwrap().unwrap();
        assert_eq!(p.primary.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(p.primary.model, "qwen3:32b");
        let r = cfg(r#"{agents: {defaults: {model: "openrouter/anthropic/claude-sonnet-4-6"}}}"#);
        let p = plan(&r, &env_of(&[("OPENROUTER_API_KEY", "or")]))
            .unwrap()
            .unwrap();
        assert_eq!(p.primary.model, "anthropic/claude-sonnet-4-6");
    }

    #[test]
    fn model_costs_and_streaming_usage_are_read_and_checked() {
        let c = cfg(
            r#"{models: {providers: {custom: {baseUrl: "http://127.0.0.1:9/v1",
                 models: [{id: "m", cost: {input: 3, output: 15, cacheRead: 0.3},
                           compat: {supportsUsageInStreaming: false}}]}}},
               agents: {defaults: {model: {primary: "custom/m"}}}}"#,
        );
        let p = plan(&c, &env_of(&[])).unwrap().unwrap();
        let rates = p.primary.cost.expect("rates");
        assert_eq!(
            (
                rates.input,
                rates.output,
                rates.cache_read,
                rates.cache_write
            ),
            (3.0, 15.0, 0.3, 0.0)
        );
        assert!(!p.primary.stream_usage);
        for bad in [r#""cheap""#, r#"{input: -1}"#, r#"{output: "x"}"#] {
            let c = cfg(&format!(
                r#"{{models: {{providers: {{custom: {{baseUrl: "http://127.0.0.1:9/v1",
                     models: [{{id: "m", cost: {bad}}}]}}}}}},
                   agents: {{defaults: {{model: {{primary: "custom/m"}}}}}}}}"#
            ));
            let e = plan(&c, &env_of(&[])).expect_err(bad);
            assert!(
                e.contains("models.providers.custom.models[m].cost") && e.contains("Fix:"),
                "{e}"
            );
        }
    }

    #[test]
    fn entries_override_and_keys_resolve() {
        let c = cfg(r#"{models: {providers: {
                 ollama: {baseUrl: "http://gpu:11434", api: "ollama", timeoutSeconds: 300,
                          models: [{id: "llava", input: ["text", "image"], maxTokens: 900}]},
                 minimax: {apiKey: "MINIMAX_API_KEY", headers: {"X-Org": "o"}},
                 custom: {baseUrl: "http://127.0.0.1:9/v1/", models: [{id: "m"}]}}},
               agents: {defaults: {
                 models: {"minimax/MiniMax-M3": {alias: "mm", params: {maxTokens: 4000}}},
                 model: {primary: "ollama/llava", fallbacks: ["mm", "m", "ollama/llava", "mm"]}}}}"#);
        let p = plan(
            &c,
            &env_of(&[("MINIMAX_API_KEY", "mk"), ("CUSTOM_API_KEY", "ck")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.primary.base_url, "http://gpu:11434/v1");
        assert_eq!(p.primary.timeout, Some(Duration::from_secs(300)));
        assert!(p.primary.images);
        assert_eq!(p.primary.max_tokens, Some(900));
        let labels: Vec<String> = p.fallbacks.iter().map(Target::label).collect();
        assert_eq!(
            labels,
            ["minimax/MiniMax-M3", "custom/m"],
            "deduplicated, in order"
        );
        let mm = &p.fallbacks[0];
        assert_eq!(mm.api, Api::AnthropicMessages);
        assert_eq!(
            mm.api_key.as_deref(),
            Some("mk"),
            "apiKey naming a set variable"
        );
        assert_eq!(mm.max_tokens, Some(4000));
        assert_eq!(mm.headers, [("X-Org".to_owned(), "o".to_owned())]);
        let custom = &p.fallbacks[1];
        assert_eq!(custom.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(custom.api_key.as_deref(), Some("ck"), "<ID>_API_KEY");
        assert_eq!(custom.key_source.as_deref(), Some("CUSTOM_API_KEY"));
        assert_eq!(mm.key_source.as_deref(), Some("MINIMAX_API_KEY"));
        assert!(!format!("{custom:?}").contains("ck"));
    }

    #[test]
    fn refusals_name_the_key_and_the_fix() {
        let e = |text: &str| plan(&cfg(text), &env_of(&[("OPENAI_API_KEY", "k")])).unwrap_err();
        let err = e(r#"{agents: {defaults: {model: "nope/x"}}}"#);
        assert!(
            err.contains("\"nope\"") && err.contains("anthropic"),
            "{err}"
        );
        let err = e(r#"{agents: {defaults: {model: "gpt"}}}"#);
        assert!(err.contains("<provider>/<model>"), "{err}");
        let err = e(
            r#"{models: {providers: {openai: {api: "google-generative-ai"}}}, agents: {defaults: {model: "openai/gpt-5"}}}"#,
        );
        assert!(
            err.contains("google-generative-ai")
                && err.contains("openai-responses")
                && err.contains("Fix"),
            "{err}"
        );
        let err = e(
            r#"{models: {providers: {x: {models: [{id: "m"}]}}}, agents: {defaults: {model: "x/m"}}}"#,
        );
        assert!(err.contains("models.providers.x.baseUrl"), "{err}");
        let err = e(
            r#"{models: {providers: {x: {baseUrl: "ftp://h"}}}, agents: {defaults: {model: "x/m"}}}"#,
        );
        assert!(err.contains("http(s)"), "{err}");
        let err = e(
            r#"{agents: {defaults: {model: {primary: "openai/gpt-5", fallbacks: ["anthropic/c"]}}}}"#,
        );
        assert!(
            err.contains("fallbacks[0]") && err.contains("ANTHROPIC_API_KEY"),
            "{err}"
        );
        let err = e(
            r#"{models: {providers: {a: {baseUrl: "http://h", models: [{id: "m"}]}, b: {baseUrl: "http://h", models: [{id: "m"}]}}},
               agents: {defaults: {model: "m"}}}"#,
        );
        assert!(err.contains("several providers"), "{err}");
        let err = e(
            r#"{models: {providers: {openai: {headers: {"Bad Name": "v"}}}}, agents: {defaults: {model: "openai/gpt-5"}}}"#,
        );
        assert!(err.contains("headers"), "{err}");
        let err = e(
            r#"{models: {providers: {openai: {apiKey: "MY_OPENAI_KEY"}}}, agents: {defaults: {model: "openai/gpt-5"}}}"#,
        );
        assert!(
            err.contains("MY_OPENAI_KEY") && err.contains("not set"),
            "{err}"
        );
        let err = e(
            r#"{agents: {defaults: {params: {cacheRetention: "forever"}, model: "openai/gpt-5"}}}"#,
        );
        assert!(
            err.contains("cacheRetention") && err.contains("Fix"),
            "{err}"
        );
        let err = e(r#"{agents: {defaults: {model: {fallbacks: ["openai/gpt-5"]}}}}"#);
        assert!(err.contains("no primary"), "{err}");
    }

    #[test]
    fn no_model_is_the_command_agent() {
        assert!(plan(&cfg("{}"), &env_of(&[])).unwrap().is_none());
    }
}
