//! What the listings answer: ListObjects, ListObjectVersions, ListParts,
//! ListMultipartUploads.

use super::{PartRow, Upload};
use serde::{Deserialize, Serialize};

/// One entry of a ListObjectVersions answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSummary {
    /// The object key.
    pub key: String,
    /// `null` or the version's id.
    pub version_id: String,
    /// Whether it is the key's latest version.
    pub is_latest: bool,
    /// Whether it is a delete marker.
    pub delete_marker: bool,
    /// Plain bytes (0 for a marker).
    pub size: u64,
    /// Without quotes (empty for a marker).
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// The key that wrote it.
    pub owner: Option<String>,
    /// Its order among the key's versions ([`VersionMeta::order`]).
    pub order: u64,
    /// When it stopped being current (Unix ms; 0 while current).
    pub noncurrent_ms: i64,
}

/// Answer to a ListObjectVersions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListVersionsResult {
    /// Versions and delete markers: keys in order, each key's newest first.
    pub versions: Vec<VersionSummary>,
    /// Rolled-up prefixes, in order, each ending with the delimiter.
    pub common_prefixes: Vec<String>,
    /// True when more entries follow.
    pub is_truncated: bool,
    /// When truncated: the key (or common prefix) of the last entry.
    pub next_key_marker: Option<String>,
    /// When truncated and the last entry is a version: its id.
    pub next_version_id_marker: Option<String>,
}

/// One entry of a ListObjects answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSummary {
    /// The object key.
    pub key: String,
    /// Plain bytes in the object.
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// The version's [`ObjectRow::owner`].
    pub owner: Option<String>,
}

/// Answer to a ListObjects (V2 semantics).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListObjectsResult {
    /// Objects, by key in UTF-8 byte order.
    pub objects: Vec<ObjectSummary>,
    /// Rolled-up prefixes, in order, each ending with the delimiter.
    pub common_prefixes: Vec<String>,
    /// True when more entries follow.
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned; pass it back
    /// as `start_after` to continue.
    pub next_marker: Option<String>,
}

/// Answer to a ListParts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPartsResult {
    /// Parts in ascending part number.
    pub parts: Vec<PartRow>,
    /// True when more parts follow.
    pub is_truncated: bool,
    /// When truncated: the last part number returned.
    pub next_part_number_marker: Option<u32>,
}

/// Answer to a ListMultipartUploads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListUploadsResult {
    /// Uploads ordered by key, then by upload id.
    pub uploads: Vec<Upload>,
    /// Rolled-up prefixes, in order, each ending with the delimiter.
    pub common_prefixes: Vec<String>,
    /// True when more entries follow.
    pub is_truncated: bool,
    /// When truncated: the key (or common prefix) of the last entry.
    pub next_key_marker: Option<String>,
    /// When truncated and the last entry is an upload: its id.
    pub next_upload_id_marker: Option<String>,
}
