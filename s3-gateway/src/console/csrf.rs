//! The console's defences against cross-site request forgery.
//!
//! Every form carries a random token in a hidden field: a signed-in
//! session's own token ([`super::session::SessionView::csrf`]), or, for
//! the sign-in form (no session yet), a token also set in a short-lived
//! cookie (double submit), so another site cannot sign a browser in under
//! its own key either. A POST whose token does not match changes nothing
//! (403). On top of that, a POST whose `Origin` header names another
//! origin than the console's own is refused, and the session cookie is
//! `SameSite=Strict`. [`Console::check_post`] makes these checks for every
//! POST, before its action.

use http::{StatusCode, header};

use super::objects::{CSRF_HEADER, json_error};
use super::session::SessionView;
use super::{Console, Form, forbidden, page_response, pages, read_form, request_host, to_sign_in};

/// Where a POST carries its CSRF token, and what that token must equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenIn {
    /// The sign-in form: its `csrf` field equals the sign-in cookie (there
    /// is no session yet).
    SignInForm,
    /// A form of a signed-in page: its `csrf` field equals the session's
    /// token.
    Form,
    /// A request of `console.js`: its [`CSRF_HEADER`] equals the session's
    /// token. Its body is not read (an upload's bytes): refusals are JSON.
    Header,
}

/// A POST that passed [`Console::check_post`].
pub(super) struct CheckedPost {
    /// The request's `Host`.
    pub host: String,
    /// The signed-in session; `None` only for [`TokenIn::SignInForm`].
    pub session: Option<SessionView>,
    /// The form's fields (none for [`TokenIn::Header`]).
    pub form: Form,
    /// The request without its body.
    pub req: http::Request<()>,
    /// The body, left unread for [`TokenIn::Header`].
    pub body: Option<hyper::body::Incoming>,
}

impl Console {
    /// The checks of every console POST, in this order: its `Origin` is
    /// the console's own; a form is `application/x-www-form-urlencoded`;
    /// there is a session (but for sign-in); the form arrives whole within
    /// its limits; its CSRF token is where `token_in` says and matches.
    /// A refusal is the answer to send (a page, or JSON for
    /// [`TokenIn::Header`]); nothing was changed.
    pub(super) async fn check_post(
        &self,
        req: http::Request<hyper::body::Incoming>,
        token_in: TokenIn,
    ) -> Result<CheckedPost, http::Response<s3s::Body>> {
        let script = token_in == TokenIn::Header;
        let host = request_host(&req);
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .map(|v| v.to_str().unwrap_or("invalid"));
        if !origin_allowed(origin, self.scheme(), &host) {
            return Err(if script {
                json_error(
                    StatusCode::FORBIDDEN,
                    "This request was sent from another site; nothing was changed.",
                )
            } else {
                forbidden("This form was sent from another site; nothing was changed.")
            });
        }
        if !script && !is_form(req.headers()) {
            return Err(page_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &pages::error(
                    "Unsupported form",
                    "The console takes forms as application/x-www-form-urlencoded.",
                ),
                &[],
            ));
        }
        let session = self.session(&req);
        let expected = match (token_in, &session) {
            (TokenIn::SignInForm, _) => {
                super::cookie_value(req.headers(), super::SIGN_IN_COOKIE).unwrap_or_default()
            }
            (_, Some(s)) => s.csrf.clone(),
            (_, None) if script => {
                return Err(json_error(
                    StatusCode::UNAUTHORIZED,
                    "The session has ended: sign in again.",
                ));
            }
            (_, None) => return Err(to_sign_in()),
        };
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, ());
        let (form, body, submitted) = if script {
            let token = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (Form(Vec::new()), Some(body), token)
        } else {
            let form = read_form(body).await?;
            let token = form.get("csrf").map(str::to_owned);
            (form, None, token)
        };
        if !token_matches(&expected, submitted.as_deref()) {
            return Err(match token_in {
                TokenIn::SignInForm => forbidden(
                    "The sign-in form had expired or was not the console's; nothing was changed. \
                     Open the sign-in page and try again.",
                ),
                TokenIn::Form => forbidden(
                    "The form's security token is missing or wrong; nothing was changed. \
                     Reload the page and try again.",
                ),
                TokenIn::Header => json_error(
                    StatusCode::FORBIDDEN,
                    "The request's security token is missing or wrong; nothing was changed.",
                ),
            });
        }
        Ok(CheckedPost {
            host,
            session: session.filter(|_| token_in != TokenIn::SignInForm),
            form,
            req,
            body,
        })
    }
}

/// True when the request's body is declared a URL-encoded form (the only
/// kind of form the console reads).
fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// True when the form's token equals the expected one. Compared in
/// constant time; an empty expected token matches nothing.
pub fn token_matches(expected: &str, submitted: Option<&str>) -> bool {
    let Some(submitted) = submitted else {
        return false;
    };
    if expected.is_empty() || expected.len() != submitted.len() {
        return false;
    }
    expected
        .bytes()
        .zip(submitted.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// True when a POST may go on as far as its origin goes: it has no
/// `Origin` header (older browsers, curl), or that header is exactly the
/// console's own origin, `scheme://host` with the request's `Host`.
pub fn origin_allowed(origin: Option<&str>, scheme: &str, host: &str) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if host.is_empty() {
        return false;
    }
    let own = format!("{scheme}://{host}");
    origin.eq_ignore_ascii_case(&own)
        || default_port(scheme).is_some_and(|port| {
            // A browser leaves the scheme's default port out of `Origin`
            // while a client may keep it in `Host`, or the other way round.
            let bare = host.strip_suffix(port).unwrap_or(host);
            origin.eq_ignore_ascii_case(&format!("{scheme}://{bare}"))
                || origin.eq_ignore_ascii_case(&format!("{scheme}://{bare}{port}"))
        })
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_exactly() {
        let t = "a".repeat(64);
        assert!(token_matches(&t, Some(&t)));
        assert!(!token_matches(&t, None));
        assert!(!token_matches(&t, Some("")));
        assert!(!token_matches(&t, Some(&"a".repeat(63))));
        assert!(!token_matches(&t, Some(&format!("{}b", "a".repeat(63)))));
        assert!(!token_matches("", Some("")));
    }

    #[test]
    fn origin_must_be_the_consoles_own() {
        let host = "127.0.0.1:9000";
        assert!(origin_allowed(None, "http", host));
        assert!(origin_allowed(Some("http://127.0.0.1:9000"), "http", host));
        assert!(!origin_allowed(
            Some("https://127.0.0.1:9000"),
            "http",
            host
        ));
        assert!(!origin_allowed(Some("http://127.0.0.1:9001"), "http", host));
        assert!(!origin_allowed(Some("http://evil.example"), "http", host));
        assert!(!origin_allowed(Some("null"), "http", host));
        assert!(!origin_allowed(Some("http://127.0.0.1:9000"), "http", ""));
        // Default ports, in the header or not.
        assert!(origin_allowed(
            Some("https://s3.example"),
            "https",
            "s3.example:443"
        ));
        assert!(origin_allowed(
            Some("https://s3.example:443"),
            "https",
            "s3.example"
        ));
        assert!(!origin_allowed(
            Some("http://s3.example"),
            "https",
            "s3.example"
        ));
    }
}
