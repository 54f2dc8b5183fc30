//! Disputes through the real binary: the whole lifecycle, won and lost, with the ledger checked
//! (available, reserved, owed, `harepay verify`); evidence after its due date and a second
//! submission refused; refunded, unsettled, another merchant's and over-large disputes refused;
//! races on opening and on submitting; oversized evidence bounded; live mode without a simulator.

use serde_json::{Value, json};

use crate::support::{Client, Harepay, MAKER_KEY};

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

async fn evidence(client: &Client, dispute_id: &str, evidence: Value, submit: bool, key: &str) -> Value {
    let arguments =
        json!({"id": dispute_id, "evidence": evidence, "submit": submit, "confirm": true, "idempotency_key": key});
    client.call("submit_dispute_evidence", arguments).await["object"].clone()
}

async fn event_types(client: &Client, object_id: &str) -> Vec<String> {
    let events = client.call("list_events", json!({"object_id": object_id})).await;
    events["data"].as_array().unwrap().iter().map(|event| event["type"].as_str().unwrap().to_owned()).rev().collect()
}

fn assert_verified(harepay: &Harepay) {
    let verify = harepay.cli(&["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[tokio::test]
async fn a_won_dispute_gives_the_amount_back_and_a_lost_one_sends_it_out() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let won_payment = client.create_succeeded_payment(100_000, "order-1").await;
    let lost_payment = client.create_succeeded_payment(100_000, "order-2").await;
    assert_eq!(ngn(&client).await, (199_000, 0, 0), "two payments of ₦1,000 less 0.5%");

    let preview = client
        .call("simulate_dispute", json!({"payment_intent_id": won_payment, "reason": "product_not_received"}))
        .await;
    assert_eq!(preview["outcome"], "preview");
    assert!(preview["object"].get("id").is_none(), "a preview hands out no id: {preview}");
    let changes: Vec<(&str, i64, i64)> = preview["balance_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["account"].as_str().unwrap(),
                c["before"]["amount"].as_i64().unwrap(),
                c["after"]["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes, [("available", 199_000, 99_000), ("reserved", 0, 100_000)]);
    assert_eq!(ngn(&client).await, (199_000, 0, 0), "a preview moves nothing");

    let dispute = open(&client, &won_payment, json!({}), "dispute-1").await;
    let id = dispute["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dp_"));
    assert_eq!(
        (dispute["status"].as_str(), dispute["amount"]["amount"].as_i64()),
        (Some("needs_response"), Some(100_000))
    );
    assert_eq!(dispute["test_outcome"], "won", "won unless the simulation says otherwise");
    assert_eq!(ngn(&client).await, (99_000, 100_000, 0));

    let staged = evidence(&client, &id, json!({"explanation": "Delivered on 3 May, signed for."}), false, "ev-1").await;
    assert_eq!(staged["status"], "needs_response");
    let staged =
        evidence(&client, &id, json!({"file_references": ["https://files.example/pod.pdf"]}), false, "ev-2").await;
    assert_eq!(staged["evidence"]["explanation"], "Delivered on 3 May, signed for.", "staging keeps what it omits");
    let closed = evidence(&client, &id, json!({}), true, "ev-3").await;
    assert_eq!(closed["status"], "won");
    assert!(closed["evidence_submitted_at_ms"].is_i64() && closed["closed_at_ms"].is_i64(), "{closed}");
    assert_eq!(ngn(&client).await, (199_000, 0, 0), "won: exactly as before the dispute");
    assert_eq!(
        event_types(&client, &id).await,
        [
            "charge.dispute.created",
            "charge.dispute.updated",
            "charge.dispute.updated",
            "charge.dispute.updated",
            "charge.dispute.closed"
        ]
    );
    let fetched = client.call("get_dispute", json!({"id": id})).await;
    assert_eq!(fetched, closed, "get_dispute shows the dispute as the write left it");

    let lost = open(&client, &lost_payment, json!({"outcome": "lost", "amount": 60_000}), "dispute-2").await;
    let lost_id = lost["id"].as_str().unwrap().to_owned();
    assert_eq!(ngn(&client).await, (139_000, 60_000, 0));
    let message = client
        .expect_error(
            "refund_payment",
            json!({"id": lost_payment, "amount": 40_001, "confirm": true, "idempotency_key": "refund-too-much"}),
            "refund_exceeds_remaining",
        )
        .await;
    assert!(message.contains(&lost_id), "a refund never takes what the dispute holds: {message}");
    let closed = evidence(&client, &lost_id, json!({"explanation": "It was delivered."}), true, "ev-4").await;
    assert_eq!(closed["status"], "lost");
    assert_eq!(ngn(&client).await, (139_000, 0, 0), "lost: the amount went back to the payer");

    let audit = client.call("list_audit_log", json!({"limit": 100})).await;
    let audited: Vec<&str> = audit["data"].as_array().unwrap().iter().filter_map(|r| r["tool"].as_str()).collect();
    assert!(audited.contains(&"simulate_dispute") && audited.contains(&"submit_dispute_evidence"), "{audited:?}");
    let listed = client.call("list_disputes", json!({"status": "lost"})).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], lost_id.as_str());
    let page = client.call("list_disputes", json!({"limit": 1})).await;
    assert_eq!(
        (page["has_more"].as_bool(), page["next_starting_after"].as_str()),
        (Some(true), Some(lost_id.as_str()))
    );
    let rest = client.call("list_disputes", json!({"limit": 1, "starting_after": lost_id})).await;
    assert_eq!(rest["data"][0]["id"], id.as_str());
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    client.close().await;
    assert_verified(&harepay);
}

#[tokio::test]
async fn a_dispute_available_cannot_cover_is_owed_and_paid_back_from_available() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let payment = client.create_succeeded_payment(100_000, "order-1").await;
    let dispute = open(&client, &payment, json!({"outcome": "lost"}), "dispute-1").await;
    assert_eq!(dispute["amount_owed"]["amount"], 500, "available held ₦995 of the ₦1,000 disputed");
    assert_eq!(ngn(&client).await, (0, 100_000, 500));
    evidence(&client, dispute["id"].as_str().unwrap(), json!({"explanation": "x"}), true, "ev-1").await;
    assert_eq!(ngn(&client).await, (0, 0, 500), "lost: the debt stays owed");

    // A new payment, and a dispute of part of it that the merchant wins: the close pays the debt back.
    let second = client.create_succeeded_payment(10_000, "order-2").await;
    let small = open(&client, &second, json!({"amount": 1_000}), "dispute-2").await;
    evidence(&client, small["id"].as_str().unwrap(), json!({"explanation": "x"}), true, "ev-2").await;
    assert_eq!(ngn(&client).await, (9_950 - 500, 0, 0));
    client.close().await;
    assert_verified(&harepay);
}

