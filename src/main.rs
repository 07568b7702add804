//! `shale`: one binary for every role of a Shale cluster.
//!
//! `shale dev` runs a whole cluster in one process (one metadata service, six
//! storage nodes, one gateway), each on its own loopback socket, so that the
//! parts talk over the network exactly as they do when spread over machines.
//! `shale metadata|storage-node|gateway --config FILE` run one role each
//! (see `roles`).

mod admin;
mod admin_meta;
mod admin_secret;
mod logging;
mod roles;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use shale_common::NodeInfo;
use shale_common::cluster_auth::{ClusterAuth, Tier};
use shale_common::sealing::SealingKeys;
use shale_datapath::DataPathConfig;
use shale_metadata::{AccessKey, MetaClient, MetadataConfig, RegionLink};
use shale_s3_gateway::GatewayConfig;
use shale_storage_node::scrub::ScrubConfig;
use shale_storage_node::{StorageClient, StorageNodeConfig};
use shale_workers::gc::GcConfig;
use shale_workers::heal::HealConfig;
use shale_workers::lifecycle::LifecycleConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Storage nodes started by `shale dev`.
const DEV_NODES: u32 = 6;

#[derive(Parser)]
#[command(
    name = "shale",
    version,
    about = "Shale: an erasure-coded, S3-compatible object store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once, at start")]
enum Command {
    /// Run an all-in-one cluster: metadata, six storage nodes (4+2 coding) and an S3 gateway.
    Dev(DevArgs),
    /// Run the metadata service from a TOML file (examples/cluster/metadata.toml).
    Metadata(RoleArgs),
    /// Run a storage node from a TOML file (examples/cluster/storage-node-1.toml).
    StorageNode(RoleArgs),
    /// Run an S3 gateway from a TOML file (examples/cluster/gateway.toml).
    Gateway(RoleArgs),
    /// Operate a running cluster: status, keys, buckets, nodes (through a
    /// gateway, with root credentials); the metadata group (`admin metadata`).
    Admin(admin::AdminArgs),
}

#[derive(clap::Args)]
struct RoleArgs {
    /// The role's configuration file.
    #[arg(long)]
    config: PathBuf,
}

