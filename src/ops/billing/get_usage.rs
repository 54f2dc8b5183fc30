//! `get_usage`: a subscription's usage in its current period and its next invoice.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::billing::{billing_now_ms, load_price, load_subscription, usage_period_view};
use crate::engine::catalog::PriceModel;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::subscription::{self, SubscriptionStatus};
use crate::engine::usage::UsageTerms;
use crate::limits;
use crate::ops::args::check_object_id;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::views::MoneyView;
use crate::views::billing::{NextInvoicePreviewView, UsageSummaryView};

pub const ENTRY: Entry = Entry::read::<GetUsage>();

pub struct GetUsage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetUsageArgs {
    /// The subscription, `sub_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub subscription_id: String,
}

impl ReadOperation for GetUsage {
    const SPEC: Spec = Spec {
        name: "get_usage",
        toolset: Toolset::Billing,
        title: "Get usage",
        description: "A subscription's current period: units used, allowance left, overage units billed so far, and a preview of the next period invoice.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"subscription_id": "sub_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = GetUsageArgs;
    type Output = UsageSummaryView;

    fn validate(args: &GetUsageArgs) -> Result<(), Failure> {
        check_object_id(&args.subscription_id, "sub_", "subscription_id").map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: GetUsageArgs) -> Result<UsageSummaryView, Failure> {
        let id = check_object_id(&args.subscription_id, "sub_", "subscription_id")?;
        let scope = principal.scope.clone();
        let real_now_ms = context.app.now_ms();
        let view = context
            .app
            .read(move |store| {
                let current = load_subscription(store, &scope, &id)?;
                let price = load_price(store, &scope, &current.price_id)?;
                let now_ms = billing_now_ms(store, &scope, real_now_ms)?;
                let usage = store.get_usage_period(&current.id, current.current_period_start_ms)?;
                let usage = match usage {
                    Some(usage) => usage,
                    None => current.empty_usage_period()?,
                };
                let terms = match price.model {
                    PriceModel::Usage => subscription::usage_terms(&current, &price)?,
                    // A recurring price meters nothing: its allowance reads as zero.
                    PriceModel::Recurring => UsageTerms {
                        price_id: price.id.clone(),
                        currency: price.currency,
                        unit_amount_minor: 0,
                        included_units: 0,
                        auto_charge: false,
                    },
                };
                let next_invoice = if current.status == SubscriptionStatus::Canceled {
                    NextInvoicePreviewView { issued_at_ms: None, amount: MoneyView::new(price.currency, 0), description: Vec::new() }
                } else {
                    let close = subscription::close_period(&current, &price, Some(&usage), current.current_period_end_ms)?;
                    let amount_minor = close.lines.iter().map(|line| line.quantity.saturating_mul(line.unit_amount_minor)).fold(0_i64, i64::saturating_add);
                    NextInvoicePreviewView {
                        issued_at_ms: (!close.lines.is_empty()).then_some(close.period_end_ms),
                        amount: MoneyView::new(price.currency, amount_minor),
                        description: close.lines.iter().map(|line| line.description.clone()).collect(),
                    }
                };
                Ok(UsageSummaryView {
                    object: "usage_summary".to_owned(),
                    subscription_id: current.id.clone(),
                    status: current.status.code().to_owned(),
                    now_ms,
                    price_id: price.id.clone(),
                    model: price.model.code().to_owned(),
                    current_period: usage_period_view(&usage, &terms),
                    next_invoice,
                })
            })
            .await?;
        Ok(view)
    }
}
