//! The image, without a container engine: run the binary the way the `Dockerfile` does —
//! its final stage's `ENV`, `USER` (uid 65532 through `setpriv`), `CMD` and `HEALTHCHECK`,
//! all read from the Dockerfile itself, with `/data` replaced by a temp dir owned by 65532 —
//! and check that bind `auto` behaves as in a container and the healthcheck works.
//! Changing uid needs root: outside CI a non-root run skips loudly; under `CI=true` it fails.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::remote::LineChild;
use crate::support::{BIN, run_bounded};

/// What the final stage of the Dockerfile says.
#[derive(Debug, Default)]
struct Image {
    env: Vec<(String, String)>,
    user: String,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
    expose: Vec<String>,
    volumes: Vec<String>,
}

fn json_array(s: &str) -> Vec<String> {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("exec-form JSON array {s:?}: {e}"))
}

/// Parses the instructions of the Dockerfile's last stage (continuation lines joined).
fn parse_dockerfile(text: &str) -> Image {
    let mut logical = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
        } else {
            cur.push_str(t);
            logical.push(std::mem::take(&mut cur));
        }
    }
    let last_from = logical
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("a FROM");
    let mut img = Image::default();
    for l in &logical[last_from..] {
        let (op, rest) = l.split_once(' ').unwrap_or((l.as_str(), ""));
        match op {
            "ENV" => {
                for kv in rest.split_whitespace() {
                    let (k, v) = kv.split_once('=').expect("ENV key=value");
                    img.env.push((k.to_owned(), v.to_owned()));
                }
            }
            "USER" => img.user = rest.trim().to_owned(),
            "ENTRYPOINT" => img.entrypoint = json_array(rest),
            "CMD" => img.cmd = json_array(rest),
            "EXPOSE" => img.expose = rest.split_whitespace().map(str::to_owned).collect(),
            "VOLUME" => img.volumes = json_array(rest),
            "HEALTHCHECK" => {
                let (_, cmd) = rest.split_once("CMD ").expect("HEALTHCHECK … CMD [..]");
                img.healthcheck = json_array(cmd);
            }
            _ => {}
        }
    }
    img
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `setpriv` as the image's user, with exactly the image's environment (plus `extra`),
/// running the image's binary path mapped to the binary under test.
fn as_image(img: &Image, data: &Path, argv: &[String], extra: &[(&str, &str)]) -> Command {
    let (uid, gid) = img.user.split_once(':').unwrap_or((&img.user, &img.user));
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--clear-groups",
        "--",
    ]);
    assert_eq!(
        argv[0], "/usr/local/bin/openclaw",
        "the image runs the binary it copies to /usr/local/bin/openclaw"
    );
    cmd.arg(BIN).args(&argv[1..]);
    cmd.env_clear()
        // distroless's nonroot user: HOME=/home/nonroot, PATH without a shell.
        .env("HOME", data.join("home"))
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .current_dir(data);
    for (k, v) in &img.env {
        let v = if v == "/data" {
            data.display().to_string()
        } else {
            v.clone()
        };
        cmd.env(k, v);
    }
    cmd.envs(extra.iter().copied());
    cmd
}

