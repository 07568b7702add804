//! Server-side encryption at rest: the block format of an encrypted part.
//!
//! The gateway encrypts object data before it erasure-codes it, so storage
//! nodes only ever hold ciphertext. Every encrypted object (SSE-S3, SSE-C and
//! SSE-KMS alike) has its own random 32-byte [`ObjectKey`]; how that key is
//! wrapped or derived is the gateway's business, not this module's.
//!
//! A part of `n` plaintext bytes (a single-part object is part 1) is cut into
//! [`blocks`]`(n)` blocks of [`BLOCK`] plaintext bytes, the last one shorter
//! (1 to `BLOCK` bytes; an empty part has no block and stores nothing). Each
//! block is stored sealed with AES-256-GCM (`ring`):
//!
//! `nonce (12 random bytes) ‖ ciphertext (as long as the plaintext) ‖ tag (16)`
//!
//! so a part stores [`stored_len`]`(n) = n + OVERHEAD * blocks(n)` bytes, and
//! any plaintext byte range maps to whole sealed blocks ([`ReadPlan`]).
//!
//! Why this shape:
//! - **Random nonces**, one per block: a part rewritten with the same key and
//!   part number (a retried UploadPart) never reuses a nonce. With 96-bit
//!   random nonces one key stays within NIST's collision bound (2^-32) for
//!   2^32 blocks, 256 TiB, more than the largest object S3 allows.
//! - **Associated data** `"shale-sse-v1" ‖ part (u32 BE) ‖ block index (u64
//!   BE) ‖ final (u8)`: a block moved to another index or another part, a
//!   part cut short by whole blocks or extended by one, fails to open.
//! - **Fixed-size blocks**: a ranged GET reads and opens only the blocks its
//!   range touches, and a block opens as soon as its last byte arrives.
//!
//! Not covered: the associated data names no upload of a part, so whoever
//! can write the stored bytes can swap blocks between two uploads of the
//! same part number under the same key (a retried UploadPart) that have the
//! same number of blocks.

use bytes::{Buf, Bytes, BytesMut};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, Tag, UnboundKey};
use zeroize::Zeroize;

/// Plaintext bytes in every block of a part but its last.
pub const BLOCK: usize = 65536;

/// Bytes a sealed block adds to its plaintext: the nonce and the tag.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

const TAG_LEN: usize = 16;

/// Stored bytes of a full block.
const SEALED_BLOCK: usize = BLOCK + OVERHEAD;

/// The first bytes of every block's associated data: the format's name and
/// version, so a later format can never open a block of this one.
const AAD_PREFIX: &[u8; 12] = b"shale-sse-v1";

/// How many blocks a part of `plain_len` bytes is stored as (0 for an empty
/// part).
pub fn blocks(plain_len: u64) -> u64 {
    plain_len.div_ceil(BLOCK as u64)
}

/// How many bytes a part of `plain_len` plaintext bytes stores. Saturates
/// rather than overflows for lengths no part can have (near `u64::MAX`).
pub fn stored_len(plain_len: u64) -> u64 {
    plain_len.saturating_add((OVERHEAD as u64).saturating_mul(blocks(plain_len)))
}

/// The 32-byte key an object's data is sealed with. Zeroed when dropped;
/// its `Debug` shows no byte of it.
pub struct ObjectKey([u8; 32]);

impl ObjectKey {
    /// A new random key (the thread's CSPRNG, seeded by the OS).
    pub fn generate() -> ObjectKey {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut key[..]);
        ObjectKey(key)
    }

    /// The key of these bytes: an unwrapped SSE-S3 or SSE-KMS key, or an
    /// SSE-C customer key. The caller's copy is its own to zero.
    pub fn from_bytes(bytes: [u8; 32]) -> ObjectKey {
        ObjectKey(bytes)
    }

    /// The key's bytes, for wrapping it under a master key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key one write of a part is sealed under: derived from the
    /// object's key and `write_id`, unique to the write (the data path's
    /// chunk prefix). A multipart upload's parts share the upload's key and
    /// a part may be sent again; with a key of its own per write, the
    /// blocks of one sending of a part never open as another's.
    pub fn for_write(&self, write_id: &[u8]) -> ObjectKey {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"shale sse part write key v1\0");
        h.update(write_id);
        ObjectKey(*h.finalize().as_bytes())
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.0).expect("32 bytes are an AES-256 key"),
        )
    }
}

impl Drop for ObjectKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectKey(..)")
    }
}

/// Why stored bytes did not open.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    /// A block failed authentication: its bytes were changed, it was moved
    /// from another index or part, or the key is wrong.
    #[error("part {part}, block {block}: the sealed block does not authenticate")]
    Corrupt { part: u32, block: u64 },
    /// The stored bytes ended before the part's length says they should, or
    /// ran past it.
    #[error("part {part}: the stored bytes do not match the part's length")]
    Length { part: u32 },
}

/// The associated data of block `index` of part `part`.
fn aad(part: u32, index: u64, last: bool) -> Aad<[u8; 25]> {
    let mut a = [0u8; 25];
    a[..12].copy_from_slice(AAD_PREFIX);
    a[12..16].copy_from_slice(&part.to_be_bytes());
    a[16..24].copy_from_slice(&index.to_be_bytes());
    a[24] = u8::from(last);
    Aad::from(a)
}

/// Seals `block` in place: `block` is a nonce slot followed by the
/// plaintext; fills the slot with a random nonce, encrypts the plaintext and
/// returns the tag for the caller to append.
fn seal_in_place(key: &LessSafeKey, part: u32, index: u64, last: bool, block: &mut [u8]) -> Tag {
    let mut nonce = [0u8; NONCE_LEN];
    rand::Rng::fill(&mut rand::rng(), &mut nonce[..]);
    block[..NONCE_LEN].copy_from_slice(&nonce);
    key.seal_in_place_separate_tag(
        Nonce::assume_unique_for_key(nonce),
        aad(part, index, last),
        &mut block[NONCE_LEN..],
    )
    .expect("a block is far below AES-GCM's length limit")
}

