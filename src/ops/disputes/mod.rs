//! Toolset `disputes` (opt-in): disputes of succeeded payments, their evidence, and in test mode
//! `simulate_dispute`, which opens one as a payer's bank would.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::dispute::{DisputeEvidence, DisputeOutcome, DisputeReason, DisputeStatus};
use crate::limits;
use crate::ops::Failure;
use crate::ops::args::optional_text;

crate::ops::operations!(get_dispute, list_disputes, simulate_dispute, submit_dispute_evidence);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatusInput {
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
}

impl DisputeStatusInput {
    pub fn to_engine(self) -> DisputeStatus {
        match self {
            DisputeStatusInput::NeedsResponse => DisputeStatus::NeedsResponse,
            DisputeStatusInput::UnderReview => DisputeStatus::UnderReview,
            DisputeStatusInput::Won => DisputeStatus::Won,
            DisputeStatusInput::Lost => DisputeStatus::Lost,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisputeReasonInput {
    Fraudulent,
    ProductNotReceived,
    ProductUnacceptable,
    Duplicate,
    SubscriptionCanceled,
    CreditNotProcessed,
    Unrecognized,
    General,
}

impl DisputeReasonInput {
    pub fn to_engine(self) -> DisputeReason {
        match self {
            DisputeReasonInput::Fraudulent => DisputeReason::Fraudulent,
            DisputeReasonInput::ProductNotReceived => DisputeReason::ProductNotReceived,
            DisputeReasonInput::ProductUnacceptable => DisputeReason::ProductUnacceptable,
            DisputeReasonInput::Duplicate => DisputeReason::Duplicate,
            DisputeReasonInput::SubscriptionCanceled => DisputeReason::SubscriptionCanceled,
            DisputeReasonInput::CreditNotProcessed => DisputeReason::CreditNotProcessed,
            DisputeReasonInput::Unrecognized => DisputeReason::Unrecognized,
            DisputeReasonInput::General => DisputeReason::General,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisputeOutcomeInput {
    Won,
    Lost,
}

impl DisputeOutcomeInput {
    pub fn to_engine(self) -> DisputeOutcome {
        match self {
            DisputeOutcomeInput::Won => DisputeOutcome::Won,
            DisputeOutcomeInput::Lost => DisputeOutcome::Lost,
        }
    }
}

/// Evidence: every field optional; a field given replaces what was staged, one omitted is kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceInput {
    /// What happened, in the merchant's words.
    #[serde(default)]
    #[schemars(length(max = limits::DISPUTE_EVIDENCE_TEXT_MAX_CHARS))]
    pub explanation: Option<String>,
    #[serde(default)]
    #[schemars(length(max = limits::DISPUTE_EVIDENCE_TEXT_MAX_CHARS))]
    pub customer_communication: Option<String>,
    #[serde(default)]
    #[schemars(length(max = limits::DISPUTE_EVIDENCE_TEXT_MAX_CHARS))]
    pub refund_policy: Option<String>,
    #[serde(default)]
    #[schemars(length(max = limits::DISPUTE_EVIDENCE_TEXT_MAX_CHARS))]
    pub shipping_tracking_number: Option<String>,
    /// Ids or URLs of documents you keep (receipts, delivery proof); replaces the staged list.
    #[serde(default)]
    #[schemars(length(max = limits::DISPUTE_EVIDENCE_FILE_REFERENCES_MAX), inner(length(max = limits::DISPUTE_EVIDENCE_FILE_REFERENCE_MAX_CHARS)))]
    pub file_references: Vec<String>,
}

impl EvidenceInput {
    /// The evidence as the engine takes it, each text trimmed and bounded (the engine checks the
    /// total once it is laid over what was staged).
    pub fn to_engine(&self) -> Result<DisputeEvidence, Failure> {
        let text = |value: &Option<String>, param: &str| {
            optional_text(value.clone(), param, limits::DISPUTE_EVIDENCE_TEXT_MAX_CHARS)
        };
        let evidence = DisputeEvidence {
            explanation: text(&self.explanation, "evidence.explanation")?,
            customer_communication: text(&self.customer_communication, "evidence.customer_communication")?,
            refund_policy: text(&self.refund_policy, "evidence.refund_policy")?,
            shipping_tracking_number: text(&self.shipping_tracking_number, "evidence.shipping_tracking_number")?,
            file_references: self.file_references.iter().map(|reference| reference.trim().to_owned()).collect(),
        };
        evidence
            .check_bounds()
            .map_err(|error| Failure::invalid(error.param().unwrap_or("evidence"), error.to_string()))?;
        Ok(evidence)
    }
}

/// The guide's section on disputes (llms.txt links the guide).
pub fn guide_section() -> String {
    format!(
        "## Disputes (toolset `disputes`, opt-in)\n\n\
         - A payer's bank can dispute a succeeded payment, once, for at most what was captured less what was refunded. \
         Statuses: `needs_response` → `under_review` (evidence submitted) → `won` | `lost`.\n\
         - Opening one holds the disputed amount in `reserved`: from `available`, and what `available` cannot cover \
         becomes a debt the balance shows as `owed` (`amount_owed` on the dispute). Won gives it back the way it came; \
         lost sends it to the payer. After either, `available` pays back what is `owed` as far as it goes. There is \
         no dispute fee. While a dispute is open or lost, refunds cannot take its amount (`refund_exceeds_remaining`; \
         a payment's `amount_refundable` leaves it out).\n\
         - `submit_dispute_evidence {{\"id\": \"dp_…\", \"evidence\": {{…}}, \"submit\": false}}` stages evidence (text \
         fields of at most {text_max} characters, at most {files_max} file references of {file_max} characters, \
         {total_max} characters in all); `submit: true` submits it, once, before `evidence_due_by_ms` \
         (`evidence_past_due` after it, `evidence_already_submitted` the second time).\n\
         - Unanswered: a dispute still `needs_response` at `evidence_due_by_ms` is closed as `lost` by harepay's \
         scheduler (within a second or so), as card networks do; an audit record by `harepay`.\n\
         - Test mode: `simulate_dispute {{\"payment_intent_id\", \"reason\", \"outcome\"?, \"amount\"?, \
         \"evidence_due_in_ms\"?}}` opens one (evidence due in {due_days} days unless set; `payment_already_disputed` \
         for a second one, `dispute_exceeds_remaining` above what remains). The review completes when evidence is \
         submitted: the dispute passes `under_review` and closes as `outcome` says (`won` when omitted), in the same \
         call. Live mode has no simulator (`test_mode_only`).\n\
         - Events: `charge.dispute.created`, `charge.dispute.updated` (evidence staged or submitted), \
         `charge.dispute.closed` (won or lost; an unanswered one gets `updated`, then `closed`).\n\n",
        text_max = limits::DISPUTE_EVIDENCE_TEXT_MAX_CHARS,
        files_max = limits::DISPUTE_EVIDENCE_FILE_REFERENCES_MAX,
        file_max = limits::DISPUTE_EVIDENCE_FILE_REFERENCE_MAX_CHARS,
        total_max = limits::DISPUTE_EVIDENCE_TOTAL_MAX_CHARS,
        due_days = limits::DISPUTE_EVIDENCE_DUE_DEFAULT_MS / (24 * 60 * 60 * 1000),
    )
}
