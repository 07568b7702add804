//! Index checkpoints: a disk's in-memory index written to one file when the
//! store closes, so that the next open reads that file instead of a page of
//! every record (a restart of a node with a million chunks took 18 s of
//! page reads; see BENCHMARKS.md, "Issue 18").
//!
//! ```text
//! <disk>/volumes/index.ckpt
//!   magic "SHLIDXCK" (8) | version u16 LE (=1)
//!   volume count u32 LE, then for each:
//!     seq u64 LE | nonce (16) | indexed_to u64 LE
//!   entry count u64 LE, then for each:
//!     seq u64 LE | offset u64 LE | chunk_len u64 LE | id length u16 LE | id
//!   BLAKE3 of everything above (32)
//! ```
//!
//! The volumes stay the truth; a checkpoint only says "the records of
//! volume `seq` before `indexed_to` are exactly these". Opening a disk with
//! a checkpoint takes its entries, then scans each listed volume from its
//! `indexed_to` (the records appended since) and every volume it does not
//! list from the start, exactly as an open without one would.
//!
//! A checkpoint can only go stale by a record before `indexed_to` being
//! erased (a delete, a replaced chunk). So the store removes the file, and
//! syncs the directory, before the first erase after the checkpoint was
//! written or read ([`crate::store`]); appends never make it stale. A
//! checkpoint that is missing, damaged (checksum), of another version, or
//! names a volume that is gone, has another nonce or is shorter than
//! `indexed_to`, is ignored: the disk is scanned in full. A data directory
//! of an earlier release has none and is scanned in full.

use crate::volume::{PAGE, Volume};
use crate::{Error, Result};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// File name of the checkpoint in `<disk>/volumes`.
pub const FILE_NAME: &str = "index.ckpt";
const TMP_NAME: &str = "index.ckpt.tmp";
const MAGIC: &[u8; 8] = b"SHLIDXCK";
const VERSION: u16 = 1;
/// Longest chunk id a checkpoint holds (ids are far shorter).
const MAX_ID_LEN: usize = 1024;

/// One volume a checkpoint covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointVolume {
    pub seq: u64,
    pub nonce: [u8; 16],
    /// Every record before this offset is in `entries`.
    pub indexed_to: u64,
}

/// One record of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointEntry {
    pub id: String,
    pub seq: u64,
    pub offset: u64,
    pub chunk_len: u64,
}

/// A disk's index as of a moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub volumes: Vec<CheckpointVolume>,
    pub entries: Vec<CheckpointEntry>,
}

