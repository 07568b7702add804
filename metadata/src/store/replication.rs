//! The replication queue and replicas.
//!
//! A write to a bucket with a replication configuration adds its task to
//! the queue in the batch of the write itself ([`MetaStore::install`]
//! calls [`MetaStore::enqueue_replication`]), so a committed write always
//! has its task: no crash between the two can lose one. The version is
//! marked `PENDING` in the same batch. The replication worker reads the
//! queue ([`MetaStore::replication_tasks`]), copies the version to each
//! destination, and reports each destination's outcome
//! ([`MetaStore::replication_done`]), which removes the task once every
//! destination has the version and marks the version `COMPLETED` (or
//! `FAILED`), under the key's lock.
//!
//! At a destination a replica keeps its version's order (its id), so the
//! same version written twice (a task retried after its answer was lost)
//! is found and kept once ([`MetaStore::write_replica`]).

use super::*;
use crate::ResyncPage;
use crate::replication::{
    REPLICATION_STATUS, ReplicationConfig, ReplicationKind, ReplicationOutcome, ReplicationTask,
};

/// The column family of the replication queue (row format v8).
pub(crate) const CF_REPLICATION: &str = "replication";

/// The status a version has at a destination.
const REPLICA: &str = "REPLICA";

/// Takes a replica's identity (order, Last-Modified) out of an upload's
/// system headers (see [`UPLOAD_REPLICA_VERSION`]).
pub(super) fn take_upload_replica(headers: &mut Vec<(String, String)>) -> Option<(u64, i64)> {
    let mut order = None;
    let mut modified = None;
    headers.retain(|(name, value)| match name.as_str() {
        UPLOAD_REPLICA_VERSION => {
            order = u64::from_str_radix(value, 16).ok();
            false
        }
        UPLOAD_REPLICA_LAST_MODIFIED => {
            modified = value.parse().ok();
            false
        }
        _ => true,
    });
    Some((order?, modified?))
}

/// A task's key: oldest version first, then bucket, key and kind.
fn task_key(order: u64, bucket: &str, key: &str, kind: ReplicationKind) -> Result<Vec<u8>> {
    let mut k = order.to_be_bytes().to_vec();
    k.extend_from_slice(&keys::bucket_prefix(bucket)?);
    k.extend_from_slice(key.as_bytes());
    k.push(kind as u8);
    Ok(k)
}

/// Sets (or, `None`, removes) the replication status among `row`'s system
/// headers.
fn set_status(row: &mut ObjectRow, status: Option<&str>) {
    row.system_headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case(REPLICATION_STATUS));
    if let Some(s) = status {
        row.system_headers
            .push((REPLICATION_STATUS.to_owned(), s.to_owned()));
    }
}

/// The replication status `row` carries.
fn status_of(row: &ObjectRow) -> Option<&str> {
    row.system_headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(REPLICATION_STATUS))
        .map(|(_, v)| v.as_str())
}

impl MetaStore {
    /// The bucket's replication configuration, if it has one.
    fn replication_config(&self, bucket: &str) -> Result<Option<ReplicationConfig>> {
        let key = keys::bucket_config_key(bucket, BucketConfigKind::Replication)?;
        Ok(match self.get::<BucketConfig>(CF_BUCKET_CONFIG, &key)? {
            Some(BucketConfig::Replication(c)) => Some(c),
            _ => None,
        })
    }

    /// Adds the replication task of a new version (or marker) of `key`, of
    /// order `order`, to `batch` when a rule replicates it, and marks `row`
    /// `PENDING`; a status `row` brought along (a copy of a replicated
    /// object) is dropped otherwise.
    pub(super) fn enqueue_replication(
        &self,
        batch: &mut WriteBatch,
        (bucket, key): (&str, &str),
        row: &mut ObjectRow,
        order: u64,
        marker: bool,
    ) -> Result<()> {
        set_status(row, None);
        let Some(config) = self.replication_config(bucket)? else {
            return Ok(());
        };
        let destinations = if marker {
            config.marker_destinations(key)
        } else {
            config.version_destinations(key, &row.tags)
        };
        if destinations.is_empty() {
            return Ok(());
        }
        let kind = if marker {
            ReplicationKind::Marker
        } else {
            ReplicationKind::Version
        };
        let task = ReplicationTask {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            order,
            kind,
            destinations,
            enqueued_ms: self.now_ms(),
            size: if marker { 0 } else { row.size },
            attempts: 0,
            not_before_ms: 0,
            failed: false,
            last_error: None,
        };
        set_status(row, Some("PENDING"));
        batch.put_cf(
            self.cf(CF_REPLICATION)?,
            task_key(order, bucket, key, kind)?,
            encode(&task)?,
        );
        Ok(())
    }

