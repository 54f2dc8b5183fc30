//! Owners are identities: look-alike names are one person for maker-checker and for spend
//! limits; a payout split just under the threshold still reaches a checker; a merchant-wide daily
//! limit binds every key. All through the real binary and its CLI.

use serde_json::json;

use crate::support::{Harepay, MAKER_KEY, payout_arguments};

const THRESHOLD: (&str, &str) = ("HAREPAY_APPROVAL_THRESHOLDS", "NGN=100000");

fn key_create(harepay: &Harepay, owner: &str, role: &str) -> std::process::Output {
    harepay.cli(&["keys", "create", "--role", role, "--owner", owner])
}

#[tokio::test]
async fn look_alike_owners_cannot_approve_the_makers_payout() {
    let harepay = Harepay::new();
    let maker = harepay.connect_env(MAKER_KEY, &[THRESHOLD]).await;
    maker.fund_ngn(1_000_000, "fund").await;
    let created = maker.payout(400_000, "p-1").await;
    assert_eq!(created["object"]["status"], "pending_approval");
    let id = created["object"]["id"].as_str().unwrap().to_owned();

    // Accepted at creation, normalized to the maker's own name: one person, so no approval.
    for (index, look_alike) in ["DEMO-MAKER", "  demo-maker  ", "Demo-Maker", "ｄｅｍｏ-ｍａｋｅｒ"].iter().enumerate()
    {
        let output = key_create(&harepay, look_alike, "approver");
        assert!(output.status.success(), "{look_alike:?}: {}", String::from_utf8_lossy(&output.stderr));
        let secret = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        let approver = harepay.connect_env(&secret, &[THRESHOLD]).await;
        let me = approver.call("whoami", json!({})).await;
        assert_eq!(me["owner"], "demo-maker", "{look_alike:?} is stored normalized");
        let arguments = json!({"id": id, "confirm": true, "idempotency_key": format!("a-{index}")});
        let message = approver.expect_error("approve_payout", arguments, "forbidden").await;
        assert!(message.contains("self-approval"), "{look_alike:?}: {message}");
        let reject = json!({"id": id, "reason": "mine", "confirm": true, "idempotency_key": format!("r-{index}")});
        approver.expect_error("reject_payout", reject, "forbidden").await;
        approver.close().await;
    }

    // Refused at creation: invisible characters, another script's look-alike letters, reserved names.
    for (look_alike, why) in [
        ("demo\u{200B}-maker", "invisible"),
        ("demo-maker\u{202E}", "invisible"),
        ("d\u{0435}mo-maker", "mixes scripts"),
        ("demo\u{4E00}maker", "mixes scripts"),
        ("demo-mak\u{0307}er", "combining mark"),
        ("harepay", "reserved"),
        ("HAREPAY", "reserved"),
        ("operator", "reserved"),
        ("", "owner"),
    ] {
        let output = key_create(&harepay, look_alike, "approver");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{look_alike:?} should be refused");
        assert!(stderr.contains(why), "{look_alike:?}: {stderr}");
        assert!(output.stdout.is_empty(), "no secret is printed for a refused key");
    }

    // A different person approves; the payout stays the maker's.
    let output = key_create(&harepay, "Chidi Okafor", "approver");
    assert!(output.status.success());
    let secret = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let approver = harepay.connect_env(&secret, &[THRESHOLD]).await;
    let approved = approver.call("approve_payout", json!({"id": id, "confirm": true, "idempotency_key": "a-ok"})).await;
    assert_eq!(approved["object"]["approval"]["decided_by"], "chidi okafor");
    approver.close().await;
    maker.close().await;
    assert!(harepay.cli(&["verify"]).status.success());
}

#[tokio::test]
async fn a_second_key_of_the_same_person_does_not_double_a_daily_limit() {
    let harepay = Harepay::new();
    let funder = harepay.connect(MAKER_KEY).await;
    funder.fund_ngn(1_000_000, "fund").await;
    let limited = harepay.create_key(&["--owner", "Payroll Bot", "--limit", "NGN:max_per_day=80000"]);
    let unlimited = harepay.create_key(&["--owner", "payroll  bot"]);
    let first = harepay.connect(&limited).await;
    let second = harepay.connect(&unlimited).await;

    first.payout(50_000, "p-1").await;
    // The second key has no limit of its own, but its owner does: 30,000 remain for the person.
    let me = second.call("whoami", json!({})).await;
    assert_eq!(me["spend_limits"][0]["max_per_day"]["amount"], 80_000, "{me}");
    assert_eq!(me["spend_limits"][0]["spent_last_24h"]["amount"], 50_000, "{me}");
    let message = second.expect_error("create_payout", payout_arguments(30_001, "p-2"), "limit_exceeded").await;
    assert!(message.contains("max_per_day") && message.contains("₦300.00"), "{message}");
    second.payout(30_000, "p-3").await;
    first.expect_error("create_payout", payout_arguments(1, "p-4"), "limit_exceeded").await;
    // Another person is not bound by them.
    funder.payout(100_000, "p-5").await;
    // Revoking (rotating) the limited key does not lift the limit: it binds the person.
    let key_id = me["key_id"].as_str().unwrap().to_owned();
    let first_me = first.call("whoami", json!({})).await;
    let limited_key_id = first_me["key_id"].as_str().unwrap().to_owned();
    assert_ne!(key_id, limited_key_id);
    assert!(harepay.cli(&["keys", "revoke", &limited_key_id]).status.success());
    second.expect_error("create_payout", payout_arguments(1_000, "p-6"), "limit_exceeded").await;
    let me = second.call("whoami", json!({})).await;
    assert_eq!(me["spend_limits"][0]["max_per_day"]["amount"], 80_000, "{me}");
    for client in [first, second, funder] {
        client.close().await;
    }
}

