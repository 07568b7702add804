//! The S3 operations: each handler turns an `s3s` input into metadata calls
//! and data-path calls, and its result into an `s3s` output. Handlers never
//! build error XML: errors go through [`crate::error::to_s3_error`].

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use shale_common::ObjectData;
use shale_common::checksum::{self as sums, ChecksumAlgorithm, ChecksumType};
use shale_metadata::{
    BucketConfig, BucketConfigKind, CompleteChecks, MetaClient, MetaError, ObjectChecksum,
    ObjectRow, PartRow, Permission, Upload, UploadChecksum,
};

use crate::access::Caller;
use crate::acl;
use crate::checksum::{self, ChecksumFields, RequestChecksums, set_checksum_fields};
use crate::cors::{self, CorsCache};
use crate::datapath::{DataPath, WriteTarget};
use crate::error::{Error, to_s3_error};
use crate::tagging::{self, Target};

/// Longest object key S3 accepts, in bytes.
const MAX_KEY_LEN: usize = 1024;
/// Most keys (or parts, or uploads) in one listing page, as in S3.
const MAX_PAGE: i32 = 1000;

/// The S3 service of one gateway (cheap to clone: its parts are shared).
#[derive(Clone)]
pub struct Gateway {
    meta: MetaClient,
    data: Arc<DataPath>,
    region: String,
    cors: Arc<CorsCache>,
}

impl Gateway {
    /// A gateway for `region` over the given metadata client and data path.
    pub fn new(meta: MetaClient, data: Arc<DataPath>, region: String) -> Self {
        let cors = Arc::new(CorsCache::new(meta.clone()));
        Gateway {
            meta,
            data,
            region,
            cors,
        }
    }

    /// The cache of buckets' CORS rules this gateway keeps current; the HTTP
    /// front reads it for preflights and `Origin` headers.
    pub fn cors_cache(&self) -> Arc<CorsCache> {
        Arc::clone(&self.cors)
    }
}

/// The status a response must have when it differs from the one `s3s`
/// gives the operation. `s3s` 0.14.1 fixes each operation's success status
/// and ignores `S3Response::status`, but passes response extensions through:
/// a handler puts this in them and the HTTP front (`server.rs`) applies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusOverride(pub http::StatusCode);

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

fn ts(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

fn owner() -> Owner {
    acl::owner()
}

fn meta_err(e: shale_metadata::MetaError) -> S3Error {
    to_s3_error(Error::Meta(e))
}

fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(s3_error!(KeyTooLongError, "Your key is too long"));
    }
    Ok(())
}

/// The bucket and key of `x-amz-copy-source` (buckets are unversioned:
/// only the `null` version can be named).
fn copy_source(source: &CopySource) -> S3Result<(String, String)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => {
            check_version(version_id.as_deref())?;
            Ok((bucket.to_string(), key.to_string()))
        }
        _ => Err(s3_error!(
            NotImplemented,
            "Access point copy sources are not supported"
        )),
    }
}

/// The bytes `[start, end)` that `x-amz-copy-source-range` names in a
/// source of `size` bytes: exactly `bytes=first-last`, both inclusive and
/// inside the source (S3 accepts no suffix or open ranges here). S3 answers
/// a malformed value and an out-of-bounds one with InvalidArgument.
fn parse_copy_range(range: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(range) = range else {
        return Ok((0, size));
    };
    let parsed = range.strip_prefix("bytes=").and_then(|r| {
        let (a, b) = r.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return None;
        }
        Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
    });
    let Some((first, last)) = parsed.filter(|(a, b)| a <= b) else {
        return Err(s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        ));
    };
    if last >= size {
        return Err(s3_error!(
            InvalidArgument,
            "Range specified is not valid for source object of size: {}",
            size
        ));
    }
    Ok((first, last + 1))
}

/// S3's bucket naming rules that `s3s`'s router does not check (it checks
/// length, characters, first and last character, `..`, IP-address form and
/// `xn--`): the prefixes and suffixes S3 reserves for its own names.
fn check_bucket_name(name: &str) -> S3Result<()> {
    const PREFIXES: [&str; 4] = ["xn--", "sthree-", "sthree-configurator", "amzn-s3-demo-"];
    const SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"];
    let valid = s3s::path::check_bucket_name(name)
        && !PREFIXES.iter().any(|p| name.starts_with(p))
        && !SUFFIXES.iter().any(|x| name.ends_with(x));
    if valid {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidBucketName,
            "The specified bucket is not valid."
        ))
    }
}

/// Content-Encoding as stored: `aws-chunked` is transfer framing, never part
/// of the object (S3 strips it too).
fn stored_content_encoding(value: Option<String>) -> Option<String> {
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

fn fmt_http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

/// The standard headers that round-trip with an object.
struct StoredHeaders {
    content_type: Option<String>,
    system: Vec<(String, String)>,
    user: Vec<(String, String)>,
}

fn collect_headers(
    content_type: Option<String>,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    expires: Option<Timestamp>,
    metadata: Option<Metadata>,
) -> StoredHeaders {
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
    StoredHeaders {
        content_type,
        system,
        user,
    }
}

fn header<'a>(row_headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    row_headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn user_metadata(row: &[(String, String)]) -> Option<Metadata> {
    if row.is_empty() {
        return None;
    }
    Some(row.iter().cloned().collect())
}

fn parse_expires(v: Option<&str>) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, v?).ok()
}

/// A key, prefix, delimiter or marker as a listing with `encoding-type=url`
/// answers it: S3 form-encodes them (a space is `+`) but leaves `/`, so
/// that prefixes still read as paths; SDKs decode with `unquote_plus`.
fn encode_key(s: String, url: bool) -> String {
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

fn is_url_encoding(e: &Option<EncodingType>) -> bool {
    e.as_ref()
        .is_some_and(|e| e.as_str().eq_ignore_ascii_case(EncodingType::URL))
}

fn token_encode(marker: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(marker.as_bytes())
}

fn token_decode(token: &str) -> S3Result<String> {
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

fn page_size(v: Option<i32>) -> S3Result<u32> {
    match v {
        None => Ok(MAX_PAGE as u32),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "max-keys must be a non-negative integer"
        )),
        Some(n) => Ok(n.min(MAX_PAGE) as u32),
    }
}

fn strip_quotes(s: &str) -> String {
    s.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_owned()
}

/// Turns an error from the client's body stream into the S3 error it means.
fn body_error(e: s3s::StdError) -> Error {
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
        Error::IncompleteBody(format!("the request body is incomplete: {text}"))
    } else {
        Error::Body(S3Error::with_message(
            S3ErrorCode::IncompleteBody,
            format!("could not read the request body: {text}"),
        ))
    }
}

/// The ACL a write (PutObject, CopyObject, CreateMultipartUpload) asks
/// for with `x-amz-acl` and `x-amz-grant-*`: only the owner's full control
/// is accepted ([`acl`]).
macro_rules! object_acl {
    ($input:expr) => {
        acl::check(&acl::AclRequest {
            canned: $input.acl.as_ref().map(|a| a.as_str()),
            grant_full_control: $input.grant_full_control.as_deref(),
            other_grants: $input.grant_read.is_some()
                || $input.grant_read_acp.is_some()
                || $input.grant_write_acp.is_some(),
            policy: None,
        })
    };
}

/// Buckets are unversioned: the only version an object has is `null`, as
/// S3 calls it in an unversioned bucket.
fn check_version(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid version id specified")),
    }
}

fn content_length(v: Option<i64>) -> S3Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "negative Content-Length")),
        Some(n) => Ok(Some(n as u64)),
    }
}

impl Gateway {
    /// The object row a GET or HEAD answers from, once its conditional
    /// headers (If-Match, If-None-Match, If-(Un)Modified-Since) hold.
    async fn object_for_read(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
        if_modified_since: Option<&Timestamp>,
        if_unmodified_since: Option<&Timestamp>,
    ) -> S3Result<ObjectRow> {
        let row = self.meta.get_object(bucket, key).await.map_err(meta_err)?;
        check_conditions(
            &row,
            if_match,
            if_none_match,
            if_modified_since,
            if_unmodified_since,
        )?;
        Ok(row)
    }

