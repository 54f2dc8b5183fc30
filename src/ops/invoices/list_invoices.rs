//! `list_invoices`: invoices, newest first, filtered by status and customer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, check_object_id, page_request};
use crate::ops::invoices::InvoiceStatusInput;
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::{InvoiceFilter, PageRequest};
use crate::views::InvoiceView;

pub const ENTRY: Entry = Entry::read::<ListInvoices>();

pub struct ListInvoices;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInvoicesArgs {
    /// Only invoices in this status.
    #[serde(default)]
    pub status: Option<InvoiceStatusInput>,
    /// Only this customer's invoices, `cus_…`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub customer_id: Option<String>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ListInvoicesArgs {
    fn query(&self) -> Result<(InvoiceFilter, PageRequest), Failure> {
        let page = page_request(&self.limit, &self.starting_after)?;
        let customer_id = match &self.customer_id {
            Some(id) => Some(check_object_id(id, "cus_", "customer_id")?),
            None => None,
        };
        Ok((InvoiceFilter { status: self.status.map(InvoiceStatusInput::to_engine), customer_id }, page))
    }
}

impl ReadOperation for ListInvoices {
    const SPEC: Spec = Spec {
        name: "list_invoices",
        toolset: Toolset::Invoices,
        title: "List invoices",
        description: "List invoices, newest first. Filter by status and customer_id; page with limit and starting_after.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"status": "open", "customer_id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "limit": 5, "starting_after": "inv_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = ListInvoicesArgs;
    type Output = ListResult<InvoiceView>;

    fn validate(args: &ListInvoicesArgs) -> Result<(), Failure> {
        args.query().map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListInvoicesArgs,
    ) -> Result<ListResult<InvoiceView>, Failure> {
        let (filter, page) = args.query()?;
        let scope = principal.scope.clone();
        let now_ms = context.app.now_ms();
        let invoices = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| Ok(store.get_invoice(&scope, cursor)?.is_some()))?;
                Ok(store.list_invoices(&scope, &filter, &page)?)
            })
            .await?;
        let views = invoices.items.iter().map(|invoice| InvoiceView::at(invoice, now_ms)).collect();
        Ok(ListResult::new(views, invoices.has_more, |invoice: &InvoiceView| invoice.id.clone()))
    }
}
