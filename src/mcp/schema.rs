//! What agents read of a tool's arguments and results, made lean and portable. schemars writes
//! schemas for Rust readers: `$schema`, a `title` per type, formats no JSON Schema validator knows
//! (`uint64`, `int64`: the MCP Inspector warns about each on every call), `default: null`, the doc
//! comment of every type and a `$defs` entry for types used once. Every agent pays for those bytes
//! on every `tools/list`, and a tool list is read far more often than it is generated, so each
//! tool's schemas pass through here once, when the registry is built:
//!
//! - no `$schema`, no `title`, no `format` outside the standard ones (`STANDARD_FORMATS`);
//! - descriptions on one line, no `default` that only repeats "optional" (`null`, `{}`, `[]`);
//! - a shape used more than once in a schema is defined once in its `$defs` and referenced; a
//!   definition used once is written in place, and one used nowhere is dropped;
//! - inputs: an optional argument is described by what to send, not also by `null` (harepay
//!   still accepts `null` for it);
//! - outputs carry no prose: a result is read after the call, and what it means is said once, in
//!   the tool's description and the guide. The error envelope is one short shape, the same in
//!   every tool (the error types are listed once, in the guide), and an object several tools of a
//!   toolset return is described in full in one of them (`lean_output_schemas`).
//!
//! Pure functions over JSON, independent of how the tool list is assembled; the catalog tests
//! hold the result to its budget (`limits::TOOL_LIST_AVERAGE_MAX_BYTES_PER_TOOL`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// A JSON Schema as an object (rmcp's `JsonObject`).
pub type JsonObject = Map<String, Value>;

/// The formats JSON Schema 2020-12 defines (Validation §7.3). Validators know these and only
/// these; any other is ignored at best and warned about on every call at worst.
pub const STANDARD_FORMATS: [&str; 19] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// The name `output_schema_with_errors` gives the error branch among an output schema's `$defs`.
const GENERATED_ERROR_DEFINITION: &str = "ToolFailure";

/// A shape repeated inline is worth a `$defs` entry only from this size (compact JSON bytes): a
/// reference and a definition cost about 40 bytes plus a name.
const HOIST_MIN_BYTES: usize = 80;

/// The result of a call that failed (`isError: true`), as every output schema allows it. Short
/// on purpose: it is repeated in every tool. `retry_after_ms` (rate_limited only) is left to the
/// guide; the envelope allows it, as it allows any other field.
pub fn error_envelope_schema() -> JsonObject {
    let schema = json!({
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "param": {"type": "string"}
                },
                "required": ["type", "message"]
            }
        },
        "required": ["error"]
    });
    into_object(schema)
}

/// A tool's input schema as agents read it.
pub fn lean_input_schema(generated: &JsonObject) -> JsonObject {
    let mut schema = generated.clone();
    schema.remove("$schema");
    visit_schemas(&mut schema, &mut strip_generator_noise);
    visit_schemas(&mut schema, &mut optional_properties_without_null);
    share_repeated_shapes(&mut schema);
    schema
}

/// One tool's output schema, for `lean_output_schemas`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub tool: String,
    pub read_only: bool,
    /// As `output_schema_with_errors` makes it: the result or the error envelope.
    pub schema: JsonObject,
}

/// One tool's output schema as agents and validating clients read it. `lean_output_schemas`
/// does the same for a group of tools and also describes their shared objects once.
pub fn lean_output_schema(generated: &JsonObject) -> JsonObject {
    let mut schema = prepare_output(generated);
    share_repeated_shapes(&mut schema);
    schema
}

