//! Authentication around `s3s`: it verifies SigV4 (header, presigned query,
//! POST policy) and SigV2 (header, query, POST policy) signatures; this
//! module looks the secrets up in the metadata service (cached: keys change
//! rarely and every request needs one), and makes the checks S3 makes that
//! `s3s` 0.14.1 does not ([`check_request`]), before `s3s` sees the request.

use std::sync::Arc;

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use shale_metadata::MetaClient;
use time::OffsetDateTime;

use crate::access::Keys;
use crate::vhost::VirtualHosts;

/// Longest validity of a SigV4 presigned URL (`X-Amz-Expires`): seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 604_800;
/// The clock skew `s3s` is told to allow (its `presigned_url_max_skew_time_secs`,
/// which it applies to SigV4 headers, presigned URLs and POST forms): lax,
/// because [`check_request`] makes S3's own checks of the first two, and S3
/// lets a POST form's policy expiration alone decide how long it is good.
pub const S3S_MAX_SKEW_SECS: u32 = 400 * 24 * 3600;
/// How far a signed request's date may be from the server's clock, as in S3.
const MAX_SKEW_SECS: i64 = 15 * 60;

/// Secret-key lookup backed by the metadata service's access keys (through
/// [`Keys`]' short-lived cache: keys change rarely and every request needs
/// one, and a deleted key must stop working soon).
pub struct MetaAuth {
    keys: Arc<Keys>,
}

impl MetaAuth {
    /// Looks keys up through `meta`.
    pub fn new(meta: MetaClient) -> Self {
        Self::with_keys(Arc::new(Keys::new(meta)))
    }

    /// Looks keys up in `keys` (shared with the access checks).
    pub fn with_keys(keys: Arc<Keys>) -> Self {
        MetaAuth { keys }
    }
}

#[async_trait::async_trait]
impl S3Auth for MetaAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.keys.get(access_key).await {
            Ok(Some(key)) if !key.is_disabled() => {
                Ok(SecretKey::from(key.key().secret_key.clone()))
            }
            // A disabled key is answered as S3 answers an inactive one.
            Ok(_) => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
            Err(e) => Err(crate::error::to_s3_error(crate::error::Error::Meta(e))),
        }
    }
}

/// The query parameters of `query`, percent-decoded.
fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                urlencoding::decode(s)
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| s.to_owned())
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn query_error(message: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AuthorizationQueryParametersError,
        message.to_owned(),
    )
}

/// Parses a SigV2 `Date` / `x-amz-date` value (RFC 1123 / RFC 2822, as
/// clients send it).
fn parse_v2_date(value: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc2822;
    let value = value.trim();
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc2822) {
        return Some(t);
    }
    // `time` reads the obsolete zone names of RFC 2822 only in part: the
    // HTTP form (`... GMT`) is read as `+0000`.
    let without = value
        .strip_suffix(" GMT")
        .or_else(|| value.strip_suffix(" UTC"))
        .or_else(|| value.strip_suffix(" UT"))?;
    OffsetDateTime::parse(&format!("{without} +0000"), &Rfc2822).ok()
}

/// Parses a SigV4 date (`20261126T134907Z`).
fn parse_v4_date(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value, format)
        .ok()
        .map(|t| t.assume_utc())
}

fn skewed() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::RequestTimeTooSkewed,
        "The difference between the request time and the current time is too large.",
    )
}

fn no_date() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessDenied,
        "AWS authentication requires a valid Date or x-amz-date header",
    )
}

