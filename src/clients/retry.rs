//! What the chat-model clients ([`super::openai`], [`super::anthropic`]) share: one HTTP
//! attempt classified as final or worth retrying, and the retry loop around it.
//!
//! 401/403 are final ([`ModelError::Unauthorized`]); 429 ([`ModelError::RateLimited`]),
//! 5xx (Anthropic's 529 `overloaded_error` included), timeouts and network errors
//! ([`ModelError::Unavailable`]) are retried, at most [`MAX_ATTEMPTS`] requests, after the
//! provider's `Retry-After` (capped at [`MAX_RETRY_AFTER`]) or the client's backoff; other
//! 4xx are final ([`ModelError::Rejected`]). A 2xx body the client cannot read is final
//! ([`ModelError::BadResponse`]). Error texts pass through the client's scrubber, which
//! redacts its API key.
//!
//! A streamed answer ([`send_streaming`], [`with_retries_streaming`]) is classified the
//! same way; in addition a stream that ends early, breaks or stalls is retried, and an
//! attempt that failed after streaming text tells the sink [`Delta::Restart`].

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use serde_json::Value;

use super::sse::{Fold, SseParser, Step};
use super::{MAX_BODY, redact, truncate};
use crate::actors::ports::{ChatRequest, ChatResponse, Delta, DeltaSink, LocalFut, ModelError};

/// Requests per completion, the first included.
pub const MAX_ATTEMPTS: usize = 3;

/// Per-request timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest wait honoured from a `Retry-After` header.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The default waits between attempts: 500 ms, then 1 s.
pub(crate) fn default_backoff() -> Vec<Duration> {
    vec![Duration::from_millis(500), Duration::from_secs(1)]
}

/// How one attempt failed.
pub(crate) enum Failure {
    /// Worth another attempt (after the provider's `Retry-After`, if it sent one).
    Retry(ModelError, Option<Duration>),
    /// Final.
    Fatal(ModelError),
}

/// `text` with `key` redacted (unchanged without a key).
pub(crate) fn scrub(text: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => redact(text, k),
        None => text.to_owned(),
    }
}

/// The wait after failed attempt `attempt + 1`: `backoff[attempt]`, else its last entry,
/// else none.
pub(crate) fn backoff_after(backoff: &[Duration], attempt: usize) -> Duration {
    backoff
        .get(attempt)
        .or(backoff.last())
        .copied()
        .unwrap_or(Duration::ZERO)
}

/// `Retry-After` (seconds) or `retry-after-ms`, capped.
pub(crate) fn retry_after(headers: &awc::http::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    let d = get("retry-after-ms")
        .map(|ms| Duration::from_secs_f64((ms / 1000.0).min(MAX_RETRY_AFTER.as_secs_f64())))
        .or_else(|| {
            get("retry-after")
                .map(|s| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())))
        })?;
    Some(d.min(MAX_RETRY_AFTER))
}

/// The provider's error text: `error.message` (OpenAI's and Anthropic's shape), `error`
/// (string), `message` or `detail`; else the start of the body.
pub(crate) fn provider_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let found = [
            v.pointer("/error/message"),
            v.get("error"),
            v.get("message"),
            v.get("detail"),
        ]
        .into_iter()
        .flatten()
        .find_map(Value::as_str);
        if let Some(m) = found {
            return truncate(m, 500);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        truncate(text, 300)
    }
}

/// Sends `body` with `req` (method, URL, headers already set) and classifies the outcome:
/// a 2xx body decoded by `parse`, or a [`Failure`]. `timeout` is the request's (for the
/// message); every error text passes through `scrub`.
pub(crate) async fn send(
    req: awc::ClientRequest,
    body: &bytes::Bytes,
    timeout: Duration,
    scrub: &dyn Fn(&str) -> String,
    parse: fn(&[u8]) -> Result<ChatResponse, String>,
) -> Result<ChatResponse, Failure> {
    let mut resp = req
        .send_body(body.clone())
        .await
        .map_err(|e| send_failure(e, timeout, scrub))?;
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers());
    let bytes = read_body(&mut resp, status, scrub).await?;
    classify(status, retry_after, &bytes, scrub, parse)
}

