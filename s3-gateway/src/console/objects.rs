//! The console's Objects pages, all under `b/<bucket>/`:
//!
//! - `GET b/<bucket>/?prefix=&token=`: the browser, one ListObjectsV2 page
//!   of [`PAGE_SIZE`](super::client_objects::PAGE_SIZE) with delimiter `/` ("folders" and objects), a
//!   breadcrumb of the prefix, the next page by its continuation token,
//!   and the upload picker.
//! - `GET b/<bucket>/object?key=`: one object's metadata (HeadObject),
//!   tags, Object Lock state when its bucket has Object Lock
//!   (GetObjectRetention, GetObjectLegalHold) and versions
//!   (ListObjectVersions of exactly that key).
//! - `GET b/<bucket>/download?key=&version=`: GetObject streamed through
//!   with `Content-Disposition: attachment`. Streamed rather than a
//!   redirect to a presigned URL so that downloading puts no bearer URL in
//!   the browser's history or a `Referer`, and is authorised by the
//!   session like every other page; the bytes pass through this process
//!   either way.
//! - `POST b/<bucket>/{delete,tags,restore,link}`: forms with the CSRF
//!   token (DeleteObject, PutObjectTagging, CopyObject of an older version
//!   over the key, and a presigned GET URL shown to copy).
//! - `POST b/<bucket>/upload/{put,create,part,complete,abort}`: what
//!   `console.js` calls to upload files, with the CSRF token in the
//!   [`CSRF_HEADER`] header: PutObject, CreateMultipartUpload, UploadPart,
//!   CompleteMultipartUpload, AbortMultipartUpload. Bodies are streamed to
//!   S3 as they arrive (unsigned payload, the request signed), each at most
//!   [`MAX_PART_BYTES`]; answers are JSON.
//!
//! Every one is the S3 request signed with the session's key
//! ([`super::client_objects`]): the console reads and changes exactly what
//! that key may through S3.

use bytes::Bytes;
use http::{Method, StatusCode, header};
use time::OffsetDateTime;

use super::client::{S3Dispatch, S3Failure, Signer};
use super::client_objects::{self as calls, Upload};
use super::csrf::TokenIn;
use super::session::{Notice, SessionView};
use super::{
    Console, Form, PREFIX, add_common_headers, not_allowed, not_found, objects_html, page_response,
    pages, redirect, request_host, to_sign_in,
};
use shale_common::sigv4;

/// The header `console.js` sends the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-shale-csrf";
/// Largest body one upload request may carry: a part of 8 MiB as
/// `console.js` cuts them, with room to spare.
pub const MAX_PART_BYTES: u64 = 16 << 20;
/// The expiries a presigned link may be given, in seconds, and their names.
pub const LINK_EXPIRIES: [(u64, &str); 3] =
    [(3600, "1 hour"), (86400, "1 day"), (604_800, "7 days")];

/// The browser's URL of `prefix` in `bucket`, at page `token` if any.
pub fn browse_url(bucket: &str, prefix: &str, token: Option<&str>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if !prefix.is_empty() {
        q.append_pair("prefix", prefix);
    }
    if let Some(t) = token {
        q.append_pair("token", t);
    }
    let q = q.finish();
    let base = format!("{PREFIX}b/{}/", sigv4::uri_encode(bucket, false));
    if q.is_empty() {
        base
    } else {
        format!("{base}?{q}")
    }
}

/// The URL of page `action` of `bucket` with `pairs` as its query.
pub fn action_url(bucket: &str, action: &str, pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    format!(
        "{PREFIX}b/{}/{action}?{}",
        sigv4::uri_encode(bucket, false),
        q.finish()
    )
}

/// The "folder" a key is in: everything up to its last `/`, included.
pub fn parent_prefix(key: &str) -> &str {
    match key.rfind('/') {
        Some(i) => &key[..=i],
        None => "",
    }
}

