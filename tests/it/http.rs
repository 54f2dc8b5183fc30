//! MCP over streamable HTTP on loopback: bearer authentication per request, both protocol
//! generations, roles per key, Host validation.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::support::{APPROVER_KEY, Harepay, MAKER_KEY, binary};

/// `harepay http` on a free loopback port, killed when dropped.
pub struct HttpServer {
    child: Child,
    pub url: String,
    /// What the server said on stderr before it listened.
    pub startup_messages: String,
    /// Bytes the server has written to stderr since it listened (its log).
    pub log_bytes: Arc<AtomicUsize>,
    /// The first `LOG_KEPT_MAX_BYTES` of that log.
    pub log: Arc<std::sync::Mutex<Vec<u8>>>,
}

const LOG_KEPT_MAX_BYTES: usize = 4 << 20;

impl HttpServer {
    /// The server on the demo merchant, with the default limits.
    pub fn start(harepay: &Harepay) -> HttpServer {
        HttpServer::start_with(harepay, &[])
    }

    /// The server on the demo merchant (`--demo`, so the demo keys work), with `extra_args`.
    pub fn start_with(harepay: &Harepay, extra_args: &[&str]) -> HttpServer {
        HttpServer::start_without_demo(harepay, &[extra_args, &["--demo"]].concat())
    }

    /// The server as an operator starts it: no demo unless `extra_args` ask.
    pub fn start_without_demo(harepay: &Harepay, extra_args: &[&str]) -> HttpServer {
        let mut child = Command::new(binary())
            .args(["http", "--listen", "127.0.0.1:0"])
            .args(extra_args)
            .env("HAREPAY_DB", &harepay.db)
            .env("HAREPAY_TEST_AUTO_SETTLE_MS", "off")
            .env("HAREPAY_TOOLSETS", "all")
            .env("HAREPAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut startup_messages = String::new();
        let url = loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "harepay http exited before listening: {startup_messages}"
            );
            if let Some(rest) = line.split("streamable HTTP at ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            startup_messages.push_str(&line);
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        let log_bytes = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (counted, kept) = (log_bytes.clone(), log.clone());
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 64 * 1024];
            while let Ok(count @ 1..) = stderr.read(&mut buffer) {
                counted.fetch_add(count, Ordering::SeqCst);
                let mut kept = kept.lock().unwrap();
                let room = LOG_KEPT_MAX_BYTES.saturating_sub(kept.len()).min(count);
                kept.extend_from_slice(&buffer[..room]);
            }
        });
        HttpServer { child, url, startup_messages, log_bytes, log }
    }

    /// `127.0.0.1:port`, for raw sockets.
    pub fn address(&self) -> std::net::SocketAddr {
        self.url.trim_start_matches("http://").trim_end_matches("/mcp").parse().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server has logged so far, as text.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// The first log line containing `needle`, waiting up to 5 s for it: stderr reaches the test
    /// through a pipe and a thread. Panics with the whole log when it never comes.
    pub fn wait_for_log_line(&self, needle: &str) -> String {
        for _ in 0..100 {
            if let Some(line) = self.log_text().lines().find(|line| line.contains(needle)) {
                return line.to_owned();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("no {needle:?} line in {}", self.log_text())
    }

    /// Sends SIGTERM, as a service manager would, and waits for the process to end.
    pub fn terminate(&mut self, patience: std::time::Duration) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid this test spawned and still holds (not yet reaped).
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = std::time::Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "harepay http still running {patience:?} after SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub async fn connect(&self, key: &str, lifecycle: ClientLifecycleMode) -> RunningService<RoleClient, ()> {
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.clone()).auth_header(key.to_owned());
        let transport = StreamableHttpClientTransport::from_config(config);
        ().serve_with_lifecycle(transport, lifecycle).await.unwrap()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn call(client: &RunningService<RoleClient, ()>, tool: &str, arguments: Value) -> (bool, Value) {
    let arguments = arguments.as_object().cloned().unwrap();
    let result = client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments)).await.unwrap();
    (result.is_error == Some(true), result.structured_content.unwrap_or_default())
}

pub fn stateless() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
}

