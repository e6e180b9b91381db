//! A forward proxy on loopback for the egress tests: HTTP `CONNECT` or SOCKS5 (RFC 1928,
//! with RFC 1929 user and password when configured), recording each tunnel's target and
//! piping bytes both ways between the client and the target over real sockets.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// Which protocol the proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP `CONNECT`.
    Http,
    /// SOCKS5.
    Socks5,
}

#[derive(Default)]
struct Seen {
    /// Targets of the tunnels opened (`host:port` as asked).
    tunnels: Vec<String>,
    /// Handshakes refused for their credentials.
    refused: usize,
}

/// A running proxy (its threads end with the test process).
pub struct TestProxy {
    addr: SocketAddr,
    kind: ProxyKind,
    seen: Arc<Mutex<Seen>>,
}

impl TestProxy {
    /// Starts a proxy of `kind`; with `creds`, only that user and password get a tunnel.
    pub fn start(kind: ProxyKind, creds: Option<(&str, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test proxy");
        let addr = listener.local_addr().expect("proxy address");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let creds = creds.map(|(u, p)| (u.to_owned(), p.to_owned()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (seen, creds) = (shared.clone(), creds.clone());
                std::thread::spawn(move || {
                    let _ = match kind {
                        ProxyKind::Http => serve_http(conn, creds.as_ref(), &seen),
                        ProxyKind::Socks5 => serve_socks(conn, creds.as_ref(), &seen),
                    };
                });
            }
        });
        Self { addr, kind, seen }
    }

    /// `http://[user:password@]127.0.0.1:PORT` (or `socks5h://…`).
    pub fn url(&self, creds: Option<(&str, &str)>) -> String {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5h",
        };
        match creds {
            Some((u, p)) => format!("{scheme}://{u}:{p}@{}", self.addr),
            None => format!("{scheme}://{}", self.addr),
        }
    }

    /// The targets of the tunnels opened so far.
    pub fn tunnels(&self) -> Vec<String> {
        self.seen
            .lock()
            .map(|s| s.tunnels.clone())
            .unwrap_or_default()
    }

    /// How many handshakes were refused for their credentials.
    pub fn refused(&self) -> usize {
        self.seen.lock().map(|s| s.refused).unwrap_or_default()
    }
}

/// Pipes both ways until either side closes; `first` is what the client sent past its
/// handshake.
fn pipe(client: TcpStream, mut upstream: TcpStream, first: &[u8]) -> std::io::Result<()> {
    upstream.write_all(first)?;
    let (mut c2, mut u2) = (client.try_clone()?, upstream.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut u2, &mut c2);
        let _ = c2.shutdown(Shutdown::Write);
    });
    let mut client = client;
    let _ = std::io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

fn serve_http(
    mut conn: TcpStream,
    creds: Option<&(String, String)>,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let end = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        conn.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    };
    if let Some((user, pass)) = creds {
        let want = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let given = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("proxy-authorization"))
            .map(|(_, v)| v.trim().to_owned());
        // The scheme name is case-insensitive; the token is not.
        let ok = given.is_some_and(|g| {
            g.len() == want.len() && g[..6].eq_ignore_ascii_case("basic ") && g[6..] == want[6..]
        });
        if !ok {
            if let Ok(mut s) = seen.lock() {
                s.refused += 1;
            }
            conn.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"it\"\r\nContent-Length: 0\r\n\r\n",
            )?;
            return Ok(());
        }
    }
    let target = target.to_owned();
    let Ok(upstream) = TcpStream::connect(&target) else {
        conn.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    };
    if let Ok(mut s) = seen.lock() {
        s.tunnels.push(target);
    }
    conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    pipe(conn, upstream, &buf[end..])
}

fn serve_socks(
    mut conn: TcpStream,
    creds: Option<&(String, String)>,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    let mut greet = [0u8; 2];
    conn.read_exact(&mut greet)?;
    let mut methods = vec![0u8; usize::from(greet[1])];
    conn.read_exact(&mut methods)?;
    if greet[0] != 5 {
        return Ok(());
    }
    match creds {
        None => conn.write_all(&[5, 0])?,
        Some((user, pass)) => {
            if !methods.contains(&2) {
                conn.write_all(&[5, 0xff])?;
                if let Ok(mut s) = seen.lock() {
                    s.refused += 1;
                }
                return Ok(());
            }
            conn.write_all(&[5, 2])?;
            let mut ver_len = [0u8; 2];
            conn.read_exact(&mut ver_len)?;
            let mut u = vec![0u8; usize::from(ver_len[1])];
            conn.read_exact(&mut u)?;
            let mut plen = [0u8; 1];
            conn.read_exact(&mut plen)?;
            let mut p = vec![0u8; usize::from(plen[0])];
            conn.read_exact(&mut p)?;
            if u != user.as_bytes() || p != pass.as_bytes() {
                if let Ok(mut s) = seen.lock() {
                    s.refused += 1;
                }
                conn.write_all(&[1, 1])?;
                return Ok(());
            }
            conn.write_all(&[1, 0])?;
        }
    }
    let mut req = [0u8; 4];
    conn.read_exact(&mut req)?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            conn.read_exact(&mut a)?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            conn.read_exact(&mut a)?;
            format!("[{}]", std::net::Ipv6Addr::from(a))
        }
        3 => {
            let mut len = [0u8; 1];
            conn.read_exact(&mut len)?;
            let mut name = vec![0u8; usize::from(len[0])];
            conn.read_exact(&mut name)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return Ok(()),
    };
    let mut port = [0u8; 2];
    conn.read_exact(&mut port)?;
    let target = format!("{host}:{}", u16::from_be_bytes(port));
    let Ok(upstream) = TcpStream::connect(&target) else {
        conn.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0])?;
        return Ok(());
    };
    if let Ok(mut s) = seen.lock() {
        s.tunnels.push(target);
    }
    conn.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    pipe(conn, upstream, &[])
}
