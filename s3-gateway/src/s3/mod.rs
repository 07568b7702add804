//! The S3 operations: each handler turns an `s3s` input into metadata calls
//! and data-path calls, and its result into an `s3s` output. Handlers never
//! build error XML: errors go through [`crate::error::to_s3_error`].
//!
//! One module per operation family (`bucket`, `object`, `list`,
//! `multipart`, `copy`, `config`, `versioning`, `lifecycle`, `lock`,
//! `replication`, `sse`); what they share is in `helpers`
//! and `checksums`. `impl S3 for Gateway` at the end of this file is only
//! the table that routes each operation to its family.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use shale_common::ObjectData;
use shale_common::checksum::{self as sums, ChecksumAlgorithm, ChecksumType};
use shale_metadata::{
    BucketConfig, BucketConfigKind, CompleteChecks, LockRequest, MetaClient, MetaError,
    ObjectChecksum, ObjectRow, PartRow, Permission, Upload, UploadChecksum, VersionRef,
    VersionView, VersioningStatus,
};

use crate::access::{Authorization, Caller};
use crate::acl;
use crate::checksum::{self, ChecksumFields, RequestChecksums, set_checksum_fields};
use crate::cors::{self, CorsCache};
use crate::error::{Error, to_s3_error, with_fields};
use crate::tagging::{self, Target};
use shale_datapath::datapath::{DataPath, WriteTarget};
use shale_metadata::{UPLOAD_LOCK_HOLD, UPLOAD_LOCK_MODE, UPLOAD_LOCK_UNTIL};

/// The ACL a write (PutObject, CopyObject, CreateMultipartUpload, a
/// browser upload) by user `$writer` asks for with `x-amz-acl` and
/// `x-amz-grant-*`, under the bucket's Object Ownership
/// ([`acls::WriteAcl`]): checked before any byte is stored.
macro_rules! object_acl {
    ($gw:expr, $input:expr, $writer:expr) => {{
        let grants = acls::object_grants!($input);
        $gw.write_acl(
            &$input.bucket,
            $writer,
            &acl::AclRequest {
                canned: $input.acl.as_ref().map(|a| a.as_str()),
                grant_full_control: $input.grant_full_control.as_deref(),
                other_grants: false,
                policy: None,
                owner: None,
            },
            &grants,
        )
        .await
    }};
}

/// The SSE-C key of a request (`x-amz-server-side-encryption-customer-*`),
/// or of its copy source (`copy_source`: `x-amz-copy-source-…`), checked
/// ([`sse::customer_key`]).
macro_rules! customer_key {
    ($req:expr) => {
        sse::customer_key(
            &$req.extensions,
            $req.input.sse_customer_algorithm.as_deref(),
            $req.input.sse_customer_key.as_deref(),
            $req.input.sse_customer_key_md5.as_deref(),
        )
    };
    ($req:expr, copy_source) => {
        sse::customer_key(
            &$req.extensions,
            $req.input.copy_source_sse_customer_algorithm.as_deref(),
            $req.input.copy_source_sse_customer_key.as_deref(),
            $req.input.copy_source_sse_customer_key_md5.as_deref(),
        )
    };
}

/// The encryption a write (PutObject, CopyObject, CreateMultipartUpload)
/// asks for with its headers and `$customer` (its SSE-C key), else its
/// bucket's default ([`sse::for_write`]).
macro_rules! write_encryption {
    ($gw:expr, $input:expr, $customer:expr) => {
        sse::for_write(
            $gw,
            &$input.bucket,
            sse::Asked {
                algorithm: $input.server_side_encryption.as_ref(),
                kms_key_id: $input.ssekms_key_id.as_deref(),
                kms_context: $input.ssekms_encryption_context.as_deref(),
                customer: $customer.as_ref(),
            },
        )
        .await
    };
}

pub(crate) mod acls;
mod bucket;
mod checksums;
mod config;
mod copy;
mod helpers;
mod lifecycle;
mod list;
mod lock;
mod multipart;
mod object;
mod policy;
mod replica;
mod replication;
mod sse;

pub(crate) use sse::kms_arn;
#[cfg(test)]
mod tests;
mod versioning;

