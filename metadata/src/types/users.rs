//! Users (row format v9): who a key belongs to, and what a user may do.
//!
//! The `users` column family holds two kinds of rows:
//! - `user/<name>` → [`User`]: its grants and its IAM policy;
//! - `key/<access key id>` → [`KeyOwner`]: the user an access key belongs
//!   to, and whether the key is disabled.
//!
//! An access key without a `key/` row is a user of its own, named after the
//! key id, with the key's own grants: every key made before users existed
//! (and every key `shale admin key create` makes without `--user`). Its
//! owner rows (buckets, objects) already name it by its id, which is its
//! user name, so nothing stored changes meaning. Such a key becomes a user
//! with rows of its own the first time something only a user has is asked
//! of it (a policy, a second key, being disabled): see
//! `MetaStore::adopt_key`. The [`AccessKey`] rows and the requests that
//! carry them keep their shape (the Raft log stores requests).

use super::{AccessKey, Permission};
use serde::{Deserialize, Serialize};

/// A user: the unit bucket ownership, grants and IAM policies attach to.
/// Its ARN (`arn:aws:iam::<account>:user/<name>`) and canonical id follow
/// from its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// IAM's user name rules: 1 to 64 of `A-Za-z0-9+=,.@_-`.
    pub name: String,
    /// When it was made (Unix ms; 0 for a key that became a user).
    pub created_ms: i64,
    /// What it may do, bucket by bucket (the shorthand of `shale admin
    /// key grant`): shared by all its keys.
    pub grants: Vec<(String, Permission)>,
    /// Its IAM identity policy (JSON, as given), if any.
    pub policy: Option<String>,
}

/// The owner of an access key that belongs to a user (`key/<id>` rows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOwner {
    /// The user's name.
    pub user: String,
    /// A disabled key signs nothing (InvalidAccessKeyId), until enabled.
    pub disabled: bool,
}

/// An access key and who it is: what the gateway authenticates and
/// authorizes with ([`crate::MetaRequest::GetIdentity`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The key, its secret opened.
    pub key: AccessKey,
    /// Its user; `None` for a key that is a user of its own (named after
    /// the key, with the key's grants and no policy).
    pub user: Option<User>,
    /// True for a disabled key.
    pub disabled: bool,
}

impl Identity {
    /// The user name: the user's, or the key id for a key of its own.
    pub fn user_name(&self) -> &str {
        self.user
            .as_ref()
            .map_or(self.key.access_key.as_str(), |u| u.name.as_str())
    }

    /// What the caller may do, bucket by bucket: `None` for a root key.
    pub fn grants(&self) -> Option<&[(String, Permission)]> {
        match &self.user {
            Some(u) => Some(&u.grants),
            None => self.key.grants.as_deref(),
        }
    }

    /// True for a root key (every permission, and the admin API).
    pub fn is_root(&self) -> bool {
        self.grants().is_none()
    }

    /// The permission on `bucket`: everything for a root key.
    pub fn permission(&self, bucket: &str) -> Option<Permission> {
        match self.grants() {
            None => Some(Permission::Owner),
            Some(g) => g.iter().find(|(b, _)| b == bucket).map(|(_, p)| *p),
        }
    }

    /// The user's IAM policy, if any.
    pub fn policy(&self) -> Option<&str> {
        self.user.as_ref().and_then(|u| u.policy.as_deref())
    }
}

/// One user as `shale admin user list` shows it ([`crate::MetaRequest::ListUsers`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    /// The user (for a key of its own: named after the key, with its grants).
    pub user: User,
    /// Its keys: id, and whether disabled.
    pub keys: Vec<(String, bool)>,
    /// True for a key that is a user of its own (no `users` rows yet).
    pub legacy: bool,
}

/// Longest user name (IAM's limit).
pub const MAX_USER_NAME: usize = 64;

/// Whether `name` is a valid user name: 1 to 64 of `A-Za-z0-9+=,.@_-`.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}
