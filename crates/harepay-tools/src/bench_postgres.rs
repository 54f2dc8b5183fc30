//! `harepay-tools bench --db postgres://…`: the same durable-write figures on PostgreSQL, each on
//! a fresh database of that server, and `pgbench`'s built-in TPC-B-like rate on the same server
//! with as many clients as payout submitters, measured in the same run as the reference.
//!
//! (a) the server's commit rate: one-row INSERT per transaction on one connection;
//! (b) confirmed payouts through the app layer from 1 and from N submitters (one process: its
//!     writer batches the submitters' commands into one transaction where it can);
//! (p) `pgbench -c N -j <cores>` for a fixed time on a database initialised at scale N (at least
//!     one branch row per client, as pgbench's documentation asks).

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use harepay::store::Database;
use harepay::store::postgres::{create_database, drop_database, measure_bare_commits};

use crate::bench::{Measured, Sizes, micros, payout_run_on_database, print_payout_line};

/// How long pgbench runs.
const PGBENCH_SECONDS: u64 = 15;

pub async fn run(url: &str, sizes: &Sizes) -> anyhow::Result<()> {
    let shown = Database::Postgres(url.to_owned()).to_string();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("harepay bench: PostgreSQL at {shown} (each measurement on a fresh database of that server)");
    println!("  server settings: {}", server_settings(url).await?);
    println!(
        "  cores: {cores}; build: {}",
        if cfg!(debug_assertions) { "debug (not representative)" } else { "release" }
    );
    println!();

    let bare = {
        let commits = sizes.bare_commits;
        let elapsed = on_fresh_database(url, "bare", move |db_url| async move {
            tokio::task::spawn_blocking(move || measure_bare_commits(&db_url, commits)).await?.map_err(Into::into)
        })
        .await?;
        Measured { count: commits, elapsed, latencies: None, writer_cpu_per_command: None }
    };
    println!("(a) raw commits, one-row INSERT per transaction on a bare table, one connection");
    println!(
        "    {:>7} commits in {:>7.2} s   {:>9.0} commits/s   ({:.3} ms per commit)",
        bare.count,
        bare.elapsed.as_secs_f64(),
        bare.per_second(),
        bare.elapsed.as_secs_f64() * 1000.0 / bare.count as f64
    );
    println!();

    println!("(b) confirmed payouts through App::execute, as on SQLite (one harepay process)");
    let serial_payouts = sizes.serial_payouts;
    let serial = on_fresh_database(url, "serial", move |db_url| async move {
        payout_run_on_database(&Database::Postgres(db_url), 1, serial_payouts).await
    })
    .await?;
    print_payout_line(1, &serial);
    let (submitters, payouts) = (sizes.submitters, sizes.concurrent_payouts);
    let concurrent = on_fresh_database(url, "concurrent", move |db_url| async move {
        payout_run_on_database(&Database::Postgres(db_url), submitters, payouts).await
    })
    .await?;
    print_payout_line(submitters, &concurrent);
    for (label, measured) in [("1 submitter", &serial), ("N submitters", &concurrent)] {
        if let Some(writer) = measured.writer_cpu_per_command {
            println!("    writer thread CPU per payout, {label:<13} {:>8.1} µs", micros(writer));
        }
    }
    println!();

    let pgbench_tps = on_fresh_database(url, "pgbench", move |db_url| async move {
        tokio::task::spawn_blocking(move || pgbench_tps(&db_url, submitters, cores)).await?
    })
    .await?;
    println!(
        "(p) pgbench (built-in TPC-B-like), {submitters} clients, {cores} threads, {PGBENCH_SECONDS} s, scale {submitters}"
    );
    println!("    {pgbench_tps:>9.0} transactions/s");
    println!();

    let concurrent_rate = concurrent.per_second();
    println!("ratios (PostgreSQL)");
    println!(
        "    payouts/s with {submitters} submitters ÷ raw commits/s    = {:>6.1}   (what group commit gains)",
        concurrent_rate / bare.per_second()
    );
    println!(
        "    payouts/s with {submitters} submitters ÷ with 1 submitter  = {:>6.1}",
        concurrent_rate / serial.per_second()
    );
    println!(
        "    payouts/s with {submitters} submitters ÷ pgbench tps        = {:>6.2}   (aim: ≥ 0.5, {})",
        concurrent_rate / pgbench_tps,
        if concurrent_rate / pgbench_tps >= 0.5 { "met" } else { "not met" }
    );
    Ok(())
}

