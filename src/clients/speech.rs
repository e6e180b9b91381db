//! Text to speech: [`PlannedSpeaker`] implements [`Speaker`](crate::actors::ports::Speaker)
//! for a [`SpeechPlan`]:
//!
//! - an OpenAI-compatible `POST {baseUrl}/audio/speech` (JSON `{model, voice, input,
//!   response_format, …}`, `Authorization: Bearer`);
//! - ElevenLabs' `POST {baseUrl}/v1/text-to-speech/{voiceId}?output_format=…` (JSON `{text,
//!   model_id, voice_settings, …}`, `xi-api-key`).
//!
//! The answer's body is the audio, bounded ([`MAX_AUDIO`]). A client's overrides
//! ([`SpeakRequest`]) are checked before they reach a URL: a voice id is letters and digits
//! only, an output format lower-case letters, digits and `_`. The key never appears in errors
//! or logs.

use serde_json::{Map, Value, json};

use super::{http_client, http_failure, send_error};
use crate::actors::ports::{Clip, LocalFut, SpeakRequest, Speaker, SpeechTarget};
use crate::config::speech::{
    ELEVENLABS, Engine, SpeechPlan, eleven_model, is_eleven_voice_id, is_output_format,
    language_code,
};

/// Largest audio accepted from the provider: under the WebSocket frame limit once in
/// base64 (`talk.speak` answers it inline), and far above a 4096-character answer.
pub const MAX_AUDIO: usize = 16 * 1024 * 1024;

/// A speaker as configured.
#[derive(Debug, Clone)]
pub struct PlannedSpeaker {
    plan: SpeechPlan,
}

impl PlannedSpeaker {
    /// Speaks as `plan` says.
    pub fn new(plan: SpeechPlan) -> Self {
        Self { plan }
    }
}

/// A request ready to send.
struct Prepared {
    url: String,
    body: Value,
    accept: Option<&'static str>,
    output_format: String,
    file_extension: String,
    voice_compatible: bool,
}

