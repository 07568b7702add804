//! The public edge's defences that need per-client or per-request state:
//! the limit on failed authentications per source address, and the idle
//! timeout of request bodies ([`IdleBody`]).
//!
//! Every answer `InvalidAccessKeyId` or `SignatureDoesNotMatch` takes a
//! token from its source address's bucket (`auth_failures_per_minute`
//! tokens, refilled at that rate); an address whose bucket is empty is
//! answered `503 SlowDown` before its request is looked at (no key read,
//! no signature checked) until a token has come back. Guessing keys or
//! secrets from one address is thus held to that rate, and costs the
//! metadata service nothing while held.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::RwLock;
use std::time::Instant;

/// Most source addresses tracked; past it, the full buckets (addresses
/// that failed nothing lately) are forgotten first.
const ADDRESSES_MAX: usize = 65_536;

/// Failed authentications per source address (see the module).
pub struct AuthFailures {
    per_minute: f64,
    buckets: RwLock<HashMap<IpAddr, (f64, Instant)>>,
}

impl AuthFailures {
    /// `per_minute` failures allowed per address (0: no limit).
    pub fn new(per_minute: u32) -> Self {
        AuthFailures {
            per_minute: f64::from(per_minute),
            buckets: RwLock::new(HashMap::new()),
        }
    }

    fn refill(&self, tokens: f64, since: Instant, now: Instant) -> f64 {
        (tokens + now.duration_since(since).as_secs_f64() * self.per_minute / 60.0)
            .min(self.per_minute)
    }

    /// True when `ip` has used up its failures: answer it `SlowDown`.
    pub fn held(&self, ip: IpAddr) -> bool {
        if self.per_minute == 0.0 {
            return false;
        }
        // Every request reads this: a shared lock, taken by writers only
        // on a failed authentication.
        let buckets = self.buckets.read().unwrap_or_else(|e| e.into_inner());
        buckets
            .get(&ip)
            .is_some_and(|(tokens, at)| self.refill(*tokens, *at, Instant::now()) < 1.0)
    }

    /// Counts one failed authentication from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if self.per_minute == 0.0 {
            return;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.write().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= ADDRESSES_MAX && !buckets.contains_key(&ip) {
            buckets.retain(|_, (tokens, at)| self.refill(*tokens, *at, now) < self.per_minute);
            if buckets.len() >= ADDRESSES_MAX {
                // Addresses without number: start over rather than grow.
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.per_minute, now));
        *tokens = (self.refill(*tokens, *at, now) - 1.0).max(0.0);
        *at = now;
    }
}

/// True for the S3 error codes of a failed authentication.
pub fn is_auth_failure(code: &str) -> bool {
    matches!(code, "InvalidAccessKeyId" | "SignatureDoesNotMatch")
}

/// A request body that fails with S3's `RequestTimeout` (400) when none of
/// it arrives for `idle`: a client that sends its headers and then trickles
/// or stalls its body would otherwise hold its connection, its task and the
/// upload's buffers for as long as it likes (the header-read timeout stops
/// at the headers).
pub struct IdleBody<B> {
    inner: B,
    idle: std::time::Duration,
    last: tokio::time::Instant,
    /// Made when the body first has to wait: none for a body that is
    /// already whole (most small requests).
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<B> IdleBody<B> {
    /// `inner`, failing after `idle` without a frame.
    pub fn new(inner: B, idle: std::time::Duration) -> Self {
        IdleBody {
            inner,
            idle,
            last: tokio::time::Instant::now(),
            timer: None,
        }
    }
}

/// The error a stalled body ends with (taken back as the S3 error by the
/// handlers' `body_error`).
fn request_timeout() -> s3s::StdError {
    let mut e = s3s::S3Error::with_message(
        s3s::S3ErrorCode::RequestTimeout,
        "Your socket connection to the server was not read from or written to within the timeout period.",
    );
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    Box::new(e)
}

impl<B> http_body::Body for IdleBody<B>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: Into<s3s::StdError>,
{
    type Data = bytes::Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // No timer reset per frame: the deadline moves only when the
                // timer fires early (below).
                this.last = tokio::time::Instant::now();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => loop {
                let due = this.last + this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if timer.deadline() != due {
                    timer.as_mut().reset(due);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) if tokio::time::Instant::now() >= due => {
                        return Poll::Ready(Some(Err(request_timeout())));
                    }
                    Poll::Ready(()) => continue,
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_held_after_its_failures_and_others_are_not() {
        let f = AuthFailures::new(5);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        for _ in 0..4 {
            f.failed(a);
            assert!(!f.held(a));
        }
        f.failed(a);
        assert!(f.held(a));
        assert!(!f.held(b));
        // A token comes back after 60 / 5 = 12 s: not within this test.
        f.failed(a);
        assert!(f.held(a));
    }

    #[test]
    fn no_limit_holds_nobody() {
        let f = AuthFailures::new(0);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..1000 {
            f.failed(a);
        }
        assert!(!f.held(a));
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let f = AuthFailures::new(60);
        let now = Instant::now();
        let earlier = now - std::time::Duration::from_secs(3);
        // Empty three seconds ago: three tokens since.
        assert!((f.refill(0.0, earlier, now) - 3.0).abs() < 0.01);
        assert_eq!(f.refill(59.5, earlier, now), 60.0);
    }
}
