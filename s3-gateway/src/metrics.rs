//! The gateway's metrics (the README's "Metrics" section lists them).
//!
//! Per S3 request, by operation (`op`: `s3s`'s name, e.g. `PutObject`;
//! `Unknown` for requests refused before routing, e.g. a bad signature;
//! `CorsPreflight` for `OPTIONS`) and HTTP status:
//! `shale_gateway_requests_total{op,status}`,
//! `shale_gateway_request_duration_seconds{op,status}` (until the response
//! head), `shale_gateway_received_bytes_total{op}` (the request's
//! `Content-Length`), `shale_gateway_sent_bytes_total{op}` (body bytes
//! actually sent) and `shale_gateway_errors_total{op,code}` (the S3 error
//! code of the answer). Background work, read at scrape time from the
//! workers' counters: `shale_gateway_gc_*` and `shale_gateway_heal_*`.
//!
//! The operation name comes from `s3s`'s access check ([`crate::access::Grants`]),
//! which runs for every routed request inside the request's task; a
//! task-local cell carries it back to the HTTP front. Label values are
//! static strings and handles are made once per label set, so a request
//! costs a few map reads and atomic adds, and no allocation.

use http_body::{Body, Frame, SizeHint};
use metrics::{Counter, Histogram, counter, gauge, histogram};
use shale_common::metrics::{Handles, intern, status_label};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

/// The `op` label of a request `s3s` did not route.
pub const UNKNOWN_OP: &str = "Unknown";
/// The `op` label of a CORS preflight (`OPTIONS`, answered before `s3s`).
pub const PREFLIGHT_OP: &str = "CorsPreflight";

tokio::task_local! {
    static OPERATION: Cell<&'static str>;
}

/// Runs `f` (one request) and returns its output with the S3 operation it
/// turned out to be ([`UNKNOWN_OP`] when `s3s` did not route it).
pub async fn with_operation<F: Future>(f: F) -> (F::Output, &'static str) {
    OPERATION
        .scope(Cell::new(UNKNOWN_OP), async {
            let out = f.await;
            (out, OPERATION.with(Cell::get))
        })
        .await
}

/// Names the current request's operation (no effect outside
/// [`with_operation`]).
pub fn set_operation(op: &str) {
    let _ = OPERATION.try_with(|cell| cell.set(intern(op)));
}

struct RequestHandles {
    count: Counter,
    latency: Histogram,
}

