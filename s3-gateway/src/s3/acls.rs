//! ACLs where Object Ownership allows them (issue 16): the bucket's Object
//! Ownership (Put/Get/DeleteBucketOwnershipControls, CreateBucket's
//! `x-amz-object-ownership`), the bucket's and objects' ACLs
//! (Put/GetBucketAcl, Put/GetObjectAcl), and the ACL a write asks for
//! (`x-amz-acl`, `x-amz-grant-*` on PUT, COPY, CreateMultipartUpload and
//! browser uploads). While a bucket enforces bucket ownership (the
//! default) its ACLs stay disabled: only the owner's FULL_CONTROL is
//! accepted ([`acl::check`]). The access check reads the ACLs
//! (`access.rs`, `acl_decision`).

use super::*;
use crate::acl::{Acl, AclPermission, OwnerId};
use shale_metadata::ObjectOwnership as Ownership;

/// The ACL parts of a request: an [`acl::AclRequest`] and its grant
/// headers, by permission.
macro_rules! acl_grants {
    ($input:expr, $($field:ident => $perm:ident),*) => {{
        let mut grants: Vec<($crate::acl::AclPermission, &str)> = Vec::new();
        $(
            if let Some(v) = $input.$field.as_deref() {
                grants.push(($crate::acl::AclPermission::$perm, v));
            }
        )*
        grants
    }};
}

/// The grant headers of an object write or PutObjectAcl.
macro_rules! object_grants {
    ($input:expr) => {
        $crate::s3::acls::acl_grants!($input, grant_full_control => FullControl,
            grant_read => Read, grant_read_acp => ReadAcp, grant_write_acp => WriteAcp)
    };
}
pub(crate) use acl_grants;
pub(crate) use object_grants;

/// What a write's ACL makes of the object: its owner and the system
/// header its ACL is kept in.
pub(super) struct WriteAcl {
    /// The object's owner (a user name): the writer, or the bucket owner
    /// under BucketOwnerPreferred with `bucket-owner-full-control`.
    pub owner: Option<String>,
    /// `(OBJECT_ACL, grants)`, when the write asked for more than the
    /// owner's FULL_CONTROL.
    pub header: Option<(String, String)>,
}

impl WriteAcl {
    /// Adds the ACL header to `system` (the new version's system
    /// headers), dropping one copied from elsewhere.
    pub fn apply(&self, system: &mut Vec<(String, String)>) {
        system.retain(|(k, _)| k != shale_metadata::OBJECT_ACL);
        if let Some(h) = &self.header {
            system.push(h.clone());
        }
    }
}

fn access_denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

impl Gateway {
    /// Stores a configuration the access check reads (policy, public
    /// access block, ACL, Object Ownership) and forgets this gateway's
    /// copy of the bucket's rules, so the change holds here at once.
    pub(super) async fn put_access_config(
        &self,
        bucket: &str,
        config: BucketConfig,
    ) -> S3Result<()> {
        self.meta
            .put_bucket_config(bucket, config)
            .await
            .map_err(meta_err)?;
        self.access.forget(bucket);
        Ok(())
    }

    /// The user of each canonical id a request's grants may name (users,
    /// keys that are users of their own, root keys), read only when it
    /// names some.
    async fn grantee_names(
        &self,
        grants: &[(AclPermission, &str)],
        doc: Option<&AccessControlPolicy>,
    ) -> S3Result<std::collections::HashMap<String, String>> {
        let names_ids = grants.iter().any(|(_, v)| v.contains("id="))
            || doc.is_some_and(|d| {
                d.grants
                    .iter()
                    .flatten()
                    .any(|g| g.grantee.as_ref().is_some_and(|e| e.id.is_some()))
            });
        if !names_ids {
            return Ok(Default::default());
        }
        let roots = self
            .meta
            .list_access_keys()
            .await
            .map_err(meta_err)?
            .into_iter()
            .filter(|k| k.is_root())
            .map(|k| k.access_key);
        let users = self
            .meta
            .list_users()
            .await
            .map_err(meta_err)?
            .into_iter()
            .map(|u| u.user.name);
        Ok(users
            .chain(roots)
            .map(|name| (crate::acl::canonical_id(&name), name))
            .collect())
    }

