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
use shale_common::cluster_auth::{ClusterAuth, Tier};
use shale_common::sealing::SealingKeys;
use shale_common::tls::InternalTls;
use shale_metadata::{
    AccessKey, DiskReport, MetaClient, MetadataConfig, NodeHealth, RaftTuning, Replica,
};
use shale_s3_gateway::GatewayConfig;
use shale_storage_node::{NodeStatus, StorageClient, StorageNodeConfig};
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
    /// This replica's Raft node id in the metadata group (default 1).
    #[serde(default = "default_node_id")]
    pub node_id: u64,
    /// Every replica of the metadata group, this one included, as
    /// `{ id, addr }`; none: a group of one.
    #[serde(default)]
    pub peers: Vec<Replica>,
    /// Raft timing and log compaction (`heartbeat_ms`,
    /// `election_timeout_ms`, `snapshot_every`, `snapshot_log_ratio`,
    /// `logs_to_keep`).
    #[serde(default)]
    pub raft: RaftTuning,
    /// Address of the Prometheus `/metrics` endpoint; none when absent.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// The cluster's secrets file (see `shale admin cluster-secret`);
    /// without it, `SHALE_CLUSTER_SECRET_FILE` or `SHALE_CLUSTER_SECRET`.
    #[serde(default)]
    pub cluster_secret_file: Option<PathBuf>,
    /// The secrets key access-key secrets are sealed under (see `shale
    /// admin secrets-key`); without it, `SHALE_SECRETS_KEY_FILE` or
    /// `SHALE_SECRETS_KEY`. Keep it apart from `path`.
    #[serde(default)]
    pub secrets_key_file: Option<PathBuf>,
    /// TLS between roles: `{ cert, key, ca }` (PEM files); see SECURITY.md.
    #[serde(default)]
    pub internal_tls: Option<InternalTls>,
    /// Send internal traffic in the clear to and from other hosts (refused
    /// without it when an address is not loopback and `internal_tls` is
    /// not set).
    #[serde(default)]
    pub plaintext_between_hosts: bool,
}

fn default_node_id() -> u64 {
    1
}

/// `shale storage-node --config FILE`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFile {
    /// Address the node serves chunks on.
    pub listen: SocketAddr,
    /// Address other roles reach it at, when not `listen` (e.g. behind NAT).
    pub advertise: Option<String>,
    /// `host:port` of the metadata service, where the node registers: one
    /// address, or a list of the metadata group's replicas.
    #[serde(deserialize_with = "shale_common::rpc::one_or_many")]
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
    /// How often the node reports to the metadata service, and how long
    /// without a report makes it down.
    #[serde(default)]
    pub heartbeat: HeartbeatConfig,
    /// The cluster's secrets file (see `shale admin cluster-secret`);
    /// without it, `SHALE_CLUSTER_SECRET_FILE` or `SHALE_CLUSTER_SECRET`.
    #[serde(default)]
    pub cluster_secret_file: Option<PathBuf>,
    /// TLS between roles: `{ cert, key, ca }` (PEM files); see SECURITY.md.
    #[serde(default)]
    pub internal_tls: Option<InternalTls>,
    /// Send internal traffic in the clear to and from other hosts (refused
    /// without it when an address is not loopback and `internal_tls` is
    /// not set).
    #[serde(default)]
    pub plaintext_between_hosts: bool,
}

/// A storage node's heartbeats (`[heartbeat]` in its file).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Milliseconds between heartbeats.
    pub interval_ms: u64,
    /// The node's lease: after this many milliseconds without a heartbeat
    /// the cluster map reports it down and gateways place no new chunks on
    /// it. More than `interval_ms`.
    pub down_after_ms: u64,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            interval_ms: 2_000,
            down_after_ms: 10_000,
        }
    }
}

impl HeartbeatConfig {
    /// Checks the values, naming the bad field.
    pub fn validate(&self) -> Result<()> {
        if self.interval_ms == 0 {
            bail!("heartbeat.interval_ms: must be more than 0");
        }
        if self.down_after_ms <= self.interval_ms {
            bail!(
                "heartbeat.down_after_ms: must be more than heartbeat.interval_ms ({})",
                self.interval_ms
            );
        }
        Ok(())
    }
}

