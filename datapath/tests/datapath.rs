//! The data path against a real metadata service and real storage nodes on
//! loopback: lost, unreachable and slow nodes on the write and read paths.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use shale_common::NodeInfo;
use shale_common::cluster_auth::ClusterAuth;
use shale_datapath::datapath::{DataPath, DataPathConfig, WriteTarget};
use shale_datapath::{Error, Result};
use shale_metadata::{MetaClient, MetadataConfig};
use shale_storage_node::{StorageClient, StorageNodeConfig};
use tokio::net::TcpListener;

struct Cluster {
    meta: MetaClient,
    nodes: Vec<NodeInfo>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
    auth: ClusterAuth,
}

async fn stopper(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.changed().await;
}

async fn cluster(nodes: u32) -> Cluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let (stop, rx) = tokio::sync::watch::channel(false);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let meta_addr = listener.local_addr().expect("addr").to_string();
    let auth = ClusterAuth::ephemeral("test");
    tokio::spawn(shale_metadata::serve(
        MetadataConfig::single(dir.path().join("meta")),
        auth.clone(),
        listener,
        stopper(rx.clone()),
    ));
    let meta = MetaClient::new(&meta_addr, auth.clone());
    let mut infos = Vec::new();
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
        let info = NodeInfo {
            id,
            addr,
            zone: String::new(),
        };
        meta.register_node(info.clone())
            .await
            .expect("register node");
        infos.push(info);
    }
    Cluster {
        meta,
        auth,
        nodes: infos,
        _dir: dir,
        _stop: stop,
    }
}

fn config() -> DataPathConfig {
    DataPathConfig {
        segment_size: 256 * 1024,
        read_timeout: Duration::from_millis(300),
        write_timeout: Duration::from_secs(2),
        ..DataPathConfig::default()
    }
}

async fn data_path(c: &Cluster) -> Arc<DataPath> {
    let dp = Arc::new(
        DataPath::new(config(), StorageClient::new(c.auth.clone()), c.meta.clone())
            .expect("data path"),
    );
    dp.refresh_nodes().await.expect("cluster map");
    dp
}

fn body(len: usize) -> Bytes {
    Bytes::from(
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect::<Vec<u8>>(),
    )
}

async fn put(
    dp: &Arc<DataPath>,
    prefix: &str,
    data: &Bytes,
) -> Result<shale_datapath::datapath::Written> {
    // Uneven pieces, as a network delivers them.
    let pieces: Vec<Result<Bytes>> = (0..data.len())
        .step_by(70_001)
        .map(|o| Ok(data.slice(o..(o + 70_001).min(data.len()))))
        .collect();
    let target = WriteTarget {
        chunk_prefix: prefix,
        part_number: 1,
        allow_inline: false,
        expected_len: Some(data.len() as u64),
        key: None,
    };
    dp.write_body(futures::stream::iter(pieces), target, |_| {})
        .await
}

async fn get(
    dp: &Arc<DataPath>,
    parts: &[shale_common::PartLayout],
    start: u64,
    end: u64,
) -> Result<Vec<u8>> {
    let mut s = dp.read_range(parts, start, end).await?;
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece.map_err(|e| Error::Unrecoverable(e.to_string()))?);
    }
    Ok(out)
}

