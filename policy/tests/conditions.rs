//! Conditions: every operator family, what an absent key does to each, the
//! set qualifiers, and how several operators, keys and values combine.

mod common;

use common::{allow_all, ctx, decide, get, user};
use shale_policy::{Context, Decision};

const ALLOW: Decision = Decision::Allow;
const NO: Decision = Decision::NoMatch;

/// An anonymous GetObject of `b/k` against an Allow with `condition`.
fn check(condition: &str, context: &Context) -> Decision {
    get(
        &allow_all("s3:GetObject", "arn:aws:s3:::b/*", condition),
        "k",
        context,
    )
}

#[test]
fn string_equals_is_exact_and_case_sensitive() {
    let c = r#"{"StringEquals": {"aws:Referer": ["https://a.example/", "https://b.example/"]}}"#;
    assert_eq!(
        check(c, &ctx(&[("aws:referer", "https://b.example/")])),
        ALLOW
    );
    assert_eq!(check(c, &ctx(&[("aws:Referer", "https://A.example/")])), NO);
    assert_eq!(
        check(c, &ctx(&[("aws:Referer", "https://a.example/x")])),
        NO
    );
    assert_eq!(check(c, &Context::new()), NO);
}

#[test]
fn string_equals_reads_wildcards_literally() {
    let c = r#"{"StringEquals": {"aws:UserAgent": "curl*"}}"#;
    assert_eq!(check(c, &ctx(&[("aws:UserAgent", "curl/8")])), NO);
    assert_eq!(check(c, &ctx(&[("aws:UserAgent", "curl*")])), ALLOW);
}

#[test]
fn string_not_equals_is_true_when_no_value_matches_or_the_key_is_absent() {
    let c = r#"{"StringNotEquals": {"s3:x-amz-acl": ["public-read", "public-read-write"]}}"#;
    assert_eq!(check(c, &ctx(&[("s3:x-amz-acl", "private")])), ALLOW);
    assert_eq!(check(c, &ctx(&[("s3:x-amz-acl", "public-read")])), NO);
    assert_eq!(check(c, &Context::new()), ALLOW);
}

#[test]
fn ignore_case_operators_ignore_case() {
    let c = r#"{"StringEqualsIgnoreCase": {"aws:UserAgent": "Shale-Sync"}}"#;
    assert_eq!(check(c, &ctx(&[("aws:UserAgent", "shale-SYNC")])), ALLOW);
    let n = r#"{"StringNotEqualsIgnoreCase": {"aws:UserAgent": "Shale-Sync"}}"#;
    assert_eq!(check(n, &ctx(&[("aws:UserAgent", "SHALE-sync")])), NO);
    assert_eq!(check(n, &ctx(&[("aws:UserAgent", "other")])), ALLOW);
}

#[test]
fn string_like_has_wildcards_and_string_not_like_negates_it() {
    let c = r#"{"StringLike": {"aws:Referer": ["https://*.example.com/*", "http://?.test/"]}}"#;
    assert_eq!(
        check(c, &ctx(&[("aws:Referer", "https://www.example.com/page")])),
        ALLOW
    );
    assert_eq!(check(c, &ctx(&[("aws:Referer", "http://a.test/")])), ALLOW);
    assert_eq!(check(c, &ctx(&[("aws:Referer", "http://ab.test/")])), NO);
    let n = r#"{"StringNotLike": {"aws:Referer": "https://*.example.com/*"}}"#;
    assert_eq!(
        check(n, &ctx(&[("aws:Referer", "https://evil.test/")])),
        ALLOW
    );
    assert_eq!(
        check(n, &ctx(&[("aws:Referer", "https://www.example.com/")])),
        NO
    );
    assert_eq!(check(n, &Context::new()), ALLOW);
}