use checksums::*;
use helpers::*;

/// Longest object key S3 accepts, in bytes.
const MAX_KEY_LEN: usize = 1024;
/// Most keys (or parts, or uploads) in one listing page, as in S3.
const MAX_PAGE: i32 = 1000;

/// The S3 service of one gateway (cheap to clone: its parts are shared).
#[derive(Clone)]
pub struct Gateway {
    meta: MetaClient,
    data: Arc<DataPath>,
    region: String,
    cors: Arc<CorsCache>,
    /// Buckets' lifecycle rules, for `x-amz-expiration`.
    lifecycle: Arc<crate::rules_cache::RulesCache>,
    /// A lifecycle day in ms (86,400,000 unless `--lifecycle-day-secs`).
    day_ms: i64,
    /// The linked regions: the bucket namespace, redirects.
    regions: Arc<crate::regions::Regions>,
    /// Buckets' policies and public access blocks, for the access check.
    access: Arc<crate::bucket_access::AccessRules>,
}

impl Gateway {
    /// A gateway for `region` over the given metadata client and data path.
    pub fn new(
        meta: MetaClient,
        data: Arc<DataPath>,
        regions: Arc<crate::regions::Regions>,
    ) -> Self {
        let cors = Arc::new(CorsCache::new(meta.clone()));
        let lifecycle = Arc::new(crate::rules_cache::RulesCache::new(meta.clone()));
        let access = Arc::new(crate::bucket_access::AccessRules::new(meta.clone()));
        Gateway {
            access,
            meta,
            data,
            region: regions.me().to_owned(),
            cors,
            lifecycle,
            day_ms: 86_400_000,
            regions,
        }
    }

    /// The buckets' policies and public access blocks, as the access check
    /// ([`crate::access::Grants`]) reads them.
    pub fn access_rules(&self) -> Arc<crate::bucket_access::AccessRules> {
        Arc::clone(&self.access)
    }

    /// The linked regions, as this gateway knows them.
    pub fn regions(&self) -> &Arc<crate::regions::Regions> {
        &self.regions
    }

    /// The same gateway under the account's public access block (a
    /// deployment setting, `[gateway.public_access_block]`).
    pub fn with_account_block(mut self, block: shale_metadata::PublicAccessBlock) -> Self {
        self.access = Arc::new(
            crate::bucket_access::AccessRules::new(self.meta.clone()).with_account_block(block),
        );
        self
    }

    /// The same gateway with lifecycle days of `secs` seconds (as the
    /// lifecycle worker counts them), for `x-amz-expiration`.
    pub fn with_lifecycle_day_secs(mut self, secs: u64) -> Self {
        self.day_ms = (secs.max(1) as i64).saturating_mul(1000);
        self
    }

    /// The `x-amz-expiration` value of `row`, the current version of `key`
    /// in `bucket`, if a lifecycle rule will expire it.
    async fn expiration(&self, bucket: &str, key: &str, row: &ObjectRow) -> Option<String> {
        let rules = self.lifecycle.rules(bucket).await?;
        lifecycle::expiration_header(&rules, key, row, self.day_ms)
    }

    /// The cache of buckets' CORS rules this gateway keeps current; the HTTP
    /// front reads it for preflights and `Origin` headers.
    pub fn cors_cache(&self) -> Arc<CorsCache> {
        Arc::clone(&self.cors)
    }
}

/// The status a response must have when it differs from the one `s3s`
/// gives the operation. `s3s` 0.14.1 fixes each operation's success status
/// and ignores `S3Response::status`, but passes response extensions through:
/// a handler puts this in them and the HTTP front (`server.rs`) applies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusOverride(pub http::StatusCode);

/// Marks a response whose XML carries its ETags bare, without the quotes
/// they have everywhere else: S3's GetObjectAttributes. `s3s` 0.14.1
/// always quotes an ETag in XML; the HTTP front (`server.rs`) takes the
/// quotes off with [`unquote_etags`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BareETags;

