//! The state machine's snapshots, as files (`snapshot_format`), never
//! whole in memory:
//!
//! - Building streams the rows of one RocksDB snapshot into
//!   `<db>.snapshot.building-*`, syncs it and renames it over
//!   `<db>.snapshot`, unless a newer snapshot got there first.
//! - Receiving writes openraft's chunks into `<db>.snapshot.incoming-*`.
//! - Installing checks the received file whole (its hash, its meta against
//!   the leader's), renames it over `<db>.snapshot`, then replaces the state
//!   machine's column families from it in batches of
//!   [`INSTALL_BATCH_BYTES`]. A mark in `raft_state` (outside the
//!   snapshot) says an install began; the last batch, synced, writes
//!   last-applied and the membership and removes the mark. A replica that
//!   stops in between finds the mark when it opens and installs the file
//!   again before Raft starts.
//! - Opening a data directory of the previous release converts its
//!   snapshot file, and a snapshot sent in the previous release's form is
//!   converted on arrival.

use super::*;
use crate::snapshot_format::{self as format, LegacyFile, Meta, Reader, Record, Writer};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rows of an install written per batch: its memory, whatever the size of
/// the snapshot.
pub(crate) const INSTALL_BATCH_BYTES: usize = 4 << 20;
/// In `raft_state`: the meta of a snapshot whose install began and has not
/// ended.
const KEY_INSTALLING: &[u8] = b"installing_snapshot";
/// Suffixes of the snapshot file's temporary siblings.
const BUILDING: &str = ".building-";
const INCOMING: &str = ".incoming-";
const CONVERTING: &str = ".converting-";

/// A name no other temporary file of this process has.
fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Renames `from` over `to` and syncs their directory (`from` is synced).
fn commit(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    if let Some(dir) = to.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The meta of the snapshot file `file`, from its header; the file is left
/// at its start.
fn header(file: &File) -> std::io::Result<Meta> {
    let meta = Reader::new(BufReader::new(file))?.meta().clone();
    let mut f = file;
    f.seek(SeekFrom::Start(0))?;
    Ok(meta)
}

/// Whether the file at `path` is in the current format.
fn is_current(path: &Path) -> std::io::Result<bool> {
    let mut head = Vec::with_capacity(format::MAGIC.len());
    File::open(path)?
        .take(format::MAGIC.len() as u64)
        .read_to_end(&mut head)?;
    Ok(format::is_current(&head))
}

/// The handle of the state machine's column family `name`: a snapshot
/// never writes any other (the log's, above all).
fn state_family<'a>(store: &'a MetaStore, name: &str) -> StoResult<&'a rocksdb::ColumnFamily> {
    if !CF_STATE_MACHINE.contains(&name) {
        return Err(r_snap(format!("the snapshot holds column family {name:?}")));
    }
    cf(store, name).map_err(w_sm)
}

/// Reads the snapshot file at `path` whole: its hash, and only state
/// machine families. Its meta and number of rows.
fn check(path: &Path) -> StoResult<(Meta, u64)> {
    let file = File::open(path).map_err(r_snap)?;
    let mut reader = Reader::new(BufReader::with_capacity(1 << 20, file)).map_err(r_snap)?;
    let mut rows = 0u64;
    while let Some(record) = reader.next_record().map_err(r_snap)? {
        match record {
            Record::Family(name) if !CF_STATE_MACHINE.contains(&name.as_str()) => {
                return Err(r_snap(format!("the snapshot holds column family {name:?}")));
            }
            Record::Family(_) => {}
            Record::Row(..) => rows += 1,
        }
    }
    Ok((reader.meta().clone(), rows))
}

