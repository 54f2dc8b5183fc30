//! `redeliver_event`: send an event again, as a new delivery carrying the same event id (receivers
//! de-duplicate by `X-Lodum-Event-Id`). The event itself is never re-created.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::webhooks::new_delivery;
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::error::EngineError;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::webhook::EndpointStatus;
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::webhooks::load_endpoint_for_update;
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;

pub const ENTRY: Entry = Entry::write::<RedeliverEvent>();

pub struct RedeliverEvent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeliverEventArgs {
    /// The event, `evt_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub event_id: String,
    /// Only to this endpoint, `we_…` (default: every enabled endpoint that takes the event's type).
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub endpoint_id: Option<String>,
    /// false (default): preview only. true: queue the deliveries.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result (and queue nothing more).
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(RedeliverEventArgs);

pub struct RedeliverEventCommand {
    event_id: String,
    endpoint_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RedeliveryView {
    pub event_id: String,
    /// The new deliveries, `whd_…` (see list_webhook_deliveries).
    pub delivery_ids: Vec<String>,
    /// The endpoints they go to.
    pub endpoint_ids: Vec<String>,
}

impl WriteOperation for RedeliverEvent {
    const SPEC: Spec = Spec {
        name: "redeliver_event",
        toolset: Toolset::Webhooks,
        title: "Redeliver event",
        description: "Send an event again to one endpoint (endpoint_id) or to every enabled endpoint that takes its type; the delivery carries the same event id. Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: false, open_world: true },
        examples: &[
            r#"{"event_id": "evt_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "endpoint_id": "we_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "confirm": true, "idempotency_key": "redeliver-1"}"#,
        ],
    };
    type Args = RedeliverEventArgs;
    type Command = RedeliverEventCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/delivery_ids"];

    fn command(args: &RedeliverEventArgs) -> Result<RedeliverEventCommand, Failure> {
        let event_id = check_object_id(&args.event_id, "evt_", "event_id")?;
        let endpoint_id = args.endpoint_id.as_deref().map(|id| check_object_id(id, "we_", "endpoint_id")).transpose()?;
        Ok(RedeliverEventCommand { event_id, endpoint_id })
    }

    fn describe(command: &RedeliverEventCommand) -> String {
        match &command.endpoint_id {
            Some(endpoint_id) => format!("redeliver event {} to {endpoint_id}", command.event_id),
            None => format!("redeliver event {}", command.event_id),
        }
    }

    fn message(redelivery: &RedeliveryView, outcome: Outcome) -> String {
        let endpoints = redelivery.endpoint_ids.join(", ");
        match outcome {
            Outcome::Preview => format!("Would send event {} again to {endpoints}.", redelivery.event_id),
            _ => format!("Queued event {} for delivery to {endpoints}.", redelivery.event_id),
        }
    }
}

impl WriteCommand for RedeliverEventCommand {
    type View = RedeliveryView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<RedeliveryView>, AppError> {
        let Some((_, event_type)) = session.event_seq_and_type(&actor.scope, &self.event_id)? else {
            return Err(EngineError::NotFound { object: "event", id: self.event_id.clone() }.into());
        };
        let endpoints = match &self.endpoint_id {
            Some(id) => {
                let endpoint = load_endpoint_for_update(session, &actor.scope, id)?;
                if endpoint.status != EndpointStatus::Enabled {
                    return Err(EngineError::InvalidState {
                        object: "webhook endpoint",
                        id: id.clone(),
                        status: endpoint.status.code(),
                        action: "redelivery",
                    }
                    .into());
                }
                vec![endpoint]
            }
            None => session
                .list_webhook_endpoints(&actor.scope)?
                .into_iter()
                .filter(|endpoint| endpoint.status == EndpointStatus::Enabled && endpoint.events.includes(&event_type))
                .collect(),
        };
        if endpoints.is_empty() {
            return Err(AppError::invalid(
                "event_id",
                format!("no enabled webhook endpoint takes events of type {event_type}"),
            ));
        }
        let mut view = RedeliveryView { event_id: self.event_id.clone(), delivery_ids: Vec::new(), endpoint_ids: Vec::new() };
        for endpoint in &endpoints {
            let delivery = new_delivery(context, endpoint, &self.event_id);
            session.insert_webhook_delivery(&delivery)?;
            view.delivery_ids.push(delivery.id);
            view.endpoint_ids.push(endpoint.id.clone());
        }
        Ok(Applied::new(view, &self.event_id, Vec::new()))
    }
}
