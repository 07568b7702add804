//! A bucket's replication configuration as stored (`PutBucketReplication`,
//! checked by the gateway's `s3/replication.rs`), and the questions the
//! replication worker asks of it: which rule applies to an object version,
//! and whether a delete marker is replicated.
//!
//! Stored with postcard inside [`crate::BucketConfig::Replication`]: fields
//! and variants are only ever appended (see the row format notes in
//! `types.rs`).
//!
//! S3 has two forms of a configuration (the user guide's "Backward
//! compatibility considerations"): the older V1, whose rules name their
//! objects by a rule-level `Prefix`, replicate delete markers and have no
//! `Priority`; and V2, whose rules have a `Filter` (prefix, tags, or both),
//! a `Priority`, and replicate delete markers only when
//! `DeleteMarkerReplication` is Enabled. A configuration is all of one form.

use serde::{Deserialize, Serialize};

/// A bucket's replication configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationConfig {
    /// `Role`: the IAM role S3 would assume, kept as given (may be empty;
    /// Shale's replication authenticates with its own key).
    pub role: String,
    /// The rules, in the order given (at least one).
    pub rules: Vec<ReplicationRule>,
}

/// One replication rule (`Rule`), as the gateway validated it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationRule {
    /// `ID` (made up when none is given, as S3 does).
    pub id: String,
    /// `Priority` (V2 form only; the higher number wins).
    pub priority: Option<i32>,
    /// `Status`: Enabled (true) or Disabled.
    pub enabled: bool,
    /// Which objects the rule replicates: a rule-level `Prefix` (V1) or a
    /// `Filter` (V2).
    pub filter: ReplicationFilter,
    /// The rule was given in the V1 form (a bare rule-level `<Prefix>`, no
    /// `Filter`): it replicates delete markers and is answered in that form.
    pub v1_prefix_form: bool,
    /// `DeleteMarkerReplication` `Status` Enabled (V2 form only; a V1 rule
    /// replicates delete markers whatever this says).
    pub delete_marker_replication: bool,
    /// `ExistingObjectReplication` `Status` Enabled.
    pub existing_objects: bool,
    /// `SourceSelectionCriteria`/`ReplicaModifications` `Status` Enabled:
    /// metadata changes made on a replica are replicated back.
    pub replica_modifications: bool,
    /// Where the objects go.
    pub destination: ReplicationDestination,
    /// How the optional elements were given, so that GetBucketReplication
    /// answers them as they were put (present and Disabled is not absent).
    pub given: GivenElements,
}

/// Which optional elements of a rule were present in the PUT (true) as
/// opposed to left out. They change nothing in what is replicated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GivenElements {
    /// `DeleteMarkerReplication` was given (always, in the V2 form).
    pub delete_marker_replication: bool,
    /// `ExistingObjectReplication` was given.
    pub existing_object_replication: bool,
    /// `SourceSelectionCriteria`/`ReplicaModifications` was given.
    pub replica_modifications: bool,
    /// The `Filter` held an `And` (even of one tag and an empty prefix).
    pub filter_and: bool,
    /// The `Filter` (or its `And`) held a `Prefix`, even an empty one.
    pub filter_prefix: bool,
}

/// A rule's objects: every condition must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationFilter {
    /// Key prefix ("" matches every key).
    pub prefix: String,
    /// Tags the object must carry, each with this value.
    pub tags: Vec<(String, String)>,
}

impl ReplicationFilter {
    /// Whether an object of `key` carrying `tags` is one the filter selects:
    /// the key starts with the prefix, and every tag of the filter is among
    /// the object's, with its value.
    pub fn matches(&self, key: &str, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix) && self.tags.iter().all(|t| tags.contains(t))
    }
}

/// A rule's `Destination`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationDestination {
    /// The destination bucket's name (the `NAME` of `arn:aws:s3:::NAME`).
    pub bucket: String,
    /// `StorageClass` of the replicas (None: the source object's).
    pub storage_class: Option<String>,
    /// `ReplicationTime` `Status` Enabled (S3 Replication Time Control).
    pub replication_time: bool,
    /// `ReplicationTime`'s `Time`/`Minutes` when given.
    pub replication_time_minutes: Option<i32>,
    /// `Metrics` `Status` Enabled.
    pub metrics: bool,
    /// `Metrics`' `EventThreshold`/`Minutes` when given.
    pub metrics_minutes: Option<i32>,
    /// `Account`: the destination bucket owner's account, as given.
    pub account: Option<String>,
    /// `ReplicationTime` was given (Enabled or Disabled).
    pub replication_time_given: bool,
    /// `Metrics` was given (Enabled or Disabled).
    pub metrics_given: bool,
}

