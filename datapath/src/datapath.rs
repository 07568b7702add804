//! The erasure-coded data path: body → segments → shards → chunks, and back.
//!
//! PUT: the body is read as it arrives and cut into segments of
//! `segment_size` bytes; each segment is encoded into `k + m` shards and
//! written as chunks to `k + m` distinct nodes in parallel, while the next
//! segment is read (at most [`WRITES_IN_FLIGHT`] segments are held, whatever
//! the object's size). A segment counts as written when at least `k + 1` of
//! its chunks are durable; chunks that failed are recorded as not durable so
//! the healer can rebuild them. Bodies below the inline threshold never reach
//! the storage nodes: they are kept in the object row.
//!
//! Slow nodes (a stalled process, a dying disk) must not stall a request.
//! A segment's chunk writes are waited for until `k + 1` are durable, then
//! the others get a little longer ([`DataPathConfig::straggler_wait`], or
//! twice the time the quorum took, whichever is longer) and are abandoned:
//! the segment is recorded with them not durable, for the healer.
//!
//! GET: a byte range is mapped to the segments, and within each segment to
//! the data shards, that hold it; only those byte ranges of those chunks are
//! read (the storage node reads only the blocks covering them). When any of
//! them fails, or has not answered within [`DataPathConfig::hedge_after`]
//! (a hedged read), the same range is read from all `k + m` chunks and the
//! data is rebuilt from the first `k` that answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use shale_common::{ChunkPlacement, Coding, NodeId, NodeInfo, PartLayout, SegmentLayout};
use shale_metadata::{ClusterView, MetaClient};
use shale_storage_node::StorageClient;

use crate::ec::Codec;
use crate::error::{Error, Result};
use crate::md5x::Md5Stream;
use crate::placement::{candidates, place};

/// Segments being written at once by one PUT (bounds its memory).
pub const WRITES_IN_FLIGHT: usize = 2;
/// Segments being read ahead by one GET (bounds its memory).
pub const READS_AHEAD: usize = 2;
/// Largest single PUT or part, as in S3.
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Age after which the orphan sweep (`shale_workers::gc`) may remove chunks
/// no row names; a body must commit within half of it (the commit deadline).
pub const DEFAULT_ORPHAN_GRACE_SECS: u64 = 3600;

/// Tunables of the data path.
#[derive(Clone, Debug)]
pub struct DataPathConfig {
    pub coding: Coding,
    /// Bytes per segment (before coding).
    pub segment_size: usize,
    /// Bodies of at most this many bytes are stored inline in metadata.
    pub inline_threshold: usize,
    /// A chunk read slower than this is given up and rebuilt from parity.
    pub read_timeout: Duration,
    /// A chunk write slower than this counts as failed.
    pub write_timeout: Duration,
    /// Data-shard reads that have not all answered after this long are
    /// backed up by reading every chunk of the segment (hedged read).
    pub hedge_after: Duration,
    /// Once `k + 1` chunks of a segment are durable, the others are waited
    /// for at most this long (or twice the time the quorum took, if longer).
    pub straggler_wait: Duration,
    /// A body whose chunks were started longer ago than this is not
    /// committed (`RequestTimeout`): the garbage collector's orphan sweep
    /// may remove unreferenced chunks older than twice this (see `gc.rs`).
    pub commit_deadline: Duration,
}

impl Default for DataPathConfig {
    fn default() -> Self {
        DataPathConfig {
            coding: Coding::default(),
            segment_size: 4 * 1024 * 1024,
            inline_threshold: 64 * 1024,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            hedge_after: Duration::from_millis(250),
            straggler_wait: Duration::from_secs(1),
            commit_deadline: Duration::from_secs(DEFAULT_ORPHAN_GRACE_SECS / 2),
        }
    }
}

/// Where and how a body is to be written.
#[derive(Clone, Copy, Debug)]
pub struct WriteTarget<'a> {
    /// Chunk ids start with this (unique per version or part upload).
    pub chunk_prefix: &'a str,
    /// Part number (1 for a single-part object).
    pub part_number: u32,
    /// Keep the body inline in metadata when it is small enough.
    pub allow_inline: bool,
    /// The announced length: a body of another length is rejected.
    pub expected_len: Option<u64>,
    /// Seal the body under this object key (`shale_common::sse`): the
    /// chunks (or the inline bytes) hold only sealed blocks. A body that may
    /// not be inline (a multipart upload's part) is sealed under a key
    /// derived from this one and its `chunk_prefix`.
    pub key: Option<&'a shale_common::sse::ObjectKey>,
}

/// What a body became once written.
pub struct Written {
    /// `Some(bytes)` when the body was small enough to be kept inline.
    pub inline: Option<Bytes>,
    /// The erasure-coded layout otherwise (also for empty parts).
    pub part: PartLayout,
    /// MD5 of the body.
    pub md5: [u8; 16],
}

