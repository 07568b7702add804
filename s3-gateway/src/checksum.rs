//! Verifying the checksums a client sends with a body, and the checksums
//! the gateway stores and reports.
//!
//! Current SDKs send a flexible checksum with every upload: in a header
//! (`x-amz-checksum-crc32: <base64>`) when the payload is signed, or in an
//! aws-chunked trailer announced by `x-amz-trailer` when it is streamed.
//! `s3s` parses both but checks neither, so the gateway computes every
//! announced checksum while the body streams through and compares them (and
//! Content-MD5) before the object is committed. It computes the checksums
//! it must store as well (CRC64NVME, S3's default, and a multipart upload's
//! algorithm) in the same pass. The algorithms and the multipart math are
//! `shale_common::checksum`'s.

use base64::Engine as _;
use http::HeaderMap;
use shale_common::checksum::{ChecksumAlgorithm, ChecksumType, Hasher};
use shale_metadata::ObjectChecksum;

use crate::error::{Error, Result};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A base64 checksum value as sent by a client: its digest, if it is valid
/// base64 of the algorithm's length.
pub fn parse_value(algorithm: ChecksumAlgorithm, value: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .filter(|d| d.len() == algorithm.digest_len())
}

/// The error S3 gives for a malformed `x-amz-checksum-*` value.
fn invalid_value(algorithm: ChecksumAlgorithm) -> Error {
    Error::InvalidRequest(format!(
        "Value for {} header is invalid.",
        algorithm.header()
    ))
}

/// The checksums announced for one request body, and their running hashes.
#[derive(Default)]
pub struct RequestChecksums {
    /// One running digest per algorithm computed (announced or wanted).
    hashers: Vec<Hasher>,
    /// (algorithm, expected digest) from a header.
    in_header: Option<(ChecksumAlgorithm, Vec<u8>)>,
    /// The algorithm whose value arrives in a trailer.
    in_trailer: Option<ChecksumAlgorithm>,
    content_md5: Option<[u8; 16]>,
}

impl RequestChecksums {
    /// Reads the announced checksums from the request headers. S3 accepts
    /// one flexible checksum per request, in a header or a trailer.
    pub fn from_request(headers: &HeaderMap) -> Result<Self> {
        let mut c = RequestChecksums::default();
        let mut announced = 0;
        for alg in ChecksumAlgorithm::ALL {
            if let Some(v) = headers.get(alg.header()) {
                let digest = v
                    .to_str()
                    .ok()
                    .and_then(|v| parse_value(alg, v))
                    .ok_or_else(|| invalid_value(alg))?;
                c.in_header = Some((alg, digest));
                c.compute(alg);
                announced += 1;
            }
        }
        for v in headers.get_all("x-amz-trailer") {
            let v = v
                .to_str()
                .map_err(|_| Error::InvalidArgument("x-amz-trailer is not valid text".into()))?;
            for name in v.split(',').map(|s| s.trim().to_ascii_lowercase()) {
                if let Some(alg) = ChecksumAlgorithm::ALL
                    .into_iter()
                    .find(|a| a.header() == name)
                {
                    c.in_trailer = Some(alg);
                    c.compute(alg);
                    announced += 1;
                }
            }
        }
        if announced > 1 {
            return Err(Error::InvalidRequest(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                    .into(),
            ));
        }
        if let Some(v) = headers.get("content-md5") {
            let raw = v
                .to_str()
                .ok()
                .and_then(|s| {
                    base64::engine::general_purpose::STANDARD
                        .decode(s.trim())
                        .ok()
                })
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(|| {
                    Error::InvalidDigest("The Content-MD5 you specified was invalid.".into())
                })?;
            c.content_md5 = Some(raw);
        }
        Ok(c)
    }

    /// The flexible checksum the client sent (in a header or a trailer).
    pub fn announced(&self) -> Option<ChecksumAlgorithm> {
        self.in_header.as_ref().map(|(a, _)| *a).or(self.in_trailer)
    }

    /// Computes `algorithm` too (once, however often it is asked for).
    pub fn compute(&mut self, algorithm: ChecksumAlgorithm) {
        if !self.hashers.iter().any(|h| h.algorithm() == algorithm) {
            self.hashers.push(Hasher::new(algorithm));
        }
    }

    /// Feeds body bytes, in order.
    pub fn update(&mut self, bytes: &[u8]) {
        for h in &mut self.hashers {
            h.update(bytes);
        }
    }

