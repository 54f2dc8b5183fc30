//! Customers and prepaid balances through the real binary: the lifecycle with its events and
//! audit records, top-ups that credit once and keep the ledger sound, and the attacks: another
//! merchant's or mode's customer, bad amounts, replays, look-alike emails, archived customers.

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::support::{Client, Harepay, MAKER_KEY};

/// Creates a confirmed customer and returns its id.
async fn create_customer(client: &Client, email: &str) -> String {
    let created = client.call("create_customer", json!({"email": email, "name": "Ada Obi", "confirm": true})).await;
    assert_eq!(created["outcome"], "executed", "{created}");
    let id = created["object"]["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("cus_"), "{id}");
    id
}

fn topup(customer_id: &str, amount_minor: Value, currency: &str, idempotency_key: &str) -> Value {
    json!({
        "customer_id": customer_id,
        "amount": {"amount": amount_minor, "currency": currency},
        "confirm": true,
        "idempotency_key": idempotency_key,
    })
}

async fn prepaid_ngn(client: &Client, customer_id: &str) -> i64 {
    let customer = client.call("get_customer", json!({"id": customer_id})).await;
    customer["prepaid_ngn"]["amount"].as_i64().expect("integer prepaid_ngn")
}

async fn ledger_transaction_count(client: &Client) -> i64 {
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    status["ledger"]["transaction_count"].as_i64().expect("count")
}

async fn expect_verified(harepay: &Harepay, client: &Client) {
    let status = client.call("system_status", json!({})).await;
    assert_eq!((&status["status"], &status["ledger"]["sound"]), (&json!("ok"), &json!(true)), "{status}");
    let verify = harepay.cli(&["verify"]);
    let output = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(verify.status.success(), "verify: {output}");
}

fn event_types(events: &Value) -> Vec<&str> {
    events["data"].as_array().expect("events").iter().map(|event| event["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_customer_is_created_updated_listed_and_archived_with_events_and_audit() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;

    let preview = client.call("create_customer", json!({"email": "ada@example.com", "name": "Ada Obi"})).await;
    assert_eq!(preview["outcome"], "preview");
    assert!(preview["object"].get("id").is_none(), "no id before it exists: {preview}");
    assert_eq!(preview["object"]["email"], "ada@example.com");
    assert_eq!(client.call("list_customers", json!({})).await["data"], json!([]));

    let id = create_customer(&client, "Ada@Example.com").await;
    let customer = client.call("get_customer", json!({"id": id})).await;
    assert_eq!(customer["object"], "customer");
    assert_eq!(customer["mode"], "test");
    assert_eq!(customer["email"], "Ada@Example.com", "the address is kept as given");
    assert_eq!(customer["archived"], false);
    assert_eq!(customer["prepaid_balances"], json!([]));
    assert_eq!(customer["prepaid_ngn"], json!({"amount": 0, "currency": "NGN", "display": "₦0.00"}));

    let updated = client
        .call(
            "update_customer",
            json!({"id": id, "phone": "+2348012345678", "metadata": {"crm": "42"}, "confirm": true}),
        )
        .await;
    assert_eq!(updated["object"]["phone"], "+2348012345678");
    assert_eq!(updated["object"]["name"], "Ada Obi", "fields not given stay");
    assert_eq!(updated["object"]["metadata"], json!({"crm": "42"}));
    client.expect_error("update_customer", json!({"id": id, "confirm": true}), "invalid_request").await;

    // Filtered by email without regard to case, and paged with a cursor.
    let others =
        [create_customer(&client, "bola@example.com").await, create_customer(&client, "chi@example.com").await];
    let found = client.call("list_customers", json!({"email": "ADA@example.COM"})).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["data"][0]["id"], id);
    let first = client.call("list_customers", json!({"limit": 2})).await;
    assert_eq!(first["data"][0]["id"], others[1]);
    assert_eq!(first["has_more"], true);
    let cursor = first["next_starting_after"].clone();
    let second = client.call("list_customers", json!({"limit": 2, "starting_after": cursor})).await;
    assert_eq!(second["data"][0]["id"], id);
    assert_eq!(second["has_more"], false);
    let error = client
        .expect_error("list_customers", json!({"starting_after": "cus_not_in_this_list"}), "invalid_request")
        .await;
    assert!(error.contains("starting_after"), "{error}");

    let archived = client.call("delete_customer", json!({"id": id, "confirm": true})).await;
    assert_eq!(archived["object"]["archived"], true);
    assert!(archived["object"]["archived_at_ms"].is_i64());
    client.expect_error("delete_customer", json!({"id": id, "confirm": true}), "invalid_state").await;
    let message = client
        .expect_error("update_customer", json!({"id": id, "name": "Eve", "confirm": true}), "invalid_state")
        .await;
    assert!(message.contains("archived"), "{message}");
    // The history stays: it is still there to read and to list.
    assert_eq!(client.call("get_customer", json!({"id": id})).await["archived"], true);
    let archived_only = client.call("list_customers", json!({"archived": true})).await;
    assert_eq!(archived_only["data"].as_array().unwrap().len(), 1);
    let active_only = client.call("list_customers", json!({"archived": false})).await;
    assert_eq!(active_only["data"].as_array().unwrap().len(), 2);

    let events = client.call("list_events", json!({"object_id": id})).await;
    assert_eq!(event_types(&events), ["customer.deleted", "customer.updated", "customer.created"]);
    assert_eq!(events["data"][0]["data"]["archived"], true, "{events}");
    let audit = client.call("list_audit_log", json!({"limit": 100})).await;
    let outcomes: Vec<(&str, &str)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["object_id"] == id.as_str() || record["tool"] == "create_customer")
        .map(|record| (record["tool"].as_str().unwrap(), record["outcome"].as_str().unwrap()))
        .collect();
    for expected in [("create_customer", "previewed"), ("create_customer", "executed"), ("delete_customer", "executed")]
    {
        assert!(outcomes.contains(&expected), "{expected:?} in {outcomes:?}");
    }
    let audit_text = audit.to_string().to_lowercase();
    assert!(!audit_text.contains("ada@example.com"), "the audit log names a domain, not a person: {audit}");
    client.close().await;
}

#[tokio::test]
async fn prepaid_top_ups_credit_once_and_keep_the_ledger_sound() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = create_customer(&client, "ada@example.com").await;
    let transactions_before = ledger_transaction_count(&client).await;

    let mut preview_arguments = topup(&id, json!(100_000), "NGN", "unused");
    preview_arguments["confirm"] = json!(false);
    let preview = client.call("topup_prepaid", preview_arguments).await;
    assert_eq!(preview["outcome"], "preview");
    assert_eq!(preview["object"]["balance_before"]["amount"], 0);
    assert_eq!(preview["object"]["balance_after"]["amount"], 100_000);
    assert!(preview["object"].get("id").is_none(), "{preview}");
    assert_eq!(prepaid_ngn(&client, &id).await, 0, "a preview credits nothing");

    let mut without_key = topup(&id, json!(100_000), "NGN", "");
    without_key.as_object_mut().unwrap().remove("idempotency_key");
    let message = client.expect_error("topup_prepaid", without_key, "invalid_request").await;
    assert!(message.contains("idempotency_key"), "{message}");

    let credited = client.call("topup_prepaid", topup(&id, json!(100_000), "NGN", "topup-1")).await;
    assert_eq!(credited["outcome"], "executed");
    let object = &credited["object"];
    assert!(object["id"].as_str().unwrap().starts_with("ltx_"), "{object}");
    assert_eq!(object["amount"]["display"], "₦1,000.00");
    assert_eq!(object["balance_after"]["amount"], 100_000);
    assert_eq!(object["customer"]["prepaid_ngn"]["amount"], 100_000);
    assert!(credited["message"].as_str().unwrap().contains("live mode a real payment"), "{credited}");

    // Replayed with the same key, one after another and eight at once: credited once.
    let replayed = client.call("topup_prepaid", topup(&id, json!(100_000), "NGN", "topup-1")).await;
    assert_eq!(replayed["outcome"], "replayed");
    assert_eq!(replayed["object"], credited["object"]);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let peer = client.service.peer().clone();
        let arguments = topup(&id, json!(50_000), "NGN", "topup-2").as_object().cloned().unwrap();
        calls.spawn(async move {
            peer.call_tool(CallToolRequestParams::new("topup_prepaid").with_arguments(arguments)).await
        });
    }
    let mut executed = 0;
    while let Some(joined) = calls.join_next().await {
        let result = joined.expect("call task").expect("a tool result");
        let structured = result.structured_content.expect("structured");
        match (result.is_error, structured["outcome"].as_str()) {
            (Some(true), _) => assert_eq!(structured["error"]["type"], "idempotency_key_in_use", "{structured}"),
            (_, Some("executed")) => executed += 1,
            (_, outcome) => assert_eq!(outcome, Some("replayed"), "{structured}"),
        }
    }
    assert_eq!(executed, 1, "one of eight concurrent calls with one key credits");
    assert_eq!(prepaid_ngn(&client, &id).await, 150_000);
    let message =
        client.expect_error("topup_prepaid", topup(&id, json!(1), "NGN", "topup-1"), "idempotency_key_reused").await;
    assert!(message.contains("topup-1"), "{message}");
    assert_eq!(prepaid_ngn(&client, &id).await, 150_000);

    // A second currency is a second account; the merchant's own balances do not move.
    client.call("topup_prepaid", topup(&id, json!(2_500), "USD", "topup-usd")).await;
    let customer = client.call("get_customer", json!({"id": id})).await;
    let balances: Vec<(&str, i64)> = customer["prepaid_balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|money| (money["currency"].as_str().unwrap(), money["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(balances, [("NGN", 150_000), ("USD", 2_500)]);
    assert_eq!(client.balance("NGN").await, (0, 0, 0), "a customer's prepaid money is not the merchant's");
    let events = client.call("list_events", json!({"type": "customer.prepaid_topped_up"})).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 3, "one event per credit: {events}");
    assert_eq!(ledger_transaction_count(&client).await, transactions_before + 3);
    client.close().await;
    expect_verified(&harepay, &harepay.connect(MAKER_KEY).await).await;
}

