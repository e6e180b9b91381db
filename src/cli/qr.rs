//! `openclaw qr`: asks the running gateway for a single-use setup code
//! (`device.pair.setupCode`, scope `operator.admin`) that pairs a phone running the OpenClaw
//! app or a headless node host (`openclaw node run --pair <code>`).
//!
//! The flags are OpenClaw's `openclaw qr` flags. `--url` / `--public-url` name the URL the
//! phone or node should use (it goes into the code); this CLI itself always connects to the
//! configured gateway (the local one, or `gateway.remote.url` with `gateway.mode: "remote"`),
//! with `--token` / `--password` as its credentials. The code is printed on stdout, below a
//! QR code of it drawn with half blocks (`--no-ascii`: the code only) for the app to scan.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value, json};

use super::client::{CallError, Target, request_once};
use super::{ConnArgs, Failure, client_target, failure, pretty};

/// The gateway method.
const METHOD: &str = "device.pair.setupCode";
/// The scope it needs.
const SCOPES: &[&str] = &["operator.admin"];

/// `openclaw qr`.
#[derive(Debug, Args)]
#[command(
    mut_arg("url", |a| a
        .value_name("URL")
        .help("The gateway URL the phone or node should use, put in the code (ws://, wss:// or host[:port]); same as --public-url. This CLI still connects to the configured gateway")),
    mut_arg("json", |a| a
        .help("Print {setupCode, gatewayUrl, gatewayUrls?, auth, access, accessDowngraded?, urlSource, expiresAtMs, setupId} as JSON (wins over --setup-code-only)")),
)]
pub struct QrArgs {
    /// Same as --url: the gateway URL put in the code.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Prefer gateway.remote.url (as the gateway has it configured) for the URL in the code.
    #[arg(long)]
    pub remote: bool,
    /// Pair with limited operator access (no operator.admin).
    #[arg(long)]
    pub limited: bool,
    /// Pair a voice node (the node role plus operator.read and operator.talk).
    #[arg(long)]
    pub voice_node: bool,
    /// Pair a headless node host only (`openclaw node run --pair <code>`), no operator access.
    #[arg(long)]
    pub node: bool,
    /// Print only the setup code.
    #[arg(long)]
    pub setup_code_only: bool,
    /// Do not draw the QR code (print the setup code and the details only).
    #[arg(long = "no-ascii")]
    pub no_ascii: bool,
    /// Connection flags (`--url` is the URL in the code, see above).
    #[command(flatten)]
    pub conn: ConnArgs,
}

fn usage(message: String) -> Failure {
    Failure {
        code: 1,
        message,
        json: None,
    }
}

/// Checks a `--url` / `--public-url` value before the call: `ws://` or `wss://` (an optional
/// path), or a bare `host[:port]` (the gateway's own reading,
/// [`openclaw_actors::setup_code::GatewayUrl`]). Returns it trimmed.
pub fn check_url(flag: &str, raw: &str) -> Result<String, String> {
    use openclaw_actors::setup_code::{GatewayUrl, UrlProblem};
    const EXAMPLE: &str = "ws://192.168.1.20:18789 or wss://gateway.example";
    let url = raw.trim();
    let shown: String = url.chars().take(200).collect();
    let Err(problem) = GatewayUrl::parse(url, Some(false), false) else {
        return Ok(url.to_owned());
    };
    Err(match problem {
        UrlProblem::Empty => format!(
            "{flag} is empty. Fix: pass the URL the phone or node reaches the gateway at, e.g. {flag} {EXAMPLE}"
        ),
        UrlProblem::Malformed => format!(
            "{flag} {shown:?} contains spaces or control characters. Fix: pass a URL such as {EXAMPLE}"
        ),
        UrlProblem::Http { secure } => {
            let ws = if secure { "wss" } else { "ws" };
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            format!(
                "{flag} {shown:?} is an HTTP URL, not a gateway (WebSocket) URL. Fix: pass {ws}://{rest}"
            )
        }
        UrlProblem::Scheme => format!(
            "{flag} {shown:?} is not a ws:// or wss:// URL. Fix: pass a URL such as {EXAMPLE}"
        ),
        UrlProblem::QueryOrFragment => format!(
            "{flag} {shown:?} has a query or fragment, which a gateway URL cannot carry. Fix: drop everything from the ? or #"
        ),
        UrlProblem::BareWithPath => format!(
            "{flag} {shown:?} is neither a ws:// or wss:// URL nor a bare host[:port]. Fix: write it as ws://{url} (wss:// behind TLS)"
        ),
        UrlProblem::Credentials => format!(
            "{flag} {shown:?} carries credentials (user@), which must not go into a setup code. Fix: drop the user:password@ part; the code carries its own single-use token"
        ),
        UrlProblem::Authority(why) => {
            let example = if url.contains("://") {
                EXAMPLE
            } else {
                "192.168.1.20:18789 or gateway.example"
            };
            format!("{flag} {shown:?} {why}. Fix: pass a URL such as {example}")
        }
    })
}

