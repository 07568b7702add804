//! The gateway's HTTP(S) front: accept loop, optional TLS, request ids, and
//! graceful shutdown. S3 itself is `s3s` over [`crate::s3::Gateway`]; around
//! it, every request gets the authentication checks `s3s` lacks
//! ([`crate::auth::check_request`]) and every response S3's finishing
//! touches ([`crate::error::finish_error_response`], CORS headers,
//! `x-amz-request-id`). CORS preflights (`OPTIONS`) are answered here,
//! before `s3s`: S3 does not authenticate them ([`crate::cors`]); so are
//! browser uploads (POST of a form to a bucket), which stream their file
//! where `s3s` would hold it in memory ([`crate::post`]).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use s3s::service::{S3Service, S3ServiceBuilder};
use serde::Deserialize;
use shale_common::cluster_auth::ClusterAuth;
use shale_metadata::MetaClient;
use shale_storage_node::StorageClient;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::Instrument;

use crate::access::{Grants, Keys};
use crate::admin::AdminRoute;
use crate::auth::{self, MetaAuth};
use crate::cors::{self, CorsCache};
use crate::error::{Error, RequestInfo, Result, finish_error_response};
use crate::post;
use crate::regions::{Regions, Route};
use crate::s3::{BareETags, Gateway, StatusOverride, VersionOrder};
use crate::vhost::VirtualHosts;
use shale_datapath::datapath::{DataPath, DataPathConfig};
use shale_workers::gc::GcConfig;
use shale_workers::heal::HealConfig;
use shale_workers::lifecycle::LifecycleConfig;
use shale_workers::replication::ReplicationWorkerConfig;

/// How long in-flight requests may run on after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Configuration of one gateway.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The region this gateway serves (its cluster's name).
    pub region: String,
    /// `host:port` of the metadata service: one address, or (in TOML) a
    /// list of the metadata group's replicas, kept comma-separated; the
    /// client finds the leader among them.
    #[serde(deserialize_with = "shale_common::rpc::one_or_many")]
    pub metadata_addr: String,
    /// PEM certificate chain and private key: serve HTTPS when both are set.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The garbage collector of replaced and deleted versions' chunks.
    #[serde(default)]
    pub gc: GcConfig,
    /// The healer of corrupt chunks.
    #[serde(default)]
    pub heal: HealConfig,
    /// The lifecycle worker (buckets' expiration rules).
    #[serde(default)]
    pub lifecycle: LifecycleConfig,
    /// The replication worker (buckets' replication rules).
    #[serde(default)]
    pub replication: ReplicationWorkerConfig,
    /// Domains for virtual-host-style addressing: with `s3.example.com`
    /// here, `Host: photos.s3.example.com` addresses bucket `photos`.
    /// Path-style requests work on any host whatever this says.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Largest file a browser upload (POST Object) may carry, whatever its
    /// policy allows: S3's limit, 5 GiB, by default. The file streams into
    /// the data path, so this does not bound memory (nothing needs to).
    #[serde(default = "default_post_object_max_size")]
    pub post_object_max_size: u64,
    /// The public listener's limits against slow and hostile clients.
    #[serde(default)]
    pub edge: EdgeConfig,
    /// Whether the web console ([`crate::console`]) answers at
    /// `/_shale/console/` on the S3 port. False: those paths are S3
    /// requests like any other (for a bucket named `_shale`, which cannot
    /// exist), and no console page or cookie is ever sent.
    #[serde(default = "default_console")]
    pub console: bool,
    /// The account's public access block: S3's account-level setting,
    /// here the deployment's (give every gateway the same). It holds on
    /// top of every bucket's own block. All off by default, as S3's.
    #[serde(default)]
    pub public_access_block: AccountBlockConfig,
    /// The master key file (`shale admin master-key`): the keys of objects
    /// stored with server-side encryption are sealed under it. Without
    /// it, `SHALE_SSE_MASTER_KEY_FILE` or `SHALE_SSE_MASTER_KEY`; without
    /// any, SSE-S3 is refused and no object is encrypted. Give every
    /// gateway of a region the same file; never keep it on the data disks.
    #[serde(default)]
    pub sse_master_key_file: Option<PathBuf>,
    #[serde(skip)]
    pub data: DataPathConfig,
}

/// The account's public access block (`[gateway.public_access_block]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountBlockConfig {
    /// PUTs of public ACLs are refused in every bucket.
    pub block_public_acls: bool,
    /// Public ACLs grant nothing in any bucket.
    pub ignore_public_acls: bool,
    /// PutBucketPolicy of a public policy is refused in every bucket.
    pub block_public_policy: bool,
    /// Public policies grant nothing to anonymous callers in any bucket.
    pub restrict_public_buckets: bool,
}

