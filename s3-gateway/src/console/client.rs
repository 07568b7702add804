//! The console as an S3 client of its own gateway.
//!
//! Every action of the console is the S3 request a client would send for
//! it, signed with SigV4 (`shale_common::sigv4`, the signer replication
//! and `shale admin` use) under the signed-in key's secret, and answered
//! by the gateway's own S3 service in-process ([`S3Dispatch`]): the very
//! authentication, grants, policies and S3 rules a client meets. The
//! console never reads or writes the catalogue itself.

use std::future::Future;

use bytes::Bytes;
use shale_common::sigv4;
use time::OffsetDateTime;

/// What answers the console's S3 requests: the gateway's S3 front, in
/// this process (see `server.rs`).
pub trait S3Dispatch: Send + Sync {
    /// Answers one signed S3 request as the listener would, with the same
    /// authentication and authorisation.
    fn dispatch(
        &self,
        req: http::Request<s3s::Body>,
    ) -> impl Future<Output = http::Response<s3s::Body>> + Send;
}

/// Largest S3 answer the console reads (a ListBuckets of many buckets).
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// The XML namespace of S3's request bodies.
pub(super) const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The key the console signs with, and where.
pub struct Signer<'a> {
    /// The signed-in access key.
    pub access_key: &'a str,
    /// Its secret.
    pub secret: &'a str,
    /// The gateway's region (the SigV4 scope).
    pub region: &'a str,
    /// The `Host` the requests are made to (the console's own).
    pub host: &'a str,
}

/// The AWS documentation's example key, signing for a gateway on
/// `127.0.0.1:9000` in `us-east-1`: the tests' signer.
#[cfg(test)]
pub(super) const EXAMPLE_SIGNER: Signer<'static> = Signer {
    access_key: "AKIAIOSFODNN7EXAMPLE",
    secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    region: "us-east-1",
    host: "127.0.0.1:9000",
};

/// An S3 error answer, as the console shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Failure {
    /// HTTP status.
    pub status: u16,
    /// S3's error code (`BucketNotEmpty`); empty when the answer had none.
    pub code: String,
    /// S3's message.
    pub message: String,
}

impl S3Failure {
    /// `Code: message`, for a page.
    pub fn describe(&self) -> String {
        match (self.code.is_empty(), self.message.is_empty()) {
            (true, true) => format!("The request failed with HTTP status {}", self.status),
            (true, false) => self.message.clone(),
            (false, true) => self.code.clone(),
            (false, false) => format!("{}: {}", self.code, self.message),
        }
    }

    /// True when S3 refused the credentials or the key's rights.
    pub fn is_refusal(&self) -> bool {
        self.status == 403
    }
}

/// One bucket of a ListBuckets answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketRow {
    /// Its name.
    pub name: String,
    /// Its creation date, as S3 wrote it (ISO 8601).
    pub created: String,
}

/// `yyyymmddThhmmssZ` and `yyyymmdd` of `now`.
pub(super) fn amz_dates(now: OffsetDateTime) -> (String, String) {
    let day = format!(
        "{:04}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let stamp = format!(
        "{day}T{:02}{:02}{:02}Z",
        now.hour(),
        now.minute(),
        now.second()
    );
    (stamp, day)
}

/// The SigV4-signed request `method path?query` with `body`, made at `now`.
pub fn signed_request(
    signer: &Signer<'_>,
    method: http::Method,
    path: &str,
    query: &[(&str, &str)],
    body: Bytes,
    now: OffsetDateTime,
) -> Result<http::Request<s3s::Body>, String> {
    signed_request_with(signer, method, path, query, &[], body, now)
}

/// [`signed_request`] with `extra` headers (lower-case names), signed too.
pub fn signed_request_with(
    signer: &Signer<'_>,
    method: http::Method,
    path: &str,
    query: &[(&str, &str)],
    extra: &[(&str, &str)],
    body: Bytes,
    now: OffsetDateTime,
) -> Result<http::Request<s3s::Body>, String> {
    let payload_hash = sigv4::sha256_hex(&body);
    let length = body.len() as u64;
    signed_with(
        signer,
        Unsigned {
            method,
            path,
            query,
            headers: extra,
        },
        (s3s::Body::from(body), length, &payload_hash),
        now,
    )
}

/// A request before signing: `method path?query` with extra `headers`
/// (`content-type`, `x-amz-copy-source`, …), which are signed too.
pub struct Unsigned<'a> {
    /// The method.
    pub method: http::Method,
    /// The path, not yet encoded (`/bucket/my key`).
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers besides `host`, `x-amz-date` and `x-amz-content-sha256`.
    pub headers: &'a [(&'a str, &'a str)],
}

