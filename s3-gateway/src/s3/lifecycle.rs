//! Bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration, checked
//! as Amazon S3 checks a configuration, and the `x-amz-expiration` header
//! the object handlers send for a current version a rule will expire. The
//! lifecycle worker (`shale_workers::lifecycle`) takes the actions; the
//! filters match with [`shale_metadata::LifecycleFilter::matches`], here
//! and there.
//!
//! S3's checks, and the answer each broken one gets (the API reference's
//! `PutBucketLifecycleConfiguration`, `LifecycleRule`, `LifecycleExpiration`
//! and its error table, and S3's answers as clients recorded them where the
//! reference names no code):
//! - 1 to 1,000 rules (`InvalidRequest` past 1,000); a rule ID of at most
//!   255 characters (`InvalidArgument`), unique (`InvalidArgument`), made
//!   up when none is given;
//! - `Status` `Enabled` or `Disabled`, and every element the schema
//!   requires, or `MalformedXML`;
//! - the objects named by exactly one of a rule-level `Prefix` (the
//!   "Lifecycle V1" form) or a `Filter`, and the whole configuration in
//!   the form of its first rule (`InvalidRequest` otherwise); a `Filter`
//!   of at most one predicate, or an `And` of at least two (`MalformedXML`);
//! - sizes in S3's range, `ObjectSizeGreaterThan` below
//!   `ObjectSizeLessThan`, tag keys unique (`InvalidRequest`), tags that
//!   pass the object tag rules ([`crate::tagging`]);
//! - at least one action (`InvalidRequest`); an `Expiration` of exactly one
//!   of `Days` (> 0), `Date` (a midnight UTC) and
//!   `ExpiredObjectDeleteMarker`; `NoncurrentDays` > 0,
//!   `NewerNoncurrentVersions` 1 to 100, `DaysAfterInitiation` > 0
//!   (`InvalidArgument`); no `ExpiredObjectDeleteMarker` or
//!   `AbortIncompleteMultipartUpload` with a tag or size filter
//!   (`InvalidRequest`);
//! - transitions: Shale keeps every object in STANDARD, the one class it
//!   has, which is no class an object can transition to: any transition is
//!   S3's answer for a class it does not know (`InvalidStorageClass`).

use std::collections::HashSet;

use super::*;
use s3s::dto::{
    AbortIncompleteMultipartUpload, ExpirationStatus, LifecycleRuleAndOperator,
    LifecycleRuleFilter, NoncurrentVersionExpiration, Tag, TransitionDefaultMinimumObjectSize,
};

/// Most rules in one configuration.
const MAX_RULES: usize = 1000;
/// Longest rule ID, in characters.
const MAX_ID_CHARS: usize = 255;
/// Largest size a filter may name, 1000 × 2^40 bytes (the range S3 gives
/// in its answer to a size outside it).
const MAX_FILTER_SIZE: i64 = 1_099_511_627_776_000;
/// Most newer noncurrent versions a rule may keep.
const MAX_NEWER_VERSIONS: i32 = 100;
/// A day of S3's calendar, in milliseconds.
const DAY_MS: i64 = 86_400_000;

fn malformed() -> S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

/// Whether `filter` selects an object of `key`, `size` bytes and `tags`:
/// its prefix, every one of its tags with its value, and its sizes
/// (exclusive). The lifecycle worker matches with the same function.
pub(crate) fn rule_matches(
    filter: &shale_metadata::LifecycleFilter,
    key: &str,
    size: u64,
    tags: &[(String, String)],
) -> bool {
    filter.matches(key, size, tags)
}

/// The `x-amz-expiration` value S3 sends on PUT, GET and HEAD of the
/// current version `row` of `key`: the enabled rule with an `Expiration`
/// by `Days` or `Date` whose filter selects the object and that expires it
/// first (the first listed of equals), as
/// `expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="<id>"`. A rule of
/// `Days` expires a version that many days (of `day_ms`) after it was
/// written, rounded up to a whole day: S3's next midnight UTC for a day of
/// 86,400,000 ms. None when no rule expires it.
pub(super) fn expiration_header(
    rules: &[shale_metadata::LifecycleRule],
    key: &str,
    row: &ObjectRow,
    day_ms: i64,
) -> Option<String> {
    let (at, rule) = rules
        .iter()
        .filter(|r| r.enabled && rule_matches(&r.filter, key, row.size, &row.tags))
        .filter_map(|r| {
            let e = r.expiration.as_ref()?;
            if e.days.is_none() && e.date_ms.is_none() {
                return None;
            }
            Some((e.expiry(row.last_modified_ms, day_ms)?, r))
        })
        .min_by_key(|(at, _)| *at)?;
    Some(format!(
        "expiry-date=\"{}\", rule-id=\"{}\"",
        expiry_date(at)?,
        rule.id
    ))
}

