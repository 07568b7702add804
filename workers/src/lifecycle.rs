//! The lifecycle worker: applies buckets' lifecycle rules (S3's
//! `Expiration`, `NoncurrentVersionExpiration`, `ExpiredObjectDeleteMarker`,
//! `AbortIncompleteMultipartUpload`).
//!
//! One worker at a time does the work across gateways: the one holding the
//! metadata lease `lifecycle`, renewed before every page. A round walks
//! every bucket that has enabled rules, page by page (1,000 versions, then
//! its uploads), and stores its position (`lifecycle` cursor) after every
//! page: a worker that crashes, or loses the lease, is followed by one that
//! goes on from there.
//!
//! Cost: one pass per round over the versions under the common prefix of a
//! bucket's enabled rules (all rules are checked on that one pass, never a
//! pass per rule), plus a GetVersion per candidate when a rule filters by
//! tags; buckets without rules cost one configuration read. Every action is
//! one metadata request ([`MetaRequest::Expire`](shale_metadata::MetaRequest))
//! that acts only if the version is still where the worker saw it, and
//! through the same state-machine paths as a client's DELETE: a locked
//! version is never removed (it is counted as kept and retried next round).
//!
//! A day is `day_secs` long (86,400; shorter for tests and demos); days are
//! rounded up to whole days, as S3 rounds to the next midnight UTC.

use serde::{Deserialize, Serialize};
use shale_datapath::Result;
use shale_metadata::{
    BucketConfig, BucketConfigKind, ExpireAction, LifecycleRule, MetaClient, MetaError, VersionRef,
    VersionSummary,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// The metadata lease one worker holds while it works.
const LEASE: &str = "lifecycle";
/// The name of the worker's stored position.
const CURSOR: &str = "lifecycle";
/// How long the lease lasts without renewal.
const LEASE_TTL_MS: u64 = 30_000;
/// Versions (or uploads) per page.
const PAGE: u32 = 1000;

/// When and how the worker runs (`[gateway.lifecycle]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// False turns the worker off in this gateway.
    pub enabled: bool,
    /// The length of a lifecycle day in seconds: 86,400, as in S3.
    pub day_secs: u64,
    /// Seconds between rounds (at most a tenth of a day).
    pub interval_secs: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            enabled: true,
            day_secs: 86_400,
            interval_secs: 600,
        }
    }
}

impl LifecycleConfig {
    fn day_ms(&self) -> i64 {
        (self.day_secs.max(1) as i64).saturating_mul(1000)
    }

    fn every(&self) -> Duration {
        Duration::from_secs(self.interval_secs.min(self.day_secs / 10).max(1))
    }
}

/// What the worker did since the gateway started.
#[derive(Debug, Default)]
pub struct LifecycleStats {
    /// Versions and markers looked at.
    pub scanned: AtomicU64,
    /// Current versions expired (deleted, or hidden by a delete marker).
    pub expired: AtomicU64,
    /// Noncurrent versions removed.
    pub noncurrent_removed: AtomicU64,
    /// Expired delete markers removed.
    pub markers_removed: AtomicU64,
    /// Incomplete multipart uploads aborted.
    pub uploads_aborted: AtomicU64,
    /// Versions due but kept by Object Lock.
    pub locked_kept: AtomicU64,
    /// Rounds finished.
    pub rounds: AtomicU64,
    /// When the last round finished (Unix ms; 0: none yet).
    pub last_round_ms: AtomicU64,
}

/// A copy of [`LifecycleStats`] at one moment (JSON in `/_shale/status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleStatus {
    pub scanned: u64,
    pub expired: u64,
    pub noncurrent_removed: u64,
    pub markers_removed: u64,
    pub uploads_aborted: u64,
    pub locked_kept: u64,
    pub rounds: u64,
    pub last_round_ms: u64,
}

