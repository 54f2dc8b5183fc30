//! A hostile merchant against the money paths of invoicing and billing, through the real binary:
//! money an over-paid invoice credited to the customer's prepaid balance refunded or disputed a
//! second time, with `harepay verify` after each attempt.

use serde_json::{Value, json};

use crate::support::{Client, Harepay, MAKER_KEY};

async fn create_customer(client: &Client, email: &str) -> String {
    let created = client.call("create_customer", json!({"email": email, "confirm": true})).await;
    created["object"]["id"].as_str().expect("customer id").to_owned()
}

/// An open naira invoice of `total_minor` for a new customer: (customer id, invoice id).
async fn open_invoice(client: &Client, email: &str, total_minor: i64) -> (String, String) {
    let customer_id = create_customer(client, email).await;
    let lines = json!([{"description": "Design work", "quantity": 1, "unit_amount": total_minor}]);
    let arguments = json!({
        "customer_id": customer_id, "currency": "NGN", "line_items": lines,
        "confirm": true, "idempotency_key": format!("inv-{email}"),
    });
    let created = client.call("create_invoice", arguments).await;
    let id = created["object"]["id"].as_str().expect("invoice id").to_owned();
    let finalize = json!({"id": id, "confirm": true, "idempotency_key": format!("fin-{email}")});
    assert_eq!(client.call("finalize_invoice", finalize).await["object"]["status"], "open");
    (customer_id, id)
}

/// Pays the invoice by bank transfer with one receipt of `received_minor`; the intent's id.
async fn pay_with_one_receipt(client: &Client, invoice_id: &str, received_minor: i64) -> String {
    let pay = json!({"id": invoice_id, "method": "bank_transfer", "rail": "rubies", "confirm": true,
        "idempotency_key": format!("pay-{invoice_id}")});
    let paid = client.call("pay_invoice", pay).await;
    let payment_intent_id = paid["object"]["payment_intent_id"].as_str().expect("intent id").to_owned();
    let simulate = json!({"id": payment_intent_id, "outcome": "succeeded", "confirm": true,
        "amount": {"amount": received_minor, "currency": "NGN"}, "idempotency_key": format!("sim-{invoice_id}")});
    let simulated = client.call("simulate_payment", simulate).await;
    assert_eq!(simulated["outcome"], "executed", "{simulated}");
    payment_intent_id
}

async fn prepaid_ngn(client: &Client, customer_id: &str) -> i64 {
    client.call("get_customer", json!({"id": customer_id})).await["prepaid_ngn"]["amount"].as_i64().unwrap()
}

fn amount(value: &Value) -> i64 {
    value["amount"].as_i64().unwrap_or_else(|| panic!("an amount: {value}"))
}

async fn expect_verified(harepay: &Harepay, client: &Client) {
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    let verify = harepay.cli(&["verify"]);
    assert!(verify.status.success(), "verify: {}", String::from_utf8_lossy(&verify.stdout));
}

/// The excess of an over-paid invoice is the customer's prepaid credit; refunding it from the
/// payment as well would pay it back twice (once in cash, once as credit still spendable).
#[tokio::test]
async fn an_over_payment_credited_to_prepaid_is_not_refunded_or_disputed_again() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    client.fund_ngn(10_000_000, "other-sales").await;
    let (customer_id, invoice_id) = open_invoice(&client, "ada@example.com", 100_000).await;
    let payment_intent_id = pay_with_one_receipt(&client, &invoice_id, 150_000).await;
    let invoice = client.call("get_invoice", json!({"id": invoice_id})).await;
    assert_eq!((invoice["status"].as_str(), amount(&invoice["amount_credited_to_prepaid"])), (Some("paid"), 50_000));
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 50_000);

    let whole = json!({"id": payment_intent_id, "amount": 150_000, "confirm": true, "idempotency_key": "refund-all"});
    client.expect_error("refund_payment", whole, "refund_exceeds_remaining").await;
    let dispute = json!({"payment_intent_id": payment_intent_id, "amount": 150_000, "reason": "fraudulent",
        "confirm": true, "idempotency_key": "dispute-all"});
    client.expect_error("simulate_dispute", dispute, "dispute_exceeds_remaining").await;
    expect_verified(&harepay, &client).await;

    let rest = json!({"id": payment_intent_id, "confirm": true, "idempotency_key": "refund-rest"});
    let refunded = client.call("refund_payment", rest).await;
    assert_eq!(amount(&refunded["object"]["refund"]["amount"]), 100_000, "{refunded}");
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 50_000, "the credit stays, refunded once");
    expect_verified(&harepay, &client).await;
    client.close().await;
}
