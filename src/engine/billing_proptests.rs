//! Property tests of invoices and metered usage: random usage sequences across periods bill
//! exactly `max(0, usage − allowance)` units per period at the overage rate, every invoice total
//! is the sum of its lines, payments add up, and no input, however large, panics: it is accepted
//! or refused with a typed error that changes nothing.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::engine::SequentialIds;
use crate::engine::error::EngineError;
use crate::engine::invoice::{self, Invoice, InvoiceStatus, NewInvoice, NewInvoiceLine, PaymentApplication};
use crate::engine::money::{Asset, AssetRef, Money};
use crate::engine::principal::{Mode, Scope};
use crate::engine::usage::{self, UsageEvent, UsagePeriod, UsageTerms};
use crate::limits::{
    AMOUNT_MAX_MINOR, INVOICE_LINE_QUANTITY_MAX_UNITS, INVOICE_MAX_LINE_ITEMS, USAGE_PERIOD_MAX_UNITS,
    USAGE_REPORT_QUANTITY_MAX_UNITS,
};

const PERIOD_MS: i64 = 1_000;

fn ngn() -> AssetRef {
    Asset::lookup("NGN").unwrap()
}

fn scope() -> Scope {
    Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
}

/// Mostly ordinary values, sometimes the edges and beyond.
fn quantity() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 1_i64..3_000,
        1 => 1_i64..=USAGE_REPORT_QUANTITY_MAX_UNITS,
        1 => prop_oneof![Just(0_i64), Just(-1), Just(i64::MIN), Just(i64::MAX), Just(USAGE_REPORT_QUANTITY_MAX_UNITS + 1)],
    ]
}

fn rate_minor() -> impl Strategy<Value = i64> {
    prop_oneof![8 => 1_i64..10_000, 1 => 1_i64..=AMOUNT_MAX_MINOR, 1 => Just(AMOUNT_MAX_MINOR)]
}

fn included_units() -> impl Strategy<Value = i64> {
    prop_oneof![2 => Just(0_i64), 6 => 0_i64..5_000, 1 => 0_i64..=USAGE_PERIOD_MAX_UNITS]
}

#[derive(Debug, Clone)]
enum UsageStep {
    Report {
        quantity: i64,
    },
    /// The store saw this event before: a repeat of one of the reports so far.
    Repeat,
    NextPeriod,
}

fn usage_step() -> impl Strategy<Value = UsageStep> {
    prop_oneof![
        8 => quantity().prop_map(|quantity| UsageStep::Report { quantity }),
        2 => Just(UsageStep::Repeat),
        1 => Just(UsageStep::NextPeriod),
    ]
}

/// What one period billed, by the engine's overages and by the model.
#[derive(Debug, Default)]
struct PeriodTally {
    counted_units: i128,
    billed_units: i128,
    billed_minor: i128,
}

fn check_period(tally: &PeriodTally, terms: &UsageTerms) -> Result<(), TestCaseError> {
    let expected_units = (tally.counted_units - i128::from(terms.included_units)).max(0);
    prop_assert_eq!(tally.billed_units, expected_units, "units billed = max(0, usage − allowance)");
    prop_assert_eq!(tally.billed_minor, expected_units * i128::from(terms.unit_amount_minor), "amount = units × rate");
    Ok(())
}

#[derive(Debug, Clone)]
enum InvoiceStep {
    Pay { amount_minor: i64 },
    Advance { ms: i64 },
    Expire,
    Void,
    Uncollectible,
}

fn invoice_step() -> impl Strategy<Value = InvoiceStep> {
    prop_oneof![
        8 => prop_oneof![1_i64..20_000, 1_i64..=AMOUNT_MAX_MINOR].prop_map(|amount_minor| InvoiceStep::Pay { amount_minor }),
        2 => (0_i64..2_000).prop_map(|ms| InvoiceStep::Advance { ms }),
        1 => Just(InvoiceStep::Expire),
        1 => Just(InvoiceStep::Void),
        1 => Just(InvoiceStep::Uncollectible),
    ]
}

