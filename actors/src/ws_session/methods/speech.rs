//! Speech for clients (OpenClaw's `server-methods/talk.ts` and `tts.ts`):
//!
//! - `talk.speak {text, voiceId?, modelId?, outputFormat?, speed?, rateWpm?, stability?,
//!   similarity?, style?, speakerBoost?, seed?, normalize?, language?, latencyTier?}`
//!   (`operator.talk`) → `{audioBase64, provider, outputFormat, voiceCompatible, mimeType?,
//!   fileExtension}`: the apps' Talk mode plays the assistant's reply with the gateway's
//!   Talk provider, so the provider key never leaves the gateway. Errors are `UNAVAILABLE`
//!   with OpenClaw's `details: {reason, fallbackEligible}` (`talk_unconfigured`: the app
//!   speaks with the phone's own voice instead).
//! - `tts.speak {text}` (`operator.write`) → the same clip from the spoken answers' provider.
//! - `tts.status` / `tts.providers` (`operator.read`): what is configured.
//! - `talk.catalog` (`operator.read`): OpenClaw's Talk catalog, realtime and transcription
//!   not ready (not relayed here), so the apps run native Talk with `talk.speak`.
//! - `tts.convert` (`operator.write`): the same, saved as a file on the gateway host (see
//!   [`ConvertSpeech`]).
//! - `tts.enable` / `tts.disable` (`operator.write`) → `{enabled}`: every chat answer is
//!   spoken, or none (a chat's own `/tts on|off` still wins), saved in OpenClaw's
//!   `settings/tts.json` over the config's `tts.auto`.
//!
//! - `talk.mode {enabled, phase?}` (`operator.talk`) → `{enabled, phase, ts}`, also sent
//!   to every operator with `operator.talk` as the `talk.mode` event: a client entered or
//!   left Talk mode. From WebChat it needs a connected Talk-capable node (else
//!   `UNAVAILABLE`), as in OpenClaw.
//!
//! The synthesis itself runs on the registry ([`crate::registry::speak`]).

use actix::prelude::*;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::agent_params::{fail, obj};
use super::{Call, Method, gone};
use crate::ports::{SpeakRequest, SpeechTarget};
use crate::protocol::error::ErrorShape;
use crate::protocol::scopes::{MethodAccess, READ, WRITE};
use crate::protocol::validate::Checker;
use crate::registry::speak::{
    ConvertSpeech, GetSpeechStatus, SetTtsEnabled, Synthesize, TalkMode, VoiceKind, talk_error,
};
use crate::ws_session::WsSession;

pub(super) const METHODS: &[Method] = &[
    Method {
        name: "talk.speak",
        access: MethodAccess::Operator("operator.talk"),
        handler: WsSession::talk_speak,
    },
    Method {
        name: "talk.mode",
        access: MethodAccess::Operator("operator.talk"),
        handler: WsSession::talk_mode,
    },
    Method {
        name: "tts.speak",
        access: MethodAccess::Operator(WRITE),
        handler: WsSession::tts_speak,
    },
    Method {
        name: "tts.convert",
        access: MethodAccess::Operator(WRITE),
        handler: WsSession::tts_convert,
    },
    Method {
        name: "tts.enable",
        access: MethodAccess::Operator(WRITE),
        handler: WsSession::tts_enable,
    },
    Method {
        name: "tts.disable",
        access: MethodAccess::Operator(WRITE),
        handler: WsSession::tts_enable,
    },
    Method {
        name: "talk.catalog",
        access: MethodAccess::Operator(READ),
        handler: WsSession::talk_catalog,
    },
    Method {
        name: "tts.status",
        access: MethodAccess::Operator(READ),
        handler: WsSession::tts_status,
    },
    Method {
        name: "tts.providers",
        access: MethodAccess::Operator(READ),
        handler: WsSession::tts_status,
    },
];

/// `talk.speak`'s keys.
const TALK_KEYS: &[&str] = &[
    "text",
    "voiceId",
    "modelId",
    "outputFormat",
    "speed",
    "rateWpm",
    "stability",
    "similarity",
    "style",
    "speakerBoost",
    "seed",
    "normalize",
    "language",
    "latencyTier",
];

