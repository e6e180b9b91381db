//! The Telegram Bot API over HTTPS: [`BotApi`] implements
//! [`TelegramApi`](crate::actors::channel::telegram::api::TelegramApi).
//!
//! Every method is a `POST {api_root}/bot{token}/{method}` with a JSON body. The bot token is
//! part of the URL path, so it is scrubbed (`bot<redacted>`) from every error string and log
//! line, and [`BotApi`]'s `Debug` never prints it.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{MAX_BODY, redact, truncate};
use crate::actors::channel::telegram::api::{
    SendMedia, SendMessage, TelegramApi, TgError, TgFile, TgUpdate, TgUser,
};
use crate::actors::media::MediaKind;
use crate::actors::ports::LocalFut;

/// The public Bot API endpoint.
pub const DEFAULT_API_ROOT: &str = "https://api.telegram.org";

/// HTTP timeout of the non-polling methods.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP timeout of a file upload (up to 20 MiB).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Extra time a long poll is given beyond its `timeout` before the HTTP request gives up.
const POLL_GRACE: Duration = Duration::from_secs(15);

/// The only update kind the gateway consumes.
const ALLOWED_UPDATES: [&str; 2] = ["message", "callback_query"];

/// A Bot API client for one bot token (plain data: it also says how an account reaches its
/// bot across threads, and compares by API root and token).
#[derive(Clone, PartialEq, Eq)]
pub struct BotApi {
    api_root: String,
    token: String,
    /// The bot's own proxy (`channels.telegram.proxy`), else the gateway's egress.
    proxy: Option<std::sync::Arc<super::proxy::ProxyUrl>>,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("api_root", &self.api_root)
            .field("token", &"<redacted>")
            .field("proxy", &self.proxy)
            .finish()
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

impl BotApi {
    /// A client for `token` at `api_root` (e.g. [`DEFAULT_API_ROOT`] or a local fake's
    /// `http://127.0.0.1:PORT`); a trailing slash is tolerated.
    pub fn new(api_root: &str, token: &str) -> Self {
        Self {
            api_root: api_root.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            proxy: None,
        }
    }

    /// Every request of this bot through `proxy` (none: the gateway's egress).
    pub fn with_proxy(mut self, proxy: Option<std::sync::Arc<super::proxy::ProxyUrl>>) -> Self {
        self.proxy = proxy;
        self
    }

    /// This bot's HTTP client.
    fn client(&self) -> awc::Client {
        super::http_client_via(self.proxy.as_ref())
    }

    /// The API root (without trailing slash).
    pub fn api_root(&self) -> &str {
        &self.api_root
    }

    /// Calls `method` with `body`; the result decoded as `T`.
    fn call<T: DeserializeOwned + 'static>(
        &self,
        method: &'static str,
        body: Value,
        timeout: Duration,
    ) -> LocalFut<Result<T, TgError>> {
        let url = format!("{}/bot{}/{method}", self.api_root, self.token);
        let token = self.token.clone();
        let client = self.client();
        Box::pin(async move {
            let result = call_raw(&client, &url, body, timeout).await.and_then(|v| {
                serde_json::from_value::<T>(v)
                    .map_err(|e| TgError::Network(format!("unexpected {method} result: {e}")))
            });
            result.map_err(|e| {
                let e = redact_error(e, &token);
                log::debug!("telegram {method} failed: {e}");
                e
            })
        })
    }
}

/// One request; `Ok(result)` for `{ok:true,result}`.
async fn call_raw(
    client: &awc::Client,
    url: &str,
    body: Value,
    timeout: Duration,
) -> Result<Value, TgError> {
    let resp = client.post(url).timeout(timeout).send_json(&body).await;
    read_answer(resp, timeout).await
}

/// A `multipart/form-data` upload; `Ok(result)` for `{ok:true,result}`.
async fn upload_raw(
    client: &awc::Client,
    url: &str,
    form: Multipart,
    timeout: Duration,
) -> Result<Value, TgError> {
    let resp = client
        .post(url)
        .timeout(timeout)
        .content_type(form.content_type())
        .send_body(form.body)
        .await;
    read_answer(resp, timeout).await
}

