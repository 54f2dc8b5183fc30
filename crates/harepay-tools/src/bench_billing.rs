//! The billing measurements of `harepay-tools bench`, each on a fresh database through the app
//! layer (`App::execute` with the operations' own commands, as the payout measurement):
//!
//! (e) durable `report_usage` calls per second from many concurrent submitters (each report a
//!     new event id on one of the submitters' subscriptions, counted once, with its event and
//!     audit record), compared by the caller with the bare commit rate;
//! (f) a billing run over many active subscriptions whose period has just ended: period invoices
//!     issued per second, and the process's resident memory during the run, sampled every 5 ms,
//!     above what it was when the run started, at two sizes (it must not grow with the number of
//!     subscriptions: the run works in bounded batches).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use harepay::app::App;
use harepay::app::keys::DEMO_MAKER_KEY;
use harepay::app::write::{ToolWrite, WriteOutcome};
use harepay::engine::catalog::{NewPrice, PriceModel};
use harepay::engine::customer::NewCustomer;
use harepay::engine::interval::Interval;
use harepay::engine::money::Asset;
use harepay::engine::permission::Action;
use harepay::engine::principal::Principal;
use harepay::engine::rules::PaymentRules;
use harepay::engine::subscription::NewSubscription;
use harepay::engine::test_clock::ClockAdvance;
use harepay::ops::billing::advance_test_clock::AdvanceTestClockCommand;
use harepay::ops::billing::create_subscription::CreateSubscriptionCommand;
use harepay::ops::billing::report_usage::ReportUsageCommand;
use harepay::ops::catalog::create_price::CreatePriceCommand;
use harepay::ops::customers::create_customer::CreateCustomerCommand;
use harepay::views::billing::BillingRunView;

/// The usage throughput harepay aims for with 64 submitters (Lago documents about 10,000
/// events/s on one PostgreSQL).
pub const TARGET_USAGE_REPORTS_PER_SECOND: f64 = 20_000.0;

/// What one billing run measured.
#[derive(Debug, Clone, Copy)]
pub struct BillingRunMeasured {
    pub subscriptions: usize,
    pub invoices: u64,
    pub elapsed: Duration,
    /// The most the process's resident memory rose above its level when the run started.
    pub peak_rss_growth_bytes: Option<u64>,
}

