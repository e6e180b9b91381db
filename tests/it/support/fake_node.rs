//! A scripted fake node: connects with `role: node` and a signed Ed25519 device proof, then
//! answers `node.invoke.request` events as its [`Script`] says (echo, fixed reply, node error,
//! delay, never answer, close the socket, or hold a batch and answer it in reverse order).
//!
//! The node runs as a local task on the test's actix runtime. The test talks to it through
//! [`FakeNode`]: requests the node should send (`node.event`, hand-made `node.invoke.result`),
//! every frame the gateway pushed to it (events, acks), and the invoke requests it saw.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::{sleep, timeout};
use openclaw::actors::identity::DeviceKey;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::{Incoming, WAIT, WsClient, now_ms};

/// A fresh random device key.
pub fn random_key() -> DeviceKey {
    openclaw::client::identity::random_key().expect("OS random number generator")
}

/// Which signature payload to sign (`V3`, or the legacy `V2`).
pub use openclaw::client::connect::Payload as Sig;

/// Adds `device` to `params`: `key` signs the payload (built by the gateway crate's own
/// `payload_v3`/`payload_v2` from the params as they will be sent) over `nonce` and
/// `signed_at` — the shared client's [`openclaw::client::connect::sign`].
pub fn sign_device(params: &mut Value, key: &DeviceKey, nonce: &str, signed_at: u64, sig: Sig) {
    openclaw::client::connect::sign(params, key, nonce, signed_at, sig)
        .unwrap_or_else(|e| panic!("test connect params do not sign ({e}): {params}"));
}

/// `connect` params for a node (`node-host`/`node`, platform linux) declaring `commands`,
/// authenticated with the shared `auth` object (no device yet).
pub fn node_connect_params(commands: &[&str], auth: Value) -> Value {
    json!({
        "minProtocol": 4,
        "maxProtocol": 4,
        "client": {
            "id": "node-host",
            "displayName": "it-fake-node",
            "version": "0.0.1-it",
            "platform": "linux",
            "deviceFamily": "Linux",
            "mode": "node",
        },
        "role": "node",
        "scopes": [],
        "caps": ["system"],
        "commands": commands,
        "pathEnv": "/usr/bin:/bin",
        "auth": auth,
    })
}

/// What the node does with one `node.invoke.request`.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answers ok with `{"echo": <params>, "command": <command>}`.
    Echo,
    /// Answers ok with this payload (sent as `payloadJSON`).
    Reply(Value),
    /// Answers `ok: false` with `error: {code, message}`.
    Error {
        /// Node error code.
        code: String,
        /// Node error message.
        message: String,
    },
    /// Does the inner action after a delay.
    Delay(Duration, Box<Action>),
    /// Never answers.
    Never,
    /// Closes its socket (1000) instead of answering.
    Close,
    /// Holds the request until this many are held, then echoes them all in reverse order.
    HoldThenReverse(usize),
}

/// Decides the action for an invoke request (the event payload).
pub type Script = Rc<dyn Fn(&Value) -> Action>;

/// A script that does `action` for every request.
pub fn always(action: Action) -> Script {
    Rc::new(move |_| action.clone())
}

/// The echo payload the node sends for `req` (an invoke request payload).
pub fn echo_payload(req: &Value) -> Value {
    let params = req["paramsJSON"]
        .as_str()
        .map(|s| serde_json::from_str::<Value>(s).expect("paramsJSON is JSON"))
        .unwrap_or(Value::Null);
    json!({"echo": params, "command": req["command"]})
}

enum Cmd {
    Request {
        method: String,
        params: Value,
        reply: oneshot::Sender<Value>,
    },
    Answer {
        req: Value,
        action: Action,
    },
    Close,
}

/// A connected fake node.
pub struct FakeNode {
    /// Its node id (= device id).
    pub node_id: String,
    /// The `hello-ok` payload it got.
    pub hello: Value,
    /// Every `node.invoke.request` payload it received, in order.
    pub requests: Rc<RefCell<Vec<Value>>>,
    /// The gateway's acks to the `node.invoke.result` requests the script sent (also
    /// delivered in order by [`Self::ack_within`]).
    pub acks: Rc<RefCell<Vec<Value>>>,
    inbox: mpsc::UnboundedReceiver<Value>,
    backlog: Vec<Value>,
    cmds: mpsc::UnboundedSender<Cmd>,
    closed: Rc<RefCell<Option<Incoming>>>,
}

impl FakeNode {
    /// Connects a node with `key`, the shared token `token` and `commands`, and starts
    /// answering with `script`. Panics unless the handshake succeeds.
    pub async fn connect(
        port: u16,
        key: &DeviceKey,
        token: &str,
        commands: &[&str],
        script: Script,
    ) -> Self {
        let params = node_connect_params(commands, json!({"token": token}));
        Self::connect_with(port, key, params, script)
            .await
            .unwrap_or_else(|err| panic!("fake node handshake failed: {err}"))
    }

