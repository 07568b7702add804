//! Virtual-host-style addressing: with a configured domain `d`, a request to
//! `Host: bucket.d` (any port) addresses `bucket`, as with
//! `bucket.s3.amazonaws.com`. Path-style requests keep working on every host:
//! the bare domain, an IP address, or any name that is not under a
//! configured domain (a load balancer's name, `localhost`) is path-style.
//!
//! `s3s::host::SingleDomain` would do most of this, but it compares the Host
//! header with its port against the domain (so `bucket.d:9000` is taken for a
//! bucket named `bucket.d:9000`) and treats every unknown host as a CNAME'd
//! bucket name; hence this small parser.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

use crate::error::{Error, Result};

/// The domains under which `bucket.<domain>` names a bucket.
#[derive(Clone, Debug, Default)]
pub struct VirtualHosts {
    /// Lower-case, without port; longest first so that `s3.eu.example.com`
    /// wins over `example.com`.
    domains: Vec<String>,
}

/// `host` without its port (`name:9000` → `name`) and without a trailing dot.
/// `None` for an IPv6 literal, which never names a bucket.
fn host_name(host: &str) -> Option<&str> {
    if host.starts_with('[') {
        return None;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    Some(name.strip_suffix('.').unwrap_or(name))
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl VirtualHosts {
    /// Parses the configured domains (`domains` in the gateway config,
    /// `--domain` for `shale dev`); an invalid one is an error naming it.
    pub fn new(domains: &[String]) -> Result<Self> {
        let mut parsed = Vec::with_capacity(domains.len());
        for (i, d) in domains.iter().enumerate() {
            let lower = d.trim_end_matches('.').to_ascii_lowercase();
            if !valid_domain(&lower) {
                return Err(Error::InvalidArgument(format!(
                    "domains[{i}]: {d:?} is not a domain name (no port, no scheme)"
                )));
            }
            parsed.push(lower);
        }
        parsed.sort_by_key(|d| std::cmp::Reverse(d.len()));
        parsed.dedup();
        Ok(VirtualHosts { domains: parsed })
    }

    /// True when no domain is configured (path-style only).
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// The bucket a Host header names, with the domain it was found under;
    /// `None` for a path-style host.
    pub fn bucket_of<'a>(&'a self, host: &str) -> Option<(String, &'a str)> {
        let name = host_name(host)?.to_ascii_lowercase();
        for domain in &self.domains {
            if let Some(bucket) = name
                .strip_suffix(domain.as_str())
                .and_then(|b| b.strip_suffix('.'))
                && !bucket.is_empty()
            {
                return Some((bucket.to_owned(), domain));
            }
        }
        None
    }
}

impl S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some((bucket, domain)) => VirtualHost::new(domain).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(d: &[&str]) -> VirtualHosts {
        VirtualHosts::new(&d.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn bucket(h: &VirtualHosts, host: &str) -> Option<String> {
        h.bucket_of(host).map(|(b, _)| b)
    }

    #[test]
    fn bucket_under_domain_with_or_without_port() {
        let h = hosts(&["localhost", "s3.example.com"]);
        assert_eq!(bucket(&h, "photos.localhost"), Some("photos".into()));
        assert_eq!(bucket(&h, "photos.localhost:9000"), Some("photos".into()));
        assert_eq!(bucket(&h, "Photos.LocalHost.:9000"), Some("photos".into()));
        assert_eq!(
            bucket(&h, "my.dotted.bucket.s3.example.com"),
            Some("my.dotted.bucket".into())
        );
        assert_eq!(bucket(&h, "a.s3.example.com:443"), Some("a".into()));
    }

    #[test]
    fn path_style_hosts() {
        let h = hosts(&["localhost", "s3.example.com"]);
        for host in [
            "localhost",
            "localhost:9000",
            "s3.example.com",
            "example.com",
            "other.example.org:80",
            "127.0.0.1:9000",
            "[::1]:9000",
            "xlocalhost",
            ".localhost",
        ] {
            assert_eq!(bucket(&h, host), None, "{host}");
        }
        assert_eq!(bucket(&hosts(&[]), "b.localhost"), None);
    }

    #[test]
    fn longest_domain_wins() {
        let h = hosts(&["example.com", "s3.example.com"]);
        assert_eq!(bucket(&h, "b.s3.example.com"), Some("b".into()));
        assert_eq!(bucket(&h, "b.example.com"), Some("b".into()));
    }

    #[test]
    fn invalid_domains_are_named() {
        for bad in ["", "localhost:9000", "http://x", "a..b", "bad_name"] {
            let err = VirtualHosts::new(&["ok".into(), bad.into()]).unwrap_err();
            assert!(err.to_string().contains("domains[1]"), "{bad}: {err}");
        }
    }
}
