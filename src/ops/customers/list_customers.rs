//! `list_customers`: customers, newest first, filtered by email.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::customers::customer_view;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, page_request};
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::{CustomerFilter, PageRequest};
use crate::views::CustomerView;

pub const ENTRY: Entry = Entry::read::<ListCustomers>();

pub struct ListCustomers;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListCustomersArgs {
    /// Only customers with this email (letter case ignored).
    #[serde(default)]
    #[schemars(length(max = limits::EMAIL_MAX_CHARS))]
    pub email: Option<String>,
    /// true: only archived customers; false: only active ones; omit for both.
    #[serde(default)]
    pub archived: Option<bool>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ListCustomersArgs {
    fn query(&self) -> Result<(CustomerFilter, PageRequest), Failure> {
        let page = page_request(&self.limit, &self.starting_after)?;
        if let Some(email) = &self.email
            && (email.is_empty() || email.chars().count() > limits::EMAIL_MAX_CHARS)
        {
            return Err(Failure::invalid("email", format!("email is 1 to {} characters", limits::EMAIL_MAX_CHARS)));
        }
        Ok((CustomerFilter { email: self.email.clone(), archived: self.archived }, page))
    }
}

impl ReadOperation for ListCustomers {
    const SPEC: Spec = Spec {
        name: "list_customers",
        toolset: Toolset::Customers,
        title: "List customers",
        description: "List customers, newest first, with their prepaid balances. Filter by email or archived; page with limit and starting_after.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"email": "ada@example.com", "archived": false, "limit": 5, "starting_after": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = ListCustomersArgs;
    type Output = ListResult<CustomerView>;

    fn validate(args: &ListCustomersArgs) -> Result<(), Failure> {
        args.query().map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListCustomersArgs,
    ) -> Result<ListResult<CustomerView>, Failure> {
        let (filter, page) = args.query()?;
        let scope = principal.scope.clone();
        let (views, has_more) = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| Ok(store.get_customer(&scope, cursor)?.is_some()))?;
                let customers = store.list_customers(&scope, &filter, &page)?;
                let views = customers
                    .items
                    .iter()
                    .map(|customer| customer_view(store, customer))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((views, customers.has_more))
            })
            .await?;
        Ok(ListResult::new(views, has_more, |customer: &CustomerView| customer.id.clone()))
    }
}
