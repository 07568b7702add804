//! `MetaStore` against a real RocksDB in a temp directory.

mod common;

use common::*;
use shale_common::{ChunkPlacement, ObjectData};
use shale_metadata::store::MIN_PART_SIZE;
use shale_metadata::*;
use std::sync::{Arc, Barrier};

#[test]
fn buckets_create_list_delete() {
    let (_d, s) = open();
    let b = s.create_bucket("zeta", "us-east-1").unwrap();
    assert_eq!(b.name, "zeta");
    assert_eq!(b.region, "us-east-1");
    s.create_bucket("alpha", "eu").unwrap();
    assert_eq!(
        s.create_bucket("zeta", "us-east-1"),
        Err(MetaError::BucketAlreadyOwnedByYou)
    );
    let names: Vec<_> = s
        .list_buckets()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(s.get_bucket("alpha").unwrap().unwrap().region, "eu");
    assert_eq!(s.get_bucket("nope").unwrap(), None);

    s.put_object("zeta", "k", inline("e"), false, None).unwrap();
    assert_eq!(s.delete_bucket("zeta"), Err(MetaError::BucketNotEmpty));
    s.delete_object("zeta", "k").unwrap();
    s.delete_bucket("zeta").unwrap();
    assert_eq!(s.delete_bucket("zeta"), Err(MetaError::NoSuchBucket));
    assert_eq!(s.get_bucket("zeta").unwrap(), None);
    assert!(s.create_bucket("", "r").is_err());
}

#[test]
fn delete_bucket_aborts_its_uploads() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    s.create_bucket("b2", "r").unwrap();
    for (bucket, id) in [("b", "u1"), ("b2", "u2")] {
        s.create_upload(upload(bucket, "k", id)).unwrap();
        s.put_part(bucket, "k", id, part(1, 5, "aa", &format!("{id}p1")))
            .unwrap();
    }
    s.delete_bucket("b").unwrap();
    assert!(gc_chunk_ids(&s).contains("u1p1-0"));
    assert!(!gc_chunk_ids(&s).contains("u2p1-0"));
    // The other bucket's upload is untouched.
    assert_eq!(s.get_upload("b2", "k", "u2").unwrap().upload_id, "u2");
    assert_eq!(s.list_parts("b2", "k", "u2", 0, 10).unwrap().parts.len(), 1);
    s.create_bucket("b", "r").unwrap();
    assert_eq!(s.get_upload("b", "k", "u1"), Err(MetaError::NoSuchUpload));
}

#[test]
fn objects_put_get_overwrite_delete() {
    let (_d, s) = open();
    assert_eq!(
        s.put_object("b", "k", row("e1", "c1"), false, None),
        Err(MetaError::NoSuchBucket)
    );
    assert_eq!(s.get_object("b", "k"), Err(MetaError::NoSuchBucket));
    s.create_bucket("b", "r").unwrap();
    assert_eq!(s.get_object("b", "k"), Err(MetaError::NoSuchKey));
    assert_eq!(
        s.put_object("b", "k", row("e1", "c1"), false, None),
        Ok(None)
    );
    assert_eq!(s.get_object("b", "k").unwrap(), row("e1", "c1"));
    assert!(gc_chunk_ids(&s).is_empty());

    let old = s
        .put_object("b", "k", row("e2", "c2"), false, None)
        .unwrap();
    assert_eq!(old, Some(row("e1", "c1")));
    assert_eq!(s.get_object("b", "k").unwrap().etag, "e2");
    let gc = gc_chunk_ids(&s);
    assert!(gc.contains("c1-0") && gc.contains("c1-5") && !gc.contains("c2-0"));

    assert_eq!(s.delete_object("b", "k").unwrap(), Some(row("e2", "c2")));
    assert!(gc_chunk_ids(&s).contains("c2-3"));
    assert_eq!(s.get_object("b", "k"), Err(MetaError::NoSuchKey));
    assert_eq!(s.delete_object("b", "k"), Ok(None));
    assert_eq!(s.delete_object("nob", "k"), Err(MetaError::NoSuchBucket));
    assert!(s.put_object("b", "", inline("e"), false, None).is_err());
}

#[test]
fn conditional_puts() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    // If-Match on a key that does not exist: NoSuchKey, as S3 answers.
    assert_eq!(
        s.put_object("b", "k", inline("e1"), false, Some("e1")),
        Err(MetaError::NoSuchKey)
    );
    assert_eq!(
        s.put_object("b", "k", inline("e1"), false, Some("*")),
        Err(MetaError::NoSuchKey)
    );
    s.put_object("b", "k", inline("e1"), true, None).unwrap();
    assert_eq!(
        s.put_object("b", "k", inline("e2"), true, None),
        Err(MetaError::PreconditionFailed)
    );
    assert_eq!(
        s.put_object("b", "k", inline("e2"), false, Some("other")),
        Err(MetaError::PreconditionFailed)
    );
    s.put_object("b", "k", inline("e2"), false, Some("\"e1\""))
        .unwrap();
    s.put_object("b", "k", inline("e3"), false, Some("*"))
        .unwrap();
    assert_eq!(s.get_object("b", "k").unwrap().etag, "e3");
}

