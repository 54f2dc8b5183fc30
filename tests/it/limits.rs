//! The limits that keep harepay up under a hostile client, each attacked through the real
//! binary on loopback: oversized bodies and initializes, floods of requests per key and per
//! address, slow headers, too many connections (from one address too), oversized headers,
//! thousands of abandoned sessions, foreign hosts and origins and what they do to the log; and
//! the headers every answer carries.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::http::{HttpServer, call, stateless};
use crate::support::{APPROVER_KEY, Harepay, MAKER_KEY};

const BODY_MAX_BYTES: usize = harepay::limits::JSON_RPC_MESSAGE_MAX_BYTES;

/// An answer as raw bytes came back: status, headers (names lower-cased), body.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(header, _)| header == name).map(|(_, value)| value.clone())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }
}

/// One HTTP/1.1 exchange on a fresh connection: the head, then the body from another thread
/// while this one reads the answer (a server that refuses early stops reading the body).
fn raw_exchange(address: SocketAddr, head: String, body: Vec<Vec<u8>>) -> RawResponse {
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
        for chunk in body {
            if writer.write_all(&chunk).is_err() {
                return; // the server closed: it answered without reading the rest
            }
        }
    });
    let mut received = Vec::new();
    let mut reader = stream;
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => received.extend_from_slice(&buffer[..count]),
            // A reset after the answer arrived (the body was left unread) ends the exchange.
            Err(_) if !received.is_empty() => break,
            Err(error) => panic!("no answer: {error}"),
        }
    }
    let _ = sender.join();
    parse_response(&received)
}

fn parse_response(bytes: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no complete head: {text:?}"));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    RawResponse { status, headers, body: body.to_owned() }
}

fn post_head(address: SocketAddr, key: &str, framing: &str) -> String {
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nConnection: close\r\n{framing}\r\n"
    )
}

fn assert_security_headers(status: u16, header: impl Fn(&str) -> Option<String>) {
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{status}");
    assert_eq!(header("cache-control").as_deref(), Some("no-store"), "{status}");
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{status}");
    assert!(header("x-request-id").is_some_and(|id| !id.is_empty()), "{status}: a request id");
}

fn assert_reqwest_security_headers(response: &reqwest::Response) {
    let header = |name: &str| response.headers().get(name).map(|value| value.to_str().unwrap().to_owned());
    assert_security_headers(response.status().as_u16(), header);
}

fn initialize_body() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    })
    .to_string()
}

fn mcp_post(http: &reqwest::Client, server: &HttpServer, key: Option<&str>, body: String) -> reqwest::RequestBuilder {
    let request = http
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    match key {
        Some(key) => request.header("authorization", format!("Bearer {key}")),
        None => request,
    }
}

async fn whoami_works(server: &HttpServer) {
    let client = server.connect(MAKER_KEY, stateless()).await;
    let (is_error, me) = call(&client, "whoami", json!({})).await;
    assert!(!is_error && me["role"] == "maker", "{me}");
    client.cancel().await.unwrap();
}

/// Another client address than the tests' usual 127.0.0.1 (Linux routes all of 127/8 to loopback).
const SECOND_LOOPBACK_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A whole MCP exchange (2026-07-28) from the client address `local`, within `patience`.
async fn whoami_works_from(server: &HttpServer, local: IpAddr, patience: Duration) {
    use rmcp::service::ClientServiceExt;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let http = reqwest::Client::builder().local_address(local).timeout(patience).build().unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone()).auth_header(MAKER_KEY.to_owned());
    let transport = StreamableHttpClientTransport::with_client(http, config);
    let exchange = async {
        let client = ().serve_with_lifecycle(transport, stateless()).await.unwrap();
        let (is_error, me) = call(&client, "whoami", json!({})).await;
        assert!(!is_error && me["role"] == "maker", "{me}");
        client.cancel().await.unwrap();
    };
    tokio::time::timeout(patience, exchange)
        .await
        .unwrap_or_else(|_| panic!("not served from {local} in {patience:?}"));
}

