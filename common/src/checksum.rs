//! S3's flexible checksums: the algorithms, a running digest of each, and the
//! math that gives a multipart object its checksum from its parts' checksums.
//!
//! An S3 object's checksum has an algorithm and a type
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity-upload.html>):
//! - `FULL_OBJECT`: the checksum of the object's bytes. For a multipart
//!   object this is possible with the CRCs only (CRC32, CRC32C, CRC64NVME):
//!   a CRC of `A || B` follows from the CRCs of `A` and `B` and the length of
//!   `B`, so the parts' CRCs combine into the whole object's without reading
//!   a byte again ([`combine`]).
//! - `COMPOSITE` (multipart only; CRC32, CRC32C, SHA1, SHA256): the checksum
//!   of the concatenated binary checksums of the parts, which S3 reports
//!   with a `-<number of parts>` suffix ([`composite`]).
//!
//! Values are binary digests; CRCs are big-endian, as S3 base64-encodes them.
//! `crc-fast` computes the CRCs (SIMD, and it can combine CRCs), `sha1` and
//! `sha2` the SHAs: the same crates `s3s` uses, so no new code is linked in.

use serde::{Deserialize, Serialize};
use sha1::Digest as _;

/// A checksum algorithm S3 accepts in `x-amz-checksum-*`.
///
/// Stored in metadata rows by variant index (postcard): add variants at the
/// end only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC, as zlib).
    Crc32,
    /// CRC-32C (Castagnoli, iSCSI).
    Crc32c,
    /// CRC-64/NVME, S3's default.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