#[test]
fn the_binary_runs_as_the_image_runs_it_including_the_healthcheck() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"))
        .expect("read Dockerfile");
    let img = parse_dockerfile(&text);
    // The image's contract, as the README documents it.
    assert_eq!(img.user, "65532:65532");
    assert_eq!(img.expose, ["18789"]);
    assert_eq!(img.volumes, ["/data"]);
    assert!(
        img.env
            .iter()
            .any(|(k, v)| k == "OPENCLAW_STATE_DIR" && v == "/data"),
        "{img:?}"
    );
    assert_eq!(img.entrypoint, ["/usr/local/bin/openclaw"]);
    assert_eq!(img.cmd, ["gateway", "run", "--bind", "auto"]);
    assert_eq!(
        &img.healthcheck[..2],
        ["/usr/local/bin/openclaw", "healthcheck"]
    );
    if !is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "running as uid 65532 needs root, and CI runs as root"
        );
        eprintln!(
            "\n!!! SKIPPED the_binary_runs_as_the_image_runs_it: not root, cannot setpriv to uid 65532 !!!\n"
        );
        return;
    }
    let data = tempfile::tempdir().expect("data dir");
    std::os::unix::fs::chown(data.path(), Some(65532), Some(65532)).expect("chown /data");
    let mut argv = img.entrypoint.clone();
    argv.extend(img.cmd.iter().cloned());

    // Bind auto is 0.0.0.0 in the container: without a secret the gateway refuses to start.
    let refused = run_bounded(
        as_image(&img, data.path(), &argv, &[("OPENCLAW_GATEWAY_PORT", "0")]),
        Duration::from_secs(30),
    );
    assert_eq!(refused.code, Some(78), "{refused}");
    assert!(
        refused.stderr.contains(
            "refusing to bind gateway to 0.0.0.0:0 without auth (gateway.bind is \"auto\")"
        ),
        "{refused}"
    );

    // With OPENCLAW_GATEWAY_TOKEN (the documented `docker run -e`), it listens on 0.0.0.0.
    // (The image uses port 18789; a test never takes a fixed port, so port 0 here.)
    let mut gw = LineChild::spawn(as_image(
        &img,
        data.path(),
        &argv,
        &[
            ("OPENCLAW_GATEWAY_PORT", "0"),
            ("OPENCLAW_GATEWAY_TOKEN", "T"),
        ],
    ));
    let line = gw.wait_line(
        "listening on ws://0.0.0.0:PORT",
        Duration::from_secs(30),
        |l| l.starts_with("listening on "),
    );
    let port = line
        .strip_prefix("listening on ws://0.0.0.0:")
        .unwrap_or_else(|| {
            panic!(
                "bind auto in a container is 0.0.0.0: {line:?}\n{}",
                gw.output()
            )
        })
        .to_owned();
    // The state dir is the volume, written by uid 65532 only.
    let lock = data.path().join("gateway.lock");
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(&lock).expect("gateway.lock in /data");
    assert_eq!(meta.uid(), 65532);

    // The HEALTHCHECK command, as the container runtime runs it (same user and env).
    let hc = run_bounded(
        as_image(
            &img,
            data.path(),
            &img.healthcheck,
            &[("OPENCLAW_GATEWAY_PORT", &port)],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(hc.code, Some(0), "{hc}\ngateway:\n{}", gw.output());
    assert_eq!(hc.stdout.trim(), r#"{"ok":true,"status":"live"}"#, "{hc}");
    // A CLI on the "host" reaches it through the published port with the token.
    let home = crate::support::CliHome::new();
    let ok = home.call(&format!("ws://127.0.0.1:{port}"), "T", "health", &[]);
    assert_eq!(ok.code, Some(0), "{ok}");

    // `docker stop` sends SIGTERM: a clean exit 0. Then the healthcheck fails.
    let status = gw.terminate(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", gw.output());
    let down = run_bounded(
        as_image(
            &img,
            data.path(),
            &img.healthcheck,
            &[("OPENCLAW_GATEWAY_PORT", &port)],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(down.code, Some(1), "{down}");
    assert!(
        down.stderr
            .contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{down}"
    );
}

#[test]
fn dockerfile_parser_reads_the_final_stage() {
    let img = parse_dockerfile(
        "FROM a AS b\nENV X=1\nFROM c\n# note\nENV A=1 \\\n    B=2\nUSER 1:2\nHEALTHCHECK --interval=1s \\\n  CMD [\"/x\", \"y\"]\nCMD [\"run\"]\n",
    );
    assert_eq!(
        img.env,
        [
            ("A".to_owned(), "1".to_owned()),
            ("B".to_owned(), "2".to_owned())
        ]
    );
    assert_eq!(img.user, "1:2");
    assert_eq!(img.healthcheck, ["/x", "y"]);
    assert_eq!(img.cmd, ["run"]);
}
