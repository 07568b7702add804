//! What the store tests share: a store in a temp directory, rows, uploads
//! and parts to put in it.

#![allow(dead_code)] // each test file uses some of it

use shale_common::{ChunkPlacement, Coding, ObjectData, PartLayout, SegmentLayout};
use shale_metadata::*;
use std::collections::BTreeSet;

pub fn open() -> (tempfile::TempDir, MetaStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = MetaStore::open(dir.path()).unwrap();
    (dir, store)
}

pub fn layout(number: u32, size: u64, etag: &str, chunk_prefix: &str) -> PartLayout {
    PartLayout {
        number,
        size,
        etag: etag.into(),
        coding: Coding::default(),
        segments: vec![SegmentLayout {
            size,
            shard_size: size.div_ceil(4),
            chunks: (0..6)
                .map(|i| ChunkPlacement {
                    node: i,
                    chunk_id: format!("{chunk_prefix}-{i}"),
                    durable: true,
                })
                .collect(),
        }],
    }
}

pub fn row(etag: &str, chunk_prefix: &str) -> ObjectRow {
    ObjectRow {
        size: 10,
        etag: etag.into(),
        last_modified_ms: 1,
        content_type: Some("text/plain".into()),
        system_headers: vec![("cache-control".into(), "no-cache".into())],
        user_metadata: vec![("color".into(), "blue".into())],
        parts_count: None,
        data: ObjectData::Parts(vec![layout(1, 10, etag, chunk_prefix)]),
        tags: Vec::new(),
        checksum: None,
        owner: Some("AKWRITER".into()),
    }
}

pub fn inline(etag: &str) -> ObjectRow {
    ObjectRow {
        data: ObjectData::Inline(b"hi".to_vec()),
        ..row(etag, "unused")
    }
}

pub fn gc_chunk_ids(store: &MetaStore) -> BTreeSet<String> {
    store
        .gc_pending(usize::MAX)
        .unwrap()
        .into_iter()
        .flatten()
        .map(|c| c.chunk_id)
        .collect()
}

pub const MIB5: u64 = 5 * 1024 * 1024;

pub const MD5_HELLO: &str = "5d41402abc4b2a76b9719d911017c592";

pub const MD5_WORLD: &str = "7d793037a0760186574b0282f2f435e7";

pub fn upload(bucket: &str, key: &str, id: &str) -> Upload {
    Upload {
        bucket: bucket.into(),
        key: key.into(),
        upload_id: id.into(),
        initiated_ms: 5,
        content_type: Some("video/mp4".into()),
        system_headers: vec![("content-language".into(), "fr".into())],
        user_metadata: vec![("owner".into(), "me".into())],
        tags: Vec::new(),
        checksum: None,
        owner: Some("AKINIT".into()),
    }
}

pub fn part(number: u32, size: u64, etag: &str, chunk_prefix: &str) -> PartRow {
    PartRow {
        number,
        size,
        etag: etag.into(),
        last_modified_ms: 7,
        layout: layout(number, size, etag, chunk_prefix),
        checksums: Vec::new(),
    }
}

pub fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
