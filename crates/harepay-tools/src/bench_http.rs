//! (g) `get_balance` round trips over streamable HTTP against the real binary (`harepay http` on
//! loopback, protocol 2026-07-28: each call a stateless POST with its bearer key), from one client
//! in sequence and from many at once, as ratios to the stdio round trips of (d) in the same run.
//! The server runs with the rate limits off: the measurement is its cost per request.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as ProcessCommand, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harepay::app::keys::DEMO_MAKER_KEY;
use serde_json::{Value, json};

use crate::measure::{Latencies, Measured};

/// `harepay http` on a free loopback port, stopped when dropped.
struct HttpServer {
    child: Child,
    url: String,
}

impl HttpServer {
    fn start(executable: &Path, database: &Path) -> anyhow::Result<HttpServer> {
        let mut child = ProcessCommand::new(executable)
            .args(["http", "--listen", "127.0.0.1:0", "--demo"])
            .args(["--rate-limit-per-key", "off", "--rate-limit-per-ip", "off"])
            .env("HAREPAY_DB", database)
            .env("HAREPAY_TEST_AUTO_SETTLE_MS", "off")
            .env("HAREPAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {} http", executable.display()))?;
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let url = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line)? == 0 {
                bail!("harepay http exited before listening");
            }
            if let Some(rest) = line.split("streamable HTTP at ").nth(1) {
                break rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
        };
        // Keep draining stderr so that the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Ok(HttpServer { child, url })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `get_balance` call as a stateless 2026-07-28 request; fails unless it returns a balance.
async fn call_get_balance(http: &reqwest::Client, url: &str, id: u64) -> anyhow::Result<()> {
    let body = json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": "get_balance", "arguments": {"asset": "NGN"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "harepay-bench", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }
    });
    let response = http
        .post(url)
        .header("authorization", format!("Bearer {DEMO_MAKER_KEY}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "get_balance")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    // The answer comes as JSON or as one SSE event.
    let answer = text
        .lines()
        .map(|line| line.strip_prefix("data:").unwrap_or(line).trim())
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|message| message["id"] == json!(id));
    match answer {
        Some(answer) if answer["result"]["structuredContent"]["available"]["amount"].is_i64() => Ok(()),
        _ => bail!("get_balance over HTTP did not return a balance ({status}): {text}"),
    }
}

/// `round_trips` calls from each of `clients` concurrent clients (one connection pool each).
async fn measure(url: &str, clients: usize, round_trips_per_client: usize) -> anyhow::Result<Measured> {
    let mut tasks = Vec::with_capacity(clients);
    let started = Instant::now();
    for client in 0..clients {
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            // A call that takes this long fails the run rather than hanging it.
            let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
            let mut latencies = Vec::with_capacity(round_trips_per_client);
            for index in 0..round_trips_per_client {
                let sent = Instant::now();
                call_get_balance(&http, &url, (client * round_trips_per_client + index) as u64 + 1).await?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(clients * round_trips_per_client);
    for task in tasks {
        latencies.extend(task.await.context("an HTTP client task failed")??);
    }
    let elapsed = started.elapsed();
    Ok(Measured {
        count: latencies.len(),
        elapsed,
        latencies: Some(Latencies::of(latencies)),
        writer_cpu_per_command: None,
    })
}

pub async fn run(
    work_dir: &Path,
    executable: &Path,
    round_trips: usize,
    concurrent_clients: usize,
    stdio_round_trips_per_second: f64,
) -> anyhow::Result<()> {
    let database = work_dir.join("bench-http.db");
    let _ = std::fs::remove_file(&database);
    let server = HttpServer::start(executable, &database)?;
    // Warm up: connections, the read connection pool, the tool registry.
    measure(&server.url, concurrent_clients, 5).await?;
    let sequential = measure(&server.url, 1, round_trips).await?;
    let per_client = round_trips.div_ceil(concurrent_clients).max(1) * 2;
    let concurrent = measure(&server.url, concurrent_clients, per_client).await?;
    drop(server);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    println!(
        "(g) get_balance round trips over streamable HTTP ({} http, stateless 2026-07-28 POSTs)",
        executable.display()
    );
    println!(
        "    1 client        {:>7} calls in {:>7.2} s   {:>9.0} round trips/s   {}",
        sequential.count,
        sequential.elapsed.as_secs_f64(),
        sequential.per_second(),
        sequential.latency_text()
    );
    println!(
        "    {concurrent_clients} clients      {:>7} calls in {:>7.2} s   {:>9.0} round trips/s   {}",
        concurrent.count,
        concurrent.elapsed.as_secs_f64(),
        concurrent.per_second(),
        concurrent.latency_text()
    );
    println!(
        "    HTTP, 1 client ÷ stdio (d)                 = {:>6.2}",
        sequential.per_second() / stdio_round_trips_per_second.max(f64::MIN_POSITIVE)
    );
    println!(
        "    HTTP, {concurrent_clients} clients ÷ 1 client                 = {:>6.2}",
        concurrent.per_second() / sequential.per_second().max(f64::MIN_POSITIVE)
    );
    println!();
    Ok(())
}
