//! The command line of webhooks: the settings `stdio` and `http` take, and `harepay webhooks verify`.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;
use harepay::app::App;
use harepay::engine::webhook::RetrySchedule;
use harepay::limits;
use harepay::store::Database;
use harepay::webhooks::address::{AddressPolicy, install_policy, parse_networks};
use harepay::webhooks::worker::WorkerSettings;

/// Where endpoint secrets are sealed and which internal addresses webhooks may reach: for every
/// server, since endpoints can be created through any of them.
#[derive(clap::Args)]
pub struct WebhookPolicyArgs {
    /// The file holding the key that seals webhook signing secrets (64 hex digits; created 0600
    /// when missing). Default: the SQLite database's path with ".seal-key" appended, or
    /// harepay/postgres.seal-key under the data directory for PostgreSQL (every server on one
    /// database needs the same key). Back it up with the database: without it no endpoint's secret
    /// can be opened.
    #[arg(long, env = "HAREPAY_SEAL_KEY_FILE")]
    seal_key_file: Option<PathBuf>,
    /// Let webhook endpoints reach loopback, private, link-local and CGNAT addresses (a trusted
    /// network of receivers). Cloud metadata addresses still need --webhook-allowed-cidrs.
    #[arg(long, env = "HAREPAY_WEBHOOK_ALLOW_PRIVATE_NETWORKS")]
    webhook_allow_private_networks: bool,
    /// Internal networks webhook endpoints may reach, e.g. 10.20.0.0/16,fd12::/48.
    #[arg(long, env = "HAREPAY_WEBHOOK_ALLOWED_CIDRS")]
    webhook_allowed_cidrs: Option<String>,
}

impl WebhookPolicyArgs {
    /// Installs the seal key and the address policy for this process.
    pub fn install(&self, database: &Database) -> anyhow::Result<AddressPolicy> {
        let key_path = self.seal_key_file.clone().unwrap_or_else(|| default_seal_key_path(database));
        harepay::webhooks::seal::install_key_file(&key_path).map_err(|message| anyhow::anyhow!(message))?;
        let allowed_networks = match &self.webhook_allowed_cidrs {
            Some(text) => parse_networks(text).map_err(|message| anyhow::anyhow!(message))?,
            None => Vec::new(),
        };
        let policy = AddressPolicy { allow_private_networks: self.webhook_allow_private_networks, allowed_networks };
        install_policy(policy.clone());
        Ok(policy)
    }
}

/// Where the seal key lives unless the operator says: beside a SQLite file; for PostgreSQL under
/// the data directory (every process sharing the database needs the same key file, so a
/// deployment on several machines passes `--seal-key-file`).
fn default_seal_key_path(database: &Database) -> PathBuf {
    match database {
        Database::Sqlite(path) => harepay::webhooks::seal::default_key_path(path),
        Database::Postgres(_) => {
            dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("harepay").join("postgres.seal-key")
        }
    }
}

/// The delivery worker runs in `harepay http` only: a stdio server is one client's process, and
/// several of them on one database would each deliver every event.
#[derive(clap::Args)]
pub struct WebhookWorkerArgs {
    #[command(flatten)]
    policy: WebhookPolicyArgs,
    /// Milliseconds before a failed delivery's first retry; each further failure doubles the wait
    /// (±10 % jitter, a 429's Retry-After honoured) up to --webhook-retry-cap-ms. Defaults: 30 s
    /// doubling to 6 h; a delivery gets 16 attempts, and 10 failures in a row disable its endpoint.
    #[arg(long, env = "HAREPAY_WEBHOOK_RETRY_BASE_MS", default_value_t = limits::WEBHOOK_RETRY_BASE_DEFAULT_MS, value_parser = clap::value_parser!(i64).range(1..))]
    webhook_retry_base_ms: i64,
    /// The longest wait between two attempts of a delivery, in milliseconds.
    #[arg(long, env = "HAREPAY_WEBHOOK_RETRY_CAP_MS", default_value_t = limits::WEBHOOK_RETRY_CAP_DEFAULT_MS, value_parser = clap::value_parser!(i64).range(1..))]
    webhook_retry_cap_ms: i64,
}

impl WebhookWorkerArgs {
    pub fn start(&self, app: &App, database: &Database) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let policy = self.policy.install(database)?;
        let schedule = RetrySchedule {
            base_ms: self.webhook_retry_base_ms,
            cap_ms: self.webhook_retry_cap_ms.max(self.webhook_retry_base_ms),
        };
        let settings =
            WorkerSettings { schedule, policy, concurrent_requests_max: limits::WEBHOOK_CONCURRENT_REQUESTS_MAX };
        Ok(harepay::webhooks::worker::spawn_worker(app.clone(), settings))
    }
}

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Check a delivery's signature: reads the raw body on stdin and exits 0 when it is valid, 1
    /// when not (saying why). The same check as the guide's Node and Python snippets.
    Verify {
        /// The endpoint's signing secret, whsec_…
        #[arg(long, env = "HAREPAY_WEBHOOK_SECRET")]
        secret: String,
        /// The X-Lodum-Timestamp header (Unix seconds).
        #[arg(long)]
        timestamp: String,
        /// The X-Lodum-Signature header, sha256=<hex>.
        #[arg(long)]
        signature: String,
        /// How far the timestamp may be from now, in seconds (replays older than this fail).
        #[arg(long, default_value_t = limits::WEBHOOK_SIGNATURE_TOLERANCE_DEFAULT_SECONDS)]
        tolerance_seconds: i64,
    },
}

pub fn run(command: WebhooksCommand) -> anyhow::Result<std::process::ExitCode> {
    let WebhooksCommand::Verify { secret, timestamp, signature, tolerance_seconds } = command;
    let mut body = Vec::new();
    std::io::stdin().take(limits::JSON_RPC_MESSAGE_MAX_BYTES as u64 + 1).read_to_end(&mut body)?;
    let now_seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let now_seconds = i64::try_from(now_seconds)?;
    match harepay::webhooks::signature::verify(&secret, &timestamp, &body, &signature, now_seconds, tolerance_seconds) {
        Ok(()) => {
            println!("ok: the signature matches and the timestamp is within {tolerance_seconds} s");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(error) => {
            println!("invalid: {error}");
            Ok(std::process::ExitCode::from(1))
        }
    }
}
