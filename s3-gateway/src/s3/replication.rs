//! Bucket replication's configuration: Put/Get/DeleteBucketReplication,
//! checked as Amazon S3 checks a configuration, stored as a
//! [`shale_metadata::ReplicationConfig`]. What is replicated, and when, is
//! the replication worker's business; it reads the same rows.
//!
//! S3's checks, and the answer each broken one gets (the API reference's
//! `PutBucketReplication`, `ReplicationRule`, `Destination`; the user
//! guide's "Backward compatibility considerations"; S3's answers as
//! clients recorded them where the reference names no message):
//! - the source bucket's versioning Enabled (`InvalidRequest`, checked
//!   again in the metadata state machine under the lock that versioning
//!   changes take, so a suspension cannot slip in between);
//! - 1 to 1,000 rules (`MalformedXML` without any, `InvalidRequest` past
//!   1,000); a rule ID of at most 255 characters, unique
//!   (`InvalidArgument`), made up when none is given; `Status` `Enabled` or
//!   `Disabled` (`MalformedXML`);
//! - the form: every rule with a rule-level `Prefix` (V1) or every rule
//!   with a `Filter` (V2); both or neither in a rule, or a mix of forms,
//!   `MalformedXML`. V2 needs `Priority` (≥ 0, unique among the rules of a
//!   destination) and `DeleteMarkerReplication`; V1 has neither, its
//!   prefixes do not overlap and its rules name one destination
//!   (`InvalidRequest`, S3's words);
//! - a `Filter` of at most one predicate, or an `And` of at least two
//!   (`MalformedXML`); tag keys unique (`InvalidRequest`), tags that pass
//!   the object tag rules; no `DeleteMarkerReplication` Enabled with a tag
//!   condition (`InvalidRequest`);
//! - `Destination/Bucket` an ARN `arn:aws:s3:::NAME` (`InvalidArgument`),
//!   not the source bucket, a bucket that exists and keeps versions
//!   (`InvalidRequest`, [`destination_check`]); `ReplicationTime` only with
//!   `Metrics` (`InvalidRequest`); a `StorageClass` S3 knows (`MalformedXML`).
//!
//! What Shale has no notion of is refused as not implemented rather than
//! kept and ignored: `AccessControlTranslation` (replica owner override),
//! `EncryptionConfiguration` and `SseKmsEncryptedObjects` Enabled (SSE-KMS).

use std::collections::{HashMap, HashSet};

use super::*;
use s3s::dto::{
    DeleteMarkerReplicationStatus, ExistingObjectReplicationStatus, ReplicaModificationsStatus,
    ReplicationRuleAndOperator, ReplicationRuleFilter, ReplicationRuleStatus,
    ReplicationTimeStatus, ReplicationTimeValue,
};
use shale_metadata::{GivenElements, ReplicationConfig, ReplicationDestination, ReplicationFilter};

/// Most rules in one configuration.
const MAX_RULES: usize = 1000;
/// Longest rule ID, in characters.
const MAX_ID_CHARS: usize = 255;
/// What a destination bucket's ARN starts with.
const BUCKET_ARN: &str = "arn:aws:s3:::";
/// The storage classes a `Destination` may name (the API reference's
/// `Destination`/`StorageClass` valid values). Shale keeps every object in
/// STANDARD; the class is kept for the replicas' `x-amz-storage-class`.
const STORAGE_CLASSES: [&str; 12] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
    "FSX_OPENZFS",
];

fn malformed() -> S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

fn not_found() -> S3Error {
    s3_error!(
        ReplicationConfigurationNotFoundError,
        "The replication configuration was not found"
    )
}

/// An element the V2 form requires, missing; or one the V1 form lacks,
/// given (S3's words for both).
fn schema_error(element: &str, required: bool) -> S3Error {
    let what = if required {
        "must be specified"
    } else {
        "cannot be used"
    };
    s3_error!(
        InvalidRequest,
        "{element} {what} for this version of Cross Region Replication configuration schema. Please refer to S3 Developer Guide for more information."
    )
}

