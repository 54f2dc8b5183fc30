//! The transactions of webhook delivery: fanning outbox events out into deliveries (exactly once:
//! the cursor moves in the same transaction), and recording each attempt with what follows from it
//! (success, a retry on the schedule, a delivery given up, an endpoint disabled with its event).

use std::collections::HashMap;

use crate::app::App;
use crate::app::error::AppError;
use crate::app::write::{AuditEntry, emit_json};
use crate::app::writer::WriteContext;
use crate::engine::principal::Scope;
use crate::engine::webhook::{DeliveryNext, EndpointStatus, RetrySchedule, WebhookEndpoint, after_attempt};
use crate::limits::{WEBHOOK_CONSECUTIVE_FAILURES_MAX, WEBHOOK_FANOUT_BATCH_MAX_EVENTS};
use crate::store::{DueWebhookDelivery, StoreWrite, WebhookAttemptRecord, WebhookDeliveryRecord};
use crate::views::WebhookEndpointView;

/// What one HTTP request of a delivery came to, as the worker saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptReport {
    pub delivery_id: String,
    pub started_at_ms: i64,
    pub duration_ms: i64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    /// A 429's `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<i64>,
    /// Drawn by the worker: the engine draws no randomness.
    pub jitter_basis_points: i64,
}

impl AttemptReport {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|code| (200..300).contains(&code))
    }
}

/// A new pending delivery of `event_id` to `endpoint`, due now.
pub(crate) fn new_delivery(
    context: &mut WriteContext<'_>,
    endpoint: &WebhookEndpoint,
    event_id: &str,
) -> WebhookDeliveryRecord {
    WebhookDeliveryRecord {
        id: context.ids.next_id("whd"),
        endpoint_id: endpoint.id.clone(),
        scope: endpoint.scope.clone(),
        event_id: event_id.to_owned(),
        status: "pending".to_owned(),
        attempts: 0,
        next_attempt_at_ms: Some(context.now_ms),
        last_status_code: None,
        last_error: None,
        created_at_ms: context.now_ms,
        updated_at_ms: context.now_ms,
    }
}

/// Turns the events after the cursor (at most a batch) into deliveries to the enabled endpoints
/// that take them, and moves the cursor past them. Returns how many events it read.
fn fan_out(session: &mut dyn StoreWrite, context: &mut WriteContext<'_>) -> Result<usize, AppError> {
    let cursor = session.webhook_fanout_cursor()?;
    let events = session.events_after(cursor, WEBHOOK_FANOUT_BATCH_MAX_EVENTS)?;
    let Some(last) = events.last() else { return Ok(0) };
    let last_seq = last.seq;
    let mut endpoints_by_scope: HashMap<Scope, Vec<WebhookEndpoint>> = HashMap::new();
    for event in &events {
        if !endpoints_by_scope.contains_key(&event.scope) {
            let endpoints = session.list_webhook_endpoints(&event.scope)?;
            endpoints_by_scope.insert(event.scope.clone(), endpoints);
        }
        for endpoint in &endpoints_by_scope[&event.scope] {
            let takes_it = endpoint.status == EndpointStatus::Enabled
                && endpoint.after_event_seq < event.seq
                && endpoint.events.includes(&event.event_type);
            if takes_it {
                let delivery = new_delivery(context, endpoint, &event.id);
                session.insert_webhook_delivery(&delivery)?;
            }
        }
    }
    session.set_webhook_fanout_cursor(last_seq)?;
    Ok(events.len())
}

