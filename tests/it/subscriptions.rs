//! Subscriptions, metered usage, billing runs and test clocks through the real binary: the seed's
//! allowance example, auto-charge from prepaid (enough, too little), the period reset, a year of
//! monthly billing issued exactly once (repeated and concurrent runs, a SIGKILL midway),
//! month-end anchoring, trials, cancellation, past due, other scopes, and the attacks.

use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};
use harepay_raw_client::RawClient;
use serde_json::{Value, json};

use crate::support::{Client, Harepay, MAKER_KEY, binary};

const DAY_MS: i64 = 86_400_000;

async fn create_customer(client: &Client, email: &str) -> String {
    let created = client.call("create_customer", json!({"email": email, "confirm": true})).await;
    created["object"]["id"].as_str().expect("customer id").to_owned()
}

/// A usage price: `unit_amount` per unit beyond `included_units` a month.
async fn usage_price(client: &Client, unit_amount: i64, included_units: i64, auto_charge: bool) -> String {
    let arguments = json!({
        "model": "usage", "currency": "NGN", "unit_amount": unit_amount, "included_units": included_units,
        "auto_charge": auto_charge, "interval": "monthly", "confirm": true,
    });
    client.call("create_price", arguments).await["object"]["id"].as_str().expect("price id").to_owned()
}

async fn recurring_price(client: &Client, unit_amount: i64, interval: Value, trial_period_days: u32) -> String {
    let arguments = json!({
        "model": "recurring", "currency": "NGN", "unit_amount": unit_amount, "interval": interval,
        "trial_period_days": trial_period_days, "confirm": true,
    });
    client.call("create_price", arguments).await["object"]["id"].as_str().expect("price id").to_owned()
}

async fn subscribe(client: &Client, customer_id: &str, price_id: &str) -> Value {
    let created = client
        .call("create_subscription", json!({"customer_id": customer_id, "price_id": price_id, "confirm": true}))
        .await;
    assert_eq!(created["outcome"], "executed", "{created}");
    created["object"].clone()
}

async fn report(client: &Client, subscription_id: &str, quantity: i64, event_id: &str) -> Value {
    let arguments =
        json!({"subscription_id": subscription_id, "quantity": quantity, "event_id": event_id, "confirm": true});
    client.call("report_usage", arguments).await["object"].clone()
}

async fn advance(client: &Client, by: Value, key: &str) -> Value {
    let advanced = client.call("advance_test_clock", json!({"by": by, "confirm": true, "idempotency_key": key})).await;
    assert_eq!(advanced["outcome"], "executed", "{advanced}");
    advanced["object"].clone()
}

async fn prepaid_ngn(client: &Client, customer_id: &str) -> i64 {
    client.call("get_customer", json!({"id": customer_id})).await["prepaid_ngn"]["amount"].as_i64().unwrap()
}

/// Every event of `event_type`, paging through them all.
async fn events_of(client: &Client, event_type: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut arguments = json!({"type": event_type, "limit": 100});
        if let Some(cursor) = &cursor {
            arguments["starting_after"] = json!(cursor);
        }
        let page = client.call("list_events", arguments).await;
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_starting_after"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return events,
        }
    }
}

/// The period invoices of one subscription, from the invoice.created events.
async fn invoices_of(client: &Client, subscription_id: &str) -> Vec<Value> {
    events_of(client, "invoice.created")
        .await
        .into_iter()
        .map(|event| event["data"].clone())
        .filter(|invoice| invoice["subscription_id"] == subscription_id)
        .collect()
}

fn date_of(at_ms: i64) -> (i32, u32, u32) {
    let date = chrono::DateTime::from_timestamp_millis(at_ms).unwrap();
    (date.year(), date.month(), date.day())
}

