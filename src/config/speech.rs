//! `tts` (OpenClaw's text to speech): when chat answers are also sent as voice notes, and
//! which provider speaks them ([`speech_plan`]).
//!
//! - `tts.auto`: `"off"` (default), `"always"` (every chat answer), `"inbound"` (the answer
//!   to a voice message), `"tagged"` (an answer with `[[tts:…]]` directives or a
//!   `[[tts:text]]` block). The legacy `enabled: true` means `"always"`.
//! - `tts.modelOverrides.enabled` (default `true`): a directive's knobs (voice, model,
//!   speed, …) apply to its answer's voice note; with `false` they are ignored (the
//!   directives are still taken out of the answer).
//! - `tts.provider` and `tts.providers.<id>`: `apiKey`, `model`, `speakerVoice` (or
//!   `voice`), `instructions`, `responseFormat` (`opus` for voice notes by default), `speed`,
//!   `baseUrl`, `extraBody`. The provider is spoken to over the OpenAI-compatible
//!   `POST {baseUrl}/audio/speech`; the base URL comes from the block, else
//!   `models.providers.<id>.baseUrl`, else the provider's public API (`openai`,
//!   `deepinfra`); the key from the block, else `models.providers.<id>.apiKey`, else
//!   `<ID>_API_KEY`. Without `provider`, the first of `openai`, `deepinfra` with a key.
//! - `tts.maxTextLength` (4096) caps what is spoken, `tts.timeoutMs` (30 s) each request.
//!
//! - `tts.providers.elevenlabs`: ElevenLabs' own API (`POST {baseUrl}/v1/text-to-speech/
//!   {voiceId}`, key in `xi-api-key`): `apiKey` (else `ELEVENLABS_API_KEY`, `XI_API_KEY`),
//!   `voiceId`, `modelId`, `voiceSettings` (`stability`, `similarityBoost`, `style`,
//!   `useSpeakerBoost`, `speed`), `seed`, `applyTextNormalization`, `languageCode`,
//!   `outputFormat`, `baseUrl` (default `https://api.elevenlabs.io`).
//!
//! `talk` (the apps' Talk mode, [`talk_plan`]): `talk.provider` (or the only key of
//! `talk.providers`) and `talk.providers.<id>` over `tts.providers.<id>`, as OpenClaw's
//! `buildTalkTtsConfig`: `voiceId`, `modelId`, `apiKey`, `baseUrl`, `outputFormat`,
//! `voiceAliases`, `voiceSettings`, … The apps read the rest of the section through
//! `talk.config`; `talk.speak` synthesizes with this speaker so the key stays here.
//!
//! Other OpenClaw keys (`mode`, `persona`, `personas`, `summaryModel`, `modelOverrides`) are
//! accepted and not read: long answers are cut, not summarized.

use std::collections::BTreeMap;
use std::time::Duration;

use openclaw_actors::speech::{AutoSpeech, DEFAULT_MAX_LENGTH, SpeechPolicy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `tts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TtsCfg {
    /// `off`, `always`, `inbound`, `tagged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<String>,
    /// Legacy: `true` means `auto: "always"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Provider blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<BTreeMap<String, TtsProviderCfg>>,
    /// Characters spoken at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_text_length: Option<usize>,
    /// Per-request timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Accepted, not read (`final` is what is done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// Accepted, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personas: Option<Value>,
    /// Accepted, not read (long answers are cut, not summarized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_model: Option<String>,
    /// `enabled: false` ignores the knobs of `[[tts:…]]` directives (the rest of the
    /// block is accepted, not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_overrides: Option<Value>,
}

/// `tts.providers.<id>` (OpenClaw's block takes any provider-specific key).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TtsProviderCfg {
    /// API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker_voice: Option<String>,
    /// Legacy voice key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// OpenAI's `instructions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// `opus` (default), `mp3`, `wav`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<String>,
    /// Speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// OpenAI-compatible base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Extra request fields (`extraBody` or `extra_body`).
    #[serde(default, alias = "extra_body", skip_serializing_if = "Option::is_none")]
    pub extra_body: Option<Map<String, Value>>,
    /// Voice id (ElevenLabs; Talk's name for the voice of any provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
    /// Model id (ElevenLabs; Talk's name for the model of any provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// ElevenLabs' `output_format` (`mp3_44100_128`, `opus_48000_64`, `pcm_24000`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    /// ElevenLabs voice settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_settings: Option<VoiceSettingsCfg>,
    /// ElevenLabs seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// ElevenLabs `apply_text_normalization` (`auto`, `on`, `off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_text_normalization: Option<String>,
    /// ElevenLabs `language_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    /// Talk: names a client may use for a voice (`{"Rachel": "21m00Tcm4TlvDq8ikWAM"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_aliases: Option<BTreeMap<String, String>>,
    /// Any other provider-specific key (accepted, not read).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// ElevenLabs `voiceSettings` (out-of-range values are dropped, as in OpenClaw).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VoiceSettingsCfg {
    /// 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<f64>,
    /// 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity_boost: Option<f64>,
    /// 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<f64>,
    /// Speaker boost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_speaker_boost: Option<bool>,
    /// 0.5–2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
}