#[tokio::test]
async fn bodies_over_one_mib_get_413_with_or_without_content_length_and_the_server_stays_up() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let address = server.address();
    let oversized = BODY_MAX_BYTES + 64 * 1024;

    // With Content-Length: refused before the body is read.
    let chunks: Vec<Vec<u8>> = (0..oversized / (64 * 1024)).map(|_| vec![b' '; 64 * 1024]).collect();
    let head = post_head(address, MAKER_KEY, &format!("Content-Length: {oversized}\r\n"));
    let declared = tokio::task::spawn_blocking(move || raw_exchange(address, head, chunks)).await.unwrap();
    // Chunked, no length announced: refused once the limit is crossed while reading.
    let chunks: Vec<Vec<u8>> = (0..2 * BODY_MAX_BYTES / (64 * 1024))
        .map(|_| [format!("{:x}\r\n", 64 * 1024).into_bytes(), vec![b' '; 64 * 1024], b"\r\n".to_vec()].concat())
        .chain([b"0\r\n\r\n".to_vec()])
        .collect();
    let head = post_head(address, MAKER_KEY, "Transfer-Encoding: chunked\r\n");
    let streamed = tokio::task::spawn_blocking(move || raw_exchange(address, head, chunks)).await.unwrap();
    for response in [&declared, &streamed] {
        assert_eq!(response.status, 413, "{response:?}");
        let reply = response.json();
        assert_eq!(reply["error"]["type"], "payload_too_large", "{response:?}");
        assert_eq!((&reply["error"]["code"], &reply["id"]), (&json!(-32600), &Value::Null), "a JSON-RPC error too");
        assert!(reply["error"]["message"].as_str().unwrap().contains("1 MiB"), "{reply}");
        assert_security_headers(response.status, |name| response.header(name));
    }

    // A body just under the limit is read whole and served (a request of 2026-07-28: an
    // initialize has a smaller limit of its own).
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    }}})
    .to_string();
    let body = format!("{list}{}", " ".repeat(BODY_MAX_BYTES - list.len() - 16));
    let framing =
        format!("MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/list\r\nContent-Length: {}\r\n", body.len());
    let head = post_head(address, MAKER_KEY, &framing);
    let under =
        tokio::task::spawn_blocking(move || raw_exchange(address, head, vec![body.into_bytes()])).await.unwrap();
    assert_eq!(under.status, 200, "{}", under.status);
    assert!(under.body.contains(r#""tools":[{"name""#), "the tool list is the answer (as an event stream)");
    whoami_works(&server).await;
}

#[tokio::test]
async fn requests_over_the_key_rate_get_429_with_retry_after_and_other_keys_go_on() {
    let harepay = Harepay::new();
    let server =
        HttpServer::start_with(&harepay, &["--rate-limit-per-key", "1/s,burst=3", "--rate-limit-per-ip", "off"]);
    let http = reqwest::Client::new();
    let ping = || json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    for _ in 0..3 {
        let response = mcp_post(&http, &server, Some(MAKER_KEY), ping()).send().await.unwrap();
        assert_ne!(response.status(), 429, "the burst is 3");
    }
    let refused = mcp_post(&http, &server, Some(MAKER_KEY), ping()).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_reqwest_security_headers(&refused);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limited", "{body}");
    let retry_after_ms = body["error"]["retry_after_ms"].as_u64().unwrap();
    assert!((1..=1000).contains(&retry_after_ms), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("for this key"), "{body}");

    // Another key has its own allowance.
    let other = mcp_post(&http, &server, Some(APPROVER_KEY), ping()).send().await.unwrap();
    assert_ne!(other.status(), 429);
    // After the wait it was told, the key is served again.
    tokio::time::sleep(Duration::from_millis(retry_after_ms + 100)).await;
    let again = mcp_post(&http, &server, Some(MAKER_KEY), ping()).send().await.unwrap();
    assert_ne!(again.status(), 429);
}

#[tokio::test]
async fn requests_over_the_address_rate_get_429_even_without_a_key() {
    let harepay = Harepay::new();
    let server =
        HttpServer::start_with(&harepay, &["--rate-limit-per-ip", "1/s,burst=3", "--rate-limit-per-key", "off"]);
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let response = mcp_post(&http, &server, None, initialize_body()).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    for key in [None, Some(MAKER_KEY)] {
        let refused = mcp_post(&http, &server, key, initialize_body()).send().await.unwrap();
        assert_eq!(refused.status(), 429, "{key:?}");
        assert!(refused.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        assert_reqwest_security_headers(&refused);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["type"], "rate_limited", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("from this address"), "{body}");
    }
}

#[tokio::test]
async fn stdio_tool_calls_over_the_key_rate_get_a_rate_limited_tool_error() {
    let harepay = Harepay::new();
    let client = harepay.connect_env(MAKER_KEY, &[("HAREPAY_RATE_LIMIT_PER_KEY", "2/s,burst=3")]).await;
    for _ in 0..3 {
        client.call("whoami", json!({})).await;
    }
    // The allowance refills at 2/s, so a refusal comes within a few quick calls.
    let mut refusal = None;
    for _ in 0..20 {
        let result = client.call_raw("whoami", json!({})).await.unwrap();
        if result.is_error == Some(true) {
            refusal = result.structured_content;
            break;
        }
    }
    let refusal = refusal.expect("a rate_limited refusal");
    assert_eq!(refusal["error"]["type"], "rate_limited", "{refusal}");
    let retry_after_ms = refusal["error"]["retry_after_ms"].as_u64().unwrap();
    assert!((1..=500).contains(&retry_after_ms), "{refusal}");
    assert!(refusal["error"]["message"].as_str().unwrap().contains("retry after"), "{refusal}");
    tokio::time::sleep(Duration::from_millis(retry_after_ms + 50)).await;
    client.call("whoami", json!({})).await;
    client.close().await;
}

/// Writes a request head one byte at a time, forever; returns how long the server let it.
async fn trickle_headers(address: SocketAddr) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream.write_all(format!("POST /mcp HTTP/1.1\r\nHost: {address}\r\n").as_bytes()).await.ok()?;
    let mut buffer = [0_u8; 1024];
    while started.elapsed() < Duration::from_secs(60) {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {}
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if stream.write_all(b"x").await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    None
}

#[tokio::test]
async fn slow_header_connections_are_closed_while_a_legitimate_client_is_served() {
    let harepay = Harepay::new();
    let server = HttpServer::start_with(&harepay, &["--header-read-timeout-ms", "1000"]);
    let address = server.address();
    let slow: Vec<_> = (0..200).map(|_| tokio::spawn(trickle_headers(address))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 200 connections trickling headers do not lock a legitimate client out. (One address may
    // hold only some of the slots: the client comes from another; see the next test.)
    whoami_works_from(&server, SECOND_LOOPBACK_ADDRESS, Duration::from_secs(20)).await;
    for connection in slow {
        let held = connection.await.unwrap().expect("the server closes a slow-header connection");
        assert!(held < Duration::from_secs(30), "held {held:?}");
    }
    // An idle keep-alive connection is closed too (the same clock runs between requests).
    let idle_closed = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.write_all(format!("GET /nothing HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes()).unwrap();
        let mut received = Vec::new();
        let mut buffer = [0_u8; 4096];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => return String::from_utf8_lossy(&received).into_owned(),
                Ok(count) => received.extend_from_slice(&buffer[..count]),
                Err(error) => panic!("the idle connection stayed open: {error}"),
            }
        }
    })
    .await
    .unwrap();
    assert!(idle_closed.starts_with("HTTP/1.1 404"), "{idle_closed}");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let harepay = Harepay::new();
    let server = HttpServer::start_with(&harepay, &["--max-connections", "4", "--header-read-timeout-ms", "60000"]);
    let address = server.address();
    let mut held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(address).unwrap()).collect();
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(1500)).build().unwrap();
    let waited = impatient.get(format!("http://{address}/health")).send().await;
    assert!(waited.is_err_and(|error| error.is_timeout()), "a fifth connection is not served while four are open");
    drop(held.pop());
    let patient = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let served = patient.get(format!("http://{address}/health")).send().await.unwrap();
    assert_eq!(served.status(), 404);
}

