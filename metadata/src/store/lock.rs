//! Object Lock: the bucket's lock configuration and each version's
//! retention and legal hold, changed only under the rules S3 keeps.
//!
//! The lock itself is two fields of a version's [`VersionMeta`]; every
//! removal of a version asks [`MetaStore::check_removable`]
//! (`versions.rs`), so the lock holds on every path that changes rows.

use super::*;

fn missing_configuration() -> MetaError {
    MetaError::InvalidRequest("Bucket is missing Object Lock Configuration".into())
}

/// Takes the lock CreateMultipartUpload asked for out of an upload's
/// system headers (see [`UPLOAD_LOCK_MODE`]).
pub(super) fn take_upload_lock(headers: &mut Vec<(String, String)>) -> LockRequest {
    let mut lock = LockRequest::default();
    let mut mode = None;
    let mut until = None;
    headers.retain(|(name, value)| match name.as_str() {
        UPLOAD_LOCK_MODE => {
            mode = match value.as_str() {
                "GOVERNANCE" => Some(LockMode::Governance),
                "COMPLIANCE" => Some(LockMode::Compliance),
                _ => None,
            };
            false
        }
        UPLOAD_LOCK_UNTIL => {
            until = value.parse::<i64>().ok();
            false
        }
        UPLOAD_LOCK_HOLD => {
            lock.legal_hold = value == "ON";
            false
        }
        _ => true,
    });
    if let (Some(mode), Some(until_ms)) = (mode, until) {
        lock.retention = Some(Retention { mode, until_ms });
    }
    lock
}

impl MetaStore {
    /// The bucket's Object Lock configuration; `None` if the lock is off.
    pub(super) fn object_lock(&self, bucket: &str) -> Result<Option<ObjectLockConfig>> {
        let key = keys::bucket_config_key(bucket, BucketConfigKind::ObjectLock)?;
        Ok(match self.get::<BucketConfig>(CF_BUCKET_CONFIG, &key)? {
            Some(BucketConfig::ObjectLock(c)) => Some(c),
            _ => None,
        })
    }

    /// The lock a new version of `bucket` gets: what the write asks for,
    /// else the bucket's default retention. A write that asks for a lock in
    /// a bucket without Object Lock is InvalidRequest, as in S3.
    pub(super) fn effective_lock(&self, bucket: &str, asked: &LockRequest) -> Result<LockRequest> {
        let config = self.object_lock(bucket)?;
        let Some(config) = config else {
            if asked.retention.is_some() || asked.legal_hold {
                return Err(missing_configuration());
            }
            return Ok(LockRequest::default());
        };
        Ok(LockRequest {
            retention: asked
                .retention
                .or_else(|| config.default_retention.map(|d| d.from(self.now_ms()))),
            legal_hold: asked.legal_hold,
        })
    }

    /// Whether the bucket has a replication configuration.
    fn has_replication(&self, bucket: &str) -> Result<bool> {
        let key = keys::bucket_config_key(bucket, BucketConfigKind::Replication)?;
        Ok(self.get::<BucketConfig>(CF_BUCKET_CONFIG, &key)?.is_some())
    }

