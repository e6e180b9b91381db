//! `node run --pair <code-or-url>` and `--pair-if-needed`: reading an OpenClaw setup code.
//!
//! A setup code (`openclaw qr --node`, `device.pair.setupCode`) is base64url (no padding) of
//! `{"url": "ws[s]://host:port[/path]", "bootstrapToken": "…", "expiresAtMs": …}`, maybe
//! with more keys (`urls`, a TLS fingerprint, …), which are ignored. It is given bare or as
//! `oc-pair://<code>` (prefix in any case). The bootstrap token is a bearer secret for the
//! code's lifetime: it is held in memory only, never written to disk and never shown (its
//! `Debug` is redacted, as is the `Debug` of the raw argument, which contains it).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// What to do about a refused or unusable setup code.
pub const NEW_CODE_FIX: &str = "create a new code on the gateway host: openclaw qr --node";

/// The URL scheme a setup code may be wrapped in (matched in any case).
const PREFIX: &str = "oc-pair://";
/// Longest code accepted (a real one is a few hundred characters).
const MAX_CODE_CHARS: usize = 16 * 1024;
/// Longest bootstrap token accepted.
const MAX_TOKEN_CHARS: usize = 512;

/// The raw `--pair` / `--pair-if-needed` argument. It contains the bootstrap token, so its
/// `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct PairArg(String);

impl PairArg {
    /// The argument as given.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for PairArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for PairArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairArg(<redacted>)")
    }
}

/// A setup code's bootstrap token (redacted `Debug`; no `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken(String);

impl BootstrapToken {
    /// The token, for the `connect` that presents it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BootstrapToken(<redacted>)")
    }
}

/// A gateway's WebSocket address, as `node run`'s connection flags describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAddr {
    /// Host name or IP (an IPv6 literal without brackets).
    pub host: String,
    /// Port (the scheme's default when the URL names none).
    pub port: u16,
    /// `wss://`.
    pub tls: bool,
    /// Path prefix (`/openclaw`), when the URL has one.
    pub context_path: Option<String>,
}

/// A decoded setup code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupCode {
    /// The gateway URL as written in the code.
    pub url: String,
    /// Where [`Self::url`] points.
    pub gateway: GatewayAddr,
    /// The single-use credential for the first connect.
    pub bootstrap_token: BootstrapToken,
    /// When the code stops working (ms since the epoch), when the code says.
    pub expires_at_ms: Option<u64>,
}

/// Decodes a setup code (bare or `oc-pair://…`) and checks its URL. `Err` names the problem
/// (never the token).
pub fn decode(input: &str) -> Result<SetupCode, String> {
    let mut raw = input.trim();
    if raw
        .get(..PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
    {
        raw = &raw[PREFIX.len()..];
    }
    // A link may come back with a trailing slash, a padded encoder with `=`: neither is
    // part of the base64url text.
    let raw = raw.trim_end_matches('/').trim_end_matches('=');
    if raw.is_empty() {
        return Err("the setup code is empty".into());
    }
    if raw.len() > MAX_CODE_CHARS {
        return Err(format!(
            "the setup code is too long ({} characters; a setup code has a few hundred)",
            raw.len()
        ));
    }
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "the setup code is not base64url text (it contains {bad:?}); pass the code exactly as shown, or as oc-pair://<code>"
        ));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| "the setup code is not valid base64url (was it cut short?)".to_owned())?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|_| "the setup code does not decode to JSON (was it cut short?)".to_owned())?;
    let Some(obj) = v.as_object() else {
        return Err("the setup code does not decode to a JSON object".into());
    };
    let url = match obj.get("url") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::String(_)) | None => {
            return Err("the setup code has no gateway URL (\"url\")".into());
        }
        Some(_) => return Err("the setup code's \"url\" is not a string".into()),
    };
    let token = match obj.get("bootstrapToken") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None => {
            return Err("the setup code has no bootstrap token (\"bootstrapToken\")".into());
        }
        Some(_) => return Err("the setup code's \"bootstrapToken\" is not a string".into()),
    };
    if token.len() > MAX_TOKEN_CHARS || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the setup code's bootstrap token is malformed".into());
    }
    let expires_at_ms = match obj.get("expiresAtMs") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .ok_or("the setup code's \"expiresAtMs\" is not a time")?,
        ),
        Some(_) => return Err("the setup code's \"expiresAtMs\" is not a number".into()),
    };
    let gateway = parse_gateway_url(&url)?;
    Ok(SetupCode {
        url,
        gateway,
        bootstrap_token: BootstrapToken(token),
        expires_at_ms,
    })
}

/// `Err` when the code's `expiresAtMs` is not after `now_ms`.
pub fn check_fresh(code: &SetupCode, now_ms: u64) -> Result<(), String> {
    match code.expires_at_ms {
        Some(at) if at <= now_ms => {
            let ago = (now_ms - at) / 1000;
            Err(format!(
                "the setup code expired {} ago (setup codes are valid for 10 minutes)",
                if ago < 120 {
                    format!("{ago} s")
                } else {
                    format!("{} min", ago / 60)
                }
            ))
        }
        _ => Ok(()),
    }
}

/// A setup code's `ws://` / `wss://` URL as host, port, TLS and path prefix (the gateway's
/// own reading, [`openclaw_actors::setup_code::GatewayUrl`]). Credentials, a query, a
/// fragment or another scheme are refused.
pub fn parse_gateway_url(url: &str) -> Result<GatewayAddr, String> {
    use openclaw_actors::setup_code::{GatewayUrl, UrlProblem};
    let shown: String = url.chars().take(200).collect();
    let u = GatewayUrl::parse(url, None, false).map_err(|p| {
        let what = match p {
            UrlProblem::Empty | UrlProblem::Malformed => "is not a valid URL",
            UrlProblem::Http { .. } | UrlProblem::Scheme | UrlProblem::BareWithPath => {
                "is not a ws:// or wss:// URL"
            }
            UrlProblem::QueryOrFragment => "has a query or fragment",
            UrlProblem::Credentials => "carries credentials",
            UrlProblem::Authority(why) if why.contains("port") => "has an invalid port",
            UrlProblem::Authority(_) => "has no valid host",
        };
        format!("the setup code's gateway URL {shown:?} {what}")
    })?;
    Ok(GatewayAddr {
        port: u.port.unwrap_or(if u.secure { 443 } else { 80 }),
        tls: u.secure,
        context_path: (!u.path.is_empty()).then_some(u.path),
        host: u.host,
    })
}
