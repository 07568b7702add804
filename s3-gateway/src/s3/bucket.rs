//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, and S3's bucket-name rules that `s3s` lacks.

use super::*;

/// S3's bucket naming rules that `s3s`'s router does not check (it checks
/// length, characters, first and last character, `..`, IP-address form and
/// `xn--`): the prefixes and suffixes S3 reserves for its own names.
pub(super) fn check_bucket_name(name: &str) -> S3Result<()> {
    const PREFIXES: [&str; 4] = ["xn--", "sthree-", "sthree-configurator", "amzn-s3-demo-"];
    const SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"];
    let valid = s3s::path::check_bucket_name(name)
        && !PREFIXES.iter().any(|p| name.starts_with(p))
        && !SUFFIXES.iter().any(|x| name.ends_with(x));
    if valid {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidBucketName,
            "The specified bucket is not valid."
        ))
    }
}

pub(super) async fn list_buckets(
    gw: &Gateway,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let buckets = gw.meta.list_buckets().await.map_err(meta_err)?;
    // A key with grants sees only the buckets it holds one on.
    let caller = req.extensions.get::<Caller>().map(|c| Arc::clone(&c.0));
    let buckets = buckets
        .into_iter()
        .filter(|b| {
            caller
                .as_ref()
                .is_none_or(|k| k.permission(&b.name).is_some())
        })
        .map(|b| Bucket {
            bucket_region: Some(b.region),
            creation_date: Some(ts(b.created_ms)),
            name: Some(b.name),
        })
        .collect();
    // The Owner of ListBuckets is the caller (S3: the requester's account).
    let me = caller.as_ref().map(|k| k.user_name());
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(owner(me)),
        ..Default::default()
    }))
}

pub(super) async fn create_bucket(
    gw: &Gateway,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let caller = req.extensions.get::<Caller>().map(|c| Arc::clone(&c.0));
    let input = req.input;
    check_bucket_name(&input.bucket)?;
    let constraint = input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.clone())
        .map(|c| c.as_str().to_owned());
    let object_lock = input.object_lock_enabled_for_bucket == Some(true);
    if let Some(c) = constraint
        .as_deref()
        .filter(|c| !c.is_empty() && *c != gw.region)
    {
        // Another linked region's constraint: the bucket is made there.
        if gw.regions.endpoint(c).await.is_none() {
            return Err(s3_error!(
                IllegalLocationConstraintException,
                "The {} location constraint is incompatible for the region specific endpoint this request was sent to.",
                c
            ));
        }
        // The other region knows the key (identities are mirrored).
        let owner = caller.as_ref().map(|k| k.access_key());
        let created = gw
            .regions
            .create_in(c, &input.bucket, owner, object_lock)
            .await;
        own_bucket_answer(created, caller.as_deref(), &input.bucket)?;
        return Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }));
    }
    // With Object Lock: versioning and the lock from the first moment,
    // in the same write as the bucket; so are its Object Ownership and ACL.
    let mut configs = if object_lock {
        vec![
            BucketConfig::Versioning(VersioningStatus::Enabled),
            BucketConfig::ObjectLock(shale_metadata::ObjectLockConfig::default()),
        ]
    } else {
        Vec::new()
    };
    configs.extend(creation_acl(gw, &input, caller.as_deref()).await?);
    let created = gw
        .regions
        .create_here(&input.bucket, caller.as_deref(), configs)
        .await
        .map(drop);
    own_bucket_answer(created, caller.as_deref(), &input.bucket)?;
    // A key with grants owns what it creates, in every region.
    if let Some(k) = caller.filter(|k| !k.is_root()) {
        gw.meta
            .set_grant(k.access_key(), &input.bucket, Some(Permission::Owner))
            .await
            .map_err(meta_err)?;
        gw.regions
            .share_grant(k.access_key(), &input.bucket, Some(Permission::Owner))
            .await
            .map_err(meta_err)?;
        // This gateway's cached grants of the creator predate the bucket:
        // its ListBuckets right after must list it (read-after-write). A
        // user's grants are cached under each of its keys.
        if k.user_name() == k.access_key() {
            gw.regions.keys().forget(k.access_key());
        } else {
            gw.regions.keys().forget_all();
        }
    }
    // What the access check read of the name before the bucket existed.
    gw.access.forget(&input.bucket);
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{}", input.bucket)),
    }))
}

