//! Errors the app layer reports. `code()` is the stable `error.type` clients see.

use crate::engine::error::EngineError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Engine(#[from] EngineError),

    #[error("the API key is unknown or revoked")]
    AuthenticationFailed,

    /// A known key past its expiry: its holder learns why it stopped working, and that a new key
    /// (not a retry) is the remedy.
    #[error(
        "this API key expired at {expired_at_ms} ms (Unix time); it no longer works on any transport: ask the operator or an admin for a new key"
    )]
    KeyExpired { expired_at_ms: i64 },

    #[error("{message}")]
    Forbidden { message: String },

    #[error(
        "idempotency key {} was already used with different arguments (first with tool {first_operation}); use a new key for a new request",
        crate::limits::echo(key)
    )]
    IdempotencyKeyReused { key: String, first_operation: String },

    #[error(
        "a request with idempotency key {} is still being processed; retry after it finishes",
        crate::limits::echo(key)
    )]
    IdempotencyKeyInUse { key: String },

    #[error("a merchant may have at most {max} webhook endpoints in each mode; delete one first")]
    WebhookEndpointLimitReached { max: usize },

    /// Another server on the same database changed the same objects at the same moment, and the
    /// command still found them locked after its retries (PostgreSQL only). Nothing was applied.
    #[error(
        "another server was changing the same objects at the same moment; nothing was applied: retry the same call (same idempotency_key)"
    )]
    DatabaseBusy { detail: String },

    /// Details are logged, never returned: they may name files or SQL.
    #[error("internal error; the request was not applied")]
    Internal { detail: String },
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> AppError {
        match error {
            StoreError::Contention(detail) => AppError::DatabaseBusy { detail },
            other => AppError::Internal { detail: other.to_string() },
        }
    }
}

impl AppError {
    /// `not_found` for the `object` (e.g. "invoice") with this id.
    pub(crate) fn not_found(object: &'static str, id: &str) -> AppError {
        EngineError::NotFound { object, id: id.to_owned() }.into()
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Engine(error) => error.code(),
            AppError::AuthenticationFailed => "authentication_failed",
            AppError::KeyExpired { .. } => "key_expired",
            AppError::Forbidden { .. } => "forbidden",
            AppError::IdempotencyKeyReused { .. } => "idempotency_key_reused",
            AppError::IdempotencyKeyInUse { .. } => "idempotency_key_in_use",
            AppError::WebhookEndpointLimitReached { .. } => "webhook_endpoint_limit_reached",
            AppError::DatabaseBusy { .. } => "database_busy",
            AppError::Internal { .. } => "internal_error",
        }
    }

    pub fn param(&self) -> Option<&'static str> {
        match self {
            AppError::Engine(error) => error.param(),
            AppError::IdempotencyKeyReused { .. } | AppError::IdempotencyKeyInUse { .. } => Some("idempotency_key"),
            _ => None,
        }
    }

    /// How long to wait before the same request can succeed, when waiting is the remedy.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            AppError::Engine(error) => error.retry_after_ms(),
            AppError::DatabaseBusy { .. } => Some(crate::limits::DATABASE_BUSY_RETRY_AFTER_MS),
            _ => None,
        }
    }

    pub fn invalid(param: &'static str, message: impl Into<String>) -> AppError {
        AppError::Engine(EngineError::invalid(param, message))
    }
}
