//! `get_balance`: one currency's balances.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::account::BalanceView;
use crate::ops::args::parse_asset;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};

pub const ENTRY: Entry = Entry::read::<GetBalance>();

pub struct GetBalance;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetBalanceArgs {
    /// Currency or asset code, e.g. "NGN" or "USDC".
    #[schemars(length(max = limits::ASSET_CODE_MAX_CHARS))]
    pub asset: String,
}

impl ReadOperation for GetBalance {
    const SPEC: Spec = Spec {
        name: "get_balance",
        toolset: Toolset::Account,
        title: "Get balance",
        description: "The balance of one currency: available (can be paid out or refunded), pending (received, \
                      not yet settled) and reserved (held for payouts). Zero for a currency that never moved.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"asset": "NGN"}"#],
    };
    type Args = GetBalanceArgs;
    type Output = BalanceView;

    fn validate(args: &GetBalanceArgs) -> Result<(), Failure> {
        parse_asset(&args.asset, "asset").map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: GetBalanceArgs) -> Result<BalanceView, Failure> {
        let asset = parse_asset(&args.asset, "asset")?;
        let scope = principal.scope.clone();
        let rows = context.app.read(move |store| Ok(store.list_balance_rows(&scope)?)).await?;
        Ok(BalanceView::of(asset, &rows))
    }
}