/// [`send`] for a streamed answer (the body asked for `"stream": true`): a 2xx
/// `text/event-stream` is read as it arrives, each event handed to `fold` and its text
/// pieces to `text`; a 2xx of another type (a provider or proxy that does not stream) is
/// decoded by `parse` as [`send`] does, and so are errors. The stream ending before the
/// provider's end marker without a finish reason, breaking, or staying silent for
/// `timeout` is worth a retry; an oversize line or answer is final.
pub(crate) async fn send_streaming<F: Fold>(
    req: awc::ClientRequest,
    body: &bytes::Bytes,
    timeout: Duration,
    scrub: &dyn Fn(&str) -> String,
    parse: fn(&[u8]) -> Result<ChatResponse, String>,
    mut fold: F,
    text: &dyn Fn(&str),
) -> Result<ChatResponse, Failure> {
    use futures_util::StreamExt as _;

    let mut resp = req
        .send_body(body.clone())
        .await
        .map_err(|e| send_failure(e, timeout, scrub))?;
    let status = resp.status().as_u16();
    let streamed = (200..300).contains(&status)
        && resp
            .headers()
            .get(awc::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                t.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("text/event-stream")
            });
    if !streamed {
        let retry_after = retry_after(resp.headers());
        let bytes = read_body(&mut resp, status, scrub).await?;
        return classify(status, retry_after, &bytes, scrub, parse);
    }
    let bad = |e: String| Failure::Fatal(ModelError::BadResponse(scrub(&e)));
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut done = false;
    while !done {
        let chunk = match actix_web::rt::time::timeout(timeout, resp.next()).await {
            Err(_) => {
                let msg = format!("the stream stalled: nothing within {timeout:?}");
                return Err(Failure::Retry(ModelError::Unavailable(msg), None));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                let msg = scrub(&format!("the stream broke: {e}"));
                return Err(Failure::Retry(ModelError::Unavailable(msg), None));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        parser.feed(&chunk, &mut events).map_err(bad)?;
        for data in events.drain(..) {
            let step = fold
                .event(&data, text)
                .map_err(|f| scrub_failure(f, scrub))?;
            if step == Step::Done {
                done = true;
                break;
            }
        }
    }
    if !done && let Some(data) = parser.finish().map_err(bad)? {
        let step = fold
            .event(&data, text)
            .map_err(|f| scrub_failure(f, scrub))?;
        done = step == Step::Done;
    }
    if !done && !fold.finished() {
        return Err(Failure::Retry(
            ModelError::Unavailable("the stream ended early".to_owned()),
            None,
        ));
    }
    fold.answer().map_err(bad)
}

/// `failure` with its text scrubbed.
fn scrub_failure(failure: Failure, scrub: &dyn Fn(&str) -> String) -> Failure {
    let clean = |e: ModelError| e.map_message(|s| scrub(&s));
    match failure {
        Failure::Retry(e, after) => Failure::Retry(clean(e), after),
        Failure::Fatal(e) => Failure::Fatal(clean(e)),
    }
}

/// A request that got no answer: worth a retry.
fn send_failure(
    e: awc::error::SendRequestError,
    timeout: Duration,
    scrub: &dyn Fn(&str) -> String,
) -> Failure {
    let msg = match e {
        awc::error::SendRequestError::Timeout => format!("no answer within {timeout:?}"),
        other => other.to_string(),
    };
    Failure::Retry(ModelError::Unavailable(scrub(&msg)), None)
}

/// The whole body of `resp` (at most [`MAX_BODY`] bytes).
async fn read_body<S>(
    resp: &mut awc::ClientResponse<S>,
    status: u16,
    scrub: &dyn Fn(&str) -> String,
) -> Result<bytes::Bytes, Failure>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    match resp.body().limit(MAX_BODY).await {
        Ok(b) => Ok(b),
        Err(awc::error::PayloadError::Overflow) if (200..300).contains(&status) => {
            Err(Failure::Fatal(ModelError::BadResponse(format!(
                "answer larger than {MAX_BODY} bytes"
            ))))
        }
        Err(e) => {
            let msg = format!("HTTP {status}: cannot read the body: {e}");
            Err(Failure::Retry(ModelError::Unavailable(scrub(&msg)), None))
        }
    }
}

/// A whole answer: a 2xx decoded by `parse`, else the error its status says.
fn classify(
    status: u16,
    retry_after: Option<Duration>,
    bytes: &[u8],
    scrub: &dyn Fn(&str) -> String,
    parse: fn(&[u8]) -> Result<ChatResponse, String>,
) -> Result<ChatResponse, Failure> {
    if (200..300).contains(&status) {
        return parse(bytes).map_err(|e| Failure::Fatal(ModelError::BadResponse(scrub(&e))));
    }
    let detail = scrub(&format!("HTTP {status}: {}", provider_message(bytes)));
    Err(match status {
        401 | 403 => Failure::Fatal(ModelError::Unauthorized(detail)),
        429 => Failure::Retry(ModelError::RateLimited(detail), retry_after),
        500..=599 => Failure::Retry(ModelError::Unavailable(detail), retry_after),
        _ => Failure::Fatal(ModelError::Rejected(detail)),
    })
}

/// Runs `attempt` until it succeeds, fails for good, or [`MAX_ATTEMPTS`] attempts failed;
/// between attempts waits the provider's `Retry-After` or [`backoff_after`] `backoff`.
/// Failures are logged under `label` (`provider/model`).
pub(crate) async fn with_retries<F, Fut>(
    label: &str,
    backoff: &[Duration],
    attempt: F,
) -> Result<ChatResponse, ModelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<ChatResponse, Failure>>,
{
    retry_loop(label, backoff, attempt, || {}).await
}

