//! Payouts, maker-checker approval and spend limits, through the real binary.

use std::time::Duration;

use serde_json::json;

use crate::support::{APPROVER_KEY, Client, Harepay, MAKER_KEY, payout_arguments};

const THRESHOLD: (&str, &str) = ("HAREPAY_APPROVAL_THRESHOLDS", "NGN=100000");

async fn wait_for_payout_status(client: &Client, id: &str, status: &str) -> serde_json::Value {
    let mut payout = json!(null);
    for _ in 0..100 {
        payout = client.call("get_payout", json!({"id": id})).await;
        if payout["status"] == status {
            return payout;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("payout {id} never became {status}: {payout}");
}

#[tokio::test]
async fn the_approval_threshold_is_inclusive_and_reserves_funds() {
    let harepay = Harepay::new();
    let client = harepay.connect_env(MAKER_KEY, &[THRESHOLD]).await;
    client.fund_ngn(1_000_000, "fund").await;
    let below = client.payout(99_999, "p-1").await;
    assert_eq!(below["object"]["status"], "pending");
    assert_eq!(below["object"]["approval_required"], false);
    let at = client.payout(100_000, "p-2").await;
    assert_eq!(at["object"]["status"], "pending_approval");
    assert_eq!(at["object"]["approval"]["threshold"]["amount"], 100_000);
    assert!(at["message"].as_str().unwrap().contains("approval_required"), "{at}");
    let above = client.payout(100_001, "p-3").await;
    assert_eq!(above["object"]["status"], "pending_approval");
    assert_eq!(client.balance("NGN").await, (1_000_000 - 300_000, 0, 300_000));
    // Retrying a payout with its key replays it: nothing more is reserved.
    let retried = client.payout(100_000, "p-2").await;
    assert_eq!(retried["outcome"], "replayed");
    assert_eq!(retried["object"]["id"], at["object"]["id"]);
    client.expect_error("create_payout", payout_arguments(100_002, "p-2"), "idempotency_key_reused").await;
    assert_eq!(client.balance("NGN").await, (1_000_000 - 300_000, 0, 300_000));

    let pending = client.call("list_pending_approvals", json!({})).await;
    let ids: Vec<&str> = pending["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [above["object"]["id"].as_str().unwrap(), at["object"]["id"].as_str().unwrap()]);
    let events = client.call("list_events", json!({"type": "payout.pending_approval"})).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
    client.close().await;
}

#[tokio::test]
async fn the_preview_says_whether_approval_is_needed_and_the_balances_after() {
    let harepay = Harepay::new();
    let client = harepay.connect_env(MAKER_KEY, &[THRESHOLD]).await;
    client.fund_ngn(500_000, "fund").await;
    let mut arguments = payout_arguments(200_000, "p-1");
    arguments["confirm"] = json!(false);
    let preview = client.call("create_payout", arguments).await;
    assert_eq!(preview["outcome"], "preview");
    assert_eq!(preview["object"]["status"], "pending_approval");
    assert!(preview["message"].as_str().unwrap().contains("approval_required"));
    let changes = preview["balance_changes"].as_array().unwrap();
    let change = |account: &str| changes.iter().find(|c| c["account"] == account).unwrap().clone();
    assert_eq!(change("available")["after"]["amount"], 300_000);
    assert_eq!(change("reserved")["after"]["amount"], 200_000);
    assert_eq!(client.balance("NGN").await, (500_000, 0, 0), "a preview reserves nothing");
    client.close().await;
}

#[tokio::test]
async fn a_second_person_approves_and_nobody_approves_their_own_payout() {
    let harepay = Harepay::new();
    harepay.cli(&["verify"]);
    // An admin key owned by the same person as the demo maker key.
    let same_person = harepay.create_key(&["--role", "admin", "--owner", "demo-maker"]);
    let environment = [THRESHOLD, ("HAREPAY_TEST_AUTO_SETTLE_MS", "50")];
    let maker = harepay.connect_env(MAKER_KEY, &environment).await;
    maker.fund_ngn(1_000_000, "fund").await;
    let created = maker.payout(400_000, "p-1").await;
    let id = created["object"]["id"].as_str().unwrap().to_owned();

    let tools = maker.tool_names().await;
    assert!(!tools.contains(&"approve_payout".to_owned()), "a maker key does not see approve_payout");
    maker
        .expect_error("approve_payout", json!({"id": id, "confirm": true, "idempotency_key": "a-1"}), "forbidden")
        .await;

    let admin_same_owner = harepay.connect_env(&same_person, &environment).await;
    let message = admin_same_owner
        .expect_error("approve_payout", json!({"id": id, "confirm": true, "idempotency_key": "a-2"}), "forbidden")
        .await;
    assert!(message.contains("self-approval"), "{message}");
    admin_same_owner.close().await;

    let approver = harepay.connect_env(APPROVER_KEY, &environment).await;
    let tools = approver.tool_names().await;
    assert!(tools.contains(&"approve_payout".to_owned()) && tools.contains(&"reject_payout".to_owned()));
    assert!(!tools.contains(&"create_payout".to_owned()), "a checker does not initiate payouts");
    approver.expect_error("create_payout", payout_arguments(1_000, "p-9"), "forbidden").await;
    let preview = approver.call("approve_payout", json!({"id": id})).await;
    assert_eq!(preview["outcome"], "preview");
    let approve = json!({"id": id, "reason": "vendor verified", "confirm": true, "idempotency_key": "a-3"});
    let approved = approver.call("approve_payout", approve.clone()).await;
    assert_eq!(approved["outcome"], "executed");
    assert_eq!(approved["object"]["approval"]["decision"], "approved");
    assert_eq!(approved["object"]["approval"]["decided_by"], "demo-approver");
    let replay = approver.call("approve_payout", approve).await;
    assert_eq!(replay["outcome"], "replayed", "an approval retried with its key replays");
    approver
        .expect_error("approve_payout", json!({"id": id, "confirm": true, "idempotency_key": "a-4"}), "invalid_state")
        .await;

    let paid = wait_for_payout_status(&maker, &id, "paid").await;
    assert_eq!(paid["approval"]["reason"], "vendor verified");
    assert_eq!(maker.balance("NGN").await, (600_000, 0, 0));
    let events = maker.call("list_events", json!({"object_id": id, "limit": 100})).await;
    let types: Vec<&str> = events["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["payout.paid", "payout.processing", "payout.approved", "payout.pending_approval", "payout.created"]
    );
    let audit = approver.call("list_audit_log", json!({"limit": 100})).await;
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["tool"] == "approve_payout" && a["outcome"] == "executed" && a["actor"] == "demo-approver")
    );
    maker.close().await;
    approver.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn reject_and_expiry_release_the_funds() {
    let harepay = Harepay::new();
    let environment = [THRESHOLD, ("HAREPAY_APPROVAL_EXPIRY_MS", "400")];
    let maker = harepay.connect_env(MAKER_KEY, &environment).await;
    maker.fund_ngn(1_000_000, "fund").await;
    let rejected_id = maker.payout(300_000, "p-1").await["object"]["id"].as_str().unwrap().to_owned();
    let approver = harepay.connect_env(APPROVER_KEY, &environment).await;
    approver
        .expect_error(
            "reject_payout",
            json!({"id": rejected_id, "reason": "  ", "confirm": true, "idempotency_key": "r-1"}),
            "invalid_request",
        )
        .await;
    let reject = json!({"id": rejected_id, "reason": "unknown vendor", "confirm": true, "idempotency_key": "r-1"});
    let rejected = approver.call("reject_payout", reject.clone()).await;
    assert_eq!(rejected["object"]["status"], "canceled");
    assert_eq!(rejected["object"]["approval"]["decision"], "rejected");
    assert_eq!(rejected["object"]["cancellation_reason"], "rejected: unknown vendor");
    assert_eq!(approver.call("reject_payout", reject.clone()).await["outcome"], "replayed");
    let mut other = reject.clone();
    other["reason"] = json!("changed my mind");
    approver.expect_error("reject_payout", other, "idempotency_key_reused").await;
    assert_eq!(maker.balance("NGN").await, (1_000_000, 0, 0));

    let expiring_id = maker.payout(250_000, "p-2").await["object"]["id"].as_str().unwrap().to_owned();
    assert_eq!(maker.balance("NGN").await, (750_000, 0, 250_000));
    let expired = wait_for_payout_status(&maker, &expiring_id, "canceled").await;
    assert_eq!(expired["cancellation_reason"], "approval_expired");
    assert_eq!(expired["approval"]["decision"], "expired");
    assert_eq!(maker.balance("NGN").await, (1_000_000, 0, 0));
    approver
        .expect_error(
            "approve_payout",
            json!({"id": expiring_id, "confirm": true, "idempotency_key": "a-1"}),
            "invalid_state",
        )
        .await;
    let events = maker.call("list_events", json!({"type": "payout.expired"})).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    // Every decision is in the audit log with who and why: the rejection by the approver, the
    // expiry by harepay itself.
    let audit = maker.call("list_audit_log", json!({"limit": 100})).await;
    let entries = audit["data"].as_array().unwrap();
    let expiry = entries.iter().find(|a| a["tool"] == "expire_approval").expect("the expiry is audited");
    assert_eq!(expiry["actor"], "harepay");
    assert_eq!(expiry["object_id"], expiring_id.as_str());
    let rejection = entries.iter().find(|a| a["tool"] == "reject_payout" && a["outcome"] == "executed").unwrap();
    assert_eq!(rejection["actor"], "demo-approver");
    assert!(rejection["detail"].as_str().unwrap().contains("unknown vendor"));
    maker.close().await;
    approver.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn spend_limits_are_enforced_per_key_and_name_what_remains() {
    let harepay = Harepay::new();
    harepay.cli(&["verify"]);
    let limited =
        harepay.create_key(&["--owner", "payroll-bot", "--limit", "NGN:max_per_payout=50000,max_per_day=80000"]);
    let client = harepay.connect(&limited).await;
    let funder = harepay.connect(MAKER_KEY).await;
    funder.fund_ngn(1_000_000, "fund").await;

    let me = client.call("whoami", json!({})).await;
    assert_eq!(me["spend_limits"][0]["max_per_payout"]["amount"], 50_000);
    let error = client.call_error("create_payout", payout_arguments(50_001, "p-1")).await;
    assert_eq!(error["type"], "limit_exceeded");
    assert!(error["message"].as_str().unwrap().contains("max_per_payout"), "{error}");
    client.payout(50_000, "p-2").await;
    let error = client.call_error("create_payout", payout_arguments(30_001, "p-3")).await;
    assert_eq!(error["type"], "limit_exceeded");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("max_per_day") && message.contains("₦300.00"), "{message}");
    client.payout(30_000, "p-4").await;
    let me = client.call("whoami", json!({})).await;
    assert_eq!(me["spend_limits"][0]["spent_last_24h"]["amount"], 80_000);
    // Another key is not bound by this key's limits.
    funder.payout(60_000, "p-5").await;
    // Canceling gives the allowance back.
    let payouts = client.call("list_payouts", json!({"status": "pending"})).await;
    let id =
        payouts["data"].as_array().unwrap().iter().find(|p| p["created_by"] == "payroll-bot").unwrap()["id"].clone();
    client.call("cancel_payout", json!({"id": id, "confirm": true})).await;
    client.payout(30_000, "p-6").await;
    client.close().await;
    funder.close().await;
}

#[tokio::test]
async fn concurrent_payouts_never_overdraw_exactly_the_ones_that_fit_succeed() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    client.fund_ngn(1_000_000, "fund").await;
    let mut calls = tokio::task::JoinSet::new();
    for index in 0..10 {
        let peer = client.service.peer().clone();
        let arguments = payout_arguments(150_000, &format!("burst-{index}")).as_object().cloned().unwrap();
        calls.spawn(async move {
            peer.call_tool(rmcp::model::CallToolRequestParams::new("create_payout").with_arguments(arguments)).await
        });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(result) = calls.join_next().await {
        let result = result.unwrap().unwrap();
        let structured = result.structured_content.unwrap();
        if result.is_error == Some(true) {
            assert_eq!(structured["error"]["type"], "insufficient_funds", "{structured}");
            refused += 1;
        } else {
            created += 1;
        }
    }
    assert_eq!((created, refused), (6, 4));
    assert_eq!(client.balance("NGN").await, (100_000, 0, 900_000));
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn payouts_are_paid_fail_or_cancel_on_the_simulated_rail() {
    let harepay = Harepay::new();
    let client = harepay.connect_env(MAKER_KEY, &[("HAREPAY_TEST_AUTO_SETTLE_MS", "50")]).await;
    client.fund_ngn(1_000_000, "fund").await;
    let paid = client.payout(100_000, "p-1").await["object"]["id"].as_str().unwrap().to_owned();
    let mut failing = payout_arguments(200_000, "p-2");
    failing["destination"]["account_no"] = json!("0000000000");
    let failed = client.call("create_payout", failing).await["object"]["id"].as_str().unwrap().to_owned();
    wait_for_payout_status(&client, &paid, "paid").await;
    let failed = wait_for_payout_status(&client, &failed, "failed").await;
    assert!(failed["failure_reason"].as_str().unwrap().contains("0000000000"));
    let audit = client.call("list_audit_log", json!({"limit": 100})).await;
    assert!(
        audit["data"].as_array().unwrap().iter().any(|a| a["tool"] == "payout_rail" && a["object_id"] == failed["id"])
    );
    assert_eq!(client.balance("NGN").await, (900_000, 0, 0));
    client.expect_error("cancel_payout", json!({"id": paid, "confirm": true}), "invalid_state").await;
    client.close().await;

    // With the simulator off a payout stays pending and can be canceled.
    let client = harepay.connect(MAKER_KEY).await;
    let id = client.payout(100_000, "p-3").await["object"]["id"].as_str().unwrap().to_owned();
    assert_eq!(client.balance("NGN").await, (800_000, 0, 100_000));
    let canceled = client.call("cancel_payout", json!({"id": id, "confirm": true})).await;
    assert_eq!(canceled["object"]["status"], "canceled");
    assert_eq!(client.balance("NGN").await, (900_000, 0, 0));
    client.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn approval_works_from_the_command_line() {
    let harepay = Harepay::new();
    let client = harepay.connect_env(MAKER_KEY, &[THRESHOLD]).await;
    client.fund_ngn(1_000_000, "fund").await;
    let first = client.payout(200_000, "p-1").await["object"]["id"].as_str().unwrap().to_owned();
    let second = client.payout(300_000, "p-2").await["object"]["id"].as_str().unwrap().to_owned();

    let pending = harepay.cli_env(&["payouts", "pending"], &[("HAREPAY_SECRET_KEY", APPROVER_KEY)]);
    let listing = String::from_utf8_lossy(&pending.stdout);
    assert!(listing.contains(&first) && listing.contains(&second), "{listing}");

    let by_maker = harepay.cli_env(&["payouts", "approve", &first], &[("HAREPAY_SECRET_KEY", MAKER_KEY)]);
    assert!(!by_maker.status.success());
    assert!(String::from_utf8_lossy(&by_maker.stderr).contains("forbidden"));

    let approved = harepay
        .cli_env(&["payouts", "approve", &first, "--reason", "checked"], &[("HAREPAY_SECRET_KEY", APPROVER_KEY)]);
    assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
    assert!(String::from_utf8_lossy(&approved.stdout).contains("processing"));
    let again = harepay.cli_env(&["payouts", "approve", &first], &[("HAREPAY_SECRET_KEY", APPROVER_KEY)]);
    assert!(again.status.success(), "repeating the same decision replays it");

    let rejected = harepay.cli_env(
        &["payouts", "reject", &second, "--reason", "duplicate invoice"],
        &[("HAREPAY_SECRET_KEY", APPROVER_KEY)],
    );
    assert!(rejected.status.success());
    let payout = client.call("get_payout", json!({"id": second})).await;
    assert_eq!(payout["status"], "canceled");
    assert_eq!(payout["approval"]["reason"], "duplicate invoice");
    assert_eq!(client.balance("NGN").await, (800_000, 0, 200_000));
    client.close().await;
}

#[tokio::test]
async fn payout_destinations_and_amounts_are_validated() {
    let harepay = Harepay::new();
    let client = harepay.connect(MAKER_KEY).await;
    client.fund_ngn(100_000, "fund").await;
    let cases = [
        (json!({"kind": "bank", "account_no": "12345", "bank_code": "058"}), "destination.account_no"),
        (json!({"kind": "bank", "account_no": "0123456789", "bank_code": "5"}), "destination.bank_code"),
        (json!({"kind": "crypto_wallet", "address": "T123", "network": "TRON"}), "destination.kind"),
    ];
    for (destination, param) in cases {
        let mut arguments = payout_arguments(1_000, "p-1");
        arguments["destination"] = destination;
        let error = client.call_error("create_payout", arguments).await;
        assert_eq!(
            (error["type"].as_str(), error["param"].as_str()),
            (Some("invalid_request"), Some(param)),
            "{error}"
        );
    }
    let mut unknown_kind = payout_arguments(1_000, "p-1");
    unknown_kind["destination"] = json!({"kind": "cash", "to": "me"});
    client.expect_error("create_payout", unknown_kind, "invalid_request").await;
    client.expect_error("create_payout", payout_arguments(100_001, "p-1"), "insufficient_funds").await;
    client.expect_error("get_payout", json!({"id": "po_missing"}), "not_found").await;
    assert_eq!(client.balance("NGN").await, (100_000, 0, 0));
    client.close().await;
}
