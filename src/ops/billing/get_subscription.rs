//! `get_subscription`: one subscription.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::billing::{load_subscription, subscription_view};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::check_object_id;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::views::billing::SubscriptionView;

pub const ENTRY: Entry = Entry::read::<GetSubscription>();

pub struct GetSubscription;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSubscriptionArgs {
    /// The subscription id, `sub_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
}

impl ReadOperation for GetSubscription {
    const SPEC: Spec = Spec {
        name: "get_subscription",
        toolset: Toolset::Billing,
        title: "Get subscription",
        description: "Retrieve one subscription: status (trialing, active, past_due, canceled), current period, trial end and cancellation.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"id": "sub_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = GetSubscriptionArgs;
    type Output = SubscriptionView;

    fn validate(args: &GetSubscriptionArgs) -> Result<(), Failure> {
        check_object_id(&args.id, "sub_", "id").map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: GetSubscriptionArgs,
    ) -> Result<SubscriptionView, Failure> {
        let id = check_object_id(&args.id, "sub_", "id")?;
        let scope = principal.scope.clone();
        let view = context.app.read(move |store| Ok(subscription_view(&load_subscription(store, &scope, &id)?))).await?;
        Ok(view)
    }
}
