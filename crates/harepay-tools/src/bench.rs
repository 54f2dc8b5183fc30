//! `harepay-tools bench`: how fast harepay moves money durably on this machine.
//!
//! Measurements, each on a fresh SQLite file (WAL, `synchronous=FULL`) under the work
//! directory:
//!
//! (a) the disk's durable commit rate: one-row INSERT per transaction on a bare table, the
//!     physical fsync limit everything else is measured against;
//! (b) confirmed payouts through the app layer (`App::execute` with a real `create_payout`
//!     `ToolWrite`: unique idempotency key, ledger reservation, event, idempotency and audit
//!     records), first from one submitter, then from many concurrent ones (tokio tasks), where
//!     the writer's group commit shares one fsync among many payouts;
//! (c) the writer thread's CPU time per payout in (b), against a reference measured in the same
//!     run: the rows one payout writes, inserted by prepared statements in one transaction
//!     without fsync;
//! (d) `get_balance` round trips over stdio against the real binary, with the raw client that
//!     writes newline-delimited JSON-RPC itself (`harepay-raw-client`, shared with the tests).
//!     The server runs with the per-key rate limit off (`HAREPAY_RATE_LIMIT_PER_KEY=off`): the
//!     measurement is the server's cost per call, and thousands of calls a second are what the
//!     limit exists to refuse;
//! (e), (f) billing: `bench_billing.rs`;
//! (g) the same round trips over streamable HTTP, from one client and from 32 at once
//!     (`bench_http.rs`);
//! (h) signed webhook deliveries by the worker to a loopback receiver with 100 endpoints
//!     (`bench_webhooks.rs`).
//!
//! Sizes can be changed with environment variables (see `Sizes`).

use std::path::{Path, PathBuf};
use std::process::Command as ProcessCommand;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use harepay::app::App;
use harepay::app::keys::{DEMO_MAKER_KEY, sha256_hex};
use harepay::app::write::{IdempotencyInput, ToolWrite, WriteOutcome};
use harepay::engine::money::{Asset, Money};
use harepay::engine::payment::{NewPaymentIntent, PaymentMethod};
use harepay::engine::payout::{Destination, NewPayout};
use harepay::engine::permission::Action;
use harepay::engine::principal::Principal;
use harepay::engine::rail::Rail;
use harepay::engine::rules::PaymentRules;
use harepay::ops::account::get_balance::{GetBalance, GetBalanceArgs};
use harepay::ops::payments::create_payment_intent::CreatePaymentIntentCommand;
use harepay::ops::payments::simulate_payment::{SimulatePaymentCommand, SimulatedOutcome};
use harepay::ops::payouts::create_payout::CreatePayoutCommand;
use harepay::ops::{OpContext, ReadOperation};
use harepay::store::Database;
use harepay_raw_client::RawClient;

pub use crate::measure::{Latencies, Measured};
use serde_json::json;

/// The throughput harepay aims for: durable payouts per second with 64 concurrent submitters.
pub const TARGET_PAYOUTS_PER_SECOND: f64 = 10_000.0;

/// Each payout moves ₦1.00.
const PAYOUT_AMOUNT_MINOR: i64 = 100;

/// How many of each measurement to run. Every field can be overridden by an environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// HAREPAY_BENCH_COMMITS: bare one-row commits in (a).
    pub bare_commits: usize,
    /// HAREPAY_BENCH_SERIAL_PAYOUTS: payouts from the single submitter in (b).
    pub serial_payouts: usize,
    /// HAREPAY_BENCH_PAYOUTS: payouts in total from the concurrent submitters in (b).
    pub concurrent_payouts: usize,
    /// HAREPAY_BENCH_SUBMITTERS: concurrent submitters in (b).
    pub submitters: usize,
    /// HAREPAY_BENCH_ROUND_TRIPS: sequential get_balance calls over stdio in (c).
    pub round_trips: usize,
    /// HAREPAY_BENCH_WEBHOOK_EVENTS: events fanned out to 100 webhook endpoints in (h).
    pub webhook_events: usize,
}