impl From<AccountBlockConfig> for shale_metadata::PublicAccessBlock {
    fn from(c: AccountBlockConfig) -> Self {
        shale_metadata::PublicAccessBlock {
            block_public_acls: c.block_public_acls,
            ignore_public_acls: c.ignore_public_acls,
            block_public_policy: c.block_public_policy,
            restrict_public_buckets: c.restrict_public_buckets,
        }
    }
}

/// The public listener's limits (`[gateway.edge]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Seconds a client has to send a request's headers, counted from the
    /// connection's start or the previous answer: a connection that
    /// sends none (idle keep-alive) or sends them too slowly (slowloris)
    /// is closed when they run out. At least 1.
    pub header_read_timeout_secs: u64,
    /// Connections served at once; one more is closed as soon as it is
    /// accepted (clients retry), so the process's tasks and descriptors
    /// stay bounded.
    pub max_connections: usize,
    /// Failed authentications (`InvalidAccessKeyId`,
    /// `SignatureDoesNotMatch`) per minute and source address; past them
    /// the address is answered `503 SlowDown` (see [`crate::edge`]). 0: no
    /// limit.
    pub auth_failures_per_minute: u32,
    /// Seconds a request body may go without a byte before the request is
    /// answered `400 RequestTimeout` (a client that stalls its upload). At
    /// least 1.
    pub body_idle_timeout_secs: u64,
    /// Whether `/_shale/status` (the workers' figures) answers anyone on
    /// the S3 port. False: the path is an S3 request like any other (the
    /// figures stay available to root keys through `shale admin status`).
    pub public_status: bool,
}

/// Default of [`EdgeConfig::header_read_timeout_secs`].
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 30;
/// Default of [`EdgeConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default of [`EdgeConfig::auth_failures_per_minute`].
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 600;
/// Default of [`EdgeConfig::body_idle_timeout_secs`].
pub const DEFAULT_BODY_IDLE_TIMEOUT_SECS: u64 = 30;

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            header_read_timeout_secs: DEFAULT_HEADER_READ_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            auth_failures_per_minute: DEFAULT_AUTH_FAILURES_PER_MINUTE,
            body_idle_timeout_secs: DEFAULT_BODY_IDLE_TIMEOUT_SECS,
            public_status: true,
        }
    }
}

/// Default of [`GatewayConfig::post_object_max_size`]: 5 GiB, as in S3.
pub const DEFAULT_POST_OBJECT_MAX_SIZE: u64 = post::MAX_FILE_SIZE;

/// The file size `s3s` may hold of a form it parses itself. Browser
/// uploads never reach it (see [`crate::post`]); other form POSTs (to a
/// key, to `/`) are refused by `s3s` before it reads a file, and this
/// bounds what it would hold if that changed.
const S3S_POST_MAX_FILE_SIZE: u64 = 1 << 20;

fn default_console() -> bool {
    true
}

fn default_post_object_max_size() -> u64 {
    DEFAULT_POST_OBJECT_MAX_SIZE
}

