//! The chunk file format: header, CRC32-checked blocks, BLAKE3 trailer.
//!
//! ```text
//! header:  magic "SHLCHUNK" (8) | version u16 LE (=2) | block_size u32 LE
//!          | data_len u64 LE | id_len u16 LE | id bytes | CRC32 of the above (u32 LE)
//! blocks:  data in blocks of block_size bytes (the last may be shorter),
//!          each followed by its block CRC (u32 LE)
//! trailer: BLAKE3 of the whole data (32 bytes)
//! ```
//!
//! A block CRC is the CRC32 of the block's bytes started from the block's
//! index instead of 0 (`crc32fast::Hasher::new_with_initial(index)`), so a
//! block written at the wrong place (a misdirected or swapped write) fails
//! its check like a flipped bit does. Every read checks the CRCs of the
//! blocks it touches, and only those: that is what serves GETs, at CRC speed.
//! The BLAKE3 trailer covers the whole chunk and is checked by full
//! verification ([`verify_chunk`], [`parse_chunk_bytes`]: the scrubber's
//! tool), not on every read; it is the same hash the rest of Shale uses end
//! to end. All integers are little
//! endian. A file whose length differs from what its header implies is
//! corrupt: that catches truncation and trailing garbage before any block is
//! read, and bounds every allocation by the real file length.

use crate::{Error, Result};
use shale_common::{MAX_CHUNK_ID_LEN, is_valid_chunk_id};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

/// First eight bytes of every chunk file.
pub const MAGIC: &[u8; 8] = b"SHLCHUNK";
/// The only format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 2;
/// Block size used when the configuration does not say otherwise.
pub const DEFAULT_BLOCK_SIZE: u32 = 64 * 1024;
/// Largest block size accepted, so a block always fits comfortably in memory.
pub const MAX_BLOCK_SIZE: u32 = 16 * 1024 * 1024;

/// Magic, version, block size, data length and id length.
const FIXED_HEADER_LEN: usize = 8 + 2 + 4 + 8 + 2;
const CRC_LEN: u64 = 4;
const HASH_LEN: u64 = 32;

/// The parsed, validated header of a chunk file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    /// The chunk's id, as recorded in the file (a valid chunk id).
    pub chunk_id: String,
    /// Bytes of data per block (the last block may be shorter).
    pub block_size: u32,
    /// Bytes of data in the chunk (blocks, CRCs and trailer excluded).
    pub data_len: u64,
}

impl ChunkHeader {
    /// A header for `data_len` bytes of chunk `chunk_id`, checking every
    /// field the way a reader will.
    pub fn new(chunk_id: &str, block_size: u32, data_len: u64) -> Result<Self> {
        if !is_valid_chunk_id(chunk_id) {
            return Err(Error::InvalidChunkId(chunk_id.to_owned()));
        }
        if block_size == 0 || block_size > MAX_BLOCK_SIZE {
            return Err(Error::Config(format!(
                "block_size: {block_size} is not in 1..={MAX_BLOCK_SIZE}"
            )));
        }
        let header = ChunkHeader {
            chunk_id: chunk_id.to_owned(),
            block_size,
            data_len,
        };
        if header.file_len().is_none() {
            return Err(Error::TooLarge {
                size: data_len,
                limit: u64::MAX,
            });
        }
        Ok(header)
    }

    /// Length of the encoded header, CRC included.
    pub fn encoded_len(&self) -> u64 {
        (FIXED_HEADER_LEN + self.chunk_id.len()) as u64 + CRC_LEN
    }

    /// Number of blocks (0 for an empty chunk).
    pub fn block_count(&self) -> u64 {
        self.data_len.div_ceil(u64::from(self.block_size))
    }

    /// Length of the whole chunk file, or `None` if it would overflow a u64
    /// (only a corrupt header can say so).
    pub fn file_len(&self) -> Option<u64> {
        let crcs = self.block_count().checked_mul(CRC_LEN)?;
        self.encoded_len()
            .checked_add(self.data_len)?
            .checked_add(crcs)?
            .checked_add(HASH_LEN)
    }

    /// File offset of block `index` (its data; its CRC follows it).
    fn block_offset(&self, index: u64) -> u64 {
        self.encoded_len() + index * (u64::from(self.block_size) + CRC_LEN)
    }

    /// Data bytes in block `index`.
    fn block_len(&self, index: u64) -> u64 {
        let start = index * u64::from(self.block_size);
        (self.data_len - start).min(u64::from(self.block_size))
    }

