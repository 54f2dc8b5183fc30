//! Argument shapes and checks every operation shares: strict money input, ids, free text,
//! metadata, pagination, and the idempotency key with the request fingerprint it is bound to.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::money::{Asset, AssetRef, Money, Network};
use crate::limits;
use crate::ops::failure::Failure;
use crate::store::PageRequest;

/// A JSON number that must turn out to be an integer. Deserializes anything so that a float, a
/// string or a bool gets our own clear `invalid_request`, not a generic decoding error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StrictInteger(pub serde_json::Value);

impl JsonSchema for StrictInteger {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MinorUnits".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "minimum": limits::AMOUNT_MIN_MINOR,
            "maximum": limits::AMOUNT_MAX_MINOR,
            "description": "Integer count of the currency's minor unit (kobo, cents, USDC base units). Never a float or a string."
        })
    }
}

impl StrictInteger {
    /// The value as a positive amount in range, or a clear error naming `param`.
    pub fn amount_minor(&self, param: &str) -> Result<i64, Failure> {
        let out_of_range = || {
            Failure::invalid(
                param,
                format!(
                    "{param} must be an integer from {} to {} (minor units), got {}",
                    limits::AMOUNT_MIN_MINOR,
                    limits::AMOUNT_MAX_MINOR,
                    self.0
                ),
            )
        };
        match &self.0 {
            serde_json::Value::Number(number) => {
                if let Some(value) = number.as_i64() {
                    if (limits::AMOUNT_MIN_MINOR..=limits::AMOUNT_MAX_MINOR).contains(&value) {
                        Ok(value)
                    } else {
                        Err(out_of_range())
                    }
                } else if number.is_u64() {
                    Err(out_of_range())
                } else {
                    Err(Failure::invalid(
                        param,
                        format!(
                            "{param} must be a whole number of minor units (e.g. 1000000 kobo for ₦10,000.00), not {number}; amounts are never fractional or floats"
                        ),
                    ))
                }
            }
            other => Err(Failure::invalid(
                param,
                format!("{param} must be a JSON integer of minor units, not {}", json_kind(other)),
            )),
        }
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// An amount as the seed API spells it: `{"amount": 1000000, "currency": "NGN"}`, with
/// `network` for on-chain assets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = r#"an amount object like {"amount": 1000000, "currency": "NGN"}"#)]
pub struct MoneyInput {
    /// In minor units (kobo, cents): 1000000 is ₦10,000.00.
    pub amount: StrictInteger,
    /// Currency or asset code: NGN, USD, EUR, GBP, KES, GHS, ZAR, CAD, JMD, XOF, USDC, USDT, BTC.
    #[schemars(length(max = limits::ASSET_CODE_MAX_CHARS))]
    pub currency: String,
    /// Required for crypto: TRON, ETHEREUM, SOLANA or BASE for USDC/USDT; BITCOIN for BTC.
    #[serde(default)]
    #[schemars(length(max = limits::NETWORK_CODE_MAX_CHARS))]
    pub network: Option<String>,
}

impl MoneyInput {
    pub fn parse(&self, param: &str) -> Result<(Money, Option<Network>), Failure> {
        let asset = parse_asset(&self.currency, &format!("{param}.currency"))?;
        let amount_minor = self.amount.amount_minor(&format!("{param}.amount"))?;
        let network = match &self.network {
            None => None,
            Some(code) => Some(Network::parse(code).ok_or_else(|| {
                Failure::invalid(
                    &format!("{param}.network"),
                    format!("unknown network {}; use TRON, ETHEREUM, SOLANA, BASE or BITCOIN", limits::echo(code)),
                )
            })?),
        };
        let money = Money::new(asset, amount_minor).map_err(|error| Failure::invalid(param, error.to_string()))?;
        Ok((money, network))
    }
}

pub fn parse_asset(code: &str, param: &str) -> Result<AssetRef, Failure> {
    Asset::lookup(code).ok_or_else(|| {
        let known: Vec<&str> = crate::engine::money::ASSETS.iter().map(|asset| asset.code).collect();
        Failure::invalid(param, format!("unknown currency {}; supported: {}", limits::echo(code), known.join(", ")))
    })
}

/// Checks an optional free-text field against its length limit. A NUL character is refused: no
/// reader expects one in a description, and PostgreSQL's text type cannot hold it (the same
/// input is refused the same way on either backend).
pub fn optional_text(value: Option<String>, param: &str, max_chars: usize) -> Result<Option<String>, Failure> {
    match value {
        Some(text) if text.contains('\0') => {
            Err(Failure::invalid(param, format!("{param} must not contain a NUL character (U+0000)")))
        }
        Some(text) if text.chars().count() > max_chars => {
            Err(Failure::invalid(param, format!("{param} is longer than {max_chars} characters")))
        }
        Some(text) if text.trim().is_empty() => {
            Err(Failure::invalid(param, format!("{param} is empty; omit it instead")))
        }
        other => Ok(other),
    }
}

/// The schema of `metadata`: string keys and values, each bounded, and a bounded number of them.
pub fn metadata_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": limits::METADATA_MAX_KEYS,
        "propertyNames": {"maxLength": limits::METADATA_KEY_MAX_CHARS},
        "additionalProperties": {"type": "string", "maxLength": limits::METADATA_VALUE_MAX_CHARS}
    })
}

