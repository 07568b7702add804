//! Access control lists and owners.
//!
//! Object Ownership decides whether a bucket's ACLs count. A bucket made
//! without `x-amz-object-ownership` enforces bucket ownership, as S3's
//! buckets have since April 2023: ACLs are disabled, every bucket and
//! object has one grant, FULL_CONTROL to its owner, reading an ACL answers
//! that, and setting one succeeds only when it says the same (canned
//! `private` or `bucket-owner-full-control`, or the owner's FULL_CONTROL in
//! a header or an `AccessControlPolicy` document); anything else is S3's
//! `AccessControlListNotSupported` ([`check`]). With BucketOwnerPreferred
//! or ObjectWriter (or no ownership controls at all), ACLs are enabled:
//! [`Acl`] holds a resource's grants (canned ACLs expanded, `x-amz-grant-*`
//! headers and documents parsed, [`requested`]), stored as JSON in the
//! bucket's `acl` configuration row or the object version's
//! [`shale_metadata::OBJECT_ACL`] system header, and the access check asks
//! [`Acl::allows`]. See
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html>.
//!
//! Owners. Every user is its own owner, as an AWS account is: the user
//! whose key created a bucket owns it, the user whose key wrote an object
//! version (or initiated the multipart upload it completes) owns the
//! version (but under BucketOwnerPreferred, a version written with
//! `bucket-owner-full-control` is the bucket owner's). The rows record the
//! owner's user name (for a key that is a user of its own, its key id);
//! answers carry its canonical id ([`canonical_id`]) and, as
//! `DisplayName`, the name. S3 stopped sending `DisplayName` in 2025, but
//! older clients print it, and an operator can read a name where a hash
//! says nothing. Rows written before owners were recorded answer
//! [`SHARED_OWNER`], the owner every key shared then: nothing records
//! which key wrote them.

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

/// S3's group of every caller, signed or not.
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// S3's group of every signed caller.
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// S3's log delivery group.
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// What an ACL grant allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AclPermission {
    /// Buckets: list; objects: read.
    Read,
    /// Buckets: write, overwrite and delete objects.
    Write,
    /// Read the ACL.
    ReadAcp,
    /// Write the ACL.
    WriteAcp,
    /// All of the above.
    FullControl,
}

impl AclPermission {
    fn name(self) -> &'static str {
        match self {
            AclPermission::Read => Permission::READ,
            AclPermission::Write => Permission::WRITE,
            AclPermission::ReadAcp => Permission::READ_ACP,
            AclPermission::WriteAcp => Permission::WRITE_ACP,
            AclPermission::FullControl => Permission::FULL_CONTROL,
        }
    }

    fn parse(s: &str) -> Option<AclPermission> {
        [
            AclPermission::Read,
            AclPermission::Write,
            AclPermission::ReadAcp,
            AclPermission::WriteAcp,
            AclPermission::FullControl,
        ]
        .into_iter()
        .find(|p| p.name() == s)
    }

    /// Whether this grant's permission covers `needed`.
    pub fn covers(self, needed: AclPermission) -> bool {
        self == needed || self == AclPermission::FullControl
    }
}

/// Who an ACL grant is for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AclGrantee {
    /// A user, by canonical id (and its name, for `DisplayName`).
    User { id: String, name: Option<String> },
    /// A group, by S3's URI ([`ALL_USERS`], [`AUTHENTICATED_USERS`],
    /// [`LOG_DELIVERY`]).
    Group(String),
}

/// One grant of an ACL.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AclGrant {
    /// Who.
    pub grantee: AclGrantee,
    /// What.
    pub permission: AclPermission,
}

/// An ACL (ACLs enabled by Object Ownership), as stored: JSON of its
/// grants in a bucket's `acl` configuration row, or in an object version's
/// [`shale_metadata::OBJECT_ACL`] system header.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Acl {
    /// The grants, in the order given.
    pub grants: Vec<AclGrant>,
}

