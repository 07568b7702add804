//! The built-in key service's keys (SSE-KMS): rows `kms/<id>` of the
//! `cluster` family, replicated with the rest of the catalogue.

use serde::{Deserialize, Serialize};

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
