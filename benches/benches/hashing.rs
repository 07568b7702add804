//! The hashes on the data path over one 4 MiB buffer (the default segment
//! size): MD5 (the ETag, computed on every PUT), BLAKE3 (each chunk's
//! trailer), CRC32 (each block of a chunk), and the flexible checksums a
//! client may announce (CRC32C, CRC64NVME, SHA-256).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use md5::Digest as _;
use shale_datapath::md5x;

fn bench_hashing(c: &mut Criterion) {
    let buf: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut group = c.benchmark_group("hash_4MiB");
    group.throughput(Throughput::Bytes(buf.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));

    group.bench_function("md5", |b| b.iter(|| md5::Md5::digest(black_box(&buf))));
    group.bench_function("blake3", |b| b.iter(|| blake3::hash(black_box(&buf))));
    group.bench_function("crc32", |b| b.iter(|| crc32fast::hash(black_box(&buf))));
    group.bench_function("crc32c", |b| {
        b.iter(|| crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, black_box(&buf)))
    });
    group.bench_function("crc64nvme", |b| {
        b.iter(|| crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, black_box(&buf)))
    });
    group.bench_function("sha256", |b| {
        b.iter(|| sha2::Sha256::digest(black_box(&buf)))
    });
    group.finish();

    // MD5 of 16 independent 4 MiB bodies: one after the other with the
    // scalar code, and side by side in the 16 AVX-512 lanes of
    // `md5x::compress_lanes` (what the gateway does for concurrent PUTs).
    let bodies: Vec<Vec<u8>> = (0..16u8)
        .map(|i| buf.iter().map(|b| b ^ i).collect())
        .collect();
    let mut group = c.benchmark_group("md5_16x4MiB");
    group.throughput(Throughput::Bytes(16 * buf.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("scalar", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(md5::Md5::digest(black_box(body)));
            }
        })
    });
    group.bench_function("lanes", |b| {
        let inputs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        b.iter(|| {
            let mut states = [md5x::INIT; md5x::LANES];
            md5x::compress_lanes(&mut states, black_box(&inputs), buf.len() / 64);
            black_box(states)
        })
    });
    group.finish();

    // Four streams (four concurrent large PUTs): the 8-lane kernel, half
    // full, against four scalar MD5s.
    let mut group = c.benchmark_group("md5_4x4MiB");
    group.throughput(Throughput::Bytes(4 * buf.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("scalar", |b| {
        b.iter(|| {
            for body in &bodies[..4] {
                black_box(md5::Md5::digest(black_box(body)));
            }
        })
    });
    group.bench_function("lanes", |b| {
        let inputs: Vec<&[u8]> = bodies[..4].iter().map(Vec::as_slice).collect();
        b.iter(|| {
            let mut states = [md5x::INIT; md5x::LANES];
            md5x::compress_lanes(&mut states, black_box(&inputs), buf.len() / 64);
            black_box(states)
        })
    });
    // Nine streams take the 16-lane kernel: as many rounds as four in the
    // 8-lane one, so the times compare the cost of a round.
    group.bench_function("lanes_in_16", |b| {
        let inputs: Vec<&[u8]> = bodies[..9].iter().map(Vec::as_slice).collect();
        b.iter(|| {
            let mut states = [md5x::INIT; md5x::LANES];
            md5x::compress_lanes(&mut states, black_box(&inputs), buf.len() / 64);
            black_box(states)
        })
    });
    group.finish();
}

/// What the cluster credential costs one internal request: the client's
/// signature (with the body's BLAKE3), and the server's check (parse, MAC,
/// time, replay guard) and the body's hash, for a metadata RPC's small body
/// and a 1 MiB chunk.
fn bench_cluster_auth(c: &mut Criterion) {
    use shale_common::cluster_auth::ClusterAuth;
    let client = ClusterAuth::ephemeral("bench");
    let server = client.clone();
    let mut group = c.benchmark_group("cluster_auth");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (name, len) in [("rpc_200B", 200usize), ("chunk_1MiB", 1 << 20)] {
        let body = vec![7u8; len];
        let signed = || {
            let mut req = http::Request::post("http://127.0.0.1:7100/rpc")
                .body(())
                .expect("request");
            client.sign_request(&mut req, &blake3::hash(black_box(&body)));
            req
        };
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("sign_{name}"), |b| b.iter(signed));
        group.bench_function(format!("sign_and_verify_{name}"), |b| {
            b.iter(|| {
                let (parts, ()) = signed().into_parts();
                let claim = server.verify(&parts, None).expect("signed");
                claim.check_body(black_box(&body)).expect("same body");
            })
        });
    }
    group.finish();
}

/// What sealing access-key secrets at rest costs: one seal when a key is
/// stored, one open each time a gateway fetches a key (a 40-byte secret).
fn bench_sealing(c: &mut Criterion) {
    use shale_common::sealing::{SealingKey, SealingKeys};
    let keys = SealingKeys::one(SealingKey::generate());
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let sealed = keys.seal(secret, "AKIAIOSFODNN7EXAMPLE");
    let mut group = c.benchmark_group("sealing");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(1));
    group.bench_function("seal_40B", |b| {
        b.iter(|| keys.seal(black_box(secret), "AKIAIOSFODNN7EXAMPLE"))
    });
    group.bench_function("open_40B", |b| {
        b.iter(|| {
            keys.open(black_box(&sealed), "AKIAIOSFODNN7EXAMPLE")
                .expect("opens")
        })
    });
    group.finish();
}

/// What server-side encryption costs per byte and per object: sealing a
/// part into segments of sealed blocks (PUT), opening a range of it (GET),
/// and sealing or opening an object's key under the master key.
fn bench_sse(c: &mut Criterion) {
    use bytes::Bytes;
    use shale_common::sealing::{KeyKind, SealingKey, SealingKeys};
    use shale_common::sse::{BlockOpener, ObjectKey, ReadPlan, SegmentSealer};
    let key = ObjectKey::generate();
    let mut group = c.benchmark_group("sse");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (name, len) in [("1MiB", 1usize << 20), ("4KiB", 4096)] {
        let plain = vec![0x5au8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("seal_{name}"), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                let mut s = SegmentSealer::new(&key, 1, 64, Some(len as u64));
                s.push(black_box(&plain), &mut out);
                s.finish(&mut out);
                out
            })
        });
        let mut sealed = Vec::new();
        let mut s = SegmentSealer::new(&key, 1, 64, Some(len as u64));
        s.push(&plain, &mut sealed);
        s.finish(&mut sealed);
        let stored = Bytes::from(sealed.concat());
        let plan = ReadPlan::new(len as u64, 0, len as u64);
        group.bench_function(format!("open_{name}"), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                let mut o = BlockOpener::new(&key, 1, len as u64, &plan);
                // A shared piece, as the network's: one copy, then opened.
                o.push(black_box(stored.clone()), &mut out).expect("opens");
                out
            })
        });
    }
    let master = SealingKeys::one(SealingKey::generate_kind(KeyKind::Master));
    let sealed_key = master.seal_bytes(key.as_bytes(), "ctx");
    group.throughput(Throughput::Elements(1));
    group.bench_function("object_key_seal", |b| {
        b.iter(|| master.seal_bytes(black_box(key.as_bytes()), "ctx"))
    });
    group.bench_function("object_key_open", |b| {
        b.iter(|| {
            master
                .open_bytes(black_box(&sealed_key), "ctx")
                .expect("opens")
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_hashing,
    bench_cluster_auth,
    bench_sealing,
    bench_sse
);
criterion_main!(benches);
