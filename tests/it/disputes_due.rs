//! Disputes left unanswered and what a payment shows as refundable, through the real binary: the
//! scheduler closes a dispute still `needs_response` at its evidence due date as lost (postings,
//! events, an audit record by harepay, `harepay verify`), late evidence is refused, and a flood of
//! one merchant's overdue disputes does not delay another merchant's; `amount_refundable` in
//! `get_payment` and `list_payments` is exactly what `refund_payment` accepts beside an open or
//! lost dispute and beside an invoice's prepaid credit.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use harepay::app::App;
use harepay::engine::SequentialIds;
use harepay::engine::dispute::{Dispute, DisputeEvidence, DisputeReason, DisputeStatus};
use harepay::engine::ledger::{AccountKind, LedgerTransactionBuilder};
use harepay::engine::money::{Asset, Money};
use harepay::engine::principal::{Mode, Scope};
use harepay::engine::retry::RetryPolicy;
use harepay::engine::rules::PaymentRules;
use harepay::limits::SCHEDULER_OVERDUE_DISPUTE_BATCH_MAX_STEPS;
use serde_json::{Value, json};

use crate::app_layer::ManualClock;
use crate::support::{Client, Harepay, MAKER_KEY, count_events};

/// available, reserved and owed in NGN.
async fn ngn(client: &Client) -> (i64, i64, i64) {
    let balance = client.call("get_balance", json!({"asset": "NGN"})).await;
    let amount = |account: &str| balance[account]["amount"].as_i64().unwrap();
    (amount("available"), amount("reserved"), amount("owed"))
}

async fn open(client: &Client, payment_id: &str, extra: Value, key: &str) -> Value {
    let mut arguments =
        json!({"payment_intent_id": payment_id, "reason": "fraudulent", "confirm": true, "idempotency_key": key});
    arguments.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let opened = client.call("simulate_dispute", arguments).await;
    assert_eq!(opened["outcome"], "executed", "{opened}");
    opened["object"].clone()
}

