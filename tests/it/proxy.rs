//! Egress through forward proxies against the real binary: a bot's own SOCKS5 proxy
//! (`channels.telegram.proxy`), the managed HTTP proxy (`proxy.proxyUrl`) with its
//! `loopbackMode` changed by hot reloads, wrong credentials, and settings refused at start.
//! The proxies ([`TestProxy`]) are real servers on loopback that record every tunnel and
//! pipe the bytes to the fake Bot API and the fake model provider.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::support::proxy::{ProxyKind, TestProxy};
use crate::support::{CliHome, TestGateway, replace_file};
use crate::telegram_flow::{
    GW_ARGS, SLOW, TG_TOKEN, config, dm, poll_until, start_gateway, wait_reply, wait_status,
};

/// `config(tg, ai, telegram)` with `proxy` as the top-level `proxy` section.
fn with_proxy(tg: &FakeTelegram, ai: &FakeOpenAi, telegram: Value, proxy: Value) -> String {
    let mut cfg: Value =
        serde_json::from_str(&config(tg, Some(ai), telegram)).expect("config is JSON");
    cfg["proxy"] = proxy;
    serde_json::to_string_pretty(&cfg).expect("config serializes")
}

/// Asserts that neither the gateway's stdout nor its stderr holds `secret`.
fn never_logged(gw: &TestGateway, secret: &str) {
    assert!(!gw.stdout().contains(secret), "stdout: {}", gw.stdout());
    assert!(!gw.stderr().contains(secret), "stderr: {}", gw.stderr());
    let log_dir = gw.dir.path().join("logs");
    for entry in std::fs::read_dir(&log_dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        assert!(!text.contains(secret), "{}", entry.path().display());
    }
}

#[actix_web::test]
async fn a_bot_reaches_telegram_only_through_its_own_socks5_proxy() {
    const PASS: &str = "s0cks-pass-9931";
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let socks = TestProxy::start(ProxyKind::Socks5, Some(("tguser", PASS)));
    let gw = start_gateway(&config(
        &tg,
        Some(&ai),
        json!({"proxy": socks.url(Some(("tguser", PASS)))}),
    ));
    ai.push_text("pong through the proxy");
    let m = dm(&tg, 6101, "ping");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "pong through the proxy"
    );
    // Every Bot API connection went through the proxy, asked for by name (socks5h), and
    // nothing else did: the model is not Telegram's.
    let tunnels = socks.tunnels();
    assert!(!tunnels.is_empty());
    let tg_addr = tg.addr().to_string();
    assert!(tunnels.iter().all(|t| *t == tg_addr), "{tunnels:?}");
    assert_eq!(socks.refused(), 0);
    assert_eq!(ai.request_count(), 1);
    never_logged(&gw, PASS);
    drop(gw);

    // Wrong credentials: the account reports why, the gateway stays up, nothing is logged
    // of the password.
    let tg2 = FakeTelegram::start(TG_TOKEN);
    let gw = start_gateway(&config(
        &tg2,
        Some(&ai),
        json!({"proxy": socks.url(Some(("tguser", "wrong-pass-4417")))}),
    ));
    let acc = wait_status(&gw, SLOW, "the proxy's refusal in lastError", |acc| {
        acc["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("refused the user and password"))
    })
    .await;
    assert!(socks.refused() > 0, "{acc}");
    assert_eq!(tg2.get_updates_calls(), 0, "nothing reached the Bot API");
    never_logged(&gw, "wrong-pass-4417");
}

#[actix_web::test]
async fn the_managed_proxy_carries_model_calls_and_its_loopback_mode_reloads_hot() {
    const PASS: &str = "http-pass-5521";
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    // Telegram keeps its own proxy whatever the managed one does.
    let socks = TestProxy::start(ProxyKind::Socks5, None);
    let http = TestProxy::start(ProxyKind::Http, Some(("egress", PASS)));
    let telegram = json!({"proxy": socks.url(None)});
    let managed =
        |mode: &str| json!({"proxyUrl": http.url(Some(("egress", PASS))), "loopbackMode": mode});
    let gw = start_gateway(&with_proxy(&tg, &ai, telegram.clone(), managed("proxy")));
    // Printed after the `listening on` line, with the other start-up lines.
    let line = format!(
        "egress through http://<redacted>@{} (from proxy.proxyUrl; loopback through it too)",
        http_addr(&http)
    );
    poll_until(Duration::from_secs(10), "the egress line", || {
        gw.stdout().contains(&line).then_some(())
    })
    .await;

    ai.push_text("answer through the proxy");
    let m = dm(&tg, 6201, "one");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "answer through the proxy"
    );
    let ai_addr = ai.addr().to_string();
    let tunnels = http.tunnels();
    assert!(tunnels.contains(&ai_addr), "{tunnels:?}");
    assert!(
        tunnels.iter().all(|t| *t == ai_addr),
        "only the model went through the managed proxy: {tunnels:?}"
    );
    assert!(socks.tunnels().iter().all(|t| *t == tg.addr().to_string()));

    // gateway-only: loopback goes direct from the next connection on.
    let before = http.tunnels().len();
    reload(
        &gw,
        &with_proxy(&tg, &ai, telegram.clone(), managed("gateway-only")),
    )
    .await;
    ai.push_text("answer direct");
    let m = dm(&tg, 6201, "two");
    assert_eq!(wait_reply(&tg, m, SLOW).await.text(), "answer direct");
    assert_eq!(http.tunnels().len(), before, "{:?}", http.tunnels());

    // block: the model (on loopback) is refused before any socket is opened, with the
    // reason in the log; the chat gets the usual failure notice.
    let asked = ai.request_count();
    reload(&gw, &with_proxy(&tg, &ai, telegram, managed("block"))).await;
    let m = dm(&tg, 6201, "three");
    let r = wait_reply(&tg, m, SLOW).await;
    assert!(
        r.text().contains("model provider"),
        "{}\n{}",
        r.text(),
        gw.stderr()
    );
    assert_eq!(ai.request_count(), asked, "the model was never reached");
    let refused = format!(
        "model provider unavailable: Failed to connect to host: {ai_addr} is a loopback destination and proxy.loopbackMode is \"block\""
    );
    assert!(gw.stderr().contains(&refused), "{}", gw.stderr());
    assert_eq!(http.refused(), 0);
    never_logged(&gw, PASS);
}