#[derive(clap::Args)]
struct DevArgs {
    /// Where the cluster keeps its data (kept between runs).
    #[arg(long, default_value = "./shale-data")]
    data_dir: PathBuf,
    /// Address of the S3 endpoint.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Region this cluster serves.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Run several linked regions instead, comma-separated (the first is
    /// the namespace region), each a whole cluster with its data in
    /// DATA_DIR/<region>: the first's S3 endpoint at --listen, each next
    /// one's on the next port.
    #[arg(long, conflicts_with = "region", value_name = "REGION,REGION,…")]
    regions: Option<String>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds before the chunks of a replaced or deleted version are
    /// deleted (a GET that started before the change may still read them).
    #[arg(long, default_value_t = 300)]
    gc_grace_secs: u64,
    /// Seconds between garbage-collection rounds when nothing is due.
    #[arg(long, default_value_t = 30)]
    gc_interval_secs: u64,
    /// Bytes per second each storage node's scrubber verifies (0: off).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    scrub_bytes_per_sec: u64,
    /// Seconds between the scrubber's passes over every chunk.
    #[arg(long, default_value_t = 3600)]
    scrub_pause_secs: u64,
    /// Seconds before an unreferenced chunk (an upload that never
    /// committed) is removed; uploads must commit within half of it.
    #[arg(long, default_value_t = 3600)]
    gc_orphan_grace_secs: u64,
    /// Seconds after which an orphan sweep reads every layout even when no
    /// node took a chunk since its last sweep that left nothing behind (0:
    /// every due sweep does).
    #[arg(long, default_value_t = 86_400)]
    gc_orphan_audit_secs: u64,
    /// Seconds between the healer's rounds (rebuilding corrupt chunks).
    #[arg(long, default_value_t = 60)]
    heal_interval_secs: u64,
    /// Seconds a storage node may be unreachable before the healer rebuilds
    /// its chunks onto other nodes.
    #[arg(long, default_value_t = 600)]
    heal_lost_after_secs: u64,
    /// Seconds after which a healer round reads every layout even when
    /// nothing changed since its last sweep (0: every round does).
    #[arg(long, default_value_t = 86_400)]
    heal_full_sweep_secs: u64,
    /// Seconds in a lifecycle day (S3's is 86,400): shorter makes lifecycle
    /// rules act within seconds, for tests and demos.
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    lifecycle_day_secs: u64,
    /// Free bytes each storage node keeps on its disk: writes that would
    /// leave less are refused (PUTs answer 507 InsufficientStorage).
    #[arg(long, default_value_t = shale_storage_node::service::DEFAULT_RESERVE_BYTES)]
    node_reserve_bytes: u64,
    /// Address of the Prometheus `/metrics` endpoint of every role in the
    /// process (none when absent).
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Domain for virtual-host-style addressing: `BUCKET.DOMAIN` (any port)
    /// addresses BUCKET. Repeat for several domains. Path-style works on any
    /// host either way.
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Seconds a client has to send a request's headers (from connecting
    /// or from the previous answer) before the gateway closes the
    /// connection: slow clients and idle keep-alive connections.
    #[arg(long, default_value_t = shale_s3_gateway::server::DEFAULT_HEADER_READ_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_secs: u64,
    /// Connections each gateway serves at once; more are closed at once.
    #[arg(long, default_value_t = shale_s3_gateway::server::DEFAULT_MAX_CONNECTIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Failed authentications per minute and source address before the
    /// gateway answers that address 503 SlowDown (0: no limit).
    #[arg(long, default_value_t = shale_s3_gateway::server::DEFAULT_AUTH_FAILURES_PER_MINUTE)]
    auth_failures_per_minute: u32,
    /// Seconds a request body may go without a byte before the gateway
    /// answers 400 RequestTimeout (a stalled upload).
    #[arg(long, default_value_t = shale_s3_gateway::server::DEFAULT_BODY_IDLE_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    body_idle_timeout_secs: u64,
    /// Answer `/_shale/status` (the workers' figures) only to root keys,
    /// through `shale admin status`, not to anyone on the S3 port.
    #[arg(long)]
    no_public_status: bool,
    /// Serve no web console: `/_shale/console/` is then an S3 request
    /// like any other (`console = false` in `[gateway]`).
    #[arg(long)]
    no_console: bool,
    /// The account's public access block, on top of every bucket's
    /// (`[gateway.public_access_block]`): any of block-public-acls,
    /// ignore-public-acls, block-public-policy, restrict-public-buckets.
    #[arg(long, value_delimiter = ',', value_parser = [
        "block-public-acls", "ignore-public-acls", "block-public-policy",
        "restrict-public-buckets"])]
    account_public_access_block: Vec<String>,
}

/// The root access key, as kept in `DATA_DIR/root-credentials.toml`.
#[derive(Serialize, Deserialize)]
struct RootCredentials {
    access_key: String,
    secret_key: String,
}

fn main() -> Result<()> {
    // Whatever a role creates (data directories, RocksDB files, chunk
    // volumes, credentials, secrets files) is its user's alone: 0700
    // directories, 0600 files.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    logging::init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Dev(args) => runtime.block_on(dev(args)),
        Command::Metadata(a) => runtime.block_on(roles::metadata(roles::load(&a.config)?)),
        Command::StorageNode(a) => runtime.block_on(roles::storage_node(roles::load(&a.config)?)),
        Command::Gateway(a) => runtime.block_on(roles::gateway(roles::load(&a.config)?)),
        Command::Admin(a) => runtime.block_on(admin::run(a)),
    }
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
        .collect()
}

/// Root credentials from the environment, or kept in the data dir (made on first start).
fn root_credentials(data_dir: &Path) -> Result<RootCredentials> {
    if let (Ok(a), Ok(s)) = (
        std::env::var("SHALE_ROOT_ACCESS_KEY"),
        std::env::var("SHALE_ROOT_SECRET_KEY"),
    ) {
        if a.is_empty() || s.is_empty() {
            bail!("SHALE_ROOT_ACCESS_KEY and SHALE_ROOT_SECRET_KEY must not be empty");
        }
        return Ok(RootCredentials {
            access_key: a,
            secret_key: s,
        });
    }
    let path = data_dir.join("root-credentials.toml");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return toml::from_str(&text).with_context(|| format!("parsing {}", path.display()));
    }
    let creds = RootCredentials {
        access_key: format!(
            "SHALE{}",
            random_string(15, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        ),
        secret_key: random_string(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+",
        ),
    };
    write_private(&path, &toml::to_string(&creds)?)?;
    Ok(creds)
}

