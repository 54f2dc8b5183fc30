//! The `harepay` binary: the MCP server and its operator commands.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use harepay::app::App;
use harepay::app::keys::{
    AdminCommand, DEMO_APPROVER_KEY, DEMO_MAKER_KEY, NewApiKey, generate_secret_key, last4, sha256_hex,
};
use harepay::app::scheduler::IdempotencyRetention;
use harepay::engine::principal::{Mode, Role};
use harepay::engine::retry::RetryPolicy;
use harepay::engine::rules::PaymentRules;
use harepay::mcp::{Credentials, HarepayServer, ServerOptions};
use harepay::ops::{Toolset, Visibility};
use harepay::rate_limit::RateLimitSetting;
use harepay::store::Database;
use harepay::transport::stdio::{HintKey, connect_hint};

mod webhooks_cli;

#[derive(Parser)]
#[command(
    name = "harepay",
    version,
    about = "An MCP server with an embedded payment engine",
    arg_required_else_help = true
)]
struct Cli {
    /// The SQLite database file (default: harepay/harepay.db under your data directory), or a
    /// PostgreSQL URL (`postgres://user:password@host:5432/harepay`) for several servers sharing
    /// one database.
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
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Decide payouts awaiting approval from the command line, as the approver named by the key.
    #[command(subcommand)]
    Payouts(PayoutsCommand),
    /// Check the ledger (postings sum to zero per asset, no negative merchant balance) and list
    /// scheduled steps parked after failing every try.
    Verify,
    /// The generated tool catalog (tools/*.json, llms.txt and docs/guide.md).
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Webhook signatures: `verify` checks one as a receiver would.
    #[command(subcommand)]
    Webhooks(webhooks_cli::WebhooksCommand),
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    secret_key: SecretKeyArgs,
    #[command(flatten)]
    tools: ToolsArgs,
    #[command(flatten)]
    webhooks: webhooks_cli::WebhookPolicyArgs,
}

/// Where the API key comes from: the environment or a file, never the command line, where every
/// user of the machine can read it in the process list.
#[derive(clap::Args)]
struct SecretKeyArgs {
    /// A file holding the API key, e.g. one only you can read (chmod 600). Without it the key is
    /// read from HAREPAY_SECRET_KEY.
    #[arg(long, env = "HAREPAY_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// Refused, with the reason: see `SecretKeyArgs::secret_key`.
    #[arg(long = "secret-key", hide = true, value_name = "KEY")]
    refused_secret_key: Option<String>,
}

#[derive(clap::Args)]
struct HttpArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr).
    #[arg(long, env = "HAREPAY_LISTEN", default_value = "127.0.0.1:8787")]
    listen: std::net::SocketAddr,
    /// Host names accepted in the Host header, repeatable (default: localhost, 127.0.0.1, ::1).
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
    /// Browser origins accepted in the Origin header, repeatable, e.g. https://app.example.com:443
    /// or http://localhost:* (default: loopback on any port). Requests without Origin (clients
    /// that are not browsers) are always accepted.
    #[arg(long = "allowed-origin", env = "HAREPAY_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Create the demo merchant and its test keys (sk_test_demo, sk_test_demo_approver) if the
    /// database has no merchant.
    #[arg(long)]
    demo: bool,
    /// Milliseconds a connection may take to send a request head; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "HAREPAY_HTTP_HEADER_READ_TIMEOUT_MS", default_value_t = harepay::limits::HTTP_HEADER_READ_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_ms: u64,
    /// Milliseconds from a request's head to the head of its answer, its body included (408).
    #[arg(long, env = "HAREPAY_HTTP_REQUEST_TIMEOUT_MS", default_value_t = harepay::limits::HTTP_REQUEST_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout_ms: u64,
    /// Connections open at once; more wait until one closes.
    #[arg(long, env = "HAREPAY_HTTP_MAX_CONNECTIONS", default_value_t = harepay::limits::HTTP_MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_connections: usize,
    /// Requests per client address (IPv6: per /64), e.g. 200/s,burst=2000, or off (behind a
    /// reverse proxy every client has the proxy's address).
    #[arg(long, env = "HAREPAY_RATE_LIMIT_PER_IP", default_value_t = RateLimitSetting::new(harepay::limits::RATE_LIMIT_PER_IP_PER_SECOND, harepay::limits::RATE_LIMIT_PER_IP_BURST))]
    rate_limit_per_ip: RateLimitSetting,
    /// Open sessions (protocol 2025-11-25 and older) per key.
    #[arg(long, env = "HAREPAY_HTTP_MAX_SESSIONS_PER_KEY", default_value_t = harepay::limits::HTTP_SESSIONS_MAX_PER_KEY)]
    max_sessions_per_key: usize,
    /// Open sessions in total.
    #[arg(long, env = "HAREPAY_HTTP_MAX_SESSIONS", default_value_t = harepay::limits::HTTP_SESSIONS_MAX_TOTAL)]
    max_sessions: usize,
    /// Milliseconds without a request after which a session is closed and its memory freed.
    #[arg(long, env = "HAREPAY_HTTP_SESSION_IDLE_EXPIRY_MS", default_value_t = harepay::limits::HTTP_SESSION_IDLE_EXPIRY_MS, value_parser = clap::value_parser!(u64).range(1..))]
    session_idle_expiry_ms: u64,
    #[command(flatten)]
    tools: ToolsArgs,
    #[command(flatten)]
    webhooks: webhooks_cli::WebhookWorkerArgs,
}

