//! The engine against a reference model: random small bucket policies and
//! random requests, each decided by the engine and by a model written here
//! straight from IAM's documented rules (a naive recursive wildcard
//! matcher, no shared code), which must agree.

mod common;

use std::net::IpAddr;

use common::{ACCOUNT, BUCKET, canonical, user_arn};
use proptest::prelude::*;
use serde_json::{Value, json};
use shale_policy::{Caller, Context, Decision, Request, User, parse_bucket_policy};

// ---- the policy model -------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Everyone,
    AwsStar,
    UserArn(&'static str),
    Account,
    Canonical(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Key {
    Referer,
    SourceIp,
    TagKeys,
}

impl Key {
    fn name(self, upper: bool) -> &'static str {
        match (self, upper) {
            (Key::Referer, false) => "aws:referer",
            (Key::Referer, true) => "AWS:Referer",
            (Key::SourceIp, false) => "aws:sourceip",
            (Key::SourceIp, true) => "aws:SourceIp",
            (Key::TagKeys, false) => "s3:requestobjecttagkeys",
            (Key::TagKeys, true) => "s3:RequestObjectTagKeys",
        }
    }
}

#[derive(Debug, Clone)]
struct Cond {
    op: &'static str,
    set: Option<&'static str>,
    if_exists: bool,
    key: Key,
    upper: bool,
    values: Vec<&'static str>,
}

impl Cond {
    fn operator_name(&self) -> String {
        let set = self.set.map(|s| format!("{s}:")).unwrap_or_default();
        let suffix = if self.if_exists { "IfExists" } else { "" };
        format!("{set}{}{suffix}", self.op)
    }
}

#[derive(Debug, Clone)]
struct Stmt {
    deny: bool,
    not_principal: bool,
    principals: Vec<Who>,
    not_action: bool,
    actions: Vec<&'static str>,
    not_resource: bool,
    resources: Vec<&'static str>,
    conditions: Vec<Cond>,
}

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:Get*",
    "s3:*",
    "*",
    "s3:getobject",
    "S3:LIST*",
];
const RESOURCES: &[&str] = &[
    "arn:aws:s3:::b",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/a*",
    "arn:aws:s3:::b/?",
    "arn:aws:s3:::*",
    "arn:aws:s3:::b/${aws:username}",
    "arn:aws:s3:::b/x/*",
];
const REFERERS: &[&str] = &["a", "b", "ab", "A", "a*", "?"];
const IPS: &[&str] = &["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"];
const TAGS: &[&str] = &["x", "y", "x*"];

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        Just(Who::Everyone),
        Just(Who::AwsStar),
        Just(Who::UserArn("alice")),
        Just(Who::UserArn("bob")),
        Just(Who::Account),
        Just(Who::Canonical("alice")),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    let key = prop_oneof![Just(Key::Referer), Just(Key::SourceIp), Just(Key::TagKeys)];
    (
        key,
        any::<bool>(),
        0usize..8,
        any::<bool>(),
        0usize..3,
        proptest::collection::vec(0usize..6, 1..3),
    )
        .prop_map(|(key, upper, op_pick, if_exists, set_pick, picks)| {
            let ops: &[&str] = match key {
                Key::Referer => &[
                    "StringEquals",
                    "StringNotEquals",
                    "StringLike",
                    "StringNotLike",
                    "StringEqualsIgnoreCase",
                    "Null",
                ],
                Key::SourceIp => &["IpAddress", "NotIpAddress", "Null"],
                Key::TagKeys => &["StringEquals", "StringLike", "StringNotEquals", "Null"],
            };
            let op = ops[op_pick % ops.len()];
            if op == "Null" {
                let values = picks
                    .iter()
                    .map(|p| if p % 2 == 0 { "true" } else { "false" })
                    .collect();
                return Cond {
                    op,
                    set: None,
                    if_exists: false,
                    key,
                    upper,
                    values,
                };
            }
            let pool = match key {
                Key::Referer => REFERERS,
                Key::SourceIp => IPS,
                Key::TagKeys => TAGS,
            };
            let set = [None, Some("ForAnyValue"), Some("ForAllValues")][set_pick];
            let values = picks.iter().map(|p| pool[p % pool.len()]).collect();
            Cond {
                op,
                set,
                if_exists,
                key,
                upper,
                values,
            }
        })
}

