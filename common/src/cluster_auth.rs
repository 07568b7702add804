//! The cluster's own credential: how roles prove to each other that they
//! belong to the cluster.
//!
//! A cluster has one **cluster secret**: 32 random bytes, written
//! `shale-cluster-v1:<64 hex>`, in a file (`cluster_secret_file`, or
//! `SHALE_CLUSTER_SECRET_FILE`) or in the environment
//! (`SHALE_CLUSTER_SECRET`). The metadata replicas and the admin CLI hold
//! it; gateways and storage nodes hold only their role's keys, derived from
//! it ([`Tier`], [`KeyRing`], `shale admin cluster-secret derive`). A
//! shared secret rather than a cluster CA: one file to copy and nothing to
//! expire or revoke, and the signature is a keyed BLAKE3 of a few hundred
//! bytes per request; TLS between roles, when configured, is for secrecy
//! and answers' integrity, not for identity (see SECURITY.md).
//!
//! Every internal request carries [`AUTH_HEADER`]:
//! `v1 <key id> <unix ms> <nonce> <body blake3> <mac>`, where the key id is
//! the secret's id, followed by `.<tier>` for any tier but the root, and
//! the MAC is `blake3::keyed_hash(tier key, canonical)` over the method,
//! the path and query, the `Host` header, the time, the nonce and the
//! body's BLAKE3. The server checks it before it reads the body
//! ([`ClusterAuth::verify`]): the
//! key id names a secret it accepts, the time is within [`MAX_SKEW_MS`] of
//! its clock, the MAC matches (compared in constant time), and the nonce was
//! not seen before ([`ReplayGuard`], which remembers nonces for longer than a
//! time stays acceptable). Then, with the body read, the body's hash must be
//! the one signed ([`Claim::check_body`]); a chunk body is hashed as it is
//! stored, before the write is acknowledged.
//!
//! Rotation without downtime: a secrets file holds several secrets, one per
//! line; the first signs and every one is accepted. Roles re-read the file
//! when it changes ([`RELOAD_EVERY`]). `shale admin cluster-secret add`
//! appends a new secret (accepted everywhere once every role has re-read),
//! `use` moves it first (signing), `retire` drops the others.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

/// The header every internal request is signed in.
pub const AUTH_HEADER: &str = "x-shale-auth";

/// Prefix of a cluster secret's textual form.
pub const SECRET_PREFIX: &str = "shale-cluster-v1:";

/// Environment variable holding the secret itself.
pub const SECRET_ENV: &str = "SHALE_CLUSTER_SECRET";

/// Environment variable naming the secrets file.
pub const SECRET_FILE_ENV: &str = "SHALE_CLUSTER_SECRET_FILE";

/// How far a request's time may be from the receiver's clock.
pub const MAX_SKEW_MS: i64 = 30_000;

/// How often a role looks whether its secrets file changed.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Nonces a replay guard remembers at most (about two minutes of 10,000
/// requests a second); past it, requests are refused until a generation
/// ends rather than memory grows without bound.
pub const MAX_REMEMBERED_NONCES: usize = 2_400_000;

const CONTEXT: &str = "shale-internal-v1";

/// One cluster secret.
#[derive(Clone)]
pub struct ClusterSecret {
    key: [u8; 32],
    /// Its public id, computed once (it is sent with every request).
    id: String,
}

impl PartialEq for ClusterSecret {
    fn eq(&self, other: &Self) -> bool {
        // Through `blake3::Hash`, whose equality is constant-time.
        blake3::Hash::from_bytes(self.key) == blake3::Hash::from_bytes(other.key)
    }
}

impl Eq for ClusterSecret {}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterSecret({})", self.id())
    }
}

impl ClusterSecret {
    /// A new random secret.
    pub fn generate() -> ClusterSecret {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut key[..]);
        ClusterSecret::from_key(key)
    }

    fn from_key(key: [u8; 32]) -> ClusterSecret {
        let h = blake3::derive_key("shale cluster secret id v1", &key);
        ClusterSecret {
            key,
            id: hex::encode(&h[..4]),
        }
    }

    /// Parses `shale-cluster-v1:<64 hex>`.
    pub fn parse(text: &str) -> Result<ClusterSecret, String> {
        let hex_part = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| format!("a cluster secret starts with {SECRET_PREFIX}"))?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut key)
            .map_err(|_| "a cluster secret is 64 hex digits after its prefix".to_string())?;
        Ok(ClusterSecret::from_key(key))
    }

    /// The textual form, for a secrets file.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", hex::encode(self.key))
    }

    /// A public name for the secret (8 hex digits of a hash of it), sent
    /// with each request and shown by the admin CLI.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The secrets a role signs with (the first) and accepts (all).
#[derive(Clone, Debug)]
pub struct SecretSet {
    secrets: Vec<ClusterSecret>,
}

impl SecretSet {
    /// One secret, signing and accepted.
    pub fn one(secret: ClusterSecret) -> SecretSet {
        SecretSet {
            secrets: vec![secret],
        }
    }

