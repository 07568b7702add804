//! Row format compatibility: rows as the v1 code wrote them, put straight
//! into RocksDB, must read back through the store.

use super::*;
use crate::log_format::{ObjectRowV4, UploadV4};
use serde::Deserialize;
use shale_common::{Coding, SegmentLayout};

/// `Bucket` as row format v1 had it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct BucketV1 {
    name: String,
    region: String,
    created_ms: i64,
}

/// `ObjectRow` as row format v1 had it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct ObjectRowV1 {
    size: u64,
    etag: String,
    last_modified_ms: i64,
    content_type: Option<String>,
    system_headers: Vec<(String, String)>,
    user_metadata: Vec<(String, String)>,
    parts_count: Option<u32>,
    data: ObjectData,
}

/// `Upload` as row format v1 had it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct UploadV1 {
    bucket: String,
    key: String,
    upload_id: String,
    initiated_ms: i64,
    content_type: Option<String>,
    system_headers: Vec<(String, String)>,
    user_metadata: Vec<(String, String)>,
}

fn coded_object() -> ObjectRowV1 {
    ObjectRowV1 {
        size: 10,
        etag: "abc".into(),
        last_modified_ms: 42,
        content_type: Some("text/plain".into()),
        system_headers: vec![("cache-control".into(), "no-cache".into())],
        user_metadata: vec![("k".into(), "v".into())],
        parts_count: Some(1),
        data: ObjectData::Parts(vec![PartLayout {
            number: 1,
            size: 10,
            etag: "abc".into(),
            coding: Coding::default(),
            segments: vec![SegmentLayout {
                size: 10,
                shard_size: 3,
                chunks: vec![ChunkPlacement {
                    node: 1,
                    chunk_id: "c1".into(),
                    durable: true,
                }],
            }],
        }]),
    }
}

fn put_raw(s: &MetaStore, cf: &str, key: &[u8], value: &impl Serialize) {
    s.db.put_cf(s.cf(cf).unwrap(), key, postcard::to_stdvec(value).unwrap())
        .unwrap();
}

#[test]
fn v1_rows_read_as_rows_without_tags() {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path()).unwrap();
    let bucket = BucketV1 {
        name: "old".into(),
        region: "r".into(),
        created_ms: 7,
    };
    put_raw(&s, CF_BUCKETS, b"old", &bucket);
    let coded = coded_object();
    put_raw(
        &s,
        CF_OBJECTS,
        &keys::object_key("old", "k").unwrap(),
        &coded,
    );
    let inline = ObjectRowV1 {
        data: ObjectData::Inline(b"hi".to_vec()),
        parts_count: None,
        ..coded_object()
    };
    put_raw(
        &s,
        CF_OBJECTS,
        &keys::object_key("old", "i").unwrap(),
        &inline,
    );
    let upload = UploadV1 {
        bucket: "old".into(),
        key: "m".into(),
        upload_id: "u".into(),
        initiated_ms: 9,
        content_type: None,
        system_headers: vec![],
        user_metadata: vec![("a".into(), "b".into())],
    };
    put_raw(
        &s,
        CF_UPLOADS,
        &keys::upload_key("old", "m", "u").unwrap(),
        &upload,
    );

    let b = s.get_bucket("old").unwrap().unwrap();
    assert_eq!((b.name.as_str(), b.created_ms), ("old", 7));
    assert!(b.tags.is_empty());
    assert_eq!(s.list_buckets().unwrap(), vec![b]);

    let o = s.get_object("old", "k").unwrap();
    assert_eq!(
        (o.size, o.etag.as_str(), o.last_modified_ms, o.parts_count),
        (10, "abc", 42, Some(1))
    );
    assert_eq!(o.data, coded.data);
    assert_eq!(o.user_metadata, coded.user_metadata);
    assert!(o.tags.is_empty());
    let i = s.get_object("old", "i").unwrap();
    assert_eq!(i.data, ObjectData::Inline(b"hi".to_vec()));
    let listed = s.list_objects("old", "", None, None, 10).unwrap();
    assert_eq!(listed.objects.len(), 2);

    let u = s.get_upload("old", "m", "u").unwrap();
    assert_eq!(u.user_metadata, upload.user_metadata);
    assert!(u.tags.is_empty());
    assert_eq!(
        s.list_uploads("old", "", None, None, None, 10)
            .unwrap()
            .uploads,
        vec![u]
    );

    // An old row takes tags; the v2 row it becomes keeps everything else.
    s.put_object_tags("old", "k", vec![("t".into(), "1".into())])
        .unwrap();
    let o2 = s.get_object("old", "k").unwrap();
    assert_eq!(o2.tags, vec![("t".to_string(), "1".to_string())]);
    assert_eq!(ObjectRow { tags: vec![], ..o2 }, o);
    s.put_bucket_tags("old", vec![("t".into(), "2".into())])
        .unwrap();
    assert_eq!(s.get_bucket("old").unwrap().unwrap().tags.len(), 1);
}

