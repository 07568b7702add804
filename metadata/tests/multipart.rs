//! Multipart uploads in `MetaStore` against a real RocksDB: completion
//! (parts, ETags, checksums, conditions, retries), abort, listing.

mod common;

use common::*;
use shale_common::ObjectData;
use shale_common::checksum::{self, ChecksumAlgorithm, ChecksumType};
use shale_metadata::store::MIN_PART_SIZE;
use shale_metadata::*;
use std::sync::{Arc, Barrier};

#[test]
fn racing_conditional_completions_have_exactly_one_winner() {
    let (_d, s) = open();
    let s = Arc::new(s);
    s.create_bucket("b", "r").unwrap();
    // (If-None-Match: *, If-Match) of both racers, and the object there first.
    let cases: [(bool, Option<&str>, bool); 2] = [(true, None, false), (false, Some("base"), true)];
    for (round, (inm, im, existing)) in cases.into_iter().enumerate() {
        let key = format!("mpu-{round}");
        if existing {
            s.put_object("b", &key, inline("base"), false, None)
                .unwrap();
        }
        for t in 0..2 {
            let id = format!("u{round}-{t}");
            s.create_upload(upload("b", &key, &id)).unwrap();
            s.put_part("b", &key, &id, part(1, 1, MD5_HELLO, &id))
                .unwrap();
        }
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (s, barrier, key) = (s.clone(), barrier.clone(), key.clone());
                let checks = CompleteChecks {
                    if_match: im.map(str::to_owned),
                    ..CompleteChecks::default()
                };
                std::thread::spawn(move || {
                    barrier.wait();
                    let id = format!("u{round}-{t}");
                    s.complete_upload("b", &key, &id, &[(1, MD5_HELLO.into())], &checks, inm)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| r == &Err(MetaError::PreconditionFailed))
        );
        // The loser's upload is still there: it can be aborted or retried.
        let loser = results.iter().position(|r| r.is_err()).unwrap();
        assert!(
            s.get_upload("b", &key, &format!("u{round}-{loser}"))
                .is_ok()
        );
    }
}

#[test]
fn complete_with_if_match() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    s.create_upload(upload("b", "m", "u")).unwrap();
    s.put_part("b", "m", "u", part(1, 1, MD5_HELLO, "p1"))
        .unwrap();
    let with = |etag: &str| CompleteChecks {
        if_match: Some(etag.into()),
        ..CompleteChecks::default()
    };
    let listed = [(1, MD5_HELLO.to_string())];
    assert_eq!(
        s.complete_upload("b", "m", "u", &listed, &with("x"), false),
        Err(MetaError::NoSuchKey)
    );
    s.put_object("b", "m", inline("old"), false, None).unwrap();
    assert_eq!(
        s.complete_upload("b", "m", "u", &listed, &with("other"), false),
        Err(MetaError::PreconditionFailed)
    );
    let done = s
        .complete_upload("b", "m", "u", &listed, &with("\"old\""), false)
        .unwrap();
    assert_eq!(s.get_object("b", "m").unwrap().etag, done.etag);
}