    /// Adds the task of a client's change (`kind`: tags or lock) of version
    /// `v` of `key` to `batch`: for a replicated version, to the
    /// destinations its rules name; for a replica, back to those of the
    /// rules with `ReplicaModifications`; for any other version, none.
    pub(super) fn enqueue_change(
        &self,
        batch: &mut WriteBatch,
        (bucket, key): (&str, &str),
        v: &ObjectVersion,
        kind: ReplicationKind,
    ) -> Result<()> {
        let Some(status) = status_of(&v.row) else {
            return Ok(());
        };
        let Some(config) = self.replication_config(bucket)? else {
            return Ok(());
        };
        let destinations = if status == REPLICA {
            config.replica_change_destinations(key, &v.row.tags)
        } else {
            config.version_destinations(key, &v.row.tags)
        };
        if destinations.is_empty() {
            return Ok(());
        }
        let order = v.version.order(v.row.last_modified_ms);
        let tkey = task_key(order, bucket, key, kind)?;
        // A change replaces a pending one of the same version, and is
        // always later than it (see `replication_done`).
        let enqueued_ms = match self.get::<ReplicationTask>(CF_REPLICATION, &tkey)? {
            Some(old) => self.now_ms().max(old.enqueued_ms + 1),
            None => self.now_ms(),
        };
        let task = ReplicationTask {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            order,
            kind,
            destinations,
            enqueued_ms,
            size: 0,
            attempts: 0,
            not_before_ms: 0,
            failed: false,
            last_error: None,
        };
        batch.put_cf(self.cf(CF_REPLICATION)?, tkey, encode(&task)?);
        Ok(())
    }

    /// A change of a replica's tags and/or lock, made by replication (see
    /// [`MetaRequest::ReplicaChange`]): never queued again.
    pub fn replica_change(
        &self,
        (bucket, key): (&str, &str),
        order: u64,
        tags: Option<Vec<(String, String)>>,
        lock: Option<(Option<Retention>, Option<bool>)>,
    ) -> Result<VersionAnswer> {
        check_key(key)?;
        if let Some(t) = &tags {
            check_tags(t)?;
        }
        let okey = keys::object_key(bucket, key)?;
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        self.require_bucket(bucket)?;
        let at = (bucket, key, okey.as_slice());
        let (mut v, current) = self.version_to_change(at, VersionRef::Id(order))?;
        if let Some(t) = tags {
            v.row.tags = t;
        }
        if let Some((retention, hold)) = lock {
            v.version.retention = retention;
            v.version.legal_hold = hold;
        }
        let mut batch = WriteBatch::default();
        self.rewrite_version(&mut batch, at, &v, current)?;
        self.write(batch)?;
        Ok(VersionAnswer {
            version_id: Some(version_id(order)),
            delete_marker: false,
        })
    }

