//! Test clocks: in test mode a merchant's billing time may run ahead of real time, so that an
//! agent can walk a year of billing in one call.
//!
//! A merchant's test-mode billing time is real time plus the merchant's clock offset (0 until it
//! is first advanced); live mode always bills on real time. The clock keeps running with real
//! time between advances. `advance` moves it forward only, by at most
//! `TEST_CLOCK_ADVANCE_MAX_MS` a call (three years, the longest interval a price may have, so that
//! one call always reaches any subscription's next renewal) and never past
//! `TEST_CLOCK_LATEST_MS` (the end of year 9999): the work one advance causes is bounded by
//! what falls due in three years, and no date computed from the clock leaves the calendar.

use crate::engine::error::EngineError;
use crate::engine::interval::Interval;
use crate::engine::principal::Mode;
use crate::limits::{TEST_CLOCK_ADVANCE_MAX_MS, TEST_CLOCK_LATEST_MS};

/// Where to move a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockAdvance {
    /// To this instant (ms since the epoch), which must be ahead of the clock.
    To { at_ms: i64 },
    /// By one interval from the clock's time, calendar months and years included.
    By { interval: Interval },
}

/// The merchant's billing time in `mode`.
pub fn billing_now_ms(mode: Mode, real_now_ms: i64, offset_ms: i64) -> i64 {
    match mode {
        Mode::Live => real_now_ms,
        Mode::Test => real_now_ms.saturating_add(offset_ms.max(0)),
    }
}

/// The clock after an advance: `(new offset, new billing time)`. See the module doc.
pub fn advance(mode: Mode, real_now_ms: i64, offset_ms: i64, request: ClockAdvance) -> Result<(i64, i64), EngineError> {
    if mode != Mode::Test {
        return Err(EngineError::TestModeOnly { action: "advance_test_clock (live mode always bills on real time)" });
    }
    let now_ms = billing_now_ms(mode, real_now_ms, offset_ms);
    let (target_ms, param) = match request {
        ClockAdvance::To { at_ms } => (at_ms, "to"),
        ClockAdvance::By { interval } => (interval.boundary_ms(now_ms, 1)?, "by"),
    };
    if target_ms <= now_ms {
        return Err(EngineError::invalid(
            param,
            format!("a test clock only moves forward: {target_ms} ms is not after the clock's time, {now_ms} ms"),
        ));
    }
    let step_ms = i128::from(target_ms) - i128::from(now_ms);
    if step_ms > i128::from(TEST_CLOCK_ADVANCE_MAX_MS) {
        return Err(EngineError::invalid(
            param,
            format!(
                "one advance moves the clock at most {TEST_CLOCK_ADVANCE_MAX_MS} ms (three years); this one would move it {step_ms} ms; advance in several calls"
            ),
        ));
    }
    if target_ms > TEST_CLOCK_LATEST_MS {
        return Err(EngineError::invalid(
            param,
            format!("a test clock stops at {TEST_CLOCK_LATEST_MS} ms (the end of year 9999)"),
        ));
    }
    Ok((target_ms - real_now_ms, target_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::interval::IntervalUnit;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn live_mode_has_no_test_clock() {
        assert_eq!(billing_now_ms(Mode::Live, NOW, 5_000), NOW);
        let by = ClockAdvance::By { interval: Interval::new(IntervalUnit::Day, 1).unwrap() };
        assert_eq!(advance(Mode::Live, NOW, 0, by).unwrap_err().code(), "test_mode_only");
    }

    #[test]
    fn advances_move_forward_only_and_within_three_years() {
        let month = ClockAdvance::By { interval: Interval::from_alias("monthly").unwrap() };
        let (offset_ms, now_ms) = advance(Mode::Test, NOW, 0, month).unwrap();
        assert_eq!(now_ms, NOW + offset_ms);
        assert_eq!(billing_now_ms(Mode::Test, NOW + 10, offset_ms), now_ms + 10, "it keeps running");
        for at_ms in [now_ms, now_ms - 1, i64::MIN, 0] {
            let error = advance(Mode::Test, NOW, offset_ms, ClockAdvance::To { at_ms }).unwrap_err();
            assert_eq!((error.code(), error.param()), ("invalid_request", Some("to")), "{at_ms}");
        }
        let far = ClockAdvance::To { at_ms: now_ms + TEST_CLOCK_ADVANCE_MAX_MS + 1 };
        assert_eq!(advance(Mode::Test, NOW, offset_ms, far).unwrap_err().param(), Some("to"));
        assert!(
            advance(Mode::Test, NOW, offset_ms, ClockAdvance::To { at_ms: now_ms + TEST_CLOCK_ADVANCE_MAX_MS }).is_ok()
        );
        let three_years = ClockAdvance::By { interval: Interval::new(IntervalUnit::Year, 3).unwrap() };
        assert!(advance(Mode::Test, NOW, offset_ms, three_years).is_ok());
        let end = ClockAdvance::To { at_ms: i64::MAX };
        assert_eq!(advance(Mode::Test, NOW, offset_ms, end).unwrap_err().code(), "invalid_request");
        let near_the_end = TEST_CLOCK_LATEST_MS - 10 - NOW;
        let past = ClockAdvance::To { at_ms: TEST_CLOCK_LATEST_MS + 1 };
        assert_eq!(advance(Mode::Test, NOW, near_the_end, past).unwrap_err().param(), Some("to"));
    }
}