/// The data path of one gateway; shared by all requests.
pub struct DataPath {
    config: DataPathConfig,
    codec: Arc<Codec>,
    storage: StorageClient,
    meta: MetaClient,
    nodes: RwLock<Arc<Vec<NodeInfo>>>,
    /// The cluster map as last read (states, heartbeats): where new chunks
    /// may go. Refreshed every [`MAP_REFRESH`] and when a placement fails.
    view: RwLock<Arc<ClusterView>>,
    /// When `view` was read.
    view_read: std::sync::Mutex<Option<std::time::Instant>>,
    /// Where reads report chunks a node says it does not have (the healer).
    missing: Option<tokio::sync::mpsc::Sender<(NodeId, String)>>,
    /// Nodes that answered "disk full", and until when they are left out of
    /// new placements.
    full: std::sync::Mutex<HashMap<NodeId, std::time::Instant>>,
    /// The master keys objects' keys are sealed under (server-side
    /// encryption).
    sse: crate::sse::Keys,
    /// The built-in key service's keys (SSE-KMS), as last read.
    kms: crate::sse::KmsKeys,
}

impl DataPath {
    /// The client it talks to storage nodes with (signed with the
    /// cluster's credential).
    pub fn storage(&self) -> &StorageClient {
        &self.storage
    }

    /// A data path writing with `config.coding` through `storage`, with the
    /// cluster map read from `meta`.
    pub fn new(config: DataPathConfig, storage: StorageClient, meta: MetaClient) -> Result<Self> {
        let codec = Arc::new(Codec::new(config.coding)?);
        Ok(DataPath {
            config,
            codec,
            storage,
            meta,
            nodes: RwLock::new(Arc::new(Vec::new())),
            view: RwLock::new(Arc::new(ClusterView {
                epoch: 0,
                now_ms: 0,
                nodes: Vec::new(),
            })),
            view_read: std::sync::Mutex::new(None),
            missing: None,
            full: std::sync::Mutex::default(),
            sse: crate::sse::Keys::default(),
            kms: crate::sse::KmsKeys::default(),
        })
    }

    /// The same data path with the master keys of server-side encryption.
    pub fn with_sse_keys(mut self, keys: crate::sse::Keys) -> Self {
        self.sse = keys;
        self
    }

    /// The master keys of server-side encryption.
    pub fn sse_keys(&self) -> &crate::sse::Keys {
        &self.sse
    }

    /// The KMS keys' cache.
    pub(crate) fn kms(&self) -> &crate::sse::KmsKeys {
        &self.kms
    }

    /// The metadata client it reads the cluster map (and KMS keys) with.
    pub fn meta_client(&self) -> &MetaClient {
        &self.meta
    }

    /// Nodes left out of placements because their disk is full.
    fn full_nodes(&self) -> Vec<NodeId> {
        let mut full = self.full.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        full.retain(|_, until| *until > now);
        full.keys().copied().collect()
    }

    /// Leaves `nodes` out of new placements for a while (their disk is full;
    /// they are tried again after [`FULL_NODE_BACKOFF`]).
    fn mark_full(&self, nodes: &[NodeId]) {
        if nodes.is_empty() {
            return;
        }
        let until = std::time::Instant::now() + FULL_NODE_BACKOFF;
        let mut full = self.full.lock().unwrap_or_else(|e| e.into_inner());
        for node in nodes {
            full.insert(*node, until);
        }
    }

    /// Reports every chunk a read finds missing on its node to `to` (the
    /// healer), dropping reports when it is behind.
    pub fn report_missing_to(mut self, to: tokio::sync::mpsc::Sender<(NodeId, String)>) -> Self {
        self.missing = Some(to);
        self
    }

    /// Refuses to commit a body whose chunks (named by `chunk_prefix`, from
    /// [`new_chunk_prefix`]) were started more than the commit deadline ago.
    pub fn check_commit_deadline(&self, chunk_prefix: &str) -> Result<()> {
        let Some(started) = chunk_written_ms(chunk_prefix) else {
            return Ok(());
        };
        let age = Duration::from_millis(unix_ms().saturating_sub(started));
        if age > self.config.commit_deadline {
            return Err(Error::TooSlow(format!(
                "chunks started {}s ago, deadline {}s",
                age.as_secs(),
                self.config.commit_deadline.as_secs()
            )));
        }
        Ok(())
    }

    /// The data path's tunables.
    pub fn config(&self) -> &DataPathConfig {
        &self.config
    }

    /// Reloads the cluster map from the metadata service.
    pub async fn refresh_nodes(&self) -> Result<()> {
        let view = self.meta.cluster_status().await?;
        let nodes: Vec<NodeInfo> = view.nodes.iter().map(|r| r.info.clone()).collect();
        let poisoned = || Error::Internal("node map lock poisoned".into());
        let epoch = view.epoch;
        let old = std::mem::replace(
            &mut *self.view.write().map_err(|_| poisoned())?,
            Arc::new(view),
        );
        *self.nodes.write().map_err(|_| poisoned())? = Arc::new(nodes);
        *self.view_read.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
        if old.epoch != epoch {
            tracing::info!(epoch, "cluster map changed");
        }
        Ok(())
    }

