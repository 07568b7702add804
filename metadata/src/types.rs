//! The rows the catalogue stores and the RPC messages that carry them.
//!
//! Rows and messages are serde types encoded with `postcard` (compact, no
//! field names on the wire). Postcard is not self-describing: it writes a
//! struct as its fields in order, with no names, lengths or version.
//!
//! Row format versions. Stored rows only ever grow at the end, so that every
//! row ever written still decodes:
//! - v1: the first release.
//! - v2: `tags` appended to [`Bucket`], [`ObjectRow`] and [`Upload`]. A v1
//!   row of these is a v2 row minus its last field, and the store decodes it
//!   as one with no tags (see `store::decode`). A binary from before v2 reads
//!   v2 rows too, without their tags (`postcard::from_bytes` ignores trailing
//!   bytes), so a rollback keeps working.
//!
//! - v3: flexible checksums. `checksum` appended to [`ObjectRow`] and
//!   [`Upload`] (after `tags`), `checksums` to [`PartRow`] (its first added
//!   field: parts never had tags). A v2 row lacks exactly the encoding of
//!   `None` / an empty list (one zero byte); the store decodes it as a row
//!   without checksums, and a v1 row as one without tags and checksums. A
//!   binary from before v3 reads v3 rows without their checksums.
//!
//! - v4: access keys and the cluster map. `grants` appended to
//!   [`AccessKey`] (`None`, one zero byte, for older keys: they keep every
//!   permission, as every key had before); the `cluster` rows grow from a
//!   [`NodeInfo`] to a [`NodeRecord`] (the info first, then state, last
//!   heartbeat and health: three zero bytes at their defaults, so an older
//!   row reads as an active node that never sent a heartbeat).
//!
//! - v5: owners. `owner` appended to [`Bucket`] (the key that created it),
//!   [`ObjectRow`] (the key that wrote the version) and [`Upload`] (the key
//!   that initiated it): `None`, one zero byte, for rows written before v5,
//!   which the gateway answers with the single owner every key shared
//!   before. A binary from before v5 reads v5 rows without their owners.
//!   The requests that carry these rows changed shape with them, so the
//!   Raft log, which stores requests, records its own format (`log_format`).
//!
//! - v6: the `completed_uploads` column family (a new row kind, so no
//!   existing row changes): one [`CompletedUpload`] per object key whose
//!   current object a CompleteMultipartUpload made. A data dir of an older
//!   release gets the column family, empty, when it is opened; an older
//!   binary opens it too (unknown column families are opened) and ignores it.
//!
//! - v7: versions. A row of `objects` (a key's current version) is an
//!   [`ObjectVersion`]: the [`ObjectRow`] and then its [`VersionMeta`]
//!   (order, null version, delete marker, lock), appended after the row's
//!   last field. A row written before v7 lacks exactly the encoding of
//!   [`VersionMeta::LEGACY`] and reads as its key's null version. New column
//!   families: `versions` (the versions that are not current, and delete
//!   markers) and `null_versions` (where a key's null version is when it
//!   is in `versions`). The [`ObjectRow`] carried by requests keeps its
//!   shape (the Raft log stores requests); version state travels in new
//!   request variants. A binary from before v7 reads the current versions
//!   as plain objects and ignores the new column families.
//!
//! - v8: regions. A new column family, `regions`: the linked regions
//!   (`link/<name>` → [`RegionLink`]) and, in the namespace region, the
//!   registry of bucket names (`claim/<bucket>` → [`BucketClaim`]). An
//!   older data dir gets it, empty, when it is opened: a region that was
//!   never linked. An older binary opens it and ignores it. And the
//!   `replication` family: the replication queue
//!   (`[order u64 BE][len][bucket][key][kind]` → [`ReplicationTask`]),
//!   written in the batch of the write it copies. A version's replication
//!   status is one of its system headers ([`crate::REPLICATION_STATUS`]): no row
//!   changes its shape.
//!
//! - v9: users. A new column family, `users`: `user/<name>` → [`User`]
//!   (grants and IAM policy) and `key/<access key id>` → [`KeyOwner`] (the
//!   user a key belongs to, disabled or not). An access key without a
//!   `key/` row is a user of its own named after it, with its own grants,
//!   as every key was before: no existing row changes, and an older data
//!   dir gets the family, empty, when it is opened. See [`users`].
//!
//! A field added later goes at the end, and the store's decoder learns the
//! encoding of its default (`store::added_fields`). Reordering or removing a
//! field needs a migration. Enums stored in rows (`ChecksumAlgorithm`,
//! `ChecksumType`) are encoded by variant index: variants are only added at
//! the end.
//! The RPC messages carry these types as well; gateway and metadata service
//! are upgraded together (mixed versions are not supported on the wire).

mod bucket_config;
mod cluster;
mod encryption;
mod layouts;
mod listings;
mod regions;
mod users;
pub use bucket_config::*;
pub use cluster::*;
pub use encryption::*;
pub use layouts::*;
pub use listings::*;
pub use regions::*;
pub use users::*;

use crate::replication::{ReplicationOutcome, ReplicationTask, ResyncPage};
use serde::{Deserialize, Serialize};
use shale_common::checksum::{ChecksumAlgorithm, ChecksumType};
use shale_common::{NodeInfo, ObjectData, PartLayout};

/// A bucket as the catalogue records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// The bucket name (S3 rules are checked by the gateway).
    pub name: String,
    /// Region the bucket was created in (`LocationConstraint`).
    pub region: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Bucket tags (`PutBucketTagging`), in the order given; empty when the
    /// bucket has none. Row format v2.
    pub tags: Vec<(String, String)>,
    /// The access key id of the key that created the bucket; `None` for
    /// buckets created before row format v5. Row format v5: must stay the
    /// last field.
    pub owner: Option<String>,
}

/// One object version (no versioning yet: one per key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRow {
    /// Plain bytes in the object.
    pub size: u64,
    /// Without quotes: md5 hex, or `"<hex>-<N>"` for multipart objects.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// `Content-Type` given at upload.
    pub content_type: Option<String>,
    /// cache-control, content-disposition, content-encoding,
    /// content-language, expires: lower-case name, value as given.
    pub system_headers: Vec<(String, String)>,
    /// `x-amz-meta-*` without the prefix, lower-case names.
    pub user_metadata: Vec<(String, String)>,
    /// `Some(n)` for multipart objects.
    pub parts_count: Option<u32>,
    /// Where the bytes are.
    pub data: ObjectData,
    /// Object tags (`x-amz-tagging`, `PutObjectTagging`), in the order given.
    /// Changing them changes neither the ETag nor the last-modified time.
    /// Row format v2.
    pub tags: Vec<(String, String)>,
    /// The object's flexible checksum, as GET and HEAD report it with
    /// `x-amz-checksum-mode: ENABLED`; `None` for objects written before
    /// row format v3. Row format v3.
    pub checksum: Option<ObjectChecksum>,
    /// The access key id of the key that wrote this version (for a
    /// completed multipart upload, the key that initiated it); `None` for
    /// versions written before row format v5. Row format v5: must stay the
    /// last field.
    pub owner: Option<String>,
}

