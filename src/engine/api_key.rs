//! The lifecycle rules of API keys: when a key expires, how many may be active, and how fast
//! keys may be made through tools. Pure: the time is passed in, the counts come from the store.
//!
//! - A lifetime is `expires_in` (`90s`, `45m`, `12h`, `30d`: one ASCII number and one unit) or
//!   `expires_at` (RFC 3339 with an offset), from `API_KEY_LIFETIME_MIN_MS` to
//!   `API_KEY_LIFETIME_MAX_MS` ahead; a time in the past, or so far ahead that it is surely a
//!   mistake, is refused rather than clamped.
//! - A key is expired from its `expires_at_ms` on (the boundary included), on every transport.
//! - A merchant has at most `API_KEYS_ACTIVE_MAX_PER_MERCHANT` active keys (neither revoked
//!   nor expired), whoever creates them.
//! - Keys created through tools count against `API_KEY_CREATIONS_BY_TOOLS_MAX`, whether they
//!   are still active or not: revoking a key does not give its creation back.

use crate::engine::error::EngineError;
use crate::limits::{
    API_KEY_CREATIONS_BY_TOOLS_MAX, API_KEY_EXPIRES_AT_MAX_CHARS, API_KEY_EXPIRES_IN_MAX_CHARS,
    API_KEY_LIFETIME_MAX_MS, API_KEY_LIFETIME_MIN_MS, API_KEYS_ACTIVE_MAX_PER_MERCHANT,
};

/// When a new key expires, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyExpiry {
    Never,
    /// `expires_in`: this many milliseconds after creation.
    After {
        lifetime_ms: i64,
    },
    /// `expires_at`: at this moment (Unix milliseconds).
    At {
        expires_at_ms: i64,
    },
}

impl KeyExpiry {
    /// From the two exclusive arguments, as text.
    pub fn parse(expires_in: Option<&str>, expires_at: Option<&str>) -> Result<KeyExpiry, String> {
        match (expires_in, expires_at) {
            (None, None) => Ok(KeyExpiry::Never),
            (Some(_), Some(_)) => Err("give expires_in or expires_at, not both".to_owned()),
            (Some(text), None) => parse_lifetime_ms(text).map(|lifetime_ms| KeyExpiry::After { lifetime_ms }),
            (None, Some(text)) => parse_rfc3339_ms(text).map(|expires_at_ms| KeyExpiry::At { expires_at_ms }),
        }
    }

    /// The moment the key expires, created at `now_ms`, or why it cannot.
    pub fn expires_at_ms(&self, now_ms: i64, param: &'static str) -> Result<Option<i64>, EngineError> {
        let expires_at_ms = match self {
            KeyExpiry::Never => return Ok(None),
            KeyExpiry::After { lifetime_ms } => now_ms.checked_add(*lifetime_ms).ok_or(EngineError::AmountOverflow)?,
            KeyExpiry::At { expires_at_ms } => *expires_at_ms,
        };
        let lifetime_ms = expires_at_ms.saturating_sub(now_ms);
        if lifetime_ms < API_KEY_LIFETIME_MIN_MS {
            return Err(EngineError::invalid(
                param,
                format!(
                    "the key would expire {}; an expiry must be at least {} s ahead",
                    if lifetime_ms <= 0 { "in the past" } else { "too soon" },
                    API_KEY_LIFETIME_MIN_MS / 1000
                ),
            ));
        }
        if lifetime_ms > API_KEY_LIFETIME_MAX_MS {
            return Err(EngineError::invalid(
                param,
                format!(
                    "an expiry is at most {} days ahead; for a key that lives longer, give no expiry and revoke it by hand",
                    API_KEY_LIFETIME_MAX_MS / DAY_MS
                ),
            ));
        }
        Ok(Some(expires_at_ms))
    }
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// `90s`, `45m`, `12h`, `30d`: ASCII digits then one unit letter, nothing else. The range is
/// checked against the creation time (`KeyExpiry::expires_at_ms`); here only what fits in i64.
pub fn parse_lifetime_ms(text: &str) -> Result<i64, String> {
    let refuse = || {
        format!(
            "expires_in must be a number and a unit, like 90s, 45m, 12h or 30d (at most {} days), not {}",
            API_KEY_LIFETIME_MAX_MS / DAY_MS,
            crate::limits::echo(text)
        )
    };
    if text.len() > API_KEY_EXPIRES_IN_MAX_CHARS || !text.is_ascii() || text.len() < 2 {
        return Err(refuse());
    }
    let (digits, unit) = text.split_at(text.len() - 1);
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(refuse());
    }
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => DAY_MS,
        _ => return Err(refuse()),
    };
    let count: i64 = digits.parse().map_err(|_| refuse())?;
    let lifetime_ms = count.checked_mul(unit_ms).ok_or_else(refuse)?;
    if !(API_KEY_LIFETIME_MIN_MS..=API_KEY_LIFETIME_MAX_MS).contains(&lifetime_ms) {
        return Err(format!(
            "expires_in must be from {} s to {} days, not {}",
            API_KEY_LIFETIME_MIN_MS / 1000,
            API_KEY_LIFETIME_MAX_MS / DAY_MS,
            crate::limits::echo(text)
        ));
    }
    Ok(lifetime_ms)
}

