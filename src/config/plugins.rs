//! `plugins` (OpenClaw's plugin entries): only the web search providers this gateway has
//! built in are read, `plugins.entries.brave`, `perplexity`, `exa`, `tavily` and `searxng`
//! (`enabled`, `config.webSearch.*`). Other plugins are reported as unsupported keys.

use serde::{Deserialize, Serialize};

/// `plugins`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginsCfg {
    /// `plugins.entries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<PluginEntriesCfg>,
}

/// `plugins.entries`: the built-in ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginEntriesCfg {
    /// Brave Search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brave: Option<PluginEntryCfg>,
    /// SearXNG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searxng: Option<PluginEntryCfg>,
    /// The Perplexity Search API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<PluginEntryCfg>,
    /// Exa.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exa: Option<PluginEntryCfg>,
    /// Tavily.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tavily: Option<PluginEntryCfg>,
    /// Device pairing (`plugins.entries.device-pair.config.publicUrl`: the URL setup codes
    /// point at).
    #[serde(
        default,
        rename = "device-pair",
        skip_serializing_if = "Option::is_none"
    )]
    pub device_pair: Option<DevicePairEntryCfg>,
}

/// `plugins.entries.device-pair`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePairEntryCfg {
    /// Accepted (device pairing is always on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<DevicePairConfigCfg>,
}

/// `plugins.entries.device-pair.config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePairConfigCfg {
    /// The gateway URL setup codes and join URLs carry (`wss://gateway.example`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// `plugins.entries.<id>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginEntryCfg {
    /// `false` turns the provider off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PluginConfigCfg>,
}

/// `plugins.entries.<id>.config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginConfigCfg {
    /// `webSearch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_search: Option<SearchProviderCfg>,
}

/// A search provider's settings (`plugins.entries.<id>.config.webSearch`, or the legacy
/// `tools.web.search.<id>`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchProviderCfg {
    /// The provider's API key (Brave, Perplexity, Exa, Tavily).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The provider's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Brave's transport (`web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// SearXNG's categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<String>,
    /// SearXNG's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Perplexity's Sonar model (OpenClaw's OpenRouter path; refused when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl PluginsCfg {
    /// `plugins.entries.<id>` of a built-in provider.
    pub fn entry(&self, id: &str) -> Option<&PluginEntryCfg> {
        let e = self.entries.as_ref()?;
        match id {
            "brave" => e.brave.as_ref(),
            "searxng" => e.searxng.as_ref(),
            "perplexity" => e.perplexity.as_ref(),
            "exa" => e.exa.as_ref(),
            "tavily" => e.tavily.as_ref(),
            _ => None,
        }
    }

    /// `plugins.entries.<id>.config.webSearch`.
    pub fn web_search(&self, id: &str) -> Option<&SearchProviderCfg> {
        self.entry(id)?.config.as_ref()?.web_search.as_ref()
    }
}

impl super::Config {
    /// `tools.web.search` with its providers' settings (`plugins.entries.<id>.config.
    /// webSearch`, then the legacy `tools.web.search` spellings, then `BRAVE_API_KEY`,
    /// `PERPLEXITY_API_KEY`, `EXA_API_KEY`, `TAVILY_API_KEY` / `TAVILY_BASE_URL`,
    /// `SEARXNG_BASE_URL`); `Err` names the key and the fix.
    pub fn web_search_settings(
        &self,
    ) -> Result<openclaw_actors::web_search::WebSearchSettings, String> {
        let s = self
            .tools
            .web
            .as_ref()
            .and_then(|w| w.search.clone())
            .unwrap_or_default();
        let plugins = self.plugins.clone().unwrap_or_default();
        let legacy = |id: &str| match id {
            "brave" => s.brave.clone(),
            "perplexity" => s.perplexity.clone(),
            "searxng" => s.searxng.clone(),
            _ => None,
        };
        // Plugin config first, then the legacy block, field by field.
        let field = |id: &str, f: fn(&SearchProviderCfg) -> Option<String>| -> Option<String> {
            plugins
                .web_search(id)
                .and_then(f)
                .or_else(|| legacy(id).as_ref().and_then(f))
                .filter(|v| !v.trim().is_empty())
        };
        let brave_key = field("brave", |c| c.api_key.clone())
            .or_else(|| s.api_key.clone().filter(|k| !k.trim().is_empty()))
            .or_else(|| self.env_var("BRAVE_API_KEY"));
        let brave_base = field("brave", |c| c.base_url.clone());
        let brave_mode = field("brave", |c| c.mode.clone());
        let searxng_base =
            field("searxng", |c| c.base_url.clone()).or_else(|| self.env_var("SEARXNG_BASE_URL"));
        let categories = field("searxng", |c| c.categories.clone());
        let language = field("searxng", |c| c.language.clone());
        let perplexity_key = field("perplexity", |c| c.api_key.clone())
            .or_else(|| self.env_var("PERPLEXITY_API_KEY"));
        let perplexity_base = field("perplexity", |c| c.base_url.clone());
        let perplexity_model = field("perplexity", |c| c.model.clone());
        let exa_key = field("exa", |c| c.api_key.clone()).or_else(|| self.env_var("EXA_API_KEY"));
        let exa_base = field("exa", |c| c.base_url.clone());
        let tavily_key =
            field("tavily", |c| c.api_key.clone()).or_else(|| self.env_var("TAVILY_API_KEY"));
        let tavily_base =
            field("tavily", |c| c.base_url.clone()).or_else(|| self.env_var("TAVILY_BASE_URL"));
        openclaw_actors::web_search::WebSearchSettings::parse(
            &openclaw_actors::web_search::WebSearchKeys {
                enabled: s.enabled,
                provider: s.provider.as_deref(),
                max_results: s.max_results,
                timeout_seconds: s.timeout_seconds,
                cache_ttl_minutes: s.cache_ttl_minutes,
                brave_enabled: plugins.entry("brave").and_then(|e| e.enabled),
                brave_api_key: brave_key.as_deref(),
                brave_base_url: brave_base.as_deref(),
                brave_mode: brave_mode.as_deref(),
                perplexity_enabled: plugins.entry("perplexity").and_then(|e| e.enabled),
                perplexity_api_key: perplexity_key.as_deref(),
                perplexity_base_url: perplexity_base.as_deref(),
                perplexity_model: perplexity_model.as_deref(),
                exa_enabled: plugins.entry("exa").and_then(|e| e.enabled),
                exa_api_key: exa_key.as_deref(),
                exa_base_url: exa_base.as_deref(),
                tavily_enabled: plugins.entry("tavily").and_then(|e| e.enabled),
                tavily_api_key: tavily_key.as_deref(),
                tavily_base_url: tavily_base.as_deref(),
                searxng_enabled: plugins.entry("searxng").and_then(|e| e.enabled),
                searxng_base_url: searxng_base.as_deref(),
                searxng_categories: categories.as_deref(),
                searxng_language: language.as_deref(),
            },
        )
    }

    /// The web search keys in force, for the log redactor.
    pub fn web_search_secrets(&self) -> Vec<String> {
        self.web_search_settings()
            .map(|s| s.secrets())
            .unwrap_or_default()
    }
}
