//! The gateway's short-lived cache of buckets' lifecycle rules, read on
//! every PUT, GET and HEAD for `x-amz-expiration`: one metadata read per
//! bucket every few seconds instead of one per request. The header is
//! informational (the worker decides what expires, from the stored rules),
//! so an answer a few seconds stale is harmless; this gateway's own
//! Put/DeleteBucketLifecycle take effect at once ([`RulesCache::forget`]).

use shale_metadata::{BucketConfig, BucketConfigKind, LifecycleRule, MetaClient};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a bucket's rules are believed.
const TTL: Duration = Duration::from_secs(5);
/// Buckets remembered at most (the cache is emptied when full).
const MAX_BUCKETS: usize = 10_000;

type Rules = Option<Arc<Vec<LifecycleRule>>>;

/// See the module docs.
pub struct RulesCache {
    meta: MetaClient,
    entries: Mutex<HashMap<String, (Rules, Instant)>>,
    /// Bumped by every local change, so a read that started before one
    /// does not store what it read.
    generation: AtomicU64,
}

impl std::fmt::Debug for RulesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesCache").finish_non_exhaustive()
    }
}

impl RulesCache {
    /// An empty cache over `meta`.
    pub fn new(meta: MetaClient) -> RulesCache {
        RulesCache {
            meta,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (Rules, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bucket's enabled rules (`None`: none, or the metadata service
    /// did not answer: the header is then left out).
    pub async fn rules(&self, bucket: &str) -> Rules {
        if let Some((rules, at)) = self.lock().get(bucket)
            && at.elapsed() < TTL
        {
            return rules.clone();
        }
        let generation = self.generation.load(Ordering::Acquire);
        let rules = match self
            .meta
            .get_bucket_config(bucket, BucketConfigKind::Lifecycle)
            .await
        {
            Ok(Some(BucketConfig::Lifecycle(rules))) => {
                let enabled: Vec<_> = rules.into_iter().filter(|r| r.enabled).collect();
                (!enabled.is_empty()).then(|| Arc::new(enabled))
            }
            Ok(_) => None,
            Err(_) => return None,
        };
        let mut entries = self.lock();
        if self.generation.load(Ordering::Acquire) == generation {
            if entries.len() >= MAX_BUCKETS {
                entries.clear();
            }
            entries.insert(bucket.to_owned(), (rules.clone(), Instant::now()));
        }
        rules
    }

    /// Drops what is known of `bucket` (after this gateway changed its
    /// rules).
    pub fn forget(&self, bucket: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.lock().remove(bucket);
    }
}
