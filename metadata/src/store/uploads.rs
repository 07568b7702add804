//! Multipart uploads: create, parts, complete (the checksums and ETag S3
//! computes for the whole object), abort, list.

use super::*;

impl MetaStore {
    /// Records a new multipart upload (NoSuchBucket).
    pub fn create_upload(&self, upload: Upload) -> Result<()> {
        check_upload_names(&upload.key, &upload.upload_id)?;
        check_tags(&upload.tags)?;
        let ukey = keys::upload_key(&upload.bucket, &upload.key, &upload.upload_id)?;
        let _b = self.shared();
        let _k = self.stripe(&upload.bucket, &upload.key);
        self.require_bucket(&upload.bucket)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_UPLOADS)?, ukey, encode(&upload)?);
        self.write(batch)
    }

    /// Records a part, returning the part it replaced (its chunks go to GC).
    pub fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: PartRow,
    ) -> Result<Option<PartRow>> {
        if part.number == 0 || part.number > MAX_PART_NUMBER {
            return Err(MetaError::InvalidArgument(format!(
                "part number must be 1..={MAX_PART_NUMBER}"
            )));
        }
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        self.require_upload(bucket, key, upload_id)?;
        let pkey = keys::part_key(upload_id, part.number);
        let old: Option<PartRow> = self.get(CF_PARTS, &pkey)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_PARTS)?, &pkey, encode(&part)?);
        if let Some(o) = &old {
            let chunks = unreferenced(part_chunks(&o.layout), &part_chunks(&part.layout));
            self.queue_gc(&mut batch, &chunks)?;
        }
        self.write(batch)?;
        Ok(old)
    }

    /// Parts with a number above `part_number_marker`, ascending.
    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: u32,
    ) -> Result<ListPartsResult> {
        self.require_upload(bucket, key, upload_id)?;
        let mut out = ListPartsResult::default();
        let max = max_parts.min(MAX_LIST) as usize;
        let Some(first) = part_number_marker.checked_add(1) else {
            return Ok(out);
        };
        if max == 0 {
            return Ok(out);
        }
        let mut it = self.range_iter(CF_PARTS, &keys::parts_prefix(upload_id))?;
        it.seek(keys::part_key(upload_id, first));
        while let Some(raw) = it.value() {
            if out.parts.len() == max {
                out.is_truncated = true;
                break;
            }
            out.parts.push(decode(raw, CF_PARTS)?);
            it.next();
        }
        it.status()?;
        if out.is_truncated {
            out.next_part_number_marker = out.parts.last().map(|p| p.number);
        }
        Ok(out)
    }

    /// Completes a multipart upload atomically: checks the parts, writes the
    /// object and its completion record, deletes the upload and its parts,
    /// and queues the chunks of unused parts and of the replaced object for
    /// GC, in one batch.
    ///
    /// A repeat of a completion that succeeded (the upload is gone) answers
    /// the object it made again, as S3 does, while that object is still the
    /// key's current one and the repeat lists the same parts; otherwise
    /// NoSuchUpload ([`MetaStore::completed_before`]).
    pub fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        checks: &CompleteChecks,
        if_none_match: bool,
    ) -> Result<ObjectRow> {
        self.finish_upload(bucket, key, upload_id, parts, checks, if_none_match)
            .map(|a| a.row)
    }

    /// [`MetaStore::complete_upload`], answered with the version made.
    pub fn finish_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        checks: &CompleteChecks,
        if_none_match: bool,
    ) -> Result<WriteAnswer> {
        if parts.is_empty() {
            return Err(MetaError::InvalidArgument(
                "You must specify at least one part".into(),
            ));
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(MetaError::InvalidPartOrder);
        }
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        let upload = match self.require_upload(bucket, key, upload_id) {
            Err(MetaError::NoSuchUpload) => {
                return self.completed_before(bucket, key, upload_id, parts);
            }
            other => other?,
        };
        let mut stored = self.load_parts(upload_id)?;
        let mut used = Vec::with_capacity(parts.len());
        for (number, etag) in parts {
            match stored.remove(number) {
                Some(p) if p.etag == strip_quotes(etag) => used.push(p),
                Some(_) => {
                    return Err(MetaError::InvalidPart(format!(
                        "part {number}: etag does not match"
                    )));
                }
                None => {
                    return Err(MetaError::InvalidPart(format!(
                        "part {number} was not uploaded"
                    )));
                }
            }
        }
        if used[..used.len() - 1]
            .iter()
            .any(|p| p.size < MIN_PART_SIZE)
        {
            return Err(MetaError::EntityTooSmall);
        }
        let size: u64 = used.iter().map(|p| p.size).sum();
        if checks.object_size.is_some_and(|n| n != size) {
            return Err(MetaError::InvalidRequest(
                "The provided 'x-amz-mp-object-size' header value does not match the total size of the object".into(),
            ));
        }
        let checksum = completed_checksum(&upload, &used, checks)?;
        let okey = keys::object_key(bucket, key)?;
        let old = self.current(&okey)?;
        if if_none_match && old.is_some() {
            return Err(MetaError::PreconditionFailed);
        }
        check_if_match(old.as_ref().map(|o| &o.row), checks.if_match.as_deref())?;
        let status = self.versioning(bucket)?;
        let mut upload = upload;
        let lock =
            self.effective_lock(bucket, &lock::take_upload_lock(&mut upload.system_headers))?;
        let etag = multipart_etag(&used)?;
        let replica = replication::take_upload_replica(&mut upload.system_headers);
        let row = ObjectRow {
            size,
            etag,
            last_modified_ms: replica.map_or_else(|| self.now_ms(), |(_, ms)| ms),
            content_type: upload.content_type,
            system_headers: upload.system_headers,
            user_metadata: upload.user_metadata,
            parts_count: Some(used.len() as u32),
            data: ObjectData::Parts(used.into_iter().map(|p| p.layout).collect()),
            tags: upload.tags,
            checksum,
            owner: upload.owner,
        };
        let mut batch = WriteBatch::default();
        let live: Vec<ChunkPlacement> = row.data.chunks().into_iter().cloned().collect();
        let live: Vec<&ChunkPlacement> = live.iter().collect();
        // A replica's upload (see `UPLOAD_REPLICA_VERSION`) completes as
        // that version; made already, its parts go to GC.
        let version_id = match replica {
            Some((order, _)) => {
                let (answer, kept) = self.install_replica(
                    &mut batch,
                    (bucket, key, &okey),
                    row.clone(),
                    order,
                    (false, &lock),
                )?;
                if !kept {
                    self.queue_gc(&mut batch, &live)?;
                }
                answer.version_id
            }
            None => {
                let (meta, _) = self.install(
                    &mut batch,
                    (bucket, key, &okey),
                    status,
                    old,
                    row.clone(),
                    false,
                    &lock,
                )?;
                status.map(|_| meta.id())
            }
        };
        let record = CompletedUpload {
            upload_id: upload_id.to_owned(),
            etag: row.etag.clone(),
            last_modified_ms: row.last_modified_ms,
        };
        batch.put_cf(self.cf(CF_COMPLETED_UPLOADS)?, &okey, encode(&record)?);
        // Deletes every part row (used and unused) and queues only the
        // unused parts' chunks: the used ones are now the object's.
        batch.delete_cf(
            self.cf(CF_UPLOADS)?,
            keys::upload_key(bucket, key, upload_id)?,
        );
        for (number, _) in parts {
            batch.delete_cf(self.cf(CF_PARTS)?, keys::part_key(upload_id, *number));
        }
        for (number, part) in &stored {
            batch.delete_cf(self.cf(CF_PARTS)?, keys::part_key(upload_id, *number));
            self.queue_gc(&mut batch, &unreferenced(part_chunks(&part.layout), &live))?;
        }
        self.write(batch)?;
        Ok(WriteAnswer { row, version_id })
    }

    /// The answer to a repeated completion of `upload_id`, whose upload row
    /// is gone: the key's current object if a completion of that upload made
    /// it (its record names the upload, and the row is still the version the
    /// record names) and `parts` are the parts it was made of (their numbers,
    /// and their ETags through the multipart ETag). Anything else, such as an
    /// upload that was aborted, never existed, or whose object was overwritten
    /// or deleted since, is NoSuchUpload. Reads only: a repeat writes nothing.
    fn completed_before(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<WriteAnswer> {
        let okey = keys::object_key(bucket, key)?;
        let Some(record) = self.get::<CompletedUpload>(CF_COMPLETED_UPLOADS, &okey)? else {
            return Err(MetaError::NoSuchUpload);
        };
        let Some(ObjectVersion { row, version }) = self.current(&okey)? else {
            return Err(MetaError::NoSuchUpload);
        };
        let version_id = self.versioning(bucket)?.map(|_| version.id());
        let numbers: Vec<u32> = match &row.data {
            ObjectData::Parts(layouts) => layouts.iter().map(|p| p.number).collect(),
            ObjectData::Inline(_) => Vec::new(),
        };
        let same_parts = numbers.iter().copied().eq(parts.iter().map(|(n, _)| *n))
            && etag_of_listed(parts).as_deref() == Some(row.etag.as_str());
        if record.upload_id == upload_id
            && record.etag == row.etag
            && record.last_modified_ms == row.last_modified_ms
            && same_parts
        {
            Ok(WriteAnswer { row, version_id })
        } else {
            Err(MetaError::NoSuchUpload)
        }
    }

    /// Deletes the completion record of `old`, the object row a write
    /// replaces or deletes (only a completion writes one, so only a
    /// multipart object can have one).
    pub(super) fn forget_completion(
        &self,
        batch: &mut WriteBatch,
        old: &ObjectRow,
        okey: &[u8],
    ) -> Result<()> {
        if old.parts_count.is_some() {
            batch.delete_cf(self.cf(CF_COMPLETED_UPLOADS)?, okey);
        }
        Ok(())
    }

    /// Aborts an upload; its parts' chunks go to GC (NoSuchUpload).
    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        let _b = self.shared();
        let _k = self.stripe(bucket, key);
        self.require_upload(bucket, key, upload_id)?;
        let mut batch = WriteBatch::default();
        self.drop_upload(
            &mut batch,
            &keys::upload_key(bucket, key, upload_id)?,
            upload_id,
        )?;
        self.write(batch)
    }

    /// The upload (NoSuchBucket / NoSuchUpload).
    pub fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Upload> {
        self.require_upload(bucket, key, upload_id)
    }

    /// ListMultipartUploads: ordered by key then upload id. With only
    /// `key_marker`, uploads of keys after it; with `upload_id_marker` too,
    /// also the uploads of `key_marker` after that id.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max_uploads: u32,
    ) -> Result<ListUploadsResult> {
        let delimiter = delimiter.filter(|d| !d.is_empty());
        self.require_bucket(bucket)?;
        let mut out = ListUploadsResult::default();
        let max = max_uploads.min(MAX_LIST) as usize;
        if max == 0 {
            return Ok(out);
        }
        let lower = keys::object_key(bucket, prefix)?;
        let mut start = lower.clone();
        if let Some(km) = key_marker.filter(|k| !k.is_empty()) {
            let km_raw = keys::object_key(bucket, km)?;
            let from = match (
                delimiter.and_then(|d| keys::common_prefix(km, prefix, d)),
                upload_id_marker.filter(|u| !u.is_empty()),
            ) {
                (Some(cp), _) if cp == km => keys::prefix_successor(&km_raw),
                (_, Some(uim)) => Some(keys::key_successor(&keys::upload_key(bucket, km, uim)?)),
                // Past every upload of `km` itself: its rows are `km 0x00 id`.
                _ => {
                    let mut past = km_raw;
                    past.push(1);
                    Some(past)
                }
            };
            match from {
                Some(f) if f > start => start = f,
                Some(_) => {}
                None => return Ok(out),
            }
        }
        let mut it = self.range_iter(CF_UPLOADS, &lower)?;
        it.seek(&start);
        let mut count = 0usize;
        let mut last: Option<(String, Option<String>)> = None;
        while let Some(raw) = it.value() {
            let upload: Upload = decode(raw, CF_UPLOADS)?;
            if count == max {
                out.is_truncated = true;
                break;
            }
            count += 1;
            if let Some(cp) = delimiter.and_then(|d| keys::common_prefix(&upload.key, prefix, d)) {
                let cp = cp.to_string();
                let next = keys::prefix_successor(&keys::object_key(bucket, &cp)?);
                out.common_prefixes.push(cp.clone());
                last = Some((cp, None));
                match next {
                    Some(n) => it.seek(n),
                    None => break,
                }
                continue;
            }
            last = Some((upload.key.clone(), Some(upload.upload_id.clone())));
            out.uploads.push(upload);
            it.next();
        }
        it.status()?;
        if out.is_truncated
            && let Some((k, id)) = last
        {
            out.next_key_marker = Some(k);
            out.next_upload_id_marker = id;
        }
        Ok(out)
    }

    /// [`Self::execute`] for multipart uploads.
    pub(super) fn execute_upload(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::CreateUpload { upload } => {
                self.create_upload(upload)?;
                R::Unit
            }
            Q::PutPart {
                bucket,
                key,
                upload_id,
                part,
            } => R::MaybePart(self.put_part(&bucket, &key, &upload_id, part)?),
            Q::ListParts {
                bucket,
                key,
                upload_id,
                part_number_marker,
                max_parts,
            } => R::ListParts(self.list_parts(
                &bucket,
                &key,
                &upload_id,
                part_number_marker,
                max_parts,
            )?),
            Q::CompleteUpload {
                bucket,
                key,
                upload_id,
                parts,
                checks,
                if_none_match,
            } => R::Object(self.complete_upload(
                &bucket,
                &key,
                &upload_id,
                &parts,
                &checks,
                if_none_match,
            )?),
            Q::AbortUpload {
                bucket,
                key,
                upload_id,
            } => {
                self.abort_upload(&bucket, &key, &upload_id)?;
                R::Unit
            }
            Q::GetUpload {
                bucket,
                key,
                upload_id,
            } => R::Upload(self.get_upload(&bucket, &key, &upload_id)?),
            Q::ListUploads {
                bucket,
                prefix,
                delimiter,
                key_marker,
                upload_id_marker,
                max_uploads,
            } => R::ListUploads(self.list_uploads(
                &bucket,
                &prefix,
                delimiter_of(&delimiter),
                key_marker.as_deref(),
                upload_id_marker.as_deref(),
                max_uploads,
            )?),
            _ => return Err(misrouted()),
        })
    }
}