/// `Enabled` (true) or `Disabled`; anything else is not S3's schema.
fn status(s: &str) -> S3Result<bool> {
    match s {
        "Enabled" => Ok(true),
        "Disabled" => Ok(false),
        _ => Err(malformed()),
    }
}

fn status_str(on: bool) -> &'static str {
    if on { "Enabled" } else { "Disabled" }
}

/// A rule ID as S3 makes one for a rule given none (as lifecycle does).
fn new_rule_id() -> String {
    base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().to_string())
}

/// Whether `bucket` may be a destination: it exists and keeps every version
/// (S3's `InvalidRequest`s). The one place that looks a destination up:
/// today the local metadata (a destination in the same region); buckets of
/// other regions are asked there.
async fn destination_check(gw: &Gateway, bucket: &str) -> S3Result<()> {
    if gw
        .meta
        .get_bucket(bucket)
        .await
        .map_err(meta_err)?
        .is_none()
    {
        // A bucket of another linked region: asked there.
        return match gw.regions.locate(bucket).await.map_err(meta_err)? {
            Some(region) if region != gw.region => {
                let versioning = gw
                    .regions
                    .remote_versioning(&region, bucket)
                    .await
                    .map_err(meta_err)?;
                match versioning.as_deref() {
                    Some("Enabled") => Ok(()),
                    _ => Err(s3_error!(
                        InvalidRequest,
                        "Destination bucket must have versioning enabled."
                    )),
                }
            }
            _ => Err(s3_error!(InvalidRequest, "Destination bucket must exist.")),
        };
    }
    match gw
        .meta
        .get_bucket_config(bucket, BucketConfigKind::Versioning)
        .await
    {
        Ok(Some(BucketConfig::Versioning(VersioningStatus::Enabled))) => Ok(()),
        Ok(_) => Err(s3_error!(
            InvalidRequest,
            "Destination bucket must have versioning enabled."
        )),
        // Deleted since it was found.
        Err(MetaError::NoSuchBucket) => {
            Err(s3_error!(InvalidRequest, "Destination bucket must exist."))
        }
        Err(e) => Err(meta_err(e)),
    }
}

/// The source bucket's versioning must be Enabled (checked again where the
/// configuration is stored).
async fn source_check(gw: &Gateway, bucket: &str) -> S3Result<()> {
    match gw
        .meta
        .get_bucket_config(bucket, BucketConfigKind::Versioning)
        .await
        .map_err(meta_err)?
    {
        Some(BucketConfig::Versioning(VersioningStatus::Enabled)) => Ok(()),
        _ => Err(s3_error!(
            InvalidRequest,
            "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
        )),
    }
}

/// The bucket name of a destination ARN `arn:aws:s3:::NAME`.
fn bucket_of_arn(arn: &str) -> S3Result<String> {
    match arn.strip_prefix(BUCKET_ARN) {
        Some(name) if !name.is_empty() && !name.contains([':', '/']) => Ok(name.to_owned()),
        _ => Err(s3_error!(InvalidArgument, "Invalid bucket ARN.")),
    }
}

