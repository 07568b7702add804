//! Secrets at rest: what the metadata service seals before it stores them.
//!
//! An access key's secret is stored sealed under the **secrets key**, a key
//! the operator supplies to the metadata replicas only (a file,
//! `secrets_key_file` or `SHALE_SECRETS_KEY_FILE`, or the environment,
//! `SHALE_SECRETS_KEY`), never stored beside the data. The catalogue, the
//! Raft log and Raft snapshots hold the sealed form only:
//!
//! `shale-sealed-v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`
//!
//! sealed with XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`), a
//! random 24-byte nonce per seal, and the access key's id as associated
//! data, so a sealed secret moved to another key's row does not open.
//! The sealed form is a string where the plain secret was (the row keeps its
//! shape: rows written before hold the plain secret and still read; the
//! store seals them when it opens).
//!
//! A secrets-key file holds one key a line (`shale-secrets-key-v1:<64
//! hex>`): the first seals, every one opens, as with the cluster secret.
//!
//! The gateways' **master key** ([`KeyKind::Master`], `shale-master-key-v1:`)
//! is the same kind of key for another holder: it seals the key of every
//! object stored with server-side encryption (SSE-S3, `common::sse`), and
//! only the gateways are given it (`sse_master_key_file`,
//! `SHALE_SSE_MASTER_KEY_FILE`, `SHALE_SSE_MASTER_KEY`). Its key ids are
//! derived apart from secrets keys', so one never passes for the other.

use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Prefix of a secrets key's textual form.
pub const KEY_PREFIX: &str = "shale-secrets-key-v1:";

/// Prefix of a sealed secret.
pub const SEALED_PREFIX: &str = "shale-sealed-v1:";

/// Environment variable holding the key itself.
pub const KEY_ENV: &str = "SHALE_SECRETS_KEY";

/// Environment variable naming the key file.
pub const KEY_FILE_ENV: &str = "SHALE_SECRETS_KEY_FILE";

/// Prefix of a master key's textual form.
pub const MASTER_KEY_PREFIX: &str = "shale-master-key-v1:";

/// Environment variable holding the master key itself.
pub const MASTER_KEY_ENV: &str = "SHALE_SSE_MASTER_KEY";

/// Environment variable naming the master key file.
pub const MASTER_KEY_FILE_ENV: &str = "SHALE_SSE_MASTER_KEY_FILE";

/// Whose key it is: the metadata replicas' secrets key, or the gateways'
/// master key. The two never read as each other (their prefixes and key
/// ids differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// Seals access-key secrets (metadata replicas).
    Secrets,
    /// Seals the keys of server-side-encrypted objects (gateways).
    Master,
    /// A client's own key (SSE-C), given with each request and never
    /// stored: it seals its object's key, and its id tells a wrong key.
    Customer,
    /// A version of a key of the built-in key service (SSE-KMS).
    Kms,
}

impl KeyKind {
    fn prefix(self) -> &'static str {
        match self {
            KeyKind::Secrets => KEY_PREFIX,
            KeyKind::Master => MASTER_KEY_PREFIX,
            KeyKind::Customer => "shale-customer-key-v1:",
            KeyKind::Kms => "shale-kms-key-v1:",
        }
    }

    fn id_context(self) -> &'static str {
        match self {
            KeyKind::Secrets => "shale secrets key id v1",
            KeyKind::Master => "shale sse master key id v1",
            KeyKind::Customer => "shale sse-c key id v1",
            KeyKind::Kms => "shale kms key version id v1",
        }
    }

    fn env(self) -> &'static str {
        match self {
            KeyKind::Secrets => KEY_ENV,
            KeyKind::Master | KeyKind::Customer | KeyKind::Kms => MASTER_KEY_ENV,
        }
    }

    fn file_env(self) -> &'static str {
        match self {
            KeyKind::Secrets => KEY_FILE_ENV,
            KeyKind::Master | KeyKind::Customer | KeyKind::Kms => MASTER_KEY_FILE_ENV,
        }
    }

    /// The key's name in messages.
    pub fn what(self) -> &'static str {
        match self {
            KeyKind::Secrets => "secrets key",
            KeyKind::Master => "master key",
            KeyKind::Customer => "customer key",
            KeyKind::Kms => "KMS key",
        }
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// One secrets key.
#[derive(Clone)]
pub struct SealingKey {
    cipher: XChaCha20Poly1305,
    key: [u8; 32],
    id: String,
    kind: KeyKind,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealingKey({})", self.id)
    }
}

