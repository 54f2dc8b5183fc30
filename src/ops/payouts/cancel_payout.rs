//! `cancel_payout`: take back a payout the rail has not picked up.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::transitions::load_payout_for_update;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::payout;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::KeyRule;
use crate::ops::payouts::{payout_applied, payout_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::PayoutView;

pub const ENTRY: Entry = Entry::write::<CancelPayout>();

pub struct CancelPayout;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelPayoutArgs {
    /// The payout to cancel, `po_…`; it must be pending or pending_approval.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// false (default): preview only. true: cancel and release the funds.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CancelPayoutArgs);

pub struct CancelPayoutCommand {
    pub payout_id: String,
}

impl WriteOperation for CancelPayout {
    const SPEC: Spec = Spec {
        name: "cancel_payout",
        toolset: Toolset::Payouts,
        title: "Cancel payout",
        description: "Cancel a payout the rail has not picked up (pending or pending_approval); its funds return to available. Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[r#"{"id": "po_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "confirm": true, "idempotency_key": "cancel-2001"}"#],
    };
    type Args = CancelPayoutArgs;
    type Command = CancelPayoutCommand;

    fn command(args: &CancelPayoutArgs) -> Result<CancelPayoutCommand, Failure> {
        Ok(CancelPayoutCommand { payout_id: payout_id(&args.id)? })
    }

    fn describe(command: &CancelPayoutCommand) -> String {
        format!("cancel {}", command.payout_id)
    }

    fn message(payout: &PayoutView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would cancel" } else { "Canceled" };
        format!("{verb} {} ({}); the funds return to available.", payout.id, payout.amount.display)
    }
}

impl WriteCommand for CancelPayoutCommand {
    type View = PayoutView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<PayoutView>, AppError> {
        let scope = &actor.scope;
        let current = load_payout_for_update(session, scope, &self.payout_id)?;
        let mut balances = session.balances_for_update(scope, &[current.amount.asset])?;
        let (canceled, release) = payout::cancel_payout(&current, actor, &mut balances, context.ids, context.now_ms)?;
        session.update_payout(&canceled)?;
        session.post_ledger_transaction(scope, &release, context.now_ms)?;
        let applied = payout_applied(&canceled);
        emit_json(session, context, scope, "payout.canceled", &canceled.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
