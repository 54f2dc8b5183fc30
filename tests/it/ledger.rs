//! The ledger at the edge of i64, through the real binary: a run of maximal test payments ends in
//! a typed `balance_overflow` refusal that changes nothing, and a database carrying a value that
//! is not an integer is reported by `verify` and `system_status` as a problem, not an error.

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::support::{Client, Harepay, MAKER_KEY};

/// The largest amount a tool accepts: 2^53 − 1 minor units.
const MAXIMAL_AMOUNT_MINOR: i64 = harepay::limits::AMOUNT_MAX_MINOR;

/// Calls in flight at once: enough for the writer to commit them in groups.
const CALLS_IN_FLIGHT: usize = 128;

/// Calls `tool` once per argument set, `CALLS_IN_FLIGHT` at a time; results in argument order.
async fn call_pipelined(client: &Client, tool: &str, argument_sets: Vec<Value>) -> Vec<Value> {
    let mut results = Vec::with_capacity(argument_sets.len());
    for chunk in argument_sets.chunks(CALLS_IN_FLIGHT) {
        let mut calls = tokio::task::JoinSet::new();
        for (index, arguments) in chunk.iter().enumerate() {
            let peer = client.service.peer().clone();
            let request = CallToolRequestParams::new(tool.to_owned())
                .with_arguments(arguments.as_object().cloned().expect("arguments are an object"));
            calls.spawn(async move { (index, peer.call_tool(request).await) });
        }
        let mut chunk_results = vec![Value::Null; chunk.len()];
        while let Some(joined) = calls.join_next().await {
            let (index, result) = joined.expect("call task");
            let result = result.unwrap_or_else(|error| panic!("{tool}: {error}"));
            let structured = result.structured_content.expect("every result has structuredContent");
            assert_ne!(result.is_error, Some(true), "{tool} failed: {structured}");
            chunk_results[index] = structured;
        }
        results.extend(chunk_results);
    }
    results
}

/// Creates `count` confirmed NGN bank-transfer payments of `amount_minor`; returns their ids.
async fn create_payments(client: &Client, count: usize, amount_minor: i64) -> Vec<String> {
    let argument_sets = (0..count)
        .map(|index| {
            json!({
                "amount": {"amount": amount_minor, "currency": "NGN"},
                "method": "bank_transfer",
                "rail": "rubies",
                "confirm": true,
                "idempotency_key": format!("maximal-{index}"),
            })
        })
        .collect();
    let created = call_pipelined(client, "create_payment_intent", argument_sets).await;
    created.iter().map(|result| result["object"]["id"].as_str().expect("payment id").to_owned()).collect()
}

fn settle_arguments(payment_id: &str) -> Value {
    let idempotency_key = format!("settle-{payment_id}");
    json!({"id": payment_id, "outcome": "succeeded", "confirm": true, "idempotency_key": idempotency_key})
}

/// What a refused write must leave exactly as it was.
async fn observable_state(client: &Client, payment_id: &str) -> Value {
    let status = client.call("system_status", json!({})).await;
    json!({
        "balance": client.call("get_balance", json!({"asset": "NGN"})).await,
        "payment": client.call("get_payment", json!({"id": payment_id})).await["payment_intent"],
        "ledger": status["ledger"],
        "events": client.call("list_events", json!({"limit": 5})).await,
    })
}

