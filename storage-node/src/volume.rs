//! Volume files: many chunks appended to one file, synced in groups.
//!
//! A file per chunk costs an inode allocation, a rename and two fsyncs (file
//! and directory) for every chunk; under a PUT load that was a third of the
//! node's CPU time (ext4 searching for free inodes) and most of its fsyncs.
//! A volume is one append-only file per disk that chunks are written into
//! one after the other; concurrent writers share one `fdatasync` (group
//! commit), and a deleted chunk's blocks are returned to the file system by
//! punching a hole over its record, so no compaction is needed to reclaim
//! space.
//!
//! ```text
//! <disk>/volumes/<seq as 16 hex digits>.vol
//!
//! page 0 (4 KiB):  magic "SHLVOLUM" (8) | version u16 LE (=1) | seq u64 LE
//!                  | nonce (16 random bytes) | CRC32 of the above (u32 LE)
//! records, each starting on a 4 KiB boundary:
//!   prefix (32):   magic "SHLR" (4) | the volume's nonce (16)
//!                  | chunk_len u64 LE | CRC32 of the above (u32 LE)
//!   chunk:         a chunk in the format of [`crate::chunk`] (header with
//!                  the chunk id, CRC'd blocks, BLAKE3 trailer), chunk_len bytes
//!   gap:           up to the next 4 KiB boundary, never written (a hole)
//! ```
//!
//! The volume files are the only truth: opening a disk scans them, prefix to
//! prefix, and rebuilds the in-memory index (chunk id → record); an index
//! checkpoint written at the last clean stop ([`crate::checkpoint`]) spares
//! the scan of the records it covers. A deleted
//! record is a hole, which the scan skips with `SEEK_DATA`. Anything else
//! that is not a valid prefix (bit rot in a header, a torn write) is skipped
//! page by page until the next valid prefix. A record is only accepted with
//! the volume's own random nonce in its prefix, so bytes inside a stored
//! chunk (which a client chooses) can never pass for a record of their own.
//!
//! Writes to a volume are serial (one `pwritev` under the appender's lock),
//! so every record before a completed one is complete too; a writer then
//! waits until an `fdatasync` that started after its write has finished.
//! After a crash, a record that runs past the end of the last volume is a
//! torn, never acknowledged write and the file is cut before it.

use crate::chunk::ChunkHeader;
use crate::{Error, Result};
use bytes::Bytes;
use std::fs::{self, File};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Alignment of records and size of the volume header page.
pub const PAGE: u64 = 4096;
/// Size of a record's prefix.
pub const PREFIX_LEN: u64 = 32;
const VOLUME_MAGIC: &[u8; 8] = b"SHLVOLUM";
const VOLUME_VERSION: u16 = 1;
const RECORD_MAGIC: &[u8; 4] = b"SHLR";
/// Magic, version, seq, nonce.
const VOLUME_HEADER_LEN: usize = 8 + 2 + 8 + 16;
/// Extension of volume files.
const EXTENSION: &str = "vol";

/// Rounds `n` up to the next multiple of [`PAGE`].
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

/// One open volume file.
#[derive(Debug)]
pub struct Volume {
    /// Sequence number; newer volumes have larger ones.
    pub seq: u64,
    /// Path of the file.
    pub path: PathBuf,
    file: File,
    nonce: [u8; 16],
    /// Writes completed so far (the generation of the last completed write).
    completed: AtomicU64,
    /// Generation covered by the last successful `fdatasync`.
    synced: Mutex<u64>,
    /// Set when an `fdatasync` failed: the page cache may have dropped
    /// unwritten data, so nothing written to this file can be trusted to be
    /// durable any more, and it takes no new writes.
    broken: AtomicBool,
    /// Records in this volume that the index points to.
    live: AtomicU64,
    /// No longer the volume being appended to.
    sealed: AtomicBool,
}

impl Volume {
    /// File name of volume `seq`.
    pub fn file_name(seq: u64) -> String {
        format!("{seq:016x}.{EXTENSION}")
    }

    /// The sequence number in a volume file name, if it is one.
    pub fn parse_file_name(name: &str) -> Option<u64> {
        let hex = name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
        if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()
    }

