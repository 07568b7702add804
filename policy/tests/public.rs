//! Whether a bucket policy is public, as S3's "The meaning of 'public'"
//! defines it.

mod common;

use common::{ACCOUNT, canonical, policy, user_arn};

/// Whether an Allow of GetObject to `principal` with `condition` (a JSON
/// object, or empty) is public.
fn public(principal: &str, condition: &str) -> bool {
    let condition = if condition.is_empty() {
        String::new()
    } else {
        format!(r#", "Condition": {condition}"#)
    };
    policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {principal}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"{condition}}}"#
    ))
    .is_public()
}

#[test]
fn an_unconditional_grant_to_everyone_is_public() {
    assert!(public(r#""*""#, ""));
    assert!(public(r#"{"AWS": "*"}"#, ""));
    assert!(public(r#"{"AWS": ["*", "123456789012"]}"#, ""));
}

#[test]
fn a_grant_to_fixed_principals_is_not_public() {
    assert!(!public(
        &format!(r#"{{"AWS": "{}"}}"#, user_arn("alice")),
        ""
    ));
    assert!(!public(&format!(r#"{{"AWS": "{ACCOUNT}"}}"#), ""));
    assert!(!public(
        &format!(r#"{{"CanonicalUser": "{}"}}"#, canonical("alice")),
        ""
    ));
    assert!(!public(r#"{"Service": "cloudtrail.amazonaws.com"}"#, ""));
}

#[test]
fn a_grant_to_a_federated_identity_provider_is_public() {
    assert!(public(r#"{"Federated": "graph.facebook.com"}"#, ""));
}

#[test]
fn a_deny_to_everyone_is_not_public() {
    let p = policy(
        r#"{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}"#,
    );
    assert!(!p.is_public());
}

#[test]
fn not_principal_in_a_deny_is_not_public() {
    let p = policy(&format!(
        r#"{{"Effect": "Deny", "NotPrincipal": {{"AWS": "{}"}}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}}"#,
        user_arn("alice")
    ));
    assert!(!p.is_public());
}

#[test]
fn one_public_statement_makes_the_whole_policy_public() {
    let p = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "{}"}}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}},
           {{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#,
        user_arn("alice")
    ));
    assert!(p.is_public());
}

#[test]
fn a_narrow_source_ip_makes_it_not_public() {
    for range in [
        "10.0.0.0/32",
        "203.0.113.0/24",
        "8.0.0.0/8",
        "192.168.0.0/16",
        "2001:db8::/32",
        "2001:db8::1",
    ] {
        assert!(
            !public(
                r#""*""#,
                &format!(r#"{{"IpAddress": {{"aws:SourceIp": "{range}"}}}}"#)
            ),
            "{range}"
        );
    }
}

#[test]
fn a_broad_source_ip_stays_public() {
    for range in [
        "0.0.0.0/0",
        "0.0.0.0/1",
        "64.0.0.0/7",
        "::/0",
        "2000::/3",
        "2001:db8::/31",
    ] {
        assert!(
            public(
                r#""*""#,
                &format!(r#"{{"IpAddress": {{"aws:SourceIp": "{range}"}}}}"#)
            ),
            "{range}"
        );
    }
    let mixed = r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/24", "0.0.0.0/0"]}}"#;
    assert!(public(r#""*""#, mixed));
}

#[test]
fn excluding_addresses_restricts_nothing() {
    assert!(public(
        r#""*""#,
        r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#
    ));
}

#[test]
fn fixed_values_of_the_listed_keys_make_it_not_public() {
    for (operator, key, value) in [
        ("StringEquals", "aws:SourceVpc", "vpc-91237329"),
        ("StringEquals", "aws:SourceVpce", "vpce-1a2b3c4d"),
        (
            "ArnEquals",
            "aws:SourceArn",
            "arn:aws:sns:us-east-1:111122223333:topic",
        ),
        ("StringEquals", "aws:SourceAccount", "111122223333"),
        ("StringEquals", "aws:SourceOwner", "111122223333"),
        ("StringEquals", "aws:PrincipalOrgID", "o-abc123"),
        ("StringEquals", "aws:PrincipalAccount", "111122223333"),
        (
            "ArnLike",
            "aws:PrincipalArn",
            "arn:aws:iam::111122223333:user/alice",
        ),
        ("StringEquals", "aws:userid", "AIDAEXAMPLE"),
        ("StringLike", "aws:userid", "AROAEXAMPLE:*"),
        (
            "StringEquals",
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
            "arn:aws:kms:us-east-1:111122223333:key/k",
        ),
        ("StringEquals", "s3:DataAccessPointAccount", "111122223333"),
        (
            "StringLike",
            "s3:DataAccessPointArn",
            "arn:aws:s3:us-west-2:123456789012:accesspoint/*",
        ),
        ("ForAnyValue:StringEquals", "aws:SourceVpc", "vpc-91237329"),
    ] {
        let condition = format!(r#"{{"{operator}": {{"{key}": "{value}"}}}}"#);
        assert!(!public(r#""*""#, &condition), "{condition}");
    }
}

#[test]
fn wildcards_and_variables_are_not_fixed_values() {
    for (operator, key, value) in [
        ("StringLike", "aws:SourceVpc", "vpc-*"),
        ("StringEquals", "aws:SourceVpc", "vpc-*"),
        ("StringLike", "aws:userid", "*"),
        ("StringLike", "aws:userid", "*:alice"),
        ("StringEquals", "aws:PrincipalArn", "${aws:username}"),
        (
            "StringLike",
            "s3:DataAccessPointArn",
            "arn:aws:s3:us-west-2:*:accesspoint/*",
        ),
    ] {
        let condition = format!(r#"{{"{operator}": {{"{key}": "{value}"}}}}"#);
        assert!(public(r#""*""#, &condition), "{condition}");
    }
}

#[test]
fn conditions_a_request_without_the_key_passes_restrict_nothing() {
    for condition in [
        r#"{"StringEqualsIfExists": {"aws:SourceVpc": "vpc-91237329"}}"#,
        r#"{"ForAllValues:StringEquals": {"aws:SourceVpc": "vpc-91237329"}}"#,
        r#"{"StringNotEquals": {"aws:SourceVpc": "vpc-91237329"}}"#,
        r#"{"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/24"}}"#,
    ] {
        assert!(public(r#""*""#, condition), "{condition}");
    }
}

#[test]
fn other_keys_do_not_make_it_non_public() {
    for condition in [
        r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
        r#"{"StringEquals": {"aws:Referer": "https://example.com/"}}"#,
        r#"{"StringEquals": {"aws:username": "alice"}}"#,
        r#"{"StringEquals": {"s3:ExistingObjectTag/public": "yes"}}"#,
    ] {
        assert!(public(r#""*""#, condition), "{condition}");
    }
}

#[test]
fn one_restricting_condition_among_others_is_enough() {
    let condition = r#"{"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpce": "vpce-1"}}"#;
    assert!(!public(r#""*""#, condition));
}