impl SealingKey {
    /// A new random secrets key.
    pub fn generate() -> SealingKey {
        SealingKey::generate_kind(KeyKind::Secrets)
    }

    /// A new random key of `kind`.
    pub fn generate_kind(kind: KeyKind) -> SealingKey {
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut key[..]);
        SealingKey::from_key(key, kind)
    }

    /// The key of `kind` whose bytes are `key` (a client's SSE-C key).
    pub fn from_bytes(key: [u8; 32], kind: KeyKind) -> SealingKey {
        SealingKey::from_key(key, kind)
    }

    fn from_key(key: [u8; 32], kind: KeyKind) -> SealingKey {
        let h = blake3::derive_key(kind.id_context(), &key);
        SealingKey {
            cipher: XChaCha20Poly1305::new(&key.into()),
            key,
            id: hex::encode(&h[..4]),
            kind,
        }
    }

    /// Parses `shale-secrets-key-v1:<64 hex>`.
    pub fn parse(text: &str) -> Result<SealingKey, String> {
        SealingKey::parse_kind(text, KeyKind::Secrets)
    }

    /// Parses a key of `kind` (`<its prefix><64 hex>`).
    pub fn parse_kind(text: &str, kind: KeyKind) -> Result<SealingKey, String> {
        let (prefix, what) = (kind.prefix(), kind.what());
        let hex_part = text
            .trim()
            .strip_prefix(prefix)
            .ok_or_else(|| format!("a {what} starts with {prefix}"))?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut key)
            .map_err(|_| format!("a {what} is 64 hex digits after its prefix"))?;
        Ok(SealingKey::from_key(key, kind))
    }

    /// The textual form, for a key file.
    pub fn to_text(&self) -> String {
        format!("{}{}", self.kind.prefix(), hex::encode(self.key))
    }

    /// A public name for the key (8 hex digits of a hash of it).
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Why a sealed secret did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Sealed under a key this replica does not hold.
    #[error("sealed under secrets key {0}, which this replica does not hold")]
    UnknownKey(String),
    /// Not a sealed form, or tampered with, or moved to another row.
    #[error("sealed secret does not open (corrupt, or not this key's)")]
    Corrupt,
}

/// The keys a replica seals with (the first) and opens with (all).
#[derive(Clone, Debug)]
pub struct SealingKeys {
    keys: Vec<SealingKey>,
}

/// True when `stored` is a sealed form (rather than a secret in the clear,
/// as rows written before sealing hold).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

impl SealingKeys {
    /// One key, sealing and opening.
    pub fn one(key: SealingKey) -> SealingKeys {
        SealingKeys { keys: vec![key] }
    }

    /// Parses a secrets key file: one key a line; blank lines and `#`
    /// comments are skipped; at least one key; no id twice.
    pub fn parse(text: &str) -> Result<SealingKeys, String> {
        SealingKeys::parse_kind(text, KeyKind::Secrets)
    }

