//! The CLI's gateway calls over the shared protocol client ([`crate::client`]): an operator
//! `connect` (device-signed beyond loopback), one request per connection, least-privilege
//! scopes per method.

use std::time::Duration;

use actix_web::rt::time::timeout;
use serde_json::Value;

use crate::client::connect::{ClientInfo, ConnectParams};
pub use crate::client::{CallError, Connection, Target, is_accepted, validate};

/// Scopes a device-signed CLI asks for (the OpenClaw CLI's default set), and those of a
/// method that needs more than one of read, write or pairing.
const DEVICE_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.questions",
    "operator.pairing",
    "operator.talk.secrets",
];

/// Connects as the `cli` operator client asking for `scopes`, and completes the handshake.
pub async fn open(
    target: &Target,
    scopes: &[&str],
    deadline: Duration,
) -> Result<Connection, CallError> {
    // A remote gateway keeps a device-less CLI's scopes empty (only `health` works), so
    // beyond loopback the CLI signs with this machine's device identity, which an
    // operator approves once (`openclaw devices approve`). Such a device asks for the
    // CLI's full operator scope set, so one approval covers every command.
    let device = if target.force_device || !crate::client::is_loopback_url(&target.url) {
        let state = crate::config::state_dir(&crate::config::ProcessEnv);
        Some(
            crate::client::identity::load_or_create_identity(&state)
                .map_err(|e| CallError::transport("config", format!("device identity: {e}")))?,
        )
    } else {
        None
    };
    let scopes = if device.is_some() {
        DEVICE_SCOPES
    } else {
        scopes
    };
    let mut params = ConnectParams::new(
        ClientInfo {
            id: "cli".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            platform: std::env::consts::OS.into(),
            mode: "cli".into(),
            instance_id: Some(uuid::Uuid::new_v4().to_string()),
            ..ClientInfo::default()
        },
        "operator",
    );
    params.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    params.auth.token = target.token.clone();
    params.auth.password = target.password.clone();
    Connection::connect(target, deadline, |challenge| {
        let signing = device.as_ref().map(|identity| {
            let nonce = challenge.nonce.as_deref().unwrap_or("");
            let signed_at = challenge.ts.unwrap_or_else(openclaw_actors::util::now_ms);
            (&identity.key, nonce, signed_at)
        });
        params.to_value(signing).map_err(|e| {
            CallError::transport("protocol", format!("cannot build connect params: {e}"))
        })
    })
    .await
}

/// Opens a connection, runs `f`, closes — all within `deadline`.
pub async fn with_connection<T, F, Fut>(
    target: &Target,
    scopes: &[&str],
    deadline: Duration,
    f: F,
) -> Result<T, CallError>
where
    F: FnOnce(Connection) -> Fut,
    Fut: std::future::Future<Output = Result<(T, Connection), CallError>>,
{
    let work = async {
        let conn = open(target, scopes, deadline).await?;
        let (out, conn) = f(conn).await?;
        conn.close().await;
        Ok(out)
    };
    match timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(CallError::Transport {
            kind: "timeout",
            message: format!(
                "gateway at {} did not answer within {} ms",
                target.url,
                deadline.as_millis()
            ),
            close_code: None,
        }),
    }
}

/// One request on its own connection (opened with `scopes`, closed afterwards), all within
/// `timeout_ms`. With `expect_final` an interim `accepted` reply is skipped.
pub async fn request_once(
    target: &Target,
    scopes: &[&str],
    method: &str,
    params: Value,
    timeout_ms: u64,
    expect_final: bool,
) -> Result<Value, CallError> {
    let m = method.to_owned();
    with_connection(
        target,
        scopes,
        Duration::from_millis(timeout_ms.max(1)),
        |mut conn| async move {
            let r = if expect_final {
                conn.request_final(&m, params).await?
            } else {
                conn.request(&m, params).await?
            };
            Ok((r, conn))
        },
    )
    .await
}

/// Least-privilege scopes for a method, as the OpenClaw CLI picks them.
pub fn scopes_for(method: &str) -> &'static [&'static str] {
    use openclaw_actors::protocol::scopes::{MethodAccess, method_access};
    match method_access(method) {
        MethodAccess::Open | MethodAccess::Operator("operator.read") => &["operator.read"],
        MethodAccess::Operator("operator.write") => &["operator.write"],
        MethodAccess::Operator("operator.pairing") => &["operator.pairing"],
        _ => DEVICE_SCOPES,
    }
}