#[test]
fn v2_rows_read_as_v1_rows_for_a_rollback() {
    let v1 = coded_object();
    let v2 = ObjectRow {
        size: v1.size,
        etag: v1.etag.clone(),
        last_modified_ms: v1.last_modified_ms,
        content_type: v1.content_type.clone(),
        system_headers: v1.system_headers.clone(),
        user_metadata: v1.user_metadata.clone(),
        parts_count: v1.parts_count,
        data: v1.data.clone(),
        tags: vec![("a".into(), "b".into())],
        checksum: None,
        owner: None,
    };
    let raw = encode(&v2).unwrap();
    assert_eq!(postcard::from_bytes::<ObjectRowV1>(&raw).unwrap(), v1);
    // And with no tags, checksum or owner, the current format is exactly v1
    // plus the tails the decoder adds.
    let mut untagged = postcard::to_stdvec(&v1).unwrap();
    untagged.extend_from_slice(V2_TAGS);
    untagged.extend_from_slice(V3_CHECKSUMS);
    untagged.extend_from_slice(V5_OWNER);
    assert_eq!(encode(&ObjectRow { tags: vec![], ..v2 }).unwrap(), untagged);
}

/// `ObjectRow` as row format v2 had it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct ObjectRowV2 {
    size: u64,
    etag: String,
    last_modified_ms: i64,
    content_type: Option<String>,
    system_headers: Vec<(String, String)>,
    user_metadata: Vec<(String, String)>,
    parts_count: Option<u32>,
    data: ObjectData,
    tags: Vec<(String, String)>,
}

/// `Upload` as row format v2 had it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct UploadV2 {
    bucket: String,
    key: String,
    upload_id: String,
    initiated_ms: i64,
    content_type: Option<String>,
    system_headers: Vec<(String, String)>,
    user_metadata: Vec<(String, String)>,
    tags: Vec<(String, String)>,
}

/// `PartRow` as row formats v1 and v2 had it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct PartRowV2 {
    number: u32,
    size: u64,
    etag: String,
    last_modified_ms: i64,
    layout: PartLayout,
}

fn v2_object() -> ObjectRowV2 {
    let v1 = coded_object();
    ObjectRowV2 {
        size: v1.size,
        etag: v1.etag,
        last_modified_ms: v1.last_modified_ms,
        content_type: v1.content_type,
        system_headers: v1.system_headers,
        user_metadata: v1.user_metadata,
        parts_count: v1.parts_count,
        data: v1.data,
        tags: vec![("t".into(), "v".into())],
    }
}

fn v2_part(number: u32, body: &[u8]) -> PartRowV2 {
    let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(body));
    PartRowV2 {
        number,
        size: body.len() as u64,
        etag: etag.clone(),
        last_modified_ms: 5,
        layout: PartLayout {
            number,
            size: body.len() as u64,
            etag,
            coding: Coding::default(),
            segments: vec![],
        },
    }
}

#[test]
fn v2_rows_read_as_rows_without_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path()).unwrap();
    s.create_bucket("old", "r").unwrap();
    let object = v2_object();
    put_raw(
        &s,
        CF_OBJECTS,
        &keys::object_key("old", "k").unwrap(),
        &object,
    );
    let upload = UploadV2 {
        bucket: "old".into(),
        key: "m".into(),
        upload_id: "u".into(),
        initiated_ms: 9,
        content_type: Some("text/plain".into()),
        system_headers: vec![],
        user_metadata: vec![],
        tags: vec![("a".into(), "b".into())],
    };
    put_raw(
        &s,
        CF_UPLOADS,
        &keys::upload_key("old", "m", "u").unwrap(),
        &upload,
    );
    put_raw(&s, CF_PARTS, &keys::part_key("u", 1), &v2_part(1, b"hello"));

    let o = s.get_object("old", "k").unwrap();
    assert_eq!(o.tags, object.tags);
    assert_eq!(o.data, object.data);
    assert_eq!(o.checksum, None);
    assert_eq!(
        s.list_objects("old", "", None, None, 10).unwrap().objects[0].etag,
        "abc"
    );

    let u = s.get_upload("old", "m", "u").unwrap();
    assert_eq!((u.tags.clone(), u.checksum), (upload.tags.clone(), None));
    let parts = s.list_parts("old", "m", "u", 0, 10).unwrap().parts;
    assert_eq!(parts.len(), 1);
    assert_eq!((parts[0].size, parts[0].checksums.len()), (5, 0));

    // An upload whose parts predate checksums completes, without an
    // object checksum rather than with a wrong one.
    let done = s
        .complete_upload(
            "old",
            "m",
            "u",
            &[(1, parts[0].etag.clone())],
            &CompleteChecks::default(),
            false,
        )
        .unwrap();
    assert_eq!((done.size, &done.checksum), (5, &None));
    assert_eq!(done.tags, upload.tags);
    assert_eq!(s.get_object("old", "m").unwrap(), done);
}

