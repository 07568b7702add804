//! Every way a policy document is refused, and the message S3 gives for it.

mod common;

use common::{BUCKET, try_policy};
use shale_policy::{Error, MAX_POLICY_SIZE, Principal, parse_bucket_policy, parse_identity_policy};

/// A statement with every required element, `extra` members added.
fn statement(extra: &str) -> String {
    format!(
        r#"{{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"{extra}}}"#
    )
}

/// A document holding one statement built from these members alone.
fn only(members: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": [{{{members}}}]}}"#)
}

fn refused(document: &str) -> Error {
    match try_policy(document) {
        Ok(_) => panic!("accepted: {document}"),
        Err(e) => e,
    }
}

fn assert_refused(document: &str, error: Error, message: &str) {
    let e = refused(document);
    assert_eq!(e, error, "{document}");
    assert_eq!(e.to_string(), message);
    assert_eq!(e.s3_code(), "MalformedPolicy");
}

#[test]
fn a_document_that_does_not_begin_with_a_brace_is_not_json() {
    let message = "Policies must be valid JSON and the first byte must be '{'";
    for document in ["", "invalid json", " {}", "[{}]", "\"{}\""] {
        assert_refused(document, Error::NotJson, message);
    }
}

#[test]
fn a_document_that_is_not_well_formed_is_invalid_json() {
    for document in [
        "{",
        r#"{"Statement": }"#,
        r#"{"Statement": []} trailing"#,
        "{'a': 1}",
    ] {
        assert_refused(
            document,
            Error::InvalidJson,
            "This policy contains invalid Json",
        );
    }
}