impl Default for Sizes {
    fn default() -> Sizes {
        Sizes {
            bare_commits: 1_000,
            serial_payouts: 1_000,
            concurrent_payouts: 20_000,
            submitters: 64,
            round_trips: 2_000,
            webhook_events: 140,
        }
    }
}

impl Sizes {
    pub fn from_env() -> anyhow::Result<Sizes> {
        let defaults = Sizes::default();
        let read = |name: &str, default: usize| -> anyhow::Result<usize> {
            match std::env::var(name) {
                Ok(text) => text
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|value| *value >= 1)
                    .ok_or_else(|| anyhow!("{name} must be a positive integer, got {text:?}")),
                Err(_) => Ok(default),
            }
        };
        Ok(Sizes {
            bare_commits: read("HAREPAY_BENCH_COMMITS", defaults.bare_commits)?,
            serial_payouts: read("HAREPAY_BENCH_SERIAL_PAYOUTS", defaults.serial_payouts)?,
            concurrent_payouts: read("HAREPAY_BENCH_PAYOUTS", defaults.concurrent_payouts)?,
            submitters: read("HAREPAY_BENCH_SUBMITTERS", defaults.submitters)?,
            round_trips: read("HAREPAY_BENCH_ROUND_TRIPS", defaults.round_trips)?,
            webhook_events: read("HAREPAY_BENCH_WEBHOOK_EVENTS", defaults.webhook_events)?,
        })
    }
}

