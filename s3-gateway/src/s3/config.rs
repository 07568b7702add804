//! Bucket and object sub-resources: tagging, CORS, ACLs, and the
//! configurations Shale answers as S3 answers a bucket without them
//! (policy, website, encryption, …).

use super::*;

pub(super) async fn put_object_tagging(
    gw: &Gateway,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let replica = replica::replica_of(
        &req.headers,
        &req.extensions,
        "s3:ReplicateTags",
        (&req.input.bucket, &req.input.key),
    )?;
    let input = req.input;
    check_key(&input.key)?;
    let which = check_version(input.version_id.as_deref())?;
    let tags = tagging::from_tag_set(input.tagging.tag_set, Target::Object)?;
    let done = match replica {
        // A replica's tags, set by replication.
        Some(r) => gw
            .meta
            .replica_change((&input.bucket, &input.key), r.order, Some(tags), None)
            .await
            .map_err(meta_err)?,
        None => gw
            .meta
            .put_version_tags(&input.bucket, &input.key, which, tags)
            .await
            .map_err(meta_err)?,
    };
    Ok(S3Response::new(PutObjectTaggingOutput {
        version_id: done.version_id,
    }))
}

pub(super) async fn get_object_tagging(
    gw: &Gateway,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    let which = check_version(input.version_id.as_deref())?;
    let view = gw.live_version(&input.bucket, &input.key, which).await?;
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: tagging::to_tag_set(&view.object.row.tags),
        version_id: view.version_id,
    }))
}

pub(super) async fn delete_object_tagging(
    gw: &Gateway,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    let which = check_version(input.version_id.as_deref())?;
    let done = gw
        .meta
        .put_version_tags(&input.bucket, &input.key, which, Vec::new())
        .await
        .map_err(meta_err)?;
    Ok(S3Response::new(DeleteObjectTaggingOutput {
        version_id: done.version_id,
    }))
}

pub(super) async fn put_bucket_tagging(
    gw: &Gateway,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let input = req.input;
    let tags = tagging::from_tag_set(input.tagging.tag_set, Target::Bucket)?;
    gw.meta
        .put_bucket_tags(&input.bucket, tags)
        .await
        .map_err(meta_err)?;
    // S3 answers 204 here; s3s answers 200 for this operation.
    let mut resp = S3Response::new(PutBucketTaggingOutput::default());
    resp.extensions
        .insert(StatusOverride(http::StatusCode::NO_CONTENT));
    Ok(resp)
}

pub(super) async fn get_bucket_tagging(
    gw: &Gateway,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let bucket = gw
        .meta
        .get_bucket(&req.input.bucket)
        .await
        .map_err(meta_err)?
        .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist"))?;
    if bucket.tags.is_empty() {
        return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
    }
    Ok(S3Response::new(GetBucketTaggingOutput {
        tag_set: tagging::to_tag_set(&bucket.tags),
    }))
}

pub(super) async fn delete_bucket_tagging(
    gw: &Gateway,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    gw.meta
        .put_bucket_tags(&req.input.bucket, Vec::new())
        .await
        .map_err(meta_err)?;
    Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
}

pub(super) async fn put_bucket_cors(
    gw: &Gateway,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let input = req.input;
    let rules = cors::rules_from_s3(input.cors_configuration)?;
    gw.meta
        .put_bucket_config(&input.bucket, BucketConfig::Cors(rules.clone()))
        .await
        .map_err(meta_err)?;
    gw.cors.changed(&input.bucket, Some(rules));
    Ok(S3Response::new(PutBucketCorsOutput::default()))
}

pub(super) async fn get_bucket_cors(
    gw: &Gateway,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    match gw
        .meta
        .get_bucket_config(&req.input.bucket, BucketConfigKind::Cors)
        .await
        .map_err(meta_err)?
    {
        Some(BucketConfig::Cors(rules)) => Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(cors::rules_to_s3(&rules)),
        })),
        _ => Err(s3_error!(
            NoSuchCORSConfiguration,
            "The CORS configuration does not exist"
        )),
    }
}

pub(super) async fn delete_bucket_cors(
    gw: &Gateway,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    gw.meta
        .delete_bucket_config(&req.input.bucket, BucketConfigKind::Cors)
        .await
        .map_err(meta_err)?;
    gw.cors.changed(&req.input.bucket, None);
    Ok(S3Response::new(DeleteBucketCorsOutput::default()))
}

pub(super) async fn get_bucket_request_payment(
    gw: &Gateway,
    req: S3Request<GetBucketRequestPaymentInput>,
) -> S3Result<S3Response<GetBucketRequestPaymentOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    Ok(S3Response::new(GetBucketRequestPaymentOutput {
        payer: Some(Payer::from_static(Payer::BUCKET_OWNER)),
    }))
}

/// The bucket owner pays, always: setting that again succeeds;
/// Requester Pays is not supported.
pub(super) async fn put_bucket_request_payment(
    gw: &Gateway,
    req: S3Request<PutBucketRequestPaymentInput>,
) -> S3Result<S3Response<PutBucketRequestPaymentOutput>> {
    let input = req.input;
    gw.require_bucket(&input.bucket).await?;
    let payer = input.request_payment_configuration.payer;
    if payer.as_str() != Payer::BUCKET_OWNER {
        return Err(s3_error!(
            NotImplemented,
            "Requester Pays buckets are not supported by this server"
        ));
    }
    Ok(S3Response::new(PutBucketRequestPaymentOutput {}))
}

/// Static website hosting is not supported: no bucket has it.
pub(super) async fn get_bucket_website(
    gw: &Gateway,
    req: S3Request<GetBucketWebsiteInput>,
) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    Err(s3_error!(
        NoSuchWebsiteConfiguration,
        "The specified bucket does not have a website configuration"
    ))
}

/// Server access logging is off (an empty BucketLoggingStatus).
pub(super) async fn get_bucket_logging(
    gw: &Gateway,
    req: S3Request<GetBucketLoggingInput>,
) -> S3Result<S3Response<GetBucketLoggingOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    Ok(S3Response::new(GetBucketLoggingOutput::default()))
}

/// No event notifications (an empty NotificationConfiguration).
pub(super) async fn get_bucket_notification_configuration(
    gw: &Gateway,
    req: S3Request<GetBucketNotificationConfigurationInput>,
) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    Ok(S3Response::new(
        GetBucketNotificationConfigurationOutput::default(),
    ))
}

/// Transfer acceleration was never set (no Status).
pub(super) async fn get_bucket_accelerate_configuration(
    gw: &Gateway,
    req: S3Request<GetBucketAccelerateConfigurationInput>,
) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
    gw.require_bucket(&req.input.bucket).await?;
    Ok(S3Response::new(
        GetBucketAccelerateConfigurationOutput::default(),
    ))
}
