//! `tts` (OpenClaw's text to speech): when chat answers are also sent as voice notes, and
//! which provider speaks them ([`speech_plan`]).
//!
//! - `tts.auto`: `"off"` (default), `"always"` (every chat answer), `"inbound"` (the answer
//!   to a voice message). The legacy `enabled: true` means `"always"`. `"tagged"` (answers
//!   with `[[tts:…]]` directives) is not done here: it is refused with the fix.
//! - `tts.provider` and `tts.providers.<id>`: `apiKey`, `model`, `speakerVoice` (or
//!   `voice`), `instructions`, `responseFormat` (`opus` for voice notes by default), `speed`,
//!   `baseUrl`, `extraBody`. The provider is spoken to over the OpenAI-compatible
//!   `POST {baseUrl}/audio/speech`; the base URL comes from the block, else
//!   `models.providers.<id>.baseUrl`, else the provider's public API (`openai`,
//!   `deepinfra`); the key from the block, else `models.providers.<id>.apiKey`, else
//!   `<ID>_API_KEY`. Without `provider`, the first of `openai`, `deepinfra` with a key.
//! - `tts.maxTextLength` (4096) caps what is spoken, `tts.timeoutMs` (30 s) each request.
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
    /// `off`, `always`, `inbound` (`tagged` is refused).
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
    /// Accepted, not read (no `[[tts:…]]` directives).
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
    /// Any other provider-specific key (accepted, not read).
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

/// The resolved speaker.
#[derive(Clone)]
pub struct SpeechPlan {
    /// `openai/gpt-4o-mini-tts (coral)`.
    pub label: String,
    /// `POST` here (`…/audio/speech`).
    pub url: String,
    /// Bearer key.
    pub api_key: Option<String>,
    /// The JSON body without `input`.
    pub body: Map<String, Value>,
    /// Per request.
    pub timeout: Duration,
    /// When and how much.
    pub policy: SpeechPolicy,
}

impl std::fmt::Debug for SpeechPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechPlan")
            .field("label", &self.label)
            .field("url", &self.url)
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
        Some("tagged") => {
            return Err(
                "tts.auto \"tagged\" (answers with [[tts:…]] directives) is not supported by openclaw-rs. Fix: use \"inbound\" (answer voice messages with voice), \"always\" or \"off\"".into(),
            );
        }
        Some(other) => {
            return Err(format!(
                "tts.auto is {other:?}. Fix: use \"off\", \"always\" or \"inbound\""
            ));
        }
    };
    resolve(cfg, tts, auto, env)
}

