use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::engine::SequentialIds;
use crate::engine::ledger::sum_by_asset;
use crate::engine::money::{Asset, AssetRef};
use crate::engine::payment::{
    NewPaymentIntent, PaymentMethod, create_payment_intent, mark_processing, mark_succeeded, refund_payment,
};
use crate::engine::principal::Mode;
use crate::engine::rail::Rail;
use crate::engine::rules::PaymentRules;
use crate::limits::DISPUTE_EVIDENCE_DUE_DEFAULT_MS;

fn ngn() -> AssetRef {
    Asset::lookup("NGN").unwrap()
}

fn scope() -> Scope {
    Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
}

/// A succeeded ₦ bank-transfer payment of `amount_minor` (0.5% fee), its credit applied to `balances`.
fn succeeded_payment(amount_minor: i64, balances: &mut Balances, ids: &mut SequentialIds) -> PaymentIntent {
    let request = NewPaymentIntent {
        amount: Money::new(ngn(), amount_minor).unwrap(),
        network: None,
        method: PaymentMethod::BankTransfer,
        rail: Rail::Rubies,
        settle_as: None,
        customer: None,
        description: None,
        metadata: BTreeMap::new(),
        expires_in_ms: None,
    };
    let created = create_payment_intent(&scope(), request, &PaymentRules::default(), ids.next_id("pi"), 0).unwrap();
    let (processing, _) = mark_processing(&created, balances, ids, 1).unwrap();
    mark_succeeded(&processing, balances, ids, 2).unwrap().0
}

fn request(amount_minor: Option<i64>) -> NewDispute {
    NewDispute {
        reason: DisputeReason::Fraudulent,
        amount_minor,
        evidence_due_in_ms: DISPUTE_EVIDENCE_DUE_DEFAULT_MS,
        simulated_outcome: None,
    }
}

fn explanation(text: &str) -> DisputeEvidence {
    DisputeEvidence { explanation: Some(text.to_owned()), ..DisputeEvidence::default() }
}

fn merchant(balances: &Balances) -> (i64, i64, i64) {
    (
        balances.get(AccountKind::Available, ngn()),
        balances.get(AccountKind::Reserved, ngn()),
        balances.get(AccountKind::Owed, ngn()),
    )
}

#[test]
fn opening_reserves_the_amount_and_winning_gives_it_back() {
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let payment = succeeded_payment(100_000, &mut balances, &mut ids);
    assert_eq!(merchant(&balances), (99_500, 0, 0));
    let (dispute, opening) = open_dispute(&payment, None, 0, &request(None), &mut balances, &mut ids, 10).unwrap();
    assert_eq!(dispute.amount.amount_minor, 100_000, "the whole captured amount; the fee is not returned");
    assert_eq!(dispute.amount_owed_minor, 500, "available held 99,500 of it");
    assert_eq!(merchant(&balances), (0, 100_000, -500));
    assert_eq!(opening.reference_id, dispute.id);
    let submitted = submit_evidence(&dispute, &explanation("delivered, signed for"), 11).unwrap();
    assert_eq!(submitted.status, DisputeStatus::UnderReview);
    let (won, _) = close_dispute(&submitted, DisputeOutcome::Won, &mut balances, &mut ids, 12).unwrap();
    assert_eq!((won.status, won.closed_at_ms), (DisputeStatus::Won, Some(12)));
    assert_eq!(merchant(&balances), (99_500, 0, 0), "exactly as before the dispute");
}

