//! The `actix_server` behind every listener (the gateway's plain and TLS ports and the
//! Tailscale Serve listener), built here rather than by `HttpServer` because `HttpServer`
//! can neither hand an upgraded connection to us ([`super::takeover`]) nor put a service in
//! front of its TLS acceptor ([`super::tls_sniff`]).
//!
//! Each listener gets the HTTP/1 service `HttpServer::listen` (or `listen_rustls_0_23`) would
//! build, with the same settings: keep-alive and request timeouts (actix' defaults), the
//! disconnect timeout, `TCP_NODELAY`, the local address, the `on_connect` hook, graceful
//! shutdown; plus the WebSocket takeover as its upgrade service.

use std::any::Any;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{HttpService, Request, Response, TlsAcceptorConfig};
use actix_service::{IntoServiceFactory, ServiceFactory, ServiceFactoryExt as _, map_config};
use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::{AppConfig, Extensions, Server};
use actix_web::rt::net::TcpStream;

use super::takeover::TakeoverFactory;
use super::tls_sniff::{SniffFactory, TLS_HANDSHAKE_TIMEOUT};

/// The `on_connect` hook of every connection.
pub type OnConnect = Arc<dyn Fn(&dyn Any, &mut Extensions) + Send + Sync>;

/// The server settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Worker threads.
    pub workers: usize,
    /// Listen backlog.
    pub backlog: u32,
    /// `TCP_NODELAY` on accepted sockets.
    pub tcp_nodelay: bool,
    /// Seconds a stopping server waits for its workers.
    pub shutdown_timeout: u64,
    /// How long a closing connection is drained.
    pub client_disconnect_timeout: Duration,
}

/// Builds and starts the server on `listeners` (TLS on all of them when `tls` is given).
/// `app` builds the application, once per worker for requests and once more for upgrades.
pub fn serve<F, I, S, B>(
    listeners: Vec<TcpListener>,
    app: F,
    on_connect: OnConnect,
    settings: Settings,
    tls: Option<&rustls::ServerConfig>,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let mut builder = Server::build()
        .workers(settings.workers)
        .backlog(settings.backlog)
        .shutdown_timeout(settings.shutdown_timeout)
        .disable_signals();
    let graceful = builder.graceful_shutdown_signal();
    for lst in listeners {
        let addr = lst.local_addr()?;
        let app = app.clone();
        let on_connect = on_connect.clone();
        let graceful = graceful.clone();
        // What `HttpServer` gives a listener's app (`secure`, host = address);
        // `AppConfig::new` is crate-private, this is its public (doc-hidden) twin.
        let config = AppConfig::__priv_test_new(tls.is_some(), addr.to_string(), addr);
        let shutdown_signal = move || {
            let signal = graceful.clone();
            async move { signal.notified().await }
        };
        match tls {
            Some(tls) => {
                let tls = tls.clone();
                builder = builder.listen(format!("openclaw-tls-{addr}"), lst, move || {
                    let on_connect = on_connect.clone();
                    let config = config.clone();
                    let http = HttpService::<TlsStream<TcpStream>, _, _, _, _>::build()
                        .graceful_shutdown_signal(shutdown_signal.clone())
                        .client_disconnect_timeout(settings.client_disconnect_timeout)
                        .tcp_nodelay(settings.tcp_nodelay)
                        .local_addr(addr)
                        .on_connect_ext(move |io: &TlsStream<TcpStream>, ext: &mut Extensions| {
                            on_connect(io as &dyn Any, ext)
                        })
                        .upgrade(TakeoverFactory::new(app.clone(), config.clone()))
                        .finish(map_config(
                            app()
                                .into_factory()
                                .map_err(|err| err.into().error_response()),
                            move |()| config.clone(),
                        ))
                        .rustls_0_23_with_config(
                            tls.clone(),
                            TlsAcceptorConfig::default().handshake_timeout(TLS_HANDSHAKE_TIMEOUT),
                        );
                    SniffFactory.and_then(http)
                })?;
            }
            None => {
                builder = builder.listen(format!("openclaw-{addr}"), lst, move || {
                    let on_connect = on_connect.clone();
                    let config = config.clone();
                    HttpService::<TcpStream, _, _, _, _>::build()
                        .graceful_shutdown_signal(shutdown_signal.clone())
                        .client_disconnect_timeout(settings.client_disconnect_timeout)
                        .tcp_nodelay(settings.tcp_nodelay)
                        .local_addr(addr)
                        .on_connect_ext(move |io: &TcpStream, ext: &mut Extensions| {
                            on_connect(io as &dyn Any, ext)
                        })
                        .upgrade(TakeoverFactory::new(app.clone(), config.clone()))
                        .finish(map_config(
                            app()
                                .into_factory()
                                .map_err(|err| err.into().error_response()),
                            move |()| config.clone(),
                        ))
                        .tcp()
                })?;
            }
        }
    }
    Ok(builder.run())
}
