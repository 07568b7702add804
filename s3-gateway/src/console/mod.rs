//! The web console, served by every gateway at `/_shale/console/` on its S3
//! endpoint (no bucket can be named `_shale`, so it hides no S3 request).
//!
//! Server-rendered HTML pages ([`pages`]) for people who prefer a browser
//! to `aws s3`. The console is one more client of the S3 rules, never a
//! side door: a user signs in with an access key and its secret, which
//! are checked by a ListBuckets signed with them, and every action is the
//! equivalent S3 request signed with that key and answered by the
//! gateway's own S3 service in this process ([`client`]), so
//! authentication, grants and policies are exactly S3's.
//!
//! - Sessions ([`session`]) live in this gateway's memory; the browser
//!   holds a random id in the `shale_console` cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/_shale/console/`, `Secure` under TLS).
//! - Every form carries a CSRF token and every POST is checked ([`csrf`]).
//! - Pages are sent with a Content-Security-Policy that allows only the
//!   console's own style sheet and script, and are never cached.
//!
//! Pages: `sign-in` (GET the form, POST it), `sign-out` (POST),
//! `buckets` (GET the list and the create form), `buckets/create` and
//! `buckets/delete` (POST; a create may enable versioning and Object
//! Lock), `b/<bucket>/…` (the Objects pages, [`objects`]), `cluster`
//! (GET, [`cluster`]), `settings/<bucket>` (GET) and `settings` (POST,
//! [`settings`]), `keys` (GET) and `keys/create`, `keys/grant`,
//! `keys/delete` (POST, [`keys`]), `replication` (GET, [`replication`]),
//! `style.css`, `console.js`.

pub mod admin_api;
pub mod client;
pub mod client_objects;
pub mod cluster;
pub mod csrf;
pub mod keys;
pub mod objects;
pub mod objects_html;
pub mod pages;
pub mod replication;
pub mod session;
pub mod settings;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;

use self::client::{S3Dispatch, Signer};
use self::session::{Notice, SessionView, Sessions};

/// Where the console lives; every page is under it.
pub const PREFIX: &str = "/_shale/console/";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "shale_console";
/// The sign-in form's CSRF cookie (double submit: there is no session yet).
pub const SIGN_IN_COOKIE: &str = "shale_console_signin";
/// Largest form the console reads.
const MAX_FORM_BYTES: usize = 64 << 10;
/// How long a form's body may take to arrive.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);
/// What the wrong-credentials page says, whichever of the two was wrong.
pub const WRONG_CREDENTIALS: &str = "The access key or secret is wrong";

/// The pages' Content-Security-Policy: the console's own style sheet and
/// script file (no inline script, no `eval`), requests and forms to
/// itself only; no frame, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
                   img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's only script, served at `console.js`: the uploads of the
/// Objects page (see [`objects`]) and the copy button of a link.
pub const CONSOLE_JS: &str = include_str!("console.js");

/// True for a path the console answers.
pub fn is_console_path(path: &str) -> bool {
    path == "/_shale/console" || path.starts_with(PREFIX)
}

/// The console of one gateway: its sessions and what it needs to sign.
pub struct Console {
    sessions: Sessions,
    region: String,
    secure: bool,
}

impl Console {
    /// The console of a gateway of `region`; `secure` when it serves TLS
    /// (cookies are then `Secure`).
    pub fn new(region: &str, secure: bool) -> Self {
        Console {
            sessions: Sessions::default(),
            region: region.to_owned(),
            secure,
        }
    }