#[tokio::test]
async fn evidence_after_its_due_date_and_a_second_submission_are_refused() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let payment = client.create_succeeded_payment(100_000, "order-1").await;
    let late_payment = client.create_succeeded_payment(100_000, "order-2").await;
    let dispute = open(&client, &payment, json!({}), "dispute-1").await;
    let id = dispute["id"].as_str().unwrap();
    evidence(&client, id, json!({"explanation": "first"}), true, "ev-1").await;
    for (submit, key) in [(true, "ev-2"), (false, "ev-3")] {
        let arguments = json!({"id": id, "evidence": {"explanation": "again"}, "submit": submit, "confirm": true, "idempotency_key": key});
        client.expect_error("submit_dispute_evidence", arguments, "evidence_already_submitted").await;
    }
    let replay = client
        .call("submit_dispute_evidence", json!({"id": id, "evidence": {"explanation": "first"}, "submit": true, "confirm": true, "idempotency_key": "ev-1"}))
        .await;
    assert_eq!(replay["outcome"], "replayed", "the same key is a replay, not a second submission");

    let late = open(&client, &late_payment, json!({"evidence_due_in_ms": 1_000}), "dispute-2").await;
    let late_id = late["id"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    for (submit, key) in [(false, "late-1"), (true, "late-2")] {
        let arguments = json!({"id": late_id, "evidence": {"explanation": "too late"}, "submit": submit, "confirm": true, "idempotency_key": key});
        let message = client.expect_error("submit_dispute_evidence", arguments, "evidence_past_due").await;
        assert!(message.contains("due by"), "{message}");
    }
    let unchanged = client.call("get_dispute", json!({"id": late_id})).await;
    // Unanswered at its due date, it is lost (or about to be: the scheduler closes it).
    assert!(["needs_response", "lost"].contains(&unchanged["status"].as_str().unwrap()), "{unchanged}");
    assert_eq!(unchanged["evidence"]["explanation"].as_str(), None, "the late evidence stored nothing");
    client.close().await;
    assert_verified(&harepay);
}