#[test]
fn multipart_complete_builds_the_object() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    assert_eq!(
        s.create_upload(upload("nob", "k", "u")),
        Err(MetaError::NoSuchBucket)
    );
    s.create_upload(upload("b", "movie", "u1")).unwrap();
    assert_eq!(
        s.get_upload("b", "movie", "u1").unwrap(),
        upload("b", "movie", "u1")
    );
    // Wrong key for the upload: no such upload.
    assert_eq!(
        s.put_part("b", "other", "u1", part(1, MIB5, MD5_HELLO, "x")),
        Err(MetaError::NoSuchUpload)
    );
    // An old object that the completion replaces.
    s.put_object("b", "movie", row("old", "oldobj"), false, None)
        .unwrap();

    assert_eq!(
        s.put_part("b", "movie", "u1", part(1, MIB5, "ffff", "p1a")),
        Ok(None)
    );
    // Re-uploading part 1 replaces it; the first version's chunks go to GC.
    let replaced = s
        .put_part("b", "movie", "u1", part(1, MIB5, MD5_HELLO, "p1"))
        .unwrap();
    assert_eq!(replaced.unwrap().etag, "ffff");
    assert!(gc_chunk_ids(&s).contains("p1a-0"));
    s.put_part("b", "movie", "u1", part(2, 3, MD5_WORLD, "p2"))
        .unwrap();
    s.put_part("b", "movie", "u1", part(3, 9, MD5_WORLD, "p3"))
        .unwrap();

    // ListParts paging.
    let page = s.list_parts("b", "movie", "u1", 0, 2).unwrap();
    assert_eq!(
        page.parts.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(page.is_truncated);
    assert_eq!(page.next_part_number_marker, Some(2));
    let page = s.list_parts("b", "movie", "u1", 2, 2).unwrap();
    assert_eq!(page.parts.iter().map(|p| p.number).collect::<Vec<_>>(), [3]);
    assert!(!page.is_truncated);

    // Errors leave the upload intact.
    assert_eq!(
        s.complete_upload("b", "movie", "u1", &[], &CompleteChecks::default(), false),
        Err(MetaError::InvalidArgument(
            "You must specify at least one part".into()
        ))
    );
    assert_eq!(
        s.complete_upload(
            "b",
            "movie",
            "u1",
            &[(2, MD5_WORLD.into()), (1, MD5_HELLO.into())],
            &CompleteChecks::default(),
            false
        ),
        Err(MetaError::InvalidPartOrder)
    );
    assert_eq!(
        s.complete_upload(
            "b",
            "movie",
            "u1",
            &[(1, MD5_HELLO.into()), (1, MD5_HELLO.into())],
            &CompleteChecks::default(),
            false
        ),
        Err(MetaError::InvalidPartOrder)
    );
    assert!(matches!(
        s.complete_upload(
            "b",
            "movie",
            "u1",
            &[(1, MD5_WORLD.into())],
            &CompleteChecks::default(),
            false
        ),
        Err(MetaError::InvalidPart(_))
    ));
    assert!(matches!(
        s.complete_upload(
            "b",
            "movie",
            "u1",
            &[(4, MD5_WORLD.into())],
            &CompleteChecks::default(),
            false
        ),
        Err(MetaError::InvalidPart(_))
    ));
    assert_eq!(
        s.complete_upload(
            "b",
            "movie",
            "u1",
            &[(2, MD5_WORLD.into()), (3, MD5_WORLD.into())],
            &CompleteChecks::default(),
            false
        ),
        Err(MetaError::EntityTooSmall)
    );
    assert_eq!(
        s.complete_upload(
            "b",
            "movie",
            "u1",
            &[(1, MD5_HELLO.into())],
            &CompleteChecks::default(),
            true
        ),
        Err(MetaError::PreconditionFailed)
    );

    let obj = s
        .complete_upload(
            "b",
            "movie",
            "u1",
            &[(1, format!("\"{MD5_HELLO}\"")), (2, MD5_WORLD.into())],
            &CompleteChecks::default(),
            false,
        )
        .unwrap();
    // hex(md5(md5("hello") ++ md5("world"))) + "-2", computed independently.
    assert_eq!(obj.etag, "065947336a2f2a95ba8899f3675c3be6-2");
    assert_eq!(obj.size, MIB5 + 3);
    assert_eq!(obj.parts_count, Some(2));
    assert_eq!(obj.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(obj.user_metadata, [("owner".to_string(), "me".to_string())]);
    // The object is the initiator's, whoever completes the upload.
    assert_eq!(obj.owner.as_deref(), Some("AKINIT"));
    assert_eq!(
        obj.data,
        ObjectData::Parts(vec![
            layout(1, MIB5, MD5_HELLO, "p1"),
            layout(2, 3, MD5_WORLD, "p2")
        ])
    );
    assert_eq!(s.get_object("b", "movie").unwrap(), obj);
    assert_eq!(
        s.get_upload("b", "movie", "u1"),
        Err(MetaError::NoSuchUpload)
    );
    assert_eq!(
        s.list_parts("b", "movie", "u1", 0, 10),
        Err(MetaError::NoSuchUpload)
    );
    let gc = gc_chunk_ids(&s);
    // Unused part 3 and the replaced object go to GC; used parts do not.
    assert!(gc.contains("p3-0") && gc.contains("oldobj-5"));
    assert!(!gc.contains("p1-0") && !gc.contains("p2-0"));
}

#[test]
fn multipart_abort_and_list_uploads() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    for (k, id) in [
        ("a/1", "u1"),
        ("a/2", "u2"),
        ("b", "u3"),
        ("b", "u4"),
        ("b", "u5"),
        ("c", "u6"),
    ] {
        s.create_upload(upload("b", k, id)).unwrap();
    }
    s.put_part("b", "c", "u6", part(1, 1, MD5_HELLO, "ab"))
        .unwrap();
    assert_eq!(
        s.abort_upload("b", "c", "nope"),
        Err(MetaError::NoSuchUpload)
    );
    s.abort_upload("b", "c", "u6").unwrap();
    assert!(gc_chunk_ids(&s).contains("ab-2"));
    assert_eq!(s.get_upload("b", "c", "u6"), Err(MetaError::NoSuchUpload));
    assert_eq!(s.abort_upload("b", "c", "u6"), Err(MetaError::NoSuchUpload));

    let ids = |r: &ListUploadsResult| {
        r.uploads
            .iter()
            .map(|u| u.upload_id.clone())
            .collect::<Vec<_>>()
    };
    let all = s.list_uploads("b", "", None, None, None, 100).unwrap();
    assert_eq!(ids(&all), ["u1", "u2", "u3", "u4", "u5"]);
    let page = s.list_uploads("b", "", None, None, None, 3).unwrap();
    assert_eq!(ids(&page), ["u1", "u2", "u3"]);
    assert!(page.is_truncated);
    assert_eq!(page.next_key_marker.as_deref(), Some("b"));
    assert_eq!(page.next_upload_id_marker.as_deref(), Some("u3"));
    let page = s
        .list_uploads("b", "", None, Some("b"), Some("u3"), 3)
        .unwrap();
    assert_eq!(ids(&page), ["u4", "u5"]);
    assert!(!page.is_truncated);
    // key_marker alone skips every upload of that key.
    let page = s
        .list_uploads("b", "", None, Some("a/2"), None, 10)
        .unwrap();
    assert_eq!(ids(&page), ["u3", "u4", "u5"]);
    let page = s.list_uploads("b", "", None, Some("b"), None, 10).unwrap();
    assert!(page.uploads.is_empty());
    // Delimiter roll-up and paging through the common prefix.
    let page = s.list_uploads("b", "", Some("/"), None, None, 1).unwrap();
    assert_eq!(page.common_prefixes, ["a/"]);
    assert_eq!(page.next_key_marker.as_deref(), Some("a/"));
    assert_eq!(page.next_upload_id_marker, None);
    let page = s
        .list_uploads("b", "", Some("/"), Some("a/"), None, 10)
        .unwrap();
    assert_eq!(ids(&page), ["u3", "u4", "u5"]);
    let page = s.list_uploads("b", "a/", None, None, None, 10).unwrap();
    assert_eq!(ids(&page), ["u1", "u2"]);
}

