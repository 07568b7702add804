//! MD5 of many bodies at once: one AVX-512 (or AVX2) thread hashes up to 16
//! streams side by side.
//!
//! The ETag of a PUT is the MD5 of its body, and MD5 is the most expensive
//! hash on the PUT path (~0.6 GB/s per core, a third of the gateway's CPU
//! under load). One MD5 cannot be sped up: every 64-byte block depends on
//! the one before. But concurrent PUTs are independent streams, and AVX-512
//! runs the same instruction on 16 32-bit lanes; so one hashing thread owns
//! the state of every stream and advances up to 16 of them in lock step,
//! each lane one stream (the multi-buffer technique of Intel's ISA-L and
//! MinIO's md5-simd): ten times the scalar throughput with all lanes busy.
//! CPUs without AVX-512 (AMD before Zen 4, many Intel desktop parts) run
//! 8 lanes in AVX2's 256-bit registers, twice for 16 streams: no
//! three-input logic and no rotate instruction there, so a step costs about
//! ten operations instead of six, still about four times the scalar code
//! per core with the lanes busy.
//!
//! [`Md5Stream`] is the handle a PUT uses. `update` never waits: it sends
//! the body's pieces (the very `Bytes` the network delivered, whole blocks
//! only; a block straddling two pieces is sent as a 64-byte piece of its
//! own) to the thread, which queues them per stream. Since every stream
//! sends as its body arrives, the streams of concurrent PUTs are hashed at
//! the same time, in the same rounds. `finalize` sends the padding and waits
//! for the final state. Without AVX-512 or AVX2 (checked at run time) a
//! stream hashes in place with the `md-5` crate.

use bytes::Bytes;
use md5::Digest as _;
use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

pub use simd::compress_lanes;

/// Block size of MD5.
const BLOCK: usize = 64;
/// With fewer busy lanes than this, the scalar code is faster.
const MIN_SIMD_LANES: usize = 2;
/// Blocks a lane advances before the thread looks for new pieces, so a new
/// stream waits at most this long for a lane.
const ROUND_BLOCKS: usize = 256;
/// Streams hashed side by side.
pub const LANES: usize = 16;

/// MD5's initial state.
pub const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// An MD5 being computed over a body that arrives in pieces.
pub struct Md5Stream {
    inner: Inner,
}

enum Inner {
    /// No AVX-512: hashed in place.
    Local(Box<md5::Md5>),
    Pooled(Pooled),
}

struct Pooled {
    /// This stream's number at the hashing thread.
    id: u64,
    tx: &'static mpsc::Sender<Msg>,
    /// Bytes of the body seen so far.
    len: u64,
    /// Bytes after the last whole block sent (fewer than 64).
    tail: Vec<u8>,
    /// False once finalized (nothing to cancel on drop).
    open: bool,
}

/// What streams tell the hashing thread.
enum Msg {
    /// Whole blocks of stream `id`, in order.
    Data(u64, Bytes),
    /// The last blocks (padding included) of stream `id`; the final state
    /// goes to the sender.
    Finish(u64, Bytes, oneshot::Sender<[u32; 4]>),
    /// Stream `id` was dropped unfinished: forget it.
    Cancel(u64),
}

impl Default for Md5Stream {
    fn default() -> Self {
        Self::new()
    }
}

