//! Regions: what a gateway knows of the regions its cluster is linked
//! with, and what it does with it.
//!
//! - The links (`shale admin region add`, kept in metadata: name, S3
//!   endpoint, the root key to sign with, which one is the namespace
//!   region), reread every few seconds.
//! - One bucket namespace: a bucket's name is taken in the namespace
//!   region's registry before the bucket is made (`claim`), through that
//!   region's admin API when it is another region
//!   (`shale_metadata::MetaStore::claim_bucket` says why two regions can
//!   never both have a name).
//! - Requests for a bucket of another region ([`Regions::route`]): S3's
//!   301 `PermanentRedirect` with `x-amz-bucket-region`, or, for a request
//!   already signed for the bucket's region (a client that followed the
//!   redirect but whose endpoint is fixed, as boto3's and the AWS CLI's
//!   `--endpoint-url` is), the request passed on to that region's gateway
//!   as it is (its signature covers the `Host`, which is kept), and the
//!   answer passed back.
//! - Identities: keys and grants belong to the namespace region; the other
//!   regions mirror them every few seconds ([`Regions::run_sync`]) and pass
//!   their key changes on to it. The same loop claims the names of buckets
//!   made before the link and gives back claims left by a creation that
//!   never finished.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use shale_common::admin_client::{AdminClient, AdminError};
use shale_common::s3_client::S3Target;
use shale_metadata::{
    AccessKey, Bucket, BucketConfig, MetaClient, MetaError, Permission, RegionLink,
};

use crate::access::Keys;

/// How long the links are believed before they are read again.
const LINKS_TTL: Duration = Duration::from_secs(2);
/// How long where a bucket lives is believed.
const LOCATED_TTL: Duration = Duration::from_secs(5);
/// Most buckets whose place is remembered (a cap on what unknown names
/// can make a gateway hold).
const LOCATED_MAX: usize = 10_000;
/// How long a request to another region's admin API may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often identities and names are brought in line with the namespace
/// region's.
const SYNC_INTERVAL: Duration = Duration::from_secs(3);
/// A claim of this region with no bucket here, older than this, is left
/// over from a creation that never finished, and is given back.
const STALE_CLAIM: Duration = Duration::from_secs(60);
/// The header a gateway marks a request it passes on with; such a request
/// is never passed on again.
pub const FORWARDED_HEADER: &str = "x-shale-forwarded-by";

/// Where a request for a bucket goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// This region holds it, or nobody does: answered here.
    Here,
    /// Another region holds it: S3's 301 naming that region.
    Redirect {
        /// The bucket's region.
        region: String,
        /// Its S3 endpoint.
        endpoint: String,
    },
    /// Another region holds it and the request is signed for that region:
    /// passed on to its endpoint.
    Forward {
        /// The bucket's region.
        region: String,
        /// Its S3 endpoint.
        endpoint: String,
    },
    /// Not here, and where it is cannot be told now: 503.
    Unknown(MetaError),
    /// The caller's address failed to authenticate too often: 503
    /// SlowDown, the request not looked at (see `crate::edge`).
    Held,
}

type Links = Arc<Vec<(String, RegionLink)>>;

/// A gateway's view of the linked regions (see the module notes).
pub struct Regions {
    me: String,
    meta: MetaClient,
    keys: Arc<Keys>,
    links: Mutex<Option<(Instant, Links)>>,
    located: Mutex<HashMap<String, (Instant, Option<String>)>>,
    here: Mutex<HashMap<String, Instant>>,
    client: Client<HttpConnector, hyper::body::Incoming>,
    /// This gateway's own S3 endpoint (`http://host:port`), for
    /// replication into a bucket of this region when it is not linked.
    own_endpoint: Mutex<Option<String>>,
}

/// The namespace region among `links`.
fn namespace(links: &[(String, RegionLink)]) -> Option<&(String, RegionLink)> {
    links.iter().find(|(_, l)| l.namespace)
}

/// The region a SigV4 request is signed for (its credential scope).
pub fn signing_region(headers: &http::HeaderMap, query: Option<&str>) -> Option<String> {
    let from_header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("AWS4-"))
        .and_then(|v| v.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or("").to_owned());
    let credential = from_header.or_else(|| {
        form_urlencoded::parse(query?.as_bytes())
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| v.into_owned())
    })?;
    let region = credential.split('/').nth(2)?;
    (!region.is_empty()).then(|| region.to_owned())
}

