//! `cancel_subscription`: at the end of the current period (the default), or now.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::billing::{billing_now_ms, catch_up_subscription, emit_subscription, subscription_view};
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::subscription::{self, CancelMode};
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::billing::SubscriptionView;

pub const ENTRY: Entry = Entry::write::<CancelSubscription>();

pub struct CancelSubscription;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSubscriptionArgs {
    /// The subscription, `sub_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// true (default): run to the end of the current period, which is invoiced, then cancel.
    /// false: cancel now; nothing more is billed.
    #[serde(default = "at_period_end_by_default")]
    pub at_period_end: bool,
    /// false (default): preview only. true: cancel.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CancelSubscriptionArgs);

fn at_period_end_by_default() -> bool {
    true
}

pub struct CancelSubscriptionCommand {
    pub id: String,
    pub mode: CancelMode,
}

impl WriteOperation for CancelSubscription {
    const SPEC: Spec = Spec {
        name: "cancel_subscription",
        toolset: Toolset::Billing,
        title: "Cancel subscription",
        description: "Cancel a subscription at the end of its current period (default; that period is still invoiced) or now with at_period_end: false (nothing more is billed). Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[r#"{"id": "sub_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "at_period_end": false, "confirm": true}"#],
    };
    type Args = CancelSubscriptionArgs;
    type Command = CancelSubscriptionCommand;

    fn command(args: &CancelSubscriptionArgs) -> Result<CancelSubscriptionCommand, Failure> {
        let mode = if args.at_period_end { CancelMode::AtPeriodEnd } else { CancelMode::Now };
        Ok(CancelSubscriptionCommand { id: check_object_id(&args.id, "sub_", "id")?, mode })
    }

    fn describe(command: &CancelSubscriptionCommand) -> String {
        match command.mode {
            CancelMode::AtPeriodEnd => format!("cancel {} at the end of its period", command.id),
            CancelMode::Now => format!("cancel {} now", command.id),
        }
    }

    fn message(subscription: &SubscriptionView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would cancel" } else { "Canceled" };
        if subscription.cancel_at_period_end && subscription.status != "canceled" {
            format!(
                "{verb} {} at the end of its period ({} ms); that period is still invoiced.",
                subscription.id, subscription.current_period_end_ms
            )
        } else {
            format!("{verb} {} now; nothing more is billed.", subscription.id)
        }
    }
}

impl WriteCommand for CancelSubscriptionCommand {
    type View = SubscriptionView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<SubscriptionView>, AppError> {
        let current = catch_up_subscription(session, context, &actor.scope, &self.id)?;
        let now_ms = billing_now_ms(session, &actor.scope, context.now_ms)?;
        let canceled = subscription::cancel_subscription(&current, self.mode, now_ms)?;
        session.update_subscription(&canceled)?;
        let event_type = match self.mode {
            CancelMode::Now => "customer.subscription.deleted",
            CancelMode::AtPeriodEnd => "customer.subscription.updated",
        };
        emit_subscription(session, context, &canceled, event_type)?;
        Ok(Applied::new(subscription_view(&canceled), &canceled.id, Vec::new()))
    }
}