impl Md5Stream {
    /// A new, empty MD5.
    pub fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let inner = match pool() {
            Some(tx) => Inner::Pooled(Pooled {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                tx,
                len: 0,
                tail: Vec::with_capacity(BLOCK),
                open: true,
            }),
            None => Inner::Local(Box::default()),
        };
        Md5Stream { inner }
    }

    /// Adds `data` to the hash; never waits (an `async fn` so that callers
    /// need not change if it ever has to).
    pub async fn update(&mut self, data: Bytes) {
        match &mut self.inner {
            Inner::Local(md5) => md5.update(&data),
            Inner::Pooled(p) => p.update(data),
        }
    }

    /// The MD5 of everything added.
    pub async fn finalize(self) -> [u8; 16] {
        let mut this = self;
        let p = match &mut this.inner {
            Inner::Local(md5) => return std::mem::take(&mut **md5).finalize().into(),
            Inner::Pooled(p) => p,
        };
        let bit_len = p.len.wrapping_mul(8);
        let mut last = std::mem::take(&mut p.tail);
        last.push(0x80);
        while last.len() % BLOCK != BLOCK - 8 {
            last.push(0);
        }
        last.extend_from_slice(&bit_len.to_le_bytes());
        let (reply, result) = oneshot::channel();
        p.open = false;
        let state = match p.tx.send(Msg::Finish(p.id, Bytes::from(last), reply)) {
            Ok(()) => result.await.ok(),
            Err(_) => None,
        };
        // The thread never drops a stream it was told to finish; if it
        // did, the state is lost and the only honest answer is to stop.
        let state = state.expect("the MD5 thread lost a stream");
        let mut out = [0u8; 16];
        for (word, chunk) in state.iter().zip(out.chunks_mut(4)) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

impl Pooled {
    fn update(&mut self, mut data: Bytes) {
        self.len += data.len() as u64;
        if !self.tail.is_empty() {
            let take = (BLOCK - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data.split_to(take));
            if self.tail.len() < BLOCK {
                return;
            }
            let block = Bytes::copy_from_slice(&self.tail);
            self.tail.clear();
            self.send(block);
        }
        let whole = data.len() / BLOCK * BLOCK;
        let rest = data.split_off(whole);
        if !data.is_empty() {
            self.send(data);
        }
        self.tail.extend_from_slice(&rest);
    }

    fn send(&self, blocks: Bytes) {
        // The thread never exits; if it had, finalize reports it.
        let _ = self.tx.send(Msg::Data(self.id, blocks));
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if self.open {
            let _ = self.tx.send(Msg::Cancel(self.id));
        }
    }
}

/// Hashes whole blocks of `data` (a multiple of 64 bytes) in place.
fn compress_bytes(state: &mut [u32; 4], data: &[u8]) {
    let (blocks, rest) = data.as_chunks::<BLOCK>();
    debug_assert!(rest.is_empty());
    md5::block_api::compress(state, blocks);
}

/// Starts the hashing thread (if this CPU has AVX-512) now rather than on
/// first use.
pub fn start() {
    let _ = pool();
}

/// The hashing thread's queue, started on first use; `None` without AVX-512.
fn pool() -> Option<&'static mpsc::Sender<Msg>> {
    static POOL: OnceLock<Option<mpsc::Sender<Msg>>> = OnceLock::new();
    POOL.get_or_init(|| {
        if !simd::available() {
            return None;
        }
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::Builder::new()
            .name("md5x16".into())
            .spawn(move || run(rx))
            .ok()?;
        Some(tx)
    })
    .as_ref()
}

/// One stream as the hashing thread sees it.
struct Stream {
    state: [u32; 4],
    /// Pieces not yet hashed, in order, and how far into the first.
    queue: VecDeque<Bytes>,
    done: usize,
    finish: Option<oneshot::Sender<[u32; 4]>>,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            state: INIT,
            queue: VecDeque::new(),
            done: 0,
            finish: None,
        }
    }
}

impl Stream {
    /// The unhashed rest of the current piece.
    fn current(&self) -> Option<&[u8]> {
        self.queue.front().map(|p| &p[self.done..])
    }

    fn advance(&mut self, bytes: usize) {
        self.done += bytes;
        if self.queue.front().is_some_and(|p| self.done == p.len()) {
            self.queue.pop_front();
            self.done = 0;
        }
    }
}

/// The hashing thread: takes pieces of every stream, advances up to 16
/// streams with work together, hands back finished states.
fn run(rx: mpsc::Receiver<Msg>) {
    let mut streams: HashMap<u64, Stream> = HashMap::new();
    // Streams with queued pieces, in the order they get lanes.
    let mut ready: VecDeque<u64> = VecDeque::new();
    loop {
        // Wait when idle; otherwise take whatever has arrived.
        if ready.is_empty() {
            match rx.recv() {
                Ok(msg) => take(msg, &mut streams, &mut ready),
                Err(_) => return,
            }
        }
        while let Ok(msg) = rx.try_recv() {
            take(msg, &mut streams, &mut ready);
        }
        let ids: Vec<u64> = ready.iter().take(LANES).copied().collect();
        if ids.is_empty() {
            continue;
        }
        let blocks = ids
            .iter()
            .filter_map(|id| streams.get(id)?.current().map(|c| c.len() / BLOCK))
            .min()
            .unwrap_or(0)
            .min(ROUND_BLOCKS);
        if ids.len() < MIN_SIMD_LANES {
            for id in &ids {
                if let Some(s) = streams.get_mut(id)
                    && let Some(cur) = s.queue.front()
                {
                    let from = s.done;
                    compress_bytes(&mut s.state, &cur[from..from + blocks * BLOCK]);
                }
            }
        } else {
            let mut states = [[0u32; 4]; LANES];
            let mut inputs: Vec<&[u8]> = Vec::with_capacity(ids.len());
            for (lane, id) in ids.iter().enumerate() {
                let s = &streams[id];
                states[lane] = s.state;
                inputs.push(&s.current().unwrap_or_default()[..blocks * BLOCK]);
            }
            simd::compress_lanes(&mut states, &inputs, blocks);
            drop(inputs);
            for (lane, id) in ids.iter().enumerate() {
                if let Some(s) = streams.get_mut(id) {
                    s.state = states[lane];
                }
            }
        }
        // Advance; a stream whose queue ran dry leaves the ready list, and
        // is answered if it was finishing. The rest rotate to the back so
        // that more than 16 streams take turns.
        for id in ids {
            let Some(s) = streams.get_mut(&id) else {
                continue;
            };
            s.advance(blocks * BLOCK);
            ready.retain(|r| *r != id);
            if !s.queue.is_empty() {
                ready.push_back(id);
            } else if s.finish.is_some() {
                let s = streams.remove(&id).expect("present");
                let _ = s.finish.expect("checked").send(s.state);
            }
        }
    }
}

