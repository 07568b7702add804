//! Reading a policy document into a [`Policy`], with the checks S3 makes on
//! PutBucketPolicy (and IAM on a user policy). The first fault found is the
//! answer: the document's first byte, its JSON, its normalized size, then
//! its members, then each statement in order.

use crate::actions::{ACTIONS, ARN_PREFIX, ResourceKind, S3Action};
use crate::condition::{self, Condition};
use crate::error::{Error, Result};
use crate::json::{self, Json};
use crate::pattern::{Pattern, glob};

/// The largest policy S3 accepts: "Bucket policies are limited to 20 KB in
/// size", measured on the document without white space.
pub const MAX_POLICY_SIZE: usize = 20 * 1024;

/// The largest document read at all, white space included: generous room
/// for a pretty-printed policy under [`MAX_POLICY_SIZE`], and a bound on
/// the work one document can cost.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// The policy language's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `2008-10-17`, the default when `Version` is absent: `${...}` is literal
    /// text.
    Oct2008,
    /// `2012-10-17`: policy variables are filled in.
    Oct2012,
}

/// Whether a policy is attached to a bucket or to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyKind {
    /// A bucket policy: every statement names its principals, every resource
    /// is in this bucket.
    Bucket(String),
    /// A user (identity) policy: no principals; it applies to its user.
    Identity,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement refuses, whatever else grants.
    Deny,
}

/// One principal a statement names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included.
    Everyone,
    /// An account, from `"123456789012"` or `"arn:aws:iam::123456789012:root"`
    /// (the two "behave the same way"): the 12-digit id.
    Account(String),
    /// An IAM user or role by ARN (`arn:aws:iam::123456789012:user/alice`).
    Arn(String),
    /// `{"CanonicalUser": ...}`, or a canonical id under `AWS`: 64 hex
    /// characters, lowercase.
    CanonicalUser(String),
    /// `{"Service": "cloudtrail.amazonaws.com"}`: never a Shale caller.
    Service(String),
    /// `{"Federated": "graph.facebook.com"}`: never a Shale caller.
    Federated(String),
}

/// A statement's principals, for a bucket policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Principals {
    /// `NotPrincipal`: the statement applies to everyone but these.
    pub(crate) not: bool,
    pub(crate) list: Vec<Principal>,
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: patterns and which form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Patterns {
    /// The `Not` form: the statement applies to what matches none.
    pub(crate) not: bool,
    pub(crate) list: Vec<Pattern>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// `None` in a user policy.
    pub(crate) principals: Option<Principals>,
    /// Lowercase patterns, matched against the lowercased action.
    pub(crate) actions: Patterns,
    pub(crate) resources: Patterns,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    /// The statement's `Sid`, if it has one.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Allow` or `Deny`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// The principals named by `Principal` (`false`) or `NotPrincipal` (`true`);
    /// `None` in a user policy.
    pub fn principals(&self) -> Option<(bool, &[Principal])> {
        self.principals.as_ref().map(|p| (p.not, p.list.as_slice()))
    }

    /// The conditions, all of which must hold.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

/// A parsed and validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) version: Version,
    pub(crate) id: Option<String>,
    pub(crate) kind: PolicyKind,
    pub(crate) statements: Vec<Statement>,
    /// The statements' resource prefixes, for a quick "not about this".
    pub(crate) prefilter: Prefilter,
}

/// Per statement, the literal prefixes of its resources, kept together in
/// one buffer: a request whose resource starts with none of them is not
/// the statement's, found without touching the statement itself (most of
/// a policy's statements speak of other resources, and a server reads the
/// policy cold, between requests).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Prefilter {
    buf: String,
    /// `(start, end)` of each prefix in `buf`.
    spans: Vec<(u32, u32)>,
    /// Per statement, its range in `spans`; `None` for a statement that
    /// must always be looked at (`NotResource`, or a resource without a
    /// literal prefix).
    statements: Vec<Option<(u32, u32)>>,
}

impl Prefilter {
    fn new(statements: &[Statement]) -> Prefilter {
        let mut p = Prefilter::default();
        for s in statements {
            let r = &s.resources;
            if r.not || r.list.is_empty() || r.list.iter().any(|pat| pat.prefix().is_empty()) {
                p.statements.push(None);
                continue;
            }
            let first = p.spans.len() as u32;
            for pat in &r.list {
                let start = p.buf.len() as u32;
                p.buf.push_str(pat.prefix());
                p.spans.push((start, p.buf.len() as u32));
            }
            p.statements.push(Some((first, p.spans.len() as u32)));
        }
        p
    }

