//! The socket's two halves: [`ClientFrames`] decodes inbound frames (with a size limit the
//! session raises after the handshake, and back-pressure while a pong is unsent), and
//! [`Outbound`] is the byte-bounded queue drained by the writer task that owns the
//! `actix_ws::Session` (pings, coalesced pongs, the one close frame, the close grace and the
//! TCP shutdown once the closing handshake is done).

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use actix_http::ws::{CloseCode, CloseReason, Codec, Frame, ProtocolError};
use actix_web::dev;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::mpsc;

use super::HardClose;
use crate::protocol::close;
use crate::util::truncate_close_reason;

// === inbound frames ===

/// Decodes client frames from the raw request payload. The size limit lives in a shared
/// cell so the session can raise it after the handshake without rebuilding the stream.
///
/// Back-pressure: while our pong to the client's last ping is still unsent (the client is
/// not reading), no further frame is decoded, so a ping flood from a peer that never reads
/// stalls on TCP flow control instead of growing our memory.
pub struct ClientFrames {
    payload: dev::Payload,
    buf: BytesMut,
    codec: Codec,
    codec_limit: usize,
    limit: Rc<Cell<usize>>,
    out: Rc<OutState>,
    eof: bool,
}

impl ClientFrames {
    pub(super) fn new(payload: dev::Payload, limit: Rc<Cell<usize>>, out: Rc<OutState>) -> Self {
        let codec_limit = limit.get();
        Self {
            payload,
            buf: BytesMut::new(),
            codec: Codec::new().max_size(codec_limit),
            codec_limit,
            limit,
            out,
            eof: false,
        }
    }
}

