//! `update_webhook_endpoint`: change an endpoint's events, or disable and enable it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::error::EngineError;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::webhook::{EndpointStatus, EventSelection};
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::webhooks::{check_events, load_endpoint_for_update};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::WebhookEndpointView;

pub const ENTRY: Entry = Entry::write::<UpdateWebhookEndpoint>();

pub struct UpdateWebhookEndpoint;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpointArgs {
    /// The endpoint, `we_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// Replaces the event types, or ["*"] for all.
    #[serde(default)]
    #[schemars(length(max = limits::WEBHOOK_EVENT_TYPES_MAX), inner(length(max = limits::EVENT_TYPE_MAX_CHARS)))]
    pub events: Option<Vec<String>>,
    /// false disables it (deliveries wait); true enables it and clears its failure count.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// false (default): preview only. true: update.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(UpdateWebhookEndpointArgs);

pub struct UpdateWebhookEndpointCommand {
    id: String,
    events: Option<EventSelection>,
    enabled: Option<bool>,
}

impl WriteOperation for UpdateWebhookEndpoint {
    const SPEC: Spec = Spec {
        name: "update_webhook_endpoint",
        toolset: Toolset::Webhooks,
        title: "Update webhook endpoint",
        description: "Change an endpoint's events, or disable (enabled: false) or enable it (enabled: true; also after harepay disabled it for failing, which resets the count). Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: true, open_world: false },
        examples: &[r#"{"id": "we_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "events": ["*"], "enabled": true, "confirm": true}"#],
    };
    type Args = UpdateWebhookEndpointArgs;
    type Command = UpdateWebhookEndpointCommand;

    fn command(args: &UpdateWebhookEndpointArgs) -> Result<UpdateWebhookEndpointCommand, Failure> {
        let id = check_object_id(&args.id, "we_", "id")?;
        let events = args.events.as_deref().map(check_events).transpose()?;
        if events.is_none() && args.enabled.is_none() {
            return Err(Failure::invalid("events", "give events, enabled, or both"));
        }
        Ok(UpdateWebhookEndpointCommand { id, events, enabled: args.enabled })
    }

    fn describe(command: &UpdateWebhookEndpointCommand) -> String {
        let mut changes = Vec::new();
        if let Some(events) = &command.events {
            changes.push(format!("events {}", events.stored_text()));
        }
        if let Some(enabled) = command.enabled {
            changes.push(if enabled { "enable".to_owned() } else { "disable".to_owned() });
        }
        format!("update webhook endpoint {}: {}", command.id, changes.join(", "))
    }

    fn message(endpoint: &WebhookEndpointView, outcome: Outcome) -> String {
        match outcome {
            Outcome::Preview => format!("Would leave webhook endpoint {} {}.", endpoint.id, endpoint.status),
            _ => format!("Webhook endpoint {} is {}.", endpoint.id, endpoint.status),
        }
    }
}

impl WriteCommand for UpdateWebhookEndpointCommand {
    type View = WebhookEndpointView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<WebhookEndpointView>, AppError> {
        let mut endpoint = load_endpoint_for_update(session, &actor.scope, &self.id)?;
        if let Some(events) = &self.events {
            endpoint.events = events.clone();
        }
        match self.enabled {
            Some(true) => {
                endpoint.status = EndpointStatus::Enabled;
                endpoint.disabled_reason = None;
                endpoint.consecutive_failures = 0;
            }
            Some(false) => {
                endpoint.status = EndpointStatus::Disabled;
                endpoint.disabled_reason = Some(format!("disabled by {}", limits::echo(&actor.owner)));
            }
            None => {}
        }
        if endpoint.status == EndpointStatus::Deleted {
            return Err(EngineError::NotFound { object: "webhook endpoint", id: self.id.clone() }.into());
        }
        endpoint.updated_at_ms = context.now_ms;
        session.update_webhook_endpoint(&endpoint)?;
        let applied = Applied::new(WebhookEndpointView::new(&endpoint), &endpoint.id, Vec::new());
        emit_json(session, context, &actor.scope, "webhook_endpoint.updated", &endpoint.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
