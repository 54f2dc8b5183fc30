//! Invoices through the real binary: create → finalize → pay (exact, partial then the rest,
//! over-payment credited to prepaid, crypto settled as naira), void, expiry with its payment
//! intent canceled, totals equal to a sum over the list, filters, scope isolation, replays, and
//! the attacks: oversized and malformed line items, overflowing amounts, unknown or foreign
//! references, concurrent pay_invoice calls, payments after void or expiry, and a flood of
//! expiring invoices across merchants (through the app with an injected clock).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use harepay::app::App;
use harepay::engine::SequentialIds;
use harepay::engine::customer::{self, NewCustomer};
use harepay::engine::invoice::{self, InvoiceStatus, NewInvoice, NewInvoiceLine};
use harepay::engine::money::Asset;
use harepay::engine::principal::{Mode, Scope};
use harepay::engine::retry::RetryPolicy;
use harepay::engine::rules::PaymentRules;
use harepay::limits::{AMOUNT_MAX_MINOR, SCHEDULER_INVOICE_EXPIRY_BATCH_MAX_STEPS};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::app_layer::ManualClock;
use crate::support::{Client, Harepay, MAKER_KEY};

async fn create_customer(client: &Client, email: &str) -> String {
    let created = client.call("create_customer", json!({"email": email, "confirm": true})).await;
    created["object"]["id"].as_str().expect("customer id").to_owned()
}

fn line(description: &str, quantity: Value, unit_amount: Value) -> Value {
    json!({"description": description, "quantity": quantity, "unit_amount": unit_amount})
}

fn create_arguments(customer_id: &str, currency: &str, line_items: Value, key: &str) -> Value {
    json!({
        "customer_id": customer_id,
        "currency": currency,
        "line_items": line_items,
        "metadata": {"order": key},
        "confirm": true,
        "idempotency_key": key,
    })
}

/// A confirmed draft of one line, `quantity × unit_amount`, and its id.
async fn create_invoice(client: &Client, customer_id: &str, currency: &str, total_minor: i64, key: &str) -> String {
    let lines = json!([line("Design work", json!(2), json!(total_minor / 2))]);
    let created = client.call("create_invoice", create_arguments(customer_id, currency, lines, key)).await;
    assert_eq!(created["outcome"], "executed", "{created}");
    created["object"]["id"].as_str().expect("invoice id").to_owned()
}

async fn finalize(client: &Client, id: &str) -> Value {
    let key = format!("finalize-{id}");
    client.call("finalize_invoice", json!({"id": id, "confirm": true, "idempotency_key": key})).await["object"].clone()
}

/// A finalized invoice of `total_minor` naira for a new customer.
async fn open_invoice(client: &Client, email: &str, total_minor: i64) -> (String, String) {
    let customer_id = create_customer(client, email).await;
    let id = create_invoice(client, &customer_id, "NGN", total_minor, &format!("inv-{email}")).await;
    assert_eq!(finalize(client, &id).await["status"], "open");
    (customer_id, id)
}

fn pay_arguments(id: &str, key: &str) -> Value {
    json!({"id": id, "method": "bank_transfer", "rail": "rubies", "confirm": true, "idempotency_key": key})
}

/// Pays the invoice by bank transfer; the payment intent's id.
async fn pay(client: &Client, id: &str, key: &str) -> String {
    let paid = client.call("pay_invoice", pay_arguments(id, key)).await;
    paid["object"]["payment_intent_id"].as_str().expect("intent id").to_owned()
}

fn simulate(payment_intent_id: &str, amount: Option<Value>, key: &str) -> Value {
    let mut arguments =
        json!({"id": payment_intent_id, "outcome": "succeeded", "confirm": true, "idempotency_key": key});
    if let Some(amount) = amount {
        arguments["amount"] = amount;
    }
    arguments
}

fn naira(amount_minor: i64) -> Value {
    json!({"amount": amount_minor, "currency": "NGN"})
}

async fn get_invoice(client: &Client, id: &str) -> Value {
    client.call("get_invoice", json!({"id": id})).await
}

async fn intent(client: &Client, id: &str) -> Value {
    client.call("get_payment", json!({"id": id})).await["payment_intent"].clone()
}

async fn prepaid_ngn(client: &Client, customer_id: &str) -> i64 {
    client.call("get_customer", json!({"id": customer_id})).await["prepaid_ngn"]["amount"].as_i64().unwrap()
}

async fn event_types(client: &Client, object_id: &str) -> Vec<String> {
    let events = client.call("list_events", json!({"object_id": object_id, "limit": 100})).await;
    let mut types: Vec<String> =
        events["data"].as_array().unwrap().iter().map(|event| event["type"].as_str().unwrap().to_owned()).collect();
    types.reverse();
    types
}

/// `system_status` says the ledger is sound and `harepay verify` exits 0.
async fn expect_verified(harepay: &Harepay, client: &Client) {
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    let verify = harepay.cli(&["verify"]);
    let output = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(verify.status.success(), "verify: {output}");
}

fn amount(value: &Value) -> i64 {
    value["amount"].as_i64().unwrap_or_else(|| panic!("an amount: {value}"))
}

