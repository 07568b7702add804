//! The re-sealing worker: after a master key or a KMS key is rotated, the
//! keys of the objects sealed under an older key are sealed again under
//! the newest one, without reading or rewriting any object's data, so the
//! older key can then be retired.
//!
//! One worker in the cluster at a time (the metadata lease `rekey`) passes
//! over every version and upload with a sealed object key
//! (`MetaRequest::ScanSse`, pages of 1,000 rows); for each sealed under a
//! key that no longer seals (`DataPath::reseal`), it stores the key sealed
//! anew with `ResealSse`, which changes the row only if it still holds
//! what the worker read. The KMS keys' own material, sealed under the
//! master key, is sealed again first. A pass that finds nothing stale does
//! nothing but read; its figures (`RekeyStats`) are in `shale admin
//! status`: rows looked at, keys sealed again, stale keys left (the last
//! pass's count, 0 once every key is sealed under the newest), failures.
//!
//! A pass reads every row, so it does not run while nothing could be
//! stale: a check every [`EVERY`] compares the newest sealing keys (the
//! master key's first key, and each KMS key's newest version and state)
//! with what they were when the last pass that left nothing stale began.
//! A pass runs when they differ, when the worker starts, when woken
//! (`shale admin sse reseal`, a KMS rotation), while keys are left stale
//! (a disabled KMS key enabled again), and at least every [`AUDIT_EVERY`]
//! (for keys a gateway still sealed under an older master key it had not
//! been given the new one yet). Other checks are quiet: two small reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use shale_datapath::DataPath;
use shale_datapath::sse::Sse;
use shale_metadata::MetaClient;
use tokio::sync::watch;

/// The metadata lease of the one worker that re-seals.
const LEASE: &str = "rekey";
/// How long the lease lasts without a renewal (renewed every page): short,
/// so a gateway restarted mid-pass (a new holder) waits little for it.
const LEASE_TTL_MS: u64 = 15_000;
/// Rows a page of the scan looks at.
const PAGE: u32 = 1000;

/// How often a pass starts (a pass that finds nothing costs one read of
/// each version's row: cheap beside the data, and rare).
pub const EVERY: Duration = Duration::from_secs(30);

/// A pass runs at least this often, even when nothing changed.
pub const AUDIT_EVERY: Duration = Duration::from_secs(86_400);

/// The newest sealing keys: the master key's first key, and every KMS key
/// with its state and number of versions.
type Signature = (String, Vec<(String, bool, usize)>);

async fn signature(meta: &MetaClient, data: &DataPath) -> Option<Signature> {
    let master = data.sse_keys().master()?.keys().first()?.id().to_owned();
    let kms = meta
        .list_kms_keys()
        .await
        .ok()?
        .into_iter()
        .map(|k| (k.id, k.enabled, k.versions.len()))
        .collect();
    Some((master, kms))
}

/// The worker's figures.
#[derive(Debug, Default)]
pub struct RekeyStats {
    /// Rows looked at, in every pass.
    pub scanned: AtomicU64,
    /// Object keys sealed again under the newest key.
    pub resealed: AtomicU64,
    /// KMS key versions whose material was sealed again.
    pub kms_resealed: AtomicU64,
    /// Object keys the last complete pass found under an older key and
    /// could not seal again (their KMS key disabled or unknown, a master
    /// key missing): what keeps an older key from being retired.
    pub stale_left: AtomicU64,
    /// Failures (a row that changed meanwhile is not one).
    pub failed: AtomicU64,
    /// Complete passes.
    pub passes: AtomicU64,
    /// Unix ms of the end of the last complete pass.
    pub last_pass_ms: AtomicU64,
    /// A pass is running.
    pub running: AtomicBool,
    /// Checks that found nothing changed since a pass that left nothing
    /// stale, and read no row.
    pub quiet: AtomicU64,
    /// Milliseconds the last complete pass took.
    pub last_pass_took_ms: AtomicU64,
}

/// Runs passes every [`EVERY`] until `stop`; `wake` starts one at once.
pub async fn run(
    meta: MetaClient,
    data: Arc<DataPath>,
    stats: Arc<RekeyStats>,
    wake: Arc<tokio::sync::Notify>,
    mut stop: watch::Receiver<bool>,
) {
    if !data.sse_keys().has_master() {
        return;
    }
    let holder = format!("rekey-{:016x}", rand::random::<u64>());
    // The signature taken before the last pass that left nothing stale,
    // and when that pass began.
    let mut settled: Option<(Signature, std::time::Instant)> = None;
    let mut woken = true;
    loop {
        let now = signature(&meta, &data).await;
        let quiet = !woken
            && now.is_some()
            && settled
                .as_ref()
                .is_some_and(|(s, at)| Some(s) == now.as_ref() && at.elapsed() < AUDIT_EVERY);
        woken = false;
        let held = !quiet
            && meta
                .take_lease(LEASE, &holder, LEASE_TTL_MS)
                .await
                .unwrap_or(false);
        if quiet {
            stats.quiet.fetch_add(1, Ordering::Relaxed);
        } else if held {
            stats.running.store(true, Ordering::Relaxed);
            let started = std::time::Instant::now();
            match pass(&meta, &data, &stats, &holder).await {
                Ok(stale) => {
                    stats.stale_left.store(stale, Ordering::Relaxed);
                    stats.passes.fetch_add(1, Ordering::Relaxed);
                    stats
                        .last_pass_ms
                        .store(shale_datapath::datapath::unix_ms(), Ordering::Relaxed);
                    stats
                        .last_pass_took_ms
                        .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    settled = match (stale, now) {
                        (0, Some(sig)) => Some((sig, started)),
                        _ => None,
                    };
                }
                Err(e) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "re-sealing pass failed");
                }
            }
            stats.running.store(false, Ordering::Relaxed);
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = wake.notified() => woken = true,
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// One pass; the stale keys it could not seal again.
async fn pass(
    meta: &MetaClient,
    data: &Arc<DataPath>,
    stats: &RekeyStats,
    holder: &str,
) -> Result<u64, shale_datapath::Error> {
    stats
        .kms_resealed
        .fetch_add(data.reseal_kms_material().await?, Ordering::Relaxed);
    let mut cursor = Vec::new();
    let mut stale = 0u64;
    loop {
        let page = meta.scan_sse(cursor, PAGE).await?;
        stats.scanned.fetch_add(page.scanned, Ordering::Relaxed);
        for (owner, value) in page.entries {
            let sse = match Sse::of(&[(shale_datapath::sse::SSE_HEADER.to_owned(), value.clone())])
            {
                Ok(Some(s)) => s,
                _ => continue,
            };
            match data.reseal(&sse).await {
                Ok(None) => {}
                Ok(Some(new)) => {
                    match meta.reseal_sse(owner, value, new.header_value()).await {
                        Ok(true) => {
                            stats.resealed.fetch_add(1, Ordering::Relaxed);
                        }
                        // Overwritten or deleted meanwhile: nothing to do.
                        Ok(false) => {}
                        Err(e) => {
                            stale += 1;
                            stats.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(error = %e, "an object key was not sealed again");
                        }
                    }
                }
                Err(e) => {
                    stale += 1;
                    tracing::debug!(error = %e, "a stale object key cannot be sealed again now");
                }
            }
        }
        match page.next {
            Some(next) => {
                cursor = next;
                // Keep the lease through a long pass.
                let _ = meta.take_lease(LEASE, holder, LEASE_TTL_MS).await;
            }
            None => return Ok(stale),
        }
    }
}