#[test]
fn racing_if_none_match_has_exactly_one_winner() {
    let (_d, s) = open();
    let s = Arc::new(s);
    s.create_bucket("b", "r").unwrap();
    for round in 0..25 {
        let key = format!("race-{round}");
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (s, barrier, key) = (s.clone(), barrier.clone(), key.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    s.put_object("b", &key, inline(&format!("t{t}")), true, None)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(results.contains(&Err(MetaError::PreconditionFailed)));
        let winner = results.iter().position(|r| r.is_ok()).unwrap();
        assert_eq!(s.get_object("b", &key).unwrap().etag, format!("t{winner}"));
    }
}

#[test]
fn racing_if_match_has_exactly_one_winner() {
    let (_d, s) = open();
    let s = Arc::new(s);
    s.create_bucket("b", "r").unwrap();
    for round in 0..25 {
        let key = format!("cas-{round}");
        s.put_object("b", &key, inline("base"), false, None)
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (s, barrier, key) = (s.clone(), barrier.clone(), key.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    s.put_object("b", &key, inline(&format!("t{t}")), false, Some("base"))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(results.contains(&Err(MetaError::PreconditionFailed)));
        let winner = results.iter().position(|r| r.is_ok()).unwrap();
        assert_eq!(s.get_object("b", &key).unwrap().etag, format!("t{winner}"));
    }
}

/// 10 "directories" of 120 keys plus 300 top-level keys = 1,500 keys.
fn listing_fixture() -> (tempfile::TempDir, MetaStore, Vec<String>) {
    let (d, s) = open();
    s.create_bucket("lst", "r").unwrap();
    // A bucket whose name extends "lst": its rows must never show up.
    s.create_bucket("lst2", "r").unwrap();
    s.put_object("lst2", "d00/intruder", inline("x"), false, None)
        .unwrap();
    s.put_object("lst2", "a", inline("x"), false, None).unwrap();
    let mut keys = Vec::new();
    for dir in 0..10 {
        for f in 0..120 {
            keys.push(format!("d{dir:02}/f{f:04}"));
        }
    }
    for t in 0..300 {
        keys.push(format!("t{t:04}"));
    }
    for k in &keys {
        s.put_object("lst", k, inline("e"), false, None).unwrap();
    }
    keys.sort();
    (d, s, keys)
}

#[test]
fn listing_pages_prefixes_and_delimiters() {
    let (_d, s, keys) = listing_fixture();

    // Paging without a delimiter visits every key exactly once, in order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s
            .list_objects("lst", "", None, after.as_deref(), 7)
            .unwrap();
        assert!(page.common_prefixes.is_empty());
        seen.extend(page.objects.iter().map(|o| o.key.clone()));
        if !page.is_truncated {
            assert_eq!(page.next_marker, None);
            break;
        }
        assert_eq!(page.objects.len(), 7);
        after = page.next_marker;
    }
    assert_eq!(seen, keys);

    // With a delimiter: 10 common prefixes and 300 keys, each exactly once,
    // paging straight through common prefixes.
    let mut entries = Vec::new();
    let mut after: Option<String> = None;
    let mut calls = 0;
    loop {
        calls += 1;
        let page = s
            .list_objects("lst", "", Some("/"), after.as_deref(), 3)
            .unwrap();
        let mut page_entries: Vec<String> = page
            .objects
            .iter()
            .map(|o| o.key.clone())
            .chain(page.common_prefixes.iter().cloned())
            .collect();
        page_entries.sort();
        assert!(page_entries.len() <= 3);
        if page.is_truncated {
            assert_eq!(page.next_marker.as_ref(), page_entries.last());
        }
        entries.extend(page_entries);
        if !page.is_truncated {
            break;
        }
        after = page.next_marker;
    }
    let mut expect: Vec<String> = (0..10).map(|d| format!("d{d:02}/")).collect();
    expect.extend((0..300).map(|t| format!("t{t:04}")));
    assert_eq!(entries, expect);
    assert_eq!(calls, 310 / 3 + 1);

    // One directory, exactly max_keys entries: not truncated.
    let page = s.list_objects("lst", "d03/", Some("/"), None, 120).unwrap();
    assert_eq!(page.objects.len(), 120);
    assert!(!page.is_truncated && page.next_marker.is_none());
    assert!(page.objects.iter().all(|o| o.key.starts_with("d03/")));

    // A prefix that is not a directory: rolls up to directories.
    let page = s.list_objects("lst", "d0", Some("/"), None, 1000).unwrap();
    assert_eq!(page.common_prefixes.len(), 10);
    assert!(page.objects.is_empty());

    // start_after inside a prefix, and one that is a common prefix.
    let page = s
        .list_objects("lst", "d05/", None, Some("d05/f0117"), 1000)
        .unwrap();
    let got: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(got, ["d05/f0118", "d05/f0119"]);
    let page = s
        .list_objects("lst", "", Some("/"), Some("d08/"), 2)
        .unwrap();
    assert_eq!(page.common_prefixes, ["d09/"]);
    assert_eq!(page.objects[0].key, "t0000");
    assert_eq!(page.next_marker.as_deref(), Some("t0000"));
    // start_after before the prefix starts at the prefix.
    let page = s.list_objects("lst", "t", None, Some("a"), 1).unwrap();
    assert_eq!(page.objects[0].key, "t0000");
    // start_after past everything.
    let page = s.list_objects("lst", "", None, Some("z"), 10).unwrap();
    assert!(page.objects.is_empty() && !page.is_truncated);

    // max_keys 0: empty, not truncated.
    let page = s.list_objects("lst", "", None, None, 0).unwrap();
    assert_eq!(page, ListObjectsResult::default());

    // The other bucket sees only its own rows.
    let page = s.list_objects("lst2", "", None, None, 1000).unwrap();
    let got: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(got, ["a", "d00/intruder"]);
    let page = s.list_objects("lst", "d00/", None, None, 1000).unwrap();
    assert!(page.objects.iter().all(|o| o.key != "d00/intruder"));
    assert_eq!(
        s.list_objects("missing", "", None, None, 10),
        Err(MetaError::NoSuchBucket)
    );
}

#[test]
fn access_keys_and_cluster_map() {
    let (_d, s) = open();
    let key = AccessKey {
        access_key: "AKIA1".into(),
        secret_key: "shh".into(),
        name: "admin".into(),
        grants: None,
    };
    s.put_access_key(&key).unwrap();
    assert_eq!(s.get_access_key("AKIA1").unwrap(), Some(key.clone()));
    assert_eq!(s.get_access_key("AKIA2").unwrap(), None);
    assert!(!format!("{key:?}").contains("shh"));
    for (id, addr) in [(7, "n7:1"), (2, "n2:1"), (7, "n7:2")] {
        s.register_node(&shale_common::NodeInfo {
            id,
            addr: addr.into(),
            zone: String::new(),
        })
        .unwrap();
    }
    let nodes = s.cluster_map().unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|n| (n.id, n.addr.as_str()))
            .collect::<Vec<_>>(),
        [(2, "n2:1"), (7, "n7:2")]
    );
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = MetaStore::open(dir.path()).unwrap();
        s.create_bucket("b", "r").unwrap();
        s.put_object("b", "k", row("e1", "c1"), false, None)
            .unwrap();
        s.put_object("b", "k", row("e2", "c2"), false, None)
            .unwrap();
        s.create_upload(upload("b", "m", "u")).unwrap();
    }
    let s = MetaStore::open(dir.path()).unwrap();
    assert_eq!(s.get_bucket("b").unwrap().unwrap().name, "b");
    assert_eq!(s.get_object("b", "k").unwrap(), row("e2", "c2"));
    assert_eq!(s.get_upload("b", "m", "u").unwrap().upload_id, "u");
    assert!(gc_chunk_ids(&s).contains("c1-0"));
}

