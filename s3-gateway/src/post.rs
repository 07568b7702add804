//! Browser uploads (POST Object with a signed policy): `s3s` parses the
//! form, checks the signature (SigV4 or SigV2) and the policy's expiry and
//! conditions, and calls `S3::post_object`. This module adds what S3 does
//! beyond that:
//!
//! - `${filename}` in the `key` field is replaced by the uploaded file's
//!   name. `s3s` drops that name, so [`watch_file_name`] reads it from the
//!   body as it streams past, into [`PostFileName`], which the request's
//!   extensions carry to [`crate::s3::Gateway`];
//! - the 201 answer (`success_action_status=201`) carries the ETag quoted
//!   and the object's absolute URL as `Location`, as S3's does
//!   ([`finish_post_response`]).
//!
//! S3's wording of policy failures is in [`crate::error`].

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;

/// Form-part headers longer than this are not searched for the file name.
const MAX_PART_HEADER: usize = 4096;

/// The file name of a browser upload, once the body has streamed past it.
#[derive(Clone, Debug, Default)]
pub struct PostFileName(Arc<OnceLock<String>>);

impl PostFileName {
    /// The name, if the file part has been read.
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// True for a `multipart/form-data` request: a browser upload if it is a POST.
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

/// Searches the form's bytes for the header of the part named `file` and
/// its `filename`. Keeps the tail of the previous frame, so a header split
/// between frames is found too.
struct Scanner {
    carry: Vec<u8>,
    found: PostFileName,
    done: bool,
}

impl Scanner {
    fn feed(&mut self, data: &[u8]) {
        if self.done {
            return;
        }
        self.carry.extend_from_slice(data);
        if let Some(name) = file_name_in(&self.carry) {
            let _ = self.found.0.set(name);
            self.done = true;
            self.carry = Vec::new();
            return;
        }
        if self.carry.len() > MAX_PART_HEADER {
            let cut = self.carry.len() - MAX_PART_HEADER;
            self.carry.drain(..cut);
        }
    }
}

/// The `filename` of the `Content-Disposition` line of the part named
/// `file`, if `buf` holds that whole line.
fn file_name_in(buf: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(buf);
    for line in text.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if !lower.starts_with("content-disposition:") || !lower.contains("form-data") {
            continue;
        }
        let params: Vec<(String, String)> = line
            .split(';')
            .skip(1)
            .filter_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                Some((
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_owned(),
                ))
            })
            .collect();
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        if get("name").as_deref() == Some("file") {
            // The line must be complete: it is followed by "\r\n".
            let whole = format!("{line}\r\n");
            if !text.contains(&whole) {
                return None;
            }
            // Browsers send a base name; old ones sent a Windows path.
            let name = get("filename").unwrap_or_default();
            let base = name.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
            return Some(base);
        }
    }
    None
}

/// Wraps a browser upload's body so that the file's name is recorded as
/// the body streams to `s3s`; the name is put in the request's extensions.
pub fn watch_file_name(req: http::Request<hyper::body::Incoming>) -> http::Request<s3s::Body> {
    let found = PostFileName::default();
    let scanner = Mutex::new(Scanner {
        carry: Vec::new(),
        found: found.clone(),
        done: false,
    });
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(found);
    let body = body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref()
            && let Ok(mut s) = scanner.lock()
        {
            s.feed(data);
        }
        frame
    });
    // s3s 0.14.1's form parser fails ("failed to read file stream") when a
    // piece of the body longer than 64 KiB arrives while it holds the start
    // of a possible boundary (a `\r` near the end of the previous piece:
    // likely in binary files): hand it pieces of at most 32 KiB, which
    // costs no copy.
    let pieces = http_body_util::BodyStream::new(body).flat_map(|frame| {
        let pieces: Vec<Result<hyper::body::Frame<bytes::Bytes>, hyper::Error>> = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(mut data) => {
                    let mut out = Vec::with_capacity(data.len() / FORM_PIECE + 1);
                    while data.len() > FORM_PIECE {
                        out.push(Ok(hyper::body::Frame::data(data.split_to(FORM_PIECE))));
                    }
                    out.push(Ok(hyper::body::Frame::data(data)));
                    out
                }
                Err(frame) => vec![Ok(frame)],
            },
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(pieces)
    });
    let body = http_body_util::StreamBody::new(pieces);
    http::Request::from_parts(parts, s3s::Body::http_body_unsync(body))
}

/// Largest piece of a form body handed to `s3s` (see `watch_file_name`).
const FORM_PIECE: usize = 32 * 1024;

/// Replaces `${filename}` in a browser upload's key, as S3 does.
pub fn substitute_file_name(key: &str, name: Option<&str>) -> String {
    match name {
        Some(name) if key.contains("${filename}") => key.replace("${filename}", name),
        _ => key.to_owned(),
    }
}