#[derive(clap::Args)]
struct ToolsArgs {
    /// Offer only read-only tools, whatever the key may do.
    #[arg(long)]
    read_only: bool,
    /// Offer these toolsets (comma separated names, or the shorthands "default" and "all"), e.g.
    /// "default,catalog". Without it: the default toolsets, or every toolset when --tools names the
    /// tools. llms.txt lists the toolsets and marks the default ones.
    #[arg(long, env = "HAREPAY_TOOLSETS", value_delimiter = ',')]
    toolsets: Option<Vec<String>>,
    /// Offer only these tools (comma separated names, e.g. get_balance,list_payments); over HTTP a
    /// request may narrow further with the X-MCP-Tools header.
    #[arg(long, value_delimiter = ',')]
    tools: Option<Vec<String>>,
    /// How writes are confirmed: "argument" (the agent passes confirm: true) or "elicit" (a
    /// human confirms each write in the client, through MCP elicitation).
    #[arg(long, env = "HAREPAY_CONFIRM", default_value = "argument")]
    confirm: String,
    /// With --confirm=elicit on protocol 2026-07-28: how long a human's answer stays usable.
    #[arg(long, env = "HAREPAY_CONFIRMATION_EXPIRY_MS", default_value_t = harepay::limits::CONFIRMATION_EXPIRY_DEFAULT_MS)]
    confirmation_expiry_ms: i64,
    /// Requests (HTTP) or tool calls (stdio) per key, e.g. 100/s,burst=1000, or off.
    #[arg(long, env = "HAREPAY_RATE_LIMIT_PER_KEY", default_value_t = RateLimitSetting::new(harepay::limits::RATE_LIMIT_PER_KEY_PER_SECOND, harepay::limits::RATE_LIMIT_PER_KEY_BURST))]
    rate_limit_per_key: RateLimitSetting,
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
    /// How long the first result of an idempotency key is kept, in hours (at least 24): a retry
    /// with the key within this time gets it back; older records are purged.
    #[arg(
        long,
        env = "HAREPAY_IDEMPOTENCY_RETENTION_HOURS",
        default_value_t = harepay::limits::IDEMPOTENCY_RETENTION_DEFAULT_HOURS,
        global = true
    )]
    idempotency_retention_hours: u32,
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
        /// An existing merchant id (default: the demo merchant, if the database has it).
        #[arg(long, conflicts_with = "new_merchant")]
        merchant: Option<String>,
        /// Create a new merchant with this name for the key.
        #[arg(long)]
        new_merchant: Option<String>,
        /// For the demo merchant, creating it and its test keys first if the database has no
        /// merchant.
        #[arg(long, conflicts_with_all = ["merchant", "new_merchant"])]
        demo: bool,
        /// Payout spend limits, repeatable: "NGN:max_per_payout=1000000,max_per_day=5000000" (minor units).
        #[arg(long = "limit")]
        limits: Vec<String>,
        /// The key stops working after this long: 90s, 45m, 12h or 30d (at most 730d). Without
        /// it or --expires-at the key never expires.
        #[arg(long, conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// The key stops working at this RFC 3339 time, e.g. 2026-03-01T12:00:00Z.
        #[arg(long)]
        expires_at: Option<String>,
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
        #[command(flatten)]
        secret_key: SecretKeyArgs,
    },
    /// Approve a payout awaiting approval (approver or admin key; not the maker's owner).
    Approve {
        payout_id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        secret_key: SecretKeyArgs,
    },
    /// Reject a payout awaiting approval; its funds are released.
    Reject {
        payout_id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        secret_key: SecretKeyArgs,
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
        let toolsets = match (&self.toolsets, &self.tools) {
            (Some(names), _) => {
                Some(Toolset::parse_selection(names.iter().map(String::as_str)).map_err(anyhow::Error::msg)?)
            }
            // Tools named one by one are wanted whatever toolset they are in.
            (None, Some(_)) => None,
            (None, None) => Some(Toolset::defaults()),
        };
        let confirm_mode = harepay::mcp::confirmation::ConfirmMode::parse(&self.confirm)
            .ok_or_else(|| anyhow::anyhow!("--confirm must be argument or elicit"))?;
        let expiry_max_ms = harepay::limits::CONFIRMATION_EXPIRY_MAX_MS;
        if !(1..=expiry_max_ms).contains(&self.confirmation_expiry_ms) {
            anyhow::bail!("--confirmation-expiry-ms must be from 1 to {expiry_max_ms}");
        }
        let key_rate_limiter = self
            .rate_limit_per_key
            .limit()
            .map(|limit| std::sync::Arc::new(harepay::rate_limit::KeyRateLimiter::new(limit)));
        let tools = match &self.tools {
            None => None,
            Some(names) => {
                let mut parsed = BTreeSet::new();
                for name in names {
                    if harepay::ops::find(name).is_none() {
                        anyhow::bail!("unknown tool {name:?} in --tools");
                    }
                    parsed.insert(name.clone());
                }
                Some(parsed)
            }
        };
        Ok(ServerOptions {
            visibility: Visibility { read_only: self.read_only, toolsets, tools },
            confirm_mode,
            confirmation_expiry_ms: self.confirmation_expiry_ms,
            key_rate_limiter,
        })
    }
}