#[tokio::test]
async fn the_seed_allowance_example_bills_200_then_300_units_and_a_repeat_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer = create_customer(&client, "ada@example.com").await;
    let price = usage_price(&client, 100, 1_000, false).await;
    let subscription = subscribe(&client, &customer, &price).await;
    let id = subscription["id"].as_str().unwrap();
    assert_eq!(subscription["status"], "active");

    let first = report(&client, id, 600, "e-1").await;
    assert_eq!((first["counted"].clone(), first["overage_invoice"].clone()), (json!(true), Value::Null), "{first}");
    assert_eq!(first["period"]["allowance_left_units"], 400);

    // The preview says what the crossing report would bill, and from where; it saves nothing.
    let preview = client.call("report_usage", json!({"subscription_id": id, "quantity": 600, "event_id": "e-2"})).await;
    assert_eq!(preview["outcome"], "preview");
    assert_eq!(preview["object"]["overage"]["units"], 200, "{preview}");
    assert_eq!(preview["object"]["overage"]["paid_from"], "open_invoice");
    assert_eq!(preview["object"]["overage"]["open_reason"], "auto_charge_off");
    assert!(preview["object"]["overage_invoice"].get("id").is_none(), "{preview}");

    let second = report(&client, id, 600, "e-2").await;
    let invoice = &second["overage_invoice"];
    assert_eq!((invoice["status"].clone(), invoice["total"]["amount"].clone()), (json!("open"), json!(20_000)));
    let created = invoices_of(&client, id).await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0]["id"].clone(), created[0]["line_items"][0]["quantity"].clone()),
        (invoice["id"].clone(), json!(200))
    );
    assert_eq!(second["overage"]["units"], 200);

    let repeat = report(&client, id, 600, "e-2").await;
    assert_eq!((repeat["counted"].clone(), repeat["overage_invoice"].clone()), (json!(false), Value::Null));
    assert_eq!(repeat["period"]["used_units"], 1_200, "counted once");
    let message = client
        .expect_error(
            "report_usage",
            json!({"subscription_id": id, "quantity": 601, "event_id": "e-2", "confirm": true}),
            "event_id_reused",
        )
        .await;
    assert!(message.contains("600"), "{message}");

    let third = report(&client, id, 300, "e-3").await;
    assert_eq!(third["overage"]["units"], 300);
    assert_eq!(third["overage_invoice"]["total"]["amount"], 30_000);
    let usage = client.call("get_usage", json!({"subscription_id": id})).await;
    let period = &usage["current_period"];
    assert_eq!((period["used_units"].clone(), period["billed_units"].clone()), (json!(1_500), json!(500)));
    assert_eq!(period["billed"]["amount"], 50_000);
    assert_eq!(usage["next_invoice"]["amount"]["amount"], 0, "overage is invoiced as reported: {usage}");
    assert_eq!(invoices_of(&client, id).await.len(), 2);
    assert_eq!(events_of(&client, "usage.reported").await.len(), 3, "a repeat is no new report");
    client.close().await;
}

#[tokio::test]
async fn auto_charge_pays_from_prepaid_when_it_covers_the_overage_and_leaves_it_open_when_not() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer = create_customer(&client, "ada@example.com").await;
    let topup = json!({"customer_id": customer, "amount": {"amount": 25_000, "currency": "NGN"}, "confirm": true, "idempotency_key": "t-1"});
    client.call("topup_prepaid", topup).await;
    let price = usage_price(&client, 100, 1_000, true).await;
    let id = subscribe(&client, &customer, &price).await["id"].as_str().unwrap().to_owned();
    let available_before = client.available("NGN").await;

    let paid = report(&client, &id, 1_200, "e-1").await;
    assert_eq!(paid["overage"]["paid_from"], "prepaid_balance", "{paid}");
    assert_eq!(paid["overage_invoice"]["status"], "paid");
    assert_eq!(prepaid_ngn(&client, &customer).await, 5_000);
    assert_eq!(client.available("NGN").await, available_before + 20_000, "the customer's money became the merchant's");

    let short = report(&client, &id, 100, "e-2").await;
    assert_eq!(short["overage"]["paid_from"], "open_invoice", "{short}");
    assert_eq!(short["overage"]["open_reason"], "insufficient_prepaid_balance");
    assert_eq!(short["overage_invoice"]["status"], "open");
    assert_eq!(prepaid_ngn(&client, &customer).await, 5_000, "untouched: never a partial debit");
    let failed = events_of(&client, "invoice.auto_charge_failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["object_id"], short["overage_invoice"]["id"]);
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    client.close().await;
}