#[test]
fn losing_sends_the_amount_out_and_the_debt_stays_owed_until_available_pays_it() {
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let payment = succeeded_payment(100_000, &mut balances, &mut ids);
    let (dispute, _) = open_dispute(&payment, None, 0, &request(None), &mut balances, &mut ids, 10).unwrap();
    let submitted = submit_evidence(&dispute, &explanation("x"), 11).unwrap();
    let (lost, _) = close_dispute(&submitted, DisputeOutcome::Lost, &mut balances, &mut ids, 12).unwrap();
    assert_eq!(lost.status, DisputeStatus::Lost);
    assert_eq!(merchant(&balances), (0, 0, -500), "the merchant owes what available could not cover");
    assert_eq!(balances.get(AccountKind::External, ngn()), 0, "the payer has the whole amount back");

    // A second payment, disputed and won: the debt is paid back from available when it closes.
    let second = succeeded_payment(10_000, &mut balances, &mut ids);
    let (dispute, _) = open_dispute(&second, None, 0, &request(Some(1_000)), &mut balances, &mut ids, 20).unwrap();
    assert_eq!(dispute.amount_owed_minor, 0);
    let submitted = submit_evidence(&dispute, &explanation("x"), 21).unwrap();
    close_dispute(&submitted, DisputeOutcome::Won, &mut balances, &mut ids, 22).unwrap();
    assert_eq!(merchant(&balances), (9_950 - 500, 0, 0));
}

#[test]
fn a_won_dispute_never_takes_owed_above_zero() {
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let first = succeeded_payment(100_000, &mut balances, &mut ids);
    let (short, _) = open_dispute(&first, None, 0, &request(None), &mut balances, &mut ids, 10).unwrap();
    assert_eq!(short.amount_owed_minor, 500);
    // Another payment and a lost dispute of it pay the debt back meanwhile.
    let second = succeeded_payment(10_000, &mut balances, &mut ids);
    let (other, _) = open_dispute(&second, None, 0, &request(Some(100)), &mut balances, &mut ids, 11).unwrap();
    let other = submit_evidence(&other, &explanation("x"), 12).unwrap();
    close_dispute(&other, DisputeOutcome::Lost, &mut balances, &mut ids, 13).unwrap();
    assert_eq!(merchant(&balances), (9_950 - 100 - 500, 100_000, 0));
    let short = submit_evidence(&short, &explanation("x"), 14).unwrap();
    close_dispute(&short, DisputeOutcome::Won, &mut balances, &mut ids, 15).unwrap();
    assert_eq!(merchant(&balances), (9_950 - 100 - 500 + 100_000, 0, 0));
}

#[test]
fn only_a_succeeded_payment_is_disputed_once_for_at_most_what_remains() {
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let payment = succeeded_payment(100_000, &mut balances, &mut ids);
    let error = open_dispute(&payment, None, 0, &request(Some(100_001)), &mut balances, &mut ids, 10).unwrap_err();
    assert_eq!((error.code(), error.param()), ("dispute_exceeds_remaining", Some("amount")));

    // Another payment funds the fee a full refund does not get back.
    succeeded_payment(10_000, &mut balances, &mut ids);
    let (refunded, _, _) = refund_payment(&payment, Some(40_000), None, &mut balances, &mut ids, 5).unwrap();
    let error = open_dispute(&refunded, None, 0, &request(Some(60_001)), &mut balances, &mut ids, 10).unwrap_err();
    assert_eq!(error.code(), "dispute_exceeds_remaining", "captured less refunded: {error}");
    let (all_refunded, _, _) = refund_payment(&refunded, None, None, &mut balances, &mut ids, 6).unwrap();
    let error = open_dispute(&all_refunded, None, 0, &request(None), &mut balances, &mut ids, 10).unwrap_err();
    assert_eq!(error.code(), "dispute_exceeds_remaining");

    let mut processing = payment.clone();
    processing.status = PaymentStatus::Processing;
    let error = open_dispute(&processing, None, 0, &request(None), &mut balances, &mut ids, 10).unwrap_err();
    assert_eq!(error.code(), "invalid_state");

    let other = succeeded_payment(5_000, &mut balances, &mut ids);
    let (dispute, _) = open_dispute(&other, None, 0, &request(None), &mut balances, &mut ids, 10).unwrap();
    let after_first = balances.clone();
    let error = open_dispute(&other, Some(&dispute), 0, &request(Some(1)), &mut balances, &mut ids, 11).unwrap_err();
    assert_eq!(error.code(), "payment_already_disputed");
    assert_eq!(balances, after_first, "a refused dispute moves nothing");
}

