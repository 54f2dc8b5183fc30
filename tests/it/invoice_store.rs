//! Store contract tests for invoices, and the app-level functions billing raises invoices
//! through (`app::invoices::issue_invoice`, `pay_invoice_from_prepaid`) inside one caller's
//! transaction. Each body takes `&dyn Store`; `invoice_store_tests!` runs every body on every
//! backend, as `store.rs` does for the rest of the store.

use std::collections::BTreeMap;

use harepay::app::WriteContext;
use harepay::app::invoices::{issue_invoice, pay_invoice_from_prepaid};
use harepay::engine::SequentialIds;
use harepay::engine::customer::{self, NewCustomer};
use harepay::engine::invoice::{self, Invoice, InvoiceStatus, NewInvoice, NewInvoiceLine};
use harepay::engine::money::{Asset, AssetRef, Money};
use harepay::engine::prepaid;
use harepay::engine::principal::{Mode, Scope};
use harepay::engine::rules::PaymentRules;
use harepay::limits::AMOUNT_MAX_MINOR;
use harepay::store::{EventFilter, InvoiceFilter, InvoiceTotalsFilter, PageRequest, Store, StoreWrite};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn scope(merchant_id: &str, mode: Mode) -> Scope {
    Scope { merchant_id: merchant_id.into(), mode }
}

fn asset(code: &str) -> AssetRef {
    Asset::lookup(code).unwrap()
}

fn page(limit: u32, starting_after: Option<&str>) -> PageRequest {
    PageRequest { limit, starting_after: starting_after.map(str::to_owned) }
}

fn add_customer(session: &mut dyn StoreWrite, scope: &Scope, id: &str) {
    let request =
        NewCustomer { email: format!("{id}@example.com"), name: None, phone: None, metadata: BTreeMap::new() };
    session.insert_customer(&customer::create_customer(scope, request, id.into(), 0).unwrap()).unwrap();
}

fn request(customer_id: &str, currency: &str, unit_amounts_minor: &[i64]) -> NewInvoice {
    NewInvoice {
        customer_id: customer_id.into(),
        currency: asset(currency),
        lines: unit_amounts_minor
            .iter()
            .map(|unit_amount_minor| NewInvoiceLine {
                description: "Consulting".into(),
                quantity: 2,
                unit_amount_minor: *unit_amount_minor,
                price_id: None,
            })
            .collect(),
        due_date_ms: 30 * DAY_MS,
        expires_in_ms: Some(DAY_MS),
        subscription_id: None,
        metadata: BTreeMap::from([("order".to_owned(), "1001".to_owned())]),
    }
}

fn draft(scope: &Scope, ids: &mut SequentialIds, request: NewInvoice) -> Invoice {
    invoice::create_invoice(scope, request, ids, 0).unwrap()
}

mod bodies {
    use super::*;

    pub fn invoices_round_trip_with_their_lines_and_stay_in_their_scope(store: &dyn Store) {
        let test = scope("mch_1", Mode::Test);
        let mut ids = SequentialIds::default();
        let mut session = store.begin_write().unwrap();
        for (scope, customer_id) in [
            (&test, "cus_ada"),
            (&test, "cus_bola"),
            (&scope("mch_1", Mode::Live), "cus_live"),
            (&scope("mch_2", Mode::Test), "cus_other"),
        ] {
            add_customer(&mut *session, scope, customer_id);
        }
        let first = draft(&test, &mut ids, request("cus_ada", "NGN", &[2_500, 0, 100]));
        let second = invoice::finalize_invoice(&draft(&test, &mut ids, request("cus_bola", "NGN", &[700])), 5).unwrap();
        let third = invoice::finalize_invoice(&draft(&test, &mut ids, request("cus_ada", "USD", &[900])), 6).unwrap();
        let live = draft(&scope("mch_1", Mode::Live), &mut ids, request("cus_live", "NGN", &[1]));
        let other = draft(&scope("mch_2", Mode::Test), &mut ids, request("cus_other", "NGN", &[1]));
        for invoice in [&first, &second, &third, &live, &other] {
            session.insert_invoice(invoice).unwrap();
        }
        let (paid, _) = invoice::apply_payment(&second, Money::new(asset("NGN"), 1_400).unwrap(), 7).unwrap();
        session.update_invoice(&paid).unwrap();
        session.commit().unwrap();

        let read = store.begin_read().unwrap();
        assert_eq!(read.get_invoice(&test, &first.id).unwrap().unwrap(), first, "lines, totals and metadata as saved");
        assert_eq!(read.get_invoice(&test, &second.id).unwrap().unwrap(), paid);
        assert_eq!(read.get_invoice(&test, &live.id).unwrap(), None, "another mode's invoice");
        assert_eq!(read.get_invoice(&test, &other.id).unwrap(), None, "another merchant's invoice");
        let ids_of = |filter: InvoiceFilter, request: PageRequest| -> Vec<String> {
            read.list_invoices(&test, &filter, &request).unwrap().items.into_iter().map(|invoice| invoice.id).collect()
        };
        assert_eq!(ids_of(InvoiceFilter::default(), page(10, None)), [third.id.as_str(), &second.id, &first.id]);
        let open = InvoiceFilter { status: Some(InvoiceStatus::Open), customer_id: None };
        assert_eq!(ids_of(open, page(10, None)), [third.id.as_str()]);
        let ada = InvoiceFilter { status: None, customer_id: Some("cus_ada".into()) };
        assert_eq!(ids_of(ada, page(10, None)), [third.id.as_str(), &first.id]);
        let first_page = read.list_invoices(&test, &InvoiceFilter::default(), &page(2, None)).unwrap();
        assert!(first_page.has_more);
        assert_eq!(ids_of(InvoiceFilter::default(), page(2, Some(&second.id))), [first.id.as_str()]);
    }

