//! Evaluation: which statements apply to a request, Deny over Allow, and
//! how the sources of one request combine.

mod common;

use common::{ACCOUNT, canonical, ctx, decide, get, policy, user, user_arn};
use shale_policy::{
    ACCOUNT_RESOURCE, Caller, Context, Decision, Request, User, Verdict, authorize, bucket_arn,
    object_arn, parse_identity_policy,
};

const OBJ: &str = "arn:aws:s3:::b/docs/a.txt";

fn none() -> Context {
    Context::new()
}

#[test]
fn a_public_read_policy_allows_anonymous_reads_and_nothing_else() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}"#,
    );
    assert_eq!(get(&p, "index.html", &none()), Decision::Allow);
    assert_eq!(
        decide(&p, &user("alice"), "s3:GetObject", OBJ, &none()),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, &Caller::Anonymous, "s3:PutObject", OBJ, &none()),
        Decision::NoMatch
    );
    assert_eq!(
        decide(
            &p,
            &Caller::Anonymous,
            "s3:ListBucket",
            "arn:aws:s3:::b",
            &none()
        ),
        Decision::NoMatch
    );
}

#[test]
fn aws_star_is_everyone_too() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}"#,
    );
    assert_eq!(get(&p, "x", &none()), Decision::Allow);
}

#[test]
fn anonymous_callers_match_only_everyone() {
    let p = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": ["{}", "{ACCOUNT}"], "CanonicalUser": "{}"}}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#,
        user_arn("alice"),
        canonical("carol"),
    ));
    assert_eq!(get(&p, "x", &none()), Decision::NoMatch);
    assert_eq!(
        decide(&p, &user("alice"), "s3:GetObject", OBJ, &none()),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, &user("carol"), "s3:GetObject", OBJ, &none()),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, &user("bob"), "s3:GetObject", OBJ, &none()),
        Decision::NoMatch
    );
}

#[test]
fn allowing_an_account_delegates_and_grants_nothing_by_itself() {
    let p = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:root"}}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#
    ));
    assert_eq!(
        decide(&p, &user("alice"), "s3:GetObject", OBJ, &none()),
        Decision::NoMatch
    );
}

#[test]
fn denying_an_account_denies_every_user_of_it() {
    let p = policy(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}},
           {{"Effect": "Deny", "Principal": {{"AWS": "{ACCOUNT}"}}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#
    ));
    assert_eq!(
        decide(&p, &user("alice"), "s3:GetObject", OBJ, &none()),
        Decision::ExplicitDeny
    );
    let stranger = Caller::User(User::new("210987654321", "eve", &canonical("eve")));
    assert_eq!(
        decide(&p, &stranger, "s3:GetObject", OBJ, &none()),
        Decision::Allow
    );
    assert_eq!(get(&p, "docs/a.txt", &none()), Decision::Allow);
}

#[test]
fn deny_wins_over_allow_in_either_order() {
    for (first, second) in [("Allow", "Deny"), ("Deny", "Allow")] {
        let p = policy(&format!(
            r#"{{"Effect": "{first}", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}},
               {{"Effect": "{second}", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}}"#
        ));
        assert_eq!(get(&p, "x", &none()), Decision::ExplicitDeny);
    }
}