/// The output schemas of tools listed together (a toolset), made lean. Beyond what
/// `lean_output_schema` does alone, an object that several of them return in full (a payout:
/// created, listed, fetched, approved) is described in full once, in the read-only tool with the
/// smallest result that carries it; the others type it as an object and name that tool. An agent
/// reads the list as one text, and one copy of a 1.5 KB shape is enough.
pub fn lean_output_schemas(outputs: &mut [ToolOutput]) {
    for output in outputs.iter_mut() {
        output.schema = prepare_output(&output.schema);
    }
    name_bare_results(outputs);
    let mut shared = BTreeSet::new();
    while let Some((definition, home)) = next_shared_object(outputs, &shared) {
        shared.insert(definition.clone());
        let home_tool = outputs[home].tool.clone();
        for (index, output) in outputs.iter_mut().enumerate() {
            if index == home || !reachable_definitions(&output.schema).contains(&definition) {
                continue;
            }
            let Some(Value::Object(definitions)) = output.schema.get_mut("$defs") else { continue };
            let pointer = json!({"type": "object", "description": format!("Same shape as in {home_tool}.")});
            definitions.insert(definition.clone(), pointer);
        }
    }
    for output in outputs.iter_mut() {
        share_repeated_shapes(&mut output.schema);
    }
}

/// Below this size (compact JSON bytes, its own definitions included) a shape is cheaper to repeat
/// than to point at: money amounts stay in every tool.
const SHARE_ACROSS_TOOLS_MIN_BYTES: usize = 200;

/// The largest definition that more than one tool carries in full and that is big enough to
/// share, with the tool that keeps it.
fn next_shared_object(outputs: &[ToolOutput], shared: &BTreeSet<String>) -> Option<(String, usize)> {
    let mut carriers: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, output) in outputs.iter().enumerate() {
        // The error envelope stays whole in every tool: it is what a failed call of any tool returns.
        let candidates = reachable_definitions(&output.schema)
            .into_iter()
            .filter(|name| name != GENERATED_ERROR_DEFINITION && !shared.contains(name));
        for definition in candidates {
            carriers.entry(definition).or_default().push(index);
        }
    }
    carriers
        .into_iter()
        .filter(|(_, tools)| tools.len() > 1)
        .filter_map(|(definition, tools)| {
            let home = tools
                .iter()
                .copied()
                .filter(|index| outputs[*index].read_only)
                .min_by_key(|index| (compact_bytes(&outputs[*index].schema), outputs[*index].tool.clone()))?;
            let size = expanded_bytes(&outputs[home].schema, &definition);
            (size >= SHARE_ACROSS_TOOLS_MIN_BYTES).then_some((size, definition, home))
        })
        .max()
        .map(|(_, definition, home)| (definition, home))
}

/// The output schema before definitions are shared or written in place: no generator noise, no
/// prose (a result is read after the call; what it means is in the tool's description and the
/// guide), and the short error envelope.
fn prepare_output(generated: &JsonObject) -> JsonObject {
    let mut schema = generated.clone();
    schema.remove("$schema");
    visit_schemas(&mut schema, &mut |node| {
        strip_generator_noise(node);
        node.remove("description");
    });
    if let Some(Value::Object(definitions)) = schema.get_mut("$defs")
        && definitions.contains_key(GENERATED_ERROR_DEFINITION)
    {
        definitions.insert(GENERATED_ERROR_DEFINITION.to_owned(), Value::Object(error_envelope_schema()));
    }
    schema
}

/// A tool that returns an object bare (get_payout) has its shape as the result branch, where
/// the tools that wrap it (in a list, in a write result) have it as a definition. Naming the bare
/// one the same lets it be the home of that shape. A definition used once is written back in place.
fn name_bare_results(outputs: &mut [ToolOutput]) {
    let mut named: BTreeMap<String, String> = BTreeMap::new();
    for output in outputs.iter() {
        for (name, definition) in output.schema.get("$defs").and_then(Value::as_object).into_iter().flatten() {
            named.entry(definition.to_string()).or_insert_with(|| name.clone());
        }
    }
    for output in outputs.iter_mut() {
        let Some(Value::Array(branches)) = output.schema.get("anyOf") else { continue };
        let Some(result) = branches.first().filter(|result| result.get("$ref").is_none()).cloned() else { continue };
        let Some(name) = named.get(&result.to_string()) else { continue };
        let definitions = output.schema.entry("$defs").or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(definitions) = definitions else { continue };
        if definitions.contains_key(name) {
            continue;
        }
        definitions.insert(name.clone(), result);
        if let Some(Value::Array(branches)) = output.schema.get_mut("anyOf") {
            branches[0] = json!({"$ref": format!("#/$defs/{name}")});
        }
    }
}

