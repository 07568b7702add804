//! The replication worker: drains the replication queue (the metadata
//! `replication` family, a task written with every replicated write in the
//! same Raft entry) by copying each version to its destination buckets
//! through their regions' S3 endpoints, signed with the link's key and
//! marked as a replica (it keeps its version id and time there).
//!
//! One worker at a time (the holder of the metadata lease `replication`)
//! works the queue of a region. Tasks run side by side in two lanes: small
//! versions and large ones (at least `large_bytes`), each with its own
//! bound, so one huge object never holds back thousands of small ones;
//! bodies stream from the data path to the destination (never held whole),
//! at most `bandwidth_bytes_per_sec` per destination endpoint.
//!
//! Outcomes, reported per destination (`ReplicationDone`): a 2xx is done; a
//! transient failure (no answer, a timeout, 5xx, 429, a redirect) is tried
//! again with back-off (1 s doubling to 60 s), the version PENDING
//! meanwhile, and at once when a copy to the same destination has worked
//! since (the outage is over: a backlog drains without waiting out its
//! back-offs). A transient failure also holds its destination: while held,
//! no other task is tried against it, one probe tries when the hold ends
//! (1 s, doubling to 5 s), and its first success releases it; so a
//! destination that is down costs the source neither an attempt nor a
//! Raft write per new version, only the reading of the queue, which is
//! read less often the longer it is (20 ms a page). A permanent one
//! (the destination bucket gone or unversioned, access denied, another
//! 4xx) makes it FAILED until `shale admin replication retry`. A version
//! removed before it was copied is done (nothing to copy). A task is
//! removed only after its destination answered, so a worker killed at any
//! moment leaves its tasks in the queue, and a copy made twice is kept once
//! at the destination (it has the version's id).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use shale_common::ObjectData;
use shale_common::s3_client::{self, S3Client, S3Target};
use shale_datapath::DataPath;
use shale_datapath::sse::Sse;
use shale_metadata::{
    LockMode, MetaClient, MetaError, ObjectVersion, REPLICATION_STATUS, ReplicationKind,
    ReplicationOutcome, ReplicationTask, VersionRef, version_id,
};
use tokio::sync::{Notify, Semaphore, watch};

/// The metadata lease one worker holds while it works.
const LEASE: &str = "replication";
/// How long the lease lasts without renewal.
const LEASE_TTL_MS: u64 = 10_000;
/// Tasks read per page of the queue.
const PAGE: u32 = 1000;
/// Longest back-off between attempts.
const MAX_BACKOFF_MS: i64 = 60_000;
/// How long latencies are kept for the status's percentiles.
const LATENCY_WINDOW: Duration = Duration::from_secs(300);
/// Most latencies kept.
const LATENCY_SAMPLES: usize = 100_000;
/// The header of a replica's version id (see the gateway's `s3/replica.rs`).
pub const REPLICA_VERSION: &str = "x-shale-replica-version";
/// The header of a replica's Last-Modified (ms).
pub const REPLICA_LAST_MODIFIED: &str = "x-shale-replica-last-modified";
/// The header of a replicated lock change's legal hold (`ON`, `OFF`).
pub const REPLICA_LEGAL_HOLD: &str = "x-shale-replica-legal-hold";

/// How the worker runs (`[gateway.replication]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationWorkerConfig {
    /// False turns the worker off in this gateway.
    pub enabled: bool,
    /// Small versions copied at once.
    pub concurrency: usize,
    /// Large versions copied at once.
    pub large_concurrency: usize,
    /// A version of at least this many bytes goes in the large lane.
    pub large_bytes: u64,
    /// Bytes per second to one destination endpoint (0: no limit).
    pub bandwidth_bytes_per_sec: u64,
    /// Milliseconds between looks at the queue when it is idle.
    pub poll_ms: u64,
}

impl Default for ReplicationWorkerConfig {
    fn default() -> Self {
        ReplicationWorkerConfig {
            enabled: true,
            concurrency: 128,
            large_concurrency: 4,
            large_bytes: 8 << 20,
            bandwidth_bytes_per_sec: 0,
            poll_ms: 50,
        }
    }
}

/// Where a destination bucket is: its region's S3 endpoint and the key to
/// sign with; `Ok(None)` when no region has the bucket. The gateway
/// answers it from its links.
pub trait Destinations: Send + Sync {
    /// The target of destination bucket `bucket`.
    fn target(&self, bucket: &str) -> BoxFuture<'_, Result<Option<S3Target>, String>>;
}

/// The figures of one (source bucket, destination bucket) pair.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairStatus {
    /// The source bucket.
    pub bucket: String,
    /// The destination bucket.
    pub destination: String,
    /// Versions and markers copied since the gateway started.
    pub replicated: u64,
    /// Their bytes.
    pub replicated_bytes: u64,
    /// Attempts that failed and will be tried again.
    pub retries: u64,
    /// Tasks that failed for good.
    pub failed: u64,
    /// Lag (source commit to destination commit) of the last five
    /// minutes: median, 99th percentile, maximum, in ms.
    pub lag_p50_ms: u64,
    pub lag_p99_ms: u64,
    pub lag_max_ms: u64,
    /// Bytes per second copied over the last minute.
    pub bytes_per_sec: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Lag per minute over the last hour, oldest first (minutes without a
    /// copy left out): the web console's chart.
    pub lag_history: Vec<LagMinute>,
}

/// The lag of one minute's copies of a pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LagMinute {
    /// The minute's start, Unix ms.
    pub minute_unix_ms: u64,
    /// Copies finished in it.
    pub copies: u64,
    /// Their mean lag, ms.
    pub mean_ms: u64,
    /// Their largest lag, ms.
    pub max_ms: u64,
}

