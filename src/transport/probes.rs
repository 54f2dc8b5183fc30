//! What `harepay http` serves without a key: `GET /llms.txt` (documentation), `GET /healthz`
//! (the process answers) and `GET /readyz` (it can take writes), for load balancers and
//! orchestrators. They skip the Host/Origin check on purpose: a probe comes with whatever Host
//! the balancer uses, and none of them reveals anything a merchant owns. Rate limits per
//! address, timeouts and the security headers still apply.
//!
//! Also the request id: a caller's `X-Request-Id` is kept only when it is short and plain, so
//! that what lands in log lines and audit records is bounded and cannot forge a log line.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::limits::REQUEST_ID_MAX_CHARS;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub fn routes(app: App) -> axum::Router {
    axum::Router::new()
        .route("/llms.txt", axum::routing::get(llms_txt))
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(app)
}

async fn llms_txt() -> Response {
    let text: &'static str = crate::mcp::catalog::llms_txt_cached();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], text).into_response()
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn readyz(State(app): State<App>) -> Response {
    match app.readiness().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            let body = serde_json::json!({"status": "not_ready", "reason": reason});
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

/// A request id harepay keeps as the caller sent it.
pub fn is_acceptable_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= REQUEST_ID_MAX_CHARS
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
}

/// Drops a caller's `X-Request-Id` that is not acceptable (and every copy but the first), so that
/// the layer inside makes a fresh one.
pub async fn drop_unacceptable_request_ids(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let mut values = headers.get_all(REQUEST_ID_HEADER).iter();
    let keep = match (values.next(), values.next()) {
        (Some(first), None) => first.to_str().ok().filter(|value| is_acceptable_request_id(value)).is_some(),
        _ => false,
    };
    if !keep {
        headers.remove(REQUEST_ID_HEADER);
    }
    next.run(request).await
}

/// The request id of a request that passed the request-id layers (always one then).
pub fn request_id_of(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get(REQUEST_ID_HEADER).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        for good in ["abc", "0b4c2f1e-7d1a-4c1b-9a53-2a8e4b1f0c9d", "trace:1.2_3", &"x".repeat(REQUEST_ID_MAX_CHARS)] {
            assert!(is_acceptable_request_id(good), "{good}");
        }
        for bad in ["", " ", "a b", "a\tb", "é", "a\u{200b}b", "<script>", "a;b", &"x".repeat(REQUEST_ID_MAX_CHARS + 1)]
        {
            assert!(!is_acceptable_request_id(bad), "{bad:?}");
        }
    }
}
