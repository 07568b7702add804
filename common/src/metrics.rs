//! Metrics plumbing shared by every role: static label values, cached
//! metric handles, scrape hooks and (with the `exporter` feature) the
//! Prometheus exporter with its `/metrics` endpoint.
//!
//! Roles record through the `metrics` facade; until a recorder is installed
//! (`shale … --metrics-addr`, `metrics_listen`) every record is a no-op.
//! Hot paths keep the cost of a record to an atomic add: label values are
//! `&'static str` (see [`status_label`], [`intern`]) and handles are made
//! once per label set and kept in a [`Handles`] table, so no request
//! allocates a label or looks a metric up by name. Figures that are cheaper
//! to read than to keep up to date (disk capacity, scrub progress, key
//! counts) are set by [`on_scrape`] hooks when `/metrics` is read.
//!
//! Names are `shale_<role>_<thing>_<unit>` (Prometheus naming); every duration is
//! a histogram in seconds with [`LATENCY_BUCKETS`] (replication lag: [`LAG_BUCKETS`]).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// Bucket bounds (seconds) of every `_seconds` histogram: 100 µs to 30 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// The replication lag histogram's name: source commit to destination
/// commit, per source and destination bucket.
pub const REPLICATION_LATENCY: &str = "shale_gateway_replication_latency_seconds";

/// Bucket bounds (seconds) of [`REPLICATION_LATENCY`]: 10 ms to an hour, as
/// a backlog after an outage is minutes old.
pub const LAG_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

/// Distinct strings [`intern`] keeps at most; later ones map to `"other"`.
pub const MAX_INTERNED: usize = 1024;

/// True once a recorder is installed (records go somewhere).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// True when metrics are recorded (a recorder was installed in this
/// process); roles skip work that only feeds metrics otherwise.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The HTTP status `code` as a static label value (`"200"`, `"404"`);
/// `"other"` outside 100..=599.
pub fn status_label(code: u16) -> &'static str {
    static CODES: OnceLock<Vec<String>> = OnceLock::new();
    let codes = CODES.get_or_init(|| (100..600).map(|c| c.to_string()).collect());
    match code {
        100..=599 => &codes[usize::from(code - 100)],
        _ => "other",
    }
}

/// `s` as a `&'static str`, kept once for the process: for label values
/// that come from a small, closed set known only at run time (S3 operation
/// names and error codes). After [`MAX_INTERNED`] distinct values, `"other"`,
/// so that a bug feeding it unbounded input cannot grow memory without end.
pub fn intern(s: &str) -> &'static str {
    static SET: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let set = SET.get_or_init(RwLock::default);
    if let Some(&found) = set.read().unwrap_or_else(|e| e.into_inner()).get(s) {
        return found;
    }
    let mut set = set.write().unwrap_or_else(|e| e.into_inner());
    if let Some(&found) = set.get(s) {
        return found;
    }
    if set.len() >= MAX_INTERNED {
        return "other";
    }
    let kept: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(kept);
    kept
}

/// Metric handles by label values, each set made once: the first record
/// with new label values registers them, every later one is a map read.
#[derive(Debug)]
pub struct Handles<K, V> {
    map: RwLock<HashMap<K, V>>,
}

impl<K, V> Default for Handles<K, V> {
    fn default() -> Self {
        Handles {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Copy, V: Clone> Handles<K, V> {
    /// The handles for `key`, made by `make` the first time.
    pub fn get(&self, key: K, make: impl FnOnce(K) -> V) -> V {
        if let Some(v) = self.map.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return v.clone();
        }
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert_with(|| make(key))
            .clone()
    }
}

/// What a scrape hook returns: `false` once its subject is gone (the hook
/// is then dropped).
pub type ScrapeFuture = Pin<Box<dyn Future<Output = bool> + Send>>;
type Hook = Arc<dyn Fn() -> ScrapeFuture + Send + Sync>;

static HOOKS: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());
static HOOK_SEQ: AtomicU64 = AtomicU64::new(0);

/// Runs `hook` before every scrape of `/metrics`, to set gauges that are
/// cheaper to read on demand (capacity, progress of background work). The
/// hook returns `false` when what it reports on has stopped; it is then
/// dropped. Does nothing when no recorder is installed.
pub fn on_scrape(hook: impl Fn() -> ScrapeFuture + Send + Sync + 'static) {
    if !enabled() {
        return;
    }
    let id = HOOK_SEQ.fetch_add(1, Ordering::Relaxed);
    HOOKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, Arc::new(hook)));
}