/// Where `shale dev` keeps its internal ports ([`DevPorts`]), in the data dir.
const PORTS_FILE: &str = "ports.toml";

/// The loopback ports of `shale dev`'s internal roles, kept in
/// `DATA_DIR/ports.toml` (written at the first start, rewritten when a port
/// changes), so that a restart serves them where the metadata group's
/// membership and the cluster map last saw them. Fields only grow; a data
/// dir without the file (made before it existed) gets new ports, and a
/// kept port that cannot be bound again is replaced by a new one (the
/// metadata service then records its new address in the group's
/// membership, storage nodes with their next heartbeat).
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct DevPorts {
    /// The metadata service's port.
    #[serde(default)]
    metadata: Option<u16>,
    /// The storage nodes' ports, node 1 first.
    #[serde(default)]
    storage_nodes: Vec<u16>,
}

impl DevPorts {
    /// The kept ports, or none when the file does not exist.
    fn load(data_dir: &Path) -> Result<DevPorts> {
        let path = data_dir.join(PORTS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DevPorts::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        toml::from_str(&text).with_context(|| {
            format!(
                "parsing {} (delete it to give the internal roles new ports)",
                path.display()
            )
        })
    }

    /// Keeps these ports for the next start.
    fn save(&self, data_dir: &Path) -> Result<()> {
        let text = format!(
            "# The loopback ports of `shale dev`'s metadata service and storage\n\
             # nodes, reused at every start (a taken one is replaced).\n{}",
            toml::to_string(self)?
        );
        let path = data_dir.join(PORTS_FILE);
        write_private(&path, &text).with_context(|| format!("writing {}", path.display()))
    }
}

/// A loopback listener on the kept `port` when it can be bound (and is not
/// `avoid`: the S3 endpoint's), else on a new free port.
async fn bind_kept(port: Option<u16>, avoid: u16, role: &str) -> Result<TcpListener> {
    if let Some(port) = port.filter(|p| *p != 0 && *p != avoid) {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e) => tracing::warn!(
                role,
                port,
                error = %e,
                "the kept port cannot be bound: taking a new one"
            ),
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0").await?)
}

/// Writes a file readable only by its owner, durably.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// A future that completes when `rx` sees shutdown.
async fn on_shutdown(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn wait_for_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

async fn dev(args: DevArgs) -> Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("data_dir {}: cannot create", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    let creds = root_credentials(&data_dir)?;
    let keys = DevKeys {
        auth: dev_cluster_auth(&data_dir)?,
        secrets: dev_secrets_keys(&data_dir)?,
    };
    dev_master_key(&data_dir)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    roles::start_metrics(args.metrics_addr, &stop_rx).await?;
    let names = dev_regions(&args)?;
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };

    // One cluster per region: the first at --listen and in the data dir
    // itself when it is the only one, each in DATA_DIR/<region> otherwise.
    // Every region's S3 endpoint first, so that no internal role of one
    // region takes the port of another's.
    let mut endpoints = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let port = args.listen.port().checked_add(i as u16).with_context(|| {
            format!(
                "--listen {}: no port for region {name} after it",
                args.listen
            )
        })?;
        let listen = SocketAddr::new(args.listen.ip(), port);
        endpoints.push(
            TcpListener::bind(listen)
                .await
                .with_context(|| format!("listen {listen}: cannot bind"))?,
        );
    }
    let mut regions = Vec::new();
    for (name, listener) in names.iter().zip(endpoints) {
        let dir = if names.len() == 1 {
            data_dir.clone()
        } else {
            data_dir.join(name)
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("data_dir {}: cannot create", dir.display()))?;
        regions.push(start_region(&args, name, &dir, listener, &creds, &keys, &stop_rx).await?);
    }
    if regions.len() > 1 {
        link_regions(&regions, &creds).await?;
    }
    // The gateways serve once the links are in place.
    for region in &mut regions {
        region.serve(&args, &stop_rx)?;
    }
    print_ready(&args, scheme, &regions, &data_dir, &creds)?;