#[test]
fn retried_writes_never_collect_live_chunks() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    // The same row twice (a retry after a lost answer): nothing to collect.
    s.put_object("b", "k", row("e1", "c1"), false, None)
        .unwrap();
    s.put_object("b", "k", row("e1", "c1"), false, None)
        .unwrap();
    assert!(gc_chunk_ids(&s).is_empty());
    s.create_upload(upload("b", "m", "u")).unwrap();
    s.put_part("b", "m", "u", part(1, 1, MD5_HELLO, "p1"))
        .unwrap();
    s.put_part("b", "m", "u", part(1, 1, MD5_HELLO, "p1"))
        .unwrap();
    assert!(gc_chunk_ids(&s).is_empty());
    s.complete_upload(
        "b",
        "m",
        "u",
        &[(1, MD5_HELLO.into())],
        &CompleteChecks::default(),
        false,
    )
    .unwrap();
    assert!(gc_chunk_ids(&s).is_empty());
}

#[test]
fn object_tags_change_nothing_else() {
    let (_d, s) = open();
    assert_eq!(
        s.put_object_tags("b", "k", tags(&[("a", "1")])),
        Err(MetaError::NoSuchBucket)
    );
    s.create_bucket("b", "r").unwrap();
    assert_eq!(
        s.put_object_tags("b", "k", tags(&[("a", "1")])),
        Err(MetaError::NoSuchKey)
    );
    s.put_object("b", "k", row("e1", "c1"), false, None)
        .unwrap();
    let before = s.get_object("b", "k").unwrap();

    s.put_object_tags("b", "k", tags(&[("b", "2"), ("a", "1")]))
        .unwrap();
    let tagged = s.get_object("b", "k").unwrap();
    // Same ETag, same last-modified time, same data: only the tags differ,
    // kept in the order given.
    assert_eq!(tagged.tags, tags(&[("b", "2"), ("a", "1")]));
    assert_eq!(
        ObjectRow {
            tags: Vec::new(),
            ..tagged
        },
        before
    );
    // Re-writing the row must not queue its own chunks for GC.
    assert!(gc_chunk_ids(&s).is_empty());

    s.put_object_tags("b", "k", tags(&[("only", "")])).unwrap();
    assert_eq!(s.get_object("b", "k").unwrap().tags, tags(&[("only", "")]));
    s.put_object_tags("b", "k", Vec::new()).unwrap();
    assert_eq!(s.get_object("b", "k").unwrap(), before);

    // The guard on row size (S3's own limits are checked by the gateway).
    let many: Vec<_> = (0..=store::MAX_TAGS)
        .map(|i| (i.to_string(), String::new()))
        .collect();
    assert!(matches!(
        s.put_object_tags("b", "k", many.clone()),
        Err(MetaError::InvalidArgument(_))
    ));
    let over = ObjectRow {
        tags: many,
        ..row("e9", "c9")
    };
    assert!(matches!(
        s.put_object("b", "k", over, false, None),
        Err(MetaError::InvalidArgument(_))
    ));

    // A new version of the key starts with the tags it was written with.
    s.put_object_tags("b", "k", tags(&[("a", "1")])).unwrap();
    let with = ObjectRow {
        tags: tags(&[("new", "v")]),
        ..row("e2", "c2")
    };
    s.put_object("b", "k", with, false, None).unwrap();
    assert_eq!(s.get_object("b", "k").unwrap().tags, tags(&[("new", "v")]));
    s.put_object("b", "k", row("e3", "c3"), false, None)
        .unwrap();
    assert!(s.get_object("b", "k").unwrap().tags.is_empty());
}

