//! What every toolset shares: the error envelope, strict money input, pagination, and the one
//! path all write tools take (confirm → preview, idempotency, audit).

use std::collections::BTreeMap;

use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::error::AppError;
use crate::app::write::{BalanceChange, Command, IdempotencyInput, ToolWrite, WriteOutcome};
use crate::engine::money::{Asset, AssetRef, Money, Network};
use crate::engine::principal::Principal;
use crate::limits;
use crate::mcp::HarepayServer;
use crate::store::PageRequest;
use crate::views::MoneyView;

/// A tool error the agent reads: `isError: true` with `{error: {type, message, param?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolFailure {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable error type: invalid_request, not_found, insufficient_funds, balance_overflow,
    /// invalid_state, refund_exceeds_remaining, idempotency_key_reused, idempotency_key_in_use, forbidden,
    /// limit_exceeded, rate_limited, approval_expired, confirmation_declined, confirmation_unavailable,
    /// confirmation_invalid, test_mode_only, authentication_failed, internal_error.
    #[serde(rename = "type")]
    pub error_type: String,
    pub message: String,
    /// The argument at fault, when there is one (dotted path, e.g. "amount.currency").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// rate_limited only: wait this long, then retry the same call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ToolFailure {
    /// Messages are cut at `ERROR_MESSAGE_MAX_CHARS`: whatever a message quotes, an agent never
    /// reads (and the audit log never keeps) an unbounded one.
    pub fn new(error_type: &str, message: impl Into<String>, param: Option<&str>) -> ToolFailure {
        ToolFailure {
            error: ErrorBody {
                error_type: error_type.to_owned(),
                message: limits::truncate_chars(&message.into(), limits::ERROR_MESSAGE_MAX_CHARS),
                param: param.map(str::to_owned),
                retry_after_ms: None,
            },
        }
    }

    pub fn invalid(param: &str, message: impl Into<String>) -> ToolFailure {
        ToolFailure::new("invalid_request", message, Some(param))
    }

    pub fn into_call_tool_result(self) -> CallToolResult {
        let value = serde_json::to_value(&self).expect("errors serialize");
        CallToolResult::structured_error(value)
    }
}

impl From<AppError> for ToolFailure {
    fn from(error: AppError) -> ToolFailure {
        if let AppError::Internal { detail } = &error {
            tracing::error!(%detail, "internal error");
        }
        ToolFailure::new(error.code(), error.to_string(), error.param())
    }
}

impl IntoCallToolResult for ToolFailure {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        Ok(ToolFailure::into_call_tool_result(self).into())
    }
}

/// The output schema a client sees: the tool's result, or the error envelope. The MCP spec asks
/// structured content to match the output schema and makes no exception for `isError` results,
/// and strict clients (the MCP Inspector) enforce that.
pub fn output_schema_with_errors(success: &rmcp::model::JsonObject) -> rmcp::model::JsonObject {
    let mut success = success.clone();
    let schema_uri = success.remove("$schema");
    let mut definitions = match success.remove("$defs") {
        Some(serde_json::Value::Object(definitions)) => definitions,
        _ => serde_json::Map::new(),
    };
    let failure = schemars::schema_for!(ToolFailure);
    let mut failure = failure.as_object().cloned().unwrap_or_default();
    failure.remove("$schema");
    if let Some(serde_json::Value::Object(failure_definitions)) = failure.remove("$defs") {
        definitions.extend(failure_definitions);
    }
    definitions.insert("ToolFailure".to_owned(), serde_json::Value::Object(failure));
    let success_title = success.get("title").cloned();
    let mut combined = serde_json::Map::new();
    if let Some(schema_uri) = schema_uri {
        combined.insert("$schema".to_owned(), schema_uri);
    }
    if let Some(title) = success_title {
        combined.insert("title".to_owned(), title);
    }
    combined.insert("type".to_owned(), serde_json::json!("object"));
    combined.insert(
        "anyOf".to_owned(),
        serde_json::json!([serde_json::Value::Object(success), {"$ref": "#/$defs/ToolFailure"}]),
    );
    combined.insert("$defs".to_owned(), serde_json::Value::Object(definitions));
    combined
}

