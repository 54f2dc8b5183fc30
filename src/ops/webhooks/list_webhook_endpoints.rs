//! `list_webhook_endpoints`: the merchant's endpoints in this mode, newest first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::views::WebhookEndpointView;

pub const ENTRY: Entry = Entry::read::<ListWebhookEndpoints>();

pub struct ListWebhookEndpoints;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWebhookEndpointsArgs {}

impl ReadOperation for ListWebhookEndpoints {
    const SPEC: Spec = Spec {
        name: "list_webhook_endpoints",
        toolset: Toolset::Webhooks,
        title: "List webhook endpoints",
        description: "Your webhook endpoints in this mode (at most 16), newest first, with status and failures in a row. Secrets are never shown again.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &["{}"],
    };
    type Args = ListWebhookEndpointsArgs;
    type Output = ListResult<WebhookEndpointView>;

    async fn run(
        context: &OpContext,
        principal: &Principal,
        _args: ListWebhookEndpointsArgs,
    ) -> Result<ListResult<WebhookEndpointView>, Failure> {
        let scope = principal.scope.clone();
        let endpoints = context.app.read(move |store| Ok(store.list_webhook_endpoints(&scope)?)).await?;
        let data = endpoints.iter().map(WebhookEndpointView::new).collect();
        Ok(ListResult::new(data, false, |endpoint: &WebhookEndpointView| endpoint.id.clone()))
    }
}