async fn expect_sound(harepay: &Harepay, client: &Client) {
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["status"], "ok", "{status}");
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    let verify = harepay.cli(&["verify"]);
    assert!(
        verify.status.success(),
        "verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// The external account of a merchant goes down by every payment it receives. With payments of
/// 2^53 − 1 minor units, 1,024 fit in i64; the 1,025th is refused with `balance_overflow`,
/// changes nothing, and the ledger stays sound and usable.
#[tokio::test]
async fn maximal_test_payments_end_in_a_typed_overflow_refusal_that_changes_nothing() {
    let harepay = Harepay::new();
    // 2,050 calls in a few seconds from one key are what the per-key rate limit refuses; this
    // test is about the ledger, so it runs without that limit.
    let client = harepay.connect_env(MAKER_KEY, &[("HAREPAY_RATE_LIMIT_PER_KEY", "off")]).await;
    let fitting = usize::try_from((i128::from(i64::MAX) + 1) / i128::from(MAXIMAL_AMOUNT_MINOR)).unwrap();
    assert_eq!(fitting, 1_024);
    let ids = create_payments(&client, fitting + 1, MAXIMAL_AMOUNT_MINOR).await;
    let (last_id, fitting_ids) = ids.split_last().unwrap();
    let settled =
        call_pipelined(&client, "simulate_payment", fitting_ids.iter().map(|id| settle_arguments(id)).collect()).await;
    assert!(settled.iter().all(|result| result["object"]["status"] == "succeeded"));
    let available_minor = client.available("NGN").await;
    assert!(available_minor > 0, "the merchant holds {available_minor}");

    let before = observable_state(&client, last_id).await;
    let error = client.call_error("simulate_payment", settle_arguments(last_id)).await;
    assert_eq!(error["type"], "balance_overflow", "{error}");
    assert_eq!(error["param"], "amount", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("external") && message.contains("NGN"), "{message}");
    // A preview is refused the same way.
    let mut preview = settle_arguments(last_id);
    preview["confirm"] = json!(false);
    assert_eq!(client.call_error("simulate_payment", preview).await["type"], "balance_overflow");
    assert_eq!(observable_state(&client, last_id).await, before, "the refusal changed something");
    expect_sound(&harepay, &client).await;

    // The ledger is not stuck: a refund gives the external account room, and the refused payment
    // then settles.
    let refund = json!({"id": fitting_ids[0], "confirm": true, "idempotency_key": "refund-first"});
    client.call("refund_payment", refund).await;
    let settled = client.call("simulate_payment", settle_arguments(last_id)).await;
    assert_eq!(settled["object"]["status"], "succeeded", "{settled}");
    expect_sound(&harepay, &client).await;
    client.close().await;
}

fn open_database(harepay: &Harepay) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(&harepay.db).expect("open the database file");
    connection.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    connection
}

fn verify_output(harepay: &Harepay) -> (bool, String) {
    let verify = harepay.cli(&["verify"]);
    let output = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    (verify.status.success(), output)
}

/// A balance or posting that is not an integer, however it got there (here: written past the CHECK with
/// `ignore_check_constraints`, as a hand edit would), is a problem `verify` and `system_status`
/// report, not an internal error; and no money moves on top of it in that asset.
#[tokio::test]
async fn a_real_balance_written_past_the_check_is_reported_as_a_problem() {
    if crate::backend::skip_on_postgres(
        "SQLite's flexible typing lets a hand edit store a non-integer balance; a PostgreSQL BIGINT column cannot hold one",
    ) {
        return;
    }
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    client.create_succeeded_payment(1_000_000, "order-1").await;
    let waiting = client.create_payment(2_000_000, "order-2").await;
    client.close().await;

    let connection = open_database(&harepay);
    let refused = connection.execute("UPDATE account_balances SET balance_minor = 1.5 WHERE account = 'external'", []);
    assert!(refused.is_err(), "the schema refuses a REAL balance");
    connection.execute_batch("PRAGMA ignore_check_constraints = ON").unwrap();
    connection.execute("UPDATE account_balances SET balance_minor = -1.0e19 WHERE account = 'external'", []).unwrap();
    let tampered_fee =
        "UPDATE ledger_postings SET amount_minor = 2.5 WHERE seq = (SELECT MAX(seq) FROM ledger_postings)";
    connection.execute(tampered_fee, []).unwrap();
    drop(connection);

    let (success, output) = verify_output(&harepay);
    assert!(!success, "verify must fail on a REAL balance: {output}");
    assert!(output.contains("balance of mch_demo test external NGN is not an integer: real"), "{output}");
    assert!(output.contains("is not an integer: real 2.5") && output.contains("sums to"), "{output}");
    assert!(!output.contains("internal error"), "{output}");

    let client = harepay.connect(MAKER_KEY).await;
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["status"], "ledger_unsound", "{status}");
    let problems = status["ledger"]["problems"].to_string();
    assert!(problems.contains("external NGN is not an integer"), "{problems}");
    // The merchant's own balances still read; moving money in NGN is refused and changes nothing.
    assert_eq!(client.available("NGN").await, 995_000);
    client.expect_error("simulate_payment", settle_arguments(&waiting), "internal_error").await;
    let payment = client.call("get_payment", json!({"id": waiting})).await;
    assert_eq!(payment["payment_intent"]["status"], "requires_action");
    client.close().await;
}

