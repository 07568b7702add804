//! Erasure-coded layouts as the healer and the GC scan them
//! ([`crate::MetaRequest::ScanLayouts`]).

use serde::{Deserialize, Serialize};
use shale_common::{ChunkPlacement, PartLayout};

/// Whose layout a [`LayoutEntry`] is: an object's, or the parts of a
/// multipart upload in progress.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LayoutOwner {
    /// The object row of `key` in `bucket`.
    Object {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
    /// The part rows of upload `upload_id` of `key` in `bucket`.
    Upload {
        /// The bucket.
        bucket: String,
        /// The object key of the upload.
        key: String,
        /// The upload.
        upload_id: String,
    },
    /// A version of `key` that is not its current one (`versions` rows).
    Version {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
        /// The version's order ([`crate::VersionMeta::order`]).
        seq: u64,
    },
}

/// The erasure-coded parts of one owner (inline objects are left out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutEntry {
    /// Whose parts these are.
    pub owner: LayoutOwner,
    /// The parts (for an upload: every part uploaded so far).
    pub parts: Vec<PartLayout>,
}

/// One page of [`crate::MetaRequest::ScanLayouts`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutPage {
    /// Owners in scan order.
    pub entries: Vec<LayoutEntry>,
    /// Pass it back for the next page; `None` when the scan is complete.
    pub next: Option<Vec<u8>>,
}

/// The cursor (`GetCursor`) that holds how many writes were committed with
/// a chunk recorded not durable (the gateway acknowledged the PUT with
/// fewer than k+m chunks written), a big-endian `u64`. The metadata service
/// counts them in the same batch as the row that carries such a placement,
/// so the healer can tell whether anything of the kind was written since
/// its last sweep without reading every layout.
pub const UNDURABLE_CURSOR: &str = "heal/undurable";

/// The count [`UNDURABLE_CURSOR`] holds (0 when it was never set).
pub fn undurable_count(raw: Option<&[u8]>) -> u64 {
    raw.and_then(|r| <[u8; 8]>::try_from(r).ok())
        .map_or(0, u64::from_be_bytes)
}

impl crate::MetaRequest {
    /// True when the request writes a layout with a chunk recorded not
    /// durable: a version, a replica or a part.
    pub fn writes_undurable_chunks(&self) -> bool {
        use crate::MetaRequest as Q;
        let undurable = |c: &ChunkPlacement| !c.durable;
        match self {
            Q::PutObject { row, .. } | Q::WriteObject { row, .. } | Q::WriteReplica { row, .. } => {
                row.data.chunks().into_iter().any(undurable)
            }
            Q::PutPart { part, .. } => part
                .layout
                .segments
                .iter()
                .flat_map(|s| s.chunks.iter())
                .any(undurable),
            _ => false,
        }
    }
}