fn compact_bytes(schema: &JsonObject) -> usize {
    serde_json::to_string(schema).map_or(0, |text| text.len())
}

/// The definitions the schema uses, directly or through other definitions.
fn reachable_definitions(schema: &JsonObject) -> BTreeSet<String> {
    let mut root = schema.clone();
    root.remove("$defs");
    let mut reachable = BTreeSet::new();
    let mut pending: Vec<String> = reference_counts(&root).into_keys().collect();
    while let Some(name) = pending.pop() {
        if !reachable.insert(name.clone()) {
            continue;
        }
        if let Some(Value::Object(definition)) = schema.get("$defs").and_then(|defs| defs.get(&name)) {
            pending.extend(reference_counts(definition).into_keys());
        }
    }
    reachable
}

/// The size of definition `name` with every definition it uses, each counted once.
fn expanded_bytes(schema: &JsonObject, name: &str) -> usize {
    let Some(definitions) = schema.get("$defs").and_then(Value::as_object) else { return 0 };
    let mut probe = Map::new();
    probe.insert("$ref".to_owned(), Value::String(format!("#/$defs/{name}")));
    probe.insert("$defs".to_owned(), Value::Object(definitions.clone()));
    reachable_definitions(&probe)
        .iter()
        .filter_map(|used| definitions.get(used))
        .map(|used| serde_json::to_string(used).map_or(0, |text| text.len()))
        .sum()
}

/// Every `format` in `schema` that JSON Schema does not define, with its path.
pub fn non_standard_formats(schema: &JsonObject) -> Vec<String> {
    let mut found = Vec::new();
    collect_formats(schema, "#", &mut found);
    found
}

fn collect_formats(schema: &JsonObject, path: &str, found: &mut Vec<String>) {
    if let Some(format) = schema.get("format")
        && !format.as_str().is_some_and(|format| STANDARD_FORMATS.contains(&format))
    {
        found.push(format!("{path}: format {format}"));
    }
    for (keyword, child_path, child) in subschemas(schema) {
        let path = match child_path {
            Some(segment) => format!("{path}/{keyword}/{segment}"),
            None => format!("{path}/{keyword}"),
        };
        collect_formats(child, &path, found);
    }
}

fn into_object(value: Value) -> JsonObject {
    match value {
        Value::Object(object) => object,
        _ => unreachable!("a schema literal is an object"),
    }
}

/// Keywords whose value is a map of subschemas.
const SCHEMA_MAPS: [&str; 4] = ["properties", "$defs", "patternProperties", "dependentSchemas"];
/// Keywords whose value is one subschema.
const SCHEMA_VALUES: [&str; 10] = [
    "items",
    "additionalProperties",
    "propertyNames",
    "not",
    "contains",
    "if",
    "then",
    "else",
    "unevaluatedProperties",
    "unevaluatedItems",
];
/// Keywords whose value is an array of subschemas.
const SCHEMA_ARRAYS: [&str; 4] = ["anyOf", "oneOf", "allOf", "prefixItems"];