impl ObjectRow {
    /// The row of a delete marker written at `now_ms` by `owner`: no data.
    pub fn delete_marker(now_ms: i64, owner: Option<String>) -> ObjectRow {
        ObjectRow {
            size: 0,
            etag: String::new(),
            last_modified_ms: now_ms,
            content_type: None,
            system_headers: Vec::new(),
            user_metadata: Vec::new(),
            parts_count: None,
            data: ObjectData::Inline(Vec::new()),
            tags: Vec::new(),
            checksum: None,
            owner,
        }
    }

    /// A copy of the row less an inline body (`Inline` left empty; a
    /// chunked row's layout is kept): what a write answers. The writer has
    /// the body, and every replica keeps each answer for five minutes
    /// (`raft_dedup`), so a body there is 4 KiB more per 4 KiB PUT written,
    /// sent and deleted again.
    pub fn without_body(&self) -> ObjectRow {
        ObjectRow {
            size: self.size,
            etag: self.etag.clone(),
            last_modified_ms: self.last_modified_ms,
            content_type: self.content_type.clone(),
            system_headers: self.system_headers.clone(),
            user_metadata: self.user_metadata.clone(),
            parts_count: self.parts_count,
            data: match &self.data {
                ObjectData::Inline(_) => ObjectData::Inline(Vec::new()),
                ObjectData::Parts(p) => ObjectData::Parts(p.clone()),
            },
            tags: self.tags.clone(),
            checksum: self.checksum.clone(),
            owner: self.owner.clone(),
        }
    }
}

/// Where an object version stands among the versions of its key, and its
/// lock (row format v7). Stored after the [`ObjectRow`] of every `objects`
/// and `versions` row ([`ObjectVersion`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// Orders the versions of a key (larger is newer) and names the
    /// version ([`version_id`]); unique within the key. 0 for a row written
    /// before v7, whose order is its last-modified time (see
    /// [`VersionMeta::order`]).
    pub seq: u64,
    /// The key's null version: written while the bucket was unversioned or
    /// suspended. Its id is `null`, whatever its `seq`.
    pub null: bool,
    /// A delete marker: the row holds no data (size 0, no ETag).
    pub marker: bool,
    /// When the version stopped being current (Unix ms; 0 while current),
    /// from which lifecycle's noncurrent days count.
    pub noncurrent_ms: i64,
    /// Object Lock retention: until then the version cannot be removed.
    pub retention: Option<Retention>,
    /// Object Lock legal hold: while on (`Some(true)`), the version
    /// cannot be removed; `None` if no hold was ever set (S3 tells that
    /// apart from one set OFF).
    pub legal_hold: Option<bool>,
}

impl VersionMeta {
    /// A row written before row format v7: a current null version, no lock.
    pub const LEGACY: VersionMeta = VersionMeta {
        seq: 0,
        null: true,
        marker: false,
        noncurrent_ms: 0,
        retention: None,
        legal_hold: None,
    };

    /// The version's place among its key's versions: its `seq`, or for a
    /// row written before v7, one made from its last-modified time (so it
    /// sorts before every version written after it).
    pub fn order(&self, last_modified_ms: i64) -> u64 {
        if self.seq != 0 {
            self.seq
        } else {
            seq_at(last_modified_ms)
        }
    }

    /// The id clients see: `null` for the null version, else [`version_id`].
    pub fn id(&self) -> String {
        if self.null {
            "null".to_owned()
        } else {
            version_id(self.seq)
        }
    }
}

/// The smallest version order a version written at `ms` gets: the time in
/// the high bits, room below for 2^20 versions of one key in one ms.
pub fn seq_at(ms: i64) -> u64 {
    (ms.max(1) as u64) << 20
}

/// The id of a (non-null) version of order `seq`: 16 lower-case hex digits,
/// so ids of one key sort like the versions.
pub fn version_id(seq: u64) -> String {
    format!("{seq:016x}")
}

/// Which version of a key a request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionRef {
    /// No version id: the latest version (a GET reads the current object; a
    /// DELETE adds a delete marker in a versioned bucket).
    Latest,
    /// `versionId=null`.
    Null,
    /// A version id (its `seq`).
    Id(u64),
}

impl VersionRef {
    /// Parses a `versionId` parameter: `None` or empty is the latest
    /// version, `null` the null version; anything that is not an id this
    /// store made is `InvalidArgument` ("Invalid version id specified").
    pub fn parse(id: Option<&str>) -> Result<VersionRef, MetaError> {
        match id {
            None => Ok(VersionRef::Latest),
            Some("null") => Ok(VersionRef::Null),
            Some(s) if s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                match u64::from_str_radix(s, 16) {
                    Ok(seq) if seq != 0 && !s.bytes().any(|b| b.is_ascii_uppercase()) => {
                        Ok(VersionRef::Id(seq))
                    }
                    _ => Err(invalid_version_id()),
                }
            }
            Some(_) => Err(invalid_version_id()),
        }
    }
}

fn invalid_version_id() -> MetaError {
    MetaError::InvalidArgument("Invalid version id specified".into())
}

/// An Object Lock retention mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    /// Removable before its date by a key allowed to bypass governance.
    Governance,
    /// Removable by nobody before its date; the date can only be extended.
    Compliance,
}

/// An Object Lock retention of one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// GOVERNANCE or COMPLIANCE.
    pub mode: LockMode,
    /// Retain until (Unix ms).
    pub until_ms: i64,
}

/// The names under which CreateMultipartUpload's lock headers ride in the
/// upload's system headers until completion takes them out (the upload row
/// keeps its shape): mode, retain-until (Unix ms), legal hold (`ON`).
pub const UPLOAD_LOCK_MODE: &str = "x-amz-object-lock-mode";
/// See [`UPLOAD_LOCK_MODE`].
pub const UPLOAD_LOCK_UNTIL: &str = "x-amz-object-lock-retain-until-date";
/// See [`UPLOAD_LOCK_MODE`].
pub const UPLOAD_LOCK_HOLD: &str = "x-amz-object-lock-legal-hold";
/// The name under which a replica's version id (16 hex digits) rides in
/// its multipart upload's system headers (set only by the gateway, for
/// the replication key), until completion keeps the object as that
/// version ([`MetaRequest::WriteReplica`]'s rules).
pub const UPLOAD_REPLICA_VERSION: &str = "x-shale-replica-version";
/// See [`UPLOAD_REPLICA_VERSION`]: the source version's Last-Modified (ms).
pub const UPLOAD_REPLICA_LAST_MODIFIED: &str = "x-shale-replica-last-modified";

/// One lifecycle rule (`Rule` of PutBucketLifecycleConfiguration), as the
/// gateway validated it (S3's checks: at least one action, IDs unique, …).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    /// `ID` (S3 makes one up when none is given; so does the gateway).
    pub id: String,
    /// `Status`: Enabled (true) or Disabled.
    pub enabled: bool,
    /// Which objects the rule applies to (`Filter`, or the legacy `Prefix`).
    pub filter: LifecycleFilter,
    /// `Expiration` of current versions.
    pub expiration: Option<LifecycleExpiration>,
    /// `NoncurrentVersionExpiration`.
    pub noncurrent: Option<NoncurrentExpiration>,
    /// `AbortIncompleteMultipartUpload`'s `DaysAfterInitiation`.
    pub abort_uploads_after_days: Option<u32>,
}

