//! Regions: the regions this one is linked with, and, in the deployment's
//! namespace region, the registry of bucket names.
//!
//! Every name a bucket of any region has is taken here first
//! ([`MetaStore::claim_bucket`]), under the exclusive lock bucket creation
//! takes, in the namespace region's Raft group: two regions asking for one
//! name at the same moment are two entries of one log, and the second
//! finds the first's claim. A bucket of this region is its own claim (its
//! row in `buckets`), so the namespace region's buckets need no claim rows,
//! and its CreateBucket checks the claims of the others
//! ([`MetaStore::check_unclaimed`]).

use super::*;

/// The column family of links and claims (row format v8).
pub(crate) const CF_REGIONS: &str = "regions";

const LINK: &str = "link/";
const CLAIM: &str = "claim/";

fn link_key(name: &str) -> Result<Vec<u8>> {
    if name.is_empty() || name.len() > 64 || name.contains('/') {
        return Err(MetaError::InvalidArgument(format!(
            "region name {name:?}: 1 to 64 characters, no '/'"
        )));
    }
    Ok(format!("{LINK}{name}").into_bytes())
}

fn claim_key(bucket: &str) -> Result<Vec<u8>> {
    keys::bucket_prefix(bucket)?;
    Ok(format!("{CLAIM}{bucket}").into_bytes())
}

/// The conflict a name taken by `holder` is for a creator `owner`: its
/// owner's own bucket (`BucketAlreadyOwnedByYou`), or someone else's.
fn taken(holder: Option<&str>, owner: Option<&str>) -> MetaError {
    if holder.is_some() && holder == owner {
        MetaError::BucketAlreadyOwnedByYou
    } else {
        MetaError::BucketAlreadyExists
    }
}

impl MetaStore {
    /// Links region `name` (replacing what was known of it), or unlinks it.
    /// At most one linked region is the namespace region.
    pub fn put_region(&self, name: &str, link: Option<&RegionLink>) -> Result<()> {
        let key = link_key(name)?;
        let _g = self.exclusive();
        let mut batch = WriteBatch::default();
        match link {
            Some(link) => {
                if link.endpoint.is_empty() || link.access_key.is_empty() {
                    return Err(MetaError::InvalidArgument(
                        "a region link needs an endpoint and an access key".into(),
                    ));
                }
                if link.namespace
                    && let Some((other, _)) = self
                        .list_regions()?
                        .into_iter()
                        .find(|(n, l)| l.namespace && n != name)
                {
                    return Err(MetaError::InvalidRequest(format!(
                        "{other} is the namespace region already: unlink it first"
                    )));
                }
                batch.put_cf(self.cf(CF_REGIONS)?, key, encode(link)?);
            }
            None => batch.delete_cf(self.cf(CF_REGIONS)?, key),
        }
        self.write(batch)
    }

    /// Every linked region, by name.
    pub fn list_regions(&self) -> Result<Vec<(String, RegionLink)>> {
        self.rows_under(LINK)
    }

    /// Takes `bucket`'s name for `region` (see the module notes): a bucket
    /// of this region or another region's claim is a conflict; the same
    /// region's claim is kept as it is.
    pub fn claim_bucket(&self, bucket: &str, region: &str, owner: Option<&str>) -> Result<()> {
        let key = claim_key(bucket)?;
        let _g = self.exclusive();
        if let Some(b) = self.get::<Bucket>(CF_BUCKETS, bucket.as_bytes())? {
            return if b.region == region {
                Ok(())
            } else {
                Err(taken(b.owner.as_deref(), owner))
            };
        }
        if let Some(claim) = self.get::<BucketClaim>(CF_REGIONS, &key)? {
            return if claim.region == region {
                Ok(())
            } else {
                Err(taken(claim.owner.as_deref(), owner))
            };
        }
        let claim = BucketClaim {
            region: region.to_owned(),
            owner: owner.map(str::to_owned),
            created_ms: self.now_ms(),
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_REGIONS)?, key, encode(&claim)?);
        self.write(batch)
    }

    /// Gives back `region`'s claim on `bucket`, and every grant on the
    /// name (as a bucket's deletion does), in one batch. Another region's
    /// claim, or none, is left alone.
    pub fn release_bucket(&self, bucket: &str, region: &str) -> Result<()> {
        let key = claim_key(bucket)?;
        let _g = self.exclusive();
        match self.get::<BucketClaim>(CF_REGIONS, &key)? {
            Some(claim) if claim.region == region => {}
            _ => return Ok(()),
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_REGIONS)?, &key);
        let keys_cf = self.cf(CF_ACCESS_KEYS)?;
        for mut k in self.access_key_rows()? {
            if let Some(grants) = k.grants.as_mut()
                && grants.iter().any(|(b, _)| b == bucket)
            {
                grants.retain(|(b, _)| b != bucket);
                batch.put_cf(keys_cf, k.access_key.as_bytes(), encode(&k)?);
            }
        }
        self.write(batch)
    }

    /// Where `bucket` lives: this region's bucket, else a claim.
    pub fn get_claim(&self, bucket: &str) -> Result<Option<BucketClaim>> {
        let key = claim_key(bucket)?;
        if let Some(b) = self.get::<Bucket>(CF_BUCKETS, bucket.as_bytes())? {
            return Ok(Some(BucketClaim {
                region: b.region,
                owner: b.owner,
                created_ms: b.created_ms,
            }));
        }
        self.get(CF_REGIONS, &key)
    }

    /// The claims of `region` (every claim when it is empty), by name.
    pub fn list_claims(&self, region: &str) -> Result<Vec<(String, BucketClaim)>> {
        let mut claims: Vec<(String, BucketClaim)> = self.rows_under(CLAIM)?;
        claims.retain(|(_, c)| region.is_empty() || c.region == region);
        Ok(claims)
    }

    /// CreateBucket's check in the namespace region (a no-op elsewhere,
    /// which holds no claims): a name claimed by another region is taken.
    /// Called under the exclusive lock.
    pub(super) fn check_unclaimed(
        &self,
        bucket: &str,
        region: &str,
        owner: Option<&str>,
    ) -> Result<()> {
        match self.get::<BucketClaim>(CF_REGIONS, &claim_key(bucket)?)? {
            Some(claim) if claim.region != region => Err(taken(claim.owner.as_deref(), owner)),
            _ => Ok(()),
        }
    }

    /// The rows of `regions` under `prefix`, with the rest of their keys.
    fn rows_under<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>> {
        let mut it = self.range_iter(CF_REGIONS, prefix.as_bytes())?;
        it.seek_to_first();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            out.push((name, decode(v, CF_REGIONS)?));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// [`Self::execute`] for regions and the registry of names.
    pub(super) fn execute_region(&self, req: MetaRequest) -> Result<MetaResponse> {
        use MetaRequest as Q;
        use MetaResponse as R;
        Ok(match req {
            Q::PutRegion { name, link } => {
                self.put_region(&name, link.as_ref())?;
                R::Unit
            }
            Q::ListRegions => R::Regions(self.list_regions()?),
            Q::ClaimBucket {
                bucket,
                region,
                owner,
            } => {
                self.claim_bucket(&bucket, &region, owner.as_deref())?;
                R::Unit
            }
            Q::ReleaseBucket { bucket, region } => {
                self.release_bucket(&bucket, &region)?;
                R::Unit
            }
            Q::GetClaim { bucket } => R::Claim(self.get_claim(&bucket)?),
            Q::ListClaims { region } => R::Claims(self.list_claims(&region)?),
            _ => return Err(misrouted()),
        })
    }
}