#[tokio::test]
async fn bad_top_up_amounts_are_typed_errors_that_change_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = create_customer(&client, "ada@example.com").await;
    let transactions_before = ledger_transaction_count(&client).await;
    let cases = [
        (topup(&id, json!(100.5), "NGN", "k-1"), "invalid_request", "amount.amount"),
        (topup(&id, json!(100.0), "NGN", "k-2"), "invalid_request", "amount.amount"),
        (topup(&id, json!(-5), "NGN", "k-3"), "invalid_request", "amount.amount"),
        (topup(&id, json!(0), "NGN", "k-4"), "invalid_request", "amount.amount"),
        (topup(&id, json!(9_007_199_254_740_992_i64), "NGN", "k-5"), "invalid_request", "amount.amount"),
        (topup(&id, json!(u64::MAX), "NGN", "k-6"), "invalid_request", "amount.amount"),
        (topup(&id, json!(1e30), "NGN", "k-7"), "invalid_request", "amount.amount"),
        (topup(&id, json!("1000"), "NGN", "k-8"), "invalid_request", "amount.amount"),
        (topup(&id, json!(1000), "NGX", "k-9"), "invalid_request", "amount.currency"),
        (topup(&id, json!(1000), "ngn", "k-10"), "invalid_request", "amount.currency"),
        (topup("cus_0000000000000000", json!(1000), "NGN", "k-11"), "not_found", ""),
        (topup("pi_1", json!(1000), "NGN", "k-12"), "invalid_request", "customer_id"),
    ];
    for (arguments, error_type, param) in cases {
        let error = client.call_error("topup_prepaid", arguments.clone()).await;
        assert_eq!(error["type"], error_type, "{arguments}: {error}");
        if !param.is_empty() {
            assert_eq!(error["param"], param, "{arguments}: {error}");
        }
    }
    let mut with_network = topup(&id, json!(1_000_000), "USDC", "k-13");
    with_network["amount"]["network"] = json!("TRON");
    let error = client.call_error("topup_prepaid", with_network).await;
    assert_eq!((error["type"].as_str(), error["param"].as_str()), (Some("invalid_request"), Some("amount.network")));

    assert_eq!(prepaid_ngn(&client, &id).await, 0);
    assert_eq!(client.call("get_customer", json!({"id": id})).await["prepaid_balances"], json!([]));
    assert_eq!(ledger_transaction_count(&client).await, transactions_before, "no posting for any refusal");
    let audit = client.call("list_audit_log", json!({"limit": 100})).await;
    let refused = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["tool"] == "topup_prepaid" && record["outcome"] == "refused")
        .count();
    assert_eq!(refused, 13, "every refused top-up is audited");
    client.close().await;
}

