//! The managed SSH tunnel (`gateway.remote.transport: "ssh"`): the CLI runs the system
//! OpenSSH client as `ssh -N -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE_PORT user@host`, waits until
//! the forwarded port answers, and talks to `ws://127.0.0.1:LOCAL` through it.
//!
//! - **Host keys are strict by default** (`sshHostKeyPolicy: "strict"`): ssh runs with
//!   `-F none`, `BatchMode=yes`, `StrictHostKeyChecking=yes` and our own known-hosts file
//!   (`sshKnownHostsFile`, default `$OPENCLAW_STATE_DIR/ssh/known_hosts`), so neither the
//!   user's ssh config nor a prompt can trust a new key silently. An unknown host fails with
//!   the presented key's fingerprint (from `ssh-keyscan`) and the command that trusts it:
//!   `openclaw gateway tunnel --trust-host-key SHA256:…`. `openssh` defers to the user's own
//!   ssh configuration.
//! - **Reuse**: `openclaw gateway tunnel` holds a tunnel open in the foreground and records it
//!   in `$OPENCLAW_STATE_DIR/ssh/tunnel-<id>.json` (ssh pid and local port); other CLI
//!   commands with the same target use it while its ssh process lives and its port answers.
//!   Otherwise a command opens its own tunnel and closes it (SIGTERM) when it finishes.
//! - **Failures name the cause**: authentication, unknown or changed host key, sshd
//!   unreachable, nothing listening on the remote port, local port taken.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::config::remote::{HostKeyPolicy, RemoteCfg};

/// How long to wait for ssh to connect and the forwarded port to answer.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the ssh stderr we keep.
const STDERR_MAX: usize = 16 * 1024;

/// Where and how to tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// `user@host` or `host` as given (without the port).
    pub destination: String,
    /// The host part.
    pub host: String,
    /// sshd port (`-p`), when given.
    pub ssh_port: Option<u16>,
    /// `-i` key.
    pub identity: Option<PathBuf>,
    /// The gateway's port on the ssh host.
    pub remote_port: u16,
    /// Local port of the forward (from a loopback `gateway.remote.url`), else picked.
    pub local_port: Option<u16>,
    /// Host key policy.
    pub policy: HostKeyPolicy,
    /// Known-hosts file under `strict`.
    pub known_hosts: PathBuf,
}

