//! Signed webhook delivery through the real binary: a receiver spawned here verifies every request
//! exactly as the seed's snippet does (HMAC-SHA256 of "timestamp.rawBody", hex, `sha256=` prefix),
//! and the tests attack the worker: failing, redirecting, streaming and silent receivers, a SIGKILL
//! mid-retry, internal addresses, a flood of endpoints, forged signatures, another merchant.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hmac::{Hmac, Mac};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::http::{HttpServer, call, stateless};
use crate::support::{Harepay, MAKER_KEY};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    event: String,
    event_id: String,
    timestamp: String,
    signature: String,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests to `/flaky/...` fail while this is above zero (each failure counts it down).
    flaky_failures_left: Arc<Mutex<u32>>,
}

impl Receiver {
    fn requests_to(&self, path: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|request| request.path == path).cloned().collect()
    }
}

/// The seed's check, written here independently of harepay's code.
pub(crate) fn seed_signature(secret: &str, timestamp: &str, raw_body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
    receiver.received.lock().unwrap().push(Received {
        path: path.clone(),
        event: header("x-lodum-event"),
        event_id: header("x-lodum-event-id"),
        timestamp: header("x-lodum-timestamp"),
        signature: header("x-lodum-signature"),
        body,
    });
    let answer = |status: StatusCode| Response::builder().status(status).body(Body::from("received")).unwrap();
    match path.as_str() {
        "fail" => answer(StatusCode::INTERNAL_SERVER_ERROR),
        "busy" => Response::builder().status(429).header("retry-after", "1").body(Body::empty()).unwrap(),
        "redirect" => Response::builder().status(302).header("location", "/redirected").body(Body::empty()).unwrap(),
        "huge" => {
            // 200, then a body that never ends: the worker must stop reading.
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let endless = futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            Response::builder().status(200).body(Body::from_stream(endless)).unwrap()
        }
        "hang" => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            answer(StatusCode::OK)
        }
        "flaky" => {
            let mut left = receiver.flaky_failures_left.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                answer(StatusCode::SERVICE_UNAVAILABLE)
            } else {
                answer(StatusCode::OK)
            }
        }
        _ => answer(StatusCode::OK),
    }
}

