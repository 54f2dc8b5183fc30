//! Payments through the real binary: the seed quickstart, previews, idempotency, refunds.

use serde_json::json;

use crate::support::{Harepay, MAKER_KEY};

/// The seed's quickstart: create a ₦10,000 bank-transfer payment, list payments, see the NGN
/// balance — with the test-mode simulator settling the payment by itself.
#[tokio::test]
async fn seed_quickstart_settles_by_itself_and_credits_the_balance() {
    let harepay = Harepay::new();
    let mut command = harepay.command(MAKER_KEY, &[]);
    command.env("HAREPAY_TEST_AUTO_SETTLE_MS", "300");
    let client = harepay.connect_command(command).await;

    let created = client
        .call(
            "create_payment_intent",
            json!({
                "amount": {"amount": 1_000_000, "currency": "NGN"},
                "method": "bank_transfer",
                "rail": "rubies",
                "confirm": true,
                "idempotency_key": "order-1001",
            }),
        )
        .await;
    assert_eq!(created["outcome"], "executed");
    let payment = &created["object"];
    assert_eq!(payment["status"], "requires_action");
    assert_eq!(payment["amount"], json!({"amount": 1_000_000, "currency": "NGN", "display": "₦10,000.00"}));
    assert_eq!(payment["next_action"]["type"], "bank_transfer");
    assert_eq!(payment["next_action"]["account_number"].as_str().unwrap().len(), 10);
    assert_eq!(payment["fee"]["amount"], 5_000, "rubies charges 0.5%");
    let id = payment["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("pi_"));

    let mut status = String::new();
    for _ in 0..100 {
        let details = client.call("get_payment", json!({"id": id})).await;
        status = details["payment_intent"]["status"].as_str().unwrap().to_owned();
        if status == "succeeded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "succeeded", "the simulator settles test payments by itself");

    let list = client.call("list_payments", json!({})).await;
    assert_eq!(list["data"][0]["id"], id);
    assert_eq!(list["has_more"], false);

    let balance = client.call("get_balance", json!({"asset": "NGN"})).await;
    assert_eq!(balance["available"]["amount"], 995_000);
    assert_eq!(balance["available"]["display"], "₦9,950.00");
    assert_eq!(balance["pending"]["amount"], 0);

    let events = client.call("list_events", json!({"object_id": id})).await;
    let types: Vec<&str> = events["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["payment_intent.succeeded", "payment_intent.processing", "payment_intent.created"]);

    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["status"], "ok");
    assert_eq!(status["ledger"]["sound"], true);
    client.close().await;

    let verify = harepay.cli(&["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[tokio::test]
async fn a_write_without_confirm_is_a_preview_that_saves_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let arguments = json!({
        "amount": {"amount": 2_500_000, "currency": "NGN"},
        "method": "card",
        "rail": "card",
        "customer": "cus_42",
    });
    let preview = client.call("create_payment_intent", arguments.clone()).await;
    assert_eq!(preview["outcome"], "preview");
    assert_eq!(preview["object"]["fee"]["amount"], 37_500 + 10_000, "card: 1.5% + ₦100");
    assert_eq!(preview["object"]["net"]["amount"], 2_500_000 - 47_500);
    assert!(preview["message"].as_str().unwrap().contains("confirm: true"), "{preview}");
    // Nothing an agent could act on: no id to look up, no checkout to send a payer to.
    assert!(preview["object"].get("id").is_none() && preview["object"].get("next_action").is_none(), "{preview}");
    assert_eq!(client.payment_count().await, 0);
    assert_eq!(client.event_count().await, 0);

    let audit = client.call("list_audit_log", json!({})).await;
    assert_eq!(audit["data"][0]["outcome"], "previewed");
    assert_eq!(audit["data"][0]["tool"], "create_payment_intent");

    // confirm: true without a key is refused, and still saves nothing.
    let mut confirmed = arguments.clone();
    confirmed["confirm"] = json!(true);
    let message = client.expect_error("create_payment_intent", confirmed.clone(), "invalid_request").await;
    assert!(message.contains("idempotency_key"), "{message}");
    assert_eq!(client.payment_count().await, 0);

    confirmed["idempotency_key"] = json!("order-1");
    let created = client.call("create_payment_intent", confirmed).await;
    assert_eq!(created["outcome"], "executed");
    assert_eq!(client.payment_count().await, 1);
    client.close().await;
}

#[tokio::test]
async fn a_refund_preview_shows_the_balance_change_and_changes_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = client.create_succeeded_payment(1_000_000, "order-1").await;
    let preview = client.call("refund_payment", json!({"id": id, "amount": 300_000})).await;
    assert_eq!(preview["outcome"], "preview");
    let change = &preview["balance_changes"][0];
    assert_eq!(change["account"], "available");
    assert_eq!(change["before"]["amount"], 995_000);
    assert_eq!(change["after"]["amount"], 695_000);
    assert!(preview["object"]["refund"].get("id").is_none(), "no refund id before the refund: {preview}");
    assert_eq!(preview["object"]["payment_intent"]["id"], json!(id), "the payment exists");
    assert_eq!(client.available("NGN").await, 995_000);
    client.close().await;
}

#[tokio::test]
async fn the_same_key_and_arguments_replay_the_first_result() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let arguments = json!({
        "amount": {"amount": 1_000_000, "currency": "NGN"},
        "method": "bank_transfer",
        "rail": "rubies",
        "metadata": {"order": "1001", "channel": "agent"},
        "confirm": true,
        "idempotency_key": "order-1001",
    });
    let first = client.call("create_payment_intent", arguments.clone()).await;
    // Key order in the arguments does not matter: the fingerprint is canonical JSON.
    let reordered = json!({
        "idempotency_key": "order-1001",
        "confirm": true,
        "metadata": {"channel": "agent", "order": "1001"},
        "rail": "rubies",
        "method": "bank_transfer",
        "amount": {"currency": "NGN", "amount": 1_000_000},
    });
    let second = client.call("create_payment_intent", reordered).await;
    assert_eq!(first["outcome"], "executed");
    assert_eq!(second["outcome"], "replayed");
    assert_eq!(first["object"], second["object"], "a replay returns the original object");
    assert_eq!(client.payment_count().await, 1);
    assert_eq!(client.event_count().await, 1, "a replay emits no event");

    let mut other = arguments.clone();
    other["amount"]["amount"] = json!(2_000_000);
    let message = client.expect_error("create_payment_intent", other, "idempotency_key_reused").await;
    assert!(message.contains("order-1001"), "{message}");

    // The key is scoped to the operation too: using it for a refund is a reuse.
    let id = first["object"]["id"].as_str().unwrap();
    client
        .expect_error(
            "refund_payment",
            json!({"id": id, "confirm": true, "idempotency_key": "order-1001"}),
            "idempotency_key_reused",
        )
        .await;
    assert_eq!(client.payment_count().await, 1);

    let audit = client.call("list_audit_log", json!({"limit": 5})).await;
    let outcomes: Vec<&str> =
        audit["data"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes[..4], ["refused", "refused", "replayed", "executed"]);
    client.close().await;
}

#[tokio::test]
async fn twenty_concurrent_calls_with_one_key_make_exactly_one_payment() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let arguments = json!({
        "amount": {"amount": 777_700, "currency": "NGN"},
        "method": "bank_transfer",
        "rail": "rubies",
        "confirm": true,
        "idempotency_key": "burst-1",
    });
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let peer = client.service.peer().clone();
        let arguments = arguments.as_object().cloned().unwrap();
        calls.spawn(async move {
            peer.call_tool(rmcp::model::CallToolRequestParams::new("create_payment_intent").with_arguments(arguments))
                .await
        });
    }
    let mut executed = 0;
    let mut ids = std::collections::BTreeSet::new();
    while let Some(result) = calls.join_next().await {
        let result = result.unwrap().expect("tools/call");
        let structured = result.structured_content.unwrap();
        if result.is_error == Some(true) {
            assert_eq!(structured["error"]["type"], "idempotency_key_in_use", "{structured}");
            continue;
        }
        match structured["outcome"].as_str().unwrap() {
            "executed" => executed += 1,
            "replayed" => {}
            other => panic!("unexpected outcome {other}"),
        }
        ids.insert(structured["object"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(executed, 1, "exactly one call creates the payment");
    assert_eq!(ids.len(), 1, "every success names the same payment");
    assert_eq!(client.payment_count().await, 1);
    client.close().await;
}

#[tokio::test]
async fn refunds_are_partial_or_full_and_never_exceed_what_was_paid() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    // Two payments, so that the available balance can cover a full refund of one of them.
    let id = client.create_succeeded_payment(1_000_000, "order-1").await;
    client.create_succeeded_payment(1_000_000, "order-2").await;
    assert_eq!(client.available("NGN").await, 1_990_000);

    let first = client
        .call(
            "refund_payment",
            json!({"id": id, "amount": 400_000, "reason": "damaged", "confirm": true, "idempotency_key": "re-1"}),
        )
        .await;
    assert_eq!(first["object"]["refund"]["amount"]["amount"], 400_000);
    assert_eq!(first["object"]["payment_intent"]["amount_refundable"]["amount"], 600_000);

    let message = client
        .expect_error(
            "refund_payment",
            json!({"id": id, "amount": 600_001, "confirm": true, "idempotency_key": "re-2"}),
            "refund_exceeds_remaining",
        )
        .await;
    assert!(message.contains("₦6,000.00"), "{message}");

    // The rest, by omitting the amount.
    let rest = client.call("refund_payment", json!({"id": id, "confirm": true, "idempotency_key": "re-3"})).await;
    assert_eq!(rest["object"]["refund"]["amount"]["amount"], 600_000);
    assert_eq!(rest["object"]["payment_intent"]["amount_refunded"]["amount"], 1_000_000);
    client
        .expect_error(
            "refund_payment",
            json!({"id": id, "amount": 1, "confirm": true, "idempotency_key": "re-4"}),
            "refund_exceeds_remaining",
        )
        .await;
    assert_eq!(client.available("NGN").await, 1_990_000 - 1_000_000);

    let details = client.call("get_payment", json!({"id": id})).await;
    assert_eq!(details["refunds"].as_array().unwrap().len(), 2);
    let refunded = client.call("list_events", json!({"type": "charge.refunded"})).await;
    assert_eq!(refunded["data"].as_array().unwrap().len(), 2);
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn insufficient_funds_changes_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = client.create_succeeded_payment(1_000_000, "order-1").await;
    // The fee stays with harepay, so ₦9,950.00 is available against a ₦10,000.00 refund.
    let events_before = client.event_count().await;
    let message = client
        .expect_error(
            "refund_payment",
            json!({"id": id, "confirm": true, "idempotency_key": "re-1"}),
            "insufficient_funds",
        )
        .await;
    assert!(message.contains("₦9,950.00") && message.contains("₦10,000.00"), "{message}");
    assert_eq!(client.available("NGN").await, 995_000);
    assert_eq!(client.event_count().await, events_before);
    let details = client.call("get_payment", json!({"id": id})).await;
    assert_eq!(details["refunds"], json!([]));
    assert_eq!(details["payment_intent"]["amount_refunded"]["amount"], 0);
    // A refused attempt leaves no idempotency record: the key can be used once funds allow.
    client.create_succeeded_payment(10_000, "order-2").await;
    let refund = client.call("refund_payment", json!({"id": id, "confirm": true, "idempotency_key": "re-1"})).await;
    assert_eq!(refund["outcome"], "executed");
    client.close().await;
}

#[tokio::test]
async fn failed_and_canceled_payments_move_no_money() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let failed = client.create_payment(500_000, "order-1").await;
    let result = client
        .call(
            "simulate_payment",
            json!({"id": failed, "outcome": "failed", "confirm": true, "idempotency_key": "sim-1"}),
        )
        .await;
    assert_eq!(result["object"]["status"], "failed");
    assert_eq!(client.available("NGN").await, 0);

    let canceled = client.create_payment(500_000, "order-2").await;
    let preview = client.call("cancel_payment_intent", json!({"id": canceled})).await;
    assert_eq!(preview["outcome"], "preview");
    let result = client.call("cancel_payment_intent", json!({"id": canceled, "confirm": true})).await;
    assert_eq!(result["object"]["status"], "canceled");
    client.expect_error("cancel_payment_intent", json!({"id": canceled, "confirm": true}), "invalid_state").await;
    client
        .expect_error(
            "refund_payment",
            json!({"id": canceled, "confirm": true, "idempotency_key": "re-1"}),
            "invalid_state",
        )
        .await;
    client
        .expect_error(
            "simulate_payment",
            json!({"id": canceled, "outcome": "succeeded", "confirm": true, "idempotency_key": "sim-2"}),
            "invalid_state",
        )
        .await;
    let canceled_list = client.call("list_payments", json!({"status": "canceled"})).await;
    assert_eq!(canceled_list["data"].as_array().unwrap().len(), 1);
    client.close().await;
}

#[tokio::test]
async fn crypto_settled_as_naira_credits_naira_at_the_locked_rate() {
    let harepay = Harepay::new();
    let mut command = harepay.command(MAKER_KEY, &[]);
    command.env("HAREPAY_FX_RATES", "USDC/NGN=1550.25");
    let client = harepay.connect_command(command).await;
    let created = client
        .call(
            "create_payment_intent",
            json!({
                "amount": {"amount": 100_000_000, "currency": "USDC", "network": "TRON"},
                "settle_as": {"amount": 0, "currency": "NGN"},
                "method": "crypto",
                "rail": "partna",
                "confirm": true,
                "idempotency_key": "crypto-1",
            }),
        )
        .await;
    let payment = &created["object"];
    assert_eq!(payment["settlement"]["amount"]["amount"], 15_502_500, "100 USDC × 1550.25");
    assert_eq!(payment["settlement"]["rate"], "1550.25");
    assert_eq!(payment["next_action"]["type"], "crypto_deposit");
    assert_eq!(payment["next_action"]["network"], "TRON");
    assert!(payment["next_action"]["address"].as_str().unwrap().starts_with('T'));
    let id = payment["id"].as_str().unwrap();
    client
        .call("simulate_payment", json!({"id": id, "outcome": "succeeded", "confirm": true, "idempotency_key": "s"}))
        .await;
    // Partna charges 1% of the credited naira.
    assert_eq!(client.available("NGN").await, 15_502_500 - 155_025);
    assert_eq!(client.available("USDC").await, 0, "the merchant holds no USDC: it was converted");
    let balances = client.call("list_balances", json!({})).await;
    assert_eq!(balances["data"].as_array().unwrap().len(), 1, "{balances}");
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn lists_page_with_a_cursor_and_filter() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let mut ids = Vec::new();
    for index in 0..5 {
        ids.push(client.create_payment(1_000 + index, &format!("order-{index}")).await);
    }
    let first = client.call("list_payments", json!({"limit": 2})).await;
    assert_eq!(first["data"][0]["id"], ids[4], "newest first");
    assert_eq!(first["has_more"], true);
    let second =
        client.call("list_payments", json!({"limit": 2, "starting_after": first["next_starting_after"]})).await;
    assert_eq!(second["data"][0]["id"], ids[2]);
    let third =
        client.call("list_payments", json!({"limit": 2, "starting_after": second["next_starting_after"]})).await;
    assert_eq!(third["data"].as_array().unwrap().len(), 1);
    assert_eq!(third["has_more"], false);
    assert_eq!(third["next_starting_after"], json!(null));

    let by_status = client.call("list_payments", json!({"status": "succeeded"})).await;
    assert_eq!(by_status["data"], json!([]));
    let created_at = first["data"][0]["created_at_ms"].as_i64().unwrap();
    let recent = client.call("list_payments", json!({"created_gte_ms": created_at, "limit": 100})).await;
    assert!(recent["data"].as_array().unwrap().iter().all(|p| p["created_at_ms"].as_i64().unwrap() >= created_at));
    client.close().await;
}

/// `amount_refundable` is what a refund can take now: the fee is not returned and refunds come
/// out of the available balance, so a "full refund" built from it succeeds.
#[tokio::test]
async fn amount_refundable_is_what_a_refund_can_take_now() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = client.create_succeeded_payment(1_000_000, "order-1").await;
    let payment = client.call("get_payment", json!({"id": id})).await;
    let refundable = payment["payment_intent"]["amount_refundable"]["amount"].as_i64().unwrap();
    assert_eq!(refundable, 995_000, "the 0.5% fee stayed with the rail: {payment}");
    let listed = client.call("list_payments", json!({})).await;
    assert_eq!(listed["data"][0]["amount_refundable"]["amount"], 995_000);
    let refund = json!({"id": id, "amount": refundable, "confirm": true, "idempotency_key": "r-1"});
    let refunded = client.call("refund_payment", refund).await;
    assert_eq!(refunded["object"]["payment_intent"]["amount_refundable"]["amount"], 0, "{refunded}");
    assert_eq!(client.available("NGN").await, 0);
    // One more minor unit is refused for the reason the view gave: nothing is available.
    let more = json!({"id": id, "amount": 1, "confirm": true, "idempotency_key": "r-2"});
    client.expect_error("refund_payment", more, "insufficient_funds").await;
    client.close().await;
}