    pub fn an_invoice_is_found_by_the_payment_intent_that_collects_it(store: &dyn Store) {
        let test = scope("mch_1", Mode::Test);
        let mut ids = SequentialIds::default();
        let mut session = store.begin_write().unwrap();
        add_customer(&mut *session, &test, "cus_ada");
        let open = invoice::finalize_invoice(&draft(&test, &mut ids, request("cus_ada", "NGN", &[5_000])), 1).unwrap();
        session.insert_invoice(&open).unwrap();
        let rules = PaymentRules::default();
        let card = harepay::engine::invoice_payment::InvoicePaymentRequest {
            method: harepay::engine::payment::PaymentMethod::Card,
            rail: harepay::engine::rail::Rail::Card,
            pay_currency: None,
            network: None,
        };
        let (linked, intent) =
            harepay::engine::invoice_payment::start_invoice_payment(&open, card, &rules, "pi_1".into(), 2).unwrap();
        session.insert_payment(&intent).unwrap();
        session.update_invoice(&linked).unwrap();
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        assert_eq!(read.get_invoice_by_payment_intent(&test, "pi_1").unwrap().unwrap(), linked);
        assert_eq!(read.get_invoice_by_payment_intent(&scope("mch_2", Mode::Test), "pi_1").unwrap(), None);
        assert_eq!(read.get_invoice_by_payment_intent(&test, "pi_2").unwrap(), None);
    }

    pub fn totals_are_exact_by_status_and_currency_past_the_i64_range(store: &dyn Store) {
        let test = scope("mch_1", Mode::Test);
        let mut ids = SequentialIds::default();
        let mut session = store.begin_write().unwrap();
        add_customer(&mut *session, &test, "cus_ada");
        add_customer(&mut *session, &test, "cus_bola");
        // 1,100 drafts of the largest total: their sum, about 2^63.1, is past what an i64 holds.
        let largest = NewInvoiceLine {
            description: "Largest".into(),
            quantity: 1,
            unit_amount_minor: AMOUNT_MAX_MINOR,
            price_id: None,
        };
        for _ in 0..1_100 {
            let mut big = request("cus_ada", "NGN", &[]);
            big.lines = vec![largest.clone()];
            session.insert_invoice(&draft(&test, &mut ids, big)).unwrap();
        }
        let open = invoice::finalize_invoice(&draft(&test, &mut ids, request("cus_bola", "NGN", &[5_000])), 1).unwrap();
        let (partly, _) = invoice::apply_payment(&open, Money::new(asset("NGN"), 4_000).unwrap(), 2).unwrap();
        session.insert_invoice(&partly).unwrap();
        let over = invoice::finalize_invoice(&draft(&test, &mut ids, request("cus_bola", "USD", &[100])), 1).unwrap();
        let (overpaid, _) = invoice::apply_payment(&over, Money::new(asset("USD"), 350).unwrap(), 2).unwrap();
        session.insert_invoice(&overpaid).unwrap();
        session.commit().unwrap();

        let read = store.begin_read().unwrap();
        let totals = read.invoice_totals(&test, &InvoiceTotalsFilter::default()).unwrap();
        let summary: Vec<(&str, &str, i64, i128, i128, i128)> = totals
            .iter()
            .map(|row| {
                (
                    row.status.code(),
                    row.currency.code,
                    row.count,
                    row.total_minor,
                    row.amount_paid_minor,
                    row.amount_remaining_minor,
                )
            })
            .collect();
        let big_sum = 1_100 * i128::from(AMOUNT_MAX_MINOR);
        assert!(big_sum > i128::from(i64::MAX));
        assert_eq!(
            summary,
            [
                ("draft", "NGN", 1_100, big_sum, 0, big_sum),
                ("open", "NGN", 1, 10_000, 4_000, 6_000),
                ("paid", "USD", 1, 200, 350, 0),
            ]
        );
        let bola = InvoiceTotalsFilter { customer_id: Some("cus_bola".into()) };
        assert_eq!(read.invoice_totals(&test, &bola).unwrap().len(), 2);
        assert!(read.invoice_totals(&scope("mch_2", Mode::Test), &InvoiceTotalsFilter::default()).unwrap().is_empty());
    }

