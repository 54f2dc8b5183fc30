//! Bounded input: one guard, run by `call_tool` on the raw arguments of every call before its
//! tool runs (and so before anything is decoded, stored or echoed), against the limits the tool's
//! own input schema publishes: `maxLength`, `maxItems`, `maxProperties`, `propertyNames`, the
//! longest `enum`/`const` value. What the schema does not bound (an unknown argument, a value of
//! the wrong type) gets the small `ARGUMENT_UNDESCRIBED_*` limits, and the arguments as a whole
//! a total size and a nesting depth. A new tool is bounded by its schema with no code of its own;
//! the catalog test fails when a string argument has no `maxLength`.
//!
//! Also here: the decoder's messages made safe to show (short echoes, no Rust type names).

use serde_json::{Map, Value};

use crate::limits;
use crate::ops::Failure;

/// A JSON Schema object (a boolean schema describes nothing we bound).
type Schema<'a> = &'a Map<String, Value>;

/// Refuses arguments that break a limit of `input_schema`, naming the argument at fault.
pub fn check_argument_bounds(
    input_schema: &Map<String, Value>,
    arguments: Option<&Map<String, Value>>,
) -> Result<(), Failure> {
    let Some(arguments) = arguments else { return Ok(()) };
    let guard = Guard { definitions: input_schema.get("$defs").and_then(Value::as_object) };
    guard.object(arguments, Some(input_schema), "", 1)?;
    let total_bytes = arguments.iter().map(|(name, value)| name.len() + size_bytes(value)).sum::<usize>();
    if total_bytes > limits::ARGUMENTS_MAX_BYTES {
        return Err(Failure::new(
            "invalid_request",
            format!("the arguments are larger than {} bytes", limits::ARGUMENTS_MAX_BYTES),
            None,
        ));
    }
    Ok(())
}

/// String and name bytes, 8 for any other value. The guard has bounded the depth before this runs.
fn size_bytes(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len(),
        Value::Array(items) => 8 + items.iter().map(size_bytes).sum::<usize>(),
        Value::Object(object) => 8 + object.iter().map(|(name, value)| name.len() + size_bytes(value)).sum::<usize>(),
        _ => 8,
    }
}

struct Guard<'a> {
    definitions: Option<Schema<'a>>,
}

fn too_long(path: &str, max_chars: usize) -> Failure {
    Failure::invalid(path, format!("{path} is longer than {max_chars} characters"))
}

/// The argument path as `param`: the arguments as a whole have none.
fn param_of(path: &str) -> Option<&str> {
    (!path.is_empty()).then_some(path)
}

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

