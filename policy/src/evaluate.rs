//! Evaluating policies against a request, as IAM's "Policy evaluation
//! logic" describes it: within one policy an applicable `Deny` wins over
//! any `Allow`; across the sources that decide a request (the bucket
//! policy, the caller's user policy, the ACL grants the caller computed) an
//! explicit deny anywhere refuses, else an allow anywhere grants, else the
//! request is implicitly denied.
//!
//! Principals: `"*"` matches every caller, anonymous ones included, and is
//! the only principal an anonymous caller matches. A user ARN or canonical
//! id matches that user. An account (`"123456789012"` or its root ARN)
//! "delegates permissions to the account": an `Allow` naming it grants
//! nothing by itself (the user's own policy must allow), while a `Deny`
//! naming it refuses every user of the account. Service and federated
//! principals never match a Shale caller.

use std::borrow::Cow;

use crate::parse::{Effect, Policy, Principal, Principals, Statement};

/// An authenticated Shale user, as policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The 12-digit account the user belongs to.
    pub account_id: String,
    /// The user's name (`aws:username`).
    pub name: String,
    /// `arn:aws:iam::<account_id>:user/<name>` (`aws:PrincipalArn`).
    pub arn: String,
    /// The user's unique id (`aws:userid`).
    pub user_id: String,
    /// The user's canonical id: 64 lowercase hex characters.
    pub canonical_id: String,
}

impl User {
    /// A user of account `account_id` named `name`, its ARN built from both;
    /// its unique id (`aws:userid`) is its canonical id until
    /// [`User::with_user_id`] says otherwise.
    pub fn new(account_id: &str, name: &str, canonical_id: &str) -> User {
        User {
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:user/{name}"),
            user_id: canonical_id.to_owned(),
            canonical_id: canonical_id.to_ascii_lowercase(),
        }
    }

    /// The same user with unique id `user_id`.
    pub fn with_user_id(mut self, user_id: &str) -> User {
        self.user_id = user_id.to_owned();
        self
    }
}

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An unsigned request.
    Anonymous,
    /// A signed request, from this user.
    User(User),
}

/// The request's condition keys and their values. Key names are
/// case-insensitive; a key with no value is absent. The principal's own
/// keys (`aws:username`, `aws:userid`, `aws:PrincipalArn`,
/// `aws:PrincipalAccount`, `aws:PrincipalType`) come from the [`Caller`] and
/// cannot be set here.
///
/// A request brings a handful of keys: they are kept in a short list (no
/// hashing, no table), under lowercase names, borrowed where the caller
/// gives a `'static` one ([`Context::insert_static`]).
#[derive(Debug, Clone, Default)]
pub struct Context {
    values: Vec<(Cow<'static, str>, Vec<String>)>,
}

impl PartialEq for Context {
    /// The same keys with the same values, in any order.
    fn eq(&self, other: &Context) -> bool {
        let present = |c: &Context| c.values.iter().filter(|(_, v)| !v.is_empty()).count();
        present(self) == present(other)
            && self
                .values
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .all(|(k, v)| other.get(k) == Some(v.as_slice()))
    }
}

impl Eq for Context {}

impl Context {
    /// A context with no keys.
    pub fn new() -> Context {
        Context::default()
    }

    fn entry(&mut self, key: Cow<'static, str>) -> &mut Vec<String> {
        match self.values.iter().position(|(k, _)| *k == key) {
            Some(i) => &mut self.values[i].1,
            None => {
                self.values.push((key, Vec::with_capacity(1)));
                &mut self.values.last_mut().expect("just pushed").1
            }
        }
    }

    /// Adds `value` to the values of `key`.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.entry(Cow::Owned(key.to_ascii_lowercase()))
            .push(value.into());
    }

    /// [`Context::insert`] for a key known at compile time: kept borrowed
    /// when it is lowercase already.
    pub fn insert_static(&mut self, key: &'static str, value: impl Into<String>) {
        let key = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(key.to_ascii_lowercase())
        } else {
            Cow::Borrowed(key)
        };
        self.entry(key).push(value.into());
    }

    /// The context with `value` added to the values of `key`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Context {
        self.insert(key, value);
        self
    }

    /// Sets every value of `key` (a multi-valued key such as
    /// `s3:RequestObjectTagKeys`); an empty list makes the key absent.
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        let key = key.to_ascii_lowercase();
        self.values.retain(|(k, _)| **k != *key);
        if !values.is_empty() {
            self.values.push((Cow::Owned(key), values));
        }
    }

    /// The values of `key`, if it is present.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.lowercase_get(&key.to_ascii_lowercase())
    }

    /// [`Context::get`] of a lowercase key.
    fn lowercase_get(&self, key: &str) -> Option<&[String]> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
            .filter(|v| !v.is_empty())
    }
}

/// One authorization question: may `caller` do `action` on `resource`?
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who asks.
    pub caller: &'a Caller,
    /// The action, such as `s3:GetObject` (case does not matter).
    pub action: &'a str,
    /// The resource's ARN: [`crate::bucket_arn`], [`crate::object_arn`] or
    /// [`crate::ACCOUNT_RESOURCE`].
    pub resource: &'a str,
    /// The request's condition keys.
    pub context: &'a Context,
}

