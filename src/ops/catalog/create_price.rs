//! `create_price`: how a product is billed, as the seed's `POST /v1/prices`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::catalog::load_product_for_update;
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::catalog::{self, NewPrice, PriceModel};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id, parse_asset};
use crate::ops::catalog::{IntervalInput, PriceModelInput, ZeroOrMoreMinorUnits};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::PriceView;

pub const ENTRY: Entry = Entry::write::<CreatePrice>();

pub struct CreatePrice;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePriceArgs {
    pub model: PriceModelInput,
    /// e.g. "NGN".
    #[schemars(length(max = limits::ASSET_CODE_MAX_CHARS))]
    pub currency: String,
    /// Minor units, e.g. 100 = ₦1.00.
    pub unit_amount: ZeroOrMoreMinorUnits,
    /// Usage only: free units per period (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = limits::USAGE_UNITS_MAX))]
    pub included_units: Option<i64>,
    /// Usage only: pay overage from the prepaid balance.
    #[serde(default)]
    pub auto_charge: bool,
    pub interval: IntervalInput,
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub product_id: Option<String>,
    #[serde(default)]
    #[schemars(range(max = limits::TRIAL_PERIOD_MAX_DAYS))]
    pub trial_period_days: Option<u32>,
    /// Default true.
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
write_args!(CreatePriceArgs);

pub struct CreatePriceCommand(pub NewPrice);

impl WriteOperation for CreatePrice {
    const SPEC: Spec = Spec {
        name: "create_price",
        toolset: Toolset::Catalog,
        title: "Create price",
        description: "Create an immutable price: recurring (unit_amount each interval) or usage (included_units free per period, then unit_amount per unit). A bad interval is invalid_interval. Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: false, open_world: false },
        examples: &[
            r#"{"model": "usage", "currency": "NGN", "unit_amount": 100, "included_units": 1000, "auto_charge": true, "interval": {"unit": "month", "count": 1}, "product_id": "prod_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "trial_period_days": 0, "active": true, "confirm": true, "idempotency_key": "price-api"}"#,
            r#"{"model": "recurring", "currency": "USD", "unit_amount": 1999, "interval": "monthly", "trial_period_days": 14}"#,
        ],
    };
    type Args = CreatePriceArgs;
    type Command = CreatePriceCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id"];

    fn command(args: &CreatePriceArgs) -> Result<CreatePriceCommand, Failure> {
        let product_id = match &args.product_id {
            Some(id) => Some(check_object_id(id, "prod_", "product_id")?),
            None => None,
        };
        let request = NewPrice {
            product_id,
            model: args.model.to_engine(),
            currency: parse_asset(&args.currency, "currency")?,
            unit_amount_minor: args.unit_amount.minor_units("unit_amount")?,
            included_units: args.included_units.unwrap_or(0),
            auto_charge: args.auto_charge,
            interval: args.interval.parse()?,
            trial_period_days: args.trial_period_days.unwrap_or(0),
            active: args.active.unwrap_or(true),
        };
        // The price's own rules, which need no stored state, refused before the writer.
        catalog::check_new_price(&request).map_err(AppError::from)?;
        Ok(CreatePriceCommand(request))
    }

    fn describe(command: &CreatePriceCommand) -> String {
        let price = &command.0;
        let interval = price.interval;
        format!(
            "create a {} price of {} minor units of {} every {} {}",
            price.model.code(),
            price.unit_amount_minor,
            price.currency.code,
            interval.count(),
            interval.unit().code()
        )
    }

    fn message(price: &PriceView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would create" } else { "Created" };
        let every = price.interval.name.clone().unwrap_or_else(|| {
            format!("every {} {}{}", price.interval.count, price.interval.unit, if price.interval.count == 1 { "" } else { "s" })
        });
        let what = if price.model == PriceModel::Usage.code() {
            format!(
                "{} per unit beyond {} included units{}",
                price.unit_amount.display,
                price.included_units,
                if price.auto_charge { ", auto-charged to prepaid balances" } else { "" }
            )
        } else {
            price.unit_amount.display.clone()
        };
        format!("{verb} a {} price: {what}, {every}. Prices never change; make a new one to bill differently.", price.model)
    }
}

impl WriteCommand for CreatePriceCommand {
    type View = PriceView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<PriceView>, AppError> {
        let product = match &self.0.product_id {
            Some(id) => Some(load_product_for_update(session, &actor.scope, id)?),
            None => None,
        };
        let id = context.ids.next_id("price");
        let price = catalog::create_price(&actor.scope, self.0.clone(), product.as_ref(), id, context.now_ms)?;
        session.insert_price(&price)?;
        let applied = Applied::new(PriceView::from_engine(&price), &price.id, Vec::new());
        emit_json(session, context, &actor.scope, "price.created", &price.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