fn line() -> impl Strategy<Value = NewInvoiceLine> {
    let quantity = prop_oneof![6 => 1_i64..1_000, 1 => 1_i64..=INVOICE_LINE_QUANTITY_MAX_UNITS, 1 => any::<i64>()];
    let unit_amount = prop_oneof![6 => 0_i64..100_000, 1 => 0_i64..=AMOUNT_MAX_MINOR, 1 => any::<i64>()];
    (quantity, unit_amount).prop_map(|(quantity, unit_amount_minor)| NewInvoiceLine {
        description: "Item".into(),
        quantity,
        unit_amount_minor,
        price_id: None,
    })
}

fn new_invoice(lines: Vec<NewInvoiceLine>, expires_in_ms: Option<i64>) -> NewInvoice {
    NewInvoice {
        customer_id: "cus_1".into(),
        currency: ngn(),
        lines,
        due_date_ms: 500,
        expires_in_ms,
        subscription_id: None,
        metadata: BTreeMap::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn usage_bills_exactly_the_excess_over_the_allowance_in_each_period(
        unit_amount_minor in rate_minor(),
        included_units in included_units(),
        steps in prop::collection::vec(usage_step(), 1..60),
    ) {
        let terms = UsageTerms::new("price_1".into(), ngn(), unit_amount_minor, included_units, false).unwrap();
        let mut ids = SequentialIds::default();
        let mut period = UsagePeriod::begin("sub_1".into(), 0, PERIOD_MS).unwrap();
        let mut tally = PeriodTally::default();
        let mut reports_so_far = 0_u32;
        for step in steps {
            match step {
                UsageStep::NextPeriod => {
                    check_period(&tally, &terms)?;
                    period = period.next(period.end_ms + PERIOD_MS).unwrap();
                    tally = PeriodTally::default();
                }
                UsageStep::Repeat => {
                    if reports_so_far == 0 { continue; }
                    let report = usage::report_usage(&period, &terms, 1, UsageEvent::Repeat, period.start_ms).unwrap();
                    prop_assert!(!report.counted && report.overage.is_none());
                    prop_assert_eq!(&report.period, &period, "a repeat changes nothing");
                }
                UsageStep::Report { quantity } => {
                    match usage::report_usage(&period, &terms, quantity, UsageEvent::New, period.start_ms) {
                        Err(error) => {
                            prop_assert!(
                                matches!(error.code(), "invalid_request" | "amount_too_large"),
                                "unexpected refusal {}", error
                            );
                            prop_assert!(
                                !(1..=USAGE_REPORT_QUANTITY_MAX_UNITS).contains(&quantity)
                                    || i128::from(period.used_units) + i128::from(quantity) > i128::from(USAGE_PERIOD_MAX_UNITS)
                                    || error.code() == "amount_too_large",
                                "a report within every limit was refused: {}", error
                            );
                        }
                        Ok(report) => {
                            reports_so_far += 1;
                            prop_assert!(report.counted);
                            tally.counted_units += i128::from(quantity);
                            prop_assert_eq!(i128::from(report.period.used_units), tally.counted_units);
                            prop_assert_eq!(report.period.billed_units, report.period.billable_units(&terms));
                            if let Some(overage) = &report.overage {
                                prop_assert!(overage.units > 0);
                                prop_assert_eq!(
                                    i128::from(overage.amount.amount_minor),
                                    i128::from(overage.units) * i128::from(terms.unit_amount_minor)
                                );
                                let invoice = usage::raise_overage_invoice(
                                    &scope(), overage, "cus_1".into(), "sub_1".into(), period.start_ms, &mut ids, period.start_ms,
                                ).unwrap();
                                prop_assert_eq!(invoice.status, InvoiceStatus::Open);
                                prop_assert_eq!(invoice.total_minor, overage.amount.amount_minor);
                                tally.billed_units += i128::from(overage.units);
                                tally.billed_minor += i128::from(invoice.total_minor);
                            }
                            period = report.period;
                        }
                    }
                }
            }
        }
        check_period(&tally, &terms)?;
    }

    #[test]
    fn every_invoice_total_is_the_sum_of_its_lines_or_a_typed_refusal(
        lines in prop::collection::vec(line(), 0..8),
    ) {
        let valid_lines = lines.iter().all(|line| {
            (1..=INVOICE_LINE_QUANTITY_MAX_UNITS).contains(&line.quantity) && (0..=AMOUNT_MAX_MINOR).contains(&line.unit_amount_minor)
        });
        let amounts: Vec<i128> = lines.iter().map(|line| i128::from(line.quantity) * i128::from(line.unit_amount_minor)).collect();
        let within_limits = amounts.iter().all(|amount| *amount <= i128::from(AMOUNT_MAX_MINOR))
            && amounts.iter().sum::<i128>() <= i128::from(AMOUNT_MAX_MINOR);
        let acceptable = !lines.is_empty() && lines.len() <= INVOICE_MAX_LINE_ITEMS && valid_lines && within_limits;
        match invoice::create_invoice(&scope(), new_invoice(lines.clone(), None), &mut SequentialIds::default(), 0) {
            Ok(created) => {
                prop_assert!(acceptable);
                let line_amounts: Vec<i128> = created.lines.iter().map(|line| i128::from(line.amount_minor)).collect();
                prop_assert_eq!(&line_amounts, &amounts);
                prop_assert_eq!(i128::from(created.total_minor), amounts.iter().sum::<i128>());
                prop_assert_eq!(created.subtotal_minor, created.total_minor);
            }
            Err(error) => {
                prop_assert!(!acceptable, "acceptable lines refused: {}", error);
                prop_assert!(matches!(error.code(), "invalid_request" | "amount_too_large"), "{}", error);
            }
        }
    }

    #[test]
    fn payments_add_up_and_the_excess_is_what_was_paid_beyond_the_total(
        total_minor in prop_oneof![1_i64..20_000, 1_i64..=AMOUNT_MAX_MINOR],
        expires_in_ms in prop::option::of(60_000_i64..120_000),
        steps in prop::collection::vec(invoice_step(), 1..30),
    ) {
        let line = NewInvoiceLine { description: "Item".into(), quantity: 1, unit_amount_minor: total_minor, price_id: None };
        let draft = invoice::create_invoice(&scope(), new_invoice(vec![line], expires_in_ms), &mut SequentialIds::default(), 0).unwrap();
        let mut current: Invoice = invoice::finalize_invoice(&draft, 0).unwrap();
        let mut received_minor = 0_i128;
        let mut now_ms = 0_i64;
        for step in steps {
            let before = current.clone();
            let result: Result<Invoice, EngineError> = match step {
                InvoiceStep::Advance { ms } => { now_ms += ms * 100; continue; }
                InvoiceStep::Pay { amount_minor } => {
                    let remaining_before = before.amount_remaining_minor();
                    invoice::apply_payment(&before, Money::new(ngn(), amount_minor).unwrap(), now_ms).map(|(next, application)| {
                        received_minor += i128::from(amount_minor);
                        let expected = match amount_minor.cmp(&remaining_before) {
                            std::cmp::Ordering::Less => PaymentApplication::Partial { amount_remaining_minor: remaining_before - amount_minor },
                            std::cmp::Ordering::Equal => PaymentApplication::Paid,
                            std::cmp::Ordering::Greater => PaymentApplication::Overpaid { excess_minor: amount_minor - remaining_before },
                        };
                        assert_eq!(application, expected);
                        next
                    })
                }
                InvoiceStep::Expire => invoice::expire_invoice(&before, now_ms),
                InvoiceStep::Void => invoice::void_invoice(&before, now_ms),
                InvoiceStep::Uncollectible => invoice::mark_uncollectible(&before, now_ms),
            };
            match result {
                Ok(next) => current = next,
                Err(error) => {
                    prop_assert!(matches!(error.code(), "invalid_state" | "invoice_not_payable"), "{}", error);
                    prop_assert_eq!(&current, &before, "a refusal changes nothing");
                }
            }
            prop_assert_eq!(i128::from(current.amount_paid_minor), received_minor);
            let paid = i128::from(current.amount_paid_minor);
            let total = i128::from(current.total_minor);
            prop_assert_eq!(i128::from(current.amount_overpaid_minor()), (paid - total).max(0));
            if current.status.accepts_payment() {
                prop_assert!(paid < total);
                prop_assert_eq!(paid + i128::from(current.amount_remaining_minor()), total);
            }
            if current.status == InvoiceStatus::Paid {
                prop_assert!(paid >= total);
                prop_assert_eq!(current.amount_remaining_minor(), 0);
            }
        }
    }
}