#[test]
fn a_document_over_20_kb_without_white_space_is_too_large() {
    let statements: Vec<String> = (0..200)
        .map(|i| statement(&format!(r#", "Sid": "s{i:0>60}""#)))
        .collect();
    let document = format!(r#"{{"Statement": [{}]}}"#, statements.join(","));
    assert!(document.len() > MAX_POLICY_SIZE);
    assert_refused(
        &document,
        Error::TooLarge,
        "Normalized policy document exceeds the maximum allowed size of 20480 bytes",
    );
}

#[test]
fn white_space_does_not_count_towards_the_size_limit() {
    let padded = format!(
        "{{{}\"Statement\": [{}]}}",
        " ".repeat(MAX_POLICY_SIZE),
        statement("")
    );
    assert!(try_policy(&padded).is_ok());
}

#[test]
fn an_element_of_the_wrong_type_is_a_syntax_error() {
    let message = "Invalid policy syntax.";
    for members in [
        r#""Effect": "Allow", "Principal": "*", "Action": null, "Resource": "arn:aws:s3:::b/*""#,
        r#""Effect": "Allow", "Principal": "*", "Action": 7, "Resource": "arn:aws:s3:::b/*""#,
        r#""Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::b/*", 1]"#,
        r#""Effect": true, "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#,
        r#""Sid": 1, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#,
    ] {
        assert_refused(&only(members), Error::Syntax, message);
    }
    assert_refused(r#"{"Statement": "all"}"#, Error::Syntax, message);
    assert_refused(r#"{"Id": 5, "Statement": []}"#, Error::Syntax, message);
    assert_refused(
        &format!(r#"{{"Statement": [{}, 3]}}"#, statement("")),
        Error::Syntax,
        message,
    );
}

#[test]
fn an_element_and_its_not_form_together_are_a_syntax_error() {
    for extra in [
        r#", "NotAction": "s3:PutObject""#,
        r#", "NotResource": "arn:aws:s3:::b/x""#,
        r#", "NotPrincipal": {"AWS": "123456789012"}"#,
    ] {
        assert_refused(
            &format!(r#"{{"Statement": {}}}"#, statement(extra)),
            Error::Syntax,
            "Invalid policy syntax.",
        );
    }
}

#[test]
fn a_name_given_twice_in_one_object_is_a_syntax_error() {
    let document = format!(r#"{{"Statement": {}}}"#, statement(r#", "Effect": "Deny""#));
    assert_refused(&document, Error::Syntax, "Invalid policy syntax.");
}

#[test]
fn an_unknown_member_is_named_in_the_error() {
    let document = format!(r#"{{"Statement": {}}}"#, statement(r#", "condition": {}"#));
    assert_refused(
        &document,
        Error::UnknownField("condition".into()),
        "Unknown field condition",
    );
    let document = format!(r#"{{"Statements": [], "Statement": {}}}"#, statement(""));
    assert_refused(
        &document,
        Error::UnknownField("Statements".into()),
        "Unknown field Statements",
    );
}

#[test]
fn a_version_other_than_the_two_dates_is_refused() {
    for version in [r#""2012-10-18""#, r#""""#, "2012", "null"] {
        let document = format!(
            r#"{{"Version": {version}, "Statement": {}}}"#,
            statement("")
        );
        assert_refused(
            &document,
            Error::Version,
            "The policy must contain a valid version string",
        );
    }
}

#[test]
fn a_missing_or_empty_statement_is_refused() {
    assert_refused(
        "{}",
        Error::MissingStatement,
        "Missing required field Statement",
    );
    assert_refused(
        r#"{"Version": "2012-10-17"}"#,
        Error::MissingStatement,
        "Missing required field Statement",
    );
    assert_refused(
        r#"{"Statement": []}"#,
        Error::EmptyStatement,
        "Could not parse the policy: Statement is empty!",
    );
}

#[test]
fn each_required_statement_element_is_named_when_missing() {
    let cases = [
        (
            r#""Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#,
            Error::MissingEffect,
            "Missing required field Effect",
        ),
        (
            r#""Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#,
            Error::MissingPrincipal,
            "Missing required field Principal",
        ),
        (
            r#""Effect": "Allow", "Principal": "*", "Resource": "arn:aws:s3:::b/*""#,
            Error::MissingAction,
            "Missing required field Action",
        ),
        (
            r#""Effect": "Allow", "Principal": "*", "Action": "s3:GetObject""#,
            Error::MissingResource,
            "Missing required field Resource",
        ),
    ];
    for (members, error, message) in cases {
        assert_refused(&only(members), error, message);
    }
}

#[test]
fn an_effect_other_than_allow_or_deny_is_quoted() {
    let document = only(
        r#""Effect": "allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#,
    );
    assert_refused(
        &document,
        Error::Effect("allow".into()),
        "Invalid effect: allow",
    );
}

#[test]
fn malformed_principals_are_invalid() {
    for principal in [
        r#""someone""#,
        r#"{}"#,
        r#"{"AWS": []}"#,
        r#"{"AWS": "arn:aws:iam::*:root"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:user/*"}"#,
        r#"{"AWS": "AKIAIOSFODNN7EXAMPLE"}"#,
        r#"{"AWS": "12345"}"#,
        r#"{"AWS": "arn:aws:iam::123456789012:group/admins"}"#,
        r#"{"CanonicalUser": "abc"}"#,
        r#"{"Service": "*"}"#,
        r#"{"Robot": "r2d2"}"#,
    ] {
        let document = only(&format!(
            r#""Effect": "Allow", "Principal": {principal}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#
        ));
        assert_refused(&document, Error::Principal, "Invalid principal in policy");
    }
}

#[test]
fn not_principal_with_allow_is_an_invalid_principal() {
    let document = only(
        r#""Effect": "Allow", "NotPrincipal": {"AWS": "123456789012"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#,
    );
    assert_refused(&document, Error::Principal, "Invalid principal in policy");
}

#[test]
fn a_principal_that_does_not_exist_is_refused_by_name() {
    let document = only(
        r#""Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/ghost"]}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#,
    );
    let exists =
        |p: &Principal| *p != Principal::Arn("arn:aws:iam::123456789012:user/ghost".into());
    let e = parse_bucket_policy(document.as_bytes(), BUCKET, &exists)
        .expect_err("ghost does not exist");
    assert_eq!(
        e,
        Error::UnknownPrincipal("arn:aws:iam::123456789012:user/ghost".into())
    );
    assert_eq!(e.to_string(), "Invalid principal in policy");
}

#[test]
fn the_lookup_is_not_asked_about_everyone() {
    let document = only(
        r#""Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#,
    );
    assert!(parse_bucket_policy(document.as_bytes(), BUCKET, &|_| false).is_ok());
}

#[test]
fn an_action_s3_does_not_have_is_invalid() {
    for action in [
        r#""s3:PutObjectLockConfiguration""#,
        r#""invalid_action""#,
        r#""iam:*""#,
        r#""""#,
        "[]",
        r#""s3:Frob*""#,
    ] {
        let document = only(&format!(
            r#""Effect": "Allow", "Principal": "*", "Action": {action}, "Resource": "arn:aws:s3:::b/*""#
        ));
        assert_refused(&document, Error::Action, "Policy has invalid action");
    }
}

#[test]
fn a_resource_outside_the_bucket_or_not_an_s3_arn_is_invalid() {
    for resource in [
        r#""*""#,
        r#""arn:aws:s3:::other/*""#,
        r#""arn:aws:s3:::bb/*""#,
        r#""b/*""#,
        r#""arn:aws:s3:::""#,
        r#""arn:aws:s3:::/b""#,
        r#""arn:aws:sqs:::b""#,
        "[]",
    ] {
        let document = only(&format!(
            r#""Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": {resource}"#
        ));
        assert_refused(&document, Error::Resource, "Policy has invalid resource");
    }
}

#[test]
fn resources_whose_bucket_part_can_name_the_bucket_are_accepted() {
    for resource in [
        "arn:aws:s3:::*",
        "arn:aws:s3:::*/*",
        "arn:aws:s3:::?",
        "arn:aws:s3:::b/${aws:username}/*",
    ] {
        let document = only(&format!(
            r#""Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "{resource}""#
        ));
        assert!(try_policy(&document).is_ok(), "{resource}");
    }
}

#[test]
fn an_action_that_applies_to_none_of_the_resources_is_refused() {
    let message = "Action does not apply to any resource(s) in statement";
    for (action, resource) in [
        ("\"s3:GetObject\"", "arn:aws:s3:::b"),
        ("\"s3:ListBucket\"", "arn:aws:s3:::b/*"),
        ("[\"s3:GetObject\", \"s3:ListBucket\"]", "arn:aws:s3:::b/*"),
        ("\"s3:ListAllMyBuckets\"", "arn:aws:s3:::b"),
        ("\"s3:PutBucket*\"", "arn:aws:s3:::b/*"),
    ] {
        let document = only(&format!(
            r#""Effect": "Allow", "Principal": "*", "Action": {action}, "Resource": "{resource}""#
        ));
        assert_refused(&document, Error::ActionResourceMismatch, message);
    }
}

#[test]
fn wildcard_actions_apply_when_some_action_they_name_does() {
    for (action, resource) in [
        ("s3:Get*", "arn:aws:s3:::b"),
        ("s3:*", "arn:aws:s3:::b/*"),
        ("*", "arn:aws:s3:::b"),
    ] {
        let document = only(&format!(
            r#""Effect": "Allow", "Principal": "*", "Action": "{action}", "Resource": "{resource}""#
        ));
        assert!(try_policy(&document).is_ok(), "{action} on {resource}");
    }
}

#[test]
fn an_unknown_condition_operator_is_quoted() {
    for operator in [
        "stringequals",
        "StringEqualz",
        "NullIfExists",
        "ForSomeValues:StringEquals",
    ] {
        let document = format!(
            r#"{{"Statement": {}}}"#,
            statement(&format!(
                r#", "Condition": {{"{operator}": {{"aws:username": "x"}}}}"#
            ))
        );
        assert_refused(
            &document,
            Error::ConditionType(operator.into()),
            &format!("Invalid Condition type : {operator}"),
        );
    }
}

#[test]
fn an_unknown_condition_key_is_refused() {
    for key in [
        "s3:VersionStatus",
        "aws:Nonsense",
        "custom:key",
        "s3:ExistingObjectTag/",
    ] {
        let document = format!(
            r#"{{"Statement": {}}}"#,
            statement(&format!(
                r#", "Condition": {{"StringEquals": {{"{key}": "x"}}}}"#
            ))
        );
        assert_refused(
            &document,
            Error::ConditionKey,
            "Policy has an invalid condition key",
        );
    }
}

#[test]
fn a_listing_key_with_an_object_action_does_not_apply() {
    let document = format!(
        r#"{{"Statement": {}}}"#,
        statement(r#", "Condition": {"StringLike": {"s3:prefix": "home/*"}}"#)
    );
    assert_refused(
        &document,
        Error::ConditionNotApplicable,
        "Conditions do not apply to combination of actions and resources in statement",
    );
}

#[test]
fn a_value_that_is_not_an_address_is_an_invalid_ip_address() {
    for condition in [
        r#"{"IpAddress": {"aws:SourceIp": "10.0.0.300"}}"#,
        r#"{"NotIpAddress": {"aws:SourceIp": "office"}}"#,
        r#"{"StringLike": {"aws:SourceIp": "10.*"}}"#,
    ] {
        let document = format!(
            r#"{{"Statement": {}}}"#,
            statement(&format!(r#", "Condition": {condition}"#))
        );
        assert_refused(
            &document,
            Error::IpAddress,
            "Invalid IP address in Conditions",
        );
    }
}

#[test]
fn malformed_condition_values_are_syntax_errors() {
    for condition in [
        r#""StringEquals""#,
        r#"{"StringEquals": "x"}"#,
        r#"{"StringEquals": {}}"#,
        r#"{"StringEquals": {"aws:username": []}}"#,
        r#"{"StringEquals": {"aws:username": null}}"#,
        r#"{"StringEquals": {"aws:username": {"a": "b"}}}"#,
        r#"{"NumericLessThan": {"aws:EpochTime": "ten"}}"#,
        r#"{"DateLessThan": {"aws:CurrentTime": "tomorrow"}}"#,
        r#"{"BinaryEquals": {"aws:username": "not base64!"}}"#,
        r#"{"Null": {"aws:username": "maybe"}}"#,
        r#"{"StringEquals": {"aws:username": "a", "AWS:USERNAME": "b"}}"#,
    ] {
        let document = format!(
            r#"{{"Statement": {}}}"#,
            statement(&format!(r#", "Condition": {condition}"#))
        );
        assert_refused(&document, Error::Syntax, "Invalid policy syntax.");
    }
}

#[test]
fn a_user_policy_must_not_name_a_principal() {
    let e = parse_identity_policy(format!(r#"{{"Statement": {}}}"#, statement("")).as_bytes())
        .expect_err("has a principal");
    assert_eq!(e, Error::PrincipalInIdentityPolicy);
    assert_eq!(
        e.to_string(),
        "Policy document should not specify a principal."
    );
}

#[test]
fn a_user_policy_may_use_star_and_any_s3_arn_but_nothing_else() {
    let ok = br#"{"Statement": [{"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetObject"], "Resource": ["*", "arn:aws:s3:::other/*"]}]}"#;
    assert!(parse_identity_policy(ok).is_ok());
    let bad = br#"{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:sqs:us-east-1:123456789012:q"}]}"#;
    assert_eq!(parse_identity_policy(bad).map(|_| ()), Err(Error::Resource));
}

#[test]
fn the_first_fault_in_document_order_is_the_one_reported() {
    let document = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:Frob", "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}]}"#;
    assert_eq!(refused(document), Error::Action);
}
