//! Bucket CORS as Amazon S3 does it: the checks of `PutBucketCors`, the
//! evaluation of a browser's preflight (`OPTIONS`, unauthenticated, answered
//! by the HTTP front before `s3s`) and the CORS headers on actual requests
//! that carry an `Origin`, and a short-lived per-gateway cache of each
//! bucket's rules.
//!
//! S3's rules (see the API reference's "Appendix: OPTIONS object" and
//! `PutBucketCors`): at most 100 rules, evaluated in order, the first that
//! matches wins; a rule matches when one AllowedOrigin matches the `Origin`
//! (at most one `*` wildcard), one AllowedMethod is the method, and, for a
//! preflight, every header of `Access-Control-Request-Headers` matches one
//! AllowedHeader (case-insensitive, at most one `*`).
//!
//! The cache: a bucket's rules are kept for [`CACHE_TTL`], so a request with
//! an `Origin` does not cost a metadata round trip each time. This gateway's
//! own Put/DeleteBucketCors (and DeleteBucket) replace the cached entry at
//! once; another gateway of the region sees the change within the TTL.

use std::sync::Arc;
use std::time::Duration;

use s3s::dto::{CORSConfiguration, CORSRule};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use shale_metadata::{BucketConfig, BucketConfigKind, CorsRule, MetaClient, MetaError};

/// At most this many rules in one configuration (S3's limit).
pub const MAX_RULES: usize = 100;
/// The methods a rule may allow.
pub const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
/// How long a bucket's rules are trusted without asking the metadata service.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Longest rule ID (S3's limit).
const MAX_ID_LEN: usize = 255;

/// S3's `Vary` on answers of a bucket with CORS rules.
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// The message of S3's 403 for a preflight no rule allows (its typo
/// included: clients and tests compare it).
pub const NOT_ALLOWED: &str = "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
/// The message of S3's 403 for a preflight on a bucket without rules.
pub const NOT_ENABLED: &str = "CORS is not enabled for this bucket.";

fn count_stars(s: &str) -> usize {
    s.matches('*').count()
}

/// Checks a `PutBucketCors` document as S3 does and turns it into rows.
pub fn rules_from_s3(config: CORSConfiguration) -> S3Result<Vec<CorsRule>> {
    let rules = config.cors_rules;
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    rules.into_iter().map(rule_from_s3).collect()
}

fn rule_from_s3(rule: CORSRule) -> S3Result<CorsRule> {
    let malformed = || {
        s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        )
    };
    if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
        return Err(malformed());
    }
    if rule.id.as_ref().is_some_and(|id| id.len() > MAX_ID_LEN) {
        return Err(malformed());
    }
    if rule.max_age_seconds.is_some_and(|m| m < 0) {
        return Err(malformed());
    }
    for method in &rule.allowed_methods {
        if !METHODS.contains(&method.as_str()) {
            return Err(s3_error!(
                InvalidRequest,
                "Found unsupported HTTP method in CORS config. Unsupported method is {}",
                method
            ));
        }
    }
    for origin in &rule.allowed_origins {
        if count_stars(origin) > 1 {
            return Err(s3_error!(
                InvalidRequest,
                "AllowedOrigin \"{}\" can not have more than one wildcard.",
                origin
            ));
        }
    }
    let allowed_headers = rule.allowed_headers.unwrap_or_default();
    for header in &allowed_headers {
        if count_stars(header) > 1 {
            return Err(s3_error!(
                InvalidRequest,
                "AllowedHeader \"{}\" can not have more than one wildcard.",
                header
            ));
        }
    }
    let expose_headers = rule.expose_headers.unwrap_or_default();
    for header in &expose_headers {
        if header.contains('*') {
            return Err(s3_error!(
                InvalidRequest,
                "ExposeHeader \"{}\" contains wildcard. We currently do not support wildcard for ExposeHeader.",
                header
            ));
        }
    }
    Ok(CorsRule {
        id: rule.id,
        allowed_origins: rule.allowed_origins,
        allowed_methods: rule.allowed_methods,
        allowed_headers,
        expose_headers,
        max_age_seconds: rule.max_age_seconds,
    })
}

/// The stored rules as `GetBucketCors` returns them.
pub fn rules_to_s3(rules: &[CorsRule]) -> Vec<CORSRule> {
    rules
        .iter()
        .map(|r| CORSRule {
            id: r.id.clone(),
            allowed_origins: r.allowed_origins.clone(),
            allowed_methods: r.allowed_methods.clone(),
            allowed_headers: (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
            expose_headers: (!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()),
            max_age_seconds: r.max_age_seconds,
        })
        .collect()
}

/// `value` matches `pattern` with at most one `*` standing for any run of
/// characters.
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.is_char_boundary(head.len())
                && value.is_char_boundary(value.len() - tail.len())
                && eq(&value[..head.len()], head)
                && eq(&value[value.len() - tail.len()..], tail)
        }
    }
}

/// The first rule allowing `origin` and `method` and, for a preflight, every
/// header of `headers` (lower-case names).
pub fn find_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'a CorsRule> {
    rules.iter().find(|rule| {
        rule.allowed_origins
            .iter()
            .any(|o| wildcard_match(o, origin, false))
            && rule.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                rule.allowed_headers
                    .iter()
                    .any(|a| wildcard_match(a, h, true))
            })
    })
}

