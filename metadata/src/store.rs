//! `MetaStore`: the catalogue over RocksDB.
//!
//! Every method is synchronous (RocksDB blocks); the service calls them from
//! `spawn_blocking`, except the point reads it first tries from memory
//! (`memory_reads.rs`). Every change of one request is one `WriteBatch` written
//! with a synced WAL, so a request is all-or-nothing across column families
//! and durable before it is acknowledged.
//!
//! Under Raft (`crate::raft`), the state machine runs each committed entry
//! through [`MetaStore::apply_entry`]: the request's own batch then also
//! carries the Raft bookkeeping (last-applied log id, membership, the
//! request's dedup row), is written without its own fsync, and the apply
//! syncs the WAL once for all its entries (group commit). Everything the
//! write path would take from the clock comes from the entry instead
//! ([`ApplyCtx`]), so every replica computes the same rows.
//!
//! Serialisation of read-check-write: bucket creation and deletion take
//! `buckets_lock` exclusively; every object and upload write takes it shared
//! plus one of `STRIPES` mutexes chosen by (bucket, key). So two writers of
//! one key are serialised (one If-None-Match wins), and no write can slip into
//! a bucket between DeleteBucket's emptiness check and its commit.

use crate::keys;
use crate::types::*;
use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Options,
    ReadOptions, WriteBatch, WriteOptions,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shale_common::checksum::{self, ChecksumAlgorithm, ChecksumType};
use shale_common::sealing::{self, SealingKeys};
use shale_common::{ChunkPlacement, NodeId, NodeInfo, ObjectData, PartLayout};
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Result of the store's operations.
pub type Result<T> = std::result::Result<T, MetaError>;

const CF_BUCKETS: &str = "buckets";
const CF_OBJECTS: &str = "objects";
const CF_UPLOADS: &str = "uploads";
const CF_PARTS: &str = "parts";
const CF_ACCESS_KEYS: &str = "access_keys";
const CF_CLUSTER: &str = "cluster";
const CF_GC_QUEUE: &str = "gc_queue";
/// Bucket configurations (CORS, later lifecycle, versioning, replication):
/// one row per bucket and kind, so the bucket row's format never changes
/// for them. Removed with the bucket, in the same batch.
const CF_BUCKET_CONFIG: &str = "bucket_config";
/// The completed multipart upload that made each object's current version
/// ([`CompletedUpload`], keyed like `objects`), so a repeated
/// CompleteMultipartUpload is answered again. Written with the completion,
/// deleted with the object it made (row format v6).
const CF_COMPLETED_UPLOADS: &str = "completed_uploads";
/// Raft's log entries, by index (big-endian u64); not part of snapshots.
pub(crate) const CF_RAFT_LOG: &str = "raft_log";
/// Raft's log-store state: vote, last purged log id; not part of snapshots.
pub(crate) const CF_RAFT_STATE: &str = "raft_state";
/// The state machine's own bookkeeping: last applied log id, membership.
pub(crate) const CF_RAFT_APPLIED: &str = "raft_applied";
/// Answers of applied writes by request id, so a retried write is answered
/// again instead of applied twice (see `crate::raft`).
pub(crate) const CF_RAFT_DEDUP: &str = "raft_dedup";
/// The same rows by apply time, for pruning: `time_ms (BE) ++ request id`.
pub(crate) const CF_RAFT_DEDUP_AGE: &str = "raft_dedup_age";
/// Column families that make up the replicated state (what a snapshot holds).
pub(crate) const CF_STATE_MACHINE: [&str; 17] = [
    CF_BUCKETS,
    CF_OBJECTS,
    CF_UPLOADS,
    CF_PARTS,
    CF_ACCESS_KEYS,
    CF_CLUSTER,
    CF_GC_QUEUE,
    CF_BUCKET_CONFIG,
    CF_COMPLETED_UPLOADS,
    CF_VERSIONS,
    CF_NULL_VERSIONS,
    CF_REGIONS,
    CF_REPLICATION,
    CF_USERS,
    CF_RAFT_APPLIED,
    CF_RAFT_DEDUP,
    CF_RAFT_DEDUP_AGE,
];
/// Column families of the Raft log store, kept out of snapshots.
const CF_LOG_STORE: [&str; 2] = [CF_RAFT_LOG, CF_RAFT_STATE];

/// The stripe that serialises changes of the cluster map (no bucket is
/// named with a NUL, so no object key shares its identity).
const CLUSTER_LOCK: &str = "\0cluster";
/// Number of key-lock stripes; collisions only cost a little concurrency.
const STRIPES: usize = 64;
/// Longest object key S3 accepts, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// Highest part number S3 accepts.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// Smallest size of every part but the last of a multipart upload.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Most entries one list call returns, whatever the caller asks (S3's cap).
pub const MAX_LIST: u32 = 1000;

/// The RocksDB-backed catalogue. Cheap to share behind an `Arc`.
pub struct MetaStore {
    db: DB,
    buckets_lock: RwLock<()>,
    stripes: Vec<Mutex<()>>,
    gc_seq: AtomicU64,
    /// Set while a Raft entry is applied (entries are applied one at a time).
    apply: Mutex<Option<ApplyCtx>>,
    /// The secrets key access-key secrets are sealed under (none: stored
    /// as given, as in-process tests run).
    sealing: RwLock<Option<SealingKeys>>,
}

/// What a Raft entry fixes for its apply: the clock and the GC sequence.
/// Every replica applies an entry with the same context, so computes the
/// same rows.
pub(crate) struct ApplyCtx {
    /// The entry's time (set by the leader when it proposed it).
    now_ms: i64,
    /// The last GC queue sequence number used: starts at the entry's log
    /// index << 20, + 1 per queued list (through every request of a batch
    /// entry).
    gc_seq: u64,
    /// The request's batch, held back so the apply can add its bookkeeping.
    pending: Option<WriteBatch>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(v).map_err(|e| MetaError::Internal(format!("encode: {e}")))
}

/// The encoding of `tags` at its default, an empty list: its length,
/// varint 0 (added to buckets, objects and uploads in row format v2).
const V2_TAGS: &[u8] = &[0x00];
/// The encoding of the checksum fields at their defaults: `None` (objects,
/// uploads) or an empty list (parts), one zero byte either way (row format v3).
const V3_CHECKSUMS: &[u8] = &[0x00];
/// An access key's `grants` at its default, `None` (row format v4).
const V4_GRANTS: &[u8] = &[0x00];
/// A `cluster` row's state, last heartbeat and health at their defaults:
/// `Active`, 0 and `None` (row format v4: `NodeInfo` → `NodeRecord`).
const V4_NODE: &[u8] = &[0x00, 0x00, 0x00];
/// `owner` at its default, `None` (buckets, objects and uploads: row format v5).
const V5_OWNER: &[u8] = &[0x00];
/// `cluster` key of the map's epoch (node keys are 4 bytes).
const EPOCH_KEY: &[u8] = b"epoch";

