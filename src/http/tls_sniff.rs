//! The TLS listeners (`gateway.tls.enabled`): each accepted connection's first bytes are
//! peeked (`MSG_PEEK`, nothing consumed) before rustls sees them.
//!
//! - A TLS record (`0x16`, a handshake: the ClientHello) goes to rustls as before.
//! - A plain HTTP request line (an upper-case method token and a space: `GET `, `POST `,
//!   a `ws://` upgrade, …) is answered `400 Bad Request` in plain HTTP/1.1 with a body that
//!   names the problem and the fix ([`PLAIN_HTTP_BODY`]), then closed gracefully (our write
//!   side shut down, the request drained for a bounded time and size) so the client reads the
//!   answer instead of a reset.
//! - Anything else is closed without an answer.
//! - A peer that sends nothing is closed after [`TLS_HANDSHAKE_TIMEOUT`], as rustls did.
//!
//! Plain listeners (TLS off, the Tailscale Serve listener) never go through this.
//! [`super::server`] puts [`SniffFactory`] in front of the rustls acceptor.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_service::ServiceFactory;
use actix_tls::accept::TlsError;
use actix_web::rt::net::TcpStream;
use tokio::io::AsyncWriteExt as _;

/// How long a new connection on a TLS listener has to send its first bytes, and then (again)
/// to finish the TLS handshake. actix-tls' own default; a silent peer is dropped after it.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// The part of [`PLAIN_HTTP_BODY`] our client looks for to tell a `ws://` user to use `wss://`.
pub const PLAIN_HTTP_MARKER: &str = "this gateway serves HTTPS/WSS on this port";

/// The body of the answer to plain HTTP on a TLS port.
pub const PLAIN_HTTP_BODY: &str = "Plain HTTP sent to a TLS port: this gateway serves HTTPS/WSS on this port. Use https:// (or wss:// for WebSocket clients), or turn TLS off with gateway.tls.enabled=false.\n";

/// Bytes peeked to classify a connection: the longest method token we recognise plus a space.
const PEEK_BYTES: usize = 16;
/// While the first bytes are an incomplete method token, peek again this often.
const PEEK_RETRY: Duration = Duration::from_millis(10);
/// Connections being sniffed at once per worker; beyond it the worker stops accepting until
/// one is done (the kernel's backlog holds the rest), as actix-tls does for handshakes.
const MAX_SNIFFING: usize = 256;

/// What the first bytes of a connection are.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstBytes {
    /// A TLS handshake record.
    Tls,
    /// A plain HTTP request line; `head` when the method is `HEAD` (the answer has no body).
    Http {
        /// The method is `HEAD`.
        head: bool,
    },
    /// Neither.
    Other,
}

/// Classifies `b` (the bytes received so far, at least one); `None` while `b` is an
/// incomplete method token that more bytes may complete.
pub fn classify(b: &[u8]) -> Option<FirstBytes> {
    let first = *b.first()?;
    if first == 0x16 {
        return Some(FirstBytes::Tls);
    }
    if !first.is_ascii_uppercase() {
        return Some(FirstBytes::Other);
    }
    // A method token: upper-case letters (and `-`, as in `M-SEARCH`), then one space.
    let token = b
        .iter()
        .take_while(|c| c.is_ascii_uppercase() || **c == b'-')
        .count();
    match b.get(token) {
        Some(b' ') => Some(FirstBytes::Http {
            head: &b[..token] == b"HEAD",
        }),
        Some(_) => Some(FirstBytes::Other),
        None if token < PEEK_BYTES - 1 => None,
        None => Some(FirstBytes::Other),
    }
}

/// Why a connection did not reach rustls (the accept loop drops the error).
fn refused(why: &'static str) -> SniffError {
    TlsError::Tls(io::Error::other(why))
}

/// Peeks at the first bytes of `io` (bounded by [`TLS_HANDSHAKE_TIMEOUT`]): `Ok` hands a TLS
/// connection on to rustls; plain HTTP is answered and closed; anything else is closed.
async fn sniff(io: TcpStream) -> Result<TcpStream, SniffError> {
    let deadline = tokio::time::Instant::now() + TLS_HANDSHAKE_TIMEOUT;
    let mut buf = [0u8; PEEK_BYTES];
    let kind = loop {
        let n = match tokio::time::timeout_at(deadline, io.peek(&mut buf)).await {
            Err(_) => return Err(TlsError::Timeout),
            Ok(Err(e)) => return Err(TlsError::Tls(e)),
            Ok(Ok(0)) => return Err(refused("closed before sending anything")),
            Ok(Ok(n)) => n,
        };
        match classify(&buf[..n]) {
            Some(kind) => break kind,
            // The rest of the method token has not arrived yet: `peek` would return the same
            // bytes at once, so wait a little (still bounded by the deadline).
            None => {
                if tokio::time::Instant::now() + PEEK_RETRY >= deadline {
                    return Err(TlsError::Timeout);
                }
                tokio::time::sleep(PEEK_RETRY).await;
            }
        }
    };
    match kind {
        FirstBytes::Tls => Ok(io),
        FirstBytes::Http { head } => {
            if let Ok(peer) = io.peer_addr() {
                log::debug!("plain HTTP from {peer} on a TLS port: answered 400");
            }
            answer_plain_http(io, head).await;
            Err(refused("plain HTTP on a TLS port"))
        }
        FirstBytes::Other => Err(refused("neither TLS nor HTTP")),
    }
}

/// The whole `400` answer to plain HTTP on a TLS port.
pub fn plain_http_answer(head: bool) -> String {
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        PLAIN_HTTP_BODY.len(),
        if head { "" } else { PLAIN_HTTP_BODY }
    )
}