#[test]
fn v3_rows_read_as_v2_rows_for_a_rollback() {
    let v2 = v2_object();
    let v3 = ObjectRow {
        size: v2.size,
        etag: v2.etag.clone(),
        last_modified_ms: v2.last_modified_ms,
        content_type: v2.content_type.clone(),
        system_headers: v2.system_headers.clone(),
        user_metadata: v2.user_metadata.clone(),
        parts_count: v2.parts_count,
        data: v2.data.clone(),
        tags: v2.tags.clone(),
        checksum: Some(ObjectChecksum {
            algorithm: ChecksumAlgorithm::Sha256,
            kind: ChecksumType::Composite,
            value: vec![7; 32],
            parts: vec![vec![1; 32], vec![2; 32]],
        }),
        owner: None,
    };
    let raw = encode(&v3).unwrap();
    assert_eq!(postcard::from_bytes::<ObjectRowV2>(&raw).unwrap(), v2);
    assert_eq!(decode::<ObjectRow>(&raw, CF_OBJECTS).unwrap(), v3);
    let part = PartRow {
        number: 2,
        size: 1,
        etag: "e".into(),
        last_modified_ms: 1,
        layout: v2_part(2, b"x").layout,
        checksums: vec![(ChecksumAlgorithm::Crc32, vec![1, 2, 3, 4])],
    };
    let raw = encode(&part).unwrap();
    assert_eq!(postcard::from_bytes::<PartRowV2>(&raw).unwrap().number, 2);
    assert_eq!(decode::<PartRow>(&raw, CF_PARTS).unwrap(), part);
}

/// `Bucket` as row formats v2 to v4 had it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct BucketV4 {
    name: String,
    region: String,
    created_ms: i64,
    tags: Vec<(String, String)>,
}

fn v4_object() -> ObjectRowV4 {
    let v2 = v2_object();
    ObjectRowV4 {
        size: v2.size,
        etag: v2.etag,
        last_modified_ms: v2.last_modified_ms,
        content_type: v2.content_type,
        system_headers: v2.system_headers,
        user_metadata: v2.user_metadata,
        parts_count: v2.parts_count,
        data: v2.data,
        tags: v2.tags,
        checksum: Some(ObjectChecksum {
            algorithm: ChecksumAlgorithm::Crc32,
            kind: ChecksumType::FullObject,
            value: vec![1, 2, 3, 4],
            parts: vec![],
        }),
    }
}

#[test]
fn v4_rows_read_as_rows_without_owners() {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path()).unwrap();
    let bucket = BucketV4 {
        name: "old".into(),
        region: "r".into(),
        created_ms: 7,
        tags: vec![("b".into(), "1".into())],
    };
    put_raw(&s, CF_BUCKETS, b"old", &bucket);
    let object = v4_object();
    put_raw(
        &s,
        CF_OBJECTS,
        &keys::object_key("old", "k").unwrap(),
        &object,
    );
    let upload = UploadV4 {
        bucket: "old".into(),
        key: "m".into(),
        upload_id: "u".into(),
        initiated_ms: 9,
        content_type: None,
        system_headers: vec![],
        user_metadata: vec![],
        tags: vec![],
        checksum: None,
    };
    put_raw(
        &s,
        CF_UPLOADS,
        &keys::upload_key("old", "m", "u").unwrap(),
        &upload,
    );
    put_raw(&s, CF_PARTS, &keys::part_key("u", 1), &v2_part(1, b"hello"));

    let b = s.get_bucket("old").unwrap().unwrap();
    assert_eq!((b.created_ms, &b.tags, &b.owner), (7, &bucket.tags, &None));
    assert_eq!(s.list_buckets().unwrap(), vec![b]);
    let o = s.get_object("old", "k").unwrap();
    assert_eq!((&o.checksum, &o.owner), (&object.checksum, &None));
    assert_eq!(o.data, object.data);
    let listed = s.list_objects("old", "", None, None, 10).unwrap();
    assert_eq!(listed.objects[0].owner, None);
    let u = s.get_upload("old", "m", "u").unwrap();
    assert_eq!((u.upload_id.as_str(), &u.owner), ("u", &None));
    assert_eq!(
        s.list_uploads("old", "", None, None, None, 10)
            .unwrap()
            .uploads,
        vec![u]
    );
    // An old upload completes into an object without an owner.
    let done = s
        .complete_upload(
            "old",
            "m",
            "u",
            &[(1, v2_part(1, b"hello").etag)],
            &CompleteChecks::default(),
            false,
        )
        .unwrap();
    assert_eq!(done.owner, None);
    // Rewriting an old row (new tags) keeps the rest, owner unknown.
    s.put_object_tags("old", "k", vec![]).unwrap();
    assert_eq!(
        s.get_object("old", "k").unwrap(),
        ObjectRow { tags: vec![], ..o }
    );
}

#[test]
fn v5_rows_keep_their_owner_and_read_as_v4_rows_for_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path()).unwrap();
    let b = s.create_owned_bucket("new", "r", Some("AKB")).unwrap();
    assert_eq!(
        s.get_bucket("new").unwrap().unwrap().owner.as_deref(),
        Some("AKB")
    );
    let old = postcard::from_bytes::<BucketV4>(&encode(&b).unwrap()).unwrap();
    assert_eq!(old.name, "new");

    let v4 = v4_object();
    let v5 = ObjectRow {
        size: v4.size,
        etag: v4.etag.clone(),
        last_modified_ms: v4.last_modified_ms,
        content_type: v4.content_type.clone(),
        system_headers: v4.system_headers.clone(),
        user_metadata: v4.user_metadata.clone(),
        parts_count: v4.parts_count,
        data: v4.data.clone(),
        tags: v4.tags.clone(),
        checksum: v4.checksum.clone(),
        owner: Some("AKO".into()),
    };
    let raw = encode(&v5).unwrap();
    assert_eq!(postcard::from_bytes::<ObjectRowV4>(&raw).unwrap(), v4);
    s.put_object("new", "k", v5.clone(), false, None).unwrap();
    s.put_object_tags("new", "k", vec![("t".into(), "1".into())])
        .unwrap();
    let o = s.get_object("new", "k").unwrap();
    assert_eq!(o.owner.as_deref(), Some("AKO"), "tags keep the owner");
    let listed = s.list_objects("new", "", None, None, 10).unwrap();
    assert_eq!(listed.objects[0].owner.as_deref(), Some("AKO"));
}