/// `talk`: the apps' Talk mode. Only the speech provider is read here; every other key
/// (`speechLocale`, `silenceTimeoutMs`, `interruptOnSpeech`, `realtime`, …) is for the apps,
/// which read the section through `talk.config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TalkCfg {
    /// The Talk speech provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Provider blocks (over `tts.providers.<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<BTreeMap<String, TtsProviderCfg>>,
    /// The apps' keys.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl std::fmt::Debug for TtsProviderCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtsProviderCfg")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Default `timeoutMs`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `maxTextLength`.
pub const DEFAULT_MAX_TEXT_LENGTH: usize = 4096;

/// Providers with a public OpenAI-compatible `/audio/speech`: base URL, model, voice.
const KNOWN: &[(&str, &str, &str, &str)] = &[
    (
        "openai",
        "https://api.openai.com/v1",
        "gpt-4o-mini-tts",
        "coral",
    ),
    (
        "deepinfra",
        "https://api.deepinfra.com/v1/openai",
        "hexgrad/Kokoro-82M",
        "af_bella",
    ),
];

/// ElevenLabs: its provider id, public API and defaults (OpenClaw's).
pub const ELEVENLABS: &str = "elevenlabs";
/// ElevenLabs' public API.
pub const ELEVENLABS_BASE_URL: &str = "https://api.elevenlabs.io";
/// OpenClaw's default ElevenLabs voice.
pub const ELEVENLABS_DEFAULT_VOICE: &str = "pMsXgVXv3BLzUgSXRplE";
/// OpenClaw's default ElevenLabs model.
pub const ELEVENLABS_DEFAULT_MODEL: &str = "eleven_multilingual_v2";
/// ElevenLabs' speech models (what `tts.providers` lists).
pub const ELEVENLABS_MODELS: &[&str] = &[
    "eleven_v3",
    "eleven_multilingual_v2",
    "eleven_flash_v2_5",
    "eleven_flash_v2",
    "eleven_turbo_v2_5",
    "eleven_monolingual_v1",
];
/// OpenAI's speech models and voices (what `tts.providers` lists).
pub const OPENAI_MODELS: &[&str] = &["gpt-4o-mini-tts", "tts-1", "tts-1-hd"];
/// OpenAI's built-in voices.
pub const OPENAI_VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage",
    "shimmer", "verse",
];

/// How a provider is spoken to.
#[derive(Clone, Debug, PartialEq)]
pub enum Engine {
    /// `POST {url}` with JSON `{model, voice, input, response_format, …}`.
    OpenAi {
        /// `…/audio/speech`.
        url: String,
        /// The JSON body without `input` and `response_format`.
        body: Map<String, Value>,
        /// `responseFormat` as configured (else Opus for voice notes, MP3 for clips).
        response_format: Option<String>,
        /// Whether the endpoint is OpenAI's own (speed is bounded to 0.25–4 there).
        official: bool,
    },
    /// `POST {base}/v1/text-to-speech/{voice}?output_format=…` with `xi-api-key`.
    ElevenLabs {
        /// The API base without a trailing slash.
        base: String,
        /// The voice id (checked: 10–40 ASCII letters and digits).
        voice_id: String,
        /// The model id.
        model_id: String,
        /// `outputFormat` as configured.
        output_format: Option<String>,
        /// The voice settings (OpenClaw's defaults under the configured ones).
        settings: ElevenSettings,
        /// `seed`.
        seed: Option<u64>,
        /// `apply_text_normalization`.
        normalization: Option<String>,
        /// `language_code`.
        language: Option<String>,
    },
}