impl ReplicationRule {
    /// Whether the rule's filter has a tag condition (S3 then never
    /// replicates delete markers by it: a marker has no tags).
    pub fn has_tag_filter(&self) -> bool {
        !self.filter.tags.is_empty()
    }
}

impl ReplicationConfig {
    /// Whether the configuration is in the older V1 form (rule-level
    /// prefixes). A configuration is all of one form.
    pub fn is_v1(&self) -> bool {
        self.rules.first().is_some_and(|r| r.v1_prefix_form)
    }

    /// The enabled rule that replicates an object of `key` with `tags`, as
    /// S3 picks it: of the enabled rules whose filter selects the object,
    /// the one of highest `Priority` (V2; priorities are unique). In the V1
    /// form prefixes never overlap, so at most one rule matches. None when
    /// no enabled rule selects it. With rules of several destinations, S3
    /// replicates to each; see [`ReplicationConfig::rules_for`].
    pub fn rule_for(&self, key: &str, tags: &[(String, String)]) -> Option<&ReplicationRule> {
        self.matching(key, tags)
            .fold(None, |best: Option<&ReplicationRule>, r| match best {
                Some(b) if rank(b) >= rank(r) => Some(b),
                _ => Some(r),
            })
    }

    /// The rules an object of `key` with `tags` is replicated by: one per
    /// destination bucket, the enabled matching rule of highest priority for
    /// that destination ("if there are two or more rules with the same
    /// destination bucket, then objects will be replicated according to the
    /// rule with the highest priority", the API reference's
    /// `ReplicationRule`/`Priority`). In destination order of first mention.
    pub fn rules_for(&self, key: &str, tags: &[(String, String)]) -> Vec<&ReplicationRule> {
        let mut out: Vec<&ReplicationRule> = Vec::new();
        for rule in self.matching(key, tags) {
            match out
                .iter_mut()
                .find(|r| r.destination.bucket == rule.destination.bucket)
            {
                Some(best) => {
                    if rank(rule) > rank(best) {
                        *best = rule;
                    }
                }
                None => out.push(rule),
            }
        }
        out
    }

    /// Whether a delete marker written on `key` (no version id: a DELETE
    /// that adds a marker) is replicated, as S3 decides it: the V1 form
    /// replicates delete markers by the rule whose prefix matches; the V2
    /// form only by a rule with `DeleteMarkerReplication` Enabled and no tag
    /// condition (a marker carries no tags), which is the rule that would
    /// replicate an untagged object of that key. A DELETE of a version
    /// (with a version id) is never replicated, by either form.
    pub fn replicates_delete_markers(&self, key: &str) -> bool {
        if self.is_v1() {
            return self.rule_for(key, &[]).is_some();
        }
        self.rule_for(key, &[])
            .is_some_and(|r| r.delete_marker_replication && !r.has_tag_filter())
    }

    /// The rules of enabled status whose filter selects the object.
    fn matching<'a, 'k>(
        &'a self,
        key: &'k str,
        tags: &'k [(String, String)],
    ) -> impl Iterator<Item = &'a ReplicationRule> {
        self.rules
            .iter()
            .filter(move |r| r.enabled && r.filter.matches(key, tags))
    }
}

impl ReplicationConfig {
    /// The destination buckets a change a client made to a replica (its
    /// tags, its lock) goes back to: those of the rules with
    /// `ReplicaModifications` Enabled.
    pub fn replica_change_destinations(&self, key: &str, tags: &[(String, String)]) -> Vec<String> {
        self.rules_for(key, tags)
            .into_iter()
            .filter(|r| r.replica_modifications)
            .map(|r| r.destination.bucket.clone())
            .collect()
    }

    /// The destination buckets a new version of `key` with `tags` goes to.
    pub fn version_destinations(&self, key: &str, tags: &[(String, String)]) -> Vec<String> {
        self.rules_for(key, tags)
            .into_iter()
            .map(|r| r.destination.bucket.clone())
            .collect()
    }

