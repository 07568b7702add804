//! One chunk on one disk: the chunk format in memory (encode = per-block
//! CRC32 + BLAKE3 trailer, parse = full verification), and the `ChunkStore`
//! on a temp dir (put = temp file, fsync, rename, fsync the directory; get of
//! the whole chunk checks every block's CRC and the BLAKE3 trailer, get of a
//! range checks only the blocks it touches).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shale_storage_node::chunk::{DEFAULT_BLOCK_SIZE, encode_chunk, parse_chunk_bytes};
use shale_storage_node::store::ChunkStore;

const MIB: usize = 1024 * 1024;
const RANGE: usize = 64 * 1024;

fn data(len: usize) -> Bytes {
    Bytes::from(
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn bench_format(c: &mut Criterion) {
    let data = data(MIB);
    let mut group = c.benchmark_group("chunk_format");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("encode_1MiB", |b| {
        b.iter(|| {
            encode_chunk("bench-chunk", DEFAULT_BLOCK_SIZE, black_box(&data)).expect("encode")
        })
    });
    let encoded = encode_chunk("bench-chunk", DEFAULT_BLOCK_SIZE, &data).expect("encode");
    group.bench_function("parse_1MiB", |b| {
        b.iter(|| parse_chunk_bytes(black_box(&encoded)).expect("parse"))
    });
    group.finish();
}

fn bench_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        ChunkStore::open(vec![dir.path().to_path_buf()], DEFAULT_BLOCK_SIZE).expect("open store");
    let data = data(MIB);
    let mut group = c.benchmark_group("chunk_store");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));

    group.throughput(Throughput::Bytes(MIB as u64));
    // A new id each time: a PUT of a new object creates new chunks.
    let mut n = 0u64;
    group.bench_function("put_1MiB_fsync", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(store.put(&format!("put-{n}"), data.clone()))
                .expect("put")
        })
    });

    rt.block_on(store.put("get", data.clone())).expect("put");
    group.bench_function("get_1MiB", |b| {
        b.iter(|| rt.block_on(store.get("get", 0, MIB as u64)).expect("get"))
    });
    group.throughput(Throughput::Bytes(RANGE as u64));
    // Straddles two blocks, as an unaligned client range does.
    let offset = (MIB / 2 - RANGE / 2) as u64;
    group.bench_function("get_64KiB_range", |b| {
        b.iter(|| {
            rt.block_on(store.get("get", offset, RANGE as u64))
                .expect("get range")
        })
    });
    group.finish();
}

criterion_group!(benches, bench_format, bench_store);
criterion_main!(benches);
