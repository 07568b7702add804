//! `ChunkStore`: chunk files on one or more local disks.
//!
//! A chunk lives on exactly one disk, chosen from the BLAKE3 hash of its id,
//! at `<disk>/chunks/<first 2 hex chars of blake3(id)>/<id>`. The fan-out
//! directories keep any one directory small. Writes go to a `.tmp-` file in
//! the same directory, are fsynced, renamed over the final name and the
//! directory is fsynced, so a chunk is either absent or whole and durable;
//! a crash leaves at most a stray temp file, which `list` never reports.
//!
//! All file I/O is blocking and runs on tokio's blocking pool.

use crate::chunk::{self, ChunkHeader};
use crate::{Error, Result};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use shale_common::is_valid_chunk_id;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of temporary files; valid chunk ids never start with a dot.
const TMP_PREFIX: &str = ".tmp-";
/// Name of the chunk directory inside each disk directory.
const CHUNKS_DIR: &str = "chunks";

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
    /// Chunk files on the disk.
    pub chunks: u64,
    /// Bytes of chunk files on the disk (headers, CRCs and trailers included).
    pub bytes_used: u64,
    /// Size of the file system, when known (not yet measured: std has no
    /// portable `statvfs`).
    pub capacity_bytes: Option<u64>,
    /// Free bytes of the file system, when known (see `capacity_bytes`).
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
}

/// Chunk files on one or more disk directories. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ChunkStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    disks: Vec<PathBuf>,
    block_size: u32,
}

impl ChunkStore {
    /// Opens a store over `disks`, creating each `<disk>/chunks` directory if
    /// missing. Blocking: call it at start-up.
    pub fn open(disks: Vec<PathBuf>, block_size: u32) -> Result<Self> {
        if disks.is_empty() {
            return Err(Error::Config("disks: at least one disk is required".into()));
        }
        if block_size == 0 || block_size > chunk::MAX_BLOCK_SIZE {
            return Err(Error::Config(format!(
                "block_size: {block_size} is not in 1..={}",
                chunk::MAX_BLOCK_SIZE
            )));
        }
        for (i, disk) in disks.iter().enumerate() {
            fs::create_dir_all(disk.join(CHUNKS_DIR))
                .map_err(|e| Error::Config(format!("disks[{i}]: {}: {e}", disk.display())))?;
        }
        Ok(ChunkStore {
            inner: Arc::new(Inner { disks, block_size }),
        })
    }

    /// The configured disk directories.
    pub fn disks(&self) -> &[PathBuf] {
        &self.inner.disks
    }

    /// Block size of newly written chunks.
    pub fn block_size(&self) -> u32 {
        self.inner.block_size
    }

    /// Where chunk `id` lives (whether or not it exists).
    pub fn chunk_path(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        let hash = blake3::hash(id.as_bytes());
        let bytes = hash.as_bytes();
        let pick = u64::from_le_bytes(bytes[..8].try_into().expect("hash has 32 bytes"));
        let disk = &self.inner.disks[(pick % self.inner.disks.len() as u64) as usize];
        Ok(disk
            .join(CHUNKS_DIR)
            .join(hex::encode(&bytes[..1]))
            .join(id))
    }

    /// Stores chunk `id` durably, replacing any chunk of the same id.
    /// Returns true when no chunk of that id existed before.
    pub async fn put(&self, id: &str, data: Bytes) -> Result<bool> {
        let path = self.chunk_path(id)?;
        let id = id.to_owned();
        let block_size = self.inner.block_size;
        blocking(move || write_durably(&path, &id, block_size, &data)).await
    }

    /// Reads `len` data bytes at `offset` of chunk `id`, checking the CRC of
    /// every block read.
    pub async fn get(&self, id: &str, offset: u64, len: u64) -> Result<Bytes> {
        self.read_with(id, move |_| Ok((offset, len)))
            .await
            .map(|(_, _, data)| data)
    }

    /// Reads the range that `pick` chooses once the chunk's size is known
    /// (one open of the file, for ranges such as "the last n bytes").
    /// `pick` gets the chunk info and returns `(offset, len)`; returns the
    /// chunk info, the offset and the bytes.
    pub async fn read_with<F>(&self, id: &str, pick: F) -> Result<(ChunkInfo, u64, Bytes)>
    where
        F: FnOnce(&ChunkInfo) -> Result<(u64, u64)> + Send + 'static,
    {
        let path = self.chunk_path(id)?;
        let id = id.to_owned();
        blocking(move || {
            let (mut file, header) = open_chunk(&path, &id)?;
            let info = info_of(&header);
            let (offset, len) = pick(&info)?;
            let data = chunk::read_data(&mut file, &header, offset, len)?;
            Ok((info, offset, Bytes::from(data)))
        })
        .await
    }

