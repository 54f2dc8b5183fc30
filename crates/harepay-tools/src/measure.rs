//! What a measurement of the bench yields: a count in a time, and latency percentiles. A leaf,
//! so that each part of the bench (`bench.rs`, `bench_http.rs`, …) uses it without importing
//! the others.

use std::time::Duration;

/// Latency percentiles of one measurement.
#[derive(Debug, Clone, Copy)]
pub struct Latencies {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latencies {
    pub fn of(mut samples: Vec<Duration>) -> Latencies {
        assert!(!samples.is_empty(), "latencies of nothing");
        samples.sort_unstable();
        // Nearest rank: the smallest sample with at least q of all samples at or below it.
        let rank = |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
        Latencies { p50: rank(0.50), p99: rank(0.99), max: samples[samples.len() - 1] }
    }
}

/// Throughput and latency of one measurement.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub count: usize,
    pub elapsed: Duration,
    pub latencies: Option<Latencies>,
    /// Payout runs: the writer thread's CPU time per command over the run.
    pub writer_cpu_per_command: Option<Duration>,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// "p50 … ms   p99 … ms   max … ms", or nothing for a measurement without latencies.
    pub fn latency_text(&self) -> String {
        let millis = |duration: Duration| duration.as_secs_f64() * 1000.0;
        match self.latencies {
            Some(latencies) => format!(
                "p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
                millis(latencies.p50),
                millis(latencies.p99),
                millis(latencies.max)
            ),
            None => String::new(),
        }
    }
}
