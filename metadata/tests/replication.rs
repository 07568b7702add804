//! The replication queue and replicas, against a real RocksDB: a write to
//! a replicated bucket carries its task in its own batch, the version's
//! status follows the outcomes, and a replica keeps its version id
//! wherever it lands among the key's versions, once.

mod common;

use common::*;
use shale_metadata::*;

fn versioned(s: &MetaStore, bucket: &str) {
    s.create_bucket(bucket, "r").unwrap();
    s.put_bucket_config(bucket, &BucketConfig::Versioning(VersioningStatus::Enabled))
        .unwrap();
}

fn rule(
    id: &str,
    prefix: &str,
    with: &[(&str, &str)],
    dest: &str,
    markers: bool,
) -> ReplicationRule {
    ReplicationRule {
        id: id.into(),
        priority: Some(1),
        enabled: true,
        filter: ReplicationFilter {
            prefix: prefix.into(),
            tags: tags(with),
        },
        delete_marker_replication: markers,
        destination: ReplicationDestination {
            bucket: dest.into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn replicate(s: &MetaStore, bucket: &str, rules: Vec<ReplicationRule>) {
    s.put_bucket_config(
        bucket,
        &BucketConfig::Replication(ReplicationConfig {
            role: String::new(),
            rules,
        }),
    )
    .unwrap();
}

fn put(s: &MetaStore, bucket: &str, key: &str, r: ObjectRow) -> String {
    s.write_object(bucket, key, r, (false, None), &LockRequest::default())
        .unwrap()
        .0
        .version_id
        .unwrap()
}

fn status(s: &MetaStore, bucket: &str, key: &str, id: &str) -> Option<String> {
    let v = s
        .get_version(bucket, key, VersionRef::parse(Some(id)).unwrap())
        .unwrap();
    v.object
        .row
        .system_headers
        .iter()
        .find(|(n, _)| n == REPLICATION_STATUS)
        .map(|(_, v)| v.clone())
}

fn tasks(s: &MetaStore) -> Vec<(Vec<u8>, ReplicationTask)> {
    s.replication_tasks(&[], 1000).unwrap()
}

/// The enqueue time of the task at `key` now.
fn t0(s: &MetaStore, key: &[u8]) -> i64 {
    tasks(s)
        .into_iter()
        .find(|(k, _)| k == key)
        .map_or(0, |(_, t)| t.enqueued_ms)
}

fn order(id: &str) -> u64 {
    u64::from_str_radix(id, 16).unwrap()
}

#[test]
fn a_write_a_rule_selects_is_queued_pending_with_its_destinations() {
    let (_d, s) = open();
    versioned(&s, "src");
    replicate(
        &s,
        "src",
        vec![
            rule("logs", "logs/", &[], "dst", false),
            rule("t", "", &[("r", "1")], "dst2", false),
        ],
    );
    let a = put(&s, "src", "logs/a", inline("e1"));
    let b = put(&s, "src", "other", inline("e2"));
    let mut tagged = inline("e3");
    tagged.tags = tags(&[("r", "1")]);
    let c = put(&s, "src", "logs/c", tagged);
    assert_eq!(status(&s, "src", "logs/a", &a).as_deref(), Some("PENDING"));
    assert_eq!(status(&s, "src", "other", &b), None, "no rule selects it");
    let t = tasks(&s);
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].1.key.as_str(), t[0].1.order), ("logs/a", order(&a)));
    assert_eq!(t[0].1.destinations, ["dst"]);
    assert_eq!(t[0].1.kind, ReplicationKind::Version);
    assert_eq!(t[1].1.destinations, ["dst", "dst2"], "{c}");
    // A delete marker: only with DeleteMarkerReplication.
    s.delete_version("src", "logs/a", VersionRef::Latest, false, None)
        .unwrap();
    assert_eq!(tasks(&s).len(), 2);
    replicate(&s, "src", vec![rule("m", "", &[], "dst", true)]);
    let marker = s
        .delete_version("src", "logs/a", VersionRef::Latest, false, None)
        .unwrap();
    let t = tasks(&s);
    let m = t
        .iter()
        .find(|(_, t)| t.kind == ReplicationKind::Marker)
        .unwrap();
    assert_eq!(m.1.order, order(marker.version_id.as_deref().unwrap()));
    // A DELETE of a version id never is.
    let n = tasks(&s).len();
    s.delete_version(
        "src",
        "logs/c",
        VersionRef::parse(Some(&c)).unwrap(),
        false,
        None,
    )
    .unwrap();
    assert_eq!(tasks(&s).len(), n);
}

