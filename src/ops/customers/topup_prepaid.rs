//! `topup_prepaid`: credit a customer's prepaid balance (test mode).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::customers::{customer_view, load_customer_for_update};
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::money::Money;
use crate::engine::permission::Action;
use crate::engine::prepaid;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, MoneyInput, check_object_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::{MoneyView, PrepaidTopupView};

pub const ENTRY: Entry = Entry::write::<TopupPrepaid>();

pub struct TopupPrepaid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopupPrepaidArgs {
    /// The customer, `cus_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub customer_id: String,
    /// e.g. {"amount": 100000, "currency": "NGN"} (₦1,000.00).
    pub amount: MoneyInput,
    /// false (default): preview only. true: credit.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true; unique per top-up.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(TopupPrepaidArgs);

pub struct TopupPrepaidCommand {
    pub customer_id: String,
    pub amount: Money,
}

impl WriteOperation for TopupPrepaid {
    const SPEC: Spec = Spec {
        name: "topup_prepaid",
        toolset: Toolset::Customers,
        title: "Top up prepaid balance",
        description: "Test mode: credit a customer's prepaid balance (auto-charged usage is paid from it). Live mode: test_mode_only until a real payment can fund it. Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: false, idempotent: true, open_world: false },
        examples: &[r#"{"customer_id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "amount": {"amount": 100000, "currency": "NGN"}, "confirm": true, "idempotency_key": "topup-ada-1"}"#],
    };
    type Args = TopupPrepaidArgs;
    type Command = TopupPrepaidCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id"];

    fn command(args: &TopupPrepaidArgs) -> Result<TopupPrepaidCommand, Failure> {
        let (amount, network) = args.amount.parse("amount")?;
        if network.is_some() {
            return Err(Failure::invalid(
                "amount.network",
                "a prepaid balance is kept per currency, whatever network funds it; omit amount.network",
            ));
        }
        Ok(TopupPrepaidCommand { customer_id: check_object_id(&args.customer_id, "cus_", "customer_id")?, amount })
    }

    fn describe(command: &TopupPrepaidCommand) -> String {
        format!("top up the prepaid balance of {} by {}", command.customer_id, command.amount.display())
    }

    fn message(topup: &PrepaidTopupView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would credit" } else { "Credited" };
        format!(
            "{verb} {} to the prepaid balance of {} ({} → {}). Test mode: funded by the simulator; in live mode a real payment funds a top-up.",
            topup.amount.display, topup.customer.id, topup.balance_before.display, topup.balance_after.display
        )
    }
}

impl WriteCommand for TopupPrepaidCommand {
    type View = PrepaidTopupView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<PrepaidTopupView>, AppError> {
        let scope = &actor.scope;
        let asset = self.amount.asset;
        let customer = load_customer_for_update(session, scope, &self.customer_id)?;
        let mut balances = session.balances_with_customers_for_update(scope, &[asset], &[customer.id.as_str()])?;
        let before_minor = balances.customer_prepaid(&customer.id, asset);
        let transaction = prepaid::topup(&customer, self.amount, &mut balances, context.ids.next_id("ltx"))?;
        session.post_ledger_transaction(scope, &transaction, context.now_ms)?;
        let view = PrepaidTopupView {
            id: transaction.id.clone(),
            object: "prepaid_topup".to_owned(),
            amount: MoneyView::new(asset, self.amount.amount_minor),
            balance_before: MoneyView::new(asset, before_minor),
            balance_after: MoneyView::new(asset, balances.customer_prepaid(&customer.id, asset)),
            customer: customer_view(session, &customer)?,
            created_at_ms: context.now_ms,
        };
        let applied = Applied::new(view, &transaction.id, vec![asset]);
        emit_json(session, context, scope, "customer.prepaid_topped_up", &customer.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
