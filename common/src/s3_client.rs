//! A small S3 client for Shale's own traffic to other S3 endpoints (the
//! replication worker's writes to a destination bucket): one SigV4-signed
//! request (`UNSIGNED-PAYLOAD`: the body streams, never held whole, and
//! the destination checks it by its `x-amz-checksum-*`), its status,
//! headers and (small) body.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::sigv4;

/// The error type of a request body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A request body: bytes in memory, or a stream.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Largest answer body read (error documents, small XML answers).
const MAX_ANSWER: usize = 1 << 20;

/// An S3 endpoint and the key to sign for it with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Target {
    /// `http://host:port`.
    pub endpoint: String,
    /// The access key id.
    pub access_key: String,
    /// Its secret.
    pub secret_key: String,
    /// The region to sign for.
    pub region: String,
}

/// An answer: status, headers, and the body (up to 1 MiB).
#[derive(Debug)]
pub struct S3Answer {
    /// The HTTP status.
    pub status: http::StatusCode,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl S3Answer {
    /// The `<Code>` of an S3 error body, if any.
    pub fn error_code(&self) -> Option<String> {
        let text = std::str::from_utf8(&self.body).ok()?;
        let start = text.find("<Code>")? + "<Code>".len();
        let len = text[start..].find("</Code>")?;
        Some(text[start..start + len].to_owned())
    }
}

/// No answer: the endpoint was not reached, or did not answer in time.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// A body of `bytes`.
pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body streamed from `stream`.
pub fn streamed<S, E>(stream: S) -> Body
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    use futures::TryStreamExt;
    http_body_util::StreamBody::new(stream.map_ok(hyper::body::Frame::data).map_err(Into::into))
        .boxed_unsync()
}

/// A keep-alive client of S3 endpoints.
#[derive(Clone)]
pub struct S3Client {
    client: Client<HttpConnector, Body>,
}

impl Default for S3Client {
    fn default() -> Self {
        Self::new()
    }
}

impl S3Client {
    /// A client with keep-alive and a 5 s connect timeout.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        S3Client {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        }
    }

    /// Sends one request to `target`: `path` unencoded (`/bucket/key`),
    /// `headers` signed with the rest, `body` of `len` bytes; the answer
    /// within `timeout`.
    #[allow(clippy::too_many_arguments, reason = "one request's parts")]
    pub async fn send(
        &self,
        target: &S3Target,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        (body, len): (Body, u64),
        timeout: Duration,
    ) -> Result<S3Answer, Unreachable> {
        let endpoint = target.endpoint.trim_end_matches('/');
        let authority = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| Unreachable(format!("{endpoint}: only http:// endpoints are spoken")))?;
        let amz_date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .map_err(|e| Unreachable(format!("formatting the date: {e}")))?;
        let len_text = len.to_string();
        let mut signed: Vec<(&str, &str)> = vec![
            ("host", authority),
            ("x-amz-date", amz_date.as_str()),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ];
        if method == "PUT" || method == "POST" {
            signed.push(("content-length", len_text.as_str()));
        }
        signed.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let key = sigv4::SigningKey::new(&target.secret_key, &amz_date[..8], &target.region, "s3");
        let (authorization, _) = sigv4::authorization(
            &target.access_key,
            &key,
            &amz_date,
            &sigv4::Request {
                method,
                path,
                query,
                headers: &signed,
                payload_hash: "UNSIGNED-PAYLOAD",
            },
        );
        let mut uri = format!("{endpoint}{}", sigv4::uri_encode(path, true));
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        sigv4::uri_encode(k, false)
                    } else {
                        format!(
                            "{}={}",
                            sigv4::uri_encode(k, false),
                            sigv4::uri_encode(v, false)
                        )
                    }
                })
                .collect();
            uri = format!("{uri}?{}", q.join("&"));
        }
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", authorization);
        for (k, v) in &signed {
            request = request.header(*k, *v);
        }
        let request = request
            .body(body)
            .map_err(|e| Unreachable(format!("{endpoint}: {e}")))?;
        let exchange = async {
            let resp = self
                .client
                .request(request)
                .await
                .map_err(|e| Unreachable(format!("{endpoint}: {e}")))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| Unreachable(format!("{endpoint}: reading the answer: {e}")))?
                .to_bytes();
            Ok(S3Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Unreachable(format!("{endpoint}: no answer within {timeout:?}")))?
    }
}
