//! Crash safety through the real binary: confirmed payouts stream in with many requests in
//! flight, the server is killed with SIGKILL mid-stream, and after a restart on the same file
//! every payout the client heard about is there as it was told, retrying any key never pays
//! twice, the balances add up and `harepay verify` passes.
//!
//! A killed process loses what it had not yet handed to the kernel, so this checks that an
//! answer never precedes its commit and that a group commit is all or nothing; that the commit
//! survives power loss as well rests on `synchronous=FULL` (the fsync before the answer).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harepay_raw_client::RawClient;
use serde_json::{Value, json};

use crate::support::{Harepay, MAKER_KEY, binary, payout_arguments};

/// Every payout moves ₦10.00.
const PAYOUT_MINOR: i64 = 1_000;
/// Requests the client keeps in flight on the one stdio connection: enough for group commits,
/// few enough that answers reach the client soon after their commit, so that answering before
/// committing is caught (a server that answers 2 ms before its commit fails this test).
const WINDOW: usize = 16;
/// Never more than this many payouts are sent (the funding covers them all).
const MAX_PAYOUTS: usize = 3_000;
/// How long one answer may take before the test gives up (generous: a loaded 2-core machine).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// `harepay stdio` spoken to with raw newline-delimited JSON-RPC, handshake done.
fn start_server(harepay: &Harepay) -> RawClient {
    let mut command = Command::new(binary());
    command
        .arg("stdio")
        .env("HAREPAY_DB", &harepay.db)
        .env("HAREPAY_SECRET_KEY", MAKER_KEY)
        .env("HAREPAY_TEST_AUTO_SETTLE_MS", "off")
        .env("HAREPAY_APPROVAL_THRESHOLDS", "NGN=9007199254740991")
        .env("HAREPAY_LOG", "warn")
        .stderr(Stdio::null());
    let mut server = RawClient::spawn(&mut command).expect("start harepay stdio").with_answer_timeout(ANSWER_TIMEOUT);
    server.initialize("crash-test").expect("initialize");
    server
}

/// The next message from the server.
fn receive(server: &mut RawClient) -> Value {
    server.receive().unwrap_or_else(|error| panic!("no answer from the server (timeout {ANSWER_TIMEOUT:?}): {error}"))
}

/// Runs `calls` with up to `WINDOW` in flight; returns each call's tools/call result
/// (`{structuredContent, isError, …}`) in order.
fn pipeline(server: &mut RawClient, calls: &[(&str, Value)]) -> Vec<Value> {
    let mut results: Vec<Option<Value>> = vec![None; calls.len()];
    let mut index_of_id = HashMap::new();
    let mut next = 0;
    let mut answered = 0;
    while answered < calls.len() {
        while next < calls.len() && next - answered < WINDOW {
            let (tool, arguments) = &calls[next];
            index_of_id.insert(server.send_call(tool, arguments).expect("write to the server"), next);
            next += 1;
        }
        let message = receive(server);
        let Some(index) = message["id"].as_u64().and_then(|id| index_of_id.remove(&id)) else {
            continue; // a notification
        };
        results[index] = Some(call_result(&message));
        answered += 1;
    }
    results.into_iter().map(|result| result.expect("every call answered")).collect()
}

/// One call that must succeed; its structured content.
fn call(server: &mut RawClient, tool: &str, arguments: Value) -> Value {
    succeeded(pipeline(server, &[(tool, arguments)]).pop().expect("one result"))
}

/// The result of a tools/call answer; a protocol error fails the test.
fn call_result(message: &Value) -> Value {
    assert!(message.get("error").is_none() && message["result"].is_object(), "protocol error: {message}");
    message["result"].clone()
}

/// The structured content of a tool result that must not be an error.
fn succeeded(result: Value) -> Value {
    assert_ne!(result["isError"], json!(true), "tool error: {result}");
    result["structuredContent"].clone()
}

fn balance(server: &mut RawClient) -> (i64, i64, i64) {
    let balance = call(server, "get_balance", json!({"asset": "NGN"}));
    let amount = |account: &str| balance[account]["amount"].as_i64().expect("integer amount");
    (amount("available"), amount("pending"), amount("reserved"))
}

