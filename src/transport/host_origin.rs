//! `Host` and `Origin` on `/mcp`, checked before the key: a rebinding DNS name (a `Host` not
//! allowed) or a page in a browser (an `Origin` not on the allow-list) gets 403 with harepay's
//! JSON error, and the log says so in one short line per kind and interval.
//!
//! rmcp makes the same checks and still does, behind this one. The rules here are rmcp 3.9's
//! (`validate_dns_rebinding_headers` in its streamable HTTP server), so a request that passes here
//! passes there; but rmcp logs each refused header whole at WARN (100 KB of `Origin` made 200 KB
//! of log per request) and answers in plain text.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::scheduler::LogRateLimiter;
use crate::limits;

/// A host name and, when given, a port, as rmcp compares them: brackets trimmed, lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    host: String,
    port: Option<u16>,
}

impl Authority {
    fn new(host: &str, port: Option<u16>) -> Authority {
        Authority { host: host.trim_matches('[').trim_matches(']').to_ascii_lowercase(), port }
    }
}

/// An `Origin` value: `null`, or a scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Null,
    Tuple { scheme: String, host: String, port: Option<u16> },
}

/// The port an allow-list entry asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AllowedPort {
    /// `:*`
    Any,
    /// No port in the entry: any port (rmcp 3.9; it warns about such entries at start).
    Unspecified,
    Exact(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedOrigin {
    Null,
    Tuple { scheme: String, host: String, port: AllowedPort },
}

/// What was refused, as an echo of at most `limits::INPUT_ECHO_MAX_CHARS` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Host { echo: String },
    Origin { echo: String },
}

/// The allow-lists, parsed once, and the log's rate limit.
#[derive(Debug)]
pub struct HostOriginPolicy {
    /// Empty: every host (rmcp's meaning; `harepay http` always passes its loopback default).
    allowed_hosts: Vec<Authority>,
    allowed_origins: Vec<AllowedOrigin>,
    refusal_log: Mutex<LogRateLimiter>,
    started: Instant,
}

impl HostOriginPolicy {
    pub fn new(allowed_hosts: &[String], allowed_origins: &[String]) -> HostOriginPolicy {
        HostOriginPolicy {
            allowed_hosts: allowed_hosts.iter().filter_map(|allowed| parse_allowed_host(allowed)).collect(),
            allowed_origins: allowed_origins.iter().filter_map(|allowed| parse_allowed_origin(allowed)).collect(),
            refusal_log: Mutex::new(LogRateLimiter::new(limits::HTTP_REFUSAL_LOG_INTERVAL_MS)),
            started: Instant::now(),
        }
    }