/// An old database (schema 3) on which the overflow bug already struck: 1,025 maximal payments
/// took the external account past i64 and SQLite kept the sum as a REAL. Upgrading moves that
/// value into the quarantine and keeps everything else; `verify` and `system_status` report it,
/// with the postings' true sum (beyond i64) computed in 128 bits.
#[tokio::test]
async fn an_old_database_with_an_overflowed_balance_is_migrated_and_reported() {
    if crate::backend::skip_on_postgres(
        "a schema-3 SQLite file and its migration; PostgreSQL's schema starts at the current version",
    ) {
        return;
    }
    let harepay = Harepay::new();
    let payments = 1_025_i64;
    let fee_minor = 45_035_996_273_705_i64; // rubies: 0.5% of 2^53 − 1, rounded up
    write_overflowed_schema_3_database(&harepay, payments, fee_minor);
    let key = harepay.create_key(&["--owner", "ops", "--merchant", "mch_old", "--role", "admin"]);

    let connection = open_database(&harepay);
    let quarantined: (String, String, String) = connection
        .query_row("SELECT source_table, account, stored_type FROM ledger_quarantine", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
    assert_eq!(quarantined, ("account_balances".to_owned(), "external".to_owned(), "real".to_owned()));
    let kept: i64 = connection.query_row("SELECT COUNT(*) FROM account_balances", [], |row| row.get(0)).unwrap();
    assert_eq!(kept, 2, "available and fees are kept");
    let postings: i64 = connection.query_row("SELECT COUNT(*) FROM ledger_postings", [], |row| row.get(0)).unwrap();
    assert_eq!(postings, payments * 3, "every posting is kept");
    let index: i64 = connection
        .query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'ledger_postings_by_transaction'", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(index, 1, "the postings index is rebuilt");
    let next_seq: i64 = connection
        .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'ledger_postings'", [], |row| row.get(0))
        .unwrap();
    assert_eq!(next_seq, payments * 3, "posting seq numbers continue where they were");
    let refused = connection.execute(
        "INSERT INTO ledger_postings (transaction_id, merchant_id, mode, account, asset, amount_minor) \
         VALUES ('ltx_1', 'mch_old', 'test', 'fees', 'NGN', 2.5)",
        [],
    );
    assert!(refused.is_err(), "the rebuilt table refuses a REAL posting");
    drop(connection);

    let external_sum = -i128::from(payments) * i128::from(MAXIMAL_AMOUNT_MINOR);
    assert!(i64::try_from(external_sum).is_err());
    let (success, output) = verify_output(&harepay);
    assert!(!success, "{output}");
    assert!(
        output.contains("balance of mch_old test external NGN (quarantined by migration 5) is not an integer: real"),
        "{output}"
    );
    assert!(output.contains(&format!("postings sum to {external_sum}")), "{output}");

    let client = harepay.connect(&key).await;
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["status"], "ledger_unsound", "{status}");
    assert_eq!(status["ledger"]["problems"].as_array().unwrap().len(), 2, "{status}");
    let expected_available = payments * (MAXIMAL_AMOUNT_MINOR - fee_minor);
    assert_eq!(client.available("NGN").await, expected_available);
    client.close().await;
}