#[test]
fn truncated_rows_are_still_corrupt() {
    let raw = encode(&coded_object()).unwrap();
    // Cut inside the v1 fields: padding cannot make that whole.
    assert!(matches!(
        decode::<ObjectRow>(&raw[..raw.len() / 2], CF_OBJECTS),
        Err(MetaError::Internal(_))
    ));
    // Families that did not grow are not padded: a GC entry cut before
    // its last byte would decode if it were.
    let entry = encode(&vec![ChunkPlacement {
        node: 1,
        chunk_id: "c".into(),
        durable: false,
    }])
    .unwrap();
    assert_eq!(entry.last(), Some(&0));
    assert!(decode::<Vec<ChunkPlacement>>(&entry, CF_GC_QUEUE).is_ok());
    assert!(decode::<Vec<ChunkPlacement>>(&entry[..entry.len() - 1], CF_GC_QUEUE).is_err());
}

#[test]
fn v3_node_and_key_rows_read_as_v4_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path()).unwrap();
    let info = NodeInfo {
        id: 7,
        addr: "127.0.0.1:1".into(),
        zone: "z".into(),
    };
    put_raw(&s, CF_CLUSTER, &keys::node_key(7), &info);
    let nodes = s.node_records().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].info, info);
    assert_eq!(nodes[0].state, NodeState::Active);
    assert_eq!(nodes[0].health, None);
    // No heartbeat yet: no lease, so up whatever the time.
    assert!(nodes[0].is_up(i64::MAX));

    #[derive(Serialize)]
    struct AccessKeyV3 {
        access_key: String,
        secret_key: String,
        name: String,
    }
    let v3 = AccessKeyV3 {
        access_key: "AK".into(),
        secret_key: "SK".into(),
        name: "old".into(),
    };
    put_raw(&s, CF_ACCESS_KEYS, b"AK", &v3);
    let key = s.get_access_key("AK").unwrap().unwrap();
    assert_eq!(key.secret_key, "SK");
    assert!(
        key.is_root(),
        "keys from before grants keep every permission"
    );
}

#[test]
fn a_data_dir_from_before_completion_records_opens_and_gets_them() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The column families of row format v4.
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let v4 = CF_STATE_MACHINE
            .iter()
            .chain(&CF_LOG_STORE)
            .filter(|n| **n != CF_COMPLETED_UPLOADS);
        let db = DB::open_cf(&opts, dir.path(), v4).unwrap();
        assert!(db.cf_handle(CF_COMPLETED_UPLOADS).is_none());
    }
    let s = MetaStore::open(dir.path()).unwrap();
    s.create_bucket("b", "r").unwrap();
    let upload = Upload {
        bucket: "b".into(),
        key: "k".into(),
        upload_id: "u".into(),
        initiated_ms: 1,
        content_type: None,
        system_headers: Vec::new(),
        user_metadata: Vec::new(),
        tags: Vec::new(),
        checksum: None,
        owner: None,
    };
    s.create_upload(upload).unwrap();
    let etag = "5d41402abc4b2a76b9719d911017c592";
    let ObjectData::Parts(mut layouts) = coded_object().data else {
        unreachable!("coded_object has parts")
    };
    layouts[0].etag = etag.into();
    let part = PartRow {
        number: 1,
        size: 10,
        etag: etag.into(),
        last_modified_ms: 1,
        layout: layouts.remove(0),
        checksums: Vec::new(),
    };
    s.put_part("b", "k", "u", part).unwrap();
    let listed = [(1, etag.to_string())];
    let checks = CompleteChecks::default();
    let made = s.complete_upload("b", "k", "u", &listed, &checks, false);
    assert!(made.is_ok());
    assert_eq!(
        s.complete_upload("b", "k", "u", &listed, &checks, false),
        made
    );
}

#[test]
fn v7_version_fields_default_to_a_current_null_version() {
    assert_eq!(encode(&VersionMeta::LEGACY).unwrap(), V7_VERSION);
}