    /// Parses a secrets file: one secret a line, the first signs; blank
    /// lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<SecretSet, String> {
        let mut secrets = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let s = ClusterSecret::parse(line).map_err(|e| format!("line {}: {e}", n + 1))?;
            if !secrets.contains(&s) {
                secrets.push(s);
            }
        }
        if secrets.is_empty() {
            return Err("no cluster secret in it".into());
        }
        Ok(SecretSet { secrets })
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "# Shale cluster secrets: the first signs, every one is accepted.\n\
             # Keep this file 0600; see `shale admin cluster-secret --help`.\n",
        );
        for s in &self.secrets {
            out.push_str(&s.to_text());
            out.push('\n');
        }
        out
    }

    /// The secrets, the signing one first.
    pub fn secrets(&self) -> &[ClusterSecret] {
        &self.secrets
    }

    /// A set with `secret` added last (accepted, not signing).
    pub fn with_added(&self, secret: ClusterSecret) -> SecretSet {
        let mut secrets = self.secrets.clone();
        if !secrets.contains(&secret) {
            secrets.push(secret);
        }
        SecretSet { secrets }
    }

    /// A set where the secret named `id` signs.
    pub fn with_signing(&self, id: &str) -> Result<SecretSet, String> {
        let at = self
            .secrets
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(|| format!("no secret {id} in the set"))?;
        let mut secrets = self.secrets.clone();
        let s = secrets.remove(at);
        secrets.insert(0, s);
        Ok(SecretSet { secrets })
    }

    /// The signing secret alone.
    pub fn retired(&self) -> SecretSet {
        SecretSet {
            secrets: vec![self.secrets[0].clone()],
        }
    }
}

/// Prefix of a role's key line (a file `derive` makes for one role).
pub const ROLE_KEY_PREFIX: &str = "shale-role-key-v1:";

/// What a credential may do: each tier signs with its own key, derived from
/// the cluster secret, so that a role given only its own keys cannot sign
/// as another.
///
/// - `Root`: the cluster secret itself: metadata replicas (Raft) and the
///   admin CLI.
/// - `Gateway`: gateways, toward the metadata service (every RPC, the
///   access keys' secrets included).
/// - `Node`: storage nodes, toward the metadata service (their heartbeat
///   only).
/// - `Data`: anyone, toward storage nodes (chunks): gateways, storage
///   nodes and the metadata service hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The cluster secret.
    Root,
    /// A gateway.
    Gateway,
    /// A storage node.
    Node,
    /// The chunk API of storage nodes.
    Data,
}

impl Tier {
    const ALL: [Tier; 4] = [Tier::Root, Tier::Gateway, Tier::Node, Tier::Data];

    /// Its name in headers, metrics and key files.
    pub fn label(self) -> &'static str {
        match self {
            Tier::Root => "root",
            Tier::Gateway => "gateway",
            Tier::Node => "node",
            Tier::Data => "data",
        }
    }

    fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.label() == s)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The key of this tier under the cluster secret `root`.
    fn derive(self, root: &[u8; 32]) -> [u8; 32] {
        match self {
            // The cluster secret itself (what every role signed with
            // before tiers existed: such requests still verify as root).
            Tier::Root => *root,
            t => blake3::derive_key(&format!("shale cluster tier key v1 {}", t.label()), root),
        }
    }
}

/// The role a key file is made for (`shale admin cluster-secret derive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleKeys {
    /// A gateway: the `Gateway` and `Data` keys.
    Gateway,
    /// A storage node: the `Node` and `Data` keys.
    StorageNode,
}

impl RoleKeys {
    /// Its name in key files and on the command line.
    pub fn label(self) -> &'static str {
        match self {
            RoleKeys::Gateway => "gateway",
            RoleKeys::StorageNode => "storage-node",
        }
    }

    /// Parses `gateway` or `storage-node`.
    pub fn parse(s: &str) -> Result<RoleKeys, String> {
        match s {
            "gateway" => Ok(RoleKeys::Gateway),
            "storage-node" => Ok(RoleKeys::StorageNode),
            _ => Err(format!("no role {s:?}: gateway or storage-node")),
        }
    }

    fn tier(self) -> Tier {
        match self {
            RoleKeys::Gateway => Tier::Gateway,
            RoleKeys::StorageNode => Tier::Node,
        }
    }
}

/// The keys of one cluster secret a role holds.
#[derive(Clone)]
struct Held {
    id: String,
    keys: [Option<[u8; 32]>; 4],
}

/// Every key a role holds, the signing secret's first, and the tier the
/// role is (`Root` for the cluster secret itself).
#[derive(Clone)]
pub struct KeyRing {
    held: Vec<Held>,
    identity: Tier,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("identity", &self.identity)
            .field("ids", &self.held.iter().map(|h| &h.id).collect::<Vec<_>>())
            .finish()
    }
}

impl From<&SecretSet> for KeyRing {
    fn from(set: &SecretSet) -> KeyRing {
        KeyRing {
            held: set
                .secrets
                .iter()
                .map(|s| Held {
                    id: s.id.clone(),
                    keys: Tier::ALL.map(|t| Some(t.derive(&s.key))),
                })
                .collect(),
            identity: Tier::Root,
        }
    }
}

