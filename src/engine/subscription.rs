//! Subscriptions: a customer billed on a price, period after period.
//!
//! ```text
//! from       event                                    to
//! (new)      create, price has a trial                trialing   (period = the trial)
//! (new)      create, no trial                         active     (period 0 from the start)
//! trialing   trial ends (period close, bills nothing) active     (period 0 from the trial's end)
//! active     period close                             active     (next period; invoice issued)
//! past_due   period close                             past_due   (next period; invoice issued)
//! active     an open invoice is past its due date     past_due
//! past_due   no open invoice is past its due date     active
//! any        cancel now                               canceled   (nothing more is billed)
//! any        period close with cancel_at_period_end   canceled   (that period is invoiced first)
//! canceled: final
//! ```
//!
//! The rules:
//! - Periods are anchored on the billing anchor, computed from it each time (`engine::interval`):
//!   the start, or the trial's end when the price has a trial. Period `n` is `[anchor + n
//!   intervals, anchor + n + 1 intervals)`.
//! - A period is closed once, when the billing time reaches its end (`close_period`): the period
//!   invoice bills the recurring fee (recurring prices, in arrears) plus any usage of the period
//!   not billed yet (usage prices bill overage as it is reported, so normally none). A trial bills
//!   nothing, its usage included. An invoice with no line is not issued; the close is still
//!   recorded, so the caller's unique key (subscription, period start) guards every close.
//! - Cancel at period end (the default, as HandyPay's) keeps the subscription running to the end
//!   of its period, which is invoiced as usual, then cancels it. Cancel now ends it at once and
//!   bills nothing more (no proration: harepay does not prorate).
//! - Time is the caller's: the merchant's billing time (`engine::test_clock`).

use std::collections::BTreeMap;

use crate::engine::catalog::{Price, PriceModel};
use crate::engine::customer::Customer;
use crate::engine::error::EngineError;
use crate::engine::interval::Period;
use crate::engine::invoice::NewInvoiceLine;
use crate::engine::principal::Scope;
use crate::engine::usage::{UsagePeriod, UsageTerms};
use crate::limits::{SUBSCRIPTION_INVOICE_DAYS_UNTIL_DUE, USAGE_PERIOD_MAX_UNITS};

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubscriptionStatus {
    Trialing,
    Active,
    PastDue,
    Canceled,
}

