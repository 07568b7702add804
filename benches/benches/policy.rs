//! What a bucket policy costs the access check of one request: building the
//! request's condition keys (`bucket_access::context`), and evaluating the
//! 20-statement policy `benches/policy-ab` sets (`policy-20.json`) for a GET
//! that its first statement allows, with the same policy cut to 1 and 5
//! statements beside it (how the cost grows with the policy).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shale_policy::{Caller, Request, User, object_arn, parse_bucket_policy};

const POLICY: &str = include_str!("policy-20.json");
const KEY: &str = "PBABCDEFGHIJKLMNOPQR";

fn policy_of(n: usize) -> shale_policy::Policy {
    let mut doc: serde_json::Value = serde_json::from_str(POLICY).expect("json");
    let statements = doc["Statement"].as_array_mut().expect("statements");
    statements.truncate(n);
    let text = serde_json::to_string(&doc).expect("json");
    parse_bucket_policy(text.as_bytes(), "ruled", &|_| true).expect("a valid policy")
}

fn bench_policy(c: &mut Criterion) {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request"
            .parse()
            .expect("header"),
    );
    headers.insert("user-agent", "shale-bench/0.1".parse().expect("header"));
    headers.insert(
        "x-amz-content-sha256",
        "UNSIGNED-PAYLOAD".parse().expect("header"),
    );
    let origin = shale_s3_gateway::bucket_access::Origin {
        ip: "127.0.0.1".parse().expect("ip"),
        secure: false,
    };
    let mut group = c.benchmark_group("policy");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("context", |b| {
        b.iter(|| {
            shale_s3_gateway::bucket_access::context(
                black_box(&headers),
                "",
                Some(origin),
                time::OffsetDateTime::now_utc(),
                &|_| true,
            )
        })
    });
    // What a request to a bucket whose policy reads three keys builds.
    let reads = ["aws:SourceIp", "aws:CurrentTime", "aws:UserAgent"];
    group.bench_function("context_of_3_keys", |b| {
        b.iter(|| {
            shale_s3_gateway::bucket_access::context(
                black_box(&headers),
                "",
                Some(origin),
                time::OffsetDateTime::now_utc(),
                &|k| reads.contains(&k),
            )
        })
    });
    let context = shale_s3_gateway::bucket_access::context(
        &headers,
        "",
        Some(origin),
        time::OffsetDateTime::now_utc(),
        &|_| true,
    );
    let caller = Caller::User(User::new(
        "000000000000",
        KEY,
        &shale_s3_gateway::acl::canonical_id(KEY),
    ));
    let resource = object_arn("ruled", "bench-0123abcd/000000000042");
    for n in [1, 5, 20] {
        let policy = policy_of(n);
        group.bench_function(format!("evaluate_{n}_statements"), |b| {
            b.iter(|| {
                policy.evaluate(black_box(&Request {
                    caller: &caller,
                    action: "s3:GetObject",
                    resource: &resource,
                    context: &context,
                }))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_policy);
criterion_main!(benches);