/// An optional finite number.
fn number(c: &mut Checker, o: &Map<String, Value>, key: &str) -> Option<f64> {
    match o.get(key) {
        None => None,
        Some(v) => match v.as_f64().filter(|x| x.is_finite()) {
            Some(x) => Some(x),
            None => {
                c.error(&format!("/{key}"), "must be number");
                None
            }
        },
    }
}

/// The required non-empty `text` (any Unicode; the length is checked where the limit is).
fn text_of(c: &mut Checker, o: &Map<String, Value>) -> String {
    if c.required("", o, "text") {
        c.string("", o, "text", true).unwrap_or_default().to_owned()
    } else {
        String::new()
    }
}

/// `talk.speak`'s params as a [`Synthesize`] request.
fn talk_params(call: &Call) -> Result<(String, SpeakRequest), ErrorShape> {
    const M: &str = "talk.speak";
    let o = obj(M, &call.params)?;
    let mut c = Checker::new();
    c.closed("", o, TALK_KEYS);
    let text = text_of(&mut c, o);
    let s = |c: &mut Checker, k: &str| c.string("", o, k, false).map(str::to_owned);
    let mut req = SpeakRequest {
        target: SpeechTarget::AudioFile,
        voice_id: s(&mut c, "voiceId"),
        model_id: s(&mut c, "modelId"),
        output_format: s(&mut c, "outputFormat"),
        speed: number(&mut c, o, "speed"),
        stability: number(&mut c, o, "stability"),
        similarity: number(&mut c, o, "similarity"),
        style: number(&mut c, o, "style"),
        speaker_boost: c.boolean("", o, "speakerBoost"),
        seed: c.integer("", o, "seed", 0),
        normalize: s(&mut c, "normalize"),
        language: s(&mut c, "language"),
        latency_tier: c.integer("", o, "latencyTier", 0),
    };
    let rate = c.integer("", o, "rateWpm", 1);
    if !c.ok() {
        return Err(fail(M, &c));
    }
    // OpenClaw: words per minute over 175 gives the speed, used only strictly between 0.5
    // and 2; outside that with no `speed` is an error.
    if req.speed.is_none()
        && let Some(wpm) = rate
    {
        let speed = wpm as f64 / 175.0;
        if speed <= 0.5 || speed >= 2.0 {
            return Err(ErrorShape::invalid(
                "invalid talk.speak params: rateWpm must resolve to speed between 0.5 and 2.0",
            ));
        }
        req.speed = Some(speed);
    }
    Ok((text, req))
}

/// The clip as OpenClaw answers it.
fn clip_json(clip: crate::ports::Clip, talk: bool) -> Value {
    let mut out = json!({
        "audioBase64": base64::engine::general_purpose::STANDARD.encode(&clip.audio),
        "provider": clip.provider,
        "outputFormat": clip.output_format,
        "fileExtension": clip.file_extension,
    });
    if talk {
        out["voiceCompatible"] = Value::Bool(clip.voice_compatible);
    }
    if let Some(m) = crate::speech::mime_of(&clip.output_format, &clip.file_extension) {
        out["mimeType"] = Value::String(m.to_owned());
    }
    out
}

/// The longest `talk.mode` phase, in characters.
pub const MAX_TALK_PHASE_CHARS: usize = 64;

/// `talk.mode {enabled, phase?}` (OpenClaw's closed `TalkModeParamsSchema`; the phase is
/// bounded here and may not carry control characters: every operator's UI shows it).
pub fn parse_talk_mode(v: &Value, webchat: bool) -> Result<TalkMode, ErrorShape> {
    use super::args::{closed, invalid, opt_str, params};
    const M: &str = "talk.mode";
    let o = params(M, v)?;
    closed(M, &o, &["enabled", "phase"])?;
    let enabled = match o.get("enabled") {
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid(M, "enabled must be boolean")),
        None => return Err(invalid(M, "must have required property 'enabled'")),
    };
    let phase = match opt_str(M, &o, "phase", &[])? {
        Some(p) if p.chars().count() > MAX_TALK_PHASE_CHARS || p.chars().any(char::is_control) => {
            return Err(invalid(
                M,
                format!(
                    "phase must be at most {MAX_TALK_PHASE_CHARS} characters, without control characters"
                ),
            ));
        }
        p => p.map(str::to_owned),
    };
    Ok(TalkMode {
        enabled,
        phase,
        needs_talk_node: webchat,
    })
}