fn record_attempt(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    schedule: &RetrySchedule,
    report: &AttemptReport,
) -> Result<(), AppError> {
    let Some(mut delivery) = session.get_webhook_delivery_for_update(&report.delivery_id)? else { return Ok(()) };
    if delivery.status != "pending" {
        // Canceled meanwhile (its endpoint was deleted): nothing follows from the answer.
        return Ok(());
    }
    delivery.attempts = delivery.attempts.saturating_add(1);
    session.insert_webhook_attempt(&WebhookAttemptRecord {
        delivery_id: delivery.id.clone(),
        attempt: delivery.attempts,
        started_at_ms: report.started_at_ms,
        duration_ms: report.duration_ms,
        status_code: report.status_code,
        error: report.error.clone(),
        response_excerpt: report.response_excerpt.clone(),
    })?;
    let Some(mut endpoint) = session.get_webhook_endpoint(&delivery.scope, &delivery.endpoint_id)? else {
        return Err(AppError::Internal { detail: format!("delivery {} names no endpoint", delivery.id) });
    };
    let decision = after_attempt(
        schedule,
        report.succeeded(),
        delivery.attempts,
        endpoint.consecutive_failures,
        context.now_ms,
        report.jitter_basis_points,
        report.retry_after_ms,
    );
    (delivery.status, delivery.next_attempt_at_ms) = match decision.delivery {
        DeliveryNext::Succeeded => ("succeeded".to_owned(), None),
        DeliveryNext::RetryAt { at_ms } => ("pending".to_owned(), Some(at_ms)),
        DeliveryNext::Failed => ("failed".to_owned(), None),
    };
    delivery.last_status_code = report.status_code;
    delivery.last_error = report.error.clone();
    delivery.updated_at_ms = context.now_ms;
    session.update_webhook_delivery(&delivery)?;
    endpoint.consecutive_failures = decision.consecutive_failures;
    if decision.disable_endpoint && endpoint.status == EndpointStatus::Enabled {
        disable_after_failures(session, context, &mut endpoint)?;
    }
    session.update_webhook_endpoint(&endpoint)?;
    Ok(())
}

fn disable_after_failures(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    endpoint: &mut WebhookEndpoint,
) -> Result<(), AppError> {
    endpoint.status = EndpointStatus::Disabled;
    endpoint.disabled_reason = Some(format!(
        "{WEBHOOK_CONSECUTIVE_FAILURES_MAX} delivery attempts in a row failed; enable it once it answers"
    ));
    endpoint.updated_at_ms = context.now_ms;
    let payload = serde_json::to_string(&WebhookEndpointView::new(endpoint)).expect("views serialize");
    emit_json(session, context, &endpoint.scope, "webhook_endpoint.disabled", &endpoint.id, payload)?;
    let detail = format!("disabled webhook endpoint {} after {WEBHOOK_CONSECUTIVE_FAILURES_MAX} failures", endpoint.id);
    let audit = AuditEntry::system(&endpoint.scope, "webhook_delivery", &endpoint.id, "executed", detail);
    session.append_audit(&audit.into_record(context))?;
    tracing::warn!(endpoint = %endpoint.id, "webhook endpoint disabled after consecutive failures");
    Ok(())
}

impl App {
    /// Fans out one batch of new outbox events; returns how many events it read (a full batch
    /// means more may be waiting).
    pub async fn fan_out_webhook_events(&self) -> Result<usize, AppError> {
        // The worker asks ten times a second and most ticks find nothing new: a read says so
        // without taking the writer (a group commit each tick, which readiness counts, and on
        // PostgreSQL the cursor's row lock and a transaction id every tick of every process).
        let waiting = self.read(|store| Ok(!store.events_after(store.webhook_fanout_cursor()?, 1)?.is_empty())).await?;
        if !waiting {
            return Ok(0);
        }
        self.submit(|session, context| session.in_savepoint(|tx| fan_out(tx, context))).await
    }

    /// Deliveries due now, for the worker.
    pub async fn due_webhook_deliveries(&self, limit: u32) -> Result<Vec<DueWebhookDelivery>, AppError> {
        let now_ms = self.now_ms();
        self.read(move |store| Ok(store.due_webhook_deliveries(now_ms, limit)?)).await
    }

    pub async fn record_webhook_attempt(&self, schedule: RetrySchedule, report: AttemptReport) -> Result<(), AppError> {
        self.submit(move |session, context| {
            // Its own savepoint: a failure here must not undo the neighbours in the group.
            session.in_savepoint(|tx| record_attempt(tx, context, &schedule, &report))
        })
        .await
    }
}