    /// One page of a resync of `bucket` (see
    /// [`MetaRequest::ReplicationResync`]), in one batch under the
    /// exclusive lock (no write slips between a version's check and its
    /// task).
    pub fn replication_resync(
        &self,
        bucket: &str,
        older_than_ms: Option<i64>,
        restart: bool,
        limit: u32,
    ) -> Result<ResyncPage> {
        self.require_bucket(bucket)?;
        let Some(config) = self.replication_config(bucket)? else {
            return Err(MetaError::InvalidRequest(
                "The bucket has no replication configuration".into(),
            ));
        };
        let cursor_key = format!("cursor/resync/{bucket}");
        let _g = self.exclusive();
        let position: Option<(String, String)> = if restart {
            None
        } else {
            self.get(CF_CLUSTER, cursor_key.as_bytes())?
        };
        let (key_marker, version_marker) = match &position {
            Some((k, v)) => (Some(k.as_str()), VersionRef::parse(Some(v)).ok()),
            None => (None, None),
        };
        let page = self.list_versions(
            bucket,
            "",
            None,
            key_marker,
            version_marker,
            limit.clamp(1, 1000),
        )?;
        let mut batch = WriteBatch::default();
        let mut out = ResyncPage::default();
        for s in &page.versions {
            out.scanned += 1;
            if older_than_ms.is_some_and(|t| s.last_modified_ms >= t) {
                continue;
            }
            let Some((mut v, cf, rowkey)) = self.locate_version(bucket, &s.key, s.order)? else {
                continue;
            };
            if status_of(&v.row).is_some() {
                continue;
            }
            let destinations = if v.version.marker {
                config.marker_destinations(&s.key)
            } else {
                config.version_destinations(&s.key, &v.row.tags)
            };
            if destinations.is_empty() {
                continue;
            }
            let kind = if v.version.marker {
                ReplicationKind::Marker
            } else {
                ReplicationKind::Version
            };
            let task = ReplicationTask {
                bucket: bucket.to_owned(),
                key: s.key.clone(),
                order: s.order,
                kind,
                destinations,
                enqueued_ms: self.now_ms(),
                size: if v.version.marker { 0 } else { v.row.size },
                attempts: 0,
                not_before_ms: 0,
                failed: false,
                last_error: None,
            };
            batch.put_cf(
                self.cf(CF_REPLICATION)?,
                task_key(s.order, bucket, &s.key, kind)?,
                encode(&task)?,
            );
            set_status(&mut v.row, Some("PENDING"));
            batch.put_cf(self.cf(cf)?, &rowkey, encode(&v)?);
            out.queued += 1;
        }
        match (&page.next_key_marker, &page.next_version_id_marker) {
            (Some(k), Some(v)) if page.is_truncated => {
                batch.put_cf(
                    self.cf(CF_CLUSTER)?,
                    cursor_key.as_bytes(),
                    encode(&(k, v))?,
                );
            }
            _ => {
                batch.delete_cf(self.cf(CF_CLUSTER)?, cursor_key.as_bytes());
                out.done = true;
            }
        }
        self.write(batch)?;
        Ok(out)
    }

    /// The version of order `order` of `key`, with its column family and
    /// row key.
    fn locate_version(
        &self,
        bucket: &str,
        key: &str,
        order: u64,
    ) -> Result<Option<(ObjectVersion, &'static str, Vec<u8>)>> {
        let okey = keys::object_key(bucket, key)?;
        if let Some(cur) = self.current(&okey)?
            && cur.version.order(cur.row.last_modified_ms) == order
        {
            return Ok(Some((cur, CF_OBJECTS, okey)));
        }
        let vkey = keys::version_key(bucket, key, order)?;
        Ok(self
            .get::<ObjectVersion>(CF_VERSIONS, &vkey)?
            .map(|v| (v, CF_VERSIONS, vkey)))
    }

    /// Keeps `row` as the version of order `order` of `key`, a replica (see
    /// [`MetaRequest::WriteReplica`]). Returns the answer, and the row whose
    /// chunks went to GC unused (this one, when the version was here
    /// already).
    pub fn write_replica(
        &self,
        bucket: &str,
        key: &str,
        row: ObjectRow,
        order: u64,
        (marker, lock): (bool, &LockRequest),
    ) -> Result<(WriteAnswer, Option<ObjectRow>)> {
        check_key(key)?;
        check_tags(&row.tags)?;
        let okey = keys::object_key(bucket, key)?;
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        self.require_bucket(bucket)?;
        let mut batch = WriteBatch::default();
        let (answer, kept) =
            self.install_replica(&mut batch, (bucket, key, &okey), row, order, (marker, lock))?;
        let unused = if kept {
            None
        } else {
            // Here already: the copy just made is not needed.
            self.queue_gc(&mut batch, &answer.row.data.chunks())?;
            Some(answer.row.clone())
        };
        self.write(batch)?;
        Ok((answer, unused))
    }

