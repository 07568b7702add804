//! Object versions in the store: versioned and suspended writes, delete
//! markers, removal by id, the null version, listings and their paging,
//! what GC and the healer see, and Object Lock on removal.

mod common;

use common::*;
use shale_metadata::*;

fn enable(s: &MetaStore, bucket: &str, status: VersioningStatus) {
    s.put_bucket_config(bucket, &BucketConfig::Versioning(status))
        .unwrap();
}

fn put(s: &MetaStore, bucket: &str, key: &str, r: ObjectRow) -> Option<String> {
    s.write_object(bucket, key, r, (false, None), &LockRequest::default())
        .unwrap()
        .0
        .version_id
}

fn id(v: &str) -> VersionRef {
    VersionRef::parse(Some(v)).unwrap()
}

/// (key, version id, latest, marker) of every entry of a full listing.
fn listing(s: &MetaStore, bucket: &str) -> Vec<(String, String, bool, bool)> {
    let res = s.list_versions(bucket, "", None, None, None, 1000).unwrap();
    assert!(!res.is_truncated);
    res.versions
        .into_iter()
        .map(|v| (v.key, v.version_id, v.is_latest, v.delete_marker))
        .collect()
}

#[test]
fn enabled_buckets_keep_every_version_newest_first() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    assert_eq!(
        put(&s, "b", "k", row("e0", "c0")),
        None,
        "unversioned: no id"
    );
    enable(&s, "b", VersioningStatus::Enabled);
    let ids: Vec<String> = (1..=3)
        .map(|i| put(&s, "b", "k", row(&format!("e{i}"), &format!("c{i}"))).unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids sort like versions"
    );
    assert!(gc_chunk_ids(&s).is_empty(), "overwriting frees nothing");
    let l = listing(&s, "b");
    let want: Vec<_> = [&ids[2], &ids[1], &ids[0], "null"]
        .iter()
        .enumerate()
        .map(|(i, v)| ("k".to_owned(), v.to_string(), i == 0, false))
        .collect();
    assert_eq!(l, want);
    assert_eq!(s.get_object("b", "k").unwrap().etag, "e3");
    for (i, v) in ids.iter().enumerate() {
        let got = s.get_version("b", "k", id(v)).unwrap();
        assert_eq!(got.object.row.etag, format!("e{}", i + 1));
        assert_eq!(got.version_id.as_deref(), Some(v.as_str()));
    }
    assert_eq!(
        s.get_version("b", "k", VersionRef::Null)
            .unwrap()
            .object
            .row
            .etag,
        "e0"
    );
    let missing = format!("{:016x}", u64::from_str_radix(&ids[0], 16).unwrap() - 1);
    assert_eq!(
        s.get_version("b", "k", id(&missing)).unwrap_err(),
        MetaError::NoSuchVersion
    );
    assert_eq!(
        s.list_objects("b", "", None, None, 10)
            .unwrap()
            .objects
            .len(),
        1
    );
}

#[test]
fn delete_markers_hide_a_key_until_removed_by_id() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    enable(&s, "b", VersioningStatus::Enabled);
    let v1 = put(&s, "b", "k", row("e1", "c1")).unwrap();
    let gone = s
        .delete_version("b", "k", VersionRef::Latest, false, Some("AKD".into()))
        .unwrap();
    assert!(gone.delete_marker);
    let marker = gone.version_id.unwrap();
    assert_eq!(s.get_object("b", "k").unwrap_err(), MetaError::NoSuchKey);
    let latest = s.get_version("b", "k", VersionRef::Latest).unwrap();
    assert!(latest.object.version.marker);
    assert_eq!(latest.version_id.as_deref(), Some(marker.as_str()));
    assert_eq!(latest.object.row.owner.as_deref(), Some("AKD"));
    assert!(
        s.list_objects("b", "", None, None, 10)
            .unwrap()
            .objects
            .is_empty()
    );
    assert_eq!(
        listing(&s, "b"),
        [
            ("k".into(), marker.clone(), true, true),
            ("k".into(), v1.clone(), false, false)
        ]
    );
    // A second marker stacks on the first.
    let m2 = s
        .delete_version("b", "k", VersionRef::Latest, false, None)
        .unwrap()
        .version_id
        .unwrap();
    for m in [&m2, &marker] {
        let removed = s.delete_version("b", "k", id(m), false, None).unwrap();
        assert!(removed.delete_marker);
    }
    assert_eq!(s.get_object("b", "k").unwrap().etag, "e1", "current again");
    assert_eq!(listing(&s, "b"), [("k".into(), v1, true, false)]);
    assert!(gc_chunk_ids(&s).is_empty());
}