    /// The source row of a CopyObject or UploadPartCopy, once its
    /// `x-amz-copy-source-if-*` conditions hold. S3 applies them with the
    /// precedence of GET's, but answers every failure 412 PreconditionFailed
    /// (a copy has no 304): if-match true wins over if-unmodified-since
    /// false, if-none-match false fails even when if-modified-since holds.
    async fn copy_source_row(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
        if_modified_since: Option<&Timestamp>,
        if_unmodified_since: Option<&Timestamp>,
    ) -> S3Result<ObjectRow> {
        self.object_for_read(
            bucket,
            key,
            if_match,
            if_none_match,
            if_modified_since,
            if_unmodified_since,
        )
        .await
        .map_err(|e| {
            if e.status_code() == Some(http::StatusCode::NOT_MODIFIED) {
                s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                )
            } else {
                e
            }
        })
    }

    async fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        match self.meta.get_bucket(bucket).await.map_err(meta_err)? {
            Some(_) => Ok(()),
            None => Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            )),
        }
    }

    /// Reads a request body through the data path, verifying every checksum the
    /// client sent (headers, trailers, Content-MD5) before returning. Returns
    /// what was written and every checksum `checks` computed.
    async fn store_body(
        &self,
        body: Option<StreamingBlob>,
        checks: RequestChecksums,
        trailers: Option<s3s::TrailingHeaders>,
        target: WriteTarget<'_>,
    ) -> S3Result<(crate::datapath::Written, Digests)> {
        let mut checks = checks;
        let stream = match body {
            Some(b) => b.map(|r| r.map_err(body_error)).boxed(),
            None => futures::stream::empty::<Result<Bytes, Error>>().boxed(),
        };
        let written = self
            .data
            .write_body(stream, target, |b| checks.update(b))
            .await
            .map_err(to_s3_error)?;
        let trailer_map = trailers.and_then(|t| t.take());
        let digests = checks
            .verify(&written.md5, trailer_map.as_ref())
            .map_err(to_s3_error)?;
        Ok((written, digests))
    }
}

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.meta.list_buckets().await.map_err(meta_err)?;
        // A key with grants sees only the buckets it holds one on.
        let caller = req.extensions.get::<Caller>().map(|c| Arc::clone(&c.0));
        let buckets = buckets
            .into_iter()
            .filter(|b| {
                caller
                    .as_ref()
                    .is_none_or(|k| k.permission(&b.name).is_some())
            })
            .map(|b| Bucket {
                bucket_region: Some(b.region),
                creation_date: Some(ts(b.created_ms)),
                name: Some(b.name),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let caller = req.extensions.get::<Caller>().map(|c| Arc::clone(&c.0));
        let input = req.input;
        check_bucket_name(&input.bucket)?;
        let constraint = input
            .create_bucket_configuration
            .and_then(|c| c.location_constraint)
            .map(|c| c.as_str().to_owned());
        if let Some(c) = &constraint
            && !c.is_empty()
            && *c != self.region
        {
            return Err(s3_error!(
                IllegalLocationConstraintException,
                "The {} location constraint is incompatible for the region specific endpoint this request was sent to.",
                c
            ));
        }
        let created = self.meta.create_bucket(&input.bucket, &self.region).await;
        // A key with grants owns what it creates; a bucket of another key
        // is someone else's, as S3 answers it.
        let grantee = caller.filter(|k| !k.is_root());
        match (created, &grantee) {
            (Err(MetaError::BucketAlreadyOwnedByYou), Some(k))
                if k.permission(&input.bucket).is_none() =>
            {
                return Err(meta_err(MetaError::BucketAlreadyExists));
            }
            (r, _) => {
                r.map_err(meta_err)?;
            }
        }
        if let Some(k) = grantee {
            self.meta
                .set_grant(&k.access_key, &input.bucket, Some(Permission::Owner))
                .await
                .map_err(meta_err)?;
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        match self
            .meta
            .get_bucket(&req.input.bucket)
            .await
            .map_err(meta_err)?
        {
            Some(b) => Ok(S3Response::new(HeadBucketOutput {
                bucket_region: Some(b.region),
                ..Default::default()
            })),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.meta
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(meta_err)?;
        // Its configurations went with it (same metadata batch).
        self.cors.changed(&req.input.bucket, None);
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let bucket = self
            .meta
            .get_bucket(&req.input.bucket)
            .await
            .map_err(meta_err)?
            .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist"))?;
        // S3 answers an empty LocationConstraint for us-east-1.
        let location_constraint =
            (bucket.region != "us-east-1").then(|| BucketLocationConstraint::from(bucket.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let trailers = req.trailing_headers.clone();
        let mut checks = RequestChecksums::from_request(&req.headers).map_err(to_s3_error)?;
        // A browser upload (POST Object) arrives here too, from `post.rs`,
        // its signature and policy checked, its form fields as the input.
        let input = req.input;
        check_key(&input.key)?;
        // S3 stores the checksum the client sent, or computes the one it
        // named in x-amz-sdk-checksum-algorithm, or its default, CRC64NVME.
        let algorithm = match (checks.announced(), &input.checksum_algorithm) {
            (Some(a), _) => a,
            (None, Some(a)) => checksum::algorithm_of(a).map_err(to_s3_error)?,
            (None, None) => ChecksumAlgorithm::Crc64Nvme,
        };
        checks.compute(algorithm);
        // Checked before any byte of the body is stored.
        object_acl!(input)?;
        let tags = tagging::parse_header(input.tagging.as_deref())?;
        let expected_len = content_length(input.content_length)?;
        if expected_len.is_none_or(|n| n as usize > self.data.config().inline_threshold) {
            self.require_bucket(&input.bucket).await?;
        }
        let if_none_match = match &input.if_none_match {
            None => false,
            Some(ETagCondition::Any) => true,
            Some(_) => {
                return Err(s3_error!(
                    NotImplemented,
                    "If-None-Match on PUT supports only '*'"
                ));
            }
        };
        let if_match = match &input.if_match {
            None => None,
            Some(ETagCondition::ETag(e)) => Some(strip_quotes(e.value())),
            Some(ETagCondition::Any) => {
                return Err(s3_error!(NotImplemented, "If-Match on PUT needs an ETag"));
            }
        };
        let headers = collect_headers(
            input.content_type.map(|c| c.to_string()),
            input.cache_control,
            input.content_disposition,
            input.content_encoding,
            input.content_language,
            input.expires,
            input.metadata,
        );
        let prefix = crate::datapath::new_chunk_prefix();
        let (written, digests) = self
            .store_body(
                input.body,
                checks,
                trailers,
                WriteTarget {
                    chunk_prefix: &prefix,
                    part_number: 1,
                    allow_inline: true,
                    expected_len,
                },
            )
            .await?;
        let checksum = full_object_checksum(&digests, algorithm)?;
        let size = written.part.size;
        let etag_hex = written.part.etag.clone();
        let data = match written.inline {
            Some(bytes) => ObjectData::Inline(bytes.to_vec()),
            None => ObjectData::Parts(vec![written.part]),
        };
        let row = ObjectRow {
            size,
            etag: etag_hex.clone(),
            last_modified_ms: now_ms(),
            content_type: headers.content_type,
            system_headers: headers.system,
            user_metadata: headers.user,
            parts_count: None,
            data,
            tags,
            checksum: Some(checksum.clone()),
        };
        if matches!(row.data, ObjectData::Parts(_)) {
            self.data
                .check_commit_deadline(&prefix)
                .map_err(to_s3_error)?;
        }
        self.meta
            .put_object(&input.bucket, &input.key, row, if_none_match, if_match)
            .await
            .map_err(meta_err)?;
        let mut out = PutObjectOutput {
            e_tag: Some(etag(&etag_hex)),
            size: Some(size as i64),
            ..Default::default()
        };
        set_checksum_fields!(out, ChecksumFields::object(&checksum, None), type);
        Ok(S3Response::new(out))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        // If-None-Match: * and If-Match on the destination (S3 takes them on
        // CopyObject as on PutObject); s3s 0.14.1's CopyObjectInput predates
        // them, so they are read from the headers.
        let dest_header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let if_none_match = match dest_header("if-none-match").as_deref() {
            None => false,
            Some("*") => true,
            Some(_) => {
                return Err(s3_error!(
                    NotImplemented,
                    "If-None-Match on CopyObject supports only '*'"
                ));
            }
        };
        let if_match = dest_header("if-match").map(|e| strip_quotes(&e));
        let input = req.input;
        check_key(&input.key)?;
        object_acl!(input)?;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        let src = self
            .copy_source_row(
                &src_bucket,
                &src_key,
                input.copy_source_if_match.as_ref(),
                input.copy_source_if_none_match.as_ref(),
                input.copy_source_if_modified_since.as_ref(),
                input.copy_source_if_unmodified_since.as_ref(),
            )
            .await?;
        let replace = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
            None => false,
            Some(d) if d == MetadataDirective::COPY => false,
            Some(d) if d == MetadataDirective::REPLACE => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown metadata directive.")),
        };
        // COPY (the default) keeps the source's tags and ignores
        // x-amz-tagging; REPLACE takes x-amz-tagging, or no tags without it.
        let tags = match input.tagging_directive.as_ref().map(|d| d.as_str()) {
            None => None,
            Some(d) if d == TaggingDirective::COPY => None,
            Some(d) if d == TaggingDirective::REPLACE => {
                Some(tagging::parse_header(input.tagging.as_deref())?)
            }
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown tagging directive.")),
        };
        let tags = tags.unwrap_or_else(|| src.tags.clone());
        // S3 refuses a copy onto itself that changes nothing; a new storage
        // class, website redirect or encryption counts as a change.
        let changes_something = replace
            || input.storage_class.is_some()
            || input.website_redirect_location.is_some()
            || input.server_side_encryption.is_some()
            || input.sse_customer_algorithm.is_some()
            || input.ssekms_key_id.is_some();
        if src_bucket == input.bucket && src_key == input.key && !changes_something {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let headers = if replace {
            collect_headers(
                input.content_type.map(|c| c.to_string()),
                input.cache_control,
                input.content_disposition,
                input.content_encoding,
                input.content_language,
                input.expires,
                input.metadata,
            )
        } else {
            StoredHeaders {
                content_type: src.content_type.clone(),
                system: src.system_headers.clone(),
                user: src.user_metadata.clone(),
            }
        };
        self.require_bucket(&input.bucket).await?;
        // The copy is a single-part object: it gets a FULL_OBJECT checksum
        // of the algorithm asked for, or of the source's, or S3's default.
        let algorithm = match (&input.checksum_algorithm, &src.checksum) {
            (Some(a), _) => checksum::algorithm_of(a).map_err(to_s3_error)?,
            (None, Some(c)) => c.algorithm,
            (None, None) => ChecksumAlgorithm::Crc64Nvme,
        };
        let mut hasher = sums::Hasher::new(algorithm);
        let prefix = crate::datapath::new_chunk_prefix();
        // The copy gets chunks of its own: versions never share chunks, so
        // deleting one can never free the other's data.
        let (data, size, etag_hex) = match &src.data {
            ObjectData::Inline(bytes) => {
                let md5: [u8; 16] =
                    md5::Digest::finalize(<md5::Md5 as md5::Digest>::new_with_prefix(bytes)).into();
                hasher.update(bytes);
                (
                    ObjectData::Inline(bytes.clone()),
                    src.size,
                    hex::encode(md5),
                )
            }
            ObjectData::Parts(parts) => {
                let stream = self
                    .data
                    .read_range(parts, 0, src.size)
                    .await
                    .map_err(to_s3_error)?;
                let stream = stream.map(|r| r.map_err(|e| Error::Unrecoverable(e.to_string())));
                let written = self
                    .data
                    .write_body(
                        stream,
                        WriteTarget {
                            chunk_prefix: &prefix,
                            part_number: 1,
                            allow_inline: true,
                            expected_len: Some(src.size),
                        },
                        |b| hasher.update(b),
                    )
                    .await
                    .map_err(to_s3_error)?;
                let etag_hex = written.part.etag.clone();
                let data = match written.inline {
                    Some(bytes) => ObjectData::Inline(bytes.to_vec()),
                    None => ObjectData::Parts(vec![written.part]),
                };
                (data, src.size, etag_hex)
            }
        };
        let checksum = ObjectChecksum {
            algorithm,
            kind: ChecksumType::FullObject,
            value: hasher.finalize(),
            parts: Vec::new(),
        };
        let now = now_ms();
        let row = ObjectRow {
            size,
            etag: etag_hex.clone(),
            last_modified_ms: now,
            content_type: headers.content_type,
            system_headers: headers.system,
            user_metadata: headers.user,
            parts_count: None,
            data,
            tags,
            checksum: Some(checksum.clone()),
        };
        if matches!(row.data, ObjectData::Parts(_)) {
            self.data
                .check_commit_deadline(&prefix)
                .map_err(to_s3_error)?;
        }
        self.meta
            .put_object(&input.bucket, &input.key, row, if_none_match, if_match)
            .await
            .map_err(meta_err)?;
        let mut result = CopyObjectResult {
            e_tag: Some(etag(&etag_hex)),
            last_modified: Some(ts(now)),
            ..Default::default()
        };
        set_checksum_fields!(result, ChecksumFields::object(&checksum, None), type);
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        check_version(input.version_id.as_deref())?;
        let row = self
            .object_for_read(
                &input.bucket,
                &input.key,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since.as_ref(),
                input.if_unmodified_since.as_ref(),
            )
            .await?;
        let (start, end, content_range, part) =
            read_extent(&row, input.range.as_ref(), input.part_number)?;
        let body = match &row.data {
            ObjectData::Inline(bytes) => {
                let piece = Bytes::copy_from_slice(
                    bytes.get(start as usize..end as usize).unwrap_or_default(),
                );
                StreamingBlob::wrap(futures::stream::once(async move {
                    Ok::<_, std::io::Error>(piece)
                }))
            }
            ObjectData::Parts(parts) => {
                let stream = self
                    .data
                    .read_range(parts, start, end)
                    .await
                    .map_err(to_s3_error)?;
                StreamingBlob::wrap(stream)
            }
        };
        let mut out = object_output(&row, part.as_ref());
        if let Some(fields) = reported_checksum(
            &row,
            input.checksum_mode.as_ref(),
            &content_range,
            part.as_ref(),
        ) {
            set_checksum_fields!(out, fields, type);
        }
        out.body = Some(body);
        out.content_length = Some((end - start) as i64);
        out.content_range = content_range;
        apply_overrides(
            &mut out,
            ResponseOverrides {
                cache_control: input.response_cache_control,
                content_disposition: input.response_content_disposition,
                content_encoding: input.response_content_encoding,
                content_language: input.response_content_language,
                content_type: input.response_content_type,
                expires: input.response_expires,
            },
        );
        Ok(S3Response::new(out))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        check_version(input.version_id.as_deref())?;
        let row = self
            .object_for_read(
                &input.bucket,
                &input.key,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since.as_ref(),
                input.if_unmodified_since.as_ref(),
            )
            .await?;
        let (start, end, content_range, part) =
            read_extent(&row, input.range.as_ref(), input.part_number)?;
        let mut o = object_output(&row, part.as_ref());
        apply_overrides(
            &mut o,
            ResponseOverrides {
                cache_control: input.response_cache_control,
                content_disposition: input.response_content_disposition,
                content_encoding: input.response_content_encoding,
                content_language: input.response_content_language,
                content_type: input.response_content_type,
                expires: input.response_expires,
            },
        );
        let content_length = (end - start) as i64;
        let fields = reported_checksum(
            &row,
            input.checksum_mode.as_ref(),
            &content_range,
            part.as_ref(),
        );
        let partial = content_range.is_some();
        let mut resp = S3Response::new(HeadObjectOutput {
            accept_ranges: o.accept_ranges,
            cache_control: o.cache_control,
            content_disposition: o.content_disposition,
            content_encoding: o.content_encoding,
            content_language: o.content_language,
            content_length: Some(content_length),
            content_range,
            content_type: o.content_type,
            e_tag: o.e_tag,
            expires: o.expires,
            last_modified: o.last_modified,
            metadata: o.metadata,
            parts_count: o.parts_count,
            ..Default::default()
        });
        if let Some(fields) = fields {
            set_checksum_fields!(resp.output, fields, type);
        }
        // S3 sends x-amz-tagging-count on HEAD as on GET, but s3s's
        // HeadObjectOutput (from AWS's API model) has no field for it.
        if let Some(n) = o.tag_count {
            resp.headers.insert(
                http::HeaderName::from_static("x-amz-tagging-count"),
                http::HeaderValue::from(n),
            );
        }
        // S3 answers a HEAD with a Range or a partNumber 206, as the GET;
        // s3s 0.14.1 answers every HEAD 200.
        if partial {
            resp.extensions
                .insert(StatusOverride(http::StatusCode::PARTIAL_CONTENT));
        }
        Ok(resp)
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        check_version(input.version_id.as_deref())?;
        let row = self
            .meta
            .get_object(&input.bucket, &input.key)
            .await
            .map_err(meta_err)?;
        // SDKs send the list as one comma-separated header, which s3s 0.14.1
        // keeps as a single item.
        let wants = |name: &str| {
            input
                .object_attributes
                .iter()
                .flat_map(|a| a.as_str().split(','))
                .any(|a| a.trim().eq_ignore_ascii_case(name))
        };
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(ts(row.last_modified_ms)),
            ..Default::default()
        };
        if wants(ObjectAttributes::ETAG) {
            // FIXME: S3 answers this ETag without quotes; s3s 0.14.1 always
            // quotes ETags in XML.
            out.e_tag = Some(etag(&row.etag));
        }
        if wants(ObjectAttributes::OBJECT_SIZE) {
            out.object_size = Some(row.size as i64);
        }
        if wants(ObjectAttributes::STORAGE_CLASS) {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wants(ObjectAttributes::CHECKSUM)
            && let Some(c) = &row.checksum
        {
            // The digest alone: the parts count is ObjectParts' business.
            let mut checksum = Checksum::default();
            set_checksum_fields!(checksum, ChecksumFields::object(c, None), type);
            out.checksum = Some(checksum);
        }
        if wants(ObjectAttributes::OBJECT_PARTS)
            && let Some(total) = row.parts_count
        {
            out.object_parts = Some(object_parts(
                &row,
                total,
                input.part_number_marker,
                page_size(input.max_parts)?,
            ));
        }
        Ok(S3Response::new(out))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        check_key(&req.input.key)?;
        check_version(req.input.version_id.as_deref())?;
        self.meta
            .delete_object(&req.input.bucket, &req.input.key)
            .await
            .map_err(meta_err)?;
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed: more than 1000 keys"
            ));
        }
        self.require_bucket(&input.bucket).await?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in input.delete.objects {
            // Every object's one version is `null` (tools that list versions
            // delete them by that id); any other version does not exist.
            if let Some(v) = obj.version_id.as_deref().filter(|v| *v != "null") {
                errors.push(s3s::dto::Error {
                    code: Some("NoSuchVersion".to_owned()),
                    key: Some(obj.key),
                    message: Some("The specified version does not exist.".to_owned()),
                    version_id: Some(v.to_owned()),
                });
                continue;
            }
            match self.meta.delete_object(&input.bucket, &obj.key).await {
                Ok(_) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(obj.key),
                            version_id: obj.version_id,
                            ..Default::default()
                        });
                    }
                }
                Err(e) => {
                    let s3e = meta_err(e);
                    errors.push(s3s::dto::Error {
                        code: Some(s3e.code().as_str().to_owned()),
                        key: Some(obj.key),
                        message: s3e.message().map(str::to_owned),
                        version_id: None,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let max_keys = page_size(input.max_keys)?;
        let start = match &input.continuation_token {
            Some(t) => Some(token_decode(t)?),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let res = self
            .meta
            .list_objects(
                &input.bucket,
                &prefix,
                delimiter.as_deref(),
                start.as_deref(),
                max_keys,
            )
            .await
            .map_err(meta_err)?;
        let url = is_url_encoding(&input.encoding_type);
        let key_count = (res.objects.len() + res.common_prefixes.len()) as i32;
        let contents = object_entries(res.objects, url, input.fetch_owner == Some(true));
        let common_prefixes = prefix_entries(res.common_prefixes, url);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode_key(prefix, url)),
            max_keys: Some(max_keys as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            is_truncated: Some(res.is_truncated),
            next_continuation_token: if res.is_truncated {
                res.next_marker.as_deref().map(token_encode)
            } else {
                None
            },
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            delimiter: delimiter.map(|d| encode_key(d, url)),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(|s| encode_key(s, url)),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let max_keys = page_size(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let marker = input.marker.clone().filter(|m| !m.is_empty());
        let res = self
            .meta
            .list_objects(
                &input.bucket,
                &prefix,
                delimiter.as_deref(),
                marker.as_deref(),
                max_keys,
            )
            .await
            .map_err(meta_err)?;
        let url = is_url_encoding(&input.encoding_type);
        let contents = object_entries(res.objects, url, true);
        let common_prefixes = prefix_entries(res.common_prefixes, url);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encode_key(prefix, url)),
            // S3 always answers a Marker, empty when the request had none.
            marker: Some(encode_key(input.marker.unwrap_or_default(), url)),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(res.is_truncated),
            contents: Some(contents),
            common_prefixes: Some(common_prefixes),
            // S3 sends NextMarker only with a delimiter; without one the
            // client continues from the last key of the page.
            next_marker: if res.is_truncated && delimiter.is_some() {
                res.next_marker.map(|m| encode_key(m, url))
            } else {
                None
            },
            delimiter: delimiter.map(|d| encode_key(d, url)),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        object_acl!(input)?;
        let tags = tagging::parse_header(input.tagging.as_deref())?;
        let checksum = upload_checksum(
            input.checksum_algorithm.as_ref(),
            input.checksum_type.as_ref(),
        )
        .map_err(to_s3_error)?;
        let headers = collect_headers(
            input.content_type.map(|c| c.to_string()),
            input.cache_control,
            input.content_disposition,
            input.content_encoding,
            input.content_language,
            input.expires,
            input.metadata,
        );
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let upload = Upload {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            upload_id: upload_id.clone(),
            initiated_ms: now_ms(),
            content_type: headers.content_type,
            system_headers: headers.system,
            user_metadata: headers.user,
            tags,
            checksum,
        };
        self.meta.create_upload(upload).await.map_err(meta_err)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: checksum.map(|c| s3_algorithm(c.algorithm)),
            checksum_type: checksum.map(|c| checksum::s3_type(c.kind)),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req.trailing_headers.clone();
        let mut checks = RequestChecksums::from_request(&req.headers).map_err(to_s3_error)?;
        let input = req.input;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let expected_len = content_length(input.content_length)?;
        // Fail before storing any byte when the upload does not exist.
        let upload = self
            .meta
            .get_upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(meta_err)?;
        let sent = match (checks.announced(), &input.checksum_algorithm) {
            (Some(a), _) => Some(a),
            (None, Some(a)) => Some(checksum::algorithm_of(a).map_err(to_s3_error)?),
            (None, None) => None,
        };
        if let Some(c) = upload.checksum {
            // S3 checksums every part of an upload with the upload's algorithm.
            if let Some(sent) = sent
                && sent != c.algorithm
            {
                return Err(s3_error!(
                    InvalidRequest,
                    "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                    c.algorithm.name().to_lowercase(),
                    sent.name().to_lowercase()
                ));
            }
            checks.compute(c.algorithm);
        }
        if let Some(a) = sent {
            checks.compute(a);
        }
        // For the default object checksum, whatever the client sends.
        checks.compute(ChecksumAlgorithm::Crc64Nvme);
        let prefix = format!(
            "{}-{}",
            input.upload_id,
            crate::datapath::new_chunk_prefix()
        );
        let part_number = input.part_number as u32;
        let (written, digests) = self
            .store_body(
                input.body,
                checks,
                trailers,
                WriteTarget {
                    chunk_prefix: &prefix,
                    part_number,
                    allow_inline: false,
                    expected_len,
                },
            )
            .await?;
        let mut fields = ChecksumFields::pick(&digests, part_algorithm(upload.checksum));
        if let Some(a) = sent
            && let Some((_, v)) = digests.iter().find(|(d, _)| *d == a)
        {
            fields.add_digest(a, v);
        }
        let part = PartRow {
            number: part_number,
            size: written.part.size,
            etag: written.part.etag.clone(),
            last_modified_ms: now_ms(),
            layout: written.part,
            checksums: digests,
        };
        let etag_hex = part.etag.clone();
        self.data
            .check_commit_deadline(&prefix)
            .map_err(to_s3_error)?;
        self.meta
            .put_part(&input.bucket, &input.key, &input.upload_id, part)
            .await
            .map_err(meta_err)?;
        let mut out = UploadPartOutput {
            e_tag: Some(etag(&etag_hex)),
            ..Default::default()
        };
        set_checksum_fields!(out, fields);
        Ok(S3Response::new(out))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        // x-amz-checksum-algorithm: s3s 0.14.1's UploadPartCopyInput has no
        // field for it, so it is read from the headers.
        let asked = match req
            .headers
            .get("x-amz-checksum-algorithm")
            .map(|v| v.to_str().unwrap_or_default())
        {
            None => None,
            Some(v) => Some(
                checksum::algorithm_of(&s3s::dto::ChecksumAlgorithm::from(v.to_owned()))
                    .map_err(to_s3_error)?,
            ),
        };
        let input = req.input;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        let upload = self
            .meta
            .get_upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(meta_err)?;
        let src = self
            .copy_source_row(
                &src_bucket,
                &src_key,
                input.copy_source_if_match.as_ref(),
                input.copy_source_if_none_match.as_ref(),
                input.copy_source_if_modified_since.as_ref(),
                input.copy_source_if_unmodified_since.as_ref(),
            )
            .await?;
        let (start, end) = parse_copy_range(input.copy_source_range.as_deref(), src.size)?;
        // The part's checksums: the upload's algorithm and CRC64NVME (for
        // the default object checksum), as UploadPart stores them, and the
        // one the request asks for, which must be the upload's if it has one.
        if let (Some(c), Some(a)) = (upload.checksum, asked)
            && a != c.algorithm
        {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                c.algorithm.name().to_lowercase(),
                a.name().to_lowercase()
            ));
        }
        let reported = part_algorithm(upload.checksum);
        let mut hashers: Vec<sums::Hasher> = vec![sums::Hasher::new(ChecksumAlgorithm::Crc64Nvme)];
        for a in [Some(reported), asked].into_iter().flatten() {
            if hashers.iter().all(|h| h.algorithm() != a) {
                hashers.push(sums::Hasher::new(a));
            }
        }
        let algorithms: Vec<ChecksumAlgorithm> = hashers.iter().map(|h| h.algorithm()).collect();
        let stream = match &src.data {
            ObjectData::Inline(bytes) => {
                let piece = Bytes::copy_from_slice(
                    bytes.get(start as usize..end as usize).unwrap_or_default(),
                );
                futures::stream::once(async move { Ok::<_, Error>(piece) }).boxed()
            }
            ObjectData::Parts(parts) => self
                .data
                .read_range(parts, start, end)
                .await
                .map_err(to_s3_error)?
                .map(|r| r.map_err(|e| Error::Unrecoverable(e.to_string())))
                .boxed(),
        };
        let prefix = format!(
            "{}-{}",
            input.upload_id,
            crate::datapath::new_chunk_prefix()
        );
        let part_number = input.part_number as u32;
        // The part's ETag is the MD5 of the copied bytes, computed here.
        let written = self
            .data
            .write_body(
                stream,
                WriteTarget {
                    chunk_prefix: &prefix,
                    part_number,
                    allow_inline: false,
                    expected_len: Some(end - start),
                },
                |b| hashers.iter_mut().for_each(|h| h.update(b)),
            )
            .await
            .map_err(to_s3_error)?;
        let digests: Digests = algorithms
            .into_iter()
            .zip(hashers.into_iter().map(sums::Hasher::finalize))
            .collect();
        let now = now_ms();
        let part = PartRow {
            number: part_number,
            size: written.part.size,
            etag: written.part.etag.clone(),
            last_modified_ms: now,
            layout: written.part,
            checksums: digests,
        };
        let mut fields = ChecksumFields::pick(&part.checksums, reported);
        if let Some(a) = asked
            && let Some((_, v)) = part.checksums.iter().find(|(d, _)| *d == a)
        {
            fields.add_digest(a, v);
        }
        let etag_hex = part.etag.clone();
        self.data
            .check_commit_deadline(&prefix)
            .map_err(to_s3_error)?;
        self.meta
            .put_part(&input.bucket, &input.key, &input.upload_id, part)
            .await
            .map_err(meta_err)?;
        let mut result = CopyPartResult {
            e_tag: Some(etag(&etag_hex)),
            last_modified: Some(ts(now)),
            ..Default::default()
        };
        set_checksum_fields!(result, fields);
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(result),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let mut checks = CompleteChecks {
            kind: input
                .checksum_type
                .as_ref()
                .map(checksum::type_of)
                .transpose()
                .map_err(to_s3_error)?,
            object_size: input
                .mpu_object_size
                .map(|n| {
                    u64::try_from(n)
                        .map_err(|_| s3_error!(InvalidArgument, "negative x-amz-mp-object-size"))
                })
                .transpose()?,
            ..Default::default()
        };
        let parts: Vec<(u32, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let number = p
                    .part_number
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| s3_error!(InvalidPart, "a part has no valid PartNumber"))?;
                for (algorithm, value) in [
                    (ChecksumAlgorithm::Crc32, &p.checksum_crc32),
                    (ChecksumAlgorithm::Crc32c, &p.checksum_crc32c),
                    (ChecksumAlgorithm::Crc64Nvme, &p.checksum_crc64nvme),
                    (ChecksumAlgorithm::Sha1, &p.checksum_sha1),
                    (ChecksumAlgorithm::Sha256, &p.checksum_sha256),
                ] {
                    if let Some(v) = value {
                        let digest = checksum::parse_value(algorithm, v).ok_or_else(|| {
                            s3_error!(
                                InvalidPart,
                                "part {}: the {} checksum is not valid",
                                number,
                                algorithm.name()
                            )
                        })?;
                        checks.parts.push((number as u32, algorithm, digest));
                    }
                }
                let tag = p.e_tag.map(|e| strip_quotes(e.value())).unwrap_or_default();
                Ok((number as u32, tag))
            })
            .collect::<S3Result<_>>()?;
        for (algorithm, value) in [
            (ChecksumAlgorithm::Crc32, &input.checksum_crc32),
            (ChecksumAlgorithm::Crc32c, &input.checksum_crc32c),
            (ChecksumAlgorithm::Crc64Nvme, &input.checksum_crc64nvme),
            (ChecksumAlgorithm::Sha1, &input.checksum_sha1),
            (ChecksumAlgorithm::Sha256, &input.checksum_sha256),
        ] {
            if let Some(v) = value {
                checks.object = Some((
                    algorithm,
                    expected_object_checksum(algorithm, v, parts.len())?,
                ));
            }
        }
        if parts.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        let if_none_match = match &input.if_none_match {
            None => false,
            Some(ETagCondition::Any) => true,
            Some(_) => {
                return Err(s3_error!(
                    NotImplemented,
                    "If-None-Match on CompleteMultipartUpload supports only '*'"
                ));
            }
        };
        checks.if_match = match &input.if_match {
            None => None,
            Some(ETagCondition::ETag(e)) => Some(strip_quotes(e.value())),
            Some(ETagCondition::Any) => Some("*".to_owned()),
        };
        let row = self
            .meta
            .complete_upload(
                &input.bucket,
                &input.key,
                &input.upload_id,
                parts,
                checks,
                if_none_match,
            )
            .await
            .map_err(meta_err)?;
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&row.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        };
        if let Some(c) = &row.checksum {
            set_checksum_fields!(out, ChecksumFields::object(c, row.parts_count), type);
        }
        Ok(S3Response::new(out))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.meta
            .abort_upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(meta_err)?;
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let max_parts = page_size(input.max_parts)?;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let upload = self
            .meta
            .get_upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(meta_err)?;
        let reported = part_algorithm(upload.checksum);
        let res = self
            .meta
            .list_parts(
                &input.bucket,
                &input.key,
                &input.upload_id,
                marker,
                max_parts,
            )
            .await
            .map_err(meta_err)?;
        let parts = res
            .parts
            .into_iter()
            .map(|p| {
                let mut part = Part {
                    e_tag: Some(etag(&p.etag)),
                    last_modified: Some(ts(p.last_modified_ms)),
                    part_number: Some(p.number as i32),
                    size: Some(p.size as i64),
                    ..Default::default()
                };
                set_checksum_fields!(part, ChecksumFields::pick(&p.checksums, reported));
                part
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            is_truncated: Some(res.is_truncated),
            max_parts: Some(max_parts as i32),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: res.next_part_number_marker.map(|n| n as i32),
            parts: Some(parts),
            owner: Some(owner()),
            initiator: Some(Initiator {
                display_name: Some("shale".into()),
                id: Some("shale".into()),
            }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: upload.checksum.map(|c| s3_algorithm(c.algorithm)),
            checksum_type: upload.checksum.map(|c| checksum::s3_type(c.kind)),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let max_uploads = page_size(input.max_uploads)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let res = self
            .meta
            .list_uploads(
                &input.bucket,
                &prefix,
                delimiter.as_deref(),
                input.key_marker.as_deref().filter(|s| !s.is_empty()),
                input.upload_id_marker.as_deref().filter(|s| !s.is_empty()),
                max_uploads,
            )
            .await
            .map_err(meta_err)?;
        let url = is_url_encoding(&input.encoding_type);
        let uploads = res
            .uploads
            .into_iter()
            .map(|u| MultipartUpload {
                initiated: Some(ts(u.initiated_ms)),
                initiator: Some(Initiator {
                    display_name: Some("shale".into()),
                    id: Some("shale".into()),
                }),
                key: Some(encode_key(u.key, url)),
                owner: Some(owner()),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                upload_id: Some(u.upload_id),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            common_prefixes: Some(
                res.common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(encode_key(p, url)),
                    })
                    .collect(),
            ),
            delimiter: delimiter.map(|d| encode_key(d, url)),
            encoding_type: input.encoding_type,
            is_truncated: Some(res.is_truncated),
            key_marker: input.key_marker.map(|k| encode_key(k, url)),
            max_uploads: Some(max_uploads as i32),
            next_key_marker: res.next_key_marker.map(|k| encode_key(k, url)),
            next_upload_id_marker: res.next_upload_id_marker,
            prefix: Some(encode_key(prefix, url)),
            upload_id_marker: input.upload_id_marker,
            uploads: Some(uploads),
            ..Default::default()
        }))
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        check_version(input.version_id.as_deref())?;
        let tags = tagging::from_tag_set(input.tagging.tag_set, Target::Object)?;
        self.meta
            .put_object_tags(&input.bucket, &input.key, tags)
            .await
            .map_err(meta_err)?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        check_version(input.version_id.as_deref())?;
        let row = self
            .meta
            .get_object(&input.bucket, &input.key)
            .await
            .map_err(meta_err)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: tagging::to_tag_set(&row.tags),
            version_id: None,
        }))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        check_version(input.version_id.as_deref())?;
        self.meta
            .put_object_tags(&input.bucket, &input.key, Vec::new())
            .await
            .map_err(meta_err)?;
        Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let tags = tagging::from_tag_set(input.tagging.tag_set, Target::Bucket)?;
        self.meta
            .put_bucket_tags(&input.bucket, tags)
            .await
            .map_err(meta_err)?;
        // S3 answers 204 here; s3s answers 200 for this operation.
        let mut resp = S3Response::new(PutBucketTaggingOutput::default());
        resp.extensions
            .insert(StatusOverride(http::StatusCode::NO_CONTENT));
        Ok(resp)
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let bucket = self
            .meta
            .get_bucket(&req.input.bucket)
            .await
            .map_err(meta_err)?
            .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist"))?;
        if bucket.tags.is_empty() {
            return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
        }
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: tagging::to_tag_set(&bucket.tags),
        }))
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.meta
            .put_bucket_tags(&req.input.bucket, Vec::new())
            .await
            .map_err(meta_err)?;
        Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let input = req.input;
        let rules = cors::rules_from_s3(input.cors_configuration)?;
        self.meta
            .put_bucket_config(&input.bucket, BucketConfig::Cors(rules.clone()))
            .await
            .map_err(meta_err)?;
        self.cors.changed(&input.bucket, Some(rules));
        Ok(S3Response::new(PutBucketCorsOutput::default()))
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        match self
            .meta
            .get_bucket_config(&req.input.bucket, BucketConfigKind::Cors)
            .await
            .map_err(meta_err)?
        {
            Some(BucketConfig::Cors(rules)) => Ok(S3Response::new(GetBucketCorsOutput {
                cors_rules: Some(cors::rules_to_s3(&rules)),
            })),
            None => Err(s3_error!(
                NoSuchCORSConfiguration,
                "The CORS configuration does not exist"
            )),
        }
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.meta
            .delete_bucket_config(&req.input.bucket, BucketConfigKind::Cors)
            .await
            .map_err(meta_err)?;
        self.cors.changed(&req.input.bucket, None);
        Ok(S3Response::new(DeleteBucketCorsOutput::default()))
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(acl::owner_grants()),
            owner: Some(owner()),
        }))
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let input = &req.input;
        self.require_bucket(&input.bucket).await?;
        acl::check(&acl::AclRequest {
            canned: input.acl.as_ref().map(|a| a.as_str()),
            grant_full_control: input.grant_full_control.as_deref(),
            other_grants: input.grant_read.is_some()
                || input.grant_write.is_some()
                || input.grant_read_acp.is_some()
                || input.grant_write_acp.is_some(),
            policy: input.access_control_policy.as_ref(),
        })?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let input = req.input;
        check_version(input.version_id.as_deref())?;
        self.meta
            .get_object(&input.bucket, &input.key)
            .await
            .map_err(meta_err)?;
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(acl::owner_grants()),
            owner: Some(owner()),
            request_charged: None,
        }))
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let input = &req.input;
        check_version(input.version_id.as_deref())?;
        self.meta
            .get_object(&input.bucket, &input.key)
            .await
            .map_err(meta_err)?;
        acl::check(&acl::AclRequest {
            canned: input.acl.as_ref().map(|a| a.as_str()),
            grant_full_control: input.grant_full_control.as_deref(),
            other_grants: input.grant_read.is_some()
                || input.grant_write.is_some()
                || input.grant_read_acp.is_some()
                || input.grant_write_acp.is_some(),
            policy: input.access_control_policy.as_ref(),
        })?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }

    /// Bucket policies are not supported: a bucket never has one.
    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Err(s3_error!(
            NoSuchBucketPolicy,
            "The bucket policy does not exist"
        ))
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::with_status(
            DeleteBucketPolicyOutput {},
            http::StatusCode::NO_CONTENT,
        ))
    }

    /// Lifecycle rules are not supported: a bucket never has any.
    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Err(s3_error!(
            NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist"
        ))
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::with_status(
            DeleteBucketLifecycleOutput {},
            http::StatusCode::NO_CONTENT,
        ))
    }

    /// Buckets have never had versioning: S3 answers an empty
    /// VersioningConfiguration (no Status) for such a bucket.
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketVersioningOutput::default()))
    }

    /// Versioning is not implemented: refused with 501 NotImplemented, as
    /// S3-compatible stores without versioning answer it, and nothing
    /// changes (GetBucketVersioning keeps answering "never enabled").
    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Err(s3_error!(
            NotImplemented,
            "Bucket versioning is not supported by this server"
        ))
    }

    async fn get_bucket_request_payment(
        &self,
        req: S3Request<GetBucketRequestPaymentInput>,
    ) -> S3Result<S3Response<GetBucketRequestPaymentOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketRequestPaymentOutput {
            payer: Some(Payer::from_static(Payer::BUCKET_OWNER)),
        }))
    }

    /// The bucket owner pays, always: setting that again succeeds;
    /// Requester Pays is not supported.
    async fn put_bucket_request_payment(
        &self,
        req: S3Request<PutBucketRequestPaymentInput>,
    ) -> S3Result<S3Response<PutBucketRequestPaymentOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket).await?;
        let payer = input.request_payment_configuration.payer;
        if payer.as_str() != Payer::BUCKET_OWNER {
            return Err(s3_error!(
                NotImplemented,
                "Requester Pays buckets are not supported by this server"
            ));
        }
        Ok(S3Response::new(PutBucketRequestPaymentOutput {}))
    }

    /// Every object is in the STANDARD class, which has nothing to
    /// restore: S3's answer for such an object.
    async fn restore_object(
        &self,
        req: S3Request<RestoreObjectInput>,
    ) -> S3Result<S3Response<RestoreObjectOutput>> {
        let input = req.input;
        check_version(input.version_id.as_deref())?;
        self.meta
            .get_object(&input.bucket, &input.key)
            .await
            .map_err(meta_err)?;
        Err(s3_error!(
            InvalidObjectState,
            "Restore is not allowed for the object's current storage class"
        ))
    }

    /// Object Lock is not supported: no bucket has its configuration.
    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Err(s3_error!(
            ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket"
        ))
    }

    /// As S3 answers for every bucket it creates today: ACLs disabled,
    /// the bucket owner owns every object ([`acl`]).
    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::from_static(
                        ObjectOwnership::BUCKET_OWNER_ENFORCED,
                    ),
                }],
            }),
        }))
    }

    /// Nothing in Shale is public (no anonymous access, no ACL grants, no
    /// policies): every block is on, as on new S3 buckets.
    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(true),
                block_public_policy: Some(true),
                ignore_public_acls: Some(true),
                restrict_public_buckets: Some(true),
            }),
        }))
    }

    /// Without a policy there is no policy status (S3's answer too).
    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Err(s3_error!(
            NoSuchBucketPolicy,
            "The bucket policy does not exist"
        ))
    }

    /// Static website hosting is not supported: no bucket has it.
    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Err(s3_error!(
            NoSuchWebsiteConfiguration,
            "The specified bucket does not have a website configuration"
        ))
    }

    /// Server access logging is off (an empty BucketLoggingStatus).
    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketLoggingOutput::default()))
    }

    /// No event notifications (an empty NotificationConfiguration).
    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(
            GetBucketNotificationConfigurationOutput::default(),
        ))
    }

    /// Transfer acceleration was never set (no Status).
    async fn get_bucket_accelerate_configuration(
        &self,
        req: S3Request<GetBucketAccelerateConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(
            GetBucketAccelerateConfigurationOutput::default(),
        ))
    }

    /// Bucket replication is not configured on any bucket yet.
    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Err(s3_error!(
            ReplicationConfigurationNotFoundError,
            "The replication configuration was not found"
        ))
    }

    /// Objects are stored without server-side encryption, so a bucket has
    /// no default encryption configuration (S3's 404 for that case).
    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        let mut e = s3_error!(
            ServerSideEncryptionConfigurationNotFoundError,
            "The server side encryption configuration was not found"
        );
        e.set_status_code(http::StatusCode::NOT_FOUND);
        Err(e)
    }

    /// Retention needs Object Lock, which no bucket has.
    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Err(s3_error!(
            InvalidRequest,
            "Bucket is missing Object Lock Configuration"
        ))
    }

    /// Legal holds need Object Lock, which no bucket has.
    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        self.require_bucket(&req.input.bucket).await?;
        Err(s3_error!(
            InvalidRequest,
            "Bucket is missing Object Lock Configuration"
        ))
    }

    /// The versions of a bucket that has never had versioning: one per
    /// object, version id `null`, always the latest; no delete markers.
    /// Paging is by key: `version-id-marker` can only be `null`, and names
    /// the version of `key-marker` the page starts after.
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let max_keys = page_size(input.max_keys)?;
        let key_marker = input.key_marker.clone().filter(|s| !s.is_empty());
        let version_marker = input.version_id_marker.clone().filter(|s| !s.is_empty());
        if let Some(v) = &version_marker {
            if key_marker.is_none() {
                return Err(s3_error!(
                    InvalidArgument,
                    "A version-id marker cannot be specified without a key marker."
                ));
            }
            if v != "null" {
                return Err(s3_error!(InvalidArgument, "Invalid version id specified"));
            }
        }
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let res = self
            .meta
            .list_objects(
                &input.bucket,
                &prefix,
                delimiter.as_deref(),
                key_marker.as_deref(),
                max_keys,
            )
            .await
            .map_err(meta_err)?;
        let url = is_url_encoding(&input.encoding_type);
        // The page's last entry: a version of a key, or a common prefix
        // (which has no version, so no version-id marker).
        let last_is_key = match (res.objects.last(), res.common_prefixes.last()) {
            (Some(o), Some(p)) => o.key > *p,
            (Some(_), None) => true,
            _ => false,
        };
        let versions = res
            .objects
            .into_iter()
            .map(|o| ObjectVersion {
                e_tag: Some(etag(&o.etag)),
                is_latest: Some(true),
                key: Some(encode_key(o.key, url)),
                last_modified: Some(ts(o.last_modified_ms)),
                owner: Some(owner()),
                size: Some(o.size as i64),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id: Some("null".into()),
                ..Default::default()
            })
            .collect();
        let truncated = res.is_truncated;
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encode_key(prefix, url)),
            // S3 echoes both markers, empty when the request had none.
            key_marker: Some(encode_key(input.key_marker.unwrap_or_default(), url)),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(truncated),
            next_key_marker: if truncated {
                res.next_marker.map(|m| encode_key(m, url))
            } else {
                None
            },
            next_version_id_marker: (truncated && last_is_key).then(|| "null".to_owned()),
            versions: Some(versions),
            delete_markers: None,
            common_prefixes: Some(prefix_entries(res.common_prefixes, url)),
            delimiter: delimiter.map(|d| encode_key(d, url)),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