fn stmt() -> impl Strategy<Value = Stmt> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(who(), 1..3),
        any::<bool>(),
        proptest::collection::vec(proptest::sample::select(ACTIONS), 1..3),
        any::<bool>(),
        proptest::collection::vec(proptest::sample::select(RESOURCES), 1..3),
        proptest::collection::vec(cond(), 0..3),
    )
        .prop_map(
            |(
                deny,
                not_principal,
                principals,
                not_action,
                actions,
                not_resource,
                mut resources,
                conditions,
            )| {
                // Keep the statement valid: S3 refuses an action that applies to
                // none of the resources, so give each named action its kind.
                let needs = |names: &[&str]| {
                    actions
                        .iter()
                        .any(|a| names.iter().any(|n| a.eq_ignore_ascii_case(n)))
                };
                if !not_action && !not_resource {
                    if needs(&["s3:GetObject", "s3:PutObject"])
                        && !resources.iter().any(|r| r.contains('/'))
                    {
                        resources.push("arn:aws:s3:::b/*");
                    }
                    if needs(&["s3:ListBucket"]) && !resources.iter().any(|r| !r.contains('/')) {
                        resources.push("arn:aws:s3:::b");
                    }
                }
                // One key once per operator, as JSON objects need.
                let mut kept: Vec<Cond> = Vec::new();
                for c in conditions {
                    if !kept
                        .iter()
                        .any(|k| k.operator_name() == c.operator_name() && k.key == c.key)
                    {
                        kept.push(c);
                    }
                }
                // NotPrincipal only with Deny, as S3 requires.
                Stmt {
                    deny,
                    not_principal: not_principal && deny,
                    principals,
                    not_action,
                    actions,
                    not_resource,
                    resources,
                    conditions: kept,
                }
            },
        )
}

fn render(statements: &[Stmt]) -> Vec<u8> {
    let statements: Vec<Value> = statements
        .iter()
        .map(|s| {
            let mut aws: Vec<String> = Vec::new();
            let mut canonical_ids: Vec<String> = Vec::new();
            let mut everyone = false;
            for w in &s.principals {
                match w {
                    Who::Everyone => everyone = true,
                    Who::AwsStar => aws.push("*".into()),
                    Who::UserArn(name) => aws.push(user_arn(name)),
                    Who::Account => aws.push(ACCOUNT.into()),
                    Who::Canonical(name) => canonical_ids.push(canonical(name)),
                }
            }
            let principal = if everyone && aws.is_empty() && canonical_ids.is_empty() {
                json!("*")
            } else {
                if everyone {
                    aws.push("*".into());
                }
                let mut map = serde_json::Map::new();
                if !aws.is_empty() {
                    map.insert("AWS".into(), json!(aws));
                }
                if !canonical_ids.is_empty() {
                    map.insert("CanonicalUser".into(), json!(canonical_ids));
                }
                Value::Object(map)
            };
            let mut condition = serde_json::Map::new();
            for c in &s.conditions {
                let entry = condition
                    .entry(c.operator_name())
                    .or_insert_with(|| json!({}));
                if let Value::Object(keys) = entry {
                    keys.insert(c.key.name(c.upper).into(), json!(c.values));
                }
            }
            let mut out = serde_json::Map::new();
            out.insert(
                "Effect".into(),
                json!(if s.deny { "Deny" } else { "Allow" }),
            );
            out.insert(
                (if s.not_principal {
                    "NotPrincipal"
                } else {
                    "Principal"
                })
                .into(),
                principal,
            );
            out.insert(
                (if s.not_action { "NotAction" } else { "Action" }).into(),
                json!(s.actions),
            );
            out.insert(
                (if s.not_resource {
                    "NotResource"
                } else {
                    "Resource"
                })
                .into(),
                json!(s.resources),
            );
            if !condition.is_empty() {
                out.insert("Condition".into(), Value::Object(condition));
            }
            Value::Object(out)
        })
        .collect();
    serde_json::to_vec(&json!({"Version": "2012-10-17", "Statement": statements}))
        .expect("serializes")
}