#[test]
fn object_tags_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = MetaStore::open(dir.path()).unwrap();
        s.create_bucket("b", "r").unwrap();
        s.put_object("b", "k", inline("e"), false, None).unwrap();
        s.put_object_tags("b", "k", tags(&[("a", "1")])).unwrap();
        s.put_bucket_tags("b", tags(&[("team", "x")])).unwrap();
    }
    let s = MetaStore::open(dir.path()).unwrap();
    assert_eq!(s.get_object("b", "k").unwrap().tags, tags(&[("a", "1")]));
    assert_eq!(
        s.get_bucket("b").unwrap().unwrap().tags,
        tags(&[("team", "x")])
    );
}

#[test]
fn tagging_never_resurrects_a_deleted_key() {
    // A read-modify-write outside the key's lock would write the old row
    // back after the delete. Inside it, the key is gone whoever goes first.
    let (_d, s) = open();
    let s = Arc::new(s);
    s.create_bucket("b", "r").unwrap();
    for round in 0..25 {
        let key = format!("k{round}");
        s.put_object("b", &key, row("e", &format!("c{round}")), false, None)
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let tagger = {
            let (s, barrier, key) = (s.clone(), barrier.clone(), key.clone());
            std::thread::spawn(move || {
                barrier.wait();
                s.put_object_tags("b", &key, tags(&[("a", "1")]))
            })
        };
        let deleter = {
            let (s, barrier, key) = (s.clone(), barrier.clone(), key.clone());
            std::thread::spawn(move || {
                barrier.wait();
                s.delete_object("b", &key)
            })
        };
        let tagged = tagger.join().unwrap();
        assert!(deleter.join().unwrap().unwrap().is_some());
        assert!(matches!(tagged, Ok(()) | Err(MetaError::NoSuchKey)));
        assert_eq!(s.get_object("b", &key), Err(MetaError::NoSuchKey));
    }
}

