//! `list_balances`: every currency's balances.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::money::AssetRef;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::ops::account::{BalanceView, NoArgs};
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};

pub const ENTRY: Entry = Entry::read::<ListBalances>();

pub struct ListBalances;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceList {
    /// One entry per currency that has ever moved, by currency code.
    pub data: Vec<BalanceView>,
}

impl ReadOperation for ListBalances {
    const SPEC: Spec = Spec {
        name: "list_balances",
        toolset: Toolset::Account,
        title: "List balances",
        description: "Balances in every currency that has moved: available, pending and reserved, in minor units \
                      with a display string.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{}"#],
    };
    type Args = NoArgs;
    type Output = BalanceList;

    async fn run(context: &OpContext, principal: &Principal, _: NoArgs) -> Result<BalanceList, Failure> {
        let scope = principal.scope.clone();
        let rows = context.app.read(move |store| Ok(store.list_balance_rows(&scope)?)).await?;
        let mut assets: Vec<AssetRef> = rows.iter().map(|row| row.asset).collect();
        assets.dedup_by(|a, b| a.code == b.code);
        Ok(BalanceList { data: assets.into_iter().map(|asset| BalanceView::of(asset, &rows)).collect() })
    }
}
