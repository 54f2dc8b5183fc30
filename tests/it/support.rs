//! Test harness: a fresh database per test, the real binary, a real MCP client.

use std::path::PathBuf;
use std::process::Output;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::process::Command;

pub const MAKER_KEY: &str = "sk_test_demo";
pub const APPROVER_KEY: &str = "sk_test_demo_approver";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_harepay")
}

/// A harepay installation: one database file in its own temporary directory.
pub struct Harepay {
    _dir: tempfile::TempDir,
    pub db: PathBuf,
    /// On PostgreSQL, the installation's database, dropped with it.
    _database: Option<crate::backend::TestDatabase>,
}

impl Harepay {
    pub fn new() -> Harepay {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db, database) = crate::backend::installation_database(dir.path(), "harepay.db");
        Harepay { _dir: dir, db, _database: database }
    }

    /// An installation on an existing database (`--db`): a file path or a `postgres://` URL.
    pub fn on_database(db: PathBuf) -> Harepay {
        Harepay { _dir: tempfile::tempdir().expect("temp dir"), db, _database: None }
    }

    /// Runs a command-line subcommand against this database.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_env(args, &[])
    }

    /// Runs a subcommand with extra environment, e.g. the key of `harepay payouts`.
    pub fn cli_env(&self, args: &[&str], environment: &[(&str, &str)]) -> Output {
        std::process::Command::new(binary())
            .args(args)
            .env("HAREPAY_DB", &self.db)
            .env("HAREPAY_LOG", "warn")
            .env_remove("HAREPAY_SECRET_KEY")
            .envs(environment.iter().copied())
            .output()
            .expect("run harepay")
    }

    /// Creates a key with the CLI and returns its secret: for the demo merchant (made first if
    /// the database has none) unless `args` name a merchant.
    pub fn create_key(&self, args: &[&str]) -> String {
        let mut full = vec!["keys", "create"];
        if !args.iter().any(|arg| arg.starts_with("--merchant") || arg.starts_with("--new-merchant")) {
            full.push("--demo");
        }
        full.extend_from_slice(args);
        let output = self.cli(&full);
        assert!(output.status.success(), "keys create failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
    }

    pub fn command(&self, key: &str, extra_args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command
            .arg("stdio")
            .args(extra_args)
            .env("HAREPAY_DB", &self.db)
            .env("HAREPAY_SECRET_KEY", key)
            .env("HAREPAY_TEST_AUTO_SETTLE_MS", "off")
            // Tests reach every tool; the default toolsets have their own tests (access.rs).
            .env("HAREPAY_TOOLSETS", "all")
            .env("HAREPAY_LOG", "warn");
        command
    }

    pub async fn connect(&self, key: &str) -> Client {
        self.connect_with(key, &[]).await
    }

    pub async fn connect_with(&self, key: &str, extra_args: &[&str]) -> Client {
        self.connect_command(self.command(key, extra_args)).await
    }

    /// Connects with extra environment, e.g. approval thresholds for this test.
    pub async fn connect_env(&self, key: &str, environment: &[(&str, &str)]) -> Client {
        let mut command = self.command(key, &[]);
        for (name, value) in environment {
            command.env(name, value);
        }
        self.connect_command(command).await
    }

    pub async fn connect_command(&self, command: Command) -> Client {
        let transport = TokioChildProcess::new(command).expect("spawn harepay stdio");
        let service = ().serve(transport).await.expect("MCP handshake");
        Client { service }
    }
}

pub struct Client {
    pub service: RunningService<RoleClient, ()>,
}

