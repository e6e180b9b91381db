//! The server behind every listener (the gateway's plain and TLS ports and the Tailscale
//! Serve listener): worker threads that each accept their own connections and serve them with
//! the HTTP/1 service that `HttpServer::listen` (or `listen_rustls_0_23`) would build, with
//! the same settings (keep-alive and request timeouts, the disconnect timeout,
//! `TCP_NODELAY`, the local address, the `on_connect` hook), plus the WebSocket takeover as
//! its upgrade service ([`super::takeover`]) and, on TLS listeners, the plain-HTTP sniff in
//! front of the TLS acceptor ([`super::tls_sniff`]).
//!
//! Why not actix-server (which `HttpServer` runs on): its accept thread takes every
//! connection and hands it to a worker thread over a channel, so each connection wakes two
//! threads before its first byte is read. On this 2-core VM that hand-off cost about 40 µs
//! of a 0.3 ms connect (`scripts/bench/floor.sh`: the floor server behind actix-server
//! against the same server accepting on its own thread). Here each worker owns a listening
//! socket of its own on the same address (`SO_REUSEPORT`; the kernel spreads new
//! connections over them), accepts on its own thread and serves the connection there.
//!
//! What it keeps from actix-server: workers are actix arbiters (every session actor runs on
//! the worker that accepted its socket); an accept error that is not the connection's own
//! (above all `EMFILE` at the open-file limit) pauses that worker's accept for 500 ms
//! instead of spinning, logged once per episode ([`super::accept_pause`]); stopping closes
//! every listener at once and drops the workers' connections.

use std::any::Any;
use std::future::{Future, ready};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix::Arbiter;
use actix_http::body::MessageBody;
use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol as HttpProtocol, Request, Response, TlsAcceptorConfig};
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt as _, fn_service, map_config,
};
use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::{AppConfig, Extensions};
use actix_web::rt::net::TcpStream;
use actix_web::rt::time::sleep;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::sync::watch;

use super::takeover::TakeoverFactory;
use super::tls_sniff::{SniffError, SniffFactory, TLS_HANDSHAKE_TIMEOUT};

/// An accepted connection and its peer's address.
pub type Accepted = (TcpStream, SocketAddr);

/// The `on_connect` hook of every connection.
pub type OnConnect = Arc<dyn Fn(&dyn Any, &mut Extensions) + Send + Sync>;

/// How long a worker's accept pauses after an error that is not the connection's own
/// (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): new connections wait in the listen backlog.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(500);

/// How long [`serve`] waits for a worker to build its services.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// The server settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Worker threads: each accepts and serves its own connections.
    pub workers: usize,
    /// Listen backlog of the sockets made here for the workers after the first (the first
    /// worker's is the caller's listener, bound with its own: see [`bind`]).
    pub backlog: u32,
    /// `TCP_NODELAY` on accepted sockets.
    pub tcp_nodelay: bool,
    /// How long a closing connection is drained.
    pub client_disconnect_timeout: Duration,
}