/// Rewrites `"type": ["string", "null"]` as `"anyOf": [{"type": "string", …}, {"type": "null"}]`
/// everywhere in a schema. Both mean the same in JSON Schema 2020-12, but type arrays are not
/// portable: some clients' schema dialects reject them, and strict linters (the MCP Inspector)
/// flag every one.
pub fn portable_nullables(value: &mut serde_json::Value) {
    /// Keywords that describe the property as a whole and stay outside the branches.
    const ANNOTATIONS: [&str; 5] = ["description", "title", "default", "examples", "deprecated"];
    match value {
        serde_json::Value::Object(object) => {
            for child in object.values_mut() {
                portable_nullables(child);
            }
            let Some(serde_json::Value::Array(types)) = object.get("type") else { return };
            if types.len() != 2 || !types.contains(&serde_json::json!("null")) {
                return;
            }
            let non_null = types.iter().find(|t| **t != serde_json::json!("null")).cloned().unwrap_or_default();
            let mut branch = serde_json::Map::new();
            branch.insert("type".to_owned(), non_null);
            let keys: Vec<String> = object.keys().cloned().collect();
            for key in keys {
                if key != "type" && !ANNOTATIONS.contains(&key.as_str()) {
                    branch.insert(key.clone(), object.remove(&key).unwrap_or_default());
                }
            }
            object.remove("type");
            object.insert("anyOf".to_owned(), serde_json::json!([serde_json::Value::Object(branch), {"type": "null"}]));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(portable_nullables),
        _ => {}
    }
}

pub type ToolResult<T> = Result<rmcp::handler::server::wrapper::Json<T>, ToolFailure>;

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
    pub fn amount_minor(&self, param: &str) -> Result<i64, ToolFailure> {
        let out_of_range = || {
            ToolFailure::invalid(
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
                    Err(ToolFailure::invalid(
                        param,
                        format!(
                            "{param} must be a whole number of minor units (e.g. 1000000 kobo for ₦10,000.00), not {number}; amounts are never fractional or floats"
                        ),
                    ))
                }
            }
            other => Err(ToolFailure::invalid(
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
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    /// Integer minor units: 1000000 is ₦10,000.00; 100000000 is 100 USDC.
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
    pub fn parse(&self, param: &str) -> Result<(Money, Option<Network>), ToolFailure> {
        let asset = parse_asset(&self.currency, &format!("{param}.currency"))?;
        let amount_minor = self.amount.amount_minor(&format!("{param}.amount"))?;
        let network = match &self.network {
            None => None,
            Some(code) => Some(Network::parse(code).ok_or_else(|| {
                ToolFailure::invalid(
                    &format!("{param}.network"),
                    format!("unknown network {}; use TRON, ETHEREUM, SOLANA, BASE or BITCOIN", limits::echo(code)),
                )
            })?),
        };
        let money = Money::new(asset, amount_minor).map_err(|error| ToolFailure::invalid(param, error.to_string()))?;
        Ok((money, network))
    }
}

pub fn parse_asset(code: &str, param: &str) -> Result<AssetRef, ToolFailure> {
    Asset::lookup(code).ok_or_else(|| {
        let known: Vec<&str> = crate::engine::money::ASSETS.iter().map(|asset| asset.code).collect();
        ToolFailure::invalid(param, format!("unknown currency {}; supported: {}", limits::echo(code), known.join(", ")))
    })
}

/// Checks an optional free-text field against its length limit.
pub fn optional_text(value: Option<String>, param: &str, max_chars: usize) -> Result<Option<String>, ToolFailure> {
    match value {
        Some(text) if text.chars().count() > max_chars => {
            Err(ToolFailure::invalid(param, format!("{param} is longer than {max_chars} characters")))
        }
        Some(text) if text.trim().is_empty() => {
            Err(ToolFailure::invalid(param, format!("{param} is empty; omit it instead")))
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

pub fn check_metadata(metadata: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ToolFailure> {
    if metadata.len() > limits::METADATA_MAX_KEYS {
        return Err(ToolFailure::invalid(
            "metadata",
            format!("metadata has more than {} keys", limits::METADATA_MAX_KEYS),
        ));
    }
    for (key, value) in &metadata {
        if key.is_empty() || key.chars().count() > limits::METADATA_KEY_MAX_CHARS {
            return Err(ToolFailure::invalid(
                "metadata",
                format!("metadata keys are 1 to {} characters", limits::METADATA_KEY_MAX_CHARS),
            ));
        }
        if value.chars().count() > limits::METADATA_VALUE_MAX_CHARS {
            return Err(ToolFailure::invalid(
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

pub fn check_object_id(id: &str, prefix: &str, param: &str) -> Result<String, ToolFailure> {
    if !id.starts_with(prefix) || id.chars().count() > limits::OBJECT_ID_MAX_CHARS {
        return Err(ToolFailure::invalid(
            param,
            format!("{param} must be an id starting with {prefix:?}, got {}", limits::echo(id)),
        ));
    }
    Ok(id.to_owned())
}

/// Reads the `limit` and `starting_after` arguments every list tool takes.
pub fn page_request(
    limit: &Option<StrictInteger>,
    starting_after: &Option<String>,
) -> Result<PageRequest, ToolFailure> {
    let limit = match limit {
        None => limits::LIST_LIMIT_DEFAULT,
        Some(limit) => {
            let value = limit.amount_minor("limit").ok().filter(|value| *value <= i64::from(limits::LIST_LIMIT_MAX));
            value.ok_or_else(|| {
                ToolFailure::invalid("limit", format!("limit must be an integer from 1 to {}", limits::LIST_LIMIT_MAX))
            })? as u32
        }
    };
    let starting_after = match starting_after {
        Some(cursor) if cursor.is_empty() || cursor.chars().count() > limits::OBJECT_ID_MAX_CHARS => {
            return Err(ToolFailure::invalid("starting_after", "starting_after must be an id from a previous page"));
        }
        other => other.clone(),
    };
    Ok(PageRequest { limit, starting_after })
}

/// A page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListResult<T> {
    pub data: Vec<T>,
    /// True when more items follow: call again with `starting_after` = `next_starting_after`.
    pub has_more: bool,
    pub next_starting_after: Option<String>,
}

impl<T> ListResult<T> {
    pub fn new(data: Vec<T>, has_more: bool, id_of: impl Fn(&T) -> String) -> ListResult<T> {
        let next_starting_after = if has_more { data.last().map(id_of) } else { None };
        ListResult { data, has_more, next_starting_after }
    }
}

/// One balance before and after a previewed write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceChangeView {
    /// available, pending or reserved.
    pub account: String,
    pub before: MoneyView,
    pub after: MoneyView,
}

/// The result of every write tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WriteResult<T> {
    /// "preview" (confirm was false: nothing was saved), "executed", or "replayed" (the
    /// idempotency key was used before with the same arguments: this is the original result and
    /// nothing moved again).
    pub outcome: String,
    /// The object as saved (executed, replayed) or as it would be (preview: its id is a
    /// placeholder that is not saved).
    pub object: T,
    /// Preview only: the merchant balances this call would change, before and after.
    pub balance_changes: Vec<BalanceChangeView>,
    /// What happened, or for a preview what would happen and how to confirm.
    pub message: String,
}

/// The one path of every write tool. `build` validates the arguments into a command; a failure
/// there is audited like any other refusal.
pub struct WriteCall<'a, A: Serialize> {
    pub server: &'a HarepayServer,
    /// Who is asking: resolved once per call by `call_tool`.
    pub principal: Principal,
    pub tool: &'static str,
    /// The tool's arguments, fingerprinted for idempotency (`confirm` and the key left out).
    pub arguments: &'a A,
    pub confirm: bool,
    pub idempotency_key: Option<String>,
    /// Money-moving writes require an idempotency key when confirmed.
    pub requires_idempotency_key: bool,
}

/// Whether a confirmed write needs an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRule {
    /// Money moves: a key is required with `confirm: true`.
    Required,
    /// Nothing moves (e.g. a cancel before any money moved): a key is welcome, not required.
    Optional,
}

impl<'a, A: Serialize> WriteCall<'a, A> {
    pub fn new(
        server: &'a HarepayServer,
        principal: Principal,
        tool: &'static str,
        arguments: &'a A,
        confirm: bool,
        idempotency_key: &Option<String>,
        key_rule: KeyRule,
    ) -> WriteCall<'a, A> {
        WriteCall {
            server,
            principal,
            tool,
            arguments,
            confirm,
            idempotency_key: idempotency_key.clone(),
            requires_idempotency_key: key_rule == KeyRule::Required,
        }
    }
}

impl<A: Serialize> WriteCall<'_, A> {
    pub async fn run<T: DeserializeOwned>(
        self,
        build: impl FnOnce(&Principal) -> Result<Command, ToolFailure>,
        describe: impl FnOnce(&T, &str) -> String,
    ) -> ToolResult<WriteResult<T>> {
        let principal = self.principal.clone();
        let app = self.server.app();
        let idempotency = match self.check_idempotency_key() {
            Ok(idempotency) => idempotency,
            Err(failure) => return Err(self.refuse(&principal, None, failure).await),
        };
        let command = match build(&principal) {
            Ok(command) => command,
            Err(failure) => return Err(self.refuse(&principal, idempotency.as_ref(), failure).await),
        };
        let write = ToolWrite { actor: principal, tool: self.tool, confirm: self.confirm, idempotency, command };
        let outcome = app.execute(write).await?;
        let (outcome_code, response_json, balance_changes) = match outcome {
            WriteOutcome::Preview { response_json, balance_changes } => ("preview", response_json, balance_changes),
            WriteOutcome::Executed { response_json } => ("executed", response_json, Vec::new()),
            WriteOutcome::Replayed { response_json } => ("replayed", response_json, Vec::new()),
            other @ (WriteOutcome::Done { .. } | WriteOutcome::Scheduled(_)) => {
                return Err(AppError::Internal { detail: format!("a tool write answered {other:?}") }.into());
            }
        };
        let object: T = serde_json::from_str(&response_json).map_err(|error| {
            ToolFailure::from(AppError::Internal { detail: format!("stored result unreadable: {error}") })
        })?;
        let mut message = describe(&object, outcome_code);
        match outcome_code {
            "preview" => message.push_str(&format!(
                " Nothing was saved. To do it, call {} again with the same arguments and confirm: true{}.",
                self.tool,
                if self.requires_idempotency_key {
                    " and an idempotency_key (a unique string per operation)"
                } else {
                    ""
                }
            )),
            "replayed" => message.push_str(
                " (Replayed: this idempotency key was already used with these arguments; nothing moved again.)",
            ),
            _ => {}
        }
        Ok(rmcp::handler::server::wrapper::Json(WriteResult {
            outcome: outcome_code.to_owned(),
            object,
            balance_changes: balance_changes
                .iter()
                .filter(|c| c.before_minor != c.after_minor)
                .map(change_view)
                .collect(),
            message,
        }))
    }

    fn check_idempotency_key(&self) -> Result<Option<IdempotencyInput>, ToolFailure> {
        let rule = if self.requires_idempotency_key { KeyRule::Required } else { KeyRule::Optional };
        check_idempotency_key(self.tool, self.idempotency_key.as_deref(), self.confirm, rule)?;
        Ok(self
            .idempotency_key
            .as_ref()
            .map(|key| IdempotencyInput { key: key.clone(), request_sha256_hex: self.fingerprint() }))
    }

    /// SHA-256 over the tool name and the arguments in canonical JSON (object keys sorted).
    fn fingerprint(&self) -> String {
        let mut value = serde_json::to_value(self.arguments).expect("arguments serialize");
        if let Some(object) = value.as_object_mut() {
            object.remove("confirm");
            object.remove("idempotency_key");
        }
        let canonical = canonical_json(&value);
        hex::encode(Sha256::digest(format!("{}\n{canonical}", self.tool).as_bytes()))
    }

    async fn refuse(
        &self,
        principal: &Principal,
        idempotency: Option<&IdempotencyInput>,
        failure: ToolFailure,
    ) -> ToolFailure {
        let idempotency_key = idempotency.map(|i| i.key.clone()).or_else(|| self.idempotency_key.clone());
        self.server
            .app()
            .record_refusal(
                principal,
                self.tool,
                idempotency_key,
                failure.error.error_type.clone(),
                failure.error.message.clone(),
            )
            .await;
        failure
    }
}

/// An idempotency key is 1 to `IDEMPOTENCY_KEY_MAX_CHARS` printable characters, and a confirmed
/// write that moves money (`KeyRule::Required`) needs one.
pub fn check_idempotency_key(tool: &str, key: Option<&str>, confirm: bool, rule: KeyRule) -> Result<(), ToolFailure> {
    let Some(key) = key else {
        if confirm && rule == KeyRule::Required {
            return Err(ToolFailure::invalid(
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
        return Err(ToolFailure::invalid(
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

fn change_view(change: &BalanceChange) -> BalanceChangeView {
    BalanceChangeView {
        account: change.account.code().to_owned(),
        before: MoneyView::new(change.asset, change.before_minor),
        after: MoneyView::new(change.asset, change.after_minor),
    }
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
    fn nullable_type_arrays_become_any_of() {
        let mut schema = serde_json::json!({
            "type": "object",
            "properties": {
                "customer": {"description": "who", "type": ["string", "null"], "maxLength": 5},
                "items": {"type": "array", "items": {"type": ["integer", "null"], "format": "int64"}}
            }
        });
        portable_nullables(&mut schema);
        assert_eq!(
            schema["properties"]["customer"],
            serde_json::json!({"description": "who", "anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]})
        );
        assert_eq!(
            schema["properties"]["items"]["items"],
            serde_json::json!({"anyOf": [{"type": "integer", "format": "int64"}, {"type": "null"}]})
        );
        assert_eq!(schema["type"], "object", "single types are left alone");
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let left = serde_json::json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}});
        let right = serde_json::json!({"a": {"x": null, "y": [1, {"c": 3, "d": 2}]}, "b": 1});
        assert_eq!(canonical_json(&left), canonical_json(&right));
        assert_eq!(canonical_json(&left), r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#);
    }
}
