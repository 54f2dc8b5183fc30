//! Webhook endpoints and the decisions about their deliveries: which events an endpoint takes,
//! when a failed delivery is tried again (exponential backoff with jitter, `Retry-After`
//! honoured), when a delivery gives up and when an endpoint is disabled. Pure: the caller passes
//! the time and the jitter sample in, and saves the result.

use crate::engine::principal::Scope;
use crate::limits::{
    WEBHOOK_CONSECUTIVE_FAILURES_MAX, WEBHOOK_DELIVERY_MAX_ATTEMPTS, WEBHOOK_RETRY_AFTER_MAX_MS,
    WEBHOOK_RETRY_BASE_DEFAULT_MS, WEBHOOK_RETRY_CAP_DEFAULT_MS, WEBHOOK_RETRY_JITTER_PERCENT,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointStatus {
    Enabled,
    /// By the merchant, or by harepay after `WEBHOOK_CONSECUTIVE_FAILURES_MAX` failures in a row.
    Disabled,
    /// Gone for the merchant; kept so that its deliveries still name it.
    Deleted,
}

impl EndpointStatus {
    pub fn code(self) -> &'static str {
        match self {
            EndpointStatus::Enabled => "enabled",
            EndpointStatus::Disabled => "disabled",
            EndpointStatus::Deleted => "deleted",
        }
    }

    pub fn parse(code: &str) -> Option<EndpointStatus> {
        [EndpointStatus::Enabled, EndpointStatus::Disabled, EndpointStatus::Deleted]
            .into_iter()
            .find(|status| status.code() == code)
    }
}

/// What an endpoint receives: every event, or those of the listed types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    All,
    Only(Vec<String>),
}

impl EventSelection {
    pub fn includes(&self, event_type: &str) -> bool {
        match self {
            EventSelection::All => true,
            EventSelection::Only(types) => types.iter().any(|wanted| wanted == event_type),
        }
    }

    /// `*` or the types joined by commas, as stored.
    pub fn stored_text(&self) -> String {
        match self {
            EventSelection::All => "*".to_owned(),
            EventSelection::Only(types) => types.join(","),
        }
    }

    pub fn from_stored_text(text: &str) -> EventSelection {
        if text == "*" {
            EventSelection::All
        } else {
            EventSelection::Only(text.split(',').filter(|part| !part.is_empty()).map(str::to_owned).collect())
        }
    }

    pub fn names(&self) -> Vec<String> {
        match self {
            EventSelection::All => vec!["*".to_owned()],
            EventSelection::Only(types) => types.clone(),
        }
    }
}

/// An event type as an endpoint names it: `*`, or dotted lowercase words (`payment_intent.succeeded`).
pub fn is_event_type_name(name: &str) -> bool {
    let word = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_lowercase() || byte == b'_');
    name.contains('.') && name.split('.').all(word)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub scope: Scope,
    pub url: String,
    pub events: EventSelection,
    /// The signing secret, sealed by the operator's key; the engine never sees it in the clear.
    pub secret_sealed: Vec<u8>,
    pub status: EndpointStatus,
    pub disabled_reason: Option<String>,
    pub consecutive_failures: u32,
    /// Events after this outbox position are delivered to it.
    pub after_event_seq: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// The published retry schedule: the wait after the n-th failure of a delivery is
/// `base × 2^(n−1)`, at most `cap`, then moved by up to ±`WEBHOOK_RETRY_JITTER_PERCENT`; a 429's
/// `Retry-After` lengthens it (the receiver asked: up to `WEBHOOK_RETRY_AFTER_MAX_MS`, even past the cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    pub base_ms: i64,
    pub cap_ms: i64,
}

impl Default for RetrySchedule {
    fn default() -> RetrySchedule {
        RetrySchedule { base_ms: WEBHOOK_RETRY_BASE_DEFAULT_MS, cap_ms: WEBHOOK_RETRY_CAP_DEFAULT_MS }
    }
}

/// The jitter of one wait, in basis points of it: −1,000 to +1,000 (±10 %). Drawn by the caller.
pub const JITTER_BASIS_POINTS_MAX: i64 = WEBHOOK_RETRY_JITTER_PERCENT * 100;

impl RetrySchedule {
    /// The wait before jitter after the `failed_attempts`-th failure (1 = the first).
    pub fn backoff_ms(&self, failed_attempts: u32) -> i64 {
        let doublings = failed_attempts.saturating_sub(1).min(62);
        self.base_ms.checked_mul(1_i64 << doublings).map_or(self.cap_ms, |ms| ms.min(self.cap_ms))
    }

    /// The wait, jittered by `jitter_basis_points` (clamped to ±`JITTER_BASIS_POINTS_MAX`) and at
    /// most the cap, then lengthened to the receiver's `Retry-After` when it asked for more (up to
    /// `WEBHOOK_RETRY_AFTER_MAX_MS`); never below 1 ms.
    pub fn wait_ms(&self, failed_attempts: u32, jitter_basis_points: i64, retry_after_ms: Option<i64>) -> i64 {
        let backoff = i128::from(self.backoff_ms(failed_attempts));
        let jitter = i128::from(jitter_basis_points.clamp(-JITTER_BASIS_POINTS_MAX, JITTER_BASIS_POINTS_MAX));
        let jittered = i64::try_from(backoff + backoff * jitter / 10_000).unwrap_or(self.cap_ms);
        let asked = retry_after_ms.unwrap_or(0).clamp(0, WEBHOOK_RETRY_AFTER_MAX_MS);
        jittered.min(self.cap_ms).max(asked).max(1)
    }
}