/// Seals one part as its plaintext streams in.
///
/// A full block is held back until a byte after it arrives (or
/// [`finish`](Self::finish)), because only then is it known whether it is
/// the part's last block, which its associated data says. The plaintext is
/// copied once, into the block's buffer, and sealed there.
pub struct BlockSealer {
    key: LessSafeKey,
    part: u32,
    /// Index of the block being filled.
    index: u64,
    /// The block being filled: a nonce slot, then its plaintext so far.
    /// Empty (no allocation) until its first byte arrives.
    buf: BytesMut,
}

impl BlockSealer {
    /// A sealer for part `part_number` under `key`.
    pub fn new(key: &ObjectKey, part_number: u32) -> BlockSealer {
        BlockSealer {
            key: key.aead(),
            part: part_number,
            index: 0,
            buf: BytesMut::new(),
        }
    }

    /// Plaintext bytes of the block being filled.
    fn held(&self) -> usize {
        self.buf.len().saturating_sub(NONCE_LEN)
    }

    /// Takes the next plaintext bytes of the part and appends to `out` the
    /// blocks they complete, each whole sealed block as its own `Bytes`, in
    /// order (none while the current block is not yet followed by a byte).
    pub fn push(&mut self, mut plain: &[u8], out: &mut Vec<Bytes>) {
        while !plain.is_empty() {
            if self.held() == BLOCK {
                self.seal(false, out);
            }
            if self.buf.is_empty() {
                self.buf.reserve(SEALED_BLOCK);
                self.buf.extend_from_slice(&[0; NONCE_LEN]);
            }
            let n = (BLOCK - self.held()).min(plain.len());
            self.buf.extend_from_slice(&plain[..n]);
            plain = &plain[n..];
        }
    }

    /// Seals the block held back, the part's last, into `out`; nothing for
    /// an empty part.
    pub fn finish(mut self, out: &mut Vec<Bytes>) {
        if self.held() > 0 {
            self.seal(true, out);
        }
    }

    fn seal(&mut self, last: bool, out: &mut Vec<Bytes>) {
        let mut block = std::mem::take(&mut self.buf);
        let tag = seal_in_place(&self.key, self.part, self.index, last, &mut block);
        block.extend_from_slice(tag.as_ref());
        self.index += 1;
        out.push(block.freeze());
    }
}

/// Seals one part as it streams in, straight into segments of whole sealed
/// blocks (the data path's erasure-coded segments): the plaintext is copied
/// once, into the segment's own buffer, sealed there, and a full segment is
/// cut off without a copy. As with [`BlockSealer`], the open block is sealed
/// only once a byte after it arrives (or at [`finish`](Self::finish)).
pub struct SegmentSealer {
    key: LessSafeKey,
    part: u32,
    /// Index of the open (not yet sealed) block.
    index: u64,
    /// Stored bytes in a segment: whole sealed blocks.
    segment_bytes: usize,
    /// Stored bytes still expected (a capacity hint for the next buffer).
    expected: Option<u64>,
    /// Sealed blocks of the segment being filled, then the open block (a
    /// nonce slot and its plaintext so far).
    buf: BytesMut,
    /// Where the open block starts in `buf` (`buf.len()` when none is).
    open: usize,
}

impl SegmentSealer {
    /// A sealer of part `part_number` under `key` into segments of
    /// `blocks_per_segment` sealed blocks (at least one); `plain_len`, when
    /// known, sizes the buffers.
    pub fn new(
        key: &ObjectKey,
        part_number: u32,
        blocks_per_segment: usize,
        plain_len: Option<u64>,
    ) -> SegmentSealer {
        SegmentSealer {
            key: key.aead(),
            part: part_number,
            index: 0,
            segment_bytes: blocks_per_segment.max(1) * SEALED_BLOCK,
            expected: plain_len.map(stored_len),
            buf: BytesMut::new(),
            open: 0,
        }
    }

    /// Stored bytes in every segment but the last.
    pub fn segment_len(&self) -> usize {
        self.segment_bytes
    }

    /// Plaintext bytes in the open block.
    fn held(&self) -> usize {
        (self.buf.len() - self.open).saturating_sub(NONCE_LEN)
    }

    /// Takes the next plaintext bytes of the part and appends to `out` the
    /// segments they complete.
    pub fn push(&mut self, mut plain: &[u8], out: &mut Vec<Bytes>) {
        while !plain.is_empty() {
            if self.held() == BLOCK {
                self.seal_open(false);
                self.cut(out);
            }
            if self.open == self.buf.len() {
                if self.buf.is_empty() {
                    let want = self
                        .expected
                        .map_or(self.segment_bytes, |e| (e as usize).min(self.segment_bytes));
                    self.buf = BytesMut::with_capacity(want.max(SEALED_BLOCK));
                } else if self.buf.capacity() - self.buf.len() < SEALED_BLOCK {
                    self.buf.reserve(SEALED_BLOCK);
                }
                self.buf.extend_from_slice(&[0; NONCE_LEN]);
            }
            let n = (BLOCK - self.held()).min(plain.len());
            self.buf.extend_from_slice(&plain[..n]);
            plain = &plain[n..];
        }
    }

    /// Seals the open block (the part's last) and appends what is left:
    /// the last segment, shorter than the others; nothing for an empty part.
    pub fn finish(mut self, out: &mut Vec<Bytes>) {
        if self.held() > 0 {
            self.seal_open(true);
        }
        while !self.buf.is_empty() {
            let n = self.buf.len().min(self.segment_bytes);
            out.push(self.buf.split_to(n).freeze());
        }
    }

    fn seal_open(&mut self, last: bool) {
        let tag = seal_in_place(
            &self.key,
            self.part,
            self.index,
            last,
            &mut self.buf[self.open..],
        );
        self.buf.extend_from_slice(tag.as_ref());
        self.index += 1;
        self.open = self.buf.len();
    }

    /// Cuts a full segment off the front (only sealed blocks are in it).
    fn cut(&mut self, out: &mut Vec<Bytes>) {
        if self.open >= self.segment_bytes {
            out.push(self.buf.split_to(self.segment_bytes).freeze());
            self.open -= self.segment_bytes;
            if let Some(e) = &mut self.expected {
                *e = e.saturating_sub(self.segment_bytes as u64);
            }
        }
    }
}

