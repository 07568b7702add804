//! The console's defences against cross-site request forgery.
//!
//! Every form carries a random token in a hidden field: a signed-in
//! session's own token ([`super::session::SessionView::csrf`]), or, for
//! the sign-in form (no session yet), a token also set in a short-lived
//! cookie (double submit), so another site cannot sign a browser in under
//! its own key either. A POST whose token does not match changes nothing
//! (403). On top of that, a POST whose `Origin` header names another
//! origin than the console's own is refused, and the session cookie is
//! `SameSite=Strict`.

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