    /// Connects with explicit (unsigned) `params`; signs them (v3) with the challenge nonce.
    /// `Err` carries the failed `res` frame.
    pub async fn connect_with(
        port: u16,
        key: &DeviceKey,
        mut params: Value,
        script: Script,
    ) -> Result<Self, Value> {
        let (mut ws, challenge) = WsClient::open_challenged(port).await;
        let nonce = challenge["payload"]["nonce"]
            .as_str()
            .expect("challenge nonce")
            .to_owned();
        sign_device(&mut params, key, &nonce, now_ms(), Sig::V3);
        let res = ws.connect(params).await;
        if res["ok"] != true {
            return Err(res);
        }
        let hello = res["payload"].clone();
        let node_id = key.device_id();
        let requests = Rc::new(RefCell::new(Vec::new()));
        let acks = Rc::new(RefCell::new(Vec::new()));
        let closed = Rc::new(RefCell::new(None));
        let (inbox_tx, inbox) = mpsc::unbounded_channel();
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let task = NodeTask {
            ws,
            node_id: node_id.clone(),
            script,
            requests: requests.clone(),
            acks: acks.clone(),
            closed: closed.clone(),
            inbox: inbox_tx,
            cmd_tx: cmds.clone(),
            pending: std::collections::HashMap::new(),
            held: Vec::new(),
            next_id: 0,
        };
        actix_web::rt::spawn(task.run(cmd_rx));
        Ok(Self {
            node_id,
            hello,
            requests,
            acks,
            inbox,
            backlog: Vec::new(),
            cmds,
            closed,
        })
    }

    /// Sends a request from the node and waits (bounded) for the gateway's answer.
    pub async fn request(&self, method: &str, params: Value) -> Value {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Cmd::Request {
                method: method.to_owned(),
                params,
                reply: tx,
            })
            .unwrap_or_else(|_| panic!("fake node is gone; cannot send {method}"));
        timeout(WAIT, rx)
            .await
            .unwrap_or_else(|_| panic!("no answer to the node's {method} within {WAIT:?}"))
            .unwrap_or_else(|_| panic!("fake node closed before the answer to {method}"))
    }

    /// Waits (bounded) for the next frame named `event` pushed to the node.
    pub async fn event_within(&mut self, event: &str, limit: Duration) -> Value {
        if let Some(i) = self.backlog.iter().position(|v| v["event"] == event) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.inbox.recv()).await {
                Ok(Some(v)) if v["event"] == event => return v,
                Ok(Some(v)) => self.backlog.push(v),
                Ok(None) => panic!("fake node closed while waiting for {event:?}"),
                Err(_) => panic!(
                    "fake node got no {event:?} within {limit:?}; it saw {:?}",
                    self.backlog
                ),
            }
        }
    }

    /// Every frame pushed to the node that is already here (never waits).
    pub fn drain(&mut self) -> Vec<Value> {
        let mut out = std::mem::take(&mut self.backlog);
        while let Ok(v) = self.inbox.try_recv() {
            out.push(v);
        }
        out
    }

    /// Waits (bounded) for the gateway's next ack (`res`) to a result the node sent by itself.
    pub async fn ack_within(&mut self, limit: Duration) -> Value {
        if let Some(i) = self.backlog.iter().position(|v| v["type"] == "res") {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.inbox.recv()).await {
                Ok(Some(v)) if v["type"] == "res" => return v,
                Ok(Some(v)) => self.backlog.push(v),
                Ok(None) => panic!("fake node closed while waiting for an ack"),
                Err(_) => panic!("fake node got no ack within {limit:?}"),
            }
        }
    }

    /// Waits (bounded) until the node's socket has ended; returns how (close frame or EOF).
    pub async fn closed_within(&mut self, limit: Duration) -> Incoming {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(c) = self.closed.borrow().clone() {
                return c;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.inbox.recv()).await {
                Ok(Some(v)) => self.backlog.push(v),
                Ok(None) => {
                    return self.closed.borrow().clone().unwrap_or(Incoming::Eof);
                }
                Err(_) => panic!("fake node socket still open after {limit:?}"),
            }
        }
    }

    /// Closes the node's socket.
    pub fn close(&self) {
        let _ = self.cmds.send(Cmd::Close);
    }

    /// The command of every invoke request, in order.
    pub fn commands_seen(&self) -> Vec<String> {
        self.requests
            .borrow()
            .iter()
            .filter_map(|r| r["command"].as_str().map(str::to_owned))
            .collect()
    }

    /// How many invoke requests carried `idempotency_key`.
    pub fn requests_with_key(&self, idempotency_key: &str) -> usize {
        self.requests
            .borrow()
            .iter()
            .filter(|r| r["idempotencyKey"] == idempotency_key)
            .count()
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        let _ = self.cmds.send(Cmd::Close);
    }
}

