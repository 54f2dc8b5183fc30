//! Toolset `account`: who you are, system health, balances.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::ledger::AccountKind;
use crate::engine::money::AssetRef;
use crate::store::BalanceRow;
use crate::views::MoneyView;

crate::ops::operations!(get_balance, list_balances, system_status, whoami);

/// Operations without arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceView {
    pub currency: String,
    /// Can be paid out or refunded.
    pub available: MoneyView,
    /// Received, not yet settled.
    pub pending: MoneyView,
    /// Held for payouts in flight and open disputes.
    pub reserved: MoneyView,
    /// What the merchant owes: disputed amounts available could not cover (0 when nothing is owed).
    pub owed: MoneyView,
}

impl BalanceView {
    fn of(asset: AssetRef, rows: &[BalanceRow]) -> BalanceView {
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
            owed: MoneyView::new(asset, amount_of(AccountKind::Owed).saturating_neg()),
        }
    }
}