impl StateMachine {
    /// The snapshot file's sibling named with `suffix`.
    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut p = self.snapshot_path.clone().into_os_string();
        p.push(suffix);
        p.into()
    }

    /// Writes `data`, the previous release's rows of a snapshot of `meta`,
    /// as a current file at `to`.
    fn convert(&self, meta: &Meta, data: &[u8], to: &Path) -> StoResult<()> {
        let tmp = self.sibling(&format!("{CONVERTING}{}", unique()));
        let write = || -> std::io::Result<()> {
            let out = BufWriter::new(File::create(&tmp)?);
            let out = format::convert_legacy(meta, data, out)?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            commit(&tmp, to)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            w_snap(e)
        })
    }

    /// Makes the snapshot file and the state machine whole after a stop:
    /// removes temporary files, converts a snapshot file of the previous
    /// release, and finishes an install that was cut short. Runs before
    /// Raft starts.
    pub(super) fn recover(&self) -> StoResult<()> {
        let name = self
            .snapshot_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = match self.snapshot_path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temporary = [BUILDING, INCOMING, CONVERTING].map(|s| format!("{name}{s}"));
        for entry in std::fs::read_dir(&dir).map_err(r_snap)? {
            let entry = entry.map_err(r_snap)?;
            let n = entry.file_name().to_string_lossy().into_owned();
            if temporary.iter().any(|t| n.starts_with(t)) {
                std::fs::remove_file(entry.path()).map_err(w_snap)?;
            }
        }
        // The previous release's temporary file.
        let _ = std::fs::remove_file(self.snapshot_path.with_extension("tmp"));

        match is_current(&self.snapshot_path) {
            Ok(true) => {}
            Ok(false) => {
                let bytes = std::fs::read(&self.snapshot_path).map_err(r_snap)?;
                let old: LegacyFile = postcard::from_bytes(&bytes).map_err(r_snap)?;
                self.convert(&old.meta, &old.data, &self.snapshot_path)?;
                tracing::info!(
                    snapshot = %old.meta.snapshot_id,
                    "converted the previous release's snapshot file"
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(r_snap(e)),
        }

        let state = cf(&self.store, CF_RAFT_STATE).map_err(r_sm)?;
        if let Some(raw) = self
            .store
            .db()
            .get_cf(state, KEY_INSTALLING)
            .map_err(r_sm)?
        {
            let meta: Meta = postcard::from_bytes(&raw).map_err(r_sm)?;
            tracing::warn!(
                snapshot = %meta.snapshot_id,
                "an install of a snapshot was cut short; installing it again"
            );
            let _lock = self.lock_snapshots();
            self.install_rows(&meta)?;
        }
        Ok(())
    }

    fn lock_snapshots(&self) -> std::sync::MutexGuard<'_, ()> {
        self.snapshot_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current snapshot file, open at its start, with its meta.
    fn open_current(&self) -> StoResult<Option<(Meta, File)>> {
        let file = match File::open(&self.snapshot_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(r_snap(e)),
        };
        let meta = header(&file).map_err(r_snap)?;
        Ok(Some((meta, file)))
    }

    /// Streams the state machine's column families, from one RocksDB
    /// snapshot, into a snapshot file.
    pub(super) fn build_blocking(&self) -> StoResult<Snapshot<TypeConfig>> {
        let db = self.store.db();
        // Not while an install replaces the rows.
        let snap = {
            let _lock = self.lock_snapshots();
            db.snapshot()
        };
        let read = |name: &str, key: &[u8]| -> StoResult<Option<Vec<u8>>> {
            snap.get_cf(cf(&self.store, name).map_err(r_sm)?, key)
                .map_err(r_sm)
        };
        let applied: Option<LogId<NodeId>> = read(CF_RAFT_APPLIED, KEY_APPLIED)?
            .map(|raw| postcard::from_bytes(&raw))
            .transpose()
            .map_err(r_sm)?;
        let membership: StoredMembership<NodeId, BasicNode> =
            read(CF_RAFT_APPLIED, KEY_MEMBERSHIP)?
                .map(|raw| postcard::from_bytes(&raw))
                .transpose()
                .map_err(r_sm)?
                .unwrap_or_default();
        let snapshot_id = match &applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, wall_ms()),
            None => format!("none-{}", wall_ms()),
        };
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id,
        };

        let tmp = self.sibling(&format!("{BUILDING}{}", unique()));
        let write = || -> StoResult<()> {
            let out = BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(w_snap)?);
            let mut w = Writer::new(out, &meta).map_err(w_snap)?;
            for name in CF_STATE_MACHINE {
                w.family(name).map_err(w_snap)?;
                let mut ro = ReadOptions::default();
                ro.set_snapshot(&snap);
                let mut it = db.raw_iterator_cf_opt(cf(&self.store, name).map_err(r_sm)?, ro);
                it.seek_to_first();
                while let (Some(k), Some(v)) = (it.key(), it.value()) {
                    w.row(k, v).map_err(w_snap)?;
                    it.next();
                }
                it.status().map_err(r_sm)?;
            }
            let out = w.finish().map_err(w_snap)?;
            let file = out.into_inner().map_err(|e| w_snap(e.into_error()))?;
            file.sync_all().map_err(w_snap)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        drop(snap);

        let _lock = self.lock_snapshots();
        // An install, or another build, may have left a newer one.
        if let Some((current, file)) = self.open_current()?
            && current.last_log_id > meta.last_log_id
        {
            let _ = std::fs::remove_file(&tmp);
            return Ok(Snapshot {
                meta: current,
                snapshot: Box::new(tokio::fs::File::from_std(file)),
            });
        }
        commit(&tmp, &self.snapshot_path).map_err(w_snap)?;
        let file = File::open(&self.snapshot_path).map_err(r_snap)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        })
    }

    /// A new file for openraft to write a received snapshot's chunks in.
    pub(super) fn begin_receiving(&self) -> StoResult<tokio::fs::File> {
        let path = self.sibling(&format!("{INCOMING}{}", unique()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(w_snap)?;
        let mut incoming = self.incoming.lock().unwrap_or_else(|e| e.into_inner());
        // A stream openraft gave up for this one.
        if let Some(old) = incoming.replace(path) {
            let _ = std::fs::remove_file(old);
        }
        Ok(tokio::fs::File::from_std(file))
    }

    /// Installs the received snapshot of `meta` (its file synced).
    pub(super) fn install_received(&self, meta: Meta) -> StoResult<()> {
        let path = self
            .incoming
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| w_snap("no snapshot was being received"))?;
        let result = self.install_file(&meta, &path);
        let _ = std::fs::remove_file(&path);
        result
    }

    fn install_file(&self, meta: &Meta, path: &Path) -> StoResult<()> {
        if !is_current(path).map_err(r_snap)? {
            // From a leader of the previous release: its rows, in memory
            // as that release held them.
            let data = std::fs::read(path).map_err(r_snap)?;
            self.convert(meta, &data, path)?;
        }
        let (got, rows) = check(path)?;
        if got.snapshot_id != meta.snapshot_id || got.last_log_id != meta.last_log_id {
            return Err(r_snap(format!(
                "the received snapshot file is {} up to {:?}, the leader sent {} up to {:?}",
                got.snapshot_id, got.last_log_id, meta.snapshot_id, meta.last_log_id
            )));
        }
        let _lock = self.lock_snapshots();
        commit(path, &self.snapshot_path).map_err(w_snap)?;
        let state = cf(&self.store, CF_RAFT_STATE).map_err(w_sm)?;
        let mark = enc(meta).map_err(w_sm)?;
        self.store
            .db()
            .put_cf_opt(state, KEY_INSTALLING, mark, &synced())
            .map_err(w_sm)?;
        self.install_rows(meta)?;
        tracing::info!(snapshot = %meta.snapshot_id, rows, "installed a snapshot");
        Ok(())
    }

    /// Replaces the state machine's column families with the rows of the
    /// snapshot file (checked whole before), in bounded batches; the last,
    /// synced, sets last-applied and the membership of `meta` and removes
    /// the install's mark. Called with the snapshot lock held.
    fn install_rows(&self, meta: &Meta) -> StoResult<()> {
        let db = self.store.db();
        let mut batch = WriteBatch::default();
        for name in CF_STATE_MACHINE {
            let handle = cf(&self.store, name).map_err(w_sm)?;
            let mut it = db.raw_iterator_cf(handle);
            it.seek_to_first();
            let first = it.key().map(<[u8]>::to_vec);
            it.seek_to_last();
            let last = it.key().map(<[u8]>::to_vec);
            it.status().map_err(r_sm)?;
            if let (Some(first), Some(mut end)) = (first, last) {
                end.push(0);
                batch.delete_range_cf(handle, first, end);
            }
        }
        let file = File::open(&self.snapshot_path).map_err(r_snap)?;
        let mut reader = Reader::new(BufReader::with_capacity(1 << 20, file)).map_err(r_snap)?;
        let mut family = None;
        while let Some(record) = reader.next_record().map_err(r_snap)? {
            match record {
                Record::Family(name) => {
                    family = Some(state_family(&self.store, &name)?);
                }
                Record::Row(k, v) => {
                    let handle = family.ok_or_else(|| r_snap("a row outside a family"))?;
                    batch.put_cf(handle, k, v);
                    if batch.size_in_bytes() >= INSTALL_BATCH_BYTES {
                        db.write(std::mem::take(&mut batch)).map_err(w_sm)?;
                    }
                }
            }
        }
        let applied_cf = cf(&self.store, CF_RAFT_APPLIED).map_err(w_sm)?;
        match &meta.last_log_id {
            Some(l) => batch.put_cf(applied_cf, KEY_APPLIED, enc(l).map_err(w_sm)?),
            None => batch.delete_cf(applied_cf, KEY_APPLIED),
        }
        batch.put_cf(
            applied_cf,
            KEY_MEMBERSHIP,
            enc(&meta.last_membership).map_err(w_sm)?,
        );
        batch.delete_cf(
            cf(&self.store, CF_RAFT_STATE).map_err(w_sm)?,
            KEY_INSTALLING,
        );
        db.write_opt(batch, &synced()).map_err(w_sm)
    }

    /// The current snapshot, its file open at its start.
    pub(super) fn current_snapshot(&self) -> StoResult<Option<Snapshot<TypeConfig>>> {
        let _lock = self.lock_snapshots();
        Ok(self.open_current()?.map(|(meta, file)| Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MetaRequest;
    use openraft::CommittedLeaderId;
    use tokio::io::AsyncWriteExt;

    type Rows = Vec<(String, Vec<format::Row>)>;

    /// Each family's name, number of rows and hash of its rows: what the
    /// tests compare (a failure prints that, not megabytes of rows).
    /// Without the membership row, which an install writes from the meta
    /// whether or not the leader's state machine had one.
    fn digest(rows: Rows) -> Vec<(String, usize, String)> {
        rows.into_iter()
            .map(|(name, family)| {
                let family: Vec<_> = family
                    .into_iter()
                    .filter(|(k, _)| !(name == CF_RAFT_APPLIED && k == KEY_MEMBERSHIP))
                    .collect();
                let mut h = blake3::Hasher::new();
                for (k, v) in &family {
                    h.update(&(k.len() as u64).to_le_bytes());
                    h.update(k);
                    h.update(&(v.len() as u64).to_le_bytes());
                    h.update(v);
                }
                (name, family.len(), h.finalize().to_hex()[..16].to_string())
            })
            .collect()
    }

    struct Replica {
        _dir: tempfile::TempDir,
        dir: PathBuf,
        store: Arc<MetaStore>,
        sm: StateMachine,
    }

    fn replica() -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let store = Arc::new(MetaStore::open(&path.join("db")).unwrap());
        let sm = StateMachine::open(store.clone(), path.join("db.snapshot")).unwrap();
        Replica {
            _dir: dir,
            dir: path,
            store,
            sm,
        }
    }

    /// Every row of the state machine's column families, as [`digest`].
    fn rows(store: &MetaStore) -> Vec<(String, usize, String)> {
        digest(all_rows(store))
    }

    fn all_rows(store: &MetaStore) -> Rows {
        CF_STATE_MACHINE
            .iter()
            .map(|name| {
                let it = store
                    .db()
                    .iterator_cf(cf(store, name).unwrap(), rocksdb::IteratorMode::Start);
                let family = it
                    .map(|r| r.unwrap())
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                (name.to_string(), family)
            })
            .collect()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("db."))
            .collect();
        names.sort();
        names
    }

    /// A replica with buckets applied through Raft entries and `bulk` bytes
    /// of object rows written beside them.
    async fn leader(bulk: usize) -> Replica {
        let mut r = replica();
        let entries = (1..=5)
            .map(|i| Entry {
                log_id: LogId::new(CommittedLeaderId::new(2, 1), i),
                payload: EntryPayload::Normal(Command {
                    req: MetaRequest::CreateBucket {
                        name: format!("b{i}"),
                        region: "r".into(),
                        owner: None,
                    },
                    now_ms: 1_000,
                    request_id: i as u128,
                }),
            })
            .collect::<Vec<_>>();
        r.sm.apply(entries).await.unwrap();
        let objects = cf(&r.store, "objects").unwrap();
        let value = vec![0x5a; 4096];
        for i in 0..bulk / value.len() {
            let key = format!("bulk/{i:08}");
            r.store.db().put_cf(objects, key, &value).unwrap();
        }
        r
    }

    /// Sends `snapshot` to `to` as openraft does: chunks written in the
    /// file `begin_receiving_snapshot` gives, then `install_snapshot`.
    async fn send(
        snapshot: &Snapshot<TypeConfig>,
        bytes: &[u8],
        to: &mut Replica,
    ) -> StoResult<()> {
        let mut file = to.sm.begin_receiving_snapshot().await?;
        for chunk in bytes.chunks(1000) {
            file.write_all(chunk).await.unwrap();
        }
        file.shutdown().await.unwrap();
        to.sm.install_snapshot(&snapshot.meta, file).await
    }

    async fn built(r: &mut Replica) -> (Snapshot<TypeConfig>, Vec<u8>) {
        let snapshot =
            r.sm.get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();
        let bytes = std::fs::read(r.dir.join("db.snapshot")).unwrap();
        (snapshot, bytes)
    }

    /// Built into a file, sent in chunks into a file, installed in batches:
    /// the follower's state machine is the leader's, row for row, even when
    /// the snapshot is several install batches long, and no temporary file
    /// is left.
    #[tokio::test]
    async fn a_snapshot_goes_from_file_to_file_and_installs_row_for_row() {
        let mut a = leader(3 * INSTALL_BATCH_BYTES).await;
        let (snapshot, bytes) = built(&mut a).await;
        assert!(format::is_current(&bytes));
        assert!(bytes.len() > 3 * INSTALL_BATCH_BYTES);
        assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(5));

        let mut b = replica();
        b.store.create_bucket("stale", "r").unwrap();
        send(&snapshot, &bytes, &mut b).await.unwrap();
        assert_eq!(rows(&b.store), rows(&a.store));
        let (applied, _) = b.sm.applied_state().await.unwrap();
        assert_eq!(applied, snapshot.meta.last_log_id);
        let current = b.sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, snapshot.meta);
        assert_eq!(std::fs::read(b.dir.join("db.snapshot")).unwrap(), bytes);
        assert_eq!(files(&b.dir), vec!["db.snapshot"]);
        assert_eq!(files(&a.dir), vec!["db.snapshot"]);
    }

    /// A replica that stopped halfway through an install (the mark written,
    /// some rows replaced) finishes it when it opens, before Raft starts.
    #[tokio::test]
    async fn an_install_cut_short_is_finished_when_the_replica_opens() {
        let mut a = leader(INSTALL_BATCH_BYTES).await;
        let (snapshot, bytes) = built(&mut a).await;
        let b = replica();
        b.store.create_bucket("stale", "r").unwrap();
        // What install_file leaves when it stops after its first batch.
        std::fs::write(b.dir.join("db.snapshot"), &bytes).unwrap();
        let state = cf(&b.store, CF_RAFT_STATE).unwrap();
        b.store
            .db()
            .put_cf(state, KEY_INSTALLING, enc(&snapshot.meta).unwrap())
            .unwrap();
        let buckets = cf(&b.store, "buckets").unwrap();
        b.store.db().put_cf(buckets, "half", "written").unwrap();
        std::fs::write(b.dir.join("db.snapshot.incoming-1-1"), b"partial").unwrap();
        drop(b.sm);

        let sm = StateMachine::open(b.store.clone(), b.dir.join("db.snapshot")).unwrap();
        assert_eq!(rows(&b.store), rows(&a.store));
        assert_eq!(b.store.db().get_cf(state, KEY_INSTALLING).unwrap(), None);
        assert_eq!(files(&b.dir), vec!["db.snapshot"]);
        let mut sm = sm;
        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied, snapshot.meta.last_log_id);
    }

    /// A received file cut short, with a byte changed, of another snapshot
    /// than the leader announced, or writing a family outside the state
    /// machine: refused, and the follower's rows and snapshot unchanged.
    #[tokio::test]
    async fn a_damaged_or_foreign_snapshot_changes_nothing() {
        let mut a = leader(64 << 10).await;
        let (snapshot, bytes) = built(&mut a).await;
        let mut b = leader(0).await;
        let (_, own) = built(&mut b).await;
        let before = rows(&b.store);

        let mut flipped = bytes.clone();
        let at = bytes.len() / 2;
        flipped[at] ^= 1;
        let mut other = snapshot.meta.clone();
        other.snapshot_id = "someone-else".into();
        let foreign = {
            let mut w = Writer::new(Vec::new(), &snapshot.meta).unwrap();
            w.family(CF_RAFT_LOG).unwrap();
            w.row(&1u64.to_be_bytes(), b"forged entry").unwrap();
            w.finish().unwrap()
        };
        let cases: Vec<(&str, Snapshot<TypeConfig>, Vec<u8>)> = vec![
            (
                "cut",
                clone(&snapshot, None),
                bytes[..bytes.len() - 1].to_vec(),
            ),
            ("flipped", clone(&snapshot, None), flipped),
            ("other id", clone(&snapshot, Some(other)), bytes.clone()),
            ("raft_log", clone(&snapshot, None), foreign),
        ];
        for (what, snapshot, data) in cases {
            let err = send(&snapshot, &data, &mut b).await;
            assert!(err.is_err(), "{what} was installed");
            assert_eq!(rows(&b.store), before, "{what} changed rows");
            let log = cf(&b.store, CF_RAFT_LOG).unwrap();
            assert_eq!(b.store.db().get_cf(log, 1u64.to_be_bytes()).unwrap(), None);
            assert_eq!(std::fs::read(b.dir.join("db.snapshot")).unwrap(), own);
            assert_eq!(files(&b.dir), vec!["db.snapshot"], "{what}");
        }
    }

    fn clone(s: &Snapshot<TypeConfig>, meta: Option<Meta>) -> Snapshot<TypeConfig> {
        let file = File::open("/dev/null").unwrap();
        Snapshot {
            meta: meta.unwrap_or_else(|| s.meta.clone()),
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        }
    }

    /// The previous release's snapshot file (postcard meta and rows) is
    /// converted when its data directory opens; a snapshot a leader of the
    /// previous release sends (its rows alone) installs.
    #[tokio::test]
    async fn the_previous_releases_snapshots_open_and_install() {
        let mut a = leader(8 << 10).await;
        let (snapshot, _) = built(&mut a).await;
        let legacy = format::LegacyRows {
            families: all_rows(&a.store),
        };
        let data = postcard::to_stdvec(&legacy).unwrap();

        // A data directory of the previous release.
        let old = replica();
        let file = LegacyFile {
            meta: snapshot.meta.clone(),
            data: data.clone(),
        };
        std::fs::write(
            old.dir.join("db.snapshot"),
            postcard::to_stdvec(&file).unwrap(),
        )
        .unwrap();
        std::fs::write(old.dir.join("db.tmp"), b"left by the previous release").unwrap();
        drop(old.sm);
        let mut sm = StateMachine::open(old.store.clone(), old.dir.join("db.snapshot")).unwrap();
        assert!(is_current(&old.dir.join("db.snapshot")).unwrap());
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, snapshot.meta);
        assert!(!old.dir.join("db.tmp").exists());

        // A leader of the previous release sends its rows.
        let mut b = replica();
        send(&snapshot, &data, &mut b).await.unwrap();
        assert_eq!(rows(&b.store), rows(&a.store));
        assert!(is_current(&b.dir.join("db.snapshot")).unwrap());
        assert_eq!(files(&b.dir), vec!["db.snapshot"]);
    }
}
