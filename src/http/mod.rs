//! The HTTP surface: one port serves the WebSocket upgrade (on any path) plus `/healthz`,
//! `/readyz` and `/health`. `serve` takes already-bound listeners (mini-redis style), so
//! tests and `--port 0` work the same way.

pub mod ws;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use openclaw_actors::Engine;

/// Builds and starts the server on `listeners`. Signals are handled by the caller.
pub fn serve(listeners: Vec<TcpListener>, engine: Engine) -> std::io::Result<Server> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let data = web::Data::new(engine);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/healthz", web::get().to(live))
            .route("/readyz", web::get().to(live))
            .route("/health", web::get().to(live))
            .default_service(web::to(ws::upgrade))
    })
    .workers(workers)
    .backlog(4096)
    .shutdown_timeout(1)
    // A closed WebSocket leaves an endless request payload behind; without a short
    // disconnect deadline actix keeps draining it and the peer waits ~1 s for our FIN.
    .client_disconnect_timeout(std::time::Duration::from_millis(50))
    .disable_signals();
    for l in listeners {
        server = server.listen(l)?;
    }
    Ok(server.run())
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"ok": true, "status": "live"}))
}
