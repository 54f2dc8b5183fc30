//! Store contract tests. Each body takes `&dyn Store`; `store_tests!` runs every body on every
//! backend, so the PostgreSQL backend will be held to the same contract by one more line.

use std::collections::BTreeMap;

use harepay::engine::SequentialIds;
use harepay::engine::ledger::{AccountKind, LedgerTransactionBuilder};
use harepay::engine::money::{Asset, Money};
use harepay::engine::payment::{self, NewPaymentIntent, PaymentMethod, PaymentStatus};
use harepay::engine::principal::{Mode, Role, Scope};
use harepay::engine::rail::Rail;
use harepay::engine::rules::PaymentRules;
use harepay::store::{
    ApiKeyRecord, AuditRecord, EventFilter, EventRecord, IdempotencyRecord, MerchantRecord, PageRequest, PaymentFilter,
    ScheduledStep, StepRetry, Store, StoreError,
};

fn scope(mode: Mode) -> Scope {
    Scope { merchant_id: "mch_1".into(), mode }
}

fn ngn() -> &'static Asset {
    Asset::lookup("NGN").unwrap()
}

fn new_payment(id: &str, mode: Mode, amount_minor: i64, now_ms: i64) -> payment::PaymentIntent {
    let request = NewPaymentIntent {
        amount: Money::new(ngn(), amount_minor).unwrap(),
        network: None,
        method: PaymentMethod::BankTransfer,
        rail: Rail::Rubies,
        settle_as: None,
        customer: Some("cus_1".into()),
        description: Some("order".into()),
        metadata: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        expires_in_ms: None,
    };
    payment::create_payment_intent(&scope(mode), request, &PaymentRules::default(), id.to_owned(), now_ms).unwrap()
}

fn seed_merchant(store: &dyn Store) {
    let mut session = store.begin_write().unwrap();
    session.insert_merchant(&MerchantRecord { id: "mch_1".into(), name: "One".into(), created_at_ms: 0 }).unwrap();
    session.commit().unwrap();
}

mod bodies {
    use super::*;

    pub fn payments_round_trip_and_stay_in_their_mode(store: &dyn Store) {
        seed_merchant(store);
        let payment = new_payment("pi_1", Mode::Test, 1_000, 10);
        let mut session = store.begin_write().unwrap();
        session.insert_payment(&payment).unwrap();
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        assert_eq!(read.get_payment(&scope(Mode::Test), "pi_1").unwrap(), Some(payment.clone()));
        assert_eq!(read.get_payment(&scope(Mode::Live), "pi_1").unwrap(), None);
        drop(read);

        let mut ids = SequentialIds::default();
        let mut balances = harepay::engine::ledger::Balances::default();
        let (processing, _) = payment::mark_processing(&payment, &mut balances, &mut ids, 11).unwrap();
        let mut session = store.begin_write().unwrap();
        session.update_payment(&processing).unwrap();
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        let stored = read.get_payment(&scope(Mode::Test), "pi_1").unwrap().unwrap();
        assert_eq!(stored.status, PaymentStatus::Processing);
        assert_eq!(stored.next_action, None);
    }