    /// Creates volume `seq` in `dir` durably (file and directory synced).
    pub fn create(dir: &Path, seq: u64) -> Result<Volume> {
        let path = dir.join(Self::file_name(seq));
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let nonce: [u8; 16] = rand::random();
        let header = encode_volume_header(seq, &nonce);
        file.write_all_at(&header, 0)?;
        file.sync_all()?;
        File::open(dir)?.sync_all()?;
        Ok(Volume::new(seq, path, file, nonce))
    }

    /// Opens an existing volume and checks its header page.
    pub fn open(path: &Path) -> Result<Volume> {
        let file = fs::OpenOptions::new().read(true).write(true).open(path)?;
        let mut page = [0u8; VOLUME_HEADER_LEN + 4];
        file.read_exact_at(&mut page, 0).map_err(truncated)?;
        let (seq, nonce) = decode_volume_header(&page)?;
        let expected = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(Self::parse_file_name);
        if expected != Some(seq) {
            return Err(Error::Corrupt(format!(
                "{} holds volume {seq:016x}",
                path.display()
            )));
        }
        Ok(Volume::new(seq, path.to_owned(), file, nonce))
    }

    fn new(seq: u64, path: PathBuf, file: File, nonce: [u8; 16]) -> Volume {
        Volume {
            seq,
            path,
            file,
            nonce,
            completed: AtomicU64::new(0),
            synced: Mutex::new(0),
            broken: AtomicBool::new(false),
            live: AtomicU64::new(0),
            sealed: AtomicBool::new(false),
        }
    }

    /// The random nonce in the volume's header (new for every volume file).
    pub fn nonce(&self) -> &[u8; 16] {
        &self.nonce
    }

    /// Length of the file.
    pub fn file_len(&self) -> Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// True once an `fdatasync` of this volume failed.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Marks the volume as no longer appended to; returns true when no live
    /// record is left in it (the caller may then remove it).
    pub fn seal(&self) -> bool {
        self.sealed.store(true, Ordering::Release);
        self.live.load(Ordering::Acquire) == 0
    }

