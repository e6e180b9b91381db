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

/// Reads what the socket has into the worker's scratch buffer and hands it to `take`:
/// `Ready(Ok(0))` is EOF.
fn read_scratch<R>(
    io: &SharedIo,
    cx: &mut TaskContext<'_>,
    take: impl FnOnce(&[u8]) -> R,
) -> Poll<io::Result<R>> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let mut rb = ReadBuf::new(&mut scratch[..]);
        let mut sock = io.borrow_mut();
        match Pin::new(&mut *sock).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(take(rb.filled()))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
}

/// Reads what the socket has into `buf`: `Ready(Ok(0))` is EOF.
fn read_some(
    io: &SharedIo,
    cx: &mut TaskContext<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    read_scratch(io, cx, |got| {
        buf.extend_from_slice(got);
        got.len()
    })
}

/// Gives an emptied buffer's memory back.
fn release_if_empty(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = BytesMut::new();
    }
}

/// Walks client frames without keeping them (after our close): O(1) memory whatever the
/// frame sizes, and notices the peer's close frame.
#[derive(Default)]
struct Skipper {
    hdr: [u8; 14],
    hlen: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// The current frame is a close frame.
    close: bool,
    /// Bytes walked so far.
    seen: usize,
}

impl Skipper {
    /// Takes over from the session's reader: walks the bytes it read and did not decode
    /// (they start at a frame boundary).
    fn after_reader(st: &OutState) -> Self {
        let mut s = Self::default();
        let rest = std::mem::take(&mut *st.rbuf.borrow_mut());
        if s.feed(&rest) {
            st.peer_closed.set(true);
        }
        s
    }

    /// Walks `b`; `true` once a whole close frame has passed.
    fn feed(&mut self, mut b: &[u8]) -> bool {
        self.seen = self.seen.saturating_add(b.len());
        while !b.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(b.len());
                b = &b[n..];
                self.skip -= n as u64;
                if self.skip == 0 && self.close {
                    return true;
                }
                continue;
            }
            self.hdr[self.hlen] = b[0];
            self.hlen += 1;
            b = &b[1..];
            if self.hlen < 2 {
                continue;
            }
            let len7 = self.hdr[1] & 0x7f;
            let ext = match len7 {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let masked = self.hdr[1] & 0x80 != 0;
            let size = 2 + ext + if masked { 4 } else { 0 };
            if self.hlen < size {
                continue;
            }
            let len = match ext {
                2 => u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])),
                8 => {
                    let mut l = [0u8; 8];
                    l.copy_from_slice(&self.hdr[2..10]);
                    u64::from_be_bytes(l)
                }
                _ => u64::from(len7),
            };
            self.close = self.hdr[0] & 0x0f == 0x8;
            self.hlen = 0;
            self.skip = len;
            if len == 0 && self.close {
                return true;
            }
        }
        false
    }
}