pub fn check_metadata(metadata: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Failure> {
    if metadata.len() > limits::METADATA_MAX_KEYS {
        return Err(Failure::invalid("metadata", format!("metadata has more than {} keys", limits::METADATA_MAX_KEYS)));
    }
    for (key, value) in &metadata {
        if key.is_empty() || key.chars().count() > limits::METADATA_KEY_MAX_CHARS {
            return Err(Failure::invalid(
                "metadata",
                format!("metadata keys are 1 to {} characters", limits::METADATA_KEY_MAX_CHARS),
            ));
        }
        if value.chars().count() > limits::METADATA_VALUE_MAX_CHARS {
            return Err(Failure::invalid(
                "metadata",
                format!(
                    "metadata value of {} is longer than {} characters",
                    limits::echo(key),
                    limits::METADATA_VALUE_MAX_CHARS
                ),
            ));
        }
    }
    Ok(metadata)
}

pub fn check_object_id(id: &str, prefix: &str, param: &str) -> Result<String, Failure> {
    if !id.starts_with(prefix) || id.chars().count() > limits::OBJECT_ID_MAX_CHARS {
        return Err(Failure::invalid(
            param,
            format!("{param} must be an id starting with {prefix:?}, got {}", limits::echo(id)),
        ));
    }
    Ok(id.to_owned())
}

/// The `limit` of every list tool: a page size, with its own schema (1 to `LIST_LIMIT_MAX`,
/// default `LIST_LIMIT_DEFAULT`), not money's. Like `StrictInteger` it takes any JSON value, so
/// that a float or a string gets a message naming `limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PageLimit(pub StrictInteger);

impl JsonSchema for PageLimit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PageLimit".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": limits::LIST_LIMIT_MAX,
            "default": limits::LIST_LIMIT_DEFAULT
        })
    }
}

/// Reads the `limit` and `starting_after` arguments every list tool takes.
pub fn page_request(limit: &Option<PageLimit>, starting_after: &Option<String>) -> Result<PageRequest, Failure> {
    let limit = match limit {
        None => limits::LIST_LIMIT_DEFAULT,
        Some(PageLimit(limit)) => {
            let value = limit.amount_minor("limit").ok().filter(|value| *value <= i64::from(limits::LIST_LIMIT_MAX));
            value.ok_or_else(|| {
                Failure::invalid("limit", format!("limit must be an integer from 1 to {}", limits::LIST_LIMIT_MAX))
            })? as u32
        }
    };
    let starting_after = match starting_after {
        Some(cursor) if cursor.is_empty() || cursor.chars().count() > limits::OBJECT_ID_MAX_CHARS => {
            return Err(Failure::invalid("starting_after", "starting_after must be an id from a previous page"));
        }
        other => other.clone(),
    };
    Ok(PageRequest { limit, starting_after })
}

/// A page's cursor must name an object of the same list; anything else is refused rather than
/// read as "from the start".
pub fn check_cursor(
    page: &PageRequest,
    exists: impl FnOnce(&str) -> crate::store::StoreResult<bool>,
) -> Result<(), crate::app::error::AppError> {
    match &page.starting_after {
        Some(cursor) if !exists(cursor)? => Err(crate::app::error::AppError::invalid(
            "starting_after",
            format!("starting_after {} is not an object in this list", limits::echo(cursor)),
        )),
        _ => Ok(()),
    }
}