/// The encodings of the fields each row format appended to the rows of
/// column family `cf`, at their defaults, oldest first (see the row format
/// notes in `types`). A row format that adds a field adds its default here.
fn added_fields(cf: &str) -> &'static [&'static [u8]] {
    match cf {
        CF_BUCKETS => &[V2_TAGS, V5_OWNER],
        CF_OBJECTS => &[V2_TAGS, V3_CHECKSUMS, V5_OWNER, V7_VERSION],
        CF_UPLOADS => &[V2_TAGS, V3_CHECKSUMS, V5_OWNER],
        CF_PARTS => &[V3_CHECKSUMS],
        CF_ACCESS_KEYS => &[V4_GRANTS],
        CF_CLUSTER => &[V4_NODE],
        _ => &[],
    }
}

/// Decodes a row of column family `cf`, whatever row format it was written in.
///
/// Postcard writes a struct as its fields in order, without framing, so an
/// older row is exactly a newer row without its trailing fields: decoding it
/// runs out of input right where they start, and appending their default
/// encoding makes it whole. The decoder tries the newest format first and
/// then pads with the defaults of one more format at a time (the fields of
/// v3, then those of v2 and v3, …), so a row is padded with exactly the
/// fields its format lacked. A format version byte was not an option:
/// existing rows start with a varint or a string length, so no byte value is
/// free to mark a version without rewriting every row.
fn decode<T: DeserializeOwned>(raw: &[u8], cf: &str) -> Result<T> {
    let corrupt = |e: postcard::Error| MetaError::Internal(format!("corrupt {cf} row: {e}"));
    let added = added_fields(cf);
    let mut result = postcard::from_bytes(raw);
    for missing in 1..=added.len() {
        if !matches!(result, Err(postcard::Error::DeserializeUnexpectedEnd)) {
            break;
        }
        let mut padded = raw.to_vec();
        for tail in &added[added.len() - missing..] {
            padded.extend_from_slice(tail);
        }
        result = postcard::from_bytes(&padded);
    }
    result.map_err(corrupt)
}

/// Most tags a bucket may carry (S3's limit; objects have a lower one, which
/// the gateway checks). A guard on row size, not the S3 validation.
pub const MAX_TAGS: usize = 50;

fn check_tags(tags: &[(String, String)]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(MetaError::InvalidArgument(format!(
            "at most {MAX_TAGS} tags"
        )));
    }
    Ok(())
}