/// Reads what the socket has and walks it with `skip`: `Ready(Ok(0))` is EOF,
/// `Ready(Ok(usize::MAX))` the end of the peer's close frame.
fn read_discard(
    io: &SharedIo,
    cx: &mut TaskContext<'_>,
    skip: &mut Skipper,
) -> Poll<io::Result<usize>> {
    read_scratch(io, cx, |got| {
        if skip.feed(got) {
            usize::MAX
        } else {
            got.len()
        }
    })
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

/// What the peer may still send once we close before we stop reading (and dropping) it.
const DRAIN_AFTER_CLOSE: usize = 64 * 1024 * 1024;

enum OutItem {
    /// Bytes written as they are (the HTTP `101` ahead of the first frame).
    Raw(Bytes),
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
    /// `read`, and whose first bytes out are `preamble` (written whatever else happens).
    pub(super) fn with_read(read: BytesMut, preamble: Bytes) -> Self {
        let st = Self {
            rbuf: RefCell::new(read),
            ..Self::default()
        };
        if !preamble.is_empty() {
            st.queued.set(preamble.len());
            st.queue.borrow_mut().push_back(OutItem::Raw(preamble));
            st.wake.notify_one();
        }
        st
    }

    fn sub(&self, n: usize) {
        self.queued.set(self.queued.get().saturating_sub(n));
    }

    fn wake_reader(&self) {
        if let Some(w) = self.reader.try_borrow_mut().ok().and_then(|mut r| r.take()) {
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

    /// The queue's bound in bytes (`maxBufferedBytes`).
    pub(super) fn max(&self) -> usize {
        self.max
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
            OutItem::Raw(raw) => {
                b.bytes += raw.len();
                wbuf.extend_from_slice(&raw);
            }
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
/// requested while a write is blocked sets it, and wakes us to see it. Once the session
/// closed, what the peer sends meanwhile is read and dropped (`skip`), so a peer that is
/// still sending does not block on us before it reads our close.
async fn write_all(
    io: &SharedIo,
    wbuf: &mut BytesMut,
    st: &OutState,
    skip: &mut Option<Skipper>,
) -> io::Result<()> {
    loop {
        let deadline = st.close_deadline.get();
        if skip.is_none() && st.closing.get() && !st.peer_closed.get() {
            *skip = Some(Skipper::after_reader(st));
        }
        let draining = match skip.as_mut() {
            Some(s) => !st.peer_closed.get() && s.seen < DRAIN_AFTER_CLOSE,
            None => false,
        };
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
        let drain = std::future::poll_fn(|cx| match skip.as_mut() {
            Some(s) if draining => read_discard(io, cx, s),
            _ => Poll::Pending,
        });
        let done = tokio::select! {
            biased;
            r = step => Some(r),
            () = sleep_until(deadline) => return Err(io::ErrorKind::TimedOut.into()),
            // A close requested while the socket is blocked: loop to pick up its deadline.
            () = st.wake.notified(), if deadline.is_none() => None,
            r = drain, if draining => {
                match r {
                    Ok(usize::MAX) => st.peer_closed.set(true),
                    // EOF or a broken socket: stop reading; the write decides.
                    Ok(0) | Err(_) => {
                        if let Some(s) = skip.as_mut() {
                            s.seen = DRAIN_AFTER_CLOSE;
                        }
                    }
                    Ok(_) => {}
                }
                None
            }
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
/// or EOF, at most [`DRAIN_AFTER_CLOSE`] bytes in all.
async fn await_peer_close(io: &SharedIo, st: &OutState, skip: &mut Option<Skipper>) {
    let skip = skip.get_or_insert_with(|| Skipper::after_reader(st));
    while !st.peer_closed.get() && skip.seen < DRAIN_AFTER_CLOSE {
        match std::future::poll_fn(|cx| read_discard(io, cx, skip)).await {
            Ok(usize::MAX) => st.peer_closed.set(true),
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The connection's writer: runs until the socket fails or the close is done, then shuts
/// the socket down. `linger` (`EngineConfig::close_linger`) bounds the wait for the peer's
/// close frame after ours.
pub(super) async fn drive(io: SharedIo, st: Rc<OutState>, linger: Duration) {
    // However the writer ends (returns, or is dropped with its worker), the socket is shut
    // down and the session's reader sees the end.
    let _end = DriveEnd {
        io: io.clone(),
        st: st.clone(),
    };
    let mut wbuf = BytesMut::new();
    let mut closed = false;
    let mut skip: Option<Skipper> = None;
    loop {
        let Some(batch) = take_batch(&st, &mut wbuf) else {
            if st.abandoned.get() {
                break;
            }
            st.wake.notified().await;
            continue;
        };
        if write_all(&io, &mut wbuf, &st, &mut skip).await.is_err() {
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
    // Ended: pushes are refused from here on (`DriveEnd` cleans up once we return).
    st.writer_done.set(true);
    if closed && !st.peer_closed.get() {
        // RFC 6455 §7.1.1: the server closes TCP once both close frames have passed; wait
        // (bounded) for the peer's.
        // Boxed: the rare path should not size every idle connection's writer.
        let _ = tokio::time::timeout(linger, Box::pin(await_peer_close(&io, &st, &mut skip))).await;
    }
    if closed {
        // TLS: close_notify; TCP: FIN. Bounded: the peer may not read.
        let shutdown = std::future::poll_fn(|cx| {
            let mut sock = io.borrow_mut();
            Pin::new(&mut *sock).poll_shutdown(cx)
        });
        let _ = tokio::time::timeout(Duration::from_millis(100), shutdown).await;
    }
}

/// The end of a connection's writer (see [`drive`]).
struct DriveEnd {
    io: SharedIo,
    st: Rc<OutState>,
}

impl Drop for DriveEnd {
    fn drop(&mut self) {
        let st = &self.st;
        st.writer_done.set(true);
        if let Ok(mut q) = st.queue.try_borrow_mut() {
            q.clear();
        }
        if let Ok(sock) = self.io.try_borrow() {
            sock.shutdown_both();
        }
        if let Ok(mut buf) = st.rbuf.try_borrow_mut() {
            *buf = BytesMut::new();
        }
        // Release a reader parked on an unsendable pong, so it sees the end of the stream
        // and the session stops.
        if let Ok(mut pong) = st.pong.try_borrow_mut() {
            pong.take();
        }
        st.pong_since.set(None);
        st.wake_reader();
    }
}

#[cfg(test)]
mod tests {
    use super::Skipper;

    fn frame(op: u8, len: usize, masked: bool) -> Vec<u8> {
        let mut f = vec![0x80 | op];
        let m = if masked { 0x80 } else { 0 };
        if len < 126 {
            f.push(m | len as u8);
        } else if len <= 0xffff {
            f.push(m | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            f.push(m | 127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
        if masked {
            f.extend_from_slice(&[1, 2, 3, 4]);
        }
        f.extend(std::iter::repeat_n(0x88u8, len));
        f
    }

    /// Frames of every length class, fed in every split, are walked without being kept;
    /// only a whole close frame counts (a close opcode byte inside a payload does not).
    #[test]
    fn the_skipper_walks_frames_of_any_size_and_finds_the_close() {
        let mut bytes = Vec::new();
        for (op, len) in [(1, 0), (1, 125), (2, 126), (1, 65_535), (2, 65_536), (9, 3)] {
            bytes.extend(frame(op, len, true));
        }
        let before_close = bytes.len();
        bytes.extend(frame(8, 2, true));
        for chunk in [1, 2, 3, 7, 13, 4096, bytes.len()] {
            let mut s = Skipper::default();
            let mut at = None;
            for (i, c) in bytes.chunks(chunk).enumerate() {
                if s.feed(c) {
                    at = Some((i + 1) * chunk);
                    break;
                }
            }
            let at = at.unwrap_or_else(|| panic!("no close found with chunks of {chunk}"));
            assert!(
                at >= bytes.len() && at < bytes.len() + chunk,
                "chunk {chunk}: at {at}"
            );
            assert_eq!(s.seen, at.min(bytes.len()));
        }
        let mut s = Skipper::default();
        assert!(!s.feed(&bytes[..before_close]));
        // An empty close frame (no code) counts too, unmasked as well.
        assert!(Skipper::default().feed(&frame(8, 0, false)));
        assert!(!Skipper::default().feed(&frame(8, 2, true)[..7]));
    }
}
