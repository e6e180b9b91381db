//! Unit tests of `ssh_tunnel.rs`.
use super::*;

#[test]
fn targets() {
    assert_eq!(
        parse_target("deploy@gw.example:2222").expect("ok"),
        ("deploy@gw.example".into(), "gw.example".into(), Some(2222))
    );
    assert_eq!(
        parse_target("gw.example").expect("ok"),
        ("gw.example".into(), "gw.example".into(), None)
    );
    assert_eq!(
        parse_target("u@[::1]:22").expect("ok"),
        ("u@::1".into(), "::1".into(), Some(22))
    );
    for bad in [
        "",
        "-oProxyCommand=x",
        "u@-oProxyCommand=x",
        "-u@h",
        "u@h:0",
        "u@h:x",
        "u@h:1:2",
        "u @h",
        "u@h\n",
        "u@",
        "@h",
    ] {
        assert!(parse_target(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn strict_args_pin_the_known_hosts_file() {
    let remote = RemoteCfg {
        transport: Some(crate::config::remote::RemoteTransport::Ssh),
        ssh_target: Some("me@h:2200".into()),
        ssh_identity: Some("/k/id".into()),
        remote_port: Some(18790),
        ..RemoteCfg::default()
    };
    let spec = spec_from(&remote, Path::new("/state")).expect("spec");
    let args = spec.ssh_args(4000).join(" ");
    assert_eq!(
        args,
        "-N -F none -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=\"/state/ssh/known_hosts\" -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no -o CheckHostIP=no -o ExitOnForwardFailure=yes -o ServerAliveInterval=15 -o ServerAliveCountMax=3 -o ConnectTimeout=10 -i /k/id -o IdentitiesOnly=yes -p 2200 -L 127.0.0.1:4000:127.0.0.1:18790 -- me@h"
    );
    assert_eq!(spec.known_hosts_name(), "[h]:2200");
    assert_eq!(
        ssh_config_path(Path::new("/home/J Doe/100%/kh")),
        "\"/home/J Doe/100%%/kh\""
    );
    // "openssh" leaves host keys (and everything else) to the user's ssh config.
    let open = Spec {
        policy: HostKeyPolicy::Openssh,
        ..spec.clone()
    };
    assert_eq!(
        open.ssh_args(4000).join(" "),
        "-N -o ExitOnForwardFailure=yes -o ServerAliveInterval=15 -o ServerAliveCountMax=3 -o ConnectTimeout=10 -i /k/id -o IdentitiesOnly=yes -p 2200 -L 127.0.0.1:4000:127.0.0.1:18790 -- me@h"
    );
    // The remote port falls back to the port of a local url, then 18789.
    let r2 = RemoteCfg {
        ssh_target: Some("h".into()),
        url: Some("ws://127.0.0.1:18800".into()),
        transport: Some(crate::config::remote::RemoteTransport::Ssh),
        ..RemoteCfg::default()
    };
    let s2 = spec_from(&r2, Path::new("/s")).expect("spec");
    assert_eq!((s2.local_port, s2.remote_port), (Some(18800), 18800));
    let r3 = RemoteCfg {
        url: Some("ws://10.0.0.1:1".into()),
        ..r2
    };
    assert!(spec_from(&r3, Path::new("/s")).is_err());
}

#[test]
fn keyscan_fingerprints_match_openssh() {
    // An ed25519 blob and its fingerprint as `ssh-keygen -lf` prints it.
    let blob = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let keys = parse_keyscan(&format!("# comment\n[127.0.0.1]:2222 ssh-ed25519 {blob}\n"));
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_type, "ssh-ed25519");
    // As printed by `ssh-keygen -lf` for this key.
    let expected = "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU";
    assert_eq!(keys[0].fingerprint, expected);
    assert!(parse_keyscan("h ssh-ed25519 !!!").is_empty());
}