    /// Compares every announced checksum with the body's; `trailers` are the
    /// aws-chunked trailers, if the body had any. Returns every checksum
    /// computed, sorted by algorithm.
    pub fn verify(
        self,
        md5: &[u8; 16],
        trailers: Option<&HeaderMap>,
    ) -> Result<Vec<(ChecksumAlgorithm, Vec<u8>)>> {
        if let Some(expected) = self.content_md5
            && expected != *md5
        {
            return Err(Error::BadDigest(
                "The Content-MD5 you specified did not match what we received.".into(),
            ));
        }
        let mut computed: Vec<(ChecksumAlgorithm, Vec<u8>)> = self
            .hashers
            .into_iter()
            .map(|h| (h.algorithm(), h.finalize()))
            .collect();
        computed.sort();
        let value_of = |alg: ChecksumAlgorithm| {
            computed
                .iter()
                .find(|(a, _)| *a == alg)
                .map(|(_, v)| v.as_slice())
        };
        let mismatch = |alg: ChecksumAlgorithm| {
            Error::BadDigest(format!(
                "The {} you specified did not match the calculated checksum.",
                alg.name()
            ))
        };
        if let Some((alg, expected)) = &self.in_header
            && value_of(*alg) != Some(expected.as_slice())
        {
            return Err(mismatch(*alg));
        }
        if let Some(alg) = self.in_trailer {
            let sent = trailers
                .and_then(|t| t.get(alg.header()))
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the trailer {} announced in x-amz-trailer was not sent",
                        alg.header()
                    ))
                })?;
            let sent = parse_value(alg, sent).ok_or_else(|| invalid_value(alg))?;
            if value_of(alg) != Some(sent.as_slice()) {
                return Err(mismatch(alg));
            }
        }
        Ok(computed)
    }
}

/// The `Checksum*` fields of an S3 answer, base64.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChecksumFields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    /// `x-amz-checksum-type`, where the answer has it.
    pub kind: Option<s3s::dto::ChecksumType>,
}

impl ChecksumFields {
    /// Sets the field of `algorithm` to `value` (already in S3's text form).
    pub fn set(&mut self, algorithm: ChecksumAlgorithm, value: String) {
        let field = match algorithm {
            ChecksumAlgorithm::Crc32 => &mut self.crc32,
            ChecksumAlgorithm::Crc32c => &mut self.crc32c,
            ChecksumAlgorithm::Crc64Nvme => &mut self.crc64nvme,
            ChecksumAlgorithm::Sha1 => &mut self.sha1,
            ChecksumAlgorithm::Sha256 => &mut self.sha256,
        };
        *field = Some(value);
    }

    /// Sets the field of `algorithm` to the base64 of `digest`.
    pub fn add_digest(&mut self, algorithm: ChecksumAlgorithm, digest: &[u8]) {
        self.set(algorithm, b64(digest));
    }

    /// One digest, as a part's checksum.
    pub fn digest(algorithm: ChecksumAlgorithm, value: &[u8]) -> ChecksumFields {
        let mut f = ChecksumFields::default();
        f.add_digest(algorithm, value);
        f
    }

    /// An object's checksum as GET, HEAD and the upload answers report it:
    /// a COMPOSITE value carries the `-<parts>` suffix.
    pub fn object(c: &ObjectChecksum, parts_count: Option<u32>) -> ChecksumFields {
        let mut f = ChecksumFields::default();
        let value = match (c.kind, parts_count) {
            (ChecksumType::Composite, Some(n)) => format!("{}-{n}", b64(&c.value)),
            _ => b64(&c.value),
        };
        f.set(c.algorithm, value);
        f.kind = Some(s3_type(c.kind));
        f
    }

    /// The digests of one algorithm among `digests`, if there.
    pub fn pick(
        digests: &[(ChecksumAlgorithm, Vec<u8>)],
        algorithm: ChecksumAlgorithm,
    ) -> ChecksumFields {
        digests
            .iter()
            .find(|(a, _)| *a == algorithm)
            .map(|(a, v)| ChecksumFields::digest(*a, v))
            .unwrap_or_default()
    }
}

/// Moves [`ChecksumFields`] into an `s3s` DTO that has the five
/// `checksum_*` fields (and, with `type`, `checksum_type`).
macro_rules! set_checksum_fields {
    ($out:expr, $fields:expr) => {{
        let f: $crate::checksum::ChecksumFields = $fields;
        $out.checksum_crc32 = f.crc32;
        $out.checksum_crc32c = f.crc32c;
        $out.checksum_crc64nvme = f.crc64nvme;
        $out.checksum_sha1 = f.sha1;
        $out.checksum_sha256 = f.sha256;
    }};
    ($out:expr, $fields:expr, type) => {{
        let f: $crate::checksum::ChecksumFields = $fields;
        $out.checksum_type = f.kind.clone();
        $crate::checksum::set_checksum_fields!($out, f);
    }};
}
pub(crate) use set_checksum_fields;

/// S3's name of a checksum type.
pub fn s3_type(kind: ChecksumType) -> s3s::dto::ChecksumType {
    s3s::dto::ChecksumType::from_static(match kind {
        ChecksumType::FullObject => s3s::dto::ChecksumType::FULL_OBJECT,
        ChecksumType::Composite => s3s::dto::ChecksumType::COMPOSITE,
    })
}

/// A checksum algorithm named by a client (`x-amz-checksum-algorithm`,
/// `x-amz-sdk-checksum-algorithm`).
pub fn algorithm_of(a: &s3s::dto::ChecksumAlgorithm) -> Result<ChecksumAlgorithm> {
    ChecksumAlgorithm::from_name(a.as_str()).ok_or_else(|| {
        Error::InvalidRequest(format!(
            "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]: {}",
            a.as_str()
        ))
    })
}