    /// False only when statement `i` cannot apply to `resource`.
    pub(crate) fn may_apply(&self, i: usize, resource: &str) -> bool {
        match self.statements.get(i).copied().flatten() {
            None => true,
            Some((first, end)) => self.spans[first as usize..end as usize]
                .iter()
                .any(|&(a, b)| {
                    resource
                        .as_bytes()
                        .starts_with(&self.buf.as_bytes()[a as usize..b as usize])
                }),
        }
    }
}

impl Policy {
    /// The language version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The policy's `Id`, if it has one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// A bucket or a user policy.
    pub fn kind(&self) -> &PolicyKind {
        &self.kind
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

/// Reads a bucket policy for bucket `bucket` as PutBucketPolicy does.
/// `principal_exists` is asked about each principal other than
/// [`Principal::Everyone`] once its form is valid; `false` refuses the
/// policy with [`Error::UnknownPrincipal`]. To re-read a stored policy whose
/// principals may since have been deleted, pass `&|_| true`.
pub fn parse_bucket_policy(
    json: &[u8],
    bucket: &str,
    principal_exists: &dyn Fn(&Principal) -> bool,
) -> Result<Policy> {
    parse(
        json,
        PolicyKind::Bucket(bucket.to_owned()),
        principal_exists,
    )
}

/// Reads a user (identity) policy: no statement may name a principal, and
/// every resource must be `*` or an S3 ARN.
pub fn parse_identity_policy(json: &[u8]) -> Result<Policy> {
    parse(json, PolicyKind::Identity, &|_| true)
}

fn parse(
    bytes: &[u8],
    kind: PolicyKind,
    principal_exists: &dyn Fn(&Principal) -> bool,
) -> Result<Policy> {
    if bytes.first() != Some(&b'{') {
        return Err(Error::NotJson);
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::TooLarge);
    }
    let document = json::parse(bytes)?;
    if document.compact_len() > MAX_POLICY_SIZE {
        return Err(Error::TooLarge);
    }
    let Json::Object(members) = document else {
        return Err(Error::NotJson);
    };
    let (mut version, mut id, mut statement) = (Version::Oct2008, None, None);
    for (name, value) in &members {
        match name.as_str() {
            "Version" => {
                version = match value {
                    Json::String(v) if v == "2012-10-17" => Version::Oct2012,
                    Json::String(v) if v == "2008-10-17" => Version::Oct2008,
                    _ => return Err(Error::Version),
                }
            }
            "Id" => match value {
                Json::String(v) => id = Some(v.clone()),
                _ => return Err(Error::Syntax),
            },
            "Statement" => statement = Some(value),
            _ => return Err(Error::UnknownField(name.clone())),
        }
    }
    let statements = match statement.ok_or(Error::MissingStatement)? {
        Json::Array(items) if items.is_empty() => return Err(Error::EmptyStatement),
        Json::Array(items) => items
            .iter()
            .map(|s| parse_statement(s, version, &kind, principal_exists))
            .collect::<Result<Vec<_>>>()?,
        single @ Json::Object(_) => {
            vec![parse_statement(single, version, &kind, principal_exists)?]
        }
        _ => return Err(Error::Syntax),
    };
    let prefilter = Prefilter::new(&statements);
    Ok(Policy {
        version,
        id,
        kind,
        statements,
        prefilter,
    })
}

/// One statement's elements, each with the `Not` form it was written in.
#[derive(Default)]
struct Elements<'a> {
    sid: Option<&'a Json>,
    effect: Option<&'a Json>,
    principal: Option<(&'a Json, bool)>,
    action: Option<(&'a Json, bool)>,
    resource: Option<(&'a Json, bool)>,
    condition: Option<&'a Json>,
}

fn parse_statement(
    value: &Json,
    version: Version,
    kind: &PolicyKind,
    principal_exists: &dyn Fn(&Principal) -> bool,
) -> Result<Statement> {
    let Json::Object(members) = value else {
        return Err(Error::Syntax);
    };
    let mut e = Elements::default();
    for (name, value) in members {
        let (slot, not) = match name.as_str() {
            "Sid" => {
                e.sid = Some(value);
                continue;
            }
            "Effect" => {
                e.effect = Some(value);
                continue;
            }
            "Condition" => {
                e.condition = Some(value);
                continue;
            }
            "Principal" => (&mut e.principal, false),
            "NotPrincipal" => (&mut e.principal, true),
            "Action" => (&mut e.action, false),
            "NotAction" => (&mut e.action, true),
            "Resource" => (&mut e.resource, false),
            "NotResource" => (&mut e.resource, true),
            _ => return Err(Error::UnknownField(name.clone())),
        };
        // "you cannot use both Action and NotAction in the same statement",
        // nor Principal and NotPrincipal, nor Resource and NotResource.
        if slot.replace((value, not)).is_some() {
            return Err(Error::Syntax);
        }
    }
    let sid = match e.sid {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => return Err(Error::Syntax),
    };
    let effect = match e.effect.ok_or(Error::MissingEffect)? {
        Json::String(s) if s == "Allow" => Effect::Allow,
        Json::String(s) if s == "Deny" => Effect::Deny,
        Json::String(s) => return Err(Error::Effect(s.clone())),
        _ => return Err(Error::Syntax),
    };
    let principals = match (kind, e.principal) {
        (PolicyKind::Identity, None) => None,
        (PolicyKind::Identity, Some(_)) => return Err(Error::PrincipalInIdentityPolicy),
        (PolicyKind::Bucket(_), None) => return Err(Error::MissingPrincipal),
        (PolicyKind::Bucket(_), Some((value, not))) => {
            // s3-tests expects Allow with NotPrincipal refused, as S3 does.
            if not && effect == Effect::Allow {
                return Err(Error::Principal);
            }
            let list = parse_principals(value)?;
            for p in &list {
                if *p != Principal::Everyone && !principal_exists(p) {
                    return Err(Error::UnknownPrincipal(principal_text(p)));
                }
            }
            Some(Principals { not, list })
        }
    };
    let (action_value, not_action) = e.action.ok_or(Error::MissingAction)?;
    let actions = strings(action_value)?;
    if actions.is_empty() {
        return Err(Error::Action);
    }
    let actions = actions
        .iter()
        .map(|a| parse_action(a))
        .collect::<Result<Vec<_>>>()?;
    let (resource_value, not_resource) = e.resource.ok_or(Error::MissingResource)?;
    let resources = strings(resource_value)?;
    if resources.is_empty() {
        return Err(Error::Resource);
    }
    for r in &resources {
        check_resource(r, kind)?;
    }
    let variables = version == Version::Oct2012;
    let resources: Vec<Pattern> = resources
        .iter()
        .map(|r| Pattern::parse(r, true, variables))
        .collect();

    // The actions a statement names outright, when it names them all so.
    let named: Option<Vec<&S3Action>> = (!not_action && actions.iter().all(|a| !a.has_wildcards()))
        .then(|| {
            actions
                .iter()
                .filter_map(|a| ACTIONS.iter().find(|k| k.lowercase_name() == a.raw))
                .collect()
        });

    if matches!(kind, PolicyKind::Bucket(_)) && !not_action && !not_resource {
        check_actions_apply(&actions, &resources)?;
    }
    let conditions = match e.condition {
        None => Vec::new(),
        Some(block) => condition::parse_block(block, variables, named.as_deref())?,
    };
    Ok(Statement {
        sid,
        effect,
        principals,
        actions: Patterns {
            not: not_action,
            list: actions,
        },
        resources: Patterns {
            not: not_resource,
            list: resources,
        },
        conditions,
    })
}

/// An element's value: a string, or an array of strings ("If the element
/// takes an array but only one value is included, the brackets are
/// optional"). Anything else, `null` included, is a syntax error.
fn strings(value: &Json) -> Result<Vec<String>> {
    match value {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(items) => items
            .iter()
            .map(|item| match item {
                Json::String(s) => Ok(s.clone()),
                _ => Err(Error::Syntax),
            })
            .collect(),
        _ => Err(Error::Syntax),
    }
}

/// An action pattern: `*`, or `s3:` and a name with `*` and `?` wildcards
/// that names at least one S3 action (compared without regard to case).
fn parse_action(text: &str) -> Result<Pattern> {
    let lower = text.to_ascii_lowercase();
    let pattern = Pattern::parse(&lower, true, false);
    if lower == "*" {
        return Ok(pattern);
    }
    if !lower.starts_with("s3:") {
        return Err(Error::Action);
    }
    let toks = pattern.resolve(&|_| None).ok_or(Error::Action)?;
    if !ACTIONS.iter().any(|a| glob(&toks, &a.lowercase_name())) {
        return Err(Error::Action);
    }
    Ok(pattern)
}

/// A resource: in a bucket policy, an S3 ARN whose bucket part (before the
/// first `/`) can name the policy's bucket (wildcards and variables
/// allowed); `*` and other buckets are refused, as S3 refuses them. In a
/// user policy, `*` or any S3 ARN.
fn check_resource(text: &str, kind: &PolicyKind) -> Result<()> {
    match kind {
        PolicyKind::Identity if text == "*" => Ok(()),
        PolicyKind::Identity => text
            .starts_with(ARN_PREFIX)
            .then_some(())
            .ok_or(Error::Resource),
        PolicyKind::Bucket(bucket) => {
            let rest = text
                .strip_prefix(ARN_PREFIX)
                .filter(|r| !r.is_empty())
                .ok_or(Error::Resource)?;
            let named = rest.split_once('/').map_or(rest, |(b, _)| b);
            let pattern = Pattern::parse(named, true, false);
            if named.contains("${") || pattern.matches(bucket, &|_| None) {
                Ok(())
            } else {
                Err(Error::Resource)
            }
        }
    }
}

/// Whether a resource pattern can match a resource of `kind`: a bucket's ARN
/// holds no `/`; an object's holds one after the bucket, and `*` can stand
/// for it.
fn reaches(pattern: &Pattern, kind: ResourceKind) -> bool {
    let rest = pattern.raw.strip_prefix(ARN_PREFIX).unwrap_or(&pattern.raw);
    match kind {
        ResourceKind::Bucket => !rest.contains('/'),
        ResourceKind::Object => rest.contains('/') || pattern.has_wildcards(),
        ResourceKind::Account => false,
    }
}

/// Every action pattern of a bucket policy statement must name some action
/// that applies to one of the statement's resources: S3 refuses
/// `s3:GetObject` on `arn:aws:s3:::bucket` and `s3:ListBucket` on
/// `arn:aws:s3:::bucket/*` alike.
fn check_actions_apply(actions: &[Pattern], resources: &[Pattern]) -> Result<()> {
    for action in actions {
        let toks = action.resolve(&|_| None).ok_or(Error::Action)?;
        let applies = ACTIONS
            .iter()
            .filter(|a| glob(&toks, &a.lowercase_name()))
            .any(|a| resources.iter().any(|r| reaches(r, a.resource)));
        if !applies {
            return Err(Error::ActionResourceMismatch);
        }
    }
    Ok(())
}

/// A `Principal` or `NotPrincipal`: `"*"`, or a map of principal types to one
/// value or a non-empty list.
fn parse_principals(value: &Json) -> Result<Vec<Principal>> {
    let members = match value {
        Json::String(s) if s == "*" => return Ok(vec![Principal::Everyone]),
        Json::Object(members) if !members.is_empty() => members,
        _ => return Err(Error::Principal),
    };
    let mut list = Vec::new();
    for (kind, value) in members {
        let named = strings(value).map_err(|_| Error::Principal)?;
        if named.is_empty() {
            return Err(Error::Principal);
        }
        for text in &named {
            list.push(match kind.as_str() {
                "AWS" => aws_principal(text)?,
                "CanonicalUser" => {
                    Principal::CanonicalUser(canonical_id(text).ok_or(Error::Principal)?)
                }
                "Service" if valid_name(text) => Principal::Service(text.clone()),
                "Federated" if valid_name(text) => Principal::Federated(text.clone()),
                _ => return Err(Error::Principal),
            });
        }
    }
    Ok(list)
}

/// A service or identity provider's name: not empty, no wildcard ("You
/// cannot use a wildcard to match part of a principal name or ARN").
fn valid_name(text: &str) -> bool {
    !text.is_empty() && !text.contains(['*', '?']) && !text.chars().any(char::is_whitespace)
}

/// A canonical user id: 64 hexadecimal characters, returned lowercase.
fn canonical_id(text: &str) -> Option<String> {
    (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// An account id: 12 digits.
fn account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// An `AWS` principal: `*`, an account (id or root ARN), an IAM user or role
/// ARN, an STS assumed-role ARN, or a canonical id.
fn aws_principal(text: &str) -> Result<Principal> {
    if text == "*" {
        return Ok(Principal::Everyone);
    }
    if account_id(text) {
        return Ok(Principal::Account(text.to_owned()));
    }
    if let Some(id) = canonical_id(text) {
        return Ok(Principal::CanonicalUser(id));
    }
    if !valid_name(text) {
        return Err(Error::Principal);
    }
    let (service, rest) = if let Some(rest) = text.strip_prefix("arn:aws:iam::") {
        ("iam", rest)
    } else if let Some(rest) = text.strip_prefix("arn:aws:sts::") {
        ("sts", rest)
    } else {
        return Err(Error::Principal);
    };
    let (account, resource) = rest.split_once(':').ok_or(Error::Principal)?;
    if !account_id(account) {
        return Err(Error::Principal);
    }
    let named = |prefix: &str| {
        resource
            .strip_prefix(prefix)
            .is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
    };
    match service {
        "iam" if resource == "root" => Ok(Principal::Account(account.to_owned())),
        "iam" if named("user/") || named("role/") => Ok(Principal::Arn(text.to_owned())),
        "sts" if named("assumed-role/") => Ok(Principal::Arn(text.to_owned())),
        _ => Err(Error::Principal),
    }
}

/// A principal as it would be written, for [`Error::UnknownPrincipal`].
fn principal_text(p: &Principal) -> String {
    match p {
        Principal::Everyone => "*".to_owned(),
        Principal::Account(s)
        | Principal::Arn(s)
        | Principal::CanonicalUser(s)
        | Principal::Service(s)
        | Principal::Federated(s) => s.clone(),
    }
}