impl WsSession {
    /// `talk.mode {enabled, phase?}`: tells the operators a client entered or left Talk.
    fn talk_mode(&mut self, call: Call, ctx: &mut Context<Self>) {
        match parse_talk_mode(&call.params, self.webchat) {
            Ok(msg) => self.reply_registry(call.id, msg, ctx),
            Err(e) => self.respond_err(&call.id, &e, ctx),
        }
    }

    /// `talk.speak`.
    fn talk_speak(&mut self, call: Call, ctx: &mut Context<Self>) {
        let (text, req) = match talk_params(&call) {
            Ok(p) => p,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let fut = self.registry.send(Synthesize {
            method: "talk.speak",
            voice: VoiceKind::Talk,
            text,
            req,
        });
        self.reply_with(
            call.id,
            async move {
                let clip = fut
                    .await
                    .map_err(|_| talk_error("method_unavailable", "gateway is shutting down"))??;
                Ok(clip_json(clip, true))
            },
            ctx,
        );
    }

    /// `tts.speak {text}`.
    fn tts_speak(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "tts.speak";
        let text = match obj(M, &call.params) {
            Ok(o) => {
                let mut c = Checker::new();
                c.closed("", o, &["text"]);
                let t = text_of(&mut c, o);
                if !c.ok() {
                    return self.respond_err(&call.id, &fail(M, &c), ctx);
                }
                t
            }
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        let fut = self.registry.send(Synthesize {
            method: "tts.speak",
            voice: VoiceKind::Tts,
            text,
            req: SpeakRequest {
                target: SpeechTarget::AudioFile,
                ..SpeakRequest::default()
            },
        });
        self.reply_with(
            call.id,
            async move {
                let clip = fut.await.map_err(|_| gone())??;
                Ok(clip_json(clip, false))
            },
            ctx,
        );
    }

    /// `tts.convert {text, channel?, provider?, modelId?, voiceId?}` → `{audioPath, provider,
    /// outputFormat, voiceCompatible}` (see [`ConvertSpeech`]).
    fn tts_convert(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "tts.convert";
        let parsed = obj(M, &call.params).and_then(|o| {
            let mut c = Checker::new();
            let s = |c: &mut Checker, k: &str| c.string("", o, k, false).map(str::to_owned);
            let text = s(&mut c, "text").unwrap_or_default();
            let channel = s(&mut c, "channel");
            let provider = s(&mut c, "provider");
            let model = s(&mut c, "modelId");
            let voice = s(&mut c, "voiceId");
            if !c.ok() {
                return Err(fail(M, &c));
            }
            if text.trim().is_empty() {
                return Err(ErrorShape::invalid("tts.convert requires text"));
            }
            let note = channel
                .as_deref()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("telegram"));
            Ok(ConvertSpeech {
                text,
                req: SpeakRequest {
                    target: if note {
                        SpeechTarget::VoiceNote
                    } else {
                        SpeechTarget::AudioFile
                    },
                    model_id: model,
                    voice_id: voice,
                    ..SpeakRequest::default()
                },
                provider,
            })
        });
        let msg = match parsed {
            Ok(m) => m,
            Err(e) => return self.respond_err(&call.id, &e, ctx),
        };
        self.reply_registry(call.id, msg, ctx);
    }

    /// `talk.catalog {provider?, model?}` → OpenClaw's Talk catalog: the speech providers
    /// (the Talk provider active and configured when `talk.speak` can speak), and the
    /// realtime and transcription groups, which this gateway does not relay (`ready: false`,
    /// no providers: the apps then run native Talk, speech recognition on the device and
    /// `talk.speak` here).
    fn talk_catalog(&mut self, call: Call, ctx: &mut Context<Self>) {
        const M: &str = "talk.catalog";
        if !call.params.is_null() {
            let checked = obj(M, &call.params).and_then(|o| {
                let mut c = Checker::new();
                c.closed("", o, &["provider", "model"]);
                c.string("", o, "provider", false);
                c.string("", o, "model", false);
                if c.ok() { Ok(()) } else { Err(fail(M, &c)) }
            });
            if let Err(e) = checked {
                return self.respond_err(&call.id, &e, ctx);
            }
        }
        let fut = self.registry.send(GetSpeechStatus);
        self.reply_with(
            call.id,
            async move {
                let st = fut.await.map_err(|_| gone())?;
                let mut speech = json!({
                    "providers": st.providers.iter().map(|p| {
                        let active = st.talk_provider.as_deref() == Some(p.id.as_str());
                        let mut e = json!({
                            "id": p.id,
                            "label": p.label,
                            "configured": p.configured || active,
                            "modes": ["stt-tts"],
                            "brains": ["agent-consult"],
                        });
                        if !p.models.is_empty() {
                            e["models"] = json!(p.models);
                        }
                        if !p.voices.is_empty() {
                            e["voices"] = json!(p.voices);
                        }
                        e
                    }).collect::<Vec<_>>(),
                });
                if let Some(a) = &st.talk_provider {
                    speech["activeProvider"] = json!(a);
                    let listed = speech["providers"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|p| p["id"] == a.as_str()));
                    if !listed && let Some(ps) = speech["providers"].as_array_mut() {
                        ps.push(json!({"id": a, "label": a, "configured": true,
                            "modes": ["stt-tts"], "brains": ["agent-consult"]}));
                    }
                }
                Ok(json!({
                    "modes": ["realtime", "stt-tts", "transcription"],
                    "transports": ["webrtc", "provider-websocket", "gateway-relay", "managed-room"],
                    "brains": ["agent-consult", "direct-tools", "none"],
                    "speech": speech,
                    "transcription": {"ready": false, "providers": []},
                    "realtime": {"ready": false, "providers": []},
                }))
            },
            ctx,
        );
    }

