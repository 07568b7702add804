//! Server-side encryption on the data path: which key an object version's
//! bytes are sealed under, and reading them back as plaintext.
//!
//! An encrypted version has the system header [`SSE_HEADER`]; its value
//! names the kind and holds the version's object key, sealed:
//!
//! - `AES256 <sealed>` (SSE-S3): the object key sealed under the gateways'
//!   master key (`shale_common::sealing`, [`KeyKind::Master`]), bound to
//!   [`SSE_S3_CONTEXT`].
//! - `SSE-C <sealed>` (SSE-C): the object key sealed under the client's own
//!   key ([`KeyKind::Customer`]), which is never stored: a read must bring it
//!   again, and the sealed form's key id tells a wrong one.
//!
//! The bytes themselves are sealed blocks (`shale_common::sse`): a part of
//! `n` plaintext bytes is stored as `stored_len(n)` bytes, so segments and
//! chunks hold ciphertext only, and storage nodes, the scrubber and the
//! healer never see a key. A version's `ObjectRow.size` and its parts'
//! `PartLayout.size` stay plaintext sizes (what S3 reports); reads map a
//! plaintext range to the stored blocks that hold it ([`ReadPlan`]).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use shale_common::PartLayout;
use shale_common::sealing::{KeyKind, SealingKey, SealingKeys};
use shale_common::sse::{BlockOpener, ObjectKey, ReadPlan, stored_len};

use crate::{DataPath, Error, Result};

/// The system header an encrypted version's key is kept in (never
/// answered as a header: GET answers system headers by name).
pub const SSE_HEADER: &str = "x-shale-sse";

/// What an SSE-S3 object key is sealed bound to.
pub const SSE_S3_CONTEXT: &str = "shale sse-s3 object key v1";

/// What an SSE-C object key is sealed bound to.
pub const SSE_C_CONTEXT: &str = "shale sse-c object key v1";

/// S3's name of SSE-S3, and the kind's word in [`SSE_HEADER`].
pub const AES256: &str = "AES256";

/// The kind's word of SSE-C in [`SSE_HEADER`].
pub const SSE_C: &str = "SSE-C";

/// How one version's bytes are encrypted, from its [`SSE_HEADER`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sse {
    /// SSE-S3: the object key sealed under the master key.
    S3 {
        /// The sealed object key.
        sealed: String,
    },
    /// SSE-C: the object key sealed under the client's key.
    Customer {
        /// The sealed object key.
        sealed: String,
    },
}

impl Sse {
    /// The kind of encryption of a version with `system_headers`; `None`:
    /// stored in the clear.
    pub fn of(system_headers: &[(String, String)]) -> Result<Option<Sse>> {
        let Some((_, value)) = system_headers.iter().find(|(n, _)| n == SSE_HEADER) else {
            return Ok(None);
        };
        let mut words = value.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some(AES256), Some(sealed), None) => Ok(Some(Sse::S3 {
                sealed: sealed.to_owned(),
            })),
            (Some(SSE_C), Some(sealed), None) => Ok(Some(Sse::Customer {
                sealed: sealed.to_owned(),
            })),
            _ => Err(Error::Internal(format!(
                "unreadable {SSE_HEADER} header: {:.40}",
                value
            ))),
        }
    }

    /// The header's value.
    pub fn header_value(&self) -> String {
        match self {
            Sse::S3 { sealed } => format!("{AES256} {sealed}"),
            Sse::Customer { sealed } => format!("{SSE_C} {sealed}"),
        }
    }

    /// S3's name of the algorithm (`x-amz-server-side-encryption` for
    /// SSE-S3, `…-customer-algorithm` for SSE-C: both AES256).
    pub fn algorithm(&self) -> &'static str {
        match self {
            Sse::S3 { .. } | Sse::Customer { .. } => AES256,
        }
    }

    /// Whether the client holds the key (SSE-C).
    pub fn is_customer(&self) -> bool {
        matches!(self, Sse::Customer { .. })
    }
}

/// The keys a data path seals object keys under and opens them with.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    master: Option<SealingKeys>,
}

