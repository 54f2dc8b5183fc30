//! A hostile merchant against the money paths of invoicing and billing, through the real binary:
//! money an over-paid invoice credited to the customer's prepaid balance refunded or disputed a
//! second time; usage racing the test clock; a cancel at period end racing the billing run; foreign
//! ids in every argument; a backlog of due periods holding up the scheduler; with `harepay verify`
//! after each attempt.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use harepay::app::App;
use harepay::app::keys::DEMO_MAKER_KEY;
use harepay::app::write::{ToolWrite, WriteOutcome};
use harepay::engine::SequentialIds;
use harepay::engine::catalog::{NewPrice, PriceModel};
use harepay::engine::customer::NewCustomer;
use harepay::engine::interval::Interval;
use harepay::engine::money::Asset;
use harepay::engine::permission::Action;
use harepay::engine::principal::Principal;
use harepay::engine::retry::RetryPolicy;
use harepay::engine::rules::PaymentRules;
use harepay::engine::subscription::NewSubscription;
use harepay::limits::SCHEDULER_BILLING_MAX_BATCHES_PER_TICK;
use harepay::ops::billing::create_subscription::CreateSubscriptionCommand;
use harepay::ops::catalog::create_price::CreatePriceCommand;
use harepay::ops::customers::create_customer::CreateCustomerCommand;
use serde_json::{Value, json};

use crate::app_layer::ManualClock;
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

/// Every invoice of one subscription (period closes and overages), from the invoice.created events.
async fn invoice_totals_of(client: &Client, subscription_id: &str) -> Vec<i64> {
    let mut totals = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut arguments = json!({"type": "invoice.created", "limit": 100});
        if let Some(cursor) = &cursor {
            arguments["starting_after"] = json!(cursor);
        }
        let page = client.call("list_events", arguments).await;
        for event in page["data"].as_array().unwrap() {
            if event["data"]["subscription_id"] == subscription_id {
                totals.push(amount(&event["data"]["total"]));
            }
        }
        match page["next_starting_after"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return totals,
        }
    }
}

async fn subscribe(client: &Client, customer_id: &str, price: Value) -> String {
    let mut price = price;
    price["confirm"] = json!(true);
    let price_id = client.call("create_price", price).await["object"]["id"].as_str().expect("price id").to_owned();
    let arguments = json!({"customer_id": customer_id, "price_id": price_id, "confirm": true});
    let created = client.call("create_subscription", arguments).await;
    created["object"]["id"].as_str().expect("subscription id").to_owned()
}

/// Usage reported while another client moves the test clock over three period boundaries: each
/// report lands in one period, and what is billed over all invoices is exactly the sum over the
/// periods of max(0, usage − allowance): never twice, never missed.
#[tokio::test]
async fn usage_reported_while_the_clock_crosses_periods_is_billed_once_per_period() {
    let harepay = Harepay::new();
    let client = std::sync::Arc::new(harepay.connect(MAKER_KEY).await);
    let customer_id = create_customer(&client, "ada@example.com").await;
    let price = json!({"model": "usage", "currency": "NGN", "unit_amount": 3, "included_units": 100,
        "interval": "monthly"});
    let id = subscribe(&client, &customer_id, price).await;
    let clock = {
        let client = client.clone();
        tokio::spawn(async move {
            for month in 0..3 {
                let arguments = json!({"by": "monthly", "confirm": true, "idempotency_key": format!("m-{month}")});
                assert_eq!(client.call("advance_test_clock", arguments).await["outcome"], "executed");
                tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            }
        })
    };
    let reports: Vec<_> = (0..120)
        .map(|index| {
            let (client, id) = (client.clone(), id.clone());
            tokio::spawn(async move {
                // Spread over the clock's moves, so that reports land on both sides of each.
                tokio::time::sleep(std::time::Duration::from_millis(index)).await;
                let arguments =
                    json!({"subscription_id": id, "quantity": 7, "event_id": format!("e-{index}"), "confirm": true});
                let reported = client.call("report_usage", arguments).await;
                assert_eq!(reported["object"]["counted"], true, "{reported}");
                reported["object"]["period"]["period_start_ms"].as_i64().unwrap()
            })
        })
        .collect();
    let mut used_by_period: std::collections::BTreeMap<i64, i64> = Default::default();
    for report in reports {
        *used_by_period.entry(report.await.unwrap()).or_default() += 7;
    }
    clock.await.unwrap();
    // Close every period the reports touched.
    let past = json!({"by": "monthly", "confirm": true, "idempotency_key": "m-last"});
    assert_eq!(client.call("advance_test_clock", past).await["outcome"], "executed");
    let expected_minor: i64 = used_by_period.values().map(|used| (used - 100).max(0) * 3).sum();
    let billed_minor: i64 = invoice_totals_of(&client, &id).await.iter().sum();
    assert_eq!(billed_minor, expected_minor, "usage by period: {used_by_period:?}");
    expect_verified(&harepay, &client).await;
}