/// Parses `user@host[:port]` (IPv6 as `user@[::1]:port`). Refuses anything ssh could read
/// as an option or that holds whitespace or control characters.
pub fn parse_target(target: &str) -> Result<(String, String, Option<u16>), String> {
    let bad = || {
        format!(
            "gateway.remote.sshTarget {target:?} is not user@host[:port]. Fix: e.g. \"deploy@gateway.example.com\" or \"deploy@203.0.113.7:2222\""
        )
    };
    let t = target;
    if t.is_empty()
        || t.starts_with('-')
        || t.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"')
    {
        return Err(bad());
    }
    let (user, hostport) = match t.rsplit_once('@') {
        Some((u, h)) => {
            if u.is_empty() || u.starts_with('-') || u.contains('@') {
                return Err(bad());
            }
            (Some(u), h)
        }
        None => (None, t),
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (h, None),
            p => (
                h,
                Some(
                    p.strip_prefix(':')
                        .and_then(|p| p.parse::<u16>().ok())
                        .ok_or_else(bad)?,
                ),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
            Some(_) => return Err(bad()),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.starts_with('-') || port == Some(0) {
        return Err(bad());
    }
    let destination = match user {
        Some(u) => format!("{u}@{host}"),
        None => host.to_owned(),
    };
    Ok((destination, host.to_owned(), port))
}

/// The port of a `ws://127.0.0.1:PORT`-style URL, when it has one.
fn url_port(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let port = authority.rsplit_once(':')?.1;
    port.parse().ok()
}

/// The tunnel spec from `gateway.remote`; `Err` names the key to fix.
pub fn spec_from(remote: &RemoteCfg, state_dir: &Path) -> Result<Spec, String> {
    let target = remote.ssh_target.as_deref().ok_or(
        "gateway.remote.transport is \"ssh\" but gateway.remote.sshTarget is not set. Fix: set gateway.remote.sshTarget to user@gateway-host[:sshPort]",
    )?;
    let (destination, host, ssh_port) = parse_target(target)?;
    let local_port = match &remote.url {
        Some(url) => {
            if !crate::client::is_loopback_url(url) || !url.starts_with("ws://") {
                return Err(format!(
                    "gateway.remote.url {url:?} must be a local ws://127.0.0.1:PORT URL with transport \"ssh\" (it is the tunnel's local end). Fix: remove gateway.remote.url or set it to ws://127.0.0.1:18789"
                ));
            }
            url_port(url)
        }
        None => None,
    };
    let remote_port = remote
        .remote_port
        .or(local_port)
        .unwrap_or(crate::config::DEFAULT_PORT);
    if remote_port == 0 {
        return Err("gateway.remote.remotePort must be 1-65535".into());
    }
    Ok(Spec {
        destination,
        host,
        ssh_port,
        identity: remote.ssh_identity.as_ref().map(PathBuf::from),
        remote_port,
        local_port,
        policy: remote.ssh_host_key_policy.unwrap_or_default(),
        known_hosts: remote
            .ssh_known_hosts_file
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| default_known_hosts(state_dir)),
    })
}

/// `$OPENCLAW_STATE_DIR/ssh/known_hosts`.
pub fn default_known_hosts(state_dir: &Path) -> PathBuf {
    state_dir.join("ssh").join("known_hosts")
}

impl Spec {
    /// The `ssh` arguments for a forward from `local_port`.
    pub fn ssh_args(&self, local_port: u16) -> Vec<String> {
        let mut a: Vec<String> = vec!["-N".into()];
        if self.policy == HostKeyPolicy::Strict {
            a.extend(
                [
                    "-F",
                    "none",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "StrictHostKeyChecking=yes",
                ]
                .map(String::from),
            );
            a.push("-o".into());
            a.push(format!(
                "UserKnownHostsFile={}",
                ssh_config_path(&self.known_hosts)
            ));
            a.extend(
                [
                    "-o",
                    "GlobalKnownHostsFile=/dev/null",
                    "-o",
                    "UpdateHostKeys=no",
                    "-o",
                    "CheckHostIP=no",
                ]
                .map(String::from),
            );
        }
        a.extend(
            [
                "-o",
                "ExitOnForwardFailure=yes",
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "ServerAliveCountMax=3",
                "-o",
                "ConnectTimeout=10",
            ]
            .map(String::from),
        );
        if let Some(id) = &self.identity {
            a.push("-i".into());
            a.push(id.display().to_string());
            a.push("-o".into());
            a.push("IdentitiesOnly=yes".into());
        }
        if let Some(p) = self.ssh_port {
            a.push("-p".into());
            a.push(p.to_string());
        }
        a.push("-L".into());
        a.push(format!(
            "127.0.0.1:{local_port}:127.0.0.1:{}",
            self.remote_port
        ));
        a.push("--".into());
        a.push(self.destination.clone());
        a
    }

    /// `host` or `[host]:port` as known-hosts files name it.
    pub fn known_hosts_name(&self) -> String {
        match self.ssh_port {
            Some(p) if p != 22 => format!("[{}]:{p}", self.host),
            _ => self.host.clone(),
        }
    }

    /// `user@host[:port]` for messages.
    pub fn display(&self) -> String {
        match self.ssh_port {
            Some(p) => format!("{}:{p}", self.destination),
            None => self.destination.clone(),
        }
    }

    /// A stable id of what this tunnel reaches (for the reuse record).
    fn id(&self) -> String {
        let text = format!(
            "{}|{:?}|{}|{:?}",
            self.destination, self.ssh_port, self.remote_port, self.policy
        );
        openclaw_actors::identity::hex(&Sha256::digest(text.as_bytes()))[..16].to_owned()
    }
}

/// A path as an ssh option value: `%` escaped (ssh expands `%d`, `%u`, … there) and quoted
/// (the option takes a whitespace-separated list, and a home dir may hold spaces).
fn ssh_config_path(path: &Path) -> String {
    let p = path.display().to_string().replace('%', "%%");
    format!("\"{p}\"")
}

/// A presented host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// `ssh-ed25519`, …
    pub key_type: String,
    /// The key blob, base64.
    pub blob: String,
    /// `SHA256:<base64, no padding>` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

/// `SHA256:…` of a base64 key blob, as OpenSSH prints it.
pub fn fingerprint_of_blob(blob_b64: &str) -> Option<String> {
    let blob = base64::engine::general_purpose::STANDARD
        .decode(blob_b64)
        .ok()?;
    Some(format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(&blob))
    ))
}