/// The direct subschemas of `schema`, as (keyword, name or index, subschema). Values of `const`,
/// `enum`, `default` and `examples` are data, not schemas, and are never visited.
fn subschemas(schema: &JsonObject) -> Vec<(&str, Option<String>, &JsonObject)> {
    let mut found = Vec::new();
    for (keyword, value) in schema {
        let keyword = keyword.as_str();
        if SCHEMA_MAPS.contains(&keyword) {
            for (name, child) in value.as_object().into_iter().flatten() {
                if let Value::Object(child) = child {
                    found.push((keyword, Some(name.clone()), child));
                }
            }
        } else if SCHEMA_VALUES.contains(&keyword) {
            if let Value::Object(child) = value {
                found.push((keyword, None, child));
            }
        } else if SCHEMA_ARRAYS.contains(&keyword) {
            for (index, child) in value.as_array().into_iter().flatten().enumerate() {
                if let Value::Object(child) = child {
                    found.push((keyword, Some(index.to_string()), child));
                }
            }
        }
    }
    found
}

/// The direct subschemas of `schema`, mutable, each with the keyword it sits under.
fn subschemas_mut(schema: &mut JsonObject) -> Vec<(&str, &mut JsonObject)> {
    let mut found = Vec::new();
    for (keyword, value) in schema.iter_mut() {
        let keyword = keyword.as_str();
        let children: Vec<&mut Value> = if SCHEMA_MAPS.contains(&keyword) {
            value.as_object_mut().map(|map| map.values_mut().collect()).unwrap_or_default()
        } else if SCHEMA_VALUES.contains(&keyword) {
            vec![value]
        } else if SCHEMA_ARRAYS.contains(&keyword) {
            value.as_array_mut().map(|items| items.iter_mut().collect()).unwrap_or_default()
        } else {
            Vec::new()
        };
        found.extend(children.into_iter().filter_map(Value::as_object_mut).map(|child| (keyword, child)));
    }
    found
}

/// Calls `visit` on `schema` and then on every subschema below it, depth first.
fn visit_schemas(schema: &mut JsonObject, visit: &mut impl FnMut(&mut JsonObject)) {
    visit(schema);
    for (_, child) in subschemas_mut(schema) {
        visit_schemas(child, visit);
    }
}

/// `title` (the Rust type's name), non-standard formats, defaults that say only "optional", and
/// the line breaks of doc comments.
fn strip_generator_noise(schema: &mut JsonObject) {
    schema.remove("title");
    if schema.get("format").is_some_and(|format| !format.as_str().is_some_and(|f| STANDARD_FORMATS.contains(&f))) {
        schema.remove("format");
    }
    let empty_default = match schema.get("default") {
        Some(Value::Null) => true,
        Some(Value::Object(object)) => object.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        _ => false,
    };
    if empty_default {
        schema.remove("default");
    }
    if let Some(Value::String(description)) = schema.get_mut("description") {
        *description = description.split_whitespace().collect::<Vec<_>>().join(" ");
    }
}

/// An optional argument written `anyOf: [X, {type: null}]` becomes X: an agent omits what it
/// does not mean to send, and the branch doubles the size of every optional argument.
fn optional_properties_without_null(schema: &mut JsonObject) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let Some(Value::Object(properties)) = schema.get_mut("properties") else { return };
    for (name, property) in properties.iter_mut() {
        if required.contains(name) {
            continue;
        }
        let Value::Object(property) = property else { continue };
        let Some(Value::Array(branches)) = property.get("anyOf") else { continue };
        let is_null =
            |branch: &Value| branch.as_object().is_some_and(|b| b.len() == 1 && b.get("type") == Some(&json!("null")));
        let non_null: Vec<&Value> = branches.iter().filter(|branch| !is_null(branch)).collect();
        if branches.len() != 2 || non_null.len() != 1 {
            continue;
        }
        let Value::Object(branch) = non_null[0].clone() else { continue };
        property.remove("anyOf");
        for (keyword, value) in branch {
            property.entry(keyword).or_insert(value);
        }
    }
}

