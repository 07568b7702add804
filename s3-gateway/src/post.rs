//! Browser uploads (POST Object): a `multipart/form-data` POST to a bucket,
//! authorized by a signed policy document instead of a signed request.
//! The HTTP front hands such requests here before `s3s` ([`upload`]),
//! because `s3s` 0.14.1 holds the whole file in memory while it checks the
//! policy; here the file streams into the data path, so memory per upload
//! is bounded whatever the file's size (S3's limit: 5 GiB).
//!
//! The steps, as S3 takes them
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html>):
//!
//! 1. read the form's fields up to the one named `file` ([`read_form`]),
//!    with `multer` (streaming, one field at a time); at most
//!    [`MAX_FIELDS_BYTES`] of them (`MaxPostPreDataLengthExceededError`);
//!    fields after the file are read and ignored, as S3 ignores them;
//! 2. check the signature of the base64 policy: SigV4 (`x-amz-algorithm`,
//!    `x-amz-credential`, `x-amz-date`, `x-amz-signature`) or SigV2
//!    (`AWSAccessKeyId`, `signature`), with the secret of the key from the
//!    metadata service ([`crate::access::Keys`], as for every request);
//!    then the key's grant on the bucket, as [`crate::access`] checks
//!    `PostObject` for `s3s`;
//! 3. check the policy ([`check_policy`], parsed by `s3s::post_policy`):
//!    expiration, every `eq` / `starts-with` / exact-match condition, and
//!    that every field is covered by one;
//! 4. stream the file into [`crate::s3::Gateway`]'s PutObject (the same
//!    checks, checksums, tags and commit as a PUT), counting its bytes
//!    against `content-length-range` ([`FileBody`]): too many fail the
//!    upload as soon as they arrive (`EntityTooLarge`), too few at its end
//!    (`EntityTooSmall`); either way nothing is committed;
//! 5. answer as `success_action_redirect` / `success_action_status` ask:
//!    303 to the redirect with `bucket`, `key` and `etag`; 200 or 201 (a
//!    `PostResponse` document with the object's absolute URL); else 204.
//!
//! `${filename}` in the key is replaced by the file's name (its base name:
//! old browsers sent a whole Windows path).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use futures::Stream;
use hmac::{KeyInit, Mac};
use s3s::dto::{ObjectCannedACL, PutObjectInput, StreamingBlob, Tagging, Timestamp};
use s3s::post_policy::{PostPolicy, PostPolicyCondition, PostPolicyError};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Result, s3_error};
use time::OffsetDateTime;

use crate::access::{self, Caller, Keys};
use crate::s3::Gateway;
use crate::vhost::VirtualHosts;
use shale_common::sigv4::SigningKey;

/// Most bytes of form fields before the file, as S3 allows (about 20 KB).
pub const MAX_FIELDS_BYTES: usize = 20 * 1024;
/// Largest file of a browser upload, as in S3: 5 GiB.
pub const MAX_FILE_SIZE: u64 = 5 << 30;
/// Most bytes read from the body before the file starts: the fields and
/// the file's part header, plus what one read brings along. Past it the
/// form is refused, however `multer` is still looking for a header's end.
const MAX_BYTES_BEFORE_FILE: u64 = 1 << 20;
/// Most bytes pulled from the body in one go before the reader yields:
/// `multer` buffers everything its stream has ready, so this bounds its
/// buffer when the client sends faster than the data path stores.
const READ_BUDGET: usize = 256 * 1024;
/// Most bytes of the file read and thrown away after the upload failed, so
/// that the client, still sending, reads the error instead of a reset.
const DRAIN_LIMIT: u64 = 64 << 20;
/// Most bytes of fields after the file that are read (and ignored).
const MAX_TRAILING_BYTES: u64 = 64 * 1024;

/// True for a `multipart/form-data` POST: a browser upload when it names
/// a bucket ([`form_bucket`]).
pub fn is_form_upload<B>(req: &http::Request<B>) -> bool {
    req.method() == http::Method::POST
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            })
}

/// The bucket a browser upload is for: the virtual host's (path `/`), or
/// the one path segment of a path-style URL (`/bucket`). `None` for any
/// other path (S3 answers POST to `/bucket/key` 405, which `s3s` does).
/// `path` is percent-decoded.
pub fn form_bucket(hosts: &VirtualHosts, host: &str, path: &str) -> Option<String> {
    if let Some((bucket, _)) = hosts.bucket_of(host) {
        return (path.is_empty() || path == "/").then_some(bucket);
    }
    let rest = path.strip_prefix('/')?;
    let bucket = rest.strip_suffix('/').unwrap_or(rest);
    (!bucket.is_empty() && !bucket.contains('/') && s3s::path::check_bucket_name(bucket))
        .then(|| bucket.to_owned())
}

/// The gateway's parts a browser upload needs.
#[derive(Clone)]
pub struct PostContext {
    /// The S3 operations: the file is stored by its PutObject.
    pub gateway: Gateway,
    /// Access keys (secrets and grants), shared with `s3s`'s checks.
    pub keys: Arc<Keys>,
    /// Largest file accepted ([`MAX_FILE_SIZE`] unless configured lower).
    pub max_file_size: u64,
    /// How long the body may go without a byte (`RequestTimeout` after).
    pub body_idle: std::time::Duration,
}

/// An S3 error with the extra elements S3 puts in some error documents
/// (`ArgumentName`, `MaxSizeAllowed`, …).
#[derive(Debug)]
pub struct Failure {
    error: S3Error,
    extra: Vec<(&'static str, String)>,
}

impl From<S3Error> for Failure {
    fn from(error: S3Error) -> Self {
        Failure {
            error,
            extra: Vec::new(),
        }
    }
}

impl Failure {
    fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.extra.push((name, value.to_string()));
        self
    }

    /// The error's code.
    pub fn code(&self) -> &S3ErrorCode {
        self.error.code()
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        self.error.message().unwrap_or_default()
    }