/// Parses `ssh-keyscan` output (`host keytype blob` lines; comments skipped).
pub fn parse_keyscan(text: &str) -> Vec<HostKey> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let _host = parts.next()?;
            let key_type = parts.next()?.to_owned();
            let blob = parts.next()?.to_owned();
            let fingerprint = fingerprint_of_blob(&blob)?;
            Some(HostKey {
                key_type,
                blob,
                fingerprint,
            })
        })
        .collect()
}

/// The keys the ssh server presents, via `ssh-keyscan` (bounded).
pub async fn scan_host_keys(spec: &Spec) -> Result<Vec<HostKey>, String> {
    let mut cmd = tokio::process::Command::new("ssh-keyscan");
    cmd.args(["-T", "5"]);
    if let Some(p) = spec.ssh_port {
        cmd.args(["-p", &p.to_string()]);
    }
    cmd.arg("--")
        .arg(&spec.host)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = actix_web::rt::time::timeout(Duration::from_secs(15), cmd.output())
        .await
        .map_err(|_| format!("ssh-keyscan {} did not finish in 15 s", spec.display()))?
        .map_err(|e| format!("cannot run ssh-keyscan (part of the OpenSSH client): {e}"))?;
    let keys = parse_keyscan(&String::from_utf8_lossy(&out.stdout));
    if keys.is_empty() {
        return Err(format!(
            "ssh-keyscan got no host key from {}",
            spec.known_hosts_name()
        ));
    }
    Ok(keys)
}

/// Adds the presented key whose fingerprint is `fingerprint` to the known-hosts file
/// (created 0600 in a 0700 directory). `Err` when the server presents no such key.
pub async fn trust_host_key(spec: &Spec, fingerprint: &str) -> Result<HostKey, String> {
    let want = fingerprint.trim();
    if !want.starts_with("SHA256:") {
        return Err(format!(
            "--trust-host-key {want:?} is not an OpenSSH SHA-256 fingerprint. Fix: pass it as printed, e.g. SHA256:abc…"
        ));
    }
    let keys = scan_host_keys(spec).await?;
    let key = keys
        .iter()
        .find(|k| k.fingerprint == want)
        .cloned()
        .ok_or_else(|| {
            format!(
                "{} did not present a host key with fingerprint {want}; it presented: {}. Nothing was trusted. Fix: compare with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the gateway host",
                spec.known_hosts_name(),
                keys.iter()
                    .map(|k| format!("{} {}", k.key_type, k.fingerprint))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    append_known_host(&spec.known_hosts, &spec.known_hosts_name(), &key)?;
    Ok(key)
}

fn append_known_host(file: &Path, name: &str, key: &HostKey) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    writeln!(f, "{name} {} {}", key.key_type, key.blob)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// A running tunnel (ours, or a live one we reuse).
pub struct Tunnel {
    /// The local end.
    pub local_port: u16,
    /// Our ssh child; `None` when reusing another process's tunnel.
    child: Option<tokio::process::Child>,
    /// The reuse record we wrote (removed on close).
    record: Option<PathBuf>,
    /// What ssh printed on stderr (bounded).
    stderr: Arc<Mutex<String>>,
    /// ssh's stderr is at its end (the process closed it): all it printed is read.
    stderr_done: Arc<std::sync::atomic::AtomicBool>,
}

impl Tunnel {
    /// `ws://127.0.0.1:LOCAL`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.local_port)
    }

    /// Whether this reuses another process's tunnel.
    pub fn reused(&self) -> bool {
        self.child.is_none()
    }

    /// The ssh pid (ours).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(tokio::process::Child::id)
    }

    /// Writes the reuse record for this tunnel (`gateway tunnel`).
    pub fn publish(&mut self, spec: &Spec, state_dir: &Path) -> Result<PathBuf, String> {
        let pid = self.pid().ok_or("no ssh process to publish")?;
        let path = record_path(spec, state_dir);
        let body = serde_json::json!({"pid": pid, "localPort": self.local_port, "target": spec.display(), "remotePort": spec.remote_port});
        openclaw_actors::store::write_atomic(&path, body.to_string().as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        self.record = Some(path.clone());
        Ok(path)
    }

    /// Waits until our ssh exits (never returns for a reused tunnel); the message names why.
    pub async fn wait_exit(&mut self) -> String {
        match self.child.as_mut() {
            Some(c) => {
                let status = c.wait().await;
                let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
                format!(
                    "ssh exited ({}){}",
                    status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|e| e.to_string()),
                    if err.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", err.trim())
                    }
                )
            }
            None => std::future::pending().await,
        }
    }

    /// Closes our ssh (SIGTERM, then SIGKILL after 2 s) and removes the reuse record.
    pub async fn close(mut self) {
        if let Some(path) = self.record.take() {
            let _ = std::fs::remove_file(path);
        }
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child
                .id()
                .and_then(|p| i32::try_from(p).ok())
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            if actix_web::rt::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}

fn record_path(spec: &Spec, state_dir: &Path) -> PathBuf {
    state_dir
        .join("ssh")
        .join(format!("tunnel-{}.json", spec.id()))
}

/// A live tunnel recorded by `openclaw gateway tunnel` for this spec: its ssh process still
/// runs and its local port accepts connections.
async fn find_live(spec: &Spec, state_dir: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(record_path(spec, state_dir)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pid = v.get("pid")?.as_u64()?;
    let port = u16::try_from(v.get("localPort")?.as_u64()?).ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim() != "ssh" {
        return None;
    }
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    match actix_web::rt::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Ok(_)) => Some(port),
        _ => None,
    }
}