/// The answer to a request: the decoded envelope, or the failure classified.
async fn read_answer<S>(
    resp: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
    timeout: Duration,
) -> Result<Value, TgError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
{
    let mut resp = resp.map_err(|e| match e {
        awc::error::SendRequestError::Timeout => {
            TgError::Network(format!("request timed out after {}s", timeout.as_secs()))
        }
        other => TgError::Network(other.to_string()),
    })?;
    let status = resp.status().as_u16();
    let bytes = resp
        .body()
        .limit(MAX_BODY)
        .await
        .map_err(|e| TgError::Network(format!("HTTP {status}: cannot read the body: {e}")))?;
    decode_envelope(status, &bytes)
}

/// A Bot API answer (`status`, body) → `Ok(result)` for `{ok:true,result}` with a 2xx, the
/// classified error otherwise.
fn decode_envelope(status: u16, bytes: &[u8]) -> Result<Value, TgError> {
    let envelope = serde_json::from_slice::<Envelope>(bytes).ok();
    match envelope {
        Some(Envelope {
            ok: true,
            result: Some(result),
            ..
        }) if (200..300).contains(&status) => Ok(result),
        Some(env) => {
            let code = env
                .error_code
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| *c >= 400)
                .unwrap_or(status);
            let description = env.description.unwrap_or_else(|| format!("HTTP {status}"));
            let retry_after = env.parameters.and_then(|p| p.retry_after);
            Err(classify(code, description, retry_after))
        }
        None => {
            let text = truncate(&String::from_utf8_lossy(bytes), 200);
            match status {
                429 | 401 | 404 | 409 => Err(classify(status, format!("HTTP {status}"), None)),
                _ => Err(TgError::Network(format!(
                    "HTTP {status} with an unreadable body: {text:?}"
                ))),
            }
        }
    }
}

fn classify(code: u16, description: String, retry_after: Option<u64>) -> TgError {
    match code {
        429 => TgError::RateLimited {
            retry_after: retry_after.unwrap_or(1),
        },
        401 | 404 => TgError::Unauthorized(description),
        409 => TgError::Conflict(description),
        500..=599 => TgError::Network(format!("HTTP {code}: {description}")),
        // A 2xx whose envelope is not `ok:true` with a result.
        200..=299 => TgError::Network(format!("malformed response: {description}")),
        _ => TgError::Api { code, description },
    }
}

fn redact_error(e: TgError, token: &str) -> TgError {
    match e {
        TgError::Network(s) => TgError::Network(redact(&s, token)),
        TgError::Unauthorized(s) => TgError::Unauthorized(redact(&s, token)),
        TgError::Conflict(s) => TgError::Conflict(redact(&s, token)),
        TgError::Api { code, description } => TgError::Api {
            code,
            description: redact(&description, token),
        },
        e @ TgError::RateLimited { .. } => e,
    }
}

/// A whole `getUpdates` answer body (HTTP 200), as the poller decodes it: the envelope, then
/// [`decode_updates`]. Public for the fuzz target (`fuzz/fuzz_targets/telegram_updates.rs`).
pub fn decode_get_updates(body: &[u8]) -> Result<Vec<TgUpdate>, TgError> {
    decode_updates(decode_envelope(200, body)?)
}

/// Updates decoded one by one: an update whose payload does not parse keeps its `update_id`
/// (so the offset still advances past it) and loses its message.
fn decode_updates(v: Value) -> Result<Vec<TgUpdate>, TgError> {
    let Value::Array(items) = v else {
        return Err(TgError::Network("getUpdates result is not an array".into()));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(update_id) = item.get("update_id").and_then(Value::as_i64) else {
            log::warn!("telegram update without update_id skipped");
            continue;
        };
        match serde_json::from_value::<TgUpdate>(item) {
            Ok(u) => out.push(u),
            Err(e) => {
                log::warn!("telegram update {update_id} not understood ({e}); skipped");
                out.push(TgUpdate {
                    update_id,
                    message: None,
                    callback_query: None,
                });
            }
        }
    }
    Ok(out)
}