/// An HTTP date (RFC 7231) of a Unix time in ms; none out of range.
fn expiry_date(ms: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()?;
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).ok()
}

/// A rule ID as S3 makes one for a rule given none: 48 characters, the
/// base64 of a random UUID.
fn new_rule_id() -> String {
    base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().to_string())
}

/// Checks a configuration's rules as S3 does and turns them into rows,
/// each with its ID.
fn rules_from_s3(
    rules: Vec<s3s::dto::LifecycleRule>,
) -> S3Result<Vec<shale_metadata::LifecycleRule>> {
    if rules.is_empty() {
        return Err(malformed());
    }
    if rules.len() > MAX_RULES {
        return Err(s3_error!(
            InvalidRequest,
            "The number of lifecycle rules must not exceed the allowed limit of 1000 rules."
        ));
    }
    let mut ids = HashSet::new();
    for id in rules.iter().filter_map(|r| r.id.as_deref()) {
        if id.chars().count() > MAX_ID_CHARS {
            return Err(s3_error!(
                InvalidArgument,
                "ID length should not exceed allowed limit of 255"
            ));
        }
        if !id.is_empty() && !ids.insert(id) {
            return Err(s3_error!(
                InvalidArgument,
                "Rule ID must be unique. Found same ID for more than one rule"
            ));
        }
    }
    // S3 reads a configuration whose first rule has a Filter as "V2", one
    // whose first rule has a rule-level Prefix as "V1", and refuses a mix.
    let v2 = rules[0].filter.is_some();
    let mut out = rules
        .iter()
        .map(|r| rule_from_s3(r, v2))
        .collect::<S3Result<Vec<_>>>()?;
    let mut taken: HashSet<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    for (row, given) in out.iter_mut().zip(&rules) {
        row.id = match given.id.as_deref() {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => loop {
                let id = new_rule_id();
                if taken.insert(id.clone()) {
                    break id;
                }
            },
        };
    }
    Ok(out)
}

/// One rule checked, without its ID.
fn rule_from_s3(
    rule: &s3s::dto::LifecycleRule,
    v2: bool,
) -> S3Result<shale_metadata::LifecycleRule> {
    let enabled = match rule.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(malformed()),
    };
    let filter = match (&rule.prefix, &rule.filter) {
        (Some(_), Some(_)) | (None, None) => return Err(malformed()),
        (Some(_), None) if v2 => {
            return Err(s3_error!(
                InvalidRequest,
                "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter."
            ));
        }
        (None, Some(_)) if !v2 => {
            return Err(s3_error!(
                InvalidRequest,
                "Filter element can only be used in Lifecycle V2."
            ));
        }
        (Some(prefix), None) => shale_metadata::LifecycleFilter {
            prefix: prefix.clone(),
            ..Default::default()
        },
        (None, Some(filter)) => filter_from_s3(filter)?,
    };
    let transitions = rule.transitions.as_deref().unwrap_or_default();
    let noncurrent_transitions = rule
        .noncurrent_version_transitions
        .as_deref()
        .unwrap_or_default();
    if rule.expiration.is_none()
        && rule.noncurrent_version_expiration.is_none()
        && rule.abort_incomplete_multipart_upload.is_none()
        && transitions.is_empty()
        && noncurrent_transitions.is_empty()
    {
        return Err(s3_error!(
            InvalidRequest,
            "At least one action needs to be specified in a rule"
        ));
    }
    let (tags, sizes) = (
        !filter.tags.is_empty(),
        filter.size_greater_than.is_some() || filter.size_less_than.is_some(),
    );
    let expiration = match &rule.expiration {
        None => None,
        Some(e) => {
            let expiration = expiration_from_s3(e)?;
            if e.expired_object_delete_marker.is_some() && tags {
                return Err(s3_error!(
                    InvalidRequest,
                    "ExpiredObjectDeleteMarker cannot be specified with Tags."
                ));
            }
            if e.expired_object_delete_marker.is_some() && sizes {
                return Err(s3_error!(
                    InvalidRequest,
                    "ExpiredObjectDeleteMarker cannot be specified with Object Size."
                ));
            }
            Some(expiration)
        }
    };
    let noncurrent = rule
        .noncurrent_version_expiration
        .as_ref()
        .map(|n| noncurrent_from_s3(n, v2))
        .transpose()?;
    let abort_uploads_after_days = match &rule.abort_incomplete_multipart_upload {
        None => None,
        Some(a) => {
            let days = a.days_after_initiation.ok_or_else(malformed)?;
            let days = positive(days).ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"
                )
            })?;
            if tags {
                return Err(s3_error!(
                    InvalidRequest,
                    "AbortIncompleteMultipartUpload cannot be specified with Tags."
                ));
            }
            if sizes {
                return Err(s3_error!(
                    InvalidRequest,
                    "AbortIncompleteMultipartUpload cannot be specified with Object Size."
                ));
            }
            Some(days)
        }
    };
    let classes: Vec<_> = transitions
        .iter()
        .map(|t| t.storage_class.as_ref())
        .chain(
            noncurrent_transitions
                .iter()
                .map(|t| t.storage_class.as_ref()),
        )
        .collect();
    if classes.iter().any(Option::is_none) {
        return Err(malformed());
    }
    if !classes.is_empty() {
        return Err(s3_error!(
            InvalidStorageClass,
            "The storage class you specified is not valid"
        ));
    }
    Ok(shale_metadata::LifecycleRule {
        id: String::new(),
        enabled,
        filter,
        expiration,
        noncurrent,
        abort_uploads_after_days,
    })
}