/// A data dir of the release before versions: its column families, and
/// objects rows without version fields (every row format from v1 to v5).
/// It opens, each object is its key's `null` version, and versioning
/// turned on keeps it as a noncurrent `null` version under the new one.
#[test]
fn a_data_dir_from_before_versions_serves_every_object_as_its_null_version() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let v6 = CF_STATE_MACHINE
            .iter()
            .chain(&CF_LOG_STORE)
            .filter(|n| **n != CF_VERSIONS && **n != CF_NULL_VERSIONS);
        let db = DB::open_cf(&opts, dir.path(), v6).unwrap();
        assert!(db.cf_handle(CF_VERSIONS).is_none());
    }
    let s = MetaStore::open(dir.path()).unwrap();
    s.create_bucket("b", "r").unwrap();
    let v4 = v4_object();
    let v5 = ObjectRow {
        size: v4.size,
        etag: v4.etag,
        last_modified_ms: 1_000,
        content_type: v4.content_type,
        system_headers: v4.system_headers,
        user_metadata: v4.user_metadata,
        parts_count: v4.parts_count,
        data: v4.data,
        tags: v4.tags,
        checksum: v4.checksum,
        owner: Some("AKO".into()),
    };
    let v1 = coded_object();
    put_raw(&s, CF_OBJECTS, &keys::object_key("b", "v5").unwrap(), &v5);
    put_raw(&s, CF_OBJECTS, &keys::object_key("b", "v1").unwrap(), &v1);
    for key in ["v1", "v5"] {
        let view = s.get_version("b", key, VersionRef::Null).unwrap();
        assert!(view.object.version.null && !view.object.version.marker);
        assert_eq!(
            view.version_id, None,
            "a never-versioned bucket names no id"
        );
    }
    assert_eq!(s.get_object("b", "v5").unwrap(), v5);
    let listed = s.list_versions("b", "", None, None, None, 10).unwrap();
    let ids: Vec<_> = listed
        .versions
        .iter()
        .map(|v| (v.key.as_str(), v.version_id.as_str(), v.is_latest))
        .collect();
    assert_eq!(ids, [("v1", "null", true), ("v5", "null", true)]);

    s.put_bucket_config("b", &BucketConfig::Versioning(VersioningStatus::Enabled))
        .unwrap();
    let (w, replaced) = s
        .write_object(
            "b",
            "v5",
            row_with_etag("new"),
            (false, None),
            &LockRequest::default(),
        )
        .unwrap();
    assert!(replaced.is_none(), "the null version stays");
    let new_id = w.version_id.unwrap();
    assert_ne!(new_id, "null");
    let listed = s.list_versions("b", "v5", None, None, None, 10).unwrap();
    let got: Vec<_> = listed
        .versions
        .iter()
        .map(|v| (v.version_id.clone(), v.is_latest))
        .collect();
    assert_eq!(got, [(new_id, true), ("null".to_owned(), false)]);
    let old = s.get_version("b", "v5", VersionRef::Null).unwrap();
    assert_eq!(old.object.row, v5);
    assert_eq!(old.version_id.as_deref(), Some("null"));
    assert!(old.object.version.noncurrent_ms > 0);
    // Its chunks are still referenced: the healer's scan sees them.
    let page = s.scan_layouts(&[], 100).unwrap();
    assert!(
        page.entries
            .iter()
            .any(|e| matches!(&e.owner, LayoutOwner::Version { key, .. } if key == "v5"))
    );
}

fn row_with_etag(etag: &str) -> ObjectRow {
    ObjectRow {
        size: 1,
        etag: etag.into(),
        last_modified_ms: 2_000,
        content_type: None,
        system_headers: Vec::new(),
        user_metadata: Vec::new(),
        parts_count: None,
        data: ObjectData::Inline(b"x".to_vec()),
        tags: Vec::new(),
        checksum: None,
        owner: None,
    }
}

/// Row format v8 added the `regions` family: a data dir of v7 (every
/// family but it) opens, keeps its buckets and objects, and is a region
/// that was never linked.
#[test]
fn a_data_dir_from_before_regions_opens_unlinked() {
    // And without the replication queue's family, also new in v8.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let v7 = CF_STATE_MACHINE
            .iter()
            .chain(&CF_LOG_STORE)
            .filter(|n| **n != CF_REGIONS && **n != CF_REPLICATION);
        let db = DB::open_cf(&opts, dir.path(), v7).unwrap();
        assert!(db.cf_handle(CF_REGIONS).is_none());
    }
    {
        let s = MetaStore::open(dir.path()).unwrap();
        s.create_bucket("b", "r").unwrap();
    }
    let s = MetaStore::open(dir.path()).unwrap();
    assert_eq!(s.list_regions().unwrap(), vec![]);
    assert_eq!(s.replication_tasks(&[], 10).unwrap(), vec![]);
    assert_eq!(s.get_claim("b").unwrap().unwrap().region, "r");
    assert_eq!(s.get_claim("c").unwrap(), None);
    s.claim_bucket("c", "other", None).unwrap();
    assert_eq!(
        s.create_bucket("c", "r"),
        Err(MetaError::BucketAlreadyExists)
    );
}

#[test]
fn replication_needs_versioning_and_holds_it() {
    use crate::{ReplicationConfig, ReplicationRule};
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path()).unwrap();
    s.create_bucket("b", "r").unwrap();
    let replication = BucketConfig::Replication(ReplicationConfig {
        role: String::new(),
        rules: vec![ReplicationRule {
            id: "r".into(),
            enabled: true,
            ..Default::default()
        }],
    });
    let refused = |r: Result<()>| match r {
        Err(MetaError::InvalidRequest(m)) => m,
        Err(MetaError::InvalidBucketState(m)) => m,
        other => panic!("{other:?}"),
    };
    // Unversioned, then suspended: refused.
    assert!(refused(s.put_bucket_config("b", &replication)).starts_with("Versioning must be"));
    s.put_bucket_config("b", &BucketConfig::Versioning(VersioningStatus::Suspended))
        .unwrap();
    assert!(refused(s.put_bucket_config("b", &replication)).starts_with("Versioning must be"));
    s.put_bucket_config("b", &BucketConfig::Versioning(VersioningStatus::Enabled))
        .unwrap();
    s.put_bucket_config("b", &replication).unwrap();
    assert_eq!(
        s.get_bucket_config("b", BucketConfigKind::Replication)
            .unwrap(),
        Some(replication.clone())
    );
    // Its versioning is held: Suspended refused, Enabled again is fine.
    let suspend = BucketConfig::Versioning(VersioningStatus::Suspended);
    assert!(refused(s.put_bucket_config("b", &suspend)).starts_with("A replication configuration"));
    s.put_bucket_config("b", &BucketConfig::Versioning(VersioningStatus::Enabled))
        .unwrap();
    s.delete_bucket_config("b", BucketConfigKind::Replication)
        .unwrap();
    assert_eq!(
        s.get_bucket_config("b", BucketConfigKind::Replication)
            .unwrap(),
        None
    );
    s.put_bucket_config("b", &suspend).unwrap();
}