impl KeyRing {
    /// Parses a key file: a cluster secrets file (the root), or a file of
    /// one role's keys (`derive`).
    pub fn parse(text: &str) -> Result<KeyRing, String> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if lines.iter().all(|(_, l)| !l.starts_with(ROLE_KEY_PREFIX)) {
            return SecretSet::parse(text).map(|s| KeyRing::from(&s));
        }
        let mut held: Vec<Held> = Vec::new();
        let mut role = None;
        for (n, line) in lines {
            let bad = || {
                format!("line {n}: a role key is {ROLE_KEY_PREFIX}<role>:<id>:<64 hex>:<64 hex>")
            };
            let rest = line.strip_prefix(ROLE_KEY_PREFIX).ok_or_else(bad)?;
            let f: Vec<&str> = rest.split(':').collect();
            if f.len() != 4 || f[1].len() != 8 || !f[1].bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            let r = RoleKeys::parse(f[0]).map_err(|e| format!("line {n}: {e}"))?;
            if role.is_some_and(|x| x != r) {
                return Err(format!("line {n}: keys of two roles in one file"));
            }
            role = Some(r);
            let mut own = [0u8; 32];
            let mut data = [0u8; 32];
            hex::decode_to_slice(f[2], &mut own).map_err(|_| bad())?;
            hex::decode_to_slice(f[3], &mut data).map_err(|_| bad())?;
            let mut keys = [None; 4];
            keys[r.tier().index()] = Some(own);
            keys[Tier::Data.index()] = Some(data);
            if !held.iter().any(|h| h.id == f[1]) {
                held.push(Held {
                    id: f[1].to_owned(),
                    keys,
                });
            }
        }
        let role = role.ok_or("no key in it")?;
        Ok(KeyRing {
            held,
            identity: role.tier(),
        })
    }

    /// The text of the key file of `role` under the cluster secrets `set`
    /// (same order: the first signs).
    pub fn role_file_text(set: &SecretSet, role: RoleKeys) -> String {
        let mut out = format!(
            "# Shale keys of a {} (shale admin cluster-secret derive): the first signs.\n\
             # Keep this file 0600. It cannot sign as any other role.\n",
            role.label()
        );
        for s in &set.secrets {
            out.push_str(&format!(
                "{ROLE_KEY_PREFIX}{}:{}:{}:{}\n",
                role.label(),
                s.id,
                hex::encode(role.tier().derive(&s.key)),
                hex::encode(Tier::Data.derive(&s.key)),
            ));
        }
        out
    }

    /// The tier this ring's role is.
    pub fn identity(&self) -> Tier {
        self.identity
    }

    fn by_id(&self, id: &str) -> Option<&Held> {
        self.held.iter().find(|h| h.id == id)
    }
}

/// Reads a secrets file.
pub fn read_secrets_file(path: &Path) -> Result<SecretSet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading cluster secrets {}: {e}", path.display()))?;
    SecretSet::parse(&text).map_err(|e| format!("cluster secrets {}: {e}", path.display()))
}

/// Reads a key file (a cluster secrets file, or a role's keys).
pub fn read_key_file(path: &Path) -> Result<KeyRing, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading cluster secrets {}: {e}", path.display()))?;
    KeyRing::parse(&text).map_err(|e| format!("cluster secrets {}: {e}", path.display()))
}

/// Writes a secrets file, 0600, through a temporary file renamed over it
/// (fsynced), so that a role re-reading it sees the old or the new set.
pub fn write_secrets_file(path: &Path, set: &SecretSet) -> std::io::Result<()> {
    write_private_file(path, set.to_text().as_bytes())
}

/// Writes `bytes` to `path`, 0600, through a temporary file renamed over
/// it, fsynced (file and directory): a reader sees the old or the new file.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No [`AUTH_HEADER`].
    Missing,
    /// A header that does not parse.
    Malformed,
    /// Signed with a secret this role does not accept.
    UnknownKey,
    /// The MAC does not match.
    BadSignature,
    /// Its time is too far from this role's clock.
    Stale,
    /// Its nonce was seen before.
    Replayed,
    /// The body is not the one signed.
    BodyMismatch,
    /// The replay guard is full.
    Busy,
    /// A valid credential of a role that may not make this request.
    WrongRole,
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::Stale => "stale",
            Refusal::Replayed => "replayed",
            Refusal::BodyMismatch => "body_mismatch",
            Refusal::Busy => "busy",
            Refusal::WrongRole => "wrong_role",
        }
    }

    /// The HTTP status: 401 without valid credentials, 403 for valid
    /// credentials that cannot be used again (replayed, stale) or that
    /// belong to a role that may not make the request, 503 busy.
    pub fn status(self) -> http::StatusCode {
        match self {
            Refusal::Replayed | Refusal::Stale | Refusal::WrongRole => http::StatusCode::FORBIDDEN,
            Refusal::Busy => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Missing => "no cluster credential",
            Refusal::Malformed => "malformed cluster credential",
            Refusal::UnknownKey => "signed with a secret this role does not accept",
            Refusal::BadSignature => "signature does not match",
            Refusal::Stale => "request time too far from this role's clock",
            Refusal::Replayed => "request seen before",
            Refusal::BodyMismatch => "body is not the one signed",
            Refusal::Busy => "too many requests to remember",
            Refusal::WrongRole => "this role's credential may not make this request",
        })
    }
}

/// What a verified header vouches for the body.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    body: blake3::Hash,
    tier: Tier,
}

impl Claim {
    /// The tier the request was signed as.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// `Ok` when the request was signed as one of `tiers`.
    pub fn require(&self, tiers: &[Tier]) -> Result<(), Refusal> {
        if tiers.contains(&self.tier) {
            Ok(())
        } else {
            Err(Refusal::WrongRole)
        }
    }

