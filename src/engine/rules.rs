//! The settings money-moving decisions depend on, gathered in one value the app holds: fees and
//! FX rates (`pricing`), the payout approval policy (`payout`) and the test-mode simulator.

use crate::engine::payout::ApprovalPolicy;
use crate::engine::pricing::{FeeSchedule, FxTable};

/// Settings the money-moving decisions depend on.
#[derive(Debug, Clone, Default)]
pub struct PaymentRules {
    pub fees: FeeSchedule,
    pub fx: FxTable,
    /// Maker-checker thresholds and approval expiry for payouts.
    pub approvals: ApprovalPolicy,
    /// Test mode: the simulated rails settle a payment, or move a payout one step, this long
    /// after it became due. `None` turns the simulator off.
    pub test_auto_settle_after_ms: Option<u64>,
}