impl Keys {
    /// The master keys `master` (none: SSE-S3 is refused).
    pub fn new(master: Option<SealingKeys>) -> Keys {
        if let Some(m) = &master {
            assert_eq!(m.kind(), KeyKind::Master, "a master key file");
        }
        Keys { master }
    }

    /// Whether SSE-S3 can be used (a master key is configured).
    pub fn has_master(&self) -> bool {
        self.master.is_some()
    }

    /// The master keys, if any.
    pub fn master(&self) -> Option<&SealingKeys> {
        self.master.as_ref()
    }

    /// A fresh object key for an SSE-S3 write, and how it is kept.
    pub fn new_s3(&self) -> Result<(ObjectKey, Sse)> {
        let master = self.master.as_ref().ok_or(Error::NoMasterKey)?;
        let key = ObjectKey::generate();
        let sealed = master.seal_bytes(key.as_bytes(), SSE_S3_CONTEXT);
        Ok((key, Sse::S3 { sealed }))
    }

    /// A fresh object key for an SSE-C write under the client's `key`.
    pub fn new_customer(key: &[u8; 32]) -> (ObjectKey, Sse) {
        let object_key = ObjectKey::generate();
        let sealed = customer_keys(key).seal_bytes(object_key.as_bytes(), SSE_C_CONTEXT);
        (object_key, Sse::Customer { sealed })
    }

    /// The object key of an SSE-C version, opened with the client's `key`
    /// (`None`: the request brought none).
    pub fn open_customer(sse: &Sse, key: Option<&[u8; 32]>) -> Result<ObjectKey> {
        let Sse::Customer { sealed } = sse else {
            return Err(Error::Internal("not an SSE-C version".into()));
        };
        let key = key.ok_or(Error::CustomerKeyNeeded)?;
        let keys = customer_keys(key);
        if SealingKeys::sealed_by(sealed) != Some(keys.keys()[0].id()) {
            return Err(Error::WrongCustomerKey);
        }
        let bytes = keys
            .open_bytes(sealed, SSE_C_CONTEXT)
            .map_err(|_| Error::WrongCustomerKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| Error::WrongCustomerKey)?;
        Ok(ObjectKey::from_bytes(bytes))
    }

    /// The object key of a version encrypted as `sse` (SSE-S3: under the
    /// master key; SSE-C needs [`Keys::open_customer`]).
    pub fn open(&self, sse: &Sse) -> Result<ObjectKey> {
        match sse {
            Sse::Customer { .. } => Err(Error::CustomerKeyNeeded),
            Sse::S3 { sealed } => {
                let master = self.master.as_ref().ok_or_else(|| {
                    Error::KeyUnavailable("an SSE-S3 object, and no master key".into())
                })?;
                let bytes = master
                    .open_bytes(sealed, SSE_S3_CONTEXT)
                    .map_err(|e| Error::KeyUnavailable(e.to_string()))?;
                let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                    Error::KeyUnavailable("a sealed object key of the wrong size".into())
                })?;
                Ok(ObjectKey::from_bytes(bytes))
            }
        }
    }
}

/// A client's SSE-C key as the sealing keys it seals with.
fn customer_keys(key: &[u8; 32]) -> SealingKeys {
    SealingKeys::one(SealingKey::from_bytes(*key, KeyKind::Customer))
}

/// A plaintext body stream, as GET sends it.
pub type PlainStream =
    std::pin::Pin<Box<dyn Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send + Sync>>;