    /// Fully verifies chunk `id`: header, every block CRC and the BLAKE3
    /// trailer (reads the whole file; the scrubber's check, not the read path's).
    pub async fn verify(&self, id: &str) -> Result<ChunkInfo> {
        let path = self.chunk_path(id)?;
        let id = id.to_owned();
        blocking(move || {
            let (mut file, header) = open_chunk(&path, &id)?;
            chunk::verify_chunk(&mut file, &header)?;
            Ok(info_of(&header))
        })
        .await
    }

    /// Size and block size of chunk `id`, from its (checked) header.
    pub async fn head(&self, id: &str) -> Result<ChunkInfo> {
        let path = self.chunk_path(id)?;
        let id = id.to_owned();
        blocking(move || open_chunk(&path, &id).map(|(_, h)| info_of(&h))).await
    }

    /// Removes chunk `id`.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let path = self.chunk_path(id)?;
        let id = id.to_owned();
        blocking(move || {
            // No directory fsync: a delete lost in a crash leaves an
            // unreferenced chunk, which garbage collection removes again.
            fs::remove_file(&path).map_err(|e| not_found_or_io(e, &id))
        })
        .await
    }

    /// Ids of all chunks on all disks, sorted; temp files are skipped.
    pub async fn list(&self) -> Result<Vec<String>> {
        let disks = self.inner.disks.clone();
        blocking(move || {
            let mut ids = Vec::new();
            for disk in &disks {
                scan_disk(disk, |id, _| ids.push(id.to_owned()))?;
            }
            ids.sort_unstable();
            Ok(ids)
        })
        .await
    }

    /// Chunk count and bytes used per disk; a disk that cannot be scanned
    /// makes the node unhealthy.
    pub async fn status(&self) -> Result<NodeStatus> {
        let disks = self.inner.disks.clone();
        blocking(move || {
            let disks: Vec<DiskStatus> = disks
                .into_iter()
                .map(|path| {
                    let (mut chunks, mut bytes_used) = (0u64, 0u64);
                    let scanned = scan_disk(&path, |_, len| {
                        chunks += 1;
                        bytes_used += len;
                    });
                    DiskStatus {
                        path,
                        chunks,
                        bytes_used,
                        capacity_bytes: None,
                        available_bytes: None,
                        error: scanned.err().map(|e| e.to_string()),
                    }
                })
                .collect();
            let healthy = disks.iter().all(|d| d.error.is_none());
            Ok(NodeStatus { disks, healthy })
        })
        .await
    }
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

fn not_found_or_io(e: io::Error, id: &str) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::NotFound(id.to_owned())
    } else {
        Error::Io(e)
    }
}

/// Opens chunk `id` and checks its header against the file: valid, the
/// right length, and naming the same id (a misplaced file is corrupt).
fn open_chunk(path: &Path, id: &str) -> Result<(File, ChunkHeader)> {
    let mut file = File::open(path).map_err(|e| not_found_or_io(e, id))?;
    let file_len = file.metadata()?.len();
    let header = ChunkHeader::read_from(&mut file)?;
    header.check_file_len(file_len)?;
    if header.chunk_id != id {
        return Err(Error::Corrupt(format!(
            "file for chunk {id} holds chunk {}",
            header.chunk_id
        )));
    }
    Ok((file, header))
}

/// Removes a temp file unless disarmed: any early return (or panic) between
/// creating the temp file and renaming it cleans up after itself.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Distinguishes temp files of concurrent writes of the same chunk.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// temp file → write → fsync → rename → fsync directory. Returns true when
/// the chunk did not exist before.
fn write_durably(path: &Path, id: &str, block_size: u32, data: &[u8]) -> Result<bool> {
    let dir = path
        .parent()
        .expect("chunk paths are <disk>/chunks/<fan-out>/<id>");
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        // The new fan-out directory's own entry must be durable too.
        if let Some(chunks_dir) = dir.parent() {
            File::open(chunks_dir)?.sync_all()?;
        }
    }
    let tmp_path = dir.join(format!(
        "{TMP_PREFIX}{id}-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut guard = TempGuard {
        path: tmp_path,
        armed: true,
    };
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&guard.path)?;
    let mut writer = BufWriter::with_capacity(256 * 1024, file);
    chunk::write_chunk(&mut writer, id, block_size, data)?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);

    let existed = path.exists();
    fs::rename(&guard.path, path)?;
    guard.armed = false;
    // The rename is durable only once the directory is.
    File::open(dir)?.sync_all()?;
    Ok(!existed)
}

