//! `--confirm=elicit`: a human confirms each write through MCP elicitation, on both protocol
//! generations, with a real rmcp client whose handler plays the human.

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
    Implementation, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData};
use serde_json::{Value, json};

use crate::support::{Harepay, MAKER_KEY};

/// Plays the human: answers every confirmation the same way and remembers what it was shown.
#[derive(Clone)]
struct Human {
    advertises_elicitation: bool,
    answer: ElicitationAction,
    shown: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Human {
    fn get_info(&self) -> ClientConfig {
        let capabilities = if self.advertises_elicitation {
            ClientCapabilities::builder().enable_elicitation().build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(capabilities, Implementation::new("human-in-the-loop", "1.0"))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.shown.lock().unwrap().push(message.clone());
        }
        Ok(match self.answer {
            ElicitationAction::Accept => {
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({"confirm": true}))
            }
            ref other => ElicitResult::new(other.clone()),
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Generation {
    Session,
    Stateless,
}

async fn connect(
    harepay: &Harepay,
    human: Human,
    generation: Generation,
    confirm: &str,
) -> RunningService<RoleClient, Human> {
    let mut command = harepay.command(MAKER_KEY, &["--confirm", confirm]);
    command.env("HAREPAY_LOG", "error");
    let transport = TokioChildProcess::new(command).unwrap();
    let lifecycle = match generation {
        Generation::Session => ClientLifecycleMode::Initialize,
        Generation::Stateless => {
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
        }
    };
    let client = human.serve_with_lifecycle(transport, lifecycle).await.unwrap();
    let negotiated = client.peer_info().map(|info| info.protocol_version.clone());
    match generation {
        Generation::Stateless => assert_eq!(negotiated, Some(ProtocolVersion::V_2026_07_28)),
        Generation::Session => assert_ne!(negotiated, Some(ProtocolVersion::V_2026_07_28)),
    }
    client
}

async fn call(client: &RunningService<RoleClient, Human>, tool: &str, arguments: Value) -> (bool, Value) {
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.as_object().cloned().unwrap()))
        .await
        .unwrap();
    (result.is_error == Some(true), result.structured_content.unwrap_or_default())
}

fn payment(key: &str) -> Value {
    json!({
        "amount": {"amount": 1_000_000, "currency": "NGN"},
        "method": "bank_transfer",
        "rail": "rubies",
        "confirm": true,
        "idempotency_key": key,
    })
}

fn human(advertises_elicitation: bool, answer: ElicitationAction) -> Human {
    Human { advertises_elicitation, answer, shown: Arc::default() }
}

async fn payment_count(client: &RunningService<RoleClient, Human>) -> usize {
    let (_, list) = call(client, "list_payments", json!({})).await;
    list["data"].as_array().unwrap().len()
}

async fn check_generation(generation: Generation) {
    let harepay = Harepay::new();

    // Accept: the human saw what would happen, and the write ran once.
    let accepting = human(true, ElicitationAction::Accept);
    let client = connect(&harepay, accepting.clone(), generation, "elicit").await;
    let (is_error, result) = call(&client, "create_payment_intent", payment("order-1")).await;
    assert!(!is_error, "{generation:?}: {result}");
    assert_eq!(result["outcome"], "executed");
    let shown = accepting.shown.lock().unwrap().clone();
    assert_eq!(shown.len(), 1, "{generation:?}: asked once");
    assert!(shown[0].contains("create_payment_intent") && shown[0].contains("₦10,000.00"), "{}", shown[0]);
    // A preview needs no human.
    let mut preview = payment("order-2");
    preview["confirm"] = json!(false);
    let (_, previewed) = call(&client, "create_payment_intent", preview).await;
    assert_eq!(previewed["outcome"], "preview");
    assert_eq!(accepting.shown.lock().unwrap().len(), 1);
    // Bad input is refused before anyone is asked.
    let mut bad = payment("order-3");
    bad["amount"]["amount"] = json!(10.5);
    let (is_error, refused) = call(&client, "create_payment_intent", bad).await;
    assert!(is_error);
    assert_eq!(refused["error"]["type"], "invalid_request");
    assert_eq!(accepting.shown.lock().unwrap().len(), 1);
    assert_eq!(payment_count(&client).await, 1);
    client.cancel().await.unwrap();

    // Decline: nothing happens, and the agent is told why.
    for answer in [ElicitationAction::Decline, ElicitationAction::Cancel] {
        let declining = human(true, answer);
        let client = connect(&harepay, declining.clone(), generation, "elicit").await;
        let (is_error, result) = call(&client, "create_payment_intent", payment("order-4")).await;
        assert!(is_error, "{generation:?}: {result}");
        assert_eq!(result["error"]["type"], "confirmation_declined");
        assert_eq!(declining.shown.lock().unwrap().len(), 1);
        assert_eq!(payment_count(&client).await, 1);
        let (_, audit) = call(&client, "list_audit_log", json!({"limit": 1})).await;
        assert_eq!(audit["data"][0]["error_type"], "confirmation_declined");
        client.cancel().await.unwrap();
    }

    // A client without elicitation: a clear error for the operator, and the human handler is
    // never consulted even though it would accept.
    let unsupported = human(false, ElicitationAction::Accept);
    let client = connect(&harepay, unsupported.clone(), generation, "elicit").await;
    let (is_error, result) = call(&client, "create_payment_intent", payment("order-5")).await;
    assert!(is_error);
    assert_eq!(result["error"]["type"], "confirmation_unavailable");
    assert!(result["error"]["message"].as_str().unwrap().contains("--confirm=argument"), "{result}");
    assert!(unsupported.shown.lock().unwrap().is_empty());
    assert_eq!(payment_count(&client).await, 1);
    client.cancel().await.unwrap();

    // The default mode trusts confirm: true and asks nobody.
    let default_mode = human(true, ElicitationAction::Decline);
    let client = connect(&harepay, default_mode.clone(), generation, "argument").await;
    let (is_error, result) = call(&client, "create_payment_intent", payment("order-6")).await;
    assert!(!is_error, "{result}");
    assert!(default_mode.shown.lock().unwrap().is_empty());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn elicitation_on_the_session_protocol() {
    check_generation(Generation::Session).await;
}

#[tokio::test]
async fn elicitation_on_protocol_2026_07_28() {
    check_generation(Generation::Stateless).await;
}
