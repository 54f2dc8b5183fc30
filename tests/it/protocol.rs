//! The MCP surface itself: handshake, both protocol generations, resources, raw JSON-RPC.

use std::process::{Command, Stdio};

use harepay_raw_client::RawClient;

use serde_json::{Value, json};

use crate::support::{Harepay, MAKER_KEY, binary};

#[tokio::test]
async fn the_server_introduces_itself_and_serves_llms_txt() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let info = client.service.peer_info().expect("server info");
    let server = info.server_info.as_ref().expect("server info");
    assert_eq!(server.name, "harepay");
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(instructions.contains("confirm: true") && instructions.contains("idempotency_key"), "{instructions}");

    let resources = client.service.list_all_resources().await.unwrap();
    assert_eq!(resources[0].uri, "harepay://docs/llms.txt");
    let read = client
        .service
        .read_resource(rmcp::model::ReadResourceRequestParams::new("harepay://docs/llms.txt"))
        .await
        .unwrap();
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("expected text, got {other:?}"),
    };
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/llms.txt")).unwrap();
    assert_eq!(text, checked_in, "the served llms.txt is the checked-in one");
    // Every link of llms.txt reads through the server; a tool's is its checked-in catalog entry.
    let links: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("- [")?.split_once("](")?.1.split_once(')').map(|(uri, _)| uri))
        .collect();
    assert!(links.contains(&"harepay://tools/create_payout.json"), "{links:?}");
    for uri in links {
        let read = client.service.read_resource(rmcp::model::ReadResourceRequestParams::new(uri)).await;
        let read = read.unwrap_or_else(|error| panic!("{uri}: {error}"));
        let rmcp::model::ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
            panic!("{uri}: not text")
        };
        if let Some(name) = uri.strip_prefix("harepay://tools/") {
            let path = format!("{}/tools/{name}", env!("CARGO_MANIFEST_DIR"));
            assert_eq!(*text, std::fs::read_to_string(path).unwrap(), "{uri}");
        }
    }
    let missing = rmcp::model::ReadResourceRequestParams::new("harepay://tools/transfer_everything.json");
    assert!(client.service.read_resource(missing).await.is_err(), "an unknown resource is an error");

    let tools = client.service.list_all_tools().await.unwrap();
    let all_tools = harepay::ops::registry().len();
    let key_tools =
        harepay::ops::registry().iter().filter(|entry| entry.spec.toolset == harepay::ops::Toolset::Keys).count();
    assert_eq!(
        tools.len(),
        all_tools - 2 - key_tools,
        "a maker key sees every tool but approve_payout, reject_payout and the key tools"
    );
    for tool in &tools {
        assert!(tool.output_schema.is_some(), "{} has an output schema", tool.name);
        let annotations = tool.annotations.as_ref().expect("annotations");
        assert!(annotations.read_only_hint.is_some() && annotations.destructive_hint.is_some());
    }
    let unknown = client.call_raw("transfer_everything", json!({})).await;
    assert!(unknown.is_err(), "an unknown tool is a protocol error");
    client.close().await;
}

/// `harepay stdio` spoken to with raw newline-delimited JSON-RPC, as a minimal or broken client
/// would.
fn raw_session(harepay: &Harepay) -> RawClient {
    let mut command = Command::new(binary());
    command
        .arg("stdio")
        .env("HAREPAY_DB", &harepay.db)
        .env("HAREPAY_SECRET_KEY", MAKER_KEY)
        .env("HAREPAY_TEST_AUTO_SETTLE_MS", "off")
        .env("HAREPAY_TOOLSETS", "all")
        .env("HAREPAY_LOG", "warn")
        .stderr(Stdio::null());
    RawClient::spawn(&mut command).unwrap()
}

/// The server's resident memory, from /proc (Linux).
fn resident_kib(session: &RawClient) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", session.pid())).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("VmRSS in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A ping answers: the session is alive and serving the next line.
fn assert_serving(session: &mut RawClient, id: i64) {
    let pong = session.request(&json!({"jsonrpc": "2.0", "id": id, "method": "ping"})).unwrap();
    assert_eq!(pong, json!({"jsonrpc": "2.0", "id": id, "result": {}}));
}