/// VmRSS of a process, in KiB (Linux).
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `count` initializes that are never closed, 32 at a time; the status of each.
async fn abandoned_initializes(server: &HttpServer, key: &str, count: usize) -> Vec<(u16, Value)> {
    abandoned_initializes_of(server, key, count, initialize_body()).await
}

/// `count` initializes with this `body`, 32 at a time; the status and JSON answer of each.
async fn abandoned_initializes_of(server: &HttpServer, key: &str, count: usize, body: String) -> Vec<(u16, Value)> {
    let http = reqwest::Client::new();
    futures::stream::iter(0..count)
        .map(|_| {
            let request = mcp_post(&http, server, Some(key), body.clone());
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                (status, serde_json::from_str(&text).unwrap_or(Value::Null))
            }
        })
        .buffer_unordered(32)
        .collect()
        .await
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn thousands_of_abandoned_sessions_stay_within_the_cap_expire_and_do_not_grow_memory() {
    let harepay = Harepay::new();
    let server = HttpServer::start_with(
        &harepay,
        &["--rate-limit-per-ip", "off", "--rate-limit-per-key", "off", "--session-idle-expiry-ms", "2000"],
    );
    abandoned_initializes(&server, MAKER_KEY, 20).await;
    let before_kib = resident_kib(server.pid());

    let first = abandoned_initializes(&server, MAKER_KEY, 3000).await;
    let opened = first.iter().filter(|(status, _)| *status == 200).count();
    let refused = first.iter().filter(|(_, body)| body["error"]["type"] == "too_many_sessions").count();
    assert_eq!(opened + refused, 3000, "every initialize opened a session or was told why not");
    assert!(refused >= 2000, "the per-key cap refused most of them: {opened} opened");
    let after_first_kib = resident_kib(server.pid());

    // Idle sessions expire and give their slots back.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let probe = abandoned_initializes(&server, MAKER_KEY, 1).await;
        if probe[0].0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no session expired: {:?}", probe[0]);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let second = abandoned_initializes(&server, MAKER_KEY, 3000).await;
    assert!(second.iter().any(|(status, _)| *status == 200));
    let after_second_kib = resident_kib(server.pid());
    eprintln!(
        "VmRSS: {before_kib} KiB before, {after_first_kib} after 3000 initializes, {after_second_kib} after 3000 more"
    );
    assert!(after_first_kib < before_kib + 64 * 1024, "{before_kib} → {after_first_kib} KiB");
    assert!(
        after_second_kib < after_first_kib + 16 * 1024,
        "memory of expired sessions is reused: {after_first_kib} → {after_second_kib} KiB"
    );
    whoami_works(&server).await;
}