/// An RFC 3339 time with its offset (`2026-03-01T12:00:00Z`, `2026-03-01T13:00:00+01:00`), as
/// Unix milliseconds.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, String> {
    let refuse = || {
        format!(
            "expires_at must be an RFC 3339 time with an offset, like 2026-03-01T12:00:00Z, not {}",
            crate::limits::echo(text)
        )
    };
    if text.len() > API_KEY_EXPIRES_AT_MAX_CHARS {
        return Err(refuse());
    }
    let parsed = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| refuse())?;
    Ok(parsed.timestamp_millis())
}

/// Whether a key that expires at `expires_at_ms` is expired at `now_ms`.
pub fn is_expired(expires_at_ms: Option<i64>, now_ms: i64) -> bool {
    expires_at_ms.is_some_and(|expires_at_ms| now_ms >= expires_at_ms)
}

/// A merchant with `active_keys` active keys may have one more.
pub fn check_active_key_cap(active_keys: i64) -> Result<(), EngineError> {
    if active_keys >= API_KEYS_ACTIVE_MAX_PER_MERCHANT {
        return Err(EngineError::MaxKeysReached { active: active_keys, max: API_KEYS_ACTIVE_MAX_PER_MERCHANT });
    }
    Ok(())
}

/// Whether one more key may be created through tools at `now_ms`, given when the merchant's
/// earlier tool-made keys were created (any order; those older than the longest window are
/// ignored). Refused with the wait after which the oldest creation that blocks leaves its window.
pub fn check_creation_rate(now_ms: i64, created_at_ms: &[i64]) -> Result<(), EngineError> {
    let mut newest_first: Vec<i64> = created_at_ms.to_vec();
    newest_first.sort_unstable_by(|left, right| right.cmp(left));
    let mut refusal: Option<EngineError> = None;
    for (window_ms, max_creations) in API_KEY_CREATIONS_BY_TOOLS_MAX {
        let in_window: Vec<i64> = newest_first.iter().copied().filter(|at| *at > now_ms - window_ms).collect();
        let Some(blocking_at_ms) = in_window.get(max_creations as usize - 1) else { continue };
        // The `max`-th newest creation leaves the window at `blocking + window`; then one fits.
        let retry_after_ms = (blocking_at_ms + window_ms - now_ms).max(1);
        let longer_wait = match &refusal {
            Some(EngineError::KeyCreationRateExceeded { retry_after_ms: earlier, .. }) => retry_after_ms > *earlier,
            _ => true,
        };
        if longer_wait {
            refusal = Some(EngineError::KeyCreationRateExceeded {
                max_creations,
                window_minutes: window_ms / 60_000,
                retry_after_ms,
            });
        }
    }
    refusal.map_or(Ok(()), Err)
}