#[test]
fn upload_tags_go_to_the_completed_object() {
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    let up = Upload {
        tags: tags(&[("project", "x"), ("tier", "cold")]),
        ..upload("b", "m", "u")
    };
    s.create_upload(up).unwrap();
    assert_eq!(s.get_upload("b", "m", "u").unwrap().tags.len(), 2);
    s.put_part("b", "m", "u", part(1, 1, MD5_HELLO, "p1"))
        .unwrap();
    let done = s
        .complete_upload(
            "b",
            "m",
            "u",
            &[(1, MD5_HELLO.into())],
            &CompleteChecks::default(),
            false,
        )
        .unwrap();
    assert_eq!(done.tags, tags(&[("project", "x"), ("tier", "cold")]));
    assert_eq!(s.get_object("b", "m").unwrap().tags, done.tags);
}

/// A part with the given checksums; its etag is the MD5 of `body`.
fn part_with(number: u32, body: &[u8], algorithms: &[ChecksumAlgorithm]) -> PartRow {
    let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(body));
    PartRow {
        checksums: algorithms
            .iter()
            .map(|a| (*a, checksum::digest(*a, body)))
            .collect(),
        ..part(number, body.len() as u64, &etag, &format!("ck{number}"))
    }
}

#[test]
fn completion_computes_and_checks_the_object_checksum() {
    use ChecksumAlgorithm::*;
    let (_d, s) = open();
    s.create_bucket("b", "r").unwrap();
    let bodies: [Vec<u8>; 2] = [vec![1u8; MIN_PART_SIZE as usize], b"tail".to_vec()];
    let whole = bodies.concat();
    let listed = |bodies: &[Vec<u8>]| -> Vec<(u32, String)> {
        bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(b));
                (i as u32 + 1, etag)
            })
            .collect()
    };
    let start = |id: &str, c: Option<UploadChecksum>, algs: &[ChecksumAlgorithm]| {
        s.create_upload(Upload {
            checksum: c,
            ..upload("b", id, id)
        })
        .unwrap();
        for (i, body) in bodies.iter().enumerate() {
            s.put_part("b", id, id, part_with(i as u32 + 1, body, algs))
                .unwrap();
        }
    };
    let part_sums = |alg: ChecksumAlgorithm| -> Vec<(u32, ChecksumAlgorithm, Vec<u8>)> {
        bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (i as u32 + 1, alg, checksum::digest(alg, b)))
            .collect()
    };

    // No algorithm: S3's default, a FULL_OBJECT CRC64NVME of the whole object.
    start("dflt", None, &[Crc32, Crc64Nvme]);
    let o = s
        .complete_upload(
            "b",
            "dflt",
            "dflt",
            &listed(&bodies),
            &CompleteChecks::default(),
            false,
        )
        .unwrap();
    let c = o.checksum.unwrap();
    assert_eq!((c.algorithm, c.kind), (Crc64Nvme, ChecksumType::FullObject));
    assert_eq!(c.value, checksum::digest(Crc64Nvme, &whole));

    // FULL_OBJECT CRC32C, with the part checksums and the object's listed.
    let full = UploadChecksum {
        algorithm: Crc32c,
        kind: ChecksumType::FullObject,
    };
    start("full", Some(full), &[Crc32c, Crc64Nvme]);
    let checks = CompleteChecks {
        parts: part_sums(Crc32c),
        kind: Some(ChecksumType::FullObject),
        object: Some((Crc32c, checksum::digest(Crc32c, &whole))),
        object_size: Some(whole.len() as u64),
        if_match: None,
    };
    let o = s
        .complete_upload("b", "full", "full", &listed(&bodies), &checks, false)
        .unwrap();
    assert_eq!(o.checksum.unwrap().value, checksum::digest(Crc32c, &whole));

    // COMPOSITE SHA1: the digest of the part digests; every part listed.
    let comp = UploadChecksum {
        algorithm: Sha1,
        kind: ChecksumType::Composite,
    };
    start("comp", Some(comp), &[Sha1, Crc64Nvme]);
    let digests: Vec<Vec<u8>> = bodies.iter().map(|b| checksum::digest(Sha1, b)).collect();
    let bad = |checks: CompleteChecks| {
        s.complete_upload("b", "comp", "comp", &listed(&bodies), &checks, false)
            .unwrap_err()
    };
    assert!(matches!(
        bad(CompleteChecks::default()),
        MetaError::InvalidRequest(m) if m.contains("missing for part 1")
    ));
    let mut wrong = part_sums(Sha1);
    wrong[1].2 = checksum::digest(Sha1, b"other");
    assert!(matches!(
        bad(CompleteChecks {
            parts: wrong,
            ..Default::default()
        }),
        MetaError::InvalidPart(_)
    ));
    assert!(matches!(
        bad(CompleteChecks {
            parts: part_sums(Sha1),
            kind: Some(ChecksumType::FullObject),
            ..Default::default()
        }),
        MetaError::InvalidRequest(_)
    ));
    assert!(matches!(
        bad(CompleteChecks {
            parts: part_sums(Sha1),
            object: Some((Sha1, vec![0; 20])),
            ..Default::default()
        }),
        MetaError::BadDigest(_)
    ));
    assert!(matches!(
        bad(CompleteChecks {
            parts: part_sums(Sha1),
            object_size: Some(1),
            ..Default::default()
        }),
        MetaError::InvalidRequest(_)
    ));
    // Nothing was written by the failed attempts.
    assert_eq!(s.get_object("b", "comp"), Err(MetaError::NoSuchKey));
    let o = s
        .complete_upload(
            "b",
            "comp",
            "comp",
            &listed(&bodies),
            &CompleteChecks {
                parts: part_sums(Sha1),
                ..Default::default()
            },
            false,
        )
        .unwrap();
    let c = o.checksum.unwrap();
    assert_eq!(c.kind, ChecksumType::Composite);
    assert_eq!(c.value, checksum::digest(Sha1, &digests.concat()));
    assert_eq!(c.parts, digests);
    assert_eq!(s.get_object("b", "comp").unwrap().checksum, Some(c));
}