    fn scheme(&self) -> &'static str {
        if self.secure { "https" } else { "http" }
    }

    fn cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let mut c = format!("{name}={value}; Path={PREFIX}; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            c.push_str("; Secure");
        }
        c
    }

    /// Answers one console request from `peer`; never fails, never panics
    /// on input: every outcome is a page or a redirect.
    pub async fn handle<D: S3Dispatch>(
        &self,
        s3: &D,
        req: http::Request<hyper::body::Incoming>,
    ) -> http::Response<s3s::Body> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let page = path.strip_prefix(PREFIX).unwrap_or("");
        if path == "/_shale/console" {
            return redirect(PREFIX, &[]);
        }
        match (&method, page) {
            (&Method::GET | &Method::HEAD, "") => match self.session(&req) {
                Some(_) => redirect(&format!("{PREFIX}buckets"), &[]),
                None => redirect(&format!("{PREFIX}sign-in"), &[]),
            },
            (&Method::GET | &Method::HEAD, "style.css") => {
                asset(pages::STYLE_CSS, "text/css; charset=utf-8")
            }
            (&Method::GET | &Method::HEAD, "console.js") => {
                asset(CONSOLE_JS, "text/javascript; charset=utf-8")
            }
            (&Method::GET | &Method::HEAD, "sign-in") => self.sign_in_page(&req, None, ""),
            (&Method::GET | &Method::HEAD, "buckets") => match self.session(&req) {
                Some(s) => self.buckets_page(s3, &req, &s).await,
                None => to_sign_in(),
            },
            (&Method::GET | &Method::HEAD, "cluster") => match self.session(&req) {
                Some(s) => self.cluster_page(s3, &req, &s).await,
                None => to_sign_in(),
            },
            (&Method::GET | &Method::HEAD, p) if p.starts_with("settings/") => {
                match (self.session(&req), settings::bucket_of(p)) {
                    (None, _) => to_sign_in(),
                    (Some(s), Some(bucket)) => self.settings_page(s3, &req, &s, &bucket).await,
                    (Some(_), None) => page_response(
                        StatusCode::NOT_FOUND,
                        &pages::error("Not found", "The console has no such page."),
                        &[],
                    ),
                }
            }
            (&Method::GET | &Method::HEAD, "replication") => match self.session(&req) {
                Some(s) => self.replication_page(s3, &req, &s).await,
                None => to_sign_in(),
            },
            (&Method::GET | &Method::HEAD, "keys") => match self.session(&req) {
                Some(s) => self.keys_page(s3, &req, &s).await,
                None => to_sign_in(),
            },
            (
                &Method::POST,
                "sign-in" | "sign-out" | "buckets/create" | "buckets/delete" | "settings"
                | "keys/create" | "keys/grant" | "keys/delete",
            ) => self.post(s3, req, page).await,
            (_, "" | "style.css" | "sign-in" | "buckets" | "cluster" | "keys" | "replication")
            | (_, "keys/create" | "keys/grant" | "keys/delete")
            | (_, "sign-out" | "buckets/create" | "buckets/delete" | "settings") => {
                not_allowed(&method)
            }
            (_, p) if p.starts_with("b/") => self.objects(s3, req, &p["b/".len()..]).await,
            _ => not_found(),
        }
    }

    /// The signer of the console's calls for session `s`, to `host`.
    fn signer<'a>(&'a self, s: &'a SessionView, host: &'a str) -> Signer<'a> {
        Signer {
            access_key: &s.access_key,
            secret: &s.secret,
            region: &self.region,
            host,
        }
    }

    /// The live session the request's cookie names.
    fn session<B>(&self, req: &http::Request<B>) -> Option<SessionView> {
        let id = cookie_value(req.headers(), SESSION_COOKIE)?;
        self.sessions.get(&id, Instant::now())
    }

    fn sign_in_page<B>(
        &self,
        req: &http::Request<B>,
        notice: Option<&Notice>,
        access_key: &str,
    ) -> http::Response<s3s::Body> {
        // Keep the browser's sign-in token if it has a well-formed one (two
        // tabs), else give it one.
        let token = cookie_value(req.headers(), SIGN_IN_COOKIE)
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .unwrap_or_else(session::random_token);
        let cookie = self.cookie(SIGN_IN_COOKIE, &token, Some(3600));
        let status = if notice.is_some_and(|n| n.error) {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::OK
        };
        page_response(
            status,
            &pages::sign_in(&token, access_key, notice),
            &[cookie],
        )
    }

    async fn buckets_page<D: S3Dispatch, B>(
        &self,
        s3: &D,
        req: &http::Request<B>,
        s: &SessionView,
    ) -> http::Response<s3s::Body> {
        let host = request_host(req);
        let signer = self.signer(s, &host);
        let listed = client::list_buckets(s3, &signer).await;
        let notice = self.sessions.take_notice(&s.id);
        let failure = listed.as_ref().err().map(|f| f.describe());
        let rows = match (&listed, &failure) {
            (Ok(rows), _) => Ok(rows.as_slice()),
            (Err(_), Some(message)) => Err(message.as_str()),
            (Err(_), None) => Err(""),
        };
        page_response(
            StatusCode::OK,
            &pages::buckets(&s.access_key, &s.csrf, &self.region, rows, notice.as_ref()),
            &[],
        )
    }

    /// A POST: checked ([`Console::check_post`]), then the action.
    async fn post<D: S3Dispatch>(
        &self,
        s3: &D,
        req: http::Request<hyper::body::Incoming>,
        page: &str,
    ) -> http::Response<s3s::Body> {
        let token_in = if page == "sign-in" {
            csrf::TokenIn::SignInForm
        } else {
            csrf::TokenIn::Form
        };
        let checked = match self.check_post(req, token_in).await {
            Ok(c) => c,
            Err(refused) => return refused,
        };
        let (form, host) = (&checked.form, checked.host.as_str());
        let Some(s) = checked.session else {
            // Only the sign-in form is checked without a session.
            return self.sign_in(s3, &checked.req, form, host).await;
        };
        let signer = self.signer(&s, host);
        let buckets = format!("{PREFIX}buckets");
        match page {
            "sign-out" => {
                self.sessions.remove(&s.id);
                let clear = self.cookie(SESSION_COOKIE, "", Some(0));
                redirect(&format!("{PREFIX}sign-in"), &[clear])
            }
            "buckets/create" => {
                let name = form.get("name").unwrap_or("").trim();
                let region = form.get("region").unwrap_or("").trim();
                let notice = if name.is_empty() {
                    Notice::error("Give the bucket a name.")
                } else {
                    let lock = form.get("object_lock") == Some("enabled");
                    match client::create_bucket(s3, &signer, name, region, lock).await {
                        Err(f) => Notice::error(format!(
                            "Bucket {name} was not created: {}",
                            f.describe()
                        )),
                        Ok(()) if lock => {
                            Notice::ok(format!("Bucket {name} created, with Object Lock enabled."))
                        }
                        Ok(()) if form.get("versioning") == Some("enabled") => {
                            match client::enable_versioning(s3, &signer, name).await {
                                Ok(()) => Notice::ok(format!(
                                    "Bucket {name} created, with versioning enabled."
                                )),
                                Err(f) => Notice::error(format!(
                                    "Bucket {name} was created, but versioning was not enabled: {}",
                                    f.describe()
                                )),
                            }
                        }
                        Ok(()) => Notice::ok(format!("Bucket {name} created.")),
                    }
                };
                self.sessions.set_notice(&s.id, notice);
                redirect(&buckets, &[])
            }
            "buckets/delete" => {
                let name = form.get("name").unwrap_or("").trim();
                let notice = if name.is_empty() {
                    Notice::error("No bucket was named.")
                } else {
                    match client::delete_bucket(s3, &signer, name).await {
                        Ok(()) => Notice::ok(format!("Bucket {name} deleted.")),
                        Err(f) => Notice::error(format!(
                            "Bucket {name} was not deleted: {}",
                            f.describe()
                        )),
                    }
                };
                self.sessions.set_notice(&s.id, notice);
                redirect(&buckets, &[])
            }
            "keys/create" | "keys/grant" | "keys/delete" => {
                let notice = keys::apply(s3, &signer, page, form).await;
                self.sessions.set_notice(&s.id, notice);
                redirect(&format!("{PREFIX}keys"), &[])
            }
            "settings" => {
                let bucket = form.get("bucket").unwrap_or("").trim().to_owned();
                let notice = settings::apply(s3, &signer, &bucket, form).await;
                self.sessions.set_notice(&s.id, notice);
                redirect(&settings::page_path(&bucket), &[])
            }
            _ => not_found(),
        }
    }

    /// Checks the key and secret with a ListBuckets signed with them; opens
    /// a session only if S3 accepts it.
    async fn sign_in<D: S3Dispatch>(
        &self,
        s3: &D,
        req: &http::Request<()>,
        form: &Form,
        host: &str,
    ) -> http::Response<s3s::Body> {
        let access_key = form.get("access_key").unwrap_or("").trim();
        let secret = form.get("secret_key").unwrap_or("");
        if access_key.is_empty() || secret.is_empty() {
            return self.sign_in_page(
                req,
                Some(&Notice::error("Give an access key and its secret.")),
                access_key,
            );
        }
        let signer = Signer {
            access_key,
            secret,
            region: &self.region,
            host,
        };
        match client::list_buckets(s3, &signer).await {
            Ok(_) => {}
            Err(f) if f.is_refusal() => {
                return self.sign_in_page(req, Some(&Notice::error(WRONG_CREDENTIALS)), access_key);
            }
            Err(f) => {
                return self.sign_in_page(
                    req,
                    Some(&Notice::error(format!(
                        "Signing in failed: {}",
                        f.describe()
                    ))),
                    access_key,
                );
            }
        }
        let Some(s) = self.sessions.create(access_key, secret, Instant::now()) else {
            return self.sign_in_page(
                req,
                Some(&Notice::error(
                    "This gateway holds too many console sessions; try again later.",
                )),
                access_key,
            );
        };
        tracing::info!(access_key, "console sign-in");
        let session = self.cookie(SESSION_COOKIE, &s.id, None);
        let used = self.cookie(SIGN_IN_COOKIE, "", Some(0));
        redirect(&format!("{PREFIX}buckets"), &[session, used])
    }
}