/// A node that accepts connections and never answers.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn round_trip_and_ranges() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let c = cluster(6).await;
        let dp = data_path(&c).await;
        let data = body(1_000_003);
        let w = put(&dp, "rt", &data).await.expect("put");
        assert_eq!(w.part.segments.len(), 4);
        assert!(
            w.part
                .segments
                .iter()
                .all(|s| s.chunks.len() == 6 && s.chunks.iter().all(|c| c.durable))
        );
        let parts = vec![w.part];
        assert_eq!(
            get(&dp, &parts, 0, data.len() as u64).await.expect("get"),
            data.to_vec()
        );
        for (a, b) in [
            (0u64, 1u64),
            (262_143, 262_145),
            (100, 900_000),
            (999_999, 1_000_003),
        ] {
            assert_eq!(
                get(&dp, &parts, a, b).await.expect("range"),
                data[a as usize..b as usize].to_vec()
            );
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn a_node_down_at_write_is_recorded_and_read_around() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let c = cluster(6).await;
        // Node 3 goes away: its address now refuses connections.
        let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let dead_addr = dead.local_addr().expect("addr").to_string();
        drop(dead);
        c.meta
            .register_node(NodeInfo {
                addr: dead_addr,
                ..c.nodes[2].clone()
            })
            .await
            .expect("re-register");
        let dp = data_path(&c).await;
        let data = body(700_000);
        let w = put(&dp, "down", &data)
            .await
            .expect("a PUT with 5 of 6 nodes succeeds");
        for seg in &w.part.segments {
            let lost: Vec<_> = seg
                .chunks
                .iter()
                .filter(|c| !c.durable)
                .map(|c| c.node)
                .collect();
            assert_eq!(lost, vec![3], "the failed chunk is recorded for the healer");
        }
        let parts = vec![w.part];
        assert_eq!(
            get(&dp, &parts, 0, data.len() as u64).await.expect("get"),
            data.to_vec()
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn two_nodes_down_at_write_fails_the_put() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let c = cluster(6).await;
        for i in [0, 4] {
            let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = dead.local_addr().expect("addr").to_string();
            drop(dead);
            c.meta
                .register_node(NodeInfo {
                    addr,
                    ..c.nodes[i].clone()
                })
                .await
                .expect("re-register");
        }
        let dp = data_path(&c).await;
        // k + 1 = 5 chunks must be durable; only 4 can be.
        let err = put(&dp, "quorum", &body(300_000))
            .await
            .err()
            .expect("the PUT must fail");
        assert!(matches!(err, Error::WriteQuorum(_)), "{err:?}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn a_slow_node_at_read_is_rebuilt_around() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let c = cluster(6).await;
        let dp = data_path(&c).await;
        let data = body(600_000);
        let w = put(&dp, "slow", &data).await.expect("put");
        // The node holding data shard 0 of the first segment stops answering.
        let slow = w.part.segments[0].chunks[0].node;
        let (hole, _task) = black_hole().await;
        let info = c.nodes.iter().find(|n| n.id == slow).expect("node").clone();
        c.meta
            .register_node(NodeInfo { addr: hole, ..info })
            .await
            .expect("re-register");
        dp.refresh_nodes().await.expect("refresh");
        let parts = vec![w.part];
        assert_eq!(
            get(&dp, &parts, 0, data.len() as u64)
                .await
                .expect("get despite a slow node"),
            data.to_vec()
        );
        assert_eq!(
            get(&dp, &parts, 10, 20)
                .await
                .expect("range despite a slow node"),
            data[10..20].to_vec()
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn three_nodes_lost_at_read_is_an_error_not_wrong_bytes() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let c = cluster(6).await;
        let dp = data_path(&c).await;
        let data = body(300_000);
        let w = put(&dp, "lost3", &data).await.expect("put");
        for id in [1u32, 2, 3] {
            let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = dead.local_addr().expect("addr").to_string();
            drop(dead);
            let info = c.nodes.iter().find(|n| n.id == id).expect("node").clone();
            c.meta
                .register_node(NodeInfo { addr, ..info })
                .await
                .expect("re-register");
        }
        dp.refresh_nodes().await.expect("refresh");
        let parts = vec![w.part];
        let err = get(&dp, &parts, 0, data.len() as u64)
            .await
            .expect_err("the GET must fail");
        assert!(matches!(err, Error::Unrecoverable(_)), "{err:?}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn a_chunk_lost_by_its_node_is_reported_by_the_read_and_rebuilt_in_place() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let c = cluster(6).await;
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let dp = Arc::new(
            DataPath::new(config(), StorageClient::new(c.auth.clone()), c.meta.clone())
                .expect("data path")
                .report_missing_to(tx),
        );
        dp.refresh_nodes().await.expect("cluster map");
        let data = body(600_000);
        let w = put(&dp, "lost", &data).await.expect("put");
        let storage = StorageClient::new(c.auth.clone());
        let lost = w.part.segments[1].chunks[2].clone();
        let node = c.nodes.iter().find(|n| n.id == lost.node).expect("node");
        storage
            .delete_chunk(&node.addr, &lost.chunk_id)
            .await
            .expect("delete");

        // The read still returns the bytes, and names the lost chunk.
        let parts = [w.part.clone()];
        assert_eq!(get(&dp, &parts, 0, data.len() as u64).await.unwrap(), data);
        let (reported_node, reported_id) = rx.recv().await.expect("a report");
        assert_eq!(
            (reported_node, reported_id.as_str()),
            (lost.node, lost.chunk_id.as_str())
        );

        // The healer puts it back, byte for byte what was written.
        let codec = shale_datapath::ec::Codec::new(config().coding).expect("codec");
        let round = shale_workers::heal::heal_round(
            &c.meta,
            &storage,
            &codec,
            [(reported_node, reported_id)].into(),
        )
        .await
        .expect("heal round");
        assert_eq!((round.reported, round.healed, round.failed), (1, 1, 0));
        let shard_size = w.part.segments[1].shard_size;
        let back = storage
            .get_chunk(&node.addr, &lost.chunk_id, 0, shard_size)
            .await
            .expect("rebuilt chunk");
        let seg_start = w.part.segments[0].size as usize;
        let shard_start = seg_start + 2 * shard_size as usize;
        let expected = &data[shard_start..(shard_start + shard_size as usize).min(data.len())];
        assert_eq!(&back[..expected.len()], expected);
    })
    .await
    .expect("test timed out");
}

/// All of `stream`, or its first error.
async fn drain(mut s: shale_datapath::sse::PlainStream) -> std::result::Result<Vec<u8>, Vec<u8>> {
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        match piece {
            Ok(b) => out.extend_from_slice(&b),
            Err(_) => return Err(out),
        }
    }
    Ok(out)
}

#[tokio::test]
async fn a_sealed_body_is_stored_as_ciphertext_and_a_tampered_block_never_reads() {
    use shale_common::sse::{ObjectKey, stored_len};
    let c = cluster(6).await;
    let dp = data_path(&c).await;
    let data = body(700_001);
    let key = ObjectKey::generate();
    let pieces: Vec<Result<Bytes>> = (0..data.len())
        .step_by(70_001)
        .map(|o| Ok(data.slice(o..(o + 70_001).min(data.len()))))
        .collect();
    let target = WriteTarget {
        chunk_prefix: "sealed",
        part_number: 1,
        allow_inline: false,
        expected_len: Some(data.len() as u64),
        key: Some(&key),
    };
    let written = dp
        .write_body(futures::stream::iter(pieces), target, |_| {})
        .await
        .expect("sealed put");
    // Sizes and the ETag are the plaintext's; the segments hold its blocks.
    assert_eq!(written.part.size, data.len() as u64);
    let stored: u64 = written.part.segments.iter().map(|s| s.size).sum();
    assert_eq!(stored, stored_len(data.len() as u64));
    let parts = vec![written.part.clone()];
    let raw = get(&dp, &parts, 0, stored).await.expect("raw read");
    assert!(
        !raw.windows(32).any(|w| w == &data[350_000..350_032]),
        "stored bytes hold plaintext"
    );
    let k = Arc::new(key);
    for (a, b) in [
        (0, data.len()),
        (65_535, 65_537),
        (1, 300_000),
        (699_000, 700_001),
    ] {
        let got = drain(
            dp.read_plain(&parts, Some(Arc::clone(&k)), true, a as u64, b as u64)
                .await
                .expect("plain read"),
        )
        .await
        .expect("opens");
        assert_eq!(got, &data[a..b], "range {a}..{b}");
    }
    // A part of a multipart upload (not inline) is sealed under its
    // write's own key: read as a single-part object's, it does not open.
    let s = dp
        .read_plain(&parts, Some(Arc::clone(&k)), false, 0, 10)
        .await
        .expect("read");
    assert_eq!(drain(s).await, Err(Vec::new()));
    // Another key, or the blocks taken for another part's: an error.
    let other = Arc::new(ObjectKey::generate());
    let s = dp
        .read_plain(&parts, Some(other), true, 0, 10)
        .await
        .expect("read");
    assert_eq!(drain(s).await, Err(Vec::new()));
    let mut moved = parts.clone();
    moved[0].number = 2;
    let s = dp
        .read_plain(&moved, Some(Arc::clone(&k)), true, 0, 10)
        .await
        .expect("read");
    assert_eq!(drain(s).await, Err(Vec::new()));

    // A byte of ciphertext changed in a way the chunk's own checksums
    // accept (the chunk rewritten whole, as a node would store it): the
    // block it is in fails to open, and nothing of it is given out.
    let seg = &written.part.segments[0];
    // Stored byte 70,000 is in block 1 (stored bytes 65,564..131,128).
    let at = 70_000u64;
    let chunk = &seg.chunks[(at / seg.shard_size) as usize];
    let addr = &c
        .nodes
        .iter()
        .find(|n| n.id == chunk.node)
        .expect("node")
        .addr;
    let storage = StorageClient::new(c.auth.clone());
    let mut bytes = storage
        .get_chunk(addr, &chunk.chunk_id, 0, seg.shard_size)
        .await
        .expect("chunk")
        .to_vec();
    bytes[(at % seg.shard_size) as usize] ^= 0x01;
    storage
        .delete_chunk(addr, &chunk.chunk_id)
        .await
        .expect("delete");
    storage
        .put_chunk(addr, &chunk.chunk_id, Bytes::from(bytes))
        .await
        .expect("rewrite");
    let s = dp
        .read_plain(&parts, Some(Arc::clone(&k)), true, 0, data.len() as u64)
        .await
        .expect("read");
    // Block 0 is whole and given; block 1 is refused.
    assert_eq!(drain(s).await, Err(data[..65_536].to_vec()));
    let s = dp
        .read_plain(&parts, Some(Arc::clone(&k)), true, 0, 65_536)
        .await
        .expect("read");
    assert_eq!(
        drain(s).await.expect("block 0 alone opens"),
        &data[..65_536]
    );
}
