//! `approve_payout`: a second person lets a payout waiting for approval go to the rail.

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

pub const ENTRY: Entry = Entry::write::<ApprovePayout>();

pub struct ApprovePayout;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovePayoutArgs {
    /// The payout awaiting approval, `po_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// Why it is approved, for the audit log.
    #[serde(default)]
    #[schemars(length(max = limits::REASON_MAX_CHARS))]
    pub reason: Option<String>,
    /// false (default): preview only. true: approve; the payout goes to the rail.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(ApprovePayoutArgs);

pub struct ApprovePayoutCommand {
    pub payout_id: String,
    pub reason: Option<String>,
}

impl WriteOperation for ApprovePayout {
    const SPEC: Spec = Spec {
        name: "approve_payout",
        toolset: Toolset::Payouts,
        title: "Approve payout",
        description: "Approver keys only: approve a payout in pending_approval; it goes to the rail. The approver must be another person (key owner) than the maker. Previews unless confirm: true.",
        action: Action::DecideApproval,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: true, idempotent: true, open_world: true },
        examples: &[r#"{"id": "po_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "reason": "vendor verified", "confirm": true, "idempotency_key": "approve-2001"}"#],
    };
    type Args = ApprovePayoutArgs;
    type Command = ApprovePayoutCommand;

    fn command(args: &ApprovePayoutArgs) -> Result<ApprovePayoutCommand, Failure> {
        Ok(ApprovePayoutCommand {
            payout_id: payout_id(&args.id)?,
            reason: optional_text(args.reason.clone(), "reason", limits::REASON_MAX_CHARS)?,
        })
    }

    fn describe(command: &ApprovePayoutCommand) -> String {
        match &command.reason {
            Some(reason) => format!("approve {}: {reason}", command.payout_id),
            None => format!("approve {}", command.payout_id),
        }
    }

    fn message(payout: &PayoutView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would approve" } else { "Approved" };
        format!("{verb} {} ({}, created by {}); it goes to the rail.", payout.id, payout.amount.display, payout.created_by)
    }
}

impl WriteCommand for ApprovePayoutCommand {
    type View = PayoutView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<PayoutView>, AppError> {
        let scope = &actor.scope;
        let current = load_payout_for_update(session, scope, &self.payout_id)?;
        let approved = payout::approve_payout(
            &current,
            actor,
            self.reason.clone(),
            context.now_ms,
            context.rules.test_auto_settle_after_ms,
        )?;
        session.update_payout(&approved)?;
        let applied = payout_applied(&approved);
        for event_type in ["payout.approved", "payout.processing"] {
            emit_json(session, context, scope, event_type, &approved.id, applied.view_json.clone())?;
        }
        Ok(applied)
    }
}