/// The breadcrumb of `prefix`: each folder's name and its own prefix
/// (`a/b/` gives `a` at `a/` and `b` at `a/b/`).
pub fn breadcrumbs(prefix: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in prefix.char_indices() {
        if c == '/' {
            out.push((&prefix[start..i], &prefix[..=i]));
            start = i + 1;
        }
    }
    if start < prefix.len() {
        out.push((&prefix[start..], prefix));
    }
    out
}

/// `Content-Disposition` of a download of `key`: an attachment named after
/// its last segment, ASCII-only in `filename` and exact in `filename*`
/// (RFC 6266).
pub fn attachment(key: &str) -> String {
    let name = key
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("download");
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        sigv4::uri_encode(name, false)
    )
}

/// The query of a request as a form.
fn query_form<B>(req: &http::Request<B>) -> Form {
    Form(
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

/// A JSON answer for `console.js`, with the console's headers.
fn json(status: StatusCode, value: serde_json::Value) -> http::Response<s3s::Body> {
    let mut resp = http::Response::new(s3s::Body::from(value.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    add_common_headers(h, &[]);
    resp
}

pub(super) fn json_error(status: StatusCode, message: &str) -> http::Response<s3s::Body> {
    json(status, serde_json::json!({ "error": message }))
}

fn json_failure(f: &S3Failure) -> http::Response<s3s::Body> {
    json_error(
        StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY),
        &f.describe(),
    )
}

impl Console {
    /// Answers a request under `b/`; `rest` is what follows it.
    pub(super) async fn objects<D: S3Dispatch>(
        &self,
        s3: &D,
        req: http::Request<hyper::body::Incoming>,
        rest: &str,
    ) -> http::Response<s3s::Body> {
        let Some((bucket, action)) = rest.split_once('/') else {
            return redirect(&browse_url(rest, "", None), &[]);
        };
        let bucket = urlencoding::decode(bucket)
            .map(|b| b.into_owned())
            .unwrap_or_default();
        let method = req.method().clone();
        match (&method, action) {
            (&Method::GET | &Method::HEAD, "" | "object" | "download") => {
                let Some(s) = self.session(&req) else {
                    return to_sign_in();
                };
                let host = request_host(&req);
                let q = query_form(&req);
                let signer = self.signer(&s, &host);
                if !action.is_empty() && q.get("key").is_none_or(str::is_empty) {
                    // Without a key the path would name the bucket itself.
                    return redirect(&browse_url(&bucket, "", None), &[]);
                }
                match action {
                    "" => self.browse(s3, &signer, &s, &bucket, &q).await,
                    "object" => {
                        let key = q.get("key").unwrap_or("");
                        self.details(s3, &signer, &s, (&bucket, key), None).await
                    }
                    _ => download(s3, &signer, &bucket, &q).await,
                }
            }
            (&Method::POST, "delete" | "tags" | "restore" | "link") => {
                self.object_form(s3, req, &bucket, action).await
            }
            (&Method::POST, a) if a.starts_with("upload/") => {
                self.upload(s3, req, &bucket, &a["upload/".len()..]).await
            }
            (_, "" | "object" | "download" | "delete" | "tags" | "restore" | "link")
            | (_, "upload/put" | "upload/create" | "upload/part" | "upload/complete")
            | (_, "upload/abort") => not_allowed(&method),
            _ => not_found(),
        }
    }

    async fn browse<D: S3Dispatch>(
        &self,
        s3: &D,
        signer: &Signer<'_>,
        s: &SessionView,
        bucket: &str,
        q: &Form,
    ) -> http::Response<s3s::Body> {
        let prefix = q.get("prefix").unwrap_or("");
        let token = q.get("token").filter(|t| !t.is_empty());
        let listed = calls::list_objects(s3, signer, bucket, prefix, token).await;
        let notice = self.sessions.take_notice(&s.id);
        let listed = listed.map_err(|f| f.describe());
        page_response(
            StatusCode::OK,
            &objects_html::browser(
                (&s.access_key, &s.csrf),
                (bucket, prefix, token.is_some()),
                listed.as_ref().map_err(|m| m.as_str()),
                notice.as_ref(),
            ),
            &[],
        )
    }

    /// The object page of `key`, with `link` (a presigned URL just made)
    /// shown to copy when given.
    async fn details<D: S3Dispatch>(
        &self,
        s3: &D,
        signer: &Signer<'_>,
        s: &SessionView,
        (bucket, key): (&str, &str),
        link: Option<&str>,
    ) -> http::Response<s3s::Body> {
        let head = calls::head_object(s3, signer, bucket, key).await;
        let (tags, lock) = match &head {
            Ok(_) => (
                calls::get_tags(s3, signer, bucket, key)
                    .await
                    .map_err(|f| f.describe()),
                calls::lock_state(s3, signer, bucket, key)
                    .await
                    .map_err(|f| f.describe()),
            ),
            Err(_) => (Ok(Vec::new()), Ok(None)),
        };
        let versions = calls::list_versions(s3, signer, bucket, key)
            .await
            .map_err(|f| f.describe());
        let notice = self.sessions.take_notice(&s.id);
        let head = head.map_err(|f| f.describe());
        page_response(
            StatusCode::OK,
            &objects_html::object(
                (&s.access_key, &s.csrf),
                (bucket, key),
                objects_html::Details {
                    head: head.as_ref().map_err(|m| m.as_str()),
                    tags: tags.as_ref().map(|t| t.as_slice()).map_err(|m| m.as_str()),
                    lock: lock.as_ref().map(Option::as_ref).map_err(|m| m.as_str()),
                    versions: versions
                        .as_ref()
                        .map(|(v, more)| (v.as_slice(), *more))
                        .map_err(|m| m.as_str()),
                    link,
                },
                notice.as_ref(),
            ),
            &[],
        )
    }

    async fn object_form<D: S3Dispatch>(
        &self,
        s3: &D,
        req: http::Request<hyper::body::Incoming>,
        bucket: &str,
        action: &str,
    ) -> http::Response<s3s::Body> {
        let checked = match self.check_post(req, TokenIn::Form).await {
            Ok(c) => c,
            Err(refused) => return refused,
        };
        let s = checked
            .session
            .expect("a signed-in form is checked with its session");
        let (form, host) = (&checked.form, checked.host.as_str());
        let signer = self.signer(&s, host);
        let key = form.get("key").unwrap_or("");
        let version = form.get("version").filter(|v| !v.is_empty());
        let object_page = action_url(bucket, "object", &[("key", key)]);
        if key.is_empty() {
            self.sessions
                .set_notice(&s.id, Notice::error("No object was named."));
            return redirect(&browse_url(bucket, "", None), &[]);
        }
        let (notice, back) = match action {
            "delete" => {
                let done = calls::delete_object(s3, &signer, bucket, key, version).await;
                match (done, version) {
                    (Ok(()), None) => (
                        Notice::ok(format!("{key} deleted.")),
                        browse_url(bucket, parent_prefix(key), None),
                    ),
                    (Ok(()), Some(v)) => (
                        Notice::ok(format!("Version {v} of {key} deleted.")),
                        object_page,
                    ),
                    (Err(f), _) => (
                        Notice::error(format!("{key} was not deleted: {}", f.describe())),
                        object_page,
                    ),
                }
            }
            "tags" => {
                let notice = match calls::parse_tag_lines(form.get("tags").unwrap_or("")) {
                    Err(e) => Notice::error(format!("The tags were not changed: {e}")),
                    Ok(tags) => match calls::put_tags(s3, &signer, bucket, key, &tags).await {
                        Ok(()) => Notice::ok(format!("Tags of {key} saved.")),
                        Err(f) => {
                            Notice::error(format!("The tags were not changed: {}", f.describe()))
                        }
                    },
                };
                (notice, object_page)
            }
            "restore" => {
                let Some(v) = version else {
                    self.sessions
                        .set_notice(&s.id, Notice::error("No version was named."));
                    return redirect(&object_page, &[]);
                };
                let notice = match calls::restore_version(s3, &signer, bucket, key, v).await {
                    Ok(()) => Notice::ok(format!(
                        "Version {v} of {key} restored: it is the current version again."
                    )),
                    Err(f) => {
                        Notice::error(format!("Version {v} was not restored: {}", f.describe()))
                    }
                };
                (notice, object_page)
            }
            _ => {
                // "link": presigned locally, shown on the object page.
                let expires = form
                    .get("expires")
                    .and_then(|e| e.parse::<u64>().ok())
                    .filter(|e| LINK_EXPIRIES.iter().any(|(secs, _)| secs == e))
                    .unwrap_or(LINK_EXPIRIES[0].0);
                let link = calls::presigned_get(
                    &signer,
                    self.scheme(),
                    (bucket, key),
                    expires,
                    OffsetDateTime::now_utc(),
                );
                return match link {
                    Ok(url) => {
                        self.details(s3, &signer, &s, (bucket, key), Some(&url))
                            .await
                    }
                    Err(f) => {
                        self.sessions.set_notice(
                            &s.id,
                            Notice::error(format!("No link was made: {}", f.describe())),
                        );
                        redirect(&object_page, &[])
                    }
                };
            }
        };
        self.sessions.set_notice(&s.id, notice);
        redirect(&back, &[])
    }

    /// One request of `console.js`'s uploads; JSON in, JSON out.
    async fn upload<D: S3Dispatch>(
        &self,
        s3: &D,
        req: http::Request<hyper::body::Incoming>,
        bucket: &str,
        step: &str,
    ) -> http::Response<s3s::Body> {
        let checked = match self.check_post(req, TokenIn::Header).await {
            Ok(c) => c,
            Err(refused) => return refused,
        };
        let s = checked
            .session
            .expect("a script's request is checked with its session");
        let body = checked.body.expect("a script's request keeps its body");
        let (req, host) = (checked.req, checked.host);
        let q = query_form(&req);
        let key = q.get("key").unwrap_or("");
        if key.is_empty() {
            return json_error(StatusCode::BAD_REQUEST, "No key was named.");
        }
        let signer = self.signer(&s, &host);
        let upload_id = q.get("upload").unwrap_or("");
        let content_type = q.get("type").unwrap_or("");
        match step {
            "put" | "part" => {
                let length = req
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let Some(length) = length else {
                    return json_error(
                        StatusCode::LENGTH_REQUIRED,
                        "An upload's body needs a Content-Length.",
                    );
                };
                if length > MAX_PART_BYTES {
                    return json_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!(
                            "A request may carry at most {} MiB; send a larger file in parts.",
                            MAX_PART_BYTES >> 20
                        ),
                    );
                }
                // hyper holds the body to its Content-Length: streamed on.
                let body = s3s::Body::from(body);
                let upload = Upload {
                    body,
                    length,
                    content_type,
                };
                let done = if step == "put" {
                    calls::put_object(s3, &signer, bucket, key, upload).await
                } else {
                    let Some(number) = q
                        .get("part")
                        .and_then(|n| n.parse::<u32>().ok())
                        .filter(|n| (1..=10_000).contains(n))
                    else {
                        return json_error(
                            StatusCode::BAD_REQUEST,
                            "A part number is from 1 to 10000.",
                        );
                    };
                    calls::upload_part(s3, &signer, (bucket, key), (upload_id, number), upload)
                        .await
                };
                match done {
                    Ok(etag) => json(StatusCode::OK, serde_json::json!({ "etag": etag })),
                    Err(f) => json_failure(&f),
                }
            }
            "create" => match calls::create_upload(s3, &signer, bucket, key, content_type).await {
                Ok(id) => json(StatusCode::OK, serde_json::json!({ "upload": id })),
                Err(f) => json_failure(&f),
            },
            "complete" => {
                let body = match read_small(body).await {
                    Ok(b) => b,
                    Err(resp) => return resp,
                };
                let Ok(etags) = serde_json::from_slice::<Vec<String>>(&body) else {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        "The parts are sent as a JSON list of ETags.",
                    );
                };
                match calls::complete_upload(s3, &signer, (bucket, key), upload_id, &etags).await {
                    Ok(etag) => json(StatusCode::OK, serde_json::json!({ "etag": etag })),
                    Err(f) => json_failure(&f),
                }
            }
            "abort" => match calls::abort_upload(s3, &signer, (bucket, key), upload_id).await {
                Ok(()) => json(StatusCode::OK, serde_json::json!({})),
                Err(f) => json_failure(&f),
            },
            _ => json_error(StatusCode::NOT_FOUND, "The console has no such page."),
        }
    }
}

/// A small body (CompleteMultipartUpload's list of ETags), bounded.
async fn read_small(body: hyper::body::Incoming) -> Result<Bytes, http::Response<s3s::Body>> {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, 1 << 20);
    match tokio::time::timeout(super::FORM_TIMEOUT, limited.collect()).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        _ => Err(json_error(
            StatusCode::BAD_REQUEST,
            "The request's body was too large or did not arrive whole.",
        )),
    }
}