/// `req` signed, with `body` of `length` bytes whose SigV4 payload hash is
/// `payload_hash` (`UNSIGNED-PAYLOAD` for a body streamed through, as an
/// upload's part is).
pub fn signed_with(
    signer: &Signer<'_>,
    req: Unsigned<'_>,
    (body, length, payload_hash): (s3s::Body, u64, &str),
    now: OffsetDateTime,
) -> Result<http::Request<s3s::Body>, String> {
    let (amz_date, day) = amz_dates(now);
    let length = length.to_string();
    let mut headers = vec![
        ("host", signer.host),
        ("x-amz-content-sha256", payload_hash),
        ("x-amz-date", amz_date.as_str()),
    ];
    headers.extend_from_slice(req.headers);
    let key = sigv4::SigningKey::new(signer.secret, &day, signer.region, "s3");
    let (authorization, _) = sigv4::authorization(
        signer.access_key,
        &key,
        &amz_date,
        &sigv4::Request {
            method: req.method.as_str(),
            path: req.path,
            query: req.query,
            headers: &headers,
            payload_hash,
        },
    );
    let mut uri = sigv4::uri_encode(req.path, true);
    if !req.query.is_empty() {
        uri.push('?');
        uri.push_str(&sigv4::query_string(req.query));
    }
    let mut builder = http::Request::builder().method(req.method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .header(http::header::AUTHORIZATION, authorization)
        .header(http::header::CONTENT_LENGTH, length)
        .body(body)
        .map_err(|e| format!("the request could not be made: {e}"))
}

/// Signs `method path?query` with `body` now ([`signed_request`]) and
/// sends it ([`call`]).
pub(super) async fn send<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    method: http::Method,
    path: &str,
    query: &[(&str, &str)],
    body: Bytes,
) -> Result<Answer, S3Failure> {
    let now = OffsetDateTime::now_utc();
    call(s3, signed_request(signer, method, path, query, body, now)).await
}

/// Signs `req` with `body` now ([`signed_with`]) and sends it ([`call`]).
pub(super) async fn send_with<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    req: Unsigned<'_>,
    body: (s3s::Body, u64, &str),
) -> Result<Answer, S3Failure> {
    call(
        s3,
        signed_with(signer, req, body, OffsetDateTime::now_utc()),
    )
    .await
}

/// An S3 answer read whole: status and body.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: http::HeaderMap,
    pub(super) body: Bytes,
}

/// Sends `req` and reads the answer; an error status is an [`S3Failure`].
pub(super) async fn call<D: S3Dispatch>(
    s3: &D,
    req: Result<http::Request<s3s::Body>, String>,
) -> Result<Answer, S3Failure> {
    let req = req.map_err(|message| S3Failure {
        status: 400,
        code: "InvalidRequest".into(),
        message,
    })?;
    let resp = s3.dispatch(req).await;
    let status = resp.status().as_u16();
    let (parts, mut body) = resp.into_parts();
    let body = body
        .store_all_limited(MAX_ANSWER_BYTES)
        .await
        .map_err(|e| S3Failure {
            status: 500,
            code: "InternalError".into(),
            message: format!("the answer could not be read: {e}"),
        })?;
    let answer = Answer {
        status,
        headers: parts.headers,
        body,
    };
    if (200..300).contains(&status) {
        Ok(answer)
    } else {
        Err(failure_of(&answer))
    }
}

pub(super) fn failure_of(answer: &Answer) -> S3Failure {
    let text = String::from_utf8_lossy(&answer.body);
    let code = xml_field(&text, "Code").unwrap_or_else(|| {
        // A HEAD's error has no body: name the usual cause.
        match answer.status {
            404 => "NotFound".into(),
            405 => "MethodNotAllowed".into(),
            _ => String::new(),
        }
    });
    S3Failure {
        status: answer.status,
        code,
        message: xml_field(&text, "Message").unwrap_or_default(),
    }
}

/// The text of the first `<name>…</name>` in `xml`, unescaped.
pub(super) fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    let raw = &xml[start..start + len];
    Some(
        quick_xml::escape::unescape(raw)
            .map(|s| s.into_owned())
            .unwrap_or_else(|_| raw.to_owned()),
    )
}

/// The buckets of a ListBuckets answer, in its order.
pub fn parse_buckets(xml: &str) -> Vec<BucketRow> {
    let mut rows = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Bucket>") {
        let after = &rest[start + "<Bucket>".len()..];
        let Some(end) = after.find("</Bucket>") else {
            break;
        };
        let one = &after[..end];
        if let Some(name) = xml_field(one, "Name") {
            rows.push(BucketRow {
                name,
                created: xml_field(one, "CreationDate").unwrap_or_default(),
            });
        }
        rest = &after[end + "</Bucket>".len()..];
    }
    rows
}

/// The path of bucket `name`. A `/` would make the request address a key
/// in another bucket, so it is refused here with S3's answer to a bad name.
pub(super) fn bucket_path(name: &str) -> Result<String, S3Failure> {
    if name.contains('/') {
        return Err(S3Failure {
            status: 400,
            code: "InvalidBucketName".into(),
            message: "The specified bucket is not valid.".into(),
        });
    }
    Ok(format!("/{name}"))
}

/// ListBuckets: the buckets the key may see.
pub async fn list_buckets<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
) -> Result<Vec<BucketRow>, S3Failure> {
    let answer = send(s3, signer, http::Method::GET, "/", &[], Bytes::new()).await?;
    Ok(parse_buckets(&String::from_utf8_lossy(&answer.body)))
}

