//! `report_usage`: count metered units of a subscription, and bill what passes its allowance.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::billing::{billing_now_ms, catch_up_subscription, load_price, usage_period_view};
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::error::EngineError;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::subscription::{self, SubscriptionStatus};
use crate::engine::usage::{self, AutoChargeDecision, LeaveOpenReason, UsageEvent};
use crate::limits;
use crate::ops::args::{KeyRule, StrictInteger, check_object_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::{StoreWrite, UsageEventRecord};
use crate::views::billing::{OverageInvoiceView, OverageView, UsageReportView};
use crate::views::{InvoiceView, MoneyView};

pub const ENTRY: Entry = Entry::write::<ReportUsage>();

pub struct ReportUsage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportUsageArgs {
    /// The subscription, `sub_…`, on a usage price.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub subscription_id: String,
    pub quantity: UsageQuantity,
    /// Unique per report: a repeat is acknowledged and counted once.
    #[schemars(length(min = 1, max = limits::USAGE_EVENT_ID_MAX_CHARS))]
    pub event_id: String,
    /// false (default): preview, with the overage it would bill and from where. true: count.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: event_id already makes a report idempotent.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(ReportUsageArgs);

/// A report's `quantity`: whole units, with a schema of its own (not money's). Like
/// `StrictInteger` it takes any JSON value, so that a float or a string gets a message naming it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UsageQuantity(pub StrictInteger);

impl JsonSchema for UsageQuantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "UsageQuantity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": limits::USAGE_REPORT_QUANTITY_MAX_UNITS,
            "description": "Whole units used."
        })
    }
}

pub struct ReportUsageCommand {
    pub subscription_id: String,
    pub quantity: i64,
    pub event_id: String,
}