fn set(headers: &mut http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The `Access-Control-*` headers S3 puts on an answer that `rule` allows.
fn allow_headers(headers: &mut http::HeaderMap, rule: &CorsRule, origin: &str) {
    if rule.allowed_origins.iter().any(|o| o == "*") {
        set(headers, "access-control-allow-origin", "*");
    } else {
        set(headers, "access-control-allow-origin", origin);
        set(headers, "access-control-allow-credentials", "true");
    }
    set(
        headers,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        set(
            headers,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        set(headers, "access-control-max-age", &age.to_string());
    }
}

fn error(code: &str, message: &'static str, status: http::StatusCode) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.to_owned().into()), message);
    e.set_status_code(status);
    e
}

/// Answers a preflight (`OPTIONS`) for `bucket` (`None`: no bucket in the
/// URL) with its CORS rules (`rules`), as S3 does: 200 with the
/// `Access-Control-*` headers, or an S3 error (400 without `Origin` or with
/// a bad `Access-Control-Request-Method`, 403 `CORSResponse` otherwise).
pub fn preflight(
    req: &http::HeaderMap,
    rules: Option<&[CorsRule]>,
) -> S3Result<http::Response<s3s::Body>> {
    let header = |name: &str| req.get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = header("origin") else {
        return Err(error(
            "BadRequest",
            "Insufficient information. Origin request header needed.",
            http::StatusCode::BAD_REQUEST,
        ));
    };
    let method = header("access-control-request-method").unwrap_or("");
    if !METHODS.contains(&method) {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("BadRequest".into()),
            format!(
                "Invalid Access-Control-Request-Method: {}",
                if method.is_empty() { "null" } else { method }
            ),
        );
        e.set_status_code(http::StatusCode::BAD_REQUEST);
        return Err(e);
    }
    let asked: Vec<String> = header("access-control-request-headers")
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let Some(rules) = rules else {
        return Err(error(
            "CORSResponse",
            NOT_ENABLED,
            http::StatusCode::FORBIDDEN,
        ));
    };
    let Some(rule) = find_rule(rules, origin, method, &asked) else {
        return Err(error(
            "CORSResponse",
            NOT_ALLOWED,
            http::StatusCode::FORBIDDEN,
        ));
    };
    let mut resp = http::Response::new(s3s::Body::empty());
    let headers = resp.headers_mut();
    allow_headers(headers, rule, origin);
    if !asked.is_empty() {
        set(headers, "access-control-allow-headers", &asked.join(", "));
    }
    set(headers, "vary", VARY);
    set(headers, "content-length", "0");
    Ok(resp)
}

/// Adds S3's CORS headers to the answer of an actual request with `Origin`
/// `origin` and method `method` on a bucket with `rules` (errors included).
pub fn finish_actual(
    resp: &mut http::Response<s3s::Body>,
    rules: &[CorsRule],
    origin: &str,
    method: &http::Method,
) {
    let headers = resp.headers_mut();
    set(headers, "vary", VARY);
    if let Some(rule) = find_rule(rules, origin, method.as_str(), &[]) {
        allow_headers(headers, rule, origin);
    }
}

/// One bucket's rules as cached (`None`: the bucket has none, or does not
/// exist).
type Rules = Option<Arc<Vec<CorsRule>>>;

/// The gateway's cache of buckets' CORS rules (see the module docs).
#[derive(Debug)]
pub struct CorsCache {
    meta: MetaClient,
    cache: crate::bucket_cache::BucketCache<Rules>,
}

impl CorsCache {
    /// An empty cache over `meta`.
    pub fn new(meta: MetaClient) -> CorsCache {
        CorsCache {
            meta,
            cache: crate::bucket_cache::BucketCache::new(CACHE_TTL),
        }
    }

    /// The bucket's rules, from the cache when fresh.
    pub async fn rules(&self, bucket: &str) -> Result<Rules, MetaError> {
        let load = || async {
            match self
                .meta
                .get_bucket_config(bucket, BucketConfigKind::Cors)
                .await
            {
                Ok(Some(BucketConfig::Cors(rules))) => Ok(Some(Arc::new(rules))),
                // (A configuration of another kind never answers for CORS.)
                Ok(None | Some(_)) | Err(MetaError::NoSuchBucket) => Ok(None),
                Err(e) => Err(e),
            }
        };
        self.cache.get(bucket, load).await
    }

    /// Records a change made through this gateway: later requests see
    /// `rules` at once.
    pub fn changed(&self, bucket: &str, rules: Option<Vec<CorsRule>>) {
        self.cache.changed(bucket, Some(rules.map(Arc::new)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..CorsRule::default()
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "http://x", false));
        assert!(wildcard_match(
            "http://*.example.com",
            "http://a.example.com",
            false
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "http://example.com",
            false
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "https://a.example.com",
            false
        ));
        assert!(wildcard_match("x-amz-*", "X-Amz-Date", true));
        assert!(!wildcard_match("x-amz-*", "X-Amz-Date", false));
        assert!(!wildcard_match("ab*ba", "aba", false));
        assert!(wildcard_match("é*", "éa", false));
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = vec![
            rule(&["http://a"], &["PUT"], &["content-type"]),
            rule(&["http://*"], &["GET", "PUT"], &[]),
        ];
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = find_rule(&rules, "http://a", "PUT", &h(&["content-type"]));
        assert_eq!(got, Some(&rules[0]));
        // A header the first rule does not allow: the second has no headers.
        assert_eq!(find_rule(&rules, "http://a", "PUT", &h(&["x-other"])), None);
        assert_eq!(find_rule(&rules, "http://b", "GET", &[]), Some(&rules[1]));
        assert_eq!(find_rule(&rules, "http://b", "DELETE", &[]), None);
        assert_eq!(find_rule(&rules, "https://b", "GET", &[]), None);
    }
}
