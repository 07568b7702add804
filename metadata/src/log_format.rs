//! How Raft log entries are stored, and the older entries still read.
//!
//! A log entry stores a [`Command`], whose request may carry rows (an object
//! row in PutObject, an upload in CreateUpload). When a row format changes
//! the shape of those requests, an entry written before no longer decodes
//! as the current type, and postcard (no framing, no field names) cannot
//! tell it apart: it would misread the fields that follow the row. So the
//! log records its own format: every entry this binary writes starts with
//! [`MARK`] and the format number [`FORMAT`]; an entry without the mark was
//! written by a release before row format v5 (log format 4) and is decoded
//! with a frozen copy of that release's request types, then converted.
//!
//! An unmarked entry starts with its log id, whose first field (the term) is
//! a postcard varint of at most ten bytes, the tenth below 0x02: ten 0xFF
//! bytes are never one, so a marked entry is never taken for an old one.
//! A later change of a request's shape adds a format number and a frozen
//! copy of the types it replaces, as this one did for format 4. A binary
//! from before format 5 cannot read marked entries: a rollback past it
//! needs a log purged up to a snapshot first.

use crate::raft::{Command, TypeConfig};
use crate::types::{
    AccessKey, BucketConfig, BucketConfigKind, CompleteChecks, Heartbeat, LayoutOwner, MetaRequest,
    NodeState, ObjectChecksum, ObjectRow, PartRow, Permission, Upload, UploadChecksum,
};
use openraft::{Entry, EntryPayload};
use serde::{Deserialize, Serialize};
use shale_common::{NodeInfo, ObjectData};
use std::io::Cursor;

/// The mark every entry of format 5 or later starts with.
pub(crate) const MARK: [u8; 10] = [0xFF; 10];
/// The format of the entries this binary writes: 5, requests whose rows
/// carry owners (row format v5).
pub(crate) const FORMAT: u8 = 5;

/// An entry as stored: [`MARK`], [`FORMAT`], the postcard entry.
pub(crate) fn encode_entry(entry: &Entry<TypeConfig>) -> Result<Vec<u8>, String> {
    let mut raw = Vec::with_capacity(64);
    raw.extend_from_slice(&MARK);
    raw.push(FORMAT);
    postcard::to_extend(entry, raw).map_err(|e| format!("encode log entry: {e}"))
}

/// A stored entry, whatever log format it was written in.
pub(crate) fn decode_entry(raw: &[u8]) -> Result<Entry<TypeConfig>, String> {
    match raw.strip_prefix(&MARK) {
        Some([FORMAT, rest @ ..]) => {
            postcard::from_bytes(rest).map_err(|e| format!("corrupt log entry: {e}"))
        }
        Some(other) => Err(format!(
            "log entry of format {:?}, unknown to this binary (newer?)",
            other.first()
        )),
        None => {
            let old: Entry<TypeConfigV4> = postcard::from_bytes(raw)
                .map_err(|e| format!("corrupt log entry (format 4): {e}"))?;
            let payload = match old.payload {
                EntryPayload::Blank => EntryPayload::Blank,
                EntryPayload::Normal(c) => EntryPayload::Normal(Command {
                    req: c.req.upgrade()?,
                    now_ms: c.now_ms,
                    request_id: c.request_id,
                }),
                EntryPayload::Membership(m) => EntryPayload::Membership(m),
            };
            Ok(Entry {
                log_id: old.log_id,
                payload,
            })
        }
    }
}

openraft::declare_raft_types!(
    /// The Raft types of log format 4 (only ever decoded).
    pub(crate) TypeConfigV4:
        D = CommandV4,
        R = crate::raft::Answer,
);

/// [`Command`] of log format 4.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CommandV4 {
    pub(crate) req: MetaRequestV4,
    pub(crate) now_ms: i64,
    pub(crate) request_id: u128,
}

/// [`ObjectRow`] of row format v4 (as PutObject carried it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ObjectRowV4 {
    pub(crate) size: u64,
    pub(crate) etag: String,
    pub(crate) last_modified_ms: i64,
    pub(crate) content_type: Option<String>,
    pub(crate) system_headers: Vec<(String, String)>,
    pub(crate) user_metadata: Vec<(String, String)>,
    pub(crate) parts_count: Option<u32>,
    pub(crate) data: ObjectData,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) checksum: Option<ObjectChecksum>,
}

/// [`Upload`] of row format v4 (as CreateUpload carried it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadV4 {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) upload_id: String,
    pub(crate) initiated_ms: i64,
    pub(crate) content_type: Option<String>,
    pub(crate) system_headers: Vec<(String, String)>,
    pub(crate) user_metadata: Vec<(String, String)>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) checksum: Option<UploadChecksum>,
}

