//! The admin API that `shale admin` talks to, served by every gateway.
//!
//! Requests are S3-style: `GET` or `POST` on `/?shale-admin=<operation>`
//! with the arguments in the query string, signed with SigV4 like any S3
//! request (so the same credentials and tools work), and allowed only to a
//! root key. `s3s` verifies the signature and then hands the request here
//! (an [`S3Route`]); answers are JSON, errors S3 XML errors.
//!
//! | operation | method | arguments | answer |
//! |---|---|---|---|
//! | `status` | GET | | region, the metadata group (each replica's id, address, role, applied index and lag behind the leader), epoch, nodes with state, heartbeat, disks, health, drain progress, scrub progress (asked of each node); `heal` (backlog, unavailable, healed, moved, drained, rebalanced, last sweep) and `gc` (due, deleted, orphans) of this gateway's workers |
//! | `bucket-list` | GET | | buckets |
//! | `bucket-info` | GET | `bucket` | region, creation, objects and bytes, grants |
//! | `node-drain`, `node-undrain` | POST | `node` | (a drain wakes the healer, which moves the node's chunks off) |
//! | `node-remove` | POST | `node`, `force` | refused while some layout places a chunk on the node, unless `force=true` |
//! | `key-create` | POST | `name`, `grant=bucket:read\|write\|owner`… or `user` | the new key and its secret (with `user`: a key of that user, no grants of its own; else a key that is a user of its own) |
//! | `key-list` | GET | | keys, their user, disabled or not, and grants; no secrets |
//! | `key-delete` | POST | `access_key` | |
//! | `key-grant` | POST | `access_key` or `user`, `bucket`, `permission` (`none` revokes) | (a key of a user stands for the user) |
//! | `key-disable`, `key-enable` | POST | `access_key` | a disabled key signs nothing (InvalidAccessKeyId) |
//! | `key-rotate` | POST | `access_key` | a new key of the same user and its secret; the old key disabled |
//! | `user-create` | POST | `name` | its ARN and canonical id |
//! | `user-list` | GET | | users (keys that are users of their own too): ARN, canonical id, keys, grants, whether it has a policy |
//! | `user-delete` | POST | `name` | refused while it has keys |
//! | `user-policy-set` | POST | `name`, `policy` (IAM JSON, at most 2,048 characters whitespace aside) | |
//! | `user-policy-get` | GET | `name` | the policy |
//! | `user-policy-delete` | POST | `name` | |
//! | `region-list` | GET | | this region's name, the linked regions (endpoint, link key, namespace) |
//! | `region-add` | POST | `name`, `endpoint`, `access_key` (default: the caller's), `namespace` | |
//! | `region-remove` | POST | `name` | |
//! | `replication-status` | GET | `bucket` (optional) | per source and destination bucket: its rules, backlog (tasks, bytes, oldest), failed tasks, the last error; this gateway's worker's copies, lag p50/p99/max, bytes per second, retries, and its lag per minute over the last hour (`lag_history`: mean and max) |
//! | `replication-retry` | POST | `bucket` (optional) | FAILED tasks put back in the queue (how many) |
//! | `replication-resync` | POST | `bucket`, `older_than_ms`, `restart` | one page (1,000 versions) of a resync: versions without a replication status queued; the position kept in metadata (scanned, queued, done) |
//! | `replication-resync-total` | GET | `bucket` | the bucket's versions and markers (a resync's 100%) |
//!
//! Between regions (a linked region's gateway, signed with the link's root
//! key): `region-claim` / `region-release` (POST `bucket`, `region`,
//! `owner`), `region-locate` (GET `bucket`), `region-claims` (GET
//! `region`), `region-keys` (GET: every key with its secret and grants, for
//! the other regions' mirror), `region-users` (GET: every user and the
//! owner of every key that belongs to one, for the same mirror), `region-create-bucket` (POST `bucket`,
//! `owner`, `object_lock`: CreateBucket with this region's
//! `LocationConstraint`, sent from another region), `region-bucket` (GET
//! `bucket`: its versioning, for a replication rule's destination check). In a region that is not
//! the namespace region, the `key-*` and `user-*` writes are
//! passed on to the namespace region, which owns the identities.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::http::Extensions;
use hyper::{HeaderMap, Method, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use serde_json::{Value, json};
use shale_metadata::{
    AccessKey, BucketConfig, BucketConfigKind, MetaClient, MetaError, NodeState, Permission,
    RaftStatus,
};

use crate::access::Keys;
use crate::regions::Regions;
use crate::server::Workers;
use shale_datapath::datapath::DataPath;
use shale_storage_node::StorageClient;

pub mod answer;
mod kms;
mod users;

/// The query parameter that marks an admin request.
pub const PARAM: &str = "shale-admin";
/// How long `status` waits for a node's scrub figures.
const SCRUB_ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Most objects `bucket-info` counts (it reads the listing).
const MAX_COUNTED: u64 = 1_000_000;
/// How long `status` waits for one metadata replica's Raft state (a
/// stopped replica must not hold the whole answer up).
const REPLICA_STATUS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The admin API of one gateway.
pub struct AdminRoute {
    meta: MetaClient,
    data: Arc<DataPath>,
    keys: Arc<Keys>,
    region: String,
    metadata_addr: String,
    /// The gateway's background workers (heal and GC figures), when it
    /// runs them.
    workers: Option<Arc<Workers>>,
    /// Asks the nodes for their scrubbers' progress (briefly: a node that
    /// does not answer shows none).
    storage: StorageClient,
    /// The linked regions.
    regions: Arc<Regions>,
}

impl AdminRoute {
    /// The admin API over `meta`; `keys` is the gateway's key cache.
    pub fn new(
        meta: MetaClient,
        data: Arc<DataPath>,
        keys: Arc<Keys>,
        region: String,
        metadata_addr: String,
        workers: Option<Arc<Workers>>,
        regions: Arc<Regions>,
    ) -> Self {
        let storage = data.storage().clone();
        AdminRoute {
            regions,
            meta,
            data,
            keys,
            region,
            metadata_addr,
            workers,
            storage: storage.with_timeout(SCRUB_ASK_TIMEOUT),
        }
    }
}

fn params(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> S3Result<&'a str> {
    param(params, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| s3_error!(InvalidArgument, "missing argument {}", name))
}

fn node_id(params: &[(String, String)]) -> S3Result<u32> {
    let v = required(params, "node")?;
    v.parse().map_err(|_| {
        s3_error!(
            InvalidArgument,
            "node must be a node id (a number), not {:?}",
            v
        )
    })
}

fn meta_err(e: MetaError) -> S3Error {
    match e {
        MetaError::InvalidArgument(m) => S3Error::with_message(S3ErrorCode::InvalidArgument, m),
        MetaError::InvalidRequest(m) => S3Error::with_message(S3ErrorCode::InvalidRequest, m),
        other => crate::error::to_s3_error(crate::error::Error::Meta(other)),
    }
}

fn json_response(value: Value) -> S3Result<S3Response<Body>> {
    let mut resp = S3Response::new(Body::from(value.to_string()));
    resp.headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn grants_json(key: &AccessKey) -> Value {
    match &key.grants {
        None => json!("root"),
        Some(g) => g
            .iter()
            .map(|(b, p)| json!({"bucket": b, "permission": p.name()}))
            .collect(),
    }
}

/// `bucket:permission`.
fn parse_grant(s: &str) -> S3Result<(String, Permission)> {
    let (bucket, p) = s.rsplit_once(':').ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "a grant is BUCKET:read|write|owner, not {:?}",
            s
        )
    })?;
    let p = Permission::parse(p).ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "permission must be read, write or owner, not {:?}",
            p
        )
    })?;
    if bucket.is_empty() {
        return Err(s3_error!(
            InvalidArgument,
            "a grant needs a bucket: {:?}",
            s
        ));
    }
    Ok((bucket.to_owned(), p))
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
        .collect()
}