impl SubscriptionStatus {
    pub const ALL: [SubscriptionStatus; 4] = [
        SubscriptionStatus::Trialing,
        SubscriptionStatus::Active,
        SubscriptionStatus::PastDue,
        SubscriptionStatus::Canceled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Canceled => "canceled",
        }
    }

    pub fn parse(code: &str) -> Option<SubscriptionStatus> {
        SubscriptionStatus::ALL.into_iter().find(|status| status.code() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub scope: Scope,
    pub customer_id: String,
    pub price_id: String,
    pub status: SubscriptionStatus,
    /// Where billed periods are counted from: the start, or the trial's end.
    pub billing_anchor_ms: i64,
    /// When the trial ends (ended); `None` without a trial.
    pub trial_end_ms: Option<i64>,
    /// The billed period now running (`None` during the trial, whose period is the trial).
    pub current_period_index: Option<u64>,
    pub current_period_start_ms: i64,
    pub current_period_end_ms: i64,
    pub cancel_at_period_end: bool,
    /// When to look again whether an open invoice is past its due date (just after the earliest
    /// due date of an invoice issued unpaid), if before the period's end.
    pub collection_check_at_ms: Option<i64>,
    /// When a cancel was asked for.
    pub canceled_at_ms: Option<i64>,
    /// When it stopped: at once for a cancel now, at the period's end otherwise.
    pub ended_at_ms: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Subscription {
    /// When the billing run must look at it next: the collection check or the period's end,
    /// whichever is first; `None` once canceled.
    pub fn due_at_ms(&self) -> Option<i64> {
        let period_end_ms = self.current_period_end_ms;
        (self.status != SubscriptionStatus::Canceled)
            .then_some(self.collection_check_at_ms.map_or(period_end_ms, |check_ms| check_ms.min(period_end_ms)))
    }

    /// Whether the current period has ended at `now_ms` (else a due step is a collection check).
    pub fn period_ended_at(&self, now_ms: i64) -> bool {
        self.status != SubscriptionStatus::Canceled && self.current_period_end_ms <= now_ms
    }

    pub fn is_trialing(&self) -> bool {
        self.status == SubscriptionStatus::Trialing
    }

    /// The current period's usage counters, as a fresh period (the store's counters, when it has
    /// some, replace it).
    pub fn empty_usage_period(&self) -> Result<UsagePeriod, EngineError> {
        UsagePeriod::begin(self.id.clone(), self.current_period_start_ms, self.current_period_end_ms)
    }

    fn refuse(&self, action: &'static str) -> EngineError {
        EngineError::InvalidState { object: "subscription", id: self.id.clone(), status: self.status.code(), action }
    }
}

/// What a usage report is billed under: the price's terms, or during a trial, terms under which
/// every unit is free (a trial bills nothing, and its usage is counted all the same).
pub fn usage_terms(subscription: &Subscription, price: &Price) -> Result<UsageTerms, EngineError> {
    if price.model != PriceModel::Usage {
        return Err(EngineError::InvalidState {
            object: "subscription",
            id: subscription.id.clone(),
            status: "on_a_recurring_price",
            action: "reporting usage (only a usage price meters usage)",
        });
    }
    let included_units = if subscription.is_trialing() { USAGE_PERIOD_MAX_UNITS } else { price.included_units };
    UsageTerms::new(price.id.clone(), price.currency, price.unit_amount_minor, included_units, price.auto_charge)
}

/// A validated request to create a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub metadata: BTreeMap<String, String>,
}

/// Starts `customer` on `price` at `now_ms`: trialing when the price has a trial, else active in
/// period 0. Both must be in `scope`, the customer active and the price active.
pub fn create_subscription(
    scope: &Scope,
    customer: &Customer,
    price: &Price,
    request: NewSubscription,
    id: String,
    now_ms: i64,
) -> Result<Subscription, EngineError> {
    assert!(customer.scope == *scope && price.scope == *scope, "the caller loads both in the caller's scope");
    customer.ensure_active("create_subscription")?;
    if !price.active {
        return Err(EngineError::InvalidState {
            object: "price",
            id: price.id.clone(),
            status: "inactive",
            action: "create_subscription",
        });
    }
    if price.model == PriceModel::Usage {
        // The rule a usage report applies, checked once here so that no report is refused for it.
        UsageTerms::new(price.id.clone(), price.currency, price.unit_amount_minor, price.included_units, false)?;
    }
    let trial_end_ms = match price.trial_period_days {
        0 => None,
        days => Some(
            now_ms
                .checked_add(i64::from(days) * DAY_MS)
                .ok_or(EngineError::PeriodOutOfRange { anchor_ms: now_ms, period: 0 })?,
        ),
    };
    let (status, billing_anchor_ms, period) = match trial_end_ms {
        Some(trial_end_ms) => {
            (SubscriptionStatus::Trialing, trial_end_ms, Period { index: 0, start_ms: now_ms, end_ms: trial_end_ms })
        }
        None => (SubscriptionStatus::Active, now_ms, price.interval.period(now_ms, 0)?),
    };
    // The first billed period must be computable too, so that the trial's close cannot fail.
    price.interval.period(billing_anchor_ms, 0)?;
    Ok(Subscription {
        id,
        scope: scope.clone(),
        customer_id: customer.id.clone(),
        price_id: price.id.clone(),
        status,
        billing_anchor_ms,
        trial_end_ms,
        current_period_index: trial_end_ms.is_none().then_some(0),
        current_period_start_ms: period.start_ms,
        current_period_end_ms: period.end_ms,
        cancel_at_period_end: false,
        collection_check_at_ms: None,
        canceled_at_ms: None,
        ended_at_ms: None,
        metadata: request.metadata,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    })
}

/// How a subscription is canceled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMode {
    /// Keep it to the end of the current period (invoiced as usual), then cancel: the default.
    AtPeriodEnd,
    /// End it now; nothing more is billed.
    Now,
}

pub fn cancel_subscription(
    subscription: &Subscription,
    mode: CancelMode,
    now_ms: i64,
) -> Result<Subscription, EngineError> {
    if subscription.status == SubscriptionStatus::Canceled {
        return Err(subscription.refuse("cancel_subscription"));
    }
    let mut next = subscription.clone();
    next.canceled_at_ms = Some(now_ms);
    next.updated_at_ms = now_ms;
    match mode {
        CancelMode::AtPeriodEnd => {
            if subscription.cancel_at_period_end {
                return Err(EngineError::InvalidState {
                    object: "subscription",
                    id: subscription.id.clone(),
                    status: "canceling_at_period_end",
                    action: "cancel_subscription at period end again (cancel now, with at_period_end: false, ends it at once)",
                });
            }
            next.cancel_at_period_end = true;
        }
        CancelMode::Now => {
            next.status = SubscriptionStatus::Canceled;
            next.ended_at_ms = Some(now_ms);
        }
    }
    Ok(next)
}