/// Gives the answer to a browser upload what S3's has and `s3s`'s lacks:
/// the key with `${filename}` replaced, the ETag quoted, and in the 201
/// answer the object's absolute URL in `Location` (also a header). `base`
/// is `scheme://host` of the request.
pub fn finish_post_response(
    resp: &mut http::Response<s3s::Body>,
    base: &str,
    file_name: Option<&str>,
) {
    if resp.status() == http::StatusCode::SEE_OTHER {
        finish_redirect(resp, file_name);
        return;
    }
    if resp.status() != http::StatusCode::CREATED {
        return;
    }
    let Some(bytes) = resp.body().bytes() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return;
    };
    let field = |name: &str| -> Option<String> {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&format!("</{name}>"))?;
        Some(text[start..end].to_owned())
    };
    let (Some(bucket), Some(key), Some(etag)) = (field("Bucket"), field("Key"), field("ETag"))
    else {
        return;
    };
    let unescaped_key = quick_xml::escape::unescape(&key)
        .map(|k| k.into_owned())
        .unwrap_or_else(|_| key.clone());
    let unescaped_key = substitute_file_name(&unescaped_key, file_name);
    let key = quick_xml::escape::escape(unescaped_key.as_str()).into_owned();
    let encoded_key: String = unescaped_key
        .split('/')
        .map(|seg| urlencoding::encode(seg).into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let location = format!("{base}/{bucket}/{encoded_key}");
    let etag = if etag.starts_with("&quot;") || etag.starts_with('"') {
        etag
    } else {
        format!("&quot;{etag}&quot;")
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{bucket}</Bucket><Key>{key}</Key><ETag>{etag}</ETag></PostResponse>",
        quick_xml::escape::escape(location.as_str())
    );
    if let Ok(v) = http::HeaderValue::from_str(&location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    let len = xml.len();
    *resp.body_mut() = s3s::Body::from(Bytes::from(xml));
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
}

/// The `success_action_redirect` answer (303): `s3s` appends the key as
/// sent (with `${filename}`) and the ETag unquoted.
fn finish_redirect(resp: &mut http::Response<s3s::Body>, file_name: Option<&str>) {
    let Some(location) = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let (url, query) = location.split_once('?').unwrap_or((location, ""));
    let form = |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let pairs: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            let v = match k.as_ref() {
                "key" => substitute_file_name(&v, file_name),
                "etag" if !v.starts_with('"') => format!("\"{v}\""),
                _ => v.into_owned(),
            };
            format!("{}={}", form(&k), form(&v))
        })
        .collect();
    let fixed = format!("{url}?{}", pairs.join("&"));
    if let Ok(v) = http::HeaderValue::from_str(&fixed) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = "--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/${filename}\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\docs\\\\my photo.png\"\r\nContent-Type: image/png\r\n\r\nDATA\r\n--b--\r\n";

    #[test]
    fn file_name_found_whatever_the_framing() {
        for split in 1..FORM.len() {
            let found = PostFileName::default();
            let mut s = Scanner {
                carry: Vec::new(),
                found: found.clone(),
                done: false,
            };
            let (a, b) = FORM.as_bytes().split_at(split);
            s.feed(a);
            s.feed(b);
            assert_eq!(found.get(), Some("my photo.png"), "split at {split}");
        }
    }

    #[test]
    fn redirect_gets_the_key_and_a_quoted_etag() {
        let mut resp = http::Response::new(s3s::Body::empty());
        *resp.status_mut() = http::StatusCode::SEE_OTHER;
        resp.headers_mut().insert(
            http::header::LOCATION,
            http::HeaderValue::from_static(
                "http://app.example/done?x=1&bucket=b&key=up%2F%24%7Bfilename%7D&etag=abc",
            ),
        );
        finish_post_response(&mut resp, "http://127.0.0.1:9000", Some("a b.txt"));
        assert_eq!(
            resp.headers()["location"],
            "http://app.example/done?x=1&bucket=b&key=up%2Fa+b.txt&etag=%22abc%22"
        );
    }

    #[test]
    fn key_substitution() {
        assert_eq!(
            substitute_file_name("up/${filename}", Some("a.txt")),
            "up/a.txt"
        );
        assert_eq!(substitute_file_name("up/x", Some("a.txt")), "up/x");
        assert_eq!(
            substitute_file_name("up/${filename}", None),
            "up/${filename}"
        );
    }

    #[test]
    fn created_answer_is_s3s_made_absolute() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><PostResponse><Location>/b/up/a b&amp;c</Location><Bucket>b</Bucket><Key>up/a b&amp;c</Key><ETag>abc</ETag></PostResponse>";
        let mut resp = http::Response::new(s3s::Body::from(xml.to_owned()));
        *resp.status_mut() = http::StatusCode::CREATED;
        finish_post_response(&mut resp, "http://127.0.0.1:9000", None);
        let body = String::from_utf8(resp.body().bytes().unwrap().to_vec()).unwrap();
        assert!(
            body.contains("<Location>http://127.0.0.1:9000/b/up/a%20b%26c</Location>"),
            "{body}"
        );
        assert!(body.contains("<Key>up/a b&amp;c</Key>"), "{body}");
        assert!(body.contains("<ETag>&quot;abc&quot;</ETag>"), "{body}");
        assert_eq!(
            resp.headers()["location"],
            "http://127.0.0.1:9000/b/up/a%20b%26c"
        );
    }
}