    /// [`MetaStore::write_replica`] into `batch`, under the key's lock
    /// already held: false when the version is here already (nothing put
    /// in the batch).
    pub(super) fn install_replica(
        &self,
        batch: &mut WriteBatch,
        (bucket, key, okey): (&str, &str, &[u8]),
        mut row: ObjectRow,
        order: u64,
        (marker, lock): (bool, &LockRequest),
    ) -> Result<(WriteAnswer, bool)> {
        if order == 0 {
            return Err(MetaError::InvalidArgument(
                "a replica needs its version id".into(),
            ));
        }
        if self.versioning(bucket)? != Some(VersioningStatus::Enabled) {
            return Err(MetaError::InvalidRequest(
                "Destination bucket must have versioning enabled.".into(),
            ));
        }
        let cur = self.current(okey)?;
        let cur_order = cur
            .as_ref()
            .map(|c| c.version.order(c.row.last_modified_ms));
        let vkey = keys::version_key(bucket, key, order)?;
        if cur_order == Some(order) || self.get::<ObjectVersion>(CF_VERSIONS, &vkey)?.is_some() {
            let answer = WriteAnswer {
                row: row.without_body(),
                version_id: Some(version_id(order)),
            };
            return Ok((answer, false));
        }
        set_status(&mut row, Some(REPLICA));
        let newest = match self.newest_other(bucket, key)? {
            Some((o, _)) => cur_order.unwrap_or(0).max(o),
            None => cur_order.unwrap_or(0),
        };
        let meta = VersionMeta {
            seq: order,
            null: false,
            marker,
            noncurrent_ms: 0,
            retention: lock.retention,
            legal_hold: lock.legal_hold.then_some(true),
        };
        let answered = row.without_body();
        let mut stored = ObjectVersion { row, version: meta };
        if order > newest {
            // The newest version of the key: current (a marker: the key's
            // latest, the current object demoted).
            if let Some(c) = cur {
                self.forget_completion(batch, &c.row, okey)?;
                self.demote(batch, (bucket, key, okey), c)?;
                if marker {
                    batch.delete_cf(self.cf(CF_OBJECTS)?, okey);
                }
            }
            if marker {
                batch.put_cf(self.cf(CF_VERSIONS)?, &vkey, encode(&stored)?);
            } else {
                batch.put_cf(self.cf(CF_OBJECTS)?, okey, encode(&stored)?);
            }
        } else {
            // Older than what the key has: among its noncurrent versions.
            stored.version.noncurrent_ms = self.now_ms();
            batch.put_cf(self.cf(CF_VERSIONS)?, &vkey, encode(&stored)?);
        }
        let answer = WriteAnswer {
            row: answered,
            version_id: Some(version_id(order)),
        };
        Ok((answer, true))
    }

