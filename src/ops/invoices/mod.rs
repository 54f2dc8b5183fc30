//! Toolset `invoices`: invoices with line items, collected through payment intents.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::invoice::{InvoiceStatus, NewInvoiceLine};
use crate::limits;
use crate::ops::args::check_object_id;
use crate::ops::catalog::ZeroOrMoreMinorUnits;
use crate::ops::failure::Failure;

crate::ops::operations!(
    create_invoice,
    finalize_invoice,
    get_invoice,
    invoice_totals,
    list_invoices,
    pay_invoice,
    void_invoice,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatusInput {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
    Expired,
}

impl InvoiceStatusInput {
    pub fn to_engine(self) -> InvoiceStatus {
        match self {
            InvoiceStatusInput::Draft => InvoiceStatus::Draft,
            InvoiceStatusInput::Open => InvoiceStatus::Open,
            InvoiceStatusInput::Paid => InvoiceStatus::Paid,
            InvoiceStatusInput::Void => InvoiceStatus::Void,
            InvoiceStatusInput::Uncollectible => InvoiceStatus::Uncollectible,
            InvoiceStatusInput::Expired => InvoiceStatus::Expired,
        }
    }
}

/// A whole number of units, 1 or more. Decoded from any JSON value, so that a float, a string or
/// a negative number gets a message naming the line rather than a decoding error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WholeUnits(pub serde_json::Value);

impl JsonSchema for WholeUnits {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WholeUnits".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": limits::INVOICE_LINE_QUANTITY_MAX_UNITS,
            "description": "Whole units; never a float or a string."
        })
    }
}

/// One line as the seed spells it: `quantity × unit_amount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItemInput {
    #[schemars(length(max = limits::INVOICE_LINE_DESCRIPTION_MAX_CHARS))]
    pub description: String,
    pub quantity: WholeUnits,
    /// Minor units per unit, e.g. 250000 = ₦2,500.00; 0 for a free line.
    pub unit_amount: ZeroOrMoreMinorUnits,
    /// A price of the catalog, `price_…`, in the invoice's currency.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub price_id: Option<String>,
}

impl LineItemInput {
    /// The line for the engine, which checks the ranges and computes the amount; a value that
    /// is not an integer is refused here, naming the line.
    pub fn parse(&self, position: usize) -> Result<NewInvoiceLine, Failure> {
        let line = position + 1;
        let quantity = self.quantity.0.as_i64().ok_or_else(|| {
            Failure::invalid(
                "line_items.quantity",
                format!(
                    "line item {line}: quantity must be a whole number of units, not {}",
                    limits::echo(&self.quantity.0.to_string())
                ),
            )
        })?;
        let unit_amount_minor = self.unit_amount.minor_units("line_items.unit_amount").map_err(|failure| {
            Failure::invalid("line_items.unit_amount", format!("line item {line}: {}", failure.error.message))
        })?;
        let price_id = match &self.price_id {
            Some(id) => Some(check_object_id(id, "price_", "line_items.price_id")?),
            None => None,
        };
        Ok(NewInvoiceLine { description: self.description.clone(), quantity, unit_amount_minor, price_id })
    }
}