/// [`with_retries`] for a streamed answer: each attempt gets a sink passing its pieces to
/// `sink`; when an attempt that streamed text fails (a retry follows or not), `sink` gets
/// [`Delta::Restart`] once, right away.
pub(crate) async fn with_retries_streaming<F, Fut>(
    label: &str,
    backoff: &[Duration],
    sink: DeltaSink,
    mut attempt: F,
) -> Result<ChatResponse, ModelError>
where
    F: FnMut(DeltaSink) -> Fut,
    Fut: Future<Output = Result<ChatResponse, Failure>>,
{
    let sent = Rc::new(Cell::new(false));
    let tracked: DeltaSink = {
        let (sent, sink) = (sent.clone(), sink.clone());
        Rc::new(move |d: Delta<'_>| {
            if matches!(d, Delta::Text(t) if !t.is_empty()) {
                sent.set(true);
            }
            sink(d);
        })
    };
    let void = || {
        if sent.replace(false) {
            sink(Delta::Restart);
        }
    };
    retry_loop(label, backoff, || attempt(tracked.clone()), void).await
}

/// The loop of [`with_retries`], `failed` called after every failed attempt.
async fn retry_loop<F, Fut>(
    label: &str,
    backoff: &[Duration],
    mut attempt: F,
    failed: impl Fn(),
) -> Result<ChatResponse, ModelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<ChatResponse, Failure>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match attempt().await {
            Ok(r) => return Ok(r),
            Err(Failure::Fatal(e)) => {
                failed();
                log::warn!("model {label}: {e}");
                return Err(e);
            }
            Err(Failure::Retry(e, after)) => {
                failed();
                if n >= MAX_ATTEMPTS {
                    log::warn!("model {label}: {e} (gave up after {n} attempts)");
                    return Err(e);
                }
                let wait = after.unwrap_or_else(|| backoff_after(backoff, n - 1));
                log::info!("model {label}: {e}; retrying in {wait:?} (attempt {n}/{MAX_ATTEMPTS})");
                actix_web::rt::time::sleep(wait).await;
            }
        }
    }
}

/// What a provider client gives the shared completion path ([`complete`]): its request,
/// body encoding and answer formats. The HTTP exchange, retries, streaming and key
/// scrubbing are the same for every provider.
pub(crate) trait Wire: Clone + 'static {
    /// The provider's streamed-answer fold.
    type Fold: Fold + Default;
    /// Decodes a whole (non-streamed) answer.
    const PARSE: fn(&[u8]) -> Result<ChatResponse, String>;
    /// `provider/model`, for logs.
    fn wire_label(&self) -> String;
    /// The request, URL and headers set.
    fn request(&self) -> awc::ClientRequest;
    /// The JSON body of `req` (`stream`: ask for a streamed answer).
    fn body(&self, req: &ChatRequest, stream: bool) -> serde_json::Result<Vec<u8>>;
    /// Per-request timeout.
    fn timeout(&self) -> Duration;
    /// Waits between attempts.
    fn backoff(&self) -> &[Duration];
    /// The key, to keep out of error texts.
    fn key(&self) -> Option<&str>;
}

/// One completion through `wire`, with retries; streamed to `sink` when given.
/// `answer` with its [`Replay`](crate::actors::ports::Replay) marked as `label`'s (the
/// model that wrote it: only that model is sent it again).
pub(crate) fn stamped(
    answer: LocalFut<Result<ChatResponse, ModelError>>,
    label: String,
) -> LocalFut<Result<ChatResponse, ModelError>> {
    Box::pin(async move {
        answer.await.map(|mut r| {
            if let Some(replay) = r.message.replay.as_mut().and_then(std::sync::Arc::get_mut) {
                replay.from = label;
            }
            r
        })
    })
}

pub(crate) fn complete<W: Wire>(
    wire: &W,
    req: ChatRequest,
    sink: Option<DeltaSink>,
) -> LocalFut<Result<ChatResponse, ModelError>> {
    let w = wire.clone();
    Box::pin(async move {
        let body = match w.body(&req, sink.is_some()) {
            Ok(b) => bytes::Bytes::from(b),
            Err(e) => return Err(ModelError::Rejected(format!("cannot encode: {e}"))),
        };
        let label = w.wire_label();
        let scrub = |t: &str| scrub(t, w.key());
        let (w, body, scrub) = (&w, &body, &scrub);
        match sink {
            None => {
                with_retries(&label, w.backoff(), || {
                    send(w.request(), body, w.timeout(), scrub, W::PARSE)
                })
                .await
            }
            Some(sink) => {
                with_retries_streaming(&label, w.backoff(), sink, move |s| async move {
                    send_streaming(
                        w.request(),
                        body,
                        w.timeout(),
                        scrub,
                        W::PARSE,
                        W::Fold::default(),
                        &|t| s(Delta::Text(t)),
                    )
                    .await
                })
                .await
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_uses_the_last_delay_when_short_and_none_when_empty() {
        let b = [Duration::from_millis(5), Duration::from_millis(7)];
        assert_eq!(backoff_after(&b, 0), Duration::from_millis(5));
        assert_eq!(backoff_after(&b, 5), Duration::from_millis(7));
        assert_eq!(backoff_after(&[], 0), Duration::ZERO);
        assert_eq!(scrub("k=abc", Some("abc")), "k=<redacted>");
        assert_eq!(scrub("k=abc", None), "k=abc");
    }
}
