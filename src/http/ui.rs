//! The Control UI / WebChat page, served on the gateway's own port for every `GET`/`HEAD`
//! that is not a WebSocket upgrade (the page then opens its WebSocket on the same origin).
//!
//! - `gateway.controlUi.enabled` (default `true`): when `false`, no page is served (`/`
//!   answers a one-line plain-text hint, everything else 404) and WebSocket clients are
//!   unaffected.
//! - `gateway.controlUi.basePath` (default `/`): the page lives under this prefix
//!   (`/openclaw/`, `/openclaw/app.js`, …); `/openclaw` redirects to `/openclaw/`.
//! - The assets (`ui/index.html`, `ui/app.js`, `ui/ed25519.js`, `ui/app.css`, `ui/icon.svg`) are compiled
//!   into the binary: no CDN, no file system, no network at run time.
//! - Every answer carries a strict Content-Security-Policy (scripts, styles and images only
//!   from this origin, no inline script, WebSocket only to this origin, no framing), plus
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
//!   `X-Frame-Options: DENY`.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};

/// The page's settings, resolved at start-up.
#[derive(Debug, Clone)]
pub struct Ui {
    /// `gateway.controlUi.enabled`.
    pub enabled: bool,
    /// The normalized base path: `""` for the root, else `/segment[/segment…]` without a
    /// trailing slash.
    pub base_path: String,
}

impl Default for Ui {
    fn default() -> Self {
        Self {
            enabled: true,
            base_path: String::new(),
        }
    }
}

impl Ui {
    /// From `gateway.controlUi`; the error names the key and the fix.
    pub fn from_config(cfg: &crate::config::ControlUiCfg) -> Result<Self, String> {
        Ok(Self {
            enabled: cfg.enabled.unwrap_or(true),
            base_path: normalize_base_path(cfg.base_path.as_deref().unwrap_or("/"))?,
        })
    }

    /// The page's path (`/` or `/base/`).
    pub fn page_path(&self) -> String {
        format!("{}/", self.base_path)
    }
}

/// `"/"`, `""` → `""`; `"openclaw/"`, `"/openclaw"` → `"/openclaw"`. Only URL-safe
/// characters, no empty, `.` or `..` segments.
pub fn normalize_base_path(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let ok = trimmed.len() <= 200
        && trimmed.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        });
    if !ok {
        return Err(format!(
            "gateway.controlUi.basePath {raw:?} is not a usable URL path. Fix: use segments of letters, digits, '-', '_', '.', '~', e.g. \"/openclaw\""
        ));
    }
    Ok(format!("/{trimmed}"))
}

/// The Content-Security-Policy of every answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("ui/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("ui/app.js"),
    },
    Asset {
        name: "ed25519.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("ui/ed25519.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("ui/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("ui/icon.svg"),
    },
];

fn secured(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("cross-origin-opener-policy", "same-origin"))
        .insert_header(("cross-origin-resource-policy", "same-origin"));
    b
}

fn not_found() -> HttpResponse {
    secured(StatusCode::NOT_FOUND)
        .content_type("text/plain; charset=utf-8")
        .body("not found\n")
}

/// Answers a request that is not a WebSocket upgrade.
pub fn page(req: &HttpRequest) -> HttpResponse {
    let ui = req
        .app_data::<web::Data<Ui>>()
        .map(|d| d.get_ref().clone())
        .unwrap_or_default();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return secured(StatusCode::METHOD_NOT_ALLOWED)
            .insert_header((header::ALLOW, "GET, HEAD"))
            .content_type("text/plain; charset=utf-8")
            .body("method not allowed\n");
    }
    let path = req.path();
    if !ui.enabled {
        if path == "/" {
            return secured(StatusCode::OK)
                .content_type("text/plain; charset=utf-8")
                .body("openclaw-rs gateway: connect with a WebSocket client (protocol v4); the Control UI is off (gateway.controlUi.enabled: false)\n");
        }
        return not_found();
    }
    if !ui.base_path.is_empty() && path == ui.base_path {
        return secured(StatusCode::PERMANENT_REDIRECT)
            .insert_header((header::LOCATION, ui.page_path()))
            .finish();
    }
    let Some(rest) = path
        .strip_prefix(ui.base_path.as_str())
        .and_then(|r| r.strip_prefix('/'))
    else {
        return not_found();
    };
    let Some(asset) = ASSETS.iter().find(|a| a.name == rest) else {
        return not_found();
    };
    let cache = if asset.name.is_empty() {
        "no-cache"
    } else {
        // Same URL across versions: revalidate, but let the browser keep a copy.
        "no-cache, max-age=0"
    };
    let mut b = secured(StatusCode::OK);
    b.content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, cache));
    // For HEAD, actix sends the headers (with the length) and drops the body.
    b.body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths() {
        assert_eq!(normalize_base_path("/").as_deref(), Ok(""));
        assert_eq!(normalize_base_path("").as_deref(), Ok(""));
        assert_eq!(normalize_base_path("openclaw").as_deref(), Ok("/openclaw"));
        assert_eq!(
            normalize_base_path("/a/b-c_d.e~/").as_deref(),
            Ok("/a/b-c_d.e~")
        );
        for bad in [
            "/a//b",
            "/../x",
            "/a/./b",
            "/a b",
            "/a?x",
            "/<script>",
            "/a%2f",
        ] {
            assert!(normalize_base_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn assets_are_embedded_and_local_only() {
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{}", a.name);
            let text = String::from_utf8_lossy(a.body);
            // No CDN or any absolute URL a browser would fetch.
            assert!(!text.contains("://cdn"), "{}", a.name);
            assert!(!text.contains("src=\"http"), "{}", a.name);
            assert!(!text.contains("href=\"http"), "{}", a.name);
        }
        let html = String::from_utf8_lossy(ASSETS[0].body);
        // No inline script (the CSP forbids it anyway).
        assert!(!html.contains("<script>"));
        assert!(html.contains("<script src=\"app.js\" defer></script>"));
        // The pure-JavaScript signer loads first (deferred scripts run in order).
        let signer = html.find("<script src=\"ed25519.js\" defer></script>");
        assert!(signer.is_some() && signer < html.find("<script src=\"app.js\""));
    }
}
