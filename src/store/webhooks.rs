//! What the store keeps for webhook delivery (migration 14): endpoints, deliveries, their
//! attempts and the fan-out cursor over the event outbox.

use crate::engine::principal::Scope;
use crate::engine::webhook::WebhookEndpoint;
use crate::store::{Page, PageRequest, StoreResult};

/// One event for one endpoint. A redelivery is another delivery of the same event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDeliveryRecord {
    pub id: String,
    pub endpoint_id: String,
    pub scope: Scope,
    pub event_id: String,
    /// pending, succeeded, failed or canceled.
    pub status: String,
    pub attempts: u32,
    /// When a pending delivery is next tried.
    pub next_attempt_at_ms: Option<i64>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One HTTP request of a delivery and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttemptRecord {
    pub delivery_id: String,
    /// 1 for the first.
    pub attempt: u32,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub status_code: Option<u16>,
    /// Why no 2xx came: a refused address, a timeout, a connection error, a redirect.
    pub error: Option<String>,
    /// The start of the receiver's answer, cut short; shown only to the endpoint's merchant.
    pub response_excerpt: Option<String>,
}

/// A delivery the worker should attempt now, with what the request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueWebhookDelivery {
    pub delivery_id: String,
    pub endpoint_id: String,
    pub scope: Scope,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub event_id: String,
    pub event_type: String,
    pub payload_json: String,
    pub attempts: u32,
}

/// An outbox event as the fan-out sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutEvent {
    pub seq: i64,
    pub id: String,
    pub scope: Scope,
    pub event_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookDeliveryFilter {
    pub event_id: Option<String>,
    pub endpoint_id: Option<String>,
}

pub trait WebhooksRead {
    /// Deleted endpoints included (the caller decides what they mean).
    fn get_webhook_endpoint(&self, scope: &Scope, id: &str) -> StoreResult<Option<WebhookEndpoint>>;
    /// The scope's endpoints that are not deleted, newest first.
    fn list_webhook_endpoints(&self, scope: &Scope) -> StoreResult<Vec<WebhookEndpoint>>;
    fn webhook_delivery_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool>;
    /// The scope's deliveries, newest first.
    fn list_webhook_deliveries(
        &self,
        scope: &Scope,
        filter: &WebhookDeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<WebhookDeliveryRecord>>;
    /// A delivery's most recent attempts, newest first.
    fn list_webhook_attempts(&self, delivery_id: &str, limit: u32) -> StoreResult<Vec<WebhookAttemptRecord>>;
    /// Pending deliveries due at `now_ms` on enabled endpoints, at most `limit`: for each endpoint
    /// its oldest due one only (creation order per endpoint, one request per endpoint at a time),
    /// merchants in turns (every merchant's first endpoint before anyone's second).
    fn due_webhook_deliveries(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueWebhookDelivery>>;
    /// The outbox position of the newest event (0 when there is none).
    fn newest_event_seq(&self) -> StoreResult<i64>;
    /// An event's outbox position and type, in the scope.
    fn event_seq_and_type(&self, scope: &Scope, event_id: &str) -> StoreResult<Option<(i64, String)>>;
    /// Where the fan-out stopped: events after it have no deliveries yet.
    fn webhook_fanout_cursor(&self) -> StoreResult<i64>;
    /// Events after `after_seq`, oldest first, at most `limit`.
    fn events_after(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<FanoutEvent>>;
}

pub trait WebhooksWrite {
    fn insert_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()>;
    fn update_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()>;
    fn set_webhook_fanout_cursor(&mut self, seq: i64) -> StoreResult<()>;
    fn insert_webhook_delivery(&mut self, delivery: &WebhookDeliveryRecord) -> StoreResult<()>;
    fn get_webhook_delivery_for_update(&mut self, id: &str) -> StoreResult<Option<WebhookDeliveryRecord>>;
    fn update_webhook_delivery(&mut self, delivery: &WebhookDeliveryRecord) -> StoreResult<()>;
    fn insert_webhook_attempt(&mut self, attempt: &WebhookAttemptRecord) -> StoreResult<()>;
    /// Cancels an endpoint's pending deliveries (it was deleted); returns how many.
    fn cancel_pending_webhook_deliveries(&mut self, endpoint_id: &str, now_ms: i64) -> StoreResult<u32>;
}
