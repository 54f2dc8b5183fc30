//! Random arguments for every tool, through the real binary: every answer is a typed tool
//! result or a protocol error, the server never falls over, and the ledger stays sound.

use serde_json::{Map, Value, json};

use crate::support::{Harepay, MAKER_KEY, payout_arguments};

/// A small deterministic generator (xorshift64*), so a failure replays exactly.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn scalar(&mut self) -> Value {
        match self.below(14) {
            0 => Value::Null,
            1 => json!(true),
            2 => json!(0),
            3 => json!(-1),
            4 => json!(1.5),
            5 => json!(9_007_199_254_740_993_u64),
            6 => json!(i64::MIN),
            7 => json!(1e308),
            8 => json!(""),
            9 => json!("NGN"),
            10 => json!("pi_00000000000000000000000000000000"),
            11 => json!("x".repeat(300)),
            12 => json!("₦💸\u{0}\u{202e}"),
            _ => json!(self.below(10_000_000) as i64),
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        match (depth, self.below(6)) {
            (0, _) | (_, 0..=3) => self.scalar(),
            (_, 4) => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let keys = ["amount", "currency", "network", "kind", "id", "confirm", "limit", "asset"];
                let mut object = Map::new();
                for _ in 0..self.below(4) {
                    let key = keys[self.below(keys.len() as u64) as usize];
                    object.insert(key.to_owned(), self.value(depth - 1));
                }
                Value::Object(object)
            }
        }
    }

    /// Mutates one field of a valid argument object, at any depth.
    fn mutate(&mut self, mut arguments: Value) -> Value {
        let mut cursor = &mut arguments;
        while let Some(object) = cursor.as_object_mut() {
            let keys: Vec<String> = object.keys().cloned().collect();
            if keys.is_empty() {
                break;
            }
            let key = keys[self.below(keys.len() as u64) as usize].clone();
            if object[&key].is_object() && self.below(2) == 0 {
                cursor = object.get_mut(&key).unwrap();
                continue;
            }
            match self.below(3) {
                0 => {
                    object.remove(&key);
                }
                1 => {
                    object.insert(key, self.value(2));
                }
                _ => {
                    object.insert(format!("{key}_extra"), self.scalar());
                }
            }
            break;
        }
        arguments
    }
}

#[tokio::test]
async fn random_arguments_to_every_tool_get_typed_answers_and_change_nothing_unsound() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    client.fund_ngn(1_000_000, "fund").await;
    let payment = client.create_succeeded_payment(100_000, "pay").await;
    let valid: Vec<(&str, Value)> = vec![
        ("get_balance", json!({"asset": "NGN"})),
        ("list_payments", json!({"limit": 5, "status": "succeeded"})),
        ("get_payment", json!({"id": payment})),
        (
            "create_payment_intent",
            json!({"amount": {"amount": 5000, "currency": "NGN"}, "method": "card", "rail": "card", "confirm": true, "idempotency_key": "k"}),
        ),
        ("refund_payment", json!({"id": payment, "amount": 100, "confirm": true, "idempotency_key": "r"})),
        ("simulate_payment", json!({"id": payment, "outcome": "failed", "confirm": true, "idempotency_key": "s"})),
        ("create_payout", payout_arguments(1_000, "p")),
        ("list_events", json!({"limit": 3})),
        ("whoami", json!({})),
    ];
    let tools: Vec<String> =
        client.service.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    let mut random = Random(0x5eed_cafe_f00d_d00d);
    let (mut results, mut tool_errors, mut protocol_errors) = (0, 0, 0);
    for round in 0..600 {
        let (tool, arguments) = if round % 3 == 0 {
            (tools[random.below(tools.len() as u64) as usize].clone(), random.value(3))
        } else {
            let (tool, arguments) = &valid[random.below(valid.len() as u64) as usize];
            let mut arguments = random.mutate(arguments.clone());
            if let Some(object) = arguments.as_object_mut() {
                // Fresh keys, so that mutations are applied rather than replayed or refused as reused.
                if object.contains_key("idempotency_key") {
                    object.insert("idempotency_key".to_owned(), json!(format!("fuzz-{round}")));
                }
            }
            (tool.to_string(), arguments)
        };
        // Arguments that are not an object at all are the SDK's to refuse; we test the server.
        let arguments = if arguments.is_object() { arguments } else { json!({ "id": arguments }) };
        match client.call_raw(&tool, arguments.clone()).await {
            Ok(result) => {
                let structured = result
                    .structured_content
                    .clone()
                    .unwrap_or_else(|| panic!("{tool} {arguments}: no structuredContent"));
                if result.is_error == Some(true) {
                    let error_type = structured["error"]["type"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{tool} {arguments}: {structured}"));
                    assert_ne!(error_type, "internal_error", "{tool} {arguments}: {structured}");
                    tool_errors += 1;
                } else {
                    results += 1;
                }
            }
            Err(_) => protocol_errors += 1,
        }
    }
    eprintln!("fuzz: {results} results, {tool_errors} tool errors, {protocol_errors} protocol errors");
    assert!(
        tool_errors > 200 && results > 50,
        "results {results}, tool errors {tool_errors}, protocol errors {protocol_errors}"
    );
    // Still up, still sound.
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}
