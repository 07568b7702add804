//! Verifying the checksums a client sends with a body.
//!
//! Current SDKs send a flexible checksum with every upload: in a header
//! (`x-amz-checksum-crc32: <base64>`) when the payload is signed, or in an
//! aws-chunked trailer announced by `x-amz-trailer` when it is streamed.
//! `s3s` parses both but checks neither, so the gateway computes every
//! announced checksum while the body streams through and compares them (and
//! Content-MD5) before the object is committed.

use base64::Engine as _;
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};

use crate::error::{Error, Result};

const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// The checksums announced for one request body, and their running hashes.
#[derive(Default)]
pub struct RequestChecksums {
    hasher: ChecksumHasher,
    /// (algorithm, expected base64 value) from headers.
    in_headers: Vec<(&'static str, String)>,
    /// Algorithms whose value arrives in a trailer.
    in_trailer: Vec<&'static str>,
    content_md5: Option<[u8; 16]>,
}

impl Clone for RequestChecksums {
    fn clone(&self) -> Self {
        let mut c = RequestChecksums {
            hasher: ChecksumHasher::default(),
            in_headers: self.in_headers.clone(),
            in_trailer: self.in_trailer.clone(),
            content_md5: self.content_md5,
        };
        for alg in self
            .in_headers
            .iter()
            .map(|(a, _)| *a)
            .chain(self.in_trailer.iter().copied())
        {
            c.enable(alg);
        }
        c
    }
}

impl RequestChecksums {
    /// Reads the announced checksums from the request headers.
    pub fn from_request(headers: &HeaderMap) -> Result<Self> {
        let mut c = RequestChecksums::default();
        for alg in ALGORITHMS {
            let name = format!("x-amz-checksum-{alg}");
            if let Some(v) = headers.get(name.as_str()) {
                let v = v
                    .to_str()
                    .map_err(|_| Error::InvalidDigest(format!("{name} is not valid text")))?;
                c.in_headers.push((alg, v.trim().to_owned()));
                c.enable(alg);
            }
        }
        for v in headers.get_all("x-amz-trailer") {
            let v = v
                .to_str()
                .map_err(|_| Error::InvalidArgument("x-amz-trailer is not valid text".into()))?;
            for name in v.split(',').map(|s| s.trim().to_ascii_lowercase()) {
                if let Some(alg) = name.strip_prefix("x-amz-checksum-")
                    && let Some(alg) = ALGORITHMS.iter().find(|a| **a == alg)
                {
                    c.in_trailer.push(alg);
                    c.enable(alg);
                }
            }
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

    fn enable(&mut self, alg: &str) {
        match alg {
            "crc32" => self.hasher.crc32 = Some(Crc32::new()),
            "crc32c" => self.hasher.crc32c = Some(Crc32c::new()),
            "crc64nvme" => self.hasher.crc64nvme = Some(Crc64Nvme::new()),
            "sha1" => self.hasher.sha1 = Some(Sha1::new()),
            "sha256" => self.hasher.sha256 = Some(Sha256::new()),
            _ => {}
        }
    }

    /// Feeds body bytes, in order.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// Compares every announced checksum with the body's; `trailers` are the
    /// aws-chunked trailers, if the body had any.
    pub fn verify(self, md5: &[u8; 16], trailers: Option<&HeaderMap>) -> Result<()> {
        if let Some(expected) = self.content_md5
            && expected != *md5
        {
            return Err(Error::BadDigest(
                "The Content-MD5 you specified did not match what we received.".into(),
            ));
        }
        let computed = self.hasher.finalize();
        let value_of = |alg: &str| -> Option<String> {
            match alg {
                "crc32" => computed.checksum_crc32.clone(),
                "crc32c" => computed.checksum_crc32c.clone(),
                "crc64nvme" => computed.checksum_crc64nvme.clone(),
                "sha1" => computed.checksum_sha1.clone(),
                "sha256" => computed.checksum_sha256.clone(),
                _ => None,
            }
        };
        for (alg, expected) in &self.in_headers {
            if value_of(alg).as_deref() != Some(expected.as_str()) {
                return Err(Error::BadDigest(format!(
                    "The {} you specified did not match the calculated checksum.",
                    alg.to_uppercase()
                )));
            }
        }
        for alg in &self.in_trailer {
            let name = format!("x-amz-checksum-{alg}");
            let sent = trailers
                .and_then(|t| t.get(name.as_str()))
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_owned())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the trailer {name} announced in x-amz-trailer was not sent"
                    ))
                })?;
            if value_of(alg).as_deref() != Some(sent.as_str()) {
                return Err(Error::BadDigest(format!(
                    "The {} you specified did not match the calculated checksum.",
                    alg.to_uppercase()
                )));
            }
        }
        Ok(())
    }
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
    fn bad_content_md5_is_rejected() {
        assert!(matches!(
            RequestChecksums::from_request(&headers(&[("content-md5", "not base64!")])),
            Err(Error::InvalidDigest(_))
        ));
    }
}
