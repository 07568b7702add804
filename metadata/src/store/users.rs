//! Users and the owners of access keys (row format v9; see
//! `crate::types::users`). Every change takes the `\0keys` exclusive
//! stripe of the names it touches under the store's exclusive lock, as
//! users and keys share one namespace (a user name is never a key id).

use super::*;

/// The column family of users and key owners (row format v9).
pub(crate) const CF_USERS: &str = "users";

const USER: &str = "user/";
const KEY: &str = "key/";

fn user_key(name: &str) -> Result<Vec<u8>> {
    if !valid_user_name(name) {
        return Err(MetaError::InvalidArgument(format!(
            "user name {name:?}: 1 to {MAX_USER_NAME} of A-Z a-z 0-9 + = , . @ _ -"
        )));
    }
    Ok(format!("{USER}{name}").into_bytes())
}

fn owner_key(access_key: &str) -> Vec<u8> {
    format!("{KEY}{access_key}").into_bytes()
}

impl MetaStore {
    /// User `name`'s row, if it has one.
    pub fn get_user(&self, name: &str) -> Result<Option<User>> {
        if !valid_user_name(name) {
            return Ok(None);
        }
        self.get(CF_USERS, &user_key(name)?)
    }

    /// The owner row of `access_key`, if it belongs to a user.
    fn key_owner(&self, access_key: &str) -> Result<Option<KeyOwner>> {
        self.get(CF_USERS, &owner_key(access_key))
    }

    /// An access key and its user, its secret opened.
    pub fn get_identity(&self, access_key: &str) -> Result<Option<Identity>> {
        let Some(key) = self.get_access_key(access_key)? else {
            return Ok(None);
        };
        let (user, disabled) = match self.key_owner(access_key)? {
            Some(owner) => {
                // A key whose user is gone (it cannot be, but a mirror may
                // lag) has no permission at all rather than its own.
                let user = self.get_user(&owner.user)?.unwrap_or(User {
                    name: owner.user.clone(),
                    created_ms: 0,
                    grants: Vec::new(),
                    policy: None,
                });
                (Some(user), owner.disabled)
            }
            None => (None, false),
        };
        Ok(Some(Identity {
            key,
            user,
            disabled,
        }))
    }

