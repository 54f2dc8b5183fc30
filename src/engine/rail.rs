//! The rails money travels on, and when the simulated ones act in test mode. Payments, payouts
//! and fees all name a rail, so it sits below them.

use crate::engine::principal::Mode;

/// The network a payment travels on: a bank-transfer processor, a crypto processor, card networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rail {
    Rubies,
    Partna,
    Card,
}

impl Rail {
    pub const ALL: [Rail; 3] = [Rail::Rubies, Rail::Partna, Rail::Card];

    pub fn code(self) -> &'static str {
        match self {
            Rail::Rubies => "rubies",
            Rail::Partna => "partna",
            Rail::Card => "card",
        }
    }

    pub fn parse(code: &str) -> Option<Rail> {
        Rail::ALL.into_iter().find(|rail| rail.code() == code)
    }
}

/// `now_ms` plus a configured delay, saturating: a delay too large for i64 means "never", not a
/// time in the past.
pub fn later_ms(now_ms: i64, delay_ms: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX))
}

/// When the simulated rail takes its next step on an object created or moved now: only in test
/// mode, and only while the simulator is on (`delay_ms` is `Some`).
pub fn simulated_step_at_ms(mode: Mode, delay_ms: Option<u64>, now_ms: i64) -> Option<i64> {
    match (mode, delay_ms) {
        (Mode::Test, Some(delay_ms)) => Some(later_ms(now_ms, delay_ms)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rail_codes_round_trip() {
        for rail in Rail::ALL {
            assert_eq!(Rail::parse(rail.code()), Some(rail));
        }
        assert_eq!(Rail::parse("Rubies"), None, "codes are case sensitive");
    }

    #[test]
    fn simulated_steps_happen_only_in_test_mode_and_never_in_the_past() {
        assert_eq!(simulated_step_at_ms(Mode::Test, Some(2_000), 10), Some(2_010));
        assert_eq!(simulated_step_at_ms(Mode::Live, Some(2_000), 10), None);
        assert_eq!(simulated_step_at_ms(Mode::Test, None, 10), None);
        assert_eq!(simulated_step_at_ms(Mode::Test, Some(u64::MAX), 10), Some(i64::MAX));
        assert_eq!(later_ms(i64::MAX - 1, 5), i64::MAX);
    }
}
