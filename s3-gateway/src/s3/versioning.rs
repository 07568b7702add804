//! Bucket versioning: PutBucketVersioning and GetBucketVersioning. How
//! the versions themselves are kept is the metadata store's business
//! (`shale_metadata::store::versions`); the object handlers only pass the
//! version ids through.

use super::*;

/// A bucket that never had versioning answers an empty
/// VersioningConfiguration (no Status), as S3 does.
pub(super) async fn get_bucket_versioning(
    gw: &Gateway,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    let status = match gw
        .meta
        .get_bucket_config(bucket, BucketConfigKind::Versioning)
        .await
        .map_err(meta_err)?
    {
        Some(BucketConfig::Versioning(VersioningStatus::Enabled)) => {
            Some(BucketVersioningStatus::ENABLED)
        }
        Some(BucketConfig::Versioning(VersioningStatus::Suspended)) => {
            Some(BucketVersioningStatus::SUSPENDED)
        }
        _ => None,
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        status: status.map(BucketVersioningStatus::from_static),
        mfa_delete: None,
    }))
}

/// `Enabled` or `Suspended`; a bucket never goes back to unversioned.
/// MFA delete needs an MFA device, which Shale has no notion of: asking
/// for it is refused as S3 refuses a request without the MFA header.
pub(super) async fn put_bucket_versioning(
    gw: &Gateway,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let input = req.input;
    gw.require_bucket(&input.bucket).await?;
    let conf = input.versioning_configuration;
    if conf
        .mfa_delete
        .as_ref()
        .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
    {
        return Err(s3_error!(
            InvalidRequest,
            "DevPay and Mfa are mutually exclusive authorization methods."
        ));
    }
    let status = match conf.status.as_ref().map(|s| s.as_str()) {
        Some(BucketVersioningStatus::ENABLED) => VersioningStatus::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => VersioningStatus::Suspended,
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
    };
    gw.meta
        .put_bucket_config(&input.bucket, BucketConfig::Versioning(status))
        .await
        .map_err(meta_err)?;
    Ok(S3Response::new(PutBucketVersioningOutput {}))
}