    /// The error answer (the HTTP front adds `Resource` and `RequestId`).
    pub fn into_response(self) -> http::Response<s3s::Body> {
        let status = self
            .error
            .status_code()
            .unwrap_or(http::StatusCode::BAD_REQUEST);
        let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
            esc(self.error.code().as_str()),
            esc(self.message())
        );
        for (name, value) in &self.extra {
            xml.push_str(&format!("<{name}>{}</{name}>", esc(value)));
        }
        xml.push_str("</Error>");
        let mut resp = http::Response::new(s3s::Body::from(xml));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/xml"),
        );
        resp
    }
}

fn malformed() -> S3Error {
    s3_error!(
        MalformedPOSTRequest,
        "The body of your POST request is not well-formed multipart/form-data."
    )
}

/// S3's answer to a form without a field it needs before the file.
fn missing_field(name: &str) -> Failure {
    Failure::from(S3Error::with_message(
        S3ErrorCode::InvalidArgument,
        format!(
            "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
        ),
    ))
    .with("ArgumentName", name)
    .with("ArgumentValue", "")
}

fn policy_failure(detail: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessDenied,
        format!("Invalid according to Policy: {detail}"),
    )
}

/// How much of the body has been read, shared by the reader and the form.
#[derive(Debug, Default)]
struct Progress {
    pulled: AtomicU64,
    file_started: AtomicBool,
    too_much_before_file: AtomicBool,
}

/// The request body as `multer` reads it: data frames only, at most
/// [`READ_BUDGET`] bytes before it lets other tasks run (see there), and
/// at most [`MAX_BYTES_BEFORE_FILE`] before the file starts.
struct BodyReader<B> {
    body: B,
    progress: Arc<Progress>,
    since_yield: usize,
}

impl<B> Stream for BodyReader<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<s3s::StdError>,
{
    type Item = Result<Bytes, s3s::StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.since_yield >= READ_BUDGET {
            self.since_yield = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => {
                    self.since_yield = 0;
                    return Poll::Pending;
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: nothing S3 reads in a form
                    };
                    if data.is_empty() {
                        continue;
                    }
                    let p = &self.progress;
                    let pulled = p.pulled.fetch_add(data.len() as u64, Ordering::Relaxed)
                        + data.len() as u64;
                    if !p.file_started.load(Ordering::Relaxed) && pulled > MAX_BYTES_BEFORE_FILE {
                        p.too_much_before_file.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err("form fields too large".into())));
                    }
                    self.since_yield += data.len();
                    return Poll::Ready(Some(Ok(data)));
                }
            }
        }
    }
}

/// The fields of a form before its file, and the file's part, if any.
#[derive(Debug, Default)]
pub struct Form {
    /// Field names (lower case: S3 matches them without case) and values,
    /// in order.
    pub fields: Vec<(String, String)>,
    /// Whether a part named `file` was found.
    pub has_file: bool,
    /// The file's name (`filename` of its part), base name only.
    pub file_name: Option<String>,
}

impl Form {
    /// The value of field `name` (lower case), the first if repeated.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A form being read: its fields are in [`Form`]; the file (if any) is
/// read next, through [`FormReader::file_body`].
pub struct FormReader {
    multipart: multer::Multipart<'static>,
    file: Option<multer::Field<'static>>,
    progress: Arc<Progress>,
}

/// Reads a browser upload's form up to its file (step 1 of the module
/// docs). `content_type` is the request's header, with the boundary.
pub async fn read_form<B>(content_type: &str, body: B) -> Result<(Form, FormReader), Failure>
where
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<s3s::StdError>,
{
    let boundary = multer::parse_boundary(content_type).map_err(|_| malformed())?;
    let progress = Arc::new(Progress::default());
    let reader = BodyReader {
        body,
        progress: Arc::clone(&progress),
        since_yield: 0,
    };
    let mut multipart = multer::Multipart::new(reader, boundary);
    let mut form = Form::default();
    let mut size = 0usize;
    let too_large = || {
        Failure::from(S3Error::with_message(
            S3ErrorCode::MaxPostPreDataLengthExceededError,
            "Your POST request fields preceding the upload file were too large.",
        ))
    };
    let read_error = |progress: &Progress| {
        if progress.too_much_before_file.load(Ordering::Relaxed) {
            too_large()
        } else {
            Failure::from(malformed())
        }
    };
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return Err(read_error(&progress)),
        };
        let Some(name) = field.name().map(str::to_ascii_lowercase) else {
            return Err(malformed().into());
        };
        if name == "file" {
            progress.file_started.store(true, Ordering::Relaxed);
            form.has_file = true;
            form.file_name = field
                .file_name()
                .map(|n| n.rsplit(['/', '\\']).next().unwrap_or("").to_owned());
            return Ok((
                form,
                FormReader {
                    multipart,
                    file: Some(field),
                    progress,
                },
            ));
        }
        size += name.len();
        let mut value = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(piece)) => {
                    size += piece.len();
                    if size > MAX_FIELDS_BYTES {
                        return Err(too_large());
                    }
                    value.extend_from_slice(&piece);
                }
                Ok(None) => break,
                Err(_) => return Err(read_error(&progress)),
            }
        }
        if size > MAX_FIELDS_BYTES {
            return Err(too_large());
        }
        let value = String::from_utf8(value).map_err(|_| malformed())?;
        form.fields.push((name, value));
    }
    Ok((
        form,
        FormReader {
            multipart,
            file: None,
            progress,
        },
    ))
}

/// How a form is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// No signature: an anonymous upload.
    Anonymous,
    /// SigV4: the credential's parts and the signature.
    V4 {
        access_key: String,
        date: String,
        region: String,
        service: String,
        signature: String,
    },
    /// SigV2: the key and the signature.
    V2 {
        access_key: String,
        signature: String,
    },
}

impl Signer {
    /// The access key that signed, if any.
    pub fn access_key(&self) -> Option<&str> {
        match self {
            Signer::Anonymous => None,
            Signer::V4 { access_key, .. } | Signer::V2 { access_key, .. } => Some(access_key),
        }
    }
}

