//! The built-in key service's keys: `kms/<id>` rows of the `cluster`
//! family ([`KmsKey`]).

use rocksdb::WriteBatch;

use super::*;

impl MetaStore {
    /// Stores `key`: a new one (`create`: `InvalidRequest` if its id is
    /// taken) or a change of one that exists (`InvalidArgument` if not).
    pub fn put_kms_key(&self, key: &KmsKey, create: bool) -> Result<()> {
        let row = format!("kms/{}", key.id);
        let cf = self.cf(CF_CLUSTER)?;
        let exists = self.db.get_pinned_cf(cf, row.as_bytes())?.is_some();
        if create && exists {
            return Err(MetaError::InvalidRequest(format!(
                "KMS key {} exists already",
                key.id
            )));
        }
        if !create && !exists {
            return Err(MetaError::InvalidArgument(format!("no KMS key {}", key.id)));
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, row.as_bytes(), encode(key)?);
        self.write(batch)
    }

    /// Every KMS key, by id.
    pub fn list_kms_keys(&self) -> Result<Vec<KmsKey>> {
        let cf = self.cf(CF_CLUSTER)?;
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            cf,
            rocksdb::IteratorMode::From(b"kms/", rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(b"kms/") {
                break;
            }
            out.push(decode(&v, CF_CLUSTER)?);
        }
        Ok(out)
    }

    /// [`Self::execute`] for KMS keys.
    pub(super) fn execute_kms(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::PutKmsKey { key, create } => {
                self.put_kms_key(&key, create)?;
                R::Unit
            }
            Q::ListKmsKeys => R::KmsKeys(self.list_kms_keys()?),
            _ => return Err(misrouted()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, enabled: bool) -> KmsKey {
        KmsKey {
            id: id.into(),
            description: "d".into(),
            created_ms: 1,
            enabled,
            versions: vec![KmsKeyVersion {
                created_ms: 1,
                material: "shale-sealed-v1:00000000:AAAA".into(),
            }],
        }
    }

    #[test]
    fn kms_keys_are_made_once_changed_in_place_and_listed_apart_from_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(dir.path()).unwrap();
        assert!(s.list_kms_keys().unwrap().is_empty());
        s.put_kms_key(&key("a", true), true).unwrap();
        s.put_kms_key(&key("b", true), true).unwrap();
        assert!(matches!(
            s.put_kms_key(&key("a", true), true),
            Err(MetaError::InvalidRequest(_))
        ));
        assert!(matches!(
            s.put_kms_key(&key("c", true), false),
            Err(MetaError::InvalidArgument(_))
        ));
        s.put_kms_key(&key("a", false), false).unwrap();
        let all = s.list_kms_keys().unwrap();
        assert_eq!(all, vec![key("a", false), key("b", true)]);
        // Cursors and leases in the same family are not keys.
        s.set_cursor("lifecycle", b"x").unwrap();
        assert_eq!(s.list_kms_keys().unwrap().len(), 2);
    }
}
