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