impl PlannedSpeaker {
    /// `req.voice_id` through Talk's `voiceAliases` (names match without case).
    fn voice(&self, req: &SpeakRequest) -> Option<String> {
        let v = req
            .voice_id
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())?;
        Some(
            self.plan
                .voice_aliases
                .get(&v.to_lowercase())
                .cloned()
                .unwrap_or_else(|| v.to_owned()),
        )
    }

    /// The URL and JSON body `text` is sent with for `req` (for the fuzz target: what a
    /// client controls never changes the URL beyond a checked voice id and output format).
    pub fn request(&self, text: String, req: &SpeakRequest) -> Result<(String, Value), String> {
        self.prepare(text, req).map(|p| (p.url, p.body))
    }

    fn prepare(&self, text: String, req: &SpeakRequest) -> Result<Prepared, String> {
        let model_override = req
            .model_id
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        match &self.plan.engine {
            Engine::OpenAi {
                url,
                body,
                response_format,
                official,
            } => {
                let format = response_format.clone().unwrap_or_else(|| {
                    match req.target {
                        SpeechTarget::VoiceNote => "opus",
                        SpeechTarget::AudioFile => "mp3",
                    }
                    .to_owned()
                });
                let mut body: Map<String, Value> = body.clone();
                if let Some(v) = self.voice(req) {
                    body.insert("voice".into(), Value::String(v));
                }
                if let Some(m) = model_override {
                    body.insert("model".into(), Value::String(m.to_owned()));
                }
                if let Some(s) = req
                    .speed
                    .filter(|s| s.is_finite() && (!official || (0.25..=4.0).contains(s)))
                    .and_then(serde_json::Number::from_f64)
                {
                    body.insert("speed".into(), Value::Number(s));
                }
                body.insert("input".into(), Value::String(text));
                body.insert("response_format".into(), Value::String(format.clone()));
                let file_extension = match format.as_str() {
                    "opus" => ".opus",
                    "wav" => ".wav",
                    "aac" => ".aac",
                    "flac" => ".flac",
                    _ => ".mp3",
                }
                .to_owned();
                Ok(Prepared {
                    url: url.clone(),
                    body: Value::Object(body),
                    accept: None,
                    voice_compatible: req.target == SpeechTarget::VoiceNote && format == "opus",
                    output_format: format,
                    file_extension,
                })
            }
            Engine::ElevenLabs {
                base,
                voice_id,
                model_id,
                output_format,
                settings,
                seed,
                normalization,
                language,
            } => {
                let voice = self.voice(req).unwrap_or_else(|| voice_id.clone());
                if !is_eleven_voice_id(&voice) {
                    return Err(format!(
                        "invalid ElevenLabs voiceId {:?}: a voice id is 10–40 letters and digits (or a name in talk.providers.elevenlabs.voiceAliases)",
                        voice.chars().take(64).collect::<String>()
                    ));
                }
                let model = model_override.map_or_else(|| model_id.clone(), eleven_model);
                let format = match req.output_format.as_deref().map(str::trim) {
                    Some(f) if !f.is_empty() => {
                        let f = f.to_ascii_lowercase();
                        if !is_output_format(&f) {
                            return Err(format!(
                                "invalid outputFormat {:?}: use an ElevenLabs output format such as \"mp3_44100_128\" or \"pcm_24000\"",
                                f.chars().take(64).collect::<String>()
                            ));
                        }
                        f
                    }
                    _ => output_format.clone().unwrap_or_else(|| {
                        match req.target {
                            SpeechTarget::VoiceNote => "opus_48000_64",
                            SpeechTarget::AudioFile => "mp3_44100_128",
                        }
                        .to_owned()
                    }),
                };
                let family = format.split('_').next().unwrap_or_default();
                let file_extension =
                    if matches!(family, "opus" | "mp3" | "pcm" | "ulaw" | "alaw" | "wav") {
                        format!(".{family}")
                    } else {
                        ".bin".to_owned()
                    };
                let unit =
                    |v: Option<f64>, d: f64| v.filter(|x| (0.0..=1.0).contains(x)).unwrap_or(d);
                let speed = req
                    .speed
                    .filter(|x| (0.5..=2.0).contains(x))
                    .unwrap_or(settings.speed);
                let mut body = json!({
                    "text": text,
                    "model_id": model,
                    "voice_settings": {
                        "stability": unit(req.stability, settings.stability),
                        "similarity_boost": unit(req.similarity, settings.similarity_boost),
                        "style": unit(req.style, settings.style),
                        "use_speaker_boost": req.speaker_boost.unwrap_or(settings.use_speaker_boost),
                        "speed": speed,
                    },
                });
                if let Some(s) = req.seed.filter(|s| *s <= u64::from(u32::MAX)).or(*seed) {
                    body["seed"] = json!(s);
                }
                let norm = req
                    .normalize
                    .as_deref()
                    .map(|n| n.trim().to_ascii_lowercase())
                    .filter(|n| matches!(n.as_str(), "auto" | "on" | "off"))
                    .or_else(|| normalization.clone());
                if let Some(n) = norm {
                    body["apply_text_normalization"] = json!(n);
                }
                if let Some(l) = req
                    .language
                    .as_deref()
                    .and_then(language_code)
                    .or_else(|| language.clone())
                {
                    body["language_code"] = json!(l);
                }
                let mut url = format!("{base}/v1/text-to-speech/{voice}?output_format={format}");
                if let Some(t) = req.latency_tier.filter(|t| *t <= 4)
                    && !model.eq_ignore_ascii_case("eleven_v3")
                {
                    url.push_str(&format!("&optimize_streaming_latency={t}"));
                }
                Ok(Prepared {
                    url,
                    body,
                    accept: (family == "mp3").then_some("audio/mpeg"),
                    voice_compatible: family == "opus",
                    output_format: format,
                    file_extension,
                })
            }
        }
    }
}

impl Speaker for PlannedSpeaker {
    fn label(&self) -> String {
        self.plan.label.clone()
    }

