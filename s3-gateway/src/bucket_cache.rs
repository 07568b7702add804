//! A short-lived cache of something per bucket, read from the metadata
//! service: what the gateway reads on many requests and may see a few
//! seconds late from another gateway (a bucket's CORS rules, lifecycle
//! rules, policy and public access block). One read per bucket and period
//! instead of one per request; this gateway's own changes are seen at once.
//!
//! A read that started before a local change does not store what it read,
//! which may predate the change (a generation counter, bumped by every
//! change). At most [`MAX_BUCKETS`] buckets are remembered: a full cache is
//! emptied rather than grown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Buckets remembered at most.
pub const MAX_BUCKETS: usize = 10_000;

/// See the module docs.
pub struct BucketCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (V, Instant)>>,
    generation: AtomicU64,
}

impl<V> std::fmt::Debug for BucketCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<V: Clone> BucketCache<V> {
    /// An empty cache whose values are believed for `ttl`.
    pub fn new(ttl: Duration) -> BucketCache<V> {
        BucketCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (V, Instant)>> {
        // A poisoned map is still a valid cache.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bucket's value: from the cache while fresh, else from `load`,
    /// whose answer is kept unless a local change came meanwhile. A failed
    /// load is not kept.
    pub async fn get<E, F>(&self, bucket: &str, load: impl FnOnce() -> F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        if let Some((value, at)) = self.lock().get(bucket)
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let value = load().await?;
        let mut entries = self.lock();
        if self.generation.load(Ordering::Acquire) == generation {
            if entries.len() >= MAX_BUCKETS {
                entries.clear();
            }
            entries.insert(bucket.to_owned(), (value.clone(), Instant::now()));
        }
        Ok(value)
    }

    /// A local change: the bucket's value is `value` from now on (`None`:
    /// read it again when next asked).
    pub fn changed(&self, bucket: &str, value: Option<V>) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        match value {
            Some(v) => {
                entries.insert(bucket.to_owned(), (v, Instant::now()));
            }
            None => {
                entries.remove(bucket);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fresh values come from the cache, stale ones are read again, a local
    /// change is seen at once, and a read that raced a change is not kept.
    #[tokio::test]
    async fn a_bucket_is_read_once_per_period_and_local_changes_win() {
        let cache = BucketCache::<u32>::new(Duration::from_millis(200));
        let reads = std::sync::atomic::AtomicU32::new(0);
        let load = |v: u32| {
            reads.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<_, ()>(v) }
        };
        assert_eq!(cache.get("b", || load(1)).await, Ok(1));
        assert_eq!(cache.get("b", || load(2)).await, Ok(1));
        assert_eq!(reads.load(Ordering::Relaxed), 1);
        cache.changed("b", Some(3));
        assert_eq!(cache.get("b", || load(4)).await, Ok(3));
        cache.changed("b", None);
        assert_eq!(cache.get("b", || load(5)).await, Ok(5));
        assert_eq!(
            cache.get("c", || async { Err::<u32, _>("down") }).await,
            Err("down")
        );
        assert_eq!(cache.get("c", || load(6)).await, Ok(6));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(cache.get("b", || load(7)).await, Ok(7));
        // A read that started before a change does not overwrite it.
        let raced = cache
            .get("d", || {
                cache.changed("d", Some(8));
                async { Ok::<_, ()>(9) }
            })
            .await;
        assert_eq!(raced, Ok(9));
        assert_eq!(cache.get("d", || load(10)).await, Ok(8));
    }
}