    /// The ACL a request asks for on a resource owned by `owner` in
    /// `bucket`, under the bucket's rules: with ACLs disabled, only the
    /// owner's FULL_CONTROL (`None`); with them enabled, what it asks for
    /// (`None`: nothing), a public ACL refused under BlockPublicAcls.
    pub(super) async fn asked_acl(
        &self,
        rules: &crate::bucket_access::Rules,
        req: &acl::AclRequest<'_>,
        grants: &[(AclPermission, &str)],
        owner: &OwnerId,
    ) -> S3Result<Option<Acl>> {
        if rules.acl_ownership.is_none() {
            acl::check(&acl::AclRequest {
                other_grants: grants.iter().any(|(p, _)| *p != AclPermission::FullControl),
                ..*req
            })?;
            return Ok(None);
        }
        let names = self.grantee_names(grants, req.policy).await?;
        let users = |id: &str| names.get(id).cloned();
        let bucket_owner = OwnerId::of(rules.owner.as_deref());
        let asked = acl::requested(req, grants, owner, &bucket_owner, &users)?;
        if asked.as_ref().is_some_and(Acl::is_public) && rules.blocks_public_acls() {
            return Err(access_denied());
        }
        Ok(asked)
    }

    /// The ACL a write by `writer` (a user name) to `bucket` asks for.
    pub(super) async fn write_acl(
        &self,
        bucket: &str,
        writer: Option<String>,
        req: &acl::AclRequest<'_>,
        grants: &[(AclPermission, &str)],
    ) -> S3Result<WriteAcl> {
        let rules = self.access.get(bucket).await.map_err(meta_err)?;
        let owner = if rules.acl_ownership == Some(Ownership::BucketOwnerPreferred)
            && req.canned == Some("bucket-owner-full-control")
        {
            rules.owner.clone()
        } else {
            writer
        };
        let owner_id = OwnerId::of(owner.as_deref());
        let asked = self
            .asked_acl(
                &rules,
                &acl::AclRequest {
                    owner: owner.as_deref(),
                    ..*req
                },
                grants,
                &owner_id,
            )
            .await?;
        let header = asked
            .filter(|a| *a != Acl::private(&owner_id))
            .map(|a| (shale_metadata::OBJECT_ACL.to_owned(), a.encode()));
        Ok(WriteAcl { owner, header })
    }
}

/// An object version's ACL as stored (its owner's FULL_CONTROL without
/// one).
fn stored_acl(row: &ObjectRow) -> Acl {
    row.system_headers
        .iter()
        .find(|(k, _)| k == shale_metadata::OBJECT_ACL)
        .and_then(|(_, v)| Acl::decode(v))
        .unwrap_or_else(|| Acl::private(&OwnerId::of(row.owner.as_deref())))
}

pub(super) async fn get_bucket_acl(
    gw: &Gateway,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let bucket = gw.require_bucket(&req.input.bucket).await?;
    let key = bucket.owner.as_deref();
    let rules = gw.access.get(&req.input.bucket).await.map_err(meta_err)?;
    let grants = match (&rules.acl_ownership, &rules.acl) {
        (Some(_), Some(acl)) => acl.to_grants(),
        _ => acl::owner_grants(key),
    };
    Ok(S3Response::new(GetBucketAclOutput {
        grants: Some(grants),
        owner: Some(owner(key)),
    }))
}

pub(super) async fn put_bucket_acl(
    gw: &Gateway,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let input = &req.input;
    let bucket = gw.require_bucket(&input.bucket).await?;
    let grants = acl_grants!(input, grant_full_control => FullControl, grant_read => Read,
        grant_write => Write, grant_read_acp => ReadAcp, grant_write_acp => WriteAcp);
    let request = acl::AclRequest {
        canned: input.acl.as_ref().map(|a| a.as_str()),
        grant_full_control: input.grant_full_control.as_deref(),
        other_grants: false,
        policy: input.access_control_policy.as_ref(),
        owner: bucket.owner.as_deref(),
    };
    let rules = gw.access.get(&input.bucket).await.map_err(meta_err)?;
    let owner_id = OwnerId::of(bucket.owner.as_deref());
    let asked = gw.asked_acl(&rules, &request, &grants, &owner_id).await?;
    if let Some(acl) = asked {
        gw.put_access_config(&input.bucket, BucketConfig::Acl(acl.encode()))
            .await?;
    }
    Ok(S3Response::new(PutBucketAclOutput {}))
}

