//! Regions (row format v8, the `regions` family): links to other regions
//! and the namespace region's registry of bucket names.

use serde::{Deserialize, Serialize};

/// A linked region, as this region knows it (`shale admin region add`),
/// kept in the `regions` family under `link/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionLink {
    /// Its S3 endpoint, `http://host:port`.
    pub endpoint: String,
    /// The access key requests to that region are signed with: a root key
    /// of the deployment (keys are the same in every region).
    pub access_key: String,
    /// True for the deployment's namespace region: it holds the registry
    /// of bucket names and the identities the other regions mirror.
    pub namespace: bool,
}

/// A bucket name taken in the namespace region's registry, kept in the
/// `regions` family under `claim/<bucket>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketClaim {
    /// The region that holds the bucket.
    pub region: String,
    /// The access key that created it (`None`: a root key, or before keys
    /// had owners).
    pub owner: Option<String>,
    /// When the name was taken (the Raft entry's time).
    pub created_ms: i64,
}
