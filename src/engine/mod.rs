//! The pure core: money, the ledger and the state machines. No IO, no clock, no randomness:
//! the time (`now_ms`) and an `IdSource` are passed in, so every decision can be replayed.
//! Nothing here is serializable; the outer layers convert at their boundaries.

pub mod api_key;
pub mod catalog;
pub mod customer;
pub mod dispute;
pub mod error;
pub mod identity;
pub mod interval;
pub mod invoice;
pub mod invoice_payment;
pub mod ledger;
pub mod money;
pub mod payment;
pub mod payout;
pub mod permission;
pub mod prepaid;
pub mod pricing;
pub mod principal;
pub mod rail;
pub mod retry;
pub mod rules;
pub mod subscription;
pub mod test_clock;
pub mod usage;
pub mod webhook;

/// Hands out object ids. The engine asks for an id with a type prefix (`pi`, `re`, `ltx`);
/// production uses time-ordered UUIDs, tests a counter.
pub trait IdSource {
    fn next_id(&mut self, prefix: &str) -> String;
}

/// Deterministic ids for tests and simulations: `pi_000001`, `pi_000002`, …
#[derive(Debug, Default)]
pub struct SequentialIds {
    next: u64,
}

impl IdSource for SequentialIds {
    fn next_id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_{:06}", self.next)
    }
}

#[cfg(test)]
mod billing_proptests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod receipt_proptests;
