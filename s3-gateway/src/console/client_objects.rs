//! The console's S3 calls on objects: listing, reading (with Object Lock
//! state), uploading (whole or in parts), copying, tagging, deleting and
//! presigning. Each is the S3 request a client would send, signed and
//! dispatched as in [`super::client`].

use bytes::Bytes;
use shale_common::sigv4;
use time::OffsetDateTime;

use super::client::{
    Answer, S3_XMLNS, S3Dispatch, S3Failure, Signer, Unsigned, bucket_path, call, failure_of, send,
    send_with, signed_request, xml_field,
};

/// Objects a page of the browser shows at most (ListObjectsV2 `max-keys`).
pub const PAGE_SIZE: u32 = 100;
/// ListObjectVersions pages read at most for one key's versions.
const MAX_VERSION_PAGES: usize = 10;
/// Longest validity of a presigned link: S3's limit, seven days.
pub const MAX_LINK_SECS: u64 = 7 * 24 * 3600;

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRow {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, as S3 wrote it (ISO 8601).
    pub last_modified: String,
}

/// One page of a ListObjectsV2 with delimiter `/`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The "folders": common prefixes, each ending in `/`.
    pub prefixes: Vec<String>,
    /// The objects directly under the prefix.
    pub objects: Vec<ObjectRow>,
    /// The token of the next page, when there is one.
    pub next_token: Option<String>,
}

/// One version of a key (ListObjectVersions), or a delete marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRow {
    /// Its key.
    pub key: String,
    /// Its version id (`null` for one written before versioning).
    pub version_id: String,
    /// True for the current version.
    pub is_latest: bool,
    /// True for a delete marker.
    pub delete_marker: bool,
    /// Its size (0 for a delete marker).
    pub size: u64,
    /// When it was written (ISO 8601).
    pub last_modified: String,
}

/// What HeadObject says of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectHead {
    /// `Content-Type`.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// The ETag, quoted as S3 sends it.
    pub etag: String,
    /// `Last-Modified`.
    pub last_modified: String,
    /// `x-amz-version-id`, if any.
    pub version_id: String,
    /// The user metadata (`x-amz-meta-*`), names without the prefix, sorted.
    pub metadata: Vec<(String, String)>,
}

/// The path of `key` in `bucket`.
pub fn object_path(bucket: &str, key: &str) -> Result<String, S3Failure> {
    Ok(format!("{}/{key}", bucket_path(bucket)?))
}

/// The text of each `<tag>…</tag>` block of `xml`, in order.
fn blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

/// A ListObjectsV2 answer.
pub fn parse_listing(xml: &str) -> Listing {
    let truncated = xml_field(xml, "IsTruncated").as_deref() == Some("true");
    Listing {
        prefixes: blocks(xml, "CommonPrefixes")
            .into_iter()
            .filter_map(|b| xml_field(b, "Prefix"))
            .collect(),
        objects: blocks(xml, "Contents")
            .into_iter()
            .filter_map(|b| {
                Some(ObjectRow {
                    key: xml_field(b, "Key")?,
                    size: xml_field(b, "Size")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    last_modified: xml_field(b, "LastModified").unwrap_or_default(),
                })
            })
            .collect(),
        next_token: xml_field(xml, "NextContinuationToken").filter(|t| truncated && !t.is_empty()),
    }
}

