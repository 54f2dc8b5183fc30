//! Billing intervals and the periods they cut time into.
//!
//! A period is anchored on its subscription's start: the boundary after `n` intervals is the
//! anchor plus `n` intervals, computed from the anchor each time, never by adding one interval to
//! the previous boundary. So a monthly subscription started on 31 January renews on the last day
//! of February (28th or 29th) and then on 31 March, not on the 28th of every month after.
//! Months and years are calendar months (a day of the month past the end of a shorter month
//! becomes its last day, as `chrono`'s `checked_add_months` does); days and weeks are exact
//! multiples of 86,400,000 ms. Times are i64 milliseconds since the Unix epoch, UTC.
//!
//! Nothing here panics on a large anchor or period: a boundary outside the calendar `chrono`
//! computes, or outside i64 milliseconds, is `period_out_of_range`.

use chrono::{DateTime, Datelike, Months, Utc};

use crate::engine::error::EngineError;
use crate::limits;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntervalUnit {
    Day,
    Week,
    Month,
    Year,
}

impl IntervalUnit {
    pub const ALL: [IntervalUnit; 4] = [IntervalUnit::Day, IntervalUnit::Week, IntervalUnit::Month, IntervalUnit::Year];

    pub fn code(self) -> &'static str {
        match self {
            IntervalUnit::Day => "day",
            IntervalUnit::Week => "week",
            IntervalUnit::Month => "month",
            IntervalUnit::Year => "year",
        }
    }

    /// The unit named `code`, or `invalid_interval` naming `interval.unit`.
    pub fn parse(code: &str) -> Result<IntervalUnit, EngineError> {
        IntervalUnit::ALL.into_iter().find(|unit| unit.code() == code).ok_or_else(|| EngineError::InvalidInterval {
            param: "interval.unit",
            message: format!("interval.unit must be day, week, month or year, not {}", limits::echo(code)),
        })
    }

    /// The most of this unit one interval may span: three years in all.
    pub fn max_count(self) -> u32 {
        match self {
            IntervalUnit::Day => limits::PRICE_INTERVAL_MAX_DAYS,
            IntervalUnit::Week => limits::PRICE_INTERVAL_MAX_WEEKS,
            IntervalUnit::Month => limits::PRICE_INTERVAL_MAX_MONTHS,
            IntervalUnit::Year => limits::PRICE_INTERVAL_MAX_YEARS,
        }
    }
}

/// HandyPay's named intervals, accepted in place of `{unit, count}`.
pub const INTERVAL_ALIASES: [(&str, IntervalUnit, u32); 7] = [
    ("weekly", IntervalUnit::Week, 1),
    ("bi-weekly", IntervalUnit::Week, 2),
    ("monthly", IntervalUnit::Month, 1),
    ("bi-monthly", IntervalUnit::Month, 2),
    ("quarterly", IntervalUnit::Month, 3),
    ("semi-annual", IntervalUnit::Month, 6),
    ("annual", IntervalUnit::Year, 1),
];

/// `count` units: how long one billing period is. Made only through `new` or `from_alias`, so a
/// count is always from 1 to its unit's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    unit: IntervalUnit,
    count: u32,
}

