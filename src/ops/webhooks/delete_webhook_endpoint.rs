//! `delete_webhook_endpoint`: stop delivering to an endpoint for good; its pending deliveries are
//! canceled and its history stays listable.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::webhook::EndpointStatus;
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::webhooks::load_endpoint_for_update;
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::WebhookEndpointView;

pub const ENTRY: Entry = Entry::write::<DeleteWebhookEndpoint>();

pub struct DeleteWebhookEndpoint;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteWebhookEndpointArgs {
    /// The endpoint, `we_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// false (default): preview only. true: delete.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(DeleteWebhookEndpointArgs);

pub struct DeleteWebhookEndpointCommand(String);

impl WriteOperation for DeleteWebhookEndpoint {
    const SPEC: Spec = Spec {
        name: "delete_webhook_endpoint",
        toolset: Toolset::Webhooks,
        title: "Delete webhook endpoint",
        description: "Delete an endpoint: nothing more is sent to it and its pending deliveries are canceled. Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[r#"{"id": "we_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "confirm": true}"#],
    };
    type Args = DeleteWebhookEndpointArgs;
    type Command = DeleteWebhookEndpointCommand;

    fn command(args: &DeleteWebhookEndpointArgs) -> Result<DeleteWebhookEndpointCommand, Failure> {
        Ok(DeleteWebhookEndpointCommand(check_object_id(&args.id, "we_", "id")?))
    }

    fn describe(command: &DeleteWebhookEndpointCommand) -> String {
        format!("delete webhook endpoint {}", command.0)
    }

    fn message(endpoint: &WebhookEndpointView, outcome: Outcome) -> String {
        match outcome {
            Outcome::Preview => format!("Would delete webhook endpoint {} ({}).", endpoint.id, endpoint.url),
            _ => format!("Deleted webhook endpoint {}.", endpoint.id),
        }
    }
}

impl WriteCommand for DeleteWebhookEndpointCommand {
    type View = WebhookEndpointView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<WebhookEndpointView>, AppError> {
        let mut endpoint = load_endpoint_for_update(session, &actor.scope, &self.0)?;
        endpoint.status = EndpointStatus::Deleted;
        endpoint.updated_at_ms = context.now_ms;
        session.update_webhook_endpoint(&endpoint)?;
        session.cancel_pending_webhook_deliveries(&endpoint.id, context.now_ms)?;
        let applied = Applied::new(WebhookEndpointView::new(&endpoint), &endpoint.id, Vec::new());
        emit_json(session, context, &actor.scope, "webhook_endpoint.deleted", &endpoint.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
