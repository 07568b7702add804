//! Object and bucket tags as S3 accepts them: the `x-amz-tagging` header
//! (PutObject, CreateMultipartUpload, CopyObject with `REPLACE`), the
//! `Tagging` document of Put{Object,Bucket}Tagging, and S3's rules for both.
//!
//! The rules, and the error each broken rule gets, follow what Amazon S3
//! answers (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectTagging.html>):
//! - at most 10 tags on an object (`BadRequest`, not `InvalidTag`: that is
//!   what S3 answers) and 50 on a bucket (`InvalidTag`);
//! - a key of 1 to 128 Unicode characters, a value of 0 to 256, made of
//!   letters, digits, white space and `+ - = . _ : / @` (`InvalidTag`);
//! - no key twice (`InvalidTag`), no key starting with `aws:` (reserved for
//!   system tags; `InvalidTag`);
//! - a header that is not UTF-8 URL query parameters, or that repeats a key,
//!   is `InvalidArgument`, as S3 answers for it.
//!
//! Tags are kept as `(key, value)` pairs in the order given, the way the
//! metadata rows store them.

use s3s::dto::{Tag, TagSet};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

/// Most tags on one object.
pub const MAX_OBJECT_TAGS: usize = 10;
/// Most tags on one bucket.
pub const MAX_BUCKET_TAGS: usize = 50;
/// Longest tag key, in Unicode characters.
pub const MAX_KEY_CHARS: usize = 128;
/// Longest tag value, in Unicode characters.
pub const MAX_VALUE_CHARS: usize = 256;

/// Tags as stored: `(key, value)` in the order given.
pub type Tags = Vec<(String, String)>;

/// What the tags are attached to; the limits and messages differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An object (at most 10 tags).
    Object,
    /// A bucket (at most 50 tags).
    Bucket,
}

/// The characters S3 allows in tag keys and values, besides letters, digits
/// and white space.
const PUNCTUATION: &str = "+-=._:/@";

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || PUNCTUATION.contains(c)
}

fn invalid_tag(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, message.to_owned())
}

/// Checks a whole tag set against S3's rules for `target`.
pub fn check(tags: &[(String, String)], target: Target) -> S3Result<()> {
    match target {
        Target::Object if tags.len() > MAX_OBJECT_TAGS => {
            // S3's own code and message for this one case.
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("BadRequest".into()),
                "Object tags cannot be greater than 10",
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            return Err(e);
        }
        Target::Bucket if tags.len() > MAX_BUCKET_TAGS => {
            return Err(invalid_tag("Bucket tag count cannot be greater than 50"));
        }
        _ => {}
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > MAX_KEY_CHARS || !key.chars().all(allowed) {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if value.chars().count() > MAX_VALUE_CHARS || !value.chars().all(allowed) {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(invalid_tag(match target {
                Target::Object => "System tags cannot be added/updated by requester",
                Target::Bucket => "Your TagKey cannot be prefixed with aws:",
            }));
        }
        if tags[..i].iter().any(|(k, _)| k == key) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(())
}

/// The tags of a `Tagging` document, checked. A tag without its `Key` or
/// `Value` element does not match S3's schema: `MalformedXML`.
pub fn from_tag_set(set: TagSet, target: Target) -> S3Result<Tags> {
    let tags = set
        .into_iter()
        .map(|t| match (t.key, t.value) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )),
        })
        .collect::<S3Result<Tags>>()?;
    check(&tags, target)?;
    Ok(tags)
}

/// The `TagSet` of stored tags, in their order.
pub fn to_tag_set(tags: &[(String, String)]) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

fn invalid_header() -> S3Error {
    s3_error!(
        InvalidArgument,
        "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."
    )
}