/// Polls `get_dispute` until it has `status` (the scheduler ticks every 200 ms; the timeout is
/// generous for a loaded machine).
async fn wait_for_status(client: &Client, dispute_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dispute = client.call("get_dispute", json!({"id": dispute_id})).await;
        if dispute["status"] == status {
            return dispute;
        }
        assert!(Instant::now() < deadline, "{dispute_id} never became {status}: {dispute}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_verified(harepay: &Harepay) {
    let verify = harepay.cli(&["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn amount(value: &Value) -> i64 {
    value["amount"].as_i64().unwrap_or_else(|| panic!("an amount: {value}"))
}

#[tokio::test]
async fn an_unanswered_dispute_is_closed_as_lost_at_its_due_date_and_late_evidence_is_refused() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let payment = client.create_succeeded_payment(100_000, "order-1").await;
    // The simulated review would be won; nobody answers, so the due date decides: lost.
    let dispute = open(&client, &payment, json!({"evidence_due_in_ms": 1_000, "outcome": "won"}), "dispute-1").await;
    let id = dispute["id"].as_str().unwrap().to_owned();
    assert_eq!(ngn(&client).await, (0, 100_000, 500), "available covered ₦995; ₦5 is owed");

    let lost = wait_for_status(&client, &id, "lost").await;
    let due_by_ms = lost["evidence_due_by_ms"].as_i64().unwrap();
    assert!(lost["closed_at_ms"].as_i64().unwrap() >= due_by_ms, "not before its due date: {lost}");
    assert!(lost["evidence_submitted_at_ms"].is_null(), "{lost}");
    assert_eq!(ngn(&client).await, (0, 0, 500), "the amount went back to the payer; the debt stays owed");

    let events = client.call("list_events", json!({"object_id": id})).await;
    let types: Vec<&str> =
        events["data"].as_array().unwrap().iter().rev().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"]);
    let audit = client.call("list_audit_log", json!({"limit": 100})).await;
    let closes: Vec<&Value> =
        audit["data"].as_array().unwrap().iter().filter(|r| r["tool"] == "close_overdue_dispute").collect();
    assert_eq!(closes.len(), 1, "{audit}");
    assert_eq!((closes[0]["actor"].as_str(), closes[0]["object_id"].as_str()), (Some("harepay"), Some(id.as_str())));

    for (submit, key) in [(false, "late-1"), (true, "late-2")] {
        let arguments = json!({"id": id, "evidence": {"explanation": "too late"}, "submit": submit, "confirm": true, "idempotency_key": key});
        client.expect_error("submit_dispute_evidence", arguments, "evidence_past_due").await;
    }
    let unchanged = client.call("get_dispute", json!({"id": id})).await;
    assert_eq!(unchanged, lost, "the refused evidence changed nothing");

    // A new payment pays the debt back when its own unanswered dispute closes.
    let second = client.create_succeeded_payment(10_000, "order-2").await;
    let small = open(&client, &second, json!({"amount": 1_000, "evidence_due_in_ms": 1_000}), "dispute-2").await;
    wait_for_status(&client, small["id"].as_str().unwrap(), "lost").await;
    assert_eq!(ngn(&client).await, (9_950 - 1_000 - 500, 0, 0));
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    client.close().await;
    assert_verified(&harepay);
}

/// Evidence racing the due date and the scheduler: whichever the writer takes first decides,
/// never both. Either a submission got in (the review's outcome, won) and every later one is
/// refused, or none did and the dispute is lost; one close, one set of postings.
#[tokio::test]
async fn evidence_racing_the_due_date_either_answers_the_dispute_or_is_refused_never_both() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    client.fund_ngn(1_000_000, "funding").await;
    let payment = client.create_succeeded_payment(100_000, "order-1").await;
    let opened = open(&client, &payment, json!({"evidence_due_in_ms": 1_000, "outcome": "won"}), "dispute-1").await;
    let id = opened["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(850)).await;
    let submissions = (0..12).map(|n| {
        let client = &client;
        let id = id.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(25 * n)).await;
            let arguments = json!({"id": id, "evidence": {"explanation": "delivered"}, "submit": true, "confirm": true, "idempotency_key": format!("race-{n}")});
            let structured = client.call_raw("submit_dispute_evidence", arguments).await.unwrap().structured_content.unwrap();
            structured["error"]["type"].as_str().map(str::to_owned)
        }
    });
    let outcomes = futures::future::join_all(submissions).await;
    let accepted = outcomes.iter().filter(|outcome| outcome.is_none()).count();
    for refusal in outcomes.iter().flatten() {
        assert!(["evidence_past_due", "evidence_already_submitted"].contains(&refusal.as_str()), "{outcomes:?}");
    }
    assert!(accepted <= 1, "submitted once at most: {outcomes:?}");
    let expected = if accepted == 1 { "won" } else { "lost" };
    let closed = wait_for_status(&client, &id, expected).await;
    let events = client.call("list_events", json!({"object_id": id})).await;
    let closes = events["data"].as_array().unwrap().iter().filter(|e| e["type"] == "charge.dispute.closed").count();
    assert_eq!(closes, 1, "{events}");
    let (available, reserved, owed) = ngn(&client).await;
    let funded = 1_000_000 + 99_500;
    let expected_available = if accepted == 1 { funded } else { funded - 100_000 };
    assert_eq!((available, reserved, owed), (expected_available, 0, 0), "{closed}");
    client.close().await;
    assert_verified(&harepay);
}

/// `count` disputes of `scope`, each of ₦10 held wholly on `owed` (a merchant with nothing
/// available), due at `due_by_ms`, with their postings, as `simulate_dispute` would leave them.
fn insert_overdue_disputes(
    store: &dyn harepay::store::Store,
    scope: &Scope,
    count: usize,
    due_by_ms: i64,
) -> Vec<String> {
    let naira = Asset::lookup("NGN").unwrap();
    let mut session = store.begin_write().unwrap();
    let mut ids = Vec::new();
    for n in 0..count {
        let id = format!("dp_{}_{n}", scope.merchant_id);
        let dispute = Dispute {
            id: id.clone(),
            scope: scope.clone(),
            payment_intent_id: format!("pi_{}_{n}", scope.merchant_id),
            amount: Money::new(naira, 1_000).unwrap(),
            amount_owed_minor: 1_000,
            reason: DisputeReason::Fraudulent,
            status: DisputeStatus::NeedsResponse,
            evidence: DisputeEvidence::default(),
            evidence_submitted_at_ms: None,
            evidence_due_by_ms: due_by_ms,
            simulated_outcome: None,
            created_at_ms: 0,
            updated_at_ms: 0,
            closed_at_ms: None,
        };
        session.insert_dispute(&dispute).unwrap();
        let transaction = LedgerTransactionBuilder::new()
            .transfer(AccountKind::Owed, AccountKind::Reserved, naira, 1_000)
            .finish(format!("ltx_{id}"), &id, "charge.dispute.created");
        session.post_ledger_transaction(scope, &transaction, 0).unwrap();
        ids.push(id);
    }
    session.commit().unwrap();
    ids
}

