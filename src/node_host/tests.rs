//! Unit tests of `node_host` (kept apart so the module stays readable).

use super::*;

#[test]
fn urls() {
    assert_eq!(
        gateway_url("127.0.0.1", 18789, false, None),
        "ws://127.0.0.1:18789"
    );
    assert_eq!(
        gateway_url("gw.example", 443, true, Some("openclaw/")),
        "wss://gw.example:443/openclaw"
    );
    assert_eq!(gateway_url("::1", 1, false, Some("/x")), "ws://[::1]:1/x");
}

#[test]
fn reconnect_delays_are_jittered_within_20_percent() {
    let mut b = RECONNECT_BACKOFF;
    for want in [1u64, 2, 4, 8, 16, 30, 30] {
        let d = jitter(b.next_delay());
        let base = Duration::from_secs(want);
        assert!(
            d >= base.mul_f64(0.8) && d < base.mul_f64(1.2),
            "{d:?} vs {base:?}"
        );
    }
}

#[test]
fn meminfo() {
    let (t, f) =
        parse_meminfo("MemTotal:       1000 kB\nMemFree:  10 kB\nMemAvailable:   500 kB\n");
    assert_eq!(t, Some(1_024_000));
    assert_eq!(f, Some(512_000));
    let s = host_stats();
    assert!(s["cpuCount"].as_u64().is_some_and(|c| c >= 1));
}

#[test]
fn connect_signature_verifies() {
    let tmp = tempfile::tempdir().expect("tmp");
    let identity = state::load_or_create_identity(tmp.path()).expect("id");
    let ctx = Ctx {
        url: "ws://127.0.0.1:1".into(),
        target: Target::default(),
        state_dir: tmp.path().to_path_buf(),
        identity,
        display_name: "Box".into(),
        token: Some("T".into()),
        password: None,
        exec_allow: vec![],
        path_env: Some("/usr/bin:/bin".into()),
        bootstrap: RefCell::new(None),
        prefer_device_token: false,
    };
    let params = connect_params(&ctx, Some("ignored"), "n1", 1_000).expect("params");
    let parsed = openclaw_actors::protocol::connect::parse(&params).expect("valid connect");
    let proof = parsed.device.clone().expect("device");
    openclaw_actors::identity::verify_proof(&parsed, &proof, "n1", 1_000).expect("verifies");
    assert_eq!(params["auth"], json!({"token": "T"}));
    assert_eq!(params["pathEnv"], json!("/usr/bin:/bin"));
    // Without a shared secret the stored device token is sent (and signed).
    let ctx = Ctx { token: None, ..ctx };
    let params = connect_params(&ctx, Some("DT"), "n2", 2_000).expect("params");
    assert_eq!(params["auth"], json!({"deviceToken": "DT"}));
    let parsed = openclaw_actors::protocol::connect::parse(&params).expect("valid connect");
    let proof = parsed.device.clone().expect("device");
    openclaw_actors::identity::verify_proof(&parsed, &proof, "n2", 2_000).expect("verifies");
}

// === setup codes (`node run --pair`, `--pair-if-needed`) ===

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser as _;

/// A 43-character token, like the gateway's.
const BOOT: &str = "bOOtstrapTOKEN-0123456789_abcdefghijklmnopq";
/// Far in the future.
const LATER: u64 = 4_000_000_000_000;

