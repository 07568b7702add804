//! Erasure-coded layouts as the healer and the GC scan them
//! ([`crate::MetaRequest::ScanLayouts`]).

use serde::{Deserialize, Serialize};
use shale_common::PartLayout;

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