/// Makes `$defs` hold exactly the shapes used more than once: repeated inline shapes of some size
/// are moved in, definitions used once are written in place (the site's own annotations win),
/// unused ones are dropped, and an empty `$defs` goes.
fn share_repeated_shapes(schema: &mut JsonObject) {
    hoist_repeated_shapes(schema);
    loop {
        let counts = reference_counts(schema);
        let definitions = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
        let unused: Vec<String> = definitions.keys().filter(|name| !counts.contains_key(*name)).cloned().collect();
        let single: Option<String> = definitions
            .iter()
            .find(|(name, definition)| counts.get(*name) == Some(&1) && !refers_to(definition, name))
            .map(|(name, _)| name.clone());
        if unused.is_empty() && single.is_none() {
            break;
        }
        let Some(Value::Object(definitions)) = schema.get_mut("$defs") else { break };
        for name in unused {
            definitions.remove(&name);
        }
        if let Some(name) = single {
            let Some(Value::Object(definition)) = definitions.remove(&name) else { continue };
            let reference = Value::String(format!("#/$defs/{name}"));
            visit_schemas(schema, &mut |node| {
                if node.get("$ref") == Some(&reference) {
                    node.remove("$ref");
                    for (keyword, value) in definition.clone() {
                        node.entry(keyword).or_insert(value);
                    }
                }
            });
        }
    }
    if schema.get("$defs").and_then(Value::as_object).is_some_and(Map::is_empty) {
        schema.remove("$defs");
    }
}

/// How often each `$defs` entry is referenced, anywhere in the schema.
fn reference_counts(schema: &JsonObject) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    count_references(schema, &mut counts);
    counts
}

fn count_references(schema: &JsonObject, counts: &mut BTreeMap<String, usize>) {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        *counts.entry(name.to_owned()).or_default() += 1;
    }
    for (_, _, child) in subschemas(schema) {
        count_references(child, counts);
    }
}

fn refers_to(definition: &Value, name: &str) -> bool {
    let mut counts = BTreeMap::new();
    if let Value::Object(definition) = definition {
        count_references(definition, &mut counts);
    }
    counts.contains_key(name)
}

/// Object shapes written out in full in more than one place become one `$defs` entry, named after
/// the property where they first appear. Annotations (a description at one site) stay at the site.
fn hoist_repeated_shapes(schema: &mut JsonObject) {
    loop {
        let mut seen: BTreeMap<String, (usize, String)> = BTreeMap::new();
        collect_shapes(schema, "", true, &mut seen);
        let repeated = seen
            .into_iter()
            .filter(|(shape, (count, _))| *count > 1 && shape.len() >= HOIST_MIN_BYTES)
            .max_by_key(|(shape, (count, _))| shape.len() * (count - 1));
        let Some((shape, (_, property_name))) = repeated else { return };
        let definitions = schema.entry("$defs").or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(definitions) = definitions else { return };
        let name = unused_name(definitions, &property_name);
        let shape_value: Value = serde_json::from_str(&shape).expect("a shape we serialized");
        definitions.insert(name.clone(), shape_value);
        let reference = format!("#/$defs/{name}");
        replace_shape(schema, &shape, &reference, true);
    }
}

/// The compact JSON of a subschema without its annotations: what makes two sites the same shape.
fn shape_of(schema: &JsonObject) -> String {
    let mut shape = schema.clone();
    shape.remove("description");
    serde_json::to_string(&Value::Object(shape)).expect("JSON serializes")
}

/// Every subschema below the root that is not a definition itself, by shape: how often and the
/// first property name it appears under.
fn collect_shapes(schema: &JsonObject, name: &str, is_root: bool, seen: &mut BTreeMap<String, (usize, String)>) {
    if !is_root && !schema.contains_key("$ref") {
        let entry = seen.entry(shape_of(schema)).or_insert_with(|| (0, name.to_owned()));
        entry.0 += 1;
    }
    for (keyword, child_name, child) in subschemas(schema) {
        if is_root && keyword == "$defs" {
            // A definition is already shared; shapes inside it are counted once, under it.
            collect_shapes(child, child_name.as_deref().unwrap_or_default(), true, seen);
            continue;
        }
        let name = match keyword {
            "properties" => child_name.unwrap_or_default(),
            _ => name.to_owned(),
        };
        collect_shapes(child, &name, false, seen);
    }
}

