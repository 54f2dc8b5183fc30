//! `invoice_totals`: counts and amounts by status and currency, added up in the database.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::error::AppError;
use crate::engine::error::EngineError;
use crate::engine::money::AssetRef;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::check_object_id;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::store::{InvoiceTotalsFilter, InvoiceTotalsRow};
use crate::views::{InvoiceTotalView, InvoiceTotalsView, MoneyView};

pub const ENTRY: Entry = Entry::read::<InvoiceTotals>();

pub struct InvoiceTotals;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceTotalsArgs {
    /// Only this customer's invoices, `cus_…`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub customer_id: Option<String>,
}

impl InvoiceTotalsArgs {
    fn filter(&self) -> Result<InvoiceTotalsFilter, Failure> {
        let customer_id = match &self.customer_id {
            Some(id) => Some(check_object_id(id, "cus_", "customer_id")?),
            None => None,
        };
        Ok(InvoiceTotalsFilter { customer_id })
    }
}

impl ReadOperation for InvoiceTotals {
    const SPEC: Spec = Spec {
        name: "invoice_totals",
        toolset: Toolset::Invoices,
        title: "Invoice totals",
        description: "Counts and sums of total, amount_paid and amount_remaining by status and currency, over all invoices (or one customer's), computed by the database in one query.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{}"#, r#"{"customer_id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = InvoiceTotalsArgs;
    type Output = InvoiceTotalsView;

    fn validate(args: &InvoiceTotalsArgs) -> Result<(), Failure> {
        args.filter().map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: InvoiceTotalsArgs,
    ) -> Result<InvoiceTotalsView, Failure> {
        let filter = args.filter()?;
        let scope = principal.scope.clone();
        let customer_id = filter.customer_id.clone();
        let rows = context.app.read(move |store| Ok(store.invoice_totals(&scope, &filter)?)).await?;
        let totals = rows.iter().map(total_view).collect::<Result<Vec<_>, AppError>>()?;
        let invoice_count = rows.iter().map(|row| row.count).sum();
        Ok(InvoiceTotalsView { object: "invoice_totals".to_owned(), customer_id, totals, invoice_count })
    }
}

fn total_view(row: &InvoiceTotalsRow) -> Result<InvoiceTotalView, AppError> {
    Ok(InvoiceTotalView {
        status: row.status.code().to_owned(),
        currency: row.currency.code.to_owned(),
        count: row.count,
        total: money(row.currency, row.total_minor)?,
        amount_paid: money(row.currency, row.amount_paid_minor)?,
        amount_remaining: money(row.currency, row.amount_remaining_minor)?,
    })
}

/// A sum as a result shows money: exact, or refused when it is past what any amount holds (the
/// database adds up exactly, in i128; a result never shows a rounded or wrapped total).
fn money(currency: AssetRef, sum_minor: i128) -> Result<MoneyView, AppError> {
    match i64::try_from(sum_minor) {
        Ok(amount_minor) => Ok(MoneyView::new(currency, amount_minor)),
        Err(_) => Err(EngineError::AmountTooLarge {
            param: "customer_id",
            what: "sum of these invoices (filter by customer_id for smaller sums)",
            limit_display: currency.display(i64::MAX),
        }
        .into()),
    }
}
