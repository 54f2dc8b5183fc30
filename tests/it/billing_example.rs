//! The guide's usage billing worked example, call by call, with the toolsets it names
//! (`--toolsets default,catalog,billing`), so that the example cannot drift from the server:
//! customer → usage price with an allowance → subscription → report_usage → overage_invoice →
//! pay_invoice → simulate_payment, and the auto-charge from topup_prepaid.

use serde_json::{Value, json};

use crate::support::{Client, Harepay, MAKER_KEY};

/// A server with exactly the toolsets the guide names (not the tests' usual `all`).
async fn connect_as_the_guide_says(harepay: &Harepay) -> Client {
    let mut command = harepay.command(MAKER_KEY, &["--toolsets", "default,catalog,billing"]);
    command.env_remove("HAREPAY_TOOLSETS");
    let client = harepay.connect_command(command).await;
    assert!(!client.tool_names().await.contains(&"list_audit_log".to_owned()), "audit is not enabled");
    client
}

async fn write(client: &Client, tool: &str, mut arguments: Value, key: &str) -> Value {
    arguments["confirm"] = json!(true);
    arguments["idempotency_key"] = json!(key);
    let result = client.call(tool, arguments).await;
    assert_eq!(result["outcome"], "executed", "{tool}: {result}");
    result
}

/// Steps 1–3: the customer, the usage price and the subscription; returns (customer, subscription).
async fn subscribe(client: &Client, auto_charge: bool) -> (String, String) {
    let customer = write(client, "create_customer", json!({"email": "ada@example.com"}), "cus-1").await;
    let customer_id = customer["object"]["id"].as_str().unwrap().to_owned();
    let price = json!({"model": "usage", "currency": "NGN", "unit_amount": 100, "included_units": 1000,
        "auto_charge": auto_charge, "interval": "monthly"});
    let price_id = write(client, "create_price", price, "price-1").await["object"]["id"].as_str().unwrap().to_owned();
    let subscription =
        write(client, "create_subscription", json!({"customer_id": customer_id, "price_id": price_id}), "sub-1").await;
    assert_eq!(subscription["object"]["status"], "active");
    (customer_id, subscription["object"]["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_guides_usage_billing_example_bills_the_overage_and_the_payer_pays_it() {
    let harepay = Harepay::new();
    let client = connect_as_the_guide_says(&harepay).await;
    let (_, subscription_id) = subscribe(&client, false).await;
    let usage = json!({"subscription_id": subscription_id, "quantity": 1200, "event_id": "usage-1", "confirm": true});
    let reported = client.call("report_usage", usage).await;
    let report = &reported["object"];
    assert_eq!(report["period"]["used_units"], 1200, "{reported}");
    assert_eq!(report["overage"]["units"], 200);
    assert_eq!(
        (report["overage"]["paid_from"].as_str(), report["overage"]["open_reason"].as_str()),
        (Some("open_invoice"), Some("auto_charge_off"))
    );
    let invoice = &report["overage_invoice"];
    assert_eq!((invoice["status"].as_str(), invoice["total"]["amount"].as_i64()), (Some("open"), Some(20_000)));
    assert_eq!(invoice["total"]["display"], "₦200.00");
    let invoice_id = invoice["id"].as_str().unwrap();

    let pay = json!({"id": invoice_id, "method": "bank_transfer", "rail": "rubies"});
    let collecting = write(&client, "pay_invoice", pay, "pay-1").await;
    assert!(collecting["object"]["next_action"].is_object(), "{collecting}");
    let payment_intent_id = collecting["object"]["payment_intent_id"].as_str().unwrap();
    write(&client, "simulate_payment", json!({"id": payment_intent_id, "outcome": "succeeded"}), "sim-1").await;
    assert_eq!(client.call("get_invoice", json!({"id": invoice_id})).await["status"], "paid");
    client.close().await;
}

#[tokio::test]
async fn the_guides_auto_charge_variant_pays_the_overage_from_the_prepaid_balance() {
    let harepay = Harepay::new();
    let client = connect_as_the_guide_says(&harepay).await;
    let (customer_id, subscription_id) = subscribe(&client, true).await;
    let topup = json!({"customer_id": customer_id, "amount": {"amount": 50_000, "currency": "NGN"}});
    write(&client, "topup_prepaid", topup, "topup-1").await;
    let usage = json!({"subscription_id": subscription_id, "quantity": 1200, "event_id": "usage-1", "confirm": true});
    let reported = client.call("report_usage", usage).await;
    let report = &reported["object"];
    assert_eq!(report["overage_invoice"]["status"], "paid", "{reported}");
    assert_eq!(report["overage"]["paid_from"], "prepaid_balance");
    let customer = client.call("get_customer", json!({"id": customer_id})).await;
    assert_eq!(customer["prepaid_ngn"]["display"], "₦300.00", "{customer}");
    client.close().await;
}