/// One billing period: `[start_ms, end_ms)`, the `index`-th after the anchor (the first is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub index: u64,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Interval {
    /// `count` of `unit`, or `invalid_interval` naming `interval.count` when the count is below 1
    /// or above the unit's maximum.
    pub fn new(unit: IntervalUnit, count: i64) -> Result<Interval, EngineError> {
        let max_count = unit.max_count();
        match u32::try_from(count) {
            Ok(count) if (1..=max_count).contains(&count) => Ok(Interval { unit, count }),
            _ => Err(EngineError::InvalidInterval {
                param: "interval.count",
                message: format!(
                    "interval.count must be an integer from 1 to {max_count} for unit {} (at most three years), got {count}",
                    unit.code()
                ),
            }),
        }
    }

    /// A named interval (`monthly`, `bi-weekly`, …), or `invalid_interval` naming `interval`.
    pub fn from_alias(name: &str) -> Result<Interval, EngineError> {
        INTERVAL_ALIASES.iter().find(|(alias, _, _)| *alias == name).map_or_else(
            || {
                let names: Vec<&str> = INTERVAL_ALIASES.iter().map(|(alias, _, _)| *alias).collect();
                Err(EngineError::InvalidInterval {
                    param: "interval",
                    message: format!(
                        "interval {} is not supported; use one of {} or {{\"unit\": \"day|week|month|year\", \"count\": n}}",
                        limits::echo(name),
                        names.join(", ")
                    ),
                })
            },
            |(_, unit, count)| Ok(Interval { unit: *unit, count: *count }),
        )
    }

    pub fn unit(self) -> IntervalUnit {
        self.unit
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// The HandyPay name of this interval, when it has one.
    pub fn alias(self) -> Option<&'static str> {
        INTERVAL_ALIASES
            .iter()
            .find(|(_, unit, count)| *unit == self.unit && *count == self.count)
            .map(|(alias, _, _)| *alias)
    }

    /// The instant `intervals` whole intervals after `anchor_ms`, computed from the anchor.
    pub fn boundary_ms(self, anchor_ms: i64, intervals: u64) -> Result<i64, EngineError> {
        let out_of_range = || EngineError::PeriodOutOfRange { anchor_ms, period: intervals };
        let units = intervals.checked_mul(u64::from(self.count)).ok_or_else(out_of_range)?;
        match self.unit {
            IntervalUnit::Day => add_days(anchor_ms, units).ok_or_else(out_of_range),
            IntervalUnit::Week => {
                add_days(anchor_ms, units.checked_mul(7).ok_or_else(out_of_range)?).ok_or_else(out_of_range)
            }
            IntervalUnit::Month => add_months(anchor_ms, units).ok_or_else(out_of_range),
            IntervalUnit::Year => {
                add_months(anchor_ms, units.checked_mul(12).ok_or_else(out_of_range)?).ok_or_else(out_of_range)
            }
        }
    }

    /// The `index`-th period after `anchor_ms` (the first is 0).
    pub fn period(self, anchor_ms: i64, index: u64) -> Result<Period, EngineError> {
        let next = index.checked_add(1).ok_or(EngineError::PeriodOutOfRange { anchor_ms, period: index })?;
        Ok(Period { index, start_ms: self.boundary_ms(anchor_ms, index)?, end_ms: self.boundary_ms(anchor_ms, next)? })
    }

    /// The period that contains `at_ms` (at or after the anchor).
    pub fn period_at(self, anchor_ms: i64, at_ms: i64) -> Result<Period, EngineError> {
        if at_ms < anchor_ms {
            return Err(EngineError::invalid("at_ms", format!("{at_ms} ms is before the anchor {anchor_ms} ms")));
        }
        let mut index = self.estimated_index(anchor_ms, at_ms)?;
        // The estimate is off by at most one period either way (a clamped month end); the loops
        // are bounded so that a bug shows as an assertion, never as a hang.
        for _ in 0..4 {
            if index > 0 && self.boundary_ms(anchor_ms, index)? > at_ms {
                index -= 1;
            } else if self.boundary_ms(anchor_ms, index.saturating_add(1))? <= at_ms {
                index += 1;
            } else {
                return self.period(anchor_ms, index);
            }
        }
        unreachable!("the period estimate for {at_ms} ms from {anchor_ms} ms was off by more than it can be")
    }

    /// Whole intervals from the anchor to `at_ms` by arithmetic: exact for days and weeks, by
    /// calendar months for months and years.
    fn estimated_index(self, anchor_ms: i64, at_ms: i64) -> Result<u64, EngineError> {
        let elapsed_ms = i128::from(at_ms) - i128::from(anchor_ms);
        let index = match self.unit {
            IntervalUnit::Day | IntervalUnit::Week => {
                let days_per_unit = if self.unit == IntervalUnit::Day { 1 } else { 7 };
                elapsed_ms / (i128::from(self.count) * days_per_unit * i128::from(DAY_MS))
            }
            IntervalUnit::Month | IntervalUnit::Year => {
                let out_of_range = || EngineError::PeriodOutOfRange { anchor_ms, period: 0 };
                let (anchor, at) =
                    (datetime(anchor_ms).ok_or_else(out_of_range)?, datetime(at_ms).ok_or_else(out_of_range)?);
                let months = (i128::from(at.year()) - i128::from(anchor.year())) * 12
                    + (i128::from(at.month()) - i128::from(anchor.month()));
                let months_per_interval = if self.unit == IntervalUnit::Month { 1 } else { 12 };
                months / (i128::from(self.count) * months_per_interval)
            }
        };
        Ok(u64::try_from(index.max(0)).unwrap_or(u64::MAX))
    }
}

fn datetime(at_ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(at_ms)
}

fn add_days(anchor_ms: i64, days: u64) -> Option<i64> {
    anchor_ms.checked_add(i64::try_from(days).ok()?.checked_mul(DAY_MS)?)
}

