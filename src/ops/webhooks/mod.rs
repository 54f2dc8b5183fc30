//! Toolset `webhooks`: signed webhook endpoints that receive the event outbox, and their
//! deliveries. The worker that sends them is `webhooks::worker`.

use crate::app::error::AppError;
use crate::engine::error::EngineError;
use crate::engine::principal::Scope;
use crate::engine::webhook::{EndpointStatus, EventSelection, WebhookEndpoint, is_event_type_name};
use crate::limits;
use crate::ops::Failure;
use crate::store::StoreWrite;
use crate::webhooks::address::Refusal;

crate::ops::operations!(
    create_webhook_endpoint,
    delete_webhook_endpoint,
    list_webhook_deliveries,
    list_webhook_endpoints,
    redeliver_event,
    update_webhook_endpoint
);

/// `events`: `["*"]` for every event, or up to `WEBHOOK_EVENT_TYPES_MAX` event type names.
pub(crate) fn check_events(events: &[String]) -> Result<EventSelection, Failure> {
    if events.is_empty() || events.len() > limits::WEBHOOK_EVENT_TYPES_MAX {
        return Err(Failure::invalid(
            "events",
            format!("events must list 1 to {} event types, or [\"*\"] for all", limits::WEBHOOK_EVENT_TYPES_MAX),
        ));
    }
    if events.iter().any(|name| name == "*") {
        return if events.len() == 1 {
            Ok(EventSelection::All)
        } else {
            Err(Failure::invalid("events", "\"*\" takes every event: list it alone"))
        };
    }
    if let Some(bad) = events.iter().find(|name| !is_event_type_name(name)) {
        return Err(Failure::invalid(
            "events",
            format!("{} is not an event type such as \"payment_intent.succeeded\"", limits::echo(bad)),
        ));
    }
    let mut names = events.to_vec();
    names.sort();
    names.dedup();
    Ok(EventSelection::Only(names))
}

pub(crate) fn refusal_failure(refusal: Refusal) -> Failure {
    Failure::new(refusal.code, refusal.message, Some("url"))
}

/// The endpoint in the caller's scope; a deleted one is `not_found`, like one that never was.
pub(crate) fn load_endpoint_for_update(
    session: &mut dyn StoreWrite,
    scope: &Scope,
    id: &str,
) -> Result<WebhookEndpoint, AppError> {
    match session.get_webhook_endpoint(scope, id)? {
        Some(endpoint) if endpoint.status != EndpointStatus::Deleted => Ok(endpoint),
        _ => Err(EngineError::NotFound { object: "webhook endpoint", id: id.to_owned() }.into()),
    }
}
