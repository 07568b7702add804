//! The metadata catalogue as a Raft group (`openraft`, storage v2).
//!
//! RocksDB is both the log store and the state machine: one database, the
//! catalogue's column families plus `raft_log` (entries by index, stored
//! as `log_format` says, which reads the previous release's entries too),
//! `raft_state` (vote, last purged log id), `raft_applied` (last applied
//! log id, membership) and the dedup tables.
//!
//! - Every mutating [`MetaRequest`] is one log entry, a [`Command`] that also
//!   carries the time the leader fixed when it proposed it and the client's
//!   request id. The state machine applies it through `MetaStore`'s own
//!   code ([`MetaStore::apply_entry`]), so a request added to the store is
//!   replicated without any change here.
//! - Durability: a log append is written at once (readable) and synced by
//!   a flusher thread that syncs the WAL once for every append queued
//!   meanwhile (group commit) before it acknowledges them. Each applied
//!   entry is one batch (its rows, its answer's dedup row, last-applied,
//!   membership), written without a sync of its own: an entry is applied
//!   only once committed, that is once its log append was synced, so what
//!   a crash takes from the state machine is replayed from the log (the
//!   apply is deterministic, and last-applied travels in each entry's
//!   batch). The WAL keeps order, so a crash keeps a prefix of whole
//!   entries, and the next append's sync makes the applies before it
//!   durable too; `purge` and the end of a snapshot install are synced
//!   writes, so the log is never cut behind a state machine that could
//!   still lose what it applied. One sync per entry, not two (the append's,
//!   then the apply's). `save_vote` is a synced write.
//! - Retried writes: the client keeps one request id across its retries;
//!   the state machine keeps each applied write's answer under its id for
//!   [`DEDUP_TTL_MS`] and answers a repeat with it instead of applying it
//!   again (the rows travel in snapshots, so a new leader knows them).
//! - Snapshots: a consistent dump (RocksDB snapshot) of the state machine's
//!   column families, streamed into a file next to the database
//!   (`snapshot_format`); installing one replaces those column families
//!   from the file in bounded batches, marked so that a replica stopped
//!   halfway finishes it when it opens (`snapshot`).

// openraft's traits return its `StorageError` (224 bytes); the private
// helpers return the same type rather than boxing and unboxing it.
#![allow(clippy::result_large_err)]

use crate::log_format::{decode_entry, encode_entry};
use crate::store::{
    CF_RAFT_APPLIED, CF_RAFT_DEDUP, CF_RAFT_DEDUP_AGE, CF_RAFT_LOG, CF_RAFT_STATE,
    CF_STATE_MACHINE, MetaStore,
};
use crate::types::{MetaError, MetaRequest, MetaResponse};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use rocksdb::{ReadOptions, WriteBatch, WriteOptions};
use serde::Serialize;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

pub use crate::raft_types::{Answer, Command, NodeId, TypeConfig};

mod snapshot;

/// The Raft handle of a metadata replica.
pub type MetaRaft = openraft::Raft<TypeConfig>;

/// How long an applied write's answer is kept for a retry of it (by the
/// entries' clock), far beyond the client's retry window (~10 s).
pub const DEDUP_TTL_MS: i64 = 5 * 60 * 1000;
/// Most expired dedup rows one entry deletes (pruning keeps pace with
/// writes without making any entry's batch large).
const DEDUP_PRUNE_PER_ENTRY: usize = 8;

type StoResult<T> = Result<T, StorageError<NodeId>>;

fn any(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}
fn w_logs(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_logs(any(e)).into()
}
fn r_logs(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::read_logs(any(e)).into()
}
fn w_vote(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_vote(any(e)).into()
}
fn r_vote(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::read_vote(any(e)).into()
}
fn w_sm(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(any(e)).into()
}
fn r_sm(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(any(e)).into()
}
fn w_snap(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_snapshot(None, any(e)).into()
}
fn r_snap(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::read_snapshot(None, any(e)).into()
}

