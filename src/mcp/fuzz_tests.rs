//! A fuzz target for the argument parsers: random and mutated JSON (wrong types, huge and
//! fractional numbers, deep nesting, long and unicode strings, unknown fields) through every
//! tool's argument handling as `call_tool` runs it: the bounds guard, rmcp's decoding with our
//! message for its errors, the tool's validation into a command, and the engine's own checks of
//! a new payment or payout. Nothing panics; the answer is a valid command or a typed error whose
//! message is bounded and quotes at most a short prefix of any input.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::app::error::AppError;
use crate::engine::payment;
use crate::engine::payout;
use crate::engine::principal::{Mode, Scope};
use crate::engine::rules::PaymentRules;
use crate::limits;
use crate::mcp::{bounds, registry};
use crate::ops::payments::create_payment_intent::CreatePaymentIntent;
use crate::ops::payouts::create_payout::CreatePayout;
use crate::ops::{Failure, WriteOperation};

/// The engine's checks that need no stored state, on top of an operation's own validation: a new
/// payment intent (its rails and amounts under the default rules), a payout's destination.
fn engine_checks(tool: &str, arguments: &Map<String, Value>) -> Result<(), Failure> {
    let engine = |error| Failure::from(AppError::Engine(error));
    match tool {
        "create_payment_intent" => {
            let args: <CreatePaymentIntent as WriteOperation>::Args = crate::ops::decode_arguments(arguments.clone())?;
            let command = CreatePaymentIntent::command(&args)?;
            let scope = Scope { merchant_id: "mch_fuzz".to_owned(), mode: Mode::Test };
            let rules = PaymentRules::default();
            payment::create_payment_intent(&scope, command.0, &rules, "pi_fuzz".to_owned(), 0).map(drop).map_err(engine)
        }
        "create_payout" => {
            let args: <CreatePayout as WriteOperation>::Args = crate::ops::decode_arguments(arguments.clone())?;
            let request = CreatePayout::command(&args)?.0;
            payout::validate_destination(request.amount, request.rail, &request.destination).map_err(engine)
        }
        _ => Ok(()),
    }
}

/// Each tool's input schema, as `call_tool` checks arguments against it.
static INPUT_SCHEMAS: LazyLock<BTreeMap<String, Map<String, Value>>> = LazyLock::new(|| {
    registry()
        .iter()
        .map(|registered| (registered.tool.name.to_string(), (*registered.tool.input_schema).clone()))
        .collect()
});

/// What `call_tool` does with a tool's arguments before the app layer sees a command.
fn handle(tool: &str, arguments: &Map<String, Value>) -> Result<(), Failure> {
    bounds::check_argument_bounds(&INPUT_SCHEMAS[tool], Some(arguments))?;
    let entry = crate::ops::find(tool).expect("a tool of the registry");
    (entry.validate)(arguments.clone())?;
    engine_checks(tool, arguments)
}

/// The valid calls every operation declares: each must handle cleanly, and each is a seed for
/// mutation.
fn valid_examples() -> Vec<(&'static str, Value)> {
    crate::ops::registry()
        .iter()
        .flat_map(|entry| {
            entry.spec.examples.iter().map(|example| {
                let arguments = serde_json::from_str(example).unwrap_or_else(|error| panic!("{example}: {error}"));
                (entry.spec.name, arguments)
            })
        })
        .collect()
}

fn tool_names() -> Vec<&'static str> {
    crate::ops::registry().iter().map(|entry| entry.spec.name).collect()
}

/// Every string and name in the arguments longer than an echo.
fn long_inputs(value: &Value, found: &mut Vec<String>) {
    let long = |text: &str| text.chars().count() > limits::INPUT_ECHO_MAX_CHARS;
    match value {
        Value::String(text) if long(text) => found.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| long_inputs(item, found)),
        Value::Object(object) => {
            for (name, value) in object {
                if long(name) {
                    found.push(name.clone());
                }
                long_inputs(value, found);
            }
        }
        _ => {}
    }
}

