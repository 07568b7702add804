//! Entry points for the fuzz targets in `fuzz/` (and for the tests that
//! replay their corpora): untrusted bytes fed to the gateway's request
//! parsing exactly as configured in production (`s3s` with SigV4), in
//! process, with an S3 implementation that only drains bodies; and to the
//! browser-upload form reader and policy checks ([`crate::post`]), which
//! run before `s3s`.
//!
//! Each function must never panic, whatever the input.

use std::sync::OnceLock;

use bytes::Bytes;
use futures::StreamExt;
use md5::Digest as _;
use s3s::auth::SimpleAuth;
use s3s::dto::{ETag, PutObjectInput, PutObjectOutput};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Response, S3Result};

use shale_common::sigv4::{self, SigningKey};

const ACCESS: &str = "FUZZACCESSKEY";
const SECRET: &str = "fuzz-secret-key";
const REGION: &str = "us-east-1";

/// Answers PutObject with the MD5 of the decoded body (so a decoder can be
/// checked against the bytes that were framed), everything else with
/// NotImplemented.
struct Drain;

#[async_trait::async_trait]
impl S3 for Drain {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let mut md5 = md5::Md5::new();
        if let Some(mut body) = req.input.body {
            while let Some(piece) = body.next().await {
                let piece = piece.map_err(|e| s3s::s3_error!(IncompleteBody, "{e}"))?;
                md5.update(&piece);
            }
        }
        let tag = hex::encode(md5.finalize());
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(tag)),
            ..Default::default()
        }))
    }
}

fn service() -> &'static S3Service {
    static SERVICE: OnceLock<S3Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let mut b = S3ServiceBuilder::new(Drain);
        b.set_auth(SimpleAuth::from_single(ACCESS, SECRET));
        b.build()
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("fuzz runtime")
    })
}

fn now() -> (String, String) {
    let t = time::OffsetDateTime::now_utc();
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let amz = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    (date, amz)
}

fn call(req: http::Request<s3s::Body>) -> Option<http::Response<s3s::Body>> {
    runtime().block_on(async {
        let resp = service().call(req).await.ok()?;
        Some(resp)
    })
}

/// Any bytes as the `Authorization` header of a GET: the SigV4 (and SigV2)
/// header parsers and verifier must answer an error, never panic.
pub fn authorization_header(data: &[u8]) {
    let Ok(value) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let (_, amz) = now();
    let req = http::Request::builder()
        .method("GET")
        .uri("/fuzz-bucket/key")
        .header("host", "127.0.0.1")
        .header("x-amz-date", amz)
        .header("x-amz-content-sha256", sigv4::EMPTY_SHA256)
        .header("authorization", value)
        .body(s3s::Body::empty());
    let Ok(req) = req else { return };
    if let Some(resp) = call(req) {
        assert_ne!(
            resp.status(),
            http::StatusCode::OK,
            "a fuzzed Authorization header was accepted"
        );
    }
}

/// Signs a PutObject whose body is `framed`, announced as a signed aws-chunked
/// body of `decoded_len` bytes; returns the request and the seed signature.
fn chunked_put(
    framed: Bytes,
    decoded_len: usize,
    key: &SigningKey,
    amz: &str,
) -> (http::Request<s3s::Body>, String) {
    let content_length = framed.len().to_string();
    let decoded = decoded_len.to_string();
    let headers = [
        ("host", "127.0.0.1"),
        ("x-amz-date", amz),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", decoded.as_str()),
        ("content-length", content_length.as_str()),
    ];
    let sreq = sigv4::Request {
        method: "PUT",
        path: "/fuzz-bucket/key",
        query: &[],
        headers: &headers,
        payload_hash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    };
    let (auth, seed) = sigv4::authorization(ACCESS, key, amz, &sreq);
    let mut b = http::Request::builder()
        .method("PUT")
        .uri("/fuzz-bucket/key");
    for (k, v) in headers {
        b = b.header(k, v);
    }
    let req = b
        .header("authorization", auth)
        .body(s3s::Body::from(framed))
        .expect("valid request");
    (req, seed)
}

/// aws-chunked decoding. The first byte picks a mode: odd → `data[1..]` is
/// the raw (mis)framed body of a correctly signed request, which must be
/// rejected or decoded without a panic; even → `data[1..]` is a payload that
/// is framed and signed correctly in chunks of a size taken from the input,
/// and the decoded body must be exactly the payload.
pub fn aws_chunked(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (date, amz) = now();
    let key = SigningKey::new(SECRET, &date, REGION, "s3");
    if mode % 2 == 1 {
        let (req, _) = chunked_put(Bytes::copy_from_slice(rest), rest.len(), &key, &amz);
        let _ = call(req);
        return;
    }
    let chunk_size = 1 + usize::from(mode) * 37;
    // The seed signature does not depend on the body, only on its length.
    let framed_len = sigv4::signed_chunked_len(rest.len(), chunk_size);
    let (probe, seed) = chunked_put(Bytes::from(vec![0u8; framed_len]), rest.len(), &key, &amz);
    drop(probe);
    let framed = sigv4::signed_chunked_body(&key, &amz, &seed, rest, chunk_size);
    let (req, _) = chunked_put(Bytes::from(framed), rest.len(), &key, &amz);
    let resp = call(req).expect("service answers");
    assert_eq!(
        resp.status(),
        http::StatusCode::OK,
        "a correctly signed aws-chunked body was rejected"
    );
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    assert_eq!(
        etag,
        hex::encode(md5::Md5::digest(rest)),
        "aws-chunked decoding changed the bytes"
    );
}