/// Whether a confirmed write needs an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRule {
    /// Money moves: a key is required with `confirm: true`.
    Required,
    /// Nothing moves (e.g. a cancel before any money moved): a key is welcome, not required.
    Optional,
}

pub fn check_idempotency_key(tool: &str, key: Option<&str>, confirm: bool, rule: KeyRule) -> Result<(), Failure> {
    let Some(key) = key else {
        if confirm && rule == KeyRule::Required {
            return Err(Failure::invalid(
                "idempotency_key",
                format!(
                    "{tool} moves money: confirm: true requires an idempotency_key (1 to {} characters, unique per operation, reused only to retry it)",
                    limits::IDEMPOTENCY_KEY_MAX_CHARS
                ),
            ));
        }
        return Ok(());
    };
    let length = key.chars().count();
    if length == 0 || length > limits::IDEMPOTENCY_KEY_MAX_CHARS || key.chars().any(char::is_control) {
        return Err(Failure::invalid(
            "idempotency_key",
            format!("idempotency_key must be 1 to {} printable characters", limits::IDEMPOTENCY_KEY_MAX_CHARS),
        ));
    }
    Ok(())
}

/// JSON with object keys sorted at every level, so equal arguments hash equally.
pub fn canonical_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{}:{}", serde_json::Value::String(key.clone()), canonical_json(&object[key])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(","))
        }
        scalar => scalar.to_string(),
    }
}

/// SHA-256 over the operation name and the arguments in canonical JSON (object keys sorted),
/// `confirm` and the idempotency key left out: what an idempotency key is bound to.
pub fn request_fingerprint<A: Serialize>(operation: &str, arguments: &A) -> String {
    let mut value = serde_json::to_value(arguments).expect("arguments serialize");
    if let Some(object) = value.as_object_mut() {
        object.remove("confirm");
        object.remove("idempotency_key");
    }
    let canonical = canonical_json(&value);
    hex::encode(Sha256::digest(format!("{operation}\n{canonical}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_amount(value: serde_json::Value, expected: Result<i64, &str>) {
        let got = StrictInteger(value.clone()).amount_minor("amount.amount");
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected),
            (Err(failure), Err(fragment)) => {
                assert_eq!(failure.error.error_type, "invalid_request");
                assert!(failure.error.message.contains(fragment), "{value}: {}", failure.error.message);
            }
            (got, expected) => panic!("{value}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn amounts_must_be_integers_in_range() {
        check_amount(serde_json::json!(1000000), Ok(1_000_000));
        check_amount(serde_json::json!(9007199254740991_i64), Ok(9_007_199_254_740_991));
        check_amount(serde_json::json!(9007199254740992_i64), Err("must be an integer from 1"));
        check_amount(serde_json::json!(0), Err("must be an integer from 1"));
        check_amount(serde_json::json!(-5), Err("must be an integer from 1"));
        check_amount(serde_json::json!(100.5), Err("never fractional"));
        check_amount(serde_json::json!(100.0), Err("never fractional"));
        check_amount(serde_json::json!("100"), Err("not a string"));
        check_amount(serde_json::json!(null), Err("not null"));
        check_amount(serde_json::json!(u64::MAX), Err("must be an integer from 1"));
    }

    #[test]
    fn free_text_with_a_nul_is_refused_naming_the_argument_and_line_breaks_are_kept() {
        let refused = optional_text(Some("order\0 42".into()), "description", 100).unwrap_err();
        assert_eq!(refused.error.error_type, "invalid_request");
        assert_eq!(refused.error.param.as_deref(), Some("description"));
        assert!(refused.error.message.contains("NUL"), "{}", refused.error.message);
        assert_eq!(
            optional_text(Some("line 1\nline 2".into()), "description", 100).unwrap().as_deref(),
            Some("line 1\nline 2")
        );
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let left = serde_json::json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}});
        let right = serde_json::json!({"a": {"x": null, "y": [1, {"c": 3, "d": 2}]}, "b": 1});
        assert_eq!(canonical_json(&left), canonical_json(&right));
        assert_eq!(canonical_json(&left), r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#);
    }
}