#[test]
fn removing_the_current_version_makes_the_previous_one_current() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    enable(&s, "b", VersioningStatus::Enabled);
    let v1 = put(&s, "b", "k", row("e1", "c1")).unwrap();
    let v2 = put(&s, "b", "k", row("e2", "c2")).unwrap();
    let done = s.delete_version("b", "k", id(&v2), false, None).unwrap();
    assert_eq!(done.version_id.as_deref(), Some(v2.as_str()));
    assert!(!done.delete_marker);
    assert_eq!(s.get_object("b", "k").unwrap().etag, "e1");
    assert!(
        gc_chunk_ids(&s).contains("c2-0"),
        "removed for good: collected"
    );
    assert!(!gc_chunk_ids(&s).contains("c1-0"));
    assert_eq!(listing(&s, "b"), [("k".into(), v1.clone(), true, false)]);
    // A version that does not exist is success, as in S3.
    assert!(s.delete_version("b", "k", id(&v2), false, None).is_ok());
    s.delete_version("b", "k", id(&v1), false, None).unwrap();
    assert!(listing(&s, "b").is_empty());
    s.delete_bucket("b").unwrap();
}

#[test]
fn suspended_buckets_replace_only_the_null_version() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    enable(&s, "b", VersioningStatus::Enabled);
    let v1 = put(&s, "b", "k", row("e1", "c1")).unwrap();
    enable(&s, "b", VersioningStatus::Suspended);
    assert_eq!(put(&s, "b", "k", row("n1", "n1")).as_deref(), Some("null"));
    assert_eq!(put(&s, "b", "k", row("n2", "n2")).as_deref(), Some("null"));
    assert!(gc_chunk_ids(&s).contains("n1-0"), "the old null is gone");
    assert!(!gc_chunk_ids(&s).contains("c1-0"));
    assert_eq!(
        listing(&s, "b"),
        [
            ("k".into(), "null".into(), true, false),
            ("k".into(), v1.clone(), false, false)
        ]
    );
    // A DELETE makes a null marker, which replaces the null version.
    let gone = s
        .delete_version("b", "k", VersionRef::Latest, false, None)
        .unwrap();
    assert_eq!(gone.version_id.as_deref(), Some("null"));
    assert!(gone.delete_marker);
    assert!(gc_chunk_ids(&s).contains("n2-0"));
    assert_eq!(
        listing(&s, "b"),
        [
            ("k".into(), "null".into(), true, true),
            ("k".into(), v1.clone(), false, false)
        ]
    );
    // Enabled again: the null marker stays among the versions.
    enable(&s, "b", VersioningStatus::Enabled);
    let v3 = put(&s, "b", "k", row("e3", "c3")).unwrap();
    let l = listing(&s, "b");
    assert_eq!(l.len(), 3);
    assert_eq!(l[0].1, v3);
    assert_eq!((l[1].1.as_str(), l[1].3), ("null", true));
    // And a later suspended write replaces that null marker too.
    enable(&s, "b", VersioningStatus::Suspended);
    put(&s, "b", "k", row("n4", "n4"));
    let l = listing(&s, "b");
    let got: Vec<_> = l.iter().map(|v| (v.1.as_str(), v.2, v.3)).collect();
    assert_eq!(
        got,
        [
            ("null", true, false),
            (v3.as_str(), false, false),
            (v1.as_str(), false, false)
        ]
    );
}

