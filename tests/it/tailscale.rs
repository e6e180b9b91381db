//! Tailscale Serve / Funnel (spec §5.10) against a fake `tailscale` program that behaves like
//! the real CLI: `serve|funnel --yes --https=N <target>` prints the URL and holds the claim in
//! the foreground until signalled; `whois --json <ip>` prints tailscaled's answer (or fails).
//! Also a fake LocalAPI socket for `gateway.tailscale.socket`. Every call is logged, so the
//! tests see the exact arguments, the release on exit, and the whois cache.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_node::{Sig, node_connect_params, random_key, sign_device};
use crate::support::{
    TestGateway, WsClient, cli_params, connect_params, error_of, now_ms, raw_upgrade,
};

pub(crate) const LOGIN: &str = "Alice@Example.com";
pub(crate) const ALICE_IP: &str = "100.101.102.103";
const TAGGED_IP: &str = "100.101.102.104";
const UNKNOWN_IP: &str = "100.64.0.99";
const TS_HOST: &str = "gw.tail1234.ts.net";

/// A fake `tailscale` in `dir`; its call log is `dir/calls.log`.
pub(crate) fn fake_tailscale(dir: &Path) -> PathBuf {
    let log = dir.join("calls.log");
    let script = format!(
        r#"#!/bin/sh
# Fake tailscale CLI for tests: serve/funnel (foreground claim) and whois --json.
echo "$*" >> "{log}"
case "$1" in
  serve|funnel)
    trap 'echo "released $1" >> "{log}"; exit 0' TERM INT
    echo "Available within your tailnet:"
    echo
    echo "https://{TS_HOST}/"
    echo "|-- proxy $4"
    echo
    echo "Press Ctrl+C to exit."
    # Like the real one it stays until stopped; unlike it, it also goes once the gateway
    # that started it is gone (a SIGKILLed test gateway would leave it behind).
    # (`FAKE_TS_OUTLIVE=1`: stays like the real one, for the stale-claim test.)
    while [ -n "$FAKE_TS_OUTLIVE" ] || kill -0 "$PPID" 2>/dev/null; do sleep 1 & wait $!; done
    ;;
  whois)
    f="{dir}/whois-$3.json"
    if [ -f "$f" ]; then cat "$f"; else echo "no peer with IP $3" >&2; exit 1; fi
    ;;
  *)
    echo "unknown command $1" >&2; exit 2
    ;;
esac
"#,
        log = log.display(),
        dir = dir.display(),
    );
    let path = dir.join("tailscale");
    std::fs::write(&path, script).expect("write fake tailscale");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let user = json!({"Node": {"Name": "laptop.tail1234.ts.net.", "Tags": null},
        "UserProfile": {"ID": 7, "LoginName": LOGIN, "DisplayName": "Alice"}});
    std::fs::write(dir.join(format!("whois-{ALICE_IP}.json")), user.to_string()).expect("whois");
    let tagged = json!({"Node": {"Name": "server.tail1234.ts.net.", "Tags": ["tag:server"]},
        "UserProfile": {"ID": 1, "LoginName": "tagged-devices"}});
    std::fs::write(
        dir.join(format!("whois-{TAGGED_IP}.json")),
        tagged.to_string(),
    )
    .expect("whois");
    path
}

fn calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// The dedicated listener's port from `tailscale: serve → … (dedicated listener http://…)`.
pub(crate) fn dedicated_port(gw: &TestGateway) -> u16 {
    let out = gw.stdout();
    let line = out
        .lines()
        .find(|l| l.starts_with("tailscale: "))
        .unwrap_or_else(|| panic!("no tailscale line in stdout:\n{out}"));
    line.rsplit_once("http://127.0.0.1:")
        .and_then(|(_, p)| p.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no dedicated listener in {line:?}"))
}

pub(crate) fn serve_gateway(dir: &Path, extra: &str) -> TestGateway {
    let bin = fake_tailscale(dir);
    TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(&format!(
            r#"{{gateway: {{tailscale: {{mode: "serve", binary: "{}"{extra}}}}}}}"#,
            bin.display()
        )),
    )
}

/// Runs `gateway run --token T` with `config` as the state dir's config file until it exits.
fn run_to_exit(config: String, limit: Duration) -> crate::support::CliOutput {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(home.path().join("openclaw.json"), config).expect("config");
    let mut cmd = crate::support::isolated_command(crate::support::BIN, home.path());
    cmd.args(["gateway", "run", "--port", "0", "--token", "T"]);
    crate::support::run_bounded(cmd, limit)
}