    pub fn lists_are_newest_first_with_cursor_and_filters(store: &dyn Store) {
        seed_merchant(store);
        let mut session = store.begin_write().unwrap();
        for index in 0..5 {
            session.insert_payment(&new_payment(&format!("pi_{index}"), Mode::Test, 100 + index, index)).unwrap();
        }
        session.insert_payment(&new_payment("pi_live", Mode::Live, 100, 9)).unwrap();
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        let filter = PaymentFilter::default();
        let page =
            read.list_payments(&scope(Mode::Test), &filter, &PageRequest { limit: 2, starting_after: None }).unwrap();
        let ids: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["pi_4", "pi_3"]);
        assert!(page.has_more);
        let page = read
            .list_payments(&scope(Mode::Test), &filter, &PageRequest { limit: 10, starting_after: Some("pi_3".into()) })
            .unwrap();
        let ids: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["pi_2", "pi_1", "pi_0"]);
        assert!(!page.has_more);
        let ranged = PaymentFilter { created_gte_ms: Some(1), created_lt_ms: Some(3), ..PaymentFilter::default() };
        let page =
            read.list_payments(&scope(Mode::Test), &ranged, &PageRequest { limit: 10, starting_after: None }).unwrap();
        assert_eq!(page.items.len(), 2);
    }

    pub fn postings_update_balances_and_verify_sound(store: &dyn Store) {
        seed_merchant(store);
        let transaction = LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, AccountKind::Pending, ngn(), 1_000)
            .transfer(AccountKind::Pending, AccountKind::Available, ngn(), 990)
            .transfer(AccountKind::Pending, AccountKind::Fees, ngn(), 10)
            .finish("ltx_1".into(), "pi_1", "test");
        let mut session = store.begin_write().unwrap();
        session.post_ledger_transaction(&scope(Mode::Test), &transaction, 0).unwrap();
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        let balances = read.balances(&scope(Mode::Test), &[ngn()]).unwrap();
        assert_eq!(balances.get(AccountKind::Available, ngn()), 990);
        assert_eq!(balances.get(AccountKind::Pending, ngn()), 0);
        let live = read.balances(&scope(Mode::Live), &[ngn()]).unwrap();
        assert_eq!(live.get(AccountKind::Available, ngn()), 0);
        let report = read.verify_ledger(None).unwrap();
        assert!(report.is_sound(), "{report:?}");
        assert_eq!(report.transaction_count, 1);
        assert_eq!(report.posting_count, 6);
    }

    /// The store's own guard, behind the engine's: a posting that would take any stored balance
    /// (here the system account `external`) outside i64 is refused before anything is written.
    pub fn a_posting_that_would_overflow_a_stored_balance_writes_nothing(store: &dyn Store) {
        seed_merchant(store);
        let payment = |id: &str, amount_minor: i64| {
            LedgerTransactionBuilder::new()
                .transfer(AccountKind::External, AccountKind::Pending, ngn(), amount_minor)
                .transfer(AccountKind::Pending, AccountKind::Available, ngn(), amount_minor)
                .finish(id.into(), "pi_1", "test")
        };
        let mut session = store.begin_write().unwrap();
        session.post_ledger_transaction(&scope(Mode::Test), &payment("ltx_1", i64::MAX), 0).unwrap();
        let fee = LedgerTransactionBuilder::new().transfer(AccountKind::External, AccountKind::Fees, ngn(), 2).finish(
            "ltx_2".into(),
            "pi_2",
            "test",
        );
        let error = session.post_ledger_transaction(&scope(Mode::Test), &fee, 0).unwrap_err();
        assert!(matches!(error, StoreError::BalanceOverflow(_)), "{error}");
        assert!(error.to_string().contains("external"), "{error}");
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        let balances = read.balances(&scope(Mode::Test), &[ngn()]).unwrap();
        assert_eq!(balances.get(AccountKind::External, ngn()), -i64::MAX, "system accounts are loaded too");
        assert_eq!(balances.get(AccountKind::Available, ngn()), i64::MAX);
        let report = read.verify_ledger(None).unwrap();
        assert!(report.is_sound(), "{report:?}");
        assert_eq!((report.transaction_count, report.posting_count), (1, 4), "the refused transaction left nothing");
    }

    pub fn a_rolled_back_savepoint_and_an_uncommitted_session_leave_nothing(store: &dyn Store) {
        seed_merchant(store);
        let mut session = store.begin_write().unwrap();
        let refused: Result<(), StoreError> = session.in_savepoint(|tx| {
            tx.insert_payment(&new_payment("pi_undone", Mode::Test, 1, 0))?;
            Err(StoreError::Corrupt("refused".into()))
        });
        assert!(refused.is_err());
        session.in_savepoint(|tx| tx.insert_payment(&new_payment("pi_kept", Mode::Test, 1, 0))).unwrap();
        session.commit().unwrap();
        let mut session = store.begin_write().unwrap();
        session.insert_payment(&new_payment("pi_dropped", Mode::Test, 1, 0)).unwrap();
        drop(session);
        let read = store.begin_read().unwrap();
        assert!(read.get_payment(&scope(Mode::Test), "pi_undone").unwrap().is_none());
        assert!(read.get_payment(&scope(Mode::Test), "pi_kept").unwrap().is_some());
        assert!(read.get_payment(&scope(Mode::Test), "pi_dropped").unwrap().is_none());
    }

    /// Savepoints nest; one that is always undone (a preview) leaves nothing even when its body
    /// succeeds; a panic in a body undoes it before it goes on, and the session stays usable.
    pub fn savepoints_nest_previews_leave_nothing_and_a_panic_undoes_its_body(store: &dyn Store) {
        seed_merchant(store);
        let mut session = store.begin_write().unwrap();
        session
            .in_savepoint(|outer| {
                outer.insert_payment(&new_payment("pi_outer", Mode::Test, 1, 0))?;
                let inner: Result<(), StoreError> = outer.in_savepoint(|inner| {
                    inner.insert_payment(&new_payment("pi_inner", Mode::Test, 1, 0))?;
                    Err(StoreError::Corrupt("inner refused".into()))
                });
                assert!(inner.is_err());
                assert!(outer.get_payment(&scope(Mode::Test), "pi_inner")?.is_none(), "the inner one is undone");
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let seen_in_preview = session
            .in_savepoint_always_undone(|tx| {
                tx.insert_payment(&new_payment("pi_previewed", Mode::Test, 1, 0))?;
                Ok::<_, StoreError>(tx.get_payment(&scope(Mode::Test), "pi_previewed")?.is_some())
            })
            .unwrap();
        assert!(seen_in_preview, "a preview sees its own writes before they are undone");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), StoreError> = session.in_savepoint(|tx| {
                tx.insert_payment(&new_payment("pi_panicked", Mode::Test, 1, 0))?;
                panic!("a broken invariant");
            });
        }));
        assert!(panicked.is_err(), "the panic goes on after the undo");
        session.in_savepoint(|tx| tx.insert_payment(&new_payment("pi_after", Mode::Test, 1, 0))).unwrap();
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        let stored = |id: &str| read.get_payment(&scope(Mode::Test), id).unwrap().is_some();
        assert!(stored("pi_outer") && stored("pi_after"));
        assert!(!stored("pi_inner") && !stored("pi_previewed") && !stored("pi_panicked"));
    }

    /// The locking reads a decision uses see the session's own writes, as the plain reads do.
    pub fn reads_for_update_see_the_sessions_own_writes(store: &dyn Store) {
        seed_merchant(store);
        let transaction = LedgerTransactionBuilder::new()
            .transfer(AccountKind::External, AccountKind::Available, ngn(), 700)
            .finish("ltx_1".into(), "pi_1", "test");
        let mut session = store.begin_write().unwrap();
        session.insert_payment(&new_payment("pi_1", Mode::Test, 700, 0)).unwrap();
        session.post_ledger_transaction(&scope(Mode::Test), &transaction, 0).unwrap();
        let balances = session.balances_for_update(&scope(Mode::Test), &[ngn()]).unwrap();
        assert_eq!(balances.get(AccountKind::Available, ngn()), 700);
        assert_eq!(balances, session.balances(&scope(Mode::Test), &[ngn()]).unwrap());
        let payment = session.get_payment_for_update(&scope(Mode::Test), "pi_1").unwrap();
        assert_eq!(payment.map(|payment| payment.id), Some("pi_1".to_owned()));
        assert_eq!(session.get_payout_for_update(&scope(Mode::Test), "po_none").unwrap(), None);
        let spent = session.merchant_payout_spend_since_for_update(&scope(Mode::Test), ngn(), 0).unwrap();
        assert_eq!(spent, 0);
        let owner_spent =
            session.owner_payout_spend_since_for_update(&scope(Mode::Test), "alice", ngn(), 0, 1..i64::MAX).unwrap();
        assert_eq!(owner_spent, (0, 0));
    }

    pub fn idempotency_keys_are_unique_per_scope(store: &dyn Store) {
        seed_merchant(store);
        let record = |mode| IdempotencyRecord {
            scope: scope(mode),
            key: "order-1".into(),
            operation: "create_payment_intent".into(),
            request_sha256_hex: "ab".into(),
            object_id: Some("pi_1".into()),
            response_json: "{}".into(),
            created_at_ms: 0,
        };
        let mut session = store.begin_write().unwrap();
        session.insert_idempotency(&record(Mode::Test)).unwrap();
        session.insert_idempotency(&record(Mode::Live)).unwrap();
        let duplicate = session.insert_idempotency(&record(Mode::Test)).unwrap_err();
        assert!(matches!(duplicate, StoreError::Conflict { what: "idempotency key" }), "once per scope: {duplicate}");
        drop(session);
        let mut session = store.begin_write().unwrap();
        session.insert_idempotency(&record(Mode::Test)).unwrap();
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        assert_eq!(read.get_idempotency(&scope(Mode::Test), "order-1").unwrap(), Some(record(Mode::Test)));
        assert_eq!(read.get_idempotency(&scope(Mode::Test), "order-2").unwrap(), None);
    }

    /// A duplicate of a unique object is a `Conflict` naming it, in whatever backend.
    pub fn a_duplicate_object_is_a_conflict_naming_it(store: &dyn Store) {
        seed_merchant(store);
        let mut session = store.begin_write().unwrap();
        session.insert_payment(&new_payment("pi_1", Mode::Test, 1, 0)).unwrap();
        let duplicate = session.insert_payment(&new_payment("pi_1", Mode::Test, 2, 0)).unwrap_err();
        assert!(matches!(duplicate, StoreError::Conflict { what: "payment intent" }), "{duplicate}");
        let merchant = MerchantRecord { id: "mch_1".into(), name: "Again".into(), created_at_ms: 0 };
        let duplicate = session.insert_merchant(&merchant).unwrap_err();
        assert!(matches!(duplicate, StoreError::Conflict { what: "merchant" }), "{duplicate}");
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        assert_eq!(read.get_payment(&scope(Mode::Test), "pi_1").unwrap().unwrap().amount.amount_minor, 1);
    }

    /// Records older than the cut-off go, oldest first and at most `limit` at a time, in every
    /// scope; younger ones stay; a purged key can be stored again.
    pub fn idempotency_records_are_purged_oldest_first_in_bounded_batches(store: &dyn Store) {
        seed_merchant(store);
        let record = |mode, key: &str, created_at_ms| IdempotencyRecord {
            scope: scope(mode),
            key: key.into(),
            operation: "create_payment_intent".into(),
            request_sha256_hex: "ab".into(),
            object_id: None,
            response_json: "{}".into(),
            created_at_ms,
        };
        let mut session = store.begin_write().unwrap();
        for (mode, key, created_at_ms) in
            [(Mode::Test, "t-30", 30), (Mode::Live, "l-10", 10), (Mode::Test, "t-20", 20), (Mode::Test, "t-40", 40)]
        {
            session.insert_idempotency(&record(mode, key, created_at_ms)).unwrap();
        }
        session.commit().unwrap();
        let exist_before = |created_before_ms| {
            store.begin_read().unwrap().idempotency_records_created_before_exist(created_before_ms).unwrap()
        };
        assert!(!exist_before(10) && exist_before(11));

        let mut session = store.begin_write().unwrap();
        assert_eq!(session.purge_idempotency_records_created_before(40, 2).unwrap(), 2, "bounded by the limit");
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        assert_eq!(read.get_idempotency(&scope(Mode::Live), "l-10").unwrap(), None, "oldest first, any scope");
        assert_eq!(read.get_idempotency(&scope(Mode::Test), "t-20").unwrap(), None);
        assert!(read.get_idempotency(&scope(Mode::Test), "t-30").unwrap().is_some(), "past the batch");
        drop(read);

        let mut session = store.begin_write().unwrap();
        assert_eq!(session.purge_idempotency_records_created_before(40, 100).unwrap(), 1);
        assert_eq!(session.purge_idempotency_records_created_before(40, 100).unwrap(), 0);
        session.insert_idempotency(&record(Mode::Test, "t-20", 50)).unwrap();
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        assert!(read.get_idempotency(&scope(Mode::Test), "t-40").unwrap().is_some(), "not older than the cut-off");
        assert_eq!(read.get_idempotency(&scope(Mode::Test), "t-20").unwrap().unwrap().created_at_ms, 50);
        assert!(!read.idempotency_records_created_before_exist(40).unwrap());
    }

    pub fn keys_events_and_audit_round_trip(store: &dyn Store) {
        seed_merchant(store);
        let key = ApiKeyRecord {
            id: "key_1".into(),
            merchant_id: "mch_1".into(),
            merchant_name: "One".into(),
            mode: Mode::Live,
            role: Role::Approver,
            owner: "alice".into(),
            owner_skeleton: "alice".into(),
            key_sha256_hex: "00ff".into(),
            key_last4: "abcd".into(),
            created_at_ms: 1,
            revoked_at_ms: None,
            expires_at_ms: None,
            created_by_key_id: None,
            accountable_owner: None,
        };
        let event = EventRecord {
            id: "evt_1".into(),
            scope: scope(Mode::Live),
            event_type: "payment_intent.created".into(),
            object_id: "pi_1".into(),
            payload_json: "{\"id\":\"pi_1\"}".into(),
            created_at_ms: 2,
        };
        let audit = AuditRecord {
            id: "aud_1".into(),
            scope: scope(Mode::Live),
            key_id: "key_1".into(),
            actor_owner: "alice".into(),
            tool: "create_payment_intent".into(),
            outcome: "executed".into(),
            error_type: None,
            object_id: Some("pi_1".into()),
            idempotency_key: Some("k".into()),
            detail: "d".into(),
            created_at_ms: 3,
            request_id: Some("req-1".into()),
        };
        let mut session = store.begin_write().unwrap();
        session.insert_api_key(&key).unwrap();
        session.append_event(&event).unwrap();
        session.append_audit(&audit).unwrap();
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        assert_eq!(read.find_api_key_by_hash("00ff").unwrap(), Some(key.clone()));
        let events = read
            .list_events(&scope(Mode::Live), &EventFilter::default(), &PageRequest { limit: 10, starting_after: None })
            .unwrap();
        assert_eq!(events.items, vec![event]);
        let none = read
            .list_events(&scope(Mode::Test), &EventFilter::default(), &PageRequest { limit: 10, starting_after: None })
            .unwrap();
        assert!(none.items.is_empty());
        let audits = read.list_audit(&scope(Mode::Live), &PageRequest { limit: 10, starting_after: None }).unwrap();
        assert_eq!(audits.items, vec![audit]);
        drop(read);
        let mut session = store.begin_write().unwrap();
        assert!(session.revoke_api_key("key_1", 5).unwrap());
        assert!(!session.revoke_api_key("key_1", 6).unwrap(), "revoking twice reports nothing to revoke");
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        assert_eq!(read.find_api_key_by_hash("00ff").unwrap().unwrap().revoked_at_ms, Some(5));
    }

    /// Due steps come merchants in turns, and a step with a retry record is left out until its
    /// retry time, for good once parked, and is back once its record is cleared.
    pub fn due_steps_take_merchants_in_turns_and_skip_retries_not_yet_due(store: &dyn Store) {
        let rules = PaymentRules { test_auto_settle_after_ms: Some(0), ..PaymentRules::default() };
        let busy = Scope { merchant_id: "mch_busy".into(), mode: Mode::Test };
        let quiet = Scope { merchant_id: "mch_quiet".into(), mode: Mode::Test };
        let mut session = store.begin_write().unwrap();
        // The busy merchant's five payments all fell due before the quiet one's two.
        for (scope, id, due_at_ms) in [
            (&busy, "pi_b1", 1),
            (&busy, "pi_b2", 2),
            (&busy, "pi_b3", 3),
            (&busy, "pi_b4", 4),
            (&busy, "pi_b5", 5),
            (&quiet, "pi_q1", 10),
            (&quiet, "pi_q2", 11),
        ] {
            let request = NewPaymentIntent {
                amount: Money::new(ngn(), 1_000).unwrap(),
                network: None,
                method: PaymentMethod::BankTransfer,
                rail: Rail::Rubies,
                settle_as: None,
                customer: None,
                description: None,
                metadata: BTreeMap::new(),
                expires_in_ms: None,
            };
            let payment = payment::create_payment_intent(scope, request, &rules, id.to_owned(), due_at_ms).unwrap();
            session.insert_payment(&payment).unwrap();
        }
        session.commit().unwrap();
        let due_ids = |now_ms: i64, limit: u32| -> Vec<(String, u32)> {
            let read = store.begin_read().unwrap();
            let due = read.due_test_payments(now_ms, limit).unwrap();
            due.into_iter().map(|step| (step.object_id, step.failed_attempts)).collect()
        };
        let named = |ids: &[&str]| -> Vec<(String, u32)> { ids.iter().map(|id| (id.to_string(), 0)).collect() };
        assert_eq!(due_ids(100, 4), named(&["pi_b1", "pi_q1", "pi_b2", "pi_q2"]));
        assert_eq!(due_ids(100, 100).len(), 7, "a batch is not capped per merchant when there is room");
        assert_eq!(due_ids(4, 100), named(&["pi_b1", "pi_b2", "pi_b3", "pi_b4"]), "only what is due");

        let retry = |next_attempt_at_ms: Option<i64>| StepRetry {
            step: ScheduledStep::SettleTestPayment,
            object_id: "pi_b1".into(),
            scope: busy.clone(),
            attempts: 2,
            last_error: "boom".into(),
            last_attempt_at_ms: 50,
            next_attempt_at_ms,
        };
        let mut session = store.begin_write().unwrap();
        session.record_step_failure(&retry(Some(200))).unwrap();
        session.commit().unwrap();
        assert_eq!(due_ids(199, 2), named(&["pi_b2", "pi_q1"]), "waiting for its retry");
        assert_eq!(due_ids(200, 1), vec![("pi_b1".to_owned(), 2)], "due again, with its failures");
        assert!(store.begin_read().unwrap().due_test_payouts(200, 10).unwrap().is_empty(), "retries are per step");

        let mut session = store.begin_write().unwrap();
        session.record_step_failure(&retry(None)).unwrap();
        session.commit().unwrap();
        assert_eq!(due_ids(i64::MAX, 1), named(&["pi_b2"]), "parked: never due again");
        let (parked, count) = store.begin_read().unwrap().parked_steps(10).unwrap();
        assert_eq!((parked, count), (vec![retry(None)], 1));

        let mut session = store.begin_write().unwrap();
        session.clear_step_retry(ScheduledStep::SettleTestPayment, "pi_b1").unwrap();
        session.commit().unwrap();
        assert_eq!(due_ids(100, 1), named(&["pi_b1"]));
        assert_eq!(store.begin_read().unwrap().parked_steps(10).unwrap().1, 0);
    }

    /// Payment intents fall due to expire from their `expires_at_ms`, in every mode, merchants in
    /// turns, while they wait for the payer (partially paid included); what they received and
    /// when they expire round-trip.
    pub fn payment_expiries_are_due_while_the_payer_is_awaited(store: &dyn Store) {
        let rules = PaymentRules::default();
        let busy = Scope { merchant_id: "mch_busy".into(), mode: Mode::Test };
        let quiet = Scope { merchant_id: "mch_quiet".into(), mode: Mode::Live };
        let mut ids = SequentialIds::default();
        let mut balances = harepay::engine::ledger::Balances::default();
        let mut session = store.begin_write().unwrap();
        let mut saved = Vec::new();
        for (scope, id, created_at_ms, expires_in_ms, receipt_minor) in [
            (&busy, "pi_b1", 0, Some(1_000), Some(400)),
            (&busy, "pi_b2", 1, Some(1_000), None),
            (&busy, "pi_b3", 2, Some(1_000), Some(1_000)),
            (&busy, "pi_never", 3, None, None),
            (&quiet, "pi_q1", 50, Some(1_000), None),
            (&quiet, "pi_later", 50, Some(5_000), None),
        ] {
            let mut request = NewPaymentIntent {
                amount: Money::new(ngn(), 1_000).unwrap(),
                network: None,
                method: PaymentMethod::BankTransfer,
                rail: Rail::Rubies,
                settle_as: None,
                customer: None,
                description: None,
                metadata: BTreeMap::new(),
                expires_in_ms: None,
            };
            request.expires_in_ms = expires_in_ms;
            let mut payment =
                payment::create_payment_intent(scope, request, &rules, id.to_owned(), created_at_ms).unwrap();
            if let Some(receipt_minor) = receipt_minor {
                let received = Money::new(ngn(), receipt_minor).unwrap();
                payment =
                    payment::receive_payment(&payment, received, &rules.fees, &mut balances, &mut ids, 10).unwrap().0;
            }
            session.insert_payment(&payment).unwrap();
            saved.push(payment);
        }
        session.commit().unwrap();
        let read = store.begin_read().unwrap();
        assert_eq!(read.get_payment(&busy, "pi_b1").unwrap().as_ref(), Some(&saved[0]));
        assert_eq!(saved[0].status, PaymentStatus::PartiallyPaid);
        assert_eq!((saved[0].amount_received_minor, saved[0].expires_at_ms), (400, Some(1_000)));
        let due = |now_ms: i64, limit: u32| -> Vec<String> {
            read.expired_payment_intents(now_ms, limit).unwrap().into_iter().map(|step| step.object_id).collect()
        };
        assert_eq!(due(999, 10), Vec::<String>::new(), "not before the expiry");
        // pi_b3 received its amount (processing): it no longer expires; live mode is swept too.
        assert_eq!(due(1_050, 10), ["pi_b1", "pi_q1", "pi_b2"]);
        assert_eq!(due(1_050, 2), ["pi_b1", "pi_q1"], "merchants in turns");
        assert_eq!(due(i64::MAX, 10), ["pi_b1", "pi_q1", "pi_b2", "pi_later"]);
    }
}

