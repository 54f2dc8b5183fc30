//! `create_subscription`: bill a customer on a price, period after period.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::billing::{billing_now_ms, load_price, subscription_view};
use crate::app::customers::load_customer_for_update;
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::subscription::{self, NewSubscription};
use crate::limits;
use crate::ops::args::{KeyRule, check_metadata, check_object_id, metadata_schema};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::billing::SubscriptionView;

pub const ENTRY: Entry = Entry::write::<CreateSubscription>();

pub struct CreateSubscription;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionArgs {
    /// The customer, `cus_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub customer_id: String,
    /// The price, `price_…`: recurring or usage.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub price_id: String,
    #[serde(default)]
    #[schemars(schema_with = "metadata_schema")]
    pub metadata: BTreeMap<String, String>,
    /// false (default): preview only. true: create.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CreateSubscriptionArgs);

pub struct CreateSubscriptionCommand {
    pub customer_id: String,
    pub price_id: String,
    pub request: NewSubscription,
}

impl WriteOperation for CreateSubscription {
    const SPEC: Spec = Spec {
        name: "create_subscription",
        toolset: Toolset::Billing,
        title: "Create subscription",
        description: "Subscribe a customer to a price. Periods are anchored on the start (31 Jan renews on the last day of Feb, then 31 Mar); a price's trial bills nothing until it ends. Each period is invoiced once at its end (recurring fee, plus usage not billed yet). Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: false, open_world: false },
        examples: &[r#"{"customer_id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "price_id": "price_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "metadata": {"plan": "pro"}, "confirm": true, "idempotency_key": "sub-ada-pro"}"#],
    };
    type Args = CreateSubscriptionArgs;
    type Command = CreateSubscriptionCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id"];

    fn command(args: &CreateSubscriptionArgs) -> Result<CreateSubscriptionCommand, Failure> {
        Ok(CreateSubscriptionCommand {
            customer_id: check_object_id(&args.customer_id, "cus_", "customer_id")?,
            price_id: check_object_id(&args.price_id, "price_", "price_id")?,
            request: NewSubscription { metadata: check_metadata(args.metadata.clone())? },
        })
    }

    fn describe(command: &CreateSubscriptionCommand) -> String {
        format!("subscribe {} to {}", command.customer_id, command.price_id)
    }

    fn message(subscription: &SubscriptionView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would subscribe" } else { "Subscribed" };
        format!(
            "{verb} {} to {} ({}); the current period ends at {} ms.",
            subscription.customer_id, subscription.price_id, subscription.status, subscription.current_period_end_ms
        )
    }
}

impl WriteCommand for CreateSubscriptionCommand {
    type View = SubscriptionView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<SubscriptionView>, AppError> {
        let scope = &actor.scope;
        let customer = load_customer_for_update(session, scope, &self.customer_id)?;
        let price = load_price(session, scope, &self.price_id)?;
        let now_ms = billing_now_ms(session, scope, context.now_ms)?;
        let id = context.ids.next_id("sub");
        let created = subscription::create_subscription(scope, &customer, &price, self.request.clone(), id, now_ms)?;
        session.insert_subscription(&created)?;
        if !price.used {
            session.mark_price_used(scope, &price.id)?;
        }
        let applied = Applied::new(subscription_view(&created), &created.id, Vec::new());
        emit_json(session, context, scope, "customer.subscription.created", &created.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