impl SecretKeyArgs {
    /// The key from HAREPAY_SECRET_KEY or `--secret-key-file`, if either is set.
    fn secret_key(&self) -> anyhow::Result<Option<String>> {
        if self.refused_secret_key.is_some() {
            anyhow::bail!(
                "--secret-key is no longer accepted: a key on the command line is visible to every user of this \
                 machine in the process list (ps, /proc/PID/cmdline). Set HAREPAY_SECRET_KEY in the environment, \
                 or put the key in a file only you can read and pass --secret-key-file PATH (or \
                 HAREPAY_SECRET_KEY_FILE=PATH)."
            );
        }
        let from_environment = std::env::var("HAREPAY_SECRET_KEY").ok().filter(|key| !key.trim().is_empty());
        let Some(path) = &self.secret_key_file else {
            return Ok(from_environment.map(|key| key.trim().to_owned()));
        };
        if from_environment.is_some() {
            anyhow::bail!("both HAREPAY_SECRET_KEY and --secret-key-file are set; keep one of them");
        }
        warn_if_readable_by_others(path);
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("cannot read the key file {}: {error}", path.display()))?;
        // Editors and `echo` end the file with a newline; the key is the text without it.
        let key = text.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            anyhow::bail!("the key file {} must hold one key and nothing else", path.display());
        }
        Ok(Some(key.to_owned()))
    }
}

/// A key file anyone on the machine can read is as exposed as a command-line flag: say so.
fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o004 != 0
        {
            eprintln!(
                "harepay: warning: the key file {} is readable by every user of this machine; `chmod 600` it.",
                path.display()
            );
        }
    }
}

impl HttpArgs {
    fn to_settings(&self) -> harepay::transport::http::HttpSettings {
        let or_loopback = |given: &[String], loopback: &[&str]| {
            if given.is_empty() { loopback.iter().map(|name| name.to_string()).collect() } else { given.to_vec() }
        };
        harepay::transport::http::HttpSettings {
            listen: self.listen,
            allowed_hosts: or_loopback(&self.allowed_hosts, &["localhost", "127.0.0.1", "::1"]),
            allowed_origins: or_loopback(
                &self.allowed_origins,
                &["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"],
            ),
            header_read_timeout: std::time::Duration::from_millis(self.header_read_timeout_ms),
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms),
            max_connections: self.max_connections,
            address_rate_limit: self.rate_limit_per_ip.limit(),
            sessions: harepay::transport::sessions::SessionLimits {
                max_per_key: self.max_sessions_per_key,
                max_total: self.max_sessions,
                idle_expiry: std::time::Duration::from_millis(self.session_idle_expiry_ms),
            },
        }
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