struct NodeTask {
    ws: WsClient,
    node_id: String,
    script: Script,
    requests: Rc<RefCell<Vec<Value>>>,
    acks: Rc<RefCell<Vec<Value>>>,
    closed: Rc<RefCell<Option<Incoming>>>,
    inbox: mpsc::UnboundedSender<Value>,
    cmd_tx: mpsc::UnboundedSender<Cmd>,
    pending: std::collections::HashMap<String, oneshot::Sender<Value>>,
    held: Vec<Value>,
    next_id: u64,
}

enum Step {
    Frame(Incoming),
    Cmd(Option<Cmd>),
}

impl NodeTask {
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        loop {
            let step = tokio::select! {
                f = self.ws.recv() => Step::Frame(f),
                c = cmds.recv() => Step::Cmd(c),
            };
            let keep_going = match step {
                Step::Frame(Incoming::Json(v)) => self.on_frame(v).await,
                Step::Frame(Incoming::Text(_)) => true,
                Step::Frame(end @ (Incoming::Close { .. } | Incoming::Eof)) => {
                    *self.closed.borrow_mut() = Some(end);
                    false
                }
                Step::Cmd(None | Some(Cmd::Close)) => {
                    self.ws.close().await;
                    *self.closed.borrow_mut() = Some(Incoming::Close {
                        code: Some(1000),
                        reason: "closed by the fake node".into(),
                    });
                    false
                }
                Step::Cmd(Some(Cmd::Request {
                    method,
                    params,
                    reply,
                })) => {
                    let id = self.send(&method, params).await;
                    self.pending.insert(id, reply);
                    true
                }
                Step::Cmd(Some(Cmd::Answer { req, action })) => self.act(req, action).await,
            };
            if !keep_going {
                break;
            }
        }
        // Dropping the socket and the inbox sender tells the handle we are gone.
    }

    async fn send(&mut self, method: &str, params: Value) -> String {
        self.next_id += 1;
        let id = format!("node-{}", self.next_id);
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.ws.send_json(&frame).await;
        id
    }

    async fn on_frame(&mut self, v: Value) -> bool {
        if v["type"] == "res" {
            let id = v["id"].as_str().unwrap_or_default().to_owned();
            match self.pending.remove(&id) {
                Some(reply) => {
                    let _ = reply.send(v);
                }
                None => {
                    self.acks.borrow_mut().push(v.clone());
                    let _ = self.inbox.send(v);
                }
            }
            return true;
        }
        if v["type"] == "event" && v["event"] == "node.invoke.request" {
            let req = v["payload"].clone();
            self.requests.borrow_mut().push(req.clone());
            let _ = self.inbox.send(v);
            let action = (self.script)(&req);
            return self.act(req, action).await;
        }
        let _ = self.inbox.send(v);
        true
    }

    async fn act(&mut self, req: Value, action: Action) -> bool {
        match action {
            Action::Echo => {
                let payload = echo_payload(&req);
                self.answer_ok(&req, &payload).await;
            }
            Action::Reply(payload) => self.answer_ok(&req, &payload).await,
            Action::Error { code, message } => {
                let params = json!({
                    "id": req["id"],
                    "nodeId": self.node_id,
                    "ok": false,
                    "error": {"code": code, "message": message},
                });
                self.send("node.invoke.result", params).await;
            }
            Action::Delay(d, inner) => {
                let tx = self.cmd_tx.clone();
                actix_web::rt::spawn(async move {
                    sleep(d).await;
                    let _ = tx.send(Cmd::Answer {
                        req,
                        action: *inner,
                    });
                });
            }
            Action::Never => {}
            Action::Close => {
                self.ws.close().await;
                *self.closed.borrow_mut() = Some(Incoming::Close {
                    code: Some(1000),
                    reason: "closed by the fake node".into(),
                });
                return false;
            }
            Action::HoldThenReverse(n) => {
                self.held.push(req);
                if self.held.len() >= n {
                    let held = std::mem::take(&mut self.held);
                    for r in held.into_iter().rev() {
                        let payload = echo_payload(&r);
                        self.answer_ok(&r, &payload).await;
                    }
                }
            }
        }
        true
    }

    async fn answer_ok(&mut self, req: &Value, payload: &Value) {
        let params = json!({
            "id": req["id"],
            "nodeId": self.node_id,
            "ok": true,
            "payloadJSON": payload.to_string(),
        });
        self.send("node.invoke.result", params).await;
    }
}