#[test]
fn evidence_is_staged_then_submitted_once_before_its_due_date() {
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let payment = succeeded_payment(100_000, &mut balances, &mut ids);
    let mut short_window = request(None);
    short_window.evidence_due_in_ms = 1_000;
    let (dispute, _) = open_dispute(&payment, None, 0, &short_window, &mut balances, &mut ids, 0).unwrap();
    assert_eq!(dispute.evidence_due_by_ms, 1_000);

    let staged = stage_evidence(&dispute, &explanation("first"), 10).unwrap();
    let update = DisputeEvidence {
        shipping_tracking_number: Some("1Z999".into()),
        file_references: vec!["https://files.example/receipt.pdf".into()],
        ..DisputeEvidence::default()
    };
    let staged = stage_evidence(&staged, &update, 20).unwrap();
    assert_eq!(staged.status, DisputeStatus::NeedsResponse);
    assert_eq!(staged.evidence.explanation.as_deref(), Some("first"), "an omitted field is kept");
    assert_eq!(staged.evidence.shipping_tracking_number.as_deref(), Some("1Z999"));

    let error = stage_evidence(&staged, &explanation("late"), 1_000).unwrap_err();
    assert_eq!(error.code(), "evidence_past_due", "due by 1000 means before it, not at it");
    let error = submit_evidence(&staged, &DisputeEvidence::default(), 1_500).unwrap_err();
    assert_eq!(error.code(), "evidence_past_due");

    let submitted = submit_evidence(&staged, &DisputeEvidence::default(), 999).unwrap();
    assert_eq!((submitted.status, submitted.evidence_submitted_at_ms), (DisputeStatus::UnderReview, Some(999)));
    for attempt in
        [submit_evidence(&submitted, &explanation("again"), 999), stage_evidence(&submitted, &explanation("more"), 999)]
    {
        assert_eq!(attempt.unwrap_err().code(), "evidence_already_submitted");
    }
    let error = submit_evidence(&dispute, &DisputeEvidence::default(), 10).unwrap_err();
    assert_eq!((error.code(), error.param()), ("invalid_request", Some("evidence")), "nothing to submit");
}

#[test]
fn evidence_over_its_bounds_is_refused_naming_the_field() {
    let too_long = "x".repeat(DISPUTE_EVIDENCE_TEXT_MAX_CHARS + 1);
    let cases = [
        (explanation(&too_long), "evidence.explanation"),
        (
            DisputeEvidence {
                file_references: vec!["f".into(); DISPUTE_EVIDENCE_FILE_REFERENCES_MAX + 1],
                ..DisputeEvidence::default()
            },
            "evidence.file_references",
        ),
        (
            DisputeEvidence { file_references: vec![String::new()], ..DisputeEvidence::default() },
            "evidence.file_references",
        ),
        (
            DisputeEvidence {
                explanation: Some("x".repeat(DISPUTE_EVIDENCE_TEXT_MAX_CHARS)),
                customer_communication: Some("x".repeat(DISPUTE_EVIDENCE_TEXT_MAX_CHARS)),
                refund_policy: Some("x".repeat(DISPUTE_EVIDENCE_TEXT_MAX_CHARS)),
                shipping_tracking_number: Some("x".repeat(DISPUTE_EVIDENCE_TEXT_MAX_CHARS)),
                file_references: vec!["f".into()],
            },
            "evidence",
        ),
    ];
    for (evidence, param) in cases {
        let error = evidence.check_bounds().unwrap_err();
        assert_eq!((error.code(), error.param()), ("invalid_request", Some(param)), "{error}");
    }
    // Staging in pieces cannot pass the total either: the merged evidence is checked.
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let payment = succeeded_payment(100_000, &mut balances, &mut ids);
    let (mut dispute, _) = open_dispute(&payment, None, 0, &request(None), &mut balances, &mut ids, 0).unwrap();
    let fields: [fn(String) -> DisputeEvidence; 4] = [
        |text| DisputeEvidence { explanation: Some(text), ..DisputeEvidence::default() },
        |text| DisputeEvidence { customer_communication: Some(text), ..DisputeEvidence::default() },
        |text| DisputeEvidence { refund_policy: Some(text), ..DisputeEvidence::default() },
        |text| DisputeEvidence { shipping_tracking_number: Some(text), ..DisputeEvidence::default() },
    ];
    for field in fields {
        dispute = stage_evidence(&dispute, &field("x".repeat(DISPUTE_EVIDENCE_TEXT_MAX_CHARS)), 1).unwrap();
    }
    let one_more = DisputeEvidence { file_references: vec!["f".into()], ..DisputeEvidence::default() };
    assert_eq!(stage_evidence(&dispute, &one_more, 1).unwrap_err().param(), Some("evidence"));
}

