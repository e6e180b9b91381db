//! The Control UI page (issue 9): served on the gateway port with a strict CSP and the right
//! content types, under `gateway.controlUi.basePath`, off with `gateway.controlUi.enabled:
//! false`; the page's own client (`openclaw-control-ui`/`webchat`) within the origin and
//! pairing rules, directly and behind a trusted proxy; and the end-to-end browser test in real
//! headless Chromium (`tests/browser/ui.mjs`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use std::time::Instant;

use serde_json::{Value, json};

use crate::support::fake_node::{Action, FakeNode, Sig, always, random_key, sign_device};
use crate::support::{
    BIN, Background, TestGateway, WAIT, WsClient, cli_params, connect_params, error_of, now_ms,
    raw_upgrade, run_bounded,
};

/// The page's own connect params (what app.js sends), signed by `key` for `nonce`.
fn page_params(token: &str) -> Value {
    let mut p = connect_params(
        "openclaw-control-ui",
        "webchat",
        &["operator.read", "operator.write"],
        json!({"token": token}),
    );
    p["client"]["platform"] = json!("web");
    p
}

/// One plain HTTP/1.1 request (`Connection: close`), read to the end.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("TCP connect to the gateway");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, head, raw[split + 4..].to_vec())
}

fn header_line<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim())
    })
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[test]
fn the_page_and_its_assets_are_served_with_a_strict_csp() {
    let gw = TestGateway::with_token("T");
    for (path, ctype, needle) in [
        (
            "/",
            "text/html; charset=utf-8",
            "<title>OpenClaw Control</title>",
        ),
        (
            "/app.js",
            "text/javascript; charset=utf-8",
            "connect.challenge",
        ),
        (
            "/ed25519.js",
            "text/javascript; charset=utf-8",
            "OpenClawEd25519",
        ),
        ("/app.css", "text/css; charset=utf-8", "--accent"),
        ("/icon.svg", "image/svg+xml", "<svg"),
    ] {
        let (status, head, body) = http(gw.port, "GET", path, &[]);
        assert_eq!(status, 200, "{path}: {head}");
        assert_eq!(header_line(&head, "content-type"), Some(ctype), "{path}");
        // Header values were lower-cased with the head; the CSP is lower-case already.
        assert_eq!(
            header_line(&head, "content-security-policy"),
            Some(CSP),
            "{path}"
        );
        assert_eq!(
            header_line(&head, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header_line(&head, "x-frame-options"),
            Some("deny"),
            "{path}"
        );
        assert_eq!(
            header_line(&head, "referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(needle), "{path}: {text}");
        // Nothing is fetched from anywhere else.
        assert!(!text.contains("https://"), "{path} names an absolute URL");
    }
    // HEAD: the headers and length, no body.
    let (status, head, body) = http(gw.port, "HEAD", "/app.js", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(body.is_empty());
    assert!(
        header_line(&head, "content-length").is_some_and(|l| l != "0"),
        "{head}"
    );
    // Other methods, unknown paths, traversal attempts.
    let (status, head, _) = http(gw.port, "POST", "/", &[("Content-Length", "0")]);
    assert_eq!(status, 405, "{head}");
    assert_eq!(header_line(&head, "allow"), Some("get, head"));
    for path in [
        "/nope",
        "/app.js/",
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/ui/app.js",
        "//app.js",
    ] {
        let (status, head, _) = http(gw.port, "GET", path, &[]);
        assert_eq!(status, 404, "{path}: {head}");
        assert_eq!(
            header_line(&head, "content-security-policy"),
            Some(CSP),
            "{path}"
        );
    }
    // The health endpoints are unchanged.
    let (status, _, body) = http(gw.port, "GET", "/healthz", &[]);
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&body),
        r#"{"ok":true,"status":"live"}"#
    );
}

#[actix_web::test]
async fn base_path_moves_the_page_and_enabled_false_turns_it_off() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(r#"{gateway: {controlUi: {basePath: "openclaw/"}}}"#),
    );
    let (status, head, body) = http(gw.port, "GET", "/openclaw/", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(String::from_utf8_lossy(&body).contains("<script src=\"app.js\" defer></script>"));
    let (status, head, _) = http(gw.port, "GET", "/openclaw/app.js", &[]);
    assert_eq!(status, 200, "{head}");
    let (status, head, _) = http(gw.port, "GET", "/openclaw", &[]);
    assert_eq!(status, 308, "{head}");
    assert_eq!(header_line(&head, "location"), Some("/openclaw/"));
    for path in ["/", "/app.js", "/openclawx/", "/openclaw/openclaw/"] {
        let (status, head, _) = http(gw.port, "GET", path, &[]);
        assert_eq!(status, 404, "{path}: {head}");
    }
    // The WebSocket answers on the page's path (what app.js opens) and anywhere else.
    let (mut c, _) = WsClient::hello(gw.port, cli_params("T", &["operator.read"])).await;
    assert_eq!(c.request("health", json!({})).await["ok"], true);

    let off = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(r#"{gateway: {controlUi: {enabled: false}}}"#),
    );
    let (status, head, body) = http(off.port, "GET", "/", &[]);
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        header_line(&head, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        String::from_utf8_lossy(&body)
            .contains("the Control UI is off (gateway.controlUi.enabled: false)"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    for path in ["/app.js", "/app.css", "/icon.svg"] {
        let (status, _, _) = http(off.port, "GET", path, &[]);
        assert_eq!(status, 404, "{path}");
    }
    // WebSocket clients are unaffected.
    let (mut c, _) = WsClient::hello(off.port, cli_params("T", &["operator.read"])).await;
    assert_eq!(c.request("health", json!({})).await["ok"], true);
}

#[test]
fn a_bad_base_path_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("openclaw.json"),
        r#"{gateway: {controlUi: {basePath: "/a/../b"}}}"#,
    )
    .expect("write config");
    let mut cmd = crate::support::isolated_command(BIN, dir.path());
    cmd.args(["gateway", "run", "--port", "0", "--token", "T"]);
    let out = run_bounded(cmd, Duration::from_secs(20));
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr
            .contains("gateway.controlUi.basePath \"/a/../b\" is not a usable URL path. Fix:"),
        "{out}"
    );
}

async fn page_connect(port: u16, headers: &[(&str, &str)], token: &str) -> (WsClient, Value) {
    let mut c = WsClient::open_with(port, headers)
        .await
        .unwrap_or_else(|e| panic!("upgrade with {headers:?} refused: {e}"));
    let ch = c.challenge().await;
    let nonce = ch["payload"]["nonce"].as_str().expect("nonce").to_owned();
    let mut params = page_params(token);
    sign_device(&mut params, &random_key(), &nonce, now_ms(), Sig::V3);
    let res = c.connect(params).await;
    (c, res)
}

#[actix_web::test]
async fn the_page_client_on_loopback_is_paired_silently_and_cross_origin_pages_are_refused() {
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(
            r#"{gateway: {auth: {token: "T"}, controlUi: {allowedOrigins: ["https://ui.example"]}}}"#,
        ),
    );
    let p = gw.port;
    let own = format!("http://127.0.0.1:{p}");
    // The page loaded from the gateway itself: silently paired (spec §5.9, Control UI client).
    let (_c, res) = page_connect(p, &[("Origin", &own)], "T").await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["method"], "token", "{res}");
    assert_eq!(
        res["payload"]["auth"]["scopes"],
        json!(["operator.read", "operator.write"]),
        "{res}"
    );
    // A page from an allowed origin, opened through the loopback port (direct loopback peer,
    // loopback Host, the Control UI client): accepted, and silently paired as well.
    let (_c, res) = page_connect(p, &[("Origin", "https://ui.example")], "T").await;
    assert_eq!(res["ok"], true, "{res}");
    // Refused origins, whatever the credentials.
    for bad in [
        "https://evil.example".to_owned(),
        format!("http://localhost.evil.example:{p}"),
        "null".to_owned(),
    ] {
        let (_c, res) = page_connect(p, &[("Origin", &bad)], "T").await;
        assert_eq!(
            error_of(&res)["details"]["code"],
            "CONTROL_UI_ORIGIN_NOT_ALLOWED",
            "{bad}: {res}"
        );
    }
    // A wrong token from the page: "token mismatch", the hint for the Control UI.
    let (_c, res) = page_connect(p, &[("Origin", &own)], "nope").await;
    let err = error_of(&res);
    assert_eq!(err["details"]["code"], "AUTH_TOKEN_MISMATCH", "{res}");
    assert_eq!(
        err["message"],
        "unauthorized: gateway token mismatch (open the dashboard URL and paste the token in Control UI settings)"
    );
}