fn replace_shape(schema: &mut JsonObject, shape: &str, reference: &str, is_root: bool) {
    if !is_root && !schema.contains_key("$ref") && shape_of(schema) == shape {
        let description = schema.remove("description");
        schema.clear();
        schema.insert("$ref".to_owned(), Value::String(reference.to_owned()));
        if let Some(description) = description {
            schema.insert("description".to_owned(), description);
        }
        return;
    }
    for (keyword, child) in subschemas_mut(schema) {
        // Definitions are shapes' homes, not sites: look inside them, never replace them.
        replace_shape(child, shape, reference, is_root && keyword == "$defs");
    }
}

/// A `$defs` name for a shape first seen under `property`: `Amount`, or `Amount2` if taken.
fn unused_name(definitions: &JsonObject, property: &str) -> String {
    let base: String = property
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_uppercase().chain(chars).collect::<String>()).unwrap_or_default()
        })
        .collect();
    let base = if base.is_empty() { "Shape".to_owned() } else { base };
    let mut name = base.clone();
    let mut suffix = 2;
    while definitions.contains_key(&name) {
        name = format!("{base}{suffix}");
        suffix += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> JsonObject {
        into_object(value)
    }

    /// What schemars and `portable_nullables` make of an argument struct with an optional
    /// string, an optional amount, a money type used twice and a type used nowhere.
    fn generated_input() -> JsonObject {
        object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "CreateThingArgs",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "note": {"description": "A note,\nfor people.", "anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}], "default": null},
                "count": {"anyOf": [{"type": "integer", "format": "uint32", "minimum": 0}, {"type": "null"}]},
                "price": {"$ref": "#/$defs/Money", "description": "What it costs."},
                "fee": {"$ref": "#/$defs/Money"},
                "limit": {"anyOf": [{"$ref": "#/$defs/PageLimit"}, {"type": "null"}], "description": "Page size."},
                "when": {"type": "string", "format": "date-time", "maxLength": 40},
                "tags": {"type": "object", "default": {}, "additionalProperties": {"type": "string", "maxLength": 9}}
            },
            "required": ["price", "fee", "when"],
            "$defs": {
                "Money": {"title": "Money", "description": "An amount.", "type": "object", "properties": {"amount": {"type": "integer", "format": "int64"}}, "required": ["amount"]},
                "PageLimit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                "Unused": {"type": "string"}
            }
        }))
    }

    #[test]
    fn input_schemas_lose_generator_noise_and_keep_what_validates() {
        let lean = lean_input_schema(&generated_input());
        let expected = json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "note": {"description": "A note, for people.", "type": "string", "maxLength": 5},
                "count": {"type": "integer", "minimum": 0},
                "price": {"$ref": "#/$defs/Money", "description": "What it costs."},
                "fee": {"$ref": "#/$defs/Money"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10, "description": "Page size."},
                "when": {"type": "string", "format": "date-time", "maxLength": 40},
                "tags": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 9}}
            },
            "required": ["price", "fee", "when"],
            "$defs": {
                "Money": {"description": "An amount.", "type": "object", "properties": {"amount": {"type": "integer"}}, "required": ["amount"]}
            }
        });
        assert_eq!(Value::Object(lean), expected);
    }

    #[test]
    fn required_nullable_arguments_keep_their_null() {
        let generated = object(json!({
            "type": "object",
            "properties": {"reason": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
            "required": ["reason"]
        }));
        assert_eq!(lean_input_schema(&generated), generated, "null is part of what a required argument may be");
    }

    #[test]
    fn only_non_standard_formats_are_reported_and_removed() {
        let schema = object(json!({
            "type": "object",
            "properties": {
                "a": {"type": "integer", "format": "uint64"},
                "b": {"anyOf": [{"type": "number", "format": "double"}, {"type": "null"}]},
                "c": {"type": "string", "format": "uuid"},
                "d": {"const": {"format": "uint8"}}
            }
        }));
        assert_eq!(
            non_standard_formats(&schema),
            vec!["#/properties/a: format \"uint64\"", "#/properties/b/anyOf/0: format \"double\""]
        );
        let lean = lean_input_schema(&schema);
        assert_eq!(non_standard_formats(&lean), Vec::<String>::new());
        assert_eq!(lean["properties"]["c"]["format"], "uuid", "standard formats stay");
        assert_eq!(lean["properties"]["d"]["const"], json!({"format": "uint8"}), "data is not a schema");
    }

    #[test]
    fn a_shape_written_out_twice_is_defined_once() {
        let wallet = json!({"type": "object", "properties": {"address": {"type": "string"}, "network": {"type": "string"}}, "required": ["address", "network"]});
        let mut described = wallet.clone();
        described["description"] = json!("Where it came from.");
        let generated = object(json!({
            "type": "object",
            "properties": {"source_wallet": described, "target": {"type": "array", "items": wallet}}
        }));
        let lean = lean_input_schema(&generated);
        assert_eq!(lean["$defs"]["SourceWallet"], wallet);
        assert_eq!(
            lean["properties"]["source_wallet"],
            json!({"$ref": "#/$defs/SourceWallet", "description": "Where it came from."}),
            "the site keeps its own description"
        );
        assert_eq!(lean["properties"]["target"]["items"], json!({"$ref": "#/$defs/SourceWallet"}));
    }

    /// What `output_schema_with_errors` makes of a result that carries a `Thing` and money.
    fn generated_output(result: Value, things: bool) -> JsonObject {
        let mut definitions = json!({
            "Money": {"type": "object", "description": "An amount.", "properties": {"amount": {"type": "integer", "format": "int64"}, "display": {"type": "string"}}, "required": ["amount", "display"]},
            "ToolFailure": {"title": "ToolFailure", "type": "object", "properties": {"error": {"$ref": "#/$defs/ErrorBody"}}, "required": ["error"]},
            "ErrorBody": {"type": "object", "properties": {"type": {"type": "string", "description": "Stable error type: a, b, c."}}, "required": ["type"]}
        });
        if things {
            definitions["Thing"] = json!({
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "Thing id."},
                    "price": {"$ref": "#/$defs/Money"},
                    "fee": {"$ref": "#/$defs/Money"},
                    "status": {"type": "string", "description": "new, used or lost."},
                    "label": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "updated_at_ms": {"type": "integer", "format": "int64"},
                    "created_at_ms": {"type": "integer", "format": "int64"}
                },
                "required": ["id", "price", "fee", "status", "label", "updated_at_ms", "created_at_ms"]
            });
        }
        object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "anyOf": [result, {"$ref": "#/$defs/ToolFailure"}],
            "$defs": definitions
        }))
    }

    #[test]
    fn output_schemas_carry_no_prose_and_a_short_error_envelope() {
        let result = json!({"type": "object", "properties": {"thing": {"$ref": "#/$defs/Thing", "description": "The thing."}}, "required": ["thing"]});
        let lean = lean_output_schema(&generated_output(result, true));
        let text = serde_json::to_string(&lean).expect("serializes");
        for absent in ["description", "$schema", "title", "int64", "Stable error type", "ErrorBody"] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
        assert_eq!(lean["anyOf"][1], Value::Object(error_envelope_schema()));
        assert_eq!(lean["anyOf"][0]["properties"]["thing"]["properties"]["price"], json!({"$ref": "#/$defs/Money"}));
        assert_eq!(lean["$defs"].as_object().map(|defs| defs.len()), Some(1), "Money is used twice, Thing once");
        assert!(lean["$defs"]["Money"].is_object());
    }

    #[test]
    fn an_object_several_tools_return_is_described_in_full_once() {
        let bare = json!({"$ref": "#/$defs/Thing"});
        let bare = {
            let generated = generated_output(bare, true);
            // A tool returning the object bare has it as its result, not as a definition.
            let mut generated = generated;
            let thing = generated["$defs"]["Thing"].clone();
            generated["anyOf"][0] = thing;
            generated.get_mut("$defs").and_then(Value::as_object_mut).map(|defs| defs.remove("Thing"));
            generated
        };
        let list = json!({"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/$defs/Thing"}}, "has_more": {"type": "boolean"}}, "required": ["data", "has_more"]});
        let write = json!({"type": "object", "properties": {"outcome": {"type": "string"}, "object": {"$ref": "#/$defs/Thing"}}, "required": ["outcome", "object"]});
        let money_only = json!({"type": "object", "properties": {"total": {"$ref": "#/$defs/Money"}, "paid": {"$ref": "#/$defs/Money"}}, "required": ["total", "paid"]});
        let mut outputs = vec![
            ToolOutput { tool: "list_things".to_owned(), read_only: true, schema: generated_output(list, true) },
            ToolOutput { tool: "get_thing".to_owned(), read_only: true, schema: bare },
            ToolOutput { tool: "make_thing".to_owned(), read_only: false, schema: generated_output(write, true) },
            ToolOutput { tool: "get_total".to_owned(), read_only: true, schema: generated_output(money_only, false) },
        ];
        lean_output_schemas(&mut outputs);
        let [list, get, write, total] = &outputs[..] else { unreachable!() };
        let pointer = json!({"type": "object", "description": "Same shape as in get_thing."});
        assert_eq!(list.schema["anyOf"][0]["properties"]["data"]["items"], pointer);
        assert_eq!(write.schema["anyOf"][0]["properties"]["object"], pointer);
        assert_eq!(get.schema["anyOf"][0]["properties"]["status"], json!({"type": "string"}), "home: in full");
        assert_eq!(get.schema["anyOf"][0]["properties"]["price"], json!({"$ref": "#/$defs/Money"}));
        assert!(list.schema.get("$defs").is_none(), "Money went with Thing: {:?}", list.schema);
        for output in &outputs {
            assert_eq!(output.schema["anyOf"][1], Value::Object(error_envelope_schema()), "{}", output.tool);
        }
        assert_eq!(
            total.schema["$defs"]["Money"]["properties"]["display"],
            json!({"type": "string"}),
            "small shapes stay"
        );
    }

    /// Every error harepay returns has the shape the envelope publishes: each required field,
    /// each published field of its published type.
    #[test]
    fn every_error_result_fits_the_envelope() {
        use crate::ops::Failure as ToolFailure;
        let envelope = Value::Object(error_envelope_schema());
        let mut rate_limited = ToolFailure::new("rate_limited", "slow down", None);
        rate_limited.error.retry_after_ms = Some(1500);
        let failures = [
            ToolFailure::new("not_found", "no payout po_1", None),
            ToolFailure::invalid("amount.currency", "unknown currency"),
            rate_limited,
        ];
        fn fits(value: &Value, schema: &Value) -> bool {
            let type_fits = match schema["type"].as_str() {
                Some("object") => value.is_object(),
                Some("string") => value.is_string(),
                Some("integer") => value.is_i64() || value.is_u64(),
                _ => true,
            };
            let required_present = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|name| name.as_str().is_some_and(|name| value.get(name).is_some()));
            let properties_fit = schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .all(|(name, property)| value.get(name).is_none_or(|field| fits(field, property)));
            type_fits && required_present && properties_fit
        }
        for failure in failures {
            let value = serde_json::to_value(&failure).expect("serializes");
            assert!(fits(&value, &envelope), "{value} does not fit {envelope}");
        }
    }
}
