//! The apps' Talk playback and the `tts.*` methods, against the real gateway binary: the
//! fake provider (`support::fake_openai`) serves ElevenLabs' own
//! `/v1/text-to-speech/{voice}` and OpenAI's `/v1/audio/speech` on loopback. Checked: the
//! audio comes back inline byte for byte while the key stays on the gateway (sent as
//! `xi-api-key`, never in an answer or a log); the client's overrides (a voice alias, the
//! output format, speed, latency) reach the provider and nothing a stranger sends reaches
//! its URL; markdown and code are spoken as OpenClaw speaks them; bad params, a text over
//! `tts.maxTextLength`, a failing provider, a caller without `operator.talk` and more than
//! four syntheses at once are refused with clear errors; a config edit turns Talk off
//! (`talk_unconfigured`, which lets the app fall back to the phone's own voice).

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::fake_openai::FakeOpenAi;
use crate::support::{TestGateway, WsClient, cli_params, error_of};
use crate::telegram_flow::{GW_ARGS, GW_TOKEN};

const XI_KEY: &str = "xi-secret-key-0123456789";
const OPENAI_KEY: &str = "sk-tts-secret-9876543210";

fn config(ai: &FakeOpenAi, talk: bool) -> String {
    let mut cfg = json!({
        "tts": {"provider": "openai", "maxTextLength": 500,
            "providers": {"openai": {"apiKey": OPENAI_KEY, "baseUrl": ai.base_url(), "model": "tts-1", "voice": "alloy"}}},
    });
    if talk {
        cfg["talk"] = json!({
            "provider": "elevenlabs",
            "speechLocale": "de-DE",
            "providers": {"elevenlabs": {
                "apiKey": XI_KEY,
                "baseUrl": format!("http://{}", ai.addr()),
                "voiceId": "pMsXgVXv3BLzUgSXRplE",
                "voiceAliases": {"Rachel": "21m00Tcm4TlvDq8ikWAM"},
            }},
        });
    }
    cfg.to_string()
}

/// A gateway answering a Telegram bot (the fake model's answers) with spoken answers by
/// ElevenLabs (`tts.auto: auto`, the `elevenlabs` block's other keys in `block`).
fn eleven_chat_gateway(
    auto: &str,
    block: Value,
) -> (
    crate::support::fake_telegram::FakeTelegram,
    FakeOpenAi,
    TestGateway,
) {
    let tg = crate::support::fake_telegram::FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value =
        serde_json::from_str(&crate::telegram_flow::config(&tg, Some(&ai), json!({})))
            .expect("config");
    let mut eleven = json!({"apiKey": XI_KEY, "baseUrl": format!("http://{}", ai.addr())});
    for (k, v) in block.as_object().cloned().unwrap_or_default() {
        eleven[k] = v;
    }
    cfg["tts"] = json!({"auto": auto, "provider": "elevenlabs",
        "providers": {"elevenlabs": eleven}});
    let gw = crate::telegram_flow::start_gateway(&cfg.to_string());
    (tg, ai, gw)
}

/// The permission bits of the file at `path`.
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_default())
        .unwrap_or_default()
}

fn ok_payload(res: &Value) -> &Value {
    assert_eq!(res["ok"], true, "{res}");
    &res["payload"]
}

