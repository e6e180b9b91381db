//! The HTTP surface: one port serves the WebSocket upgrade (on any path) plus `/healthz`,
//! `/readyz` and `/health`, and every other `GET`/`HEAD` is the Control UI page ([`ui`]). `serve` takes already-bound listeners (mini-redis style), so
//! tests and `--port 0` work the same way.

pub mod accept_pause;
pub mod ceiling;
pub mod join;
pub mod metrics;
pub mod openai;
pub mod openresponses;
pub mod probes;
pub mod server;
pub mod takeover;
pub mod tls_sniff;
pub mod tools_invoke;
pub mod ui;
pub mod ws;

use std::net::TcpListener;

use actix_web::{App, HttpResponse, web};
use openclaw_actors::Engine;
use openclaw_actors::channel::{WebhookDelivery, WebhookError};
use openclaw_actors::registry::channels::RouteWebhook;

/// The listen backlog of the gateway's listening sockets (the kernel caps it at
/// `net.core.somaxconn`): a reconnect storm waits there, not in refused connections.
pub const BACKLOG: u32 = 4096;

/// Builds and starts the server on `listeners`. Signals are handled by the caller.
pub fn serve(
    listeners: Vec<TcpListener>,
    engine: Engine,
    tls: Option<rustls::ServerConfig>,
    ui: ui::Ui,
    openai: openai::Settings,
    limits: ceiling::ConnLimits,
) -> std::io::Result<server::Server> {
    let ceiling = ceiling::Ceiling::new(limits);
    let workers = std::env::var("OPENCLAW_HTTP_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, 4);
    engine
        .shared
        .preauth
        .set_max_total(limits.max_preauth_connections);
    let data = web::Data::new(engine);
    let ui = web::Data::new(ui);
    let openai = web::Data::new(openai);
    // `previous_response_id` → session, kept across the workers.
    let remembered = web::Data::new(openresponses::Sessions::default());
    let app = move || {
        App::new()
            .app_data(data.clone())
            .app_data(ui.clone())
            .app_data(openai.clone())
            .app_data(remembered.clone())
            .route("/v1/models", web::to(openai::models))
            .route("/v1/models/{id:.*}", web::to(openai::model))
            .route("/v1/chat/completions", web::to(openai::chat_completions))
            .route("/v1/responses", web::to(openresponses::responses))
            .route("/tools/invoke", web::to(tools_invoke::invoke))
            .route("/healthz", web::get().to(probes::live))
            .route("/health", web::get().to(probes::live))
            .route("/healthz", web::head().to(probes::live))
            .route("/health", web::head().to(probes::live))
            .route("/readyz", web::get().to(probes::ready))
            .route("/ready", web::get().to(probes::ready))
            .route("/readyz", web::head().to(probes::ready))
            .route("/ready", web::head().to(probes::ready))
            .route(
                "/api/diagnostics/prometheus",
                web::get().to(metrics::prometheus),
            )
            .route("/j/{code}", web::to(join::join))
            .route("/telegram-webhook", web::post().to(telegram_webhook))
            .route(
                "/telegram-webhook/{account}",
                web::post().to(telegram_webhook),
            )
            .default_service(web::to(ws::upgrade))
    };
    // Count each connection against `gateway.limits` (see `ceiling`).
    let on_connect = move |_: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions| {
        ceiling.on_connect(ext);
    };
    let settings = server::Settings {
        workers,
        backlog: BACKLOG,
        // Without TCP_NODELAY a small frame written right after another (an ack, then the next
        // node.invoke.request) waits for the peer's delayed ACK: ~40 ms per invoke round trip.
        tcp_nodelay: true,
        client_disconnect_timeout: std::time::Duration::from_millis(50),
    };
    // TLS listeners answer plain HTTP with a 400 first (see `tls_sniff`); on every listener
    // an accepted WebSocket takes its socket over (see `takeover`).
    server::serve(
        listeners,
        app,
        std::sync::Arc::new(on_connect),
        settings,
        tls.as_ref(),
    )
}

/// Telegram webhook mode: Telegram POSTs updates here with the configured secret in
/// `X-Telegram-Bot-Api-Secret-Token`. The update is persisted before the 200, so a 5xx makes
/// Telegram deliver it again.
async fn telegram_webhook(
    req: actix_web::HttpRequest,
    body: web::Bytes,
    engine: web::Data<Engine>,
) -> HttpResponse {
    let account_id = req
        .match_info()
        .get("account")
        .unwrap_or("default")
        .to_owned();
    let secret = req
        .headers()
        .get("x-telegram-bot-api-secret-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let res = engine
        .registry
        .send(RouteWebhook {
            kind: openclaw_actors::channel::telegram::KIND.id,
            account_id,
            delivery: WebhookDelivery { secret, body },
        })
        .await;
    match res {
        Ok(Ok(())) => HttpResponse::Ok().finish(),
        Ok(Err(WebhookError::Unauthorized)) => HttpResponse::Unauthorized().finish(),
        Ok(Err(WebhookError::NotFound)) => HttpResponse::NotFound().finish(),
        Ok(Err(WebhookError::Conflict(why))) => HttpResponse::Conflict().body(why),
        Ok(Err(WebhookError::BadRequest(_))) => {
            HttpResponse::BadRequest().body("not a Telegram update")
        }
        Ok(Err(WebhookError::Unavailable)) | Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}