/// Rewrites the config file with `cfg` and waits for the reload that applies
/// `proxy.loopbackMode`.
async fn reload(gw: &TestGateway, cfg: &str) {
    const APPLIED: &str = "applied proxy.loopbackMode";
    let before = gw.stderr().matches(APPLIED).count();
    replace_file(&gw.config_path(), cfg);
    poll_until(Duration::from_secs(10), "the reload", || {
        (gw.stderr().matches(APPLIED).count() > before).then_some(())
    })
    .await;
}

/// The proxy's `host:port`.
fn http_addr(p: &TestProxy) -> String {
    p.url(None).trim_start_matches("http://").to_owned()
}

#[actix_web::test]
async fn wrong_managed_proxy_credentials_fail_the_call_clearly() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let http = TestProxy::start(ProxyKind::Http, Some(("egress", "right-pass-1")));
    let gw = start_gateway(&with_proxy(
        &tg,
        &ai,
        json!({}),
        json!({"proxyUrl": http.url(Some(("egress", "wrong-pass-2207"))), "loopbackMode": "proxy"}),
    ));
    // Telegram, on loopback too, goes through the same proxy and is refused: the account
    // says so, and the gateway stays up.
    wait_status(&gw, SLOW, "the proxy's 407 in lastError", |acc| {
        acc["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("wants credentials it was not given or refused them"))
    })
    .await;
    assert!(http.refused() > 0);
    assert!(http.tunnels().is_empty(), "{:?}", http.tunnels());
    assert_eq!(tg.get_updates_calls(), 0);
    never_logged(&gw, "wrong-pass-2207");
}

#[test]
fn proxy_settings_a_gateway_cannot_use_refuse_the_start() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    for (telegram, proxy, want) in [
        (
            json!({}),
            json!({"proxyUrl": "https://user:hunter2x@proxy.example:8443"}),
            "proxy.proxyUrl is an https:// proxy endpoint",
        ),
        (
            json!({}),
            json!({"proxyUrl": "socks5://proxy.example:1080"}),
            "proxy.proxyUrl has the scheme \"socks5\"",
        ),
        (
            json!({}),
            json!({"proxyUrl": "http://proxy.example:3128", "loopbackMode": "sometimes"}),
            "proxy.loopbackMode is \"sometimes\"",
        ),
        (
            json!({"proxy": "ftp://user:hunter2x@proxy.example:21"}),
            Value::Null,
            "channels.telegram.proxy has the scheme \"ftp\"",
        ),
        (
            json!({"proxy": "http://proxy.example:99999"}),
            Value::Null,
            "channels.telegram.proxy has an invalid port",
        ),
    ] {
        let mut cfg: Value =
            serde_json::from_str(&config(&tg, Some(&ai), telegram)).expect("config is JSON");
        if !proxy.is_null() {
            cfg["proxy"] = proxy;
        }
        let home = CliHome::with_config(&cfg.to_string());
        let out = home.run(GW_ARGS, &[]);
        assert_eq!(out.code, Some(78), "{want}: {out:?}");
        assert!(out.stderr.contains(want), "{want}: {}", out.stderr);
        assert!(out.stderr.contains("Fix:"), "{}", out.stderr);
        assert!(!out.stderr.contains("hunter2x"), "{}", out.stderr);
    }
    // OPENCLAW_PROXY_URL is checked the same way, and named.
    let home = CliHome::with_config(&config(&tg, Some(&ai), json!({})));
    let out = home.run(GW_ARGS, &[("OPENCLAW_PROXY_URL", "gopher://x:70")]);
    assert_eq!(out.code, Some(78), "{out:?}");
    assert!(
        out.stderr
            .contains("OPENCLAW_PROXY_URL has the scheme \"gopher\""),
        "{}",
        out.stderr
    );
}