impl AdminRoute {
    /// This gateway follows a change it made at once (the others within
    /// their refresh period).
    async fn refresh_map(&self) {
        if let Err(e) = self.data.refresh_nodes().await {
            tracing::warn!(error = %e, "reading the cluster map failed");
        }
        // A drained or removed node's chunks start moving at once.
        if let Some(w) = &self.workers {
            w.heal.wake();
        }
    }

    /// The `heal` and `gc` sections of `status`: this gateway's healer and
    /// collector (null when it runs none).
    fn workers_status(&self) -> (Value, Value, Value) {
        let Some(w) = &self.workers else {
            return (Value::Null, Value::Null, Value::Null);
        };
        let l = w.lifecycle.status();
        let lifecycle = json!({
            "scanned": l.scanned,
            "expired": l.expired,
            "noncurrent_removed": l.noncurrent_removed,
            "markers_removed": l.markers_removed,
            "uploads_aborted": l.uploads_aborted,
            "locked_kept": l.locked_kept,
            "rounds": l.rounds,
            "last_round_unix_ms": (l.last_round_ms > 0).then_some(l.last_round_ms),
        });
        let h = w.heal.stats().status();
        let g = w.gc.status();
        let heal = json!({
            "backlog": h.backlog,
            "unavailable": h.unavailable,
            "healed": h.healed,
            "moved": h.moved,
            "marked_durable": h.marked_durable,
            "objects_healed": h.objects_healed,
            "failed": h.failed,
            "rounds": h.rounds,
            "sweeps": h.sweeps,
            "quiet_rounds": h.quiet_rounds,
            "last_round_ms": h.last_round_ms,
            "last_sweep_ms": h.last_sweep_ms,
            "last_sweep_unix_ms": (h.last_sweep_unix_ms > 0).then_some(h.last_sweep_unix_ms),
            "lost_nodes": w.heal.lost_nodes(),
            "drain_backlog": h.drain_backlog,
            "drained": h.drained,
            "rebalance_backlog": h.rebalance_backlog,
            "rebalanced": h.rebalanced,
        });
        let gc = json!({
            "due": g.due,
            "entries_done": g.entries_done,
            "chunks_deleted": g.chunks_deleted,
            "chunk_failures": g.chunk_failures,
            "orphan_sweeps": g.orphan_sweeps,
            "orphans_deleted": g.orphans_deleted,
            "orphan_candidates": g.orphan_candidates,
            "orphan_quiet": g.orphan_quiet,
            "last_orphan_sweep_ms": g.last_orphan_sweep_ms,
            "last_orphan_check_ms": g.last_orphan_check_ms,
            "rounds": g.rounds,
        });
        (heal, gc, lifecycle)
    }