fn is_longer_than(text: &str, max_chars: usize) -> bool {
    text.len() > max_chars && text.chars().count() > max_chars
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `schema` admits the JSON type of `value`; a schema without `type` admits any.
fn admits_type(schema: Schema, value: &Value) -> bool {
    let actual = json_type(value);
    let admits = |declared: &Value| {
        declared.as_str().is_some_and(|declared| declared == actual || (declared == "number" && actual == "integer"))
    };
    match schema.get("type") {
        None => true,
        Some(Value::Array(types)) => types.iter().any(admits),
        Some(declared) => admits(declared),
    }
}

/// Whether an object carries the `const` properties of a branch: the tag of a tagged enum.
fn matches_tags(schema: Schema, value: &Value) -> bool {
    let (Some(properties), Some(object)) = (schema.get("properties").and_then(Value::as_object), value.as_object())
    else {
        return true;
    };
    properties.iter().all(|(name, property)| match (property.get("const"), object.get(name)) {
        (Some(tag), Some(given)) => tag == given,
        _ => true,
    })
}

fn max_of(schema: Option<Schema>, keyword: &str) -> Option<usize> {
    schema?.get(keyword)?.as_u64().map(|max| usize::try_from(max).unwrap_or(usize::MAX))
}

fn too_many(path: &str, max_entries: usize) -> Failure {
    let message = match param_of(path) {
        Some(path) => format!("{path} has more than {max_entries} entries"),
        None => format!("the arguments have more than {max_entries} entries"),
    };
    Failure::new("invalid_request", message, param_of(path))
}

impl<'a> Guard<'a> {
    /// Follows local `$ref`s (`#/$defs/Name`); one that does not resolve describes nothing.
    fn resolve(&self, schema: &'a Value) -> Option<Schema<'a>> {
        let mut schema = schema.as_object()?;
        for _ in 0..limits::ARGUMENTS_MAX_DEPTH {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else { return Some(schema) };
            let name = reference.strip_prefix("#/$defs/")?;
            schema = self.definitions?.get(name)?.as_object()?;
        }
        None
    }

    fn value(&self, value: &Value, schema: Option<Schema<'a>>, path: &str, depth: usize) -> Result<(), Failure> {
        let branches = schema.and_then(|schema| schema.get("anyOf").or_else(|| schema.get("oneOf")));
        if let Some(branches) = branches.and_then(Value::as_array) {
            return self.branches(value, branches, path, depth);
        }
        // A value of a type the schema does not describe gets the undescribed limits.
        let schema = schema.filter(|schema| admits_type(schema, value));
        match value {
            Value::String(text) => string(text, schema, path),
            Value::Array(items) => self.array(items, schema, path, depth),
            Value::Object(object) => self.object(object, schema, path, depth),
            _ => Ok(()),
        }
    }

    /// `anyOf` / `oneOf`: the value keeps the limits of one branch that fits it (by type, then
    /// by tag); with no branch of its type, the undescribed limits.
    fn branches(&self, value: &Value, branches: &'a [Value], path: &str, depth: usize) -> Result<(), Failure> {
        let of_type: Vec<Schema<'a>> = branches
            .iter()
            .filter_map(|branch| self.resolve(branch))
            .filter(|branch| admits_type(branch, value))
            .collect();
        let tagged: Vec<Schema<'a>> = of_type.iter().copied().filter(|branch| matches_tags(branch, value)).collect();
        let candidates = if tagged.is_empty() { of_type } else { tagged };
        let mut first_failure = None;
        for branch in candidates {
            match self.value(value, Some(branch), path, depth) {
                Ok(()) => return Ok(()),
                Err(failure) => {
                    first_failure.get_or_insert(failure);
                }
            }
        }
        match first_failure {
            Some(failure) => Err(failure),
            None => self.value(value, None, path, depth),
        }
    }

    fn array(&self, items: &[Value], schema: Option<Schema<'a>>, path: &str, depth: usize) -> Result<(), Failure> {
        nesting(path, depth)?;
        let max_items = max_of(schema, "maxItems").unwrap_or(limits::ARGUMENT_UNDESCRIBED_MAX_ENTRIES);
        if items.len() > max_items {
            return Err(too_many(path, max_items));
        }
        let item_schema = schema.and_then(|schema| schema.get("items")).and_then(|items| self.resolve(items));
        for (index, item) in items.iter().enumerate() {
            self.value(item, item_schema, &child_path(path, &index.to_string()), depth + 1)?;
        }
        Ok(())
    }

    fn object(
        &self,
        object: &Map<String, Value>,
        schema: Option<Schema<'a>>,
        path: &str,
        depth: usize,
    ) -> Result<(), Failure> {
        nesting(path, depth)?;
        let max_entries = max_of(schema, "maxProperties").unwrap_or(limits::ARGUMENT_UNDESCRIBED_MAX_ENTRIES);
        if object.len() > max_entries {
            return Err(too_many(path, max_entries));
        }
        let properties = schema.and_then(|schema| schema.get("properties")).and_then(Value::as_object);
        let additional = schema.and_then(|schema| schema.get("additionalProperties")).and_then(|a| self.resolve(a));
        let names = schema.and_then(|schema| schema.get("propertyNames")).and_then(Value::as_object);
        let name_max_chars = max_of(names, "maxLength").unwrap_or(limits::ARGUMENT_UNDESCRIBED_MAX_CHARS);
        for (name, value) in object {
            let property = properties.and_then(|properties| properties.get(name)).and_then(|p| self.resolve(p));
            let known = properties.is_some_and(|properties| properties.contains_key(name));
            if !known && is_longer_than(name, name_max_chars) {
                let message = match param_of(path) {
                    Some(path) => format!("{path} has a key longer than {name_max_chars} characters"),
                    None => format!("an argument name is longer than {name_max_chars} characters"),
                };
                return Err(Failure::new("invalid_request", message, param_of(path)));
            }
            // A name the schema does not list is the agent's text: a path quotes a short echo of it.
            let segment = if known { name.clone() } else { limits::truncate_chars(name, limits::INPUT_ECHO_MAX_CHARS) };
            self.value(value, property.or(additional), &child_path(path, &segment), depth + 1)?;
        }
        Ok(())
    }
}

fn nesting(path: &str, depth: usize) -> Result<(), Failure> {
    if depth > limits::ARGUMENTS_MAX_DEPTH {
        return Err(Failure::new(
            "invalid_request",
            format!("the arguments nest deeper than {} levels", limits::ARGUMENTS_MAX_DEPTH),
            param_of(path),
        ));
    }
    Ok(())
}

/// A string keeps its schema's `maxLength`; an `enum` or `const` string is no longer than its
/// longest value; any other string keeps the undescribed limit.
fn string(text: &str, schema: Option<Schema>, path: &str) -> Result<(), Failure> {
    if let Some(max_chars) = max_of(schema, "maxLength") {
        return if is_longer_than(text, max_chars) { Err(too_long(path, max_chars)) } else { Ok(()) };
    }
    let allowed: Vec<&str> = match schema {
        Some(schema) => match (schema.get("enum").and_then(Value::as_array), schema.get("const")) {
            (Some(values), _) => values.iter().filter_map(Value::as_str).collect(),
            (None, Some(value)) => value.as_str().into_iter().collect(),
            (None, None) => Vec::new(),
        },
        None => Vec::new(),
    };
    match allowed.iter().map(|value| value.chars().count()).max() {
        Some(longest) if is_longer_than(text, longest) => {
            let message = match allowed.as_slice() {
                [_] => format!("{path} is not one of the allowed values"),
                _ => format!("{path} must be one of: {}", allowed.join(", ")),
            };
            Err(Failure::invalid(path, message))
        }
        Some(_) => Ok(()),
        None if is_longer_than(text, limits::ARGUMENT_UNDESCRIBED_MAX_CHARS) => {
            Err(too_long(path, limits::ARGUMENT_UNDESCRIBED_MAX_CHARS))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::registry;

    fn input_schema(tool: &str) -> Map<String, Value> {
        let registered = registry().iter().find(|registered| registered.tool.name == tool).expect("a tool");
        (*registered.tool.input_schema).clone()
    }

    /// Runs the guard on `arguments` for `tool`: `Ok(())`, or the refusal's param and a fragment
    /// of its message.
    fn check(tool: &str, arguments: Value, expected: Result<(), (Option<&str>, &str)>) {
        let arguments = arguments.as_object().expect("an object").clone();
        match (check_argument_bounds(&input_schema(tool), Some(&arguments)), expected) {
            (Ok(()), Ok(())) => {}
            (Err(failure), Err((param, fragment))) => {
                assert_eq!(failure.error.error_type, "invalid_request");
                assert_eq!(failure.error.param.as_deref(), param, "{tool}: {failure:?}");
                assert!(failure.error.message.contains(fragment), "{tool}: {}", failure.error.message);
            }
            (got, expected) => panic!("{tool}: got {got:?}, expected {expected:?}"),
        }
    }

    /// The dotted paths of strings and maps in `schema` that publish no bound.
    fn unbounded(schema: &Value, definitions: &Value, path: &str, found: &mut Vec<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            unbounded(&definitions[reference.trim_start_matches("#/$defs/")], definitions, path, found);
        }
        for branch in schema["anyOf"].as_array().into_iter().chain(schema["oneOf"].as_array()).flatten() {
            unbounded(branch, definitions, path, found);
        }
        let bounded_string = schema.get("maxLength").or(schema.get("enum")).or(schema.get("const")).is_some();
        if schema["type"] == "string" && !bounded_string {
            found.push(path.to_owned());
        }
        if schema["additionalProperties"].is_object()
            && (schema["maxProperties"].is_null() || schema["propertyNames"]["maxLength"].is_null())
        {
            found.push(format!("{path} (a map)"));
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            unbounded(property, definitions, &format!("{path}.{name}"), found);
        }
        if schema["additionalProperties"].is_object() {
            unbounded(&schema["additionalProperties"], definitions, &format!("{path}.*"), found);
        }
    }

    #[test]
    fn every_string_argument_of_every_tool_publishes_its_maximum_length() {
        for registered in registry() {
            let schema = Value::Object((*registered.tool.input_schema).clone());
            let mut found = Vec::new();
            unbounded(&schema, &schema["$defs"], registered.tool.name.as_ref(), &mut found);
            assert!(found.is_empty(), "arguments without a maxLength (add one from limits.rs): {found:?}");
        }
    }

    #[test]
    fn the_guard_enforces_the_schema_limits_and_names_the_argument() {
        let long = |chars: usize| json!("₦".repeat(chars));
        check("get_payment", json!({"id": "pi_1"}), Ok(()));
        check("get_payment", json!({"id": long(64)}), Ok(()));
        check("get_payment", json!({"id": long(65)}), Err((Some("id"), "id is longer than 64 characters")));
        check("list_payments", json!({"customer": null}), Ok(()));
        check("list_payments", json!({"customer": long(256)}), Err((Some("customer"), "longer than 255")));
        check("list_payments", json!({"status": "x".repeat(16)}), Err((Some("status"), "must be one of: ")));
        check("list_payments", json!({"status": "canceled_"}), Ok(()));
        check("get_balance", json!({"asset": "NGNNGNNGN"}), Err((Some("asset"), "longer than 8")));
        let payout = |destination: Value| json!({"amount": {"amount": 1, "currency": "NGN"}, "rail": "rubies", "destination": destination});
        let wallet = |address: Value| json!({"kind": "crypto_wallet", "address": address, "network": "TRON"});
        check("create_payout", payout(wallet(long(90))), Ok(()));
        check("create_payout", payout(wallet(long(91))), Err((Some("destination.address"), "longer than 90")));
        let bank = json!({"kind": "bank", "account_no": long(35), "bank_code": "058"});
        check("create_payout", payout(bank), Err((Some("destination.account_no"), "longer than 34")));
        let odd_kind = json!({"kind": "x".repeat(14), "address": "T"});
        check("create_payout", payout(odd_kind), Err((Some("destination.kind"), "not one of the allowed values")));
        let metadata = |entries: usize, key_chars: usize, value_chars: usize| {
            let entries = (0..entries).map(|index| (format!("{index:0>key_chars$}"), "v".repeat(value_chars).into()));
            json!({"amount": {"amount": 1, "currency": "NGN"}, "method": "card", "rail": "card",
                   "metadata": Value::Object(entries.collect())})
        };
        check("create_payment_intent", metadata(50, 40, 500), Ok(()));
        check("create_payment_intent", metadata(51, 2, 1), Err((Some("metadata"), "more than 50 entries")));
        check("create_payment_intent", metadata(1, 41, 1), Err((Some("metadata"), "a key longer than 40")));
        check("create_payment_intent", metadata(1, 4, 501), Err((Some("metadata.0000"), "longer than 500")));
        // What the schema does not describe: an unknown argument, a value of the wrong type.
        check("whoami", json!({"x": long(64)}), Ok(()));
        check("whoami", json!({"x": long(65)}), Err((Some("x"), "longer than 64")));
        check("whoami", json!({"x".repeat(65): 1}), Err((None, "an argument name is longer than 64")));
        check("get_payment", json!({"id": {"a": long(65)}}), Err((Some("id.a"), "longer than 64")));
        check("get_payment", json!({"id": vec![1; 65]}), Err((Some("id"), "more than 64 entries")));
        let unknown_name = "y".repeat(60);
        let echoed = format!("{}….z", "y".repeat(31));
        check("whoami", json!({ unknown_name: {"z": long(65)} }), Err((Some(echoed.as_str()), "longer than 64")));
        let mut deep = json!(1);
        for _ in 0..limits::ARGUMENTS_MAX_DEPTH {
            deep = json!([deep]);
        }
        check("whoami", json!({ "x": deep }), Err((Some("x.0.0.0.0.0.0.0"), "nest deeper than 8 levels")));
        let rows = json!(vec![vec!["x".repeat(64); 64]; 64]);
        check("whoami", json!({ "x": rows }), Err((None, "larger than 131072 bytes")));
        check(
            "whoami",
            Value::Object((0..65).map(|i| (i.to_string(), json!(1))).collect()),
            Err((None, "more than 64")),
        );
    }
}