    pub fn expiring_invoices_are_due_fairly_across_merchants(store: &dyn Store) {
        let mut ids = SequentialIds::default();
        let mut session = store.begin_write().unwrap();
        let (flood, quiet) = (scope("mch_flood", Mode::Test), scope("mch_quiet", Mode::Live));
        add_customer(&mut *session, &flood, "cus_flood");
        add_customer(&mut *session, &quiet, "cus_quiet");
        for _ in 0..50 {
            let open = invoice::finalize_invoice(&draft(&flood, &mut ids, request("cus_flood", "NGN", &[1])), 0);
            session.insert_invoice(&open.unwrap()).unwrap();
        }
        let late = invoice::finalize_invoice(&draft(&quiet, &mut ids, request("cus_quiet", "NGN", &[1])), 500);
        let late = late.unwrap();
        session.insert_invoice(&late).unwrap();
        let never = invoice::finalize_invoice(
            &draft(&quiet, &mut ids, {
                let mut r = request("cus_quiet", "NGN", &[1]);
                r.expires_in_ms = None;
                r
            }),
            0,
        );
        session.insert_invoice(&never.unwrap()).unwrap();
        let paid_draft = draft(&quiet, &mut ids, request("cus_quiet", "NGN", &[1]));
        let (paid, _) = invoice::apply_payment(
            &invoice::finalize_invoice(&paid_draft, 0).unwrap(),
            Money::new(asset("NGN"), 2).unwrap(),
            1,
        )
        .unwrap();
        session.insert_invoice(&paid).unwrap();
        session.commit().unwrap();

        let read = store.begin_read().unwrap();
        assert!(read.expired_invoices(DAY_MS - 1, 100).unwrap().is_empty(), "none before their expiry");
        let due = read.expired_invoices(DAY_MS + 500, 10).unwrap();
        assert_eq!(due.len(), 10);
        assert!(due.iter().any(|step| step.object_id == late.id), "the quiet merchant's invoice is in the first batch");
        let all = read.expired_invoices(DAY_MS + 500, 1_000).unwrap();
        assert_eq!(all.len(), 51, "only open invoices with an expiry that has come");
    }

    pub fn billing_issues_and_auto_charges_an_invoice_in_its_own_transaction(store: &dyn Store) {
        let test = scope("mch_1", Mode::Test);
        let rules = PaymentRules::default();
        let mut ids = SequentialIds::default();
        let mut session = store.begin_write().unwrap();
        add_customer(&mut *session, &test, "cus_ada");
        let ada = session.get_customer(&test, "cus_ada").unwrap().unwrap();
        let mut balances = session.balances_with_customers_for_update(&test, &[asset("NGN")], &["cus_ada"]).unwrap();
        let topup = prepaid::topup(&ada, Money::new(asset("NGN"), 10_000).unwrap(), &mut balances, "ltx_t".into());
        session.post_ledger_transaction(&test, &topup.unwrap(), 0).unwrap();
        let mut context = WriteContext { rules: &rules, ids: &mut ids, now_ms: 10 };
        let issued =
            issue_invoice(&mut *session, &mut context, &test, request("cus_ada", "NGN", &[3_000]), true).unwrap();
        assert_eq!((issued.status, issued.total_minor), (InvoiceStatus::Open, 6_000));
        let paid = pay_invoice_from_prepaid(&mut *session, &mut context, &issued).unwrap();
        assert_eq!((paid.status, paid.amount_remaining_minor()), (InvoiceStatus::Paid, 0));
        let second =
            issue_invoice(&mut *session, &mut context, &test, request("cus_ada", "NGN", &[3_000]), true).unwrap();
        let error = pay_invoice_from_prepaid(&mut *session, &mut context, &second).unwrap_err();
        assert_eq!(error.code(), "insufficient_prepaid_balance", "{error}");
        let error = issue_invoice(&mut *session, &mut context, &test, request("cus_nobody", "NGN", &[1]), false);
        assert_eq!(error.unwrap_err().code(), "not_found");
        session.commit().unwrap();

        let read = store.begin_read().unwrap();
        assert_eq!(read.get_invoice(&test, &issued.id).unwrap().unwrap().status, InvoiceStatus::Paid);
        let prepaid_left = read.customer_prepaid_balances(&test, "cus_ada").unwrap();
        assert_eq!(prepaid_left, vec![(asset("NGN"), 4_000)]);
        let events = read.list_events(&test, &EventFilter::default(), &page(100, None)).unwrap();
        let types: Vec<&str> = events.items.iter().rev().map(|event| event.event_type.as_str()).collect();
        assert_eq!(
            types,
            ["invoice.created", "invoice.finalized", "invoice.paid", "invoice.created", "invoice.finalized"]
        );
        assert!(read.verify_ledger(None).unwrap().is_sound());
    }
}

