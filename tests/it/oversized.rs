//! Oversized input, through the real binary: every string argument of every tool is refused over
//! its limit with `invalid_request` naming the argument, before anything is stored; hundreds of
//! such refusals leave the database and the audit log bounded; no error message echoes more than
//! a short prefix of what was sent.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{APPROVER_KEY, Client, Harepay, MAKER_KEY, payout_arguments};

/// Well over every limit, well under the 1 MiB a stdio line may carry.
const OVERSIZED_CHARS: usize = 200 * 1024;

/// Longer than any error message needs to be; the server's own bound is lower.
const MESSAGE_MAX_CHARS: usize = 600;

fn oversized() -> String {
    "x".repeat(OVERSIZED_CHARS)
}

/// An error message echoes at most a short prefix of an input: never 33 of our x's in a row.
fn assert_short_echo(context: &str, error: &Value) {
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.chars().count() <= MESSAGE_MAX_CHARS, "{context}: message of {} chars", message.chars().count());
    assert!(!message.contains(&"x".repeat(33)), "{context}: message echoes the input: {message}");
    let param = error["param"].as_str().unwrap_or_default();
    assert!(param.chars().count() <= 100, "{context}: param of {} chars", param.chars().count());
}

/// Sets `value` at a dotted `path`, creating objects on the way.
fn set_path(arguments: &mut Value, path: &str, value: Value) {
    let mut cursor = arguments;
    let segments: Vec<&str> = path.split('.').collect();
    for segment in &segments[..segments.len() - 1] {
        if !cursor[*segment].is_object() {
            cursor[*segment] = json!({});
        }
        cursor = &mut cursor[*segment];
    }
    cursor[segments[segments.len() - 1]] = value;
}

/// The dotted path of every string an input schema describes (`*` for a map's values).
fn string_paths(schema: &Value, definitions: &Value, path: &str, paths: &mut BTreeSet<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/");
        string_paths(&definitions[name], definitions, path, paths);
    }
    for branches in ["anyOf", "oneOf"] {
        for branch in schema[branches].as_array().into_iter().flatten() {
            string_paths(branch, definitions, path, paths);
        }
    }
    if schema["type"] == "string" {
        paths.insert(path.to_owned());
    }
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let child = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
        string_paths(property, definitions, &child, paths);
    }
    if schema["additionalProperties"].is_object() {
        string_paths(&schema["additionalProperties"], definitions, &format!("{path}.*"), paths);
    }
}

/// Stands for the admin key each test creates (key tools are for admin keys only).
const ADMIN: &str = "admin";

struct Case {
    key: &'static str,
    tool: &'static str,
    base: Value,
    path: String,
}

/// Whether `arguments` has a value at the dotted `path`.
fn has_path(arguments: &Value, path: &str) -> bool {
    path.split('.').try_fold(arguments, |cursor, segment| cursor.get(segment)).is_some()
}

/// Every string argument of every operation, each set oversized on the operation's own example
/// that already holds it (or, for an optional argument, on its first example): derived from the
/// registry, so a new operation is attacked without a line here.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for registered in harepay::mcp::registry() {
        let spec = &registered.entry.spec;
        let key = match spec.action {
            harepay::engine::permission::Action::DecideApproval => APPROVER_KEY,
            harepay::engine::permission::Action::ManageKeys => ADMIN,
            _ => MAKER_KEY,
        };
        let examples: Vec<Value> = spec.examples.iter().map(|example| serde_json::from_str(example).unwrap()).collect();
        let schema = Value::Object((*registered.tool.input_schema).clone());
        let mut paths = BTreeSet::new();
        string_paths(&schema, &schema["$defs"], "", &mut paths);
        for path in paths {
            let concrete = path.replace('*', "note");
            let base = examples
                .iter()
                .find(|example| has_path(example, &concrete))
                .or_else(|| examples.iter().find(|example| has_path(example, concrete.split('.').next().unwrap())))
                .unwrap_or(&examples[0])
                .clone();
            cases.push(Case { key, tool: spec.name, base, path });
        }
    }
    cases
}