/// Marks a ListObjectVersions answer with the order of its entries (true:
/// a delete marker). S3 interleaves `<Version>` and `<DeleteMarker>` in
/// listing order; `s3s` 0.14.1 writes all markers, then all versions, so
/// the HTTP front (`server.rs`) puts them back in order with
/// [`interleave_versions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionOrder(pub Vec<bool>);

/// Reorders the `<Version>` and `<DeleteMarker>` elements of a
/// ListObjectVersions body as `order` says (see [`VersionOrder`]): each
/// list keeps its own order, and the merged sequence takes the place of
/// the versions. A body that is not as expected is left alone.
pub fn interleave_versions(resp: &mut http::Response<s3s::Body>, order: &[bool]) {
    let Some(bytes) = resp.body().bytes() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return;
    };
    fn take<'a>(text: &'a str, open: &str, close: &str, out: &mut Vec<&'a str>) -> String {
        let mut rest = String::with_capacity(text.len());
        let mut at = 0;
        while let Some(i) = text[at..].find(open) {
            let start = at + i;
            let Some(j) = text[start..].find(close) else {
                break;
            };
            let end = start + j + close.len();
            rest.push_str(&text[at..start]);
            out.push(&text[start..end]);
            at = end;
        }
        rest.push_str(&text[at..]);
        rest
    }
    let (mut markers, mut versions) = (Vec::new(), Vec::new());
    let without_markers = take(text, "<DeleteMarker>", "</DeleteMarker>", &mut markers);
    let Some(first_version) = without_markers.find("<Version>") else {
        return;
    };
    let without = take(&without_markers, "<Version>", "</Version>", &mut versions);
    if markers.len() + versions.len() != order.len()
        || markers.len() != order.iter().filter(|m| **m).count()
    {
        return;
    }
    let (mut m, mut v) = (markers.into_iter(), versions.into_iter());
    let merged: String = order
        .iter()
        .filter_map(|is_marker| if *is_marker { m.next() } else { v.next() })
        .collect();
    let body = format!(
        "{}{}{}",
        &without[..first_version],
        merged,
        &without[first_version..]
    );
    let len = body.len();
    *resp.body_mut() = s3s::Body::from(body);
    if resp.headers().contains_key(http::header::CONTENT_LENGTH) {
        resp.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    }
}

/// Takes the quotes off every `<ETag>` element of an XML body (see
/// [`BareETags`]). A body that is not in memory is left alone.
pub fn unquote_etags(resp: &mut http::Response<s3s::Body>) {
    let Some(bytes) = resp.body().bytes() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return;
    };
    let bare = text
        .replace("<ETag>\"", "<ETag>")
        .replace("\"</ETag>", "</ETag>");
    if bare.len() == text.len() {
        return;
    }
    let len = bare.len();
    *resp.body_mut() = s3s::Body::from(bare);
    if resp.headers().contains_key(http::header::CONTENT_LENGTH) {
        resp.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    }
}

/// A GET's or a copy source's conditional headers (If-Match,
/// If-None-Match, If-(Un)Modified-Since).
#[derive(Clone, Copy, Default)]
pub(super) struct ReadConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

/// A version as a read finds it: the row and the id to answer with
/// (`x-amz-version-id`; none in a bucket that never had versioning).
pub(super) struct ReadVersion {
    pub row: ObjectRow,
    pub version_id: Option<String>,
    /// Its order, marker flag and lock.
    pub version: shale_metadata::VersionMeta,
}

/// S3's answer to a read that finds a delete marker: the key's latest
/// version is one (404 NoSuchKey), or the version id names one (405
/// MethodNotAllowed); either way with `x-amz-delete-marker: true`, the
/// marker's version id and (405) its Last-Modified.
pub(super) fn delete_marker_error(which: VersionRef, view: &VersionView) -> S3Error {
    let mut e = match which {
        VersionRef::Latest => s3_error!(NoSuchKey, "The specified key does not exist."),
        _ => {
            let mut e = S3Error::with_message(
                S3ErrorCode::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            );
            e.set_status_code(http::StatusCode::METHOD_NOT_ALLOWED);
            e
        }
    };
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    h.insert(
        http::HeaderName::from_static("x-amz-delete-marker"),
        http::HeaderValue::from_static("true"),
    );
    if let Some(id) = view
        .version_id
        .as_deref()
        .and_then(|v| http::HeaderValue::from_str(v).ok())
    {
        h.insert(http::HeaderName::from_static("x-amz-version-id"), id);
    }
    if which != VersionRef::Latest
        && let Ok(v) = http::HeaderValue::from_str(&http_date(view.object.row.last_modified_ms))
    {
        h.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(h);
    e
}

/// An HTTP date (RFC 7231) of a Unix time in ms.
fn http_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).unwrap_or_default()
}

