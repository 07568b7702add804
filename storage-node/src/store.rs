//! `ChunkStore`: chunks on one or more local disks, in volume files.
//!
//! A chunk lives on exactly one disk, chosen from the BLAKE3 hash of its id,
//! as one record in that disk's append-only volume files (see
//! [`crate::volume`] for the format and why). An in-memory index maps chunk
//! ids to records; it is rebuilt from the volumes when the store opens (from
//! the index checkpoint of the last stop where it holds, see
//! [`crate::checkpoint`]). A
//! write is acknowledged only once its record is synced (`fdatasync`, shared
//! by the writes that wait together: group commit); a new volume file is
//! created with file and directory synced. Deletes punch a hole over the
//! record. Chunk files of the earlier one-file-per-chunk layout
//! (`<disk>/chunks/`) are verified and moved into volumes when a store opens.
//!
//! All file I/O is blocking and runs on tokio's blocking pool.

use crate::checkpoint::{Checkpoint, CheckpointEntry, CheckpointVolume};
use crate::chunk::{self, ChunkHeader};
use crate::metrics::{ChunkOp, NodeMetrics};
use crate::scrub::{MAX_REPORTED, ScrubReport};
use crate::volume::{self, PAGE, PREFIX_LEN, Volume};
use crate::{Error, Result};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use shale_common::is_valid_chunk_id;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Instant;

/// Directory of the volume files inside each disk directory.
const VOLUMES_DIR: &str = "volumes";
/// Directory of the earlier one-file-per-chunk layout, migrated on open.
const LEGACY_CHUNKS_DIR: &str = "chunks";
/// Prefix of the earlier layout's temporary files.
const LEGACY_TMP_PREFIX: &str = ".tmp-";
/// A volume takes no new record once it would grow past this.
pub const DEFAULT_MAX_VOLUME_LEN: u64 = 1 << 30;
/// How long a checkpoint waits for the writes in flight to land.
const CHECKPOINT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a chunk's bytes are on disk (for tools and tests that inspect or
/// damage them on purpose).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkLocation {
    /// The volume file.
    pub volume: PathBuf,
    /// File offset of the chunk (its header), past the record prefix.
    pub offset: u64,
    /// Length of the encoded chunk: header, blocks with CRCs, trailer.
    pub len: u64,
}

/// What a node knows about one stored chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkInfo {
    /// The chunk's id.
    pub id: String,
    /// Bytes of data in the chunk (what a full GET returns).
    pub size: u64,
    /// Block size the chunk was written with.
    pub block_size: u32,
}

/// Usage of one disk directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskStatus {
    /// The disk directory, as configured.
    pub path: PathBuf,
    /// Chunks stored on the disk.
    pub chunks: u64,
    /// Bytes the disk's chunk records take in their volumes (headers, CRCs,
    /// trailers and alignment included).
    pub bytes_used: u64,
    /// Size of the file system, when known.
    pub capacity_bytes: Option<u64>,
    /// Bytes of the file system available to the node, when known.
    pub available_bytes: Option<u64>,
    /// Why the disk could not be scanned; `None` when it is healthy.
    pub error: Option<String>,
}

/// Health and usage of a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// One entry per configured disk, in configuration order.
    pub disks: Vec<DiskStatus>,
    /// True when every disk could be scanned.
    pub healthy: bool,
    /// What the scrubber (and reads) found.
    #[serde(default)]
    pub scrub: ScrubReport,
    /// Made anew each time the store opens: another id than before means
    /// the node restarted (and may have come back with less than it had).
    /// Empty from nodes of an earlier release.
    #[serde(default)]
    pub boot_id: String,
    /// Chunks written since the store opened (with `boot_id`, a count that
    /// only moves when the node's chunks may have changed: the collector
    /// skips its orphan sweep while it stands still). 0 from nodes of an
    /// earlier release.
    #[serde(default)]
    pub chunks_written: u64,
}

/// Chunks on one or more disk directories. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ChunkStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// [`NodeStatus::boot_id`].
    boot_id: String,
    /// [`NodeStatus::chunks_written`].
    chunks_written: AtomicU64,
    paths: Vec<PathBuf>,
    disks: Vec<Disk>,
    index: RwLock<HashMap<String, Loc>>,
    block_size: u32,
    max_volume_len: u64,
    scrub: Mutex<ScrubState>,
    /// Free bytes each disk keeps (see `set_reserve_bytes`).
    reserve_bytes: std::sync::atomic::AtomicU64,
    /// Metric handles, once `enable_metrics` was called.
    metrics: OnceLock<NodeMetrics>,
}