/// The checks S3 makes of a request's authentication parameters that `s3s`
/// does not, made before `s3s` sees the request:
///
/// - SigV4 in the header: an `x-amz-date` (or `Date`) within 15 minutes of
///   the server's clock. `s3s` applies one skew limit to this, to presigned
///   URLs and to POST forms alike; S3 does not limit the age of a POST form
///   (its policy's expiration does), so the gateway gives `s3s` a lax limit
///   ([`S3S_MAX_SKEW_SECS`]) and checks the header case here;
/// - presigned SigV4: all six `X-Amz-*` parameters present, `X-Amz-Expires`
///   a number of seconds from 0 to 604800 (seven days), and `X-Amz-Date`
///   not more than 15 minutes ahead;
/// - presigned SigV2: `AWSAccessKeyId`, `Signature` and `Expires` together;
/// - SigV2 in the header: a `Date` (or `x-amz-date`) within 15 minutes of
///   the server's clock;
/// - SigV2 on a path-style bucket URL (`/bucket`): S3 signs the bucket's
///   resource as `/bucket/` (botocore and s3cmd do too), so the request is
///   given that path before `s3s` computes the string to sign; both paths
///   name the same bucket.
pub fn check_request<B>(
    req: &mut http::Request<B>,
    hosts: &VirtualHosts,
    now: OffsetDateTime,
) -> S3Result<()> {
    let params = query_params(req.uri().query().unwrap_or(""));
    let has = |name: &str| param(&params, name).is_some();
    let mut sig_v2 = false;

    if has("X-Amz-Signature") || has("X-Amz-Algorithm") || has("X-Amz-Credential") {
        const NAMES: [&str; 6] = [
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Signature",
            "X-Amz-Date",
            "X-Amz-SignedHeaders",
            "X-Amz-Expires",
        ];
        if !NAMES.iter().all(|n| has(n)) {
            return Err(query_error(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            ));
        }
        let expires = param(&params, "X-Amz-Expires").unwrap_or_default();
        let seconds: i64 = expires
            .parse()
            .map_err(|_| query_error("X-Amz-Expires should be a number"))?;
        if seconds < 0 {
            return Err(query_error("X-Amz-Expires must be non-negative"));
        }
        if seconds > MAX_PRESIGNED_EXPIRES_SECS {
            return Err(query_error(
                "X-Amz-Expires must be less than a week (in seconds) that is 604800 seconds",
            ));
        }
        let date = param(&params, "X-Amz-Date")
            .and_then(parse_v4_date)
            .ok_or_else(|| {
                query_error(
                    "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
                )
            })?;
        if (date - now).whole_seconds() > MAX_SKEW_SECS {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Request is not yet valid",
            ));
        }
    } else if has("AWSAccessKeyId") || has("Signature") {
        if !(has("AWSAccessKeyId") && has("Signature") && has("Expires")) {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            ));
        }
        sig_v2 = true;
    } else if let Some(auth) = req.headers().get(http::header::AUTHORIZATION)
        && auth.as_bytes().starts_with(b"AWS4-")
    {
        let headers = req.headers();
        let date = match headers.get("x-amz-date") {
            Some(v) => v.to_str().ok().and_then(parse_v4_date),
            None => headers
                .get(http::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_v2_date),
        }
        .ok_or_else(no_date)?;
        if (now - date).whole_seconds().abs() > MAX_SKEW_SECS {
            return Err(skewed());
        }
    } else if let Some(auth) = req.headers().get(http::header::AUTHORIZATION)
        && auth.as_bytes().starts_with(b"AWS ")
    {
        sig_v2 = true;
        let date = req
            .headers()
            .get("x-amz-date")
            .or_else(|| req.headers().get(http::header::DATE))
            .and_then(|v| v.to_str().ok())
            .and_then(parse_v2_date)
            .ok_or_else(no_date)?;
        if (now - date).whole_seconds().abs() > MAX_SKEW_SECS {
            return Err(skewed());
        }
    }

    if sig_v2 {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let path = req.uri().path();
        let bucket_only = path.len() > 1 && path.starts_with('/') && !path[1..].contains('/');
        if bucket_only && hosts.bucket_of(host).is_none() {
            let target = match req.uri().query() {
                Some(q) => format!("{path}/?{q}"),
                None => format!("{path}/"),
            };
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = Some(target.parse().map_err(|_| s3_error!(InvalidURI))?);
            *req.uri_mut() = http::Uri::from_parts(parts).map_err(|_| s3_error!(InvalidURI))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-26 13:49:07 UTC)
    }

    fn check(uri: &str, headers: &[(&str, &str)]) -> (S3Result<()>, String) {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut req = b.body(()).unwrap();
        let hosts = VirtualHosts::new(&["localhost".into()]).unwrap();
        let r = check_request(&mut req, &hosts, now());
        (r, req.uri().to_string())
    }

    fn code(r: S3Result<()>) -> (String, String) {
        let e = r.unwrap_err();
        (
            e.code().as_str().to_owned(),
            e.message().unwrap_or_default().to_owned(),
        )
    }

    const V4: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261126%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261126T134907Z&X-Amz-SignedHeaders=host&X-Amz-Signature=abc";

    #[test]
    fn presigned_v4_expiry_limits() {
        for (expires, ok) in [
            ("0", true),
            ("604800", true),
            ("604801", false),
            ("-1", false),
            ("x", false),
        ] {
            let (r, _) = check(&format!("/b/k?{V4}&X-Amz-Expires={expires}"), &[]);
            assert_eq!(r.is_ok(), ok, "{expires}");
            if !ok {
                assert_eq!(code(r).0, "AuthorizationQueryParametersError");
            }
        }
        let (r, _) = check(&format!("/b/k?{V4}&X-Amz-Expires=604801"), &[]);
        assert_eq!(
            code(r).1,
            "X-Amz-Expires must be less than a week (in seconds) that is 604800 seconds"
        );
        let (r, _) = check(&format!("/b/k?{V4}"), &[]);
        assert_eq!(code(r).0, "AuthorizationQueryParametersError");
    }

    #[test]
    fn v4_dates_within_fifteen_minutes() {
        let auth = ("authorization", "AWS4-HMAC-SHA256 Credential=x");
        let (r, _) = check("/b/k", &[auth, ("x-amz-date", "20261126T133500Z")]);
        assert!(r.is_ok());
        let (r, _) = check("/b/k", &[auth, ("x-amz-date", "20261126T133000Z")]);
        assert_eq!(code(r).0, "RequestTimeTooSkewed");
        let (r, _) = check("/b/k", &[auth, ("x-amz-date", "20261126T140500Z")]);
        assert_eq!(code(r).0, "RequestTimeTooSkewed");
        let (r, _) = check("/b/k", &[auth]);
        assert_eq!(code(r).0, "AccessDenied");
        // A presigned URL may be old (X-Amz-Expires decides), not from the future.
        let old = V4.replace("20261126T134907Z", "20261120T000000Z");
        let (r, _) = check(&format!("/b/k?{old}&X-Amz-Expires=60"), &[]);
        assert!(r.is_ok());
        let ahead = V4.replace("20261126T134907Z", "20261126T141000Z");
        let (r, _) = check(&format!("/b/k?{ahead}&X-Amz-Expires=60"), &[]);
        assert_eq!(
            code(r),
            ("AccessDenied".into(), "Request is not yet valid".into())
        );
    }

    #[test]
    fn presigned_v2_needs_all_parameters() {
        let (r, _) = check("/b/k?AWSAccessKeyId=AK&Signature=x", &[]);
        assert_eq!(code(r).0, "AccessDenied");
        let (r, _) = check("/b/k?AWSAccessKeyId=AK&Signature=x&Expires=1", &[]);
        assert!(r.is_ok());
    }

    #[test]
    fn v2_header_date_is_required_and_fresh() {
        let auth = ("authorization", "AWS AK:sig");
        let (r, _) = check("/b/k", &[auth]);
        assert_eq!(code(r).0, "AccessDenied");
        let (r, _) = check("/b/k", &[auth, ("date", "Thu, 26 Nov 2026 13:40:07 GMT")]);
        assert!(r.is_ok());
        let (r, _) = check("/b/k", &[auth, ("date", "Thu, 26 Nov 2026 13:49:07 +0000")]);
        assert!(r.is_ok());
        let (r, _) = check("/b/k", &[auth, ("date", "Thu, 26 Nov 2026 13:20:07 GMT")]);
        assert_eq!(code(r).0, "RequestTimeTooSkewed");
        // x-amz-date wins over Date.
        let (r, _) = check(
            "/b/k",
            &[
                auth,
                ("date", "Thu, 26 Nov 2026 13:49:07 GMT"),
                ("x-amz-date", "Thu, 26 Nov 2026 12:00:00 GMT"),
            ],
        );
        assert_eq!(code(r).0, "RequestTimeTooSkewed");
    }

    #[test]
    fn v2_bucket_resource_gets_its_slash() {
        let auth = ("authorization", "AWS AK:sig");
        let date = ("date", "Thu, 26 Nov 2026 13:49:07 GMT");
        let (_, uri) = check("/bucket?encoding-type=url", &[auth, date]);
        assert_eq!(uri, "/bucket/?encoding-type=url");
        let (_, uri) = check("/bucket", &[auth, date]);
        assert_eq!(uri, "/bucket/");
        let (_, uri) = check("/bucket/key", &[auth, date]);
        assert_eq!(uri, "/bucket/key");
        let (_, uri) = check("/", &[auth, date]);
        assert_eq!(uri, "/");
        // Virtual-host style: the path is the key, left alone.
        let (_, uri) = check("/key", &[auth, date, ("host", "bucket.localhost:9000")]);
        assert_eq!(uri, "/key");
        let (_, uri) = check("/bucket?AWSAccessKeyId=AK&Signature=x&Expires=1", &[]);
        assert_eq!(uri, "/bucket/?AWSAccessKeyId=AK&Signature=x&Expires=1");
        // SigV4 signs the path as sent.
        let (_, uri) = check(&format!("/bucket?{V4}&X-Amz-Expires=60"), &[]);
        assert!(uri.starts_with("/bucket?"));
    }
}
