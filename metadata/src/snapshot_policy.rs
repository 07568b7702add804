//! When a replica builds a Raft snapshot.
//!
//! A snapshot is a dump of the whole catalogue (`raft/snapshot.rs`), so its
//! cost grows with the data, while the log it lets a replica purge grows
//! with the writes. openraft's own policy counts entries only
//! (`LogsSinceLast`): at a million objects of 4 KiB that meant a 4 GB dump
//! every 20,000 entries, about every 50 s under load, some 35 KB written
//! per 4 KiB PUT (`benches/scale`, BENCHMARKS.md). Here a snapshot is due
//! once both hold:
//!
//! - at least `snapshot_every` entries were applied since the last one
//!   (the old rule, which still decides for a small catalogue);
//! - the log grew since by at least `snapshot_log_ratio` times the last
//!   snapshot's size, so the dump writes at most 1 / ratio bytes per byte
//!   logged, whatever the size of the catalogue. The price is a log kept
//!   up to that share of the snapshot (on disk, in RocksDB's `raft_log`).
//!
//! The log's growth is counted by the log store as entries are appended,
//! from this process's start: after a restart the log written before it is
//! not counted, which delays the next snapshot by at most one threshold.
//! openraft runs with `SnapshotPolicy::Never` and [`run`] asks it for a
//! snapshot (`Trigger::snapshot`, ignored while one is being built).

use crate::raft::MetaRaft;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a snapshot asked for may take to appear before it is asked
/// for again (a build that failed).
const ASK_AGAIN: Duration = Duration::from_secs(60);

/// The rule: see the module's documentation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SnapshotRule {
    /// Entries applied since the last snapshot, at least.
    pub every: u64,
    /// Bytes logged since the last snapshot, at least this times its size
    /// (0: entries only).
    pub log_ratio: f64,
}

impl SnapshotRule {
    /// Whether a snapshot is due after `entries` applied and `logged`
    /// bytes appended since the last one, which is `snapshot_bytes` long
    /// (0 without one).
    pub fn due(&self, entries: u64, logged: u64, snapshot_bytes: u64) -> bool {
        entries >= self.every && logged as f64 >= self.log_ratio * snapshot_bytes as f64
    }
}

/// Watches this replica's progress and asks openraft for a snapshot when
/// `rule` says one is due; ends when the replica stops.
pub async fn run(raft: MetaRaft, rule: SnapshotRule, logged: Arc<AtomicU64>, file: PathBuf) {
    let mut metrics = raft.metrics();
    // The snapshot last seen (its last index), its size, and the log's
    // count when it was seen.
    let mut seen: Option<Option<u64>> = None;
    let (mut snapshot_bytes, mut logged_then) = (0u64, 0u64);
    let mut asked: Option<Instant> = None;
    loop {
        let (snapshot, applied) = {
            let m = metrics.borrow_and_update();
            (m.snapshot.map(|l| l.index), m.last_applied.map(|l| l.index))
        };
        if seen != Some(snapshot) {
            seen = Some(snapshot);
            snapshot_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            logged_then = logged.load(Ordering::Relaxed);
            asked = None;
        }
        let entries = match (applied, snapshot) {
            (Some(a), Some(s)) => a.saturating_sub(s),
            (Some(a), None) => a + 1,
            (None, _) => 0,
        };
        let grown = logged.load(Ordering::Relaxed).saturating_sub(logged_then);
        if rule.due(entries, grown, snapshot_bytes)
            && asked.is_none_or(|t| t.elapsed() >= ASK_AGAIN)
        {
            tracing::info!(
                entries,
                logged_bytes = grown,
                last_snapshot_bytes = snapshot_bytes,
                "building a metadata snapshot"
            );
            if raft.trigger().snapshot().await.is_err() {
                return;
            }
            asked = Some(Instant::now());
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_waits_for_entries_and_for_a_log_as_large_as_asked() {
        let rule = SnapshotRule {
            every: 100,
            log_ratio: 1.0,
        };
        // No snapshot yet: entries decide.
        assert!(!rule.due(99, 1 << 30, 0));
        assert!(rule.due(100, 0, 0));
        // A large catalogue: the log must grow as large as its snapshot.
        assert!(!rule.due(1_000_000, 999, 1_000));
        assert!(rule.due(1_000_000, 1_000, 1_000));
        // Never before `every` entries, however large the log.
        assert!(!rule.due(99, 10_000, 1_000));
        // A ratio of 0 is openraft's `LogsSinceLast`.
        let entries_only = SnapshotRule {
            every: 100,
            log_ratio: 0.0,
        };
        assert!(entries_only.due(100, 0, u64::MAX));
        assert!(!entries_only.due(99, u64::MAX, 0));
        // Half: the log may reach half the snapshot.
        let half = SnapshotRule {
            every: 1,
            log_ratio: 0.5,
        };
        assert!(!half.due(10, 499, 1_000));
        assert!(half.due(10, 500, 1_000));
    }
}