#[test]
fn session_protocol_and_bad_json_rpc_get_protocol_errors_and_the_server_stays_up() {
    let harepay = Harepay::new();
    let mut session = raw_session(&harepay);
    let init = session.request(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    })).unwrap();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    session.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).unwrap();

    // Bytes that are not JSON get -32700 with id null (rmcp alone would skip them); JSON of the
    // wrong shape gets -32600. Either way the server stays up.
    session.send_line("{not json at all").unwrap();
    let not_json = session.receive().unwrap();
    assert_eq!((&not_json["error"]["code"], &not_json["id"]), (&json!(-32700), &Value::Null), "{not_json}");
    let wrong_shape = session.request(&json!({"foo": "bar"})).unwrap();
    assert_eq!(wrong_shape["error"]["code"], -32600, "{wrong_shape}");

    let unknown_method =
        session.request(&json!({"jsonrpc": "2.0", "id": 2, "method": "payments/teleport", "params": {}})).unwrap();
    assert_eq!(unknown_method["error"]["code"], -32601, "{unknown_method}");

    let unknown_tool = session
        .request(&json!({
            "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "nope", "arguments": {}}
        }))
        .unwrap();
    assert_eq!(unknown_tool["error"]["code"], -32602, "{unknown_tool}");

    let bad_params = session
        .request(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"arguments": 5}}))
        .unwrap();
    assert!(bad_params["error"]["code"].is_i64(), "{bad_params}");

    let call = session
        .request(&json!({
            "jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "get_balance", "arguments": {"asset": "NGN"}}
        }))
        .unwrap();
    assert_eq!(call["result"]["structuredContent"]["available"]["amount"], 0, "{call}");
}

#[test]
fn stateless_protocol_2026_07_28_works_without_a_handshake() {
    let harepay = Harepay::new();
    let mut session = raw_session(&harepay);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let discover = session
        .request(&json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}}))
        .unwrap();
    let versions = discover["result"]["supportedVersions"].as_array().cloned().unwrap_or_default();
    assert!(versions.contains(&json!("2026-07-28")), "{discover}");
    let listed = session
        .request(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}}))
        .unwrap();
    let key_tools =
        harepay::ops::registry().iter().filter(|entry| entry.spec.toolset == harepay::ops::Toolset::Keys).count();
    let expected = harepay::ops::registry().len() - 2 - key_tools;
    assert_eq!(
        listed["result"]["tools"].as_array().map(Vec::len),
        Some(expected),
        "a maker key sees all but two and the key tools"
    );
    let call = session
        .request(&json!({
            "jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"_meta": meta, "name": "whoami", "arguments": {}}
        }))
        .unwrap();
    assert_eq!(call["result"]["structuredContent"]["merchant_id"], "mch_demo", "{call}");
}

/// A ping whose line is exactly `bytes` long (padding in `_meta`).
fn ping_of_length(id: i64, bytes: usize) -> String {
    let empty = json!({"jsonrpc": "2.0", "id": id, "method": "ping", "params": {"_meta": {"pad": ""}}}).to_string();
    let line = empty.replace("\"pad\":\"\"", &format!("\"pad\":\"{}\"", "x".repeat(bytes - empty.len())));
    assert_eq!(line.len(), bytes);
    line
}

#[test]
fn a_stdin_line_over_1_mib_is_refused_with_a_typed_error_and_the_session_goes_on() {
    let harepay = Harepay::new();
    let mut session = raw_session(&harepay);
    session.initialize("raw").unwrap();
    let limit = 1 << 20;
    let at_limit = session.request(&serde_json::from_str(&ping_of_length(1, limit)).unwrap()).unwrap();
    assert_eq!(at_limit["result"], json!({}), "a line of exactly 1 MiB is served");
    session.send_line(&ping_of_length(2, limit + 1)).unwrap();
    let refused = session.receive().unwrap();
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert_eq!(refused["error"]["message"], "request too large: limit 1 MiB");
    assert_eq!(refused["id"], Value::Null);
    assert_serving(&mut session, 3);
}