pub(super) async fn get_object_acl(
    gw: &Gateway,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let input = req.input;
    let which = check_version(input.version_id.as_deref())?;
    let row = gw.version_row(&input.bucket, &input.key, which).await?;
    let key = row.owner.as_deref();
    let rules = gw.access.get(&input.bucket).await.map_err(meta_err)?;
    let grants = match rules.acl_ownership {
        Some(_) => stored_acl(&row).to_grants(),
        None => acl::owner_grants(key),
    };
    Ok(S3Response::new(GetObjectAclOutput {
        grants: Some(grants),
        owner: Some(owner(key)),
        request_charged: None,
    }))
}

pub(super) async fn put_object_acl(
    gw: &Gateway,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let input = &req.input;
    let which = check_version(input.version_id.as_deref())?;
    let row = gw.version_row(&input.bucket, &input.key, which).await?;
    let grants = object_grants!(input);
    let request = acl::AclRequest {
        canned: input.acl.as_ref().map(|a| a.as_str()),
        grant_full_control: input.grant_full_control.as_deref(),
        other_grants: false,
        policy: input.access_control_policy.as_ref(),
        owner: row.owner.as_deref(),
    };
    let rules = gw.access.get(&input.bucket).await.map_err(meta_err)?;
    let owner_id = OwnerId::of(row.owner.as_deref());
    let asked = gw.asked_acl(&rules, &request, &grants, &owner_id).await?;
    if let Some(acl) = asked {
        let stored = (acl != Acl::private(&owner_id)).then(|| acl.encode());
        gw.meta
            .put_version_acl(&input.bucket, &input.key, which, stored)
            .await
            .map_err(meta_err)?;
    }
    Ok(S3Response::new(PutObjectAclOutput::default()))
}

/// S3's `OwnershipControlsNotFoundError`.
fn no_ownership_controls() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("OwnershipControlsNotFoundError".into()),
        "The bucket ownership controls were not found",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

/// The bucket's Object Ownership row: `None` when it has none (bucket
/// owner enforced), `Some(None)` after DeleteBucketOwnershipControls.
async fn ownership_row(gw: &Gateway, bucket: &str) -> S3Result<Option<Option<Ownership>>> {
    match gw
        .meta
        .get_bucket_config(bucket, BucketConfigKind::OwnershipControls)
        .await
        .map_err(meta_err)?
    {
        Some(BucketConfig::OwnershipControls(o)) => Ok(Some(o)),
        _ => Ok(None),
    }
}

pub(super) async fn get_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    let ownership = match ownership_row(gw, &req.input.bucket).await? {
        None => Ownership::BucketOwnerEnforced,
        Some(Some(o)) => o,
        Some(None) => return Err(no_ownership_controls()),
    };
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: ObjectOwnership::from(ownership.name().to_owned()),
            }],
        }),
    }))
}

/// S3's check before ACLs are disabled: the bucket's ACL may grant only
/// its owner (`InvalidBucketAclWithObjectOwnership`).
fn check_disabling(rules: &crate::bucket_access::Rules) -> S3Result<()> {
    let owner = OwnerId::of(rules.owner.as_deref());
    if rules
        .acl
        .as_deref()
        .is_some_and(|a| *a != Acl::private(&owner))
    {
        return Err(S3Error::with_message(
            S3ErrorCode::Custom("InvalidBucketAclWithObjectOwnership".into()),
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        )
        .tap_status(http::StatusCode::BAD_REQUEST));
    }
    Ok(())
}

trait TapStatus {
    fn tap_status(self, status: http::StatusCode) -> Self;
}

impl TapStatus for S3Error {
    fn tap_status(mut self, status: http::StatusCode) -> Self {
        self.set_status_code(status);
        self
    }
}

/// The one `ObjectOwnership` of an `OwnershipControls`.
pub(super) fn parse_ownership(value: &str) -> S3Result<Ownership> {
    Ownership::parse(value).ok_or_else(|| {
        S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    })
}

pub(super) async fn put_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let input = req.input;
    gw.require_bucket(&input.bucket).await?;
    let [rule] = input.ownership_controls.rules.as_slice() else {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    };
    let ownership = parse_ownership(rule.object_ownership.as_str())?;
    if ownership == Ownership::BucketOwnerEnforced {
        let rules = gw.access.get(&input.bucket).await.map_err(meta_err)?;
        check_disabling(&rules)?;
    }
    gw.put_access_config(
        &input.bucket,
        BucketConfig::OwnershipControls(Some(ownership)),
    )
    .await?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
}

pub(super) async fn delete_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let bucket = req.input.bucket;
    gw.require_bucket(&bucket).await?;
    gw.put_access_config(&bucket, BucketConfig::OwnershipControls(None))
        .await?;
    Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
}
