//! The `Condition` element: operators, keys and values, parsed once and
//! evaluated against each request, as IAM's "Condition operators" and
//! "Creating a condition with multiple keys or values" pages define them:
//!
//! - several operators, and several keys under one operator, are ANDed;
//!   several values of one key are ORed (for a negated operator, NORed);
//! - a key the request does not have makes a condition false, except that a
//!   negated operator (`StringNotEquals`, `NotIpAddress`, `ArnNotLike`, ...) is
//!   then true; `...IfExists` makes it true whatever the operator; `Null`
//!   tests exactly that absence;
//! - `ForAnyValue:` is true when some request value matches (false when the
//!   key is absent), `ForAllValues:` when every request value does (true when
//!   the key is absent); with a negated operator, "matches" means matches
//!   none of the policy's values.
//!
//! Operator names are case-sensitive (S3 refuses `stringequals`), key names
//! are not.

use std::net::IpAddr;

use base64::Engine as _;
use ipnet::IpNet;
use time::OffsetDateTime;

use crate::actions::S3Action;
use crate::error::{Error, Result};
use crate::json::Json;
use crate::keys;
use crate::pattern::{Pattern, arn_match, glob};

/// A condition operator without its set prefix and `IfExists` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// Exact string match, case-sensitive.
    StringEquals,
    /// Negated [`Operator::StringEquals`].
    StringNotEquals,
    /// Exact string match ignoring case.
    StringEqualsIgnoreCase,
    /// Negated [`Operator::StringEqualsIgnoreCase`].
    StringNotEqualsIgnoreCase,
    /// Case-sensitive match with `*` and `?` wildcards.
    StringLike,
    /// Negated [`Operator::StringLike`].
    StringNotLike,
    /// Numbers equal.
    NumericEquals,
    /// Negated [`Operator::NumericEquals`].
    NumericNotEquals,
    /// The request's number is below the policy's.
    NumericLessThan,
    /// The request's number is at most the policy's.
    NumericLessThanEquals,
    /// The request's number is above the policy's.
    NumericGreaterThan,
    /// The request's number is at least the policy's.
    NumericGreaterThanEquals,
    /// The same instant.
    DateEquals,
    /// Negated [`Operator::DateEquals`].
    DateNotEquals,
    /// The request's instant is before the policy's.
    DateLessThan,
    /// The request's instant is at or before the policy's.
    DateLessThanEquals,
    /// The request's instant is after the policy's.
    DateGreaterThan,
    /// The request's instant is at or after the policy's.
    DateGreaterThanEquals,
    /// `true` or `false`, compared without regard to case.
    Bool,
    /// The bytes a base64 value stands for.
    BinaryEquals,
    /// The request's address is in one of the policy's CIDR ranges.
    IpAddress,
    /// Negated [`Operator::IpAddress`].
    NotIpAddress,
    /// ARN match, component by component, with wildcards.
    ArnEquals,
    /// The same as [`Operator::ArnEquals`].
    ArnLike,
    /// Negated [`Operator::ArnEquals`].
    ArnNotEquals,
    /// Negated [`Operator::ArnLike`].
    ArnNotLike,
    /// `true`: the key is absent; `false`: it is present.
    Null,
}

use Operator as O;

