//! What a client sends to `talk.speak` (`openclaw::clients::speech`,
//! `openclaw_actors::speech`): any text and any overrides, against an ElevenLabs and an
//! OpenAI-compatible Talk speaker. Nothing may panic; on top of that:
//!
//! - the ElevenLabs URL is the base, `/v1/text-to-speech/`, a voice id of 10–40 ASCII
//!   letters and digits, and a query of `output_format=[a-z0-9_]+` (and
//!   `optimize_streaming_latency=0..4`): nothing a client sends adds a path segment, a
//!   parameter or a host;
//! - the voice settings sent are in ElevenLabs' ranges, whatever was asked;
//! - the OpenAI-compatible URL never changes;
//! - the text spoken is the client's prose (markdown marks gone) or OpenClaw's sentence for
//!   code, never empty;
//! - an answer's `[[tts:…]]` directives (what a model, or a prompt injection, writes) come
//!   out without a panic, the answer never grows, and an answer without `[[` is untouched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openclaw::actors::ports::{SpeakRequest, SpeechTarget};
use openclaw::actors::speech::{CODE_HEAVY_SPOKEN, spoken_text, take_directives};
use openclaw::clients::speech::PlannedSpeaker;
use openclaw::config::Config;
use openclaw::config::speech::talk_plan;
use serde_json::{Value, json};

fn speaker(talk: Value) -> PlannedSpeaker {
    let cfg: Config = serde_json::from_value(json!({"talk": talk})).expect("talk config");
    PlannedSpeaker::new(talk_plan(&cfg, &|_| None).expect("talk plan"))
}

fn unit_range(v: &Value, lo: f64, hi: f64) -> bool {
    v.as_f64().is_some_and(|x| (lo..=hi).contains(&x))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(said) = spoken_text(text) {
        assert!(!said.is_empty());
        assert!(
            said == CODE_HEAVY_SPOKEN || !said.contains(['*', '`', '~']),
            "{said:?}"
        );
    }
    for streaming in [false, true] {
        let mut answer = text.to_owned();
        let d = take_directives(&mut answer, streaming);
        assert!(answer.len() <= text.len(), "{text:?} -> {answer:?}");
        if !text.contains("[[") && !text.ends_with('[') {
            assert_eq!(answer, text);
            assert!(d.is_none());
        }
    }
    let p: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({"text": text}));
    let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
    let n = |k: &str| p.get(k).and_then(Value::as_f64);
    let req = SpeakRequest {
        target: if p.get("note").is_some() {
            SpeechTarget::VoiceNote
        } else {
            SpeechTarget::AudioFile
        },
        voice_id: s("voiceId"),
        model_id: s("modelId"),
        output_format: s("outputFormat"),
        speed: n("speed"),
        stability: n("stability"),
        similarity: n("similarity"),
        style: n("style"),
        speaker_boost: p.get("speakerBoost").and_then(Value::as_bool),
        seed: p.get("seed").and_then(Value::as_u64),
        normalize: s("normalize"),
        language: s("language"),
        latency_tier: p.get("latencyTier").and_then(Value::as_u64),
    };
    let words = s("text").unwrap_or_default();
    let eleven = speaker(
        json!({"provider": "elevenlabs", "providers": {"elevenlabs": {
        "apiKey": "k", "baseUrl": "https://api.elevenlabs.io",
        "voiceAliases": {"Rachel": "21m00Tcm4TlvDq8ikWAM"}}}}),
    );
    if let Ok((url, body)) = eleven.request(words.clone(), &req) {
        let rest = url
            .strip_prefix("https://api.elevenlabs.io/v1/text-to-speech/")
            .unwrap_or_else(|| panic!("{url}"));
        let (voice, query) = rest.split_once('?').unwrap_or_else(|| panic!("{url}"));
        assert!(
            (10..=40).contains(&voice.len()) && voice.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{url}"
        );
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("{url}"));
            match k {
                "output_format" => assert!(
                    !v.is_empty()
                        && v.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{url}"
                ),
                "optimize_streaming_latency" => {
                    assert!(matches!(v, "0" | "1" | "2" | "3" | "4"), "{url}")
                }
                _ => panic!("unexpected parameter in {url}"),
            }
        }
        assert_eq!(body["text"], Value::String(words.clone()));
        let vs = &body["voice_settings"];
        for k in ["stability", "similarity_boost", "style"] {
            assert!(unit_range(&vs[k], 0.0, 1.0), "{vs}");
        }
        assert!(unit_range(&vs["speed"], 0.5, 2.0), "{vs}");
        if let Some(seed) = body.get("seed") {
            assert!(
                seed.as_u64().is_some_and(|x| x <= u64::from(u32::MAX)),
                "{body}"
            );
        }
    }
    let openai = speaker(json!({"provider": "openai", "providers": {"openai": {"apiKey": "k"}}}));
    let (url, body) = openai.request(words.clone(), &req).expect("openai request");
    assert_eq!(url, "https://api.openai.com/v1/audio/speech");
    assert_eq!(body["input"], Value::String(words));
    if let Some(speed) = body.get("speed") {
        assert!(unit_range(speed, 0.25, 4.0), "{body}");
    }
});
