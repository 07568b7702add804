//! Bucket policies (Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus) and
//! public access blocks (Put/Get/DeletePublicAccessBlock). The documents
//! are stored as bucket configuration rows; the access check reads them
//! through [`crate::bucket_access::AccessRules`], which this gateway's own
//! changes refresh at once.
//!
//! PutBucketPolicy checks what S3 checks: the document (`shale-policy`'s
//! MalformedPolicy messages, 20 KB), every principal it names (a user, an
//! access key's canonical id, or the account), and, while the bucket
//! blocks public policies, that the policy is not public (403
//! AccessDenied, as S3 answers).

use super::*;
use crate::bucket_access::{ACCOUNT_ID, user_of};
use shale_metadata::PublicAccessBlock as Block;
use shale_policy::Principal;

fn malformed(e: shale_policy::Error) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedPolicy, e.to_string())
}

fn no_policy() -> S3Error {
    s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")
}

/// Whether the principals the document names exist: the account, a user
/// (or an access key that is a user of its own, or a root key) by ARN or
/// by canonical id.
async fn principals_exist(gw: &Gateway, document: &[u8], bucket: &str) -> S3Result<Vec<Principal>> {
    // First pass: what the document names (a malformed one fails here).
    let named = std::cell::RefCell::new(Vec::new());
    shale_policy::parse_bucket_policy(document, bucket, &|p| {
        named.borrow_mut().push(p.clone());
        true
    })
    .map_err(malformed)?;
    let named = named.into_inner();
    let needs_listing = named
        .iter()
        .any(|p| matches!(p, Principal::CanonicalUser(_) | Principal::Arn(_)));
    // Users, keys that are users of their own, and root keys.
    let users: Vec<String> = if needs_listing {
        let roots = gw
            .meta
            .list_access_keys()
            .await
            .map_err(meta_err)?
            .into_iter()
            .filter(|k| k.is_root())
            .map(|k| k.access_key);
        gw.meta
            .list_users()
            .await
            .map_err(meta_err)?
            .into_iter()
            .map(|u| u.user.name)
            .chain(roots)
            .collect()
    } else {
        Vec::new()
    };
    let mut unknown = Vec::new();
    for p in &named {
        let exists = match p {
            Principal::Everyone => true,
            Principal::Account(id) => id == ACCOUNT_ID,
            Principal::Arn(arn) => {
                match arn.strip_prefix(&format!("arn:aws:iam::{ACCOUNT_ID}:user/")) {
                    Some(name) if !name.is_empty() => users.iter().any(|u| u == name),
                    _ => false,
                }
            }
            Principal::CanonicalUser(id) => users.iter().any(|u| user_of(u).canonical_id == *id),
            Principal::Service(_) | Principal::Federated(_) => false,
        };
        if !exists {
            unknown.push(p.clone());
        }
    }
    Ok(unknown)
}

/// The bucket's public access block as S3 shows it: a bucket that never
/// had one has every block on.
async fn block_of(gw: &Gateway, bucket: &str) -> S3Result<Option<Block>> {
    Ok(
        match gw
            .meta
            .get_bucket_config(bucket, BucketConfigKind::PublicAccessBlock)
            .await
            .map_err(meta_err)?
        {
            Some(BucketConfig::PublicAccessBlock(block)) => block,
            _ => Some(Block::ALL),
        },
    )
}

pub(super) async fn put_bucket_policy(
    gw: &Gateway,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let input = req.input;
    gw.require_bucket(&input.bucket).await?;
    let document = input.policy;
    let unknown = principals_exist(gw, document.as_bytes(), &input.bucket).await?;
    let policy = shale_policy::parse_bucket_policy(document.as_bytes(), &input.bucket, &|p| {
        !unknown.contains(p)
    })
    .map_err(malformed)?;
    if policy.is_public()
        && (gw.access.account_block().block_public_policy
            || block_of(gw, &input.bucket)
                .await?
                .is_some_and(|b| b.block_public_policy))
    {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    gw.put_access_config(&input.bucket, BucketConfig::Policy(document))
        .await?;
    Ok(S3Response::with_status(
        PutBucketPolicyOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn get_bucket_policy(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    match gw
        .meta
        .get_bucket_config(&req.input.bucket, BucketConfigKind::Policy)
        .await
        .map_err(meta_err)?
    {
        Some(BucketConfig::Policy(document)) => Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(document),
        })),
        _ => Err(no_policy()),
    }
}

pub(super) async fn delete_bucket_policy(
    gw: &Gateway,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    gw.meta
        .delete_bucket_config(&req.input.bucket, BucketConfigKind::Policy)
        .await
        .map_err(meta_err)?;
    gw.access.forget(&req.input.bucket);
    Ok(S3Response::with_status(
        DeleteBucketPolicyOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}

/// `IsPublic`, as S3 judges a policy public ([`shale_policy::Policy::is_public`]).
pub(super) async fn get_bucket_policy_status(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    let rules = gw.access.get(bucket).await.map_err(meta_err)?;
    let Some(policy) = rules.policy else {
        return Err(no_policy());
    };
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(policy.is_public()),
        }),
    }))
}

pub(super) async fn get_public_access_block(
    gw: &Gateway,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    let Some(b) = block_of(gw, &req.input.bucket).await? else {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
            "The public access block configuration was not found",
        );
        e.set_status_code(http::StatusCode::NOT_FOUND);
        return Err(e);
    };
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(b.block_public_acls),
            block_public_policy: Some(b.block_public_policy),
            ignore_public_acls: Some(b.ignore_public_acls),
            restrict_public_buckets: Some(b.restrict_public_buckets),
        }),
    }))
}

/// A setting left out is off, as S3 takes it.
pub(super) async fn put_public_access_block(
    gw: &Gateway,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let input = req.input;
    gw.require_bucket(&input.bucket).await?;
    let c = input.public_access_block_configuration;
    let block = Block {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    gw.put_access_config(&input.bucket, BucketConfig::PublicAccessBlock(Some(block)))
        .await?;
    Ok(S3Response::new(PutPublicAccessBlockOutput {}))
}

pub(super) async fn delete_public_access_block(
    gw: &Gateway,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    gw.put_access_config(&req.input.bucket, BucketConfig::PublicAccessBlock(None))
        .await?;
    Ok(S3Response::with_status(
        DeletePublicAccessBlockOutput {},
        http::StatusCode::NO_CONTENT,
    ))
}