/// The most tool-made creations the rate check needs to see: the largest window's allowance.
pub fn creation_rate_lookback() -> (i64, u32) {
    let longest_window_ms = API_KEY_CREATIONS_BY_TOOLS_MAX.iter().map(|(window_ms, _)| *window_ms).max().unwrap_or(0);
    let most = API_KEY_CREATIONS_BY_TOOLS_MAX.iter().map(|(_, max)| *max).max().unwrap_or(0);
    (longest_window_ms, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE_MS: i64 = 60_000;

    #[test]
    fn lifetimes_are_a_number_and_a_unit_in_range() {
        assert_eq!(parse_lifetime_ms("90s"), Ok(90_000));
        assert_eq!(parse_lifetime_ms("45m"), Ok(45 * MINUTE_MS));
        assert_eq!(parse_lifetime_ms("12h"), Ok(12 * 60 * MINUTE_MS));
        assert_eq!(parse_lifetime_ms("30d"), Ok(30 * DAY_MS));
        assert_eq!(parse_lifetime_ms("730d"), Ok(API_KEY_LIFETIME_MAX_MS));
        for garbled in [
            "",
            "s",
            "90",
            "0s",
            "731d",
            "-5s",
            "+5s",
            "1.5h",
            "5 s",
            " 5s",
            "5s ",
            "5S",
            "5sec",
            "5w",
            "５s",
            "5ｓ",
            "99999999999999999999d",
            "9223372036854775807d",
            "0x10s",
            "1e3s",
            "5s\n",
            "5s\u{200B}",
        ] {
            assert!(parse_lifetime_ms(garbled).is_err(), "{garbled:?} was accepted");
        }
        let long = "1".repeat(10_000) + "s";
        let message = parse_lifetime_ms(&long).unwrap_err();
        assert!(message.chars().count() < 200, "the message echoes at most a prefix: {message}");
    }

    #[test]
    fn expiry_times_are_rfc3339_and_bounded_from_now() {
        let now_ms = parse_rfc3339_ms("2026-01-01T00:00:00Z").unwrap();
        let at = |text: &str| KeyExpiry::parse(None, Some(text)).unwrap().expires_at_ms(now_ms, "expires_at");
        assert_eq!(at("2026-01-01T01:00:00+01:00").unwrap_err().code(), "invalid_request", "that is now: too soon");
        assert_eq!(at("2026-01-02T01:00:00+01:00").unwrap(), Some(now_ms + DAY_MS));
        assert!(at("2025-12-31T23:59:59Z").unwrap_err().to_string().contains("in the past"));
        assert!(at("2028-01-02T00:00:00Z").unwrap_err().to_string().contains("at most 730 days"));
        for garbled in
            ["2026-01-02", "2026-01-02T00:00:00", "tomorrow", "9999-99-99T00:00:00Z", "+275760-09-13T00:00:00Z"]
        {
            assert!(KeyExpiry::parse(None, Some(garbled)).is_err(), "{garbled:?} was accepted");
        }
        assert!(KeyExpiry::parse(Some("1h"), Some("2026-01-02T00:00:00Z")).unwrap_err().contains("not both"));
        assert_eq!(KeyExpiry::parse(None, None).unwrap().expires_at_ms(now_ms, "expires_in"), Ok(None));
        let after = KeyExpiry::parse(Some("2s"), None).unwrap();
        assert_eq!(after.expires_at_ms(now_ms, "expires_in"), Ok(Some(now_ms + 2_000)));
        assert!(after.expires_at_ms(i64::MAX - 1, "expires_in").is_err(), "an overflowing time is refused");
    }

    #[test]
    fn a_key_is_expired_from_its_expiry_on() {
        assert!(!is_expired(None, i64::MAX));
        assert!(!is_expired(Some(1_000), 999));
        assert!(is_expired(Some(1_000), 1_000));
        assert!(is_expired(Some(1_000), 1_001));
    }

    #[test]
    fn the_active_key_cap_is_twenty_five() {
        assert!(check_active_key_cap(24).is_ok());
        let refused = check_active_key_cap(25).unwrap_err();
        assert_eq!(refused.code(), "max_keys_reached");
        assert!(refused.to_string().contains("25"), "{refused}");
    }

    #[test]
    fn three_creations_in_ten_minutes_and_ten_in_an_hour() {
        let now_ms = 100 * 60 * MINUTE_MS;
        assert!(check_creation_rate(now_ms, &[]).is_ok());
        assert!(check_creation_rate(now_ms, &[now_ms - MINUTE_MS, now_ms - 2 * MINUTE_MS]).is_ok());
        // The fourth within ten minutes waits until the oldest of the three is ten minutes old.
        let three = [now_ms - MINUTE_MS, now_ms - 2 * MINUTE_MS, now_ms - 4 * MINUTE_MS];
        match check_creation_rate(now_ms, &three).unwrap_err() {
            EngineError::KeyCreationRateExceeded { max_creations: 3, window_minutes: 10, retry_after_ms } => {
                assert_eq!(retry_after_ms, 6 * MINUTE_MS);
            }
            other => panic!("{other:?}"),
        }
        // A creation exactly ten minutes old has left the window.
        assert!(
            check_creation_rate(now_ms, &[now_ms - MINUTE_MS, now_ms - 2 * MINUTE_MS, now_ms - 10 * MINUTE_MS]).is_ok()
        );
        // Ten in the hour, spread out: the eleventh waits for the oldest to be an hour old.
        let spread: Vec<i64> = (0..10).map(|index| now_ms - (11 + index * 5) * MINUTE_MS).collect();
        match check_creation_rate(now_ms, &spread).unwrap_err() {
            EngineError::KeyCreationRateExceeded { max_creations: 10, window_minutes: 60, retry_after_ms } => {
                assert_eq!(retry_after_ms, 4 * MINUTE_MS, "the oldest was 56 minutes ago");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(creation_rate_lookback(), (60 * MINUTE_MS, 10));
    }
}
