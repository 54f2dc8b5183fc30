//! `submit_dispute_evidence`: stage evidence, or submit it once, before its due date.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::disputes::{close_dispute, load_dispute_for_update};
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit};
use crate::engine::dispute::{self, DisputeEvidence};
use crate::engine::permission::Action;
use crate::engine::principal::{Mode, Principal};
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::disputes::EvidenceInput;
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::DisputeView;

pub const ENTRY: Entry = Entry::write::<SubmitDisputeEvidence>();

pub struct SubmitDisputeEvidence;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitDisputeEvidenceArgs {
    /// The dispute, `dp_…`, in needs_response.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// Laid over what was staged: a field given replaces it, one omitted is kept.
    #[serde(default)]
    pub evidence: EvidenceInput,
    /// false (default): stage only. true: submit, once; the dispute goes under review.
    #[serde(default)]
    pub submit: bool,
    /// false (default): preview only. true: save.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(SubmitDisputeEvidenceArgs);

pub struct SubmitDisputeEvidenceCommand {
    pub dispute_id: String,
    pub evidence: DisputeEvidence,
    pub submit: bool,
}

impl WriteOperation for SubmitDisputeEvidence {
    const SPEC: Spec = Spec {
        name: "submit_dispute_evidence",
        toolset: Toolset::Disputes,
        title: "Stage or submit dispute evidence",
        description: "Answer a dispute: submit: false stages evidence (text fields, file references); submit: true \
                      submits it, once, before evidence_due_by_ms (else evidence_past_due or \
                      evidence_already_submitted). In test mode the review then ends as the dispute's test_outcome \
                      says, moving the held amount. Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: true, idempotent: true, open_world: true },
        examples: &[
            r#"{"id": "dp_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "evidence": {"explanation": "Delivered on 3 May, signed for.", "file_references": ["https://files.example.com/pod-1001.pdf"]}, "confirm": true, "idempotency_key": "evidence-1001"}"#,
            r#"{"id": "dp_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "submit": true, "confirm": true, "idempotency_key": "evidence-1001-submit"}"#,
        ],
    };
    type Args = SubmitDisputeEvidenceArgs;
    type Command = SubmitDisputeEvidenceCommand;

    fn command(args: &SubmitDisputeEvidenceArgs) -> Result<SubmitDisputeEvidenceCommand, Failure> {
        Ok(SubmitDisputeEvidenceCommand {
            dispute_id: check_object_id(&args.id, "dp_", "id")?,
            evidence: args.evidence.to_engine()?,
            submit: args.submit,
        })
    }

    fn describe(command: &SubmitDisputeEvidenceCommand) -> String {
        let verb = if command.submit { "submit" } else { "stage" };
        format!("{verb} evidence for {}", command.dispute_id)
    }

    fn message(dispute: &DisputeView, outcome: Outcome) -> String {
        let preview = outcome == Outcome::Preview;
        match dispute.status.as_str() {
            "needs_response" if preview => format!("Would stage evidence for {}.", dispute.id),
            "needs_response" => format!(
                "Staged evidence for {}; submit it (submit: true) before {} ms.",
                dispute.id, dispute.evidence_due_by_ms
            ),
            status => format!(
                "{} evidence for {}; it is now {status}.",
                if preview { "Would submit" } else { "Submitted" },
                dispute.id
            ),
        }
    }
}

impl WriteCommand for SubmitDisputeEvidenceCommand {
    type View = DisputeView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<DisputeView>, AppError> {
        let dispute = load_dispute_for_update(session, &actor.scope, &self.dispute_id)?;
        let next = if self.submit {
            dispute::submit_evidence(&dispute, &self.evidence, context.now_ms)?
        } else {
            dispute::stage_evidence(&dispute, &self.evidence, context.now_ms)?
        };
        session.update_dispute(&next)?;
        emit(session, context, &next, "charge.dispute.updated")?;
        // Test mode: the simulated bank reviews the evidence as soon as it is submitted.
        let next = match next.simulated_outcome {
            Some(outcome) if self.submit && actor.scope.mode == Mode::Test => {
                close_dispute(session, context, &next, outcome)?
            }
            _ => next,
        };
        Ok(Applied::new(DisputeView::from_engine(&next), &next.id, vec![next.amount.asset]))
    }
}