macro_rules! invoice_store_tests {
    ($backend:ident, $open:ident) => {
        mod $backend {
            #[test]
            fn invoices_round_trip_with_their_lines_and_stay_in_their_scope() {
                let Some((_guard, store)) = super::$open() else { return };
                super::bodies::invoices_round_trip_with_their_lines_and_stay_in_their_scope(&*store);
            }
            #[test]
            fn an_invoice_is_found_by_the_payment_intent_that_collects_it() {
                let Some((_guard, store)) = super::$open() else { return };
                super::bodies::an_invoice_is_found_by_the_payment_intent_that_collects_it(&*store);
            }
            #[test]
            fn totals_are_exact_by_status_and_currency_past_the_i64_range() {
                let Some((_guard, store)) = super::$open() else { return };
                super::bodies::totals_are_exact_by_status_and_currency_past_the_i64_range(&*store);
            }
            #[test]
            fn expiring_invoices_are_due_fairly_across_merchants() {
                let Some((_guard, store)) = super::$open() else { return };
                super::bodies::expiring_invoices_are_due_fairly_across_merchants(&*store);
            }
            #[test]
            fn billing_issues_and_auto_charges_an_invoice_in_its_own_transaction() {
                let Some((_guard, store)) = super::$open() else { return };
                super::bodies::billing_issues_and_auto_charges_an_invoice_in_its_own_transaction(&*store);
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

invoice_store_tests!(sqlite, open_sqlite_store);
invoice_store_tests!(postgres, open_postgres_store);

use crate::backend::open_postgres_store;

/// What SQLite itself refuses, whoever writes: lines changed or removed after the fact, a line
/// whose amount is not quantity × unit amount, amounts that are not integers or below zero, an
/// unknown status.
#[test]
fn sqlite_refuses_rows_harepay_would_never_write() {
    let (dir, store) = open_sqlite();
    let test = scope("mch_1", Mode::Test);
    let mut ids = SequentialIds::default();
    let mut session = store.begin_write().unwrap();
    add_customer(&mut *session, &test, "cus_ada");
    let invoice = draft(&test, &mut ids, request("cus_ada", "NGN", &[2_500]));
    session.insert_invoice(&invoice).unwrap();
    session.commit().unwrap();
    drop(store);
    let connection = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
    let id = &invoice.id;
    for (sql, expected) in [
        (format!("UPDATE invoice_lines SET unit_amount_minor = 1 WHERE invoice_id = '{id}'"), "immutable"),
        (format!("DELETE FROM invoice_lines WHERE invoice_id = '{id}'"), "never deleted"),
        (format!("INSERT INTO invoice_lines VALUES ('{id}', 5, 'x', 2, 100, NULL, 201)"), "CHECK"),
        (format!("INSERT INTO invoice_lines VALUES ('{id}', 6, 'x', 2, 100.5, NULL, 201)"), "CHECK"),
        (format!("INSERT INTO invoice_lines VALUES ('{id}', 7, 'x', 0, 100, NULL, 0)"), "CHECK"),
        (format!("UPDATE invoices SET amount_paid_minor = -1 WHERE id = '{id}'"), "CHECK"),
        (format!("UPDATE invoices SET amount_paid_minor = 1.5 WHERE id = '{id}'"), "CHECK"),
        (format!("UPDATE invoices SET status = 'unpaid' WHERE id = '{id}'"), "CHECK"),
        (format!("UPDATE invoices SET mode = 'sandbox' WHERE id = '{id}'"), "CHECK"),
    ] {
        let error = connection.execute(&sql, []).unwrap_err().to_string();
        assert!(error.contains(expected), "{sql}: {error}");
    }
}