    /// `Ok` when the request's `Host` (or, without one, its URI's authority) is allowed and its
    /// `Origin`, if any, is on the allow-list (which is always enforced, even when empty).
    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = request_host(uri, headers)?;
        let host_allowed = self.allowed_hosts.is_empty()
            || self
                .allowed_hosts
                .iter()
                .any(|allowed| allowed.host == host.host && allowed.port.is_none_or(|port| host.port == Some(port)));
        if !host_allowed {
            return Err(Refusal::Host { echo: limits::echo(&host.host) });
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let text = origin.to_str().map_err(|_| Refusal::Origin { echo: echo_bytes(origin.as_bytes()) })?;
        let refused = || Refusal::Origin { echo: limits::echo(text) };
        let origin = parse_origin(text).ok_or_else(refused)?;
        if self.allowed_origins.iter().any(|allowed| origin_matches(allowed, &origin)) {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// Logs a refusal at most once per kind and interval, with how many were not logged since.
    fn log(&self, refusal: &Refusal) {
        let (kind, echo) = match refusal {
            Refusal::Host { echo } => ("host", echo),
            Refusal::Origin { echo } => ("origin", echo),
        };
        let now_ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let admitted = self.refusal_log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).admit(kind, now_ms);
        if let Some(suppressed) = admitted {
            tracing::warn!(
                header = kind,
                value = %echo,
                suppressed_since_last = suppressed,
                "refused a request whose Host or Origin is not allowed (DNS rebinding or a page in a browser)"
            );
        }
    }
}

fn echo_bytes(bytes: &[u8]) -> String {
    limits::echo(&String::from_utf8_lossy(&bytes[..bytes.len().min(4 * limits::INPUT_ECHO_MAX_CHARS)]))
}

fn request_host(uri: &Uri, headers: &HeaderMap) -> Result<Authority, Refusal> {
    let Some(host) = headers.get(header::HOST) else {
        // HTTP/2 carries the host in `:authority`; harepay speaks HTTP/1.1, where Host is required.
        let authority = uri.authority().ok_or_else(|| Refusal::Host { echo: "(none)".to_owned() })?;
        return Ok(Authority::new(authority.host(), authority.port_u16()));
    };
    let text = host.to_str().map_err(|_| Refusal::Host { echo: echo_bytes(host.as_bytes()) })?;
    let authority =
        axum::http::uri::Authority::try_from(text).map_err(|_| Refusal::Host { echo: limits::echo(text) })?;
    Ok(Authority::new(authority.host(), authority.port_u16()))
}

fn parse_allowed_host(allowed: &str) -> Option<Authority> {
    let allowed = allowed.trim();
    if allowed.is_empty() {
        return None;
    }
    Some(match axum::http::uri::Authority::try_from(allowed) {
        Ok(authority) => Authority::new(authority.host(), authority.port_u16()),
        Err(_) => Authority::new(allowed, None),
    })
}

fn parse_origin(value: &str) -> Option<Origin> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.eq_ignore_ascii_case("null") {
        return Some(Origin::Null);
    }
    let uri = Uri::try_from(value).ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let Authority { host, port } = Authority::new(authority.host(), authority.port_u16());
    Some(Origin::Tuple { scheme, host, port })
}

fn parse_allowed_origin(value: &str) -> Option<AllowedOrigin> {
    let value = value.trim();
    if let Some(base) = value.strip_suffix(":*") {
        let Origin::Tuple { scheme, host, port: None } = parse_origin(base)? else {
            return None;
        };
        return Some(AllowedOrigin::Tuple { scheme, host, port: AllowedPort::Any });
    }
    Some(match parse_origin(value)? {
        Origin::Null => AllowedOrigin::Null,
        Origin::Tuple { scheme, host, port } => {
            AllowedOrigin::Tuple { scheme, host, port: port.map_or(AllowedPort::Unspecified, AllowedPort::Exact) }
        }
    })
}

fn origin_matches(allowed: &AllowedOrigin, origin: &Origin) -> bool {
    match (allowed, origin) {
        (AllowedOrigin::Null, Origin::Null) => true,
        (
            AllowedOrigin::Tuple { scheme: allowed_scheme, host: allowed_host, port: allowed_port },
            Origin::Tuple { scheme, host, port },
        ) => {
            // RFC 6454 leaves the scheme's default port out of an origin.
            let default_port = match scheme.as_str() {
                "http" => Some(80),
                "https" => Some(443),
                _ => None,
            };
            let port_matches = match allowed_port {
                AllowedPort::Any | AllowedPort::Unspecified => true,
                AllowedPort::Exact(allowed) => port.or(default_port) == Some(*allowed),
            };
            allowed_scheme == scheme && allowed_host == host && port_matches
        }
        _ => false,
    }
}