    /// The destination buckets a delete marker on `key` goes to: those of
    /// the rules that replicate markers (see
    /// [`ReplicationConfig::replicates_delete_markers`]).
    pub fn marker_destinations(&self, key: &str) -> Vec<String> {
        let v1 = self.is_v1();
        self.rules_for(key, &[])
            .into_iter()
            .filter(|r| v1 || (r.delete_marker_replication && !r.has_tag_filter()))
            .map(|r| r.destination.bucket.clone())
            .collect()
    }
}

/// The header an object version's replication status is stored and
/// answered in (`PENDING`, `COMPLETED`, `FAILED` on a source, `REPLICA` on
/// a destination), kept among the version's system headers.
pub const REPLICATION_STATUS: &str = "x-amz-replication-status";

/// What a replication task copies to its destinations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplicationKind {
    /// A new object version: its data, metadata, tags and lock.
    Version,
    /// A delete marker.
    Marker,
    /// A change of a replicated version's tags.
    Tags,
    /// A change of a replicated version's retention or legal hold.
    Lock,
}

impl ReplicationKind {
    /// A static label.
    pub fn name(self) -> &'static str {
        match self {
            ReplicationKind::Version => "version",
            ReplicationKind::Marker => "marker",
            ReplicationKind::Tags => "tags",
            ReplicationKind::Lock => "lock",
        }
    }
}

/// One entry of the replication queue (column family `replication`),
/// written in the same batch as the write it copies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationTask {
    /// The source bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The version's order (its id is these 16 hex digits).
    pub order: u64,
    /// What is copied.
    pub kind: ReplicationKind,
    /// The destination buckets not done yet.
    pub destinations: Vec<String>,
    /// When the write was committed (the Raft entry's time).
    pub enqueued_ms: i64,
    /// The version's size in bytes (0 for a marker).
    pub size: u64,
    /// Attempts that failed so far.
    pub attempts: u32,
    /// Not to be tried again before this time (after a transient failure).
    pub not_before_ms: i64,
    /// Failed for good (a permanent error) until `replication retry`.
    pub failed: bool,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// How one destination of a task went ([`crate::MetaRequest::ReplicationDone`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicationOutcome {
    /// The destination has the version: the destination is done.
    Completed,
    /// A transient failure: tried again after `not_before_ms`.
    Retry {
        /// What went wrong.
        error: String,
        /// Not before this time.
        not_before_ms: i64,
    },
    /// A permanent failure: the task is FAILED until retried by hand.
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// A rule's rank among matching rules: its priority (a V1 rule has none,
/// and no other V1 rule matches the same key).
fn rank(rule: &ReplicationRule) -> i32 {
    rule.priority.unwrap_or(i32::MIN)
}

