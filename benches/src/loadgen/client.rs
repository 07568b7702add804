//! A minimal S3 client for load generation: one HTTP/1.1 keep-alive
//! connection with TCP_NODELAY, SigV4 signing with `UNSIGNED-PAYLOAD`, bodies
//! passed as `Bytes` slices of one shared payload (no copy, no hashing).

use std::net::SocketAddr;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST};
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use shale_common::sigv4::{self, SigningKey};
use time::macros::format_description;
use tokio::net::TcpStream;

/// Where requests go and who signs them.
pub struct Endpoint {
    /// The resolved socket address.
    pub addr: SocketAddr,
    /// `host[:port]` as sent in the (signed) `Host` header.
    pub authority: String,
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// Signing region.
    pub region: String,
}

/// A 2xx response whose body is still to be read.
pub struct Reply {
    /// Response headers.
    pub headers: HeaderMap,
    /// The body; the caller must read it to the end to keep the connection.
    pub body: Incoming,
}

/// One keep-alive connection to the endpoint, reopened after an error.
pub struct Conn {
    endpoint: std::sync::Arc<Endpoint>,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// The signing key of the current day: derived once a day, not per request.
    key: Option<(String, SigningKey)>,
}

impl Conn {
    /// A connection to `endpoint`, opened on first use.
    pub fn new(endpoint: std::sync::Arc<Endpoint>) -> Conn {
        Conn {
            endpoint,
            sender: None,
            key: None,
        }
    }

    /// Forgets the connection: after an error or timeout its state is unknown
    /// (a half-read body would poison the next request), so the next request
    /// opens a fresh one.
    pub fn reset(&mut self) {
        self.sender = None;
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        // A keep-alive connection the server closed shows up as not ready.
        let usable = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            let stream = TcpStream::connect(self.endpoint.addr)
                .await
                .with_context(|| format!("connect {}", self.endpoint.addr))?;
            // Without it, small requests on a keep-alive connection stall on
            // Nagle's algorithm and delayed ACKs (40 ms).
            stream.set_nodelay(true)?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .context("HTTP/1.1 handshake")?;
            tokio::spawn(async move {
                // Errors reach the request that was in flight; nothing to do here.
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("set just above"))
    }

    fn signing_key(&mut self, date: &str) -> &SigningKey {
        if self.key.as_ref().is_none_or(|(d, _)| d != date) {
            let e = &self.endpoint;
            self.key = Some((
                date.to_owned(),
                SigningKey::new(&e.secret_key, date, &e.region, "s3"),
            ));
        }
        &self.key.as_ref().expect("set just above").1
    }

    /// Sends one signed request. Any non-2xx status is an error carrying the
    /// status and the start of the body.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Reply> {
        let amz_date = time::OffsetDateTime::now_utc()
            .format(format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .expect("a UTC timestamp always formats");
        let payload_hash = if body.is_empty() {
            sigv4::EMPTY_SHA256
        } else {
            // The client must not spend CPU hashing what it sends.
            "UNSIGNED-PAYLOAD"
        };
        let authority = self.endpoint.authority.clone();
        let access_key = self.endpoint.access_key.clone();
        let key = self.signing_key(&amz_date[..8]);
        let (auth, _) = sigv4::authorization(
            &access_key,
            key,
            &amz_date,
            &sigv4::Request {
                method: method.as_str(),
                path,
                query,
                headers: &[
                    ("host", &authority),
                    ("x-amz-content-sha256", payload_hash),
                    ("x-amz-date", &amz_date),
                ],
                payload_hash,
            },
        );
        let mut uri = sigv4::uri_encode(path, true);
        for (i, (k, v)) in query.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(&sigv4::uri_encode(k, false));
            if !v.is_empty() {
                uri.push('=');
                uri.push_str(&sigv4::uri_encode(v, false));
            }
        }
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(HOST, authority)
            .header("x-amz-content-sha256", payload_hash)
            .header("x-amz-date", &amz_date)
            .header(AUTHORIZATION, auth);
        if !body.is_empty() || method == Method::PUT || method == Method::POST {
            builder = builder.header(CONTENT_LENGTH, body.len());
        }
        let req = builder.body(Full::new(body))?;
        let sender = self.sender().await?;
        let resp = sender
            .send_request(req)
            .await
            .with_context(|| format!("{method} {path}"))?;
        let (parts, body) = resp.into_parts();
        if !parts.status.is_success() {
            // Error bodies are small XML; read a bounded amount for the log.
            let text = match Limited::new(body, 64 << 10).collect().await {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                Err(e) => format!("(body unreadable: {e})"),
            };
            let excerpt: String = text.chars().take(300).collect();
            return Err(anyhow!(
                "{method} {path}: HTTP {}: {}",
                parts.status,
                excerpt.trim()
            ));
        }
        Ok(Reply {
            headers: parts.headers,
            body,
        })
    }
}

/// Reads a body to the end, discarding it; returns its length.
pub async fn drain(mut body: Incoming) -> Result<u64> {
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.context("reading the response body")?.data_ref() {
            n += data.len() as u64;
        }
    }
    Ok(n)
}

/// Reads a (small) body to the end into memory.
pub async fn read_all(body: Incoming) -> Result<Bytes> {
    Ok(Limited::new(body, 64 << 20)
        .collect()
        .await
        .map_err(|e| anyhow!("reading the response body: {e}"))?
        .to_bytes())
}

/// The text of the first `<tag>…</tag>` in an XML document.
pub fn xml_tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + len])
}

/// Undoes XML's five predefined entities (`&amp;` last, so `&amp;lt;`
/// stays `&lt;`), enough for keys and markers in listings.
pub fn xml_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_helpers() {
        let xml =
            "<R><IsTruncated>true</IsTruncated><NextKeyMarker>a&amp;lt;b&lt;c</NextKeyMarker></R>";
        assert_eq!(xml_tag(xml, "IsTruncated"), Some("true"));
        assert_eq!(xml_tag(xml, "Missing"), None);
        let key = xml_tag(xml, "NextKeyMarker").expect("present");
        assert_eq!(xml_unescape(key), "a&lt;b<c");
        assert_eq!(xml_unescape("plain/key-0000001"), "plain/key-0000001");
    }
}
