//! Shale's benchmarks. Owns no product code: the criterion benches in
//! `benches/` measure the erasure coder, the PUT/GET data path against real
//! storage nodes and a real metadata service on loopback, hashing, the chunk
//! format and store, and the metadata store; `matrix` runs the standard S3
//! matrix with `shale-bench` and writes BENCHMARKS.md.
//!
//! Run: `cargo bench -p shale-benches` (or `--bench ec|datapath|hashing|chunk|metadata`).
//!
//! [`loadgen`] is the S3 load generator behind the `shale-bench` binary.

pub mod loadgen;

/// An object row holding `body` inline, as the metadata benches write
/// them (a small object's row: its bytes in the catalogue).
pub fn inline_row(body: &[u8]) -> shale_metadata::ObjectRow {
    shale_metadata::ObjectRow {
        size: body.len() as u64,
        etag: "0123456789abcdef0123456789abcdef".into(),
        last_modified_ms: 1_764_000_000_000,
        content_type: Some("application/octet-stream".into()),
        system_headers: Vec::new(),
        user_metadata: Vec::new(),
        parts_count: None,
        data: shale_common::ObjectData::Inline(body.to_vec()),
        tags: Vec::new(),
        checksum: None,
        owner: None,
    }
}

use shale_common::cluster_auth::ClusterAuth;
use std::sync::Arc;

use shale_common::NodeInfo;
use shale_datapath::datapath::{DataPath, DataPathConfig};
use shale_metadata::{MetaClient, MetadataConfig};
use shale_storage_node::{StorageClient, StorageNodeConfig};
use tokio::net::TcpListener;

/// A metadata service and `nodes` storage nodes on loopback, in temp dirs.
pub struct Cluster {
    pub data: Arc<DataPath>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn stopper(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.changed().await;
}

/// Starts a cluster for benchmarking the data path.
pub async fn start_cluster(nodes: u32) -> Cluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let (stop, rx) = tokio::sync::watch::channel(false);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let meta_addr = listener.local_addr().expect("addr").to_string();
    let auth = ClusterAuth::ephemeral("bench");
    tokio::spawn(shale_metadata::serve(
        MetadataConfig::single(dir.path().join("meta")),
        auth.clone(),
        listener,
        stopper(rx.clone()),
    ));
    let meta = MetaClient::new(&meta_addr, auth.clone());
    for id in 1..=nodes {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let config = StorageNodeConfig {
            disks: vec![dir.path().join(format!("node-{id}"))],
            ..Default::default()
        };
        tokio::spawn(shale_storage_node::serve(
            config,
            auth.clone(),
            listener,
            stopper(rx.clone()),
        ));
        meta.register_node(NodeInfo {
            id,
            addr,
            zone: String::new(),
        })
        .await
        .expect("register node");
    }
    let data = Arc::new(
        DataPath::new(DataPathConfig::default(), StorageClient::new(auth), meta)
            .expect("data path"),
    );
    data.refresh_nodes().await.expect("cluster map");
    Cluster {
        data,
        _dir: dir,
        _stop: stop,
    }
}