/// One page of a replication resync ([`crate::MetaRequest::ReplicationResync`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncPage {
    /// Versions and markers looked at.
    pub scanned: u64,
    /// Of them, queued for replication.
    pub queued: u64,
    /// True when the page reached the bucket's end (the position is gone).
    pub done: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(tags: &[(&str, &str)]) -> Vec<(String, String)> {
        tags.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn v2(
        id: &str,
        priority: i32,
        prefix: &str,
        tags: &[(&str, &str)],
        dest: &str,
    ) -> ReplicationRule {
        ReplicationRule {
            id: id.into(),
            priority: Some(priority),
            enabled: true,
            filter: ReplicationFilter {
                prefix: prefix.into(),
                tags: pairs(tags),
            },
            destination: ReplicationDestination {
                bucket: dest.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn v1(id: &str, prefix: &str) -> ReplicationRule {
        ReplicationRule {
            id: id.into(),
            enabled: true,
            v1_prefix_form: true,
            filter: ReplicationFilter {
                prefix: prefix.into(),
                tags: Vec::new(),
            },
            destination: ReplicationDestination {
                bucket: "dst".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn config(rules: Vec<ReplicationRule>) -> ReplicationConfig {
        ReplicationConfig {
            role: String::new(),
            rules,
        }
    }

    #[test]
    fn filters_match_prefix_and_every_tag() {
        let f = ReplicationFilter {
            prefix: "logs/".into(),
            tags: pairs(&[("a", "1"), ("b", "")]),
        };
        let tags = pairs(&[("b", ""), ("x", "y"), ("a", "1")]);
        assert!(f.matches("logs/x", &tags));
        assert!(f.matches("logs/", &tags));
        assert!(!f.matches("log/x", &tags));
        assert!(!f.matches("logs/x", &pairs(&[("a", "1")])));
        assert!(!f.matches("logs/x", &pairs(&[("a", "2"), ("b", "")])));
        assert!(ReplicationFilter::default().matches("", &[]));
    }

    #[test]
    fn the_highest_priority_wins() {
        let c = config(vec![
            v2("low", 1, "", &[], "dst"),
            v2("high", 5, "a/", &[], "dst"),
            v2("tagged", 9, "", &[("t", "1")], "dst"),
        ]);
        assert_eq!(c.rule_for("a/x", &[]).map(|r| r.id.as_str()), Some("high"));
        assert_eq!(c.rule_for("b/x", &[]).map(|r| r.id.as_str()), Some("low"));
        let t = pairs(&[("t", "1")]);
        assert_eq!(c.rule_for("a/x", &t).map(|r| r.id.as_str()), Some("tagged"));
        // A disabled rule never applies, and does not hide a lower one.
        let mut c = c;
        c.rules[1].enabled = false;
        assert_eq!(c.rule_for("a/x", &[]).map(|r| r.id.as_str()), Some("low"));
        c.rules[0].enabled = false;
        assert_eq!(c.rule_for("a/x", &[]), None);
    }

    #[test]
    fn one_rule_per_destination() {
        let c = config(vec![
            v2("a1", 1, "", &[], "a"),
            v2("b3", 3, "", &[], "b"),
            v2("a2", 2, "k", &[], "a"),
            v2("b0", 0, "", &[], "b"),
        ]);
        let ids = |key: &str| {
            c.rules_for(key, &[])
                .iter()
                .map(|r| r.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("key"), ["a2", "b3"]);
        assert_eq!(ids("x"), ["a1", "b3"]);
        assert_eq!(c.rule_for("key", &[]).map(|r| r.id.as_str()), Some("b3"));
    }

    #[test]
    fn v1_rules_match_by_prefix_and_replicate_markers() {
        let c = config(vec![v1("docs", "docs/"), v1("img", "img/")]);
        assert!(c.is_v1());
        assert_eq!(c.rule_for("img/a", &[]).map(|r| r.id.as_str()), Some("img"));
        assert_eq!(c.rule_for("other", &[]), None);
        // V1 replicates delete markers, whatever DeleteMarkerReplication says.
        assert!(c.replicates_delete_markers("docs/a"));
        assert!(!c.replicates_delete_markers("other"));
        let mut off = c.clone();
        off.rules[0].enabled = false;
        assert!(!off.replicates_delete_markers("docs/a"));
    }

    #[test]
    fn v2_replicates_markers_only_when_enabled_and_untagged() {
        let mut on = v2("on", 1, "m/", &[], "dst");
        on.delete_marker_replication = true;
        let off = v2("off", 2, "", &[], "dst");
        let c = config(vec![on.clone(), off.clone()]);
        assert!(!c.is_v1());
        // "off" has the higher priority and covers every key.
        assert!(!c.replicates_delete_markers("m/a"));
        let c = config(vec![on.clone()]);
        assert!(c.replicates_delete_markers("m/a"));
        assert!(!c.replicates_delete_markers("n/a"));
        // A rule with a tag condition never replicates a marker.
        let mut tagged = v2("tagged", 1, "", &[("t", "1")], "dst");
        tagged.delete_marker_replication = true;
        assert!(!config(vec![tagged]).replicates_delete_markers("k"));
        assert!(!config(vec![off]).replicates_delete_markers("k"));
    }

    #[test]
    fn rows_round_trip_through_postcard() {
        let mut rule = v2("r", 7, "p/", &[("k", "v")], "dst");
        rule.destination.storage_class = Some("STANDARD_IA".into());
        rule.destination.replication_time = true;
        rule.destination.replication_time_minutes = Some(15);
        rule.given.filter_and = true;
        let c = ReplicationConfig {
            role: "arn:aws:iam::1:role/r".into(),
            rules: vec![rule, v1("old", "")],
        };
        let bytes = postcard::to_stdvec(&c).expect("encodes");
        let back: ReplicationConfig = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, c);
    }
}
