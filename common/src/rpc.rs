//! HTTP helpers shared by the internal clients (metadata, storage node).
//!
//! Internal RPC is plain HTTP/1.1 on hyper with keep-alive; bodies are raw
//! bytes (chunks) or postcard-encoded serde messages (metadata).

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// The pooled HTTP client every internal client is built on.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A keep-alive client with TCP_NODELAY, for loopback and LAN RPC.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
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
