//! Access keys: their rows (secrets sealed at rest under the secrets key,
//! `shale_common::sealing`) and their per-bucket grants; a key that belongs
//! to a user stands for it (`users.rs`).

use super::*;

impl MetaStore {
    /// Inserts or replaces an access key; its secret is stored sealed
    /// when this store has a secrets key ([`MetaStore::set_sealing`]).
    pub fn put_access_key(&self, key: &AccessKey) -> Result<()> {
        if key.access_key.is_empty() {
            return Err(MetaError::InvalidArgument("empty access key".into()));
        }
        let mut key = key.clone();
        self.seal_secret(&mut key);
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_ACCESS_KEYS)?, &key.access_key, encode(&key)?);
        self.write(batch)
    }

    /// The access key, if it exists, its secret opened.
    pub fn get_access_key(&self, access_key: &str) -> Result<Option<AccessKey>> {
        self.access_key_row(access_key)?
            .map(|k| self.opened(k))
            .transpose()
    }

    /// Every access key, sorted by id, their secrets opened.
    pub fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
        self.access_key_rows()?
            .into_iter()
            .map(|k| self.opened(k))
            .collect()
    }

    /// An access key's row as stored (its secret sealed, or in the clear
    /// for rows from before sealing).
    pub(crate) fn access_key_row(&self, access_key: &str) -> Result<Option<AccessKey>> {
        self.get(CF_ACCESS_KEYS, access_key.as_bytes())
    }

    /// Every access key's row as stored.
    pub(crate) fn access_key_rows(&self) -> Result<Vec<AccessKey>> {
        self.all_rows(CF_ACCESS_KEYS)
    }

    /// Gives the store the secrets key it seals access-key secrets under
    /// (set once, before the store serves; see `shale_common::sealing`).
    pub fn set_sealing(&self, keys: SealingKeys) {
        *self.sealing.write().unwrap_or_else(|e| e.into_inner()) = Some(keys);
    }

    /// Seals `key`'s secret under the sealing key, when this store has one
    /// and the secret is in the clear or sealed under another key (opened
    /// first; one that does not open is left as it is).
    pub fn seal_secret(&self, key: &mut AccessKey) {
        let guard = self.sealing.read().unwrap_or_else(|e| e.into_inner());
        let Some(keys) = guard.as_ref() else { return };
        if !keys.needs_sealing(&key.secret_key) {
            return;
        }
        let plain = if sealing::is_sealed(&key.secret_key) {
            match keys.open(&key.secret_key, &key.access_key) {
                Ok(p) => p,
                Err(_) => return,
            }
        } else {
            std::mem::take(&mut key.secret_key)
        };
        key.secret_key = keys.seal(&plain, &key.access_key);
    }

    /// `key` with its secret in the clear.
    fn opened(&self, mut key: AccessKey) -> Result<AccessKey> {
        if !sealing::is_sealed(&key.secret_key) {
            return Ok(key);
        }
        let guard = self.sealing.read().unwrap_or_else(|e| e.into_inner());
        let keys = guard.as_ref().ok_or_else(|| {
            MetaError::Internal(format!(
                "access key {}: its secret is sealed and this replica has no secrets key",
                key.access_key
            ))
        })?;
        key.secret_key = keys
            .open(&key.secret_key, &key.access_key)
            .map_err(|e| MetaError::Internal(format!("access key {}: {e}", key.access_key)))?;
        Ok(key)
    }

    /// Seals every secret stored in the clear (rows from before sealing,
    /// or brought by a snapshot or log entry from before it) or under a
    /// secrets key other than the sealing one. Run when the store opens,
    /// before it serves: the rows keep what they mean, only their bytes
    /// change. Returns how many rows it rewrote.
    pub fn reseal_access_keys(&self) -> Result<usize> {
        let _g = self.exclusive();
        let keys_cf = self.cf(CF_ACCESS_KEYS)?;
        let mut batch = WriteBatch::default();
        let mut n = 0;
        for mut key in self.access_key_rows()? {
            let before = key.secret_key.clone();
            self.seal_secret(&mut key);
            if key.secret_key != before {
                batch.put_cf(keys_cf, key.access_key.as_bytes(), encode(&key)?);
                n += 1;
            }
        }
        if n > 0 {
            self.write(batch)?;
            // The rows' older, clear versions go from the files too (the
            // memtable flushed, the family compacted; the WAL that held
            // them is dropped once flushed).
            self.db.flush_cf(keys_cf)?;
            let mut opts = rocksdb::CompactOptions::default();
            opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
            self.db
                .compact_range_cf_opt(keys_cf, None::<&[u8]>, None::<&[u8]>, &opts);
        }
        Ok(n)
    }

    /// Deletes an access key; `InvalidArgument` when there is none.
    pub fn delete_access_key(&self, access_key: &str) -> Result<()> {
        let _g = self.stripe("\0keys", access_key);
        if self.access_key_row(access_key)?.is_none() {
            return Err(MetaError::InvalidArgument(format!(
                "no access key {access_key}"
            )));
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_ACCESS_KEYS)?, access_key);
        self.drop_key_owner(access_key, &mut batch)?;
        self.write(batch)
    }

    /// Gives `access_key` `permission` on `bucket` (replacing what it had),
    /// or takes it away (`None`). A key that belongs to a user stands for
    /// it: the user's grant changes; so does the grant of a user named
    /// `access_key`. A root key has every permission already:
    /// `InvalidRequest`. The bucket need not exist (a grant may come first).
    pub fn set_grant(
        &self,
        access_key: &str,
        bucket: &str,
        permission: Option<Permission>,
    ) -> Result<()> {
        keys::bucket_prefix(bucket)?;
        let _g = self.stripe("\0keys", access_key);
        if let Some(user) = self.granted_user(access_key)? {
            return self.set_user_grant(user, bucket, permission);
        }
        let mut key = self
            .access_key_row(access_key)?
            .ok_or_else(|| MetaError::InvalidArgument(format!("no access key {access_key}")))?;
        let Some(grants) = key.grants.as_mut() else {
            return Err(MetaError::InvalidRequest(format!(
                "{access_key} is a root key: it has every permission"
            )));
        };
        grants.retain(|(b, _)| b != bucket);
        if let Some(p) = permission {
            grants.push((bucket.to_owned(), p));
            grants.sort();
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_ACCESS_KEYS)?, access_key, encode(&key)?);
        self.write(batch)
    }
}
