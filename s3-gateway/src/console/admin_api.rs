//! The console as a client of its gateway's admin API.
//!
//! The cluster and key pages show what `shale admin` shows, asked the way
//! `shale admin` asks it: a `/?shale-admin=<operation>` request signed with
//! SigV4 under the signed-in key and answered by the gateway's own `s3s`
//! service in-process ([`super::client::S3Dispatch`]), so the admin API's
//! own check decides (a root key only). A key without that right gets the
//! admin API's `AccessDenied`, which the page shows instead of the data.

use bytes::Bytes;
use serde_json::Value;

use super::client::{S3Dispatch, S3Failure, Signer, send};
use super::session::SessionView;

/// The query parameter of an admin request (`crate::admin::PARAM`).
const PARAM: &str = crate::admin::PARAM;

/// Calls admin operation `op` (`GET` for a read, `POST` for a change) with
/// `params`; its JSON answer.
pub async fn admin<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    method: http::Method,
    op: &str,
    params: &[(&str, &str)],
) -> Result<Value, S3Failure> {
    let mut query: Vec<(&str, &str)> = vec![(PARAM, op)];
    query.extend_from_slice(params);
    let answer = send(s3, signer, method, "/", &query, Bytes::new()).await?;
    serde_json::from_slice(&answer.body).map_err(|e| S3Failure {
        status: 500,
        code: "InternalError".into(),
        message: format!("the admin API's answer is not JSON: {e}"),
    })
}

impl super::Console {
    /// Reads admin operation `op` (a `GET` without parameters) under
    /// session `s`'s key: what the cluster, keys and replication pages show.
    pub(super) async fn admin_read<D: S3Dispatch, B>(
        &self,
        s3: &D,
        req: &http::Request<B>,
        s: &SessionView,
        op: &str,
    ) -> Result<Value, S3Failure> {
        let host = super::request_host(req);
        admin(s3, &self.signer(s, &host), http::Method::GET, op, &[]).await
    }
}