/// [`MetaRequest`] of log format 4: every variant, in order (postcard
/// encodes the variant index). Only the ones that carried rows, and
/// CreateBucket, differ from today's.
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MetaRequestV4 {
    CreateBucket {
        name: String,
        region: String,
    },
    DeleteBucket {
        name: String,
    },
    GetBucket {
        name: String,
    },
    ListBuckets,
    PutObject {
        bucket: String,
        key: String,
        row: ObjectRowV4,
        if_none_match: bool,
        if_match: Option<String>,
    },
    GetObject {
        bucket: String,
        key: String,
    },
    DeleteObject {
        bucket: String,
        key: String,
    },
    ListObjects {
        bucket: String,
        prefix: String,
        delimiter: Option<String>,
        start_after: Option<String>,
        max_keys: u32,
    },
    CreateUpload {
        upload: UploadV4,
    },
    PutPart {
        bucket: String,
        key: String,
        upload_id: String,
        part: PartRow,
    },
    ListParts {
        bucket: String,
        key: String,
        upload_id: String,
        part_number_marker: u32,
        max_parts: u32,
    },
    CompleteUpload {
        bucket: String,
        key: String,
        upload_id: String,
        parts: Vec<(u32, String)>,
        checks: CompleteChecks,
        if_none_match: bool,
    },
    AbortUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    GetUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    ListUploads {
        bucket: String,
        prefix: String,
        delimiter: Option<String>,
        key_marker: Option<String>,
        upload_id_marker: Option<String>,
        max_uploads: u32,
    },
    PutAccessKey {
        key: AccessKey,
    },
    GetAccessKey {
        access_key: String,
    },
    RegisterNode {
        node: NodeInfo,
    },
    ClusterMap,
    PutObjectTags {
        bucket: String,
        key: String,
        tags: Vec<(String, String)>,
    },
    PutBucketTags {
        bucket: String,
        tags: Vec<(String, String)>,
    },
    GcPending {
        limit: u32,
        queued_before_ms: u64,
    },
    GcDone {
        keys: Vec<Vec<u8>>,
    },
    GetBucketConfig {
        bucket: String,
        kind: BucketConfigKind,
    },
    PutBucketConfig {
        bucket: String,
        config: BucketConfig,
    },
    DeleteBucketConfig {
        bucket: String,
        kind: BucketConfigKind,
    },
    ScanLayouts {
        cursor: Vec<u8>,
        limit: u32,
    },
    SwapChunk {
        owner: LayoutOwner,
        part_number: u32,
        segment: u32,
        shard: u32,
        old: shale_common::ChunkPlacement,
        new: shale_common::ChunkPlacement,
    },
    Heartbeat {
        heartbeat: Heartbeat,
    },
    ClusterStatus,
    SetNodeState {
        node: shale_common::NodeId,
        state: NodeState,
    },
    ListAccessKeys,
    DeleteAccessKey {
        access_key: String,
    },
    SetGrant {
        access_key: String,
        bucket: String,
        permission: Option<Permission>,
    },
    Batch {
        items: Vec<(u128, MetaRequestV4)>,
    },
    TakeLease {
        name: String,
        holder: String,
        ttl_ms: u64,
    },
}

impl MetaRequestV4 {
    /// The same request today, with no owner where the request now has one.
    fn upgrade(self) -> Result<MetaRequest, String> {
        use MetaRequestV4 as Q;
        Ok(match self {
            Q::CreateBucket { name, region } => MetaRequest::CreateBucket {
                name,
                region,
                owner: None,
            },
            Q::PutObject {
                bucket,
                key,
                row,
                if_none_match,
                if_match,
            } => MetaRequest::PutObject {
                bucket,
                key,
                row: ObjectRow {
                    size: row.size,
                    etag: row.etag,
                    last_modified_ms: row.last_modified_ms,
                    content_type: row.content_type,
                    system_headers: row.system_headers,
                    user_metadata: row.user_metadata,
                    parts_count: row.parts_count,
                    data: row.data,
                    tags: row.tags,
                    checksum: row.checksum,
                    owner: None,
                },
                if_none_match,
                if_match,
            },
            Q::CreateUpload { upload: u } => MetaRequest::CreateUpload {
                upload: Upload {
                    bucket: u.bucket,
                    key: u.key,
                    upload_id: u.upload_id,
                    initiated_ms: u.initiated_ms,
                    content_type: u.content_type,
                    system_headers: u.system_headers,
                    user_metadata: u.user_metadata,
                    tags: u.tags,
                    checksum: u.checksum,
                    owner: None,
                },
            },
            Q::Batch { items } => MetaRequest::Batch {
                items: items
                    .into_iter()
                    .map(|(id, req)| Ok((id, req.upgrade()?)))
                    .collect::<Result<_, String>>()?,
            },
            // Every other variant is encoded exactly as today's of the same
            // index: re-reading its bytes as today's type converts it.
            same => {
                let raw = postcard::to_stdvec(&same).map_err(|e| e.to_string())?;
                postcard::from_bytes(&raw).map_err(|e| format!("log entry (format 4): {e}"))?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LogId};

    #[test]
    fn marked_entries_round_trip_and_unknown_formats_are_refused() {
        let entry = Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(u64::MAX, 1), u64::MAX),
            payload: EntryPayload::Blank,
        };
        let raw = encode_entry(&entry).unwrap();
        assert_eq!(decode_entry(&raw).unwrap(), entry);
        // The largest term an unmarked entry can start with is not the mark.
        let old = postcard::to_stdvec(&Entry::<TypeConfigV4> {
            log_id: entry.log_id,
            payload: EntryPayload::Blank,
        })
        .unwrap();
        assert!(!old.starts_with(&MARK));
        assert_eq!(decode_entry(&old).unwrap(), entry);
        let mut newer = raw.clone();
        newer[MARK.len()] = FORMAT + 1;
        assert!(decode_entry(&newer).unwrap_err().contains("format"));
        assert!(decode_entry(&raw[..raw.len() - 1]).is_err());
    }
}
