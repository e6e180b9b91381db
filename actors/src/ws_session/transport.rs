//! The socket itself, owned by the session once the HTTP upgrade is done (no HTTP
//! dispatcher, no per-connection buffers while idle):
//!
//! - [`ClientFrames`] decodes inbound frames straight from the socket (with a size limit the
//!   session raises after the handshake, and back-pressure while a pong is unsent);
//! - [`Outbound`] is the session's byte-bounded queue, drained by [`drive`], the connection's
//!   writer: it batches queued frames into one write, sends pings, coalesced pongs and the
//!   one close frame, bounds the close (a peer that does not read is dropped after
//!   [`CLOSE_GRACE`]), waits for the peer's close frame (at most `closeLinger`) and closes TCP
//!   first once the closing handshake is done (RFC 6455 §7.1.1).
//!
//! Memory: the read buffer and the write buffer exist only while bytes are in them; an idle
//! connection holds its socket, its queue's bookkeeping and the session actor, nothing else.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use actix_codec::Decoder as _;
use actix_http::ws::{CloseCode, CloseReason, Codec, Frame, OpCode, Parser, ProtocolError};
use bytes::{Buf as _, Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::protocol::close;
use crate::util::truncate_close_reason;

// === the socket ===

/// A connection's byte stream (plain TCP or TLS over TCP), owned by its session.
pub trait SockIo: AsyncRead + AsyncWrite + Unpin {
    /// Shuts the TCP socket down in both directions: pending reads end and the peer sees the
    /// connection end even while other handles to it are still alive.
    fn shutdown_both(&self);
}

/// A stream and the way to shut its TCP socket down (see [`SockIo`]).
pub struct Sock<T> {
    io: T,
    shutdown: fn(&T),
}

impl<T> Sock<T> {
    /// Wraps `io`; `shutdown` shuts its TCP socket down in both directions.
    pub fn new(io: T, shutdown: fn(&T)) -> Self {
        Self { io, shutdown }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Sock<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Sock<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> SockIo for Sock<T> {
    fn shutdown_both(&self) {
        (self.shutdown)(&self.io);
    }
}

/// The socket, shared by the session's reader and the writer (same worker thread; each poll
/// borrows it only for the call).
pub type SharedIo = Rc<RefCell<dyn SockIo>>;

/// Bytes read from the socket per read call.
const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// The worker's one read buffer: reads land here and only the bytes of an incomplete
    /// frame are kept per connection.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

/// Reads what the socket has into `buf`: `Ready(Ok(0))` is EOF.
fn read_some(
    io: &SharedIo,
    cx: &mut TaskContext<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let mut rb = ReadBuf::new(&mut scratch[..]);
        let mut sock = io.borrow_mut();
        match Pin::new(&mut *sock).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let got = rb.filled();
                buf.extend_from_slice(got);
                Poll::Ready(Ok(got.len()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
}

/// Gives an emptied buffer's memory back.
fn release_if_empty(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = BytesMut::new();
    }
}

// === inbound frames ===

/// Decodes client frames from the socket. The size limit lives in a shared cell so the
/// session can raise it after the handshake without rebuilding the stream.
///
/// Back-pressure: while our pong to the client's last ping is still unsent (the client is
/// not reading), no further frame is decoded, so a ping flood from a peer that never reads
/// stalls on TCP flow control instead of growing our memory.
///
/// Once the session closes, the stream ends: the writer reads the rest (the peer's close
/// frame) itself.
pub struct ClientFrames {
    io: SharedIo,
    codec: Codec,
    codec_limit: usize,
    limit: Rc<Cell<usize>>,
    out: Rc<OutState>,
    eof: bool,
}

impl ClientFrames {
    pub(super) fn new(io: SharedIo, limit: Rc<Cell<usize>>, out: Rc<OutState>) -> Self {
        let codec_limit = limit.get();
        Self {
            io,
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
        let this = self.get_mut();
        if this.out.closing.get() || this.out.writer_done.get() {
            return Poll::Ready(None);
        }
        if this.out.pong_since.get().is_some() {
            *this.out.reader.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let limit = this.limit.get();
        if limit != this.codec_limit {
            this.codec = Codec::new().max_size(limit);
            this.codec_limit = limit;
        }
        let mut buf = this.out.rbuf.borrow_mut();
        loop {
            match this.codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    release_if_empty(&mut buf);
                    return Poll::Ready(Some(Ok(frame)));
                }
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            if this.eof {
                return Poll::Ready(None);
            }
            match read_some(&this.io, cx, &mut buf) {
                Poll::Ready(Ok(0)) => this.eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    this.eof = true;
                    return Poll::Ready(Some(Err(ProtocolError::Io(e))));
                }
                Poll::Pending => {
                    release_if_empty(&mut buf);
                    return Poll::Pending;
                }
            }
        }
    }
}

// === outbound queue ===

/// Bytes counted per queued frame on top of its payload (frame header, bookkeeping), so
/// empty pings and close frames count too.
const FRAME_OVERHEAD: usize = 16;

/// How long the writer may take to put a close frame on the wire (behind what it is
/// writing) before the socket is dropped without it: a peer that does not read cannot hold
/// the connection open past this.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Frames encoded into one write, at most (one frame can be larger).
const BATCH_BYTES: usize = 64 * 1024;

/// What the peer may still send after our close frame before we stop reading it.
const DRAIN_AFTER_CLOSE: usize = 1024 * 1024;

enum OutItem {
    Text(String),
    Ping,
    /// Answer the latest ping (its payload is in [`OutState::pong`]).
    Pong,
    Close(Option<CloseReason>),
}

/// State shared by the session, its writer and its [`ClientFrames`] (all on the same worker
/// thread).
#[derive(Default)]
pub struct OutState {
    /// Frames waiting for the writer.
    queue: RefCell<VecDeque<OutItem>>,
    /// Wakes the writer: new frames, or the close.
    wake: tokio::sync::Notify,
    /// Bytes queued and not yet written to the socket (every frame kind counts).
    queued: Cell<usize>,
    /// Payload of the latest ping still to be answered. A newer ping replaces it (RFC 6455
    /// §5.5.3 allows answering only the most recent one), so at most one pong is queued.
    pong: RefCell<Option<Bytes>>,
    /// When the pending pong was queued; cleared once it is written.
    pong_since: Cell<Option<Instant>>,
    /// Slow consumer: everything still queued except the close frame is dropped.
    discard: Cell<bool>,
    /// The frame reader, parked while a pong is pending.
    reader: RefCell<Option<std::task::Waker>>,
    /// The session closed: the close frame is queued, the writer owns the socket.
    closing: Cell<bool>,
    /// When the writer gives up on a peer that does not read (set by the close).
    close_deadline: Cell<Option<tokio::time::Instant>>,
    /// The writer ended (the socket failed or the close is done).
    writer_done: Cell<bool>,
    /// The session is gone without a close: the writer writes what is queued (bounded by
    /// the close deadline) and ends.
    abandoned: Cell<bool>,
    /// Bytes read and not yet decoded (the reader's, then the writer's after the close).
    rbuf: RefCell<BytesMut>,
    /// The peer's close frame arrived: the closing handshake is complete once ours is out.
    pub(super) peer_closed: Cell<bool>,
}

impl OutState {
    /// State for a socket whose first bytes (sent right behind the upgrade request) are
    /// `read`.
    pub(super) fn with_read(read: BytesMut) -> Self {
        Self {
            rbuf: RefCell::new(read),
            ..Self::default()
        }
    }

    fn sub(&self, n: usize) {
        self.queued.set(self.queued.get().saturating_sub(n));
    }

    fn wake_reader(&self) {
        if let Some(w) = self.reader.borrow_mut().take() {
            w.wake();
        }
    }
}

/// The session's handle on its queue: bounded in *bytes* by `max` (every push is counted,
/// pongs are coalesced, the one close frame is the only item allowed past the limit).
pub(super) struct Outbound {
    pub(super) state: Rc<OutState>,
    max: usize,
}

pub(super) enum Push {
    Ok,
    Full,
    Gone,
}

impl Outbound {
    pub(super) fn new(max: usize, state: Rc<OutState>) -> Self {
        Self { state, max }
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

    fn gone(&self) -> bool {
        self.state.closing.get() || self.state.writer_done.get()
    }

    fn enqueue(&self, item: OutItem) {
        self.state.queue.borrow_mut().push_back(item);
        self.state.wake.notify_one();
    }

    pub(super) fn push_text(&self, s: String) -> Push {
        if self.gone() {
            return Push::Gone;
        }
        if !self.reserve(s.len() + FRAME_OVERHEAD) {
            return Push::Full;
        }
        self.enqueue(OutItem::Text(s));
        Push::Ok
    }

    pub(super) fn push_ping(&self) -> Push {
        if self.gone() {
            return Push::Gone;
        }
        if !self.reserve(FRAME_OVERHEAD) {
            return Push::Full;
        }
        self.enqueue(OutItem::Ping);
        Push::Ok
    }

    /// Queues a pong for `payload`, or replaces the payload of the pong already queued.
    pub(super) fn push_pong(&self, payload: Bytes) -> Push {
        if self.gone() {
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
        drop(slot);
        self.state.pong_since.set(Some(Instant::now()));
        self.enqueue(OutItem::Pong);
        Push::Ok
    }

    /// How long the current pong has been waiting to be written.
    pub(super) fn pong_waiting(&self) -> Option<Duration> {
        self.state.pong_since.get().map(|t| t.elapsed())
    }

    /// Queues the close frame (counted, but allowed past the limit: it is sent once) and
    /// bounds the writer's life: after [`CLOSE_GRACE`] the socket is dropped even if the
    /// peer never reads. With `discard`, frames still queued are dropped so the close frame
    /// is next on the wire.
    pub(super) fn close(&mut self, code: u16, reason: &str, discard: bool) {
        if self.state.closing.get() {
            return;
        }
        self.state.closing.set(true);
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
        self.state
            .close_deadline
            .set(Some(tokio::time::Instant::now() + CLOSE_GRACE));
        self.enqueue(OutItem::Close(reason));
    }
}

impl Drop for Outbound {
    /// The session stopped without closing (its socket ended, or it failed): let the writer
    /// finish what is queued, bounded by [`CLOSE_GRACE`], and end.
    fn drop(&mut self) {
        if !self.state.closing.get() {
            self.state.abandoned.set(true);
            self.state
                .close_deadline
                .set(Some(tokio::time::Instant::now() + CLOSE_GRACE));
            self.state.wake.notify_one();
        }
    }
}

// === the writer ===

/// What one batch put into the write buffer.
#[derive(Default)]
struct Batch {
    /// Queued bytes the batch accounts for (given back once written).
    bytes: usize,
    /// The batch carries the pong.
    pong: bool,
    /// The batch ends with the close frame.
    close: bool,
}

/// Moves queued frames into `wbuf` (up to [`BATCH_BYTES`]); `None` when nothing is queued.
fn take_batch(st: &OutState, wbuf: &mut BytesMut) -> Option<Batch> {
    let mut q = st.queue.borrow_mut();
    if q.is_empty() {
        if q.capacity() > 0 {
            *q = VecDeque::new();
        }
        return None;
    }
    let mut b = Batch::default();
    while wbuf.len() < BATCH_BYTES {
        let Some(item) = q.pop_front() else { break };
        let discard = st.discard.get();
        match item {
            OutItem::Text(s) => {
                b.bytes += s.len() + FRAME_OVERHEAD;
                if !discard {
                    Parser::write_message(wbuf, s.as_bytes(), OpCode::Text, true, false);
                }
            }
            OutItem::Ping => {
                b.bytes += FRAME_OVERHEAD;
                if !discard {
                    Parser::write_message(wbuf, b"", OpCode::Ping, true, false);
                }
            }
            OutItem::Pong => {
                let payload = st.pong.borrow_mut().take().unwrap_or_default();
                b.bytes += payload.len() + FRAME_OVERHEAD;
                b.pong = true;
                if !discard {
                    Parser::write_message(wbuf, &payload, OpCode::Pong, true, false);
                }
            }
            OutItem::Close(reason) => {
                b.bytes += FRAME_OVERHEAD
                    + reason
                        .as_ref()
                        .and_then(|r| r.description.as_ref())
                        .map_or(0, String::len);
                Parser::write_close(wbuf, reason, false);
                b.close = true;
                break;
            }
        }
    }
    Some(b)
}

/// Writes all of `wbuf`. Gives up (`TimedOut`) once the close deadline passes: a close
/// requested while a write is blocked sets it, and wakes us to see it.
async fn write_all(io: &SharedIo, wbuf: &mut BytesMut, st: &OutState) -> io::Result<()> {
    loop {
        let deadline = st.close_deadline.get();
        // Everything written: flush (TLS records buffered by rustls).
        let flushing = wbuf.is_empty();
        let step = std::future::poll_fn(|cx| {
            let mut sock = io.borrow_mut();
            if flushing {
                Pin::new(&mut *sock).poll_flush(cx).map_ok(|()| 0)
            } else {
                Pin::new(&mut *sock).poll_write(cx, wbuf)
            }
        });
        let done = tokio::select! {
            biased;
            r = step => Some(r),
            () = sleep_until(deadline) => return Err(io::ErrorKind::TimedOut.into()),
            // A close requested while the socket is blocked: loop to pick up its deadline.
            () = st.wake.notified(), if deadline.is_none() => None,
        };
        match done {
            Some(Ok(_)) if flushing => return Ok(()),
            Some(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Some(Ok(n)) => wbuf.advance(n),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// After our close frame: reads (and drops) what the peer still sends until its close frame
/// or EOF, at most [`DRAIN_AFTER_CLOSE`] bytes.
async fn await_peer_close(io: &SharedIo, st: &OutState) {
    let mut codec = Codec::new().max_size(DRAIN_AFTER_CLOSE);
    let mut read = 0usize;
    loop {
        loop {
            let mut buf = st.rbuf.borrow_mut();
            match codec.decode(&mut buf) {
                Ok(Some(Frame::Close(_))) | Err(_) => return,
                Ok(Some(_)) => {}
                Ok(None) => break,
            }
        }
        if read >= DRAIN_AFTER_CLOSE {
            return;
        }
        let got = std::future::poll_fn(|cx| read_some(io, cx, &mut st.rbuf.borrow_mut())).await;
        match got {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}

/// The connection's writer: runs until the socket fails or the close is done, then shuts
/// the socket down. `linger` (`EngineConfig::close_linger`) bounds the wait for the peer's
/// close frame after ours.
pub(super) async fn drive(io: SharedIo, st: Rc<OutState>, linger: Duration) {
    let mut wbuf = BytesMut::new();
    let mut closed = false;
    loop {
        let Some(batch) = take_batch(&st, &mut wbuf) else {
            if st.abandoned.get() {
                break;
            }
            st.wake.notified().await;
            continue;
        };
        if write_all(&io, &mut wbuf, &st).await.is_err() {
            break;
        }
        st.sub(batch.bytes);
        if batch.pong {
            st.pong_since.set(None);
            st.wake_reader();
        }
        // An idle connection keeps no write buffer.
        wbuf = BytesMut::new();
        if batch.close {
            closed = true;
            break;
        }
    }
    st.writer_done.set(true);
    st.queue.borrow_mut().clear();
    if closed && !st.peer_closed.get() {
        // RFC 6455 §7.1.1: the server closes TCP once both close frames have passed; wait
        // (bounded) for the peer's.
        let _ = tokio::time::timeout(linger, await_peer_close(&io, &st)).await;
    }
    if closed {
        // TLS: close_notify; TCP: FIN. Bounded: the peer may not read.
        let shutdown = std::future::poll_fn(|cx| {
            let mut sock = io.borrow_mut();
            Pin::new(&mut *sock).poll_shutdown(cx)
        });
        let _ = tokio::time::timeout(Duration::from_millis(100), shutdown).await;
    }
    io.borrow().shutdown_both();
    *st.rbuf.borrow_mut() = BytesMut::new();
    // Release a reader parked on an unsendable pong, so it sees the end of the stream and
    // the session stops.
    st.pong.borrow_mut().take();
    st.pong_since.set(None);
    st.wake_reader();
}