#[tokio::test]
async fn the_allowance_resets_each_period_after_advancing_the_test_clock() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer = create_customer(&client, "ada@example.com").await;
    let price = usage_price(&client, 100, 1_000, false).await;
    let id = subscribe(&client, &customer, &price).await["id"].as_str().unwrap().to_owned();
    assert_eq!(report(&client, &id, 1_200, "e-1").await["overage"]["units"], 200);

    let clock = advance(&client, json!("monthly"), "clock-1").await;
    assert_eq!(clock["billing"]["periods_closed"], 1, "{clock}");
    assert_eq!(clock["billing"]["invoices_issued"], 0, "its overage was billed as reported");
    let usage = client.call("get_usage", json!({"subscription_id": id})).await;
    assert_eq!(usage["current_period"]["used_units"], 0, "{usage}");
    assert_eq!(usage["current_period"]["allowance_left_units"], 1_000);
    assert_eq!(report(&client, &id, 1_200, "e-2").await["overage"]["units"], 200);
    // The same event id in a new period is still the same report.
    assert_eq!(report(&client, &id, 1_200, "e-1").await["counted"], false);
    client.close().await;
}

#[tokio::test]
async fn a_year_of_monthly_billing_issues_exactly_twelve_invoices_under_repeated_and_concurrent_runs() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer = create_customer(&client, "ada@example.com").await;
    let price = recurring_price(&client, 500_000, json!("monthly"), 0).await;
    let id = subscribe(&client, &customer, &price).await["id"].as_str().unwrap().to_owned();

    // One client advances a year while seven others run billing over and over.
    let runners: Vec<_> = (0..7)
        .map(|_| {
            let harepay_db = harepay.db.clone();
            tokio::spawn(async move {
                let mut command = tokio::process::Command::new(binary());
                command
                    .arg("stdio")
                    .env("HAREPAY_DB", harepay_db)
                    .env("HAREPAY_SECRET_KEY", MAKER_KEY)
                    .env("HAREPAY_TOOLSETS", "all")
                    .env("HAREPAY_LOG", "warn");
                let transport = rmcp::transport::TokioChildProcess::new(command).unwrap();
                let service = rmcp::ServiceExt::serve((), transport).await.unwrap();
                let runner = Client { service };
                let mut closed = 0;
                for _ in 0..5 {
                    closed += runner.call("run_billing", json!({"confirm": true})).await["object"]["periods_closed"]
                        .as_u64()
                        .unwrap();
                }
                runner.close().await;
                closed
            })
        })
        .collect();
    let clock = advance(&client, json!("annual"), "clock-year").await;
    let mut closed = clock["billing"]["periods_closed"].as_u64().unwrap();
    for runner in runners {
        closed += runner.await.unwrap();
    }
    for _ in 0..3 {
        closed +=
            client.call("run_billing", json!({"confirm": true})).await["object"]["periods_closed"].as_u64().unwrap();
    }
    // The servers' own schedulers close some of them too: the calls report at most twelve.
    assert!(closed <= 12, "no period closed twice: {closed}");
    let invoices = invoices_of(&client, &id).await;
    assert_eq!(invoices.len(), 12);
    assert!(invoices.iter().all(|invoice| invoice["total"]["amount"] == 500_000));
    // A replay of the advance moves nothing more.
    let replay = client
        .call("advance_test_clock", json!({"by": "annual", "confirm": true, "idempotency_key": "clock-year"}))
        .await;
    assert_eq!(replay["outcome"], "replayed");
    assert_eq!(invoices_of(&client, &id).await.len(), 12);
    client.close().await;
}

fn invoice_count(harepay: &Harepay) -> i64 {
    crate::backend::DirectConnection::open(&harepay.db).query_i64("SELECT COUNT(*) FROM invoices", &[])
}