#[test]
fn a_refund_never_takes_what_a_dispute_holds() {
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let payment = succeeded_payment(100_000, &mut balances, &mut ids);
    let (dispute, _) = open_dispute(&payment, None, 0, &request(Some(30_000)), &mut balances, &mut ids, 0).unwrap();
    assert_eq!(refund_beside_dispute(&payment, Some(&dispute), 0, None).unwrap(), Some(70_000));
    assert_eq!(refund_beside_dispute(&payment, Some(&dispute), 0, Some(70_000)).unwrap(), Some(70_000));
    let error = refund_beside_dispute(&payment, Some(&dispute), 0, Some(70_001)).unwrap_err();
    assert_eq!(error.code(), "refund_exceeds_remaining");
    let mut won = dispute.clone();
    won.status = DisputeStatus::Won;
    assert_eq!(refund_beside_dispute(&payment, Some(&won), 0, None).unwrap(), None, "a won dispute holds nothing");
    let mut whole = dispute.clone();
    whole.amount = Money::new(ngn(), 100_000).unwrap();
    assert_eq!(refund_beside_dispute(&payment, Some(&whole), 0, None).unwrap_err().code(), "refund_exceeds_remaining");
}

#[test]
fn neither_a_refund_nor_a_dispute_takes_what_an_invoice_passed_to_prepaid() {
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let payment = succeeded_payment(100_000, &mut balances, &mut ids);
    assert_eq!(refund_beside_dispute(&payment, None, 40_000, None).unwrap(), Some(60_000));
    let error = refund_beside_dispute(&payment, None, 40_000, Some(60_001)).unwrap_err();
    assert_eq!(error.code(), "refund_exceeds_remaining");
    let error = open_dispute(&payment, None, 40_000, &request(Some(60_001)), &mut balances, &mut ids, 0).unwrap_err();
    assert_eq!(error.code(), "dispute_exceeds_remaining");
    let (dispute, _) = open_dispute(&payment, None, 40_000, &request(None), &mut balances, &mut ids, 0).unwrap();
    assert_eq!(dispute.amount.amount_minor, 60_000);
    let error = refund_beside_dispute(&payment, Some(&dispute), 40_000, Some(1)).unwrap_err();
    assert_eq!(error.code(), "refund_exceeds_remaining", "the dispute and the credit leave nothing");
}

