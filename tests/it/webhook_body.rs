//! The Telegram webhook endpoint parses a body once, in the channel, after the secret
//! check: a stranger without the secret learns nothing about what the body should be, and
//! a body that is not an update is refused without reaching the agent.

use std::time::Duration;

use serde_json::json;

use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_telegram::FakeTelegram;
use crate::telegram_flow::{TG_TOKEN, config, poll_until, start_gateway};

#[actix_web::test]
async fn webhook_checks_the_secret_before_the_body_and_refuses_non_updates() {
    let tg = FakeTelegram::start(TG_TOKEN);
    let ai = FakeOpenAi::start();
    let secret = "whs-fedcba9876543210";
    let cfg = config(
        &tg,
        Some(&ai),
        json!({"webhookUrl": "https://bot.example.invalid/telegram-webhook", "webhookSecret": secret}),
    );
    let gw = start_gateway(&cfg);
    poll_until(Duration::from_secs(10), "setWebhook", || tg.webhook()).await;
    let endpoint = format!("http://127.0.0.1:{}/telegram-webhook", gw.port);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let post = |secret: Option<&str>, body: &'static str| {
        let mut req = client
            .post(endpoint.clone())
            .insert_header(("Content-Type", "application/json"));
        if let Some(s) = secret {
            req = req.insert_header(("X-Telegram-Bot-Api-Secret-Token", s.to_owned()));
        }
        req.send_body(body)
    };
    for body in ["not json", "{\"update_id\": \"x\"}", "[]", ""] {
        let mut res = post(Some(secret), body).await.expect("POST");
        assert_eq!(res.status().as_u16(), 400, "{body:?}");
        let text = res.body().await.expect("body");
        assert_eq!(&text[..], b"not a Telegram update", "{body:?}");
        // Without the secret, the body is not even looked at.
        let res = post(None, body).await.expect("POST");
        assert_eq!(res.status().as_u16(), 401, "{body:?}");
        let res = post(Some("wrong"), body).await.expect("POST");
        assert_eq!(res.status().as_u16(), 401, "{body:?}");
    }
    // An unknown account is 404 whatever the body.
    let res = client
        .post(format!(
            "http://127.0.0.1:{}/telegram-webhook/nobody",
            gw.port
        ))
        .insert_header(("X-Telegram-Bot-Api-Secret-Token", secret))
        .send_body("not json")
        .await
        .expect("POST");
    assert_eq!(res.status().as_u16(), 404);
    assert_eq!(ai.request_count(), 0, "refused bodies reach no agent");
}