#[test]
fn a_20_mib_stdin_line_does_not_grow_the_server() {
    let harepay = Harepay::new();
    let mut session = raw_session(&harepay);
    session.initialize("raw").unwrap();
    assert_serving(&mut session, 1);
    let before_kib = resident_kib(&session);
    // No newline until the end: a reader that buffers whole lines would hold all 20 MiB.
    let chunk = vec![b'x'; 1 << 20];
    session.send_bytes(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{\"_meta\":{\"pad\":\"").unwrap();
    for _ in 0..20 {
        session.send_bytes(&chunk).unwrap();
    }
    session.send_line("\"}}}").unwrap();
    let refused = session.receive().unwrap();
    assert_eq!(refused["error"]["message"], "request too large: limit 1 MiB", "{refused}");
    let after_kib = resident_kib(&session);
    assert!(
        after_kib < before_kib + 8 * 1024,
        "resident memory grew from {before_kib} KiB to {after_kib} KiB reading one refused line"
    );
    assert_serving(&mut session, 3);
}

#[test]
fn requests_with_unrepresentable_ids_or_numbers_get_error_replies_never_silence() {
    let harepay = Harepay::new();
    let mut session = raw_session(&harepay);
    session.initialize("raw").unwrap();
    let null = Value::Null;
    for (line, code, id) in [
        (r#"{"jsonrpc":"2.0","id":1e400,"method":"ping"}"#, -32600, null.clone()),
        (r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"ping"}"#, -32600, null.clone()),
        (r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}"#, -32600, null.clone()),
        (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, -32600, null.clone()),
        (r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, -32600, null.clone()),
        (r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#, -32600, null.clone()),
        // A number out of range in the arguments: the id is still known, so the answer carries it.
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_balance","arguments":{"asset":1e400}}}"#,
            -32600,
            json!(7),
        ),
        ("{\"jsonrpc\":\"2.0\",\"id\":", -32700, null.clone()),
        ("[1, 2]", -32600, null),
    ] {
        session.send_line(line).unwrap();
        let reply = session.receive().unwrap();
        assert_eq!((&reply["error"]["code"], &reply["id"]), (&json!(code), &id), "{line} got {reply}");
        assert_eq!(reply["jsonrpc"], "2.0");
    }
    // A broken notification is not answered (JSON-RPC never answers notifications): the next
    // reply is the ping's.
    session.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":1e400}"#).unwrap();
    assert_serving(&mut session, 8);
}

#[tokio::test]
async fn unreadable_messages_over_http_get_json_rpc_errors_not_plain_text() {
    let harepay = Harepay::new();
    let server = crate::http::HttpServer::start_with(&harepay, &[]);
    let http = reqwest::Client::new();
    let null = Value::Null;
    // Bodies over 1 MiB are in limits.rs, written over a raw socket: the server answers 413 before
    // reading them, so a client still writing may see its pipe closed first.
    for (body, status, code, id) in [
        (r#"{"jsonrpc":"2.0","id":1e400,"method":"tools/list"}"#.to_owned(), 400, -32600, null.clone()),
        (r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"tools/list"}"#.to_owned(), 400, -32600, null.clone()),
        (r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}"#.to_owned(), 400, -32600, null.clone()),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"arguments":1e400}}"#.to_owned(),
            400,
            -32600,
            json!(5),
        ),
        ("{not json".to_owned(), 400, -32700, null),
    ] {
        let response = http
            .post(&server.url)
            .header("Authorization", format!("Bearer {MAKER_KEY}"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2026-07-28")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{}", &body[..body.len().min(80)]);
        let reply: Value = response.json().await.unwrap();
        assert_eq!((&reply["error"]["code"], &reply["id"]), (&json!(code), &id), "{reply}");
    }
}

#[test]
fn an_overlong_method_on_stdio_gets_a_short_error_not_an_echo() {
    let harepay = Harepay::new();
    let mut session = raw_session(&harepay);
    session.initialize("raw").unwrap();
    // Before: a 900,069-byte -32601 whose message was the whole name.
    let method = "m".repeat(900_000);
    let reply = session.request(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}})).unwrap();
    let reply_bytes = reply.to_string().len();
    assert!(reply_bytes < 200, "{reply_bytes} bytes: {}", &reply.to_string()[..reply_bytes.min(200)]);
    assert_eq!((&reply["error"]["code"], &reply["id"]), (&json!(-32601), &json!(1)), "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().starts_with("method not found: \"mmm"), "{reply}");
    // Such a notification is dropped: the next answer is the ping's.
    session.send(&json!({"jsonrpc": "2.0", "method": method})).unwrap();
    assert_serving(&mut session, 2);
    // An unknown method of an ordinary length is still rmcp's method-not-found.
    let unknown = session.request(&json!({"jsonrpc": "2.0", "id": 3, "method": "payments/teleport"})).unwrap();
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
}