#[actix_web::test]
async fn forwarded_headers_count_only_from_trusted_proxies_for_the_page() {
    // No trusted proxies: a page whose request carries forwarding headers is refused before
    // any WebSocket exists, so the header can never make it local or remote.
    let gw = TestGateway::with_token("T");
    let p = gw.port;
    for h in [
        ("X-Forwarded-For", "127.0.0.1"),
        ("X-Real-IP", "203.0.113.9"),
        ("Forwarded", "for=127.0.0.1"),
    ] {
        let r = raw_upgrade(p, &[h, ("Origin", &format!("http://127.0.0.1:{p}"))]);
        assert_eq!(r.status, 403, "{h:?}: {r:?}");
        assert!(
            r.body.contains(r#""type":"proxy_attribution_required""#),
            "{r:?}"
        );
    }
    // Tailscale identity headers on the ordinary listener are refused as well.
    let r = raw_upgrade(p, &[("Tailscale-User-Login", "alice@example.com")]);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body
            .contains("only accepted on the gateway's own Tailscale Serve listener"),
        "{r:?}"
    );
    // Plain page GETs are not affected by attribution (nothing is authenticated there).
    let (status, _, _) = http(p, "GET", "/", &[("X-Forwarded-For", "203.0.113.9")]);
    assert_eq!(status, 200);

    // With the proxy trusted, the page behind it is remote: a pending device whose request
    // names the forwarded client, approved by an operator, then connected.
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(r#"{gateway: {trustedProxies: ["127.0.0.1"]}}"#),
    );
    let p = gw.port;
    let (mut op, _) =
        WsClient::hello(p, cli_params("T", &["operator.admin", "operator.pairing"])).await;
    let key = random_key();
    // A public origin behind the proxy is neither allowed nor private: refused.
    let public = [
        ("X-Forwarded-For", "198.51.100.23"),
        ("Origin", "https://gw.example"),
        ("Host", "gw.example"),
    ];
    let res = signed_page_connect(p, &public, &key).await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "CONTROL_UI_ORIGIN_NOT_ALLOWED",
        "{res}"
    );
    // A private same-origin page behind the proxy: remote, so pairing is required.
    let lan = [
        ("X-Forwarded-For", "10.9.8.7, 198.51.100.23"),
        ("Origin", "http://192.168.1.20:8443"),
        ("Host", "192.168.1.20:8443"),
    ];
    let res = signed_page_connect(p, &lan, &key).await;
    let err = error_of(&res);
    assert_eq!(err["details"]["code"], "PAIRING_REQUIRED", "{res}");
    let request_id = err["details"]["requestId"]
        .as_str()
        .expect("requestId")
        .to_owned();
    let list = op.request("device.pair.list", json!({})).await;
    let pending = list["payload"]["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .find(|r| r["requestId"] == request_id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no pending {request_id}: {list}"));
    // The forwarded client (the rightmost untrusted hop), not the proxy, not the left entry.
    assert_eq!(pending["remoteIp"], "198.51.100.23", "{pending}");
    assert_eq!(pending["clientId"], "openclaw-control-ui", "{pending}");
    assert_eq!(pending["deviceId"], key.device_id(), "{pending}");
    let res = op
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let res = signed_page_connect(p, &lan, &key).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"]["auth"]["scopes"],
        json!(["operator.read", "operator.write"]),
        "{res}"
    );
}

async fn signed_page_connect(
    port: u16,
    headers: &[(&str, &str)],
    key: &openclaw::actors::identity::DeviceKey,
) -> Value {
    let mut c = WsClient::open_with(port, headers)
        .await
        .unwrap_or_else(|e| panic!("upgrade with {headers:?} refused: {e}"));
    let ch = c.challenge().await;
    let nonce = ch["payload"]["nonce"].as_str().expect("nonce").to_owned();
    let mut params = page_params("T");
    sign_device(&mut params, key, &nonce, now_ms(), Sig::V3);
    c.connect(params).await
}

