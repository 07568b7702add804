//! One role per process, each from a TOML file: `shale metadata`,
//! `shale storage-node` and `shale gateway --config FILE`.
//!
//! The roles run the very code `shale dev` runs; only the wiring differs.
//! A configuration is checked before anything starts, and an error names
//! the file and the field (`toml` reports the key and line; unknown keys
//! are refused). Example files are in `examples/cluster/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shale_common::NodeInfo;
use shale_metadata::{AccessKey, MetaClient, MetadataConfig};
use shale_s3_gateway::GatewayConfig;
use shale_storage_node::StorageNodeConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{on_shutdown, root_credentials, wait_for_signal};

/// `shale metadata --config FILE`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataFile {
    /// Address of the metadata RPC.
    pub listen: SocketAddr,
    /// Directory of the RocksDB database (and of the root credentials when
    /// they do not come from the environment).
    pub path: PathBuf,
    /// Address of the Prometheus `/metrics` endpoint; none when absent.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
}

/// `shale storage-node --config FILE`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFile {
    /// Address the node serves chunks on.
    pub listen: SocketAddr,
    /// Address other roles reach it at, when not `listen` (e.g. behind NAT).
    pub advertise: Option<String>,
    /// `host:port` of the metadata service, where the node registers.
    pub metadata: String,
    /// The node's number in the cluster map (unique, stable across restarts).
    pub node_id: u32,
    /// Failure domain (rack, room); placement spreads over zones.
    #[serde(default)]
    pub zone: String,
    /// Address of the Prometheus `/metrics` endpoint; none when absent.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Disks, block size, scrubbing and reserve.
    pub node: StorageNodeConfig,
}

/// `shale gateway --config FILE`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// Address of the S3 endpoint.
    pub listen: SocketAddr,
    /// Address of the Prometheus `/metrics` endpoint; none when absent.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Region, metadata address, TLS, virtual-host domains, GC and healing.
    pub gateway: GatewayConfig,
}

/// Reads and checks a role's configuration file.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("config {}: cannot read", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
}

/// Runs the metadata service until SIGTERM or Ctrl-C; stores the root access
/// key on start (from `SHALE_ROOT_ACCESS_KEY`/`_SECRET_KEY`, else kept in
/// `path/root-credentials.toml`).
pub async fn metadata(file: MetadataFile) -> Result<()> {
    std::fs::create_dir_all(&file.path)
        .with_context(|| format!("path {}: cannot create", file.path.display()))?;
    let creds = root_credentials(&file.path)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    start_metrics(file.metrics_listen, &stop_rx).await?;
    let listener = TcpListener::bind(file.listen)
        .await
        .with_context(|| format!("listen {}: cannot bind", file.listen))?;
    let addr = listener.local_addr()?;
    let mut task = tokio::spawn(shale_metadata::serve(
        MetadataConfig {
            path: file.path.join("db"),
        },
        listener,
        on_shutdown(stop_rx),
    ));
    let meta = MetaClient::new(&addr.to_string());
    retry("storing the root access key", || {
        meta.put_access_key(AccessKey {
            access_key: creds.access_key.clone(),
            secret_key: creds.secret_key.clone(),
            name: "root".into(),
        })
    })
    .await?;
    println!("shale metadata listening on {addr}");
    run_until_signal(&mut task, stop_tx, "metadata service").await
}

/// Runs a storage node until SIGTERM or Ctrl-C, registered in the cluster
/// map under its `node_id`.
pub async fn storage_node(mut file: StorageFile) -> Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    start_metrics(file.metrics_listen, &stop_rx).await?;
    file.node.node_id = Some(file.node_id);
    let listener = TcpListener::bind(file.listen)
        .await
        .with_context(|| format!("listen {}: cannot bind", file.listen))?;
    let addr = match &file.advertise {
        Some(a) => a.clone(),
        None => listener.local_addr()?.to_string(),
    };
    let mut task = tokio::spawn(shale_storage_node::serve(
        file.node,
        listener,
        on_shutdown(stop_rx),
    ));
    let meta = MetaClient::new(&file.metadata);
    let info = NodeInfo {
        id: file.node_id,
        addr: addr.clone(),
        zone: file.zone.clone(),
    };
    retry("registering with the metadata service", || {
        meta.register_node(info.clone())
    })
    .await?;
    println!("shale storage node {} listening on {addr}", file.node_id);
    run_until_signal(&mut task, stop_tx, "storage node").await
}

/// Runs an S3 gateway until SIGTERM or Ctrl-C.
pub async fn gateway(file: GatewayFile) -> Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    start_metrics(file.metrics_listen, &stop_rx).await?;
    let listener = TcpListener::bind(file.listen)
        .await
        .with_context(|| format!("listen {}: cannot bind", file.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if file.gateway.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let mut task = tokio::spawn(shale_s3_gateway::serve(
        file.gateway,
        listener,
        on_shutdown(stop_rx),
    ));
    println!("shale gateway: {scheme}://{addr}");
    run_until_signal(&mut task, stop_tx, "gateway").await
}

/// Installs the Prometheus recorder and serves `/metrics` on `addr` until
/// `stop`, when an address is configured; before the role starts, so that
/// it records from its first request.
pub async fn start_metrics(addr: Option<SocketAddr>, stop: &watch::Receiver<bool>) -> Result<()> {
    let Some(addr) = addr else {
        return Ok(());
    };
    let handle = shale_common::metrics::install().map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics_listen {addr}: cannot bind"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(shale_common::metrics::serve(
        listener,
        handle,
        on_shutdown(stop.clone()),
    ));
    println!("metrics: http://{addr}/metrics");
    Ok(())
}

/// Retries `op` for up to 30 s: the metadata service may start after the
/// other roles, or a moment after its own listener.
async fn retry<F, Fut, T, E>(what: &str, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
    E: std::fmt::Display,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "{what}: retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => bail!("{what}: {e}"),
        }
    }
}

/// Waits for a signal (then stops the role cleanly) or for the role to stop
/// on its own (an error).
async fn run_until_signal<E: std::fmt::Display>(
    task: &mut tokio::task::JoinHandle<std::result::Result<(), E>>,
    stop: watch::Sender<bool>,
    role: &str,
) -> Result<()> {
    use std::io::Write;
    std::io::stdout().flush()?;
    tokio::select! {
        r = wait_for_signal() => r?,
        r = &mut *task => match r {
            Ok(Err(e)) => bail!("the {role} stopped: {e}"),
            Ok(Ok(())) => bail!("the {role} stopped unexpectedly"),
            Err(e) => bail!("the {role} task failed: {e}"),
        },
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
    match tokio::time::timeout(Duration::from_secs(20), task).await {
        Ok(Ok(Err(e))) => bail!("the {role} stopped with an error: {e}"),
        Ok(Err(e)) => bail!("the {role} task failed: {e}"),
        Err(_) => bail!("the {role} did not stop in time"),
        Ok(Ok(Ok(()))) => Ok(()),
    }
}