/// How much lag history a pair keeps.
const LAG_HISTORY: Duration = Duration::from_secs(3600);

/// (Unix minute, copies, lag sum ms, lag max ms) of one minute.
type MinuteSums = (u64, u64, u64, u64);

fn unix_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

#[derive(Default)]
struct Pair {
    replicated: u64,
    replicated_bytes: u64,
    retries: u64,
    failed: u64,
    /// (when, lag ms, bytes) of recent copies.
    recent: VecDeque<(Instant, u64, u64)>,
    /// Per-minute sums of the last hour, oldest first.
    minutes: VecDeque<MinuteSums>,
    last_error: Option<String>,
}

/// What the worker did since the gateway started.
#[derive(Default)]
pub struct ReplicationStats {
    pairs: Mutex<HashMap<(String, String), Pair>>,
    /// Tasks copied, all pairs.
    pub replicated: AtomicU64,
    /// Attempts failed, all pairs.
    pub errors: AtomicU64,
    /// Tasks in flight now.
    pub in_flight: AtomicU64,
}

impl std::fmt::Debug for ReplicationStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationStats")
            .field("replicated", &self.replicated)
            .finish_non_exhaustive()
    }
}

impl ReplicationStats {
    fn pair<R>(&self, bucket: &str, dest: &str, f: impl FnOnce(&mut Pair) -> R) -> R {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        f(pairs
            .entry((bucket.to_owned(), dest.to_owned()))
            .or_default())
    }

    fn copied(&self, bucket: &str, dest: &str, lag_ms: u64, bytes: u64) {
        self.replicated.fetch_add(1, Ordering::Relaxed);
        let labels = pair_labels(bucket, dest);
        metrics::histogram!(LATENCY_METRIC, &labels).record(lag_ms as f64 / 1000.0);
        metrics::counter!("shale_gateway_replication_replicated_total", &labels).increment(1);
        metrics::counter!("shale_gateway_replication_replicated_bytes_total", &labels)
            .increment(bytes);
        self.pair(bucket, dest, |p| {
            p.replicated += 1;
            p.replicated_bytes += bytes;
            let now = Instant::now();
            p.recent.push_back((now, lag_ms, bytes));
            while p.recent.len() > LATENCY_SAMPLES
                || p.recent
                    .front()
                    .is_some_and(|(t, _, _)| now.duration_since(*t) > LATENCY_WINDOW)
            {
                p.recent.pop_front();
            }
            let minute = unix_minute();
            match p.minutes.back_mut() {
                Some((m, copies, sum, max)) if *m == minute => {
                    *copies += 1;
                    *sum += lag_ms;
                    *max = (*max).max(lag_ms);
                }
                _ => p.minutes.push_back((minute, 1, lag_ms, lag_ms)),
            }
            let kept = LAG_HISTORY.as_secs() / 60;
            while p.minutes.front().is_some_and(|(m, ..)| m + kept <= minute) {
                p.minutes.pop_front();
            }
        });
    }

    fn error(&self, bucket: &str, dest: &str, error: &str, permanent: bool) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let name = if permanent {
            "shale_gateway_replication_failed_total"
        } else {
            "shale_gateway_replication_retries_total"
        };
        metrics::counter!(name, &pair_labels(bucket, dest)).increment(1);
        self.pair(bucket, dest, |p| {
            if permanent {
                p.failed += 1;
            } else {
                p.retries += 1;
            }
            p.last_error = Some(error.to_owned());
        });
    }

    /// Every pair's figures, by source then destination bucket.
    pub fn pairs(&self) -> Vec<PairStatus> {
        let pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let this_minute = unix_minute();
        let mut out: Vec<PairStatus> = pairs
            .iter()
            .map(|((bucket, destination), p)| {
                let mut lags: Vec<u64> = p
                    .recent
                    .iter()
                    .filter(|(t, _, _)| now.duration_since(*t) <= LATENCY_WINDOW)
                    .map(|(_, l, _)| *l)
                    .collect();
                lags.sort_unstable();
                let pct = |q: f64| {
                    if lags.is_empty() {
                        0
                    } else {
                        lags[((lags.len() - 1) as f64 * q).round() as usize]
                    }
                };
                let minute: u64 = p
                    .recent
                    .iter()
                    .filter(|(t, _, _)| now.duration_since(*t) <= Duration::from_secs(60))
                    .map(|(_, _, b)| *b)
                    .sum();
                PairStatus {
                    bucket: bucket.clone(),
                    destination: destination.clone(),
                    replicated: p.replicated,
                    replicated_bytes: p.replicated_bytes,
                    retries: p.retries,
                    failed: p.failed,
                    lag_p50_ms: pct(0.5),
                    lag_p99_ms: pct(0.99),
                    lag_max_ms: lags.last().copied().unwrap_or(0),
                    bytes_per_sec: minute / 60,
                    last_error: p.last_error.clone(),
                    lag_history: p
                        .minutes
                        .iter()
                        .filter(|(m, ..)| m + LAG_HISTORY.as_secs() / 60 > this_minute)
                        .map(|&(m, copies, sum, max)| LagMinute {
                            minute_unix_ms: m * 60_000,
                            copies,
                            mean_ms: sum / copies.max(1),
                            max_ms: max,
                        })
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.bucket, &a.destination).cmp(&(&b.bucket, &b.destination)));
        out
    }
}

/// The replication lag histogram (source commit to destination commit),
/// per source and destination bucket, with buckets up to an hour.
pub use shale_common::metrics::REPLICATION_LATENCY as LATENCY_METRIC;

