//! Key encoding of every column family, in one place.
//!
//! RocksDB orders keys by bytes, so the encodings are chosen for their order:
//! - `objects`: `[bucket.len() as u8][bucket][object key]`. The length byte
//!   makes a bucket's rows one contiguous range that no other bucket shares
//!   (bucket "a" cannot see "ab"), and inside it keys sort in UTF-8 byte order,
//!   which is S3's listing order.
//! - `uploads`: `[len][bucket][object key][0x00][upload id]`. 0x00 is the
//!   smallest byte, so all uploads of key `k` sort before those of any longer
//!   key starting with `k`; object keys of uploads must not contain NUL.
//! - `completed_uploads`: as `objects` (one record per object key).
//! - `versions`: `[len][bucket][escaped key][0x00 0x00][!order u64 BE]`.
//!   The key is escaped (0x00 → 0x00 0xFF) and ended by 0x00 0x00, which
//!   keeps keys in byte order whatever bytes they hold; the inverted order
//!   puts a key's newest version first.
//! - `null_versions`: as `objects` (the order of the key's null version,
//!   u64 BE, while that version is in `versions`).
//! - `parts`: `[upload id][0x00][part number u32 big-endian]`.
//! - `cluster`: node id u32 big-endian (sorted by id).
//! - `gc_queue`: `[time ms u64 BE][sequence u64 BE]` (oldest first).

use crate::types::MetaError;

/// Longest bucket name the encoding accepts (the length is one byte).
pub const MAX_BUCKET_LEN: usize = 255;

/// `[len][bucket]`: the prefix of every `objects` and `uploads` row of a bucket.
pub fn bucket_prefix(bucket: &str) -> Result<Vec<u8>, MetaError> {
    let len = u8::try_from(bucket.len())
        .ok()
        .filter(|l| *l > 0)
        .ok_or_else(|| {
            MetaError::InvalidArgument(format!("bucket name must be 1..={MAX_BUCKET_LEN} bytes"))
        })?;
    let mut k = Vec::with_capacity(1 + bucket.len());
    k.push(len);
    k.extend_from_slice(bucket.as_bytes());
    Ok(k)
}

/// `bucket_config` key of a bucket's configuration of `kind`:
/// `[len][bucket][kind name]`, so the bucket's prefix finds all its configs.
pub fn bucket_config_key(
    bucket: &str,
    kind: crate::types::BucketConfigKind,
) -> Result<Vec<u8>, MetaError> {
    let mut k = bucket_prefix(bucket)?;
    k.extend_from_slice(kind.name().as_bytes());
    Ok(k)
}

/// `objects` key of `(bucket, key)`; also the scan start for a key prefix.
pub fn object_key(bucket: &str, key: &str) -> Result<Vec<u8>, MetaError> {
    let mut k = bucket_prefix(bucket)?;
    k.extend_from_slice(key.as_bytes());
    Ok(k)
}

/// The object key of an `objects` row key of `bucket` (whose prefix is
/// `prefix_len` bytes long).
pub fn decode_object_key(raw: &[u8], prefix_len: usize) -> Result<String, MetaError> {
    let name = raw
        .get(prefix_len..)
        .ok_or_else(|| MetaError::Internal("objects key shorter than its prefix".into()))?;
    String::from_utf8(name.to_vec())
        .map_err(|_| MetaError::Internal("objects key is not UTF-8".into()))
}

/// `[len][bucket][escaped key]`: the start of every `versions` row of
/// keys starting with `key` (escaping keeps prefixes prefixes).
pub fn versions_prefix(bucket: &str, key: &str) -> Result<Vec<u8>, MetaError> {
    let mut k = bucket_prefix(bucket)?;
    for &b in key.as_bytes() {
        k.push(b);
        if b == 0 {
            k.push(0xFF);
        }
    }
    Ok(k)
}

/// `[len][bucket][escaped key][0x00 0x00]`: the prefix of every `versions`
/// row of exactly `key`.
pub fn key_versions_prefix(bucket: &str, key: &str) -> Result<Vec<u8>, MetaError> {
    let mut k = versions_prefix(bucket, key)?;
    k.extend_from_slice(&[0, 0]);
    Ok(k)
}

/// `versions` key of the version of order `order` of `key`.
pub fn version_key(bucket: &str, key: &str, order: u64) -> Result<Vec<u8>, MetaError> {
    let mut k = key_versions_prefix(bucket, key)?;
    k.extend_from_slice(&(!order).to_be_bytes());
    Ok(k)
}