impl Checkpoint {
    /// Where a checkpoint of the volumes in `dir` lives.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// Writes the checkpoint into `dir` durably: a temporary file, synced,
    /// renamed over the old one, and the directory synced.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(TMP_NAME);
        let file = File::create(&tmp)?;
        let mut out = HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hash: blake3::Hasher::new(),
        };
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        let volumes = u32::try_from(self.volumes.len())
            .map_err(|_| Error::Config("too many volumes for a checkpoint".into()))?;
        out.write_all(&volumes.to_le_bytes())?;
        for v in &self.volumes {
            out.write_all(&v.seq.to_le_bytes())?;
            out.write_all(&v.nonce)?;
            out.write_all(&v.indexed_to.to_le_bytes())?;
        }
        out.write_all(&(self.entries.len() as u64).to_le_bytes())?;
        for e in &self.entries {
            if e.id.len() > MAX_ID_LEN {
                return Err(Error::InvalidChunkId(e.id.clone()));
            }
            out.write_all(&e.seq.to_le_bytes())?;
            out.write_all(&e.offset.to_le_bytes())?;
            out.write_all(&e.chunk_len.to_le_bytes())?;
            out.write_all(&(e.id.len() as u16).to_le_bytes())?;
            out.write_all(e.id.as_bytes())?;
        }
        let digest = out.hash.finalize();
        let mut inner = out.inner;
        inner.write_all(digest.as_bytes())?;
        let file = inner.into_inner().map_err(|e| Error::Io(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, Self::path(dir))?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Reads the checkpoint in `dir`: `Ok(None)` when there is none, an
    /// error when it is there but unreadable or damaged.
    pub fn read(dir: &Path) -> Result<Option<Checkpoint>> {
        let bytes = match fs::read(Self::path(dir)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Self::decode(&bytes).map(Some)
    }

    /// Parses a checkpoint file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint> {
        let corrupt = |what: &str| Error::Corrupt(format!("index checkpoint: {what}"));
        let body_len = bytes
            .len()
            .checked_sub(32)
            .ok_or_else(|| corrupt("too short"))?;
        let (body, digest) = bytes.split_at(body_len);
        if blake3::hash(body).as_bytes() != digest {
            return Err(corrupt("checksum mismatch"));
        }
        let mut r = body;
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic).map_err(|_| corrupt("too short"))?;
        if &magic != MAGIC {
            return Err(corrupt("not a checkpoint"));
        }
        let version = u16::from_le_bytes(take(&mut r)?);
        if version != VERSION {
            return Err(corrupt(&format!("version {version} is not known")));
        }
        let volumes = u32::from_le_bytes(take(&mut r)?) as usize;
        // Each volume takes 32 bytes: a count larger than what is left is
        // damage, not a reason to allocate.
        if volumes > r.len() / 32 {
            return Err(corrupt("volume count past the end"));
        }
        let mut out = Checkpoint {
            volumes: Vec::with_capacity(volumes),
            entries: Vec::new(),
        };
        for _ in 0..volumes {
            let seq = u64::from_le_bytes(take(&mut r)?);
            let nonce = take(&mut r)?;
            let indexed_to = u64::from_le_bytes(take(&mut r)?);
            out.volumes.push(CheckpointVolume {
                seq,
                nonce,
                indexed_to,
            });
        }
        let entries = u64::from_le_bytes(take(&mut r)?);
        // Each entry takes at least 26 bytes.
        if entries > (r.len() / 26) as u64 {
            return Err(corrupt("entry count past the end"));
        }
        out.entries.reserve(entries as usize);
        for _ in 0..entries {
            let seq = u64::from_le_bytes(take(&mut r)?);
            let offset = u64::from_le_bytes(take(&mut r)?);
            let chunk_len = u64::from_le_bytes(take(&mut r)?);
            let id_len = u16::from_le_bytes(take(&mut r)?) as usize;
            if id_len > MAX_ID_LEN || id_len > r.len() {
                return Err(corrupt("chunk id past the end"));
            }
            let (id, rest) = r.split_at(id_len);
            r = rest;
            let id = std::str::from_utf8(id)
                .map_err(|_| corrupt("chunk id is not UTF-8"))?
                .to_owned();
            if offset < PAGE || offset % PAGE != 0 {
                return Err(corrupt("record offset not on a page"));
            }
            out.entries.push(CheckpointEntry {
                id,
                seq,
                offset,
                chunk_len,
            });
        }
        if !r.is_empty() {
            return Err(corrupt("bytes after the last entry"));
        }
        Ok(out)
    }

    /// Checks the checkpoint against the volumes opened from the disk: each
    /// volume it lists must be there (or, if no entry is in it, may have
    /// been removed as empty), with the same nonce, at least `indexed_to`
    /// long, and each entry must lie in a listed volume before its
    /// `indexed_to`. Returns the present volumes' `indexed_to` by seq.
    pub fn check(
        &self,
        opened: &[(&Volume, u64)],
    ) -> std::result::Result<HashMap<u64, u64>, String> {
        let on_disk: HashMap<u64, (&Volume, u64)> =
            opened.iter().map(|&(v, len)| (v.seq, (v, len))).collect();
        let mut indexed_to = HashMap::with_capacity(self.volumes.len());
        for v in &self.volumes {
            let Some(&(vol, len)) = on_disk.get(&v.seq) else {
                // A volume is removed once it holds no live record; an entry
                // in it (refused below) means the disk changed behind the
                // store.
                continue;
            };
            if vol.nonce() != &v.nonce {
                return Err(format!("volume {:016x} was replaced", v.seq));
            }
            if len < v.indexed_to {
                return Err(format!(
                    "volume {:016x} is {len} bytes, shorter than the {} indexed",
                    v.seq, v.indexed_to
                ));
            }
            indexed_to.insert(v.seq, v.indexed_to);
        }
        for e in &self.entries {
            let Some(&to) = indexed_to.get(&e.seq) else {
                return Err(format!("volume {:016x} of chunk {} is gone", e.seq, e.id));
            };
            if e.offset
                .saturating_add(crate::volume::PREFIX_LEN + e.chunk_len)
                > to
            {
                return Err(format!("chunk {} lies past what was indexed", e.id));
            }
        }
        Ok(indexed_to)
    }

    /// Removes the checkpoint in `dir`, durably (the directory synced), if
    /// there is one.
    pub fn remove(dir: &Path) -> Result<()> {
        match fs::remove_file(Self::path(dir)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        File::open(dir)?.sync_all()?;
        Ok(())
    }
}

/// Takes the next `N` bytes of `r`.
fn take<const N: usize>(r: &mut &[u8]) -> Result<[u8; N]> {
    if r.len() < N {
        return Err(Error::Corrupt("index checkpoint: truncated".into()));
    }
    let (head, rest) = r.split_at(N);
    *r = rest;
    Ok(head.try_into().expect("split at N"))
}

/// A writer that hashes what it writes.
struct HashingWriter<W: Write> {
    inner: W,
    hash: blake3::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            volumes: vec![
                CheckpointVolume {
                    seq: 1,
                    nonce: [7; 16],
                    indexed_to: 3 * PAGE,
                },
                CheckpointVolume {
                    seq: 2,
                    nonce: [9; 16],
                    indexed_to: 2 * PAGE,
                },
            ],
            entries: vec![
                CheckpointEntry {
                    id: "a".repeat(64),
                    seq: 1,
                    offset: PAGE,
                    chunk_len: 100,
                },
                CheckpointEntry {
                    id: "b".repeat(64),
                    seq: 2,
                    offset: PAGE,
                    chunk_len: 200,
                },
            ],
        }
    }

    #[test]
    fn a_checkpoint_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), None);
        let c = sample();
        c.write(dir.path()).unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), Some(c));
        assert!(!dir.path().join(TMP_NAME).exists());
        Checkpoint::remove(dir.path()).unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), None);
        Checkpoint::remove(dir.path()).unwrap();
    }

    #[test]
    fn any_damage_or_cut_is_refused_without_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        sample().write(dir.path()).unwrap();
        let bytes = fs::read(Checkpoint::path(dir.path())).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            assert!(Checkpoint::decode(&bad).is_err(), "flipped byte {i}");
            assert!(Checkpoint::decode(&bytes[..i]).is_err(), "cut at {i}");
        }
    }
}