    /// Parses a key file of `kind`, as [`SealingKeys::parse`].
    pub fn parse_kind(text: &str, kind: KeyKind) -> Result<SealingKeys, String> {
        let mut keys: Vec<SealingKey> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key =
                SealingKey::parse_kind(line, kind).map_err(|e| format!("line {}: {e}", n + 1))?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(format!("line {}: key {} is listed twice", n + 1, key.id));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(format!("no {} in it", kind.what()));
        }
        Ok(SealingKeys { keys })
    }

    /// The kind of these keys.
    pub fn kind(&self) -> KeyKind {
        self.keys[0].kind
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "# Shale {}s: the first seals, all open. Keep 0600.\n",
            self.kind().what()
        );
        for k in &self.keys {
            s.push_str(&k.to_text());
            s.push('\n');
        }
        s
    }

    /// The keys, the sealing one first.
    pub fn keys(&self) -> &[SealingKey] {
        &self.keys
    }

    /// These keys and `key` (appended: opening, not sealing).
    pub fn with_added(&self, key: SealingKey) -> SealingKeys {
        let mut keys = self.keys.clone();
        keys.push(key);
        SealingKeys { keys }
    }

    /// These keys with `id` first (sealing).
    pub fn with_sealing(&self, id: &str) -> Result<SealingKeys, String> {
        let at = self
            .keys
            .iter()
            .position(|k| k.id == id)
            .ok_or_else(|| format!("no key {id} in the file"))?;
        let mut keys = self.keys.clone();
        let k = keys.remove(at);
        keys.insert(0, k);
        Ok(SealingKeys { keys })
    }

    /// Only the sealing key.
    pub fn retired(&self) -> SealingKeys {
        SealingKeys {
            keys: vec![self.keys[0].clone()],
        }
    }

    /// The secrets key file at `path`.
    pub fn read_file(path: &Path) -> Result<SealingKeys, String> {
        SealingKeys::read_file_kind(path, KeyKind::Secrets)
    }

    /// The key file of `kind` at `path`.
    pub fn read_file_kind(path: &Path, kind: KeyKind) -> Result<SealingKeys, String> {
        let what = kind.what();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{what} file {}: {e}", path.display()))?;
        SealingKeys::parse_kind(&text, kind)
            .map_err(|e| format!("{what} file {}: {e}", path.display()))
    }

    /// Writes the key file (0600, through a temporary file and a rename,
    /// fsynced).
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        crate::cluster_auth::write_private_file(path, self.to_text().as_bytes())
    }

    /// The keys a metadata replica is configured with: the file `file`
    /// when given, else `SHALE_SECRETS_KEY_FILE`, else `SHALE_SECRETS_KEY`.
    pub fn configured(file: Option<&Path>) -> Result<SealingKeys, String> {
        match SealingKeys::configured_kind(file, KeyKind::Secrets)? {
            Some(keys) => Ok(keys),
            None => Err(format!(
                "no secrets key: the metadata service stores access-key secrets sealed under it. \
             Give it `secrets_key_file` in the config, {KEY_FILE_ENV} or {KEY_ENV}; make one with \
             `shale admin secrets-key --file FILE create`"
            )),
        }
    }

    /// The keys of `kind` a role is configured with: the file `file` when
    /// given, else the file the kind's `…_FILE` variable names, else the
    /// key in the kind's variable; `None` when none is given.
    pub fn configured_kind(
        file: Option<&Path>,
        kind: KeyKind,
    ) -> Result<Option<SealingKeys>, String> {
        if let Some(path) = file {
            return SealingKeys::read_file_kind(path, kind).map(Some);
        }
        if let Some(path) = std::env::var_os(kind.file_env()) {
            return SealingKeys::read_file_kind(Path::new(&path), kind).map(Some);
        }
        if let Ok(text) = std::env::var(kind.env()) {
            return SealingKey::parse_kind(&text, kind)
                .map(|k| Some(SealingKeys::one(k)))
                .map_err(|e| format!("{}: {e}", kind.env()));
        }
        Ok(None)
    }

    /// `secret` sealed under the sealing key, bound to `context` (the
    /// access key's id).
    pub fn seal(&self, secret: &str, context: &str) -> String {
        self.seal_bytes(secret.as_bytes(), context)
    }

    /// The secret in `stored` (a sealed form bound to `context`).
    pub fn open(&self, stored: &str, context: &str) -> Result<String, OpenError> {
        String::from_utf8(self.open_bytes(stored, context)?).map_err(|_| OpenError::Corrupt)
    }

    /// `secret` (any bytes: an object's key) sealed under the sealing key,
    /// bound to `context`.
    pub fn seal_bytes(&self, secret: &[u8], context: &str) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; 24];
        rand::Rng::fill(&mut rand::rng(), &mut nonce[..]);
        let sealed = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any message under 256 GiB");
        let mut blob = Vec::with_capacity(24 + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}:{}", key.id, B64.encode(blob))
    }

    /// The bytes sealed in `stored` (bound to `context`).
    pub fn open_bytes(&self, stored: &str, context: &str) -> Result<Vec<u8>, OpenError> {
        let rest = stored
            .strip_prefix(SEALED_PREFIX)
            .ok_or(OpenError::Corrupt)?;
        let (id, blob) = rest.split_once(':').ok_or(OpenError::Corrupt)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(id.chars().take(16).collect()))?;
        let blob = B64.decode(blob).map_err(|_| OpenError::Corrupt)?;
        if blob.len() < 24 + 16 {
            return Err(OpenError::Corrupt);
        }
        let (nonce, sealed) = blob.split_at(24);
        let plain = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Corrupt)?;
        Ok(plain)
    }

    /// The id of the key `stored` was sealed under (`None`: not a sealed
    /// form).
    pub fn sealed_by(stored: &str) -> Option<&str> {
        stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|r| r.split_once(':'))
            .map(|(id, _)| id)
    }

    /// True when `stored` needs sealing again: in the clear, or sealed
    /// under a key other than the sealing one.
    pub fn needs_sealing(&self, stored: &str) -> bool {
        match stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|r| r.split_once(':'))
        {
            Some((id, _)) => id != self.keys[0].id,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_under_its_key_and_context_only() {
        let keys = SealingKeys::one(SealingKey::generate());
        let sealed = keys.seal("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIA1");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("wJalr"));
        assert_eq!(
            keys.open(&sealed, "AKIA1").unwrap(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        );
        // Moved to another key's row: does not open.
        assert_eq!(keys.open(&sealed, "AKIA2"), Err(OpenError::Corrupt));
        // Two seals of one secret differ (a fresh nonce each).
        assert_ne!(
            sealed,
            keys.seal("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIA1")
        );
        // Another deployment's key does not open it.
        let other = SealingKeys::one(SealingKey::generate());
        assert!(matches!(
            other.open(&sealed, "AKIA1"),
            Err(OpenError::UnknownKey(_))
        ));
        // Any flipped character is refused, never a wrong secret.
        for i in SEALED_PREFIX.len() + 9..sealed.len() {
            let mut b = sealed.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(b).unwrap();
            assert!(keys.open(&t, "AKIA1").is_err(), "flip at {i}");
        }
        assert!(!keys.needs_sealing(&sealed));
        assert!(keys.needs_sealing("plain-secret"));
    }

    #[test]
    fn rotation_keeps_opening_and_seals_under_the_new_key() {
        let old = SealingKeys::one(SealingKey::generate());
        let sealed_old = old.seal("s3cr3t", "K");
        let fresh = SealingKey::generate();
        let new_id = fresh.id().to_owned();
        let both = old.with_added(fresh);
        assert!(!both.needs_sealing(&sealed_old));
        let rotated = both.with_sealing(&new_id).unwrap();
        assert!(rotated.needs_sealing(&sealed_old));
        assert_eq!(rotated.open(&sealed_old, "K").unwrap(), "s3cr3t");
        let resealed = rotated.seal("s3cr3t", "K");
        let retired = rotated.retired();
        assert_eq!(retired.open(&resealed, "K").unwrap(), "s3cr3t");
        assert!(retired.open(&sealed_old, "K").is_err());
        let text = rotated.to_text();
        let back = SealingKeys::parse(&text).unwrap();
        assert_eq!(back.keys()[0].id(), new_id);
        assert_eq!(back.keys().len(), 2);
        assert!(SealingKeys::parse("# nothing\n").is_err());
        assert!(SealingKeys::parse("shale-secrets-key-v1:zz").is_err());
    }

    #[test]
    fn a_master_key_is_not_a_secrets_key() {
        let master = SealingKeys::one(SealingKey::generate_kind(KeyKind::Master));
        let text = master.to_text();
        assert!(text.contains(MASTER_KEY_PREFIX));
        assert!(SealingKeys::parse(&text).is_err());
        let back = SealingKeys::parse_kind(&text, KeyKind::Master).unwrap();
        assert_eq!(back.keys()[0].id(), master.keys()[0].id());
        assert_eq!(back.kind(), KeyKind::Master);
        // One 32-byte key, two kinds: two ids.
        let hex_key = text
            .lines()
            .nth(1)
            .unwrap()
            .strip_prefix(MASTER_KEY_PREFIX)
            .unwrap();
        let as_secrets = SealingKey::parse(&format!("{KEY_PREFIX}{hex_key}")).unwrap();
        assert_ne!(as_secrets.id(), master.keys()[0].id());
        let sealed = master.seal_bytes(&[7u8; 32], "sse-s3");
        assert_eq!(SealingKeys::sealed_by(&sealed), Some(master.keys()[0].id()));
        assert_eq!(master.open_bytes(&sealed, "sse-s3").unwrap(), vec![7u8; 32]);
        assert!(master.open_bytes(&sealed, "sse-c").is_err());
    }
}
