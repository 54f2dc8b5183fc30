//! The app layer with an injected clock: time-dependent rules tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use harepay::app::commands::{Command, IdempotencyInput, SimulatedOutcome, ToolWrite, WriteOutcome};
use harepay::app::{App, Clock};
use harepay::engine::money::{Asset, Money};
use harepay::engine::payment::{NewPaymentIntent, PaymentMethod, PaymentRules, Rail};
use harepay::engine::payout::{Destination, NewPayout, PayoutStatus};
use harepay::engine::principal::Principal;
use harepay::store::sqlite::SqliteStore;

/// A clock the test moves by hand.
struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const HOUR_MS: i64 = 60 * 60 * 1000;

fn ngn(amount_minor: i64) -> Money {
    Money::new(Asset::lookup("NGN").unwrap(), amount_minor).unwrap()
}

async fn write(app: &App, actor: &Principal, tool: &'static str, key: &str, command: Command) -> serde_json::Value {
    let idempotency = IdempotencyInput { key: key.to_owned(), request_sha256_hex: key.to_owned() };
    let write = ToolWrite { actor: actor.clone(), tool, confirm: true, idempotency: Some(idempotency), command };
    match app.execute(write).await.unwrap_or_else(|e| panic!("{tool}: {e}")) {
        WriteOutcome::Executed { response_json } => serde_json::from_str(&response_json).unwrap(),
        other => panic!("{tool}: {other:?}"),
    }
}

#[tokio::test]
async fn an_approval_expires_after_72_hours_of_injected_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("clock.db")).unwrap());
    let clock = Arc::new(ManualClock(AtomicI64::new(1_000_000)));
    let mut rules = PaymentRules::default();
    rules.approvals.threshold_minor_by_asset.insert("NGN", 100_000);
    let app = App::with_store(store, rules, clock.clone());
    app.bootstrap_demo_if_empty().await.unwrap();
    let maker = app.authenticate("sk_test_demo").await.unwrap();

    let payment = write(
        &app,
        &maker,
        "create_payment_intent",
        "pay-1",
        Command::CreatePaymentIntent(NewPaymentIntent {
            amount: ngn(1_000_000),
            network: None,
            method: PaymentMethod::BankTransfer,
            rail: Rail::Rubies,
            settle_as: None,
            customer: None,
            description: None,
            metadata: Default::default(),
        }),
    )
    .await;
    let payment_intent_id = payment["id"].as_str().unwrap().to_owned();
    let settle = Command::SimulatePayment { payment_intent_id, outcome: SimulatedOutcome::Succeeded };
    write(&app, &maker, "simulate_payment", "settle-1", settle).await;
    let payout = write(
        &app,
        &maker,
        "create_payout",
        "payout-1",
        Command::CreatePayout(NewPayout {
            amount: ngn(500_000),
            rail: Rail::Rubies,
            destination: Destination::Bank {
                account_no: "0123456789".into(),
                bank_code: "058".into(),
                account_name: None,
            },
            description: None,
            metadata: Default::default(),
        }),
    )
    .await;
    assert_eq!(payout["status"], "pending_approval");
    let id = payout["id"].as_str().unwrap().to_owned();

    // One millisecond short of 72 hours: the scheduler leaves it alone.
    clock.0.fetch_add(72 * HOUR_MS - 1, Ordering::SeqCst);
    app.run_scheduled_work().await.unwrap();
    assert_eq!(app.get_payout(&maker, id.clone()).await.unwrap().status, PayoutStatus::PendingApproval);

    clock.0.fetch_add(1, Ordering::SeqCst);
    app.run_scheduled_work().await.unwrap();
    let expired = app.get_payout(&maker, id.clone()).await.unwrap();
    assert_eq!(expired.status, PayoutStatus::Canceled);
    assert_eq!(expired.cancellation_reason.as_deref(), Some("approval_expired"));
    let balances = app.balances(&maker, Some(Asset::lookup("NGN").unwrap())).await.unwrap();
    let reserved = balances.iter().find(|row| row.account.code() == "reserved").unwrap();
    assert_eq!(reserved.balance_minor, 0, "the expiry released the funds");
    assert!(app.verify_ledger().await.unwrap().is_sound());
}
