//! The JSON a policy document is written in, read into a tree that keeps
//! members in the order written and refuses a name given twice in one
//! object ("Individual elements must not contain multiple instances of the
//! same key", IAM's grammar). `serde_json::Value` would silently keep the
//! last of two `Effect`s; another reader of the same bytes might keep the
//! first, so a document with duplicates is refused rather than guessed at.
//!
//! serde_json does the lexing (its recursion limit of 128 bounds the depth),
//! this module only builds the tree and measures its normalized size.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Result};

/// One JSON value, members in document order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// A number as JSON text (`10`, `-3`, `1.5`), the form condition values
    /// compare in.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The name of this value's JSON type, for error paths in tests.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// The length in bytes of this value written without any white space,
    /// strings escaped as serde_json escapes them: the "normalized" size S3
    /// holds to 20 KB.
    pub(crate) fn compact_len(&self) -> usize {
        match self {
            Json::Null => 4,
            Json::Bool(true) => 4,
            Json::Bool(false) => 5,
            Json::Number(n) => n.len(),
            Json::String(s) => escaped_len(s),
            Json::Array(items) => {
                2 + items.iter().map(Json::compact_len).sum::<usize>()
                    + items.len().saturating_sub(1)
            }
            Json::Object(members) => {
                2 + members
                    .iter()
                    .map(|(k, v)| escaped_len(k) + 1 + v.compact_len())
                    .sum::<usize>()
                    + members.len().saturating_sub(1)
            }
        }
    }
}

/// The length of `s` as a JSON string literal, quotes included.
fn escaped_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// Reads `bytes` as one JSON value: [`Error::InvalidJson`] for anything that
/// is not well-formed JSON, [`Error::Syntax`] for a name repeated in an object.
pub(crate) fn parse(bytes: &[u8]) -> Result<Json> {
    serde_json::from_slice::<Json>(bytes).map_err(|e| {
        // The visitor accepts every JSON type, so the only data error is the
        // duplicate name it raises itself; the rest are lexical.
        if e.is_data() {
            Error::Syntax
        } else {
            Error::InvalidJson
        }
    })
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> std::result::Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> std::result::Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Json, A::Error> {
        let mut members = Vec::new();
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(de::Error::custom("a name is given twice in one object"));
            }
            let value = map.next_value::<Json>()?;
            members.push((name, value));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_the_order_they_were_written_in() {
        let json = parse(br#"{"b": 1, "a": [true, null, "x"]}"#).expect("valid");
        let Json::Object(members) = json else {
            panic!("not an object")
        };
        assert_eq!(members[0].0, "b");
        assert_eq!(members[1].0, "a");
        assert_eq!(members[1].1.kind(), "array");
    }

    #[test]
    fn a_name_given_twice_is_a_syntax_error() {
        assert_eq!(
            parse(br#"{"Effect": "Deny", "Effect": "Allow"}"#),
            Err(Error::Syntax)
        );
    }

    #[test]
    fn broken_json_is_invalid_json() {
        assert_eq!(parse(br#"{"a": }"#), Err(Error::InvalidJson));
        assert_eq!(parse(br#"{"a": 1} x"#), Err(Error::InvalidJson));
        assert_eq!(parse(b"{\"a\": \"\xff\"}"), Err(Error::InvalidJson));
    }

    #[test]
    fn compact_length_is_the_length_serde_json_writes() {
        let text =
            br#"{ "a" : [ 1 , -2.5 , "q\"\n\u0001/" ] , "b" : { "c" : false , "d" : null } }"#;
        let ours = parse(text).expect("valid").compact_len();
        let value: serde_json::Value = serde_json::from_slice(text).expect("valid");
        assert_eq!(ours, serde_json::to_string(&value).expect("writes").len());
    }
}