#[test]
fn numeric_operators_compare_the_request_value_to_the_policy_value() {
    let at = |op: &str, policy: &str, request: &str| {
        let p = allow_all(
            "s3:ListBucket",
            "arn:aws:s3:::b",
            &format!(r#"{{"{op}": {{"s3:max-keys": {policy}}}}}"#),
        );
        decide(
            &p,
            &user("u"),
            "s3:ListBucket",
            "arn:aws:s3:::b",
            &ctx(&[("s3:max-keys", request)]),
        )
    };
    assert_eq!(at("NumericEquals", "10", "10"), ALLOW);
    assert_eq!(at("NumericEquals", "\"10\"", "10.0"), ALLOW);
    assert_eq!(at("NumericEquals", "10", "11"), NO);
    assert_eq!(at("NumericNotEquals", "10", "11"), ALLOW);
    assert_eq!(at("NumericNotEquals", "10", "10"), NO);
    assert_eq!(at("NumericLessThan", "10", "9"), ALLOW);
    assert_eq!(at("NumericLessThan", "10", "10"), NO);
    assert_eq!(at("NumericLessThanEquals", "10", "10"), ALLOW);
    assert_eq!(at("NumericGreaterThan", "1.5", "2"), ALLOW);
    assert_eq!(at("NumericGreaterThan", "1.5", "1.5"), NO);
    assert_eq!(at("NumericGreaterThanEquals", "1.5", "1.5"), ALLOW);
    assert_eq!(at("NumericLessThan", "10", "lots"), NO);
    assert_eq!(at("NumericNotEquals", "10", "lots"), ALLOW);
}

#[test]
fn date_operators_read_iso_8601_and_epoch_seconds_on_both_sides() {
    let at = |op: &str, policy: &str, key: &str, request: &str| {
        check(
            &format!(r#"{{"{op}": {{"{key}": "{policy}"}}}}"#),
            &ctx(&[(key, request)]),
        )
    };
    let now = "2024-01-31T12:00:00Z";
    assert_eq!(
        at(
            "DateLessThan",
            "2024-02-01T00:00:00Z",
            "aws:CurrentTime",
            now
        ),
        ALLOW
    );
    assert_eq!(at("DateLessThan", "2024-01-31", "aws:CurrentTime", now), NO);
    assert_eq!(
        at("DateGreaterThan", "2024-01-31", "aws:CurrentTime", now),
        ALLOW
    );
    assert_eq!(
        at("DateEquals", "1706702400", "aws:CurrentTime", now),
        ALLOW
    );
    assert_eq!(
        at("DateNotEquals", "1706702400", "aws:CurrentTime", now),
        NO
    );
    assert_eq!(
        at("DateLessThanEquals", now, "aws:EpochTime", "1706702400"),
        ALLOW
    );
    assert_eq!(
        at(
            "DateGreaterThanEquals",
            "2024-01-31T14:00:00+02:00",
            "aws:EpochTime",
            "1706702400"
        ),
        ALLOW
    );
    assert_eq!(
        at("DateGreaterThan", now, "aws:CurrentTime", "not a date"),
        NO
    );
}

#[test]
fn bool_compares_true_and_false_without_regard_to_case() {
    let c = r#"{"Bool": {"aws:SecureTransport": "false"}}"#;
    assert_eq!(check(c, &ctx(&[("aws:SecureTransport", "FALSE")])), ALLOW);
    assert_eq!(check(c, &ctx(&[("aws:SecureTransport", "true")])), NO);
    let unquoted = r#"{"Bool": {"aws:SecureTransport": true}}"#;
    assert_eq!(
        check(unquoted, &ctx(&[("aws:SecureTransport", "true")])),
        ALLOW
    );
}

#[test]
fn binary_equals_compares_decoded_bytes() {
    let c = r#"{"BinaryEquals": {"aws:UserAgent": "c2hhbGU="}}"#;
    assert_eq!(check(c, &ctx(&[("aws:UserAgent", "c2hhbGU=")])), ALLOW);
    assert_eq!(check(c, &ctx(&[("aws:UserAgent", "shale")])), ALLOW);
    assert_eq!(check(c, &ctx(&[("aws:UserAgent", "other")])), NO);
}

#[test]
fn ip_address_matches_ipv4_and_ipv6_ranges() {
    let c = r#"{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64", "198.51.100.7"]}}"#;
    for ip in [
        "203.0.113.9",
        "2001:db8:1234:5678::1",
        "198.51.100.7",
        "::ffff:203.0.113.200",
    ] {
        assert_eq!(check(c, &ctx(&[("aws:SourceIp", ip)])), ALLOW, "{ip}");
    }
    for ip in [
        "203.0.114.1",
        "2001:db8:1234:5679::1",
        "198.51.100.8",
        "nonsense",
    ] {
        assert_eq!(check(c, &ctx(&[("aws:SourceIp", ip)])), NO, "{ip}");
    }
    assert_eq!(check(c, &Context::new()), NO);
}

#[test]
fn not_ip_address_matches_everything_outside_the_ranges() {
    let c = r#"{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#;
    assert_eq!(check(c, &ctx(&[("aws:SourceIp", "192.0.2.1")])), ALLOW);
    assert_eq!(check(c, &ctx(&[("aws:SourceIp", "203.0.113.1")])), NO);
}

#[test]
fn arn_operators_match_each_component_separately() {
    let c = r#"{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:111122223333:topic-*"}}"#;
    assert_eq!(
        check(
            c,
            &ctx(&[(
                "aws:SourceArn",
                "arn:aws:sns:us-east-1:111122223333:topic-a"
            )])
        ),
        ALLOW
    );
    assert_eq!(
        check(
            c,
            &ctx(&[(
                "aws:SourceArn",
                "arn:aws:sns:us-east-1:999:x:111122223333:topic-a"
            )])
        ),
        NO
    );
    assert_eq!(check(c, &ctx(&[("aws:SourceArn", "not an arn")])), NO);
    let e = r#"{"ArnEquals": {"aws:SourceArn": "arn:aws:sns:*:111122223333:topic-*"}}"#;
    assert_eq!(
        check(
            e,
            &ctx(&[(
                "aws:SourceArn",
                "arn:aws:sns:eu-west-1:111122223333:topic-b"
            )])
        ),
        ALLOW
    );
    let n = r#"{"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:111122223333:*"}}"#;
    assert_eq!(
        check(
            n,
            &ctx(&[("aws:SourceArn", "arn:aws:sns:us-east-1:111122223333:t")])
        ),
        NO
    );
    assert_eq!(
        check(
            n,
            &ctx(&[("aws:SourceArn", "arn:aws:sns:us-east-1:444455556666:t")])
        ),
        ALLOW
    );
    assert_eq!(check(n, &Context::new()), ALLOW);
    let ne = r#"{"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:t"}}"#;
    assert_eq!(
        check(
            ne,
            &ctx(&[("aws:SourceArn", "arn:aws:sns:us-east-1:111122223333:t")])
        ),
        NO
    );
}

#[test]
fn if_exists_is_true_when_the_key_is_absent_and_tests_it_when_present() {
    let c = r#"{"StringEqualsIfExists": {"aws:Referer": "https://a.example/"}}"#;
    assert_eq!(check(c, &Context::new()), ALLOW);
    assert_eq!(
        check(c, &ctx(&[("aws:Referer", "https://a.example/")])),
        ALLOW
    );
    assert_eq!(check(c, &ctx(&[("aws:Referer", "https://b.example/")])), NO);
    let ip = r#"{"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}"#;
    assert_eq!(check(ip, &Context::new()), ALLOW);
    assert_eq!(check(ip, &ctx(&[("aws:SourceIp", "192.0.2.1")])), NO);
}

#[test]
fn a_negated_if_exists_still_denies_a_missing_key_in_a_deny() {
    // "If you are using an "Effect": "Deny" element with a negated condition
    // operator like StringNotEqualsIfExists, the request is still denied even
    // if the tag is missing."
    let p = common::policy(
        r#"{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
            "Condition": {"StringNotEqualsIfExists": {"s3:ExistingObjectTag/class": "public"}}}"#,
    );
    assert_eq!(get(&p, "k", &Context::new()), Decision::ExplicitDeny);
    assert_eq!(
        get(&p, "k", &ctx(&[("s3:ExistingObjectTag/class", "public")])),
        NO
    );
}

#[test]
fn null_tests_whether_the_key_is_absent() {
    let absent = r#"{"Null": {"s3:x-amz-server-side-encryption": "true"}}"#;
    assert_eq!(check(absent, &Context::new()), ALLOW);
    assert_eq!(
        check(
            absent,
            &ctx(&[("s3:x-amz-server-side-encryption", "AES256")])
        ),
        NO
    );
    let present = r#"{"Null": {"s3:x-amz-server-side-encryption": false}}"#;
    assert_eq!(check(present, &Context::new()), NO);
    assert_eq!(
        check(
            present,
            &ctx(&[("s3:x-amz-server-side-encryption", "AES256")])
        ),
        ALLOW
    );
    let mut empty = Context::new();
    empty.set("s3:x-amz-server-side-encryption", Vec::new());
    assert_eq!(check(absent, &empty), ALLOW);
}

#[test]
fn for_any_value_needs_one_match_and_is_false_without_the_key() {
    let c = r#"{"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["secret", "pii"]}}"#;
    let tags = |keys: &[&str]| {
        let mut c = Context::new();
        c.set(
            "s3:RequestObjectTagKeys",
            keys.iter().map(|k| k.to_string()).collect(),
        );
        c
    };
    assert_eq!(check(c, &tags(&["team", "pii"])), ALLOW);
    assert_eq!(check(c, &tags(&["team"])), NO);
    assert_eq!(check(c, &Context::new()), NO);
    let n = r#"{"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": ["secret", "pii"]}}"#;
    assert_eq!(check(n, &tags(&["pii", "team"])), ALLOW);
    assert_eq!(check(n, &tags(&["pii"])), NO);
    assert_eq!(check(n, &Context::new()), NO);
}

#[test]
fn for_all_values_needs_every_value_to_match_and_is_true_without_the_key() {
    let c = r#"{"ForAllValues:StringLike": {"s3:RequestObjectTagKeys": ["team", "cost-*"]}}"#;
    let tags = |keys: &[&str]| {
        let mut c = Context::new();
        c.set(
            "s3:RequestObjectTagKeys",
            keys.iter().map(|k| k.to_string()).collect(),
        );
        c
    };
    assert_eq!(check(c, &tags(&["team", "cost-center"])), ALLOW);
    assert_eq!(check(c, &tags(&["team", "owner"])), NO);
    assert_eq!(check(c, &Context::new()), ALLOW);
    let n = r#"{"ForAllValues:StringNotEquals": {"s3:RequestObjectTagKeys": ["secret"]}}"#;
    assert_eq!(check(n, &tags(&["team", "owner"])), ALLOW);
    assert_eq!(check(n, &tags(&["team", "secret"])), NO);
    assert_eq!(check(n, &Context::new()), ALLOW);
}

#[test]
fn several_values_of_a_key_are_ored() {
    let c = r#"{"StringEquals": {"aws:UserAgent": ["a", "b", "c"]}}"#;
    assert_eq!(check(c, &ctx(&[("aws:UserAgent", "c")])), ALLOW);
}

#[test]
fn several_keys_under_one_operator_are_anded() {
    let c = r#"{"StringEquals": {"aws:UserAgent": "a", "aws:Referer": "r"}}"#;
    assert_eq!(
        check(c, &ctx(&[("aws:UserAgent", "a"), ("aws:Referer", "r")])),
        ALLOW
    );
    assert_eq!(
        check(c, &ctx(&[("aws:UserAgent", "a"), ("aws:Referer", "x")])),
        NO
    );
    assert_eq!(check(c, &ctx(&[("aws:UserAgent", "a")])), NO);
}

#[test]
fn several_operators_are_anded() {
    let c = r#"{"IpAddress": {"aws:SourceIp": "54.240.143.0/24"}, "NotIpAddress": {"aws:SourceIp": "54.240.143.188/32"}}"#;
    assert_eq!(check(c, &ctx(&[("aws:SourceIp", "54.240.143.1")])), ALLOW);
    assert_eq!(check(c, &ctx(&[("aws:SourceIp", "54.240.143.188")])), NO);
    assert_eq!(check(c, &ctx(&[("aws:SourceIp", "54.240.144.1")])), NO);
}

#[test]
fn condition_key_names_ignore_case_in_the_policy_and_the_context() {
    let c = r#"{"StringEquals": {"AWS:REFERER": "r"}}"#;
    assert_eq!(check(c, &ctx(&[("aws:referer", "r")])), ALLOW);
    assert_eq!(check(c, &ctx(&[("Aws:Referer", "r")])), ALLOW);
}

#[test]
fn variables_in_condition_values_are_filled_in() {
    let p = allow_all(
        "s3:ListBucket",
        "arn:aws:s3:::b",
        r#"{"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}"#,
    );
    let list = |caller: &shale_policy::Caller, prefix: &str| {
        decide(
            &p,
            caller,
            "s3:ListBucket",
            "arn:aws:s3:::b",
            &ctx(&[("s3:prefix", prefix)]),
        )
    };
    let alice = user("alice");
    assert_eq!(list(&alice, "home/alice/docs/"), ALLOW);
    assert_eq!(list(&alice, "home/"), ALLOW);
    assert_eq!(list(&alice, "home/bob/"), NO);
    assert_eq!(list(&shale_policy::Caller::Anonymous, "home//"), NO);
}

#[test]
fn a_negated_operator_matches_a_variable_without_a_value() {
    // "Inverted condition operators like StringNotEquals or StringNotLike do
    // match against a null value."
    let c = r#"{"StringNotEquals": {"aws:Referer": "${aws:username}"}}"#;
    assert_eq!(check(c, &ctx(&[("aws:Referer", "anything")])), ALLOW);
    let e = r#"{"StringEquals": {"aws:Referer": "${aws:username}"}}"#;
    assert_eq!(check(e, &ctx(&[("aws:Referer", "${aws:username}")])), NO);
}

#[test]
fn anonymous_callers_have_the_anonymous_user_id() {
    let c = r#"{"StringEquals": {"aws:userid": "anonymous", "aws:PrincipalType": "Anonymous"}}"#;
    assert_eq!(check(c, &Context::new()), ALLOW);
    let n = r#"{"Null": {"aws:username": "true", "aws:PrincipalArn": "true"}}"#;
    assert_eq!(check(n, &Context::new()), ALLOW);
}

#[test]
fn a_users_principal_keys_come_from_the_caller() {
    let c = r#"{"StringEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/alice", "aws:PrincipalAccount": "123456789012", "aws:PrincipalType": "User"}}"#;
    let p = allow_all("s3:GetObject", "arn:aws:s3:::b/*", c);
    assert_eq!(
        decide(
            &p,
            &user("alice"),
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            &Context::new()
        ),
        ALLOW
    );
    assert_eq!(
        decide(
            &p,
            &user("bob"),
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            &Context::new()
        ),
        NO
    );
}