/// GetObjectAttributes' ObjectParts of a multipart object: a page of its
/// parts after `marker`, with each part's checksum when the object has one.
fn object_parts(
    row: &ObjectRow,
    total: u32,
    marker: Option<i32>,
    max: u32,
) -> GetObjectAttributesParts {
    let sizes: Vec<(u32, u64)> = match &row.data {
        ObjectData::Parts(parts) => parts.iter().map(|p| (p.number, p.size)).collect(),
        ObjectData::Inline(_) => Vec::new(),
    };
    let after = marker.unwrap_or(0).max(0) as u32;
    let remaining: Vec<(usize, &(u32, u64))> = sizes
        .iter()
        .enumerate()
        .filter(|(_, (number, _))| *number > after)
        .collect();
    let truncated = remaining.len() > max as usize;
    let page: Vec<ObjectPart> = remaining
        .into_iter()
        .take(max as usize)
        .map(|(i, (number, size))| {
            let mut part = ObjectPart {
                part_number: Some(*number as i32),
                size: Some(*size as i64),
                ..Default::default()
            };
            if let Some(c) = &row.checksum
                && let Some(d) = c.parts.get(i)
            {
                set_checksum_fields!(part, ChecksumFields::digest(c.algorithm, d));
            }
            part
        })
        .collect();
    let next = page.last().and_then(|p| p.part_number);
    GetObjectAttributesParts {
        is_truncated: Some(truncated),
        max_parts: Some(max as i32),
        next_part_number_marker: if truncated { next } else { None },
        part_number_marker: marker,
        parts: Some(page),
        total_parts_count: Some(total as i32),
    }
}