#[test]
fn version_listings_page_strictly_after_their_markers() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    put(&s, "b", "a/1", row("x", "x"));
    enable(&s, "b", VersioningStatus::Enabled);
    for key in ["a/1", "a/2", "b", "b\0z", "c"] {
        for i in 0..3 {
            put(&s, "b", key, inline(&format!("{key}{i}")));
        }
        s.delete_version("b", key, VersionRef::Latest, false, None)
            .unwrap();
    }
    put(&s, "b", "c", inline("c-again"));
    let full = listing(&s, "b");
    assert_eq!(full.len(), 5 * 4 + 1 + 1);
    assert_eq!(full.iter().filter(|v| v.2).count(), 5, "one latest per key");
    for page in 1..=4u32 {
        let mut got = Vec::new();
        let (mut km, mut vm) = (None::<String>, None::<VersionRef>);
        loop {
            let res = s
                .list_versions("b", "", None, km.as_deref(), vm, page)
                .unwrap();
            assert!(res.versions.len() <= page as usize);
            got.extend(res.versions.iter().map(|v| {
                (
                    v.key.clone(),
                    v.version_id.clone(),
                    v.is_latest,
                    v.delete_marker,
                )
            }));
            if !res.is_truncated {
                break;
            }
            km = res.next_key_marker;
            vm = Some(id(res.next_version_id_marker.as_deref().unwrap()));
        }
        assert_eq!(got, full, "page size {page}");
    }
    // A key marker alone starts after every version of that key.
    let res = s
        .list_versions("b", "", None, Some("b"), None, 1000)
        .unwrap();
    assert_eq!(res.versions[0].key, "b\0z");
    // Delimiters roll keys up, markers included; prefixes narrow.
    let res = s
        .list_versions("b", "", Some("/"), None, None, 1000)
        .unwrap();
    assert_eq!(res.common_prefixes, ["a/"]);
    assert_eq!(res.versions.len(), 4 + 4 + 5);
    let res = s
        .list_versions("b", "a/", Some("/"), None, None, 1000)
        .unwrap();
    assert_eq!(res.versions.len(), 9);
    let res = s.list_versions("b", "", Some("/"), None, None, 1).unwrap();
    assert_eq!((res.common_prefixes.len(), res.is_truncated), (1, true));
    assert_eq!(res.next_key_marker.as_deref(), Some("a/"));
    assert_eq!(res.next_version_id_marker, None);
    let res = s
        .list_versions("b", "", Some("/"), Some("a/"), None, 1)
        .unwrap();
    assert_eq!(res.versions[0].key, "b");
    // A bucket holding only versions and markers is not empty.
    assert_eq!(s.delete_bucket("b").unwrap_err(), MetaError::BucketNotEmpty);
}

#[test]
fn the_healer_sees_and_repairs_noncurrent_versions() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    enable(&s, "b", VersioningStatus::Enabled);
    let v1 = put(&s, "b", "k", row("e1", "c1")).unwrap();
    put(&s, "b", "k", row("e2", "c2"));
    let mut owners = Vec::new();
    let mut cursor = Vec::new();
    loop {
        let page = s.scan_layouts(&cursor, 1).unwrap();
        owners.extend(page.entries.into_iter().map(|e| e.owner));
        match page.next {
            Some(n) => cursor = n,
            None => break,
        }
    }
    let seq = u64::from_str_radix(&v1, 16).unwrap();
    let version = LayoutOwner::Version {
        bucket: "b".into(),
        key: "k".into(),
        seq,
    };
    assert_eq!(owners.len(), 2);
    assert!(owners.contains(&version));
    let old = shale_common::ChunkPlacement {
        node: 0,
        chunk_id: "c1-0".into(),
        durable: true,
    };
    let new = shale_common::ChunkPlacement {
        node: 9,
        ..old.clone()
    };
    assert!(s.swap_chunk(&version, (1, 0, 0), &old, &new).unwrap());
    let got = s.get_version("b", "k", id(&v1)).unwrap();
    let shale_common::ObjectData::Parts(parts) = got.object.row.data else {
        panic!("coded")
    };
    assert_eq!(parts[0].segments[0].chunks[0].node, 9);
    assert!(!got.object.version.marker && got.object.version.noncurrent_ms > 0);
}

