//! The storage node's HTTP service, started for real on 127.0.0.1 with temp
//! disk directories, driven by `StorageClient` (and raw HTTP where the
//! client would refuse to send the request).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use shale_common::cluster_auth::ClusterAuth;
use shale_storage_node::{
    ChunkStore, Error, PutBudget, StorageClient, StorageNodeConfig, scrub, serve, serve_store,
    serve_store_with,
};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every test finishes well within this, or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("test timed out");
}

/// A running storage node on a free port over temp disk directories.
struct Node {
    addr: String,
    disks: Vec<PathBuf>,
    store: ChunkStore,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<shale_storage_node::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(disk_count: usize, block_size: u32) -> Node {
        let dir = tempfile::tempdir().unwrap();
        // The disk directories do not exist yet: serve must create them.
        let disks: Vec<PathBuf> = (0..disk_count)
            .map(|i| dir.path().join(format!("disk{i}")))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let store = ChunkStore::open(disks.clone(), block_size).unwrap();
        assert!(disks.iter().all(|d| d.is_dir()));
        let task = tokio::spawn(serve_store(store.clone(), auth(), listener, async {
            let _ = stopped.await;
        }));
        Node {
            addr,
            disks,
            store,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Flips the bits of `mask` in byte `at` of chunk `id`'s encoding on
    /// disk (0 is the first byte of its header).
    fn damage(&self, id: &str, at: u64, mask: u8) {
        use std::os::unix::fs::FileExt;
        let loc = self.store.locate(id).expect("chunk is stored");
        assert!(at < loc.len);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&loc.volume)
            .unwrap();
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, loc.offset + at).unwrap();
        file.write_all_at(&[byte[0] ^ mask], loc.offset + at)
            .unwrap();
    }

    /// Full verification (header, block CRCs, BLAKE3) of chunk `id` on disk.
    async fn verify(&self, id: &str) -> shale_storage_node::Result<shale_storage_node::ChunkInfo> {
        self.store.verify(id).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        task.await.unwrap().unwrap();
    }
}

/// The credential every node and client of these tests shares.
fn auth() -> ClusterAuth {
    static AUTH: std::sync::OnceLock<ClusterAuth> = std::sync::OnceLock::new();
    AUTH.get_or_init(|| ClusterAuth::ephemeral("test")).clone()
}

fn data(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i * 7 % 253) as u8).collect::<Vec<_>>())
}

/// A raw request, for what `StorageClient` would never send.
async fn raw(
    method: &str,
    uri: String,
    headers: &[(&str, &str)],
) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let client = shale_common::rpc::http_client();
    let mut req = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut req = req.body(Full::new(Bytes::new())).unwrap();
    auth()
        .toward_storage()
        .sign_request(&mut req, &blake3::hash(b""));
    let resp = client.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, body)
}