#[tokio::test]
async fn the_session_cap_answers_a_clear_error_per_key_and_in_total() {
    let harepay = Harepay::new();
    let server = HttpServer::start_with(&harepay, &["--max-sessions-per-key", "5", "--max-sessions", "8"]);
    let http = reqwest::Client::new();
    let mut maker_sessions = Vec::new();
    for _ in 0..5 {
        let response = mcp_post(&http, &server, Some(MAKER_KEY), initialize_body()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        maker_sessions.push(response.headers()["mcp-session-id"].to_str().unwrap().to_owned());
    }
    let full = mcp_post(&http, &server, Some(MAKER_KEY), initialize_body()).send().await.unwrap();
    assert_eq!(full.status(), 429);
    assert!(full.headers().contains_key("retry-after"));
    assert_reqwest_security_headers(&full);
    let body: Value = full.json().await.unwrap();
    assert_eq!(body["error"]["type"], "too_many_sessions", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("DELETE"), "{body}");

    for _ in 0..3 {
        let response = mcp_post(&http, &server, Some(APPROVER_KEY), initialize_body()).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let server_full = mcp_post(&http, &server, Some(APPROVER_KEY), initialize_body()).send().await.unwrap();
    assert_eq!(server_full.status(), 503);
    let body: Value = server_full.json().await.unwrap();
    assert_eq!(body["error"]["type"], "too_many_sessions", "{body}");

    // Ending a session gives its slot back at once.
    let ended = http
        .delete(&server.url)
        .header("authorization", format!("Bearer {MAKER_KEY}"))
        .header("mcp-session-id", &maker_sessions[0])
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    let reopened = mcp_post(&http, &server, Some(MAKER_KEY), initialize_body()).send().await.unwrap();
    assert_eq!(reopened.status(), 200);
    // Clients of 2026-07-28 need no session and are served with every slot taken.
    whoami_works(&server).await;
}

#[tokio::test]
async fn browser_origins_outside_the_allow_list_get_403() {
    let harepay = Harepay::new();
    let loopback_only = HttpServer::start(&harepay);
    let http = reqwest::Client::new();
    let with_origin = |server: &HttpServer, origin: Option<&str>| {
        let request = mcp_post(&http, server, Some(MAKER_KEY), initialize_body());
        match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        }
    };
    for (origin, status) in
        [(Some("https://evil.example"), 403), (Some("http://localhost:5173"), 200), (Some("null"), 403), (None, 200)]
    {
        let response = with_origin(&loopback_only, origin).send().await.unwrap();
        assert_eq!(response.status(), status, "{origin:?}");
        assert_reqwest_security_headers(&response);
    }
    drop(loopback_only);
    let configured = HttpServer::start_with(&harepay, &["--allowed-origin", "https://app.example.com:443"]);
    let allowed = with_origin(&configured, Some("https://app.example.com")).send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    let loopback = with_origin(&configured, Some("http://localhost:5173")).send().await.unwrap();
    assert_eq!(loopback.status(), 403, "a configured list replaces the loopback default");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_oauth_discovery_is_404() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let http = reqwest::Client::new();
    let base = server.url.trim_end_matches("/mcp").to_owned();

    let ok = mcp_post(&http, &server, Some(MAKER_KEY), initialize_body()).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_reqwest_security_headers(&ok);

    let unauthorized = mcp_post(&http, &server, Some("sk_test_not_a_key"), initialize_body()).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(unauthorized.headers()["www-authenticate"], "Bearer realm=\"harepay\", error=\"invalid_token\"");
    assert_reqwest_security_headers(&unauthorized);

    let forbidden = mcp_post(&http, &server, Some(MAKER_KEY), initialize_body())
        .header("host", "payments.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    assert_reqwest_security_headers(&forbidden);

    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/",
    ] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(!response.headers().contains_key("www-authenticate"), "{path}");
        assert_reqwest_security_headers(&response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_and_open_sessions_outlive_the_request_timeout() {
    let harepay = Harepay::new();
    let server = HttpServer::start_with(&harepay, &["--request-timeout-ms", "1000"]);
    let address = server.address();
    let session = server.connect(MAKER_KEY, rmcp::service::ClientLifecycleMode::Initialize).await;

    // Headers promise 100 bytes; 10 come, then nothing.
    let head = post_head(address, MAKER_KEY, "Content-Length: 100\r\n");
    let stalled = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(b"{\"jsonrpc\"").unwrap();
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received);
        parse_response(&received)
    })
    .await
    .unwrap();
    assert_eq!(stalled.status, 408, "{stalled:?}");
    assert_security_headers(stalled.status, |name| stalled.header(name));

    // A session's streams are answers already under way: the timeout does not cut them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (is_error, me) = call(&session, "whoami", json!({})).await;
    assert!(!is_error && me["role"] == "maker", "{me}");
    session.cancel().await.unwrap();
}

