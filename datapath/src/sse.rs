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
//! - `aws:kms <key id> <sealed>` (SSE-KMS): the object key sealed under the
//!   newest version of a key of the built-in key service ([`KmsKeys`]);
//!   the sealed form's key id names the version, so a rotated key still
//!   opens what its older versions sealed.
//!
//! The bytes themselves are sealed blocks (`shale_common::sse`): a part of
//! `n` plaintext bytes is stored as `stored_len(n)` bytes, so segments and
//! chunks hold ciphertext only, and storage nodes, the scrubber and the
//! healer never see a key. A version's `ObjectRow.size` and its parts'
//! `PartLayout.size` stay plaintext sizes (what S3 reports); reads map a
//! plaintext range to the stored blocks that hold it ([`ReadPlan`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use shale_common::PartLayout;
use shale_common::sealing::{KeyKind, SealingKey, SealingKeys};
use shale_common::sse::{BlockOpener, ObjectKey, ReadPlan, stored_len};

use crate::{DataPath, Error, Result};

/// The system header an encrypted version's key is kept in (never
/// answered as a header: GET answers system headers by name).
pub use shale_metadata::SSE_HEADER;

/// What an SSE-S3 object key is sealed bound to.
pub const SSE_S3_CONTEXT: &str = "shale sse-s3 object key v1";

/// What an SSE-C object key is sealed bound to.
pub const SSE_C_CONTEXT: &str = "shale sse-c object key v1";

/// What an SSE-KMS object key is sealed bound to.
pub const SSE_KMS_CONTEXT: &str = "shale sse-kms object key v1";

/// S3's name of SSE-KMS, and the kind's word in [`SSE_HEADER`].
pub const AWS_KMS: &str = "aws:kms";