/// The properties every answer has: a typed error, bounded, echoing no more than a prefix.
fn check_answer(tool: &str, arguments: &Map<String, Value>, answer: Result<(), Failure>) {
    let Err(failure) = answer else { return };
    let error = &failure.error;
    let known_types =
        ["invalid_request", "invalid_interval", "not_found", "invalid_state", "limit_exceeded", "forbidden"];
    assert!(known_types.contains(&error.error_type.as_str()), "{tool}: untyped error {error:?}");
    assert!(!error.message.is_empty(), "{tool}: empty message");
    assert!(
        error.message.chars().count() <= limits::ERROR_MESSAGE_MAX_CHARS,
        "{tool}: message of {} characters",
        error.message.chars().count()
    );
    let param = error.param.as_deref().unwrap_or_default();
    let param_max_chars = limits::ARGUMENTS_MAX_DEPTH * (limits::INPUT_ECHO_MAX_CHARS + 1);
    assert!(param.chars().count() <= param_max_chars, "{tool}: param of {} characters", param.chars().count());
    let mut inputs = Vec::new();
    long_inputs(&Value::Object(arguments.clone()), &mut inputs);
    for input in inputs {
        let beyond_an_echo: String = input.chars().take(limits::INPUT_ECHO_MAX_CHARS + 1).collect();
        let escaped = format!("{beyond_an_echo:?}");
        let escaped = &escaped[1..escaped.len() - 1];
        for text in [&error.message, &param.to_owned()] {
            // The input's own echo is what a message may quote; taken out first, so that its
            // closing quote or its escapes (a `\` doubled) do not pass for more of the input.
            let text = text.replace(&limits::echo(&input), "…");
            assert!(
                !text.contains(&beyond_an_echo) && !text.contains(escaped),
                "{tool}: {text:?} quotes more than a prefix of an input"
            );
        }
    }
    for type_name in ["struct ", "Args", "Input"] {
        assert!(!error.message.contains(type_name), "{tool}: a Rust type name in {:?}", error.message);
    }
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        2 => prop::sample::select(vec![
            "NGN", "ngn", "USDC", "BTC", "TRON", "BITCOIN", "card", "crypto", "bank_transfer", "rubies", "partna",
            "succeeded", "failed", "bank", "crypto_wallet", "pi_1", "po_1", "0123456789", "058", "1.5", "-1", "true",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
        1 => "\\PC{0,32}",
        // Longer than an echo and within most limits: what a message might quote whole.
        3 => "(pi_|po_)?\\PC{33,80}",
        1 => "[a-z₦é\u{202e}\u{200b}\u{0}\"`\\\\]{30,700}",
        1 => (1_usize..3_000, any::<char>()).prop_map(|(length, c)| c.to_string().repeat(length)),
    ]
}

fn any_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        prop::sample::select(vec![json!(0), json!(1), json!(100), json!(101), json!(9_007_199_254_740_992_u64)]),
        prop::sample::select(vec![json!(0.5), json!(1e308), json!(-0.0), json!(100.0)]),
    ]
}

/// Argument names of every tool, and a few that are no tool's.
fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "amount", "currency", "network", "method", "rail", "settle_as", "customer", "description", "metadata",
            "confirm", "idempotency_key", "id", "reason", "outcome", "status", "limit", "starting_after", "kind",
            "account_no", "bank_code", "account_name", "address", "type", "object_id", "asset", "created_gte_ms",
        ])
        .prop_map(str::to_owned),
        1 => any_string(),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any_number(),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(12, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any_name(), inner, 0..8)
                .prop_map(|object| Value::Object(object.into_iter().collect())),
        ]
    })
}

/// A change to one place of a valid call, at any depth.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    ReplaceWithString(String),
    Remove,
    AddUnknown(String, Value),
    /// The value wrapped in this many arrays and objects.
    Nest(usize),
    /// The string repeated into a long one.
    Lengthen(usize),
}

fn any_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any_json().prop_map(Mutation::Replace),
        3 => any_string().prop_map(Mutation::ReplaceWithString),
        1 => Just(Mutation::Remove),
        1 => (any_string(), any_json()).prop_map(|(name, value)| Mutation::AddUnknown(name, value)),
        1 => (1_usize..200).prop_map(Mutation::Nest),
        1 => (2_usize..20_000).prop_map(Mutation::Lengthen),
    ]
}