#[tokio::test]
async fn an_overlong_method_over_http_gets_a_short_error_not_an_echo() {
    let harepay = Harepay::new();
    let server = crate::http::HttpServer::start(&harepay);
    let http = reqwest::Client::new();
    let post = |body: Value, session: Option<&str>| {
        let request = http
            .post(&server.url)
            .header("Authorization", format!("Bearer {MAKER_KEY}"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .body(body.to_string());
        match session {
            Some(session) => request.header("Mcp-Session-Id", session).header("MCP-Protocol-Version", "2025-06-18"),
            None => request,
        }
    };
    // In a session of the older protocol, where rmcp answered the whole name.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}
    }});
    let opened = post(initialize, None).send().await.unwrap();
    let session = opened.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert!(post(initialized, Some(&session)).send().await.unwrap().status().is_success());
    let overlong = json!({"jsonrpc": "2.0", "id": 4, "method": "m".repeat(900_000), "params": {}});
    let response = post(overlong, Some(&session)).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(text.len() < 200, "{status}, {} bytes: {}", text.len(), &text[..text.len().min(200)]);
    assert_eq!(status, 400);
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((&reply["error"]["code"], &reply["id"]), (&json!(-32601), &json!(4)), "{reply}");
}

/// The largest resident memory of process `pid` seen while `work` runs, in KiB (Linux).
fn peak_resident_kib_during(pid: u32, work: impl FnOnce()) -> u64 {
    let resident_kib = move || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB").to_owned();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = done.clone();
    let watcher = std::thread::spawn(move || {
        let mut peak = 0;
        while !watching.load(std::sync::atomic::Ordering::SeqCst) {
            peak = peak.max(resident_kib());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        peak.max(resident_kib())
    });
    work();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.join().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn a_flood_of_1_mib_messages_of_small_values_keeps_stdio_memory_small() {
    let harepay = Harepay::new();
    let mut session = raw_session(&harepay);
    session.initialize("raw").unwrap();
    assert_serving(&mut session, 1);
    let before_kib = resident_kib(&session);
    let zeros = vec!["0"; (1 << 20) / 2 - 100].join(",");
    let count = 300;
    // Written without reading the answers, as the attack did: 22 MB → ~350 MB before.
    let peak_kib = peak_resident_kib_during(session.pid(), || {
        for id in 0..count {
            let line = format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"whoami","arguments":{{"x":[{zeros}]}}}}}}"#,
                id + 10
            );
            assert!(line.len() <= 1 << 20);
            session.send_line(&line).unwrap();
        }
    });
    for _ in 0..count {
        let reply = session.receive().unwrap();
        assert_eq!(reply["error"]["code"], -32600, "{reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains("too complex"), "{reply}");
    }
    assert_serving(&mut session, 2);
    eprintln!("VmRSS: {before_kib} KiB before, at most {peak_kib} KiB during {count} messages of 1 MiB");
    assert!(peak_kib < before_kib + 64 * 1024, "{before_kib} → {peak_kib} KiB");
}

/// Some clients stop reading a stdio message at 64 KiB (Python asyncio's default reader limit):
/// every message harepay sends by default stays under it, for the key that sees the most (an
/// admin key): the tool list, and every resource it serves.
#[tokio::test]
async fn every_default_message_stays_under_64_kib() {
    const CLIENT_READ_LIMIT_BYTES: usize = 64 * 1024;
    /// The JSON-RPC envelope around a result: `{"jsonrpc":"2.0","id":…,"result":…}`.
    const ENVELOPE_BYTES: usize = 64;
    let harepay = Harepay::new();
    let admin = harepay.create_key(&["--role", "admin", "--owner", "root"]);
    let mut command = harepay.command(&admin, &[]);
    command.env_remove("HAREPAY_TOOLSETS");
    let client = harepay.connect_command(command).await;
    let tools = client.service.list_tools(None).await.unwrap();
    let default_tools = harepay::ops::registry().iter().filter(|entry| entry.spec.toolset.enabled_by_default()).count();
    assert_eq!(tools.tools.len(), default_tools, "an admin key sees every tool of the default toolsets");
    let mut sizes = vec![("tools/list".to_owned(), serde_json::to_string(&tools).unwrap().len())];
    for resource in client.service.list_all_resources().await.unwrap() {
        let read = client
            .service
            .read_resource(rmcp::model::ReadResourceRequestParams::new(resource.uri.clone()))
            .await
            .unwrap();
        sizes.push((resource.uri.clone(), serde_json::to_string(&read).unwrap().len()));
    }
    for (message, bytes) in &sizes {
        assert!(bytes + ENVELOPE_BYTES < CLIENT_READ_LIMIT_BYTES, "{message} is {bytes} bytes");
    }
    eprintln!("largest default messages: {:?}", sizes.iter().max_by_key(|(_, bytes)| *bytes));
    client.close().await;
}