    /// Counts one more live record.
    pub fn add_live(&self) {
        self.live.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts one live record less; returns true when the volume is sealed
    /// and now holds no live record (the caller may then remove it).
    pub fn remove_live(&self) -> bool {
        let before = self.live.fetch_sub(1, Ordering::AcqRel);
        before == 1 && self.sealed.load(Ordering::Acquire)
    }

    /// Appends a record holding `chunk` (the encoded chunk as slices that
    /// together are `chunk_len` bytes) at `offset`, which must be the
    /// appender's current end. Not durable until [`Volume::sync_through`]
    /// of the returned generation. The caller serialises appends.
    pub fn append(&self, offset: u64, chunk_len: u64, chunk: &[IoSlice<'_>]) -> Result<u64> {
        debug_assert_eq!(offset % PAGE, 0);
        let prefix = encode_prefix(&self.nonce, chunk_len);
        let mut slices = Vec::with_capacity(chunk.len() + 1);
        slices.push(IoSlice::new(&prefix));
        slices.extend_from_slice(chunk);
        write_all_vectored_at(&self.file, &mut slices, offset)?;
        Ok(self.completed.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Returns once every write up to generation `generation` is on disk:
    /// either an `fdatasync` that started after it finished, or this caller
    /// runs one for itself and every writer waiting behind it.
    pub fn sync_through(&self, generation: u64) -> Result<()> {
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_broken() {
            return Err(Error::Io(io::Error::other(format!(
                "an earlier fdatasync of {} failed",
                self.path.display()
            ))));
        }
        if *synced >= generation {
            return Ok(());
        }
        // Every write up to `target` completed before this load, so this
        // fdatasync covers all of them.
        let target = self.completed.load(Ordering::Acquire);
        if let Err(e) = rustix::fs::fdatasync(&self.file) {
            self.broken.store(true, Ordering::Release);
            return Err(Error::Io(e.into()));
        }
        *synced = target;
        Ok(())
    }

    /// Makes the record at `offset` of `record_len` bytes disappear: punches
    /// a hole over it (its blocks go back to the file system), or where the
    /// file system cannot, zeroes its first page so no scan finds it again.
    /// Not synced: a delete lost in a crash brings back an unreferenced
    /// chunk, which garbage collection removes again.
    pub fn erase(&self, offset: u64, record_len: u64) -> Result<()> {
        let flags = rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
        match rustix::fs::fallocate(&self.file, flags, offset, align_up(record_len)) {
            Ok(()) => Ok(()),
            Err(e) if e == rustix::io::Errno::OPNOTSUPP => {
                let zeros = vec![0u8; PAGE.min(record_len) as usize];
                self.file.write_all_at(&zeros, offset)?;
                Ok(())
            }
            Err(e) => Err(Error::Io(e.into())),
        }
    }

    /// A reader of the chunk in the record at `offset`.
    pub fn chunk_reader(&self, offset: u64, chunk_len: u64) -> ChunkReader<'_> {
        ChunkReader {
            file: &self.file,
            base: offset + PREFIX_LEN,
            len: chunk_len,
            pos: 0,
        }
    }

    /// Cuts the file at `len` and syncs it (a torn tail after a crash).
    pub fn truncate(&self, len: u64) -> Result<()> {
        self.file.set_len(len)?;
        self.file.sync_all()?;
        Ok(())
    }

    /// Scans the records from the first page to the end of the file, calling
    /// `found(offset, chunk_len, header)` for each valid one. When `last` is
    /// true (the volume that was being appended to), a record running past
    /// the end of the file is a torn write and the file is cut before it.
    /// Returns the number of bytes skipped as unreadable (not holes).
    pub fn scan(&self, last: bool, found: impl FnMut(u64, u64, ChunkHeader)) -> Result<u64> {
        self.scan_from(PAGE, last, found)
    }

    /// Like [`Volume::scan`], from the first page at or after `from` (the
    /// records before it are known from an index checkpoint).
    pub fn scan_from(
        &self,
        from: u64,
        last: bool,
        mut found: impl FnMut(u64, u64, ChunkHeader),
    ) -> Result<u64> {
        let file_len = self.file_len()?;
        let mut offset = align_up(from.max(PAGE));
        let mut skipped = 0u64;
        let mut page = vec![0u8; PAGE as usize];
        while offset < file_len {
            let want = (file_len - offset).min(PAGE) as usize;
            self.file
                .read_exact_at(&mut page[..want], offset)
                .map_err(truncated)?;
            let record = self.parse_record_start(&page[..want]);
            match record {
                Some((chunk_len, header)) => {
                    let end = offset + PREFIX_LEN + chunk_len;
                    if end > file_len {
                        if last {
                            tracing::warn!(
                                volume = %self.path.display(),
                                offset,
                                "cutting a torn record at the end of the volume"
                            );
                            self.truncate(offset)?;
                            return Ok(skipped);
                        }
                        skipped += file_len - offset;
                        return Ok(skipped);
                    }
                    found(offset, chunk_len, header);
                    offset = align_up(end);
                }
                None => {
                    let next = self.next_data(offset + PAGE)?;
                    let all_zero = page[..want].iter().all(|&b| b == 0);
                    if !all_zero {
                        skipped += PAGE.min(next.unwrap_or(file_len) - offset);
                    }
                    match next {
                        Some(next) => offset = next,
                        None => break,
                    }
                }
            }
        }
        Ok(skipped)
    }

    /// The first page at or after `from` that holds data (not a hole), or
    /// `None` at the end of the file.
    fn next_data(&self, from: u64) -> Result<Option<u64>> {
        match rustix::fs::seek(&self.file, rustix::fs::SeekFrom::Data(from)) {
            // Holes are whole file-system blocks; align down to a page in
            // case a block is smaller, but always move forward.
            Ok(at) => Ok(Some((at / PAGE * PAGE).max(from))),
            Err(e) if e == rustix::io::Errno::NXIO => Ok(None),
            Err(e) => Err(Error::Io(e.into())),
        }
    }

    /// A valid record prefix and chunk header at the start of `bytes`.
    fn parse_record_start(&self, bytes: &[u8]) -> Option<(u64, ChunkHeader)> {
        let chunk_len = decode_prefix(bytes, &self.nonce)?;
        let mut rest = &bytes[PREFIX_LEN as usize..];
        let header = ChunkHeader::read_from(&mut rest).ok()?;
        (header.file_len() == Some(chunk_len)).then_some((chunk_len, header))
    }
}

impl ChunkReader<'_> {
    /// Exactly `span` bytes at chunk offset `start`, read into a buffer that
    /// is not zeroed first (the read fills it).
    pub fn read_span(&self, start: u64, span: usize) -> Result<Vec<u8>> {
        let in_chunk = start
            .checked_add(span as u64)
            .is_some_and(|end| end <= self.len);
        if !in_chunk {
            return Err(Error::Corrupt("read past the end of the chunk".into()));
        }
        let mut buf = Vec::with_capacity(span);
        while buf.len() < span {
            let at = self.base + start + buf.len() as u64;
            let want = span - buf.len();
            let (filled, _) =
                rustix::io::pread(self.file, &mut buf.spare_capacity_mut()[..want], at)
                    .map_err(|e| Error::Io(e.into()))?;
            if filled.is_empty() {
                return Err(Error::Corrupt("truncated volume".into()));
            }
            let n = filled.len();
            // SAFETY: pread initialised the first `n` bytes of the spare
            // capacity.
            unsafe { buf.set_len(buf.len() + n) };
        }
        Ok(buf)
    }
}

/// `Read + Seek` over one chunk inside a volume (positioned reads, so any
/// number of readers share the file).
pub struct ChunkReader<'a> {
    file: &'a File,
    base: u64,
    len: u64,
    pos: u64,
}

impl io::Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.base + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl io::Seek for ChunkReader<'_> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        let next = match pos {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = next.ok_or_else(|| io::Error::other("seek before the start of the chunk"))?;
        Ok(self.pos)
    }
}