const OPERATORS: &[(&str, Operator)] = &[
    ("StringEquals", O::StringEquals),
    ("StringNotEquals", O::StringNotEquals),
    ("StringEqualsIgnoreCase", O::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", O::StringNotEqualsIgnoreCase),
    ("StringLike", O::StringLike),
    ("StringNotLike", O::StringNotLike),
    ("NumericEquals", O::NumericEquals),
    ("NumericNotEquals", O::NumericNotEquals),
    ("NumericLessThan", O::NumericLessThan),
    ("NumericLessThanEquals", O::NumericLessThanEquals),
    ("NumericGreaterThan", O::NumericGreaterThan),
    ("NumericGreaterThanEquals", O::NumericGreaterThanEquals),
    ("DateEquals", O::DateEquals),
    ("DateNotEquals", O::DateNotEquals),
    ("DateLessThan", O::DateLessThan),
    ("DateLessThanEquals", O::DateLessThanEquals),
    ("DateGreaterThan", O::DateGreaterThan),
    ("DateGreaterThanEquals", O::DateGreaterThanEquals),
    ("Bool", O::Bool),
    ("BinaryEquals", O::BinaryEquals),
    ("IpAddress", O::IpAddress),
    ("NotIpAddress", O::NotIpAddress),
    ("ArnEquals", O::ArnEquals),
    ("ArnLike", O::ArnLike),
    ("ArnNotEquals", O::ArnNotEquals),
    ("ArnNotLike", O::ArnNotLike),
    ("Null", O::Null),
];

impl Operator {
    /// The operator's name as written in a policy.
    pub fn name(self) -> &'static str {
        OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(name, _)| *name)
            .expect("every operator is in the table")
    }

    /// Whether the operator is a negation: true when the key is absent, and
    /// true of a value that matches none of the policy's values.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            O::StringNotEquals
                | O::StringNotEqualsIgnoreCase
                | O::StringNotLike
                | O::NumericNotEquals
                | O::DateNotEquals
                | O::NotIpAddress
                | O::ArnNotEquals
                | O::ArnNotLike
        )
    }

    /// Whether policy variables may be used in the operator's values: in
    /// string, Bool and ARN comparisons, not in numbers, dates, binary, IP
    /// addresses or Null (IAM's operator page).
    fn takes_variables(self) -> bool {
        matches!(
            self,
            O::StringEquals
                | O::StringNotEquals
                | O::StringEqualsIgnoreCase
                | O::StringNotEqualsIgnoreCase
                | O::StringLike
                | O::StringNotLike
                | O::Bool
                | O::ArnEquals
                | O::ArnLike
                | O::ArnNotEquals
                | O::ArnNotLike
        )
    }
}

/// `ForAnyValue:` or `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetQualifier {
    /// `ForAnyValue:`: some request value must match.
    ForAnyValue,
    /// `ForAllValues:`: every request value must match.
    ForAllValues,
}

/// One value of a condition, parsed for its operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// String, Bool and ARN operators: a pattern (wildcards for the `Like` and
    /// ARN operators only), with variables under Version 2012-10-17.
    Pattern(Pattern),
    /// Numeric operators.
    Number(f64),
    /// Date operators: nanoseconds since the Unix epoch.
    Date(i128),
    /// `BinaryEquals`: the decoded bytes.
    Bytes(Vec<u8>),
    /// IP operators: the range.
    Net(IpNet),
    /// `Null`: whether the key must be absent.
    Absent(bool),
}

/// One key tested by one operator: `{"StringLike": {"s3:prefix": ["a/*"]}}`
/// is one condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub(crate) operator: Operator,
    pub(crate) set: Option<SetQualifier>,
    pub(crate) if_exists: bool,
    /// The key's name, lowercase.
    pub(crate) key: String,
    pub(crate) values: Vec<Value>,
    /// The values as written, for [`crate::Policy::is_public`].
    pub(crate) raw: Vec<String>,
}

impl Condition {
    /// The operator, without prefix or suffix.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The set qualifier, if any.
    pub fn set(&self) -> Option<SetQualifier> {
        self.set
    }

    /// Whether the operator has the `IfExists` suffix.
    pub fn if_exists(&self) -> bool {
        self.if_exists
    }