/// Whether an object's checksum covers its bytes or its parts' checksums.
///
/// Stored in metadata rows by variant index (postcard): add variants at the
/// end only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumType {
    /// `FULL_OBJECT`: the checksum of every byte of the object.
    FullObject,
    /// `COMPOSITE`: the checksum of the parts' checksums (multipart only).
    Composite,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in the order S3's documentation lists them.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The name S3 uses in `x-amz-checksum-algorithm` (`CRC32`, …).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header that carries a value of this algorithm
    /// (`x-amz-checksum-crc32`, …).
    pub fn header(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm named `name`, in any case (`crc32`, `CRC32`).
    pub fn from_name(name: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Bytes in a digest of this algorithm.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// The `crc-fast` parameters of a CRC algorithm; `None` for the SHAs.
    fn crc(self) -> Option<crc_fast::CrcAlgorithm> {
        match self {
            ChecksumAlgorithm::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgorithm::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgorithm::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
        }
    }

    /// Whether a multipart upload may use this algorithm with `kind`: the
    /// CRCs can be FULL_OBJECT, all but CRC64NVME can be COMPOSITE.
    pub fn supports(self, kind: ChecksumType) -> bool {
        match kind {
            ChecksumType::FullObject => self.crc().is_some(),
            ChecksumType::Composite => self != ChecksumAlgorithm::Crc64Nvme,
        }
    }

    /// The type a multipart upload gets when it names only the algorithm:
    /// FULL_OBJECT for CRC64NVME (its only type), COMPOSITE for the others.
    pub fn default_type(self) -> ChecksumType {
        if self == ChecksumAlgorithm::Crc64Nvme {
            ChecksumType::FullObject
        } else {
            ChecksumType::Composite
        }
    }
}

impl ChecksumType {
    /// The name S3 uses in `x-amz-checksum-type`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }

    /// The type named `name`, in any case.
    pub fn from_name(name: &str) -> Option<ChecksumType> {
        [ChecksumType::FullObject, ChecksumType::Composite]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// A running digest of one algorithm.
pub struct Hasher {
    algorithm: ChecksumAlgorithm,
    state: State,
}

enum State {
    Crc(crc_fast::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// A digest of nothing yet.
    pub fn new(algorithm: ChecksumAlgorithm) -> Hasher {
        let state = match (algorithm.crc(), algorithm) {
            (Some(crc), _) => State::Crc(crc_fast::Digest::new(crc)),
            (None, ChecksumAlgorithm::Sha1) => State::Sha1(sha1::Sha1::new()),
            (None, _) => State::Sha256(sha2::Sha256::new()),
        };
        Hasher { algorithm, state }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// Feeds bytes, in order.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Crc(d) => d.update(bytes),
            State::Sha1(h) => h.update(bytes),
            State::Sha256(h) => h.update(bytes),
        }
    }

    /// The binary digest of every byte fed.
    pub fn finalize(self) -> Vec<u8> {
        match self.state {
            State::Crc(d) => crc_bytes(self.algorithm, d.finalize()),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// A CRC value as S3 encodes it: big-endian, 4 or 8 bytes.
fn crc_bytes(algorithm: ChecksumAlgorithm, value: u64) -> Vec<u8> {
    if algorithm.digest_len() == 4 {
        (value as u32).to_be_bytes().to_vec()
    } else {
        value.to_be_bytes().to_vec()
    }
}

/// The CRC value of a big-endian digest of `algorithm`, if it has the length
/// of one.
fn crc_value(algorithm: ChecksumAlgorithm, digest: &[u8]) -> Option<u64> {
    match digest.len() {
        4 if algorithm.digest_len() == 4 => {
            Some(u64::from(u32::from_be_bytes(digest.try_into().ok()?)))
        }
        8 if algorithm.digest_len() == 8 => Some(u64::from_be_bytes(digest.try_into().ok()?)),
        _ => None,
    }
}

/// The digest of `bytes`.
pub fn digest(algorithm: ChecksumAlgorithm, bytes: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(algorithm);
    h.update(bytes);
    h.finalize()
}

/// A COMPOSITE checksum: the digest of the parts' binary digests, in part
/// order. S3 reports it followed by `-<number of parts>`.
pub fn composite<'a>(
    algorithm: ChecksumAlgorithm,
    parts: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut h = Hasher::new(algorithm);
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// A FULL_OBJECT CRC of the concatenation of parts, from each part's CRC and
/// length, in part order; `None` for a SHA, for no parts, or when a digest
/// has the wrong length.
pub fn combine<'a>(
    algorithm: ChecksumAlgorithm,
    parts: impl IntoIterator<Item = (&'a [u8], u64)>,
) -> Option<Vec<u8>> {
    let crc = algorithm.crc()?;
    let mut acc: Option<u64> = None;
    for (digest, len) in parts {
        let value = crc_value(algorithm, digest)?;
        acc = Some(match acc {
            None => value,
            Some(a) => crc_fast::checksum_combine(crc, a, value, len),
        });
    }
    acc.map(|v| crc_bytes(algorithm, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // The check values of the CRC catalogue, and the SHA test vectors.
        let check = b"123456789";
        assert_eq!(
            digest(ChecksumAlgorithm::Crc32, check),
            0xcbf4_3926u32.to_be_bytes()
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Crc32c, check),
            0xe306_9283u32.to_be_bytes()
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Crc64Nvme, check),
            0xae8b_1486_0a79_9888u64.to_be_bytes()
        );
        assert_eq!(
            hex::encode(digest(ChecksumAlgorithm::Sha1, b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(digest(ChecksumAlgorithm::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(digest(a, b"").len(), a.digest_len());
            assert_eq!(
                ChecksumAlgorithm::from_name(&a.name().to_lowercase()),
                Some(a)
            );
        }
    }

    #[test]
    fn composite_is_the_digest_of_the_part_digests() {
        let parts: [&[u8]; 3] = [b"first part", b"second", b""];
        for a in ChecksumAlgorithm::ALL {
            let digests: Vec<Vec<u8>> = parts.iter().map(|p| digest(a, p)).collect();
            let mut concatenated = Vec::new();
            for d in &digests {
                concatenated.extend_from_slice(d);
            }
            assert_eq!(
                composite(a, digests.iter().map(Vec::as_slice)),
                digest(a, &concatenated),
                "{a:?}"
            );
        }
        // SHA256 of the single part digest, spelled out.
        let one = digest(ChecksumAlgorithm::Sha256, b"x");
        assert_eq!(
            composite(ChecksumAlgorithm::Sha256, [one.as_slice()]),
            digest(ChecksumAlgorithm::Sha256, &one)
        );
    }

    #[test]
    fn shas_do_not_combine() {
        let d = digest(ChecksumAlgorithm::Sha256, b"x");
        assert_eq!(
            combine(ChecksumAlgorithm::Sha256, [(d.as_slice(), 1)]),
            None
        );
        assert_eq!(combine(ChecksumAlgorithm::Crc32, []), None);
        // A digest of the wrong length is refused, not misread.
        let long = digest(ChecksumAlgorithm::Crc64Nvme, b"x");
        assert_eq!(
            combine(ChecksumAlgorithm::Crc32, [(long.as_slice(), 1)]),
            None
        );
    }

    proptest! {
        #[test]
        fn combined_crcs_equal_the_crc_of_the_whole(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6)
        ) {
            let whole: Vec<u8> = parts.concat();
            for a in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme] {
                let digests: Vec<(Vec<u8>, u64)> =
                    parts.iter().map(|p| (digest(a, p), p.len() as u64)).collect();
                let combined = combine(a, digests.iter().map(|(d, n)| (d.as_slice(), *n)));
                prop_assert_eq!(combined, Some(digest(a, &whole)), "{:?}", a);
            }
        }
    }

    #[test]
    fn combining_large_parts() {
        // Parts of the sizes multipart uploads have (5 MiB and more).
        let a: Vec<u8> = (0..5 * 1024 * 1024 + 7)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let b: Vec<u8> = (0..3 * 1024 * 1024 + 1)
            .map(|i| (i * 17 % 253) as u8)
            .collect();
        let whole = [a.as_slice(), b.as_slice()].concat();
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let (da, db) = (digest(alg, &a), digest(alg, &b));
            assert_eq!(
                combine(
                    alg,
                    [
                        (da.as_slice(), a.len() as u64),
                        (db.as_slice(), b.len() as u64)
                    ]
                ),
                Some(digest(alg, &whole))
            );
        }
    }
}
