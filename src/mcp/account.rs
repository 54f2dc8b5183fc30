//! Toolset `account`: who you are, system health, balances.

use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};

use crate::engine::principal::Principal;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::ledger::AccountKind;
use crate::engine::money::AssetRef;
use crate::limits;
use crate::mcp::HarepayServer;
use crate::mcp::common::{ToolFailure, parse_asset};
use crate::store::BalanceRow;
use crate::views::MoneyView;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

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
pub struct SystemStatus {
    /// "ok", or "ledger_unsound" when verification found a problem.
    pub status: String,
    pub version: String,
    /// The mode of the key in use: "test" or "live".
    pub mode: String,
    pub ledger: LedgerStatusView,
    /// Test mode: payments settle by themselves this long after creation (null: never).
    pub test_auto_settle_after_ms: Option<u64>,
    /// Server time, Unix milliseconds.
    pub server_time_ms: i64,
    pub writer: WriterView,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LimitsView {
    pub amount_min_minor: i64,
    pub amount_max_minor: i64,
    pub idempotency_key_max_chars: usize,
    pub list_limit_max: u32,
}

/// A key's payout spend limit in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpendLimitView {
    pub currency: String,
    /// Largest single payout; null is unlimited.
    pub max_per_payout: Option<MoneyView>,
    /// Most in payouts over any rolling 24 hours; null is unlimited.
    pub max_per_day: Option<MoneyView>,
    /// Payouts by this key's owner, through any of their keys, in the last 24 hours (failed and
    /// canceled ones excluded).
    pub spent_last_24h: MoneyView,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WhoAmI {
    pub merchant_id: String,
    pub merchant_name: String,
    /// "test" or "live": a key sees only objects of its own mode.
    pub mode: String,
    /// admin, maker, approver or read_only.
    pub role: String,
    pub key_id: String,
    /// The person or service the key was issued to.
    pub owner: String,
    /// Whether this key may call write tools on this server.
    pub can_write: bool,
    /// The tools this key sees here.
    pub tools: Vec<String>,
    pub limits: LimitsView,
    /// The payout spend limits that bind this key, per currency that has one: the strictest set
    /// on any key of its owner, counted over all their keys.
    pub spend_limits: Vec<SpendLimitView>,
    /// Payouts at or above these amounts need a second person's approval.
    pub approval_thresholds: Vec<MoneyView>,
    /// The most the whole merchant may pay out per currency in a rolling day (all keys).
    pub merchant_daily_payout_limits: Vec<MoneyView>,
    /// How long a payout waits for approval before it expires, in milliseconds.
    pub approval_expiry_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceView {
    pub currency: String,
    /// Can be paid out or refunded.
    pub available: MoneyView,
    /// Received, not yet settled.
    pub pending: MoneyView,
    /// Held for payouts in flight.
    pub reserved: MoneyView,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceList {
    /// One entry per currency that has ever moved, by currency code.
    pub data: Vec<BalanceView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetBalanceArgs {
    /// Currency or asset code, e.g. "NGN" or "USDC".
    #[schemars(length(max = limits::ASSET_CODE_MAX_CHARS))]
    pub asset: String,
}

fn balance_view(asset: AssetRef, rows: &[BalanceRow]) -> BalanceView {
    let amount_of = |account: AccountKind| {
        rows.iter()
            .find(|row| row.asset.code == asset.code && row.account == account)
            .map_or(0, |row| row.balance_minor)
    };
    BalanceView {
        currency: asset.code.to_owned(),
        available: MoneyView::new(asset, amount_of(AccountKind::Available)),
        pending: MoneyView::new(asset, amount_of(AccountKind::Pending)),
        reserved: MoneyView::new(asset, amount_of(AccountKind::Reserved)),
    }
}

#[tool_router(router = account_tools, vis = "pub(crate)")]
impl HarepayServer {
    /// Server and ledger health: checks that every transaction and every asset's postings sum to
    /// zero, that each balance equals its postings, that no merchant balance is negative and that
    /// every amount is an integer; and group-commit counters.
    #[tool(
        title = "System status",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn system_status(
        &self,
        Parameters(_): Parameters<NoArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<SystemStatus>, ToolFailure> {
        let report = self.app().verify_ledger().await?;
        let problems = report.problems();
        Ok(Json(SystemStatus {
            status: if report.is_sound() { "ok" } else { "ledger_unsound" }.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            mode: principal.scope.mode.code().to_owned(),
            ledger: LedgerStatusView {
                transaction_count: report.transaction_count,
                posting_count: report.posting_count,
                sound: report.is_sound(),
                problems,
            },
            test_auto_settle_after_ms: self.app().rules().test_auto_settle_after_ms,
            server_time_ms: self.app().now_ms(),
            writer: {
                use std::sync::atomic::Ordering::Relaxed;
                let stats = self.app().writer_stats();
                WriterView {
                    groups_committed: stats.groups_committed.load(Relaxed),
                    commands_committed: stats.commands_committed.load(Relaxed),
                    largest_group: stats.largest_group.load(Relaxed),
                }
            },
        }))
    }

    /// Who this API key is: merchant, mode (test/live), role, owner, the tools it can use here,
    /// its payout spend limits, the approval thresholds, and the other limits that apply.
    #[tool(
        title = "Who am I",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn whoami(
        &self,
        Parameters(_): Parameters<NoArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<WhoAmI>, ToolFailure> {
        let tools: Vec<String> = self.visible_tools(&principal).into_iter().map(|tool| tool.name.to_string()).collect();
        let can_write = tools.iter().any(|name| {
            self.registry.iter().any(|registered| registered.tool.name == name.as_str() && !registered.is_read_only())
        });
        let spend_limits = self
            .app()
            .spend_limits(&principal)
            .await?
            .into_iter()
            .map(|(asset, limit, spent_minor)| SpendLimitView {
                currency: asset.code.to_owned(),
                max_per_payout: limit.max_per_payout_minor.map(|minor| MoneyView::new(asset, minor)),
                max_per_day: limit.max_per_day_minor.map(|minor| MoneyView::new(asset, minor)),
                spent_last_24h: MoneyView::new(asset, spent_minor),
            })
            .collect();
        let approvals = &self.app().rules().approvals;
        let money_views = |by_asset: &std::collections::BTreeMap<&'static str, i64>| -> Vec<MoneyView> {
            by_asset
                .iter()
                .map(|(code, minor)| MoneyView::new(crate::engine::money::Asset::from_stored_code(code), *minor))
                .collect()
        };
        let approval_thresholds = money_views(&approvals.threshold_minor_by_asset);
        let merchant_daily_payout_limits = money_views(&approvals.merchant_max_per_day_minor_by_asset);
        Ok(Json(WhoAmI {
            spend_limits,
            approval_thresholds,
            merchant_daily_payout_limits,
            approval_expiry_ms: approvals.expiry_ms,
            merchant_id: principal.scope.merchant_id.clone(),
            merchant_name: principal.merchant_name.clone(),
            mode: principal.scope.mode.code().to_owned(),
            role: principal.role.code().to_owned(),
            key_id: principal.key_id.clone(),
            owner: principal.owner.clone(),
            can_write,
            tools,
            limits: LimitsView {
                amount_min_minor: limits::AMOUNT_MIN_MINOR,
                amount_max_minor: limits::AMOUNT_MAX_MINOR,
                idempotency_key_max_chars: limits::IDEMPOTENCY_KEY_MAX_CHARS,
                list_limit_max: limits::LIST_LIMIT_MAX,
            },
        }))
    }

    /// Balances in every currency that has moved: available, pending and reserved, in minor
    /// units with a display string.
    #[tool(
        title = "List balances",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_balances(
        &self,
        Parameters(_): Parameters<NoArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<BalanceList>, ToolFailure> {
        let rows = self.app().balances(&principal, None).await?;
        let mut assets: Vec<AssetRef> = rows.iter().map(|row| row.asset).collect();
        assets.dedup_by(|a, b| a.code == b.code);
        Ok(Json(BalanceList { data: assets.into_iter().map(|asset| balance_view(asset, &rows)).collect() }))
    }

    /// The balance of one currency: available (can be paid out or refunded), pending (received,
    /// not yet settled) and reserved (held for payouts). Zero for a currency that never moved.
    #[tool(
        title = "Get balance",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_balance(
        &self,
        Parameters(args): Parameters<GetBalanceArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<BalanceView>, ToolFailure> {
        let asset = parse_asset(&args.asset, "asset")?;
        let rows = self.app().balances(&principal, Some(asset)).await?;
        Ok(Json(balance_view(asset, &rows)))
    }
}