/// The owner of a resource (canonical id and display name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerId {
    /// Canonical id.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl OwnerId {
    /// The owner recorded as `key` (a user name; `None`: [`SHARED_OWNER`]).
    pub fn of(key: Option<&str>) -> OwnerId {
        let (id, name) = id_and_name(key);
        OwnerId { id, name }
    }

    fn grant(&self, permission: AclPermission) -> AclGrant {
        AclGrant {
            grantee: AclGrantee::User {
                id: self.id.clone(),
                name: Some(self.name.clone()),
            },
            permission,
        }
    }
}

fn group(uri: &str, permission: AclPermission) -> AclGrant {
    AclGrant {
        grantee: AclGrantee::Group(uri.to_owned()),
        permission,
    }
}

fn invalid_argument(message: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message.into())
}

impl Acl {
    /// Only `owner`'s FULL_CONTROL (what a resource without an ACL has).
    pub fn private(owner: &OwnerId) -> Acl {
        Acl {
            grants: vec![owner.grant(AclPermission::FullControl)],
        }
    }

    /// S3's canned ACL `name` for a resource owned by `owner` in a bucket
    /// owned by `bucket_owner`.
    pub fn canned(name: &str, owner: &OwnerId, bucket_owner: &OwnerId) -> S3Result<Acl> {
        use AclPermission::{FullControl, Read, ReadAcp, Write};
        let mut acl = Acl::private(owner);
        match name {
            "private" | "aws-exec-read" => {}
            "public-read" => acl.grants.push(group(ALL_USERS, Read)),
            "public-read-write" => {
                acl.grants.push(group(ALL_USERS, Read));
                acl.grants.push(group(ALL_USERS, Write));
            }
            "authenticated-read" => acl.grants.push(group(AUTHENTICATED_USERS, Read)),
            "bucket-owner-read" if bucket_owner != owner => {
                acl.grants.push(bucket_owner.grant(Read));
            }
            "bucket-owner-full-control" if bucket_owner != owner => {
                acl.grants.push(bucket_owner.grant(FullControl));
            }
            "bucket-owner-read" | "bucket-owner-full-control" => {}
            "log-delivery-write" => {
                acl.grants.push(group(LOG_DELIVERY, Write));
                acl.grants.push(group(LOG_DELIVERY, ReadAcp));
            }
            other => {
                return Err(invalid_argument(format!("Invalid canned ACL: {other}")));
            }
        }
        Ok(acl)
    }

    /// The grants of `x-amz-grant-<permission>` headers (`id="…"`,
    /// `uri="…"`, `emailAddress="…"`, comma-separated); `users` names the
    /// user of a canonical id (`None`: no such user).
    pub fn from_headers(
        headers: &[(AclPermission, &str)],
        users: &dyn Fn(&str) -> Option<String>,
    ) -> S3Result<Acl> {
        let mut acl = Acl::default();
        for (permission, value) in headers {
            for item in value.split(',') {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                let (kind, v) = item
                    .split_once('=')
                    .ok_or_else(|| invalid_argument(format!("Invalid grant: {item}")))?;
                let v = v.trim().trim_matches('"');
                let grantee = grantee(&kind.trim().to_ascii_lowercase(), v, users)?;
                acl.grants.push(AclGrant {
                    grantee,
                    permission: *permission,
                });
            }
        }
        Ok(acl)
    }

