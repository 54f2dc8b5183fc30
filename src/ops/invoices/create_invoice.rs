//! `create_invoice`: a draft invoice with line items for a customer.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::invoices::issue_invoice;
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::invoice::{NewInvoice, NewInvoiceLine};
use crate::engine::money::AssetRef;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_metadata, check_object_id, parse_asset};
use crate::ops::invoices::LineItemInput;
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::InvoiceView;

pub const ENTRY: Entry = Entry::write::<CreateInvoice>();

pub struct CreateInvoice;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoiceArgs {
    /// The customer billed, `cus_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub customer_id: String,
    /// e.g. "NGN"; every line and price is in it.
    #[schemars(length(max = limits::ASSET_CODE_MAX_CHARS))]
    pub currency: String,
    #[schemars(length(min = 1, max = limits::INVOICE_MAX_LINE_ITEMS))]
    pub line_items: Vec<LineItemInput>,
    /// Unix ms; default 30 days from now.
    #[serde(default)]
    pub due_date: Option<i64>,
    /// Ms payable after finalize; omit: no expiry (12 h once paid in crypto).
    #[serde(default)]
    #[schemars(range(min = limits::INVOICE_EXPIRES_IN_MIN_MS, max = limits::INVOICE_EXPIRES_IN_MAX_MS))]
    pub expires_in: Option<i64>,
    #[serde(default)]
    #[schemars(schema_with = "crate::ops::args::metadata_schema")]
    pub metadata: BTreeMap<String, String>,
    /// false (default): preview only. true: create the draft.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true; unique per invoice.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CreateInvoiceArgs);

pub struct CreateInvoiceCommand {
    pub customer_id: String,
    pub currency: AssetRef,
    pub lines: Vec<NewInvoiceLine>,
    /// `None`: `INVOICE_DUE_DATE_DEFAULT_AHEAD_MS` after the command runs.
    pub due_date_ms: Option<i64>,
    pub expires_in_ms: Option<i64>,
    pub metadata: BTreeMap<String, String>,
}

impl WriteOperation for CreateInvoice {
    const SPEC: Spec = Spec {
        name: "create_invoice",
        toolset: Toolset::Invoices,
        title: "Create invoice",
        description: "Create a draft invoice for a customer: line_items (quantity × unit_amount, integers) in one currency. finalize_invoice opens it; pay_invoice collects it. Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: false, idempotent: true, open_world: false },
        examples: &[
            r#"{"customer_id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "currency": "NGN", "line_items": [{"description": "Design work", "quantity": 3, "unit_amount": 2500000}, {"description": "API usage", "quantity": 1200, "unit_amount": 100, "price_id": "price_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}], "due_date": 1893456000000, "expires_in": 86400000, "metadata": {"order": "1001"}, "confirm": true, "idempotency_key": "invoice-1001"}"#,
            r#"{"customer_id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "currency": "NGN", "line_items": [{"description": "Consulting", "quantity": 1, "unit_amount": 5000000}]}"#,
        ],
    };
    type Args = CreateInvoiceArgs;
    type Command = CreateInvoiceCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id"];

    fn command(args: &CreateInvoiceArgs) -> Result<CreateInvoiceCommand, Failure> {
        if args.line_items.is_empty() || args.line_items.len() > limits::INVOICE_MAX_LINE_ITEMS {
            return Err(Failure::invalid(
                "line_items",
                format!("an invoice has 1 to {} line items, got {}", limits::INVOICE_MAX_LINE_ITEMS, args.line_items.len()),
            ));
        }
        let lines = args.line_items.iter().enumerate().map(|(position, line)| line.parse(position)).collect::<Result<_, _>>()?;
        Ok(CreateInvoiceCommand {
            customer_id: check_object_id(&args.customer_id, "cus_", "customer_id")?,
            currency: parse_asset(&args.currency, "currency")?,
            lines,
            due_date_ms: args.due_date,
            expires_in_ms: args.expires_in,
            metadata: check_metadata(args.metadata.clone())?,
        })
    }

    fn describe(command: &CreateInvoiceCommand) -> String {
        format!(
            "create a draft {} invoice of {} line(s) for {}",
            command.currency.code,
            command.lines.len(),
            command.customer_id
        )
    }

    fn message(invoice: &InvoiceView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would create" } else { "Created" };
        format!(
            "{verb} a draft invoice of {} ({} line(s)) for {}. Call finalize_invoice to open it for payment, then pay_invoice.",
            invoice.total.display,
            invoice.line_items.len(),
            invoice.customer_id
        )
    }
}

impl WriteCommand for CreateInvoiceCommand {
    type View = InvoiceView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<InvoiceView>, AppError> {
        let request = NewInvoice {
            customer_id: self.customer_id.clone(),
            currency: self.currency,
            lines: self.lines.clone(),
            due_date_ms: self
                .due_date_ms
                .unwrap_or_else(|| context.now_ms.saturating_add(limits::INVOICE_DUE_DATE_DEFAULT_AHEAD_MS)),
            expires_in_ms: self.expires_in_ms,
            subscription_id: None,
            metadata: self.metadata.clone(),
        };
        let invoice = issue_invoice(session, context, &actor.scope, request, false)?;
        Ok(Applied::new(InvoiceView::at(&invoice, context.now_ms), &invoice.id, Vec::new()))
    }
}