#[test]
fn locked_versions_are_not_removed_by_any_path() {
    let (_d, s) = open();
    locked_bucket(&s, "b", None);
    let far = i64::MAX / 2;
    let lock = |mode| LockRequest {
        retention: Some(Retention {
            mode,
            until_ms: far,
        }),
        legal_hold: false,
    };
    let (g, _) = s
        .write_object(
            "b",
            "g",
            row("g", "g"),
            (false, None),
            &lock(LockMode::Governance),
        )
        .unwrap();
    let (c, _) = s
        .write_object(
            "b",
            "c",
            row("c", "c"),
            (false, None),
            &lock(LockMode::Compliance),
        )
        .unwrap();
    let hold = LockRequest {
        retention: None,
        legal_hold: true,
    };
    let (h, _) = s
        .write_object("b", "h", row("h", "h"), (false, None), &hold)
        .unwrap();
    let denied = |key: &str, v: &Option<String>, bypass| {
        s.delete_version("b", key, id(v.as_deref().unwrap()), bypass, None)
    };
    assert!(matches!(
        denied("g", &g.version_id, false),
        Err(MetaError::AccessDenied(_))
    ));
    assert!(matches!(
        denied("c", &c.version_id, true),
        Err(MetaError::AccessDenied(_))
    ));
    assert!(matches!(
        denied("h", &h.version_id, true),
        Err(MetaError::AccessDenied(_))
    ));
    // A DELETE without a version id still adds a marker.
    assert!(
        s.delete_version("b", "c", VersionRef::Latest, false, None)
            .unwrap()
            .delete_marker
    );
    // Governance yields to a bypass.
    assert!(denied("g", &g.version_id, true).is_ok());
    assert!(gc_chunk_ids(&s).contains("g-0"));
    assert!(!gc_chunk_ids(&s).contains("c-0"));
}

#[test]
fn version_ids_are_checked() {
    assert_eq!(VersionRef::parse(None).unwrap(), VersionRef::Latest);
    assert_eq!(VersionRef::parse(Some("null")).unwrap(), VersionRef::Null);
    for bad in [
        "",
        "nope",
        "0000000000000000",
        "00000000000000000",
        "ABCDEF0123456789",
    ] {
        assert!(
            matches!(
                VersionRef::parse(Some(bad)),
                Err(MetaError::InvalidArgument(_))
            ),
            "{bad}"
        );
    }
    assert_eq!(
        VersionRef::parse(Some("00000000000000ff")).unwrap(),
        VersionRef::Id(255)
    );
}

fn locked_bucket(s: &MetaStore, name: &str, default: Option<DefaultRetention>) {
    let configs = [
        BucketConfig::Versioning(VersioningStatus::Enabled),
        BucketConfig::ObjectLock(ObjectLockConfig {
            default_retention: default,
        }),
    ];
    s.create_bucket_with(name, "r", None, &configs).unwrap();
}

#[test]
fn object_lock_needs_versioning_and_keeps_it_on() {
    let (_d, s) = open();
    locked_bucket(&s, "l", None);
    let suspend = BucketConfig::Versioning(VersioningStatus::Suspended);
    assert!(matches!(
        s.put_bucket_config("l", &suspend),
        Err(MetaError::InvalidBucketState(_))
    ));
    assert!(
        s.delete_bucket_config("l", BucketConfigKind::ObjectLock)
            .is_err()
    );
    // On an existing bucket: only once versioning is enabled.
    s.create_bucket("p", "r").unwrap();
    let lock = BucketConfig::ObjectLock(ObjectLockConfig::default());
    assert!(matches!(
        s.put_bucket_config("p", &lock),
        Err(MetaError::InvalidBucketState(_))
    ));
    enable(&s, "p", VersioningStatus::Enabled);
    s.put_bucket_config("p", &lock).unwrap();
    // A lock asked of a bucket without Object Lock is refused.
    s.create_bucket("u", "r").unwrap();
    let hold = LockRequest {
        retention: None,
        legal_hold: true,
    };
    assert!(matches!(
        s.write_object("u", "k", inline("e"), (false, None), &hold),
        Err(MetaError::InvalidRequest(_))
    ));
    assert!(matches!(
        s.set_legal_hold(("u", "k"), VersionRef::Latest, true),
        Err(MetaError::InvalidRequest(_))
    ));
}

