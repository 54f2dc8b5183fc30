//! JSON Schema as MCP clients take it: the error envelope admitted by every output schema, and
//! nullable types spelled portably.

use crate::ops::Failure;

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
    let failure = schemars::schema_for!(Failure);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