#[tokio::test]
async fn refunded_unsettled_foreign_and_over_large_disputes_are_refused_and_move_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let funding = client.create_succeeded_payment(50_000, "funding").await;
    let refunded = client.create_succeeded_payment(100_000, "order-1").await;
    client.call("refund_payment", json!({"id": refunded, "confirm": true, "idempotency_key": "refund-1"})).await;
    let unsettled = client.create_payment(100_000, "order-2").await;
    let partly_refunded = client.create_succeeded_payment(100_000, "order-3").await;
    client
        .call(
            "refund_payment",
            json!({"id": partly_refunded, "amount": 30_000, "confirm": true, "idempotency_key": "refund-2"}),
        )
        .await;
    let other_merchant =
        harepay.connect(&harepay.create_key(&["--owner", "mallory", "--new-merchant", "Mallory's shop"])).await;
    let foreign = other_merchant.create_succeeded_payment(100_000, "theirs").await;
    let before = ngn(&client).await;

    let attempt = |payment: &str, extra: Value, key: &str| {
        let mut arguments =
            json!({"payment_intent_id": payment, "reason": "duplicate", "confirm": true, "idempotency_key": key});
        arguments.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        arguments
    };
    client.expect_error("simulate_dispute", attempt(&refunded, json!({}), "d1"), "dispute_exceeds_remaining").await;
    client.expect_error("simulate_dispute", attempt(&unsettled, json!({}), "d2"), "invalid_state").await;
    client.expect_error("simulate_dispute", attempt(&foreign, json!({}), "d3"), "not_found").await;
    let error = client.call_error("simulate_dispute", attempt(&partly_refunded, json!({"amount": 70_001}), "d4")).await;
    assert_eq!((error["type"].as_str(), error["param"].as_str()), (Some("dispute_exceeds_remaining"), Some("amount")));
    client
        .expect_error(
            "simulate_dispute",
            attempt(&funding, json!({"amount": 50_001}), "d5"),
            "dispute_exceeds_remaining",
        )
        .await;
    for bad in
        [json!({"amount": 0}), json!({"amount": 1.5}), json!({"evidence_due_in_ms": 999}), json!({"reason": "bored"})]
    {
        client.expect_error("simulate_dispute", attempt(&funding, bad, "d6"), "invalid_request").await;
    }
    assert_eq!(ngn(&client).await, before, "no refusal moved money");
    assert_eq!(client.call("list_disputes", json!({})).await["data"], json!([]));

    let exact = open(&client, &partly_refunded, json!({"amount": 70_000}), "d7").await;
    let message = client
        .expect_error(
            "simulate_dispute",
            attempt(&partly_refunded, json!({"amount": 1}), "d8"),
            "payment_already_disputed",
        )
        .await;
    assert!(message.contains(exact["id"].as_str().unwrap()), "{message}");
    let foreign_dispute = other_merchant.call("list_disputes", json!({})).await;
    assert_eq!(foreign_dispute["data"], json!([]), "another merchant sees none of it");
    other_merchant.expect_error("get_dispute", json!({"id": exact["id"]}), "not_found").await;
    other_merchant
        .expect_error("submit_dispute_evidence", json!({"id": exact["id"], "evidence": {"explanation": "mine"}, "submit": true, "confirm": true, "idempotency_key": "steal"}), "not_found")
        .await;

    let live = harepay.connect(&harepay.create_key(&["--mode", "live", "--owner", "ops"])).await;
    live.expect_error("simulate_dispute", attempt(&funding, json!({}), "live-1"), "test_mode_only").await;
    live.close().await;
    other_merchant.close().await;
    client.close().await;
    assert_verified(&harepay);
}