/// The versions and delete markers of a ListObjectVersions answer, by key
/// and newest first, and the markers of the next page if it was truncated.
///
/// S3 interleaves `<Version>` and `<DeleteMarker>` newest first; `s3s`
/// writes all of one kind and then all of the other, each newest first.
/// So the two are merged here: the current one first, then by date, each
/// kind keeping its own order among equal dates.
pub fn parse_versions(xml: &str) -> (Vec<VersionRow>, Option<(String, String)>) {
    let mut rows = Vec::new();
    let mut rest = xml;
    loop {
        let version = rest.find("<Version>");
        let marker = rest.find("<DeleteMarker>");
        let (start, tag) = match (version, marker) {
            (Some(v), Some(m)) if m < v => (m, "DeleteMarker"),
            (Some(v), _) => (v, "Version"),
            (None, Some(m)) => (m, "DeleteMarker"),
            (None, None) => break,
        };
        let after = &rest[start + tag.len() + 2..];
        let close = format!("</{tag}>");
        let Some(end) = after.find(&close) else {
            break;
        };
        let b = &after[..end];
        if let Some(key) = xml_field(b, "Key") {
            rows.push(VersionRow {
                key,
                version_id: xml_field(b, "VersionId").unwrap_or_default(),
                is_latest: xml_field(b, "IsLatest").as_deref() == Some("true"),
                delete_marker: tag == "DeleteMarker",
                size: xml_field(b, "Size")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                last_modified: xml_field(b, "LastModified").unwrap_or_default(),
            });
        }
        rest = &after[end + close.len()..];
    }
    rows.sort_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then(b.is_latest.cmp(&a.is_latest))
            .then(b.last_modified.cmp(&a.last_modified))
    });
    let truncated = xml_field(xml, "IsTruncated").as_deref() == Some("true");
    let next = truncated.then(|| {
        (
            xml_field(xml, "NextKeyMarker").unwrap_or_default(),
            xml_field(xml, "NextVersionIdMarker").unwrap_or_default(),
        )
    });
    (rows, next)
}

/// The tags of a GetObjectTagging answer, in its order.
pub fn parse_tags(xml: &str) -> Vec<(String, String)> {
    blocks(xml, "Tag")
        .into_iter()
        .filter_map(|b| {
            Some((
                xml_field(b, "Key")?,
                xml_field(b, "Value").unwrap_or_default(),
            ))
        })
        .collect()
}

/// Tags written one per line as `name=value` (blank lines skipped).
pub fn parse_tag_lines(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut tags = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("\u{201c}{line}\u{201d} is not name=value"));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("\u{201c}{line}\u{201d} has no name"));
        }
        tags.push((k.to_owned(), v.trim().to_owned()));
    }
    Ok(tags)
}

/// A signed GET of `path?query` with no body.
fn get(
    signer: &Signer<'_>,
    path: &str,
    query: &[(&str, &str)],
) -> Result<http::Request<s3s::Body>, String> {
    signed_request(
        signer,
        http::Method::GET,
        path,
        query,
        Bytes::new(),
        OffsetDateTime::now_utc(),
    )
}

/// ListObjectsV2 of `bucket` under `prefix` with delimiter `/`, one page
/// of [`PAGE_SIZE`] from `token`.
pub async fn list_objects<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    prefix: &str,
    token: Option<&str>,
) -> Result<Listing, S3Failure> {
    let max = PAGE_SIZE.to_string();
    let mut query = vec![
        ("delimiter", "/"),
        ("list-type", "2"),
        ("max-keys", max.as_str()),
        ("prefix", prefix),
    ];
    if let Some(t) = token {
        query.push(("continuation-token", t));
    }
    let answer = call(s3, get(signer, &bucket_path(bucket)?, &query)).await?;
    Ok(parse_listing(&String::from_utf8_lossy(&answer.body)))
}

/// The versions and delete markers of exactly `key` (ListObjectVersions
/// with `prefix=key`, other keys left out), newest first; true when there
/// were more than the console reads.
pub async fn list_versions<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
) -> Result<(Vec<VersionRow>, bool), S3Failure> {
    let path = bucket_path(bucket)?;
    let mut rows: Vec<VersionRow> = Vec::new();
    let mut marker: Option<(String, String)> = None;
    for _ in 0..MAX_VERSION_PAGES {
        let mut query = vec![("prefix", key), ("versions", "")];
        if let Some((k, v)) = &marker {
            query.push(("key-marker", k.as_str()));
            query.push(("version-id-marker", v.as_str()));
        }
        let answer = call(s3, get(signer, &path, &query)).await?;
        let (page, next) = parse_versions(&String::from_utf8_lossy(&answer.body));
        // The exact key sorts before every longer key with it as prefix:
        // a page that reaches another key holds all of this key's versions.
        let other = page.iter().any(|r| r.key != key);
        rows.extend(page.into_iter().filter(|r| r.key == key));
        match next {
            Some(n) if !other && !n.0.is_empty() => marker = Some(n),
            _ => return Ok((rows, false)),
        }
    }
    Ok((rows, true))
}