/// The [`ReadConditions`] of a request's `If-*` headers, or (`copy`) of
/// its `x-amz-copy-source-if-*` headers.
macro_rules! read_conditions {
    ($input:expr) => {
        ReadConditions {
            if_match: $input.if_match.as_ref(),
            if_none_match: $input.if_none_match.as_ref(),
            if_modified_since: $input.if_modified_since.as_ref(),
            if_unmodified_since: $input.if_unmodified_since.as_ref(),
        }
    };
    (copy $input:expr) => {
        ReadConditions {
            if_match: $input.copy_source_if_match.as_ref(),
            if_none_match: $input.copy_source_if_none_match.as_ref(),
            if_modified_since: $input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $input.copy_source_if_unmodified_since.as_ref(),
        }
    };
}
use read_conditions;

impl Gateway {
    /// The version `which` names, if it is not a delete marker (which is
    /// S3's 404 for the latest version, 405 by id).
    async fn live_version(
        &self,
        bucket: &str,
        key: &str,
        which: VersionRef,
    ) -> S3Result<VersionView> {
        let view = self
            .meta
            .get_version(bucket, key, which)
            .await
            .map_err(meta_err)?;
        if view.object.version.marker {
            return Err(delete_marker_error(which, &view));
        }
        Ok(view)
    }

    /// The row of the version `which` names (ACLs and the like of a
    /// version).
    async fn version_row(&self, bucket: &str, key: &str, which: VersionRef) -> S3Result<ObjectRow> {
        Ok(self.live_version(bucket, key, which).await?.object.row)
    }

    /// The version a GET or HEAD answers from, once its conditional
    /// headers hold; a delete marker is S3's 404 or 405.
    async fn object_for_read(
        &self,
        bucket: &str,
        key: &str,
        which: VersionRef,
        conditions: ReadConditions<'_>,
    ) -> S3Result<ReadVersion> {
        let view = self.live_version(bucket, key, which).await?;
        check_conditions(
            &view.object.row,
            conditions.if_match,
            conditions.if_none_match,
            conditions.if_modified_since,
            conditions.if_unmodified_since,
        )?;
        Ok(ReadVersion {
            row: view.object.row,
            version_id: view.version_id,
            version: view.object.version,
        })
    }

    /// The source version of a CopyObject or UploadPartCopy, once its
    /// `x-amz-copy-source-if-*` conditions hold. S3 applies them with the
    /// precedence of GET's, but answers every failure 412 PreconditionFailed
    /// (a copy has no 304): if-match true wins over if-unmodified-since
    /// false, if-none-match false fails even when if-modified-since holds.
    /// A delete marker named by its id is 400 InvalidRequest, as S3 answers.
    async fn copy_source_row(
        &self,
        (bucket, key, which): (&str, &str, VersionRef),
        conditions: ReadConditions<'_>,
    ) -> S3Result<ReadVersion> {
        self.object_for_read(bucket, key, which, conditions)
            .await
            .map_err(|e| {
                if e.status_code() == Some(http::StatusCode::NOT_MODIFIED) {
                    s3_error!(
                        PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold"
                    )
                } else if e.status_code() == Some(http::StatusCode::METHOD_NOT_ALLOWED) {
                    s3_error!(
                        InvalidRequest,
                        "The source of a copy request may not specifically refer to a delete marker by version id."
                    )
                } else {
                    e
                }
            })
    }