/// ElevenLabs voice settings as sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElevenSettings {
    /// `stability`.
    pub stability: f64,
    /// `similarity_boost`.
    pub similarity_boost: f64,
    /// `style`.
    pub style: f64,
    /// `use_speaker_boost`.
    pub use_speaker_boost: bool,
    /// `speed`.
    pub speed: f64,
}

impl Default for ElevenSettings {
    fn default() -> Self {
        Self {
            stability: 0.5,
            similarity_boost: 0.75,
            style: 0.0,
            use_speaker_boost: true,
            speed: 1.0,
        }
    }
}

impl ElevenSettings {
    /// These settings with the in-range values of `c` over them.
    pub fn with(mut self, c: &VoiceSettingsCfg) -> Self {
        let unit = |v: Option<f64>| v.filter(|x| (0.0..=1.0).contains(x));
        if let Some(v) = unit(c.stability) {
            self.stability = v;
        }
        if let Some(v) = unit(c.similarity_boost) {
            self.similarity_boost = v;
        }
        if let Some(v) = unit(c.style) {
            self.style = v;
        }
        if let Some(v) = c.use_speaker_boost {
            self.use_speaker_boost = v;
        }
        if let Some(v) = c.speed.filter(|x| (0.5..=2.0).contains(x)) {
            self.speed = v;
        }
        self
    }
}

/// Whether `id` is an ElevenLabs voice id as OpenClaw accepts one (it goes into the URL
/// path: nothing but 10–40 ASCII letters and digits).
pub fn is_eleven_voice_id(id: &str) -> bool {
    (10..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `f` may be sent as an ElevenLabs `output_format` (it goes into the query).
pub fn is_output_format(f: &str) -> bool {
    (1..=32).contains(&f.len())
        && f.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The resolved speaker.
#[derive(Clone)]
pub struct SpeechPlan {
    /// `openai/gpt-4o-mini-tts (coral)`.
    pub label: String,
    /// The provider id.
    pub provider: String,
    /// How it is spoken to.
    pub engine: Engine,
    /// The key (Bearer for OpenAI-compatible servers, `xi-api-key` for ElevenLabs).
    pub api_key: Option<String>,
    /// Talk's `voiceAliases`, lower-cased names.
    pub voice_aliases: BTreeMap<String, String>,
    /// Per request.
    pub timeout: Duration,
    /// When and how much.
    pub policy: SpeechPolicy,
}

impl std::fmt::Debug for SpeechPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechPlan")
            .field("label", &self.label)
            .field("engine", &self.engine)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The speech plan of `cfg` (`Ok(None)`: answers stay text). `Err` names the key and the fix.
pub fn speech_plan(
    cfg: &super::Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SpeechPlan>, String> {
    let default = TtsCfg::default();
    let tts = cfg.tts.as_ref().unwrap_or(&default);
    let auto = match tts.auto.as_deref().map(str::trim) {
        None if tts.enabled == Some(true) => AutoSpeech::Always,
        // Off: a provider that resolves is still kept, for a chat's `/tts on`; one that
        // does not is no error (nothing asked for speech).
        None | Some("off") => {
            return Ok(resolve(cfg, tts, AutoSpeech::Off, env).ok().flatten());
        }
        Some("always") => AutoSpeech::Always,
        Some("inbound") => AutoSpeech::Inbound,
        Some("tagged") => AutoSpeech::Tagged,
        Some(other) => {
            return Err(format!(
                "tts.auto is {other:?}. Fix: use \"off\", \"always\", \"inbound\" or \"tagged\""
            ));
        }
    };
    resolve(cfg, tts, auto, env)
}

/// Why Talk has no speaker: OpenClaw's `talk.speak` error reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkUnavailable {
    /// `talk_unconfigured` or `talk_provider_unsupported` (the apps then speak with the
    /// phone's own voice).
    pub reason: &'static str,
    /// What to fix.
    pub message: String,
}

/// The Talk speaker of `cfg` (the apps' `talk.speak`): `talk.provider` (or the only key of
/// `talk.providers`), its `talk.providers.<id>` block over `tts.providers.<id>`.
pub fn talk_plan(
    cfg: &super::Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SpeechPlan, TalkUnavailable> {
    let unconfigured = |m: String| TalkUnavailable {
        reason: "talk_unconfigured",
        message: m,
    };
    let talk = cfg.talk.as_ref().ok_or_else(|| {
        unconfigured("talk.speak unavailable: talk provider not configured. Fix: set talk.provider (e.g. \"elevenlabs\" or \"openai\") and its key in talk.providers.<id>".into())
    })?;
    let talk_blocks = talk.providers.clone().unwrap_or_default();
    let id = match talk
        .provider
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => p.to_owned(),
        None if talk_blocks.len() == 1 => talk_blocks.keys().next().cloned().unwrap_or_default(),
        None => {
            return Err(unconfigured(
                "talk.speak unavailable: talk provider not configured. Fix: set talk.provider (e.g. \"elevenlabs\" or \"openai\")".into(),
            ));
        }
    };
    let id = id.to_ascii_lowercase();
    let default = TtsCfg::default();
    let tts = cfg.tts.as_ref().unwrap_or(&default);
    let base = tts
        .providers
        .as_ref()
        .and_then(|p| p.get(&id))
        .cloned()
        .unwrap_or_default();
    let top = talk_blocks
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&id))
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    let block = overlay(base, top);
    let supported = id == ELEVENLABS
        || KNOWN.iter().any(|(k, ..)| *k == id)
        || block.base_url.is_some()
        || cfg
            .models
            .providers
            .get(&id)
            .is_some_and(|p| p.base_url.is_some());
    if !supported {
        return Err(TalkUnavailable {
            reason: "talk_provider_unsupported",
            message: format!(
                "talk.speak unavailable: speech provider \"{id}\" does not support Talk mode. Fix: use \"elevenlabs\" or \"openai\", or set talk.providers.{id}.baseUrl to an OpenAI-compatible speech server"
            ),
        });
    }
    let mut plan = engine_of(
        cfg,
        tts,
        &id,
        &block,
        "talk.providers",
        AutoSpeech::Off,
        env,
    )
    .map_err(|message| TalkUnavailable {
        reason: "talk_unconfigured",
        message,
    })?;
    if !has_access(cfg, &id, &block, &plan) {
        return Err(unconfigured(format!(
            "talk.speak unavailable: no API key for \"{id}\". Fix: set talk.providers.{id}.apiKey (or tts.providers.{id}.apiKey, or {}_API_KEY in the gateway's environment)",
            id.to_ascii_uppercase()
        )));
    }
    plan.voice_aliases = block
        .voice_aliases
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.trim().to_lowercase(), v))
        .collect();
    Ok(plan)
}