/// HeadObject of `key` (of version `version` when given).
pub async fn head_object<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
) -> Result<ObjectHead, S3Failure> {
    let answer = send(
        s3,
        signer,
        http::Method::HEAD,
        &object_path(bucket, key)?,
        &[],
        Bytes::new(),
    )
    .await?;
    Ok(head_of(&answer.headers))
}

fn head_of(h: &http::HeaderMap) -> ObjectHead {
    let text = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut metadata: Vec<(String, String)> = h
        .iter()
        .filter_map(|(name, value)| {
            let n = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((
                n.to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ))
        })
        .collect();
    metadata.sort();
    ObjectHead {
        content_type: text("content-type"),
        size: text("content-length").parse().unwrap_or(0),
        etag: text("etag"),
        last_modified: text("last-modified"),
        version_id: text("x-amz-version-id"),
        metadata,
    }
}

/// GetObject of `key` (version `version` when given), its answer passed on
/// as it is, body streaming; an S3 error is read and returned.
pub async fn get_object<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<http::Response<s3s::Body>, S3Failure> {
    let query: Vec<(&str, &str)> = version.map(|v| ("versionId", v)).into_iter().collect();
    let req = get(signer, &object_path(bucket, key)?, &query).map_err(|message| S3Failure {
        status: 400,
        code: "InvalidRequest".into(),
        message,
    })?;
    let resp = s3.dispatch(req).await;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let (parts, mut body) = resp.into_parts();
    let body = body
        .store_all_limited(64 << 10)
        .await
        .unwrap_or_else(|_| Bytes::new());
    Err(failure_of(&Answer {
        status,
        headers: parts.headers,
        body,
    }))
}

/// A body from the browser passed on to S3 as it arrives: its bytes, their
/// count, and the content type to store (PutObject only).
pub struct Upload<'a> {
    /// The bytes, streamed.
    pub body: s3s::Body,
    /// Their count (`Content-Length`).
    pub length: u64,
    /// The object's `Content-Type`, empty for S3's default.
    pub content_type: &'a str,
}

/// PutObject of `key` with `upload`'s bytes, unsigned payload (the
/// request itself is signed); the new object's ETag.
pub async fn put_object<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
    upload: Upload<'_>,
) -> Result<String, S3Failure> {
    let headers: Vec<(&str, &str)> = if upload.content_type.is_empty() {
        vec![]
    } else {
        vec![("content-type", upload.content_type)]
    };
    let answer = send_with(
        s3,
        signer,
        Unsigned {
            method: http::Method::PUT,
            path: &object_path(bucket, key)?,
            query: &[],
            headers: &headers,
        },
        (upload.body, upload.length, "UNSIGNED-PAYLOAD"),
    )
    .await?;
    Ok(header_text(&answer.headers, "etag"))
}

fn header_text(h: &http::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// CreateMultipartUpload of `key`; the upload id.
pub async fn create_upload<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
    content_type: &str,
) -> Result<String, S3Failure> {
    let headers: Vec<(&str, &str)> = if content_type.is_empty() {
        vec![]
    } else {
        vec![("content-type", content_type)]
    };
    let answer = send_with(
        s3,
        signer,
        Unsigned {
            method: http::Method::POST,
            path: &object_path(bucket, key)?,
            query: &[("uploads", "")],
            headers: &headers,
        },
        (s3s::Body::empty(), 0, sigv4::EMPTY_SHA256),
    )
    .await?;
    xml_field(&String::from_utf8_lossy(&answer.body), "UploadId").ok_or_else(|| S3Failure {
        status: 500,
        code: "InternalError".into(),
        message: "CreateMultipartUpload answered no UploadId".into(),
    })
}