#[tokio::test]
async fn an_invoice_is_created_finalized_and_paid_exactly_with_its_events_and_replays() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer_id = create_customer(&client, "ada@example.com").await;
    let lines = json!([line("Design work", json!(3), json!(2_500_000)), line("Free call", json!(1), json!(0))]);

    let mut preview_arguments = create_arguments(&customer_id, "NGN", lines.clone(), "inv-1");
    preview_arguments["confirm"] = json!(false);
    let preview = client.call("create_invoice", preview_arguments).await;
    assert_eq!(preview["outcome"], "preview");
    assert!(preview["object"].get("id").is_none(), "no id before it exists: {preview}");
    assert_eq!(amount(&preview["object"]["total"]), 7_500_000);
    assert_eq!(client.call("list_invoices", json!({})).await["data"], json!([]));

    let created = client.call("create_invoice", create_arguments(&customer_id, "NGN", lines.clone(), "inv-1")).await;
    let id = created["object"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("inv_"), "{id}");
    let replayed = client.call("create_invoice", create_arguments(&customer_id, "NGN", lines, "inv-1")).await;
    assert_eq!((replayed["outcome"].as_str(), &replayed["object"]), (Some("replayed"), &created["object"]));
    assert_eq!(client.call("list_invoices", json!({})).await["data"].as_array().unwrap().len(), 1);

    let draft = get_invoice(&client, &id).await;
    assert_eq!((draft["status"].as_str(), draft["currency"].as_str()), (Some("draft"), Some("NGN")));
    assert_eq!(draft["line_items"][0]["amount"]["display"], "₦75,000.00");
    assert_eq!(amount(&draft["amount_remaining"]), 7_500_000);
    let due_in_ms = draft["due_date_ms"].as_i64().unwrap() - draft["created_at_ms"].as_i64().unwrap();
    assert_eq!(due_in_ms, 30 * 24 * 60 * 60 * 1000, "due in 30 days by default");
    client.expect_error("pay_invoice", pay_arguments(&id, "pay-draft"), "invoice_not_payable").await;

    assert_eq!(finalize(&client, &id).await["status"], "open");
    let again = json!({"id": id, "confirm": true, "idempotency_key": "finalize-again"});
    client.expect_error("finalize_invoice", again, "invalid_state").await;

    let first = client.call("pay_invoice", pay_arguments(&id, "pay-1")).await;
    let collecting = &first["object"];
    assert_eq!(collecting["existing_intent"], false);
    assert_eq!(collecting["next_action"]["type"], "bank_transfer", "{first}");
    assert_eq!(collecting["payment_status"], "requires_action");
    assert_eq!(amount(&collecting["amount"]), 7_500_000);
    let payment_intent_id = collecting["payment_intent_id"].as_str().unwrap().to_owned();
    assert_eq!(intent(&client, &payment_intent_id).await["next_action"], collecting["next_action"]);
    assert_eq!(collecting["invoice"]["payment_intent_id"], payment_intent_id.as_str());
    let second = client.call("pay_invoice", pay_arguments(&id, "pay-2")).await;
    assert_eq!(second["object"]["existing_intent"], true, "{second}");
    assert_eq!(second["object"]["payment_intent_id"], payment_intent_id.as_str());
    let replay = client.call("pay_invoice", pay_arguments(&id, "pay-1")).await;
    assert_eq!((replay["outcome"].as_str(), &replay["object"]), (Some("replayed"), &first["object"]));

    let settled = client.call("simulate_payment", simulate(&payment_intent_id, None, "settle-1")).await;
    assert_eq!(settled["object"]["status"], "succeeded");
    let paid = get_invoice(&client, &id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!((amount(&paid["amount_paid"]), amount(&paid["amount_remaining"])), (7_500_000, 0));
    assert_eq!((amount(&paid["amount_overpaid"]), amount(&paid["amount_credited_to_prepaid"])), (0, 0));
    assert_eq!(event_types(&client, &id).await, ["invoice.created", "invoice.finalized", "invoice.paid"]);
    let void_paid = json!({"id": id, "confirm": true, "idempotency_key": "void-paid"});
    client.expect_error("void_invoice", void_paid, "invalid_state").await;
    client.expect_error("pay_invoice", pay_arguments(&id, "pay-3"), "invoice_not_payable").await;
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 0);

    let audit = client.call("list_audit_log", json!({"limit": 100})).await;
    let tools: Vec<&str> =
        audit["data"].as_array().unwrap().iter().map(|record| record["tool"].as_str().unwrap()).collect();
    for tool in ["create_invoice", "finalize_invoice", "pay_invoice", "void_invoice"] {
        assert!(tools.contains(&tool), "{tool} audited: {tools:?}");
    }
    expect_verified(&harepay, &client).await;
    client.close().await;
}

