//! A minimal raw-frame WebSocket client for holding many authenticated connections cheaply
//! (`load_bench`): a plain tokio `TcpStream` bound to a chosen loopback source address, a
//! hand-written upgrade request, the v4 handshake (`connect.challenge` → `connect` →
//! `hello-ok`) and a hold loop that reads and discards events and answers pings. No codec or
//! HTTP client state per connection: a held connection costs the load generator its socket,
//! its task and a small read buffer, so 15 000 of them fit on one thread.
//!
//! Only what the gateway sends is parsed: unfragmented, unmasked server frames up to
//! [`MAX_FRAME`]. Client frames are masked (RFC 6455 §5.3). Every await is bounded by the
//! caller's timeout.

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use actix_web::rt::time::timeout;
use anyhow::{Context as _, Result, anyhow, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

use super::Head;

/// Largest server frame accepted (events to an operator.read client are small).
pub const MAX_FRAME: usize = 1 << 20;

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;

/// One raw connection.
pub struct RawConn {
    stream: TcpStream,
    /// Unparsed bytes read from the socket.
    buf: Vec<u8>,
    mask: [u8; 4],
}

/// What one server frame was.
pub enum RawFrame {
    Text(Vec<u8>),
    Ping(Vec<u8>),
    Close,
    Other,
}

/// Traffic seen by held connections.
#[derive(Default)]
pub struct HoldStats {
    pub events: Cell<u64>,
    pub bytes: Cell<u64>,
    pub pings: Cell<u64>,
    /// Closed by the gateway (or the socket failed) while held.
    pub lost: Cell<usize>,
}

impl RawConn {
    /// TCP from `src` to `dst`, then the WebSocket upgrade (`Host: 127.0.0.1:PORT`).
    pub async fn open(src: IpAddr, dst: SocketAddr, io: Duration, seed: u32) -> Result<Self> {
        let mut c = Self::tcp(src, dst, io, seed).await?;
        c.upgrade(dst.port(), io).await?;
        Ok(c)
    }

    /// Only the TCP connection from `src` to `dst` (no HTTP request yet).
    pub async fn tcp(src: IpAddr, dst: SocketAddr, io: Duration, seed: u32) -> Result<Self> {
        let sock = TcpSocket::new_v4().context("socket")?;
        sock.bind(SocketAddr::new(src, 0))
            .with_context(|| format!("binding to {src}"))?;
        let stream = timeout(io, sock.connect(dst))
            .await
            .map_err(|_| anyhow!("TCP connect timed out after {io:?}"))?
            .with_context(|| format!("TCP connect {src} → {dst}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
            mask: seed.wrapping_mul(2_654_435_761).to_le_bytes(),
        })
    }

    /// The WebSocket upgrade request and its `101` response.
    pub async fn upgrade(&mut self, port: u16, io: Duration) -> Result<()> {
        let c = self;
        let req = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            port
        );
        timeout(io, c.stream.write_all(req.as_bytes()))
            .await
            .map_err(|_| anyhow!("upgrade request timed out"))??;
        let head_end = timeout(io, async {
            loop {
                if let Some(i) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    return Ok(i + 4);
                }
                if c.buf.len() > 16 * 1024 {
                    bail!("upgrade response head over 16 KiB");
                }
                c.fill().await?;
            }
        })
        .await
        .map_err(|_| anyhow!("no upgrade response within {io:?}"))??;
        if !c.buf.starts_with(b"HTTP/1.1 101") {
            let line = c.buf.split(|&b| b == b'\r').next().unwrap_or_default();
            bail!("upgrade refused: {}", String::from_utf8_lossy(line));
        }
        c.buf.drain(..head_end);
        Ok(())
    }

    /// Reads more bytes into `buf`; an error at EOF.
    async fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 2048];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed (EOF)");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// One complete frame from `buf`, if there is one.
    fn parse(&mut self) -> Result<Option<RawFrame>> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, op) = (b[0] & 0x80 != 0, b[0] & 0x0f);
        if b[1] & 0x80 != 0 {
            bail!("server frame is masked");
        }
        let (len, hdr) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (
                    usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                    10,
                )
            }
            126 | 127 => return Ok(None),
            n => (n as usize, 2),
        };
        if len > MAX_FRAME {
            bail!("server frame of {len} bytes exceeds {MAX_FRAME}");
        }
        if !fin {
            bail!("fragmented server frame");
        }
        if b.len() < hdr + len {
            return Ok(None);
        }
        let payload = b[hdr..hdr + len].to_vec();
        self.buf.drain(..hdr + len);
        if self.buf.is_empty() && self.buf.capacity() > 4096 {
            self.buf = Vec::new();
        }
        Ok(Some(match op {
            OP_TEXT => RawFrame::Text(payload),
            OP_PING => RawFrame::Ping(payload),
            OP_CLOSE => RawFrame::Close,
            _ => RawFrame::Other,
        }))
    }

    /// The next frame (waits as long as it takes: callers bound it).
    pub async fn next(&mut self) -> Result<RawFrame> {
        loop {
            if let Some(f) = self.parse()? {
                return Ok(f);
            }
            self.fill().await?;
        }
    }

    /// Sends one masked frame.
    pub async fn send(&mut self, op: u8, payload: &[u8]) -> Result<()> {
        let mut f = Vec::with_capacity(payload.len() + 14);
        f.push(0x80 | op);
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&self.mask);
        f.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ self.mask[i % 4]),
        );
        self.stream.write_all(&f).await?;
        Ok(())
    }

    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.send(OP_TEXT, text.as_bytes()).await
    }

    /// Next text frame (pings answered, other control frames skipped; close is an error).
    pub async fn next_text(&mut self) -> Result<Vec<u8>> {
        loop {
            match self.next().await? {
                RawFrame::Text(t) => return Ok(t),
                RawFrame::Ping(p) => self.send(0xA, &p).await?,
                RawFrame::Close => bail!("gateway closed the connection"),
                RawFrame::Other => {}
            }
        }
    }

    /// `connect.challenge` → `connect` (`connect_params`: a JSON object) → `hello-ok`.
    pub async fn handshake(&mut self, connect_params: &str, io: Duration) -> Result<()> {
        timeout(io, async {
            let first = self.next_text().await?;
            let h: Head = serde_json::from_slice(&first).context("challenge frame")?;
            if h.event.as_deref() != Some("connect.challenge") {
                bail!("first frame is not connect.challenge");
            }
            let req = format!(
                r#"{{"type":"req","id":"c","method":"connect","params":{connect_params}}}"#
            );
            self.send_text(&req).await?;
            for _ in 0..100 {
                let b = self.next_text().await?;
                let h: Head = serde_json::from_slice(&b).context("handshake frame")?;
                if h.kind == "res" && h.id.as_deref() == Some("c") {
                    if h.ok != Some(true) {
                        bail!(
                            "connect rejected: {}",
                            h.error.unwrap_or(serde_json::Value::Null)
                        );
                    }
                    return Ok(());
                }
            }
            bail!("no connect response among 100 frames")
        })
        .await
        .map_err(|_| anyhow!("handshake timed out after {io:?}"))?
    }

    /// Holds the connection until `stop` changes: reads and counts events, answers pings.
    /// Then sends a Close frame and waits (at most `close_wait`) for the gateway's.
    pub async fn hold(
        mut self,
        mut stop: watch::Receiver<bool>,
        stats: std::rc::Rc<HoldStats>,
        close_wait: Duration,
    ) {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                f = self.next() => match f {
                    Ok(RawFrame::Text(t)) => {
                        stats.events.set(stats.events.get() + 1);
                        stats.bytes.set(stats.bytes.get() + t.len() as u64);
                    }
                    Ok(RawFrame::Ping(p)) => {
                        stats.pings.set(stats.pings.get() + 1);
                        if self.send(0xA, &p).await.is_err() {
                            stats.lost.set(stats.lost.get() + 1);
                            return;
                        }
                    }
                    Ok(RawFrame::Other) => {}
                    Ok(RawFrame::Close) | Err(_) => {
                        stats.lost.set(stats.lost.get() + 1);
                        return;
                    }
                },
            }
        }
        if self.send(OP_CLOSE, &1000u16.to_be_bytes()).await.is_err() {
            return;
        }
        let _ = timeout(close_wait, async {
            while let Ok(f) = self.next().await {
                if matches!(f, RawFrame::Close) {
                    break;
                }
            }
        })
        .await;
    }
}