/// The labels of one (source bucket, destination bucket) pair's metrics.
pub fn pair_labels(bucket: &str, dest: &str) -> [(&'static str, String); 2] {
    [
        ("bucket", bucket.to_owned()),
        ("destination", dest.to_owned()),
    ]
}

/// One (source bucket, destination bucket) pair's share of the queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    /// Tasks waiting to be copied (PENDING versions, markers, changes).
    pub tasks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When the oldest of them was queued (ms since the epoch).
    pub oldest_enqueued_ms: Option<i64>,
    /// Tasks that failed for good (FAILED until `replication retry`).
    pub failed: u64,
    /// The last error a task of the pair recorded.
    pub last_error: Option<String>,
}

/// The queue's backlog per (source bucket, destination bucket), of source
/// bucket `only` (all when None), read a page at a time, at most
/// `max_pages` pages of [`PAGE`] tasks; true as well when the whole queue
/// was read (otherwise the counts are lower bounds; the oldest task is on
/// the first page, tasks being in commit order).
pub async fn backlog(
    meta: &MetaClient,
    only: Option<&str>,
    max_pages: usize,
) -> Result<(BTreeMap<(String, String), Backlog>, bool), MetaError> {
    let mut out: BTreeMap<(String, String), Backlog> = BTreeMap::new();
    let mut after = Vec::new();
    for _ in 0..max_pages {
        let page = meta.replication_tasks(after.clone(), PAGE).await?;
        let Some((last, _)) = page.last() else {
            return Ok((out, true));
        };
        after.clone_from(last);
        let more = page.len() == PAGE as usize;
        for (_, t) in page {
            if only.is_some_and(|b| b != t.bucket) {
                continue;
            }
            for dest in &t.destinations {
                let b = out.entry((t.bucket.clone(), dest.clone())).or_default();
                if t.failed {
                    b.failed += 1;
                } else {
                    b.tasks += 1;
                    b.bytes += t.size;
                    b.oldest_enqueued_ms = Some(
                        b.oldest_enqueued_ms
                            .map_or(t.enqueued_ms, |o| o.min(t.enqueued_ms)),
                    );
                }
                if t.last_error.is_some() {
                    b.last_error.clone_from(&t.last_error);
                }
            }
        }
        if !more {
            return Ok((out, true));
        }
    }
    Ok((out, false))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A byte budget per second, shared by the copies to one endpoint.
struct Throttle {
    rate: u64,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl Throttle {
    fn new(rate: u64) -> Self {
        Throttle {
            rate,
            state: tokio::sync::Mutex::new((rate as f64, Instant::now())),
        }
    }

    /// Waits until `n` bytes may go.
    async fn take(&self, n: usize) {
        if self.rate == 0 {
            return;
        }
        let mut state = self.state.lock().await;
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate as f64)
            .min(self.rate as f64);
        *last = now;
        *tokens -= n as f64;
        if *tokens < 0.0 {
            let wait = Duration::from_secs_f64(-*tokens / self.rate as f64);
            tokio::time::sleep(wait).await;
        }
    }
}

/// A task waiting out a back-off: when its last attempt failed, and its
/// destination buckets.
type Waiting = (i64, Vec<String>);

/// Longest hold of a destination that does not answer.
const MAX_HOLD_MS: i64 = 5_000;

/// A destination bucket held after a transient failure: no new task is
/// tried against it until `until_ms`, then one task (the probe) tries; its
/// success releases the hold, its failure holds twice as long (at most
/// `MAX_HOLD_MS`). While a destination is down, its tasks wait in the
/// queue untouched instead of each failing once (a Raft write apiece).
#[derive(Debug)]
struct Held {
    until_ms: i64,
    failures: u32,
    probe: Option<Vec<u8>>,
}

/// The held destinations (see `Held`).
#[derive(Debug, Default)]
struct Holds(Mutex<HashMap<String, Held>>);

impl Holds {
    /// The destinations of task `key` it may be tried against now: those
    /// not held, and a held one whose hold is over and that has no probe
    /// yet (this task becomes its probe).
    fn admit(&self, key: &[u8], dests: &[String], now: i64) -> Vec<String> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        dests
            .iter()
            .filter(|d| match held.get_mut(d.as_str()) {
                None => true,
                Some(h) if h.probe.is_none() && h.until_ms <= now => {
                    h.probe = Some(key.to_vec());
                    true
                }
                Some(_) => false,
            })
            .cloned()
            .collect()
    }

    /// Records what an attempt at `dest` says of the destination: a
    /// transient failure holds it (longer when the probe failed, or when
    /// the hold had ended), an answer releases it.
    fn settle(&self, key: &[u8], dest: &str, outcome: &ReplicationOutcome, copied: bool, now: i64) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            ReplicationOutcome::Retry { .. } => match held.get_mut(dest) {
                None => {
                    held.insert(
                        dest.to_owned(),
                        Held {
                            until_ms: now + 1_000,
                            failures: 1,
                            probe: None,
                        },
                    );
                }
                Some(h) => {
                    let probe = h.probe.as_deref() == Some(key);
                    if probe || (h.probe.is_none() && h.until_ms <= now) {
                        h.failures = h.failures.saturating_add(1);
                        let hold = (1_000i64 << (h.failures - 1).min(5)).min(MAX_HOLD_MS);
                        h.until_ms = now + hold + rand::random_range(0..=hold / 4);
                        h.probe = None;
                    }
                }
            },
            ReplicationOutcome::Completed if !copied => {
                // Nothing was sent: says nothing of the destination; the
                // next task probes.
                if let Some(h) = held.get_mut(dest)
                    && h.probe.as_deref() == Some(key)
                {
                    h.probe = None;
                }
            }
            ReplicationOutcome::Completed | ReplicationOutcome::Failed { .. } => {
                held.remove(dest);
            }
        }
    }

    /// Frees the probes task `key` held and did not settle (it stopped
    /// early).
    fn release(&self, key: &[u8], dests: &[String]) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for d in dests {
            if let Some(h) = held.get_mut(d)
                && h.probe.as_deref() == Some(key)
            {
                h.probe = None;
            }
        }
    }
}