/// Who signed the form, from its fields (before any secret is looked up):
/// the fields each version needs must all be there.
pub fn signer(form: &Form) -> Result<Signer, Failure> {
    let v4 = ["x-amz-signature", "x-amz-credential", "x-amz-algorithm"]
        .iter()
        .any(|n| form.field(n).is_some());
    let v2 = ["signature", "awsaccesskeyid"]
        .iter()
        .any(|n| form.field(n).is_some());
    if !v4 && !v2 {
        return Ok(Signer::Anonymous);
    }
    let need = |name: &str| form.field(name).ok_or_else(|| missing_field(name));
    if v4 {
        let algorithm = need("x-amz-algorithm")?;
        let credential = need("x-amz-credential")?;
        let amz_date = need("x-amz-date")?;
        let signature = need("x-amz-signature")?;
        need("policy")?;
        if algorithm != "AWS4-HMAC-SHA256" {
            return Err(Failure::from(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Only AWS4-HMAC-SHA256 is supported as x-amz-algorithm.",
            ))
            .with("ArgumentName", "x-amz-algorithm")
            .with("ArgumentValue", algorithm));
        }
        let parts: Vec<&str> = credential.split('/').collect();
        let bad_credential = || {
            Failure::from(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("Invalid credential: {credential}"),
            ))
            .with("ArgumentName", "x-amz-credential")
            .with("ArgumentValue", credential)
        };
        let [access_key, date, region, service, "aws4_request"] = parts.as_slice() else {
            return Err(bad_credential());
        };
        if access_key.is_empty()
            || date.len() != 8
            || !date.bytes().all(|b| b.is_ascii_digit())
            || region.is_empty()
            || service.is_empty()
        {
            return Err(bad_credential());
        }
        // The scope's day is the day of x-amz-date (`yyyymmddThhmmssZ`).
        if amz_date.get(..8) != Some(*date) {
            return Err(s3_error!(
                SignatureDoesNotMatch,
                "The credential's date does not match x-amz-date."
            )
            .into());
        }
        return Ok(Signer::V4 {
            access_key: (*access_key).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
            signature: signature.to_owned(),
        });
    }
    let access_key = need("awsaccesskeyid")?;
    let signature = need("signature")?;
    need("policy")?;
    Ok(Signer::V2 {
        access_key: access_key.to_owned(),
        signature: signature.to_owned(),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the signature of the form's base64 policy with `secret`.
pub fn verify_signature(signer: &Signer, policy_b64: &str, secret: &str) -> S3Result<()> {
    let good = match signer {
        Signer::Anonymous => return Ok(()),
        Signer::V4 {
            date,
            region,
            service,
            signature,
            ..
        } => {
            let expected = SigningKey::new(secret, date, region, service).sign(policy_b64);
            constant_time_eq(expected.as_bytes(), signature.as_bytes())
        }
        Signer::V2 { signature, .. } => {
            let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(policy_b64.as_bytes());
            let expected =
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            constant_time_eq(expected.as_bytes(), signature.as_bytes())
        }
    };
    if good {
        Ok(())
    } else {
        Err(s3_error!(
            SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        ))
    }
}

/// Parses the base64 policy document, with S3's words for what is wrong.
pub fn parse_policy(policy_b64: &str) -> S3Result<PostPolicy> {
    let invalid = |detail: &str| {
        S3Error::with_message(
            S3ErrorCode::InvalidPolicyDocument,
            format!("Invalid Policy: {detail}"),
        )
    };
    PostPolicy::from_base64(policy_b64.trim()).map_err(|e| match e {
        PostPolicyError::Base64(_) => invalid("Invalid Base64 encoding."),
        PostPolicyError::Utf8(_) => invalid("Invalid JSON."),
        PostPolicyError::Json(e) => {
            let text = e.to_string();
            if text.contains("missing field `expiration`") {
                invalid("Policy missing expiration.")
            } else if text.contains("missing field `conditions`") {
                invalid("Policy missing conditions.")
            } else {
                invalid("Invalid JSON.")
            }
        }
        PostPolicyError::MissingField(name) => invalid(&format!("Policy missing {name}.")),
        PostPolicyError::InvalidCondition => invalid("Invalid Simple-Condition."),
        PostPolicyError::InvalidExpiration(v) => {
            invalid(&format!("Invalid 'expiration' value: '{v}'"))
        }
    })
}

/// Fields every form may carry without a condition for them (S3's list:
/// the signature's own fields, the policy, the file, `x-ignore-*`).
fn exempt(name: &str) -> bool {
    matches!(
        name,
        "x-amz-signature" | "signature" | "awsaccesskeyid" | "file" | "policy"
    ) || name.starts_with("x-ignore-")
}

/// Checks a policy against the form (step 3 of the module docs) for an
/// upload to `bucket` at `now`. Returns the file sizes it allows, at most
/// `max_file_size`.
pub fn check_policy(
    policy: &PostPolicy,
    form: &Form,
    bucket: &str,
    now: OffsetDateTime,
    max_file_size: u64,
) -> S3Result<(u64, u64)> {
    let expiration = OffsetDateTime::from(policy.expiration.clone());
    if now >= expiration {
        return Err(policy_failure("Policy expired."));
    }
    let value = |field: &str| -> String {
        if field == "bucket" {
            return bucket.to_owned();
        }
        form.field(field).unwrap_or_default().to_owned()
    };
    let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut range = (0, max_file_size);
    for condition in &policy.conditions {
        match condition {
            PostPolicyCondition::Eq { field, value: want } => {
                if value(field) != *want {
                    return Err(policy_failure(&format!(
                        "Policy Condition failed: [\"eq\", {}, {}]",
                        json(&format!("${field}")),
                        json(want)
                    )));
                }
            }
            PostPolicyCondition::StartsWith { field, prefix } => {
                let got = value(field);
                // S3: a Content-Type may list several types, each with the prefix.
                let ok = if field == "content-type" {
                    got.split(',').all(|t| t.trim_start().starts_with(prefix))
                } else {
                    got.starts_with(prefix.as_str())
                };
                if !ok {
                    return Err(policy_failure(&format!(
                        "Policy Condition failed: [\"starts-with\", {}, {}]",
                        json(&format!("${field}")),
                        json(prefix)
                    )));
                }
            }
            PostPolicyCondition::ContentLengthRange { min, max } => {
                range = (range.0.max(*min), range.1.min(*max));
            }
        }
    }
    let covered = |name: &str| {
        policy.conditions.iter().any(|c| match c {
            PostPolicyCondition::Eq { field, .. }
            | PostPolicyCondition::StartsWith { field, .. } => field == name,
            PostPolicyCondition::ContentLengthRange { .. } => false,
        })
    };
    let extra: Vec<&str> = form
        .fields
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !exempt(n) && !covered(n))
        .collect();
    if !extra.is_empty() {
        return Err(policy_failure(&format!(
            "Extra input fields: {}",
            extra.join(", ")
        )));
    }
    Ok(range)
}

/// What the file's stream saw, for the answer after the upload.
#[derive(Debug, Default)]
pub(crate) struct FileState {
    /// Bytes of the file read.
    seen: AtomicU64,
    /// The file's part was read to its end.
    ended: AtomicBool,
    /// The size limit the file broke, if it did (as a failure to answer).
    broke: Mutex<Option<Limit>>,
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    TooLarge { max: u64 },
    TooSmall { size: u64, min: u64 },
}

pub(crate) type SharedField = Arc<Mutex<multer::Field<'static>>>;

/// The file's bytes as the data path reads them, counted against the sizes
/// the policy allows (step 4 of the module docs). Its errors are
/// [`S3Error`]s, which PutObject answers as they are.
pub struct FileBody {
    field: SharedField,
    state: Arc<FileState>,
    min: u64,
    max: u64,
    done: bool,
}

impl FileBody {
    /// The handles [`FormReader::finish`] reads the rest of the file with.
    pub(crate) fn handles(&self) -> (SharedField, Arc<FileState>) {
        (Arc::clone(&self.field), Arc::clone(&self.state))
    }

    fn fail(&mut self, e: S3Error) -> Poll<Option<Result<Bytes, s3s::StdError>>> {
        self.done = true;
        Poll::Ready(Some(Err(Box::new(e))))
    }
}

impl Stream for FileBody {
    type Item = Result<Bytes, s3s::StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = match self.field.lock() {
            Ok(mut field) => Pin::new(&mut *field).poll_next(cx),
            Err(_) => Poll::Ready(Some(Err(multer::Error::LockFailure))),
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(data))) => {
                let seen = self
                    .state
                    .seen
                    .fetch_add(data.len() as u64, Ordering::Relaxed)
                    + data.len() as u64;
                if seen > self.max {
                    let max = self.max;
                    if let Ok(mut b) = self.state.broke.lock() {
                        *b = Some(Limit::TooLarge { max });
                    }
                    return self.fail(s3_error!(
                        EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed size"
                    ));
                }
                Poll::Ready(Some(Ok(data)))
            }
            Poll::Ready(Some(Err(_))) => self.fail(s3_error!(
                IncompleteBody,
                "The body of your POST request ended before its file did."
            )),
            Poll::Ready(None) => {
                self.state.ended.store(true, Ordering::Relaxed);
                let size = self.state.seen.load(Ordering::Relaxed);
                if size < self.min {
                    let min = self.min;
                    if let Ok(mut b) = self.state.broke.lock() {
                        *b = Some(Limit::TooSmall { size, min });
                    }
                    return self.fail(s3_error!(
                        EntityTooSmall,
                        "Your proposed upload is smaller than the minimum allowed size"
                    ));
                }
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}

/// Its length is unknown until it ends.
impl s3s::stream::ByteStream for FileBody {}

impl FormReader {
    /// The file's bytes, counted against `min..=max`; `None` without a file.
    pub fn file_body(&mut self, min: u64, max: u64) -> Option<FileBody> {
        let field = self.file.take()?;
        Some(FileBody {
            field: Arc::new(Mutex::new(field)),
            state: Arc::new(FileState::default()),
            min,
            max,
            done: false,
        })
    }

    /// Reads what is left of the form after an upload: the rest of the file
    /// (up to [`DRAIN_LIMIT`]) and the fields after it (ignored, as S3 does;
    /// up to [`MAX_TRAILING_BYTES`]). True when the body was read to its
    /// end, so the connection can serve another request.
    pub(crate) async fn finish(mut self, file: Option<(SharedField, Arc<FileState>)>) -> bool {
        if let Some((field, state)) = file {
            if !state.ended.load(Ordering::Relaxed) {
                let start = state.seen.load(Ordering::Relaxed);
                let ended = futures::future::poll_fn(|cx| {
                    loop {
                        let polled = match field.lock() {
                            Ok(mut f) => Pin::new(&mut *f).poll_next(cx),
                            Err(_) => return Poll::Ready(false),
                        };
                        match polled {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(None) => return Poll::Ready(true),
                            Poll::Ready(Some(Err(_))) => return Poll::Ready(false),
                            Poll::Ready(Some(Ok(data))) => {
                                let seen =
                                    state.seen.fetch_add(data.len() as u64, Ordering::Relaxed);
                                if seen - start > DRAIN_LIMIT {
                                    return Poll::Ready(false);
                                }
                            }
                        }
                    }
                })
                .await;
                if !ended {
                    return false;
                }
                state.ended.store(true, Ordering::Relaxed);
            }
            drop(field);
        }
        self.file = None;
        let start = self.progress.pulled.load(Ordering::Relaxed);
        loop {
            match self.multipart.next_field().await {
                Ok(Some(mut field)) => loop {
                    if self.progress.pulled.load(Ordering::Relaxed) - start > MAX_TRAILING_BYTES {
                        return false;
                    }
                    match field.chunk().await {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => return false,
                    }
                },
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The tags of a `tagging` field: a `Tagging` XML document, as S3's
/// browser uploads take them; returned as an `x-amz-tagging` value.
fn tagging_header(xml: &str) -> S3Result<String> {
    let mut d = s3s::xml::Deserializer::new(xml.as_bytes());
    let tagging = <Tagging as s3s::xml::Deserialize>::deserialize(&mut d).map_err(|_| {
        s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        )
    })?;
    let tags = crate::tagging::from_tag_set(tagging.tag_set, crate::tagging::Target::Object)?;
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &tags {
        out.append_pair(k, v);
    }
    Ok(out.finish())
}

/// The PutObject input of an upload: the form's fields as a PUT's headers.
fn put_input(form: &Form, bucket: &str, key: String, body: FileBody) -> S3Result<PutObjectInput> {
    let text = |name: &str| form.field(name).map(str::to_owned);
    let expires = match form.field("expires") {
        None => None,
        Some(v) => Some(
            Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, v)
                .map_err(|_| s3_error!(InvalidArgument, "Invalid Expires value: {}", v))?,
        ),
    };
    let mut metadata = s3s::dto::Metadata::default();
    for (name, value) in &form.fields {
        if let Some(k) = name.strip_prefix("x-amz-meta-")
            && !k.is_empty()
        {
            metadata.insert(k.to_owned(), value.clone());
        }
    }
    let tagging = match (form.field("tagging"), form.field("x-amz-tagging")) {
        (Some(xml), _) => Some(tagging_header(xml)?),
        (None, header) => header.map(str::to_owned),
    };
    let mut input = PutObjectInput::builder()
        .bucket(bucket.to_owned())
        .key(key)
        .build()
        .map_err(|e| s3_error!(InternalError, "building the PutObject input: {e}"))?;
    input.body = Some(StreamingBlob::new(body));
    input.acl = form
        .field("acl")
        .map(|a| ObjectCannedACL::from(a.to_owned()));
    input.cache_control = text("cache-control");
    input.content_disposition = text("content-disposition");
    input.content_encoding = text("content-encoding");
    input.content_language = text("content-language");
    // S3 takes the type from the form's field, not from the file's part.
    input.content_type = text("content-type");
    input.expires = expires;
    input.metadata = (!metadata.is_empty()).then_some(metadata);
    input.tagging = tagging;
    input.checksum_algorithm = form
        .field("x-amz-checksum-algorithm")
        .or(form.field("x-amz-sdk-checksum-algorithm"))
        .map(|a| s3s::dto::ChecksumAlgorithm::from(a.to_ascii_uppercase()));
    Ok(input)
}

/// The checksum fields of the form as the headers PutObject reads them
/// from (`x-amz-checksum-*`, `Content-MD5`): verified against the file.
fn checksum_headers(form: &Form) -> S3Result<http::HeaderMap> {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &form.fields {
        if (name.starts_with("x-amz-checksum-") && name != "x-amz-checksum-algorithm")
            || name == "content-md5"
        {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| s3_error!(InvalidArgument, "Invalid field name: {}", name))?;
            let value = http::HeaderValue::from_str(value)
                .map_err(|_| s3_error!(InvalidArgument, "Invalid value of field {}", name))?;
            headers.insert(name, value);
        }
    }
    Ok(headers)
}

/// The answer to a stored upload (step 5 of the module docs). `base` is
/// `scheme://host` of the request.
fn success(
    form: &Form,
    base: &str,
    bucket: &str,
    key: &str,
    etag: &str,
) -> http::Response<s3s::Body> {
    let quoted = format!("\"{etag}\"");
    let mut resp = http::Response::new(s3s::Body::empty());
    let redirect = form
        .field("success_action_redirect")
        .or(form.field("redirect"))
        .filter(|u| {
            (u.starts_with("http://") || u.starts_with("https://"))
                && !u.chars().any(char::is_control)
        });
    if let Some(url) = redirect {
        let (url, fragment) = match url.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (url, None),
        };
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("bucket", bucket)
            .append_pair("key", key)
            .append_pair("etag", &quoted)
            .finish();
        let sep = if url.contains('?') { '&' } else { '?' };
        let mut location = format!("{url}{sep}{query}");
        if let Some(f) = fragment {
            location.push('#');
            location.push_str(f);
        }
        if let Ok(v) = http::HeaderValue::from_str(&location) {
            *resp.status_mut() = http::StatusCode::SEE_OTHER;
            resp.headers_mut().insert(http::header::LOCATION, v);
            if let Ok(v) = http::HeaderValue::from_str(&quoted) {
                resp.headers_mut().insert(http::header::ETAG, v);
            }
            return resp;
        }
    }
    match form.field("success_action_status") {
        Some("200") => *resp.status_mut() = http::StatusCode::OK,
        Some("201") => {
            let encoded: Vec<String> = key
                .split('/')
                .map(|seg| urlencoding::encode(seg).into_owned())
                .collect();
            let location = format!("{base}/{bucket}/{}", encoded.join("/"));
            let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                esc(&location),
                esc(bucket),
                esc(key),
                esc(&quoted)
            );
            *resp.status_mut() = http::StatusCode::CREATED;
            *resp.body_mut() = s3s::Body::from(xml);
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/xml"),
            );
            if let Ok(v) = http::HeaderValue::from_str(&location) {
                resp.headers_mut().insert(http::header::LOCATION, v);
            }
        }
        _ => *resp.status_mut() = http::StatusCode::NO_CONTENT,
    }
    if let Ok(v) = http::HeaderValue::from_str(&quoted) {
        resp.headers_mut().insert(http::header::ETAG, v);
    }
    resp
}

