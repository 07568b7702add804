//! Erasure coding of one 4 MiB segment, 4+2: encode, and rebuild with two
//! shards lost (the worst case a 4+2 read survives).

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use shale_common::Coding;
use shale_datapath::ec::Codec;

fn bench_ec(c: &mut Criterion) {
    let codec = Codec::new(Coding::default()).expect("codec");
    let segment = Bytes::from(
        (0..4 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    );
    let mut group = c.benchmark_group("ec_4+2");
    group.throughput(Throughput::Bytes(segment.len() as u64));
    group.bench_function("encode_4MiB", |b| {
        b.iter(|| codec.encode(&segment).expect("encode"))
    });
    let shards = codec.encode(&segment).expect("encode");
    group.bench_function("rebuild_2_lost_4MiB", |b| {
        b.iter_batched(
            // Shards as they come off the network: uniquely owned buffers.
            || {
                let mut partial: Vec<Option<Bytes>> = shards
                    .iter()
                    .map(|s| Some(Bytes::copy_from_slice(s)))
                    .collect();
                partial[0] = None;
                partial[3] = None;
                partial
            },
            |partial| codec.reconstruct_data(partial).expect("rebuild"),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_ec);
criterion_main!(benches);
