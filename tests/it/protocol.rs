//! The MCP surface itself: handshake, both protocol generations, resources, raw JSON-RPC.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

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

    let tools = client.service.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 17, "a maker key sees every tool but approve_payout and reject_payout");
    for tool in &tools {
        assert!(tool.output_schema.is_some(), "{} has an output schema", tool.name);
        let annotations = tool.annotations.as_ref().expect("annotations");
        assert!(annotations.read_only_hint.is_some() && annotations.destructive_hint.is_some());
    }
    let unknown = client.call_raw("transfer_everything", json!({})).await;
    assert!(unknown.is_err(), "an unknown tool is a protocol error");
    client.close().await;
}

/// Speaks raw newline-delimited JSON-RPC, as a minimal or broken client would.
struct RawSession {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl RawSession {
    fn start(harepay: &Harepay) -> RawSession {
        let mut child = Command::new(binary())
            .arg("stdio")
            .env("HAREPAY_DB", &harepay.db)
            .env("HAREPAY_SECRET_KEY", MAKER_KEY)
            .env("HAREPAY_TEST_AUTO_SETTLE_MS", "off")
            .env("HAREPAY_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        RawSession { child, stdin, stdout }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout carries only JSON-RPC: {line:?} ({e})"))
    }

    fn request(&mut self, message: Value) -> Value {
        self.send(&message.to_string());
        self.receive()
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn session_protocol_and_bad_json_rpc_get_protocol_errors_and_the_server_stays_up() {
    let harepay = Harepay::new();
    let mut session = RawSession::start(&harepay);
    let init = session.request(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    }));
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    session.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());

    // Bytes that are not JSON have no id to answer to: like the other official MCP SDKs, rmcp
    // skips them (answering could start an error storm with a peer that echoes). JSON of the
    // wrong shape is a protocol error and gets -32600. Either way the server stays up.
    session.send("{not json at all");
    let wrong_shape = session.request(json!({"foo": "bar"}));
    assert_eq!(wrong_shape["error"]["code"], -32600, "{wrong_shape}");

    let unknown_method =
        session.request(json!({"jsonrpc": "2.0", "id": 2, "method": "payments/teleport", "params": {}}));
    assert_eq!(unknown_method["error"]["code"], -32601, "{unknown_method}");

    let unknown_tool = session.request(json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "nope", "arguments": {}}
    }));
    assert_eq!(unknown_tool["error"]["code"], -32602, "{unknown_tool}");

    let bad_params =
        session.request(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"arguments": 5}}));
    assert!(bad_params["error"]["code"].is_i64(), "{bad_params}");

    let call = session.request(json!({
        "jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "get_balance", "arguments": {"asset": "NGN"}}
    }));
    assert_eq!(call["result"]["structuredContent"]["available"]["amount"], 0, "{call}");
}

#[test]
fn stateless_protocol_2026_07_28_works_without_a_handshake() {
    let harepay = Harepay::new();
    let mut session = RawSession::start(&harepay);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let discover =
        session.request(json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}}));
    let versions = discover["result"]["supportedVersions"].as_array().cloned().unwrap_or_default();
    assert!(versions.contains(&json!("2026-07-28")), "{discover}");
    let listed = session.request(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}}));
    assert_eq!(listed["result"]["tools"].as_array().map(Vec::len), Some(17), "{listed}");
    let call = session.request(json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"_meta": meta, "name": "whoami", "arguments": {}}
    }));
    assert_eq!(call["result"]["structuredContent"]["merchant_id"], "mch_demo", "{call}");
}
