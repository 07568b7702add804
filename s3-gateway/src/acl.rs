//! Access control lists as S3 has them for buckets created since April 2023:
//! Object Ownership is "bucket owner enforced", so ACLs are disabled. Every
//! bucket and object has one grant, FULL_CONTROL to the owner; reading an
//! ACL answers that, and setting one succeeds only when it says the same
//! (canned `private` or `bucket-owner-full-control`, or the owner's
//! FULL_CONTROL grant in a header or an `AccessControlPolicy` document).
//! Anything else is refused with S3's `AccessControlListNotSupported`.
//! See <https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html>.

use s3s::dto::{AccessControlPolicy, Grant, Grantee, Grants, Owner, Permission, Type};
use s3s::{S3Error, S3ErrorCode, S3Result};

/// The owner of every bucket and object (Shale has one account).
pub fn owner() -> Owner {
    Owner {
        display_name: Some(OWNER_ID.into()),
        id: Some(OWNER_ID.into()),
    }
}

/// The canonical id of the one account.
const OWNER_ID: &str = "shale";

/// The one grant: the owner has FULL_CONTROL.
pub fn owner_grants() -> Grants {
    vec![Grant {
        grantee: Some(Grantee {
            display_name: Some(OWNER_ID.into()),
            email_address: None,
            id: Some(OWNER_ID.into()),
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
}

/// Accepts an ACL request only when it keeps the ACL as it is (the owner's
/// FULL_CONTROL alone), as S3 does when ACLs are disabled.
pub fn check(req: &AclRequest<'_>) -> S3Result<()> {
    let canned_ok = req
        .canned
        .is_none_or(|c| c == "private" || c == "bucket-owner-full-control");
    let header_ok = req.grant_full_control.is_none_or(names_only_owner);
    let policy_ok = req.policy.is_none_or(|p| {
        p.grants.as_ref().is_none_or(|grants| {
            grants.iter().all(|g| {
                let owner_grantee = g.grantee.as_ref().is_some_and(|e| {
                    e.type_.as_str() == Type::CANONICAL_USER && e.id.as_deref() == Some(OWNER_ID)
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

/// `x-amz-grant-full-control: id="shale"` (one grantee, the owner).
fn names_only_owner(header: &str) -> bool {
    header.split(',').all(|g| {
        let g = g.trim();
        g.strip_prefix("id=")
            .map(|v| v.trim().trim_matches('"') == OWNER_ID)
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
        let other_header = AclRequest {
            grant_full_control: Some("id=\"someone\""),
            ..Default::default()
        };
        assert!(check(&other_header).is_err());
        let policy = AccessControlPolicy {
            grants: Some(owner_grants()),
            owner: Some(owner()),
        };
        let own = AclRequest {
            policy: Some(&policy),
            ..Default::default()
        };
        assert!(check(&own).is_ok());
        let mut public = owner_grants();
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
            owner: Some(owner()),
        };
        let public = AclRequest {
            policy: Some(&policy),
            ..Default::default()
        };
        assert!(check(&public).is_err());
    }
}