/// Merchant A's flood of overdue disputes, all due earlier and more than a batch, does not delay
/// merchant B's: one batch closes B's with A's first ones, and A's drain in bounded batches, each
/// closed once (through the app, with an injected clock).
#[tokio::test]
async fn a_flood_of_one_merchants_overdue_disputes_does_not_delay_anothers() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("flood.db"));
    let batch = SCHEDULER_OVERDUE_DISPUTE_BATCH_MAX_STEPS as usize;
    let flood = Scope { merchant_id: "mch_flood".into(), mode: Mode::Test };
    let quiet = Scope { merchant_id: "mch_quiet".into(), mode: Mode::Live };
    let later = Scope { merchant_id: "mch_later".into(), mode: Mode::Test };
    let (flooded, lonely, not_yet) = crate::backend::blocking(|| {
        let flooded = insert_overdue_disputes(&*store, &flood, 2 * batch + 10, 1_000);
        let [lonely] = &insert_overdue_disputes(&*store, &quiet, 1, 5_000)[..] else { unreachable!() };
        let not_yet = insert_overdue_disputes(&*store, &later, 1, 1_000_000_000);
        (flooded, lonely.clone(), not_yet)
    });

    let clock = Arc::new(ManualClock(AtomicI64::new(10_000)));
    let app = App::with_store(store.clone(), PaymentRules::default(), clock, Box::new(SequentialIds::default()));
    let policy = RetryPolicy::default();
    let report = app.run_scheduled_work(&policy).await.unwrap();
    assert_eq!((report.steps_done as usize, report.failures.len()), (batch, 0), "one bounded batch");
    crate::backend::blocking(|| {
        let read = store.begin_read().unwrap();
        let status = |scope: &Scope, id: &str| read.get_dispute(scope, id).unwrap().unwrap().status;
        assert_eq!(status(&quiet, &lonely), DisputeStatus::Lost, "the quiet merchant's went in the first batch");
        assert_eq!(status(&flood, &flooded[0]), DisputeStatus::Lost, "with the flood's oldest");
    });
    let mut ticks = 1;
    while !crate::backend::blocking(|| store.begin_read().unwrap().overdue_disputes(10_000, 1).unwrap().is_empty()) {
        let report = app.run_scheduled_work(&policy).await.unwrap();
        assert!(report.steps_done as usize <= batch && report.failures.is_empty(), "{report:?}");
        ticks += 1;
        assert!(ticks <= 4, "the flood drains in bounded batches");
    }
    assert_eq!(ticks, 3);
    assert_eq!(app.run_scheduled_work(&policy).await.unwrap().steps_done, 0, "each closed once");
    crate::backend::blocking(|| {
        let read = store.begin_read().unwrap();
        assert!(flooded.iter().all(|id| read.get_dispute(&flood, id).unwrap().unwrap().status == DisputeStatus::Lost));
        assert_eq!(read.get_dispute(&later, &not_yet[0]).unwrap().unwrap().status, DisputeStatus::NeedsResponse);
        let balances = read.balances(&flood, &[Asset::lookup("NGN").unwrap()]).unwrap();
        assert_eq!(balances.get(AccountKind::Reserved, Asset::lookup("NGN").unwrap()), 0, "all of it went out");
        assert!(read.verify_ledger(None).unwrap().is_sound());
        let closed_events: usize = [&flood, &quiet, &later]
            .into_iter()
            .map(|scope| count_events(&*read, scope, "charge.dispute.closed"))
            .sum();
        assert_eq!(closed_events, flooded.len() + 1, "one closed event per dispute, none twice");
    });
}

async fn refundable(client: &Client, payment_id: &str) -> (i64, i64) {
    let fetched = client.call("get_payment", json!({"id": payment_id})).await;
    let listed = client.call("list_payments", json!({"limit": 100})).await;
    let in_list = listed["data"].as_array().unwrap().iter().find(|p| p["id"] == payment_id).expect("listed").clone();
    (amount(&fetched["payment_intent"]["amount_refundable"]), amount(&in_list["amount_refundable"]))
}

/// `refund_payment` previews `amount_refundable` and refuses one minor unit more.
async fn assert_refund_accepts_exactly(client: &Client, payment_id: &str, refundable_minor: i64) {
    let preview = |amount_minor: i64| json!({"id": payment_id, "amount": amount_minor});
    if refundable_minor > 0 {
        let accepted = client.call("refund_payment", preview(refundable_minor)).await;
        assert_eq!(accepted["outcome"], "preview", "{accepted}");
    }
    let refused = client.call_error("refund_payment", preview(refundable_minor + 1)).await;
    assert_eq!(refused["type"], "refund_exceeds_remaining", "{refused}");
}