/// The stored bytes a plaintext range `[start, end)` of a part needs, and
/// what to cut from the plaintext of the blocks they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPlan {
    /// Offset in the part's stored bytes of the first block to read.
    pub stored_start: u64,
    /// Offset in the part's stored bytes just past the last block to read.
    pub stored_end: u64,
    /// Index of the first block to read.
    pub first_block: u64,
    /// Plaintext bytes to drop from the first block opened.
    pub skip: u64,
    /// Plaintext bytes to give: `end - start`.
    pub take: u64,
}

impl ReadPlan {
    /// The plan for `[start, end)` of a part of `part_plain_len` bytes. The
    /// range is clamped to the part (`end` to its length, `start` to `end`)
    /// rather than trusted; an empty range reads nothing (all fields 0).
    pub fn new(part_plain_len: u64, start: u64, end: u64) -> ReadPlan {
        let end = end.min(part_plain_len);
        let start = start.min(end);
        if start == end {
            return ReadPlan {
                stored_start: 0,
                stored_end: 0,
                first_block: 0,
                skip: 0,
                take: 0,
            };
        }
        let block = BLOCK as u64;
        let sealed = SEALED_BLOCK as u64;
        let first_block = start / block;
        let last_block = (end - 1) / block;
        ReadPlan {
            stored_start: first_block.saturating_mul(sealed),
            stored_end: (last_block + 1)
                .saturating_mul(sealed)
                .min(stored_len(part_plain_len)),
            first_block,
            skip: start - first_block * block,
            take: end - start,
        }
    }
}

/// Opens the stored bytes of one part's [`ReadPlan`], fed in pieces of any
/// size as they come off the network, and gives exactly the plan's `take`
/// plaintext bytes.
///
/// A block is opened as soon as its last byte arrives. A piece that holds
/// whole blocks is opened where it lies when its `Bytes` is the only handle
/// on its buffer, and copied once otherwise; a block split across pieces is
/// gathered (copied once) into a buffer of its own. After an error every
/// call returns that error.
pub struct BlockOpener {
    key: LessSafeKey,
    part: u32,
    /// Blocks in the whole part.
    blocks: u64,
    /// Stored length of the part's last block.
    last_sealed: usize,
    /// Index of the next block to open.
    next: u64,
    /// Stored bytes of the plan not received yet.
    remaining: u64,
    /// Plaintext to drop from the next block opened.
    skip: usize,
    /// Plaintext still to give.
    take: u64,
    /// The start of a block whose end has not arrived.
    pending: BytesMut,
    failed: Option<SseError>,
}

impl BlockOpener {
    /// An opener for `plan` over part `part_number` of `part_plain_len`
    /// bytes under `key`. It follows the plan as [`ReadPlan::new`] makes it
    /// for the same part length and range, so a plan edited by hand cannot
    /// lead it outside the part.
    pub fn new(key: &ObjectKey, part_number: u32, part_plain_len: u64, plan: &ReadPlan) -> Self {
        let start = plan
            .first_block
            .saturating_mul(BLOCK as u64)
            .saturating_add(plan.skip);
        let plan = ReadPlan::new(part_plain_len, start, start.saturating_add(plan.take));
        let blocks = blocks(part_plain_len);
        let last_plain = part_plain_len - blocks.saturating_sub(1) * BLOCK as u64;
        BlockOpener {
            key: key.aead(),
            part: part_number,
            blocks,
            // At most BLOCK + OVERHEAD: the cast cannot truncate.
            last_sealed: last_plain as usize + OVERHEAD,
            next: plan.first_block,
            remaining: plan.stored_end.saturating_sub(plan.stored_start),
            skip: plan.skip as usize,
            take: plan.take,
            pending: BytesMut::new(),
            failed: None,
        }
    }

    /// Stored length of block `index`.
    fn sealed_len(&self, index: u64) -> usize {
        if index + 1 < self.blocks {
            SEALED_BLOCK
        } else {
            self.last_sealed
        }
    }

    /// Takes the next stored bytes of the plan and appends to `out` the
    /// plaintext of every block they complete, trimmed to the plan's range
    /// (one `Bytes` per block, none for a block that gives nothing). Returns
    /// how many bytes of `stored` it took: all of them, or fewer when they
    /// run past the plan's end, so a caller reading several parts' stored
    /// bytes as one stream hands the rest to the next part's opener.
    pub fn push(&mut self, stored: Bytes, out: &mut Vec<Bytes>) -> Result<usize, SseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let used = stored
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        match self.absorb(stored, used, out) {
            Ok(()) => Ok(used),
            Err(e) => {
                self.failed = Some(e);
                Err(e)
            }
        }
    }

    fn absorb(
        &mut self,
        mut stored: Bytes,
        used: usize,
        out: &mut Vec<Bytes>,
    ) -> Result<(), SseError> {
        stored.truncate(used);
        self.remaining -= used as u64;

        // First the end of a block started by an earlier piece.
        if !self.pending.is_empty() {
            let need = self.sealed_len(self.next) - self.pending.len();
            let n = need.min(stored.len());
            self.pending.extend_from_slice(&stored[..n]);
            stored.advance(n);
            if n < need {
                return Ok(());
            }
            let block = self.pending.split();
            self.open(block, out)?;
        }

        // Then the whole blocks in this piece, opened where they lie: every
        // block but the part's last is full-size, and the last is whole only
        // when the plan's bytes are all in.
        let whole = if self.remaining == 0 {
            stored.len()
        } else {
            stored.len() / SEALED_BLOCK * SEALED_BLOCK
        };
        let tail = if whole == 0 {
            stored
        } else {
            let (mut run, tail) = match stored.try_into_mut() {
                Ok(mut run) => {
                    let tail = run.split_off(whole).freeze();
                    (run, tail)
                }
                Err(shared) => (BytesMut::from(&shared[..whole]), shared.slice(whole..)),
            };
            while !run.is_empty() {
                let block = run.split_to(self.sealed_len(self.next));
                self.open(block, out)?;
            }
            tail
        };

        // Last the start of a block to finish with later pieces.
        if !tail.is_empty() {
            self.pending.reserve(self.sealed_len(self.next));
            self.pending.extend_from_slice(&tail);
        }
        Ok(())
    }

    /// Opens the whole sealed block `block` (block `self.next`) in place and
    /// gives the part of its plaintext the plan wants.
    fn open(&mut self, mut block: BytesMut, out: &mut Vec<Bytes>) -> Result<(), SseError> {
        let index = self.next;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&block[..NONCE_LEN]);
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                aad(self.part, index, index + 1 == self.blocks),
                &mut block[NONCE_LEN..],
            )
            .map_err(|_| SseError::Corrupt {
                part: self.part,
                block: index,
            })?
            .len();
        self.next += 1;
        block.advance(NONCE_LEN);
        block.truncate(plain_len);
        let skip = std::mem::take(&mut self.skip).min(block.len());
        block.advance(skip);
        let give = block
            .len()
            .min(usize::try_from(self.take).unwrap_or(usize::MAX));
        block.truncate(give);
        self.take -= give as u64;
        if !block.is_empty() {
            out.push(block.freeze());
        }
        Ok(())
    }

    /// Stored bytes of the plan not received yet: a caller that hands over
    /// a piece no longer than this keeps it whole, so a piece that is the
    /// only handle on its buffer is opened where it lies.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Whether every stored byte of the plan has arrived and opened.
    pub fn is_done(&self) -> bool {
        self.failed.is_none() && self.remaining == 0 && self.pending.is_empty()
    }

    /// `Ok` once the plan is done; the error met, or [`SseError::Length`]
    /// when the plan's stored bytes did not all arrive.
    pub fn finish(&self) -> Result<(), SseError> {
        match self.failed {
            Some(e) => Err(e),
            None if !self.is_done() => Err(SseError::Length { part: self.part }),
            None => Ok(()),
        }
    }
}

