//! Error codes and the wire error shape `{code, message, details?, retryable?, retryAfterMs?}`.

use serde::Serialize;
use serde_json::{Value, json};

use crate::protocol::codes;

/// Stable top-level error codes (`ErrorCodes` in OpenClaw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorCode {
    /// Malformed frame, bad params, unknown method, auth failures.
    #[serde(rename = "INVALID_REQUEST")]
    InvalidRequest,
    /// Missing scope.
    #[serde(rename = "FORBIDDEN")]
    Forbidden,
    /// The gateway cannot serve this right now.
    #[serde(rename = "UNAVAILABLE")]
    Unavailable,
    /// Device identity or pairing required.
    #[serde(rename = "NOT_PAIRED")]
    NotPaired,
}

/// The `error` object of a failed `res` frame.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorShape {
    /// The stable code.
    pub code: ErrorCode,
    /// Human-readable message; some clients match on its exact text.
    pub message: String,
    /// Structured details (`details.code` carries the sub-code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Whether retrying can succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// How long to wait before retrying.
    #[serde(rename = "retryAfterMs", skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    /// A plain error without details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }

    /// `INVALID_REQUEST` with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// `UNAVAILABLE` with a message.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// `INVALID_REQUEST unknown method: <m>` — the node host matches this exact text.
    pub fn unknown_method(method: &str) -> Self {
        Self::invalid(format!("unknown method: {method}"))
    }

    /// `FORBIDDEN missing scope: <scope>` with `MISSING_SCOPE` details.
    pub fn missing_scope(scope: &str) -> Self {
        Self::new(ErrorCode::Forbidden, format!("missing scope: {scope}")).with_details(json!({
            "code": codes::MISSING_SCOPE,
            "missingScope": scope,
            "requiredScopes": [scope],
        }))
    }

    /// Attaches `details`.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Marks the error retryable after `ms`.
    #[must_use]
    pub fn retry_after(mut self, ms: u64) -> Self {
        self.retryable = Some(true);
        self.retry_after_ms = Some(ms);
        self
    }
}
