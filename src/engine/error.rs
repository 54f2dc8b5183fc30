//! The engine's refusals. Each variant has a stable `code()` that clients may match on; the
//! message is for people and may change.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    /// The request is malformed or breaks a rule; `param` names the offending field.
    #[error("{message}")]
    InvalidRequest { param: &'static str, message: String },

    #[error("no {object} with id {} exists for this merchant and mode", crate::limits::echo(id))]
    NotFound { object: &'static str, id: String },

    #[error("insufficient funds: {asset} available balance is {available_display}, {requested_display} is needed")]
    InsufficientFunds {
        asset: &'static str,
        available_minor: i64,
        requested_minor: i64,
        available_display: String,
        requested_display: String,
    },

    /// A customer's prepaid balance cannot cover a debit. Nothing was changed.
    #[error(
        "insufficient prepaid balance: customer {customer_id} holds {balance_display} in {asset}, {requested_display} is needed"
    )]
    InsufficientPrepaidBalance {
        customer_id: String,
        asset: &'static str,
        balance_minor: i64,
        requested_minor: i64,
        balance_display: String,
        requested_display: String,
    },

    /// A billing interval that is not one harepay bills by; `param` names the argument.
    #[error("{message}")]
    InvalidInterval { param: &'static str, message: String },

    /// A billing period whose bounds fall outside the calendar harepay computes (or outside the
    /// i64 milliseconds a time is kept in).
    #[error("period {period} of an interval anchored at {anchor_ms} ms ends outside the supported calendar")]
    PeriodOutOfRange { anchor_ms: i64, period: u64 },

    /// The object exists but its status does not allow the action.
    #[error("{object} {id} is {status}; {action} is not possible in that status")]
    InvalidState { object: &'static str, id: String, status: &'static str, action: &'static str },

    #[error(
        "refund of {requested_display} exceeds what remains refundable on {payment_intent_id} ({remaining_display})"
    )]
    RefundExceedsRemaining {
        payment_intent_id: String,
        remaining_minor: i64,
        requested_display: String,
        remaining_display: String,
    },

    #[error("{action} is only available in test mode")]
    TestModeOnly { action: &'static str },

    #[error("amount arithmetic overflowed")]
    AmountOverflow,

    /// A posting would take an account's balance, merchant or system, outside the i64 range a
    /// balance is kept in. Nothing was changed. The amounts come displayed, as in
    /// `InsufficientFunds`, so that this module needs nothing from the asset registry.
    #[error(
        "the {account} balance in {currency} would overflow: it is {balance_display} and this would move \
         {change_display}, beyond the {limit_display} any balance can hold in either direction; nothing was changed"
    )]
    BalanceOverflow {
        account: &'static str,
        currency: &'static str,
        balance_display: String,
        change_display: String,
        limit_display: String,
    },

    /// The actor's role or identity does not allow the action (e.g. self-approval).
    #[error("{message}")]
    Forbidden { message: String },

    #[error(
        "{limit} limit for {currency} is {limit_display} (for {applies_to}); {remaining_display} remains (daily limits count the rolling 24 hours)"
    )]
    LimitExceeded {
        limit: &'static str,
        /// Whose spending the limit counts: the key's owner, or the whole merchant.
        applies_to: &'static str,
        currency: &'static str,
        limit_display: String,
        remaining_minor: i64,
        remaining_display: String,
    },

    #[error(
        "the approval window of payout {payout_id} has passed; it can no longer be decided, and its funds are released as it expires"
    )]
    ApprovalExpired { payout_id: String },

    /// A payment reached an invoice that takes none in its status (draft, paid, void, expired, or
    /// open past its `expires_at`). Nothing was applied; what becomes of the money received (a
    /// refund, a credit) is the caller's decision.
    #[error(
        "invoice {invoice_id} is {status} and accepts no payment; the {amount_display} received was not applied to it"
    )]
    InvoiceNotPayable { invoice_id: String, status: &'static str, amount_display: String },

    /// A usage report's `event_id` was counted before with another quantity: a repeat must be the
    /// same report. Nothing was counted.
    #[error(
        "event_id {} was already reported with quantity {first_quantity}; a repeat must be the same report (use a new event_id for new usage)",
        crate::limits::echo(event_id)
    )]
    EventIdReused { event_id: String, first_quantity: i64 },

    /// An amount the engine computes (a line's quantity × unit amount, an invoice total, an
    /// overage) would be larger than any amount harepay accepts. Nothing was changed.
    #[error("the {what} would be more than {limit_display}, the largest amount harepay accepts; nothing was changed")]
    AmountTooLarge { param: &'static str, what: &'static str, limit_display: String },

    /// A payment is disputed once: a second dispute of it is refused, whatever its amount.
    #[error("payment {payment_intent_id} is already disputed (dispute {dispute_id}); a payment is disputed once")]
    PaymentAlreadyDisputed { payment_intent_id: String, dispute_id: String },

    /// A dispute takes at most what was captured and not refunded. Nothing was changed.
    #[error(
        "a dispute of {requested_display} exceeds what remains disputable on {payment_intent_id} ({remaining_display}: \
         captured less refunded)"
    )]
    DisputeExceedsRemaining { payment_intent_id: String, requested_display: String, remaining_display: String },

    /// Evidence is taken only before the dispute's due date; after it nothing can be staged or submitted.
    #[error(
        "the evidence of dispute {dispute_id} was due by {due_by_ms} ms (Unix time); it can no longer be staged or submitted"
    )]
    EvidencePastDue { dispute_id: String, due_by_ms: i64 },

    /// Evidence is submitted once; after that the dispute is under review and its evidence is fixed.
    #[error("the evidence of dispute {dispute_id} was already submitted at {submitted_at_ms} ms; it is submitted once")]
    EvidenceAlreadySubmitted { dispute_id: String, submitted_at_ms: i64 },
    /// The merchant already has the most active API keys allowed (both modes together).
    #[error(
        "this merchant has {active} active API keys (test and live together), the most allowed is {max}; revoke one (revoke_key or `harepay keys revoke`) or let one expire first"
    )]
    MaxKeysReached { active: i64, max: i64 },

    /// Keys made through tools come at a bounded rate per merchant.
    #[error(
        "this merchant's keys made through tools reached {max_creations} in {window_minutes} minutes, the most allowed; retry after {retry_after_ms} ms"
    )]
    KeyCreationRateExceeded { max_creations: u32, window_minutes: i64, retry_after_ms: i64 },
}