/// Checks a configuration as S3 does, apart from what it names in other
/// buckets, and turns it into the stored form (IDs made up).
fn config_from_s3(
    source: &str,
    config: s3s::dto::ReplicationConfiguration,
) -> S3Result<ReplicationConfig> {
    let rules = config.rules;
    if rules.is_empty() {
        return Err(malformed());
    }
    if rules.len() > MAX_RULES {
        return Err(s3_error!(
            InvalidRequest,
            "The number of replication rules must not exceed the allowed limit of 1000 rules."
        ));
    }
    // The form of the first rule is the form of the configuration; a rule
    // of the other form fits neither schema.
    let v2 = rules[0].filter.is_some();
    let mut ids: HashSet<String> = HashSet::new();
    for id in rules.iter().filter_map(|r| r.id.as_deref()) {
        if id.chars().count() > MAX_ID_CHARS {
            return Err(s3_error!(
                InvalidArgument,
                "ID length should not exceed allowed limit of 255"
            ));
        }
        if !id.is_empty() && !ids.insert(id.to_owned()) {
            return Err(s3_error!(
                InvalidArgument,
                "Rule Id must be unique. Found same ID for more than one rule"
            ));
        }
    }
    let mut out = Vec::with_capacity(rules.len());
    for rule in &rules {
        let mut row = rule_from_s3(rule, v2)?;
        if row.destination.bucket == source {
            return Err(s3_error!(
                InvalidRequest,
                "Destination bucket cannot be the same as the source bucket."
            ));
        }
        row.id = match rule.id.as_deref() {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => loop {
                let id = new_rule_id();
                if ids.insert(id.clone()) {
                    break id;
                }
            },
        };
        out.push(row);
    }
    if v2 {
        // Priorities decide between the rules of one destination.
        let mut seen: HashMap<(&str, i32), ()> = HashMap::new();
        for r in &out {
            let p = r.priority.unwrap_or_default();
            if seen
                .insert((r.destination.bucket.as_str(), p), ())
                .is_some()
            {
                return Err(s3_error!(InvalidRequest, "Found duplicate priority {p}."));
            }
        }
    } else {
        if out
            .iter()
            .any(|r| r.destination.bucket != out[0].destination.bucket)
        {
            return Err(s3_error!(
                InvalidRequest,
                "Number of distinct destination bucket ARNs cannot exceed 1"
            ));
        }
        // Without priorities, one object is one rule's.
        for (i, a) in out.iter().enumerate() {
            for b in &out[i + 1..] {
                let (pa, pb) = (&a.filter.prefix, &b.filter.prefix);
                if pa.starts_with(pb.as_str()) || pb.starts_with(pa.as_str()) {
                    return Err(s3_error!(
                        InvalidRequest,
                        "Found overlapping prefixes '{pa}' and '{pb}'"
                    ));
                }
            }
        }
    }
    Ok(ReplicationConfig {
        role: config.role,
        rules: out,
    })
}

/// One rule checked, without its ID.
fn rule_from_s3(
    rule: &s3s::dto::ReplicationRule,
    v2: bool,
) -> S3Result<shale_metadata::ReplicationRule> {
    let enabled = status(rule.status.as_str())?;
    let mut given = GivenElements::default();
    let filter = match (&rule.prefix, &rule.filter) {
        (Some(prefix), None) if !v2 => ReplicationFilter {
            prefix: prefix.clone(),
            tags: Vec::new(),
        },
        (None, Some(filter)) if v2 => filter_from_s3(filter, &mut given)?,
        _ => return Err(malformed()),
    };
    if v2 {
        if rule.priority.is_none() {
            return Err(schema_error("Priority", true));
        }
        if rule.delete_marker_replication.is_none() {
            return Err(schema_error("DeleteMarkerReplication", true));
        }
    } else {
        if rule.priority.is_some() {
            return Err(schema_error("Priority", false));
        }
        if rule.delete_marker_replication.is_some() {
            return Err(schema_error("DeleteMarkerReplication", false));
        }
    }
    if rule.priority.is_some_and(|p| p < 0) {
        return Err(s3_error!(
            InvalidRequest,
            "Priority must be between 0 and 2147483647."
        ));
    }
    let delete_marker_replication = match &rule.delete_marker_replication {
        None => false,
        Some(d) => {
            given.delete_marker_replication = true;
            let on = status(d.status.as_ref().ok_or_else(malformed)?.as_str())?;
            if on && !filter.tags.is_empty() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Delete marker replication is not supported if any Tag filter is specified. Please refer to S3 Developer Guide for more information."
                ));
            }
            on
        }
    };
    let existing_objects = match &rule.existing_object_replication {
        None => false,
        Some(e) => {
            given.existing_object_replication = true;
            status(e.status.as_str())?
        }
    };
    let mut replica_modifications = false;
    if let Some(criteria) = &rule.source_selection_criteria {
        if let Some(sse) = &criteria.sse_kms_encrypted_objects
            && status(sse.status.as_str())?
        {
            return Err(s3_error!(
                NotImplemented,
                "SSE-KMS is not supported: SseKmsEncryptedObjects cannot be Enabled."
            ));
        }
        if let Some(m) = &criteria.replica_modifications {
            given.replica_modifications = true;
            replica_modifications = status(m.status.as_str())?;
        }
    }
    Ok(shale_metadata::ReplicationRule {
        id: String::new(),
        priority: rule.priority,
        enabled,
        filter,
        v1_prefix_form: !v2,
        delete_marker_replication,
        existing_objects,
        replica_modifications,
        destination: destination_from_s3(&rule.destination)?,
        given,
    })
}