    /// The bucket's row, or NoSuchBucket.
    async fn require_bucket(&self, bucket: &str) -> S3Result<shale_metadata::Bucket> {
        match self.meta.get_bucket(bucket).await.map_err(meta_err)? {
            Some(b) => Ok(b),
            None => Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist"
            )),
        }
    }

    /// Reads a request body through the data path, verifying every checksum the
    /// client sent (headers, trailers, Content-MD5) before returning. Returns
    /// what was written and every checksum `checks` computed.
    async fn store_body(
        &self,
        body: Option<StreamingBlob>,
        checks: RequestChecksums,
        trailers: Option<s3s::TrailingHeaders>,
        target: WriteTarget<'_>,
    ) -> S3Result<(shale_datapath::datapath::Written, Digests)> {
        let mut checks = checks;
        let stream = match body {
            Some(b) => b.map(|r| r.map_err(body_error)).boxed(),
            None => futures::stream::empty::<Result<Bytes, Error>>().boxed(),
        };
        let written = self
            .data
            .write_body(stream, target, |b| checks.update(b))
            .await
            .map_err(to_s3_error)?;
        let trailer_map = trailers.and_then(|t| t.take());
        let digests = checks
            .verify(&written.md5, trailer_map.as_ref())
            .map_err(to_s3_error)?;
        Ok((written, digests))
    }
}

/// `impl S3 for Gateway`, as a table: each S3 operation is a function of
/// its family's module (`s3s` wants one trait impl; the work lives beside
/// the family's helpers and error cases).
macro_rules! s3_operations {
    ($($family:ident::$op:ident($input:ident) -> $output:ident;)*) => {
        #[async_trait::async_trait]
        impl S3 for Gateway {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    $family::$op(self, req).await
                }
            )*
        }
    };
}

