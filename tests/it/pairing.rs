//! Device identity and pairing: signed device proofs (v3, v2) and their rejections, silent
//! local pairing, the remote pairing flow with device tokens (issue, use, rotate, remove),
//! and pairing state surviving a restart.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use openclaw::actors::identity::DeviceKey;
use serde_json::{Value, json};

use crate::nodes::{ALL_OPERATOR, approve_surface};
use crate::support::fake_node::{
    Action, FakeNode, Sig, always, node_connect_params, random_key, sign_device,
};
use crate::support::{
    CliHome, TestGateway, WsClient, cli_params, connect_params, error_of, now_ms,
};

fn golden(name: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("../fixtures/golden/device-pairing.json"))
        .expect("tests/fixtures/golden/device-pairing.json is valid JSON");
    all.get(name)
        .cloned()
        .unwrap_or_else(|| panic!("golden scenario {name:?} missing"))
}

/// The `device` object for `key`, with `signature` over `payload` made by `signer`.
fn device_json(
    key: &DeviceKey,
    signer: &DeviceKey,
    payload: &str,
    signed_at: u64,
    nonce: &str,
) -> Value {
    json!({
        "id": key.device_id(),
        "publicKey": key.public_key_b64(),
        "signature": signer.sign(payload),
        "signedAt": signed_at,
        "nonce": nonce,
    })
}

fn nonce_of(challenge: &Value) -> String {
    challenge["payload"]["nonce"]
        .as_str()
        .expect("challenge nonce is a string")
        .to_owned()
}

/// Checks a rejected connect against a golden scenario (error object, close code, reason).
async fn assert_rejected(c: &mut WsClient, params: Value, case: &str) {
    c.send_request("connect", params).await;
    let (code, reason, before) = c.until_close().await;
    let g = golden(case);
    assert_eq!(
        before.len(),
        1,
        "{case}: one res before the close: {before:?}"
    );
    assert_eq!(error_of(&before[0]), &g["error"], "{case}");
    assert_eq!(code, Some(1008), "{case}: close code");
    assert_eq!(reason, g["close"]["reason"], "{case}: close reason");
}

/// The paired entry for `device_id` in a `device.pair.list` response.
fn paired_entry(list: &Value, device_id: &str) -> Value {
    list["payload"]["paired"]
        .as_array()
        .expect("device.pair.list paired is an array")
        .iter()
        .find(|d| d["deviceId"] == device_id)
        .cloned()
        .unwrap_or_else(|| panic!("device {device_id} is not paired: {list}"))
}

#[actix_web::test]
async fn device_proof_v3_on_loopback_pairs_silently() {
    let gw = TestGateway::with_token("T");
    let key = random_key();
    let id = key.device_id();
    let (mut c, ch) = WsClient::open_challenged(gw.port).await;
    let nonce = nonce_of(&ch);
    let signed_at = now_ms();
    let mut params = cli_params("T", &["operator.read", "operator.pairing"]);
    // The v3 payload written out by hand (not with the gateway's own helper).
    let payload = format!(
        "v3|{id}|cli|cli|operator|operator.read,operator.pairing|{signed_at}|T|{nonce}|linux|"
    );
    params["device"] = device_json(&key, &key, &payload, signed_at, &nonce);
    let res = c.connect(params).await;
    assert_eq!(res["ok"], true, "{res}");
    let auth = &res["payload"]["auth"];
    assert_eq!(auth["method"], "token", "{auth}");
    assert_eq!(auth["role"], "operator", "{auth}");
    assert_eq!(
        auth["scopes"],
        json!(["operator.read", "operator.pairing"]),
        "{auth}"
    );
    let token = auth["deviceToken"]
        .as_str()
        .filter(|t| t.len() >= 32)
        .unwrap_or_else(|| panic!("hello auth.deviceToken: {auth}"))
        .to_owned();
    let issued = auth["issuedAtMs"].as_u64().expect("auth.issuedAtMs");
    assert!(issued.abs_diff(now_ms()) < 60_000, "{auth}");

    let list = c.request("device.pair.list", json!({})).await;
    assert_eq!(list["ok"], true, "{list}");
    let d = paired_entry(&list, &id);
    assert_eq!(d["approvedVia"], "silent", "{d}");
    assert_eq!(d["publicKey"], key.public_key_b64(), "{d}");
    assert_eq!(d["roles"], json!(["operator"]), "{d}");
    assert_eq!(d["clientId"], "cli", "{d}");
    assert_eq!(d["connected"], true, "{d}");
    assert_eq!(d["tokens"][0]["role"], "operator", "{d}");
    assert!(
        !list.to_string().contains(&token),
        "the device token is never listed: {list}"
    );
    assert_eq!(list["payload"]["pending"], json!([]), "{list}");
}

#[actix_web::test]
async fn device_proof_v2_is_accepted_and_keeps_scopes() {
    let gw = TestGateway::with_token("T");
    let key = random_key();
    let id = key.device_id();
    let (mut c, ch) = WsClient::open_challenged(gw.port).await;
    let nonce = nonce_of(&ch);
    let signed_at = now_ms();
    // test/test: without a device it would lose its scopes; with one it keeps them.
    let mut params = connect_params("test", "test", &["operator.read"], json!({"token": "T"}));
    let payload = format!("v2|{id}|test|test|operator|operator.read|{signed_at}|T|{nonce}");
    params["device"] = device_json(&key, &key, &payload, signed_at, &nonce);
    let res = c.connect(params).await;
    assert_eq!(res["ok"], true, "{res}");
    let auth = &res["payload"]["auth"];
    assert_eq!(auth["scopes"], json!(["operator.read"]), "{auth}");
    assert!(auth["deviceToken"].is_string(), "{auth}");
    assert!(auth["issuedAtMs"].is_u64(), "{auth}");
    let status = c.request("status", json!({})).await;
    assert_eq!(status["ok"], true, "{status}");

    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", &["operator.pairing"])).await;
    let list = op.request("device.pair.list", json!({})).await;
    let d = paired_entry(&list, &id);
    assert_eq!(d["approvedVia"], "silent", "{d}");
    assert_eq!(d["clientId"], "test", "{d}");
}