/// The worker's shared parts.
struct Worker {
    meta: MetaClient,
    data: Arc<DataPath>,
    destinations: Arc<dyn Destinations>,
    config: ReplicationWorkerConfig,
    stats: Arc<ReplicationStats>,
    client: S3Client,
    throttles: Mutex<HashMap<String, Arc<Throttle>>>,
    in_flight: Mutex<HashSet<Vec<u8>>>,
    /// Tasks waiting out a back-off: when their last attempt failed, and
    /// for which destination buckets.
    waiting: Mutex<HashMap<Vec<u8>, Waiting>>,
    /// Tasks finished lately: a page of the queue read before a task
    /// finished still lists it, and must not start it again.
    finished: Mutex<HashMap<Vec<u8>, Instant>>,
    /// The last copy that worked, per destination bucket: a task that
    /// failed before it need not wait out its back-off (the destination
    /// is back), so a backlog drains as soon as an outage ends.
    last_success: Mutex<HashMap<String, i64>>,
    /// Destination buckets held after a transient failure.
    held: Holds,
    small: Arc<Semaphore>,
    large: Arc<Semaphore>,
    done: Notify,
    holder: String,
}

/// Runs the worker until `stop` says so.
pub async fn run(
    meta: MetaClient,
    data: Arc<DataPath>,
    destinations: Arc<dyn Destinations>,
    config: ReplicationWorkerConfig,
    stats: Arc<ReplicationStats>,
    mut stop: watch::Receiver<bool>,
) {
    if !config.enabled {
        return;
    }
    let worker = Arc::new(Worker {
        meta,
        data,
        destinations,
        config,
        stats,
        client: S3Client::new(),
        throttles: Mutex::new(HashMap::new()),
        in_flight: Mutex::new(HashSet::new()),
        waiting: Mutex::new(HashMap::new()),
        finished: Mutex::new(HashMap::new()),
        last_success: Mutex::new(HashMap::new()),
        held: Holds::default(),
        small: Arc::new(Semaphore::new(config.concurrency.max(1))),
        large: Arc::new(Semaphore::new(config.large_concurrency.max(1))),
        done: Notify::new(),
        holder: format!("replication-{:016x}", rand::random::<u64>()),
    });
    let mut lease_until = Instant::now();
    loop {
        let idle = Duration::from_millis(config.poll_ms.max(10));
        if Instant::now() >= lease_until {
            match worker
                .meta
                .take_lease(LEASE, &worker.holder, LEASE_TTL_MS)
                .await
            {
                Ok(true) => lease_until = Instant::now() + Duration::from_millis(LEASE_TTL_MS / 3),
                Ok(false) => {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "replication lease not taken");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            }
        }
        let (started, pages) = match Arc::clone(&worker).dispatch().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "reading the replication queue failed");
                (0, 0)
            }
        };
        if started == 0 {
            // A long queue with nothing to start (its destinations held or
            // backing off) is read again less often: 20 ms a page, at most
            // a second.
            let pace =
                idle.max(Duration::from_millis(20 * pages as u64).min(Duration::from_secs(1)));
            tokio::select! {
                () = tokio::time::sleep(pace) => {}
                () = worker.done.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        } else if *stop.borrow() {
            return;
        }
    }
}

