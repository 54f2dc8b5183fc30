//! `harepay-tools`: the guided demo and the benchmark. Both start the `harepay` server binary and
//! talk MCP to it; by default the one next to this executable, where cargo builds it
//! (`cargo build --release` makes target/release/harepay).

use std::path::PathBuf;

use anyhow::bail;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "harepay-tools",
    version,
    about = "harepay's guided demo and benchmark, run against the harepay server binary",
    arg_required_else_help = true
)]
struct Cli {
    /// The harepay server binary (default: `harepay` next to this executable).
    #[arg(long, env = "HAREPAY_SERVER", global = true)]
    server: Option<PathBuf>,

    #[command(subcommand)]
    command: ToolCommand,
}

#[derive(Subcommand)]
enum ToolCommand {
    /// Walk the quickstart through the real MCP protocol against a fresh database.
    Demo {
        /// The SQLite database file the demo's server uses (default: a new temporary file).
        #[arg(long, env = "HAREPAY_DB")]
        db: Option<PathBuf>,
    },
    /// Measure durable commits, confirmed payouts/s (1 and 64 submitters), stdio round trips,
    /// report_usage/s (64 submitters) and a billing run over 10k and 100k subscriptions.
    Bench {
        /// Where the benchmark's fresh databases go (default: a new temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// A PostgreSQL server to measure instead (`postgres://user@host:port/db`): the same
        /// durable-write figures, each on a fresh database of it, and pgbench's rate beside them.
        #[arg(long)]
        db: Option<String>,
    },
}

/// The server to start: the one named, or the one cargo built next to this executable.
fn server_binary(named: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match named {
        Some(path) => std::path::absolute(path)?,
        None => std::env::current_exe()?.with_file_name(format!("harepay{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!(
            "there is no harepay server binary at {}: build it first (`cargo build --release` makes \
             target/release/harepay), or name one with --server PATH",
            path.display()
        );
    }
    Ok(path)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("harepay-tools: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let server = server_binary(cli.server)?;
    match cli.command {
        ToolCommand::Demo { db } => {
            let database =
                db.unwrap_or_else(|| std::env::temp_dir().join(format!("harepay-demo-{}.db", std::process::id())));
            harepay_tools::demo::run(&server, &database).await
        }
        ToolCommand::Bench { db: Some(url), .. } => {
            harepay_tools::bench_postgres::run(&url, &harepay_tools::bench::Sizes::from_env()?).await
        }
        ToolCommand::Bench { work_dir, db: None } => {
            let work_dir =
                work_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("harepay-bench-{}", std::process::id())));
            harepay_tools::bench::run(&work_dir, &server).await
        }
    }
}