    let gateways = regions
        .iter_mut()
        .filter_map(|r| r.gateway.as_mut())
        .collect::<Vec<_>>();
    let any_gateway = futures_select_all(gateways);
    tokio::select! {
        r = wait_for_signal() => r?,
        (i, r) = any_gateway => {
            let _ = stop_tx.send(true);
            let name = &names[i];
            match r {
                Ok(Err(e)) => bail!("the gateway of {name} stopped: {e}"),
                Ok(Ok(())) => bail!("the gateway of {name} stopped unexpectedly"),
                Err(e) => bail!("the gateway task of {name} failed: {e}"),
            }
        }
    }
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let deadline = Duration::from_secs(20);
    for region in regions {
        let Some(gateway) = region.gateway else {
            continue;
        };
        match tokio::time::timeout(deadline, gateway).await {
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "gateway stopped with an error"),
            Ok(Err(e)) => tracing::error!(error = %e, "gateway task failed"),
            Err(_) => tracing::error!("gateway did not stop in time"),
            Ok(Ok(Ok(()))) => {}
        }
        for t in region.tasks {
            let _ = tokio::time::timeout(deadline, t).await;
        }
        let _ = tokio::time::timeout(deadline, region.meta_task).await;
    }
    Ok(())
}

/// The regions `shale dev` runs: `--regions`, else `--region` alone.
fn dev_regions(args: &DevArgs) -> Result<Vec<String>> {
    let Some(list) = &args.regions else {
        return Ok(vec![args.region.clone()]);
    };
    let names: Vec<String> = list
        .split(',')
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        bail!("--regions: name at least one region");
    }
    for (i, n) in names.iter().enumerate() {
        let valid = n.len() <= 64
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            bail!("--regions: {n:?} is not a region name (lowercase letters, digits and '-')");
        }
        if names[..i].contains(n) {
            bail!("--regions: {n} is named twice");
        }
    }
    if names.len() > 1 && args.tls_cert.is_some() {
        bail!("--regions with --tls-cert: linked regions talk over http only (for now)");
    }
    Ok(names)
}