/// A payout as the client was told about it: id and status.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Told {
    id: String,
    status: String,
}

fn told(result: &Value) -> Told {
    Told {
        id: result["object"]["id"].as_str().unwrap_or_else(|| panic!("no payout id: {result}")).to_owned(),
        status: result["object"]["status"].as_str().unwrap_or_else(|| panic!("no status: {result}")).to_owned(),
    }
}

#[test]
fn a_server_killed_mid_stream_loses_no_acknowledged_payout_and_pays_no_key_twice() {
    let started = Instant::now();
    let harepay = Harepay::new();
    let mut server = start_server(&harepay);

    // Fund the demo merchant over the same connection.
    let funding_gross_minor = 2 * PAYOUT_MINOR * MAX_PAYOUTS as i64;
    let created = call(
        &mut server,
        "create_payment_intent",
        json!({
            "amount": {"amount": funding_gross_minor, "currency": "NGN"},
            "method": "bank_transfer", "rail": "rubies", "confirm": true, "idempotency_key": "fund",
        }),
    );
    let payment_id = created["object"]["id"].as_str().expect("payment id").to_owned();
    let settled = call(
        &mut server,
        "simulate_payment",
        json!({"id": payment_id, "outcome": "succeeded", "confirm": true, "idempotency_key": "fund-settle"}),
    );
    assert_eq!(settled["object"]["status"], "succeeded", "{settled}");
    let (funded_minor, pending, reserved) = balance(&mut server);
    assert!(funded_minor >= PAYOUT_MINOR * MAX_PAYOUTS as i64 && pending == 0 && reserved == 0);

    // Confirmed payouts as fast as the server takes them, WINDOW in flight, until the kill.
    let kill_after = 200
        + std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos() as usize
            % 200;
    let mut sent_keys: Vec<String> = Vec::new();
    let mut key_of_id: HashMap<u64, String> = HashMap::new();
    let mut acknowledged: BTreeMap<String, Told> = BTreeMap::new();
    let record = |acknowledged: &mut BTreeMap<String, Told>, key_of_id: &HashMap<u64, String>, message: &Value| {
        let Some(key) = message["id"].as_u64().and_then(|id| key_of_id.get(&id)) else {
            return; // a notification
        };
        let result = succeeded(call_result(message));
        assert_eq!(result["outcome"], "executed", "a first use of {key}: {result}");
        let payout = told(&result);
        assert_eq!(payout.status, "pending", "{result}");
        assert!(acknowledged.insert(key.clone(), payout).is_none(), "two answers for {key}");
    };
    while acknowledged.len() < kill_after {
        while sent_keys.len() < MAX_PAYOUTS && sent_keys.len() - acknowledged.len() < WINDOW {
            let key = format!("crash-{:04}", sent_keys.len());
            let id =
                server.send_call("create_payout", &payout_arguments(PAYOUT_MINOR, &key)).expect("write to the server");
            key_of_id.insert(id, key.clone());
            sent_keys.push(key);
        }
        let message = receive(&mut server);
        record(&mut acknowledged, &key_of_id, &message);
    }
    let in_flight_at_kill = sent_keys.len() - acknowledged.len();
    for message in server.kill() {
        record(&mut acknowledged, &key_of_id, &message);
    }
    drop(server);
    eprintln!(
        "killed after {kill_after} answers with {in_flight_at_kill} in flight: {} sent, {} acknowledged",
        sent_keys.len(),
        acknowledged.len()
    );
    assert!(in_flight_at_kill > 0, "the kill came mid-stream");

    // The crashed file verifies as it is (SQLite recovers the WAL on open).
    let verified = harepay.cli(&["verify"]);
    assert!(verified.status.success(), "verify after the crash: {}", String::from_utf8_lossy(&verified.stdout));

    let mut server = start_server(&harepay);

    // Every payout the client heard about is there, as it was told.
    let lookups: Vec<(&str, Value)> =
        acknowledged.values().map(|payout| ("get_payout", json!({"id": payout.id}))).collect();
    let mut lost = Vec::new();
    for ((key, payout), result) in acknowledged.iter().zip(pipeline(&mut server, &lookups)) {
        if result["isError"] == json!(true) {
            lost.push(format!("{key} → {} ({})", payout.id, result["structuredContent"]["error"]["type"]));
            continue;
        }
        let found = &result["structuredContent"];
        assert_eq!(found["id"], payout.id.as_str(), "{key}: {found}");
        assert_eq!(found["status"], payout.status.as_str(), "{key}: {found}");
    }
    assert!(lost.is_empty(), "{} acknowledged payouts are gone after the restart: {lost:?}", lost.len());

    // Retrying every key sent, answered or not, never makes a second payout.
    let retries: Vec<(&str, Value)> =
        sent_keys.iter().map(|key| ("create_payout", payout_arguments(PAYOUT_MINOR, key))).collect();
    let mut payout_of_key: BTreeMap<&str, String> = BTreeMap::new();
    let mut executed_on_retry = Vec::new();
    for (key, result) in sent_keys.iter().zip(pipeline(&mut server, &retries)) {
        let result = succeeded(result);
        let payout = told(&result);
        match acknowledged.get(key) {
            Some(first) => {
                assert_eq!(result["outcome"], "replayed", "{key} was acknowledged: {result}");
                assert_eq!(payout, *first, "{key} replays its first result");
            }
            // Unanswered: it either committed before the kill (replayed) or never did (executed now).
            None => match result["outcome"].as_str() {
                Some("replayed") => {}
                Some("executed") => executed_on_retry.push(key.as_str()),
                other => panic!("{key}: unexpected outcome {other:?}: {result}"),
            },
        }
        payout_of_key.insert(key, payout.id);
    }
    // A second retry of the keys the first retry executed replays too.
    let second: Vec<(&str, Value)> =
        executed_on_retry.iter().map(|key| ("create_payout", payout_arguments(PAYOUT_MINOR, key))).collect();
    for (key, result) in executed_on_retry.iter().zip(pipeline(&mut server, &second)) {
        let result = succeeded(result);
        assert_eq!(result["outcome"], "replayed", "{key}: {result}");
        assert_eq!(result["object"]["id"].as_str(), Some(payout_of_key[key].as_str()), "{key}: {result}");
    }
    let unanswered = sent_keys.len() - acknowledged.len();
    eprintln!(
        "unanswered at the kill: {unanswered}: committed before it {}, executed on retry {}",
        unanswered - executed_on_retry.len(),
        executed_on_retry.len()
    );

    // One payout per distinct key, and no other.
    let distinct_ids: HashSet<&String> = payout_of_key.values().collect();
    assert_eq!(distinct_ids.len(), sent_keys.len(), "every key has its own payout");
    let mut listed: HashSet<String> = HashSet::new();
    let mut starting_after: Option<String> = None;
    loop {
        let mut arguments = json!({"limit": 100});
        if let Some(cursor) = &starting_after {
            arguments["starting_after"] = json!(cursor);
        }
        let page = call(&mut server, "list_payouts", arguments);
        for payout in page["data"].as_array().expect("data") {
            assert!(listed.insert(payout["id"].as_str().expect("id").to_owned()), "listed twice: {payout}");
        }
        if page["has_more"] != json!(true) {
            break;
        }
        starting_after = Some(page["next_starting_after"].as_str().expect("cursor").to_owned());
    }
    let expected: HashSet<String> = payout_of_key.values().cloned().collect();
    assert_eq!(listed, expected, "the payouts are exactly one per key");

    // The money adds up: every payout holds its amount in reserved, the rest is available.
    let payouts = listed.len() as i64;
    assert_eq!(balance(&mut server), (funded_minor - payouts * PAYOUT_MINOR, 0, payouts * PAYOUT_MINOR));
    server.close(Duration::from_secs(10)).expect("the server stops when stdin closes");

    let verified = harepay.cli(&["verify"]);
    assert!(verified.status.success(), "verify: {}", String::from_utf8_lossy(&verified.stdout));
    eprintln!("crash test took {:?}", started.elapsed());
}