impl LifecycleStats {
    /// The figures now.
    pub fn status(&self) -> LifecycleStatus {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LifecycleStatus {
            scanned: get(&self.scanned),
            expired: get(&self.expired),
            noncurrent_removed: get(&self.noncurrent_removed),
            markers_removed: get(&self.markers_removed),
            uploads_aborted: get(&self.uploads_aborted),
            locked_kept: get(&self.locked_kept),
            rounds: get(&self.rounds),
            last_round_ms: get(&self.last_round_ms),
        }
    }
}

/// Where a round is: the bucket, the phase (versions, then uploads) and
/// the markers of the next page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    bucket: String,
    uploads: bool,
    key_marker: Option<String>,
    version_marker: Option<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs rounds until `stop` says so.
pub async fn run(
    meta: MetaClient,
    config: LifecycleConfig,
    stats: Arc<LifecycleStats>,
    mut stop: watch::Receiver<bool>,
) {
    if !config.enabled {
        return;
    }
    let worker = Worker {
        meta,
        config,
        stats,
        holder: format!("lifecycle-{:016x}", rand::random::<u64>()),
    };
    loop {
        match worker.round().await {
            Ok(true) => {
                worker.stats.rounds.fetch_add(1, Ordering::Relaxed);
                worker
                    .stats
                    .last_round_ms
                    .store(now_ms().max(0) as u64, Ordering::Relaxed);
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "lifecycle round failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(config.every()) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

struct Worker {
    meta: MetaClient,
    config: LifecycleConfig,
    stats: Arc<LifecycleStats>,
    holder: String,
}

impl Worker {
    /// Takes or renews the lease; false when another worker has it.
    async fn holds_lease(&self) -> bool {
        match self
            .meta
            .take_lease(LEASE, &self.holder, LEASE_TTL_MS)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::debug!(error = %e, "lifecycle lease not taken");
                false
            }
        }
    }

    async fn save(&self, pos: Option<&Position>) -> Result<()> {
        let raw = match pos {
            Some(p) => postcard::to_stdvec(p)
                .map_err(|e| MetaError::Internal(format!("lifecycle cursor: {e}")))?,
            None => Vec::new(),
        };
        self.meta.set_cursor(CURSOR, raw).await?;
        Ok(())
    }

    /// One round, from the stored position; true when it reached the end.
    async fn round(&self) -> Result<bool> {
        if !self.holds_lease().await {
            return Ok(false);
        }
        let mut pos: Position = match self.meta.get_cursor(CURSOR).await? {
            Some(raw) => postcard::from_bytes(&raw).unwrap_or_default(),
            None => Position::default(),
        };
        let mut buckets: Vec<String> = self
            .meta
            .list_buckets()
            .await?
            .into_iter()
            .map(|b| b.name)
            .filter(|b| *b >= pos.bucket)
            .collect();
        buckets.sort();
        for bucket in buckets {
            if bucket != pos.bucket {
                pos = Position {
                    bucket: bucket.clone(),
                    ..Position::default()
                };
            }
            let rules = match self
                .meta
                .get_bucket_config(&bucket, BucketConfigKind::Lifecycle)
                .await
            {
                Ok(Some(BucketConfig::Lifecycle(rules))) => rules,
                Ok(_) | Err(MetaError::NoSuchBucket) => continue,
                Err(e) => return Err(e.into()),
            };
            let rules: Vec<LifecycleRule> = rules.into_iter().filter(|r| r.enabled).collect();
            if rules.is_empty() {
                continue;
            }
            if !self.bucket(&rules, &mut pos).await? {
                return Ok(false);
            }
        }
        self.save(None).await?;
        Ok(true)
    }

    /// Works through one bucket from `pos`; false when the lease is lost.
    async fn bucket(&self, rules: &[LifecycleRule], pos: &mut Position) -> Result<bool> {
        let prefix = common_prefix(rules.iter().map(|r| r.filter.prefix.as_str()));
        let day_ms = self.config.day_ms();
        while !pos.uploads {
            if !self.holds_lease().await {
                return Ok(false);
            }
            let marker = pos
                .version_marker
                .as_deref()
                .map(|v| VersionRef::parse(Some(v)))
                .transpose()?;
            let page = match self
                .meta
                .list_versions(
                    &pos.bucket,
                    &prefix,
                    None,
                    (pos.key_marker.clone(), marker),
                    PAGE,
                )
                .await
            {
                Ok(p) => p,
                Err(MetaError::NoSuchBucket) => return Ok(true),
                Err(e) => return Err(e.into()),
            };
            self.stats
                .scanned
                .fetch_add(page.versions.len() as u64, Ordering::Relaxed);
            let mut start = 0;
            while start < page.versions.len() {
                let key = &page.versions[start].key;
                let end = page.versions[start..]
                    .iter()
                    .position(|v| v.key != *key)
                    .map_or(page.versions.len(), |n| start + n);
                self.key(rules, &pos.bucket, &page.versions[start..end], day_ms)
                    .await?;
                start = end;
            }
            if page.is_truncated {
                pos.key_marker = page.next_key_marker;
                pos.version_marker = page.next_version_id_marker;
            } else {
                pos.uploads = true;
                pos.key_marker = None;
                pos.version_marker = None;
            }
            self.save(Some(pos)).await?;
        }
        loop {
            if !self.holds_lease().await {
                return Ok(false);
            }
            let page = match self
                .meta
                .list_uploads(
                    &pos.bucket,
                    &prefix,
                    None,
                    pos.key_marker.as_deref(),
                    pos.version_marker.as_deref(),
                    PAGE,
                )
                .await
            {
                Ok(p) => p,
                Err(MetaError::NoSuchBucket) => return Ok(true),
                Err(e) => return Err(e.into()),
            };
            let now = now_ms();
            for u in &page.uploads {
                let due = rules.iter().any(|r| {
                    r.abort_uploads_after_days.is_some_and(|days| {
                        u.key.starts_with(&r.filter.prefix)
                            && shale_metadata::day_ceil(
                                u.initiated_ms
                                    .saturating_add(i64::from(days).saturating_mul(day_ms)),
                                day_ms,
                            ) <= now
                    })
                });
                if due {
                    match self
                        .meta
                        .abort_upload(&u.bucket, &u.key, &u.upload_id)
                        .await
                    {
                        Ok(()) => {
                            self.stats.uploads_aborted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(MetaError::NoSuchUpload) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            if !page.is_truncated {
                return Ok(true);
            }
            pos.key_marker = page.next_key_marker;
            pos.version_marker = page.next_upload_id_marker;
            self.save(Some(pos)).await?;
        }
    }

    /// Applies the rules to the versions of one key listed on one page
    /// (newest first; a key split across pages is looked at in parts,
    /// which only delays what the second part would have found).
    async fn key(
        &self,
        rules: &[LifecycleRule],
        bucket: &str,
        versions: &[VersionSummary],
        day_ms: i64,
    ) -> Result<()> {
        let now = now_ms();
        let only_version = versions.len() == 1 && versions[0].is_latest;
        let mut noncurrent_seen = 0u32;
        for v in versions {
            let mut tags: Option<Vec<(String, String)>> = None;
            let mut action = None;
            if !v.delete_marker && !v.is_latest {
                noncurrent_seen += 1;
            }
            for rule in rules {
                if !v.key.starts_with(&rule.filter.prefix) {
                    continue;
                }
                let due = if v.delete_marker {
                    v.is_latest
                        && only_version
                        && rule
                            .expiration
                            .as_ref()
                            .is_some_and(|e| e.expired_object_delete_marker)
                } else if v.is_latest {
                    rule.expiration
                        .as_ref()
                        .and_then(|e| e.expiry(v.last_modified_ms, day_ms))
                        .is_some_and(|t| t <= now)
                } else {
                    rule.noncurrent.as_ref().is_some_and(|n| {
                        let kept = n
                            .newer_noncurrent_versions
                            .is_some_and(|keep| noncurrent_seen <= keep);
                        let since = if v.noncurrent_ms > 0 {
                            v.noncurrent_ms
                        } else {
                            v.last_modified_ms
                        };
                        !kept
                            && shale_metadata::day_ceil(
                                since.saturating_add(
                                    i64::from(n.noncurrent_days).saturating_mul(day_ms),
                                ),
                                day_ms,
                            ) <= now
                    })
                };
                if !due {
                    continue;
                }
                if !v.delete_marker && !self.filter_holds(rule, bucket, v, &mut tags).await? {
                    continue;
                }
                action = Some(if v.delete_marker {
                    ExpireAction::DeleteMarker
                } else if v.is_latest {
                    ExpireAction::Current
                } else {
                    let n = rule.noncurrent.as_ref();
                    ExpireAction::Noncurrent {
                        days_ms: n
                            .map_or(0, |n| i64::from(n.noncurrent_days).saturating_mul(day_ms)),
                        day_ms,
                        keep_newer: n.and_then(|n| n.newer_noncurrent_versions).unwrap_or(0),
                    }
                });
                break;
            }
            let Some(action) = action else {
                continue;
            };
            match self.meta.expire((bucket, &v.key), v.order, action).await {
                Ok(done) if done.version_id.is_some() => {
                    let counter = match action {
                        ExpireAction::Current => &self.stats.expired,
                        ExpireAction::Noncurrent { .. } => &self.stats.noncurrent_removed,
                        ExpireAction::DeleteMarker => &self.stats.markers_removed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(MetaError::AccessDenied(_)) => {
                    self.stats.locked_kept.fetch_add(1, Ordering::Relaxed);
                }
                Err(MetaError::NoSuchBucket | MetaError::NoSuchKey) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Whether the rule's size and tag conditions hold for `v` (its tags
    /// read once, and only when a rule asks for tags).
    async fn filter_holds(
        &self,
        rule: &LifecycleRule,
        bucket: &str,
        v: &VersionSummary,
        tags: &mut Option<Vec<(String, String)>>,
    ) -> Result<bool> {
        if !rule.filter.tags.is_empty() && tags.is_none() {
            let which = VersionRef::parse(Some(&v.version_id))?;
            *tags = match self.meta.get_version(bucket, &v.key, which).await {
                Ok(view) => Some(view.object.row.tags),
                Err(MetaError::NoSuchKey | MetaError::NoSuchVersion) => return Ok(false),
                Err(e) => return Err(e.into()),
            };
        }
        let tags = tags.as_deref().unwrap_or_default();
        Ok(rule.filter.matches(&v.key, v.size, tags))
    }
}

/// The longest prefix every one of `prefixes` starts with.
fn common_prefix<'a>(mut prefixes: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = prefixes.next() else {
        return String::new();
    };
    let mut len = first.len();
    for p in prefixes {
        len = first
            .char_indices()
            .zip(p.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(len);
    }
    first[..len].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_covers_every_rule_prefix() {
        assert_eq!(common_prefix(["logs/a", "logs/b"].into_iter()), "logs/");
        assert_eq!(common_prefix(["logs/", ""].into_iter()), "");
        assert_eq!(common_prefix(["é1", "é2"].into_iter()), "é");
        assert_eq!(common_prefix(["x"].into_iter()), "x");
        assert_eq!(common_prefix(std::iter::empty()), "");
    }

    #[test]
    fn rounds_are_at_most_a_tenth_of_a_day() {
        let c = LifecycleConfig {
            day_secs: 20,
            ..LifecycleConfig::default()
        };
        assert_eq!(c.every(), Duration::from_secs(2));
        assert_eq!(LifecycleConfig::default().every(), Duration::from_secs(600));
        assert_eq!(c.day_ms(), 20_000);
    }
}
