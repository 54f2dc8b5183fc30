//! MCP over streamable HTTP, at `/mcp`. Every request must carry `Authorization: Bearer sk_…`
//! with a known, unrevoked key: anything else is answered 401 before MCP sees it. The key is
//! authenticated once per request, here, and the MCP server takes the principal from the
//! request's extensions. Both protocol
//! generations work: sessions (2025-11-25 and before) and the stateless requests of 2026-07-28.
//!
//! What a hostile client meets, outside in:
//! - connections: at most `max_connections` open, and at most
//!   [`limits::HTTP_MAX_CONNECTIONS_PER_ADDRESS`] of them from one address (503 and closed
//!   beyond, unless the per-address rate limit is off); a request head must arrive within the
//!   header-read timeout, which also closes idle keep-alive connections (hyper), and fit in
//!   [`limits::HTTP_REQUEST_HEAD_MAX_BYTES`] (431);
//! - every response: `X-Content-Type-Options: nosniff`, `Cache-Control: no-store`,
//!   `X-Frame-Options: DENY`, and an `X-Request-Id`;
//! - requests per client address, then per key: 429 with `Retry-After` (governor);
//! - bodies over [`limits::JSON_RPC_MESSAGE_MAX_BYTES`]: 413, with or without `Content-Length`
//!   (tower-http); a request that takes too long to arrive: 408 (tower-http);
//! - `Host` and `Origin` outside their allow-lists: 403, before the key is looked at;
//! - an `initialize` over [`limits::HTTP_INITIALIZE_MAX_BYTES`]: 413 (its session keeps it);
//! - sessions of the older protocol: capped per key and in total, closed when idle.
//!
//! Errors harepay writes itself are JSON: `{"error": {"type", "message", …}}`.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;

use super::http_error::error_response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::app::App;
use crate::engine::principal::Principal;
use crate::limits;
use crate::mcp::{Credentials, HarepayServer, ServerOptions};
use crate::rate_limit::{AddressRateLimiter, KeyRateLimiter, RateLimit, RateLimited, rate_limit_address};
use crate::transport::connections::{ConnectionsPerAddress, refuse_oversized_heads, too_many_connections_response};
use crate::transport::host_origin::{HostOriginPolicy, refuse_foreign_host_or_origin};
use crate::transport::sessions::{
    CappedSessionManager, SESSION_RESERVATION, SessionLimits, SessionRefusal, SessionRegistry,
};

/// Everything `harepay http` is told on its command line, beyond the tools.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// `Host` names accepted (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted; requests without `Origin` (non-browser clients) always are.
    pub allowed_origins: Vec<String>,
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    /// Requests per client address; `None` is off (e.g. behind a proxy that is the only client).
    pub address_rate_limit: Option<RateLimit>,
    pub sessions: SessionLimits,
}

/// The secret key of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_owned())
}

/// What the `/mcp` gate needs: the keys, the per-key limit and the session caps.
#[derive(Clone)]
struct McpGate {
    app: App,
    key_rate_limiter: Option<Arc<KeyRateLimiter>>,
    sessions: Arc<SessionRegistry>,
}