// ---- the request model ------------------------------------------------------

#[derive(Debug, Clone)]
struct Req {
    caller: Option<(&'static str, &'static str)>, // (account, name); None: anonymous
    action: &'static str,
    resource: &'static str,
    referer: Option<&'static str>,
    ip: Option<&'static str>,
    tags: Vec<&'static str>,
}

fn req() -> impl Strategy<Value = Req> {
    (
        proptest::sample::select(vec![
            None,
            Some((ACCOUNT, "alice")),
            Some((ACCOUNT, "bob")),
            Some(("210987654321", "eve")),
        ]),
        proptest::sample::select(vec![
            "s3:GetObject",
            "s3:PutObject",
            "s3:ListBucket",
            "s3:DeleteObject",
            "s3:GetBucketAcl",
        ]),
        proptest::sample::select(vec![
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/a",
            "arn:aws:s3:::b/ab",
            "arn:aws:s3:::b/x/y",
            "arn:aws:s3:::b/alice",
        ]),
        proptest::option::of(proptest::sample::select(vec![
            "a", "b", "ab", "A", "a*", "zz",
        ])),
        proptest::option::of(proptest::sample::select(vec![
            "10.1.2.3",
            "192.0.2.1",
            "192.0.2.2",
            "2001:db8::5",
            "2001:db9::1",
        ])),
        proptest::collection::vec(proptest::sample::select(vec!["x", "y", "xy", "z"]), 0..3),
    )
        .prop_map(|(caller, action, resource, referer, ip, tags)| Req {
            caller,
            action,
            resource,
            referer,
            ip,
            tags,
        })
}

// ---- the reference semantics -----------------------------------------------

/// `*` any run, `?` one character; naive recursion.
fn wild(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => wild(rest, s) || (!s.is_empty() && wild(p, &s[1..])),
        Some(('?', rest)) => !s.is_empty() && wild(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && wild(rest, &s[1..]),
    }
}

fn wild_str(p: &str, s: &str) -> bool {
    wild(
        &p.chars().collect::<Vec<_>>(),
        &s.chars().collect::<Vec<_>>(),
    )
}