impl Client {
    pub async fn call_raw(&self, tool: &str, arguments: Value) -> Result<CallToolResult, ServiceError> {
        let arguments = arguments.as_object().cloned().expect("arguments are an object");
        self.service.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments)).await
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub async fn call(&self, tool: &str, arguments: Value) -> Value {
        let result = self.call_raw(tool, arguments.clone()).await.unwrap_or_else(|e| panic!("{tool} {arguments}: {e}"));
        let structured = result.structured_content.clone().expect("every result has structuredContent");
        assert_ne!(result.is_error, Some(true), "{tool} {arguments} failed: {structured}");
        structured
    }

    /// Calls a tool that must fail with a tool error; returns `error` ({type, message, param}).
    pub async fn call_error(&self, tool: &str, arguments: Value) -> Value {
        let result = self.call_raw(tool, arguments.clone()).await.unwrap_or_else(|e| panic!("{tool} {arguments}: {e}"));
        let structured = result.structured_content.clone().expect("errors have structuredContent");
        assert_eq!(result.is_error, Some(true), "{tool} {arguments} should fail, got {structured}");
        let error = structured["error"].clone();
        assert!(error["type"].is_string() && error["message"].is_string(), "error envelope: {structured}");
        error
    }

    /// Expects a tool error of `error_type`; returns its message.
    pub async fn expect_error(&self, tool: &str, arguments: Value, error_type: &str) -> String {
        let error = self.call_error(tool, arguments.clone()).await;
        assert_eq!(error["type"], error_type, "{tool} {arguments}: {error}");
        error["message"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .service
            .list_all_tools()
            .await
            .expect("tools/list")
            .into_iter()
            .map(|tool| tool.name.to_string())
            .collect();
        names.sort();
        names
    }

    /// Available NGN (or another asset) in minor units.
    pub async fn available(&self, asset: &str) -> i64 {
        let balance = self.call("get_balance", json!({"asset": asset})).await;
        balance["available"]["amount"].as_i64().expect("integer amount")
    }

    /// Creates a confirmed NGN bank-transfer payment and returns its id.
    pub async fn create_payment(&self, amount_minor: i64, idempotency_key: &str) -> String {
        let created = self
            .call(
                "create_payment_intent",
                json!({
                    "amount": {"amount": amount_minor, "currency": "NGN"},
                    "method": "bank_transfer",
                    "rail": "rubies",
                    "confirm": true,
                    "idempotency_key": idempotency_key,
                }),
            )
            .await;
        assert_eq!(created["outcome"], "executed", "{created}");
        created["object"]["id"].as_str().expect("id").to_owned()
    }

    /// Creates a payment and settles it with the simulator tool.
    pub async fn create_succeeded_payment(&self, amount_minor: i64, idempotency_key: &str) -> String {
        let id = self.create_payment(amount_minor, idempotency_key).await;
        let settled = self
            .call(
                "simulate_payment",
                json!({"id": id, "outcome": "succeeded", "confirm": true, "idempotency_key": format!("{idempotency_key}-settle")}),
            )
            .await;
        assert_eq!(settled["object"]["status"], "succeeded", "{settled}");
        id
    }

    /// Funds the available NGN balance with exactly `net_minor`, through a settled rubies payment
    /// (0.5% fee, rounded up).
    pub async fn fund_ngn(&self, net_minor: i64, idempotency_key: &str) {
        // A gross whose net after the engine's own rubies fee is exactly net_minor.
        let fees = harepay::engine::pricing::FeeSchedule::default();
        let ngn = harepay::engine::money::Asset::lookup("NGN").unwrap();
        let net_of = |gross: i64| gross - fees.fee_minor(harepay::engine::rail::Rail::Rubies, ngn, gross);
        let mut gross = net_minor + net_minor / 200;
        while net_of(gross) > net_minor {
            gross -= 1;
        }
        while net_of(gross) < net_minor {
            gross += 1;
        }
        assert_eq!(net_of(gross), net_minor, "no gross nets exactly {net_minor}");
        let before = self.available("NGN").await;
        self.create_succeeded_payment(gross, idempotency_key).await;
        assert_eq!(self.available("NGN").await, before + net_minor);
    }

    pub async fn balance(&self, asset: &str) -> (i64, i64, i64) {
        let balance = self.call("get_balance", json!({"asset": asset})).await;
        let amount = |account: &str| balance[account]["amount"].as_i64().unwrap();
        (amount("available"), amount("pending"), amount("reserved"))
    }

    pub async fn payout(&self, amount_minor: i64, idempotency_key: &str) -> serde_json::Value {
        self.call("create_payout", payout_arguments(amount_minor, idempotency_key)).await
    }

    pub async fn payment_count(&self) -> usize {
        let list = self.call("list_payments", json!({"limit": 100})).await;
        list["data"].as_array().expect("data").len()
    }

    pub async fn event_count(&self) -> usize {
        let list = self.call("list_events", json!({"limit": 100})).await;
        list["data"].as_array().expect("data").len()
    }

    pub async fn close(self) {
        self.service.cancel().await.expect("close the client");
    }
}

/// A confirmed NGN bank payout's arguments.
pub fn payout_arguments(amount_minor: i64, idempotency_key: &str) -> Value {
    json!({
        "amount": {"amount": amount_minor, "currency": "NGN"},
        "rail": "rubies",
        "destination": {"kind": "bank", "account_no": "0123456789", "bank_code": "058", "account_name": "Ada Obi"},
        "confirm": true,
        "idempotency_key": idempotency_key,
    })
}

/// How many events of `event_type` `scope` has, read page by page through the store (on either
/// backend).
pub fn count_events(
    read: &dyn harepay::store::StoreRead,
    scope: &harepay::engine::principal::Scope,
    event_type: &str,
) -> usize {
    let filter = harepay::store::EventFilter { event_type: Some(event_type.to_owned()), object_id: None };
    let mut page = harepay::store::PageRequest { limit: 100, starting_after: None };
    let mut count = 0;
    loop {
        let events = read.list_events(scope, &filter, &page).unwrap();
        count += events.items.len();
        match events.items.last() {
            Some(last) if events.has_more => page.starting_after = Some(last.id.clone()),
            _ => return count,
        }
    }
}
