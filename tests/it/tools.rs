//! `harepay-tools`, the demo and the benchmark, against the real binary: they are clients of the
//! server built apart from it, so a change of the server that breaks them fails here.

use std::path::Path;

use serde_json::json;

use crate::support::{Harepay, MAKER_KEY, binary};

#[tokio::test]
async fn the_demo_walks_the_quickstart_through_the_real_binary() {
    let harepay = Harepay::new();
    harepay_tools::demo::run(Path::new(binary()), &harepay.db).await.expect("the demo runs to its end");

    // What the demo did is in its database: one payment, partly refunded, and one payout that a
    // second person approved.
    let client = harepay.connect(MAKER_KEY).await;
    let payments = client.call("list_payments", json!({})).await;
    assert_eq!(payments["data"].as_array().map(Vec::len), Some(1), "{payments}");
    assert_eq!(payments["data"][0]["amount_refunded"]["amount"], 250_000, "{payments}");
    let payouts = client.call("list_payouts", json!({})).await;
    assert_eq!(payouts["data"].as_array().map(Vec::len), Some(1), "{payouts}");
    assert_eq!(payouts["data"][0]["approval"]["decided_by"], "demo-approver", "{payouts}");
    client.close().await;
    let verified = harepay.cli(&["verify"]);
    assert!(verified.status.success(), "verify: {}", String::from_utf8_lossy(&verified.stdout));
}

#[test]
fn the_benchmark_measures_stdio_round_trips_with_the_raw_client() {
    let work_dir = tempfile::tempdir().unwrap();
    let measured = harepay_tools::bench::stdio_round_trips(Path::new(binary()), work_dir.path(), 50).unwrap();
    assert_eq!(measured.count, 50);
    let latencies = measured.latencies.expect("each round trip is timed");
    assert!(latencies.p50 <= latencies.p99 && latencies.p99 <= latencies.max, "{latencies:?}");
    let left: Vec<_> = std::fs::read_dir(work_dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the benchmark removes its database and log: {left:?}");
}