#[test]
fn secrets_in_the_clear_from_an_older_release_are_sealed_when_the_store_opens() {
    use shale_common::sealing::{SealingKey, SealingKeys, is_sealed};
    let dir = tempfile::tempdir().unwrap();
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLAINSECRET";
    {
        // The previous release: a v4 row, its secret in the clear.
        let s = MetaStore::open(dir.path()).unwrap();
        put_raw(
            &s,
            CF_ACCESS_KEYS,
            b"AKOLD",
            &AccessKey {
                access_key: "AKOLD".into(),
                secret_key: secret.into(),
                name: "old".into(),
                grants: Some(vec![("b".into(), Permission::Read)]),
            },
        );
    }
    let in_files = |needle: &str| {
        walk(dir.path()).into_iter().any(|p| {
            std::fs::read(&p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
    };
    assert!(in_files(secret), "the scan sees a secret in the clear");
    let keys = SealingKeys::one(SealingKey::generate());
    let s = MetaStore::open(dir.path()).unwrap();
    s.set_sealing(keys.clone());
    assert_eq!(s.reseal_access_keys().unwrap(), 1);
    assert_eq!(s.reseal_access_keys().unwrap(), 0, "once is enough");
    let raw = s.access_key_row("AKOLD").unwrap().unwrap();
    assert!(is_sealed(&raw.secret_key));
    let key = s.get_access_key("AKOLD").unwrap().unwrap();
    assert_eq!(key.secret_key, secret);
    assert_eq!(key.grants, Some(vec![("b".into(), Permission::Read)]));
    // Writes seal; edits of grants keep the seal.
    s.put_access_key(&AccessKey::root(
        "AKNEW".into(),
        "new-secret-0123456789".into(),
        "n".into(),
    ))
    .unwrap();
    assert!(is_sealed(
        &s.access_key_row("AKNEW").unwrap().unwrap().secret_key
    ));
    s.set_grant("AKOLD", "c", Some(Permission::Write)).unwrap();
    assert!(is_sealed(
        &s.access_key_row("AKOLD").unwrap().unwrap().secret_key
    ));
    let listed = s.list_access_keys().unwrap();
    assert_eq!(listed[1].access_key, "AKOLD");
    assert_eq!(listed[1].secret_key, secret);
    drop(s);
    let holders: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|b| b.windows(secret.len()).any(|w| w == secret.as_bytes()))
                .unwrap_or(false)
        })
        .collect();
    assert!(
        holders.is_empty(),
        "files holding the old secret in the clear: {holders:?}"
    );
    assert!(!in_files("new-secret-0123456789"));
    // Without the key, the secret does not read (an error, not the sealed text).
    let s = MetaStore::open(dir.path()).unwrap();
    assert!(s.get_access_key("AKOLD").is_err());
    // Another deployment's key neither.
    s.set_sealing(SealingKeys::one(SealingKey::generate()));
    assert!(s.get_access_key("AKOLD").is_err());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn key_of(id: &str, grants: Option<Vec<(String, Permission)>>) -> AccessKey {
    AccessKey {
        access_key: id.into(),
        secret_key: format!("{id}-secret-0123456789"),
        name: id.to_lowercase(),
        grants,
    }
}

/// A data dir of the release before users (no `users` family): it opens,
/// and every key is a user of its own, named after it, with its grants;
/// the first thing only a user has (a policy) makes it one with rows,
/// keeping its grants and its secret.
#[test]
fn a_data_dir_from_before_users_serves_each_key_as_a_user_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let v8 = CF_STATE_MACHINE
            .iter()
            .chain(&CF_LOG_STORE)
            .filter(|n| **n != CF_USERS);
        let db = DB::open_cf(&opts, dir.path(), v8).unwrap();
        let old = key_of("AKOLD", Some(vec![("b".into(), Permission::Write)]));
        db.put_cf(
            db.cf_handle(CF_ACCESS_KEYS).unwrap(),
            b"AKOLD",
            encode(&old).unwrap(),
        )
        .unwrap();
        let root = key_of("AKROOT", None);
        db.put_cf(
            db.cf_handle(CF_ACCESS_KEYS).unwrap(),
            b"AKROOT",
            encode(&root).unwrap(),
        )
        .unwrap();
    }
    let s = MetaStore::open(dir.path()).unwrap();
    let id = s.get_identity("AKOLD").unwrap().unwrap();
    assert_eq!(id.user, None);
    assert_eq!(id.user_name(), "AKOLD");
    assert_eq!(id.permission("b"), Some(Permission::Write));
    assert!(!id.is_root() && !id.disabled);
    assert!(s.get_identity("AKROOT").unwrap().unwrap().is_root());
    let users = s.list_users().unwrap();
    assert_eq!(users.len(), 1, "root keys are no users: {users:?}");
    assert!(users[0].legacy && users[0].user.name == "AKOLD");
    assert_eq!(users[0].user.grants, [("b".to_owned(), Permission::Write)]);

    s.set_user_policy("AKOLD", Some("{}")).unwrap();
    let id = s.get_identity("AKOLD").unwrap().unwrap();
    let user = id.user.as_ref().expect("a user now");
    assert_eq!(user.name, "AKOLD");
    assert_eq!(user.grants, [("b".to_owned(), Permission::Write)]);
    assert_eq!(id.policy(), Some("{}"));
    assert_eq!(id.key.secret_key, "AKOLD-secret-0123456789");
    assert_eq!(id.key.grants, Some(vec![]), "the grants moved to the user");
    assert!(!s.list_users().unwrap()[0].legacy);
    assert!(
        s.set_user_policy("AKROOT", None).is_err(),
        "a root key is no user"
    );
}