fn load_tls(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::InvalidArgument(format!("tls_cert {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "tls_cert {}: no certificate found",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::InvalidArgument(format!("tls_key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::InvalidArgument(format!("tls: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Builds the S3 service of a gateway (`s3s` over [`Gateway`]).
pub async fn build_service(config: &GatewayConfig, auth: ClusterAuth) -> Result<S3Service> {
    Ok(build_service_with(config, auth, None, None).await?.0)
}

/// What [`build_service_with`] makes.
type Built = (S3Service, Arc<CorsCache>, Arc<DataPath>, post::PostContext);

/// Like [`build_service`], with reads reporting missing chunks to `missing`;
/// also returns the gateway's CORS cache (for the HTTP front).
async fn build_service_with(
    config: &GatewayConfig,
    auth: ClusterAuth,
    missing: Option<tokio::sync::mpsc::Sender<(shale_common::NodeId, String)>>,
    workers: Option<Arc<Workers>>,
) -> Result<Built> {
    let hosts = VirtualHosts::new(&config.domains)?;
    let meta = MetaClient::new(&config.metadata_addr, auth.clone());
    let mut data_config = config.data.clone();
    // Uploads commit well within the orphan sweep's grace (see gc.rs).
    data_config.commit_deadline = Duration::from_secs(config.gc.orphan_grace_secs / 2);
    let master = shale_common::sealing::SealingKeys::configured_kind(
        config.sse_master_key_file.as_deref(),
        shale_common::sealing::KeyKind::Master,
    )
    .map_err(Error::InvalidArgument)?;
    match &master {
        Some(m) => tracing::info!(
            ids = ?m.keys().iter().map(|k| k.id()).collect::<Vec<_>>(),
            "server-side encryption master keys"
        ),
        None => tracing::info!("no master key: server-side encryption (SSE-S3) is refused"),
    }
    let mut data = DataPath::new(data_config, StorageClient::new(auth.clone()), meta.clone())?
        .with_sse_keys(shale_datapath::sse::Keys::new(master));
    if let Some(to) = missing {
        data = data.report_missing_to(to);
    }
    let data = Arc::new(data);
    data.refresh_nodes().await?;
    let keys = Arc::new(Keys::new(meta.clone()));
    let regions = Arc::new(Regions::new(
        &config.region,
        meta.clone(),
        Arc::clone(&keys),
    ));
    let gateway = Gateway::new(meta.clone(), Arc::clone(&data), Arc::clone(&regions))
        .with_lifecycle_day_secs(config.lifecycle.day_secs)
        .with_account_block(config.public_access_block.into());
    let cors = gateway.cors_cache();
    let gateway_access = gateway.access_rules();
    let post_cx = post::PostContext {
        gateway: gateway.clone(),
        keys: Arc::clone(&keys),
        max_file_size: config.post_object_max_size.min(post::MAX_FILE_SIZE),
        body_idle: Duration::from_secs(config.edge.body_idle_timeout_secs.max(1)),
    };
    let mut builder = S3ServiceBuilder::new(gateway);
    builder.set_auth(MetaAuth::with_keys(Arc::clone(&keys)));
    builder.set_access(Grants::new(Arc::clone(&keys), gateway_access));
    builder.set_route(AdminRoute::new(
        meta,
        Arc::clone(&data),
        keys,
        config.region.clone(),
        config.metadata_addr.clone(),
        workers,
        regions,
    ));
    if !hosts.is_empty() {
        builder.set_host(hosts);
    }
    let mut s3s_config = s3s::config::S3Config::default();
    s3s_config.post_object_max_file_size = S3S_POST_MAX_FILE_SIZE;
    s3s_config.presigned_url_max_skew_time_secs = auth::S3S_MAX_SKEW_SECS;
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
        s3s_config,
    ))));
    Ok((builder.build(), cors, data, post_cx))
}

/// The bucket a request addresses: from a virtual host, else the first
/// segment of the (percent-decoded) path.
fn request_bucket(hosts: &VirtualHosts, host: &str, path: &str) -> Option<String> {
    if let Some((bucket, _)) = hosts.bucket_of(host) {
        return Some(bucket.to_string());
    }
    let first = path.trim_start_matches('/').split('/').next()?;
    (!first.is_empty()).then(|| first.to_owned())
}

/// The bucket requests every region answers itself, whichever region
/// holds the bucket: CreateBucket (its name is claimed, or its
/// `LocationConstraint` sends it on), GetBucketLocation, and CORS
/// preflights.
fn answered_by_bucket_region<B>(req: &http::Request<B>, hosts: &VirtualHosts, host: &str) -> bool {
    let query = req.uri().query().unwrap_or("");
    let path = req.uri().path().trim_start_matches('/');
    let bucket_only = if hosts.bucket_of(host).is_some() {
        path.is_empty()
    } else {
        !path.trim_end_matches('/').contains('/')
    };
    let method = req.method();
    (method == http::Method::PUT && bucket_only && query.is_empty())
        || (method == http::Method::GET
            && bucket_only
            && form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "location"))
        || method == http::Method::OPTIONS
}

/// A CORS preflight, as S3 answers it (see [`crate::cors::preflight`]).
async fn preflight(
    cors_cache: &CorsCache,
    headers: &http::HeaderMap,
    bucket: Option<&str>,
) -> s3s::S3Result<http::Response<s3s::Body>> {
    let rules = match bucket {
        Some(b) => cors_cache.rules(b).await.map_err(|e| {
            tracing::warn!(error = %e, "reading the bucket's CORS rules failed");
            crate::error::to_s3_error(Error::Meta(e))
        })?,
        None => None,
    };
    cors::preflight(headers, rules.as_deref().map(|r| r.as_slice()))
}

/// One request, through `s3s` (or `post.rs` for a browser upload), with the
/// checks before it and the finishing touches after it (see the module
/// docs). Never fails: every outcome is an HTTP answer.
/// What every request of the public listener is answered with.
struct Front {
    service: S3Service,
    /// The web console; `None` when it is off (`console = false`).
    console: Option<crate::console::Console>,
    post_cx: Arc<post::PostContext>,
    cors_cache: Arc<CorsCache>,
    hosts: Arc<VirtualHosts>,
    scheme: &'static str,
    auth_failures: crate::edge::AuthFailures,
}

