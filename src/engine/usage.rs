//! Metered usage with a free allowance and overage, per subscription period.
//!
//! A usage price has an overage rate `unit_amount` (minor units per unit) and a free allowance
//! `included_units` per period. A period keeps two counters: `used_units` (everything reported in
//! it) and `billed_units` (overage units already put on an invoice). The rules:
//! - Billable units are `max(0, used − included)`. A report adds its quantity to `used` and bills
//!   `billable − billed` units at once, on one overage line (`units × unit_amount`), then sets
//!   `billed = billable`. So the report that crosses the allowance bills just the units beyond it,
//!   each later report just its own units, and the sum of a period's overage lines is always
//!   `max(0, used − included) × unit_amount`: never twice, never missed.
//! - A new period (`UsagePeriod::next`) starts both counters at zero: the allowance is per period.
//! - **What 0 means.** The seed says "usage up to [the allowance] is free, and unit_amount is the
//!   overage rate beyond it (0 = bill every unit)". A rate of 0 would bill nothing, so the 0 that
//!   bills every unit is the allowance's: `included_units: 0` means no free units, and every unit
//!   reported is billed at `unit_amount` from the first. `unit_amount` itself must be at least 1
//!   minor unit for a usage price; `UsageTerms::new` refuses 0 with a message saying so, so that
//!   nobody who meant "bill every unit" gets a price that silently bills nothing.
//! - Idempotency by `event_id` is the store's: it tells the engine whether the event is new
//!   (`UsageEvent::New`) or a repeat it already counted (`UsageEvent::Repeat`), which is
//!   acknowledged and changes nothing. (A repeat whose quantity differs is the store's conflict to
//!   report.)
//! - A report is refused whole, counting nothing, when its quantity is outside
//!   1..=`USAGE_REPORT_QUANTITY_MAX_UNITS`, when the period's usage would pass
//!   `USAGE_PERIOD_MAX_UNITS`, when its overage amount would pass `AMOUNT_MAX_MINOR`
//!   (`amount_too_large`: smaller reports go through, each billing its own part), or when `now` is
//!   outside the period (the caller rolls the period first).
//! - Auto-charge (`decide_auto_charge`): with `auto_charge` on and a prepaid balance that covers the
//!   whole amount due, the caller debits it and applies it to the overage invoice, which becomes
//!   `paid`. Otherwise the invoice stays `open` and the prepaid balance is untouched: the seed's
//!   fallback is an open invoice, never a partial debit.

use crate::engine::IdSource;
use crate::engine::error::EngineError;
use crate::engine::invoice::{self, Invoice, NewInvoice, NewInvoiceLine};
use crate::engine::money::{AssetRef, Money};
use crate::engine::principal::Scope;
use crate::limits::{AMOUNT_MAX_MINOR, USAGE_PERIOD_MAX_UNITS, USAGE_REPORT_QUANTITY_MAX_UNITS};

/// What a usage price charges, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTerms {
    pub price_id: String,
    pub currency: AssetRef,
    /// The overage rate: minor units per unit beyond the allowance, at least 1.
    pub unit_amount_minor: i64,
    /// Free units per period; 0 for none (every unit is billed).
    pub included_units: i64,
    /// Debit the customer's prepaid balance for an overage instead of only invoicing it.
    pub auto_charge: bool,
}

impl UsageTerms {
    /// The terms of a usage price, refused as a price would be: the rule `create_price` applies.
    pub fn new(
        price_id: String,
        currency: AssetRef,
        unit_amount_minor: i64,
        included_units: i64,
        auto_charge: bool,
    ) -> Result<UsageTerms, EngineError> {
        if !(1..=AMOUNT_MAX_MINOR).contains(&unit_amount_minor) {
            return Err(EngineError::invalid(
                "unit_amount",
                format!(
                    "for a usage price unit_amount is the overage rate per unit: an integer from 1 to {AMOUNT_MAX_MINOR} minor units, got {unit_amount_minor}; to bill every unit, set included_units to 0"
                ),
            ));
        }
        if !(0..=USAGE_PERIOD_MAX_UNITS).contains(&included_units) {
            return Err(EngineError::invalid(
                "included_units",
                format!(
                    "included_units is the free allowance per period: 0 (bill every unit) to {USAGE_PERIOD_MAX_UNITS}, got {included_units}"
                ),
            ));
        }
        Ok(UsageTerms { price_id, currency, unit_amount_minor, included_units, auto_charge })
    }
}

