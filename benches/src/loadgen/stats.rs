//! What the workers measured, merged, and the one JSON line it becomes.

use std::time::Duration;

use serde::Serialize;

/// What one worker measured.
#[derive(Default)]
pub struct WorkerStats {
    /// Latency of every successful operation, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// Payload bytes moved by successful operations (PUT and GET bodies, listings).
    pub bytes: u64,
    /// Operations that failed (non-2xx, I/O error, wrong length, timeout).
    pub errors: u64,
}

impl WorkerStats {
    /// Records one successful operation.
    pub fn record(&mut self, latency: Duration, bytes: u64) {
        self.latencies_ns
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        self.bytes += bytes;
    }

    /// Adds another worker's figures to this one.
    pub fn merge(&mut self, other: WorkerStats) {
        self.latencies_ns.extend(other.latencies_ns);
        self.bytes += other.bytes;
        self.errors += other.errors;
    }
}

/// The result of one run: the JSON line `shale-bench` prints on stdout.
#[derive(Serialize, Debug)]
pub struct Report {
    /// `put`, `get`, `mixed`, `list` or `multipart`.
    pub mode: String,
    /// `shale` or `baseline`.
    pub target: String,
    /// Object size in bytes.
    pub size: u64,
    /// Concurrent workers.
    pub concurrency: usize,
    /// Successful operations.
    pub ops: u64,
    /// Wall-clock seconds of the timed phase.
    pub seconds: f64,
    /// Successful operations per second.
    pub ops_per_s: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_s: f64,
    /// Median latency of successful operations, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile latency, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Slowest successful operation, milliseconds.
    pub max_ms: f64,
    /// Failed operations.
    pub errors: u64,
}

/// Rounds to three decimals so the JSON line stays readable.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The `q`-quantile (0..=1) of sorted latencies by nearest rank, in ms.
fn percentile_ms(sorted_ns: &[u64], q: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted_ns.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted_ns.len()) - 1;
    sorted_ns[idx] as f64 / 1e6
}

impl Report {
    /// Builds the report from the merged stats of a run that took `elapsed`.
    pub fn new(
        mode: &str,
        target: &str,
        size: u64,
        concurrency: usize,
        mut stats: WorkerStats,
        elapsed: Duration,
    ) -> Report {
        stats.latencies_ns.sort_unstable();
        let lat = &stats.latencies_ns;
        let ops = lat.len() as u64;
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            mode: mode.to_owned(),
            target: target.to_owned(),
            size,
            concurrency,
            ops,
            seconds: round3(secs),
            ops_per_s: round3(ops as f64 / secs),
            mb_per_s: round3(stats.bytes as f64 / 1e6 / secs),
            p50_ms: round3(percentile_ms(lat, 0.50)),
            p90_ms: round3(percentile_ms(lat, 0.90)),
            p99_ms: round3(percentile_ms(lat, 0.99)),
            max_ms: round3(lat.last().map_or(0.0, |&n| n as f64 / 1e6)),
            errors: stats.errors,
        }
    }

    /// One line for people, printed on stderr.
    pub fn human(&self) -> String {
        format!(
            "{} {} c={} against {}: {} ops in {:.2} s, {:.1} ops/s, {:.1} MB/s, \
             latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} errors",
            self.mode,
            super::units::format_size(self.size),
            self.concurrency,
            self.target,
            self.ops,
            self.seconds,
            self.ops_per_s,
            self.mb_per_s,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.errors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut stats = WorkerStats::default();
        for ms in 1..=100u64 {
            stats.record(Duration::from_millis(ms), 1_000_000);
        }
        let r = Report::new("put", "shale", 1_000_000, 1, stats, Duration::from_secs(2));
        assert_eq!(r.ops, 100);
        assert_eq!(r.ops_per_s, 50.0);
        assert_eq!(r.mb_per_s, 50.0);
        assert_eq!(r.p50_ms, 50.0);
        assert_eq!(r.p90_ms, 90.0);
        assert_eq!(r.p99_ms, 99.0);
        assert_eq!(r.max_ms, 100.0);
    }

    #[test]
    fn empty_run() {
        let r = Report::new("get", "shale", 1, 1, WorkerStats::default(), Duration::ZERO);
        assert_eq!(r.ops, 0);
        assert_eq!(r.p99_ms, 0.0);
    }
}
