//! Rate limits per key and per client address: one keyed GCRA limiter (the `governor` crate)
//! per rule, shared by every connection of the process. HTTP answers a refusal with 429 and
//! `Retry-After`; stdio with a `rate_limited` tool error carrying `retry_after_ms`.

use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A sustained rate and the burst spent at once, written `100/s,burst=1000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

/// A limit from the command line: a rate, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitSetting {
    Off,
    Limit(RateLimit),
}

impl RateLimitSetting {
    pub fn new(per_second: u32, burst: u32) -> RateLimitSetting {
        match (NonZeroU32::new(per_second), NonZeroU32::new(burst)) {
            (Some(per_second), Some(burst)) => RateLimitSetting::Limit(RateLimit { per_second, burst }),
            _ => RateLimitSetting::Off,
        }
    }

    pub fn limit(self) -> Option<RateLimit> {
        match self {
            RateLimitSetting::Off => None,
            RateLimitSetting::Limit(limit) => Some(limit),
        }
    }
}

impl FromStr for RateLimitSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<RateLimitSetting, String> {
        let text = text.trim();
        if text == "off" {
            return Ok(RateLimitSetting::Off);
        }
        let shape = || format!("{text:?} is not a rate limit: write e.g. 100/s,burst=1000 (or 100/s, or off)");
        let (rate, burst) = match text.split_once(',') {
            Some((rate, burst)) => (rate.trim(), Some(burst.trim().strip_prefix("burst=").ok_or_else(shape)?)),
            None => (text, None),
        };
        let positive = |number: &str| number.trim().parse::<u32>().ok().and_then(NonZeroU32::new).ok_or_else(shape);
        let per_second = positive(rate.strip_suffix("/s").ok_or_else(shape)?)?;
        // Without a stated burst, a second's worth of requests may come at once.
        let burst = match burst {
            Some(burst) => positive(burst)?,
            None => per_second,
        };
        Ok(RateLimitSetting::Limit(RateLimit { per_second, burst }))
    }
}

impl fmt::Display for RateLimitSetting {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateLimitSetting::Off => formatter.write_str("off"),
            RateLimitSetting::Limit(limit) => write!(formatter, "{}/s,burst={}", limit.per_second, limit.burst),
        }
    }
}

/// A refused request: when the next one would be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after_ms: u64,
    pub limit: RateLimit,
}

impl RateLimited {
    /// For `Retry-After`, which counts whole seconds: rounded up, at least 1.
    pub fn retry_after_seconds(&self) -> u64 {
        self.retry_after_ms.div_ceil(1000).max(1)
    }

    /// What to tell the client, naming the limit that applies.
    pub fn message(&self, per_what: &str) -> String {
        format!(
            "too many requests {per_what}: at most {}/s with bursts of {}; retry after {} ms",
            self.limit.per_second, self.limit.burst, self.retry_after_ms
        )
    }
}

/// One limit applied separately to each key `K` (an API key id, a client address).
pub struct KeyedRateLimiter<K: Hash + Eq + Clone> {
    limit: RateLimit,
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K> {
    pub fn new(limit: RateLimit) -> KeyedRateLimiter<K> {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        KeyedRateLimiter { limit, limiter: RateLimiter::keyed(quota) }
    }

    /// Takes one request from `key`'s allowance, or says how long until there is one.
    pub fn check(&self, key: &K) -> Result<(), RateLimited> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            RateLimited { retry_after_ms: whole_milliseconds_rounded_up(wait), limit: self.limit }
        })
    }

    /// Drops the state of keys back at a full allowance, so that the memory a flood of client
    /// addresses took is returned.
    pub fn forget_rested_keys(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    pub fn tracked_keys(&self) -> usize {
        self.limiter.len()
    }
}

impl<K: Hash + Eq + Clone> fmt::Debug for KeyedRateLimiter<K> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "KeyedRateLimiter({})", RateLimitSetting::Limit(self.limit))
    }
}

/// The per-key limit: keyed by API key id, shared by every connection and both transports.
pub type KeyRateLimiter = KeyedRateLimiter<String>;

/// The per-address limit over HTTP.
pub type AddressRateLimiter = KeyedRateLimiter<IpAddr>;

/// The address a client is limited as: IPv4 as is, IPv6 by its /64 (one subscriber's network,
/// which hands out addresses freely).
pub fn rate_limit_address(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1_u128 << 64) - 1);
            IpAddr::V6(network.into())
        }
        v4 => v4,
    }
}

fn whole_milliseconds_rounded_up(wait: Duration) -> u64 {
    let milliseconds = wait.as_nanos().div_ceil(1_000_000);
    u64::try_from(milliseconds).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_print_back() {
        let limit = |per_second, burst| RateLimitSetting::new(per_second, burst);
        assert_eq!("100/s,burst=1000".parse(), Ok(limit(100, 1000)));
        assert_eq!(" 5/s ".parse(), Ok(limit(5, 5)));
        assert_eq!("off".parse(), Ok(RateLimitSetting::Off));
        assert_eq!(limit(100, 1000).to_string(), "100/s,burst=1000");
        for wrong in ["", "100", "0/s", "100/min", "100/s,1000", "100/s,burst=0", "-1/s", "100/s,burst=x"] {
            assert!(wrong.parse::<RateLimitSetting>().is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn a_key_spends_its_burst_then_waits_and_other_keys_are_unaffected() {
        let limiter = KeyRateLimiter::new(RateLimitSetting::new(1, 3).limit().unwrap());
        for _ in 0..3 {
            assert!(limiter.check(&"key_a".to_owned()).is_ok());
        }
        let refused = limiter.check(&"key_a".to_owned()).unwrap_err();
        assert!(refused.retry_after_ms >= 1 && refused.retry_after_ms <= 1000, "{refused:?}");
        assert_eq!(refused.retry_after_seconds(), 1);
        assert!(limiter.check(&"key_b".to_owned()).is_ok());
        assert_eq!(limiter.tracked_keys(), 2);
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_and_mapped_ipv4_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_network: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other_network: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(rate_limit_address(one), rate_limit_address(same_network));
        assert_ne!(rate_limit_address(one), rate_limit_address(other_network));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(rate_limit_address(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
