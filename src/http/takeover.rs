//! The WebSocket takeover: after the upgrade, the session owns the socket.
//!
//! actix-http hands every request that asks for a WebSocket (`Upgrade: websocket`) to our
//! upgrade service together with the connection itself ([`Framed`]), instead of keeping it
//! in its HTTP dispatcher. The service ([`TakeoverService`]) runs the request through the
//! same actix-web `App` as every other request (routing, the `Host`/`Origin`/proxy checks,
//! the connection ceiling and the pre-auth cap in [`super::ws`]), with a [`Takeover`] slot
//! in the request's extensions:
//!
//! - when the handler accepts the upgrade it fills the slot and answers `101`; the service
//!   writes the `101`, frees the HTTP codec and its buffers, and gives the bare socket (plus
//!   any bytes the client sent right behind its request) to the session
//!   ([`ws_session::serve_socket`]) for the rest of the connection's life;
//! - any other answer (a refusal, the Control UI page, a probe) is written with
//!   `Connection: close` and the connection is closed gracefully (our side shut down, then a
//!   bounded drain, so the client reads the answer instead of a reset).
//!
//! Why: an idle WebSocket then costs its socket, its session actor and a few hundred bytes of
//! bookkeeping, not an HTTP dispatcher with 8 KiB read and write buffers and a second
//! response stream; and the session can close its own socket (a peer that stops reading is
//! dropped after the close grace) without keeping a duplicate file descriptor.

use std::cell::RefCell;
use std::io;
use std::marker::PhantomData;
use std::net::{IpAddr, Shutdown};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_codec::{Encoder as _, Framed};
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1::{self, Message};
use actix_http::{ConnectionType, HttpMessage as _, Request, Response, StatusCode};
use actix_service::{IntoServiceFactory, Service, ServiceFactory};
use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::AppConfig;
use actix_web::rt::net::TcpStream;
use bytes::BytesMut;
use futures_util::SinkExt as _;
use futures_util::future::LocalBoxFuture;
use openclaw_actors::Engine;
use openclaw_actors::ws_session::{self, PeerInfo, SharedIo, Sock};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::ceiling::ConnSlot;

/// Largest answer body written on an upgrade request that was not taken over (the Control UI
/// page is the largest one we make).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// After such an answer: how long, and how much of the request, is read before closing.
pub const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 64 * 1024;

/// The request extension through which the WebSocket handler accepts an upgrade.
#[derive(Clone, Default)]
pub struct Takeover(Rc<RefCell<Option<Accepted>>>);

impl Takeover {
    /// The upgrade is accepted for `peer`, who holds one of the engine's pre-auth slots: the
    /// session takes the socket once the `101` is written. If that never happens, the slot
    /// is given back.
    pub fn accept(&self, engine: Engine, peer: PeerInfo) {
        *self.0.borrow_mut() = Some(Accepted {
            admitted: Some(peer.ip),
            engine,
            peer,
        });
    }

    fn take(&self) -> Option<Accepted> {
        self.0.borrow_mut().take()
    }
}

/// An accepted upgrade waiting for its `101` to be written.
pub struct Accepted {
    engine: Engine,
    peer: PeerInfo,
    /// The pre-auth slot, until the session owns it (it gives it back at `hello-ok`).
    admitted: Option<IpAddr>,
}

impl Accepted {
    /// Starts the session on `io`; the returned writer runs for the connection's life.
    fn start(
        mut self,
        io: SharedIo,
        read: BytesMut,
        preamble: bytes::Bytes,
    ) -> impl Future<Output = ()> + use<> {
        self.admitted = None;
        ws_session::serve_socket(io, read, preamble, &self.engine, self.peer.clone())
    }
}

impl Drop for Accepted {
    fn drop(&mut self) {
        if let Some(ip) = self.admitted.take() {
            self.engine.shared.preauth.release(ip);
        }
    }
}

/// The connection types a session can own: plain TCP and TLS over TCP.
pub trait IntoSock: AsyncRead + AsyncWrite + Unpin + Sized + 'static {
    /// The socket, ready for the session.
    fn into_sock(self) -> SharedIo;
}

fn shutdown_tcp(tcp: &TcpStream) {
    let _ = socket2::SockRef::from(tcp).shutdown(Shutdown::Both);
}

impl IntoSock for TcpStream {
    fn into_sock(self) -> SharedIo {
        Rc::new(RefCell::new(Sock::new(self, shutdown_tcp)))
    }
}

impl IntoSock for TlsStream<TcpStream> {
    fn into_sock(self) -> SharedIo {
        Rc::new(RefCell::new(Sock::new(self, |tls| {
            shutdown_tcp((**tls).get_ref().0);
        })))
    }
}

/// Makes one [`TakeoverService`] per worker, each with its own instance of the `App`.
pub struct TakeoverFactory<F, T, S, B> {
    app: F,
    config: AppConfig,
    _io: PhantomData<fn(T, S, B)>,
}

