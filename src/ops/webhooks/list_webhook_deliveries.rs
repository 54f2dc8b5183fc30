//! `list_webhook_deliveries`: what was sent where, each attempt and its answer, newest first. Only
//! the merchant's own: another merchant's deliveries (and what its receivers answered) are never
//! listed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, check_object_id, page_request};
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::{WebhookAttemptRecord, WebhookDeliveryFilter, WebhookDeliveryRecord};

pub const ENTRY: Entry = Entry::read::<ListWebhookDeliveries>();

pub struct ListWebhookDeliveries;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWebhookDeliveriesArgs {
    /// Only deliveries of this event, `evt_…`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub event_id: Option<String>,
    /// Only deliveries to this endpoint, `we_…`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub endpoint_id: Option<String>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookAttemptView {
    /// 1 for the first.
    pub attempt: u32,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it did not succeed: timeout, refused address, connection error, redirect.
    pub error: Option<String>,
    /// The start of the receiver's answer (at most 200 characters).
    pub response_excerpt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeliveryView {
    /// Delivery id, `whd_…`.
    pub id: String,
    pub endpoint_id: String,
    /// The event sent (its `X-Lodum-Event-Id`; a redelivery sends the same).
    pub event_id: String,
    /// pending (see next_attempt_at_ms), succeeded, failed (every attempt failed) or canceled.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at_ms: Option<i64>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    /// Most recent first, at most 20.
    pub attempt_history: Vec<WebhookAttemptView>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

fn delivery_view(delivery: WebhookDeliveryRecord, attempts: Vec<WebhookAttemptRecord>) -> WebhookDeliveryView {
    WebhookDeliveryView {
        id: delivery.id,
        endpoint_id: delivery.endpoint_id,
        event_id: delivery.event_id,
        status: delivery.status,
        attempts: delivery.attempts,
        next_attempt_at_ms: delivery.next_attempt_at_ms,
        last_status_code: delivery.last_status_code,
        last_error: delivery.last_error,
        attempt_history: attempts
            .into_iter()
            .map(|attempt| WebhookAttemptView {
                attempt: attempt.attempt,
                started_at_ms: attempt.started_at_ms,
                duration_ms: attempt.duration_ms,
                status_code: attempt.status_code,
                error: attempt.error,
                response_excerpt: attempt.response_excerpt,
            })
            .collect(),
        created_at_ms: delivery.created_at_ms,
        updated_at_ms: delivery.updated_at_ms,
    }
}

impl ReadOperation for ListWebhookDeliveries {
    const SPEC: Spec = Spec {
        name: "list_webhook_deliveries",
        toolset: Toolset::Webhooks,
        title: "List webhook deliveries",
        description: "Deliveries of events to your endpoints, newest first, by event and/or endpoint: status, attempts with status codes and errors, next retry.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[
            r#"{"event_id": "evt_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "endpoint_id": "we_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "limit": 10}"#,
        ],
    };
    type Args = ListWebhookDeliveriesArgs;
    type Output = ListResult<WebhookDeliveryView>;

    fn validate(args: &ListWebhookDeliveriesArgs) -> Result<(), Failure> {
        if let Some(id) = &args.event_id {
            check_object_id(id, "evt_", "event_id")?;
        }
        if let Some(id) = &args.endpoint_id {
            check_object_id(id, "we_", "endpoint_id")?;
        }
        page_request(&args.limit, &args.starting_after).map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListWebhookDeliveriesArgs,
    ) -> Result<ListResult<WebhookDeliveryView>, Failure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let filter = WebhookDeliveryFilter { event_id: args.event_id, endpoint_id: args.endpoint_id };
        let scope = principal.scope.clone();
        let (deliveries, has_more) = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| store.webhook_delivery_exists(&scope, cursor))?;
                let page = store.list_webhook_deliveries(&scope, &filter, &page)?;
                let mut views = Vec::with_capacity(page.items.len());
                for delivery in page.items {
                    let attempts = store.list_webhook_attempts(&delivery.id, limits::WEBHOOK_ATTEMPTS_LISTED_MAX)?;
                    views.push(delivery_view(delivery, attempts));
                }
                Ok((views, page.has_more))
            })
            .await?;
        Ok(ListResult::new(deliveries, has_more, |delivery: &WebhookDeliveryView| delivery.id.clone()))
    }
}
