//! `harepay http` as a team runs it: public documentation and health probes, request ids from
//! the HTTP request to the log line and the audit record, and a gentle stop on SIGTERM that
//! loses nothing acknowledged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::service::ClientServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::http::{HttpServer, call, stateless};
use crate::support::{Harepay, MAKER_KEY};

fn base_url(server: &HttpServer) -> String {
    server.url.trim_end_matches("/mcp").to_owned()
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test]
async fn llms_txt_and_the_probes_need_no_key_and_every_answer_has_a_request_id() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let base = base_url(&server);
    let http = reqwest::Client::new();

    let llms = http.get(format!("{base}/llms.txt")).send().await.unwrap();
    assert_eq!(llms.status(), 200);
    assert_eq!(llms.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(llms.headers()["x-content-type-options"], "nosniff");
    assert!(is_uuid(llms.headers()["x-request-id"].to_str().unwrap()));
    assert_eq!(llms.text().await.unwrap(), harepay::mcp::catalog::llms_txt(), "the generated llms.txt, as served");

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap(), json!({"status": "ready"}));

    // A load balancer probes with a Host of its own; the probes answer it (MCP does not).
    let probe = http.get(format!("{base}/healthz")).header("host", "10.0.0.7:8787").send().await.unwrap();
    assert_eq!(probe.status(), 200);
    let mcp = http.post(&server.url).header("host", "10.0.0.7:8787").body("{}").send().await.unwrap();
    assert_eq!(mcp.status(), 403);

    // A key is still needed for MCP, and other paths stay 404.
    assert_eq!(http.post(&server.url).body("{}").send().await.unwrap().status(), 401);
    assert_eq!(http.get(format!("{base}/llms.txt/../tools")).send().await.unwrap().status(), 404);
    assert_eq!(http.post(format!("{base}/healthz")).send().await.unwrap().status(), 405);

    // A caller's request id is kept when short and plain; anything else is replaced by harepay's.
    let echoed = http.get(format!("{base}/healthz")).header("x-request-id", "lb-42:check.1").send().await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "lb-42:check.1");
    for hostile in ["x".repeat(65), "two words".to_owned(), "a\"b".to_owned(), "<script>".to_owned()] {
        let replaced = http.get(format!("{base}/healthz")).header("x-request-id", &hostile).send().await.unwrap();
        let id = replaced.headers()["x-request-id"].to_str().unwrap();
        assert!(is_uuid(id), "{hostile:?} became {id:?}");
    }
    let doubled = http
        .get(format!("{base}/healthz"))
        .header("x-request-id", "first")
        .header("x-request-id", "second")
        .send()
        .await
        .unwrap();
    assert_eq!(doubled.headers().get_all("x-request-id").iter().count(), 1);
    assert!(is_uuid(doubled.headers()["x-request-id"].to_str().unwrap()));
}

#[tokio::test]
async fn an_audit_record_and_the_log_name_the_http_request_they_came_from() {
    let harepay = Harepay::new();
    let server = HttpServer::start_with(&harepay, &[]);
    let headers = HashMap::from([(
        axum::http::HeaderName::from_static("x-request-id"),
        axum::http::HeaderValue::from_static("agent-run-7.step-3"),
    )]);
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone())
        .auth_header(MAKER_KEY.to_owned())
        .custom_headers(headers);
    let client =
        ().serve_with_lifecycle(StreamableHttpClientTransport::from_config(config), stateless()).await.unwrap();
    let arguments = json!({
        "amount": {"amount": 250_000, "currency": "NGN"}, "method": "bank_transfer", "rail": "rubies",
        "confirm": true, "idempotency_key": "req-id-1",
    });
    let (is_error, payment) = call(&client, "create_payment_intent", arguments).await;
    assert!(!is_error, "{payment}");
    let (_, audit) = call(&client, "list_audit_log", json!({"limit": 1})).await;
    assert_eq!(audit["data"][0]["tool"], "create_payment_intent", "{audit}");
    assert_eq!(audit["data"][0]["request_id"], "agent-run-7.step-3", "{audit}");
    client.cancel().await.unwrap();

    // Without a request id of its own, the caller's record carries harepay's, the one its answer had.
    let plain = server.connect(MAKER_KEY, stateless()).await;
    let preview = json!({"amount": {"amount": 100, "currency": "NGN"}, "method": "bank_transfer", "rail": "rubies"});
    call(&plain, "create_payment_intent", preview).await;
    let (_, audit) = call(&plain, "list_audit_log", json!({"limit": 1})).await;
    assert_eq!(audit["data"][0]["outcome"], "previewed", "{audit}");
    assert!(is_uuid(audit["data"][0]["request_id"].as_str().unwrap()), "{audit}");
    plain.cancel().await.unwrap();

    // On stdio there is no HTTP request: the field is there, and null.
    let stdio = harepay.connect(MAKER_KEY).await;
    stdio
        .call(
            "create_payment_intent",
            json!({"amount": {"amount": 100, "currency": "NGN"}, "method": "bank_transfer", "rail": "rubies"}),
        )
        .await;
    let audit = stdio.call("list_audit_log", json!({"limit": 1})).await;
    assert_eq!(audit["data"][0]["request_id"], Value::Null, "{audit}");
    stdio.close().await;
}