impl WriteOperation for ReportUsage {
    const SPEC: Spec = Spec {
        name: "report_usage",
        toolset: Toolset::Billing,
        title: "Report usage",
        description: "Count metered units of a usage-price subscription. Passing included_units raises an overage_invoice for the units beyond (later reports bill only new excess; resets each period), paid from prepaid with auto_charge, else open. A repeated event_id counts once. Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: true, open_world: false },
        examples: &[r#"{"subscription_id": "sub_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "quantity": 600, "event_id": "evt-2026-12-01-0001", "confirm": true}"#],
    };
    type Args = ReportUsageArgs;
    type Command = ReportUsageCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/overage_invoice/id"];

    fn command(args: &ReportUsageArgs) -> Result<ReportUsageCommand, Failure> {
        let quantity = args.quantity.0.amount_minor("quantity").ok().filter(|quantity| *quantity <= limits::USAGE_REPORT_QUANTITY_MAX_UNITS);
        let quantity = quantity.ok_or_else(|| {
            Failure::invalid(
                "quantity",
                format!("quantity must be a whole number of units from 1 to {}", limits::USAGE_REPORT_QUANTITY_MAX_UNITS),
            )
        })?;
        let length = args.event_id.chars().count();
        if length == 0 || length > limits::USAGE_EVENT_ID_MAX_CHARS || args.event_id.chars().any(char::is_control) {
            return Err(Failure::invalid(
                "event_id",
                format!("event_id must be 1 to {} printable characters", limits::USAGE_EVENT_ID_MAX_CHARS),
            ));
        }
        Ok(ReportUsageCommand {
            subscription_id: check_object_id(&args.subscription_id, "sub_", "subscription_id")?,
            quantity,
            event_id: args.event_id.clone(),
        })
    }

    fn describe(command: &ReportUsageCommand) -> String {
        format!("report {} units of usage on {}", command.quantity, command.subscription_id)
    }

    fn message(report: &UsageReportView, outcome: Outcome) -> String {
        let preview = outcome == Outcome::Preview;
        let counted = match (report.counted, preview) {
            (false, _) => format!("Event {} was already counted; nothing more was counted or billed.", limits::echo(&report.event_id)),
            (true, true) => format!("Would count {} units ({} used of {} included).", report.quantity, report.period.used_units, report.period.included_units),
            (true, false) => format!("Counted {} units ({} used of {} included).", report.quantity, report.period.used_units, report.period.included_units),
        };
        match &report.overage {
            None => counted,
            Some(overage) => {
                let verb = if preview { "Would bill" } else { "Billed" };
                let from = match overage.open_reason.as_deref() {
                    None => "from the customer's prepaid balance (the invoice paid)".to_owned(),
                    Some(reason) => format!("on an open invoice ({reason})"),
                };
                format!("{counted} {verb} {} overage units, {}, {from}.", overage.units, overage.amount.display)
            }
        }
    }
}

impl WriteCommand for ReportUsageCommand {
    type View = UsageReportView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<UsageReportView>, AppError> {
        let scope = &actor.scope;
        let current = catch_up_subscription(session, context, scope, &self.subscription_id)?;
        if current.status == SubscriptionStatus::Canceled {
            return Err(EngineError::InvalidState {
                object: "subscription",
                id: current.id.clone(),
                status: "canceled",
                action: "reporting usage",
            }
            .into());
        }
        let now_ms = billing_now_ms(session, scope, context.now_ms)?;
        let mut at_billing_time = WriteContext { rules: context.rules, ids: &mut *context.ids, now_ms };
        let context = &mut at_billing_time;
        let price = load_price(session, scope, &current.price_id)?;
        let terms = subscription::usage_terms(&current, &price)?;
        let event = match session.get_usage_event(&current.id, &self.event_id)? {
            Some(first) if first.quantity != self.quantity => {
                return Err(EngineError::EventIdReused { event_id: self.event_id.clone(), first_quantity: first.quantity }.into());
            }
            Some(_) => UsageEvent::Repeat,
            None => UsageEvent::New,
        };
        let period = match session.get_usage_period(&current.id, current.current_period_start_ms)? {
            Some(period) => period,
            None => current.empty_usage_period()?,
        };
        let report = usage::report_usage(&period, &terms, self.quantity, event, now_ms)?;
        if report.counted {
            session.insert_usage_event(&UsageEventRecord {
                subscription_id: current.id.clone(),
                event_id: self.event_id.clone(),
                quantity: self.quantity,
                period_start_ms: period.start_ms,
                created_at_ms: now_ms,
            })?;
            session.save_usage_period(&report.period, now_ms)?;
        }
        let (overage, overage_invoice) = match &report.overage {
            None => (None, None),
            Some(overage) => {
                let due_date_ms = now_ms.saturating_add(i64::from(limits::SUBSCRIPTION_INVOICE_DAYS_UNTIL_DUE) * 86_400_000);
                let raised = usage::raise_overage_invoice(scope, overage, current.customer_id.clone(), current.id.clone(), due_date_ms, context.ids, now_ms)?;
                crate::app::invoices::save_new_invoice(session, context, &raised)?;
                let balances = session.balances_with_customers_for_update(scope, &[terms.currency], &[current.customer_id.as_str()])?;
                let prepaid_before_minor = balances.customer_prepaid(&current.customer_id, terms.currency);
                let (invoice, open_reason) = match usage::decide_auto_charge(terms.auto_charge, overage.amount, prepaid_before_minor) {
                    AutoChargeDecision::DebitPrepaid { .. } => {
                        (crate::app::invoices::pay_invoice_from_prepaid(session, context, &raised)?, None)
                    }
                    AutoChargeDecision::LeaveOpen(reason) => {
                        let scheduled = subscription::schedule_collection_check(&current, raised.due_date_ms);
                        session.update_subscription(&scheduled)?;
                        if let LeaveOpenReason::InsufficientPrepaidBalance { .. } = reason {
                            let payload = serde_json::to_string(&InvoiceView::at(&raised, now_ms)).expect("views serialize");
                            emit_json(session, context, scope, "invoice.auto_charge_failed", &raised.id, payload)?;
                        }
                        (raised, Some(reason.code().to_owned()))
                    }
                };
                let view = OverageView {
                    units: overage.units,
                    unit_amount: MoneyView::new(terms.currency, overage.unit_amount_minor),
                    amount: MoneyView::new(terms.currency, overage.amount.amount_minor),
                    paid_from: if open_reason.is_none() { "prepaid_balance" } else { "open_invoice" }.to_owned(),
                    open_reason,
                    prepaid_balance_before: MoneyView::new(terms.currency, prepaid_before_minor),
                };
                (Some(view), Some(OverageInvoiceView::from_engine(&invoice, now_ms)))
            }
        };
        let view = UsageReportView {
            object: "usage_report".to_owned(),
            subscription_id: current.id.clone(),
            event_id: self.event_id.clone(),
            quantity: self.quantity,
            counted: report.counted,
            period: usage_period_view(&report.period, &terms),
            overage,
            overage_invoice,
        };
        let object_id = view.overage_invoice.as_ref().map_or(current.id.clone(), |invoice| invoice.id.clone());
        let applied = Applied::new(view, &object_id, vec![terms.currency]);
        if report.counted {
            emit_json(session, context, scope, "usage.reported", &current.id, applied.view_json.clone())?;
        }
        Ok(applied)
    }
}
