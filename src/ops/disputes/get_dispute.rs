//! `get_dispute`: one dispute with its evidence.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::disputes::load_dispute;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::check_object_id;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::views::DisputeView;

pub const ENTRY: Entry = Entry::read::<GetDispute>();

pub struct GetDispute;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetDisputeArgs {
    /// The dispute id, `dp_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
}

impl ReadOperation for GetDispute {
    const SPEC: Spec = Spec {
        name: "get_dispute",
        toolset: Toolset::Disputes,
        title: "Get dispute",
        description: "Retrieve one dispute: amount held, status, evidence staged or submitted, and its due date.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"id": "dp_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = GetDisputeArgs;
    type Output = DisputeView;

    fn validate(args: &GetDisputeArgs) -> Result<(), Failure> {
        check_object_id(&args.id, "dp_", "id").map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: GetDisputeArgs) -> Result<DisputeView, Failure> {
        let id = check_object_id(&args.id, "dp_", "id")?;
        let scope = principal.scope.clone();
        let dispute = context.app.read(move |store| load_dispute(store, &scope, &id)).await?;
        Ok(DisputeView::from_engine(&dispute))
    }
}
