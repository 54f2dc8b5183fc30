//! The limits that keep harepay up under a hostile client, each attacked through the real
//! binary on loopback: oversized bodies, floods of requests per key and per address, slow
//! headers, too many connections, thousands of abandoned sessions, foreign origins; and the
//! headers every answer carries.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
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
        assert_eq!(reply["error"]["type"], "request_too_large", "{response:?}");
        assert_eq!((&reply["error"]["code"], &reply["id"]), (&json!(-32600), &Value::Null), "a JSON-RPC error too");
        assert!(reply["error"]["message"].as_str().unwrap().contains("1 MiB"), "{reply}");
        assert_security_headers(response.status, |name| response.header(name));
    }

    // A body just under the limit is read whole and served.
    let padding = " ".repeat(BODY_MAX_BYTES - initialize_body().len() - 16);
    let body = format!("{}{padding}", initialize_body());
    let head = post_head(address, MAKER_KEY, &format!("Content-Length: {}\r\n", body.len()));
    let under =
        tokio::task::spawn_blocking(move || raw_exchange(address, head, vec![body.into_bytes()])).await.unwrap();
    assert_eq!(under.status, 200, "{under:?}");
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
    // 200 connections trickling headers do not lock a legitimate client out.
    whoami_works(&server).await;
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
    let http = reqwest::Client::new();
    futures::stream::iter(0..count)
        .map(|_| {
            let request = mcp_post(&http, server, Some(key), initialize_body());
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