    /// The body's BLAKE3 as signed.
    pub fn body_hash(&self) -> blake3::Hash {
        self.body
    }

    /// Whether `body` is the body signed.
    pub fn check_body(&self, body: &[u8]) -> Result<(), Refusal> {
        self.check_hash(&blake3::hash(body))
    }

    /// Whether a body whose BLAKE3 is `hash` is the body signed (constant
    /// time).
    pub fn check_hash(&self, hash: &blake3::Hash) -> Result<(), Refusal> {
        if *hash == self.body {
            Ok(())
        } else {
            Err(Refusal::BodyMismatch)
        }
    }
}

/// Nonces seen within the last two generations of `2 * MAX_SKEW_MS`: a
/// request is acceptable for at most `2 * MAX_SKEW_MS` (its time within
/// `MAX_SKEW_MS` either side), and a nonce is remembered at least that long.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    inner: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashSet<u128, NonceHash>,
    previous: HashSet<u128, NonceHash>,
    started_ms: i64,
}

/// Nonces are random (and only inserted once their request's MAC has
/// passed): their low 64 bits serve as their hash, no hashing needed.
#[derive(Clone, Copy, Debug, Default)]
struct NonceHash;

impl std::hash::BuildHasher for NonceHash {
    type Hasher = NonceHasher;
    fn build_hasher(&self) -> NonceHasher {
        NonceHasher(0)
    }
}

#[derive(Debug)]
struct NonceHasher(u64);

impl std::hash::Hasher for NonceHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64 ^ (n >> 64) as u64;
    }
}

impl ReplayGuard {
    /// Records `nonce`, seen at `now_ms`; false when it was seen before.
    pub fn first_sight(&self, nonce: u128, now_ms: i64) -> Result<(), Refusal> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let generation = 2 * MAX_SKEW_MS;
        if now_ms - g.started_ms >= 2 * generation {
            g.previous.clear();
            g.current.clear();
            g.started_ms = now_ms;
        } else if now_ms - g.started_ms >= generation {
            let current = std::mem::take(&mut g.current);
            g.previous = current;
            g.started_ms += generation;
        }
        if g.previous.contains(&nonce) || g.current.contains(&nonce) {
            return Err(Refusal::Replayed);
        }
        if g.previous.len() + g.current.len() >= MAX_REMEMBERED_NONCES {
            return Err(Refusal::Busy);
        }
        g.current.insert(nonce);
        Ok(())
    }
}

enum Source {
    Fixed,
    File {
        path: PathBuf,
        stamp: Mutex<Option<(SystemTime, u64)>>,
        checked_ms: AtomicI64,
    },
}

struct Inner {
    set: RwLock<Arc<KeyRing>>,
    source: Source,
    guard: ReplayGuard,
    role: &'static str,
    last_log_ms: AtomicI64,
    unlogged: AtomicU64,
}

/// A role's cluster credential: signs its requests, verifies its callers'.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct ClusterAuth {
    inner: Arc<Inner>,
    /// The tier this handle signs toward the metadata service as, when
    /// narrower than its keys' ([`ClusterAuth::acting_as`]).
    acting: Option<Tier>,
    /// True for a handle that signs toward storage nodes (`Data`).
    toward_storage: bool,
    /// The role's TLS between roles, when configured.
    tls: Option<crate::tls::Tls>,
}