/// `/mcp`: 403 with a JSON error for a `Host` or `Origin` not allowed, before anything else.
pub async fn refuse_foreign_host_or_origin(
    State(policy): State<Arc<HostOriginPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let Err(refusal) = policy.check(request.uri(), request.headers()) else {
        return next.run(request).await;
    };
    policy.log(&refusal);
    let (error_type, message) = match refusal {
        Refusal::Host { echo } => (
            "host_not_allowed",
            format!(
                "the Host {echo} is not one this server answers to (DNS rebinding protection); an operator adds one \
                 with --allowed-host"
            ),
        ),
        Refusal::Origin { echo } => (
            "origin_not_allowed",
            format!(
                "requests from the browser origin {echo} are not allowed; an operator adds one with --allowed-origin"
            ),
        ),
    };
    super::http_error::error_response(StatusCode::FORBIDDEN, error_type, message, serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn loopback() -> HostOriginPolicy {
        HostOriginPolicy::new(
            &["localhost".into(), "127.0.0.1".into(), "::1".into()],
            &["http://localhost:*".into(), "http://127.0.0.1:*".into(), "http://[::1]:*".into()],
        )
    }

    fn check(policy: &HostOriginPolicy, host: &str, origin: Option<&str>) -> Result<(), Refusal> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        policy.check(&Uri::from_static("/mcp"), &headers)
    }

    #[test]
    fn loopback_hosts_pass_and_rebinding_names_do_not() {
        let policy = loopback();
        for host in ["localhost", "LOCALHOST:8787", "127.0.0.1:1", "[::1]:8787"] {
            assert_eq!(check(&policy, host, None), Ok(()), "{host}");
        }
        for host in ["evil.com", "localhost.", "127.1", "0.0.0.0", "127.0.0.2", "localhost.evil.com", "a b"] {
            assert!(matches!(check(&policy, host, None), Err(Refusal::Host { .. })), "{host}");
        }
        assert!(matches!(policy.check(&Uri::from_static("/mcp"), &HeaderMap::new()), Err(Refusal::Host { .. })));
        let ported = HostOriginPolicy::new(&["example.com:8443".into()], &[]);
        assert_eq!(check(&ported, "example.com:8443", None), Ok(()));
        assert!(check(&ported, "example.com", None).is_err());
        assert!(check(&ported, "example.com:8444", None).is_err());
    }

    #[test]
    fn only_allowed_origins_pass_and_an_empty_list_refuses_every_origin() {
        let policy = loopback();
        for origin in ["http://localhost:5173", "http://127.0.0.1", "HTTP://LOCALHOST:1", "http://[::1]:3000"] {
            assert_eq!(check(&policy, "localhost", Some(origin)), Ok(()), "{origin}");
        }
        for origin in [
            "https://evil.example",
            "null",
            "http://localhost.evil.com",
            "http://127.0.0.1.nip.io",
            "https://localhost",
            "http://user@evil.com",
            "http://127.1",
            "http://0x7f000001",
            "http://127.0.0.2",
            "http://localhost, http://evil.com",
            "localhost",
            "",
        ] {
            assert!(matches!(check(&policy, "localhost", Some(origin)), Err(Refusal::Origin { .. })), "{origin}");
        }
        let exact = HostOriginPolicy::new(&[], &["https://app.example.com:443".into(), "null".into()]);
        assert_eq!(check(&exact, "anything", Some("https://app.example.com")), Ok(()));
        assert_eq!(check(&exact, "anything", Some("null")), Ok(()));
        assert!(check(&exact, "anything", Some("https://app.example.com:8443")).is_err());
        let none = HostOriginPolicy::new(&[], &[]);
        assert!(check(&none, "anything", Some("http://localhost")).is_err());
        assert_eq!(check(&none, "anything", None), Ok(()));
    }

    #[test]
    fn a_refusal_quotes_a_short_prefix_of_the_header() {
        let policy = loopback();
        let long = format!("http://{}.c", "a".repeat(100_000));
        let Err(Refusal::Origin { echo }) = check(&policy, "localhost", Some(&long)) else { panic!("refused") };
        assert!(echo.chars().count() <= limits::INPUT_ECHO_MAX_CHARS + 3, "{echo}");
        let Err(Refusal::Host { echo }) = check(&policy, &format!("{}.com", "b".repeat(100_000)), None) else {
            panic!("refused")
        };
        assert!(echo.chars().count() <= limits::INPUT_ECHO_MAX_CHARS + 3, "{echo}");
    }
}