/// The slices of an encoded chunk whose data is `parts` (in order), for one
/// vectored write: header, then each block (possibly in pieces of several
/// parts) followed by its CRC, then the BLAKE3 trailer. `crcs` and
/// `trailer` are filled here and must outlive the slices. No data byte is
/// copied: a body that arrived in many pieces is written from them.
pub fn chunk_slices<'a>(
    header: &'a [u8],
    parts: &'a [Bytes],
    block_size: u32,
    crcs: &'a mut Vec<[u8; 4]>,
    trailer: &'a mut [u8; 32],
) -> Vec<IoSlice<'a>> {
    let block_size = usize::try_from(block_size).expect("block size fits in usize");
    // First pass: the block CRCs and the trailer.
    crcs.clear();
    let mut blake = blake3::Hasher::new();
    let mut crc = crc32fast::Hasher::new_with_initial(0);
    let mut in_block = 0usize;
    for part in parts {
        blake.update(part);
        let mut rest = &part[..];
        while !rest.is_empty() {
            let take = (block_size - in_block).min(rest.len());
            crc.update(&rest[..take]);
            in_block += take;
            rest = &rest[take..];
            if in_block == block_size {
                crcs.push(crc.finalize().to_le_bytes());
                crc = crc32fast::Hasher::new_with_initial(crcs.len() as u32);
                in_block = 0;
            }
        }
    }
    if in_block > 0 {
        crcs.push(crc.finalize().to_le_bytes());
    }
    *trailer = *blake.finalize().as_bytes();

    // Second pass: the slices, each block's pieces followed by its CRC.
    let crcs: &'a [[u8; 4]] = crcs;
    let mut slices = Vec::with_capacity(2 + parts.len() + 2 * crcs.len());
    slices.push(IoSlice::new(header));
    let mut next_crc = crcs.iter();
    let mut in_block = 0usize;
    for part in parts {
        let mut rest = &part[..];
        while !rest.is_empty() {
            let take = (block_size - in_block).min(rest.len());
            slices.push(IoSlice::new(&rest[..take]));
            in_block += take;
            rest = &rest[take..];
            if in_block == block_size {
                slices.push(IoSlice::new(next_crc.next().expect("one CRC per block")));
                in_block = 0;
            }
        }
    }
    if in_block > 0 {
        slices.push(IoSlice::new(next_crc.next().expect("one CRC per block")));
    }
    slices.push(IoSlice::new(trailer));
    slices
}

