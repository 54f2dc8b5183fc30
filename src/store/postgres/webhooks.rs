//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::principal::{Mode, Scope};
use crate::engine::webhook::{EndpointStatus, EventSelection, WebhookEndpoint};
use crate::store::{
    DueWebhookDelivery, FanoutEvent, Page, PageRequest, StoreResult, WebhookAttemptRecord, WebhookDeliveryFilter,
    WebhookDeliveryRecord, WebhooksRead, WebhooksWrite,
};

use crate::store::postgres::session::PgSession;

impl WebhooksRead for PgSession<'_> {
    fn get_webhook_endpoint(&self, scope: &Scope, id: &str) -> StoreResult<Option<WebhookEndpoint>> {
        todo!("postgres: webhooks")
    }
    fn list_webhook_endpoints(&self, scope: &Scope) -> StoreResult<Vec<WebhookEndpoint>> {
        todo!("postgres: webhooks")
    }
    fn webhook_delivery_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        todo!("postgres: webhooks")
    }
    fn list_webhook_deliveries(
        &self,
        scope: &Scope,
        filter: &WebhookDeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<WebhookDeliveryRecord>> {
        todo!("postgres: webhooks")
    }
    fn list_webhook_attempts(&self, delivery_id: &str, limit: u32) -> StoreResult<Vec<WebhookAttemptRecord>> {
        todo!("postgres: webhooks")
    }
    fn due_webhook_deliveries(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueWebhookDelivery>> {
        todo!("postgres: webhooks")
    }
    fn newest_event_seq(&self) -> StoreResult<i64> {
        todo!("postgres: webhooks")
    }
    fn event_seq_and_type(&self, scope: &Scope, event_id: &str) -> StoreResult<Option<(i64, String)>> {
        todo!("postgres: webhooks")
    }
    fn webhook_fanout_cursor(&self) -> StoreResult<i64> {
        todo!("postgres: webhooks")
    }
    fn events_after(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<FanoutEvent>> {
        todo!("postgres: webhooks")
    }
}

impl WebhooksWrite for PgSession<'_> {
    fn insert_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        todo!("postgres: webhooks")
    }
    fn update_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        todo!("postgres: webhooks")
    }
    fn set_webhook_fanout_cursor(&mut self, seq: i64) -> StoreResult<()> {
        todo!("postgres: webhooks")
    }
    fn insert_webhook_delivery(&mut self, delivery: &WebhookDeliveryRecord) -> StoreResult<()> {
        todo!("postgres: webhooks")
    }
    fn get_webhook_delivery_for_update(&mut self, id: &str) -> StoreResult<Option<WebhookDeliveryRecord>> {
        todo!("postgres: webhooks")
    }
    fn update_webhook_delivery(&mut self, delivery: &WebhookDeliveryRecord) -> StoreResult<()> {
        todo!("postgres: webhooks")
    }
    fn insert_webhook_attempt(&mut self, attempt: &WebhookAttemptRecord) -> StoreResult<()> {
        todo!("postgres: webhooks")
    }
    fn cancel_pending_webhook_deliveries(&mut self, endpoint_id: &str, now_ms: i64) -> StoreResult<u32> {
        todo!("postgres: webhooks")
    }
}
