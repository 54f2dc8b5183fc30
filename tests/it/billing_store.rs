//! Store contract tests for customers, their prepaid ledger accounts, products and prices. Each
//! body takes `&dyn Store`; `billing_store_tests!` runs every body on every backend, as
//! `store.rs` does for the rest of the store.

use std::collections::BTreeMap;

use harepay::engine::catalog::{self, NewPrice, NewProduct, PriceModel};
use harepay::engine::customer::{self, NewCustomer};
use harepay::engine::interval::{Interval, IntervalUnit};
use harepay::engine::ledger::{AccountKind, LedgerAccount, LedgerTransactionBuilder};
use harepay::engine::money::{Asset, Money};
use harepay::engine::prepaid;
use harepay::engine::principal::{Mode, Scope};
use harepay::store::{CustomerFilter, PageRequest, PriceFilter, ProductFilter, Store};

fn scope(merchant_id: &str, mode: Mode) -> Scope {
    Scope { merchant_id: merchant_id.into(), mode }
}

fn ngn() -> &'static Asset {
    Asset::lookup("NGN").unwrap()
}

fn new_customer(scope: &Scope, id: &str, email: &str, now_ms: i64) -> customer::Customer {
    let request = NewCustomer { email: email.into(), name: None, phone: None, metadata: BTreeMap::new() };
    customer::create_customer(scope, request, id.into(), now_ms).unwrap()
}

fn page(limit: u32, starting_after: Option<&str>) -> PageRequest {
    PageRequest { limit, starting_after: starting_after.map(str::to_owned) }
}

mod bodies {
    use super::*;

    pub fn customers_stay_in_their_scope_and_list_by_email_and_state(store: &dyn Store) {
        let test = scope("mch_1", Mode::Test);
        let mut session = store.begin_write().unwrap();
        for (index, email) in ["ada@example.com", "bola@example.com", "ADA@example.com"].into_iter().enumerate() {
            session.insert_customer(&new_customer(&test, &format!("cus_{index}"), email, index as i64)).unwrap();
        }
        session.insert_customer(&new_customer(&scope("mch_1", Mode::Live), "cus_live", "ada@example.com", 9)).unwrap();
        session.insert_customer(&new_customer(&scope("mch_2", Mode::Test), "cus_other", "ada@example.com", 9)).unwrap();
        let archived =
            customer::archive_customer(&session.get_customer_for_update(&test, "cus_1").unwrap().unwrap(), 20);
        session.update_customer(&archived.unwrap()).unwrap();
        session.commit().unwrap();

        let read = store.begin_read().unwrap();
        assert_eq!(read.get_customer(&test, "cus_live").unwrap(), None);
        assert_eq!(read.get_customer(&test, "cus_other").unwrap(), None);
        assert_eq!(read.get_customer(&test, "cus_1").unwrap().unwrap().archived_at_ms, Some(20));
        let ids = |filter: CustomerFilter, request: PageRequest| -> Vec<String> {
            read.list_customers(&test, &filter, &request).unwrap().items.into_iter().map(|c| c.id).collect()
        };
        let by_email = CustomerFilter { email: Some("Ada@Example.COM".into()), archived: None };
        assert_eq!(ids(by_email, page(10, None)), ["cus_2", "cus_0"], "case-insensitive, newest first, own scope");
        assert_eq!(ids(CustomerFilter { email: None, archived: Some(true) }, page(10, None)), ["cus_1"]);
        assert_eq!(ids(CustomerFilter { email: None, archived: Some(false) }, page(10, None)), ["cus_2", "cus_0"]);
        let first = read.list_customers(&test, &CustomerFilter::default(), &page(2, None)).unwrap();
        assert!(first.has_more);
        assert_eq!(ids(CustomerFilter::default(), page(2, Some("cus_1"))), ["cus_0"]);
    }