/// A form's fields (the first value of each name).
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn read_form(body: hyper::body::Incoming) -> Result<Form, http::Response<s3s::Body>> {
    let limited = http_body_util::Limited::new(body, MAX_FORM_BYTES);
    let bytes: Bytes = match tokio::time::timeout(FORM_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(page_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &pages::error(
                    "Form too large",
                    "The form was larger than the console takes.",
                ),
                &[],
            ));
        }
        Ok(Err(_)) | Err(_) => {
            return Err(page_response(
                StatusCode::BAD_REQUEST,
                &pages::error("Form not received", "The form did not arrive whole."),
                &[],
            ));
        }
    };
    Ok(Form(
        form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    ))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

fn request_host<B>(req: &http::Request<B>) -> String {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A page with the console's headers (CSP, no caching, no framing).
fn page_response(status: StatusCode, html: &str, cookies: &[String]) -> http::Response<s3s::Body> {
    let mut resp = http::Response::new(s3s::Body::from(html.to_owned()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    add_common_headers(h, cookies);
    resp
}

/// The console's style sheet or script: cached a little, never sniffed.
fn asset(text: &'static str, content_type: &'static str) -> http::Response<s3s::Body> {
    let mut resp = http::Response::new(s3s::Body::from(Bytes::from_static(text.as_bytes())));
    set_static(
        resp.headers_mut(),
        &[
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
    );
    resp
}

/// Sets each header of `headers` to its fixed value.
fn set_static(h: &mut http::HeaderMap, headers: &[(header::HeaderName, &'static str)]) {
    for (name, value) in headers {
        h.insert(name.clone(), http::HeaderValue::from_static(value));
    }
}

fn add_common_headers(h: &mut http::HeaderMap, cookies: &[String]) {
    set_static(
        h,
        &[
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
    );
    for c in cookies {
        if let Ok(v) = http::HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
}

/// `303 See Other` to `location` (after a POST, the browser GETs it).
fn redirect(location: &str, cookies: &[String]) -> http::Response<s3s::Body> {
    let mut resp = http::Response::new(s3s::Body::empty());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    add_common_headers(h, cookies);
    resp
}

/// The sign-in page, for a request without a live session.
fn to_sign_in() -> http::Response<s3s::Body> {
    redirect(&format!("{PREFIX}sign-in"), &[])
}

fn not_found() -> http::Response<s3s::Body> {
    page_response(
        StatusCode::NOT_FOUND,
        &pages::error("Not found", "The console has no such page."),
        &[],
    )
}

fn not_allowed(method: &Method) -> http::Response<s3s::Body> {
    page_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &pages::error(
            "Method not allowed",
            &format!("{method} is not allowed on this page."),
        ),
        &[],
    )
}

fn forbidden(message: &str) -> http::Response<s3s::Body> {
    page_response(
        StatusCode::FORBIDDEN,
        &pages::error("Request refused", message),
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths() {
        assert!(is_console_path("/_shale/console"));
        assert!(is_console_path("/_shale/console/"));
        assert!(is_console_path("/_shale/console/buckets"));
        assert!(!is_console_path("/_shale/consoles"));
        assert!(!is_console_path("/_shale/status"));
        assert!(!is_console_path("/bucket/_shale/console/"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; shale_console=abc ; b=2".parse().expect("ascii"),
        );
        h.append(
            header::COOKIE,
            "shale_console_signin=def".parse().expect("ascii"),
        );
        assert_eq!(cookie_value(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, SIGN_IN_COOKIE).as_deref(), Some("def"));
        assert_eq!(cookie_value(&h, "c"), None);
    }

    #[test]
    fn session_cookie_attributes() {
        let plain = Console::new("us-east-1", false);
        assert_eq!(
            plain.cookie(SESSION_COOKIE, "x", None),
            "shale_console=x; Path=/_shale/console/; HttpOnly; SameSite=Strict"
        );
        let tls = Console::new("us-east-1", true);
        assert_eq!(
            tls.cookie(SESSION_COOKIE, "", Some(0)),
            "shale_console=; Path=/_shale/console/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
    }
}