    /// Rereads the cluster map unless it was read less than
    /// [`MAP_MIN_AGE`] ago (a degraded cluster must not cost one more RPC
    /// per segment).
    async fn refresh_if_old(&self) -> Result<()> {
        let fresh = self
            .view_read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < MAP_MIN_AGE);
        if fresh {
            return Ok(());
        }
        self.refresh_nodes().await
    }

    /// Rereads the cluster map once it is [`MAP_MIN_AGE`] old (waiting for
    /// that if it is younger): for a write that would be refused with the
    /// map as it is.
    async fn refresh_soon(&self) -> Result<()> {
        let age = self
            .view_read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|at| at.elapsed());
        if let Some(age) = age.filter(|a| *a < MAP_MIN_AGE) {
            tokio::time::sleep(MAP_MIN_AGE - age).await;
        }
        self.refresh_nodes().await
    }

    /// The cluster map as last read.
    pub fn cluster_view(&self) -> Arc<ClusterView> {
        self.view
            .read()
            .map(|v| Arc::clone(&v))
            .unwrap_or_else(|e| Arc::clone(&e.into_inner()))
    }

    /// Follows the cluster map: refreshes it every [`MAP_REFRESH`] until
    /// `stop` turns true.
    pub async fn follow_map(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(MAP_REFRESH) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.refresh_nodes().await {
                tracing::warn!(error = %e, "reading the cluster map failed");
            }
        }
    }

    /// The nodes for the `total` chunks of segment `key`, in shard order;
    /// `false` marks a down or draining node named only to keep the
    /// layout's shape (its chunk is not written; the healer rebuilds it). See
    /// [`crate::placement::candidates`].
    async fn choose(&self, key: &str, total: usize) -> Result<Vec<(NodeInfo, bool)>> {
        let needed = (self.config.coding.k as usize + 1).min(total);
        let mut refreshed = false;
        loop {
            let view = self.cluster_view();
            let full = self.full_nodes();
            let (usable, standby) = candidates(&view, &full);
            let mut chosen: Vec<(NodeInfo, bool)> = place(key, &usable, total)
                .into_iter()
                .map(|n| (n.clone(), true))
                .collect();
            if chosen.len() < total && !refreshed {
                // The map may be stale (a node joined or came back).
                refreshed = true;
                if chosen.len() < needed {
                    // Refused otherwise: worth waiting for a fresh map,
                    // even one read a moment ago may predate the nodes.
                    self.refresh_soon().await?;
                } else {
                    self.refresh_if_old().await?;
                }
                continue;
            }
            if chosen.len() < total && chosen.len() >= needed {
                let rest = place(key, &standby, total - chosen.len());
                chosen.extend(rest.into_iter().map(|n| (n.clone(), false)));
            }
            if chosen.len() < total {
                let why = format!(
                    "{} usable nodes for {total} shards ({} with full disks, {} down or draining)",
                    usable.len(),
                    full.len(),
                    standby.len()
                );
                return Err(if full.is_empty() {
                    Error::NotEnoughNodes(why)
                } else {
                    Error::InsufficientStorage(why)
                });
            }
            return Ok(chosen);
        }
    }

    fn nodes(&self) -> Arc<Vec<NodeInfo>> {
        self.nodes
            .read()
            .map(|n| Arc::clone(&n))
            .unwrap_or_default()
    }

    async fn node_addrs(&self) -> Result<HashMap<NodeId, String>> {
        let mut nodes = self.nodes();
        if nodes.is_empty() {
            self.refresh_nodes().await?;
            nodes = self.nodes();
        }
        Ok(nodes.iter().map(|n| (n.id, n.addr.clone())).collect())
    }

    /// Reads `body` to its end and stores it: inline when the target allows
    /// it and it fits, erasure-coded otherwise. `observe` sees every body
    /// byte in order (checksums).
    pub async fn write_body<S, E>(
        self: &Arc<Self>,
        mut body: S,
        target: WriteTarget<'_>,
        mut observe: impl FnMut(&[u8]),
    ) -> Result<Written>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        let segment_size = self.config.segment_size;
        let mut md5 = Md5Stream::new();
        let mut total: u64 = 0;
        let first_cap = match target.expected_len {
            Some(n) => (n as usize).min(segment_size),
            None => self.config.inline_threshold.min(segment_size),
        };
        let mut buf = BytesMut::with_capacity(first_cap);
        let mut writer = SegmentWriter::new(Arc::clone(self), &target);
        // Sealed, a segment is whole sealed blocks (a few bytes over
        // `segment_size`), written where they were sealed: no copy.
        // A part of a multipart upload (never inline) is sealed under a
        // key of its own write: the upload's key is shared by its parts, and
        // a part may be sent again (`sse::part_key`).
        let write_key = target
            .key
            .filter(|_| !target.allow_inline)
            .map(|k| k.for_write(target.chunk_prefix.as_bytes()));
        let mut sealer = write_key.as_ref().or(target.key).map(|k| {
            shale_common::sse::SegmentSealer::new(
                k,
                target.part_number,
                segment_size / shale_common::sse::BLOCK,
                target.expected_len,
            )
        });
        let mut sealed: Vec<Bytes> = Vec::new();

        while let Some(item) = body.next().await {
            let bytes = item.map_err(Into::into)?;
            total += bytes.len() as u64;
            if total > MAX_PUT_SIZE {
                return Err(Error::EntityTooLarge);
            }
            if let Some(expected) = target.expected_len
                && total > expected
            {
                return Err(Error::IncompleteBody(format!(
                    "body is longer than the Content-Length {expected}"
                )));
            }
            observe(&bytes);
            // The hashing thread takes the body's own pieces (no copy).
            md5.update(bytes.clone()).await;
            match sealer.as_mut() {
                None => fill_segments(&mut buf, &mut writer, bytes, segment_size).await?,
                Some(s) => {
                    s.push(&bytes, &mut sealed);
                    for segment in sealed.drain(..) {
                        writer.push(segment).await?;
                    }
                }
            }
        }
        if let Some(expected) = target.expected_len
            && total != expected
        {
            return Err(Error::IncompleteBody(format!(
                "body has {total} bytes, Content-Length said {expected}"
            )));
        }
        let tail = match sealer {
            None => buf.split().freeze(),
            Some(s) => {
                s.finish(&mut sealed);
                let last = sealed.pop().unwrap_or_default();
                for segment in sealed.drain(..) {
                    writer.push(segment).await?;
                }
                last
            }
        };
        // Sealed, a small body is its plaintext length that counts (its
        // blocks' nonces and tags ride along).
        let kept = if target.key.is_some() {
            total
        } else {
            tail.len() as u64
        };
        let inline =
            target.allow_inline && writer.is_empty() && kept <= self.config.inline_threshold as u64;
        let inline = if inline {
            Some(tail)
        } else {
            // The last segment goes out before the MD5 is awaited: its
            // chunk writes and the hashing overlap.
            if !tail.is_empty() {
                writer.push(tail).await?;
            }
            None
        };
        let md5: [u8; 16] = md5.finalize().await;
        let mut part = PartLayout {
            number: target.part_number,
            size: total,
            etag: hex::encode(md5),
            coding: self.config.coding,
            segments: Vec::new(),
        };
        if inline.is_some() {
            return Ok(Written { inline, part, md5 });
        }
        part.segments = writer.finish().await?;
        Ok(Written {
            inline: None,
            part,
            md5,
        })
    }

    /// Encodes one segment and writes its `k + m` chunks in parallel.
    async fn write_segment(&self, segment: Bytes, key: String) -> Result<SegmentLayout> {
        let k = self.config.coding.k as usize;
        let total = k + self.config.coding.m as usize;
        let codec = Arc::clone(&self.codec);
        let seg_for_encode = segment.clone();
        // Encoding is CPU work: keep it off the executor threads.
        let shards = tokio::task::spawn_blocking(move || codec.encode(&seg_for_encode))
            .await
            .map_err(|e| Error::Internal(format!("encoder task: {e}")))??;
        let shard_size = shards.first().map_or(0, Bytes::len) as u64;

        let chosen = self.choose(&key, total).await?;
        let writes = chosen
            .iter()
            .zip(shards)
            .enumerate()
            .map(|(i, ((node, up), shard))| {
                let chunk_id = format!("{key}.{i}");
                let addr = node.addr.clone();
                let storage = self.storage.clone();
                let timeout = self.config.write_timeout;
                let node_id = node.id;
                let up = *up;
                async move {
                    if !up {
                        // A down, draining or full node: the chunk is left
                        // to the healer.
                        return (i, false, None);
                    }
                    let written =
                        tokio::time::timeout(timeout, storage.put_chunk(&addr, &chunk_id, shard))
                            .await;
                    let full = matches!(written, Ok(Err(shale_storage_node::Error::DiskFull(_))));
                    let ok = matches!(written, Ok(Ok(())));
                    if !ok {
                        tracing::warn!(%chunk_id, %addr, full, "chunk write failed");
                    }
                    (i, ok, full.then_some(node_id))
                }
            });
        let needed = (k + 1).min(total);
        let outcomes = wait_for_writes(writes.collect(), needed, self.config.straggler_wait).await;
        let mut results: Vec<(String, bool)> =
            (0..total).map(|i| (format!("{key}.{i}"), false)).collect();
        let mut filled: Vec<NodeId> = Vec::new();
        for (i, ok, full) in outcomes {
            results[i].1 = ok;
            filled.extend(full);
        }
        self.mark_full(&filled);
        let durable = results.iter().filter(|(_, ok)| *ok).count();
        let tried = chosen.iter().filter(|(_, up)| *up).count();
        if durable < tried && filled.is_empty() {
            // A node failed that the map says is up: it may be down now.
            if let Err(e) = self.refresh_if_old().await {
                tracing::warn!(error = %e, "reading the cluster map failed");
            }
        }
        if durable < needed {
            let why = format!("{durable} of {total} chunks of {key} durable, {needed} needed");
            let full = self.full_nodes();
            let skipped_full = chosen.iter().any(|(n, up)| !*up && full.contains(&n.id));
            return Err(if filled.is_empty() && !skipped_full {
                Error::WriteQuorum(why)
            } else {
                Error::InsufficientStorage(why)
            });
        }
        let chunks = chosen
            .iter()
            .zip(results)
            .map(|((node, _), (chunk_id, ok))| ChunkPlacement {
                node: node.id,
                chunk_id,
                durable: ok,
            })
            .collect();
        Ok(SegmentLayout {
            size: segment.len() as u64,
            shard_size,
            chunks,
        })
    }

    /// Streams bytes `[start, end)` of the concatenated `parts`. The first
    /// segment is read before this returns, so an unreadable object fails
    /// with an error status rather than an aborted body.
    pub async fn read_range(
        self: &Arc<Self>,
        parts: &[PartLayout],
        start: u64,
        end: u64,
    ) -> Result<ChunkStream> {
        let pieces = segment_pieces(parts, start, end);
        let addrs = Arc::new(self.node_addrs().await?);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Bytes>>>(READS_AHEAD);
        let this = Arc::clone(self);
        tokio::spawn(shale_common::rpc::inherit_request_id(async move {
            let reads = futures::stream::iter(pieces)
                .map(
                    |SegmentPiece {
                         coding,
                         segment: seg,
                         lo,
                         hi,
                     }| {
                        let this = Arc::clone(&this);
                        let addrs = Arc::clone(&addrs);
                        async move { this.read_segment_range(coding, &seg, lo, hi, &addrs).await }
                    },
                )
                .buffered(READS_AHEAD);
            futures::pin_mut!(reads);
            while let Some(item) = reads.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        }));
        let first = rx.recv().await.transpose()?.unwrap_or_default();
        Ok(ChunkStream {
            pending: first.into(),
            rx,
        })
    }

    /// Bytes `[lo, hi)` of one segment, as the pieces read (one per data
    /// shard touched): they go to the client as they are, without a copy.
    async fn read_segment_range(
        &self,
        coding: Coding,
        seg: &SegmentLayout,
        lo: u64,
        hi: u64,
        addrs: &HashMap<NodeId, String>,
    ) -> Result<Vec<Bytes>> {
        let s = seg.shard_size;
        if s == 0 {
            return Ok(Vec::new());
        }
        let spans = shard_spans(lo, hi, s);
        // Fast path: read just the needed ranges of the data shards, unless
        // one fails or they are not all back within `hedge_after`.
        let reads = spans.iter().map(|&(i, shard_lo, shard_hi)| {
            self.read_chunk(seg.chunks.get(i), addrs, shard_lo, shard_hi)
        });
        let fast = async {
            let mut reads: futures::stream::FuturesOrdered<_> = reads.collect();
            let mut out = Vec::with_capacity(spans.len());
            while let Some(piece) = reads.next().await {
                out.push(piece?);
            }
            Some(out)
        };
        if let Ok(Some(pieces)) = tokio::time::timeout(self.config.hedge_after, fast).await {
            return Ok(pieces);
        }

        // Degraded path: read the same shard range from every chunk, rebuild from any k.
        // One shard range [a, b) that covers every span: the same range of
        // every shard is what the code needs to rebuild those bytes.
        let a = spans.iter().map(|&(_, l, _)| l).min().unwrap_or(0);
        let b = spans.iter().map(|&(_, _, h)| h).max().unwrap_or(0);
        tracing::warn!(chunk = %seg.chunks.first().map(|c| c.chunk_id.as_str()).unwrap_or(""), "degraded or slow read: rebuilding from parity");
        let k = coding.k as usize;
        let mut reads: futures::stream::FuturesUnordered<_> = seg
            .chunks
            .iter()
            .enumerate()
            .map(|(i, c)| async move { (i, self.read_chunk(Some(c), addrs, a, b).await) })
            .collect();
        // The first k answers are enough; a stalled node is not waited for.
        let mut shards: Vec<Option<Bytes>> = vec![None; seg.chunks.len()];
        let mut got = 0;
        while got < k {
            let Some((i, piece)) = reads.next().await else {
                break;
            };
            got += usize::from(piece.is_some());
            shards[i] = piece;
        }
        drop(reads);
        let codec = if coding == self.config.coding {
            Arc::clone(&self.codec)
        } else {
            Arc::new(Codec::new(coding)?)
        };
        let data = tokio::task::spawn_blocking(move || codec.reconstruct_data(shards))
            .await
            .map_err(|e| Error::Internal(format!("decoder task: {e}")))??;
        let mut out = Vec::with_capacity(spans.len());
        for &(i, shard_lo, shard_hi) in &spans {
            let shard = data
                .get(i)
                .ok_or_else(|| Error::Internal("shard index out of range".into()))?;
            let (from, to) = ((shard_lo - a) as usize, (shard_hi - a) as usize);
            if to > shard.len() {
                return Err(Error::Internal("rebuilt shard too short".into()));
            }
            out.push(shard.slice(from..to));
        }
        Ok(out)
    }

    /// Bytes `[lo, hi)` of one chunk, or `None` when it is missing, corrupt,
    /// unreachable, slow, or of the wrong length.
    async fn read_chunk(
        &self,
        chunk: Option<&ChunkPlacement>,
        addrs: &HashMap<NodeId, String>,
        lo: u64,
        hi: u64,
    ) -> Option<Bytes> {
        let chunk = chunk?;
        if !chunk.durable {
            return None;
        }
        let addr = addrs.get(&chunk.node)?;
        match tokio::time::timeout(
            self.config.read_timeout,
            self.storage.get_chunk(addr, &chunk.chunk_id, lo, hi - lo),
        )
        .await
        {
            Ok(Ok(bytes)) if bytes.len() as u64 == hi - lo => Some(bytes),
            Ok(Ok(bytes)) => {
                tracing::warn!(chunk = %chunk.chunk_id, got = bytes.len(), want = hi - lo, "chunk read returned the wrong length");
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(chunk = %chunk.chunk_id, %addr, error = %e, "chunk read failed");
                // A node that answers "not found" lost the chunk (a corrupt
                // one it reports itself; an unreachable one is not lost).
                if let (shale_storage_node::Error::NotFound(_), Some(to)) = (&e, &self.missing) {
                    let _ = to.try_send((chunk.node, chunk.chunk_id.clone()));
                }
                None
            }
            Err(_) => {
                tracing::warn!(chunk = %chunk.chunk_id, %addr, "chunk read timed out");
                None
            }
        }
    }
}