/// A checksum type named by a client (`x-amz-checksum-type`).
pub fn type_of(t: &s3s::dto::ChecksumType) -> Result<ChecksumType> {
    ChecksumType::from_name(t.as_str()).ok_or_else(|| {
        Error::InvalidRequest(format!(
            "Value for x-amz-checksum-type header is invalid: {}",
            t.as_str()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn crc32_header_is_checked() {
        // CRC32 of "hello world" = 0x0d4a1185.
        let good = base64::engine::general_purpose::STANDARD.encode(0x0d4a_1185u32.to_be_bytes());
        let md5: [u8; 16] =
            md5::Digest::finalize(<md5::Md5 as md5::Digest>::new_with_prefix(b"hello world"))
                .into();
        let mut c = RequestChecksums::from_request(&headers(&[("x-amz-checksum-crc32", &good)]))
            .expect("parse");
        c.update(b"hello ");
        c.update(b"world");
        c.verify(&md5, None).expect("matches");

        let mut c = RequestChecksums::from_request(&headers(&[("x-amz-checksum-crc32", &good)]))
            .expect("parse");
        c.update(b"hello there");
        assert!(matches!(c.verify(&md5, None), Err(Error::BadDigest(_))));
    }

    #[test]
    fn trailer_checksums_are_checked() {
        for (alg, value) in [
            (
                "crc32c",
                base64::engine::general_purpose::STANDARD.encode(0xc99465aau32.to_be_bytes()),
            ),
            (
                "crc32",
                base64::engine::general_purpose::STANDARD.encode(0x0d4a_1185u32.to_be_bytes()),
            ),
        ] {
            let announce = format!("x-amz-checksum-{alg}");
            let fed = || {
                let mut c =
                    RequestChecksums::from_request(&headers(&[("x-amz-trailer", &announce)]))
                        .expect("parse");
                c.update(b"hello world");
                c
            };
            let name = http::HeaderName::from_bytes(announce.as_bytes()).expect("name");
            let mut trailers = HeaderMap::new();
            trailers.insert(name.clone(), value.parse().expect("value"));
            fed()
                .verify(&[0; 16], Some(&trailers))
                .expect("good trailer");
            trailers.insert(name, "AAAAAA==".parse().expect("value"));
            assert!(matches!(
                fed().verify(&[0; 16], Some(&trailers)),
                Err(Error::BadDigest(_))
            ));
            let c = fed();
            assert!(
                c.verify(&[0; 16], None).is_err(),
                "a missing announced trailer is an error"
            );
        }
    }

    #[test]
    fn one_flexible_checksum_per_request() {
        let crc = base64::engine::general_purpose::STANDARD.encode(0x0d4a_1185u32.to_be_bytes());
        let sha = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
        assert!(matches!(
            RequestChecksums::from_request(&headers(&[
                ("x-amz-checksum-crc32", &crc),
                ("x-amz-checksum-sha256", &sha),
            ])),
            Err(Error::InvalidRequest(_))
        ));
        // A value that is not base64 of the algorithm's length.
        for bad in ["%%%", "AAAA", &sha] {
            assert!(matches!(
                RequestChecksums::from_request(&headers(&[("x-amz-checksum-crc32", bad)])),
                Err(Error::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn verify_returns_every_computed_checksum() {
        let crc = base64::engine::general_purpose::STANDARD.encode(0x0d4a_1185u32.to_be_bytes());
        let mut c = RequestChecksums::from_request(&headers(&[("x-amz-checksum-crc32", &crc)]))
            .expect("parse");
        assert_eq!(c.announced(), Some(ChecksumAlgorithm::Crc32));
        c.compute(ChecksumAlgorithm::Crc64Nvme);
        c.compute(ChecksumAlgorithm::Crc32);
        c.update(b"hello world");
        let got = c.verify(&[0; 16], None).expect("matches");
        assert_eq!(
            got,
            vec![
                (
                    ChecksumAlgorithm::Crc32,
                    0x0d4a_1185u32.to_be_bytes().to_vec()
                ),
                (
                    ChecksumAlgorithm::Crc64Nvme,
                    shale_common::checksum::digest(ChecksumAlgorithm::Crc64Nvme, b"hello world")
                ),
            ]
        );
    }

    #[test]
    fn composite_values_carry_the_parts_count() {
        let c = ObjectChecksum {
            algorithm: ChecksumAlgorithm::Sha1,
            kind: ChecksumType::Composite,
            value: vec![0; 20],
            parts: vec![],
        };
        let f = ChecksumFields::object(&c, Some(3));
        assert_eq!(f.sha1.as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=-3"));
        assert_eq!(f.kind.as_ref().map(|k| k.as_str()), Some("COMPOSITE"));
        let full = ObjectChecksum {
            kind: ChecksumType::FullObject,
            ..c
        };
        assert_eq!(
            ChecksumFields::object(&full, Some(3)).sha1.as_deref(),
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        );
    }

    #[test]
    fn bad_content_md5_is_rejected() {
        assert!(matches!(
            RequestChecksums::from_request(&headers(&[("content-md5", "not base64!")])),
            Err(Error::InvalidDigest(_))
        ));
    }
}