/// A `Filter`: empty (every object), one predicate, or an `And` of two or
/// more.
fn filter_from_s3(
    filter: &ReplicationRuleFilter,
    given: &mut GivenElements,
) -> S3Result<ReplicationFilter> {
    let predicates = usize::from(filter.and.is_some())
        + usize::from(filter.prefix.is_some())
        + usize::from(filter.tag.is_some());
    if predicates > 1 {
        return Err(malformed());
    }
    let (prefix, tags) = match &filter.and {
        Some(and) => {
            let tags = and.tags.as_deref().unwrap_or_default();
            if usize::from(and.prefix.is_some()) + tags.len() < 2 {
                return Err(malformed());
            }
            given.filter_and = true;
            (and.prefix.clone(), tags)
        }
        None => (filter.prefix.clone(), filter.tag.as_slice()),
    };
    given.filter_prefix = prefix.is_some();
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
    Ok(ReplicationFilter {
        prefix: prefix.unwrap_or_default(),
        tags: out,
    })
}

/// A `Destination`, its bucket still to be looked up.
fn destination_from_s3(d: &s3s::dto::Destination) -> S3Result<ReplicationDestination> {
    let bucket = bucket_of_arn(&d.bucket)?;
    if d.access_control_translation.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "AccessControlTranslation is not supported: replicas keep the source object's owner."
        ));
    }
    if d.encryption_configuration.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "EncryptionConfiguration is not supported: Shale has no SSE-KMS."
        ));
    }
    let storage_class = match &d.storage_class {
        None => None,
        Some(c) if STORAGE_CLASSES.contains(&c.as_str()) => Some(c.as_str().to_owned()),
        Some(_) => return Err(malformed()),
    };
    let (replication_time, replication_time_minutes) = match &d.replication_time {
        None => (false, None),
        Some(t) => (status(t.status.as_str())?, t.time.minutes),
    };
    let (metrics, metrics_minutes) = match &d.metrics {
        None => (false, None),
        Some(m) => (
            status(m.status.as_str())?,
            m.event_threshold.as_ref().and_then(|t| t.minutes),
        ),
    };
    if d.replication_time.is_some() && d.metrics.is_none() {
        return Err(s3_error!(
            InvalidRequest,
            "Replication destination must contain both ReplicationTime and Metrics or neither."
        ));
    }
    Ok(ReplicationDestination {
        bucket,
        storage_class,
        replication_time,
        replication_time_minutes,
        metrics,
        metrics_minutes,
        account: d.account.clone(),
        replication_time_given: d.replication_time.is_some(),
        metrics_given: d.metrics.is_some(),
    })
}

/// A stored filter in the `Filter` form it was given in.
fn filter_to_s3(f: &ReplicationFilter, given: GivenElements) -> ReplicationRuleFilter {
    let prefix = given.filter_prefix.then(|| f.prefix.clone());
    if given.filter_and || f.tags.len() > 1 {
        return ReplicationRuleFilter {
            and: Some(ReplicationRuleAndOperator {
                prefix,
                tags: Some(tagging::to_tag_set(&f.tags)),
            }),
            ..Default::default()
        };
    }
    ReplicationRuleFilter {
        and: None,
        prefix,
        tag: tagging::to_tag_set(&f.tags).into_iter().next(),
    }
}

