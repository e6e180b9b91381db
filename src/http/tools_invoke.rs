//! OpenClaw's `POST /tools/invoke` (`docs/gateway/tools-invoke-http-api.md`): one agent
//! tool called directly, for scripts and automations, under the same policy as the
//! WebSocket's `tools.invoke` ([`openclaw_actors::registry::tool_invoke`]).
//!
//! - **Always on**, like OpenClaw's; the gateway's auth as for `/v1/*`: `Authorization:
//!   Bearer <token or password>` (constant time, the failed-auth limiter: `429` with
//!   `Retry-After`); none with `gateway.auth.mode: "none"` (loopback only). A valid secret
//!   is the owner. In `none` mode `x-openclaw-scopes` can narrow the caller: without
//!   `operator.admin` it is not the owner.
//! - **Not for browsers**: a request with an `Origin` this gateway does not allow is
//!   refused before anything is read, and so is (with `auth.mode: "none"`) a body that is
//!   not `application/json`: a page on another site cannot reach the tools of a gateway
//!   without auth through a simple form post.
//! - Body (at most 2 MB): `{tool | name, action?, args?, sessionKey?, agentId?,
//!   idempotencyKey?, dryRun?}` (`name` wins over `tool`; `dryRun` is ignored, as in
//!   OpenClaw).
//! - `200 {ok: true, result: {content: [{type: "text", text}], details}}`; `400` a bad
//!   request or a tool that failed, `403` a tool's policy refused it, `404` a tool that is
//!   unknown or not allowed, `405` not a `POST`, `413` too large, `503` busy: `{ok: false,
//!   error: {type, message}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use openclaw_actors::Engine;
use openclaw_actors::auth::AuthMode;
use openclaw_actors::registry::tool_invoke::{FailKind, InvokeTool, target};
use serde_json::{Map, Value, json};

use crate::http::metrics::{Denied, check_bearer};

/// OpenClaw's default body limit for this endpoint.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

fn failure(status: StatusCode, kind: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("cache-control", "no-store"))
        .json(json!({"ok": false, "error": {"type": kind, "message": message.into()}}))
}

fn bad(message: impl Into<String>) -> HttpResponse {
    failure(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// Whether the caller is the owner: a valid shared secret always; with no auth, unless
/// `x-openclaw-scopes` is sent without `operator.admin`.
fn owner(req: &HttpRequest, engine: &Engine) -> bool {
    if engine.shared.live.get().auth.mode != AuthMode::None {
        return true;
    }
    crate::http::openai::header(req, "x-openclaw-scopes").is_none_or(|h| {
        h.split([',', ' '])
            .any(|s| s.trim() == openclaw_actors::protocol::scopes::ADMIN)
    })
}

/// An optional string of the body.
fn text<'a>(o: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        Some(_) => Err(format!("`{k}` must be a string")),
    }
}

/// `POST /tools/invoke`.
pub async fn invoke(
    req: HttpRequest,
    body: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    if req.method() != actix_web::http::Method::POST {
        return crate::http::openai::method_not_allowed("POST");
    }
    // A browser page of another site: refused before the secret or the body is looked at.
    match crate::http::ws::attribute(&req, &engine) {
        Ok(peer) if !peer.origin_allowed => {
            return failure(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this Origin may not call the gateway's tools. Fix: call /tools/invoke from a script, not a web page, or add the page's origin to gateway.controlUi.allowedOrigins",
            );
        }
        Ok(_) => {}
        Err(resp) => return *resp,
    }
    match check_bearer(&req, &engine).await {
        Ok(()) => {}
        Err(Denied::Unauthorized) => {
            return HttpResponse::Unauthorized()
                .insert_header(("www-authenticate", "Bearer"))
                .json(json!({"ok": false, "error": {"type": "unauthorized", "message": "Unauthorized"}}));
        }
        Err(Denied::Locked(secs)) => {
            return HttpResponse::TooManyRequests()
                .insert_header(("retry-after", secs.to_string()))
                .json(json!({"ok": false, "error": {"type": "rate_limited", "message": "Too many failed authentication attempts. Retry later."}}));
        }
        Err(Denied::Busy) => {
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the gateway is stopping",
            );
        }
        Err(Denied::Refused(resp)) => return resp,
    }
    // With no auth, only a JSON body: a form post from a page (no CORS preflight) cannot
    // reach the tools. With a secret a page cannot send it, and any body type is read as
    // OpenClaw reads it (`curl -d` without a content type works).
    let json_body = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || m.ends_with("+json")
        });
    if !json_body && engine.shared.live.get().auth.mode == AuthMode::None {
        return failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "the body must be JSON. Fix: send Content-Type: application/json",
        );
    }
    let o = match read_object(body, &req).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let parsed = (|| {
        let name = match text(&o, "name")? {
            Some(n) => n,
            None => text(&o, "tool")?.ok_or("tools.invoke requires name")?,
        };
        let action = text(&o, "action")?.map(str::to_owned);
        let args = match o.get("args") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(a)) => a.clone(),
            Some(_) => return Err("`args` must be an object".to_owned()),
        };
        let session_key = target(text(&o, "sessionKey")?, text(&o, "agentId")?)?;
        let idem = text(&o, "idempotencyKey")?.map(str::to_owned);
        if idem.as_ref().is_some_and(|k| k.len() > 256) {
            return Err("`idempotencyKey` must be at most 256 bytes".to_owned());
        }
        Ok((name.to_owned(), action, args, session_key, idem))
    })();
    let (name, action, args, session_key, idempotency_key) = match parsed {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    let msg = InvokeTool {
        session_key,
        name,
        args,
        action,
        idempotency_key,
        owner: owner(&req, &engine),
        surface: "http",
    };
    match engine.registry.send(msg).await {
        Ok(Ok(result)) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(json!({"ok": true, "result": result})),
        Ok(Err(f)) => failure(
            StatusCode::from_u16(f.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            f.kind.http_type(),
            f.message,
        ),
        Err(_) => failure(
            StatusCode::SERVICE_UNAVAILABLE,
            FailKind::Busy.http_type(),
            "the gateway is stopping",
        ),
    }
}

/// The body as a JSON object, at most [`MAX_BODY_BYTES`] (`413` beyond).
async fn read_object(
    body: web::Payload,
    req: &HttpRequest,
) -> Result<Map<String, Value>, HttpResponse> {
    use crate::http::openai::{BodyError, read_limited};
    let buf = read_limited(body, req, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
            ),
            BodyError::Read(e) => bad(format!("Cannot read the request body: {e}")),
        })?;
    match serde_json::from_slice(&buf) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(bad("The body must be a JSON object.")),
        Err(e) => Err(bad(format!("Invalid JSON body: {e}"))),
    }
}
