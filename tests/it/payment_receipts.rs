//! What the payer actually sends, and payment intents that expire: partial and over-payments
//! through `simulate_payment`, `expires_in_ms` and the scheduler's expiry sweep, attacked with
//! bad amounts, replays, floods and a payment racing its own expiry. Through the real binary
//! where time may be real, through the app with an injected clock where it must be exact.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use harepay::app::App;
use harepay::engine::SequentialIds;
use harepay::engine::ledger::AccountKind;
use harepay::engine::money::Asset;
use harepay::engine::payment::{self, NewPaymentIntent, PaymentIntent, PaymentMethod, PaymentStatus};
use harepay::engine::principal::{Mode, Principal, Scope};
use harepay::engine::rail::Rail;
use harepay::engine::retry::RetryPolicy;
use harepay::engine::rules::PaymentRules;
use harepay::limits::{PAYMENT_RECEIVED_MAX_MULTIPLE, SCHEDULER_PAYMENT_EXPIRY_BATCH_MAX_STEPS};
use harepay::ops::payments::simulate_payment::{SimulatePaymentCommand, SimulatedOutcome};
use harepay::store::{PageRequest, PaymentFilter};
use serde_json::{Value, json};

use crate::app_layer::{ManualClock, ngn, tool_write, write};
use crate::support::{Client, Harepay, MAKER_KEY, count_events};

fn simulate(id: &str, amount: Option<Value>, key: &str) -> Value {
    let mut arguments = json!({"id": id, "outcome": "succeeded", "confirm": true, "idempotency_key": key});
    if let Some(amount) = amount {
        arguments["amount"] = amount;
    }
    arguments
}

fn naira(amount_minor: i64) -> Value {
    json!({"amount": amount_minor, "currency": "NGN"})
}

async fn payment(client: &Client, id: &str) -> Value {
    client.call("get_payment", json!({"id": id})).await["payment_intent"].clone()
}

async fn event_types(client: &Client, id: &str) -> Vec<String> {
    let events = client.call("list_events", json!({"object_id": id, "limit": 100})).await;
    let mut types: Vec<String> =
        events["data"].as_array().unwrap().iter().map(|event| event["type"].as_str().unwrap().to_owned()).collect();
    types.reverse();
    types
}

async fn assert_ledger_sound(client: &Client) {
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
}

