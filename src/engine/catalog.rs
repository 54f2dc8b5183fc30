//! The catalog: products (what is sold) and prices (how it is billed), as the seed's
//! `POST /v1/prices` has them. A price is `recurring` (a fee per period) or `usage` (metered:
//! `included_units` free per period, then `unit_amount` per unit beyond), billed every `interval`
//! from a subscription's start (`engine::interval`).
//!
//! Prices are immutable: there is no update, and the store refuses one. Once a subscription uses
//! a price it is marked `used`, so that whoever reads it knows that changing what it bills would
//! change what existing customers pay: a new price is made instead.

use std::collections::BTreeMap;

use crate::engine::error::EngineError;
use crate::engine::interval::Interval;
use crate::engine::money::AssetRef;
use crate::engine::principal::Scope;
use crate::limits;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub scope: Scope,
    pub name: String,
    pub description: Option<String>,
    /// What one unit is called ("seat", "API call").
    pub unit_label: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// False once archived: it keeps its prices and history, and no new price is made for it.
    pub active: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A validated request to create a product (texts already bounded by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub description: Option<String>,
    pub unit_label: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub active: bool,
}

pub fn create_product(scope: &Scope, request: NewProduct, id: String, now_ms: i64) -> Result<Product, EngineError> {
    Ok(Product {
        id,
        scope: scope.clone(),
        name: crate::engine::customer::validate_name(&request.name)?,
        description: request.description,
        unit_label: request.unit_label,
        metadata: request.metadata,
        active: request.active,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PriceModel {
    /// `unit_amount` every period.
    Recurring,
    /// Metered: `unit_amount` per unit beyond `included_units` in each period.
    Usage,
}

impl PriceModel {
    pub const ALL: [PriceModel; 2] = [PriceModel::Recurring, PriceModel::Usage];

    pub fn code(self) -> &'static str {
        match self {
            PriceModel::Recurring => "recurring",
            PriceModel::Usage => "usage",
        }
    }

    pub fn parse(code: &str) -> Option<PriceModel> {
        PriceModel::ALL.into_iter().find(|model| model.code() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub id: String,
    pub scope: Scope,
    pub product_id: Option<String>,
    pub model: PriceModel,
    pub currency: AssetRef,
    /// Minor units: the fee per period (recurring) or per unit beyond the allowance (usage).
    pub unit_amount_minor: i64,
    /// Usage only: units free in each period (0: every unit is billed).
    pub included_units: i64,
    /// Usage only: an overage is debited from the customer's prepaid balance (the invoice then
    /// paid); an open invoice when the balance cannot cover it.
    pub auto_charge: bool,
    pub interval: Interval,
    /// Days a new subscription bills nothing.
    pub trial_period_days: u32,
    pub active: bool,
    /// Set once a subscription uses it (`CatalogWrite::mark_price_used`), never cleared.
    pub used: bool,
    pub created_at_ms: i64,
}

/// A validated request to create a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPrice {
    pub product_id: Option<String>,
    pub model: PriceModel,
    pub currency: AssetRef,
    pub unit_amount_minor: i64,
    pub included_units: i64,
    pub auto_charge: bool,
    pub interval: Interval,
    pub trial_period_days: u32,
    pub active: bool,
}

/// The price's own rules, which need no stored state: amounts and units in range, an allowance
/// and auto-charge only on usage prices, a trial of at most two years.
pub fn check_new_price(request: &NewPrice) -> Result<(), EngineError> {
    if !(0..=limits::AMOUNT_MAX_MINOR).contains(&request.unit_amount_minor) {
        return Err(EngineError::invalid(
            "unit_amount",
            format!("unit_amount must be an integer from 0 to {} minor units", limits::AMOUNT_MAX_MINOR),
        ));
    }
    if !(0..=limits::USAGE_UNITS_MAX).contains(&request.included_units) {
        return Err(EngineError::invalid(
            "included_units",
            format!("included_units must be an integer from 0 to {}", limits::USAGE_UNITS_MAX),
        ));
    }
    if request.model == PriceModel::Recurring && request.included_units != 0 {
        return Err(EngineError::invalid(
            "included_units",
            "included_units is for usage prices; omit it for recurring",
        ));
    }
    if request.model == PriceModel::Recurring && request.auto_charge {
        return Err(EngineError::invalid(
            "auto_charge",
            "auto_charge debits usage overage from prepaid balances; it is for usage prices",
        ));
    }
    if request.trial_period_days > limits::TRIAL_PERIOD_MAX_DAYS {
        return Err(EngineError::invalid(
            "trial_period_days",
            format!("trial_period_days must be from 0 to {}", limits::TRIAL_PERIOD_MAX_DAYS),
        ));
    }
    Ok(())
}

/// Checks the price's rules and makes it. `product` is the product `request.product_id` names,
/// loaded by the caller (`None` when it names none); it must be active.
pub fn create_price(
    scope: &Scope,
    request: NewPrice,
    product: Option<&Product>,
    id: String,
    now_ms: i64,
) -> Result<Price, EngineError> {
    if let Some(product) = product
        && !product.active
    {
        return Err(EngineError::InvalidState {
            object: "product",
            id: product.id.clone(),
            status: "archived",
            action: "create_price",
        });
    }
    check_new_price(&request)?;
    Ok(Price {
        id,
        scope: scope.clone(),
        product_id: request.product_id,
        model: request.model,
        currency: request.currency,
        unit_amount_minor: request.unit_amount_minor,
        included_units: request.included_units,
        auto_charge: request.auto_charge,
        interval: request.interval,
        trial_period_days: request.trial_period_days,
        active: request.active,
        used: false,
        created_at_ms: now_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::interval::IntervalUnit;
    use crate::engine::money::Asset;
    use crate::engine::principal::Mode;

    fn scope() -> Scope {
        Scope { merchant_id: "mch_1".into(), mode: Mode::Test }
    }

    /// The seed's allowance example: 1,000 included units, ₦1.00 per unit beyond, auto-charged.
    fn seed_usage_price() -> NewPrice {
        NewPrice {
            product_id: None,
            model: PriceModel::Usage,
            currency: Asset::lookup("NGN").unwrap(),
            unit_amount_minor: 100,
            included_units: 1_000,
            auto_charge: true,
            interval: Interval::new(IntervalUnit::Month, 1).unwrap(),
            trial_period_days: 0,
            active: true,
        }
    }

    fn check(request: NewPrice, expected: Result<(), (&str, &str)>) {
        match (create_price(&scope(), request, None, "price_1".into(), 0), expected) {
            (Ok(price), Ok(())) => assert!(!price.used),
            (Err(error), Err((code, param))) => {
                assert_eq!((error.code(), error.param()), (code, Some(param)), "{error}");
            }
            (got, expected) => panic!("got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn price_rules() {
        check(seed_usage_price(), Ok(()));
        check(NewPrice { unit_amount_minor: 0, included_units: 0, ..seed_usage_price() }, Ok(()));
        let recurring =
            NewPrice { model: PriceModel::Recurring, included_units: 0, auto_charge: false, ..seed_usage_price() };
        check(recurring.clone(), Ok(()));
        check(NewPrice { trial_period_days: 730, ..recurring.clone() }, Ok(()));
        check(NewPrice { trial_period_days: 731, ..recurring.clone() }, Err(("invalid_request", "trial_period_days")));
        check(NewPrice { included_units: 1, ..recurring.clone() }, Err(("invalid_request", "included_units")));
        check(NewPrice { auto_charge: true, ..recurring }, Err(("invalid_request", "auto_charge")));
        check(NewPrice { unit_amount_minor: -1, ..seed_usage_price() }, Err(("invalid_request", "unit_amount")));
        let too_much = limits::AMOUNT_MAX_MINOR + 1;
        check(NewPrice { unit_amount_minor: too_much, ..seed_usage_price() }, Err(("invalid_request", "unit_amount")));
        check(NewPrice { included_units: -1, ..seed_usage_price() }, Err(("invalid_request", "included_units")));
    }

    #[test]
    fn no_new_price_for_an_archived_product() {
        let request = NewProduct {
            name: "Pro".into(),
            description: None,
            unit_label: None,
            metadata: BTreeMap::new(),
            active: false,
        };
        let product = create_product(&scope(), request, "prod_1".into(), 0).unwrap();
        let error = create_price(&scope(), seed_usage_price(), Some(&product), "price_1".into(), 0).unwrap_err();
        assert_eq!(error.code(), "invalid_state");
    }
}
