//! Toolset `catalog`: products and prices.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::error::AppError;
use crate::engine::catalog::PriceModel;
use crate::engine::error::EngineError;
use crate::engine::interval::{Interval, IntervalUnit};
use crate::limits;
use crate::ops::failure::Failure;

crate::ops::operations!(create_price, create_product, list_prices, list_products);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceModelInput {
    Recurring,
    Usage,
}

impl PriceModelInput {
    pub fn to_engine(self) -> PriceModel {
        match self {
            PriceModelInput::Recurring => PriceModel::Recurring,
            PriceModelInput::Usage => PriceModel::Usage,
        }
    }
}

/// A price's `interval`: a name (`"monthly"`) or `{"unit": "month", "count": 1}`. Decoded from any
/// JSON value, so that everything else, whatever its shape, is `invalid_interval` naming the
/// argument rather than a decoding error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntervalInput(pub serde_json::Value);

impl JsonSchema for IntervalInput {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Interval".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "weekly, bi-weekly, monthly, bi-monthly, quarterly, semi-annual, annual, or {unit, count} up to 3 years",
            "anyOf": [
                {"type": "string", "maxLength": limits::PRICE_INTERVAL_NAME_MAX_CHARS},
                {
                    "type": "object",
                    "properties": {
                        "unit": {"type": "string", "maxLength": limits::PRICE_INTERVAL_NAME_MAX_CHARS},
                        "count": {"type": "integer", "minimum": 1, "maximum": limits::PRICE_INTERVAL_MAX_DAYS}
                    },
                    "required": ["unit", "count"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl IntervalInput {
    pub fn parse(&self) -> Result<Interval, Failure> {
        self.to_interval().map_err(|error| Failure::from(AppError::from(error)))
    }

    fn to_interval(&self) -> Result<Interval, EngineError> {
        let object = match &self.0 {
            serde_json::Value::String(name) => return Interval::from_alias(name),
            serde_json::Value::Object(object) => object,
            _ => {
                return Err(EngineError::InvalidInterval {
                    param: "interval",
                    message:
                        "interval must be a name like \"monthly\" or an object like {\"unit\": \"month\", \"count\": 1}"
                            .to_owned(),
                });
            }
        };
        if let Some(unknown) = object.keys().find(|key| !["unit", "count"].contains(&key.as_str())) {
            return Err(EngineError::InvalidInterval {
                param: "interval",
                message: format!("interval takes unit and count only, not {}", limits::echo(unknown)),
            });
        }
        let unit = match object.get("unit") {
            Some(serde_json::Value::String(code)) => IntervalUnit::parse(code)?,
            _ => {
                return Err(EngineError::InvalidInterval {
                    param: "interval.unit",
                    message: "interval.unit is required: day, week, month or year".to_owned(),
                });
            }
        };
        match object.get("count").and_then(serde_json::Value::as_i64) {
            Some(count) => Interval::new(unit, count),
            None => Err(EngineError::InvalidInterval {
                param: "interval.count",
                message: format!(
                    "interval.count must be a whole number from 1 to {} for unit {}",
                    unit.max_count(),
                    unit.code()
                ),
            }),
        }
    }
}

/// An amount in minor units that may be zero (a free plan, usage with nothing to pay beyond the
/// allowance). Decoded from any JSON value for a message that names the argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZeroOrMoreMinorUnits(pub serde_json::Value);

impl JsonSchema for ZeroOrMoreMinorUnits {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ZeroOrMoreMinorUnits".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "minimum": 0,
            "maximum": limits::AMOUNT_MAX_MINOR,
            "description": "Integer count of the currency's minor unit (kobo, cents). Never a float or a string."
        })
    }
}

impl ZeroOrMoreMinorUnits {
    pub fn minor_units(&self, param: &str) -> Result<i64, Failure> {
        match self.0.as_i64() {
            Some(value) if (0..=limits::AMOUNT_MAX_MINOR).contains(&value) => Ok(value),
            _ => Err(Failure::invalid(
                param,
                format!(
                    "{param} must be a whole number of minor units from 0 to {}, got {}",
                    limits::AMOUNT_MAX_MINOR,
                    limits::echo(&self.0.to_string())
                ),
            )),
        }
    }
}