fn code_of(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_err(input: &str) -> String {
    let e = pair::decode(input).expect_err(input);
    assert!(!e.contains(BOOT), "an error never shows the token: {e}");
    e
}

#[test]
fn setup_codes_decode_bare_prefixed_and_with_extra_keys() {
    let bare = openclaw_actors::setup_code::encode("ws://127.0.0.1:18789", BOOT, LATER);
    let want = pair::SetupCode {
        url: "ws://127.0.0.1:18789".into(),
        gateway: pair::GatewayAddr {
            host: "127.0.0.1".into(),
            port: 18789,
            tls: false,
            context_path: None,
        },
        bootstrap_token: pair::decode(&bare).expect("bare").bootstrap_token,
        expires_at_ms: Some(LATER),
    };
    assert_eq!(want.bootstrap_token.expose(), BOOT);
    for input in [
        bare.clone(),
        format!("oc-pair://{bare}"),
        format!("OC-PAIR://{bare}"),
        format!("  Oc-Pair://{bare}/\n"),
        format!("{bare}=="),
    ] {
        assert_eq!(pair::decode(&input).as_ref(), Ok(&want), "{input}");
    }
    // Unknown keys (alternative URLs, a TLS fingerprint) are ignored.
    let extra = code_of(&json!({
        "url": "wss://gw.example/openclaw/",
        "bootstrapToken": BOOT,
        "expiresAtMs": LATER,
        "urls": ["wss://gw.example/openclaw", "ws://192.168.1.2:18789"],
        "tlsFingerprint": "AB:CD",
        "future": {"x": 1},
    }));
    let c = pair::decode(&extra).expect("extra keys");
    assert_eq!(
        c.gateway,
        pair::GatewayAddr {
            host: "gw.example".into(),
            port: 443,
            tls: true,
            context_path: Some("/openclaw".into()),
        }
    );
    assert_eq!(c.expires_at_ms, Some(LATER));
    // No expiry in the code: the gateway's own limit applies.
    let c = pair::decode(&code_of(
        &json!({"url": "ws://10.0.0.2:1", "bootstrapToken": BOOT}),
    ))
    .expect("no expiry");
    assert_eq!(c.expires_at_ms, None);
    assert_eq!(pair::check_fresh(&c, LATER), Ok(()));
}

#[test]
fn malformed_setup_codes_are_refused_naming_the_problem() {
    assert!(decode_err("").contains("empty"));
    assert!(decode_err("oc-pair://").contains("empty"));
    assert!(decode_err("not a code!").contains("not base64url"));
    assert!(decode_err("abc+/def").contains("not base64url"));
    // One base64 character is never a whole byte.
    assert!(decode_err("a").contains("not valid base64url"));
    assert!(decode_err(&URL_SAFE_NO_PAD.encode("not json")).contains("JSON"));
    assert!(decode_err(&code_of(&json!([1, 2]))).contains("JSON object"));
    let e = decode_err(&code_of(
        &json!({"url": "ws://127.0.0.1:1", "expiresAtMs": LATER}),
    ));
    assert!(e.contains("no bootstrap token"), "{e}");
    let e = decode_err(&code_of(
        &json!({"url": "ws://127.0.0.1:1", "bootstrapToken": ""}),
    ));
    assert!(e.contains("no bootstrap token"), "{e}");
    let e = decode_err(&code_of(
        &json!({"url": "ws://127.0.0.1:1", "bootstrapToken": 7}),
    ));
    assert!(e.contains("not a string"), "{e}");
    let e = decode_err(&code_of(
        &json!({"url": "ws://127.0.0.1:1", "bootstrapToken": "a b"}),
    ));
    assert!(e.contains("malformed"), "{e}");
    let e = decode_err(&code_of(&json!({"bootstrapToken": BOOT})));
    assert!(e.contains("no gateway URL"), "{e}");
    let e = decode_err(&code_of(
        &json!({"url": "ws://127.0.0.1:1", "bootstrapToken": BOOT, "expiresAtMs": "soon"}),
    ));
    assert!(e.contains("expiresAtMs"), "{e}");
    for url in [
        "http://127.0.0.1:18789",
        "https://gw.example",
        "ftp://gw",
        "127.0.0.1:18789",
    ] {
        let e = decode_err(&code_of(&json!({"url": url, "bootstrapToken": BOOT})));
        assert!(e.contains("not a ws:// or wss:// URL"), "{url}: {e}");
        assert!(e.contains(url), "the error names the URL: {e}");
    }
    for (url, what) in [
        ("ws://user:pw@127.0.0.1:1", "credentials"),
        ("ws://127.0.0.1:1/?a=b", "query"),
        ("ws://127.0.0.1:1#x", "query or fragment"),
        ("ws://127.0.0.1:0", "invalid port"),
        ("ws://127.0.0.1:99999", "invalid port"),
        ("ws://:1", "no valid host"),
        ("ws://[::1", "no valid host"),
        ("ws://[zz]:1", "no valid host"),
        ("ws://a b:1", "not a valid URL"),
    ] {
        let e = decode_err(&code_of(&json!({"url": url, "bootstrapToken": BOOT})));
        assert!(e.contains(what), "{url}: {e}");
    }
}

#[test]
fn expired_setup_codes_are_refused() {
    let c = pair::decode(&openclaw_actors::setup_code::encode(
        "ws://127.0.0.1:1",
        BOOT,
        1_000_000,
    ))
    .expect("decodes");
    assert_eq!(pair::check_fresh(&c, 999_999), Ok(()));
    let e = pair::check_fresh(&c, 1_000_000).expect_err("expired at the instant");
    assert!(e.contains("expired 0 s ago"), "{e}");
    let e = pair::check_fresh(&c, 1_000_000 + 3_600_000).expect_err("an hour later");
    assert!(e.contains("expired 60 min ago"), "{e}");
}

#[test]
fn setup_code_secrets_never_show_in_debug_output() {
    let raw = openclaw_actors::setup_code::encode("ws://127.0.0.1:1", BOOT, LATER);
    let c = pair::decode(&raw).expect("decodes");
    let shown = format!("{c:?}");
    assert!(
        !shown.contains(BOOT) && shown.contains("redacted"),
        "{shown}"
    );
    let args = run_args(&["--pair", &raw]);
    let shown = format!("{args:?}");
    assert!(
        !shown.contains(&raw) && shown.contains("redacted"),
        "{shown}"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let p = plan(&args, tmp.path(), 0).expect("plan");
    assert!(!format!("{p:?}").contains(BOOT));
}

#[derive(clap::Parser, Debug)]
struct NodeCli {
    #[command(subcommand)]
    sub: NodeSub,
}

fn try_run_args(extra: &[&str]) -> Result<NodeRunArgs, clap::Error> {
    let argv = ["node", "run"].iter().chain(extra);
    match NodeCli::try_parse_from(argv)?.sub {
        NodeSub::Run(a) => Ok(a),
        NodeSub::Identity(_) => panic!("parsed as node identity"),
    }
}

fn run_args(extra: &[&str]) -> NodeRunArgs {
    try_run_args(extra).unwrap_or_else(|e| panic!("{extra:?}: {e}"))
}

fn addr(host: &str, port: u16, tls: bool, context_path: Option<&str>) -> pair::GatewayAddr {
    pair::GatewayAddr {
        host: host.into(),
        port,
        tls,
        context_path: context_path.map(str::to_owned),
    }
}

#[test]
fn the_codes_url_sets_the_gateway_unless_flags_say_otherwise() {
    let code = addr("gw.example", 8443, true, Some("/openclaw"));
    // Defaults without a code.
    assert_eq!(
        resolve_gateway(&run_args(&[]), None),
        addr("127.0.0.1", 18789, false, None)
    );
    // The code's URL without flags.
    assert_eq!(resolve_gateway(&run_args(&[]), Some(&code)), code);
    // Each explicit flag wins on its own.
    assert_eq!(
        resolve_gateway(&run_args(&["--host", "10.0.0.5"]), Some(&code)),
        addr("10.0.0.5", 8443, true, Some("/openclaw"))
    );
    assert_eq!(
        resolve_gateway(&run_args(&["--port", "9000"]), Some(&code)),
        addr("gw.example", 9000, true, Some("/openclaw"))
    );
    assert_eq!(
        resolve_gateway(&run_args(&["--context-path", "/other"]), Some(&code)),
        addr("gw.example", 8443, true, Some("/other"))
    );
    let plain = addr("192.168.1.2", 18789, false, None);
    assert_eq!(
        resolve_gateway(&run_args(&["--tls"]), Some(&plain)),
        addr("192.168.1.2", 18789, true, None)
    );
    assert!(resolve_gateway(&run_args(&["--tls-fingerprint", "AB"]), Some(&plain)).tls);
    assert!(resolve_gateway(&run_args(&["--tls-spki-pin", "sha256/x"]), Some(&plain)).tls);

    // The whole plan: the URL built from the code (and flags) is the device token's key.
    let tmp = tempfile::tempdir().expect("tmp");
    let raw = code_of(&json!({"url": "ws://192.168.1.2:18789/oc/", "bootstrapToken": BOOT}));
    let p = plan(&run_args(&["--pair", &raw]), tmp.path(), 0).expect("plan");
    assert_eq!(p.url, "ws://192.168.1.2:18789/oc");
    let p = plan(
        &run_args(&["--pair", &raw, "--host", "127.0.0.1", "--port", "1"]),
        tmp.path(),
        0,
    )
    .expect("plan");
    assert_eq!(p.url, "ws://127.0.0.1:1/oc");
    let p = plan(&run_args(&["--port", "7"]), tmp.path(), 0).expect("plan");
    assert_eq!(p.url, "ws://127.0.0.1:7");
    assert!(!p.with_code && p.bootstrap.is_none());
}

#[test]
fn pair_and_pair_if_needed_plans() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = "ws://127.0.0.1:18789";
    let raw = openclaw_actors::setup_code::encode(url, BOOT, 1_000_000);
    // --pair: the code is presented, if it has not expired.
    let p = plan(&run_args(&["--pair", &raw]), tmp.path(), 999_999).expect("fresh");
    assert!(p.with_code);
    assert_eq!(p.bootstrap.as_ref().map(|b| b.expose()), Some(BOOT));
    assert_eq!(p.expires_at_ms, Some(1_000_000));
    let f = plan(&run_args(&["--pair", &raw]), tmp.path(), 1_000_001).expect_err("expired");
    assert_eq!(f.code, 1);
    assert!(f.message.contains("expired"), "{}", f.message);
    assert!(
        f.message
            .contains("Fix: create a new code on the gateway host: openclaw qr --node"),
        "{}",
        f.message
    );
    let f = plan(&run_args(&["--pair", "garbage!"]), tmp.path(), 0).expect_err("malformed");
    assert_eq!(f.code, 1);
    assert!(
        f.message.starts_with("invalid setup code: "),
        "{}",
        f.message
    );
    assert!(f.message.contains("openclaw qr --node"), "{}", f.message);
    let http = code_of(&json!({"url": "http://127.0.0.1:1", "bootstrapToken": BOOT}));
    let f = plan(&run_args(&["--pair", &http]), tmp.path(), 0).expect_err("http");
    assert!(f.message.contains("ws:// or wss://"), "{}", f.message);

    // --pair-if-needed without a stored device token: as --pair.
    let p = plan(&run_args(&["--pair-if-needed", &raw]), tmp.path(), 0).expect("plan");
    assert!(p.with_code && p.bootstrap.is_some());
    let f = plan(
        &run_args(&["--pair-if-needed", &raw]),
        tmp.path(),
        2_000_000,
    );
    assert!(
        f.is_err(),
        "an expired code that would be presented is refused"
    );
    // With one stored for the code's URL: the code is not used, even once expired.
    state::store_device_token(tmp.path(), url, Some(json!({"token": "DT"}))).expect("store");
    let p = plan(
        &run_args(&["--pair-if-needed", &raw]),
        tmp.path(),
        2_000_000,
    )
    .expect("plan");
    assert_eq!(p.url, url);
    assert!(p.with_code && p.bootstrap.is_none());
    // A malformed code is still an error (it names the URL).
    assert!(plan(&run_args(&["--pair-if-needed", "x!"]), tmp.path(), 0).is_err());
    // A token for another URL does not count.
    let p = plan(
        &run_args(&["--pair-if-needed", &raw, "--port", "1"]),
        tmp.path(),
        0,
    )
    .expect("plan");
    assert!(p.bootstrap.is_some());
    // --pair presents the code even with a stored token.
    let p = plan(&run_args(&["--pair", &raw]), tmp.path(), 0).expect("plan");
    assert!(p.bootstrap.is_some());
    // Both flags at once: a usage error.
    let e = try_run_args(&["--pair", &raw, "--pair-if-needed", &raw]).expect_err("conflict");
    assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
}

fn node_ctx(dir: &std::path::Path) -> Ctx {
    Ctx {
        url: "ws://127.0.0.1:1".into(),
        target: Target::default(),
        state_dir: dir.to_path_buf(),
        identity: state::load_or_create_identity(dir).expect("id"),
        display_name: "Box".into(),
        token: None,
        password: None,
        exec_allow: vec![],
        path_env: None,
        bootstrap: RefCell::new(None),
        prefer_device_token: false,
    }
}

fn verify(params: &Value, nonce: &str, at: u64) -> Result<(), String> {
    let parsed = openclaw_actors::protocol::connect::parse(params).map_err(|e| e.to_string())?;
    let proof = parsed.device.clone().ok_or("no device")?;
    openclaw_actors::identity::verify_proof(&parsed, &proof, nonce, at)
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn the_first_connect_carries_only_the_bootstrap_token_and_signs_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let code = pair::decode(&openclaw_actors::setup_code::encode(
        "ws://127.0.0.1:1",
        BOOT,
        LATER,
    ))
    .expect("decodes");
    // Shared secrets in the environment and a stored device token are not sent with it.
    let ctx = Ctx {
        token: Some("T".into()),
        password: Some("PW".into()),
        bootstrap: RefCell::new(Some(code.bootstrap_token)),
        prefer_device_token: true,
        ..node_ctx(tmp.path())
    };
    let params = connect_params(&ctx, Some("DT"), "n1", 1_000).expect("params");
    assert_eq!(params["auth"], json!({"bootstrapToken": BOOT}));
    assert_eq!(params["role"], "node");
    assert_eq!(params["client"]["id"], "node-host");
    verify(&params, "n1", 1_000).expect("the proof verifies");
    // The proof covers the bootstrap token: another token does not verify with it.
    let mut forged = params.clone();
    forged["auth"]["bootstrapToken"] = json!("another-token");
    assert!(verify(&forged, "n1", 1_000).is_err());

    // Once paired, never again: the device token alone (even with OPENCLAW_GATEWAY_TOKEN).
    ctx.bootstrap.borrow_mut().take();
    let params = connect_params(&ctx, Some("DT"), "n2", 2_000).expect("params");
    assert_eq!(params["auth"], json!({"deviceToken": "DT"}));
    verify(&params, "n2", 2_000).expect("the proof verifies");
    // No device token stored (it was refused and forgotten): the shared token, if any.
    let params = connect_params(&ctx, None, "n3", 3_000).expect("params");
    assert_eq!(params["auth"], json!({"token": "T"}));
    let ctx = Ctx {
        token: None,
        password: None,
        ..ctx
    };
    let params = connect_params(&ctx, None, "n4", 4_000).expect("params");
    assert_eq!(params.get("auth"), None, "{params}");
}

#[test]
fn refused_and_waiting_setup_codes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ctx = Ctx {
        bootstrap: RefCell::new(
            pair::decode(&code_of(
                &json!({"url": "ws://127.0.0.1:1", "bootstrapToken": BOOT}),
            ))
            .ok()
            .map(|c| c.bootstrap_token),
        ),
        ..node_ctx(tmp.path())
    };
    let invalid = json!({
        "code": "INVALID_REQUEST",
        "message": "unauthorized: setup code invalid, expired, revoked, or already used (create a new code; review `openclaw devices list`)",
        "details": {"code": "AUTH_BOOTSTRAP_TOKEN_INVALID", "authReason": "bootstrap_token_invalid"},
    });
    match connect_error(&ctx, &invalid, false) {
        SessionEnd::Exit(f) => {
            assert_eq!(f.code, 1);
            assert!(f.message.contains("setup code invalid"), "{}", f.message);
            assert!(
                f.message
                    .contains("\nFix: create a new code on the gateway host: openclaw qr --node"),
                "{}",
                f.message
            );
            assert!(!f.message.contains(BOOT));
        }
        SessionEnd::Retry { reason, .. } => panic!("retried: {reason}"),
    }
    // Redeemed by a client class it was not made for: wait for the operator, same code.
    let waiting = json!({
        "code": "NOT_PAIRED",
        "message": "pairing required: device is not approved yet",
        "details": {"code": "PAIRING_REQUIRED", "requestId": "R1", "reason": "not-paired",
                    "recommendedNextStep": "wait_then_retry", "retryable": true},
    });
    match connect_error(&ctx, &waiting, false) {
        SessionEnd::Retry {
            reason, connected, ..
        } => {
            assert!(!connected);
            assert!(reason.contains("openclaw devices approve R1"), "{reason}");
            assert!(reason.contains("same code"), "{reason}");
        }
        SessionEnd::Exit(f) => panic!("gave up: {}", f.message),
    }
    assert!(
        ctx.bootstrap.borrow().is_some(),
        "the code is kept for the retry"
    );
}
