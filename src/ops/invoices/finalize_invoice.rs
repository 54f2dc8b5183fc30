//! `finalize_invoice`: a draft becomes open, payable until its expiry.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::invoices::{finalize_invoice, load_invoice_for_update};
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::InvoiceView;

pub const ENTRY: Entry = Entry::write::<FinalizeInvoice>();

pub struct FinalizeInvoice;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinalizeInvoiceArgs {
    /// The draft invoice, `inv_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// false (default): preview only. true: finalize.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(FinalizeInvoiceArgs);

pub struct InvoiceIdCommand {
    pub invoice_id: String,
}

impl WriteOperation for FinalizeInvoice {
    const SPEC: Spec = Spec {
        name: "finalize_invoice",
        toolset: Toolset::Invoices,
        title: "Finalize invoice",
        description: "Open a draft invoice for payment (draft → open; a zero total is paid at once). Its expires_in window starts now. Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: false, idempotent: true, open_world: false },
        examples: &[r#"{"id": "inv_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "confirm": true, "idempotency_key": "finalize-1001"}"#],
    };
    type Args = FinalizeInvoiceArgs;
    type Command = InvoiceIdCommand;

    fn command(args: &FinalizeInvoiceArgs) -> Result<InvoiceIdCommand, Failure> {
        Ok(InvoiceIdCommand { invoice_id: check_object_id(&args.id, "inv_", "id")? })
    }

    fn describe(command: &InvoiceIdCommand) -> String {
        format!("finalize {}", command.invoice_id)
    }

    fn message(invoice: &InvoiceView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would finalize" } else { "Finalized" };
        let expiry = match invoice.expires_at_ms {
            Some(expires_at_ms) => format!(" Unless paid it expires at {expires_at_ms} (Unix ms)."),
            None => String::new(),
        };
        format!(
            "{verb} {}: {} for {} is {}. Call pay_invoice to get payment instructions for the payer.{expiry}",
            invoice.id, invoice.total.display, invoice.customer_id, invoice.status
        )
    }
}

impl WriteCommand for InvoiceIdCommand {
    type View = InvoiceView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<InvoiceView>, AppError> {
        let draft = load_invoice_for_update(session, &actor.scope, &self.invoice_id)?;
        let finalized = finalize_invoice(session, context, &draft)?;
        Ok(Applied::new(InvoiceView::at(&finalized, context.now_ms), &finalized.id, Vec::new()))
    }
}