#[tokio::test]
async fn a_partial_payment_then_an_over_payment_credit_the_excess_to_prepaid() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let (customer_id, id) = open_invoice(&client, "ada@example.com", 5_000_000).await;
    let payment_intent_id = pay(&client, &id, "pay-1").await;

    client.call("simulate_payment", simulate(&payment_intent_id, Some(naira(2_000_000)), "part-1")).await;
    let partly = get_invoice(&client, &id).await;
    assert_eq!(partly["status"], "open");
    assert_eq!((amount(&partly["amount_paid"]), amount(&partly["amount_remaining"])), (2_000_000, 3_000_000));
    assert_eq!(intent(&client, &payment_intent_id).await["status"], "partially_paid");
    let again = client.call("pay_invoice", pay_arguments(&id, "pay-2")).await;
    assert_eq!(again["object"]["payment_intent_id"], payment_intent_id.as_str(), "the live intent, not a second");

    client.call("simulate_payment", simulate(&payment_intent_id, Some(naira(3_500_000)), "part-2")).await;
    let paid = get_invoice(&client, &id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!((amount(&paid["amount_paid"]), amount(&paid["amount_remaining"])), (5_500_000, 0));
    assert_eq!((amount(&paid["amount_overpaid"]), amount(&paid["amount_credited_to_prepaid"])), (500_000, 500_000));
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 500_000, "the excess is the customer's credit");
    assert_eq!(
        event_types(&client, &id).await,
        ["invoice.created", "invoice.finalized", "invoice.partial_payment", "invoice.paid", "invoice.overpaid"]
    );
    let replay = client.call("simulate_payment", simulate(&payment_intent_id, Some(naira(3_500_000)), "part-2")).await;
    assert_eq!(replay["outcome"], "replayed");
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 500_000, "credited once");
    let more = simulate(&payment_intent_id, Some(naira(1)), "part-3");
    client.expect_error("simulate_payment", more, "invalid_state").await;
    expect_verified(&harepay, &client).await;
    client.close().await;
}

#[tokio::test]
async fn crypto_for_a_naira_invoice_settles_exactly_what_remains_within_twelve_hours() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let (customer_id, id) = open_invoice(&client, "ada@example.com", 1_234_567 * 2).await;
    let arguments = json!({
        "id": id, "method": "crypto", "rail": "partna", "pay_currency": "USDC", "network": "TRON",
        "confirm": true, "idempotency_key": "pay-crypto",
    });
    let collecting = client.call("pay_invoice", arguments).await["object"].clone();
    let payment_intent_id = collecting["payment_intent_id"].as_str().unwrap();
    let payment_intent = intent(&client, payment_intent_id).await;
    assert_eq!(
        (payment_intent["amount"]["currency"].as_str(), payment_intent["network"].as_str()),
        (Some("USDC"), Some("TRON"))
    );
    assert_eq!(amount(&collecting["settlement"]["amount"]), 2_469_134, "settles exactly what remains");
    assert_eq!(collecting["amount"], payment_intent["amount"]);
    assert_eq!(collecting["next_action"]["type"], "crypto_deposit");
    let invoice = &collecting["invoice"];
    let window_ms = invoice["expires_at_ms"].as_i64().unwrap() - invoice["updated_at_ms"].as_i64().unwrap();
    assert_eq!(window_ms, 12 * 60 * 60 * 1000, "a crypto invoice without expiry gets 12 hours");
    assert_eq!(payment_intent["expires_at_ms"], invoice["expires_at_ms"], "the intent expires with the invoice");

    let crypto_amount = json!({"amount": amount(&payment_intent["amount"]), "currency": "USDC"});
    client.call("simulate_payment", simulate(payment_intent_id, Some(crypto_amount), "settle-crypto")).await;
    let paid = get_invoice(&client, &id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!((amount(&paid["amount_paid"]), amount(&paid["amount_overpaid"])), (2_469_134, 0));
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 0);
    let paid_again = json!({
        "id": id, "method": "crypto", "rail": "partna", "pay_currency": "USDC", "network": "TRON",
        "confirm": true, "idempotency_key": "pay-crypto-2",
    });
    client.expect_error("pay_invoice", paid_again, "invoice_not_payable").await;
    expect_verified(&harepay, &client).await;
    client.close().await;
}

#[tokio::test]
async fn void_cancels_the_intent_credits_what_it_received_and_a_late_payment_moves_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let (customer_id, id) = open_invoice(&client, "ada@example.com", 1_000_000).await;
    let payment_intent_id = pay(&client, &id, "pay-1").await;
    client.call("simulate_payment", simulate(&payment_intent_id, Some(naira(400_000)), "part-1")).await;
    let (available_before, pending_before, _) = client.balance("NGN").await;

    let cancel = json!({"id": payment_intent_id, "confirm": true, "idempotency_key": "cancel-1"});
    let message = client.expect_error("cancel_payment_intent", cancel, "invalid_state").await;
    assert!(message.contains("void the invoice"), "{message}");
    let fail = json!({"id": payment_intent_id, "outcome": "failed", "confirm": true, "idempotency_key": "fail-1"});
    client.expect_error("simulate_payment", fail, "invalid_state").await;

    let preview = client.call("void_invoice", json!({"id": id})).await;
    assert_eq!(preview["outcome"], "preview");
    assert_eq!(get_invoice(&client, &id).await["status"], "open", "a preview changes nothing");
    let voided = client.call("void_invoice", json!({"id": id, "confirm": true, "idempotency_key": "void-1"})).await;
    assert_eq!(voided["object"]["status"], "void");
    assert_eq!(amount(&voided["object"]["amount_credited_to_prepaid"]), 400_000);
    assert!(voided["message"].as_str().unwrap().contains("credited"), "{voided}");
    assert_eq!(intent(&client, &payment_intent_id).await["status"], "canceled");
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 400_000, "the part received is the customer's credit");
    let (available_after, pending_after, _) = client.balance("NGN").await;
    assert_eq!((available_after, pending_after), (available_before, pending_before - 400_000));

    let late = simulate(&payment_intent_id, Some(naira(600_000)), "late-1");
    client.expect_error("simulate_payment", late, "invalid_state").await;
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 400_000, "a payment after void moves nothing");
    assert_eq!(client.balance("NGN").await, (available_after, pending_after, 0));
    let again = json!({"id": id, "confirm": true, "idempotency_key": "void-2"});
    client.expect_error("void_invoice", again, "invalid_state").await;
    client.expect_error("pay_invoice", pay_arguments(&id, "pay-2"), "invoice_not_payable").await;
    assert_eq!(event_types(&client, &id).await.last().unwrap(), "invoice.voided");

    let draft = create_invoice(&client, &customer_id, "NGN", 2_000, "inv-draft").await;
    let voided_draft =
        client.call("void_invoice", json!({"id": draft, "confirm": true, "idempotency_key": "void-draft"})).await;
    assert_eq!(voided_draft["object"]["status"], "void");
    expect_verified(&harepay, &client).await;
    client.close().await;
}