// === the browser test ===

fn ref_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OPENCLAW_REF_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").expect("HOME is set for the test process");
    Path::new(&home).join(".cache/openclaw-rs/openclaw-ref")
}

/// A reverse proxy on loopback that stands for a remote user's proxy: it replaces any
/// `X-Forwarded-For` with `client_ip` and forces one request per connection (so every request,
/// the WebSocket upgrade included, carries the header), then relays bytes both ways.
async fn forwarding_proxy(upstream: u16, client_ip: &'static str) -> u16 {
    proxy_with_headers(upstream, vec![("X-Forwarded-For".into(), client_ip.into())]).await
}

/// Like [`forwarding_proxy`], with any set of headers replaced (removed from the request, then
/// added with these values; `$host` stands for the request's `Host`).
async fn proxy_with_headers(upstream: u16, set: Vec<(String, String)>) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let port = listener.local_addr().expect("proxy addr").port();
    actix_web::rt::spawn(async move {
        while let Ok((mut down, _)) = listener.accept().await {
            let set = set.clone();
            actix_web::rt::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    match down.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if buf.len() > 64 * 1024 {
                        return;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let upgrade = head
                    .lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("upgrade:"));
                let mut out = String::new();
                for (i, line) in head.split("\r\n").enumerate() {
                    let lower = line.to_ascii_lowercase();
                    let replaced = set
                        .iter()
                        .any(|(k, _)| lower.starts_with(&format!("{}:", k.to_ascii_lowercase())));
                    if i > 0 && (replaced || (!upgrade && lower.starts_with("connection:"))) {
                        continue;
                    }
                    out.push_str(line);
                    out.push_str("\r\n");
                }
                let host = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case("host")
                            .then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default();
                for (k, v) in &set {
                    let v = if v == "$host" {
                        host.as_str()
                    } else {
                        v.as_str()
                    };
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                if !upgrade {
                    out.push_str("Connection: close\r\n");
                }
                out.push_str("\r\n");
                let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                if up.write_all(out.as_bytes()).await.is_err()
                    || up.write_all(&buf[end + 4..]).await.is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
            });
        }
    });
    port
}

/// A 1×1 PNG the page attaches to a chat message.
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// The whole page in real headless Chromium (tests/browser/ui.mjs): loads without console
/// errors, refuses a wrong token with "Token mismatch", signs in with the token, chats with
/// the embedded command agent (streamed `chat` events), attaches an image (kept under
/// `media/inbound`) and sees a file that is no image refused, approves the fake node's commands,
/// lists the node and invokes `system.which`, edits the agent's workspace files in the Agent
/// tab (`SOUL.md` saved with markup that must stay text; a `USER.md` conflict with a second
/// tab, then overwritten), approves a "remote" browser (behind a trusted proxy) that shows
/// "pairing required", rejects another, reopens the session's history, shows health, and
/// rides out a gateway restart ("Gateway restarting — reconnecting…").
/// Screenshots: target/browser-screenshots/control-ui/.
#[actix_web::test]
async fn browser_control_ui_end_to_end() {
    let refd = ref_dir();
    let node_bin = refd.join("node24/node_modules/.bin/node");
    let pw_dir = refd.join("browser");
    assert!(
        node_bin.exists()
            && pw_dir
                .join("node_modules/playwright-core/package.json")
                .exists(),
        "Node 24 and playwright-core are not installed under {}. Run scripts/setup-openclaw-ref.sh and scripts/setup-browser.sh (scripts/test.sh runs both), or set OPENCLAW_REF_DIR.",
        refd.display()
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/setup-browser.sh (as root it installs Debian's chromium)"
    );
    const REMOTE_IP: &str = "203.0.113.7";
    const CONFIG: &str = r#"{gateway: {trustedProxies: ["127.0.0.1"]}}"#;
    let mut gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(CONFIG),
    );
    // What the Usage tab shows: two answers' usage in a transcript (today's priced,
    // yesterday's not), as the agent records them.
    {
        let now = crate::support::now_ms();
        let day = 86_400_000u64;
        let lines = [
            json!({"type": "message", "role": "assistant", "content": "x", "ts": now,
                "usage": {"input": 1000, "output": 150, "cacheRead": 20, "cacheWrite": 0, "totalTokens": 1170,
                    "cost": {"input": 0.01, "output": 0.0022, "cacheRead": 0.0001, "cacheWrite": 0.0, "total": 0.0123}}}),
            json!({"type": "message", "role": "assistant", "content": "y", "ts": now - day,
                "usage": {"input": 7, "output": 3, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 10}}),
        ];
        let dir = gw.dir.path().join("agents/main/sessions");
        std::fs::create_dir_all(&dir).expect("sessions dir");
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.join("usage-fixture.jsonl"), text).expect("usage fixture");
    }
    let key = random_key();
    let node = FakeNode::connect(gw.port, &key, "T", &["system.which"], always(Action::Echo)).await;
    let proxy = forwarding_proxy(gw.port, REMOTE_IP).await;
    // Each browser test has its own folder (they may run in parallel).
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots/control-ui");
    let _ = std::fs::remove_dir_all(&shots);
    let home = tempfile::tempdir().expect("tempdir for the browser");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/ui.mjs");
    let mut cmd = crate::support::isolated_command(&node_bin, home.path());
    cmd.arg(&script)
        .env("PLAYWRIGHT_DIR", &pw_dir)
        .env("UI_URL", format!("http://127.0.0.1:{}/", gw.port))
        .env("UI_REMOTE_URL", format!("http://127.0.0.1:{proxy}/"))
        .env("UI_REMOTE_IP", REMOTE_IP)
        .env("UI_TOKEN", "T")
        .env("UI_NODE_ID", &node.node_id)
        .env("UI_PNG_B64", PNG_B64)
        .env("UI_SCREENSHOTS", &shots);
    let pid = gw.pid();
    let mut run = Background::spawn(cmd);
    let limit = Duration::from_secs(180);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = run.try_status() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "tests/browser/ui.mjs did not finish within {limit:?}\n{}\ngateway stderr:\n{}",
            run.output(),
            gw.stderr()
        );
        // Keeps the fake node (on this runtime) answering while the browser works.
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "tests/browser/ui.mjs failed ({status}); screenshots in {}\n{}\ngateway stderr:\n{}",
        shots.display(),
        run.output(),
        gw.stderr()
    );
    assert!(
        run.output().contains("ui.mjs: all steps passed"),
        "{}",
        run.output()
    );
    // The Health tab's button restarted the gateway in place: same process, a second start.
    assert_eq!(gw.pid(), pid);
    assert!(gw.running(), "the restart never exited the process");
    let starts = gw
        .stdout()
        .lines()
        .filter(|l| l.starts_with("listening on ws://127.0.0.1:"))
        .count();
    assert_eq!(starts, 2, "{}", gw.stdout());
    // The node really received the invoke the page sent.
    let seen = node.requests.borrow().clone();
    assert!(
        seen.iter().any(|r| r["command"] == "system.which"
            && r["paramsJSON"]
                .as_str()
                .is_some_and(|p| p.contains("\"sh\""))),
        "{seen:?}"
    );
    // The image the page attached was kept for the agent, byte for byte.
    let inbound: Vec<PathBuf> = std::fs::read_dir(gw.dir.path().join("media/inbound"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let png = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(PNG_B64)
            .expect("PNG_B64 is base64")
    };
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    assert!(std::fs::read(&inbound[0]).is_ok_and(|d| d == png));
    // What the Agent tab saved is on disk, byte for byte (the state dir outlived the restart;
    // the default workspace is `<state dir>/workspace`): SOUL.md as typed, USER.md as the
    // first tab overwrote it after the conflict.
    let ws = gw.dir.path().join("workspace");
    assert_eq!(
        std::fs::read_to_string(ws.join("SOUL.md")).expect("SOUL.md"),
        "Speak like a pirate. 🏴‍☠️ <script>alert(1)</script>"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("USER.md")).expect("USER.md"),
        "# USER.md\n\nName: Ada (saved from the first tab, over the second's)\n"
    );
    for name in [
        "01-login",
        "02-wrong-token",
        "04-chat",
        "04b-attachment",
        "05-nodes-invoke",
        "09-agent-files",
        "09b-agent-conflict",
        "06-remote-pairing-required",
        "08-remote-approved",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "missing screenshot {name}"
        );
    }
}