    /// The grants of an `AccessControlPolicy` document; its `Owner`, when
    /// given, must be the resource's owner.
    pub fn from_document(
        doc: &AccessControlPolicy,
        owner: &OwnerId,
        users: &dyn Fn(&str) -> Option<String>,
    ) -> S3Result<Acl> {
        if let Some(id) = doc.owner.as_ref().and_then(|o| o.id.as_deref())
            && id != owner.id
        {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Access Denied",
            ));
        }
        let mut acl = Acl::default();
        for g in doc.grants.iter().flatten() {
            let permission = g
                .permission
                .as_ref()
                .and_then(|p| AclPermission::parse(p.as_str()))
                .ok_or_else(|| S3Error::with_message(S3ErrorCode::MalformedACLError,
                    "The XML you provided was not well-formed or did not validate against our published schema"))?;
            let e = g.grantee.as_ref().ok_or_else(|| {
                S3Error::with_message(S3ErrorCode::MalformedACLError,
                    "The XML you provided was not well-formed or did not validate against our published schema")
            })?;
            let grantee = match e.type_.as_str() {
                Type::CANONICAL_USER => grantee("id", e.id.as_deref().unwrap_or(""), users)?,
                Type::GROUP => grantee("uri", e.uri.as_deref().unwrap_or(""), users)?,
                Type::AMAZON_CUSTOMER_BY_EMAIL => grantee(
                    "emailaddress",
                    e.email_address.as_deref().unwrap_or(""),
                    users,
                )?,
                other => return Err(invalid_argument(format!("Invalid grantee type: {other}"))),
            };
            acl.grants.push(AclGrant {
                grantee,
                permission,
            });
        }
        Ok(acl)
    }

    /// True when it grants anything to everyone or to every signed caller
    /// (what BlockPublicAcls refuses and IgnorePublicAcls ignores).
    pub fn is_public(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(&g.grantee, AclGrantee::Group(u) if u == ALL_USERS || u == AUTHENTICATED_USERS))
    }

    /// Whether it grants `needed` to the caller whose canonical id is
    /// `caller` (`None`: anonymous); public grants count only unless
    /// `ignore_public`.
    pub fn allows(&self, caller: Option<&str>, needed: AclPermission, ignore_public: bool) -> bool {
        self.grants.iter().any(|g| {
            g.permission.covers(needed)
                && match &g.grantee {
                    AclGrantee::User { id, .. } => caller == Some(id.as_str()),
                    AclGrantee::Group(u) if u == ALL_USERS => !ignore_public,
                    AclGrantee::Group(u) if u == AUTHENTICATED_USERS => {
                        !ignore_public && caller.is_some()
                    }
                    AclGrantee::Group(_) => false,
                }
        })
    }

    /// As S3 answers it.
    pub fn to_grants(&self) -> Grants {
        self.grants
            .iter()
            .map(|g| Grant {
                grantee: Some(match &g.grantee {
                    AclGrantee::User { id, name } => Grantee {
                        display_name: name.clone(),
                        email_address: None,
                        id: Some(id.clone()),
                        type_: Type::from_static(Type::CANONICAL_USER),
                        uri: None,
                    },
                    AclGrantee::Group(uri) => Grantee {
                        display_name: None,
                        email_address: None,
                        id: None,
                        type_: Type::from_static(Type::GROUP),
                        uri: Some(uri.clone()),
                    },
                }),
                permission: Some(Permission::from(g.permission.name().to_owned())),
            })
            .collect()
    }

    /// As stored.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// What [`Acl::encode`] stored (`None` if it does not parse).
    pub fn decode(stored: &str) -> Option<Acl> {
        serde_json::from_str(stored).ok()
    }
}

/// One grantee of a grant header or document.
fn grantee(
    kind: &str,
    value: &str,
    users: &dyn Fn(&str) -> Option<String>,
) -> S3Result<AclGrantee> {
    match kind {
        "id" => {
            let id = value.to_ascii_lowercase();
            let name = users(&id).ok_or_else(|| invalid_argument("Invalid id"))?;
            Ok(AclGrantee::User {
                id,
                name: Some(name),
            })
        }
        "uri" if [ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY].contains(&value) => {
            Ok(AclGrantee::Group(value.to_owned()))
        }
        "uri" => Err(invalid_argument(format!("Invalid group uri: {value}"))),
        "emailaddress" => {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("UnresolvableGrantByEmailAddress".into()),
                "The e-mail address you provided does not match any account on record.",
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            Err(e)
        }
        other => Err(invalid_argument(format!("Invalid grantee: {other}"))),
    }
}

