//! `reject_payout`: a second person refuses a payout waiting for approval; its funds return.

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
use crate::ops::args::{KeyRule, optional_text};
use crate::ops::payouts::{payout_applied, payout_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::PayoutView;

pub const ENTRY: Entry = Entry::write::<RejectPayout>();

pub struct RejectPayout;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectPayoutArgs {
    /// The payout awaiting approval, `po_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// Why it is rejected (required; recorded and shown to the maker).
    #[schemars(length(max = limits::REASON_MAX_CHARS))]
    pub reason: String,
    /// false (default): preview only. true: reject; the payout is canceled, funds released.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(RejectPayoutArgs);

pub struct RejectPayoutCommand {
    pub payout_id: String,
    pub reason: String,
}

impl WriteOperation for RejectPayout {
    const SPEC: Spec = Spec {
        name: "reject_payout",
        toolset: Toolset::Payouts,
        title: "Reject payout",
        description: "Approver keys only: reject a payout in pending_approval, with a reason; it is canceled and its funds return to available. Previews unless confirm: true.",
        action: Action::DecideApproval,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[r#"{"id": "po_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "reason": "unknown payee", "confirm": true, "idempotency_key": "reject-2001"}"#],
    };
    type Args = RejectPayoutArgs;
    type Command = RejectPayoutCommand;

    fn command(args: &RejectPayoutArgs) -> Result<RejectPayoutCommand, Failure> {
        let reason = optional_text(Some(args.reason.clone()), "reason", limits::REASON_MAX_CHARS)?
            .ok_or_else(|| Failure::invalid("reason", "a rejection needs a reason"))?;
        Ok(RejectPayoutCommand { payout_id: payout_id(&args.id)?, reason })
    }

    fn describe(command: &RejectPayoutCommand) -> String {
        format!("reject {}: {}", command.payout_id, command.reason)
    }

    fn message(payout: &PayoutView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would reject" } else { "Rejected" };
        format!("{verb} {} ({}); the funds return to available.", payout.id, payout.amount.display)
    }
}

impl WriteCommand for RejectPayoutCommand {
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
        let (rejected, release) = payout::reject_payout(
            &current,
            actor,
            self.reason.clone(),
            &mut balances,
            context.ids,
            context.now_ms,
        )?;
        session.update_payout(&rejected)?;
        session.post_ledger_transaction(scope, &release, context.now_ms)?;
        let applied = payout_applied(&rejected);
        emit_json(session, context, scope, "payout.rejected", &rejected.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