/// `top`'s keys over `base`'s.
fn overlay(base: TtsProviderCfg, top: TtsProviderCfg) -> TtsProviderCfg {
    let mut other = base.other;
    other.extend(top.other);
    TtsProviderCfg {
        api_key: top
            .api_key
            .filter(|k| !k.trim().is_empty())
            .or(base.api_key),
        model: top.model.or(base.model),
        speaker_voice: top.speaker_voice.or(base.speaker_voice),
        voice: top.voice.or(base.voice),
        instructions: top.instructions.or(base.instructions),
        response_format: top.response_format.or(base.response_format),
        speed: top.speed.or(base.speed),
        base_url: top.base_url.or(base.base_url),
        extra_body: top.extra_body.or(base.extra_body),
        voice_id: top.voice_id.or(base.voice_id),
        model_id: top.model_id.or(base.model_id),
        output_format: top.output_format.or(base.output_format),
        voice_settings: match (base.voice_settings, top.voice_settings) {
            (Some(b), Some(t)) => Some(VoiceSettingsCfg {
                stability: t.stability.or(b.stability),
                similarity_boost: t.similarity_boost.or(b.similarity_boost),
                style: t.style.or(b.style),
                use_speaker_boost: t.use_speaker_boost.or(b.use_speaker_boost),
                speed: t.speed.or(b.speed),
            }),
            (b, t) => t.or(b),
        },
        seed: top.seed.or(base.seed),
        apply_text_normalization: top
            .apply_text_normalization
            .or(base.apply_text_normalization),
        language_code: top.language_code.or(base.language_code),
        voice_aliases: top.voice_aliases.or(base.voice_aliases),
        other,
    }
}

/// The key of provider `id`: its block's, else `models.providers.<id>`'s or `<ID>_API_KEY`
/// (ElevenLabs also `XI_API_KEY`).
fn key_of(
    cfg: &super::Config,
    id: &str,
    block: &TtsProviderCfg,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    block
        .api_key
        .clone()
        .filter(|k| !k.trim().is_empty())
        .or_else(|| {
            super::models::provider_key(cfg, id, env)
                .ok()
                .flatten()
                .map(|(k, _)| k)
        })
        .or_else(|| (id == ELEVENLABS).then(|| env("XI_API_KEY")).flatten())
}