    pub fn prepaid_accounts_are_ledger_accounts_that_verify_with_their_customers(store: &dyn Store) {
        let test = scope("mch_1", Mode::Test);
        let ada = new_customer(&test, "cus_ada", "ada@example.com", 0);
        let mut session = store.begin_write().unwrap();
        session.insert_customer(&ada).unwrap();
        let mut balances = session.balances_with_customers_for_update(&test, &[ngn()], &["cus_ada"]).unwrap();
        assert_eq!(balances.customer_prepaid("cus_ada", ngn()), 0);
        let money = Money::new(ngn(), 100_000).unwrap();
        let topup = prepaid::topup(&ada, money, &mut balances, "ltx_1".into()).unwrap();
        session.post_ledger_transaction(&test, &topup, 1).unwrap();
        let charge =
            prepaid::charge("cus_ada", Money::new(ngn(), 30_000).unwrap(), &mut balances, "ltx_2".into(), "in_1");
        session.post_ledger_transaction(&test, &charge.unwrap(), 2).unwrap();
        session.commit().unwrap();

        let read = store.begin_read().unwrap();
        let stored = read.balances_with_customers(&test, &[ngn()], &["cus_ada", "cus_nobody"]).unwrap();
        let mut expected = balances.clone();
        expected.set(LedgerAccount::customer_prepaid("cus_nobody"), ngn(), 0);
        assert_eq!(stored, expected, "a customer with no row yet is loaded as zero");
        assert_eq!(read.customer_prepaid_balances(&test, "cus_ada").unwrap(), [(ngn(), 70_000)]);
        assert_eq!(read.customer_prepaid_balances(&scope("mch_1", Mode::Live), "cus_ada").unwrap(), []);
        // The merchant's balance rows do not list a customer's money, and loading the scope's
        // fixed accounts does not trip over the customer's row.
        let rows = read.list_balance_rows(&test).unwrap();
        let rows: Vec<(&str, AccountKind, i64)> =
            rows.iter().map(|row| (row.asset.code, row.account, row.balance_minor)).collect();
        assert_eq!(rows, [("NGN", AccountKind::Available, 30_000)]);
        assert_eq!(read.balances(&test, &[ngn()]).unwrap().get(AccountKind::Available, ngn()), 30_000);
        let report = read.verify_ledger(None).unwrap();
        assert!(report.is_sound(), "{:?}", report.problems());
        assert_eq!((report.transaction_count, report.posting_count), (2, 4));
        drop(read);

        // What only a hand edit or another writer could do is reported: money in a prepaid
        // account of a customer that does not exist there, and a prepaid balance below zero.
        let stray = LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, LedgerAccount::customer_prepaid("cus_ghost"), ngn(), 5)
            .transfer(LedgerAccount::customer_prepaid("cus_ada"), AccountKind::External, ngn(), 80_000)
            .finish("ltx_3".into(), "cus_ghost", "hand edit");
        let mut session = store.begin_write().unwrap();
        session.post_ledger_transaction(&scope("mch_1", Mode::Live), &stray, 3).unwrap();
        session.commit().unwrap();
        let problems = store.begin_read().unwrap().verify_ledger(None).unwrap().problems();
        let text = problems.join("\n");
        assert!(text.contains("customer_prepaid:cus_ghost") && text.contains("no such customer"), "{text}");
        assert!(text.contains("customer_prepaid:cus_ada NGN is negative (-80000)"), "{text}");
        assert!(text.contains("mch_1 live customer_prepaid:cus_ada"), "a customer of another mode: {text}");
        let scoped = store.begin_read().unwrap().verify_ledger(Some(&test)).unwrap();
        assert!(scoped.is_sound(), "the test scope itself is sound: {:?}", scoped.problems());
    }

    pub fn products_and_prices_round_trip_and_prices_are_marked_used_once(store: &dyn Store) {
        let test = scope("mch_1", Mode::Test);
        let product_request = |name: &str, active: bool| NewProduct {
            name: name.into(),
            description: Some("d".into()),
            unit_label: Some("seat".into()),
            metadata: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            active,
        };
        let pro = catalog::create_product(&test, product_request("Pro", true), "prod_pro".into(), 1).unwrap();
        let old = catalog::create_product(&test, product_request("Old", false), "prod_old".into(), 2).unwrap();
        let price_request = |model: PriceModel, interval: Interval| NewPrice {
            product_id: Some("prod_pro".into()),
            model,
            currency: ngn(),
            unit_amount_minor: 100,
            included_units: if model == PriceModel::Usage { 1_000 } else { 0 },
            auto_charge: model == PriceModel::Usage,
            interval,
            trial_period_days: 14,
            active: true,
        };
        let usage = catalog::create_price(
            &test,
            price_request(PriceModel::Usage, Interval::new(IntervalUnit::Month, 1).unwrap()),
            Some(&pro),
            "price_usage".into(),
            3,
        )
        .unwrap();
        let yearly = catalog::create_price(
            &test,
            NewPrice {
                product_id: None,
                ..price_request(PriceModel::Recurring, Interval::from_alias("annual").unwrap())
            },
            None,
            "price_yearly".into(),
            4,
        )
        .unwrap();
        let mut session = store.begin_write().unwrap();
        for product in [&pro, &old] {
            session.insert_product(product).unwrap();
        }
        session.insert_price(&usage).unwrap();
        session.insert_price(&yearly).unwrap();
        session.commit().unwrap();

        let read = store.begin_read().unwrap();
        assert_eq!(read.get_product(&test, "prod_pro").unwrap(), Some(pro.clone()));
        assert_eq!(read.get_product(&scope("mch_1", Mode::Live), "prod_pro").unwrap(), None);
        assert_eq!(read.get_price(&test, "price_usage").unwrap(), Some(usage.clone()));
        assert_eq!(read.get_price(&scope("mch_2", Mode::Test), "price_usage").unwrap(), None);
        let product_ids = |filter: ProductFilter| -> Vec<String> {
            read.list_products(&test, &filter, &page(10, None)).unwrap().items.into_iter().map(|p| p.id).collect()
        };
        assert_eq!(product_ids(ProductFilter::default()), ["prod_old", "prod_pro"]);
        assert_eq!(product_ids(ProductFilter { active: Some(true) }), ["prod_pro"]);
        let price_ids = |filter: PriceFilter, request: PageRequest| -> Vec<String> {
            read.list_prices(&test, &filter, &request).unwrap().items.into_iter().map(|p| p.id).collect()
        };
        let of_pro = PriceFilter { product_id: Some("prod_pro".into()), active: None };
        assert_eq!(price_ids(of_pro, page(10, None)), ["price_usage"]);
        assert_eq!(price_ids(PriceFilter::default(), page(10, Some("price_yearly"))), ["price_usage"]);
        drop(read);

        let mut session = store.begin_write().unwrap();
        session.mark_price_used(&test, "price_usage").unwrap();
        session.mark_price_used(&test, "price_usage").unwrap();
        assert!(session.mark_price_used(&scope("mch_1", Mode::Live), "price_yearly").is_err(), "not in that scope");
        session.commit().unwrap();
        let stored = store.begin_read().unwrap().get_price(&test, "price_usage").unwrap().unwrap();
        assert!(stored.used);
        assert_eq!(stored, harepay::engine::catalog::Price { used: true, ..usage });
    }
}