s3_operations! {
    bucket::list_buckets(ListBucketsInput) -> ListBucketsOutput;
    bucket::create_bucket(CreateBucketInput) -> CreateBucketOutput;
    bucket::head_bucket(HeadBucketInput) -> HeadBucketOutput;
    bucket::delete_bucket(DeleteBucketInput) -> DeleteBucketOutput;
    bucket::get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;

    object::put_object(PutObjectInput) -> PutObjectOutput;
    object::get_object(GetObjectInput) -> GetObjectOutput;
    object::head_object(HeadObjectInput) -> HeadObjectOutput;
    object::get_object_attributes(GetObjectAttributesInput) -> GetObjectAttributesOutput;
    object::delete_object(DeleteObjectInput) -> DeleteObjectOutput;
    object::delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
    object::restore_object(RestoreObjectInput) -> RestoreObjectOutput;

    list::list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output;
    list::list_objects(ListObjectsInput) -> ListObjectsOutput;
    list::list_object_versions(ListObjectVersionsInput) -> ListObjectVersionsOutput;

    multipart::create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput;
    multipart::upload_part(UploadPartInput) -> UploadPartOutput;
    multipart::complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput;
    multipart::abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
    multipart::list_parts(ListPartsInput) -> ListPartsOutput;
    multipart::list_multipart_uploads(ListMultipartUploadsInput) -> ListMultipartUploadsOutput;

    copy::copy_object(CopyObjectInput) -> CopyObjectOutput;
    copy::upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;

    config::put_object_tagging(PutObjectTaggingInput) -> PutObjectTaggingOutput;
    config::get_object_tagging(GetObjectTaggingInput) -> GetObjectTaggingOutput;
    config::delete_object_tagging(DeleteObjectTaggingInput) -> DeleteObjectTaggingOutput;
    config::put_bucket_tagging(PutBucketTaggingInput) -> PutBucketTaggingOutput;
    config::get_bucket_tagging(GetBucketTaggingInput) -> GetBucketTaggingOutput;
    config::delete_bucket_tagging(DeleteBucketTaggingInput) -> DeleteBucketTaggingOutput;
    config::put_bucket_cors(PutBucketCorsInput) -> PutBucketCorsOutput;
    config::get_bucket_cors(GetBucketCorsInput) -> GetBucketCorsOutput;
    config::delete_bucket_cors(DeleteBucketCorsInput) -> DeleteBucketCorsOutput;
    acls::get_bucket_acl(GetBucketAclInput) -> GetBucketAclOutput;
    acls::put_bucket_acl(PutBucketAclInput) -> PutBucketAclOutput;
    acls::get_object_acl(GetObjectAclInput) -> GetObjectAclOutput;
    acls::put_object_acl(PutObjectAclInput) -> PutObjectAclOutput;
    policy::get_bucket_policy(GetBucketPolicyInput) -> GetBucketPolicyOutput;
    policy::put_bucket_policy(PutBucketPolicyInput) -> PutBucketPolicyOutput;
    policy::delete_bucket_policy(DeleteBucketPolicyInput) -> DeleteBucketPolicyOutput;
    lifecycle::get_bucket_lifecycle_configuration(GetBucketLifecycleConfigurationInput) -> GetBucketLifecycleConfigurationOutput;
    lifecycle::put_bucket_lifecycle_configuration(PutBucketLifecycleConfigurationInput) -> PutBucketLifecycleConfigurationOutput;
    lifecycle::delete_bucket_lifecycle(DeleteBucketLifecycleInput) -> DeleteBucketLifecycleOutput;
    versioning::get_bucket_versioning(GetBucketVersioningInput) -> GetBucketVersioningOutput;
    versioning::put_bucket_versioning(PutBucketVersioningInput) -> PutBucketVersioningOutput;
    config::get_bucket_request_payment(GetBucketRequestPaymentInput) -> GetBucketRequestPaymentOutput;
    config::put_bucket_request_payment(PutBucketRequestPaymentInput) -> PutBucketRequestPaymentOutput;
    lock::get_object_lock_configuration(GetObjectLockConfigurationInput) -> GetObjectLockConfigurationOutput;
    lock::put_object_lock_configuration(PutObjectLockConfigurationInput) -> PutObjectLockConfigurationOutput;
    lock::put_object_retention(PutObjectRetentionInput) -> PutObjectRetentionOutput;
    lock::put_object_legal_hold(PutObjectLegalHoldInput) -> PutObjectLegalHoldOutput;
    acls::get_bucket_ownership_controls(GetBucketOwnershipControlsInput) -> GetBucketOwnershipControlsOutput;
    acls::put_bucket_ownership_controls(PutBucketOwnershipControlsInput) -> PutBucketOwnershipControlsOutput;
    acls::delete_bucket_ownership_controls(DeleteBucketOwnershipControlsInput) -> DeleteBucketOwnershipControlsOutput;
    policy::get_public_access_block(GetPublicAccessBlockInput) -> GetPublicAccessBlockOutput;
    policy::put_public_access_block(PutPublicAccessBlockInput) -> PutPublicAccessBlockOutput;
    policy::delete_public_access_block(DeletePublicAccessBlockInput) -> DeletePublicAccessBlockOutput;
    policy::get_bucket_policy_status(GetBucketPolicyStatusInput) -> GetBucketPolicyStatusOutput;
    config::get_bucket_website(GetBucketWebsiteInput) -> GetBucketWebsiteOutput;
    config::get_bucket_logging(GetBucketLoggingInput) -> GetBucketLoggingOutput;
    config::get_bucket_notification_configuration(GetBucketNotificationConfigurationInput) -> GetBucketNotificationConfigurationOutput;
    config::get_bucket_accelerate_configuration(GetBucketAccelerateConfigurationInput) -> GetBucketAccelerateConfigurationOutput;
    replication::put_bucket_replication(PutBucketReplicationInput) -> PutBucketReplicationOutput;
    replication::get_bucket_replication(GetBucketReplicationInput) -> GetBucketReplicationOutput;
    replication::delete_bucket_replication(DeleteBucketReplicationInput) -> DeleteBucketReplicationOutput;
    sse::get_bucket_encryption(GetBucketEncryptionInput) -> GetBucketEncryptionOutput;
    sse::put_bucket_encryption(PutBucketEncryptionInput) -> PutBucketEncryptionOutput;
    sse::delete_bucket_encryption(DeleteBucketEncryptionInput) -> DeleteBucketEncryptionOutput;
    lock::get_object_retention(GetObjectRetentionInput) -> GetObjectRetentionOutput;
    lock::get_object_legal_hold(GetObjectLegalHoldInput) -> GetObjectLegalHoldOutput;
}