#[actix_web::test]
async fn bad_device_proofs_are_rejected() {
    let gw = TestGateway::with_token("T");
    let key = random_key();
    let other = random_key();
    let base = || cli_params("T", &["operator.read"]);

    // Forged: the right id and key, signed by another key.
    let (mut c, ch) = WsClient::open_challenged(gw.port).await;
    let nonce = nonce_of(&ch);
    let at = now_ms();
    let mut p = base();
    let payload = format!(
        "v3|{}|cli|cli|operator|operator.read|{at}|T|{nonce}|linux|",
        key.device_id()
    );
    p["device"] = device_json(&key, &other, &payload, at, &nonce);
    assert_rejected(&mut c, p, "device_bad_signature").await;

    // Signed over other scopes than the ones sent.
    let (mut c, ch) = WsClient::open_challenged(gw.port).await;
    let nonce = nonce_of(&ch);
    let at = now_ms();
    let mut p = base();
    let payload = format!(
        "v3|{}|cli|cli|operator|operator.admin|{at}|T|{nonce}|linux|",
        key.device_id()
    );
    p["device"] = device_json(&key, &key, &payload, at, &nonce);
    assert_rejected(&mut c, p, "device_bad_signature").await;

    // Wrong device id: another key's id.
    let (mut c, ch) = WsClient::open_challenged(gw.port).await;
    let nonce = nonce_of(&ch);
    let mut p = base();
    sign_device(&mut p, &key, &nonce, now_ms(), Sig::V3);
    p["device"]["id"] = json!(other.device_id());
    assert_rejected(&mut c, p, "device_id_mismatch").await;

    // signedAt one hour old, correctly signed for that time.
    let (mut c, ch) = WsClient::open_challenged(gw.port).await;
    let nonce = nonce_of(&ch);
    let mut p = base();
    sign_device(&mut p, &key, &nonce, now_ms() - 3_600_000, Sig::V3);
    assert_rejected(&mut c, p, "device_stale_signedat").await;

    // A nonce the gateway never sent.
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    let mut p = base();
    let made_up = uuid::Uuid::new_v4().to_string();
    sign_device(&mut p, &key, &made_up, now_ms(), Sig::V3);
    assert_rejected(&mut c, p, "device_wrong_nonce").await;

    // A nonce from an earlier (successful) connection.
    let (mut first, ch) = WsClient::open_challenged(gw.port).await;
    let old_nonce = nonce_of(&ch);
    let mut p = base();
    sign_device(&mut p, &key, &old_nonce, now_ms(), Sig::V3);
    let res = first.connect(p).await;
    assert_eq!(res["ok"], true, "the first use is fine: {res}");
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    let mut p = base();
    sign_device(&mut p, &key, &old_nonce, now_ms(), Sig::V3);
    assert_rejected(&mut c, p, "device_wrong_nonce").await;

    // A node without a device.
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    let mut p = connect_params("node-host", "node", &[], json!({"token": "T"}));
    p["role"] = json!("node");
    assert_rejected(&mut c, p, "node_nodevice").await;
}

/// Connects as the remote device (through the trusted proxy at 127.0.0.1) with `auth`;
/// the proof signs whatever token `auth` carries.
async fn remote_connect(port: u16, key: &DeviceKey, auth: Value) -> (WsClient, Value) {
    remote_hello(
        port,
        key,
        connect_params("cli", "cli", &["operator.read"], auth),
    )
    .await
}

/// A failed device-token connect: the error and the close.
async fn assert_device_token_mismatch(port: u16, key: &DeviceKey, token: &str) {
    let (c, res) = remote_connect(port, key, json!({"deviceToken": token})).await;
    assert_auth_refused(
        c,
        &res,
        "unauthorized: device token mismatch (rotate/reissue device token)",
        "AUTH_DEVICE_TOKEN_MISMATCH",
    )
    .await;
}

/// A refused credential: INVALID_REQUEST with this message and `details.code`, then the
/// close (1008).
async fn assert_auth_refused(mut c: WsClient, res: &Value, message: &str, code: &str) {
    let err = error_of(res);
    assert_eq!(err["code"], "INVALID_REQUEST", "{res}");
    assert_eq!(err["message"], message, "{res}");
    assert_eq!(err["details"]["code"], code, "{res}");
    let (close, _, _) = c.until_close().await;
    assert_eq!(close, Some(1008));
}