async fn handle(
    front: &Front,
    req: http::Request<hyper::body::Incoming>,
    request_id: &str,
    held: bool,
) -> http::Response<s3s::Body> {
    let Front {
        service,
        post_cx,
        cors_cache,
        hosts,
        scheme,
        ..
    } = front;
    let method = req.method().clone();
    // The error's Resource: the bucket and key, whichever the style.
    let (host, path) = host_and_path(&req);
    let bucket = request_bucket(hosts, &host, &path);
    let post_form = post::is_form_upload(&req);
    let post_bucket = post_form
        .then(|| post::form_bucket(hosts, &host, &path))
        .flatten();
    let resource = match hosts.bucket_of(&host) {
        Some((bucket, _)) => format!("/{bucket}{path}"),
        None => path,
    };
    let origin = req
        .headers()
        .get(http::header::ORIGIN)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let unanswered_expect = expects_continue_without_body(&req);
    let expects_continue = expects_continue(&req);

    let route = match &bucket {
        _ if held => Route::Held,
        Some(b) if !answered_by_bucket_region(&req, hosts, &host) => {
            post_cx.gateway.regions().route(&req, b).await
        }
        _ => Route::Here,
    };
    let mut resp = match (route, post_bucket) {
        (Route::Redirect { region, endpoint }, _) => {
            crate::metrics::set_operation("PermanentRedirect");
            Ok(crate::regions::redirect(
                bucket.as_deref().unwrap_or_default(),
                &region,
                &endpoint,
            ))
        }
        (Route::Unknown(e), _) => crate::error::to_s3_error(Error::Meta(e)).to_http_response(),
        (Route::Held, _) => {
            crate::metrics::set_operation("AuthFailuresHeld");
            s3s::s3_error!(
                SlowDown,
                "Too many failed authentications from your address; slow down."
            )
            .to_http_response()
        }
        (Route::Forward { region, endpoint }, _) => {
            crate::metrics::set_operation("Forwarded");
            tracing::debug!(%region, %endpoint, "passing the request on to the bucket's region");
            Ok(post_cx.gateway.regions().forward(&endpoint, req).await)
        }
        (Route::Here, Some(post_bucket)) => {
            let base = format!("{scheme}://{host}");
            AssertUnwindSafe(post::upload(post_cx, req, post_bucket, &base))
                .catch_unwind()
                .await
                .or_else(|_| {
                    tracing::error!(request_id, "browser upload panicked");
                    internal_error_response()
                })
        }
        (Route::Here, None) => {
            answer_through_s3s(
                service,
                cors_cache,
                hosts,
                req,
                post_cx.body_idle,
                bucket.as_deref(),
                request_id,
            )
            .await
        }
    }
    .unwrap_or_else(|_| {
        let mut resp = http::Response::new(s3s::Body::empty());
        *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    });

    if let Some(StatusOverride(status)) = resp.extensions().get::<StatusOverride>() {
        *resp.status_mut() = *status;
    }
    if resp.extensions().get::<BareETags>().is_some() {
        crate::s3::unquote_etags(&mut resp);
    }
    if let Some(VersionOrder(order)) = resp.extensions_mut().remove::<VersionOrder>() {
        crate::s3::interleave_versions(&mut resp, &order);
    }
    let info = RequestInfo {
        method: &method,
        resource: &resource,
        request_id,
        post_form,
    };
    // Read before a HEAD answer loses its body, and after the finishing
    // touches may have changed the code (POST policies).
    let code_before = crate::metrics::error_code(&resp);
    finish_error_response(&mut resp, &info);
    if let Some(code) = crate::metrics::error_code(&resp).or(code_before) {
        resp.extensions_mut()
            .insert(crate::metrics::ErrorCode(code));
    }
    // An actual cross-origin request: S3 adds the CORS headers of the first
    // matching rule to every answer, errors included.
    if method != http::Method::OPTIONS
        && let (Some(origin), Some(bucket)) = (&origin, &bucket)
    {
        match cors_cache.rules(bucket).await {
            Ok(Some(rules)) => cors::finish_actual(&mut resp, &rules, origin, &method),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading the bucket's CORS rules failed"),
        }
    }
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amz-request-id", v.clone());
        resp.headers_mut().insert("x-amz-id-2", v);
    }
    // An error answered to `Expect: 100-continue` may come before the body
    // was asked for (a header S3 refuses): the client then never sends
    // it, and hyper, which would drain a small unread body, would take the
    // next request's first bytes for it. Closing the connection ends that.
    let refused_before_body = expects_continue && !resp.status().is_success();
    if unanswered_expect || refused_before_body {
        // hyper sends `100 Continue` only when a body is read, so a request
        // with `Expect: 100-continue` and an empty body gets its final
        // answer straight away. botocore (boto3, the AWS CLI) then keeps
        // that answer's parser for the connection, and its next request
        // there stalls until its read timeout (60 s). S3 always sends the
        // 100 first; closing the connection after this answer is the
        // simplest way to the same result.
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// The answer of a request other than a browser upload: a CORS preflight,
/// or `s3s`'s after [`auth::check_request`].
async fn answer_through_s3s(
    service: &S3Service,
    cors_cache: &CorsCache,
    hosts: &VirtualHosts,
    req: http::Request<hyper::body::Incoming>,
    body_idle: Duration,
    bucket: Option<&str>,
    request_id: &str,
) -> s3s::S3Result<http::Response<s3s::Body>> {
    let method = req.method().clone();
    let mut req = req.map(|body| s3s::Body::http_body(crate::edge::IdleBody::new(body, body_idle)));
    let checked = if method == http::Method::OPTIONS {
        crate::metrics::set_operation(crate::metrics::PREFLIGHT_OP);
        Err(preflight(cors_cache, req.headers(), bucket).await)
    } else {
        Ok(auth::check_request(
            &mut req,
            hosts,
            time::OffsetDateTime::now_utc(),
        ))
    };
    match checked {
        Err(answer) => answer.or_else(|e| e.to_http_response()),
        Ok(Err(e)) => e.to_http_response(),
        // A panic in a handler (ours or s3s's) answers 500 like any other
        // internal error instead of resetting the connection.
        Ok(Ok(())) => match AssertUnwindSafe(service.call(req)).catch_unwind().await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                tracing::error!(request_id, error = ?e, "s3s could not answer");
                Err(())
            }
            Err(_) => {
                tracing::error!(request_id, "request handler panicked");
                Err(())
            }
        }
        .or_else(|()| internal_error_response()),
    }
}