impl Stream for ClientFrames {
    type Item = Result<Frame, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        use tokio_util_codec::Decoder as _;
        let this = self.get_mut();
        if this.out.pong.borrow().is_some() {
            *this.out.reader.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let limit = this.limit.get();
        if limit != this.codec_limit {
            this.codec = Codec::new().max_size(limit);
            this.codec_limit = limit;
        }
        loop {
            match this.codec.decode(&mut this.buf) {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            if this.eof {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.buf.extend_from_slice(&bytes),
                Poll::Ready(Some(Err(e))) => {
                    this.eof = true;
                    return Poll::Ready(Some(Err(ProtocolError::Io(std::io::Error::other(
                        e.to_string(),
                    )))));
                }
                Poll::Ready(None) => this.eof = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

mod tokio_util_codec {
    pub(super) use actix_codec::Decoder;
}

// === outbound queue ===

/// Bytes counted per queued frame on top of its payload (frame header, bookkeeping), so
/// empty pings and close frames count too.
const FRAME_OVERHEAD: usize = 16;

/// How long the writer may take to put a close frame on the wire (behind the frame it is
/// writing) before the socket is dropped without it: a peer that does not read cannot hold
/// the connection open past this.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

enum OutItem {
    Text(String),
    Ping,
    /// Answer the latest ping (its payload is in [`OutState::pong`]).
    Pong,
    Close(Option<CloseReason>),
}

/// State shared by the session, its writer task and its [`ClientFrames`] (all on the same
/// worker thread).
#[derive(Default)]
pub struct OutState {
    /// Bytes queued and not yet handed to the socket (every frame kind counts).
    queued: Cell<usize>,
    /// Payload of the latest ping still to be answered. A newer ping replaces it (RFC 6455
    /// §5.5.3 allows answering only the most recent one), so at most one pong is queued.
    pong: RefCell<Option<Bytes>>,
    /// When the pending pong was queued.
    pong_since: Cell<Option<Instant>>,
    /// Slow consumer: everything still queued except the close frame is dropped.
    discard: Cell<bool>,
    /// The frame reader, parked while a pong is pending.
    reader: RefCell<Option<std::task::Waker>>,
    /// The peer's close frame arrived: the closing handshake is complete once ours is out.
    pub(super) peer_closed: Cell<bool>,
    /// Wakes the close task when the peer's close frame arrives.
    pub(super) peer_closed_notify: tokio::sync::Notify,
}

impl OutState {
    fn sub(&self, n: usize) {
        self.queued.set(self.queued.get().saturating_sub(n));
    }
}

/// The session's handle on its writer task: a channel whose *bytes* are bounded by `max`
/// (every push is counted, pongs are coalesced, the one close frame is the only item
/// allowed past the limit).
pub(super) struct Outbound {
    tx: mpsc::UnboundedSender<OutItem>,
    pub(super) state: Rc<OutState>,
    max: usize,
    writer: Option<actix_web::rt::task::JoinHandle<()>>,
    closing: bool,
    hard_close: Option<HardClose>,
    /// `EngineConfig::close_linger`.
    linger: std::time::Duration,
}

pub(super) enum Push {
    Ok,
    Full,
    Gone,
}

impl Outbound {
    pub(super) fn spawn(
        mut session: actix_ws::Session,
        max: usize,
        state: Rc<OutState>,
        hard_close: Option<HardClose>,
        linger: std::time::Duration,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<OutItem>();
        let st = state.clone();
        let writer = actix_web::rt::spawn(async move {
            while let Some(item) = rx.recv().await {
                let discard = st.discard.get();
                let ok = match item {
                    OutItem::Text(s) => {
                        let n = s.len() + FRAME_OVERHEAD;
                        let r = if discard {
                            Ok(())
                        } else {
                            session.text(s).await
                        };
                        st.sub(n);
                        r.is_ok()
                    }
                    OutItem::Ping => {
                        let r = if discard {
                            Ok(())
                        } else {
                            session.ping(b"").await
                        };
                        st.sub(FRAME_OVERHEAD);
                        r.is_ok()
                    }
                    OutItem::Pong => {
                        let payload = st.pong.borrow_mut().take().unwrap_or_default();
                        let n = payload.len() + FRAME_OVERHEAD;
                        let r = if discard {
                            Ok(())
                        } else {
                            session.pong(&payload).await
                        };
                        st.sub(n);
                        st.pong_since.set(None);
                        if let Some(w) = st.reader.borrow_mut().take() {
                            w.wake();
                        }
                        r.is_ok()
                    }
                    OutItem::Close(reason) => {
                        // Ending the session ends the response body: the server closes the
                        // TCP connection right after the close frame (RFC 6455 §7.1.1).
                        let _ = session.close(reason).await;
                        return;
                    }
                };
                if !ok {
                    break;
                }
            }
            // The socket is gone: release a reader parked on an unsendable pong, so it sees
            // the end of the stream and the session stops.
            st.pong.borrow_mut().take();
            st.pong_since.set(None);
            if let Some(w) = st.reader.borrow_mut().take() {
                w.wake();
            }
        });
        Self {
            tx,
            state,
            max,
            writer: Some(writer),
            closing: false,
            hard_close,
            linger,
        }
    }

    pub(super) fn queued(&self) -> usize {
        self.state.queued.get()
    }

    fn reserve(&self, n: usize) -> bool {
        let q = self.state.queued.get();
        if q.saturating_add(n) > self.max {
            return false;
        }
        self.state.queued.set(q + n);
        true
    }

    pub(super) fn push_text(&self, s: String) -> Push {
        if self.closing {
            return Push::Gone;
        }
        if !self.reserve(s.len() + FRAME_OVERHEAD) {
            return Push::Full;
        }
        match self.tx.send(OutItem::Text(s)) {
            Ok(()) => Push::Ok,
            Err(_) => Push::Gone,
        }
    }

    pub(super) fn push_ping(&self) -> Push {
        if self.closing {
            return Push::Gone;
        }
        if !self.reserve(FRAME_OVERHEAD) {
            return Push::Full;
        }
        match self.tx.send(OutItem::Ping) {
            Ok(()) => Push::Ok,
            Err(_) => Push::Gone,
        }
    }

    /// Queues a pong for `payload`, or replaces the payload of the pong already queued.
    pub(super) fn push_pong(&self, payload: Bytes) -> Push {
        if self.closing {
            return Push::Gone;
        }
        let mut slot = self.state.pong.borrow_mut();
        if let Some(old) = slot.as_mut() {
            let (a, b) = (old.len(), payload.len());
            if b > a && !self.reserve(b - a) {
                return Push::Full;
            }
            self.state.sub(a.saturating_sub(b));
            *old = payload;
            return Push::Ok;
        }
        if !self.reserve(payload.len() + FRAME_OVERHEAD) {
            return Push::Full;
        }
        *slot = Some(payload);
        self.state.pong_since.set(Some(Instant::now()));
        match self.tx.send(OutItem::Pong) {
            Ok(()) => Push::Ok,
            Err(_) => Push::Gone,
        }
    }

    /// How long the current pong has been waiting to be written.
    pub(super) fn pong_waiting(&self) -> Option<std::time::Duration> {
        self.state.pong_since.get().map(|t| t.elapsed())
    }

    /// Queues the close frame (counted, but allowed past the limit: it is sent once) and
    /// bounds the writer's life: after [`CLOSE_GRACE`] it is aborted, which drops the
    /// socket even if the peer never reads. With `discard`, frames still queued are dropped
    /// so the close frame is next on the wire.
    pub(super) fn close(&mut self, code: u16, reason: &str, discard: bool) {
        if self.closing {
            return;
        }
        self.closing = true;
        let reason = if code == close::NORMAL && reason.is_empty() {
            Some(CloseReason {
                code: CloseCode::Normal,
                description: None,
            })
        } else {
            Some(CloseReason {
                code: CloseCode::from(code),
                description: (!reason.is_empty()).then(|| truncate_close_reason(reason)),
            })
        };
        if discard {
            self.state.discard.set(true);
        }
        let n = FRAME_OVERHEAD
            + reason
                .as_ref()
                .and_then(|r| r.description.as_ref())
                .map_or(0, String::len);
        self.state
            .queued
            .set(self.state.queued.get().saturating_add(n));
        let _ = self.tx.send(OutItem::Close(reason));
        if let Some(w) = self.writer.take() {
            let abort = w.abort_handle();
            let hard_close = self.hard_close.take();
            let state = self.state.clone();
            let linger = self.linger;
            actix_web::rt::spawn(async move {
                if tokio::time::timeout(CLOSE_GRACE, w).await.is_err() {
                    // The peer is not reading: the close frame cannot go out. Drop the
                    // connection for real (actix would keep its pending writes forever).
                    abort.abort();
                } else {
                    // Our close frame is handed to actix; let its dispatcher (same worker
                    // thread, woken by the hand-over) write it to the socket.
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    // RFC 6455 §7.1.1: once both close frames have passed, the server
                    // closes TCP first. actix 3 would keep the connection lingering (a
                    // standard client waits its whole close timeout for our FIN), so shut
                    // the socket down ourselves as soon as the peer's close frame is in,
                    // or after `linger` if it never comes.
                    if !state.peer_closed.get() {
                        let _ =
                            tokio::time::timeout(linger, state.peer_closed_notify.notified()).await;
                    }
                }
                if let Some(h) = hard_close {
                    (h.0)();
                }
            });
        }
    }
}
