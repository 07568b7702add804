//! The gateway's one error type, and the one place that maps every internal
//! error to the S3 error a client sees (status, code, message); and
//! [`finish_error_response`], which gives every error body, ours and the
//! ones `s3s` writes itself (signature checks, routing, POST policies), the
//! shape S3 gives it.

use s3s::{S3Error, S3ErrorCode};
use shale_metadata::MetaError;

/// Everything that can go wrong inside the gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata service answered with an error (or was unreachable).
    #[error("metadata: {0}")]
    Meta(#[from] MetaError),
    /// The data path failed to store or read chunks (not enough nodes,
    /// storage full, write quorum, unrecoverable data, a short body, the
    /// commit deadline).
    #[error("{0}")]
    Data(shale_datapath::Error),
    /// A checksum sent by the client does not match the body.
    #[error("checksum mismatch: {0}")]
    BadDigest(String),
    /// A checksum header that cannot be parsed.
    #[error("invalid digest: {0}")]
    InvalidDigest(String),
    /// The body is over the size limit: its announced size, when the
    /// request announced it (refused before any byte is read).
    #[error("entity too large")]
    EntityTooLarge { proposed: Option<u64> },
    /// The client's body stream failed (connection reset, bad aws-chunked framing, bad chunk signature).
    #[error("request body: {0}")]
    Body(S3Error),
    /// Bad request arguments.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A request S3 refuses as `InvalidRequest` (e.g. a malformed or
    /// conflicting checksum header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A bug or an unexpected state.
    #[error("internal: {0}")]
    Internal(String),
}

/// The gateway's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// A body stream's error goes through the data path unchanged
/// ([`shale_datapath::Error::Body`]) and is taken back by the `From` below.
impl From<Error> for shale_datapath::Error {
    fn from(e: Error) -> shale_datapath::Error {
        shale_datapath::Error::Body(Box::new(e))
    }
}

impl From<shale_datapath::Error> for Error {
    fn from(e: shale_datapath::Error) -> Error {
        use shale_datapath::Error as D;
        match e {
            D::Meta(m) => Error::Meta(m),
            D::EntityTooLarge => Error::EntityTooLarge { proposed: None },
            D::Internal(why) => Error::Internal(why),
            D::Body(e) => match e.downcast::<Error>() {
                Ok(e) => *e,
                Err(e) => Error::Internal(format!("request body: {e}")),
            },
            other => Error::Data(other),
        }
    }
}

impl From<Error> for S3Error {
    fn from(e: Error) -> S3Error {
        to_s3_error(e)
    }
}