/// [`handle`] as part of request `id` (internal RPCs carry it), counted
/// and timed in [`crate::metrics`], logged at debug level when answered.
async fn handle_measured(
    front: &Front,
    req: http::Request<hyper::body::Incoming>,
    id: String,
    peer: std::net::IpAddr,
) -> http::Response<crate::metrics::CountingBody<s3s::Body>> {
    let started = std::time::Instant::now();
    let held = front.auth_failures.held(peer);
    let received = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let line =
        tracing::enabled!(tracing::Level::DEBUG).then(|| (req.method().clone(), req.uri().clone()));
    let header = http::HeaderValue::from_str(&id).expect("request ids are hex digits");
    let (resp, op) = crate::metrics::with_operation(shale_common::rpc::with_request_id(
        header,
        handle(front, req, &id, held),
    ))
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    let code = resp
        .extensions()
        .get::<crate::metrics::ErrorCode>()
        .map(|c| c.0);
    crate::metrics::record_request(op, status, seconds, received, code);
    if code.is_some_and(crate::edge::is_auth_failure) {
        front.auth_failures.failed(peer);
    }
    if let Some((method, uri)) = line {
        // A client's mistake is logged here only (`s3s` would log the ones
        // it raises at ERROR; the binary's log set-up drops those).
        let message = error_message(&resp);
        tracing::debug!(%method, %uri, op, status, error = code.unwrap_or(""),
            reason = message.as_deref().unwrap_or(""),
            micros = (seconds * 1e6) as u64, "request");
    }
    let sent = crate::metrics::sent_bytes(op);
    resp.map(|body| crate::metrics::CountingBody::new(body, sent))
}

impl Front {
    /// The web console ([`crate::console`]) when the request is for it:
    /// the console is on, and the request has its path on a host that is
    /// not a bucket's virtual host (where the path is a key like any
    /// other).
    fn console_for<B>(&self, req: &http::Request<B>) -> Option<&crate::console::Console> {
        let console = self.console.as_ref()?;
        if !crate::console::is_console_path(req.uri().path()) {
            return None;
        }
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        self.hosts.bucket_of(host).is_none().then_some(console)
    }