#[tokio::test]
async fn readiness_says_no_while_the_database_is_locked_and_a_flood_of_probes_costs_one_check_a_second() {
    let harepay = Harepay::new();
    let server = HttpServer::start_with(&harepay, &["--rate-limit-per-ip", "off"]);
    let base = base_url(&server);
    let http = reqwest::Client::new();
    let groups_committed = || async {
        let client = server.connect(MAKER_KEY, stateless()).await;
        let (_, status) = call(&client, "system_status", json!({})).await;
        client.cancel().await.unwrap();
        status["writer"]["groups_committed"].as_u64().unwrap()
    };

    let before = groups_committed().await;
    let probes = (0..400).map(|_| {
        let (http, url) = (http.clone(), format!("{base}/readyz"));
        tokio::spawn(async move { http.get(url).send().await.unwrap().status().as_u16() })
    });
    let started = std::time::Instant::now();
    let statuses = futures::future::join_all(probes).await;
    let seconds = started.elapsed().as_secs() + 1;
    assert!(statuses.iter().all(|status| *status.as_ref().unwrap() == 200), "{statuses:?}");
    let checks = groups_committed().await - before;
    assert!(checks <= seconds + 1, "{checks} writer transactions for 400 probes in about {seconds} s");

    // The database stops taking this process's writes, and readiness says so within its timeout
    // instead of hanging the prober. On SQLite another process holds the write lock (the writer
    // cannot begin); PostgreSQL has no such lock, so there the database stops accepting
    // connections and drops the server's.
    let refusal = WritesRefused::start(&harepay.db);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let started = std::time::Instant::now();
    let not_ready = http.get(format!("{base}/readyz")).header("x-request-id", "probe-locked").send().await.unwrap();
    assert_eq!(not_ready.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(4), "answered in {:?}", started.elapsed());
    let body: Value = not_ready.json().await.unwrap();
    assert_eq!(body["status"], "not_ready", "{body}");
    let reason = if crate::backend::on_postgres() { "does not take writes" } else { "did not answer" };
    assert!(body["reason"].as_str().unwrap().contains(reason), "{body}");
    // The log line says why, in the request's span.
    // (The log comes from another process; waiting here blocks nothing it needs.)
    let line = server.wait_for_log_line("not ready");
    assert!(line.contains("request_id=probe-locked"), "{line}");
    refusal.end();

    // Healthy again once the database takes writes again (and the shared answer is stale).
    let mut ready = false;
    for _ in 0..100 {
        if http.get(format!("{base}/readyz")).send().await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ready again after the lock");
}

/// Another party stops the database from taking harepay's writes, until `end`.
enum WritesRefused {
    /// A connection holding SQLite's write lock (`BEGIN EXCLUSIVE`).
    SqliteLock(rusqlite::Connection),
    /// The database's name: it accepts no connection, and the server's were ended.
    PostgresClosed(String),
}

impl WritesRefused {
    fn start(db: &std::path::Path) -> WritesRefused {
        if !crate::backend::on_postgres() {
            let connection = rusqlite::Connection::open(db).unwrap();
            connection.execute_batch("BEGIN EXCLUSIVE").unwrap();
            return WritesRefused::SqliteLock(connection);
        }
        let url = url::Url::parse(db.to_str().unwrap()).unwrap();
        let name = url.path().trim_start_matches('/').to_owned();
        cluster_admin(&format!(
            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ));
        WritesRefused::PostgresClosed(name)
    }

    fn end(self) {
        match self {
            WritesRefused::SqliteLock(connection) => connection.execute_batch("COMMIT").unwrap(),
            WritesRefused::PostgresClosed(name) => {
                cluster_admin(&format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true"))
            }
        }
    }
}

/// Runs `sql` on the test cluster's `postgres` database.
fn cluster_admin(sql: &str) {
    let url = crate::backend::postgres_url().unwrap();
    crate::backend::blocking(|| {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.batch_execute(sql).unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_calls_and_loses_nothing_acknowledged() {
    let harepay = Harepay::new();
    let mut server = HttpServer::start_with(&harepay, &["--rate-limit-per-ip", "off", "--rate-limit-per-key", "off"]);
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut submitters = Vec::new();
    for submitter in 0..8 {
        let client = server.connect(MAKER_KEY, stateless()).await;
        let acknowledged = acknowledged.clone();
        submitters.push(tokio::spawn(async move {
            for index in 0.. {
                let arguments = json!({
                    "amount": {"amount": 10_000 + index, "currency": "NGN"}, "method": "bank_transfer",
                    "rail": "rubies", "confirm": true, "idempotency_key": format!("sigterm-{submitter}-{index}"),
                });
                let arguments = arguments.as_object().cloned().unwrap();
                let request =
                    rmcp::model::CallToolRequestParams::new("create_payment_intent").with_arguments(arguments);
                // Once the server stops, calls fail: the submitter stops too.
                let Ok(result) = client.call_tool(request).await else { break };
                if result.is_error == Some(true) {
                    break;
                }
                let id = result.structured_content.unwrap()["object"]["id"].as_str().unwrap().to_owned();
                acknowledged.lock().unwrap().push(id);
            }
        }));
    }
    // Let the load build, then stop the server as a service manager would.
    while acknowledged.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = tokio::task::block_in_place(|| server.terminate(Duration::from_secs(20)));
    assert!(status.success(), "harepay http exited with {status} on SIGTERM");
    for submitter in submitters {
        tokio::time::timeout(Duration::from_secs(30), submitter).await.unwrap().unwrap();
    }
    server.wait_for_log_line("stopped cleanly");
    // A clean close leaves no write-ahead log behind to replay (SQLite's own file: PostgreSQL's
    // server keeps its log, and every commit is already durable there).
    if !crate::backend::on_postgres() {
        let wal = std::path::PathBuf::from(format!("{}-wal", harepay.db.display()));
        let wal_bytes = std::fs::metadata(&wal).map(|metadata| metadata.len()).unwrap_or(0);
        assert_eq!(wal_bytes, 0, "{} is {wal_bytes} bytes", wal.display());
    }

    // Every payment a caller was told about is there, and the ledger balances.
    let acknowledged = acknowledged.lock().unwrap().clone();
    let client = harepay.connect(MAKER_KEY).await;
    for id in &acknowledged {
        let payment = client.call("get_payment", json!({"id": id})).await;
        assert_eq!(payment["payment_intent"]["id"].as_str(), Some(id.as_str()), "{payment}");
    }
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    client.close().await;
    let verify = harepay.cli(&["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
}

#[tokio::test]
async fn sigterm_stops_a_stdio_server_cleanly_too() {
    let harepay = Harepay::new();
    let mut command: std::process::Command = harepay.command(MAKER_KEY, &[]).into_std();
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    // Wait until it serves: an initialize answered on stdout.
    let mut stdin = child.stdin.take().unwrap();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
    use std::io::{BufRead, Write};
    writeln!(stdin, "{initialize}").unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"id\":1"), "{line}");
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid this test spawned and still holds.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    drop(stdin);
    assert!(output.status.success(), "{}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("stopped cleanly"), "{stderr}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.is_empty(), "stdout carries only protocol messages: {rest:?}");
}
