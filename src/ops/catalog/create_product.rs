//! `create_product`: something the merchant sells.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::catalog::{self, NewProduct};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_metadata, optional_text};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::ProductView;

pub const ENTRY: Entry = Entry::write::<CreateProduct>();

pub struct CreateProduct;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductArgs {
    #[schemars(length(max = limits::NAME_MAX_CHARS))]
    pub name: String,
    #[serde(default)]
    #[schemars(length(max = limits::DESCRIPTION_MAX_CHARS))]
    pub description: Option<String>,
    /// What one unit is called, e.g. "seat".
    #[serde(default)]
    #[schemars(length(max = limits::UNIT_LABEL_MAX_CHARS))]
    pub unit_label: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "crate::ops::args::metadata_schema")]
    pub metadata: BTreeMap<String, String>,
    /// Default true; false creates it archived.
    #[serde(default)]
    pub active: Option<bool>,
    /// false (default): preview only. true: create.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CreateProductArgs);

pub struct CreateProductCommand(pub NewProduct);

impl WriteOperation for CreateProduct {
    const SPEC: Spec = Spec {
        name: "create_product",
        toolset: Toolset::Catalog,
        title: "Create product",
        description: "Create a product that prices bill for; never deleted (active: false is archived: no new prices). Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: false, open_world: false },
        examples: &[r#"{"name": "Pro plan", "description": "API access", "unit_label": "call", "metadata": {"tier": "pro"}, "active": true, "confirm": true, "idempotency_key": "product-pro"}"#],
    };
    type Args = CreateProductArgs;
    type Command = CreateProductCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id"];

    fn command(args: &CreateProductArgs) -> Result<CreateProductCommand, Failure> {
        let name = optional_text(Some(args.name.clone()), "name", limits::NAME_MAX_CHARS)?.unwrap_or_default();
        crate::engine::customer::validate_name(&name).map_err(AppError::from)?;
        Ok(CreateProductCommand(NewProduct {
            name,
            description: optional_text(args.description.clone(), "description", limits::DESCRIPTION_MAX_CHARS)?,
            unit_label: optional_text(args.unit_label.clone(), "unit_label", limits::UNIT_LABEL_MAX_CHARS)?,
            metadata: check_metadata(args.metadata.clone())?,
            active: args.active.unwrap_or(true),
        }))
    }

    fn describe(command: &CreateProductCommand) -> String {
        format!("create product {}", limits::echo(&command.0.name))
    }

    fn message(product: &ProductView, outcome: Outcome) -> String {
        match outcome {
            Outcome::Preview => format!("Would create product {}.", limits::echo(&product.name)),
            _ => format!("Created product {} ({}).", product.id, limits::echo(&product.name)),
        }
    }
}

impl WriteCommand for CreateProductCommand {
    type View = ProductView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<ProductView>, AppError> {
        let id = context.ids.next_id("prod");
        let product = catalog::create_product(&actor.scope, self.0.clone(), id, context.now_ms)?;
        session.insert_product(&product)?;
        let applied = Applied::new(ProductView::from_engine(&product), &product.id, Vec::new());
        emit_json(session, context, &actor.scope, "product.created", &product.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