#[test]
fn an_unanswered_dispute_is_lost_at_its_due_date_with_a_lost_reviews_postings() {
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let payment = succeeded_payment(100_000, &mut balances, &mut ids);
    let mut short_window = request(None);
    short_window.evidence_due_in_ms = 1_000;
    let (dispute, _) = open_dispute(&payment, None, 0, &short_window, &mut balances, &mut ids, 0).unwrap();
    assert_eq!(merchant(&balances), (0, 100_000, -500));
    assert!(!is_overdue(&dispute, 999) && is_overdue(&dispute, 1_000), "due by 1000: overdue at it");
    let before = balances.clone();
    let error = close_overdue_dispute(&dispute, &mut balances, &mut ids, 999).unwrap_err();
    assert_eq!(error.code(), "invalid_state", "not before its due date");
    assert_eq!(balances, before, "a refusal moves nothing");

    let (lost, transaction) = close_overdue_dispute(&dispute, &mut balances, &mut ids, 1_000).unwrap();
    assert_eq!(
        (lost.status, lost.closed_at_ms, lost.evidence_submitted_at_ms),
        (DisputeStatus::Lost, Some(1_000), None)
    );
    assert_eq!(transaction.reason, "charge.dispute.lost");
    assert_eq!(merchant(&balances), (0, 0, -500), "the amount went out; the debt stays owed");
    for attempt in
        [stage_evidence(&lost, &explanation("late"), 1_001), submit_evidence(&lost, &explanation("late"), 2_000)]
    {
        assert_eq!(attempt.unwrap_err().code(), "evidence_past_due", "late evidence is refused the same way");
    }
    assert_eq!(close_overdue_dispute(&lost, &mut balances, &mut ids, 5_000).unwrap_err().code(), "invalid_state");
    let submitted = submit_evidence(&dispute, &explanation("in time"), 999).unwrap();
    assert!(!is_overdue(&submitted, 5_000), "a dispute under review waits for its review, not its due date");

    // A later payment pays the debt back when its own unanswered dispute closes.
    let second = succeeded_payment(10_000, &mut balances, &mut ids);
    let mut small = request(Some(1_000));
    small.evidence_due_in_ms = 1_000;
    let (dispute, _) = open_dispute(&second, None, 0, &small, &mut balances, &mut ids, 3_000).unwrap();
    close_overdue_dispute(&dispute, &mut balances, &mut ids, 4_000).unwrap();
    assert_eq!(merchant(&balances), (9_950 - 1_000 - 500, 0, 0));
}

#[test]
fn what_is_refundable_beside_a_dispute_is_exactly_what_a_refund_accepts() {
    let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
    let payment = succeeded_payment(100_000, &mut balances, &mut ids);
    let (dispute, _) =
        open_dispute(&payment, None, 10_000, &request(Some(30_000)), &mut balances, &mut ids, 0).unwrap();
    let mut won = dispute.clone();
    won.status = DisputeStatus::Won;
    let mut lost = dispute.clone();
    lost.status = DisputeStatus::Lost;
    for (dispute, passed_minor, expected_minor) in [
        (None, 0, 100_000),
        (None, 10_000, 90_000),
        (Some(&dispute), 10_000, 60_000),
        (Some(&lost), 0, 70_000),
        (Some(&won), 10_000, 90_000),
    ] {
        let refundable_minor = refundable_beside_dispute_minor(&payment, dispute, passed_minor);
        assert_eq!(refundable_minor, expected_minor);
        assert!(refund_beside_dispute(&payment, dispute, passed_minor, Some(refundable_minor)).is_ok());
        let error = refund_beside_dispute(&payment, dispute, passed_minor, Some(refundable_minor + 1));
        // Beyond it, either this check or the payment's own (nothing withheld) refuses it.
        if let Ok(Some(amount_minor)) = error {
            assert!(amount_minor > payment.refundable_minor(), "only the payment's own check is left");
        } else {
            assert_eq!(error.unwrap_err().code(), "refund_exceeds_remaining");
        }
    }
}