/// The speaker of `tts` for `auto`; `Ok(None)` when it is off and no provider is there.
fn resolve(
    cfg: &super::Config,
    tts: &TtsCfg,
    auto: AutoSpeech,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SpeechPlan>, String> {
    let blocks = tts.providers.clone().unwrap_or_default();
    let key_of = |id: &str| {
        blocks
            .get(id)
            .and_then(|b| b.api_key.clone())
            .filter(|k| !k.is_empty())
            .or_else(|| {
                super::models::provider_key(cfg, id, env)
                    .ok()
                    .flatten()
                    .map(|(k, _)| k)
            })
    };
    let id = match tts
        .provider
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => p.to_owned(),
        None => match KNOWN.iter().find(|(id, ..)| key_of(id).is_some()) {
            Some((id, ..)) => (*id).to_owned(),
            None if auto == AutoSpeech::Off => return Ok(None),
            None => {
                return Err(
                    "tts.auto is on but no speech provider is configured. Fix: set tts.provider (e.g. \"openai\") with its key in tts.providers.openai.apiKey, models.providers.openai.apiKey or OPENAI_API_KEY, or a tts.providers.<id>.baseUrl of an OpenAI-compatible speech server".into(),
                );
            }
        },
    };
    let block = blocks.get(&id).cloned().unwrap_or_default();
    let known = KNOWN.iter().find(|(k, ..)| *k == id);
    let base = block
        .base_url
        .clone()
        .or_else(|| cfg.models.providers.get(&id).and_then(|p| p.base_url.clone()))
        .or_else(|| known.map(|(_, url, ..)| (*url).to_owned()))
        .ok_or_else(|| {
            format!(
                "tts.provider {id:?} has no OpenAI-compatible /audio/speech endpoint that openclaw-rs knows. Fix: set tts.providers.{id}.baseUrl to one (e.g. a local Kokoro or openedai-speech server), or use \"openai\" or \"deepinfra\""
            )
        })?;
    let base = base.trim().trim_end_matches('/').to_owned();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!(
            "tts.providers.{id}.baseUrl {base:?} is not an http(s) URL. Fix: e.g. \"https://api.openai.com/v1\""
        ));
    }
    let model = block
        .model
        .clone()
        .or_else(|| known.map(|(_, _, m, _)| (*m).to_owned()))
        .ok_or_else(|| {
            format!(
                "tts.providers.{id}.model is not set. Fix: name the speech model, e.g. \"tts-1\""
            )
        })?;
    let voice = block
        .speaker_voice
        .clone()
        .or_else(|| block.voice.clone())
        .or_else(|| known.map(|(.., v)| (*v).to_owned()))
        .ok_or_else(|| {
            format!("tts.providers.{id}.speakerVoice is not set. Fix: name a voice, e.g. \"alloy\"")
        })?;
    let format = block
        .response_format
        .clone()
        .unwrap_or_else(|| "opus".to_owned());
    if !matches!(format.as_str(), "opus" | "mp3" | "aac" | "flac" | "wav") {
        return Err(format!(
            "tts.providers.{id}.responseFormat {format:?} cannot be sent as a voice note. Fix: use \"opus\" (the default), \"mp3\" or \"wav\""
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.clone()));
    body.insert("voice".into(), Value::String(voice.clone()));
    body.insert("response_format".into(), Value::String(format));
    if let Some(i) = block.instructions.clone().filter(|i| !i.trim().is_empty()) {
        body.insert("instructions".into(), Value::String(i));
    }
    if let Some(s) = block.speed {
        body.insert("speed".into(), json_number(s));
    }
    for (k, v) in block.extra_body.clone().unwrap_or_default() {
        if k != "input" {
            body.insert(k, v);
        }
    }
    let max_text = tts
        .max_text_length
        .unwrap_or(DEFAULT_MAX_TEXT_LENGTH)
        .clamp(10, DEFAULT_MAX_TEXT_LENGTH);
    Ok(Some(SpeechPlan {
        label: format!("{id}/{model} ({voice})"),
        url: format!("{base}/audio/speech"),
        api_key: key_of(&id),
        body,
        timeout: tts.timeout_ms.map_or(DEFAULT_TIMEOUT, |ms| {
            Duration::from_millis(ms.clamp(1000, 120_000))
        }),
        policy: SpeechPolicy {
            auto,
            max_length: DEFAULT_MAX_LENGTH.min(max_text),
        },
    }))
}

fn json_number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(doc: Value, env: &[(&str, &str)]) -> Result<Option<SpeechPlan>, String> {
        let cfg: super::super::Config = serde_json::from_value(doc).map_err(|e| e.to_string())?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        speech_plan(&cfg, &move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn off_unless_auto_says_so_but_a_provider_is_kept_for_tts_on() {
        // Nothing to speak with: none, and no error.
        assert!(plan(json!({}), &[]).unwrap().is_none());
        let elevenlabs = json!({"tts": {"auto": "off", "provider": "elevenlabs"}});
        assert!(plan(elevenlabs, &[]).unwrap().is_none());
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
        assert_eq!(p.url, "https://api.openai.com/v1/audio/speech");
        assert_eq!(p.api_key.as_deref(), Some("sk-env"));
        assert_eq!(p.body["response_format"], "opus");
        assert_eq!(p.policy.auto, AutoSpeech::Inbound);
        let p = plan(
            json!({"tts": {"enabled": true, "provider": "kokoro", "maxTextLength": 300, "timeoutMs": 5000,
                "providers": {"kokoro": {"baseUrl": "http://127.0.0.1:8880/v1/", "model": "kokoro",
                    "voice": "af_sky", "speed": 1.25, "extraBody": {"lang": "en-us", "input": "x"}}}}}),
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.url, "http://127.0.0.1:8880/v1/audio/speech");
        assert_eq!(p.api_key, None);
        assert_eq!(p.policy.auto, AutoSpeech::Always);
        assert_eq!(p.policy.max_length, 300);
        assert_eq!(p.timeout, Duration::from_secs(5));
        assert_eq!(
            Value::Object(p.body),
            json!({"model": "kokoro", "voice": "af_sky", "response_format": "opus", "speed": 1.25, "lang": "en-us"})
        );
    }

    #[test]
    fn what_cannot_work_is_refused_with_the_fix() {
        let bad = |tts: Value| plan(json!({"tts": tts}), &[]).unwrap_err();
        for (tts, want) in [
            (json!({"auto": "tagged"}), "tagged"),
            (json!({"auto": "sometimes"}), "tts.auto"),
            (json!({"auto": "always"}), "no speech provider"),
            (
                json!({"auto": "always", "provider": "elevenlabs"}),
                "tts.providers.elevenlabs.baseUrl",
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
}