/// Whether provider `id` has what it needs to speak: a key, or (OpenAI-compatible) a base
/// URL of its own, a local server that takes none.
pub fn is_configured(cfg: &super::Config, id: &str, env: &dyn Fn(&str) -> Option<String>) -> bool {
    let default = TtsCfg::default();
    let tts = cfg.tts.as_ref().unwrap_or(&default);
    let block = tts
        .providers
        .as_ref()
        .and_then(|p| p.get(id))
        .cloned()
        .unwrap_or_default();
    engine_of(cfg, tts, id, &block, "tts.providers", AutoSpeech::Off, env)
        .is_ok_and(|p| has_access(cfg, id, &block, &p))
}

/// Whether `plan` can be used: it has a key, or it speaks to a base URL configured for it
/// (a keyless local server).
fn has_access(cfg: &super::Config, id: &str, block: &TtsProviderCfg, plan: &SpeechPlan) -> bool {
    plan.api_key.is_some()
        || (matches!(plan.engine, Engine::OpenAi { .. })
            && (block.base_url.is_some()
                || cfg
                    .models
                    .providers
                    .get(id)
                    .is_some_and(|p| p.base_url.is_some())))
}

/// The speaker of `tts` for `auto`; `Ok(None)` when it is off and no provider is there.
fn resolve(
    cfg: &super::Config,
    tts: &TtsCfg,
    auto: AutoSpeech,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SpeechPlan>, String> {
    let blocks = tts.providers.clone().unwrap_or_default();
    let block_of = |id: &str| blocks.get(id).cloned().unwrap_or_default();
    let id = match tts
        .provider
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => p.to_owned(),
        None => match KNOWN
            .iter()
            .map(|(id, ..)| *id)
            .chain([ELEVENLABS])
            .find(|id| key_of(cfg, id, &block_of(id), env).is_some())
        {
            Some(id) => id.to_owned(),
            None if auto == AutoSpeech::Off => return Ok(None),
            None => {
                return Err(
                    "tts.auto is on but no speech provider is configured. Fix: set tts.provider (e.g. \"openai\" or \"elevenlabs\") with its key in tts.providers.<id>.apiKey, models.providers.<id>.apiKey or <ID>_API_KEY, or a tts.providers.<id>.baseUrl of an OpenAI-compatible speech server".into(),
                );
            }
        },
    };
    engine_of(cfg, tts, &id, &block_of(&id), "tts.providers", auto, env).map(Some)
}