    fn to_idempotency_retention(&self) -> anyhow::Result<IdempotencyRetention> {
        IdempotencyRetention::from_hours(self.idempotency_retention_hours)
            .map_err(|e| anyhow::anyhow!("--idempotency-retention-hours: {e}"))
    }
}

async fn open_app(database: &Database, rules: PaymentRules) -> anyhow::Result<App> {
    Ok(App::open(database, rules)?)
}

/// The demo merchant and its two well-known test keys, made only where a person asked for the
/// demo (`stdio` on an empty database, `demo`, `--demo`): on a server anyone can reach, a key
/// that is in the README is everyone's key.
async fn bootstrap_demo(app: &App, database: &Database) -> anyhow::Result<()> {
    if app.bootstrap_demo_if_empty().await? {
        eprintln!(
            "harepay: new database {}: created the demo merchant with test keys sk_test_demo (maker) and sk_test_demo_approver (approver).",
            database
        );
    } else if !demo_merchant_exists(app).await? {
        // A database with real merchants never gets keys whose secrets are in the README.
        eprintln!("harepay: {} already has merchants; the demo is only made on an empty database.", database);
    }
    Ok(())
}

async fn demo_merchant_exists(app: &App) -> anyhow::Result<bool> {
    let demo_merchant = harepay::app::keys::DEMO_MERCHANT_ID;
    Ok(app.list_api_keys().await?.iter().any(|key| key.merchant_id == demo_merchant))
}

fn create_key_command(database: &Database) -> String {
    format!(
        "harepay keys create --db {} --owner YOUR_NAME --new-merchant \"Your business\"",
        shell_quoted(&database.hint_value())
    )
}