/// A metadata error for an answer of another region's admin API.
fn peer_error(region: &str, e: AdminError) -> MetaError {
    match e {
        AdminError::Refused { code, .. } if code == "BucketAlreadyExists" => {
            MetaError::BucketAlreadyExists
        }
        AdminError::Refused { code, .. } if code == "BucketAlreadyOwnedByYou" => {
            MetaError::BucketAlreadyOwnedByYou
        }
        AdminError::Refused { code, message, .. } if code == "InvalidRequest" => {
            MetaError::InvalidRequest(message)
        }
        other => MetaError::Unavailable(format!("region {region}: {other}")),
    }
}

impl Regions {
    /// The view of region `me`, reading links and keys through `meta`.
    pub fn new(me: &str, meta: MetaClient, keys: Arc<Keys>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Regions {
            me: me.to_owned(),
            meta,
            keys,
            links: Mutex::new(None),
            located: Mutex::new(HashMap::new()),
            here: Mutex::new(HashMap::new()),
            own_endpoint: Mutex::new(None),
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        }
    }

    /// This region's name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Sets this gateway's own S3 endpoint (see [`Regions::target_of`]).
    pub fn set_own_endpoint(&self, endpoint: String) {
        *self.own_endpoint.lock().unwrap_or_else(|e| e.into_inner()) = Some(endpoint);
    }