/// `n` if it is a positive integer.
fn positive(n: i32) -> Option<u32> {
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// A `Filter`: empty (every object), one predicate, or an `And` of two or
/// more.
fn filter_from_s3(filter: &LifecycleRuleFilter) -> S3Result<shale_metadata::LifecycleFilter> {
    let given = [
        filter.and.is_some(),
        filter.prefix.is_some(),
        filter.tag.is_some(),
        filter.object_size_greater_than.is_some(),
        filter.object_size_less_than.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(malformed());
    }
    let (prefix, tags, greater, less) = match &filter.and {
        Some(and) => {
            let tags = and.tags.as_deref().unwrap_or_default();
            let count = usize::from(and.prefix.is_some())
                + tags.len()
                + usize::from(and.object_size_greater_than.is_some())
                + usize::from(and.object_size_less_than.is_some());
            if count < 2 {
                return Err(malformed());
            }
            (
                and.prefix.clone(),
                tags,
                and.object_size_greater_than,
                and.object_size_less_than,
            )
        }
        None => (
            filter.prefix.clone(),
            filter.tag.as_slice(),
            filter.object_size_greater_than,
            filter.object_size_less_than,
        ),
    };
    let tags = filter_tags(tags)?;
    let size_greater_than = match greater {
        None => None,
        Some(n) if (0..=MAX_FILTER_SIZE).contains(&n) => Some(n as u64),
        Some(_) => {
            return Err(s3_error!(
                InvalidRequest,
                "'ObjectSizeGreaterThan' should be between 0 and 1099511627776000."
            ));
        }
    };
    let size_less_than = match less {
        None => None,
        Some(n) if (1..=MAX_FILTER_SIZE).contains(&n) => Some(n as u64),
        Some(_) => {
            return Err(s3_error!(
                InvalidRequest,
                "'ObjectSizeLessThan' should be between 1 and 1099511627776000."
            ));
        }
    };
    if let (Some(g), Some(l)) = (size_greater_than, size_less_than)
        && g >= l
    {
        return Err(s3_error!(
            InvalidRequest,
            "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'."
        ));
    }
    Ok(shale_metadata::LifecycleFilter {
        prefix: prefix.unwrap_or_default(),
        tags,
        size_greater_than,
        size_less_than,
    })
}

/// A filter's tags: each with its `Key` and `Value`, no key twice, and
/// each as an object may carry it ([`tagging::check`]).
fn filter_tags(tags: &[Tag]) -> S3Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for tag in tags {
        let (Some(k), Some(v)) = (&tag.key, &tag.value) else {
            return Err(malformed());
        };
        if out.iter().any(|(seen, _)| seen == k) {
            return Err(s3_error!(
                InvalidRequest,
                "Duplicate Tag Keys are not allowed."
            ));
        }
        out.push((k.clone(), v.clone()));
    }
    tagging::check(&out, Target::Object)?;
    Ok(out)
}

