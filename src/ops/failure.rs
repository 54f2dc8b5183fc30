//! The error envelope every face returns: `{"error": {"type", "message", "param"?}}`, with a
//! stable `type` an agent (or a REST client) acts on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::error::AppError;
use crate::limits;

/// A tool error the agent reads: `isError: true` with `{error: {type, message, param?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable error type: invalid_request, not_found, insufficient_funds, insufficient_prepaid_balance,
    /// balance_overflow, invalid_state, invalid_interval, period_out_of_range, invoice_not_payable, amount_too_large,
    /// event_id_reused, refund_exceeds_remaining, idempotency_key_reused, idempotency_key_in_use, forbidden,
    /// limit_exceeded, rate_limited, approval_expired, confirmation_declined, confirmation_unavailable,
    /// confirmation_invalid, test_mode_only, payment_already_disputed, dispute_exceeds_remaining,
    /// evidence_past_due, evidence_already_submitted, authentication_failed, key_expired, max_keys_reached,
    /// key_creation_rate_exceeded, database_busy, internal_error.
    #[serde(rename = "type")]
    pub error_type: String,
    pub message: String,
    /// The argument at fault, when there is one (dotted path, e.g. "amount.currency").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// rate_limited and key_creation_rate_exceeded only: wait this long, then retry the same call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl Failure {
    /// Messages are cut at `ERROR_MESSAGE_MAX_CHARS`: whatever a message quotes, an agent never
    /// reads (and the audit log never keeps) an unbounded one.
    pub fn new(error_type: &str, message: impl Into<String>, param: Option<&str>) -> Failure {
        Failure {
            error: ErrorBody {
                error_type: error_type.to_owned(),
                message: limits::truncate_chars(&message.into(), limits::ERROR_MESSAGE_MAX_CHARS),
                param: param.map(str::to_owned),
                retry_after_ms: None,
            },
        }
    }

    pub fn invalid(param: &str, message: impl Into<String>) -> Failure {
        Failure::new("invalid_request", message, Some(param))
    }
}

impl From<AppError> for Failure {
    fn from(error: AppError) -> Failure {
        if let AppError::Internal { detail } = &error {
            tracing::error!(%detail, "internal error");
        }
        let mut failure = Failure::new(error.code(), error.to_string(), error.param());
        failure.error.retry_after_ms = error.retry_after_ms();
        failure
    }
}