/// Seals a whole part held in memory (a small object stored inline in the
/// catalogue): the plaintext is copied once, into the result, and sealed
/// there.
pub fn seal_all(key: &ObjectKey, part_number: u32, plain: &[u8]) -> Vec<u8> {
    let key = key.aead();
    let n = blocks(plain.len() as u64);
    let mut out = Vec::with_capacity(stored_len(plain.len() as u64) as usize);
    for (index, chunk) in (0u64..).zip(plain.chunks(BLOCK)) {
        let at = out.len();
        out.extend_from_slice(&[0; NONCE_LEN]);
        out.extend_from_slice(chunk);
        let tag = seal_in_place(&key, part_number, index, index + 1 == n, &mut out[at..]);
        out.extend_from_slice(tag.as_ref());
    }
    out
}

/// Opens a whole part sealed by [`seal_all`] or [`BlockSealer`]: its
/// plaintext, or the first error. The length is checked before anything is
/// allocated, and no plaintext is returned unless every block opens.
pub fn open_all(
    key: &ObjectKey,
    part_number: u32,
    plain_len: u64,
    stored: &[u8],
) -> Result<Vec<u8>, SseError> {
    if stored.len() as u64 != stored_len(plain_len) {
        return Err(SseError::Length { part: part_number });
    }
    let key = key.aead();
    let n = blocks(plain_len);
    // The plaintext is shorter than `stored`: the cast cannot truncate.
    let mut out = Vec::with_capacity(plain_len as usize + TAG_LEN);
    for (index, block) in (0u64..).zip(stored.chunks(SEALED_BLOCK)) {
        let (nonce, sealed) = block.split_at(NONCE_LEN);
        let at = out.len();
        out.extend_from_slice(sealed);
        let plain = key
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).expect("a 12-byte nonce"),
                aad(part_number, index, index + 1 == n),
                &mut out[at..],
            )
            .map_err(|_| SseError::Corrupt {
                part: part_number,
                block: index,
            })?
            .len();
        out.truncate(at + plain);
    }
    Ok(out)
}

/// The key of [`fuzz_open`], fixed so that seeds in `fuzz/corpus/sse_blocks`
/// can hold authentic sealings.
const FUZZ_KEY: [u8; 32] = *b"shale fuzz target sse_blocks key";

/// Bytes of [`fuzz_open`]'s header.
const FUZZ_HEADER: usize = 24;