/// Runs a segment's chunk writes (each answering `(shard, durable, full
/// node)`) until all are done, or until `needed` are durable and the others
/// have had `straggler_wait` more (at least twice the time the quorum
/// took); the abandoned ones are left out of the answer (not durable).
async fn wait_for_writes<F>(
    writes: Vec<F>,
    needed: usize,
    straggler_wait: Duration,
) -> Vec<(usize, bool, Option<NodeId>)>
where
    F: std::future::Future<Output = (usize, bool, Option<NodeId>)>,
{
    let started = tokio::time::Instant::now();
    let mut pending: futures::stream::FuturesUnordered<F> = writes.into_iter().collect();
    let mut done = Vec::with_capacity(pending.len());
    let mut durable = 0;
    while durable < needed {
        match pending.next().await {
            Some(outcome) => {
                durable += usize::from(outcome.1);
                done.push(outcome);
            }
            None => return done,
        }
    }
    let grace = straggler_wait.max(started.elapsed() * 2);
    let deadline = tokio::time::Instant::now() + grace;
    while !pending.is_empty() {
        match tokio::time::timeout_at(deadline, pending.next()).await {
            Ok(Some(outcome)) => done.push(outcome),
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    abandoned = pending.len(),
                    "chunk writes still running after the quorum: left to the healer"
                );
                break;
            }
        }
    }
    done
}