/// Calls `f(id, file_len)` for every chunk file on `disk`, skipping temp
/// files and anything that is not a valid chunk id.
fn scan_disk(disk: &Path, mut f: impl FnMut(&str, u64)) -> Result<()> {
    let root = disk.join(CHUNKS_DIR);
    for fanout in fs::read_dir(&root)? {
        let fanout = fanout?;
        if !fanout.file_type()?.is_dir() {
            continue;
        }
        for entry in fs::read_dir(fanout.path())? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) || !is_valid_chunk_id(name) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                // Deleted between read_dir and stat: not a chunk any more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            if meta.is_file() {
                f(name, meta.len());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &tempfile::TempDir, disks: usize) -> ChunkStore {
        let disks = (0..disks)
            .map(|i| dir.path().join(format!("d{i}")))
            .collect();
        ChunkStore::open(disks, 16).unwrap()
    }

    #[tokio::test]
    async fn put_get_head_delete_list() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, 3);
        let data = Bytes::from((0..100u8).collect::<Vec<_>>());
        assert!(s.put("a", data.clone()).await.unwrap());
        assert!(!s.put("a", data.clone()).await.unwrap());
        assert!(s.put("b", Bytes::new()).await.unwrap());
        assert_eq!(s.get("a", 0, 100).await.unwrap(), data);
        assert_eq!(s.get("a", 20, 30).await.unwrap(), data.slice(20..50));
        assert_eq!(s.get("b", 0, 0).await.unwrap(), Bytes::new());
        assert_eq!(
            s.head("a").await.unwrap(),
            ChunkInfo {
                id: "a".into(),
                size: 100,
                block_size: 16
            }
        );
        assert_eq!(s.list().await.unwrap(), vec!["a", "b"]);
        s.delete("a").await.unwrap();
        assert!(matches!(s.delete("a").await, Err(Error::NotFound(_))));
        assert!(matches!(s.get("a", 0, 1).await, Err(Error::NotFound(_))));
        assert!(matches!(s.head("a").await, Err(Error::NotFound(_))));
        assert!(matches!(
            s.get("../x", 0, 1).await,
            Err(Error::InvalidChunkId(_))
        ));
        assert_eq!(s.list().await.unwrap(), vec!["b"]);
    }

    #[tokio::test]
    async fn chunks_spread_over_disks_and_status_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, 2);
        for i in 0..20 {
            s.put(&format!("c{i}"), Bytes::from(vec![1u8; 10]))
                .await
                .unwrap();
        }
        let status = s.status().await.unwrap();
        assert!(status.healthy);
        assert_eq!(status.disks.len(), 2);
        assert_eq!(status.disks.iter().map(|d| d.chunks).sum::<u64>(), 20);
        assert!(status.disks.iter().all(|d| d.chunks > 0), "{status:?}");
        let on_disk: u64 = status.disks.iter().map(|d| d.bytes_used).sum();
        let one = chunk::encode_chunk("c0", 16, &[1u8; 10]).unwrap().len() as u64;
        // Ids c0..c9 are one byte shorter than c10..c19.
        assert_eq!(on_disk, one * 20 + 10);
    }

    #[tokio::test]
    async fn temp_files_are_not_listed_and_misplaced_files_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, 1);
        s.put("real", Bytes::from_static(b"hello")).await.unwrap();
        let path = s.chunk_path("real").unwrap();
        fs::write(path.with_file_name(".tmp-real-1-1"), b"partial").unwrap();
        assert_eq!(s.list().await.unwrap(), vec!["real"]);
        assert_eq!(s.status().await.unwrap().disks[0].chunks, 1);

        // The file of chunk "real" copied to where chunk "other" would be.
        let other = s.chunk_path("other").unwrap();
        fs::create_dir_all(other.parent().unwrap()).unwrap();
        fs::copy(&path, &other).unwrap();
        assert!(matches!(s.get("other", 0, 5).await, Err(Error::Corrupt(_))));
    }

    #[tokio::test]
    async fn failed_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, 1);
        let path = s.chunk_path("dir-in-the-way").unwrap();
        // A non-empty directory at the final name makes the rename fail.
        fs::create_dir_all(path.join("x")).unwrap();
        assert!(
            s.put("dir-in-the-way", Bytes::from_static(b"x"))
                .await
                .is_err()
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(TMP_PREFIX))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn open_validates_config() {
        assert!(matches!(
            ChunkStore::open(vec![], 16),
            Err(Error::Config(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let d = vec![dir.path().to_path_buf()];
        assert!(matches!(ChunkStore::open(d, 0), Err(Error::Config(_))));
    }
}