#[test]
fn users_hold_keys_grants_and_a_policy() {
    let s = MetaStore::open(tempfile::tempdir().unwrap().path()).unwrap();
    s.create_user("alice").unwrap();
    for bad in ["", "a/b", "a b", &"x".repeat(65), "é"] {
        assert!(s.create_user(bad).is_err(), "{bad:?}");
    }
    assert!(matches!(
        s.create_user("alice"),
        Err(MetaError::InvalidRequest(_))
    ));
    s.put_access_key(&key_of("AKOWN", Some(vec![]))).unwrap();
    assert!(
        s.create_user("AKOWN").is_err(),
        "a key id is a user already"
    );

    s.create_user_key(&key_of("AKA1", Some(vec![])), "alice")
        .unwrap();
    s.create_user_key(&key_of("AKA2", Some(vec![])), "alice")
        .unwrap();
    assert!(
        s.create_user_key(&key_of("AKA1", Some(vec![])), "alice")
            .is_err()
    );
    assert!(
        s.create_user_key(&key_of("AKX", Some(vec![])), "nobody")
            .is_err()
    );
    assert!(
        s.create_user_key(
            &key_of("AKX", Some(vec![("b".into(), Permission::Read)])),
            "alice"
        )
        .is_err(),
        "grants belong to the user"
    );
    // A grant through either key is the user's.
    s.set_grant("AKA1", "photos", Some(Permission::Write))
        .unwrap();
    s.set_grant("alice", "logs", Some(Permission::Read))
        .unwrap();
    let id = s.get_identity("AKA2").unwrap().unwrap();
    assert_eq!(id.user_name(), "alice");
    assert_eq!(id.permission("photos"), Some(Permission::Write));
    assert_eq!(id.permission("logs"), Some(Permission::Read));
    s.create_bucket("photos", "r").unwrap();
    s.delete_bucket("photos").unwrap();
    let id = s.get_identity("AKA2").unwrap().unwrap();
    assert_eq!(id.permission("photos"), None, "grants go with their bucket");

    s.set_key_disabled("AKA1", true).unwrap();
    assert!(s.get_identity("AKA1").unwrap().unwrap().disabled);
    assert!(!s.get_identity("AKA2").unwrap().unwrap().disabled);
    s.set_key_disabled("AKA1", false).unwrap();
    assert!(!s.get_identity("AKA1").unwrap().unwrap().disabled);
    // A key of its own, disabled, becomes a user keeping its id as name.
    s.set_key_disabled("AKOWN", true).unwrap();
    let own = s.get_identity("AKOWN").unwrap().unwrap();
    assert!(own.disabled && own.user_name() == "AKOWN" && own.user.is_some());

    let listed = s.list_users().unwrap();
    let alice = listed.iter().find(|u| u.user.name == "alice").unwrap();
    assert_eq!(
        alice.keys,
        [("AKA1".to_owned(), false), ("AKA2".to_owned(), false)]
    );
    assert!(matches!(
        s.delete_user("alice"),
        Err(MetaError::InvalidRequest(_))
    ));
    s.delete_access_key("AKA1").unwrap();
    s.delete_access_key("AKA2").unwrap();
    assert!(s.get_identity("AKA1").unwrap().is_none());
    s.delete_user("alice").unwrap();
    assert!(s.get_user("alice").unwrap().is_none());
    assert!(s.delete_user("alice").is_err());

    // A mirror takes the namespace region's users as they are.
    let bob = User {
        name: "bob".into(),
        created_ms: 5,
        grants: vec![],
        policy: Some("{}".into()),
    };
    let owners = vec![(
        "AKB".to_owned(),
        KeyOwner {
            user: "bob".into(),
            disabled: true,
        },
    )];
    s.replace_users(std::slice::from_ref(&bob), &owners)
        .unwrap();
    let names: Vec<_> = s
        .list_users()
        .unwrap()
        .into_iter()
        .filter(|u| !u.legacy)
        .map(|u| u.user.name)
        .collect();
    assert_eq!(names, ["bob"]);
    assert_eq!(s.get_user("bob").unwrap(), Some(bob));
}