/// Applies `mutation` at the place `steps` lead to (each step picks a key at one level).
fn mutate(arguments: &mut Map<String, Value>, steps: &[usize], mutation: Mutation) {
    let keys: Vec<String> = arguments.keys().cloned().collect();
    if keys.is_empty() {
        if let Mutation::AddUnknown(name, value) = mutation {
            arguments.insert(name, value);
        }
        return;
    }
    let key = &keys[steps.first().copied().unwrap_or(0) % keys.len()];
    if let (Some(Value::Object(inner)), [_, rest @ ..]) = (arguments.get_mut(key), steps)
        && !rest.is_empty()
    {
        return mutate(inner, rest, mutation);
    }
    match mutation {
        Mutation::Replace(value) => {
            arguments.insert(key.clone(), value);
        }
        Mutation::ReplaceWithString(text) => {
            arguments.insert(key.clone(), Value::String(text));
        }
        Mutation::Remove => {
            arguments.remove(key);
        }
        Mutation::AddUnknown(name, value) => {
            arguments.insert(name, value);
        }
        Mutation::Nest(levels) => {
            let mut value = arguments[key].clone();
            for level in 0..levels {
                value = if level % 2 == 0 { json!([value]) } else { json!({ "kind": value }) };
            }
            arguments.insert(key.clone(), value);
        }
        Mutation::Lengthen(times) => {
            let text = match &arguments[key] {
                Value::String(text) if !text.is_empty() => text.repeat(times),
                _ => "₦".repeat(times),
            };
            arguments.insert(key.clone(), Value::String(text));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_arguments_to_every_tool_get_a_command_or_a_bounded_typed_error(
        tool_index in any::<prop::sample::Index>(),
        arguments in prop::collection::btree_map(any_name(), any_json(), 0..10),
    ) {
        let tools = tool_names();
        let tool = tools[tool_index.index(tools.len())];
        let arguments: Map<String, Value> = arguments.into_iter().collect();
        check_answer(tool, &arguments, handle(tool, &arguments));
    }

    #[test]
    fn mutated_valid_arguments_get_a_command_or_a_bounded_typed_error(
        example_index in any::<prop::sample::Index>(),
        steps in prop::collection::vec(any::<usize>(), 1..4),
        mutation in any_mutation(),
    ) {
        let examples = valid_examples();
        let (tool, example) = &examples[example_index.index(examples.len())];
        let mut arguments = example.as_object().expect("an object").clone();
        mutate(&mut arguments, &steps, mutation);
        check_answer(tool, &arguments, handle(tool, &arguments));
    }
}

#[test]
fn every_operation_declares_valid_examples_and_they_are_accepted() {
    for (tool, example) in valid_examples() {
        let arguments = example.as_object().expect("an object");
        assert_eq!(handle(tool, arguments), Ok(()), "{tool} {example}");
    }
    let examined: std::collections::BTreeSet<&str> = valid_examples().into_iter().map(|(tool, _)| tool).collect();
    assert_eq!(examined.len(), tool_names().len(), "every operation has a valid example");
}

#[test]
fn extreme_arguments_are_refused_by_the_guard_before_decoding() {
    // Deeper than any JSON-RPC message parses (128 levels), still answered without recursion
    // beyond the limit.
    let mut deep = json!("bottom");
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let wide: Map<String, Value> = (0..100_000).map(|index| (format!("k{index}"), json!(index))).collect();
    // Every string and collection within the undescribed limits, the whole over the total.
    let row = json!(vec!["💸".repeat(limits::ARGUMENT_UNDESCRIBED_MAX_CHARS); 64]);
    let mut bulky = valid_examples().into_iter().find(|(tool, _)| *tool == "create_payment_intent").expect("one").1;
    bulky["unknown"] = json!(vec![row; 64]);
    let cases = [
        ("get_payment", json!({ "id": deep })),
        ("create_payment_intent", json!({ "metadata": Value::Object(wide.clone()) })),
        ("whoami", Value::Object(wide)),
        ("get_payment", json!({ "id": "pi_".repeat(1 << 20) })),
        ("create_payout", json!({ "x".repeat(1 << 20): 1 })),
        ("list_events", json!({ "type": vec!["payment_intent.created"; 100_000] })),
        ("create_payment_intent", bulky),
    ];
    for (tool, arguments) in cases {
        let arguments = arguments.as_object().expect("an object").clone();
        let answer = bounds::check_argument_bounds(&INPUT_SCHEMAS[tool], Some(&arguments));
        let failure = answer.expect_err(tool);
        assert_eq!(failure.error.error_type, "invalid_request");
        check_answer(tool, &arguments, Err(failure));
    }
}
