//! The workloads: set-up (bucket, pre-populated keys), then `concurrency`
//! workers each running one operation after another until the budget (a
//! duration or a count) is spent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http::Method;
use http::header::ETAG;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

use super::client::{Conn, Endpoint, drain, read_all, xml_tag, xml_unescape};
use super::stats::WorkerStats;
use super::units::Mix;

/// Bytes of payload beyond the object size: each PUT starts at a random
/// offset in them, so consecutive objects differ without new allocations.
const PAYLOAD_SLACK: usize = 4096;

/// Parts of one multipart upload sent in parallel.
const PART_LANES: usize = 4;

/// Errors logged in full on stderr; the rest are only counted.
const ERRORS_LOGGED: u32 = 5;

/// What each operation of a run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// PUT new objects of `size` bytes.
    Put,
    /// GET pre-populated objects of `size` bytes.
    Get,
    /// GET/PUT/DELETE in the `--mix` ratio.
    Mixed,
    /// ListObjectsV2 (max-keys 1000) of pre-populated objects.
    List,
    /// Multipart uploads of `size` bytes in `part_size` parts.
    Multipart,
    /// ListObjectVersions (max-keys 1000) of `keys` keys with
    /// `versions_per_key` versions each; one page is one operation.
    Versions,
}

impl Mode {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Put => "put",
            Mode::Get => "get",
            Mode::Mixed => "mixed",
            Mode::List => "list",
            Mode::Multipart => "multipart",
            Mode::Versions => "versions",
        }
    }

    /// Whether the run PUTs `keys` objects before timing starts.
    pub fn populates(self) -> bool {
        matches!(self, Mode::Get | Mode::Mixed | Mode::List | Mode::Versions)
    }
}

/// The versioning state the bucket is put in before the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Versioning {
    /// Every PUT of a key adds a version.
    Enabled,
    /// A PUT replaces the key's `null` version.
    Suspended,
}

impl Versioning {
    /// The `Status` of PutBucketVersioning.
    pub fn status(self) -> &'static str {
        match self {
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
    }
}

/// When the timed phase ends.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Start no operation after this long.
    After(Duration),
    /// Run exactly this many operations (successful or not).
    Count(u64),
}

/// Everything a run needs to know.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The workload.
    pub mode: Mode,
    /// Object size in bytes.
    pub size: u64,
    /// Concurrent workers, one connection each (multipart: up to four).
    pub concurrency: usize,
    /// When to stop.
    pub stop: Stop,
    /// Weights of `mixed` mode.
    pub mix: Mix,
    /// Objects that get/mixed/list populate before timing starts.
    pub keys: u64,
    /// Part size of `multipart` mode.
    pub part_size: u64,
    /// The bucket, created if missing.
    pub bucket: String,
    /// Longest one operation may take before it counts as an error.
    pub timeout: Duration,
    /// Versioning to set on the bucket after creating it (none: leave it).
    pub versioning: Option<Versioning>,
    /// PUTs of each populated key (`versions` mode).
    pub versions_per_key: u64,
    /// Connections that populate the keys before timing starts.
    pub populate_concurrency: usize,
}

impl Plan {
    /// Versions a full ListObjectVersions pass of the populated keys lists:
    /// one per PUT when versioning is enabled, else one (`null`) per key.
    pub fn expected_versions(&self) -> u64 {
        if self.versioning == Some(Versioning::Enabled) {
            self.keys.saturating_mul(self.versions_per_key)
        } else {
            self.keys
        }
    }

    /// PUTs before timing starts.
    fn populate_puts(&self) -> u64 {
        match self.mode {
            Mode::Versions => self.keys.saturating_mul(self.versions_per_key),
            m if m.populates() => self.keys,
            _ => 0,
        }
    }
}

/// What all workers must share.
struct Shared {
    endpoint: Arc<Endpoint>,
    plan: Plan,
    payload: Bytes,
    /// Prefix of this run's keys, so runs against one bucket never collide.
    prefix: String,
    budget: Budget,
    errors_logged: AtomicU32,
    /// Full ListObjectVersions passes whose count was checked (`versions`).
    passes: AtomicU64,
}

enum Budget {
    Until(Instant),
    Left(AtomicU64),
}