impl std::fmt::Debug for ClusterAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAuth")
            .field("role", &self.inner.role)
            .field("tier", &self.signing_tier())
            .field("ids", &self.ids())
            .finish()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl ClusterAuth {
    /// A credential holding `set`, for the role named `role` (metrics and
    /// logs).
    pub fn new(set: SecretSet, role: &'static str) -> ClusterAuth {
        ClusterAuth::with_source(KeyRing::from(&set), Source::Fixed, role)
    }

    /// A credential holding the keys of `ring` (a role's keys, or all).
    pub fn with_keys(ring: KeyRing, role: &'static str) -> ClusterAuth {
        ClusterAuth::with_source(ring, Source::Fixed, role)
    }

    /// A credential with a fresh secret of its own, for a cluster whose
    /// roles all live in one process and share it (tests, benches).
    pub fn ephemeral(role: &'static str) -> ClusterAuth {
        ClusterAuth::new(SecretSet::one(ClusterSecret::generate()), role)
    }

    /// A credential read from the secrets file at `path`, re-read when the
    /// file changes.
    pub fn from_file(path: &Path, role: &'static str) -> Result<ClusterAuth, String> {
        let set = read_key_file(path)?;
        let stamp = file_stamp(path);
        Ok(ClusterAuth::with_source(
            set,
            Source::File {
                path: path.to_owned(),
                stamp: Mutex::new(stamp),
                checked_ms: AtomicI64::new(now_ms()),
            },
            role,
        ))
    }

    /// The credential a role is configured with: the file `file` when
    /// given, else `SHALE_CLUSTER_SECRET_FILE`, else `SHALE_CLUSTER_SECRET`.
    pub fn configured(file: Option<&Path>, role: &'static str) -> Result<ClusterAuth, String> {
        if let Some(path) = file {
            return ClusterAuth::from_file(path, role);
        }
        if let Some(path) = std::env::var_os(SECRET_FILE_ENV).filter(|p| !p.is_empty()) {
            return ClusterAuth::from_file(Path::new(&path), role);
        }
        if let Ok(text) = std::env::var(SECRET_ENV) {
            let secret = ClusterSecret::parse(&text).map_err(|e| format!("{SECRET_ENV}: {e}"))?;
            return Ok(ClusterAuth::new(SecretSet::one(secret), role));
        }
        Err(format!(
            "no cluster secret: set cluster_secret_file, {SECRET_FILE_ENV} or {SECRET_ENV} \
             (create one with `shale admin cluster-secret create --file PATH`)"
        ))
    }

    fn with_source(set: KeyRing, source: Source, role: &'static str) -> ClusterAuth {
        ClusterAuth {
            acting: None,
            toward_storage: false,
            tls: None,
            inner: Arc::new(Inner {
                set: RwLock::new(Arc::new(set)),
                source,
                guard: ReplayGuard::default(),
                role,
                last_log_ms: AtomicI64::new(0),
                unlogged: AtomicU64::new(0),
            }),
        }
    }

    /// The ids of the secrets in use, the signing one first.
    pub fn ids(&self) -> Vec<String> {
        self.set().held.iter().map(|s| s.id.clone()).collect()
    }

    /// The tier this credential's keys make it (`Root` for the cluster
    /// secret itself).
    pub fn identity(&self) -> Tier {
        self.set().identity
    }

    /// This credential, signing toward the metadata service as `tier`
    /// rather than as its keys' identity: for roles that share one process
    /// and one root credential (`shale dev`), so that each still signs as
    /// itself. A tier whose key it does not hold signs as its identity.
    pub fn acting_as(&self, tier: Tier) -> ClusterAuth {
        ClusterAuth {
            acting: Some(tier),
            ..self.clone()
        }
    }

    /// This credential, with the role's TLS between roles: its listeners
    /// serve TLS and its clients call `https` (see `crate::tls`).
    pub fn with_tls(&self, tls: crate::tls::Tls) -> ClusterAuth {
        ClusterAuth {
            tls: Some(tls),
            ..self.clone()
        }
    }

    /// The role's TLS between roles, if configured.
    pub fn tls(&self) -> Option<&crate::tls::Tls> {
        self.tls.as_ref()
    }

    /// The scheme of the role's internal URIs: `https` with TLS.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// This credential, signing toward storage nodes (the `Data` tier).
    pub fn toward_storage(&self) -> ClusterAuth {
        ClusterAuth {
            toward_storage: true,
            ..self.clone()
        }
    }

    /// The tier this handle signs as.
    pub fn signing_tier(&self) -> Tier {
        if self.toward_storage {
            Tier::Data
        } else {
            self.acting.unwrap_or_else(|| self.set().identity)
        }
    }

    fn set(&self) -> Arc<KeyRing> {
        self.maybe_reload();
        self.inner
            .set
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the secrets file when it changed, at most once per
    /// [`RELOAD_EVERY`]; a file that does not parse is logged and the
    /// secrets in use are kept.
    fn maybe_reload(&self) {
        let Source::File {
            path,
            stamp,
            checked_ms,
        } = &self.inner.source
        else {
            return;
        };
        let now = now_ms();
        let last = checked_ms.load(Ordering::Relaxed);
        if now - last < RELOAD_EVERY.as_millis() as i64
            || checked_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let seen = file_stamp(path);
        let mut known = stamp.lock().unwrap_or_else(|e| e.into_inner());
        if seen == *known {
            return;
        }
        match read_key_file(path) {
            Ok(set) => {
                tracing::info!(role = self.inner.role, ids = ?set.held.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
                    "cluster secrets re-read");
                *self.inner.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
                *known = seen;
            }
            Err(e) => {
                tracing::warn!(role = self.inner.role, error = %e,
                    "cluster secrets file changed but cannot be used; keeping the secrets in use");
                *known = seen;
            }
        }
    }

    /// The [`AUTH_HEADER`] value for a request.
    pub fn sign(
        &self,
        method: &http::Method,
        path_and_query: &str,
        host: &str,
        body_hash: &blake3::Hash,
    ) -> HeaderValue {
        self.sign_at(
            method,
            path_and_query,
            host,
            body_hash,
            now_ms(),
            rand::random(),
        )
    }

    fn sign_at(
        &self,
        method: &http::Method,
        path_and_query: &str,
        host: &str,
        body_hash: &blake3::Hash,
        time_ms: i64,
        nonce: u128,
    ) -> HeaderValue {
        let set = self.set();
        let held = &set.held[0];
        let mut tier = if self.toward_storage {
            Tier::Data
        } else {
            self.acting.unwrap_or(set.identity)
        };
        if held.keys[tier.index()].is_none() {
            tier = set.identity;
        }
        let key = held.keys[tier.index()].expect("a ring holds its identity's key");
        let nonce = format!("{nonce:032x}");
        let body = body_hash.to_hex();
        let canonical = canonical(
            method.as_str(),
            path_and_query,
            host,
            time_ms,
            &nonce,
            &body,
        );
        let mac = blake3::keyed_hash(&key, canonical.as_bytes());
        // The root tier's key id is the secret's id alone (as before tiers).
        let value = match tier {
            Tier::Root => format!("v1 {} {time_ms} {nonce} {body} {}", held.id, mac.to_hex()),
            t => format!(
                "v1 {}.{} {time_ms} {nonce} {body} {}",
                held.id,
                t.label(),
                mac.to_hex()
            ),
        };
        HeaderValue::from_str(&value).expect("hex and digits are a valid header value")
    }

    /// Signs `request` (whose body hashes to `body_hash`) in place: its
    /// URI must be absolute (the `Host` signed is its authority).
    pub fn sign_request<B>(&self, request: &mut http::Request<B>, body_hash: &blake3::Hash) {
        let host = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let pq = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let value = self.sign(request.method(), &pq, &host, body_hash);
        if let Ok(h) = HeaderValue::from_str(&host) {
            request.headers_mut().insert(http::header::HOST, h);
        }
        request.headers_mut().insert(AUTH_HEADER, value);
    }

    /// Checks a request's credential before its body is read: on success,
    /// the claim its body must meet. Refusals are counted and logged
    /// (rate-limited, without the payload) here.
    pub fn verify(
        &self,
        parts: &http::request::Parts,
        peer: Option<std::net::SocketAddr>,
    ) -> Result<Claim, Refusal> {
        let result = self.verify_at(parts, now_ms());
        if let Err(r) = result {
            self.refused(r, &parts.method, parts.uri.path(), peer);
        }
        result
    }

    /// Counts and logs a refusal found after [`verify`](Self::verify)
    /// (a body that is not the one signed).
    pub fn refused(
        &self,
        why: Refusal,
        method: &http::Method,
        path: &str,
        peer: Option<std::net::SocketAddr>,
    ) {
        metrics::counter!("shale_internal_auth_refused_total",
            "role" => self.inner.role, "reason" => why.label())
        .increment(1);
        // One line a second at most: a flood must not fill the disk.
        let now = now_ms();
        let last = self.inner.last_log_ms.load(Ordering::Relaxed);
        if now - last >= 1000
            && self
                .inner
                .last_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let unlogged = self.inner.unlogged.swap(0, Ordering::Relaxed);
            let path: String = path.chars().take(120).collect();
            tracing::warn!(role = self.inner.role, reason = why.label(), %method, path = %path.escape_debug(),
                peer = ?peer, refused_unlogged = unlogged, "internal request refused: {why}");
        } else {
            self.inner.unlogged.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn verify_at(&self, parts: &http::request::Parts, now: i64) -> Result<Claim, Refusal> {
        let value = parts.headers.get(AUTH_HEADER).ok_or(Refusal::Missing)?;
        let value = value.to_str().map_err(|_| Refusal::Malformed)?;
        let mut fields = value.split(' ');
        let mut next = || fields.next().ok_or(Refusal::Malformed);
        let (version, id, time, nonce, body, mac) =
            (next()?, next()?, next()?, next()?, next()?, next()?);
        if fields.next().is_some() {
            return Err(Refusal::Malformed);
        }
        if version != "v1" || nonce.len() != 32 {
            return Err(Refusal::Malformed);
        }
        let time_ms: i64 = time.parse().map_err(|_| Refusal::Malformed)?;
        let nonce_value = u128::from_str_radix(nonce, 16).map_err(|_| Refusal::Malformed)?;
        let body_hash = blake3::Hash::from_hex(body).map_err(|_| Refusal::Malformed)?;
        let mac = blake3::Hash::from_hex(mac).map_err(|_| Refusal::Malformed)?;
        let (id, tier) = match id.split_once('.') {
            Some((id, t)) => (id, Tier::parse(t).ok_or(Refusal::Malformed)?),
            None => (id, Tier::Root),
        };
        let set = self.set();
        let key = set
            .by_id(id)
            .and_then(|h| h.keys[tier.index()])
            .ok_or(Refusal::UnknownKey)?;
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let canonical = canonical(parts.method.as_str(), pq, host, time_ms, nonce, body);
        // `blake3::Hash`'s equality is constant-time.
        if blake3::keyed_hash(&key, canonical.as_bytes()) != mac {
            return Err(Refusal::BadSignature);
        }
        if (now - time_ms).abs() > MAX_SKEW_MS {
            return Err(Refusal::Stale);
        }
        self.inner.guard.first_sight(nonce_value, now)?;
        Ok(Claim {
            body: body_hash,
            tier,
        })
    }
}

fn canonical(method: &str, pq: &str, host: &str, time_ms: i64, nonce: &str, body: &str) -> String {
    format!("{CONTEXT}\n{method}\n{pq}\n{host}\n{time_ms}\n{nonce}\n{body}")
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// A fuzz entry point (`fuzz/`, target `internal_rpc`): `data` up to its
/// first newline as an [`AUTH_HEADER`] value, the rest as the request's path,
/// checked by a role; any input is refused or passes, never panics.
pub fn fuzz_verify(data: &[u8]) {
    static AUTH: std::sync::OnceLock<ClusterAuth> = std::sync::OnceLock::new();
    let auth = AUTH.get_or_init(|| ClusterAuth::ephemeral("fuzz"));
    let (header, path) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"/"[..]),
    };
    let Ok(value) = HeaderValue::from_bytes(header) else {
        return;
    };
    let uri = std::str::from_utf8(path)
        .ok()
        .and_then(|p| p.parse::<http::Uri>().ok());
    let mut req = http::Request::builder()
        .uri(uri.unwrap_or_else(|| http::Uri::from_static("/")))
        .body(())
        .expect("a valid request");
    req.headers_mut().insert(AUTH_HEADER, value);
    let (parts, ()) = req.into_parts();
    if let Ok(claim) = auth.verify_at(&parts, now_ms()) {
        let _ = claim.check_body(path);
    }
}

/// The BLAKE3 of an empty body.
pub fn empty_body_hash() -> blake3::Hash {
    blake3::hash(b"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn request(auth: &ClusterAuth, method: Method, pq: &str, body: &[u8]) -> http::request::Parts {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:7000{pq}"))
            .body(())
            .unwrap();
        auth.sign_request(&mut req, &blake3::hash(body));
        req.into_parts().0
    }

    fn auth() -> ClusterAuth {
        ClusterAuth::new(SecretSet::one(ClusterSecret::generate()), "test")
    }

    #[test]
    fn a_signed_request_passes_once() {
        let a = auth();
        let parts = request(&a, Method::POST, "/rpc", b"body");
        let claim = a.verify(&parts, None).unwrap();
        claim.check_body(b"body").unwrap();
        assert_eq!(claim.check_body(b"bodY"), Err(Refusal::BodyMismatch));
        assert_eq!(a.verify(&parts, None).unwrap_err(), Refusal::Replayed);
    }

    #[test]
    fn what_is_signed_cannot_change() {
        let a = auth();
        let base = request(&a, Method::PUT, "/chunks/x?y=1", b"");
        let mut p = base.clone();
        p.method = Method::DELETE;
        assert_eq!(a.verify(&p, None).unwrap_err(), Refusal::BadSignature);
        let mut p = base.clone();
        p.uri = "/chunks/z?y=1".parse().unwrap();
        assert_eq!(a.verify(&p, None).unwrap_err(), Refusal::BadSignature);
        let mut p = base.clone();
        p.headers
            .insert(http::header::HOST, "127.0.0.1:7001".parse().unwrap());
        assert_eq!(a.verify(&p, None).unwrap_err(), Refusal::BadSignature);
        let mut p = base.clone();
        p.headers.remove(AUTH_HEADER);
        assert_eq!(a.verify(&p, None).unwrap_err(), Refusal::Missing);
        let mut p = base.clone();
        p.headers.insert(AUTH_HEADER, "v1 x".parse().unwrap());
        assert_eq!(a.verify(&p, None).unwrap_err(), Refusal::Malformed);
        // A different secret, and a tampered body hash.
        assert_eq!(auth().verify(&base, None).unwrap_err(), Refusal::UnknownKey);
        let v = base.headers[AUTH_HEADER].to_str().unwrap().to_owned();
        let mut f: Vec<String> = v.split(' ').map(str::to_owned).collect();
        f[4] = blake3::hash(b"other").to_hex().to_string();
        let mut p = base.clone();
        p.headers.insert(AUTH_HEADER, f.join(" ").parse().unwrap());
        assert_eq!(a.verify(&p, None).unwrap_err(), Refusal::BadSignature);
        // The untouched request still passes.
        a.verify(&base, None).unwrap();
    }

    #[test]
    fn old_and_future_requests_are_refused() {
        let a = auth();
        let hash = empty_body_hash();
        for skew in [-MAX_SKEW_MS - 1, MAX_SKEW_MS + 1] {
            let v = a.sign_at(&Method::GET, "/status", "h", &hash, now_ms() + skew, 7);
            let mut req = http::Request::builder().uri("/status").body(()).unwrap();
            req.headers_mut().insert(AUTH_HEADER, v);
            req.headers_mut()
                .insert(http::header::HOST, "h".parse().unwrap());
            assert_eq!(
                a.verify(&req.into_parts().0, None).unwrap_err(),
                Refusal::Stale
            );
        }
    }

    #[test]
    fn nonces_are_remembered_as_long_as_a_time_is_acceptable() {
        let g = ReplayGuard::default();
        let t0 = 1_000_000;
        g.first_sight(1, t0).unwrap();
        // Still refused just before the window of its acceptance closes.
        for dt in [0, MAX_SKEW_MS, 2 * MAX_SKEW_MS, 3 * MAX_SKEW_MS] {
            assert_eq!(g.first_sight(1, t0 + dt), Err(Refusal::Replayed), "{dt}");
        }
        g.first_sight(2, t0 + 4 * MAX_SKEW_MS).unwrap();
    }

    #[test]
    fn a_rotation_is_accepted_on_both_sides() {
        let old = ClusterSecret::generate();
        let new = ClusterSecret::generate();
        let before = ClusterAuth::new(SecretSet::one(old.clone()), "a");
        let added = SecretSet::one(old.clone()).with_added(new.clone());
        let during = ClusterAuth::new(added.clone(), "b");
        let switched = ClusterAuth::new(added.with_signing(new.id()).unwrap(), "c");
        let after = ClusterAuth::new(added.with_signing(new.id()).unwrap().retired(), "d");
        // Every role of a step accepts what the roles of the step before
        // and after it sign.
        let steps = [&before, &during, &switched, &after];
        for w in steps.windows(2) {
            for (signer, verifier) in [(w[0], w[1]), (w[1], w[0])] {
                let parts = request(signer, Method::POST, "/rpc", b"x");
                verifier.verify(&parts, None).unwrap();
            }
        }
        assert_eq!(after.ids(), vec![new.id()]);
    }

    #[test]
    fn secrets_files_round_trip_and_reload() {
        let dir = std::env::temp_dir().join(format!("shale-auth-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cluster.secret");
        let first = SecretSet::one(ClusterSecret::generate());
        write_secrets_file(&path, &first).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let a = ClusterAuth::from_file(&path, "t").unwrap();
        assert_eq!(a.ids(), vec![first.secrets()[0].id()]);
        let second = first.with_added(ClusterSecret::generate());
        write_secrets_file(&path, &second).unwrap();
        std::thread::sleep(RELOAD_EVERY + Duration::from_millis(50));
        assert_eq!(a.ids().len(), 2);
        std::fs::write(&path, "garbage").unwrap();
        std::thread::sleep(RELOAD_EVERY + Duration::from_millis(50));
        assert_eq!(a.ids().len(), 2, "a bad file keeps the secrets in use");
        assert!(SecretSet::parse("# only a comment\n").is_err());
        assert!(ClusterSecret::parse("shale-cluster-v1:abc").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_tier_signs_as_itself_and_no_other() {
        let set = SecretSet::one(ClusterSecret::generate());
        let root = ClusterAuth::new(set.clone(), "metadata");
        let gw = ClusterAuth::with_keys(
            KeyRing::parse(&KeyRing::role_file_text(&set, RoleKeys::Gateway)).unwrap(),
            "gateway",
        );
        let node = ClusterAuth::with_keys(
            KeyRing::parse(&KeyRing::role_file_text(&set, RoleKeys::StorageNode)).unwrap(),
            "storage",
        );
        assert_eq!(gw.identity(), Tier::Gateway);
        assert_eq!(node.identity(), Tier::Node);
        assert_eq!(gw.ids(), root.ids());
        // The metadata service (root) verifies every tier, each as itself.
        for (signer, tier) in [
            (&root, Tier::Root),
            (&gw, Tier::Gateway),
            (&node, Tier::Node),
            (&gw.toward_storage(), Tier::Data),
            (&node.toward_storage(), Tier::Data),
            (&root.toward_storage(), Tier::Data),
            (&root.acting_as(Tier::Gateway), Tier::Gateway),
            (&root.acting_as(Tier::Node), Tier::Node),
        ] {
            let parts = request(signer, Method::POST, "/rpc", b"x");
            assert_eq!(root.verify(&parts, None).unwrap().tier(), tier);
        }
        // A storage node verifies the data tier of anyone, and nothing else.
        let parts = request(&gw.toward_storage(), Method::PUT, "/chunks/a", b"");
        assert_eq!(node.verify(&parts, None).unwrap().tier(), Tier::Data);
        for signer in [&gw, &root] {
            let parts = request(signer, Method::PUT, "/chunks/a", b"");
            assert_eq!(node.verify(&parts, None).unwrap_err(), Refusal::UnknownKey);
        }
        // A node cannot claim the gateway's tier: the tag is in the key id,
        // and it does not hold that key.
        let parts = request(&node, Method::POST, "/rpc", b"x");
        let v = parts.headers[AUTH_HEADER]
            .to_str()
            .unwrap()
            .replace(".node ", ".gateway ");
        let mut forged = parts.clone();
        forged.headers.insert(AUTH_HEADER, v.parse().unwrap());
        assert_eq!(
            root.verify(&forged, None).unwrap_err(),
            Refusal::BadSignature
        );
        // A node's ring acting as a gateway still signs as a node.
        let parts = request(&node.acting_as(Tier::Gateway), Method::POST, "/rpc", b"y");
        assert_eq!(root.verify(&parts, None).unwrap().tier(), Tier::Node);
        let claim = root
            .verify(&request(&node, Method::POST, "/rpc", b"z"), None)
            .unwrap();
        assert_eq!(
            claim.require(&[Tier::Gateway, Tier::Root]),
            Err(Refusal::WrongRole)
        );
        assert_eq!(Refusal::WrongRole.status(), http::StatusCode::FORBIDDEN);
    }

    #[test]
    fn role_files_follow_a_rotation() {
        let old = ClusterSecret::generate();
        let new = ClusterSecret::generate();
        let set = SecretSet::one(old).with_added(new.clone());
        let switched = set.with_signing(new.id()).unwrap();
        let root_before = ClusterAuth::new(set.clone(), "m");
        let gw_after = ClusterAuth::with_keys(
            KeyRing::parse(&KeyRing::role_file_text(&switched, RoleKeys::Gateway)).unwrap(),
            "g",
        );
        let parts = request(&gw_after, Method::POST, "/rpc", b"x");
        assert_eq!(
            root_before.verify(&parts, None).unwrap().tier(),
            Tier::Gateway
        );
        assert_eq!(gw_after.ids()[0], new.id());
        // Two roles' keys in one file, or a broken line, are refused.
        let mixed = KeyRing::role_file_text(&set, RoleKeys::Gateway)
            + &KeyRing::role_file_text(&set, RoleKeys::StorageNode);
        assert!(KeyRing::parse(&mixed).is_err());
        assert!(KeyRing::parse("shale-role-key-v1:gateway:zz").is_err());
    }
}
