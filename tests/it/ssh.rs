//! The managed SSH tunnel against a real OpenSSH `sshd` started here on 127.0.0.1 with its
//! own host key and authorized key in a temp dir (Debian `openssh-server`, installed by
//! `.ci/run` and `scripts/test.sh`). Without sshd the tests say so loudly and pass, except
//! under `CI=true`, where a missing sshd fails them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::remote::LineChild;
use crate::support::{CliHome, CliOutput, TestGateway};

/// The sshd binary, or `None` (after a loud message) when it is not installed outside CI.
fn sshd_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "sshd is not installed but CI=true: .ci/run installs openssh-server; the SSH tunnel tests must run in CI"
        );
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! SKIPPED: sshd (Debian openssh-server) is not installed, so the SSH    !!!\n\
             !!! tunnel tests did not run. Install it: apt-get install openssh-server  !!!\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    }
    found
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "it", "-f"])
        .arg(path)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

/// `SHA256:…` of a public key file, as `ssh-keygen -lf` prints it.
fn keygen_fingerprint(pub_path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_path)
        .output()
        .expect("run ssh-keygen -lf");
    assert!(out.status.success(), "ssh-keygen -lf: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_owned()
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A real sshd on 127.0.0.1 with its own host key; `user_key` is authorized.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    _proc: LineChild,
}

impl Sshd {
    fn start() -> Option<Self> {
        let bin = sshd_binary()?;
        let dir = tempfile::tempdir().expect("sshd dir");
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("user_key"));
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).expect("authorize");
        if whoami() == "root" {
            // sshd's privilege separation directory (normally made by the service unit).
            std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        }
        for _attempt in 0..5 {
            // A free port right now (sshd cannot take port 0 and report it).
            let port = std::net::TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .expect("pick a port")
                .port();
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nAllowTcpForwarding local\nPermitTTY no\nX11Forwarding no\nAllowAgentForwarding no\n",
                hk = d.join("host_key").display(),
                ak = d.join("authorized_keys").display(),
            );
            std::fs::write(d.join("sshd_config"), config).expect("write sshd_config");
            let mut cmd = Command::new(&bin);
            cmd.arg("-D").arg("-e").arg("-f").arg(d.join("sshd_config"));
            let proc = LineChild::spawn(cmd);
            let line = proc.wait_line("from sshd", Duration::from_secs(20), |l| {
                l.contains("Server listening on")
                    || l.contains("Bind to port")
                    || l.contains("fatal")
            });
            if line.contains("Server listening on 127.0.0.1 port") {
                return Some(Self {
                    dir,
                    port,
                    _proc: proc,
                });
            }
            assert!(
                line.contains("Bind to port") || line.contains("Address already in use"),
                "sshd failed to start: {}",
                proc.output()
            );
        }
        panic!("sshd could not bind a port in 5 attempts");
    }

    fn target(&self) -> String {
        format!("{}@127.0.0.1:{}", whoami(), self.port)
    }

    fn user_key(&self) -> PathBuf {
        self.dir.path().join("user_key")
    }

    fn host_fingerprint(&self) -> String {
        keygen_fingerprint(&self.dir.path().join("host_key.pub"))
    }
}

/// A CLI home in remote mode over the ssh transport to `sshd`, for a gateway on
/// `remote_port` there, with `extra` JSON5 members in `gateway.remote`.
fn ssh_home(sshd: &Sshd, remote_port: u16, identity: &Path, extra: &str) -> CliHome {
    CliHome::with_config(&format!(
        r#"{{gateway: {{mode: "remote", remote: {{transport: "ssh", sshTarget: "{}", remotePort: {remote_port}, sshIdentity: "{}", token: "T"{extra}}}}}}}"#,
        sshd.target(),
        identity.display()
    ))
}

/// ssh processes still running with `needle` in their command line.
fn ssh_processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.starts_with("ssh ") && cmdline.contains(needle) {
            found.push(cmdline);
        }
    }
    found
}

fn health(home: &CliHome) -> CliOutput {
    home.run(&["gateway", "call", "health", "--json"], &[])
}