/// `harepay stdio` with raw JSON-RPC, for a SIGKILL.
fn raw_server(harepay: &Harepay) -> RawClient {
    let mut command = Command::new(binary());
    command
        .arg("stdio")
        .env("HAREPAY_DB", &harepay.db)
        .env("HAREPAY_SECRET_KEY", MAKER_KEY)
        .env("HAREPAY_TOOLSETS", "all")
        .env("HAREPAY_LOG", "warn")
        .stderr(Stdio::null());
    let mut server = RawClient::spawn(&mut command).unwrap().with_answer_timeout(Duration::from_secs(60));
    server.initialize("billing-crash").unwrap();
    server
}

#[tokio::test]
async fn a_billing_run_killed_midway_finishes_after_a_restart_without_billing_twice() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let price = recurring_price(&client, 100_000, json!("monthly"), 0).await;
    let subscriptions = 300;
    let mut ids = Vec::new();
    for index in 0..subscriptions {
        let customer = create_customer(&client, &format!("c{index}@example.com")).await;
        ids.push(subscribe(&client, &customer, &price).await["id"].as_str().unwrap().to_owned());
    }
    client.close().await;

    // 3,600 period closes, committed batch by batch: the advance is killed once some of them are
    // committed and not all, as another connection on the database sees them.
    let total = (subscriptions * 12) as i64;
    let mut server = raw_server(&harepay);
    server
        .send_call("advance_test_clock", &json!({"by": "annual", "confirm": true, "idempotency_key": "clock-year"}))
        .unwrap();
    let mut reader = crate::backend::DirectConnection::open(&harepay.db);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let issued_at_kill = loop {
        let issued = reader.query_i64("SELECT COUNT(*) FROM invoices", &[]);
        if issued > 0 {
            assert!(issued < total, "the run finished before it could be killed midway ({issued} invoices)");
            server.kill();
            break issued;
        }
        assert!(std::time::Instant::now() < deadline, "no invoice was issued within a minute");
        std::thread::sleep(Duration::from_millis(2));
    };
    drop(reader);
    let issued_after_kill = invoice_count(&harepay);
    assert!(issued_after_kill >= issued_at_kill && issued_after_kill < total, "killed midway: {issued_after_kill}");

    let client = harepay.connect(MAKER_KEY).await;
    client.call("run_billing", json!({"confirm": true})).await;
    client.call("run_billing", json!({"confirm": true})).await;
    let created = events_of(&client, "invoice.created").await;
    assert_eq!(created.len(), subscriptions * 12, "each period invoiced exactly once");
    assert_eq!(invoice_count(&harepay), total);
    for id in ids.iter().step_by(37) {
        assert_eq!(invoices_of(&client, id).await.len(), 12, "{id}");
    }
    let verify = harepay.cli(&["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    client.close().await;
}

#[tokio::test]
async fn a_subscription_started_on_31_january_renews_on_the_last_day_of_february_then_31_march() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let now_ms = Utc::now().timestamp_millis();
    let year = Utc::now().year() + 1;
    let january_31 = Utc.with_ymd_and_hms(year, 1, 31, 10, 0, 0).unwrap().timestamp_millis();
    assert!(january_31 > now_ms);
    let to = client
        .call("advance_test_clock", json!({"to": january_31, "confirm": true, "idempotency_key": "to-jan"}))
        .await;
    assert_eq!(to["object"]["now_ms"], january_31, "{to}");
    let customer = create_customer(&client, "ada@example.com").await;
    let price = recurring_price(&client, 1_000, json!({"unit": "month", "count": 1}), 0).await;
    let subscription = subscribe(&client, &customer, &price).await;
    let id = subscription["id"].as_str().unwrap();
    let february_end = if chrono::NaiveDate::from_ymd_opt(year, 2, 29).is_some() { 29 } else { 28 };
    assert_eq!(date_of(subscription["current_period_end_ms"].as_i64().unwrap()), (year, 2, february_end));
    advance(&client, json!("monthly"), "m-1").await;
    let renewed = client.call("get_subscription", json!({"id": id})).await;
    assert_eq!(date_of(renewed["current_period_start_ms"].as_i64().unwrap()), (year, 2, february_end));
    assert_eq!(date_of(renewed["current_period_end_ms"].as_i64().unwrap()), (year, 3, 31));
    // A month from the last day of February is the 28th or 29th of March: go to 1 April.
    let april_1 = Utc.with_ymd_and_hms(year, 4, 1, 10, 0, 0).unwrap().timestamp_millis();
    client.call("advance_test_clock", json!({"to": april_1, "confirm": true, "idempotency_key": "to-apr"})).await;
    let renewed = client.call("get_subscription", json!({"id": id})).await;
    assert_eq!(date_of(renewed["current_period_start_ms"].as_i64().unwrap()), (year, 3, 31));
    assert_eq!(date_of(renewed["current_period_end_ms"].as_i64().unwrap()), (year, 4, 30));
    client.close().await;
}