#[actix_web::test]
async fn talk_speak_plays_with_the_gateways_provider_and_the_key_stays_there() {
    let ai = FakeOpenAi::start();
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&ai, true)));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.admin"])).await;

    // A reply with markdown and any Unicode, a voice alias, PCM for Android's AudioTrack.
    let res = op
        .request(
            "talk.speak",
            json!({"text": "Hallo **Ada** 👋 — ünïcödé ✓\n\n- eins", "voiceId": "rachel",
                "outputFormat": "pcm_24000", "speed": 1.1, "latencyTier": 2, "language": "DE"}),
        )
        .await;
    let p = ok_payload(&res);
    assert_eq!(b64(&p["audioBase64"]), FakeOpenAi::ELEVEN_AUDIO);
    assert_eq!(p["provider"], "elevenlabs");
    assert_eq!(p["outputFormat"], "pcm_24000");
    assert_eq!(p["fileExtension"], ".pcm");
    assert_eq!(p["voiceCompatible"], false);
    assert!(p.get("mimeType").is_none(), "{p}");
    let sent = ai.speech_requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].path,
        "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM?output_format=pcm_24000&optimize_streaming_latency=2"
    );
    assert_eq!(sent[0].header("xi-api-key"), Some(XI_KEY));
    assert_eq!(sent[0].authorization, None);
    assert_eq!(sent[0].body["text"], "Hallo Ada 👋 — ünïcödé ✓ eins");
    assert_eq!(sent[0].body["model_id"], "eleven_multilingual_v2");
    assert_eq!(sent[0].body["language_code"], "de");
    assert_eq!(sent[0].body["voice_settings"]["speed"].as_f64(), Some(1.1));

    // The default: MP3 from the configured voice; `rateWpm` gives the speed.
    let res = op
        .request(
            "talk.speak",
            json!({"text": "Guten Morgen", "rateWpm": 210}),
        )
        .await;
    let p = ok_payload(&res);
    assert_eq!(
        (p["outputFormat"].as_str(), p["mimeType"].as_str()),
        (Some("mp3_44100_128"), Some("audio/mpeg"))
    );
    let sent = ai.speech_requests();
    assert_eq!(
        sent[1].path,
        "/v1/text-to-speech/pMsXgVXv3BLzUgSXRplE?output_format=mp3_44100_128"
    );
    assert_eq!(sent[1].header("accept"), Some("audio/mpeg"));
    assert_eq!(sent[1].body["voice_settings"]["speed"].as_f64(), Some(1.2));

    // A reply that is mostly code is not read out.
    let code = "Here:\n```rust\nfn main() {\n    println!(\"hello\");\n}\n```";
    ok_payload(&op.request("talk.speak", json!({"text": code})).await);
    assert_eq!(
        ai.speech_requests()[2].body["text"],
        "I've put the detailed response on screen."
    );

    // What a stranger could aim at the provider's URL never reaches it.
    let before = ai.speech_requests().len();
    for (params, want) in [
        (json!({"text": "x", "voiceId": "../../v1/user"}), "voiceId"),
        (json!({"text": "x", "voiceId": "abcdefghij?x=1"}), "voiceId"),
        (
            json!({"text": "x", "outputFormat": "mp3&xi-api-key=1"}),
            "outputFormat",
        ),
    ] {
        let res = op.request("talk.speak", params.clone()).await;
        let e = error_of(&res);
        assert_eq!(e["code"], "UNAVAILABLE", "{params} {res}");
        assert_eq!(e["details"]["reason"], "synthesis_failed", "{res}");
        assert_eq!(e["details"]["fallbackEligible"], false, "{res}");
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains(want)),
            "{res}"
        );
    }
    assert_eq!(ai.speech_requests().len(), before);

    // Bad params: OpenClaw's wording, nothing sent.
    let long = "ä".repeat(501);
    for (params, want) in [
        (json!({}), "must have required property 'text'"),
        (json!({"text": ""}), "must NOT have fewer than 1 characters"),
        (
            json!({"text": "x", "voice": "y"}),
            "unexpected property 'voice'",
        ),
        (json!({"text": "x", "speed": "fast"}), "must be number"),
        (
            json!({"text": "x", "rateWpm": 50}),
            "rateWpm must resolve to speed",
        ),
        (json!({"text": 42}), "must be string"),
        (json!("text"), "must be object"),
        (json!({"text": long}), "text too long (501 chars, max 500)"),
        (json!({"text": "** __ ~~"}), "nothing to say"),
    ] {
        let res = op.request("talk.speak", params.clone()).await;
        let e = error_of(&res);
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains(want)),
            "{params}: {res}"
        );
    }
    assert_eq!(ai.speech_requests().len(), before);

    // The provider refuses: an error naming it, never the key.
    ai.push_speech_status(
        401,
        json!({"detail": {"status": "invalid_api_key", "message": format!("bad key {XI_KEY}")}}),
    );
    let res = op.request("talk.speak", json!({"text": "hallo"})).await;
    let e = error_of(&res);
    assert_eq!(e["details"]["reason"], "synthesis_failed", "{res}");
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("401")),
        "{res}"
    );
    assert!(!res.to_string().contains(XI_KEY), "{res}");

    // tts.speak: the spoken answers' provider (OpenAI-compatible), MP3 for a client.
    let res = op.request("tts.speak", json!({"text": "Moin 🌊"})).await;
    let p = ok_payload(&res);
    assert_eq!(b64(&p["audioBase64"]), FakeOpenAi::SPEECH);
    assert_eq!(
        (p["provider"].as_str(), p["mimeType"].as_str()),
        (Some("openai"), Some("audio/mpeg"))
    );
    let last = ai.speech_requests().pop().expect("tts.speak request");
    assert_eq!(last.path, "/v1/audio/speech");
    assert_eq!(
        last.authorization.as_deref(),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(
        last.body,
        json!({"model": "tts-1", "voice": "alloy", "input": "Moin 🌊", "response_format": "mp3"})
    );
    // tts.convert: the same voice saved on the gateway host (0600) for its CLI.
    let res = op
        .request(
            "tts.convert",
            json!({"text": "Datei, bitte", "voiceId": "nova"}),
        )
        .await;
    let p = ok_payload(&res);
    assert_eq!(
        (p["provider"].as_str(), p["outputFormat"].as_str()),
        (Some("openai"), Some("mp3"))
    );
    let path = std::path::PathBuf::from(p["audioPath"].as_str().unwrap_or_default());
    assert!(
        path.starts_with(gw.dir.path().join("media/outbound")),
        "{p}"
    );
    assert_eq!(
        std::fs::read(&path).expect("the audio file"),
        FakeOpenAi::SPEECH
    );
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(
        ai.speech_requests().pop().expect("request").body["voice"],
        "nova"
    );
    let res = op
        .request(
            "tts.convert",
            json!({"text": "Sprachnachricht", "channel": "telegram"}),
        )
        .await;
    let p = ok_payload(&res);
    assert_eq!(
        (p["outputFormat"].as_str(), p["voiceCompatible"].as_bool()),
        (Some("opus"), Some(true))
    );
    for (params, want) in [
        (json!({"text": ""}), "tts.convert requires text"),
        (
            json!({"text": "x", "provider": "elevenlabs"}),
            "not the configured speech provider",
        ),
        (json!({"text": 5}), "must be string"),
    ] {
        let res = op.request("tts.convert", params.clone()).await;
        assert!(
            error_of(&res)["message"]
                .as_str()
                .is_some_and(|m| m.contains(want)),
            "{params}: {res}"
        );
    }
    let res = op
        .request("tts.speak", json!({"text": "x", "voiceId": "y"}))
        .await;
    assert!(
        error_of(&res)["message"]
            .as_str()
            .is_some_and(|m| m.contains("unexpected property")),
        "{res}"
    );

    // tts.status / tts.providers: what is configured, no key.
    let st = op.request("tts.status", json!({})).await;
    let p = ok_payload(&st);
    assert_eq!(
        (
            p["enabled"].as_bool(),
            p["auto"].as_str(),
            p["provider"].as_str()
        ),
        (Some(false), Some("off"), Some("openai"))
    );
    let states = p["providerStates"].as_array().cloned().unwrap_or_default();
    let configured = |id: &str| {
        states
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["configured"].clone())
    };
    assert_eq!(configured("openai"), Some(json!(true)), "{p}");
    assert_eq!(configured("elevenlabs"), Some(json!(false)), "{p}");
    assert_eq!(p["talk"]["ready"], true, "{p}");
    let pr = op.request("tts.providers", json!({})).await;
    let p = ok_payload(&pr);
    assert_eq!(p["active"], "openai");
    assert!(
        p["providers"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"] == "elevenlabs"
                && x["models"]
                    .as_array()
                    .is_some_and(|m| m.contains(&json!("eleven_v3"))))),
        "{p}"
    );
    for res in [&st, &pr] {
        assert!(
            !res.to_string().contains(XI_KEY) && !res.to_string().contains(OPENAI_KEY),
            "{res}"
        );
    }

    // talk.catalog: the Talk provider is the active, configured speech provider; realtime
    // and transcription are not relayed here (the apps stay on native Talk).
    let cat = op.request("talk.catalog", json!({})).await;
    let p = ok_payload(&cat);
    assert_eq!(p["speech"]["activeProvider"], "elevenlabs", "{cat}");
    let eleven = p["speech"]["providers"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == "elevenlabs").cloned())
        .unwrap_or_default();
    assert_eq!(
        (eleven["configured"].as_bool(), eleven["modes"].clone()),
        (Some(true), json!(["stt-tts"])),
        "{cat}"
    );
    assert_eq!(
        p["realtime"],
        json!({"ready": false, "providers": []}),
        "{cat}"
    );
    assert_eq!(p["transcription"]["ready"], false, "{cat}");
    assert!(!cat.to_string().contains(XI_KEY));
    let bad = op.request("talk.catalog", json!({"x": 1})).await;
    assert!(
        error_of(&bad)["message"]
            .as_str()
            .is_some_and(|m| m.contains("unexpected property")),
        "{bad}"
    );

    // Who may: talk.speak needs operator.talk (write grants it), tts.speak write.
    let (mut reader, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    for m in ["talk.speak", "tts.speak"] {
        let res = reader.request(m, json!({"text": "hi"})).await;
        assert!(
            error_of(&res)["message"]
                .as_str()
                .is_some_and(|s| s.contains("missing scope")),
            "{m}: {res}"
        );
    }
    ok_payload(&reader.request("tts.status", json!({})).await);
    let (mut talker, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.talk"])).await;
    ok_payload(
        &talker
            .request("talk.speak", json!({"text": "hi there"}))
            .await,
    );

    // The apps read the Talk section (`talk.config`): the provider and voice, never the key.
    let tc = op.request("talk.config", json!({})).await;
    let talk = &ok_payload(&tc)["config"]["talk"];
    assert_eq!(talk["provider"], "elevenlabs", "{tc}");
    assert_eq!(talk["speechLocale"], "de-DE", "{tc}");
    assert_eq!(
        talk["providers"]["elevenlabs"]["voiceId"], "pMsXgVXv3BLzUgSXRplE",
        "{tc}"
    );
    assert!(!tc.to_string().contains(XI_KEY), "{tc}");

    // The key is in no log line.
    let logs = gw.stderr();
    assert!(
        !logs.contains(XI_KEY) && !logs.contains(OPENAI_KEY),
        "{logs}"
    );
}

/// At most four syntheses run at once and sixty start in a minute; a config edit that
/// removes Talk makes `talk.speak` say so with OpenClaw's fallback-eligible reason.
#[actix_web::test]
async fn syntheses_are_bounded_and_a_config_edit_turns_talk_off() {
    let ai = FakeOpenAi::start();
    let gw = TestGateway::start(GW_ARGS, &[], Some(&config(&ai, true)));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.admin"])).await;
    ai.set_speech_delay(Duration::from_secs(2));
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..6 {
            ids.push(
                op.send_request("talk.speak", json!({"text": format!("number {i}")}))
                    .await,
            );
        }
        ids
    };
    let mut ok = 0;
    let mut busy = 0;
    for id in &ids {
        let res = op.response_within(id, Duration::from_secs(20)).await;
        if res["ok"] == true {
            ok += 1;
        } else {
            let e = error_of(&res);
            assert_eq!(e["code"], "UNAVAILABLE", "{res}");
            assert!(e["retryAfterMs"].as_u64().is_some(), "{res}");
            busy += 1;
        }
    }
    assert_eq!((ok, busy), (4, 2));
    assert_eq!(ai.speech_requests().len(), 4);
    // The slots are free again.
    ai.set_speech_delay(Duration::ZERO);
    ok_payload(&op.request("talk.speak", json!({"text": "again"})).await);
    // At most 60 start in a minute (5 did): the 61st waits, told for how long.
    for i in 0..55 {
        ok_payload(
            &op.request("talk.speak", json!({"text": format!("more {i}")}))
                .await,
        );
    }
    let res = op
        .request("talk.speak", json!({"text": "one too many"}))
        .await;
    let e = error_of(&res);
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("in the last minute")),
        "{res}"
    );
    assert!(
        e["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0 && ms <= 60_000),
        "{res}"
    );
    assert_eq!(ai.speech_requests().len(), 60);

    // Talk removed from the config: applied in place, and the app is told to fall back.
    crate::support::replace_file(&gw.config_path(), &config(&ai, false));
    gw.wait_stderr_line(&["applied", "talk"], Duration::from_secs(15));
    let res = op
        .request("talk.speak", json!({"text": "still there?"}))
        .await;
    let e = error_of(&res);
    assert_eq!(e["code"], "UNAVAILABLE", "{res}");
    assert_eq!(
        e["details"],
        json!({"reason": "talk_unconfigured", "fallbackEligible": true})
    );
}