fn add_months(anchor_ms: i64, months: u64) -> Option<i64> {
    let months = Months::new(u32::try_from(months).ok()?);
    Some(datetime(anchor_ms)?.checked_add_months(months)?.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};
    use proptest::prelude::*;

    use super::*;

    fn at(year: i32, month: u32, day: u32) -> i64 {
        Utc.with_ymd_and_hms(year, month, day, 10, 30, 0).unwrap().timestamp_millis() + 123
    }

    fn date_of(at_ms: i64) -> (i32, u32, u32) {
        let date = datetime(at_ms).unwrap();
        (date.year(), date.month(), date.day())
    }

    fn monthly() -> Interval {
        Interval::from_alias("monthly").unwrap()
    }

    #[test]
    fn a_subscription_started_on_31_january_renews_on_the_last_day_of_february_then_on_31_march() {
        for (year, february_end) in [(2024, 29), (2023, 28), (2100, 28), (2000, 29)] {
            let anchor = at(year, 1, 31);
            let boundaries: Vec<(i32, u32, u32)> =
                (0..4).map(|n| date_of(monthly().boundary_ms(anchor, n).unwrap())).collect();
            assert_eq!(boundaries, [(year, 1, 31), (year, 2, february_end), (year, 3, 31), (year, 4, 30)], "{year}");
            let time_of_day = |ms: i64| ms.rem_euclid(DAY_MS);
            assert_eq!(time_of_day(monthly().boundary_ms(anchor, 1).unwrap()), time_of_day(anchor));
        }
        // A year later it is the 31st again, not the 28th carried forward.
        assert_eq!(date_of(monthly().boundary_ms(at(2023, 1, 31), 12).unwrap()), (2024, 1, 31));
        let annual = Interval::from_alias("annual").unwrap();
        assert_eq!(date_of(annual.boundary_ms(at(2024, 2, 29), 1).unwrap()), (2025, 2, 28));
        assert_eq!(date_of(annual.boundary_ms(at(2024, 2, 29), 4).unwrap()), (2028, 2, 29));
    }

    #[test]
    fn the_named_intervals_are_aliases_and_nothing_else_is() {
        let expected = [
            ("weekly", IntervalUnit::Week, 1),
            ("bi-weekly", IntervalUnit::Week, 2),
            ("monthly", IntervalUnit::Month, 1),
            ("bi-monthly", IntervalUnit::Month, 2),
            ("quarterly", IntervalUnit::Month, 3),
            ("semi-annual", IntervalUnit::Month, 6),
            ("annual", IntervalUnit::Year, 1),
        ];
        for (name, unit, count) in expected {
            let interval = Interval::from_alias(name).unwrap();
            assert_eq!((interval.unit(), interval.count()), (unit, count), "{name}");
            assert_eq!(interval.alias(), Some(name));
        }
        for name in
            ["Monthly", "biweekly", "bi_weekly", "daily", "yearly", "fortnightly", "", " monthly", "annual\u{0}"]
        {
            let error = Interval::from_alias(name).unwrap_err();
            assert_eq!((error.code(), error.param()), ("invalid_interval", Some("interval")), "{name:?}");
        }
        assert_eq!(IntervalUnit::parse("fortnight").unwrap_err().param(), Some("interval.unit"));
    }

    #[test]
    fn counts_are_from_one_to_three_years() {
        for (unit, max) in
            [(IntervalUnit::Day, 1_095), (IntervalUnit::Week, 156), (IntervalUnit::Month, 36), (IntervalUnit::Year, 3)]
        {
            assert!(Interval::new(unit, 1).is_ok());
            assert!(Interval::new(unit, max).is_ok());
            for count in [0, -1, max + 1, i64::from(u32::MAX) + 1, i64::MAX, i64::MIN] {
                let error = Interval::new(unit, count).unwrap_err();
                assert_eq!((error.code(), error.param()), ("invalid_interval", Some("interval.count")), "{count}");
            }
        }
    }

    #[test]
    fn far_boundaries_are_errors_not_panics() {
        let year = Interval::new(IntervalUnit::Year, 3).unwrap();
        let error = year.boundary_ms(0, u64::MAX).unwrap_err();
        assert_eq!(error.code(), "period_out_of_range");
        assert!(year.boundary_ms(0, 100_000).is_err(), "year 300,000 is past chrono's calendar");
        assert!(Interval::new(IntervalUnit::Day, 1).unwrap().boundary_ms(i64::MAX - DAY_MS + 1, 1).is_err());
        assert!(monthly().boundary_ms(i64::MAX, 0).is_err(), "an anchor chrono cannot represent");
        assert!(monthly().period(0, u64::MAX).is_err());
        let weekly = Interval::from_alias("weekly").unwrap();
        assert_eq!(weekly.period_at(0, -1).unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn period_at_finds_the_period_around_month_ends() {
        let anchor = at(2024, 1, 31);
        let february_end = monthly().boundary_ms(anchor, 1).unwrap();
        let period = monthly().period_at(anchor, february_end - 1).unwrap();
        assert_eq!((period.index, period.start_ms, period.end_ms), (0, anchor, february_end));
        let period = monthly().period_at(anchor, february_end).unwrap();
        assert_eq!(period.index, 1);
        assert_eq!(date_of(period.end_ms), (2024, 3, 31));
        let date = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(monthly().period_at(anchor, date.and_utc().timestamp_millis()).unwrap().index, 1);
    }

    fn any_interval() -> impl Strategy<Value = Interval> {
        prop::sample::select(IntervalUnit::ALL.to_vec())
            .prop_flat_map(|unit| (Just(unit), 1..=i64::from(unit.max_count())))
            .prop_map(|(unit, count)| Interval::new(unit, count).unwrap())
    }

    /// Anchors from 1900 to 2200, at any millisecond.
    fn any_anchor() -> impl Strategy<Value = i64> {
        -2_208_988_800_000_i64..7_258_118_400_000_i64
    }

    proptest! {
        #[test]
        fn periods_are_contiguous_and_strictly_increasing(
            interval in any_interval(),
            anchor in any_anchor(),
            index in 0_u64..200,
        ) {
            let period = interval.period(anchor, index).unwrap();
            let next = interval.period(anchor, index + 1).unwrap();
            prop_assert!(period.start_ms < period.end_ms);
            prop_assert_eq!(period.end_ms, next.start_ms);
            prop_assert_eq!(interval.period(anchor, 0).unwrap().start_ms, anchor);
        }

        #[test]
        fn days_and_weeks_are_exact(count in 1_i64..=156, anchor in any_anchor(), intervals in 0_u64..10_000) {
            for (unit, days) in [(IntervalUnit::Day, 1), (IntervalUnit::Week, 7)] {
                let interval = Interval::new(unit, count).unwrap();
                let expected = i128::from(anchor) + i128::from(intervals) * i128::from(count) * days * i128::from(DAY_MS);
                prop_assert_eq!(i128::from(interval.boundary_ms(anchor, intervals).unwrap()), expected);
            }
        }

        #[test]
        fn month_boundaries_keep_the_anchor_day_or_the_last_day_of_a_shorter_month(
            count in 1_i64..=36,
            anchor in any_anchor(),
            intervals in 0_u64..100,
        ) {
            let interval = Interval::new(IntervalUnit::Month, count).unwrap();
            let anchor_date = datetime(anchor).unwrap();
            let boundary = datetime(interval.boundary_ms(anchor, intervals).unwrap()).unwrap();
            let months = i64::from(anchor_date.year()) * 12 + i64::from(anchor_date.month0())
                + i64::try_from(intervals).unwrap() * count;
            prop_assert_eq!(i64::from(boundary.year()) * 12 + i64::from(boundary.month0()), months);
            let last_day = last_day_of_month(boundary.year(), boundary.month());
            prop_assert_eq!(boundary.day(), anchor_date.day().min(last_day));
            prop_assert_eq!(boundary.time(), anchor_date.time());
        }

        #[test]
        fn period_at_contains_the_instant(interval in any_interval(), anchor in any_anchor(), offset_ms in 0_i64..40 * 366 * DAY_MS) {
            let at_ms = anchor + offset_ms;
            let period = interval.period_at(anchor, at_ms).unwrap();
            prop_assert!(period.start_ms <= at_ms && at_ms < period.end_ms);
            prop_assert_eq!(period, interval.period(anchor, period.index).unwrap());
        }

        #[test]
        fn any_anchor_and_period_is_an_answer_never_a_panic(interval in any_interval(), anchor in any::<i64>(), index in any::<u64>()) {
            match interval.period(anchor, index) {
                Ok(period) => prop_assert!(period.start_ms < period.end_ms),
                Err(error) => prop_assert_eq!(error.code(), "period_out_of_range"),
            }
            if let Ok(period) = interval.period_at(anchor, anchor.saturating_add(i64::try_from(index >> 1).unwrap_or(i64::MAX))) {
                prop_assert!(period.start_ms <= period.end_ms);
            }
        }
    }

    fn last_day_of_month(year: i32, month: u32) -> u32 {
        let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
        NaiveDate::from_ymd_opt(next_year, next_month, 1).unwrap().pred_opt().unwrap().day()
    }
}