#[tokio::test]
async fn a_customer_of_another_merchant_or_mode_is_never_visible() {
    let harepay = Harepay::new();
    let test_client = harepay.connect(MAKER_KEY).await;
    let id = create_customer(&test_client, "ada@example.com").await;
    test_client.call("topup_prepaid", topup(&id, json!(100_000), "NGN", "topup-1")).await;

    let live_key = harepay.create_key(&["--mode", "live", "--owner", "ops"]);
    let other_key = harepay.create_key(&["--owner", "mallory", "--new-merchant", "Mallory's shop"]);
    for key in [live_key, other_key] {
        let client = harepay.connect(&key).await;
        let probes = [
            ("get_customer", json!({"id": id})),
            ("update_customer", json!({"id": id, "name": "Mallory", "confirm": true})),
            ("delete_customer", json!({"id": id, "confirm": true})),
            ("topup_prepaid", topup(&id, json!(1_000), "NGN", "probe-1")),
        ];
        for (tool, arguments) in probes {
            let error = client.call_error(tool, arguments).await;
            assert_eq!(error["type"], "not_found", "{tool}: {error}");
            let message = error["message"].as_str().unwrap();
            assert!(!message.contains("example.com") && !message.contains("archived"), "{tool} leaks: {message}");
        }
        assert_eq!(client.call("list_customers", json!({})).await["data"], json!([]));
        assert_eq!(client.call("list_customers", json!({"email": "ada@example.com"})).await["data"], json!([]));
        let error = client.call_error("list_customers", json!({"starting_after": id})).await;
        assert_eq!(error["type"], "invalid_request", "a foreign cursor is no cursor: {error}");
        let status = client.call("system_status", json!({})).await;
        assert_eq!(status["ledger"]["transaction_count"], 0, "{status}");
        client.close().await;
    }
    // Nothing the probes did reached the customer.
    let customer = test_client.call("get_customer", json!({"id": id})).await;
    assert_eq!((customer["name"].as_str(), customer["archived"].as_bool()), (Some("Ada Obi"), Some(false)));
    assert_eq!(customer["prepaid_ngn"]["amount"], 100_000);
    test_client.close().await;
}