/// The Object Ownership (`x-amz-object-ownership`) and ACL (`x-amz-acl`,
/// `x-amz-grant-*`) a CreateBucket asks for, as the new bucket's
/// configuration rows. With ACLs disabled (BucketOwnerEnforced, the
/// default) only the owner's FULL_CONTROL is accepted; a new bucket blocks
/// public access, so a public ACL is refused either way.
async fn creation_acl(
    gw: &Gateway,
    input: &CreateBucketInput,
    caller: Option<&crate::access::Principal>,
) -> S3Result<Vec<BucketConfig>> {
    let ownership = match &input.object_ownership {
        Some(o) => super::acls::parse_ownership(o.as_str())?,
        None => shale_metadata::ObjectOwnership::BucketOwnerEnforced,
    };
    let mut configs = Vec::new();
    if ownership != shale_metadata::ObjectOwnership::BucketOwnerEnforced {
        configs.push(BucketConfig::OwnershipControls(Some(ownership)));
    }
    let grants = super::acls::acl_grants!(input, grant_full_control => FullControl,
        grant_read => Read, grant_write => Write, grant_read_acp => ReadAcp,
        grant_write_acp => WriteAcp);
    let owner = caller.map(|k| k.user_name());
    let request = acl::AclRequest {
        canned: input.acl.as_ref().map(|a| a.as_str()),
        grant_full_control: input.grant_full_control.as_deref(),
        other_grants: false,
        policy: None,
        owner,
    };
    let mut rules =
        crate::bucket_access::Rules::new(None, Some(shale_metadata::PublicAccessBlock::ALL));
    rules.owner = owner.map(str::to_owned);
    rules.acl_ownership = crate::bucket_access::acl_ownership(configs.first().cloned());
    let owner_id = acl::OwnerId::of(owner);
    match gw.asked_acl(&rules, &request, &grants, &owner_id).await {
        Ok(Some(acl)) if acl != acl::Acl::private(&owner_id) => {
            configs.push(BucketConfig::Acl(acl.encode()));
        }
        Ok(_) => {}
        Err(e) if e.code().as_str() == "AccessControlListNotSupported" => {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("InvalidBucketAclWithObjectOwnership".into()),
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            return Err(e);
        }
        Err(e) => return Err(e),
    }
    Ok(configs)
}

/// CreateBucket's answer when the name was taken: a bucket of another key
/// is someone else's (BucketAlreadyExists), as S3 answers it, even when
/// the metadata saw the same owner (a root key).
fn own_bucket_answer(
    created: Result<(), MetaError>,
    caller: Option<&crate::access::Principal>,
    bucket: &str,
) -> S3Result<()> {
    match (created, caller.filter(|k| !k.is_root())) {
        (Err(MetaError::BucketAlreadyOwnedByYou), Some(k)) if k.permission(bucket).is_none() => {
            Err(meta_err(MetaError::BucketAlreadyExists))
        }
        (r, _) => r.map_err(meta_err),
    }
}

pub(super) async fn head_bucket(
    gw: &Gateway,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    match gw
        .meta
        .get_bucket(&req.input.bucket)
        .await
        .map_err(meta_err)?
    {
        Some(b) => Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(b.region),
            ..Default::default()
        })),
        None => Err(s3_error!(NoSuchBucket)),
    }
}

pub(super) async fn delete_bucket(
    gw: &Gateway,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    gw.meta
        .delete_bucket(&req.input.bucket)
        .await
        .map_err(meta_err)?;
    // Its configurations went with it (same metadata batch).
    gw.cors.changed(&req.input.bucket, None);
    gw.lifecycle.forget(&req.input.bucket);
    gw.access.forget(&req.input.bucket);
    // And its name is free again in every region.
    gw.regions.release(&req.input.bucket).await;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub(super) async fn get_bucket_location(
    gw: &Gateway,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    // Any region answers for a bucket of any linked region.
    let region = match gw
        .meta
        .get_bucket(&req.input.bucket)
        .await
        .map_err(meta_err)?
    {
        Some(b) => b.region,
        None => gw
            .regions
            .locate(&req.input.bucket)
            .await
            .map_err(meta_err)?
            .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist"))?,
    };
    // S3 answers an empty LocationConstraint for us-east-1.
    let location_constraint =
        (region != "us-east-1").then(|| BucketLocationConstraint::from(region));
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint,
    }))
}
