//! The real service on a free port, driven through `MetaClient`.

use bytes::Bytes;
use http_body_util::Full;
use shale_common::ObjectData;
use shale_common::cluster_auth::ClusterAuth;
use shale_metadata::*;
use std::time::Duration;
use tokio::net::TcpListener;

const LIMIT: Duration = Duration::from_secs(30);

/// The credential the service and clients of these tests share.
fn auth() -> ClusterAuth {
    static AUTH: std::sync::OnceLock<ClusterAuth> = std::sync::OnceLock::new();
    AUTH.get_or_init(|| ClusterAuth::ephemeral("test")).clone()
}

struct Running {
    client: MetaClient,
    addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

async fn start(dir: &std::path::Path) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = MetadataConfig::single(dir.to_path_buf());
    let task = tokio::spawn(serve(config, auth(), listener, async {
        let _ = stopped.await;
    }));
    let client = MetaClient::new(&addr, auth());
    // Poll with a deadline rather than sleeping: the database opens first.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !client.health().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "service never came up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Running {
        client,
        addr,
        stop,
        task,
    }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

fn inline_row(etag: &str) -> ObjectRow {
    ObjectRow {
        size: 2,
        etag: etag.into(),
        last_modified_ms: 3,
        content_type: None,
        system_headers: vec![],
        user_metadata: vec![("a".into(), "b".into())],
        parts_count: None,
        data: ObjectData::Inline(b"hi".to_vec()),
        tags: Vec::new(),
        checksum: None,
        owner: Some("AKWRITER".into()),
    }
}

#[tokio::test]
async fn client_round_trips_through_the_service() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let svc = start(dir.path()).await;
        let c = svc.client.clone();

        let b = c
            .create_bucket("photos", "us-east-1", Some("AKOWNER"))
            .await
            .unwrap();
        assert_eq!(b.name, "photos");
        assert_eq!(b.owner.as_deref(), Some("AKOWNER"));
        assert_eq!(
            c.create_bucket("photos", "us-east-1", Some("AKOWNER"))
                .await,
            Err(MetaError::BucketAlreadyOwnedByYou)
        );
        assert_eq!(c.list_buckets().await.unwrap(), vec![b.clone()]);
        assert_eq!(c.get_bucket("photos").await.unwrap(), Some(b));

        assert_eq!(
            c.put_object("photos", "cat.jpg", inline_row("e1"), true, None)
                .await,
            Ok(None)
        );
        assert_eq!(
            c.put_object("photos", "cat.jpg", inline_row("e2"), true, None)
                .await,
            Err(MetaError::PreconditionFailed)
        );
        assert_eq!(
            c.get_object("photos", "cat.jpg").await.unwrap(),
            inline_row("e1")
        );
        let tags = vec![("kind".to_string(), "cat".to_string())];
        c.put_object_tags("photos", "cat.jpg", tags.clone())
            .await
            .unwrap();
        let tagged = c.get_object("photos", "cat.jpg").await.unwrap();
        assert_eq!(tagged.tags, tags);
        assert_eq!(tagged.etag, "e1");
        assert_eq!(
            c.put_object_tags("photos", "dog.jpg", tags.clone()).await,
            Err(MetaError::NoSuchKey)
        );
        c.put_object_tags("photos", "cat.jpg", Vec::new())
            .await
            .unwrap();
        c.put_bucket_tags("photos", tags.clone()).await.unwrap();
        assert_eq!(c.get_bucket("photos").await.unwrap().unwrap().tags, tags);
        assert_eq!(
            c.put_bucket_tags("nope", tags.clone()).await,
            Err(MetaError::NoSuchBucket)
        );
        c.put_bucket_tags("photos", Vec::new()).await.unwrap();
        assert_eq!(
            c.get_object("photos", "dog.jpg").await,
            Err(MetaError::NoSuchKey)
        );
        let list = c
            .list_objects("photos", "", Some("/"), None, 10)
            .await
            .unwrap();
        assert_eq!(list.objects.len(), 1);
        assert_eq!(list.objects[0].key, "cat.jpg");
        assert_eq!(list.objects[0].owner.as_deref(), Some("AKWRITER"));

        c.create_upload(Upload {
            bucket: "photos".into(),
            key: "big".into(),
            upload_id: "u1".into(),
            initiated_ms: 1,
            content_type: None,
            system_headers: vec![],
            user_metadata: vec![],
            tags: Vec::new(),
            checksum: None,
            owner: None,
        })
        .await
        .unwrap();
        let uploads = c
            .list_uploads("photos", "", None, None, None, 10)
            .await
            .unwrap();
        assert_eq!(uploads.uploads.len(), 1);
        c.abort_upload("photos", "big", "u1").await.unwrap();
        assert_eq!(
            c.get_upload("photos", "big", "u1").await,
            Err(MetaError::NoSuchUpload)
        );

        c.put_access_key(AccessKey {
            access_key: "AK".into(),
            secret_key: "SK".into(),
            name: "n".into(),
            grants: None,
        })
        .await
        .unwrap();
        assert_eq!(
            c.get_access_key("AK").await.unwrap().unwrap().secret_key,
            "SK"
        );
        c.register_node(shale_common::NodeInfo {
            id: 1,
            addr: "127.0.0.1:1".into(),
            zone: "z".into(),
        })
        .await
        .unwrap();
        assert_eq!(c.cluster_map().await.unwrap().len(), 1);

        assert_eq!(
            c.delete_object("photos", "cat.jpg").await.unwrap(),
            Some(inline_row("e1"))
        );
        c.delete_bucket("photos").await.unwrap();
        assert_eq!(c.get_bucket("photos").await.unwrap(), None);
        c.create_bucket("kept", "r", None).await.unwrap();
        svc.stop().await;

        // serve closed the database on return: it reopens at once, with data.
        let store = MetaStore::open(dir.path()).unwrap();
        assert!(store.get_bucket("kept").unwrap().is_some());
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn bad_bodies_and_unreachable_service() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let svc = start(dir.path()).await;
        let http = shale_common::rpc::http_client();
        let garbage = Bytes::from_static(b"\xff\xff\xff garbage");
        let post = || {
            http::Request::post(format!("http://{}/rpc", svc.addr))
                .body(Full::new(garbage.clone()))
                .unwrap()
        };
        // Unsigned, or signed for another body: refused before decoding.
        let resp = http.request(post()).await.unwrap();
        assert_eq!(resp.status(), http::StatusCode::UNAUTHORIZED);
        let mut req = post();
        auth().sign_request(&mut req, &blake3::hash(b"another body"));
        let resp = http.request(req).await.unwrap();
        assert_eq!(resp.status(), http::StatusCode::UNAUTHORIZED);
        // Signed: decoded, and refused as undecodable.
        let mut req = post();
        auth().sign_request(&mut req, &blake3::hash(&garbage));
        let resp = http.request(req).await.unwrap();
        assert_eq!(resp.status(), http::StatusCode::BAD_REQUEST);
        let mut req = http::Request::get(format!("http://{}/nope", svc.addr))
            .body(Full::new(Bytes::new()))
            .unwrap();
        auth().sign_request(&mut req, &blake3::hash(b""));
        assert_eq!(
            http.request(req).await.unwrap().status(),
            http::StatusCode::NOT_FOUND
        );
        svc.stop().await;

        // Nothing listens any more: a typed Unavailable, not a panic.
        let client = MetaClient::new(&unused_port().await, auth());
        assert!(matches!(
            client.list_buckets().await,
            Err(MetaError::Unavailable(_))
        ));
    })
    .await
    .expect("test timed out");
}

/// A port that nothing listens on.
async fn unused_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}