/// An initialize of about `bytes`, padded with a `capabilities.experimental` of zeros: the
/// largest parsed JSON per byte of text, which a session keeps for its life.
fn initialize_with_experimental_zeros(bytes: usize) -> String {
    let empty = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"experimental": {"x": {"a": []}}},
            "clientInfo": {"name": "raw", "version": "0"}
        }
    })
    .to_string();
    let zeros = vec!["0"; (bytes - empty.len()) / 2].join(",");
    empty.replace("\"a\":[]", &format!("\"a\":[{zeros}]"))
}

/// Opens one session of `key` as soon as its slots come back, waiting at most 30 s.
async fn wait_for_a_session_slot(server: &HttpServer, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while abandoned_initializes(server, key, 1).await[0].0 != 200 {
        assert!(Instant::now() < deadline, "no session of {key} expired");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn oversized_initializes_get_413_and_sessions_at_the_initialize_limit_keep_memory_bounded() {
    let initialize_max_bytes = harepay::limits::HTTP_INITIALIZE_MAX_BYTES;
    let harepay = Harepay::new();
    let server = HttpServer::start_with(
        &harepay,
        &["--rate-limit-per-ip", "off", "--rate-limit-per-key", "off", "--session-idle-expiry-ms", "2000"],
    );
    abandoned_initializes(&server, MAKER_KEY, 20).await;
    let before_kib = resident_kib(server.pid());

    // The attack: 680 KB initializes under the 1 MiB body limit, 100 per key. Each session kept
    // ~5–11 MB (1.1 GB for 200) before initializes had their own limit.
    let huge = initialize_with_experimental_zeros(680_000);
    let long_name = initialize_body().replace("\"raw\"", &format!("\"{}\"", "n".repeat(initialize_max_bytes)));
    for (key, body) in [(MAKER_KEY, &huge), (APPROVER_KEY, &huge), (MAKER_KEY, &long_name)] {
        for (status, reply) in abandoned_initializes_of(&server, key, 100, body.clone()).await {
            assert_eq!(status, 413, "{reply}");
            assert_eq!(reply["error"]["type"], "payload_too_large", "{reply}");
            assert_eq!(reply["error"]["code"], -32600, "{reply}");
            assert!(reply["error"]["message"].as_str().unwrap().contains("initialize"), "{reply}");
        }
    }
    let after_refused_kib = resident_kib(server.pid());

    // Sessions with the largest initialize allowed, all of them of small values.
    let at_limit = initialize_with_experimental_zeros(initialize_max_bytes);
    assert!(at_limit.len() <= initialize_max_bytes);
    let mut opened = 0;
    for key in [MAKER_KEY, APPROVER_KEY] {
        let answers = abandoned_initializes_of(&server, key, 100, at_limit.clone()).await;
        opened += answers.iter().filter(|(status, _)| *status == 200).count();
    }
    // The maker's first 20 sessions may still be open: 80 of its 100 are left.
    assert!(opened >= 180, "{opened} sessions opened");
    let after_first_kib = resident_kib(server.pid());

    // They expire and their memory is used again by the next ones.
    wait_for_a_session_slot(&server, MAKER_KEY).await;
    wait_for_a_session_slot(&server, APPROVER_KEY).await;
    for key in [MAKER_KEY, APPROVER_KEY] {
        abandoned_initializes_of(&server, key, 100, at_limit.clone()).await;
    }
    let after_second_kib = resident_kib(server.pid());
    eprintln!(
        "VmRSS: {before_kib} KiB before, {after_refused_kib} after 300 refused initializes, {after_first_kib} after \
         {opened} sessions at the limit, {after_second_kib} after they expired and as many more opened"
    );
    assert!(after_refused_kib < before_kib + 48 * 1024, "{before_kib} → {after_refused_kib} KiB");
    assert!(after_first_kib < before_kib + 160 * 1024, "{before_kib} → {after_first_kib} KiB");
    assert!(after_second_kib < after_first_kib + 32 * 1024, "{after_first_kib} → {after_second_kib} KiB");
    whoami_works(&server).await;
}

/// One request with a `name: value` header of about `bytes`, on its own connection.
fn exchange_with_header(address: SocketAddr, name: &str, value: &str, key: Option<&str>) -> RawResponse {
    let body = initialize_body();
    let authorization = key.map(|key| format!("Authorization: Bearer {key}\r\n")).unwrap_or_default();
    let host = if name.eq_ignore_ascii_case("host") { String::new() } else { format!("Host: {address}\r\n") };
    let head = format!(
        "POST /mcp HTTP/1.1\r\n{host}{name}: {value}\r\n{authorization}Content-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    raw_exchange(address, head, vec![body.into_bytes()])
}

#[tokio::test]
async fn floods_of_foreign_hosts_and_origins_get_json_403_and_add_little_to_the_log() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let address = server.address();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log_before = server.log_bytes.load(std::sync::atomic::Ordering::SeqCst);

    // 12 KB fits in a request head; 100 KB does not (431, below). rmcp logged either whole.
    let flood = tokio::task::spawn_blocking(move || {
        let mut answers = Vec::new();
        for size in [12_000, 100_000] {
            for _ in 0..20 {
                let origin = format!("http://{}.c", "a".repeat(size));
                answers.push((size, exchange_with_header(address, "Origin", &origin, Some(MAKER_KEY))));
                let host = format!("{}.c", "a".repeat(size));
                answers.push((size, exchange_with_header(address, "Host", &host, Some(MAKER_KEY))));
            }
        }
        answers
    })
    .await
    .unwrap();
    for (size, response) in &flood {
        if *size == 100_000 {
            assert_eq!(response.status, 431, "{response:?}");
            continue;
        }
        assert_eq!(response.status, 403, "{response:?}");
        assert_security_headers(response.status, |name| response.header(name));
        let error = &response.json()["error"];
        assert!(["host_not_allowed", "origin_not_allowed"].contains(&error["type"].as_str().unwrap()), "{error}");
        assert!(response.body.len() < 400, "the answer quotes a short prefix: {} bytes", response.body.len());
    }
    // Before: 40 such requests wrote 8,012,760 bytes of WARN lines.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logged = server.log_bytes.load(std::sync::atomic::Ordering::SeqCst) - log_before;
    assert!(logged < 4 * 1024, "80 refused requests logged {logged} bytes");

    // Checked before the key: a page in a browser learns nothing about keys.
    let http = reqwest::Client::new();
    for key in [None, Some("sk_test_not_a_key"), Some(MAKER_KEY)] {
        let refused = mcp_post(&http, &server, key, initialize_body())
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{key:?}");
        assert_reqwest_security_headers(&refused);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["type"], "origin_not_allowed", "{body}");
    }
    whoami_works(&server).await;
}

#[tokio::test]
async fn request_heads_over_16_kib_get_431_with_json_and_the_security_headers() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let address = server.address();
    let head_max_bytes = harepay::limits::HTTP_REQUEST_HEAD_MAX_BYTES;
    let answers = tokio::task::spawn_blocking(move || {
        [head_max_bytes / 2, head_max_bytes + 1024, 300_000]
            .map(|size| exchange_with_header(address, "X-Padding", &"p".repeat(size), Some(MAKER_KEY)))
    })
    .await
    .unwrap();
    let [under, over, far_over] = answers;
    assert_eq!(under.status, 200, "{under:?}");
    assert_eq!(over.status, 431, "{over:?}");
    assert_security_headers(over.status, |name| over.header(name));
    assert_eq!(over.json()["error"]["type"], "request_headers_too_large", "{over:?}");
    // Beyond the connection's read buffer hyper answers 431 itself, without a body, and closes.
    assert_eq!(far_over.status, 431, "{far_over:?}");
    assert_eq!(far_over.header("connection").as_deref(), Some("close"), "{far_over:?}");
    whoami_works(&server).await;
}

