//! What the S3 handlers share: times and ETags, the owner, key and version
//! checks, the headers stored with an object, listing tokens and key
//! encoding, ranges, `response-*` overrides and the conditional headers.

use super::*;

pub(super) fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

pub(super) fn ts(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub(super) fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

pub(super) fn owner(key: Option<&str>) -> Owner {
    acl::owner(key)
}

pub(super) fn meta_err(e: shale_metadata::MetaError) -> S3Error {
    to_s3_error(Error::Meta(e))
}

pub(super) fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(s3_error!(KeyTooLongError, "Your key is too long"));
    }
    Ok(())
}

/// Content-Encoding as stored: `aws-chunked` is transfer framing, never part
/// of the object (S3 strips it too).
pub(super) fn stored_content_encoding(value: Option<String>) -> Option<String> {
    let v = value?;
    let kept: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join(", "))
    }
}

pub(super) fn fmt_http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

/// The standard headers that round-trip with an object.
pub(super) struct StoredHeaders {
    pub(super) content_type: Option<String>,
    pub(super) system: Vec<(String, String)>,
    pub(super) user: Vec<(String, String)>,
}

/// Most bytes of user metadata an object may have, as in S3: the UTF-8
/// bytes of every key (without `x-amz-meta-`) and value (decoded from
/// RFC 2047 where it was sent so), summed.
pub(super) const MAX_USER_METADATA: usize = 2048;

/// Refuses user metadata over [`MAX_USER_METADATA`], as S3 does.
pub(super) fn check_metadata_size(metadata: Option<&Metadata>) -> S3Result<()> {
    let size: usize = metadata
        .into_iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > MAX_USER_METADATA {
        return Err(s3_error!(
            MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size."
        ));
    }
    Ok(())
}

/// The headers a write stores with the object; its user metadata checked
/// against S3's limit first.
pub(super) fn collect_headers(
    content_type: Option<String>,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    expires: Option<Timestamp>,
    metadata: Option<Metadata>,
) -> S3Result<StoredHeaders> {
    check_metadata_size(metadata.as_ref())?;
    let mut system = Vec::new();
    let mut push = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            system.push((name.to_owned(), v));
        }
    };
    push("cache-control", cache_control);
    push("content-disposition", content_disposition);
    push(
        "content-encoding",
        stored_content_encoding(content_encoding),
    );
    push("content-language", content_language);
    push("expires", expires.as_ref().and_then(fmt_http_date));
    let mut user: Vec<(String, String)> = metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    user.sort();
    Ok(StoredHeaders {
        content_type,
        system,
        user,
    })
}

pub(super) fn header<'a>(row_headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    row_headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An object's user metadata as GET and HEAD answer it: each value as S3
/// sends it ([`mail_safe`]). `s3s` decodes RFC 2047 values on the way in
/// (and takes raw UTF-8 as it is), so a row holds plain text.
pub(super) fn user_metadata(row: &[(String, String)]) -> Option<Metadata> {
    if row.is_empty() {
        return None;
    }
    Some(row.iter().map(|(k, v)| (k.clone(), mail_safe(v))).collect())
}

pub(super) use shale_common::mail_safe;

pub(super) fn parse_expires(v: Option<&str>) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, v?).ok()
}

pub(super) fn strip_quotes(s: &str) -> String {
    s.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_owned()
}

/// Turns an error from the client's body stream into the S3 error it means.
pub(super) fn body_error(e: s3s::StdError) -> Error {
    // A browser upload's file stream fails with the S3 error to answer
    // (its size limits: `post::FileBody`).
    let e = match e.downcast::<S3Error>() {
        Ok(e) => return Error::Body(*e),
        Err(e) => e,
    };
    let text = e.to_string();
    if text.contains("SignatureMismatch") {
        Error::Body(s3_error!(
            SignatureDoesNotMatch,
            "The chunk signature does not match"
        ))
    } else if text.contains("Sha256Mismatch") {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        e.set_status_code(http::StatusCode::BAD_REQUEST);
        Error::Body(e)
    } else if text.contains("LengthMismatch") || text.contains("Incomplete") {
        Error::Data(shale_datapath::Error::IncompleteBody(format!(
            "the request body is incomplete: {text}"
        )))
    } else {
        Error::Body(S3Error::with_message(
            S3ErrorCode::IncompleteBody,
            format!("could not read the request body: {text}"),
        ))
    }
}

/// Buckets are unversioned: the only version an object has is `null`, as
/// S3 calls it in an unversioned bucket.
pub(super) fn check_version(version_id: Option<&str>) -> S3Result<VersionRef> {
    VersionRef::parse(version_id).map_err(meta_err)
}