/// Opens a tunnel for `spec`, or reuses a live one (`allow_reuse`).
pub async fn open(spec: &Spec, state_dir: &Path, allow_reuse: bool) -> Result<Tunnel, String> {
    if allow_reuse && let Some(port) = find_live(spec, state_dir).await {
        log::info!("reusing the live ssh tunnel on 127.0.0.1:{port}");
        return Ok(Tunnel {
            local_port: port,
            child: None,
            record: None,
            stderr: Arc::default(),
            stderr_done: Arc::default(),
        });
    }
    if spec.policy == HostKeyPolicy::Strict
        && let Some(dir) = spec.known_hosts.parent()
    {
        use std::os::unix::fs::DirBuilderExt as _;
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    let local_port = match spec.local_port {
        Some(p) => p,
        None => std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("cannot pick a local port for the ssh tunnel: {e}"))?,
    };
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args(spec.ssh_args(local_port))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        format!("cannot run ssh (the OpenSSH client) for the gateway tunnel: {e}. Fix: install openssh-client")
    })?;
    let stderr = Arc::new(Mutex::new(String::new()));
    let stderr_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(mut pipe) = child.stderr.take() {
        let buf = stderr.clone();
        let done = stderr_done.clone();
        actix_web::rt::spawn(async move {
            let mut chunk = [0u8; 2048];
            while let Ok(n) = pipe.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut b) = buf.lock()
                    && b.len() < STDERR_MAX
                {
                    b.push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }
            done.store(true, std::sync::atomic::Ordering::Release);
        });
    }
    let mut tunnel = Tunnel {
        local_port,
        child: Some(child),
        record: None,
        stderr,
        stderr_done,
    };
    match wait_ready(spec, &mut tunnel).await {
        Ok(()) => Ok(tunnel),
        Err(e) => {
            tunnel.close().await;
            Err(e)
        }
    }
}