#[tokio::test]
async fn live_top_ups_are_refused_until_a_real_payment_can_fund_them() {
    let harepay = Harepay::new();
    harepay.cli(&["verify"]);
    let live = harepay.connect(&harepay.create_key(&["--mode", "live", "--owner", "ops"])).await;
    let id = create_customer(&live, "ada@example.com").await;
    let message =
        live.expect_error("topup_prepaid", topup(&id, json!(100_000), "NGN", "live-1"), "test_mode_only").await;
    assert!(message.contains("real payment"), "{message}");
    assert_eq!(prepaid_ngn(&live, &id).await, 0);
    assert_eq!(ledger_transaction_count(&live).await, 0);
    live.close().await;
}

/// Decided rule: an archived customer starts nothing new, so a top-up is refused; what it held
/// stays its own and stays visible.
#[tokio::test]
async fn an_archived_customer_cannot_be_topped_up_and_keeps_its_balance() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = create_customer(&client, "ada@example.com").await;
    client.call("topup_prepaid", topup(&id, json!(40_000), "NGN", "topup-1")).await;
    client.call("delete_customer", json!({"id": id, "confirm": true})).await;
    let transactions_before = ledger_transaction_count(&client).await;
    let message =
        client.expect_error("topup_prepaid", topup(&id, json!(1_000), "NGN", "topup-2"), "invalid_state").await;
    assert!(message.contains("archived") && message.contains("topup_prepaid"), "{message}");
    let mut preview = topup(&id, json!(1_000), "NGN", "topup-3");
    preview["confirm"] = json!(false);
    client.expect_error("topup_prepaid", preview, "invalid_state").await;
    let customer = client.call("get_customer", json!({"id": id})).await;
    assert_eq!(
        (customer["archived"].as_bool(), customer["prepaid_ngn"]["amount"].as_i64()),
        (Some(true), Some(40_000))
    );
    assert_eq!(ledger_transaction_count(&client).await, transactions_before);
    client.close().await;
    expect_verified(&harepay, &harepay.connect(MAKER_KEY).await).await;
}