// === openclaw dashboard ===

#[test]
fn dashboard_prints_the_page_url_for_the_configured_gateway() {
    use crate::support::CliHome;
    // Defaults: loopback, port 18789, root path; the URL never carries the secret.
    let home = CliHome::with_config(r#"{gateway: {auth: {token: "SECRET-T"}}}"#);
    let out = home.run(&["dashboard"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, "http://127.0.0.1:18789/\n", "{out}");
    assert!(
        !out.stdout.contains("SECRET-T") && !out.stderr.contains("SECRET-T"),
        "{out}"
    );
    assert!(
        out.stderr.contains("sign in with gateway.auth.token"),
        "{out}"
    );

    // basePath, TLS, --json.
    let home = CliHome::with_config(
        r#"{gateway: {port: 20001, tls: {enabled: true}, controlUi: {basePath: "/openclaw"}}}"#,
    );
    let out = home.run(&["dashboard", "--json"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["httpUrl"], "https://127.0.0.1:20001/openclaw/", "{v}");
    assert_eq!(v["wsUrl"], "wss://127.0.0.1:20001/openclaw/", "{v}");
    assert_eq!(v["port"], 20001, "{v}");
    assert_eq!(v["tokenIncluded"], false, "{v}");

    // A remote gateway: derived from gateway.remote.url.
    let home = CliHome::with_config(
        r#"{gateway: {mode: "remote", remote: {url: "wss://gw.example:8443", token: "X"}}}"#,
    );
    let out = home.run(&["dashboard"], &[]);
    assert_eq!(out.stdout, "https://gw.example:8443/\n", "{out}");

    // The page turned off: a clear refusal.
    let home = CliHome::with_config(r#"{gateway: {controlUi: {enabled: false}}}"#);
    let out = home.run(&["dashboard"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("the Control UI is off (gateway.controlUi.enabled: false). Fix:"),
        "{out}"
    );
}

#[test]
fn dashboard_open_hands_the_url_of_a_running_gateway_to_the_browser() {
    use crate::support::CliHome;
    let gw = TestGateway::with_token("T");
    let home = CliHome::with_config(&format!("{{gateway: {{port: {}}}}}", gw.port));
    let seen = home.dir.path().join("opened.txt");
    let browser = home.write(
        "fake-browser",
        &format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", seen.display()),
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let browser = browser.display().to_string();
    let out = home.run(&["dashboard", "--open"], &[("BROWSER", browser.as_str())]);
    assert_eq!(out.code, Some(0), "{out}");
    let url = format!("http://127.0.0.1:{}/", gw.port);
    assert_eq!(out.stdout, format!("{url}\n"), "{out}");
    assert!(!out.stderr.contains("nothing is listening"), "{out}");
    assert_eq!(std::fs::read_to_string(&seen).expect("browser ran"), url);
    // The URL really is the page.
    let (status, _, body) = http(gw.port, "GET", "/", &[]);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("OpenClaw Control"));
    // A browser that fails: exit 1 naming the fix.
    let out = home.run(
        &["dashboard", "--open"],
        &[("BROWSER", "/nonexistent/browser")],
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!("Fix: open {url} yourself")),
        "{out}"
    );
}

/// The page's scopes (app.js `SCOPES`).
const PAGE_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.pairing",
];

/// The token in a sign-in link's fragment.
fn link_token(link: &str) -> String {
    let frag = link.split_once('#').map_or("", |(_, f)| f);
    frag.split('&')
        .find_map(|kv| kv.strip_prefix("bootstrapToken="))
        .unwrap_or_else(|| panic!("no bootstrapToken in {link}"))
        .to_owned()
}

/// A page (or any client, `client_id`) on another machine (through the trusted proxy, from
/// 203.0.113.7, with the page's origin) connecting with `auth`, signed by `key`.
async fn remote_page(
    port: u16,
    key: &openclaw::actors::identity::DeviceKey,
    client_id: &str,
    role: &str,
    scopes: &[&str],
    auth: Value,
) -> (WsClient, Value) {
    let origin = format!("http://127.0.0.1:{port}");
    let mut c = WsClient::open_with(
        port,
        &[("X-Forwarded-For", "203.0.113.7"), ("Origin", &origin)],
    )
    .await
    .unwrap_or_else(|e| panic!("upgrade through the trusted proxy refused: {e}"));
    let ch = c.challenge().await;
    let nonce = ch["payload"]["nonce"].as_str().expect("nonce").to_owned();
    let mut p = connect_params(client_id, "webchat", scopes, auth);
    p["client"]["platform"] = json!("web");
    p["role"] = json!(role);
    sign_device(&mut p, key, &nonce, now_ms(), Sig::V3);
    let res = c.connect(p).await;
    (c, res)
}

/// The error code `client_id` from afar gets for the sign-in link's `token`.
async fn link_code(
    port: u16,
    key: &openclaw::actors::identity::DeviceKey,
    client_id: &str,
    role: &str,
    scopes: &[&str],
    token: &str,
) -> Value {
    let (_c, res) = remote_page(
        port,
        key,
        client_id,
        role,
        scopes,
        json!({"bootstrapToken": token}),
    )
    .await;
    error_of(&res)["details"]["code"].clone()
}

/// `openclaw dashboard`'s one-time sign-in link (`controlUi.handoff`): the page of a browser
/// on another machine presents it and is paired as an owner device without the secret; the
/// device token it got signs it in afterwards; the link works once, for that browser, for the
/// Control UI only; only admins issue links, never in auth mode none; the secret is never in
/// the CLI's output and the link's token never on disk.
#[actix_web::test]
async fn a_dashboard_sign_in_link_pairs_one_browser_as_an_owner() {
    use crate::support::CliHome;
    const SECRET: &str = "SECRET-T-0123456789";
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(&format!(
            r#"{{gateway: {{auth: {{token: "{SECRET}"}}, trustedProxies: ["127.0.0.1"]}}}}"#
        )),
    );
    let home = CliHome::with_config(&format!(
        r#"{{gateway: {{port: {}, auth: {{token: "{SECRET}"}}}}}}"#,
        gw.port
    ));
    let page = format!("http://127.0.0.1:{}/", gw.port);

    // Text: the page's URL, then the link; the secret in neither stream.
    let out = home.run(&["dashboard"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], page, "{out}");
    assert!(
        lines[1].starts_with(&format!("{page}#bootstrapToken="))
            && lines[1].ends_with("&bootstrapProfile=owner"),
        "{out}"
    );
    assert!(out.stderr.contains("One-time sign-in link"), "{out}");
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "{out}"
    );
    let unused = link_token(lines[1]);
    // JSON: OpenClaw's keys.
    let out = home.run(&["dashboard", "--json"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    let link = v["browserUrl"].as_str().expect("browserUrl").to_owned();
    assert!(link.starts_with(&format!("{page}#bootstrapToken=")), "{v}");
    let expires = v["browserBootstrapExpiresAtMs"].as_u64().expect("expiry");
    assert!(
        expires > now_ms() + 590_000 && expires <= now_ms() + 600_000,
        "{v}"
    );
    assert!(!out.stdout.contains(SECRET), "{out}");
    let token = link_token(&link);
    assert_ne!(token, unused);
    let on_disk =
        std::fs::read_to_string(gw.dir.path().join("devices/pairing.json")).expect("pairing.json");
    assert!(
        !on_disk.contains(&token) && on_disk.contains("control-ui-owner"),
        "only the link's hash is kept: {on_disk}"
    );
    // --no-handoff: the URL only.
    let out = home.run(&["dashboard", "--json", "--no-handoff"], &[]);
    let v = out.json();
    assert!(v.get("browserUrl").is_none(), "{v}");
    assert_eq!(v["httpUrl"], page.as_str(), "{v}");

    // Not a shared secret: a client without a device identity cannot use it.
    let (mut c, _) = WsClient::open_challenged(gw.port).await;
    let res = c
        .connect(connect_params(
            "openclaw-control-ui",
            "webchat",
            &["operator.read"],
            json!({"bootstrapToken": token}),
        ))
        .await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "DEVICE_IDENTITY_REQUIRED",
        "{res}"
    );
    // Nor for the node role, nor for scopes beyond the owner's: refused, and still unbound.
    let stranger = random_key();
    assert_eq!(
        link_code(
            gw.port,
            &stranger,
            "openclaw-control-ui",
            "node",
            &[],
            &token
        )
        .await,
        "AUTH_BOOTSTRAP_TOKEN_INVALID"
    );
    assert_eq!(
        link_code(
            gw.port,
            &stranger,
            "openclaw-control-ui",
            "operator",
            &["operator.read", "operator.talk"],
            &token
        )
        .await,
        "AUTH_BOOTSTRAP_TOKEN_INVALID"
    );

    // The browser on another machine: paired as an owner device, no approval, no secret.
    let browser = random_key();
    let (c, res) = remote_page(
        gw.port,
        &browser,
        "openclaw-control-ui",
        "operator",
        PAGE_SCOPES,
        json!({"bootstrapToken": token}),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    let auth = &res["payload"]["auth"];
    assert_eq!(auth["method"], "bootstrap-token", "{res}");
    assert_eq!(auth["role"], "operator", "{res}");
    let mut granted: Vec<String> = serde_json::from_value(auth["scopes"].clone()).expect("scopes");
    granted.sort();
    let mut want: Vec<String> = PAGE_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(granted, want, "{res}");
    let device_token = auth["deviceToken"]
        .as_str()
        .expect("deviceToken")
        .to_owned();
    drop(c);
    // Its device token signs it in from afar afterwards.
    let (mut c, res) = remote_page(
        gw.port,
        &browser,
        "openclaw-control-ui",
        "operator",
        PAGE_SCOPES,
        json!({"deviceToken": device_token}),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["method"], "device-token", "{res}");
    let list = c.request("device.pair.list", json!({})).await;
    let paired = list["payload"]["paired"]
        .as_array()
        .expect("paired")
        .clone();
    let me = paired
        .iter()
        .find(|d| d["deviceId"] == browser.device_id().as_str())
        .unwrap_or_else(|| panic!("the browser is paired: {list}"));
    assert_eq!(me["clientId"], "openclaw-control-ui", "{me}");
    assert!(
        me.to_string().contains("operator.pairing") && me.to_string().contains("operator.admin"),
        "{me}"
    );
    // Used up: not for that browser again, nor for another.
    for key in [&browser, &random_key()] {
        assert_eq!(
            link_code(
                gw.port,
                key,
                "openclaw-control-ui",
                "operator",
                PAGE_SCOPES,
                &token
            )
            .await,
            "AUTH_BOOTSTRAP_TOKEN_INVALID"
        );
    }

    // Another client class (a CLI on that machine) with a fresh link: it waits for an
    // operator, and the link stays bound to it (the browser that comes next is refused).
    let (mut admin, _) =
        WsClient::hello(gw.port, cli_params(SECRET, crate::nodes::ALL_OPERATOR)).await;
    let res = admin.request("controlUi.handoff", json!({})).await;
    assert_eq!(res["payload"]["bootstrapProfile"], "owner", "{res}");
    let fresh = res["payload"]["bootstrapToken"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        link_code(
            gw.port,
            &random_key(),
            "cli",
            "operator",
            &["operator.read"],
            &fresh
        )
        .await,
        "PAIRING_REQUIRED"
    );
    assert_eq!(
        link_code(
            gw.port,
            &random_key(),
            "openclaw-control-ui",
            "operator",
            PAGE_SCOPES,
            &fresh
        )
        .await,
        "AUTH_BOOTSTRAP_TOKEN_INVALID"
    );

    // Only admins issue links; OpenClaw's closed schema.
    let (mut writer, _) = WsClient::hello(
        gw.port,
        cli_params(
            SECRET,
            &["operator.read", "operator.write", "operator.pairing"],
        ),
    )
    .await;
    let res = writer.request("controlUi.handoff", json!({})).await;
    assert_eq!(
        error_of(&res)["message"],
        "missing scope: operator.admin",
        "{res}"
    );
    let res = admin
        .request("controlUi.handoff", json!({"profile": "admin"}))
        .await;
    assert_eq!(error_of(&res)["code"], "INVALID_REQUEST", "{res}");
    assert!(
        res.to_string().contains("unexpected property 'profile'"),
        "{res}"
    );
    let res = admin.request("controlUi.handoff", json!([1])).await;
    assert_eq!(error_of(&res)["code"], "INVALID_REQUEST", "{res}");
    assert!(
        !gw.stderr().contains(&token),
        "the link's token is not logged"
    );

    // A CLI that does not hold the secret gets the URL, and says why there is no link.
    let home = CliHome::with_config(&format!(r#"{{gateway: {{port: {}}}}}"#, gw.port));
    let out = home.run(&["dashboard"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, format!("{page}\n"), "{out}");
    assert!(out.stderr.contains("No one-time sign-in link:"), "{out}");

    // Auth mode none: the page needs no link.
    let open = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {mode: "none"}}}"#),
    );
    let (mut c, _) = WsClient::hello(
        open.port,
        connect_params("cli", "cli", &["operator.admin"], json!({})),
    )
    .await;
    let res = c.request("controlUi.handoff", json!({})).await;
    assert_eq!(error_of(&res)["code"], "INVALID_REQUEST", "{res}");
    assert!(
        error_of(&res)["message"]
            .as_str()
            .is_some_and(|m| m.contains("needs no sign-in link")),
        "{res}"
    );
}

/// The sign-in link in real Chromium (tests/browser/ui.mjs, mode `handoff`): a browser on
/// another machine (through a forwarding proxy) opens `openclaw dashboard`'s link and is
/// signed in without typing anything, the link gone from the address bar; a reload signs in
/// with the device token; the used link in another browser says what to do; OpenClaw's
/// `#token=` link signs in without being remembered.
#[actix_web::test]
async fn browser_signs_in_with_a_dashboard_link() {
    use crate::support::CliHome;
    require_browser();
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    let home = CliHome::with_config(&format!(
        r#"{{gateway: {{port: {}, auth: {{token: "T"}}}}}}"#,
        gw.port
    ));
    let out = home.run(&["dashboard", "--json"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    let link = v["browserUrl"].as_str().expect("browserUrl");
    let proxy = forwarding_proxy(gw.port, "203.0.113.7").await;
    // The same link, as a browser elsewhere reaches the gateway (its proxy's address).
    let remote = link.replacen(
        &format!("127.0.0.1:{}", gw.port),
        &format!("127.0.0.1:{proxy}"),
        1,
    );
    assert_ne!(remote, link);
    run_ui_mode(
        "handoff",
        &gw,
        &[
            ("UI_REMOTE_URL", format!("http://127.0.0.1:{proxy}/")),
            ("UI_REMOTE_IP", "203.0.113.7".to_owned()),
            ("UI_HANDOFF_LINK", remote),
        ],
    )
    .await;
    let book =
        std::fs::read_to_string(gw.dir.path().join("devices/pairing.json")).expect("pairing.json");
    let book: Value = serde_json::from_str(&book).expect("pairing.json is JSON");
    let owners: Vec<&Value> = book["devices"]
        .as_object()
        .expect("devices")
        .values()
        .filter(|d| d.to_string().contains("operator.pairing"))
        .collect();
    assert!(
        !owners.is_empty(),
        "the browser is paired as an owner: {book}"
    );
}

/// `src/http/ui/ed25519.js` (the page's signer where the browser has no WebCrypto) under
/// Node: RFC 8032's test vectors, and Node's own SHA-256, SHA-512 and Ed25519 for random
/// seeds and messages of 0 to 300 bytes (`tests/browser/ed25519-vectors.mjs`).
#[test]
fn the_pure_javascript_ed25519_signs_as_rfc_8032_says() {
    require_browser();
    let node_bin = ref_dir().join("node24/node_modules/.bin/node");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/ed25519-vectors.mjs");
    let out = std::process::Command::new(&node_bin)
        .arg(&script)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ed25519-vectors: ok 304"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The page over plain HTTP by a LAN-like name in real Chromium (tests/browser/ui.mjs, mode
/// `plainhttp`; Chromium resolves `lan.test` to 127.0.0.1, so the page is not a secure
/// context and has no WebCrypto): the device identity is ed25519.js's, the sign-in link pairs
/// it, and the gateway accepts its signed proofs, first with the link, then with the device
/// token after a reload.
#[actix_web::test]
async fn browser_signs_in_over_plain_http_with_the_javascript_signer() {
    use crate::support::CliHome;
    require_browser();
    // A loopback gateway refuses a Host that is not loopback (DNS rebinding), so the LAN
    // name reaches it as a LAN user's would through their reverse proxy: a trusted
    // forwarding proxy on loopback that says the browser is 192.168.1.50.
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0"],
        &[],
        Some(r#"{gateway: {auth: {token: "T"}, trustedProxies: ["127.0.0.1"]}}"#),
    );
    let proxy = forwarding_proxy(gw.port, "192.168.1.50").await;
    let origin = format!("http://lan.test:{proxy}");
    crate::support::replace_file(
        &gw.config_path(),
        &json!({"gateway": {"auth": {"token": "T"}, "trustedProxies": ["127.0.0.1"],
            "controlUi": {"allowedOrigins": [origin]}}})
        .to_string(),
    );
    gw.wait_stderr_line(&["config reloaded from"], Duration::from_secs(20));
    let home = CliHome::with_config(&format!(
        r#"{{gateway: {{port: {}, auth: {{token: "T"}}}}}}"#,
        gw.port
    ));
    let out = home.run(&["dashboard", "--json"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let link = out.json()["browserUrl"]
        .as_str()
        .expect("browserUrl")
        .replacen(
            &format!("127.0.0.1:{}", gw.port),
            &format!("lan.test:{proxy}"),
            1,
        );
    assert!(
        link.starts_with(&format!("{origin}/#bootstrapToken=")),
        "{link}"
    );
    run_ui_mode(
        "plainhttp",
        &gw,
        &[
            ("UI_REMOTE_URL", "unused".to_owned()),
            ("UI_REMOTE_IP", "unused".to_owned()),
            ("UI_PLAIN_LINK", link),
        ],
    )
    .await;
}

/// The page through the gateway's own Tailscale Serve listener (a fake tailscaled proxy in
/// front adds the tailnet identity; `tailscale whois` is the fake CLI): signing in with an
/// empty secret works, the new browser is approved from a local page, and the health panel
/// says "Signed in with tailscale".
#[actix_web::test]
async fn browser_signs_in_through_tailscale_serve() {
    use crate::tailscale::{ALICE_IP, LOGIN, dedicated_port, serve_gateway};
    let refd = ref_dir();
    let node_bin = refd.join("node24/node_modules/.bin/node");
    let pw_dir = refd.join("browser");
    assert!(
        node_bin.exists()
            && pw_dir
                .join("node_modules/playwright-core/package.json")
                .exists(),
        "Node 24 and playwright-core are not installed under {}. Run scripts/test.sh (it runs scripts/setup-openclaw-ref.sh and scripts/setup-browser.sh).",
        refd.display()
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/setup-browser.sh (as root it installs Debian's chromium)"
    );
    let tsdir = tempfile::tempdir().expect("tempdir");
    let gw = serve_gateway(tsdir.path(), "");
    let ts = dedicated_port(&gw);
    let proxy = proxy_with_headers(
        ts,
        vec![
            ("X-Forwarded-For".into(), ALICE_IP.into()),
            ("X-Forwarded-Proto".into(), "http".into()),
            // Like tailscaled: the Host the browser asked for.
            ("X-Forwarded-Host".into(), "$host".into()),
            ("Tailscale-User-Login".into(), LOGIN.to_ascii_lowercase()),
            ("Tailscale-User-Name".into(), "Alice".into()),
        ],
    )
    .await;
    run_ui_mode(
        "tailscale",
        &gw,
        &[
            ("UI_REMOTE_URL", format!("http://127.0.0.1:{proxy}/")),
            ("UI_REMOTE_IP", ALICE_IP.to_owned()),
        ],
    )
    .await;
    // tailscaled was asked about the tailnet address, once (cached across reconnects).
    let log = std::fs::read_to_string(tsdir.path().join("calls.log")).unwrap_or_default();
    assert_eq!(
        log.lines()
            .filter(|l| *l == format!("whois --json {ALICE_IP}"))
            .count(),
        1,
        "{log}"
    );
}

/// An agent's shell command that `tools.exec.mode: "ask"` holds is approved from the
/// Control UI in real Chromium: the page lists it (as text), the click resolves it, and the
/// command then runs and its output reaches the model.
#[actix_web::test]
async fn browser_approves_a_waiting_exec_command() {
    use crate::support::fake_openai::FakeOpenAi;
    require_browser();
    let ai = FakeOpenAi::start();
    let config = json!({
        "models": {"providers": {"fake": {"baseUrl": ai.base_url(), "apiKey": "sk-ui",
            "api": "openai-completions", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "fake/m"}}},
        "tools": {"exec": {"mode": "ask"}},
    });
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(&config.to_string()),
    );
    // An operator's run (a private session): the model asks for a pipe, which only a human
    // can allow.
    const COMMAND: &str = "echo '<b>bold</b>' | tr a-z A-Z";
    let call = ai.push_tool_call("exec", json!({"command": COMMAND}));
    ai.push_text("shouted");
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", crate::nodes::ALL_OPERATOR)).await;
    let res = op
        .request(
            "chat.send",
            json!({"sessionKey": "main", "message": "shout the kernel", "idempotencyKey": "ui-exec-1"}),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    op.event_within("exec.approval.requested", Duration::from_secs(15))
        .await;

    run_ui_mode(
        "exec",
        &gw,
        &[
            ("UI_REMOTE_URL", "unused".to_owned()),
            ("UI_REMOTE_IP", "unused".to_owned()),
            ("UI_EXEC_COMMAND", COMMAND.to_owned()),
        ],
    )
    .await;
    let requests = ai.wait_requests_async(2, Duration::from_secs(15)).await;
    let result = crate::telegram_flow::tool_result(&requests[1], &call);
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["stdout"], "<B>BOLD</B>\n", "{result}");
    let ev = op
        .event_within("exec.approval.resolved", Duration::from_secs(15))
        .await;
    assert_eq!(ev["payload"]["decision"], "allow-once", "{ev}");
    assert_eq!(ev["payload"]["resolvedBy"], "operator", "{ev}");
}

/// The photos answers carried, shown in the page (tests/browser/ui.mjs, mode `artifacts`): a
/// node's `camera.snap` PNG, asked for by the model through the `nodes` tool, under the
/// recorded answer after a history load and under a live answer to the page's own message,
/// each decoded by Chromium from what `artifacts.download` sent, byte for byte.
#[actix_web::test]
async fn browser_shows_the_photos_answers_carried() {
    use crate::support::fake_openai::FakeOpenAi;
    require_browser();
    let ai = FakeOpenAi::start();
    let config = json!({
        "models": {"providers": {"fake": {"baseUrl": ai.base_url(), "apiKey": "sk-ui",
            "api": "openai-completions", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "fake/m"},
            "tools": {"nodes": {"allowCommands": ["camera.snap"]}}}},
    });
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(&config.to_string()),
    );
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", crate::nodes::ALL_OPERATOR)).await;
    let node = FakeNode::connect(
        gw.port,
        &random_key(),
        "T",
        &["camera.snap"],
        always(Action::Reply(json!({"format": "png", "base64": PNG_B64}))),
    )
    .await;
    crate::nodes::approve_surface(&mut op, &node.node_id).await;
    let snap =
        json!({"action": "invoke", "node": node.node_id, "command": "camera.snap", "params": {}});
    ai.push_tool_call("nodes", snap.clone());
    ai.push_text("The front door.");
    // What the page's own message gets.
    ai.push_tool_call("nodes", snap);
    ai.push_text("The garden.");
    let fin = op
        .chat_until_final("main", "show me the door", "ui-art-1")
        .await;
    assert!(
        fin["media"].is_array(),
        "the answer carried the photo: {fin}"
    );
    let extra = [
        ("UI_REMOTE_URL", "unused".to_owned()),
        ("UI_REMOTE_IP", "unused".to_owned()),
        ("UI_PNG_B64", PNG_B64.to_owned()),
    ];
    // The fake node answers on this runtime while the browser works.
    run_ui_mode("artifacts", &gw, &extra).await;
    assert_eq!(node.requests.borrow().len(), 2, "two photos were taken");
}

/// The Agent tab with several agents (tests/browser/ui.mjs, mode `agents`): a fleet without
/// `main` opens its default agent's files, and the picker switches to another agent's
/// workspace (asking first about unsaved edits); the save lands in that agent's file only.
#[actix_web::test]
async fn browser_picks_the_agent_whose_files_it_edits() {
    require_browser();
    let config = json!({"agents": {"entries": {
        "home": {"default": true, "name": "Home"},
        "work": {"name": "Work desk"},
    }}});
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(&config.to_string()),
    );
    let state = gw.dir.path().to_path_buf();
    let (home, work) = (state.join("workspace"), state.join("workspace-work"));
    // Each workspace is seeded at the start; then each SOUL.md says whose it is.
    crate::support::retry_until(Duration::from_secs(10), "both workspaces seeded", || {
        (home.join("SOUL.md").is_file() && work.join("SOUL.md").is_file()).then_some(())
    });
    std::fs::write(home.join("SOUL.md"), "HOME SOUL").expect("write");
    std::fs::write(work.join("SOUL.md"), "WORK SOUL").expect("write");
    let extra = [
        ("UI_REMOTE_URL", "unused".to_owned()),
        ("UI_REMOTE_IP", "unused".to_owned()),
    ];
    run_ui_mode("agents", &gw, &extra).await;
    assert_eq!(
        std::fs::read_to_string(work.join("SOUL.md")).expect("read"),
        "WORK SOUL, saved from the page"
    );
    assert_eq!(
        std::fs::read_to_string(home.join("SOUL.md")).expect("read"),
        "HOME SOUL",
        "the unsaved edit was dropped"
    );
    // The agent the page created and deleted: out of the config, its workspace in the trash.
    let cfg = std::fs::read_to_string(state.join("openclaw.json")).expect("config");
    assert!(!cfg.contains("research-b-bot-b"), "{cfg}");
    assert!(!state.join("workspace-research-b-bot-b").exists());
    let trashed = std::fs::read_dir(state.join(".Trash"))
        .expect("the trash")
        .filter_map(Result::ok)
        .any(|e| {
            e.path()
                .join("workspace-research-b-bot-b/IDENTITY.md")
                .is_file()
        });
    assert!(trashed, "the deleted agent's workspace is in the trash");
}

/// Asserts that Node 24 and playwright-core (for `tests/browser/ui.mjs`) are installed,
/// naming the script that installs them.
fn require_browser() {
    let refd = ref_dir();
    assert!(
        refd.join("node24/node_modules/.bin/node").exists()
            && refd
                .join("browser/node_modules/playwright-core/package.json")
                .exists(),
        "Node 24 and playwright-core are not installed under {}. Run scripts/test.sh (it runs scripts/setup-openclaw-ref.sh and scripts/setup-browser.sh).",
        refd.display()
    );
}

/// Runs `tests/browser/ui.mjs` in `mode` against `gw` (token `T`) with `extra` env, and
/// asserts it passed every step (screenshots in `target/browser-screenshots/<mode>`).
async fn run_ui_mode(mode: &str, gw: &TestGateway, extra: &[(&str, String)]) {
    let refd = ref_dir();
    let node_bin = refd.join("node24/node_modules/.bin/node");
    let pw_dir = refd.join("browser");
    let shots =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/browser-screenshots/{mode}"));
    let _ = std::fs::remove_dir_all(&shots);
    let home = tempfile::tempdir().expect("tempdir for the browser");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/ui.mjs");
    let mut cmd = crate::support::isolated_command(&node_bin, home.path());
    cmd.arg(&script)
        .env("PLAYWRIGHT_DIR", &pw_dir)
        .env("UI_MODE", mode)
        .env("UI_URL", format!("http://127.0.0.1:{}/", gw.port))
        .env("UI_TOKEN", "T")
        .env("UI_SCREENSHOTS", &shots);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut run = Background::spawn(cmd);
    let limit = Duration::from_secs(120);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = run.try_status() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "tests/browser/ui.mjs ({mode}) did not finish within {limit:?}\n{}",
            run.output()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "tests/browser/ui.mjs ({mode}) failed ({status}); screenshots in {}\n{}\ngateway stderr:\n{}",
        shots.display(),
        run.output(),
        gw.stderr()
    );
    assert!(
        run.output().contains("ui.mjs: all steps passed"),
        "{}",
        run.output()
    );
}
