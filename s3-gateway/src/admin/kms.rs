//! The admin API's KMS keys (`kms-key-*`): the built-in key service of
//! SSE-KMS. A key's material is made here, sealed under the master key,
//! and kept by the metadata service (`shale_metadata::KmsKey`).

use super::*;

fn kms_key_json(region: &str, k: &shale_metadata::KmsKey) -> Value {
    json!({
        "id": k.id,
        "arn": crate::s3::kms_arn(region, &k.id),
        "description": k.description,
        "created_ms": k.created_ms,
        "enabled": k.enabled,
        "versions": k.versions.len(),
        "rotated_ms": k.versions.last().map(|v| v.created_ms),
    })
}

impl AdminRoute {
    /// The `encryption` section of `status`: the master keys this gateway
    /// holds and its re-sealing worker's figures (null when it runs none).
    pub(super) fn encryption_status(&self) -> Value {
        let master: Vec<&str> = self
            .data
            .sse_keys()
            .master()
            .map(|m| m.keys().iter().map(|k| k.id()).collect())
            .unwrap_or_default();
        let rekey = self.workers.as_ref().map(|w| {
            use std::sync::atomic::Ordering::Relaxed;
            let r = &w.rekey;
            let last = r.last_pass_ms.load(Relaxed);
            json!({
                "running": r.running.load(Relaxed),
                "passes": r.passes.load(Relaxed),
                "scanned": r.scanned.load(Relaxed),
                "resealed": r.resealed.load(Relaxed),
                "kms_resealed": r.kms_resealed.load(Relaxed),
                "stale_left": r.stale_left.load(Relaxed),
                "failed": r.failed.load(Relaxed),
                "last_pass_unix_ms": (last > 0).then_some(last),
                "last_pass_took_ms": r.last_pass_took_ms.load(Relaxed),
                "quiet": r.quiet.load(Relaxed),
            })
        });
        json!({
            "master_keys": master,
            "sealing_master_key": master.first(),
            "rekey": rekey,
        })
    }

    async fn kms_key(&self, id: &str) -> S3Result<shale_metadata::KmsKey> {
        self.meta
            .list_kms_keys()
            .await
            .map_err(meta_err)?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| s3_error!(InvalidArgument, "no KMS key {}", id))
    }

    pub(super) async fn kms_key_create(&self, description: &str) -> S3Result<Value> {
        let id = uuid::Uuid::new_v4().to_string();
        self.data
            .create_kms_key(&id, description)
            .await
            .map_err(crate::error::to_s3_error)?;
        Ok(kms_key_json(&self.region, &self.kms_key(&id).await?))
    }

    pub(super) async fn kms_key_list(&self) -> S3Result<Value> {
        let keys = self.meta.list_kms_keys().await.map_err(meta_err)?;
        Ok(keys.iter().map(|k| kms_key_json(&self.region, k)).collect())
    }

    /// Enables or disables a key: what it sealed opens again, or stops
    /// opening (on every gateway within `shale_datapath::sse::KMS_TTL`).
    pub(super) async fn kms_key_set_enabled(&self, id: &str, enabled: bool) -> S3Result<Value> {
        let mut key = self.kms_key(id).await?;
        key.enabled = enabled;
        self.meta
            .put_kms_key(key.clone(), false)
            .await
            .map_err(meta_err)?;
        self.data.forget_kms_keys();
        Ok(kms_key_json(&self.region, &key))
    }

    /// Rotates a key: a new version seals new objects' keys; the older
    /// ones keep opening what they sealed.
    pub(super) async fn kms_key_rotate(&self, id: &str) -> S3Result<Value> {
        let mut key = self.kms_key(id).await?;
        key.versions.push(
            self.data
                .new_kms_version(id)
                .map_err(crate::error::to_s3_error)?,
        );
        self.meta
            .put_kms_key(key.clone(), false)
            .await
            .map_err(meta_err)?;
        self.data.forget_kms_keys();
        // The objects its older versions sealed are sealed again now.
        if let Some(w) = &self.workers {
            w.rekey_wake.notify_one();
        }
        Ok(kms_key_json(&self.region, &key))
    }
}
