//! Keys, roles and modes: who sees which tools and which objects.

use serde_json::json;

use crate::support::{Harepay, MAKER_KEY};

/// Every read operation of the merchant's objects, by name: what a read-only key, or a maker key
/// on a `--read-only` server, sees (listing keys is for admin keys).
fn read_tools() -> Vec<String> {
    let mut names: Vec<String> = harepay::ops::registry()
        .iter()
        .filter(|entry| entry.spec.is_read() && entry.spec.action == harepay::engine::permission::Action::Read)
        .map(|entry| entry.spec.name.to_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 11, "{names:?}");
    names
}

#[tokio::test]
async fn a_read_only_key_sees_only_read_tools_and_cannot_write() {
    let harepay = Harepay::new();
    let read_only = harepay.create_key(&["--role", "read_only", "--owner", "auditor"]);
    assert!(read_only.starts_with("sk_test_"));
    let client = harepay.connect(&read_only).await;
    assert_eq!(client.tool_names().await, read_tools());
    let me = client.call("whoami", json!({})).await;
    assert_eq!(me["role"], "read_only");
    assert_eq!(me["owner"], "auditor");
    assert_eq!(me["can_write"], false);

    let arguments = json!({
        "amount": {"amount": 100, "currency": "NGN"},
        "method": "bank_transfer",
        "rail": "rubies",
        "confirm": true,
        "idempotency_key": "k-1",
    });
    let message = client.expect_error("create_payment_intent", arguments, "forbidden").await;
    assert!(message.contains("read_only"), "{message}");
    assert_eq!(client.payment_count().await, 0);
    let audit = client.call("list_audit_log", json!({})).await;
    assert_eq!(audit["data"][0]["outcome"], "refused");
    assert_eq!(audit["data"][0]["actor"], "auditor");
    client.close().await;
}

#[tokio::test]
async fn server_flags_narrow_the_tool_list_and_read_only_wins() {
    let harepay = Harepay::new();
    let client = harepay.connect_with(MAKER_KEY, &["--read-only"]).await;
    assert_eq!(client.tool_names().await, read_tools());
    client.expect_error("cancel_payment_intent", json!({"id": "pi_x", "confirm": true}), "forbidden").await;
    client.close().await;

    let client = harepay.connect_with(MAKER_KEY, &["--toolsets", "account,payments"]).await;
    let names = client.tool_names().await;
    assert!(names.contains(&"create_payment_intent".to_owned()));
    assert!(!names.contains(&"list_events".to_owned()));
    client.expect_error("list_events", json!({}), "forbidden").await;
    client.close().await;

    let client = harepay.connect_with(MAKER_KEY, &["--toolsets", "payments", "--read-only"]).await;
    assert_eq!(client.tool_names().await, ["get_payment", "list_payments", "list_refunds"]);
    client.close().await;
}

