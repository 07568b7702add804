//! Object Lock: Put/GetObjectLockConfiguration, Put/GetObjectRetention,
//! Put/GetObjectLegalHold, and the lock headers of writes and reads. The
//! rules that protect a locked version are the metadata state machine's
//! (`shale_metadata::store::lock`); these handlers check S3's form.

use super::*;
use shale_metadata::{DefaultRetention, LockMode, ObjectLockConfig, Retention, VersionMeta};

fn mode_of(mode: &str) -> S3Result<LockMode> {
    match mode {
        ObjectLockRetentionMode::GOVERNANCE => Ok(LockMode::Governance),
        ObjectLockRetentionMode::COMPLIANCE => Ok(LockMode::Compliance),
        _ => Err(s3_error!(InvalidArgument, "Unknown wormMode directive.")),
    }
}

fn mode_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::Governance => ObjectLockRetentionMode::GOVERNANCE,
        LockMode::Compliance => ObjectLockRetentionMode::COMPLIANCE,
    }
}

fn ms_of(t: &Timestamp) -> i64 {
    let t = time::OffsetDateTime::from(t.clone());
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A retain-until date must lie ahead.
fn check_future(until_ms: i64) -> S3Result<()> {
    if until_ms <= now_ms() {
        return Err(s3_error!(
            InvalidArgument,
            "The retain until date must be in the future!"
        ));
    }
    Ok(())
}

/// The lock a write's `x-amz-object-lock-*` headers ask for: mode and date
/// together or neither, the date ahead, the hold ON or OFF.
pub(super) fn lock_request(
    mode: Option<&ObjectLockMode>,
    until: Option<&Timestamp>,
    hold: Option<&ObjectLockLegalHoldStatus>,
) -> S3Result<LockRequest> {
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(m), Some(u)) => {
            let until_ms = ms_of(u);
            check_future(until_ms)?;
            Some(Retention {
                mode: mode_of(m.as_str())?,
                until_ms,
            })
        }
        _ => {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
            ));
        }
    };
    let legal_hold = match hold.map(|h| h.as_str()) {
        None | Some(ObjectLockLegalHoldStatus::OFF) => false,
        Some(ObjectLockLegalHoldStatus::ON) => true,
        Some(_) => {
            return Err(s3_error!(
                InvalidArgument,
                "Legal Hold must be either of 'ON' or 'OFF'"
            ));
        }
    };
    Ok(LockRequest {
        retention,
        legal_hold,
    })
}

/// S3 takes lock headers only on a PUT whose body is checked end to end:
/// with Content-MD5 or a flexible checksum.
pub(super) fn require_integrity(lock: &LockRequest, headers: &http::HeaderMap) -> S3Result<()> {
    let asked = lock.retention.is_some() || lock.legal_hold;
    let checked = headers.contains_key("content-md5")
        || headers
            .keys()
            .any(|h| h.as_str().starts_with("x-amz-checksum-"))
        || headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("x-amz-checksum-"));
    if asked && !checked {
        return Err(s3_error!(
            InvalidRequest,
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
        ));
    }
    Ok(())
}

/// Whether the caller may bypass GOVERNANCE retention of `key`: a root
/// key, a user that owns the bucket, or one a policy allows
/// `s3:BypassGovernanceRetention` (and none denies it).
pub(super) fn may_bypass(extensions: &http::Extensions, bucket: &str, key: &str) -> bool {
    match extensions.get::<Authorization>() {
        Some(a) => a.may_bypass(bucket, key),
        None => extensions
            .get::<Caller>()
            .is_some_and(|c| c.0.permission(bucket) == Some(Permission::Owner)),
    }
}

/// `x-amz-bypass-governance-retention: true`, honoured for a caller that
/// may bypass ([`may_bypass`]); for anyone else it bypasses nothing.
pub(super) fn bypass(
    asked: Option<bool>,
    extensions: &http::Extensions,
    bucket: &str,
    key: &str,
) -> bool {
    asked.unwrap_or(false) && may_bypass(extensions, bucket, key)
}

/// A version's lock as GET and HEAD answer it.
pub(super) struct LockOut {
    pub mode: Option<ObjectLockMode>,
    pub until: Option<Timestamp>,
    pub hold: Option<ObjectLockLegalHoldStatus>,
}

pub(super) fn lock_out(v: &VersionMeta) -> LockOut {
    LockOut {
        mode: v
            .retention
            .map(|r| ObjectLockMode::from_static(mode_name(r.mode))),
        until: v.retention.map(|r| ts(r.until_ms)),
        hold: v.legal_hold.map(|on| {
            ObjectLockLegalHoldStatus::from_static(if on {
                ObjectLockLegalHoldStatus::ON
            } else {
                ObjectLockLegalHoldStatus::OFF
            })
        }),
    }
}

async fn lock_config(gw: &Gateway, bucket: &str) -> S3Result<Option<ObjectLockConfig>> {
    Ok(
        match gw
            .meta
            .get_bucket_config(bucket, BucketConfigKind::ObjectLock)
            .await
            .map_err(meta_err)?
        {
            Some(BucketConfig::ObjectLock(c)) => Some(c),
            _ => None,
        },
    )
}

pub(super) async fn get_object_lock_configuration(
    gw: &Gateway,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    let Some(config) = lock_config(gw, bucket).await? else {
        return Err(s3_error!(
            ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket"
        ));
    };
    let rule = config.default_retention.map(|d| ObjectLockRule {
        default_retention: Some(s3s::dto::DefaultRetention {
            days: d.days.map(|n| n as i32),
            years: d.years.map(|n| n as i32),
            mode: Some(ObjectLockRetentionMode::from_static(mode_name(d.mode))),
        }),
    });
    Ok(S3Response::new(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule,
        }),
    }))
}