/// The whole happy path: an unknown host key is refused (nothing trusted silently) with its
/// fingerprint and the trust command; a wrong `--trust-host-key` trusts nothing; the right
/// one trusts it and `gateway tunnel` holds the tunnel; CLI commands reach the loopback-only
/// gateway through it (reused); without it, a command opens its own tunnel and closes it.
#[test]
fn cli_reaches_a_loopback_only_gateway_through_its_own_ssh_tunnel() {
    let Some(sshd) = Sshd::start() else { return };
    let gw = TestGateway::with_token("T");
    let home = ssh_home(&sshd, gw.port, &sshd.user_key(), "");
    let known_hosts = home.dir.path().join("ssh/known_hosts");
    let fp = sshd.host_fingerprint();

    // Unknown host: refused, with the presented key's fingerprint and the trust command.
    let out = health(&home);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "the host key of {} is not known (strict host key checking with {}): it presented ssh-ed25519 {fp}.",
            sshd.target(),
            known_hosts.display()
        )),
        "{out}"
    );
    assert!(
        out.stderr.contains(&format!(
            "run `openclaw gateway tunnel --trust-host-key {fp}`"
        )),
        "{out}"
    );
    let trusted = std::fs::read_to_string(&known_hosts).unwrap_or_default();
    assert!(trusted.trim().is_empty(), "nothing trusted: {trusted}");

    // A fingerprint the host does not present trusts nothing.
    let wrong = home.run(
        &[
            "gateway",
            "tunnel",
            "--trust-host-key",
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ],
        &[],
    );
    assert_eq!(wrong.code, Some(1), "{wrong}");
    assert!(
        wrong.stderr.contains(&format!(
            "did not present a host key with fingerprint SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; it presented: ssh-ed25519 {fp}. Nothing was trusted."
        )),
        "{wrong}"
    );
    let trusted = std::fs::read_to_string(&known_hosts).unwrap_or_default();
    assert!(trusted.trim().is_empty(), "nothing trusted: {trusted}");

    // The right one: trusted, and the tunnel is held open in the foreground.
    let mut cmd = crate::support::isolated_command(crate::support::BIN, home.dir.path());
    cmd.args(["gateway", "tunnel", "--trust-host-key", &fp]);
    let mut tunnel = LineChild::spawn(cmd);
    tunnel.wait_line("trusted …", Duration::from_secs(30), |l| {
        l == format!(
            "trusted ssh-ed25519 host key {fp} for [127.0.0.1]:{} (added to {})",
            sshd.port,
            known_hosts.display()
        )
    });
    let open = tunnel.wait_line("tunnel open …", Duration::from_secs(30), |l| {
        l.starts_with("tunnel open: ws://127.0.0.1:")
    });
    let local_url = open
        .strip_prefix("tunnel open: ")
        .and_then(|r| r.split_whitespace().next())
        .expect("url")
        .to_owned();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&known_hosts)
        .expect("known_hosts")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let line = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    let host_pub = std::fs::read_to_string(sshd.dir.path().join("host_key.pub")).expect("pub");
    let blob = host_pub.split_whitespace().nth(1).expect("blob");
    assert_eq!(
        line,
        format!("[127.0.0.1]:{} ssh-ed25519 {blob}\n", sshd.port)
    );

    // CLI commands reach the loopback-only gateway through the live tunnel (reused: the
    // target is the tunnel's local end).
    let out = health(&home);
    assert_eq!(out.code, Some(0), "{out}\ntunnel:\n{}", tunnel.output());
    assert_eq!(out.json()["gateway"]["port"], gw.port, "{out}");
    let st = home.run(&["gateway", "status", "--json"], &[]);
    assert_eq!(st.code, Some(0), "{st}");
    assert_eq!(st.json()["target"]["url"], local_url.as_str(), "{st}");
    assert_eq!(
        st.json()["target"]["urlSource"],
        "gateway.remote.sshTarget (ssh tunnel)",
        "{st}"
    );

    // Ctrl-C closes it: the ssh process ends and the reuse record is gone.
    let status = tunnel.terminate(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", tunnel.output());
    assert!(
        tunnel.output().contains("tunnel closed"),
        "{}",
        tunnel.output()
    );
    let kh = known_hosts.display().to_string();
    assert!(
        ssh_processes_with(&kh).is_empty(),
        "{:?}",
        ssh_processes_with(&kh)
    );
    let records: Vec<_> = std::fs::read_dir(home.dir.path().join("ssh"))
        .expect("ssh dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tunnel-"))
        .collect();
    assert!(records.is_empty(), "{records:?}");

    // Without a live tunnel a command opens its own and closes it when done.
    let out = health(&home);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["gateway"]["port"], gw.port, "{out}");
    assert!(
        ssh_processes_with(&kh).is_empty(),
        "{:?}",
        ssh_processes_with(&kh)
    );
}

