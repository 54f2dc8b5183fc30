//! Disputes (chargebacks): a payer asks their bank for a succeeded payment back, and the merchant
//! answers with evidence.
//!
//! ```text
//! needs_response ──(evidence submitted, before its due date)──► under_review ──► won | lost
//! ```
//! Opening a dispute holds the disputed amount in the merchant's `reserved` balance: it comes from
//! `available`, and what `available` cannot cover comes from `owed` (a debt the ledger shows,
//! below zero). Won gives it back the way it came (`reserved` → `available`, and the debt part to
//! `owed`); lost sends it out (`reserved` → `external`), and the debt stays owed. After either,
//! whatever `owed` still holds is paid back from `available` as far as it goes. There is no
//! dispute fee: the seed names none.
//!
//! A payment is disputed once, for at most what was captured less what was refunded, and only
//! once it succeeded. Evidence can be staged any number of times and submitted once, both before
//! its due date.

use crate::engine::IdSource;
use crate::engine::error::EngineError;
use crate::engine::ledger::{AccountKind, Balances, LedgerTransaction, LedgerTransactionBuilder};
use crate::engine::money::Money;
use crate::engine::payment::{PaymentIntent, PaymentStatus};
use crate::engine::principal::Scope;
use crate::limits::{
    DISPUTE_EVIDENCE_DUE_MAX_MS, DISPUTE_EVIDENCE_DUE_MIN_MS, DISPUTE_EVIDENCE_FILE_REFERENCE_MAX_CHARS,
    DISPUTE_EVIDENCE_FILE_REFERENCES_MAX, DISPUTE_EVIDENCE_TEXT_MAX_CHARS, DISPUTE_EVIDENCE_TOTAL_MAX_CHARS,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisputeStatus {
    /// Open: the merchant may stage and submit evidence until its due date.
    NeedsResponse,
    /// Evidence submitted; the payer's bank decides.
    UnderReview,
    /// Decided for the merchant: the amount came back.
    Won,
    /// Decided for the payer: the amount went out.
    Lost,
}

impl DisputeStatus {
    pub const ALL: [DisputeStatus; 4] =
        [DisputeStatus::NeedsResponse, DisputeStatus::UnderReview, DisputeStatus::Won, DisputeStatus::Lost];

    pub fn code(self) -> &'static str {
        match self {
            DisputeStatus::NeedsResponse => "needs_response",
            DisputeStatus::UnderReview => "under_review",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
        }
    }

    pub fn parse(code: &str) -> Option<DisputeStatus> {
        DisputeStatus::ALL.into_iter().find(|status| status.code() == code)
    }

    pub fn is_closed(self) -> bool {
        matches!(self, DisputeStatus::Won | DisputeStatus::Lost)
    }
}

/// Why the payer disputes, as card networks group it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisputeReason {
    Fraudulent,
    ProductNotReceived,
    ProductUnacceptable,
    Duplicate,
    SubscriptionCanceled,
    CreditNotProcessed,
    Unrecognized,
    General,
}

impl DisputeReason {
    pub const ALL: [DisputeReason; 8] = [
        DisputeReason::Fraudulent,
        DisputeReason::ProductNotReceived,
        DisputeReason::ProductUnacceptable,
        DisputeReason::Duplicate,
        DisputeReason::SubscriptionCanceled,
        DisputeReason::CreditNotProcessed,
        DisputeReason::Unrecognized,
        DisputeReason::General,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DisputeReason::Fraudulent => "fraudulent",
            DisputeReason::ProductNotReceived => "product_not_received",
            DisputeReason::ProductUnacceptable => "product_unacceptable",
            DisputeReason::Duplicate => "duplicate",
            DisputeReason::SubscriptionCanceled => "subscription_canceled",
            DisputeReason::CreditNotProcessed => "credit_not_processed",
            DisputeReason::Unrecognized => "unrecognized",
            DisputeReason::General => "general",
        }
    }

    pub fn parse(code: &str) -> Option<DisputeReason> {
        DisputeReason::ALL.into_iter().find(|reason| reason.code() == code)
    }
}

/// How a review ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisputeOutcome {
    Won,
    Lost,
}

impl DisputeOutcome {
    pub fn code(self) -> &'static str {
        match self {
            DisputeOutcome::Won => "won",
            DisputeOutcome::Lost => "lost",
        }
    }

    pub fn parse(code: &str) -> Option<DisputeOutcome> {
        [DisputeOutcome::Won, DisputeOutcome::Lost].into_iter().find(|outcome| outcome.code() == code)
    }
}

