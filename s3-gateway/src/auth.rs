//! Access keys for SigV4: `s3s` verifies signatures, this looks the secret up
//! in the metadata service (cached: keys change rarely and every request
//! needs one).

use std::collections::HashMap;
use std::sync::RwLock;

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use shale_metadata::MetaClient;

/// Secret-key lookup backed by the metadata service's access keys.
pub struct MetaAuth {
    meta: MetaClient,
    cache: RwLock<HashMap<String, SecretKey>>,
}

impl MetaAuth {
    /// Looks keys up through `meta`.
    pub fn new(meta: MetaClient) -> Self {
        MetaAuth {
            meta,
            cache: RwLock::new(HashMap::new()),
        }
    }
}

#[async_trait::async_trait]
impl S3Auth for MetaAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some(secret) = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.get(access_key).cloned())
        {
            return Ok(secret);
        }
        match self.meta.get_access_key(access_key).await {
            Ok(Some(key)) => {
                let secret = SecretKey::from(key.secret_key);
                if let Ok(mut c) = self.cache.write() {
                    c.insert(access_key.to_owned(), secret.clone());
                }
                Ok(secret)
            }
            Ok(None) => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
            Err(e) => Err(crate::error::to_s3_error(crate::error::Error::Meta(e))),
        }
    }
}