/// `harepay stdio` spoken to with raw newline-delimited JSON-RPC, for messages an SDK would not send.
fn raw_session(harepay: &Harepay) -> harepay_raw_client::RawClient {
    let mut command = std::process::Command::new(crate::support::binary());
    command
        .arg("stdio")
        .env("HAREPAY_DB", &harepay.db)
        .env("HAREPAY_SECRET_KEY", MAKER_KEY)
        .env("HAREPAY_TEST_AUTO_SETTLE_MS", "off")
        .env("HAREPAY_LOG", "warn")
        .stderr(std::process::Stdio::null());
    harepay_raw_client::RawClient::spawn(&mut command).unwrap().with_answer_timeout(Duration::from_secs(30))
}

#[tokio::test]
async fn an_expired_invoice_cancels_its_intent_and_keeps_the_partial_payment_as_credit() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer_id = create_customer(&client, "ada@example.com").await;
    let lines = json!([line("Design work", json!(1), json!(1_000_000))]);
    let mut arguments = create_arguments(&customer_id, "NGN", lines, "inv-1");
    arguments["expires_in"] = json!(60_000);
    let id = client.call("create_invoice", arguments).await["object"]["id"].as_str().unwrap().to_owned();
    let open = finalize(&client, &id).await;
    assert_eq!(open["expires_at_ms"].as_i64().unwrap() - open["finalized_at_ms"].as_i64().unwrap(), 60_000);
    let payment_intent_id = pay(&client, &id, "pay-1").await;
    assert_eq!(intent(&client, &payment_intent_id).await["expires_at_ms"], open["expires_at_ms"]);
    client.call("simulate_payment", simulate(&payment_intent_id, Some(naira(250_000)), "part-1")).await;

    // A minute passes on the merchant's test clock: the advance itself expires the invoice.
    let advance = json!({"by": {"unit": "day", "count": 1}, "confirm": true, "idempotency_key": "clock-1"});
    assert_eq!(client.call("advance_test_clock", advance).await["outcome"], "executed");
    let expired_list = client.call("list_invoices", json!({"status": "expired"})).await;
    assert_eq!(expired_list["data"][0]["id"], id, "expired in the advance's transaction: {expired_list}");
    let late = simulate(&payment_intent_id, Some(naira(750_000)), "late-1");
    client.expect_error("simulate_payment", late, "invalid_state").await;
    let expired = get_invoice(&client, &id).await;
    assert_eq!(amount(&expired["amount_credited_to_prepaid"]), 250_000);
    assert_eq!(intent(&client, &payment_intent_id).await["status"], "canceled");
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 250_000, "no money lost: the part received is credited");
    assert_eq!(event_types(&client, &id).await.last().unwrap(), "invoice.expired");
    assert_eq!(event_types(&client, &payment_intent_id).await.last().unwrap(), "payment_intent.canceled");
    let audit = client.call("list_audit_log", json!({"limit": 100})).await;
    let record = audit["data"].as_array().unwrap().iter().find(|record| record["tool"] == "expire_invoice").unwrap();
    assert_eq!(record["actor"], "harepay", "{record}");
    client.expect_error("simulate_payment", simulate(&payment_intent_id, None, "late-2"), "invalid_state").await;
    assert_eq!(prepaid_ngn(&client, &customer_id).await, 250_000);
    expect_verified(&harepay, &client).await;
    client.close().await;
}