/// A known host presenting a different key is refused under `strict`, naming the presented
/// fingerprint; nothing reaches the gateway.
#[test]
fn wrong_host_key_is_refused_under_strict() {
    let Some(sshd) = Sshd::start() else { return };
    let gw = TestGateway::with_token("T");
    // A known-hosts file whose path has a space and a `%` (ssh would split or expand it).
    let kh_dir = tempfile::tempdir().expect("kh dir");
    let known_hosts = kh_dir.path().join("my hosts 100%").join("known_hosts");
    let home = ssh_home(
        &sshd,
        gw.port,
        &sshd.user_key(),
        &format!(r#", sshKnownHostsFile: "{}""#, known_hosts.display()),
    );
    let other = home.dir.path().join("other_key");
    keygen(&other);
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("pub");
    let blob = other_pub.split_whitespace().nth(1).expect("blob");
    std::fs::create_dir_all(known_hosts.parent().expect("dir")).expect("kh dir");
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} ssh-ed25519 {blob}\n", sshd.port),
    )
    .expect("known_hosts");
    let out = health(&home);
    assert_eq!(out.code, Some(1), "{out}");
    let fp = sshd.host_fingerprint();
    assert!(
        out.stderr.contains(&format!(
            "the host key of {} does not match the one in {}: it presented ssh-ed25519 {fp}. This can be an attack; nothing was sent.",
            sshd.target(),
            known_hosts.display()
        )),
        "{out}"
    );
    // The same refusal for the foreground tunnel.
    let t = home.run(&["gateway", "tunnel"], &[]);
    assert_eq!(t.code, Some(1), "{t}");
    assert!(t.stderr.contains("does not match the one in"), "{t}");
}

/// Failures name their cause: an unauthorized key, an sshd port with nothing on it, a remote
/// port with no gateway behind it.
#[test]
fn ssh_failures_name_the_cause() {
    let Some(sshd) = Sshd::start() else { return };
    let gw = TestGateway::with_token("T");
    // Trust the host key once (so the other failures are reached).
    let home = ssh_home(&sshd, gw.port, &sshd.user_key(), "");
    std::fs::create_dir_all(home.dir.path().join("ssh")).expect("ssh dir");
    let host_pub = std::fs::read_to_string(sshd.dir.path().join("host_key.pub")).expect("pub");
    let blob = host_pub.split_whitespace().nth(1).expect("blob");
    let kh_line = format!("[127.0.0.1]:{} ssh-ed25519 {blob}\n", sshd.port);
    let write_kh = |home: &CliHome| {
        std::fs::create_dir_all(home.dir.path().join("ssh")).expect("ssh dir");
        std::fs::write(home.dir.path().join("ssh/known_hosts"), &kh_line).expect("kh");
    };

    // An identity the server does not authorize.
    let stranger = tempfile::tempdir().expect("key dir");
    let key = stranger.path().join("stranger");
    keygen(&key);
    let h = ssh_home(&sshd, gw.port, &key, "");
    write_kh(&h);
    let out = health(&h);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains(&format!("ssh authentication to {} failed (", sshd.target()))
            && out.stderr.contains("Fix: set gateway.remote.sshIdentity"),
        "{out}"
    );

    // A remote port with nothing listening behind the tunnel.
    let closed = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let h = ssh_home(&sshd, closed, &sshd.user_key(), "");
    write_kh(&h);
    let out = health(&h);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "is up, but nothing answers on port {closed} on the gateway host (remote port refused"
        )),
        "{out}"
    );

    // An sshd port with nothing on it.
    let cfg = format!(
        r#"{{gateway: {{mode: "remote", remote: {{transport: "ssh", sshTarget: "{}@127.0.0.1:{closed}", remotePort: {}, sshIdentity: "{}", token: "T"}}}}}}"#,
        whoami(),
        gw.port,
        sshd.user_key().display()
    );
    let h = CliHome::with_config(&cfg);
    let out = health(&h);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "cannot reach the ssh server at {}@127.0.0.1:{closed}: connection refused",
            whoami()
        )),
        "{out}"
    );
    // A malformed target is a configuration error (exit 78) naming the key.
    let h = CliHome::with_config(
        r#"{gateway: {mode: "remote", remote: {transport: "ssh", sshTarget: "-oProxyCommand=touch /tmp/x"}}}"#,
    );
    let out = health(&h);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(
        out.stderr.contains(
            "gateway.remote.sshTarget \"-oProxyCommand=touch /tmp/x\" is not user@host[:port]"
        ),
        "{out}"
    );
    drop(home);
}