#[test]
fn actions_match_without_regard_to_case_and_with_wildcards() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": ["S3:get*", "s3:?utObject"], "Resource": "arn:aws:s3:::b/*"}"#,
    );
    for action in [
        "s3:GetObject",
        "s3:getobjectacl",
        "S3:GETOBJECTTAGGING",
        "s3:PutObject",
    ] {
        assert_eq!(
            decide(&p, &Caller::Anonymous, action, OBJ, &none()),
            Decision::Allow,
            "{action}"
        );
    }
    for action in ["s3:DeleteObject", "s3:PutObjectAcl"] {
        assert_eq!(
            decide(&p, &Caller::Anonymous, action, OBJ, &none()),
            Decision::NoMatch,
            "{action}"
        );
    }
}

#[test]
fn a_lone_star_action_matches_every_action() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}"#,
    );
    assert_eq!(
        decide(
            &p,
            &Caller::Anonymous,
            "s3:DeleteBucket",
            "arn:aws:s3:::b",
            &none()
        ),
        Decision::Allow
    );
    assert_eq!(
        decide(
            &p,
            &Caller::Anonymous,
            "s3:PutObjectRetention",
            OBJ,
            &none()
        ),
        Decision::Allow
    );
}

#[test]
fn resources_match_with_case_and_wildcards() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::b/docs/*", "arn:aws:s3:::b/img/??.png"]}"#,
    );
    assert_eq!(get(&p, "docs/a/b/c.txt", &none()), Decision::Allow);
    assert_eq!(get(&p, "Docs/a.txt", &none()), Decision::NoMatch);
    assert_eq!(get(&p, "img/ab.png", &none()), Decision::Allow);
    assert_eq!(get(&p, "img/abc.png", &none()), Decision::NoMatch);
    assert_eq!(get(&p, "img/ab.PNG", &none()), Decision::NoMatch);
}

#[test]
fn a_bucket_resource_does_not_cover_its_objects() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}"#,
    );
    assert_eq!(
        decide(
            &p,
            &Caller::Anonymous,
            "s3:ListBucket",
            &bucket_arn("b"),
            &none()
        ),
        Decision::Allow
    );
    assert_eq!(
        decide(
            &p,
            &Caller::Anonymous,
            "s3:GetObject",
            &object_arn("b", "k"),
            &none()
        ),
        Decision::NoMatch
    );
}

#[test]
fn not_action_applies_to_every_other_action() {
    let p = policy(
        r#"{"Effect": "Deny", "Principal": "*", "NotAction": ["s3:GetObject", "s3:List*"], "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}"#,
    );
    assert_eq!(
        decide(&p, &Caller::Anonymous, "s3:PutObject", OBJ, &none()),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&p, &Caller::Anonymous, "s3:GetObject", OBJ, &none()),
        Decision::NoMatch
    );
    assert_eq!(
        decide(
            &p,
            &Caller::Anonymous,
            "s3:ListBucket",
            "arn:aws:s3:::b",
            &none()
        ),
        Decision::NoMatch
    );
}

#[test]
fn not_resource_applies_to_every_other_resource() {
    let p = policy(
        r#"{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/public/*"}"#,
    );
    assert_eq!(get(&p, "private/x", &none()), Decision::ExplicitDeny);
    assert_eq!(get(&p, "public/x", &none()), Decision::NoMatch);
}

#[test]
fn not_principal_denies_everyone_but_those_named() {
    let p = policy(&format!(
        r#"{{"Effect": "Deny", "NotPrincipal": {{"AWS": ["{}"]}}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}}"#,
        user_arn("alice")
    ));
    assert_eq!(
        decide(&p, &user("alice"), "s3:GetObject", OBJ, &none()),
        Decision::NoMatch
    );
    assert_eq!(
        decide(&p, &user("bob"), "s3:GetObject", OBJ, &none()),
        Decision::ExplicitDeny
    );
    assert_eq!(get(&p, "docs/a.txt", &none()), Decision::ExplicitDeny);
}

#[test]
fn not_principal_naming_the_account_exempts_its_users() {
    let p = policy(&format!(
        r#"{{"Effect": "Deny", "NotPrincipal": {{"AWS": "{ACCOUNT}"}}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}}"#
    ));
    assert_eq!(
        decide(&p, &user("alice"), "s3:GetObject", OBJ, &none()),
        Decision::NoMatch
    );
    assert_eq!(get(&p, "docs/a.txt", &none()), Decision::ExplicitDeny);
}

#[test]
fn service_principals_never_match_a_caller() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"}"#,
    );
    assert_eq!(
        decide(&p, &user("alice"), "s3:PutObject", OBJ, &none()),
        Decision::NoMatch
    );
    assert_eq!(
        decide(&p, &Caller::Anonymous, "s3:PutObject", OBJ, &none()),
        Decision::NoMatch
    );
}

#[test]
fn the_username_variable_limits_each_user_to_a_home_prefix() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/home/${aws:username}/*"}"#,
    );
    let mine = object_arn("b", "home/alice/notes");
    let theirs = object_arn("b", "home/bob/notes");
    assert_eq!(
        decide(&p, &user("alice"), "s3:PutObject", &mine, &none()),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, &user("alice"), "s3:PutObject", &theirs, &none()),
        Decision::NoMatch
    );
    // Anonymous callers have no user name: the resource matches nothing.
    assert_eq!(
        decide(
            &p,
            &Caller::Anonymous,
            "s3:PutObject",
            &object_arn("b", "home//notes"),
            &none()
        ),
        Decision::NoMatch
    );
}

#[test]
fn a_caller_cannot_set_the_principal_keys_through_the_context() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/home/${aws:username}/*"}"#,
    );
    let spoofed = ctx(&[("aws:username", "mallory")]);
    assert_eq!(get(&p, "home/mallory/x", &spoofed), Decision::NoMatch);
}

#[test]
fn under_version_2008_a_variable_is_literal_text() {
    let document = br#"{"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:username}"}]}"#;
    let p = shale_policy::parse_bucket_policy(document, "b", &|_| true).expect("valid");
    assert_eq!(
        decide(
            &p,
            &user("alice"),
            "s3:GetObject",
            &object_arn("b", "alice"),
            &none()
        ),
        Decision::NoMatch
    );
    assert_eq!(
        decide(
            &p,
            &user("alice"),
            "s3:GetObject",
            &object_arn("b", "${aws:username}"),
            &none()
        ),
        Decision::Allow
    );
}

#[test]
fn escapes_match_the_literal_characters_only() {
    let p = policy(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${*}${?}${$}"}"#,
    );
    assert_eq!(get(&p, "*?$", &none()), Decision::Allow);
    assert_eq!(get(&p, "ab$", &none()), Decision::NoMatch);
}

#[test]
fn a_single_statement_object_is_read_like_an_array_of_one() {
    let document = br#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#;
    let p = shale_policy::parse_bucket_policy(document, "b", &|_| true).expect("valid");
    assert_eq!(get(&p, "x", &none()), Decision::Allow);
}

#[test]
fn a_user_policy_applies_to_its_user_on_any_bucket_it_names() {
    let p = parse_identity_policy(
        br#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "arn:aws:s3:::*"},
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::uploads/${aws:username}/*"}]}"#,
    )
    .expect("valid");
    let alice = user("alice");
    assert_eq!(
        decide(&p, &alice, "s3:ListAllMyBuckets", ACCOUNT_RESOURCE, &none()),
        Decision::Allow
    );
    assert_eq!(
        decide(
            &p,
            &alice,
            "s3:PutObject",
            &object_arn("uploads", "alice/a"),
            &none()
        ),
        Decision::Allow
    );
    assert_eq!(
        decide(
            &p,
            &alice,
            "s3:PutObject",
            &object_arn("uploads", "bob/a"),
            &none()
        ),
        Decision::NoMatch
    );
    assert_eq!(
        decide(
            &p,
            &alice,
            "s3:DeleteObject",
            &object_arn("uploads", "alice/a"),
            &none()
        ),
        Decision::NoMatch
    );
    assert!(!p.is_public());
}

#[test]
fn the_account_resource_is_matched_by_star_but_not_by_a_bucket() {
    let p = parse_identity_policy(
        br#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#,
    )
    .expect("valid");
    assert_eq!(
        decide(
            &p,
            &user("a"),
            "s3:ListAllMyBuckets",
            ACCOUNT_RESOURCE,
            &none()
        ),
        Decision::Allow
    );
    let q = parse_identity_policy(
        br#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"}]}"#,
    )
    .expect("valid");
    assert_eq!(
        decide(
            &q,
            &user("a"),
            "s3:ListAllMyBuckets",
            ACCOUNT_RESOURCE,
            &none()
        ),
        Decision::NoMatch
    );
}

#[test]
fn combining_sources_any_deny_refuses_else_any_allow_grants() {
    use Decision::{Allow, ExplicitDeny, NoMatch};
    assert_eq!(authorize([]), Verdict::ImplicitlyDenied);
    assert_eq!(authorize([NoMatch, NoMatch]), Verdict::ImplicitlyDenied);
    assert_eq!(authorize([NoMatch, Allow]), Verdict::Allowed);
    assert_eq!(
        authorize([Allow, ExplicitDeny, Allow]),
        Verdict::ExplicitlyDenied
    );
    assert_eq!(
        authorize([ExplicitDeny, NoMatch]),
        Verdict::ExplicitlyDenied
    );
    assert!(authorize([Allow]).is_allowed());
    assert!(!authorize([NoMatch]).is_allowed());
}

#[test]
fn a_user_policy_allow_and_a_bucket_policy_deny_deny() {
    let bucket = policy(
        r#"{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"}"#,
    );
    let mine = parse_identity_policy(
        br#"{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}"#,
    )
    .expect("valid");
    let alice = user("alice");
    let context = none();
    let request = Request {
        caller: &alice,
        action: "s3:DeleteObject",
        resource: OBJ,
        context: &context,
    };
    assert_eq!(
        authorize([bucket.evaluate(&request), mine.evaluate(&request)]),
        Verdict::ExplicitlyDenied
    );
    let read = Request {
        action: "s3:GetObject",
        ..request
    };
    assert_eq!(
        authorize([bucket.evaluate(&read), mine.evaluate(&read)]),
        Verdict::Allowed
    );
}