/// Runs the measurements and prints the report to stdout.
pub async fn run(work_dir: &Path, harepay_executable: &Path) -> anyhow::Result<()> {
    let sizes = Sizes::from_env()?;
    std::fs::create_dir_all(work_dir).with_context(|| format!("cannot create {}", work_dir.display()))?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("harepay bench: SQLite WAL, synchronous=FULL (every commit is fsynced before it is acknowledged)");
    println!("  work directory: {}", work_dir.display());
    println!(
        "  cores: {cores}; build: {}",
        if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" }
    );
    println!();

    // (a) The disk's durable commit rate.
    let bare_path = fresh_file(work_dir, "bench-bare.db")?;
    let bare_commits = sizes.bare_commits;
    let bare_elapsed = {
        let path = bare_path.clone();
        tokio::task::spawn_blocking(move || harepay::store::sqlite::measure_bare_commits(&path, bare_commits))
            .await
            .context("the bare-commit task failed")??
    };
    let bare = Measured { count: bare_commits, elapsed: bare_elapsed, latencies: None, writer_cpu_per_command: None };
    remove_database(&bare_path);
    println!("(a) raw durable commits, one-row INSERT per transaction on a bare table");
    println!(
        "    {:>7} commits in {:>7.2} s   {:>9.0} commits/s   ({:.3} ms per commit)",
        bare.count,
        bare.elapsed.as_secs_f64(),
        bare.per_second(),
        bare.elapsed.as_secs_f64() * 1000.0 / bare.count as f64
    );
    println!();

    // (b) Confirmed payouts through the app layer.
    println!("(b) confirmed payouts through App::execute (create_payout, confirm, unique idempotency key;");
    println!("    reservation posted to the ledger, payout.created event, idempotency and audit records)");
    let serial = payout_run(work_dir, "bench-payouts-serial.db", 1, sizes.serial_payouts).await?;
    print_payout_line(1, &serial);
    let concurrent =
        payout_run(work_dir, "bench-payouts-concurrent.db", sizes.submitters, sizes.concurrent_payouts).await?;
    print_payout_line(sizes.submitters, &concurrent);
    println!();

    // (c) The floor of a payout's writes: the same rows by prepared statements, one transaction.
    let reference_path = fresh_file(work_dir, "bench-reference.db")?;
    let reference_payouts = sizes.concurrent_payouts;
    let reference_cpu = {
        let path = reference_path.clone();
        tokio::task::spawn_blocking(move || {
            harepay::store::sqlite::measure_reference_payout_rows(&path, reference_payouts)
        })
        .await
        .context("the reference task failed")??
    };
    remove_database(&reference_path);
    let reference_per_payout = reference_cpu / u32::try_from(reference_payouts.max(1)).unwrap_or(u32::MAX);
    println!("(c) CPU per payout: the writer thread against a reference (the same rows a payout writes, by");
    println!("    prepared statements in one large transaction, no fsync)");
    println!("    reference                          {:>8.1} µs", micros(reference_per_payout));
    for (label, measured) in [("1 submitter", &serial), ("64 submitters", &concurrent)] {
        if let Some(writer) = measured.writer_cpu_per_command {
            println!("    writer, {label:<26} {:>8.1} µs", micros(writer));
        }
    }
    println!();

    // (d) Round trips over stdio against the real binary.
    println!(
        "(d) get_balance round trips over stdio ({} stdio, raw newline-delimited JSON-RPC client)",
        harepay_executable.display()
    );
    let stdio = {
        let executable = harepay_executable.to_owned();
        let work_dir = work_dir.to_owned();
        let round_trips = sizes.round_trips;
        tokio::task::spawn_blocking(move || stdio_round_trips(&executable, &work_dir, round_trips))
            .await
            .context("the stdio task failed")??
    };
    println!(
        "    {:>7} calls   in {:>7.2} s   {:>9.0} round trips/s   {}",
        stdio.count,
        stdio.elapsed.as_secs_f64(),
        stdio.per_second(),
        stdio.latency_text()
    );
    println!();

    // (h) Webhook deliveries by the worker to a local receiver.
    let webhook_path = fresh_file(work_dir, "bench-webhooks.db")?;
    let (deliveries, webhook_elapsed) =
        crate::bench_webhooks::deliveries_per_second(&webhook_path, sizes.webhook_events).await?;
    remove_database(&webhook_path);
    let deliveries_per_second = deliveries as f64 / webhook_elapsed.as_secs_f64();
    println!("(h) signed webhook deliveries to a loopback receiver: 100 endpoints over 7 merchants");
    println!(
        "    {deliveries:>7} deliveries in {:>7.2} s   {deliveries_per_second:>9.0} deliveries/s   ({:.2} × raw commits/s)",
        webhook_elapsed.as_secs_f64(),
        deliveries_per_second / bare.per_second()
    );
    println!();

    // Ratios and the verdict.
    let concurrent_rate = concurrent.per_second();
    println!("ratios");
    println!(
        "    payouts/s with {} submitters ÷ raw commits/s   = {:>6.1}   (payouts made durable per fsync's worth of time)",
        sizes.submitters,
        concurrent_rate / bare.per_second()
    );
    println!(
        "    payouts/s with {} submitters ÷ with 1 submitter = {:>6.1}",
        sizes.submitters,
        concurrent_rate / serial.per_second()
    );
    println!("    payouts/s with 1 submitter ÷ raw commits/s      = {:>6.2}", serial.per_second() / bare.per_second());
    if let Some(writer) = concurrent.writer_cpu_per_command {
        println!(
            "    writer CPU per payout ÷ reference CPU per payout = {:>6.2}   (aim: ≤ 2)",
            micros(writer) / micros(reference_per_payout).max(f64::MIN_POSITIVE)
        );
    }
    println!(
        "    64 submitters ÷ 1 submitter aim: ≥ 5 ({})",
        if concurrent_rate / serial.per_second() >= 5.0 { "met" } else { "not met" }
    );
    let verdict = if sizes.submitters != 64 {
        "not judged: the target is stated for 64 submitters (HAREPAY_BENCH_SUBMITTERS differs)"
    } else if concurrent_rate >= TARGET_PAYOUTS_PER_SECOND {
        "MET"
    } else {
        "NOT MET"
    };
    println!(
        "target: ≥ {:.0} durable payouts/s with 64 submitters: {verdict} ({:.0} payouts/s)",
        TARGET_PAYOUTS_PER_SECOND, concurrent_rate
    );
    println!();
    let http_clients = 32;
    crate::bench_http::run(work_dir, harepay_executable, sizes.round_trips, http_clients, stdio.per_second()).await?;
    crate::bench_billing::run(work_dir, bare.per_second(), sizes.submitters).await
}

