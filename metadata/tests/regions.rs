//! Links between regions and the namespace region's registry of bucket
//! names, against a real RocksDB.

mod common;

use common::*;
use shale_metadata::*;
use std::sync::{Arc, Barrier};

fn link(endpoint: &str, namespace: bool) -> RegionLink {
    RegionLink {
        endpoint: endpoint.into(),
        access_key: "ROOT".into(),
        namespace,
    }
}

#[test]
fn links_are_kept_by_name_with_one_namespace_region() {
    let (_d, s) = open();
    s.put_region("us-east-1", Some(&link("http://127.0.0.1:9000", true)))
        .unwrap();
    s.put_region("eu-west-1", Some(&link("http://127.0.0.1:9001", false)))
        .unwrap();
    let names: Vec<_> = s.list_regions().unwrap().into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["eu-west-1", "us-east-1"]);
    // A second namespace region is refused; the first may be replaced.
    assert!(matches!(
        s.put_region("eu-west-1", Some(&link("http://x", true))),
        Err(MetaError::InvalidRequest(_))
    ));
    s.put_region("us-east-1", Some(&link("http://127.0.0.1:9100", true)))
        .unwrap();
    s.put_region("eu-west-1", None).unwrap();
    let regions = s.list_regions().unwrap();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0].1.endpoint, "http://127.0.0.1:9100");
    assert!(s.put_region("", Some(&link("http://x", false))).is_err());
    assert!(s.put_region("a/b", Some(&link("http://x", false))).is_err());
    assert!(s.put_region("a", Some(&link("", false))).is_err());
}

#[test]
fn a_name_is_taken_once_by_buckets_here_and_claims_of_other_regions() {
    let (_d, s) = open();
    s.create_owned_bucket("here", "us-east-1", Some("AK1"))
        .unwrap();
    // A bucket of this region is its own claim.
    assert_eq!(s.claim_bucket("here", "us-east-1", None), Ok(()));
    assert_eq!(
        s.claim_bucket("here", "eu-west-1", Some("AK2")),
        Err(MetaError::BucketAlreadyExists)
    );
    assert_eq!(
        s.claim_bucket("here", "eu-west-1", Some("AK1")),
        Err(MetaError::BucketAlreadyOwnedByYou)
    );
    // Another region's claim: again for it, nothing; for anyone else, taken.
    s.claim_bucket("there", "eu-west-1", Some("AK2")).unwrap();
    s.claim_bucket("there", "eu-west-1", Some("AK2")).unwrap();
    assert_eq!(
        s.claim_bucket("there", "ap-south-1", None),
        Err(MetaError::BucketAlreadyExists)
    );
    assert_eq!(
        s.create_owned_bucket("there", "us-east-1", Some("AK3")),
        Err(MetaError::BucketAlreadyExists)
    );
    assert_eq!(
        s.create_owned_bucket("there", "us-east-1", Some("AK2")),
        Err(MetaError::BucketAlreadyOwnedByYou)
    );
    let claim = s.get_claim("there").unwrap().unwrap();
    assert_eq!(claim.region, "eu-west-1");
    assert_eq!(claim.owner.as_deref(), Some("AK2"));
    assert_eq!(s.get_claim("here").unwrap().unwrap().region, "us-east-1");
    assert_eq!(s.list_claims("eu-west-1").unwrap().len(), 1);
    assert_eq!(s.list_claims("ap-south-1").unwrap().len(), 0);
    assert_eq!(s.list_claims("").unwrap().len(), 1);
}

#[test]
fn releasing_a_name_frees_it_and_drops_its_grants() {
    let (_d, s) = open();
    s.put_access_key(&AccessKey {
        access_key: "AK".into(),
        secret_key: "s".into(),
        name: "k".into(),
        grants: Some(vec![("gone".into(), Permission::Owner)]),
    })
    .unwrap();
    s.claim_bucket("gone", "eu-west-1", Some("AK")).unwrap();
    // Only the holder's release counts.
    s.release_bucket("gone", "ap-south-1").unwrap();
    assert!(s.get_claim("gone").unwrap().is_some());
    s.release_bucket("gone", "eu-west-1").unwrap();
    assert_eq!(s.get_claim("gone").unwrap(), None);
    let key = s.get_access_key("AK").unwrap().unwrap();
    assert_eq!(key.grants, Some(vec![]));
    s.create_bucket("gone", "us-east-1").unwrap();
    s.release_bucket("gone", "us-east-1").unwrap();
    assert!(s.get_bucket("gone").unwrap().is_some());
}

/// Two regions asking for one name at the same moment: one gets it.
#[test]
fn concurrent_claims_of_one_name_have_one_winner() {
    let (_d, s) = open();
    let s = Arc::new(s);
    for round in 0..20 {
        let name = format!("race-{round}");
        let barrier = Arc::new(Barrier::new(3));
        let claimers: Vec<_> = ["eu-west-1", "ap-south-1"]
            .into_iter()
            .map(|region| {
                let (s, b, name) = (Arc::clone(&s), Arc::clone(&barrier), name.clone());
                std::thread::spawn(move || {
                    b.wait();
                    s.claim_bucket(&name, region, None).is_ok()
                })
            })
            .collect();
        barrier.wait();
        let local = s.create_bucket(&name, "us-east-1").is_ok();
        let won = claimers
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|w| *w)
            .count()
            + usize::from(local);
        assert_eq!(won, 1, "{name}");
    }
}