/// The checksum of a completed multipart object, once what the request says
/// about checksums holds against the parts (S3's rules, see
/// `shale_common::checksum`): every part checksum it lists must be the
/// stored one (`InvalidPart`), a COMPOSITE upload must list them all, its
/// checksum type must be the upload's, and an object checksum it expects
/// must be the one computed (`BadDigest`). An upload created without a
/// checksum gets S3's default, a FULL_OBJECT CRC64NVME. `None` only when a
/// part predates row format v3 and has no checksums.
fn completed_checksum(
    upload: &Upload,
    used: &[PartRow],
    checks: &CompleteChecks,
) -> Result<Option<ObjectChecksum>> {
    for (number, algorithm, value) in &checks.parts {
        if let Some(part) = used.iter().find(|p| p.number == *number)
            && part.checksum(*algorithm) != Some(value.as_slice())
        {
            return Err(MetaError::InvalidPart(format!(
                "part {number}: the {} checksum does not match",
                algorithm.name()
            )));
        }
    }
    let (algorithm, kind) = match upload.checksum {
        Some(c) => (c.algorithm, c.kind),
        None => (ChecksumAlgorithm::Crc64Nvme, ChecksumType::FullObject),
    };
    if let Some(asked) = checks.kind
        && asked != kind
    {
        return Err(MetaError::InvalidRequest(format!(
            "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
            kind.name()
        )));
    }
    let unlisted = |p: &&PartRow| {
        !checks
            .parts
            .iter()
            .any(|(n, a, _)| *n == p.number && *a == algorithm)
    };
    if upload.checksum.is_some()
        && kind == ChecksumType::Composite
        && let Some(p) = used.iter().find(unlisted)
    {
        return Err(MetaError::InvalidRequest(format!(
            "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {} in the request.",
            algorithm.name().to_lowercase(),
            p.number
        )));
    }
    let Some(digests) = used
        .iter()
        .map(|p| p.checksum(algorithm))
        .collect::<Option<Vec<&[u8]>>>()
    else {
        return Ok(None);
    };
    let parts: Vec<Vec<u8>> = digests.iter().map(|d| d.to_vec()).collect();
    let value = match kind {
        ChecksumType::Composite => checksum::composite(algorithm, digests),
        ChecksumType::FullObject => checksum::combine(
            algorithm,
            digests.into_iter().zip(used.iter().map(|p| p.size)),
        )
        .ok_or_else(|| {
            MetaError::Internal(format!(
                "cannot combine the parts' {} checksums",
                algorithm.name()
            ))
        })?,
    };
    if let Some((asked, expected)) = &checks.object {
        if *asked != algorithm {
            return Err(MetaError::InvalidRequest(format!(
                "The upload was created using a {} checksum. The complete request must use the same checksum algorithm.",
                algorithm.name().to_lowercase()
            )));
        }
        if *expected != value {
            return Err(MetaError::BadDigest(format!(
                "The {} you specified did not match the calculated checksum.",
                algorithm.name().to_lowercase()
            )));
        }
    }
    Ok(Some(ObjectChecksum {
        algorithm,
        kind,
        value,
        parts,
    }))
}

/// The multipart ETag the parts listed in a CompleteMultipartUpload (with
/// their ETags, quoted or not) make; `None` when an ETag is not an MD5 hex.
fn etag_of_listed(parts: &[(u32, String)]) -> Option<String> {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    for (_, etag) in parts {
        h.update(hex::decode(strip_quotes(etag)).ok()?);
    }
    Some(format!("{}-{}", hex::encode(h.finalize()), parts.len()))
}

/// S3's multipart ETag: hex(md5(concat(binary md5 of each part))) + "-N".
pub fn multipart_etag(parts: &[PartRow]) -> Result<String> {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    for p in parts {
        let bin = hex::decode(&p.etag).map_err(|_| {
            MetaError::InvalidPart(format!("part {}: stored etag is not hex", p.number))
        })?;
        h.update(&bin);
    }
    Ok(format!("{}-{}", hex::encode(h.finalize()), parts.len()))
}
