//! The gateway's HTTP(S) front: accept loop, optional TLS, request ids, and
//! graceful shutdown. S3 itself is `s3s` over [`crate::s3::Gateway`].

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
use shale_metadata::MetaClient;
use shale_storage_node::StorageClient;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::Instrument;

use crate::auth::MetaAuth;
use crate::datapath::{DataPath, DataPathConfig};
use crate::error::{Error, Result};
use crate::gc::GcConfig;
use crate::heal::HealConfig;
use crate::s3::{Gateway, StatusOverride};

/// How long in-flight requests may run on after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Configuration of one gateway.
#[derive(Clone, Debug, Deserialize)]
pub struct GatewayConfig {
    /// The region this gateway serves (its cluster's name).
    pub region: String,
    /// `host:port` of the metadata service.
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
    #[serde(skip)]
    pub data: DataPathConfig,
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

/// Builds the S3 service of a gateway.
pub async fn build_service(config: &GatewayConfig) -> Result<S3Service> {
    build_service_with(config, None).await
}

/// Like [`build_service`], with reads reporting missing chunks to `missing`.
async fn build_service_with(
    config: &GatewayConfig,
    missing: Option<tokio::sync::mpsc::Sender<(shale_common::NodeId, String)>>,
) -> Result<S3Service> {
    let meta = MetaClient::new(&config.metadata_addr);
    let mut data = DataPath::new(config.data.clone(), StorageClient::new(), meta.clone())?;
    if let Some(to) = missing {
        data = data.report_missing_to(to);
    }
    let data = Arc::new(data);
    data.refresh_nodes().await?;
    let gateway = Gateway::new(meta.clone(), data, config.region.clone());
    let mut builder = S3ServiceBuilder::new(gateway);
    builder.set_auth(MetaAuth::new(meta));
    Ok(builder.build())
}

/// The S3 InternalError answer, for a handler that panicked.
fn internal_error_response(request_id: &str) -> http::Response<s3s::Body> {
    let mut e = s3s::S3Error::with_message(
        s3s::S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    );
    e.set_request_id(request_id);
    e.to_http_response().unwrap_or_else(|_| {
        let mut resp = http::Response::new(s3s::Body::empty());
        *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

/// Serves S3 on `listener` until `shutdown` completes, then lets in-flight
/// requests finish (up to a grace period).
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // The ETag hashing thread, started now rather than on the first PUT.
    crate::md5x::start();
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some(load_tls(c, k)?),
        (None, None) => None,
        _ => {
            return Err(Error::InvalidArgument(
                "tls_cert and tls_key must be given together".into(),
            ));
        }
    };
    let (missing_tx, missing_rx) = tokio::sync::mpsc::channel(crate::heal::MISSING_QUEUE);
    let service = build_service_with(&config, Some(missing_tx)).await?;
    let (stop_gc, gc_stopped) = tokio::sync::watch::channel(false);
    let collector = tokio::spawn(crate::gc::run(
        MetaClient::new(&config.metadata_addr),
        StorageClient::new(),
        config.gc,
        Arc::default(),
        gc_stopped.clone(),
    ));
    let healer = tokio::spawn(crate::heal::run(
        MetaClient::new(&config.metadata_addr),
        StorageClient::new(),
        config.data.coding,
        config.heal,
        Arc::default(),
        missing_rx,
        gc_stopped,
    ));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let request_seq = Arc::new(AtomicU64::new(0));
    let instance: u32 = rand::random();
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
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let seq = Arc::clone(&request_seq);
        let handler = service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let service = service.clone();
            let id = format!("{instance:08X}{:016X}", seq.fetch_add(1, Ordering::Relaxed));
            let span = tracing::debug_span!("request", request_id = %id, method = %req.method(), uri = %req.uri());
            async move {
                // A panic in a handler (ours or s3s's) answers 500 like any
                // other internal error instead of resetting the connection.
                let called = AssertUnwindSafe(hyper::service::Service::call(&service, req))
                    .catch_unwind()
                    .await;
                let mut resp = match called {
                    Ok(resp) => resp?,
                    Err(_) => {
                        tracing::error!(request_id = %id, "request handler panicked");
                        internal_error_response(&id)
                    }
                };
                if let Some(StatusOverride(status)) = resp.extensions().get::<StatusOverride>() {
                    *resp.status_mut() = *status;
                }
                if let Ok(v) = http::HeaderValue::from_str(&id) {
                    resp.headers_mut().insert("x-amz-request-id", v.clone());
                    resp.headers_mut().insert("x-amz-id-2", v);
                }
                Ok::<_, s3s::HttpError>(resp)
            }
            .instrument(span)
        });
        let builder = hyper::server::conn::http1::Builder::new();
        match &tls {
            None => {
                let conn = builder.serve_connection(TokioIo::new(stream), handler);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn =
                        watcher.watch(builder.serve_connection(TokioIo::new(stream), handler));
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    let _ = stop_gc.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    // A round in progress may be waiting on a node; it is safe to cut short.
    collector.abort();
    healer.abort();
    Ok(())
}