/// Runs every scrape hook (see [`on_scrape`]) and drops the finished ones.
pub async fn run_scrape_hooks() {
    let hooks: Vec<(u64, Hook)> = HOOKS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut finished = Vec::new();
    for (id, hook) in hooks {
        if !hook().await {
            finished.push(id);
        }
    }
    if !finished.is_empty() {
        HOOKS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| !finished.contains(id));
    }
}

/// Seconds since `started`, for histograms.
pub fn seconds_since(started: std::time::Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

#[cfg(feature = "exporter")]
pub use exporter::{install, serve};

#[cfg(feature = "exporter")]
mod exporter {
    use super::{
        ENABLED, LAG_BUCKETS, LATENCY_BUCKETS, Ordering, REPLICATION_LATENCY, run_scrape_hooks,
    };
    use bytes::Bytes;
    use http::{Method, Request, Response, StatusCode};
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
    use std::future::Future;
    use std::sync::OnceLock;
    use std::time::Duration;
    use tokio::net::TcpListener;

    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

    /// Installs the process's Prometheus recorder (once; later calls
    /// return the same handle). `_seconds` metrics become histograms with
    /// [`LATENCY_BUCKETS`].
    pub fn install() -> Result<PrometheusHandle, String> {
        if let Some(h) = HANDLE.get() {
            return Ok(h.clone());
        }
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .map_err(|e| e.to_string())?
            // A full name is matched before any suffix.
            .set_buckets_for_metric(Matcher::Full(REPLICATION_LATENCY.into()), LAG_BUCKETS)
            .map_err(|e| e.to_string())?
            .install_recorder()
            .map_err(|e| format!("installing the metrics recorder: {e}"))?;
        ENABLED.store(true, Ordering::Relaxed);
        Ok(HANDLE.get_or_init(|| handle).clone())
    }

    /// Serves `GET /metrics` (Prometheus text format) on `listener` until
    /// `shutdown` completes. Every scrape runs the scrape hooks first.
    pub async fn serve(
        listener: TcpListener,
        handle: PrometheusHandle,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "metrics endpoint bound");
        }
        // Histograms are drained into their buckets by upkeep: at every
        // scrape, and regularly in between so an unscraped process does
        // not pile samples up.
        let upkeep = {
            let handle = handle.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    handle.run_upkeep();
                }
            })
        };
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handle = handle.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&handle, req).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service);
                // A scraper that hangs must not keep a task forever.
                let _ = tokio::time::timeout(Duration::from_secs(60), conn).await;
            });
        }
        upkeep.abort();
        Ok(())
    }

    async fn answer(
        handle: &PrometheusHandle,
        req: Request<hyper::body::Incoming>,
    ) -> Response<Full<Bytes>> {
        let reply = |status: StatusCode, body: String| {
            Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
                .body(Full::new(Bytes::from(body)))
                .expect("static status and header")
        };
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/metrics") => {
                run_scrape_hooks().await;
                handle.run_upkeep();
                reply(StatusCode::OK, handle.render())
            }
            (_, "/metrics") => reply(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into()),
            _ => reply(StatusCode::NOT_FOUND, "try /metrics\n".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_the_codes() {
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(404), "404");
        assert_eq!(status_label(599), "599");
        assert_eq!(status_label(100), "100");
        assert_eq!(status_label(99), "other");
        assert_eq!(status_label(600), "other");
        // The same static string each time: no allocation per call.
        assert!(std::ptr::eq(status_label(503), status_label(503)));
    }

    #[test]
    fn interned_strings_are_kept_once() {
        let a = intern("GetObject");
        let b = intern(&String::from("GetObject"));
        assert_eq!(a, "GetObject");
        assert!(std::ptr::eq(a, b));
        assert_ne!(intern("PutObject"), a);
    }

    #[test]
    fn handles_are_made_once_per_key() {
        let handles: Handles<(&str, u16), Arc<AtomicU64>> = Handles::default();
        let made = AtomicU64::new(0);
        let make = |_| {
            made.fetch_add(1, Ordering::Relaxed);
            Arc::new(AtomicU64::new(0))
        };
        let a = handles.get(("GetObject", 200), make);
        a.fetch_add(5, Ordering::Relaxed);
        let b = handles.get(("GetObject", 200), |_| unreachable!("made already"));
        assert_eq!(b.load(Ordering::Relaxed), 5);
        handles.get(("GetObject", 404), make);
        assert_eq!(made.load(Ordering::Relaxed), 2);
    }
}
