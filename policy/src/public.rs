//! Whether a bucket policy is "public", for GetBucketPolicyStatus and Block
//! Public Access, as the S3 user guide's "The meaning of 'public'" defines
//! it: "Amazon S3 begins by assuming that the policy is public. It then
//! evaluates the policy to determine whether it qualifies as non-public. To
//! be considered non-public, a bucket policy must grant access only to
//! fixed values (values that don't contain a wildcard or an AWS Identity and
//! Access Management Policy Variable)" of a principal, or of one of these
//! keys:
//!
//! - `aws:SourceIp`, with ranges no broader than `/8` (IPv4) or `/32` (IPv6),
//!   or inside the RFC 1918 private ranges;
//! - `aws:SourceArn`, `aws:SourceVpc`, `aws:SourceVpce`, `aws:SourceOwner`,
//!   `aws:SourceAccount`, `s3:x-amz-server-side-encryption-aws-kms-key-id`;
//! - `aws:userid` (the pattern `AROLEID:*` counts as fixed);
//! - `s3:DataAccessPointArn` (a wildcard in the access point's name is
//!   allowed when the account is fixed) and `s3:DataAccessPointAccount`;
//! - the principal keys `aws:PrincipalArn`, `aws:PrincipalAccount`,
//!   `aws:PrincipalOrgID` ("An AWS principal, user, role, or service
//!   principal (e.g. `aws:PrincipalOrgID`)").
//!
//! So a policy is public when some `Allow` statement applies to everyone
//! (`"*"`, `{"AWS": "*"}`, a federated identity provider, or `NotPrincipal`)
//! and none of its conditions holds a request to such fixed values. A
//! condition only restricts when a request without the key fails it: a
//! negated operator, `...IfExists` and `ForAllValues:` restrict nothing.
//! `Deny` statements grant nothing and never make a policy public.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use crate::condition::{Condition, Operator, SetQualifier, Value};
use crate::parse::{Effect, Policy, PolicyKind, Principal, Statement};
use crate::pattern::Pattern;

impl Policy {
    /// Whether the policy grants public access, as S3 judges it (see the
    /// module documentation). Always false for a user policy.
    pub fn is_public(&self) -> bool {
        matches!(self.kind, PolicyKind::Bucket(_))
            && self.statements.iter().any(statement_is_public)
    }
}

/// Whether one statement grants access to the public.
fn statement_is_public(s: &Statement) -> bool {
    let Some(principals) = &s.principals else {
        return false;
    };
    let to_everyone = principals.not
        || principals
            .list
            .iter()
            .any(|p| matches!(p, Principal::Everyone | Principal::Federated(_)));
    s.effect == Effect::Allow && to_everyone && !s.conditions.iter().any(restricts)
}

/// Whether a condition limits the statement to fixed values of a key that
/// makes it non-public.
fn restricts(c: &Condition) -> bool {
    if c.if_exists || c.set == Some(SetQualifier::ForAllValues) || c.operator.is_negated() {
        return false;
    }
    let positive_string = matches!(
        c.operator,
        Operator::StringEquals
            | Operator::StringEqualsIgnoreCase
            | Operator::StringLike
            | Operator::ArnEquals
            | Operator::ArnLike
    );
    let patterns = || {
        c.values.iter().filter_map(|v| match v {
            Value::Pattern(p) => Some(p),
            _ => None,
        })
    };
    let all_fixed = |fixed: &dyn Fn(&Pattern) -> bool| {
        positive_string && !c.values.is_empty() && patterns().all(fixed)
    };
    match c.key.as_str() {
        "aws:sourceip" => {
            c.operator == Operator::IpAddress
                && !c.values.is_empty()
                && c.values
                    .iter()
                    .all(|v| matches!(v, Value::Net(net) if narrow(net)))
        }
        "aws:sourcearn"
        | "aws:sourcevpc"
        | "aws:sourcevpce"
        | "aws:sourceowner"
        | "aws:sourceaccount"
        | "aws:principalarn"
        | "aws:principalaccount"
        | "aws:principalorgid"
        | "s3:x-amz-server-side-encryption-aws-kms-key-id"
        | "s3:dataaccesspointaccount" => all_fixed(&fixed),
        "aws:userid" => all_fixed(&|p| fixed(p) || role_session_pattern(p)),
        "s3:dataaccesspointarn" => all_fixed(&|p| fixed(p) || access_point_pattern(p)),
        _ => false,
    }
}

/// A value without wildcards or policy variables: `*`, `?` and `${` count as
/// not fixed even where the operator reads them literally.
fn fixed(p: &Pattern) -> bool {
    !p.raw.contains(['*', '?']) && !p.raw.contains("${")
}

/// `AROLEID:*`: a fixed role id and any session name.
fn role_session_pattern(p: &Pattern) -> bool {
    p.raw
        .strip_suffix(":*")
        .is_some_and(|id| !id.is_empty() && !id.contains([':', '*', '?']) && !id.contains("${"))
}

/// `arn:aws:s3:<region>:<account>:accesspoint/<name>` with a wildcard only in
/// the name, the account fixed.
fn access_point_pattern(p: &Pattern) -> bool {
    let parts: Vec<&str> = p.raw.splitn(6, ':').collect();
    let fixed_text = |s: &str| !s.contains(['*', '?']) && !s.contains("${");
    parts.len() == 6
        && parts[..5].iter().all(|s| fixed_text(s))
        && !parts[4].is_empty()
        && parts[5]
            .strip_prefix("accesspoint/")
            .is_some_and(|name| !name.contains("${"))
}

/// An `aws:SourceIp` range narrow enough to be non-public: `/8` or longer for
/// IPv4, `/32` or longer for IPv6, or within an RFC 1918 private range.
fn narrow(net: &IpNet) -> bool {
    match net {
        IpNet::V4(v4) => v4.prefix_len() >= 8 || private(v4),
        IpNet::V6(v6) => v6.prefix_len() >= 32,
    }
}

/// Whether an IPv4 range lies inside 10/8, 172.16/12 or 192.168/16.
fn private(net: &Ipv4Net) -> bool {
    [
        (Ipv4Addr::new(10, 0, 0, 0), 8),
        (Ipv4Addr::new(172, 16, 0, 0), 12),
        (Ipv4Addr::new(192, 168, 0, 0), 16),
    ]
    .into_iter()
    .filter_map(|(a, l)| Ipv4Net::new(a, l).ok())
    .any(|range| range.contains(net))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::parse_net;

    fn net(s: &str) -> IpNet {
        parse_net(s).expect("a range")
    }

    #[test]
    fn ranges_up_to_slash_8_and_slash_32_are_narrow() {
        assert!(narrow(&net("10.0.0.0/8")));
        assert!(narrow(&net("203.0.113.7")));
        assert!(!narrow(&net("0.0.0.0/0")));
        assert!(!narrow(&net("0.0.0.0/1")));
        assert!(narrow(&net("2001:db8::/32")));
        assert!(!narrow(&net("::/0")));
        assert!(!narrow(&net("2001::/16")));
    }
}