async fn start_receiver() -> (Receiver, SocketAddr) {
    let receiver = Receiver::default();
    let router = axum::Router::new().route("/{path}", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (receiver, address)
}

type McpClient = RunningService<RoleClient, ()>;

async fn ok(client: &McpClient, tool: &str, arguments: Value) -> Value {
    let (is_error, result) = call(client, tool, arguments.clone()).await;
    assert!(!is_error, "{tool} {arguments}: {result}");
    result
}

async fn refused(client: &McpClient, tool: &str, arguments: Value) -> Value {
    let (is_error, result) = call(client, tool, arguments.clone()).await;
    assert!(is_error, "{tool} {arguments} should fail: {result}");
    result["error"].clone()
}

async fn create_endpoint(client: &McpClient, url: &str, events: Value) -> (String, String) {
    let created = ok(client, "create_webhook_endpoint", json!({"url": url, "events": events, "confirm": true})).await;
    let object = &created["object"];
    (object["id"].as_str().unwrap().to_owned(), object["signing_secret"].as_str().unwrap().to_owned())
}

async fn create_customer(client: &McpClient, email: &str) -> String {
    let created = ok(client, "create_customer", json!({"email": email, "confirm": true})).await;
    created["object"]["id"].as_str().unwrap().to_owned()
}

async fn deliveries(client: &McpClient, arguments: Value) -> Vec<Value> {
    ok(client, "list_webhook_deliveries", arguments).await["data"].as_array().unwrap().clone()
}

/// Polls `check` every 50 ms until it returns Some, for at most `seconds`.
pub(crate) async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    seconds: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn verify_cli(harepay: &Harepay, secret: &str, timestamp: &str, signature: &str, body: &[u8]) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(crate::support::binary())
        .args(["webhooks", "verify", "--secret", secret, "--timestamp", timestamp, "--signature", signature])
        .env("HAREPAY_DB", &harepay.db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test]
async fn a_delivery_is_signed_verified_redelivered_with_its_event_id_and_invisible_to_other_merchants() {
    let (receiver, address) = start_receiver().await;
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let client = server.connect(MAKER_KEY, stateless()).await;

    let url = format!("http://127.0.0.1:{}/ok", address.port());
    let arguments = json!({"url": url, "events": ["customer.created"], "confirm": true, "idempotency_key": "hook-1"});
    let created = ok(&client, "create_webhook_endpoint", arguments.clone()).await;
    let endpoint_id = created["object"]["id"].as_str().unwrap().to_owned();
    let secret = created["object"]["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() == 70, "{secret}");
    // The secret is shown once: a replay, the list and the endpoint's event leave it out, and
    // neither the database nor the server's log holds it in the clear.
    let replayed = ok(&client, "create_webhook_endpoint", arguments).await;
    assert_eq!(replayed["outcome"], "replayed");
    assert_eq!(replayed["object"]["signing_secret"], Value::Null);
    let listed = ok(&client, "list_webhook_endpoints", json!({})).await;
    assert_eq!(listed["data"][0]["signing_secret"], Value::Null);
    let preview = ok(&client, "create_webhook_endpoint", json!({"url": url, "events": ["*"]})).await;
    assert!(preview["object"].get("signing_secret").is_none(), "a preview hands out no secret: {preview}");
    for bytes in crate::backend::stored_bytes(&harepay.db) {
        assert!(
            !bytes.windows(secret.len()).any(|window| window == secret.as_bytes()),
            "the secret is stored in clear"
        );
    }

    create_customer(&client, "ada@example.com").await;
    let events = ok(&client, "list_events", json!({"type": "customer.created"})).await;
    let event = events["data"][0].clone();
    let event_id = event["id"].as_str().unwrap().to_owned();

    let first = eventually(20, "the delivery", || async { receiver.requests_to("ok").first().cloned() }).await;
    assert_eq!(first.event, "customer.created");
    assert_eq!(first.event_id, event_id);
    assert_eq!(first.signature, seed_signature(&secret, &first.timestamp, &first.body), "the seed's check passes");
    let body: Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(body, event["data"], "the body is the event's object");
    let now_seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now_seconds - first.timestamp.parse::<i64>().unwrap()).abs() < 60);

    let delivered = eventually(20, "the recorded attempt", || async {
        let found = deliveries(&client, json!({"event_id": event_id})).await;
        found.into_iter().find(|delivery| delivery["status"] == "succeeded")
    })
    .await;
    assert_eq!(delivered["endpoint_id"], endpoint_id.as_str());
    assert_eq!(delivered["attempts"], 1);
    assert_eq!(delivered["attempt_history"][0]["status_code"], 200);

    // `harepay webhooks verify` accepts the real delivery and refuses forgeries.
    let (valid, said) = verify_cli(&harepay, &secret, &first.timestamp, &first.signature, &first.body);
    assert!(valid, "{said}");
    let mut forged = first.signature.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    for (timestamp, signature, body, why) in [
        (first.timestamp.clone(), forged, first.body.to_vec(), "a changed digit"),
        (first.timestamp.clone(), first.signature.clone(), b"{\"id\":\"cus_forged\"}".to_vec(), "another body"),
        ((now_seconds - 3_600).to_string(), String::new(), first.body.to_vec(), "an old timestamp"),
    ] {
        let signature = if signature.is_empty() { seed_signature(&secret, &timestamp, &first.body) } else { signature };
        let (valid, said) = verify_cli(&harepay, &secret, &timestamp, &signature, &body);
        assert!(!valid, "{why} must fail: {said}");
    }
    let (valid, _) = verify_cli(&harepay, "whsec_wrong", &first.timestamp, &first.signature, &first.body);
    assert!(!valid, "another secret");

    // A redelivery is a new delivery of the same event: the same event id, no new event.
    let redelivered =
        ok(&client, "redeliver_event", json!({"event_id": event_id, "endpoint_id": endpoint_id, "confirm": true}))
            .await;
    assert_eq!(redelivered["object"]["endpoint_ids"][0], endpoint_id.as_str());
    let second = eventually(20, "the redelivery", || async { receiver.requests_to("ok").get(1).cloned() }).await;
    assert_eq!(second.event_id, event_id);
    assert_eq!(second.signature, seed_signature(&secret, &second.timestamp, &second.body));
    let events_after = ok(&client, "list_events", json!({"type": "customer.created"})).await;
    assert_eq!(events_after["data"].as_array().unwrap().len(), 1, "no event was re-created");

    // Another merchant sees none of it.
    let other_key = harepay.create_key(&["--owner", "eve", "--new-merchant", "Other Ltd"]);
    let other = server.connect(&other_key, stateless()).await;
    assert!(deliveries(&other, json!({})).await.is_empty());
    assert!(deliveries(&other, json!({"event_id": event_id})).await.is_empty());
    assert!(ok(&other, "list_webhook_endpoints", json!({})).await["data"].as_array().unwrap().is_empty());
    let error = refused(&other, "redeliver_event", json!({"event_id": event_id, "confirm": true})).await;
    assert_eq!(error["type"], "not_found");
    let error = refused(&other, "delete_webhook_endpoint", json!({"id": endpoint_id, "confirm": true})).await;
    assert_eq!(error["type"], "not_found");
}