    /// Up to `limit` tasks after task key `after`, oldest first.
    pub fn replication_tasks(
        &self,
        after: &[u8],
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, ReplicationTask)>> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_REPLICATION)?);
        if after.is_empty() {
            it.seek_to_first();
        } else {
            it.seek(after);
            if it.key() == Some(after) {
                it.next();
            }
        }
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if out.len() >= limit as usize {
                break;
            }
            out.push((k.to_vec(), decode(v, CF_REPLICATION)?));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Records how `destination` of task `task` went (see the module
    /// notes). A task no longer queued (done by another worker) is left.
    pub fn replication_done(
        &self,
        task: &[u8],
        enqueued_ms: i64,
        destination: &str,
        outcome: &ReplicationOutcome,
    ) -> Result<()> {
        let Some(mut t) = self.get::<ReplicationTask>(CF_REPLICATION, task)? else {
            return Ok(());
        };
        let _b = self.shared();
        let _k = self.stripe(&t.bucket, &t.key);
        // Read again under the key's lock; a task written again since the
        // worker read it (a newer change) is left for the next attempt.
        let Some(current) = self.get::<ReplicationTask>(CF_REPLICATION, task)? else {
            return Ok(());
        };
        if current.enqueued_ms != enqueued_ms {
            return Ok(());
        }
        t = current;
        let mut batch = WriteBatch::default();
        let cf = self.cf(CF_REPLICATION)?;
        match outcome {
            ReplicationOutcome::Completed => {
                t.destinations.retain(|d| d != destination);
                if t.destinations.is_empty() {
                    batch.delete_cf(cf, task);
                    let status = if t.failed { "FAILED" } else { "COMPLETED" };
                    self.set_version_status(&mut batch, &t, status)?;
                } else {
                    batch.put_cf(cf, task, encode(&t)?);
                }
            }
            ReplicationOutcome::Retry {
                error,
                not_before_ms,
            } => {
                t.attempts = t.attempts.saturating_add(1);
                t.last_error = Some(error.clone());
                t.not_before_ms = *not_before_ms;
                batch.put_cf(cf, task, encode(&t)?);
            }
            ReplicationOutcome::Failed { error } => {
                t.attempts = t.attempts.saturating_add(1);
                t.last_error = Some(format!("{destination}: {error}"));
                t.failed = true;
                batch.put_cf(cf, task, encode(&t)?);
                self.set_version_status(&mut batch, &t, "FAILED")?;
            }
        }
        self.write(batch)
    }

    /// Puts `bucket`'s FAILED tasks (every bucket's: empty) back in the
    /// queue, their versions PENDING again; how many.
    pub fn replication_retry(&self, bucket: &str) -> Result<u64> {
        let mut count = 0;
        let mut after = Vec::new();
        loop {
            let page = self.replication_tasks(&after, 1000)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = last.clone();
            for (k, t) in page {
                if !t.failed || !(bucket.is_empty() || t.bucket == bucket) {
                    continue;
                }
                let _b = self.shared();
                let _g = self.stripe(&t.bucket, &t.key);
                let Some(mut t) = self.get::<ReplicationTask>(CF_REPLICATION, &k)? else {
                    continue;
                };
                t.failed = false;
                t.not_before_ms = 0;
                t.attempts = 0;
                let mut batch = WriteBatch::default();
                batch.put_cf(self.cf(CF_REPLICATION)?, &k, encode(&t)?);
                self.set_version_status(&mut batch, &t, "PENDING")?;
                self.write(batch)?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Marks the version of task `t` with `status`, wherever it is (gone:
    /// nothing; a task of a change leaves the status as it is). Called
    /// under the key's lock.
    fn set_version_status(
        &self,
        batch: &mut WriteBatch,
        t: &ReplicationTask,
        status: &str,
    ) -> Result<()> {
        if !matches!(t.kind, ReplicationKind::Version | ReplicationKind::Marker) {
            return Ok(());
        }
        if let Some((mut v, cf, rowkey)) = self.locate_version(&t.bucket, &t.key, t.order)?
            && status_of(&v.row) != Some(status)
        {
            set_status(&mut v.row, Some(status));
            batch.put_cf(self.cf(cf)?, &rowkey, encode(&v)?);
        }
        Ok(())
    }

    /// [`Self::execute`] for replication.
    pub(super) fn execute_replication(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::WriteReplica {
                bucket,
                key,
                row,
                order,
                marker,
                lock,
            } => {
                let (answer, _unused) =
                    self.write_replica(&bucket, &key, row, order, (marker, &lock))?;
                R::Written(answer)
            }
            Q::ReplicationTasks { after, limit } => {
                R::ReplicationTasks(self.replication_tasks(&after, limit)?)
            }
            Q::ReplicationDone {
                task,
                enqueued_ms,
                destination,
                outcome,
            } => {
                self.replication_done(&task, enqueued_ms, &destination, &outcome)?;
                R::Unit
            }
            Q::ReplicaChange {
                bucket,
                key,
                order,
                tags,
                lock,
            } => R::Removed(self.replica_change((&bucket, &key), order, tags, lock)?),
            Q::ReplicationResync {
                bucket,
                older_than_ms,
                restart,
                limit,
            } => R::Resync(self.replication_resync(&bucket, older_than_ms, restart, limit)?),
            Q::ReplicationRetry { bucket } => R::Count(self.replication_retry(&bucket)?),
            _ => return Err(misrouted()),
        })
    }
}
