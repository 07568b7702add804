//! Point reads answered from memory, on the caller's thread.
//!
//! The service runs the store's calls on tokio's blocking pool, because
//! RocksDB may read the disk. But the read of a GET (`GetVersion`: the
//! key's row and the bucket's versioning) is nearly always in a memtable or
//! the block cache, and takes a few microseconds, less than the hand-off to
//! the pool and back (8% of a GET 4 KiB's time in the profile of
//! `benches/analysis.md`, and most of its thread wake-ups).
//!
//! [`MetaStore::execute_from_memory`] runs such a read with every RocksDB
//! point read of the thread restricted to `ReadTier::BlockCache` (memtables
//! and block cache, never a file): RocksDB then answers `Incomplete` where
//! it would have read the disk, and the read is given up, to be run again
//! on the pool as before. Iterators are given up at once. What a read
//! answers does not depend on where it ran: only whether it may block.

use super::{MetaStore, Result};
use crate::types::{MetaError, MetaRequest, MetaResponse};
use rocksdb::{DBPinnableSlice, ErrorKind, ReadOptions, ReadTier};
use std::cell::Cell;

thread_local! {
    /// Set while [`MetaStore::execute_from_memory`] runs on this thread.
    static MEMORY_ONLY: Cell<bool> = const { Cell::new(false) };
    /// Set when a read in that scope needed the disk.
    static NEEDED_DISK: Cell<bool> = const { Cell::new(false) };
}

/// The memory-only scope of one read; left on drop, unwinding included.
struct MemoryOnly;

impl MemoryOnly {
    fn enter() -> Self {
        MEMORY_ONLY.set(true);
        NEEDED_DISK.set(false);
        MemoryOnly
    }
}

impl Drop for MemoryOnly {
    fn drop(&mut self) {
        MEMORY_ONLY.set(false);
    }
}

/// The error a read in the memory-only scope fails with when it needs the
/// disk; [`MetaStore::execute_from_memory`] turns it into `None`, so no
/// caller sees it.
fn needs_disk() -> MetaError {
    NEEDED_DISK.set(true);
    MetaError::Internal("the read needs the disk".into())
}

impl MetaRequest {
    /// A GET's read of one row or two: the kinds
    /// [`MetaStore::execute_from_memory`] tries.
    pub fn is_point_read(&self) -> bool {
        matches!(
            self,
            MetaRequest::GetVersion { .. }
                | MetaRequest::GetObject { .. }
                | MetaRequest::GetBucket { .. }
        )
    }
}

impl MetaStore {
    /// Answers a point read (`GetVersion`, `GetObject`, `GetBucket`) from
    /// RocksDB's memtables and block cache alone, without blocking on the
    /// disk. `None` when the request is of another kind or the read needs
    /// the disk: the caller then runs it with [`Self::execute`] where it may
    /// block. The answer, when there is one, is the one `execute` gives.
    pub fn execute_from_memory(&self, req: &MetaRequest) -> Option<Result<MetaResponse>> {
        if !req.is_point_read() {
            return None;
        }
        let _scope = MemoryOnly::enter();
        let answer = self.execute(req.clone());
        if NEEDED_DISK.get() {
            return None;
        }
        Some(answer)
    }