/// Runs every body against one backend.
macro_rules! billing_store_tests {
    ($backend:ident, $open:ident) => {
        mod $backend {
            use super::bodies;

            #[test]
            fn customers_stay_in_their_scope_and_list_by_email_and_state() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::customers_stay_in_their_scope_and_list_by_email_and_state(&*store);
            }
            #[test]
            fn prepaid_accounts_are_ledger_accounts_that_verify_with_their_customers() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::prepaid_accounts_are_ledger_accounts_that_verify_with_their_customers(&*store);
            }
            #[test]
            fn products_and_prices_round_trip_and_prices_are_marked_used_once() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::products_and_prices_round_trip_and_prices_are_marked_used_once(&*store);
            }
        }
    };
}

fn open_sqlite_store() -> Option<(tempfile::TempDir, Box<dyn Store>)> {
    Some(open_sqlite())
}

fn open_sqlite() -> (tempfile::TempDir, Box<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = harepay::store::sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap();
    (dir, Box::new(store))
}

billing_store_tests!(sqlite, open_sqlite_store);
billing_store_tests!(postgres, open_postgres_store);

use crate::backend::open_postgres_store;

/// SQLite's own guard behind the missing update: a price changed or deleted by any other writer
/// (a hand edit, a bug) is refused by migration 9's triggers; only `used` may go from 0 to 1.
#[test]
fn sqlite_refuses_any_change_to_a_stored_price_but_marking_it_used() {
    let (dir, store) = open_sqlite();
    let test = scope("mch_1", Mode::Test);
    let request = NewPrice {
        product_id: None,
        model: PriceModel::Recurring,
        currency: ngn(),
        unit_amount_minor: 500_000,
        included_units: 0,
        auto_charge: false,
        interval: Interval::from_alias("monthly").unwrap(),
        trial_period_days: 0,
        active: true,
    };
    let price = catalog::create_price(&test, request, None, "price_1".into(), 0).unwrap();
    let mut session = store.begin_write().unwrap();
    session.insert_price(&price).unwrap();
    session.commit().unwrap();
    drop(store);
    let connection = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
    for sql in [
        "UPDATE prices SET unit_amount_minor = 1 WHERE id = 'price_1'",
        "UPDATE prices SET interval_count = 2 WHERE id = 'price_1'",
        "UPDATE prices SET included_units = 5 WHERE id = 'price_1'",
        "UPDATE prices SET currency = 'USD' WHERE id = 'price_1'",
        "UPDATE prices SET merchant_id = 'mch_2' WHERE id = 'price_1'",
        "DELETE FROM prices WHERE id = 'price_1'",
    ] {
        let error = connection.execute(sql, []).unwrap_err().to_string();
        assert!(error.contains("prices are immutable"), "{sql}: {error}");
    }
    connection.execute("UPDATE prices SET used = 1 WHERE id = 'price_1'", []).unwrap();
    let error = connection.execute("UPDATE prices SET used = 0 WHERE id = 'price_1'", []).unwrap_err();
    assert!(error.to_string().contains("immutable"), "{error}");
    let stored: (i64, i64) = connection
        .query_row("SELECT unit_amount_minor, used FROM prices WHERE id = 'price_1'", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(stored, (500_000, 1));
}