#[test]
fn bucket_tags_put_replace_delete() {
    let (_d, s) = open();
    assert_eq!(
        s.put_bucket_tags("nob", tags(&[("a", "1")])),
        Err(MetaError::NoSuchBucket)
    );
    let created = s.create_bucket("b", "r").unwrap();
    assert!(created.tags.is_empty());
    s.put_bucket_tags("b", tags(&[("a", "1"), ("b", "2")]))
        .unwrap();
    let b = s.get_bucket("b").unwrap().unwrap();
    assert_eq!(b.tags, tags(&[("a", "1"), ("b", "2")]));
    assert_eq!((b.region.as_str(), b.created_ms), ("r", created.created_ms));
    assert_eq!(s.list_buckets().unwrap()[0].tags.len(), 2);
    s.put_bucket_tags("b", tags(&[("c", "3")])).unwrap();
    assert_eq!(
        s.get_bucket("b").unwrap().unwrap().tags,
        tags(&[("c", "3")])
    );
    s.put_bucket_tags("b", Vec::new()).unwrap();
    assert!(s.get_bucket("b").unwrap().unwrap().tags.is_empty());
    let many: Vec<_> = (0..=store::MAX_TAGS)
        .map(|i| (i.to_string(), String::new()))
        .collect();
    assert!(matches!(
        s.put_bucket_tags("b", many),
        Err(MetaError::InvalidArgument(_))
    ));
    // A deleted and re-created bucket starts without tags.
    s.put_bucket_tags("b", tags(&[("c", "3")])).unwrap();
    s.delete_bucket("b").unwrap();
    s.create_bucket("b", "r").unwrap();
    assert!(s.get_bucket("b").unwrap().unwrap().tags.is_empty());
}

#[test]
fn gc_entries_come_due_in_order_and_go_when_done() {
    let (_d, s) = open();
    s.create_bucket("b", "us-east-1").unwrap();
    s.put_object("b", "k", row("e1", "c1"), false, None)
        .unwrap();
    s.put_object("b", "k", row("e2", "c2"), false, None)
        .unwrap();
    s.put_object("b", "k", row("e3", "c3"), false, None)
        .unwrap();
    // Nothing queued before the epoch; everything queued before "later".
    assert!(s.gc_entries(10, 0).unwrap().is_empty());
    let later = u64::MAX;
    let entries = s.gc_entries(10, later).unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0].queued_ms <= entries[1].queued_ms);
    assert_eq!(entries[0].chunks[0].chunk_id, "c1-0");
    assert_eq!(entries[1].chunks[0].chunk_id, "c2-0");
    assert_eq!(s.gc_entries(1, later).unwrap(), entries[..1]);

    s.gc_done(&[entries[0].key.clone()]).unwrap();
    assert_eq!(s.gc_entries(10, later).unwrap(), entries[1..]);
    // Done twice, or done for a key never queued: no harm.
    s.gc_done(&[entries[0].key.clone(), vec![7; 16]]).unwrap();
    assert_eq!(s.gc_entries(10, later).unwrap(), entries[1..]);
    assert!(matches!(
        s.gc_done(&[vec![1, 2, 3]]),
        Err(MetaError::InvalidArgument(_))
    ));
}

fn cors(origin: &str) -> BucketConfig {
    BucketConfig::Cors(vec![CorsRule {
        allowed_origins: vec![origin.into()],
        allowed_methods: vec!["GET".into()],
        ..CorsRule::default()
    }])
}

#[test]
fn bucket_config_put_get_delete_and_gone_with_the_bucket() {
    let (_dir, s) = open();
    let kind = BucketConfigKind::Cors;
    assert_eq!(
        s.get_bucket_config("nope", kind),
        Err(MetaError::NoSuchBucket)
    );
    assert_eq!(
        s.put_bucket_config("nope", &cors("*")),
        Err(MetaError::NoSuchBucket)
    );
    s.create_bucket("b1", "r").unwrap();
    // A bucket whose name is a prefix of b1's must not see b1's config.
    s.create_bucket("b", "r").unwrap();
    assert_eq!(s.get_bucket_config("b1", kind), Ok(None));
    s.put_bucket_config("b1", &cors("http://a")).unwrap();
    s.put_bucket_config("b1", &cors("http://b")).unwrap();
    assert_eq!(s.get_bucket_config("b1", kind), Ok(Some(cors("http://b"))));
    assert_eq!(s.get_bucket_config("b", kind), Ok(None));
    // The bucket row is untouched by a config.
    assert!(s.get_bucket("b1").unwrap().unwrap().tags.is_empty());

    s.delete_bucket_config("b1", kind).unwrap();
    assert_eq!(s.get_bucket_config("b1", kind), Ok(None));
    s.delete_bucket_config("b1", kind).unwrap();

    // Deleting the bucket removes its configs: a new bucket of that name
    // starts without one.
    s.put_bucket_config("b1", &cors("http://c")).unwrap();
    s.put_bucket_config("b", &cors("http://d")).unwrap();
    s.delete_bucket("b1").unwrap();
    s.create_bucket("b1", "r").unwrap();
    assert_eq!(s.get_bucket_config("b1", kind), Ok(None));
    assert_eq!(s.get_bucket_config("b", kind), Ok(Some(cors("http://d"))));
}