pub(crate) fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000_000.0
}

pub(crate) fn print_payout_line(submitters: usize, measured: &Measured) {
    println!(
        "    {:>3} submitter{} {:>7} payouts in {:>7.2} s   {:>9.0} payouts/s   {}",
        submitters,
        if submitters == 1 { " " } else { "s" },
        measured.count,
        measured.elapsed.as_secs_f64(),
        measured.per_second(),
        measured.latency_text()
    );
}

/// `work_dir/name`, with any database of that name (and its WAL files) removed first.
fn fresh_file(work_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = work_dir.join(name);
    remove_database(&path);
    if path.exists() {
        bail!("cannot remove the old benchmark database {}", path.display());
    }
    Ok(path)
}

fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
}

/// Rules for the benchmark: no payout needs approval and the test-mode simulator is off, so
/// every payout is created `pending` and nothing else writes meanwhile.
fn bench_rules() -> PaymentRules {
    let mut rules = PaymentRules { test_auto_settle_after_ms: None, ..PaymentRules::default() };
    rules.approvals.threshold_minor_by_asset.remove("NGN");
    rules
}

/// Opens a fresh database, funds the demo merchant, then has `submitters` tasks create
/// `payouts` confirmed payouts in all, each timed from submission to the durable answer.
async fn payout_run(work_dir: &Path, file_name: &str, submitters: usize, payouts: usize) -> anyhow::Result<Measured> {
    let path = fresh_file(work_dir, file_name)?;
    let result = payout_run_on(&path, submitters, payouts).await;
    remove_database(&path);
    result
}

async fn payout_run_on(path: &Path, submitters: usize, payouts: usize) -> anyhow::Result<Measured> {
    payout_run_on_database(&Database::Sqlite(path.to_owned()), submitters, payouts).await
}

/// `payout_run` on any database (SQLite file or PostgreSQL URL), which must be empty.
pub(crate) async fn payout_run_on_database(
    database: &Database,
    submitters: usize,
    payouts: usize,
) -> anyhow::Result<Measured> {
    let app = App::open(database, bench_rules())?;
    app.bootstrap_demo_if_empty().await?;
    let maker = app.authenticate(DEMO_MAKER_KEY).await?;
    let needed_minor =
        i64::try_from(payouts)?.checked_mul(PAYOUT_AMOUNT_MINOR).ok_or_else(|| anyhow!("too many payouts"))?;
    fund_ngn(&app, &maker, needed_minor).await?;

    let asset = Asset::lookup("NGN").expect("NGN is registered");
    let request = NewPayout {
        amount: Money::new(asset, PAYOUT_AMOUNT_MINOR)?,
        rail: Rail::Rubies,
        destination: Destination::Bank {
            account_no: "0123456789".to_owned(),
            bank_code: "058".to_owned(),
            account_name: Some("Ada Obi".to_owned()),
        },
        description: Some("benchmark payout".to_owned()),
        metadata: Default::default(),
    };
    // What the MCP layer fingerprints: the tool and its canonical arguments, without the key.
    let request_sha256_hex = sha256_hex(
        r#"create_payout
{"amount":{"amount":100,"currency":"NGN"},"description":"benchmark payout","destination":{"account_name":"Ada Obi","account_no":"0123456789","bank_code":"058","kind":"bank"},"rail":"rubies"}"#,
    );

    let stats = app.writer_stats();
    let (cpu_before_ns, commands_before) =
        (stats.busy_cpu_ns.load(Ordering::Relaxed), stats.commands_committed.load(Ordering::Relaxed));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for submitter in 0..submitters {
        let share = payouts / submitters + usize::from(submitter < payouts % submitters);
        let app = app.clone();
        let maker = maker.clone();
        let request = request.clone();
        let request_sha256_hex = request_sha256_hex.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for index in 0..share {
                let write = ToolWrite {
                    actor: maker.clone(),
                    operation: "create_payout",
                    action: Action::Initiate,
                    confirm: true,
                    idempotency: Some(IdempotencyInput {
                        key: format!("bench-{submitter}-{index}"),
                        request_sha256_hex: request_sha256_hex.clone(),
                    }),
                    description: "pay out ₦1.00 over rubies to bank 058 account …6789".to_owned(),
                    command: CreatePayoutCommand(request.clone()),
                };
                let sent = Instant::now();
                let outcome = app.execute(write).await?;
                latencies.push(sent.elapsed());
                if !matches!(outcome, WriteOutcome::Executed { .. }) {
                    bail!("a benchmark payout was not executed: {:?}", outcome.outcome());
                }
            }
            Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(payouts);
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined.context("a submitter task panicked")??);
    }
    let elapsed = started.elapsed();

    // Everything acknowledged is there and the ledger still balances.
    let reserved = ngn_balance(&app, &maker).await?.reserved.amount;
    if reserved != needed_minor {
        bail!(
            "after {payouts} payouts of {PAYOUT_AMOUNT_MINOR} the reserved balance is {reserved}, not {needed_minor}"
        );
    }
    let report = app.verify_ledger().await?;
    if !report.is_sound() {
        bail!("the ledger does not verify after the benchmark: {report:?}");
    }
    let cpu_ns = stats.busy_cpu_ns.load(Ordering::Relaxed) - cpu_before_ns;
    let commands = (stats.commands_committed.load(Ordering::Relaxed) - commands_before).max(1);
    let writer_cpu_per_command = Some(Duration::from_nanos(cpu_ns / commands));
    Ok(Measured { count: latencies.len(), elapsed, latencies: Some(Latencies::of(latencies)), writer_cpu_per_command })
}