/// A rule's filter: every condition given must hold (`And`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleFilter {
    /// Key prefix ("" matches every key).
    pub prefix: String,
    /// Tags the object must carry, each with this value.
    pub tags: Vec<(String, String)>,
    /// `ObjectSizeGreaterThan` (bytes, exclusive).
    pub size_greater_than: Option<u64>,
    /// `ObjectSizeLessThan` (bytes, exclusive).
    pub size_less_than: Option<u64>,
}

impl LifecycleFilter {
    /// Whether an object of `key`, `size` bytes and `tags` is one the
    /// filter selects (sizes exclusive, every tag with its value).
    pub fn matches(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix)
            && self.size_greater_than.is_none_or(|n| size > n)
            && self.size_less_than.is_none_or(|n| size < n)
            && self.tags.iter().all(|t| tags.contains(t))
    }
}

/// `ms` rounded up to a whole day of `day_ms` milliseconds: S3 rounds a
/// lifecycle rule's days up to the next midnight UTC.
pub fn day_ceil(ms: i64, day_ms: i64) -> i64 {
    let d = day_ms.max(1);
    let whole = ms.div_euclid(d) + i64::from(ms.rem_euclid(d) != 0);
    whole.saturating_mul(d)
}

impl LifecycleExpiration {
    /// When a current version written at `written_ms` expires under this
    /// rule (none for a marker-only rule).
    pub fn expiry(&self, written_ms: i64, day_ms: i64) -> Option<i64> {
        match (self.days, self.date_ms) {
            (Some(days), _) => Some(day_ceil(
                written_ms.saturating_add(i64::from(days).saturating_mul(day_ms)),
                day_ms,
            )),
            (None, date) => date,
        }
    }
}

/// `Expiration`: one of `days`, `date_ms`, or `expired_object_delete_marker`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleExpiration {
    /// `Days` after the version was written (a day is 86,400 s, shorter
    /// under `--lifecycle-day-secs`), rounded up to the next day boundary.
    pub days: Option<u32>,
    /// `Date`: from then on (midnight UTC, Unix ms).
    pub date_ms: Option<i64>,
    /// `ExpiredObjectDeleteMarker`: remove a delete marker that is its
    /// key's only version left.
    pub expired_object_delete_marker: bool,
}

/// `NoncurrentVersionExpiration`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// `NoncurrentDays`: days after the version became noncurrent.
    pub noncurrent_days: u32,
    /// `NewerNoncurrentVersions`: this many newest noncurrent versions are
    /// kept whatever their age.
    pub newer_noncurrent_versions: Option<u32>,
}

/// A bucket's Object Lock configuration: its presence turns the lock on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockConfig {
    /// The retention every new version gets when its write names none.
    pub default_retention: Option<DefaultRetention>,
}

/// A default retention: a mode and a period (S3: Days or Years, one of
/// them; a year is 365 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    /// GOVERNANCE or COMPLIANCE.
    pub mode: LockMode,
    /// `Days` (one of `days` and `years` is set).
    pub days: Option<u32>,
    /// `Years`.
    pub years: Option<u32>,
}

impl DefaultRetention {
    /// The retention of a version written at `now_ms`.
    pub fn from(&self, now_ms: i64) -> Retention {
        let days = self
            .days
            .map(i64::from)
            .or(self.years.map(|y| i64::from(y) * 365))
            .unwrap_or(0);
        Retention {
            mode: self.mode,
            until_ms: now_ms.saturating_add(days.saturating_mul(86_400_000)),
        }
    }
}

/// One stored object version: the row and its place among its key's
/// versions. The form of every `objects` and `versions` row (row format
/// v7; see the module notes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    /// The version's data and metadata (a delete marker's is empty).
    pub row: ObjectRow,
    /// Order, null version, delete marker, lock.
    pub version: VersionMeta,
}

/// A bucket's versioning state (`PutBucketVersioning`); a bucket that never
/// had one is unversioned, and can never become so again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersioningStatus {
    /// Every write makes a new version.
    Enabled,
    /// Writes make or replace the null version; older versions stay.
    Suspended,
}

/// A version as a read finds it ([`MetaRequest::GetVersion`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionView {
    /// The version (a delete marker when `version.marker`: only when the
    /// request named it by id, or when it is the key's latest version).
    pub object: ObjectVersion,
    /// The id to answer with (`x-amz-version-id`); `None` in a bucket that
    /// never had versioning.
    pub version_id: Option<String>,
}

/// The answer to a write that made a version ([`MetaRequest::WriteObject`],
/// [`MetaRequest::FinishUpload`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteAnswer {
    /// The row written, less an inline body ([`ObjectRow::without_body`]).
    pub row: ObjectRow,
    /// Its version id; `None` in a bucket that never had versioning.
    pub version_id: Option<String>,
}

/// The answer to a change of one version ([`MetaRequest::DeleteVersion`],
/// [`MetaRequest::PutVersionTags`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionAnswer {
    /// The version added (a delete marker) or changed or removed; `None`
    /// in a bucket that never had versioning, or when nothing was there.
    pub version_id: Option<String>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
}

/// What a write asks of Object Lock ([`MetaRequest::WriteObject`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    /// `x-amz-object-lock-mode` and `-retain-until-date`.
    pub retention: Option<Retention>,
    /// `x-amz-object-lock-legal-hold: ON`.
    pub legal_hold: bool,
}

/// An object's stored checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    /// The algorithm (`x-amz-checksum-<algorithm>`).
    pub algorithm: ChecksumAlgorithm,
    /// `x-amz-checksum-type`. Single-part objects are always FULL_OBJECT.
    pub kind: ChecksumType,
    /// The binary digest (CRCs big-endian). For COMPOSITE, the digest of the
    /// parts' digests; S3 reports it with a `-<parts_count>` suffix.
    pub value: Vec<u8>,
    /// Multipart objects: each part's digest of `algorithm`, in part order
    /// (GetObjectAttributes lists them). Empty for single-part objects.
    pub parts: Vec<Vec<u8>>,
}

/// The checksum a multipart upload was created with
/// (`x-amz-checksum-algorithm`, `x-amz-checksum-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    /// Every part is checksummed with this algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// How the parts' checksums make the object's.
    pub kind: ChecksumType,
}

/// The record of the completed multipart upload that made an object's
/// current version (row format v6, column family `completed_uploads`, keyed
/// like the object row), so a repeated CompleteMultipartUpload whose first
/// answer was lost is answered again (S3 does) instead of NoSuchUpload.
///
/// Written in the batch that completes the upload, deleted in the batch
/// that replaces or deletes that object: it lives exactly as long as the
/// object it made. A retry is answered only while the object row is still
/// the one named here (its ETag and time), so a record an older binary
/// failed to delete is never believed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedUpload {
    /// The upload that was completed.
    pub upload_id: String,
    /// The ETag of the object it made (unquoted, `<hex>-<N>`).
    pub etag: String,
    /// The last-modified time of the object it made (Unix ms, the Raft
    /// entry's time).
    pub last_modified_ms: i64,
}

