//! Access control lists as S3 has them for buckets created since April 2023:
//! Object Ownership is "bucket owner enforced", so ACLs are disabled. Every
//! bucket and object has one grant, FULL_CONTROL to the owner; reading an
//! ACL answers that, and setting one succeeds only when it says the same
//! (canned `private` or `bucket-owner-full-control`, or the owner's
//! FULL_CONTROL grant in a header or an `AccessControlPolicy` document).
//! Anything else is refused with S3's `AccessControlListNotSupported`.
//! See <https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html>.
//!
//! Owners. Every access key is its own owner, as an AWS account is: the
//! key that created a bucket owns it, the key that wrote an object version
//! (or initiated the multipart upload it completes) owns the version. The
//! rows record the owner's access key id; answers carry its canonical id
//! ([`canonical_id`]) and, as `DisplayName`, the access key id. S3 stopped
//! sending `DisplayName` in 2025, but older clients print it, and an
//! operator can read a key id where a hash says nothing. Rows written
//! before owners were recorded answer [`SHARED_OWNER`], the owner every key
//! shared then: nothing records which key wrote them.

use s3s::dto::{AccessControlPolicy, Grant, Grantee, Grants, Initiator, Owner, Permission, Type};
use s3s::{S3Error, S3ErrorCode, S3Result};
use sha2::{Digest, Sha256};

/// Id and display name of everything created before owners were recorded
/// (row format v5), as every answer carried it then.
pub const SHARED_OWNER: &str = "shale";

/// Domain separation of [`canonical_id`]: a canonical id is never the hash
/// of anything else an access key id is hashed for.
const CANONICAL_ID_DOMAIN: &[u8] = b"shale canonical user id v1\0";

/// The canonical user id of access key `access_key`: 64 lowercase hex
/// characters (S3's form), the SHA-256 of a fixed domain string and the key
/// id, so it is the same on every gateway and across restarts, needs no
/// stored state, and tells nothing of the secret (which it never sees).
pub fn canonical_id(access_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(CANONICAL_ID_DOMAIN);
    h.update(access_key.as_bytes());
    hex::encode(h.finalize())
}

/// Canonical id and display name of the owner recorded as `key` (an
/// access key id; `None`: recorded before owners were).
fn id_and_name(key: Option<&str>) -> (String, String) {
    match key {
        Some(k) => (canonical_id(k), k.to_owned()),
        None => (SHARED_OWNER.to_owned(), SHARED_OWNER.to_owned()),
    }
}

/// The `Owner` of a bucket, object or upload recorded as owned by `key`.
pub fn owner(key: Option<&str>) -> Owner {
    let (id, name) = id_and_name(key);
    Owner {
        display_name: Some(name),
        id: Some(id),
    }
}

/// The `Initiator` of a multipart upload initiated by `key`. S3 gives an
/// IAM user's ARN here; Shale's keys have no ARN, so the canonical id.
pub fn initiator(key: Option<&str>) -> Initiator {
    let (id, name) = id_and_name(key);
    Initiator {
        display_name: Some(name),
        id: Some(id),
    }
}

/// The one grant: the owner (`key`, as for [`owner`]) has FULL_CONTROL.
pub fn owner_grants(key: Option<&str>) -> Grants {
    let (id, name) = id_and_name(key);
    vec![Grant {
        grantee: Some(Grantee {
            display_name: Some(name),
            email_address: None,
            id: Some(id),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }]
}

/// What a request that sets an ACL (PutBucketAcl, PutObjectAcl, or the
/// `x-amz-acl` / `x-amz-grant-*` headers of a write) asks for.
#[derive(Default)]
pub struct AclRequest<'a> {
    /// `x-amz-acl`.
    pub canned: Option<&'a str>,
    /// `x-amz-grant-full-control`.
    pub grant_full_control: Option<&'a str>,
    /// `x-amz-grant-read`, `-write`, `-read-acp`, `-write-acp`: any is a
    /// grant to someone other than the owner's full control.
    pub other_grants: bool,
    /// An `AccessControlPolicy` document.
    pub policy: Option<&'a AccessControlPolicy>,
    /// The access key id of the bucket's or object's owner (for a write,
    /// the caller, who will own it); `None`: [`SHARED_OWNER`].
    pub owner: Option<&'a str>,
}

/// Accepts an ACL request only when it keeps the ACL as it is (the owner's
/// FULL_CONTROL alone), as S3 does when ACLs are disabled.
pub fn check(req: &AclRequest<'_>) -> S3Result<()> {
    let owner_id = id_and_name(req.owner).0;
    let canned_ok = req
        .canned
        .is_none_or(|c| c == "private" || c == "bucket-owner-full-control");
    let header_ok = req
        .grant_full_control
        .is_none_or(|h| names_only_owner(h, &owner_id));
    let policy_ok = req.policy.is_none_or(|p| {
        p.grants.as_ref().is_none_or(|grants| {
            grants.iter().all(|g| {
                let owner_grantee = g.grantee.as_ref().is_some_and(|e| {
                    e.type_.as_str() == Type::CANONICAL_USER
                        && e.id.as_deref() == Some(owner_id.as_str())
                });
                let full = g
                    .permission
                    .as_ref()
                    .is_some_and(|p| p.as_str() == Permission::FULL_CONTROL);
                owner_grantee && full
            })
        })
    });
    if canned_ok && header_ok && policy_ok && !req.other_grants {
        Ok(())
    } else {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("AccessControlListNotSupported".into()),
            "The bucket does not allow ACLs",
        );
        e.set_status_code(http::StatusCode::BAD_REQUEST);
        Err(e)
    }
}