fn shell_quoted(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Colour codes are for a person at a terminal; in a log file or a client's log pane they are
/// litter (`\x1b[2m…`). `NO_COLOR` (no-color.org) turns them off in a terminal too.
fn log_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// After the transport stopped taking calls: the background tasks (scheduler, webhook worker) stop
/// between steps (each step is its own transaction, so one cut short leaves nothing half done; a
/// webhook attempt cut short is delivered again), every acknowledged write is already durable, and
/// the database is closed cleanly.
async fn stop_cleanly<const N: usize>(app: &App, background: [tokio::task::JoinHandle<()>; N]) -> anyhow::Result<()> {
    for task in &background {
        task.abort();
    }
    for task in background {
        let _ = task.await;
    }
    app.shutdown().await?;
    eprintln!("harepay: stopped cleanly; every acknowledged write is in the database");
    Ok(())
}

/// How long the end of `main` waits for background tasks; every write is durable before this.
const RUNTIME_SHUTDOWN_TIMEOUT_MS: u64 = 500;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(log_colours(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HAREPAY_LOG")
                .unwrap_or_else(|_| "harepay=info,rmcp=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let outcome = runtime.block_on(run(cli));
    // The blocking thread reading stdin never ends while the client keeps stdin open (after
    // SIGTERM, say): do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(RUNTIME_SHUTDOWN_TIMEOUT_MS));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("harepay: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let database = Database::from_arg(&cli.db.clone().unwrap_or_else(default_database_path));
    match cli.command {
        CliCommand::Stdio(args) => {
            let options = args.tools.to_options()?;
            let secret_key = args.secret_key.secret_key()?;
            let app = open_app(&database, cli.rules.to_rules()?).await?;
            args.webhooks.install(&database)?;
            // Starting the stdio server on an empty database is how the quickstart begins.
            bootstrap_demo(&app, &database).await?;
            let secret_key = match secret_key {
                Some(key) => key,
                None => {
                    eprintln!(
                        "harepay: HAREPAY_SECRET_KEY is not set; acting as the demo key sk_test_demo (test mode)."
                    );
                    DEMO_MAKER_KEY.to_owned()
                }
            };
            let principal = app.authenticate(&secret_key).await.map_err(|error| match error {
                harepay::app::error::AppError::KeyExpired { .. } => {
                    anyhow::anyhow!("{error} (in {}); refusing to start", database)
                }
                _ => {
                    anyhow::anyhow!("the secret key is unknown or revoked in {}; refusing to start", database)
                }
            })?;
            tracing::info!(merchant = %principal.scope.merchant_id, mode = principal.scope.mode.code(), role = principal.role.code(), "serving MCP on stdio");
            if std::io::stdin().is_terminal() {
                let key_file = args.secret_key.secret_key_file.as_deref().map(std::path::absolute).transpose()?;
                let key = match (&key_file, secret_key.as_str()) {
                    (Some(path), _) => HintKey::File(path),
                    (None, DEMO_MAKER_KEY | DEMO_APPROVER_KEY) => HintKey::Published(&secret_key),
                    (None, _) => HintKey::Withheld,
                };
                eprintln!("{}", connect_hint(&std::env::current_exe()?, &database.hint_value(), key));
            }
            let scheduler = harepay::app::scheduler::spawn_scheduler(
                app.clone(),
                cli.rules.to_retry_policy()?,
                cli.rules.to_idempotency_retention()?,
            );
            let server = HarepayServer::new(app.clone(), Credentials::Fixed(secret_key.into()), options);
            harepay::transport::stdio::serve(server).await?;
            stop_cleanly(&app, [scheduler]).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        CliCommand::Http(args) => {
            let options = args.tools.to_options()?;
            let app = open_app(&database, cli.rules.to_rules()?).await?;
            if args.demo {
                bootstrap_demo(&app, &database).await?;
            } else if app.list_api_keys().await?.is_empty() {
                eprintln!(
                    "harepay: {} has no API keys yet, so every request will be refused (401). Create one:\n  {}\n\
                     (or start with --demo for the demo merchant and its test keys).",
                    database,
                    create_key_command(&database)
                );
            }
            let scheduler = harepay::app::scheduler::spawn_scheduler(
                app.clone(),
                cli.rules.to_retry_policy()?,
                cli.rules.to_idempotency_retention()?,
            );
            let webhooks = args.webhooks.start(&app, &database)?;
            harepay::transport::http::serve(app.clone(), options, args.to_settings()).await?;
            stop_cleanly(&app, [scheduler, webhooks]).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        CliCommand::Keys(command) => {
            let app = open_app(&database, PaymentRules::default()).await?;
            run_keys(&app, &database, command).await
        }
        CliCommand::Payouts(command) => {
            let app = open_app(&database, cli.rules.to_rules()?).await?;
            run_payouts(&app, command).await
        }
        CliCommand::Verify => {
            let app = open_app(&database, PaymentRules::default()).await?;
            let report = app.verify_ledger().await?;
            println!(
                "{} ledger transactions, {} postings in {}",
                report.transaction_count, report.posting_count, database
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
            println!("wrote tools/, llms.txt and docs/guide.md under {}", root.display());
            Ok(std::process::ExitCode::SUCCESS)
        }
        CliCommand::Webhooks(command) => webhooks_cli::run(command),
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
    use harepay::app::write::WriteOutcome;
    use harepay::ops::payouts::approve_payout::{ApprovePayout, ApprovePayoutArgs};
    use harepay::ops::payouts::list_pending_approvals::{ListPendingApprovals, ListPendingApprovalsArgs};
    use harepay::ops::payouts::reject_payout::{RejectPayout, RejectPayoutArgs};
    use harepay::ops::{OpContext, ReadOperation, run_write};
    let required = |args: &SecretKeyArgs| {
        args.secret_key()?.ok_or_else(|| {
            anyhow::anyhow!("name the approver's key: set HAREPAY_SECRET_KEY, or pass --secret-key-file PATH")
        })
    };
    let authenticate = |secret_key: String| async move {
        app.authenticate(&secret_key).await.map_err(|error| anyhow::anyhow!("{error}"))
    };
    let context = OpContext { app: app.clone(), visibility: Default::default() };
    // One decision per payout and person: a repeated command replays instead of deciding twice.
    let idempotency_key =
        |operation: &str, payout_id: &str, key_id: &str| format!("cli:{operation}:{payout_id}:{key_id}");
    let outcome = match command {
        PayoutsCommand::Pending { secret_key } => {
            let principal = authenticate(required(&secret_key)?).await?;
            let args = ListPendingApprovalsArgs {
                limit: Some(harepay::ops::args::PageLimit(harepay::ops::args::StrictInteger(100.into()))),
                starting_after: None,
            };
            let pending = ListPendingApprovals::run(&context, &principal, args)
                .await
                .map_err(|failure| anyhow::anyhow!("{}", failure.error.message))?;
            for payout in pending.data {
                println!(
                    "{}  {}  by {}  {}",
                    payout.id,
                    payout.amount.display,
                    payout.created_by,
                    payout.destination.describe()
                );
            }
            return Ok(std::process::ExitCode::SUCCESS);
        }
        PayoutsCommand::Approve { payout_id, reason, secret_key } => {
            let actor = authenticate(required(&secret_key)?).await?;
            let key = idempotency_key("approve_payout", &payout_id, &actor.key_id);
            let args = ApprovePayoutArgs { id: payout_id, reason, confirm: true, idempotency_key: Some(key) };
            run_write::<ApprovePayout>(&context, &actor, &args).await
        }
        PayoutsCommand::Reject { payout_id, reason, secret_key } => {
            let actor = authenticate(required(&secret_key)?).await?;
            let key = idempotency_key("reject_payout", &payout_id, &actor.key_id);
            let args = RejectPayoutArgs { id: payout_id, reason, confirm: true, idempotency_key: Some(key) };
            run_write::<RejectPayout>(&context, &actor, &args).await
        }
    };
    match outcome {
        Ok(WriteOutcome::Executed { view: payout }) => {
            println!("{} is {} ({})", payout.id, payout.status, payout.amount.display);
            Ok(std::process::ExitCode::SUCCESS)
        }
        // The key is this person's decision on this payout: a repeat (with or without the same
        // reason) is the decision already taken.
        Ok(WriteOutcome::Replayed { .. }) => {
            println!("already decided by this key; nothing changed");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(failure) if failure.error.error_type == "idempotency_key_reused" => {
            println!("already decided by this key (with another reason); nothing changed");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Ok(WriteOutcome::Preview { .. }) => anyhow::bail!("a confirmed decision answered with a preview"),
        Err(failure) => {
            eprintln!("harepay: {} ({})", failure.error.message, failure.error.error_type);
            Ok(std::process::ExitCode::from(1))
        }
    }
}

async fn run_keys(app: &App, database: &Database, command: KeysCommand) -> anyhow::Result<std::process::ExitCode> {
    match command {
        KeysCommand::Create { role, owner, mode, merchant, new_merchant, demo, limits, expires_in, expires_at } => {
            let expiry = harepay::engine::api_key::KeyExpiry::parse(expires_in.as_deref(), expires_at.as_deref())
                .map_err(|message| anyhow::anyhow!("{}", message.replace("expires_", "--expires-")))?;
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
            if demo {
                bootstrap_demo(app, database).await?;
            }
            let merchant_id = match (&merchant, &new_merchant) {
                (None, None) => {
                    if !demo_merchant_exists(app).await? {
                        anyhow::bail!(
                            "no merchant named, and {} has no demo merchant. Create a merchant with the key:\n  {}\n\
                             or name an existing one with --merchant mch_… (`harepay keys list` shows them).",
                            database,
                            create_key_command(database)
                        );
                    }
                    Some(harepay::app::keys::DEMO_MERCHANT_ID.to_owned())
                }
                _ => merchant,
            };
            let secret = generate_secret_key(mode);
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
                    expiry,
                }))
                .await
                // The stable type too, so that a script can tell the cap from a typo.
                .map_err(|error| anyhow::anyhow!("{error} ({})", error.code()))?;
            let (key_id, merchant_id) = detail.split_once(' ').unwrap_or((&detail, ""));
            println!("{secret}");
            eprintln!(
                "created {key_id} ({} {} key for merchant {merchant_id}). The secret above is shown once; store it now.",
                mode.code(),
                role.code()
            );
        }
        KeysCommand::List => {
            let now_ms = app.now_ms();
            for key in app.list_api_keys().await? {
                let state = match (key.revoked_at_ms, key.expires_at_ms) {
                    (Some(_), _) => "revoked".to_owned(),
                    (None, Some(at)) if harepay::engine::api_key::is_expired(Some(at), now_ms) => {
                        format!("expired (at {at} ms)")
                    }
                    (None, Some(at)) => format!("active, expires at {at} ms"),
                    (None, None) => "active".to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some(OsStr::new(""))), "an empty NO_COLOR does not count (no-color.org)");
        assert!(!log_colours(true, Some(OsStr::new("1"))));
        assert!(!log_colours(false, None), "a pipe or a file gets plain text");
    }
}