/// A closed period: what to invoice for it and the subscription after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodClose {
    /// The period closed.
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    /// Whether it was the trial (which bills nothing).
    pub was_trial: bool,
    /// The period invoice's lines; empty when there is nothing to bill (no invoice is issued).
    pub lines: Vec<NewInvoiceLine>,
    /// Usage units of the period billed now, at close (those not billed as they were reported).
    pub usage_units_billed_at_close: i64,
    /// When the period invoice is due: `SUBSCRIPTION_INVOICE_DAYS_UNTIL_DUE` after the close.
    pub due_date_ms: i64,
    pub next: Subscription,
}

/// Closes the current period at its end: see the module doc. `usage` is the period's counters
/// (`None` when nothing was reported). Refused for a canceled subscription and before the end.
pub fn close_period(
    subscription: &Subscription,
    price: &Price,
    usage: Option<&UsagePeriod>,
    now_ms: i64,
) -> Result<PeriodClose, EngineError> {
    if subscription.status == SubscriptionStatus::Canceled {
        return Err(subscription.refuse("closing a period"));
    }
    let end_ms = subscription.current_period_end_ms;
    if now_ms < end_ms {
        return Err(EngineError::InvalidState {
            object: "subscription period of",
            id: subscription.id.clone(),
            status: "running",
            action: "closing it before its end",
        });
    }
    let was_trial = subscription.is_trialing();
    let (lines, usage_units_billed_at_close) =
        if was_trial { (Vec::new(), 0) } else { period_lines(subscription, price, usage)? };
    let mut next = subscription.clone();
    next.updated_at_ms = now_ms;
    if subscription.cancel_at_period_end {
        next.status = SubscriptionStatus::Canceled;
        next.ended_at_ms = Some(end_ms);
    } else {
        let index = match subscription.current_period_index {
            None => 0,
            Some(index) => index
                .checked_add(1)
                .ok_or(EngineError::PeriodOutOfRange { anchor_ms: subscription.billing_anchor_ms, period: index })?,
        };
        let period = price.interval.period(subscription.billing_anchor_ms, index)?;
        next.current_period_index = Some(index);
        next.current_period_start_ms = period.start_ms;
        next.current_period_end_ms = period.end_ms;
        if was_trial {
            next.status = SubscriptionStatus::Active;
        }
    }
    Ok(PeriodClose {
        period_start_ms: subscription.current_period_start_ms,
        period_end_ms: end_ms,
        was_trial,
        lines,
        usage_units_billed_at_close,
        due_date_ms: end_ms.saturating_add(i64::from(SUBSCRIPTION_INVOICE_DAYS_UNTIL_DUE) * DAY_MS),
        next,
    })
}

fn period_lines(
    subscription: &Subscription,
    price: &Price,
    usage: Option<&UsagePeriod>,
) -> Result<(Vec<NewInvoiceLine>, i64), EngineError> {
    match price.model {
        PriceModel::Recurring if price.unit_amount_minor > 0 => {
            let line = NewInvoiceLine {
                description: format!(
                    "Subscription {} for the period {} to {}",
                    subscription.id, subscription.current_period_start_ms, subscription.current_period_end_ms
                ),
                quantity: 1,
                unit_amount_minor: price.unit_amount_minor,
                price_id: Some(price.id.clone()),
            };
            Ok((vec![line], 0))
        }
        PriceModel::Recurring => Ok((Vec::new(), 0)),
        PriceModel::Usage => {
            let terms = usage_terms(subscription, price)?;
            let Some(usage) = usage else { return Ok((Vec::new(), 0)) };
            let unbilled_units = (usage.billable_units(&terms) - usage.billed_units).max(0);
            if unbilled_units == 0 {
                return Ok((Vec::new(), 0));
            }
            let line = NewInvoiceLine {
                description: format!(
                    "Usage beyond the {} included units not billed yet: {unbilled_units} units",
                    terms.included_units
                ),
                quantity: unbilled_units,
                unit_amount_minor: terms.unit_amount_minor,
                price_id: Some(price.id.clone()),
            };
            Ok((vec![line], unbilled_units))
        }
    }
}

/// After an invoice of the subscription was issued unpaid, due at `due_date_ms`: the billing run
/// looks just after that due date whether it is still open (then the subscription is past due).
pub fn schedule_collection_check(subscription: &Subscription, due_date_ms: i64) -> Subscription {
    let mut next = subscription.clone();
    let check_ms = due_date_ms.saturating_add(1);
    next.collection_check_at_ms =
        Some(subscription.collection_check_at_ms.map_or(check_ms, |at_ms| at_ms.min(check_ms)));
    next
}