impl Budget {
    /// Takes the right to start one more operation.
    fn take(&self) -> bool {
        match self {
            Budget::Until(deadline) => Instant::now() < *deadline,
            Budget::Left(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

impl Shared {
    fn populated_key(&self, i: u64) -> String {
        format!("/{}/{}/obj-{i:07}", self.plan.bucket, self.prefix)
    }

    /// A `size`-byte slice of the payload at a random offset.
    fn body(&self, rng: &mut SmallRng) -> Bytes {
        let off = rng.random_range(0..=PAYLOAD_SLACK);
        self.payload.slice(off..off + self.plan.size as usize)
    }

    fn log_error(&self, err: &anyhow::Error) {
        let n = self.errors_logged.fetch_add(1, Ordering::Relaxed);
        if n < ERRORS_LOGGED {
            eprintln!("shale-bench: error: {err:#}");
        } else if n == ERRORS_LOGGED {
            eprintln!("shale-bench: further errors are counted, not shown");
        }
    }
}

/// Runs `plan` against `endpoint`: set-up, then the timed phase. Returns the
/// merged stats and the wall-clock time of the timed phase.
pub async fn run(endpoint: Arc<Endpoint>, plan: Plan) -> Result<(WorkerStats, Duration)> {
    if plan.concurrency == 0 || plan.populate_concurrency == 0 {
        bail!("--concurrency and --populate-concurrency must be at least 1");
    }
    if plan.mode == Mode::Multipart && plan.part_size == 0 {
        bail!("--part-size must be at least 1 byte");
    }
    let size = usize::try_from(plan.size).context("--size does not fit in memory")?;
    let mut payload = vec![0u8; size + PAYLOAD_SLACK];
    SmallRng::from_os_rng().fill_bytes(&mut payload);
    let prefix = format!("bench-{:08x}", rand::random::<u32>());
    let budget = match plan.stop {
        Stop::Count(n) => Budget::Left(AtomicU64::new(n)),
        // Replaced when the timed phase starts.
        Stop::After(_) => Budget::Until(Instant::now()),
    };
    let mut shared = Shared {
        endpoint,
        plan,
        payload: Bytes::from(payload),
        prefix,
        budget,
        errors_logged: AtomicU32::new(0),
        passes: AtomicU64::new(0),
    };

    create_bucket(&shared).await?;
    if let Some(v) = shared.plan.versioning {
        put_bucket_versioning(&shared, v).await?;
    }
    let puts = shared.plan.populate_puts();
    if puts > 0 {
        let started = Instant::now();
        populate(&shared).await?;
        let secs = started.elapsed().as_secs_f64();
        // Untimed, but the rate of the versions mode's overwrites is worth
        // seeing: one line, after the set-up, on stderr.
        eprintln!(
            "shale-bench: populated {puts} PUTs in {secs:.2} s: {:.1} PUT/s",
            puts as f64 / secs.max(1e-9)
        );
    }

    let start = Instant::now();
    if let Stop::After(d) = shared.plan.stop {
        shared.budget = Budget::Until(start + d);
    }
    let shared = Arc::new(shared);
    let workers: Vec<_> = (0..shared.plan.concurrency)
        .map(|id| tokio::spawn(worker(shared.clone(), id)))
        .collect();
    let mut total = WorkerStats::default();
    for w in workers {
        total.merge(w.await.context("a worker panicked")?);
    }
    let elapsed = start.elapsed();
    if shared.plan.mode == Mode::Versions {
        eprintln!(
            "shale-bench: {} full ListObjectVersions pass(es) of {} versions checked",
            shared.passes.load(Ordering::Relaxed),
            shared.plan.expected_versions()
        );
    }
    Ok((total, elapsed))
}

async fn create_bucket(shared: &Shared) -> Result<()> {
    let mut conn = Conn::new(shared.endpoint.clone());
    let path = format!("/{}", shared.plan.bucket);
    match conn.request(Method::PUT, &path, &[], Bytes::new()).await {
        Ok(reply) => {
            drain(reply.body).await?;
            Ok(())
        }
        // A bucket from an earlier run is what we want.
        Err(e) if format!("{e}").contains("BucketAlreadyOwnedByYou") => Ok(()),
        Err(e) => Err(e.context(format!("creating bucket {}", shared.plan.bucket))),
    }
}

/// PutBucketVersioning. The body is not signed (`UNSIGNED-PAYLOAD`), and
/// S3 asks no Content-MD5 for this call.
async fn put_bucket_versioning(shared: &Shared, v: Versioning) -> Result<()> {
    let mut conn = Conn::new(shared.endpoint.clone());
    let path = format!("/{}", shared.plan.bucket);
    let body = format!(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Status>{}</Status></VersioningConfiguration>",
        v.status()
    );
    let reply = conn
        .request(Method::PUT, &path, &[("versioning", "")], Bytes::from(body))
        .await
        .with_context(|| format!("setting versioning {} on {path}", v.status()))?;
    drain(reply.body).await?;
    Ok(())
}

/// PUTs the objects that get, mixed, list and versions read, untimed, with
/// `populate_concurrency` connections: `keys` objects, and in versions mode
/// `versions_per_key` PUTs of each (interleaved, so a key's versions are
/// written concurrently when there are fewer keys than connections).
async fn populate(shared: &Shared) -> Result<()> {
    let next = AtomicU64::new(0);
    let total = shared.plan.populate_puts();
    let lanes = (0..shared.plan.populate_concurrency).map(|_| async {
        let mut conn = Conn::new(shared.endpoint.clone());
        let mut rng = SmallRng::from_os_rng();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= total {
                return Ok::<_, anyhow::Error>(());
            }
            let key = shared.populated_key(i % shared.plan.keys);
            let reply = conn
                .request(Method::PUT, &key, &[], shared.body(&mut rng))
                .await
                .context("populating the keys to read")?;
            drain(reply.body).await?;
        }
    });
    futures::future::try_join_all(lanes).await?;
    Ok(())
}

/// One worker: its connections, its own keys (mixed mode) and its stats.
struct Worker {
    shared: Arc<Shared>,
    id: usize,
    conns: Vec<Conn>,
    rng: SmallRng,
    /// Keys this worker PUT in mixed mode, oldest first: what its DELETEs
    /// remove, so a GET never races a DELETE of the same key.
    written: VecDeque<String>,
    seq: u64,
    stats: WorkerStats,
    /// Where this worker's ListObjectVersions pass resumes (`versions`).
    pass: VersionsPass,
}

/// One worker's walk through the run prefix with ListObjectVersions.
#[derive(Default)]
struct VersionsPass {
    /// `NextKeyMarker` and `NextVersionIdMarker` of the last page; `None`
    /// at the start of a pass.
    marker: Option<(String, String)>,
    /// Versions listed so far in this pass.
    listed: u64,
}

/// The operation a worker chose.
#[derive(Clone, Copy)]
enum Op {
    Put,
    Get,
    Delete,
    List,
    Multipart,
    Versions,
}

async fn worker(shared: Arc<Shared>, id: usize) -> WorkerStats {
    let lanes = if shared.plan.mode == Mode::Multipart {
        PART_LANES
    } else {
        1
    };
    let mut w = Worker {
        conns: (0..lanes)
            .map(|_| Conn::new(shared.endpoint.clone()))
            .collect(),
        shared,
        id,
        rng: SmallRng::from_os_rng(),
        written: VecDeque::new(),
        seq: 0,
        stats: WorkerStats::default(),
        pass: VersionsPass::default(),
    };
    while w.shared.budget.take() {
        let op = w.choose();
        let started = Instant::now();
        let timeout = w.shared.plan.timeout;
        let result = match tokio::time::timeout(timeout, w.run(op)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow!("operation timed out after {timeout:?}")),
        };
        match result {
            Ok(bytes) => w.stats.record(started.elapsed(), bytes),
            Err(e) => {
                w.stats.errors += 1;
                w.shared.log_error(&e);
                for c in &mut w.conns {
                    c.reset();
                }
                // A pass with a failed page cannot be counted: start over.
                w.pass = VersionsPass::default();
                // Do not spin when the endpoint is down.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    w.stats
}

impl Worker {
    fn choose(&mut self) -> Op {
        match self.shared.plan.mode {
            Mode::Put => Op::Put,
            Mode::Get => Op::Get,
            Mode::List => Op::List,
            Mode::Multipart => Op::Multipart,
            Mode::Versions => Op::Versions,
            Mode::Mixed => {
                let Mix { get, put, delete } = self.shared.plan.mix;
                let r = self.rng.random_range(0..get + put + delete);
                if r < get {
                    Op::Get
                } else if r < get + put || self.written.is_empty() {
                    // A DELETE with nothing of ours to delete becomes a PUT.
                    Op::Put
                } else {
                    Op::Delete
                }
            }
        }
    }

    fn new_key(&mut self) -> String {
        self.seq += 1;
        format!(
            "/{}/{}/w{}-{:09}",
            self.shared.plan.bucket, self.shared.prefix, self.id, self.seq
        )
    }

    /// Runs one operation; returns the payload bytes it moved.
    async fn run(&mut self, op: Op) -> Result<u64> {
        match op {
            Op::Put => {
                let key = self.new_key();
                let body = self.shared.body(&mut self.rng);
                let len = body.len() as u64;
                let reply = self.conns[0].request(Method::PUT, &key, &[], body).await?;
                drain(reply.body).await?;
                if self.shared.plan.mode == Mode::Mixed {
                    self.written.push_back(key);
                }
                Ok(len)
            }
            Op::Get => {
                let i = self.rng.random_range(0..self.shared.plan.keys);
                let key = self.shared.populated_key(i);
                let reply = self.conns[0]
                    .request(Method::GET, &key, &[], Bytes::new())
                    .await?;
                let n = drain(reply.body).await?;
                if n != self.shared.plan.size {
                    bail!(
                        "GET {key}: read {n} bytes, expected {}",
                        self.shared.plan.size
                    );
                }
                Ok(n)
            }
            Op::Delete => {
                let key = self
                    .written
                    .pop_front()
                    .expect("choose() picks DELETE only when this worker wrote a key");
                let reply = self.conns[0]
                    .request(Method::DELETE, &key, &[], Bytes::new())
                    .await?;
                drain(reply.body).await?;
                Ok(0)
            }
            Op::List => self.list().await,
            Op::Multipart => self.multipart().await,
            Op::Versions => self.versions_page().await,
        }
    }

    /// One page of ListObjectVersions (max-keys 1000) of the run prefix,
    /// resuming after the previous page's markers. At the end of a pass
    /// (`IsTruncated` false) the versions listed over the whole pass must
    /// be `Plan::expected_versions`.
    async fn versions_page(&mut self) -> Result<u64> {
        let s = self.shared.clone();
        let path = format!("/{}", s.plan.bucket);
        let prefix = format!("{}/", s.prefix);
        let mut query = vec![
            ("versions", ""),
            ("max-keys", "1000"),
            ("prefix", prefix.as_str()),
        ];
        if let Some((key, version)) = &self.pass.marker {
            query.push(("key-marker", key.as_str()));
            query.push(("version-id-marker", version.as_str()));
        }
        let reply = self.conns[0]
            .request(Method::GET, &path, &query, Bytes::new())
            .await?;
        let body = read_all(reply.body).await?;
        let text = String::from_utf8_lossy(&body);
        let on_page = text.matches("<Version>").count() as u64;
        let markers = text.matches("<DeleteMarker>").count();
        let truncated = match xml_tag(&text, "IsTruncated") {
            Some("true") => true,
            Some("false") => false,
            other => bail!("ListObjectVersions {path}: IsTruncated {other:?}"),
        };
        let expected = s.plan.expected_versions();
        let listed = self.pass.listed + on_page;
        let at = match &self.pass.marker {
            Some((k, v)) => format!("after ({k}, {v})"),
            None => "from the start".to_owned(),
        };
        if markers > 0 || on_page > 1000 || listed > expected {
            bail!(
                "ListObjectVersions {path} {at}: {on_page} versions and {markers} delete \
                 markers on the page, {listed} in the pass so far, expected {expected} in all"
            );
        }
        if truncated {
            let next = xml_tag(&text, "NextKeyMarker")
                .zip(xml_tag(&text, "NextVersionIdMarker"))
                .map(|(k, v)| (xml_unescape(k), xml_unescape(v)));
            let Some(next) = next else {
                bail!(
                    "ListObjectVersions {path} {at}: truncated without NextKeyMarker and NextVersionIdMarker"
                );
            };
            if on_page == 0 || self.pass.marker.as_ref() == Some(&next) {
                bail!(
                    "ListObjectVersions {path} {at}: truncated page made no progress ({on_page} versions, next {next:?})"
                );
            }
            self.pass = VersionsPass {
                marker: Some(next),
                listed,
            };
        } else {
            self.pass = VersionsPass::default();
            if listed != expected {
                bail!(
                    "ListObjectVersions {path}: a full pass listed {listed} versions, expected {expected}"
                );
            }
            s.passes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(body.len() as u64)
    }

    async fn list(&mut self) -> Result<u64> {
        let s = &self.shared;
        let path = format!("/{}", s.plan.bucket);
        let prefix = format!("{}/", s.prefix);
        let query = [
            ("list-type", "2"),
            ("max-keys", "1000"),
            ("prefix", prefix.as_str()),
        ];
        let reply = self.conns[0]
            .request(Method::GET, &path, &query, Bytes::new())
            .await?;
        let body = read_all(reply.body).await?;
        let text = String::from_utf8_lossy(&body);
        let listed = text.matches("<Key>").count() as u64;
        let expected = s.plan.keys.min(1000);
        if listed != expected {
            bail!("ListObjectsV2 {path}: listed {listed} keys, expected {expected}");
        }
        Ok(body.len() as u64)
    }

    async fn multipart(&mut self) -> Result<u64> {
        let key = self.new_key();
        let reply = self.conns[0]
            .request(Method::POST, &key, &[("uploads", "")], Bytes::new())
            .await?;
        let body = read_all(reply.body).await?;
        let upload_id = xml_tag(&String::from_utf8_lossy(&body), "UploadId")
            .with_context(|| format!("CreateMultipartUpload {key}: no UploadId"))?
            .to_owned();
        match self.upload_parts(&key, &upload_id).await {
            Ok(size) => Ok(size),
            Err(e) => {
                // Best effort: leave no half-finished uploads behind.
                self.conns[0].reset();
                if let Ok(r) = self.conns[0]
                    .request(
                        Method::DELETE,
                        &key,
                        &[("uploadId", &upload_id)],
                        Bytes::new(),
                    )
                    .await
                {
                    let _ = drain(r.body).await;
                }
                Err(e)
            }
        }
    }

    async fn upload_parts(&mut self, key: &str, upload_id: &str) -> Result<u64> {
        let s = self.shared.clone();
        let part_size = s.plan.part_size;
        let parts = s.plan.size.div_ceil(part_size).max(1);
        let off = self.rng.random_range(0..=PAYLOAD_SLACK);
        let object = s.payload.slice(off..off + s.plan.size as usize);
        // Lane l sends parts l+1, l+1+lanes, …, each lane on its own connection.
        let lanes = self.conns.iter_mut().enumerate().map(|(lane, conn)| {
            let object = object.clone();
            async move {
                let mut etags = Vec::new();
                let mut part = lane as u64;
                while part < parts {
                    let start = (part * part_size) as usize;
                    let end = ((part + 1) * part_size).min(object.len() as u64) as usize;
                    let number = (part + 1).to_string();
                    let reply = conn
                        .request(
                            Method::PUT,
                            key,
                            &[("partNumber", &number), ("uploadId", upload_id)],
                            object.slice(start..end),
                        )
                        .await?;
                    let etag = reply
                        .headers
                        .get(ETAG)
                        .and_then(|v| v.to_str().ok())
                        .with_context(|| format!("UploadPart {key} #{number}: no ETag"))?
                        .to_owned();
                    drain(reply.body).await?;
                    etags.push((part + 1, etag));
                    part += PART_LANES as u64;
                }
                Ok::<_, anyhow::Error>(etags)
            }
        });
        let mut etags: Vec<(u64, String)> = futures::future::try_join_all(lanes)
            .await?
            .into_iter()
            .flatten()
            .collect();
        etags.sort_unstable_by_key(|(n, _)| *n);
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag) in &etags {
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let reply = self.conns[0]
            .request(
                Method::POST,
                key,
                &[("uploadId", upload_id)],
                Bytes::from(xml),
            )
            .await?;
        let body = read_all(reply.body).await?;
        // S3 may answer CompleteMultipartUpload with 200 and an error inside:
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
        let text = String::from_utf8_lossy(&body);
        if text.contains("<Error>") {
            bail!("CompleteMultipartUpload {key}: {}", text.trim());
        }
        Ok(s.plan.size)
    }
}