/// A bucket's policy and public access block are rows of their own kinds:
/// each kept beside the other, "no block" (`None`) kept as a row, and both
/// gone with the bucket.
#[test]
fn a_policy_and_a_public_access_block_are_kept_apart() {
    use shale_metadata::PublicAccessBlock;
    let (_dir, s) = open();
    s.create_bucket("b", "r").unwrap();
    let policy = BucketConfig::Policy(r#"{"Statement": []}"#.into());
    let off = BucketConfig::PublicAccessBlock(None);
    let some = BucketConfig::PublicAccessBlock(Some(PublicAccessBlock {
        restrict_public_buckets: false,
        ..PublicAccessBlock::ALL
    }));
    s.put_bucket_config("b", &policy).unwrap();
    s.put_bucket_config("b", &off).unwrap();
    assert_eq!(
        s.get_bucket_config("b", BucketConfigKind::Policy),
        Ok(Some(policy.clone()))
    );
    assert_eq!(
        s.get_bucket_config("b", BucketConfigKind::PublicAccessBlock),
        Ok(Some(off))
    );
    s.put_bucket_config("b", &some).unwrap();
    assert_eq!(
        s.get_bucket_config("b", BucketConfigKind::PublicAccessBlock),
        Ok(Some(some))
    );
    s.delete_bucket_config("b", BucketConfigKind::Policy)
        .unwrap();
    assert_eq!(s.get_bucket_config("b", BucketConfigKind::Policy), Ok(None));
    s.put_bucket_config("b", &policy).unwrap();
    s.delete_bucket("b").unwrap();
    s.create_bucket("b", "r").unwrap();
    assert_eq!(s.get_bucket_config("b", BucketConfigKind::Policy), Ok(None));
    assert_eq!(
        s.get_bucket_config("b", BucketConfigKind::PublicAccessBlock),
        Ok(None)
    );
}

#[test]
fn scan_layouts_pages_through_objects_then_uploads() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    s.create_bucket("c", "r").unwrap();
    for key in ["k1", "k2", "k3"] {
        s.put_object("b", key, row("e", &format!("b-{key}")), false, None)
            .unwrap();
    }
    s.put_object("b", "small", inline("e"), false, None)
        .unwrap();
    s.put_object("c", "k", row("e", "c-k"), false, None)
        .unwrap();
    s.create_upload(upload("b", "mp", "u1")).unwrap();
    s.put_part("b", "mp", "u1", part(1, MIN_PART_SIZE, "p1", "u1-p1"))
        .unwrap();
    s.put_part("b", "mp", "u1", part(2, 10, "p2", "u1-p2"))
        .unwrap();

    for limit in [1, 2, 3, 100] {
        let mut owners = Vec::new();
        let mut chunks = 0;
        let mut cursor = Vec::new();
        loop {
            let page = s.scan_layouts(&cursor, limit).unwrap();
            assert!(page.entries.len() <= limit as usize);
            for e in page.entries {
                chunks += e
                    .parts
                    .iter()
                    .map(|p| p.segments[0].chunks.len())
                    .sum::<usize>();
                owners.push(e.owner);
            }
            match page.next {
                Some(n) => cursor = n,
                None => break,
            }
        }
        let obj = |b: &str, k: &str| LayoutOwner::Object {
            bucket: b.into(),
            key: k.into(),
        };
        // Inline objects have no layout; uploads come after the objects.
        assert_eq!(
            owners,
            vec![
                obj("b", "k1"),
                obj("b", "k2"),
                obj("b", "k3"),
                obj("c", "k"),
                LayoutOwner::Upload {
                    bucket: "b".into(),
                    key: "mp".into(),
                    upload_id: "u1".into()
                },
            ],
            "limit {limit}"
        );
        assert_eq!(chunks, 6 * 6, "limit {limit}");
    }
}

fn heartbeat(id: u32, zone: &str, at_ms: i64) -> Heartbeat {
    Heartbeat {
        node: shale_common::NodeInfo {
            id,
            addr: format!("n{id}:1"),
            zone: zone.into(),
        },
        received_ms: at_ms,
        health: NodeHealth {
            down_after_ms: 1_000,
            disks: vec![DiskReport {
                path: "/d".into(),
                chunks: 3,
                used_bytes: 300,
                capacity_bytes: Some(1000),
                available_bytes: Some(700),
                error: None,
            }],
            corrupt_chunks: 0,
        },
    }
}

