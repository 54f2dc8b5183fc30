//! Products and prices through the real binary: the seed's usage price and HandyPay's named
//! intervals, listing and filters, and the refusals: bad intervals (`invalid_interval` naming the
//! argument), bad amounts and units, a product of another scope or archived. Nothing refused is
//! created.

use serde_json::{Value, json};

use crate::support::{Client, Harepay, MAKER_KEY};

async fn create_product(client: &Client, name: &str, active: bool) -> String {
    let created = client
        .call("create_product", json!({"name": name, "unit_label": "call", "active": active, "confirm": true}))
        .await;
    assert_eq!(created["outcome"], "executed", "{created}");
    created["object"]["id"].as_str().expect("id").to_owned()
}

/// A monthly NGN recurring price's arguments, to vary one field at a time.
fn recurring_price() -> Value {
    json!({"model": "recurring", "currency": "NGN", "unit_amount": 500_000, "interval": "monthly", "confirm": true})
}

async fn price_count(client: &Client) -> usize {
    client.call("list_prices", json!({"limit": 100})).await["data"].as_array().expect("data").len()
}

#[tokio::test]
async fn the_seed_usage_price_and_the_named_intervals_are_accepted_and_listed() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let product = create_product(&client, "API access", true).await;
    assert!(product.starts_with("prod_"), "{product}");

    // The seed's POST /v1/prices body, as it is, with a product.
    let mut seed_price = json!({"model": "usage", "currency": "NGN", "unit_amount": 100, "included_units": 1000,
                                "auto_charge": true, "interval": {"unit": "month", "count": 1}, "product_id": product});
    let preview = client.call("create_price", seed_price.clone()).await;
    assert_eq!(preview["outcome"], "preview");
    assert!(preview["object"].get("id").is_none(), "{preview}");
    assert_eq!(price_count(&client).await, 0);
    seed_price["confirm"] = json!(true);
    let created = client.call("create_price", seed_price).await;
    let price = &created["object"];
    assert!(price["id"].as_str().unwrap().starts_with("price_"), "{price}");
    assert_eq!(price["model"], "usage");
    assert_eq!(price["unit_amount"], json!({"amount": 100, "currency": "NGN", "display": "₦1.00"}));
    assert_eq!((price["included_units"].as_i64(), price["auto_charge"].as_bool()), (Some(1000), Some(true)));
    assert_eq!(price["interval"], json!({"unit": "month", "count": 1, "name": "monthly"}));
    assert_eq!((price["used"].as_bool(), price["active"].as_bool()), (Some(false), Some(true)));
    assert_eq!(price["product_id"], product.as_str());
    let message = created["message"].as_str().unwrap();
    assert!(message.contains("₦1.00 per unit beyond 1000 included units"), "{message}");

    for (name, unit, count) in [
        ("weekly", "week", 1),
        ("bi-weekly", "week", 2),
        ("monthly", "month", 1),
        ("bi-monthly", "month", 2),
        ("quarterly", "month", 3),
        ("semi-annual", "month", 6),
        ("annual", "year", 1),
    ] {
        let mut arguments = recurring_price();
        arguments["interval"] = json!(name);
        arguments["trial_period_days"] = json!(14);
        let price = client.call("create_price", arguments).await;
        assert_eq!(price["object"]["interval"], json!({"unit": unit, "count": count, "name": name}), "{name}");
        assert_eq!(price["object"]["trial_period_days"], 14);
    }
    let mut three_years = recurring_price();
    three_years["interval"] = json!({"unit": "day", "count": 1095});
    assert_eq!(client.call("create_price", three_years).await["object"]["interval"]["name"], Value::Null);

    let by_product = client.call("list_prices", json!({"product_id": product})).await;
    assert_eq!(by_product["data"].as_array().unwrap().len(), 1, "{by_product}");
    let first = client.call("list_prices", json!({"limit": 5})).await;
    assert_eq!((first["data"].as_array().unwrap().len(), first["has_more"].as_bool()), (5, Some(true)));
    let rest = client.call("list_prices", json!({"limit": 5, "starting_after": first["next_starting_after"]})).await;
    assert_eq!((rest["data"].as_array().unwrap().len(), rest["has_more"].as_bool()), (4, Some(false)));
    assert_eq!(rest["data"][3]["id"], created["object"]["id"], "newest first: the seed price is the oldest");
    let inactive = client.call("list_prices", json!({"active": false})).await;
    assert_eq!(inactive["data"], json!([]));

    let archived = create_product(&client, "Legacy", false).await;
    let active = client.call("list_products", json!({"active": true})).await;
    assert_eq!(active["data"].as_array().unwrap().len(), 1);
    assert_eq!(active["data"][0]["id"], product.as_str());
    let all = client.call("list_products", json!({})).await;
    assert_eq!(all["data"][0]["id"], archived.as_str());
    let events = client.call("list_events", json!({"type": "price.created"})).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 9);
    assert_eq!(
        client.call("list_events", json!({"type": "product.created"})).await["data"].as_array().unwrap().len(),
        2
    );
    client.close().await;
}

