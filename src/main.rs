//! The `harepay` binary: the MCP server and its operator commands.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use harepay::app::App;
use harepay::app::keys::{AdminCommand, NewApiKey, generate_secret_key, last4, sha256_hex};
use harepay::engine::payment::PaymentRules;
use harepay::engine::principal::{Mode, Role};
use harepay::engine::retry::RetryPolicy;
use harepay::mcp::{Credentials, HarepayServer, ServerOptions, Toolset};

#[derive(Parser)]
#[command(
    name = "harepay",
    version,
    about = "An MCP server with an embedded payment engine",
    arg_required_else_help = true
)]
struct Cli {
    /// The SQLite database file (default: harepay/harepay.db under your data directory).
    #[arg(long, env = "HAREPAY_DB", global = true)]
    db: Option<PathBuf>,

    #[command(flatten)]
    rules: RulesArgs,

    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Serve MCP over stdin/stdout (what Claude Desktop, Cursor and other clients start).
    Stdio(ServeArgs),
    /// Serve MCP over streamable HTTP at /mcp; each request authenticates with a bearer key.
    Http(HttpArgs),
    /// Walk the quickstart through the real MCP protocol against a fresh database.
    Demo,
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Decide payouts awaiting approval from the command line, as the approver named by the key.
    #[command(subcommand)]
    Payouts(PayoutsCommand),
    /// Check the ledger (postings sum to zero per asset, no negative merchant balance) and list
    /// scheduled steps parked after failing every try.
    Verify,
    /// Measure durable commits, confirmed payouts/s (1 and 64 submitters) and stdio round trips.
    Bench {
        /// Where the benchmark's fresh databases go (default: a new temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
    /// The generated tool catalog (tools/*.json and llms.txt).
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The API key the connected agent acts as.
    #[arg(long, env = "HAREPAY_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    #[command(flatten)]
    tools: ToolsArgs,
}

#[derive(clap::Args)]
struct HttpArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr).
    #[arg(long, env = "HAREPAY_LISTEN", default_value = "127.0.0.1:8787")]
    listen: std::net::SocketAddr,
    /// Host names accepted in the Host header, repeatable (default: localhost, 127.0.0.1, ::1).
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
    #[command(flatten)]
    tools: ToolsArgs,
}

#[derive(clap::Args)]
struct ToolsArgs {
    /// Offer only read-only tools, whatever the key may do.
    #[arg(long)]
    read_only: bool,
    /// Offer only these toolsets (comma separated): account, payments, payouts, audit.
    #[arg(long, value_delimiter = ',')]
    toolsets: Option<Vec<String>>,
    /// How writes are confirmed: "argument" (the agent passes confirm: true) or "elicit" (a
    /// human confirms each write in the client, through MCP elicitation).
    #[arg(long, env = "HAREPAY_CONFIRM", default_value = "argument")]
    confirm: String,
    /// With --confirm=elicit on protocol 2026-07-28: how long a human's answer stays usable.
    #[arg(long, env = "HAREPAY_CONFIRMATION_EXPIRY_MS", default_value_t = harepay::limits::CONFIRMATION_EXPIRY_DEFAULT_MS)]
    confirmation_expiry_ms: i64,
}