/// The body length a PutObject or UploadPart announces. One over S3's
/// limit (5 GiB) is refused from the header, before any byte of the body
/// is read: a client that sent `Expect: 100-continue` gets the error
/// instead of the 100 and never sends the body (hyper sends the 100 only
/// when the body is first read).
pub(super) fn content_length(v: Option<i64>) -> S3Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "negative Content-Length")),
        Some(n) if n as u64 > shale_datapath::datapath::MAX_PUT_SIZE => {
            Err(to_s3_error(Error::EntityTooLarge {
                proposed: Some(n as u64),
            }))
        }
        Some(n) => Ok(Some(n as u64)),
    }
}

pub(super) fn page_size(v: Option<i32>) -> S3Result<u32> {
    match v {
        None => Ok(MAX_PAGE as u32),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "max-keys must be a non-negative integer"
        )),
        Some(n) => Ok(n.min(MAX_PAGE) as u32),
    }
}

pub(super) fn token_encode(marker: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(marker.as_bytes())
}

pub(super) fn token_decode(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

/// A key, prefix, delimiter or marker as a listing with `encoding-type=url`
/// answers it: S3 form-encodes them (a space is `+`) but leaves `/`, so
/// that prefixes still read as paths; SDKs decode with `unquote_plus`.
pub(super) fn encode_key(s: String, url: bool) -> String {
    if !url {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub(super) fn is_url_encoding(e: &Option<EncodingType>) -> bool {
    e.as_ref()
        .is_some_and(|e| e.as_str().eq_ignore_ascii_case(EncodingType::URL))
}

/// The bytes `[start, end)` a Range header asks of an object of `size`
/// bytes, and the Content-Range to answer with (None: no Range, whole object).
pub(super) fn resolve_range(
    range: Option<&Range>,
    size: u64,
) -> S3Result<(u64, u64, Option<String>)> {
    match range {
        None => Ok((0, size, None)),
        Some(r) => {
            let range = r
                .check(size)
                .map_err(|_| s3_error!(InvalidRange, "The requested range is not satisfiable"))?;
            let header = format!(
                "bytes {}-{}/{}",
                range.start,
                range.end.saturating_sub(1),
                size
            );
            Ok((range.start, range.end, Some(header)))
        }
    }
}

/// The `response-*` query parameters of GET and HEAD.
pub(super) struct ResponseOverrides {
    pub(super) cache_control: Option<String>,
    pub(super) content_disposition: Option<String>,
    pub(super) content_encoding: Option<String>,
    pub(super) content_language: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) expires: Option<Timestamp>,
}

/// Replaces the stored headers the request overrides. S3 honours these only
/// on signed requests; Shale has no anonymous access yet, so every request
/// that gets this far is signed.
pub(super) fn apply_overrides(out: &mut GetObjectOutput, o: ResponseOverrides) {
    fn set<T>(field: &mut Option<T>, v: Option<T>) {
        if v.is_some() {
            *field = v;
        }
    }
    set(&mut out.cache_control, o.cache_control);
    set(&mut out.content_disposition, o.content_disposition);
    set(&mut out.content_encoding, o.content_encoding);
    set(&mut out.content_language, o.content_language);
    set(&mut out.content_type, o.content_type);
    set(&mut out.expires, o.expires);
}

/// If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since, with
/// the precedence of RFC 9110 section 13.2.2 (as S3 applies it).
pub(super) fn check_conditions(
    row: &ObjectRow,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => strip_quotes(e.value()) == row.etag,
    };
    let modified = time::OffsetDateTime::from_unix_timestamp(row.last_modified_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let to_dt = |t: &Timestamp| time::OffsetDateTime::from(t.clone());
    if let Some(c) = if_match {
        if !matches(c) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    } else if let Some(t) = if_unmodified_since
        && modified > to_dt(t)
    {
        return Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ));
    }
    if let Some(c) = if_none_match {
        if matches(c) {
            return Err(not_modified());
        }
    } else if let Some(t) = if_modified_since
        && modified <= to_dt(t)
    {
        return Err(not_modified());
    }
    Ok(())
}

pub(super) fn not_modified() -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::Custom("NotModified".into()));
    e.set_status_code(http::StatusCode::NOT_MODIFIED);
    e
}

/// One part of an object read with `partNumber`: its position among the
/// object's parts, and the object's parts count (None: not multipart).
pub(super) struct PartRead {
    pub(super) index: usize,
    pub(super) count: Option<u32>,
}