    /// Where replication writes into `bucket` go: its region's endpoint
    /// and link key (this region's own link, or this gateway and a root
    /// key when not linked); `None` when no region has the bucket.
    pub async fn target_of(&self, bucket: &str) -> Result<Option<S3Target>, String> {
        let here = self
            .meta
            .get_bucket(bucket)
            .await
            .map_err(|e| e.to_string())?;
        let region = match here {
            Some(b) => b.region,
            None => match self.locate(bucket).await.map_err(|e| e.to_string())? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        let links = self.links().await;
        let (endpoint, key_id) = match links.iter().find(|(n, _)| *n == region) {
            Some((_, link)) => (link.endpoint.clone(), link.access_key.clone()),
            None if region == self.me => {
                let endpoint = self
                    .own_endpoint
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .ok_or("this gateway's endpoint is not known yet")?;
                let root = self
                    .meta
                    .list_access_keys()
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .find(|k| k.is_root())
                    .ok_or("no root key to replicate with")?;
                (endpoint, root.access_key)
            }
            None => return Err(format!("region {region} is not linked")),
        };
        let key = self
            .keys
            .get(&key_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the replication key {key_id} is not known here"))?;
        Ok(Some(S3Target {
            endpoint,
            access_key: key_id,
            secret_key: key.key().secret_key.clone(),
            region,
        }))
    }

    /// The linked regions (this one too, when it is linked), read again
    /// when older than [`LINKS_TTL`]; the last ones known while metadata
    /// does not answer.
    pub async fn links(&self) -> Links {
        let cached = self.links.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((at, links)) = &cached
            && at.elapsed() < LINKS_TTL
        {
            return Arc::clone(links);
        }
        match self.meta.list_regions().await {
            Ok(links) => {
                let links = Arc::new(links);
                *self.links.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), Arc::clone(&links)));
                links
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the linked regions failed");
                cached.map(|(_, l)| l).unwrap_or_default()
            }
        }
    }

    /// Forgets the links, after this gateway changed them.
    pub fn forget_links(&self) {
        *self.links.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// True when another region is linked.
    pub async fn linked(&self) -> bool {
        self.links().await.iter().any(|(n, _)| *n != self.me)
    }

    /// The namespace region's name when it is another region than this
    /// one; `None` when this region is it, or is not linked.
    pub async fn namespace_elsewhere(&self) -> Result<Option<String>, MetaError> {
        let links = self.links().await;
        if !links.iter().any(|(n, _)| *n != self.me) {
            return Ok(None);
        }
        match namespace(&links) {
            Some((name, _)) if *name == self.me => Ok(None),
            Some((name, _)) => Ok(Some(name.clone())),
            None => Err(MetaError::Unavailable(
                "regions are linked but none is the namespace region \
                 (shale admin region add NAME ENDPOINT --namespace)"
                    .into(),
            )),
        }
    }

    /// The admin API of linked region `region`, signed with its link's key
    /// (whose secret this region has: keys are the deployment's).
    pub async fn peer(&self, region: &str) -> Result<AdminClient, MetaError> {
        let links = self.links().await;
        let link = links
            .iter()
            .find(|(n, _)| n == region)
            .map(|(_, l)| l.clone())
            .ok_or_else(|| MetaError::InvalidArgument(format!("no linked region {region}")))?;
        let key = self.keys.get(&link.access_key).await?.ok_or_else(|| {
            MetaError::Unavailable(format!(
                "the key {} of the link to {region} is not known here",
                link.access_key
            ))
        })?;
        Ok(AdminClient::new(
            &link.endpoint,
            &link.access_key,
            &key.key().secret_key,
            region,
            PEER_TIMEOUT,
        ))
    }

    /// The S3 endpoint of linked region `region`.
    pub async fn endpoint(&self, region: &str) -> Option<String> {
        self.links()
            .await
            .iter()
            .find(|(n, _)| n == region)
            .map(|(_, l)| l.endpoint.clone())
    }

    /// Takes `bucket`'s name for this region in the namespace region's
    /// registry (nothing to do when no region is linked).
    pub async fn claim(&self, bucket: &str, owner: Option<&str>) -> Result<(), MetaError> {
        if !self.linked().await {
            return Ok(());
        }
        match self.namespace_elsewhere().await? {
            None => self.meta.claim_bucket(bucket, &self.me, owner).await,
            Some(ns) => {
                let mut params = vec![("bucket", bucket.to_owned()), ("region", self.me.clone())];
                if let Some(o) = owner {
                    params.push(("owner", o.to_owned()));
                }
                self.peer(&ns)
                    .await?
                    .call("POST", "region-claim", &params)
                    .await
                    .map(drop)
                    .map_err(|e| peer_error(&ns, e))
            }
        }
    }

    /// Gives `bucket`'s name back after its deletion here. Best effort: a
    /// claim the namespace region did not hear about is given back by
    /// [`Regions::run_sync`] later.
    pub async fn release(&self, bucket: &str) {
        self.here
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(bucket);
        let result = match self.namespace_elsewhere().await {
            Ok(None) if self.linked().await => self.meta.release_bucket(bucket, &self.me).await,
            Ok(None) => Ok(()),
            Ok(Some(ns)) => match self.peer(&ns).await {
                Ok(peer) => peer
                    .call(
                        "POST",
                        "region-release",
                        &[("bucket", bucket.to_owned()), ("region", self.me.clone())],
                    )
                    .await
                    .map(drop)
                    .map_err(|e| peer_error(&ns, e)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(bucket, error = %e, "giving the bucket's name back failed: the region sync will");
        }
    }

    /// Creates `bucket` here: its name claimed first, then the bucket (with
    /// its first configurations), then its owner's grant when the owner is
    /// not a root key.
    pub async fn create_here(
        &self,
        bucket: &str,
        owner: Option<&crate::access::Principal>,
        configs: Vec<BucketConfig>,
    ) -> Result<Bucket, MetaError> {
        let owner_id = owner.map(|k| k.user_name());
        self.claim(bucket, owner_id).await?;
        let created = self
            .meta
            .create_bucket_with(bucket, &self.me, owner_id, configs)
            .await?;
        Ok(created)
    }

    /// Creates `bucket` in linked region `region`, for `owner`, through its
    /// admin API (CreateBucket with that region's `LocationConstraint`).
    pub async fn create_in(
        &self,
        region: &str,
        bucket: &str,
        owner: Option<&str>,
        object_lock: bool,
    ) -> Result<(), MetaError> {
        let mut params = vec![("bucket", bucket.to_owned())];
        if let Some(o) = owner {
            params.push(("owner", o.to_owned()));
        }
        if object_lock {
            params.push(("object_lock", "true".to_owned()));
        }
        self.peer(region)
            .await?
            .call("POST", "region-create-bucket", &params)
            .await
            .map(drop)
            .map_err(|e| peer_error(region, e))
    }

    /// The region that holds `bucket`, as the namespace region's registry
    /// says (remembered [`LOCATED_TTL`]); `None` when no region does;
    /// `Unavailable` when the registry cannot be asked (a region cut off
    /// from the namespace region cannot tell a bucket of another region
    /// from none).
    pub async fn locate(&self, bucket: &str) -> Result<Option<String>, MetaError> {
        if let Some((at, region)) = self
            .located
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
            && at.elapsed() < LOCATED_TTL
        {
            return Ok(region.clone());
        }
        let found = match self.namespace_elsewhere().await {
            Ok(None) => self
                .meta
                .get_claim(bucket)
                .await
                .map(|c| c.map(|c| c.region)),
            Ok(Some(ns)) => match self.peer(&ns).await {
                Ok(peer) => peer
                    .call("GET", "region-locate", &[("bucket", bucket.to_owned())])
                    .await
                    .map(|v| v["region"].as_str().map(str::to_owned))
                    .map_err(|e| peer_error(&ns, e)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match found {
            Ok(region) => {
                let mut located = self.located.lock().unwrap_or_else(|e| e.into_inner());
                if located.len() >= LOCATED_MAX {
                    located.retain(|_, (at, _)| at.elapsed() < LOCATED_TTL);
                }
                if located.len() < LOCATED_MAX {
                    located.insert(bucket.to_owned(), (Instant::now(), region.clone()));
                }
                Ok(region)
            }
            Err(e) => {
                tracing::warn!(bucket, error = %e, "locating the bucket failed");
                Err(e)
            }
        }
    }

    /// True when `bucket` is a bucket of this region (remembered for
    /// [`LOCATED_TTL`] once seen).
    async fn is_here(&self, bucket: &str) -> bool {
        if let Some(at) = self
            .here
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
            && at.elapsed() < LOCATED_TTL
        {
            return true;
        }
        match self.meta.get_bucket(bucket).await {
            Ok(Some(_)) => {
                let mut here = self.here.lock().unwrap_or_else(|e| e.into_inner());
                if here.len() >= LOCATED_MAX {
                    here.clear();
                }
                here.insert(bucket.to_owned(), Instant::now());
                true
            }
            // Not here, or unknown: the request's own handler answers.
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Where a request for `bucket` goes (see [`Route`]). `exempt` requests
    /// (CreateBucket, GetBucketLocation) are always answered here.
    pub async fn route<B>(&self, req: &http::Request<B>, bucket: &str) -> Route {
        if !self.linked().await || self.is_here(bucket).await {
            return Route::Here;
        }
        let region = match self.locate(bucket).await {
            Ok(Some(r)) if r != self.me => r,
            Ok(_) => return Route::Here,
            Err(e) => return Route::Unknown(e),
        };
        let Some(endpoint) = self.endpoint(&region).await else {
            return Route::Here;
        };
        let signed_for = signing_region(req.headers(), req.uri().query());
        if signed_for.as_deref() == Some(region.as_str())
            && !req.headers().contains_key(FORWARDED_HEADER)
        {
            Route::Forward { region, endpoint }
        } else {
            Route::Redirect { region, endpoint }
        }
    }

    /// Passes `req` on to `endpoint` (`http://host:port`) as it is, marked
    /// [`FORWARDED_HEADER`], and streams the answer back; 503 when that
    /// region does not answer.
    pub async fn forward(
        &self,
        endpoint: &str,
        req: http::Request<hyper::body::Incoming>,
    ) -> http::Response<s3s::Body> {
        let (mut parts, body) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let uri = format!("{}{path}", endpoint.trim_end_matches('/'));
        match uri.parse() {
            Ok(uri) => parts.uri = uri,
            Err(_) => return unavailable(endpoint),
        }
        if let Ok(v) = http::HeaderValue::from_str(&self.me) {
            parts.headers.insert(FORWARDED_HEADER, v);
        }
        match self
            .client
            .request(http::Request::from_parts(parts, body))
            .await
        {
            Ok(resp) => resp.map(s3s::Body::from),
            Err(e) => {
                tracing::warn!(endpoint, error = %e, "passing a request on to its region failed");
                unavailable(endpoint)
            }
        }
    }

    /// The gateway's access keys (their cache), shared with the S3 checks.
    pub fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    /// Keeps this region's identities and names in line with the namespace
    /// region's until `stop` (see the module notes); nothing while this
    /// region is the namespace region or not linked.
    pub async fn run_sync(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.sync_once().await {
                tracing::warn!(error = %e, "region sync failed");
            }
            tokio::select! {
                () = tokio::time::sleep(SYNC_INTERVAL) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// One round of [`Regions::run_sync`].
    pub async fn sync_once(&self) -> Result<(), MetaError> {
        let Some(ns) = self.namespace_elsewhere().await? else {
            return Ok(());
        };
        let peer = self.peer(&ns).await?;
        // Identities: the namespace region's keys, secrets and grants.
        let answer = peer
            .call("GET", "region-keys", &[])
            .await
            .map_err(|e| peer_error(&ns, e))?;
        let theirs: Vec<AccessKey> = serde_json::from_value(answer)
            .map_err(|e| MetaError::Internal(format!("region-keys of {ns}: {e}")))?;
        let ours = self.meta.list_access_keys().await?;
        for key in &theirs {
            if !ours.contains(key) {
                self.meta.put_access_key(key.clone()).await?;
                self.keys.forget(&key.access_key);
            }
        }
        for key in &ours {
            // Root keys are each region's configuration: kept.
            if !key.is_root() && !theirs.iter().any(|k| k.access_key == key.access_key) {
                self.meta.delete_access_key(&key.access_key).await?;
                self.keys.forget(&key.access_key);
            }
        }
        // Users: who each key is, the users' grants and policies.
        let answer = peer
            .call("GET", "region-users", &[])
            .await
            .map_err(|e| peer_error(&ns, e))?;
        let users: Vec<shale_metadata::User> = serde_json::from_value(answer["users"].clone())
            .map_err(|e| MetaError::Internal(format!("region-users of {ns}: {e}")))?;
        let owners: Vec<(String, shale_metadata::KeyOwner)> =
            serde_json::from_value(answer["owners"].clone())
                .map_err(|e| MetaError::Internal(format!("region-users of {ns}: {e}")))?;
        let mine = self.meta.list_users().await?;
        let same = mine.iter().filter(|u| !u.legacy).count() == users.len()
            && users.iter().all(|u| {
                mine.iter().any(|m| {
                    !m.legacy
                        && m.user == *u
                        && m.keys.len() == owners.iter().filter(|(_, o)| o.user == u.name).count()
                        && m.keys.iter().all(|(k, disabled)| {
                            owners.iter().any(|(ok, o)| {
                                ok == k && o.user == u.name && o.disabled == *disabled
                            })
                        })
                })
            });
        if !same {
            self.meta.replace_users(users, owners).await?;
            self.keys.forget_all();
        }
        // Names: this region's buckets claimed, stale claims given back.
        let answer = peer
            .call("GET", "region-claims", &[("region", self.me.clone())])
            .await
            .map_err(|e| peer_error(&ns, e))?;
        let claims: Vec<(String, i64)> = answer
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| {
                        Some((c["bucket"].as_str()?.to_owned(), c["created_ms"].as_i64()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let buckets = self.meta.list_buckets().await?;
        for b in &buckets {
            if claims.iter().any(|(n, _)| *n == b.name) {
                continue;
            }
            let mut params = vec![("bucket", b.name.clone()), ("region", self.me.clone())];
            if let Some(o) = &b.owner {
                params.push(("owner", o.clone()));
            }
            if let Err(e) = peer.call("POST", "region-claim", &params).await {
                tracing::error!(bucket = %b.name, error = %e,
                    "this region's bucket has a name another region holds");
            }
        }
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        for (name, created_ms) in claims {
            let old = now_ms - i128::from(created_ms) > STALE_CLAIM.as_millis() as i128;
            if old && !buckets.iter().any(|b| b.name == name) {
                // Asked again under the metadata's own view: a bucket made
                // since the listing keeps its claim.
                if self.meta.get_bucket(&name).await?.is_none() {
                    peer.call(
                        "POST",
                        "region-release",
                        &[("bucket", name.clone()), ("region", self.me.clone())],
                    )
                    .await
                    .map_err(|e| peer_error(&ns, e))?;
                }
            }
        }
        Ok(())
    }

    /// The versioning status (`Enabled`, `Suspended`, none) of bucket
    /// `bucket` of linked region `region`, asked of it.
    pub async fn remote_versioning(
        &self,
        region: &str,
        bucket: &str,
    ) -> Result<Option<String>, MetaError> {
        let answer = self
            .peer(region)
            .await?
            .call("GET", "region-bucket", &[("bucket", bucket.to_owned())])
            .await
            .map_err(|e| peer_error(region, e))?;
        Ok(answer["versioning"].as_str().map(str::to_owned))
    }

    /// Sets a grant in the namespace region too, when it is another one
    /// (a bucket's creator gets Owner on it in every region).
    pub async fn share_grant(
        &self,
        access_key: &str,
        bucket: &str,
        permission: Option<Permission>,
    ) -> Result<(), MetaError> {
        let Some(ns) = self.namespace_elsewhere().await? else {
            return Ok(());
        };
        self.peer(&ns)
            .await?
            .call(
                "POST",
                "key-grant",
                &[
                    ("access_key", access_key.to_owned()),
                    ("bucket", bucket.to_owned()),
                    (
                        "permission",
                        permission.map_or("none", Permission::name).to_owned(),
                    ),
                ],
            )
            .await
            .map(drop)
            .map_err(|e| peer_error(&ns, e))
    }
}

impl shale_workers::replication::Destinations for Regions {
    fn target(
        &self,
        bucket: &str,
    ) -> futures::future::BoxFuture<'_, Result<Option<S3Target>, String>> {
        let bucket = bucket.to_owned();
        Box::pin(async move { self.target_of(&bucket).await })
    }
}

/// The JSON of a claim list (`region-claims`).
pub fn claims_json(claims: &[(String, shale_metadata::BucketClaim)]) -> Value {
    claims
        .iter()
        .map(|(bucket, c)| serde_json::json!({"bucket": bucket, "region": c.region, "created_ms": c.created_ms}))
        .collect()
}

/// 503 for a region that did not answer.
fn unavailable(endpoint: &str) -> http::Response<s3s::Body> {
    s3s::S3Error::with_message(
        s3s::S3ErrorCode::ServiceUnavailable,
        format!("The bucket's region ({endpoint}) did not answer. Please try again."),
    )
    .to_http_response()
    .unwrap_or_else(|_| {
        let mut resp = http::Response::new(s3s::Body::empty());
        *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        resp
    })
}

/// S3's answer for a bucket of another region: 301 `PermanentRedirect`
/// with the bucket's region in `x-amz-bucket-region` (HEAD: no body).
pub fn redirect(bucket: &str, region: &str, endpoint: &str) -> http::Response<s3s::Body> {
    let host = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    let e = s3s::S3Error::with_message(
        s3s::S3ErrorCode::PermanentRedirect,
        "The bucket you are attempting to access must be addressed using the specified endpoint. \
         Please send all future requests to this endpoint.",
    );
    let mut e = crate::error::with_fields(
        e,
        &[("Bucket", bucket.to_owned()), ("Endpoint", host.to_owned())],
    );
    let mut headers = e.headers().cloned().unwrap_or_default();
    if let Ok(v) = http::HeaderValue::from_str(region) {
        headers.insert("x-amz-bucket-region", v);
    }
    e.set_headers(headers);
    e.to_http_response().unwrap_or_else(|_| {
        let mut resp = http::Response::new(s3s::Body::empty());
        *resp.status_mut() = http::StatusCode::MOVED_PERMANENTLY;
        resp
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_region_comes_from_the_credential_scope() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AK/20261206/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=ab"
                .parse()
                .unwrap(),
        );
        assert_eq!(signing_region(&h, None).as_deref(), Some("eu-west-1"));
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261206%2Fap-south-1%2Fs3%2Faws4_request";
        assert_eq!(
            signing_region(&http::HeaderMap::new(), Some(q)).as_deref(),
            Some("ap-south-1")
        );
        let mut v2 = http::HeaderMap::new();
        v2.insert(http::header::AUTHORIZATION, "AWS AK:sig".parse().unwrap());
        assert_eq!(signing_region(&v2, None), None);
        assert_eq!(signing_region(&http::HeaderMap::new(), Some("a=b")), None);
    }

    #[test]
    fn a_redirect_names_the_region_and_its_endpoint() {
        let resp = redirect("photos", "eu-west-1", "http://127.0.0.1:9001");
        assert_eq!(resp.status(), http::StatusCode::MOVED_PERMANENTLY);
        assert_eq!(resp.headers()["x-amz-bucket-region"], "eu-west-1");
    }
}