#[test]
fn swap_chunk_changes_one_placement_only_if_it_is_still_the_old_one() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    s.put_object("b", "k", row("e", "x"), false, None).unwrap();
    let owner = LayoutOwner::Object {
        bucket: "b".into(),
        key: "k".into(),
    };
    let chunk = |r: &ObjectRow, i: usize| match &r.data {
        ObjectData::Parts(p) => p[0].segments[0].chunks[i].clone(),
        ObjectData::Inline(_) => panic!("inline"),
    };
    let old = chunk(&s.get_object("b", "k").unwrap(), 2);
    let moved = ChunkPlacement {
        node: 9,
        ..old.clone()
    };
    assert!(s.swap_chunk(&owner, (1, 0, 2), &old, &moved).unwrap());
    let now = s.get_object("b", "k").unwrap();
    assert_eq!(chunk(&now, 2), moved);
    assert_eq!(chunk(&now, 1).node, 1, "the other chunks stay");
    assert_eq!(now.etag, "e");
    // A second swap from the old placement does nothing (it moved already).
    let again = ChunkPlacement {
        node: 7,
        ..old.clone()
    };
    assert!(!s.swap_chunk(&owner, (1, 0, 2), &old, &again).unwrap());
    // Wrong part, segment or shard, an overwritten or deleted key: nothing.
    assert!(!s.swap_chunk(&owner, (2, 0, 2), &moved, &again).unwrap());
    assert!(!s.swap_chunk(&owner, (1, 5, 2), &moved, &again).unwrap());
    assert!(!s.swap_chunk(&owner, (1, 0, 9), &moved, &again).unwrap());
    s.put_object("b", "k", row("e2", "y"), false, None).unwrap();
    assert!(!s.swap_chunk(&owner, (1, 0, 2), &moved, &again).unwrap());
    s.delete_object("b", "k").unwrap();
    assert!(!s.swap_chunk(&owner, (1, 0, 2), &moved, &again).unwrap());
    // A swap never renames a chunk.
    let renamed = ChunkPlacement {
        chunk_id: "other".into(),
        ..moved.clone()
    };
    assert!(s.swap_chunk(&owner, (1, 0, 2), &moved, &renamed).is_err());

    // Parts of an upload in progress: the same, on the part row.
    s.create_upload(upload("b", "mp", "u1")).unwrap();
    s.put_part("b", "mp", "u1", part(3, 10, "p", "u1-p"))
        .unwrap();
    let up = LayoutOwner::Upload {
        bucket: "b".into(),
        key: "mp".into(),
        upload_id: "u1".into(),
    };
    let old = part(3, 10, "p", "u1-p").layout.segments[0].chunks[0].clone();
    let marked = ChunkPlacement {
        durable: false,
        ..old.clone()
    };
    assert!(s.swap_chunk(&up, (3, 0, 0), &old, &marked).unwrap());
    let listed = s.list_parts("b", "mp", "u1", 0, 10).unwrap();
    assert_eq!(listed.parts[0].layout.segments[0].chunks[0], marked);
    s.abort_upload("b", "mp", "u1").unwrap();
    assert!(!s.swap_chunk(&up, (3, 0, 0), &marked, &old).unwrap());
}