/// Maps an internal error to what S3 would answer.
pub fn to_s3_error(e: impl Into<Error>) -> S3Error {
    use S3ErrorCode as C;
    let e: Error = e.into();
    let msg = e.to_string();
    match e {
        Error::Meta(m) => match m {
            MetaError::NoSuchBucket => {
                S3Error::with_message(C::NoSuchBucket, "The specified bucket does not exist")
            }
            MetaError::BucketAlreadyExists => S3Error::with_message(
                C::BucketAlreadyExists,
                "The requested bucket name is not available",
            ),
            MetaError::BucketAlreadyOwnedByYou => S3Error::with_message(
                C::BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it",
            ),
            MetaError::BucketNotEmpty => S3Error::with_message(
                C::BucketNotEmpty,
                "The bucket you tried to delete is not empty",
            ),
            MetaError::NoSuchKey => {
                S3Error::with_message(C::NoSuchKey, "The specified key does not exist.")
            }
            MetaError::NoSuchUpload => S3Error::with_message(
                C::NoSuchUpload,
                "The specified multipart upload does not exist.",
            ),
            MetaError::InvalidPart(detail) => S3Error::with_message(
                C::InvalidPart,
                format!(
                    "One or more of the specified parts could not be found or its entity tag did not match: {detail}"
                ),
            ),
            MetaError::InvalidPartOrder => S3Error::with_message(
                C::InvalidPartOrder,
                "The list of parts was not in ascending order",
            ),
            MetaError::EntityTooSmall => S3Error::with_message(
                C::EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size.",
            ),
            MetaError::PreconditionFailed => S3Error::with_message(
                C::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ),
            MetaError::InvalidArgument(detail) => S3Error::with_message(C::InvalidArgument, detail),
            MetaError::InvalidRequest(detail) => S3Error::with_message(C::InvalidRequest, detail),
            MetaError::BadDigest(detail) => S3Error::with_message(C::BadDigest, detail),
            MetaError::NotLeader(leader) => {
                // MetaClient follows leaders itself; this is a bug if seen.
                tracing::warn!(?leader, "metadata leader not found");
                S3Error::with_message(
                    C::ServiceUnavailable,
                    "The metadata service is unavailable; retry",
                )
            }
            MetaError::Unavailable(detail) => {
                // Another region that did not answer (see `regions.rs`):
                // named, without its address.
                if let Some(region) = detail
                    .strip_prefix("region ")
                    .and_then(|d| d.split(':').next())
                {
                    tracing::warn!(%detail, "a linked region is unavailable");
                    return S3Error::with_message(
                        C::ServiceUnavailable,
                        format!("Region {region} cannot be reached now; retry"),
                    );
                }
                tracing::warn!(%detail, "metadata service unavailable");
                S3Error::with_message(
                    C::ServiceUnavailable,
                    "The metadata service is unavailable; retry",
                )
            }
            MetaError::Internal(detail) => {
                tracing::error!(%detail, "metadata internal error");
                S3Error::with_message(
                    C::InternalError,
                    "We encountered an internal error. Please try again.",
                )
            }
            MetaError::NoSuchVersion => {
                S3Error::with_message(C::NoSuchVersion, "The specified version does not exist.")
            }
            MetaError::AccessDenied(detail) => S3Error::with_message(C::AccessDenied, detail),
            MetaError::InvalidBucketState(detail) => {
                S3Error::with_message(C::InvalidBucketState, detail)
            }
            MetaError::MethodNotAllowed => {
                let mut e = S3Error::with_message(
                    C::MethodNotAllowed,
                    "The specified method is not allowed against this resource.",
                );
                e.set_status_code(http::StatusCode::METHOD_NOT_ALLOWED);
                e
            }
        },
        Error::Data(d) => data_error(d, &msg),
        Error::BadDigest(detail) => S3Error::with_message(C::BadDigest, detail),
        Error::InvalidDigest(detail) => S3Error::with_message(C::InvalidDigest, detail),
        Error::EntityTooLarge { proposed } => {
            // S3's words on the wire (its error table adds "object" and a
            // full stop), and the sizes it reports.
            let e = S3Error::with_message(
                C::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            );
            let max = (
                "MaxSizeAllowed",
                shale_datapath::datapath::MAX_PUT_SIZE.to_string(),
            );
            match proposed {
                Some(n) => with_fields(e, &[("ProposedSize", n.to_string()), max]),
                None => with_fields(e, &[max]),
            }
        }
        Error::Body(e) => e,
        Error::InvalidArgument(detail) => S3Error::with_message(C::InvalidArgument, detail),
        Error::InvalidRequest(detail) => S3Error::with_message(C::InvalidRequest, detail),
        Error::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            S3Error::with_message(
                C::InternalError,
                "We encountered an internal error. Please try again.",
            )
        }
    }
}