/// The `device.pair.setupCode` params for the flags, or why they do not go together.
pub fn setup_params(args: &QrArgs) -> Result<Value, String> {
    let mut params = Map::new();
    let url = match (&args.conn.url, &args.public_url) {
        (Some(_), Some(_)) => {
            return Err("--url and --public-url both set the gateway URL put in the setup code. Fix: pass only one of them (they mean the same)".to_owned());
        }
        (Some(u), None) => Some(check_url("--url", u)?),
        (None, Some(u)) => Some(check_url("--public-url", u)?),
        (None, None) => None,
    };
    if let Some(u) = url {
        params.insert("publicUrl".into(), json!(u));
    }
    if args.remote {
        params.insert("preferRemoteUrl".into(), json!(true));
    }
    let profiles: Vec<(&str, &str)> = [
        (args.limited, "--limited", "limited"),
        (args.voice_node, "--voice-node", "voice-node"),
        (args.node, "--node", "node"),
    ]
    .into_iter()
    .filter(|(on, _, _)| *on)
    .map(|(_, flag, profile)| (flag, profile))
    .collect();
    match profiles.as_slice() {
        [] => {}
        [(_, profile)] => {
            params.insert("bootstrapProfile".into(), json!(profile));
        }
        many => {
            let flags: Vec<&str> = many.iter().map(|(f, _)| *f).collect();
            return Err(format!(
                "{} cannot be combined: a setup code hands over one kind of access. Fix: pass only one of --limited, --voice-node or --node (none: full access where the URL allows it)",
                flags.join(" and ")
            ));
        }
    }
    // The QR is drawn here, from the code: the gateway's PNG of it is not needed.
    params.insert("includeQr".into(), json!(false));
    Ok(Value::Object(params))
}

/// The QR code of `code` for the terminal, with the line that says what to do with it
/// (`None`: too long for a QR code, which a setup code never is).
pub fn qr_block(code: &str) -> Option<String> {
    let qr = openclaw_actors::qr::terminal(code)?;
    Some(format!(
        "Scan this with the OpenClaw app (iOS/Android: Onboarding → Scan QR):\n\n{qr}"
    ))
}

/// The connection flags for the call: `--url` names the URL in the code, so the CLI
/// connects to the configured gateway instead.
pub fn connect_args(args: &QrArgs) -> ConnArgs {
    ConnArgs {
        url: None,
        ..args.conn.clone()
    }
}

/// The setup code of a reply, refused unless it looks like one (base64url), so nothing
/// else from the network ends up in a shell command we suggest.
pub fn setup_code(payload: &Value) -> Result<&str, String> {
    let code = payload
        .get("setupCode")
        .and_then(Value::as_str)
        .unwrap_or("");
    if code.is_empty() {
        return Err(format!(
            "the gateway's {METHOD} reply has no setupCode. Fix: upgrade the gateway"
        ));
    }
    if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "the gateway's {METHOD} reply has a malformed setupCode (not base64url). Fix: upgrade the gateway"
        ));
    }
    Ok(code)
}