    /// `tts.enable` / `tts.disable` → `{enabled}`.
    fn tts_enable(&mut self, call: Call, ctx: &mut Context<Self>) {
        let on = call.method == "tts.enable";
        let fut = self.registry.send(SetTtsEnabled { on });
        self.reply_with(
            call.id,
            async move {
                let on = fut.await.map_err(|_| gone())??;
                Ok(json!({"enabled": on}))
            },
            ctx,
        );
    }

    /// `tts.status` → `{enabled, auto, provider, persona, personas, fallbackProvider,
    /// fallbackProviders, providerStates}`; `tts.providers` → `{providers, active}`.
    fn tts_status(&mut self, call: Call, ctx: &mut Context<Self>) {
        let providers = call.method == "tts.providers";
        let fut = self.registry.send(GetSpeechStatus);
        self.reply_with(
            call.id,
            async move {
                let st = fut.await.map_err(|_| gone())?;
                Ok(if providers {
                    json!({
                        "providers": st.providers.iter().map(|p| json!({
                            "id": p.id,
                            "name": p.label,
                            "configured": p.configured,
                            "models": p.models,
                            "voices": p.voices,
                        })).collect::<Vec<_>>(),
                        "active": st.provider,
                    })
                } else {
                    json!({
                        "enabled": st.auto != "off",
                        "auto": st.auto,
                        "provider": st.provider,
                        "persona": Value::Null,
                        "personas": [],
                        // Each synthesis uses its one provider: nothing to fall back to.
                        "fallbackProvider": Value::Null,
                        "fallbackProviders": [],
                        "providerStates": st.providers.iter().map(|p| json!({
                            "id": p.id,
                            "label": p.label,
                            "configured": p.configured,
                        })).collect::<Vec<_>>(),
                        "talk": {"ready": st.talk.is_some(), "speaker": st.talk},
                    })
                })
            },
            ctx,
        );
    }
}