/// UploadPart `number` of upload `upload_id`; the part's ETag.
pub async fn upload_part<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    (bucket, key): (&str, &str),
    (upload_id, number): (&str, u32),
    upload: Upload<'_>,
) -> Result<String, S3Failure> {
    let number = number.to_string();
    let answer = send_with(
        s3,
        signer,
        Unsigned {
            method: http::Method::PUT,
            path: &object_path(bucket, key)?,
            query: &[("partNumber", &number), ("uploadId", upload_id)],
            headers: &[],
        },
        (upload.body, upload.length, "UNSIGNED-PAYLOAD"),
    )
    .await?;
    Ok(header_text(&answer.headers, "etag"))
}

/// The CompleteMultipartUpload body naming parts 1.. with `etags`.
pub fn complete_body(etags: &[String]) -> String {
    let mut body = format!("<CompleteMultipartUpload xmlns=\"{S3_XMLNS}\">");
    for (i, etag) in etags.iter().enumerate() {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            i + 1,
            quick_xml::escape::escape(etag.as_str())
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

/// CompleteMultipartUpload of `upload_id` with parts 1.. whose ETags are
/// `etags`; the object's ETag.
pub async fn complete_upload<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    (bucket, key): (&str, &str),
    upload_id: &str,
    etags: &[String],
) -> Result<String, S3Failure> {
    let answer = send(
        s3,
        signer,
        http::Method::POST,
        &object_path(bucket, key)?,
        &[("uploadId", upload_id)],
        Bytes::from(complete_body(etags)),
    )
    .await?;
    let text = String::from_utf8_lossy(&answer.body);
    // S3 may answer 200 and an error in the body once it has begun.
    if text.contains("<Error>") {
        return Err(failure_of(&Answer {
            status: 500,
            headers: answer.headers.clone(),
            body: answer.body.clone(),
        }));
    }
    Ok(xml_field(&text, "ETag").unwrap_or_default())
}

/// AbortMultipartUpload of `upload_id`.
pub async fn abort_upload<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    (bucket, key): (&str, &str),
    upload_id: &str,
) -> Result<(), S3Failure> {
    send(
        s3,
        signer,
        http::Method::DELETE,
        &object_path(bucket, key)?,
        &[("uploadId", upload_id)],
        Bytes::new(),
    )
    .await
    .map(|_| ())
}

/// DeleteObject of `key`, or of its version `version` when given.
pub async fn delete_object<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), S3Failure> {
    let query: Vec<(&str, &str)> = version.map(|v| ("versionId", v)).into_iter().collect();
    send(
        s3,
        signer,
        http::Method::DELETE,
        &object_path(bucket, key)?,
        &query,
        Bytes::new(),
    )
    .await
    .map(|_| ())
}

/// The `x-amz-copy-source` of version `version` of `key` in `bucket`.
pub fn copy_source(bucket: &str, key: &str, version: &str) -> String {
    format!(
        "/{bucket}/{}?versionId={}",
        sigv4::uri_encode(key, true),
        sigv4::uri_encode(version, false)
    )
}

/// CopyObject of version `version` of `key` over `key`: that version's
/// bytes and metadata become the current version again.
pub async fn restore_version<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
    version: &str,
) -> Result<(), S3Failure> {
    let source = copy_source(bucket, key, version);
    let answer = send_with(
        s3,
        signer,
        Unsigned {
            method: http::Method::PUT,
            path: &object_path(bucket, key)?,
            query: &[],
            headers: &[("x-amz-copy-source", source.as_str())],
        },
        (s3s::Body::empty(), 0, sigv4::EMPTY_SHA256),
    )
    .await?;
    if String::from_utf8_lossy(&answer.body).contains("<Error>") {
        return Err(failure_of(&Answer {
            status: 500,
            headers: answer.headers.clone(),
            body: answer.body.clone(),
        }));
    }
    Ok(())
}

