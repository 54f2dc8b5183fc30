//! Bad input of every kind gets a typed error and changes nothing.

use serde_json::{Value, json};

use crate::support::{Client, Harepay, MAKER_KEY};

fn payment(amount: Value) -> Value {
    json!({
        "amount": amount,
        "method": "bank_transfer",
        "rail": "rubies",
        "confirm": true,
        "idempotency_key": "bad-1",
    })
}

/// Calls `tool` with `arguments`, expects `error_type`, and (when given) checks `param`.
async fn check(client: &Client, tool: &str, arguments: Value, error_type: &str, param: Option<&str>) {
    let error = client.call_error(tool, arguments.clone()).await;
    assert_eq!(error["type"], error_type, "{tool} {arguments}: {error}");
    if let Some(param) = param {
        assert_eq!(error["param"], param, "{tool} {arguments}: {error}");
    }
}

#[tokio::test]
async fn malformed_payment_input_is_refused_with_a_typed_error_and_no_state_change() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let invalid = "invalid_request";
    for (amount, param) in [
        (json!({"amount": 10.5, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 100.0, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": "1000", "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 0, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": -500, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 9_007_199_254_740_992_i64, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 1e30, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": null, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 1000, "currency": "XYZ"}), "amount.currency"),
        (json!({"amount": 1000, "currency": "ngn"}), "amount.currency"),
        (json!({"amount": 1000, "currency": "NGN", "network": "TRON"}), "amount.network"),
    ] {
        check(&client, "create_payment_intent", payment(amount), invalid, Some(param)).await;
    }
    // Crypto without a network, on a network the asset is not on, on an unknown network.
    let mut crypto = payment(json!({"amount": 1_000_000, "currency": "USDC"}));
    crypto["method"] = json!("crypto");
    crypto["rail"] = json!("partna");
    check(&client, "create_payment_intent", crypto.clone(), invalid, Some("amount.network")).await;
    crypto["amount"]["network"] = json!("BITCOIN");
    check(&client, "create_payment_intent", crypto.clone(), invalid, Some("amount.network")).await;
    crypto["amount"]["network"] = json!("DOGECHAIN");
    check(&client, "create_payment_intent", crypto.clone(), invalid, Some("amount.network")).await;
    crypto["amount"]["network"] = json!("TRON");
    crypto["settle_as"] = json!({"currency": "XOF"});
    check(&client, "create_payment_intent", crypto.clone(), invalid, Some("settle_as.currency")).await;
    crypto["settle_as"] = json!({"currency": "NGN", "amount": 5});
    check(&client, "create_payment_intent", crypto, invalid, Some("settle_as.amount")).await;

    let mut wrong_rail = payment(json!({"amount": 1000, "currency": "NGN"}));
    wrong_rail["rail"] = json!("card");
    check(&client, "create_payment_intent", wrong_rail, invalid, Some("rail")).await;

    // Shapes the schema forbids: decoded by the SDK, still answered with our envelope.
    let mut shapes = Vec::new();
    let mut unknown_method = payment(json!({"amount": 1000, "currency": "NGN"}));
    unknown_method["method"] = json!("cash");
    shapes.push(unknown_method);
    let mut unknown_field = payment(json!({"amount": 1000, "currency": "NGN"}));
    unknown_field["amount_minor"] = json!(1000);
    shapes.push(unknown_field);
    let mut confirm_as_text = payment(json!({"amount": 1000, "currency": "NGN"}));
    confirm_as_text["confirm"] = json!("yes");
    shapes.push(confirm_as_text);
    shapes.push(json!({"method": "bank_transfer", "rail": "rubies"}));
    shapes.push(payment(json!(1000)));
    shapes.push(payment(json!({"amount": 1000})));
    for arguments in shapes {
        check(&client, "create_payment_intent", arguments, invalid, None).await;
    }

    // Idempotency keys and free text out of bounds.
    let mut long_key = payment(json!({"amount": 1000, "currency": "NGN"}));
    long_key["idempotency_key"] = json!("k".repeat(256));
    check(&client, "create_payment_intent", long_key, invalid, Some("idempotency_key")).await;
    let mut empty_key = payment(json!({"amount": 1000, "currency": "NGN"}));
    empty_key["idempotency_key"] = json!("");
    check(&client, "create_payment_intent", empty_key, invalid, Some("idempotency_key")).await;
    let mut long_description = payment(json!({"amount": 1000, "currency": "NGN"}));
    long_description["description"] = json!("d".repeat(501));
    check(&client, "create_payment_intent", long_description, invalid, Some("description")).await;
    let mut big_metadata = payment(json!({"amount": 1000, "currency": "NGN"}));
    big_metadata["metadata"] = Value::Object((0..51).map(|i| (format!("k{i}"), json!("v"))).collect());
    check(&client, "create_payment_intent", big_metadata, invalid, Some("metadata")).await;

    assert_eq!(client.payment_count().await, 0, "no refused call created a payment");
    assert_eq!(client.event_count().await, 0, "no refused call emitted an event");
    let audit = client.call("list_audit_log", json!({"limit": 100})).await;
    let entries = audit["data"].as_array().unwrap();
    assert!(entries.len() >= 25, "every refused write attempt is audited ({} entries)", entries.len());
    assert!(entries.iter().all(|entry| entry["outcome"] == "refused"));
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn malformed_reads_and_references_get_typed_errors() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    check(&client, "get_payment", json!({"id": "pi_00000000000000000000000000000000"}), "not_found", None).await;
    check(&client, "get_payment", json!({"id": "re_123"}), "invalid_request", Some("id")).await;
    check(&client, "get_payment", json!({"id": 42}), "invalid_request", None).await;
    check(&client, "get_payment", json!({}), "invalid_request", None).await;
    check(&client, "get_balance", json!({"asset": "DOGE"}), "invalid_request", Some("asset")).await;
    check(&client, "list_payments", json!({"limit": 0}), "invalid_request", Some("limit")).await;
    check(&client, "list_payments", json!({"limit": 101}), "invalid_request", Some("limit")).await;
    check(&client, "list_payments", json!({"limit": 2.5}), "invalid_request", Some("limit")).await;
    check(&client, "list_payments", json!({"status": "paid"}), "invalid_request", None).await;
    check(&client, "list_payments", json!({"starting_after": "pi_missing"}), "invalid_request", Some("starting_after"))
        .await;
    check(&client, "list_events", json!({"starting_after": "evt_missing"}), "invalid_request", Some("starting_after"))
        .await;
    check(&client, "whoami", json!({"unexpected": true}), "invalid_request", None).await;
    check(
        &client,
        "refund_payment",
        json!({"id": "pi_00000000000000000000000000000000", "confirm": true, "idempotency_key": "r"}),
        "not_found",
        None,
    )
    .await;
    let id = client.create_succeeded_payment(1_000_000, "order-1").await;
    for amount in [json!(0), json!(-1), json!(1.5), json!("100")] {
        check(
            &client,
            "refund_payment",
            json!({"id": id, "amount": amount, "confirm": true, "idempotency_key": "r-1"}),
            "invalid_request",
            Some("amount"),
        )
        .await;
    }
    assert_eq!(client.available("NGN").await, 995_000);
    client.close().await;
}