    /// The header as stored on disk, CRC included.
    pub fn encode(&self) -> Vec<u8> {
        let id = self.chunk_id.as_bytes();
        let mut out = Vec::with_capacity(FIXED_HEADER_LEN + id.len() + CRC_LEN as usize);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.block_size.to_le_bytes());
        out.extend_from_slice(&self.data_len.to_le_bytes());
        let id_len = u16::try_from(id.len()).expect("valid chunk ids are at most 128 bytes");
        out.extend_from_slice(&id_len.to_le_bytes());
        out.extend_from_slice(id);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads and validates a header from the start of a chunk file.
    ///
    /// Does not check the file length; see [`ChunkHeader::check_file_len`].
    pub fn read_from<R: Read>(r: &mut R) -> Result<Self> {
        let mut fixed = [0u8; FIXED_HEADER_LEN];
        r.read_exact(&mut fixed).map_err(truncated)?;
        if &fixed[0..8] != MAGIC {
            return Err(Error::Corrupt("bad magic".into()));
        }
        let id_len = usize::from(le_u16(&fixed[22..24]));
        // Checked before reading so a corrupt length cannot make us read far.
        if id_len == 0 || id_len > MAX_CHUNK_ID_LEN {
            return Err(Error::Corrupt(format!("bad chunk id length {id_len}")));
        }
        let mut rest = vec![0u8; id_len + CRC_LEN as usize];
        r.read_exact(&mut rest).map_err(truncated)?;
        let (id, crc_bytes) = rest.split_at(id_len);

        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&fixed);
        hasher.update(id);
        if hasher.finalize() != le_u32(crc_bytes) {
            return Err(Error::Corrupt("header CRC mismatch".into()));
        }

        let version = le_u16(&fixed[8..10]);
        if version != FORMAT_VERSION {
            return Err(Error::Corrupt(format!(
                "unsupported format version {version}"
            )));
        }
        let block_size = le_u32(&fixed[10..14]);
        let data_len = le_u64(&fixed[14..22]);
        let chunk_id = std::str::from_utf8(id)
            .ok()
            .filter(|id| is_valid_chunk_id(id))
            .ok_or_else(|| Error::Corrupt("bad chunk id in header".into()))?;
        ChunkHeader::new(chunk_id, block_size, data_len)
            .map_err(|e| Error::Corrupt(format!("bad header: {e}")))
    }

    /// Checks that a file of `file_len` bytes is exactly as long as this
    /// header says; anything else is truncation or garbage.
    pub fn check_file_len(&self, file_len: u64) -> Result<()> {
        match self.file_len() {
            Some(expected) if expected == file_len => Ok(()),
            expected => Err(Error::Corrupt(format!(
                "file is {file_len} bytes, header implies {expected:?}"
            ))),
        }
    }
}

/// Writes a whole chunk (header, blocks with CRCs, BLAKE3 trailer) to `w`.
pub fn write_chunk<W: Write>(w: &mut W, id: &str, block_size: u32, data: &[u8]) -> Result<()> {
    let header = ChunkHeader::new(id, block_size, data.len() as u64)?;
    w.write_all(&header.encode())?;
    let block_size = usize::try_from(block_size).expect("block_size fits in usize");
    for (index, block) in data.chunks(block_size).enumerate() {
        w.write_all(block)?;
        w.write_all(&block_crc(index as u64, block).to_le_bytes())?;
    }
    w.write_all(blake3::hash(data).as_bytes())?;
    Ok(())
}

/// Encodes a whole chunk in memory.
pub fn encode_chunk(id: &str, block_size: u32, data: &[u8]) -> Result<Vec<u8>> {
    let header = ChunkHeader::new(id, block_size, data.len() as u64)?;
    let len = header
        .file_len()
        .and_then(|l| usize::try_from(l).ok())
        .expect("ChunkHeader::new checked the file length");
    let mut out = Vec::with_capacity(len);
    write_chunk(&mut out, id, block_size, data)?;
    Ok(out)
}