/// Tool names of `toolsets`, sorted.
fn tools_of(toolsets: &[harepay::ops::Toolset]) -> Vec<String> {
    let mut names: Vec<String> = harepay::ops::registry()
        .iter()
        .filter(|entry| toolsets.contains(&entry.spec.toolset))
        .map(|entry| entry.spec.name.to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_server_offers_the_default_toolsets_unless_told_otherwise() {
    use harepay::ops::Toolset;
    let harepay = Harepay::new();
    let admin = harepay.create_key(&["--role", "admin", "--owner", "root"]);
    let defaults: Vec<Toolset> = Toolset::ALL.into_iter().filter(|toolset| toolset.enabled_by_default()).collect();
    let opt_in: Vec<Toolset> = Toolset::ALL.into_iter().filter(|toolset| !toolset.enabled_by_default()).collect();
    assert!(defaults.contains(&Toolset::Payments) && defaults.contains(&Toolset::Payouts), "{defaults:?}");
    assert!(!opt_in.is_empty());

    let started = |extra: &[&str]| {
        let mut command = harepay.command(&admin, extra);
        command.env_remove("HAREPAY_TOOLSETS");
        command
    };
    let client = harepay.connect_command(started(&[])).await;
    assert_eq!(client.tool_names().await, tools_of(&defaults));
    // A tool of an opt-in toolset is refused, naming the toolset and how to enable it; a refused write is audited.
    let message = client.expect_error("list_events", json!({}), "forbidden").await;
    assert!(message.contains("toolset audit") && message.contains("--toolsets"), "{message}");
    let product = json!({"name": "Widget", "confirm": true, "idempotency_key": "p-1"});
    let message = client.expect_error("create_product", product, "forbidden").await;
    assert!(message.contains("toolset catalog"), "{message}");
    client.close().await;

    let client = harepay.connect_command(started(&["--toolsets", "default,audit"])).await;
    let mut expected = [defaults.clone(), vec![Toolset::Audit]].concat();
    expected.sort();
    assert_eq!(client.tool_names().await, tools_of(&expected));
    let audit = client.call("list_audit_log", json!({})).await;
    assert_eq!(audit["data"][0]["tool"], "create_product", "{audit}");
    assert_eq!(audit["data"][0]["outcome"], "refused");
    client.close().await;

    let client = harepay.connect_command(started(&["--toolsets", "all"])).await;
    assert_eq!(client.tool_names().await, tools_of(&Toolset::ALL));
    client.close().await;

    // The environment variable is the same flag; a flag on the command line wins over it.
    let mut command = harepay.command(&admin, &["--toolsets", "account"]);
    command.env("HAREPAY_TOOLSETS", "all");
    let client = harepay.connect_command(command).await;
    assert_eq!(client.tool_names().await, tools_of(&[Toolset::Account]));
    client.close().await;

    // Tools named one by one are offered whatever toolset they are in.
    let client = harepay.connect_command(started(&["--tools", "list_events,get_balance"])).await;
    assert_eq!(client.tool_names().await, ["get_balance", "list_events"]);
    client.close().await;

    // Unknown and look-alike toolset names stop the server before it serves anything.
    for bad in ["bogus", "Payments", "payments ,", "аccount", ""] {
        let output = started(&["--toolsets", bad]).stdin(std::process::Stdio::null()).output().await.unwrap();
        assert!(!output.status.success(), "--toolsets {bad:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("unknown toolset") && stderr.contains("default, all"), "{bad:?}: {stderr}");
        assert!(output.stdout.is_empty(), "stdout carries only protocol messages");
    }
}

#[tokio::test]
async fn a_test_key_never_sees_live_objects() {
    let harepay = Harepay::new();
    harepay.cli(&["verify"]);
    let live = harepay.create_key(&["--mode", "live", "--owner", "ops"]);
    assert!(live.starts_with("sk_live_"));

    let live_client = harepay.connect(&live).await;
    let live_id = live_client.create_payment(1_000_000, "order-1").await;
    let me = live_client.call("whoami", json!({})).await;
    assert_eq!(me["mode"], "live");
    // Live mode has no simulator.
    live_client
        .expect_error(
            "simulate_payment",
            json!({"id": live_id, "outcome": "succeeded", "confirm": true, "idempotency_key": "s-1"}),
            "test_mode_only",
        )
        .await;

    let test_client = harepay.connect(MAKER_KEY).await;
    assert_eq!(test_client.payment_count().await, 0);
    test_client.expect_error("get_payment", json!({"id": live_id}), "not_found").await;
    // Idempotency keys are scoped per mode too: the same key makes a separate test payment.
    let test_id = test_client.create_payment(1_000_000, "order-1").await;
    assert_ne!(test_id, live_id);
    live_client.expect_error("get_payment", json!({"id": test_id}), "not_found").await;
    assert_eq!(live_client.payment_count().await, 1);
    live_client.close().await;
    test_client.close().await;
}

#[tokio::test]
async fn unknown_and_revoked_keys_are_refused() {
    let harepay = Harepay::new();
    let output = std::process::Command::new(crate::support::binary())
        .arg("stdio")
        .env("HAREPAY_DB", &harepay.db)
        .env("HAREPAY_SECRET_KEY", "sk_test_not_a_key")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown or revoked"));
    assert!(output.stdout.is_empty(), "nothing but protocol messages on stdout");

    let key = harepay.create_key(&["--owner", "bot"]);
    let client = harepay.connect(&key).await;
    let me = client.call("whoami", json!({})).await;
    let key_id = me["key_id"].as_str().unwrap().to_owned();
    let revoked = harepay.cli(&["keys", "revoke", &key_id]);
    assert!(revoked.status.success());
    // The running session is cut off at once: every call re-checks the key.
    client.expect_error("whoami", json!({}), "authentication_failed").await;
    client.close().await;

    let listing = String::from_utf8(harepay.cli(&["keys", "list"]).stdout).unwrap();
    assert!(listing.contains(&key_id) && listing.contains("revoked"), "{listing}");
    // Key management is audited in the merchant's log, as the operator.
    let auditor = harepay.connect(MAKER_KEY).await;
    let audit = auditor.call("list_audit_log", json!({"limit": 100})).await;
    let tools: Vec<&str> = audit["data"].as_array().unwrap().iter().map(|a| a["tool"].as_str().unwrap()).collect();
    assert_eq!(tools[..2], ["keys.revoke", "keys.create"], "{audit}");
    assert_eq!(audit["data"][0]["object_id"], key_id.as_str());
    auditor.close().await;
    assert!(!listing.contains(&key), "secrets are never listed");
}

#[tokio::test]
async fn secrets_are_stored_hashed() {
    let harepay = Harepay::new();
    let key = {
        harepay.cli(&["verify"]);
        harepay.create_key(&["--owner", "bot"])
    };
    for bytes in crate::backend::stored_bytes(&harepay.db) {
        assert!(!bytes.windows(key.len()).any(|window| window == key.as_bytes()), "the secret is on disk in clear");
        assert!(!bytes.windows(12).any(|window| window == b"sk_test_demo"), "the demo secret is on disk in clear");
    }
}

/// The permission table through the real binary: for every role and every operation, the
/// operation is listed exactly when the role may take its action, and a hidden one called by name
/// is refused `forbidden` and audited.
#[tokio::test]
async fn each_role_lists_exactly_what_it_may_do_and_a_hidden_operation_is_forbidden_and_audited() {
    use harepay::engine::permission::role_may;
    use harepay::engine::principal::Role;
    let harepay = Harepay::new();
    let keys = [
        (Role::Admin, harepay.create_key(&["--role", "admin", "--owner", "root"])),
        (Role::Maker, harepay.create_key(&["--role", "maker", "--owner", "maya"])),
        (Role::Approver, harepay.create_key(&["--role", "approver", "--owner", "abel"])),
        (Role::ReadOnly, harepay.create_key(&["--role", "read_only", "--owner", "rita"])),
    ];
    for (role, key) in keys {
        let client = harepay.connect(&key).await;
        let allowed = |entry: &&harepay::ops::Entry| role_may(role, entry.spec.action);
        let mut expected: Vec<String> =
            harepay::ops::registry().iter().filter(allowed).map(|entry| entry.spec.name.to_owned()).collect();
        expected.sort();
        assert_eq!(client.tool_names().await, expected, "{role:?}");
        let me = client.call("whoami", json!({})).await;
        let mut refused = 0;
        for entry in harepay::ops::registry().iter().filter(|entry| !role_may(role, entry.spec.action)) {
            let reads_keys = entry.spec.action == harepay::engine::permission::Action::ManageKeys;
            assert!(!entry.spec.is_read() || reads_keys, "every role reads the merchant's objects");
            let example: serde_json::Value = serde_json::from_str(entry.spec.examples[0]).unwrap();
            let message = client.expect_error(entry.spec.name, example, "forbidden").await;
            assert!(message.contains(role.code()), "{role:?} {}: {message}", entry.spec.name);
            // Refused reads are not audited: only write attempts are.
            refused += usize::from(!entry.spec.is_read());
        }
        let audit = client.call("list_audit_log", json!({"limit": 100})).await;
        let audited: Vec<&serde_json::Value> = audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|record| record["key_id"] == me["key_id"] && record["error_type"] == "forbidden")
            .collect();
        assert_eq!(audited.len(), refused, "{role:?}: every forbidden write is audited");
        client.close().await;
    }
}