/// GetObject streamed to the browser as an attachment.
async fn download<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    q: &Form,
) -> http::Response<s3s::Body> {
    let key = q.get("key").unwrap_or("");
    let version = q.get("version").filter(|v| !v.is_empty());
    match calls::get_object(s3, signer, bucket, key, version).await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let mut out = http::Response::new(body);
            let h = out.headers_mut();
            for name in [
                header::CONTENT_LENGTH,
                header::ETAG,
                header::LAST_MODIFIED,
                header::CONTENT_TYPE,
            ] {
                if let Some(v) = parts.headers.get(&name) {
                    h.insert(name, v.clone());
                }
            }
            if let Ok(v) = http::HeaderValue::from_str(&attachment(key)) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            add_common_headers(h, &[]);
            // Whatever the bytes are, they are never a page of the console.
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                http::HeaderValue::from_static("default-src 'none'; sandbox"),
            );
            out
        }
        Err(f) => page_response(
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY),
            &pages::error(
                "Download failed",
                &format!("{key} could not be downloaded: {}", f.describe()),
            ),
            &[],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_bucket_prefix_key_and_token() {
        assert_eq!(browse_url("b", "", None), "/_shale/console/b/b/");
        assert_eq!(
            browse_url("b", "a b/&c/", Some("t+/=")),
            "/_shale/console/b/b/?prefix=a+b%2F%26c%2F&token=t%2B%2F%3D"
        );
        assert_eq!(
            action_url("b", "object", &[("key", "x/y z?")]),
            "/_shale/console/b/b/object?key=x%2Fy+z%3F"
        );
    }

    #[test]
    fn folders_of_a_key_and_of_a_prefix() {
        assert_eq!(parent_prefix("a/b/c.txt"), "a/b/");
        assert_eq!(parent_prefix("c.txt"), "");
        assert_eq!(parent_prefix("a/"), "a/");
        assert_eq!(breadcrumbs(""), vec![]);
        assert_eq!(breadcrumbs("a/b/"), vec![("a", "a/"), ("b", "a/b/")]);
        assert_eq!(breadcrumbs("a/pre"), vec![("a", "a/"), ("pre", "a/pre")]);
        assert_eq!(breadcrumbs("/x/"), vec![("", "/"), ("x", "/x/")]);
    }

    #[test]
    fn downloads_are_named_after_the_key() {
        assert_eq!(
            attachment("dir/report 1.pdf"),
            "attachment; filename=\"report 1.pdf\"; filename*=UTF-8''report%201.pdf"
        );
        assert_eq!(
            attachment("é\"\n.txt"),
            "attachment; filename=\"___.txt\"; filename*=UTF-8''%C3%A9%22%0A.txt"
        );
        assert_eq!(
            attachment("dir/"),
            "attachment; filename=\"download\"; filename*=UTF-8''download"
        );
        assert!(http::HeaderValue::from_str(&attachment("a\r\nb")).is_ok());
    }
}
