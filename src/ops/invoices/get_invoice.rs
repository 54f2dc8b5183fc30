//! `get_invoice`: one invoice with its lines and what was paid.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::invoices::load_invoice;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::check_object_id;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::views::InvoiceView;

pub const ENTRY: Entry = Entry::read::<GetInvoice>();

pub struct GetInvoice;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceIdArgs {
    /// The invoice id, `inv_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
}

impl ReadOperation for GetInvoice {
    const SPEC: Spec = Spec {
        name: "get_invoice",
        toolset: Toolset::Invoices,
        title: "Get invoice",
        description: "Retrieve one invoice: lines, total, amount_paid, amount_remaining, amount_credited_to_prepaid and the payment intent collecting it.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"id": "inv_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = InvoiceIdArgs;
    type Output = InvoiceView;

    fn validate(args: &InvoiceIdArgs) -> Result<(), Failure> {
        check_object_id(&args.id, "inv_", "id").map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: InvoiceIdArgs) -> Result<InvoiceView, Failure> {
        let id = check_object_id(&args.id, "inv_", "id")?;
        let scope = principal.scope.clone();
        let now_ms = context.app.now_ms();
        let invoice = context.app.read(move |store| load_invoice(store, &scope, &id)).await?;
        Ok(InvoiceView::at(&invoice, now_ms))
    }
}
