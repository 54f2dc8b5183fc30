//! What the writer thread is asked to do and what it answers: every kind of write (a tool's
//! command, a refusal to audit, a scheduler batch, an operator's key command) and its outcome.
//! The modules that carry writes out (`commands`, `scheduler`, `keys`) and the writer that
//! dispatches them all use these types, so they sit below all of them and import none of them
//! but `keys`' command type.

use crate::app::keys::AdminCommand;
use crate::engine::ledger::AccountKind;
use crate::engine::money::AssetRef;
use crate::engine::payment::NewPaymentIntent;
use crate::engine::payout::NewPayout;
use crate::engine::principal::{Principal, Role, Scope};
use crate::engine::retry::RetryPolicy;
use crate::store::ScheduledStep;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyInput {
    pub key: String,
    /// SHA-256 of the tool name and its canonical arguments (without `confirm` and the key).
    pub request_sha256_hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatedOutcome {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    CreatePaymentIntent(NewPaymentIntent),
    RefundPayment { payment_intent_id: String, amount_minor: Option<i64>, reason: Option<String> },
    CancelPaymentIntent { payment_intent_id: String },
    SimulatePayment { payment_intent_id: String, outcome: SimulatedOutcome },
    CreatePayout(NewPayout),
    CancelPayout { payout_id: String },
    ApprovePayout { payout_id: String, reason: Option<String> },
    RejectPayout { payout_id: String, reason: String },
}

impl Command {
    /// The roles that may issue this command: makers initiate, checkers decide, admins do both.
    pub fn allowed_roles(&self) -> &'static [Role] {
        match self {
            Command::ApprovePayout { .. } | Command::RejectPayout { .. } => &[Role::Approver, Role::Admin],
            _ => &[Role::Maker, Role::Admin],
        }
    }
}

/// A write asked for through a tool, by an authenticated key.
#[derive(Debug, Clone)]
pub struct ToolWrite {
    pub actor: Principal,
    pub tool: &'static str,
    /// Without `confirm` nothing is saved but the audit record: the caller gets a preview.
    pub confirm: bool,
    pub idempotency: Option<IdempotencyInput>,
    pub command: Command,
}

#[derive(Debug, Clone)]
pub enum WriteRequest {
    Tool(ToolWrite),
    /// A write attempt refused before it reached the engine (bad input, wrong role, key in use):
    /// only its audit record is written.
    RecordRefusal {
        actor: Principal,
        tool: String,
        idempotency_key: Option<String>,
        error_type: String,
        message: String,
    },
    /// One batch of the scheduler's work (see `scheduler`).
    Scheduled {
        work: ScheduledWork,
        policy: RetryPolicy,
    },
    /// Key management and first-start set-up (`harepay keys …`).
    Admin(AdminCommand),
}

/// A balance before and after a command, for previews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceChange {
    pub asset: AssetRef,
    pub account: AccountKind,
    pub before_minor: i64,
    pub after_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// `confirm` was false: what would have happened, then undone.
    Preview {
        response_json: String,
        balance_changes: Vec<BalanceChange>,
    },
    Executed {
        response_json: String,
    },
    /// The idempotency key was used before with the same request: the first result, again.
    Replayed {
        response_json: String,
    },
    /// Non-tool writes report here.
    Done {
        detail: String,
    },
    /// What a scheduler batch did, and which of its steps failed.
    Scheduled(ScheduledWorkReport),
}

/// One write of the scheduler's. Expiries and the test rails are separate writes, so that
/// expiries never wait for simulation work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduledWork {
    /// Payouts whose approval window closed unanswered.
    ApprovalExpiries,
    /// Test-mode settlements, then test-mode payout steps.
    TestRails,
}

/// A step that failed in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    pub step: ScheduledStep,
    pub object_id: String,
    pub scope: Scope,
    /// Failed tries in a row, this one included.
    pub attempts: u32,
    /// The error as the retry record keeps it (bounded).
    pub error: String,
    /// When it is tried again; `None` when this failure parked it.
    pub next_attempt_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduledWorkReport {
    pub steps_done: u32,
    pub failures: Vec<StepFailure>,
}

impl ScheduledWorkReport {
    pub(crate) fn absorb(&mut self, other: ScheduledWorkReport) {
        self.steps_done += other.steps_done;
        self.failures.extend(other.failures);
    }
}