/// The `--json` output: the reply's fields OpenClaw's `qr --json` prints, plus `expiresAtMs`
/// and `setupId`.
pub fn json_output(payload: &Value) -> Result<Value, String> {
    setup_code(payload)?;
    let mut out = Map::new();
    for key in [
        "setupCode",
        "gatewayUrl",
        "gatewayUrls",
        "auth",
        "access",
        "accessDowngraded",
        "urlSource",
        "expiresAtMs",
        "setupId",
    ] {
        if let Some(v) = payload.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

/// A string from the reply, without control characters (no terminal escapes).
fn text(payload: &Value, key: &str) -> String {
    payload
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// `ms` since the epoch as ISO 8601 UTC to the second.
fn iso_s(ms: u64) -> Option<String> {
    let ms = i64::try_from(ms).ok()?;
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| format!("{t:.0}"))
}

/// "in 10 minutes" for the time left until `expires_at_ms`, or `None` once it has passed.
fn expires_in(expires_at_ms: u64, now_ms: u64) -> Option<String> {
    let left = expires_at_ms.checked_sub(now_ms).filter(|l| *l > 0)?;
    Some(if left >= 60_000 {
        let minutes = (left + 30_000) / 60_000;
        format!("in {minutes} minute{}", if minutes == 1 { "" } else { "s" })
    } else {
        let seconds = left.div_ceil(1000);
        format!("in {seconds} second{}", if seconds == 1 { "" } else { "s" })
    })
}

/// The readable output for a reply, as of `now_ms` (for the time left).
pub fn render_human(payload: &Value, now_ms: u64) -> Result<String, String> {
    let code = setup_code(payload)?;
    let expires_at = payload.get("expiresAtMs").and_then(Value::as_u64);
    let when = match (
        expires_at.and_then(|e| expires_in(e, now_ms)),
        expires_at.and_then(iso_s),
    ) {
        (Some(left), Some(at)) => format!(", expires {left}, at {at}"),
        (None, Some(at)) => format!(", expires at {at}"),
        (Some(left), None) => format!(", expires {left}"),
        (None, None) => String::new(),
    };
    let url = text(payload, "gatewayUrl");
    let source = text(payload, "urlSource");
    let access = text(payload, "access");
    let downgraded = payload.get("accessDowngraded").and_then(Value::as_bool) == Some(true);
    let access_line = if downgraded {
        "limited (plaintext LAN URL: operator access without admin; use wss:// for full access)"
            .to_owned()
    } else {
        match access.as_str() {
            "" => "-".to_owned(),
            "node" => "node (pairs a node host only, no operator access)".to_owned(),
            other => other.to_owned(),
        }
    };
    let mut lines = vec![
        format!("Setup code (single use{when}):"),
        code.to_owned(),
        String::new(),
        format!(
            "Gateway: {}{} · access: {access_line}",
            if url.is_empty() { "-" } else { url.as_str() },
            if source.is_empty() {
                String::new()
            } else {
                format!(" (from {source})")
            }
        ),
    ];
    if let Some(urls) = payload.get("gatewayUrls").and_then(Value::as_array) {
        for u in urls.iter().filter_map(Value::as_str) {
            let u: String = u.chars().filter(|c| !c.is_control()).collect();
            if !u.is_empty() && u != url {
                lines.push(format!("Fallback: {u}"));
            }
        }
    }
    if access == "node" && !downgraded {
        lines.push("This code pairs a node only: on the node host run".to_owned());
        lines.push(format!("  openclaw node run --pair {code}"));
    } else {
        lines.push(
            "Paste the code in the OpenClaw app (iOS/Android: Settings → Gateway → Setup code),"
                .to_owned(),
        );
        lines.push(format!(
            "or pair a headless node host: openclaw node run --pair {code}"
        ));
    }
    Ok(lines.join("\n"))
}

/// A failed call, with a fix for a gateway that does not know the method.
fn call_failure(err: &CallError, target: &Target) -> Failure {
    let mut f = failure(err, target);
    if err.message().contains("unknown method") && !f.message.contains("\nFix:") {
        f.message = format!(
            "{}\nFix: upgrade the gateway; it does not serve {METHOD} yet",
            f.message
        );
    }
    f
}

/// Runs `openclaw qr`.
pub async fn run(config: Option<PathBuf>, args: QrArgs) -> Result<(), Failure> {
    let params = setup_params(&args).map_err(usage)?;
    let conn = connect_args(&args);
    let target = client_target(config, &conn).await?;
    let payload = request_once(&target, SCOPES, METHOD, params, conn.timeout, false)
        .await
        .map_err(|e| call_failure(&e, &target))?;
    let out = if args.conn.json {
        pretty(&json_output(&payload).map_err(usage)?)
    } else if args.setup_code_only {
        setup_code(&payload).map_err(usage)?.to_owned()
    } else {
        let text = render_human(&payload, openclaw_actors::util::now_ms()).map_err(usage)?;
        let qr = (!args.no_ascii)
            .then(|| qr_block(setup_code(&payload).unwrap_or_default()))
            .flatten();
        match qr {
            Some(qr) => format!("{qr}\n{text}"),
            None => text,
        }
    };
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_796_437_200_000; // 2026-12-05T02:20:00Z

    fn parse(args: &[&str]) -> Result<QrArgs, String> {
        let mut argv = vec!["openclaw", "qr"];
        argv.extend_from_slice(args);
        let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match cli.command {
            crate::cli::Command::Qr(q) => Ok(q),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn params(args: &[&str]) -> Result<Value, String> {
        setup_params(&parse(args)?)
    }

    fn reply() -> Value {
        json!({
            "setupId": "s-1",
            "expiresAtMs": NOW + 600_000,
            "setupCode": "eyJ1cmwiOiJ3czovLzE5Mi4xNjguMS4yMDoxODc4OSJ9",
            "gatewayUrl": "ws://192.168.1.20:18789",
            "gatewayUrls": ["ws://192.168.1.20:18789", "ws://gw.local:18789"],
            "auth": "token",
            "urlSource": "gateway.bind=lan",
            "access": "full",
        })
    }

    #[test]
    fn flags_map_to_rpc_params() {
        assert_eq!(params(&[]).expect("none"), json!({"includeQr": false}));
        assert_eq!(
            params(&["--url", " ws://192.168.1.20:18789 "]).expect("url"),
            json!({"publicUrl": "ws://192.168.1.20:18789", "includeQr": false})
        );
        assert_eq!(
            params(&["--public-url", "wss://gw.example/openclaw"]).expect("public url"),
            json!({"publicUrl": "wss://gw.example/openclaw", "includeQr": false})
        );
        assert_eq!(
            params(&["--remote"]).expect("remote"),
            json!({"preferRemoteUrl": true, "includeQr": false})
        );
        for (flag, profile) in [
            ("--limited", "limited"),
            ("--voice-node", "voice-node"),
            ("--node", "node"),
        ] {
            assert_eq!(
                params(&[flag]).expect(flag),
                json!({"bootstrapProfile": profile, "includeQr": false})
            );
        }
        assert_eq!(
            params(&["--remote", "--url", "gw.example:443", "--node"]).expect("all"),
            json!({"publicUrl": "gw.example:443", "preferRemoteUrl": true, "bootstrapProfile": "node", "includeQr": false})
        );
    }

    #[test]
    fn output_and_connection_flags_parse() {
        let a = parse(&[
            "--json",
            "--setup-code-only",
            "--no-ascii",
            "--token",
            "-tok",
            "--timeout",
            "5000",
        ])
        .expect("parse");
        assert!(a.conn.json && a.setup_code_only && a.no_ascii);
        assert_eq!(a.conn.token.as_deref(), Some("-tok"));
        assert_eq!(a.conn.timeout, 5000);
        assert_eq!(
            setup_params(&a).expect("params"),
            json!({"includeQr": false})
        );
    }

    #[test]
    fn url_names_the_url_in_the_code_not_where_the_cli_connects() {
        let a = parse(&["--url", "ws://192.168.1.20:18789", "--password", "pw"]).expect("parse");
        let conn = connect_args(&a);
        assert_eq!(conn.url, None);
        assert_eq!(conn.password.as_deref(), Some("pw"));
        let mut cmd = crate::cli::Cli::command();
        let qr = cmd.find_subcommand_mut("qr").expect("qr subcommand");
        let help = qr
            .get_arguments()
            .find(|a| a.get_id() == "url")
            .and_then(|a| a.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(help.contains("same as --public-url"), "{help}");
    }

    #[test]
    fn url_and_public_url_together_are_refused() {
        let e = params(&["--url", "ws://a.local:1", "--public-url", "ws://a.local:1"])
            .expect_err("conflict");
        assert!(e.contains("--url and --public-url"), "{e}");
        assert!(e.contains("Fix: pass only one"), "{e}");
    }

    #[test]
    fn access_profiles_are_mutually_exclusive() {
        let e = params(&["--limited", "--node"]).expect_err("conflict");
        assert!(
            e.starts_with("--limited and --node cannot be combined"),
            "{e}"
        );
        assert!(
            e.contains("Fix: pass only one of --limited, --voice-node or --node"),
            "{e}"
        );
        let e = params(&["--voice-node", "--node", "--limited"]).expect_err("three");
        assert!(
            e.starts_with("--limited and --voice-node and --node"),
            "{e}"
        );
    }

    #[test]
    fn urls_are_checked_before_the_call() {
        for ok in [
            "ws://192.168.1.20:18789",
            "WSS://Gateway.Example",
            "wss://gw.example/openclaw",
            "ws://[fe80::1]:18789",
            "192.168.1.20:18789",
            "gw.local",
            "[::1]:18789",
        ] {
            assert_eq!(check_url("--url", ok).as_deref(), Ok(ok), "{ok}");
        }
        for (bad, why, fix) in [
            ("", "is empty", "Fix: pass the URL"),
            ("  ", "is empty", "Fix: pass the URL"),
            (
                "http://gw.local:18789",
                "HTTP URL",
                "Fix: pass ws://gw.local:18789",
            ),
            (
                "https://gw.example",
                "HTTP URL",
                "Fix: pass wss://gw.example",
            ),
            ("ftp://gw.example", "not a ws:// or wss:// URL", "Fix:"),
            (
                "ws://user:pw@gw.example",
                "carries credentials",
                "Fix: drop",
            ),
            ("ws://gw.example/?x=1", "query or fragment", "Fix: drop"),
            ("ws://", "has no host", "Fix:"),
            ("ws://gw.example:0", "invalid port", "Fix:"),
            ("gw.example:99999", "invalid port", "Fix:"),
            ("ws://fe80::1:18789", "without brackets", "Fix:"),
            ("ws://[nothex]:1", "no valid host", "Fix:"),
            ("ws://gw example", "spaces", "Fix:"),
            (
                "gw.example/path",
                "nor a bare host[:port]",
                "Fix: write it as ws://gw.example/path",
            ),
        ] {
            let e = check_url("--url", bad).expect_err(bad);
            assert!(e.starts_with("--url "), "{bad}: {e}");
            assert!(e.contains(why) && e.contains(fix), "{bad}: {e}");
        }
        let e = params(&["--public-url", "http://gw.local"]).expect_err("checked");
        assert!(e.starts_with("--public-url \"http://gw.local\""), "{e}");
    }

    #[test]
    fn human_output_shows_code_expiry_gateway_and_access() {
        let out = render_human(&reply(), NOW).expect("render");
        let code = "eyJ1cmwiOiJ3czovLzE5Mi4xNjguMS4yMDoxODc4OSJ9";
        assert_eq!(
            out,
            format!(
                "Setup code (single use, expires in 10 minutes, at 2026-12-05T02:30:00Z):\n\
                 {code}\n\
                 \n\
                 Gateway: ws://192.168.1.20:18789 (from gateway.bind=lan) · access: full\n\
                 Fallback: ws://gw.local:18789\n\
                 Paste the code in the OpenClaw app (iOS/Android: Settings → Gateway → Setup code),\n\
                 or pair a headless node host: openclaw node run --pair {code}"
            )
        );
        // A little later; and once past, only the time.
        let out = render_human(&reply(), NOW + 570_500).expect("render");
        assert!(
            out.starts_with("Setup code (single use, expires in 30 seconds, at "),
            "{out}"
        );
        let out = render_human(&reply(), NOW + 700_000).expect("render");
        assert!(
            out.starts_with("Setup code (single use, expires at 2026-12-05T02:30:00Z):"),
            "{out}"
        );
    }

    #[test]
    fn downgraded_and_node_access_are_explained() {
        let mut r = reply();
        r["access"] = json!("limited");
        r["accessDowngraded"] = json!(true);
        let out = render_human(&r, NOW).expect("render");
        assert!(out.contains(
            "· access: limited (plaintext LAN URL: operator access without admin; use wss:// for full access)\n"
        ), "{out}");
        r["access"] = json!("limited");
        r["accessDowngraded"] = json!(false);
        let out = render_human(&r, NOW).expect("render");
        assert!(out.contains("· access: limited\n"), "{out}");
        r["access"] = json!("node");
        let out = render_human(&r, NOW).expect("render");
        assert!(
            out.contains("· access: node (pairs a node host only, no operator access)"),
            "{out}"
        );
        assert!(
            out.contains(
                "This code pairs a node only: on the node host run\n  openclaw node run --pair eyJ"
            ),
            "{out}"
        );
        assert!(!out.contains("OpenClaw app"), "{out}");
    }

    #[test]
    fn json_output_keeps_the_contract_fields() {
        let mut r = reply();
        r["extra"] = json!("not copied");
        r["accessDowngraded"] = json!(true);
        assert_eq!(
            json_output(&r).expect("json"),
            json!({
                "setupCode": "eyJ1cmwiOiJ3czovLzE5Mi4xNjguMS4yMDoxODc4OSJ9",
                "gatewayUrl": "ws://192.168.1.20:18789",
                "gatewayUrls": ["ws://192.168.1.20:18789", "ws://gw.local:18789"],
                "auth": "token",
                "access": "full",
                "accessDowngraded": true,
                "urlSource": "gateway.bind=lan",
                "expiresAtMs": NOW + 600_000,
                "setupId": "s-1",
            })
        );
        let mut r = reply();
        r.as_object_mut().map(|o| o.remove("gatewayUrls"));
        let out = json_output(&r).expect("json");
        assert!(out.get("gatewayUrls").is_none() && out.get("accessDowngraded").is_none());
    }

    #[test]
    fn malformed_replies_are_refused() {
        for bad in [
            json!({}),
            json!({"setupCode": ""}),
            json!({"setupCode": 7}),
            json!({"setupCode": "abc'; rm -rf ~ #"}),
            json!({"setupCode": "abc\u{1b}[2J"}),
        ] {
            let e = render_human(&bad, NOW).expect_err("refused");
            assert!(
                e.contains("setupCode") && e.contains("Fix: upgrade the gateway"),
                "{e}"
            );
            assert!(json_output(&bad).is_err());
        }
        // Control characters in the other fields are dropped, missing ones shown as "-".
        let out = render_human(
            &json!({"setupCode": "abc", "gatewayUrl": "ws://x.local\u{1b}[2J"}),
            NOW,
        )
        .expect("render");
        assert!(out.starts_with("Setup code (single use):\nabc\n"), "{out}");
        assert!(
            out.contains("Gateway: ws://x.local[2J · access: -\n"),
            "{out}"
        );
    }
}