/// Binds a listening socket on `addr` that the workers of [`serve`] can share: it has
/// `SO_REUSEPORT`, so each worker gets a socket of its own on the same address.
///
/// An address that anything else listens on is refused as `std::net::TcpListener::bind`
/// refuses it (`AddrInUse`): the address is first bound without `SO_REUSEPORT`, so a
/// second gateway on the same port fails to start instead of sharing the port with the
/// first. With port 0 that first bind picks the port.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let mut last = None;
    // With port 0 another process may take the picked port between the two binds: pick again.
    for _ in 0..8 {
        let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        probe.set_reuse_address(true)?;
        probe.bind(&addr.into())?;
        let local = probe
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("the bound address is not an IP address"))?;
        drop(probe);
        match reuseport_listener(local, backlog, None) {
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            res => return res,
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// A listening socket with `SO_REUSEADDR` and `SO_REUSEPORT` on `addr`.
fn reuseport_listener(
    addr: SocketAddr,
    backlog: u32,
    only_v6: Option<bool>,
) -> io::Result<TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    if let Some(v6) = only_v6 {
        sock.set_only_v6(v6)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// Another worker's socket on `lst`'s address (see [`bind`]). A listener bound without
/// `SO_REUSEPORT` is shared instead: every worker polls the same socket, and whichever
/// wakes first accepts.
fn sibling(lst: &TcpListener, backlog: u32) -> io::Result<TcpListener> {
    let addr = lst.local_addr()?;
    let primary = SockRef::from(lst);
    if primary.reuse_port().unwrap_or(false) {
        let only_v6 = if addr.is_ipv6() {
            Some(primary.only_v6()?)
        } else {
            None
        };
        reuseport_listener(addr, backlog, only_v6)
    } else {
        lst.try_clone()
    }
}

/// Builds and starts the server on `listeners` (TLS on all of them when `tls` is given).
/// `app` builds the application, on each worker once per listener for requests and once more
/// for upgrades.
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
    // The HTTP/1 service over `$io` for the listener on `$addr`: what `HttpServer` builds,
    // plus the takeover as the upgrade service.
    macro_rules! http_service {
        ($io:ty, $addr:expr, $secure:expr) => {{
            let addr: SocketAddr = $addr;
            let on_connect = on_connect.clone();
            // What `HttpServer` gives a listener's app (`secure`, host = address);
            // `AppConfig::new` is crate-private, this is its public (doc-hidden) twin.
            let config = AppConfig::__priv_test_new($secure, addr.to_string(), addr);
            HttpService::<$io, _, _, _, _>::build()
                .client_disconnect_timeout(settings.client_disconnect_timeout)
                .tcp_nodelay(settings.tcp_nodelay)
                .local_addr(addr)
                .on_connect_ext(move |io: &$io, ext: &mut Extensions| {
                    on_connect(io as &dyn Any, ext)
                })
                .upgrade(TakeoverFactory::new(app.clone(), config.clone()))
                .finish(map_config(
                    app()
                        .into_factory()
                        .map_err(|err| err.into().error_response()),
                    move |()| config.clone(),
                ))
        }};
    }
    match tls {
        Some(tls) => {
            let tls = tls.clone();
            start(listeners, settings, move |addr| {
                let http = http_service!(TlsStream<TcpStream>, addr, true).rustls_0_23_with_config(
                    tls.clone(),
                    TlsAcceptorConfig::default().handshake_timeout(TLS_HANDSHAKE_TIMEOUT),
                );
                // The TLS acceptor reads the peer's address from the socket itself.
                fn_service(|(io, _peer): Accepted| ready(Ok::<_, SniffError>(io)))
                    .and_then(SniffFactory)
                    .and_then(http)
            })
        }
        None => {
            let nodelay = settings.tcp_nodelay;
            start(listeners, settings, move |addr| {
                // What `HttpService::tcp` does, with the peer address that `accept` gave
                // (it asks the socket again: one `getpeername` per connection).
                fn_service(move |(io, peer): Accepted| {
                    if nodelay {
                        let _ = io.set_nodelay(true);
                    }
                    ready(Ok::<_, DispatchError>((
                        io,
                        HttpProtocol::Http1,
                        Some(peer),
                    )))
                })
                .and_then(http_service!(TcpStream, addr, false))
            })
        }
    }
}

/// Starts `settings.workers` workers, each serving every listener with the service `make`
/// builds (on the worker) for that listener's address; returns once all of them are ready.
fn start<M, SF>(listeners: Vec<TcpListener>, settings: Settings, make: M) -> io::Result<Server>
where
    M: Fn(SocketAddr) -> SF + Send + Clone + 'static,
    SF: ServiceFactory<Accepted, Config = ()> + 'static,
    SF::InitError: std::fmt::Debug,
    SF::Error: std::fmt::Debug,
    SF::Service: 'static,
    <SF::Service as Service<Accepted>>::Future: 'static,
{
    let workers = settings.workers.max(1);
    let mut sockets: Vec<Vec<TcpListener>> = (0..workers).map(|_| Vec::new()).collect();
    let mut addrs = Vec::with_capacity(listeners.len());
    for lst in listeners {
        lst.set_nonblocking(true)?;
        addrs.push(lst.local_addr()?.to_string());
        for own in sockets.iter_mut().skip(1) {
            own.push(sibling(&lst, settings.backlog)?);
        }
        sockets[0].push(lst);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = Arc::new(stop_tx);
    let (done_tx, done_rx) = watch::channel(());
    let done_tx = Arc::new(done_tx);
    let (up_tx, up_rx) = std::sync::mpsc::channel::<io::Result<()>>();
    for own in sockets {
        let arbiter = Arbiter::new();
        let (make, stop_rx, done, up) = (
            make.clone(),
            stop_rx.clone(),
            done_tx.clone(),
            up_tx.clone(),
        );
        // The worker's future is not `Send` (services are `Rc`): it is spawned on its thread.
        let spawned = arbiter.spawn_fn(move || {
            actix_web::rt::spawn(worker(own, make, stop_rx, done, up));
        });
        if !spawned {
            let _ = stop.send(true);
            return Err(io::Error::other("cannot start an HTTP worker thread"));
        }
    }
    drop((up_tx, done_tx));
    for _ in 0..workers {
        let started = up_rx
            .recv_timeout(STARTUP_LIMIT)
            .unwrap_or_else(|_| Err(io::Error::other("an HTTP worker did not start")));
        if let Err(e) = started {
            let _ = stop.send(true);
            return Err(e);
        }
    }
    log::info!(
        "HTTP server on {}: {workers} worker thread(s), each accepting its own connections",
        addrs.join(", ")
    );
    let handle = ServerHandle {
        stop,
        done: done_rx,
    };
    let wait = handle.clone();
    Ok(Server {
        handle,
        done: Box::pin(async move { wait.stopped().await }),
    })
}

/// One worker: builds its services, accepts on its sockets until the server stops, then
/// stops its arbiter (which drops the connections it serves).
async fn worker<M, SF>(
    sockets: Vec<TcpListener>,
    make: M,
    stop: watch::Receiver<bool>,
    done: Arc<watch::Sender<()>>,
    up: std::sync::mpsc::Sender<io::Result<()>>,
) where
    M: Fn(SocketAddr) -> SF,
    SF: ServiceFactory<Accepted, Config = ()> + 'static,
    SF::InitError: std::fmt::Debug,
    SF::Error: std::fmt::Debug,
    SF::Service: 'static,
    <SF::Service as Service<Accepted>>::Future: 'static,
{
    let mut loops = Vec::with_capacity(sockets.len());
    for lst in sockets {
        let built = async {
            let addr = lst.local_addr()?;
            let svc = make(addr).new_service(()).await.map_err(|e| {
                io::Error::other(format!("cannot build the HTTP service for {addr}: {e:?}"))
            })?;
            let lst = tokio::net::TcpListener::from_std(lst)?;
            Ok::<_, io::Error>((lst, Rc::new(svc)))
        };
        match built.await {
            Ok(l) => loops.push(l),
            Err(e) => {
                let _ = up.send(Err(e));
                Arbiter::current().stop();
                return;
            }
        }
    }
    if up.send(Ok(())).is_err() {
        // `serve` gave up on the start-up.
        Arbiter::current().stop();
        return;
    }
    drop(up);
    for (lst, svc) in loops {
        actix_web::rt::spawn(accept_loop(lst, svc, stop.clone(), done.clone()));
    }
    drop(done);
    let mut stop = stop;
    let _ = stop.wait_for(|s| *s).await;
    Arbiter::current().stop();
}

/// An accept error that belongs to the connection (it was reset or aborted before it was
/// taken), not to the listener: the next one is accepted at once.
fn connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Accepts on `lst` and serves each connection on this worker, until the server stops.
async fn accept_loop<S>(
    lst: tokio::net::TcpListener,
    svc: Rc<S>,
    mut stop: watch::Receiver<bool>,
    done: Arc<watch::Sender<()>>,
) where
    S: Service<Accepted> + 'static,
    S::Error: std::fmt::Debug,
    S::Future: 'static,
{
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            r = lst.accept() => r,
        };
        let pause = match accepted {
            Ok(accepted) => match std::future::poll_fn(|cx| svc.poll_ready(cx)).await {
                Ok(()) => {
                    let call = svc.call(accepted);
                    actix_web::rt::spawn(async move {
                        let _ = call.await;
                    });
                    false
                }
                Err(e) => {
                    log::error!("the HTTP service is not ready: {e:?}");
                    true
                }
            },
            Err(e) if connection_error(&e) => false,
            Err(e) => {
                if let Some(line) = super::accept_pause::on_accept_error(&e) {
                    log::error!("{line}");
                }
                true
            }
        };
        if pause {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                () = sleep(ACCEPT_PAUSE) => {}
            }
        }
    }
    // The listening socket is closed before the server counts this loop as ended.
    drop(lst);
    drop(done);
}