impl EngineError {
    pub fn invalid(param: &'static str, message: impl Into<String>) -> EngineError {
        EngineError::InvalidRequest { param, message: message.into() }
    }

    /// The stable error type reported to clients.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::InvalidRequest { .. } => "invalid_request",
            EngineError::NotFound { .. } => "not_found",
            EngineError::InsufficientFunds { .. } => "insufficient_funds",
            EngineError::InsufficientPrepaidBalance { .. } => "insufficient_prepaid_balance",
            EngineError::InvalidInterval { .. } => "invalid_interval",
            EngineError::PeriodOutOfRange { .. } => "period_out_of_range",
            EngineError::InvalidState { .. } => "invalid_state",
            EngineError::RefundExceedsRemaining { .. } => "refund_exceeds_remaining",
            EngineError::TestModeOnly { .. } => "test_mode_only",
            EngineError::AmountOverflow => "invalid_request",
            EngineError::BalanceOverflow { .. } => "balance_overflow",
            EngineError::Forbidden { .. } => "forbidden",
            EngineError::LimitExceeded { .. } => "limit_exceeded",
            EngineError::ApprovalExpired { .. } => "approval_expired",
            EngineError::InvoiceNotPayable { .. } => "invoice_not_payable",
            EngineError::AmountTooLarge { .. } => "amount_too_large",
            EngineError::EventIdReused { .. } => "event_id_reused",
            EngineError::PaymentAlreadyDisputed { .. } => "payment_already_disputed",
            EngineError::DisputeExceedsRemaining { .. } => "dispute_exceeds_remaining",
            EngineError::EvidencePastDue { .. } => "evidence_past_due",
            EngineError::EvidenceAlreadySubmitted { .. } => "evidence_already_submitted",
            EngineError::MaxKeysReached { .. } => "max_keys_reached",
            EngineError::KeyCreationRateExceeded { .. } => "key_creation_rate_exceeded",
        }
    }

    /// How long to wait before the same request can succeed, when waiting is the remedy.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            EngineError::KeyCreationRateExceeded { retry_after_ms, .. } => u64::try_from(*retry_after_ms).ok(),
            _ => None,
        }
    }

    /// The request field at fault, when one is.
    pub fn param(&self) -> Option<&'static str> {
        match self {
            EngineError::InvalidRequest { param, .. } => Some(param),
            EngineError::InvalidInterval { param, .. } => Some(param),
            EngineError::InsufficientPrepaidBalance { .. } => Some("amount"),
            EngineError::RefundExceedsRemaining { .. } => Some("amount"),
            EngineError::AmountOverflow => Some("amount"),
            EngineError::BalanceOverflow { .. } => Some("amount"),
            EngineError::LimitExceeded { .. } => Some("amount"),
            EngineError::AmountTooLarge { param, .. } => Some(param),
            EngineError::EventIdReused { .. } => Some("event_id"),
            EngineError::DisputeExceedsRemaining { .. } => Some("amount"),
            _ => None,
        }
    }
}