/// Every checksum computed for one body, by algorithm.
type Digests = Vec<(ChecksumAlgorithm, Vec<u8>)>;

/// The FULL_OBJECT checksum of `algorithm` among those computed for a body.
fn full_object_checksum(
    digests: &Digests,
    algorithm: ChecksumAlgorithm,
) -> S3Result<ObjectChecksum> {
    let value = digests
        .iter()
        .find(|(a, _)| *a == algorithm)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            to_s3_error(Error::Internal(format!(
                "the {} checksum was not computed",
                algorithm.name()
            )))
        })?;
    Ok(ObjectChecksum {
        algorithm,
        kind: ChecksumType::FullObject,
        value,
        parts: Vec::new(),
    })
}

/// The checksum UploadPart and ListParts report for a part: the upload's
/// algorithm, or CRC64NVME (S3's default) for an upload created without one.
fn part_algorithm(upload: Option<UploadChecksum>) -> ChecksumAlgorithm {
    upload.map_or(ChecksumAlgorithm::Crc64Nvme, |c| c.algorithm)
}

/// `x-amz-checksum-algorithm` and `x-amz-checksum-type` of
/// CreateMultipartUpload, with S3's rules: a type needs an algorithm, an
/// algorithm alone gets its default type, and SHAs cannot be FULL_OBJECT
/// nor CRC64NVME COMPOSITE.
fn upload_checksum(
    algorithm: Option<&s3s::dto::ChecksumAlgorithm>,
    kind: Option<&s3s::dto::ChecksumType>,
) -> Result<Option<UploadChecksum>, Error> {
    let Some(algorithm) = algorithm else {
        return match kind {
            None => Ok(None),
            Some(_) => Err(Error::InvalidRequest(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".into(),
            )),
        };
    };
    let algorithm = checksum::algorithm_of(algorithm)?;
    let kind = match kind {
        Some(k) => checksum::type_of(k)?,
        None => algorithm.default_type(),
    };
    if !algorithm.supports(kind) {
        return Err(Error::InvalidRequest(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.name(),
            algorithm.name().to_lowercase()
        )));
    }
    Ok(Some(UploadChecksum { algorithm, kind }))
}

