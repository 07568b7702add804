//! Helpers shared by the integration tests: a bucket named `b` in account
//! `123456789012`, its users, and one-line policy and request builders.

#![allow(dead_code)]

use shale_policy::{Caller, Context, Decision, Policy, Request, Result, User, parse_bucket_policy};

/// The bucket every test policy is attached to.
pub const BUCKET: &str = "b";

/// The account every test user belongs to.
pub const ACCOUNT: &str = "123456789012";

/// A canonical id for `name`: its bytes in hex, padded to 64 characters.
pub fn canonical(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0<64}")
}

/// The user `name` of [`ACCOUNT`].
pub fn user(name: &str) -> Caller {
    Caller::User(User::new(ACCOUNT, name, &canonical(name)))
}

/// The ARN of user `name` of [`ACCOUNT`].
pub fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// `document` read as a bucket policy of [`BUCKET`], every principal existing.
pub fn try_policy(document: &str) -> Result<Policy> {
    parse_bucket_policy(document.as_bytes(), BUCKET, &|_| true)
}

/// A Version 2012-10-17 bucket policy with these statements (JSON objects,
/// comma-separated); panics if it does not parse.
pub fn policy(statements: &str) -> Policy {
    let document = format!(r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#);
    try_policy(&document).unwrap_or_else(|e| panic!("{document}: {e}"))
}

/// One Allow statement to everyone of `action` on `resource` with `condition`
/// (a JSON object, or empty for none).
pub fn allow_all(action: &str, resource: &str, condition: &str) -> Policy {
    let condition = if condition.is_empty() {
        String::new()
    } else {
        format!(r#", "Condition": {condition}"#)
    };
    policy(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", "Action": "{action}", "Resource": "{resource}"{condition}}}"#
    ))
}

/// What `policy` says of `caller` doing `action` on `resource` with `context`.
pub fn decide(
    policy: &Policy,
    caller: &Caller,
    action: &str,
    resource: &str,
    context: &Context,
) -> Decision {
    policy.evaluate(&Request {
        caller,
        action,
        resource,
        context,
    })
}

/// What `policy` says of an anonymous GetObject of `b/key` with `context`.
pub fn get(policy: &Policy, key: &str, context: &Context) -> Decision {
    decide(
        policy,
        &Caller::Anonymous,
        "s3:GetObject",
        &format!("arn:aws:s3:::b/{key}"),
        context,
    )
}

/// A context with one value for each `(key, value)`.
pub fn ctx(pairs: &[(&str, &str)]) -> Context {
    let mut c = Context::new();
    for (k, v) in pairs {
        c.insert(k, *v);
    }
    c
}