/// Every string argument the tool list describes, as `tool path`.
async fn described_string_arguments(client: &Client) -> BTreeSet<String> {
    let mut described = BTreeSet::new();
    for tool in client.service.list_all_tools().await.expect("tools/list") {
        let schema = Value::Object((*tool.input_schema).clone());
        let mut paths = BTreeSet::new();
        string_paths(&schema, &schema["$defs"], "", &mut paths);
        described.extend(paths.into_iter().map(|path| format!("{} {path}", tool.name)));
    }
    described
}

/// The size of the database (SQLite's file; on PostgreSQL, what the server stores for it) and of
/// SQLite's write-ahead log (none on PostgreSQL, whose server keeps one log for every database).
fn database_bytes(db: &Path) -> (u64, u64) {
    if crate::backend::on_postgres() {
        let size =
            crate::backend::DirectConnection::open(db).query_i64("SELECT pg_database_size(current_database())", &[]);
        return (u64::try_from(size).unwrap(), 0);
    }
    let size = |suffix: &str| {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        std::fs::metadata(path).map(|metadata| metadata.len()).unwrap_or(0)
    };
    (size(""), size("-wal"))
}

#[tokio::test]
async fn every_oversized_string_argument_is_refused_naming_it() {
    let harepay = Harepay::new();
    let maker = harepay.connect(MAKER_KEY).await;
    let approver = harepay.connect(APPROVER_KEY).await;
    let admin = harepay.connect(&harepay.create_key(&["--role", "admin", "--owner", "root"])).await;
    let mut covered = BTreeSet::new();
    for case in cases() {
        let client = match case.key {
            MAKER_KEY => &maker,
            ADMIN => &admin,
            _ => &approver,
        };
        let path = &case.path;
        covered.insert(format!("{} {path}", case.tool));
        let mut arguments = case.base.clone();
        set_path(&mut arguments, &path.replace('*', "note"), json!(oversized()));
        let context = format!("{} {path}", case.tool);
        let error = client.call_error(case.tool, arguments).await;
        assert_eq!(error["type"], "invalid_request", "{context}: {error}");
        assert_eq!(error["param"], path.replace('*', "note"), "{context}: {error}");
        assert_short_echo(&context, &error);
    }
    // An oversized metadata key, and an unknown argument with an oversized name.
    let mut arguments = payout_arguments(1_000, "k-9");
    arguments["metadata"] = json!({ oversized(): "v" });
    let error = maker.call_error("create_payout", arguments).await;
    assert_eq!((error["type"].as_str(), error["param"].as_str()), (Some("invalid_request"), Some("metadata")));
    assert_short_echo("metadata key", &error);
    let mut arguments = payout_arguments(1_000, "k-10");
    arguments[oversized()] = json!(1);
    let error = maker.call_error("create_payout", arguments).await;
    assert_eq!(error["type"], "invalid_request", "{error}");
    assert_short_echo("argument name", &error);

    // Within the limits but not what the schema asks: the decoder's message, cut to a short echo
    // and without Rust type names.
    let long_name = "x".repeat(60);
    for (tool, arguments) in [
        ("create_payout", json!({ long_name.clone(): 1 })),
        ("get_payment", json!({ "id": "pi_1", long_name.clone(): 1 })),
        ("create_payment_intent", json!({ "amount": long_name.clone(), "method": "card", "rail": "card" })),
        ("create_payment_intent", json!({ "amount": {"amount": 1, "currency": "NGN"}, "method": 5, "rail": "card" })),
        ("cancel_payout", json!({ "id": "po_1", "confirm": long_name.clone() })),
    ] {
        let error = maker.call_error(tool, arguments.clone()).await;
        assert_eq!(error["type"], "invalid_request", "{arguments}: {error}");
        assert_short_echo(&format!("{tool} {arguments}"), &error);
        let message = error["message"].as_str().unwrap_or_default();
        for type_name in ["struct", "Input", "Args"] {
            assert!(!message.contains(type_name), "{tool}: a Rust type name reaches the agent: {message}");
        }
    }

    // An oversized tool name is a protocol error that quotes a short prefix.
    let unknown = maker.call_raw(&oversized(), json!({})).await.expect_err("no such tool").to_string();
    assert!(unknown.len() < MESSAGE_MAX_CHARS && !unknown.contains(&"x".repeat(33)), "{} bytes", unknown.len());

    let described = described_string_arguments(&maker).await;
    let uncovered: Vec<&String> = described.difference(&covered).collect();
    assert!(uncovered.is_empty(), "string arguments this test does not attack: {uncovered:?}");
    assert_eq!(maker.payment_count().await, 0);
    assert_eq!(maker.event_count().await, 0);
    maker.close().await;
    approver.close().await;
    admin.close().await;
}

