//! Object versions: how a write, a delete and a read find and change the
//! versions of a key (row format v7).
//!
//! A key's versions live in two column families:
//! - `objects` holds the key's current version when it is an object (not a
//!   delete marker). Unversioned buckets only ever use this one, so their
//!   writes, reads and listings cost what they did before versions.
//! - `versions` holds every other version, newest first within the key:
//!   the noncurrent versions and the delete markers (so also the latest
//!   version when that is a marker).
//!
//! `null_versions` points at the key's null version while it is in
//! `versions`. Every change of a key's versions happens under the key's
//! lock, in one batch; [`MetaStore::check_removable`] is asked before any
//! version goes for good, so no path removes a locked version.

use super::*;

/// The key's versions that are not current, and delete markers.
pub(crate) const CF_VERSIONS: &str = "versions";
/// `objects` key → order (u64 BE) of the key's null version in `versions`.
pub(crate) const CF_NULL_VERSIONS: &str = "null_versions";

/// The encoding of [`VersionMeta::LEGACY`]: `seq` 0, `null` true, then
/// `marker`, `noncurrent_ms`, `retention` and `legal_hold` at their
/// defaults, one byte each (objects: row format v7).
pub(super) const V7_VERSION: &[u8] = &[0x00, 0x01, 0x00, 0x00, 0x00, 0x00];

/// The id a bucket answers for `meta`: none in a bucket that never had
/// versioning.
fn id_in(status: Option<VersioningStatus>, meta: &VersionMeta) -> Option<String> {
    status.map(|_| meta.id())
}

/// Whether `which` names `v` (never `Latest`).
pub(super) fn names(which: VersionRef, v: &ObjectVersion) -> bool {
    match which {
        VersionRef::Latest => false,
        VersionRef::Null => v.version.null,
        VersionRef::Id(seq) => !v.version.null && v.version.seq == seq,
    }
}

/// The reference a removal by id uses for `v`.
fn id_ref(v: &ObjectVersion) -> VersionRef {
    if v.version.null {
        VersionRef::Null
    } else {
        VersionRef::Id(v.version.seq)
    }
}

/// The order of a `versions` row from its key (`prefix` is the key's
/// [`keys::key_versions_prefix`]).
fn order_in(raw: &[u8], prefix: &[u8]) -> Result<u64> {
    raw.get(prefix.len()..)
        .and_then(|t| <[u8; 8]>::try_from(t).ok())
        .map(|t| !u64::from_be_bytes(t))
        .ok_or_else(|| MetaError::Internal("corrupt versions key".into()))
}