/// Reads `len` data bytes at data offset `offset` from a chunk whose header
/// has already been read (and checked against the file length).
///
/// Seeks to the first block covering the range and reads only the blocks up
/// to the last one covering it, checking each block's CRC. The BLAKE3
/// trailer is not read: see [`verify_chunk`].
pub fn read_data<R: Read + Seek>(
    r: &mut R,
    header: &ChunkHeader,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>> {
    read_data_with(header, offset, len, |start, span| {
        let mut buf = vec![0u8; span];
        r.seek(SeekFrom::Start(start))?;
        r.read_exact(&mut buf).map_err(truncated)?;
        Ok(buf)
    })
}

/// Like [`read_data`], with the raw bytes fetched by `fetch(start, span)`:
/// exactly `span` bytes of the chunk at chunk offset `start` (a reader that
/// can fill a buffer without zeroing it first saves a pass over the data).
pub fn read_data_with(
    header: &ChunkHeader,
    offset: u64,
    len: u64,
    fetch: impl FnOnce(u64, usize) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let in_range = offset
        .checked_add(len)
        .is_some_and(|end| end <= header.data_len);
    if !in_range {
        return Err(Error::InvalidRange(format!(
            "{len} bytes at offset {offset} of a {}-byte chunk",
            header.data_len
        )));
    }
    if len == 0 {
        return Ok(Vec::new());
    }
    let bs = u64::from(header.block_size);
    let first = offset / bs;
    let last = (offset + len - 1) / bs;
    let start = header.block_offset(first);
    let end = header.block_offset(last) + header.block_len(last) + CRC_LEN;
    let span = usize::try_from(end - start)
        .map_err(|_| Error::InvalidRange("range too large for memory".into()))?;
    let mut buf = fetch(start, span)?;
    if buf.len() != span {
        return Err(Error::Corrupt("truncated chunk file".into()));
    }

    // Check each block, then move the wanted bytes of it down over the CRCs
    // and the unwanted bytes: one buffer, no second copy of the range.
    let mut pos = 0usize;
    let mut kept = 0usize;
    for index in first..=last {
        let block_len = usize::try_from(header.block_len(index)).expect("block <= span");
        let crc = le_u32(&buf[pos + block_len..pos + block_len + CRC_LEN as usize]);
        if block_crc(index, &buf[pos..pos + block_len]) != crc {
            return Err(Error::Corrupt(format!("block {index} CRC mismatch")));
        }
        // The part of this block inside [offset, offset + len).
        let block_start = index * bs;
        let from = offset.saturating_sub(block_start).min(block_len as u64) as usize;
        let to = (offset + len - block_start).min(block_len as u64) as usize;
        if pos + from != kept {
            buf.copy_within(pos + from..pos + to, kept);
        }
        kept += to - from;
        pos += block_len + CRC_LEN as usize;
    }
    buf.truncate(kept);
    Ok(buf)
}

/// The CRC stored after block `index`: CRC32 of its bytes, seeded with the
/// block's index so that a block at the wrong place does not check out.
pub fn block_crc(index: u64, block: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(index as u32);
    hasher.update(block);
    hasher.finalize()
}

/// Fully verifies a chunk whose header has been read: every block CRC and
/// the BLAKE3 trailer. Returns the data. This is the scrubber's check.
pub fn verify_chunk<R: Read + Seek>(r: &mut R, header: &ChunkHeader) -> Result<Vec<u8>> {
    let data = read_data(r, header, 0, header.data_len)?;
    // Position the trailer explicitly: for an empty chunk no block was read.
    let trailer_at = header.file_len().expect("checked by ChunkHeader::new") - HASH_LEN;
    r.seek(SeekFrom::Start(trailer_at))?;
    let mut trailer = [0u8; HASH_LEN as usize];
    r.read_exact(&mut trailer).map_err(truncated)?;
    if blake3::hash(&data).as_bytes() != &trailer {
        return Err(Error::Corrupt("BLAKE3 mismatch".into()));
    }
    Ok(data)
}

/// Reads a data range from a whole chunk file of `file_len` bytes: header,
/// length check, then [`read_data`].
pub fn read_range<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    offset: u64,
    len: u64,
) -> Result<(ChunkHeader, Vec<u8>)> {
    let header = ChunkHeader::read_from(r)?;
    header.check_file_len(file_len)?;
    let data = read_data(r, &header, offset, len)?;
    Ok((header, data))
}

/// Parses and fully verifies an encoded chunk held in memory, returning its
/// header and data. Never panics, whatever the bytes (fuzz target).
pub fn parse_chunk_bytes(bytes: &[u8]) -> Result<(ChunkHeader, Vec<u8>)> {
    let mut cursor = Cursor::new(bytes);
    let header = ChunkHeader::read_from(&mut cursor)?;
    header.check_file_len(bytes.len() as u64)?;
    let data = verify_chunk(&mut cursor, &header)?;
    Ok((header, data))
}