/// After the test clock moved a year ahead, an invoice's payment window runs on that clock: a
/// day later it is still open, two days later (its window) it is expired.
#[tokio::test]
async fn an_invoice_finalized_after_the_test_clock_moved_expires_on_that_clock() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let advance = |by: Value, key: &'static str| {
        let client = &client;
        async move {
            let arguments = json!({"by": by, "confirm": true, "idempotency_key": key});
            let advanced = client.call("advance_test_clock", arguments).await;
            assert_eq!(advanced["outcome"], "executed", "{advanced}");
            advanced["object"]["now_ms"].as_i64().unwrap()
        }
    };
    let year_later_ms = advance(json!("annual"), "clock-year").await;
    let customer_id = create_customer(&client, "ada@example.com").await;
    let lines = json!([line("Design work", json!(1), json!(500_000))]);
    let mut arguments = create_arguments(&customer_id, "NGN", lines, "inv-1");
    arguments["expires_in"] = json!(2 * 86_400_000);
    let id = client.call("create_invoice", arguments).await["object"]["id"].as_str().unwrap().to_owned();
    let open = finalize(&client, &id).await;
    let finalized_at_ms = open["finalized_at_ms"].as_i64().unwrap();
    assert!(finalized_at_ms >= year_later_ms, "finalized on the test clock: {open}");
    assert_eq!(open["expires_at_ms"].as_i64().unwrap(), finalized_at_ms + 2 * 86_400_000);

    advance(json!({"unit": "day", "count": 1}), "clock-day-1").await;
    assert_eq!(get_invoice(&client, &id).await["status"], "open", "a day of its two has passed");
    advance(json!({"unit": "day", "count": 1}), "clock-day-2").await;
    let expired = get_invoice(&client, &id).await;
    assert_eq!(expired["status"], "expired", "{expired}");
    assert_eq!(event_types(&client, &id).await.last().unwrap(), "invoice.expired");
    expect_verified(&harepay, &client).await;
    client.close().await;
}

/// The expiry sweep judges a test-mode invoice on its merchant's test clock, and a live one of
/// the same merchant on real time (through the app with an injected clock).
#[tokio::test]
async fn the_expiry_sweep_judges_test_mode_invoices_on_the_merchants_test_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("clock.db"));
    let hour_ms = 60 * 60 * 1000;
    let invoices = crate::backend::blocking(|| {
        let mut ids = SequentialIds::default();
        let mut session = store.begin_write().unwrap();
        let mut invoices = Vec::new();
        for mode in [Mode::Test, Mode::Live] {
            let scope = Scope { merchant_id: "mch_clock".into(), mode };
            let request =
                NewCustomer { email: "ada@example.com".into(), name: None, phone: None, metadata: BTreeMap::new() };
            let customer_id = format!("cus_{}", mode.code());
            session
                .insert_customer(&customer::create_customer(&scope, request, customer_id.clone(), 0).unwrap())
                .unwrap();
            let request = NewInvoice {
                customer_id,
                currency: Asset::lookup("NGN").unwrap(),
                lines: vec![NewInvoiceLine {
                    description: "x".into(),
                    quantity: 1,
                    unit_amount_minor: 100,
                    price_id: None,
                }],
                due_date_ms: 24 * hour_ms,
                expires_in_ms: Some(hour_ms),
                subscription_id: None,
                metadata: BTreeMap::new(),
            };
            let draft = invoice::create_invoice(&scope, request, &mut ids, 0).unwrap();
            let open = invoice::finalize_invoice(&draft, 0).unwrap();
            session.insert_invoice(&open).unwrap();
            invoices.push((scope, open.id.clone()));
        }
        session.set_test_clock_offset("mch_clock", 2 * hour_ms, 0).unwrap();
        session.commit().unwrap();
        invoices
    });

    // Real time is half an hour: nothing is due on real time, the test invoice is on the clock.
    let clock = Arc::new(ManualClock(AtomicI64::new(hour_ms / 2)));
    crate::backend::blocking(|| {
        let read = store.begin_read().unwrap();
        let due = read.expired_invoices(hour_ms / 2, 10).unwrap();
        assert_eq!(due.iter().map(|step| step.object_id.as_str()).collect::<Vec<_>>(), [invoices[0].1.as_str()]);
    });
    let app = App::with_store(store.clone(), PaymentRules::default(), clock, Box::new(SequentialIds::default()));
    let report = app.run_scheduled_work(&RetryPolicy::default()).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    crate::backend::blocking(|| {
        let read = store.begin_read().unwrap();
        let status = |index: usize| read.get_invoice(&invoices[index].0, &invoices[index].1).unwrap().unwrap().status;
        assert_eq!((status(0), status(1)), (InvoiceStatus::Expired, InvoiceStatus::Open));
        assert!(read.verify_ledger(None).unwrap().is_sound());
    });
}

/// Sums `total`, `amount_paid` and `amount_remaining` and counts by (status, currency) over
/// every page of `list_invoices` with `filter`.
async fn sums_over_the_list(client: &Client, filter: Value) -> BTreeMap<(String, String), (i64, i64, i64, i64)> {
    let mut sums = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut arguments = filter.clone();
        arguments["limit"] = json!(2);
        if let Some(cursor) = &cursor {
            arguments["starting_after"] = json!(cursor);
        }
        let page = client.call("list_invoices", arguments).await;
        for invoice in page["data"].as_array().unwrap() {
            let key =
                (invoice["status"].as_str().unwrap().to_owned(), invoice["currency"].as_str().unwrap().to_owned());
            let entry: &mut (i64, i64, i64, i64) = sums.entry(key).or_default();
            entry.0 += 1;
            entry.1 += amount(&invoice["total"]);
            entry.2 += amount(&invoice["amount_paid"]);
            entry.3 += amount(&invoice["amount_remaining"]);
        }
        match page["next_starting_after"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return sums,
        }
    }
}