    /// A console request as part of request `id` (the S3 requests it makes
    /// carry it), timed and counted as operation `Console`.
    async fn console_measured(
        &self,
        console: &crate::console::Console,
        req: http::Request<hyper::body::Incoming>,
        id: String,
        origin: crate::bucket_access::Origin,
    ) -> http::Response<crate::metrics::CountingBody<s3s::Body>> {
        const OP: &str = "Console";
        let started = std::time::Instant::now();
        let header = http::HeaderValue::from_str(&id).expect("request ids are hex digits");
        let s3 = InProcess {
            front: self,
            origin,
            request_id: &id,
        };
        let answer = shale_common::rpc::with_request_id(
            header.clone(),
            AssertUnwindSafe(console.handle(&s3, req)).catch_unwind(),
        )
        .await;
        let mut resp = answer.unwrap_or_else(|_| {
            tracing::error!(request_id = %id, "console handler panicked");
            let mut resp = http::Response::new(s3s::Body::from(
                "The console met an internal error.".to_owned(),
            ));
            *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            resp
        });
        resp.headers_mut().insert("x-amz-request-id", header);
        crate::metrics::record_request(
            OP,
            resp.status().as_u16(),
            started.elapsed().as_secs_f64(),
            0,
            None,
        );
        resp.map(|body| crate::metrics::CountingBody::new(body, crate::metrics::sent_bytes(OP)))
    }
}

/// The gateway's S3 front as the console's S3 endpoint, in this process:
/// a console request's S3 requests meet the same region routing,
/// authentication checks (and the same count of failed authentications
/// per address), `s3s` service, grants and handlers as the listener's,
/// and are counted in the same metrics.
struct InProcess<'a> {
    front: &'a Front,
    origin: crate::bucket_access::Origin,
    request_id: &'a str,
}

impl crate::console::client::S3Dispatch for InProcess<'_> {
    async fn dispatch(&self, mut req: http::Request<s3s::Body>) -> http::Response<s3s::Body> {
        let front = self.front;
        let started = std::time::Instant::now();
        let peer = self.origin.ip;
        req.extensions_mut().insert(self.origin);
        let held = front.auth_failures.held(peer);
        let (resp, op) = crate::metrics::with_operation(async {
            if held {
                crate::metrics::set_operation("AuthFailuresHeld");
                return s3s::s3_error!(
                    SlowDown,
                    "Too many failed authentications from your address; slow down."
                )
                .to_http_response()
                .or_else(|_| internal_error_response());
            }
            let (host, path) = host_and_path(&req);
            let bucket = request_bucket(&front.hosts, &host, &path);
            if let Some(b) = &bucket
                && !answered_by_bucket_region(&req, &front.hosts, &host)
            {
                let mut head = http::Request::new(());
                *head.method_mut() = req.method().clone();
                *head.uri_mut() = req.uri().clone();
                *head.headers_mut() = req.headers().clone();
                match front.post_cx.gateway.regions().route(&head, b).await {
                    Route::Here => {}
                    // Signed for this region, so never passed on: the
                    // console shows S3's redirect as an error.
                    Route::Redirect { region, endpoint } | Route::Forward { region, endpoint } => {
                        crate::metrics::set_operation("PermanentRedirect");
                        return Ok(crate::regions::redirect(b, &region, &endpoint));
                    }
                    Route::Unknown(e) => {
                        return crate::error::to_s3_error(Error::Meta(e)).to_http_response();
                    }
                    Route::Held => {
                        return s3s::s3_error!(SlowDown, "Slow down.").to_http_response();
                    }
                }
            }
            if let Err(e) = auth::check_request(&mut req, &front.hosts, time::OffsetDateTime::now_utc())
            {
                return e.to_http_response();
            }
            match AssertUnwindSafe(front.service.call(req)).catch_unwind().await {
                Ok(Ok(resp)) => Ok(resp),
                Ok(Err(e)) => {
                    tracing::error!(request_id = self.request_id, error = ?e, "s3s could not answer the console");
                    internal_error_response()
                }
                Err(_) => {
                    tracing::error!(request_id = self.request_id, "request handler panicked");
                    internal_error_response()
                }
            }
        })
        .await;
        let resp = resp.unwrap_or_else(|_| {
            let mut resp = http::Response::new(s3s::Body::empty());
            *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            resp
        });
        let code = crate::metrics::error_code(&resp);
        crate::metrics::record_request(
            op,
            resp.status().as_u16(),
            started.elapsed().as_secs_f64(),
            0,
            code,
        );
        if code.is_some_and(crate::edge::is_auth_failure) {
            front.auth_failures.failed(peer);
        }
        resp
    }
}

/// A request's `Host` header ("" when missing or not text) and its path,
/// percent-decoded (as sent when it does not decode).
fn host_and_path<B>(req: &http::Request<B>) -> (String, String) {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let path = urlencoding::decode(req.uri().path())
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| req.uri().path().to_owned());
    (host, path)
}

/// The `<Message>` of an error answer, for the debug log.
fn error_message(resp: &http::Response<s3s::Body>) -> Option<String> {
    if resp.status().as_u16() < 300 {
        return None;
    }
    let body = resp.body().bytes()?;
    let text = std::str::from_utf8(&body).ok()?;
    let start = text.find("<Message>")? + "<Message>".len();
    let len = text[start..].find("</Message>")?;
    Some(text[start..start + len].to_owned())
}

