//! `--confirm=elicit`: a human confirms each write through MCP elicitation, on both protocol
//! generations, with a real rmcp client whose handler plays the human.

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, Implementation, InputResponses, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData};
use serde_json::{Value, json};

use crate::support::{Harepay, MAKER_KEY};

fn lifecycle(generation: Generation) -> ClientLifecycleMode {
    match generation {
        Generation::Session => ClientLifecycleMode::Initialize,
        Generation::Stateless => {
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
        }
    }
}

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

const ELICIT: &[&str] = &["--confirm", "elicit"];

#[derive(Clone, Copy, Debug)]
enum Generation {
    Session,
    Stateless,
}

async fn connect(
    harepay: &Harepay,
    human: Human,
    generation: Generation,
    server_args: &[&str],
) -> RunningService<RoleClient, Human> {
    let mut command = harepay.command(MAKER_KEY, server_args);
    command.env("HAREPAY_LOG", "error");
    let transport = TokioChildProcess::new(command).unwrap();
    let client = human.serve_with_lifecycle(transport, lifecycle(generation)).await.unwrap();
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
    let client = connect(&harepay, accepting.clone(), generation, ELICIT).await;
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
        let client = connect(&harepay, declining.clone(), generation, ELICIT).await;
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
    let client = connect(&harepay, unsupported.clone(), generation, ELICIT).await;
    let (is_error, result) = call(&client, "create_payment_intent", payment("order-5")).await;
    assert!(is_error);
    assert_eq!(result["error"]["type"], "confirmation_unavailable");
    assert!(result["error"]["message"].as_str().unwrap().contains("--confirm=argument"), "{result}");
    assert!(unsupported.shown.lock().unwrap().is_empty());
    assert_eq!(payment_count(&client).await, 1);
    client.cancel().await.unwrap();

    // The default mode trusts confirm: true and asks nobody.
    let default_mode = human(true, ElicitationAction::Decline);
    let client = connect(&harepay, default_mode.clone(), generation, &["--confirm", "argument"]).await;
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

// A client on 2026-07-28 carries the human's answer itself, so a hostile one can write it. These
// drive the rounds by hand (`call_tool_once`), as such a client would.

fn accepted() -> InputResponses {
    InputResponses::from([(
        "harepay_confirm_write".to_owned(),
        json!({"action": "accept", "content": {"confirm": true}}),
    )])
}

fn tool_call(
    tool: &str,
    arguments: &Value,
    state: Option<&str>,
    answers: Option<InputResponses>,
) -> CallToolRequestParams {
    let mut params =
        CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.as_object().cloned().unwrap());
    params.request_state = state.map(str::to_owned);
    params.input_responses = answers;
    params
}

/// Calls without an answer: the sealed `requestState` of the question the server asks.
async fn question(client: &RunningService<RoleClient, Human>, tool: &str, arguments: &Value) -> String {
    match client.call_tool_once(tool_call(tool, arguments, None, None)).await.unwrap() {
        CallToolResponse::InputRequired(asked) => asked.request_state.expect("a question carries a requestState"),
        other => panic!("{tool}: expected a question, got {other:?}"),
    }
}

/// Calls with `state` and the human's accept: (is_error, structured content).
async fn answer_with(
    client: &RunningService<RoleClient, Human>,
    tool: &str,
    arguments: &Value,
    state: Option<&str>,
    answers: Option<InputResponses>,
) -> (bool, Value) {
    match client.call_tool_once(tool_call(tool, arguments, state, answers)).await.unwrap() {
        CallToolResponse::Complete(result) => {
            (result.is_error == Some(true), result.structured_content.unwrap_or_default())
        }
        other => panic!("{tool}: expected a result, got {other:?}"),
    }
}