async fn totals(client: &Client, arguments: Value) -> BTreeMap<(String, String), (i64, i64, i64, i64)> {
    let totals = client.call("invoice_totals", arguments).await;
    let mut by_key = BTreeMap::new();
    let mut count = 0;
    for row in totals["totals"].as_array().unwrap() {
        let key = (row["status"].as_str().unwrap().to_owned(), row["currency"].as_str().unwrap().to_owned());
        let sums = (
            row["count"].as_i64().unwrap(),
            amount(&row["total"]),
            amount(&row["amount_paid"]),
            amount(&row["amount_remaining"]),
        );
        count += sums.0;
        by_key.insert(key, sums);
    }
    assert_eq!(totals["invoice_count"].as_i64().unwrap(), count, "{totals}");
    by_key
}

#[tokio::test]
async fn totals_equal_a_sum_over_the_list_and_the_filters_hold() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let ada = create_customer(&client, "ada@example.com").await;
    let bola = create_customer(&client, "bola@example.com").await;
    create_invoice(&client, &ada, "NGN", 10_000, "draft-ada").await;
    create_invoice(&client, &bola, "USD", 2_000, "draft-bola-usd").await;
    let open_ada = create_invoice(&client, &ada, "NGN", 50_000, "open-ada").await;
    finalize(&client, &open_ada).await;
    let partly = create_invoice(&client, &bola, "NGN", 80_000, "partly-bola").await;
    finalize(&client, &partly).await;
    let partly_intent = pay(&client, &partly, "pay-partly").await;
    client.call("simulate_payment", simulate(&partly_intent, Some(naira(30_000)), "part-partly")).await;
    let paid = create_invoice(&client, &ada, "NGN", 20_000, "paid-ada").await;
    finalize(&client, &paid).await;
    let paid_intent = pay(&client, &paid, "pay-paid").await;
    client.call("simulate_payment", simulate(&paid_intent, Some(naira(25_000)), "over-paid")).await;
    let voided = create_invoice(&client, &bola, "NGN", 4_000, "void-bola").await;
    client.call("void_invoice", json!({"id": voided, "confirm": true, "idempotency_key": "void-bola-1"})).await;

    let all = totals(&client, json!({})).await;
    assert_eq!(all, sums_over_the_list(&client, json!({})).await);
    assert_eq!(all[&("open".to_owned(), "NGN".to_owned())], (2, 130_000, 30_000, 100_000));
    assert_eq!(all[&("paid".to_owned(), "NGN".to_owned())], (1, 20_000, 25_000, 0));
    assert_eq!(all.values().map(|sums| sums.0).sum::<i64>(), 6);
    for customer_id in [&ada, &bola] {
        let filter = json!({"customer_id": customer_id});
        assert_eq!(totals(&client, filter.clone()).await, sums_over_the_list(&client, filter).await);
    }

    let listed = |arguments: Value| {
        let client = &client;
        async move {
            let page = client.call("list_invoices", arguments).await;
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|invoice| invoice["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(json!({"status": "open", "customer_id": bola})).await, [partly.as_str()]);
    assert_eq!(listed(json!({"status": "paid"})).await, [paid.as_str()]);
    assert_eq!(listed(json!({"status": "void"})).await, [voided.as_str()]);
    assert_eq!(listed(json!({"customer_id": ada})).await.len(), 3);
    let error = client.call_error("list_invoices", json!({"status": "unpaid"})).await;
    assert_eq!((error["type"].as_str(), error["param"].as_str()), (Some("invalid_request"), Some("status")), "{error}");
    let error = client.call_error("list_invoices", json!({"starting_after": "inv_nope"})).await;
    assert_eq!(error["param"], "starting_after");
    client.expect_error("invoice_totals", json!({"customer_id": "pi_1"}), "invalid_request").await;
    client.close().await;
}

#[tokio::test]
async fn another_merchants_and_the_other_modes_invoices_are_not_found() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let (customer_id, id) = open_invoice(&client, "ada@example.com", 10_000).await;
    let live = harepay.connect(&harepay.create_key(&["--mode", "live", "--owner", "ops"])).await;
    let other = harepay.connect(&harepay.create_key(&["--owner", "mallory", "--new-merchant", "Mallory's shop"])).await;
    for outsider in [&live, &other] {
        outsider.expect_error("get_invoice", json!({"id": id}), "not_found").await;
        let finalize = json!({"id": id, "confirm": true, "idempotency_key": "f-1"});
        outsider.expect_error("finalize_invoice", finalize, "not_found").await;
        outsider
            .expect_error("void_invoice", json!({"id": id, "confirm": true, "idempotency_key": "v-1"}), "not_found")
            .await;
        outsider.expect_error("pay_invoice", pay_arguments(&id, "p-1"), "not_found").await;
        assert_eq!(outsider.call("list_invoices", json!({})).await["data"], json!([]));
        assert_eq!(outsider.call("list_invoices", json!({"customer_id": customer_id})).await["data"], json!([]));
        assert_eq!(outsider.call("invoice_totals", json!({})).await["invoice_count"], 0);
        let lines = json!([line("Stolen", json!(1), json!(100))]);
        outsider.expect_error("create_invoice", create_arguments(&customer_id, "NGN", lines, "c-1"), "not_found").await;
    }
    assert_eq!(get_invoice(&client, &id).await["status"], "open", "nothing an outsider did changed it");
    live.close().await;
    other.close().await;
    client.close().await;
}

#[tokio::test]
async fn malformed_oversized_and_overflowing_invoices_are_refused_and_store_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer_id = create_customer(&client, "ada@example.com").await;
    let create = |lines: Value, currency: &str, key: &str| create_arguments(&customer_id, currency, lines, key);
    let expect_param = |lines: Value, error_type: &'static str, param: &'static str| {
        let client = &client;
        let arguments = create(lines, "NGN", "attack");
        async move {
            let error = client.call_error("create_invoice", arguments.clone()).await;
            assert_eq!((error["type"].as_str(), error["param"].as_str()), (Some(error_type), Some(param)), "{error}");
            assert!(error["message"].as_str().unwrap().chars().count() <= 2_000, "bounded message");
        }
    };
    // 2,000 lines: refused by the input schema's maxItems before anything runs.
    let two_thousand: Vec<Value> = (0..2_000).map(|_| line("x", json!(1), json!(1))).collect();
    let error = client.call_error("create_invoice", create(json!(two_thousand), "NGN", "many")).await;
    assert_eq!(error["type"], "invalid_request", "{error}");
    // 10,000 lines: over the transport's count of JSON values, answered with a protocol error
    // before rmcp parses it; the server goes on serving.
    let ten_thousand: Vec<Value> = (0..10_000).map(|_| line("x", json!(1), json!(1))).collect();
    let mut raw = raw_session(&harepay);
    raw.initialize("invoice-attack").unwrap();
    raw.send_call("create_invoice", &create(json!(ten_thousand), "NGN", "many-raw")).unwrap();
    let answer = raw.receive().unwrap();
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    let id = raw.send_call("list_invoices", &json!({})).unwrap();
    assert_eq!(raw.response(id).unwrap()["result"]["structuredContent"]["data"], json!([]));
    raw.kill();
    let hundred_and_one: Vec<Value> = (0..101).map(|_| line("x", json!(1), json!(1))).collect();
    expect_param(json!(hundred_and_one), "invalid_request", "line_items").await;
    expect_param(json!([]), "invalid_request", "line_items").await;
    let long = "₦".repeat(100_000);
    let error =
        client.call_error("create_invoice", create(json!([line(&long, json!(1), json!(1))]), "NGN", "long")).await;
    assert_eq!(error["type"], "invalid_request");
    assert!(!error["message"].as_str().unwrap().contains(&"₦".repeat(100)), "an oversized input is not echoed");
    for quantity in [json!(1.5), json!(-1), json!(0), json!("3"), json!(null), json!(1e30)] {
        expect_param(json!([line("x", quantity, json!(100))]), "invalid_request", "line_items.quantity").await;
    }
    for unit_amount in [json!(99.5), json!(-1), json!("100"), json!(AMOUNT_MAX_MINOR + 1)] {
        expect_param(json!([line("x", json!(1), unit_amount)]), "invalid_request", "line_items.unit_amount").await;
    }
    let overflowing = json!([line("x", json!(1_000_000_000_000_i64), json!(1_000_000_000))]);
    expect_param(overflowing, "amount_too_large", "line_items").await;
    let past_the_largest = json!([line("a", json!(1), json!(AMOUNT_MAX_MINOR)), line("b", json!(1), json!(1))]);
    expect_param(past_the_largest, "amount_too_large", "line_items").await;

    let unknown_customer = create_arguments("cus_nobody", "NGN", json!([line("x", json!(1), json!(1))]), "nobody");
    client.expect_error("create_invoice", unknown_customer, "not_found").await;
    let mut unknown_price = line("x", json!(1), json!(1));
    unknown_price["price_id"] = json!("price_nope");
    client.expect_error("create_invoice", create(json!([unknown_price]), "NGN", "price-1"), "not_found").await;
    let price = client
        .call(
            "create_price",
            json!({"model": "recurring", "currency": "USD", "unit_amount": 1999, "interval": "monthly", "confirm": true}),
        )
        .await;
    let mut dollar_line = line("x", json!(1), json!(1999));
    dollar_line["price_id"] = price["object"]["id"].clone();
    let error = client.call_error("create_invoice", create(json!([dollar_line.clone()]), "NGN", "price-2")).await;
    assert_eq!(
        (error["type"].as_str(), error["param"].as_str()),
        (Some("invalid_request"), Some("line_items.price_id"))
    );
    assert!(error["message"].as_str().unwrap().contains("USD"), "{error}");
    let in_dollars = client.call("create_invoice", create(json!([dollar_line]), "USD", "price-3")).await;
    assert_eq!(in_dollars["object"]["line_items"][0]["price_id"], price["object"]["id"]);
    let mut bad_expiry = create(json!([line("x", json!(1), json!(1))]), "NGN", "expiry");
    bad_expiry["expires_in"] = json!(59_999);
    client.expect_error("create_invoice", bad_expiry, "invalid_request").await;
    let mut past_due = create(json!([line("x", json!(1), json!(1))]), "NGN", "due");
    past_due["due_date"] = json!(1);
    let error = client.call_error("create_invoice", past_due).await;
    assert_eq!(error["param"], "due_date");
    client.call("delete_customer", json!({"id": customer_id, "confirm": true})).await;
    let archived = create(json!([line("x", json!(1), json!(1))]), "NGN", "archived");
    client.expect_error("create_invoice", archived, "invalid_state").await;

    let listed = client.call("list_invoices", json!({"limit": 100})).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "only the valid USD invoice was stored: {listed}");
    let events = client.call("list_events", json!({"type": "invoice.created", "limit": 100})).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    client.close().await;
}