/// The fuzz entry point (`fuzz/`, target `sse_blocks`; its corpus is
/// replayed by `tests/fuzz_corpus_sse.rs`). A 24-byte header, then stored
/// bytes: part number (u32 BE), part length (u32 BE, modulo 1 MiB), two
/// offsets that pick the range (u32 BE each), and a u64 that picks the piece
/// sizes (its low byte the kind: 1 byte, 7 bytes, random up to 100 KiB, all
/// at once, and whether pieces come as shared or unique `Bytes`).
///
/// It opens the stored bytes as the whole part ([`open_all`]) and as the
/// range ([`BlockOpener`], in pieces), and checks both against a plain
/// block-by-block opening: they give plaintext only for blocks that
/// authenticate under the fuzz key, which arbitrary bytes practically never
/// do. Then it seals a plaintext made of the stored bytes and checks that it
/// opens again, through pieces, and that one flipped byte makes it fail.
/// Never panics but on a broken check; work and memory are bounded by the
/// input and 3 blocks.
pub fn fuzz_open(data: &[u8]) {
    let Some((head, stored)) = data.split_first_chunk::<FUZZ_HEADER>() else {
        return;
    };
    let word = |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let part = word(0);
    let plain_len = u64::from(word(4) % (1 << 20));
    let start = u64::from(word(8)) % (plain_len + 1);
    let end = start + u64::from(word(12)) % (plain_len - start + 1);
    let mut pieces = FuzzPieces::new(u64::from_be_bytes(
        head[16..24].try_into().expect("8 bytes"),
    ));
    let key = ObjectKey::from_bytes(FUZZ_KEY);

    // The whole part.
    let reference = reference_open(&key, part, plain_len, stored, 0);
    match open_all(&key, part, plain_len, stored) {
        Ok(plain) => {
            assert_eq!(stored.len() as u64, stored_len(plain_len));
            assert_eq!(plain.len() as u64, plain_len);
            assert_eq!(
                reference.len() as u64,
                plain_len,
                "open_all opened what does not authenticate"
            );
            assert_eq!(plain, reference);
        }
        Err(SseError::Length { .. }) => assert_ne!(stored.len() as u64, stored_len(plain_len)),
        Err(SseError::Corrupt { block, .. }) => {
            assert_eq!(stored.len() as u64, stored_len(plain_len));
            assert_eq!(
                reference.len() as u64,
                (block * BLOCK as u64).min(plain_len)
            );
        }
    }

    // The range, in pieces, from the plan's first stored byte.
    let plan = ReadPlan::new(plain_len, start, end);
    let from = usize::try_from(plan.stored_start)
        .unwrap_or(usize::MAX)
        .min(stored.len());
    let (given, result) =
        open_in_pieces(&key, part, plain_len, &plan, &stored[from..], &mut pieces);
    // What authenticates, from the first block of the plan to the first
    // that does not, cut to the range.
    let range = reference_open(&key, part, plain_len, &stored[from..], plan.first_block);
    let (lo, hi) = (plan.skip as usize, (plan.skip + plan.take) as usize);
    let expect = &range[lo.min(range.len())..hi.min(range.len())];
    assert_eq!(given, expect, "the opener gave what does not authenticate");
    match result {
        Ok(()) => assert_eq!(given.len() as u64, plan.take),
        Err(SseError::Length { .. }) => {
            assert!(((stored.len() - from) as u64) < plan.stored_end - plan.stored_start)
        }
        Err(SseError::Corrupt { block, .. }) => {
            assert!(block >= plan.first_block && block < blocks(plain_len))
        }
    }

    // A sealing of our own opens again; one changed byte breaks it.
    // Up to 3 blocks and a bit, bounded by the input.
    let own_len = (plain_len as usize % (3 * BLOCK + 100)).min(64 * data.len());
    let plain: Vec<u8> = if stored.is_empty() {
        vec![0x5a; own_len]
    } else {
        stored.iter().copied().cycle().take(own_len).collect()
    };
    let mut sealer = BlockSealer::new(&key, part);
    let mut sealed = Vec::new();
    let mut rest = &plain[..];
    while !rest.is_empty() {
        let n = pieces.next(rest.len());
        sealer.push(&rest[..n], &mut sealed);
        rest = &rest[n..];
    }
    sealer.finish(&mut sealed);
    let sealed: Vec<u8> = sealed.concat();
    assert_eq!(sealed.len() as u64, stored_len(own_len as u64));
    let own_len = own_len as u64;
    let start = start % (own_len + 1);
    let end = start + (end - start) % (own_len - start + 1);
    let plan = ReadPlan::new(own_len, start, end);
    let range = &sealed[plan.stored_start as usize..];
    let (given, result) = open_in_pieces(&key, part, own_len, &plan, range, &mut pieces);
    assert_eq!(result, Ok(()));
    assert_eq!(given, plain[start as usize..end as usize]);
    let mut broken = sealed;
    if !broken.is_empty() {
        let at = word(8) as usize % broken.len();
        broken[at] ^= 1 << (head[19] % 8);
        assert!(matches!(
            open_all(&key, part, own_len, &broken),
            Err(SseError::Corrupt { .. })
        ));
    }
}

/// Piece sizes for [`fuzz_open`], from a seed: xorshift64.
struct FuzzPieces {
    state: u64,
    kind: u8,
}

impl FuzzPieces {
    fn new(seed: u64) -> FuzzPieces {
        FuzzPieces {
            state: seed | 1,
            kind: seed as u8,
        }
    }

    /// The size of the next piece of at most `left` (> 0) bytes.
    fn next(&mut self, left: usize) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let n = match self.kind % 4 {
            0 => 1,
            1 => 7,
            2 => 1 + (self.state % (100 << 10)) as usize,
            _ => left,
        };
        n.min(left)
    }

    /// Whether pieces come as `Bytes` of their own (opened where they lie)
    /// or as slices of one shared buffer (copied).
    fn unique(&self) -> bool {
        self.kind & 4 != 0
    }
}

