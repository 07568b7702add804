//! AWS Signature Version 4, client side: signing requests and aws-chunked
//! bodies. The gateway *verifies* signatures through `s3s`; it *signs* when
//! it talks S3 to someone else (replication to another region), and the
//! tests, fuzz targets and load generator sign with this too.
//!
//! Reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>
//! and <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The payload hash of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// URI-encodes as SigV4 asks: everything but `A-Za-z0-9-_.~` (and `/` when
/// `keep_slash`, for paths).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A query string of `pairs`, each name and value URI-encoded, in the
/// order given.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The credential scope and key of one signing day.
#[derive(Clone)]
pub struct SigningKey {
    key: [u8; 32],
    /// `yyyymmdd/region/service/aws4_request`
    pub scope: String,
}

impl SigningKey {
    /// Derives the signing key for `date` (`yyyymmdd`), `region` and `service`.
    pub fn new(secret: &str, date: &str, region: &str, service: &str) -> Self {
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        let key = hmac(&k_service, b"aws4_request");
        SigningKey {
            key,
            scope: format!("{date}/{region}/{service}/aws4_request"),
        }
    }

    /// Signs a string to sign; lower-case hex.
    pub fn sign(&self, string_to_sign: &str) -> String {
        hex::encode(hmac(&self.key, string_to_sign.as_bytes()))
    }
}

/// A request to sign: the parts of the canonical request.
pub struct Request<'a> {
    pub method: &'a str,
    /// The URI path, not yet encoded (`/bucket/my key`).
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign (`host` and `x-amz-*` at least), any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD` / `STREAMING-…`.
    pub payload_hash: &'a str,
}

/// The canonical request and the signed-headers list.
pub fn canonical_request(req: &Request<'_>) -> (String, String) {
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        uri_encode(req.path, true),
        query,
        canonical_headers,
        signed_headers,
        req.payload_hash
    );
    (canonical, signed_headers)
}

/// The `Authorization` header value and the signature, for a request made at
/// `amz_date` (`yyyymmddThhmmssZ`).
pub fn authorization(
    access_key: &str,
    key: &SigningKey,
    amz_date: &str,
    req: &Request<'_>,
) -> (String, String) {
    let (canonical, signed_headers) = canonical_request(req);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        key.scope,
        sha256_hex(canonical.as_bytes())
    );
    let signature = key.sign(&string_to_sign);
    let header = format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{},SignedHeaders={signed_headers},Signature={signature}",
        key.scope
    );
    (header, signature)
}

/// The signature of one aws-chunked chunk, chained from `previous`.
pub fn chunk_signature(key: &SigningKey, amz_date: &str, previous: &str, chunk: &[u8]) -> String {
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{}\n{previous}\n{EMPTY_SHA256}\n{}",
        key.scope,
        sha256_hex(chunk)
    );
    key.sign(&string_to_sign)
}

/// Frames `body` as a signed aws-chunked body (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`)
/// in chunks of `chunk_size`, starting from the request's `seed` signature.
pub fn signed_chunked_body(
    key: &SigningKey,
    amz_date: &str,
    seed: &str,
    body: &[u8],
    chunk_size: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 256);
    let mut previous = seed.to_owned();
    let chunks: Vec<&[u8]> = body
        .chunks(chunk_size.max(1))
        .chain(std::iter::once(&[][..]))
        .collect();
    for chunk in chunks {
        let sig = chunk_signature(key, amz_date, &previous, chunk);
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        previous = sig;
    }
    out
}

/// Length of the body [`signed_chunked_body`] makes.
pub fn signed_chunked_len(body_len: usize, chunk_size: usize) -> usize {
    let frame = |n: usize| format!("{n:x}").len() + ";chunk-signature=".len() + 64 + 2 + n + 2;
    let full = body_len / chunk_size.max(1);
    let rest = body_len % chunk_size.max(1);
    full * frame(chunk_size) + if rest > 0 { frame(rest) } else { 0 } + frame(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCESS: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    /// AWS's documented example: GET Object with a Range header.
    #[test]
    fn aws_example_get_object() {
        let key = SigningKey::new(SECRET, "20130524", "us-east-1", "s3");
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query: &[],
            headers: &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ],
            payload_hash: EMPTY_SHA256,
        };
        let (auth, sig) = authorization(ACCESS, &key, "20130524T000000Z", &req);
        assert_eq!(
            sig,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(auth.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"));
    }

    /// AWS's documented example: PUT Object with a signed payload.
    #[test]
    fn aws_example_put_object() {
        let key = SigningKey::new(SECRET, "20130524", "us-east-1", "s3");
        let payload = sha256_hex(b"Welcome to Amazon S3.");
        let req = Request {
            method: "PUT",
            path: "/test$file.text",
            query: &[],
            headers: &[
                ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", &payload),
            ],
            payload_hash: &payload,
        };
        let (_, sig) = authorization(ACCESS, &key, "20130524T000000Z", &req);
        assert_eq!(
            sig,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    /// AWS's documented example: GET Bucket lifecycle (a query parameter with no value).
    #[test]
    fn aws_example_get_lifecycle() {
        let key = SigningKey::new(SECRET, "20130524", "us-east-1", "s3");
        let req = Request {
            method: "GET",
            path: "/",
            query: &[("lifecycle", "")],
            headers: &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-content-sha256", EMPTY_SHA256),
            ],
            payload_hash: EMPTY_SHA256,
        };
        let (_, sig) = authorization(ACCESS, &key, "20130524T000000Z", &req);
        assert_eq!(
            sig,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    /// AWS's documented example of a streaming upload: seed signature and the
    /// signatures of the 64 KiB chunk, the 1 KiB chunk and the final chunk.
    #[test]
    fn aws_example_chunked_upload() {
        let key = SigningKey::new(SECRET, "20130524", "us-east-1", "s3");
        let req = Request {
            method: "PUT",
            path: "/examplebucket/chunkObject.txt",
            query: &[],
            headers: &[
                ("host", "s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "66560"),
                ("content-length", "66824"),
            ],
            payload_hash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        };
        let (_, seed) = authorization(ACCESS, &key, "20130524T000000Z", &req);
        assert_eq!(
            seed,
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        );
        let body = vec![b'a'; 66560];
        let c1 = chunk_signature(&key, "20130524T000000Z", &seed, &body[..65536]);
        assert_eq!(
            c1,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
        let c2 = chunk_signature(&key, "20130524T000000Z", &c1, &body[65536..]);
        assert_eq!(
            c2,
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        );
        let c3 = chunk_signature(&key, "20130524T000000Z", &c2, &[]);
        assert_eq!(
            c3,
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        );
        let framed = signed_chunked_body(&key, "20130524T000000Z", &seed, &body, 65536);
        assert_eq!(framed.len(), 66824);
        assert_eq!(signed_chunked_len(body.len(), 65536), 66824);
    }

    #[test]
    fn uri_encoding() {
        assert_eq!(uri_encode("a b/c~d$", true), "a%20b/c~d%24");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(uri_encode("é", false), "%C3%A9");
    }
}