#[tokio::test]
async fn a_trial_bills_nothing_until_it_ends_and_cancels_stop_billing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer = create_customer(&client, "ada@example.com").await;
    let trial_price = recurring_price(&client, 10_000, json!("monthly"), 14).await;
    let trialing = subscribe(&client, &customer, &trial_price).await;
    assert_eq!(trialing["status"], "trialing");
    let trial_id = trialing["id"].as_str().unwrap().to_owned();
    let plain_price = recurring_price(&client, 20_000, json!("monthly"), 0).await;
    let at_end = subscribe(&client, &customer, &plain_price).await["id"].as_str().unwrap().to_owned();
    let now = subscribe(&client, &customer, &plain_price).await["id"].as_str().unwrap().to_owned();

    let canceling = client.call("cancel_subscription", json!({"id": at_end, "confirm": true})).await;
    assert_eq!(
        (canceling["object"]["status"].clone(), canceling["object"]["cancel_at_period_end"].clone()),
        (json!("active"), json!(true))
    );
    let canceled =
        client.call("cancel_subscription", json!({"id": now, "at_period_end": false, "confirm": true})).await;
    assert_eq!(canceled["object"]["status"], "canceled");
    client.expect_error("cancel_subscription", json!({"id": now, "confirm": true}), "invalid_state").await;
    client
        .expect_error(
            "report_usage",
            json!({"subscription_id": now, "quantity": 1, "event_id": "x", "confirm": true}),
            "invalid_state",
        )
        .await;

    let clock = advance(&client, json!({"unit": "day", "count": 15}), "d-15").await;
    assert_eq!(clock["billing"]["invoices_issued"], 0, "a trial's end bills nothing: {clock}");
    assert_eq!(client.call("get_subscription", json!({"id": trial_id})).await["status"], "active");
    assert!(invoices_of(&client, &trial_id).await.is_empty());

    advance(&client, json!("monthly"), "m-1").await;
    assert_eq!(invoices_of(&client, &trial_id).await.len(), 1, "its first paid period");
    let ended = client.call("get_subscription", json!({"id": at_end})).await;
    assert_eq!(ended["status"], "canceled", "{ended}");
    assert_eq!(invoices_of(&client, &at_end).await.len(), 1, "its last period was invoiced");
    assert!(invoices_of(&client, &now).await.is_empty());
    advance(&client, json!("monthly"), "m-2").await;
    assert_eq!(invoices_of(&client, &at_end).await.len(), 1);
    assert_eq!(events_of(&client, "customer.subscription.deleted").await.len(), 2);
    client.close().await;
}