/// Polls `condition` every 100 ms until it holds; fails after `timeout`.
async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_partial_payments_wait_in_pending_and_the_rest_settles_what_was_received() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = client.create_payment(1_000_000, "order-1").await;

    let first = client.call("simulate_payment", simulate(&id, Some(naira(300_000)), "pay-1")).await;
    let intent = &first["object"];
    assert_eq!(intent["status"], "partially_paid", "{first}");
    assert_eq!(intent["amount_received"]["amount"], 300_000);
    assert_eq!(intent["next_action"]["type"], "bank_transfer", "the payer keeps the instructions for the rest");
    assert!(first["message"].as_str().unwrap().contains("₦3,000.00 received of ₦10,000.00"), "{first}");
    assert_eq!(client.balance("NGN").await, (0, 300_000, 0), "held in pending, not credited");
    assert_ledger_sound(&client).await;

    let second = client.call("simulate_payment", simulate(&id, Some(naira(200_000)), "pay-2")).await;
    assert_eq!(second["object"]["status"], "partially_paid");
    assert_eq!(second["object"]["amount_received"]["amount"], 500_000);
    let partial_list = client.call("list_payments", json!({"status": "partially_paid"})).await;
    assert_eq!(partial_list["data"][0]["id"], json!(id));

    // No amount: exactly what remains.
    let rest = client.call("simulate_payment", simulate(&id, None, "pay-3")).await;
    let intent = &rest["object"];
    assert_eq!(intent["status"], "succeeded", "{rest}");
    assert_eq!(intent["amount_received"]["amount"], 1_000_000);
    assert_eq!(intent["fee"]["amount"], 5_000, "the fee fixed at creation: the amount arrived exactly");
    assert_eq!(client.balance("NGN").await, (995_000, 0, 0));
    assert_eq!(
        event_types(&client, &id).await,
        [
            "payment_intent.created",
            "payment_intent.partially_paid",
            "payment_intent.partially_paid",
            "payment_intent.processing",
            "payment_intent.succeeded"
        ]
    );
    assert_ledger_sound(&client).await;
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn an_over_payment_is_credited_whole_with_the_fee_on_what_was_received() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = client.create_payment(1_000_000, "order-1").await;
    let paid = client.call("simulate_payment", simulate(&id, Some(naira(1_500_000)), "pay-1")).await;
    let intent = &paid["object"];
    assert_eq!(intent["status"], "succeeded", "{paid}");
    assert_eq!(intent["amount_received"]["amount"], 1_500_000);
    assert_eq!(intent["fee"]["amount"], 7_500, "0.5% of what was received, by the rail's pricing");
    assert_eq!(intent["net"]["amount"], 1_492_500);
    assert!(paid["message"].as_str().unwrap().contains("over-payment"), "{paid}");
    assert_eq!(client.balance("NGN").await, (1_492_500, 0, 0));
    let types = event_types(&client, &id).await;
    assert_eq!(types[types.len() - 2..], ["payment_intent.succeeded", "payment_intent.overpaid"]);
    let overpaid = client.call("list_events", json!({"type": "payment_intent.overpaid"})).await;
    assert_eq!(overpaid["data"][0]["data"]["amount_received"]["amount"], 1_500_000);
    // The excess can be given back like any credited money.
    let refund =
        json!({"id": id, "amount": 500_000, "reason": "over-payment", "confirm": true, "idempotency_key": "re-1"});
    assert_eq!(client.call("refund_payment", refund).await["outcome"], "executed");
    assert_eq!(client.available("NGN").await, 992_500);
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn simulated_amounts_that_are_zero_negative_fractional_foreign_or_huge_change_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = client.create_payment(100_000, "order-1").await;
    let attacks = [
        (json!({"amount": 0, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": -5, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 1.5, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 100.0, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": "100", "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 1e30, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 9_007_199_254_740_992_i64, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": i64::MAX, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 100_000 * PAYMENT_RECEIVED_MAX_MULTIPLE + 1, "currency": "NGN"}), "amount.amount"),
        (json!({"amount": 100, "currency": "USD"}), "amount.currency"),
        (json!({"amount": 100, "currency": "XYZ"}), "amount.currency"),
        (json!({"amount": 100}), "amount"),
        (json!({"amount": 100, "currency": "NGN", "network": "TRON"}), "amount"),
        (json!(100), "amount"),
    ];
    for (index, (amount, param)) in attacks.iter().enumerate() {
        let error =
            client.call_error("simulate_payment", simulate(&id, Some(amount.clone()), &format!("a-{index}"))).await;
        assert_eq!(error["type"], "invalid_request", "{amount}: {error}");
        let named = error["param"].as_str().unwrap_or_default();
        assert!(named.starts_with(param), "{amount}: param {named:?}, expected {param}: {error}");
        assert!(error["message"].as_str().unwrap().chars().count() <= 500, "{error}");
    }
    let failed_with_amount =
        json!({"id": id, "outcome": "failed", "amount": naira(100), "confirm": true, "idempotency_key": "f"});
    assert_eq!(client.call_error("simulate_payment", failed_with_amount).await["param"], "amount");
    let intent = payment(&client, &id).await;
    assert_eq!(
        (intent["status"].as_str(), intent["amount_received"]["amount"].as_i64()),
        (Some("requires_action"), Some(0))
    );
    assert_eq!(client.balance("NGN").await, (0, 0, 0));
    assert_eq!(event_types(&client, &id).await, ["payment_intent.created"]);

    // The bound itself is accepted: ten times the amount, credited whole.
    let most = client
        .call("simulate_payment", simulate(&id, Some(naira(100_000 * PAYMENT_RECEIVED_MAX_MULTIPLE)), "most"))
        .await;
    assert_eq!(most["object"]["status"], "succeeded");
    // A settled payment receives nothing more.
    let again = client.call_error("simulate_payment", simulate(&id, Some(naira(1)), "again")).await;
    assert_eq!(again["type"], "invalid_state", "{again}");
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn expires_in_ms_is_bounded_and_shown_as_expires_at_ms() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let create = |expires_in_ms: Value| {
        json!({
            "amount": {"amount": 100_000, "currency": "NGN"},
            "method": "bank_transfer",
            "rail": "rubies",
            "expires_in_ms": expires_in_ms,
            "confirm": true,
            "idempotency_key": format!("order-{expires_in_ms}"),
        })
    };
    for bad in [
        json!(0),
        json!(-1),
        json!(999),
        json!(2_592_000_001_i64),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e30),
        json!(1500.5),
        json!("1000"),
        json!(true),
        json!({"ms": 1000}),
    ] {
        let error = client.call_error("create_payment_intent", create(bad.clone())).await;
        assert_eq!(error["type"], "invalid_request", "{bad}: {error}");
        assert_eq!(error["param"], "expires_in_ms", "{bad}: {error}");
    }
    assert_eq!(client.payment_count().await, 0);
    for good in [1_000_i64, 2_592_000_000] {
        let created = client.call("create_payment_intent", create(json!(good))).await;
        let intent = &created["object"];
        assert_eq!(intent["expires_at_ms"].as_i64().unwrap() - intent["created_at_ms"].as_i64().unwrap(), good);
        assert!(created["message"].as_str().unwrap().contains("expires at"), "{created}");
    }
    let no_expiry = client.create_payment(100_000, "order-none").await;
    assert_eq!(payment(&client, &no_expiry).await["expires_at_ms"], Value::Null);
    client.close().await;
}

