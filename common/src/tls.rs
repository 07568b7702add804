//! TLS between roles (`internal_tls` in a role's TOML): each listener of the
//! metadata service and of a storage node serves TLS with its certificate,
//! and every internal client checks the server's certificate against the
//! cluster's CA. Identity stays with the cluster secret's keys
//! (`cluster_auth`); TLS adds secrecy, the integrity of answers, and ends
//! the replay of captured requests to another role.
//!
//! Roles on different hosts must use it: a role whose addresses are not all
//! loopback refuses to start without `internal_tls`, unless its TOML says
//! `plaintext_between_hosts = true` ([`check_plaintext`]).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// `internal_tls = { cert, key, ca }` of a role's TOML: its certificate and
/// key (PEM), served on its internal listener, and the CA (PEM) the
/// certificates of the roles it calls must chain to.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalTls {
    /// The role's certificate chain (PEM); its names must include the
    /// address other roles reach it at (an IP SAN for an IP address).
    pub cert: PathBuf,
    /// The certificate's private key (PEM).
    pub key: PathBuf,
    /// The cluster's CA certificate(s) (PEM).
    pub ca: PathBuf,
}

/// A role's TLS, loaded: what its listener serves and what its clients
/// trust.
#[derive(Clone)]
pub struct Tls {
    /// For the role's internal listener (none for a client only: the
    /// admin CLI, a gateway).
    pub acceptor: Option<tokio_rustls::TlsAcceptor>,
    /// For every internal client of the role.
    pub client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("internal_tls.{what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "internal_tls.{what} {}: no certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

impl InternalTls {
    /// Loads the certificate, key and CA.
    pub fn load(&self) -> Result<Tls, String> {
        let chain = certs(&self.cert, "cert")?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| format!("internal_tls.key {}: {e}", self.key.display()))?;
        let mut server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("internal_tls: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("internal_tls: {e}"))?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: Some(tokio_rustls::TlsAcceptor::from(Arc::new(server))),
            client: client_config(&self.ca)?,
        })
    }
}

/// The TLS of a client only (the admin CLI): it trusts the CA in `ca`.
pub fn client_only(ca: &Path) -> Result<Tls, String> {
    Ok(Tls {
        acceptor: None,
        client: client_config(ca)?,
    })
}

fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(ca, "ca")? {
        roots
            .add(cert)
            .map_err(|e| format!("internal_tls.ca {}: {e}", ca.display()))?;
    }
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("internal_tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(client))
}

/// How long a peer has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The TLS side of an accepted connection, once its handshake completed
/// within [`HANDSHAKE_TIMEOUT`]; `None` (logged at debug) otherwise.
pub async fn accept<S>(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: S,
    peer: std::net::SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// A client configuration that trusts nothing: what internal clients
/// without `internal_tls` carry (they speak plain HTTP, so never use it).
pub fn no_trust() -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    )
}

/// True for an address on this host only: a loopback IP, or `localhost`.
pub fn is_loopback(addr: &str) -> bool {
    let host = addr
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses plaintext between hosts: `Err` naming the first of `addrs` (the
/// addresses a role listens on or calls) that is not loopback, when the
/// role has no `internal_tls` and its TOML does not say
/// `plaintext_between_hosts = true`.
pub fn check_plaintext<'a>(
    tls: Option<&InternalTls>,
    plaintext_between_hosts: bool,
    addrs: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    if tls.is_some() || plaintext_between_hosts {
        return Ok(());
    }
    match addrs.into_iter().find(|a| !is_loopback(a)) {
        None => Ok(()),
        Some(a) => Err(format!(
            "{a} is not on this host: traffic between roles on different hosts must be \
             encrypted. Give this role `internal_tls = {{ cert, key, ca }}` (every role of \
             the cluster needs it), or set `plaintext_between_hosts = true` to send it in \
             the clear on a network you trust"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_told_apart() {
        for a in [
            "127.0.0.1:7100",
            "127.0.0.2:1",
            "localhost:9000",
            "[::1]:7100",
            "http://127.0.0.1:5",
            "127.0.0.1",
        ] {
            assert!(is_loopback(a), "{a}");
        }
        for a in [
            "10.0.0.1:7100",
            "meta-1:7100",
            "[2001:db8::1]:7100",
            "0.0.0.0:7100",
            "192.168.1.2",
        ] {
            assert!(!is_loopback(a), "{a}");
        }
        assert!(check_plaintext(None, false, ["127.0.0.1:1", "localhost:2"]).is_ok());
        let e = check_plaintext(None, false, ["127.0.0.1:1", "10.0.0.1:2"]).unwrap_err();
        assert!(e.contains("10.0.0.1:2") && e.contains("plaintext_between_hosts"));
        assert!(check_plaintext(None, true, ["10.0.0.1:2"]).is_ok());
    }
}