    /// The key's name, lowercase.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the condition holds for a request whose values for the key are
    /// `present` (empty: the key is absent); `lookup` fills in policy
    /// variables.
    pub(crate) fn holds<S: AsRef<str>>(
        &self,
        present: &[S],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> bool {
        if self.operator == O::Null {
            let absent = present.is_empty();
            return self.values.contains(&Value::Absent(absent));
        }
        if present.is_empty() {
            return self.if_exists
                || match self.set {
                    Some(SetQualifier::ForAllValues) => true,
                    Some(SetQualifier::ForAnyValue) => false,
                    None => self.operator.is_negated(),
                };
        }
        let negated = self.operator.is_negated();
        let matches = |v: &S| {
            self.values
                .iter()
                .any(|pv| base_match(self.operator, pv, v.as_ref(), lookup))
        };
        match self.set {
            None if negated => !present.iter().any(matches),
            None => present.iter().any(matches),
            Some(SetQualifier::ForAnyValue) => present.iter().any(|v| matches(v) != negated),
            Some(SetQualifier::ForAllValues) => present.iter().all(|v| matches(v) != negated),
        }
    }
}

/// Whether request value `v` matches policy value `pv` under the positive
/// form of `op` (for `StringNotLike`, whether it is like).
fn base_match(op: Operator, pv: &Value, v: &str, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
    match (op, pv) {
        (O::StringEquals | O::StringNotEquals, Value::Pattern(p)) => {
            p.resolve_string(lookup).is_some_and(|s| s == v)
        }
        (O::StringEqualsIgnoreCase | O::StringNotEqualsIgnoreCase, Value::Pattern(p)) => p
            .resolve_string(lookup)
            .is_some_and(|s| s.to_lowercase() == v.to_lowercase()),
        (O::StringLike | O::StringNotLike, Value::Pattern(p)) => {
            p.resolve(lookup).is_some_and(|t| glob(&t, v))
        }
        (O::Bool, Value::Pattern(p)) => p
            .resolve_string(lookup)
            .is_some_and(|s| s.eq_ignore_ascii_case(v)),
        (O::ArnEquals | O::ArnLike | O::ArnNotEquals | O::ArnNotLike, Value::Pattern(p)) => {
            p.resolve(lookup).is_some_and(|t| arn_match(&t, v))
        }
        (_, Value::Number(n)) => v.trim().parse::<f64>().is_ok_and(|r| match op {
            O::NumericEquals | O::NumericNotEquals => r == *n,
            O::NumericLessThan => r < *n,
            O::NumericLessThanEquals => r <= *n,
            O::NumericGreaterThan => r > *n,
            _ => r >= *n,
        }),
        (_, Value::Date(d)) => parse_date(v).is_some_and(|r| match op {
            O::DateEquals | O::DateNotEquals => r == *d,
            O::DateLessThan => r < *d,
            O::DateLessThanEquals => r <= *d,
            O::DateGreaterThan => r > *d,
            _ => r >= *d,
        }),
        (_, Value::Bytes(b)) => {
            let request = base64::engine::general_purpose::STANDARD
                .decode(v)
                .unwrap_or_else(|_| v.as_bytes().to_vec());
            request == *b
        }
        (_, Value::Net(net)) => parse_address(v).is_some_and(|ip| net.contains(&ip)),
        _ => false,
    }
}

/// A request's address, an IPv4 address inside IPv6 (`::ffff:a.b.c.d`) taken
/// as the IPv4 address it carries.
fn parse_address(v: &str) -> Option<IpAddr> {
    match v.trim().parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

/// A policy's IP value: a CIDR range, or an address alone (`/32` or `/128`).
pub(crate) fn parse_net(v: &str) -> Option<IpNet> {
    v.parse::<IpNet>()
        .ok()
        .or_else(|| v.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|net| net.trunc())
}

/// An instant written as W3C's ISO 8601 profiles write it (`2024-01-31`,
/// `2024-01-31T10:00Z`, `2024-01-31T10:00:00.5+02:00`, `2024-01`) or as Unix
/// epoch seconds (`1706695200`, `1706695200.5`), as nanoseconds since the
/// epoch. Digits alone are epoch seconds: W3C's year-only form `2024` reads
/// the same, and `aws:EpochTime` values are far more common than years.
pub(crate) fn parse_date(v: &str) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{Date, Month, PrimitiveDateTime, Time};

    let v = v.trim();
    if let Some(nanos) = parse_epoch(v) {
        return Some(nanos);
    }
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let with_offset = v
        .strip_suffix('Z')
        .map_or_else(|| v.to_owned(), |s| format!("{s}+00:00"));
    let minutes = format_description!(
        "[year]-[month]-[day]T[hour]:[minute][offset_hour sign:mandatory]:[offset_minute]"
    );
    if let Ok(t) = OffsetDateTime::parse(&with_offset, minutes) {
        return Some(t.unix_timestamp_nanos());
    }
    let date = if let Ok(d) = Date::parse(v, format_description!("[year]-[month]-[day]")) {
        d
    } else {
        let (y, m) = v.split_once('-')?;
        let month = Month::try_from(m.parse::<u8>().ok().filter(|_| m.len() == 2)?).ok()?;
        Date::from_calendar_date(four_digits(y)?, month, 1).ok()?
    };
    Some(
        PrimitiveDateTime::new(date, Time::MIDNIGHT)
            .assume_utc()
            .unix_timestamp_nanos(),
    )
}

fn four_digits(y: &str) -> Option<i32> {
    (y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit())).then(|| y.parse().ok())?
}