/// Headers tailscaled's Serve proxy sends for a tailnet user at `ip`.
fn serve_headers<'a>(ip: &'a str, login: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("X-Forwarded-For", ip),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", TS_HOST),
        ("Origin", "https://gw.tail1234.ts.net"),
    ];
    if let Some(l) = login {
        h.push(("Tailscale-User-Login", l));
        h.push(("Tailscale-User-Name", "Alice"));
    }
    h
}

/// A browser operator connect (Control UI client, no token) on `port` with `headers`;
/// `device` signs it when given.
async fn ts_connect(
    port: u16,
    headers: &[(&str, &str)],
    device: Option<&openclaw::actors::identity::DeviceKey>,
) -> (WsClient, Value) {
    let mut c = WsClient::open_with(port, headers)
        .await
        .unwrap_or_else(|e| panic!("upgrade with {headers:?} refused: {e}"));
    let ch = c.challenge().await;
    let mut params = connect_params(
        "openclaw-control-ui",
        "webchat",
        &["operator.read"],
        Value::Null,
    );
    if let Some(key) = device {
        let nonce = ch["payload"]["nonce"].as_str().expect("nonce").to_owned();
        sign_device(&mut params, key, &nonce, now_ms(), Sig::V3);
    }
    let res = c.connect(params).await;
    (c, res)
}

#[test]
fn serve_claims_a_dedicated_listener_and_releases_it_on_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = serve_gateway(dir.path(), "");
    let ts = dedicated_port(&gw);
    assert_ne!(ts, gw.port);
    let out = gw.stdout();
    assert!(
        out.contains(&format!(
            "tailscale: serve → https://{TS_HOST}/ (dedicated listener http://127.0.0.1:{ts})"
        )),
        "{out}"
    );
    // Exactly the foreground claim, pointing at the dedicated listener (not the gateway port).
    assert_eq!(
        calls(dir.path()).lines().next(),
        Some(format!("serve --yes --https=443 http://127.0.0.1:{ts}").as_str())
    );
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status}");
    // The claim was released before the gateway exited.
    assert!(
        calls(dir.path()).lines().any(|l| l == "released serve"),
        "{}",
        calls(dir.path())
    );
    // And the dedicated listener is gone.
    assert!(std::net::TcpStream::connect(("127.0.0.1", ts)).is_err());
}