/// An `Expiration`: exactly one of `Days`, `Date` and
/// `ExpiredObjectDeleteMarker`.
fn expiration_from_s3(
    e: &s3s::dto::LifecycleExpiration,
) -> S3Result<shale_metadata::LifecycleExpiration> {
    match (e.days, &e.date, e.expired_object_delete_marker) {
        (Some(days), None, None) => Ok(shale_metadata::LifecycleExpiration {
            days: Some(positive(days).ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "'Days' for Expiration action must be a positive integer"
                )
            })?),
            ..Default::default()
        }),
        (None, Some(date), None) => {
            let nanos = time::OffsetDateTime::from(date.clone()).unix_timestamp_nanos();
            if nanos.rem_euclid(i128::from(DAY_MS) * 1_000_000) != 0 {
                return Err(s3_error!(InvalidArgument, "'Date' must be at midnight GMT"));
            }
            let date_ms = i64::try_from(nanos / 1_000_000).map_err(|_| malformed())?;
            Ok(shale_metadata::LifecycleExpiration {
                date_ms: Some(date_ms),
                ..Default::default()
            })
        }
        (None, None, Some(marker)) => Ok(shale_metadata::LifecycleExpiration {
            expired_object_delete_marker: marker,
            ..Default::default()
        }),
        _ => Err(malformed()),
    }
}

/// A `NoncurrentVersionExpiration`: `NoncurrentDays`, and perhaps
/// `NewerNoncurrentVersions` (a V2 element).
fn noncurrent_from_s3(
    n: &NoncurrentVersionExpiration,
    v2: bool,
) -> S3Result<shale_metadata::NoncurrentExpiration> {
    let days = n.noncurrent_days.ok_or_else(malformed)?;
    let noncurrent_days = positive(days).ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"
        )
    })?;
    let newer_noncurrent_versions = match n.newer_noncurrent_versions {
        None => None,
        Some(_) if !v2 => {
            return Err(s3_error!(
                InvalidRequest,
                "NewerNoncurrentVersions element can only be used in Lifecycle V2."
            ));
        }
        Some(k) if k > MAX_NEWER_VERSIONS => {
            return Err(s3_error!(
                InvalidArgument,
                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must not exceed 100"
            ));
        }
        Some(k) => Some(positive(k).ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer"
            )
        })?),
    };
    Ok(shale_metadata::NoncurrentExpiration {
        noncurrent_days,
        newer_noncurrent_versions,
    })
}

fn days_out(days: u32) -> i32 {
    i32::try_from(days).unwrap_or(i32::MAX)
}

/// A stored filter in S3's `Filter` form: an empty filter as an empty
/// `Prefix`, one condition by itself, more in an `And`.
fn filter_to_s3(f: &shale_metadata::LifecycleFilter) -> LifecycleRuleFilter {
    let prefix = (!f.prefix.is_empty()).then(|| f.prefix.clone());
    let greater = f.size_greater_than.map(|n| n as i64);
    let less = f.size_less_than.map(|n| n as i64);
    let conditions = usize::from(prefix.is_some())
        + f.tags.len()
        + usize::from(greater.is_some())
        + usize::from(less.is_some());
    match conditions {
        0 => LifecycleRuleFilter {
            prefix: Some(String::new()),
            ..Default::default()
        },
        1 => LifecycleRuleFilter {
            prefix,
            tag: tagging::to_tag_set(&f.tags).into_iter().next(),
            object_size_greater_than: greater,
            object_size_less_than: less,
            and: None,
        },
        _ => LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix,
                tags: (!f.tags.is_empty()).then(|| tagging::to_tag_set(&f.tags)),
                object_size_greater_than: greater,
                object_size_less_than: less,
            }),
            ..Default::default()
        },
    }
}