/// The collection check at `now_ms`: the status given whether an open invoice is past its due
/// date, and no check pending (the next invoice issued unpaid schedules one, and every period
/// close looks again).
pub fn check_collection(subscription: &Subscription, has_past_due_invoice: bool, now_ms: i64) -> Subscription {
    let mut next = subscription.clone();
    next.collection_check_at_ms = None;
    if let Some(status) = collection_status(subscription, has_past_due_invoice) {
        next.status = status;
        next.updated_at_ms = now_ms;
    }
    next
}

/// The status an active or past-due subscription takes given whether it has an open invoice past
/// its due date. Trialing and canceled subscriptions keep theirs. `None` when unchanged.
pub fn collection_status(subscription: &Subscription, has_past_due_invoice: bool) -> Option<SubscriptionStatus> {
    let wanted = match (subscription.status, has_past_due_invoice) {
        (SubscriptionStatus::Active, true) => SubscriptionStatus::PastDue,
        (SubscriptionStatus::PastDue, false) => SubscriptionStatus::Active,
        _ => return None,
    };
    Some(wanted)
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, TimeZone, Utc};

    use super::*;
    use crate::engine::catalog::{NewPrice, create_price};
    use crate::engine::customer::{NewCustomer, archive_customer, create_customer};
    use crate::engine::interval::Interval;
    use crate::engine::money::Asset;
    use crate::engine::principal::Mode;

    fn scope() -> Scope {
        Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
    }

    fn customer() -> Customer {
        let request =
            NewCustomer { email: "ada@example.com".into(), name: None, phone: None, metadata: BTreeMap::new() };
        create_customer(&scope(), request, "cus_1".into(), 0).unwrap()
    }

    fn price(model: PriceModel, unit_amount_minor: i64, included_units: i64, trial_period_days: u32) -> Price {
        let request = NewPrice {
            product_id: None,
            model,
            currency: Asset::lookup("NGN").unwrap(),
            unit_amount_minor,
            included_units,
            auto_charge: false,
            interval: Interval::from_alias("monthly").unwrap(),
            trial_period_days,
            active: true,
        };
        create_price(&scope(), request, None, "price_1".into(), 0).unwrap()
    }

    fn at(year: i32, month: u32, day: u32) -> i64 {
        Utc.with_ymd_and_hms(year, month, day, 9, 0, 0).unwrap().timestamp_millis()
    }

    fn new(price: &Price, now_ms: i64) -> Subscription {
        let request = NewSubscription { metadata: BTreeMap::new() };
        create_subscription(&scope(), &customer(), price, request, "sub_1".into(), now_ms).unwrap()
    }

    fn date(ms: i64) -> (i32, u32, u32) {
        let date = chrono::DateTime::from_timestamp_millis(ms).unwrap();
        (date.year(), date.month(), date.day())
    }

    #[test]
    fn a_year_of_monthly_periods_from_31_january_closes_twelve_times_on_month_ends() {
        let price = price(PriceModel::Recurring, 500_000, 0, 0);
        let mut subscription = new(&price, at(2027, 1, 31));
        let mut ends = Vec::new();
        for _ in 0..12 {
            let close = close_period(&subscription, &price, None, subscription.current_period_end_ms).unwrap();
            assert_eq!(close.lines.len(), 1);
            assert_eq!(close.lines[0].unit_amount_minor, 500_000);
            ends.push(date(close.period_end_ms));
            subscription = close.next;
        }
        assert_eq!(&ends[..3], &[(2027, 2, 28), (2027, 3, 31), (2027, 4, 30)]);
        assert_eq!(ends[11], (2028, 1, 31));
        assert_eq!(subscription.current_period_index, Some(12));
    }

    #[test]
    fn a_period_closes_only_at_its_end_and_never_once_canceled() {
        let price = price(PriceModel::Recurring, 100, 0, 0);
        let subscription = new(&price, at(2027, 3, 1));
        let end = subscription.current_period_end_ms;
        assert_eq!(close_period(&subscription, &price, None, end - 1).unwrap_err().code(), "invalid_state");
        let canceled = cancel_subscription(&subscription, CancelMode::Now, end - 1).unwrap();
        assert_eq!((canceled.status, canceled.due_at_ms()), (SubscriptionStatus::Canceled, None));
        assert_eq!(close_period(&canceled, &price, None, end).unwrap_err().code(), "invalid_state");
        assert_eq!(cancel_subscription(&canceled, CancelMode::Now, end).unwrap_err().code(), "invalid_state");
    }

    #[test]
    fn a_trial_bills_nothing_then_periods_anchor_on_its_end() {
        let price = price(PriceModel::Recurring, 100, 0, 14);
        let start = at(2027, 1, 20);
        let subscription = new(&price, start);
        assert_eq!(subscription.status, SubscriptionStatus::Trialing);
        assert_eq!(subscription.current_period_end_ms, start + 14 * DAY_MS);
        let close = close_period(&subscription, &price, None, subscription.current_period_end_ms).unwrap();
        assert!(close.was_trial && close.lines.is_empty());
        assert_eq!(close.next.status, SubscriptionStatus::Active);
        assert_eq!(date(close.next.current_period_start_ms), (2027, 2, 3));
        assert_eq!(date(close.next.current_period_end_ms), (2027, 3, 3));
        // Usage during a trial is free whatever the allowance.
        let usage_price = price_with_usage();
        let trialing = new(&usage_price, start);
        assert_eq!(usage_terms(&trialing, &usage_price).unwrap().included_units, USAGE_PERIOD_MAX_UNITS);
    }

    fn price_with_usage() -> Price {
        price(PriceModel::Usage, 100, 1_000, 7)
    }

    #[test]
    fn cancel_at_period_end_invoices_the_period_then_cancels() {
        let price = price(PriceModel::Recurring, 100, 0, 0);
        let subscription = new(&price, at(2027, 5, 1));
        let canceling = cancel_subscription(&subscription, CancelMode::AtPeriodEnd, at(2027, 5, 2)).unwrap();
        assert_eq!((canceling.status, canceling.cancel_at_period_end), (SubscriptionStatus::Active, true));
        assert_eq!(
            cancel_subscription(&canceling, CancelMode::AtPeriodEnd, at(2027, 5, 3)).unwrap_err().code(),
            "invalid_state"
        );
        let close = close_period(&canceling, &price, None, canceling.current_period_end_ms).unwrap();
        assert_eq!(close.lines.len(), 1);
        assert_eq!(close.next.status, SubscriptionStatus::Canceled);
        assert_eq!(close.next.ended_at_ms, Some(canceling.current_period_end_ms));
    }

    #[test]
    fn usage_not_billed_yet_is_billed_at_close_and_nothing_else() {
        let price = price(PriceModel::Usage, 100, 1_000, 0);
        let subscription = new(&price, at(2027, 6, 1));
        let mut usage = subscription.empty_usage_period().unwrap();
        usage.used_units = 1_500;
        usage.billed_units = 300;
        let close = close_period(&subscription, &price, Some(&usage), subscription.current_period_end_ms).unwrap();
        assert_eq!((close.lines.len(), close.usage_units_billed_at_close), (1, 200));
        usage.billed_units = 500;
        let close = close_period(&subscription, &price, Some(&usage), subscription.current_period_end_ms).unwrap();
        assert!(close.lines.is_empty());
        let close = close_period(&subscription, &price, None, subscription.current_period_end_ms).unwrap();
        assert!(close.lines.is_empty());
    }

    #[test]
    fn past_due_follows_open_invoices_past_their_due_date() {
        let price = price(PriceModel::Recurring, 100, 0, 0);
        let mut subscription = new(&price, at(2027, 7, 1));
        assert_eq!(collection_status(&subscription, true), Some(SubscriptionStatus::PastDue));
        assert_eq!(collection_status(&subscription, false), None);
        subscription.status = SubscriptionStatus::PastDue;
        assert_eq!(collection_status(&subscription, false), Some(SubscriptionStatus::Active));
        subscription.status = SubscriptionStatus::Trialing;
        assert_eq!(collection_status(&subscription, true), None);
    }

    #[test]
    fn an_archived_customer_or_inactive_price_starts_nothing() {
        let price = price(PriceModel::Recurring, 100, 0, 0);
        let archived = archive_customer(&customer(), 1).unwrap();
        let request = NewSubscription { metadata: BTreeMap::new() };
        let error = create_subscription(&scope(), &archived, &price, request.clone(), "sub_1".into(), 2).unwrap_err();
        assert_eq!(error.code(), "invalid_state");
        let mut inactive = price.clone();
        inactive.active = false;
        let error = create_subscription(&scope(), &customer(), &inactive, request, "sub_1".into(), 2).unwrap_err();
        assert_eq!(error.code(), "invalid_state");
        let free_usage = self::price(PriceModel::Usage, 0, 10, 0);
        let request = NewSubscription { metadata: BTreeMap::new() };
        let error = create_subscription(&scope(), &customer(), &free_usage, request, "sub_1".into(), 2).unwrap_err();
        assert_eq!(error.param(), Some("unit_amount"));
    }
}