#[test]
fn retention_is_extended_freely_and_loosened_only_as_s3_allows() {
    let (_d, s) = open();
    let default = DefaultRetention {
        mode: LockMode::Governance,
        days: Some(1),
        years: None,
    };
    locked_bucket(&s, "l", Some(default));
    let v = put(&s, "l", "k", row("e", "c")).unwrap();
    let got = s.get_version("l", "k", id(&v)).unwrap().object.version;
    let r = got.retention.expect("the bucket's default");
    assert_eq!(r.mode, LockMode::Governance);
    let day = 86_400_000;
    assert!(r.until_ms > day, "{r:?}");
    let at = ("l", "k");
    let later = |mode, until_ms| Some(Retention { mode, until_ms });
    // GOVERNANCE: extended without, shortened or removed only with bypass.
    s.set_retention(
        at,
        id(&v),
        later(LockMode::Governance, r.until_ms + day),
        false,
    )
    .unwrap();
    assert!(matches!(
        s.set_retention(at, id(&v), later(LockMode::Governance, r.until_ms), false),
        Err(MetaError::AccessDenied(_))
    ));
    assert!(matches!(
        s.set_retention(at, id(&v), None, false),
        Err(MetaError::AccessDenied(_))
    ));
    s.set_retention(
        at,
        id(&v),
        later(LockMode::Compliance, r.until_ms + 2 * day),
        true,
    )
    .unwrap();
    // COMPLIANCE: only ever extended, bypass or not.
    for (mode, until) in [
        (LockMode::Compliance, r.until_ms),
        (LockMode::Governance, r.until_ms + 3 * day),
    ] {
        assert!(matches!(
            s.set_retention(at, id(&v), later(mode, until), true),
            Err(MetaError::AccessDenied(_))
        ));
    }
    assert!(matches!(
        s.set_retention(at, id(&v), None, true),
        Err(MetaError::AccessDenied(_))
    ));
    let answer = s
        .set_retention(
            at,
            VersionRef::Latest,
            later(LockMode::Compliance, r.until_ms + 5 * day),
            false,
        )
        .unwrap();
    assert_eq!(answer.version_id.as_deref(), Some(v.as_str()));
    assert!(matches!(
        s.delete_version("l", "k", id(&v), true, None),
        Err(MetaError::AccessDenied(_))
    ));
    // A retention that has passed holds nothing.
    let v2 = put(&s, "l", "old", inline("e")).unwrap();
    s.set_retention(("l", "old"), id(&v2), later(LockMode::Governance, 1), true)
        .unwrap();
    s.set_retention(("l", "old"), id(&v2), None, false).unwrap();
    // Legal holds: on and off, on any version, marker or not.
    s.set_retention(("l", "old"), id(&v2), None, false).unwrap();
    s.set_legal_hold(("l", "old"), id(&v2), true).unwrap();
    assert!(s.delete_version("l", "old", id(&v2), true, None).is_err());
    let marker = s
        .delete_version("l", "old", VersionRef::Latest, false, None)
        .unwrap();
    assert!(matches!(
        s.set_legal_hold(
            ("l", "old"),
            id(marker.version_id.as_deref().unwrap()),
            true
        ),
        Err(MetaError::MethodNotAllowed)
    ));
    s.set_legal_hold(("l", "old"), id(&v2), false).unwrap();
    s.delete_version("l", "old", id(&v2), false, None).unwrap();
}

#[test]
fn multipart_uploads_carry_their_lock_to_the_object() {
    let (_d, s) = open();
    locked_bucket(&s, "l", None);
    let mut u = upload("l", "k", "u1");
    u.system_headers.extend([
        (UPLOAD_LOCK_MODE.to_owned(), "COMPLIANCE".to_owned()),
        (UPLOAD_LOCK_UNTIL.to_owned(), (i64::MAX / 2).to_string()),
        (UPLOAD_LOCK_HOLD.to_owned(), "ON".to_owned()),
    ]);
    s.create_upload(u).unwrap();
    s.put_part("l", "k", "u1", part(1, 10, MD5_HELLO, "p1"))
        .unwrap();
    let done = s
        .finish_upload(
            "l",
            "k",
            "u1",
            &[(1, MD5_HELLO.into())],
            &CompleteChecks::default(),
            false,
        )
        .unwrap();
    assert_eq!(
        done.row.system_headers,
        [("content-language".to_owned(), "fr".to_owned())]
    );
    let v = s
        .get_version("l", "k", VersionRef::Latest)
        .unwrap()
        .object
        .version;
    assert_eq!(v.retention.map(|r| r.mode), Some(LockMode::Compliance));
    assert_eq!(v.legal_hold, Some(true));
}

/// A noncurrent expiration due at once, keeping none.
const NOW_DUE: ExpireAction = ExpireAction::Noncurrent {
    days_ms: 0,
    day_ms: 1,
    keep_newer: 0,
};