#[tokio::test]
async fn look_alike_malformed_and_oversized_emails_are_refused_and_nothing_is_created() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let oversized_local = format!("{}@example.com", "a".repeat(65));
    let oversized_total = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
    let too_long_for_the_schema = format!("{}@example.com", "a".repeat(300));
    let refused = [
        "ada@exаmple.com",           // Cyrillic а in the domain
        "аda@example.com",           // Cyrillic а in the local part
        "ada＠example.com",          // fullwidth at sign
        "ada@example.com\u{200b}",   // zero-width space
        "ada\u{202e}@example.com",   // right-to-left override
        "Ada Obi <ada@example.com>", // a display name
        " ada@example.com",
        "ada@example",
        "ada@[127.0.0.1]",
        "ada@@example.com",
        "ada..obi@example.com",
        "",
        &oversized_local,
        &oversized_total,
    ];
    for email in refused {
        let error = client.call_error("create_customer", json!({"email": email, "confirm": true})).await;
        assert_eq!(
            (error["type"].as_str(), error["param"].as_str()),
            (Some("invalid_request"), Some("email")),
            "{email:?}"
        );
        let message = error["message"].as_str().unwrap();
        assert!(message.chars().count() < 400 && !message.contains(&"a".repeat(40)), "{email:?}: {message}");
    }
    let error = client.call_error("create_customer", json!({"email": too_long_for_the_schema, "confirm": true})).await;
    assert_eq!((error["type"].as_str(), error["param"].as_str()), (Some("invalid_request"), Some("email")));
    let id = create_customer(&client, "ada@example.com").await;
    let error =
        client.call_error("update_customer", json!({"id": id, "email": "ada@exаmple.com", "confirm": true})).await;
    assert_eq!(error["param"], "email");
    for (field, value) in [("phone", "080-CALL-NOW"), ("phone", "+1234567890123456"), ("name", "Ada\r\nBcc: x")] {
        let error = client
            .call_error("create_customer", json!({"email": "bo@example.com", field: value, "confirm": true}))
            .await;
        assert_eq!(
            (error["type"].as_str(), error["param"].as_str()),
            (Some("invalid_request"), Some(field)),
            "{value:?}"
        );
    }
    let listed = client.call("list_customers", json!({})).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "only the valid customer exists: {listed}");
    assert_eq!(client.call("get_customer", json!({"id": id})).await["email"], "ada@example.com");
    client.close().await;
}

/// Verification covers prepaid accounts end to end: a prepaid balance edited by hand (here one
/// kobo more than its postings) is a problem `system_status` and `harepay verify` report.
#[tokio::test]
async fn a_hand_edited_prepaid_balance_is_reported_by_verify_and_system_status() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let id = create_customer(&client, "ada@example.com").await;
    client.call("topup_prepaid", topup(&id, json!(100_000), "NGN", "topup-1")).await;
    client.close().await;
    expect_verified(&harepay, &harepay.connect(MAKER_KEY).await).await;

    let mut connection = crate::backend::DirectConnection::open(&harepay.db);
    let account = format!("customer_prepaid:{id}");
    let changed = connection
        .execute("UPDATE account_balances SET balance_minor = balance_minor + 1 WHERE account = $1", &[&account]);
    assert_eq!(changed, 1);
    drop(connection);

    let client = harepay.connect(MAKER_KEY).await;
    let status = client.call("system_status", json!({})).await;
    assert_eq!(status["status"], "ledger_unsound", "{status}");
    let problems = status["ledger"]["problems"].to_string();
    assert!(problems.contains(&account) && problems.contains("100001"), "{problems}");
    let verify = harepay.cli(&["verify"]);
    assert!(!verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains(&account), "{}", String::from_utf8_lossy(&verify.stdout));
    client.close().await;
}