#[tokio::test]
async fn amount_refundable_is_what_a_refund_accepts_beside_a_dispute() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    client.fund_ngn(10_000_000, "funding").await;
    let open_payment = client.create_succeeded_payment(100_000, "order-1").await;
    let lost_payment = client.create_succeeded_payment(100_000, "order-2").await;
    let won_payment = client.create_succeeded_payment(100_000, "order-3").await;
    assert_eq!(refundable(&client, &open_payment).await, (100_000, 100_000));

    open(&client, &open_payment, json!({"amount": 30_000}), "dispute-open").await;
    assert_eq!(refundable(&client, &open_payment).await, (70_000, 70_000), "an open dispute holds its amount");
    assert_refund_accepts_exactly(&client, &open_payment, 70_000).await;

    let lost = open(&client, &lost_payment, json!({"amount": 40_000, "outcome": "lost"}), "dispute-lost").await;
    let submit = json!({"id": lost["id"], "evidence": {"explanation": "x"}, "submit": true, "confirm": true, "idempotency_key": "ev-lost"});
    assert_eq!(client.call("submit_dispute_evidence", submit).await["object"]["status"], "lost");
    assert_eq!(refundable(&client, &lost_payment).await, (60_000, 60_000), "a lost dispute gave its amount back");
    assert_refund_accepts_exactly(&client, &lost_payment, 60_000).await;

    let won = open(&client, &won_payment, json!({"amount": 40_000}), "dispute-won").await;
    let submit = json!({"id": won["id"], "evidence": {"explanation": "x"}, "submit": true, "confirm": true, "idempotency_key": "ev-won"});
    assert_eq!(client.call("submit_dispute_evidence", submit).await["object"]["status"], "won");
    assert_eq!(refundable(&client, &won_payment).await, (100_000, 100_000), "a won dispute holds nothing");
    assert_refund_accepts_exactly(&client, &won_payment, 100_000).await;

    // After a partial refund the answer of refund_payment itself says what remains.
    let refunded = client
        .call(
            "refund_payment",
            json!({"id": open_payment, "amount": 20_000, "confirm": true, "idempotency_key": "refund-1"}),
        )
        .await;
    assert_eq!(amount(&refunded["object"]["payment_intent"]["amount_refundable"]), 50_000, "{refunded}");
    assert_eq!(refundable(&client, &open_payment).await, (50_000, 50_000));
    client.close().await;
    assert_verified(&harepay);
}

#[tokio::test]
async fn amount_refundable_leaves_out_what_an_invoice_passed_to_prepaid() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    client.fund_ngn(10_000_000, "funding").await;
    let customer = client.call("create_customer", json!({"email": "ada@example.com", "confirm": true})).await;
    let customer_id = customer["object"]["id"].as_str().unwrap().to_owned();
    let lines = json!([{"description": "Design work", "quantity": 1, "unit_amount": 100_000}]);
    let created = client
        .call(
            "create_invoice",
            json!({"customer_id": customer_id, "currency": "NGN", "line_items": lines, "confirm": true, "idempotency_key": "inv-1"}),
        )
        .await;
    let invoice_id = created["object"]["id"].as_str().unwrap().to_owned();
    client.call("finalize_invoice", json!({"id": invoice_id, "confirm": true, "idempotency_key": "fin-1"})).await;
    let paid = client
        .call(
            "pay_invoice",
            json!({"id": invoice_id, "method": "bank_transfer", "rail": "rubies", "confirm": true, "idempotency_key": "pay-1"}),
        )
        .await;
    let payment_id = paid["object"]["payment_intent_id"].as_str().unwrap().to_owned();
    let simulate = json!({"id": payment_id, "outcome": "succeeded", "confirm": true,
        "amount": {"amount": 150_000, "currency": "NGN"}, "idempotency_key": "sim-1"});
    let simulated = client.call("simulate_payment", simulate).await;
    assert_eq!(amount(&simulated["object"]["amount_refundable"]), 100_000, "{simulated}");
    let invoice = client.call("get_invoice", json!({"id": invoice_id})).await;
    assert_eq!(amount(&invoice["amount_credited_to_prepaid"]), 50_000, "the excess is the customer's credit");

    assert_eq!(refundable(&client, &payment_id).await, (100_000, 100_000), "150,000 received, 50,000 of it credit");
    assert_refund_accepts_exactly(&client, &payment_id, 100_000).await;
    open(&client, &payment_id, json!({"amount": 25_000}), "dispute-1").await;
    assert_eq!(refundable(&client, &payment_id).await, (75_000, 75_000), "the credit and the dispute together");
    assert_refund_accepts_exactly(&client, &payment_id, 75_000).await;
    client.close().await;
    assert_verified(&harepay);
}