/// CreateBucket `name`, in `region` (`LocationConstraint`) when it is not
/// the gateway's own; with `object_lock`, Object Lock enabled
/// (`x-amz-bucket-object-lock-enabled: true`, which enables versioning too).
pub async fn create_bucket<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    name: &str,
    region: &str,
    object_lock: bool,
) -> Result<(), S3Failure> {
    let body = if region.is_empty() || region == signer.region {
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<CreateBucketConfiguration xmlns=\"{S3_XMLNS}\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            quick_xml::escape::escape(region)
        ))
    };
    let lock: &[(&str, &str)] = if object_lock {
        &[("x-amz-bucket-object-lock-enabled", "true")]
    } else {
        &[]
    };
    let req = signed_request_with(
        signer,
        http::Method::PUT,
        &bucket_path(name)?,
        &[],
        lock,
        body,
        OffsetDateTime::now_utc(),
    );
    call(s3, req).await.map(|_| ())
}

/// PutBucketVersioning `Enabled` on `name`.
pub async fn enable_versioning<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    name: &str,
) -> Result<(), S3Failure> {
    let body = Bytes::from(format!(
        "<VersioningConfiguration xmlns=\"{S3_XMLNS}\"><Status>Enabled</Status></VersioningConfiguration>"
    ));
    send(
        s3,
        signer,
        http::Method::PUT,
        &bucket_path(name)?,
        &[("versioning", "")],
        body,
    )
    .await
    .map(|_| ())
}

/// DeleteBucket `name` (S3's rules: it must be empty).
pub async fn delete_bucket<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    name: &str,
) -> Result<(), S3Failure> {
    send(
        s3,
        signer,
        http::Method::DELETE,
        &bucket_path(name)?,
        &[],
        Bytes::new(),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_buckets_answer_is_read_in_order_and_unescaped() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult><Owner><ID>x</ID></Owner><Buckets>
<Bucket><Name>alpha</Name><CreationDate>2026-12-07T10:00:00.000Z</CreationDate></Bucket>
<Bucket><CreationDate>2026-12-07T11:00:00.000Z</CreationDate><Name>b&amp;c</Name></Bucket>
</Buckets></ListAllMyBucketsResult>"#;
        assert_eq!(
            parse_buckets(xml),
            vec![
                BucketRow {
                    name: "alpha".into(),
                    created: "2026-12-07T10:00:00.000Z".into()
                },
                BucketRow {
                    name: "b&c".into(),
                    created: "2026-12-07T11:00:00.000Z".into()
                },
            ]
        );
        assert!(parse_buckets("<ListAllMyBucketsResult/>").is_empty());
    }

    #[test]
    fn errors_are_described_with_code_and_message() {
        let answer = Answer {
            status: 409,
            headers: http::HeaderMap::new(),
            body: Bytes::from_static(
                b"<Error><Code>BucketNotEmpty</Code><Message>The bucket you tried to delete is not empty</Message></Error>",
            ),
        };
        let f = failure_of(&answer);
        assert_eq!(
            f.describe(),
            "BucketNotEmpty: The bucket you tried to delete is not empty"
        );
        assert!(!f.is_refusal());
        let bare = failure_of(&Answer {
            status: 503,
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
        });
        assert_eq!(bare.describe(), "The request failed with HTTP status 503");
    }

    #[test]
    fn extra_headers_are_signed() {
        let signer = EXAMPLE_SIGNER;
        let now = OffsetDateTime::from_unix_timestamp(1_369_353_600).expect("a date");
        let req = signed_request_with(
            &signer,
            http::Method::PUT,
            "/locked",
            &[],
            &[("x-amz-bucket-object-lock-enabled", "true")],
            Bytes::new(),
            now,
        )
        .expect("a request");
        assert_eq!(req.headers()["x-amz-bucket-object-lock-enabled"], "true");
        let auth = req.headers()["authorization"].to_str().expect("ascii");
        assert!(
            auth.contains(
                "SignedHeaders=host;x-amz-bucket-object-lock-enabled;x-amz-content-sha256;x-amz-date,"
            ),
            "{auth}"
        );
    }

    #[test]
    fn requests_are_signed_for_the_gateway() {
        let signer = EXAMPLE_SIGNER;
        let now = OffsetDateTime::from_unix_timestamp(1_369_353_600).expect("a date");
        let req = signed_request(
            &signer,
            http::Method::PUT,
            "/photos",
            &[("versioning", "")],
            Bytes::from_static(b"<x/>"),
            now,
        )
        .expect("a request");
        assert_eq!(req.uri(), "/photos?versioning=");
        let h = req.headers();
        assert_eq!(h["x-amz-date"], "20130524T000000Z");
        assert_eq!(h["host"], "127.0.0.1:9000");
        assert_eq!(h["content-length"], "4");
        let auth = h["authorization"].to_str().expect("ascii");
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature="
        ));
    }
}