#[tokio::test]
async fn a_bad_interval_is_invalid_interval_naming_the_argument_and_creates_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let cases = [
        (json!("fortnightly"), "interval"),
        (json!("Monthly"), "interval"),
        (json!("bi_weekly"), "interval"),
        (json!("daily"), "interval"),
        (json!(""), "interval"),
        (json!(30), "interval"),
        (json!(null), "interval"),
        (json!(["month", 1]), "interval"),
        (json!({"unit": "month", "count": 0}), "interval.count"),
        (json!({"unit": "month", "count": -1}), "interval.count"),
        (json!({"unit": "month", "count": 37}), "interval.count"),
        (json!({"unit": "day", "count": 1096}), "interval.count"),
        (json!({"unit": "week", "count": 157}), "interval.count"),
        (json!({"unit": "year", "count": 4}), "interval.count"),
        (json!({"unit": "month", "count": 1_000_000_000_000_i64}), "interval.count"),
        (json!({"unit": "month", "count": u64::MAX}), "interval.count"),
        (json!({"unit": "month", "count": 1.5}), "interval.count"),
        (json!({"unit": "month", "count": "1"}), "interval.count"),
        (json!({"unit": "month"}), "interval.count"),
        (json!({"unit": "fortnight", "count": 1}), "interval.unit"),
        (json!({"unit": "Month", "count": 1}), "interval.unit"),
        (json!({"count": 1}), "interval.unit"),
        (json!({"unit": "month", "count": 1, "anchor": "31"}), "interval"),
    ];
    for (interval, param) in cases {
        let mut arguments = recurring_price();
        arguments["interval"] = interval.clone();
        let error = client.call_error("create_price", arguments).await;
        assert_eq!(
            (error["type"].as_str(), error["param"].as_str()),
            (Some("invalid_interval"), Some(param)),
            "{interval}: {error}"
        );
    }
    // Beyond the schema's length: refused by the input guard before anything runs.
    let mut arguments = recurring_price();
    arguments["interval"] = json!("m".repeat(10_000));
    let error = client.call_error("create_price", arguments).await;
    assert_eq!((error["type"].as_str(), error["param"].as_str()), (Some("invalid_request"), Some("interval")));
    assert_eq!(price_count(&client).await, 0);
    client.close().await;
}

#[tokio::test]
async fn price_rules_and_foreign_or_archived_products_are_refused_and_create_nothing() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    let with = |field: &str, value: Value| {
        let mut arguments = recurring_price();
        arguments[field] = value;
        arguments
    };
    let cases = [
        (with("currency", json!("NGX")), "invalid_request", "currency"),
        (with("unit_amount", json!(-1)), "invalid_request", "unit_amount"),
        (with("unit_amount", json!(1.5)), "invalid_request", "unit_amount"),
        (with("unit_amount", json!("100")), "invalid_request", "unit_amount"),
        (with("unit_amount", json!(9_007_199_254_740_992_i64)), "invalid_request", "unit_amount"),
        (with("included_units", json!(10)), "invalid_request", "included_units"),
        (with("auto_charge", json!(true)), "invalid_request", "auto_charge"),
        (with("trial_period_days", json!(731)), "invalid_request", "trial_period_days"),
        (with("trial_period_days", json!(-1)), "invalid_request", "trial_period_days"),
        (with("model", json!("metered")), "invalid_request", "model"),
        (with("product_id", json!("pi_1")), "invalid_request", "product_id"),
        (with("product_id", json!("prod_0000000000000000")), "not_found", ""),
    ];
    for (arguments, error_type, param) in cases {
        let error = client.call_error("create_price", arguments.clone()).await;
        assert_eq!(error["type"], error_type, "{arguments}: {error}");
        if !param.is_empty() {
            assert_eq!(error["param"], param, "{arguments}: {error}");
        }
    }
    let mut usage = with("model", json!("usage"));
    usage["included_units"] = json!(-5);
    assert_eq!(client.call_error("create_price", usage).await["param"], "included_units");

    let archived = create_product(&client, "Legacy", false).await;
    let message = client.expect_error("create_price", with("product_id", json!(archived)), "invalid_state").await;
    assert!(message.contains("archived"), "{message}");
    let live = harepay.connect(&harepay.create_key(&["--mode", "live", "--owner", "ops"])).await;
    let live_product = create_product(&live, "Live only", true).await;
    client.expect_error("create_price", with("product_id", json!(live_product)), "not_found").await;
    assert_eq!(client.call("list_products", json!({})).await["data"].as_array().unwrap().len(), 1);
    assert_eq!(live.call("list_prices", json!({})).await["data"], json!([]));
    assert_eq!(price_count(&client).await, 0);
    live.close().await;
    client.close().await;
}