/// What S3 would answer for a data-path failure (the client's own body
/// errors and the kinds the gateway shares with it are taken back by
/// `From<shale_datapath::Error>` first).
fn data_error(e: shale_datapath::Error, msg: &str) -> S3Error {
    use S3ErrorCode as C;
    use shale_datapath::Error as D;
    match e {
        D::InsufficientStorage(_) => {
            tracing::warn!(error = %msg, "write refused: storage full");
            // MinIO answers a full cluster the same way (507); S3 never
            // fills up, so it has no code of its own for this.
            let mut e = S3Error::with_message(
                C::Custom("InsufficientStorage".into()),
                "The storage nodes do not have enough free space for this object",
            );
            e.set_status_code(http::StatusCode::INSUFFICIENT_STORAGE);
            e
        }
        D::NotEnoughNodes(_) | D::WriteQuorum(_) => {
            tracing::warn!(error = %msg, "write failed");
            S3Error::with_message(
                C::ServiceUnavailable,
                "Not enough storage nodes are available; retry",
            )
        }
        D::Unrecoverable(_) => {
            tracing::error!(error = %msg, "read failed");
            S3Error::with_message(
                C::InternalError,
                "Too few chunks of the object are readable",
            )
        }
        D::IncompleteBody(detail) => S3Error::with_message(C::IncompleteBody, detail),
        D::NoMasterKey => S3Error::with_message(
            C::InvalidArgument,
            "Server-side encryption is not configured on this server: it has no master key",
        ),
        D::CustomerKeyNeeded => S3Error::with_message(
            C::InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        ),
        D::WrongCustomerKey => S3Error::with_message(
            C::AccessDenied,
            "The provided customer key does not match the key the object was encrypted with.",
        ),
        D::KmsNotFound(id) => {
            let mut e = S3Error::with_message(
                C::Custom("KMS.NotFoundException".into()),
                format!("Invalid keyId '{id}'"),
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            e
        }
        D::KmsDisabled(id) => {
            let mut e = S3Error::with_message(
                C::Custom("KMS.DisabledException".into()),
                format!("KMS key '{id}' is disabled."),
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            e
        }
        D::KeyUnavailable(_) => {
            tracing::error!(error = %msg, "an encrypted object's key does not open");
            S3Error::with_message(
                C::InternalError,
                "The object's encryption key is not available on this server",
            )
        }
        D::TooSlow(_) => {
            tracing::warn!(error = %msg, "upload not committed");
            S3Error::with_message(
                C::RequestTimeout,
                "Your socket connection to the server was not read from or written to within the timeout period.",
            )
        }
        other => to_s3_error(Error::from(other)),
    }
}

/// The header that carries an error's extra elements from where it is
/// raised to [`finish_error_response`], which makes them child elements of
/// the `<Error>` document and removes the header. `s3s` 0.14.1 writes only
/// Code and Message, but keeps an error's headers.
const FIELDS_HEADER: &str = "x-shale-error-fields";

/// `e` with extra elements in its error document, after `Message`, as S3
/// has for some errors (`ProposedSize` and `MaxSizeAllowed` of
/// EntityTooLarge, `PartNumberRequested` and `ActualPartCount` of
/// InvalidPartNumber). Names are XML element names (ASCII letters).
pub fn with_fields(mut e: S3Error, fields: &[(&str, String)]) -> S3Error {
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut headers = e.headers().cloned().unwrap_or_default();
    if let Ok(v) = http::HeaderValue::from_str(&encoded) {
        headers.insert(FIELDS_HEADER, v);
    }
    e.set_headers(headers);
    e
}

/// Takes the extra elements [`with_fields`] put in a response's headers
/// out of them: (name, value XML-escaped).
fn take_fields(resp: &mut http::Response<s3s::Body>) -> Vec<(String, String)> {
    let Some(v) = resp.headers_mut().remove(FIELDS_HEADER) else {
        return Vec::new();
    };
    form_urlencoded::parse(v.as_bytes())
        .filter(|(name, _)| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(|(name, value)| {
            (
                name.into_owned(),
                quick_xml::escape::escape(value.as_ref()).into_owned(),
            )
        })
        .collect()
}

/// The status of an `s3s` error from its text as `s3s` logs it (the
/// `Display` form `S3Error { code: NoSuchKey, status_code: 404, .. }` or
/// the `Debug` form `S3Error(Inner { code: NoSuchKey, …, status_code:
/// Some(404), … })`): the status set on it, else its code's. None when the
/// text is not an `S3Error` or its code has no status.
///
/// `s3s` 0.14.1 logs the errors it raises itself (a bad signature, an
/// invalid bucket name, a malformed header, an admin-route error) at ERROR,
/// whoever is at fault; the binary's log set-up uses this to log the
/// client's mistakes (4xx) at debug level and keep ERROR for the server's
/// own faults.
pub fn s3s_error_status(text: &str) -> Option<http::StatusCode> {
    let rest = text.strip_prefix("S3Error")?;
    let after_code = &rest[rest.find("code: ")? + "code: ".len()..];
    let code = match after_code.strip_prefix("Custom(\"") {
        Some(custom) => &custom[..custom.find('"')?],
        None => {
            let end = after_code
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(after_code.len());
            &after_code[..end]
        }
    };
    // The last `status_code: ` is the field's: the message, which may
    // quote a client's text, comes before it.
    let set = rest.rfind("status_code: ").and_then(|at| {
        let v = &rest[at + "status_code: ".len()..];
        let v = v.strip_prefix("Some(").unwrap_or(v);
        let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u16>().ok()
    });
    match set {
        Some(n) => http::StatusCode::from_u16(n).ok(),
        None => S3ErrorCode::from_bytes(code.as_bytes())?.status_code(),
    }
}

/// What the HTTP front knows of a request when it finishes an error response.
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo<'a> {
    /// The request method: a HEAD answer carries no body.
    pub method: &'a http::Method,
    /// The request path, percent-decoded: the error's `Resource`.
    pub resource: &'a str,
    /// The request id (also in `x-amz-request-id`).
    pub request_id: &'a str,
    /// A browser upload (POST Object with a `multipart/form-data` body).
    pub post_form: bool,
}

/// S3's message for a code, for the errors `s3s` raises without one.
fn default_message(code: &str) -> &'static str {
    match code {
        "AccessDenied" => "Access Denied",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchUpload" => "The specified multipart upload does not exist.",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "KeyTooLongError" => "Your key is too long",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "IncompleteBody" => {
            "You did not provide the number of bytes specified by the Content-Length HTTP header"
        }
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema"
        }
        "MalformedPOSTRequest" => {
            "The body of your POST request is not well-formed multipart/form-data."
        }
        "InvalidPolicyDocument" => "Invalid Policy: Invalid JSON.",
        "PreconditionFailed" => "At least one of the pre-conditions you specified did not hold",
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the current time is too large."
        }
        "EntityTooLarge" => "Your proposed upload exceeds the maximum allowed size",
        "EntityTooSmall" => "Your proposed upload is smaller than the minimum allowed size",
        "InternalError" => "We encountered an internal error. Please try again.",
        "ServiceUnavailable" => "Please reduce your request rate.",
        "MaxMessageLengthExceeded" => "Your request was too big.",
        "InvalidArgument" | "InvalidRequest" => "Invalid Argument",
        _ => "",
    }
}