/// One subscription period's usage, `start_ms` inclusive to `end_ms` exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePeriod {
    pub subscription_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Every unit reported in the period.
    pub used_units: i64,
    /// Overage units already on an invoice: `max(0, used − included)` after every report.
    pub billed_units: i64,
}

impl UsagePeriod {
    /// A period with nothing used yet.
    pub fn begin(subscription_id: String, start_ms: i64, end_ms: i64) -> Result<UsagePeriod, EngineError> {
        if start_ms >= end_ms {
            return Err(EngineError::invalid(
                "period",
                format!("a period must end after it starts; got {start_ms} to {end_ms}"),
            ));
        }
        Ok(UsagePeriod { subscription_id, start_ms, end_ms, used_units: 0, billed_units: 0 })
    }

    /// The period after this one, starting where it ends, with its counters reset.
    pub fn next(&self, end_ms: i64) -> Result<UsagePeriod, EngineError> {
        UsagePeriod::begin(self.subscription_id.clone(), self.end_ms, end_ms)
    }

    pub fn contains(&self, now_ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&now_ms)
    }

    /// Units beyond the allowance so far: `max(0, used − included)`.
    pub fn billable_units(&self, terms: &UsageTerms) -> i64 {
        (self.used_units - terms.included_units).max(0)
    }

    /// Free units left in the period.
    pub fn allowance_left_units(&self, terms: &UsageTerms) -> i64 {
        (terms.included_units - self.used_units).max(0)
    }
}

/// Whether the store has seen the report's `event_id` before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageEvent {
    /// First time: count it.
    New,
    /// Already counted: acknowledge, change nothing, bill nothing.
    Repeat,
}

/// Units beyond the allowance that one report bills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overage {
    pub units: i64,
    pub unit_amount_minor: i64,
    /// `units × unit_amount_minor`.
    pub amount: Money,
    /// The overage invoice's line.
    pub line: NewInvoiceLine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    /// The period after the report (unchanged for a repeat).
    pub period: UsagePeriod,
    /// False for a repeat.
    pub counted: bool,
    /// Present when this report billed units beyond the allowance: an overage invoice is raised.
    pub overage: Option<Overage>,
}

/// Counts `quantity` units reported at `now_ms` and says what overage, if any, they bill. See the
/// module doc for the rules.
pub fn report_usage(
    period: &UsagePeriod,
    terms: &UsageTerms,
    quantity: i64,
    event: UsageEvent,
    now_ms: i64,
) -> Result<UsageReport, EngineError> {
    if event == UsageEvent::Repeat {
        return Ok(UsageReport { period: period.clone(), counted: false, overage: None });
    }
    if !(1..=USAGE_REPORT_QUANTITY_MAX_UNITS).contains(&quantity) {
        return Err(EngineError::invalid(
            "quantity",
            format!(
                "quantity must be a whole number of units from 1 to {USAGE_REPORT_QUANTITY_MAX_UNITS}, got {quantity}"
            ),
        ));
    }
    if !period.contains(now_ms) {
        let status = if now_ms < period.start_ms { "not_started" } else { "closed" };
        return Err(EngineError::InvalidState {
            object: "usage period of subscription",
            id: period.subscription_id.clone(),
            status,
            action: "reporting usage",
        });
    }
    let used_units = period
        .used_units
        .checked_add(quantity)
        .filter(|used_units| *used_units <= USAGE_PERIOD_MAX_UNITS)
        .ok_or_else(|| {
            EngineError::invalid(
                "quantity",
                format!(
                    "this period has {} units already; {quantity} more would pass the {USAGE_PERIOD_MAX_UNITS} a period can count",
                    period.used_units
                ),
            )
        })?;
    let mut next = period.clone();
    next.used_units = used_units;
    // `billed` only grows: even a period whose counters disagree with these terms (prices are
    // immutable once used, so it should not happen) never bills a unit twice.
    let billable_units = next.billable_units(terms);
    let new_units = (billable_units - period.billed_units).max(0);
    next.billed_units = billable_units.max(period.billed_units);
    let overage = if new_units == 0 { None } else { Some(overage_for(terms, new_units)?) };
    Ok(UsageReport { period: next, counted: true, overage })
}