/// Schema 1–3 as an older harepay made it, with one merchant whose external NGN balance was
/// taken past i64 by the old `balance_minor + excluded.balance_minor` upsert.
fn write_overflowed_schema_3_database(harepay: &Harepay, payments: i64, fee_minor: i64) {
    let connection = open_database(harepay);
    connection
        .execute_batch(&format!(
            "BEGIN; {} {} {} \
             CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL); \
             INSERT INTO schema_migrations VALUES (1, 0), (2, 0), (3, 0); \
             INSERT INTO merchants VALUES ('mch_old', 'Old', 0); COMMIT;",
            include_str!("../../src/store/sqlite/schema.sql"),
            include_str!("../../src/store/sqlite/schema_v2.sql"),
            include_str!("../../src/store/sqlite/schema_v3.sql"),
        ))
        .unwrap();
    let transaction = connection.unchecked_transaction().unwrap();
    let legs =
        [("external", -MAXIMAL_AMOUNT_MINOR), ("available", MAXIMAL_AMOUNT_MINOR - fee_minor), ("fees", fee_minor)];
    for index in 0..payments {
        let transaction_id = format!("ltx_{index}");
        transaction
            .execute(
                "INSERT INTO ledger_transactions (id, merchant_id, mode, reference_id, reason, created_at_ms) \
                 VALUES (?1, 'mch_old', 'test', ?2, 'payment_intent.succeeded', 0)",
                [&transaction_id, &format!("pi_{index}")],
            )
            .unwrap();
        for (account, amount_minor) in legs {
            transaction
                .execute(
                    "INSERT INTO ledger_postings (transaction_id, merchant_id, mode, account, asset, amount_minor) \
                     VALUES (?1, 'mch_old', 'test', ?2, 'NGN', ?3)",
                    rusqlite::params![transaction_id, account, amount_minor],
                )
                .unwrap();
            transaction
                .execute(
                    "INSERT INTO account_balances (merchant_id, mode, account, asset, balance_minor) \
                     VALUES ('mch_old', 'test', ?1, 'NGN', ?2) ON CONFLICT (merchant_id, mode, account, asset) \
                     DO UPDATE SET balance_minor = balance_minor + excluded.balance_minor",
                    rusqlite::params![account, amount_minor],
                )
                .unwrap();
        }
    }
    transaction.commit().unwrap();
    let external_type: String = connection
        .query_row("SELECT typeof(balance_minor) FROM account_balances WHERE account = 'external'", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(external_type, "real", "the old upsert turns the overflowed sum into a REAL");
}

mod store_at_the_edges {
    //! The store's own guard, without the engine in front: random transactions near the i64
    //! limits posted straight to SQLite. An accepted one moves each stored balance by exactly its
    //! postings; a refused one (`BalanceOverflow`) writes nothing; `verify_ledger` stays sound.
    //! Customer prepaid accounts are among them, held to the same rules.

    use std::collections::BTreeMap;

    use harepay::engine::customer::{NewCustomer, create_customer};
    use harepay::engine::ledger::{AccountKind, LedgerAccount, LedgerTransactionBuilder};
    use harepay::engine::money::Asset;
    use harepay::engine::principal::{Mode, Scope};
    use harepay::store::sqlite::SqliteStore;
    use harepay::store::{Store, StoreError};
    use proptest::prelude::*;

    fn edge_amount() -> impl Strategy<Value = i64> {
        prop_oneof![Just(i64::MAX), (i64::MAX - 1_000)..=i64::MAX, Just(1_i64 << 62), 0_i64..1_000, 0_i64..=i64::MAX]
    }

    const CUSTOMER_ID: &str = "cus_edge";

    /// Every fixed account and one customer's prepaid account.
    fn accounts() -> Vec<LedgerAccount> {
        let mut accounts: Vec<LedgerAccount> = AccountKind::ALL.into_iter().map(LedgerAccount::from).collect();
        accounts.push(LedgerAccount::customer_prepaid(CUSTOMER_ID));
        accounts
    }

    fn transfer() -> impl Strategy<Value = (LedgerAccount, LedgerAccount, &'static str, i64)> {
        let account = || prop::sample::select(accounts());
        (account(), account(), prop::sample::select(vec!["NGN", "BTC"]), edge_amount())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn stored_balances_never_leave_i64_and_refusals_write_nothing(
            transactions in prop::collection::vec(prop::collection::vec(transfer(), 1..=3), 1..24),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("edges.db")).unwrap();
            let scope = Scope { merchant_id: "mch_edge".into(), mode: Mode::Test };
            let assets = [Asset::lookup("NGN").unwrap(), Asset::lookup("BTC").unwrap()];
            let request = NewCustomer { email: "edge@example.com".into(), name: None, phone: None, metadata: BTreeMap::new() };
            let mut session = store.begin_write().unwrap();
            session.insert_customer(&create_customer(&scope, request, CUSTOMER_ID.into(), 0).unwrap()).unwrap();
            session.commit().unwrap();
            let mut model: BTreeMap<(LedgerAccount, &str), i128> = BTreeMap::new();
            let mut accepted = 0;
            for (index, transfers) in transactions.into_iter().enumerate() {
                let mut builder = LedgerTransactionBuilder::new();
                for (from, to, code, amount_minor) in transfers {
                    builder = builder.transfer(from, to, Asset::lookup(code).unwrap(), amount_minor);
                }
                let transaction = builder.finish(format!("ltx_{index}"), "pi_edge", "edge");
                let mut after = model.clone();
                for posting in &transaction.postings {
                    let balance = after.entry((posting.account.clone(), posting.asset.code)).or_default();
                    *balance += i128::from(posting.amount_minor);
                }
                let fits = after.values().all(|balance| i64::try_from(*balance).is_ok());
                let mut session = store.begin_write().unwrap();
                match session.post_ledger_transaction(&scope, &transaction, 0) {
                    Ok(()) => {
                        prop_assert!(fits, "the store accepted an overflow: {:?}", transaction.postings);
                        model = after;
                        if !transaction.postings.is_empty() {
                            accepted += 1;
                        }
                    }
                    Err(error) => {
                        prop_assert!(!fits, "refused without cause: {}", error);
                        prop_assert!(matches!(error, StoreError::BalanceOverflow(_)), "{}", error);
                    }
                }
                session.commit().unwrap();
                let read = store.begin_read().unwrap();
                let balances = read.balances_with_customers(&scope, &assets, &[CUSTOMER_ID]).unwrap();
                for asset in assets {
                    let mut sum = 0_i128;
                    for account in accounts() {
                        let stored = i128::from(balances.get(account.clone(), asset));
                        prop_assert_eq!(stored, model.get(&(account, asset.code)).copied().unwrap_or(0));
                        sum += stored;
                    }
                    prop_assert_eq!(sum, 0, "{} does not sum to zero", asset.code);
                }
            }
            let report = store.begin_read().unwrap().verify_ledger(None).unwrap();
            // Floors are the engine's rule, and the engine is not in front here: merchant balances
            // may be negative. Everything the store owns must hold.
            let balanced = report.unbalanced_transactions.is_empty() && report.unbalanced_assets.is_empty();
            let consistent = report.balance_mismatches.is_empty()
                && report.non_integer_values.is_empty()
                && report.unknown_accounts.is_empty();
            prop_assert!(balanced && consistent, "{:?}", report.problems());
            prop_assert_eq!(report.transaction_count, accepted, "a refused transaction left a record");
        }
    }
}