/// Expects `confirmation_invalid` whose message says `why`.
async fn check_refused(
    client: &RunningService<RoleClient, Human>,
    tool: &str,
    arguments: &Value,
    state: Option<&str>,
    why: &str,
) {
    let (is_error, result) = answer_with(client, tool, arguments, state, Some(accepted())).await;
    assert!(is_error, "{tool} with {state:?}: {result}");
    assert_eq!(result["error"]["type"], "confirmation_invalid", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(message.contains(why) && message.contains("nothing was done"), "{message}");
}

/// The state harepay used to send: a hash of the request that any client can compute.
fn unsealed_state(tool: &str, arguments: &Value) -> String {
    use sha2::Digest;
    let canonical = harepay::ops::args::canonical_json(arguments);
    format!("harepay-confirm:{}", hex::encode(sha2::Sha256::digest(format!("{tool}\n{canonical}").as_bytes())))
}

#[tokio::test]
async fn forged_replayed_and_misbound_confirmations_are_refused_and_audited() {
    let harepay = Harepay::new();
    let client = connect(&harepay, human(true, ElicitationAction::Decline), Generation::Stateless, ELICIT).await;
    let tool = "create_payment_intent";
    let arguments = payment("order-1");
    let not_issued = "was not issued by this server for this key, tool and arguments";

    // The first call already carries an answer: forged states, and none at all.
    check_refused(&client, tool, &arguments, Some(&unsealed_state(tool, &arguments)), not_issued).await;
    check_refused(&client, tool, &arguments, Some("rs1.AAAAAAAAAAA.AAAA"), not_issued).await;
    check_refused(&client, tool, &arguments, None, "without the requestState").await;
    assert_eq!(payment_count(&client).await, 0);

    // A real question, then its state tampered with, or presented with another call.
    let state = question(&client, tool, &arguments).await;
    let mut tampered = state.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    check_refused(&client, tool, &arguments, Some(&String::from_utf8(tampered).unwrap()), not_issued).await;
    let mut other_amount = arguments.clone();
    other_amount["amount"]["amount"] = json!(900_000_000);
    check_refused(&client, tool, &other_amount, Some(&state), not_issued).await;
    check_refused(&client, tool, &payment("order-2"), Some(&state), not_issued).await;
    check_refused(&client, "create_payout", &arguments, Some(&state), not_issued).await;
    assert_eq!(payment_count(&client).await, 0);

    // The honest answer works once; a replay of it does not.
    let (is_error, executed) = answer_with(&client, tool, &arguments, Some(&state), Some(accepted())).await;
    assert!(!is_error, "{executed}");
    assert_eq!(executed["outcome"], "executed");
    check_refused(&client, tool, &arguments, Some(&state), "already used").await;
    let mut new_key = arguments.clone();
    new_key["idempotency_key"] = json!("order-1-again");
    check_refused(&client, tool, &new_key, Some(&state), not_issued).await;
    // A state without the human's answer is not an answer either (and it is spent).
    let state = question(&client, tool, &payment("order-3")).await;
    let (is_error, result) =
        answer_with(&client, tool, &payment("order-3"), Some(&state), Some(InputResponses::new())).await;
    assert!(is_error && result["error"]["type"] == "confirmation_invalid", "{result}");
    check_refused(&client, tool, &payment("order-3"), Some(&state), "already used").await;
    assert_eq!(payment_count(&client).await, 1);

    // Every refusal is in the audit log, typed.
    let (_, audit) = call(&client, "list_audit_log", json!({"limit": 100})).await;
    let refused: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["error_type"] == "confirmation_invalid")
        .collect();
    assert_eq!(refused.len(), 11, "{audit}");
    assert!(refused.iter().all(|entry| entry["outcome"] == "refused"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_expired_confirmation_is_refused() {
    let harepay = Harepay::new();
    let args = ["--confirm", "elicit", "--confirmation-expiry-ms", "1"];
    let client = connect(&harepay, human(true, ElicitationAction::Accept), Generation::Stateless, &args).await;
    let arguments = payment("order-1");
    let state = question(&client, "create_payment_intent", &arguments).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    check_refused(&client, "create_payment_intent", &arguments, Some(&state), "has expired").await;
    assert_eq!(payment_count(&client).await, 0);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_confirmation_is_bound_to_the_key_that_was_asked() {
    let harepay = Harepay::new();
    let server = crate::http::HttpServer::start_with(&harepay, ELICIT);
    let other_maker_key = harepay.create_key(&["--role", "maker", "--owner", "bola"]);
    let connect_http = |key: String| {
        let config =
            rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(server.url.clone())
                .auth_header(key);
        let transport = rmcp::transport::StreamableHttpClientTransport::from_config(config);
        human(true, ElicitationAction::Accept).serve_with_lifecycle(transport, lifecycle(Generation::Stateless))
    };
    let asked = connect_http(MAKER_KEY.to_owned()).await.unwrap();
    let other = connect_http(other_maker_key).await.unwrap();
    let arguments = payment("order-1");
    let state = question(&asked, "create_payment_intent", &arguments).await;
    check_refused(&other, "create_payment_intent", &arguments, Some(&state), "was not issued by this server").await;
    let (is_error, executed) =
        answer_with(&asked, "create_payment_intent", &arguments, Some(&state), Some(accepted())).await;
    assert!(!is_error, "the key that was asked can still use its answer: {executed}");
    assert_eq!(payment_count(&asked).await, 1);
    asked.cancel().await.unwrap();
    other.cancel().await.unwrap();
}