/// A cancel at period end racing the clock and billing runs: the subscription ends at the end of
/// the period the cancel landed in, and exactly the periods up to that end are invoiced.
#[tokio::test]
async fn a_cancel_at_period_end_racing_the_billing_run_bills_each_period_up_to_its_end_once() {
    let harepay = Harepay::new();
    let client = std::sync::Arc::new(harepay.connect(MAKER_KEY).await);
    let customer_id = create_customer(&client, "ada@example.com").await;
    let price = json!({"model": "recurring", "currency": "NGN", "unit_amount": 500_000, "interval": "monthly"});
    let id = subscribe(&client, &customer_id, price).await;
    let start_ms =
        client.call("get_subscription", json!({"id": id})).await["current_period_start_ms"].as_i64().unwrap();
    let runs: Vec<_> = (0..4)
        .map(|run| {
            let client = client.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(run * 15)).await;
                let arguments = json!({"by": "monthly", "confirm": true, "idempotency_key": format!("m-{run}")});
                client.call("advance_test_clock", arguments).await;
                client.call("run_billing", json!({"confirm": true})).await;
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let cancel = json!({"id": id, "at_period_end": true, "confirm": true, "idempotency_key": "cancel"});
    let canceled = client.call("cancel_subscription", cancel).await;
    assert_eq!(canceled["outcome"], "executed", "{canceled}");
    for run in runs {
        run.await.unwrap();
    }
    let after = json!({"by": "quarterly", "confirm": true, "idempotency_key": "after"});
    client.call("advance_test_clock", after).await;
    let subscription = client.call("get_subscription", json!({"id": id})).await;
    assert_eq!(subscription["status"], "canceled", "{subscription}");
    let ended_at_ms = subscription["ended_at_ms"].as_i64().unwrap();
    let months = {
        let (start, end) = (
            chrono::DateTime::from_timestamp_millis(start_ms).unwrap(),
            chrono::DateTime::from_timestamp_millis(ended_at_ms).unwrap(),
        );
        use chrono::Datelike;
        (end.year() - start.year()) * 12 + end.month() as i32 - start.month() as i32
    };
    let totals = invoice_totals_of(&client, &id).await;
    assert!(months >= 1, "it ends at a period end: {subscription}");
    assert_eq!(totals, vec![500_000; months as usize], "one invoice per period up to its end: {subscription}");
    expect_verified(&harepay, &client).await;
}

/// Every id argument of the billing, invoice and payment tools given another merchant's or the
/// other mode's object beside the caller's own: each is `not_found`, and nothing moves.
#[tokio::test]
async fn foreign_ids_mixed_with_the_callers_own_are_not_found_in_every_argument() {
    let harepay = Harepay::new();
    let owner = harepay.connect(MAKER_KEY).await;
    owner.fund_ngn(1_000_000, "sales").await;
    let customer_id = create_customer(&owner, "ada@example.com").await;
    let price = json!({"model": "usage", "currency": "NGN", "unit_amount": 1, "included_units": 0,
        "interval": "monthly"});
    let subscription_id = subscribe(&owner, &customer_id, price).await;
    let price_id =
        owner.call("get_subscription", json!({"id": subscription_id})).await["price_id"].as_str().unwrap().to_owned();
    let (_, invoice_id) = open_invoice(&owner, "bob@example.com", 10_000).await;
    let payment_intent_id = owner.create_succeeded_payment(50_000, "order-1").await;

    let live = harepay.create_key(&["--mode", "live", "--owner", "ops"]);
    let other = harepay.create_key(&["--new-merchant", "Mallory's shop", "--owner", "mallory"]);
    for key in [live, other] {
        let stranger = harepay.connect(&key).await;
        let own_customer = create_customer(&stranger, "eve@example.com").await;
        let own_price = json!({"model": "usage", "currency": "NGN", "unit_amount": 1, "included_units": 0,
            "interval": "monthly", "confirm": true});
        let own_price_id = stranger.call("create_price", own_price).await["object"]["id"].as_str().unwrap().to_owned();
        let attempts = [
            ("create_subscription", json!({"customer_id": own_customer, "price_id": price_id, "confirm": true})),
            ("create_subscription", json!({"customer_id": customer_id, "price_id": own_price_id, "confirm": true})),
            (
                "topup_prepaid",
                json!({"customer_id": customer_id, "amount": {"amount": 100, "currency": "NGN"},
                "confirm": true, "idempotency_key": "t"}),
            ),
            (
                "create_invoice",
                json!({"customer_id": own_customer, "currency": "NGN", "confirm": true,
                "idempotency_key": "i", "line_items": [{"description": "x", "quantity": 1, "unit_amount": 100,
                "price_id": price_id}]}),
            ),
            (
                "report_usage",
                json!({"subscription_id": subscription_id, "quantity": 5, "event_id": "e",
                "confirm": true, "idempotency_key": "u"}),
            ),
            (
                "pay_invoice",
                json!({"id": invoice_id, "method": "bank_transfer", "rail": "rubies", "confirm": true,
                "idempotency_key": "p"}),
            ),
            ("refund_payment", json!({"id": payment_intent_id, "confirm": true, "idempotency_key": "r"})),
            (
                "simulate_payment",
                json!({"id": payment_intent_id, "outcome": "succeeded", "confirm": true,
                "idempotency_key": "s"}),
            ),
            ("get_payment", json!({"id": payment_intent_id})),
            ("delete_customer", json!({"id": customer_id, "confirm": true})),
        ];
        for (tool, arguments) in attempts {
            let error = stranger.call_error(tool, arguments.clone()).await;
            let error_type = error["type"].as_str().unwrap_or_default().to_owned();
            assert!(
                error_type == "not_found" || (tool == "simulate_payment" && error_type == "test_mode_only"),
                "{tool} {arguments}: {error}"
            );
        }
        stranger.close().await;
    }
    assert_eq!(prepaid_ngn(&owner, &customer_id).await, 0);
    let usage = owner.call("get_usage", json!({"subscription_id": subscription_id})).await;
    assert_eq!(usage["current_period"]["used_units"], 0);
    let payment = owner.call("get_payment", json!({"id": payment_intent_id})).await;
    assert_eq!(amount(&payment["payment_intent"]["amount_refunded"]), 0);
    assert_eq!(owner.call("get_customer", json!({"id": customer_id})).await["archived"], false);
    expect_verified(&harepay, &owner).await;
    owner.close().await;
}

async fn executed<V>(outcome: Result<WriteOutcome<V>, harepay::app::error::AppError>) -> V {
    match outcome.expect("the write runs") {
        WriteOutcome::Executed { view } => view,
        other => panic!("not executed: {:?}", other.outcome()),
    }
}

fn write<C>(actor: &Principal, operation: &'static str, command: C) -> ToolWrite<C> {
    let description = operation.to_owned();
    ToolWrite {
        actor: actor.clone(),
        operation,
        action: Action::Manage,
        confirm: true,
        idempotency: None,
        description,
        command,
    }
}

/// A backlog of due periods (one merchant's, or everyone's after downtime) does not hold up the
/// scheduler: a tick closes a bounded number of them, so the approval and payment expiries and the
/// test rails of every merchant come round again on the next tick; and tick after tick closes each
/// due period exactly once (through the app, with an injected clock).
#[tokio::test]
async fn a_backlog_of_due_periods_is_billed_in_bounded_ticks_each_period_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::backend::open_store(&dir.path().join("backlog.db"));
    let day_ms = 24 * 60 * 60 * 1000;
    let start_ms = 1_800_000_000_000;
    let clock = Arc::new(ManualClock(AtomicI64::new(start_ms)));
    let rules = PaymentRules { test_auto_settle_after_ms: None, ..PaymentRules::default() };
    let app = App::with_store(store.clone(), rules, clock.clone(), Box::new(SequentialIds::default()));
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate(DEMO_MAKER_KEY).await.unwrap();
    let price = NewPrice {
        product_id: None,
        model: PriceModel::Recurring,
        currency: Asset::lookup("NGN").unwrap(),
        unit_amount_minor: 100,
        included_units: 0,
        auto_charge: false,
        interval: Interval::from_alias("weekly").unwrap(),
        trial_period_days: 0,
        active: true,
    };
    let price_id = executed(app.execute(write(&maker, "create_price", CreatePriceCommand(price))).await).await.id;
    let customer =
        NewCustomer { email: "ada@example.com".into(), name: None, phone: None, metadata: Default::default() };
    let customer_id =
        executed(app.execute(write(&maker, "create_customer", CreateCustomerCommand(customer))).await).await.id;
    let (subscriptions, weeks) = (3_u64, 60_i64);
    for _ in 0..subscriptions {
        let command = CreateSubscriptionCommand {
            customer_id: customer_id.clone(),
            price_id: price_id.clone(),
            request: NewSubscription { metadata: Default::default() },
        };
        executed(app.execute(write(&maker, "create_subscription", command)).await).await;
    }

    clock.0.store(start_ms + weeks * 7 * day_ms + 1, std::sync::atomic::Ordering::SeqCst);
    let due = subscriptions * weeks as u64;
    let first = app.run_scheduled_work(&RetryPolicy::default()).await.unwrap();
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    let bound = u64::from(SCHEDULER_BILLING_MAX_BATCHES_PER_TICK) * subscriptions;
    assert!(u64::from(first.steps_done) <= bound, "one tick closed {} of {due} periods", first.steps_done);
    let mut closed = u64::from(first.steps_done);
    while closed < due {
        let tick = app.run_scheduled_work(&RetryPolicy::default()).await.unwrap();
        assert!(tick.steps_done > 0 && u64::from(tick.steps_done) <= bound, "{tick:?}");
        closed += u64::from(tick.steps_done);
    }
    assert_eq!(closed, due);
    assert_eq!(app.run_scheduled_work(&RetryPolicy::default()).await.unwrap().steps_done, 0, "nothing twice");
    crate::backend::blocking(|| assert!(store.begin_read().unwrap().verify_ledger(None).unwrap().is_sound()));
}