fn cf<'a>(store: &'a MetaStore, name: &str) -> Result<&'a rocksdb::ColumnFamily, String> {
    store
        .db()
        .cf_handle(name)
        .ok_or_else(|| format!("column family {name} missing"))
}

fn synced() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

const KEY_VOTE: &[u8] = b"vote";
const KEY_PURGED: &[u8] = b"last_purged";
const KEY_APPLIED: &[u8] = b"last_applied";
const KEY_MEMBERSHIP: &[u8] = b"membership";
/// Progress through a batch entry: (log index, requests written, GC
/// sequence number reached), written with each of its requests.
const KEY_BATCH: &[u8] = b"batch_progress";

fn get_meta<T: serde::de::DeserializeOwned>(
    store: &MetaStore,
    cf_name: &str,
    key: &[u8],
) -> Result<Option<T>, String> {
    match store
        .db()
        .get_pinned_cf(cf(store, cf_name)?, key)
        .map_err(|e| e.to_string())?
    {
        Some(raw) => postcard::from_bytes(&raw)
            .map(Some)
            .map_err(|e| format!("corrupt {cf_name} row: {e}")),
        None => Ok(None),
    }
}

fn wall_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(v).map_err(|e| format!("encode: {e}"))
}

// ---- log store ----

/// The log store: `raft_log` and `raft_state` of the catalogue's database.
#[derive(Clone)]
pub struct LogStore {
    store: Arc<MetaStore>,
    flusher: mpsc::Sender<Flush>,
    /// Bytes of entries appended since this process started (the
    /// snapshot policy's measure of the log, `snapshot_policy.rs`).
    logged: Arc<AtomicU64>,
}

/// A wait for the WAL sync: an append's (openraft's callback).
enum Flush {
    Log(LogFlushed<TypeConfig>),
}