/// S3's name of a checksum algorithm.
fn s3_algorithm(a: ChecksumAlgorithm) -> s3s::dto::ChecksumAlgorithm {
    s3s::dto::ChecksumAlgorithm::from(a.name().to_owned())
}

/// The object checksum a CompleteMultipartUpload expects: a digest, with a
/// `-<parts>` suffix for COMPOSITE ones, whose count must be the parts'.
fn expected_object_checksum(
    algorithm: ChecksumAlgorithm,
    value: &str,
    parts: usize,
) -> S3Result<Vec<u8>> {
    let (digest, count) = match value.trim().rsplit_once('-') {
        Some((d, n)) => (d, Some(n)),
        None => (value, None),
    };
    let bad = || {
        s3_error!(
            InvalidRequest,
            "Value for {} header is invalid.",
            algorithm.header()
        )
    };
    let digest = checksum::parse_value(algorithm, digest).ok_or_else(bad)?;
    if let Some(n) = count
        && n.parse::<usize>().map_err(|_| bad())? != parts
    {
        return Err(s3_error!(
            BadDigest,
            "The {} you specified did not match the calculated checksum.",
            algorithm.name().to_lowercase()
        ));
    }
    Ok(digest)
}

/// The checksum GET and HEAD report: only when the request asks for it
/// (`x-amz-checksum-mode: ENABLED`), and never for a range, whose bytes are
/// not the ones the checksum covers (S3 does the same).
///
/// For one part of a multipart object (`partNumber`), the checksum is that
/// part's digest, which is what the bytes sent can be checked against.
fn reported_checksum(
    row: &ObjectRow,
    mode: Option<&ChecksumMode>,
    content_range: &Option<String>,
    part: Option<&PartRead>,
) -> Option<ChecksumFields> {
    let enabled = mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED));
    if !enabled {
        return None;
    }
    let c = row.checksum.as_ref()?;
    match part {
        Some(PartRead {
            index,
            count: Some(_),
        }) => c
            .parts
            .get(*index)
            .map(|d| ChecksumFields::digest(c.algorithm, d)),
        // partNumber=1 of a single-part object is the whole object.
        Some(PartRead { count: None, .. }) => Some(ChecksumFields::object(c, row.parts_count)),
        None if content_range.is_some() => None,
        None => Some(ChecksumFields::object(c, row.parts_count)),
    }
}