/// GetObjectTagging of `key`.
pub async fn get_tags<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
) -> Result<Vec<(String, String)>, S3Failure> {
    let answer = call(
        s3,
        get(signer, &object_path(bucket, key)?, &[("tagging", "")]),
    )
    .await?;
    Ok(parse_tags(&String::from_utf8_lossy(&answer.body)))
}

/// The Object Lock state of an object's current version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockState {
    /// Its retention's mode (`GOVERNANCE` or `COMPLIANCE`); empty when
    /// it has no retention.
    pub mode: String,
    /// The date its retention holds until (ISO 8601), as S3 wrote it.
    pub retain_until: String,
    /// Its legal hold: `ON`, `OFF`, or empty when never set.
    pub legal_hold: String,
}

/// The Object Lock state of `key` (GetObjectRetention and
/// GetObjectLegalHold), or `None` when its bucket has no Object Lock (S3
/// answers both `400 InvalidRequest` then).
pub async fn lock_state<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
) -> Result<Option<LockState>, S3Failure> {
    // What S3 answers for a retention or a legal hold never set.
    const NOT_SET: &str = "NoSuchObjectLockConfiguration";
    let path = object_path(bucket, key)?;
    let mut state = LockState::default();
    match call(s3, get(signer, &path, &[("retention", "")])).await {
        Ok(answer) => {
            let xml = String::from_utf8_lossy(&answer.body);
            state.mode = xml_field(&xml, "Mode").unwrap_or_default();
            state.retain_until = xml_field(&xml, "RetainUntilDate").unwrap_or_default();
        }
        Err(f) if f.status == 400 && f.code == "InvalidRequest" => return Ok(None),
        Err(f) if f.code == NOT_SET => {}
        Err(f) => return Err(f),
    }
    match call(s3, get(signer, &path, &[("legal-hold", "")])).await {
        Ok(answer) => {
            let xml = String::from_utf8_lossy(&answer.body);
            state.legal_hold = xml_field(&xml, "Status").unwrap_or_default();
        }
        Err(f) if f.code == NOT_SET => {}
        Err(f) => return Err(f),
    }
    Ok(Some(state))
}

/// PutObjectTagging of `key`: its tags become `tags`.
pub async fn put_tags<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    key: &str,
    tags: &[(String, String)],
) -> Result<(), S3Failure> {
    let mut body = format!("<Tagging xmlns=\"{S3_XMLNS}\"><TagSet>");
    for (k, v) in tags {
        body.push_str(&format!(
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            quick_xml::escape::escape(k.as_str()),
            quick_xml::escape::escape(v.as_str())
        ));
    }
    body.push_str("</TagSet></Tagging>");
    send(
        s3,
        signer,
        http::Method::PUT,
        &object_path(bucket, key)?,
        &[("tagging", "")],
        Bytes::from(body),
    )
    .await
    .map(|_| ())
}

/// The query string of a presigned URL (SigV4 query authentication; not
/// in `common::sigv4`, which signs headers only) for
/// `method path` on `host`, valid `expires` seconds from `amz_date`: the
/// `X-Amz-*` parameters with the signature last. Only `host` is signed and
/// the payload is `UNSIGNED-PAYLOAD`, as for any presigned GET.
///
/// Reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>
pub fn presigned_query(
    access_key: &str,
    key: &sigv4::SigningKey,
    amz_date: &str,
    expires: u64,
    method: &str,
    path: &str,
    host: &str,
) -> String {
    let credential = format!("{access_key}/{}", key.scope);
    let expires = expires.to_string();
    let mut query = vec![
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", expires.as_str()),
        ("X-Amz-SignedHeaders", "host"),
    ];
    let (canonical, _) = sigv4::canonical_request(&sigv4::Request {
        method,
        path,
        query: &query,
        headers: &[("host", host)],
        payload_hash: "UNSIGNED-PAYLOAD",
    });
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        key.scope,
        sigv4::sha256_hex(canonical.as_bytes())
    );
    let signature = key.sign(&string_to_sign);
    query.push(("X-Amz-Signature", signature.as_str()));
    sigv4::query_string(&query)
}