impl LogStore {
    /// A log store on `store`'s database, with its flusher thread (which
    /// ends when the last clone of the log store is dropped).
    pub fn new(store: Arc<MetaStore>) -> LogStore {
        let (tx, rx) = mpsc::channel::<Flush>();
        let db = store.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || {
                // Group commit: one WAL sync for every append queued while
                // the previous sync ran; acknowledged in order.
                while let Ok(first) = rx.recv() {
                    let mut done = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        done.push(more);
                    }
                    let started = std::time::Instant::now();
                    let result = db.db().flush_wal(true).map_err(|e| e.to_string());
                    crate::metrics::record_commit(started);
                    for waiter in done {
                        match waiter {
                            Flush::Log(cb) => {
                                cb.log_io_completed(result.clone().map_err(std::io::Error::other))
                            }
                        }
                    }
                }
            })
            .expect("spawning the raft log flusher thread");
        LogStore {
            store,
            flusher: tx,
            logged: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The count of bytes appended to the log since this process started,
    /// shared: what [`crate::snapshot_policy`] weighs against the last
    /// snapshot.
    pub fn logged_bytes(&self) -> Arc<AtomicU64> {
        self.logged.clone()
    }

    fn last_log_id(&self) -> StoResult<Option<LogId<NodeId>>> {
        let mut it = self
            .store
            .db()
            .raw_iterator_cf(cf(&self.store, CF_RAFT_LOG).map_err(r_logs)?);
        it.seek_to_last();
        let last = match it.value() {
            Some(raw) => Some(decode_entry(raw).map_err(r_logs)?.log_id),
            None => None,
        };
        it.status().map_err(r_logs)?;
        Ok(last)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StoResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut it = self
            .store
            .db()
            .raw_iterator_cf(cf(&self.store, CF_RAFT_LOG).map_err(r_logs)?);
        it.seek(start.to_be_bytes());
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let index = u64::from_be_bytes(k.try_into().map_err(|_| r_logs("bad log key"))?);
            if !range.contains(&index) {
                break;
            }
            out.push(decode_entry(v).map_err(r_logs)?);
            it.next();
        }
        it.status().map_err(r_logs)?;
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StoResult<LogState<TypeConfig>> {
        let purged: Option<LogId<NodeId>> =
            get_meta(&self.store, CF_RAFT_STATE, KEY_PURGED).map_err(r_logs)?;
        let last = self.last_log_id()?.or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StoResult<()> {
        let cf = cf(&self.store, CF_RAFT_STATE).map_err(w_vote)?;
        self.store
            .db()
            .put_cf_opt(cf, KEY_VOTE, enc(vote).map_err(w_vote)?, &synced())
            .map_err(w_vote)
    }

    async fn read_vote(&mut self) -> StoResult<Option<Vote<NodeId>>> {
        get_meta(&self.store, CF_RAFT_STATE, KEY_VOTE).map_err(r_vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StoResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = cf(&self.store, CF_RAFT_LOG).map_err(w_logs)?;
        let mut batch = WriteBatch::default();
        let mut bytes = 0u64;
        for entry in entries {
            let encoded = encode_entry(&entry).map_err(w_logs)?;
            bytes += encoded.len() as u64;
            batch.put_cf(cf, entry.log_id.index.to_be_bytes(), encoded);
        }
        // Readable now; durable when the flusher has synced the WAL.
        self.store.db().write(batch).map_err(w_logs)?;
        self.logged.fetch_add(bytes, Ordering::Relaxed);
        self.flusher
            .send(Flush::Log(callback))
            .map_err(|_| w_logs("the log flusher thread is gone"))
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StoResult<()> {
        let cf = cf(&self.store, CF_RAFT_LOG).map_err(w_logs)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, log_id.index.to_be_bytes(), u64::MAX.to_be_bytes());
        batch.delete_cf(cf, u64::MAX.to_be_bytes());
        self.store.db().write_opt(batch, &synced()).map_err(w_logs)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StoResult<()> {
        let log = cf(&self.store, CF_RAFT_LOG).map_err(w_logs)?;
        let state = cf(&self.store, CF_RAFT_STATE).map_err(w_logs)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(state, KEY_PURGED, enc(&log_id).map_err(w_logs)?);
        batch.delete_range_cf(
            log,
            0u64.to_be_bytes(),
            log_id.index.saturating_add(1).to_be_bytes(),
        );
        self.store.db().write_opt(batch, &synced()).map_err(w_logs)
    }
}

// ---- state machine ----

/// The state machine: the catalogue, and its snapshot file.
#[derive(Clone)]
pub struct StateMachine {
    store: Arc<MetaStore>,
    snapshot_path: PathBuf,
    /// Where the next dedup pruning starts: just after the last age row it
    /// deleted (every older one is deleted too). Without it every apply
    /// would seek from the first key over all the rows deleted since the
    /// last compaction: after five minutes of writes, most of an apply's
    /// time. Forgotten at a restart and when a snapshot is installed.
    pruned_to: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    /// Held to take a RocksDB snapshot for a build, to replace the snapshot
    /// file, and through an install (`snapshot`).
    snapshot_lock: Arc<std::sync::Mutex<()>>,
    /// The file openraft is writing a received snapshot in.
    incoming: Arc<std::sync::Mutex<Option<PathBuf>>>,
}

impl StateMachine {
    /// The state machine on `store`, keeping its snapshot at `snapshot_path`:
    /// made whole first if the replica stopped while it wrote either
    /// (`snapshot`), and its snapshot file converted if the previous
    /// release wrote it.
    pub fn open(store: Arc<MetaStore>, snapshot_path: PathBuf) -> StoResult<StateMachine> {
        let sm = StateMachine {
            store,
            snapshot_path,
            pruned_to: Arc::new(std::sync::Mutex::new(None)),
            snapshot_lock: Arc::new(std::sync::Mutex::new(())),
            incoming: Arc::new(std::sync::Mutex::new(None)),
        };
        sm.recover()?;
        Ok(sm)
    }

    /// Applies a batch of committed entries (blocking).
    fn apply_blocking(&self, entries: Vec<Entry<TypeConfig>>) -> StoResult<Vec<Answer>> {
        let store = &self.store;
        let applied_cf = cf(store, CF_RAFT_APPLIED).map_err(w_sm)?;
        let mut answers = Vec::with_capacity(entries.len());
        for entry in entries {
            let log_id = entry.log_id;
            let (answer, mut batch) = match entry.payload {
                EntryPayload::Blank => (Ok(MetaResponse::Unit), WriteBatch::default()),
                EntryPayload::Membership(m) => {
                    let mut batch = WriteBatch::default();
                    let stored = StoredMembership::new(Some(log_id), m);
                    batch.put_cf(applied_cf, KEY_MEMBERSHIP, enc(&stored).map_err(w_sm)?);
                    (Ok(MetaResponse::Unit), batch)
                }
                EntryPayload::Normal(Command {
                    req: MetaRequest::Batch { items },
                    now_ms,
                    ..
                }) => {
                    // Each request is applied and written on its own (the
                    // next one reads what it wrote), with the entry's
                    // progress in the same write: after a crash part-way,
                    // the replay goes on from the first request not written.
                    let (mut done, mut gc_seq) =
                        match get_meta::<(u64, u64, u64)>(store, CF_RAFT_APPLIED, KEY_BATCH)
                            .map_err(r_sm)?
                        {
                            Some((index, done, seq)) if index == log_id.index => {
                                (done as usize, seq)
                            }
                            _ => (0, log_id.index << 20),
                        };
                    let mut batch_answers = Vec::with_capacity(items.len());
                    for (k, (request_id, req)) in items.into_iter().enumerate() {
                        if k < done {
                            batch_answers.push(self.replayed_answer(request_id)?);
                            continue;
                        }
                        let (answer, mut batch) =
                            self.apply_one(req, now_ms, request_id, &mut gc_seq)?;
                        done = k + 1;
                        batch.put_cf(
                            applied_cf,
                            KEY_BATCH,
                            enc(&(log_id.index, done as u64, gc_seq)).map_err(w_sm)?,
                        );
                        store.db().write(batch).map_err(w_sm)?;
                        batch_answers.push(answer);
                    }
                    (
                        Ok(MetaResponse::Batch(batch_answers)),
                        WriteBatch::default(),
                    )
                }
                EntryPayload::Normal(cmd) => {
                    let mut gc_seq = log_id.index << 20;
                    self.apply_one(cmd.req, cmd.now_ms, cmd.request_id, &mut gc_seq)?
                }
            };
            batch.put_cf(applied_cf, KEY_APPLIED, enc(&log_id).map_err(w_sm)?);
            store.db().write(batch).map_err(w_sm)?;
            answers.push(answer);
        }
        // No sync: the log holds every entry applied here (module docs).
        Ok(answers)
    }

    /// Applies one request (unless its write id was applied before: then
    /// the first answer is returned) and returns its answer and its batch,
    /// with the dedup rows added, unwritten.
    fn apply_one(
        &self,
        req: MetaRequest,
        now_ms: i64,
        request_id: u128,
        gc_seq: &mut u64,
    ) -> StoResult<(Answer, WriteBatch)> {
        if let Some(answer) = self.earlier_answer(request_id)? {
            return Ok((answer, WriteBatch::default()));
        }
        let store = &self.store;
        let id = request_id.to_be_bytes();
        let (answer, mut batch) = store.apply_entry(req, now_ms, gc_seq);
        if request_id != 0 {
            let dedup_cf = cf(store, CF_RAFT_DEDUP).map_err(w_sm)?;
            let age_cf = cf(store, CF_RAFT_DEDUP_AGE).map_err(w_sm)?;
            batch.put_cf(dedup_cf, id, enc(&(now_ms, &answer)).map_err(w_sm)?);
            let mut age = (now_ms.max(0) as u64).to_be_bytes().to_vec();
            age.extend_from_slice(&id);
            batch.put_cf(age_cf, age, b"");
        }
        self.prune_dedup(&mut batch, now_ms)?;
        Ok((answer, batch))
    }

    /// The answer a write id was first given, from the dedup table (none
    /// for id 0 or an id not applied).
    fn earlier_answer(&self, request_id: u128) -> StoResult<Option<Answer>> {
        if request_id == 0 {
            return Ok(None);
        }
        let raw = self
            .store
            .db()
            .get_pinned_cf(
                cf(&self.store, CF_RAFT_DEDUP).map_err(r_sm)?,
                request_id.to_be_bytes(),
            )
            .map_err(r_sm)?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let found: (i64, Answer) = match postcard::from_bytes(&raw) {
            // An answer kept from before row format v5 that ends with a
            // bucket or object row (CreateBucket, PutObject, DeleteObject,
            // CompleteUpload) lacks the row's owner, its last field:
            // `None`, one zero byte.
            Err(postcard::Error::DeserializeUnexpectedEnd) => {
                let mut padded = raw.to_vec();
                padded.push(0);
                postcard::from_bytes(&padded)
            }
            other => other,
        }
        .map_err(|e| r_sm(format!("corrupt {CF_RAFT_DEDUP} row: {e}")))?;
        Ok(Some(found.1))
    }

    /// The answer of a request of a batch entry that was written before a
    /// restart: from the dedup table (nobody waits for it any more, but the
    /// answers keep the batch's shape).
    fn replayed_answer(&self, request_id: u128) -> StoResult<Answer> {
        Ok(self.earlier_answer(request_id)?.unwrap_or_else(|| {
            Err(MetaError::Unavailable(
                "applied before the metadata replica restarted".into(),
            ))
        }))
    }

    /// Deletes a few dedup rows older than `DEDUP_TTL_MS` (by entry time, so
    /// every replica deletes the same ones).
    fn prune_dedup(&self, batch: &mut WriteBatch, now_ms: i64) -> StoResult<()> {
        let store = &self.store;
        let age_cf = cf(store, CF_RAFT_DEDUP_AGE).map_err(w_sm)?;
        let dedup_cf = cf(store, CF_RAFT_DEDUP).map_err(w_sm)?;
        let limit = (now_ms - DEDUP_TTL_MS).max(0) as u64;
        let mut pruned_to = self.pruned_to.lock().unwrap_or_else(|e| e.into_inner());
        let mut ro = rocksdb::ReadOptions::default();
        if let Some(from) = pruned_to.as_ref() {
            ro.set_iterate_lower_bound(from.clone());
        }
        let mut it = store.db().raw_iterator_cf_opt(age_cf, ro);
        it.seek_to_first();
        let mut n = 0;
        while let Some(k) = it.key() {
            if n == DEDUP_PRUNE_PER_ENTRY || k.len() != 24 {
                break;
            }
            let t = u64::from_be_bytes(k[..8].try_into().map_err(r_sm)?);
            if t >= limit {
                break;
            }
            batch.delete_cf(age_cf, k);
            batch.delete_cf(dedup_cf, &k[8..]);
            // The next key after this one: where the next pruning starts.
            let mut next = k.to_vec();
            next.push(0);
            *pruned_to = Some(next);
            n += 1;
            it.next();
        }
        it.status().map_err(r_sm)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoResult<T> + Send + 'static,
) -> StoResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| w_sm(format!("state machine task failed: {e}")))?
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StoResult<Snapshot<TypeConfig>> {
        let sm = self.clone();
        blocking(move || sm.build_blocking()).await
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> StoResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let applied = get_meta(&self.store, CF_RAFT_APPLIED, KEY_APPLIED).map_err(r_sm)?;
        let membership = get_meta(&self.store, CF_RAFT_APPLIED, KEY_MEMBERSHIP)
            .map_err(r_sm)?
            .unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> StoResult<Vec<Answer>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let sm = self.clone();
        blocking(move || sm.apply_blocking(entries)).await
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StoResult<Box<tokio::fs::File>> {
        let sm = self.clone();
        Ok(Box::new(blocking(move || sm.begin_receiving()).await?))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<tokio::fs::File>,
    ) -> StoResult<()> {
        // Every chunk written, and on disk, before the file is read.
        snapshot.sync_all().await.map_err(w_snap)?;
        drop(snapshot);
        let sm = self.clone();
        let meta = meta.clone();
        // The rows are the snapshot's now: prune from its first key.
        *self.pruned_to.lock().unwrap_or_else(|e| e.into_inner()) = None;
        blocking(move || sm.install_received(meta)).await
    }

    async fn get_current_snapshot(&mut self) -> StoResult<Option<Snapshot<TypeConfig>>> {
        let sm = self.clone();
        blocking(move || sm.current_snapshot()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn batch_entry(index: u64, items: Vec<(u128, MetaRequest)>) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Command {
                req: MetaRequest::Batch { items },
                now_ms: 1_000,
                request_id: 0,
            }),
        }
    }

    fn create(name: &str) -> MetaRequest {
        MetaRequest::CreateBucket {
            name: name.into(),
            region: "r".into(),
            owner: None,
        }
    }

    /// A batch entry applies its requests in order, each as if alone (a
    /// repeated write id is answered, not applied again), and applying the
    /// same entry again (a replay after a crash before `last_applied` was
    /// written) applies nothing twice.
    /// A data directory of the release before row format v5: its log
    /// entries (requests without owners, unmarked) and its dedup answers
    /// (rows without owners) still read, apply and answer.
    #[tokio::test]
    async fn the_previous_releases_log_and_answers_still_read() {
        use crate::log_format::{CommandV4, MetaRequestV4, ObjectRowV4, TypeConfigV4, UploadV4};
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MetaStore::open(&dir.path().join("db")).unwrap());
        let mut log = LogStore::new(store.clone());
        let old = |index: u64, req: MetaRequestV4| Entry::<TypeConfigV4> {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(CommandV4 {
                req,
                now_ms: 1_000,
                request_id: 0,
            }),
        };
        let row = ObjectRowV4 {
            size: 2,
            etag: "e".into(),
            last_modified_ms: 3,
            content_type: None,
            system_headers: vec![],
            user_metadata: vec![],
            parts_count: None,
            data: shale_common::ObjectData::Inline(b"hi".to_vec()),
            tags: vec![],
            checksum: None,
        };
        let entries = [
            old(
                1,
                MetaRequestV4::Batch {
                    items: vec![
                        (
                            7,
                            MetaRequestV4::CreateBucket {
                                name: "b".into(),
                                region: "r".into(),
                            },
                        ),
                        (
                            8,
                            MetaRequestV4::PutObject {
                                bucket: "b".into(),
                                key: "k".into(),
                                row,
                                if_none_match: true,
                                if_match: None,
                            },
                        ),
                    ],
                },
            ),
            old(
                2,
                MetaRequestV4::CreateUpload {
                    upload: UploadV4 {
                        bucket: "b".into(),
                        key: "m".into(),
                        upload_id: "u".into(),
                        initiated_ms: 4,
                        content_type: None,
                        system_headers: vec![],
                        user_metadata: vec![],
                        tags: vec![],
                        checksum: None,
                    },
                },
            ),
            old(
                3,
                MetaRequestV4::DeleteBucket {
                    name: "gone".into(),
                },
            ),
        ];
        let log_cf = cf(&store, CF_RAFT_LOG).unwrap();
        for e in &entries {
            let raw = postcard::to_stdvec(e).unwrap();
            store
                .db()
                .put_cf(log_cf, e.log_id.index.to_be_bytes(), raw)
                .unwrap();
        }
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id.map(|l| l.index), Some(3));
        let read = log.try_get_log_entries(1..4).await.unwrap();
        assert_eq!(read.len(), 3);
        let EntryPayload::Normal(Command {
            req: MetaRequest::DeleteBucket { name },
            ..
        }) = &read[2].payload
        else {
            panic!("{:?}", read[2]);
        };
        assert_eq!(name, "gone");

        let mut sm = StateMachine::open(store.clone(), dir.path().join("snap")).unwrap();
        let answers = sm.apply(read[..2].to_vec()).await.unwrap();
        assert!(answers.iter().all(|a| a.is_ok()), "{answers:?}");
        let b = store.get_bucket("b").unwrap().unwrap();
        assert_eq!(b.owner, None);
        let o = store.get_object("b", "k").unwrap();
        assert_eq!((o.etag.as_str(), &o.owner), ("e", &None));
        assert_eq!(store.get_upload("b", "m", "u").unwrap().owner, None);

        // Entries appended now are marked, and read back alike.
        let new = batch_entry(4, vec![(0, create("c"))]);
        let raw = crate::log_format::encode_entry(&new).unwrap();
        assert!(raw.starts_with(&crate::log_format::MARK));
        store.db().put_cf(log_cf, 4u64.to_be_bytes(), raw).unwrap();
        assert_eq!(log.try_get_log_entries(4..5).await.unwrap(), vec![new]);

        // A dedup answer kept by the previous release (a bucket row without
        // its owner) answers a repeat of its write id.
        let answer: Answer = Ok(MetaResponse::Bucket(b.clone()));
        let mut kept = postcard::to_stdvec(&(1_000i64, &answer)).unwrap();
        assert_eq!(kept.pop(), Some(0), "the owner, None, is the last byte");
        let dedup_cf = cf(&store, CF_RAFT_DEDUP).unwrap();
        store
            .db()
            .put_cf(dedup_cf, 42u128.to_be_bytes(), kept)
            .unwrap();
        let again = sm
            .apply(vec![Entry {
                log_id: LogId::new(CommittedLeaderId::new(1, 1), 5),
                payload: EntryPayload::Normal(Command {
                    req: create("b"),
                    now_ms: 2_000,
                    request_id: 42,
                }),
            }])
            .await
            .unwrap();
        assert_eq!(again, vec![answer]);
    }

    #[tokio::test]
    async fn batch_entries_apply_each_request_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MetaStore::open(&dir.path().join("db")).unwrap());
        let mut sm = StateMachine::open(store.clone(), dir.path().join("snap")).unwrap();
        let items = vec![
            (1, create("a")),
            (2, create("b")),
            (1, create("a")),
            (3, create("a")),
        ];
        let answers = sm.apply(vec![batch_entry(5, items.clone())]).await.unwrap();
        let Ok(MetaResponse::Batch(first)) = &answers[0] else {
            panic!("{answers:?}");
        };
        assert!(matches!(first[0], Ok(MetaResponse::Bucket(_))));
        assert!(matches!(first[1], Ok(MetaResponse::Bucket(_))));
        assert_eq!(
            first[2], first[0],
            "a repeated write id gets the first answer"
        );
        assert!(matches!(first[3], Err(MetaError::BucketAlreadyOwnedByYou)));

        let again = sm.apply(vec![batch_entry(5, items)]).await.unwrap();
        let Ok(MetaResponse::Batch(replayed)) = &again[0] else {
            panic!("{again:?}");
        };
        assert_eq!(replayed, first, "nothing was applied twice");

        // The next entry starts afresh.
        let next = sm
            .apply(vec![batch_entry(
                6,
                vec![(0, create("c")), (0, create("c"))],
            )])
            .await
            .unwrap();
        let Ok(MetaResponse::Batch(next)) = &next[0] else {
            panic!("{next:?}");
        };
        assert!(matches!(next[0], Ok(MetaResponse::Bucket(_))));
        assert!(matches!(next[1], Err(MetaError::BucketAlreadyOwnedByYou)));
        let buckets = store.execute(MetaRequest::ListBuckets).unwrap();
        let MetaResponse::Buckets(b) = buckets else {
            panic!("{buckets:?}");
        };
        assert_eq!(b.len(), 3);
    }
}