/// Epoch seconds with an optional fraction, as nanoseconds.
fn parse_epoch(v: &str) -> Option<i128> {
    let (negative, digits) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 18 || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    if digits.contains('.') && fraction.is_empty() {
        return None;
    }
    let seconds: i128 = whole.parse().ok()?;
    let mut nanos: i128 = 0;
    for (i, b) in fraction.bytes().take(9).enumerate() {
        nanos += i128::from(b - b'0') * 10i128.pow(8 - i as u32);
    }
    let total = seconds * 1_000_000_000 + nanos;
    Some(if negative { -total } else { total })
}

/// Reads a statement's `Condition` block. `variables`: whether the policy's
/// Version allows policy variables. `named`: the statement's actions when it
/// names them all without wildcards (for the keys that apply to some actions
/// only), else `None`.
pub(crate) fn parse_block(
    block: &Json,
    variables: bool,
    named: Option<&[&S3Action]>,
) -> Result<Vec<Condition>> {
    let Json::Object(operators) = block else {
        return Err(Error::Syntax);
    };
    let mut conditions = Vec::new();
    for (written, keys) in operators {
        let (operator, set, if_exists) =
            parse_operator(written).ok_or_else(|| Error::ConditionType(written.clone()))?;
        let Json::Object(keys) = keys else {
            return Err(Error::Syntax);
        };
        if keys.is_empty() {
            return Err(Error::Syntax);
        }
        let mut seen: Vec<String> = Vec::new();
        for (key, values) in keys {
            let key = key.to_ascii_lowercase();
            if seen.contains(&key) {
                return Err(Error::Syntax);
            }
            if !keys::is_known(&key) {
                return Err(Error::ConditionKey);
            }
            if let Some(actions) = named
                && !keys::applies_to_all(&key, actions)
            {
                return Err(Error::ConditionNotApplicable);
            }
            let raw = scalar_list(values)?;
            let parsed = raw
                .iter()
                .map(|v| parse_value(operator, &key, v, variables && operator.takes_variables()))
                .collect::<Result<Vec<_>>>()?;
            seen.push(key.clone());
            conditions.push(Condition {
                operator,
                set,
                if_exists,
                key,
                values: parsed,
                raw,
            });
        }
    }
    Ok(conditions)
}

/// Splits an operator's name into the operator, its set qualifier and its
/// `IfExists` suffix; `None` for a name that is not an operator (`Null`
/// takes neither suffix nor qualifier).
fn parse_operator(name: &str) -> Option<(Operator, Option<SetQualifier>, bool)> {
    let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (Some(SetQualifier::ForAnyValue), rest)
    } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (Some(SetQualifier::ForAllValues), rest)
    } else {
        (None, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let operator = OPERATORS
        .iter()
        .find(|(n, _)| *n == base)
        .map(|(_, op)| *op)?;
    if operator == O::Null && (if_exists || set.is_some()) {
        return None;
    }
    Some((operator, set, if_exists))
}

/// A key's values: one string, number or boolean, or a non-empty array of
/// them (numbers and booleans as written).
fn scalar_list(values: &Json) -> Result<Vec<String>> {
    let scalar = |v: &Json| match v {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.clone()),
        Json::Bool(b) => Ok(b.to_string()),
        _ => Err(Error::Syntax),
    };
    match values {
        Json::Array(items) if items.is_empty() => Err(Error::Syntax),
        Json::Array(items) => items.iter().map(scalar).collect(),
        single => Ok(vec![scalar(single)?]),
    }
}