fn order_of(s: &MetaStore, bucket: &str, key: &str, version: &str) -> u64 {
    s.list_versions(bucket, key, None, None, None, 1000)
        .unwrap()
        .versions
        .into_iter()
        .find(|v| v.key == key && v.version_id == version)
        .map(|v| v.order)
        .unwrap()
}

#[test]
fn lifecycle_expirations_act_only_on_the_version_the_worker_saw() {
    let (_d, s) = open();
    s.create_bucket("u", "r").unwrap();
    put(&s, "u", "k", inline("a"));
    let seen = order_of(&s, "u", "k", "null");
    put(&s, "u", "k", inline("b"));
    // A newer write since: nothing happens.
    let done = s.expire(("u", "k"), seen, ExpireAction::Current).unwrap();
    assert_eq!(done.version_id, None);
    assert_eq!(s.get_object("u", "k").unwrap().etag, "b");
    let now = order_of(&s, "u", "k", "null");
    let done = s.expire(("u", "k"), now, ExpireAction::Current).unwrap();
    assert_eq!(done.version_id.as_deref(), Some("null"));
    assert_eq!(s.get_object("u", "k").unwrap_err(), MetaError::NoSuchKey);

    s.create_bucket("v", "r").unwrap();
    enable(&s, "v", VersioningStatus::Enabled);
    let v1 = put(&s, "v", "k", inline("a")).unwrap();
    let v2 = put(&s, "v", "k", inline("b")).unwrap();
    let cur = order_of(&s, "v", "k", &v2);
    let marker = s.expire(("v", "k"), cur, ExpireAction::Current).unwrap();
    assert!(
        marker.delete_marker,
        "versioned: a marker hides the current one"
    );
    // The current version is not noncurrent, a marker is not a version to
    // expire as noncurrent, and a marker with versions under it stays.
    let m = marker.version_id.unwrap();
    let m_order = order_of(&s, "v", "k", &m);
    for (order, action) in [(m_order, NOW_DUE), (m_order, ExpireAction::DeleteMarker)] {
        assert_eq!(
            s.expire(("v", "k"), order, action).unwrap().version_id,
            None
        );
    }
    for v in [&v1, &v2] {
        let o = order_of(&s, "v", "k", v);
        let gone = s.expire(("v", "k"), o, NOW_DUE).unwrap();
        assert_eq!(gone.version_id.as_deref(), Some(v.as_str()));
    }
    // Now the marker is the key's only version: it goes.
    let gone = s
        .expire(("v", "k"), m_order, ExpireAction::DeleteMarker)
        .unwrap();
    assert!(gone.delete_marker);
    assert!(listing(&s, "v").is_empty());
}

#[test]
fn worker_cursors_are_kept_and_cleared() {
    let (_d, s) = open();
    assert_eq!(s.get_cursor("lifecycle").unwrap(), None);
    s.set_cursor("lifecycle", b"pos").unwrap();
    assert_eq!(
        s.get_cursor("lifecycle").unwrap().as_deref(),
        Some(&b"pos"[..])
    );
    s.set_cursor("lifecycle", b"").unwrap();
    assert_eq!(s.get_cursor("lifecycle").unwrap(), None);
    assert!(s.node_records().unwrap().is_empty(), "not a node row");
}

#[test]
fn noncurrent_expirations_are_rechecked_when_applied() {
    let (_d, s) = open();
    s.create_bucket("v", "r").unwrap();
    enable(&s, "v", VersioningStatus::Enabled);
    let v1 = put(&s, "v", "k", inline("a")).unwrap();
    put(&s, "v", "k", inline("b"));
    put(&s, "v", "k", inline("c"));
    let o1 = order_of(&s, "v", "k", &v1);
    let with = |days_ms, keep_newer| ExpireAction::Noncurrent {
        days_ms,
        day_ms: 1,
        keep_newer,
    };
    // Not noncurrent for long enough yet, or too few newer noncurrent
    // versions (a client removed one since the worker looked): kept.
    let not_yet = with(i64::MAX / 4, 0);
    assert_eq!(s.expire(("v", "k"), o1, not_yet).unwrap().version_id, None);
    assert_eq!(
        s.expire(("v", "k"), o1, with(0, 2)).unwrap().version_id,
        None
    );
    let gone = s.expire(("v", "k"), o1, with(0, 1)).unwrap();
    assert_eq!(gone.version_id.as_deref(), Some(v1.as_str()));
}