fn in_range(range: &str, ip: &str) -> bool {
    let (net, len) = range.split_once('/').unwrap_or((range, ""));
    let (Ok(net), Ok(ip)) = (net.parse::<IpAddr>(), ip.parse::<IpAddr>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let len: u32 = len.parse().unwrap_or(32);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let len: u32 = len.parse().unwrap_or(128);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn model_condition(c: &Cond, r: &Req) -> bool {
    let present: Vec<&str> = match c.key {
        Key::Referer => r.referer.into_iter().collect(),
        Key::SourceIp => r.ip.into_iter().collect(),
        Key::TagKeys => r.tags.clone(),
    };
    if c.op == "Null" {
        // true: the key is absent; false: it is present. Values are ORed.
        return c
            .values
            .iter()
            .any(|v| (*v == "true") == present.is_empty());
    }
    let negated = matches!(c.op, "StringNotEquals" | "StringNotLike" | "NotIpAddress");
    if present.is_empty() {
        // IfExists: absent is true. ForAllValues over nothing is true,
        // ForAnyValue false; plain operators: false, negated ones true.
        return c.if_exists
            || match c.set {
                Some("ForAllValues") => true,
                Some(_) => false,
                None => negated,
            };
    }
    let one = |pv: &str, v: &str| match c.op {
        "StringEquals" | "StringNotEquals" => pv == v,
        "StringEqualsIgnoreCase" => pv.to_lowercase() == v.to_lowercase(),
        "StringLike" | "StringNotLike" => wild_str(pv, v),
        "IpAddress" | "NotIpAddress" => in_range(pv, v),
        other => panic!("no such operator in the model: {other}"),
    };
    let matches = |v: &str| c.values.iter().any(|pv| one(pv, v));
    match c.set {
        None if negated => present.iter().all(|v| !matches(v)),
        None => present.iter().any(|v| matches(v)),
        Some("ForAnyValue") => present.iter().any(|v| matches(v) != negated),
        Some(_) => present.iter().all(|v| matches(v) != negated),
    }
}

fn model_principal(w: Who, r: &Req, deny: bool, not: bool) -> bool {
    match (w, r.caller) {
        (Who::Everyone | Who::AwsStar, _) => true,
        (_, None) => false,
        (Who::UserArn(name), Some((account, n))) => account == ACCOUNT && n == name,
        (Who::Canonical(name), Some((_, n))) => n == name,
        // An account delegates: it names its users for Deny and NotPrincipal,
        // and grants nothing by itself in an Allow.
        (Who::Account, Some((account, _))) => (deny || not) && account == ACCOUNT,
    }
}

fn model_applies(s: &Stmt, r: &Req) -> bool {
    let named = s
        .principals
        .iter()
        .any(|w| model_principal(*w, r, s.deny, s.not_principal));
    let principal = named != s.not_principal;
    let action = s
        .actions
        .iter()
        .any(|a| wild_str(&a.to_lowercase(), &r.action.to_lowercase()))
        != s.not_action;
    let username = r.caller.map(|(_, n)| n);
    let resource = s
        .resources
        .iter()
        .any(|p| match (p.contains("${aws:username}"), username) {
            (true, None) => false,
            (true, Some(name)) => wild_str(&p.replace("${aws:username}", name), r.resource),
            (false, _) => wild_str(p, r.resource),
        })
        != s.not_resource;
    principal && action && resource && s.conditions.iter().all(|c| model_condition(c, r))
}

fn model_decide(statements: &[Stmt], r: &Req) -> Decision {
    let applying: Vec<&Stmt> = statements.iter().filter(|s| model_applies(s, r)).collect();
    if applying.iter().any(|s| s.deny) {
        Decision::ExplicitDeny
    } else if applying.is_empty() {
        Decision::NoMatch
    } else {
        Decision::Allow
    }
}

// ---- the property ------------------------------------------------------------

fn engine_decide(policy: &shale_policy::Policy, r: &Req) -> Decision {
    let caller = match r.caller {
        None => Caller::Anonymous,
        Some((account, name)) => Caller::User(User::new(account, name, &canonical(name))),
    };
    let mut context = Context::new();
    if let Some(v) = r.referer {
        context.insert("aws:Referer", v);
    }
    if let Some(v) = r.ip {
        context.insert("aws:SourceIp", v);
    }
    context.set(
        "s3:RequestObjectTagKeys",
        r.tags.iter().map(|t| t.to_string()).collect(),
    );
    policy.evaluate(&Request {
        caller: &caller,
        action: r.action,
        resource: r.resource,
        context: &context,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_engine_decides_as_the_documented_rules_do(
        statements in proptest::collection::vec(stmt(), 1..4),
        requests in proptest::collection::vec(req(), 1..8),
    ) {
        let document = render(&statements);
        let policy = parse_bucket_policy(&document, BUCKET, &|_| true);
        prop_assert!(policy.is_ok(), "{}: {:?}", String::from_utf8_lossy(&document), policy);
        let policy = policy.expect("checked");
        for r in &requests {
            prop_assert_eq!(
                engine_decide(&policy, r),
                model_decide(&statements, r),
                "policy {} request {:?}", String::from_utf8_lossy(&document), r
            );
        }
    }
}
