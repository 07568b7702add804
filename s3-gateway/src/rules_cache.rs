//! The gateway's short-lived cache of buckets' lifecycle rules, read on
//! every PUT, GET and HEAD for `x-amz-expiration`: one metadata read per
//! bucket every few seconds instead of one per request. The header is
//! informational (the worker decides what expires, from the stored rules),
//! so an answer a few seconds stale is harmless; this gateway's own
//! Put/DeleteBucketLifecycle take effect at once ([`RulesCache::forget`]).

use crate::bucket_cache::BucketCache;
use shale_metadata::{BucketConfig, BucketConfigKind, LifecycleRule, MetaClient};
use std::sync::Arc;
use std::time::Duration;

/// How long a bucket's rules are believed.
const TTL: Duration = Duration::from_secs(5);

type Rules = Option<Arc<Vec<LifecycleRule>>>;

/// See the module docs.
#[derive(Debug)]
pub struct RulesCache {
    meta: MetaClient,
    cache: BucketCache<Rules>,
}

impl RulesCache {
    /// An empty cache over `meta`.
    pub fn new(meta: MetaClient) -> RulesCache {
        RulesCache {
            meta,
            cache: BucketCache::new(TTL),
        }
    }

    /// The bucket's enabled rules (`None`: none, or the metadata service
    /// did not answer: the header is then left out).
    pub async fn rules(&self, bucket: &str) -> Rules {
        let load = || async {
            match self
                .meta
                .get_bucket_config(bucket, BucketConfigKind::Lifecycle)
                .await
            {
                Ok(Some(BucketConfig::Lifecycle(rules))) => {
                    let enabled: Vec<_> = rules.into_iter().filter(|r| r.enabled).collect();
                    Ok((!enabled.is_empty()).then(|| Arc::new(enabled)))
                }
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            }
        };
        self.cache.get(bucket, load).await.unwrap_or(None)
    }

    /// Drops what is known of `bucket` (after this gateway changed its
    /// rules).
    pub fn forget(&self, bucket: &str) {
        self.cache.changed(bucket, None);
    }
}