/// A browser upload to `bucket`, from the request to the answer (the
/// module docs' steps). `base` is `scheme://host` of the request. Every
/// outcome is an answer; errors get their `Resource` and `RequestId` from
/// the HTTP front.
pub async fn upload(
    cx: &PostContext,
    req: http::Request<hyper::body::Incoming>,
    bucket: String,
    base: &str,
) -> http::Response<s3s::Body> {
    crate::metrics::set_operation("PostObject");
    let (parts, body) = req.into_parts();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = crate::edge::IdleBody::new(body, cx.body_idle);
    let (form, mut reader) = match read_form(&content_type, body).await {
        Ok(read) => read,
        Err(f) => return closing(f.into_response()),
    };
    let mut file_parts = None;
    let origin = parts
        .extensions
        .get::<crate::bucket_access::Origin>()
        .copied();
    let outcome = store(
        cx,
        &parts.headers,
        origin,
        &form,
        &mut reader,
        &bucket,
        base,
        &mut file_parts,
    )
    .await;
    let state = file_parts.as_ref().map(|(_, state)| Arc::clone(state));
    // The last handle on the file's part: `multer` reads on only once
    // it is dropped.
    let read_to_end = reader.finish(file_parts).await;
    let mut resp = match outcome {
        Ok(resp) => resp,
        Err(mut failure) => {
            if let Some(state) = &state
                && let Ok(broke) = state.broke.lock()
            {
                match *broke {
                    Some(Limit::TooLarge { max }) => {
                        if state.ended.load(Ordering::Relaxed) {
                            failure =
                                failure.with("ProposedSize", state.seen.load(Ordering::Relaxed));
                        }
                        failure = failure.with("MaxSizeAllowed", max);
                    }
                    Some(Limit::TooSmall { size, min }) => {
                        failure = failure
                            .with("ProposedSize", size)
                            .with("MinSizeAllowed", min);
                    }
                    None => {}
                }
            }
            failure.into_response()
        }
    };
    if !read_to_end {
        resp = closing(resp);
    }
    resp
}