impl Worker {
    /// Starts the due tasks there is room for; how many, and how many
    /// pages of the queue it read.
    async fn dispatch(self: Arc<Self>) -> Result<(usize, usize), MetaError> {
        let now = now_ms();
        let mut after = Vec::new();
        let mut started = 0;
        let mut pages = 0;
        loop {
            if self.small.available_permits() == 0 && self.large.available_permits() == 0 {
                break;
            }
            let page_read = Instant::now();
            let page = self.meta.replication_tasks(after.clone(), PAGE).await?;
            pages += 1;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = last.clone();
            let full = page.len() < PAGE as usize;
            for (key, task) in page {
                if task.failed || (task.not_before_ms > now && !self.back_since(&key)) {
                    continue;
                }
                let lane = if task.size >= self.config.large_bytes {
                    &self.large
                } else {
                    &self.small
                };
                let Ok(permit) = Arc::clone(lane).try_acquire_owned() else {
                    continue;
                };
                if self
                    .finished
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&key)
                    .is_some_and(|at| *at >= page_read)
                {
                    continue;
                }
                if self
                    .in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(&key)
                {
                    continue;
                }
                let allowed = self.held.admit(&key, &task.destinations, now);
                if allowed.is_empty() {
                    continue;
                }
                self.in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key.clone());
                started += 1;
                self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
                let worker = Arc::clone(&self);
                tokio::spawn(async move {
                    worker.task(&key, &task, &allowed).await;
                    worker.held.release(&key, &allowed);
                    {
                        let mut finished =
                            worker.finished.lock().unwrap_or_else(|e| e.into_inner());
                        if finished.len() >= 4096 {
                            finished.retain(|_, at| at.elapsed() < Duration::from_secs(30));
                        }
                        finished.insert(key.clone(), Instant::now());
                    }
                    worker
                        .in_flight
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&key);
                    worker.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                    worker.done.notify_one();
                });
            }
            if full {
                break;
            }
        }
        Ok((started, pages))
    }

    /// Copies one task's version to each destination in `allowed` and
    /// reports.
    async fn task(&self, key: &[u8], task: &ReplicationTask, allowed: &[String]) {
        let version = match self
            .meta
            .get_version(&task.bucket, &task.key, VersionRef::Id(task.order))
            .await
        {
            Ok(v) => Some(v.object),
            Err(MetaError::NoSuchVersion | MetaError::NoSuchKey | MetaError::NoSuchBucket) => None,
            Err(e) => {
                tracing::debug!(error = %e, "reading a version to replicate failed");
                return;
            }
        };
        for dest in allowed {
            let outcome = match &version {
                // Removed before it was copied: nothing to copy.
                None => ReplicationOutcome::Completed,
                Some(v) => self.copy(task, v, dest).await,
            };
            self.held
                .settle(key, dest, &outcome, version.is_some(), now_ms());
            match &outcome {
                ReplicationOutcome::Completed => {
                    if version.is_some() {
                        let lag = (now_ms() - task.enqueued_ms).max(0) as u64;
                        self.stats.copied(&task.bucket, dest, lag, task.size);
                        self.last_success
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(dest.clone(), now_ms());
                    }
                    self.waiting
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(key);
                }
                ReplicationOutcome::Retry { error, .. } => {
                    self.stats.error(&task.bucket, dest, error, false);
                    let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                    if waiting.len() < 1_000_000 {
                        waiting.insert(key.to_vec(), (now_ms(), task.destinations.clone()));
                    }
                }
                ReplicationOutcome::Failed { error } => {
                    self.stats.error(&task.bucket, dest, error, true)
                }
            }
            if let Err(e) = self
                .meta
                .replication_done((key.to_vec(), task.enqueued_ms), dest, outcome)
                .await
            {
                // The task stays queued: it is copied again (kept once).
                tracing::warn!(error = %e, "recording a replication outcome failed");
                return;
            }
        }
    }

    /// True when a destination of waiting task `key` took a copy since the
    /// task's last attempt failed: its back-off is over.
    fn back_since(&self, key: &[u8]) -> bool {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let Some((failed_ms, dests)) = waiting.get(key) else {
            return false;
        };
        // At most one early try a second: a version that keeps failing
        // while others get through does not spin.
        if now_ms() - failed_ms < 1_000 {
            return false;
        }
        let success = self.last_success.lock().unwrap_or_else(|e| e.into_inner());
        dests
            .iter()
            .any(|d| success.get(d).is_some_and(|ok| ok > failed_ms))
    }

    /// A retry after a transient failure, later each time.
    fn retry(task: &ReplicationTask, error: String) -> ReplicationOutcome {
        let backoff = (1_000i64 << task.attempts.min(6)).min(MAX_BACKOFF_MS);
        let jitter = rand::random_range(0..=backoff / 4);
        ReplicationOutcome::Retry {
            error,
            not_before_ms: now_ms() + backoff + jitter,
        }
    }

    fn throttle(&self, endpoint: &str) -> Arc<Throttle> {
        let mut t = self.throttles.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            t.entry(endpoint.to_owned())
                .or_insert_with(|| Arc::new(Throttle::new(self.config.bandwidth_bytes_per_sec))),
        )
    }

    /// Copies version `v` of `task` to bucket `dest`.
    async fn copy(
        &self,
        task: &ReplicationTask,
        v: &ObjectVersion,
        dest: &str,
    ) -> ReplicationOutcome {
        let target = match self.destinations.target(dest).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                return ReplicationOutcome::Failed {
                    error: format!("NoSuchBucket: the destination bucket {dest} does not exist"),
                };
            }
            Err(e) => return Self::retry(task, e),
        };
        let path = format!("/{dest}/{}", task.key);
        let mut headers = vec![
            (REPLICA_VERSION.to_owned(), version_id(task.order)),
            (
                REPLICA_LAST_MODIFIED.to_owned(),
                v.row.last_modified_ms.to_string(),
            ),
        ];
        let timeout = Duration::from_secs(60 + v.row.size / (256 * 1024));
        if matches!(task.kind, ReplicationKind::Tags | ReplicationKind::Lock) {
            return self.copy_change(task, v, &target, &path, headers).await;
        }
        // An SSE-C version's key is its client's: it cannot be read here,
        // so it is not replicated (as S3 did before it replicated SSE-C).
        if task.kind == ReplicationKind::Version
            && matches!(Sse::of(&v.row.system_headers), Ok(Some(s)) if s.is_customer())
        {
            return ReplicationOutcome::Failed {
                error: "encrypted with a customer-provided key (SSE-C): not replicated".into(),
            };
        }
        let answer = match task.kind {
            ReplicationKind::Marker => {
                self.client
                    .send(
                        &target,
                        "DELETE",
                        &path,
                        &[],
                        &headers,
                        (s3_client::full(Bytes::new()), 0),
                        timeout,
                    )
                    .await
            }
            ReplicationKind::Version if v.row.parts_count.is_some() => {
                headers.extend(version_headers(v));
                return match self.copy_multipart(task, v, &target, &path, headers).await {
                    Ok(()) => ReplicationOutcome::Completed,
                    Err(outcome) => outcome,
                };
            }
            ReplicationKind::Version | ReplicationKind::Tags | ReplicationKind::Lock => {
                headers.extend(version_headers(v));
                let body = match self.body(v, &target.endpoint).await {
                    Ok(b) => b,
                    Err(e) => return Self::retry(task, format!("reading the version: {e}")),
                };
                self.client
                    .send(
                        &target,
                        "PUT",
                        &path,
                        &[],
                        &headers,
                        (body, v.row.size),
                        timeout,
                    )
                    .await
            }
        };
        match Self::judge(task, &target, answer) {
            Ok(_) => ReplicationOutcome::Completed,
            Err(outcome) => outcome,
        }
    }

    /// Copies a change of version `v`'s tags or lock: PutObjectTagging, or
    /// PutObjectRetention with the legal hold beside it, of that version,
    /// as a replica's change. The version not there yet is a transient
    /// failure (its own task may still be on its way).
    async fn copy_change(
        &self,
        task: &ReplicationTask,
        v: &ObjectVersion,
        target: &S3Target,
        path: &str,
        mut headers: Vec<(String, String)>,
    ) -> ReplicationOutcome {
        let id = version_id(task.order);
        let (query, body): ([(&str, &str); 2], String) = if task.kind == ReplicationKind::Tags {
            let tags: String = v
                .row
                .tags
                .iter()
                .map(|(k, val)| {
                    format!(
                        "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                        xml_escape(k),
                        xml_escape(val)
                    )
                })
                .collect();
            (
                [("tagging", ""), ("versionId", id.as_str())],
                format!("<Tagging><TagSet>{tags}</TagSet></Tagging>"),
            )
        } else {
            let retention = match v.version.retention {
                Some(r) => {
                    let mode = match r.mode {
                        LockMode::Governance => "GOVERNANCE",
                        LockMode::Compliance => "COMPLIANCE",
                    };
                    let until = rfc3339(r.until_ms).unwrap_or_default();
                    format!("<Mode>{mode}</Mode><RetainUntilDate>{until}</RetainUntilDate>")
                }
                None => String::new(),
            };
            if let Some(hold) = v.version.legal_hold {
                headers.push((
                    REPLICA_LEGAL_HOLD.to_owned(),
                    if hold { "ON" } else { "OFF" }.to_owned(),
                ));
            }
            (
                [("retention", ""), ("versionId", id.as_str())],
                format!("<Retention>{retention}</Retention>"),
            )
        };
        use base64::Engine;
        let md5 = {
            use md5::Digest;
            base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body.as_bytes()))
        };
        headers.push(("content-md5".to_owned(), md5));
        headers.push(("content-type".to_owned(), "application/xml".to_owned()));
        let len = body.len() as u64;
        let answer = self
            .client
            .send(
                target,
                "PUT",
                path,
                &query,
                &headers,
                (s3_client::full(Bytes::from(body)), len),
                Duration::from_secs(60),
            )
            .await;
        match answer {
            Ok(a) if a.status == http::StatusCode::NOT_FOUND => Self::retry(
                task,
                format!("the version is not at {} yet", target.endpoint),
            ),
            other => match Self::judge(task, target, other) {
                Ok(_) => ReplicationOutcome::Completed,
                Err(outcome) => outcome,
            },
        }
    }

    /// A destination's answer: the successful one, or the outcome of a
    /// failure (transient: retried; permanent: FAILED).
    fn judge(
        task: &ReplicationTask,
        target: &S3Target,
        answer: Result<s3_client::S3Answer, s3_client::Unreachable>,
    ) -> Result<s3_client::S3Answer, ReplicationOutcome> {
        match answer {
            Err(e) => Err(Self::retry(task, e.to_string())),
            // CompleteMultipartUpload may fail in a 200.
            Ok(a) if a.status.is_success() && a.error_code().is_none() => Ok(a),
            Ok(a) => {
                let code = a.error_code().unwrap_or_else(|| a.status.to_string());
                let error = format!("{} from {}", code, target.endpoint);
                let transient = a.status.is_success()
                    || a.status.is_server_error()
                    || a.status.is_redirection()
                    || a.status == http::StatusCode::TOO_MANY_REQUESTS
                    || a.status == http::StatusCode::REQUEST_TIMEOUT;
                if transient {
                    Err(Self::retry(task, error))
                } else {
                    Err(ReplicationOutcome::Failed { error })
                }
            }
        }
    }

    /// Copies a multipart version part by part, with its part boundaries
    /// (so the destination computes the same ETag and part count): an
    /// upload created as the replica (`headers`), each part streamed, the
    /// upload completed; aborted on a failure.
    async fn copy_multipart(
        &self,
        task: &ReplicationTask,
        v: &ObjectVersion,
        target: &S3Target,
        path: &str,
        mut headers: Vec<(String, String)>,
    ) -> Result<(), ReplicationOutcome> {
        let ObjectData::Parts(parts) = &v.row.data else {
            return Err(ReplicationOutcome::Failed {
                error: "a multipart version without parts".into(),
            });
        };
        if let Some(c) = &v.row.checksum {
            headers.push(("x-amz-checksum-algorithm".into(), c.algorithm.name().into()));
            headers.push(("x-amz-checksum-type".into(), c.kind.name().into()));
        }
        let small = Duration::from_secs(60);
        let created = self
            .client
            .send(
                target,
                "POST",
                path,
                &[("uploads", "")],
                &headers,
                (s3_client::full(Bytes::new()), 0),
                small,
            )
            .await;
        let created = Self::judge(task, target, created)?;
        let upload_id = xml_field(&created.body, "UploadId")
            .ok_or_else(|| Self::retry(task, format!("no UploadId from {}", target.endpoint)))?;
        let result = self
            .send_parts(task, v, parts, target, path, &upload_id)
            .await;
        if result.is_err() {
            let _ = self
                .client
                .send(
                    target,
                    "DELETE",
                    path,
                    &[("uploadId", upload_id.as_str())],
                    &[],
                    (s3_client::full(Bytes::new()), 0),
                    small,
                )
                .await;
        }
        result
    }

    /// The parts of a multipart copy, then its completion.
    async fn send_parts(
        &self,
        task: &ReplicationTask,
        v: &ObjectVersion,
        parts: &[shale_common::PartLayout],
        target: &S3Target,
        path: &str,
        upload_id: &str,
    ) -> Result<(), ReplicationOutcome> {
        use base64::Engine;
        let mut done = String::from("<CompleteMultipartUpload>");
        for (i, part) in parts.iter().enumerate() {
            let number = part.number.to_string();
            let mut headers = Vec::new();
            if let Some(c) = &v.row.checksum
                && let Some(digest) = c.parts.get(i)
            {
                headers.push((
                    c.algorithm.header().to_owned(),
                    base64::engine::general_purpose::STANDARD.encode(digest),
                ));
            }
            let one = ObjectVersion {
                row: shale_metadata::ObjectRow {
                    size: part.size,
                    data: ObjectData::Parts(vec![part.clone()]),
                    ..v.row.clone()
                },
                version: v.version.clone(),
            };
            let body = self
                .body(&one, &target.endpoint)
                .await
                .map_err(|e| Self::retry(task, format!("reading part {number}: {e}")))?;
            let answer = self
                .client
                .send(
                    target,
                    "PUT",
                    path,
                    &[("partNumber", number.as_str()), ("uploadId", upload_id)],
                    &headers,
                    (body, part.size),
                    Duration::from_secs(60 + part.size / (256 * 1024)),
                )
                .await;
            Self::judge(task, target, answer)?;
            // An upload with a checksum wants each part's in the list.
            let checksum = match &v.row.checksum {
                Some(c) => c.parts.get(i).map_or_else(String::new, |d| {
                    let name = format!("Checksum{}", c.algorithm.name());
                    let value = base64::engine::general_purpose::STANDARD.encode(d);
                    format!("<{name}>{value}</{name}>")
                }),
                None => String::new(),
            };
            done.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>\"{}\"</ETag>{checksum}</Part>",
                part.etag
            ));
        }
        done.push_str("</CompleteMultipartUpload>");
        let len = done.len() as u64;
        let answer = self
            .client
            .send(
                target,
                "POST",
                path,
                &[("uploadId", upload_id)],
                &[("content-type".to_owned(), "application/xml".to_owned())],
                (s3_client::full(Bytes::from(done)), len),
                Duration::from_secs(120),
            )
            .await;
        Self::judge(task, target, answer).map(drop)
    }

    /// The version's bytes, streamed from the data path (throttled): its
    /// plaintext, when it is encrypted (the destination seals it again
    /// under its own keys, asked by `x-amz-server-side-encryption`).
    async fn body(&self, v: &ObjectVersion, endpoint: &str) -> Result<s3_client::Body, String> {
        let throttle = self.throttle(endpoint);
        let key = match Sse::of(&v.row.system_headers).map_err(|e| e.to_string())? {
            Some(sse) => Some(Arc::new(
                self.data
                    .object_key(&sse, None)
                    .await
                    .map_err(|e| e.to_string())?,
            )),
            None => None,
        };
        match &v.row.data {
            ObjectData::Inline(bytes) => {
                throttle.take(bytes.len()).await;
                let plain = match &key {
                    Some(k) => Bytes::from(
                        DataPath::open_inline(bytes, v.row.size, k).map_err(|e| e.to_string())?,
                    ),
                    None => Bytes::copy_from_slice(bytes),
                };
                Ok(s3_client::full(plain))
            }
            ObjectData::Parts(parts) => {
                let stream = self
                    .data
                    .read_plain(parts, key, v.row.parts_count.is_some(), 0, v.row.size)
                    .await
                    .map_err(|e| e.to_string())?;
                use futures::StreamExt;
                let stream = stream.then(move |piece| {
                    let throttle = Arc::clone(&throttle);
                    async move {
                        if let Ok(b) = &piece {
                            throttle.take(b.len()).await;
                        }
                        piece.map_err(|e| Box::new(e) as s3_client::BoxError)
                    }
                });
                Ok(s3_client::streamed(stream))
            }
        }
    }
}