/// What the merchant answers with: text fields and references to documents it keeps (an id or a
/// URL each; harepay stores no files). All bounded (`limits::DISPUTE_EVIDENCE_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisputeEvidence {
    /// The merchant's account of what happened.
    pub explanation: Option<String>,
    pub customer_communication: Option<String>,
    pub refund_policy: Option<String>,
    pub shipping_tracking_number: Option<String>,
    pub file_references: Vec<String>,
}

impl DisputeEvidence {
    pub fn is_empty(&self) -> bool {
        self.text_fields().iter().all(|(_, text)| text.is_none()) && self.file_references.is_empty()
    }

    fn text_fields(&self) -> [(&'static str, &Option<String>); 4] {
        [
            ("evidence.explanation", &self.explanation),
            ("evidence.customer_communication", &self.customer_communication),
            ("evidence.refund_policy", &self.refund_policy),
            ("evidence.shipping_tracking_number", &self.shipping_tracking_number),
        ]
    }

    /// The staged evidence with `update` laid over it: a field the update gives replaces the staged
    /// one, a field it omits is kept; file references given replace the staged list.
    pub fn merged_with(&self, update: &DisputeEvidence) -> DisputeEvidence {
        let pick = |new: &Option<String>, old: &Option<String>| new.clone().or_else(|| old.clone());
        DisputeEvidence {
            explanation: pick(&update.explanation, &self.explanation),
            customer_communication: pick(&update.customer_communication, &self.customer_communication),
            refund_policy: pick(&update.refund_policy, &self.refund_policy),
            shipping_tracking_number: pick(&update.shipping_tracking_number, &self.shipping_tracking_number),
            file_references: if update.file_references.is_empty() {
                self.file_references.clone()
            } else {
                update.file_references.clone()
            },
        }
    }

    /// Refuses evidence over any of its bounds, naming the field: each text, each reference, how
    /// many references, and all of it together.
    pub fn check_bounds(&self) -> Result<(), EngineError> {
        let mut total_chars = 0_usize;
        for (param, text) in self.text_fields() {
            let chars = text.as_deref().map_or(0, |text| text.chars().count());
            if chars > DISPUTE_EVIDENCE_TEXT_MAX_CHARS {
                return Err(EngineError::invalid(
                    param,
                    format!("{param} is longer than {DISPUTE_EVIDENCE_TEXT_MAX_CHARS} characters"),
                ));
            }
            total_chars += chars;
        }
        if self.file_references.len() > DISPUTE_EVIDENCE_FILE_REFERENCES_MAX {
            return Err(EngineError::invalid(
                "evidence.file_references",
                format!("at most {DISPUTE_EVIDENCE_FILE_REFERENCES_MAX} file references"),
            ));
        }
        for reference in &self.file_references {
            let chars = reference.chars().count();
            if chars == 0 || chars > DISPUTE_EVIDENCE_FILE_REFERENCE_MAX_CHARS {
                return Err(EngineError::invalid(
                    "evidence.file_references",
                    format!("a file reference has 1 to {DISPUTE_EVIDENCE_FILE_REFERENCE_MAX_CHARS} characters"),
                ));
            }
            total_chars += chars;
        }
        if total_chars > DISPUTE_EVIDENCE_TOTAL_MAX_CHARS {
            return Err(EngineError::invalid(
                "evidence",
                format!("the evidence is longer than {DISPUTE_EVIDENCE_TOTAL_MAX_CHARS} characters in all"),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: String,
    pub scope: Scope,
    pub payment_intent_id: String,
    /// In the payment's credited asset.
    pub amount: Money,
    /// The part of `amount` that `available` could not cover when the dispute opened: held on
    /// `owed` (a debt) rather than taken from `available`. At most `amount`.
    pub amount_owed_minor: i64,
    pub reason: DisputeReason,
    pub status: DisputeStatus,
    /// Staged, then submitted (fixed from `evidence_submitted_at_ms` on).
    pub evidence: DisputeEvidence,
    pub evidence_submitted_at_ms: Option<i64>,
    /// Evidence is taken before this time, not at or after it.
    pub evidence_due_by_ms: i64,
    /// Test mode: how the review ends once evidence is submitted.
    pub simulated_outcome: Option<DisputeOutcome>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub closed_at_ms: Option<i64>,
}

impl Dispute {
    fn refuse(&self, action: &'static str) -> EngineError {
        EngineError::InvalidState { object: "dispute", id: self.id.clone(), status: self.status.code(), action }
    }

    /// What the dispute keeps from a refund of its payment: the amount while open, or once lost
    /// (it went back to the payer); nothing once won.
    pub fn withheld_from_refunds_minor(&self) -> i64 {
        match self.status {
            DisputeStatus::Won => 0,
            _ => self.amount.amount_minor,
        }
    }
}

/// A validated request to open a dispute (test mode: `simulate_dispute`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDispute {
    pub reason: DisputeReason,
    /// `None`: all that remains disputable (captured less refunded).
    pub amount_minor: Option<i64>,
    pub evidence_due_in_ms: i64,
    pub simulated_outcome: Option<DisputeOutcome>,
}

/// What remains disputable on a payment: captured less refunded, less what its invoice passed on
/// to the customer's prepaid balance (`passed_to_prepaid_minor`: the customer holds that as
/// credit, so it cannot be given back a second time), once it succeeded; nothing before.
pub fn disputable_minor(payment: &PaymentIntent, passed_to_prepaid_minor: i64) -> i64 {
    match payment.status {
        PaymentStatus::Succeeded => payment
            .credit_amount_minor()
            .saturating_sub(payment.amount_refunded_minor)
            .saturating_sub(passed_to_prepaid_minor)
            .max(0),
        _ => 0,
    }
}

/// Opens a dispute of `payment` and holds its amount in `reserved` (from `available`, and what
/// that cannot cover from `owed`). `existing` is the payment's dispute, if it has one;
/// `passed_to_prepaid_minor` what its invoice credited to the customer's prepaid balance.
pub fn open_dispute(
    payment: &PaymentIntent,
    existing: Option<&Dispute>,
    passed_to_prepaid_minor: i64,
    request: &NewDispute,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(Dispute, LedgerTransaction), EngineError> {
    if payment.status != PaymentStatus::Succeeded {
        return Err(EngineError::InvalidState {
            object: "payment_intent",
            id: payment.id.clone(),
            status: payment.status.code(),
            action: "a dispute (only a succeeded payment, settled, can be disputed)",
        });
    }
    if let Some(existing) = existing {
        return Err(EngineError::PaymentAlreadyDisputed {
            payment_intent_id: payment.id.clone(),
            dispute_id: existing.id.clone(),
        });
    }
    let allowed = DISPUTE_EVIDENCE_DUE_MIN_MS..=DISPUTE_EVIDENCE_DUE_MAX_MS;
    if !allowed.contains(&request.evidence_due_in_ms) {
        return Err(EngineError::invalid(
            "evidence_due_in_ms",
            format!(
                "evidence_due_in_ms must be from {} (1 second) to {} (30 days), got {}",
                allowed.start(),
                allowed.end(),
                request.evidence_due_in_ms
            ),
        ));
    }
    let asset = payment.credit_asset();
    let remaining_minor = disputable_minor(payment, passed_to_prepaid_minor);
    let amount_minor = request.amount_minor.unwrap_or(remaining_minor);
    if remaining_minor == 0 || amount_minor > remaining_minor {
        return Err(EngineError::DisputeExceedsRemaining {
            payment_intent_id: payment.id.clone(),
            requested_display: asset.display(amount_minor),
            remaining_display: asset.display(remaining_minor),
        });
    }
    let amount = Money::new(asset, amount_minor)?;
    let evidence_due_by_ms = now_ms
        .checked_add(request.evidence_due_in_ms)
        .ok_or(EngineError::invalid("evidence_due_in_ms", "the due date is past the clock's range"))?;
    let from_available_minor = balances.get(AccountKind::Available, asset).clamp(0, amount_minor);
    let amount_owed_minor = amount_minor - from_available_minor;
    let id = ids.next_id("dp");
    let transaction = LedgerTransactionBuilder::new()
        .transfer(AccountKind::Available, AccountKind::Reserved, asset, from_available_minor)
        .transfer(AccountKind::Owed, AccountKind::Reserved, asset, amount_owed_minor)
        .finish(ids.next_id("ltx"), &id, "charge.dispute.created");
    balances.apply(&transaction)?;
    let dispute = Dispute {
        id,
        scope: payment.scope.clone(),
        payment_intent_id: payment.id.clone(),
        amount,
        amount_owed_minor,
        reason: request.reason,
        status: DisputeStatus::NeedsResponse,
        evidence: DisputeEvidence::default(),
        evidence_submitted_at_ms: None,
        evidence_due_by_ms,
        simulated_outcome: request.simulated_outcome,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        closed_at_ms: None,
    };
    Ok((dispute, transaction))
}

/// Whether evidence may still change: the dispute needs a response and its due date has not come.
fn check_evidence_open(dispute: &Dispute, now_ms: i64) -> Result<(), EngineError> {
    if let Some(submitted_at_ms) = dispute.evidence_submitted_at_ms {
        return Err(EngineError::EvidenceAlreadySubmitted { dispute_id: dispute.id.clone(), submitted_at_ms });
    }
    // The due date before the status: a dispute closed as lost because its due date passed
    // refuses late evidence the same way before and after the scheduler closed it.
    if now_ms >= dispute.evidence_due_by_ms {
        return Err(EngineError::EvidencePastDue {
            dispute_id: dispute.id.clone(),
            due_by_ms: dispute.evidence_due_by_ms,
        });
    }
    if dispute.status != DisputeStatus::NeedsResponse {
        return Err(dispute.refuse("evidence"));
    }
    Ok(())
}

/// Stages evidence (laid over what was staged before) without submitting it.
pub fn stage_evidence(dispute: &Dispute, update: &DisputeEvidence, now_ms: i64) -> Result<Dispute, EngineError> {
    check_evidence_open(dispute, now_ms)?;
    let evidence = dispute.evidence.merged_with(update);
    evidence.check_bounds()?;
    let mut next = dispute.clone();
    next.evidence = evidence;
    next.updated_at_ms = now_ms;
    Ok(next)
}

/// Submits the staged evidence (with `update` laid over it), once: the dispute goes under review.
pub fn submit_evidence(dispute: &Dispute, update: &DisputeEvidence, now_ms: i64) -> Result<Dispute, EngineError> {
    let mut next = stage_evidence(dispute, update, now_ms)?;
    if next.evidence.is_empty() {
        return Err(EngineError::invalid("evidence", "submit at least one evidence field or file reference"));
    }
    next.status = DisputeStatus::UnderReview;
    next.evidence_submitted_at_ms = Some(now_ms);
    Ok(next)
}

/// The review ended: won gives the amount back the way it came, lost sends it out. Then what
/// `owed` still holds is paid back from `available`, as far as `available` goes.
pub fn close_dispute(
    dispute: &Dispute,
    outcome: DisputeOutcome,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(Dispute, LedgerTransaction), EngineError> {
    if dispute.status != DisputeStatus::UnderReview {
        return Err(dispute.refuse("closing"));
    }
    settle_dispute(dispute, outcome, balances, ids, now_ms)
}

/// Whether `dispute` still needs a response and its evidence due date has come: the scheduler
/// then closes it as lost (`close_overdue_dispute`).
pub fn is_overdue(dispute: &Dispute, now_ms: i64) -> bool {
    dispute.status == DisputeStatus::NeedsResponse && now_ms >= dispute.evidence_due_by_ms
}

/// The merchant did not answer by the evidence due date: the dispute is lost, as card networks
/// decide then, with a lost review's postings (`reserved` → `external`, then `owed` paid back from
/// `available` as far as it goes).
pub fn close_overdue_dispute(
    dispute: &Dispute,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(Dispute, LedgerTransaction), EngineError> {
    if dispute.status != DisputeStatus::NeedsResponse {
        return Err(dispute.refuse("closing as overdue"));
    }
    if !is_overdue(dispute, now_ms) {
        return Err(dispute.refuse("closing before its evidence due date"));
    }
    settle_dispute(dispute, DisputeOutcome::Lost, balances, ids, now_ms)
}

/// The postings and the closed dispute of either way a dispute ends.
fn settle_dispute(
    dispute: &Dispute,
    outcome: DisputeOutcome,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(Dispute, LedgerTransaction), EngineError> {
    let asset = dispute.amount.asset;
    let amount_minor = dispute.amount.amount_minor;
    let available_minor = balances.get(AccountKind::Available, asset);
    let owed_minor = balances.get(AccountKind::Owed, asset);
    // Won: the debt part goes back to `owed`, but only as far as a debt remains there (another
    // dispute may have paid it back meanwhile): `owed` never goes above zero. The rest is the
    // merchant's again.
    let (to_available_minor, to_owed_minor, to_external_minor) = match outcome {
        DisputeOutcome::Won => {
            let to_owed_minor = dispute.amount_owed_minor.min(owed_minor.saturating_neg().max(0));
            (amount_minor - to_owed_minor, to_owed_minor, 0)
        }
        DisputeOutcome::Lost => (0, 0, amount_minor),
    };
    let (Some(available_after_minor), Some(owed_after_minor)) =
        (available_minor.checked_add(to_available_minor), owed_minor.checked_add(to_owed_minor))
    else {
        return Err(EngineError::AmountOverflow);
    };
    let repaid_minor = available_after_minor.min(owed_after_minor.saturating_neg()).max(0);
    let builder = LedgerTransactionBuilder::new()
        .transfer(AccountKind::Reserved, AccountKind::Available, asset, to_available_minor)
        .transfer(AccountKind::Reserved, AccountKind::Owed, asset, to_owed_minor)
        .transfer(AccountKind::Reserved, AccountKind::External, asset, to_external_minor);
    let reason = match outcome {
        DisputeOutcome::Won => "charge.dispute.won",
        DisputeOutcome::Lost => "charge.dispute.lost",
    };
    let transaction = builder.transfer(AccountKind::Available, AccountKind::Owed, asset, repaid_minor).finish(
        ids.next_id("ltx"),
        &dispute.id,
        reason,
    );
    balances.apply(&transaction)?;
    let mut next = dispute.clone();
    next.status = match outcome {
        DisputeOutcome::Won => DisputeStatus::Won,
        DisputeOutcome::Lost => DisputeStatus::Lost,
    };
    next.updated_at_ms = now_ms;
    next.closed_at_ms = Some(now_ms);
    Ok((next, transaction))
}

/// What refunds of `payment` may still take in all, before the available balance is counted: what
/// remains unrefunded, less what its open or lost dispute holds and what its invoice passed on to
/// the customer's prepaid balance. `refund_beside_dispute` accepts exactly up to this, so a read's
/// `amount_refundable` shows it (capped at `available`).
pub fn refundable_beside_dispute_minor(
    payment: &PaymentIntent,
    dispute: Option<&Dispute>,
    passed_to_prepaid_minor: i64,
) -> i64 {
    let withheld_minor = dispute.map_or(0, Dispute::withheld_from_refunds_minor);
    payment.refundable_minor().saturating_sub(withheld_minor).saturating_sub(passed_to_prepaid_minor).max(0)
}

/// The amount a refund of `payment` may take beside its dispute: `requested` (all that remains
/// when `None`) unless the dispute holds part of what remains, which is refused as
/// `refund_exceeds_remaining`. A payment is never given back twice, by a refund and a dispute,
/// nor by a refund of what its invoice passed on to the customer's prepaid balance
/// (`passed_to_prepaid_minor`), which the customer still holds as credit.
pub fn refund_beside_dispute(
    payment: &PaymentIntent,
    dispute: Option<&Dispute>,
    passed_to_prepaid_minor: i64,
    requested_minor: Option<i64>,
) -> Result<Option<i64>, EngineError> {
    let withheld_minor = dispute.map_or(0, Dispute::withheld_from_refunds_minor);
    if (withheld_minor == 0 && passed_to_prepaid_minor == 0) || payment.status != PaymentStatus::Succeeded {
        return Ok(requested_minor);
    }
    let asset = payment.credit_asset();
    let remaining_minor = refundable_beside_dispute_minor(payment, dispute, passed_to_prepaid_minor);
    let requested = requested_minor.unwrap_or(remaining_minor);
    if remaining_minor == 0 || requested > remaining_minor {
        let held_by = match dispute.filter(|_| withheld_minor > 0) {
            Some(dispute) => format!("the rest is held by dispute {}", dispute.id),
            None => "the rest is the customer's prepaid credit".to_owned(),
        };
        return Err(EngineError::RefundExceedsRemaining {
            payment_intent_id: payment.id.clone(),
            remaining_minor,
            requested_display: asset.display(requested),
            remaining_display: format!("{}, {held_by}", asset.display(remaining_minor)),
        });
    }
    Ok(Some(requested))
}

#[cfg(test)]
mod tests;