#[test]
fn outcomes_complete_retry_and_fail_the_version() {
    let (_d, s) = open();
    versioned(&s, "src");
    replicate(
        &s,
        "src",
        vec![rule("a", "", &[], "d1", false), {
            let mut r = rule("b", "", &[], "d2", false);
            r.priority = Some(2);
            r
        }],
    );
    let v = put(&s, "src", "k", inline("e"));
    let (key, t) = tasks(&s).remove(0);
    assert_eq!(t.destinations, ["d1", "d2"]);
    s.replication_done(&key, t0(&s, &key), "d1", &ReplicationOutcome::Completed)
        .unwrap();
    assert_eq!(status(&s, "src", "k", &v).as_deref(), Some("PENDING"));
    s.replication_done(
        &key,
        t0(&s, &key),
        "d2",
        &ReplicationOutcome::Retry {
            error: "down".into(),
            not_before_ms: 123,
        },
    )
    .unwrap();
    let (_, t) = tasks(&s).remove(0);
    assert_eq!(
        (t.destinations.clone(), t.attempts, t.not_before_ms),
        (vec!["d2".to_owned()], 1, 123)
    );
    assert_eq!(status(&s, "src", "k", &v).as_deref(), Some("PENDING"));
    s.replication_done(&key, t0(&s, &key), "d2", &ReplicationOutcome::Completed)
        .unwrap();
    assert!(tasks(&s).is_empty());
    assert_eq!(status(&s, "src", "k", &v).as_deref(), Some("COMPLETED"));
    // A second report of a finished task changes nothing.
    s.replication_done(&key, t0(&s, &key), "d2", &ReplicationOutcome::Completed)
        .unwrap();

    // Failed for good, then put back by hand, then done.
    let w = put(&s, "src", "k", inline("e2"));
    let (key, _) = tasks(&s).remove(0);
    s.replication_done(
        &key,
        t0(&s, &key),
        "d1",
        &ReplicationOutcome::Failed {
            error: "NoSuchBucket".into(),
        },
    )
    .unwrap();
    assert_eq!(status(&s, "src", "k", &w).as_deref(), Some("FAILED"));
    let (_, t) = tasks(&s).remove(0);
    assert!(t.failed);
    assert_eq!(t.last_error.as_deref(), Some("d1: NoSuchBucket"));
    assert_eq!(s.replication_retry("other").unwrap(), 0);
    assert_eq!(s.replication_retry("src").unwrap(), 1);
    assert_eq!(status(&s, "src", "k", &w).as_deref(), Some("PENDING"));
    let (_, t) = tasks(&s).remove(0);
    assert!(!t.failed);
    // The old version (now noncurrent) kept its status.
    assert_eq!(status(&s, "src", "k", &v).as_deref(), Some("COMPLETED"));
}

#[test]
fn a_copied_status_is_dropped_and_a_replica_is_never_queued() {
    let (_d, s) = open();
    versioned(&s, "src");
    let mut copied = inline("e");
    copied
        .system_headers
        .push((REPLICATION_STATUS.into(), "COMPLETED".into()));
    let v = put(&s, "src", "k", copied);
    assert_eq!(status(&s, "src", "k", &v), None);
    replicate(&s, "src", vec![rule("a", "", &[], "d", true)]);
    let order = 7 << 20;
    let a = s
        .write_replica(
            "src",
            "r",
            inline("e"),
            order,
            (false, &LockRequest::default()),
        )
        .unwrap()
        .0;
    assert_eq!(a.version_id.as_deref(), Some("0000000000700000"));
    assert_eq!(
        status(&s, "src", "r", "0000000000700000").as_deref(),
        Some("REPLICA")
    );
    assert!(tasks(&s).is_empty());
}