/// Files one message.
fn take(msg: Msg, streams: &mut HashMap<u64, Stream>, ready: &mut VecDeque<u64>) {
    let (id, piece) = match msg {
        Msg::Data(id, piece) => (id, piece),
        Msg::Finish(id, piece, reply) => {
            streams.entry(id).or_default().finish = Some(reply);
            (id, piece)
        }
        Msg::Cancel(id) => {
            streams.remove(&id);
            ready.retain(|r| *r != id);
            return;
        }
    };
    let s = streams.entry(id).or_default();
    let was_idle = s.queue.is_empty();
    if !piece.is_empty() {
        s.queue.push_back(piece);
    }
    if was_idle && !s.queue.is_empty() {
        ready.push_back(id);
    } else if s.queue.is_empty() {
        // Finishing with nothing left to hash (cannot happen: the padding
        // is at least one block), answer at once.
        if let Some(reply) = s.finish.take() {
            let state = s.state;
            streams.remove(&id);
            let _ = reply.send(state);
        }
    }
}

/// The 16-lane MD5 compression function (8 lanes at a time on AVX2).
mod simd {
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    use super::{BLOCK, LANES};

    /// One MD5 step: `a = b + rotl(a + f(b, c, d) + m[g] + k, s)`, where `f`
    /// is the round's function as a `vpternlogd` truth table.
    macro_rules! step {
        (512, $f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
            let f = _mm512_ternarylogic_epi32::<$f>($b, $c, $d);
            let t = _mm512_add_epi32(
                _mm512_add_epi32($a, f),
                _mm512_add_epi32($m, _mm512_set1_epi32($k as i32)),
            );
            $a = _mm512_add_epi32($b, _mm512_rol_epi32::<$s>(t));
        };
        (256, $f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
            let f = _mm256_ternarylogic_epi32::<$f>($b, $c, $d);
            let t = _mm256_add_epi32(
                _mm256_add_epi32($a, f),
                _mm256_add_epi32($m, _mm256_set1_epi32($k as i32)),
            );
            $a = _mm256_add_epi32($b, _mm256_rol_epi32::<$s>(t));
        };
        (avx2, $f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
            let f = logic_avx2::<$f>($b, $c, $d);
            let t = _mm256_add_epi32(
                _mm256_add_epi32($a, f),
                _mm256_add_epi32($m, _mm256_set1_epi32($k as i32)),
            );
            let rotated = _mm256_or_si256(
                _mm256_slli_epi32::<$s>(t),
                _mm256_srli_epi32::<{ 32 - $s }>(t),
            );
            $a = _mm256_add_epi32($b, rotated);
        };
    }