/// The plan of provider `id` configured by `block` (`at`: where the block is, for errors).
fn engine_of(
    cfg: &super::Config,
    tts: &TtsCfg,
    id: &str,
    block: &TtsProviderCfg,
    at: &str,
    auto: AutoSpeech,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SpeechPlan, String> {
    let max_text = tts
        .max_text_length
        .unwrap_or(DEFAULT_MAX_TEXT_LENGTH)
        .clamp(10, DEFAULT_MAX_TEXT_LENGTH);
    let timeout = tts.timeout_ms.map_or(DEFAULT_TIMEOUT, |ms| {
        Duration::from_millis(ms.clamp(1000, 120_000))
    });
    let policy = SpeechPolicy {
        auto,
        max_length: DEFAULT_MAX_LENGTH.min(max_text),
        model_overrides: tts
            .model_overrides
            .as_ref()
            .and_then(|m| m.get("enabled"))
            .and_then(Value::as_bool)
            != Some(false),
    };
    let base_of = |default: Option<&str>| -> Result<Option<String>, String> {
        let Some(base) = block
            .base_url
            .clone()
            .or_else(|| {
                cfg.models
                    .providers
                    .get(id)
                    .and_then(|p| p.base_url.clone())
            })
            .or_else(|| default.map(str::to_owned))
        else {
            return Ok(None);
        };
        let base = base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "{at}.{id}.baseUrl {base:?} is not an http(s) URL. Fix: e.g. \"https://api.openai.com/v1\""
            ));
        }
        Ok(Some(base))
    };
    if id == ELEVENLABS {
        let base = base_of(Some(ELEVENLABS_BASE_URL))?.unwrap_or_default();
        let voice_id = block
            .voice_id
            .clone()
            .or_else(|| block.speaker_voice.clone())
            .or_else(|| block.voice.clone())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| ELEVENLABS_DEFAULT_VOICE.to_owned());
        if !is_eleven_voice_id(&voice_id) {
            return Err(format!(
                "{at}.elevenlabs.voiceId {voice_id:?} is not an ElevenLabs voice id. Fix: use the id from the voice's page (10–40 letters and digits), e.g. \"{ELEVENLABS_DEFAULT_VOICE}\""
            ));
        }
        let model_id = block
            .model_id
            .clone()
            .or_else(|| block.model.clone())
            .map(|m| eleven_model(m.trim()))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| ELEVENLABS_DEFAULT_MODEL.to_owned());
        let output_format = block
            .output_format
            .clone()
            .map(|f| f.trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty());
        if let Some(f) = &output_format
            && !is_output_format(f)
        {
            return Err(format!(
                "{at}.elevenlabs.outputFormat {f:?} is not an ElevenLabs output format. Fix: e.g. \"mp3_44100_128\", \"opus_48000_64\" or \"pcm_24000\""
            ));
        }
        let settings = block
            .voice_settings
            .as_ref()
            .map_or_else(ElevenSettings::default, |c| {
                ElevenSettings::default().with(c)
            });
        return Ok(SpeechPlan {
            label: format!("elevenlabs/{model_id} ({voice_id})"),
            provider: ELEVENLABS.to_owned(),
            engine: Engine::ElevenLabs {
                base,
                voice_id,
                model_id,
                output_format,
                settings,
                seed: block.seed.filter(|s| *s <= u64::from(u32::MAX)),
                normalization: block
                    .apply_text_normalization
                    .clone()
                    .map(|n| n.trim().to_ascii_lowercase())
                    .filter(|n| matches!(n.as_str(), "auto" | "on" | "off")),
                language: block.language_code.clone().and_then(|l| language_code(&l)),
            },
            api_key: key_of(cfg, id, block, env),
            voice_aliases: BTreeMap::new(),
            timeout,
            policy,
        });
    }
    let known = KNOWN.iter().find(|(k, ..)| *k == id);
    let base = base_of(known.map(|(_, url, ..)| *url))?.ok_or_else(|| {
        format!(
            "{at}.{id} has no OpenAI-compatible /audio/speech endpoint that openclaw-rs knows. Fix: set {at}.{id}.baseUrl to one (e.g. a local Kokoro or openedai-speech server), or use \"openai\", \"elevenlabs\" or \"deepinfra\""
        )
    })?;
    let model = block
        .model_id
        .clone()
        .or_else(|| block.model.clone())
        .or_else(|| known.map(|(_, _, m, _)| (*m).to_owned()))
        .ok_or_else(|| {
            format!("{at}.{id}.model is not set. Fix: name the speech model, e.g. \"tts-1\"")
        })?;
    let voice = block
        .voice_id
        .clone()
        .or_else(|| block.speaker_voice.clone())
        .or_else(|| block.voice.clone())
        .or_else(|| known.map(|(.., v)| (*v).to_owned()))
        .ok_or_else(|| {
            format!("{at}.{id}.speakerVoice is not set. Fix: name a voice, e.g. \"alloy\"")
        })?;
    let format = block
        .response_format
        .clone()
        .map(|f| f.trim().to_ascii_lowercase());
    if let Some(f) = &format
        && !matches!(f.as_str(), "opus" | "mp3" | "aac" | "flac" | "wav")
    {
        return Err(format!(
            "{at}.{id}.responseFormat {f:?} cannot be sent as a voice note. Fix: use \"opus\" (the default for voice notes), \"mp3\" or \"wav\""
        ));
    }
    let official = base == "https://api.openai.com/v1";
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.clone()));
    body.insert("voice".into(), Value::String(voice.clone()));
    if let Some(i) = block.instructions.clone().filter(|i| !i.trim().is_empty()) {
        body.insert("instructions".into(), Value::String(i));
    }
    if let Some(s) = block
        .speed
        .filter(|s| s.is_finite() && (!official || (0.25..=4.0).contains(s)))
    {
        body.insert("speed".into(), json_number(s));
    }
    for (k, v) in block.extra_body.clone().unwrap_or_default() {
        if k != "input" && k != "response_format" {
            body.insert(k, v);
        }
    }
    Ok(SpeechPlan {
        label: format!("{id}/{model} ({voice})"),
        provider: id.to_owned(),
        engine: Engine::OpenAi {
            url: format!("{base}/audio/speech"),
            body,
            response_format: format,
            official,
        },
        api_key: key_of(cfg, id, block, env),
        voice_aliases: BTreeMap::new(),
        timeout,
        policy,
    })
}