/// An in-progress multipart upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// Bucket of the future object.
    pub bucket: String,
    /// Key of the future object.
    pub key: String,
    /// Chosen by the gateway; must not contain a NUL byte.
    pub upload_id: String,
    /// Milliseconds since the Unix epoch.
    pub initiated_ms: i64,
    /// Copied to the object on completion.
    pub content_type: Option<String>,
    /// Copied to the object on completion.
    pub system_headers: Vec<(String, String)>,
    /// Copied to the object on completion.
    pub user_metadata: Vec<(String, String)>,
    /// Copied to the object on completion (`x-amz-tagging` of
    /// CreateMultipartUpload). Row format v2.
    pub tags: Vec<(String, String)>,
    /// The checksum the upload was created with; `None`: the object gets
    /// S3's default, a FULL_OBJECT CRC64NVME. Row format v3.
    pub checksum: Option<UploadChecksum>,
    /// The access key id of the key that initiated the upload; copied to
    /// the object on completion. `None` for uploads initiated before row
    /// format v5. Row format v5: must stay the last field.
    pub owner: Option<String>,
}

/// One uploaded part of a multipart upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRow {
    /// Part number, 1..=10000.
    pub number: u32,
    /// Plain bytes in the part.
    pub size: u64,
    /// MD5 of the part, lower-case hex, no quotes.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// Where the part's bytes are.
    pub layout: PartLayout,
    /// Every checksum of the part the gateway computed, by algorithm (at
    /// most one each): the ones the client sent, the upload's algorithm and
    /// CRC64NVME (for the default object checksum). Empty for parts written
    /// before row format v3. Row format v3: must stay the last field.
    pub checksums: Vec<(ChecksumAlgorithm, Vec<u8>)>,
}

impl PartRow {
    /// The part's digest of `algorithm`, if it was computed.
    pub fn checksum(&self, algorithm: ChecksumAlgorithm) -> Option<&[u8]> {
        self.checksums
            .iter()
            .find(|(a, _)| *a == algorithm)
            .map(|(_, v)| v.as_slice())
    }
}

/// What CompleteMultipartUpload says about checksums, checked by the store
/// against the parts before it writes the object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteChecks {
    /// Part checksums listed in the request: (part number, algorithm, digest).
    pub parts: Vec<(u32, ChecksumAlgorithm, Vec<u8>)>,
    /// `x-amz-checksum-type` of the request.
    pub kind: Option<ChecksumType>,
    /// The object checksum the client expects (`x-amz-checksum-<alg>`); for
    /// COMPOSITE, without its `-N` suffix (the gateway checks N).
    pub object: Option<(ChecksumAlgorithm, Vec<u8>)>,
    /// `x-amz-mp-object-size`: the object size the client expects.
    pub object_size: Option<u64>,
    /// `If-Match`: the ETag the key's current object must have (unquoted);
    /// decided under the key's lock with the write, like `if_none_match`.
    pub if_match: Option<String>,
}

/// An S3 access key and its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// The public key id (`AKIA…`).
    pub access_key: String,
    /// The signing secret; never logged (see the `Debug` impl).
    pub secret_key: String,
    /// A human name for the key.
    pub name: String,
    /// What the key may do, bucket by bucket: `None` for a root key (every
    /// permission on every bucket, and the admin API); `Some` for a key made
    /// by `shale admin key create`, which may touch only the buckets listed.
    /// Row format v4: must stay the last field.
    pub grants: Option<Vec<(String, Permission)>>,
}

impl AccessKey {
    /// A key with every permission (the cluster's root key).
    pub fn root(access_key: String, secret_key: String, name: String) -> AccessKey {
        AccessKey {
            access_key,
            secret_key,
            name,
            grants: None,
        }
    }

    /// True for a root key.
    pub fn is_root(&self) -> bool {
        self.grants.is_none()
    }

    /// The key's permission on `bucket`: everything for a root key.
    pub fn permission(&self, bucket: &str) -> Option<Permission> {
        match &self.grants {
            None => Some(Permission::Owner),
            Some(g) => g.iter().find(|(b, _)| b == bucket).map(|(_, p)| *p),
        }
    }
}

/// What a key may do with one bucket. Each level includes the ones before it
/// (the derive orders them). Stored by variant index: only add at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// GET, HEAD and listing.
    Read,
    /// Also PUT, DELETE, copies and multipart uploads.
    Write,
    /// Also the bucket's configuration (CORS, tags) and DeleteBucket.
    Owner,
}

impl Permission {
    /// `read`, `write` or `owner`.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Owner => "owner",
        }
    }

    /// Parses [`Permission::name`].
    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "read" => Some(Permission::Read),
            "write" => Some(Permission::Write),
            "owner" => Some(Permission::Owner),
            _ => None,
        }
    }
}

impl std::fmt::Debug for AccessKey {
    // The secret must never reach a log line, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("name", &self.name)
            .field("grants", &self.grants)
            .finish()
    }
}

/// Errors of the metadata RPC; each maps to one S3 error in the gateway.
#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaError {
    /// The bucket does not exist.
    #[error("no such bucket")]
    NoSuchBucket,
    /// The bucket exists and belongs to someone else (multi-tenant future).
    #[error("bucket already exists")]
    BucketAlreadyExists,
    /// The bucket exists and is ours.
    #[error("bucket already owned by you")]
    BucketAlreadyOwnedByYou,
    /// The bucket still holds objects.
    #[error("bucket not empty")]
    BucketNotEmpty,
    /// The object does not exist.
    #[error("no such key")]
    NoSuchKey,
    /// The multipart upload does not exist (or belongs to another key).
    #[error("no such upload")]
    NoSuchUpload,
    /// A part named in CompleteMultipartUpload is missing or has another etag.
    #[error("invalid part: {0}")]
    InvalidPart(String),
    /// Parts of CompleteMultipartUpload are not in strictly ascending order.
    #[error("invalid part order")]
    InvalidPartOrder,
    /// A part other than the last is smaller than 5 MiB.
    #[error("entity too small")]
    EntityTooSmall,
    /// An If-Match / If-None-Match condition failed.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A malformed argument (the message names it).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A request S3 refuses as `InvalidRequest` (the message says why).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A checksum the client expects does not match (S3's `BadDigest`).
    #[error("bad digest: {0}")]
    BadDigest(String),
    /// The metadata service could not be reached or did not answer.
    #[error("metadata service unavailable: {0}")]
    Unavailable(String),
    /// A bug or a disk error inside the metadata service.
    #[error("internal metadata error: {0}")]
    Internal(String),
    /// This metadata replica is not the Raft leader; the leader's address
    /// when it knows one. `MetaClient` follows it and never returns this.
    #[error("not the metadata leader (leader is {})", .0.as_deref().unwrap_or("unknown"))]
    NotLeader(Option<String>),
    /// The version id names no version of the key (404 NoSuchVersion).
    #[error("no such version")]
    NoSuchVersion,
    /// Object Lock forbids it (403 AccessDenied).
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The bucket's state forbids it (409 InvalidBucketState).
    #[error("invalid bucket state: {0}")]
    InvalidBucketState(String),
    /// Not allowed on this version, a delete marker (405 MethodNotAllowed).
    #[error("method not allowed against this resource")]
    MethodNotAllowed,
}

