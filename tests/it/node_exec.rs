//! Our node host's `system.run` policy end to end: the real gateway, the real
//! `openclaw node run`, a BusyBox-style symlink farm on the node's `PATH`, argument
//! patterns and the environment allowlist. The allowlist file is re-read on every
//! `system.run`, so each scenario rewrites it on the running node.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::nodes::{ALL_OPERATOR, approve_surface};
use crate::support::{Background, TestGateway, WsClient, cli_params, error_of};

struct Node {
    _gw: TestGateway,
    op: WsClient,
    host: Background,
    node_id: String,
    home: tempfile::TempDir,
    /// `ls` and `sh` → `multi` (a copy of `echo`), first on the node's `PATH`.
    farm: PathBuf,
    _farm_dir: tempfile::TempDir,
    next_key: u32,
}

fn write_allowlist(home: &Path, v: &Value) {
    std::fs::create_dir_all(home.join("node")).expect("create $STATE/node");
    std::fs::write(home.join("node/exec-allowlist.json"), v.to_string())
        .expect("write exec-allowlist.json");
}

impl Node {
    async fn start(allowlist: &Value) -> Self {
        let gw = TestGateway::with_token("T");
        let (mut op, _) = WsClient::hello(gw.port, cli_params("T", ALL_OPERATOR)).await;
        let home = tempfile::tempdir().expect("node host home");
        write_allowlist(home.path(), allowlist);
        let farm_dir = tempfile::tempdir().expect("farm dir");
        let farm = std::fs::canonicalize(farm_dir.path()).expect("canonical farm dir");
        std::fs::copy("/usr/bin/echo", farm.join("multi")).expect("copy echo into the farm");
        std::os::unix::fs::symlink("multi", farm.join("ls")).expect("ln -s multi ls");
        std::os::unix::fs::symlink("multi", farm.join("sh")).expect("ln -s multi sh");
        let path = format!(
            "{}:{}",
            farm.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let port = gw.port.to_string();
        let mut cmd = crate::support::isolated_command(crate::support::BIN, home.path());
        cmd.args([
            "node",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--display-name",
            "it-exec-node",
        ])
        .env("PATH", &path)
        .env("OPENCLAW_GATEWAY_TOKEN", "T");
        let mut host = Background::spawn(cmd);
        let ev = crate::interop::wait_event_or_exit(
            &mut op,
            "node.pair.requested",
            &mut host,
            Duration::from_secs(20),
        )
        .await;
        let node_id = ev["payload"]["nodeId"]
            .as_str()
            .unwrap_or_else(|| panic!("node.pair.requested carries nodeId: {ev}"))
            .to_owned();
        approve_surface(&mut op, &node_id).await;
        Self {
            _gw: gw,
            op,
            host,
            node_id,
            home,
            farm,
            _farm_dir: farm_dir,
            next_key: 0,
        }
    }

    fn allow(&self, v: &Value) {
        write_allowlist(self.home.path(), v);
    }

    /// `system.run` through the gateway; the whole `res` frame.
    async fn run(&mut self, argv: &[&str], env: Value) -> Value {
        self.next_key += 1;
        let params = json!({
            "nodeId": self.node_id,
            "command": "system.run",
            "params": {"command": argv, "env": env},
            "timeoutMs": 10000,
            "idempotencyKey": format!("it-exec-{}", self.next_key),
        });
        self.op.request("node.invoke", params).await
    }

    /// A successful run's payload.
    async fn ok(&mut self, argv: &[&str], env: Value) -> Value {
        let res = self.run(argv, env).await;
        assert_eq!(
            res["ok"],
            true,
            "{argv:?}: {res}\nnode host:\n{}",
            self.host.output()
        );
        let p = res["payload"]["payload"].clone();
        assert_eq!(p["exitCode"], 0, "{argv:?}: {res}");
        p
    }

    /// A denied run's node error message.
    async fn denied(&mut self, argv: &[&str]) -> String {
        let res = self.run(argv, Value::Null).await;
        let err = error_of(&res);
        assert_eq!(
            err["details"]["nodeError"]["code"],
            "SYSTEM_RUN_DENIED",
            "{argv:?}: {res}\nnode host:\n{}",
            self.host.output()
        );
        err["details"]["nodeError"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("nodeError.message: {res}"))
            .to_owned()
    }
}

#[actix_web::test]
async fn allowing_ls_on_a_multi_call_binary_does_not_allow_sh() {
    // Plain `ls`: `sh` is the same file, so the entry is refused outright.
    let mut n = Node::start(&json!({"allow": ["ls"]})).await;
    let msg = n.denied(&["ls", "hi"]).await;
    assert!(msg.contains("also reachable as sh"), "{msg}");
    let msg = n.denied(&["sh", "-c", "id"]).await;
    assert!(msg.contains("also reachable as"), "{msg}");

    // By applet: `ls` runs (as `ls`), `sh` does not, however argv[0] names it.
    n.allow(&json!({"allow": [{"program": "ls", "applet": "ls"}]}));
    let p = n.ok(&["ls", "hi"], Value::Null).await;
    assert_eq!(p["stdout"], "hi\n");
    let farm_ls = n.farm.join("ls").display().to_string();
    let p = n.ok(&[&farm_ls, "by", "path"], Value::Null).await;
    assert_eq!(p["stdout"], "by path\n");
    let farm_sh = n.farm.join("sh").display().to_string();
    let farm_multi = n.farm.join("multi").display().to_string();
    for spoof in ["sh", farm_sh.as_str(), farm_multi.as_str()] {
        let msg = n.denied(&[spoof, "-c", "id"]).await;
        assert!(
            msg.contains("allowed only when started as ls"),
            "{spoof}: {msg}"
        );
    }
    n.host.kill_group();
}

#[actix_web::test]
async fn argument_patterns_and_the_env_allowlist_apply() {
    // Only allowlisted variables pass: not the request's others, not the node's own
    // environment (which holds its gateway token); PATH is the node's.
    let mut n = Node::start(&json!({"allow": ["/usr/bin/env"], "env": ["OC_IT_OK", "LANG"]})).await;
    let p = n
        .ok(
            &["env"],
            json!({"OC_IT_OK": "1", "OC_IT_BAD": "2", "LD_PRELOAD": "/nonexistent.so", "PATH": "/evil"}),
        )
        .await;
    let out = p["stdout"].as_str().expect("stdout");
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(out.lines().any(|l| l == "OC_IT_OK=1"), "{out}");
    for gone in ["OC_IT_BAD", "LD_PRELOAD", "OPENCLAW_GATEWAY_TOKEN"] {
        assert!(!names.contains(&gone), "{gone} must not pass: {out}");
    }
    let path = out
        .lines()
        .find_map(|l| l.strip_prefix("PATH="))
        .unwrap_or_else(|| panic!("PATH is set: {out}"));
    assert!(
        path.starts_with(&format!("{}:", n.farm.display())),
        "PATH is the node's own, not the request's: {out}"
    );

    // Argument patterns: every argument must match one of `args`.
    n.allow(&json!({"allow": [{"program": "/usr/bin/echo", "args": ["hello", "world"]}]}));
    let p = n.ok(&["echo", "hello", "world"], Value::Null).await;
    assert_eq!(p["stdout"], "hello world\n");
    let msg = n.denied(&["echo", "-e", "x"]).await;
    assert!(msg.contains("argument \"-e\" is not allowed"), "{msg}");
    n.host.kill_group();
}
