//! Tool arguments decoded into their Rust type, and a failure an agent can act on when they do not
//! fit: `invalid_request` with `param` the dotted path of the argument at fault (from
//! `serde_path_to_error`) and a plain message that says what was expected and what came, in the
//! words of the tool's schema ("an object", "true or false", "one of: rubies, partna"). serde
//! speaks of Rust types (`expected struct MoneyInput`, `expected i64`); no such name reaches an
//! agent, and what a message quotes of the input is a short echo.
//!
//! Every operation's arguments are decoded here (`Entry::call`, `Entry::validate`), whatever the
//! face.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use crate::limits;
use crate::ops::{Failure, JsonObject};

/// Decodes `arguments` as `T`, or names the argument that does not fit and says why.
pub fn decode_arguments<T: DeserializeOwned>(arguments: &JsonObject) -> Result<T, Failure> {
    let value = Value::Object(arguments.clone());
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = dotted_path(error.path());
        describe_failure(&path, &error.into_inner().to_string(), arguments)
    })
}

/// The segments of `amount.currency`, `metadata.order`, `items.0`; none for the arguments as a
/// whole.
fn dotted_path(path: &serde_path_to_error::Path) -> Vec<String> {
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// The path as `param` shows it: a name the agent made up is cut to a short echo.
fn joined(path: &[String]) -> String {
    let segments: Vec<String> =
        path.iter().map(|segment| limits::truncate_chars(segment, limits::INPUT_ECHO_MAX_CHARS)).collect();
    segments.join(".")
}

fn with_name(path: &[String], name: &str) -> Vec<String> {
    let mut path = path.to_vec();
    path.push(name.to_owned());
    path
}

/// The value the agent sent at `path`, if the path leads to one.
fn value_at<'a>(arguments: &'a JsonObject, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = arguments.get(first)?;
    for segment in rest {
        value = match value {
            Value::Object(object) => object.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// serde's messages (`serde::de::Error`'s standard ones) in the words of a JSON Schema.
fn describe_failure(path: &[String], message: &str, arguments: &JsonObject) -> Failure {
    if let Some(field) = quoted_after(message, "missing field ") {
        let param = joined(&with_name(path, field));
        return Failure::invalid(&param, format!("{param} is required"));
    }
    if let Some(field) = quoted_after(message, "unknown field ") {
        // Inside an object with a `kind`, serde reports the object, not the field.
        let holder =
            if path.is_empty() { Some(arguments) } else { value_at(arguments, path).and_then(Value::as_object) };
        let names_the_object =
            path.last().map(String::as_str) != Some(field) && holder.is_some_and(|holder| holder.contains_key(field));
        let path = if names_the_object { with_name(path, field) } else { path.to_vec() };
        let param = joined(&path);
        let known = quoted_list(message.split_once(", expected ").map_or("", |(_, known)| known));
        let (owner, noun) = match path.len() {
            0 | 1 => ("this tool".to_owned(), "arguments"),
            _ => (joined(&path[..path.len() - 1]), "fields"),
        };
        let message = match known.as_slice() {
            [] => format!("{param} is not known: {owner} takes no {noun}"),
            _ => format!("{param} is not known; the {noun} of {owner} are: {}", known.join(", ")),
        };
        return Failure::invalid(&param, message);
    }
    let param = if path.is_empty() { "arguments".to_owned() } else { joined(path) };
    if let Some(given) = quoted_after(message, "unknown variant ") {
        let allowed = quoted_list(message.split_once(", expected ").map_or("", |(_, allowed)| allowed));
        let case_hint =
            if allowed.iter().any(|value| value.eq_ignore_ascii_case(given)) { " (case matters)" } else { "" };
        return Failure::invalid(
            &param,
            format!("{param} must be one of: {}{case_hint}; got {}", allowed.join(", "), limits::echo(given)),
        );
    }
    let expected = message.rsplit_once(", expected ").map(|(_, expected)| plain_expectation(expected));
    if let (Some(rest), Some(expected)) = (message.strip_prefix("invalid type: "), expected.as_deref()) {
        let sent_kind = serde_kind(rest);
        return match value_at(arguments, path) {
            Some(sent) if Some(json_kind(sent)) == sent_kind => {
                Failure::invalid(&param, format!("{param} must be {expected}, not {}", describe_value(sent)))
            }
            // The value at the path is not what serde saw: the misfit is a field inside it.
            _ => Failure::invalid(
                &param,
                format!(
                    "a field of {param} must be {expected}, not {}",
                    sent_kind.map_or("what was sent", kind_with_article)
                ),
            ),
        };
    }
    if let (Some(_), Some(expected)) = (message.strip_prefix("invalid value: "), expected.as_deref()) {
        let sent = value_at(arguments, path).map_or_else(|| "what was sent".to_owned(), describe_value);
        return Failure::invalid(&param, format!("{param} must be {expected}, not {sent}"));
    }
    if let (Some(_), Some(expected)) = (message.strip_prefix("invalid length "), expected.as_deref()) {
        return Failure::invalid(&param, format!("{param} must be {expected}"));
    }
    // A type's own message (a custom `Deserialize`): shown, with its echoes cut and type names out.
    let mut failure = decoding_failure(message, Some(arguments));
    failure.error.message = format!("{param}: {}", failure.error.message.trim_start_matches("invalid arguments: "));
    failure.error.param = (!path.is_empty()).then_some(param);
    failure
}

/// The name in backticks right after `prefix`: `missing field `rail`` → `rail`.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

/// The names in backticks of serde's list of what it expected: "one of `a`, `b`" or "`a` or `b`".
fn quoted_list(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// What serde expected, as the schema would say it.
fn plain_expectation(expected: &str) -> String {
    const PHRASES: [(&str, &str); 12] = [
        ("a boolean", "true or false"),
        ("i64", "an integer"),
        ("i32", "an integer"),
        ("u64", "a whole number, 0 or more"),
        ("u32", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("f64", "a number"),
        ("a string", "a string"),
        ("string or map", "a string"),
        ("a map", "an object"),
        ("a sequence", "an array"),
        ("unit", "null"),
    ];
    if let Some((_, plain)) = PHRASES.iter().find(|(serde, _)| *serde == expected) {
        return (*plain).to_owned();
    }
    if expected.starts_with("internally tagged enum ") {
        return "an object with a kind".to_owned();
    }
    if expected.starts_with("struct ") || expected.starts_with("tuple struct ") {
        return "an object".to_owned();
    }
    if expected.starts_with("enum ") {
        return "one of the allowed values".to_owned();
    }
    // A type's own `expecting` text: already in words, and never the agent's input.
    limits::truncate_chars(expected, limits::ERROR_MESSAGE_MAX_CHARS / 2)
}

/// The JSON kind serde saw, from the start of its `Unexpected` text ("integer `5`").
fn serde_kind(unexpected: &str) -> Option<&'static str> {
    const KINDS: [(&str, &str); 8] = [
        ("boolean", "boolean"),
        ("integer", "number"),
        ("floating point", "number"),
        ("string", "string"),
        ("null", "null"),
        ("unit value", "null"),
        ("map", "object"),
        ("sequence", "array"),
    ];
    KINDS.iter().find(|(serde, _)| unexpected.starts_with(serde)).map(|(_, kind)| *kind)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn kind_with_article(kind: &str) -> &'static str {
    match kind {
        "boolean" => "a boolean",
        "number" => "a number",
        "string" => "a string",
        "array" => "an array",
        "object" => "an object",
        _ => "null",
    }
}

/// The value as a message may show it: scalars as they are (a string as a short echo).
fn describe_value(value: &Value) -> String {
    match value {
        Value::String(text) => format!("the string {}", limits::echo(text)),
        Value::Number(number) => format!("the number {number}"),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Null => "null".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The decoder's message for arguments that did not decode (wrong type, unknown field or
/// variant, missing field), safe to show and to audit: what it quotes of the input is cut to a
/// short echo, Rust type names become words, and the whole is bounded by `Failure::new`.
pub(crate) fn decoding_failure(message: &str, arguments: Option<&JsonObject>) -> Failure {
    let mut message =
        format!("invalid arguments: {}", message.trim_start_matches("failed to deserialize parameters: "));
    let mut long_inputs = Vec::new();
    for (name, value) in arguments.into_iter().flatten() {
        if is_longer_than(name, limits::INPUT_ECHO_MAX_CHARS) {
            long_inputs.push(name.as_str());
        }
        collect_long_strings(value, &mut long_inputs, 2);
    }
    // Longest first, so that a string containing another is cut whole.
    long_inputs.sort_by_key(|text| std::cmp::Reverse(text.len()));
    for text in long_inputs {
        let prefix: String = text.chars().take(limits::INPUT_ECHO_MAX_CHARS).collect();
        message = message.replace(&format!("{text:?}"), &limits::echo(text)).replace(text, &format!("{prefix}…"));
    }
    Failure::new("invalid_request", without_type_names(&message), None)
}

/// Names and string values longer than an echo, as the decoder may quote them.
fn collect_long_strings<'v>(value: &'v Value, found: &mut Vec<&'v str>, depth: usize) {
    let long = |text: &str| is_longer_than(text, limits::INPUT_ECHO_MAX_CHARS);
    match value {
        Value::String(text) if long(text) => found.push(text),
        Value::Array(items) if depth <= limits::ARGUMENTS_MAX_DEPTH => {
            items.iter().for_each(|item| collect_long_strings(item, found, depth + 1));
        }
        Value::Object(object) if depth <= limits::ARGUMENTS_MAX_DEPTH => {
            for (name, value) in object {
                if long(name) {
                    found.push(name);
                }
                collect_long_strings(value, found, depth + 1);
            }
        }
        _ => {}
    }
}

/// serde names the Rust type it expected ("expected struct MoneyInput"); an agent knows the
/// argument by its schema, not by our type names.
fn without_type_names(message: &str) -> String {
    const PHRASES: [(&str, &str); 4] = [
        ("internally tagged enum ", "an object with a kind"),
        ("tuple struct ", "an array"),
        ("struct ", "an object"),
        ("enum ", "one of the allowed values"),
    ];
    let mut message = message.to_owned();
    for (phrase, words) in PHRASES {
        let mut searched_to = 0;
        while let Some(found) = message[searched_to..].find(phrase) {
            let start = searched_to + found;
            let name_start = start + phrase.len();
            let name_length = message[name_start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(message.len() - name_start);
            if message[name_start..].starts_with(|c: char| c.is_ascii_uppercase()) {
                message.replace_range(start..name_start + name_length, words);
                searched_to = start + words.len();
            } else {
                searched_to = name_start;
            }
        }
    }
    message
}

fn is_longer_than(text: &str, max_chars: usize) -> bool {
    text.len() > max_chars && text.chars().nth(max_chars).is_some()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ops::account::NoArgs;
    use crate::ops::payments::create_payment_intent::CreatePaymentIntentArgs;
    use crate::ops::payments::list_payments::ListPaymentsArgs;
    use crate::ops::payments::simulate_payment::SimulatePaymentArgs;
    use crate::ops::payouts::create_payout::CreatePayoutArgs;

    fn payout(changes: Value) -> JsonObject {
        let mut arguments = json!({
            "amount": {"amount": 485000, "currency": "NGN"},
            "rail": "rubies",
            "destination": {"kind": "bank", "account_no": "0123456789", "bank_code": "058"}
        });
        for (name, value) in changes.as_object().expect("an object") {
            match value {
                Value::Null if name.starts_with('-') => {
                    arguments.as_object_mut().expect("an object").remove(&name[1..]);
                }
                _ => arguments[name] = value.clone(),
            }
        }
        arguments.as_object().expect("an object").clone()
    }

    /// Decodes `arguments` as `T` and checks the refusal's `param` and message.
    fn check<T: DeserializeOwned + std::fmt::Debug>(arguments: JsonObject, param: Option<&str>, message: &str) {
        let failure = decode_arguments::<T>(&arguments).expect_err("the arguments do not fit");
        assert_eq!(failure.error.error_type, "invalid_request");
        assert_eq!(failure.error.param.as_deref(), param, "{}", failure.error.message);
        assert_eq!(failure.error.message, message);
    }

    #[test]
    fn valid_arguments_decode() {
        let decoded = decode_arguments::<CreatePayoutArgs>(&payout(json!({"confirm": true}))).expect("decodes");
        assert!(decoded.confirm);
        assert_eq!(decoded.amount.currency, "NGN");
    }

    #[test]
    fn each_misfit_names_its_argument_in_plain_words() {
        check::<CreatePayoutArgs>(
            payout(json!({"amount": 1000})),
            Some("amount"),
            r#"amount must be an amount object like {"amount": 1000000, "currency": "NGN"}, not the number 1000"#,
        );
        check::<CreatePayoutArgs>(payout(json!({"-rail": null})), Some("rail"), "rail is required");
        check::<CreatePayoutArgs>(
            payout(json!({"rail": "Rubies"})),
            Some("rail"),
            r#"rail must be one of: rubies, partna (case matters); got "Rubies""#,
        );
        check::<CreatePayoutArgs>(
            payout(json!({"rail": "swift"})),
            Some("rail"),
            r#"rail must be one of: rubies, partna; got "swift""#,
        );
        check::<CreatePayoutArgs>(
            payout(json!({"confirm": "true"})),
            Some("confirm"),
            r#"confirm must be true or false, not the string "true""#,
        );
        check::<CreatePayoutArgs>(
            payout(json!({"colour": "red"})),
            Some("colour"),
            "colour is not known; the arguments of this tool are: amount, rail, destination, description, metadata, \
             confirm, idempotency_key",
        );
        check::<NoArgs>(
            json!({"x": 1}).as_object().cloned().unwrap_or_default(),
            Some("x"),
            "x is not known: this tool takes no arguments",
        );
    }

    #[test]
    fn nested_misfits_get_dotted_paths() {
        check::<CreatePayoutArgs>(
            payout(json!({"amount": {"amount": 1, "currency": "NGN", "cents": 5}})),
            Some("amount.cents"),
            "amount.cents is not known; the fields of amount are: amount, currency, network",
        );
        check::<CreatePayoutArgs>(
            payout(json!({"amount": {"currency": "NGN"}})),
            Some("amount.amount"),
            "amount.amount is required",
        );
        check::<CreatePayoutArgs>(
            payout(json!({"metadata": {"order": 1001}})),
            Some("metadata.order"),
            "metadata.order must be a string, not the number 1001",
        );
        check::<CreatePayoutArgs>(
            payout(json!({"destination": {"kind": "iban", "account_no": "1"}})),
            Some("destination.kind"),
            r#"destination.kind must be one of: bank, crypto_wallet; got "iban""#,
        );
        check::<CreatePayoutArgs>(
            payout(json!({"destination": {"account_no": "1", "bank_code": "058"}})),
            Some("destination.kind"),
            "destination.kind is required",
        );
        check::<CreatePayoutArgs>(
            payout(json!({"destination": {"kind": "bank", "bank_code": "058"}})),
            Some("destination.account_no"),
            "destination.account_no is required",
        );
        check::<CreatePayoutArgs>(
            payout(json!({"destination": {"kind": "bank", "account_no": "1", "bank_code": "058", "iban": "x"}})),
            Some("destination.iban"),
            "destination.iban is not known; the fields of destination are: account_no, bank_code, account_name",
        );
        // Inside an object with a kind, serde names the object, not the field: say so.
        check::<CreatePayoutArgs>(
            payout(json!({"destination": {"kind": "bank", "account_no": 123, "bank_code": "058"}})),
            Some("destination"),
            "a field of destination must be a string, not a number",
        );
        check::<CreatePayoutArgs>(
            payout(json!({"destination": "0123456789"})),
            Some("destination"),
            r#"destination must be an object with a kind, "bank" or "crypto_wallet", not the string "0123456789""#,
        );
    }

    #[test]
    fn no_rust_type_name_and_no_long_echo_reaches_the_message() {
        let long = "x".repeat(100);
        let cases = [
            payout(json!({"confirm": long})),
            payout(json!({"rail": long})),
            payout(json!({ long.clone(): 1 })),
            payout(json!({"amount": null})),
            payout(json!({"amount": [1, 2, 3]})),
            payout(json!({"rail": 5})),
        ];
        for arguments in cases {
            let failure = decode_arguments::<CreatePayoutArgs>(&arguments).expect_err("does not fit");
            let message = &failure.error.message;
            for rust in
                ["struct", "enum", "MoneyInput", "DestinationInput", "RailInput", "i64", "u64", "map", "sequence"]
            {
                assert!(!message.contains(rust), "{rust} in {message}");
            }
            assert!(!message.contains(&"x".repeat(limits::INPUT_ECHO_MAX_CHARS + 1)), "{message}");
            assert!(failure.error.param.is_some(), "{message}");
        }
        let long_name = "y".repeat(100);
        let echoed = format!("{}…", "y".repeat(limits::INPUT_ECHO_MAX_CHARS - 1));
        check::<CreatePayoutArgs>(
            payout(json!({ long_name.clone(): 1 })),
            Some(echoed.as_str()),
            &format!(
                "{echoed} is not known; the arguments of this tool are: amount, rail, destination, description, \
                 metadata, confirm, idempotency_key"
            ),
        );
        let param = format!("metadata.{echoed}");
        check::<CreatePayoutArgs>(
            payout(json!({"metadata": { long_name: 5 }})),
            Some(param.as_str()),
            &format!("{param} must be a string, not the number 5"),
        );
        check::<SimulatePaymentArgs>(
            json!({"id": "pi_1", "outcome": "win"}).as_object().cloned().unwrap_or_default(),
            Some("outcome"),
            r#"outcome must be one of: succeeded, failed; got "win""#,
        );
        check::<ListPaymentsArgs>(
            json!({"created_gte_ms": "yesterday"}).as_object().cloned().unwrap_or_default(),
            Some("created_gte_ms"),
            r#"created_gte_ms must be an integer, not the string "yesterday""#,
        );
        check::<ListPaymentsArgs>(
            json!({"created_gte_ms": u64::MAX}).as_object().cloned().unwrap_or_default(),
            Some("created_gte_ms"),
            "created_gte_ms must be an integer, not the number 18446744073709551615",
        );
        check::<CreatePaymentIntentArgs>(
            json!({"amount": {"amount": 1, "currency": "NGN"}, "method": "card", "rail": "card", "settle_as": "NGN"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            Some("settle_as"),
            r#"settle_as must be an object like {"currency": "NGN"}, not the string "NGN""#,
        );
    }

    #[test]
    fn decoding_messages_quote_a_short_prefix_and_no_rust_type_names() {
        let long = "z".repeat(100);
        let arguments = json!({ long.clone(): 1, "amount": long.clone() });
        let arguments = arguments.as_object();
        let cases = [
            (
                format!("failed to deserialize parameters: unknown field `{long}`, expected `id`"),
                "unknown field `zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz…`, expected `id`",
            ),
            (
                format!("failed to deserialize parameters: invalid type: string {long:?}, expected struct MoneyInput"),
                "invalid type: string \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"…, expected an object",
            ),
            (
                "failed to deserialize parameters: expected internally tagged enum DestinationInput".to_owned(),
                "expected an object with a kind",
            ),
            (
                "failed to deserialize parameters: invalid type: map, expected enum MethodInput or struct x".to_owned(),
                "invalid type: map, expected one of the allowed values or struct x",
            ),
        ];
        for (message, expected) in cases {
            let failure = decoding_failure(&message, arguments);
            assert_eq!(failure.error.message, format!("invalid arguments: {expected}"));
            assert_eq!((failure.error.error_type.as_str(), failure.error.param), ("invalid_request", None));
        }
    }
}