/// Writes the `400`, then closes without resetting (see [`super::takeover::linger_close`]).
async fn answer_plain_http(mut io: TcpStream, head: bool) {
    let written = tokio::time::timeout(
        super::takeover::DRAIN_TIME,
        io.write_all(plain_http_answer(head).as_bytes()),
    )
    .await;
    if matches!(written, Ok(Ok(()))) {
        super::takeover::linger_close(io).await;
    }
}

/// Why a connection was not handed to rustls.
pub type SniffError = TlsError<io::Error, actix_http::error::DispatchError>;

/// Makes one [`SniffService`] per worker.
#[derive(Clone, Copy)]
pub struct SniffFactory;

impl ServiceFactory<TcpStream> for SniffFactory {
    type Response = TcpStream;
    type Error = SniffError;
    type Config = ();
    type Service = SniffService;
    type InitError = ();
    type Future = std::future::Ready<Result<SniffService, ()>>;

    fn new_service(&self, (): ()) -> Self::Future {
        std::future::ready(Ok(SniffService {
            slots: Rc::new(Slots::default()),
        }))
    }
}

/// Runs [`sniff`] on each connection, at most [`MAX_SNIFFING`] at once.
pub struct SniffService {
    slots: Rc<Slots>,
}

/// A worker's count of connections being sniffed, and the accept loop waiting for a slot.
#[derive(Default)]
struct Slots {
    busy: Cell<usize>,
    waiting: Cell<Option<Waker>>,
}

/// One taken slot; given back (waking the accept loop) when the sniff ends.
struct Slot(Rc<Slots>);

impl Slot {
    fn take(slots: &Rc<Slots>) -> Self {
        slots.busy.set(slots.busy.get() + 1);
        Self(slots.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let busy = self.0.busy.get();
        self.0.busy.set(busy.saturating_sub(1));
        if let Some(w) = self.0.waiting.take() {
            w.wake();
        }
    }
}

impl actix_service::Service<TcpStream> for SniffService {
    type Response = TcpStream;
    type Error = SniffError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<TcpStream, SniffError>>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), SniffError>> {
        if self.slots.busy.get() < MAX_SNIFFING {
            Poll::Ready(Ok(()))
        } else {
            self.slots.waiting.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    }

    fn call(&self, io: TcpStream) -> Self::Future {
        let slot = Slot::take(&self.slots);
        Box::pin(async move {
            let res = sniff(io).await;
            drop(slot);
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{FirstBytes, PLAIN_HTTP_BODY, classify, plain_http_answer};

    /// A full worker stops accepting (`poll_ready` pending) until a sniff ends, which wakes it.
    #[test]
    fn sniffing_is_capped_per_worker() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::task::{Context, Poll, Wake, Waker};

        use actix_service::Service as _;

        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let svc = super::SniffService {
            slots: std::rc::Rc::new(super::Slots::default()),
        };
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut held: Vec<super::Slot> = Vec::new();
        for _ in 0..super::MAX_SNIFFING {
            assert!(svc.poll_ready(&mut cx).is_ready());
            held.push(super::Slot::take(&svc.slots));
        }
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Pending));
        assert!(!flag.0.load(Ordering::SeqCst));
        held.pop();
        assert!(
            flag.0.load(Ordering::SeqCst),
            "a freed slot wakes the accept loop"
        );
        assert!(svc.poll_ready(&mut cx).is_ready());
        drop(held);
        assert_eq!(svc.slots.busy.get(), 0);
    }

    #[test]
    fn first_bytes_are_classified() {
        assert_eq!(classify(b"\x16\x03\x01\x02\x00"), Some(FirstBytes::Tls));
        assert_eq!(classify(b"\x16"), Some(FirstBytes::Tls));
        for req in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"POST /x HTTP/1.1",
            b"OPTIONS * HTTP/1.1",
            b"PUT ",
            b"DELETE /",
            b"PATCH /",
            b"CONNECT host:443",
            b"M-SEARCH * HTTP/1.1",
            b"PRI * HTTP/2.0",
        ] {
            assert_eq!(
                classify(req),
                Some(FirstBytes::Http { head: false }),
                "{req:?}"
            );
        }
        assert_eq!(
            classify(b"HEAD / HTTP/1.1"),
            Some(FirstBytes::Http { head: true })
        );
        // Incomplete tokens wait for more bytes.
        assert_eq!(classify(b"G"), None);
        assert_eq!(classify(b"GE"), None);
        assert_eq!(classify(b"OPTIONS"), None);
        // Anything else is closed.
        for junk in [
            &b"\x00"[..],
            b"\x80\x2e\x01",
            b"get / HTTP/1.1",
            b" GET",
            b"GET\t/",
            b"G\x00",
            b"SSH-2.0-OpenSSH",
            b"ABCDEFGHIJKLMNOP",
            b"\x15\x03\x03",
        ] {
            assert_eq!(classify(junk), Some(FirstBytes::Other), "{junk:?}");
        }
        assert_eq!(classify(b""), None);
    }

    #[test]
    fn the_answer_is_a_complete_response() {
        let full = plain_http_answer(false);
        assert!(full.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(full.contains("\r\nConnection: close\r\n"));
        assert!(full.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"));
        let (head, body) = full.split_once("\r\n\r\n").expect("head and body");
        assert_eq!(body, PLAIN_HTTP_BODY);
        assert!(PLAIN_HTTP_BODY.contains(super::PLAIN_HTTP_MARKER));
        assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
        // HEAD: same length announced, no body.
        let head_only = plain_http_answer(true);
        assert!(head_only.ends_with("\r\n\r\n"));
        assert!(head_only.contains(&format!("\r\nContent-Length: {}", PLAIN_HTTP_BODY.len())));
    }
}