#[actix_web::test]
async fn identity_is_accepted_only_when_verified_and_only_for_operators() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = serve_gateway(dir.path(), "");
    let ts = dedicated_port(&gw);

    // Verified (login matched case-insensitively): authenticated without any token. A new
    // browser device is still remote, so it must be paired first.
    let lower = LOGIN.to_ascii_lowercase();
    let key = random_key();
    let (_c, res) = ts_connect(ts, &serve_headers(ALICE_IP, Some(&lower)), Some(&key)).await;
    let err = error_of(&res);
    assert_eq!(err["details"]["code"], "PAIRING_REQUIRED", "{res}");
    let request_id = err["details"]["requestId"]
        .as_str()
        .expect("requestId")
        .to_owned();
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", &["operator.admin"])).await;
    let list = op.request("device.pair.list", json!({})).await;
    let pending = &list["payload"]["pending"][0];
    assert_eq!(pending["requestId"], request_id.as_str(), "{list}");
    assert_eq!(pending["remoteIp"], ALICE_IP, "{list}");
    let ok = op
        .request("device.pair.approve", json!({"requestId": request_id}))
        .await;
    assert_eq!(ok["ok"], true, "{ok}");
    let (mut c, res) = ts_connect(ts, &serve_headers(ALICE_IP, Some(&lower)), Some(&key)).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["method"], "tailscale", "{res}");
    assert_eq!(
        res["payload"]["auth"]["scopes"],
        json!(["operator.read"]),
        "{res}"
    );
    assert_eq!(c.request("health", json!({})).await["ok"], true);
    // Cached: three connects from Alice's address, one whois.
    let whois_calls = calls(dir.path())
        .lines()
        .filter(|l| *l == format!("whois --json {ALICE_IP}"))
        .count();
    assert_eq!(whois_calls, 1, "{}", calls(dir.path()));

    // Mismatch: the header names someone else.
    let (_c, res) = ts_connect(ts, &serve_headers(ALICE_IP, Some("bob@example.com")), None).await;
    let err = error_of(&res);
    assert_eq!(
        err["details"]["code"], "AUTH_TAILSCALE_IDENTITY_MISMATCH",
        "{res}"
    );
    assert_eq!(
        err["details"]["authReason"], "tailscale_user_mismatch",
        "{res}"
    );
    // whois fails (tailscaled does not know the address).
    let (_c, res) = ts_connect(ts, &serve_headers(UNKNOWN_IP, Some(LOGIN)), None).await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_TAILSCALE_WHOIS_FAILED",
        "{res}"
    );
    // A tagged node is not a person.
    let (_c, res) = ts_connect(ts, &serve_headers(TAGGED_IP, Some("tagged-devices")), None).await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_TAILSCALE_NOT_A_USER",
        "{res}"
    );
    // No identity header on the dedicated listener: an ordinary token check.
    let (_c, res) = ts_connect(ts, &serve_headers(ALICE_IP, None), Some(&random_key())).await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_TOKEN_MISSING",
        "{res}"
    );

    // Never for nodes: a node with a verified identity and no token is refused.
    let mut c = WsClient::open_with(ts, &serve_headers(ALICE_IP, Some(LOGIN)))
        .await
        .expect("upgrade");
    let ch = c.challenge().await;
    let nonce = ch["payload"]["nonce"].as_str().expect("nonce").to_owned();
    let mut params = node_connect_params(&["system.which"], json!({}));
    sign_device(&mut params, &random_key(), &nonce, now_ms(), Sig::V3);
    let res = c.connect(params).await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_TOKEN_MISSING",
        "{res}"
    );

    // Never on the ordinary listener: without a trusted proxy the same headers are refused.
    let headers = serve_headers(ALICE_IP, Some(LOGIN));
    let r = raw_upgrade(gw.port, &headers);
    assert_eq!(r.status, 403, "{r:?}");
    let r = raw_upgrade(gw.port, &[("Tailscale-User-Login", LOGIN)]);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body.contains("proxy_attribution_required"), "{r:?}");

    // Funnel traffic never carries identity, even with the headers.
    let mut funnel = serve_headers(ALICE_IP, Some(LOGIN));
    funnel.push(("Tailscale-Funnel-Request", "?1"));
    let (_c, res) = ts_connect(ts, &funnel, Some(&key)).await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_TOKEN_MISSING",
        "{res}"
    );

    drop(gw);

    // An externally managed Serve route to the ordinary listener (its source trusted): the
    // headers are ignored, never an identity; the token is still required.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let bin = fake_tailscale(dir2.path());
    let ext = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(&format!(
            r#"{{gateway: {{trustedProxies: ["127.0.0.1"], tailscale: {{binary: "{}"}}}}}}"#,
            bin.display()
        )),
    );
    // Tailscale Serve keeps the public Host.
    let mut headers = serve_headers(ALICE_IP, Some(LOGIN));
    headers.push(("Host", TS_HOST));
    let (_c, res) = ts_connect(ext.port, &headers, Some(&key)).await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_TOKEN_MISSING",
        "{res}"
    );
    assert!(
        !calls(dir2.path()).contains("whois"),
        "{}",
        calls(dir2.path())
    );
}

#[test]
fn the_dedicated_listener_takes_only_serve_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = serve_gateway(dir.path(), "");
    let ts = dedicated_port(&gw);
    // A local client that skips Tailscale: no forwarding headers.
    let r = raw_upgrade(ts, &[("Tailscale-User-Login", LOGIN)]);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body.contains(r#""type":"tailscale_proxy_required""#),
        "{r:?}"
    );
    // Forwarding headers that name loopback: not a tailnet client.
    let r = raw_upgrade(
        ts,
        &[
            ("X-Forwarded-For", "127.0.0.1"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", TS_HOST),
            ("Tailscale-User-Login", LOGIN),
        ],
    );
    assert_eq!(r.status, 403, "{r:?}");
    // Missing X-Forwarded-Host.
    let r = raw_upgrade(
        ts,
        &[
            ("X-Forwarded-For", ALICE_IP),
            ("X-Forwarded-Proto", "https"),
        ],
    );
    assert_eq!(r.status, 403, "{r:?}");
    // No whois was run for any of these.
    assert!(
        !calls(dir.path()).contains("whois"),
        "{}",
        calls(dir.path())
    );
}