#[tokio::test]
async fn a_half_paid_intent_expires_on_time_and_gives_back_what_it_received() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let created = client
        .call(
            "create_payment_intent",
            json!({
                "amount": {"amount": 1_000_000, "currency": "NGN"},
                "method": "bank_transfer",
                "rail": "rubies",
                "expires_in_ms": 3_000,
                "confirm": true,
                "idempotency_key": "order-1",
            }),
        )
        .await;
    let id = created["object"]["id"].as_str().unwrap().to_owned();
    let expires_at_ms = created["object"]["expires_at_ms"].as_i64().unwrap();
    let partial = client.call("simulate_payment", simulate(&id, Some(naira(400_000)), "pay-1")).await;
    assert_eq!(partial["object"]["status"], "partially_paid");
    assert_eq!(client.balance("NGN").await, (0, 400_000, 0));

    wait_until(Duration::from_secs(30), "the sweep to expire the intent", || async {
        payment(&client, &id).await["status"] == "expired"
    })
    .await;
    let intent = payment(&client, &id).await;
    assert!(intent["updated_at_ms"].as_i64().unwrap() >= expires_at_ms, "expired before its time: {intent}");
    assert_eq!(intent["next_action"], Value::Null, "the instructions are withdrawn");
    assert_eq!(intent["amount_received"]["amount"], 400_000, "the receipt stays on record");
    assert_eq!(client.balance("NGN").await, (0, 0, 0), "what it received went back to the payer");
    assert_eq!(event_types(&client, &id).await.last().unwrap(), "payment_intent.expired");
    let audit = client.call("list_audit_log", json!({"limit": 10})).await;
    let record = audit["data"].as_array().unwrap().iter().find(|record| record["tool"] == "expire_payment").unwrap();
    assert_eq!(record["actor"], "harepay", "{record}");
    assert!(record["detail"].as_str().unwrap().contains("₦4,000.00"), "{record}");
    // Settling after the expiry is refused and moves nothing; so is canceling.
    let late = client.call_error("simulate_payment", simulate(&id, None, "pay-late")).await;
    assert_eq!(late["type"], "invalid_state", "{late}");
    client.expect_error("cancel_payment_intent", json!({"id": id, "confirm": true}), "invalid_state").await;
    let expired = client.call("list_payments", json!({"status": "expired"})).await;
    assert_eq!(expired["data"].as_array().unwrap().len(), 1);
    assert_ledger_sound(&client).await;
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn canceling_a_partially_paid_intent_gives_back_what_it_received() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = client.create_payment(1_000_000, "order-1").await;
    client.call("simulate_payment", simulate(&id, Some(naira(250_000)), "pay-1")).await;
    let preview = client.call("cancel_payment_intent", json!({"id": id})).await;
    assert_eq!(preview["balance_changes"][0]["account"], "pending", "{preview}");
    assert_eq!(preview["balance_changes"][0]["after"]["amount"], 0, "{preview}");
    let canceled = client.call("cancel_payment_intent", json!({"id": id, "confirm": true})).await;
    assert_eq!(canceled["object"]["status"], "canceled");
    assert_eq!(client.balance("NGN").await, (0, 0, 0));
    assert_ledger_sound(&client).await;
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn a_replayed_partial_payment_is_received_once() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = client.create_payment(1_000_000, "order-1").await;
    let first = client.call("simulate_payment", simulate(&id, Some(naira(300_000)), "pay-1")).await;
    let replay = client.call("simulate_payment", simulate(&id, Some(naira(300_000)), "pay-1")).await;
    assert_eq!((first["outcome"].as_str(), replay["outcome"].as_str()), (Some("executed"), Some("replayed")));
    assert_eq!(first["object"], replay["object"]);
    assert_eq!(payment(&client, &id).await["amount_received"]["amount"], 300_000, "received once");
    assert_eq!(client.balance("NGN").await, (0, 300_000, 0));
    client
        .expect_error("simulate_payment", simulate(&id, Some(naira(400_000)), "pay-1"), "idempotency_key_reused")
        .await;
    // Twenty at once with one key: one receipt.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let peer = client.service.peer().clone();
        let arguments = simulate(&id, Some(naira(100_000)), "pay-burst").as_object().cloned().unwrap();
        calls.spawn(async move {
            peer.call_tool(rmcp::model::CallToolRequestParams::new("simulate_payment").with_arguments(arguments)).await
        });
    }
    let mut executed = 0;
    while let Some(result) = calls.join_next().await {
        let result = result.unwrap().expect("tools/call");
        let structured = result.structured_content.unwrap();
        if result.is_error == Some(true) {
            assert_eq!(structured["error"]["type"], "idempotency_key_in_use", "{structured}");
        } else if structured["outcome"] == "executed" {
            executed += 1;
        }
    }
    assert_eq!(executed, 1);
    assert_eq!(payment(&client, &id).await["amount_received"]["amount"], 400_000);
    assert_eq!(event_types(&client, &id).await.iter().filter(|t| *t == "payment_intent.partially_paid").count(), 2);
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn a_crypto_intent_paid_in_pieces_credits_naira_at_its_locked_rate() {
    let harepay = Harepay::new();
    let client = harepay.connect_env(MAKER_KEY, &[("HAREPAY_FX_RATES", "USDC/NGN=1550.25")]).await;
    let created = client
        .call(
            "create_payment_intent",
            json!({
                "amount": {"amount": 100_000_000, "currency": "USDC", "network": "TRON"},
                "settle_as": {"currency": "NGN"},
                "method": "crypto",
                "rail": "partna",
                "confirm": true,
                "idempotency_key": "crypto-1",
            }),
        )
        .await;
    let id = created["object"]["id"].as_str().unwrap().to_owned();
    // Paying the settlement currency is refused: the payer sends USDC.
    let naira_paid = client.call_error("simulate_payment", simulate(&id, Some(naira(1_000)), "wrong")).await;
    assert_eq!(naira_paid["param"], "amount.currency", "{naira_paid}");
    let part = json!({"amount": 33_333_333, "currency": "USDC"});
    let partial = client.call("simulate_payment", simulate(&id, Some(part), "part")).await;
    assert_eq!(partial["object"]["status"], "partially_paid");
    let credited_minor = (15_502_500_i128 * 33_333_333 / 100_000_000) as i64;
    assert_eq!(client.balance("NGN").await, (0, credited_minor, 0));
    client.call("simulate_payment", simulate(&id, None, "rest")).await;
    // In pieces or at once, the credit is the locked settlement; partna takes 1%.
    assert_eq!(client.balance("NGN").await, (15_502_500 - 155_025, 0, 0));
    assert_eq!(client.balance("USDC").await, (0, 0, 0));
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

/// Payments sent while their intents expire: each intent ends either succeeded (its payment came
/// first) or expired (the expiry came first, and the payment was refused), never both, and the
/// ledger holds exactly the succeeded ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_racing_their_expiry_either_settle_or_expire_never_both() {
    const INTENTS: usize = 16;
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let mut ids = Vec::new();
    let started = Instant::now();
    for index in 0..INTENTS {
        let created = client
            .call(
                "create_payment_intent",
                json!({
                    "amount": {"amount": 100_000 + index as i64, "currency": "NGN"},
                    "method": "bank_transfer",
                    "rail": "rubies",
                    "expires_in_ms": 1_000,
                    "confirm": true,
                    "idempotency_key": format!("order-{index}"),
                }),
            )
            .await;
        ids.push(created["object"]["id"].as_str().unwrap().to_owned());
    }
    // Fire the payments around the expiries, spread over 800 ms across the moment they lapse.
    let fire_at = Duration::from_millis(700).saturating_sub(started.elapsed());
    tokio::time::sleep(fire_at).await;
    let mut calls = tokio::task::JoinSet::new();
    for (index, id) in ids.iter().enumerate() {
        let peer = client.service.peer().clone();
        let arguments = simulate(id, None, &format!("pay-{index}")).as_object().cloned().unwrap();
        let id = id.clone();
        calls.spawn(async move {
            tokio::time::sleep(Duration::from_millis(50 * index as u64)).await;
            let result = peer
                .call_tool(rmcp::model::CallToolRequestParams::new("simulate_payment").with_arguments(arguments))
                .await
                .expect("tools/call");
            (id, result)
        });
    }
    let mut paid = std::collections::BTreeSet::new();
    while let Some(joined) = calls.join_next().await {
        let (id, result) = joined.unwrap();
        let structured = result.structured_content.unwrap();
        if result.is_error == Some(true) {
            assert_eq!(structured["error"]["type"], "invalid_state", "{structured}");
            assert!(structured["error"]["message"].as_str().unwrap().contains("expired"), "{structured}");
        } else {
            assert_eq!(structured["object"]["status"], "succeeded", "{structured}");
            paid.insert(id);
        }
    }
    wait_until(Duration::from_secs(30), "every unpaid intent to expire", || async {
        let waiting = client.call("list_payments", json!({"status": "requires_action", "limit": 100})).await;
        waiting["data"].as_array().unwrap().is_empty()
    })
    .await;
    let mut net_minor = 0;
    for id in &ids {
        let intent = payment(&client, id).await;
        let types = event_types(&client, id).await;
        if paid.contains(id) {
            assert_eq!(intent["status"], "succeeded", "{intent}");
            assert!(!types.contains(&"payment_intent.expired".to_owned()), "{id}: {types:?}");
            net_minor += intent["net"]["amount"].as_i64().unwrap();
        } else {
            assert_eq!(intent["status"], "expired", "{intent}");
            assert_eq!(types, ["payment_intent.created", "payment_intent.expired"], "{id}");
        }
    }
    assert_eq!(client.balance("NGN").await, (net_minor, 0, 0));
    assert_ledger_sound(&client).await;
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

/// A database from before version 10 (no `amount_received_minor`, no expiry): its completed
/// payments received exactly their amount, so they refund and display as before.
#[tokio::test]
async fn a_database_from_before_receipts_keeps_its_completed_payments_whole() {
    if crate::backend::skip_on_postgres(
        "a SQLite file from before migration 10; PostgreSQL's schema starts at the current version",
    ) {
        return;
    }
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let settled = client.create_succeeded_payment(1_000_000, "order-1").await;
    let waiting = client.create_payment(500_000, "order-2").await;
    client.close().await;
    let connection = rusqlite::Connection::open(&harepay.db).unwrap();
    connection
        .execute_batch(
            "DROP INDEX payment_intents_expiring; \
             ALTER TABLE payment_intents DROP COLUMN amount_received_minor; \
             ALTER TABLE payment_intents DROP COLUMN expires_at_ms; \
             DELETE FROM schema_migrations WHERE version = 10;",
        )
        .unwrap();
    drop(connection);

    let client = harepay.connect(MAKER_KEY).await;
    let upgraded = payment(&client, &settled).await;
    assert_eq!(upgraded["amount_received"]["amount"], 1_000_000, "{upgraded}");
    assert_eq!(upgraded["amount_refundable"]["amount"], 995_000);
    assert_eq!(upgraded["expires_at_ms"], Value::Null);
    assert_eq!(payment(&client, &waiting).await["amount_received"]["amount"], 0);
    let refund = json!({"id": settled, "amount": 995_000, "confirm": true, "idempotency_key": "re-1"});
    assert_eq!(client.call("refund_payment", refund).await["outcome"], "executed");
    let rest = client.call("simulate_payment", simulate(&waiting, None, "pay-2")).await;
    assert_eq!(rest["object"]["amount_received"]["amount"], 500_000);
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

const START_MS: i64 = 1_000_000;

/// An app on a fresh database with an injected clock, and the store behind it for direct reads
/// and bulk inserts.
struct InjectedClock {
    _dir: tempfile::TempDir,
    store: Arc<dyn harepay::store::Store>,
    clock: Arc<ManualClock>,
    app: App,
    maker: Principal,
}

async fn injected_clock(rules: PaymentRules) -> InjectedClock {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("expiry.db"));
    let clock = Arc::new(ManualClock(AtomicI64::new(START_MS)));
    let app = App::with_store(store.clone(), rules, clock.clone(), Box::new(SequentialIds::default()));
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate(MAKER_KEY).await.unwrap();
    InjectedClock { _dir: dir, store, clock, app, maker }
}

fn request(amount_minor: i64, expires_in_ms: Option<i64>) -> NewPaymentIntent {
    NewPaymentIntent {
        amount: ngn(amount_minor),
        network: None,
        method: PaymentMethod::BankTransfer,
        rail: Rail::Rubies,
        settle_as: None,
        customer: None,
        description: None,
        metadata: Default::default(),
        expires_in_ms,
    }
}

impl InjectedClock {
    fn set_now(&self, now_ms: i64) {
        self.clock.0.store(now_ms, Ordering::SeqCst);
    }

    fn get(&self, scope: &Scope, id: &str) -> PaymentIntent {
        let store = &self.store;
        crate::backend::blocking(|| store.begin_read().unwrap().get_payment(scope, id).unwrap().unwrap())
    }

    /// Saves `count` intents of `scope` created at `created_at_ms`, straight through the store.
    fn insert(
        &self,
        scope: &Scope,
        prefix: &str,
        count: usize,
        created_at_ms: i64,
        rules: &PaymentRules,
    ) -> Vec<String> {
        let store = &self.store;
        crate::backend::blocking(|| {
            let mut session = store.begin_write().unwrap();
            let mut ids = Vec::new();
            for n in 0..count {
                let id = format!("pi_{prefix}_{n:05}");
                let intent = payment::create_payment_intent(
                    scope,
                    request(10_000, Some(1_000)),
                    rules,
                    id.clone(),
                    created_at_ms,
                )
                .unwrap();
                session.insert_payment(&intent).unwrap();
                ids.push(id);
            }
            session.commit().unwrap();
            ids
        })
    }

    /// How many intents of `scopes` (every scope the test wrote to) have `status`, through the
    /// store.
    fn count_status(&self, scopes: &[&Scope], status: PaymentStatus) -> usize {
        let store = &self.store;
        crate::backend::blocking(|| {
            let read = store.begin_read().unwrap();
            let filter = PaymentFilter { status: Some(status), ..PaymentFilter::default() };
            let mut count = 0;
            for scope in scopes {
                let mut page = PageRequest { limit: 100, starting_after: None };
                loop {
                    let payments = read.list_payments(scope, &filter, &page).unwrap();
                    count += payments.items.len();
                    match payments.items.last() {
                        Some(last) if payments.has_more => page.starting_after = Some(last.id.clone()),
                        _ => break,
                    }
                }
            }
            count
        })
    }

    fn count_events(&self, scopes: &[&Scope], event_type: &str) -> usize {
        let store = &self.store;
        crate::backend::blocking(|| {
            let read = store.begin_read().unwrap();
            scopes.iter().map(|scope| count_events(&*read, scope, event_type)).sum()
        })
    }
}

fn simulate_command(payment_intent_id: &str, received_minor: Option<i64>) -> SimulatePaymentCommand {
    SimulatePaymentCommand {
        payment_intent_id: payment_intent_id.to_owned(),
        outcome: SimulatedOutcome::Succeeded,
        received: received_minor.map(ngn),
    }
}

#[tokio::test]
async fn at_its_expiry_an_intent_refuses_payment_before_and_after_the_sweep() {
    let test = injected_clock(PaymentRules::default()).await;
    let policy = RetryPolicy::default();
    let scope = test.maker.scope.clone();
    let create =
        harepay::ops::payments::create_payment_intent::CreatePaymentIntentCommand(request(1_000_000, Some(60_000)));
    let id = write(&test.app, &test.maker, "create_payment_intent", "order-1", create).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // One millisecond before: a payment is received, and the sweep has nothing to do.
    test.set_now(START_MS + 59_999);
    write(&test.app, &test.maker, "simulate_payment", "pay-1", simulate_command(&id, Some(250_000))).await;
    assert_eq!(test.app.run_scheduled_work(&policy).await.unwrap().steps_done, 0);
    // At the expiry, before the sweep: refused, though the stored status still waits.
    test.set_now(START_MS + 60_000);
    let refused =
        test.app.execute(tool_write(&test.maker, "simulate_payment", "pay-2", simulate_command(&id, None))).await;
    let Err(error) = refused else { panic!("a payment at the expiry is refused") };
    assert_eq!((error.code(), error.to_string().contains("is expired")), ("invalid_state", true), "{error}");
    assert_eq!(test.get(&scope, &id).status, PaymentStatus::PartiallyPaid);
    // The sweep expires it and gives the receipt back, once.
    let report = test.app.run_scheduled_work(&policy).await.unwrap();
    assert_eq!((report.steps_done, report.failures.len()), (1, 0), "{report:?}");
    let expired = test.get(&scope, &id);
    assert_eq!((expired.status, expired.amount_received_minor), (PaymentStatus::Expired, 250_000));
    crate::backend::blocking(|| {
        let read = test.store.begin_read().unwrap();
        let balances = read.balances(&scope, &[Asset::lookup("NGN").unwrap()]).unwrap();
        assert_eq!(balances.get(AccountKind::Pending, Asset::lookup("NGN").unwrap()), 0);
        assert!(read.verify_ledger(None).unwrap().is_sound());
    });
    assert_eq!(test.app.run_scheduled_work(&policy).await.unwrap().steps_done, 0, "expired once");
    let after =
        test.app.execute(tool_write(&test.maker, "simulate_payment", "pay-3", simulate_command(&id, None))).await;
    assert_eq!(after.err().unwrap().code(), "invalid_state");
}

/// Merchant A's flood of lapsed intents, three batches deep and all older, does not delay
/// merchant B's: B's expires in the first batch, and A's go in bounded batches.
#[tokio::test]
async fn a_flood_of_one_merchants_lapsed_intents_does_not_delay_anothers_expiry() {
    let rules = PaymentRules::default();
    let test = injected_clock(rules.clone()).await;
    let policy = RetryPolicy::default();
    let batch = SCHEDULER_PAYMENT_EXPIRY_BATCH_MAX_STEPS as usize;
    let flooder = test.maker.scope.clone();
    let other = Scope { merchant_id: "mch_other".into(), mode: Mode::Live };
    let flood = test.insert(&flooder, "flood", 3 * batch, START_MS, &rules);
    let [lonely] = &test.insert(&other, "other", 1, START_MS + 500, &rules)[..] else { unreachable!() };
    test.set_now(START_MS + 10_000);

    let report = test.app.run_scheduled_work(&policy).await.unwrap();
    assert_eq!((report.steps_done as usize, report.failures.len()), (batch, 0));
    assert_eq!(test.get(&other, lonely).status, PaymentStatus::Expired, "the other merchant's went first");
    let scopes = [&flooder, &other];
    assert_eq!(test.count_status(&scopes, PaymentStatus::Expired), batch);
    let mut ticks = 1;
    while test.count_status(&scopes, PaymentStatus::RequiresAction) > 0 {
        let report = test.app.run_scheduled_work(&policy).await.unwrap();
        assert!(report.steps_done as usize <= batch, "a tick is bounded");
        ticks += 1;
        assert!(ticks <= 5, "the flood drains in bounded batches");
    }
    assert_eq!(ticks, 4);
    assert!(flood.iter().all(|id| test.get(&flooder, id).status == PaymentStatus::Expired));
    let expired_events = test.count_events(&scopes, "payment_intent.expired");
    assert_eq!(expired_events, 3 * batch + 1, "one event per intent, none twice");
}

/// Simulated payers due after their intents' expiry, beyond what one expiry batch takes: the test
/// rail expires them instead of failing, so nothing is retried or parked.
#[tokio::test]
async fn a_simulated_payer_after_the_expiry_expires_the_intent_instead_of_failing() {
    let rules = PaymentRules { test_auto_settle_after_ms: Some(5_000), ..PaymentRules::default() };
    let test = injected_clock(rules.clone()).await;
    let policy = RetryPolicy::default();
    let scope = test.maker.scope.clone();
    let count = SCHEDULER_PAYMENT_EXPIRY_BATCH_MAX_STEPS as usize + 50;
    let ids = test.insert(&scope, "late", count, START_MS, &rules);
    test.set_now(START_MS + 5_000);
    let report = test.app.run_scheduled_work(&policy).await.unwrap();
    assert_eq!(report.failures, vec![], "nothing failed");
    assert_eq!(report.steps_done as usize, count, "the expiry batch, then the rail's expired the rest");
    assert!(ids.iter().all(|id| test.get(&scope, id).status == PaymentStatus::Expired));
    assert_eq!(test.app.parked_steps(10).await.unwrap().1, 0);
    assert_eq!(test.count_status(&[&scope], PaymentStatus::Succeeded), 0, "no payer paid after the expiry");
}