fn stderr_text(t: &Tunnel) -> String {
    t.stderr.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Waits until the forwarded port answers; on failure, names the cause.
async fn wait_ready(spec: &Spec, t: &mut Tunnel) -> Result<(), String> {
    let deadline = Instant::now() + OPEN_TIMEOUT;
    loop {
        let exited = match t.child.as_mut() {
            Some(c) => c.try_wait().ok().flatten(),
            None => None,
        };
        if let Some(status) = exited {
            // Let the stderr reader read to its end (bounded) before explaining: ssh's
            // host-key warning is many lines, and the cause is not on the first.
            let until = Instant::now() + Duration::from_millis(2_000);
            while Instant::now() < until
                && !t.stderr_done.load(std::sync::atomic::Ordering::Acquire)
            {
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            }
            return Err(explain_failure(spec, t.local_port, &stderr_text(t), Some(status)).await);
        }
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", t.local_port));
        if let Ok(Ok(stream)) =
            actix_web::rt::time::timeout(Duration::from_millis(500), connect).await
        {
            return probe_forward(spec, t, stream).await;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the ssh tunnel to {} did not come up within {} s{}. Fix: check that the host answers ssh (`ssh {}`)",
                spec.display(),
                OPEN_TIMEOUT.as_secs(),
                last_line(&stderr_text(t))
                    .map(|l| format!(" (ssh: {l})"))
                    .unwrap_or_default(),
                spec.display()
            ));
        }
        // Polling a condition (ssh listening) with a deadline.
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The local end answers: check that the remote end does too (an HTTP request through the
/// tunnel; ssh closes the connection and logs `open failed` when nothing listens there).
async fn probe_forward(
    spec: &Spec,
    t: &Tunnel,
    mut stream: tokio::net::TcpStream,
) -> Result<(), String> {
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let got = actix_web::rt::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    if matches!(got, Ok(Ok(n)) if n > 0) {
        return Ok(());
    }
    let until = Instant::now() + Duration::from_millis(500);
    loop {
        let err = stderr_text(t);
        if err.contains("open failed") || err.contains("connect failed") {
            return Err(format!(
                "the ssh tunnel to {} is up, but nothing answers on port {} on the gateway host (remote port refused: {}). Fix: start the gateway there, or set gateway.remote.remotePort to its port",
                spec.display(),
                spec.remote_port,
                last_line(&err).unwrap_or_default()
            ));
        }
        if Instant::now() >= until {
            // Something answered the connection (a TLS gateway closes on the plain probe).
            return Ok(());
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

fn last_line(s: &str) -> Option<String> {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_owned)
}

/// Turns ssh's exit and stderr into a message that names the cause and the fix.
async fn explain_failure(
    spec: &Spec,
    local_port: u16,
    stderr: &str,
    status: Option<std::process::ExitStatus>,
) -> String {
    let who = spec.display();
    let line = last_line(stderr).unwrap_or_else(|| {
        format!(
            "ssh exited with {}",
            status.map(|s| s.to_string()).unwrap_or_default()
        )
    });
    if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || stderr.contains("Host key verification failed")
        || stderr.contains("host key is known for")
        || stderr.contains("No matching host key")
    {
        let changed = stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED");
        let presented = match scan_host_keys(spec).await {
            Ok(keys) => keys,
            Err(e) => {
                return format!(
                    "ssh refused the host key of {who} ({}), and reading the presented key failed: {e}",
                    if changed {
                        "it does not match the known key"
                    } else {
                        "the host is not known"
                    }
                );
            }
        };
        let first = &presented[0];
        let list = presented
            .iter()
            .map(|k| format!("{} {}", k.key_type, k.fingerprint))
            .collect::<Vec<_>>()
            .join(", ");
        if spec.policy == HostKeyPolicy::Openssh {
            return format!(
                "ssh refused the host key of {who} (host key verification failed; it presented {list}). Fix: check the key and add it to your ~/.ssh/known_hosts"
            );
        }
        if changed {
            return format!(
                "the host key of {who} does not match the one in {}: it presented {list}. This can be an attack; nothing was sent. Fix: if the gateway host's key really changed, verify the new fingerprint on that host, remove the old line for {} from {} and run `openclaw gateway tunnel --trust-host-key {}`",
                spec.known_hosts.display(),
                spec.known_hosts_name(),
                spec.known_hosts.display(),
                first.fingerprint
            );
        }
        return format!(
            "the host key of {who} is not known (strict host key checking with {}): it presented {list}. Fix: compare that fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the gateway host, then run `openclaw gateway tunnel --trust-host-key {}`",
            spec.known_hosts.display(),
            first.fingerprint
        );
    }
    if stderr.contains("Permission denied") || stderr.contains("Too many authentication failures") {
        return format!(
            "ssh authentication to {who} failed ({line}). Fix: set gateway.remote.sshIdentity to a private key whose public key is in the gateway host's ~/.ssh/authorized_keys"
        );
    }
    if stderr.contains("Connection refused") {
        return format!(
            "cannot reach the ssh server at {who}: connection refused ({line}). Fix: check the host and port in gateway.remote.sshTarget and that sshd runs there"
        );
    }
    if stderr.contains("Could not resolve hostname") {
        return format!(
            "cannot resolve the host of gateway.remote.sshTarget {who} ({line}). Fix: check the host name"
        );
    }
    if stderr.contains("timed out") {
        return format!(
            "the ssh server at {who} did not answer ({line}). Fix: check the host, port and firewall"
        );
    }
    if stderr.contains("Address already in use")
        || stderr.contains("cannot listen to port")
        || stderr.contains("forwarding failed")
    {
        return format!(
            "the tunnel's local port 127.0.0.1:{local_port} is in use ({line}). Fix: stop what listens there, or change the port of gateway.remote.url"
        );
    }
    if let Some(id) = &spec.identity
        && (stderr.contains("no such identity") || stderr.contains("Load key"))
    {
        return format!(
            "ssh cannot use the key gateway.remote.sshIdentity {} ({line}). Fix: point it at a readable private key (mode 0600)",
            id.display()
        );
    }
    format!("the ssh tunnel to {who} failed: {line}")
}

#[cfg(test)]
#[path = "ssh_tunnel_tests.rs"]
mod tests;