/// `tts.provider: "elevenlabs"`: a chat's answers go out as voice notes spoken by
/// ElevenLabs (Opus, OGG-wrapped, for Telegram's voice messages).
#[actix_web::test]
async fn chat_answers_are_spoken_by_elevenlabs() {
    use crate::telegram_flow::{SLOW, dm, wait_reply};
    let (tg, ai, gw) = eleven_chat_gateway(
        "always",
        json!({"voiceId": "21m00Tcm4TlvDq8ikWAM", "modelId": "eleven_turbo_v2_5",
            "voiceSettings": {"stability": 0.4}}),
    );
    let answer = "Die Sonne scheint, es sind 24 Grad. ☀️";
    ai.push_text(answer);
    let asked = dm(&tg, 5401, "Wie ist das Wetter?");
    let r = wait_reply(&tg, asked, SLOW).await;
    assert_eq!(r.method, "sendVoice", "{r:?}");
    assert_eq!(r.caption(), Some(answer));
    let file = r.file.as_ref().expect("the voice note");
    assert_eq!(&file.data[..], FakeOpenAi::SPEECH);
    let spoken = ai.speech_requests();
    assert_eq!(spoken.len(), 1, "{spoken:?}");
    assert_eq!(
        spoken[0].path,
        "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM?output_format=opus_48000_64"
    );
    assert_eq!(spoken[0].header("xi-api-key"), Some(XI_KEY));
    assert_eq!(spoken[0].body["text"], answer);
    // The retired model name is sent as its successor, the configured stability with
    // OpenClaw's defaults for the rest.
    assert_eq!(spoken[0].body["model_id"], "eleven_flash_v2_5");
    assert_eq!(
        spoken[0].body["voice_settings"],
        json!({"stability": 0.4, "similarity_boost": 0.75, "style": 0.0, "use_speaker_boost": true, "speed": 1.0})
    );

    // `tts.disable` (the real CLI's `openclaw infer tts disable`): the next answer stays
    // text, and the choice is saved (0600) in OpenClaw's preferences file.
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.write"])).await;
    let res = op.request("tts.disable", json!({})).await;
    assert_eq!(ok_payload(&res)["enabled"], false);
    let st = op.request("tts.status", json!({})).await;
    assert_eq!(ok_payload(&st)["auto"], "off", "{st}");
    let prefs = gw.dir.path().join("settings/tts.json");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&prefs).expect("settings/tts.json")).expect("json");
    assert_eq!(doc, json!({"tts": {"auto": "off"}}));
    assert_eq!(mode_of(&prefs), 0o600);
    ai.push_text("Nur Text diesmal, bitte.");
    let asked = dm(&tg, 5401, "Und morgen?");
    let r = wait_reply(&tg, asked, SLOW).await;
    assert_eq!(
        (r.method.as_str(), r.text()),
        ("sendMessage", "Nur Text diesmal, bitte.")
    );
    assert_eq!(ai.speech_requests().len(), 1);
    // The choice outlives a restart (the file over the config's "always").
    assert!(!gw.stderr().contains(XI_KEY));
    drop(op);
    let gw = crate::telegram_flow::restart(gw);
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.write"])).await;
    assert_eq!(
        ok_payload(&op.request("tts.status", json!({})).await)["auto"],
        "off"
    );
    let res = op.request("tts.enable", json!({})).await;
    assert_eq!(ok_payload(&res)["enabled"], true);
    assert_eq!(
        ok_payload(&op.request("tts.status", json!({})).await)["auto"],
        "always"
    );
    assert!(!gw.stderr().contains(XI_KEY));
}

