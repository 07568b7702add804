//! The PUT and GET data path against six real storage nodes on loopback
//! (fsync'd chunk files in a temp dir): a 16 MiB body written as 4 segments
//! of 4+2 chunks, read back whole, and read back with two nodes' chunks lost.

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use shale_datapath::datapath::WriteTarget;

fn target(prefix: &str, size: usize) -> WriteTarget<'_> {
    WriteTarget {
        chunk_prefix: prefix,
        part_number: 1,
        allow_inline: false,
        expected_len: Some(size as u64),
        key: None,
    }
}

/// Reads a whole object through the data path; the bytes received.
async fn read_all(
    cluster: &shale_benches::Cluster,
    parts: &[shale_common::PartLayout],
    size: usize,
) -> usize {
    let mut s = cluster
        .data
        .read_range(parts, 0, size as u64)
        .await
        .expect("get");
    let mut got = 0usize;
    while let Some(piece) = s.next().await {
        got += piece.expect("piece").len();
    }
    got
}

fn bench_datapath(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cluster = rt.block_on(shale_benches::start_cluster(6));
    let size = 16 * 1024 * 1024;
    let body = Bytes::from(
        (0..size as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect::<Vec<u8>>(),
    );
    let mut group = c.benchmark_group("datapath_4+2");
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(10);

    let mut n = 0u64;
    group.bench_function("put_16MiB", |b| {
        b.iter(|| {
            n += 1;
            let pieces: Vec<Result<Bytes, shale_datapath::Error>> = (0..size)
                .step_by(64 * 1024)
                .map(|o| Ok(body.slice(o..o + 64 * 1024)))
                .collect();
            rt.block_on(cluster.data.write_body(
                futures::stream::iter(pieces),
                target(&format!("bench{n}"), size),
                |_| {},
            ))
            .expect("put")
        })
    });

    let pieces: Vec<Result<Bytes, shale_datapath::Error>> = vec![Ok(body.clone())];
    let written = rt
        .block_on(cluster.data.write_body(
            futures::stream::iter(pieces),
            target("benchget", size),
            |_| {},
        ))
        .expect("put");
    let parts = vec![written.part];
    group.bench_function("get_16MiB", |b| {
        b.iter(|| {
            let got = rt.block_on(read_all(&cluster, &parts, size));
            assert_eq!(got, size);
        })
    });

    // Two data shards of every segment marked lost: every read rebuilds from parity.
    let mut degraded = parts.clone();
    for seg in &mut degraded[0].segments {
        seg.chunks[0].durable = false;
        seg.chunks[1].durable = false;
    }
    group.bench_function("get_16MiB_degraded", |b| {
        b.iter(|| {
            let got = rt.block_on(read_all(&cluster, &degraded, size));
            assert_eq!(got, size);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_datapath);
criterion_main!(benches);
