//! `web_fetch`'s HTTP side ([`WebFetcher`](openclaw_actors::ports::WebFetcher)) with the SSRF
//! policy enforced where the connection is made:
//!
//! - a host name is resolved here, and **every** address it resolves to must be public
//!   ([`is_public`]) unless the host is exempt; the connection then goes to exactly those
//!   addresses (no second lookup a rebinding DNS server could answer differently);
//! - an IP literal is checked before any connection;
//! - after connecting, the peer address is checked once more;
//! - redirects are not followed by the client: each `Location` is a new request, checked
//!   the same way, at most `maxRedirects`;
//! - the body is read up to `maxResponseBytes` (the rest is not read), the whole fetch
//!   bounded by `timeoutSeconds`; no cookies, no credentials, `Accept-Encoding: identity`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt as _;
use openclaw_actors::ports::{FetchRequest, FetchedPage, LocalFut, SsrfPolicy, WebFetcher};
use openclaw_actors::web_fetch::is_public;

/// Fetches pages over HTTP(S).
#[derive(Debug, Clone, Default)]
pub struct HttpWebFetcher;

impl WebFetcher for HttpWebFetcher {
    fn fetch(&self, req: FetchRequest) -> LocalFut<Result<FetchedPage, String>> {
        Box::pin(async move {
            match tokio::time::timeout(req.timeout, fetch(&req)).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "no complete answer within {} s",
                    req.timeout.as_secs()
                )),
            }
        })
    }
}

/// Whether `host` may reach non-public addresses.
fn exempt(policy: &SsrfPolicy, host: &str) -> bool {
    policy.allow_private_network || policy.allowed_hostnames.iter().any(|h| h == host)
}

/// `Err` when `policy` keeps `host` from `ip`.
fn check(policy: &SsrfPolicy, host: &str, ip: IpAddr) -> Result<(), String> {
    if policy.private_only {
        return if is_public(ip) {
            Err(format!(
                "blocked: {host} is (or resolves to) the public address {ip}, and plain http:// is used only inside a private network. Fix: use an https:// base URL"
            ))
        } else {
            Ok(())
        };
    }
    if exempt(policy, host) || is_public(ip) {
        Ok(())
    } else {
        Err(format!(
            "blocked: {host} is (or resolves to) the non-public address {ip}. Fix: the owner lists the host in tools.web.fetch.ssrfPolicy.allowedHostnames if it is meant to be reached"
        ))
    }
}

/// Resolves names under the policy (see the module docs).
struct GuardedResolver(SsrfPolicy);

impl actix_tls::connect::Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>>
    {
        Box::pin(async move {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
                .await?
                .collect();
            for a in &addrs {
                check(&self.0, &name, a.ip())?;
            }
            if addrs.is_empty() {
                return Err(format!("{name} has no address").into());
            }
            Ok(addrs)
        })
    }
}

fn client(policy: &SsrfPolicy, timeout: Duration) -> awc::Client {
    let resolver = actix_tls::connect::Resolver::custom(GuardedResolver(policy.clone()));
    let p = policy.clone();
    let peer_check: super::PeerCheck =
        std::sync::Arc::new(move |host: &str, peer: SocketAddr| check(&p, host, peer.ip()));
    let mut connector = awc::Connector::new()
        .connector(super::NoDelayConnector::with(resolver, Some(peer_check)))
        .timeout(timeout.min(Duration::from_secs(15)))
        .limit(4);
    if let Some(cfg) = super::tls_config() {
        connector = connector.rustls_0_23(cfg);
    }
    awc::Client::builder()
        .connector(connector)
        .timeout(timeout)
        .disable_redirects()
        .finish()
}

/// `location` against `base` (absolute, scheme-relative, absolute-path or relative).
fn join(base: &awc::http::Uri, location: &str) -> Result<String, String> {
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(location.to_owned());
    }
    let scheme = base.scheme_str().unwrap_or("https");
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{rest}"));
    }
    let authority = base
        .authority()
        .map(|a| a.as_str())
        .ok_or("a redirect from a URL without a host")?;
    if location.starts_with('/') {
        return Ok(format!("{scheme}://{authority}{location}"));
    }
    let path = base.path();
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    Ok(format!("{scheme}://{authority}{dir}/{location}"))
}