/// ETags arrive from clients with or without their quotes.
fn strip_quotes(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// A write's `If-Match`: the key's current object must exist (else
/// NoSuchKey, as S3 answers) and have this ETag (else PreconditionFailed).
/// `*` asks only that it exists.
fn check_if_match(current: Option<&ObjectRow>, if_match: Option<&str>) -> Result<()> {
    let Some(want) = if_match else {
        return Ok(());
    };
    let want = strip_quotes(want);
    match current {
        None => Err(MetaError::NoSuchKey),
        Some(o) if want == "*" || want == o.etag => Ok(()),
        Some(_) => Err(MetaError::PreconditionFailed),
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(MetaError::InvalidArgument(format!(
            "object key must be 1..={MAX_KEY_LEN} bytes"
        )));
    }
    Ok(())
}

/// Upload rows use 0x00 as a separator, so neither the key nor the id of an
/// upload may contain one.
fn check_upload_names(key: &str, upload_id: &str) -> Result<()> {
    check_key(key)?;
    if key.contains('\0') {
        return Err(MetaError::InvalidArgument(
            "object key of a multipart upload must not contain NUL".into(),
        ));
    }
    if upload_id.is_empty() || upload_id.contains('\0') {
        return Err(MetaError::InvalidArgument(
            "upload id must be non-empty without NUL".into(),
        ));
    }
    Ok(())
}

/// An empty delimiter means no delimiter.
fn delimiter_of(d: &Option<String>) -> Option<&str> {
    d.as_deref().filter(|d| !d.is_empty())
}

/// The most bytes of write-ahead log the catalogue keeps (see
/// [`MetaStore::open`]).
pub const MAX_TOTAL_WAL_BYTES: u64 = 128 << 20;

/// Bits per key of the table files' bloom filters: about 1% false
/// positives, 1.25 bytes per row.
const BLOOM_BITS_PER_KEY: f64 = 10.0;

impl MetaStore {
    /// Opens (or creates) the catalogue at `path`, creating missing column
    /// families. Column families unknown to this version are opened too, so a
    /// rollback does not refuse to start.
    pub fn open(path: &Path) -> Result<MetaStore> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.set_bottommost_compression_type(DBCompressionType::Zstd);
        // Bound the write-ahead log: a column family written rarely would
        // otherwise keep every WAL file since its last flush alive (about
        // twenty families share the WAL), and a restart replays them all
        // (750 MB and 9 s at 100k objects in `benches/scale`). Past this
        // size RocksDB flushes the families holding the oldest file.
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        // A bloom filter in every table file: a point read of an absent key
        // (each PUT of a new key asks for its current row, each Raft entry
        // for its request's answer) is then answered without reading a data
        // block of every level, which grew with the catalogue (issue 18).
        // Files written before have none and are read as before.
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
        opts.set_block_based_table_factory(&table);
        // Every column family is either replicated state or log store, so a
        // new one cannot be opened without landing in one list (and so in
        // snapshots, or deliberately not).
        let mut names: Vec<String> = CF_STATE_MACHINE
            .iter()
            .chain(&CF_LOG_STORE)
            .map(|s| s.to_string())
            .collect();
        if let Ok(existing) = DB::list_cf(&opts, path) {
            for name in existing {
                if name != "default" && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let cfs = names
            .into_iter()
            .map(|n| ColumnFamilyDescriptor::new(n, opts.clone()));
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
        Ok(MetaStore {
            db,
            buckets_lock: RwLock::new(()),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            gc_seq: AtomicU64::new(seed << 32),
            apply: Mutex::new(None),
            sealing: RwLock::new(None),
        })
    }

    // ---- plumbing: the narrow seam over RocksDB ----

    fn cf(&self, name: &str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| MetaError::Internal(format!("column family {name} missing")))
    }

    fn get<T: DeserializeOwned>(&self, cf: &str, key: &[u8]) -> Result<Option<T>> {
        match self.get_pinned(cf, key)? {
            Some(raw) => Ok(Some(decode(&raw, cf)?)),
            None => Ok(None),
        }
    }

    /// The database, for the Raft log store and state machine.
    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    fn apply_ctx(&self) -> MutexGuard<'_, Option<ApplyCtx>> {
        self.apply.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The time of the write being made: the Raft entry's, else the clock's.
    fn now_ms(&self) -> i64 {
        match &*self.apply_ctx() {
            Some(ctx) => ctx.now_ms,
            None => now_ms(),
        }
    }

    /// Commits a request's batch. Outside Raft: synced at once. Inside an
    /// apply: held back for [`MetaStore::apply_entry`], which adds the
    /// entry's bookkeeping to it. (A second batch of one request would
    /// first write the held one, so reads always see earlier writes.)
    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut ctx = self.apply_ctx();
        if let Some(ctx) = ctx.as_mut() {
            if let Some(earlier) = ctx.pending.replace(batch) {
                self.db.write(earlier)?;
            }
            return Ok(());
        }
        drop(ctx);
        let started = std::time::Instant::now();
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        crate::metrics::record_commit(started);
        Ok(())
    }

    /// Runs one request of a committed Raft entry (with the entry's time;
    /// its GC queue entries numbered after `gc_seq`, which is advanced
    /// past them) and returns its answer and its batch, unwritten: the state
    /// machine adds its bookkeeping rows and writes it.
    pub(crate) fn apply_entry(
        &self,
        req: MetaRequest,
        now_ms: i64,
        gc_seq: &mut u64,
    ) -> (Result<MetaResponse>, WriteBatch) {
        *self.apply_ctx() = Some(ApplyCtx {
            now_ms,
            gc_seq: *gc_seq,
            pending: None,
        });
        let undurable = req.writes_undurable_chunks();
        let result = self.execute(req);
        let (mut batch, seq) = self
            .apply_ctx()
            .take()
            .map(|c| (c.pending.unwrap_or_default(), c.gc_seq))
            .unwrap_or_default();
        *gc_seq = seq.max(*gc_seq);
        if undurable
            && result.is_ok()
            && let Err(e) = self.note_undurable(&mut batch)
        {
            return (Err(e), WriteBatch::default());
        }
        (result, batch)
    }

    /// RocksDB's estimate of the keys in each column family (cheap: read
    /// from memory, no scan), for metrics.
    pub fn estimated_keys(&self) -> Vec<(&'static str, u64)> {
        CF_STATE_MACHINE
            .iter()
            .chain(&CF_LOG_STORE)
            .filter_map(|&name| {
                let cf = self.db.cf_handle(name)?;
                let n = self
                    .db
                    .property_int_value_cf(cf, "rocksdb.estimate-num-keys")
                    .ok()??;
                Some((name, n))
            })
            .collect()
    }

    /// An iterator over `[lower, successor(lower))` of `cf`, so a scan never
    /// reads rows outside the range (another bucket, another upload).
    fn range_iter(&self, cf: &str, lower: &[u8]) -> Result<rocksdb::DBRawIterator<'_>> {
        self.may_scan()?;
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(lower.to_vec());
        if let Some(upper) = keys::prefix_successor(lower) {
            ro.set_iterate_upper_bound(upper);
        }
        Ok(self.db.raw_iterator_cf_opt(self.cf(cf)?, ro))
    }

    /// Queues `chunks` for deletion in the same batch as the change that
    /// unreferenced them.
    fn queue_gc(&self, batch: &mut WriteBatch, chunks: &[&ChunkPlacement]) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let (now, seq) = match self.apply_ctx().as_mut() {
            Some(ctx) => {
                ctx.gc_seq += 1;
                (ctx.now_ms, ctx.gc_seq)
            }
            None => (now_ms(), self.gc_seq.fetch_add(1, Ordering::Relaxed)),
        };
        let key = keys::gc_key(now.max(0) as u64, seq);
        batch.put_cf(self.cf(CF_GC_QUEUE)?, key, encode(chunks)?);
        Ok(())
    }

    // A poisoned lock guards `()`: there is no state to be inconsistent.
    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.buckets_lock.read().unwrap_or_else(|e| e.into_inner())
    }

    fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.buckets_lock.write().unwrap_or_else(|e| e.into_inner())
    }

    fn stripe(&self, bucket: &str, key: &str) -> MutexGuard<'_, ()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (bucket, key).hash(&mut h);
        let i = (h.finish() % STRIPES as u64) as usize;
        self.stripes[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn require_bucket(&self, bucket: &str) -> Result<()> {
        keys::bucket_prefix(bucket)?;
        if self.get_pinned(CF_BUCKETS, bucket.as_bytes())?.is_none() {
            return Err(MetaError::NoSuchBucket);
        }
        Ok(())
    }

    fn require_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Upload> {
        check_upload_names(key, upload_id)?;
        self.require_bucket(bucket)?;
        self.get(CF_UPLOADS, &keys::upload_key(bucket, key, upload_id)?)?
            .ok_or(MetaError::NoSuchUpload)
    }

    /// All part rows of an upload, by part number.
    fn load_parts(&self, upload_id: &str) -> Result<BTreeMap<u32, PartRow>> {
        let mut it = self.range_iter(CF_PARTS, &keys::parts_prefix(upload_id))?;
        it.seek_to_first();
        let mut parts = BTreeMap::new();
        while let Some(raw) = it.value() {
            let part: PartRow = decode(raw, CF_PARTS)?;
            parts.insert(part.number, part);
            it.next();
        }
        it.status()?;
        Ok(parts)
    }

    /// Deletes an upload row and all its parts, queueing their chunks.
    fn drop_upload(&self, batch: &mut WriteBatch, upload_row_key: &[u8], id: &str) -> Result<()> {
        batch.delete_cf(self.cf(CF_UPLOADS)?, upload_row_key);
        for (number, part) in self.load_parts(id)? {
            batch.delete_cf(self.cf(CF_PARTS)?, keys::part_key(id, number));
            self.queue_gc(batch, &part_chunks(&part.layout))?;
        }
        Ok(())
    }

    // ---- buckets ----

    /// Creates a bucket with no recorded owner (as before row format v5);
    /// see [`MetaStore::create_owned_bucket`].
    pub fn create_bucket(&self, name: &str, region: &str) -> Result<Bucket> {
        self.create_owned_bucket(name, region, None)
    }

    /// Creates a bucket owned by access key `owner`;
    /// `BucketAlreadyOwnedByYou` if it exists (the gateway tells another
    /// key's bucket apart by its grants).
    pub fn create_owned_bucket(
        &self,
        name: &str,
        region: &str,
        owner: Option<&str>,
    ) -> Result<Bucket> {
        self.create_bucket_with(name, region, owner, &[])
    }

    /// Creates a bucket with its first configurations, in one batch (see
    /// [`MetaStore::create_owned_bucket`]): a bucket created with Object
    /// Lock has it, and versioning, from its first moment.
    pub fn create_bucket_with(
        &self,
        name: &str,
        region: &str,
        owner: Option<&str>,
        configs: &[BucketConfig],
    ) -> Result<Bucket> {
        keys::bucket_prefix(name)?;
        let _g = self.exclusive();
        if self.get::<Bucket>(CF_BUCKETS, name.as_bytes())?.is_some() {
            return Err(MetaError::BucketAlreadyOwnedByYou);
        }
        // In the namespace region: a name another region claimed is taken.
        self.check_unclaimed(name, region, owner)?;
        let bucket = Bucket {
            name: name.to_string(),
            region: region.to_string(),
            created_ms: self.now_ms(),
            tags: Vec::new(),
            owner: owner.map(str::to_owned),
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_BUCKETS)?, name, encode(&bucket)?);
        for config in configs {
            let key = keys::bucket_config_key(name, config.kind())?;
            batch.put_cf(self.cf(CF_BUCKET_CONFIG)?, key, encode(config)?);
        }
        self.write(batch)?;
        Ok(bucket)
    }

    /// Deletes an empty bucket and aborts its in-progress uploads.
    pub fn delete_bucket(&self, name: &str) -> Result<()> {
        let bp = keys::bucket_prefix(name)?;
        let _g = self.exclusive();
        self.require_bucket(name)?;
        let mut it = self.range_iter(CF_OBJECTS, &bp)?;
        it.seek_to_first();
        if it.valid() || self.has_versions(name)? {
            return Err(MetaError::BucketNotEmpty);
        }
        it.status()?;
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_BUCKETS)?, name);
        // Completion records go with their objects, so an empty bucket
        // has none; any left (by an older binary) go with the bucket.
        for cf in [CF_BUCKET_CONFIG, CF_COMPLETED_UPLOADS, CF_NULL_VERSIONS] {
            let mut it = self.range_iter(cf, &bp)?;
            it.seek_to_first();
            while let Some(k) = it.key() {
                batch.delete_cf(self.cf(cf)?, k);
                it.next();
            }
            it.status()?;
        }
        let mut it = self.range_iter(CF_UPLOADS, &bp)?;
        it.seek_to_first();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let upload: Upload = decode(v, CF_UPLOADS)?;
            self.drop_upload(&mut batch, k, &upload.upload_id)?;
            it.next();
        }
        it.status()?;
        // Grants on the bucket go with it: a bucket made later under the
        // same name must not be open to this one's grantees.
        let keys_cf = self.cf(CF_ACCESS_KEYS)?;
        for mut key in self.access_key_rows()? {
            if let Some(grants) = key.grants.as_mut()
                && grants.iter().any(|(b, _)| b == name)
            {
                grants.retain(|(b, _)| b != name);
                batch.put_cf(keys_cf, key.access_key.as_bytes(), encode(&key)?);
            }
        }
        self.drop_user_grants(name, &mut batch)?;
        self.write(batch)
    }

    /// The bucket's configuration of `kind`, if it has one
    /// (`NoSuchBucket` if the bucket does not exist).
    pub fn get_bucket_config(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
    ) -> Result<Option<BucketConfig>> {
        let key = keys::bucket_config_key(bucket, kind)?;
        let _g = self.shared();
        self.require_bucket(bucket)?;
        self.get(CF_BUCKET_CONFIG, &key)
    }

    /// Sets (replaces) the bucket's configuration of `config`'s kind.
    pub fn put_bucket_config(&self, bucket: &str, config: &BucketConfig) -> Result<()> {
        let key = keys::bucket_config_key(bucket, config.kind())?;
        // Versioning, the lock and replication check each other: exclusive,
        // so no two changes pass their checks side by side. Others shared: a
        // concurrent DeleteBucket (exclusive) either runs first, and this
        // fails with NoSuchBucket, or after, and removes this row.
        let (_exclusive, _shared);
        if matches!(
            config,
            BucketConfig::Versioning(_)
                | BucketConfig::ObjectLock(_)
                | BucketConfig::Replication(_)
        ) {
            _exclusive = self.exclusive();
        } else {
            _shared = self.shared();
        }
        self.require_bucket(bucket)?;
        self.check_config_change(bucket, config)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_BUCKET_CONFIG)?, key, encode(config)?);
        self.write(batch)
    }

    /// Removes the bucket's configuration of `kind` (no error if it had none).
    pub fn delete_bucket_config(&self, bucket: &str, kind: BucketConfigKind) -> Result<()> {
        if matches!(
            kind,
            BucketConfigKind::Versioning | BucketConfigKind::ObjectLock
        ) {
            return Err(MetaError::InvalidArgument(
                "a bucket's versioning and Object Lock are never removed".into(),
            ));
        }
        let key = keys::bucket_config_key(bucket, kind)?;
        let _g = self.shared();
        self.require_bucket(bucket)?;
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_BUCKET_CONFIG)?, key);
        self.write(batch)
    }

    /// Every row of column family `cf`, decoded, in key order (for the small
    /// families read whole: buckets, cluster map).
    fn all_rows<T: DeserializeOwned>(&self, cf: &str) -> Result<Vec<T>> {
        let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
        it.seek_to_first();
        let mut out = Vec::new();
        while let Some(v) = it.value() {
            out.push(decode(v, cf)?);
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The bucket, if it exists.
    pub fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        keys::bucket_prefix(name)?;
        self.get(CF_BUCKETS, name.as_bytes())
    }

    /// Every bucket, sorted by name.
    pub fn list_buckets(&self) -> Result<Vec<Bucket>> {
        self.all_rows(CF_BUCKETS)
    }

    /// Replaces the bucket's tags (an empty list deletes them). Taken under
    /// the exclusive bucket lock, like every other change of a bucket row, so
    /// it cannot resurrect a bucket that DeleteBucket is removing.
    pub fn put_bucket_tags(&self, name: &str, tags: Vec<(String, String)>) -> Result<()> {
        keys::bucket_prefix(name)?;
        check_tags(&tags)?;
        let _g = self.exclusive();
        let mut bucket: Bucket = self
            .get(CF_BUCKETS, name.as_bytes())?
            .ok_or(MetaError::NoSuchBucket)?;
        bucket.tags = tags;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_BUCKETS)?, name, encode(&bucket)?);
        self.write(batch)
    }

    // ---- objects ----

    /// Writes an object as the key's new latest version (see
    /// [`MetaStore::write_object`]), returning the row it replaced for good
    /// (whose chunks are queued for GC in the same batch): in a versioned
    /// bucket, none.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        row: ObjectRow,
        if_none_match: bool,
        if_match: Option<&str>,
    ) -> Result<Option<ObjectRow>> {
        let lock = LockRequest::default();
        let (_, replaced) =
            self.write_object(bucket, key, row, (if_none_match, if_match), &lock)?;
        Ok(replaced)
    }

    /// The key's current object (NoSuchBucket / NoSuchKey; a key whose
    /// latest version is a delete marker has none).
    pub fn get_object(&self, bucket: &str, key: &str) -> Result<ObjectRow> {
        check_key(key)?;
        if let Some(v) = self.current(&keys::object_key(bucket, key)?)? {
            return Ok(v.row);
        }
        self.require_bucket(bucket)?;
        Err(MetaError::NoSuchKey)
    }

    /// Replaces the tags of the key's current object (an empty list
    /// deletes them), leaving every other field as it is: the ETag and the
    /// last-modified time do not change (NoSuchBucket / NoSuchKey). The read
    /// and the write happen under the key's lock, so a racing PUT or DELETE
    /// of the key is either entirely before (its row gets the tags) or
    /// entirely after (its row replaces this one); tags never land on a
    /// deleted key.
    pub fn put_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> Result<()> {
        self.put_version_tags(bucket, key, VersionRef::Latest, tags)?;
        Ok(())
    }

    /// Deletes an object (in a versioned bucket: adds a delete marker); a
    /// missing key is success, as in S3. Returns the row deleted for good.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRow>> {
        let okey = keys::object_key(bucket, key)?;
        let before = if self.versioning(bucket)?.is_none() {
            self.current(&okey)?.map(|v| v.row)
        } else {
            None
        };
        self.delete_version(bucket, key, VersionRef::Latest, false, None)?;
        Ok(before)
    }

    /// ListObjectsV2: keys after `start_after` with `prefix`, rolled up by
    /// `delimiter`. A `start_after` equal to a common prefix skips every key
    /// under it (it is how the gateway continues after a rolled-up prefix).
    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        start_after: Option<&str>,
        max_keys: u32,
    ) -> Result<ListObjectsResult> {
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let bp_len = keys::bucket_prefix(bucket)?.len();
        self.require_bucket(bucket)?;
        let mut out = ListObjectsResult::default();
        let max = max_keys.min(MAX_LIST) as usize;
        if max == 0 {
            return Ok(out);
        }
        let lower = keys::object_key(bucket, prefix)?;
        let mut start = lower.clone();
        if let Some(sa) = start_after {
            let sa_raw = keys::object_key(bucket, sa)?;
            let from = match delimiter.and_then(|d| keys::common_prefix(sa, prefix, d)) {
                Some(cp) if cp == sa => keys::prefix_successor(&sa_raw),
                _ => Some(keys::key_successor(&sa_raw)),
            };
            match from {
                Some(f) if f > start => start = f,
                Some(_) => {}
                None => return Ok(out),
            }
        }
        let mut it = self.range_iter(CF_OBJECTS, &lower)?;
        it.seek(&start);
        let mut count = 0usize;
        let mut last: Option<String> = None;
        while let Some(raw) = it.key() {
            let name = keys::decode_object_key(raw, bp_len)?;
            if count == max {
                out.is_truncated = true;
                break;
            }
            count += 1;
            if let Some(cp) = delimiter.and_then(|d| keys::common_prefix(&name, prefix, d)) {
                // Seek past the whole common prefix instead of reading every
                // key under it.
                let cp = cp.to_string();
                let next = keys::prefix_successor(&keys::object_key(bucket, &cp)?);
                out.common_prefixes.push(cp.clone());
                last = Some(cp);
                match next {
                    Some(n) => it.seek(n),
                    None => break,
                }
                continue;
            }
            let row = decode::<ObjectVersion>(it.value().unwrap_or_default(), CF_OBJECTS)?.row;
            out.objects.push(ObjectSummary {
                key: name.clone(),
                size: row.size,
                etag: row.etag,
                last_modified_ms: row.last_modified_ms,
                owner: row.owner,
            });
            last = Some(name);
            it.next();
        }
        it.status()?;
        if out.is_truncated {
            out.next_marker = last;
        }
        Ok(out)
    }

    // ---- cluster map, leases, cursors ----

    /// Takes or renews lease `name` for `holder` until `ttl_ms` from now
    /// (the Raft entry's time); false while someone else holds it. Kept in
    /// the `cluster` family under `lease/<name>` (node rows have 4-byte
    /// keys).
    pub fn take_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> Result<bool> {
        let key = format!("lease/{name}");
        let _g = self.stripe("\0lease", name);
        let now = self.now_ms();
        let current: Option<(String, i64)> = self.get(CF_CLUSTER, key.as_bytes())?;
        if let Some((other, until)) = current
            && other != holder
            && until > now
        {
            return Ok(false);
        }
        let until = now.saturating_add(ttl_ms.min(i64::MAX as u64) as i64);
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(CF_CLUSTER)?,
            key.as_bytes(),
            encode(&(holder, until))?,
        );
        self.write(batch)?;
        Ok(true)
    }

    /// Stores a background worker's progress, in the `cluster` family
    /// under `cursor/<name>` (an empty cursor removes it).
    pub fn set_cursor(&self, name: &str, cursor: &[u8]) -> Result<()> {
        let key = format!("cursor/{name}");
        let mut batch = WriteBatch::default();
        if cursor.is_empty() {
            batch.delete_cf(self.cf(CF_CLUSTER)?, key.as_bytes());
        } else {
            batch.put_cf(self.cf(CF_CLUSTER)?, key.as_bytes(), cursor);
        }
        self.write(batch)
    }

    /// A worker's progress stored by [`MetaStore::set_cursor`].
    pub fn get_cursor(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let key = format!("cursor/{name}");
        Ok(self
            .db
            .get_pinned_cf(self.cf(CF_CLUSTER)?, key.as_bytes())?
            .map(|v| v.to_vec()))
    }

    /// The map's epoch (0 before the first node joined).
    fn epoch(&self) -> Result<u64> {
        Ok(self.get(CF_CLUSTER, EPOCH_KEY)?.unwrap_or(0))
    }

    /// Writes `record`, and a new epoch when `changed` (membership or state).
    fn put_node(&self, record: &NodeRecord, changed: bool) -> Result<()> {
        let cf = self.cf(CF_CLUSTER)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, keys::node_key(record.info.id), encode(record)?);
        if changed {
            batch.put_cf(cf, EPOCH_KEY, encode(&(self.epoch()? + 1))?);
        }
        self.write(batch)
    }

    fn node(&self, id: NodeId) -> Result<Option<NodeRecord>> {
        self.get(CF_CLUSTER, &keys::node_key(id))
    }

    /// Inserts a storage node, or updates its address and zone, by id; its
    /// state and heartbeat are kept. A new node or a changed one bumps the
    /// epoch.
    pub fn register_node(&self, node: &NodeInfo) -> Result<()> {
        let _g = self.stripe(CLUSTER_LOCK, "");
        let (record, changed) = match self.node(node.id)? {
            Some(r) if r.info == *node => return Ok(()),
            Some(r) => (
                NodeRecord {
                    info: node.clone(),
                    ..r
                },
                true,
            ),
            None => (
                NodeRecord {
                    info: node.clone(),
                    state: NodeState::Active,
                    last_heartbeat_ms: 0,
                    health: None,
                },
                true,
            ),
        };
        self.put_node(&record, changed)
    }

    /// Records a node's heartbeat: registers it (as [`Self::register_node`])
    /// and keeps its health and the time it arrived. Its state is kept: a
    /// removed node that still runs stays removed.
    pub fn heartbeat(&self, hb: &Heartbeat) -> Result<()> {
        let _g = self.stripe(CLUSTER_LOCK, "");
        let old = self.node(hb.node.id)?;
        let changed = old.as_ref().is_none_or(|r| r.info != hb.node);
        let record = NodeRecord {
            info: hb.node.clone(),
            state: old.map(|r| r.state).unwrap_or_default(),
            last_heartbeat_ms: hb.received_ms,
            health: Some(hb.health.clone()),
        };
        self.put_node(&record, changed)
    }

    /// Sets a node's state (drain, remove, reactivate); bumps the epoch when
    /// it changes. `InvalidArgument` for an unknown node.
    pub fn set_node_state(&self, id: NodeId, state: NodeState) -> Result<()> {
        let _g = self.stripe(CLUSTER_LOCK, "");
        let mut record = self
            .node(id)?
            .ok_or_else(|| MetaError::InvalidArgument(format!("no storage node {id}")))?;
        if record.state == state {
            return Ok(());
        }
        record.state = state;
        self.put_node(&record, true)
    }

    /// Every node record, sorted by id.
    pub fn node_records(&self) -> Result<Vec<NodeRecord>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_CLUSTER)?);
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.len() == 4 {
                out.push(decode(v, CF_CLUSTER)?);
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The cluster map with its epoch, read at `now_ms` (Unix ms).
    pub fn cluster_view(&self, now_ms: i64) -> Result<ClusterView> {
        Ok(ClusterView {
            epoch: self.epoch()?,
            now_ms,
            nodes: self.node_records()?,
        })
    }

    /// Every storage node (removed ones too: their chunks may still be
    /// read), sorted by id.
    pub fn cluster_map(&self) -> Result<Vec<NodeInfo>> {
        Ok(self.node_records()?.into_iter().map(|r| r.info).collect())
    }

    /// Up to `limit` oldest entries of the GC queue, each a list of chunks to
    /// delete (for tests).
    pub fn gc_pending(&self, limit: usize) -> Result<Vec<Vec<ChunkPlacement>>> {
        Ok(self
            .gc_entries(limit, u64::MAX)?
            .into_iter()
            .map(|e| e.chunks)
            .collect())
    }

    /// Up to `limit` oldest entries of the GC queue queued before
    /// `queued_before_ms` (Unix ms).
    pub fn gc_entries(&self, limit: usize, queued_before_ms: u64) -> Result<Vec<GcEntry>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_GC_QUEUE)?);
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if out.len() == limit {
                break;
            }
            let queued_ms = k
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| MetaError::Internal("corrupt gc_queue key".into()))?;
            if queued_ms >= queued_before_ms {
                break;
            }
            out.push(GcEntry {
                key: k.to_vec(),
                queued_ms,
                chunks: decode(v, CF_GC_QUEUE)?,
            });
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Removes GC queue entries (their chunks are gone), in one synced batch.
    /// Keys that are not (or no longer) in the queue are ignored.
    pub fn gc_done(&self, keys: &[Vec<u8>]) -> Result<()> {
        let cf = self.cf(CF_GC_QUEUE)?;
        let mut batch = WriteBatch::default();
        for key in keys {
            if key.len() != 16 {
                return Err(MetaError::InvalidArgument(
                    "a GC queue key is 16 bytes".into(),
                ));
            }
            batch.delete_cf(cf, key);
        }
        self.write(batch)
    }

    // ---- the healer's view of layouts ----

    /// Up to `limit` owners of erasure-coded layouts after `cursor`: object
    /// rows (inline ones skipped) in key order, then multipart uploads in
    /// progress with the layouts of their parts. `cursor` is empty for the
    /// first page, else the `next` of the previous one (`[0][objects key]`
    /// or `[1][uploads key]`). Rows written meanwhile may or may not be seen.
    pub fn scan_layouts(&self, cursor: &[u8], limit: u32) -> Result<LayoutPage> {
        let limit = limit.clamp(1, MAX_LIST) as usize;
        let mut page = LayoutPage::default();
        let (phase, after) = match cursor.split_first() {
            None => (0u8, None),
            Some((p, rest)) if *p <= 2 => (*p, Some(rest.to_vec())),
            Some(_) => return Err(MetaError::InvalidArgument("bad layout cursor".into())),
        };
        if phase == 0 {
            let mut it = self.db.raw_iterator_cf(self.cf(CF_OBJECTS)?);
            match &after {
                Some(a) => it.seek(keys::key_successor(a)),
                None => it.seek_to_first(),
            }
            let mut last: Option<Vec<u8>> = None;
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if page.entries.len() == limit
                    && let Some(l) = &last
                {
                    page.next = Some([&[0u8][..], l].concat());
                    return Ok(page);
                }
                let row = decode::<ObjectVersion>(v, CF_OBJECTS)?.row;
                if let ObjectData::Parts(parts) = row.data {
                    let (bucket, key) = split_object_key(k)?;
                    page.entries.push(LayoutEntry {
                        owner: LayoutOwner::Object { bucket, key },
                        parts,
                    });
                }
                last = Some(k.to_vec());
                it.next();
            }
            it.status()?;
        }
        if phase == 2 {
            let after = after.as_deref().filter(|a| !a.is_empty());
            self.scan_version_layouts(&mut page, after, limit)?;
            return Ok(page);
        }
        let mut it = self.db.raw_iterator_cf(self.cf(CF_UPLOADS)?);
        match (phase, after.as_deref()) {
            (1, Some(a)) if !a.is_empty() => it.seek(keys::key_successor(a)),
            _ => it.seek_to_first(),
        }
        let mut last: Option<Vec<u8>> = None;
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if page.entries.len() == limit {
                if let Some(l) = last {
                    page.next = Some([&[1u8][..], &l].concat());
                } else {
                    // A full page of objects: continue with the uploads.
                    page.next = Some(vec![1u8]);
                }
                return Ok(page);
            }
            let upload: Upload = decode(v, CF_UPLOADS)?;
            let parts = self
                .load_parts(&upload.upload_id)?
                .into_values()
                .map(|p| p.layout)
                .collect();
            page.entries.push(LayoutEntry {
                owner: LayoutOwner::Upload {
                    bucket: upload.bucket,
                    key: upload.key,
                    upload_id: upload.upload_id,
                },
                parts,
            });
            last = Some(k.to_vec());
            it.next();
        }
        it.status()?;
        if page.entries.len() == limit {
            // A full page: continue with the versions.
            page.next = Some(vec![2u8]);
            return Ok(page);
        }
        self.scan_version_layouts(&mut page, None, limit)?;
        Ok(page)
    }

    /// Replaces chunk `shard` of segment `segment` of part `part_number` of
    /// `owner` with `new` if it is still `old`; false (nothing written) when
    /// the owner, the part or that chunk changed meanwhile. Decided under the
    /// key's lock, so a racing overwrite, delete or completion either comes
    /// before (the swap finds another chunk and does nothing) or after.
    pub fn swap_chunk(
        &self,
        owner: &LayoutOwner,
        (part_number, segment, shard): (u32, u32, u32),
        old: &ChunkPlacement,
        new: &ChunkPlacement,
    ) -> Result<bool> {
        if old.chunk_id != new.chunk_id {
            return Err(MetaError::InvalidArgument(
                "a swapped chunk keeps its id".into(),
            ));
        }
        let _b = self.shared();
        match owner {
            LayoutOwner::Object { bucket, key } => {
                let okey = keys::object_key(bucket, key)?;
                return self.swap_in_version(
                    (bucket, key, CF_OBJECTS, &okey),
                    (part_number, segment, shard),
                    old,
                    new,
                );
            }
            LayoutOwner::Version { bucket, key, seq } => {
                let vkey = keys::version_key(bucket, key, *seq)?;
                return self.swap_in_version(
                    (bucket, key, CF_VERSIONS, &vkey),
                    (part_number, segment, shard),
                    old,
                    new,
                );
            }
            LayoutOwner::Upload {
                bucket,
                key,
                upload_id,
            } => {
                let _k = self.stripe(bucket, key);
                if self.require_upload(bucket, key, upload_id).is_err() {
                    return Ok(false);
                }
                let pkey = keys::part_key(upload_id, part_number);
                let Some(mut part) = self.get::<PartRow>(CF_PARTS, &pkey)? else {
                    return Ok(false);
                };
                if !swap_in(&mut part.layout, segment, shard, old, new) {
                    return Ok(false);
                }
                let mut batch = WriteBatch::default();
                batch.put_cf(self.cf(CF_PARTS)?, &pkey, encode(&part)?);
                self.write(batch)?;
            }
        }
        Ok(true)
    }

    /// Runs one RPC request against the store.
    pub fn execute(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        match req {
            Q::CreateBucket { .. }
            | Q::DeleteBucket { .. }
            | Q::GetBucket { .. }
            | Q::ListBuckets
            | Q::PutBucketTags { .. }
            | Q::GetBucketConfig { .. }
            | Q::PutBucketConfig { .. }
            | Q::DeleteBucketConfig { .. }
            | Q::CreateBucketWith { .. } => self.execute_bucket(req),
            Q::PutObject { .. }
            | Q::GetObject { .. }
            | Q::DeleteObject { .. }
            | Q::ListObjects { .. }
            | Q::PutObjectTags { .. } => self.execute_object(req),
            Q::WriteObject { .. }
            | Q::GetVersion { .. }
            | Q::DeleteVersion { .. }
            | Q::FinishUpload { .. }
            | Q::PutVersionTags { .. }
            | Q::PutVersionAcl { .. }
            | Q::ListVersions { .. }
            | Q::SetRetention { .. }
            | Q::SetLegalHold { .. }
            | Q::Expire { .. } => self.execute_version(req),
            Q::CreateUpload { .. }
            | Q::PutPart { .. }
            | Q::ListParts { .. }
            | Q::CompleteUpload { .. }
            | Q::AbortUpload { .. }
            | Q::GetUpload { .. }
            | Q::ListUploads { .. } => self.execute_upload(req),
            Q::PutAccessKey { .. }
            | Q::GetAccessKey { .. }
            | Q::RegisterNode { .. }
            | Q::ClusterMap
            | Q::GcPending { .. }
            | Q::GcDone { .. }
            | Q::ScanLayouts { .. }
            | Q::SwapChunk { .. }
            | Q::Heartbeat { .. }
            | Q::ClusterStatus
            | Q::SetNodeState { .. }
            | Q::ListAccessKeys
            | Q::DeleteAccessKey { .. }
            | Q::SetGrant { .. }
            | Q::TakeLease { .. }
            | Q::SetCursor { .. }
            | Q::GetCursor { .. } => self.execute_cluster(req),
            Q::PutRegion { .. }
            | Q::ListRegions
            | Q::ClaimBucket { .. }
            | Q::ReleaseBucket { .. }
            | Q::GetClaim { .. }
            | Q::ListClaims { .. } => self.execute_region(req),
            Q::WriteReplica { .. }
            | Q::ReplicationTasks { .. }
            | Q::ReplicationDone { .. }
            | Q::ReplicationRetry { .. }
            | Q::ReplicaChange { .. }
            | Q::ReplicationResync { .. } => self.execute_replication(req),
            Q::GetIdentity { .. }
            | Q::CreateUser { .. }
            | Q::DeleteUser { .. }
            | Q::ListUsers
            | Q::SetUserPolicy { .. }
            | Q::CreateUserKey { .. }
            | Q::SetKeyDisabled { .. }
            | Q::ReplaceUsers { .. } => self.execute_users(req),
            Q::PutKmsKey { .. } | Q::ListKmsKeys => self.execute_kms(req),
            Q::ScanSse { .. } | Q::ResealSse { .. } => self.execute_sse(req),
            Q::Batch { .. } => Err(MetaError::InvalidRequest(
                "a batch is applied by the Raft state machine only".into(),
            )),
        }
    }

    /// [`Self::execute`] for buckets and their configurations.
    fn execute_bucket(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::CreateBucket {
                name,
                region,
                owner,
            } => R::Bucket(self.create_owned_bucket(&name, &region, owner.as_deref())?),
            Q::CreateBucketWith {
                name,
                region,
                owner,
                configs,
            } => R::Bucket(self.create_bucket_with(&name, &region, owner.as_deref(), &configs)?),
            Q::DeleteBucket { name } => {
                self.delete_bucket(&name)?;
                R::Unit
            }
            Q::GetBucket { name } => R::MaybeBucket(self.get_bucket(&name)?),
            Q::ListBuckets => R::Buckets(self.list_buckets()?),
            Q::PutBucketTags { bucket, tags } => {
                self.put_bucket_tags(&bucket, tags)?;
                R::Unit
            }
            Q::GetBucketConfig { bucket, kind } => {
                R::MaybeBucketConfig(self.get_bucket_config(&bucket, kind)?)
            }
            Q::PutBucketConfig { bucket, config } => {
                self.put_bucket_config(&bucket, &config)?;
                R::Unit
            }
            Q::DeleteBucketConfig { bucket, kind } => {
                self.delete_bucket_config(&bucket, kind)?;
                R::Unit
            }
            _ => return Err(misrouted()),
        })
    }

    /// [`Self::execute`] for objects.
    fn execute_object(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::PutObject {
                bucket,
                key,
                row,
                if_none_match,
                if_match,
            } => R::MaybeObject(self.put_object(
                &bucket,
                &key,
                row,
                if_none_match,
                if_match.as_deref(),
            )?),
            Q::GetObject { bucket, key } => R::Object(self.get_object(&bucket, &key)?),
            Q::DeleteObject { bucket, key } => R::MaybeObject(self.delete_object(&bucket, &key)?),
            Q::ListObjects {
                bucket,
                prefix,
                delimiter,
                start_after,
                max_keys,
            } => R::ListObjects(self.list_objects(
                &bucket,
                &prefix,
                delimiter_of(&delimiter),
                start_after.as_deref(),
                max_keys,
            )?),
            Q::PutObjectTags { bucket, key, tags } => {
                self.put_object_tags(&bucket, &key, tags)?;
                R::Unit
            }
            _ => return Err(misrouted()),
        })
    }

    /// [`Self::execute`] for access keys, the cluster map, the GC queue, layouts and leases.
    fn execute_cluster(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::PutAccessKey { key } => {
                self.put_access_key(&key)?;
                R::Unit
            }
            Q::GetAccessKey { access_key } => R::MaybeAccessKey(self.get_access_key(&access_key)?),
            Q::RegisterNode { node } => {
                self.register_node(&node)?;
                R::Unit
            }
            Q::ClusterMap => R::Nodes(self.cluster_map()?),
            Q::GcPending {
                limit,
                queued_before_ms,
            } => R::GcEntries(self.gc_entries(limit as usize, queued_before_ms)?),
            Q::GcDone { keys } => {
                self.gc_done(&keys)?;
                R::Unit
            }
            Q::ScanLayouts { cursor, limit } => R::Layouts(self.scan_layouts(&cursor, limit)?),
            Q::SwapChunk {
                owner,
                part_number,
                segment,
                shard,
                old,
                new,
            } => R::Swapped(self.swap_chunk(&owner, (part_number, segment, shard), &old, &new)?),
            Q::Heartbeat { heartbeat } => {
                self.heartbeat(&heartbeat)?;
                R::Unit
            }
            Q::ClusterStatus => R::Cluster(self.cluster_view(now_ms())?),
            Q::SetNodeState { node, state } => {
                self.set_node_state(node, state)?;
                R::Unit
            }
            Q::ListAccessKeys => R::AccessKeys(self.list_access_keys()?),
            Q::DeleteAccessKey { access_key } => {
                self.delete_access_key(&access_key)?;
                R::Unit
            }
            Q::SetGrant {
                access_key,
                bucket,
                permission,
            } => {
                self.set_grant(&access_key, &bucket, permission)?;
                R::Unit
            }
            Q::TakeLease {
                name,
                holder,
                ttl_ms,
            } => R::Lease(self.take_lease(&name, &holder, ttl_ms)?),
            Q::SetCursor { name, cursor } => {
                self.set_cursor(&name, &cursor)?;
                R::Unit
            }
            Q::GetCursor { name } => R::Cursor(self.get_cursor(&name)?),
            _ => return Err(misrouted()),
        })
    }
}