#[tokio::test]
async fn failed_deliveries_follow_the_schedule_honour_retry_after_and_the_tenth_failure_disables() {
    let (receiver, address) = start_receiver().await;
    let harepay = Harepay::new();
    let base_ms = 40_i64;
    let cap_ms = 200_i64;
    let server = HttpServer::start_with(
        &harepay,
        &["--webhook-retry-base-ms", &base_ms.to_string(), "--webhook-retry-cap-ms", &cap_ms.to_string()],
    );
    let client = server.connect(MAKER_KEY, stateless()).await;
    let (failing_id, _) =
        create_endpoint(&client, &format!("http://127.0.0.1:{}/fail", address.port()), json!(["customer.created"]))
            .await;
    let (busy_id, _) =
        create_endpoint(&client, &format!("http://localhost:{}/busy", address.port()), json!(["customer.created"]))
            .await;
    create_customer(&client, "ada@example.com").await;

    let disabled = eventually(60, "the endpoint disabled", || async {
        let listed = ok(&client, "list_webhook_endpoints", json!({})).await;
        let endpoint = listed["data"].as_array().unwrap().iter().find(|e| e["id"] == failing_id.as_str()).cloned();
        endpoint.filter(|endpoint| endpoint["status"] == "disabled")
    })
    .await;
    assert_eq!(disabled["consecutive_failures"], 10);
    let events = ok(&client, "list_events", json!({"type": "webhook_endpoint.disabled"})).await;
    assert_eq!(events["data"][0]["object_id"], failing_id.as_str());
    tokio::time::sleep(Duration::from_millis(4 * cap_ms as u64)).await;
    assert_eq!(receiver.requests_to("fail").len(), 10, "nothing is sent to a disabled endpoint");

    // Every attempt is recorded, and each waited at least its published backoff (−10 % jitter).
    let delivery = deliveries(&client, json!({"endpoint_id": failing_id})).await[0].clone();
    assert_eq!(delivery["attempts"], 10);
    let mut history = delivery["attempt_history"].as_array().unwrap().clone();
    history.reverse();
    for (index, pair) in history.windows(2).enumerate() {
        let failed_attempts = index as u32 + 1;
        let backoff_ms = (base_ms << (failed_attempts - 1)).min(cap_ms);
        let finished = pair[0]["started_at_ms"].as_i64().unwrap() + pair[0]["duration_ms"].as_i64().unwrap();
        let waited = pair[1]["started_at_ms"].as_i64().unwrap() - finished;
        assert!(waited >= backoff_ms * 9 / 10, "attempt {}: waited {waited} ms < {backoff_ms} ms", index + 2);
        assert_eq!(pair[0]["status_code"], 500);
    }
    // A 429 with Retry-After: 1 waits at least a second, far above the 40 ms base.
    let busy = eventually(20, "two attempts at the busy endpoint", || async {
        let found = deliveries(&client, json!({"endpoint_id": busy_id})).await;
        found.into_iter().find(|delivery| delivery["attempts"].as_u64() >= Some(2))
    })
    .await;
    let mut history = busy["attempt_history"].as_array().unwrap().clone();
    history.reverse();
    let waited = history[1]["started_at_ms"].as_i64().unwrap() - history[0]["started_at_ms"].as_i64().unwrap();
    assert!(waited >= 1_000, "Retry-After honoured: waited {waited} ms");

    // Enabling it again clears the count.
    let enabled =
        ok(&client, "update_webhook_endpoint", json!({"id": failing_id, "enabled": true, "confirm": true})).await;
    assert_eq!(
        (enabled["object"]["status"].clone(), enabled["object"]["consecutive_failures"].clone()),
        (json!("enabled"), json!(0))
    );
}