/// One part of an object read with `partNumber`: its position among the
/// object's parts, and the object's parts count (None: not multipart).
struct PartRead {
    index: usize,
    count: Option<u32>,
}

/// The bytes `[start, end)` a GET or HEAD reads, the Content-Range to
/// answer with, and the part it names: from `partNumber`, else `Range`.
///
/// As S3: `partNumber` is the part's position (1 to PartsCount) and
/// answers 206 with its Content-Range; a single-part object has one part,
/// the whole object; a part past the last is 416 InvalidPartNumber; a
/// request with both `partNumber` and `Range` is refused.
fn read_extent(
    row: &ObjectRow,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<(u64, u64, Option<String>, Option<PartRead>)> {
    let Some(n) = part_number else {
        let (start, end, content_range) = resolve_range(range, row.size)?;
        return Ok((start, end, content_range, None));
    };
    if !(1..=10_000).contains(&n) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    if range.is_some() {
        return Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter."
        ));
    }
    let index = (n - 1) as usize;
    let not_satisfiable = || {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("InvalidPartNumber".into()),
            "The requested partnumber is not satisfiable",
        );
        e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        e
    };
    let (start, end, count) = match (&row.data, row.parts_count) {
        (ObjectData::Parts(parts), Some(count)) => {
            let part = parts.get(index).ok_or_else(not_satisfiable)?;
            let start: u64 = parts[..index].iter().map(|p| p.size).sum();
            (start, start + part.size, Some(count))
        }
        _ if index == 0 => (0, row.size, None),
        _ => return Err(not_satisfiable()),
    };
    // An empty object has no byte to name in a Content-Range.
    let content_range = (end > start).then(|| format!("bytes {}-{}/{}", start, end - 1, row.size));
    Ok((start, end, content_range, Some(PartRead { index, count })))
}