    /// Chunks some layout places on `node` (a scan of every layout).
    async fn referenced_chunks(&self, node: u32) -> S3Result<u64> {
        let (mut count, mut cursor) = (0u64, Vec::new());
        loop {
            let page = self
                .meta
                .scan_layouts(cursor, 500)
                .await
                .map_err(meta_err)?;
            count += page
                .entries
                .iter()
                .flat_map(|e| &e.parts)
                .flat_map(|p| &p.segments)
                .flat_map(|s| &s.chunks)
                .filter(|c| c.node == node)
                .count() as u64;
            match page.next {
                Some(next) => cursor = next,
                None => return Ok(count),
            }
        }
    }

    async fn status(&self) -> S3Result<Value> {
        let view = self.meta.cluster_status().await.map_err(meta_err)?;
        let buckets = self.meta.list_buckets().await.map_err(meta_err)?;
        let now = view.now_ms;
        let drain_left = self
            .workers
            .as_ref()
            .map(|w| w.heal.drain_left())
            .unwrap_or_default();
        // The scrubbers' progress, from the nodes that are up.
        let scrubs = futures::future::join_all(view.nodes.iter().map(|r| async move {
            if r.state == NodeState::Removed || !r.is_up(now) {
                return Value::Null;
            }
            match self.storage.status(&r.info.addr).await {
                Ok(st) => json!({
                    "passes": st.scrub.passes,
                    "chunks_checked": st.scrub.chunks_checked,
                    "bytes_checked": st.scrub.bytes_checked,
                    "last_pass_ms": st.scrub.last_pass_ms,
                    "corrupt": st.scrub.corrupt_count,
                }),
                Err(_) => Value::Null,
            }
        }))
        .await;
        let nodes: Vec<Value> = view
            .nodes
            .iter()
            .zip(scrubs)
            .map(|(r, scrub)| {
                let health = r.health.clone().unwrap_or_default();
                // Draining: the chunks left to move, as this gateway's
                // healer last counted them (null until it has).
                let left = (r.state != NodeState::Active)
                    .then(|| drain_left.get(&r.info.id).copied())
                    .flatten();
                json!({
                    "drain_chunks_left": left,
                    "scrub": scrub,
                    "drained": r.state == NodeState::Draining && left == Some(0),
                    "id": r.info.id,
                    "addr": r.info.addr,
                    "zone": r.info.zone,
                    "state": r.state_label(now),
                    "up": r.is_up(now),
                    "last_heartbeat_ms_ago": (r.last_heartbeat_ms > 0)
                        .then(|| now.saturating_sub(r.last_heartbeat_ms)),
                    "down_after_ms": health.down_after_ms,
                    "corrupt_chunks": health.corrupt_chunks,
                    "disks": health.disks.iter().map(|d| json!({
                        "path": d.path,
                        "chunks": d.chunks,
                        "used_bytes": d.used_bytes,
                        "capacity_bytes": d.capacity_bytes,
                        "available_bytes": d.available_bytes,
                        "error": d.error,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let (heal, gc, lifecycle) = self.workers_status();
        Ok(json!({
            "heal": heal,
            "gc": gc,
            "lifecycle": lifecycle,
            "encryption": self.encryption_status(),
            "region": self.region,
            "metadata": self.metadata_group().await,
            "epoch": view.epoch,
            // The map this gateway places new chunks by (it rereads it
            // every few seconds).
            "gateway_epoch": self.data.cluster_view().epoch,
            "buckets": buckets.len(),
            "nodes": nodes,
        }))
    }

    /// The metadata group as `status` shows it: every configured replica
    /// (and every member the leader names) asked for its Raft state; the
    /// leader's view gives each member's role and its lag, in log entries,
    /// behind the leader's last log entry.
    async fn metadata_group(&self) -> Value {
        fn host_port(addr: &str) -> String {
            let a = addr.trim().trim_end_matches('/');
            let a = a.strip_prefix("http://").unwrap_or(a);
            a.strip_prefix("https://").unwrap_or(a).to_string()
        }
        let ask = |addr: String| {
            let meta = self.meta.clone();
            async move {
                let answer = tokio::time::timeout(REPLICA_STATUS_WAIT, meta.raft_status(&addr))
                    .await
                    .ok()
                    .and_then(|r| r.ok());
                (host_port(&addr), answer)
            }
        };
        let mut views: Vec<(String, Option<RaftStatus>)> =
            futures::future::join_all(self.meta.addrs().iter().cloned().map(ask)).await;
        let leader = views
            .iter()
            .filter_map(|(_, v)| v.as_ref())
            .find(|v| v.state == "Leader")
            .cloned();
        if let Some(l) = &leader {
            // Members added after this gateway was configured.
            let extra: Vec<String> = l
                .members
                .iter()
                .map(|m| host_port(&m.addr))
                .filter(|a| views.iter().all(|(known, _)| known != a))
                .collect();
            views.extend(futures::future::join_all(extra.into_iter().map(ask)).await);
        }
        let own = |addr: &str| {
            views
                .iter()
                .find(|(a, _)| a == addr)
                .and_then(|(_, v)| v.clone())
        };
        let replica = |id: Option<u64>, addr: &str, role: &str, lag: Option<u64>, matched| {
            let view = own(addr);
            json!({
                "id": id.or(view.as_ref().map(|v| v.id)),
                "addr": addr,
                "role": role,
                "reachable": view.is_some(),
                "state": view.as_ref().map(|v| v.state.clone()),
                "term": view.as_ref().map(|v| v.term),
                "applied": view.as_ref().and_then(|v| v.applied),
                "matched": matched,
                "lag": lag,
            })
        };
        let mut replicas = Vec::new();
        if let Some(l) = &leader {
            for m in &l.members {
                let role = if m.id == l.id {
                    "leader"
                } else if m.voter {
                    "follower"
                } else {
                    "learner"
                };
                let lag = match (l.last_log, m.matched) {
                    (Some(last), Some(matched)) => Some(last.saturating_sub(matched)),
                    (None, _) => Some(0),
                    _ => None, // the leader has not heard from it yet
                };
                replicas.push(replica(
                    Some(m.id),
                    &host_port(&m.addr),
                    role,
                    lag,
                    m.matched,
                ));
            }
        }
        // Configured replicas outside the leader's membership (removed ones),
        // or all of them while no leader answers.
        for (addr, view) in &views {
            if replicas.iter().any(|r| r["addr"] == addr.as_str()) {
                continue;
            }
            let role = match (&leader, view) {
                (Some(_), _) => "not a member",
                (None, Some(v)) => &*v.state.to_lowercase(),
                (None, None) => "unreachable",
            };
            replicas.push(replica(None, addr, role, None, None));
        }
        json!({
            "addr": self.metadata_addr,
            "leader": leader.as_ref().map(|l| l.id),
            "term": leader.as_ref().map(|l| l.term),
            "last_log": leader.as_ref().and_then(|l| l.last_log),
            "replicas": replicas,
        })
    }

    async fn bucket_info(&self, bucket: &str) -> S3Result<Value> {
        let b = self
            .meta
            .get_bucket(bucket)
            .await
            .map_err(meta_err)?
            .ok_or_else(|| s3_error!(NoSuchBucket, "no bucket {}", bucket))?;
        let (mut objects, mut bytes, mut after) = (0u64, 0u64, None::<String>);
        loop {
            let page = self
                .meta
                .list_objects(bucket, "", None, after.as_deref(), 1000)
                .await
                .map_err(meta_err)?;
            objects += page.objects.len() as u64;
            bytes += page.objects.iter().map(|o| o.size).sum::<u64>();
            if !page.is_truncated || objects >= MAX_COUNTED {
                break;
            }
            after = page.next_marker;
        }
        // Keys that are users of their own, then users.
        let keys = self.meta.list_access_keys().await.map_err(meta_err)?;
        let mut grants: Vec<Value> = keys
            .iter()
            .filter_map(|k| {
                let g = k.grants.as_ref()?;
                let (_, p) = g.iter().find(|(name, _)| name == bucket)?;
                Some(json!({"access_key": k.access_key, "name": k.name, "permission": p.name()}))
            })
            .collect();
        let users = self.meta.list_users().await.map_err(meta_err)?;
        grants.extend(users.iter().filter(|u| !u.legacy).filter_map(|u| {
            let (_, p) = u.user.grants.iter().find(|(name, _)| name == bucket)?;
            Some(json!({"user": u.user.name, "permission": p.name()}))
        }));
        Ok(json!({
            "name": b.name,
            "region": b.region,
            "created_ms": b.created_ms,
            "objects": objects,
            "bytes": bytes,
            "counted_all": objects < MAX_COUNTED,
            "tags": b.tags,
            "grants": grants,
        }))
    }

    async fn node_remove(&self, id: u32, force: bool) -> S3Result<Value> {
        let view = self.meta.cluster_status().await.map_err(meta_err)?;
        view.nodes
            .iter()
            .find(|r| r.info.id == id)
            .ok_or_else(|| s3_error!(InvalidArgument, "no storage node {}", id))?;
        if !force {
            // What counts is what the catalogue still places on the node
            // (garbage it holds is nobody's loss).
            let chunks = self.referenced_chunks(id).await?;
            if chunks > 0 {
                return Err(s3_error!(
                    InvalidRequest,
                    "node {} still holds {} chunks that objects need; drain it first and wait until `shale admin status` shows it drained, or remove it with --force (its chunks are then lost until the healer rebuilds them)",
                    id,
                    chunks
                ));
            }
        }
        self.meta
            .set_node_state(id, NodeState::Removed)
            .await
            .map_err(meta_err)?;
        self.refresh_map().await;
        Ok(json!({"node": id, "state": "removed", "forced": force}))
    }
}

impl AdminRoute {
    /// Per (source bucket, destination bucket): the rules that send the
    /// one to the other, the queue's backlog (tasks, bytes, the oldest
    /// one's age, failed ones and the last error), read from metadata, and
    /// this gateway's worker's figures (copied, lag p50/p99/max over the
    /// last five minutes, bytes per second over the last minute, retries).
    async fn replication_status(&self, only: &str) -> S3Result<Value> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let (mut backlog, _) = shale_workers::replication::backlog(
            &self.meta,
            (!only.is_empty()).then_some(only),
            usize::MAX,
        )
        .await
        .map_err(meta_err)?;
        let pairs = self
            .workers
            .as_ref()
            .map(|w| w.replication.pairs())
            .unwrap_or_default();
        let mut keys: std::collections::BTreeSet<(String, String)> =
            backlog.keys().cloned().collect();
        for p in &pairs {
            if only.is_empty() || p.bucket == only {
                keys.insert((p.bucket.clone(), p.destination.clone()));
            }
        }
        // The rules of each pair, from the buckets' configurations: a rule
        // with nothing queued or copied yet is shown too.
        let buckets: Vec<String> = if only.is_empty() {
            let listed = self.meta.list_buckets().await.map_err(meta_err)?;
            listed.into_iter().map(|b| b.name).collect()
        } else {
            vec![only.to_owned()]
        };
        let mut rules: HashMap<(String, String), Vec<String>> = HashMap::new();
        for bucket in buckets {
            if let Some(BucketConfig::Replication(c)) = self
                .meta
                .get_bucket_config(&bucket, BucketConfigKind::Replication)
                .await
                .map_err(meta_err)?
            {
                for r in c.rules.iter().filter(|r| r.enabled) {
                    let pair = (bucket.clone(), r.destination.bucket.clone());
                    keys.insert(pair.clone());
                    rules.entry(pair).or_default().push(r.id.clone());
                }
            }
        }
        let rows: Vec<Value> = keys
            .into_iter()
            .map(|(bucket, destination)| {
                let b = backlog
                    .remove(&(bucket.clone(), destination.clone()))
                    .unwrap_or_default();
                let p = pairs
                    .iter()
                    .find(|p| p.bucket == bucket && p.destination == destination)
                    .cloned()
                    .unwrap_or_default();
                let rules = rules
                    .remove(&(bucket.clone(), destination.clone()))
                    .unwrap_or_default();
                json!({
                    "bucket": bucket,
                    "destination": destination,
                    "rules": rules,
                    "pending": b.tasks,
                    "pending_bytes": b.bytes,
                    "oldest_pending_ms": b.oldest_enqueued_ms.map(|o| (now - o).max(0)),
                    "failed_pending": b.failed,
                    "replicated": p.replicated,
                    "replicated_bytes": p.replicated_bytes,
                    "lag_p50_ms": p.lag_p50_ms,
                    "lag_p99_ms": p.lag_p99_ms,
                    "lag_max_ms": p.lag_max_ms,
                    "bytes_per_sec": p.bytes_per_sec,
                    "retries": p.retries,
                    "failed": p.failed,
                    "last_error": b.last_error.or(p.last_error),
                    "lag_history": p.lag_history,
                })
            })
            .collect();
        Ok(json!({"region": self.region, "pairs": rows}))
    }

    /// A key change made in a region that is not the namespace region:
    /// made there, then mirrored here at once.
    async fn pass_to_namespace(
        &self,
        ns: &str,
        op: &str,
        params: &[(String, String)],
    ) -> S3Result<Value> {
        let peer = self.regions.peer(ns).await.map_err(meta_err)?;
        let params: Vec<(&str, String)> = params
            .iter()
            .filter(|(k, _)| k != PARAM)
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let answer = peer.call("POST", op, &params).await.map_err(|e| match e {
            shale_common::admin_client::AdminError::Refused { code, message, .. } => {
                S3Error::with_message(code.parse().unwrap_or(S3ErrorCode::InternalError), message)
            }
            other => s3_error!(ServiceUnavailable, "the namespace region {}: {}", ns, other),
        })?;
        if let Err(e) = self.regions.sync_once().await {
            tracing::warn!(error = %e, "mirroring the namespace region's keys failed");
        }
        Ok(answer)
    }

    async fn region_list(&self) -> S3Result<Value> {
        let links = self.meta.list_regions().await.map_err(meta_err)?;
        Ok(json!({
            "region": self.region,
            "regions": links
                .iter()
                .map(|(name, l)| json!({
                    "name": name,
                    "endpoint": l.endpoint,
                    "access_key": l.access_key,
                    "namespace": l.namespace,
                }))
                .collect::<Vec<_>>(),
        }))
    }

    async fn region_add(
        &self,
        params: &[(String, String)],
        caller: Option<String>,
    ) -> S3Result<Value> {
        let name = required(params, "name")?;
        let endpoint = required(params, "endpoint")?.trim_end_matches('/');
        if !endpoint.starts_with("http://") || endpoint.len() <= "http://".len() {
            return Err(s3_error!(
                InvalidArgument,
                "endpoint must be http://HOST:PORT, not {:?}",
                endpoint
            ));
        }
        let access_key = match param(params, "access_key").filter(|k| !k.is_empty()) {
            Some(k) => k.to_owned(),
            None => caller.ok_or_else(|| s3_error!(InvalidArgument, "missing access_key"))?,
        };
        let namespace = match param(params, "namespace").unwrap_or("false") {
            "true" => true,
            "false" => false,
            other => {
                return Err(s3_error!(
                    InvalidArgument,
                    "namespace must be true or false, not {:?}",
                    other
                ));
            }
        };
        let link = shale_metadata::RegionLink {
            endpoint: endpoint.to_owned(),
            access_key: access_key.clone(),
            namespace,
        };
        self.meta
            .put_region(name, Some(link))
            .await
            .map_err(meta_err)?;
        self.regions.forget_links();
        Ok(
            json!({"name": name, "endpoint": endpoint, "access_key": access_key, "namespace": namespace}),
        )
    }

    /// Owner on `bucket` for `owner`, when it is a key with grants.
    async fn grant_owner(&self, owner: &str, bucket: &str) -> S3Result<()> {
        if let Some(key) = self.meta.get_access_key(owner).await.map_err(meta_err)?
            && !key.is_root()
        {
            self.meta
                .set_grant(owner, bucket, Some(Permission::Owner))
                .await
                .map_err(meta_err)?;
            self.keys.forget(owner);
        }
        Ok(())
    }

    /// CreateBucket with this region's `LocationConstraint`, sent from
    /// another region on behalf of `owner`.
    async fn region_create_bucket(&self, params: &[(String, String)]) -> S3Result<Value> {
        let bucket = required(params, "bucket")?;
        let owner = match param(params, "owner") {
            Some(o) => self.keys.get(o).await.map_err(meta_err)?,
            None => None,
        };
        let configs = if param(params, "object_lock") == Some("true") {
            vec![
                BucketConfig::Versioning(shale_metadata::VersioningStatus::Enabled),
                BucketConfig::ObjectLock(shale_metadata::ObjectLockConfig::default()),
            ]
        } else {
            Vec::new()
        };
        self.regions
            .create_here(bucket, owner.as_deref(), configs)
            .await
            .map_err(meta_err)?;
        if let Some(k) = owner.filter(|k| !k.is_root()) {
            self.grant_owner(k.access_key(), bucket).await?;
            self.regions
                .share_grant(k.access_key(), bucket, Some(Permission::Owner))
                .await
                .map_err(meta_err)?;
        }
        Ok(json!({"bucket": bucket, "region": self.region}))
    }
}

#[async_trait::async_trait]
impl S3Route for AdminRoute {
    fn is_match(
        &self,
        _method: &Method,
        uri: &Uri,
        _headers: &HeaderMap,
        _: &mut Extensions,
    ) -> bool {
        uri.path() == "/" && params(uri).iter().any(|(k, _)| k == PARAM)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let Some(credentials) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        let key = self
            .keys
            .get(&credentials.access_key)
            .await
            .map_err(meta_err)?;
        match key {
            Some(k) if k.is_root() => Ok(()),
            _ => Err(s3_error!(AccessDenied, "the admin API needs a root key")),
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let params = params(&req.uri);
        let op = param(&params, PARAM).unwrap_or_default().to_owned();
        let reading = matches!(
            op.as_str(),
            "status"
                | "bucket-list"
                | "bucket-info"
                | "key-list"
                | "user-list"
                | "user-policy-get"
                | "kms-key-list"
                | "region-users"
                | "region-list"
                | "region-locate"
                | "region-claims"
                | "region-keys"
                | "region-bucket"
                | "replication-status"
                | "replication-resync-total"
        );
        let method_ok = if reading {
            req.method == Method::GET
        } else {
            req.method == Method::POST
        };
        if !method_ok && !op.is_empty() {
            return Err(s3_error!(
                MethodNotAllowed,
                "admin operation {} takes {}",
                op,
                if reading { "GET" } else { "POST" }
            ));
        }
        tracing::info!(operation = %op, "admin request");
        let answer = match op.as_str() {
            "status" => self.status().await?,
            "bucket-list" => {
                let buckets = self.meta.list_buckets().await.map_err(meta_err)?;
                buckets
                    .iter()
                    .map(
                        |b| json!({"name": b.name, "region": b.region, "created_ms": b.created_ms}),
                    )
                    .collect()
            }
            "bucket-info" => self.bucket_info(required(&params, "bucket")?).await?,
            "node-drain" | "node-undrain" => {
                let id = node_id(&params)?;
                let state = if op == "node-drain" {
                    NodeState::Draining
                } else {
                    NodeState::Active
                };
                self.meta
                    .set_node_state(id, state)
                    .await
                    .map_err(meta_err)?;
                self.refresh_map().await;
                let label = if op == "node-drain" {
                    "draining"
                } else {
                    "active"
                };
                json!({"node": id, "state": label})
            }
            "node-remove" => {
                let force = param(&params, "force") == Some("true");
                self.node_remove(node_id(&params)?, force).await?
            }
            "key-create" | "key-delete" | "key-grant" | "key-disable" | "key-enable"
            | "key-rotate" | "user-create" | "user-delete" | "user-policy-set"
            | "user-policy-delete"
                if let Some(ns) = self.regions.namespace_elsewhere().await.map_err(meta_err)? =>
            {
                self.pass_to_namespace(&ns, &op, &params).await?
            }
            "key-create" => self.key_create(&params).await?,
            "key-list" => self.key_list().await?,
            "key-delete" => self.key_delete(required(&params, "access_key")?).await?,
            "key-grant" => self.key_grant(&params).await?,
            "key-disable" | "key-enable" => {
                let key = required(&params, "access_key")?;
                self.key_set_disabled(key, op == "key-disable").await?
            }
            "key-rotate" => self.key_rotate(required(&params, "access_key")?).await?,
            "user-create" => self.user_create(required(&params, "name")?).await?,
            "user-list" => self.user_list().await?,
            "user-delete" => self.user_delete(required(&params, "name")?).await?,
            "user-policy-set" => {
                let name = required(&params, "name")?;
                self.user_policy_set(name, Some(required(&params, "policy")?))
                    .await?
            }
            "user-policy-get" => self.user_policy_get(required(&params, "name")?).await?,
            "user-policy-delete" => {
                self.user_policy_set(required(&params, "name")?, None)
                    .await?
            }
            "kms-key-create" => {
                self.kms_key_create(param(&params, "description").unwrap_or(""))
                    .await?
            }
            "kms-key-list" => self.kms_key_list().await?,
            "kms-key-enable" | "kms-key-disable" => {
                let id = required(&params, "id")?;
                self.kms_key_set_enabled(id, op == "kms-key-enable").await?
            }
            "kms-key-rotate" => self.kms_key_rotate(required(&params, "id")?).await?,
            "sse-reseal" => {
                if let Some(w) = &self.workers {
                    w.rekey_wake.notify_one();
                }
                self.encryption_status()
            }
            "region-users" => self.region_users().await?,
            "region-list" => self.region_list().await?,
            "region-add" => {
                let caller = req.credentials.as_ref().map(|c| c.access_key.clone());
                self.region_add(&params, caller).await?
            }
            "region-remove" => {
                let name = required(&params, "name")?;
                self.meta.put_region(name, None).await.map_err(meta_err)?;
                self.regions.forget_links();
                json!({"removed": name})
            }
            "region-claim" => {
                let bucket = required(&params, "bucket")?;
                let region = required(&params, "region")?;
                self.meta
                    .claim_bucket(bucket, region, param(&params, "owner"))
                    .await
                    .map_err(meta_err)?;
                if let Some(owner) = param(&params, "owner") {
                    self.grant_owner(owner, bucket).await?;
                }
                json!({"bucket": bucket, "region": region})
            }
            "region-release" => {
                let bucket = required(&params, "bucket")?;
                let region = required(&params, "region")?;
                self.meta
                    .release_bucket(bucket, region)
                    .await
                    .map_err(meta_err)?;
                json!({"bucket": bucket, "released": region})
            }
            "region-locate" => {
                let claim = self
                    .meta
                    .get_claim(required(&params, "bucket")?)
                    .await
                    .map_err(meta_err)?;
                json!({"region": claim.map(|c| c.region)})
            }
            "region-claims" => {
                let claims = self
                    .meta
                    .list_claims(param(&params, "region").unwrap_or(""))
                    .await
                    .map_err(meta_err)?;
                crate::regions::claims_json(&claims)
            }
            "region-keys" => {
                let keys = self.meta.list_access_keys().await.map_err(meta_err)?;
                serde_json::to_value(keys)
                    .map_err(|e| s3_error!(InternalError, "encoding keys: {}", e))?
            }
            "region-create-bucket" => self.region_create_bucket(&params).await?,
            "replication-status" => {
                self.replication_status(param(&params, "bucket").unwrap_or(""))
                    .await?
            }
            "replication-resync" => {
                let bucket = required(&params, "bucket")?;
                let older_than_ms = match param(&params, "older_than_ms") {
                    Some(v) => Some(v.parse::<i64>().map_err(|_| {
                        s3_error!(InvalidArgument, "older_than_ms must be a time in ms")
                    })?),
                    None => None,
                };
                let restart = param(&params, "restart") == Some("true");
                let page = self
                    .meta
                    .replication_resync(bucket, older_than_ms, restart, 1000)
                    .await
                    .map_err(meta_err)?;
                json!({"bucket": bucket, "scanned": page.scanned, "queued": page.queued, "done": page.done})
            }
            "replication-resync-total" => {
                let bucket = required(&params, "bucket")?;
                let mut marker: (Option<String>, Option<shale_metadata::VersionRef>) = (None, None);
                let mut total: u64 = 0;
                loop {
                    let page = self
                        .meta
                        .list_versions(bucket, "", None, marker, 1000)
                        .await
                        .map_err(meta_err)?;
                    total += page.versions.len() as u64;
                    if !page.is_truncated {
                        break;
                    }
                    marker = (
                        page.next_key_marker,
                        shale_metadata::VersionRef::parse(page.next_version_id_marker.as_deref())
                            .ok(),
                    );
                }
                json!({"bucket": bucket, "versions": total})
            }
            "replication-retry" => {
                let bucket = param(&params, "bucket").unwrap_or("");
                let n = self
                    .meta
                    .replication_retry(bucket)
                    .await
                    .map_err(meta_err)?;
                json!({"bucket": bucket, "retried": n})
            }
            "region-bucket" => {
                let bucket = required(&params, "bucket")?;
                let versioning = match self
                    .meta
                    .get_bucket_config(bucket, BucketConfigKind::Versioning)
                    .await
                {
                    Ok(Some(BucketConfig::Versioning(v))) => Some(match v {
                        shale_metadata::VersioningStatus::Enabled => "Enabled",
                        shale_metadata::VersioningStatus::Suspended => "Suspended",
                    }),
                    Ok(_) => None,
                    Err(MetaError::NoSuchBucket) => {
                        return Err(s3_error!(NoSuchBucket, "no bucket {}", bucket));
                    }
                    Err(e) => return Err(meta_err(e)),
                };
                json!({"bucket": bucket, "region": self.region, "versioning": versioning})
            }
            other => {
                return Err(s3_error!(
                    InvalidArgument,
                    "unknown admin operation {:?}",
                    other
                ));
            }
        };
        json_response(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_as_bucket_and_level() {
        assert_eq!(
            parse_grant("photos:read").unwrap(),
            ("photos".to_owned(), Permission::Read)
        );
        assert!(parse_grant("photos").is_err());
        assert!(parse_grant("photos:admin").is_err());
        assert!(parse_grant(":read").is_err());
    }
}