async fn fetch(req: &FetchRequest) -> Result<FetchedPage, String> {
    let http = client(&req.policy, req.timeout);
    let mut url = req.url.clone();
    let mut hops = 0u8;
    loop {
        let uri: awc::http::Uri = url.parse().map_err(|_| format!("not a valid URL: {url}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!("only http(s) URLs are fetched, not {url}"));
        }
        let host = uri
            .host()
            .ok_or_else(|| format!("no host in {url}"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err("URLs with credentials (user:password@) are not fetched".into());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            check(&req.policy, &host, ip)?;
        }
        let method = if req.json_body.is_some() {
            awc::http::Method::POST
        } else {
            awc::http::Method::GET
        };
        let mut get = http
            .request(method, uri.clone())
            .insert_header(("User-Agent", req.user_agent.as_str()))
            .insert_header((
                "Accept",
                "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.8",
            ))
            .insert_header(("Accept-Language", "en-US,en;q=0.9"))
            .insert_header(("Accept-Encoding", "identity"));
        for (name, value) in &req.headers {
            get = get.insert_header((name.as_str(), value.as_str()));
        }
        let sent = match &req.json_body {
            Some(body) => {
                get.insert_header(("Content-Type", "application/json"))
                    .send_body(body.clone())
                    .await
            }
            None => get.send().await,
        };
        let mut resp = sent.map_err(|e| format!("{host}: {e}"))?;
        let status = resp.status();
        // A POST is never replayed elsewhere: its redirect comes back as the page.
        if status.is_redirection()
            && req.json_body.is_none()
            && let Some(loc) = resp.headers().get("location").and_then(|l| l.to_str().ok())
        {
            if hops >= req.max_redirects {
                return Err(format!(
                    "more than {} redirects (tools.web.fetch.maxRedirects)",
                    req.max_redirects
                ));
            }
            hops += 1;
            url = join(&uri, loc.trim())?;
            continue;
        }
        if status.as_u16() >= 400 && !req.error_pages {
            return Err(format!("HTTP {} from {url}", status.as_u16()));
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = resp.next().await {
            let chunk = chunk.map_err(|e| format!("reading {url}: {e}"))?;
            let room = req.max_bytes.saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(FetchedPage {
            final_url: url,
            status: status.as_u16(),
            content_type,
            body,
            truncated,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_reaches_only_private_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let plain = SsrfPolicy {
            private_only: true,
            allowed_hostnames: vec!["search.lan".into()],
            ..SsrfPolicy::default()
        };
        assert!(check(&plain, "search.lan", ip("192.168.1.9")).is_ok());
        assert!(check(&plain, "localhost", ip("::1")).is_ok());
        let e = check(&plain, "search.lan", ip("93.184.215.14")).expect_err("public");
        assert!(e.contains("use an https:// base URL"), "{e}");
        // The default policy is the opposite one; an exempt host may be private.
        let strict = SsrfPolicy::default();
        assert!(check(&strict, "x.example", ip("10.0.0.1")).is_err());
        assert!(check(&strict, "x.example", ip("93.184.215.14")).is_ok());
        let exempt = SsrfPolicy {
            allowed_hostnames: vec!["search.lan".into()],
            ..SsrfPolicy::default()
        };
        assert!(check(&exempt, "search.lan", ip("10.0.0.1")).is_ok());
        assert!(check(&exempt, "other.lan", ip("10.0.0.1")).is_err());
    }

    #[test]
    fn redirects_resolve_against_the_page() {
        let base: awc::http::Uri = "https://a.example/x/y?q=1".parse().expect("uri");
        assert_eq!(join(&base, "/z").as_deref(), Ok("https://a.example/z"));
        assert_eq!(join(&base, "w").as_deref(), Ok("https://a.example/x/w"));
        assert_eq!(
            join(&base, "//b.example/v").as_deref(),
            Ok("https://b.example/v")
        );
        assert_eq!(
            join(&base, "HTTP://c.example/").as_deref(),
            Ok("HTTP://c.example/")
        );
    }
}