/// With nothing configured: `talk.speak` tells the app to use the phone's own voice, and
/// `tts.enable` says what is missing instead of pretending.
#[actix_web::test]
async fn without_providers_talk_and_tts_say_what_is_missing() {
    let gw = TestGateway::start(GW_ARGS, &[], None);
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.admin"])).await;
    let res = op.request("talk.speak", json!({"text": "hi"})).await;
    let e = error_of(&res);
    assert_eq!(e["code"], "UNAVAILABLE", "{res}");
    assert_eq!(
        e["details"],
        json!({"reason": "talk_unconfigured", "fallbackEligible": true})
    );
    for (m, params) in [
        ("tts.enable", json!({})),
        ("tts.speak", json!({"text": "hi"})),
    ] {
        let res = op.request(m, params).await;
        let e = error_of(&res);
        assert_eq!(e["code"], "UNAVAILABLE", "{m}: {res}");
        assert!(
            e["message"].as_str().is_some_and(|s| s.contains("Fix:")),
            "{m}: {res}"
        );
    }
    assert!(!gw.dir.path().join("settings/tts.json").exists());
    let st = op.request("tts.status", json!({})).await;
    let p = ok_payload(&st);
    assert_eq!(
        (p["enabled"].as_bool(), p["talk"]["ready"].as_bool()),
        (Some(false), Some(false))
    );
}