/// The scrubber's counters and the chunks known to be corrupt.
#[derive(Debug, Default)]
struct ScrubState {
    report: ScrubReport,
    corrupt: std::collections::BTreeSet<String>,
}

#[derive(Debug)]
struct Disk {
    /// `<disk>/volumes`.
    dir: PathBuf,
    /// Chunks in the index on this disk, and the bytes of their records
    /// (aligned): kept with the index, so a status reads no index.
    chunks: AtomicU64,
    bytes_used: AtomicU64,
    appender: Mutex<Appender>,
    /// Writes appended to a volume but not yet in the index (or failed):
    /// a checkpoint waits for them.
    inflight: AtomicU64,
    /// True while `<disk>/volumes/index.ckpt` is on disk and true: the
    /// first erase of a record removes it first ([`crate::checkpoint`]).
    /// Held while a checkpoint is written.
    checkpoint: Mutex<bool>,
    /// `<disk>/volumes/LOCK`, locked (`flock`) while the store is open: two
    /// stores appending to the same volumes would destroy each other's
    /// records.
    _lock: fs::File,
}

/// The volume a disk appends to and where its next record goes.
#[derive(Debug)]
struct Appender {
    volume: Arc<Volume>,
    end: u64,
}

/// Where a chunk's record is.
#[derive(Clone, Debug)]
struct Loc {
    disk: usize,
    volume: Arc<Volume>,
    offset: u64,
    chunk_len: u64,
}

impl Loc {
    fn is(&self, other: &Loc) -> bool {
        Arc::ptr_eq(&self.volume, &other.volume) && self.offset == other.offset
    }

    fn record_len(&self) -> u64 {
        PREFIX_LEN + self.chunk_len
    }
}

impl ChunkStore {
    /// Opens a store over `disks`: creates each `<disk>/volumes` directory if
    /// missing, scans the volumes to rebuild the index, and moves chunk
    /// files of the earlier layout into volumes. Blocking: call it at
    /// start-up.
    pub fn open(disks: Vec<PathBuf>, block_size: u32) -> Result<Self> {
        Self::open_with(disks, block_size, DEFAULT_MAX_VOLUME_LEN)
    }

    /// Like [`ChunkStore::open`], with volumes of at most `max_volume_len`
    /// bytes (a record larger than that gets a volume of its own).
    pub fn open_with(disks: Vec<PathBuf>, block_size: u32, max_volume_len: u64) -> Result<Self> {
        if disks.is_empty() {
            return Err(Error::Config("disks: at least one disk is required".into()));
        }
        if block_size == 0 || block_size > chunk::MAX_BLOCK_SIZE {
            return Err(Error::Config(format!(
                "block_size: {block_size} is not in 1..={}",
                chunk::MAX_BLOCK_SIZE
            )));
        }
        let mut index = HashMap::new();
        let mut opened = Vec::with_capacity(disks.len());
        for (i, path) in disks.iter().enumerate() {
            let disk = open_disk(i, path, &mut index)
                .map_err(|e| Error::Config(format!("disks[{i}]: {}: {e}", path.display())))?;
            opened.push(disk);
        }
        for loc in index.values() {
            let disk = &opened[loc.disk];
            disk.chunks.fetch_add(1, Ordering::Relaxed);
            disk.bytes_used
                .fetch_add(volume::align_up(loc.record_len()), Ordering::Relaxed);
        }
        let store = ChunkStore {
            inner: Arc::new(Inner {
                boot_id: format!("{:016x}", rand::random::<u64>()),
                chunks_written: AtomicU64::new(0),
                paths: disks,
                disks: opened,
                index: RwLock::new(index),
                block_size,
                max_volume_len,
                scrub: Mutex::default(),
                reserve_bytes: std::sync::atomic::AtomicU64::new(0),
                metrics: OnceLock::new(),
            }),
        };
        for (i, path) in store.inner.paths.iter().enumerate() {
            store
                .migrate_legacy(path)
                .map_err(|e| Error::Config(format!("disks[{i}]: {}: {e}", path.display())))?;
        }
        Ok(store)
    }

    /// The configured disk directories.
    pub fn disks(&self) -> &[PathBuf] {
        &self.inner.paths
    }