/// Text escaped for an XML element.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A time in ms as RFC 3339 (Object Lock dates).
fn rfc3339(ms: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The text of the first `<name>` element of an XML answer.
fn xml_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("<{name}>"))? + name.len() + 2;
    let len = text[start..].find(&format!("</{name}>"))?;
    Some(text[start..start + len].to_owned())
}

/// The headers that carry a version's metadata, tags, checksum and lock.
fn version_headers(v: &ObjectVersion) -> Vec<(String, String)> {
    let row = &v.row;
    let mut h = Vec::new();
    if let Some(t) = &row.content_type {
        h.push(("content-type".to_owned(), t.clone()));
    }
    for (name, value) in &row.system_headers {
        if !name.eq_ignore_ascii_case(REPLICATION_STATUS) && !name.starts_with("x-shale-") {
            h.push((name.to_ascii_lowercase(), value.clone()));
        }
    }
    // An encrypted version is sent as plaintext over the link and
    // encrypted again by the destination, under its own master key
    // (SSE-S3) or its own default KMS key (SSE-KMS: KMS keys are a
    // region's own).
    if let Ok(Some(sse)) = Sse::of(&row.system_headers)
        && !sse.is_customer()
    {
        h.push((
            "x-amz-server-side-encryption".to_owned(),
            sse.algorithm().to_owned(),
        ));
    }
    for (name, value) in &row.user_metadata {
        h.push((
            format!("x-amz-meta-{}", name.to_ascii_lowercase()),
            shale_common::mail_safe(value),
        ));
    }
    if !row.tags.is_empty() {
        let tags = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&row.tags)
            .finish();
        h.push(("x-amz-tagging".to_owned(), tags));
    }
    if let Some(c) = &row.checksum
        && row.parts_count.is_none()
    {
        use base64::Engine;
        h.push((
            c.algorithm.header().to_owned(),
            base64::engine::general_purpose::STANDARD.encode(&c.value),
        ));
    }
    if let Some(r) = v.version.retention {
        let mode = match r.mode {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        };
        let until =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.until_ms) * 1_000_000)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                });
        if let Some(until) = until {
            h.push(("x-amz-object-lock-mode".to_owned(), mode.to_owned()));
            h.push(("x-amz-object-lock-retain-until-date".to_owned(), until));
        }
    }
    if v.version.legal_hold == Some(true) {
        h.push(("x-amz-object-lock-legal-hold".to_owned(), "ON".to_owned()));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pairs_lag_is_kept_per_minute() {
        let stats = ReplicationStats::default();
        stats.copied("src", "dst", 100, 1);
        stats.copied("src", "dst", 300, 1);
        stats.copied("src", "other", 7, 1);
        let pairs = stats.pairs();
        assert_eq!(pairs.len(), 2);
        // (Both copies fall in this minute, or the first in the last one.)
        let history = &pairs[0].lag_history;
        let copies: u64 = history.iter().map(|m| m.copies).sum();
        assert_eq!(copies, 2);
        let last = history.last().expect("a minute");
        assert_eq!(last.minute_unix_ms % 60_000, 0);
        assert_eq!(last.max_ms, 300);
        if history.len() == 1 {
            assert_eq!(last.mean_ms, 200);
        }
        assert_eq!(pairs[1].lag_history.len(), 1);
        assert_eq!(pairs[1].lag_history[0].max_ms, 7);
    }

    #[test]
    fn an_xml_text_is_escaped() {
        assert_eq!(xml_escape("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;");
    }

    fn retry() -> ReplicationOutcome {
        ReplicationOutcome::Retry {
            error: "connection refused".into(),
            not_before_ms: 0,
        }
    }

    fn dests(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_failing_destination_is_held_and_probed_by_one_task() {
        let holds = Holds::default();
        let both = dests(&["down", "up"]);
        assert_eq!(holds.admit(b"t1", &both, 0), both);
        holds.settle(b"t1", "down", &retry(), true, 0);
        holds.settle(b"t1", "up", &ReplicationOutcome::Completed, true, 0);
        // Held for a second: the next tasks go only to the other bucket.
        assert_eq!(holds.admit(b"t2", &both, 500), dests(&["up"]));
        assert!(holds.admit(b"t3", &dests(&["down"]), 999).is_empty());
        // The hold over, one task probes; the others still wait.
        assert_eq!(
            holds.admit(b"t4", &dests(&["down"]), 1_000),
            dests(&["down"])
        );
        assert!(holds.admit(b"t5", &dests(&["down"]), 1_001).is_empty());
        // Tasks started before the hold fail late: no longer hold.
        holds.settle(b"t0", "down", &retry(), true, 1_002);
        assert!(holds.admit(b"t5", &dests(&["down"]), 1_003).is_empty());
        // The probe fails: held twice as long (plus up to a quarter).
        holds.settle(b"t4", "down", &retry(), true, 1_100);
        assert!(holds.admit(b"t5", &dests(&["down"]), 3_099).is_empty());
        assert_eq!(
            holds.admit(b"t5", &dests(&["down"]), 3_700),
            dests(&["down"])
        );
        // The probe gets through: released for every task.
        holds.settle(b"t5", "down", &ReplicationOutcome::Completed, true, 3_800);
        assert_eq!(
            holds.admit(b"t6", &dests(&["down"]), 3_801),
            dests(&["down"])
        );
        assert_eq!(
            holds.admit(b"t7", &dests(&["down"]), 3_801),
            dests(&["down"])
        );
    }

    #[test]
    fn a_hold_grows_to_its_ceiling_and_a_probe_that_stops_early_is_freed() {
        let holds = Holds::default();
        let d = dests(&["down"]);
        holds.settle(b"t0", "down", &retry(), true, 0);
        let mut now = 0;
        for i in 1..20u8 {
            now += MAX_HOLD_MS + MAX_HOLD_MS / 4 + 1;
            let key = [i];
            assert_eq!(holds.admit(&key, &d, now), d, "probe {i}");
            holds.settle(&key, "down", &retry(), true, now);
        }
        // Never held past the ceiling (with its jitter).
        now += MAX_HOLD_MS + MAX_HOLD_MS / 4 + 1;
        assert_eq!(holds.admit(b"p", &d, now), d);
        // A probe that ends without an answer frees the next one at once.
        holds.release(b"p", &d);
        assert_eq!(holds.admit(b"q", &d, now), d);
        // A probe whose version was gone (nothing sent) says nothing.
        holds.settle(b"q", "down", &ReplicationOutcome::Completed, false, now);
        assert_eq!(holds.admit(b"r", &d, now), d);
        // A permanent answer releases the hold.
        holds.settle(
            b"r",
            "down",
            &ReplicationOutcome::Failed {
                error: "AccessDenied".into(),
            },
            true,
            now,
        );
        assert_eq!(holds.admit(b"s", &d, now), d);
        assert_eq!(holds.admit(b"t", &d, now), d);
    }
}