#[derive(Default)]
struct GatewayMetrics {
    requests: Handles<(&'static str, u16), Arc<RequestHandles>>,
    errors: Handles<(&'static str, &'static str), Counter>,
    received: Handles<&'static str, Counter>,
    sent: Handles<&'static str, Counter>,
}

static METRICS: LazyLock<GatewayMetrics> = LazyLock::new(GatewayMetrics::default);

/// Records one answered request: count and latency by operation and
/// status, the request body's announced size, the error code if any.
pub fn record_request(
    op: &'static str,
    status: u16,
    seconds: f64,
    received: u64,
    error_code: Option<&str>,
) {
    let m = &*METRICS;
    let r = m.requests.get((op, status), |(op, status)| {
        let status = status_label(status);
        Arc::new(RequestHandles {
            count: counter!("shale_gateway_requests_total", "op" => op, "status" => status),
            latency: histogram!("shale_gateway_request_duration_seconds",
                "op" => op, "status" => status),
        })
    });
    r.count.increment(1);
    r.latency.record(seconds);
    if received > 0 {
        m.received
            .get(
                op,
                |op| counter!("shale_gateway_received_bytes_total", "op" => op),
            )
            .increment(received);
    }
    if let Some(code) = error_code {
        m.errors
            .get(
                (op, intern(code)),
                |(op, code)| counter!("shale_gateway_errors_total", "op" => op, "code" => code),
            )
            .increment(1);
    }
}

/// One connection to the public listener, counted in
/// `shale_gateway_connections_open` while it lives; it holds its slot of
/// `max_connections`.
pub struct ConnectionOpen(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl ConnectionOpen {
    /// A connection accepted into `slot`.
    pub fn new(slot: tokio::sync::OwnedSemaphorePermit) -> Self {
        gauge!("shale_gateway_connections_open").increment(1.0);
        counter!("shale_gateway_connections_accepted_total").increment(1);
        ConnectionOpen(slot)
    }
}

impl Drop for ConnectionOpen {
    fn drop(&mut self) {
        gauge!("shale_gateway_connections_open").decrement(1.0);
    }
}

/// A connection closed as soon as accepted: `max_connections` reached.
pub fn connection_refused() {
    counter!("shale_gateway_connections_refused_total").increment(1);
}

/// A connection closed because its client was too slow to send a
/// request's headers (or, with TLS, to shake hands).
pub fn connection_timed_out() {
    counter!("shale_gateway_connections_timed_out_total").increment(1);
}

/// A connection that ended with error `e`: counted when it is the header
/// timeout.
pub fn connection_ended(e: &hyper::Error) {
    if e.is_timeout() {
        connection_timed_out();
    }
}

/// The S3 error code of an answer, as the HTTP front found it (before a
/// HEAD answer's body is dropped); a response extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// The S3 error code of `resp` when it is an S3 error answer.
pub fn error_code(resp: &http::Response<s3s::Body>) -> Option<&'static str> {
    if resp.status().as_u16() < 300 {
        return None;
    }
    let body = resp.body().bytes()?;
    error_code_of(&body).map(intern)
}

/// The counter of body bytes sent for operation `op`.
pub fn sent_bytes(op: &'static str) -> Counter {
    METRICS.sent.get(
        op,
        |op| counter!("shale_gateway_sent_bytes_total", "op" => op),
    )
}

/// The S3 error code of an error answer's XML body (`<Code>…</Code>`).
pub fn error_code_of(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = &text[start..start + len];
    (!code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(code)
}

/// A response body that counts the bytes it yields.
#[derive(Debug)]
pub struct CountingBody<B> {
    inner: B,
    counter: Counter,
}

impl<B> CountingBody<B> {
    /// `inner`, its data bytes added to `counter` as they are sent.
    pub fn new(inner: B, counter: Counter) -> Self {
        CountingBody { inner, counter }
    }
}

impl<B: Body<Data = bytes::Bytes> + Unpin> Body for CountingBody<B> {
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.counter.increment(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Registers the scrape hook that reports the garbage collector's and the
/// healer's counters; it stops once `stopped` is set.
pub fn report_background(workers: Arc<crate::server::Workers>, stopped: Arc<AtomicBool>) {
    shale_common::metrics::on_scrape(move || {
        let (workers, stopped) = (workers.clone(), stopped.clone());
        Box::pin(async move {
            if stopped.load(Ordering::Relaxed) {
                return false;
            }
            let (gc, healer) = (&workers.gc, &workers.heal);
            let lc = workers.lifecycle.status();
            counter!("shale_gateway_lifecycle_scanned_total").absolute(lc.scanned);
            counter!("shale_gateway_lifecycle_expired_total").absolute(lc.expired);
            counter!("shale_gateway_lifecycle_noncurrent_removed_total")
                .absolute(lc.noncurrent_removed);
            counter!("shale_gateway_lifecycle_markers_removed_total").absolute(lc.markers_removed);
            counter!("shale_gateway_lifecycle_uploads_aborted_total").absolute(lc.uploads_aborted);
            counter!("shale_gateway_lifecycle_locked_kept_total").absolute(lc.locked_kept);
            counter!("shale_gateway_lifecycle_rounds_total").absolute(lc.rounds);
            gauge!("shale_gateway_lifecycle_last_round_unix_seconds")
                .set(lc.last_round_ms as f64 / 1000.0);
            let gc = gc.status();
            counter!("shale_gateway_gc_entries_done_total").absolute(gc.entries_done);
            counter!("shale_gateway_gc_chunks_deleted_total").absolute(gc.chunks_deleted);
            counter!("shale_gateway_gc_chunk_failures_total").absolute(gc.chunk_failures);
            counter!("shale_gateway_gc_rounds_total").absolute(gc.rounds);
            gauge!("shale_gateway_gc_entries_due").set(gc.due as f64);
            counter!("shale_gateway_gc_orphan_sweeps_total").absolute(gc.orphan_sweeps);
            counter!("shale_gateway_gc_orphans_deleted_total").absolute(gc.orphans_deleted);
            gauge!("shale_gateway_gc_orphan_candidates").set(gc.orphan_candidates as f64);
            counter!("shale_gateway_gc_orphan_quiet_total").absolute(gc.orphan_quiet);
            gauge!("shale_gateway_gc_last_orphan_sweep_seconds")
                .set(gc.last_orphan_sweep_ms as f64 / 1000.0);
            let heal = healer.stats().status();
            counter!("shale_gateway_heal_chunks_rebuilt_total").absolute(heal.healed);
            counter!("shale_gateway_heal_chunks_moved_total").absolute(heal.moved);
            counter!("shale_gateway_heal_chunks_marked_durable_total")
                .absolute(heal.marked_durable);
            counter!("shale_gateway_heal_objects_healed_total").absolute(heal.objects_healed);
            counter!("shale_gateway_heal_failures_total").absolute(heal.failed);
            counter!("shale_gateway_heal_rounds_total").absolute(heal.rounds);
            counter!("shale_gateway_heal_sweeps_total").absolute(heal.sweeps);
            counter!("shale_gateway_heal_quiet_rounds_total").absolute(heal.quiet_rounds);
            gauge!("shale_gateway_heal_last_sweep_seconds").set(heal.last_sweep_ms as f64 / 1000.0);
            gauge!("shale_gateway_heal_backlog").set(heal.backlog as f64);
            gauge!("shale_gateway_heal_unavailable_chunks").set(heal.unavailable as f64);
            gauge!("shale_gateway_heal_last_round_seconds").set(heal.last_round_ms as f64 / 1000.0);
            counter!("shale_gateway_heal_chunks_drained_total").absolute(heal.drained);
            counter!("shale_gateway_heal_chunks_rebalanced_total").absolute(heal.rebalanced);
            gauge!("shale_gateway_heal_drain_backlog").set(heal.drain_backlog as f64);
            gauge!("shale_gateway_heal_rebalance_backlog").set(heal.rebalance_backlog as f64);
            true
        })
    });
}

/// Pages of the replication queue a scrape reads at most (1,000 tasks
/// each): past that the pending gauges are lower bounds, the oldest
/// pending task's age stays exact (the queue is in commit order).
const BACKLOG_PAGES: usize = 100;

/// Registers the scrape hook that reports the replication queue's backlog
/// per source and destination bucket (`shale_gateway_replication_pending_operations`,
/// `_pending_bytes`, `_oldest_pending_seconds`, `_failed_operations`), read
/// from metadata, so every gateway of a region reports the same figures; a
/// pair whose backlog is gone reads 0. It stops once `stopped` is set.
pub fn report_replication(meta: shale_metadata::MetaClient, stopped: Arc<AtomicBool>) {
    let reported: Arc<std::sync::Mutex<std::collections::HashSet<(String, String)>>> =
        Arc::default();
    shale_common::metrics::on_scrape(move || {
        let (meta, stopped, reported) = (meta.clone(), stopped.clone(), reported.clone());
        Box::pin(async move {
            if stopped.load(Ordering::Relaxed) {
                return false;
            }
            let backlog =
                match shale_workers::replication::backlog(&meta, None, BACKLOG_PAGES).await {
                    Ok((backlog, _)) => backlog,
                    Err(e) => {
                        tracing::debug!(error = %e, "reading the replication backlog failed");
                        return true;
                    }
                };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let mut reported = reported.lock().unwrap_or_else(|e| e.into_inner());
            for pair in reported.iter() {
                if !backlog.contains_key(pair) {
                    let labels = shale_workers::replication::pair_labels(&pair.0, &pair.1);
                    for name in BACKLOG_GAUGES {
                        gauge!(name, &labels).set(0.0);
                    }
                }
            }
            reported.clear();
            for ((bucket, dest), b) in backlog {
                let labels = shale_workers::replication::pair_labels(&bucket, &dest);
                let oldest = b
                    .oldest_enqueued_ms
                    .map_or(0.0, |o| (now - o).max(0) as f64 / 1000.0);
                let values = [b.tasks as f64, b.bytes as f64, oldest, b.failed as f64];
                for (name, value) in BACKLOG_GAUGES.into_iter().zip(values) {
                    gauge!(name, &labels).set(value);
                }
                reported.insert((bucket, dest));
            }
            true
        })
    });
}

/// The replication backlog's gauges, in [`report_replication`]'s order.
const BACKLOG_GAUGES: [&str; 4] = [
    "shale_gateway_replication_pending_operations",
    "shale_gateway_replication_pending_bytes",
    "shale_gateway_replication_oldest_pending_seconds",
    "shale_gateway_replication_failed_operations",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_error_bodies() {
        let body =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>m</Message></Error>";
        assert_eq!(error_code_of(body), Some("NoSuchKey"));
        assert_eq!(error_code_of(b"<Error><Code></Code></Error>"), None);
        assert_eq!(error_code_of(b"<Error><Code>a b</Code></Error>"), None);
        assert_eq!(error_code_of(b"<ListBucketResult/>"), None);
        assert_eq!(error_code_of(&[0xff, 0xfe]), None);
    }

    #[tokio::test]
    async fn the_operation_is_carried_back_from_inside_the_request() {
        let ((), op) = with_operation(async { set_operation("PutObject") }).await;
        assert_eq!(op, "PutObject");
        let ((), op) = with_operation(async {}).await;
        assert_eq!(op, UNKNOWN_OP);
        // Outside a request: ignored, no panic.
        set_operation("GetObject");
    }
}
