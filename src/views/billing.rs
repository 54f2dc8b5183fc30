//! The public JSON of subscriptions, usage, billing runs and test clocks.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::subscription::Subscription;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionView {
    /// Subscription id, `sub_…`.
    pub id: String,
    pub object: String,
    pub mode: String,
    pub customer_id: String,
    pub price_id: String,
    /// trialing, active, past_due (an open invoice is past its due date) or canceled.
    pub status: String,
    /// Where billed periods are counted from: the start, or the trial's end.
    pub billing_anchor_ms: i64,
    pub trial_end_ms: Option<i64>,
    /// The current period, [start, end): the trial while trialing.
    pub current_period_start_ms: i64,
    pub current_period_end_ms: i64,
    /// True when it cancels at the end of the current period.
    pub cancel_at_period_end: bool,
    pub canceled_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl SubscriptionView {
    pub fn from_engine(subscription: &Subscription) -> SubscriptionView {
        SubscriptionView {
            id: subscription.id.clone(),
            object: "subscription".to_owned(),
            mode: subscription.scope.mode.code().to_owned(),
            customer_id: subscription.customer_id.clone(),
            price_id: subscription.price_id.clone(),
            status: subscription.status.code().to_owned(),
            billing_anchor_ms: subscription.billing_anchor_ms,
            trial_end_ms: subscription.trial_end_ms,
            current_period_start_ms: subscription.current_period_start_ms,
            current_period_end_ms: subscription.current_period_end_ms,
            cancel_at_period_end: subscription.cancel_at_period_end,
            canceled_at_ms: subscription.canceled_at_ms,
            ended_at_ms: subscription.ended_at_ms,
            metadata: subscription.metadata.clone(),
            created_at_ms: subscription.created_at_ms,
            updated_at_ms: subscription.updated_at_ms,
        }
    }
}

/// A merchant's test-mode clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TestClockView {
    pub object: String,
    /// The merchant's test-mode billing time before and after, ms since the epoch.
    pub previous_now_ms: i64,
    pub now_ms: i64,
    /// How far test-mode billing time runs ahead of real time.
    pub offset_ms: i64,
    /// What fell due up to the new time and was run, in time order.
    pub billing: BillingRunView,
}

/// One period invoice a billing run issued (or would issue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PeriodInvoiceView {
    pub subscription_id: String,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    /// The invoice, `inv_…` (absent from a preview).
    pub invoice_id: Option<String>,
    pub amount: crate::views::MoneyView,
}

/// What a billing run did (or, previewed, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BillingRunView {
    /// Periods closed: each exactly once, a trial's end included.
    pub periods_closed: u64,
    /// Period invoices issued (a period with nothing to bill issues none).
    pub invoices_issued: u64,
    /// Closes that failed and will be retried after a backoff (or were parked).
    pub failures: u64,
    /// The first invoices, at most one batch.
    pub invoices: Vec<PeriodInvoiceView>,
    /// True when more periods were due than one batch: a preview shows the first batch.
    pub more_due: bool,
}

/// One period's metered usage against its allowance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsagePeriodView {
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    /// Units reported in the period (repeats counted once).
    pub used_units: i64,
    /// Free units per period (all units are free during a trial).
    pub included_units: i64,
    pub allowance_left_units: i64,
    /// Overage units already invoiced.
    pub billed_units: i64,
    /// What those units cost: billed_units × unit_amount.
    pub billed: crate::views::MoneyView,
}

/// The overage one report bills, and where it is paid from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OverageView {
    pub units: i64,
    pub unit_amount: crate::views::MoneyView,
    pub amount: crate::views::MoneyView,
    /// prepaid_balance or open_invoice.
    pub paid_from: String,
    /// auto_charge_off or insufficient_prepaid_balance.
    pub open_reason: Option<String>,
    /// The prepaid balance before the report.
    pub prepaid_balance_before: crate::views::MoneyView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsageReportView {
    pub object: String,
    pub subscription_id: String,
    pub event_id: String,
    pub quantity: i64,
    /// false: this event_id was counted before; nothing more was counted or billed.
    pub counted: bool,
    pub period: UsagePeriodView,
    /// Present when this report crossed the allowance: the units beyond it.
    pub overage: Option<OverageView>,
    /// The invoice raised for the overage (get_invoice has all of it).
    pub overage_invoice: Option<OverageInvoiceView>,
}

/// An overage invoice in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OverageInvoiceView {
    /// `inv_…`.
    pub id: String,
    /// paid (from prepaid) or open.
    pub status: String,
    pub total: crate::views::MoneyView,
    pub amount_remaining: crate::views::MoneyView,
    pub due_date_ms: i64,
}

impl OverageInvoiceView {
    pub fn from_engine(invoice: &crate::engine::invoice::Invoice, now_ms: i64) -> OverageInvoiceView {
        OverageInvoiceView {
            id: invoice.id.clone(),
            status: invoice.status_at(now_ms).code().to_owned(),
            total: crate::views::MoneyView::new(invoice.currency, invoice.total_minor),
            amount_remaining: crate::views::MoneyView::new(invoice.currency, invoice.amount_remaining_minor()),
            due_date_ms: invoice.due_date_ms,
        }
    }
}

/// The next period invoice, as it stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NextInvoicePreviewView {
    /// When it is issued: the current period's end (null once canceled, or when the period bills
    /// nothing).
    pub issued_at_ms: Option<i64>,
    /// The recurring fee, plus usage not billed yet (overage is invoiced as reported).
    pub amount: crate::views::MoneyView,
    pub description: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsageSummaryView {
    pub object: String,
    pub subscription_id: String,
    pub status: String,
    /// The merchant's billing time now (the test clock in test mode).
    pub now_ms: i64,
    pub price_id: String,
    /// recurring or usage.
    pub model: String,
    pub current_period: UsagePeriodView,
    pub next_invoice: NextInvoicePreviewView,
}