/// True for a request that asks for `100 Continue` but has no body to send
/// after it (`Content-Length: 0`).
fn expects_continue<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

fn expects_continue_without_body<B>(req: &http::Request<B>) -> bool {
    let h = req.headers();
    let expects = expects_continue(req);
    let empty = h
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0");
    expects && empty
}

/// Where the gateway answers its background workers' figures as JSON
/// (`GET`, unauthenticated like a metrics endpoint; it names no bucket or
/// key; off with [`EdgeConfig::public_status`] false). No bucket can be
/// named `_shale`, so it never hides an S3 request.
pub const WORKERS_STATUS_PATH: &str = "/_shale/status";

/// The gateway's background workers, whose figures `/_shale/status` shows.
#[derive(Debug, Default)]
pub struct Workers {
    /// The healer (its figures, and the trigger for lost nodes).
    pub heal: Arc<shale_workers::heal::Healer>,
    /// The garbage collector's figures.
    pub gc: Arc<shale_workers::gc::GcStats>,
    /// The lifecycle worker's figures.
    pub lifecycle: Arc<shale_workers::lifecycle::LifecycleStats>,
    /// The replication worker's figures.
    pub replication: Arc<shale_workers::replication::ReplicationStats>,
    /// The re-sealing worker's figures.
    pub rekey: Arc<shale_workers::rekey::RekeyStats>,
    /// Starts a re-sealing pass at once (after a key was rotated here).
    pub rekey_wake: Arc<tokio::sync::Notify>,
}

/// The JSON body of `/_shale/status`.
#[derive(Debug, serde::Serialize)]
struct WorkersStatus {
    heal: shale_workers::heal::HealStatus,
    gc: shale_workers::gc::GcStatus,
    lifecycle: shale_workers::lifecycle::LifecycleStatus,
}

