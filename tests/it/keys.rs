//! Key lifecycle through the real binary: expiry mid-session on stdio and HTTP, the 25-key cap
//! (CLI and tools), the creation rate of keys made through tools counted across two server
//! processes and a restart, revocation at the next call, the owner rules and role checks of the
//! key tools, garbled lifetimes, and secrets that no list, replay, audit record or database page
//! holds.

use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::ClientLifecycleMode;
use serde_json::{Value, json};

use crate::http::{HttpServer, call, stateless};
use crate::support::{Client, Harepay};

/// Long enough that a debug build on a loaded machine starts and answers once; short enough
/// that the test waits little.
const SHORT_LIFETIME: &str = "3s";
const PATIENCE: Duration = Duration::from_secs(30);

fn admin_key(harepay: &Harepay, owner: &str) -> String {
    harepay.create_key(&["--role", "admin", "--owner", owner])
}

/// Calls `create_key` as `client` with `arguments` plus `confirm: true`.
async fn create_key(client: &Client, arguments: Value) -> Value {
    let mut arguments = arguments;
    arguments["confirm"] = json!(true);
    client.call("create_key", arguments).await["object"].clone()
}

async fn poll_until_error(client: &Client, tool: &str, error_type: &str) -> Value {
    let started = Instant::now();
    loop {
        let result = client.call_raw(tool, json!({})).await.expect("a tool result");
        if result.is_error == Some(true) {
            let error = result.structured_content.expect("structured error")["error"].clone();
            assert_eq!(error["type"], error_type, "{error}");
            return error;
        }
        assert!(started.elapsed() < PATIENCE, "{tool} still works after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_key_expiring_mid_session_is_refused_with_key_expired_on_stdio_and_over_http() {
    let harepay = Harepay::new();
    let server = HttpServer::start(&harepay);
    let key = harepay.create_key(&["--owner", "short-lived", "--expires-in", SHORT_LIFETIME]);
    let stdio = harepay.connect(&key).await;
    let session = server.connect(&key, ClientLifecycleMode::Initialize).await;

    // Both work while the key lives, and whoami says when it ends.
    let me = stdio.call("whoami", json!({})).await;
    let expires_at_ms = me["expires_at_ms"].as_i64().expect("whoami shows the expiry");
    let (is_error, over_http) = call(&session, "whoami", json!({})).await;
    assert!(!is_error, "{over_http}");
    assert_eq!(over_http["expires_at_ms"], expires_at_ms);

    // The same stdio session, from its expiry on: key_expired, distinct from an unknown key.
    let error = poll_until_error(&stdio, "whoami", "key_expired").await;
    assert!(error["message"].as_str().unwrap().contains("expired"), "{error}");
    stdio.expect_error("get_balance", json!({"asset": "NGN"}), "key_expired").await;

    // The open HTTP session is cut off at its next request, and the 401 says why.
    let refused = session.call_tool(CallToolRequestParams::new("whoami")).await;
    assert!(refused.is_err(), "an expired key was served over HTTP: {refused:?}");
    let response = reqwest::Client::new()
        .post(&server.url)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "key_expired", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");

    // A stdio server does not start on it, and says why.
    let mut command = harepay.command(&key, &[]);
    let output = command.stdin(std::process::Stdio::null()).output().await.unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("expired"), "{output:?}");
    stdio.close().await;
}

#[tokio::test]
async fn the_26th_active_key_is_refused_and_revoked_or_expired_keys_do_not_count() {
    let harepay = Harepay::new();
    let admin = admin_key(&harepay, "root");
    // The demo merchant's two keys and the admin: 3 active. Fill up to 25 with the CLI.
    let mut secrets = Vec::new();
    for index in 0..22 {
        secrets.push(harepay.create_key(&["--owner", &format!("clerk-{index}")]));
    }
    let refused = harepay.cli(&["keys", "create", "--owner", "one-too-many"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("max_keys_reached") && stderr.contains("25"), "{stderr}");

    // Through the tool too (the cap is checked before anything is written).
    let client = harepay.connect(&admin).await;
    let message = client
        .expect_error(
            "create_key",
            json!({"role": "maker", "owner": "agent-made", "confirm": true}),
            "max_keys_reached",
        )
        .await;
    assert!(message.contains("25"), "{message}");

    // A revoked key frees its place.
    let listed = client.call("list_keys", json!({"limit": 100})).await;
    let clerk = listed["data"].as_array().unwrap().iter().find(|key| key["owner"] == "clerk-0").unwrap().clone();
    client.call("revoke_key", json!({"id": clerk["id"], "confirm": true})).await;
    let expiring = harepay.create_key(&["--owner", "temp", "--expires-in", "5s"]);
    assert!(!harepay.cli(&["keys", "create", "--owner", "still-full"]).status.success());

    // An expired key frees its place once it has expired.
    let started = Instant::now();
    loop {
        if harepay.cli(&["keys", "create", "--owner", "after-expiry"]).status.success() {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "an expired key still counts");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(!expiring.is_empty());
    let listed = client.call("list_keys", json!({"limit": 100})).await;
    let statuses: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|key| key["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.len(), 27);
    assert_eq!(statuses.iter().filter(|status| **status == "active").count(), 25, "{statuses:?}");
    assert!(statuses.contains(&"revoked") && statuses.contains(&"expired"), "{statuses:?}");
    client.close().await;
}

#[tokio::test]
async fn an_agent_minting_keys_in_a_loop_is_refused_at_the_fourth_across_two_servers_and_a_restart() {
    let harepay = Harepay::new();
    let admin = admin_key(&harepay, "root");
    let server = HttpServer::start(&harepay);
    let over_http = server.connect(&admin, stateless()).await;
    let stdio = harepay.connect(&admin).await;

    let first = create_key(&stdio, json!({"role": "read_only", "owner": "bot-1"})).await;
    assert!(first["secret"].as_str().unwrap().starts_with("sk_test_"), "{first}");
    // Revoking a key does not give its creation back.
    stdio.call("revoke_key", json!({"id": first["id"], "confirm": true})).await;
    create_key(&stdio, json!({"role": "read_only", "owner": "bot-2"})).await;
    let (is_error, third) =
        call(&over_http, "create_key", json!({"role": "maker", "owner": "bot-3", "confirm": true})).await;
    assert!(!is_error, "{third}");

    // The fourth within ten minutes, from either process: refused, with how long to wait.
    let loop_arguments = json!({"role": "admin", "owner": "bot-4", "confirm": true});
    let error = stdio.call_error("create_key", loop_arguments.clone()).await;
    assert_eq!(error["type"], "key_creation_rate_exceeded", "{error}");
    let retry_after_ms = error["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!((1..=10 * 60 * 1000).contains(&retry_after_ms), "{error}");
    let (is_error, refused) = call(&over_http, "create_key", loop_arguments.clone()).await;
    assert!(is_error);
    assert_eq!(refused["error"]["type"], "key_creation_rate_exceeded", "{refused}");

    // A flood changes nothing, and neither does a restart: the count is in the database.
    for _ in 0..5 {
        stdio.expect_error("create_key", loop_arguments.clone(), "key_creation_rate_exceeded").await;
    }
    stdio.close().await;
    let restarted = harepay.connect(&admin).await;
    restarted.expect_error("create_key", loop_arguments.clone(), "key_creation_rate_exceeded").await;
    let listed = restarted.call("list_keys", json!({"limit": 100})).await;
    let made_by_tools =
        listed["data"].as_array().unwrap().iter().filter(|key| key["created_by_key_id"].is_string()).count();
    assert_eq!(made_by_tools, 3, "{listed}");
    // Each refusal is in the audit log.
    let audit = restarted.call("list_audit_log", json!({"limit": 5})).await;
    assert_eq!(audit["data"][0]["error_type"], "key_creation_rate_exceeded", "{audit}");

    // The operator on the machine is bounded by the cap only.
    harepay.create_key(&["--owner", "operator-made"]);
    restarted.close().await;
    over_http.cancel().await.unwrap();
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_its_next_call_on_both_transports() {
    let harepay = Harepay::new();
    let admin = admin_key(&harepay, "root");
    let server = HttpServer::start(&harepay);
    let client = harepay.connect(&admin).await;
    let minted = create_key(&client, json!({"role": "maker", "owner": "payments-bot", "expires_in": "30d"})).await;
    let secret = minted["secret"].as_str().unwrap().to_owned();
    assert_eq!(minted["status"], "active");
    assert!(minted["expires_at_ms"].is_i64(), "{minted}");

    let stdio = harepay.connect(&secret).await;
    let session = server.connect(&secret, ClientLifecycleMode::Initialize).await;
    let me = stdio.call("whoami", json!({})).await;
    assert_eq!((me["owner"].as_str(), me["role"].as_str()), (Some("payments-bot"), Some("maker")));
    assert!(!call(&session, "whoami", json!({})).await.0);

    let revoked = client.call("revoke_key", json!({"id": minted["id"], "confirm": true})).await;
    assert_eq!(revoked["object"]["status"], "revoked", "{revoked}");
    stdio.expect_error("whoami", json!({}), "authentication_failed").await;
    assert!(session.call_tool(CallToolRequestParams::new("whoami")).await.is_err());
    // Revoking twice is a clear refusal; another merchant's or an unknown key is not_found.
    client.expect_error("revoke_key", json!({"id": minted["id"], "confirm": true}), "invalid_state").await;
    client.expect_error("revoke_key", json!({"id": "key_unknown", "confirm": true}), "not_found").await;
    let other_merchant = harepay.create_key(&["--role", "admin", "--owner", "elsewhere", "--new-merchant", "Other"]);
    let other = harepay.connect(&other_merchant).await;
    other.expect_error("revoke_key", json!({"id": me["key_id"], "confirm": true}), "not_found").await;
    let others = other.call("list_keys", json!({})).await;
    assert_eq!(others["data"].as_array().unwrap().len(), 1, "one merchant's keys only: {others}");
    other.close().await;
    stdio.close().await;
    client.close().await;
}

#[tokio::test]
async fn look_alike_owners_via_the_tool_are_refused_and_create_nothing() {
    let harepay = Harepay::new();
    let admin = admin_key(&harepay, "root");
    let client = harepay.connect(&admin).await;
    for owner in [
        "\u{0430}lice",
        "ali\u{200B}ce",
        "alice\u{202E}",
        "ｓｙｓｔｅｍ",
        "operator",
        "ali☃ce",
        "   ",
        "demo\u{4E00}maker",
    ] {
        let arguments = json!({"role": "approver", "owner": owner, "confirm": true});
        let error = client.call_error("create_key", arguments).await;
        assert_eq!(
            (error["type"].as_str(), error["param"].as_str()),
            (Some("invalid_request"), Some("owner")),
            "{owner:?}: {error}"
        );
    }
    let long_owner = "a".repeat(5_000);
    client
        .expect_error("create_key", json!({"role": "maker", "owner": long_owner, "confirm": true}), "invalid_request")
        .await;
    let listed = client.call("list_keys", json!({"limit": 100})).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3, "nothing was created: {listed}");
    client.close().await;
}

#[tokio::test]
async fn a_key_minted_for_another_name_is_not_a_second_person_for_approvals() {
    let harepay = Harepay::new();
    let admin = admin_key(&harepay, "root");
    let client = harepay.connect_env(&admin, &[("HAREPAY_APPROVAL_THRESHOLDS", "NGN=100000")]).await;
    client.fund_ngn(1_000_000, "fund").await;
    let payout = client.payout(200_000, "big-payout").await;
    assert_eq!(payout["object"]["status"], "pending_approval", "{payout}");
    let minted = create_key(&client, json!({"role": "approver", "owner": "bob"})).await;
    let bob = harepay.connect(minted["secret"].as_str().unwrap()).await;
    let approval = json!({"id": payout["object"]["id"], "confirm": true, "idempotency_key": "approve"});
    let message = bob.expect_error("approve_payout", approval.clone(), "forbidden").await;
    assert!(message.contains("self-approval") && message.contains("made by root"), "{message}");
    bob.close().await;

    // The other way round: a payout made through a minted maker key is root's to answer for.
    let minted_maker = create_key(&client, json!({"role": "maker", "owner": "carol"})).await;
    let carol = harepay
        .connect_env(minted_maker["secret"].as_str().unwrap(), &[("HAREPAY_APPROVAL_THRESHOLDS", "NGN=100000")])
        .await;
    let carols = carol.payout(150_000, "carol-payout").await;
    assert_eq!(carols["object"]["created_by"], "root", "{carols}");
    let approve_carols = json!({"id": carols["object"]["id"], "confirm": true, "idempotency_key": "approve-carol"});
    client.expect_error("approve_payout", approve_carols, "forbidden").await;
    carol.close().await;

    // A checker the operator made is a second person.
    let checker = harepay.create_key(&["--role", "approver", "--owner", "dana"]);
    let dana = harepay.connect(&checker).await;
    let approved = dana.call("approve_payout", approval).await;
    assert_eq!(approved["object"]["status"], "processing", "{approved}");
    dana.close().await;
    client.close().await;
}

#[tokio::test]
async fn maker_approver_and_read_only_keys_cannot_manage_keys() {
    let harepay = Harepay::new();
    for role in ["maker", "approver", "read_only"] {
        let key = harepay.create_key(&["--role", role, "--owner", &format!("{role}-person")]);
        let client = harepay.connect(&key).await;
        let names = client.tool_names().await;
        assert!(!names.iter().any(|name| name.ends_with("_key") || name == "list_keys"), "{role}: {names:?}");
        let message = client
            .expect_error("create_key", json!({"role": "admin", "owner": "escalated", "confirm": true}), "forbidden")
            .await;
        assert!(message.contains("admin"), "{message}");
        client.expect_error("list_keys", json!({}), "forbidden").await;
        client.expect_error("revoke_key", json!({"id": "key_x", "confirm": true}), "forbidden").await;
        client.close().await;
    }
    let listed = harepay.cli(&["keys", "list"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("escalated"));
}

#[tokio::test]
async fn oversized_and_garbled_lifetimes_are_refused_on_the_tool_and_the_command_line() {
    let harepay = Harepay::new();
    let admin = admin_key(&harepay, "root");
    let client = harepay.connect(&admin).await;
    let garbled_durations =
        ["", "0s", "-5s", "1.5h", "5 s", "731d", "1y", "5", "９０s", "99999999999999d", "9223372036854775807s"];
    for expires_in in garbled_durations.iter().copied().chain([&*"9".repeat(5_000)]) {
        let arguments = json!({"role": "maker", "owner": "timed", "expires_in": expires_in, "confirm": true});
        let error = client.call_error("create_key", arguments).await;
        assert_eq!(error["type"], "invalid_request", "{expires_in:?}: {error}");
        assert_eq!(error["param"], "expires_in", "{expires_in:?}: {error}");
        assert!(error["message"].as_str().unwrap().chars().count() <= 500);
    }
    for expires_at in ["tomorrow", "2020-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2030-01-01", "2030-13-01T00:00:00Z"]
    {
        let arguments = json!({"role": "maker", "owner": "timed", "expires_at": expires_at, "confirm": true});
        let error = client.call_error("create_key", arguments).await;
        assert_eq!(
            (error["type"].as_str(), error["param"].as_str()),
            (Some("invalid_request"), Some("expires_at")),
            "{expires_at:?}: {error}"
        );
    }
    let both = json!({"role": "maker", "owner": "timed", "expires_in": "1h", "expires_at": "2030-01-01T00:00:00Z", "confirm": true});
    client.expect_error("create_key", both, "invalid_request").await;
    for arguments in [
        ["--expires-in", "0s"],
        ["--expires-in", "1y"],
        ["--expires-in", "3650d"],
        ["--expires-at", "2000-01-01T00:00:00Z"],
        ["--expires-at", "next week"],
    ] {
        let output = harepay.cli(&[&["keys", "create", "--owner", "timed"][..], &arguments].concat());
        assert!(!output.status.success(), "{arguments:?} was accepted");
        assert!(String::from_utf8_lossy(&output.stderr).contains("expir"), "{output:?}");
    }
    let listed = client.call("list_keys", json!({"limit": 100})).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3, "nothing was created: {listed}");
    client.close().await;
}

#[tokio::test]
async fn a_secret_is_shown_once_and_held_by_no_list_replay_audit_record_or_database_page() {
    let harepay = Harepay::new();
    let admin = admin_key(&harepay, "root");
    let client = harepay.connect(&admin).await;
    let preview = client.call("create_key", json!({"role": "maker", "owner": "preview-only"})).await;
    assert_eq!(preview["outcome"], "preview");
    assert!(preview["object"].get("secret").is_none() && preview["object"].get("id").is_none(), "{preview}");

    let arguments = json!({"role": "maker", "owner": "once", "confirm": true, "idempotency_key": "mint-1"});
    let created = client.call("create_key", arguments.clone()).await;
    let secret = created["object"]["secret"].as_str().unwrap().to_owned();
    let last4 = &secret[secret.len() - 4..];
    assert_eq!(created["object"]["last4"], last4);
    let replayed = client.call("create_key", arguments).await;
    assert_eq!(replayed["outcome"], "replayed");
    assert_eq!(replayed["object"]["id"], created["object"]["id"]);
    assert!(replayed["object"].get("secret").is_none(), "a replay shows no secret: {replayed}");

    let hash = harepay::app::keys::sha256_hex(&secret);
    let admin_hash = harepay::app::keys::sha256_hex(&admin);
    let listed = client.call("list_keys", json!({"limit": 100})).await.to_string();
    let audit = client.call("list_audit_log", json!({"limit": 100})).await.to_string();
    for text in [&listed, &audit] {
        for forbidden in [secret.as_str(), &hash, &admin, &admin_hash, "sk_test_"] {
            assert!(!text.contains(forbidden), "{forbidden} shown in {text}");
        }
    }
    assert!(listed.contains(last4));
    client.close().await;
    // Not in the database (its file or write-ahead log) either: only the hash is stored.
    for bytes in crate::backend::stored_bytes(&harepay.db) {
        let found = bytes.windows(secret.len()).any(|window| window == secret.as_bytes());
        assert!(!found, "the secret is in the database");
    }
}