/// `tts.auto: "tagged"`: only an answer with `[[tts:…]]` directives is spoken, with their
/// voice and speed and the audio-only `[[tts:text]]` block; the directives are shown nowhere
/// (the chat, the caption, operators' streamed `chat` deltas, the transcript). The model is
/// told how (`## Voice (TTS)` in its system prompt).
#[actix_web::test]
async fn tagged_answers_are_spoken_with_their_directives_and_never_show_them() {
    use crate::support::fake_openai::FakeReply;
    use crate::telegram_flow::{SLOW, dm, wait_reply};
    let (tg, ai, gw) = eleven_chat_gateway("tagged", json!({}));
    let (mut op, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    ai.set_streaming(true);
    let answer = "Here you go, a little song.\n\n[[tts:speakerVoiceId=21m00Tcm4TlvDq8ikWAM speed=1.2]]\n[[tts:text]](laughs) La la la, once more with feeling![[/tts:text]]";
    ai.push(FakeReply::text(answer).with_chunk_delay(Duration::from_millis(250)));
    let asked = dm(&tg, 5501, "Sing for me 🎶");
    let r = wait_reply(&tg, asked, SLOW).await;
    assert_eq!(r.method, "sendVoice", "{r:?}");
    assert_eq!(r.caption(), Some("Here you go, a little song."));
    let spoken = ai.speech_requests();
    assert_eq!(spoken.len(), 1, "{spoken:?}");
    assert_eq!(
        spoken[0].path,
        "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM?output_format=opus_48000_64"
    );
    assert_eq!(
        spoken[0].body["text"],
        "(laughs) La la la, once more with feeling!"
    );
    assert_eq!(
        spoken[0].body["voice_settings"]["speed"].as_f64(),
        Some(1.2)
    );
    // The model was told.
    let sent = ai.requests();
    let system = sent[0]["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        system.contains("## Voice (TTS)")
            && system.contains("Only use TTS when you include [[tts:key=value]]"),
        "{system}"
    );
    // No operator ever saw a directive, not even half-written.
    let mut chat = Vec::new();
    loop {
        let ev = op.event_within("chat", SLOW).await;
        let done = ev["payload"]["state"] == "final";
        chat.push(ev);
        if done {
            break;
        }
    }
    assert!(chat.len() >= 2, "{chat:?}");
    for e in &chat {
        let s = e.to_string();
        assert!(!s.contains("[[") && !s.contains("La la la"), "{s}");
    }
    let hist = op
        .request(
            "chat.history",
            json!({"sessionKey": "agent:main:telegram:direct:5501"}),
        )
        .await;
    let msgs = ok_payload(&hist)["messages"].clone();
    assert_eq!(
        msgs[1]["content"][0]["text"], "Here you go, a little song.",
        "{hist}"
    );
    // An answer without directives stays text.
    ai.push(FakeReply::text("Just text this time."));
    let again = dm(&tg, 5501, "and now?");
    let r = wait_reply(&tg, again, SLOW).await;
    assert_eq!(
        (r.method.as_str(), r.text()),
        ("sendMessage", "Just text this time.")
    );
    assert_eq!(ai.speech_requests().len(), 1);
}

/// `talk.mode`: a client entering or leaving Talk tells every operator with
/// `operator.talk` (`talk.mode` event, the caller's answer is the same payload); bad params
/// and a caller without the scope are refused by name; WebChat may only while a
/// Talk-capable node is connected, as in OpenClaw.
#[actix_web::test]
async fn talk_mode_tells_the_talk_operators_and_webchat_needs_a_talk_node() {
    use crate::support::fake_node::{
        Action, FakeNode, Sig, always, node_connect_params, random_key, sign_device,
    };
    use crate::support::{WAIT, connect_params, now_ms};

    let gw = TestGateway::start(GW_ARGS, &[], None);
    let (mut app, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.write"])).await;
    let (mut ui, _) = WsClient::hello(
        gw.port,
        cli_params(GW_TOKEN, &["operator.read", "operator.talk"]),
    )
    .await;
    let res = app
        .request("talk.mode", json!({"enabled": true, "phase": "listening"}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let payload = res["payload"].clone();
    assert_eq!(payload["enabled"], true);
    assert_eq!(payload["phase"], "listening");
    assert!(payload["ts"].as_u64().is_some_and(|t| t > 0), "{payload}");
    let ev = ui.event_within("talk.mode", WAIT).await;
    assert_eq!(ev["payload"], payload, "the event is the answer");
    let res = app.request("talk.mode", json!({"enabled": false})).await;
    assert_eq!(res["payload"]["phase"], Value::Null, "{res}");
    let ev = ui.event_within("talk.mode", WAIT).await;
    assert_eq!(ev["payload"]["enabled"], false);

    for (params, needle) in [
        (json!({}), "must have required property 'enabled'"),
        (json!({"enabled": "yes"}), "enabled must be boolean"),
        (
            json!({"enabled": true, "phase": 3}),
            "phase must be a string",
        ),
        (
            json!({"enabled": true, "phase": "🎤".repeat(65)}),
            "phase must be at most 64 characters",
        ),
        (
            json!({"enabled": true, "phase": "a\u{1b}[2Jb"}),
            "without control characters",
        ),
        (
            json!({"enabled": true, "mode": "x"}),
            "additional properties ('mode')",
        ),
    ] {
        let res = app.request("talk.mode", params.clone()).await;
        let err = error_of(&res);
        assert_eq!(err["code"], "INVALID_REQUEST", "{params}: {res}");
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains(needle)),
            "{params}: {res}"
        );
    }
    let (mut reader, _) = WsClient::hello(gw.port, cli_params(GW_TOKEN, &["operator.read"])).await;
    let res = reader.request("talk.mode", json!({"enabled": true})).await;
    assert!(
        error_of(&res)["message"]
            .as_str()
            .is_some_and(|m| m.contains("operator.talk")),
        "{res}"
    );

    // The Control UI (WebChat) with its signed device.
    let (mut web, challenge) = WsClient::open_challenged(gw.port).await;
    let nonce = challenge["payload"]["nonce"]
        .as_str()
        .expect("nonce")
        .to_owned();
    let mut params = connect_params(
        "openclaw-control-ui",
        "webchat",
        &["operator.read", "operator.write"],
        json!({"token": GW_TOKEN}),
    );
    params["client"]["platform"] = json!("web");
    sign_device(&mut params, &random_key(), &nonce, now_ms(), Sig::V3);
    let hello = web.connect(params).await;
    assert_eq!(hello["ok"], true, "{hello}");
    let res = web.request("talk.mode", json!({"enabled": true})).await;
    let err = error_of(&res);
    assert_eq!(err["code"], "UNAVAILABLE", "{res}");
    assert_eq!(
        err["message"],
        "talk disabled: no connected Talk-capable nodes"
    );
    // A node that can Talk connects: now WebChat may.
    let mut node_params = node_connect_params(&[], json!({"token": GW_TOKEN}));
    node_params["caps"] = json!(["talk"]);
    let _phone = FakeNode::connect_with(gw.port, &random_key(), node_params, always(Action::Echo))
        .await
        .unwrap_or_else(|res| panic!("node connect: {res}"));
    let res = web
        .request("talk.mode", json!({"enabled": true, "phase": "speaking"}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let ev = ui.event_within("talk.mode", WAIT).await;
    assert_eq!(ev["payload"]["phase"], "speaking");
}

/// `/tts audio <text>` in a chat: the text (as written) comes back as a voice note spoken by
/// the spoken answers' provider, even with `tts.auto: off`; an empty or too long text, and
/// a gateway without `tts`, get a text saying so; the model is not asked. `/tts latest`
/// speaks the chat's last answer.
#[actix_web::test]
async fn tts_audio_and_latest_in_a_chat_answer_with_a_voice_note() {
    use crate::telegram_flow::{SLOW, dm, wait_reply};
    let tg = crate::support::fake_telegram::FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let ai = FakeOpenAi::start();
    let mut cfg: Value =
        serde_json::from_str(&crate::telegram_flow::config(&tg, Some(&ai), json!({})))
            .expect("config");
    cfg["tts"] = json!({"auto": "off", "provider": "elevenlabs", "maxTextLength": 40,
        "providers": {"elevenlabs": {"apiKey": XI_KEY, "baseUrl": format!("http://{}", ai.addr()),
            "voiceId": "21m00Tcm4TlvDq8ikWAM"}}});
    let gw = crate::telegram_flow::start_gateway(&cfg.to_string());

    let text = "Guten Morgen, Zoë! ☕ «Tee?»";
    let asked = dm(&tg, 5601, &format!("/tts audio   {text}  "));
    let r = wait_reply(&tg, asked, SLOW).await;
    assert_eq!(r.method, "sendVoice", "{r:?}");
    let file = r.file.as_ref().expect("the voice note");
    assert_eq!(&file.data[..], FakeOpenAi::SPEECH);
    let spoken = ai.speech_requests();
    assert_eq!(spoken.len(), 1, "{spoken:?}");
    assert_eq!(spoken[0].body["text"], text, "as written");
    assert_eq!(spoken[0].header("xi-api-key"), Some(XI_KEY));

    for (ask, want) in [
        ("/tts audio", "Usage: /tts audio <text>"),
        (
            "/tts audio this text is certainly longer than forty characters",
            "longer than 40 characters",
        ),
    ] {
        let asked = dm(&tg, 5601, ask);
        let r = wait_reply(&tg, asked, SLOW).await;
        assert!(r.text().contains(want), "{ask}: {:?}", r.text());
    }
    assert_eq!(ai.speech_requests().len(), 1, "nothing more was spoken");
    assert_eq!(ai.request_count(), 0, "the model was never asked");

    // `/tts latest`: the chat's last answer, as it is read aloud (markdown gone).
    let asked = dm(&tg, 5603, "/tts latest");
    let r = wait_reply(&tg, asked, SLOW).await;
    assert!(r.text().contains("Nothing to speak yet"), "{:?}", r.text());
    ai.push_text("Das **Wetter** ist schön.");
    let asked = dm(&tg, 5603, "Wie ist das Wetter?");
    let r = wait_reply(&tg, asked, SLOW).await;
    assert_eq!(
        r.text(),
        "Das **Wetter** ist schön.",
        "auto off: a text answer"
    );
    let asked = dm(&tg, 5603, "/tts latest");
    let r = wait_reply(&tg, asked, SLOW).await;
    assert_eq!(r.method, "sendVoice", "{r:?}");
    let spoken = ai.speech_requests();
    assert_eq!(spoken.len(), 2, "{spoken:?}");
    assert_eq!(spoken[1].body["text"], "Das Wetter ist schön.");
    drop(gw);

    // A gateway without spoken answers says so.
    let tg = crate::support::fake_telegram::FakeTelegram::start(crate::telegram_flow::TG_TOKEN);
    let gw =
        crate::telegram_flow::start_gateway(&crate::telegram_flow::config(&tg, None, json!({})));
    let asked = dm(&tg, 5602, "/tts audio hello");
    let r = wait_reply(&tg, asked, SLOW).await;
    assert!(r.text().contains("not set up"), "{:?}", r.text());
    drop(gw);
}