/// Listing entries for objects; keys URL-encoded when `url`.
fn object_entries(
    objects: Vec<shale_metadata::ObjectSummary>,
    url: bool,
    with_owner: bool,
) -> Vec<Object> {
    objects
        .into_iter()
        .map(|o| Object {
            e_tag: Some(etag(&o.etag)),
            key: Some(encode_key(o.key, url)),
            last_modified: Some(ts(o.last_modified_ms)),
            size: Some(o.size as i64),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            owner: with_owner.then(owner),
            ..Default::default()
        })
        .collect()
}

/// Listing entries for common prefixes; URL-encoded when `url`.
fn prefix_entries(prefixes: Vec<String>, url: bool) -> Vec<CommonPrefix> {
    prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(encode_key(p, url)),
        })
        .collect()
}

/// The bytes `[start, end)` a Range header asks of an object of `size`
/// bytes, and the Content-Range to answer with (None: no Range, whole object).
fn resolve_range(range: Option<&Range>, size: u64) -> S3Result<(u64, u64, Option<String>)> {
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

/// The object headers common to GET and HEAD. S3 sends
/// `x-amz-mp-parts-count` only for a read of one part (`partNumber`) of a
/// multipart object.
fn object_output(row: &ObjectRow, part: Option<&PartRead>) -> GetObjectOutput {
    GetObjectOutput {
        accept_ranges: Some("bytes".into()),
        cache_control: header(&row.system_headers, "cache-control").map(str::to_owned),
        content_disposition: header(&row.system_headers, "content-disposition").map(str::to_owned),
        content_encoding: header(&row.system_headers, "content-encoding").map(str::to_owned),
        content_language: header(&row.system_headers, "content-language").map(str::to_owned),
        // S3 answers binary/octet-stream for objects stored without a type.
        content_type: row
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream")
            .parse()
            .ok(),
        e_tag: Some(etag(&row.etag)),
        expires: parse_expires(header(&row.system_headers, "expires")),
        last_modified: Some(ts(row.last_modified_ms)),
        metadata: user_metadata(&row.user_metadata),
        parts_count: part.and_then(|p| p.count).map(|n| n as i32),
        content_length: Some(row.size as i64),
        // Sent only when the object has tags, as S3 does.
        tag_count: (!row.tags.is_empty()).then_some(row.tags.len() as i32),
        ..Default::default()
    }
}

/// The `response-*` query parameters of GET and HEAD.
struct ResponseOverrides {
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    content_type: Option<String>,
    expires: Option<Timestamp>,
}

/// Replaces the stored headers the request overrides. S3 honours these only
/// on signed requests; Shale has no anonymous access yet, so every request
/// that gets this far is signed.
fn apply_overrides(out: &mut GetObjectOutput, o: ResponseOverrides) {
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
fn check_conditions(
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

fn not_modified() -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::Custom("NotModified".into()));
    e.set_status_code(http::StatusCode::NOT_MODIFIED);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(header: &str, size: u64) -> Option<(u64, u64, String)> {
        let r = Range::parse(header).ok()?;
        resolve_range(Some(&r), size)
            .ok()
            .map(|(a, b, h)| (a, b, h.unwrap_or_default()))
    }

    #[test]
    fn ranges_resolve_as_s3_does() {
        assert_eq!(
            resolve("bytes=0-0", 10),
            Some((0, 1, "bytes 0-0/10".into()))
        );
        assert_eq!(
            resolve("bytes=2-5", 10),
            Some((2, 6, "bytes 2-5/10".into()))
        );
        // An end past the object is cut to the object.
        assert_eq!(
            resolve("bytes=5-100", 10),
            Some((5, 10, "bytes 5-9/10".into()))
        );
        assert_eq!(
            resolve("bytes=7-", 10),
            Some((7, 10, "bytes 7-9/10".into()))
        );
        assert_eq!(
            resolve("bytes=-3", 10),
            Some((7, 10, "bytes 7-9/10".into()))
        );
        assert_eq!(
            resolve("bytes=-30", 10),
            Some((0, 10, "bytes 0-9/10".into()))
        );
        // Unsatisfiable: a start at or past the end, any range of an empty object.
        assert_eq!(resolve("bytes=10-", 10), None);
        assert_eq!(resolve("bytes=0-0", 0), None);
        assert!(resolve_range(None, 10).is_ok_and(|r| r == (0, 10, None)));
    }

    #[test]
    fn aws_chunked_is_not_stored() {
        assert_eq!(stored_content_encoding(Some("aws-chunked".into())), None);
        assert_eq!(
            stored_content_encoding(Some("gzip,aws-chunked".into())),
            Some("gzip".into())
        );
        assert_eq!(
            stored_content_encoding(Some("aws-chunked, br".into())),
            Some("br".into())
        );
        assert_eq!(stored_content_encoding(None), None);
    }

    #[test]
    fn listing_url_encoding_is_s3_form_encoding() {
        assert_eq!(encode_key("d e/f+g%".into(), true), "d+e/f%2Bg%25");
        assert_eq!(encode_key("ü".into(), true), "%C3%BC");
        assert_eq!(encode_key("a b".into(), false), "a b");
    }

    #[test]
    fn copy_source_ranges() {
        assert_eq!(parse_copy_range(None, 10).ok(), Some((0, 10)));
        assert_eq!(parse_copy_range(Some("bytes=0-9"), 10).ok(), Some((0, 10)));
        assert_eq!(parse_copy_range(Some("bytes=3-3"), 10).ok(), Some((3, 4)));
        for bad in [
            "bytes=0-10",
            "bytes=5-",
            "bytes=-5",
            "0-1",
            "bytes=4-3",
            "bytes=+1-2",
        ] {
            assert!(parse_copy_range(Some(bad), 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn continuation_tokens_round_trip() {
        for marker in ["a", "dir/", "ünïcode key with spaces", ""] {
            assert_eq!(
                token_decode(&token_encode(marker)).ok().as_deref(),
                Some(marker)
            );
        }
        assert!(token_decode("%%%").is_err());
    }
}