/// An answer after which the connection is closed: the request's body was
/// not read to its end.
fn closing(mut resp: http::Response<s3s::Body>) -> http::Response<s3s::Body> {
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

/// Steps 2 to 5 of the module docs, once the fields are read.
#[allow(clippy::too_many_arguments)]
async fn store(
    cx: &PostContext,
    headers: &http::HeaderMap,
    origin: Option<crate::bucket_access::Origin>,
    form: &Form,
    reader: &mut FormReader,
    bucket: &str,
    base: &str,
    file_parts: &mut Option<(SharedField, Arc<FileState>)>,
) -> Result<http::Response<s3s::Body>, Failure> {
    if !form.has_file {
        return Err(S3Error::with_message(
            S3ErrorCode::IncorrectNumberOfFilesInPostRequest,
            "POST requires exactly one file upload per request.",
        )
        .into());
    }
    let Some(raw_key) = form.field("key") else {
        return Err(missing_field("key"));
    };
    let signer = signer(form)?;
    let access_key = signer.access_key();
    let policy_b64 = form.field("policy").unwrap_or_default();
    // An anonymous form needs no policy (S3: a policy is for a signed
    // form); one it carries still binds it.
    let policy = match (access_key, policy_b64.trim()) {
        (None, "") => None,
        _ => Some(parse_policy(policy_b64)?),
    };
    let meta_error =
        |e: shale_metadata::MetaError| crate::error::to_s3_error(crate::error::Error::Meta(e));
    let fetch = |access_key: &str| {
        let access_key = access_key.to_owned();
        async move {
            cx.keys
                .get(&access_key)
                .await
                .map_err(meta_error)?
                .filter(|k| !k.is_disabled())
                .ok_or_else(|| {
                    s3_error!(
                        InvalidAccessKeyId,
                        "The AWS Access Key Id you provided does not exist in our records."
                    )
                })
        }
    };
    let mut key_row = match access_key {
        Some(id) => {
            let row = fetch(id).await?;
            verify_signature(&signer, policy_b64, &row.key().secret_key)?;
            Some(row)
        }
        None => None,
    };
    let key = match &form.file_name {
        Some(name) => raw_key.replace("${filename}", name),
        None => raw_key.to_owned(),
    };
    // The upload is authorized as a PutObject of `key`: the user's grant
    // and policy, and the bucket's policy (for an anonymous form, only a
    // public bucket policy lets it in).
    let rules = cx
        .gateway
        .access_rules()
        .get(bucket)
        .await
        .map_err(meta_error)?;
    let resource = shale_policy::object_arn(bucket, &key);
    let context_for = |k: Option<&access::Principal>| {
        let user_policy = k.and_then(access::Principal::policy);
        crate::bucket_access::context(headers, "", origin, OffsetDateTime::now_utc(), &|c| {
            rules.wants(c) || user_policy.is_some_and(|r| r.wants(c))
        })
    };
    let decide = |k: Option<&access::Principal>| {
        let granted = k.is_some_and(|k| access::allowed(k, "PostObject", Some(bucket), None));
        let context = context_for(k);
        access::policy_allows(k, granted, "s3:PutObject", &resource, &context, &rules)
    };
    if !decide(key_row.as_deref()) {
        let Some(id) = access_key else {
            tracing::debug!(bucket, "anonymous upload denied");
            return Err(s3_error!(AccessDenied, "Access Denied").into());
        };
        // A grant given a moment ago must not wait for the cache.
        cx.keys.forget(id);
        key_row = Some(fetch(id).await?);
        if !decide(key_row.as_deref()) {
            tracing::debug!(%id, bucket, "access denied");
            return Err(s3_error!(AccessDenied, "Access Denied").into());
        }
    }
    let (min, max) = match &policy {
        Some(policy) => check_policy(
            policy,
            form,
            bucket,
            OffsetDateTime::now_utc(),
            cx.max_file_size,
        )?,
        None => (0, cx.max_file_size),
    };
    let body = reader
        .file_body(min, max)
        .expect("a form with a file has its file part");
    *file_parts = Some(body.handles());
    let headers = checksum_headers(form)?;
    let input = put_input(form, bucket, key.clone(), body)?;
    let mut extensions = http::Extensions::new();
    if let Some(k) = &key_row {
        extensions.insert(Caller(Arc::clone(k)));
    }
    // What an anonymous form writes is the bucket owner's.
    extensions.insert(access::Authorization::for_upload(
        key_row,
        Arc::new(context_for(None)),
        rules,
    ));
    let req = S3Request {
        input,
        method: http::Method::PUT,
        uri: http::Uri::from_static("/"),
        headers,
        extensions,
        credentials: None,
        region: None,
        service: Some("s3".to_owned()),
        trailing_headers: None,
    };
    let out = cx.gateway.put_object(req).await?;
    let etag = out
        .output
        .e_tag
        .as_ref()
        .map(|e| e.value().to_owned())
        .unwrap_or_default();
    let mut resp = success(form, base, bucket, &key, &etag);
    // A versioned bucket names the version the POST made, as a PUT does.
    if let Some(v) = out
        .output
        .version_id
        .as_deref()
        .and_then(|v| http::HeaderValue::from_str(v).ok())
    {
        resp.headers_mut()
            .insert(http::HeaderName::from_static("x-amz-version-id"), v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> Form {
        Form {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            has_file: true,
            file_name: Some("a.txt".into()),
        }
    }

    fn policy(json: &str) -> PostPolicy {
        PostPolicy::from_json(json).unwrap()
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-26 13:49:07 UTC)
    }

    fn message(r: S3Result<(u64, u64)>) -> String {
        r.unwrap_err().message().unwrap_or_default().to_owned()
    }

    #[test]
    fn conditions_in_s3_words() {
        let p = policy(
            r#"{"expiration":"2026-11-27T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key","up/"],["eq","$Content-Type","image/png"],["content-length-range",10,100]]}"#,
        );
        let ok = form(&[("key", "up/x"), ("content-type", "image/png")]);
        assert_eq!(
            check_policy(&p, &ok, "b", now(), MAX_FILE_SIZE).ok(),
            Some((10, 100))
        );
        assert_eq!(
            message(check_policy(&p, &ok, "other", now(), MAX_FILE_SIZE)),
            "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$bucket\", \"b\"]"
        );
        let bad = form(&[("key", "x/y"), ("content-type", "image/png")]);
        assert_eq!(
            message(check_policy(&p, &bad, "b", now(), MAX_FILE_SIZE)),
            "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"up/\"]"
        );
        let extra = form(&[
            ("key", "up/x"),
            ("content-type", "image/png"),
            ("x-amz-meta-a", "1"),
            ("x-ignore-me", "1"),
            ("policy", "p"),
        ]);
        assert_eq!(
            message(check_policy(&p, &extra, "b", now(), MAX_FILE_SIZE)),
            "Invalid according to Policy: Extra input fields: x-amz-meta-a"
        );
        let late = now() + time::Duration::days(1);
        assert_eq!(
            message(check_policy(&p, &ok, "b", late, MAX_FILE_SIZE)),
            "Invalid according to Policy: Policy expired."
        );
        // The configured limit caps the policy's.
        assert_eq!(check_policy(&p, &ok, "b", now(), 50).ok(), Some((10, 50)));
    }

    #[test]
    fn policy_documents_in_s3_words() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let msg = |s: &str| {
            parse_policy(s)
                .unwrap_err()
                .message()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(msg(&b64("{")), "Invalid Policy: Invalid JSON.");
        assert_eq!(
            msg(&b64(r#"{"conditions":[]}"#)),
            "Invalid Policy: Policy missing expiration."
        );
        assert_eq!(
            msg(&b64(
                r#"{"expiration":"2026-11-27T00:00:00Z","conditions":[["nope"]]}"#
            )),
            "Invalid Policy: Invalid Simple-Condition."
        );
        assert_eq!(msg("!!!"), "Invalid Policy: Invalid Base64 encoding.");
    }

    #[test]
    fn signatures_v4_and_v2() {
        let p = "eyJleHBpcmF0aW9uIjoiMjAyNi0xMS0yN1QwMDowMDowMFoiLCJjb25kaXRpb25zIjpbXX0=";
        let key = SigningKey::new("secret", "20261126", "us-east-1", "s3");
        let f = form(&[
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-credential", "AK/20261126/us-east-1/s3/aws4_request"),
            ("x-amz-date", "20261126T134907Z"),
            ("x-amz-signature", &key.sign(p)),
            ("policy", p),
        ]);
        let s = signer(&f).unwrap();
        assert_eq!(s.access_key(), Some("AK"));
        assert!(verify_signature(&s, p, "secret").is_ok());
        assert!(verify_signature(&s, p, "other").is_err());
        assert!(verify_signature(&s, &p.replace('=', ""), "secret").is_err());

        let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(b"secret").unwrap();
        mac.update(p.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let f = form(&[("awsaccesskeyid", "AK"), ("signature", &sig), ("policy", p)]);
        let s = signer(&f).unwrap();
        assert!(verify_signature(&s, p, "secret").is_ok());
        assert!(verify_signature(&s, p, "other").is_err());

        // Missing pieces are named as S3 names them.
        let f = form(&[("awsaccesskeyid", "AK"), ("signature", &sig)]);
        let e = signer(&f).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidArgument");
        assert!(e.message().contains("'policy'"), "{}", e.message());
        assert_eq!(signer(&form(&[("key", "k")])).unwrap(), Signer::Anonymous);
        let f = form(&[
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-credential", "AK/2026/us-east-1/s3/aws4_request"),
            ("x-amz-date", "20261126T134907Z"),
            ("x-amz-signature", "00"),
            ("policy", p),
        ]);
        assert_eq!(signer(&f).unwrap_err().code().as_str(), "InvalidArgument");
    }

    fn body(
        pieces: Vec<Bytes>,
    ) -> impl http_body::Body<Data = Bytes, Error = std::convert::Infallible> + Unpin + Send + 'static
    {
        http_body_util::StreamBody::new(futures::stream::iter(
            pieces.into_iter().map(|p| Ok(hyper::body::Frame::data(p))),
        ))
    }

    const CT: &str = "multipart/form-data; boundary=b";

    async fn drain(mut file: FileBody) -> Result<Vec<u8>, String> {
        use futures::StreamExt;
        let mut out = Vec::new();
        while let Some(piece) = file.next().await {
            out.extend_from_slice(&piece.map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn fields_then_a_streamed_file_whatever_the_framing() {
        let form_text = "--b\r\nContent-Disposition: form-data; name=\"Key\"\r\n\r\nup/${filename}\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\docs\\\\my photo.png\"\r\nContent-Type: image/png\r\n\r\nDATA\r\n-b\r\nDATA--b\r\n--b\r\nContent-Disposition: form-data; name=\"submit\"\r\n\r\nUpload\r\n--b--\r\n";
        for split in 1..form_text.len() {
            let (a, b) = form_text.as_bytes().split_at(split);
            let pieces = vec![Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)];
            let (form, mut reader) = read_form(CT, body(pieces)).await.unwrap();
            assert_eq!(form.field("key"), Some("up/${filename}"));
            assert_eq!(
                form.file_name.as_deref(),
                Some("my photo.png"),
                "split at {split}"
            );
            assert_eq!(form.field("submit"), None);
            let file = reader.file_body(0, 100).unwrap();
            let parts = (Arc::clone(&file.field), Arc::clone(&file.state));
            assert_eq!(drain(file).await.unwrap(), b"DATA\r\n-b\r\nDATA--b");
            assert!(reader.finish(Some(parts)).await, "split at {split}");
        }
    }

    #[tokio::test]
    async fn sizes_are_enforced_while_streaming() {
        let text = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n0123456789\r\n--b--\r\n";
        for (min, max, want) in [
            (0, 10, Ok(10)),
            (10, 10, Ok(10)),
            (0, 9, Err("EntityTooLarge")),
            (11, 100, Err("EntityTooSmall")),
        ] {
            let (_, mut reader) = read_form(CT, body(vec![Bytes::from(text)])).await.unwrap();
            let file = reader.file_body(min, max).unwrap();
            let state = Arc::clone(&file.state);
            let got = drain(file).await.map(|v| v.len());
            match want {
                Ok(n) => assert_eq!(got, Ok(n)),
                Err(code) => {
                    assert!(got.is_err());
                    let broke = *state.broke.lock().unwrap();
                    let name = match broke {
                        Some(Limit::TooLarge { .. }) => "EntityTooLarge",
                        Some(Limit::TooSmall { .. }) => "EntityTooSmall",
                        None => "",
                    };
                    assert_eq!(name, code);
                }
            }
        }
    }

    #[tokio::test]
    async fn too_many_field_bytes_are_refused() {
        let big = "x".repeat(MAX_FIELDS_BYTES + 1);
        let text = format!(
            "--b\r\nContent-Disposition: form-data; name=\"x-amz-meta-a\"\r\n\r\n{big}\r\n--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nD\r\n--b--\r\n"
        );
        let err = read_form(CT, body(vec![Bytes::from(text)]))
            .await
            .err()
            .unwrap();
        assert_eq!(err.code().as_str(), "MaxPostPreDataLengthExceededError");
        // A part header that never ends is refused too, without holding it all.
        let endless = format!(
            "--b\r\nContent-Disposition: form-data; name=\"a{}",
            "y".repeat(64 * 1024)
        );
        let pieces = std::iter::repeat_n(Bytes::from(endless), 40).collect();
        let err = read_form(CT, body(pieces)).await.err().unwrap();
        assert_eq!(err.code().as_str(), "MaxPostPreDataLengthExceededError");
        let err = read_form("multipart/form-data", body(vec![]))
            .await
            .err()
            .unwrap();
        assert_eq!(err.code().as_str(), "MalformedPOSTRequest");
    }

    #[test]
    fn answers_as_asked() {
        let f = form(&[("success_action_status", "201")]);
        let resp = success(&f, "http://127.0.0.1:9000", "b", "up/a b&c", "abc");
        assert_eq!(resp.status(), 201);
        assert_eq!(
            resp.headers()["location"],
            "http://127.0.0.1:9000/b/up/a%20b%26c"
        );
        let body = String::from_utf8(resp.body().bytes().unwrap().to_vec()).unwrap();
        assert!(body.contains("<Key>up/a b&amp;c</Key>"), "{body}");
        assert!(body.contains("<ETag>&quot;abc&quot;</ETag>"), "{body}");
        let f = form(&[("success_action_redirect", "http://app.example/done?x=1")]);
        let resp = success(&f, "http://h", "b", "up/a b.txt", "abc");
        assert_eq!(resp.status(), 303);
        assert_eq!(
            resp.headers()["location"],
            "http://app.example/done?x=1&bucket=b&key=up%2Fa+b.txt&etag=%22abc%22"
        );
        // Not a URL: ignored, as S3 does.
        let f = form(&[("redirect", "nowhere"), ("success_action_status", "200")]);
        assert_eq!(success(&f, "http://h", "b", "k", "e").status(), 200);
        assert_eq!(success(&form(&[]), "http://h", "b", "k", "e").status(), 204);
    }

    #[test]
    fn tagging_documents_become_headers() {
        let xml = "<Tagging><TagSet><Tag><Key>a b</Key><Value>1 2</Value></Tag></TagSet></Tagging>";
        assert_eq!(tagging_header(xml).unwrap(), "a+b=1+2");
        assert_eq!(
            tagging_header("<x").unwrap_err().code().as_str(),
            "MalformedXML"
        );
    }

    #[test]
    fn buckets_of_form_urls() {
        let hosts = VirtualHosts::new(&["localhost".into()]).unwrap();
        assert_eq!(
            form_bucket(&hosts, "127.0.0.1", "/bk1").as_deref(),
            Some("bk1")
        );
        assert_eq!(
            form_bucket(&hosts, "127.0.0.1", "/bk1/").as_deref(),
            Some("bk1")
        );
        assert_eq!(form_bucket(&hosts, "127.0.0.1", "/bk1/k"), None);
        assert_eq!(form_bucket(&hosts, "127.0.0.1", "/"), None);
        assert_eq!(
            form_bucket(&hosts, "bk1.localhost:9000", "/").as_deref(),
            Some("bk1")
        );
        assert_eq!(form_bucket(&hosts, "bk1.localhost:9000", "/k"), None);
    }
}