    fn synthesize(&self, text: String, req: SpeakRequest) -> LocalFut<Result<Clip, String>> {
        let prepared = self.prepare(text, &req);
        let (key, timeout, provider) = (
            self.plan.api_key.clone(),
            self.plan.timeout,
            self.plan.provider.clone(),
        );
        let eleven = provider == ELEVENLABS;
        Box::pin(async move {
            let p = prepared?;
            let mut http = http_client().post(p.url.as_str()).timeout(timeout);
            if let Some(k) = &key {
                http = if eleven {
                    http.insert_header(("xi-api-key", k.as_str()))
                } else {
                    http.bearer_auth(k)
                };
            }
            if let Some(a) = p.accept {
                http = http.insert_header(("accept", a));
            }
            let secret = key.as_deref().unwrap_or("");
            let mut resp = http
                .send_json(&p.body)
                .await
                .map_err(|e| send_error(e, timeout, secret))?;
            let status = resp.status();
            let data = resp
                .body()
                .limit(MAX_AUDIO)
                .await
                .map_err(|e| format!("HTTP {status}: cannot read the audio: {e}"))?;
            if !status.is_success() {
                return Err(http_failure(status.as_u16(), &data, secret));
            }
            if data.is_empty() {
                return Err(format!("{provider} answered no audio"));
            }
            Ok(Clip {
                audio: data.to_vec(),
                provider,
                output_format: p.output_format,
                file_extension: p.file_extension,
                voice_compatible: p.voice_compatible,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speaker(doc: Value) -> PlannedSpeaker {
        let cfg: crate::config::Config = serde_json::from_value(doc).expect("config");
        let plan = crate::config::speech::talk_plan(&cfg, &|_| None).expect("talk plan");
        PlannedSpeaker::new(plan)
    }

    #[test]
    fn elevenlabs_requests_carry_the_overrides_and_nothing_else_reaches_the_url() {
        let s = speaker(
            json!({"talk": {"provider": "elevenlabs", "providers": {"elevenlabs": {
            "apiKey": "xi-secret", "baseUrl": "http://127.0.0.1:9/", "voiceId": "pMsXgVXv3BLzUgSXRplE",
            "voiceAliases": {"Rachel": "21m00Tcm4TlvDq8ikWAM"}, "voiceSettings": {"stability": 0.3, "speed": 9}}}}}),
        );
        let req = SpeakRequest {
            target: SpeechTarget::AudioFile,
            voice_id: Some("rachel".into()),
            output_format: Some("PCM_24000".into()),
            speed: Some(1.2),
            similarity: Some(7.0),
            latency_tier: Some(3),
            language: Some("DE".into()),
            ..SpeakRequest::default()
        };
        let p = s.prepare("Hallo 👋".into(), &req).expect("prepared");
        assert_eq!(
            p.url,
            "http://127.0.0.1:9/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM?output_format=pcm_24000&optimize_streaming_latency=3"
        );
        assert_eq!(p.body["text"], "Hallo 👋");
        assert_eq!(p.body["model_id"], "eleven_multilingual_v2");
        assert_eq!(p.body["language_code"], "de");
        let vs = &p.body["voice_settings"];
        // Configured stability kept, an out-of-range speed in the config and similarity in
        // the request dropped for the defaults, the request's speed taken.
        assert_eq!(
            (vs["stability"].as_f64(), vs["similarity_boost"].as_f64()),
            (Some(0.3), Some(0.75))
        );
        assert_eq!(vs["speed"].as_f64(), Some(1.2));
        assert_eq!((p.file_extension.as_str(), p.accept), (".pcm", None));
        // What a stranger could put into the URL is refused, not sent.
        for bad in [
            "../../v1/user",
            "abc/def?x=1",
            "short",
            "ä".repeat(12).as_str(),
        ] {
            let req = SpeakRequest {
                voice_id: Some(bad.into()),
                ..SpeakRequest::default()
            };
            assert!(s.prepare("x".into(), &req).is_err(), "{bad}");
        }
        for bad in ["mp3&x=1", "mp3_44100 ", "a".repeat(40).as_str(), "MP3%20"] {
            let req = SpeakRequest {
                output_format: Some(bad.into()),
                ..SpeakRequest::default()
            };
            let r = s.prepare("x".into(), &req);
            assert!(r.is_err() || bad.trim() != bad, "{bad}");
        }
        // Voice notes default to Opus, clips to MP3.
        let p = s
            .prepare("x".into(), &SpeakRequest::default())
            .expect("note");
        assert!(p.url.ends_with("output_format=opus_48000_64") && p.voice_compatible);
    }

    #[test]
    fn openai_talk_maps_voice_and_model_and_keeps_the_format_per_target() {
        let s = speaker(
            json!({"talk": {"providers": {"openai": {"apiKey": "sk", "voiceId": "nova"}}},
            "tts": {"providers": {"openai": {"model": "tts-1", "speed": 9}}}}),
        );
        let p = s
            .prepare(
                "hi".into(),
                &SpeakRequest {
                    target: SpeechTarget::AudioFile,
                    model_id: Some("gpt-4o-mini-tts".into()),
                    speed: Some(5.0),
                    ..SpeakRequest::default()
                },
            )
            .expect("prepared");
        assert_eq!(p.url, "https://api.openai.com/v1/audio/speech");
        assert_eq!(
            p.body,
            json!({"model": "gpt-4o-mini-tts", "voice": "nova", "input": "hi", "response_format": "mp3"})
        );
        assert_eq!(
            (p.output_format.as_str(), p.file_extension.as_str()),
            ("mp3", ".mp3")
        );
    }
}
