//! Replica writes: the headers with which a replication worker writes a
//! version of another bucket here, keeping its version id and time.
//!
//! They are honoured from a root key of the deployment (the key the
//! regions' links sign with, allowed to replicate into every bucket), or
//! from a caller the destination bucket's policy (or its user's policy)
//! allows the replication action (`s3:ReplicateObject`,
//! `s3:ReplicateDelete`, `s3:ReplicateTags`) on the object; from anyone
//! else they are refused with 403 AccessDenied, never ignored: a client
//! that could set them could forge versions, ids and times (MinIO's
//! CVE-2023-28434 family). A grant alone never allows them.

use super::*;

/// The version id (16 hex digits: its order) a replica keeps.
pub const REPLICA_VERSION: &str = "x-shale-replica-version";
/// The source version's Last-Modified, in ms since the epoch.
pub const REPLICA_LAST_MODIFIED: &str = "x-shale-replica-last-modified";
/// A replicated lock change's legal hold (`ON`, `OFF`; absent: none),
/// beside the retention of its PutObjectRetention.
pub const REPLICA_LEGAL_HOLD: &str = "x-shale-replica-legal-hold";

/// A replica write's identity at its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replica {
    /// The version's order (its id's value).
    pub order: u64,
    /// Its Last-Modified at the source.
    pub last_modified_ms: i64,
}

/// The replica a request writes, if it carries the replica headers:
/// both of them, well formed, from a root key.
pub(super) fn replica_of(
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
    action: &str,
    (bucket, key): (&str, &str),
) -> S3Result<Option<Replica>> {
    let version = headers.get(REPLICA_VERSION);
    let modified = headers.get(REPLICA_LAST_MODIFIED);
    if version.is_none() && modified.is_none() {
        return Ok(None);
    }
    let root = extensions.get::<Caller>().is_some_and(|c| c.0.is_root());
    let allowed = || {
        extensions
            .get::<Authorization>()
            .is_some_and(|a| a.policies_allow(action, &shale_policy::object_arn(bucket, key)))
    };
    if !root && !allowed() {
        return Err(s3_error!(
            AccessDenied,
            "Replica headers are accepted only from the deployment's replication key"
        ));
    }
    let parse = || -> Option<Replica> {
        let v = version?.to_str().ok()?;
        let order = (v.len() == 16)
            .then(|| u64::from_str_radix(v, 16).ok())
            .flatten()
            .filter(|o| *o != 0)?;
        let last_modified_ms = modified?.to_str().ok()?.parse().ok()?;
        Some(Replica {
            order,
            last_modified_ms,
        })
    };
    parse().map(Some).ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "{} must be 16 hex digits and {} a time in ms, both given",
            REPLICA_VERSION,
            REPLICA_LAST_MODIFIED
        )
    })
}