#[test]
fn heartbeats_register_nodes_and_the_epoch_counts_changes_of_membership_and_state() {
    let (_d, s) = open();
    assert_eq!(s.cluster_view(0).unwrap().epoch, 0);
    s.heartbeat(&heartbeat(1, "z1", 10_000)).unwrap();
    s.heartbeat(&heartbeat(2, "z2", 10_000)).unwrap();
    assert_eq!(s.cluster_view(0).unwrap().epoch, 2);
    // A heartbeat that changes nothing but the time and health: same epoch.
    s.heartbeat(&heartbeat(1, "z1", 12_000)).unwrap();
    let view = s.cluster_view(12_500).unwrap();
    assert_eq!(view.epoch, 2);
    assert_eq!(view.nodes[0].last_heartbeat_ms, 12_000);
    assert_eq!(view.nodes[0].health.as_ref().unwrap().disks[0].chunks, 3);
    // Down is read, not written: node 2's lease (1 s) ran out at 11 000.
    assert!(view.nodes[0].is_up(view.now_ms));
    assert!(!view.nodes[1].is_up(view.now_ms));
    assert_eq!(view.nodes[1].state_label(view.now_ms), "down");
    assert!(!view.nodes[1].placeable(view.now_ms));
    // A node moving zone is a change of the map.
    s.heartbeat(&heartbeat(2, "z3", 13_000)).unwrap();
    assert_eq!(s.cluster_view(0).unwrap().epoch, 3);
    // Drain and remove: epoch bumps, state kept across heartbeats.
    s.set_node_state(1, NodeState::Draining).unwrap();
    s.set_node_state(1, NodeState::Draining).unwrap();
    assert_eq!(s.cluster_view(0).unwrap().epoch, 4);
    s.heartbeat(&heartbeat(1, "z1", 14_000)).unwrap();
    let view = s.cluster_view(14_000).unwrap();
    assert_eq!(view.nodes[0].state, NodeState::Draining);
    assert_eq!(view.nodes[0].state_label(14_000), "draining");
    assert!(!view.nodes[0].placeable(14_000));
    s.set_node_state(2, NodeState::Removed).unwrap();
    assert_eq!(s.cluster_view(0).unwrap().epoch, 5);
    assert!(matches!(
        s.set_node_state(9, NodeState::Draining),
        Err(MetaError::InvalidArgument(_))
    ));
    // The plain map still lists every node (reads of old chunks need them).
    assert_eq!(s.cluster_map().unwrap().len(), 2);
}

/// A key made by `shale admin key create`, with no grant yet.
fn user_key() -> AccessKey {
    AccessKey {
        access_key: "USER".into(),
        secret_key: "u".into(),
        name: "user".into(),
        grants: Some(vec![]),
    }
}

#[test]
fn grants_are_kept_per_bucket_and_keys_can_be_listed_and_deleted() {
    let (_d, s) = open();
    s.put_access_key(&AccessKey::root("ROOT".into(), "r".into(), "root".into()))
        .unwrap();
    s.put_access_key(&user_key()).unwrap();
    s.set_grant("USER", "photos", Some(Permission::Read))
        .unwrap();
    s.set_grant("USER", "logs", Some(Permission::Write))
        .unwrap();
    s.set_grant("USER", "photos", Some(Permission::Owner))
        .unwrap();
    let user = s.get_access_key("USER").unwrap().unwrap();
    assert_eq!(user.permission("photos"), Some(Permission::Owner));
    assert_eq!(user.permission("logs"), Some(Permission::Write));
    assert_eq!(user.permission("other"), None);
    s.set_grant("USER", "logs", None).unwrap();
    assert_eq!(
        s.get_access_key("USER")
            .unwrap()
            .unwrap()
            .permission("logs"),
        None
    );
    assert!(matches!(
        s.set_grant("ROOT", "photos", Some(Permission::Read)),
        Err(MetaError::InvalidRequest(_))
    ));
    assert_eq!(
        s.list_access_keys()
            .unwrap()
            .iter()
            .map(|k| k.access_key.as_str())
            .collect::<Vec<_>>(),
        ["ROOT", "USER"]
    );
    s.delete_access_key("USER").unwrap();
    assert!(s.get_access_key("USER").unwrap().is_none());
    assert!(s.delete_access_key("USER").is_err());
}

#[test]
fn deleting_a_bucket_takes_back_its_grants() {
    let (_d, s) = open();
    s.put_access_key(&user_key()).unwrap();
    s.create_bucket("photos", "r").unwrap();
    s.create_bucket("logs", "r").unwrap();
    s.set_grant("USER", "photos", Some(Permission::Write))
        .unwrap();
    s.set_grant("USER", "logs", Some(Permission::Read)).unwrap();
    s.delete_bucket("photos").unwrap();
    // A bucket made again under the name is not open to the old grantee.
    s.create_bucket("photos", "r").unwrap();
    let user = s.get_access_key("USER").unwrap().unwrap();
    assert_eq!(user.permission("photos"), None);
    assert_eq!(user.permission("logs"), Some(Permission::Read));
}

#[test]
fn a_lease_has_one_holder_until_it_runs_out() {
    let (_d, s) = open();
    assert!(s.take_lease("moves", "a", 60_000).unwrap());
    assert!(!s.take_lease("moves", "b", 60_000).unwrap(), "a holds it");
    assert!(s.take_lease("moves", "a", 60_000).unwrap(), "a renews it");
    assert!(
        s.take_lease("other", "b", 60_000).unwrap(),
        "leases are by name"
    );
    // Run out (1 ms), then taken by another.
    assert!(s.take_lease("short", "a", 1).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(s.take_lease("short", "b", 60_000).unwrap());
    assert!(!s.take_lease("short", "a", 60_000).unwrap());
    // Lease rows are not nodes.
    assert!(s.cluster_map().unwrap().is_empty());
}