/// The stored rules as GetBucketLifecycleConfiguration gives them.
fn rules_to_s3(rules: &[shale_metadata::LifecycleRule]) -> Vec<s3s::dto::LifecycleRule> {
    rules
        .iter()
        .map(|r| s3s::dto::LifecycleRule {
            id: Some(r.id.clone()),
            status: ExpirationStatus::from_static(if r.enabled {
                ExpirationStatus::ENABLED
            } else {
                ExpirationStatus::DISABLED
            }),
            filter: Some(filter_to_s3(&r.filter)),
            prefix: None,
            expiration: r.expiration.as_ref().map(|e| {
                let by_time = e.days.is_some() || e.date_ms.is_some();
                s3s::dto::LifecycleExpiration {
                    days: e.days.map(days_out),
                    date: e.date_ms.map(ts),
                    expired_object_delete_marker: (!by_time)
                        .then_some(e.expired_object_delete_marker),
                }
            }),
            noncurrent_version_expiration: r.noncurrent.as_ref().map(|n| {
                NoncurrentVersionExpiration {
                    noncurrent_days: Some(days_out(n.noncurrent_days)),
                    newer_noncurrent_versions: n.newer_noncurrent_versions.map(days_out),
                }
            }),
            abort_incomplete_multipart_upload: r.abort_uploads_after_days.map(|d| {
                AbortIncompleteMultipartUpload {
                    days_after_initiation: Some(days_out(d)),
                }
            }),
            transitions: None,
            noncurrent_version_transitions: None,
        })
        .collect()
}

/// `x-amz-transition-default-minimum-object-size` as a PUT asks for it
/// (S3's default without the header). Shale transitions nothing, so the
/// setting changes nothing and is not kept.
fn minimum_size(
    asked: Option<TransitionDefaultMinimumObjectSize>,
) -> S3Result<TransitionDefaultMinimumObjectSize> {
    match asked {
        None => Ok(TransitionDefaultMinimumObjectSize::from_static(
            TransitionDefaultMinimumObjectSize::ALL_STORAGE_CLASSES_128K,
        )),
        Some(m)
            if m.as_str() == TransitionDefaultMinimumObjectSize::ALL_STORAGE_CLASSES_128K
                || m.as_str() == TransitionDefaultMinimumObjectSize::VARIES_BY_STORAGE_CLASS =>
        {
            Ok(m)
        }
        Some(m) => Err(s3_error!(
            InvalidRequest,
            "Invalid TransitionDefaultMinimumObjectSize found: {}",
            m.as_str()
        )),
    }
}

/// Replaces the bucket's lifecycle configuration with the one given, once
/// every rule passes S3's checks.
pub(super) async fn put_bucket_lifecycle_configuration(
    gw: &Gateway,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let input = req.input;
    gw.require_bucket(&input.bucket).await?;
    let minimum = minimum_size(input.transition_default_minimum_object_size)?;
    let config = input.lifecycle_configuration.ok_or_else(malformed)?;
    let rules = rules_from_s3(config.rules)?;
    gw.meta
        .put_bucket_config(&input.bucket, BucketConfig::Lifecycle(rules))
        .await
        .map_err(meta_err)?;
    gw.lifecycle.forget(&input.bucket);
    Ok(S3Response::new(PutBucketLifecycleConfigurationOutput {
        transition_default_minimum_object_size: Some(minimum),
    }))
}

/// The bucket's rules, in their order; 404 NoSuchLifecycleConfiguration
/// without any.
pub(super) async fn get_bucket_lifecycle_configuration(
    gw: &Gateway,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    match gw
        .meta
        .get_bucket_config(bucket, BucketConfigKind::Lifecycle)
        .await
        .map_err(meta_err)?
    {
        Some(BucketConfig::Lifecycle(rules)) if !rules.is_empty() => {
            Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
                rules: Some(rules_to_s3(&rules)),
                transition_default_minimum_object_size: Some(
                    TransitionDefaultMinimumObjectSize::from_static(
                        TransitionDefaultMinimumObjectSize::ALL_STORAGE_CLASSES_128K,
                    ),
                ),
            }))
        }
        _ => Err(s3_error!(
            NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist"
        )),
    }
}