#[actix_web::test]
async fn config_get_hides_proxy_credentials() {
    use crate::support::{WsClient, cli_params};
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let gw = start_gateway(&with_proxy(
        &tg,
        &ai,
        json!({"proxy": "socks5h://tg:tg-pass-7781@127.0.0.1:9"}),
        json!({"proxyUrl": "http://egress:cfg-pass-6612@127.0.0.1:9", "enabled": false}),
    ));
    let (mut op, _) = WsClient::hello(
        gw.port,
        cli_params(crate::telegram_flow::GW_TOKEN, &["operator.admin"]),
    )
    .await;
    let got = op.request("config.get", json!({})).await;
    assert_eq!(got["ok"], true, "{got}");
    let text = got.to_string();
    for secret in ["tg-pass-7781", "cfg-pass-6612"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert_eq!(
        got["payload"]["parsed"]["proxy"]["proxyUrl"],
        "__OPENCLAW_REDACTED__"
    );
    assert_eq!(
        got["payload"]["parsed"]["channels"]["telegram"]["proxy"],
        "__OPENCLAW_REDACTED__"
    );
    // `enabled: false`: no egress line among the start-up lines (it comes before the
    // workspace line, the last).
    poll_until(Duration::from_secs(10), "the start-up lines", || {
        gw.stdout().contains("workspace").then_some(())
    })
    .await;
    assert!(!gw.stdout().contains("egress through"), "{}", gw.stdout());
}

/// An `https://` destination through the tunnel: the model provider is a second gateway
/// serving its OpenAI-compatible API over TLS (its self-signed certificate trusted through
/// `SSL_CERT_FILE`). The proxy sees only `CONNECT host:port`; the TLS handshake and the
/// certificate check run end to end, so an untrusted certificate still fails.
#[actix_web::test]
async fn https_destinations_keep_their_own_tls_inside_the_tunnel() {
    let ai = FakeOpenAi::start();
    let upstream_cfg = json!({
        "gateway": {
            "tls": {"enabled": true},
            "http": {"endpoints": {"chatCompletions": {"enabled": true}}},
        },
        "models": {"providers": {"fake": {
            "baseUrl": ai.base_url(),
            "apiKey": "sk-up",
            "api": "openai-completions",
            "models": [{"id": "up-model"}],
        }}},
        "agents": {"defaults": {"model": {"primary": "fake/up-model"}}},
    });
    let upstream = TestGateway::start(
        &["gateway", "run", "--port", "0", "--token", "UP-TOKEN"],
        &[],
        Some(&upstream_cfg.to_string()),
    );
    let cert = upstream.dir.path().join("gateway/tls/gateway-cert.pem");
    assert!(cert.is_file(), "{}", cert.display());
    let target = format!("127.0.0.1:{}", upstream.port);

    let http = TestProxy::start(ProxyKind::Http, None);
    // A gateway whose model is the upstream's API, reached through `http`.
    let downstream = |tg: &FakeTelegram| {
        let mut cfg: Value = serde_json::from_str(&config(tg, None, json!({}))).expect("JSON");
        cfg["models"] = json!({"providers": {"up": {
            "baseUrl": format!("https://{target}/v1"),
            "apiKey": "UP-TOKEN",
            "api": "openai-completions",
            "models": [{"id": "openclaw"}],
        }}});
        cfg["agents"]["defaults"]["model"] = json!({"primary": "up/openclaw"});
        cfg["proxy"] = json!({"proxyUrl": http.url(None), "loopbackMode": "proxy"});
        // The upstream's API takes no client tools: this agent sends none.
        cfg["tools"] = json!({"deny": ["*"]});
        cfg.to_string()
    };
    let tg = FakeTelegram::start(TG_TOKEN);
    let cert_env = cert.to_string_lossy().into_owned();
    let gw = TestGateway::start(
        GW_ARGS,
        &[("SSL_CERT_FILE", &cert_env)],
        Some(&downstream(&tg)),
    );

    ai.push_text("answer over TLS through the tunnel");
    let m = dm(&tg, 6301, "hello");
    assert_eq!(
        wait_reply(&tg, m, SLOW).await.text(),
        "answer over TLS through the tunnel",
        "{}\n{}",
        gw.stderr(),
        upstream.stderr()
    );
    assert!(http.tunnels().contains(&target), "{:?}", http.tunnels());
    drop(gw);

    // The same, with the certificate not trusted: refused by the check that runs inside
    // the tunnel, though the proxy opened it.
    let tg = FakeTelegram::start(TG_TOKEN);
    let to_upstream = || http.tunnels().iter().filter(|t| **t == target).count();
    let tunnels = to_upstream();
    let gw = TestGateway::start(GW_ARGS, &[], Some(&downstream(&tg)));
    let asked = ai.request_count();
    let m = dm(&tg, 6302, "hello again");
    let r = wait_reply(&tg, m, SLOW).await;
    assert!(r.text().contains("model provider"), "{}", r.text());
    assert_eq!(
        ai.request_count(),
        asked,
        "nothing reached the upstream's model"
    );
    assert!(to_upstream() > tunnels, "the tunnel was opened");
    assert!(
        gw.stderr().contains("certificate"),
        "the refusal names the certificate: {}",
        gw.stderr()
    );
}
