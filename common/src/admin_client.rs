//! A client of a gateway's admin API (`/?shale-admin=<operation>`): one
//! SigV4-signed request, made with a root key the way the aws CLI signs S3
//! requests, and its JSON answer. `shale admin` uses it, and so does a
//! gateway talking to the gateways of the regions it is linked with.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use crate::sigv4;

/// What went wrong with an admin request.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No answer: refused, reset, or not within the timeout.
    #[error("{endpoint}: {reason}")]
    Unreachable {
        /// The endpoint asked.
        endpoint: String,
        /// Why there was no answer.
        reason: String,
    },
    /// An S3 error answer.
    #[error("{op}: {code}: {message} (HTTP {status})")]
    Refused {
        /// The operation asked for.
        op: String,
        /// The HTTP status.
        status: u16,
        /// The S3 error code (the status when the body had none).
        code: String,
        /// Its message.
        message: String,
    },
    /// An answer that is not the JSON of a success, or a request that
    /// could not be made (a bad endpoint).
    #[error("{0}")]
    Bad(String),
}

/// A gateway's admin API, with the root key to sign with.
#[derive(Clone, Debug)]
pub struct AdminClient {
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    timeout: Duration,
}

impl AdminClient {
    /// The admin API at `endpoint` (`http://host:port`), signed with this
    /// key for `region`; each request given `timeout` to answer.
    pub fn new(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        region: &str,
        timeout: Duration,
    ) -> Self {
        AdminClient {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            timeout,
        }
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends admin operation `op` (`GET` for reads, `POST` for changes)
    /// with `params` in the query string; its JSON answer.
    pub async fn call(
        &self,
        method: &str,
        op: &str,
        params: &[(&str, String)],
    ) -> Result<Value, AdminError> {
        let endpoint = &self.endpoint;
        let Some(authority) = endpoint.strip_prefix("http://") else {
            return Err(AdminError::Bad(format!(
                "{endpoint}: the admin API is spoken over http:// only"
            )));
        };
        let mut query: Vec<(&str, &str)> = vec![("shale-admin", op)];
        query.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        let amz_date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .map_err(|e| AdminError::Bad(format!("formatting the date: {e}")))?;
        let payload_hash = sigv4::sha256_hex(b"");
        let headers = [
            ("host", authority),
            ("x-amz-date", amz_date.as_str()),
            ("x-amz-content-sha256", payload_hash.as_str()),
        ];
        let key = sigv4::SigningKey::new(&self.secret_key, &amz_date[..8], &self.region, "s3");
        let (authorization, _) = sigv4::authorization(
            &self.access_key,
            &key,
            &amz_date,
            &sigv4::Request {
                method,
                path: "/",
                query: &query,
                headers: &headers,
                payload_hash: &payload_hash,
            },
        );
        let query_string = sigv4::query_string(&query);
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{endpoint}/?{query_string}"))
            .header("authorization", authorization);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| AdminError::Bad(format!("{endpoint}: {e}")))?;
        let unreachable = |reason: String| AdminError::Unreachable {
            endpoint: endpoint.clone(),
            reason,
        };
        let client = crate::rpc::http_client();
        let exchange = async {
            let resp = client
                .request(request)
                .await
                .map_err(|e| unreachable(format!("cannot reach the gateway: {e}")))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {:?}", self.timeout)))??;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let field = |name: &str| {
                text.split(&format!("<{name}>"))
                    .nth(1)
                    .and_then(|t| t.split(&format!("</{name}>")).next())
                    .map(str::to_owned)
            };
            return Err(AdminError::Refused {
                op: op.to_owned(),
                status: status.as_u16(),
                code: field("Code").unwrap_or_else(|| status.as_u16().to_string()),
                message: field("Message").unwrap_or_else(|| text.into_owned()),
            });
        }
        serde_json::from_slice(&body)
            .map_err(|e| AdminError::Bad(format!("{op}: the answer is not JSON: {e}")))
    }
}
