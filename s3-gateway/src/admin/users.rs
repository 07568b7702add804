//! The admin API's users and keys (`user-*`, `key-*`): see the table in
//! the parent module.

use super::*;
use shale_metadata::{KeyOwner, User, UserEntry};

/// Longest user policy, whitespace aside (IAM's limit for a user's inline
/// policy).
pub const MAX_USER_POLICY_CHARS: usize = 2048;

/// A new access key (`SHK` and 17 characters) with a 40-character secret.
fn new_key(name: String, grants: Vec<(String, Permission)>) -> AccessKey {
    AccessKey {
        access_key: format!(
            "SHK{}",
            random_string(17, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        ),
        secret_key: random_string(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+",
        ),
        name,
        grants: Some(grants),
    }
}

fn user_grants_json(grants: &[(String, Permission)]) -> Value {
    grants
        .iter()
        .map(|(b, p)| json!({"bucket": b, "permission": p.name()}))
        .collect()
}

fn user_json(entry: &UserEntry) -> Value {
    let policy_user = crate::bucket_access::user_of(&entry.user.name);
    json!({
        "name": entry.user.name,
        "arn": policy_user.arn,
        "canonical_id": policy_user.canonical_id,
        "created_ms": entry.user.created_ms,
        "keys": entry.keys.iter()
            .map(|(k, disabled)| json!({"access_key": k, "disabled": disabled}))
            .collect::<Vec<_>>(),
        "grants": user_grants_json(&entry.user.grants),
        "policy": entry.user.policy.is_some(),
        "legacy": entry.legacy,
    })
}

/// Checks a user policy as IAM does: its size, then its language.
pub fn check_user_policy(document: &str) -> S3Result<()> {
    let size = document.chars().filter(|c| !c.is_whitespace()).count();
    if size > MAX_USER_POLICY_CHARS {
        return Err(s3_error!(
            InvalidArgument,
            "LimitExceeded: a user policy is at most {} characters (whitespace aside), not {}",
            MAX_USER_POLICY_CHARS,
            size
        ));
    }
    shale_policy::parse_identity_policy(document.as_bytes())
        .map_err(|e| s3_error!(InvalidArgument, "MalformedPolicyDocument: {}", e))?;
    Ok(())
}

impl AdminRoute {
    /// The user named `name` as listed (keys that are users of their own
    /// included); `InvalidArgument` when there is none.
    async fn user_entry(&self, name: &str) -> S3Result<UserEntry> {
        self.meta
            .list_users()
            .await
            .map_err(meta_err)?
            .into_iter()
            .find(|u| u.user.name == name)
            .ok_or_else(|| s3_error!(InvalidArgument, "no user {}", name))
    }

    pub(super) async fn user_create(&self, name: &str) -> S3Result<Value> {
        self.meta.create_user(name).await.map_err(meta_err)?;
        let user = crate::bucket_access::user_of(name);
        Ok(json!({"name": name, "arn": user.arn, "canonical_id": user.canonical_id}))
    }

    pub(super) async fn user_list(&self) -> S3Result<Value> {
        let users = self.meta.list_users().await.map_err(meta_err)?;
        Ok(users.iter().map(user_json).collect())
    }

    pub(super) async fn user_delete(&self, name: &str) -> S3Result<Value> {
        self.meta.delete_user(name).await.map_err(meta_err)?;
        Ok(json!({"deleted": name}))
    }

    pub(super) async fn user_policy_set(
        &self,
        name: &str,
        policy: Option<&str>,
    ) -> S3Result<Value> {
        if let Some(doc) = policy {
            check_user_policy(doc)?;
        }
        self.meta
            .set_user_policy(name, policy.map(str::to_owned))
            .await
            .map_err(meta_err)?;
        // Every key of the user reads its user again.
        self.keys.forget_all();
        Ok(json!({"user": name}))
    }

    pub(super) async fn user_policy_get(&self, name: &str) -> S3Result<Value> {
        let entry = self.user_entry(name).await?;
        let doc = entry.user.policy.ok_or_else(|| {
            s3_error!(InvalidArgument, "NoSuchEntity: user {} has no policy", name)
        })?;
        serde_json::from_str(&doc).map_err(|e| s3_error!(InternalError, "stored policy: {}", e))
    }

    pub(super) async fn key_create(&self, params: &[(String, String)]) -> S3Result<Value> {
        let name = required(params, "name")?.to_owned();
        let mut grants = Vec::new();
        for (k, v) in params {
            if k == "grant" {
                let (bucket, p) = parse_grant(v)?;
                grants.retain(|(b, _)| *b != bucket);
                grants.push((bucket, p));
            }
        }
        grants.sort();
        if let Some(user) = param(params, "user") {
            if !grants.is_empty() {
                return Err(s3_error!(
                    InvalidArgument,
                    "a user's key has no grants of its own: grant them to the user (shale admin user grant)"
                ));
            }
            let key = new_key(name, Vec::new());
            self.meta
                .create_user_key(key.clone(), user)
                .await
                .map_err(meta_err)?;
            self.keys.forget(&key.access_key);
            return Ok(json!({
                "access_key": key.access_key,
                "secret_key": key.secret_key,
                "name": key.name,
                "user": user,
                "grants": [],
            }));
        }
        let key = new_key(name, grants);
        self.meta
            .put_access_key(key.clone())
            .await
            .map_err(meta_err)?;
        self.keys.forget(&key.access_key);
        Ok(json!({
            "access_key": key.access_key,
            "secret_key": key.secret_key,
            "name": key.name,
            "user": key.access_key,
            "grants": grants_json(&key),
        }))
    }

    pub(super) async fn key_list(&self) -> S3Result<Value> {
        let keys = self.meta.list_access_keys().await.map_err(meta_err)?;
        let users = self.meta.list_users().await.map_err(meta_err)?;
        Ok(keys
            .iter()
            .map(|k| {
                let of = users.iter().find_map(|u| {
                    u.keys
                        .iter()
                        .find(|(id, _)| *id == k.access_key)
                        .map(|(_, disabled)| (u, *disabled))
                });
                let (user, disabled, grants) = match of {
                    Some((u, disabled)) => (
                        Some(u.user.name.clone()),
                        disabled,
                        user_grants_json(&u.user.grants),
                    ),
                    None => (None, false, grants_json(k)),
                };
                json!({"access_key": k.access_key, "name": k.name, "user": user,
                       "disabled": disabled, "grants": grants})
            })
            .collect())
    }

    pub(super) async fn key_delete(&self, access_key: &str) -> S3Result<Value> {
        match self
            .meta
            .get_access_key(access_key)
            .await
            .map_err(meta_err)?
        {
            None => return Err(s3_error!(InvalidArgument, "no access key {}", access_key)),
            Some(k) if k.is_root() => {
                return Err(s3_error!(
                    InvalidRequest,
                    "{} is a root key; root keys come from the metadata service's configuration",
                    access_key
                ));
            }
            Some(_) => {}
        }
        self.meta
            .delete_access_key(access_key)
            .await
            .map_err(meta_err)?;
        self.keys.forget(access_key);
        Ok(json!({"deleted": access_key}))
    }

    /// A key's or a user's grant on a bucket.
    pub(super) async fn key_grant(&self, params: &[(String, String)]) -> S3Result<Value> {
        let (who, field) = match (param(params, "access_key"), param(params, "user")) {
            (Some(k), None) => (k, "access_key"),
            (None, Some(u)) => (u, "user"),
            _ => {
                return Err(s3_error!(
                    InvalidArgument,
                    "name either an access_key or a user"
                ));
            }
        };
        let bucket = required(params, "bucket")?;
        let permission = match required(params, "permission")? {
            "none" => None,
            p => Some(Permission::parse(p).ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "permission must be read, write, owner or none, not {:?}",
                    p
                )
            })?),
        };
        if field == "user" && shale_metadata::valid_user_name(who) {
            // A user's name (a key that is a user of its own is named by
            // its id): it must be one.
            self.user_entry(who).await?;
        }
        self.meta
            .set_grant(who, bucket, permission)
            .await
            .map_err(meta_err)?;
        self.keys.forget_all();
        Ok(json!({field: who, "bucket": bucket,
                  "permission": permission.map_or("none", Permission::name)}))
    }

    /// Disables or enables a key (not a root key).
    pub(super) async fn key_set_disabled(
        &self,
        access_key: &str,
        disabled: bool,
    ) -> S3Result<Value> {
        self.meta
            .set_key_disabled(access_key, disabled)
            .await
            .map_err(meta_err)?;
        self.keys.forget(access_key);
        Ok(json!({"access_key": access_key, "disabled": disabled}))
    }

    /// A new key for the user of `access_key`, which is disabled (delete
    /// it once nothing uses it; enable it again if something still did).
    pub(super) async fn key_rotate(&self, access_key: &str) -> S3Result<Value> {
        let identity = self
            .meta
            .get_identity(access_key)
            .await
            .map_err(meta_err)?
            .ok_or_else(|| s3_error!(InvalidArgument, "no access key {}", access_key))?;
        if identity.is_root() {
            return Err(s3_error!(
                InvalidRequest,
                "{} is a root key; root keys come from the metadata service's configuration",
                access_key
            ));
        }
        let user = identity.user_name().to_owned();
        let key = new_key(identity.key.name.clone(), Vec::new());
        self.meta
            .create_user_key(key.clone(), &user)
            .await
            .map_err(meta_err)?;
        self.meta
            .set_key_disabled(access_key, true)
            .await
            .map_err(meta_err)?;
        self.keys.forget(access_key);
        self.keys.forget(&key.access_key);
        Ok(json!({
            "access_key": key.access_key,
            "secret_key": key.secret_key,
            "name": key.name,
            "user": user,
            "disabled_key": access_key,
        }))
    }

    /// Every user and key owner, for the other regions' mirror.
    pub(super) async fn region_users(&self) -> S3Result<Value> {
        let users = self.meta.list_users().await.map_err(meta_err)?;
        let mut rows: Vec<User> = Vec::new();
        let mut owners: Vec<(String, KeyOwner)> = Vec::new();
        for entry in users.into_iter().filter(|u| !u.legacy) {
            for (key, disabled) in &entry.keys {
                owners.push((
                    key.clone(),
                    KeyOwner {
                        user: entry.user.name.clone(),
                        disabled: *disabled,
                    },
                ));
            }
            rows.push(entry.user);
        }
        Ok(json!({"users": rows, "owners": owners}))
    }
}