/// The whole HTTP surface, without a socket, so that tests can call it directly (inside a tokio
/// runtime: it starts the rate limiters' sweeper). `shutdown` ends open sessions and their
/// streams.
pub fn router(
    app: App,
    mut options: ServerOptions,
    settings: &HttpSettings,
    shutdown: CancellationToken,
) -> axum::Router {
    // The per-key limit counts HTTP requests here, before MCP; the MCP layer must not count the
    // same call again.
    let key_rate_limiter = options.key_rate_limiter.take();
    let address_rate_limiter = settings.address_rate_limit.map(|limit| Arc::new(AddressRateLimiter::new(limit)));
    spawn_rate_limit_sweeper(
        key_rate_limiter.as_ref().map(Arc::downgrade),
        address_rate_limiter.as_ref().map(Arc::downgrade),
    );

    let sessions = SessionRegistry::new(settings.sessions);
    let factory_app = app.clone();
    // Called once per session, and once per request under 2026-07-28: it only clones shared
    // handles (the tool registry is built once per process).
    let factory =
        move || Ok(HarepayServer::new(factory_app.clone(), Credentials::AuthenticatedRequest, options.clone()));
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_allowed_origins(settings.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(limits::JSON_RPC_MESSAGE_MAX_BYTES)
        .with_cancellation_token(shutdown);
    let service = StreamableHttpService::new(factory, CappedSessionManager::new(sessions.clone()).into(), config);
    let app_for_probes = app.clone();
    let gate = McpGate { app, key_rate_limiter, sessions };
    let host_origin = Arc::new(HostOriginPolicy::new(&settings.allowed_hosts, &settings.allowed_origins));
    // Host and Origin first (rmcp checks them again, by the same rules, but logs them whole).
    // The gate reads the body whole; then a body that is not a JSON-RPC message harepay can read
    // gets a JSON-RPC error instead of rmcp's plain text.
    let mcp = tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(host_origin, refuse_foreign_host_or_origin))
        .layer(middleware::from_fn_with_state(gate, guard_mcp_request))
        .layer(middleware::from_fn(crate::transport::jsonrpc::refuse_unreadable_http_messages))
        .service(service);

    let mut router =
        axum::Router::new().nest_service("/mcp", mcp).merge(super::probes::routes(app_for_probes)).fallback(not_found);
    // Layers wrap what is above them: the last one added is the outermost.
    router = router
        .layer(RequestBodyLimitLayer::new(limits::JSON_RPC_MESSAGE_MAX_BYTES))
        .layer(middleware::map_response(json_payload_too_large))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout))
        .layer(middleware::from_fn(refuse_oversized_heads));
    if let Some(limiter) = address_rate_limiter {
        router = router.layer(middleware::from_fn_with_state(limiter, limit_by_address));
    }
    router
        .layer(middleware::from_fn(log_in_request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::from_fn(super::probes::drop_unacceptable_request_ids))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
}

/// Drops the state of rested keys and addresses now and then, so that a flood of addresses
/// does not keep its memory. Ends with the router.
fn spawn_rate_limit_sweeper(keys: Option<Weak<KeyRateLimiter>>, addresses: Option<Weak<AddressRateLimiter>>) {
    if keys.is_none() && addresses.is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(limits::RATE_LIMIT_STATE_SWEEP_MS));
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let keys = keys.as_ref().and_then(Weak::upgrade);
            let addresses = addresses.as_ref().and_then(Weak::upgrade);
            if keys.is_none() && addresses.is_none() {
                return;
            }
            keys.inspect(|limiter| limiter.forget_rested_keys());
            addresses.inspect(|limiter| limiter.forget_rested_keys());
        }
    });
}

fn rate_limited_response(limited: RateLimited, per_what: &str) -> Response {
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        limited.message(per_what),
        serde_json::json!({"retry_after_ms": limited.retry_after_ms}),
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(limited.retry_after_seconds()));
    response
}

/// 413: a JSON-RPC error reply (the body was a request), whose error also has our `type`.
fn request_too_large_response() -> Response {
    let mut reply = serde_json::to_value(crate::transport::jsonrpc::too_large_reply()).expect("replies serialize");
    reply["error"]["type"] = serde_json::json!("payload_too_large");
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(reply)).into_response()
}

/// Paths other than `/mcp`, the OAuth discovery documents included: 404, not 401, so that a
/// client does not start an OAuth flow harepay does not have.
async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "harepay serves MCP at /mcp and has no OAuth: send Authorization: Bearer sk_… with a key from `harepay keys create`"
            .to_owned(),
        serde_json::Value::Null,
    )
}

/// tower-http refuses a `Content-Length` over the limit before reading the body, in plain
/// text; give that refusal our JSON too.
async fn json_payload_too_large(response: Response) -> Response {
    let is_json = response.headers().get(header::CONTENT_TYPE).is_some_and(|value| value == "application/json");
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json { request_too_large_response() } else { response }
}

async fn limit_by_address(State(limiter): State<Arc<AddressRateLimiter>>, request: Request, next: Next) -> Response {
    // Tests that call the router without a socket have no address; `serve` always sets one.
    let address = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| address.ip());
    if let Some(address) = address
        && let Err(limited) = limiter.check(&rate_limit_address(address))
    {
        tracing::debug!(%address, retry_after_ms = limited.retry_after_ms, "rate limited by address");
        return rate_limited_response(limited, "from this address");
    }
    next.run(request).await
}