/// One query-string component: `+` is a space, `%XX` a byte; the bytes must
/// be UTF-8.
fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next()?;
                let lo = bytes.next()?;
                let hex = [hi, lo];
                let hex = std::str::from_utf8(&hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// The tags of an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded),
/// checked as object tags. No header, or an empty one, is no tags; a key
/// without `=` has an empty value.
pub fn parse_header(header: Option<&str>) -> S3Result<Tags> {
    let Some(header) = header else {
        return Ok(Tags::new());
    };
    let mut tags = Tags::new();
    for pair in header.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (unescape(k), unescape(v)) else {
            return Err(invalid_header());
        };
        if k.is_empty() || tags.iter().any(|(seen, _)| *seen == k) {
            return Err(invalid_header());
        }
        tags.push((k, v));
    }
    check(&tags, Target::Object)?;
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Tags {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn code(r: S3Result<Tags>) -> String {
        r.err()
            .map(|e| e.code().as_str().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn headers_decode_like_query_strings() {
        assert_eq!(parse_header(None).ok(), Some(Tags::new()));
        assert_eq!(parse_header(Some("")).ok(), Some(Tags::new()));
        assert_eq!(
            parse_header(Some("a=1&b=2")).ok(),
            Some(pairs(&[("a", "1"), ("b", "2")]))
        );
        assert_eq!(
            parse_header(Some("a&b=")).ok(),
            Some(pairs(&[("a", ""), ("b", "")]))
        );
        assert_eq!(
            parse_header(Some("a%20b=c%2Bd&e+f=g=h")).ok(),
            Some(pairs(&[("a b", "c+d"), ("e f", "g=h")]))
        );
        assert_eq!(
            parse_header(Some("%C3%BC=%E6%96%87")).ok(),
            Some(pairs(&[("ü", "文")]))
        );
    }

    #[test]
    fn bad_headers_are_invalid_argument() {
        for h in ["a=1&a=2", "=1", "a=%FF", "a=%4", "a=%zz"] {
            assert_eq!(code(parse_header(Some(h))), "InvalidArgument", "{h}");
        }
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=")).collect();
        assert_eq!(code(parse_header(Some(&eleven.join("&")))), "BadRequest");
        assert_eq!(code(parse_header(Some("a,b=1"))), "InvalidTag");
        assert_eq!(code(parse_header(Some("aws:cost=1"))), "InvalidTag");
    }

    #[test]
    fn limits_and_characters() {
        let ok = |t: &[(&str, &str)], target| check(&pairs(t), target).is_ok();
        let k128 = "𝒜".repeat(128);
        let v256 = "文".repeat(256);
        assert!(ok(&[(&k128, &v256)], Target::Object));
        assert!(ok(
            &[("b c+d-e=f.g_h:i/j@k", "2 + 2 = 4"), ("e", "")],
            Target::Object
        ));
        assert!(!ok(&[(&"a".repeat(129), "")], Target::Object));
        assert!(!ok(&[("k", &"a".repeat(257))], Target::Object));
        assert!(!ok(&[("", "v")], Target::Object));
        for bad in ["a,b", "a;b", "a?b", "a*b", "a#b", "a%b", "a\tb", "😀"] {
            assert!(!ok(&[(bad, "v")], Target::Object), "{bad}");
            assert!(!ok(&[("k", bad)], Target::Bucket), "{bad}");
        }
        assert!(!ok(&[("AWS:x", "v")], Target::Bucket));
        assert!(!ok(&[("a", "1"), ("a", "2")], Target::Bucket));
        let fifty: Tags = (0..50).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check(&fifty, Target::Bucket).is_ok());
        assert!(check(&fifty[..10], Target::Object).is_ok());
        assert!(check(&fifty[..11], Target::Object).is_err());
        let mut fifty_one = fifty;
        fifty_one.push(("x".into(), String::new()));
        assert_eq!(
            check(&fifty_one, Target::Bucket).map_err(|e| e.code().clone()),
            Err(S3ErrorCode::InvalidTag)
        );
    }

    #[test]
    fn documents_need_key_and_value() {
        let set = vec![Tag {
            key: Some("a".into()),
            value: None,
        }];
        assert_eq!(
            from_tag_set(set, Target::Object).map_err(|e| e.code().clone()),
            Err(S3ErrorCode::MalformedXML)
        );
        let tags = pairs(&[("b", "2"), ("a", "")]);
        assert_eq!(
            from_tag_set(to_tag_set(&tags), Target::Object).ok(),
            Some(tags)
        );
    }
}
