//! `harepay-tools demo`: the seed's quickstart, walked through the real MCP protocol. It starts
//! `harepay stdio` as a child process, connects with rmcp's client, calls the tools and prints
//! what happens, so a newcomer sees the whole loop in one command.

use std::path::Path;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::process::Command;

type Client = RunningService<RoleClient, ()>;

/// The demo lowers the NGN approval threshold to ₦5,000.00 so that maker-checker shows.
fn server_command(executable: &Path, database: &Path, secret_key: &str) -> Command {
    let mut command = Command::new(executable);
    command
        .arg("stdio")
        .env("HAREPAY_DB", database)
        .env("HAREPAY_SECRET_KEY", secret_key)
        .env("HAREPAY_TEST_AUTO_SETTLE_MS", "1000")
        .env("HAREPAY_APPROVAL_THRESHOLDS", "NGN=500000")
        .env("HAREPAY_LOG", "warn");
    command
}

async fn call(client: &Client, tool: &str, arguments: Value) -> anyhow::Result<Value> {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    let result: CallToolResult =
        client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments)).await?;
    let structured = result.structured_content.clone().unwrap_or(Value::Null);
    if result.is_error == Some(true) {
        anyhow::bail!("{tool} failed: {structured}");
    }
    Ok(structured)
}

/// A JSON value for people: strings without their quotes.
fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

fn step(number: u32, text: &str) {
    println!("\n{number}. {text}");
}

pub async fn run(executable: &Path, database: &Path) -> anyhow::Result<()> {
    println!("harepay demo: starting `harepay stdio` on {} and connecting as an MCP client.", database.display());
    let client: Client = ().serve(TokioChildProcess::new(server_command(executable, database, "sk_test_demo"))?).await?;
    let server =
        client.peer_info().and_then(|info| info.server_info.as_ref().map(|s| s.name.clone())).unwrap_or_default();
    let tools = client.list_all_tools().await?;
    println!("Connected to {server}; {} tools visible to key sk_test_demo.", tools.len());

    step(1, "whoami: which merchant, mode and role this key has");
    let me = call(&client, "whoami", json!({})).await?;
    println!(
        "   merchant {} ({}), mode {}, role {}",
        text(&me["merchant_id"]),
        text(&me["merchant_name"]),
        text(&me["mode"]),
        text(&me["role"])
    );

    step(2, "get_balance NGN, before");
    let before = call(&client, "get_balance", json!({"asset": "NGN"})).await?;
    println!("   available {}", text(&before["available"]["display"]));

    let order = format!("demo-order-{}", std::process::id());
    let payment_args = json!({
        "amount": {"amount": 1_000_000, "currency": "NGN"},
        "method": "bank_transfer",
        "rail": "rubies",
        "description": "Quickstart: a ₦10,000 bank-transfer payment",
    });
    step(3, "create_payment_intent without confirm: a preview, nothing saved");
    let preview = call(&client, "create_payment_intent", payment_args.clone()).await?;
    println!("   {}", text(&preview["message"]));

    step(4, "create_payment_intent with confirm: true and an idempotency key");
    let mut confirmed_args = payment_args.clone();
    confirmed_args["confirm"] = json!(true);
    confirmed_args["idempotency_key"] = json!(order);
    let created = call(&client, "create_payment_intent", confirmed_args.clone()).await?;
    let payment_id = text(&created["object"]["id"]);
    let action = &created["object"]["next_action"];
    println!(
        "   {} is {}: payer transfers to {} {} ({})",
        payment_id,
        text(&created["object"]["status"]),
        text(&action["bank_name"]),
        text(&action["account_number"]),
        text(&action["account_name"])
    );

    step(5, "the same call again (a network retry): replayed, no second payment");
    let replay = call(&client, "create_payment_intent", confirmed_args).await?;
    println!("   outcome {} for {}", text(&replay["outcome"]), text(&replay["object"]["id"]));

    step(6, "wait for the test-mode simulator to settle the payment");
    let mut status = String::new();
    for _ in 0..50 {
        let details = call(&client, "get_payment", json!({"id": payment_id})).await?;
        status = details["payment_intent"]["status"].as_str().unwrap_or_default().to_owned();
        if status == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("   {payment_id} is {status}");

    step(7, "list_payments");
    let list = call(&client, "list_payments", json!({"limit": 3})).await?;
    for payment in list["data"].as_array().into_iter().flatten() {
        println!(
            "   {} {} {} {}",
            text(&payment["id"]),
            text(&payment["amount"]["display"]),
            text(&payment["method"]),
            text(&payment["status"])
        );
    }

    step(8, "get_balance NGN, after: the amount less the rail fee");
    let after = call(&client, "get_balance", json!({"asset": "NGN"})).await?;
    println!("   available {} (was {})", text(&after["available"]["display"]), text(&before["available"]["display"]));

    step(9, "refund ₦2,500.00 of it (confirm + idempotency key)");
    let refund = call(
        &client,
        "refund_payment",
        json!({"id": payment_id, "amount": 250_000, "reason": "demo partial refund", "confirm": true, "idempotency_key": format!("{order}-refund")}),
    )
    .await?;
    println!("   {}", text(&refund["message"]));

    step(10, "create_payout of ₦6,000.00: at or above the ₦5,000.00 threshold, so it waits for approval");
    let payout = call(
        &client,
        "create_payout",
        json!({
            "amount": {"amount": 600_000, "currency": "NGN"},
            "rail": "rubies",
            "destination": {"kind": "bank", "account_no": "0123456789", "bank_code": "058", "account_name": "Ada Obi"},
            "confirm": true,
            "idempotency_key": format!("{order}-payout"),
        }),
    )
    .await?;
    let payout_id = text(&payout["object"]["id"]);
    println!("   {payout_id} is {}; funds reserved", text(&payout["object"]["status"]));
    let self_approval = client
        .call_tool(
            CallToolRequestParams::new("approve_payout").with_arguments(
                json!({"id": payout_id, "confirm": true, "idempotency_key": "self"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await?;
    println!(
        "   the maker tries to approve it: {}",
        text(&self_approval.structured_content.unwrap_or_default()["error"]["message"])
    );

    step(11, "a second person (key sk_test_demo_approver) approves it; the simulated rail pays it");
    let approver: Client =
        ().serve(TokioChildProcess::new(server_command(executable, database, "sk_test_demo_approver"))?).await?;
    let approved = call(
        &approver,
        "approve_payout",
        json!({"id": payout_id, "reason": "invoice checked", "confirm": true, "idempotency_key": format!("{order}-approve")}),
    )
    .await?;
    println!(
        "   approved by {}: {}",
        text(&approved["object"]["approval"]["decided_by"]),
        text(&approved["object"]["status"])
    );
    approver.cancel().await?;
    let mut payout_status = String::new();
    for _ in 0..50 {
        let current = call(&client, "get_payout", json!({"id": payout_id})).await?;
        payout_status = text(&current["status"]);
        if payout_status == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let balance = call(&client, "get_balance", json!({"asset": "NGN"})).await?;
    println!("   {payout_id} is {payout_status}; available now {}", text(&balance["available"]["display"]));

    step(12, "system_status: the ledger balances");
    let status = call(&client, "system_status", json!({})).await?;
    println!(
        "   status {}, {} ledger transactions, sound: {}",
        text(&status["status"]),
        text(&status["ledger"]["transaction_count"]),
        text(&status["ledger"]["sound"])
    );

    client.cancel().await?;
    println!(
        "\nDone. Connect your own client with mcp-config.example.json, or browse the tools with the MCP Inspector."
    );
    Ok(())
}