#[derive(clap::Args)]
struct RulesArgs {
    /// Test mode: the simulated rails settle a payment, or move a payout one step, this many
    /// milliseconds after it fell due ("off" to disable).
    #[arg(long, env = "HAREPAY_TEST_AUTO_SETTLE_MS", default_value = "2000", global = true)]
    test_auto_settle_ms: String,
    /// Fee overrides per rail, e.g. "card=150bps+NGN:10000,rubies=50bps".
    #[arg(long, env = "HAREPAY_FEES", global = true)]
    fees: Option<String>,
    /// FX rate overrides, e.g. "USDC/NGN=1550.25,BTC/NGN=150000000".
    #[arg(long, env = "HAREPAY_FX_RATES", global = true)]
    fx_rates: Option<String>,
    /// Payout approval thresholds in minor units, e.g. "NGN=50000000,USD=500000".
    #[arg(long, env = "HAREPAY_APPROVAL_THRESHOLDS", global = true)]
    approval_thresholds: Option<String>,
    /// The most a merchant may pay out per currency in a rolling day, all keys together, in
    /// minor units, e.g. "NGN=500000000,USD=5000000" (default: no merchant-wide limit).
    #[arg(long, env = "HAREPAY_MERCHANT_DAILY_PAYOUT_LIMITS", global = true)]
    merchant_daily_payout_limits: Option<String>,
    /// How long a payout waits for approval before it expires and its funds are released.
    #[arg(long, env = "HAREPAY_APPROVAL_EXPIRY_MS", default_value_t = harepay::limits::APPROVAL_EXPIRY_DEFAULT_MS, global = true)]
    approval_expiry_ms: i64,
    /// Retries of a failing scheduled step (expiry, simulated settlement or payout step), e.g.
    /// "attempts=8,base_ms=1000,max_ms=300000": tries before it is parked, the first wait and
    /// the longest (the wait doubles after each failure).
    #[arg(long, env = "HAREPAY_SCHEDULER_RETRY", global = true)]
    scheduler_retry: Option<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once.
    Create {
        /// admin, maker, approver or read_only.
        #[arg(long, default_value = "maker")]
        role: String,
        /// The person or service the key is for.
        #[arg(long)]
        owner: String,
        /// test or live.
        #[arg(long, default_value = "test")]
        mode: String,
        /// An existing merchant id (default: the demo merchant).
        #[arg(long, conflicts_with = "new_merchant")]
        merchant: Option<String>,
        /// Create a new merchant with this name for the key.
        #[arg(long)]
        new_merchant: Option<String>,
        /// Payout spend limits, repeatable: "NGN:max_per_payout=1000000,max_per_day=5000000" (minor units).
        #[arg(long = "limit")]
        limits: Vec<String>,
    },
    /// List keys (never the secrets).
    List,
    /// Revoke a key by id (key_…).
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum PayoutsCommand {
    /// List payouts awaiting approval.
    Pending {
        #[arg(long, env = "HAREPAY_SECRET_KEY", hide_env_values = true)]
        secret_key: String,
    },
    /// Approve a payout awaiting approval (approver or admin key; not the maker's owner).
    Approve {
        payout_id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, env = "HAREPAY_SECRET_KEY", hide_env_values = true)]
        secret_key: String,
    },
    /// Reject a payout awaiting approval; its funds are released.
    Reject {
        payout_id: String,
        #[arg(long)]
        reason: String,
        #[arg(long, env = "HAREPAY_SECRET_KEY", hide_env_values = true)]
        secret_key: String,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Rewrite tools/*.json and llms.txt from the code.
    Write {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Fail when tools/*.json or llms.txt differ from the code.
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

fn default_database_path() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("harepay").join("harepay.db")
}

impl ToolsArgs {
    fn to_options(&self) -> anyhow::Result<ServerOptions> {
        let mut toolsets = None;
        if let Some(names) = &self.toolsets {
            let mut parsed = BTreeSet::new();
            for name in names {
                parsed.insert(Toolset::parse(name).ok_or_else(|| anyhow::anyhow!("unknown toolset {name:?}"))?);
            }
            toolsets = Some(parsed);
        }
        let confirm_mode = harepay::mcp::confirmation::ConfirmMode::parse(&self.confirm)
            .ok_or_else(|| anyhow::anyhow!("--confirm must be argument or elicit"))?;
        let expiry_max_ms = harepay::limits::CONFIRMATION_EXPIRY_MAX_MS;
        if !(1..=expiry_max_ms).contains(&self.confirmation_expiry_ms) {
            anyhow::bail!("--confirmation-expiry-ms must be from 1 to {expiry_max_ms}");
        }
        Ok(ServerOptions {
            read_only: self.read_only,
            toolsets,
            confirm_mode,
            confirmation_expiry_ms: self.confirmation_expiry_ms,
        })
    }
}

impl RulesArgs {
    fn to_rules(&self) -> anyhow::Result<PaymentRules> {
        let test_auto_settle_after_ms = match self.test_auto_settle_ms.as_str() {
            "off" => None,
            text => {
                Some(text.parse().map_err(|_| anyhow::anyhow!("--test-auto-settle-ms must be milliseconds or off"))?)
            }
        };
        let mut rules = PaymentRules { test_auto_settle_after_ms, ..PaymentRules::default() };
        if let Some(fees) = &self.fees {
            rules.fees.parse_overrides(fees).map_err(|e| anyhow::anyhow!("HAREPAY_FEES: {e}"))?;
        }
        if let Some(rates) = &self.fx_rates {
            rules.fx.parse_overrides(rates).map_err(|e| anyhow::anyhow!("HAREPAY_FX_RATES: {e}"))?;
        }
        if let Some(thresholds) = &self.approval_thresholds {
            rules
                .approvals
                .parse_thresholds(thresholds)
                .map_err(|e| anyhow::anyhow!("HAREPAY_APPROVAL_THRESHOLDS: {e}"))?;
        }
        if let Some(limits) = &self.merchant_daily_payout_limits {
            rules
                .approvals
                .parse_merchant_daily_limits(limits)
                .map_err(|e| anyhow::anyhow!("HAREPAY_MERCHANT_DAILY_PAYOUT_LIMITS: {e}"))?;
        }
        if self.approval_expiry_ms < 1 {
            anyhow::bail!("--approval-expiry-ms must be at least 1");
        }
        rules.approvals.expiry_ms = self.approval_expiry_ms;
        Ok(rules)
    }
}

impl RulesArgs {
    fn to_retry_policy(&self) -> anyhow::Result<RetryPolicy> {
        let mut policy = RetryPolicy::default();
        if let Some(text) = &self.scheduler_retry {
            policy.parse_overrides(text).map_err(|e| anyhow::anyhow!("HAREPAY_SCHEDULER_RETRY: {e}"))?;
        }
        Ok(policy)
    }
}

async fn open_app(database: &std::path::Path, rules: PaymentRules) -> anyhow::Result<App> {
    let app = App::open_sqlite(database, rules)?;
    if app.bootstrap_demo_if_empty().await? {
        eprintln!(
            "harepay: new database {}: created the demo merchant with test keys sk_test_demo (maker) and sk_test_demo_approver (approver).",
            database.display()
        );
    }
    Ok(app)
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HAREPAY_LOG")
                .unwrap_or_else(|_| "harepay=info,rmcp=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("harepay: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let database = cli.db.clone().unwrap_or_else(default_database_path);
    match cli.command {
        CliCommand::Stdio(args) => {
            let options = args.tools.to_options()?;
            let app = open_app(&database, cli.rules.to_rules()?).await?;
            let secret_key = match args.secret_key {
                Some(key) => key,
                None => {
                    eprintln!(
                        "harepay: HAREPAY_SECRET_KEY is not set; acting as the demo key sk_test_demo (test mode)."
                    );
                    harepay::app::keys::DEMO_MAKER_KEY.to_owned()
                }
            };
            let principal = app.authenticate(&secret_key).await.map_err(|_| {
                anyhow::anyhow!("HAREPAY_SECRET_KEY is unknown or revoked in {}; refusing to start", database.display())
            })?;
            tracing::info!(merchant = %principal.scope.merchant_id, mode = principal.scope.mode.code(), role = principal.role.code(), "serving MCP on stdio");
            harepay::app::scheduler::spawn_scheduler(app.clone(), cli.rules.to_retry_policy()?);
            let server = HarepayServer::new(app, Credentials::Fixed(secret_key.into()), options);
            harepay::transport::stdio::serve(server).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        CliCommand::Http(args) => {
            let options = args.tools.to_options()?;
            let app = open_app(&database, cli.rules.to_rules()?).await?;
            harepay::app::scheduler::spawn_scheduler(app.clone(), cli.rules.to_retry_policy()?);
            let allowed_hosts = if args.allowed_hosts.is_empty() {
                vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()]
            } else {
                args.allowed_hosts
            };
            harepay::transport::http::serve(app, options, args.listen, allowed_hosts).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        CliCommand::Demo => {
            let database = match cli.db {
                Some(path) => path,
                None => std::env::temp_dir().join(format!("harepay-demo-{}.db", std::process::id())),
            };
            harepay::demo::run(&std::env::current_exe()?, &database).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        CliCommand::Keys(command) => {
            let app = open_app(&database, PaymentRules::default()).await?;
            run_keys(&app, command).await
        }
        CliCommand::Payouts(command) => {
            let app = open_app(&database, cli.rules.to_rules()?).await?;
            run_payouts(&app, command).await
        }
        CliCommand::Bench { work_dir } => {
            let work_dir =
                work_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("harepay-bench-{}", std::process::id())));
            std::fs::create_dir_all(&work_dir)?;
            harepay::bench::run(&work_dir, &std::env::current_exe()?).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        CliCommand::Verify => {
            let app = open_app(&database, PaymentRules::default()).await?;
            let report = app.verify_ledger().await?;
            println!(
                "{} ledger transactions, {} postings in {}",
                report.transaction_count,
                report.posting_count,
                database.display()
            );
            for problem in report.problems() {
                println!("PROBLEM: {problem}");
            }
            print_parked_steps(&app).await?;
            if report.is_sound() {
                println!(
                    "ok: every transaction and asset sums to zero, every balance equals its postings, \
                     no merchant balance is negative and every amount is an integer"
                );
                Ok(std::process::ExitCode::SUCCESS)
            } else {
                Ok(std::process::ExitCode::from(1))
            }
        }
        CliCommand::Catalog(CatalogCommand::Write { root }) => {
            harepay::mcp::catalog::write(&root)?;
            println!("wrote tools/ and llms.txt under {}", root.display());
            Ok(std::process::ExitCode::SUCCESS)
        }
        CliCommand::Catalog(CatalogCommand::Check { root }) => {
            let problems = harepay::mcp::catalog::check(&root);
            for problem in &problems {
                println!("{problem}");
            }
            Ok(if problems.is_empty() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
        }
    }
}

/// Scheduled steps that failed every try wait for an operator; they are not a ledger fault, so
/// they do not change the exit code.
async fn print_parked_steps(app: &App) -> anyhow::Result<()> {
    let shown = harepay::limits::SCHEDULER_PARKED_STEPS_LISTED_MAX;
    let (parked, count) = app.parked_steps(shown).await?;
    for step in &parked {
        println!(
            "PARKED {} of {} ({} {}) after {} tries: {}",
            step.step.code(),
            step.object_id,
            step.scope.merchant_id,
            step.scope.mode.code(),
            step.attempts,
            step.last_error
        );
    }
    if count > i64::from(shown) {
        println!("… and {} more parked steps", count - i64::from(shown));
    }
    Ok(())
}

async fn run_payouts(app: &App, command: PayoutsCommand) -> anyhow::Result<std::process::ExitCode> {
    use harepay::app::commands::{Command, IdempotencyInput, ToolWrite, WriteOutcome};
    let (secret_key, payout_id, command, tool) = match command {
        PayoutsCommand::Pending { secret_key } => {
            let principal =
                app.authenticate(&secret_key).await.map_err(|_| anyhow::anyhow!("the key is unknown or revoked"))?;
            let filter =
                harepay::store::PayoutFilter { status: Some(harepay::engine::payout::PayoutStatus::PendingApproval) };
            let page = harepay::store::PageRequest { limit: 100, starting_after: None };
            for payout in app.list_payouts(&principal, filter, page).await?.items {
                println!(
                    "{}  {}  by {}  {}",
                    payout.id,
                    payout.amount.display(),
                    payout.created_by_owner,
                    payout.destination.describe()
                );
            }
            return Ok(std::process::ExitCode::SUCCESS);
        }
        PayoutsCommand::Approve { payout_id, reason, secret_key } => {
            (secret_key, payout_id.clone(), Command::ApprovePayout { payout_id, reason }, "approve_payout")
        }
        PayoutsCommand::Reject { payout_id, reason, secret_key } => {
            (secret_key, payout_id.clone(), Command::RejectPayout { payout_id, reason }, "reject_payout")
        }
    };
    let actor = app.authenticate(&secret_key).await.map_err(|_| anyhow::anyhow!("the key is unknown or revoked"))?;
    // One decision per payout and person: a repeated command replays instead of deciding twice.
    let idempotency = IdempotencyInput {
        key: format!("cli:{tool}:{payout_id}:{}", actor.key_id),
        request_sha256_hex: sha256_hex(&format!("{tool}\n{payout_id}")),
    };
    let write = ToolWrite { actor, tool, confirm: true, idempotency: Some(idempotency), command };
    match app.execute(write).await {
        Ok(WriteOutcome::Executed { response_json } | WriteOutcome::Replayed { response_json }) => {
            let payout: harepay::views::PayoutView = serde_json::from_str(&response_json)?;
            println!("{} is {} ({})", payout.id, payout.status, payout.amount.display);
            Ok(std::process::ExitCode::SUCCESS)
        }
        Ok(other) => anyhow::bail!("unexpected outcome {other:?}"),
        Err(error) => {
            eprintln!("harepay: {} ({})", error, error.code());
            Ok(std::process::ExitCode::from(1))
        }
    }
}

async fn run_keys(app: &App, command: KeysCommand) -> anyhow::Result<std::process::ExitCode> {
    match command {
        KeysCommand::Create { role, owner, mode, merchant, new_merchant, limits } => {
            let spend_limits = limits
                .iter()
                .map(|text| harepay::app::keys::parse_spend_limit(text).map_err(|e| anyhow::anyhow!("--limit: {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("unknown role {role:?}: admin, maker, approver or read_only"))?;
            let mode = Mode::parse(&mode).ok_or_else(|| anyhow::anyhow!("unknown mode {mode:?}: test or live"))?;
            if owner.trim().is_empty() {
                anyhow::bail!("--owner must name the person or service the key is for");
            }
            let secret = generate_secret_key(mode);
            let merchant_id = match (&merchant, &new_merchant) {
                (None, None) => Some(harepay::app::keys::DEMO_MERCHANT_ID.to_owned()),
                _ => merchant,
            };
            let detail = app
                .admin(AdminCommand::CreateKey(NewApiKey {
                    merchant_id,
                    new_merchant_name: new_merchant,
                    mode,
                    role,
                    owner,
                    key_sha256_hex: sha256_hex(&secret),
                    key_last4: last4(&secret),
                    spend_limits,
                }))
                .await?;
            let (key_id, merchant_id) = detail.split_once(' ').unwrap_or((&detail, ""));
            println!("{secret}");
            eprintln!(
                "created {key_id} ({} {} key for merchant {merchant_id}). The secret above is shown once; store it now.",
                mode.code(),
                role.code()
            );
        }
        KeysCommand::List => {
            for key in app.list_api_keys().await? {
                let state = match key.revoked_at_ms {
                    Some(_) => "revoked",
                    None => "active",
                };
                println!(
                    "{}  {}  {}  {:<9}  owner={}  …{}  {}",
                    key.id,
                    key.merchant_id,
                    key.mode.code(),
                    key.role.code(),
                    key.owner,
                    key.key_last4,
                    state
                );
            }
        }
        KeysCommand::Revoke { key_id } => {
            let detail = app.admin(AdminCommand::RevokeKey { key_id }).await?;
            println!("{detail}");
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