/// A `multipart/form-data` body under construction (RFC 7578): text fields and one file.
pub struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Multipart {
    /// An empty form with a random boundary (a caption cannot contain it by accident, nor a
    /// sender by design: it is never shown to anyone before the upload).
    pub fn new() -> Self {
        Self {
            boundary: format!("openclaw-{}", uuid::Uuid::new_v4().simple()),
            body: Vec::new(),
        }
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// A text field. Names are ours (ASCII); values are any text.
    pub fn text(&mut self, name: &str, value: &str) {
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
    }

    /// The file field; `file_name` keeps only characters safe in a quoted header value.
    pub fn file(&mut self, name: &str, file_name: &str, mime: &str, data: &[u8]) {
        let safe: String = file_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{safe}\"\r\nContent-Type: {mime}\r\n\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(data);
        self.body.extend_from_slice(b"\r\n");
    }

    /// The body, closed.
    pub fn finish(mut self) -> Self {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        self
    }

    /// The body bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body, taken.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

impl Default for Multipart {
    fn default() -> Self {
        Self::new()
    }
}

/// The method and the file's field name for `kind`.
pub fn media_method(kind: MediaKind) -> (&'static str, &'static str) {
    match kind {
        MediaKind::Photo => ("sendPhoto", "photo"),
        MediaKind::Video => ("sendVideo", "video"),
        MediaKind::Animation => ("sendAnimation", "animation"),
        MediaKind::Document => ("sendDocument", "document"),
        // A voice note (OGG/Opus, MP3 or M4A): a spoken answer.
        MediaKind::Audio => ("sendVoice", "voice"),
    }
}

/// The fields an upload shares with `sendMessage`: chat, reply, topic, silence.
fn delivery_fields(form: &mut Multipart, msg: &SendMedia) {
    form.text("chat_id", &msg.chat_id.to_string());
    if let Some(id) = msg.reply_to_message_id {
        form.text(
            "reply_parameters",
            &json!({"message_id": id, "allow_sending_without_reply": true}).to_string(),
        );
    }
    if let Some(thread) = msg.message_thread_id {
        form.text("message_thread_id", &thread.to_string());
    }
    if msg.disable_notification {
        form.text("disable_notification", "true");
    }
}

/// The upload form for `msg` (the fields of `sendMessage`, a caption and the file).
pub fn send_media_form(msg: &SendMedia) -> Multipart {
    let (_, field) = media_method(msg.kind);
    let mut form = Multipart::new();
    delivery_fields(&mut form, msg);
    if let Some(c) = &msg.caption {
        form.text("caption", c);
    }
    form.file(field, &msg.file_name, &msg.mime, &msg.data);
    form.finish()
}

/// The `sendMediaGroup` upload form for `items` (2 to 10 photos): each file a part
/// (`file0`, `file1`, …) its `media` entry attaches; the first item's caption, reply,
/// topic and silence for the album.
pub fn send_media_group_form(items: &[SendMedia]) -> Multipart {
    let mut form = Multipart::new();
    let Some(first) = items.first() else {
        return form.finish();
    };
    delivery_fields(&mut form, first);
    let media: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut entry =
                json!({"type": media_method(m.kind).1, "media": format!("attach://file{i}")});
            if let Some(c) = m.caption.as_ref().filter(|_| i == 0) {
                entry["caption"] = json!(c);
            }
            entry
        })
        .collect();
    form.text("media", &Value::Array(media).to_string());
    for (i, m) in items.iter().enumerate() {
        form.file(&format!("file{i}"), &m.file_name, &m.mime, &m.data);
    }
    form.finish()
}

/// The `sendMessage` JSON body for `msg`.
pub fn send_message_body(msg: &SendMessage) -> Value {
    let mut body = json!({"chat_id": msg.chat_id, "text": msg.text});
    if let Some(id) = msg.reply_to_message_id {
        body["reply_parameters"] = json!({"message_id": id, "allow_sending_without_reply": true});
    }
    if let Some(thread) = msg.message_thread_id {
        body["message_thread_id"] = json!(thread);
    }
    if let Some(markup) = &msg.reply_markup {
        body["reply_markup"] = markup.clone();
    }
    if msg.disable_notification {
        body["disable_notification"] = json!(true);
    }
    if msg.disable_link_preview {
        body["link_preview_options"] = json!({"is_disabled": true});
    }
    body
}