    /// A round's function on AVX2, named by the `vpternlogd` truth table
    /// the AVX-512 kernels use for it.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2")]
    fn logic_avx2<const F: i32>(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        match F {
            // F = (b & c) | (!b & d) = d ^ (b & (c ^ d))
            0xCA => _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(c, d), b), d),
            // G = (b & d) | (c & !d) = c ^ (d & (b ^ c))
            0xE4 => _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(b, c), d), c),
            // H = b ^ c ^ d
            0x96 => _mm256_xor_si256(_mm256_xor_si256(b, c), d),
            // I = c ^ (b | !d)
            _ => _mm256_xor_si256(
                c,
                _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))),
            ),
        }
    }

    /// The 64 steps of MD5 (RFC 1321) over the message words `m`.
    macro_rules! md5_rounds {
        ($w:tt, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident) => {
            // F = (b & c) | (!b & d)        -> 0xCA
            step!($w, 0xCA, $a, $b, $c, $d, $m[0], 0xd76aa478u32, 7);
            step!($w, 0xCA, $d, $a, $b, $c, $m[1], 0xe8c7b756u32, 12);
            step!($w, 0xCA, $c, $d, $a, $b, $m[2], 0x242070dbu32, 17);
            step!($w, 0xCA, $b, $c, $d, $a, $m[3], 0xc1bdceeeu32, 22);
            step!($w, 0xCA, $a, $b, $c, $d, $m[4], 0xf57c0fafu32, 7);
            step!($w, 0xCA, $d, $a, $b, $c, $m[5], 0x4787c62au32, 12);
            step!($w, 0xCA, $c, $d, $a, $b, $m[6], 0xa8304613u32, 17);
            step!($w, 0xCA, $b, $c, $d, $a, $m[7], 0xfd469501u32, 22);
            step!($w, 0xCA, $a, $b, $c, $d, $m[8], 0x698098d8u32, 7);
            step!($w, 0xCA, $d, $a, $b, $c, $m[9], 0x8b44f7afu32, 12);
            step!($w, 0xCA, $c, $d, $a, $b, $m[10], 0xffff5bb1u32, 17);
            step!($w, 0xCA, $b, $c, $d, $a, $m[11], 0x895cd7beu32, 22);
            step!($w, 0xCA, $a, $b, $c, $d, $m[12], 0x6b901122u32, 7);
            step!($w, 0xCA, $d, $a, $b, $c, $m[13], 0xfd987193u32, 12);
            step!($w, 0xCA, $c, $d, $a, $b, $m[14], 0xa679438eu32, 17);
            step!($w, 0xCA, $b, $c, $d, $a, $m[15], 0x49b40821u32, 22);
            // G = (b & d) | (c & !d)        -> 0xE4
            step!($w, 0xE4, $a, $b, $c, $d, $m[1], 0xf61e2562u32, 5);
            step!($w, 0xE4, $d, $a, $b, $c, $m[6], 0xc040b340u32, 9);
            step!($w, 0xE4, $c, $d, $a, $b, $m[11], 0x265e5a51u32, 14);
            step!($w, 0xE4, $b, $c, $d, $a, $m[0], 0xe9b6c7aau32, 20);
            step!($w, 0xE4, $a, $b, $c, $d, $m[5], 0xd62f105du32, 5);
            step!($w, 0xE4, $d, $a, $b, $c, $m[10], 0x02441453u32, 9);
            step!($w, 0xE4, $c, $d, $a, $b, $m[15], 0xd8a1e681u32, 14);
            step!($w, 0xE4, $b, $c, $d, $a, $m[4], 0xe7d3fbc8u32, 20);
            step!($w, 0xE4, $a, $b, $c, $d, $m[9], 0x21e1cde6u32, 5);
            step!($w, 0xE4, $d, $a, $b, $c, $m[14], 0xc33707d6u32, 9);
            step!($w, 0xE4, $c, $d, $a, $b, $m[3], 0xf4d50d87u32, 14);
            step!($w, 0xE4, $b, $c, $d, $a, $m[8], 0x455a14edu32, 20);
            step!($w, 0xE4, $a, $b, $c, $d, $m[13], 0xa9e3e905u32, 5);
            step!($w, 0xE4, $d, $a, $b, $c, $m[2], 0xfcefa3f8u32, 9);
            step!($w, 0xE4, $c, $d, $a, $b, $m[7], 0x676f02d9u32, 14);
            step!($w, 0xE4, $b, $c, $d, $a, $m[12], 0x8d2a4c8au32, 20);
            // H = b ^ c ^ d                 -> 0x96
            step!($w, 0x96, $a, $b, $c, $d, $m[5], 0xfffa3942u32, 4);
            step!($w, 0x96, $d, $a, $b, $c, $m[8], 0x8771f681u32, 11);
            step!($w, 0x96, $c, $d, $a, $b, $m[11], 0x6d9d6122u32, 16);
            step!($w, 0x96, $b, $c, $d, $a, $m[14], 0xfde5380cu32, 23);
            step!($w, 0x96, $a, $b, $c, $d, $m[1], 0xa4beea44u32, 4);
            step!($w, 0x96, $d, $a, $b, $c, $m[4], 0x4bdecfa9u32, 11);
            step!($w, 0x96, $c, $d, $a, $b, $m[7], 0xf6bb4b60u32, 16);
            step!($w, 0x96, $b, $c, $d, $a, $m[10], 0xbebfbc70u32, 23);
            step!($w, 0x96, $a, $b, $c, $d, $m[13], 0x289b7ec6u32, 4);
            step!($w, 0x96, $d, $a, $b, $c, $m[0], 0xeaa127fau32, 11);
            step!($w, 0x96, $c, $d, $a, $b, $m[3], 0xd4ef3085u32, 16);
            step!($w, 0x96, $b, $c, $d, $a, $m[6], 0x04881d05u32, 23);
            step!($w, 0x96, $a, $b, $c, $d, $m[9], 0xd9d4d039u32, 4);
            step!($w, 0x96, $d, $a, $b, $c, $m[12], 0xe6db99e5u32, 11);
            step!($w, 0x96, $c, $d, $a, $b, $m[15], 0x1fa27cf8u32, 16);
            step!($w, 0x96, $b, $c, $d, $a, $m[2], 0xc4ac5665u32, 23);
            // I = c ^ (b | !d)              -> 0x39
            step!($w, 0x39, $a, $b, $c, $d, $m[0], 0xf4292244u32, 6);
            step!($w, 0x39, $d, $a, $b, $c, $m[7], 0x432aff97u32, 10);
            step!($w, 0x39, $c, $d, $a, $b, $m[14], 0xab9423a7u32, 15);
            step!($w, 0x39, $b, $c, $d, $a, $m[5], 0xfc93a039u32, 21);
            step!($w, 0x39, $a, $b, $c, $d, $m[12], 0x655b59c3u32, 6);
            step!($w, 0x39, $d, $a, $b, $c, $m[3], 0x8f0ccc92u32, 10);
            step!($w, 0x39, $c, $d, $a, $b, $m[10], 0xffeff47du32, 15);
            step!($w, 0x39, $b, $c, $d, $a, $m[1], 0x85845dd1u32, 21);
            step!($w, 0x39, $a, $b, $c, $d, $m[8], 0x6fa87e4fu32, 6);
            step!($w, 0x39, $d, $a, $b, $c, $m[15], 0xfe2ce6e0u32, 10);
            step!($w, 0x39, $c, $d, $a, $b, $m[6], 0xa3014314u32, 15);
            step!($w, 0x39, $b, $c, $d, $a, $m[13], 0x4e0811a1u32, 21);
            step!($w, 0x39, $a, $b, $c, $d, $m[4], 0xf7537e82u32, 6);
            step!($w, 0x39, $d, $a, $b, $c, $m[11], 0xbd3af235u32, 10);
            step!($w, 0x39, $c, $d, $a, $b, $m[2], 0x2ad7d2bbu32, 15);
            step!($w, 0x39, $b, $c, $d, $a, $m[9], 0xeb86d391u32, 21);
        };
    }

    /// True when this CPU runs the AVX-512 or the AVX2 kernel.
    pub fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                || std::arch::is_x86_feature_detected!("avx2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Advances `states[i]` over the first `blocks` blocks of `inputs[i]`
    /// for every lane `i < inputs.len()`; every input holds at least
    /// `blocks * 64` bytes. Lanes past `inputs.len()` hash a zero block and
    /// are ignored. Falls back to the scalar code without AVX-512 or AVX2.
    pub fn compress_lanes(states: &mut [[u32; 4]; LANES], inputs: &[&[u8]], blocks: usize) {
        assert!(inputs.len() <= LANES);
        assert!(inputs.iter().all(|d| d.len() >= blocks * BLOCK));
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
        {
            compress_lanes_avx2(states, inputs, blocks);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            if inputs.len() <= LANES / 2 && std::arch::is_x86_feature_detected!("avx512vl") {
                // Half the lanes in 256-bit registers: half the cost of a
                // round where 512-bit operations are double-pumped.
                // SAFETY: AVX-512F and VL are present (checked); every lane
                // reads only inside its input (length checked above) or
                // the zero block.
                unsafe { compress_avx512_x8(states, inputs, blocks) };
            } else {
                // SAFETY: AVX-512F is present (checked above); every lane
                // reads only inside its input (length checked above) or
                // the zero block.
                unsafe { compress_avx512(states, inputs, blocks) };
            }
            return;
        }
        for (state, input) in states.iter_mut().zip(inputs) {
            super::compress_bytes(state, &input[..blocks * BLOCK]);
        }
    }

    /// [`compress_lanes`] with the AVX2 kernel, 8 lanes at a time (also
    /// on a CPU with AVX-512, for the tests); the scalar code without AVX2.
    pub(super) fn compress_lanes_avx2(
        states: &mut [[u32; 4]; LANES],
        inputs: &[&[u8]],
        blocks: usize,
    ) {
        assert!(inputs.len() <= LANES);
        assert!(inputs.iter().all(|d| d.len() >= blocks * BLOCK));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            for (states, inputs) in states.chunks_mut(LANES / 2).zip(inputs.chunks(LANES / 2)) {
                // SAFETY: AVX2 is present (checked); every lane reads only
                // inside its input (length checked above) or the zero
                // block; `states` has a state for every input.
                unsafe { compress_avx2_x8(states, inputs, blocks) };
            }
            return;
        }
        for (state, input) in states.iter_mut().zip(inputs) {
            super::compress_bytes(state, &input[..blocks * BLOCK]);
        }
    }

    /// The body of the 8-lane kernels: advances `$states[i]` for the lanes
    /// `i < 8` (lanes past `$inputs.len()` hash the zero block and are
    /// overwritten), with the steps of `$w` (`256`: AVX-512VL, `avx2`).
    /// Expanded inside an `unsafe` block of a function with those features.
    macro_rules! x8_kernel {
        ($w:tt, $states:ident, $inputs:ident, $blocks:ident) => {{
            const N: usize = LANES / 2;
            let mut ptrs = [ZERO_BLOCK.as_ptr(); N];
            let mut steps = [0usize; N];
            for (i, input) in $inputs.iter().enumerate().take(N) {
                ptrs[i] = input.as_ptr();
                steps[i] = BLOCK;
            }
            let mut words = [[0u32; N]; 4];
            for (lane, state) in $states.iter().take(N).enumerate() {
                for (w, v) in state.iter().enumerate() {
                    words[w][lane] = *v;
                }
            }
            let mut a = _mm256_loadu_si256(words[0].as_ptr().cast());
            let mut b = _mm256_loadu_si256(words[1].as_ptr().cast());
            let mut c = _mm256_loadu_si256(words[2].as_ptr().cast());
            let mut d = _mm256_loadu_si256(words[3].as_ptr().cast());
            for _ in 0..$blocks {
                let mut lo = [_mm256_setzero_si256(); N];
                let mut hi = [_mm256_setzero_si256(); N];
                for i in 0..N {
                    lo[i] = _mm256_loadu_si256(ptrs[i].cast());
                    hi[i] = _mm256_loadu_si256(ptrs[i].add(32).cast());
                    ptrs[i] = ptrs[i].add(steps[i]);
                }
                let (w0, w1) = (transpose8(&lo), transpose8(&hi));
                let m = [
                    w0[0], w0[1], w0[2], w0[3], w0[4], w0[5], w0[6], w0[7], w1[0], w1[1], w1[2],
                    w1[3], w1[4], w1[5], w1[6], w1[7],
                ];
                let (aa, bb, cc, dd) = (a, b, c, d);
                md5_rounds!($w, a, b, c, d, m);
                a = _mm256_add_epi32(a, aa);
                b = _mm256_add_epi32(b, bb);
                c = _mm256_add_epi32(c, cc);
                d = _mm256_add_epi32(d, dd);
            }
            _mm256_storeu_si256(words[0].as_mut_ptr().cast(), a);
            _mm256_storeu_si256(words[1].as_mut_ptr().cast(), b);
            _mm256_storeu_si256(words[2].as_mut_ptr().cast(), c);
            _mm256_storeu_si256(words[3].as_mut_ptr().cast(), d);
            for (lane, state) in $states.iter_mut().take(N).enumerate() {
                for (w, v) in state.iter_mut().enumerate() {
                    *v = words[w][lane];
                }
            }
        }};
    }

    /// The AVX2 kernel: advances `states[i]` for the lanes `i < 8`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn compress_avx2_x8(states: &mut [[u32; 4]], inputs: &[&[u8]], blocks: usize) {
        // SAFETY: the caller checked AVX2; loads and stores are of local
        // arrays of the right size; lane i reads 64-byte blocks inside its
        // input (at most `blocks` of them) or the zero block.
        unsafe { x8_kernel!(avx2, states, inputs, blocks) }
    }

    /// A block of zeros for the idle lanes to read.
    static ZERO_BLOCK: [u8; BLOCK] = [0; BLOCK];

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn compress_avx512(states: &mut [[u32; 4]; LANES], inputs: &[&[u8]], blocks: usize) {
        // SAFETY: the caller checked AVX-512F; loads and stores are of
        // local arrays of the right size; lane i reads 64-byte blocks inside
        // its input (at most `blocks` of them) or the zero block.
        unsafe {
            let mut ptrs = [ZERO_BLOCK.as_ptr(); LANES];
            let mut steps = [0usize; LANES];
            for (i, input) in inputs.iter().enumerate() {
                ptrs[i] = input.as_ptr();
                steps[i] = BLOCK;
            }

            // Transpose the states: a[i] is word 0 of lane i, and so on.
            let mut words = [[0u32; LANES]; 4];
            for (lane, state) in states.iter().enumerate() {
                for (w, v) in state.iter().enumerate() {
                    words[w][lane] = *v;
                }
            }
            let mut a = _mm512_loadu_si512(words[0].as_ptr().cast());
            let mut b = _mm512_loadu_si512(words[1].as_ptr().cast());
            let mut c = _mm512_loadu_si512(words[2].as_ptr().cast());
            let mut d = _mm512_loadu_si512(words[3].as_ptr().cast());

            for _ in 0..blocks {
                let mut rows = [_mm512_setzero_si512(); LANES];
                for (row, ptr) in rows.iter_mut().zip(&mut ptrs) {
                    *row = _mm512_loadu_si512(ptr.cast());
                }
                for (ptr, step) in ptrs.iter_mut().zip(steps) {
                    *ptr = ptr.add(step);
                }
                let m = transpose(&rows);
                let (aa, bb, cc, dd) = (a, b, c, d);
                md5_rounds!(512, a, b, c, d, m);
                a = _mm512_add_epi32(a, aa);
                b = _mm512_add_epi32(b, bb);
                c = _mm512_add_epi32(c, cc);
                d = _mm512_add_epi32(d, dd);
            }

            _mm512_storeu_si512(words[0].as_mut_ptr().cast(), a);
            _mm512_storeu_si512(words[1].as_mut_ptr().cast(), b);
            _mm512_storeu_si512(words[2].as_mut_ptr().cast(), c);
            _mm512_storeu_si512(words[3].as_mut_ptr().cast(), d);
            for (lane, state) in states.iter_mut().enumerate() {
                for (w, v) in state.iter_mut().enumerate() {
                    *v = words[w][lane];
                }
            }
        }
    }

    /// The 8-lane kernel: lanes `0..inputs.len()` (at most 8) of `states`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl")]
    unsafe fn compress_avx512_x8(states: &mut [[u32; 4]; LANES], inputs: &[&[u8]], blocks: usize) {
        // SAFETY: the caller checked AVX-512F and VL; loads and stores are
        // of local arrays of the right size; lane i reads 64-byte blocks
        // inside its input (at most `blocks` of them) or the zero block.
        unsafe { x8_kernel!(256, states, inputs, blocks) }
    }

    /// Transposes 8 rows of 8 words (row `i`: 8 words of lane `i`; result
    /// `j`: word `j` of every lane): 32-bit and 64-bit interleaves within
    /// 128-bit halves, then the halves swapped across registers.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn transpose8(r: &[__m256i; 8]) -> [__m256i; 8] {
        let t: [__m256i; 8] = [
            _mm256_unpacklo_epi32(r[0], r[1]),
            _mm256_unpackhi_epi32(r[0], r[1]),
            _mm256_unpacklo_epi32(r[2], r[3]),
            _mm256_unpackhi_epi32(r[2], r[3]),
            _mm256_unpacklo_epi32(r[4], r[5]),
            _mm256_unpackhi_epi32(r[4], r[5]),
            _mm256_unpacklo_epi32(r[6], r[7]),
            _mm256_unpackhi_epi32(r[6], r[7]),
        ];
        // u[j] (j < 4) holds word j of lanes 0..4 in its low half and word
        // j + 4 in its high half; u[4 + j] the same for lanes 4..8.
        let u: [__m256i; 8] = [
            _mm256_unpacklo_epi64(t[0], t[2]),
            _mm256_unpackhi_epi64(t[0], t[2]),
            _mm256_unpacklo_epi64(t[1], t[3]),
            _mm256_unpackhi_epi64(t[1], t[3]),
            _mm256_unpacklo_epi64(t[4], t[6]),
            _mm256_unpackhi_epi64(t[4], t[6]),
            _mm256_unpacklo_epi64(t[5], t[7]),
            _mm256_unpackhi_epi64(t[5], t[7]),
        ];
        [
            _mm256_permute2x128_si256::<0x20>(u[0], u[4]),
            _mm256_permute2x128_si256::<0x20>(u[1], u[5]),
            _mm256_permute2x128_si256::<0x20>(u[2], u[6]),
            _mm256_permute2x128_si256::<0x20>(u[3], u[7]),
            _mm256_permute2x128_si256::<0x31>(u[0], u[4]),
            _mm256_permute2x128_si256::<0x31>(u[1], u[5]),
            _mm256_permute2x128_si256::<0x31>(u[2], u[6]),
            _mm256_permute2x128_si256::<0x31>(u[3], u[7]),
        ]
    }

    /// Transposes 16 rows of 16 words: row `i` is lane `i`'s block, result
    /// `j` is word `j` of every lane. Three stages of shuffles: 32-bit and
    /// 64-bit interleaves within 128-bit quads, then a 4×4 transpose of
    /// quads (`u[4g + j]` holds, in quad `q`, word `4q + j` of lanes
    /// `4g..4g + 4`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn transpose(r: &[__m512i; LANES]) -> [__m512i; 16] {
        let mut t = [_mm512_setzero_si512(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_si512(); 16];
        for g in 0..4 {
            let (t0, t1, t2, t3) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            u[4 * g] = _mm512_unpacklo_epi64(t0, t2);
            u[4 * g + 1] = _mm512_unpackhi_epi64(t0, t2);
            u[4 * g + 2] = _mm512_unpacklo_epi64(t1, t3);
            u[4 * g + 3] = _mm512_unpackhi_epi64(t1, t3);
        }
        let mut w = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            let (a, b, c, d) = (u[j], u[4 + j], u[8 + j], u[12 + j]);
            let x0 = _mm512_shuffle_i32x4::<0x44>(a, b);
            let x1 = _mm512_shuffle_i32x4::<0xEE>(a, b);
            let y0 = _mm512_shuffle_i32x4::<0x44>(c, d);
            let y1 = _mm512_shuffle_i32x4::<0xEE>(c, d);
            w[j] = _mm512_shuffle_i32x4::<0x88>(x0, y0);
            w[4 + j] = _mm512_shuffle_i32x4::<0xDD>(x0, y0);
            w[8 + j] = _mm512_shuffle_i32x4::<0x88>(x1, y1);
            w[12 + j] = _mm512_shuffle_i32x4::<0xDD>(x1, y1);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(data: &[u8]) -> [u8; 16] {
        md5::Md5::digest(data).into()
    }

    fn body(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect()
    }

    #[test]
    fn lanes_match_the_scalar_code_for_every_lane_count() {
        for lanes in 1..=LANES {
            for blocks in [1usize, 2, 7] {
                let inputs: Vec<Vec<u8>> = (0..lanes)
                    .map(|i| body(blocks * BLOCK + i * 3, i as u8))
                    .collect();
                let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
                let mut states = [INIT; LANES];
                for (i, s) in states.iter_mut().enumerate().take(lanes) {
                    s[0] ^= i as u32;
                }
                let mut expected = states;
                for (s, input) in expected.iter_mut().zip(&refs) {
                    compress_bytes(s, &input[..blocks * BLOCK]);
                }
                simd::compress_lanes(&mut states, &refs, blocks);
                assert_eq!(states[..lanes], expected[..lanes], "{lanes} lanes");
            }
        }
    }

    #[test]
    fn avx2_lanes_match_the_scalar_code_for_every_lane_count() {
        for lanes in 1..=LANES {
            let inputs: Vec<Vec<u8>> = (0..lanes)
                .map(|i| body(3 * BLOCK + i * 5, 7 + i as u8))
                .collect();
            let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
            let mut states = [INIT; LANES];
            for (i, s) in states.iter_mut().enumerate().take(lanes) {
                s[1] ^= (i as u32) << 3;
            }
            let mut expected = states;
            for (s, input) in expected.iter_mut().zip(&refs) {
                compress_bytes(s, &input[..3 * BLOCK]);
            }
            simd::compress_lanes_avx2(&mut states, &refs, 3);
            assert_eq!(states[..lanes], expected[..lanes], "{lanes} lanes");
        }
    }

    #[tokio::test]
    async fn known_answers() {
        // RFC 1321, appendix A.5.
        let cases: [(&[u8], &str); 4] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, hex) in cases {
            let mut s = Md5Stream::new();
            s.update(Bytes::from_static(input)).await;
            assert_eq!(hex::encode(s.finalize().await), hex);
        }
    }

    #[tokio::test]
    async fn a_stream_dropped_unfinished_disturbs_no_other() {
        let data = Bytes::from(body(300_000, 9));
        let mut kept = Md5Stream::new();
        kept.update(data.slice(..100_000)).await;
        for _ in 0..20 {
            let mut dropped = Md5Stream::new();
            dropped.update(data.slice(..123_457)).await;
        }
        kept.update(data.slice(100_000..)).await;
        assert_eq!(kept.finalize().await, reference(&data));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_streams_match_the_reference() {
        let tasks: Vec<_> = (0..40usize)
            .map(|i| {
                tokio::spawn(async move {
                    let data = Bytes::from(body(100_000 + i * 40_099, i as u8));
                    let mut s = Md5Stream::new();
                    // Uneven pieces: partial blocks, short and long runs.
                    let mut rest = data.clone();
                    let mut n = 1 + i * 7;
                    while !rest.is_empty() {
                        let take = n.min(rest.len());
                        s.update(rest.split_to(take)).await;
                        n = n * 3 % 70_001 + 1;
                    }
                    assert_eq!(s.finalize().await, reference(&data), "stream {i}");
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_split_of_any_body_matches(
            data in proptest::collection::vec(any::<u8>(), 0..200_000),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let got = rt.block_on(async {
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
                cuts.sort_unstable();
                let whole = Bytes::from(data.clone());
                let mut s = Md5Stream::new();
                let mut at = 0;
                for c in cuts.into_iter().chain([data.len()]) {
                    s.update(whole.slice(at..c)).await;
                    at = c;
                }
                s.finalize().await
            });
            prop_assert_eq!(got, reference(&data));
        }
    }
}