#[tokio::test]
async fn concurrent_disputes_of_one_payment_open_one_and_concurrent_submissions_submit_once() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let payment = client.create_succeeded_payment(100_000, "order-1").await;
    let racers = (0..8).map(|n| {
        client.call_raw(
            "simulate_dispute",
            json!({"payment_intent_id": payment, "reason": "fraudulent", "confirm": true, "idempotency_key": format!("race-{n}")}),
        )
    });
    let results = futures::future::join_all(racers).await;
    let mut opened = Vec::new();
    for result in results {
        let structured = result.expect("a tool result").structured_content.expect("structured");
        match structured["error"]["type"].as_str() {
            None => opened.push(structured["object"]["id"].as_str().unwrap().to_owned()),
            Some(error_type) => assert_eq!(error_type, "payment_already_disputed", "{structured}"),
        }
    }
    assert_eq!(opened.len(), 1, "exactly one dispute opened: {opened:?}");
    assert_eq!(ngn(&client).await, (0, 100_000, 500), "held once");

    let submitters = (0..8).map(|n| {
        client.call_raw(
            "submit_dispute_evidence",
            json!({"id": opened[0], "evidence": {"explanation": format!("take {n}")}, "submit": true, "confirm": true, "idempotency_key": format!("submit-{n}")}),
        )
    });
    let results = futures::future::join_all(submitters).await;
    let mut submitted = 0;
    for result in results {
        let structured = result.expect("a tool result").structured_content.expect("structured");
        match structured["error"]["type"].as_str() {
            None => submitted += 1,
            Some(error_type) => assert_eq!(error_type, "evidence_already_submitted", "{structured}"),
        }
    }
    assert_eq!(submitted, 1);
    let events = event_types(&client, &opened[0]).await;
    assert_eq!(events.iter().filter(|t| *t == "charge.dispute.closed").count(), 1, "{events:?}");
    assert_eq!(ngn(&client).await, (99_500, 0, 0), "won once, given back once");
    client.close().await;
    assert_verified(&harepay);
}

#[tokio::test]
async fn oversized_evidence_is_refused_naming_the_field_and_stores_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let payment = client.create_succeeded_payment(100_000, "order-1").await;
    let dispute = open(&client, &payment, json!({}), "dispute-1").await;
    let id = dispute["id"].as_str().unwrap();
    let call = |evidence: Value, key: &str| json!({"id": id, "evidence": evidence, "submit": false, "confirm": true, "idempotency_key": key});
    let cases = [
        (json!({"explanation": "x".repeat(5_001)}), "evidence.explanation"),
        (json!({"file_references": vec!["https://f.example/a"; 11]}), "evidence.file_references"),
        (json!({"file_references": ["x".repeat(501)]}), "evidence.file_references"),
        (json!({"shipping_tracking_number": "x".repeat(200_000)}), "evidence.shipping_tracking_number"),
        (json!({"signature": "forged"}), "evidence.signature"),
    ];
    for (n, (evidence, param)) in cases.into_iter().enumerate() {
        let error = client.call_error("submit_dispute_evidence", call(evidence, &format!("big-{n}"))).await;
        assert_eq!(error["type"], "invalid_request", "{error}");
        assert!(error["param"].as_str().unwrap_or_default().starts_with(param), "{param}: {error}");
        assert!(error["message"].as_str().unwrap().len() < 600, "a refusal never echoes the input whole");
    }
    // Within each field's bound, staged in pieces, the total still cannot pass its own bound.
    for (n, field) in
        ["explanation", "customer_communication", "refund_policy", "shipping_tracking_number"].into_iter().enumerate()
    {
        evidence(&client, id, json!({field: "x".repeat(5_000)}), false, &format!("piece-{n}")).await;
    }
    let error = client.call_error("submit_dispute_evidence", call(json!({"file_references": ["f"]}), "one-more")).await;
    assert_eq!((error["type"].as_str(), error["param"].as_str()), (Some("invalid_request"), Some("evidence")));
    let stored = client.call("get_dispute", json!({"id": id})).await;
    assert_eq!(stored["evidence"]["file_references"], json!([]), "the refused staging stored nothing");
    client.close().await;
}

