//! What opening a storage node's chunk store costs, by its number of
//! chunks: reading the index checkpoint written when the store closed,
//! against scanning every record of the volumes (what an open after a crash,
//! or of a data directory of an earlier release, does).
//!
//! For each size, in a temp dir under `--dir`: fill one disk with that many
//! chunks (`--size` bytes of data each, `--concurrency` writers), close it
//! with a checkpoint (timed), then open it `--reps` times each way,
//! alternating: with the checkpoint, and with the checkpoint moved aside
//! (a full scan). The page cache is warm (the node restarts on a machine
//! that just wrote the data); `--drop-caches` drops it before every open
//! (needs root); `--cold-too` adds one open each way with the cache dropped
//! after the warm ones. One JSON line per size on stdout. (The index's memory per
//! chunk is `benches/scale`'s: a node's RSS, in its own process.)
//!
//! ```sh
//! cargo build --release -p shale-benches --bin shale-node-open
//! target/release/shale-node-open --chunks 10000,100000,1000000 --dir /var/tmp
//! ```

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use shale_storage_node::ChunkStore;
use shale_storage_node::checkpoint::FILE_NAME;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Time a storage node's store open: index checkpoint against a full scan")]
struct Args {
    /// Chunk counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    chunks: Vec<u64>,
    /// Bytes of data per chunk (2,000 makes one 4 KiB record each).
    #[arg(long, default_value_t = 2000)]
    size: usize,
    /// Writers filling the store at once.
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
    /// Opens each way per size.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Where the temp dirs go.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
    /// Drop the page cache before every open (root only).
    #[arg(long)]
    drop_caches: bool,
    /// After the warm opens, one open each way with the page cache dropped
    /// (root only).
    #[arg(long)]
    cold_too: bool,
}

fn drop_caches() -> Result<()> {
    std::fs::write("/proc/sys/vm/drop_caches", "3").context("dropping the page cache")
}

/// Opens the store once; returns (seconds, chunks).
fn open_once(disk: &Path, cold: bool) -> Result<(f64, u64)> {
    if cold {
        drop_caches()?;
    }
    let started = Instant::now();
    let store = ChunkStore::open(
        vec![disk.to_path_buf()],
        shale_storage_node::DEFAULT_BLOCK_SIZE,
    )?;
    let took = started.elapsed().as_secs_f64();
    let chunks = store_chunks(&store)?;
    drop(store);
    Ok((took, chunks))
}

fn store_chunks(store: &ChunkStore) -> Result<u64> {
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let status = rt.block_on(store.status())?;
    Ok(status.disks.iter().map(|d| d.chunks).sum())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Runtime::new()?;
    for &n in &args.chunks {
        let tmp = tempfile::Builder::new()
            .prefix("shale-node-open-")
            .tempdir_in(&args.dir)?;
        let disk = tmp.path().join("d0");
        let store = ChunkStore::open(vec![disk.clone()], shale_storage_node::DEFAULT_BLOCK_SIZE)?;
        let filled = Instant::now();
        let data = Bytes::from(vec![0x5au8; args.size]);
        rt.block_on(async {
            let mut writers = tokio::task::JoinSet::new();
            for w in 0..args.concurrency {
                let store = store.clone();
                let data = data.clone();
                let (conc, n) = (args.concurrency, n);
                writers.spawn(async move {
                    let mut i = w;
                    while i < n {
                        store
                            .put(&format!("{i:016x}-bench.c0"), data.clone())
                            .await?;
                        i += conc;
                    }
                    anyhow::Ok(())
                });
            }
            while let Some(done) = writers.join_next().await {
                done??;
            }
            anyhow::Ok(())
        })?;
        let fill_s = filled.elapsed().as_secs_f64();
        let started = Instant::now();
        let written = store.checkpoint()?;
        let checkpoint_s = started.elapsed().as_secs_f64();
        drop(store);
        let ckpt = disk.join("volumes").join(FILE_NAME);
        let aside = disk.join("checkpoint.aside");
        let ckpt_bytes = std::fs::metadata(&ckpt)?.len();

        let (mut with, mut without) = (Vec::new(), Vec::new());
        for _ in 0..args.reps {
            let (s, chunks) = open_once(&disk, args.drop_caches)?;
            anyhow::ensure!(chunks == n, "checkpoint open found {chunks} of {n} chunks");
            with.push(s);
            std::fs::rename(&ckpt, &aside)?;
            let (s, chunks) = open_once(&disk, args.drop_caches)?;
            anyhow::ensure!(chunks == n, "scan open found {chunks} of {n} chunks");
            without.push(s);
            std::fs::rename(&aside, &ckpt)?;
        }
        let (w, s) = (median(with), median(without));
        let cold = if args.cold_too {
            let (c_with, chunks) = open_once(&disk, true)?;
            anyhow::ensure!(
                chunks == n,
                "cold checkpoint open found {chunks} of {n} chunks"
            );
            std::fs::rename(&ckpt, &aside)?;
            let (c_scan, chunks) = open_once(&disk, true)?;
            anyhow::ensure!(chunks == n, "cold scan open found {chunks} of {n} chunks");
            std::fs::rename(&aside, &ckpt)?;
            Some((c_with, c_scan))
        } else {
            None
        };
        println!(
            "{}",
            serde_json::json!({
                "chunks": n,
                "chunk_bytes": args.size,
                "cold_cache": args.drop_caches,
                "fill_s": fill_s,
                "checkpoint_write_s": checkpoint_s,
                "checkpoint_chunks": written,
                "checkpoint_bytes": ckpt_bytes,
                "open_checkpoint_s": w,
                "open_scan_s": s,
                "scan_over_checkpoint": s / w,
                "cold_open_checkpoint_s": cold.map(|c| c.0),
                "cold_open_scan_s": cold.map(|c| c.1),
            })
        );
    }
    Ok(())
}