/// One step of a random history: a payment settles, a dispute opens, evidence goes in, a review
/// ends, money leaves `available` (a payout or a refund elsewhere).
#[derive(Debug, Clone)]
enum Step {
    Pay(i64),
    Open {
        payment: usize,
        amount_minor: Option<i64>,
    },
    Close {
        dispute: usize,
        outcome: DisputeOutcome,
    },
    /// The dispute's due date passes unanswered.
    Lapse {
        dispute: usize,
    },
    DrawDown(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1_i64..2_000_000).prop_map(Step::Pay),
        (0_usize..8, prop::option::of(1_i64..2_000_000))
            .prop_map(|(payment, amount_minor)| Step::Open { payment, amount_minor }),
        (0_usize..8, prop::bool::ANY).prop_map(|(dispute, won)| Step::Close {
            dispute,
            outcome: if won { DisputeOutcome::Won } else { DisputeOutcome::Lost },
        }),
        (0_usize..8).prop_map(|dispute| Step::Lapse { dispute }),
        (1_i64..2_000_000).prop_map(Step::DrawDown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever disputes open and however they end, every transaction sums to zero, the ledger as
    /// a whole sums to zero, no merchant balance goes below zero, `owed` never above it, and
    /// `reserved` holds exactly what open disputes hold.
    #[test]
    fn any_sequence_of_dispute_outcomes_keeps_postings_summing_to_zero(steps in prop::collection::vec(step(), 1..60)) {
        let (mut ids, mut balances) = (SequentialIds::default(), Balances::default());
        let mut payments: Vec<PaymentIntent> = Vec::new();
        let mut disputes: Vec<Dispute> = Vec::new();
        let mut transactions: Vec<LedgerTransaction> = Vec::new();
        for (now_ms, step) in (100_i64..).zip(steps) {
            match step {
                Step::Pay(amount_minor) => payments.push(succeeded_payment(amount_minor, &mut balances, &mut ids)),
                Step::Open { payment, amount_minor } => {
                    let Some(payment) = payments.get(payment % payments.len().max(1)) else { continue };
                    let existing = disputes.iter().find(|dispute| dispute.payment_intent_id == payment.id);
                    let before = balances.clone();
                    match open_dispute(payment, existing, 0, &request(amount_minor), &mut balances, &mut ids, now_ms) {
                        Ok((dispute, transaction)) => {
                            disputes.push(dispute);
                            transactions.push(transaction);
                        }
                        Err(_) => prop_assert_eq!(&balances, &before, "a refusal moves nothing"),
                    }
                }
                Step::Close { dispute, outcome } => {
                    let index = dispute % disputes.len().max(1);
                    let Some(dispute) = disputes.get(index) else { continue };
                    let Ok(submitted) = submit_evidence(dispute, &explanation("evidence"), now_ms) else { continue };
                    let (closed, transaction) =
                        close_dispute(&submitted, outcome, &mut balances, &mut ids, now_ms).unwrap();
                    disputes[index] = closed;
                    transactions.push(transaction);
                    let (available, _, owed) = merchant(&balances);
                    prop_assert!(available == 0 || owed == 0, "a close pays the debt back as far as available goes");
                }
                Step::Lapse { dispute } => {
                    let index = dispute % disputes.len().max(1);
                    let Some(dispute) = disputes.get(index) else { continue };
                    let due_by_ms = dispute.evidence_due_by_ms;
                    let Ok((closed, transaction)) = close_overdue_dispute(dispute, &mut balances, &mut ids, due_by_ms)
                    else {
                        continue;
                    };
                    disputes[index] = closed;
                    transactions.push(transaction);
                    let (available, _, owed) = merchant(&balances);
                    prop_assert!(available == 0 || owed == 0, "a close pays the debt back as far as available goes");
                }
                Step::DrawDown(amount_minor) => {
                    let amount_minor = amount_minor.min(balances.get(AccountKind::Available, ngn()));
                    let transaction = LedgerTransactionBuilder::new()
                        .transfer(AccountKind::Available, AccountKind::External, ngn(), amount_minor)
                        .finish(ids.next_id("ltx"), "po_1", "payout.paid");
                    balances.apply(&transaction).unwrap();
                }
            }
            let total: i128 = AccountKind::ALL.iter().map(|account| i128::from(balances.get(*account, ngn()))).sum();
            prop_assert_eq!(total, 0);
            let (available, reserved, owed) = merchant(&balances);
            prop_assert!(available >= 0 && reserved >= 0 && owed <= 0, "{available} {reserved} {owed}");
            let open: i64 = disputes.iter().filter(|d| !d.status.is_closed()).map(|d| d.amount.amount_minor).sum();
            prop_assert_eq!(reserved, open);
        }
        for transaction in &transactions {
            for (_, sum) in sum_by_asset(&transaction.postings) {
                prop_assert_eq!(sum, 0);
            }
        }
    }
}