/// Makes at least `net_minor` NGN available: one bank-transfer payment settled by the simulator.
async fn fund_ngn(app: &App, maker: &Principal, net_minor: i64) -> anyhow::Result<()> {
    let asset = Asset::lookup("NGN").expect("NGN is registered");
    // Generous: the rubies fee is 0.5%, rounded up.
    let gross_minor = net_minor.checked_add(net_minor / 100 + 10_000).ok_or_else(|| anyhow!("amount too large"))?;
    let created = app
        .execute(funding_write(
            maker,
            "create_payment_intent",
            "bench-fund",
            CreatePaymentIntentCommand(NewPaymentIntent {
                amount: Money::new(asset, gross_minor)?,
                network: None,
                method: PaymentMethod::BankTransfer,
                rail: Rail::Rubies,
                settle_as: None,
                customer: None,
                description: Some("benchmark funding".to_owned()),
                metadata: Default::default(),
                expires_in_ms: None,
            }),
        ))
        .await?;
    let WriteOutcome::Executed { view: payment } = created else {
        bail!("funding payment not executed: {:?}", created.outcome());
    };
    app.execute(funding_write(
        maker,
        "simulate_payment",
        "bench-fund-settle",
        SimulatePaymentCommand { payment_intent_id: payment.id, outcome: SimulatedOutcome::Succeeded, received: None },
    ))
    .await?;
    let available = ngn_balance(app, maker).await?.available.amount;
    if available < net_minor {
        bail!("funding left {available} NGN minor available, {net_minor} needed");
    }
    Ok(())
}

fn funding_write<C>(maker: &Principal, operation: &'static str, key: &str, command: C) -> ToolWrite<C> {
    ToolWrite {
        actor: maker.clone(),
        operation,
        action: Action::Initiate,
        confirm: true,
        idempotency: Some(IdempotencyInput { key: key.to_owned(), request_sha256_hex: sha256_hex(key) }),
        description: "benchmark funding".to_owned(),
        command,
    }
}

/// The maker's NGN balance, read as the `get_balance` operation reads it.
async fn ngn_balance(app: &App, maker: &Principal) -> anyhow::Result<harepay::ops::account::BalanceView> {
    let context = OpContext { app: app.clone(), visibility: Default::default() };
    let args = GetBalanceArgs { asset: "NGN".to_owned() };
    GetBalance::run(&context, maker, args).await.map_err(|failure| anyhow!("{}", failure.error.message))
}