/// What one delivery attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryNext {
    Succeeded,
    RetryAt {
        at_ms: i64,
    },
    /// Every attempt the schedule allows failed.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptDecision {
    pub delivery: DeliveryNext,
    /// The endpoint's failures in a row after this attempt (0 after a success).
    pub consecutive_failures: u32,
    /// This attempt made it `WEBHOOK_CONSECUTIVE_FAILURES_MAX` failures in a row.
    pub disable_endpoint: bool,
}

/// Decides after the `attempts`-th attempt of a delivery (1 = the first) at `now_ms`, on an
/// endpoint that had `failures_before` failures in a row.
pub fn after_attempt(
    schedule: &RetrySchedule,
    succeeded: bool,
    attempts: u32,
    failures_before: u32,
    now_ms: i64,
    jitter_basis_points: i64,
    retry_after_ms: Option<i64>,
) -> AttemptDecision {
    if succeeded {
        return AttemptDecision { delivery: DeliveryNext::Succeeded, consecutive_failures: 0, disable_endpoint: false };
    }
    let consecutive_failures = failures_before.saturating_add(1);
    let delivery = if attempts >= WEBHOOK_DELIVERY_MAX_ATTEMPTS {
        DeliveryNext::Failed
    } else {
        let wait_ms = schedule.wait_ms(attempts, jitter_basis_points, retry_after_ms);
        DeliveryNext::RetryAt { at_ms: now_ms.saturating_add(wait_ms) }
    };
    AttemptDecision {
        delivery,
        consecutive_failures,
        disable_endpoint: consecutive_failures == WEBHOOK_CONSECUTIVE_FAILURES_MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_doubles_from_the_base_to_the_cap_with_bounded_jitter() {
        let schedule = RetrySchedule::default();
        let waits: Vec<i64> = (1..=12).map(|n| schedule.backoff_ms(n)).collect();
        assert_eq!(&waits[..4], &[30_000, 60_000, 120_000, 240_000]);
        assert_eq!(waits[9], 15_360_000);
        assert_eq!(waits[10], WEBHOOK_RETRY_CAP_DEFAULT_MS, "the cap holds");
        assert_eq!(schedule.backoff_ms(u32::MAX), WEBHOOK_RETRY_CAP_DEFAULT_MS, "no overflow");
        assert_eq!(schedule.wait_ms(1, 1_000, None), 33_000);
        assert_eq!(schedule.wait_ms(1, -1_000, None), 27_000);
        assert_eq!(schedule.wait_ms(1, 99_999, None), 33_000, "jitter is clamped to ±10 %");
    }

    #[test]
    fn retry_after_lengthens_a_wait_up_to_its_own_maximum() {
        let schedule = RetrySchedule { base_ms: 100, cap_ms: 10_000 };
        assert_eq!(schedule.wait_ms(1, 0, Some(5_000)), 5_000);
        assert_eq!(schedule.wait_ms(1, 0, Some(50)), 100, "a shorter Retry-After does not shorten it");
        assert_eq!(schedule.wait_ms(1, 0, Some(20_000)), 20_000, "the receiver asked: past the cap");
        assert_eq!(schedule.wait_ms(1, 0, Some(i64::MAX)), WEBHOOK_RETRY_AFTER_MAX_MS);
        assert_eq!(schedule.wait_ms(1, 0, Some(-5)), 100);
    }

    #[test]
    fn the_tenth_failure_in_a_row_disables_and_a_success_resets() {
        let schedule = RetrySchedule { base_ms: 10, cap_ms: 100 };
        let ninth = after_attempt(&schedule, false, 9, 8, 0, 0, None);
        assert!(!ninth.disable_endpoint);
        let tenth = after_attempt(&schedule, false, 10, 9, 1_000, 0, None);
        assert!(tenth.disable_endpoint);
        assert_eq!(tenth.delivery, DeliveryNext::RetryAt { at_ms: 1_100 });
        let success = after_attempt(&schedule, true, 3, 9, 0, 0, None);
        assert_eq!((success.delivery, success.consecutive_failures), (DeliveryNext::Succeeded, 0));
        let last = after_attempt(&schedule, false, WEBHOOK_DELIVERY_MAX_ATTEMPTS, 0, 0, 0, None);
        assert_eq!(last.delivery, DeliveryNext::Failed);
    }

    #[test]
    fn event_selection_and_names() {
        assert!(EventSelection::All.includes("payout.paid"));
        let only = EventSelection::Only(vec!["payout.paid".to_owned()]);
        assert!(only.includes("payout.paid") && !only.includes("payout.failed"));
        assert_eq!(EventSelection::from_stored_text(&only.stored_text()), only);
        assert!(is_event_type_name("payment_intent.succeeded"));
        for bad in ["", "payout", "Payout.paid", "payout..paid", "payout.paid,x", "payout.paid "] {
            assert!(!is_event_type_name(bad), "{bad:?}");
        }
    }
}