#[tokio::test]
async fn the_merchant_daily_limit_binds_every_key() {
    let harepay = Harepay::new();
    let environment = [("HAREPAY_MERCHANT_DAILY_PAYOUT_LIMITS", "NGN=150000")];
    let maker = harepay.connect_env(MAKER_KEY, &environment).await;
    maker.fund_ngn(1_000_000, "fund").await;
    let other_person = harepay.create_key(&["--owner", "ada"]);
    let other = harepay.connect_env(&other_person, &environment).await;
    let me = other.call("whoami", json!({})).await;
    assert_eq!(me["merchant_daily_payout_limits"][0]["amount"], 150_000, "{me}");
    maker.payout(100_000, "p-1").await;
    let message = other.expect_error("create_payout", payout_arguments(50_001, "p-2"), "limit_exceeded").await;
    assert!(message.contains("merchant_max_per_day") && message.contains("₦500.00"), "{message}");
    other.payout(50_000, "p-3").await;
    // A failed or canceled payout gives its share back.
    let payouts = maker.call("list_payouts", json!({"status": "pending"})).await;
    let id = payouts["data"][0]["id"].clone();
    maker.call("cancel_payout", json!({"id": id, "confirm": true})).await;
    other.payout(50_000, "p-4").await;
    maker.close().await;
    other.close().await;
}

#[tokio::test]
async fn a_payout_split_just_under_the_threshold_waits_for_a_checker() {
    let harepay = Harepay::new();
    let maker = harepay.connect_env(MAKER_KEY, &[THRESHOLD]).await;
    maker.fund_ngn(1_000_000, "fund").await;
    // A second key of the same person does not hide the split either.
    let second_key = harepay.create_key(&["--owner", "Demo-Maker"]);
    let same_person = harepay.connect_env(&second_key, &[THRESHOLD]).await;

    let small = maker.payout(20_000, "p-0").await;
    assert_eq!(small["object"]["status"], "pending", "under a quarter of the threshold is not a part");
    let first = maker.payout(60_000, "p-1").await;
    assert_eq!(first["object"]["status"], "pending", "one part alone goes through");
    let preview = same_person
        .call(
            "create_payout",
            json!({
                "amount": {"amount": 60_000, "currency": "NGN"},
                "rail": "rubies",
                "destination": {"kind": "bank", "account_no": "0123456789", "bank_code": "058"},
            }),
        )
        .await;
    assert_eq!(preview["object"]["approval"]["trigger"], "structuring", "the preview says so too");
    let second = same_person.payout(60_000, "p-2").await;
    assert_eq!(second["object"]["status"], "pending_approval");
    assert_eq!(second["object"]["approval"]["trigger"], "structuring");
    assert!(second["message"].as_str().unwrap().contains("split"), "{second}");

    let pending = maker.call("list_pending_approvals", json!({})).await;
    assert_eq!(pending["data"][0]["id"], second["object"]["id"]);
    assert_eq!(pending["data"][0]["approval"]["trigger"], "structuring");
    let audit = maker.call("list_audit_log", json!({"limit": 100})).await;
    let flagged = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| {
            entry["tool"] == "create_payout"
                && entry["outcome"] == "executed"
                && entry["object_id"] == second["object"]["id"]
        })
        .unwrap()
        .clone();
    let detail = flagged["detail"].as_str().unwrap();
    assert!(detail.contains("structuring suspected") && detail.contains("₦1,200.00"), "{detail}");

    // Parts of different sizes add up too: 49% then 51% of the threshold, by another person.
    let other = harepay.create_key(&["--owner", "ada"]);
    let ada = harepay.connect_env(&other, &[THRESHOLD]).await;
    assert_eq!(ada.payout(49_000, "a-1").await["object"]["status"], "pending");
    let second_part = ada.payout(51_000, "a-2").await;
    assert_eq!(second_part["object"]["approval"]["trigger"], "structuring", "{second_part}");
    ada.close().await;
    maker.close().await;
    same_person.close().await;
}