    /// Makes user `name`.
    pub fn create_user(&self, name: &str) -> Result<()> {
        let row = user_key(name)?;
        let _g = self.exclusive();
        if self.get::<User>(CF_USERS, &row)?.is_some() {
            return Err(MetaError::InvalidRequest(format!(
                "user {name} exists already"
            )));
        }
        if self.access_key_row(name)?.is_some() {
            return Err(MetaError::InvalidRequest(format!(
                "{name} is an access key id: an access key is a user of its own"
            )));
        }
        let user = User {
            name: name.to_owned(),
            created_ms: self.now_ms(),
            grants: Vec::new(),
            policy: None,
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_USERS)?, row, encode(&user)?);
        self.write(batch)
    }

    /// Deletes user `name`; refused while it has access keys (delete them
    /// first, as IAM asks). What it owns keeps its name.
    pub fn delete_user(&self, name: &str) -> Result<()> {
        let row = user_key(name)?;
        let _g = self.exclusive();
        if self.get::<User>(CF_USERS, &row)?.is_none() {
            return Err(MetaError::InvalidArgument(
                match self.access_key_row(name)? {
                    Some(_) => format!("{name} is an access key of its own: delete the key"),
                    None => format!("no user {name}"),
                },
            ));
        }
        let keys: Vec<String> = self
            .key_owners()?
            .into_iter()
            .filter(|(_, o)| o.user == name)
            .map(|(k, _)| k)
            .collect();
        if !keys.is_empty() {
            return Err(MetaError::InvalidRequest(format!(
                "user {name} still has access keys ({}): delete them first",
                keys.join(", ")
            )));
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_USERS)?, row);
        self.write(batch)
    }

    /// Every `key/` row: access key id and owner.
    fn key_owners(&self) -> Result<Vec<(String, KeyOwner)>> {
        self.users_rows_under(KEY)
    }

    fn users_rows_under<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>> {
        let mut it = self.range_iter(CF_USERS, prefix.as_bytes())?;
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            out.push((name, decode(v, CF_USERS)?));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Every user by name, with its keys; an access key that is a user of
    /// its own (not a root key) is listed as one, named after it.
    pub fn list_users(&self) -> Result<Vec<UserEntry>> {
        let owners = self.key_owners()?;
        let mut out: Vec<UserEntry> = self
            .users_rows_under::<User>(USER)?
            .into_iter()
            .map(|(_, user)| {
                let keys = owners
                    .iter()
                    .filter(|(_, o)| o.user == user.name)
                    .map(|(k, o)| (k.clone(), o.disabled))
                    .collect();
                UserEntry {
                    user,
                    keys,
                    legacy: false,
                }
            })
            .collect();
        for key in self.access_key_rows()? {
            let Some(grants) = key.grants else { continue };
            if owners.iter().any(|(k, _)| *k == key.access_key) {
                continue;
            }
            out.push(UserEntry {
                user: User {
                    name: key.access_key.clone(),
                    created_ms: 0,
                    grants,
                    policy: None,
                },
                keys: vec![(key.access_key, false)],
                legacy: true,
            });
        }
        out.sort_by(|a, b| a.user.name.cmp(&b.user.name));
        Ok(out)
    }

    /// The user named `name` as rows to change: its row, or, for an access
    /// key of its own, the user it becomes (named after the key, with the
    /// key's grants) and the key's rows to write with it into `batch`.
    /// `InvalidArgument` when there is neither; `InvalidRequest` for a
    /// root key. The caller holds the exclusive lock.
    fn adopt(&self, name: &str, batch: &mut WriteBatch) -> Result<User> {
        if let Some(user) = self.get_user(name)? {
            return Ok(user);
        }
        let Some(mut key) = self.access_key_row(name)? else {
            return Err(MetaError::InvalidArgument(format!("no user {name}")));
        };
        if self.key_owner(name)?.is_some() {
            // A key of another user: not a user name.
            return Err(MetaError::InvalidArgument(format!("no user {name}")));
        }
        let Some(grants) = key.grants.replace(Vec::new()) else {
            return Err(MetaError::InvalidRequest(format!(
                "{name} is a root key: it is no user"
            )));
        };
        user_key(name)?;
        let user = User {
            name: name.to_owned(),
            created_ms: 0,
            grants,
            policy: None,
        };
        let owner = KeyOwner {
            user: name.to_owned(),
            disabled: false,
        };
        batch.put_cf(self.cf(CF_ACCESS_KEYS)?, name, encode(&key)?);
        batch.put_cf(self.cf(CF_USERS)?, owner_key(name), encode(&owner)?);
        Ok(user)
    }

    fn put_user(&self, batch: &mut WriteBatch, user: &User) -> Result<()> {
        batch.put_cf(self.cf(CF_USERS)?, user_key(&user.name)?, encode(user)?);
        Ok(())
    }

    /// Sets or deletes user `name`'s IAM policy.
    pub fn set_user_policy(&self, name: &str, policy: Option<&str>) -> Result<()> {
        let _g = self.exclusive();
        let mut batch = WriteBatch::default();
        let mut user = self.adopt(name, &mut batch)?;
        user.policy = policy.map(str::to_owned);
        self.put_user(&mut batch, &user)?;
        self.write(batch)
    }

    /// Stores `key` as a key of user `user`.
    pub fn create_user_key(&self, key: &AccessKey, user: &str) -> Result<()> {
        if key.access_key.is_empty() || !key.grants.as_ref().is_some_and(Vec::is_empty) {
            return Err(MetaError::InvalidArgument(
                "a user's key has an id and no grants of its own".into(),
            ));
        }
        let _g = self.exclusive();
        if self.access_key_row(&key.access_key)?.is_some()
            || self.get_user(&key.access_key)?.is_some()
        {
            return Err(MetaError::InvalidRequest(format!(
                "access key {} exists already",
                key.access_key
            )));
        }
        let mut batch = WriteBatch::default();
        let owner = self.adopt(user, &mut batch)?;
        self.put_user(&mut batch, &owner)?;
        let mut key = key.clone();
        self.seal_secret(&mut key);
        batch.put_cf(self.cf(CF_ACCESS_KEYS)?, &key.access_key, encode(&key)?);
        let row = KeyOwner {
            user: owner.name,
            disabled: false,
        };
        batch.put_cf(
            self.cf(CF_USERS)?,
            owner_key(&key.access_key),
            encode(&row)?,
        );
        self.write(batch)
    }

    /// Disables or enables `access_key` (a key of its own becomes a user
    /// first).
    pub fn set_key_disabled(&self, access_key: &str, disabled: bool) -> Result<()> {
        let _g = self.exclusive();
        let mut batch = WriteBatch::default();
        let mut owner = match self.key_owner(access_key)? {
            Some(o) => o,
            None => {
                let user = self.adopt(access_key, &mut batch)?;
                self.put_user(&mut batch, &user)?;
                KeyOwner {
                    user: user.name,
                    disabled: false,
                }
            }
        };
        owner.disabled = disabled;
        batch.put_cf(self.cf(CF_USERS)?, owner_key(access_key), encode(&owner)?);
        self.write(batch)
    }

    /// The user whose grants `name` (an access key id or a user name)
    /// stands for, if it has `users` rows: [`MetaStore::set_grant`] changes
    /// that user's grants.
    pub(super) fn granted_user(&self, name: &str) -> Result<Option<User>> {
        match self.key_owner(name)? {
            Some(owner) => Ok(Some(self.get_user(&owner.user)?.unwrap_or(User {
                name: owner.user,
                created_ms: 0,
                grants: Vec::new(),
                policy: None,
            }))),
            None if self.access_key_row(name)?.is_none() => self.get_user(name),
            None => Ok(None),
        }
    }

    /// Writes `user` with `bucket`'s grant set to `permission`.
    pub(super) fn set_user_grant(
        &self,
        mut user: User,
        bucket: &str,
        permission: Option<Permission>,
    ) -> Result<()> {
        user.grants.retain(|(b, _)| b != bucket);
        if let Some(p) = permission {
            user.grants.push((bucket.to_owned(), p));
            user.grants.sort();
        }
        let mut batch = WriteBatch::default();
        self.put_user(&mut batch, &user)?;
        self.write(batch)
    }

    /// The grants on deleted bucket `bucket` taken from every user, into
    /// `batch`.
    pub(super) fn drop_user_grants(&self, bucket: &str, batch: &mut WriteBatch) -> Result<()> {
        for (_, mut user) in self.users_rows_under::<User>(USER)? {
            if user.grants.iter().any(|(b, _)| b == bucket) {
                user.grants.retain(|(b, _)| b != bucket);
                self.put_user(batch, &user)?;
            }
        }
        Ok(())
    }

    /// Deletes `access_key`'s owner row with the key, into `batch`.
    pub(super) fn drop_key_owner(&self, access_key: &str, batch: &mut WriteBatch) -> Result<()> {
        batch.delete_cf(self.cf(CF_USERS)?, owner_key(access_key));
        Ok(())
    }

    /// Replaces every user and key owner with `users` and `owners`.
    pub fn replace_users(&self, users: &[User], owners: &[(String, KeyOwner)]) -> Result<()> {
        let _g = self.exclusive();
        let cf = self.cf(CF_USERS)?;
        let mut batch = WriteBatch::default();
        for (name, _) in self.users_rows_under::<User>(USER)? {
            if !users.iter().any(|u| u.name == name) {
                batch.delete_cf(cf, user_key(&name)?);
            }
        }
        for (key, _) in self.key_owners()? {
            if !owners.iter().any(|(k, _)| *k == key) {
                batch.delete_cf(cf, owner_key(&key));
            }
        }
        for user in users {
            self.put_user(&mut batch, user)?;
        }
        for (key, owner) in owners {
            batch.put_cf(cf, owner_key(key), encode(owner)?);
        }
        self.write(batch)
    }

    /// [`Self::execute`] for users.
    pub(super) fn execute_users(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::GetIdentity { access_key } => R::MaybeIdentity(self.get_identity(&access_key)?),
            Q::CreateUser { name } => {
                self.create_user(&name)?;
                R::Unit
            }
            Q::DeleteUser { name } => {
                self.delete_user(&name)?;
                R::Unit
            }
            Q::ListUsers => R::Users(self.list_users()?),
            Q::SetUserPolicy { name, policy } => {
                self.set_user_policy(&name, policy.as_deref())?;
                R::Unit
            }
            Q::CreateUserKey { key, user } => {
                self.create_user_key(&key, &user)?;
                R::Unit
            }
            Q::SetKeyDisabled {
                access_key,
                disabled,
            } => {
                self.set_key_disabled(&access_key, disabled)?;
                R::Unit
            }
            Q::ReplaceUsers { users, owners } => {
                self.replace_users(&users, &owners)?;
                R::Unit
            }
            _ => return Err(misrouted()),
        })
    }
}