/// What became of a connection that started a request head and stopped: still open (`None`)
/// after `patience`, or answered and closed (`Some(what it was told)`).
async fn fate_of_a_stalled_head(mut stream: tokio::net::TcpStream, patience: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut received)).await;
    read.ok().map(|_| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection_and_a_client_from_another_is_served() {
    use tokio::io::AsyncWriteExt;
    let per_address = harepay::limits::HTTP_MAX_CONNECTIONS_PER_ADDRESS;
    let harepay = Harepay::new();
    // Room for 16 more connections than one address may hold; a stalled head holds its slot a minute.
    let max_connections = (per_address + 16).to_string();
    let server =
        HttpServer::start_with(&harepay, &["--max-connections", &max_connections, "--header-read-timeout-ms", "60000"]);
    let address = server.address();

    // The attack: 200 connections from 127.0.0.1 that start a request head and never finish it.
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let _ = stream.write_all(format!("POST /mcp HTTP/1.1\r\nHost: {address}\r\n").as_bytes()).await;
        stalled.push(stream);
    }
    let fates: Vec<Option<String>> = futures::future::join_all(
        stalled.into_iter().map(|stream| fate_of_a_stalled_head(stream, Duration::from_secs(3))),
    )
    .await;
    let still_open = fates.iter().filter(|fate| fate.is_none()).count();
    assert!(still_open <= per_address, "{still_open} connections held from one address");
    for told in fates.iter().flatten().filter(|told| !told.is_empty()) {
        assert!(told.starts_with("HTTP/1.1 503") && told.contains("too_many_connections"), "{told}");
    }

    // Before, they held every slot for the header-read timeout: a client waited in the backlog.
    whoami_works_from(&server, SECOND_LOOPBACK_ADDRESS, Duration::from_secs(20)).await;
}