/// Runs `measure` on a new database of the server, dropping it afterwards whatever happened.
async fn on_fresh_database<T, F, Fut>(url: &str, purpose: &str, measure: F) -> anyhow::Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let name = format!("harepay_bench_{}_{purpose}", std::process::id());
    let (admin_url, create_name) = (url.to_owned(), name.clone());
    let db_url = tokio::task::spawn_blocking(move || create_database(&admin_url, &create_name)).await??;
    let checkpoint_url = url.to_owned();
    tokio::task::spawn_blocking(move || checkpoint(&checkpoint_url)).await?;
    let result = measure(db_url).await;
    // The app's connections close as its last handle goes; give them a moment, then force.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let admin_url = url.to_owned();
    tokio::task::spawn_blocking(move || drop_database(&admin_url, &name)).await??;
    result
}

/// Writes out what earlier measurements left dirty (pgbench's initialisation alone writes about a
/// gigabyte), so that a checkpoint does not fall inside the next measurement and each starts from
/// the same state. Best effort: it needs a superuser or `pg_checkpoint`, and says when it could not.
fn checkpoint(url: &str) {
    let outcome = harepay::store::postgres::connect(url)
        .map_err(|error| error.to_string())
        .and_then(|mut client| client.batch_execute("CHECKPOINT").map_err(|error| error.to_string()));
    if let Err(error) = outcome {
        println!("    (no CHECKPOINT before this measurement: {error})");
    }
}

async fn server_settings(url: &str) -> anyhow::Result<String> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let mut client = harepay::store::postgres::connect(&url)?;
        let mut shown = Vec::new();
        for setting in ["server_version", "fsync", "synchronous_commit", "wal_sync_method"] {
            let value: String = client.query_one(&format!("SHOW {setting}"), &[])?.get(0);
            shown.push(format!("{setting}={value}"));
        }
        Ok(shown.join(", "))
    })
    .await?
}

/// pgbench's TPC-B-like transactions per second on `db_url` (initialised here).
fn pgbench_tps(db_url: &str, clients: usize, threads: usize) -> anyhow::Result<f64> {
    let pgbench = pgbench_binary()?;
    let init = Command::new(&pgbench)
        .args(["-i", "-q", "-s", &clients.to_string(), db_url])
        .output()
        .with_context(|| format!("cannot run {}", pgbench.display()))?;
    if !init.status.success() {
        bail!("pgbench -i failed: {}", String::from_utf8_lossy(&init.stderr));
    }
    let threads = threads.min(clients).max(1);
    let run = Command::new(&pgbench)
        .args(["-c", &clients.to_string(), "-j", &threads.to_string(), "-T", &PGBENCH_SECONDS.to_string(), db_url])
        .output()
        .with_context(|| format!("cannot run {}", pgbench.display()))?;
    if !run.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    let report = String::from_utf8_lossy(&run.stdout);
    report
        .lines()
        .find_map(|line| line.strip_prefix("tps = ")?.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| anyhow!("no tps in pgbench's report: {report}"))
}

/// `pgbench` on the PATH, or the newest under the distribution's PostgreSQL directories.
fn pgbench_binary() -> anyhow::Result<std::path::PathBuf> {
    if Command::new("pgbench").arg("--version").output().is_ok_and(|output| output.status.success()) {
        return Ok("pgbench".into());
    }
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/pgbench"))
        .filter(|path| path.is_file())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| anyhow!("pgbench is not installed (it comes with PostgreSQL's packages)"))
}