#[cfg(feature = "server")]
impl From<rocksdb::Error> for MetaError {
    fn from(e: rocksdb::Error) -> Self {
        MetaError::Internal(format!("rocksdb: {e}"))
    }
}

/// One metadata RPC. The semantics of each (and of its fields) are
/// documented once, on the `MetaStore` method of the same name.
#[allow(
    missing_docs,
    reason = "fields are documented on the MetaStore methods"
)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaRequest {
    /// → `MetaResponse::Bucket`.
    CreateBucket {
        name: String,
        region: String,
        owner: Option<String>,
    },
    /// → `MetaResponse::Unit`.
    DeleteBucket { name: String },
    /// → `MetaResponse::MaybeBucket`.
    GetBucket { name: String },
    /// → `MetaResponse::Buckets`.
    ListBuckets,
    /// → `MetaResponse::MaybeObject` (the replaced row).
    PutObject {
        bucket: String,
        key: String,
        row: ObjectRow,
        if_none_match: bool,
        if_match: Option<String>,
    },
    /// → `MetaResponse::Object`.
    GetObject { bucket: String, key: String },
    /// → `MetaResponse::MaybeObject` (the deleted row).
    DeleteObject { bucket: String, key: String },
    /// → `MetaResponse::ListObjects`.
    ListObjects {
        bucket: String,
        prefix: String,
        delimiter: Option<String>,
        start_after: Option<String>,
        max_keys: u32,
    },
    /// → `MetaResponse::Unit`.
    CreateUpload { upload: Upload },
    /// → `MetaResponse::MaybePart` (the replaced part).
    PutPart {
        bucket: String,
        key: String,
        upload_id: String,
        part: PartRow,
    },
    /// → `MetaResponse::ListParts`.
    ListParts {
        bucket: String,
        key: String,
        upload_id: String,
        part_number_marker: u32,
        max_parts: u32,
    },
    /// → `MetaResponse::Object` (the new object).
    CompleteUpload {
        bucket: String,
        key: String,
        upload_id: String,
        parts: Vec<(u32, String)>,
        checks: CompleteChecks,
        if_none_match: bool,
    },
    /// → `MetaResponse::Unit`.
    AbortUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    /// → `MetaResponse::Upload`.
    GetUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    /// → `MetaResponse::ListUploads`.
    ListUploads {
        bucket: String,
        prefix: String,
        delimiter: Option<String>,
        key_marker: Option<String>,
        upload_id_marker: Option<String>,
        max_uploads: u32,
    },
    /// → `MetaResponse::Unit`.
    PutAccessKey { key: AccessKey },
    /// → `MetaResponse::MaybeAccessKey`.
    GetAccessKey { access_key: String },
    /// → `MetaResponse::Unit`.
    RegisterNode { node: NodeInfo },
    /// → `MetaResponse::Nodes`.
    ClusterMap,
    /// → `MetaResponse::Unit`.
    PutObjectTags {
        bucket: String,
        key: String,
        tags: Vec<(String, String)>,
    },
    /// → `MetaResponse::Unit`.
    PutBucketTags {
        bucket: String,
        tags: Vec<(String, String)>,
    },
    /// The oldest entries of the garbage-collection queue, queued before
    /// `queued_before_ms` (Unix ms), at most `limit`.
    /// → `MetaResponse::GcEntries`.
    GcPending { limit: u32, queued_before_ms: u64 },
    /// Removes GC queue entries whose chunks are gone. → `MetaResponse::Unit`.
    GcDone { keys: Vec<Vec<u8>> },
    /// → `MetaResponse::MaybeBucketConfig`.
    GetBucketConfig {
        bucket: String,
        kind: BucketConfigKind,
    },
    /// → `MetaResponse::Unit`.
    PutBucketConfig {
        bucket: String,
        config: BucketConfig,
    },
    /// → `MetaResponse::Unit`.
    DeleteBucketConfig {
        bucket: String,
        kind: BucketConfigKind,
    },
    /// Every erasure-coded layout (object rows, then parts of multipart
    /// uploads), `limit` owners at most, after `cursor` (from the previous
    /// answer; empty for the first call). Read-only (the healer's sweep).
    /// → `MetaResponse::Layouts`.
    ScanLayouts { cursor: Vec<u8>, limit: u32 },
    /// Replaces chunk `shard` of segment `segment` of part `part_number` of
    /// `owner` with `new`, only if it is still `old` (the healer moving or
    /// re-marking a rebuilt chunk; deterministic given the request).
    /// → `MetaResponse::Swapped` (false: the row changed meanwhile).
    SwapChunk {
        owner: LayoutOwner,
        part_number: u32,
        segment: u32,
        shard: u32,
        old: shale_common::ChunkPlacement,
        new: shale_common::ChunkPlacement,
    },
    /// A storage node's heartbeat (registers it too). → `MetaResponse::Unit`.
    Heartbeat { heartbeat: Heartbeat },
    /// → `MetaResponse::Cluster`.
    ClusterStatus,
    /// Drains, removes or reactivates a node. → `MetaResponse::Unit`.
    SetNodeState {
        node: shale_common::NodeId,
        state: NodeState,
    },
    /// Every access key, secrets included (the gateway strips them).
    /// → `MetaResponse::AccessKeys`.
    ListAccessKeys,
    /// → `MetaResponse::Unit`.
    DeleteAccessKey { access_key: String },
    /// Gives (`Some`) or takes (`None`) a key's permission on a bucket.
    /// → `MetaResponse::Unit`.
    SetGrant {
        access_key: String,
        bucket: String,
        permission: Option<Permission>,
    },
    /// Several clients' writes, each with its write id, proposed as one
    /// Raft log entry by the leader (one log append and sync for all of
    /// them) and applied in order, each as if alone. Made by the metadata
    /// service itself, never accepted over RPC. → `MetaResponse::Batch`.
    Batch { items: Vec<(u128, MetaRequest)> },
    /// Takes the lease `name` for `holder` until `ttl_ms` from the entry's
    /// time, if it is free, expired or `holder`'s already (a renewal): one
    /// gateway at a time does what must not be done by all (the healer's
    /// moves). → `MetaResponse::Lease` (true: `holder` has it).
    TakeLease {
        name: String,
        holder: String,
        ttl_ms: u64,
    },
    /// Writes `row` as the key's new latest version: in an unversioned
    /// bucket it replaces the object, in a versioned one the current
    /// version becomes noncurrent, in a suspended one it replaces the null
    /// version. The conditions act on the current version.
    /// → `MetaResponse::Written`.
    WriteObject {
        bucket: String,
        key: String,
        row: ObjectRow,
        if_none_match: bool,
        if_match: Option<String>,
        lock: LockRequest,
    },
    /// The version `version` names. → `MetaResponse::Version`.
    GetVersion {
        bucket: String,
        key: String,
        version: VersionRef,
    },
    /// `Latest`: deletes the object, or adds a delete marker in a versioned
    /// bucket. A version id (or `Null`): removes that version for good,
    /// unless Object Lock keeps it. → `MetaResponse::Removed`.
    DeleteVersion {
        bucket: String,
        key: String,
        version: VersionRef,
        bypass_governance: bool,
        owner: Option<String>,
    },
    /// CompleteUpload, answered with the version it made.
    /// → `MetaResponse::Written`.
    FinishUpload {
        bucket: String,
        key: String,
        upload_id: String,
        parts: Vec<(u32, String)>,
        checks: CompleteChecks,
        if_none_match: bool,
    },
    /// Replaces the tags of one version. → `MetaResponse::Removed` (the
    /// version's id; never a marker: tagging a marker is 405).
    PutVersionTags {
        bucket: String,
        key: String,
        version: VersionRef,
        tags: Vec<(String, String)>,
    },
    /// ListObjectVersions. → `MetaResponse::Versions`.
    ListVersions {
        bucket: String,
        prefix: String,
        delimiter: Option<String>,
        key_marker: Option<String>,
        version_marker: Option<VersionRef>,
        max_keys: u32,
    },
    /// CreateBucket with its first configurations, in one batch (Object
    /// Lock: versioning and the lock at once). → `MetaResponse::Bucket`.
    CreateBucketWith {
        name: String,
        region: String,
        owner: Option<String>,
        configs: Vec<BucketConfig>,
    },
    /// PutObjectRetention: sets (or, `None`, removes) one version's
    /// retention. A COMPLIANCE retention in effect is only ever extended;
    /// a GOVERNANCE one is loosened only with `bypass_governance`.
    /// → `MetaResponse::Removed` (the version's id).
    SetRetention {
        bucket: String,
        key: String,
        version: VersionRef,
        retention: Option<Retention>,
        bypass_governance: bool,
    },
    /// PutObjectLegalHold. → `MetaResponse::Removed` (the version's id).
    SetLegalHold {
        bucket: String,
        key: String,
        version: VersionRef,
        on: bool,
    },
    /// A lifecycle action on the version of order `order` of `key`, done
    /// only if that version is still where the worker saw it (see
    /// [`ExpireAction`]); a locked version is AccessDenied.
    /// → `MetaResponse::Removed` (`version_id` none: nothing was done).
    Expire {
        bucket: String,
        key: String,
        order: u64,
        action: ExpireAction,
    },
    /// Stores a background worker's progress under `name` (empty: none).
    /// → `MetaResponse::Unit`.
    SetCursor { name: String, cursor: Vec<u8> },
    /// → `MetaResponse::Cursor`.
    GetCursor { name: String },
    /// Links region `name` (`None`: unlinks it). → `MetaResponse::Unit`.
    PutRegion {
        name: String,
        link: Option<RegionLink>,
    },
    /// → `MetaResponse::Regions`.
    ListRegions,
    /// Takes the name `bucket` for `region` in the deployment's registry
    /// (the namespace region's): `BucketAlreadyExists` (or
    /// `BucketAlreadyOwnedByYou`, same owner) when a bucket here or a claim
    /// of another region has it; again for the same region, nothing.
    /// → `MetaResponse::Unit`.
    ClaimBucket {
        bucket: String,
        region: String,
        owner: Option<String>,
    },
    /// Gives the name back (only `region`'s claim goes), with every grant
    /// on it. → `MetaResponse::Unit`.
    ReleaseBucket { bucket: String, region: String },
    /// Where `bucket` lives: a bucket here, else a claim.
    /// → `MetaResponse::Claim`.
    GetClaim { bucket: String },
    /// Every claim of `region` (all with an empty one).
    /// → `MetaResponse::Claims`.
    ListClaims { region: String },
    /// A replica of a version of another bucket, kept with its order (its
    /// version id): newest, it becomes current; older than the key's
    /// newest, it takes its place among the noncurrent versions; already
    /// here, nothing is done (its chunks go to GC). Its status is REPLICA
    /// and it is never replicated again. → `MetaResponse::Written`.
    WriteReplica {
        bucket: String,
        key: String,
        row: ObjectRow,
        order: u64,
        marker: bool,
        lock: LockRequest,
    },
    /// Up to `limit` tasks of the replication queue after task key `after`
    /// (pending, waiting and failed ones), oldest first.
    /// → `MetaResponse::ReplicationTasks`.
    ReplicationTasks { after: Vec<u8>, limit: u32 },
    /// How destination `destination` of task `task` went: the task and
    /// the version's `x-amz-replication-status` follow. → `MetaResponse::Unit`.
    ReplicationDone {
        task: Vec<u8>,
        /// The task's `enqueued_ms` as the worker read it: a task written
        /// again since (a newer change of the same version) stays.
        enqueued_ms: i64,
        destination: String,
        outcome: ReplicationOutcome,
    },
    /// Puts the FAILED tasks of `bucket` (every bucket: empty) back in the
    /// queue, their versions PENDING again. → `MetaResponse::Count`.
    ReplicationRetry { bucket: String },
    /// One page (up to `limit` versions, markers too) of a resync of
    /// `bucket` (S3's Batch Replication): every version without a
    /// replication status written before `older_than_ms` is queued as a
    /// new write would be, and marked PENDING. The position is kept in
    /// metadata (`cursor/resync/<bucket>`, in the page's batch), so the
    /// next page, or a resync run again after a crash, goes on from there;
    /// `restart` starts from the first key. → `MetaResponse::Resync`.
    ReplicationResync {
        bucket: String,
        older_than_ms: Option<i64>,
        restart: bool,
        limit: u32,
    },
    /// A change of a replica's tags and/or lock, made by replication: set
    /// as given (the source kept S3's rules), never replicated again.
    /// → `MetaResponse::Removed` (the version's id).
    ReplicaChange {
        bucket: String,
        key: String,
        order: u64,
        tags: Option<Vec<(String, String)>>,
        lock: Option<(Option<Retention>, Option<bool>)>,
    },
    /// An access key and its user, if the key exists.
    /// → `MetaResponse::MaybeIdentity`.
    GetIdentity { access_key: String },
    /// Makes user `name` (no grants, no policy); `InvalidRequest` when the
    /// name is taken by a user or an access key. → `MetaResponse::Unit`.
    CreateUser { name: String },
    /// Deletes user `name`; `InvalidRequest` while it has access keys.
    /// → `MetaResponse::Unit`.
    DeleteUser { name: String },
    /// Every user, keys that are users of their own included.
    /// → `MetaResponse::Users`.
    ListUsers,
    /// Sets (or, `None`, deletes) user `name`'s IAM policy (checked by the
    /// gateway). A key of its own becomes a user first.
    /// → `MetaResponse::Unit`.
    SetUserPolicy {
        name: String,
        policy: Option<String>,
    },
    /// Stores `key` (no grants of its own) as a key of user `user` (a key
    /// of its own becomes a user first). → `MetaResponse::Unit`.
    CreateUserKey { key: AccessKey, user: String },
    /// Disables or enables an access key (not a root key).
    /// → `MetaResponse::Unit`.
    SetKeyDisabled { access_key: String, disabled: bool },
    /// Replaces every user and key owner with these (a region mirroring
    /// the namespace region's identities). → `MetaResponse::Unit`.
    ReplaceUsers {
        users: Vec<User>,
        owners: Vec<(String, KeyOwner)>,
    },
    /// Sets (`None`: removes) the ACL of one version ([`OBJECT_ACL`]).
    /// → `MetaResponse::Removed` (the version's id; a marker is 405).
    PutVersionAcl {
        bucket: String,
        key: String,
        version: VersionRef,
        acl: Option<String>,
    },
    /// Stores a KMS key: a new one (`create`) or a change of one.
    /// → `MetaResponse::Unit`.
    PutKmsKey { key: KmsKey, create: bool },
    /// Every KMS key. → `MetaResponse::KmsKeys`.
    ListKmsKeys,
    /// A page of the versions and uploads with a sealed object key
    /// ([`SSE_HEADER`]), from `cursor` on. → `MetaResponse::SsePage`.
    ScanSse { cursor: Vec<u8>, limit: u32 },
    /// Replaces the [`SSE_HEADER`] of `owner`'s row with `new` if it still
    /// is `old` (the object key sealed again under a newer key).
    /// → `MetaResponse::Swapped` (false: the row changed or went).
    ResealSse {
        owner: LayoutOwner,
        old: String,
        new: String,
    },
}