/// The id of the key SSE-KMS uses when a write names none (AWS's
/// `aws/s3`), made the first time it is needed.
pub const DEFAULT_KMS_KEY: &str = "default";

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
    /// SSE-KMS: the object key sealed under a KMS key.
    Kms {
        /// The KMS key's id.
        key_id: String,
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
        match (words.next(), words.next(), words.next(), words.next()) {
            (a, b, c, None) => Sse::parse_words(a, b, c, value),
            _ => Err(Error::Internal(format!(
                "unreadable {SSE_HEADER} header: {:.40}",
                value
            ))),
        }
    }

    fn parse_words(
        a: Option<&str>,
        b: Option<&str>,
        c: Option<&str>,
        value: &str,
    ) -> Result<Option<Sse>> {
        match (a, b, c) {
            (Some(AES256), Some(sealed), None) => Ok(Some(Sse::S3 {
                sealed: sealed.to_owned(),
            })),
            (Some(SSE_C), Some(sealed), None) => Ok(Some(Sse::Customer {
                sealed: sealed.to_owned(),
            })),
            (Some(AWS_KMS), Some(key_id), Some(sealed)) => Ok(Some(Sse::Kms {
                key_id: key_id.to_owned(),
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
            Sse::Kms { key_id, sealed } => format!("{AWS_KMS} {key_id} {sealed}"),
        }
    }

    /// S3's name of the algorithm (`x-amz-server-side-encryption` for
    /// SSE-S3, `…-customer-algorithm` for SSE-C: both AES256).
    pub fn algorithm(&self) -> &'static str {
        match self {
            Sse::S3 { .. } | Sse::Customer { .. } => AES256,
            Sse::Kms { .. } => AWS_KMS,
        }
    }

    /// The KMS key's id (SSE-KMS).
    pub fn kms_key_id(&self) -> Option<&str> {
        match self {
            Sse::Kms { key_id, .. } => Some(key_id),
            _ => None,
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
            Sse::Kms { .. } => Err(Error::Internal(
                "an SSE-KMS key opens through KmsKeys".into(),
            )),
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

/// What a KMS key's material is sealed bound to (with its id).
pub fn kms_material_context(id: &str) -> String {
    format!("shale kms key material v1:{id}")
}

/// One KMS key as a gateway uses it: its versions' material opened with
/// the master key (newest first: it seals).
struct KmsEntry {
    enabled: bool,
    keys: SealingKeys,
}

/// KMS keys by id, as last read.
type KmsMap = Arc<HashMap<String, KmsEntry>>;

/// The built-in key service's keys as a gateway knows them: read from the
/// metadata service at most every [`KMS_TTL`] (and at once after this
/// gateway changed one), their material opened with the master key.
#[derive(Default)]
pub struct KmsKeys {
    cache: std::sync::Mutex<Option<(std::time::Instant, KmsMap)>>,
}

/// How long a gateway believes what it read of the KMS keys: a disabled
/// key stops opening within this on every gateway.
pub const KMS_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl std::fmt::Debug for KmsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KmsKeys")
    }
}

impl DataPath {
    /// Forgets what is known of the KMS keys (after a change made here).
    pub fn forget_kms_keys(&self) {
        *self.kms().cache.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    async fn kms_entries(&self) -> Result<KmsMap> {
        if let Some((at, map)) = &*self.kms().cache.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < KMS_TTL
        {
            return Ok(Arc::clone(map));
        }
        let keys = self.meta_client().list_kms_keys().await?;
        let master = self.sse_keys().master();
        let mut map = HashMap::new();
        for k in keys {
            let Some(master) = master else {
                break;
            };
            let mut versions = Vec::new();
            for v in k.versions.iter().rev() {
                let bytes = master
                    .open_bytes(&v.material, &kms_material_context(&k.id))
                    .map_err(|e| Error::KeyUnavailable(format!("KMS key {}: {e}", k.id)))?;
                let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                    Error::KeyUnavailable(format!("KMS key {}: bad material", k.id))
                })?;
                versions.push(SealingKey::from_bytes(bytes, KeyKind::Kms));
            }
            let Some(first) = versions.first().cloned() else {
                continue;
            };
            let mut keys = SealingKeys::one(first);
            for v in versions.into_iter().skip(1) {
                keys = keys.with_added(v);
            }
            map.insert(
                k.id.clone(),
                KmsEntry {
                    enabled: k.enabled,
                    keys,
                },
            );
        }
        let map = Arc::new(map);
        *self.kms().cache.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), Arc::clone(&map)));
        Ok(map)
    }

    /// A fresh object key for an SSE-KMS write under KMS key `key_id` (an
    /// id; `None`: the default key, made the first time).
    pub async fn new_kms(&self, key_id: Option<&str>) -> Result<(ObjectKey, Sse)> {
        if !self.sse_keys().has_master() {
            return Err(Error::NoMasterKey);
        }
        let id = key_id.unwrap_or(DEFAULT_KMS_KEY);
        let mut entries = self.kms_entries().await?;
        if !entries.contains_key(id) && key_id.is_none() {
            self.create_kms_key(DEFAULT_KMS_KEY, "the default key of SSE-KMS (aws/s3)")
                .await
                .or_else(|e| match e {
                    // Made meanwhile by another request.
                    Error::Meta(shale_metadata::MetaError::InvalidRequest(_)) => Ok(()),
                    e => Err(e),
                })?;
            self.forget_kms_keys();
            entries = self.kms_entries().await?;
        }
        let entry = entries
            .get(id)
            .ok_or_else(|| Error::KmsNotFound(id.to_owned()))?;
        if !entry.enabled {
            return Err(Error::KmsDisabled(id.to_owned()));
        }
        let key = ObjectKey::generate();
        let sealed = entry.keys.seal_bytes(key.as_bytes(), SSE_KMS_CONTEXT);
        Ok((
            key,
            Sse::Kms {
                key_id: id.to_owned(),
                sealed,
            },
        ))
    }

    /// The object key of an SSE-KMS version (its KMS key must exist and be
    /// enabled).
    pub async fn open_kms(&self, sse: &Sse) -> Result<ObjectKey> {
        let Sse::Kms { key_id, sealed } = sse else {
            return Err(Error::Internal("not an SSE-KMS version".into()));
        };
        let entries = self.kms_entries().await?;
        let entry = entries
            .get(key_id)
            .ok_or_else(|| Error::KmsNotFound(key_id.clone()))?;
        if !entry.enabled {
            return Err(Error::KmsDisabled(key_id.clone()));
        }
        let bytes = entry
            .keys
            .open_bytes(sealed, SSE_KMS_CONTEXT)
            .map_err(|e| Error::KeyUnavailable(format!("KMS key {key_id}: {e}")))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::KeyUnavailable("a sealed object key of the wrong size".into()))?;
        Ok(ObjectKey::from_bytes(bytes))
    }

    /// The object key of a version encrypted as `sse` (any kind; SSE-C
    /// with the client's `customer` key).
    pub async fn object_key(&self, sse: &Sse, customer: Option<&[u8; 32]>) -> Result<ObjectKey> {
        match sse {
            Sse::Kms { .. } => self.open_kms(sse).await,
            Sse::Customer { .. } => Keys::open_customer(sse, customer),
            Sse::S3 { .. } => self.sse_keys().open(sse),
        }
    }

    /// `sse` with its object key sealed again under the newest key of its
    /// kind (the master key's first, or its KMS key's newest version);
    /// `None` when it already is (or is SSE-C: the client's key).
    pub async fn reseal(&self, sse: &Sse) -> Result<Option<Sse>> {
        match sse {
            Sse::Customer { .. } => Ok(None),
            Sse::S3 { sealed } => {
                let master = self.sse_keys().master().ok_or(Error::NoMasterKey)?;
                if SealingKeys::sealed_by(sealed) == Some(master.keys()[0].id()) {
                    return Ok(None);
                }
                let mut bytes = master
                    .open_bytes(sealed, SSE_S3_CONTEXT)
                    .map_err(|e| Error::KeyUnavailable(e.to_string()))?;
                let sealed = master.seal_bytes(&bytes, SSE_S3_CONTEXT);
                zeroize::Zeroize::zeroize(&mut bytes);
                Ok(Some(Sse::S3 { sealed }))
            }
            Sse::Kms { key_id, sealed } => {
                let entries = self.kms_entries().await?;
                let entry = entries
                    .get(key_id)
                    .ok_or_else(|| Error::KmsNotFound(key_id.clone()))?;
                if SealingKeys::sealed_by(sealed) == Some(entry.keys.keys()[0].id()) {
                    return Ok(None);
                }
                if !entry.enabled {
                    return Err(Error::KmsDisabled(key_id.clone()));
                }
                let mut bytes = entry
                    .keys
                    .open_bytes(sealed, SSE_KMS_CONTEXT)
                    .map_err(|e| Error::KeyUnavailable(format!("KMS key {key_id}: {e}")))?;
                let sealed = entry.keys.seal_bytes(&bytes, SSE_KMS_CONTEXT);
                zeroize::Zeroize::zeroize(&mut bytes);
                Ok(Some(Sse::Kms {
                    key_id: key_id.clone(),
                    sealed,
                }))
            }
        }
    }

    /// Seals the KMS keys' material again under the master key's first key
    /// where an older one sealed it; the versions sealed again.
    pub async fn reseal_kms_material(&self) -> Result<u64> {
        let master = self.sse_keys().master().ok_or(Error::NoMasterKey)?;
        let current = master.keys()[0].id().to_owned();
        let mut count = 0;
        for mut key in self.meta_client().list_kms_keys().await? {
            let context = kms_material_context(&key.id);
            let mut changed = false;
            for v in &mut key.versions {
                if SealingKeys::sealed_by(&v.material) == Some(current.as_str()) {
                    continue;
                }
                let mut bytes = master
                    .open_bytes(&v.material, &context)
                    .map_err(|e| Error::KeyUnavailable(format!("KMS key {}: {e}", key.id)))?;
                v.material = master.seal_bytes(&bytes, &context);
                zeroize::Zeroize::zeroize(&mut bytes);
                changed = true;
                count += 1;
            }
            if changed {
                self.meta_client().put_kms_key(key, false).await?;
            }
        }
        if count > 0 {
            self.forget_kms_keys();
        }
        Ok(count)
    }

    /// Makes KMS key `id` with one version of fresh material, sealed under
    /// the master key.
    pub async fn create_kms_key(&self, id: &str, description: &str) -> Result<()> {
        let key = shale_metadata::KmsKey {
            id: id.to_owned(),
            description: description.to_owned(),
            created_ms: crate::datapath::unix_ms() as i64,
            enabled: true,
            versions: vec![self.new_kms_version(id)?],
        };
        self.meta_client().put_kms_key(key, true).await?;
        self.forget_kms_keys();
        Ok(())
    }

    /// A new version of KMS key `id`: fresh material sealed under the
    /// master key.
    pub fn new_kms_version(&self, id: &str) -> Result<shale_metadata::KmsKeyVersion> {
        let master = self.sse_keys().master().ok_or(Error::NoMasterKey)?;
        let mut material = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut material)
            .map_err(|_| Error::Internal("no randomness".into()))?;
        let sealed = master.seal_bytes(&material, &kms_material_context(id));
        zeroize::Zeroize::zeroize(&mut material);
        Ok(shale_metadata::KmsKeyVersion {
            created_ms: crate::datapath::unix_ms() as i64,
            material: sealed,
        })
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
    /// the stream with an error, never with wrong bytes. `multipart`: the
    /// parts of a multipart upload, each sealed under its write's key
    /// ([`part_key`]).
    pub async fn read_plain(
        self: &Arc<Self>,
        parts: &[PartLayout],
        key: Option<Arc<ObjectKey>>,
        multipart: bool,
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
                let opener = if multipart {
                    BlockOpener::new(&part_key(&key, part)?, part.number, part.size, &plan)
                } else {
                    BlockOpener::new(&key, part.number, part.size, &plan)
                };
                openers.push_back(opener);
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

/// The key a multipart upload's part was sealed under: the upload's
/// object key and the part's write, named by the prefix of its chunks'
/// ids (`<prefix>.p<part>.s<segment>.<shard>`; moves keep a chunk's id).
pub fn part_key(key: &ObjectKey, part: &PartLayout) -> Result<ObjectKey> {
    let id = part
        .segments
        .first()
        .and_then(|s| s.chunks.first())
        .map(|c| c.chunk_id.as_str())
        .ok_or_else(|| Error::Internal(format!("part {} has no chunk", part.number)))?;
    let prefix = id.rsplitn(4, '.').last().unwrap_or(id);
    Ok(key.for_write(prefix.as_bytes()))
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