/// Feeds `stored` to a [`BlockOpener`] for `plan` in pieces; the plaintext
/// it gave and how it finished.
fn open_in_pieces(
    key: &ObjectKey,
    part: u32,
    plain_len: u64,
    plan: &ReadPlan,
    stored: &[u8],
    pieces: &mut FuzzPieces,
) -> (Vec<u8>, Result<(), SseError>) {
    let mut opener = BlockOpener::new(key, part, plain_len, plan);
    let shared = Bytes::copy_from_slice(stored);
    let mut out = Vec::new();
    let mut at = 0;
    let mut result = Ok(());
    while at < stored.len() && !opener.is_done() {
        let n = pieces.next(stored.len() - at);
        let piece = if pieces.unique() {
            Bytes::copy_from_slice(&stored[at..at + n])
        } else {
            shared.slice(at..at + n)
        };
        match opener.push(piece, &mut out) {
            Ok(used) => {
                assert!(used <= n);
                assert!(
                    used == n || opener.is_done(),
                    "took less before the plan's end"
                );
                at += used;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let given: Vec<u8> = out.concat();
    assert!(given.len() as u64 <= plan.take);
    if result.is_ok() {
        result = opener.finish();
    }
    assert_eq!(opener.finish(), result);
    (given, result)
}

/// The plaintext of the blocks of `stored` that authenticate, from block
/// `first` to the first that does not, opened one by one without this
/// module's stream logic: the check of [`fuzz_open`]. `stored` starts with
/// block `first`.
fn reference_open(
    key: &ObjectKey,
    part: u32,
    plain_len: u64,
    stored: &[u8],
    first: u64,
) -> Vec<u8> {
    let key = key.aead();
    let n = blocks(plain_len);
    let base = first * SEALED_BLOCK as u64;
    let mut plain = Vec::new();
    for index in first..n {
        let from = index * SEALED_BLOCK as u64 - base;
        let to = ((index + 1) * SEALED_BLOCK as u64).min(stored_len(plain_len)) - base;
        if to > stored.len() as u64 {
            break;
        }
        let mut block = stored[from as usize..to as usize].to_vec();
        let nonce = Nonce::try_assume_unique_for_key(&block[..NONCE_LEN]).expect("12 bytes");
        let Ok(opened) = key.open_in_place(
            nonce,
            aad(part, index, index + 1 == n),
            &mut block[NONCE_LEN..],
        ) else {
            break;
        };
        plain.extend_from_slice(opened);
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const B: usize = BLOCK;

    /// `n` bytes that do not repeat with the block size.
    fn plaintext(n: usize, seed: u64) -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut v = vec![0u8; n];
        rng.fill(&mut v[..]);
        v
    }

    /// Piece sizes: a fixed size, or random ones from a seed.
    enum Pieces {
        Fixed(usize),
        Random(Box<StdRng>, usize),
    }

    impl Pieces {
        fn next(&mut self, left: usize) -> usize {
            match self {
                Pieces::Fixed(n) => (*n).min(left),
                Pieces::Random(rng, max) => rng.random_range(1..=*max).min(left),
            }
        }
    }

    fn seal(key: &ObjectKey, part: u32, plain: &[u8], pieces: &mut Pieces) -> Vec<Bytes> {
        let mut sealer = BlockSealer::new(key, part);
        let mut out = Vec::new();
        let mut rest = plain;
        while !rest.is_empty() {
            let n = pieces.next(rest.len());
            sealer.push(&rest[..n], &mut out);
            rest = &rest[n..];
        }
        sealer.finish(&mut out);
        out
    }

    /// Opens `[start, end)` of a part from its whole stored bytes, fed in
    /// pieces as unique or shared `Bytes`.
    fn open_range(
        key: &ObjectKey,
        part: u32,
        plain_len: u64,
        stored: &[u8],
        (start, end): (u64, u64),
        pieces: &mut Pieces,
        unique: bool,
    ) -> Result<Vec<u8>, SseError> {
        let plan = ReadPlan::new(plain_len, start, end);
        let stored = &stored[(plan.stored_start as usize).min(stored.len())..];
        let shared = Bytes::copy_from_slice(stored);
        let mut opener = BlockOpener::new(key, part, plain_len, &plan);
        let mut out = Vec::new();
        let mut at = 0;
        while at < stored.len() && !opener.is_done() {
            let n = pieces.next(stored.len() - at);
            let piece = if unique {
                Bytes::copy_from_slice(&stored[at..at + n])
            } else {
                shared.slice(at..at + n)
            };
            at += opener.push(piece, &mut out)?;
        }
        opener.finish()?;
        Ok(out.concat())
    }

    #[test]
    fn sizes_and_overhead() {
        assert_eq!(OVERHEAD, 28);
        assert_eq!((blocks(0), stored_len(0)), (0, 0));
        assert_eq!((blocks(1), stored_len(1)), (1, 29));
        assert_eq!(blocks(B as u64), 1);
        assert_eq!(blocks(B as u64 + 1), 2);
        assert_eq!(stored_len(3 * B as u64 + 17), 3 * B as u64 + 17 + 4 * 28);
        assert_eq!(stored_len(u64::MAX), u64::MAX);
    }

    #[test]
    fn round_trips_in_pieces() {
        let key = ObjectKey::generate();
        for n in [0, 1, B - 1, B, B + 1, 3 * B + 17] {
            let plain = plaintext(n, n as u64);
            for piece in [1, 7, 100 << 10, usize::MAX] {
                let sealed = seal(&key, 3, &plain, &mut Pieces::Fixed(piece));
                // One whole sealed block per Bytes.
                assert_eq!(sealed.len() as u64, blocks(n as u64), "n {n} piece {piece}");
                for (i, block) in sealed.iter().enumerate() {
                    let want = if i + 1 < sealed.len() {
                        SEALED_BLOCK
                    } else {
                        n - i * B + OVERHEAD
                    };
                    assert_eq!(block.len(), want);
                }
                let stored = sealed.concat();
                assert_eq!(stored.len() as u64, stored_len(n as u64));
                assert_eq!(open_all(&key, 3, n as u64, &stored).unwrap(), plain);
                for unique in [false, true] {
                    let got = open_range(
                        &key,
                        3,
                        n as u64,
                        &stored,
                        (0, n as u64),
                        &mut Pieces::Fixed(piece),
                        unique,
                    );
                    assert_eq!(got.unwrap(), plain, "n {n} piece {piece} unique {unique}");
                }
            }
            let all = seal_all(&key, 3, &plain);
            assert_eq!(all.len() as u64, stored_len(n as u64));
            assert_eq!(open_all(&key, 3, n as u64, &all).unwrap(), plain);
        }
    }

    #[test]
    fn every_range_near_block_boundaries() {
        let key = ObjectKey::generate();
        let n = 3 * B - 5;
        let plain = plaintext(n, 1);
        let stored = seal_all(&key, 9, &plain);
        let points: Vec<u64> = [0, 1, B - 1, B, B + 1, 2 * B - 1, 2 * B, 2 * B + 1, n - 1, n]
            .iter()
            .map(|&p| p as u64)
            .collect();
        let mut rng = StdRng::seed_from_u64(7);
        for &start in &points {
            for &end in points.iter().filter(|&&e| e >= start) {
                for max in [1, 9, 5000, 200_000] {
                    let mut pieces =
                        Pieces::Random(Box::new(StdRng::seed_from_u64(rng.random())), max);
                    let got = open_range(
                        &key,
                        9,
                        n as u64,
                        &stored,
                        (start, end),
                        &mut pieces,
                        rng.random(),
                    );
                    assert_eq!(
                        got.unwrap(),
                        &plain[start as usize..end as usize],
                        "[{start}, {end}) max {max}"
                    );
                }
            }
        }
    }

    #[test]
    fn plans() {
        let n = 3 * B as u64 + 17;
        let s = SEALED_BLOCK as u64;
        assert_eq!(
            ReadPlan::new(n, 5, 5),
            ReadPlan {
                stored_start: 0,
                stored_end: 0,
                first_block: 0,
                skip: 0,
                take: 0
            }
        );
        assert_eq!(
            ReadPlan::new(n, B as u64 - 1, B as u64 + 1),
            ReadPlan {
                stored_start: 0,
                stored_end: 2 * s,
                first_block: 0,
                skip: B as u64 - 1,
                take: 2
            }
        );
        assert_eq!(
            ReadPlan::new(n, 3 * B as u64, n),
            ReadPlan {
                stored_start: 3 * s,
                stored_end: stored_len(n),
                first_block: 3,
                skip: 0,
                take: 17
            }
        );
        // Clamped to the part, never past it.
        assert_eq!(ReadPlan::new(n, 0, u64::MAX), ReadPlan::new(n, 0, n));
        assert_eq!(ReadPlan::new(n, u64::MAX, u64::MAX).take, 0);
    }

    /// Opens the whole part both ways; both must fail the same.
    fn open_both(key: &ObjectKey, part: u32, n: u64, stored: &[u8]) -> Result<Vec<u8>, SseError> {
        let all = open_all(key, part, n, stored);
        let streamed = open_range(
            key,
            part,
            n,
            stored,
            (0, n),
            &mut Pieces::Fixed(1000),
            false,
        );
        assert_eq!(all, streamed);
        all
    }

    #[test]
    fn tampering_is_corrupt() {
        let key = ObjectKey::generate();
        let n = B + 100;
        let stored = seal_all(&key, 1, &plaintext(n, 2));
        let second = SEALED_BLOCK;
        let at = [
            // nonce, ciphertext, tag of the first block
            0,
            11,
            12,
            12 + B / 2,
            12 + B - 1,
            SEALED_BLOCK - 16,
            SEALED_BLOCK - 1,
            // and of the second
            second,
            second + 11,
            second + 12,
            second + 111,
            second + 112,
            stored.len() - 1,
        ];
        for at in at {
            let mut bad = stored.clone();
            bad[at] ^= 0x80;
            let block = (at / SEALED_BLOCK) as u64;
            assert_eq!(
                open_both(&key, 1, n as u64, &bad),
                Err(SseError::Corrupt { part: 1, block }),
                "byte {at}"
            );
        }
    }

    #[test]
    fn moved_dropped_added_blocks_fail() {
        let key = ObjectKey::generate();
        let n = 3 * B + 17;
        let stored = seal_all(&key, 2, &plaintext(n, 3));
        let s = SEALED_BLOCK;

        // Two blocks swapped.
        let mut swapped = stored.clone();
        swapped[..2 * s].rotate_left(s);
        assert_eq!(
            open_both(&key, 2, n as u64, &swapped),
            Err(SseError::Corrupt { part: 2, block: 0 })
        );

        // The last block dropped: too short for the part, and not final
        // where the shorter length would end the part.
        let dropped = &stored[..3 * s];
        assert_eq!(
            open_both(&key, 2, n as u64, dropped),
            Err(SseError::Length { part: 2 })
        );
        assert_eq!(
            open_both(&key, 2, 3 * B as u64, dropped),
            Err(SseError::Corrupt { part: 2, block: 2 })
        );

        // A block added after the final one: too long, and the final one is
        // not final where the longer length goes on.
        let short = seal_all(&key, 2, &plaintext(2 * B, 4));
        let mut added = short.clone();
        added.extend_from_slice(&stored[2 * s..3 * s]);
        assert_eq!(
            open_all(&key, 2, 2 * B as u64, &added),
            Err(SseError::Length { part: 2 })
        );
        assert_eq!(
            open_both(&key, 2, 3 * B as u64, &added),
            Err(SseError::Corrupt { part: 2, block: 1 })
        );

        // Another part number, another key.
        assert_eq!(
            open_both(&key, 3, n as u64, &stored),
            Err(SseError::Corrupt { part: 3, block: 0 })
        );
        let other = ObjectKey::generate();
        assert_eq!(
            open_both(&other, 2, n as u64, &stored),
            Err(SseError::Corrupt { part: 2, block: 0 })
        );
    }

    #[test]
    fn an_opener_takes_only_its_part() {
        // Two parts' stored bytes back to back, as one stream.
        let key = ObjectKey::generate();
        let (one, two) = (plaintext(B + 3, 5), plaintext(10, 6));
        let mut stream = seal_all(&key, 1, &one);
        stream.extend_from_slice(&seal_all(&key, 2, &two));
        let stream = Bytes::from(stream);

        let mut out = Vec::new();
        let plan = ReadPlan::new(one.len() as u64, 0, one.len() as u64);
        let mut first = BlockOpener::new(&key, 1, one.len() as u64, &plan);
        let used = first.push(stream.clone(), &mut out).unwrap();
        assert_eq!(used as u64, stored_len(one.len() as u64));
        assert!(first.is_done());
        assert_eq!(first.finish(), Ok(()));
        assert_eq!(out.concat(), one);

        out.clear();
        let plan = ReadPlan::new(10, 2, 9);
        let mut second = BlockOpener::new(&key, 2, 10, &plan);
        assert_eq!(second.push(stream.slice(used..), &mut out), Ok(38));
        assert_eq!(second.finish(), Ok(()));
        assert_eq!(out.concat(), &two[2..9]);
        // Done: it takes nothing more.
        assert_eq!(second.push(Bytes::from_static(b"more"), &mut out), Ok(0));
    }

    #[test]
    fn whole_blocks_open_where_they_lie() {
        let key = ObjectKey::generate();
        let plain = plaintext(2 * B + 9, 12);
        let n = plain.len() as u64;
        let stored = Bytes::from(seal_all(&key, 1, &plain));
        let place = stored.as_ptr_range();
        let mut opener = BlockOpener::new(&key, 1, n, &ReadPlan::new(n, 0, n));
        let mut out = Vec::new();
        opener.push(stored, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        // A unique Bytes is opened in its own buffer: no copy.
        assert!(out.iter().all(|b| place.contains(&b.as_ptr())));
        assert_eq!(out.concat(), plain);
    }

    #[test]
    fn errors_stay_and_short_streams_are_length() {
        let key = ObjectKey::generate();
        let n = 2 * B as u64;
        let mut stored = seal_all(&key, 1, &plaintext(n as usize, 8));
        let plan = ReadPlan::new(n, 0, n);

        let mut opener = BlockOpener::new(&key, 1, n, &plan);
        let mut out = Vec::new();
        opener
            .push(Bytes::copy_from_slice(&stored[..100]), &mut out)
            .unwrap();
        assert!(!opener.is_done());
        assert_eq!(opener.finish(), Err(SseError::Length { part: 1 }));

        stored[SEALED_BLOCK + 5] ^= 1;
        let mut opener = BlockOpener::new(&key, 1, n, &plan);
        let first = opener.push(Bytes::copy_from_slice(&stored[..SEALED_BLOCK]), &mut out);
        assert_eq!(first, Ok(SEALED_BLOCK));
        let err = Err(SseError::Corrupt { part: 1, block: 1 });
        assert_eq!(
            opener.push(Bytes::copy_from_slice(&stored[SEALED_BLOCK..]), &mut out),
            err
        );
        assert_eq!(opener.push(Bytes::from_static(b"x"), &mut out), err);
        assert_eq!(opener.finish(), err.map(|_: usize| ()));
        assert!(!opener.is_done());
    }

    #[test]
    fn two_seals_differ() {
        let key = ObjectKey::generate();
        let plain = plaintext(2 * B + 1, 9);
        let (a, b) = (seal_all(&key, 1, &plain), seal_all(&key, 1, &plain));
        assert_ne!(a, b);
        // Not one block alike, nonces included.
        for (x, y) in a.chunks(SEALED_BLOCK).zip(b.chunks(SEALED_BLOCK)) {
            assert_ne!(x[..NONCE_LEN], y[..NONCE_LEN]);
            assert_ne!(x[NONCE_LEN..], y[NONCE_LEN..]);
        }
    }

    #[test]
    fn a_pattern_does_not_show_through() {
        let key = ObjectKey::generate();
        let pattern = b"0123456789abcdef";
        let plain: Vec<u8> = pattern.iter().copied().cycle().take(3 * B).collect();
        let stored = seal_all(&key, 1, &plain);
        assert!(!stored.windows(pattern.len()).any(|w| w == pattern));
        // Equal plaintext blocks seal to unequal ciphertext.
        let blocks: Vec<&[u8]> = stored.chunks(SEALED_BLOCK).collect();
        assert_ne!(blocks[0][NONCE_LEN..], blocks[1][NONCE_LEN..]);
    }

    #[test]
    fn a_key_does_not_show_itself() {
        let key = ObjectKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "ObjectKey(..)");
        assert_eq!(key.as_bytes(), &[0xab; 32]);
    }

    #[test]
    fn fuzz_entry_on_authentic_and_random_input() {
        let key = ObjectKey::from_bytes(FUZZ_KEY);
        let plain = plaintext(B + 50, 10);
        let mut data = Vec::new();
        data.extend_from_slice(&7u32.to_be_bytes());
        data.extend_from_slice(&(plain.len() as u32).to_be_bytes());
        data.extend_from_slice(&(B as u32 - 3).to_be_bytes());
        data.extend_from_slice(&40u32.to_be_bytes());
        for kind in 0..8u64 {
            let mut input = data.clone();
            input.extend_from_slice(&(0x1234_5678_0000_0000 | kind).to_be_bytes());
            input.extend_from_slice(&seal_all(&key, 7, &plain));
            fuzz_open(&input);
            let last = input.len() - 1;
            input[last] ^= 1;
            fuzz_open(&input);
            input.truncate(last - 20);
            fuzz_open(&input);
        }
        let mut rng = StdRng::seed_from_u64(11);
        for len in [0, 1, 23, 24, 25, 100, 5000, 70_000] {
            let mut input = vec![0u8; len];
            rng.fill(&mut input[..]);
            fuzz_open(&input);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_size_range_and_pieces(
            n in prop_oneof![0usize..300, 0usize..(4 * B + 300)],
            a in any::<u64>(),
            b in any::<u64>(),
            seal_max in prop_oneof![Just(1usize), 1usize..300, 1usize..(3 * B)],
            open_max in prop_oneof![Just(1usize), 1usize..300, 1usize..(3 * B)],
            part in 1u32..=10_000,
            unique in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let key = ObjectKey::generate();
            let plain = plaintext(n, seed);
            let sealed = seal(&key, part, &plain, &mut Pieces::Random(Box::new(StdRng::seed_from_u64(seed)), seal_max));
            let stored = sealed.concat();
            prop_assert_eq!(stored.len() as u64, stored_len(n as u64));
            let start = a % (n as u64 + 1);
            let end = start + b % (n as u64 - start + 1);
            let mut pieces = Pieces::Random(Box::new(StdRng::seed_from_u64(seed ^ 1)), open_max);
            let got = open_range(&key, part, n as u64, &stored, (start, end), &mut pieces, unique);
            prop_assert_eq!(got.unwrap(), &plain[start as usize..end as usize]);
        }
    }
    #[test]
    fn segment_sealer_cuts_whole_blocks_and_opens_like_the_block_sealer() {
        let key = ObjectKey::generate();
        for len in [
            0usize,
            1,
            BLOCK,
            BLOCK + 1,
            5 * BLOCK,
            5 * BLOCK + 3,
            9 * BLOCK - 1,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut out = Vec::new();
            let mut s = SegmentSealer::new(&key, 4, 2, Some(len as u64));
            for piece in plain.chunks(70_001) {
                s.push(piece, &mut out);
            }
            s.finish(&mut out);
            let seg = 2 * SEALED_BLOCK;
            for (i, b) in out.iter().enumerate() {
                if i + 1 < out.len() {
                    assert_eq!(b.len(), seg, "len {len} segment {i}");
                } else {
                    assert!(!b.is_empty() && b.len() <= seg);
                }
            }
            let stored: Vec<u8> = out.concat();
            assert_eq!(stored.len() as u64, stored_len(len as u64));
            assert_eq!(
                open_all(&key, 4, len as u64, &stored).expect("opens"),
                plain
            );
            assert!(open_all(&key, 3, len as u64, &stored).is_err() || len == 0);
        }
    }
    #[test]
    fn each_write_of_a_part_has_a_key_of_its_own() {
        let key = ObjectKey::generate();
        let (a, b) = (key.for_write(b"upload-1"), key.for_write(b"upload-2"));
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.as_bytes(), key.for_write(b"upload-1").as_bytes());
        let plain = vec![7u8; 3 * BLOCK];
        let sealed = seal_all(&a, 2, &plain);
        assert_eq!(open_all(&a, 2, plain.len() as u64, &sealed).unwrap(), plain);
        assert!(open_all(&b, 2, plain.len() as u64, &sealed).is_err());
        assert!(open_all(&key, 2, plain.len() as u64, &sealed).is_err());
    }
}
