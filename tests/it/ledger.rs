//! The ledger at the edge of i64, through the real binary: a run of maximal test payments ends in
//! a typed `balance_overflow` refusal that changes nothing, and a database carrying a value that
//! is not an integer is reported by `verify` and `system_status` as a problem, not an error.

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::support::{Client, Harepay, MAKER_KEY};

/// The largest amount a tool accepts: 2^53 − 1 minor units.
const MAXIMAL_AMOUNT_MINOR: i64 = harepay::limits::AMOUNT_MAX_MINOR;

/// Calls in flight at once: enough for the writer to commit them in groups.
const CALLS_IN_FLIGHT: usize = 128;

/// Calls `tool` once per argument set, `CALLS_IN_FLIGHT` at a time; results in argument order.
async fn call_pipelined(client: &Client, tool: &str, argument_sets: Vec<Value>) -> Vec<Value> {
    let mut results = Vec::with_capacity(argument_sets.len());
    for chunk in argument_sets.chunks(CALLS_IN_FLIGHT) {
        let mut calls = tokio::task::JoinSet::new();
        for (index, arguments) in chunk.iter().enumerate() {
            let peer = client.service.peer().clone();
            let request = CallToolRequestParams::new(tool.to_owned())
                .with_arguments(arguments.as_object().cloned().expect("arguments are an object"));
            calls.spawn(async move { (index, peer.call_tool(request).await) });
        }
        let mut chunk_results = vec![Value::Null; chunk.len()];
        while let Some(joined) = calls.join_next().await {
            let (index, result) = joined.expect("call task");
            let result = result.unwrap_or_else(|error| panic!("{tool}: {error}"));
            let structured = result.structured_content.expect("every result has structuredContent");
            assert_ne!(result.is_error, Some(true), "{tool} failed: {structured}");
            chunk_results[index] = structured;
        }
        results.extend(chunk_results);
    }
    results
}

/// Creates `count` confirmed NGN bank-transfer payments of `amount_minor`; returns their ids.
async fn create_payments(client: &Client, count: usize, amount_minor: i64) -> Vec<String> {
    let argument_sets = (0..count)
        .map(|index| {
            json!({
                "amount": {"amount": amount_minor, "currency": "NGN"},
                "method": "bank_transfer",
                "rail": "rubies",
                "confirm": true,
                "idempotency_key": format!("maximal-{index}"),
            })
        })
        .collect();
    let created = call_pipelined(client, "create_payment_intent", argument_sets).await;
    created.iter().map(|result| result["object"]["id"].as_str().expect("payment id").to_owned()).collect()
}

fn settle_arguments(payment_id: &str) -> Value {
    json!({"id": payment_id, "outcome": "succeeded", "confirm": true, "idempotency_key": format!("settle-{payment_id}")})
}

/// What a refused write must leave exactly as it was.
async fn observable_state(client: &Client, payment_id: &str) -> Value {
    let status = client.call("system_status", json!({})).await;
    json!({
        "balance": client.call("get_balance", json!({"asset": "NGN"})).await,
        "payment": client.call("get_payment", json!({"id": payment_id})).await["payment_intent"],
        "ledger": status["ledger"],
        "events": client.call("list_events", json!({"limit": 5})).await,
    })
}

async fn expect_sound(harepay: &Harepay, client: &Client) {
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["status"], "ok", "{status}");
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    let verify = harepay.cli(&["verify"]);
    assert!(
        verify.status.success(),
        "verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// The external account of a merchant goes down by every payment it receives. With payments of
/// 2^53 − 1 minor units, 1,024 fit in i64; the 1,025th is refused with `balance_overflow`,
/// changes nothing, and the ledger stays sound and usable.
#[tokio::test]
async fn maximal_test_payments_end_in_a_typed_overflow_refusal_that_changes_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let fitting = usize::try_from((i128::from(i64::MAX) + 1) / i128::from(MAXIMAL_AMOUNT_MINOR)).unwrap();
    assert_eq!(fitting, 1_024);
    let ids = create_payments(&client, fitting + 1, MAXIMAL_AMOUNT_MINOR).await;
    let (last_id, fitting_ids) = ids.split_last().unwrap();
    let settled =
        call_pipelined(&client, "simulate_payment", fitting_ids.iter().map(|id| settle_arguments(id)).collect()).await;
    assert!(settled.iter().all(|result| result["object"]["status"] == "succeeded"));
    let available_minor = client.available("NGN").await;
    assert!(available_minor > 0, "the merchant holds {available_minor}");

    let before = observable_state(&client, last_id).await;
    let error = client.call_error("simulate_payment", settle_arguments(last_id)).await;
    assert_eq!(error["type"], "balance_overflow", "{error}");
    assert_eq!(error["param"], "amount", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("external") && message.contains("NGN"), "{message}");
    // A preview is refused the same way.
    let mut preview = settle_arguments(last_id);
    preview["confirm"] = json!(false);
    assert_eq!(client.call_error("simulate_payment", preview).await["type"], "balance_overflow");
    assert_eq!(observable_state(&client, last_id).await, before, "the refusal changed something");
    expect_sound(&harepay, &client).await;

    // The ledger is not stuck: a refund gives the external account room, and the refused payment
    // then settles.
    let refund = json!({"id": fitting_ids[0], "confirm": true, "idempotency_key": "refund-first"});
    client.call("refund_payment", refund).await;
    let settled = client.call("simulate_payment", settle_arguments(last_id)).await;
    assert_eq!(settled["object"]["status"], "succeeded", "{settled}");
    expect_sound(&harepay, &client).await;
    client.close().await;
}