/// Removes the bucket's rules; 204 whether it had any or not.
pub(super) async fn delete_bucket_lifecycle(
    gw: &Gateway,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    gw.meta
        .delete_bucket_config(bucket, BucketConfigKind::Lifecycle)
        .await
        .map_err(meta_err)?;
    gw.lifecycle.forget(bucket);
    Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::{LifecycleExpiration as S3Expiration, LifecycleRule as S3Rule, Transition};
    use shale_metadata::{LifecycleExpiration, LifecycleFilter, LifecycleRule};

    const DAY: i64 = DAY_MS;
    /// 2012-12-20T13:14:15.678Z, a Thursday.
    const WRITTEN: i64 = 1_356_009_255_678;

    fn row(size: u64, tags: &[(&str, &str)], last_modified_ms: i64) -> ObjectRow {
        ObjectRow {
            size,
            etag: String::new(),
            last_modified_ms,
            content_type: None,
            system_headers: Vec::new(),
            user_metadata: Vec::new(),
            parts_count: None,
            data: ObjectData::Inline(Vec::new()),
            tags: pairs(tags),
            checksum: None,
            owner: None,
        }
    }

    fn pairs(tags: &[(&str, &str)]) -> Vec<(String, String)> {
        tags.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn by_days(id: &str, prefix: &str, days: u32) -> LifecycleRule {
        LifecycleRule {
            id: id.into(),
            enabled: true,
            filter: LifecycleFilter {
                prefix: prefix.into(),
                ..Default::default()
            },
            expiration: Some(LifecycleExpiration {
                days: Some(days),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn filters_match_prefix_tags_and_sizes() {
        let f = LifecycleFilter {
            prefix: "logs/".into(),
            tags: pairs(&[("a", "1"), ("b", "")]),
            size_greater_than: Some(10),
            size_less_than: Some(20),
        };
        let tags = pairs(&[("b", ""), ("x", "y"), ("a", "1")]);
        assert!(rule_matches(&f, "logs/x", 11, &tags));
        assert!(rule_matches(&f, "logs/", 19, &tags));
        // Sizes are exclusive.
        assert!(!rule_matches(&f, "logs/x", 10, &tags));
        assert!(!rule_matches(&f, "logs/x", 20, &tags));
        assert!(!rule_matches(&f, "log/x", 15, &tags));
        // Every tag, each with its value.
        assert!(!rule_matches(&f, "logs/x", 15, &pairs(&[("a", "1")])));
        assert!(!rule_matches(
            &f,
            "logs/x",
            15,
            &pairs(&[("a", "2"), ("b", "")])
        ));
        // The empty filter selects everything.
        assert!(rule_matches(&LifecycleFilter::default(), "", 0, &[]));
    }

    #[test]
    fn days_expire_at_the_next_midnight() {
        let rules = [by_days("one-day", "", 1)];
        let h = expiration_header(&rules, "k", &row(1, &[], WRITTEN), DAY);
        assert_eq!(
            h.as_deref(),
            Some("expiry-date=\"Sat, 22 Dec 2012 00:00:00 GMT\", rule-id=\"one-day\"")
        );
        // A version written at midnight exactly expires that many days on.
        let midnight = WRITTEN - WRITTEN.rem_euclid(DAY);
        let h = expiration_header(&rules, "k", &row(1, &[], midnight), DAY);
        assert_eq!(
            h.as_deref(),
            Some("expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\", rule-id=\"one-day\"")
        );
        // A shorter day (--lifecycle-day-secs) rounds to its own multiple.
        let h = expiration_header(&rules, "k", &row(1, &[], 25_000), 10_000);
        assert_eq!(
            h.as_deref(),
            Some("expiry-date=\"Thu, 01 Jan 1970 00:00:40 GMT\", rule-id=\"one-day\"")
        );
    }

    #[test]
    fn the_rule_expiring_first_is_named() {
        let date = LifecycleRule {
            id: "date".into(),
            enabled: true,
            expiration: Some(LifecycleExpiration {
                date_ms: Some(1_356_220_800_000), // Sun, 23 Dec 2012
                ..Default::default()
            }),
            ..Default::default()
        };
        let rules = [
            by_days("long", "", 30),
            date.clone(),
            by_days("a/", "a/", 2),
        ];
        let at = |key: &str| expiration_header(&rules, key, &row(5, &[], WRITTEN), DAY);
        assert_eq!(
            at("a/x").as_deref(),
            Some("expiry-date=\"Sun, 23 Dec 2012 00:00:00 GMT\", rule-id=\"date\"")
        );
        let rules = [by_days("long", "", 30), by_days("a/", "a/", 1), date];
        let h = expiration_header(&rules, "a/x", &row(5, &[], WRITTEN), DAY);
        assert_eq!(
            h.as_deref(),
            Some("expiry-date=\"Sat, 22 Dec 2012 00:00:00 GMT\", rule-id=\"a/\"")
        );
        let h = expiration_header(&rules, "b", &row(5, &[], WRITTEN), DAY);
        assert!(h.is_some_and(|h| h.ends_with("rule-id=\"date\"")));
        // Of equals, the first listed.
        let rules = [by_days("first", "", 3), by_days("second", "", 3)];
        let h = expiration_header(&rules, "k", &row(5, &[], WRITTEN), DAY);
        assert!(h.is_some_and(|h| h.ends_with("rule-id=\"first\"")));
    }

    #[test]
    fn rules_that_expire_nothing_give_no_header() {
        let mut disabled = by_days("off", "", 1);
        disabled.enabled = false;
        let marker = LifecycleRule {
            id: "marker".into(),
            enabled: true,
            expiration: Some(LifecycleExpiration {
                expired_object_delete_marker: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let noncurrent = LifecycleRule {
            id: "nc".into(),
            enabled: true,
            noncurrent: Some(shale_metadata::NoncurrentExpiration {
                noncurrent_days: 1,
                newer_noncurrent_versions: None,
            }),
            abort_uploads_after_days: Some(1),
            ..Default::default()
        };
        let tagged = LifecycleRule {
            filter: LifecycleFilter {
                tags: pairs(&[("t", "1")]),
                ..Default::default()
            },
            ..by_days("tagged", "", 1)
        };
        let rules = [disabled, marker, noncurrent, by_days("p", "p/", 1), tagged];
        assert_eq!(
            expiration_header(&rules, "k", &row(1, &[], WRITTEN), DAY),
            None
        );
        let h = expiration_header(&rules, "k", &row(1, &[("t", "1")], WRITTEN), DAY);
        assert!(h.is_some_and(|h| h.ends_with("rule-id=\"tagged\"")));
        assert_eq!(
            expiration_header(&[], "k", &row(1, &[], WRITTEN), DAY),
            None
        );
    }

    fn s3_rule(prefix: &str) -> S3Rule {
        S3Rule {
            id: None,
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            filter: Some(LifecycleRuleFilter {
                prefix: Some(prefix.into()),
                ..Default::default()
            }),
            prefix: None,
            expiration: Some(S3Expiration {
                days: Some(1),
                ..Default::default()
            }),
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            abort_incomplete_multipart_upload: None,
            transitions: None,
        }
    }

    fn code(rules: Vec<S3Rule>) -> String {
        rules_from_s3(rules)
            .err()
            .map(|e| e.code().as_str().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn ids_are_made_up_unique() {
        let mut named = s3_rule("b");
        named.id = Some("mine".into());
        let rows = rules_from_s3(vec![s3_rule("a"), named, s3_rule("c")]).unwrap();
        assert_eq!(rows[1].id, "mine");
        assert_eq!(rows[0].id.len(), 48);
        assert_ne!(rows[0].id, rows[2].id);
        let mut twice = s3_rule("x");
        twice.id = Some("mine".into());
        let mut again = s3_rule("y");
        again.id = Some("mine".into());
        assert_eq!(code(vec![twice, again]), "InvalidArgument");
        let mut long = s3_rule("x");
        long.id = Some("é".repeat(255));
        assert!(rules_from_s3(vec![long.clone()]).is_ok());
        long.id = Some("a".repeat(256));
        assert_eq!(code(vec![long]), "InvalidArgument");
    }

    #[test]
    fn filters_have_one_predicate_or_an_and_of_two() {
        let with = |filter: LifecycleRuleFilter| {
            let mut r = s3_rule("");
            r.filter = Some(filter);
            code(vec![r])
        };
        let tag = |k: &str, v: &str| Tag {
            key: Some(k.into()),
            value: Some(v.into()),
        };
        assert_eq!(with(LifecycleRuleFilter::default()), "");
        assert_eq!(
            with(LifecycleRuleFilter {
                prefix: Some("a".into()),
                tag: Some(tag("k", "v")),
                ..Default::default()
            }),
            "MalformedXML"
        );
        let and = |and: LifecycleRuleAndOperator| {
            with(LifecycleRuleFilter {
                and: Some(and),
                ..Default::default()
            })
        };
        assert_eq!(
            and(LifecycleRuleAndOperator {
                prefix: Some("a".into()),
                ..Default::default()
            }),
            "MalformedXML"
        );
        assert_eq!(
            and(LifecycleRuleAndOperator {
                tags: Some(vec![tag("a", "1"), tag("b", "2")]),
                ..Default::default()
            }),
            ""
        );
        assert_eq!(
            and(LifecycleRuleAndOperator {
                tags: Some(vec![tag("a", "1"), tag("a", "2")]),
                ..Default::default()
            }),
            "InvalidRequest"
        );
        assert_eq!(
            and(LifecycleRuleAndOperator {
                object_size_greater_than: Some(10),
                object_size_less_than: Some(10),
                ..Default::default()
            }),
            "InvalidRequest"
        );
        assert_eq!(
            with(LifecycleRuleFilter {
                object_size_less_than: Some(0),
                ..Default::default()
            }),
            "InvalidRequest"
        );
        assert_eq!(
            with(LifecycleRuleFilter {
                tag: Some(tag("a,b", "1")),
                ..Default::default()
            }),
            "InvalidTag"
        );
    }

    #[test]
    fn actions_are_checked() {
        let with = |f: &dyn Fn(&mut S3Rule)| {
            let mut r = s3_rule("");
            f(&mut r);
            code(vec![r])
        };
        assert_eq!(with(&|r| r.expiration = None), "InvalidRequest");
        assert_eq!(
            with(&|r| r.expiration = Some(S3Expiration::default())),
            "MalformedXML"
        );
        assert_eq!(
            with(&|r| r.expiration.as_mut().unwrap().days = Some(0)),
            "InvalidArgument"
        );
        assert_eq!(
            with(&|r| r.expiration.as_mut().unwrap().expired_object_delete_marker = Some(true)),
            "MalformedXML"
        );
        let noon = Timestamp::from(time::macros::datetime!(2030-01-01 12:00 UTC));
        let midnight = Timestamp::from(time::macros::datetime!(2030-01-01 0:00 UTC));
        let date = |t: Timestamp| {
            with(&|r| {
                r.expiration = Some(S3Expiration {
                    date: Some(t.clone()),
                    ..Default::default()
                })
            })
        };
        assert_eq!(date(noon), "InvalidArgument");
        assert_eq!(date(midnight), "");
        assert_eq!(
            with(&|r| r.transitions = Some(vec![Transition {
                days: Some(30),
                storage_class: Some(s3s::dto::TransitionStorageClass::from_static(
                    s3s::dto::TransitionStorageClass::GLACIER
                )),
                date: None,
            }])),
            "InvalidStorageClass"
        );
        assert_eq!(
            with(&|r| {
                r.filter.as_mut().unwrap().prefix = None;
                r.filter.as_mut().unwrap().object_size_greater_than = Some(5);
                r.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload {
                    days_after_initiation: Some(1),
                });
            }),
            "InvalidRequest"
        );
        assert_eq!(
            with(&|r| r.status = ExpirationStatus::from_static("enabled")),
            "MalformedXML"
        );
        assert_eq!(with(&|r| r.prefix = Some("a".into())), "MalformedXML");
    }

    #[test]
    fn v1_and_v2_do_not_mix() {
        let mut v1 = s3_rule("");
        v1.filter = None;
        v1.prefix = Some("old/".into());
        assert_eq!(code(vec![v1.clone(), v1.clone()]), "");
        assert_eq!(code(vec![v1.clone(), s3_rule("x")]), "InvalidRequest");
        assert_eq!(code(vec![s3_rule("x"), v1.clone()]), "InvalidRequest");
        let rows = rules_from_s3(vec![v1]).unwrap();
        assert_eq!(rows[0].filter.prefix, "old/");
    }

    #[test]
    fn stored_rules_read_back_in_filter_form() {
        let rule = |filter: LifecycleFilter| LifecycleRule {
            filter,
            ..by_days("r", "", 1)
        };
        let back = |filter| {
            rules_to_s3(&[rule(filter)])
                .remove(0)
                .filter
                .unwrap_or_default()
        };
        assert_eq!(back(LifecycleFilter::default()).prefix.as_deref(), Some(""));
        let one = back(LifecycleFilter {
            size_less_than: Some(9),
            ..Default::default()
        });
        assert_eq!(
            (one.object_size_less_than, one.prefix, one.and),
            (Some(9), None, None)
        );
        let two = back(LifecycleFilter {
            prefix: "p".into(),
            tags: pairs(&[("k", "v")]),
            ..Default::default()
        });
        let and = two.and.unwrap_or_default();
        assert_eq!(and.prefix.as_deref(), Some("p"));
        assert_eq!(and.tags.map(|t| t.len()), Some(1));
        // Round trip of what was accepted.
        let rows = rules_from_s3(vec![s3_rule("x/")]).unwrap();
        let again = rules_from_s3(rules_to_s3(&rows)).unwrap();
        assert_eq!(rows, again);
    }
}