#[actix_web::test]
async fn remote_device_pairing_and_device_tokens() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    let key = random_key();
    let device_id = key.device_id();
    // A local operator who manages pairing (direct loopback socket, no proxy headers).
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.pairing"]),
    )
    .await;

    // 1. The remote device is not paired yet.
    let (mut c, res) = remote_connect(gw.port, &key, json!({"token": "T"})).await;
    let err = error_of(&res).clone();
    let g = golden("remote_device_cli");
    assert_eq!(err["code"], g["error"]["code"], "{res}");
    assert_eq!(err["message"], g["error"]["message"], "{res}");
    for k in [
        "code",
        "reason",
        "remediationHint",
        "requestedRole",
        "requestedScopes",
    ] {
        assert_eq!(
            err["details"][k], g["error"]["details"][k],
            "details.{k}: {res}"
        );
    }
    assert_eq!(err["details"]["deviceId"], device_id.as_str(), "{res}");
    let request_id = err["details"]["requestId"]
        .as_str()
        .expect("details.requestId")
        .to_owned();
    let (code, reason, _) = c.until_close().await;
    assert_eq!(code, Some(1008));
    assert_eq!(
        reason,
        format!("pairing required: device is not approved yet (requestId: {request_id})")
    );

    // 2. The operator sees the request (event and list).
    let ev = op
        .event_within("device.pair.requested", Duration::from_secs(5))
        .await;
    assert_eq!(ev["payload"]["requestId"], request_id.as_str(), "{ev}");
    assert_eq!(ev["payload"]["deviceId"], device_id.as_str(), "{ev}");
    assert_eq!(ev["payload"]["remoteIp"], "203.0.113.7", "{ev}");
    let list = op.request("device.pair.list", json!({})).await;
    let pending = list["payload"]["pending"]
        .as_array()
        .expect("pending is an array");
    assert!(
        pending
            .iter()
            .any(|p| p["requestId"] == request_id.as_str() && p["deviceId"] == device_id.as_str()),
        "{list}"
    );

    // 3. Approve.
    let res = op
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["device"]["approvedVia"], "operator", "{res}");
    let ev = op
        .event_within("device.pair.resolved", Duration::from_secs(5))
        .await;
    assert_eq!(ev["payload"]["requestId"], request_id.as_str(), "{ev}");
    assert_eq!(ev["payload"]["deviceId"], device_id.as_str(), "{ev}");
    assert_eq!(ev["payload"]["decision"], "approved", "{ev}");

    // 4. The device reconnects and gets a device token.
    let (mut c, res) = remote_connect(gw.port, &key, json!({"token": "T"})).await;
    assert_eq!(res["ok"], true, "{res}");
    let token1 = res["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap_or_else(|| panic!("deviceToken after approval: {res}"))
        .to_owned();
    c.close().await;

    // 5. The device token alone (signed over it) authenticates.
    let (mut c, res) = remote_connect(gw.port, &key, json!({"deviceToken": token1})).await;
    assert_eq!(res["ok"], true, "{res}");
    let auth = &res["payload"]["auth"];
    assert_eq!(auth["method"], "device-token", "{auth}");
    assert_eq!(auth["scopes"], json!(["operator.read"]), "{auth}");
    let status = c.request("status", json!({})).await;
    assert_eq!(status["ok"], true, "{status}");
    c.close().await;

    // 6. A wrong device token fails.
    assert_device_token_mismatch(gw.port, &key, "not-the-device-token").await;

    // 7. Rotation: a new token, the old one stops working.
    let res = op
        .request(
            "device.token.rotate",
            json!({"deviceId": device_id, "role": "operator"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let token2 = res["payload"]["token"]
        .as_str()
        .expect("rotate returns a token")
        .to_owned();
    assert_ne!(token2, token1);
    assert_eq!(res["payload"]["scopes"], json!(["operator.read"]), "{res}");
    assert_device_token_mismatch(gw.port, &key, &token1).await;
    let (mut live, res) = remote_connect(gw.port, &key, json!({"deviceToken": token2})).await;
    assert_eq!(res["ok"], true, "{res}");

    // 8. Removing the device closes its live session and kills its token.
    let res = op
        .request("device.pair.remove", json!({"deviceId": device_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let (code, reason, _) = live.until_close().await;
    assert_eq!(code, Some(4001), "close reason {reason:?}");
    assert_device_token_mismatch(gw.port, &key, &token2).await;
    let list = op.request("device.pair.list", json!({})).await;
    assert!(
        !list.to_string().contains(&device_id),
        "removed device still listed: {list}"
    );
}

#[actix_web::test]
async fn pairing_and_device_tokens_survive_a_restart() {
    let mut gw = TestGateway::with_token("T");
    let node_key = random_key();
    let op_key = random_key();

    // A node with an approved surface.
    let node = FakeNode::connect(
        gw.port,
        &node_key,
        "T",
        &["echo.test"],
        always(Action::Echo),
    )
    .await;
    let node_token = node.hello["auth"]["deviceToken"]
        .as_str()
        .expect("node deviceToken")
        .to_owned();
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    approve_surface(&mut op, &node.node_id).await;

    // An operator device with a device token.
    let (mut c, ch) = WsClient::open_challenged(gw.port).await;
    let mut p = cli_params("T", &["operator.read"]);
    sign_device(&mut p, &op_key, &nonce_of(&ch), now_ms(), Sig::V3);
    let res = c.connect(p).await;
    let op_token = res["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap_or_else(|| panic!("operator deviceToken: {res}"))
        .to_owned();

    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", gw.stderr());
    drop((node, op, c));
    let dir = gw.take_dir();

    let doc = dir.path().join("devices/pairing.json");
    let meta =
        std::fs::metadata(&doc).unwrap_or_else(|e| panic!("{} after shutdown: {e}", doc.display()));
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "{}",
        doc.display()
    );
    let text = std::fs::read_to_string(&doc).expect("read pairing.json");
    assert!(!text.contains(&op_token), "raw operator token stored");
    assert!(!text.contains(&node_token), "raw node token stored");
    assert!(
        text.contains(&node_key.device_id()),
        "node device persisted"
    );

    let gw2 = TestGateway::start_in(
        dir,
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        None,
    );
    let node = FakeNode::connect(
        gw2.port,
        &node_key,
        "T",
        &["echo.test"],
        always(Action::Echo),
    )
    .await;
    let (mut op, _) = WsClient::hello(gw2.port, cli_params("T", ALL_OPERATOR)).await;
    // Surface still approved: nothing pending, invoke works right away.
    let list = op.request("node.pair.list", json!({})).await;
    assert_eq!(list["payload"]["pending"], json!([]), "{list}");
    let res = op
        .request(
            "node.invoke",
            json!({
                "nodeId": node.node_id,
                "command": "echo.test",
                "params": {"after": "restart"},
                "idempotencyKey": "k-restart",
            }),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"]["payload"]["echo"],
        json!({"after": "restart"}),
        "{res}"
    );

    // The operator's device token still authenticates (alone, signed over it).
    let (mut c, ch) = WsClient::open_challenged(gw2.port).await;
    let mut p = connect_params(
        "cli",
        "cli",
        &["operator.read"],
        json!({"deviceToken": op_token}),
    );
    sign_device(&mut p, &op_key, &nonce_of(&ch), now_ms(), Sig::V3);
    let res = c.connect(p).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["method"], "device-token", "{res}");
    let status = c.request("status", json!({})).await;
    assert_eq!(status["ok"], true, "{status}");
}

#[actix_web::test]
async fn device_token_is_bound_to_its_scopes() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    let key = random_key();
    let device_id = key.device_id();
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.pairing"]),
    )
    .await;
    let scopes = ["operator.read", "operator.pairing"];
    let remote = |auth: Value| {
        let key = &key;
        async move {
            let mut c = WsClient::open_with(gw.port, &[("X-Forwarded-For", "203.0.113.9")])
                .await
                .unwrap_or_else(|e| panic!("upgrade through the trusted proxy refused: {e}"));
            let ch = c.challenge().await;
            let mut p = connect_params("cli", "cli", &scopes, auth);
            sign_device(&mut p, key, &nonce_of(&ch), now_ms(), Sig::V3);
            let res = c.connect(p).await;
            (c, res)
        }
    };
    // Pair the remote device for read + pairing.
    let (_, res) = remote(json!({"token": "T"})).await;
    let request_id = error_of(&res)["details"]["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("pairing required: {res}"))
        .to_owned();
    let res = op
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    // A token narrowed to operator.read.
    let res = op
        .request(
            "device.token.rotate",
            json!({"deviceId": device_id, "role": "operator", "scopes": ["operator.read"]}),
        )
        .await;
    assert_eq!(res["payload"]["scopes"], json!(["operator.read"]), "{res}");
    let narrow = res["payload"]["token"]
        .as_str()
        .expect("rotate returns a token")
        .to_owned();
    // Asking for more than the token carries must not succeed with the token alone.
    let (_c, res) = remote(json!({"deviceToken": narrow})).await;
    assert_ne!(
        res["ok"], true,
        "a token for [operator.read] granted {}",
        res["payload"]["auth"]
    );
    let err = error_of(&res);
    assert_eq!(err["details"]["code"], "AUTH_SCOPE_MISMATCH", "{res}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("unauthorized: device token scope mismatch")),
        "{res}"
    );
}

/// Pairs the remote `key` (requesting `scopes`) through `approver`, then connects once with
/// the shared token to get its device token.
async fn pair_remote(gw: &TestGateway, approver: &mut WsClient, key: &DeviceKey) -> String {
    let (_, res) = remote_connect(gw.port, key, json!({"token": "T"})).await;
    let request_id = error_of(&res)["details"]["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("pairing required: {res}"))
        .to_owned();
    let res = approver
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let (mut c, res) = remote_connect(gw.port, key, json!({"token": "T"})).await;
    assert_eq!(res["ok"], true, "{res}");
    c.close().await;
    res["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap_or_else(|| panic!("deviceToken after approval: {res}"))
        .to_owned()
}

#[actix_web::test]
async fn revoke_and_rotate_close_the_sessions_that_used_the_token() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.pairing"]),
    )
    .await;
    let key = random_key();
    let device_id = key.device_id();
    let token1 = pair_remote(&gw, &mut op, &key).await;
    // Another device's token session is not touched.
    let bystander_key = random_key();
    let bystander_token = pair_remote(&gw, &mut op, &bystander_key).await;
    let (mut bystander, res) = remote_connect(
        gw.port,
        &bystander_key,
        json!({"deviceToken": bystander_token}),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");

    // Rotate: the session that authenticated with token1 is closed.
    let (mut live, res) = remote_connect(gw.port, &key, json!({"deviceToken": token1})).await;
    assert_eq!(res["ok"], true, "{res}");
    let res = op
        .request(
            "device.token.rotate",
            json!({"deviceId": device_id, "role": "operator"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let token2 = res["payload"]["token"]
        .as_str()
        .expect("rotate returns a token")
        .to_owned();
    let (code, reason, _) = live.until_close().await;
    assert_eq!(code, Some(4001));
    assert_eq!(reason, "client invalidated: device token rotated");

    // Revoke: the session on token2 is closed too.
    let (mut live, res) = remote_connect(gw.port, &key, json!({"deviceToken": token2})).await;
    assert_eq!(res["ok"], true, "{res}");
    let res = op
        .request(
            "device.token.revoke",
            json!({"deviceId": device_id, "role": "operator"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let (code, reason, _) = live.until_close().await;
    assert_eq!(code, Some(4001));
    assert_eq!(reason, "client invalidated: device token revoked");
    assert_device_token_mismatch(gw.port, &key, &token2).await;

    // The bystander and the shared-secret operator still work.
    let res = bystander.request("status", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
    let res = op.request("status", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
}

#[actix_web::test]
async fn approvers_cannot_grant_scopes_they_lack() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    let (mut pairer, _) = WsClient::hello(gw.port, cli_params("T", &["operator.pairing"])).await;
    let key = random_key();
    let connect_admin = || {
        let key = &key;
        async move {
            let mut c = WsClient::open_with(gw.port, &[("X-Forwarded-For", "203.0.113.11")])
                .await
                .unwrap_or_else(|e| panic!("upgrade through the trusted proxy refused: {e}"));
            let ch = c.challenge().await;
            let mut p = connect_params("cli", "cli", &["operator.admin"], json!({"token": "T"}));
            sign_device(&mut p, key, &nonce_of(&ch), now_ms(), Sig::V3);
            c.connect(p).await
        }
    };
    let res = connect_admin().await;
    let request_id = error_of(&res)["details"]["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("pairing required: {res}"))
        .to_owned();
    let res = pairer
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    let err = error_of(&res);
    assert_eq!(err["code"], "FORBIDDEN", "{res}");
    assert_eq!(err["message"], "missing scope: operator.admin", "{res}");
    // Still not paired: the device is refused again.
    let res = connect_admin().await;
    assert_eq!(
        error_of(&res)["details"]["requestId"],
        request_id.as_str(),
        "{res}"
    );

    // An admin approves; the pairing-only operator then cannot mint an admin token.
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let res = admin
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let res = pairer
        .request(
            "device.token.rotate",
            json!({"deviceId": key.device_id(), "role": "operator"}),
        )
        .await;
    assert_eq!(
        error_of(&res)["message"],
        "missing scope: operator.admin",
        "{res}"
    );
    let res = connect_admin().await;
    assert_eq!(res["ok"], true, "{res}");
}

/// A phone (or any client) coming through the trusted proxy from 203.0.113.7 with these
/// connect params, signed by `key`.
async fn remote_hello(port: u16, key: &DeviceKey, mut p: Value) -> (WsClient, Value) {
    let mut c = WsClient::open_with(port, &[("X-Forwarded-For", "203.0.113.7")])
        .await
        .unwrap_or_else(|e| panic!("upgrade through the trusted proxy refused: {e}"));
    let ch = c.challenge().await;
    sign_device(&mut p, key, &nonce_of(&ch), now_ms(), Sig::V3);
    let res = c.connect(p).await;
    (c, res)
}

/// `connect` params of a client that says it is `client_id` on `platform`/`family`.
fn app_params(client_id: &str, platform: &str, family: &str, role: &str, auth: Value) -> Value {
    json!({
        "minProtocol": 4,
        "maxProtocol": 4,
        "client": {"id": client_id, "version": "2026.9.6", "platform": platform,
            "deviceFamily": family, "mode": if role == "node" { "node" } else { "ui" },
            "displayName": "Ana's iPhone"},
        "role": role,
        "scopes": [],
        "caps": ["camera"],
        "commands": ["camera.snap"],
        "auth": auth,
    })
}

/// The bootstrap token inside a setup code (base64url JSON `{url, bootstrapToken, expiresAtMs}`).
fn decode_code(code: &str) -> Value {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(code)
        .unwrap_or_else(|e| panic!("setup code is base64url ({e}): {code}"));
    serde_json::from_slice(&raw).expect("setup code is JSON")
}

/// The bootstrap-token refusal, and the close.
async fn assert_code_refused(c: WsClient, res: &Value) {
    assert_auth_refused(
        c,
        res,
        "unauthorized: setup code invalid, expired, revoked, or already used (create a new code; review `openclaw devices list`)",
        "AUTH_BOOTSTRAP_TOKEN_INVALID",
    )
    .await;
}

/// Setup codes (`device.pair.setupCode`, what `openclaw qr` shows): an admin makes one; the
/// official app it was made for pairs with it from afar, getting its node token and the
/// operator handoff; the code then works for nobody; a code redeemed by another client
/// class waits for an operator, bound to that device; a code is never a shared secret.
#[actix_web::test]
async fn setup_codes_pair_the_app_they_were_made_for_once() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let (mut pairer, _) = WsClient::hello(
        gw.port,
        cli_params("T", &["operator.read", "operator.pairing"]),
    )
    .await;
    let url = format!("ws://127.0.0.1:{}", gw.port);

    // Only admins make codes, and a loopback-only gateway needs the URL to put in one.
    let res = pairer.request("device.pair.setupCode", json!({})).await;
    assert_eq!(
        error_of(&res)["message"],
        "missing scope: operator.admin",
        "{res}"
    );
    let res = admin.request("device.pair.setupCode", json!({})).await;
    assert!(
        error_of(&res)["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Gateway is only bound to loopback")),
        "{res}"
    );
    for (params, what) in [
        (
            json!({"publicUrl": "ws://203.0.113.9:18789"}),
            "require a secure gateway URL",
        ),
        (json!({"bootstrapProfile": "root"}), "bootstrapProfile"),
        (
            json!({"publicUrl": url, "extra": 1}),
            "unexpected property 'extra'",
        ),
    ] {
        let res = admin.request("device.pair.setupCode", params.clone()).await;
        assert_eq!(error_of(&res)["code"], "INVALID_REQUEST", "{params}: {res}");
        assert!(res.to_string().contains(what), "{params}: {res}");
    }

    let res = admin
        .request("device.pair.setupCode", json!({"publicUrl": url}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let made = res["payload"].clone();
    assert_eq!(made["access"], "full", "{made}");
    assert_eq!(made["auth"], "token", "{made}");
    assert_eq!(made["gatewayUrl"], url.as_str(), "{made}");
    assert_eq!(made["urlSource"], "request.publicUrl", "{made}");
    let setup_id = made["setupId"].as_str().expect("setupId").to_owned();
    let code = decode_code(made["setupCode"].as_str().expect("setupCode"));
    assert_eq!(code["url"], url.as_str(), "{code}");
    assert_eq!(code["expiresAtMs"], made["expiresAtMs"], "{code}");
    let expires = made["expiresAtMs"].as_u64().expect("expiresAtMs");
    assert!(
        expires > now_ms() + 590_000 && expires <= now_ms() + 600_000,
        "{made}"
    );
    let bootstrap = code["bootstrapToken"]
        .as_str()
        .expect("bootstrapToken")
        .to_owned();
    assert!(
        !std::fs::read_to_string(gw.dir.path().join("devices/pairing.json"))
            .expect("pairing.json")
            .contains(&bootstrap),
        "only the code's hash is on disk"
    );
    let status = admin
        .request("device.pair.setupStatus", json!({"setupId": setup_id}))
        .await;
    assert_eq!(status["payload"], json!({}), "not used yet: {status}");

    // Not a shared secret: an operator cannot sign in with it, nor a client without a device.
    let (_, res) = WsClient::open_challenged(gw.port).await;
    drop(res);
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    let res = c
        .connect(connect_params(
            "cli",
            "cli",
            &["operator.read"],
            json!({"bootstrapToken": bootstrap}),
        ))
        .await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "DEVICE_IDENTITY_REQUIRED",
        "{res}"
    );

    // The iPhone app redeems it from afar: node token plus the operator handoff.
    let phone = random_key();
    let (c, res) = remote_hello(
        gw.port,
        &phone,
        app_params(
            "openclaw-ios",
            "iOS 18.2",
            "iPhone",
            "node",
            json!({"bootstrapToken": bootstrap}),
        ),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    let auth = &res["payload"]["auth"];
    assert_eq!(auth["role"], "node", "{res}");
    assert_eq!(auth["method"], "bootstrap-token", "{res}");
    let node_token = auth["deviceToken"]
        .as_str()
        .expect("node deviceToken")
        .to_owned();
    let handoff = &auth["deviceTokens"][0];
    assert_eq!(handoff["role"], "operator", "{res}");
    let op_scopes = handoff["scopes"].as_array().expect("scopes").clone();
    assert!(op_scopes.contains(&json!("operator.admin")), "{res}");
    assert!(
        !op_scopes.contains(&json!("operator.pairing")),
        "never pairing: {res}"
    );
    let op_token = handoff["deviceToken"]
        .as_str()
        .expect("operator token")
        .to_owned();
    assert_ne!(op_token, node_token);
    drop(c);
    let ev = pairer
        .event_within("device.pair.setup.completed", Duration::from_secs(5))
        .await;
    assert_eq!(ev["payload"]["setupId"], setup_id.as_str(), "{ev}");
    assert_eq!(
        ev["payload"]["deviceId"],
        phone.device_id().as_str(),
        "{ev}"
    );
    assert_eq!(ev["payload"]["access"], "full", "{ev}");
    assert_eq!(ev["payload"]["deviceName"], "Ana's iPhone", "{ev}");
    assert!(!ev.to_string().contains(&bootstrap), "{ev}");
    let status = admin
        .request("device.pair.setupStatus", json!({"setupId": setup_id}))
        .await;
    assert_eq!(
        status["payload"]["completion"]["deviceId"],
        phone.device_id().as_str(),
        "{status}"
    );

    // Both handed-over tokens work from afar, each for its role.
    let (_, res) = remote_hello(
        gw.port,
        &phone,
        app_params(
            "openclaw-ios",
            "iOS 18.2",
            "iPhone",
            "node",
            json!({"deviceToken": node_token}),
        ),
    )
    .await;
    assert_eq!(res["ok"], true, "node token: {res}");
    let mut p = app_params(
        "openclaw-ios",
        "iOS 18.2",
        "iPhone",
        "operator",
        json!({"deviceToken": op_token}),
    );
    p["scopes"] = json!(["operator.admin", "operator.read", "operator.write"]);
    let (_, res) = remote_hello(gw.port, &phone, p).await;
    assert_eq!(res["ok"], true, "operator token: {res}");
    assert_eq!(res["payload"]["auth"]["role"], "operator", "{res}");

    // Used up: not for the phone again, nor for anyone else.
    for key in [&phone, &random_key()] {
        let (c, res) = remote_hello(
            gw.port,
            key,
            app_params(
                "openclaw-ios",
                "iOS 18.2",
                "iPhone",
                "node",
                json!({"bootstrapToken": bootstrap}),
            ),
        )
        .await;
        assert_code_refused(c, &res).await;
    }
    let (c, res) = remote_hello(
        gw.port,
        &random_key(),
        app_params(
            "openclaw-ios",
            "iOS 18.2",
            "iPhone",
            "node",
            json!({"bootstrapToken": "x".repeat(43)}),
        ),
    )
    .await;
    assert_code_refused(c, &res).await;

    // A client the code was not made for (it says it is a node host): it waits for an
    // operator, and the code is bound to its device meanwhile.
    let res = admin
        .request("device.pair.setupCode", json!({"publicUrl": url}))
        .await;
    let second =
        decode_code(res["payload"]["setupCode"].as_str().expect("setupCode"))["bootstrapToken"]
            .as_str()
            .expect("token")
            .to_owned();
    let other = random_key();
    let params = |t: &str| {
        app_params(
            "node-host",
            "linux",
            "Linux",
            "node",
            json!({"bootstrapToken": t}),
        )
    };
    let (mut c, res) = remote_hello(gw.port, &other, params(&second)).await;
    let err = error_of(&res);
    assert_eq!(err["details"]["code"], "PAIRING_REQUIRED", "{res}");
    assert_eq!(
        err["details"]["recommendedNextStep"], "wait_then_retry",
        "{res}"
    );
    assert_eq!(err["details"]["retryable"], true, "{res}");
    let request_id = err["details"]["requestId"]
        .as_str()
        .expect("requestId")
        .to_owned();
    c.until_close().await;
    let (c, res) = remote_hello(gw.port, &random_key(), params(&second)).await;
    assert_code_refused(c, &res).await;
    // A node-role request needs an admin to approve it (OpenClaw's
    // role-management-requires-admin); pairing alone is refused.
    let res = pairer
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(
        error_of(&res)["message"],
        "device pairing approval denied",
        "{res}"
    );
    let res = admin
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let (_, res) = remote_hello(gw.port, &other, params(&second)).await;
    assert_eq!(res["ok"], true, "after approval: {res}");
    assert!(res["payload"]["auth"]["deviceToken"].is_string(), "{res}");
    assert!(
        res["payload"]["auth"]["deviceTokens"].is_null(),
        "no operator handoff to a client the code was not made for: {res}"
    );
}

/// A `node` setup code enrolls a node host with its first command surface approved: it
/// can be invoked at once, without `node.pair.approve`.
#[actix_web::test]
async fn a_node_setup_code_enrolls_the_node_and_its_commands() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let res = admin
        .request(
            "device.pair.setupCode",
            json!({"publicUrl": format!("ws://127.0.0.1:{}", gw.port), "bootstrapProfile": "node"}),
        )
        .await;
    assert_eq!(res["payload"]["access"], "node", "{res}");
    let token =
        decode_code(res["payload"]["setupCode"].as_str().expect("setupCode"))["bootstrapToken"]
            .as_str()
            .expect("token")
            .to_owned();
    let key = random_key();
    let params = crate::support::fake_node::node_connect_params(
        &["system.which"],
        json!({"bootstrapToken": token}),
    );
    let node = FakeNode::connect_with(gw.port, &key, params, always(Action::Echo))
        .await
        .unwrap_or_else(|res| panic!("node host enrolls with the code: {res}"));
    assert!(
        node.hello["auth"]["deviceToken"].is_string(),
        "{}",
        node.hello
    );
    assert!(
        node.hello["auth"]["deviceTokens"].is_null(),
        "node only: {}",
        node.hello
    );
    let res = admin
        .request(
            "node.invoke",
            json!({"nodeId": node.node_id, "command": "system.which", "params": {"bins": ["sh"]},
                "idempotencyKey": "enrolled-1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "the enrolled surface is approved: {res}");
    let list = admin.request("node.pair.list", json!({})).await;
    assert_eq!(list["payload"]["pending"], json!([]), "{list}");
}

/// Join URLs (`device.pair.setupCode {joinUrl: true}`, what `openclaw devices join-code`
/// prints for `openclaw connect`): `GET /j/<shortcode>` answers the setup payload once,
/// never cached; anything else is `404 not_found` and counts toward the client's lockout.
#[actix_web::test]
async fn join_urls_answer_once_and_lock_out_guessers() {
    use crate::support::http_request;
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(
            r#"{gateway: {auth: {token: "T", rateLimit: {maxAttempts: 3}}, trustedProxies: ["127.0.0.1"]},
            plugins: {entries: {"device-pair": {config: {publicUrl: "ws://localhost:18789"}}}}}"#,
        ),
    );
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    // The configured publicUrl is used; join URLs are for node codes over TLS or loopback.
    let res = admin.request("device.pair.setupCode", json!({})).await;
    assert_eq!(
        res["payload"]["gatewayUrl"], "ws://localhost:18789",
        "{res}"
    );
    assert_eq!(
        res["payload"]["urlSource"], "plugins.entries.device-pair.config.publicUrl",
        "{res}"
    );
    for (params, why) in [
        (
            json!({"joinUrl": true, "bootstrapProfile": "limited"}),
            "Join URLs require bootstrapProfile=node.",
        ),
        (
            json!({"joinUrl": true, "publicUrl": "ws://192.168.1.20:18789"}),
            "Join URLs require a TLS gateway endpoint",
        ),
        (json!({"joinUrl": false}), "must be equal to constant true"),
    ] {
        let res = admin.request("device.pair.setupCode", params.clone()).await;
        assert!(res.to_string().contains(why), "{params}: {res}");
    }
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let res = admin
        .request(
            "device.pair.setupCode",
            json!({"joinUrl": true, "publicUrl": url}),
        )
        .await;
    assert_eq!(res["payload"]["access"], "node", "{res}");
    let join = res["payload"]["joinUrl"]
        .as_str()
        .expect("joinUrl")
        .to_owned();
    let prefix = format!("http://127.0.0.1:{}/j/", gw.port);
    let code = join
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{join}"))
        .to_owned();
    assert_eq!(code.len(), 22, "{join}");
    let path = format!("/j/{code}");
    // Not a GET, or with a query: not found (and the code stays).
    for (method, p) in [
        ("POST", path.clone()),
        ("HEAD", path.clone()),
        ("GET", format!("{path}?x=1")),
    ] {
        let (status, _, _) = http_request(gw.port, method, &p, &[]);
        assert_eq!(status, 404, "{method} {p}");
    }
    let (status, head, body) = http_request(gw.port, "GET", &path, &[]);
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{head}"
    );
    let payload: Value = serde_json::from_str(&body).expect("JSON payload");
    assert_eq!(payload["url"], url.as_str(), "{payload}");
    assert!(payload["bootstrapToken"].is_string(), "{payload}");
    assert_eq!(
        payload["expiresAtMs"], res["payload"]["expiresAtMs"],
        "{payload}"
    );
    assert_eq!(
        decode_code(res["payload"]["setupCode"].as_str().expect("code"))["bootstrapToken"],
        payload["bootstrapToken"],
        "the join URL carries the code's own token"
    );
    let (status, _, body) = http_request(gw.port, "GET", &path, &[]);
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"error":"not_found"}"#),
        "burnt"
    );
    // A guesser from afar is locked out after maxAttempts misses.
    let xff = [("X-Forwarded-For", "203.0.113.50")];
    for _ in 0..3 {
        let (status, _, _) = http_request(gw.port, "GET", "/j/AAAAAAAAAAAAAAAAAAAAAA", &xff);
        assert_eq!(status, 404);
    }
    let (status, head, body) = http_request(gw.port, "GET", "/j/AAAAAAAAAAAAAAAAAAAAAA", &xff);
    assert_eq!(status, 429, "{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    assert_eq!(body, r#"{"error":"rate_limited"}"#);
    // Even a live code: the lockout comes first.
    let res = admin
        .request(
            "device.pair.setupCode",
            json!({"joinUrl": true, "publicUrl": url}),
        )
        .await;
    let fresh = res["payload"]["joinUrl"]
        .as_str()
        .expect("joinUrl")
        .to_owned();
    let fresh_path = fresh
        .strip_prefix(&format!("http://127.0.0.1:{}", gw.port))
        .expect("path");
    let (status, _, _) = http_request(gw.port, "GET", fresh_path, &xff);
    assert_eq!(status, 429);
    // Another client is not locked out, and gets it.
    let (status, _, _) = http_request(
        gw.port,
        "GET",
        fresh_path,
        &[("X-Forwarded-For", "203.0.113.51")],
    );
    assert_eq!(status, 200);
}

/// Reads a QR image with `zbarimg` (ZBar, installed by `.ci/run` from Debian's
/// `zbar-tools`), the way a phone's scanner reads it; returns the text it decodes.
fn zbar_decode(image: &std::path::Path) -> String {
    let out = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(image)
        .output()
        .unwrap_or_else(|e| {
            panic!("zbarimg could not run ({e}): install zbar-tools (apt-get install zbar-tools), as .ci/run does")
        });
    assert!(
        out.status.success(),
        "zbarimg found no QR code in {}: {}",
        image.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

/// The QR code our CLI draws with half blocks (a light module is inked), back to a
/// bitmap: a PBM (`P1`) image, 4 pixels a module.
fn terminal_qr_to_pbm(lines: &[&str]) -> String {
    let mut rows: Vec<Vec<bool>> = Vec::new();
    for line in lines {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in line.chars() {
            let (t, b) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("not a QR character: {other:?} in {line:?}"),
            };
            // Inked (light) is white; a PBM's 1 is black.
            top.push(!t);
            bottom.push(!b);
        }
        rows.push(top);
        rows.push(bottom);
    }
    let scale = 4;
    let width = rows.first().map_or(0, Vec::len);
    let mut pbm = format!("P1\n{} {}\n", width * scale, rows.len() * scale);
    for row in &rows {
        let line: String = row
            .iter()
            .flat_map(|dark| std::iter::repeat_n(if *dark { "1 " } else { "0 " }, scale))
            .collect();
        for _ in 0..scale {
            pbm.push_str(&line);
            pbm.push('\n');
        }
    }
    pbm
}

/// `device.pair.setupCode` answers a PNG QR code of the setup code (`qrDataUrl`, OpenClaw's
/// field, under its 16 KiB bound) that a scanner reads back exactly; `includeQr: false`
/// leaves it out; our CLI's `openclaw qr` draws one in the terminal that scans as the code
/// it prints, and `--no-ascii` draws none.
#[actix_web::test]
async fn setup_codes_carry_a_qr_code_a_scanner_reads() {
    use base64::Engine as _;
    let gw = TestGateway::with_token("T");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", &["operator.admin"])).await;
    let res = admin
        .request(
            "device.pair.setupCode",
            json!({"publicUrl": "wss://gw.tail1234.ts.net"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let code = res["payload"]["setupCode"].as_str().expect("a code");
    let url = res["payload"]["qrDataUrl"].as_str().expect("a QR data URL");
    assert!(url.len() <= 16 * 1024, "{}", url.len());
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            url.strip_prefix("data:image/png;base64,")
                .expect("a PNG data URL"),
        )
        .expect("base64");
    let file = dir.path().join("setup.png");
    std::fs::write(&file, png).expect("write the PNG");
    assert_eq!(zbar_decode(&file), code);
    let res = admin
        .request(
            "device.pair.setupCode",
            json!({"publicUrl": "wss://gw.tail1234.ts.net", "includeQr": false}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert!(res["payload"].get("qrDataUrl").is_none(), "{res}");

    // Our CLI, against this gateway.
    let home = CliHome::with_config(&format!(
        "{{ gateway: {{ port: {}, auth: {{ token: \"T\" }} }} }}",
        gw.port
    ));
    let out = home.run(&["qr", "--url", "ws://192.168.1.20:18789"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("Scan this with the OpenClaw app"),
        "{out}"
    );
    let qr: Vec<&str> = lines[2..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    assert!(qr.len() > 10, "{out}");
    let printed = lines
        .iter()
        .position(|l| l.starts_with("Setup code (single use"))
        .and_then(|i| lines.get(i + 1))
        .expect("the code under its heading");
    let pbm = dir.path().join("terminal.pbm");
    std::fs::write(&pbm, terminal_qr_to_pbm(&qr)).expect("write the PBM");
    assert_eq!(zbar_decode(&pbm), *printed);
    let out = home.run(
        &["qr", "--url", "ws://192.168.1.20:18789", "--no-ascii"],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("Setup code (single use"), "{out}");
    assert!(!out.stdout.contains('█'), "{out}");
}

/// Pairs the remote `key` for `scopes` (approved by `admin`) and returns its device token.
async fn pair_for(
    gw: &TestGateway,
    admin: &mut WsClient,
    key: &DeviceKey,
    scopes: &[&str],
) -> String {
    let hello =
        |auth: Value| remote_hello(gw.port, key, connect_params("cli", "cli", scopes, auth));
    let (_, res) = hello(json!({"token": "T"})).await;
    let request_id = error_of(&res)["details"]["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("pairing required: {res}"))
        .to_owned();
    let res = admin
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let (mut c, res) = hello(json!({"token": "T"})).await;
    assert_eq!(res["ok"], true, "{res}");
    c.close().await;
    res["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap_or_else(|| panic!("deviceToken after approval: {res}"))
        .to_owned()
}

/// The request id of a connect that needs pairing (`key` asks for `params`' role/scopes).
async fn pending_request(gw: &TestGateway, key: &DeviceKey, params: Value) -> String {
    let (_, res) = remote_hello(gw.port, key, params).await;
    error_of(&res)["details"]["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("pairing required: {res}"))
        .to_owned()
}

fn ids(list: &Value, key: &str, field: &str) -> Vec<String> {
    let mut v: Vec<String> = list["payload"][key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d[field].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// OpenClaw's device-management policy: a device that authenticated with its own device
/// token and holds `operator.pairing` without `operator.admin` sees and manages only
/// itself (it cannot unpair, rename, rotate or revoke for another device, nor approve or
/// reject another device's request, nor learn whether a request exists); nobody without
/// admin approves a node-role request or manages a node token; the shared secret is not
/// device-bound. Each refusal changes nothing and is a `security.event` in the stability
/// ring (reason codes, no device ids). And `device.pair.rename`: labels checked, listed
/// (`operatorLabel`), usable as a name by our CLI, kept across a restart.
#[actix_web::test]
async fn device_management_is_limited_to_the_callers_own_device_without_admin() {
    let mut gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let own_scopes = ["operator.read", "operator.pairing"];
    let (a, b) = (random_key(), random_key());
    let a_token = pair_for(&gw, &mut admin, &a, &own_scopes).await;
    let b_token = pair_for(&gw, &mut admin, &b, &["operator.read"]).await;
    let (a_id, b_id) = (a.device_id(), b.device_id());
    // A node (paired silently on loopback), and two requests waiting: an operator's and a
    // node's.
    let node_key = random_key();
    let node = FakeNode::connect(
        gw.port,
        &node_key,
        "T",
        &["echo.test"],
        always(Action::Echo),
    )
    .await;
    let c = random_key();
    let c_request = pending_request(
        &gw,
        &c,
        connect_params("cli", "cli", &["operator.read"], json!({"token": "T"})),
    )
    .await;
    let d = random_key();
    let d_request = pending_request(&gw, &d, node_connect_params(&[], json!({"token": "T"}))).await;

    // Device A, on its own device token.
    let (mut dev_a, res) = remote_hello(
        gw.port,
        &a,
        connect_params("cli", "cli", &own_scopes, json!({"deviceToken": a_token})),
    )
    .await;
    assert_eq!(res["payload"]["auth"]["method"], "device-token", "{res}");
    let list = dev_a.request("device.pair.list", json!({})).await;
    assert_eq!(
        ids(&list, "paired", "deviceId"),
        std::slice::from_ref(&a_id),
        "{list}"
    );
    assert_eq!(
        ids(&list, "pending", "requestId"),
        Vec::<String>::new(),
        "{list}"
    );
    let refusals = [
        (
            "device.pair.remove",
            json!({"deviceId": b_id}),
            "device pairing removal denied",
        ),
        (
            "device.pair.rename",
            json!({"deviceId": b_id, "label": "mine now"}),
            "device pairing rename denied",
        ),
        (
            "device.token.rotate",
            json!({"deviceId": b_id, "role": "operator"}),
            "device token rotation denied",
        ),
        (
            "device.token.revoke",
            json!({"deviceId": b_id, "role": "operator"}),
            "device token revocation denied",
        ),
        (
            "device.pair.approve",
            json!({"requestId": c_request}),
            "device pairing approval denied",
        ),
        (
            "device.pair.approve",
            json!({"requestId": "no-such-request"}),
            "device pairing approval denied",
        ),
        (
            "device.pair.reject",
            json!({"requestId": c_request}),
            "device pairing rejection denied",
        ),
        (
            "device.pair.reject",
            json!({"requestId": "no-such-request"}),
            "device pairing rejection denied",
        ),
        (
            "device.pair.remove",
            json!({"deviceId": node.node_id}),
            "device pairing removal denied",
        ),
        (
            "device.token.rotate",
            json!({"deviceId": a_id, "role": "node"}),
            "device token rotation denied",
        ),
        (
            "device.token.revoke",
            json!({"deviceId": a_id, "role": "node"}),
            "device token revocation denied",
        ),
        (
            "node.pair.remove",
            json!({"nodeId": node.node_id}),
            "node pairing removal denied",
        ),
        (
            "node.rename",
            json!({"nodeId": node.node_id, "displayName": "mine"}),
            "node rename denied",
        ),
    ];
    for (method, params, message) in &refusals {
        let res = dev_a.request(method, params.clone()).await;
        let err = error_of(&res);
        assert_eq!(err["code"], "INVALID_REQUEST", "{method} {params}: {res}");
        assert_eq!(err["message"], *message, "{method} {params}: {res}");
    }
    // Nothing changed: B is paired with its token, C and D still wait.
    let list = admin.request("device.pair.list", json!({})).await;
    let paired = ids(&list, "paired", "deviceId");
    for id in [&a_id, &b_id, &node.node_id] {
        assert!(paired.contains(id), "{id} not paired any more: {list}");
    }
    assert_eq!(ids(&list, "pending", "requestId"), {
        let mut v = vec![c_request.clone(), d_request.clone()];
        v.sort();
        v
    });
    let (_b_conn, res) = remote_hello(
        gw.port,
        &b,
        connect_params(
            "cli",
            "cli",
            &["operator.read"],
            json!({"deviceToken": b_token}),
        ),
    )
    .await;
    assert_eq!(res["ok"], true, "B's token still works: {res}");
    // Its own device it may name.
    let res = dev_a
        .request(
            "device.pair.rename",
            json!({"deviceId": a_id, "label": "  Kitchen tablet  "}),
        )
        .await;
    assert_eq!(
        res["payload"],
        json!({"deviceId": a_id, "label": "Kitchen tablet"}),
        "{res}"
    );

    // A shared-secret operator with pairing only is not device-bound, but approving a
    // node-role request needs admin.
    let (mut pairer, _) = WsClient::hello(gw.port, cli_params("T", &["operator.pairing"])).await;
    let res = pairer
        .request("device.pair.approve", json!({"requestId": d_request}))
        .await;
    assert_eq!(
        error_of(&res)["message"],
        "device pairing approval denied",
        "{res}"
    );
    let res = pairer
        .request(
            "device.pair.rename",
            json!({"deviceId": b_id, "label": "Büro 🖥️"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    // Device lists refresh on OpenClaw's hint (pairing-scoped operators get it).
    let ev = admin
        .event_within("device.pair.changed", Duration::from_secs(5))
        .await;
    assert_eq!(ev["payload"], json!({}), "{ev}");
    let res = pairer
        .request("device.pair.reject", json!({"requestId": c_request}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let res = admin
        .request("device.pair.approve", json!({"requestId": d_request}))
        .await;
    assert_eq!(res["ok"], true, "an admin approves the node: {res}");

    // Rename's params: OpenClaw's schema, then ours (no control characters).
    let long = "x".repeat(65);
    let emoji = "🦀".repeat(64);
    for (params, message) in [
        (
            json!({"deviceId": b_id}),
            "invalid device.pair.rename params: must have required property 'label'",
        ),
        (
            json!({"deviceId": b_id, "label": long}),
            "invalid device.pair.rename params: at /label: must NOT have more than 64 characters",
        ),
        (
            json!({"deviceId": b_id, "label": ""}),
            "invalid device.pair.rename params: at /label: must NOT have fewer than 1 characters",
        ),
        (
            json!({"deviceId": b_id, "label": 7}),
            "invalid device.pair.rename params: at /label: must be string",
        ),
        (
            json!({"deviceId": b_id, "label": "x", "color": "red"}),
            "invalid device.pair.rename params: at root: unexpected property 'color'",
        ),
        (json!({"deviceId": b_id, "label": "   "}), "label required"),
        (
            json!({"deviceId": b_id, "label": "evil\u{1b}[2J"}),
            "label must not contain control characters (line breaks, escapes)",
        ),
        (
            json!({"deviceId": b_id, "label": "two\nlines"}),
            "label must not contain control characters (line breaks, escapes)",
        ),
        (
            json!({"deviceId": "0".repeat(64), "label": "ghost"}),
            "unknown deviceId",
        ),
    ] {
        let res = admin.request("device.pair.rename", params.clone()).await;
        assert_eq!(error_of(&res)["message"], message, "{params}: {res}");
    }
    let res = admin
        .request(
            "device.pair.rename",
            json!({"deviceId": b_id, "label": emoji}),
        )
        .await;
    assert_eq!(
        res["ok"], true,
        "64 characters, whatever their bytes: {res}"
    );
    let res = admin
        .request(
            "device.pair.rename",
            json!({"deviceId": b_id, "label": "Büro 🖥️"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");

    // The refusals are in the ring as reason codes, without device ids.
    let snap = admin
        .request("diagnostics.stability", json!({"type": "security.event"}))
        .await;
    let events = snap["payload"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let count = |action: &str, reason: &str| -> u64 {
        events
            .iter()
            .filter(|e| e["action"] == action && e["reason"] == reason)
            .map(|e| e["count"].as_u64().unwrap_or(1))
            .sum()
    };
    assert_eq!(
        count("device.pairing.denied", "device-ownership-mismatch"),
        7,
        "{snap}"
    );
    assert_eq!(
        count("device.pairing.denied", "role-management-requires-admin"),
        1,
        "{snap}"
    );
    assert_eq!(
        count("device.token.rotation_denied", "device-ownership-mismatch"),
        1,
        "{snap}"
    );
    assert_eq!(
        count(
            "device.token.rotation_denied",
            "role-management-requires-admin"
        ),
        1,
        "{snap}"
    );
    assert_eq!(
        count(
            "device.token.revocation_denied",
            "device-ownership-mismatch"
        ),
        1,
        "{snap}"
    );
    assert_eq!(
        count(
            "device.token.revocation_denied",
            "role-management-requires-admin"
        ),
        1,
        "{snap}"
    );
    let text = snap.to_string();
    for id in [&a_id, &b_id, &node.node_id] {
        assert!(
            !text.contains(id.as_str()),
            "a device id in the ring: {text}"
        );
    }
    assert!(
        gw.stderr().contains(&format!(
            "device pairing removal denied device={b_id} reason=device-ownership-mismatch"
        )),
        "{}",
        gw.stderr()
    );

    // Our CLI lists the labels and finds a device by its label.
    let home = CliHome::new();
    let url = gw.url();
    let out = home.run(&["devices", "list", "--url", &url, "--token", "T"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains("Kitchen tablet") && out.stdout.contains("Büro 🖥️"),
        "{out}"
    );
    let out = home.run(
        &[
            "devices",
            "rename",
            "--device",
            "kitchen tablet",
            "--name",
            "Hall tablet",
            "--url",
            &url,
            "--token",
            "T",
        ],
        &[],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout.trim(),
        format!("Renamed device {a_id} to \"Hall tablet\""),
        "{out}"
    );

    // Labels are kept on disk across a restart.
    drop((dev_a, pairer, admin, node));
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", gw.stderr());
    let gw = TestGateway::start_in(gw.take_dir(), &["gateway", "run", "--port", "0"], &[], None);
    let (mut admin, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
    let list = admin.request("device.pair.list", json!({})).await;
    let label = |id: &str| {
        list["payload"]["paired"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["deviceId"] == id))
            .map(|d| d["operatorLabel"].clone())
    };
    assert_eq!(label(&a_id), Some(json!("Hall tablet")), "{list}");
    assert_eq!(label(&b_id), Some(json!("Büro 🖥️")), "{list}");
}