/// The credential `shale dev`'s roles share: from the environment when it
/// names one (as for `shale metadata` and the other roles), else the
/// secrets file `cluster.secret` of the data directory, made on the first
/// run (0600).
fn dev_cluster_auth(data_dir: &Path) -> Result<ClusterAuth> {
    use shale_common::cluster_auth::{self as ca, ClusterSecret, SecretSet};
    if std::env::var_os(ca::SECRET_FILE_ENV).is_some() || std::env::var_os(ca::SECRET_ENV).is_some()
    {
        return roles::cluster_auth(None, "dev");
    }
    let path = data_dir.join(DEV_SECRET_FILE);
    if !path.exists() {
        ca::write_secrets_file(&path, &SecretSet::one(ClusterSecret::generate()))
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    roles::cluster_auth(Some(&path), "dev")
}

/// The secrets key `shale dev`'s metadata services seal access-key secrets
/// under: from the environment when it names one (as for `shale
/// metadata`), else the file `secrets.key` of the data directory, made on
/// the first run (0600).
fn dev_secrets_keys(data_dir: &Path) -> Result<SealingKeys> {
    use shale_common::sealing as s;
    if std::env::var_os(s::KEY_FILE_ENV).is_some() || std::env::var_os(s::KEY_ENV).is_some() {
        return SealingKeys::configured(None).map_err(anyhow::Error::msg);
    }
    let path = data_dir.join(DEV_SECRETS_KEY_FILE);
    if !path.exists() {
        SealingKeys::one(s::SealingKey::generate())
            .write_file(&path)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    SealingKeys::configured(Some(&path)).map_err(anyhow::Error::msg)
}

/// Makes the master key file `shale dev`'s gateways seal the keys of
/// encrypted objects under (`master.key` of the data directory, 0600) on
/// the first run, unless the environment names a master key.
fn dev_master_key(data_dir: &Path) -> Result<()> {
    use shale_common::sealing as s;
    let Some(path) = dev_master_key_file(data_dir) else {
        return Ok(());
    };
    if !path.exists() {
        SealingKeys::one(s::SealingKey::generate_kind(s::KeyKind::Master))
            .write_file(&path)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// The master key file of `shale dev`'s gateways: `None` when the
/// environment names the key (`SHALE_SSE_MASTER_KEY_FILE`,
/// `SHALE_SSE_MASTER_KEY`), which the gateway then reads.
fn dev_master_key_file(data_dir: &Path) -> Option<PathBuf> {
    use shale_common::sealing as s;
    if std::env::var_os(s::MASTER_KEY_FILE_ENV).is_some()
        || std::env::var_os(s::MASTER_KEY_ENV).is_some()
    {
        return None;
    }
    Some(data_dir.join(DEV_MASTER_KEY_FILE))
}

/// The master key file `shale dev` keeps in its data directory. Its
/// place beside the data is for development only: a deployment keeps its
/// master key elsewhere (SECURITY.md).
pub const DEV_MASTER_KEY_FILE: &str = "master.key";

/// The secrets key file `shale dev` keeps in its data directory.
pub const DEV_SECRETS_KEY_FILE: &str = "secrets.key";

/// What `shale dev`'s roles are given: the cluster credential (each role
/// signs as its own tier with it) and the secrets key.
struct DevKeys {
    auth: ClusterAuth,
    secrets: SealingKeys,
}

/// The secrets file `shale dev` keeps in its data directory.
pub const DEV_SECRET_FILE: &str = "cluster.secret";

/// One running region of `shale dev`.
struct DevRegion {
    name: String,
    endpoint: SocketAddr,
    meta: MetaClient,
    meta_addr: String,
    /// The cluster credential its roles share.
    auth: ClusterAuth,
    /// The gateway's listener, until [`DevRegion::serve`] starts it.
    listener: Option<TcpListener>,
    /// The gateway, once it serves.
    gateway: Option<tokio::task::JoinHandle<shale_s3_gateway::Result<()>>>,
    tasks: Vec<tokio::task::JoinHandle<shale_storage_node::Result<()>>>,
    meta_task: tokio::task::JoinHandle<std::result::Result<(), shale_metadata::ServeError>>,
}

/// Starts one region's cluster (metadata, six storage nodes; its gateway,
/// on `gateway_listener`, serves once [`DevRegion::serve`] is called) with
/// its data in `data_dir`.
async fn start_region(
    args: &DevArgs,
    name: &str,
    data_dir: &Path,
    gateway_listener: TcpListener,
    creds: &RootCredentials,
    keys: &DevKeys,
    stop_rx: &watch::Receiver<bool>,
) -> Result<DevRegion> {
    let auth = &keys.auth;
    let endpoint = gateway_listener.local_addr()?;
    // Every internal listener first, on the ports of the last run, so that
    // the addresses the metadata group and the cluster map recorded stay
    // true.
    let (meta_listener, node_listeners) = bind_internal(data_dir, endpoint.port()).await?;
    let meta_addr = meta_listener.local_addr()?.to_string();
    // A metadata group of one replica: the same Raft code path as a cluster.
    let mut meta_config = MetadataConfig::single(data_dir.join("meta"));
    meta_config.secrets = Some(keys.secrets.clone());
    let meta_task = tokio::spawn(shale_metadata::serve(
        meta_config,
        auth.clone(),
        meta_listener,
        on_shutdown(stop_rx.clone()),
    ));

    let meta = MetaClient::new(&meta_addr, auth.clone());
    // Each role signs as its own tier, as it would with its own key file.
    let node_auth = auth.acting_as(Tier::Node);
    let node_meta = MetaClient::new(&meta_addr, node_auth.clone());
    let tasks = start_storage_nodes(
        args,
        data_dir,
        node_listeners,
        &node_meta,
        &node_auth,
        stop_rx,
    )
    .await?;
    meta.put_access_key(AccessKey {
        access_key: creds.access_key.clone(),
        secret_key: creds.secret_key.clone(),
        name: "root".into(),
        grants: None,
    })
    .await
    .context("storing the root access key")?;

    Ok(DevRegion {
        name: name.to_owned(),
        endpoint,
        meta,
        meta_addr,
        auth: auth.clone(),
        listener: Some(gateway_listener),
        gateway: None,
        tasks,
        meta_task,
    })
}

impl DevRegion {
    /// Starts the region's gateway on its listener.
    fn serve(&mut self, args: &DevArgs, stop_rx: &watch::Receiver<bool>) -> Result<()> {
        let listener = self.listener.take().context("the gateway serves already")?;
        let config = dev_gateway_config(args, &self.name, &self.meta_addr);
        self.gateway = Some(tokio::spawn(shale_s3_gateway::serve(
            config,
            self.auth.acting_as(Tier::Gateway),
            listener,
            on_shutdown(stop_rx.clone()),
        )));
        Ok(())
    }
}

/// Links every region of `shale dev` with every other (the first is the
/// namespace region), signed with the shared root key.
async fn link_regions(regions: &[DevRegion], creds: &RootCredentials) -> Result<()> {
    for region in regions {
        for (i, other) in regions.iter().enumerate() {
            let mut addr = other.endpoint;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let link = RegionLink {
                endpoint: format!("http://{addr}"),
                access_key: creds.access_key.clone(),
                namespace: i == 0,
            };
            // The namespace region may have moved: unlink the old one first.
            if i == 0 {
                for (name, old) in region.meta.list_regions().await? {
                    if old.namespace && name != other.name {
                        region.meta.put_region(&name, None).await?;
                    }
                }
            }
            region
                .meta
                .put_region(&other.name, Some(link))
                .await
                .with_context(|| format!("linking {} to {}", region.name, other.name))?;
        }
    }
    Ok(())
}

/// The first of `gateways` to end, with its region's name.
async fn futures_select_all(
    gateways: Vec<&mut tokio::task::JoinHandle<shale_s3_gateway::Result<()>>>,
) -> (
    usize,
    std::result::Result<shale_s3_gateway::Result<()>, tokio::task::JoinError>,
) {
    let (r, i, _) = futures::future::select_all(gateways).await;
    (i, r)
}

/// Binds `shale dev`'s internal listeners (the metadata service, then each
/// storage node) on the ports kept in the data directory, new ones where a
/// kept port is taken or is `avoid` (the S3 endpoint's), and keeps the
/// ports used.
async fn bind_internal(data_dir: &Path, avoid: u16) -> Result<(TcpListener, Vec<TcpListener>)> {
    let kept = DevPorts::load(data_dir)?;
    let meta_listener = bind_kept(kept.metadata, avoid, "metadata").await?;
    let mut node_listeners = Vec::new();
    for id in 1..=DEV_NODES {
        let port = kept.storage_nodes.get(id as usize - 1).copied();
        node_listeners.push(bind_kept(port, avoid, &format!("storage node {id}")).await?);
    }
    let ports = DevPorts {
        metadata: Some(meta_listener.local_addr()?.port()),
        storage_nodes: node_listeners
            .iter()
            .map(|l| Ok(l.local_addr()?.port()))
            .collect::<Result<_>>()?,
    };
    if ports != kept {
        ports.save(data_dir)?;
    }
    Ok((meta_listener, node_listeners))
}

/// Starts `shale dev`'s storage nodes on their listeners, each registered
/// by its first heartbeat (as `shale storage-node` does), and their
/// heartbeats; returns the nodes' tasks.
async fn start_storage_nodes(
    args: &DevArgs,
    data_dir: &Path,
    listeners: Vec<TcpListener>,
    meta: &MetaClient,
    auth: &ClusterAuth,
    stop_rx: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<shale_storage_node::Result<()>>>> {
    let mut tasks = Vec::new();
    let storage = StorageClient::new(auth.clone());
    for (id, listener) in (1..=DEV_NODES).zip(listeners) {
        let addr = listener.local_addr()?.to_string();
        let config = StorageNodeConfig {
            disks: vec![data_dir.join(format!("node-{id}"))],
            scrub: ScrubConfig {
                bytes_per_sec: args.scrub_bytes_per_sec,
                pause_secs: args.scrub_pause_secs,
            },
            reserve_bytes: args.node_reserve_bytes,
            node_id: Some(id),
            ..Default::default()
        };
        tasks.push(tokio::spawn(shale_storage_node::serve(
            config,
            auth.clone(),
            listener,
            on_shutdown(stop_rx.clone()),
        )));
        // As `shale storage-node` does: the first heartbeat registers it.
        let info = NodeInfo {
            id,
            addr: addr.clone(),
            zone: String::new(),
        };
        let beats = roles::HeartbeatConfig::default();
        roles::heartbeat_once(meta, &storage, &info, &addr, &beats)
            .await
            .context("registering a storage node")?;
        tokio::spawn(roles::heartbeats(
            meta.clone(),
            storage.clone(),
            info,
            addr,
            beats,
            stop_rx.clone(),
        ));
    }
    Ok(tasks)
}

/// The gateway of `shale dev`, as its flags set it.
fn dev_gateway_config(args: &DevArgs, region: &str, meta_addr: &str) -> GatewayConfig {
    GatewayConfig {
        region: region.to_owned(),
        metadata_addr: meta_addr.to_owned(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        gc: GcConfig {
            grace_secs: args.gc_grace_secs,
            interval_secs: args.gc_interval_secs,
            enabled: true,
            orphan_grace_secs: args.gc_orphan_grace_secs,
            orphan_audit_secs: args.gc_orphan_audit_secs,
        },
        heal: HealConfig {
            interval_secs: args.heal_interval_secs,
            enabled: true,
            lost_after_secs: args.heal_lost_after_secs,
            full_sweep_secs: args.heal_full_sweep_secs,
            ..HealConfig::default()
        },
        lifecycle: LifecycleConfig {
            day_secs: args.lifecycle_day_secs,
            ..LifecycleConfig::default()
        },
        replication: shale_workers::replication::ReplicationWorkerConfig::default(),
        domains: args.domains.clone(),
        post_object_max_size: shale_s3_gateway::server::DEFAULT_POST_OBJECT_MAX_SIZE,
        edge: shale_s3_gateway::server::EdgeConfig {
            header_read_timeout_secs: args.header_read_timeout_secs,
            max_connections: args.max_connections as usize,
            auth_failures_per_minute: args.auth_failures_per_minute,
            body_idle_timeout_secs: args.body_idle_timeout_secs,
            public_status: !args.no_public_status,
        },
        console: !args.no_console,
        public_access_block: {
            let on = |name: &str| args.account_public_access_block.iter().any(|b| b == name);
            shale_s3_gateway::server::AccountBlockConfig {
                block_public_acls: on("block-public-acls"),
                ignore_public_acls: on("ignore-public-acls"),
                block_public_policy: on("block-public-policy"),
                restrict_public_buckets: on("restrict-public-buckets"),
            }
        },
        sse_master_key_file: dev_master_key_file(&args.data_dir),
        data: DataPathConfig::default(),
    }
}

/// What `shale dev` prints once it serves: every region's endpoint, the
/// root key and a command to try.
fn print_ready(
    args: &DevArgs,
    scheme: &str,
    regions: &[DevRegion],
    data_dir: &Path,
    creds: &RootCredentials,
) -> Result<()> {
    let first = &regions[0];
    if regions.len() == 1 {
        println!(
            "Shale dev cluster is ready: 1 metadata service, {DEV_NODES} storage nodes (4+2 erasure coding), 1 S3 gateway"
        );
        println!("  endpoint:   {scheme}://{}", first.endpoint);
        println!("  region:     {}", first.name);
    } else {
        println!(
            "Shale dev deployment is ready: {} linked regions, each 1 metadata service, {DEV_NODES} storage nodes (4+2 erasure coding), 1 S3 gateway",
            regions.len()
        );
        for (i, r) in regions.iter().enumerate() {
            let role = if i == 0 { "  (namespace region)" } else { "" };
            println!(
                "  region {:<14} endpoint {scheme}://{}{role}",
                r.name, r.endpoint
            );
        }
    }
    for domain in &args.domains {
        let port = first.endpoint.port();
        println!("  virtual hosts: {scheme}://BUCKET.{domain}:{port}");
    }
    println!("  data:       {}", data_dir.display());
    println!("  access key: {}", creds.access_key);
    println!("  secret key: {}", creds.secret_key);
    println!();
    println!("Try it:");
    println!(
        "  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY='{}' AWS_DEFAULT_REGION={} aws --endpoint-url {scheme}://{} s3 mb s3://my-bucket",
        creds.access_key, creds.secret_key, first.name, first.endpoint
    );
    use std::io::Write;
    std::io::stdout().flush()?;
    Ok(())
}