/// The child elements of an `<Error>` document, text still XML-escaped.
fn parse_error_xml(xml: &str) -> Option<Vec<(String, String)>> {
    let start = xml.find("<Error>")? + "<Error>".len();
    let end = xml.rfind("</Error>")?;
    let mut rest = xml.get(start..end)?;
    let mut fields = Vec::new();
    while let Some(open) = rest.strip_prefix('<') {
        let (name, after) = open.split_once('>')?;
        if name.is_empty() || name.starts_with('/') || name.contains(['<', ' ']) {
            return None;
        }
        if let Some(name) = name.strip_suffix('/') {
            fields.push((name.to_owned(), String::new()));
            rest = after;
            continue;
        }
        let close = format!("</{name}>");
        let at = after.find(&close)?;
        fields.push((name.to_owned(), after[..at].to_owned()));
        rest = &after[at + close.len()..];
    }
    rest.trim().is_empty().then_some(fields)
}

/// S3's wording of a failed browser-upload policy check. `s3s` answers
/// `InvalidPolicyDocument` (400) for a failed condition and "Request has
/// expired" for an expired policy; S3 answers 403 `AccessDenied`, "Invalid
/// according to Policy: …" (see "Creating an HTML form", Amazon S3 API
/// reference, POST Object).
fn post_policy_message(code: &str, message: &str) -> Option<String> {
    const PREFIX: &str = "Invalid according to Policy: ";
    if code == "AccessDenied" && message == "Request has expired" {
        return Some(format!("{PREFIX}Policy expired."));
    }
    if code == "AccessDenied" && message.ends_with("not specified in the policy.") {
        let field = message.split('"').nth(1)?;
        return Some(format!("{PREFIX}Extra input fields: {field}"));
    }
    if code == "InvalidPolicyDocument"
        && let Some(rest) = message.strip_prefix("Policy condition '")
    {
        // "Policy condition '{op}' for field '{field}' failed: expected
        // ['prefix '] '{value}', got '…'" (s3s 0.14.1, post_policy.rs).
        let (op, rest) = rest.split_once("' for field '")?;
        let (field, rest) = rest.split_once("' failed: expected ")?;
        let rest = rest.strip_prefix("prefix ").unwrap_or(rest);
        let value = rest.strip_prefix('\'')?;
        let value = &value[..value.rfind("', got '")?];
        let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
        return Some(format!(
            "{PREFIX}Policy Condition failed: [{}, {}, {}]",
            json(op),
            json(&format!("${field}")),
            json(value)
        ));
    }
    None
}