#[tokio::test]
async fn refused_oversized_calls_leave_the_database_and_the_audit_log_bounded() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    client.call("whoami", json!({})).await;
    let (database_before, _) = database_bytes(&harepay.db);
    let payment = |key: String, customer: &str| {
        json!({
            "amount": {"amount": 1000, "currency": "NGN"},
            "method": "bank_transfer",
            "rail": "rubies",
            "customer": customer,
            "confirm": true,
            "idempotency_key": key,
        })
    };
    let calls = 300;
    for round in 0..calls {
        let (tool, arguments) = match round % 4 {
            // A key of 200 KB with otherwise valid arguments: the audit log used to keep it whole.
            0 => ("create_payment_intent", payment(format!("{round}-{}", oversized()), "c")),
            // A valid key and an oversized free-text field.
            1 => ("create_payment_intent", payment(format!("k-{round}"), &oversized())),
            // An oversized id: it used to be echoed in the message the audit log keeps.
            2 => ("cancel_payout", json!({"id": format!("po_{}", oversized()), "confirm": true})),
            // Within the limits but of the wrong type: the decoder's message quotes it.
            _ => {
                let mut arguments = payout_arguments(1_000, &format!("k-{round}"));
                arguments["confirm"] = json!("x".repeat(64));
                ("create_payout", arguments)
            }
        };
        let error = client.call_error(tool, arguments).await;
        assert_eq!(error["type"], "invalid_request", "{tool}: {error}");
        assert_short_echo(tool, &error);
    }
    let (database_after, wal_after) = database_bytes(&harepay.db);
    let database_growth = database_after.saturating_sub(database_before);
    eprintln!(
        "{calls} oversized refusals ({} bytes of arguments): the database grew by {database_growth} bytes, \
         the write-ahead log is {wal_after} bytes",
        calls * OVERSIZED_CHARS
    );
    // An audit record of a refusal is well under a kilobyte. The write-ahead log is recycled at
    // SQLite's automatic checkpoint (1000 pages, about 4 MiB), however large the input.
    assert!(database_growth < 512 * 1024, "the database grew by {database_growth} bytes");
    assert!(wal_after < 6 * 1024 * 1024, "the write-ahead log is {wal_after} bytes");

    let audit = client.call("list_audit_log", json!({"limit": 100})).await;
    let entries = audit["data"].as_array().expect("audit entries");
    assert_eq!(entries.len(), 100);
    let mut hashed_keys = 0;
    for entry in entries {
        assert_eq!(entry["outcome"], "refused", "{entry}");
        let detail = entry["detail"].as_str().unwrap_or_default();
        assert!(detail.chars().count() <= 1_000, "audit detail of {} chars", detail.chars().count());
        assert!(!detail.contains(&"x".repeat(33)), "audit detail echoes the input: {detail}");
        if let Some(key) = entry["idempotency_key"].as_str() {
            assert!(key.chars().count() <= 128, "audit key of {} chars", key.chars().count());
            if key.contains("sha256:") {
                hashed_keys += 1;
            }
        }
    }
    assert!(hashed_keys >= 25, "oversized keys are kept as a prefix and a hash ({hashed_keys})");
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}