#[actix_web::test]
async fn allow_tailscale_false_turns_identity_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = fake_tailscale(dir.path());
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "T"],
        &[],
        Some(&format!(
            r#"{{gateway: {{auth: {{allowTailscale: false}}, tailscale: {{mode: "serve", binary: "{}"}}}}}}"#,
            bin.display()
        )),
    );
    let ts = dedicated_port(&gw);
    let (_c, res) = ts_connect(
        ts,
        &serve_headers(ALICE_IP, Some(LOGIN)),
        Some(&random_key()),
    )
    .await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_TOKEN_MISSING",
        "{res}"
    );
    assert!(
        !calls(dir.path()).contains("whois"),
        "{}",
        calls(dir.path())
    );
}

#[test]
fn funnel_without_password_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = fake_tailscale(dir.path());
    let out = run_to_exit(
        format!(
            r#"{{gateway: {{tailscale: {{mode: "funnel", binary: "{}"}}}}}}"#,
            bin.display()
        ),
        Duration::from_secs(20),
    );
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr.contains("gateway.tailscale.mode is \"funnel\" (public internet) but gateway.auth.mode is \"token\". Fix: set gateway.auth.mode to \"password\""),
        "{out}"
    );
    // Nothing was claimed.
    assert_eq!(calls(dir.path()), "");
}

#[actix_web::test]
async fn funnel_with_password_claims_funnel_and_needs_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = fake_tailscale(dir.path());
    let gw = TestGateway::start(
        &["gateway", "run", "--port", "0", "--password", "pw"],
        &[],
        Some(&format!(
            r#"{{gateway: {{tailscale: {{mode: "funnel", binary: "{}"}}}}}}"#,
            bin.display()
        )),
    );
    let ts = dedicated_port(&gw);
    assert_eq!(
        calls(dir.path()).lines().next(),
        Some(format!("funnel --yes --https=443 http://127.0.0.1:{ts}").as_str())
    );
    // Identity headers do not replace the password in funnel mode.
    let (_c, res) = ts_connect(
        ts,
        &serve_headers(ALICE_IP, Some(LOGIN)),
        Some(&random_key()),
    )
    .await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_PASSWORD_MISSING",
        "{res}"
    );
    let mut c = WsClient::open_with(ts, &serve_headers(ALICE_IP, None))
        .await
        .expect("upgrade");
    c.challenge().await;
    let res = c
        .connect(connect_params("cli", "cli", &[], json!({"password": "pw"})))
        .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["method"], "password", "{res}");
}

#[test]
fn a_claim_that_fails_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("tailscale");
    std::fs::write(
        &bin,
        "#!/bin/sh\necho 'serve: HTTPS is not enabled for this tailnet' >&2\nexit 1\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = run_to_exit(
        format!(
            r#"{{gateway: {{tailscale: {{mode: "serve", binary: "{}"}}}}}}"#,
            bin.display()
        ),
        Duration::from_secs(40),
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("HTTPS is not enabled for this tailnet"),
        "{out}"
    );
    assert!(!out.stdout.contains("listening on"), "{out}");
}