/// What a node's own status says, as its heartbeat carries it.
fn health_of(status: NodeStatus, config: &HeartbeatConfig) -> NodeHealth {
    NodeHealth {
        down_after_ms: config.down_after_ms,
        disks: status
            .disks
            .into_iter()
            .map(|d| DiskReport {
                path: d.path.display().to_string(),
                chunks: d.chunks,
                used_bytes: d.bytes_used,
                capacity_bytes: d.capacity_bytes,
                available_bytes: d.available_bytes,
                error: d.error,
            })
            .collect(),
        corrupt_chunks: status.scrub.corrupt_count,
    }
}

/// One heartbeat of the node serving at `local` (asked for its status over
/// its own HTTP API, so a node that cannot answer does not claim to be up).
pub async fn heartbeat_once(
    meta: &MetaClient,
    storage: &StorageClient,
    info: &NodeInfo,
    local: &str,
    config: &HeartbeatConfig,
) -> Result<()> {
    let status = storage
        .status(local)
        .await
        .map_err(|e| anyhow::anyhow!("reading the node's own status: {e}"))?;
    meta.heartbeat(info.clone(), health_of(status, config))
        .await
        .map_err(|e| anyhow::anyhow!("sending a heartbeat: {e}"))
}

/// Sends a heartbeat every `config.interval_ms` until `stop` turns true.
/// The first one registers the node (see [`heartbeat_once`]).
pub async fn heartbeats(
    meta: MetaClient,
    storage: StorageClient,
    info: NodeInfo,
    local: String,
    config: HeartbeatConfig,
    mut stop: watch::Receiver<bool>,
) {
    let interval = Duration::from_millis(config.interval_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        if let Err(e) = heartbeat_once(&meta, &storage, &info, &local, &config).await {
            tracing::warn!(node = info.id, error = %e, "heartbeat failed");
        }
    }
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
    /// The cluster's secrets file (see `shale admin cluster-secret`);
    /// without it, `SHALE_CLUSTER_SECRET_FILE` or `SHALE_CLUSTER_SECRET`.
    #[serde(default)]
    pub cluster_secret_file: Option<PathBuf>,
    /// TLS between roles: the gateway calls the metadata service and the
    /// storage nodes over TLS, trusting `ca` (its `cert` and `key` are not
    /// served: the S3 port has `gateway.tls_cert`).
    #[serde(default)]
    pub internal_tls: Option<InternalTls>,
    /// Send internal traffic in the clear to other hosts.
    #[serde(default)]
    pub plaintext_between_hosts: bool,
}

/// The role's cluster credential: from `file` (its config's
/// `cluster_secret_file`), else from the environment.
pub fn cluster_auth(file: Option<&Path>, role: &'static str) -> Result<ClusterAuth> {
    let auth = ClusterAuth::configured(file, role).map_err(anyhow::Error::msg)?;
    tracing::info!(role, ids = ?auth.ids(), "cluster secrets");
    Ok(auth)
}