impl DataPath {
    /// Bytes `[start, end)` of the plaintext of `parts`, encrypted under
    /// `key` (`None`: stored in the clear). Each block is checked before
    /// any of its bytes go out: a tampered, moved or truncated block ends
    /// the stream with an error, never with wrong bytes.
    pub async fn read_plain(
        self: &Arc<Self>,
        parts: &[PartLayout],
        key: Option<Arc<ObjectKey>>,
        start: u64,
        end: u64,
    ) -> Result<PlainStream> {
        let Some(key) = key else {
            return Ok(Box::pin(self.read_range(parts, start, end).await?));
        };
        if end <= start {
            return Ok(Box::pin(futures::stream::empty()));
        }
        // The stored span of every part the range touches: contiguous,
        // since a range that goes on past a part reads it to its end.
        let mut openers = VecDeque::new();
        let (mut plain_at, mut stored_at) = (0u64, 0u64);
        let (mut lo, mut hi) = (None, 0u64);
        for part in parts {
            let (p_lo, p_hi) = (plain_at, plain_at + part.size);
            let stored = stored_len(part.size);
            if p_hi > start && p_lo < end {
                let plan = ReadPlan::new(part.size, start.max(p_lo) - p_lo, end.min(p_hi) - p_lo);
                lo.get_or_insert(stored_at + plan.stored_start);
                hi = stored_at + plan.stored_end;
                openers.push_back(BlockOpener::new(&key, part.number, part.size, &plan));
            }
            plain_at = p_hi;
            stored_at += stored;
        }
        let Some(lo) = lo else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let stored = self.read_range(parts, lo, hi).await?;
        Ok(Box::pin(Decrypting {
            stored: Box::pin(stored),
            openers,
            out: VecDeque::new(),
            failed: false,
        }))
    }

    /// Opens an inline (small) version's bytes, sealed as part 1.
    pub fn open_inline(stored: &[u8], plain_len: u64, key: &ObjectKey) -> Result<Vec<u8>> {
        shale_common::sse::open_all(key, 1, plain_len, stored)
            .map_err(|e| Error::Unrecoverable(format!("encrypted object: {e}")))
    }
}

/// The plaintext of a stored span that covers one or more parts' plans,
/// opened block by block as the bytes come in.
struct Decrypting {
    stored: std::pin::Pin<
        Box<dyn Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send + Sync>,
    >,
    openers: VecDeque<BlockOpener>,
    out: VecDeque<Bytes>,
    failed: bool,
}

impl Decrypting {
    /// Feeds `piece` to the openers in turn (a piece may end one part's
    /// span and start the next's).
    fn feed(&mut self, mut piece: Bytes) -> std::result::Result<(), std::io::Error> {
        let mut out = Vec::new();
        while !piece.is_empty() {
            let Some(opener) = self.openers.front_mut() else {
                return Err(std::io::Error::other(
                    "encrypted object: more bytes than its blocks",
                ));
            };
            // A piece for one part is handed over whole (not cloned nor
            // split), so its blocks can be opened where they lie.
            let wanted = usize::try_from(opener.remaining()).unwrap_or(usize::MAX);
            let rest = if piece.len() > wanted {
                piece.split_off(wanted)
            } else {
                Bytes::new()
            };
            let given = piece.len();
            let used = opener
                .push(piece, &mut out)
                .map_err(|e| std::io::Error::other(format!("encrypted object: {e}")))?;
            if used != given {
                return Err(std::io::Error::other(
                    "encrypted object: a block opener left bytes",
                ));
            }
            if opener.is_done() {
                self.openers.pop_front();
            } else if used == 0 {
                return Err(std::io::Error::other(
                    "encrypted object: a block opener took no bytes",
                ));
            }
            piece = rest;
        }
        self.out.extend(out.into_iter().filter(|b| !b.is_empty()));
        Ok(())
    }
}

impl Stream for Decrypting {
    type Item = std::result::Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        loop {
            if let Some(b) = self.out.pop_front() {
                return Poll::Ready(Some(Ok(b)));
            }
            if self.failed {
                return Poll::Ready(None);
            }
            match std::task::ready!(self.stored.poll_next_unpin(cx)) {
                Some(Ok(piece)) => {
                    if let Err(e) = self.feed(piece) {
                        self.failed = true;
                        tracing::warn!(error = %e, "encrypted read refused");
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Some(Err(e)) => {
                    self.failed = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    self.failed = true;
                    // Every plan must have been read whole.
                    let short = self.openers.iter().find_map(|o| o.finish().err());
                    if let Some(e) = short {
                        return Poll::Ready(Some(Err(std::io::Error::other(format!(
                            "encrypted object: {e}"
                        )))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}