#[tokio::test]
async fn requests_without_a_valid_bearer_key_get_401() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let http = reqwest::Client::new();
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    });
    for authorization in [None, Some("Bearer sk_test_not_a_key"), Some("Basic c2tfdGVzdF9kZW1v")] {
        let mut request = http
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize.to_string());
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"harepay\", error=\"invalid_token\"");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "authentication_failed");
    }
    // A Host header that is not loopback is refused (DNS-rebinding protection).
    let response = http
        .post(&server.url)
        .header("host", "payments.example.com")
        .header("authorization", format!("Bearer {MAKER_KEY}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn the_quickstart_works_over_http_on_both_protocol_generations() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    for (index, lifecycle) in [ClientLifecycleMode::Initialize, stateless()].into_iter().enumerate() {
        let client = server.connect(MAKER_KEY, lifecycle).await;
        let (_, me) = call(&client, "whoami", json!({})).await;
        assert_eq!(me["role"], "maker");
        let (is_error, created) = call(
            &client,
            "create_payment_intent",
            json!({
                "amount": {"amount": 1_000_000, "currency": "NGN"},
                "method": "bank_transfer",
                "rail": "rubies",
                "confirm": true,
                "idempotency_key": format!("order-{index}"),
            }),
        )
        .await;
        assert!(!is_error, "{created}");
        let id = created["object"]["id"].as_str().unwrap();
        let simulate =
            json!({"id": id, "outcome": "succeeded", "confirm": true, "idempotency_key": format!("s-{index}")});
        call(&client, "simulate_payment", simulate).await;
        let (_, balance) = call(&client, "get_balance", json!({"asset": "NGN"})).await;
        assert_eq!(balance["available"]["amount"], 995_000 * (index as i64 + 1));
        let (is_error, error) = call(&client, "get_payment", json!({"id": "pi_missing"})).await;
        assert!(is_error);
        assert_eq!(error["error"]["type"], "not_found");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn each_request_acts_as_its_own_key() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let approver = server.connect(APPROVER_KEY, stateless()).await;
    let tools: Vec<String> = approver.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(tools.contains(&"approve_payout".to_owned()) && !tools.contains(&"create_payout".to_owned()));
    let (_, me) = call(&approver, "whoami", json!({})).await;
    assert_eq!(me["owner"], "demo-approver");
    let maker = server.connect(MAKER_KEY, ClientLifecycleMode::Initialize).await;
    let tools: Vec<String> = maker.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(tools.contains(&"create_payout".to_owned()) && !tools.contains(&"approve_payout".to_owned()));
    approver.cancel().await.unwrap();
    maker.cancel().await.unwrap();
}

#[tokio::test]
async fn a_key_revoked_mid_session_is_refused_on_its_next_request() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let key = harepay.create_key(&["--owner", "http-bot"]);
    let session = server.connect(&key, ClientLifecycleMode::Initialize).await;
    let per_request = server.connect(&key, stateless()).await;
    let (_, me) = call(&session, "whoami", json!({})).await;
    assert_eq!(me["owner"], "http-bot", "{me}");
    let (_, me_again) = call(&per_request, "whoami", json!({})).await;
    assert_eq!(me_again["key_id"], me["key_id"]);

    let revoked = harepay.cli(&["keys", "revoke", me["key_id"].as_str().unwrap()]);
    assert!(revoked.status.success());
    // The transport authenticates every request before MCP sees it: the open session and the
    // stateless client are cut off at their next request.
    for client in [&session, &per_request] {
        let refused = client.call_tool(CallToolRequestParams::new("whoami")).await;
        assert!(refused.is_err(), "a revoked key was served: {refused:?}");
    }
    let response = reqwest::Client::new()
        .post(&server.url)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// The JSON-RPC message answering `id` in a POST's body, whether it came as JSON or as SSE.
async fn answer_of(response: reqwest::Response, id: u64) -> Value {
    let body = response.text().await.unwrap();
    let messages = body.lines().map(|line| line.strip_prefix("data:").unwrap_or(line).trim());
    messages
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .find(|message| message["id"] == json!(id))
        .unwrap_or_else(|| panic!("no answer to {id} in {body:?}"))
}

#[tokio::test]
async fn a_request_in_another_keys_session_acts_as_its_own_key() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let http = reqwest::Client::new();
    let post = |key: &str, session_id: Option<&str>, body: Value| {
        let mut request = http
            .post(&server.url)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string());
        if let Some(session_id) = session_id {
            request = request.header("mcp-session-id", session_id);
        }
        request.send()
    };
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    });
    let opened = post(MAKER_KEY, None, initialize).await.unwrap();
    assert_eq!(opened.status(), 200);
    let session_id = opened.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert!(post(MAKER_KEY, Some(&session_id), initialized).await.unwrap().status().is_success());

    // The maker's session, the approver's key: the principal is the one this request's key
    // authenticated to, never the session's.
    let whoami =
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}});
    let borrowed = post(APPROVER_KEY, Some(&session_id), whoami.clone()).await.unwrap();
    assert_eq!(borrowed.status(), 200);
    let answer = answer_of(borrowed, 2).await;
    assert_eq!(answer["result"]["structuredContent"]["owner"], "demo-approver", "{answer}");
    let own = answer_of(post(MAKER_KEY, Some(&session_id), whoami).await.unwrap(), 2).await;
    assert_eq!(own["result"]["structuredContent"]["owner"], "demo-maker", "{own}");
}
