//! MCP over streamable HTTP, at `/mcp`. Every request must carry `Authorization: Bearer sk_…`
//! with a known, unrevoked key: anything else is answered 401 with `WWW-Authenticate: Bearer`
//! before MCP sees it. Both protocol generations work: sessions (2025-11-25 and before) and the
//! stateless requests of 2026-07-28.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::app::App;
use crate::mcp::{Credentials, HarepayServer, ServerOptions};

/// The secret key of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_owned())
}

/// The whole HTTP surface, without a socket, so that tests can call it directly.
pub fn router(app: App, options: ServerOptions, allowed_hosts: Vec<String>) -> axum::Router {
    let factory_app = app.clone();
    // Called once per session, and once per request under 2026-07-28: it only clones shared
    // handles (the tool registry is built once per process).
    let factory = move || Ok(HarepayServer::new(factory_app.clone(), Credentials::BearerHeader, options.clone()));
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts);
    let service = StreamableHttpService::new(factory, LocalSessionManager::default().into(), config);
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn(crate::transport::jsonrpc::refuse_unreadable_http_messages))
        .layer(middleware::from_fn_with_state(app, require_api_key))
}

async fn require_api_key(State(app): State<App>, request: Request, next: Next) -> Response {
    let authenticated = match bearer_token(request.headers()) {
        Some(token) => app.authenticate(&token).await.is_ok(),
        None => false,
    };
    if authenticated {
        return next.run(request).await;
    }
    let body = serde_json::json!({
        "error": {
            "type": "authentication_failed",
            "message": "send Authorization: Bearer sk_test_… or sk_live_… with a known, unrevoked harepay key",
        }
    });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"harepay\""));
    response
}

pub async fn serve(
    app: App,
    options: ServerOptions,
    listen: SocketAddr,
    allowed_hosts: Vec<String>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    eprintln!("harepay: MCP over streamable HTTP at http://{address}/mcp (send Authorization: Bearer sk_…)");
    // Without TCP_NODELAY small responses wait on Nagle's algorithm: 24 ms round trips, not 3.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(app, options, allowed_hosts))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_nothing_else_is() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(bearer_token(&headers("Bearer sk_test_demo")).as_deref(), Some("sk_test_demo"));
        assert_eq!(bearer_token(&headers("bearer  sk_test_demo ")).as_deref(), Some("sk_test_demo"));
        assert_eq!(bearer_token(&headers("Basic c2s6")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
