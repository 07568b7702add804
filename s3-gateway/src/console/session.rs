//! The console's sessions: kept in the gateway's memory, never in a cookie.
//!
//! A session is made by a successful sign-in and names the access key and
//! its secret, which the console needs to sign the S3 requests it makes on
//! the user's behalf. The browser holds only the session's id (256 random
//! bits); the secret never leaves this process. A session ends after
//! [`IDLE_EXPIRY`] without a request, [`ABSOLUTE_EXPIRY`] after sign-in
//! whatever its use, or at sign-out. Sessions are per gateway: a gateway
//! restarted, or another gateway behind the same name, asks to sign in again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// A session unused this long is gone.
pub const IDLE_EXPIRY: Duration = Duration::from_secs(30 * 60);
/// A session is gone this long after its sign-in, however busy.
pub const ABSOLUTE_EXPIRY: Duration = Duration::from_secs(12 * 3600);
/// Sessions one gateway keeps at most: a sign-in past them is refused
/// until some expire (each needs a valid key and secret to make).
pub const MAX_SESSIONS: usize = 10_000;

/// A random 256-bit token as 64 lower-case hex digits (session ids, CSRF
/// tokens). `rand`'s thread generator is a CSPRNG seeded from the OS.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// A message shown once, on the next page the session sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// True for a failure (shown as an error).
    pub error: bool,
    /// Plain text (escaped when shown).
    pub text: String,
}

impl Notice {
    /// A success message.
    pub fn ok(text: impl Into<String>) -> Self {
        Notice {
            error: false,
            text: text.into(),
        }
    }

    /// A failure message.
    pub fn error(text: impl Into<String>) -> Self {
        Notice {
            error: true,
            text: text.into(),
        }
    }
}

struct Session {
    access_key: String,
    secret: Zeroizing<String>,
    csrf: String,
    created: Instant,
    last_seen: Instant,
    notice: Option<Notice>,
}

impl Session {
    fn expired(&self, now: Instant, idle: Duration, absolute: Duration) -> bool {
        now.saturating_duration_since(self.last_seen) >= idle
            || now.saturating_duration_since(self.created) >= absolute
    }
}

/// What a request learns of its live session.
pub struct SessionView {
    /// The session's id (the cookie's value).
    pub id: String,
    /// The signed-in access key.
    pub access_key: String,
    /// Its secret, to sign the session's S3 requests; wiped when dropped.
    pub secret: Zeroizing<String>,
    /// The session's CSRF token, expected in every form it posts.
    pub csrf: String,
}

/// The sessions of one gateway.
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
    idle: Duration,
    absolute: Duration,
    max: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(IDLE_EXPIRY, ABSOLUTE_EXPIRY, MAX_SESSIONS)
    }
}