#[tokio::test]
async fn concurrent_pay_invoice_calls_make_one_payment_intent() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let (customer_id, id) = open_invoice(&client, "ada@example.com", 100_000).await;
    let mut calls = tokio::task::JoinSet::new();
    for index in 0..8 {
        let peer = client.service.peer().clone();
        let arguments = pay_arguments(&id, &format!("pay-{index}")).as_object().cloned().unwrap();
        calls.spawn(async move {
            peer.call_tool(CallToolRequestParams::new("pay_invoice").with_arguments(arguments)).await
        });
    }
    let mut intents = std::collections::BTreeSet::new();
    let mut created = 0;
    while let Some(joined) = calls.join_next().await {
        let result = joined.expect("call task").expect("a tool result");
        let structured = result.structured_content.expect("structured");
        assert_ne!(result.is_error, Some(true), "{structured}");
        intents.insert(structured["object"]["payment_intent_id"].as_str().unwrap().to_owned());
        if structured["object"]["existing_intent"] == false {
            created += 1;
        }
    }
    assert_eq!((intents.len(), created), (1, 1), "eight concurrent calls, one intent: {intents:?}");
    let payments = client.call("list_payments", json!({"customer": customer_id})).await;
    assert_eq!(payments["data"].as_array().unwrap().len(), 1);
    client.close().await;
}