#[tokio::test]
async fn put_get_range_head_list_delete() {
    bounded(async {
        let node = Node::start(2, 1024).await;
        let client = StorageClient::new(auth());
        let a = &node.addr;
        let big = data(3 * 1024 + 512); // 3.5 blocks
        client.put_chunk(a, "big", big.clone()).await.unwrap();
        client.put_chunk(a, "empty", Bytes::new()).await.unwrap();
        client.put_chunk(a, "one", data(1)).await.unwrap();

        assert_eq!(
            client
                .get_chunk(a, "big", 0, big.len() as u64)
                .await
                .unwrap(),
            big
        );
        assert_eq!(
            client.get_chunk(a, "big", 1000, 2000).await.unwrap(),
            big.slice(1000..3000)
        );
        assert_eq!(
            client
                .get_chunk(a, "big", big.len() as u64 - 1, 1)
                .await
                .unwrap(),
            big.slice(big.len() - 1..)
        );
        assert_eq!(
            client.get_chunk(a, "empty", 0, 0).await.unwrap(),
            Bytes::new()
        );
        assert_eq!(client.get_chunk(a, "one", 0, 1).await.unwrap(), data(1));

        let info = client.head_chunk(a, "big").await.unwrap();
        assert_eq!(
            (info.id.as_str(), info.size, info.block_size),
            ("big", 3584, 1024)
        );
        assert_eq!(client.head_chunk(a, "empty").await.unwrap().size, 0);

        assert_eq!(
            client.list_chunks(a).await.unwrap(),
            vec!["big", "empty", "one"]
        );

        // Overwrite: the new data wins.
        client.put_chunk(a, "one", data(10)).await.unwrap();
        assert_eq!(client.get_chunk(a, "one", 0, 10).await.unwrap(), data(10));

        client.delete_chunk(a, "big").await.unwrap();
        assert!(matches!(
            client.delete_chunk(a, "big").await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            client.get_chunk(a, "big", 0, 1).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            client.head_chunk(a, "big").await,
            Err(Error::NotFound(_))
        ));
        assert_eq!(client.list_chunks(a).await.unwrap(), vec!["empty", "one"]);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_ranges_and_ids() {
    bounded(async {
        let node = Node::start(1, 64).await;
        let client = StorageClient::new(auth());
        let a = &node.addr;
        client.put_chunk(a, "c", data(100)).await.unwrap();
        for (offset, len) in [(0, 101), (100, 1), (99, 2), (101, 0), (u64::MAX, 5)] {
            let res = client.get_chunk(a, "c", offset, len).await;
            assert!(
                matches!(res, Err(Error::InvalidRange(_))),
                "{offset}+{len}: {res:?}"
            );
        }
        assert!(matches!(
            client.get_chunk(a, "missing", 0, 1).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            client.put_chunk(a, "../etc", data(1)).await,
            Err(Error::InvalidChunkId(_))
        ));

        // What other HTTP clients could send.
        let uri = |p: &str| format!("http://{a}{p}");
        let (status, headers, _) = raw("GET", uri("/chunks/.tmp-x"), &[]).await;
        assert_eq!(status, 400);
        assert_eq!(headers["x-shale-error"], "invalid-chunk-id");
        assert_eq!(raw("GET", uri("/chunks/a%2Fb"), &[]).await.0, 400);
        assert_eq!(raw("PUT", uri("/chunks/"), &[]).await.0, 400);
        assert_eq!(raw("GET", uri("/nope"), &[]).await.0, 404);
        assert_eq!(raw("POST", uri("/chunks/c"), &[]).await.0, 405);

        let (status, headers, body) = raw("GET", uri("/chunks/c"), &[("range", "bytes=-10")]).await;
        assert_eq!(status, 206);
        assert_eq!(headers["content-range"], "bytes 90-99/100");
        assert_eq!(body, data(100).slice(90..));
        let (status, headers, body) = raw("GET", uri("/chunks/c"), &[("range", "bytes=95-")]).await;
        assert_eq!(status, 206);
        assert_eq!(headers["content-range"], "bytes 95-99/100");
        assert_eq!(body.len(), 5);
        let (status, _, body) = raw("GET", uri("/chunks/c"), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body, data(100));
        for bad in ["bytes=100-", "bytes=5-1", "bytes=0-1,5-6", "lines=1-2"] {
            let (status, headers, _) = raw("GET", uri("/chunks/c"), &[("range", bad)]).await;
            assert_eq!(status, 416, "{bad}");
            assert_eq!(headers["x-shale-error"], "invalid-range");
        }
        let (status, headers, body) = raw("HEAD", uri("/chunks/c"), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-length"], "100");
        assert_eq!(headers["x-shale-block-size"], "64");
        assert!(body.is_empty());
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn oversized_put_is_refused_with_413() {
    bounded(async {
        let node = Node::start(1, 64).await;
        // Unsigned: refused before anything else; signed: refused for its
        // announced size before the body is read.
        for (signed, status) in [(false, "401"), (true, "413")] {
            let mut stream = tokio::net::TcpStream::connect(&node.addr).await.unwrap();
            let auth_line = if signed {
                let v = auth().toward_storage().sign(&http::Method::PUT, "/chunks/huge", "x", &blake3::hash(b""));
                format!("x-shale-auth: {}\r\n", v.to_str().unwrap())
            } else {
                String::new()
            };
            let head = format!(
                "PUT /chunks/huge HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n{auth_line}\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut answer = vec![0u8; 12];
            stream.read_exact(&mut answer).await.unwrap();
            assert_eq!(answer, format!("HTTP/1.1 {status}").into_bytes());
        }

        let client = StorageClient::new(auth());
        let res = client
            .put_chunk(
                &node.addr,
                "huge",
                Bytes::from(vec![0u8; 64 * 1024 * 1024 + 1]),
            )
            .await;
        assert!(matches!(res, Err(Error::TooLarge { .. })), "{res:?}");
        assert!(client.list_chunks(&node.addr).await.unwrap().is_empty());
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn corruption_on_disk_is_detected_over_http() {
    bounded(async {
        let node = Node::start(2, 256).await;
        let client = StorageClient::new(auth());
        let a = &node.addr;
        let d = data(1024); // 4 blocks of 256
        client.put_chunk(a, "victim", d.clone()).await.unwrap();

        // Flip one byte of block 0's data on disk.
        let header_len = 8 + 2 + 4 + 8 + 2 + "victim".len() as u64 + 4;
        node.damage("victim", header_len + 10, 0x01);

        let full = client.get_chunk(a, "victim", 0, 1024).await;
        assert!(matches!(full, Err(Error::Corrupt(_))), "{full:?}");
        let in_block0 = client.get_chunk(a, "victim", 5, 10).await;
        assert!(matches!(in_block0, Err(Error::Corrupt(_))), "{in_block0:?}");
        // A range in another block is still served: blocks are checked alone.
        assert_eq!(
            client.get_chunk(a, "victim", 600, 100).await.unwrap(),
            d.slice(600..700)
        );
        let (status, headers, _) = raw("GET", format!("http://{a}/chunks/victim"), &[]).await;
        assert_eq!(status, 500);
        assert_eq!(headers["x-shale-error"], "corrupt");

        // A corrupt trailer leaves the data readable (every block checks
        // out) but fails full verification, the scrubber's check.
        client.put_chunk(a, "trailer", d.clone()).await.unwrap();
        let len = node.store.locate("trailer").unwrap().len;
        node.damage("trailer", len - 1, 0x80);
        assert_eq!(client.get_chunk(a, "trailer", 0, 1024).await.unwrap(), d);
        assert!(matches!(
            node.verify("trailer").await,
            Err(Error::Corrupt(_))
        ));
        assert!(node.verify("victim").await.is_err());

        // A damaged header makes the chunk corrupt, even for HEAD; a
        // truncated volume makes the chunks past its end corrupt.
        client.put_chunk(a, "header", d.clone()).await.unwrap();
        node.damage("header", 12, 0x04);
        assert!(matches!(
            client.head_chunk(a, "header").await,
            Err(Error::Corrupt(_))
        ));
        client.put_chunk(a, "short", d.clone()).await.unwrap();
        let loc = node.store.locate("short").unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&loc.volume)
            .unwrap();
        file.set_len(loc.offset + 100).unwrap();
        assert!(matches!(
            client.get_chunk(a, "short", 0, 10).await,
            Err(Error::Corrupt(_))
        ));
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stray_files_are_not_listed_and_status_reports_disks() {
    bounded(async {
        let node = Node::start(3, 64).await;
        let client = StorageClient::new(auth());
        let a = &node.addr;
        for i in 0..30 {
            client
                .put_chunk(a, &format!("chunk-{i:02}"), data(100))
                .await
                .unwrap();
        }
        // Files that are not volumes are no business of the node's.
        let volume = node.store.locate("chunk-00").unwrap().volume;
        std::fs::write(volume.with_file_name("notes.txt"), b"hello").unwrap();
        std::fs::write(volume.with_file_name("0001.vol.bak"), b"hello").unwrap();

        let ids = client.list_chunks(a).await.unwrap();
        let expected: Vec<String> = (0..30).map(|i| format!("chunk-{i:02}")).collect();
        assert_eq!(ids, expected);

        let status = client.status(a).await.unwrap();
        assert!(status.healthy);
        assert_eq!(status.disks.len(), 3);
        assert_eq!(
            status
                .disks
                .iter()
                .map(|d| d.path.clone())
                .collect::<Vec<_>>(),
            node.disks
        );
        assert_eq!(status.disks.iter().map(|d| d.chunks).sum::<u64>(), 30);
        assert!(status.disks.iter().all(|d| d.chunks > 0), "{status:?}");
        // Each 100-byte chunk takes one 4 KiB page of its volume.
        assert_eq!(
            status.disks.iter().map(|d| d.bytes_used).sum::<u64>(),
            30 * 4096
        );
        assert!(status.disks.iter().all(|d| d.capacity_bytes.is_some()));

        // A disk that disappears makes the node unhealthy.
        std::fs::remove_dir_all(&node.disks[1]).unwrap();
        let status = client.status(a).await.unwrap();
        assert!(!status.healthy);
        assert!(status.disks[1].error.is_some());
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_clients() {
    bounded(async {
        let node = Node::start(2, 4096).await;
        let client = StorageClient::new(auth());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..32usize {
            let (client, addr) = (client.clone(), node.addr.clone());
            tasks.spawn(async move {
                let id = format!("par-{i}");
                let d = data(10_000 + i * 100);
                client.put_chunk(&addr, &id, d.clone()).await.unwrap();
                let got = client
                    .get_chunk(&addr, &id, 0, d.len() as u64)
                    .await
                    .unwrap();
                assert_eq!(got, d);
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(client.list_chunks(&node.addr).await.unwrap().len(), 32);
        node.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unreachable_node_is_a_network_error() {
    bounded(async {
        // Bind then drop: nothing listens on this port any more.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let client = StorageClient::new(auth()).with_timeout(Duration::from_secs(5));
        let res = client.get_chunk(&addr, "c", 0, 1).await;
        assert!(matches!(res, Err(Error::Network(_))), "{res:?}");
        let res = client.status(&addr).await;
        assert!(matches!(res, Err(Error::Network(_))), "{res:?}");
    })
    .await;
}

#[tokio::test]
async fn invalid_config_fails_at_start() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let res = serve(StorageNodeConfig::default(), auth(), listener, async {}).await;
        match res {
            Err(Error::Config(msg)) => assert!(msg.contains("storage_node.disks"), "{msg}"),
            other => panic!("expected a config error, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    bounded(async {
        let node = Node::start(2, 128).await;
        let client = StorageClient::new(auth());
        client
            .put_chunk(&node.addr, "keep", data(500))
            .await
            .unwrap();
        let disks = node.disks.clone();
        let dir = tempfile::tempdir().unwrap();
        // Copy the disks aside before the node (and its temp dir) goes away.
        for (i, disk) in disks.iter().enumerate() {
            copy_dir(disk, &dir.path().join(format!("disk{i}")));
        }
        node.stop().await;

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let config = StorageNodeConfig {
            disks: (0..disks.len())
                .map(|i| dir.path().join(format!("disk{i}")))
                .collect(),
            block_size: 128,
            ..Default::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(config, auth(), listener, async {
            let _ = stopped.await;
        }));
        assert_eq!(
            client.get_chunk(&addr, "keep", 0, 500).await.unwrap(),
            data(500)
        );
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    })
    .await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn the_scrubber_finds_rot_and_forgets_it_once_rewritten() {
    bounded(async {
        let node = Node::start(2, 256).await;
        let client = StorageClient::new(auth());
        let a = &node.addr;
        for i in 0..20 {
            client
                .put_chunk(a, &format!("c{i:02}"), data(1000))
                .await
                .unwrap();
        }
        let header_len = 8 + 2 + 4 + 8 + 2 + 3 + 4;
        // Rot in a data block, and rot in the trailer only (every read
        // still checks out: only full verification can see it).
        node.damage("c07", header_len + 300, 0x10);
        let len = node.store.locate("c12").unwrap().len;
        node.damage("c12", len - 1, 0x01);

        let (_stop, mut stopped) = tokio::sync::watch::channel(false);
        let started = std::time::Instant::now();
        // 20 chunks of 1000 bytes at 10,000 bytes/s: about two seconds.
        assert!(
            scrub::pass(&node.store, 10_000, &mut stopped)
                .await
                .unwrap()
        );
        assert!(started.elapsed() >= Duration::from_millis(1500));
        let report = client.status(a).await.unwrap().scrub;
        assert_eq!(report.passes, 1);
        assert_eq!(report.chunks_checked, 20);
        assert_eq!(report.bytes_checked, 18 * 1000);
        assert_eq!(report.corrupt, vec!["c07", "c12"]);
        assert_eq!(report.corrupt_count, 2);

        // Rewritten or deleted, a chunk is no longer corrupt.
        client.put_chunk(a, "c07", data(1000)).await.unwrap();
        client.delete_chunk(a, "c12").await.unwrap();
        let (status, _, body) = raw("GET", format!("http://{a}/scrub"), &[]).await;
        assert_eq!(status, 200);
        let report: scrub::ScrubReport = serde_json::from_slice(&body).unwrap();
        assert!(report.corrupt.is_empty(), "{report:?}");

        // A read that finds rot reports it too.
        node.damage("c03", header_len + 5, 0x01);
        assert!(matches!(
            client.get_chunk(a, "c03", 0, 10).await,
            Err(Error::Corrupt(_))
        ));
        assert_eq!(client.status(a).await.unwrap().scrub.corrupt, vec!["c03"]);
        node.stop().await;
    })
    .await;
}

/// Sends a PUT's head and the first `sent` bytes of a `len`-byte body.
async fn partial_put(addr: &str, id: &str, len: usize, sent: usize) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let path = format!("/chunks/{id}");
    let signed =
        auth()
            .toward_storage()
            .sign(&http::Method::PUT, &path, addr, &blake3::hash(&data(len)));
    let signed = signed.to_str().unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\nx-shale-auth: {signed}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data(len)[..sent]).await.unwrap();
    s
}

/// The status line of the answer on `s`.
async fn status_of(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn chunk_bodies_read_at_once_stay_within_the_budget() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(vec![dir.path().join("d0")], 4096).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let budget = PutBudget::new(1 << 20, Duration::from_millis(500))
            .with_body_idle(Duration::from_secs(3));
        let task = tokio::spawn(serve_store_with(
            store.clone(),
            auth(),
            listener,
            budget,
            async {
                let _ = stopped.await;
            },
        ));
        // A slow PUT holds the whole budget while its body trickles in.
        let len = 1 << 20;
        let mut slow = partial_put(&addr, "slow", len, 1000).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Another finds no room within the wait: 503, nothing stored.
        let mut other = partial_put(&addr, "other", 4096, 4096).await;
        assert!(status_of(&mut other).await.contains(" 503 "));
        assert!(store.locate("other").is_none());
        // The slow one finishes and is stored; then there is room again.
        slow.write_all(&data(len)[1000..]).await.unwrap();
        assert!(status_of(&mut slow).await.contains(" 201 "));
        let mut again = partial_put(&addr, "other", 4096, 4096).await;
        assert!(status_of(&mut again).await.contains(" 201 "));
        // A body announced larger than the budget takes all of it, and fits.
        let mut big = partial_put(&addr, "big", 2 << 20, 2 << 20).await;
        assert!(status_of(&mut big).await.contains(" 201 "));
        // A body that stalls is refused and gives its share back.
        let mut stalled = partial_put(&addr, "stalled", len, 10).await;
        assert!(status_of(&mut stalled).await.contains(" 408 "));
        assert!(store.locate("stalled").is_none());
        let mut after = partial_put(&addr, "after", len, len).await;
        assert!(status_of(&mut after).await.contains(" 201 "));
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    })
    .await;
}