#[tokio::test]
async fn a_sigkill_mid_retry_loses_no_delivery_and_creates_no_duplicate_event() {
    let (receiver, address) = start_receiver().await;
    *receiver.flaky_failures_left.lock().unwrap() = 3;
    let harepay = Harepay::new();
    let arguments = ["--webhook-retry-base-ms", "300", "--webhook-retry-cap-ms", "600"];
    let server = HttpServer::start_with(&harepay, &arguments);
    let client = server.connect(MAKER_KEY, stateless()).await;
    create_endpoint(&client, &format!("http://127.0.0.1:{}/flaky", address.port()), json!(["customer.created"])).await;
    for index in 0..5 {
        create_customer(&client, &format!("c{index}@example.com")).await;
    }
    eventually(20, "failed attempts", || async { (receiver.requests_to("flaky").len() >= 2).then_some(()) }).await;
    drop(client);
    let pid = server.pid();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    drop(server);

    let server = HttpServer::start_with(&harepay, &arguments);
    let client = server.connect(MAKER_KEY, stateless()).await;
    let events = ok(&client, "list_events", json!({"type": "customer.created"})).await;
    let event_ids: BTreeSet<String> =
        events["data"].as_array().unwrap().iter().map(|event| event["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(event_ids.len(), 5, "no event lost or re-created");
    let delivered = eventually(40, "every event delivered", || async {
        let found = deliveries(&client, json!({"limit": 100})).await;
        let succeeded: BTreeSet<String> = found
            .iter()
            .filter(|delivery| delivery["status"] == "succeeded")
            .map(|delivery| delivery["event_id"].as_str().unwrap().to_owned())
            .collect();
        (succeeded == event_ids).then_some(found)
    })
    .await;
    assert_eq!(delivered.len(), 5, "one delivery per event, none re-created by the restart");
    let received: BTreeSet<String> =
        receiver.requests_to("flaky").into_iter().map(|request| request.event_id).collect();
    assert_eq!(received, event_ids, "the receiver saw every event (at least once)");
    let events = ok(&client, "list_events", json!({"type": "customer.created"})).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn internal_addresses_redirects_endless_and_silent_receivers_and_endpoint_floods_are_bounded() {
    let (receiver, address) = start_receiver().await;
    let port = address.port();
    let harepay = Harepay::new();
    let live_key = harepay.create_key(&["--owner", "ops", "--mode", "live"]);
    let server = HttpServer::start(&harepay);
    let live = server.connect(&live_key, stateless()).await;
    let test = server.connect(MAKER_KEY, stateless()).await;

    // Live mode: https only, and no internal address, by IP or by a name that resolves to one.
    for (url, error_type) in [
        (format!("http://127.0.0.1:{port}/ok"), "webhook_url_must_be_https"),
        ("http://hooks.example.com/x".to_owned(), "webhook_url_must_be_https"),
        ("https://127.0.0.1/x".to_owned(), "webhook_url_not_allowed"),
        (format!("https://localhost:{port}/ok"), "webhook_url_not_allowed"),
        ("https://169.254.169.254/latest/meta-data/".to_owned(), "webhook_url_not_allowed"),
        ("https://[fd00:ec2::254]/".to_owned(), "webhook_url_not_allowed"),
        ("https://10.0.0.1/".to_owned(), "webhook_url_not_allowed"),
        ("https://192.168.1.1/".to_owned(), "webhook_url_not_allowed"),
        ("https://100.64.0.1/".to_owned(), "webhook_url_not_allowed"),
        ("https://[::ffff:127.0.0.1]/".to_owned(), "webhook_url_not_allowed"),
    ] {
        let error =
            refused(&live, "create_webhook_endpoint", json!({"url": url, "events": ["*"], "confirm": true})).await;
        assert_eq!(error["type"], error_type, "{url}: {error}");
    }
    // Test mode takes a developer's loopback receiver, and nothing else internal.
    for url in ["http://10.0.0.1/x", "https://169.254.169.254/"] {
        let error =
            refused(&test, "create_webhook_endpoint", json!({"url": url, "events": ["*"], "confirm": true})).await;
        assert!(error["type"].as_str().unwrap().starts_with("webhook_url_"), "{url}: {error}");
    }

    let endpoint = |path: &str| format!("http://127.0.0.1:{port}/{path}");
    let (hang_id, _) = create_endpoint(&test, &endpoint("hang"), json!(["customer.created"])).await;
    let (redirect_id, _) = create_endpoint(&test, &endpoint("redirect"), json!(["customer.created"])).await;
    let (huge_id, _) = create_endpoint(&test, &endpoint("huge"), json!(["customer.created"])).await;
    create_endpoint(&test, &endpoint("ok"), json!(["customer.created"])).await;
    let started = Instant::now();
    create_customer(&test, "ada@example.com").await;

    // A silent receiver holds one slot: the others are delivered meanwhile.
    eventually(20, "the healthy endpoint", || async { (!receiver.requests_to("ok").is_empty()).then_some(()) }).await;
    let by_endpoint = |found: Vec<Value>| -> HashMap<String, Value> {
        found.into_iter().map(|delivery| (delivery["endpoint_id"].as_str().unwrap().to_owned(), delivery)).collect()
    };
    let redirect = eventually(20, "the redirect recorded", || async {
        let found = by_endpoint(deliveries(&test, json!({})).await);
        found.get(&redirect_id).filter(|delivery| delivery["attempts"].as_u64() >= Some(1)).cloned()
    })
    .await;
    assert_eq!(redirect["attempt_history"][0]["status_code"], 302);
    assert!(redirect["attempt_history"][0]["error"].as_str().unwrap().contains("redirects are not followed"));
    assert!(receiver.requests_to("redirected").is_empty(), "the redirect was not followed");
    let huge = eventually(30, "the endless body bounded", || async {
        let found = by_endpoint(deliveries(&test, json!({})).await);
        found.get(&huge_id).filter(|delivery| delivery["attempts"].as_u64() >= Some(1)).cloned()
    })
    .await;
    assert_eq!(huge["attempt_history"][0]["status_code"], 200);
    assert!(huge["attempt_history"][0]["response_excerpt"].as_str().unwrap().chars().count() <= 200);
    let hang = eventually(30, "the silent receiver timed out", || async {
        let found = by_endpoint(deliveries(&test, json!({})).await);
        found.get(&hang_id).filter(|delivery| delivery["attempts"].as_u64() >= Some(1)).cloned()
    })
    .await;
    assert!(hang["attempt_history"][0]["error"].as_str().unwrap().contains("no answer within"), "{hang}");
    assert_eq!(hang["status"], "pending", "retried later");
    assert!(started.elapsed() < Duration::from_secs(25), "bounded by the request timeout");

    // A flood of endpoints stops at the cap (4 exist already).
    for index in 4..16 {
        create_endpoint(&test, &endpoint(&format!("ok{index}")), json!(["payout.paid"])).await;
    }
    let error = refused(
        &test,
        "create_webhook_endpoint",
        json!({"url": endpoint("one-too-many"), "events": ["*"], "confirm": true}),
    )
    .await;
    assert_eq!(error["type"], "webhook_endpoint_limit_reached");
    let error = refused(
        &test,
        "create_webhook_endpoint",
        json!({"url": endpoint("x"), "events": ["*", "payout.paid"], "confirm": true}),
    )
    .await;
    assert_eq!(error["type"], "invalid_request");
}

#[tokio::test]
async fn each_delivery_checks_the_address_again_so_a_lifted_allowance_stops_it() {
    let (receiver, address) = start_receiver().await;
    let harepay = Harepay::new();
    let live_key = harepay.create_key(&["--owner", "ops", "--mode", "live"]);
    // The operator allow-lists loopback: a live endpoint whose name resolves there is accepted.
    let allowing = HttpServer::start_with(&harepay, &["--webhook-allowed-cidrs", "127.0.0.0/8"]);
    let live = allowing.connect(&live_key, stateless()).await;
    let url = format!("https://localhost:{}/ok", address.port());
    let (endpoint_id, _) = create_endpoint(&live, &url, json!(["customer.created"])).await;
    drop(live);
    drop(allowing);

    // Without the allowance, the same name is refused at delivery time: nothing is sent.
    let strict = HttpServer::start(&harepay);
    let live = strict.connect(&live_key, stateless()).await;
    create_customer(&live, "ada@example.com").await;
    let refused = eventually(20, "the refused attempt", || async {
        let found = deliveries(&live, json!({"endpoint_id": endpoint_id})).await;
        found.into_iter().find(|delivery| delivery["attempts"].as_u64() >= Some(1))
    })
    .await;
    let error = refused["attempt_history"][0]["error"].as_str().unwrap();
    assert!(error.contains("internal address"), "{error}");
    assert_eq!(refused["attempt_history"][0]["status_code"], Value::Null);
    assert!(receiver.requests_to("ok").is_empty(), "no request reached the receiver");
}
