//! The entry point of the fuzz target `policy` (`fuzz/fuzz_targets/policy.rs`)
//! and of the test that replays its corpus: untrusted bytes through the
//! parser, and whatever parses through evaluation and the public check.
//!
//! Must never panic, whatever the input.

use crate::{
    Caller, Context, Request, User, object_arn, parse_bucket_policy, parse_identity_policy,
};

/// Reads `data` as a bucket policy of bucket `fuzz` (every principal taken
/// to exist) and as a user policy; evaluates what parses against an
/// anonymous and a signed request carrying the usual condition keys, and
/// asks whether it is public.
pub fn policy(data: &[u8]) {
    let user = Caller::User(User::new("123456789012", "alice", &"a".repeat(64)));
    let context = Context::new()
        .with("aws:SourceIp", "192.0.2.10")
        .with("aws:SecureTransport", "true")
        .with("aws:CurrentTime", "2024-01-31T12:00:00Z")
        .with("aws:EpochTime", "1706702400")
        .with("s3:prefix", "home/alice/")
        .with("s3:max-keys", "100")
        .with("s3:ExistingObjectTag/public", "yes")
        .with("s3:RequestObjectTagKeys", "a")
        .with("s3:RequestObjectTagKeys", "b");
    let resource = object_arn("fuzz", "home/alice/notes.txt");
    let parsed = [
        parse_bucket_policy(data, "fuzz", &|_| true),
        parse_identity_policy(data),
    ];
    for policy in parsed.iter().flatten() {
        for caller in [&Caller::Anonymous, &user] {
            for action in ["s3:GetObject", "s3:ListBucket", "s3:PutObject"] {
                let request = Request {
                    caller,
                    action,
                    resource: &resource,
                    context: &context,
                };
                let _ = policy.evaluate(&request);
            }
        }
        let _ = policy.is_public();
    }
}