fn malformed() -> S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

/// Turns Object Lock on (a versioned bucket only; never off again) and
/// sets or clears the default retention.
pub(super) async fn put_object_lock_configuration(
    gw: &Gateway,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let input = req.input;
    gw.require_bucket(&input.bucket).await?;
    let conf = input.object_lock_configuration.ok_or_else(malformed)?;
    if conf.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some(ObjectLockEnabled::ENABLED) {
        return Err(malformed());
    }
    let default_retention = match conf.rule.and_then(|r| r.default_retention) {
        None => None,
        Some(d) => {
            let mode = mode_of(d.mode.as_ref().ok_or_else(malformed)?.as_str())?;
            let positive = |n: i32| {
                u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                    s3_error!(
                        InvalidArgument,
                        "Default retention period must be a positive integer value."
                    )
                })
            };
            match (d.days, d.years) {
                (Some(n), None) => Some(DefaultRetention {
                    mode,
                    days: Some(positive(n)?),
                    years: None,
                }),
                (None, Some(n)) => Some(DefaultRetention {
                    mode,
                    days: None,
                    years: Some(positive(n)?),
                }),
                _ => return Err(malformed()),
            }
        }
    };
    gw.meta
        .put_bucket_config(
            &input.bucket,
            BucketConfig::ObjectLock(ObjectLockConfig { default_retention }),
        )
        .await
        .map_err(meta_err)?;
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

fn no_lock_on_object() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("NoSuchObjectLockConfiguration".into()),
        "The specified object does not have a ObjectLock configuration",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

/// The version a retention or legal-hold read names, in a bucket with
/// Object Lock.
async fn locked_version(
    gw: &Gateway,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<VersionMeta> {
    let which = check_version(version_id)?;
    gw.require_bucket(bucket).await?;
    if lock_config(gw, bucket).await?.is_none() {
        return Err(s3_error!(
            InvalidRequest,
            "Bucket is missing Object Lock Configuration"
        ));
    }
    Ok(gw.live_version(bucket, key, which).await?.object.version)
}

pub(super) async fn get_object_retention(
    gw: &Gateway,
    req: S3Request<GetObjectRetentionInput>,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let input = req.input;
    let v = locked_version(gw, &input.bucket, &input.key, input.version_id.as_deref()).await?;
    let r = v.retention.ok_or_else(no_lock_on_object)?;
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from_static(mode_name(r.mode))),
            retain_until_date: Some(ts(r.until_ms)),
        }),
    }))
}

pub(super) async fn put_object_retention(
    gw: &Gateway,
    req: S3Request<PutObjectRetentionInput>,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let bypass = bypass(
        req.input.bypass_governance_retention,
        &req.extensions,
        &req.input.bucket,
        &req.input.key,
    );
    let replica = replica::replica_of(
        &req.headers,
        &req.extensions,
        "s3:ReplicateObject",
        (&req.input.bucket, &req.input.key),
    )?;
    let hold = match req
        .headers
        .get(replica::REPLICA_LEGAL_HOLD)
        .map(|v| v.as_bytes())
    {
        Some(b"ON") => Some(true),
        Some(b"OFF") => Some(false),
        _ => None,
    };
    let input = req.input;
    check_key(&input.key)?;
    let which = check_version(input.version_id.as_deref())?;
    let retention = match input.retention {
        None => None,
        Some(r) => match (r.mode, r.retain_until_date) {
            (None, None) => None,
            (Some(m), Some(u)) => {
                let until_ms = ms_of(&u);
                if replica.is_none() {
                    check_future(until_ms)?;
                }
                Some(Retention {
                    mode: mode_of(m.as_str())?,
                    until_ms,
                })
            }
            _ => return Err(malformed()),
        },
    };
    // A replica's lock (retention and legal hold), set by replication.
    if let Some(r) = replica {
        gw.meta
            .replica_change(
                (&input.bucket, &input.key),
                r.order,
                None,
                Some((retention, hold)),
            )
            .await
            .map_err(meta_err)?;
        return Ok(S3Response::new(PutObjectRetentionOutput::default()));
    }
    let done = gw
        .meta
        .set_retention((&input.bucket, &input.key), which, retention, bypass)
        .await
        .map_err(meta_err)?;
    let _ = done;
    Ok(S3Response::new(PutObjectRetentionOutput::default()))
}

pub(super) async fn get_object_legal_hold(
    gw: &Gateway,
    req: S3Request<GetObjectLegalHoldInput>,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let input = req.input;
    let v = locked_version(gw, &input.bucket, &input.key, input.version_id.as_deref()).await?;
    // A hold never set is no lock configuration of the object (404).
    let status = if v.legal_hold.ok_or_else(no_lock_on_object)? {
        ObjectLockLegalHoldStatus::ON
    } else {
        ObjectLockLegalHoldStatus::OFF
    };
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold {
            status: Some(ObjectLockLegalHoldStatus::from_static(status)),
        }),
    }))
}

pub(super) async fn put_object_legal_hold(
    gw: &Gateway,
    req: S3Request<PutObjectLegalHoldInput>,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    let which = check_version(input.version_id.as_deref())?;
    let on = match input
        .legal_hold
        .as_ref()
        .and_then(|h| h.status.as_ref())
        .map(|s| s.as_str())
    {
        Some(ObjectLockLegalHoldStatus::ON) => true,
        Some(ObjectLockLegalHoldStatus::OFF) => false,
        _ => return Err(malformed()),
    };
    gw.meta
        .set_legal_hold((&input.bucket, &input.key), which, on)
        .await
        .map_err(meta_err)?;
    Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
}