/// What a lifecycle expiration does to a version ([`MetaRequest::Expire`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireAction {
    /// `Expiration` of the current version, if it still is the current
    /// one: deleted (unversioned), or a delete marker added (versioned).
    Current,
    /// `NoncurrentVersionExpiration`: the version removed for good, if it
    /// still is due when the request is applied: noncurrent for `days_ms`
    /// (rounded up to a day of `day_ms`), with at least `keep_newer`
    /// noncurrent versions newer than it (both checked under the key's lock
    /// at the entry's time, so a client's change since the worker looked
    /// never makes it go early).
    Noncurrent {
        /// `NoncurrentDays` in ms.
        days_ms: i64,
        /// The length of a lifecycle day in ms.
        day_ms: i64,
        /// `NewerNoncurrentVersions` (0: none kept).
        keep_newer: u32,
    },
    /// `ExpiredObjectDeleteMarker`: the marker removed, if it is its key's
    /// only version left.
    DeleteMarker,
}

impl MetaRequest {
    /// True for requests that only read: the leader answers them from its
    /// own RocksDB after a linearizability check. Every other request is a
    /// Raft log entry. (No wildcard: a new request must be classified.)
    pub fn is_read(&self) -> bool {
        use MetaRequest as Q;
        match self {
            Q::GetBucket { .. }
            | Q::ListBuckets
            | Q::GetObject { .. }
            | Q::ListObjects { .. }
            | Q::ListParts { .. }
            | Q::GetUpload { .. }
            | Q::ListUploads { .. }
            | Q::GetAccessKey { .. }
            | Q::ClusterMap
            | Q::GcPending { .. }
            | Q::GetBucketConfig { .. }
            | Q::ScanLayouts { .. }
            | Q::ClusterStatus
            | Q::ListAccessKeys
            | Q::GetVersion { .. }
            | Q::ListVersions { .. }
            | Q::GetCursor { .. }
            | Q::ListRegions
            | Q::GetClaim { .. }
            | Q::ListClaims { .. }
            | Q::ReplicationTasks { .. }
            | Q::GetIdentity { .. }
            | Q::ListUsers
            | Q::ListKmsKeys
            | Q::ScanSse { .. } => true,
            Q::CreateBucket { .. }
            | Q::DeleteBucket { .. }
            | Q::PutObject { .. }
            | Q::DeleteObject { .. }
            | Q::CreateUpload { .. }
            | Q::PutPart { .. }
            | Q::CompleteUpload { .. }
            | Q::AbortUpload { .. }
            | Q::PutAccessKey { .. }
            | Q::RegisterNode { .. }
            | Q::PutObjectTags { .. }
            | Q::PutBucketTags { .. }
            | Q::GcDone { .. }
            | Q::PutBucketConfig { .. }
            | Q::DeleteBucketConfig { .. }
            | Q::SwapChunk { .. }
            | Q::Heartbeat { .. }
            | Q::SetNodeState { .. }
            | Q::DeleteAccessKey { .. }
            | Q::SetGrant { .. }
            | Q::Batch { .. }
            | Q::TakeLease { .. }
            | Q::WriteObject { .. }
            | Q::DeleteVersion { .. }
            | Q::FinishUpload { .. }
            | Q::PutVersionTags { .. }
            | Q::CreateBucketWith { .. }
            | Q::SetRetention { .. }
            | Q::SetLegalHold { .. }
            | Q::Expire { .. }
            | Q::SetCursor { .. }
            | Q::PutRegion { .. }
            | Q::ClaimBucket { .. }
            | Q::ReleaseBucket { .. }
            | Q::WriteReplica { .. }
            | Q::ReplicationDone { .. }
            | Q::ReplicationRetry { .. }
            | Q::ReplicaChange { .. }
            | Q::ReplicationResync { .. }
            | Q::CreateUser { .. }
            | Q::DeleteUser { .. }
            | Q::SetUserPolicy { .. }
            | Q::CreateUserKey { .. }
            | Q::SetKeyDisabled { .. }
            | Q::ReplaceUsers { .. }
            | Q::PutVersionAcl { .. }
            | Q::PutKmsKey { .. }
            | Q::ResealSse { .. } => false,
        }
    }
}