/// A request handed to the wrong `execute_*` family: a bug.
fn misrouted() -> MetaError {
    MetaError::Internal("request routed to the wrong family".into())
}

/// Replaces chunk `shard` of segment `segment` of `part` with `new` if it
/// is `old`; false when it is not (or does not exist).
fn swap_in(
    part: &mut PartLayout,
    segment: u32,
    shard: u32,
    old: &ChunkPlacement,
    new: &ChunkPlacement,
) -> bool {
    match part
        .segments
        .get_mut(segment as usize)
        .and_then(|s| s.chunks.get_mut(shard as usize))
    {
        Some(chunk) if chunk == old => {
            *chunk = new.clone();
            true
        }
        _ => false,
    }
}

/// `(bucket, key)` of an `objects` row key (`[len][bucket][key]`).
fn split_object_key(raw: &[u8]) -> Result<(String, String)> {
    let len = *raw
        .first()
        .ok_or_else(|| MetaError::Internal("empty objects key".into()))? as usize;
    let bucket = raw
        .get(1..1 + len)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| MetaError::Internal("objects key with a bad bucket".into()))?;
    Ok((bucket.to_string(), keys::decode_object_key(raw, 1 + len)?))
}

/// Every chunk of one part.
fn part_chunks(layout: &PartLayout) -> Vec<&ChunkPlacement> {
    layout
        .segments
        .iter()
        .flat_map(|s| s.chunks.iter())
        .collect()
}

/// The chunks of `old` that `live` does not reference. A retried write may
/// name the very chunks it replaces (the first attempt committed but its
/// answer was lost); deleting those would destroy the live version.
fn unreferenced<'a>(
    old: Vec<&'a ChunkPlacement>,
    live: &[&ChunkPlacement],
) -> Vec<&'a ChunkPlacement> {
    let live: HashSet<(u32, &str)> = live.iter().map(|c| (c.node, c.chunk_id.as_str())).collect();
    old.into_iter()
        .filter(|c| !live.contains(&(c.node, c.chunk_id.as_str())))
        .collect()
}

mod access_keys;
mod heal;
mod kms;
mod lock;
mod memory_reads;
mod regions;
mod replication;
mod sse;
#[cfg(test)]
mod tests;
mod uploads;
mod users;
mod versions;
use regions::CF_REGIONS;
use replication::CF_REPLICATION;
pub use uploads::multipart_etag;
use users::CF_USERS;
use versions::{CF_NULL_VERSIONS, CF_VERSIONS, V7_VERSION};
