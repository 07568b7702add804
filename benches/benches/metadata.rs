//! The metadata catalogue (`MetaStore`, RocksDB in a temp dir): PUT of an
//! object row holding a 4 KiB body inline (one synced WriteBatch, as for a
//! small object), GET of such a row, and one ListObjectsV2 page of 1000 keys
//! in a bucket of 10,000.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shale_benches::inline_row;
use shale_metadata::MetaStore;

const BUCKET: &str = "bench";
const LISTED: u64 = 10_000;
const PAGE: u32 = 1000;

fn bench_metadata(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = MetaStore::open(dir.path()).expect("open");
    store.create_bucket(BUCKET, "us-east-1").expect("bucket");
    let body = vec![7u8; 4096];
    let mut group = c.benchmark_group("metadata");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));

    group.throughput(Throughput::Elements(1));
    // A new key each time: a PUT of a new object, no row replaced.
    let mut n = 0u64;
    group.bench_function("put_inline_4KiB_synced", |b| {
        b.iter(|| {
            n += 1;
            store
                .put_object(
                    BUCKET,
                    &format!("put/{n:09}"),
                    inline_row(&body),
                    false,
                    None,
                )
                .expect("put")
        })
    });

    // Every write is synced; eight writers let RocksDB group-commit them.
    std::thread::scope(|s| {
        for t in 0..8 {
            let (store, body) = (&store, &body);
            s.spawn(move || {
                for i in (t..LISTED).step_by(8) {
                    store
                        .put_object(
                            BUCKET,
                            &format!("list/{i:09}"),
                            inline_row(body),
                            false,
                            None,
                        )
                        .expect("populate");
                }
            });
        }
    });
    let mut i = 0u64;
    group.bench_function("get_inline_4KiB", |b| {
        b.iter(|| {
            i = (i + 7919) % LISTED;
            store
                .get_object(BUCKET, black_box(&format!("list/{i:09}")))
                .expect("get")
        })
    });

    group.throughput(Throughput::Elements(u64::from(PAGE)));
    group.bench_function("list_page_1000_of_10000", |b| {
        b.iter(|| {
            let page = store
                .list_objects(BUCKET, "list/", None, Some("list/000004000"), PAGE)
                .expect("list");
            assert_eq!(page.objects.len(), PAGE as usize);
            page
        })
    });
    group.finish();
}

criterion_group!(benches, bench_metadata);
criterion_main!(benches);