impl MetaStore {
    /// [`MetaStore::execute`] for the requests that name versions.
    pub(super) fn execute_version(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::WriteObject {
                bucket,
                key,
                row,
                if_none_match,
                if_match,
                lock,
            } => {
                let conditions = (if_none_match, if_match.as_deref());
                R::Written(self.write_object(&bucket, &key, row, conditions, &lock)?.0)
            }
            Q::GetVersion {
                bucket,
                key,
                version,
            } => R::Version(self.get_version(&bucket, &key, version)?),
            Q::DeleteVersion {
                bucket,
                key,
                version,
                bypass_governance,
                owner,
            } => {
                R::Removed(self.delete_version(&bucket, &key, version, bypass_governance, owner)?)
            }
            Q::FinishUpload {
                bucket,
                key,
                upload_id,
                parts,
                checks,
                if_none_match,
            } => R::Written(self.finish_upload(
                &bucket,
                &key,
                &upload_id,
                &parts,
                &checks,
                if_none_match,
            )?),
            Q::PutVersionTags {
                bucket,
                key,
                version,
                tags,
            } => R::Removed(self.put_version_tags(&bucket, &key, version, tags)?),
            Q::PutVersionAcl {
                bucket,
                key,
                version,
                acl,
            } => R::Removed(self.put_version_acl(&bucket, &key, version, acl)?),
            Q::ListVersions {
                bucket,
                prefix,
                delimiter,
                key_marker,
                version_marker,
                max_keys,
            } => R::Versions(self.list_versions(
                &bucket,
                &prefix,
                delimiter.as_deref(),
                key_marker.as_deref(),
                version_marker,
                max_keys,
            )?),
            Q::SetRetention {
                bucket,
                key,
                version,
                retention,
                bypass_governance,
            } => R::Removed(self.set_retention(
                (&bucket, &key),
                version,
                retention,
                bypass_governance,
            )?),
            Q::SetLegalHold {
                bucket,
                key,
                version,
                on,
            } => R::Removed(self.set_legal_hold((&bucket, &key), version, on)?),
            Q::Expire {
                bucket,
                key,
                order,
                action,
            } => R::Removed(self.expire((&bucket, &key), order, action)?),
            _ => return Err(super::misrouted()),
        })
    }

    /// The bucket's versioning state; `None` if it never had one.
    pub(super) fn versioning(&self, bucket: &str) -> Result<Option<VersioningStatus>> {
        let key = keys::bucket_config_key(bucket, BucketConfigKind::Versioning)?;
        Ok(match self.get::<BucketConfig>(CF_BUCKET_CONFIG, &key)? {
            Some(BucketConfig::Versioning(s)) => Some(s),
            _ => None,
        })
    }

    /// The key's current version, if it is an object.
    pub(super) fn current(&self, okey: &[u8]) -> Result<Option<ObjectVersion>> {
        self.get(CF_OBJECTS, okey)
    }

    /// The newest of the key's rows in `versions`, with its order.
    pub(super) fn newest_other(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(u64, ObjectVersion)>> {
        let prefix = keys::key_versions_prefix(bucket, key)?;
        let mut it = self.range_iter(CF_VERSIONS, &prefix)?;
        it.seek_to_first();
        if let (Some(k), Some(v)) = (it.key(), it.value()) {
            return Ok(Some((order_in(k, &prefix)?, decode(v, CF_VERSIONS)?)));
        }
        it.status()?;
        Ok(None)
    }

    /// The version `which` names among the key's rows in `versions`.
    pub(super) fn find_other(
        &self,
        bucket: &str,
        key: &str,
        okey: &[u8],
        which: VersionRef,
    ) -> Result<Option<(u64, ObjectVersion)>> {
        let order = match which {
            VersionRef::Latest => return Ok(None),
            VersionRef::Id(seq) => seq,
            VersionRef::Null => {
                let Some(raw) = self.get_pinned(CF_NULL_VERSIONS, okey)? else {
                    return Ok(None);
                };
                let raw: [u8; 8] = raw[..]
                    .try_into()
                    .map_err(|_| MetaError::Internal("corrupt null_versions row".into()))?;
                u64::from_be_bytes(raw)
            }
        };
        let found =
            self.get::<ObjectVersion>(CF_VERSIONS, &keys::version_key(bucket, key, order)?)?;
        Ok(found.filter(|v| names(which, v)).map(|v| (order, v)))
    }

    /// Object Lock: `AccessDenied` while `v` is under legal hold or
    /// retention (GOVERNANCE yields to `bypass`; COMPLIANCE to nothing).
    pub(super) fn check_removable(&self, v: &ObjectVersion, bypass: bool) -> Result<()> {
        let denied = || {
            Err(MetaError::AccessDenied(
                "Access Denied because object protected by object lock.".into(),
            ))
        };
        if v.version.legal_hold == Some(true) {
            return denied();
        }
        match v.version.retention {
            Some(r) if r.until_ms > self.now_ms() => match r.mode {
                LockMode::Compliance => denied(),
                LockMode::Governance if !bypass => denied(),
                LockMode::Governance => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Moves `cur`, the key's current version, to `versions`: it stops
    /// being current now.
    pub(super) fn demote(
        &self,
        batch: &mut WriteBatch,
        (bucket, key, okey): (&str, &str, &[u8]),
        mut cur: ObjectVersion,
    ) -> Result<()> {
        let order = cur.version.order(cur.row.last_modified_ms);
        cur.version.seq = order;
        cur.version.noncurrent_ms = self.now_ms();
        batch.put_cf(
            self.cf(CF_VERSIONS)?,
            keys::version_key(bucket, key, order)?,
            encode(&cur)?,
        );
        if cur.version.null {
            batch.put_cf(self.cf(CF_NULL_VERSIONS)?, okey, order.to_be_bytes());
        }
        Ok(())
    }

    /// Once the key's latest version is removed (its row deleted in
    /// `batch`; `skip` is its order if it was in `versions`): the newest
    /// remaining version becomes current if it is an object (a marker stays
    /// where it is, the key's latest).
    fn promote_next(
        &self,
        batch: &mut WriteBatch,
        (bucket, key, okey): (&str, &str, &[u8]),
        skip: Option<u64>,
    ) -> Result<()> {
        let prefix = keys::key_versions_prefix(bucket, key)?;
        let mut it = self.range_iter(CF_VERSIONS, &prefix)?;
        it.seek_to_first();
        let mut next = None;
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let order = order_in(k, &prefix)?;
            if Some(order) != skip {
                next = Some((order, decode::<ObjectVersion>(v, CF_VERSIONS)?));
                break;
            }
            it.next();
        }
        it.status()?;
        if let Some((order, mut next)) = next
            && !next.version.marker
        {
            batch.delete_cf(
                self.cf(CF_VERSIONS)?,
                keys::version_key(bucket, key, order)?,
            );
            if next.version.null {
                batch.delete_cf(self.cf(CF_NULL_VERSIONS)?, okey);
            }
            next.version.noncurrent_ms = 0;
            batch.put_cf(self.cf(CF_OBJECTS)?, okey, encode(&next)?);
        }
        Ok(())
    }

    /// Makes `row` the key's latest version, under the key's lock, once the
    /// write's conditions hold: the heart of every write and of a DELETE
    /// that adds a marker. Unversioned: `cur` is replaced (its chunks no
    /// longer used go to GC). Enabled: `cur` becomes noncurrent. Suspended:
    /// the new version is the null version, replacing the old one wherever
    /// it is. Returns the new version and the row it replaced for good.
    #[allow(clippy::too_many_arguments, reason = "one write's whole context")]
    pub(super) fn install(
        &self,
        batch: &mut WriteBatch,
        (bucket, key, okey): (&str, &str, &[u8]),
        status: Option<VersioningStatus>,
        cur: Option<ObjectVersion>,
        mut row: ObjectRow,
        marker: bool,
        lock: &LockRequest,
    ) -> Result<(VersionMeta, Option<ObjectRow>)> {
        let mut newest = cur
            .as_ref()
            .map_or(0, |c| c.version.order(c.row.last_modified_ms));
        if status.is_some()
            && let Some((order, _)) = self.newest_other(bucket, key)?
        {
            newest = newest.max(order);
        }
        let meta = VersionMeta {
            seq: seq_at(row.last_modified_ms.max(self.now_ms())).max(newest + 1),
            null: status != Some(VersioningStatus::Enabled),
            marker,
            noncurrent_ms: 0,
            retention: lock.retention,
            legal_hold: lock.legal_hold.then_some(true),
        };
        // Its replication task, in this same batch.
        self.enqueue_replication(batch, (bucket, key), &mut row, meta.seq, marker)?;
        let live = row.data.chunks();
        let mut replaced = None;
        if let Some(c) = cur {
            self.forget_completion(batch, &c.row, okey)?;
            if status.is_none() || (meta.null && c.version.null) {
                self.check_removable(&c, false)?;
                self.queue_gc(batch, &unreferenced(c.row.data.chunks(), &live))?;
                replaced = Some(c.row);
            } else {
                self.demote(batch, (bucket, key, okey), c)?;
            }
            if marker {
                batch.delete_cf(self.cf(CF_OBJECTS)?, okey);
            }
        }
        if meta.null
            && status.is_some()
            && let Some((order, old)) = self.find_other(bucket, key, okey, VersionRef::Null)?
        {
            self.check_removable(&old, false)?;
            batch.delete_cf(
                self.cf(CF_VERSIONS)?,
                keys::version_key(bucket, key, order)?,
            );
            batch.delete_cf(self.cf(CF_NULL_VERSIONS)?, okey);
            self.queue_gc(batch, &old.row.data.chunks())?;
        }
        let stored = ObjectVersion {
            row,
            version: meta.clone(),
        };
        if marker {
            batch.put_cf(
                self.cf(CF_VERSIONS)?,
                keys::version_key(bucket, key, meta.seq)?,
                encode(&stored)?,
            );
            if meta.null {
                batch.put_cf(self.cf(CF_NULL_VERSIONS)?, okey, meta.seq.to_be_bytes());
            }
        } else {
            batch.put_cf(self.cf(CF_OBJECTS)?, okey, encode(&stored)?);
        }
        Ok((meta, replaced))
    }

    /// Writes `row` as the key's new latest version (see
    /// [`MetaRequest::WriteObject`]); `If-None-Match: *` and `If-Match` act
    /// on the current version (a delete marker is none).
    pub fn write_object(
        &self,
        bucket: &str,
        key: &str,
        row: ObjectRow,
        (if_none_match, if_match): (bool, Option<&str>),
        lock: &LockRequest,
    ) -> Result<(WriteAnswer, Option<ObjectRow>)> {
        check_key(key)?;
        check_tags(&row.tags)?;
        let okey = keys::object_key(bucket, key)?;
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        self.require_bucket(bucket)?;
        let status = self.versioning(bucket)?;
        let lock = self.effective_lock(bucket, lock)?;
        let cur = self.current(&okey)?;
        if if_none_match && cur.is_some() {
            return Err(MetaError::PreconditionFailed);
        }
        check_if_match(cur.as_ref().map(|c| &c.row), if_match)?;
        let mut batch = WriteBatch::default();
        let answered = row.without_body();
        let (meta, replaced) = self.install(
            &mut batch,
            (bucket, key, &okey),
            status,
            cur,
            row,
            false,
            &lock,
        )?;
        self.write(batch)?;
        let answer = WriteAnswer {
            row: answered,
            version_id: id_in(status, &meta),
        };
        Ok((answer, replaced))
    }

    /// The version `which` names: `Latest` is the current object, or the
    /// delete marker that is the key's latest version (NoSuchKey when there
    /// is neither); a version id or `Null` names one version, markers too
    /// (NoSuchVersion).
    pub fn get_version(&self, bucket: &str, key: &str, which: VersionRef) -> Result<VersionView> {
        check_key(key)?;
        let okey = keys::object_key(bucket, key)?;
        let cur = self.current(&okey)?;
        let found = match (which, cur) {
            (VersionRef::Latest, Some(c)) => Some(c),
            (_, Some(c)) if names(which, &c) => Some(c),
            _ => None,
        };
        let status = self.versioning(bucket)?;
        let found = match found {
            Some(f) => Some(f),
            None if status.is_none() && which == VersionRef::Latest => None,
            None if which == VersionRef::Latest => self
                .newest_other(bucket, key)?
                .map(|(_, v)| v)
                .filter(|v| v.version.marker),
            None => self.find_other(bucket, key, &okey, which)?.map(|(_, v)| v),
        };
        match found {
            Some(object) => Ok(VersionView {
                version_id: id_in(status, &object.version),
                object,
            }),
            None => {
                self.require_bucket(bucket)?;
                Err(match which {
                    VersionRef::Latest => MetaError::NoSuchKey,
                    _ => MetaError::NoSuchVersion,
                })
            }
        }
    }

    /// DeleteObject: `Latest` deletes the object of an unversioned bucket
    /// or adds a delete marker (written by `owner`) to a versioned one; a
    /// version id or `Null` removes that version for good unless Object
    /// Lock keeps it (`bypass`: GOVERNANCE is bypassed), and removing the
    /// current version makes the next one current. A version that does not
    /// exist is success, as in S3.
    pub fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        which: VersionRef,
        bypass: bool,
        owner: Option<String>,
    ) -> Result<VersionAnswer> {
        check_key(key)?;
        let okey = keys::object_key(bucket, key)?;
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        self.delete_version_locked((bucket, key, &okey), which, bypass, owner)
    }

    /// [`MetaStore::delete_version`], under the key's lock already held.
    fn delete_version_locked(
        &self,
        (bucket, key, okey): (&str, &str, &[u8]),
        which: VersionRef,
        bypass: bool,
        owner: Option<String>,
    ) -> Result<VersionAnswer> {
        let okey = okey.to_vec();
        self.require_bucket(bucket)?;
        let status = self.versioning(bucket)?;
        let cur = self.current(&okey)?;
        let mut batch = WriteBatch::default();
        if which == VersionRef::Latest {
            if status.is_none() {
                if let Some(c) = cur {
                    batch.delete_cf(self.cf(CF_OBJECTS)?, &okey);
                    self.queue_gc(&mut batch, &c.row.data.chunks())?;
                    self.forget_completion(&mut batch, &c.row, &okey)?;
                    self.write(batch)?;
                }
                return Ok(VersionAnswer::default());
            }
            let row = ObjectRow::delete_marker(self.now_ms(), owner);
            let lock = LockRequest::default();
            let (meta, _) = self.install(
                &mut batch,
                (bucket, key, &okey),
                status,
                cur,
                row,
                true,
                &lock,
            )?;
            self.write(batch)?;
            return Ok(VersionAnswer {
                version_id: Some(meta.id()),
                delete_marker: true,
            });
        }
        let (target, is_current) = match cur.clone() {
            Some(c) if names(which, &c) => (c, true),
            _ => match self.find_other(bucket, key, &okey, which)? {
                Some((_, v)) => (v, false),
                None => {
                    return Ok(VersionAnswer {
                        version_id: Some(match which {
                            VersionRef::Id(seq) => version_id(seq),
                            _ => "null".to_owned(),
                        }),
                        delete_marker: false,
                    });
                }
            },
        };
        self.check_removable(&target, bypass)?;
        let order = target.version.order(target.row.last_modified_ms);
        if is_current {
            batch.delete_cf(self.cf(CF_OBJECTS)?, &okey);
            self.forget_completion(&mut batch, &target.row, &okey)?;
            self.promote_next(&mut batch, (bucket, key, &okey), None)?;
        } else {
            batch.delete_cf(
                self.cf(CF_VERSIONS)?,
                keys::version_key(bucket, key, order)?,
            );
            if target.version.null {
                batch.delete_cf(self.cf(CF_NULL_VERSIONS)?, &okey);
            }
            // The latest version was a marker, and it is gone: the next
            // one is the latest now.
            let was_latest = self
                .newest_other(bucket, key)?
                .is_some_and(|(newest, _)| newest == order);
            if cur.is_none() && was_latest {
                self.promote_next(&mut batch, (bucket, key, &okey), Some(order))?;
            }
        }
        self.queue_gc(&mut batch, &target.row.data.chunks())?;
        self.write(batch)?;
        Ok(VersionAnswer {
            version_id: Some(target.version.id()),
            delete_marker: target.version.marker,
        })
    }

    /// Replaces the tags of one version (`Latest`: the current object),
    /// leaving everything else as it is (NoSuchKey, NoSuchVersion;
    /// MethodNotAllowed for a delete marker).
    pub fn put_version_tags(
        &self,
        bucket: &str,
        key: &str,
        which: VersionRef,
        tags: Vec<(String, String)>,
    ) -> Result<VersionAnswer> {
        check_tags(&tags)?;
        self.change_version(
            (bucket, key, which),
            |v| v.row.tags = tags,
            Some(crate::ReplicationKind::Tags),
        )
    }

    /// Changes one version's row in place with `change` (never a delete
    /// marker), queueing the change for replication as `replicate`.
    fn change_version(
        &self,
        (bucket, key, which): (&str, &str, VersionRef),
        change: impl FnOnce(&mut ObjectVersion),
        replicate: Option<crate::ReplicationKind>,
    ) -> Result<VersionAnswer> {
        check_key(key)?;
        let okey = keys::object_key(bucket, key)?;
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        self.require_bucket(bucket)?;
        let status = self.versioning(bucket)?;
        let at = (bucket, key, okey.as_slice());
        let (mut v, current) = self.version_to_change(at, which)?;
        change(&mut v);
        let mut batch = WriteBatch::default();
        self.rewrite_version(&mut batch, at, &v, current)?;
        if let Some(kind) = replicate {
            self.enqueue_change(&mut batch, (bucket, key), &v, kind)?;
        }
        self.write(batch)?;
        Ok(VersionAnswer {
            version_id: id_in(status, &v.version),
            delete_marker: false,
        })
    }

    /// Sets (`None`: removes) the ACL of one version, kept in its system
    /// headers ([`crate::OBJECT_ACL`]); not replicated (as S3 replicates
    /// no ACL change).
    pub fn put_version_acl(
        &self,
        bucket: &str,
        key: &str,
        which: VersionRef,
        acl: Option<String>,
    ) -> Result<VersionAnswer> {
        let change = |v: &mut ObjectVersion| {
            v.row.system_headers.retain(|(k, _)| k != crate::OBJECT_ACL);
            if let Some(acl) = acl {
                v.row
                    .system_headers
                    .push((crate::OBJECT_ACL.to_owned(), acl));
            }
        };
        self.change_version((bucket, key, which), change, None)
    }

    /// ListObjectVersions: the versions and delete markers of keys with
    /// `prefix`, keys in order and each key's newest first, resuming
    /// strictly after (`key_marker`, `version_marker`); rolled up by
    /// `delimiter` as ListObjects does. Walks `objects` and `versions`
    /// side by side: a key's current object comes before its other rows.
    pub fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<VersionRef>,
        max_keys: u32,
    ) -> Result<ListVersionsResult> {
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let bp_len = keys::bucket_prefix(bucket)?.len();
        self.require_bucket(bucket)?;
        let status = self.versioning(bucket)?;
        let mut out = ListVersionsResult::default();
        let max = max_keys.min(MAX_LIST) as usize;
        if max == 0 {
            return Ok(out);
        }
        let obj_lower = keys::object_key(bucket, prefix)?;
        let ver_lower = keys::versions_prefix(bucket, prefix)?;
        let mut objs = self.range_iter(CF_OBJECTS, &obj_lower)?;
        let mut vers = self.range_iter(CF_VERSIONS, &ver_lower)?;
        objs.seek(&obj_lower);
        vers.seek(&ver_lower);
        // Versions of the marker's key at or newer than this are skipped.
        let mut skip_current_of: Option<(String, u64)> = None;
        if let Some(km) = key_marker.filter(|k| !k.is_empty()) {
            let whole_prefix = delimiter
                .and_then(|d| keys::common_prefix(km, prefix, d))
                .is_some_and(|cp| cp == km);
            let marker_order = match version_marker {
                _ if whole_prefix => None,
                None | Some(VersionRef::Latest) => None,
                Some(VersionRef::Id(seq)) => Some(seq),
                Some(VersionRef::Null) => {
                    let okey = keys::object_key(bucket, km)?;
                    match self.current(&okey)? {
                        Some(c) if c.version.null => Some(c.version.order(c.row.last_modified_ms)),
                        _ => self
                            .find_other(bucket, km, &okey, VersionRef::Null)?
                            .map(|(o, _)| o),
                    }
                }
            };
            let km_obj = keys::object_key(bucket, km)?;
            match marker_order {
                Some(order) => {
                    // Within the marker's key, after that version.
                    objs.seek(&km_obj);
                    vers.seek(keys::key_successor(&keys::version_key(bucket, km, order)?));
                    skip_current_of = Some((km.to_owned(), order));
                }
                None if whole_prefix => {
                    match keys::prefix_successor(&km_obj) {
                        Some(n) => objs.seek(n),
                        None => return Ok(out),
                    }
                    match keys::prefix_successor(&keys::versions_prefix(bucket, km)?) {
                        Some(n) => vers.seek(n),
                        None => return Ok(out),
                    }
                }
                None => {
                    objs.seek(keys::key_successor(&km_obj));
                    let mut after = keys::versions_prefix(bucket, km)?;
                    after.extend_from_slice(&[0, 1]);
                    vers.seek(after);
                }
            }
        }
        let mut count = 0usize;
        let mut last: Option<(String, Option<String>)> = None;
        let mut latest_seen: Option<String> = None;
        loop {
            let obj = match objs.key() {
                Some(k) => Some(keys::decode_object_key(k, bp_len)?),
                None => None,
            };
            // The marker's own current version is newer than any version
            // after the marker: skip it.
            if let (Some(name), Some((km, order))) = (&obj, &skip_current_of)
                && name == km
            {
                let c: ObjectVersion = decode(objs.value().unwrap_or_default(), CF_OBJECTS)?;
                if c.version.order(c.row.last_modified_ms) >= *order {
                    latest_seen = Some(name.clone());
                    objs.next();
                    continue;
                }
            }
            let ver = match vers.key() {
                Some(k) => Some(keys::decode_version_key(k, bp_len)?),
                None => None,
            };
            let from_objects = match (&obj, &ver) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(o), Some((v, _))) => o.as_bytes() <= v.as_bytes(),
            };
            let name = if from_objects {
                obj.clone().unwrap_or_default()
            } else {
                ver.as_ref().map(|(n, _)| n.clone()).unwrap_or_default()
            };
            if count == max {
                out.is_truncated = true;
                break;
            }
            if let Some(cp) = delimiter.and_then(|d| keys::common_prefix(&name, prefix, d)) {
                let cp = cp.to_string();
                count += 1;
                out.common_prefixes.push(cp.clone());
                let next_obj = keys::prefix_successor(&keys::object_key(bucket, &cp)?);
                let next_ver = keys::prefix_successor(&keys::versions_prefix(bucket, &cp)?);
                last = Some((cp, None));
                match (next_obj, next_ver) {
                    (Some(a), Some(b)) => {
                        objs.seek(a);
                        vers.seek(b);
                    }
                    _ => break,
                }
                continue;
            }
            count += 1;
            let v: ObjectVersion = if from_objects {
                let v = decode(objs.value().unwrap_or_default(), CF_OBJECTS)?;
                objs.next();
                v
            } else {
                let v = decode(vers.value().unwrap_or_default(), CF_VERSIONS)?;
                vers.next();
                v
            };
            let is_latest = latest_seen.as_deref() != Some(name.as_str())
                && skip_current_of.as_ref().is_none_or(|(km, _)| *km != name);
            latest_seen = Some(name.clone());
            let id = id_in(status, &v.version).unwrap_or_else(|| "null".to_owned());
            last = Some((name.clone(), Some(id.clone())));
            out.versions.push(VersionSummary {
                key: name,
                version_id: id,
                is_latest,
                delete_marker: v.version.marker,
                size: v.row.size,
                order: v.version.order(v.row.last_modified_ms),
                noncurrent_ms: v.version.noncurrent_ms,
                etag: v.row.etag,
                last_modified_ms: v.row.last_modified_ms,
                owner: v.row.owner,
            });
        }
        objs.status()?;
        vers.status()?;
        if out.is_truncated
            && let Some((key, version)) = last
        {
            out.next_key_marker = Some(key);
            out.next_version_id_marker = version;
        }
        Ok(out)
    }

    /// A lifecycle action (see [`MetaRequest::Expire`]): done only if the
    /// version of order `order` is still where the worker saw it, and
    /// through the same paths as a client's DELETE, so Object Lock holds.
    pub fn expire(
        &self,
        (bucket, key): (&str, &str),
        order: u64,
        action: ExpireAction,
    ) -> Result<VersionAnswer> {
        check_key(key)?;
        let okey = keys::object_key(bucket, key)?;
        let nothing = Ok(VersionAnswer::default());
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        let which = {
            let cur = self.current(&okey)?;
            let vkey = keys::version_key(bucket, key, order)?;
            match action {
                ExpireAction::Current => match &cur {
                    Some(c) if c.version.order(c.row.last_modified_ms) == order => {
                        VersionRef::Latest
                    }
                    _ => return nothing,
                },
                ExpireAction::Noncurrent {
                    days_ms,
                    day_ms,
                    keep_newer,
                } => match self.get::<ObjectVersion>(CF_VERSIONS, &vkey)? {
                    Some(v) if !v.version.marker => {
                        let since = if v.version.noncurrent_ms > 0 {
                            v.version.noncurrent_ms
                        } else {
                            v.row.last_modified_ms
                        };
                        let due = day_ceil(since.saturating_add(days_ms), day_ms) <= self.now_ms();
                        if !due || self.newer_noncurrent(bucket, key, order)? < keep_newer {
                            return nothing;
                        }
                        id_ref(&v)
                    }
                    _ => return nothing,
                },
                ExpireAction::DeleteMarker => {
                    let only = cur.is_none()
                        && self
                            .newest_other(bucket, key)?
                            .is_some_and(|(o, v)| o == order && v.version.marker)
                        && self.versions_of(bucket, key)? == 1;
                    if !only {
                        return nothing;
                    }
                    match self.get::<ObjectVersion>(CF_VERSIONS, &vkey)? {
                        Some(v) => id_ref(&v),
                        None => return nothing,
                    }
                }
            }
        };
        // Still under the key's lock: no write slips in between. (An
        // unversioned bucket's delete names no version: `null` says it
        // happened.)
        let mut done = self.delete_version_locked((bucket, key, &okey), which, false, None)?;
        done.version_id.get_or_insert_with(|| "null".to_owned());
        Ok(done)
    }

    /// How many noncurrent object versions (not markers) of the key are
    /// newer than the one of order `order`.
    fn newer_noncurrent(&self, bucket: &str, key: &str, order: u64) -> Result<u32> {
        let prefix = keys::key_versions_prefix(bucket, key)?;
        let mut it = self.range_iter(CF_VERSIONS, &prefix)?;
        it.seek_to_first();
        let mut n = 0u32;
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if order_in(k, &prefix)? <= order {
                break;
            }
            if !decode::<ObjectVersion>(v, CF_VERSIONS)?.version.marker {
                n += 1;
            }
            it.next();
        }
        it.status()?;
        Ok(n)
    }

    /// How many rows the key has in `versions` (counted up to 2).
    fn versions_of(&self, bucket: &str, key: &str) -> Result<usize> {
        let prefix = keys::key_versions_prefix(bucket, key)?;
        let mut it = self.range_iter(CF_VERSIONS, &prefix)?;
        it.seek_to_first();
        let mut n = 0;
        while it.valid() && n < 2 {
            n += 1;
            it.next();
        }
        it.status()?;
        Ok(n)
    }

    /// ScanLayouts' third phase: the erasure-coded versions in `versions`.
    pub(super) fn scan_version_layouts(
        &self,
        page: &mut LayoutPage,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<()> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_VERSIONS)?);
        match after {
            Some(a) => it.seek(keys::key_successor(a)),
            None => it.seek_to_first(),
        }
        let mut last: Option<Vec<u8>> = None;
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if page.entries.len() == limit {
                page.next = Some(match last {
                    Some(l) => [&[2u8][..], &l].concat(),
                    None => vec![2u8],
                });
                return Ok(());
            }
            let row: ObjectVersion = decode(v, CF_VERSIONS)?;
            if let ObjectData::Parts(parts) = row.row.data {
                let len = *k.first().unwrap_or(&0) as usize;
                let bucket = k
                    .get(1..1 + len)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or_else(|| MetaError::Internal("versions key with a bad bucket".into()))?
                    .to_owned();
                let (key, seq) = keys::decode_version_key(k, 1 + len)?;
                page.entries.push(LayoutEntry {
                    owner: LayoutOwner::Version { bucket, key, seq },
                    parts,
                });
            }
            last = Some(k.to_vec());
            it.next();
        }
        it.status()?;
        Ok(())
    }

    /// SwapChunk for one version row: the current one (`objects`) or
    /// another (`versions`), named by its family and key.
    pub(super) fn swap_in_version(
        &self,
        (bucket, key, cf, vkey): (&str, &str, &str, &[u8]),
        (part_number, segment, shard): (u32, u32, u32),
        old: &ChunkPlacement,
        new: &ChunkPlacement,
    ) -> Result<bool> {
        let _k = self.stripe(bucket, key);
        let Some(mut v) = self.get::<ObjectVersion>(cf, vkey)? else {
            return Ok(false);
        };
        let ObjectData::Parts(parts) = &mut v.row.data else {
            return Ok(false);
        };
        let Some(part) = parts.iter_mut().find(|p| p.number == part_number) else {
            return Ok(false);
        };
        if !swap_in(part, segment, shard, old, new) {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf)?, vkey, encode(&v)?);
        self.write(batch)?;
        Ok(true)
    }

    /// Whether the bucket holds any version or delete marker (a bucket
    /// with only noncurrent versions is not empty).
    pub(super) fn has_versions(&self, bucket: &str) -> Result<bool> {
        let mut it = self.range_iter(CF_VERSIONS, &keys::bucket_prefix(bucket)?)?;
        it.seek_to_first();
        let found = it.valid();
        it.status()?;
        Ok(found)
    }
}