fn overage_for(terms: &UsageTerms, units: i64) -> Result<Overage, EngineError> {
    let amount_minor = units
        .checked_mul(terms.unit_amount_minor)
        .filter(|amount_minor| *amount_minor <= AMOUNT_MAX_MINOR)
        .ok_or_else(|| invoice::too_large(terms.currency, "quantity", "overage amount (units × unit_amount)"))?;
    let amount = Money::new(terms.currency, amount_minor)?;
    let line = NewInvoiceLine {
        description: format!(
            "Usage beyond the {} included units: {units} units at {} each",
            terms.included_units,
            terms.currency.display(terms.unit_amount_minor)
        ),
        quantity: units,
        unit_amount_minor: terms.unit_amount_minor,
        price_id: Some(terms.price_id.clone()),
    };
    Ok(Overage { units, unit_amount_minor: terms.unit_amount_minor, amount, line })
}

/// The overage invoice of one report, finalized (open) and ready to be paid.
pub fn raise_overage_invoice(
    scope: &Scope,
    overage: &Overage,
    customer_id: String,
    subscription_id: String,
    due_date_ms: i64,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<Invoice, EngineError> {
    let request = NewInvoice {
        customer_id,
        currency: overage.amount.asset,
        lines: vec![overage.line.clone()],
        due_date_ms,
        expires_in_ms: None,
        subscription_id: Some(subscription_id),
        metadata: Default::default(),
    };
    let draft = invoice::create_invoice(scope, request, ids, now_ms)?;
    assert_eq!(draft.total_minor, overage.amount.amount_minor, "the invoice bills exactly the overage");
    invoice::finalize_invoice(&draft, now_ms)
}

/// Why an auto-charge leaves the invoice open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveOpenReason {
    /// The price does not auto-charge: the invoice is collected like any other.
    AutoChargeOff,
    /// The prepaid balance is short of the whole amount; it is left as it was.
    InsufficientPrepaidBalance { available_minor: i64, needed_minor: i64 },
}