#[tokio::test]
async fn an_invoice_unpaid_past_its_due_date_makes_the_subscription_past_due() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer = create_customer(&client, "ada@example.com").await;
    let price = recurring_price(&client, 10_000, json!("monthly"), 0).await;
    let id = subscribe(&client, &customer, &price).await["id"].as_str().unwrap().to_owned();
    advance(&client, json!("monthly"), "m-1").await;
    assert_eq!(client.call("get_subscription", json!({"id": id})).await["status"], "active", "not due yet");
    advance(&client, json!({"unit": "day", "count": 8}), "d-8").await;
    let past_due = client.call("get_subscription", json!({"id": id})).await;
    assert_eq!(past_due["status"], "past_due", "{past_due}");
    let listed = client.call("list_subscriptions", json!({"status": "past_due"})).await;
    assert_eq!(listed["data"][0]["id"], id);

    // Paying the overdue invoice makes it active again, in the payment's own transaction.
    let overdue = invoices_of(&client, &id).await;
    let invoice_id = overdue[0]["id"].as_str().unwrap();
    let pay = json!({"id": invoice_id, "method": "bank_transfer", "rail": "rubies", "confirm": true, "idempotency_key": "pay-1"});
    let collecting = client.call("pay_invoice", pay).await;
    let payment_intent_id = collecting["object"]["payment_intent_id"].as_str().expect("intent").to_owned();
    let simulate =
        json!({"id": payment_intent_id, "outcome": "succeeded", "confirm": true, "idempotency_key": "sim-1"});
    assert_eq!(client.call("simulate_payment", simulate).await["outcome"], "executed");
    assert_eq!(client.call("get_invoice", json!({"id": invoice_id})).await["status"], "paid");
    let active = client.call("get_subscription", json!({"id": id})).await;
    assert_eq!(active["status"], "active", "{active}");
    let updated = events_of(&client, "customer.subscription.updated").await;
    assert_eq!(updated[0]["data"]["status"], "active", "the newest update is the reactivation: {}", updated[0]);
    let payment_events = events_of(&client, "invoice.paid").await;
    assert_eq!(updated[0]["created_at_ms"], payment_events[0]["created_at_ms"], "one transaction, one time");
    let verify = harepay.cli(&["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    client.close().await;
}

#[tokio::test]
async fn another_merchant_or_mode_sees_no_subscription_and_live_mode_has_no_test_clock() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer = create_customer(&client, "ada@example.com").await;
    let price = usage_price(&client, 100, 10, false).await;
    let id = subscribe(&client, &customer, &price).await["id"].as_str().unwrap().to_owned();

    let live = harepay.create_key(&["--mode", "live", "--owner", "ops"]);
    let other = harepay.create_key(&["--new-merchant", "Other Ltd", "--owner", "eve"]);
    for key in [live, other] {
        let stranger = harepay.connect(&key).await;
        stranger.expect_error("get_subscription", json!({"id": id}), "not_found").await;
        stranger.expect_error("get_usage", json!({"subscription_id": id}), "not_found").await;
        stranger
            .expect_error(
                "report_usage",
                json!({"subscription_id": id, "quantity": 50, "event_id": "x", "confirm": true}),
                "not_found",
            )
            .await;
        stranger.expect_error("cancel_subscription", json!({"id": id, "confirm": true}), "not_found").await;
        stranger
            .expect_error(
                "create_subscription",
                json!({"customer_id": customer, "price_id": price, "confirm": true}),
                "not_found",
            )
            .await;
        assert_eq!(stranger.call("list_subscriptions", json!({})).await["data"], json!([]));
        stranger.close().await;
    }
    let live = harepay.connect(&harepay.create_key(&["--mode", "live", "--owner", "ops2"])).await;
    live.expect_error(
        "advance_test_clock",
        json!({"by": "monthly", "confirm": true, "idempotency_key": "k"}),
        "test_mode_only",
    )
    .await;
    live.close().await;
    assert_eq!(client.call("get_usage", json!({"subscription_id": id})).await["current_period"]["used_units"], 0);
    client.close().await;
}

