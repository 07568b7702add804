//! No input makes the parser, the evaluator or the public check panic:
//! random bytes, random JSON, and random JSON built from the policy
//! language's own words (so the parser's deeper paths are reached).

use proptest::prelude::*;
use serde_json::Value;

/// Words of the policy language, and values that sit near their edges.
const WORDS: &[&str] = &[
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "AWS",
    "CanonicalUser",
    "Service",
    "Federated",
    "Allow",
    "Deny",
    "*",
    "2012-10-17",
    "2008-10-17",
    "s3:GetObject",
    "s3:*",
    "s3:Get*",
    "s3:ListBucket",
    "arn:aws:s3:::fuzz",
    "arn:aws:s3:::fuzz/*",
    "arn:aws:s3:::fuzz/${aws:username}/*",
    "arn:aws:s3:::fuzz/${",
    "${aws:username, 'x'}",
    "${*}${?}${$}",
    "123456789012",
    "arn:aws:iam::123456789012:user/alice",
    "arn:aws:iam::123456789012:root",
    "StringEquals",
    "StringLike",
    "StringNotLike",
    "ForAnyValue:StringEquals",
    "ForAllValues:StringLike",
    "StringEqualsIfExists",
    "NumericLessThan",
    "DateGreaterThan",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnLike",
    "ArnNotEquals",
    "Null",
    "aws:SourceIp",
    "aws:username",
    "aws:SecureTransport",
    "aws:CurrentTime",
    "aws:EpochTime",
    "s3:prefix",
    "s3:max-keys",
    "s3:RequestObjectTagKeys",
    "s3:ExistingObjectTag/public",
    "aws:SourceVpc",
    "10.0.0.0/8",
    "::/0",
    "2001:db8::/32",
    "true",
    "false",
    "2024-01-31T12:00:00Z",
    "1706702400",
    "c2hhbGU=",
    "home/*",
    "?",
    "",
    "99999999999999999999",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(WORDS).prop_map(str::to_owned),
        ".{0,12}"
    ]
}

fn json(words: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        if words {
            word().boxed()
        } else {
            ".{0,16}".boxed()
        }
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    if words {
                        word().boxed()
                    } else {
                        ".{0,8}".boxed()
                    },
                    inner
                ),
                0..6
            )
            .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A document shaped like a policy, its parts random.
fn policy_shaped() -> impl Strategy<Value = Value> {
    (
        json(true),
        proptest::collection::vec(json(true), 1..4),
        proptest::option::of(json(true)),
    )
        .prop_map(|(version, statements, extra)| {
            let mut doc = serde_json::Map::new();
            doc.insert("Version".into(), version);
            doc.insert("Statement".into(), Value::Array(statements));
            if let Some(extra) = extra {
                doc.insert("Id".into(), extra);
            }
            Value::Object(doc)
        })
}

fn statement_shaped() -> impl Strategy<Value = Value> {
    let element =
        |name: &'static str| proptest::option::of(json(true)).prop_map(move |v| (name, v));
    (
        element("Effect"),
        element("Principal"),
        element("Action"),
        element("Resource"),
        element("Condition"),
        element("NotAction"),
    )
        .prop_map(|parts| {
            let mut s = serde_json::Map::new();
            for (name, value) in [parts.0, parts.1, parts.2, parts.3, parts.4, parts.5] {
                if let Some(v) = value {
                    s.insert(name.into(), v);
                }
            }
            serde_json::json!({"Version": "2012-10-17", "Statement": [Value::Object(s)]})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        shale_policy::fuzzing::policy(&bytes);
        let mut braced = b"{".to_vec();
        braced.extend_from_slice(&bytes);
        shale_policy::fuzzing::policy(&braced);
    }

    #[test]
    fn random_json_never_panics(value in json(false)) {
        shale_policy::fuzzing::policy(value.to_string().as_bytes());
    }

    #[test]
    fn random_policy_shaped_json_never_panics(value in policy_shaped()) {
        shale_policy::fuzzing::policy(value.to_string().as_bytes());
    }

    #[test]
    fn random_statements_never_panic(value in statement_shaped()) {
        shale_policy::fuzzing::policy(value.to_string().as_bytes());
    }
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let deep = format!(
        "{{\"Statement\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(shale_policy::parse_bucket_policy(deep.as_bytes(), "fuzz", &|_| true).is_err());
    shale_policy::fuzzing::policy(deep.as_bytes());
}

#[test]
fn pathological_wildcards_finish_quickly() {
    let pattern = "*a".repeat(40);
    let document = format!(
        r#"{{"Statement": [{{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::fuzz/{pattern}b",
            "Condition": {{"StringLike": {{"aws:Referer": "{pattern}b"}}}}}}]}}"#
    );
    let policy =
        shale_policy::parse_bucket_policy(document.as_bytes(), "fuzz", &|_| true).expect("valid");
    let key = "a".repeat(5000);
    let resource = shale_policy::object_arn("fuzz", &key);
    let context = shale_policy::Context::new().with("aws:Referer", key.clone());
    let started = std::time::Instant::now();
    let request = shale_policy::Request {
        caller: &shale_policy::Caller::Anonymous,
        action: "s3:GetObject",
        resource: &resource,
        context: &context,
    };
    assert_eq!(policy.evaluate(&request), shale_policy::Decision::NoMatch);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}