impl LeaveOpenReason {
    pub fn code(self) -> &'static str {
        match self {
            LeaveOpenReason::AutoChargeOff => "auto_charge_off",
            LeaveOpenReason::InsufficientPrepaidBalance { .. } => "insufficient_prepaid_balance",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoChargeDecision {
    /// Move `amount_minor` out of the customer's prepaid balance (which keeps
    /// `prepaid_after_minor`) and apply it to the invoice, which becomes paid.
    DebitPrepaid { amount_minor: i64, prepaid_after_minor: i64 },
    /// Leave the invoice open and the prepaid balance untouched.
    LeaveOpen(LeaveOpenReason),
}

/// Whether to pay `amount_due` out of a prepaid balance of `prepaid_available_minor` in the same
/// currency: all of it, or none of it.
pub fn decide_auto_charge(auto_charge: bool, amount_due: Money, prepaid_available_minor: i64) -> AutoChargeDecision {
    if !auto_charge {
        return AutoChargeDecision::LeaveOpen(LeaveOpenReason::AutoChargeOff);
    }
    match prepaid_available_minor.checked_sub(amount_due.amount_minor) {
        Some(prepaid_after_minor) if prepaid_after_minor >= 0 => {
            AutoChargeDecision::DebitPrepaid { amount_minor: amount_due.amount_minor, prepaid_after_minor }
        }
        _ => AutoChargeDecision::LeaveOpen(LeaveOpenReason::InsufficientPrepaidBalance {
            available_minor: prepaid_available_minor,
            needed_minor: amount_due.amount_minor,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SequentialIds;
    use crate::engine::invoice::{InvoiceStatus, PaymentApplication, apply_payment};
    use crate::engine::money::Asset;
    use crate::engine::principal::Mode;

    const MONTH_MS: i64 = 30 * 24 * 60 * 60 * 1000;

    fn ngn() -> AssetRef {
        Asset::lookup("NGN").unwrap()
    }

    /// The seed's price: ₦1.00 per unit beyond 1,000 free units a period.
    fn seed_terms(auto_charge: bool) -> UsageTerms {
        UsageTerms::new("price_1".into(), ngn(), 100, 1_000, auto_charge).unwrap()
    }

    fn first_period() -> UsagePeriod {
        UsagePeriod::begin("sub_1".into(), 0, MONTH_MS).unwrap()
    }

    /// Reports each quantity in turn as a new event and returns the overage units of each.
    fn check_billed_units(terms: &UsageTerms, quantities: &[i64], expected_units: &[Option<i64>]) -> UsagePeriod {
        let mut period = first_period();
        let mut billed = Vec::new();
        for quantity in quantities {
            let report = report_usage(&period, terms, *quantity, UsageEvent::New, 1).unwrap();
            billed.push(report.overage.map(|overage| overage.units));
            period = report.period;
        }
        assert_eq!(billed, expected_units);
        period
    }

    #[test]
    fn the_seed_allowance_example_bills_200_then_300_units() {
        let terms = seed_terms(false);
        let mut period = first_period();
        let first = report_usage(&period, &terms, 600, UsageEvent::New, 1).unwrap();
        assert_eq!(first.overage, None, "600 of 1,000 free units");
        assert_eq!(first.period.allowance_left_units(&terms), 400);
        period = first.period;
        let second = report_usage(&period, &terms, 600, UsageEvent::New, 2).unwrap();
        let overage = second.overage.clone().unwrap();
        assert_eq!((overage.units, overage.amount.amount_minor), (200, 20_000), "₦200.00 for 200 units");
        assert_eq!(overage.line.quantity, 200);
        assert_eq!(overage.line.unit_amount_minor, 100);
        assert_eq!(overage.line.price_id.as_deref(), Some("price_1"));
        assert_eq!(overage.line.description, "Usage beyond the 1000 included units: 200 units at ₦1.00 each");
        period = second.period;
        // The second report again, by its event id: acknowledged, counted once, billed once.
        let repeat = report_usage(&period, &terms, 600, UsageEvent::Repeat, 3).unwrap();
        assert_eq!((repeat.counted, repeat.overage.clone(), &repeat.period), (false, None, &period));
        let third = report_usage(&period, &terms, 300, UsageEvent::New, 4).unwrap();
        let overage = third.overage.unwrap();
        assert_eq!((overage.units, overage.amount.amount_minor), (300, 30_000));
        assert_eq!((third.period.used_units, third.period.billed_units), (1_500, 500));
    }

    #[test]
    fn crossing_exactly_at_the_allowance_bills_nothing_until_the_next_unit() {
        check_billed_units(&seed_terms(false), &[1_000, 1, 1], &[None, Some(1), Some(1)]);
        check_billed_units(&seed_terms(false), &[999, 2], &[None, Some(1)]);
        check_billed_units(&seed_terms(false), &[5_000], &[Some(4_000)]);
    }

    #[test]
    fn no_allowance_bills_every_unit_and_a_zero_rate_is_refused() {
        let every_unit = UsageTerms::new("price_1".into(), ngn(), 100, 0, false).unwrap();
        check_billed_units(&every_unit, &[1, 7], &[Some(1), Some(7)]);
        let error = UsageTerms::new("price_1".into(), ngn(), 0, 1_000, false).unwrap_err();
        assert_eq!(error.param(), Some("unit_amount"));
        assert!(error.to_string().contains("set included_units to 0"), "{error}");
        for (unit_amount_minor, included_units, param) in [
            (-1, 0, "unit_amount"),
            (AMOUNT_MAX_MINOR + 1, 0, "unit_amount"),
            (1, -1, "included_units"),
            (1, USAGE_PERIOD_MAX_UNITS + 1, "included_units"),
        ] {
            let error = UsageTerms::new("price_1".into(), ngn(), unit_amount_minor, included_units, false).unwrap_err();
            assert_eq!(error.param(), Some(param), "{error}");
        }
    }

    #[test]
    fn a_new_period_resets_the_allowance() {
        let terms = seed_terms(false);
        let used = check_billed_units(&terms, &[1_200], &[Some(200)]);
        let next = used.next(2 * MONTH_MS).unwrap();
        assert_eq!((next.start_ms, next.end_ms, next.used_units, next.billed_units), (MONTH_MS, 2 * MONTH_MS, 0, 0));
        let report = report_usage(&next, &terms, 1_200, UsageEvent::New, MONTH_MS).unwrap();
        assert_eq!(report.overage.unwrap().units, 200);
        // A report outside the period is refused: the caller rolls the period first.
        let error = report_usage(&used, &terms, 1, UsageEvent::New, MONTH_MS).unwrap_err();
        assert!(matches!(error, EngineError::InvalidState { status: "closed", .. }), "{error}");
        let error = report_usage(&next, &terms, 1, UsageEvent::New, MONTH_MS - 1).unwrap_err();
        assert!(matches!(error, EngineError::InvalidState { status: "not_started", .. }), "{error}");
        assert_eq!(used.next(MONTH_MS).unwrap_err().param(), Some("period"));
    }

    #[test]
    fn oversized_reports_are_refused_whole() {
        let terms = seed_terms(false);
        let period = first_period();
        for quantity in [0, -1, i64::MIN, USAGE_REPORT_QUANTITY_MAX_UNITS + 1, i64::MAX] {
            let error = report_usage(&period, &terms, quantity, UsageEvent::New, 1).unwrap_err();
            assert_eq!(error.param(), Some("quantity"), "{error}");
        }
        // A period near its cap refuses what would pass it.
        let full = UsagePeriod { used_units: USAGE_PERIOD_MAX_UNITS - 1, billed_units: 0, ..period.clone() };
        let error = report_usage(&full, &terms, 2, UsageEvent::New, 1).unwrap_err();
        assert_eq!((error.code(), error.param()), ("invalid_request", Some("quantity")));
        // An overage amount beyond the largest amount: refused, and smaller reports go through.
        let dear = UsageTerms::new("price_1".into(), ngn(), AMOUNT_MAX_MINOR, 0, false).unwrap();
        let error = report_usage(&period, &dear, 2, UsageEvent::New, 1).unwrap_err();
        assert_eq!((error.code(), error.param()), ("amount_too_large", Some("quantity")));
        let one = report_usage(&period, &dear, 1, UsageEvent::New, 1).unwrap();
        assert_eq!(one.overage.unwrap().amount.amount_minor, AMOUNT_MAX_MINOR);
    }

    #[test]
    fn auto_charge_debits_the_whole_amount_or_nothing() {
        let due = Money::new(ngn(), 20_000).unwrap();
        assert_eq!(
            decide_auto_charge(true, due, 50_000),
            AutoChargeDecision::DebitPrepaid { amount_minor: 20_000, prepaid_after_minor: 30_000 }
        );
        assert_eq!(
            decide_auto_charge(true, due, 20_000),
            AutoChargeDecision::DebitPrepaid { amount_minor: 20_000, prepaid_after_minor: 0 }
        );
        let short = decide_auto_charge(true, due, 19_999);
        assert_eq!(
            short,
            AutoChargeDecision::LeaveOpen(LeaveOpenReason::InsufficientPrepaidBalance {
                available_minor: 19_999,
                needed_minor: 20_000
            })
        );
        assert!(
            matches!(short, AutoChargeDecision::LeaveOpen(reason) if reason.code() == "insufficient_prepaid_balance")
        );
        assert_eq!(
            decide_auto_charge(false, due, 1_000_000),
            AutoChargeDecision::LeaveOpen(LeaveOpenReason::AutoChargeOff)
        );
        assert!(matches!(decide_auto_charge(true, due, i64::MIN), AutoChargeDecision::LeaveOpen(_)));
        assert!(matches!(decide_auto_charge(true, due, -1), AutoChargeDecision::LeaveOpen(_)));
    }

    #[test]
    fn an_auto_charged_overage_invoice_is_paid_from_prepaid() {
        let terms = seed_terms(true);
        let report = report_usage(&first_period(), &terms, 1_200, UsageEvent::New, 1).unwrap();
        let overage = report.overage.unwrap();
        let scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
        let mut ids = SequentialIds::default();
        let invoice = raise_overage_invoice(&scope, &overage, "cus_1".into(), "sub_1".into(), 1, &mut ids, 1).unwrap();
        assert_eq!((invoice.status, invoice.total_minor), (InvoiceStatus::Open, 20_000));
        assert_eq!(invoice.subscription_id.as_deref(), Some("sub_1"));
        let AutoChargeDecision::DebitPrepaid { amount_minor, .. } =
            decide_auto_charge(terms.auto_charge, overage.amount, 100_000)
        else {
            panic!("a prepaid balance of ₦1,000.00 covers ₦200.00");
        };
        let (paid, application) = apply_payment(&invoice, Money::new(ngn(), amount_minor).unwrap(), 1).unwrap();
        assert_eq!((paid.status, application), (InvoiceStatus::Paid, PaymentApplication::Paid));
    }
}
