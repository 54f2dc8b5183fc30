//! `system_status`: the server and this key's ledger, verified.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::ops::account::NoArgs;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};

pub const ENTRY: Entry = Entry::read::<SystemStatus>();

pub struct SystemStatus;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerStatusView {
    pub transaction_count: i64,
    pub posting_count: i64,
    /// True when every asset's postings sum to zero, every balance equals its postings, no
    /// merchant balance is negative and every amount is an integer.
    pub sound: bool,
    /// What is wrong, in words; empty when sound.
    pub problems: Vec<String>,
}

/// Group commit since the server started: how many durable commits carried how many commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WriterView {
    /// Durable commits, one fsync each.
    pub groups_committed: u64,
    pub commands_committed: u64,
    pub largest_group: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SystemStatusView {
    /// "ok", or "ledger_unsound" when verification found a problem.
    pub status: String,
    pub version: String,
    /// The mode of the key in use: "test" or "live".
    pub mode: String,
    /// This merchant's ledger in this mode (the operator checks the whole file with `harepay verify`).
    pub ledger: LedgerStatusView,
    /// Test mode: payments settle by themselves this long after creation (null: never).
    pub test_auto_settle_after_ms: Option<u64>,
    /// Server time, Unix milliseconds.
    pub server_time_ms: i64,
    pub writer: WriterView,
}

impl ReadOperation for SystemStatus {
    const SPEC: Spec = Spec {
        name: "system_status",
        toolset: Toolset::Account,
        title: "System status",
        description: "Server and ledger health for this merchant and mode: checks that every transaction and every asset's postings sum to zero, that each balance equals its postings, that no merchant balance is negative and that every amount is an integer; and group-commit counters.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{}"#],
    };
    type Args = NoArgs;
    type Output = SystemStatusView;

    async fn run(context: &OpContext, principal: &Principal, _: NoArgs) -> Result<SystemStatusView, Failure> {
        let app = &context.app;
        let scope = principal.scope.clone();
        let report = app.read(move |store| Ok(store.verify_ledger(Some(&scope))?)).await?;
        let stats = app.writer_stats();
        let counter = |value: &std::sync::atomic::AtomicU64| value.load(std::sync::atomic::Ordering::Relaxed);
        Ok(SystemStatusView {
            status: if report.is_sound() { "ok" } else { "ledger_unsound" }.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            mode: principal.scope.mode.code().to_owned(),
            ledger: LedgerStatusView {
                transaction_count: report.transaction_count,
                posting_count: report.posting_count,
                sound: report.is_sound(),
                problems: report.problems(),
            },
            test_auto_settle_after_ms: app.rules().test_auto_settle_after_ms,
            server_time_ms: app.now_ms(),
            writer: WriterView {
                groups_committed: counter(&stats.groups_committed),
                commands_committed: counter(&stats.commands_committed),
                largest_group: counter(&stats.largest_group),
            },
        })
    }
}