impl BillingRunMeasured {
    pub fn invoices_per_second(&self) -> f64 {
        self.invoices as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

fn write<C>(actor: &Principal, operation: &'static str, action: Action, command: C) -> ToolWrite<C> {
    ToolWrite {
        actor: actor.clone(),
        operation,
        action,
        confirm: true,
        idempotency: None,
        description: format!("benchmark {operation}"),
        command,
    }
}

async fn executed<V>(outcome: Result<WriteOutcome<V>, harepay::app::error::AppError>) -> anyhow::Result<V> {
    match outcome? {
        WriteOutcome::Executed { view } => Ok(view),
        other => bail!("a benchmark write was not executed: {:?}", other.outcome()),
    }
}

fn bench_rules() -> PaymentRules {
    PaymentRules { test_auto_settle_after_ms: None, ..PaymentRules::default() }
}

async fn open(path: &Path) -> anyhow::Result<(App, Principal)> {
    let app = App::open_sqlite(path, bench_rules())?;
    app.bootstrap_demo_if_empty().await?;
    let maker = app.authenticate(DEMO_MAKER_KEY).await?;
    Ok((app, maker))
}

async fn create_price(app: &App, maker: &Principal, model: PriceModel, interval: &str) -> anyhow::Result<String> {
    let request = NewPrice {
        product_id: None,
        model,
        currency: Asset::lookup("NGN").expect("NGN is registered"),
        unit_amount_minor: 100,
        // Usage: a free allowance no report passes, so (e) measures metering alone.
        included_units: if model == PriceModel::Usage { 1_000_000_000_000 } else { 0 },
        auto_charge: false,
        interval: Interval::from_alias(interval).map_err(|error| anyhow!("{error}"))?,
        trial_period_days: 0,
        active: true,
    };
    let view =
        executed(app.execute(write(maker, "create_price", Action::Manage, CreatePriceCommand(request))).await).await?;
    Ok(view.id)
}

async fn create_customer(app: &App, maker: &Principal) -> anyhow::Result<String> {
    let request =
        NewCustomer { email: "bench@example.com".to_owned(), name: None, phone: None, metadata: Default::default() };
    let command = CreateCustomerCommand(request);
    Ok(executed(app.execute(write(maker, "create_customer", Action::Manage, command)).await).await?.id)
}

/// Creates `count` subscriptions of one customer on `price_id`, from 64 concurrent submitters.
async fn create_subscriptions(
    app: &App,
    maker: &Principal,
    customer_id: &str,
    price_id: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let submitters = 64.min(count.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for submitter in 0..submitters {
        let share = count / submitters + usize::from(submitter < count % submitters);
        let (app, maker, customer_id, price_id) =
            (app.clone(), maker.clone(), customer_id.to_owned(), price_id.to_owned());
        tasks.spawn(async move {
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                let command = CreateSubscriptionCommand {
                    customer_id: customer_id.clone(),
                    price_id: price_id.clone(),
                    request: NewSubscription { metadata: Default::default() },
                };
                let view =
                    executed(app.execute(write(&maker, "create_subscription", Action::Manage, command)).await).await?;
                ids.push(view.id);
            }
            anyhow::Ok(ids)
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        ids.extend(joined.context("a submitter task panicked")??);
    }
    Ok(ids)
}

/// (e): `reports` usage reports in all from `submitters` concurrent submitters, each on its own
/// subscription; returns the count and the time they took.
pub async fn usage_run(path: &Path, submitters: usize, reports: usize) -> anyhow::Result<(usize, Duration)> {
    let (app, maker) = open(path).await?;
    let price_id = create_price(&app, &maker, PriceModel::Usage, "monthly").await?;
    let customer_id = create_customer(&app, &maker).await?;
    let subscriptions = create_subscriptions(&app, &maker, &customer_id, &price_id, submitters).await?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (submitter, subscription_id) in subscriptions.into_iter().enumerate() {
        let share = reports / submitters + usize::from(submitter < reports % submitters);
        let (app, maker) = (app.clone(), maker.clone());
        tasks.spawn(async move {
            for index in 0..share {
                let command = ReportUsageCommand {
                    subscription_id: subscription_id.clone(),
                    quantity: 3,
                    event_id: format!("bench-{submitter}-{index}"),
                };
                let view =
                    executed(app.execute(write(&maker, "report_usage", Action::Initiate, command)).await).await?;
                if !view.counted {
                    bail!("a new benchmark event was not counted");
                }
            }
            anyhow::Ok(share)
        });
    }
    let mut counted = 0;
    while let Some(joined) = tasks.join_next().await {
        counted += joined.context("a submitter task panicked")??;
    }
    Ok((counted, started.elapsed()))
}

/// The process's resident memory, from /proc (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// (f): `subscriptions` weekly subscriptions, then the test clock moved a week ahead and billing
/// run until nothing is due; each closes one period and issues one invoice.
pub async fn billing_run(path: &Path, subscriptions: usize) -> anyhow::Result<BillingRunMeasured> {
    let (app, maker) = open(path).await?;
    let price_id = create_price(&app, &maker, PriceModel::Recurring, "weekly").await?;
    let customer_id = create_customer(&app, &maker).await?;
    create_subscriptions(&app, &maker, &customer_id, &price_id, subscriptions).await?;

    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let baseline = resident_bytes();
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                if let Some(bytes) = resident_bytes() {
                    peak.fetch_max(bytes, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let started = Instant::now();
    let interval = Interval::from_alias("weekly").map_err(|error| anyhow!("{error}"))?;
    let clock = AdvanceTestClockCommand(ClockAdvance::By { interval });
    let advanced = executed(app.execute(write(&maker, "advance_test_clock", Action::Initiate, clock)).await).await?;
    let mut run = advanced.billing;
    app.run_billing_batches(Some(maker.scope.clone()), &mut run).await?;
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().map_err(|_| anyhow!("the memory sampler panicked"))?;
    check_run(&run, subscriptions)?;
    let peak_rss_growth_bytes = baseline.map(|baseline| peak.load(Ordering::Relaxed).saturating_sub(baseline));
    Ok(BillingRunMeasured { subscriptions, invoices: run.invoices_issued, elapsed, peak_rss_growth_bytes })
}

fn check_run(run: &BillingRunView, subscriptions: usize) -> anyhow::Result<()> {
    if run.invoices_issued != subscriptions as u64 || run.failures != 0 {
        bail!(
            "the billing run issued {} invoices for {subscriptions} subscriptions ({} failures)",
            run.invoices_issued,
            run.failures
        );
    }
    Ok(())
}

/// Runs (e) and (f) and prints them; `bare_commits_per_second` is (a)'s rate in the same run.
pub async fn run(work_dir: &Path, bare_commits_per_second: f64, submitters: usize) -> anyhow::Result<()> {
    let reports = read_size("HAREPAY_BENCH_USAGE_REPORTS", 20_000)?;
    let large = read_size("HAREPAY_BENCH_SUBSCRIPTIONS", 100_000)?;
    let small = (large / 10).max(1);

    println!("(e) report_usage through App::execute (confirm, a new event_id each: counted once, usage.reported");
    println!("    event and audit record; no overage, so metering alone)");
    let path = fresh(work_dir, "bench-usage.db");
    let usage = usage_run(&path, submitters, reports).await;
    remove(&path);
    let (counted, elapsed) = usage?;
    let usage_rate = counted as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    println!(
        "    {submitters:>3} submitters {counted:>7} reports in {:>7.2} s   {usage_rate:>9.0} reports/s",
        elapsed.as_secs_f64()
    );
    println!();

    println!("(f) a billing run: weekly subscriptions, the test clock moved a week, every period closed and invoiced");
    println!("    (resident memory sampled every 5 ms during the run, above its level at the start)");
    let mut runs = Vec::new();
    for subscriptions in [small, large] {
        let path = fresh(work_dir, &format!("bench-billing-{subscriptions}.db"));
        let measured = billing_run(&path, subscriptions).await;
        remove(&path);
        let measured = measured?;
        println!(
            "    {:>7} subscriptions: {:>7} invoices in {:>7.2} s   {:>8.0} invoices/s   peak memory growth {}",
            measured.subscriptions,
            measured.invoices,
            measured.elapsed.as_secs_f64(),
            measured.invoices_per_second(),
            measured
                .peak_rss_growth_bytes
                .map_or("n/a".to_owned(), |bytes| format!("{:.1} MiB", bytes as f64 / 1_048_576.0))
        );
        runs.push(measured);
    }
    println!();
    println!("billing ratios");
    println!(
        "    report_usage/s with {submitters} submitters ÷ raw commits/s = {:>6.1}   (target ≥ {:.0} reports/s: {})",
        usage_rate / bare_commits_per_second.max(f64::MIN_POSITIVE),
        TARGET_USAGE_REPORTS_PER_SECOND,
        if usage_rate >= TARGET_USAGE_REPORTS_PER_SECOND { "MET" } else { "NOT MET" }
    );
    if let [small_run, large_run] = runs[..] {
        println!(
            "    invoices/s ÷ raw commits/s = {:>6.1}   ({} subscriptions)",
            large_run.invoices_per_second() / bare_commits_per_second.max(f64::MIN_POSITIVE),
            large_run.subscriptions
        );
        if let (Some(small_growth), Some(large_growth)) =
            (small_run.peak_rss_growth_bytes, large_run.peak_rss_growth_bytes)
        {
            println!(
                "    peak memory growth, {} ÷ {} subscriptions = {:>6.2}   (constant memory: about 1, not {})",
                large_run.subscriptions,
                small_run.subscriptions,
                large_growth as f64 / (small_growth.max(1) as f64),
                large_run.subscriptions / small_run.subscriptions.max(1)
            );
        }
    }
    Ok(())
}

fn read_size(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|value| *value >= 1)
            .ok_or_else(|| anyhow!("{name} must be a positive integer, got {text:?}")),
        Err(_) => Ok(default),
    }
}

fn fresh(work_dir: &Path, name: &str) -> PathBuf {
    let path = work_dir.join(name);
    remove(&path);
    path
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
}