/// Cuts `bytes` into segments through `buf`: a whole segment in one piece
/// goes out without a copy; the rest gathers in `buf` until it is one.
async fn fill_segments(
    buf: &mut BytesMut,
    writer: &mut SegmentWriter,
    mut bytes: Bytes,
    segment_size: usize,
) -> Result<()> {
    while bytes.has_remaining() {
        let take = bytes.len().min(segment_size - buf.len());
        if buf.is_empty() && take == segment_size {
            writer.push(bytes.split_to(take)).await?;
            continue;
        }
        if buf.capacity() - buf.len() < take {
            buf.reserve(segment_size - buf.len());
        }
        buf.extend_from_slice(&bytes[..take]);
        bytes.advance(take);
        if buf.len() == segment_size {
            writer.push(buf.split().freeze()).await?;
        }
    }
    Ok(())
}

/// A fresh chunk prefix: a UUIDv7, whose first 48 bits are the time it was
/// made (Unix ms). The orphan sweep reads a chunk's age from its id, so
/// chunks of uploads that never committed can be found without any
/// bookkeeping on the PUT path.
pub fn new_chunk_prefix() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// When the chunk (or prefix) `id` was started, Unix ms: from the UUIDv7 of
/// its prefix (`<uuid>` or `<upload id>-<uuid>`, then `.p…`). `None` for ids
/// of other shapes (older prefixes were UUIDv4): those are never orphans.
pub fn chunk_written_ms(id: &str) -> Option<u64> {
    let prefix = id.split('.').next()?;
    let hex = prefix.get(prefix.len().checked_sub(32)?..)?;
    let uuid = uuid::Uuid::try_parse(hex).ok()?;
    if uuid.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    Some(secs * 1000 + u64::from(nanos) / 1_000_000)
}