/// `/mcp`: the key, its rate, the body, and the session cap, in that order. The key is
/// authenticated here, once per request, and the principal travels to the MCP server in the
/// request's extensions.
async fn guard_mcp_request(State(gate): State<McpGate>, mut request: Request, next: Next) -> Response {
    let principal = match bearer_token(request.headers()) {
        Some(token) => gate.app.authenticate(&token).await,
        None => Err(crate::app::error::AppError::AuthenticationFailed),
    };
    let principal = match principal {
        Ok(principal) => principal,
        Err(error @ crate::app::error::AppError::KeyExpired { .. }) => return unauthorized_as("key_expired", error),
        Err(_) => return unauthorized(),
    };
    if let Some(limiter) = &gate.key_rate_limiter
        && let Err(limited) = limiter.check(&principal.key_id)
    {
        tracing::debug!(key = %principal.key_id, retry_after_ms = limited.retry_after_ms, "rate limited by key");
        return rate_limited_response(limited, "for this key");
    }
    let key_id = principal.key_id.clone();
    let principal = Principal { request_id: super::probes::request_id_of(request.headers()), ..principal };
    request.extensions_mut().insert(principal);
    let (request, opens_session) = match read_body(request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    if !opens_session {
        return next.run(request).await;
    }
    match gate.sessions.reserve(&key_id) {
        Ok(reservation) => SESSION_RESERVATION.scope(reservation, next.run(request)).await,
        Err(refusal) => session_refused(refusal, &gate),
    }
}

/// Every log line written while a request is handled here names its request id. (Work rmcp
/// hands to a task of its own logs in the tool call's span, `HarepayServer::call_tool`.)
async fn log_in_request_span(request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let request_id = super::probes::request_id_of(request.headers()).unwrap_or_default();
    let path = limits::echo(request.uri().path());
    // At error level so that the span, and its request id, is on every line whatever the filter.
    let span = tracing::error_span!("http", request_id = %request_id, method = %request.method(), path = %path);
    next.run(request).instrument(span).await
}

fn unauthorized() -> Response {
    let message = "send Authorization: Bearer sk_test_… or sk_live_… with a known, unrevoked harepay key";
    unauthorized_with("authentication_failed", message.to_owned())
}

/// 401 for a key the app refused with its own reason (an expired key: `key_expired`).
fn unauthorized_as(error_type: &str, error: crate::app::error::AppError) -> Response {
    unauthorized_with(error_type, error.to_string())
}

fn unauthorized_with(error_type: &str, message: String) -> Response {
    let mut response = error_response(StatusCode::UNAUTHORIZED, error_type, message, serde_json::Value::Null);
    // `error="invalid_token"`: the key is the only credential; there is no OAuth flow to start.
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"harepay\", error=\"invalid_token\""),
    );
    response
}

fn session_refused(refusal: SessionRefusal, gate: &McpGate) -> Response {
    let idle_expiry_seconds = gate.sessions.idle_expiry().as_secs().max(1);
    let (status, message) = match refusal {
        SessionRefusal::KeyFull { max_per_key } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "this key has {max_per_key} open sessions, the most allowed: end one (DELETE /mcp with its \
                 Mcp-Session-Id) or wait for an idle one to close after {idle_expiry_seconds} s; clients of \
                 protocol 2026-07-28 need no session"
            ),
        ),
        SessionRefusal::ServerFull { max_total } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server has {max_total} open sessions, the most allowed; idle ones close after \
                 {idle_expiry_seconds} s; clients of protocol 2026-07-28 need no session"
            ),
        ),
    };
    let mut response = error_response(status, "too_many_sessions", message, serde_json::Value::Null);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(idle_expiry_seconds));
    response
}

/// Reads the whole body (bounded by the body-limit layer outside) and says whether the request
/// opens a session: an `initialize` POSTed without `Mcp-Session-Id`.
async fn read_body(request: Request) -> Result<(Request, bool), Response> {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, limits::JSON_RPC_MESSAGE_MAX_BYTES).await {
        Ok(bytes) => bytes,
        // rmcp would answer a body that fails mid-stream with a 500; a body over the limit is
        // the client's error, and says so.
        Err(error) if is_length_limit(&error) => return Err(request_too_large_response()),
        Err(error) => {
            tracing::debug!(%error, "could not read a request body");
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request body could not be read to its end".to_owned(),
                serde_json::Value::Null,
            ));
        }
    };
    let opens_session =
        parts.method == Method::POST && !parts.headers.contains_key("mcp-session-id") && is_initialize(&bytes);
    Ok((Request::from_parts(parts, Body::from(bytes)), opens_session))
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = current.source();
    }
    false
}