impl BotApi {
    /// Posts the upload `form` to `method`; the token never shows in an error.
    fn upload(&self, method: &'static str, form: Multipart) -> LocalFut<Result<Value, TgError>> {
        let url = format!("{}/bot{}/{method}", self.api_root, self.token);
        let token = self.token.clone();
        let client = self.client();
        Box::pin(async move {
            upload_raw(&client, &url, form, UPLOAD_TIMEOUT)
                .await
                .map_err(|e| {
                    let e = redact_error(e, &token);
                    log::debug!("telegram {method} failed: {e}");
                    e
                })
        })
    }
}

impl TelegramApi for BotApi {
    fn get_me(&self) -> LocalFut<Result<TgUser, TgError>> {
        self.call("getMe", json!({}), CALL_TIMEOUT)
    }

    fn get_updates(
        &self,
        offset: Option<i64>,
        timeout_s: u32,
    ) -> LocalFut<Result<Vec<TgUpdate>, TgError>> {
        let mut body = json!({"timeout": timeout_s, "allowed_updates": ALLOWED_UPDATES});
        if let Some(o) = offset {
            body["offset"] = json!(o);
        }
        let fut = self.call::<Value>(
            "getUpdates",
            body,
            Duration::from_secs(u64::from(timeout_s)) + POLL_GRACE,
        );
        Box::pin(async move { decode_updates(fut.await?) })
    }

    fn send_message(&self, msg: SendMessage) -> LocalFut<Result<i64, TgError>> {
        let fut = self.call::<Value>("sendMessage", send_message_body(&msg), CALL_TIMEOUT);
        Box::pin(async move {
            let v = fut.await?;
            v.get("message_id")
                .and_then(Value::as_i64)
                .ok_or_else(|| TgError::Network("sendMessage result has no message_id".into()))
        })
    }

    fn send_media(&self, msg: SendMedia) -> LocalFut<Result<i64, TgError>> {
        let (method, _) = media_method(msg.kind);
        let upload = self.upload(method, send_media_form(&msg));
        Box::pin(async move {
            upload
                .await?
                .get("message_id")
                .and_then(Value::as_i64)
                .ok_or_else(|| TgError::Network(format!("{method} result has no message_id")))
        })
    }