impl MetaError {
    /// The variant's name: a static metric label (`result` of `shale_metadata_requests_total`).
    pub fn kind(&self) -> &'static str {
        use MetaError as E;
        match self {
            E::NoSuchBucket => "NoSuchBucket",
            E::BucketAlreadyExists => "BucketAlreadyExists",
            E::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            E::BucketNotEmpty => "BucketNotEmpty",
            E::NoSuchKey => "NoSuchKey",
            E::NoSuchUpload => "NoSuchUpload",
            E::InvalidPart { .. } => "InvalidPart",
            E::InvalidPartOrder => "InvalidPartOrder",
            E::EntityTooSmall => "EntityTooSmall",
            E::PreconditionFailed => "PreconditionFailed",
            E::InvalidArgument { .. } => "InvalidArgument",
            E::InvalidRequest { .. } => "InvalidRequest",
            E::BadDigest { .. } => "BadDigest",
            E::Unavailable { .. } => "Unavailable",
            E::Internal { .. } => "Internal",
            E::NotLeader { .. } => "NotLeader",
            E::NoSuchVersion => "NoSuchVersion",
            E::AccessDenied { .. } => "AccessDenied",
            E::InvalidBucketState { .. } => "InvalidBucketState",
            E::MethodNotAllowed => "MethodNotAllowed",
        }
    }
}

