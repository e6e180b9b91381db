//! The memory ceiling (`gateway.limits`): every accepted socket takes a slot when it is
//! accepted (`on_connect`) and gives it back when the connection is dropped — whatever ends
//! it — because the slot lives in the connection's extensions. A WebSocket upgrade on a
//! socket accepted above `maxConnections`, or from a client address that already holds
//! `maxConnectionsPerIp` WebSockets, is refused before the upgrade with HTTP 503, a
//! `Retry-After`, a JSON body naming the limit, and `Connection: close`, so the refused
//! socket is closed at once instead of being held.
//!
//! Why before the upgrade: a refused client learns why from the status line and body (a
//! close frame would need the upgrade, i.e. the session's buffers, first), and nothing is
//! allocated for it beyond the HTTP request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::Extensions;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

pub use crate::config::limits::ConnLimits;
use openclaw_actors::engine::PreauthRefusal;

/// Open connections, in all and WebSockets per client address.
#[derive(Debug, Default)]
pub struct Ceiling {
    limits: ConnLimits,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One accepted connection's slot, kept in its extensions (and by the session of a
/// WebSocket that took the connection over, see `super::takeover`).
pub struct ConnSlot {
    ceiling: Arc<Ceiling>,
    /// Accepted while the gateway already held `maxConnections`.
    over: bool,
    /// The client address counted for this connection's WebSocket.
    ip: Mutex<Option<IpAddr>>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.ceiling.total.fetch_sub(1, Ordering::AcqRel);
        let ip = self.ip.get_mut().ok().and_then(Option::take);
        if let Some(ip) = ip
            && let Ok(mut map) = self.ceiling.per_ip.lock()
            && let Some(n) = map.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }
}

impl Ceiling {
    /// A ceiling with these limits.
    pub fn new(limits: ConnLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            ..Self::default()
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// `HttpServer::on_connect` hook: counts the socket; its slot is freed with it.
    pub fn on_connect(self: &Arc<Self>, ext: &mut Extensions) {
        super::accept_pause::accepted();
        let before = self.total.fetch_add(1, Ordering::AcqRel);
        ext.insert(Arc::new(ConnSlot {
            ceiling: self.clone(),
            over: before >= self.limits.max_connections,
            ip: Mutex::new(None),
        }));
    }
}

/// Called before a WebSocket upgrade with the attributed client address: `Err` is the
/// response refusing it. A connection that was not counted (no hook) is let through.
pub fn admit(req: &HttpRequest, ip: IpAddr) -> Result<(), Box<HttpResponse>> {
    let Some(slot) = req.conn_data::<Arc<ConnSlot>>() else {
        return Ok(());
    };
    let limits = slot.ceiling.limits;
    if slot.over {
        return Err(refuse(
            "too_many_connections",
            &format!(
                "the gateway holds its maximum of {} connections (gateway.limits.maxConnections); retry later",
                limits.max_connections
            ),
        ));
    }
    let Ok(mut mine) = slot.ip.lock() else {
        return Ok(());
    };
    if mine.is_some() {
        return Ok(()); // one upgrade per connection; already counted
    }
    let Ok(mut map) = slot.ceiling.per_ip.lock() else {
        return Ok(());
    };
    let n = map.entry(ip).or_insert(0);
    if *n >= limits.max_connections_per_ip {
        return Err(refuse(
            "too_many_connections_per_ip",
            &format!(
                "this address holds the maximum of {} connections (gateway.limits.maxConnectionsPerIp); close some or retry later",
                limits.max_connections_per_ip
            ),
        ));
    }
    *n += 1;
    *mine = Some(ip);
    Ok(())
}

/// The answer to an upgrade refused because too many sockets are still in their handshake
/// (per client address, OpenClaw's 32, or in all, `gateway.limits.maxPreauthConnections`):
/// HTTP 503 with OpenClaw's text, `Retry-After: 1` (handshakes finish or time out within
/// seconds) and `Connection: close`; the socket is closed.
pub fn preauth_refused(why: PreauthRefusal) -> HttpResponse {
    let text = match why {
        PreauthRefusal::PerIp => "Too many unauthenticated sockets".to_owned(),
        PreauthRefusal::Total(n) => format!(
            "Too many unauthenticated sockets: the gateway holds its maximum of {n} handshakes in progress (gateway.limits.maxPreauthConnections); retry later"
        ),
        PreauthRefusal::Closed => "Gateway websocket admission closed".to_owned(),
    };
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "1"))
        .force_close()
        .content_type("text/plain; charset=utf-8")
        .body(text)
}

fn refuse(kind: &str, message: &str) -> Box<HttpResponse> {
    Box::new(
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .force_close()
            .json(json!({"error": {"type": kind, "message": message}})),
    )
}