    fn send_media_group(&self, items: Vec<SendMedia>) -> LocalFut<Result<Vec<i64>, TgError>> {
        let upload = self.upload("sendMediaGroup", send_media_group_form(&items));
        Box::pin(async move {
            let v = upload.await?;
            let ids: Vec<i64> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.get("message_id").and_then(Value::as_i64))
                        .collect()
                })
                .unwrap_or_default();
            if ids.is_empty() {
                return Err(TgError::Network(
                    "sendMediaGroup result has no messages".into(),
                ));
            }
            Ok(ids)
        })
    }

    fn get_file(&self, file_id: String) -> LocalFut<Result<TgFile, TgError>> {
        self.call("getFile", json!({"file_id": file_id}), CALL_TIMEOUT)
    }

    fn download_file(
        &self,
        file_path: String,
        max_bytes: usize,
    ) -> LocalFut<Result<Vec<u8>, TgError>> {
        let url = format!("{}/file/bot{}/{file_path}", self.api_root, self.token);
        let token = self.token.clone();
        let client = self.client();
        Box::pin(async move {
            // Telegram names the path; still, only a plain relative path is fetched.
            let plain = !file_path.is_empty()
                && !file_path.starts_with('/')
                && file_path
                    .split('/')
                    .all(|seg| !seg.is_empty() && seg != ".." && seg != ".")
                && file_path
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
            if !plain {
                return Err(TgError::Api {
                    code: 400,
                    description: format!("unexpected file path {:?}", truncate(&file_path, 80)),
                });
            }
            let res = async {
                let mut resp = client
                    .get(&url)
                    .timeout(UPLOAD_TIMEOUT)
                    .send()
                    .await
                    .map_err(|e| TgError::Network(e.to_string()))?;
                let status = resp.status().as_u16();
                if status != 200 {
                    let body = resp.body().limit(MAX_BODY).await.unwrap_or_default();
                    return Err(decode_envelope(status, &body)
                        .err()
                        .unwrap_or_else(|| TgError::Network(format!("HTTP {status}"))));
                }
                resp.body().limit(max_bytes).await.map_err(|e| match e {
                    awc::error::PayloadError::Overflow => TgError::Api {
                        code: 413,
                        description: format!("the file is larger than {max_bytes} bytes"),
                    },
                    other => TgError::Network(format!("cannot read the file: {other}")),
                })
            }
            .await;
            res.map(|b| b.to_vec()).map_err(|e| redact_error(e, &token))
        })
    }

    fn set_webhook(&self, url: String, secret: String) -> LocalFut<Result<(), TgError>> {
        let body = json!({"url": url, "secret_token": secret, "allowed_updates": ALLOWED_UPDATES});
        let fut = self.call::<Value>("setWebhook", body, CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn delete_webhook(&self) -> LocalFut<Result<(), TgError>> {
        let fut = self.call::<Value>(
            "deleteWebhook",
            json!({"drop_pending_updates": false}),
            CALL_TIMEOUT,
        );
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn set_my_commands(&self, commands: Vec<(String, String)>) -> LocalFut<Result<(), TgError>> {
        let list: Vec<Value> = commands
            .iter()
            .map(|(command, description)| json!({"command": command, "description": description}))
            .collect();
        let fut = self.call::<Value>("setMyCommands", json!({"commands": list}), CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn delete_my_commands(&self) -> LocalFut<Result<(), TgError>> {
        let fut = self.call::<Value>("deleteMyCommands", json!({}), CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn send_chat_action(
        &self,
        chat_id: i64,
        thread_id: Option<i64>,
        action: &'static str,
    ) -> LocalFut<Result<(), TgError>> {
        let mut body = json!({"chat_id": chat_id, "action": action});
        if let Some(t) = thread_id {
            body["message_thread_id"] = json!(t);
        }
        let fut = self.call::<Value>("sendChatAction", body, CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn edit_message_text(
        &self,
        chat_id: i64,
        message_id: i64,
        text: String,
    ) -> LocalFut<Result<(), TgError>> {
        let body = json!({"chat_id": chat_id, "message_id": message_id, "text": text});
        let fut = self.call::<Value>("editMessageText", body, CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn edit_message_reply_markup(
        &self,
        chat_id: i64,
        message_id: i64,
        markup: Option<Value>,
    ) -> LocalFut<Result<(), TgError>> {
        // Without `reply_markup` Telegram takes the inline keyboard away.
        let mut body = json!({"chat_id": chat_id, "message_id": message_id});
        if let Some(m) = markup {
            body["reply_markup"] = m;
        }
        let fut = self.call::<Value>("editMessageReplyMarkup", body, CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn answer_callback_query(
        &self,
        id: String,
        text: Option<String>,
    ) -> LocalFut<Result<(), TgError>> {
        let mut body = json!({"callback_query_id": id});
        if let Some(t) = text {
            body["text"] = json!(t);
        }
        let fut = self.call::<Value>("answerCallbackQuery", body, CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn delete_message(&self, chat_id: i64, message_id: i64) -> LocalFut<Result<(), TgError>> {
        let body = json!({"chat_id": chat_id, "message_id": message_id});
        let fut = self.call::<Value>("deleteMessage", body, CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn get_chat(&self, username: String) -> LocalFut<Result<i64, TgError>> {
        let fut = self.call::<Value>("getChat", json!({"chat_id": username}), CALL_TIMEOUT);
        Box::pin(async move {
            let v = fut.await?;
            v.get("id")
                .and_then(Value::as_i64)
                .ok_or_else(|| TgError::Network("getChat result has no id".into()))
        })
    }

    fn set_message_reaction(
        &self,
        chat_id: i64,
        message_id: i64,
        emoji: String,
    ) -> LocalFut<Result<(), TgError>> {
        let reaction = if emoji.is_empty() {
            json!([])
        } else {
            json!([{"type": "emoji", "emoji": emoji}])
        };
        let body = json!({"chat_id": chat_id, "message_id": message_id, "reaction": reaction});
        let fut = self.call::<Value>("setMessageReaction", body, CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn pin_message(
        &self,
        chat_id: i64,
        message_id: i64,
        pin: bool,
        silent: bool,
    ) -> LocalFut<Result<(), TgError>> {
        let (method, body) = if pin {
            (
                "pinChatMessage",
                json!({"chat_id": chat_id, "message_id": message_id, "disable_notification": silent}),
            )
        } else {
            (
                "unpinChatMessage",
                json!({"chat_id": chat_id, "message_id": message_id}),
            )
        };
        let fut = self.call::<Value>(method, body, CALL_TIMEOUT);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    fn send_location(
        &self,
        loc: openclaw_actors::channel::telegram::api::SendLocation,
    ) -> LocalFut<Result<i64, TgError>> {
        let method = if loc.title.is_some() && loc.address.is_some() {
            "sendVenue"
        } else {
            "sendLocation"
        };
        let body = serde_json::to_value(&loc).unwrap_or(Value::Null);
        let fut = self.call::<Value>(method, body, CALL_TIMEOUT);
        Box::pin(async move {
            fut.await?
                .get("message_id")
                .and_then(Value::as_i64)
                .ok_or_else(|| TgError::Network(format!("{method}: no message_id in the answer")))
        })
    }

    fn send_poll(
        &self,
        poll: openclaw_actors::channel::telegram::api::SendPoll,
    ) -> LocalFut<Result<(i64, String), TgError>> {
        let body = serde_json::to_value(&poll).unwrap_or(Value::Null);
        let fut = self.call::<Value>("sendPoll", body, CALL_TIMEOUT);
        Box::pin(async move {
            let msg = fut.await?;
            let id = msg
                .get("message_id")
                .and_then(Value::as_i64)
                .ok_or_else(|| TgError::Network("sendPoll: no message_id in the answer".into()))?;
            let poll_id = msg
                .pointer("/poll/id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Ok((id, poll_id))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456:SECRET-token_abc";

    fn assert_no_token(e: &TgError) {
        for s in [e.to_string(), format!("{e:?}")] {
            assert!(!s.contains(TOKEN), "token leaked: {s}");
            assert!(!s.contains("SECRET-token_abc"), "token leaked: {s}");
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let api = BotApi::new("https://api.telegram.org/", TOKEN);
        let dbg = format!("{api:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        assert_eq!(api.api_root(), "https://api.telegram.org");
    }

    #[test]
    fn an_album_form_attaches_each_photo_and_captions_the_first() {
        let item = |name: &str, caption: Option<&str>| SendMedia {
            chat_id: -100,
            kind: MediaKind::Photo,
            data: std::rc::Rc::from(name.as_bytes()),
            mime: "image/png".into(),
            file_name: format!("{name}.png"),
            caption: caption.map(str::to_owned),
            reply_to_message_id: Some(7),
            message_thread_id: Some(4),
            disable_notification: true,
        };
        let form = send_media_group_form(&[item("a", Some("Both \"pics\"")), item("b", Some("x"))]);
        let body = String::from_utf8_lossy(form.bytes()).into_owned();
        let media = body
            .split("name=\"media\"\r\n\r\n")
            .nth(1)
            .and_then(|r| r.split("\r\n").next())
            .expect("a media field");
        let media: Value = serde_json::from_str(media).expect("media is JSON");
        assert_eq!(
            media,
            json!([{"type": "photo", "media": "attach://file0", "caption": "Both \"pics\""},
                   {"type": "photo", "media": "attach://file1"}])
        );
        for needle in [
            "name=\"file0\"; filename=\"a.png\"",
            "name=\"file1\"; filename=\"b.png\"",
            "name=\"message_thread_id\"\r\n\r\n4\r\n",
            "name=\"disable_notification\"\r\n\r\ntrue\r\n",
            "\"message_id\":7",
        ] {
            assert!(body.contains(needle), "{needle}: {body}");
        }
    }

    #[test]
    fn send_message_body_maps_reply_parameters() {
        let body = send_message_body(&SendMessage {
            chat_id: 5,
            text: "hi".into(),
            reply_to_message_id: Some(9),
            message_thread_id: Some(3),
            reply_markup: None,
            disable_notification: false,
            disable_link_preview: false,
        });
        assert_eq!(
            body,
            json!({"chat_id": 5, "text": "hi",
                "reply_parameters": {"message_id": 9, "allow_sending_without_reply": true},
                "message_thread_id": 3})
        );
        let plain = send_message_body(&SendMessage {
            chat_id: 5,
            text: "hi".into(),
            reply_to_message_id: None,
            message_thread_id: None,
            reply_markup: None,
            disable_notification: true,
            disable_link_preview: true,
        });
        assert_eq!(
            plain,
            json!({"chat_id": 5, "text": "hi", "disable_notification": true,
                "link_preview_options": {"is_disabled": true}})
        );
    }

    #[test]
    fn classify_maps_codes() {
        assert_eq!(
            classify(429, "x".into(), Some(7)),
            TgError::RateLimited { retry_after: 7 }
        );
        assert_eq!(
            classify(429, "x".into(), None),
            TgError::RateLimited { retry_after: 1 }
        );
        assert!(matches!(
            classify(401, "x".into(), None),
            TgError::Unauthorized(_)
        ));
        assert!(matches!(
            classify(404, "x".into(), None),
            TgError::Unauthorized(_)
        ));
        assert!(matches!(
            classify(409, "x".into(), None),
            TgError::Conflict(_)
        ));
        assert!(matches!(
            classify(502, "x".into(), None),
            TgError::Network(_)
        ));
        assert_eq!(
            classify(400, "Bad Request".into(), None),
            TgError::Api {
                code: 400,
                description: "Bad Request".into()
            }
        );
    }

    #[test]
    fn undecodable_updates_keep_their_id() {
        let v = json!([
            {"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1, "type": "private"}, "text": "a"}},
            {"update_id": 2, "message": {"message_id": "bogus"}},
            {"no_id": true},
        ]);
        let ups = decode_updates(v).expect("array decodes");
        assert_eq!(ups.len(), 2);
        assert_eq!(ups[1].update_id, 2);
        assert!(ups[1].message.is_none());
    }

    /// Forces errors whose natural text would contain the URL (and so the token) and checks
    /// the token never shows.
    #[actix_web::test]
    async fn errors_never_contain_the_token() {
        // Connection refused: a port that was just free.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("reserve a local port");
        let api = BotApi::new(&format!("http://127.0.0.1:{port}"), TOKEN);
        let e = api.get_me().await.expect_err("nothing listens there");
        assert!(matches!(e, TgError::Network(_)), "{e:?}");
        assert_no_token(&e);

        // An invalid URL (awc's error may quote it).
        let bad = BotApi::new("http://127.0.0.1:1/ bad", TOKEN);
        let e = bad.get_me().await.expect_err("invalid URL");
        assert!(matches!(e, TgError::Network(_)), "{e:?}");
        assert_no_token(&e);

        // A server that echoes the request path in its descriptions.
        let server = actix_web::HttpServer::new(|| {
            actix_web::App::new().default_service(actix_web::web::to(
                |req: actix_web::HttpRequest| async move {
                    let path = req.path().to_owned();
                    let status = if path.ends_with("/getMe") { 404 } else { 400 };
                    actix_web::HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status)
                            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
                    )
                    .json(json!({"ok": false, "error_code": status,
                        "description": format!("Not Found: {path}")}))
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))
        .expect("bind the echo server");
        let addr = server.addrs()[0];
        let running = server.run();
        let handle = running.handle();
        actix_web::rt::spawn(running);
        let api = BotApi::new(&format!("http://{addr}"), TOKEN);
        let e = api.get_me().await.expect_err("404");
        assert!(matches!(e, TgError::Unauthorized(_)), "{e:?}");
        assert!(e.to_string().contains("bot<redacted>/getMe"), "{e}");
        assert_no_token(&e);
        let e = api.delete_webhook().await.expect_err("400");
        assert!(matches!(e, TgError::Api { code: 400, .. }), "{e:?}");
        assert_no_token(&e);
        handle.stop(false).await;
    }
}