/// Sequential `get_balance` calls to `harepay stdio` on a fresh database.
pub fn stdio_round_trips(executable: &Path, work_dir: &Path, round_trips: usize) -> anyhow::Result<Measured> {
    let database = fresh_file(work_dir, "bench-stdio.db")?;
    let stderr_path = work_dir.join("bench-stdio.stderr.log");
    let stderr_file = std::fs::File::create(&stderr_path)?;
    let mut command = ProcessCommand::new(executable);
    command
        .arg("stdio")
        .env("HAREPAY_DB", &database)
        .env("HAREPAY_SECRET_KEY", DEMO_MAKER_KEY)
        .env("HAREPAY_TEST_AUTO_SETTLE_MS", "off")
        .env("HAREPAY_RATE_LIMIT_PER_KEY", "off")
        .env("HAREPAY_LOG", "warn")
        .stderr(stderr_file);
    let mut client =
        RawClient::spawn(&mut command).with_context(|| format!("cannot start {} stdio", executable.display()))?;
    let result = measure_round_trips(&mut client, round_trips);
    // Hanging up ends the server by itself; `close` makes sure of it.
    let closed = client.close(Duration::from_secs(5));
    let server_log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_file(&stderr_path);
    remove_database(&database);
    let measured =
        result.with_context(|| format!("stdio round trips failed; the server said:\n{}", server_log.trim()))?;
    closed.context("the server did not end when the benchmark hung up")?;
    Ok(measured)
}

fn call_get_balance(client: &mut RawClient) -> anyhow::Result<()> {
    let id = client.send_call("get_balance", &json!({"asset": "NGN"}))?;
    let answer = client.response(id)?;
    let result = &answer["result"];
    if answer.get("error").is_some()
        || result["isError"] == json!(true)
        || !result["structuredContent"]["available"]["amount"].is_i64()
    {
        bail!("get_balance did not return a balance: {answer}");
    }
    Ok(())
}

fn measure_round_trips(client: &mut RawClient, round_trips: usize) -> anyhow::Result<Measured> {
    client.initialize("harepay-bench")?;
    // Warm up (the first call also opens the read connection), then measure.
    for _ in 0..20 {
        call_get_balance(client)?;
    }
    let mut latencies = Vec::with_capacity(round_trips);
    let started = Instant::now();
    for _ in 0..round_trips {
        let sent = Instant::now();
        call_get_balance(client)?;
        latencies.push(sent.elapsed());
    }
    let elapsed = started.elapsed();
    Ok(Measured {
        count: round_trips,
        elapsed,
        latencies: Some(Latencies::of(latencies)),
        writer_cpu_per_command: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let latencies = Latencies::of(samples);
        assert_eq!(latencies.p50, Duration::from_millis(50));
        assert_eq!(latencies.p99, Duration::from_millis(99));
        assert_eq!(latencies.max, Duration::from_millis(100));
        let one = Latencies::of(vec![Duration::from_millis(7)]);
        assert_eq!((one.p50, one.p99), (Duration::from_millis(7), Duration::from_millis(7)));
    }

    /// Runs the whole benchmark against the server binary of the same profile:
    /// `cargo build --release && cargo test --release -p harepay-tools --lib bench::tests::full_run -- --ignored --nocapture`.
    #[test]
    #[ignore = "a benchmark: run it in release"]
    fn full_run() {
        // The test runs from target/<profile>/deps; cargo puts the server in target/<profile>.
        let test_executable = std::env::current_exe().unwrap();
        let executable = test_executable.parent().and_then(Path::parent).unwrap().join("harepay");
        assert!(executable.exists(), "build the server first: {}", executable.display());
        let work_dir = std::env::temp_dir().join(format!("harepay-bench-{}", std::process::id()));
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let result = runtime.block_on(run(&work_dir, &executable));
        let _ = std::fs::remove_dir_all(&work_dir);
        result.unwrap();
    }
}