/// The role's credential with its TLS between roles, after refusing
/// plaintext to other hosts (`addrs`: what it listens on and calls).
fn secured<'a>(
    auth: ClusterAuth,
    tls: Option<&InternalTls>,
    plaintext_between_hosts: bool,
    addrs: impl IntoIterator<Item = &'a str>,
) -> Result<ClusterAuth> {
    shale_common::tls::check_plaintext(tls, plaintext_between_hosts, addrs)
        .map_err(anyhow::Error::msg)?;
    match tls {
        Some(t) => Ok(auth.with_tls(t.load().map_err(anyhow::Error::msg)?)),
        None => Ok(auth),
    }
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
    let auth = cluster_auth(file.cluster_secret_file.as_deref(), "metadata")?;
    if auth.identity() != Tier::Root {
        bail!(
            "cluster_secret_file: a metadata replica needs the cluster secret itself, \
             not a role's keys (`shale admin cluster-secret derive` makes those for \
             gateways and storage nodes)"
        );
    }
    let listen = file.listen.to_string();
    let auth = secured(
        auth,
        file.internal_tls.as_ref(),
        file.plaintext_between_hosts,
        std::iter::once(listen.as_str()).chain(file.peers.iter().map(|p| p.addr.as_str())),
    )?;
    let secrets =
        SealingKeys::configured(file.secrets_key_file.as_deref()).map_err(anyhow::Error::msg)?;
    tracing::info!(ids = ?secrets.keys().iter().map(|k| k.id()).collect::<Vec<_>>(), "secrets keys");
    let (stop_tx, stop_rx) = watch::channel(false);
    start_metrics(file.metrics_listen, &stop_rx).await?;
    let listener = TcpListener::bind(file.listen)
        .await
        .with_context(|| format!("listen {}: cannot bind", file.listen))?;
    let addr = listener.local_addr()?;
    let mut task = tokio::spawn(shale_metadata::serve(
        MetadataConfig {
            path: file.path.join("db"),
            node_id: file.node_id,
            peers: file.peers.clone(),
            raft: file.raft,
            secrets: Some(secrets),
        },
        auth.clone(),
        listener,
        on_shutdown(stop_rx),
    ));
    // The root key is a write like any other: it goes through the group's
    // leader (every replica stores it on start; the write is idempotent).
    let meta = if file.peers.is_empty() {
        MetaClient::new(&addr.to_string(), auth)
    } else {
        MetaClient::with_addrs(
            &file
                .peers
                .iter()
                .map(|p| p.addr.clone())
                .collect::<Vec<_>>(),
            auth,
        )
    };
    retry("storing the root access key", || {
        meta.put_access_key(AccessKey {
            access_key: creds.access_key.clone(),
            secret_key: creds.secret_key.clone(),
            name: "root".into(),
            grants: None,
        })
    })
    .await?;
    println!("shale metadata listening on {addr}");
    run_until_signal(&mut task, stop_tx, "metadata service").await
}

/// Runs a storage node until SIGTERM or Ctrl-C, registered in the cluster
/// map under its `node_id`.
pub async fn storage_node(mut file: StorageFile) -> Result<()> {
    file.heartbeat.validate()?;
    let auth = cluster_auth(file.cluster_secret_file.as_deref(), "storage")?;
    let listen = file.listen.to_string();
    let auth = secured(
        auth,
        file.internal_tls.as_ref(),
        file.plaintext_between_hosts,
        std::iter::once(listen.as_str())
            .chain(file.advertise.as_deref())
            .chain(file.metadata.split(',')),
    )?;
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
    let local = listener.local_addr()?.to_string();
    let mut task = tokio::spawn(shale_storage_node::serve(
        file.node,
        auth.clone(),
        listener,
        on_shutdown(stop_rx.clone()),
    ));
    let meta = MetaClient::new(&file.metadata, auth.clone());
    let storage = StorageClient::new(auth);
    let info = NodeInfo {
        id: file.node_id,
        addr: addr.clone(),
        zone: file.zone.clone(),
    };
    // The first heartbeat registers the node.
    retry("registering with the metadata service", || {
        heartbeat_once(&meta, &storage, &info, &local, &file.heartbeat)
    })
    .await?;
    tokio::spawn(heartbeats(
        meta,
        storage,
        info,
        local,
        file.heartbeat,
        stop_rx,
    ));
    println!("shale storage node {} listening on {addr}", file.node_id);
    run_until_signal(&mut task, stop_tx, "storage node").await
}

/// Runs an S3 gateway until SIGTERM or Ctrl-C.
pub async fn gateway(file: GatewayFile) -> Result<()> {
    let auth = cluster_auth(file.cluster_secret_file.as_deref(), "gateway")?;
    let auth = secured(
        auth,
        file.internal_tls.as_ref(),
        file.plaintext_between_hosts,
        file.gateway.metadata_addr.split(','),
    )?;
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
        auth,
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