/// A flood of one merchant's expiring invoices does not delay another merchant's expiry: the
/// sweep takes merchants in turns, in bounded batches (through the app, with an injected clock).
#[tokio::test]
async fn a_flood_of_expiring_invoices_does_not_delay_another_merchants_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("flood.db"));
    let hour_ms = 60 * 60 * 1000;
    let flood_count = SCHEDULER_INVOICE_EXPIRY_BATCH_MAX_STEPS as usize + 50;
    let (flood, quiet) = (
        Scope { merchant_id: "mch_flood".into(), mode: Mode::Test },
        Scope { merchant_id: "mch_quiet".into(), mode: Mode::Live },
    );
    let quiet_invoice = crate::backend::blocking(|| {
        let mut ids = SequentialIds::default();
        let mut session = store.begin_write().unwrap();
        let mut quiet_invoice = String::new();
        for (scope, count, finalized_at_ms) in [(&flood, flood_count, 0), (&quiet, 1, 1_000)] {
            let request =
                NewCustomer { email: "ada@example.com".into(), name: None, phone: None, metadata: BTreeMap::new() };
            let customer_id = format!("cus_{}", scope.merchant_id);
            session
                .insert_customer(&customer::create_customer(scope, request, customer_id.clone(), 0).unwrap())
                .unwrap();
            for _ in 0..count {
                let request = NewInvoice {
                    customer_id: customer_id.clone(),
                    currency: Asset::lookup("NGN").unwrap(),
                    lines: vec![NewInvoiceLine {
                        description: "x".into(),
                        quantity: 1,
                        unit_amount_minor: 100,
                        price_id: None,
                    }],
                    due_date_ms: 24 * hour_ms,
                    expires_in_ms: Some(hour_ms),
                    subscription_id: None,
                    metadata: BTreeMap::new(),
                };
                let draft = invoice::create_invoice(scope, request, &mut ids, 0).unwrap();
                let open = invoice::finalize_invoice(&draft, finalized_at_ms).unwrap();
                session.insert_invoice(&open).unwrap();
                quiet_invoice = open.id.clone();
            }
        }
        session.commit().unwrap();
        quiet_invoice
    });

    let clock = Arc::new(ManualClock(AtomicI64::new(hour_ms + 1_000)));
    let app = App::with_store(store.clone(), PaymentRules::default(), clock, Box::new(SequentialIds::default()));
    let report = app.run_scheduled_work(&RetryPolicy::default()).await.unwrap();
    assert_eq!(report.steps_done, SCHEDULER_INVOICE_EXPIRY_BATCH_MAX_STEPS, "one bounded batch per tick");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    crate::backend::blocking(|| {
        let read = store.begin_read().unwrap();
        let quiet_status = read.get_invoice(&quiet, &quiet_invoice).unwrap().unwrap().status;
        assert_eq!(
            quiet_status,
            InvoiceStatus::Expired,
            "the later, quiet merchant's invoice expired in the first batch"
        );
    });
    let second = app.run_scheduled_work(&RetryPolicy::default()).await.unwrap();
    assert_eq!(second.steps_done as usize, flood_count + 1 - SCHEDULER_INVOICE_EXPIRY_BATCH_MAX_STEPS as usize);
    crate::backend::blocking(|| {
        let read = store.begin_read().unwrap();
        assert!(read.expired_invoices(hour_ms + 1_000, 10).unwrap().is_empty());
        assert!(read.verify_ledger(None).unwrap().is_sound());
    });
}