impl Sessions {
    /// A store with the given expiries and size.
    pub fn new(idle: Duration, absolute: Duration, max: usize) -> Self {
        Sessions {
            inner: Mutex::new(HashMap::new()),
            idle,
            absolute,
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves the map consistent (every
        // change is one insert or remove): keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session for `access_key` at `now`: its id and CSRF token.
    /// None when the store is full of live sessions.
    pub fn create(&self, access_key: &str, secret: &str, now: Instant) -> Option<SessionView> {
        let mut map = self.lock();
        if map.len() >= self.max {
            let (idle, absolute) = (self.idle, self.absolute);
            map.retain(|_, s| !s.expired(now, idle, absolute));
            if map.len() >= self.max {
                return None;
            }
        }
        let id = random_token();
        let csrf = random_token();
        map.insert(
            id.clone(),
            Session {
                access_key: access_key.to_owned(),
                secret: Zeroizing::new(secret.to_owned()),
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
                notice: None,
            },
        );
        Some(SessionView {
            id,
            access_key: access_key.to_owned(),
            secret: Zeroizing::new(secret.to_owned()),
            csrf,
        })
    }

    /// The live session `id` at `now`, its idle clock restarted; an expired
    /// one is removed and answers None, as an unknown one does.
    pub fn get(&self, id: &str, now: Instant) -> Option<SessionView> {
        let mut map = self.lock();
        let session = map.get_mut(id)?;
        if session.expired(now, self.idle, self.absolute) {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(SessionView {
            id: id.to_owned(),
            access_key: session.access_key.clone(),
            secret: session.secret.clone(),
            csrf: session.csrf.clone(),
        })
    }

    /// Ends session `id` (sign-out); true if it existed.
    pub fn remove(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    /// Leaves `notice` for the session's next page.
    pub fn set_notice(&self, id: &str, notice: Notice) {
        if let Some(s) = self.lock().get_mut(id) {
            s.notice = Some(notice);
        }
    }

    /// The notice left for this page, if any (shown once).
    pub fn take_notice(&self, id: &str) -> Option<Notice> {
        self.lock().get_mut(id).and_then(|s| s.notice.take())
    }

    /// Sessions held (live or not yet found expired).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Sessions {
        Sessions::new(Duration::from_secs(60), Duration::from_secs(600), 3)
    }

    #[test]
    fn ids_and_tokens_are_random_256_bit_hex() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let s = store();
        let v = s.create("AK", "secret", Instant::now()).expect("room");
        assert_ne!(v.id, v.csrf);
    }

    #[test]
    fn a_session_answers_its_key_and_secret() {
        let s = store();
        let t0 = Instant::now();
        let v = s.create("AKIA1", "s3cr3t", t0).expect("room");
        let got = s.get(&v.id, t0 + Duration::from_secs(1)).expect("live");
        assert_eq!(got.access_key, "AKIA1");
        assert_eq!(got.secret.as_str(), "s3cr3t");
        assert_eq!(got.csrf, v.csrf);
        assert!(s.get("not-a-session", t0).is_none());
    }

    #[test]
    fn idle_expiry_is_restarted_by_use() {
        let s = store();
        let t0 = Instant::now();
        let v = s.create("AK", "x", t0).expect("room");
        // Used every 50 s: alive after 150 s, although idle expiry is 60 s.
        for step in 1..=3 {
            assert!(s.get(&v.id, t0 + Duration::from_secs(50 * step)).is_some());
        }
        // Then 60 s without use: gone, and removed.
        assert!(s.get(&v.id, t0 + Duration::from_secs(210)).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn absolute_expiry_holds_however_busy() {
        let s = store();
        let t0 = Instant::now();
        let v = s.create("AK", "x", t0).expect("room");
        let mut t = t0;
        while t < t0 + Duration::from_secs(590) {
            t += Duration::from_secs(30);
            assert!(s.get(&v.id, t.min(t0 + Duration::from_secs(599))).is_some());
        }
        assert!(s.get(&v.id, t0 + Duration::from_secs(600)).is_none());
    }

    #[test]
    fn sign_out_removes_the_session() {
        let s = store();
        let t0 = Instant::now();
        let v = s.create("AK", "x", t0).expect("room");
        assert!(s.remove(&v.id));
        assert!(s.get(&v.id, t0).is_none());
        assert!(!s.remove(&v.id));
    }

    #[test]
    fn a_full_store_makes_room_only_from_expired_sessions() {
        let s = store();
        let t0 = Instant::now();
        for _ in 0..3 {
            s.create("AK", "x", t0).expect("room");
        }
        assert!(s.create("AK", "x", t0 + Duration::from_secs(1)).is_none());
        // All three idle past expiry: room again.
        assert!(s.create("AK", "x", t0 + Duration::from_secs(61)).is_some());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_notice_is_shown_once() {
        let s = store();
        let v = s.create("AK", "x", Instant::now()).expect("room");
        s.set_notice(&v.id, Notice::error("BucketNotEmpty"));
        assert_eq!(s.take_notice(&v.id), Some(Notice::error("BucketNotEmpty")));
        assert_eq!(s.take_notice(&v.id), None);
    }
}