/// A write whose layout has a chunk not durable adds one to the healer's
/// count, in the same batch as its row; a whole write does not, nor does a
/// write refused.
#[test]
fn writes_with_a_chunk_not_durable_are_counted_for_the_healer() {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path()).unwrap();
    s.create_bucket("b", "r").unwrap();
    let count = || undurable_count(s.get_cursor(UNDURABLE_CURSOR).unwrap().as_deref());
    let coded = |durable: bool| {
        let mut row = row_with_etag("e");
        let mut data = coded_object().data;
        if let ObjectData::Parts(parts) = &mut data {
            parts[0].segments[0].chunks[0].durable = durable;
        }
        row.data = data;
        row
    };
    let apply = |row: ObjectRow, if_none_match: bool| {
        let req = MetaRequest::WriteObject {
            bucket: "b".into(),
            key: "k".into(),
            row,
            if_none_match,
            if_match: None,
            lock: LockRequest::default(),
        };
        let mut seq = 1 << 20;
        let (answer, batch) = s.apply_entry(req, 3_000, &mut seq);
        s.db.write(batch).unwrap();
        answer.is_ok()
    };
    assert_eq!(count(), 0);
    assert!(apply(coded(true), false));
    assert_eq!(count(), 0);
    assert!(apply(coded(false), false));
    assert_eq!(count(), 1);
    assert!(apply(coded(false), false));
    assert_eq!(count(), 2);
    // Refused (the key exists): nothing written, nothing counted.
    assert!(!apply(coded(false), true));
    assert_eq!(count(), 2);
    let part = MetaRequest::PutPart {
        bucket: "b".into(),
        key: "k".into(),
        upload_id: "u".into(),
        part: PartRow {
            number: 1,
            size: 10,
            etag: "e".into(),
            last_modified_ms: 1,
            layout: match coded(false).data {
                ObjectData::Parts(mut p) => p.remove(0),
                ObjectData::Inline(_) => unreachable!(),
            },
            checksums: Vec::new(),
        },
    };
    assert!(part.writes_undurable_chunks());
}

/// A write's answer (kept for five minutes by every replica to answer a
/// retry) carries the row less an inline body; the row stored keeps it.
#[test]
fn a_write_answers_the_row_less_its_inline_body() {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path()).unwrap();
    s.create_bucket("b", "r").unwrap();
    let mut row = row_with_etag("e");
    row.size = 4096;
    row.data = ObjectData::Inline(vec![5; 4096]);
    let (w, _) = s
        .write_object(
            "b",
            "k",
            row.clone(),
            (false, None),
            &LockRequest::default(),
        )
        .unwrap();
    assert_eq!(w.row.data, ObjectData::Inline(Vec::new()));
    assert_eq!(w.row, row.without_body());
    assert_eq!((w.row.size, w.row.etag.as_str()), (4096, "e"));
    assert_eq!(s.get_object("b", "k").unwrap(), row);
    // A chunked row is answered whole.
    let mut coded = row_with_etag("c");
    coded.data = coded_object().data;
    assert_eq!(coded.without_body(), coded);
    let (w, _) = s
        .write_object(
            "b",
            "c",
            coded.clone(),
            (false, None),
            &LockRequest::default(),
        )
        .unwrap();
    assert_eq!(w.row, coded);
}

/// The aggregated table properties of column family `cf`, as RocksDB
/// prints them.
fn table_properties(s: &MetaStore, cf: &str) -> String {
    s.db()
        .property_value_cf(s.cf(cf).unwrap(), "rocksdb.aggregated-table-properties")
        .unwrap()
        .unwrap_or_default()
}

#[test]
fn table_files_of_a_store_without_bloom_filters_read_and_new_ones_have_filters() {
    let dir = tempfile::tempdir().unwrap();
    // The previous release's options: table files without a filter block.
    {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let names: Vec<&str> = CF_STATE_MACHINE
            .iter()
            .chain(&CF_LOG_STORE)
            .copied()
            .collect();
        let db = DB::open_cf(&opts, dir.path(), names).unwrap();
        let cf = db.cf_handle(CF_OBJECTS).unwrap();
        db.put_cf(cf, b"old-key", b"old-value").unwrap();
        db.flush_cf(cf).unwrap();
    }
    let s = MetaStore::open(dir.path()).unwrap();
    let old = table_properties(&s, CF_OBJECTS);
    assert!(
        old.contains("# entries for filter=0;"),
        "the old file has no filter: {old}"
    );
    let objects = s.cf(CF_OBJECTS).unwrap();
    assert_eq!(
        s.db().get_cf(objects, b"old-key").unwrap().as_deref(),
        Some(&b"old-value"[..])
    );
    assert_eq!(s.db().get_cf(objects, b"absent").unwrap(), None);
    // A file written now carries a bloom filter, and both files answer.
    s.db().put_cf(objects, b"new-key", b"new-value").unwrap();
    s.db().flush_cf(objects).unwrap();
    let both = table_properties(&s, CF_OBJECTS);
    assert!(
        both.contains("# entries for filter=1;"),
        "the new file (one key) has a filter: {both}"
    );
    for (k, v) in [
        (&b"old-key"[..], &b"old-value"[..]),
        (b"new-key", b"new-value"),
    ] {
        assert_eq!(s.db().get_cf(objects, k).unwrap().as_deref(), Some(v));
    }
    assert_eq!(s.db().get_cf(objects, b"absent").unwrap(), None);
}