/// Runs every body against one backend.
macro_rules! store_tests {
    ($backend:ident, $open:ident) => {
        mod $backend {
            use super::bodies;

            #[test]
            fn payments_round_trip_and_stay_in_their_mode() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::payments_round_trip_and_stay_in_their_mode(&*store);
            }
            #[test]
            fn lists_are_newest_first_with_cursor_and_filters() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::lists_are_newest_first_with_cursor_and_filters(&*store);
            }
            #[test]
            fn postings_update_balances_and_verify_sound() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::postings_update_balances_and_verify_sound(&*store);
            }
            #[test]
            fn a_posting_that_would_overflow_a_stored_balance_writes_nothing() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::a_posting_that_would_overflow_a_stored_balance_writes_nothing(&*store);
            }
            #[test]
            fn a_rolled_back_savepoint_and_an_uncommitted_session_leave_nothing() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::a_rolled_back_savepoint_and_an_uncommitted_session_leave_nothing(&*store);
            }
            #[test]
            fn savepoints_nest_previews_leave_nothing_and_a_panic_undoes_its_body() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::savepoints_nest_previews_leave_nothing_and_a_panic_undoes_its_body(&*store);
            }
            #[test]
            fn reads_for_update_see_the_sessions_own_writes() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::reads_for_update_see_the_sessions_own_writes(&*store);
            }
            #[test]
            fn a_duplicate_object_is_a_conflict_naming_it() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::a_duplicate_object_is_a_conflict_naming_it(&*store);
            }
            #[test]
            fn idempotency_records_are_purged_oldest_first_in_bounded_batches() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::idempotency_records_are_purged_oldest_first_in_bounded_batches(&*store);
            }
            #[test]
            fn idempotency_keys_are_unique_per_scope() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::idempotency_keys_are_unique_per_scope(&*store);
            }
            #[test]
            fn keys_events_and_audit_round_trip() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::keys_events_and_audit_round_trip(&*store);
            }
            #[test]
            fn due_steps_take_merchants_in_turns_and_skip_retries_not_yet_due() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::due_steps_take_merchants_in_turns_and_skip_retries_not_yet_due(&*store);
            }
            #[test]
            fn payment_expiries_are_due_while_the_payer_is_awaited() {
                let Some((_guard, store)) = super::$open() else { return };
                bodies::payment_expiries_are_due_while_the_payer_is_awaited(&*store);
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

store_tests!(sqlite, open_sqlite_store);
store_tests!(postgres, open_postgres_store);

use crate::backend::open_postgres_store;