/// The store's contract for disputes, on SQLite: scope isolation, one dispute per payment (a
/// second is a `Conflict` naming the dispute, whatever the engine let through), filters and
/// pages, and an update that keeps the evidence exactly.
#[test]
fn the_store_keeps_one_dispute_per_payment_in_its_scope() {
    use harepay::engine::dispute::{Dispute, DisputeEvidence, DisputeOutcome, DisputeReason, DisputeStatus};
    use harepay::engine::money::{Asset, Money};
    use harepay::engine::principal::{Mode, Scope};
    use harepay::store::sqlite::SqliteStore;
    use harepay::store::{DisputeFilter, PageRequest, Store, StoreError};

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("harepay.db")).unwrap();
    let test = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
    let dispute = |id: &str, scope: &Scope, payment: &str, created_at_ms: i64| Dispute {
        id: id.into(),
        scope: scope.clone(),
        payment_intent_id: payment.into(),
        amount: Money::new(Asset::lookup("NGN").unwrap(), 1_000).unwrap(),
        amount_owed_minor: 10,
        reason: DisputeReason::Duplicate,
        status: DisputeStatus::NeedsResponse,
        evidence: DisputeEvidence::default(),
        evidence_submitted_at_ms: None,
        evidence_due_by_ms: 99,
        simulated_outcome: Some(DisputeOutcome::Lost),
        created_at_ms,
        updated_at_ms: created_at_ms,
        closed_at_ms: None,
    };
    let mut session = store.begin_write().unwrap();
    session.insert_dispute(&dispute("dp_1", &test, "pi_1", 1)).unwrap();
    session.insert_dispute(&dispute("dp_2", &test, "pi_2", 2)).unwrap();
    session.insert_dispute(&dispute("dp_live", &Scope { mode: Mode::Live, ..test.clone() }, "pi_1", 3)).unwrap();
    let second = session.in_savepoint(|tx| tx.insert_dispute(&dispute("dp_3", &test, "pi_1", 4)));
    assert!(matches!(second, Err(StoreError::Conflict { what: "dispute" })), "{second:?}");
    let mut submitted = session.get_dispute_for_update(&test, "dp_2").unwrap().unwrap();
    submitted.evidence = DisputeEvidence {
        explanation: Some("₦ \"quoted\" \n text".into()),
        file_references: vec!["https://f.example/a".into(), "file_2".into()],
        ..DisputeEvidence::default()
    };
    submitted.status = DisputeStatus::Lost;
    submitted.evidence_submitted_at_ms = Some(5);
    submitted.closed_at_ms = Some(6);
    session.update_dispute(&submitted).unwrap();
    session.commit().unwrap();

    let read = store.begin_read().unwrap();
    assert_eq!(read.get_dispute(&test, "dp_2").unwrap(), Some(submitted.clone()), "read back exactly");
    assert_eq!(read.get_dispute(&test, "dp_live").unwrap(), None, "another mode's dispute is not found");
    assert_eq!(read.get_dispute_for_payment(&test, "pi_1").unwrap().map(|d| d.id), Some("dp_1".to_owned()));
    let ids = |filter: DisputeFilter, limit: u32, after: Option<&str>| -> (Vec<String>, bool) {
        let page = PageRequest { limit, starting_after: after.map(str::to_owned) };
        let listed = read.list_disputes(&test, &filter, &page).unwrap();
        (listed.items.into_iter().map(|d| d.id).collect(), listed.has_more)
    };
    assert_eq!(ids(DisputeFilter::default(), 10, None), (vec!["dp_2".to_owned(), "dp_1".to_owned()], false));
    assert_eq!(ids(DisputeFilter::default(), 1, None), (vec!["dp_2".to_owned()], true));
    assert_eq!(ids(DisputeFilter::default(), 1, Some("dp_2")), (vec!["dp_1".to_owned()], false));
    let lost = DisputeFilter { status: Some(DisputeStatus::Lost), ..DisputeFilter::default() };
    assert_eq!(ids(lost, 10, None).0, ["dp_2"]);
    let of_payment = DisputeFilter { payment_intent_id: Some("pi_1".into()), ..DisputeFilter::default() };
    assert_eq!(ids(of_payment, 10, None).0, ["dp_1"]);
}