/// The object key and the order of a `versions` row key of a bucket whose
/// prefix is `prefix_len` bytes long.
pub fn decode_version_key(raw: &[u8], prefix_len: usize) -> Result<(String, u64), MetaError> {
    let bad = || MetaError::Internal("corrupt versions key".into());
    let rest = raw.get(prefix_len..).ok_or_else(bad)?;
    let mut name = Vec::with_capacity(rest.len());
    let mut i = 0;
    loop {
        match (rest.get(i), rest.get(i + 1)) {
            (Some(0), Some(0)) => break,
            (Some(0), Some(0xFF)) => {
                name.push(0);
                i += 2;
            }
            (Some(&b), _) if b != 0 => {
                name.push(b);
                i += 1;
            }
            _ => return Err(bad()),
        }
    }
    let inv: [u8; 8] = rest
        .get(i + 2..)
        .and_then(|t| t.try_into().ok())
        .ok_or_else(bad)?;
    let name = String::from_utf8(name).map_err(|_| bad())?;
    Ok((name, !u64::from_be_bytes(inv)))
}

/// `uploads` key of one upload.
pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Result<Vec<u8>, MetaError> {
    let mut k = object_key(bucket, key)?;
    k.push(0);
    k.extend_from_slice(upload_id.as_bytes());
    Ok(k)
}

/// `[upload id][0x00]`: the prefix of every `parts` row of an upload.
pub fn parts_prefix(upload_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(upload_id.len() + 1);
    k.extend_from_slice(upload_id.as_bytes());
    k.push(0);
    k
}

/// `parts` key of one part.
pub fn part_key(upload_id: &str, number: u32) -> Vec<u8> {
    let mut k = parts_prefix(upload_id);
    k.extend_from_slice(&number.to_be_bytes());
    k
}

/// The part number of a `parts` row key.
pub fn decode_part_number(raw: &[u8]) -> Result<u32, MetaError> {
    let tail: [u8; 4] = raw
        .len()
        .checked_sub(4)
        .and_then(|i| raw[i..].try_into().ok())
        .ok_or_else(|| MetaError::Internal("parts key too short".into()))?;
    Ok(u32::from_be_bytes(tail))
}

/// `cluster` key of a node.
pub fn node_key(id: u32) -> [u8; 4] {
    id.to_be_bytes()
}

/// `gc_queue` key: oldest entries first, unique through `seq`.
pub fn gc_key(time_ms: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&time_ms.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The smallest key greater than every key starting with `prefix`, or `None`
/// when there is none (all bytes 0xFF). Used to seek past a whole common
/// prefix and as an exclusive iteration upper bound.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xFF {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// The smallest key strictly greater than `key` (used for exclusive starts).
pub fn key_successor(key: &[u8]) -> Vec<u8> {
    let mut s = key.to_vec();
    s.push(0);
    s
}

/// The common prefix `key` rolls up into: `prefix` up to and including the
/// first `delimiter` after `prefix`, if `key` starts with `prefix` and has
/// one. An empty delimiter rolls nothing up.
pub fn common_prefix<'a>(key: &'a str, prefix: &str, delimiter: &str) -> Option<&'a str> {
    if delimiter.is_empty() {
        return None;
    }
    let rest = key.strip_prefix(prefix)?;
    let at = rest.find(delimiter)?;
    Some(&key[..prefix.len() + at + delimiter.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
    }

    #[test]
    fn common_prefix_is_up_to_first_delimiter_after_prefix() {
        assert_eq!(common_prefix("a/b/c", "", "/"), Some("a/"));
        assert_eq!(common_prefix("a/b/c", "a/", "/"), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/b", "/"), None);
        assert_eq!(common_prefix("x/b", "a/", "/"), None);
        assert_eq!(common_prefix("a--b--c", "a", "--"), Some("a--"));
        assert_eq!(common_prefix("a/b", "", ""), None);
    }

    #[test]
    fn version_keys_sort_by_key_then_newest_first() {
        let names = ["a", "a\0", "a\0b", "a\u{1}", "ab", "b"];
        let mut all = Vec::new();
        for n in names {
            for order in [1u64, 7, u64::MAX >> 1] {
                all.push((version_key("bk", n, order).unwrap(), n, order));
            }
        }
        let mut sorted = all.clone();
        sorted.sort();
        let want: Vec<_> = names
            .iter()
            .flat_map(|n| [u64::MAX >> 1, 7, 1].map(|o| (*n, o)))
            .collect();
        let got: Vec<_> = sorted.iter().map(|(_, n, o)| (*n, *o)).collect();
        assert_eq!(got, want);
        for (raw, n, o) in &all {
            assert_eq!(decode_version_key(raw, 3).unwrap(), (n.to_string(), *o));
            let under_a = raw.starts_with(&versions_prefix("bk", "a").unwrap());
            assert_eq!(under_a, n.starts_with('a'));
            assert!(raw.starts_with(&key_versions_prefix("bk", n).unwrap()));
        }
        assert!(decode_version_key(&[2, b'b', b'k', b'a', 0, 0, 1], 3).is_err());
    }

    #[test]
    fn bucket_name_length_is_checked() {
        assert!(bucket_prefix("").is_err());
        assert!(bucket_prefix(&"x".repeat(256)).is_err());
        assert_eq!(bucket_prefix("ab").ok(), Some(vec![2, b'a', b'b']));
    }
}
