//! Server-side encryption's rows as the re-sealing worker sees them: every
//! version and upload that has an `x-shale-sse` system header
//! ([`SSE_HEADER`]: its object key, sealed), and the change of that header
//! alone, made only if it still holds what the worker read. The metadata
//! service holds no key: the gateway opens and seals, this only stores.

use rocksdb::WriteBatch;

use super::*;

/// The sealed object key of a version or an upload, if it has one.
fn sse_of(headers: &[(String, String)]) -> Option<&str> {
    headers
        .iter()
        .find(|(n, _)| n == SSE_HEADER)
        .map(|(_, v)| v.as_str())
}

/// Replaces the [`SSE_HEADER`] of `headers` with `new` if it is `old`.
fn reseal_in(headers: &mut [(String, String)], old: &str, new: &str) -> bool {
    match headers.iter_mut().find(|(n, _)| n == SSE_HEADER) {
        Some((_, v)) if v == old => {
            *v = new.to_owned();
            true
        }
        _ => false,
    }
}

impl MetaStore {
    /// Up to `limit` rows looked at from `cursor` on, and those of them with
    /// an [`SSE_HEADER`]: current versions, uploads in progress, other
    /// versions, in that order. `cursor` is empty for the first page, else
    /// the `next` of the previous one: the phase (0, 1, 2) and the key of
    /// the row to start at.
    pub fn scan_sse(&self, cursor: &[u8], limit: u32) -> Result<SsePage> {
        let limit = limit.clamp(1, MAX_LIST) as u64;
        let mut page = SsePage::default();
        let (mut phase, mut start) = match cursor.split_first() {
            None => (0u8, None),
            Some((p, rest)) if *p <= 2 => (*p, Some(rest.to_vec()).filter(|r| !r.is_empty())),
            Some(_) => return Err(MetaError::InvalidArgument("bad sse cursor".into())),
        };
        while phase <= 2 {
            let cf = [CF_OBJECTS, CF_UPLOADS, CF_VERSIONS][phase as usize];
            let mut it = self.db.raw_iterator_cf(self.cf(cf)?);
            match &start {
                Some(a) => it.seek(a),
                None => it.seek_to_first(),
            }
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if page.scanned == limit {
                    page.next = Some([&[phase][..], k].concat());
                    return Ok(page);
                }
                page.scanned += 1;
                match phase {
                    0 => {
                        let row = decode::<ObjectVersion>(v, CF_OBJECTS)?.row;
                        if let Some(sse) = sse_of(&row.system_headers) {
                            let (bucket, key) = split_object_key(k)?;
                            page.entries
                                .push((LayoutOwner::Object { bucket, key }, sse.to_owned()));
                        }
                    }
                    1 => {
                        let upload: Upload = decode(v, CF_UPLOADS)?;
                        if let Some(sse) = sse_of(&upload.system_headers) {
                            page.entries.push((
                                LayoutOwner::Upload {
                                    bucket: upload.bucket.clone(),
                                    key: upload.key.clone(),
                                    upload_id: upload.upload_id.clone(),
                                },
                                sse.to_owned(),
                            ));
                        }
                    }
                    _ => {
                        let row = decode::<ObjectVersion>(v, CF_VERSIONS)?.row;
                        if let Some(sse) = sse_of(&row.system_headers) {
                            let len = *k.first().unwrap_or(&0) as usize;
                            let bucket = k
                                .get(1..1 + len)
                                .and_then(|b| std::str::from_utf8(b).ok())
                                .ok_or_else(|| {
                                    MetaError::Internal("versions key with a bad bucket".into())
                                })?
                                .to_owned();
                            let (key, seq) = keys::decode_version_key(k, 1 + len)?;
                            page.entries
                                .push((LayoutOwner::Version { bucket, key, seq }, sse.to_owned()));
                        }
                    }
                }
                it.next();
            }
            it.status()?;
            phase += 1;
            start = None;
        }
        Ok(page)
    }

    /// Replaces the [`SSE_HEADER`] of `owner`'s row with `new` if it still
    /// is `old` (false: the row changed or went meanwhile), under the key's
    /// lock; nothing else of the row changes.
    pub fn reseal_sse(&self, owner: &LayoutOwner, old: &str, new: &str) -> Result<bool> {
        let _b = self.shared();
        let (bucket, key) = match owner {
            LayoutOwner::Object { bucket, key }
            | LayoutOwner::Version { bucket, key, .. }
            | LayoutOwner::Upload { bucket, key, .. } => (bucket.as_str(), key.as_str()),
        };
        let _k = self.stripe(bucket, key);
        let (cf, row_key) = match owner {
            LayoutOwner::Object { .. } => (CF_OBJECTS, keys::object_key(bucket, key)?),
            LayoutOwner::Version { seq, .. } => {
                (CF_VERSIONS, keys::version_key(bucket, key, *seq)?)
            }
            LayoutOwner::Upload { upload_id, .. } => {
                (CF_UPLOADS, keys::upload_key(bucket, key, upload_id)?)
            }
        };
        let encoded = if cf == CF_UPLOADS {
            let Some(mut upload) = self.get::<Upload>(cf, &row_key)? else {
                return Ok(false);
            };
            if !reseal_in(&mut upload.system_headers, old, new) {
                return Ok(false);
            }
            encode(&upload)?
        } else {
            let Some(mut v) = self.get::<ObjectVersion>(cf, &row_key)? else {
                return Ok(false);
            };
            if !reseal_in(&mut v.row.system_headers, old, new) {
                return Ok(false);
            }
            encode(&v)?
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf)?, &row_key, encoded);
        self.write(batch)?;
        Ok(true)
    }

    /// [`Self::execute`] for re-sealing.
    pub(super) fn execute_sse(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::ScanSse { cursor, limit } => R::SsePage(self.scan_sse(&cursor, limit)?),
            Q::ResealSse { owner, old, new } => R::Swapped(self.reseal_sse(&owner, &old, &new)?),
            _ => return Err(misrouted()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(value: &str) -> ObjectRow {
        ObjectRow {
            size: 1,
            etag: "e".into(),
            last_modified_ms: 2_000,
            content_type: None,
            system_headers: vec![
                ("cache-control".into(), "no-cache".into()),
                (SSE_HEADER.into(), value.into()),
            ],
            user_metadata: Vec::new(),
            parts_count: None,
            data: ObjectData::Inline(b"x".to_vec()),
            tags: Vec::new(),
            checksum: None,
            owner: None,
        }
    }

    #[test]
    fn every_sealed_row_is_scanned_in_pages_and_resealed_only_if_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(dir.path()).unwrap();
        s.create_bucket("b", "r").unwrap();
        s.put_bucket_config("b", &BucketConfig::Versioning(VersioningStatus::Enabled))
            .unwrap();
        let none = LockRequest::default();
        for k in ["a", "b", "c"] {
            s.write_object(
                "b",
                k,
                sealed(&format!("AES256 old-{k}")),
                (false, None),
                &none,
            )
            .unwrap();
        }
        // A newer version of `a` (the old one goes to `versions`), a plain
        // object, which is not listed.
        s.write_object("b", "a", sealed("AES256 newer-a"), (false, None), &none)
            .unwrap();
        let mut plain = sealed("x");
        plain.system_headers.truncate(1);
        s.write_object("b", "p", plain, (false, None), &none)
            .unwrap();

        let (mut cursor, mut seen, mut pages) = (Vec::new(), Vec::new(), 0);
        loop {
            let page = s.scan_sse(&cursor, 2).unwrap();
            pages += 1;
            seen.extend(page.entries);
            match page.next {
                Some(n) => cursor = n,
                None => break,
            }
        }
        assert!(pages >= 3);
        let values: Vec<&str> = seen.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "AES256 newer-a",
                "AES256 old-b",
                "AES256 old-c",
                "AES256 old-a"
            ]
        );
        let (owner, value) = &seen[3];
        assert!(matches!(owner, LayoutOwner::Version { .. }));
        // Changed meanwhile: not replaced.
        assert!(!s.reseal_sse(owner, "AES256 other", "AES256 new").unwrap());
        assert!(s.reseal_sse(owner, value, "AES256 resealed-a").unwrap());
        let (cur, _) = &seen[0];
        assert!(
            s.reseal_sse(cur, "AES256 newer-a", "AES256 resealed-newer")
                .unwrap()
        );
        let page = s.scan_sse(&[], 100).unwrap();
        let values: Vec<&str> = page.entries.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "AES256 resealed-newer",
                "AES256 old-b",
                "AES256 old-c",
                "AES256 resealed-a"
            ]
        );
        // The rest of the row is as it was.
        let row = s.get_object("b", "a").unwrap();
        assert_eq!(
            row.system_headers[0],
            ("cache-control".into(), "no-cache".into())
        );
        assert_eq!(page.scanned, 5);
    }
}