#[test]
fn a_replica_takes_its_place_among_the_versions_once() {
    let (_d, s) = open();
    versioned(&s, "dst");
    let o = |n: u64| n << 20;
    let lock = LockRequest::default();
    // Arriving out of order: 20, then 10 (older), then 30 (newest).
    let v20 = s
        .write_replica("dst", "k", row("e20", "c20"), o(20), (false, &lock))
        .unwrap()
        .0;
    s.write_replica("dst", "k", row("e10", "c10"), o(10), (false, &lock))
        .unwrap();
    let cur = s.get_version("dst", "k", VersionRef::Latest).unwrap();
    assert_eq!(
        cur.object.row.etag, "e20",
        "an older replica does not become current"
    );
    s.write_replica("dst", "k", row("e30", "c30"), o(30), (false, &lock))
        .unwrap();
    let cur = s.get_version("dst", "k", VersionRef::Latest).unwrap();
    assert_eq!(cur.object.row.etag, "e30");
    let ids: Vec<String> = s
        .list_versions("dst", "", None, None, None, 1000)
        .unwrap()
        .versions
        .into_iter()
        .map(|v| v.version_id)
        .collect();
    assert_eq!(
        ids,
        [version_id(o(30)), version_id(o(20)), version_id(o(10))]
    );
    // The same version again: kept once, the new copy's chunks to GC.
    let before = gc_chunk_ids(&s);
    let again = s
        .write_replica("dst", "k", row("e20", "dup"), o(20), (false, &lock))
        .unwrap();
    assert_eq!(again.0.version_id, v20.version_id);
    assert!(again.1.is_some());
    assert_eq!(
        s.list_versions("dst", "", None, None, None, 1000)
            .unwrap()
            .versions
            .len(),
        3
    );
    let freed: Vec<_> = gc_chunk_ids(&s).difference(&before).cloned().collect();
    assert!(
        !freed.is_empty() && freed.iter().all(|c| c.starts_with("dup")),
        "{freed:?}"
    );
    // A replica of a delete marker, newest: the key reads as deleted.
    s.write_replica("dst", "k", marker_row(), o(40), (true, &lock))
        .unwrap();
    assert_eq!(
        s.get_version("dst", "k", VersionRef::Latest)
            .map(|v| v.object.version.marker),
        Ok(true)
    );
    // An unversioned destination is refused.
    s.create_bucket("plain", "r").unwrap();
    assert!(matches!(
        s.write_replica("plain", "k", inline("e"), o(1), (false, &lock)),
        Err(MetaError::InvalidRequest(_))
    ));
}

fn marker_row() -> ObjectRow {
    let mut r = inline("");
    r.size = 0;
    r.data = shale_common::ObjectData::Inline(Vec::new());
    r
}