    /// What a bucket configuration may not change, checked under the
    /// exclusive lock: the lock and replication need versioning Enabled,
    /// and the versioning of a locked bucket, or of one with a replication
    /// configuration, is never suspended (S3's messages).
    pub(super) fn check_config_change(&self, bucket: &str, config: &BucketConfig) -> Result<()> {
        match config {
            BucketConfig::Versioning(VersioningStatus::Suspended)
                if self.object_lock(bucket)?.is_some() =>
            {
                Err(MetaError::InvalidBucketState(
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.".into(),
                ))
            }
            BucketConfig::Versioning(VersioningStatus::Suspended)
                if self.has_replication(bucket)? =>
            {
                Err(MetaError::InvalidBucketState(
                    "A replication configuration is present on this bucket, so you cannot change the versioning state. To change the versioning state, first delete the replication configuration.".into(),
                ))
            }
            BucketConfig::Replication(_)
                if self.versioning(bucket)? != Some(VersioningStatus::Enabled) =>
            {
                Err(MetaError::InvalidRequest(
                    "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
                        .into(),
                ))
            }
            BucketConfig::ObjectLock(_)
                if self.versioning(bucket)? != Some(VersioningStatus::Enabled) =>
            {
                Err(MetaError::InvalidBucketState(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
                        .into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The version `which` names, to change in place, and whether it is
    /// the key's current one (NoSuchKey, NoSuchVersion; MethodNotAllowed for
    /// a delete marker).
    pub(super) fn version_to_change(
        &self,
        (bucket, key, okey): (&str, &str, &[u8]),
        which: VersionRef,
    ) -> Result<(ObjectVersion, bool)> {
        if let Some(c) = self.current(okey)?
            && (which == VersionRef::Latest || versions::names(which, &c))
        {
            return Ok((c, true));
        }
        if which == VersionRef::Latest {
            return Err(MetaError::NoSuchKey);
        }
        let (_, v) = self
            .find_other(bucket, key, okey, which)?
            .ok_or(MetaError::NoSuchVersion)?;
        if v.version.marker {
            return Err(MetaError::MethodNotAllowed);
        }
        Ok((v, false))
    }

    /// Writes back a version [`MetaStore::version_to_change`] found.
    pub(super) fn rewrite_version(
        &self,
        batch: &mut WriteBatch,
        (bucket, key, okey): (&str, &str, &[u8]),
        v: &ObjectVersion,
        current: bool,
    ) -> Result<()> {
        if current {
            batch.put_cf(self.cf(CF_OBJECTS)?, okey, encode(v)?);
        } else {
            let order = v.version.order(v.row.last_modified_ms);
            let vkey = keys::version_key(bucket, key, order)?;
            batch.put_cf(self.cf(CF_VERSIONS)?, vkey, encode(v)?);
        }
        Ok(())
    }

    /// Changes the lock of one version of a bucket with Object Lock, under
    /// the key's lock: `change` gets the version's [`VersionMeta`] and the
    /// time, and may refuse.
    fn change_lock(
        &self,
        (bucket, key): (&str, &str),
        which: VersionRef,
        change: impl FnOnce(&mut VersionMeta, i64) -> Result<()>,
    ) -> Result<VersionAnswer> {
        check_key(key)?;
        let okey = keys::object_key(bucket, key)?;
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        self.require_bucket(bucket)?;
        if self.object_lock(bucket)?.is_none() {
            return Err(missing_configuration());
        }
        let at = (bucket, key, okey.as_slice());
        let (mut v, current) = self.version_to_change(at, which)?;
        change(&mut v.version, self.now_ms())?;
        let mut batch = WriteBatch::default();
        self.rewrite_version(&mut batch, at, &v, current)?;
        self.enqueue_change(&mut batch, (bucket, key), &v, crate::ReplicationKind::Lock)?;
        self.write(batch)?;
        Ok(VersionAnswer {
            version_id: Some(v.version.id()),
            delete_marker: false,
        })
    }

    /// PutObjectRetention (see [`MetaRequest::SetRetention`]).
    pub fn set_retention(
        &self,
        at: (&str, &str),
        which: VersionRef,
        retention: Option<Retention>,
        bypass: bool,
    ) -> Result<VersionAnswer> {
        self.change_lock(at, which, |v, now| {
            if let Some(old) = v.retention
                && old.until_ms > now
            {
                let loosens = match retention {
                    None => true,
                    Some(new) => new.mode != old.mode || new.until_ms < old.until_ms,
                };
                let denied = match old.mode {
                    LockMode::Compliance => loosens,
                    LockMode::Governance => loosens && !bypass,
                };
                if denied {
                    return Err(MetaError::AccessDenied(
                        "Access Denied because object protected by object lock.".into(),
                    ));
                }
            }
            v.retention = retention;
            Ok(())
        })
    }

    /// PutObjectLegalHold (see [`MetaRequest::SetLegalHold`]).
    pub fn set_legal_hold(
        &self,
        at: (&str, &str),
        which: VersionRef,
        on: bool,
    ) -> Result<VersionAnswer> {
        self.change_lock(at, which, |v, _| {
            v.legal_hold = Some(on);
            Ok(())
        })
    }
}