/// A presigned GET URL of `key` (version `version` when given) on
/// `scheme://host`, valid `expires` seconds from `now` (at most
/// [`MAX_LINK_SECS`]). Presigning is local: no request is made, and S3
/// checks the signed-in key's rights when the link is used.
pub fn presigned_get(
    signer: &Signer<'_>,
    scheme: &str,
    (bucket, key): (&str, &str),
    expires: u64,
    now: OffsetDateTime,
) -> Result<String, S3Failure> {
    let path = object_path(bucket, key)?;
    let (amz_date, day) = super::client::amz_dates(now);
    let signing = sigv4::SigningKey::new(signer.secret, &day, signer.region, "s3");
    let query = presigned_query(
        signer.access_key,
        &signing,
        &amz_date,
        expires.min(MAX_LINK_SECS),
        "GET",
        &path,
        signer.host,
    );
    Ok(format!(
        "{scheme}://{}{}?{query}",
        signer.host,
        sigv4::uri_encode(&path, true)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::client::EXAMPLE_SIGNER;

    #[test]
    fn presigned_get_matches_the_aws_example() {
        // The example of the SigV4 query-string authentication reference.
        let key = sigv4::SigningKey::new(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        );
        let q = presigned_query(
            "AKIAIOSFODNN7EXAMPLE",
            &key,
            "20130524T000000Z",
            86400,
            "GET",
            "/test.txt",
            "examplebucket.s3.amazonaws.com",
        );
        assert_eq!(
            q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn a_listing_page_has_folders_objects_and_the_next_token() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>b</Name><Prefix>photos/</Prefix><KeyCount>3</KeyCount>
<MaxKeys>100</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
<Contents><Key>photos/a&amp;b.jpg</Key><LastModified>2026-12-08T01:00:00.000Z</LastModified>
<ETag>"x"</ETag><Size>20971520</Size><StorageClass>STANDARD</StorageClass></Contents>
<CommonPrefixes><Prefix>photos/2025/</Prefix></CommonPrefixes>
<CommonPrefixes><Prefix>photos/&lt;x&gt;/</Prefix></CommonPrefixes>
<NextContinuationToken>tok/en+=</NextContinuationToken></ListBucketResult>"#;
        let l = parse_listing(xml);
        assert_eq!(l.prefixes, vec!["photos/2025/", "photos/<x>/"]);
        assert_eq!(
            l.objects,
            vec![ObjectRow {
                key: "photos/a&b.jpg".into(),
                size: 20971520,
                last_modified: "2026-12-08T01:00:00.000Z".into()
            }]
        );
        assert_eq!(l.next_token.as_deref(), Some("tok/en+="));
        // The last page: no token even if one were sent.
        let last = parse_listing(
            "<ListBucketResult><IsTruncated>false</IsTruncated>\
             <NextContinuationToken>t</NextContinuationToken></ListBucketResult>",
        );
        assert_eq!(last, Listing::default());
    }

    #[test]
    fn versions_and_delete_markers_keep_their_order() {
        // As s3s writes it: the versions, then the delete markers.
        let xml = "<ListVersionsResult><IsTruncated>true</IsTruncated>\
            <NextKeyMarker>k2</NextKeyMarker><NextVersionIdMarker>v1</NextVersionIdMarker>\
            <Version><Key>k</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest>\
            <LastModified>t2</LastModified><Size>5</Size></Version>\
            <Version><Key>k2</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest>\
            <LastModified>t1</LastModified><Size>7</Size></Version>\
            <DeleteMarker><Key>k</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest>\
            <LastModified>t3</LastModified></DeleteMarker>\
            <DeleteMarker><Key>k</Key><VersionId>v0</VersionId><IsLatest>false</IsLatest>\
            <LastModified>t0</LastModified></DeleteMarker></ListVersionsResult>";
        let (rows, next) = parse_versions(xml);
        assert_eq!(next, Some(("k2".into(), "v1".into())));
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.key.as_str(), r.version_id.as_str(), r.delete_marker))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("k", "v3", true),
                ("k", "v2", false),
                ("k", "v0", true),
                ("k2", "v1", false)
            ]
        );
        // As S3 writes it: interleaved.
        let xml = "<ListVersionsResult><IsTruncated>false</IsTruncated>\
            <DeleteMarker><Key>k</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest>\
            <LastModified>t3</LastModified></DeleteMarker>\
            <Version><Key>k</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest>\
            <LastModified>t2</LastModified><Size>5</Size></Version>\
            <Version><Key>k2</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest>\
            <LastModified>t1</LastModified><Size>7</Size></Version></ListVersionsResult>";
        let (rows, next) = parse_versions(xml);
        assert!(next.is_none());
        let summary: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.key.as_str(),
                    r.version_id.as_str(),
                    r.delete_marker,
                    r.is_latest,
                    r.size,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("k", "v3", true, true, 0),
                ("k", "v2", false, false, 5),
                ("k2", "v1", false, true, 7)
            ]
        );
    }

    #[test]
    fn tags_are_read_and_written_as_lines() {
        let xml = "<Tagging><TagSet><Tag><Key>team</Key><Value>a&amp;b</Value></Tag>\
                   <Tag><Key>empty</Key><Value></Value></Tag></TagSet></Tagging>";
        assert_eq!(
            parse_tags(xml),
            vec![
                ("team".into(), "a&b".into()),
                ("empty".into(), String::new())
            ]
        );
        assert_eq!(
            parse_tag_lines(" team = a=b \n\nempty=\n"),
            Ok(vec![
                ("team".into(), "a=b".into()),
                ("empty".into(), String::new())
            ])
        );
        assert!(parse_tag_lines("novalue").is_err());
        assert!(parse_tag_lines("=x").is_err());
        assert_eq!(parse_tag_lines(""), Ok(vec![]));
    }

    #[test]
    fn complete_names_parts_in_order_escaped() {
        assert_eq!(
            complete_body(&["\"a\"".into(), "\"b\"".into()]),
            format!(
                "<CompleteMultipartUpload xmlns=\"{S3_XMLNS}\">\
                 <Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>\
                 <Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part>\
                 </CompleteMultipartUpload>"
            )
        );
    }

    #[test]
    fn copy_source_encodes_key_and_version() {
        assert_eq!(
            copy_source("b", "dir/a b&c", "v+1"),
            "/b/dir/a%20b%26c?versionId=v%2B1"
        );
    }

    #[test]
    fn a_presigned_link_is_on_the_consoles_host_and_capped_at_seven_days() {
        let signer = EXAMPLE_SIGNER;
        let now = OffsetDateTime::from_unix_timestamp(1_369_353_600).expect("a date");
        let url = presigned_get(&signer, "http", ("b", "a b.txt"), 10 * 86400, now).expect("a url");
        assert!(
            url.starts_with("http://127.0.0.1:9000/b/a%20b.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&"),
            "{url}"
        );
        assert!(url.contains("&X-Amz-Expires=604800&"), "{url}");
        assert!(url.contains("&X-Amz-Signature="), "{url}");
        assert!(presigned_get(&signer, "http", ("a/b", "k"), 60, now).is_err());
    }
}