/// Now, in Unix ms.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How often a gateway rereads the cluster map (it also does when a
/// placement finds too few nodes or a chunk write fails).
pub const MAP_REFRESH: Duration = Duration::from_secs(2);
/// A map younger than this is not reread on a placement failure.
pub const MAP_MIN_AGE: Duration = Duration::from_millis(500);

/// How long a node that answered "disk full" is left out of placements.
pub const FULL_NODE_BACKOFF: Duration = Duration::from_secs(30);

/// The part of one segment a range read needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentPiece {
    pub coding: Coding,
    pub segment: SegmentLayout,
    /// Segment-relative bytes `[lo, hi)`.
    pub lo: u64,
    pub hi: u64,
}

/// The segments (and the bytes of each) that hold bytes `[start, end)` of the
/// concatenation of `parts`, in order.
pub fn segment_pieces(parts: &[PartLayout], start: u64, end: u64) -> Vec<SegmentPiece> {
    let mut pieces = Vec::new();
    let mut offset = 0u64;
    for part in parts {
        for seg in &part.segments {
            let seg_start = offset;
            let seg_end = offset + seg.size;
            offset = seg_end;
            if seg_end <= start || seg_start >= end || seg.size == 0 {
                continue;
            }
            pieces.push(SegmentPiece {
                coding: part.coding,
                segment: seg.clone(),
                lo: start.max(seg_start) - seg_start,
                hi: end.min(seg_end) - seg_start,
            });
        }
    }
    pieces
}