/// A running server: resolves once it has stopped. It (or any [`ServerHandle`]) keeps it
/// running; dropping all of them stops it.
pub struct Server {
    handle: ServerHandle,
    done: Pin<Box<dyn Future<Output = ()>>>,
}

impl Server {
    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }
}

impl Future for Server {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.done.as_mut().poll(cx).map(Ok)
    }
}

/// Stops a [`Server`].
#[derive(Clone)]
pub struct ServerHandle {
    stop: Arc<watch::Sender<bool>>,
    done: watch::Receiver<()>,
}

impl ServerHandle {
    /// Stops accepting on every listener and drops every connection the workers serve. The
    /// stop starts at once; the returned future resolves when every listening socket is
    /// closed (so the addresses can be bound again).
    pub fn stop(&self) -> impl Future<Output = ()> + use<> {
        let _ = self.stop.send(true);
        let wait = self.clone();
        async move { wait.stopped().await }
    }

    /// Resolves when every accept loop has ended.
    async fn stopped(&self) {
        let mut done = self.done.clone();
        while done.changed().await.is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A server whose service writes the name of the thread that serves the connection.
    fn thread_names(listeners: Vec<TcpListener>, workers: usize) -> io::Result<Server> {
        let settings = Settings {
            workers,
            backlog: 128,
            tcp_nodelay: true,
            client_disconnect_timeout: Duration::from_millis(50),
        };
        start(listeners, settings, |_addr| {
            fn_service(|(mut io, _peer): Accepted| async move {
                let id = format!("{:?}", std::thread::current().id());
                io.write_all(id.as_bytes()).await?;
                io.shutdown().await
            })
        })
    }

    async fn served_by(addr: SocketAddr) -> String {
        let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut id = String::new();
        c.read_to_string(&mut id).await.expect("read the thread id");
        id
    }

    #[actix_web::test]
    async fn each_worker_accepts_on_its_own_socket_and_stop_frees_the_address() {
        let lst = bind("127.0.0.1:0".parse().expect("addr"), 128).expect("bind");
        let addr = lst.local_addr().expect("local addr");
        let server = thread_names(vec![lst], 2).expect("start");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let main = format!("{:?}", std::thread::current().id());
        let mut threads = HashSet::new();
        // The kernel spreads connections over the workers' sockets by their addresses:
        // 64 connections all landing on one of two sockets would be a 1 in 2^63 chance.
        for _ in 0..64 {
            threads.insert(served_by(addr).await);
        }
        assert!(!threads.contains(&main), "served on the caller's thread");
        assert_eq!(threads.len(), 2, "not served by both workers: {threads:?}");
        // A second server cannot take the address while this one listens.
        let e = bind(addr, 128).expect_err("the address is in use");
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        assert!(std::net::TcpListener::bind(addr).is_err());

        handle.stop().await;
        // Every listening socket is closed once `stop` resolves: nothing accepts, and the
        // address can be bound again at once (the in-process restart binds it again).
        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(refused.is_err(), "still accepting after stop");
        let again = bind(addr, 128).expect("bind the address again after stop");
        drop(again);
        // A second stop is harmless.
        handle.stop().await;
    }

    #[actix_web::test]
    async fn a_listener_bound_without_reuseport_is_shared_by_the_workers() {
        let lst = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = lst.local_addr().expect("local addr");
        let server = thread_names(vec![lst], 2).expect("start");
        let handle = server.handle();
        let done = actix_web::rt::spawn(server);
        for _ in 0..16 {
            assert!(served_by(addr).await.starts_with("ThreadId("));
        }
        drop(handle.stop());
        // The server's own future resolves once it has stopped.
        let stopped = tokio::time::timeout(Duration::from_secs(10), done).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[actix_web::test]
    async fn a_service_that_cannot_be_built_fails_the_start() {
        let lst = bind("127.0.0.1:0".parse().expect("addr"), 128).expect("bind");
        let addr = lst.local_addr().expect("local addr");
        let settings = Settings {
            workers: 2,
            backlog: 128,
            tcp_nodelay: true,
            client_disconnect_timeout: Duration::from_millis(50),
        };
        let factory = |_addr| {
            actix_service::fn_factory(|| async {
                Err::<actix_service::boxed::BoxService<Accepted, (), io::Error>, _>("no service")
            })
        };
        let e = start(vec![lst], settings, factory)
            .err()
            .expect("start fails");
        assert!(
            e.to_string().contains("cannot build the HTTP service"),
            "{e}"
        );
        // Nothing is left listening (the workers that did start are stopped); the address is
        // free again once they have closed their sockets.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while bind(addr, 128).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the address stayed bound"
            );
            sleep(Duration::from_millis(10)).await;
        }
    }
}