/// `pwritev` until every slice is written (the kernel may write less, and
/// takes at most `IOV_MAX` slices at a time).
fn write_all_vectored_at(
    file: &File,
    mut slices: &mut [IoSlice<'_>],
    mut offset: u64,
) -> Result<()> {
    const IOV_MAX: usize = 1024;
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        let batch = slices.len().min(IOV_MAX);
        let n = match rustix::io::pwritev(file, &slices[..batch], offset) {
            Ok(0) => return Err(Error::Io(io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => n,
            Err(e) if e == rustix::io::Errno::INTR => continue,
            Err(e) => return Err(Error::Io(e.into())),
        };
        offset += n as u64;
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

fn encode_volume_header(seq: u64, nonce: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(VOLUME_HEADER_LEN + 4);
    out.extend_from_slice(VOLUME_MAGIC);
    out.extend_from_slice(&VOLUME_VERSION.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(nonce);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode_volume_header(page: &[u8]) -> Result<(u64, [u8; 16])> {
    let (fields, crc) = page[..VOLUME_HEADER_LEN + 4].split_at(VOLUME_HEADER_LEN);
    if &fields[..8] != VOLUME_MAGIC {
        return Err(Error::Corrupt("bad volume magic".into()));
    }
    if crc32fast::hash(fields).to_le_bytes() != crc {
        return Err(Error::Corrupt("volume header CRC mismatch".into()));
    }
    let version = u16::from_le_bytes([fields[8], fields[9]]);
    if version != VOLUME_VERSION {
        return Err(Error::Corrupt(format!(
            "unsupported volume version {version}"
        )));
    }
    let seq = u64::from_le_bytes(fields[10..18].try_into().expect("8 bytes"));
    let nonce = fields[18..34].try_into().expect("16 bytes");
    Ok((seq, nonce))
}

fn encode_prefix(nonce: &[u8; 16], chunk_len: u64) -> [u8; PREFIX_LEN as usize] {
    let mut out = [0u8; PREFIX_LEN as usize];
    out[..4].copy_from_slice(RECORD_MAGIC);
    out[4..20].copy_from_slice(nonce);
    out[20..28].copy_from_slice(&chunk_len.to_le_bytes());
    let crc = crc32fast::hash(&out[..28]);
    out[28..32].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The chunk length in a record prefix at the start of `bytes`, if it is a
/// valid prefix of the volume with `nonce`.
fn decode_prefix(bytes: &[u8], nonce: &[u8; 16]) -> Option<u64> {
    let prefix = bytes.get(..PREFIX_LEN as usize)?;
    if &prefix[..4] != RECORD_MAGIC || &prefix[4..20] != nonce {
        return None;
    }
    if crc32fast::hash(&prefix[..28]).to_le_bytes() != prefix[28..32] {
        return None;
    }
    Some(u64::from_le_bytes(prefix[20..28].try_into().ok()?))
}

/// A short read inside a volume means it is truncated: corrupt.
fn truncated(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Error::Corrupt("truncated volume".into())
    } else {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// However the data is cut into parts, the slices spell out exactly
        /// the chunk encoding `chunk::encode_chunk` makes.
        #[test]
        fn slices_of_any_parts_encode_the_chunk(
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
            block_size in 1u32..700,
        ) {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let whole = Bytes::from(data.clone());
            let mut parts = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([data.len()]) {
                parts.push(whole.slice(at..c));
                at = c;
            }
            let header = ChunkHeader::new("c", block_size, data.len() as u64).unwrap().encode();
            let (mut crcs, mut trailer) = (Vec::new(), [0u8; 32]);
            let slices = chunk_slices(&header, &parts, block_size, &mut crcs, &mut trailer);
            let written: Vec<u8> = slices.iter().flat_map(|s| s.iter().copied()).collect();
            prop_assert_eq!(written, crate::chunk::encode_chunk("c", block_size, &data).unwrap());
        }
    }
}