#[test]
fn changes_of_replicated_versions_are_queued_and_replicas_changes_only_back() {
    let (_d, s) = open();
    versioned(&s, "src");
    replicate(&s, "src", vec![rule("a", "", &[], "dst", false)]);
    let v = put(&s, "src", "k", inline("e"));
    let (vkey, _) = tasks(&s).remove(0);
    s.replication_done(&vkey, t0(&s, &vkey), "dst", &ReplicationOutcome::Completed)
        .unwrap();
    s.put_version_tags(
        "src",
        "k",
        VersionRef::parse(Some(&v)).unwrap(),
        tags(&[("a", "1")]),
    )
    .unwrap();
    let t = tasks(&s);
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].1.kind, t[0].1.order),
        (ReplicationKind::Tags, order(&v))
    );
    let first = t[0].1.enqueued_ms;
    // A newer change of the same version: one task, the newer one; an
    // outcome reported for the older one leaves it.
    s.put_version_tags("src", "k", VersionRef::Latest, tags(&[("a", "2")]))
        .unwrap();
    let t = tasks(&s);
    assert_eq!(t.len(), 1);
    assert!(t[0].1.enqueued_ms > first);
    s.replication_done(&t[0].0, first, "dst", &ReplicationOutcome::Completed)
        .unwrap();
    assert_eq!(tasks(&s).len(), 1);
    s.replication_done(
        &t[0].0,
        t[0].1.enqueued_ms,
        "dst",
        &ReplicationOutcome::Completed,
    )
    .unwrap();
    assert!(tasks(&s).is_empty());
    assert_eq!(status(&s, "src", "k", &v).as_deref(), Some("COMPLETED"));
    // A version written before the rule is not replicated: nor its changes.
    let plain = {
        s.delete_bucket_config("src", BucketConfigKind::Replication)
            .unwrap();
        let p = put(&s, "src", "old", inline("o"));
        replicate(&s, "src", vec![rule("a", "", &[], "dst", false)]);
        p
    };
    s.put_version_tags(
        "src",
        "old",
        VersionRef::parse(Some(&plain)).unwrap(),
        tags(&[("x", "y")]),
    )
    .unwrap();
    assert!(tasks(&s).is_empty());

    // At a destination: replication's own change is never queued; a
    // client's change of a replica goes back only with ReplicaModifications.
    versioned(&s, "dst");
    let o = 9 << 20;
    s.write_replica("dst", "r", inline("e"), o, (false, &LockRequest::default()))
        .unwrap();
    let mut back = rule("back", "", &[], "src", false);
    replicate(&s, "dst", vec![back.clone()]);
    s.replica_change(("dst", "r"), o, Some(tags(&[("t", "1")])), None)
        .unwrap();
    s.put_version_tags("dst", "r", VersionRef::Latest, tags(&[("t", "2")]))
        .unwrap();
    assert!(tasks(&s).is_empty(), "no ReplicaModifications: stays");
    back.replica_modifications = true;
    replicate(&s, "dst", vec![back]);
    s.put_version_tags("dst", "r", VersionRef::Latest, tags(&[("t", "3")]))
        .unwrap();
    let t = tasks(&s);
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].1.bucket.as_str(), t[0].1.kind),
        ("dst", ReplicationKind::Tags)
    );
    assert_eq!(
        status(&s, "dst", "r", &version_id(o)).as_deref(),
        Some("REPLICA")
    );
    let v = s.get_version("dst", "r", VersionRef::Latest).unwrap();
    assert_eq!(v.object.row.tags, tags(&[("t", "3")]));
}

#[test]
fn a_resync_queues_what_was_there_before_the_rule_page_by_page() {
    let (_d, s) = open();
    versioned(&s, "src");
    let mut ids = Vec::new();
    for k in ["a", "b", "c"] {
        ids.push(put(&s, "src", k, inline("1")));
        ids.push(put(&s, "src", k, inline("2")));
    }
    s.delete_version("src", "c", VersionRef::Latest, false, None)
        .unwrap();
    // No rule: refused.
    assert!(matches!(
        s.replication_resync("src", None, false, 10),
        Err(MetaError::InvalidRequest(_))
    ));
    replicate(&s, "src", vec![rule("r", "", &[], "dst", true)]);
    let mut newer = inline("new");
    newer.last_modified_ms = 4_000_000_000_000;
    put(&s, "src", "d", newer);
    assert_eq!(tasks(&s).len(), 1, "the new write is queued by itself");
    // Versions written before a time only (d's is not older).
    let cutoff = 4_000_000_000_000;
    let mut pages = Vec::new();
    loop {
        let p = s.replication_resync("src", Some(cutoff), false, 3).unwrap();
        pages.push(p);
        if p.done {
            break;
        }
    }
    let scanned: u64 = pages.iter().map(|p| p.scanned).sum();
    let queued: u64 = pages.iter().map(|p| p.queued).sum();
    assert_eq!((scanned, queued), (8, 7), "{pages:?}");
    assert!(pages.len() >= 3);
    let t = tasks(&s);
    assert_eq!(t.len(), 8);
    assert_eq!(
        t.iter()
            .filter(|(_, t)| t.kind == ReplicationKind::Marker)
            .count(),
        1
    );
    for (k, id) in ["a", "a", "b", "b", "c", "c"].iter().zip(&ids) {
        assert_eq!(status(&s, "src", k, id).as_deref(), Some("PENDING"));
    }
    // Run again from the start: everything has a status, nothing more.
    let again = s.replication_resync("src", None, true, 1000).unwrap();
    assert_eq!((again.scanned, again.queued, again.done), (8, 0, true));
}
