//! Erasure coding of segments into shards (reed-solomon-erasure, GF(2^8)).
//!
//! A segment of `n` bytes becomes `k` data shards of `ceil(n / k)` bytes (the
//! last zero-padded) and `m` parity shards of the same size. Any `k` of the
//! `k + m` shards give the segment back; a byte range of the segment maps to
//! the same byte range in every shard, so a range can be rebuilt without
//! reading whole shards.

use bytes::{Bytes, BytesMut};
use reed_solomon_erasure::galois_8::ReedSolomon;
use shale_common::Coding;

use crate::error::{Error, Result};

/// An encoder/decoder for one `k + m` coding.
pub struct Codec {
    coding: Coding,
    rs: ReedSolomon,
}

impl Codec {
    /// A codec for `coding`; fails when `k` or `m` is zero or `k + m > 255`.
    pub fn new(coding: Coding) -> Result<Self> {
        let rs = ReedSolomon::new(coding.k as usize, coding.m as usize)
            .map_err(|e| Error::Internal(format!("invalid coding {coding:?}: {e:?}")))?;
        Ok(Codec { coding, rs })
    }

    /// The coding this codec implements.
    pub fn coding(&self) -> Coding {
        self.coding
    }

    /// Bytes per shard for a segment of `segment_len` bytes.
    pub fn shard_size(&self, segment_len: usize) -> usize {
        segment_len.div_ceil(self.coding.k as usize)
    }

    /// Encodes one segment into `k + m` shards, data shards first. The data
    /// shards are slices of `segment` (no copy) except a zero-padded last one
    /// when the segment does not divide evenly; only parity is allocated.
    pub fn encode(&self, segment: &Bytes) -> Result<Vec<Bytes>> {
        let k = self.coding.k as usize;
        let m = self.coding.m as usize;
        let shard_size = self.shard_size(segment.len());
        let data: Vec<Bytes> = (0..k)
            .map(|i| {
                let start = (i * shard_size).min(segment.len());
                let end = ((i + 1) * shard_size).min(segment.len());
                if end - start == shard_size {
                    segment.slice(start..end)
                } else {
                    let mut padded = BytesMut::zeroed(shard_size);
                    padded[..end - start].copy_from_slice(&segment[start..end]);
                    padded.freeze()
                }
            })
            .collect();
        let mut parity: Vec<BytesMut> = (0..m).map(|_| BytesMut::zeroed(shard_size)).collect();
        if shard_size > 0 {
            self.rs
                .encode_sep(&data, &mut parity)
                .map_err(|e| Error::Internal(format!("encode: {e:?}")))?;
        }
        Ok(data
            .into_iter()
            .chain(parity.into_iter().map(BytesMut::freeze))
            .collect())
    }

    /// Rebuilds the data shards from any `k` present shards (all of equal
    /// length); returns the `k` data shards in order. Shards read from the
    /// network are uniquely owned, so they are reused without a copy.
    pub fn reconstruct_data(&self, shards: Vec<Option<Bytes>>) -> Result<Vec<Bytes>> {
        self.rebuild(shards, false)
    }

    /// Rebuilds every missing shard, data and parity, from any `k` present
    /// shards (all of equal length); returns all `k + m` in order (the
    /// healer's tool: a lost parity chunk needs rebuilding too).
    pub fn reconstruct_all(&self, shards: Vec<Option<Bytes>>) -> Result<Vec<Bytes>> {
        self.rebuild(shards, true)
    }