/// One value, parsed for `operator`. An `aws:SourceIp` value must be an
/// address or range whatever the operator, as S3 checks.
fn parse_value(operator: Operator, key: &str, v: &str, variables: bool) -> Result<Value> {
    if key == "aws:sourceip" && operator != O::Null && parse_net(v).is_none() {
        return Err(Error::IpAddress);
    }
    Ok(match operator {
        O::StringEquals
        | O::StringNotEquals
        | O::StringEqualsIgnoreCase
        | O::StringNotEqualsIgnoreCase
        | O::Bool => Value::Pattern(Pattern::parse(v, false, variables)),
        O::StringLike
        | O::StringNotLike
        | O::ArnEquals
        | O::ArnLike
        | O::ArnNotEquals
        | O::ArnNotLike => Value::Pattern(Pattern::parse(v, true, variables)),
        O::NumericEquals
        | O::NumericNotEquals
        | O::NumericLessThan
        | O::NumericLessThanEquals
        | O::NumericGreaterThan
        | O::NumericGreaterThanEquals => Value::Number(
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or(Error::Syntax)?,
        ),
        O::DateEquals
        | O::DateNotEquals
        | O::DateLessThan
        | O::DateLessThanEquals
        | O::DateGreaterThan
        | O::DateGreaterThanEquals => Value::Date(parse_date(v).ok_or(Error::Syntax)?),
        O::BinaryEquals => Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| Error::Syntax)?,
        ),
        O::IpAddress | O::NotIpAddress => Value::Net(parse_net(v).ok_or(Error::IpAddress)?),
        O::Null => match v.to_ascii_lowercase().as_str() {
            "true" => Value::Absent(true),
            "false" => Value::Absent(false),
            _ => return Err(Error::Syntax),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_are_case_sensitive_and_null_takes_no_suffix() {
        assert_eq!(
            parse_operator("StringEquals"),
            Some((O::StringEquals, None, false))
        );
        assert_eq!(
            parse_operator("ForAllValues:StringLikeIfExists"),
            Some((O::StringLike, Some(SetQualifier::ForAllValues), true))
        );
        assert_eq!(parse_operator("stringequals"), None);
        assert_eq!(parse_operator("NullIfExists"), None);
        assert_eq!(parse_operator("ForAnyValue:Null"), None);
        assert_eq!(parse_operator("StringEqualsIfExistsIfExists"), None);
    }

    #[test]
    fn every_operator_name_round_trips() {
        for (name, op) in OPERATORS {
            assert_eq!(op.name(), *name);
        }
    }

    #[test]
    fn dates_are_read_in_every_documented_form() {
        let noon = 1_706_702_400i128 * 1_000_000_000; // 2024-01-31T12:00:00Z
        assert_eq!(parse_date("2024-01-31T12:00:00Z"), Some(noon));
        assert_eq!(parse_date("2024-01-31T14:00:00+02:00"), Some(noon));
        assert_eq!(parse_date("2024-01-31T12:00Z"), Some(noon));
        assert_eq!(parse_date("1706702400"), Some(noon));
        assert_eq!(parse_date("1706702400.5"), Some(noon + 500_000_000));
        assert_eq!(
            parse_date("2024-01-31"),
            Some(noon - 12 * 3600 * 1_000_000_000)
        );
        assert_eq!(parse_date("2024-01"), parse_date("2024-01-01"));
        assert_eq!(parse_date("2024"), Some(2024 * 1_000_000_000));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("1."), None);
        assert_eq!(parse_date("-"), None);
    }

    #[test]
    fn an_address_without_a_prefix_is_a_single_host() {
        assert_eq!(parse_net("10.0.0.1"), "10.0.0.1/32".parse().ok());
        assert_eq!(parse_net("2001:db8::1"), "2001:db8::1/128".parse().ok());
        assert_eq!(parse_net("10.0.0.7/24"), "10.0.0.0/24".parse().ok());
        assert_eq!(parse_net("10.0.0.300"), None);
    }

    #[test]
    fn an_ipv4_address_carried_in_ipv6_matches_ipv4_ranges() {
        assert_eq!(parse_address("::ffff:192.0.2.1"), "192.0.2.1".parse().ok());
    }
}
