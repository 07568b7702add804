//! Property tests of the key encoding: RocksDB's byte order must be S3's
//! listing order, and a scan of one bucket must never see another's rows.

use proptest::prelude::*;
use shale_metadata::keys::*;

fn bucket() -> impl Strategy<Value = String> {
    "[a-z0-9.-]{1,20}"
}

fn key() -> impl Strategy<Value = String> {
    // Any Unicode, including characters around the delimiter and multi-byte.
    prop_oneof![
        "[a-c/]{0,12}",
        "\\PC{0,24}",
        "[\\x01-\\x7f\u{80}-\u{10ffff}]{0,8}",
    ]
}

fn nul_free_key() -> impl Strategy<Value = String> {
    key().prop_map(|k| k.replace('\0', "_"))
}

proptest! {
    #[test]
    fn object_keys_sort_like_s3(b in bucket(), k1 in key(), k2 in key()) {
        let e1 = object_key(&b, &k1).unwrap();
        let e2 = object_key(&b, &k2).unwrap();
        prop_assert_eq!(e1.cmp(&e2), k1.as_bytes().cmp(k2.as_bytes()));
    }

    #[test]
    fn no_bucket_sees_another(
        b1 in bucket(),
        other in prop_oneof![bucket(), "[a-z0-9]{1,5}".prop_map(|s| s)],
        extend in any::<bool>(),
        prefix in key(),
        k in key(),
    ) {
        // Biased to the dangerous case: one bucket name prefixes the other
        // ("a" and "ab").
        let b2 = if extend { format!("{b1}{other}") } else { other };
        prop_assume!(b1 != b2);
        let scan = object_key(&b1, &prefix).unwrap();
        let upper = prefix_successor(&scan);
        let row = object_key(&b2, &k).unwrap();
        let inside = row >= scan && upper.as_ref().is_none_or(|u| row < *u);
        prop_assert!(!inside);
        prop_assert!(!row.starts_with(&bucket_prefix(&b1).unwrap()));
        let urow = upload_key(&b2, &k.replace('\0', "_"), "id").unwrap();
        prop_assert!(!urow.starts_with(&bucket_prefix(&b1).unwrap()));
    }

    #[test]
    fn prefix_scan_range_is_exactly_the_prefix(b in bucket(), prefix in key(), k in key()) {
        let scan = object_key(&b, &prefix).unwrap();
        let upper = prefix_successor(&scan);
        let row = object_key(&b, &k).unwrap();
        let inside = row >= scan && upper.as_ref().is_none_or(|u| row < *u);
        prop_assert_eq!(inside, k.starts_with(&prefix));
    }

    #[test]
    fn upload_keys_sort_by_key_then_id(
        b in bucket(),
        k1 in nul_free_key(), k2 in nul_free_key(),
        id1 in "[a-zA-Z0-9_-]{1,16}", id2 in "[a-zA-Z0-9_-]{1,16}",
    ) {
        prop_assume!(!k1.is_empty() && !k2.is_empty());
        let e1 = upload_key(&b, &k1, &id1).unwrap();
        let e2 = upload_key(&b, &k2, &id2).unwrap();
        let expect = (k1.as_bytes(), id1.as_bytes()).cmp(&(k2.as_bytes(), id2.as_bytes()));
        prop_assert_eq!(e1.cmp(&e2), expect);
    }

    #[test]
    fn part_keys_sort_by_number_within_an_upload(
        id in "[a-zA-Z0-9_-]{1,16}", other in "[a-zA-Z0-9_-]{1,16}",
        n1 in any::<u32>(), n2 in any::<u32>(),
    ) {
        prop_assert_eq!(part_key(&id, n1).cmp(&part_key(&id, n2)), n1.cmp(&n2));
        prop_assert_eq!(decode_part_number(&part_key(&id, n1)).unwrap(), n1);
        if id != other {
            prop_assert!(!part_key(&other, n2).starts_with(&parts_prefix(&id)));
        }
    }

    #[test]
    fn common_prefix_covers_its_keys(k in key(), prefix in "[a-c/]{0,3}", d in prop_oneof!["/", "--", "b"]) {
        if let Some(cp) = common_prefix(&k, &prefix, &d) {
            prop_assert!(k.starts_with(cp));
            prop_assert!(cp.starts_with(&prefix) && cp.ends_with(d.as_str()));
            // Every key under the common prefix rolls up into it.
            let deeper = format!("{cp}zz{d}zz");
            prop_assert_eq!(common_prefix(&deeper, &prefix, &d), Some(cp));
        }
    }
}
