//! What a Raft snapshot of the metadata catalogue costs, by its size: the
//! time to build one on the leader and to send and install it on a
//! follower, and how much each phase raises the process's peak memory.
//!
//! For each size (MiB of object rows, 16 KiB inline bodies written through
//! `MetaStore::put_object`), in a temp dir under `--dir`:
//! 1. build: `build_snapshot` on the leader's state machine;
//! 2. install: its data read in 4 MiB chunks (what openraft sends) into
//!    the follower's `begin_receiving_snapshot`, then `install_snapshot`.
//!
//! Before each phase the peak RSS is reset (`/proc/self/clear_refs`, 5); the
//! phase's growth is its peak (VmHWM) less the RSS it started with. One JSON
//! line per size on stdout.
//!
//! ```sh
//! cargo build --release -p shale-benches --bin shale-snapshot-bench
//! target/release/shale-snapshot-bench --mib 64,256,1024 --dir /var/tmp
//! ```

use anyhow::{Context, Result};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use shale_benches::inline_row;
use shale_metadata::MetaStore;
use shale_metadata::raft::StateMachine;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY: usize = 16 << 10;
const CHUNK: usize = 4 << 20;

fn status_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("{field} missing from /proc/self/status"))?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .context("no value")?
        .parse()?;
    Ok(kib)
}

/// Resets the peak RSS and returns the RSS now (KiB).
fn reset_peak() -> Result<u64> {
    std::fs::write("/proc/self/clear_refs", "5").context("reset the peak RSS")?;
    status_kib("VmRSS:")
}

/// How far the peak RSS rose above `start` (MiB).
fn growth_mib(start: u64) -> Result<f64> {
    Ok(status_kib("VmHWM:")?.saturating_sub(start) as f64 / 1024.0)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn one(mib: u64, base: &std::path::Path) -> Result<serde_json::Value> {
    let tmp = tempfile::tempdir_in(base)?;
    let (a_dir, b_dir): (PathBuf, PathBuf) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a_dir)?;
    std::fs::create_dir_all(&b_dir)?;
    let a = Arc::new(MetaStore::open(&a_dir.join("db"))?);
    a.create_bucket("bench", "us-east-1")?;
    let rows = mib * (1 << 20) / BODY as u64;
    let body = vec![7u8; BODY];
    // Synced writes: eight writers let RocksDB group-commit them.
    std::thread::scope(|s| {
        for t in 0..8 {
            let (a, body) = (&a, &body);
            s.spawn(move || {
                for i in (t..rows).step_by(8) {
                    a.put_object("bench", &format!("k/{i:09}"), inline_row(body), false, None)
                        .expect("populate");
                }
            });
        }
    });
    let mut leader = StateMachine::open(a.clone(), a_dir.join("db.snapshot"))?;

    let start = reset_peak()?;
    let t = Instant::now();
    let mut snapshot = leader.get_snapshot_builder().await.build_snapshot().await?;
    let build_s = t.elapsed().as_secs_f64();
    let build_mib = growth_mib(start)?;

    let b = Arc::new(MetaStore::open(&b_dir.join("db"))?);
    let mut follower = StateMachine::open(b.clone(), b_dir.join("db.snapshot"))?;
    let start = reset_peak()?;
    let t = Instant::now();
    let mut into = follower.begin_receiving_snapshot().await?;
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    loop {
        let n = snapshot.snapshot.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        into.write_all(&buf[..n]).await?;
        sent += n as u64;
    }
    into.shutdown().await?;
    drop(buf);
    follower.install_snapshot(&snapshot.meta, into).await?;
    let install_s = t.elapsed().as_secs_f64();
    let install_mib = growth_mib(start)?;
    let (applied, _) = follower.applied_state().await?;
    anyhow::ensure!(
        applied == snapshot.meta.last_log_id,
        "the follower applied {applied:?}"
    );
    anyhow::ensure!(
        b.get_object("bench", &format!("k/{:09}", rows - 1)).is_ok(),
        "the last row did not arrive"
    );
    Ok(serde_json::json!({
        "rows_mib": mib,
        "rows": rows,
        "snapshot_bytes": sent,
        "build_s": (build_s * 100.0).round() / 100.0,
        "install_s": (install_s * 100.0).round() / 100.0,
        "build_peak_rss_growth_mib": build_mib.round(),
        "install_peak_rss_growth_mib": install_mib.round(),
        "leader_dir_bytes": dir_bytes(&a_dir),
    }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut sizes = vec![64u64, 256];
    let mut base = std::env::temp_dir();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mib" => {
                sizes = args
                    .next()
                    .context("--mib needs a list")?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?;
            }
            "--dir" => base = args.next().context("--dir needs a path")?.into(),
            other => anyhow::bail!("unknown argument {other} (--mib 64,256 --dir D)"),
        }
    }
    for mib in sizes {
        let line = one(mib, &base).await?;
        println!("{line}");
        eprintln!(
            "{mib} MiB of rows: build {}s (+{} MiB peak), send and install {}s (+{} MiB peak)",
            line["build_s"],
            line["build_peak_rss_growth_mib"],
            line["install_s"],
            line["install_peak_rss_growth_mib"]
        );
    }
    Ok(())
}