impl<'a> Request<'a> {
    /// The values of condition key `key` (lowercase), the principal's own
    /// keys first; empty when the key is absent. For an anonymous caller,
    /// `aws:userid` is `anonymous` and `aws:PrincipalType` `Anonymous`, as IAM
    /// documents for S3.
    pub(crate) fn values(&self, key: &str) -> Values<'a> {
        let derived = match (self.caller, key) {
            (Caller::User(u), "aws:username") => Some(u.name.as_str()),
            (Caller::User(u), "aws:userid") => Some(u.user_id.as_str()),
            (Caller::User(u), "aws:principalarn") => Some(u.arn.as_str()),
            (Caller::User(u), "aws:principalaccount") => Some(u.account_id.as_str()),
            (Caller::User(_), "aws:principaltype") => Some("User"),
            (Caller::Anonymous, "aws:userid") => Some("anonymous"),
            (Caller::Anonymous, "aws:principaltype") => Some("Anonymous"),
            (Caller::Anonymous, "aws:username" | "aws:principalarn" | "aws:principalaccount") => {
                return Values::None;
            }
            _ => None,
        };
        match derived {
            Some(v) => Values::One([v]),
            None => match self.context.lowercase_get(key) {
                Some(vs) => Values::Context(vs),
                None => Values::None,
            },
        }
    }

    /// The value a policy variable `${key}` stands for: the key's single
    /// value, or `None` when it is absent or has several.
    pub(crate) fn variable(&self, key: &str) -> Option<String> {
        match self.values(key) {
            Values::One([one]) => Some(one.to_owned()),
            Values::Context([one]) => Some(one.clone()),
            _ => None,
        }
    }
}

/// The values of one condition key in a request, without copying them.
pub(crate) enum Values<'a> {
    /// Absent.
    None,
    /// One value of the caller's own.
    One([&'a str; 1]),
    /// The context's values.
    Context(&'a [String]),
}

/// What one policy (or one ACL) says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// An applicable statement denies.
    ExplicitDeny,
    /// An applicable statement allows and none denies.
    Allow,
    /// No statement applies.
    NoMatch,
}

/// The answer to a request, all sources taken together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Some source allows and none denies.
    Allowed,
    /// Some source denies explicitly.
    ExplicitlyDenied,
    /// No source allows.
    ImplicitlyDenied,
}

impl Verdict {
    /// Whether the request may go ahead.
    pub fn is_allowed(self) -> bool {
        self == Verdict::Allowed
    }
}

/// Combines what every source says of one request, as AWS does: any
/// explicit deny refuses; else any allow (from the bucket policy, the
/// user's policy, or an ACL grant the caller computed as
/// [`Decision::Allow`]) grants; else the request is implicitly denied.
pub fn authorize(decisions: impl IntoIterator<Item = Decision>) -> Verdict {
    let mut allowed = false;
    for d in decisions {
        match d {
            Decision::ExplicitDeny => return Verdict::ExplicitlyDenied,
            Decision::Allow => allowed = true,
            Decision::NoMatch => {}
        }
    }
    if allowed {
        Verdict::Allowed
    } else {
        Verdict::ImplicitlyDenied
    }
}

impl Policy {
    /// What this policy says of `request`: [`Decision::ExplicitDeny`] if an
    /// applicable statement denies, else [`Decision::Allow`] if one allows,
    /// else [`Decision::NoMatch`].
    pub fn evaluate(&self, request: &Request) -> Decision {
        let action = request.action.to_ascii_lowercase();
        let mut allowed = false;
        for (i, s) in self.statements.iter().enumerate() {
            if self.prefilter.may_apply(i, request.resource) && s.applies(request, &action) {
                match s.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NoMatch
        }
    }
}

impl Statement {
    /// Whether the statement applies to `request` (whose action is given
    /// lowercased): its principal, action, resource and every condition.
    fn applies(&self, request: &Request, action: &str) -> bool {
        let lookup = |key: &str| request.variable(key);
        let principal = match &self.principals {
            None => true,
            Some(p) => principal_applies(p, self.effect, request.caller),
        };
        principal
            && self.actions.not
                != self
                    .actions
                    .list
                    .iter()
                    .any(|p| p.matches(action, &|_| None))
            && self.resources.not
                != self
                    .resources
                    .list
                    .iter()
                    .any(|p| p.matches(request.resource, &lookup))
            && self
                .conditions
                .iter()
                .all(|c| match request.values(&c.key) {
                    Values::None => c.holds::<&str>(&[], &lookup),
                    Values::One(one) => c.holds(&one, &lookup),
                    Values::Context(vs) => c.holds(vs, &lookup),
                })
    }
}

/// Whether a statement's principals cover `caller`.
fn principal_applies(principals: &Principals, effect: Effect, caller: &Caller) -> bool {
    // For NotPrincipal an account match counts too: listing the account
    // exempts its users (IAM's NotPrincipal page lists the account with the
    // user for that reason).
    let listed = principals.list.iter().any(|p| match p {
        Principal::Account(_) if !principals.not && effect == Effect::Allow => false,
        p => matches_caller(p, caller),
    });
    listed != principals.not
}

/// Whether principal `p` names `caller` (an account names its users).
fn matches_caller(p: &Principal, caller: &Caller) -> bool {
    match (p, caller) {
        (Principal::Everyone, _) => true,
        (_, Caller::Anonymous) => false,
        (Principal::Account(id), Caller::User(u)) => *id == u.account_id,
        (Principal::Arn(arn), Caller::User(u)) => *arn == u.arn,
        (Principal::CanonicalUser(id), Caller::User(u)) => *id == u.canonical_id,
        (Principal::Service(_) | Principal::Federated(_), Caller::User(_)) => false,
    }
}
