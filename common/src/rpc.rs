//! HTTP helpers shared by the internal clients (metadata, storage node).
//!
//! Internal RPC is plain HTTP/1.1 on hyper with keep-alive; bodies are raw
//! bytes (chunks) or postcard-encoded serde messages (metadata).
//!
//! Request ids: the gateway runs each S3 request inside [`with_request_id`];
//! every internal client sends [`request_id`] as [`REQUEST_ID_HEADER`], and
//! the storage node and metadata service log the request inside a span
//! carrying it ([`request_id_of`]), so one grep of an `x-amz-request-id`
//! finds the request's lines in every role's log. Tasks a request spawns
//! keep its id with [`inherit_request_id`].

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::future::Future;
use std::time::Duration;

/// Header carrying the id of the S3 request an internal RPC serves.
pub const REQUEST_ID_HEADER: &str = "x-shale-request-id";

/// Longest request id a server accepts from [`REQUEST_ID_HEADER`].
pub const MAX_REQUEST_ID_LEN: usize = 64;

tokio::task_local! {
    static REQUEST_ID: http::HeaderValue;
}

/// The id of the request the current task serves, if any.
pub fn request_id() -> Option<http::HeaderValue> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// Runs `f` as part of request `id`: the internal RPCs it makes carry it.
pub async fn with_request_id<F: Future>(id: http::HeaderValue, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// `f` with the current task's request id, for a task spawned on behalf
/// of the request (task-local values do not cross `tokio::spawn`).
pub fn inherit_request_id<F: Future>(f: F) -> impl Future<Output = F::Output> {
    let id = request_id();
    async move {
        match id {
            Some(id) => REQUEST_ID.scope(id, f).await,
            None => f.await,
        }
    }
}

/// The request id an internal request carries, when it is a sane one
/// (1..=[`MAX_REQUEST_ID_LEN`] characters of `[A-Za-z0-9._-]`); anything
/// else is ignored rather than written to a log.
pub fn request_id_of(headers: &http::HeaderMap) -> Option<&str> {
    let id = headers.get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let sane = !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    sane.then_some(id)
}

/// The pooled HTTP client every internal client is built on.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A keep-alive client with TCP_NODELAY, for loopback and LAN RPC, over
/// plain HTTP (an `https` URI finds no CA to trust).
pub fn http_client() -> HttpClient {
    client_with(crate::tls::no_trust())
}

/// The client of a role's internal calls: over TLS, trusting the cluster's
/// CA, when `auth` carries the role's `internal_tls` (its URIs are then
/// `https`: [`ClusterAuth::scheme`](crate::cluster_auth::ClusterAuth::scheme)),
/// else plain HTTP.
pub fn internal_client(auth: &crate::cluster_auth::ClusterAuth) -> HttpClient {
    match auth.tls() {
        Some(tls) => client_with(tls.client.clone()),
        None => http_client(),
    }
}

fn client_with(config: std::sync::Arc<tokio_rustls::rustls::ClientConfig>) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*config).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build(connector)
}

/// Deserializes an address field that takes one `host:port` or a list of
/// them (the replicas of the metadata group) into one comma-separated
/// string, which `MetaClient::new` splits again.
pub fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    match serde::Deserialize::deserialize(d)? {
        OneOrMany::One(s) => Ok(s),
        OneOrMany::Many(v) if v.is_empty() => Err(serde::de::Error::custom(
            "an empty list: name at least one address",
        )),
        OneOrMany::Many(v) => Ok(v.join(",")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_read_only_when_sane() {
        let mut h = http::HeaderMap::new();
        assert_eq!(request_id_of(&h), None);
        h.insert(
            REQUEST_ID_HEADER,
            "1A2B3C4D0000000000000007".parse().unwrap(),
        );
        assert_eq!(request_id_of(&h), Some("1A2B3C4D0000000000000007"));
        let long = "A".repeat(MAX_REQUEST_ID_LEN + 1);
        for bad in ["", "a b", "x\"y", "id\u{7f}", long.as_str()] {
            if let Ok(v) = http::HeaderValue::from_str(bad) {
                h.insert(REQUEST_ID_HEADER, v);
                assert_eq!(request_id_of(&h), None, "{bad:?}");
            }
        }
    }

    #[tokio::test]
    async fn the_request_id_follows_the_task_and_its_spawned_tasks() {
        assert!(request_id().is_none());
        let id = http::HeaderValue::from_static("REQ42");
        let seen = with_request_id(id.clone(), async {
            let inner = tokio::spawn(inherit_request_id(async { request_id() }));
            let lost = tokio::spawn(async { request_id() });
            (request_id(), inner.await.unwrap(), lost.await.unwrap())
        })
        .await;
        assert_eq!(seen, (Some(id.clone()), Some(id), None));
        assert!(request_id().is_none());
    }
}
