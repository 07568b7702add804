//! The scrubber: every chunk re-read and fully verified, at a capped rate.
//!
//! Bit rot is silent until something reads the rotten block; erasure coding
//! only helps if a rotten chunk is found and rebuilt before enough of its
//! segment's other chunks go bad too. The scrubber walks every chunk of the
//! node in passes, checks each block's CRC and the chunk's BLAKE3 trailer
//! ([`ChunkStore::verify`]), and records what fails in the store's
//! [`ScrubReport`], which `/status` and `/scrub` return and the healer reads.
//! Reads on the GET path that find a corrupt chunk record it there too.
//!
//! The rate cap keeps the scrubber from competing with foreground I/O: after
//! each chunk, the pass sleeps until its average rate is back under the cap.

use crate::store::ChunkStore;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How fast and how often the scrubber runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrubConfig {
    /// Bytes of chunk data verified per second, at most; 0 turns the
    /// scrubber off.
    pub bytes_per_sec: u64,
    /// Seconds between the end of a pass and the start of the next.
    pub pause_secs: u64,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            bytes_per_sec: 16 * 1024 * 1024,
            pause_secs: 3600,
        }
    }
}

/// What the scrubber (and the read path) found so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScrubReport {
    /// Passes over every chunk completed since the node started.
    pub passes: u64,
    /// Chunks verified since the node started.
    pub chunks_checked: u64,
    /// Bytes of chunk data verified since the node started.
    pub bytes_checked: u64,
    /// Milliseconds the last completed pass took.
    pub last_pass_ms: Option<u64>,
    /// Chunks known to be corrupt or unreadable (found by the scrubber or by
    /// a read), sorted; a chunk leaves the list when it is rewritten or
    /// deleted. At most [`MAX_REPORTED`] are listed.
    pub corrupt: Vec<String>,
    /// How many chunks are known corrupt, listed or not.
    pub corrupt_count: u64,
}

/// Most corrupt chunk ids a report lists.
pub const MAX_REPORTED: usize = 1000;

/// Runs scrub passes over `store` until `stop` turns true.
pub async fn run(store: ChunkStore, config: ScrubConfig, mut stop: watch::Receiver<bool>) {
    if config.bytes_per_sec == 0 {
        return;
    }
    loop {
        match pass(&store, config.bytes_per_sec, &mut stop).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::error!(error = %e, "scrub pass failed"),
        }
        let pause = tokio::time::sleep(Duration::from_secs(config.pause_secs));
        tokio::select! {
            () = pause => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// One pass over every chunk; returns false when stopped before its end.
pub async fn pass(
    store: &ChunkStore,
    bytes_per_sec: u64,
    stop: &mut watch::Receiver<bool>,
) -> Result<bool> {
    let started = Instant::now();
    let ids = store.list().await?;
    let mut bytes = 0u64;
    for id in ids {
        if *stop.borrow() {
            return Ok(false);
        }
        let size = match store.verify(&id).await {
            Ok(info) => info.size,
            // Deleted since the listing: nothing to check.
            Err(Error::NotFound(_)) => 0,
            Err(e @ (Error::Corrupt(_) | Error::Io(_))) => {
                tracing::warn!(chunk = %id, error = %e, "scrub found a bad chunk");
                store.mark_corrupt(&id);
                0
            }
            Err(e) => return Err(e),
        };
        bytes += size;
        store.count_scrubbed(size);
        // Sleep until the pass's average rate is under the cap again.
        let due = Duration::from_secs_f64(bytes as f64 / bytes_per_sec as f64);
        if let Some(ahead) = due.checked_sub(started.elapsed()) {
            tokio::select! {
                () = tokio::time::sleep(ahead) => {}
                _ = stop.wait_for(|stopped| *stopped) => return Ok(false),
            }
        }
    }
    store.finish_scrub_pass(started.elapsed());
    Ok(true)
}
