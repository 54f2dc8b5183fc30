//! What to do with a scheduled step that failed: try again after an exponential backoff, and
//! after a bounded number of tries park it (stop picking it) so that it cannot keep the
//! scheduler busy. A pure decision: the caller passes the time in and saves the result.

use crate::limits::{SCHEDULER_RETRY_BACKOFF_BASE_MS, SCHEDULER_RETRY_BACKOFF_MAX_MS, SCHEDULER_STEP_MAX_ATTEMPTS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included, before the step is parked. At least 1.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles with each further failure. At least 1.
    pub backoff_base_ms: i64,
    /// The longest wait. At least `backoff_base_ms`.
    pub backoff_max_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: SCHEDULER_STEP_MAX_ATTEMPTS,
            backoff_base_ms: SCHEDULER_RETRY_BACKOFF_BASE_MS,
            backoff_max_ms: SCHEDULER_RETRY_BACKOFF_MAX_MS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Leave the step alone until `at_ms`, then try again.
    RetryAt { at_ms: i64 },
    /// It failed `max_attempts` times: stop trying; an operator looks at it.
    Park,
}

impl RetryPolicy {
    /// The wait after the `failed_attempts`-th failure: base × 2^(failed_attempts − 1), at most
    /// the maximum (and never an overflow, however many failures).
    pub fn backoff_ms(&self, failed_attempts: u32) -> i64 {
        let doublings = failed_attempts.saturating_sub(1).min(62);
        self.backoff_base_ms
            .checked_mul(1_i64 << doublings)
            .map_or(self.backoff_max_ms, |ms| ms.min(self.backoff_max_ms))
    }

    /// Decides after a step failed for the `failed_attempts`-th time in a row, at `now_ms`.
    pub fn after_failure(&self, failed_attempts: u32, now_ms: i64) -> RetryDecision {
        if failed_attempts >= self.max_attempts {
            RetryDecision::Park
        } else {
            RetryDecision::RetryAt { at_ms: now_ms.saturating_add(self.backoff_ms(failed_attempts)) }
        }
    }

    /// Applies overrides such as "attempts=4,base_ms=200,max_ms=2000"; every part is optional.
    pub fn parse_overrides(&mut self, text: &str) -> Result<(), String> {
        let mut next = *self;
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not name=value (attempts, base_ms, max_ms)"))?;
            let number: i64 = value.trim().parse().map_err(|_| format!("{name}: {value:?} is not a whole number"))?;
            match name.trim() {
                "attempts" => {
                    next.max_attempts =
                        u32::try_from(number).map_err(|_| format!("attempts {number} is out of range"))?
                }
                "base_ms" => next.backoff_base_ms = number,
                "max_ms" => next.backoff_max_ms = number,
                other => return Err(format!("unknown setting {other:?}: attempts, base_ms or max_ms")),
            }
        }
        if next.max_attempts < 1 {
            return Err("attempts must be at least 1".to_owned());
        }
        if next.backoff_base_ms < 1 || next.backoff_max_ms < next.backoff_base_ms {
            return Err("base_ms must be at least 1 and max_ms at least base_ms".to_owned());
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32, backoff_base_ms: i64, backoff_max_ms: i64) -> RetryPolicy {
        RetryPolicy { max_attempts, backoff_base_ms, backoff_max_ms }
    }

    #[test]
    fn the_wait_doubles_up_to_the_maximum_and_never_overflows() {
        let policy = policy(100, 1_000, 60_000);
        let waits: Vec<i64> = (1..=8).map(|failures| policy.backoff_ms(failures)).collect();
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
        assert_eq!(policy.backoff_ms(u32::MAX), 60_000);
        assert_eq!(RetryPolicy { backoff_max_ms: i64::MAX, ..policy }.backoff_ms(u32::MAX), i64::MAX);
    }

    #[test]
    fn a_step_is_parked_at_its_last_allowed_try() {
        let policy = policy(3, 100, 1_000);
        assert_eq!(policy.after_failure(1, 5_000), RetryDecision::RetryAt { at_ms: 5_100 });
        assert_eq!(policy.after_failure(2, 5_000), RetryDecision::RetryAt { at_ms: 5_200 });
        assert_eq!(policy.after_failure(3, 5_000), RetryDecision::Park);
        assert_eq!(policy.after_failure(4, 5_000), RetryDecision::Park);
        assert_eq!(policy.after_failure(1, i64::MAX), RetryDecision::RetryAt { at_ms: i64::MAX });
    }

    #[test]
    fn overrides_are_checked() {
        let mut parsed = RetryPolicy::default();
        parsed.parse_overrides("attempts=4, base_ms=200,max_ms=2000").unwrap();
        assert_eq!(parsed, policy(4, 200, 2_000));
        for bad in
            ["attempts=0", "base_ms=0", "base_ms=500,max_ms=100", "tries=3", "attempts=-1", "attempts", "max_ms=1.5"]
        {
            let mut unchanged = RetryPolicy::default();
            assert!(unchanged.parse_overrides(bad).is_err(), "{bad} was accepted");
            assert_eq!(unchanged, RetryPolicy::default(), "{bad} changed the policy");
        }
    }
}