    fn rebuild(&self, shards: Vec<Option<Bytes>>, parity_too: bool) -> Result<Vec<Bytes>> {
        let k = self.coding.k as usize;
        let present = shards.iter().filter(|s| s.is_some()).count();
        if present < k {
            return Err(Error::Unrecoverable(format!(
                "{present} of {} shards readable, {k} needed",
                shards.len()
            )));
        }
        let mut owned: Vec<Option<BytesMut>> = shards
            .into_iter()
            .map(|s| s.map(|b| b.try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..]))))
            .collect();
        let rebuilt = if parity_too {
            self.rs.reconstruct(&mut owned)
        } else {
            self.rs.reconstruct_data(&mut owned)
        };
        rebuilt.map_err(|e| Error::Unrecoverable(format!("reconstruct: {e:?}")))?;
        let wanted = if parity_too { owned.len() } else { k };
        owned
            .into_iter()
            .take(wanted)
            .map(|s| {
                s.map(BytesMut::freeze)
                    .ok_or_else(|| Error::Internal("shard missing after reconstruction".into()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn join_data(codec: &Codec, shards: &[Bytes], len: usize) -> Vec<u8> {
        let k = codec.coding().k as usize;
        let mut out: Vec<u8> = shards[..k].iter().flat_map(|s| s.iter().copied()).collect();
        out.truncate(len);
        out
    }

    #[test]
    fn every_shard_is_rebuilt_from_any_four() {
        let codec = Codec::new(Coding::default()).expect("codec");
        let segment = Bytes::from((0..10_000u32).map(|i| (i * 7) as u8).collect::<Vec<_>>());
        let shards = codec.encode(&segment).expect("encode");
        for lost in [[0, 1], [4, 5], [1, 4], [2, 3]] {
            let mut partial: Vec<Option<Bytes>> = shards.iter().cloned().map(Some).collect();
            for i in lost {
                partial[i] = None;
            }
            assert_eq!(codec.reconstruct_all(partial).expect("rebuild"), shards);
        }
        let mut three: Vec<Option<Bytes>> = shards.iter().cloned().map(Some).collect();
        three[0] = None;
        three[2] = None;
        three[5] = None;
        assert!(matches!(
            codec.reconstruct_all(three),
            Err(Error::Unrecoverable(_))
        ));
    }

    #[test]
    fn empty_segment_has_empty_shards() {
        let codec = Codec::new(Coding::default()).expect("codec");
        let shards = codec.encode(&Bytes::new()).expect("encode");
        assert_eq!(shards.len(), 6);
        assert!(shards.iter().all(|s| s.is_empty()));
    }

    proptest! {
        #[test]
        fn any_two_losses_are_recovered(data in proptest::collection::vec(any::<u8>(), 1..20_000), a in 0usize..6, b in 0usize..6) {
            let codec = Codec::new(Coding::default()).expect("codec");
            let shards = codec.encode(&Bytes::from(data.clone())).expect("encode");
            prop_assert_eq!(join_data(&codec, &shards, data.len()), data.clone());
            let mut partial: Vec<Option<Bytes>> = shards.iter().cloned().map(Some).collect();
            partial[a] = None;
            partial[b] = None;
            let rebuilt = codec.reconstruct_data(partial).expect("reconstruct");
            prop_assert_eq!(join_data(&codec, &rebuilt, data.len()), data);
        }

        #[test]
        fn a_sub_range_of_every_shard_rebuilds_that_range(data in proptest::collection::vec(any::<u8>(), 64..5_000), lo in 0usize..16, len in 1usize..16, lost in 0usize..4) {
            let codec = Codec::new(Coding::default()).expect("codec");
            let shards = codec.encode(&Bytes::from(data.clone())).expect("encode");
            let size = shards[0].len();
            let lo = lo.min(size - 1);
            let hi = (lo + len).min(size);
            let mut partial: Vec<Option<Bytes>> = shards.iter().map(|s| Some(s.slice(lo..hi))).collect();
            partial[lost] = None;
            let rebuilt = codec.reconstruct_data(partial).expect("reconstruct");
            prop_assert_eq!(&rebuilt[lost][..], &shards[lost][lo..hi]);
        }
    }

    #[test]
    fn three_losses_are_an_error_not_wrong_bytes() {
        let codec = Codec::new(Coding::default()).expect("codec");
        let shards = codec
            .encode(&Bytes::from_static(b"hello world, erasure coded"))
            .expect("encode");
        let mut partial: Vec<Option<Bytes>> = shards.into_iter().map(Some).collect();
        partial[0] = None;
        partial[1] = None;
        partial[5] = None;
        assert!(matches!(
            codec.reconstruct_data(partial),
            Err(Error::Unrecoverable(_))
        ));
    }
}