impl MetaRequest {
    /// The variant's name: a static metric label (`kind` of `shale_metadata_requests_total`).
    pub fn kind(&self) -> &'static str {
        use MetaRequest as Q;
        match self {
            Q::CreateBucket { .. } => "CreateBucket",
            Q::DeleteBucket { .. } => "DeleteBucket",
            Q::GetBucket { .. } => "GetBucket",
            Q::ListBuckets => "ListBuckets",
            Q::PutObject { .. } => "PutObject",
            Q::GetObject { .. } => "GetObject",
            Q::DeleteObject { .. } => "DeleteObject",
            Q::ListObjects { .. } => "ListObjects",
            Q::CreateUpload { .. } => "CreateUpload",
            Q::PutPart { .. } => "PutPart",
            Q::ListParts { .. } => "ListParts",
            Q::CompleteUpload { .. } => "CompleteUpload",
            Q::AbortUpload { .. } => "AbortUpload",
            Q::GetUpload { .. } => "GetUpload",
            Q::ListUploads { .. } => "ListUploads",
            Q::PutAccessKey { .. } => "PutAccessKey",
            Q::GetAccessKey { .. } => "GetAccessKey",
            Q::RegisterNode { .. } => "RegisterNode",
            Q::ClusterMap => "ClusterMap",
            Q::PutObjectTags { .. } => "PutObjectTags",
            Q::PutBucketTags { .. } => "PutBucketTags",
            Q::GcPending { .. } => "GcPending",
            Q::GcDone { .. } => "GcDone",
            Q::GetBucketConfig { .. } => "GetBucketConfig",
            Q::PutBucketConfig { .. } => "PutBucketConfig",
            Q::DeleteBucketConfig { .. } => "DeleteBucketConfig",
            Q::ScanLayouts { .. } => "ScanLayouts",
            Q::SwapChunk { .. } => "SwapChunk",
            Q::Heartbeat { .. } => "Heartbeat",
            Q::ClusterStatus => "ClusterStatus",
            Q::SetNodeState { .. } => "SetNodeState",
            Q::ListAccessKeys => "ListAccessKeys",
            Q::DeleteAccessKey { .. } => "DeleteAccessKey",
            Q::SetGrant { .. } => "SetGrant",
            Q::Batch { .. } => "Batch",
            Q::TakeLease { .. } => "TakeLease",
            Q::WriteObject { .. } => "WriteObject",
            Q::GetVersion { .. } => "GetVersion",
            Q::DeleteVersion { .. } => "DeleteVersion",
            Q::FinishUpload { .. } => "FinishUpload",
            Q::PutVersionTags { .. } => "PutVersionTags",
            Q::ListVersions { .. } => "ListVersions",
            Q::CreateBucketWith { .. } => "CreateBucketWith",
            Q::SetRetention { .. } => "SetRetention",
            Q::SetLegalHold { .. } => "SetLegalHold",
            Q::Expire { .. } => "Expire",
            Q::SetCursor { .. } => "SetCursor",
            Q::GetCursor { .. } => "GetCursor",
            Q::PutRegion { .. } => "PutRegion",
            Q::ListRegions => "ListRegions",
            Q::ClaimBucket { .. } => "ClaimBucket",
            Q::ReleaseBucket { .. } => "ReleaseBucket",
            Q::GetClaim { .. } => "GetClaim",
            Q::ListClaims { .. } => "ListClaims",
            Q::WriteReplica { .. } => "WriteReplica",
            Q::ReplicationTasks { .. } => "ReplicationTasks",
            Q::ReplicationDone { .. } => "ReplicationDone",
            Q::ReplicationRetry { .. } => "ReplicationRetry",
            Q::ReplicaChange { .. } => "ReplicaChange",
            Q::ReplicationResync { .. } => "ReplicationResync",
            Q::GetIdentity { .. } => "GetIdentity",
            Q::CreateUser { .. } => "CreateUser",
            Q::DeleteUser { .. } => "DeleteUser",
            Q::ListUsers => "ListUsers",
            Q::SetUserPolicy { .. } => "SetUserPolicy",
            Q::CreateUserKey { .. } => "CreateUserKey",
            Q::SetKeyDisabled { .. } => "SetKeyDisabled",
            Q::ReplaceUsers { .. } => "ReplaceUsers",
            Q::PutVersionAcl { .. } => "PutVersionAcl",
            Q::PutKmsKey { .. } => "PutKmsKey",
            Q::ListKmsKeys => "ListKmsKeys",
            Q::ScanSse { .. } => "ScanSse",
            Q::ResealSse { .. } => "ResealSse",
        }
    }
}

/// One entry of the garbage-collection queue: chunks that no row references
/// any more, queued together by the change that unreferenced them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcEntry {
    /// The entry's key in the queue (for `GcDone`).
    pub key: Vec<u8>,
    /// When it was queued (Unix ms).
    pub queued_ms: u64,
    /// The chunks to delete.
    pub chunks: Vec<shale_common::ChunkPlacement>,
}

/// The successful answer to a `MetaRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaResponse {
    /// No value.
    Unit,
    /// One bucket.
    Bucket(Bucket),
    /// A bucket, if it exists.
    MaybeBucket(Option<Bucket>),
    /// Buckets sorted by name.
    Buckets(Vec<Bucket>),
    /// One object row.
    Object(ObjectRow),
    /// An object row, if there was one.
    MaybeObject(Option<ObjectRow>),
    /// A ListObjects answer.
    ListObjects(ListObjectsResult),
    /// A part row, if there was one.
    MaybePart(Option<PartRow>),
    /// A ListParts answer.
    ListParts(ListPartsResult),
    /// One upload.
    Upload(Upload),
    /// A ListUploads answer.
    ListUploads(ListUploadsResult),
    /// An access key, if it exists.
    MaybeAccessKey(Option<AccessKey>),
    /// Storage nodes sorted by id.
    Nodes(Vec<NodeInfo>),
    /// GC queue entries, oldest first.
    GcEntries(Vec<GcEntry>),
    /// A bucket configuration, if the bucket has one of that kind.
    MaybeBucketConfig(Option<BucketConfig>),
    /// One page of erasure-coded layouts.
    Layouts(LayoutPage),
    /// Whether a conditional swap happened.
    Swapped(bool),
    /// The cluster map.
    Cluster(ClusterView),
    /// Access keys sorted by id.
    AccessKeys(Vec<AccessKey>),
    /// The answers of a `MetaRequest::Batch`, in its order.
    Batch(Vec<Result<MetaResponse, MetaError>>),
    /// Whether the lease was taken.
    Lease(bool),
    /// The version a write made.
    Written(WriteAnswer),
    /// The version a read found.
    Version(VersionView),
    /// The version a delete or a tagging changed.
    Removed(VersionAnswer),
    /// A ListObjectVersions answer.
    Versions(ListVersionsResult),
    /// A worker's stored progress, if any.
    Cursor(Option<Vec<u8>>),
    /// Linked regions by name.
    Regions(Vec<(String, RegionLink)>),
    /// Where a bucket lives, if anywhere.
    Claim(Option<BucketClaim>),
    /// Claims by bucket name.
    Claims(Vec<(String, BucketClaim)>),
    /// Replication tasks with their keys, oldest first.
    ReplicationTasks(Vec<(Vec<u8>, ReplicationTask)>),
    /// How many rows a request changed.
    Count(u64),
    /// A page of a resync.
    Resync(ResyncPage),
    /// An access key and its user, if the key exists.
    MaybeIdentity(Option<Identity>),
    /// Users by name.
    Users(Vec<UserEntry>),
    /// KMS keys by id.
    KmsKeys(Vec<KmsKey>),
    /// A page of rows with sealed object keys.
    SsePage(SsePage),
}