/// `gateway.tailscale.socket`: whois over tailscaled's LocalAPI (a fake on a Unix socket
/// that answers like tailscaled: `GET /localapi/v0/whois?addr=<ip>`).
#[actix_web::test]
async fn whois_over_the_local_api_socket() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("tailscaled.sock");
    let listener = tokio::net::UnixListener::bind(&sock).expect("bind fake LocalAPI");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    actix_web::rt::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let line = req.lines().next().unwrap_or("").to_owned();
            seen2.lock().expect("lock").push(line.clone());
            let body = if line == format!("GET /localapi/v0/whois?addr={ALICE_IP} HTTP/1.0") {
                json!({"Node": {"Tags": null}, "UserProfile": {"LoginName": LOGIN}}).to_string()
            } else {
                String::new()
            };
            let resp = if body.is_empty() {
                "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()
            } else {
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    let gw = serve_gateway(dir.path(), &format!(r#", socket: "{}""#, sock.display()));
    let ts = dedicated_port(&gw);
    let (_c, res) = ts_connect(ts, &serve_headers(ALICE_IP, Some(LOGIN)), None).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["method"], "tailscale", "{res}");
    let (_c, res) = ts_connect(ts, &serve_headers(UNKNOWN_IP, Some(LOGIN)), None).await;
    assert_eq!(
        error_of(&res)["details"]["code"],
        "AUTH_TAILSCALE_WHOIS_FAILED",
        "{res}"
    );
    // Both answers were needed for the connects above, so both requests are logged.
    let lines = seen.lock().expect("lock").clone();
    assert_eq!(
        lines,
        vec![
            format!("GET /localapi/v0/whois?addr={ALICE_IP} HTTP/1.0"),
            format!("GET /localapi/v0/whois?addr={UNKNOWN_IP} HTTP/1.0"),
        ]
    );
    // The CLI was not used for whois.
    assert!(
        !calls(dir.path()).contains("whois"),
        "{}",
        calls(dir.path())
    );
}

/// A gateway that is SIGKILLed cannot stop its foreground `tailscale serve`; the next start
/// on the same state directory stops that stale claim (SIGTERM, recorded pid whose command
/// line still matches) before it starts its own, so two never run at once.
#[actix_web::test]
async fn a_serve_claim_left_by_a_killed_gateway_is_stopped_at_the_next_start() {
    let ts = tempfile::tempdir().expect("tempdir");
    let bin = fake_tailscale(ts.path());
    let config = format!(
        r#"{{gateway: {{tailscale: {{mode: "serve", binary: "{}"}}}}}}"#,
        bin.display()
    );
    let args = ["gateway", "run", "--port", "0", "--token", "T"];
    let env = [("FAKE_TS_OUTLIVE", "1")];
    let mut first = TestGateway::start(&args, &env, Some(&config));
    let record =
        |dir: &Path| std::fs::read_to_string(dir.join("tailscale-claim")).unwrap_or_default();
    let old_pid: i32 = record(first.dir.path())
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .expect("the claim's pid is recorded");
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
        })
    };
    let dir = first.take_dir();
    drop(first); // SIGKILL
    assert!(
        alive(old_pid),
        "the fake claim outlives a SIGKILLed gateway, like the real one"
    );

    let mut second = TestGateway::start_in(dir, &args, &env, Some(&config));
    assert!(
        !alive(old_pid),
        "the stale claim is stopped before the new one starts"
    );
    let log = calls(ts.path());
    assert_eq!(log.matches("released serve").count(), 1, "{log}");
    assert_eq!(log.matches("serve --yes").count(), 2, "{log}");
    let new_pid: i32 = record(second.dir.path())
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .expect("the new claim is recorded");
    assert_ne!(new_pid, old_pid);
    assert!(alive(new_pid));
    // A clean stop stops the claim it started.
    second.sigterm();
    second.wait_exit(Duration::from_secs(10));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive(new_pid) && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(new_pid), "a stopped gateway stops its claim");
}

/// With Tailscale Serve, setup codes point at the tailnet's `wss://` name (so they hand over
/// full access), and a node code's join URL is served on the dedicated listener, where
/// tailscaled's Serve proxy brings it; plain loopback requests there are still refused.
#[actix_web::test]
async fn setup_codes_and_join_urls_go_through_tailscale_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = serve_gateway(dir.path(), "");
    let ts = dedicated_port(&gw);
    let (mut op, _) = WsClient::hello(gw.port, cli_params("T", crate::nodes::ALL_OPERATOR)).await;
    let res = op.request("device.pair.setupCode", json!({})).await;
    assert_eq!(
        res["payload"]["gatewayUrl"],
        format!("wss://{TS_HOST}"),
        "{res}"
    );
    assert_eq!(
        res["payload"]["urlSource"], "gateway.tailscale.mode",
        "{res}"
    );
    assert_eq!(res["payload"]["access"], "full", "{res}");
    let res = op
        .request("device.pair.setupCode", json!({"joinUrl": true}))
        .await;
    let join = res["payload"]["joinUrl"]
        .as_str()
        .expect("joinUrl")
        .to_owned();
    let path = join
        .strip_prefix(&format!("https://{TS_HOST}"))
        .unwrap_or_else(|| panic!("{join}"))
        .to_owned();
    // Not from tailscaled: refused, and the code stays.
    let (status, _, _) = crate::support::http_request(ts, "GET", &path, &[]);
    assert_eq!(status, 403);
    let (status, head, body) =
        crate::support::http_request(ts, "GET", &path, &serve_headers(ALICE_IP, None));
    assert_eq!(status, 200, "{head}\n{body}");
    let payload: Value = serde_json::from_str(&body).expect("payload");
    assert_eq!(payload["url"], format!("wss://{TS_HOST}"), "{payload}");
    let (status, _, _) =
        crate::support::http_request(ts, "GET", &path, &serve_headers(ALICE_IP, None));
    assert_eq!(status, 404, "used up");
}
