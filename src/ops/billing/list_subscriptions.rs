//! `list_subscriptions`: subscriptions, newest first, filtered by status, customer or price.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::billing::subscription_view;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::subscription::SubscriptionStatus;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, check_object_id, page_request};
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::{PageRequest, SubscriptionFilter};
use crate::views::billing::SubscriptionView;

pub const ENTRY: Entry = Entry::read::<ListSubscriptions>();

pub struct ListSubscriptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatusInput {
    Trialing,
    Active,
    PastDue,
    Canceled,
}

impl SubscriptionStatusInput {
    fn to_engine(self) -> SubscriptionStatus {
        match self {
            SubscriptionStatusInput::Trialing => SubscriptionStatus::Trialing,
            SubscriptionStatusInput::Active => SubscriptionStatus::Active,
            SubscriptionStatusInput::PastDue => SubscriptionStatus::PastDue,
            SubscriptionStatusInput::Canceled => SubscriptionStatus::Canceled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSubscriptionsArgs {
    #[serde(default)]
    pub status: Option<SubscriptionStatusInput>,
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub customer_id: Option<String>,
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub price_id: Option<String>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ListSubscriptionsArgs {
    fn query(&self) -> Result<(SubscriptionFilter, PageRequest), Failure> {
        let page = page_request(&self.limit, &self.starting_after)?;
        let customer_id = self.customer_id.as_deref().map(|id| check_object_id(id, "cus_", "customer_id")).transpose()?;
        let price_id = self.price_id.as_deref().map(|id| check_object_id(id, "price_", "price_id")).transpose()?;
        let filter = SubscriptionFilter { status: self.status.map(SubscriptionStatusInput::to_engine), customer_id, price_id };
        Ok((filter, page))
    }
}

impl ReadOperation for ListSubscriptions {
    const SPEC: Spec = Spec {
        name: "list_subscriptions",
        toolset: Toolset::Billing,
        title: "List subscriptions",
        description: "List subscriptions, newest first. Filter by status, customer_id or price_id; page with limit and starting_after.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"status": "active", "customer_id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "limit": 10}"#],
    };
    type Args = ListSubscriptionsArgs;
    type Output = ListResult<SubscriptionView>;

    fn validate(args: &ListSubscriptionsArgs) -> Result<(), Failure> {
        args.query().map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListSubscriptionsArgs,
    ) -> Result<ListResult<SubscriptionView>, Failure> {
        let (filter, page) = args.query()?;
        let scope = principal.scope.clone();
        let (views, has_more) = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| Ok(store.get_subscription(&scope, cursor)?.is_some()))?;
                let page = store.list_subscriptions(&scope, &filter, &page)?;
                Ok((page.items.iter().map(subscription_view).collect::<Vec<_>>(), page.has_more))
            })
            .await?;
        Ok(ListResult::new(views, has_more, |subscription: &SubscriptionView| subscription.id.clone()))
    }
}
