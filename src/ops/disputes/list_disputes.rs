//! `list_disputes`: disputes, newest first, filtered.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, check_object_id, page_request};
use crate::ops::disputes::DisputeStatusInput;
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::{DisputeFilter, PageRequest};
use crate::views::DisputeView;

pub const ENTRY: Entry = Entry::read::<ListDisputes>();

pub struct ListDisputes;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDisputesArgs {
    /// Only disputes in this status.
    #[serde(default)]
    pub status: Option<DisputeStatusInput>,
    /// Only the dispute of this payment intent, `pi_…`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub payment_intent_id: Option<String>,
    /// Only disputes opened at or after this time (Unix milliseconds).
    #[serde(default)]
    pub created_gte_ms: Option<i64>,
    /// Only disputes opened before this time (Unix milliseconds).
    #[serde(default)]
    pub created_lt_ms: Option<i64>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ListDisputesArgs {
    fn query(&self) -> Result<(DisputeFilter, PageRequest), Failure> {
        let page = page_request(&self.limit, &self.starting_after)?;
        let payment_intent_id = match &self.payment_intent_id {
            Some(id) => Some(check_object_id(id, "pi_", "payment_intent_id")?),
            None => None,
        };
        let filter = DisputeFilter {
            status: self.status.map(DisputeStatusInput::to_engine),
            payment_intent_id,
            created_gte_ms: self.created_gte_ms,
            created_lt_ms: self.created_lt_ms,
        };
        Ok((filter, page))
    }
}

impl ReadOperation for ListDisputes {
    const SPEC: Spec = Spec {
        name: "list_disputes",
        toolset: Toolset::Disputes,
        title: "List disputes",
        description: "List disputes against your payments, newest first. Filter by status, payment or creation time; \
                      page with limit and starting_after.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[
            r#"{"status": "needs_response", "limit": 5}"#,
            r#"{"payment_intent_id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "starting_after": "dp_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#,
        ],
    };
    type Args = ListDisputesArgs;
    type Output = ListResult<DisputeView>;

    fn validate(args: &ListDisputesArgs) -> Result<(), Failure> {
        args.query().map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListDisputesArgs,
    ) -> Result<ListResult<DisputeView>, Failure> {
        let (filter, page) = args.query()?;
        let scope = principal.scope.clone();
        let disputes = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| Ok(store.get_dispute(&scope, cursor)?.is_some()))?;
                Ok(store.list_disputes(&scope, &filter, &page)?)
            })
            .await?;
        let data = disputes.items.iter().map(DisputeView::from_engine).collect();
        Ok(ListResult::new(data, disputes.has_more, |dispute: &DisputeView| dispute.id.clone()))
    }
}
