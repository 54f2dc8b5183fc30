//! `void_invoice`: nothing is owed any more; a partial payment is credited to the customer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::invoices::{load_invoice_for_update, void_invoice};
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::InvoiceView;

pub const ENTRY: Entry = Entry::write::<VoidInvoice>();

pub struct VoidInvoice;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidInvoiceArgs {
    /// The invoice, `inv_…` (draft, open or uncollectible).
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// false (default): preview only. true: void.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(VoidInvoiceArgs);

pub struct VoidInvoiceCommand {
    pub invoice_id: String,
}

impl WriteOperation for VoidInvoice {
    const SPEC: Spec = Spec {
        name: "void_invoice",
        toolset: Toolset::Invoices,
        title: "Void invoice",
        description: "Void a draft, open or uncollectible invoice (paid, void and expired ones are final). Its payment intent is canceled; money it already received is credited to the customer's prepaid balance, never lost. Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[r#"{"id": "inv_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "confirm": true, "idempotency_key": "void-1001"}"#],
    };
    type Args = VoidInvoiceArgs;
    type Command = VoidInvoiceCommand;

    fn command(args: &VoidInvoiceArgs) -> Result<VoidInvoiceCommand, Failure> {
        Ok(VoidInvoiceCommand { invoice_id: check_object_id(&args.id, "inv_", "id")? })
    }

    fn describe(command: &VoidInvoiceCommand) -> String {
        format!("void {}", command.invoice_id)
    }

    fn message(invoice: &InvoiceView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would void" } else { "Voided" };
        let credited = match invoice.amount_credited_to_prepaid.amount {
            0 => String::new(),
            _ => format!(
                " The {} already received is credited to the prepaid balance of {}.",
                invoice.amount_credited_to_prepaid.display, invoice.customer_id
            ),
        };
        format!("{verb} {} ({} for {}).{credited}", invoice.id, invoice.total.display, invoice.customer_id)
    }
}

impl WriteCommand for VoidInvoiceCommand {
    type View = InvoiceView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<InvoiceView>, AppError> {
        let invoice = load_invoice_for_update(session, &actor.scope, &self.invoice_id)?;
        let voided = void_invoice(session, context, &invoice)?;
        Ok(Applied::new(InvoiceView::at(&voided, context.now_ms), &voided.id, vec![voided.currency]))
    }
}