/// The ACL a request asks for when ACLs are enabled: a canned ACL, grant
/// headers or a document (at most one of them); `None` when it asks for
/// none. `owner` owns the resource, `bucket_owner` its bucket.
pub fn requested(
    req: &AclRequest<'_>,
    grants: &[(AclPermission, &str)],
    owner: &OwnerId,
    bucket_owner: &OwnerId,
    users: &dyn Fn(&str) -> Option<String>,
) -> S3Result<Option<Acl>> {
    let given = usize::from(req.canned.is_some())
        + usize::from(!grants.is_empty())
        + usize::from(req.policy.is_some());
    if given > 1 {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed",
        ));
    }
    if let Some(c) = req.canned {
        return Acl::canned(c, owner, bucket_owner).map(Some);
    }
    if !grants.is_empty() {
        return Acl::from_headers(grants, users).map(Some);
    }
    match req.policy {
        Some(doc) => Acl::from_document(doc, owner, users).map(Some),
        None => Ok(None),
    }
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
    fn acls_expand_canned_names_parse_grants_and_decide() {
        let alice = OwnerId::of(Some("alice"));
        let bob = OwnerId::of(Some("bob"));
        let users = |id: &str| (id == bob.id).then(|| "bob".to_owned());
        let public = Acl::canned("public-read", &alice, &alice).unwrap();
        assert!(public.is_public());
        assert!(public.allows(None, AclPermission::Read, false));
        assert!(
            !public.allows(None, AclPermission::Read, true),
            "IgnorePublicAcls"
        );
        assert!(!public.allows(None, AclPermission::Write, false));
        assert!(public.allows(Some(&alice.id), AclPermission::WriteAcp, true));
        let auth = Acl::canned("authenticated-read", &alice, &alice).unwrap();
        assert!(!auth.allows(None, AclPermission::Read, false));
        assert!(auth.allows(Some(&bob.id), AclPermission::Read, false));
        let to_bucket = Acl::canned("bucket-owner-full-control", &bob, &alice).unwrap();
        assert!(to_bucket.allows(Some(&alice.id), AclPermission::ReadAcp, false));
        assert!(!to_bucket.is_public());
        assert_eq!(
            Acl::canned("bucket-owner-read", &alice, &alice).unwrap(),
            Acl::private(&alice)
        );
        assert!(Acl::canned("everyone-please", &alice, &alice).is_err());

        let header = format!("id=\"{}\", uri=\"{ALL_USERS}\"", bob.id);
        let acl = Acl::from_headers(&[(AclPermission::Read, &header)], &users).unwrap();
        assert!(acl.allows(Some(&bob.id), AclPermission::Read, true));
        assert!(acl.is_public());
        assert_eq!(acl.to_grants().len(), 2);
        assert_eq!(Acl::decode(&acl.encode()), Some(acl));
        let code = |r: S3Result<Acl>| r.err().map(|e| e.code().as_str().to_owned());
        let unknown = format!("id=\"{}\"", "0".repeat(64));
        assert_eq!(
            code(Acl::from_headers(
                &[(AclPermission::Read, &unknown)],
                &users
            ))
            .as_deref(),
            Some("InvalidArgument")
        );
        assert_eq!(
            code(Acl::from_headers(
                &[(AclPermission::Read, "emailAddress=\"a@b.example\"")],
                &users
            ))
            .as_deref(),
            Some("UnresolvableGrantByEmailAddress")
        );
        let both = AclRequest {
            canned: Some("private"),
            ..Default::default()
        };
        let asked = requested(
            &both,
            &[(AclPermission::Read, "uri=\"x\"")],
            &alice,
            &alice,
            &users,
        );
        assert_eq!(
            asked.err().map(|e| e.code().as_str().to_owned()).as_deref(),
            Some("InvalidRequest")
        );
        assert_eq!(
            requested(&AclRequest::default(), &[], &alice, &alice, &users).unwrap(),
            None
        );
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