    /// Writes each disk's index to its checkpoint file, so that the next
    /// open reads one file instead of every record ([`crate::checkpoint`]).
    /// Called when the store closes; writes that go on meanwhile are safe
    /// (appends are found past the checkpoint, an erase removes it).
    /// Blocking. Returns the number of chunks written.
    pub fn checkpoint(&self) -> Result<u64> {
        let mut written = 0;
        for (d, disk) in self.inner.disks.iter().enumerate() {
            // No new append while the index is read, and none in flight.
            // The checkpoint's own lock comes after the wait: a write in
            // flight that replaces a chunk erases the old record, which
            // takes that lock.
            let app = lock(&disk.appender);
            let deadline = Instant::now() + CHECKPOINT_WAIT;
            while disk.inflight.load(Ordering::Acquire) > 0 {
                if Instant::now() > deadline {
                    return Err(Error::Io(io::Error::other(
                        "writes still in flight: no index checkpoint",
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let mut valid = lock(&disk.checkpoint);
            let checkpoint = {
                let mut volumes: HashMap<u64, CheckpointVolume> = HashMap::new();
                let mut entries = Vec::new();
                for (id, loc) in self.read_index().iter() {
                    if loc.disk != d {
                        continue;
                    }
                    if !volumes.contains_key(&loc.volume.seq) {
                        let v = CheckpointVolume {
                            seq: loc.volume.seq,
                            nonce: *loc.volume.nonce(),
                            indexed_to: loc.volume.file_len()?,
                        };
                        volumes.insert(v.seq, v);
                    }
                    entries.push(CheckpointEntry {
                        id: id.clone(),
                        seq: loc.volume.seq,
                        offset: loc.offset,
                        chunk_len: loc.chunk_len,
                    });
                }
                // The volume appended to, even if empty: its records so far.
                let current = &app.volume;
                volumes.entry(current.seq).or_insert(CheckpointVolume {
                    seq: current.seq,
                    nonce: *current.nonce(),
                    indexed_to: current.file_len()?,
                });
                let mut volumes: Vec<CheckpointVolume> = volumes.into_values().collect();
                volumes.sort_unstable_by_key(|v| v.seq);
                // Grouped by volume and in file order: the next open reads
                // them in the order a scan would find them.
                entries.sort_unstable_by_key(|e| (e.seq, e.offset));
                Checkpoint { volumes, entries }
            };
            drop(app);
            // From here the file may be on disk (the write replaces the
            // old one by a rename): the next erase must remove it, even if
            // the write fails.
            *valid = true;
            checkpoint.write(&disk.dir)?;
            written += checkpoint.entries.len() as u64;
        }
        Ok(written)
    }

    /// Keeps `bytes` free on every disk: a write that would leave less is
    /// refused with [`Error::DiskFull`] (0, the default of a bare store:
    /// only a full file system refuses).
    pub fn set_reserve_bytes(&self, bytes: u64) {
        self.inner
            .reserve_bytes
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records chunk operations per disk in metrics labelled `node`
    /// (see [`crate::metrics`]); the first call wins.
    pub fn enable_metrics(&self, node: &str) {
        let _ = self
            .inner
            .metrics
            .set(NodeMetrics::new(node, &self.inner.paths));
    }

    pub(crate) fn metrics(&self) -> Option<&NodeMetrics> {
        self.inner.metrics.get()
    }

    /// A handle that does not keep the store open (for scrape hooks).
    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &Weak<Inner>) -> Option<ChunkStore> {
        weak.upgrade().map(|inner| ChunkStore { inner })
    }

    /// Records one chunk operation on disk `disk` (when metrics are on).
    fn record<T>(
        &self,
        op: ChunkOp,
        disk: Option<usize>,
        bytes: u64,
        started: Instant,
        result: &Result<T>,
    ) {
        if let (Some(m), Some(d)) = (self.inner.metrics.get(), disk) {
            m.disks[d].record(op, bytes, started.elapsed().as_secs_f64(), result);
        }
    }

    /// The disk chunk `id` is on, when metrics want to know.
    fn disk_of(&self, id: &str) -> Option<usize> {
        self.inner.metrics.get()?;
        self.read_index().get(id).map(|loc| loc.disk)
    }

    /// Block size of newly written chunks.
    pub fn block_size(&self) -> u32 {
        self.inner.block_size
    }

    /// Where chunk `id` is on disk, if it is stored.
    pub fn locate(&self, id: &str) -> Option<ChunkLocation> {
        let loc = self.lookup(id).ok()?;
        Some(ChunkLocation {
            volume: loc.volume.path.clone(),
            offset: loc.offset + PREFIX_LEN,
            len: loc.chunk_len,
        })
    }

    /// Stores chunk `id` durably, replacing any chunk of the same id.
    /// Returns true when no chunk of that id existed before.
    pub async fn put(&self, id: &str, data: Bytes) -> Result<bool> {
        self.put_parts(id, vec![data]).await
    }

    /// Like [`ChunkStore::put`], for data that arrived in pieces: the chunk
    /// is written from them, without gathering them in one buffer first.
    pub async fn put_parts(&self, id: &str, parts: Vec<Bytes>) -> Result<bool> {
        self.put_parts_checked(id, parts, None).await
    }

    /// Like [`ChunkStore::put_parts`], refusing data whose BLAKE3 is not
    /// `expected` ([`Error::Unauthenticated`]) before anything is written;
    /// the hash is the one the chunk's trailer is made of, computed once.
    pub async fn put_parts_checked(
        &self,
        id: &str,
        parts: Vec<Bytes>,
        expected: Option<blake3::Hash>,
    ) -> Result<bool> {
        check_id(id)?;
        let started = Instant::now();
        let bytes = parts.iter().map(|p| p.len() as u64).sum();
        let disk = self.inner.metrics.get().map(|_| self.disk_for(id));
        let store = self.clone();
        let id = id.to_owned();
        let result = blocking(move || store.put_blocking(&id, &parts, expected)).await;
        self.record(ChunkOp::Write, disk, bytes, started, &result);
        result
    }

    /// Reads `len` data bytes at `offset` of chunk `id`, checking the CRC of
    /// every block read.
    pub async fn get(&self, id: &str, offset: u64, len: u64) -> Result<Bytes> {
        self.read_with(id, move |_| Ok((offset, len)))
            .await
            .map(|(_, _, data)| data)
    }

    /// Reads the range that `pick` chooses once the chunk's size is known.
    /// `pick` gets the chunk info and returns `(offset, len)`; returns the
    /// chunk info, the offset and the bytes.
    pub async fn read_with<F>(&self, id: &str, pick: F) -> Result<(ChunkInfo, u64, Bytes)>
    where
        F: FnOnce(&ChunkInfo) -> Result<(u64, u64)> + Send + 'static,
    {
        check_id(id)?;
        let started = Instant::now();
        let disk = self.disk_of(id);
        let store = self.clone();
        let id = id.to_owned();
        let result = blocking(move || {
            store.with_chunk(&id, |reader, header| {
                let info = info_of(header);
                let (offset, len) = pick(&info)?;
                let data = chunk::read_data_with(header, offset, len, |start, span| {
                    reader.read_span(start, span)
                })?;
                Ok((info, offset, Bytes::from(data)))
            })
        })
        .await;
        let bytes = result.as_ref().map_or(0, |(_, _, data)| data.len() as u64);
        self.record(ChunkOp::Read, disk, bytes, started, &result);
        result
    }

    /// Fully verifies chunk `id`: header, every block CRC and the BLAKE3
    /// trailer (reads the whole chunk; the scrubber's check, not the read
    /// path's).
    pub async fn verify(&self, id: &str) -> Result<ChunkInfo> {
        check_id(id)?;
        let store = self.clone();
        let id = id.to_owned();
        blocking(move || {
            store.with_chunk(&id, |reader, header| {
                chunk::verify_chunk(reader, header)?;
                Ok(info_of(header))
            })
        })
        .await
    }

    /// Size and block size of chunk `id`, from its (checked) header.
    pub async fn head(&self, id: &str) -> Result<ChunkInfo> {
        check_id(id)?;
        let store = self.clone();
        let id = id.to_owned();
        blocking(move || store.with_chunk(&id, |_, header| Ok(info_of(header)))).await
    }

    /// Removes chunk `id`.
    pub async fn delete(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let started = Instant::now();
        let disk = self.disk_of(id);
        let store = self.clone();
        let id = id.to_owned();
        let result = blocking(move || {
            let loc = store
                .inner
                .index
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id)
                .ok_or_else(|| Error::NotFound(id.clone()))?;
            store.count(&loc, false);
            store.forget(&loc);
            store.clear_corrupt(&id);
            Ok(())
        })
        .await;
        self.record(ChunkOp::Delete, disk, 0, started, &result);
        result
    }

    /// Ids of all chunks on all disks, sorted.
    pub async fn list(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = self.read_index().keys().cloned().collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Chunk count, bytes used and file-system capacity per disk; a disk
    /// whose volume could not be synced makes the node unhealthy.
    pub async fn status(&self) -> Result<NodeStatus> {
        let counts: Vec<(u64, u64)> = self
            .inner
            .disks
            .iter()
            .map(|d| {
                (
                    d.chunks.load(Ordering::Relaxed),
                    d.bytes_used.load(Ordering::Relaxed),
                )
            })
            .collect();
        let store = self.clone();
        blocking(move || {
            let disks: Vec<DiskStatus> = store
                .inner
                .paths
                .iter()
                .zip(&store.inner.disks)
                .zip(counts)
                .map(|((path, disk), (chunks, bytes_used))| {
                    let fs = rustix::fs::statvfs(path.as_path());
                    let broken = lock(&disk.appender).volume.is_broken();
                    let error = match &fs {
                        _ if broken => Some("an fdatasync of the current volume failed".into()),
                        Err(e) => Some(format!("statvfs: {e}")),
                        Ok(_) => None,
                    };
                    let fs = fs.ok();
                    DiskStatus {
                        path: path.clone(),
                        chunks,
                        bytes_used,
                        capacity_bytes: fs.as_ref().map(|s| s.f_blocks * s.f_frsize),
                        available_bytes: fs.as_ref().map(|s| s.f_bavail * s.f_frsize),
                        error,
                    }
                })
                .collect();
            let healthy = disks.iter().all(|d| d.error.is_none());
            Ok(NodeStatus {
                disks,
                healthy,
                scrub: store.scrub_report(),
                boot_id: store.inner.boot_id.clone(),
                chunks_written: store.inner.chunks_written.load(Ordering::Acquire),
            })
        })
        .await
    }

    /// What the scrubber and reads found so far.
    pub fn scrub_report(&self) -> ScrubReport {
        let state = lock(&self.inner.scrub);
        let mut report = state.report.clone();
        report.corrupt = state.corrupt.iter().take(MAX_REPORTED).cloned().collect();
        report.corrupt_count = state.corrupt.len() as u64;
        report
    }

    /// Records chunk `id` as corrupt or unreadable (until it is rewritten or
    /// deleted).
    pub fn mark_corrupt(&self, id: &str) {
        lock(&self.inner.scrub).corrupt.insert(id.to_owned());
    }

    pub(crate) fn count_scrubbed(&self, bytes: u64) {
        let mut state = lock(&self.inner.scrub);
        state.report.chunks_checked += 1;
        state.report.bytes_checked += bytes;
    }

    pub(crate) fn finish_scrub_pass(&self, took: std::time::Duration) {
        let mut state = lock(&self.inner.scrub);
        state.report.passes += 1;
        state.report.last_pass_ms = Some(took.as_millis() as u64);
    }

    /// A chunk rewritten or deleted is no longer corrupt.
    fn clear_corrupt(&self, id: &str) {
        let mut state = lock(&self.inner.scrub);
        if !state.corrupt.is_empty() {
            state.corrupt.remove(id);
        }
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Loc>> {
        self.inner.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, id: &str) -> Result<Loc> {
        self.read_index()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    /// Runs `f` over chunk `id`'s reader and checked header. A chunk deleted
    /// or replaced while it was being read is not found, not corrupt.
    fn with_chunk<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut volume::ChunkReader<'_>, &ChunkHeader) -> Result<T>,
    ) -> Result<T> {
        let loc = self.lookup(id)?;
        let mut reader = loc.volume.chunk_reader(loc.offset, loc.chunk_len);
        let result = ChunkHeader::read_from(&mut reader).and_then(|header| {
            header.check_file_len(loc.chunk_len)?;
            if header.chunk_id != id {
                return Err(Error::Corrupt(format!(
                    "record for chunk {id} holds chunk {}",
                    header.chunk_id
                )));
            }
            f(&mut reader, &header)
        });
        match result {
            Err(Error::Corrupt(_)) if !self.lookup(id).is_ok_and(|now| now.is(&loc)) => {
                Err(Error::NotFound(id.to_owned()))
            }
            Err(Error::Corrupt(e)) => {
                self.mark_corrupt(id);
                Err(Error::Corrupt(e))
            }
            result => result,
        }
    }

    fn disk_for(&self, id: &str) -> usize {
        let hash = blake3::hash(id.as_bytes());
        let pick = u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("32-byte hash"));
        (pick % self.inner.disks.len() as u64) as usize
    }

    fn put_blocking(
        &self,
        id: &str,
        parts: &[Bytes],
        expected: Option<blake3::Hash>,
    ) -> Result<bool> {
        let data_len = parts.iter().map(|p| p.len() as u64).sum();
        let header = ChunkHeader::new(id, self.inner.block_size, data_len)?;
        let chunk_len = header.file_len().expect("ChunkHeader::new checked it");
        let header_bytes = header.encode();
        let (mut crcs, mut trailer) = (Vec::new(), [0u8; 32]);
        let slices = volume::chunk_slices(
            &header_bytes,
            parts,
            self.inner.block_size,
            &mut crcs,
            &mut trailer,
        );
        // The last slice is the BLAKE3 trailer just computed.
        let computed = slices.last().map(|t| &t[..]);
        if expected.is_some_and(|h| computed != Some(h.as_bytes().as_slice())) {
            return Err(Error::Unauthenticated(
                shale_common::cluster_auth::Refusal::BodyMismatch,
            ));
        }
        let d = self.disk_for(id);
        let disk = &self.inner.disks[d];
        let record_len = PREFIX_LEN + chunk_len;
        self.check_space(d, record_len)?;

        let (vol, offset, generation, _inflight) = {
            let mut app = lock(&disk.appender);
            let full = app.end > PAGE && app.end + record_len > self.inner.max_volume_len;
            if full || app.volume.is_broken() {
                self.rotate(disk, &mut app)?;
            }
            let offset = app.end;
            let vol = Arc::clone(&app.volume);
            // Whatever happens below, the next record goes past this one.
            app.end = volume::align_up(offset + record_len);
            // In flight from here until this returns (the index has the
            // record, or the write failed), counted under the appender's
            // lock so that a checkpoint can wait for it.
            let inflight = Inflight::enter(&disk.inflight);
            match vol.append(offset, chunk_len, &slices) {
                Ok(generation) => {
                    vol.add_live();
                    (vol, offset, generation, inflight)
                }
                Err(e) => {
                    let _ = vol.erase(offset, record_len);
                    return Err(disk_full_or(e));
                }
            }
        };
        let loc = Loc {
            disk: d,
            volume: vol,
            offset,
            chunk_len,
        };
        if let Err(e) = loc.volume.sync_through(generation) {
            self.forget(&loc);
            return Err(e);
        }
        self.count(&loc, true);
        let old = self
            .inner
            .index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), loc);
        // Counted once the index has it: whoever reads the count and then
        // lists the chunks finds this one.
        self.inner.chunks_written.fetch_add(1, Ordering::AcqRel);
        if let Some(old) = &old {
            self.count(old, false);
            self.forget(old);
            self.clear_corrupt(id);
        }
        Ok(old.is_none())
    }

    /// Refuses a write of `len` bytes to disk `d` that would leave less free
    /// space than the reserve.
    fn check_space(&self, d: usize, len: u64) -> Result<()> {
        let reserve = self
            .inner
            .reserve_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        if reserve == 0 {
            return Ok(());
        }
        let path = &self.inner.paths[d];
        let fs = rustix::fs::statvfs(path.as_path()).map_err(|e| Error::Io(e.into()))?;
        let free = fs.f_bavail.saturating_mul(fs.f_frsize);
        if free < reserve.saturating_add(len) {
            return Err(Error::DiskFull(format!(
                "{}: {free} bytes free, {reserve} kept in reserve",
                path.display()
            )));
        }
        Ok(())
    }

    /// Starts a new volume on `disk`; the old one is sealed (and removed if
    /// nothing in it is live any more).
    fn rotate(&self, disk: &Disk, app: &mut Appender) -> Result<()> {
        let new = Arc::new(Volume::create(&disk.dir, app.volume.seq + 1)?);
        let old = std::mem::replace(&mut app.volume, new);
        app.end = PAGE;
        if old.seal() {
            remove_volume(&old);
        }
        Ok(())
    }

    /// Erases a record no longer in the index; removes its volume once
    /// sealed and empty.
    /// Counts `loc` in (or out of) its disk's usage, as it enters (leaves)
    /// the index.
    fn count(&self, loc: &Loc, added: bool) {
        let disk = &self.inner.disks[loc.disk];
        let bytes = volume::align_up(loc.record_len());
        if added {
            disk.chunks.fetch_add(1, Ordering::Relaxed);
            disk.bytes_used.fetch_add(bytes, Ordering::Relaxed);
        } else {
            disk.chunks.fetch_sub(1, Ordering::Relaxed);
            disk.bytes_used.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    fn forget(&self, loc: &Loc) {
        let disk = &self.inner.disks[loc.disk];
        if let Err(e) = drop_checkpoint(&disk.dir, &disk.checkpoint) {
            // Erasing now would leave a checkpoint naming this record.
            tracing::warn!(volume = %loc.volume.path.display(), offset = loc.offset, error = %e,
                "could not remove the index checkpoint; the dead record stays until the next delete");
            return;
        }
        if let Err(e) = loc.volume.erase(loc.offset, loc.record_len()) {
            tracing::warn!(volume = %loc.volume.path.display(), offset = loc.offset, error = %e,
                "could not erase a dead record; its space stays used");
        }
        if loc.volume.remove_live() {
            remove_volume(&loc.volume);
        }
    }

    /// Moves the chunk files of the earlier one-file-per-chunk layout into
    /// volumes: each is fully verified, written and synced, then removed. A
    /// file that fails verification is left where it is (and its chunk is
    /// missing, to be rebuilt from parity).
    fn migrate_legacy(&self, disk: &Path) -> Result<()> {
        let root = disk.join(LEGACY_CHUNKS_DIR);
        if !root.is_dir() {
            return Ok(());
        }
        let mut files = Vec::new();
        for fanout in fs::read_dir(&root)? {
            let fanout = fanout?;
            if !fanout.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(fanout.path())? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.starts_with(LEGACY_TMP_PREFIX) {
                    fs::remove_file(entry.path())?;
                } else if is_valid_chunk_id(name) {
                    files.push((name.to_owned(), entry.path()));
                }
            }
        }
        let mut moved = 0usize;
        for (id, path) in &files {
            let bytes = fs::read(path)?;
            match chunk::parse_chunk_bytes(&bytes) {
                Ok((header, data)) if &header.chunk_id == id => {
                    self.put_blocking(id, &[Bytes::from(data)], None)?;
                    fs::remove_file(path)?;
                    moved += 1;
                }
                Ok(_) | Err(_) => tracing::warn!(
                    file = %path.display(),
                    "not migrating a chunk file that fails verification"
                ),
            }
        }
        if moved > 0 {
            tracing::info!(disk = %disk.display(), chunks = moved,
                "moved chunk files of the earlier layout into volumes");
        }
        // Only empty directories go; anything left is kept for inspection.
        for fanout in fs::read_dir(&root)?.flatten() {
            let _ = fs::remove_dir(fanout.path());
        }
        let _ = fs::remove_dir(&root);
        Ok(())
    }
}

/// Opens disk `i`: reads its volumes in order into `index` (from the index
/// checkpoint where one is valid, scanning the rest) and picks the volume
/// to append to (the last one, or a new one).
fn open_disk(i: usize, path: &Path, index: &mut HashMap<String, Loc>) -> Result<Disk> {
    let dir = path.join(VOLUMES_DIR);
    fs::create_dir_all(&dir)?;
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |e| {
            Error::Config(format!(
                "{}: in use by another storage node ({e})",
                dir.display()
            ))
        },
    )?;
    let mut seqs = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let name = entry?.file_name();
        if let Some(seq) = name.to_str().and_then(Volume::parse_file_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    let mut volumes = Vec::with_capacity(seqs.len());
    for (n, &seq) in seqs.iter().enumerate() {
        let file = dir.join(Volume::file_name(seq));
        let last = n + 1 == seqs.len();
        match Volume::open(&file) {
            Ok(vol) => {
                let len = vol.file_len()?;
                volumes.push((Arc::new(vol), len));
            }
            // A crash while creating the newest volume can leave it without
            // its header: it never held a record.
            Err(Error::Corrupt(_)) if last && fs::metadata(&file)?.len() < PAGE => {
                fs::remove_file(&file)?;
            }
            Err(e) => {
                tracing::error!(volume = %file.display(), error = %e,
                    "skipping an unreadable volume; its chunks will be rebuilt from parity");
            }
        }
    }

    // The checkpoint written when the store last closed, if it still holds.
    let started = Instant::now();
    let mut checkpoint = match Checkpoint::read(&dir) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e,
                "ignoring the index checkpoint; scanning every volume");
            Checkpoint::remove(&dir)?;
            None
        }
    };
    let mut indexed_to = HashMap::new();
    if let Some(c) = &checkpoint {
        let opened: Vec<(&Volume, u64)> = volumes.iter().map(|(v, len)| (&**v, *len)).collect();
        match c.check(&opened) {
            Ok(to) => indexed_to = to,
            Err(why) => {
                tracing::warn!(dir = %dir.display(), reason = %why,
                    "ignoring the index checkpoint; scanning every volume");
                Checkpoint::remove(&dir)?;
                checkpoint = None;
            }
        }
    }
    let trusted = checkpoint.is_some();
    let mut entries = checkpoint.map(|c| c.entries).unwrap_or_default();
    // Written in file order; sorting a sorted run costs one pass.
    entries.sort_by_key(|e| (e.seq, e.offset));
    index.reserve(entries.len());
    let mut entries = entries.into_iter().peekable();
    let checkpoint_state = Mutex::new(trusted);
    let (mut loaded, mut scanned) = (0u64, 0u64);

    let count = volumes.len();
    let mut kept = Vec::with_capacity(count);
    for (n, (vol, _)) in volumes.into_iter().enumerate() {
        let last = n + 1 == count;
        // Records in file order, oldest volume first: the checkpoint's
        // entries of this volume, then what was appended after it.
        while entries.peek().is_some_and(|e| e.seq < vol.seq) {
            // `check` refused entries of a volume not opened; none left.
            entries.next();
        }
        let mut found: Vec<(String, u64, u64)> = Vec::new();
        let mut insert = |id: String, offset: u64, chunk_len: u64| -> Result<()> {
            vol.add_live();
            let loc = Loc {
                disk: i,
                volume: Arc::clone(&vol),
                offset,
                chunk_len,
            };
            // A later record of the same id is the newer write (a chunk id
            // names one immutable chunk, so which of two copies on
            // different disks is kept does not matter).
            if let Some(old) = index.insert(id, loc) {
                drop_checkpoint(&dir, &checkpoint_state)?;
                if let Err(e) = old.volume.erase(old.offset, old.record_len()) {
                    tracing::warn!(error = %e, "could not erase a replaced record");
                }
                old.volume.remove_live();
            }
            Ok(())
        };
        while let Some(e) = entries.next_if(|e| e.seq == vol.seq) {
            insert(e.id, e.offset, e.chunk_len)?;
            loaded += 1;
        }
        let from = indexed_to.get(&vol.seq).copied().unwrap_or(PAGE);
        let skipped = vol.scan_from(from, last, |offset, chunk_len, header| {
            found.push((header.chunk_id, offset, chunk_len));
        })?;
        if skipped > 0 {
            tracing::warn!(volume = %vol.path.display(), bytes = skipped,
                "skipped unreadable bytes between records");
        }
        scanned += found.len() as u64;
        for (id, offset, chunk_len) in found {
            insert(id, offset, chunk_len)?;
        }
        kept.push(vol);
    }
    if trusted {
        tracing::info!(dir = %dir.display(), from_checkpoint = loaded, scanned,
            took_ms = started.elapsed().as_millis() as u64, "index read from its checkpoint");
    }
    let appender = match kept.pop() {
        Some(vol) => Appender {
            end: volume::align_up(vol.file_len()?.max(PAGE)),
            volume: vol,
        },
        None => Appender {
            volume: Arc::new(Volume::create(&dir, 1)?),
            end: PAGE,
        },
    };
    for vol in kept {
        if vol.seal() {
            remove_volume(&vol);
        }
    }
    Ok(Disk {
        dir,
        chunks: AtomicU64::new(0),
        bytes_used: AtomicU64::new(0),
        appender: Mutex::new(appender),
        inflight: AtomicU64::new(0),
        checkpoint: checkpoint_state,
        _lock: lock,
    })
}

/// Removes `<dir>/index.ckpt` (durably) if `valid` says it is on disk: done
/// before erasing any record, which could be one the checkpoint names.
fn drop_checkpoint(dir: &Path, valid: &Mutex<bool>) -> Result<()> {
    let mut valid = lock(valid);
    if *valid {
        Checkpoint::remove(dir)?;
        *valid = false;
    }
    Ok(())
}

/// One write in flight on a disk (see `Disk::inflight`).
struct Inflight<'a>(&'a AtomicU64);

impl<'a> Inflight<'a> {
    fn enter(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Inflight(count)
    }
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Removes a sealed volume with no live record left. Readers that still
/// hold it keep reading from the open file.
fn remove_volume(vol: &Volume) {
    match fs::remove_file(&vol.path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(volume = %vol.path.display(), error = %e,
            "could not remove an empty volume"),
    }
}

/// ENOSPC (and EDQUOT) from a write is a full disk, not an I/O failure.
fn disk_full_or(e: Error) -> Error {
    match e {
        Error::Io(io) if matches!(io.raw_os_error(), Some(28) | Some(122)) => {
            Error::DiskFull(io.to_string())
        }
        other => other,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs blocking file I/O off the async workers.
async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(io::Error::other(format!("blocking task failed: {e}"))))?
}

fn check_id(id: &str) -> Result<()> {
    if is_valid_chunk_id(id) {
        Ok(())
    } else {
        Err(Error::InvalidChunkId(id.to_owned()))
    }
}

fn info_of(header: &ChunkHeader) -> ChunkInfo {
    ChunkInfo {
        id: header.chunk_id.clone(),
        size: header.data_len,
        block_size: header.block_size,
    }
}

#[cfg(test)]
mod tests;