/// Where segment bytes `[lo, hi)` live in the data shards of size
/// `shard_size`: `(shard index, shard-relative lo, hi)` in order. Data shard
/// `i` holds segment bytes `[i * shard_size, (i + 1) * shard_size)`.
pub fn shard_spans(lo: u64, hi: u64, shard_size: u64) -> Vec<(usize, u64, u64)> {
    if hi <= lo || shard_size == 0 {
        return Vec::new();
    }
    let first = lo / shard_size;
    let last = (hi - 1) / shard_size;
    (first..=last)
        .map(|i| {
            let base = i * shard_size;
            (
                i as usize,
                lo.max(base) - base,
                hi.min(base + shard_size) - base,
            )
        })
        .collect()
}

/// The segments of one body being written: at most [`WRITES_IN_FLIGHT`]
/// at once, each in its own task so the body keeps streaming in meanwhile.
/// Dropping it (an error, a client gone) aborts the writes in flight.
struct SegmentWriter {
    data: Arc<DataPath>,
    chunk_prefix: String,
    part_number: u32,
    next: u32,
    in_flight: VecDeque<tokio::task::JoinHandle<Result<SegmentLayout>>>,
    done: Vec<SegmentLayout>,
}

impl SegmentWriter {
    fn new(data: Arc<DataPath>, target: &WriteTarget<'_>) -> Self {
        SegmentWriter {
            data,
            chunk_prefix: target.chunk_prefix.to_owned(),
            part_number: target.part_number,
            next: 0,
            in_flight: VecDeque::new(),
            done: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.next == 0
    }

    /// Starts writing the next segment; waits while too many are in flight.
    async fn push(&mut self, segment: Bytes) -> Result<()> {
        let key = format!("{}.p{}.s{}", self.chunk_prefix, self.part_number, self.next);
        self.next += 1;
        let data = Arc::clone(&self.data);
        self.in_flight
            .push_back(tokio::spawn(shale_common::rpc::inherit_request_id(
                async move { data.write_segment(segment, key).await },
            )));
        while self.in_flight.len() >= WRITES_IN_FLIGHT {
            if let Some(handle) = self.in_flight.pop_front() {
                self.done.push(join_segment(handle).await?);
            }
        }
        Ok(())
    }

    /// Waits for every segment; their layouts in order.
    async fn finish(mut self) -> Result<Vec<SegmentLayout>> {
        while let Some(handle) = self.in_flight.pop_front() {
            self.done.push(join_segment(handle).await?);
        }
        Ok(std::mem::take(&mut self.done))
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        for handle in &self.in_flight {
            handle.abort();
        }
    }
}

async fn join_segment(
    handle: tokio::task::JoinHandle<Result<SegmentLayout>>,
) -> Result<SegmentLayout> {
    handle
        .await
        .map_err(|e| Error::Internal(format!("segment task: {e}")))?
}

/// The body of a GET: the pieces of each segment as they are read, in order.
pub struct ChunkStream {
    pending: VecDeque<Bytes>,
    rx: tokio::sync::mpsc::Receiver<Result<Vec<Bytes>>>,
}

impl Stream for ChunkStream {
    type Item = std::result::Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        loop {
            if let Some(piece) = self.pending.pop_front() {
                return std::task::Poll::Ready(Some(Ok(piece)));
            }
            match std::task::ready!(self.rx.poll_recv(cx)) {
                None => return std::task::Poll::Ready(None),
                Some(Err(e)) => {
                    return std::task::Poll::Ready(Some(Err(std::io::Error::other(e.to_string()))));
                }
                Some(Ok(pieces)) => self.pending.extend(pieces),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layout(sizes: &[&[u64]]) -> Vec<PartLayout> {
        sizes
            .iter()
            .enumerate()
            .map(|(n, segs)| PartLayout {
                number: n as u32 + 1,
                size: segs.iter().sum(),
                etag: String::new(),
                coding: Coding::default(),
                segments: segs
                    .iter()
                    .map(|&size| SegmentLayout {
                        size,
                        shard_size: size.div_ceil(4),
                        chunks: Vec::new(),
                    })
                    .collect(),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_stalled_chunk_write_is_abandoned_once_the_quorum_is_durable() {
        type Write = std::pin::Pin<
            Box<dyn std::future::Future<Output = (usize, bool, Option<NodeId>)> + Send>,
        >;
        let mut writes: Vec<Write> = (0..5usize)
            .map(|i| Box::pin(async move { (i, true, None) }) as Write)
            .collect();
        writes.push(Box::pin(futures::future::pending()));
        let done = tokio::time::timeout(
            Duration::from_secs(10),
            wait_for_writes(writes, 5, Duration::from_millis(50)),
        )
        .await
        .expect("never waits for the stalled write");
        let mut shards: Vec<usize> = done.iter().map(|d| d.0).collect();
        shards.sort_unstable();
        assert_eq!(shards, vec![0, 1, 2, 3, 4]);

        // Below the quorum every write is waited for (none is abandoned).
        let writes: Vec<Write> = (0..6usize)
            .map(|i| {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
                    (i, i < 2, None)
                }) as Write
            })
            .collect();
        let done = wait_for_writes(writes, 5, Duration::from_millis(1)).await;
        assert_eq!(done.len(), 6);
    }

    #[test]
    fn chunk_ids_carry_their_start_time() {
        let before = unix_ms();
        let prefix = new_chunk_prefix();
        let after = unix_ms();
        let t = chunk_written_ms(&format!("{prefix}.p1.s0.3")).expect("a v7 prefix");
        assert!(before <= t && t <= after, "{before} {t} {after}");
        let part = format!("upload123-{prefix}.p2.s5.0");
        assert_eq!(chunk_written_ms(&part), Some(t));
        // UUIDv4 prefixes (chunks written before) and odd ids have no time.
        let v4 = uuid::Uuid::new_v4().simple().to_string();
        assert_eq!(chunk_written_ms(&format!("{v4}.p1.s0.0")), None);
        assert_eq!(chunk_written_ms("short.p1.s0.0"), None);
        assert_eq!(chunk_written_ms(""), None);
    }

    #[test]
    fn pieces_cross_segment_and_part_boundaries() {
        let parts = layout(&[&[10, 10], &[5]]);
        let p = segment_pieces(&parts, 8, 23);
        let got: Vec<(u64, u64)> = p.iter().map(|p| (p.lo, p.hi)).collect();
        assert_eq!(got, vec![(8, 10), (0, 10), (0, 3)]);
        assert!(segment_pieces(&parts, 25, 25).is_empty());
        assert_eq!(segment_pieces(&parts, 0, 25).len(), 3);
    }

    #[test]
    fn spans_of_a_padded_last_shard() {
        // 10 bytes in 4 shards of 3: the last shard holds 1 byte and 2 of padding.
        assert_eq!(
            shard_spans(0, 10, 3),
            vec![(0, 0, 3), (1, 0, 3), (2, 0, 3), (3, 0, 1)]
        );
        assert_eq!(shard_spans(4, 5, 3), vec![(1, 1, 2)]);
        assert!(shard_spans(5, 5, 3).is_empty());
    }

    proptest! {
        /// Concatenating the spans, read from the shards, gives back exactly
        /// the requested segment bytes.
        #[test]
        fn spans_cover_the_range_exactly(size in 1u64..5000, a in 0u64..5000, b in 0u64..5000) {
            let (lo, hi) = (a.min(b) % size, (a.max(b) % size) + 1);
            prop_assume!(lo < hi);
            let shard_size = size.div_ceil(4);
            let segment: Vec<u64> = (0..size).collect();
            let mut got = Vec::new();
            for (i, l, h) in shard_spans(lo, hi, shard_size) {
                prop_assert!(i < 4);
                prop_assert!(h <= shard_size);
                let base = i as u64 * shard_size;
                got.extend((base + l..base + h).map(|x| segment[x as usize]));
            }
            prop_assert_eq!(got, segment[lo as usize..hi as usize].to_vec());
        }

        /// Pieces of any range of a multi-part layout add up to that range.
        #[test]
        fn pieces_add_up(segs in proptest::collection::vec(1u64..100, 1..8), a in 0u64..800, len in 0u64..800) {
            let parts = layout(&[&segs]);
            let total: u64 = segs.iter().sum();
            let start = a % (total + 1);
            let end = (start + len).min(total);
            let sum: u64 = segment_pieces(&parts, start, end).iter().map(|p| p.hi - p.lo).sum();
            prop_assert_eq!(sum, end - start);
        }
    }
}