/// `x-amz-grant-full-control: id="<owner's canonical id>"` (one grantee,
/// the owner).
fn names_only_owner(header: &str, owner_id: &str) -> bool {
    header.split(',').all(|g| {
        let g = g.trim();
        g.strip_prefix("id=")
            .map(|v| v.trim().trim_matches('"') == owner_id)
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owners_full_control_is_accepted() {
        assert!(check(&AclRequest::default()).is_ok());
        for canned in ["private", "bucket-owner-full-control"] {
            let r = AclRequest {
                canned: Some(canned),
                ..Default::default()
            };
            assert!(check(&r).is_ok(), "{canned}");
        }
        for canned in ["public-read", "public-read-write", "authenticated-read"] {
            let r = AclRequest {
                canned: Some(canned),
                ..Default::default()
            };
            let e = check(&r).err().map(|e| e.code().as_str().to_owned());
            assert_eq!(e.as_deref(), Some("AccessControlListNotSupported"));
        }
        let owner_header = AclRequest {
            grant_full_control: Some("id=\"shale\""),
            ..Default::default()
        };
        assert!(check(&owner_header).is_ok());
        let key_id = format!("id=\"{}\"", canonical_id("AKA"));
        let keys_header = AclRequest {
            grant_full_control: Some(&key_id),
            owner: Some("AKA"),
            ..Default::default()
        };
        assert!(check(&keys_header).is_ok());
        let not_bs = AclRequest {
            owner: Some("AKB"),
            ..keys_header
        };
        assert!(check(&not_bs).is_err(), "A's id does not name B");
        let other_header = AclRequest {
            grant_full_control: Some("id=\"someone\""),
            ..Default::default()
        };
        assert!(check(&other_header).is_err());
        let policy = AccessControlPolicy {
            grants: Some(owner_grants(None)),
            owner: Some(owner(None)),
        };
        let own = AclRequest {
            policy: Some(&policy),
            ..Default::default()
        };
        assert!(check(&own).is_ok());
        let keys = AccessControlPolicy {
            grants: Some(owner_grants(Some("AKA"))),
            owner: Some(owner(Some("AKA"))),
        };
        let round_trip = AclRequest {
            policy: Some(&keys),
            owner: Some("AKA"),
            ..Default::default()
        };
        assert!(check(&round_trip).is_ok());
        let mut public = owner_grants(None);
        public.push(Grant {
            grantee: Some(Grantee {
                display_name: None,
                email_address: None,
                id: None,
                type_: Type::from_static(Type::GROUP),
                uri: Some("http://acs.amazonaws.com/groups/global/AllUsers".into()),
            }),
            permission: Some(Permission::from_static(Permission::READ)),
        });
        let policy = AccessControlPolicy {
            grants: Some(public),
            owner: Some(owner(None)),
        };
        let public = AclRequest {
            policy: Some(&policy),
            ..Default::default()
        };
        assert!(check(&public).is_err());
    }

    #[test]
    fn canonical_ids_are_per_key_stable_and_s3_shaped() {
        let a = canonical_id("AKIAEXAMPLEA");
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_eq!(a, canonical_id("AKIAEXAMPLEA"));
        assert_ne!(a, canonical_id("AKIAEXAMPLEB"));
        // Pinned: a changed derivation would change every owner's id.
        assert_eq!(
            canonical_id("root"),
            "ae5deb427c39bb8504c5cfaedf416061dc6ee6ca944616a903d4bb97de23dadc"
        );
        let o = owner(Some("AKIAEXAMPLEA"));
        assert_eq!(o.id.as_deref(), Some(a.as_str()));
        assert_eq!(o.display_name.as_deref(), Some("AKIAEXAMPLEA"));
        // Rows from before owners answer what every answer said then.
        assert_eq!(owner(None).id.as_deref(), Some(SHARED_OWNER));
        assert_eq!(initiator(None).display_name.as_deref(), Some(SHARED_OWNER));
    }
}