impl<F, T, S, B> TakeoverFactory<F, T, S, B> {
    /// `app` builds the listener's `App`; `config` is what its HTTP service gives it.
    pub fn new(app: F, config: AppConfig) -> Self {
        Self {
            app,
            config,
            _io: PhantomData,
        }
    }
}

impl<F, I, S, B, T> ServiceFactory<(Request, Framed<T, h1::Codec>)> for TakeoverFactory<F, T, S, B>
where
    F: Fn() -> I,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
    T: IntoSock,
{
    type Response = ();
    type Error = actix_web::Error;
    type Config = ();
    type Service = TakeoverService<S::Service, B, T>;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<Self::Service, ()>>;

    fn new_service(&self, (): ()) -> Self::Future {
        let fut = (self.app)().into_factory().new_service(self.config.clone());
        Box::pin(async move {
            let app = fut
                .await
                .map_err(|e| log::error!("cannot build the WebSocket upgrade service: {e:?}"))?;
            Ok(TakeoverService {
                app: Rc::new(app),
                _p: PhantomData,
            })
        })
    }
}

/// See the module docs.
pub struct TakeoverService<S, B, T> {
    app: Rc<S>,
    _p: PhantomData<fn(B, T)>,
}

impl<S, B, T> Service<(Request, Framed<T, h1::Codec>)> for TakeoverService<S, B, T>
where
    S: Service<Request> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::Response: Into<Response<B>> + 'static,
    B: MessageBody + 'static,
    T: IntoSock,
{
    type Response = ();
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<(), actix_web::Error>>;

    actix_service::always_ready!();

    fn call(&self, (req, framed): (Request, Framed<T, h1::Codec>)) -> Self::Future {
        let app = self.app.clone();
        Box::pin(async move {
            takeover(app, req, framed).await;
            Ok(())
        })
    }
}

async fn takeover<S, B, T>(app: Rc<S>, req: Request, mut framed: Framed<T, h1::Codec>)
where
    S: Service<Request>,
    S::Error: Into<actix_web::Error>,
    S::Response: Into<Response<B>>,
    B: MessageBody + 'static,
    T: IntoSock,
{
    let slot = Takeover::default();
    req.extensions_mut().insert(slot.clone());
    // The connection's ceiling slot lives in its connection data, which the HTTP
    // dispatcher drops when it hands the connection over: the session keeps it instead.
    let ceiling = req.conn_data::<Arc<ConnSlot>>().cloned();
    let res = match app.call(req).await {
        Ok(res) => res.into().map_into_boxed_body(),
        Err(e) => Response::from(e.into()),
    };
    let accepted = slot.take();
    let (mut head, body) = res.into_parts();
    if head.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(accepted) = accepted
    {
        // The `101` is encoded here and written by the session, in one write with the
        // `connect.challenge`.
        let mut preamble = BytesMut::with_capacity(256);
        if let Err(e) = framed
            .codec_mut()
            .encode(Message::Item((head, BodySize::None)), &mut preamble)
        {
            log::debug!("cannot encode the 101: {e}");
            return;
        }
        let preamble = preamble.freeze();
        let parts = framed.into_parts();
        // Only what the client sent behind its request is kept, in a buffer of its size;
        // the codec's buffers go.
        let read = if parts.read_buf.is_empty() {
            BytesMut::new()
        } else {
            BytesMut::from(&parts.read_buf[..])
        };
        drop((parts.read_buf, parts.write_buf, parts.codec));
        let writer = accepted.start(parts.io.into_sock(), read, preamble);
        // The writer is a task of its own (on this worker), so that this future, the HTTP
        // dispatcher and the connection's accept task (a few KB together) end here.
        actix_web::rt::spawn(async move {
            writer.await;
            drop(ceiling);
        });
        return;
    }
    drop(accepted);
    let body = match actix_web::body::to_bytes_limited(body, MAX_ANSWER_BYTES).await {
        Ok(Ok(bytes)) => bytes,
        _ => {
            log::warn!("an answer to an upgrade request had an unreadable or oversized body");
            head = Response::with_body(StatusCode::INTERNAL_SERVER_ERROR, ())
                .into_parts()
                .0;
            bytes::Bytes::new()
        }
    };
    head.head_mut().set_connection_type(ConnectionType::Close);
    let sent = async {
        framed
            .feed(Message::Item((head, BodySize::Sized(body.len() as u64))))
            .await?;
        if !body.is_empty() {
            framed.feed(Message::Chunk(Some(body))).await?;
        }
        framed.send(Message::Chunk(None)).await
    };
    if tokio::time::timeout(DRAIN_TIME, sent).await.is_err() {
        return;
    }
    linger_close(framed.into_parts().io).await;
}

/// Shuts our side down and reads (bounded in time and size) what the client still sends, so
/// closing does not reset the connection before the client read the answer.
pub async fn linger_close<T: AsyncRead + AsyncWrite + Unpin>(mut io: T) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        io.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < DRAIN_BYTES {
            match io.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<_, io::Error>(())
    })
    .await;
}