/// OpenClaw's renames of retired ElevenLabs models.
pub fn eleven_model(m: &str) -> String {
    match m {
        "eleven_turbo_v2_5" => "eleven_flash_v2_5".to_owned(),
        "eleven_turbo_v2" => "eleven_flash_v2".to_owned(),
        other => other.to_owned(),
    }
}

/// A language code as sent (`en`, `pt-br`), `None` when it is not one.
pub fn language_code(l: &str) -> Option<String> {
    let l = l.trim().to_ascii_lowercase();
    ((2..=12).contains(&l.len())
        && l.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && !l.starts_with('-'))
    .then_some(l)
}

fn json_number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An environment holding just `env`.
    fn lookup(env: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn plan(doc: Value, env: &[(&str, &str)]) -> Result<Option<SpeechPlan>, String> {
        let cfg: super::super::Config = serde_json::from_value(doc).map_err(|e| e.to_string())?;
        speech_plan(&cfg, &lookup(env))
    }

    #[test]
    fn off_unless_auto_says_so_but_a_provider_is_kept_for_tts_on() {
        // Nothing to speak with: none, and no error.
        assert!(plan(json!({}), &[]).unwrap().is_none());
        let kokoro = json!({"tts": {"auto": "off", "provider": "kokoro"}});
        assert!(plan(kokoro, &[]).unwrap().is_none());
        // A provider that resolves is kept, off, for a chat's `/tts on`.
        let p = plan(json!({}), &[("OPENAI_API_KEY", "k")])
            .unwrap()
            .expect("kept");
        assert_eq!(p.policy.auto, AutoSpeech::Off);
        let p = plan(
            json!({"tts": {"provider": "openai"}}),
            &[("OPENAI_API_KEY", "k")],
        )
        .unwrap()
        .expect("kept");
        assert_eq!(p.policy.auto, AutoSpeech::Off);
    }

    #[test]
    fn openai_by_default_with_a_key_and_a_local_server_by_base_url() {
        let p = plan(
            json!({"tts": {"auto": "inbound"}}),
            &[("OPENAI_API_KEY", "sk-env")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.label, "openai/gpt-4o-mini-tts (coral)");
        let Engine::OpenAi {
            url,
            response_format,
            official,
            ..
        } = &p.engine
        else {
            panic!("{p:?}")
        };
        assert_eq!(url, "https://api.openai.com/v1/audio/speech");
        assert!(*official && response_format.is_none());
        assert_eq!(p.api_key.as_deref(), Some("sk-env"));
        assert_eq!(p.policy.auto, AutoSpeech::Inbound);
        let p = plan(
            json!({"tts": {"enabled": true, "provider": "kokoro", "maxTextLength": 300, "timeoutMs": 5000,
                "providers": {"kokoro": {"baseUrl": "http://127.0.0.1:8880/v1/", "model": "kokoro",
                    "voice": "af_sky", "speed": 1.25, "extraBody": {"lang": "en-us", "input": "x"}}}}}),
            &[],
        )
        .unwrap()
        .unwrap();
        let Engine::OpenAi { url, body, .. } = &p.engine else {
            panic!("{p:?}")
        };
        assert_eq!(url, "http://127.0.0.1:8880/v1/audio/speech");
        assert_eq!(p.api_key, None);
        assert_eq!(p.policy.auto, AutoSpeech::Always);
        assert_eq!(p.policy.max_length, 300);
        assert_eq!(p.timeout, Duration::from_secs(5));
        assert_eq!(
            Value::Object(body.clone()),
            json!({"model": "kokoro", "voice": "af_sky", "speed": 1.25, "lang": "en-us"})
        );
    }

    #[test]
    fn what_cannot_work_is_refused_with_the_fix() {
        let bad = |tts: Value| plan(json!({"tts": tts}), &[]).unwrap_err();
        for (tts, want) in [
            (json!({"auto": "sometimes"}), "tts.auto"),
            (json!({"auto": "always"}), "no speech provider"),
            (
                json!({"auto": "always", "provider": "kokoro"}),
                "tts.providers.kokoro.baseUrl",
            ),
            (
                json!({"auto": "always", "provider": "elevenlabs", "providers": {"elevenlabs": {"voiceId": "../admin"}}}),
                "voiceId",
            ),
            (
                json!({"auto": "always", "provider": "elevenlabs", "providers": {"elevenlabs": {"outputFormat": "mp3&x=1"}}}),
                "outputFormat",
            ),
            (
                json!({"auto": "always", "provider": "x", "providers": {"x": {"baseUrl": "http://h/v1"}}}),
                "tts.providers.x.model",
            ),
            (
                json!({"auto": "always", "provider": "openai", "providers": {"openai": {"responseFormat": "pcm"}}}),
                "responseFormat",
            ),
        ] {
            let e = bad(tts);
            assert!(e.contains(want) && e.contains("Fix:"), "{e}");
        }
    }

    fn talk(doc: Value, env: &[(&str, &str)]) -> Result<SpeechPlan, TalkUnavailable> {
        let cfg: super::super::Config = serde_json::from_value(doc).expect("config");
        talk_plan(&cfg, &lookup(env))
    }

    #[test]
    fn elevenlabs_speaks_voice_notes_with_its_own_api() {
        let p = plan(
            json!({"tts": {"auto": "always", "provider": "elevenlabs", "providers": {"elevenlabs": {
                "modelId": "eleven_turbo_v2_5", "voiceSettings": {"stability": 0.2, "style": 3}}}}}),
            &[("XI_API_KEY", "xi-env")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.api_key.as_deref(), Some("xi-env"));
        assert_eq!(
            p.label,
            "elevenlabs/eleven_flash_v2_5 (pMsXgVXv3BLzUgSXRplE)"
        );
        let Engine::ElevenLabs { base, settings, .. } = &p.engine else {
            panic!("{p:?}")
        };
        assert_eq!(base, ELEVENLABS_BASE_URL);
        // In range kept, out of range dropped for OpenClaw's default.
        assert_eq!((settings.stability, settings.style), (0.2, 0.0));
        // With no provider named, a key in the environment picks ElevenLabs too.
        let p = plan(
            json!({"tts": {"auto": "always"}}),
            &[("ELEVENLABS_API_KEY", "k")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.provider, "elevenlabs");
    }

    #[test]
    fn talk_takes_its_block_over_the_tts_one_and_says_why_it_cannot_speak() {
        let p = talk(
            json!({"tts": {"providers": {"elevenlabs": {"apiKey": "from-tts", "modelId": "eleven_v3"}}},
                "talk": {"providers": {"elevenlabs": {"voiceId": "21m00Tcm4TlvDq8ikWAM",
                    "voiceAliases": {" Rachel ": "21m00Tcm4TlvDq8ikWAM"}}}, "speechLocale": "de-DE"}}),
            &[],
        )
        .expect("talk");
        assert_eq!(p.api_key.as_deref(), Some("from-tts"));
        assert_eq!(p.label, "elevenlabs/eleven_v3 (21m00Tcm4TlvDq8ikWAM)");
        assert_eq!(
            p.voice_aliases.get("rachel").map(String::as_str),
            Some("21m00Tcm4TlvDq8ikWAM")
        );
        let reason = |doc: Value| talk(doc, &[]).map(|_| ()).unwrap_err();
        assert_eq!(reason(json!({})).reason, "talk_unconfigured");
        // Two providers and none chosen: ambiguous, as in OpenClaw.
        let two = json!({"talk": {"providers": {"openai": {"apiKey": "a"}, "elevenlabs": {"apiKey": "b"}}}});
        assert_eq!(reason(two).reason, "talk_unconfigured");
        let u = reason(json!({"talk": {"provider": "mlx"}}));
        assert_eq!(u.reason, "talk_provider_unsupported");
        assert!(u.message.contains("Fix:"), "{}", u.message);
        // No key anywhere: unconfigured, and the message names where to put one.
        let u = reason(json!({"talk": {"provider": "elevenlabs"}}));
        assert!(
            u.reason == "talk_unconfigured"
                && u.message.contains("talk.providers.elevenlabs.apiKey"),
            "{u:?}"
        );
        // A keyless local server is fine.
        let p = talk(
            json!({"talk": {"provider": "kokoro", "providers": {"kokoro": {"baseUrl": "http://127.0.0.1:8880/v1", "modelId": "kokoro", "voiceId": "af_sky"}}}}),
            &[],
        )
        .expect("local");
        assert!(p.api_key.is_none());
    }
}
