//! The JSON error body harepay writes itself on HTTP, before or instead of MCP: a leaf module, so
//! the layers of the HTTP face (connections, host and origin, the server) share it without
//! importing each other.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `{"error": {"type", "message", …extra}}` with `status`.
pub(super) fn error_response(
    status: StatusCode,
    error_type: &str,
    message: String,
    extra: serde_json::Value,
) -> Response {
    let mut error = serde_json::json!({"type": error_type, "message": message});
    if let (Some(error), serde_json::Value::Object(extra)) = (error.as_object_mut(), extra) {
        error.extend(extra);
    }
    (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
}
