//! Unit tests of `node_host::exec` (kept apart so the module stays readable).

use super::*;

fn sys_dirs() -> Vec<PathBuf> {
    path_dirs(Some(OsStr::new("/usr/bin:/bin:relative:/nonexistent")))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn path_dirs_skip_relative() {
    let d = sys_dirs();
    assert_eq!(
        d,
        vec![
            PathBuf::from("/usr/bin"),
            PathBuf::from("/bin"),
            PathBuf::from("/nonexistent")
        ]
    );
    assert!(path_dirs(None).is_empty());
}

#[test]
fn which_finds_executables_only() {
    let tmp = tempfile::tempdir().expect("tmp");
    let exe = tmp.path().join("tool");
    std::fs::write(&exe, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let plain = tmp.path().join("data");
    std::fs::write(&plain, "x").expect("write");
    std::fs::create_dir(tmp.path().join("subdir")).expect("mkdir");
    let dirs = vec![tmp.path().to_path_buf()];
    assert_eq!(which_in("tool", &dirs), Some(exe.clone()));
    assert_eq!(which_in("data", &dirs), None);
    assert_eq!(which_in("subdir", &dirs), None);
    assert_eq!(which_in("../tool", &dirs), None);
    assert_eq!(which_in("", &dirs), None);
    let v = system_which(&json!({"bins": ["tool", "data", "missing"]}), &dirs).expect("ok");
    assert_eq!(v, json!({"bins": {"tool": exe.to_string_lossy()}}));
    assert_eq!(
        system_which(&json!({"bins": "tool"}), &dirs)
            .expect_err("bad")
            .code,
        "INVALID_REQUEST"
    );
    assert_eq!(
        system_which(&json!({"bins": [1]}), &dirs)
            .expect_err("bad")
            .code,
        "INVALID_REQUEST"
    );
}

fn file_with(allow: Value) -> AllowFile {
    parse_allowlist(&json!({ "allow": allow }).to_string()).expect("valid allowlist")
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

const FILE: &str = "/state/node/exec-allowlist.json";

fn check(argv_: &[&str], dirs: &[PathBuf], policy: &Policy) -> Result<PathBuf, InvokeError> {
    check_allowed(&argv(argv_), None, dirs, policy, Path::new(FILE))
}

fn exe(path: &Path) {
    std::fs::write(path, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn allowlist_resolution() {
    let dirs = sys_dirs();
    let sh = std::fs::canonicalize("/bin/sh").expect("sh");
    let policy = resolve_policy(
        &file_with(json!([
            "sh",
            "/bin/sh",
            "relative/sh",
            "no-such-program-xyz",
            "/etc/passwd"
        ])),
        &[],
        &dirs,
    );
    assert_eq!(policy.entries.len(), 2, "{policy:?}");
    assert!(
        policy
            .entries
            .iter()
            .all(|e| e.path == sh && e.name == "sh")
    );
    assert_eq!(policy.refused.len(), 3, "{policy:?}");
    assert_eq!(check(&["sh"], &dirs, &policy).expect("allowed"), sh);
    assert_eq!(check(&["/bin/sh"], &dirs, &policy).expect("allowed"), sh);
    let denied = check(&["uname"], &dirs, &policy).expect_err("denied");
    assert_eq!(denied.code, "SYSTEM_RUN_DENIED");
    assert!(denied.message.contains("uname"), "{}", denied.message);
    assert!(denied.message.contains(FILE), "{}", denied.message);
    assert!(check(&["nope-xyz"], &dirs, &policy).is_err());
    // Empty allowlist denies everything.
    assert!(check(&["sh"], &dirs, &Policy::default()).is_err());
    // A copy of an allowed program elsewhere is a different path: denied.
    let tmp = tempfile::tempdir().expect("tmp");
    let copy = tmp.path().join("sh");
    std::fs::copy(&sh, &copy).expect("copy");
    assert!(check(&["sh"], &[tmp.path().to_path_buf()], &policy).is_err());
    assert!(
        check_allowed(
            &argv(&["./sh"]),
            Some(tmp.path()),
            &dirs,
            &policy,
            Path::new(FILE)
        )
        .is_err()
    );
    // The same program under another name (here: the target of /bin/sh) is denied.
    if let Some(target) = sh.file_name().and_then(|n| n.to_str())
        && target != "sh"
    {
        let e = check(&[target], &dirs, &policy).expect_err("other name");
        assert!(e.message.contains("started as sh"), "{}", e.message);
    }
}

/// A BusyBox-style symlink farm: `ls` and `sh` both lead to one file.
#[test]
fn multi_call_binaries_need_an_applet_and_argv0_must_match() {
    let tmp = tempfile::tempdir().expect("tmp");
    let farm = tmp.path().join("farm");
    std::fs::create_dir(&farm).expect("mkdir");
    exe(&farm.join("multi"));
    std::os::unix::fs::symlink("multi", farm.join("ls")).expect("ln ls");
    std::os::unix::fs::symlink("multi", farm.join("sh")).expect("ln sh");
    let multi = std::fs::canonicalize(farm.join("multi")).expect("canon");
    let dirs = vec![farm.clone()];

    // Allowing `ls` plainly: refused, `sh` is the same program.
    let policy = resolve_policy(&file_with(json!(["ls"])), &[], &dirs);
    assert!(policy.entries.is_empty(), "{policy:?}");
    assert!(
        policy.refused[0].reason.contains("also reachable as sh"),
        "{policy:?}"
    );
    assert!(
        policy.refused[0].reason.contains("\"applet\""),
        "{policy:?}"
    );
    let e = check(&["ls"], &dirs, &policy).expect_err("refused entry");
    assert!(e.message.contains("refused"), "{}", e.message);
    assert!(check(&["sh", "-c", "id"], &dirs, &policy).is_err());
    // The same through --exec-allow.
    assert!(
        resolve_policy(&AllowFile::default(), &["ls".into()], &dirs)
            .entries
            .is_empty()
    );

    // By applet: `ls` runs, `sh` (same file) does not, whatever path argv[0] takes.
    let policy = resolve_policy(
        &file_with(json!([{"program": "ls", "applet": "ls"}])),
        &[],
        &dirs,
    );
    assert_eq!(policy.entries.len(), 1, "{policy:?}");
    assert_eq!(check(&["ls", "-l"], &dirs, &policy).expect("ls"), multi);
    let farm_ls = farm.join("ls");
    let farm_sh = farm.join("sh");
    let farm_multi = farm.join("multi");
    for spoof in [
        "sh",
        farm_sh.to_str().expect("utf-8"),
        farm_multi.to_str().expect("utf-8"),
    ] {
        let e = check(&[spoof, "-c", "id"], &dirs, &policy).expect_err(spoof);
        assert_eq!(e.code, "SYSTEM_RUN_DENIED");
        assert!(
            e.message.contains("started as ls"),
            "{spoof}: {}",
            e.message
        );
    }
    assert_eq!(
        check(&[farm_ls.to_str().expect("utf-8")], &dirs, &policy).expect("ls by path"),
        multi
    );

    // A BusyBox target is refused by name, even without sibling links.
    let bb_dir = tmp.path().join("bb");
    std::fs::create_dir(&bb_dir).expect("mkdir");
    exe(&bb_dir.join("busybox"));
    std::os::unix::fs::symlink("busybox", bb_dir.join("cat")).expect("ln cat");
    let bb_dirs = vec![bb_dir.clone()];
    let policy = resolve_policy(&file_with(json!(["cat", "busybox"])), &[], &bb_dirs);
    assert!(policy.entries.is_empty(), "{policy:?}");
    assert!(
        policy
            .refused
            .iter()
            .all(|r| r.reason.contains("multi-call")),
        "{policy:?}"
    );
    // Listed by applet through the busybox path itself: `busybox sh` is not `cat`.
    let policy = resolve_policy(
        &file_with(json!([{"program": "busybox", "applet": "cat"}])),
        &[],
        &bb_dirs,
    );
    assert!(check(&["cat", "/etc/hostname"], &bb_dirs, &policy).is_ok());
    assert!(check(&["busybox", "sh", "-c", "id"], &bb_dirs, &policy).is_err());

    // Hard links: one inode, several names.
    let hl = tmp.path().join("hl");
    std::fs::create_dir(&hl).expect("mkdir");
    exe(&hl.join("bzip2"));
    std::fs::hard_link(hl.join("bzip2"), hl.join("bunzip2")).expect("ln");
    let policy = resolve_policy(&file_with(json!(["bzip2"])), &[], std::slice::from_ref(&hl));
    assert!(policy.entries.is_empty(), "{policy:?}");
    assert!(
        policy.refused[0].reason.contains("hard links"),
        "{policy:?}"
    );

    // Two entries in different directories naming one file under two names.
    let (x, y) = (tmp.path().join("x"), tmp.path().join("y"));
    std::fs::create_dir(&x).expect("mkdir");
    std::fs::create_dir(&y).expect("mkdir");
    exe(&tmp.path().join("real"));
    std::os::unix::fs::symlink(tmp.path().join("real"), x.join("tool")).expect("ln");
    std::os::unix::fs::symlink(tmp.path().join("real"), y.join("other")).expect("ln");
    let policy = resolve_policy(
        &file_with(json!([x.join("tool"), y.join("other")])),
        &[],
        &[x.clone(), y.clone()],
    );
    assert!(policy.entries.is_empty(), "{policy:?}");
    assert_eq!(policy.refused.len(), 2, "{policy:?}");
    assert!(
        policy.refused[0].reason.contains("several names"),
        "{policy:?}"
    );
    // One of them alone is fine.
    let policy = resolve_policy(
        &file_with(json!([x.join("tool")])),
        &[],
        std::slice::from_ref(&x),
    );
    assert_eq!(policy.entries.len(), 1, "{policy:?}");
}

#[test]
fn argument_patterns() {
    let tmp = tempfile::tempdir().expect("tmp");
    exe(&tmp.path().join("tool"));
    let dirs = vec![tmp.path().to_path_buf()];
    let policy = resolve_policy(
        &file_with(json!([
            {"program": "tool", "args": ["status", "log", "--oneline", "-n", "[0-9]", "-n?*"], "denyArgs": ["-n0"]}
        ])),
        &[],
        &dirs,
    );
    assert_eq!(policy.entries.len(), 1, "{policy:?}");
    assert!(check(&["tool"], &dirs, &policy).is_ok());
    assert!(check(&["tool", "status"], &dirs, &policy).is_ok());
    assert!(check(&["tool", "log", "--oneline", "-n5"], &dirs, &policy).is_ok());
    let e = check(&["tool", "-c", "alias.x=!sh", "x"], &dirs, &policy).expect_err("-c");
    assert_eq!(e.code, "SYSTEM_RUN_DENIED");
    assert!(
        e.message.contains("argument \"-c\" is not allowed"),
        "{}",
        e.message
    );
    let e = check(&["tool", "log", "-n0"], &dirs, &policy).expect_err("denied");
    assert!(
        e.message.contains("denied pattern \"-n0\""),
        "{}",
        e.message
    );
    // `args: []`: no arguments at all; denyArgs alone: anything but those.
    let policy = resolve_policy(
        &file_with(json!([{"program": "tool", "args": []}])),
        &[],
        &dirs,
    );
    assert!(check(&["tool"], &dirs, &policy).is_ok());
    let e = check(&["tool", "x"], &dirs, &policy).expect_err("no args");
    assert!(e.message.contains("without arguments"), "{}", e.message);
    let policy = resolve_policy(
        &file_with(json!([{"program": "tool", "denyArgs": ["-c", "-c*", "--config*"]}])),
        &[],
        &dirs,
    );
    assert!(check(&["tool", "status", "-v"], &dirs, &policy).is_ok());
    assert!(check(&["tool", "-calias.x=!sh"], &dirs, &policy).is_err());
    assert!(check(&["tool", "--config-env=x"], &dirs, &policy).is_err());
    // An empty pattern is a mistake: the entry is refused.
    let policy = resolve_policy(
        &file_with(json!([{"program": "tool", "args": [""]}])),
        &[],
        &dirs,
    );
    assert!(policy.entries.is_empty(), "{policy:?}");
}

#[test]
fn globs() {
    assert!(glob_match("*", ""));
    assert!(glob_match("*", "anything/at all"));
    assert!(glob_match("-n?*", "-n5"));
    assert!(!glob_match("-n?*", "-n"));
    assert!(glob_match("LC_*", "LC_ALL"));
    assert!(!glob_match("LC_*", "XLC_ALL"));
    assert!(glob_match("a*b*c", "aXbYbZc"));
    assert!(!glob_match("a*b*c", "aXbYbZ"));
    assert!(glob_match("/tmp/?", "/tmp/é"));
    assert!(!glob_match("status", "status2"));
}

#[test]
fn allowlist_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let f = tmp.path().join("exec-allowlist.json");
    assert_eq!(read_allowlist_file(&f), Ok(AllowFile::default()));
    std::fs::write(
        &f,
        r#"{"allow":["/usr/bin/echo",{"program":"uname","args":["-a"]},{"program":"ls","applet":"ls","denyArgs":["-R"]}],"env":["LANG"]}"#,
    )
    .expect("write");
    let file = read_allowlist_file(&f).expect("valid");
    assert_eq!(file.allow[0], RawEntry::program("/usr/bin/echo"));
    assert_eq!(file.allow[1].args, Some(vec!["-a".to_owned()]));
    assert_eq!(file.allow[2].applet.as_deref(), Some("ls"));
    assert_eq!(file.allow[2].deny_args, vec!["-R".to_owned()]);
    assert_eq!(file.env, Some(vec!["LANG".to_owned()]));
    for bad in [
        r#"{"allow":"x"}"#,
        "nope",
        r#"{"allow":[{"program":"ls","deny_args":["-R"]}]}"#,
        r#"{"allow":[],"envs":[]}"#,
        r#"{"allow":[1]}"#,
    ] {
        std::fs::write(&f, bad).expect("write");
        let e = read_allowlist_file(&f).expect_err(bad);
        assert!(e.contains("exec-allowlist.json"), "{e}");
    }
}

#[test]
fn environment_is_an_allowlist() {
    let dirs = vec![PathBuf::from("/usr/bin"), PathBuf::from("/bin")];
    let node: BTreeMap<String, String> = [
        ("PATH", "/home/u/bin:/usr/bin"),
        ("HOME", "/home/u"),
        ("LANG", "C.UTF-8"),
        ("LC_TIME", "C"),
        ("OPENCLAW_GATEWAY_TOKEN", "secret"),
        ("SSH_AUTH_SOCK", "/tmp/agent"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let req: BTreeMap<String, String> = [
        ("TZ", "UTC"),
        ("LANG", "de_DE.UTF-8"),
        ("LD_PRELOAD", "/tmp/x.so"),
        ("BASH_ENV", "/tmp/x"),
        ("PATH", "/tmp/evil"),
        ("HOME", "/tmp/evil"),
        ("FOO", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let defaults: Vec<String> = DEFAULT_ENV_ALLOW.iter().map(|s| (*s).to_owned()).collect();
    let (env, dropped) = child_env(&req, &node, &defaults, &dirs);
    let want: BTreeMap<String, String> = [
        ("HOME", "/home/u"),
        ("LANG", "de_DE.UTF-8"),
        ("LC_TIME", "C"),
        ("PATH", "/usr/bin:/bin"),
        ("TZ", "UTC"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(env, want);
    assert_eq!(
        dropped,
        vec!["BASH_ENV", "FOO", "HOME", "LD_PRELOAD", "PATH"]
    );
    // Listing a variable lets it through; PATH and HOME stay fixed even if listed.
    let (env, dropped) = child_env(
        &req,
        &node,
        &["FOO".into(), "PATH".into(), "HOME".into()],
        &dirs,
    );
    assert_eq!(env.get("FOO").map(String::as_str), Some("1"));
    assert_eq!(env.get("PATH").map(String::as_str), Some("/usr/bin:/bin"));
    assert_eq!(env.get("HOME").map(String::as_str), Some("/home/u"));
    assert!(!env.contains_key("LANG"));
    assert!(dropped.contains(&"LANG".to_owned()));
}

#[test]
fn parse_run_params() {
    let r = parse_run(&json!({"command": ["echo", "hi"], "cwd": "/tmp", "env": {"A": "1"}, "timeoutMs": 500, "runId": "x"}))
        .expect("ok");
    assert_eq!(r.argv, vec!["echo", "hi"]);
    assert_eq!(r.cwd, Some(PathBuf::from("/tmp")));
    assert_eq!(r.timeout, Some(Duration::from_millis(500)));
    for bad in [
        json!({}),
        json!({"command": []}),
        json!({"command": ["x", 1]}),
        json!({"command": ["x"], "cwd": "rel"}),
        json!({"command": ["x"], "env": {"A=B": "1"}}),
        json!({"command": ["x"], "env": {"A": 1}}),
    ] {
        assert_eq!(
            parse_run(&bad).expect_err("e").code,
            "INVALID_REQUEST",
            "{bad}"
        );
    }
    // Loader variables are no longer an error: they are dropped by the env allowlist.
    let r = parse_run(&json!({"command": ["x"], "env": {"LD_PRELOAD": "/x.so"}})).expect("ok");
    assert_eq!(r.env.get("LD_PRELOAD").map(String::as_str), Some("/x.so"));
}

#[test]
fn run_passes_only_the_given_environment() {
    let env_bin = std::fs::canonicalize("/usr/bin/env").expect("env");
    let env: BTreeMap<String, String> = [("ONLY".to_owned(), "this".to_owned())].into();
    let v = rt().block_on(run_program(
        &env_bin,
        &["env".into()],
        None,
        &env,
        Duration::from_secs(10),
    ));
    assert_eq!(v["stdout"], json!("ONLY=this\n"), "{v}");
}

#[test]
fn capped_output() {
    let mut c = Capped::new(4);
    c.push(b"ab");
    c.push(b"cdef");
    c.push(b"g");
    assert_eq!(
        c.into_text(),
        "abcd\n[output truncated: 3 more bytes not shown]"
    );
    let mut c = Capped::new(10);
    c.push(b"hi");
    assert_eq!(c.into_text(), "hi");
}

#[test]
fn run_echo_and_cap() {
    let sh = std::fs::canonicalize("/bin/sh").expect("sh");
    let env = BTreeMap::new();
    let v = rt().block_on(run_program(
        &sh,
        &[
            "sh".into(),
            "-c".into(),
            "echo hi; echo err >&2; exit 3".into(),
        ],
        None,
        &env,
        Duration::from_secs(10),
    ));
    assert_eq!(v["exitCode"], json!(3));
    assert_eq!(v["stdout"], json!("hi\n"));
    assert_eq!(v["stderr"], json!("err\n"));
    assert_eq!(v["success"], json!(false));
    assert_eq!(v["timedOut"], json!(false));
    assert_eq!(v["error"], json!(null));
    // Output beyond the cap is dropped, the process still completes.
    let v = rt().block_on(run_program_capped(
        &sh,
        &["sh".into(), "-c".into(), "yes x | head -c 100000".into()],
        None,
        &env,
        Duration::from_secs(10),
        1000,
    ));
    assert_eq!(v["exitCode"], json!(0));
    let out = v["stdout"].as_str().expect("stdout");
    assert!(out.starts_with(&"x\n".repeat(500)));
    assert!(out.ends_with("[output truncated: 99000 more bytes not shown]"));
}

#[test]
fn run_timeout_kills_group() {
    let sh = std::fs::canonicalize("/bin/sh").expect("sh");
    let started = std::time::Instant::now();
    let v = rt().block_on(run_program(
        &sh,
        // The grandchild `sleep` holds stdout open: killing only `sh` would hang.
        &[
            "sh".into(),
            "-c".into(),
            "echo start; sleep 30; echo never".into(),
        ],
        None,
        &BTreeMap::new(),
        Duration::from_millis(300),
    ));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(v["timedOut"], json!(true));
    assert_eq!(v["success"], json!(false));
    assert_eq!(v["exitCode"], json!(null));
    assert_eq!(v["stdout"], json!("start\n"));
    assert!(v["error"].as_str().expect("error").contains("timed out"));
}

#[test]
fn run_missing_cwd_reports_error() {
    let sh = std::fs::canonicalize("/bin/sh").expect("sh");
    let v = rt().block_on(run_program(
        &sh,
        &["sh".into(), "-c".into(), "true".into()],
        Some(Path::new("/nonexistent-dir-xyz")),
        &BTreeMap::new(),
        Duration::from_secs(5),
    ));
    assert_eq!(v["success"], json!(false));
    assert!(
        v["error"]
            .as_str()
            .expect("error")
            .contains("failed to start")
    );
}