/// Gives an error response the body S3 gives: `Code`, `Message` (S3's
/// default wording when `s3s` raised the error without one), any other
/// fields, then `Resource`, `RequestId` and `HostId`; no body at all for a
/// HEAD request. Failed browser-upload policy checks get S3's code and
/// wording. Responses that are not S3 error documents are left alone.
pub fn finish_error_response(resp: &mut http::Response<s3s::Body>, info: &RequestInfo<'_>) {
    let extra = take_fields(resp);
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error() || status.is_redirection()) {
        return;
    }
    let Some(bytes) = resp.body().bytes() else {
        return;
    };
    let Some(mut fields) = std::str::from_utf8(&bytes).ok().and_then(parse_error_xml) else {
        return;
    };
    if *info.method == http::Method::HEAD {
        *resp.body_mut() = s3s::Body::empty();
        resp.headers_mut().remove(http::header::CONTENT_LENGTH);
        return;
    }
    fields.retain(|(name, _)| !matches!(name.as_str(), "Resource" | "RequestId" | "HostId"));
    fields.extend(extra);
    let get = |fields: &[(String, String)], name: &str| {
        fields.iter().find(|(n, _)| n == name).map(|(_, v)| {
            quick_xml::escape::unescape(v)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| v.clone())
        })
    };
    let mut code = get(&fields, "Code").unwrap_or_else(|| "InternalError".to_owned());
    let mut message = get(&fields, "Message").unwrap_or_default();
    if info.post_form
        && let Some(m) = post_policy_message(&code, &message)
    {
        code = "AccessDenied".to_owned();
        message = m;
        *resp.status_mut() = http::StatusCode::FORBIDDEN;
    }
    if message.is_empty() {
        message = default_message(&code).to_owned();
    }
    if message.is_empty() {
        message = code.clone();
    }
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let mut xml = String::with_capacity(256 + bytes.len());
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
    xml.push_str(&format!(
        "<Code>{}</Code><Message>{}</Message>",
        esc(&code),
        esc(&message)
    ));
    for (name, value) in &fields {
        if name != "Code" && name != "Message" {
            xml.push_str(&format!("<{name}>{value}</{name}>"));
        }
    }
    xml.push_str(&format!(
        "<Resource>{}</Resource><RequestId>{}</RequestId><HostId>{}</HostId></Error>",
        esc(info.resource),
        esc(info.request_id),
        esc(info.request_id)
    ));
    let len = xml.len();
    *resp.body_mut() = s3s::Body::from(xml);
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finish(err: S3Error, method: http::Method, post_form: bool) -> (u16, String) {
        let mut resp = err.to_http_response().unwrap();
        let info = RequestInfo {
            method: &method,
            resource: "/bucket/a <key>",
            request_id: "REQ1",
            post_form,
        };
        finish_error_response(&mut resp, &info);
        let body = resp.body().bytes().unwrap_or_default();
        (
            resp.status().as_u16(),
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[test]
    fn every_error_body_has_code_message_resource_request_id() {
        let (status, body) = finish(
            S3Error::new(S3ErrorCode::SignatureDoesNotMatch),
            http::Method::GET,
            false,
        );
        assert_eq!(status, 403);
        assert!(
            body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{body}"
        );
        assert!(
            body.contains("<Message>The request signature we calculated"),
            "{body}"
        );
        assert!(
            body.contains("<Resource>/bucket/a &lt;key&gt;</Resource>"),
            "{body}"
        );
        assert!(body.contains("<RequestId>REQ1</RequestId>"), "{body}");

        let (_, body) = finish(
            S3Error::with_message(S3ErrorCode::NoSuchKey, "It's <gone> & \"away\""),
            http::Method::GET,
            false,
        );
        assert!(
            body.contains("<Message>It&apos;s &lt;gone&gt; &amp; &quot;away&quot;</Message>"),
            "{body}"
        );
    }

    #[test]
    fn extra_fields_follow_the_message() {
        let sized = || {
            to_s3_error(Error::EntityTooLarge {
                proposed: Some(6 << 30),
            })
        };
        let mut resp = sized().to_http_response().unwrap();
        assert!(resp.headers().contains_key(FIELDS_HEADER));
        let info = RequestInfo {
            method: &http::Method::PUT,
            resource: "/b/k",
            request_id: "REQ1",
            post_form: false,
        };
        finish_error_response(&mut resp, &info);
        assert!(!resp.headers().contains_key(FIELDS_HEADER));
        let body = String::from_utf8(resp.body().bytes().unwrap_or_default().to_vec()).unwrap();
        assert!(
            body.contains(
                "<Message>Your proposed upload exceeds the maximum allowed size</Message><ProposedSize>6442450944</ProposedSize><MaxSizeAllowed>5368709120</MaxSizeAllowed><Resource>"
            ),
            "{body}"
        );
        // Values are escaped; names that are not plain words are dropped.
        let e = with_fields(
            S3Error::new(S3ErrorCode::InvalidArgument),
            &[("ArgumentValue", "<a&b>".into()), ("bad name", "x".into())],
        );
        let (_, body) = finish(e, http::Method::GET, false);
        assert!(
            body.contains("<ArgumentValue>&lt;a&amp;b&gt;</ArgumentValue><Resource>"),
            "{body}"
        );
        assert!(!body.contains("bad"), "{body}");
        // A HEAD answer has neither body nor the carrying header.
        let (status, body) = finish(sized(), http::Method::HEAD, false);
        assert_eq!((status, body.as_str()), (400, ""));
    }

    #[test]
    fn s3s_logged_errors_tell_their_status() {
        let status = |e: S3Error| {
            (
                s3s_error_status(&e.to_string()).map(|s| s.as_u16()),
                s3s_error_status(&format!("{e:?}")).map(|s| s.as_u16()),
            )
        };
        assert_eq!(
            status(S3Error::new(S3ErrorCode::InvalidBucketName)),
            (Some(400), Some(400))
        );
        assert_eq!(
            status(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Signature is required"
            )),
            (Some(403), Some(403))
        );
        assert_eq!(
            status(S3Error::new(S3ErrorCode::InternalError)),
            (Some(500), Some(500))
        );
        assert_eq!(
            status(S3Error::new(S3ErrorCode::ServiceUnavailable)),
            (Some(503), Some(503))
        );
        let mut custom = S3Error::with_message(
            S3ErrorCode::Custom("InvalidPartNumber".into()),
            "status_code: 200",
        );
        custom.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(status(custom), (Some(416), Some(416)));
        assert_eq!(s3s_error_status("connection reset"), None);
        assert_eq!(
            status(S3Error::new(S3ErrorCode::Custom("Whatever".into()))),
            (None, None)
        );
    }

    #[test]
    fn head_errors_have_no_body() {
        let (status, body) = finish(
            S3Error::new(S3ErrorCode::NoSuchKey),
            http::Method::HEAD,
            false,
        );
        assert_eq!(status, 404);
        assert!(body.is_empty(), "{body}");
    }

    #[test]
    fn post_policy_failures_in_s3_words() {
        let cases = [
            (
                S3Error::with_message(
                    S3ErrorCode::InvalidPolicyDocument,
                    "Policy condition 'starts-with' for field 'key' failed: expected prefix 'up/', got 'x/y'",
                ),
                "Invalid according to Policy: Policy Condition failed: [&quot;starts-with&quot;, &quot;$key&quot;, &quot;up/&quot;]",
            ),
            (
                S3Error::with_message(
                    S3ErrorCode::InvalidPolicyDocument,
                    "Policy condition 'eq' for field 'content-type' failed: expected 'image/png', got 'text/plain'",
                ),
                "Invalid according to Policy: Policy Condition failed: [&quot;eq&quot;, &quot;$content-type&quot;, &quot;image/png&quot;]",
            ),
            (
                S3Error::with_message(S3ErrorCode::AccessDenied, "Request has expired"),
                "Invalid according to Policy: Policy expired.",
            ),
            (
                S3Error::with_message(
                    S3ErrorCode::AccessDenied,
                    "Each form field that you specify in a form must appear in the list of policy conditions. \"x-amz-meta-a\" not specified in the policy.",
                ),
                "Invalid according to Policy: Extra input fields: x-amz-meta-a",
            ),
        ];
        for (err, want) in cases {
            let (status, body) = finish(err, http::Method::POST, true);
            assert_eq!(status, 403, "{body}");
            assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
            assert!(
                body.contains(&format!("<Message>{want}</Message>")),
                "{body}"
            );
        }
        // Outside a browser upload the words stay.
        let (_, body) = finish(
            S3Error::with_message(S3ErrorCode::AccessDenied, "Request has expired"),
            http::Method::GET,
            false,
        );
        assert!(
            body.contains("<Message>Request has expired</Message>"),
            "{body}"
        );
    }

    #[test]
    fn other_bodies_are_left_alone() {
        assert_eq!(
            parse_error_xml("<ListBucketResult></ListBucketResult>"),
            None
        );
        assert_eq!(
            parse_error_xml("<?xml version=\"1.0\"?><Error><Code>A</Code><Empty/></Error>"),
            Some(vec![
                ("Code".into(), "A".into()),
                ("Empty".into(), String::new())
            ])
        );
    }
}