/// A short read inside a chunk file means the file is truncated: corrupt.
fn truncated(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Error::Corrupt("truncated chunk file".into())
    } else {
        Error::Io(e)
    }
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes(b.try_into().expect("caller passes 2 bytes"))
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().expect("caller passes 4 bytes"))
}

fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().expect("caller passes 8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn range(encoded: &[u8], offset: u64, len: u64) -> Result<Vec<u8>> {
        read_range(&mut Cursor::new(encoded), encoded.len() as u64, offset, len).map(|(_, d)| d)
    }

    #[test]
    fn round_trip_edge_sizes() {
        let bs = 64u32;
        let b = bs as usize;
        for len in [0, 1, b - 1, b, b + 1, b * 7 / 2] {
            let d = data(len);
            let enc = encode_chunk("c-1", bs, &d).unwrap();
            let (h, got) = parse_chunk_bytes(&enc).unwrap();
            assert_eq!(got, d, "len {len}");
            assert_eq!(h.chunk_id, "c-1");
            assert_eq!(h.block_size, bs);
            assert_eq!(h.data_len, len as u64);
            assert_eq!(Some(enc.len() as u64), h.file_len());
        }
    }

    #[test]
    fn default_block_size_round_trip() {
        let d = data(DEFAULT_BLOCK_SIZE as usize * 2 + 5);
        let enc = encode_chunk("big", DEFAULT_BLOCK_SIZE, &d).unwrap();
        assert_eq!(parse_chunk_bytes(&enc).unwrap().1, d);
        assert_eq!(range(&enc, 65_530, 20).unwrap(), &d[65_530..65_550]);
    }

    #[test]
    fn streaming_writer_matches_encoder() {
        let d = data(1000);
        let mut streamed = Vec::new();
        write_chunk(&mut streamed, "s", 100, &d).unwrap();
        assert_eq!(streamed, encode_chunk("s", 100, &d).unwrap());
    }

    #[test]
    fn rejects_bad_encoder_input() {
        assert!(matches!(
            encode_chunk("", 64, b"x"),
            Err(Error::InvalidChunkId(_))
        ));
        assert!(matches!(
            encode_chunk(".tmp-x", 64, b"x"),
            Err(Error::InvalidChunkId(_))
        ));
        assert!(matches!(encode_chunk("a", 0, b"x"), Err(Error::Config(_))));
        assert!(matches!(
            encode_chunk("a", MAX_BLOCK_SIZE + 1, b"x"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn range_past_end_is_invalid_range() {
        let enc = encode_chunk("r", 16, &data(40)).unwrap();
        assert!(matches!(range(&enc, 0, 41), Err(Error::InvalidRange(_))));
        assert!(matches!(range(&enc, 41, 0), Err(Error::InvalidRange(_))));
        assert!(matches!(range(&enc, 30, 11), Err(Error::InvalidRange(_))));
        assert!(matches!(
            range(&enc, u64::MAX, 2),
            Err(Error::InvalidRange(_))
        ));
        assert_eq!(range(&enc, 40, 0).unwrap(), Vec::<u8>::new());
        assert_eq!(range(&enc, 39, 1).unwrap(), data(40)[39..].to_vec());
    }

    /// Two whole blocks (with their CRCs) swapped on disk: each block is
    /// intact, but the index-seeded CRC catches it on a range read.
    #[test]
    fn swapped_blocks_are_corrupt() {
        let bs = 32usize;
        let d = data(bs * 3);
        let mut enc = encode_chunk("swap", bs as u32, &d).unwrap();
        let h = ChunkHeader::new("swap", bs as u32, d.len() as u64)
            .unwrap()
            .encoded_len() as usize;
        let framed = bs + CRC_LEN as usize;
        let (b1, b2) = (h + framed, h + 2 * framed);
        let one = enc[b1..b1 + framed].to_vec();
        let two = enc[b2..b2 + framed].to_vec();
        enc[b1..b1 + framed].copy_from_slice(&two);
        enc[b2..b2 + framed].copy_from_slice(&one);
        assert!(matches!(
            range(&enc, bs as u64 + 1, 4),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            range(&enc, 2 * bs as u64, 4),
            Err(Error::Corrupt(_))
        ));
        assert_eq!(range(&enc, 0, 4).unwrap(), &d[..4]);
    }

    /// A range read checks only the blocks it reads: a corrupt block 0 does
    /// not stop a read inside block 2, but does stop a full read.
    #[test]
    fn range_read_touches_only_needed_blocks() {
        let bs = 32usize;
        let d = data(bs * 4);
        let mut enc = encode_chunk("blocks", bs as u32, &d).unwrap();
        let header_len = ChunkHeader::new("blocks", bs as u32, d.len() as u64)
            .unwrap()
            .encoded_len() as usize;
        enc[header_len + 3] ^= 0xff; // a byte of block 0
        let start = 2 * bs + 5;
        assert_eq!(
            range(&enc, start as u64, 10).unwrap(),
            &d[start..start + 10]
        );
        assert!(matches!(range(&enc, 0, 10), Err(Error::Corrupt(_))));
        assert!(matches!(parse_chunk_bytes(&enc), Err(Error::Corrupt(_))));
    }

    /// A reader that panics if asked for bytes outside the header and an
    /// allowed window, proving which bytes a range read touches.
    struct Fenced<'a> {
        inner: Cursor<&'a [u8]>,
        header_len: u64,
        allowed: std::ops::Range<u64>,
    }

    impl Read for Fenced<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let pos = self.inner.position();
            let window_end = if pos < self.header_len {
                self.header_len
            } else {
                assert!(
                    self.allowed.contains(&pos),
                    "read at {pos} outside {:?}",
                    self.allowed
                );
                self.allowed.end
            };
            let n = buf.len().min((window_end - pos) as usize);
            self.inner.read(&mut buf[..n])
        }
    }

    impl Seek for Fenced<'_> {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    #[test]
    fn range_read_reads_only_covering_blocks() {
        let bs = 100u64;
        let d = data(1000);
        let enc = encode_chunk("fence", bs as u32, &d).unwrap();
        let h = ChunkHeader::new("fence", bs as u32, 1000).unwrap();
        // Data 250..420 lives in blocks 2..=4.
        let allowed = h.block_offset(2)..h.block_offset(5);
        let mut r = Fenced {
            inner: Cursor::new(&enc),
            header_len: h.encoded_len(),
            allowed,
        };
        let header = ChunkHeader::read_from(&mut r).unwrap();
        assert_eq!(header, h);
        let got = read_data(&mut r, &header, 250, 170).unwrap();
        assert_eq!(got, &d[250..420]);
    }

    #[test]
    fn truncated_or_extended_file_is_corrupt() {
        let enc = encode_chunk("t", 16, &data(50)).unwrap();
        for cut in 0..enc.len() {
            assert!(
                matches!(parse_chunk_bytes(&enc[..cut]), Err(Error::Corrupt(_))),
                "cut at {cut}"
            );
        }
        let mut longer = enc.clone();
        longer.push(0);
        assert!(matches!(parse_chunk_bytes(&longer), Err(Error::Corrupt(_))));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn prop_round_trip_and_ranges(
            d in proptest::collection::vec(any::<u8>(), 0..2000),
            bs in 1u32..300,
            a in any::<u64>(),
            b in any::<u64>(),
        ) {
            let enc = encode_chunk("prop", bs, &d).unwrap();
            let (h, got) = parse_chunk_bytes(&enc).unwrap();
            prop_assert_eq!(&got, &d);
            prop_assert_eq!(h.data_len, d.len() as u64);
            let n = d.len() as u64 + 1;
            let (x, y) = (a % n, b % n);
            let (lo, hi) = (x.min(y), x.max(y));
            let sub = range(&enc, lo, hi - lo).unwrap();
            prop_assert_eq!(&sub[..], &d[lo as usize..hi as usize]);
        }

        #[test]
        fn prop_any_flipped_byte_is_corrupt(
            d in proptest::collection::vec(any::<u8>(), 0..600),
            bs in 1u32..200,
            pos in any::<usize>(),
            flip in 1u8..=255,
        ) {
            let mut enc = encode_chunk("flip.me", bs, &d).unwrap();
            let pos = pos % enc.len();
            enc[pos] ^= flip;
            let res = parse_chunk_bytes(&enc);
            prop_assert!(matches!(res, Err(Error::Corrupt(_))), "pos {} -> {:?}", pos, res);
        }

        #[test]
        fn prop_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_chunk_bytes(&bytes);
        }

        #[test]
        fn prop_parser_never_panics_on_valid_prefix(
            d in proptest::collection::vec(any::<u8>(), 0..300),
            tail in proptest::collection::vec(any::<u8>(), 0..300),
            cut in any::<usize>(),
        ) {
            let enc = encode_chunk("p", 7, &d).unwrap();
            let mut bytes = enc[..cut % (enc.len() + 1)].to_vec();
            bytes.extend_from_slice(&tail);
            let _ = parse_chunk_bytes(&bytes);
        }
    }
}