/// The stored configuration as GetBucketReplication answers it: each rule
/// in its form, with the elements it was given.
fn config_to_s3(c: &ReplicationConfig) -> s3s::dto::ReplicationConfiguration {
    let rules = c
        .rules
        .iter()
        .map(|r| {
            let d = &r.destination;
            s3s::dto::ReplicationRule {
                id: Some(r.id.clone()),
                priority: r.priority,
                status: ReplicationRuleStatus::from_static(status_str(r.enabled)),
                prefix: r.v1_prefix_form.then(|| r.filter.prefix.clone()),
                filter: (!r.v1_prefix_form).then(|| filter_to_s3(&r.filter, r.given)),
                delete_marker_replication: r.given.delete_marker_replication.then(|| {
                    s3s::dto::DeleteMarkerReplication {
                        status: Some(DeleteMarkerReplicationStatus::from_static(status_str(
                            r.delete_marker_replication,
                        ))),
                    }
                }),
                existing_object_replication: r.given.existing_object_replication.then(|| {
                    s3s::dto::ExistingObjectReplication {
                        status: ExistingObjectReplicationStatus::from_static(status_str(
                            r.existing_objects,
                        )),
                    }
                }),
                source_selection_criteria: r.given.replica_modifications.then(|| {
                    s3s::dto::SourceSelectionCriteria {
                        replica_modifications: Some(s3s::dto::ReplicaModifications {
                            status: ReplicaModificationsStatus::from_static(status_str(
                                r.replica_modifications,
                            )),
                        }),
                        sse_kms_encrypted_objects: None,
                    }
                }),
                destination: s3s::dto::Destination {
                    access_control_translation: None,
                    account: d.account.clone(),
                    bucket: format!("{BUCKET_ARN}{}", d.bucket),
                    encryption_configuration: None,
                    metrics: d.metrics_given.then(|| s3s::dto::Metrics {
                        event_threshold: d
                            .metrics_minutes
                            .map(|m| ReplicationTimeValue { minutes: Some(m) }),
                        status: s3s::dto::MetricsStatus::from_static(status_str(d.metrics)),
                    }),
                    replication_time: d.replication_time_given.then(|| s3s::dto::ReplicationTime {
                        status: ReplicationTimeStatus::from_static(status_str(d.replication_time)),
                        time: ReplicationTimeValue {
                            minutes: d.replication_time_minutes,
                        },
                    }),
                    storage_class: d.storage_class.clone().map(StorageClass::from),
                },
            }
        })
        .collect();
    s3s::dto::ReplicationConfiguration {
        role: c.role.clone(),
        rules,
    }
}

/// Replaces the bucket's replication configuration with the one given,
/// once it passes S3's checks and its destinations exist with versioning.
pub(super) async fn put_bucket_replication(
    gw: &Gateway,
    req: S3Request<PutBucketReplicationInput>,
) -> S3Result<S3Response<PutBucketReplicationOutput>> {
    let input = req.input;
    let bucket = &input.bucket;
    gw.require_bucket(bucket).await?;
    source_check(gw, bucket).await?;
    let config = config_from_s3(bucket, input.replication_configuration)?;
    let mut checked = HashSet::new();
    for rule in &config.rules {
        if checked.insert(rule.destination.bucket.as_str()) {
            destination_check(gw, &rule.destination.bucket).await?;
        }
    }
    gw.meta
        .put_bucket_config(bucket, BucketConfig::Replication(config))
        .await
        .map_err(meta_err)?;
    Ok(S3Response::new(PutBucketReplicationOutput {}))
}

/// The bucket's configuration as it was put; 404
/// ReplicationConfigurationNotFoundError without one.
pub(super) async fn get_bucket_replication(
    gw: &Gateway,
    req: S3Request<GetBucketReplicationInput>,
) -> S3Result<S3Response<GetBucketReplicationOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    match gw
        .meta
        .get_bucket_config(bucket, BucketConfigKind::Replication)
        .await
        .map_err(meta_err)?
    {
        Some(BucketConfig::Replication(c)) => Ok(S3Response::new(GetBucketReplicationOutput {
            replication_configuration: Some(config_to_s3(&c)),
        })),
        _ => Err(not_found()),
    }
}