#[tokio::test]
async fn bad_quantities_event_ids_and_clock_moves_are_refused_and_change_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer = create_customer(&client, "ada@example.com").await;
    let price = usage_price(&client, 100, 1_000, false).await;
    let id = subscribe(&client, &customer, &price).await["id"].as_str().unwrap().to_owned();
    let report_with = |quantity: Value, event_id: Value| json!({"subscription_id": id, "quantity": quantity, "event_id": event_id, "confirm": true});
    for quantity in [
        json!(0),
        json!(-5),
        json!(1.5),
        json!("10"),
        json!(i64::MAX),
        json!(1_000_000_000_001_i64),
        json!(u64::MAX),
        json!(1e300),
    ] {
        let error = client.call_error("report_usage", report_with(quantity.clone(), json!("q"))).await;
        assert_eq!(
            (error["type"].clone(), error["param"].clone()),
            (json!("invalid_request"), json!("quantity")),
            "{quantity}: {error}"
        );
    }
    for event_id in [json!(""), json!("x".repeat(256)), json!("x".repeat(100_000)), json!("a\u{0}b"), json!(7)] {
        let error = client.call_error("report_usage", report_with(json!(1), event_id.clone())).await;
        assert_eq!(error["type"], "invalid_request", "{error}");
    }
    assert_eq!(client.call("get_usage", json!({"subscription_id": id})).await["current_period"]["used_units"], 0);

    let now_ms = client.call("get_usage", json!({"subscription_id": id})).await["now_ms"].as_i64().unwrap();
    for (arguments, param) in [
        (json!({"to": now_ms - DAY_MS}), "to"),
        (json!({"to": 0}), "to"),
        (json!({"to": i64::MAX}), "to"),
        (json!({"to": now_ms + 1_000 * 366 * DAY_MS}), "to"),
        (json!({"by": {"unit": "year", "count": 1000}}), "by.count"),
        (json!({"by": {"unit": "year", "count": -1}}), "by.count"),
        (json!({"by": "fortnightly"}), "by"),
        (json!({}), "to"),
        (json!({"to": now_ms + DAY_MS, "by": "monthly"}), "to"),
    ] {
        let mut arguments = arguments;
        arguments["confirm"] = json!(true);
        arguments["idempotency_key"] = json!(format!("bad-{param}-{}", arguments));
        let error = client.call_error("advance_test_clock", arguments.clone()).await;
        assert_eq!(error["param"], param, "{arguments}: {error}");
    }
    let after = client.call("get_usage", json!({"subscription_id": id})).await["now_ms"].as_i64().unwrap();
    assert!(after - now_ms < DAY_MS, "the clock did not move: {now_ms} → {after}");
    // Three years is the most one call moves; repeated, the clock still moves only forward.
    let clock = advance(&client, json!({"unit": "year", "count": 3}), "y-3").await;
    let now_ms = clock["now_ms"].as_i64().unwrap();
    assert!(now_ms > after + 3 * 365 * DAY_MS);
    let subscription = client.call("get_subscription", json!({"id": id})).await;
    let (start, end) = (
        subscription["current_period_start_ms"].as_i64().unwrap(),
        subscription["current_period_end_ms"].as_i64().unwrap(),
    );
    assert!(start <= now_ms && now_ms < end, "36 periods later, the current one holds the clock: {subscription}");
    client.close().await;
}

#[tokio::test]
async fn a_flood_of_concurrent_reports_counts_each_once_and_bills_exactly_the_excess() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let customer = create_customer(&client, "ada@example.com").await;
    let price = usage_price(&client, 100, 1_000, false).await;
    let id = subscribe(&client, &customer, &price).await["id"].as_str().unwrap().to_owned();
    let client = std::sync::Arc::new(client);
    let mut tasks = Vec::new();
    for index in 0..400 {
        let client = client.clone();
        let id = id.clone();
        // Every event is sent twice, concurrently.
        let event_id = format!("e-{}", index % 200);
        tasks.push(tokio::spawn(async move {
            let arguments = json!({"subscription_id": id, "quantity": 7, "event_id": event_id, "confirm": true});
            client.call("report_usage", arguments).await["object"]["overage"]["units"].as_i64().unwrap_or(0)
        }));
    }
    let mut billed = 0;
    for task in tasks {
        billed += task.await.unwrap();
    }
    assert_eq!(billed, 200 * 7 - 1_000, "max(0, usage − allowance), each unit once");
    let usage = client.call("get_usage", json!({"subscription_id": id})).await;
    assert_eq!(usage["current_period"]["used_units"], 1_400);
    assert_eq!(usage["current_period"]["billed_units"], 400);
}