    /// A point read of `cf`: from memory only in the scope of
    /// [`Self::execute_from_memory`], from anywhere otherwise.
    pub(super) fn get_pinned(&self, cf: &str, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>> {
        let cf = self.cf(cf)?;
        if !MEMORY_ONLY.get() {
            return Ok(self.db.get_pinned_cf(cf, key)?);
        }
        let mut ro = ReadOptions::default();
        ro.set_read_tier(ReadTier::BlockCache);
        match self.db.get_pinned_cf_opt(cf, key, &ro) {
            Ok(found) => Ok(found),
            Err(e) if e.kind() == ErrorKind::Incomplete => Err(needs_disk()),
            Err(e) => Err(e.into()),
        }
    }

    /// Refuses a scan in the scope of [`Self::execute_from_memory`]: an
    /// iterator may read any number of blocks.
    pub(super) fn may_scan(&self) -> Result<()> {
        if MEMORY_ONLY.get() {
            return Err(needs_disk());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BucketConfig, ObjectRow, VersionRef, VersioningStatus};
    use shale_common::ObjectData;

    fn small(body: &[u8]) -> ObjectRow {
        ObjectRow {
            size: body.len() as u64,
            data: ObjectData::Inline(body.to_vec()),
            ..ObjectRow::delete_marker(1_000, None)
        }
    }

    fn get(bucket: &str, key: &str, version: VersionRef) -> MetaRequest {
        MetaRequest::GetVersion {
            bucket: bucket.into(),
            key: key.into(),
            version,
        }
    }

    /// Flushes every column family to table files, so that reads must
    /// come from files (or the block cache) instead of the memtables.
    fn flush(s: &MetaStore) {
        for cf in super::super::CF_STATE_MACHINE {
            s.db().flush_cf(s.cf(cf).unwrap()).unwrap();
        }
    }

    #[test]
    fn reads_in_memory_answer_as_execute_does() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(dir.path()).unwrap();
        s.create_bucket("b", "r").unwrap();
        s.put_object("b", "k", small(b"hello"), false, None)
            .unwrap();
        let reads = [
            get("b", "k", VersionRef::Latest),
            get("b", "absent", VersionRef::Latest),
            get("nobucket", "k", VersionRef::Latest),
            get("b", "k", VersionRef::Null),
            MetaRequest::GetObject {
                bucket: "b".into(),
                key: "k".into(),
            },
            MetaRequest::GetBucket { name: "b".into() },
            MetaRequest::GetBucket { name: "no".into() },
        ];
        for req in &reads {
            let answer = s.execute_from_memory(req);
            assert_eq!(answer, Some(s.execute(req.clone())), "{req:?}");
        }
        let Some(Ok(MetaResponse::Version(v))) = s.execute_from_memory(&reads[0]) else {
            panic!("the object's row is in a memtable");
        };
        assert_eq!(v.object.row.data, ObjectData::Inline(b"hello".to_vec()));
        // Other kinds are not tried: a listing is a scan.
        let list = MetaRequest::ListBuckets;
        assert_eq!(s.execute_from_memory(&list), None);
    }

    #[test]
    fn a_read_that_needs_the_disk_gives_way_until_the_block_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = MetaStore::open(dir.path()).unwrap();
            s.create_bucket("b", "r").unwrap();
            s.put_object("b", "k", small(b"on disk"), false, None)
                .unwrap();
            flush(&s);
        }
        // A new open: the rows are in table files, the block cache empty.
        let s = MetaStore::open(dir.path()).unwrap();
        let req = get("b", "k", VersionRef::Latest);
        assert_eq!(s.execute_from_memory(&req), None);
        // The read where it may block fills the block cache.
        let answer = s.execute(req.clone());
        assert!(answer.is_ok(), "{answer:?}");
        assert_eq!(s.execute_from_memory(&req), Some(answer));
        // The scope ended: a read outside it reads the disk as before.
        assert!(!MEMORY_ONLY.get());
        assert!(s.get_bucket("b").unwrap().is_some());
    }

    #[test]
    fn a_read_that_scans_gives_way() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(dir.path()).unwrap();
        s.create_bucket("b", "r").unwrap();
        s.put_bucket_config("b", &BucketConfig::Versioning(VersioningStatus::Enabled))
            .unwrap();
        s.put_object("b", "k", small(b"v1"), false, None).unwrap();
        s.delete_object("b", "k").unwrap();
        // The latest version is a delete marker, found by a scan of the
        // key's older versions.
        let req = get("b", "k", VersionRef::Latest);
        assert_eq!(s.execute_from_memory(&req), None);
        let answer = s.execute(req).unwrap();
        let MetaResponse::Version(v) = answer else {
            panic!("{answer:?}");
        };
        assert!(v.object.version.marker);
    }
}