fn is_initialize(body: &Bytes) -> bool {
    #[derive(serde::Deserialize)]
    struct JsonRpcMethod<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<JsonRpcMethod>(body).is_ok_and(|message| message.method.as_deref() == Some("initialize"))
}

/// Serves until SIGTERM or Ctrl-C, then stops accepting and lets answers in progress finish
/// (up to `HTTP_SHUTDOWN_GRACE_MS`): at most `max_connections` at once, each with the header-read timeout
/// and a bounded read buffer, and (with the per-address rate limit) at most
/// `HTTP_MAX_CONNECTIONS_PER_ADDRESS` of them from one address.
pub async fn serve(app: App, options: ServerOptions, settings: HttpSettings) -> anyhow::Result<()> {
    let stop = super::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    let address = listener.local_addr()?;
    eprintln!("harepay: MCP over streamable HTTP at http://{address}/mcp (send Authorization: Bearer sk_…)");
    let shutdown = CancellationToken::new();
    let router = router(app, options, &settings, shutdown.clone());
    let connection_slots = Arc::new(tokio::sync::Semaphore::new(settings.max_connections));
    // Off with the per-address rate limit (behind a reverse proxy every client has its address),
    // and moot when one address may hold every slot anyway.
    let connections_per_address = settings
        .address_rate_limit
        .filter(|_| limits::HTTP_MAX_CONNECTIONS_PER_ADDRESS < settings.max_connections)
        .map(|_| ConnectionsPerAddress::new(limits::HTTP_MAX_CONNECTIONS_PER_ADDRESS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(limits::HTTP_CONNECTION_BUFFER_MAX_BYTES)
        .keep_alive(true);
    tokio::pin!(stop);
    loop {
        // Take a slot before accepting: at the cap, new connections wait in the listen backlog.
        let slot = tokio::select! {
            slot = connection_slots.clone().acquire_owned() => slot?,
            _ = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let address_slot = match &connections_per_address {
            Some(per_address) => match per_address.admit(peer.ip()) {
                Some(address_slot) => Some(address_slot),
                None => {
                    refuse_connection(stream, per_address);
                    continue;
                }
            },
            None => None,
        };
        // Without TCP_NODELAY small responses wait on Nagle's algorithm: 24 ms round trips, not 3.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let service = router.clone().map_request(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.map(Body::new)
        });
        let connection =
            graceful.watch(http1.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, peer = %peer, "connection ended with an error");
            }
            // The address's count first: the accept loop wakes on the slot and counts again.
            drop(address_slot);
            drop(slot);
        });
    }
    // Answers in progress finish first; idle keep-alive connections close at once. Only then
    // are the streams that never end by themselves (sessions' SSE streams) cancelled: cancelling
    // first would cut tool calls short with a 500.
    let grace = Duration::from_millis(limits::HTTP_SHUTDOWN_GRACE_MS);
    let connections_closed = graceful.shutdown();
    tokio::pin!(connections_closed);
    if tokio::time::timeout(grace / 2, &mut connections_closed).await.is_err() {
        shutdown.cancel();
        if tokio::time::timeout(grace / 2, connections_closed).await.is_err() {
            tracing::warn!("connections still open after the shutdown grace period; stopping anyway");
        }
    }
    shutdown.cancel();
    Ok(())
}

/// A connection over its address's cap: told so if the socket takes it at once, then closed.
fn refuse_connection(stream: tokio::net::TcpStream, per_address: &ConnectionsPerAddress) {
    tracing::debug!(peer = ?stream.peer_addr().ok(), "refused a connection over its address's cap");
    let _ = stream.try_write(&too_many_connections_response(per_address.max_per_address()));
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

    #[test]
    fn only_an_initialize_request_opens_a_session() {
        let initialize = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
        assert!(is_initialize(&Bytes::from_static(initialize)));
        for other in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            br#"[{"method":"initialize"}]"#,
            br#"not json"#,
            br#"{"method":"initialize","method":"initialize"}"#,
        ] {
            assert!(!is_initialize(&Bytes::copy_from_slice(other)), "{}", String::from_utf8_lossy(other));
        }
    }
}