/// The boundary of the fuzzed browser-upload forms.
const FORM_BOUNDARY: &str = "fuzzb";

/// A browser upload's form through every check [`crate::post::upload`]
/// makes before and while storing, with the key's secret known and the
/// file drained instead of stored. Any outcome but a panic is fine.
async fn post_form_checks(body: Vec<Bytes>) {
    use crate::post;
    let pieces = futures::stream::iter(
        body.into_iter()
            .map(|p| Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(p))),
    );
    let content_type = format!("multipart/form-data; boundary={FORM_BOUNDARY}");
    let Ok((form, mut reader)) =
        post::read_form(&content_type, http_body_util::StreamBody::new(pieces)).await
    else {
        return;
    };
    let mut range = (0, post::MAX_FILE_SIZE);
    if let Ok(signer) = post::signer(&form)
        && let Some(policy_b64) = form.field("policy")
        && let Ok(policy) = post::parse_policy(policy_b64)
        && post::verify_signature(&signer, policy_b64, SECRET).is_ok()
        && let Ok(allowed) = post::check_policy(
            &policy,
            &form,
            "fuzz-bucket",
            time::OffsetDateTime::now_utc(),
            post::MAX_FILE_SIZE,
        )
    {
        range = allowed;
    }
    let mut handles = None;
    if let Some(mut file) = reader.file_body(range.0, range.1) {
        handles = Some(file.handles());
        while let Some(piece) = file.next().await {
            if piece.is_err() {
                break;
            }
        }
    }
    let _ = reader.finish(handles).await;
}

/// Browser-upload forms. The first byte picks a mode: even → `data[1..]` is
/// a raw `multipart/form-data` body (boundary `fuzzb`), cut into pieces of
/// a size taken from that byte; odd → `data[1..]` is a policy document,
/// signed (SigV4) into an otherwise well-formed form. Neither may panic.
pub fn post_form(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode % 2 == 0 {
        let piece = 1 + usize::from(mode) * 13;
        rest.chunks(piece).map(Bytes::copy_from_slice).collect()
    } else {
        use base64::Engine as _;
        let (date, amz) = now();
        let policy = base64::engine::general_purpose::STANDARD.encode(rest);
        let signature = SigningKey::new(SECRET, &date, REGION, "s3").sign(&policy);
        let credential = format!("{ACCESS}/{date}/{REGION}/s3/aws4_request");
        let mut text = String::new();
        for (name, value) in [
            ("key", "up/${filename}"),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-credential", &credential),
            ("x-amz-date", &amz),
            ("policy", &policy),
            ("x-amz-signature", &signature),
            ("Content-Type", "image/png"),
        ] {
            text.push_str(&format!(
                "--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        text.push_str(&format!(
            "--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n0123456789\r\n--{FORM_BOUNDARY}--\r\n"
        ));
        vec![Bytes::from(text)]
    };
    runtime().block_on(post_form_checks(body));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_round_trip_and_garbage() {
        aws_chunked(&[0]);
        aws_chunked(&[2, 1, 2, 3]);
        let payload: Vec<u8> = std::iter::once(6u8)
            .chain((0..5000u32).map(|i| i as u8))
            .collect();
        aws_chunked(&payload);
        aws_chunked(b"\x01garbage;chunk-signature=zz\r\n");
        aws_chunked(b"\x01ffffffffffffffff;chunk-signature=00\r\n");
    }

    #[test]
    fn post_forms_never_panic() {
        post_form(&[]);
        post_form(b"\x00--fuzzb\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--fuzzb--\r\n");
        post_form(b"\x01{\"expiration\":\"2100-01-01T00:00:00Z\",\"conditions\":[[\"content-length-range\",1,5],[\"starts-with\",\"$key\",\"up/\"]]}");
        post_form(b"\x01{\"expiration\":\"2100-01-01T00:00:00Z\",\"conditions\":[[\"content-length-range\",5,1]]}");
        post_form(b"\x02--fuzzb\r\nContent-Disposition: form-data; name=\"a\r\n\r\n");
    }

    #[test]
    fn authorization_garbage_is_rejected() {
        authorization_header(b"");
        authorization_header(b"AWS4-HMAC-SHA256 Credential=FUZZACCESSKEY/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00");
        authorization_header(b"AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;;, Signature=");
        authorization_header(b"AWS FUZZACCESSKEY:c2lnbmF0dXJl");
        authorization_header(b"AWS4-HMAC-SHA256 Credential=\xff");
    }
}