impl Workers {
    fn status_response(&self) -> http::Response<s3s::Body> {
        let status = WorkersStatus {
            heal: self.heal.stats().status(),
            gc: self.gc.status(),
            lifecycle: self.lifecycle.status(),
        };
        let body = serde_json::to_vec(&status).unwrap_or_default();
        let mut resp = http::Response::new(s3s::Body::from(bytes::Bytes::from(body)));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// The S3 InternalError answer, for a handler that panicked.
fn internal_error_response() -> s3s::S3Result<http::Response<s3s::Body>> {
    s3s::S3Error::with_message(
        s3s::S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
    .to_http_response()
}

/// Serves S3 on `listener` until `shutdown` completes, then lets in-flight
/// requests finish (up to a grace period).
pub async fn serve(
    config: GatewayConfig,
    auth: ClusterAuth,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // The ETag hashing thread, started now rather than on the first PUT.
    shale_datapath::md5x::start();
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some(load_tls(c, k)?),
        (None, None) => None,
        _ => {
            return Err(Error::InvalidArgument(
                "tls_cert and tls_key must be given together".into(),
            ));
        }
    };
    let (missing_tx, missing_rx) = tokio::sync::mpsc::channel(shale_workers::heal::MISSING_QUEUE);
    let workers = Arc::new(Workers::default());
    let (service, cors_cache, data, post_cx) = build_service_with(
        &config,
        auth.clone(),
        Some(missing_tx),
        Some(Arc::clone(&workers)),
    )
    .await?;
    let post_cx = Arc::new(post_cx);
    let (stop_gc, gc_stopped) = tokio::sync::watch::channel(false);
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    crate::metrics::report_background(Arc::clone(&workers), Arc::clone(&stopped));
    crate::metrics::report_replication(
        MetaClient::new(&config.metadata_addr, auth.clone()),
        Arc::clone(&stopped),
    );
    let map_follower = tokio::spawn(Arc::clone(&data).follow_map(gc_stopped.clone()));
    let collector = tokio::spawn(shale_workers::gc::run(
        MetaClient::new(&config.metadata_addr, auth.clone()),
        StorageClient::new(auth.clone()),
        config.gc,
        Arc::clone(&workers.gc),
        gc_stopped.clone(),
    ));
    let lifecycle = tokio::spawn(shale_workers::lifecycle::run(
        MetaClient::new(&config.metadata_addr, auth.clone()),
        config.lifecycle,
        Arc::clone(&workers.lifecycle),
        gc_stopped.clone(),
    ));
    let rekey = tokio::spawn(shale_workers::rekey::run(
        MetaClient::new(&config.metadata_addr, auth.clone()),
        Arc::clone(&data),
        Arc::clone(&workers.rekey),
        Arc::clone(&workers.rekey_wake),
        gc_stopped.clone(),
    ));
    let healer = tokio::spawn(shale_workers::heal::run(
        MetaClient::new(&config.metadata_addr, auth.clone()),
        StorageClient::new(auth.clone()),
        config.data.coding,
        config.heal,
        Arc::clone(&workers.heal),
        missing_rx,
        gc_stopped,
    ));
    let regions = Arc::clone(post_cx.gateway.regions());
    if let Ok(addr) = listener.local_addr() {
        regions.set_own_endpoint(format!("http://{addr}"));
    }
    let region_sync = tokio::spawn(Arc::clone(&regions).run_sync(stop_gc.subscribe()));
    let replicator = tokio::spawn(shale_workers::replication::run(
        MetaClient::new(&config.metadata_addr, auth.clone()),
        Arc::clone(&data),
        regions,
        config.replication,
        Arc::clone(&workers.replication),
        stop_gc.subscribe(),
    ));
    let hosts = Arc::new(VirtualHosts::new(&config.domains)?);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let request_seq = Arc::new(AtomicU64::new(0));
    let instance: u32 = rand::random();
    let edge = config.edge;
    let header_timeout = Duration::from_secs(edge.header_read_timeout_secs.max(1));
    let connections = Arc::new(tokio::sync::Semaphore::new(edge.max_connections.max(1)));
    let front = Arc::new(Front {
        service,
        post_cx: Arc::clone(&post_cx),
        cors_cache,
        hosts,
        scheme,
        auth_failures: crate::edge::AuthFailures::new(edge.auth_failures_per_minute),
        console: config
            .console
            .then(|| crate::console::Console::new(&config.region, tls.is_some())),
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&connections).try_acquire_owned() else {
            // Full: closed at once (the client retries); counted.
            crate::metrics::connection_refused();
            tracing::debug!(%peer, "connection refused: max_connections reached");
            drop(stream);
            continue;
        };
        let open = crate::metrics::ConnectionOpen::new(slot);
        let _ = stream.set_nodelay(true);
        let front = Arc::clone(&front);
        let seq = Arc::clone(&request_seq);
        let workers = Arc::clone(&workers);
        let public_status = edge.public_status;
        let origin = crate::bucket_access::Origin {
            ip: peer.ip(),
            secure: tls.is_some(),
        };
        let handler = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(origin);
            if public_status
                && req.method() == http::Method::GET
                && req.uri().path() == WORKERS_STATUS_PATH
            {
                let answer = workers.status_response().map(|body| {
                    crate::metrics::CountingBody::new(
                        body,
                        crate::metrics::sent_bytes("ShaleStatus"),
                    )
                });
                return futures::future::Either::Left(async move {
                    Ok::<_, std::convert::Infallible>(answer)
                });
            }
            let front = Arc::clone(&front);
            let id = format!("{instance:08X}{:016X}", seq.fetch_add(1, Ordering::Relaxed));
            let span = tracing::info_span!("request", request_id = %id);
            futures::future::Either::Right(
                async move {
                    let answer = match front.console_for(&req) {
                        Some(console) => front.console_measured(console, req, id, origin).await,
                        None => handle_measured(&front, req, id, peer.ip()).await,
                    };
                    Ok::<_, std::convert::Infallible>(answer)
                }
                .instrument(span),
            )
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout);
        match &tls {
            None => {
                let conn = builder.serve_connection(TokioIo::new(stream), handler);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        crate::metrics::connection_ended(&e);
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(open);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(
                        header_timeout.min(Duration::from_secs(10)),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            crate::metrics::connection_timed_out();
                            return;
                        }
                    };
                    let conn =
                        watcher.watch(builder.serve_connection(TokioIo::new(stream), handler));
                    if let Err(e) = conn.await {
                        crate::metrics::connection_ended(&e);
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(open);
                });
            }
        }
    }
    drop(listener);
    stopped.store(true, Ordering::Relaxed);
    let _ = stop_gc.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    // A round in progress may be waiting on a node; it is safe to cut short.
    collector.abort();
    lifecycle.abort();
    rekey.abort();
    region_sync.abort();
    replicator.abort();
    healer.abort();
    map_follower.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_on_unless_configured_off() {
        let least = serde_json::json!({ "region": "us-east-1", "metadata_addr": "127.0.0.1:7100" });
        let config: GatewayConfig = serde_json::from_value(least.clone()).expect("valid");
        assert!(config.console);
        let mut off = least;
        off["console"] = serde_json::Value::Bool(false);
        let config: GatewayConfig = serde_json::from_value(off).expect("valid");
        assert!(!config.console);
    }
}