/// Completes upload `id` of `key` with parts 1 (5 MiB) and 2 (3 bytes).
fn complete_two_parts(s: &MetaStore, key: &str, id: &str) -> ObjectRow {
    s.create_upload(upload("b", key, id)).unwrap();
    s.put_part("b", key, id, part(1, MIB5, MD5_HELLO, &format!("{id}-1")))
        .unwrap();
    s.put_part("b", key, id, part(2, 3, MD5_WORLD, &format!("{id}-2")))
        .unwrap();
    s.complete_upload(
        "b",
        key,
        id,
        &two_listed(),
        &CompleteChecks::default(),
        false,
    )
    .unwrap()
}

fn two_listed() -> Vec<(u32, String)> {
    vec![(1, MD5_HELLO.into()), (2, format!("\"{MD5_WORLD}\""))]
}

#[test]
fn a_repeated_completion_answers_the_object_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path()).unwrap();
    s.create_bucket("b", "r").unwrap();
    let made = complete_two_parts(&s, "k", "u1");
    let retry = |s: &MetaStore, id: &str, parts: &[(u32, String)]| {
        s.complete_upload("b", "k", id, parts, &CompleteChecks::default(), false)
    };
    // The same request again: the same object, nothing written.
    assert_eq!(retry(&s, "u1", &two_listed()), Ok(made.clone()));
    // Conditions were decided by the completion; the repeat answers anyway.
    assert_eq!(
        s.complete_upload(
            "b",
            "k",
            "u1",
            &two_listed(),
            &CompleteChecks::default(),
            true
        ),
        Ok(made.clone())
    );
    assert_eq!(s.get_object("b", "k").unwrap(), made);
    // Other parts, another upload id, another key: not this completion.
    assert_eq!(
        retry(&s, "u1", &[(1, MD5_HELLO.into())]),
        Err(MetaError::NoSuchUpload)
    );
    assert_eq!(
        retry(&s, "u1", &[(1, MD5_HELLO.into()), (3, MD5_WORLD.into())]),
        Err(MetaError::NoSuchUpload)
    );
    assert_eq!(
        retry(&s, "u1", &[(1, MD5_WORLD.into()), (2, MD5_HELLO.into())]),
        Err(MetaError::NoSuchUpload)
    );
    assert_eq!(retry(&s, "u2", &two_listed()), Err(MetaError::NoSuchUpload));
    assert_eq!(
        s.complete_upload(
            "b",
            "other",
            "u1",
            &two_listed(),
            &CompleteChecks::default(),
            false
        ),
        Err(MetaError::NoSuchUpload)
    );
    // Tags and a healer's swap change the row, not the version: still it.
    s.put_object_tags("b", "k", tags(&[("a", "1")])).unwrap();
    assert_eq!(retry(&s, "u1", &two_listed()).unwrap().etag, made.etag);

    // It survives a restart.
    drop(s);
    let s = MetaStore::open(dir.path()).unwrap();
    assert_eq!(retry(&s, "u1", &two_listed()).unwrap().etag, made.etag);

    // Overwritten: the object is no longer that upload's.
    s.put_object("b", "k", row("e2", "c2"), false, None)
        .unwrap();
    assert_eq!(retry(&s, "u1", &two_listed()), Err(MetaError::NoSuchUpload));

    // Deleted: likewise; a new completion of the key has a record of its own.
    complete_two_parts(&s, "k", "u3");
    assert_eq!(retry(&s, "u1", &two_listed()), Err(MetaError::NoSuchUpload));
    assert!(retry(&s, "u3", &two_listed()).is_ok());
    s.delete_object("b", "k").unwrap();
    assert_eq!(retry(&s, "u3", &two_listed()), Err(MetaError::NoSuchUpload));

    // A later upload of the same key replaces the record with its own.
    complete_two_parts(&s, "k", "u4");
    complete_two_parts(&s, "k", "u5");
    assert_eq!(retry(&s, "u4", &two_listed()), Err(MetaError::NoSuchUpload));
    assert!(retry(&s, "u5", &two_listed()).is_ok());

    // An aborted upload is never answered as completed.
    s.create_upload(upload("b", "k", "u6")).unwrap();
    s.abort_upload("b", "k", "u6").unwrap();
    assert_eq!(retry(&s, "u6", &two_listed()), Err(MetaError::NoSuchUpload));

    // The record goes with the object, so the bucket can be deleted.
    s.delete_object("b", "k").unwrap();
    s.delete_bucket("b").unwrap();
    s.create_bucket("b", "r").unwrap();
    assert_eq!(retry(&s, "u5", &two_listed()), Err(MetaError::NoSuchUpload));
}