/// Removes the bucket's configuration; 204 whether it had one or not.
pub(super) async fn delete_bucket_replication(
    gw: &Gateway,
    req: S3Request<DeleteBucketReplicationInput>,
) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    gw.meta
        .delete_bucket_config(bucket, BucketConfigKind::Replication)
        .await
        .map_err(meta_err)?;
    Ok(S3Response::new(DeleteBucketReplicationOutput {}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::{
        DeleteMarkerReplication, Destination, ReplicationRule as S3Rule,
        SseKmsEncryptedObjectsStatus, Tag,
    };

    fn dest(bucket: &str) -> Destination {
        Destination {
            access_control_translation: None,
            account: None,
            bucket: format!("arn:aws:s3:::{bucket}"),
            encryption_configuration: None,
            metrics: None,
            replication_time: None,
            storage_class: None,
        }
    }

    fn v2(priority: i32, prefix: &str) -> S3Rule {
        S3Rule {
            delete_marker_replication: Some(DeleteMarkerReplication {
                status: Some(DeleteMarkerReplicationStatus::from_static(
                    DeleteMarkerReplicationStatus::DISABLED,
                )),
            }),
            destination: dest("dst"),
            existing_object_replication: None,
            filter: Some(ReplicationRuleFilter {
                prefix: Some(prefix.into()),
                ..Default::default()
            }),
            id: None,
            prefix: None,
            priority: Some(priority),
            source_selection_criteria: None,
            status: ReplicationRuleStatus::from_static(ReplicationRuleStatus::ENABLED),
        }
    }

    fn v1(prefix: &str) -> S3Rule {
        S3Rule {
            delete_marker_replication: None,
            filter: None,
            prefix: Some(prefix.into()),
            priority: None,
            ..v2(0, "")
        }
    }

    fn conf(rules: Vec<S3Rule>) -> s3s::dto::ReplicationConfiguration {
        s3s::dto::ReplicationConfiguration {
            role: String::new(),
            rules,
        }
    }

    /// The error code and message of a configuration, "" if accepted.
    fn answer(rules: Vec<S3Rule>) -> (String, String) {
        match config_from_s3("src", conf(rules)) {
            Ok(_) => (String::new(), String::new()),
            Err(e) => (
                e.code().as_str().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            ),
        }
    }

    fn code(rules: Vec<S3Rule>) -> String {
        answer(rules).0
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: Some(k.into()),
            value: Some(v.into()),
        }
    }

    #[test]
    fn ids_are_made_up_unique_and_bounded() {
        let mut named = v2(2, "b");
        named.id = Some("mine".into());
        let c = config_from_s3("src", conf(vec![v2(1, "a"), named, v2(3, "c")])).unwrap();
        assert_eq!(c.rules[1].id, "mine");
        assert_eq!(c.rules[0].id.len(), 48);
        assert_ne!(c.rules[0].id, c.rules[2].id);
        let mut a = v2(1, "a");
        a.id = Some("x".into());
        let mut b = v2(2, "b");
        b.id = Some("x".into());
        assert_eq!(code(vec![a.clone(), b]), "InvalidArgument");
        a.id = Some("é".repeat(255));
        assert_eq!(code(vec![a.clone()]), "");
        a.id = Some("a".repeat(256));
        assert_eq!(code(vec![a]), "InvalidArgument");
        assert_eq!(code(vec![]), "MalformedXML");
        let many: Vec<_> = (0..1001).map(|i| v2(i, "")).collect();
        assert_eq!(code(many), "InvalidRequest");
    }

    #[test]
    fn v2_needs_priority_and_delete_marker_replication() {
        let mut r = v2(1, "");
        r.priority = None;
        let (c, m) = answer(vec![r]);
        assert_eq!(c, "InvalidRequest");
        assert!(m.starts_with("Priority must be specified"), "{m}");
        let mut r = v2(1, "");
        r.delete_marker_replication = None;
        let (c, m) = answer(vec![r]);
        assert_eq!(c, "InvalidRequest");
        assert!(m.starts_with("DeleteMarkerReplication must be specified"));
        let (c, m) = answer(vec![v2(4, "a"), v2(4, "b")]);
        assert_eq!(
            (c.as_str(), m.as_str()),
            ("InvalidRequest", "Found duplicate priority 4.")
        );
        // Priorities are per destination.
        let mut other = v2(4, "b");
        other.destination = dest("dst2");
        assert_eq!(code(vec![v2(4, "a"), other]), "");
        assert_eq!(code(vec![v2(-1, "a")]), "InvalidRequest");
        let mut off = v2(1, "");
        off.delete_marker_replication = Some(DeleteMarkerReplication { status: None });
        assert_eq!(code(vec![off]), "MalformedXML");
    }

    #[test]
    fn v1_has_neither_and_one_destination() {
        let c = config_from_s3("src", conf(vec![v1("a/"), v1("b/")])).unwrap();
        assert!(c.is_v1() && c.rules[1].filter.prefix == "b/");
        let mut r = v1("");
        r.priority = Some(1);
        let (c, m) = answer(vec![r]);
        assert_eq!(c, "InvalidRequest");
        assert!(m.starts_with("Priority cannot be used"));
        let mut r = v1("");
        r.delete_marker_replication = v2(0, "").delete_marker_replication;
        assert_eq!(code(vec![r]), "InvalidRequest");
        let mut other = v1("b/");
        other.destination = dest("dst2");
        assert_eq!(code(vec![v1("a/"), other]), "InvalidRequest");
        let (c, m) = answer(vec![v1("a/"), v1("a/b")]);
        assert_eq!(c, "InvalidRequest");
        assert_eq!(m, "Found overlapping prefixes 'a/' and 'a/b'");
    }

    #[test]
    fn forms_do_not_mix() {
        assert_eq!(code(vec![v1("a"), v2(1, "b")]), "MalformedXML");
        assert_eq!(code(vec![v2(1, "b"), v1("a")]), "MalformedXML");
        let mut both = v2(1, "");
        both.prefix = Some("x".into());
        assert_eq!(code(vec![both]), "MalformedXML");
        let mut neither = v1("");
        neither.prefix = None;
        assert_eq!(code(vec![neither]), "MalformedXML");
    }

    #[test]
    fn filters_have_one_predicate_or_an_and_of_two() {
        let with = |filter: ReplicationRuleFilter| {
            let mut r = v2(1, "");
            r.filter = Some(filter);
            code(vec![r])
        };
        assert_eq!(with(ReplicationRuleFilter::default()), "");
        assert_eq!(
            with(ReplicationRuleFilter {
                prefix: Some("a".into()),
                tag: Some(tag("k", "v")),
                ..Default::default()
            }),
            "MalformedXML"
        );
        let and = |and: ReplicationRuleAndOperator| {
            with(ReplicationRuleFilter {
                and: Some(and),
                ..Default::default()
            })
        };
        assert_eq!(
            and(ReplicationRuleAndOperator {
                prefix: Some("a".into()),
                tags: None,
            }),
            "MalformedXML"
        );
        assert_eq!(
            and(ReplicationRuleAndOperator {
                prefix: None,
                tags: Some(vec![tag("a", "1"), tag("b", "2")]),
            }),
            ""
        );
        assert_eq!(
            and(ReplicationRuleAndOperator {
                prefix: None,
                tags: Some(vec![tag("a", "1"), tag("a", "2")]),
            }),
            "InvalidRequest"
        );
        assert_eq!(
            with(ReplicationRuleFilter {
                tag: Some(tag("a,b", "1")),
                ..Default::default()
            }),
            "InvalidTag"
        );
    }

    #[test]
    fn delete_markers_are_not_replicated_by_tag() {
        let mut r = v2(1, "");
        r.filter = Some(ReplicationRuleFilter {
            tag: Some(tag("k", "v")),
            ..Default::default()
        });
        assert_eq!(code(vec![r.clone()]), "");
        r.delete_marker_replication = Some(DeleteMarkerReplication {
            status: Some(DeleteMarkerReplicationStatus::from_static(
                DeleteMarkerReplicationStatus::ENABLED,
            )),
        });
        let (c, m) = answer(vec![r]);
        assert_eq!(c, "InvalidRequest");
        assert!(m.starts_with("Delete marker replication is not supported if any Tag filter"));
    }

    #[test]
    fn destinations_are_arns_of_other_buckets() {
        let with = |f: &dyn Fn(&mut Destination)| {
            let mut r = v2(1, "");
            f(&mut r.destination);
            answer(vec![r])
        };
        for bad in [
            "dst",
            "arn:aws:s3:::",
            "arn:aws:iam:::dst",
            "arn:aws:s3:::a/b",
        ] {
            let (c, m) = with(&|d| d.bucket = bad.into());
            assert_eq!(
                (c.as_str(), m.as_str()),
                ("InvalidArgument", "Invalid bucket ARN."),
                "{bad}"
            );
        }
        assert_eq!(
            with(&|d| d.bucket = "arn:aws:s3:::src".into()).0,
            "InvalidRequest"
        );
        assert_eq!(
            with(&|d| d.storage_class = Some(StorageClass::from_static("STANDARD_IA"))).0,
            ""
        );
        assert_eq!(
            with(&|d| d.storage_class = Some(StorageClass::from("SHINY".to_owned()))).0,
            "MalformedXML"
        );
        let rtc = s3s::dto::ReplicationTime {
            status: ReplicationTimeStatus::from_static(ReplicationTimeStatus::ENABLED),
            time: ReplicationTimeValue { minutes: Some(15) },
        };
        assert_eq!(
            with(&|d| d.replication_time = Some(rtc.clone())).0,
            "InvalidRequest"
        );
        assert_eq!(
            with(&|d| {
                d.replication_time = Some(rtc.clone());
                d.metrics = Some(s3s::dto::Metrics {
                    event_threshold: Some(ReplicationTimeValue { minutes: Some(15) }),
                    status: s3s::dto::MetricsStatus::from_static(s3s::dto::MetricsStatus::ENABLED),
                });
            })
            .0,
            ""
        );
    }

    #[test]
    fn what_was_put_reads_back() {
        let mut tagged = v2(2, "");
        tagged.filter = Some(ReplicationRuleFilter {
            and: Some(ReplicationRuleAndOperator {
                prefix: Some("p/".into()),
                tags: Some(vec![tag("k", "v")]),
            }),
            ..Default::default()
        });
        tagged.id = Some("and".into());
        tagged.existing_object_replication = Some(s3s::dto::ExistingObjectReplication {
            status: ExistingObjectReplicationStatus::from_static(
                ExistingObjectReplicationStatus::ENABLED,
            ),
        });
        tagged.destination.storage_class = Some(StorageClass::from_static("GLACIER"));
        let mut all = v2(1, "");
        all.filter = Some(ReplicationRuleFilter::default());
        all.id = Some("all".into());
        all.source_selection_criteria = Some(s3s::dto::SourceSelectionCriteria {
            replica_modifications: Some(s3s::dto::ReplicaModifications {
                status: ReplicaModificationsStatus::from_static(
                    ReplicaModificationsStatus::ENABLED,
                ),
            }),
            sse_kms_encrypted_objects: None,
        });
        let put = conf(vec![tagged, all]);
        let stored = config_from_s3("src", put.clone()).unwrap();
        assert!(stored.rules[1].replica_modifications && stored.rules[0].existing_objects);
        let back = config_to_s3(&stored);
        assert_eq!(format!("{back:?}"), format!("{put:?}"));
        let mut old = v1("docs/");
        old.id = Some("v1".into());
        let put = conf(vec![old]);
        let back = config_to_s3(&config_from_s3("src", put.clone()).unwrap());
        assert_eq!(format!("{back:?}"), format!("{put:?}"));
    }

    #[test]
    fn unsupported_elements_are_refused() {
        let mut r = v2(1, "");
        r.source_selection_criteria = Some(s3s::dto::SourceSelectionCriteria {
            replica_modifications: None,
            sse_kms_encrypted_objects: Some(s3s::dto::SseKmsEncryptedObjects {
                status: SseKmsEncryptedObjectsStatus::from_static(
                    SseKmsEncryptedObjectsStatus::ENABLED,
                ),
            }),
        });
        assert_eq!(code(vec![r]), "NotImplemented");
    }
}
