//! Server-side encryption in the catalogue: the header a version's sealed
//! object key is kept in, the re-sealing worker's pages, and the built-in
//! key service's keys (SSE-KMS: rows `kms/<id>` of the `cluster` family,
//! replicated with the rest of the catalogue).

use serde::{Deserialize, Serialize};

use super::LayoutOwner;

/// One KMS key: its versions' material is sealed under the gateways'
/// master key by the gateway that made it, so the metadata service, its
/// Raft log and snapshots never hold it in the clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsKey {
    /// The key's id (a UUID, as AWS KMS's).
    pub id: String,
    /// What the operator said it is for.
    pub description: String,
    /// Unix ms of its creation.
    pub created_ms: i64,
    /// A disabled key seals nothing, and what it sealed does not open
    /// until it is enabled again.
    pub enabled: bool,
    /// Its versions, oldest first: the last seals new objects' keys, every
    /// one opens the keys it sealed (rotation adds one).
    pub versions: Vec<KmsKeyVersion>,
}

/// One version of a [`KmsKey`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsKeyVersion {
    /// Unix ms of its creation.
    pub created_ms: i64,
    /// 32 bytes of key material, sealed under the master key
    /// (`shale-sealed-v1:<master key id>:…`).
    pub material: String,
}

/// The system header an encrypted version's (or upload's) object key is
/// kept in, sealed (`shale_datapath::sse`); never answered as a header.
pub const SSE_HEADER: &str = "x-shale-sse";

/// One page of [`crate::MetaRequest::ScanSse`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsePage {
    /// The rows with a sealed object key, and its header's value.
    pub entries: Vec<(LayoutOwner, String)>,
    /// Rows looked at.
    pub scanned: u64,
    /// Pass it back for the next page; `None` when the scan is complete.
    pub next: Option<Vec<u8>>,
}
