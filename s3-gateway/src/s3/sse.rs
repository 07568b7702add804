//! Server-side encryption as S3 speaks it: the headers a write asks for
//! encryption with, a bucket's default encryption (Put/Get/Delete
//! BucketEncryption), and the headers answers carry.
//!
//! The sealing itself is the data path's (`shale_datapath::sse`): a write
//! gets a fresh object key, sealed under the master key (SSE-S3) or the
//! client's own key (SSE-C) into the version's `x-shale-sse` system header;
//! a read opens it and the blocks it needs.
//!
//! SSE-C: the key comes with every request that reads or writes the
//! object's bytes (`x-amz-server-side-encryption-customer-*`, and
//! `x-amz-copy-source-server-side-encryption-customer-*` for a copy's
//! source), only over HTTPS, and is never stored. Its ETags are not the
//! MD5 of the plaintext (which would tell what the data is to anyone who
//! can list), as S3's are not.

use std::sync::Arc;

use shale_common::sse::ObjectKey;
use shale_datapath::sse::Sse;
use shale_metadata::{BucketEncryption, SseAlgorithm};

use super::*;

/// The encryption headers of a write request (PUT, COPY's destination,
/// CreateMultipartUpload).
pub(super) struct Asked<'a> {
    pub algorithm: Option<&'a ServerSideEncryption>,
    pub kms_key_id: Option<&'a str>,
    pub kms_context: Option<&'a str>,
    /// The SSE-C key, checked ([`customer_key`]).
    pub customer: Option<&'a CustomerKey>,
}

/// A client's SSE-C key, as a request brought it.
pub(super) struct CustomerKey {
    key: [u8; 32],
    /// Its MD5, base64, as S3 answers it back.
    md5: String,
}

impl Drop for CustomerKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

/// The SSE-C key of a request's three headers (`None`: it has none),
/// checked as S3 checks them; refused over plain HTTP.
pub(super) fn customer_key(
    extensions: &http::Extensions,
    algorithm: Option<&str>,
    key: Option<&str>,
    md5: Option<&str>,
) -> S3Result<Option<CustomerKey>> {
    if algorithm.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    let secure = extensions
        .get::<crate::bucket_access::Origin>()
        .is_some_and(|o| o.secure);
    if !secure {
        return Err(s3_error!(
            InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
        ));
    }
    let Some(algorithm) = algorithm else {
        return Err(s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
        ));
    };
    if algorithm != "AES256" {
        return Err(s3_error!(
            InvalidEncryptionAlgorithmError,
            "The encryption request you specified is not valid. The valid value is AES256."
        ));
    }
    let Some(key) = key else {
        return Err(s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
        ));
    };
    let Some(md5) = md5 else {
        return Err(s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."
        ));
    };
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .unwrap_or_default();
    let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
        zeroize::Zeroize::zeroize(&mut bytes);
        return Err(s3_error!(
            InvalidArgument,
            "The secret key was invalid for the specified algorithm."
        ));
    };
    zeroize::Zeroize::zeroize(&mut bytes);
    let digest: [u8; 16] =
        md5::Digest::finalize(<md5::Md5 as md5::Digest>::new_with_prefix(key)).into();
    let sent = base64::engine::general_purpose::STANDARD
        .decode(md5.trim())
        .unwrap_or_default();
    if sent != digest {
        return Err(s3_error!(
            InvalidArgument,
            "The calculated MD5 hash of the key did not match the hash that was provided."
        ));
    }
    Ok(Some(CustomerKey {
        key,
        md5: md5.trim().to_owned(),
    }))
}

/// Whether a version encrypted as `sse` has an ETag that is not its MD5
/// (SSE-C and SSE-KMS, as S3's).
pub(super) fn masks_etag(sse: &Sse) -> bool {
    !matches!(sse, Sse::S3 { .. })
}

/// The ETag of a version sealed under `key` whose plaintext has `md5`:
/// for SSE-C (and SSE-KMS) not the MD5 itself, as S3's are not, but a
/// digest of it under the object's key (the same for the same object, and
/// telling nothing of its data to whoever lacks the key).
pub(super) fn masked_etag(key: &ObjectKey, md5_hex: &str) -> String {
    let h = blake3::keyed_hash(key.as_bytes(), md5_hex.as_bytes());
    hex::encode(&h.as_bytes()[..16])
}

/// The encryption a write asks for: its headers, checked as S3 checks
/// them; `None` when it asks for none.
fn asked_algorithm(asked: &Asked<'_>) -> S3Result<Option<SseAlgorithm>> {
    if asked.customer.is_some() && asked.algorithm.is_some() {
        return Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
        ));
    }
    let algorithm = match asked.algorithm {
        None => None,
        Some(a) => Some(SseAlgorithm::parse(a.as_str()).ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The encryption method specified is not supported"
            )
        })?),
    };
    if (asked.kms_key_id.is_some() || asked.kms_context.is_some())
        && !matches!(
            algorithm,
            Some(SseAlgorithm::AwsKms | SseAlgorithm::AwsKmsDsse)
        )
    {
        return Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
        ));
    }
    Ok(algorithm)
}

/// A write's encryption: what it asks for, else its bucket's default.
/// `Some`: the object key to seal the body under, and how the version
/// keeps it (its `x-shale-sse` header).
pub(super) async fn for_write(
    gw: &Gateway,
    bucket: &str,
    asked: Asked<'_>,
) -> S3Result<Option<(Arc<ObjectKey>, Sse)>> {
    let algorithm = asked_algorithm(&asked)?;
    if let Some(c) = asked.customer {
        let (key, sse) = shale_datapath::sse::Keys::new_customer(&c.key);
        return Ok(Some((Arc::new(key), sse)));
    }
    // Without headers, the bucket's default (algorithm and KMS key), read
    // with the access rules.
    let default = match algorithm {
        Some(_) => None,
        None => gw.access.get(bucket).await.map_err(meta_err)?.encryption,
    };
    match algorithm.or(default.as_ref().map(|e| e.algorithm)) {
        None => Ok(None),
        Some(SseAlgorithm::Aes256) => {
            let (key, sse) = gw.data.sse_keys().new_s3().map_err(to_s3_error)?;
            Ok(Some((Arc::new(key), sse)))
        }
        Some(SseAlgorithm::AwsKms) => {
            let named = asked
                .kms_key_id
                .or(default.as_ref().and_then(|e| e.kms_key_id.as_deref()));
            let id = named.map(kms_key_id).transpose()?;
            let (key, sse) = gw.data.new_kms(id).await.map_err(to_s3_error)?;
            Ok(Some((Arc::new(key), sse)))
        }
        Some(SseAlgorithm::AwsKmsDsse) => Err(dsse_not_available()),
    }
}

/// Dual-layer SSE-KMS is not offered.
fn dsse_not_available() -> S3Error {
    s3_error!(
        NotImplemented,
        "Dual-layer server-side encryption with KMS keys (aws:kms:dsse) is not available on this server"
    )
}

/// The id of a KMS key as a request names it: its id, or its ARN
/// (`arn:aws:kms:<region>:<account>:key/<id>`). Aliases are not kept.
pub(super) fn kms_key_id(named: &str) -> S3Result<&str> {
    let id = match named.strip_prefix("arn:aws:kms:") {
        Some(rest) => rest.rsplit_once(":key/").map(|(_, id)| id).unwrap_or(""),
        None => named,
    };
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(to_s3_error(shale_datapath::Error::KmsNotFound(
            named.chars().take(80).collect(),
        )));
    }
    Ok(id)
}

/// The ARN S3 answers for KMS key `id` in `region`.
pub(crate) fn kms_arn(region: &str, id: &str) -> String {
    format!(
        "arn:aws:kms:{region}:{}:key/{id}",
        crate::bucket_access::ACCOUNT_ID
    )
}

/// `x-amz-server-side-encryption-aws-kms-key-id` of an answer about a
/// version encrypted as `sse`.
pub(super) fn kms_header(gw: &Gateway, sse: Option<&Sse>) -> Option<String> {
    sse.and_then(Sse::kms_key_id)
        .map(|id| kms_arn(&gw.region, id))
}

/// Records a version's encryption in its system headers.
pub(super) fn record(system_headers: &mut Vec<(String, String)>, sse: &Sse) {
    set(system_headers, Some(sse));
}

/// Sets a version's encryption in its system headers (`None`: in the
/// clear), replacing what they said (a copy's source's).
pub(super) fn set(system_headers: &mut Vec<(String, String)>, sse: Option<&Sse>) {
    system_headers.retain(|(n, _)| n != shale_datapath::sse::SSE_HEADER);
    if let Some(sse) = sse {
        system_headers.push((
            shale_datapath::sse::SSE_HEADER.to_owned(),
            sse.header_value(),
        ));
    }
}

/// A stored version's encryption and its object key (`None`, `None`: in
/// the clear), opened with `customer`, the request's SSE-C key, for an
/// SSE-C version (which it must bring, and only for one).
pub(super) async fn for_read(
    gw: &Gateway,
    system_headers: &[(String, String)],
    customer: Option<&CustomerKey>,
) -> S3Result<(Option<Sse>, Option<Arc<ObjectKey>>)> {
    let Some(sse) = Sse::of(system_headers).map_err(to_s3_error)? else {
        if customer.is_some() {
            return Err(not_applicable());
        }
        return Ok((None, None));
    };
    if !sse.is_customer() && customer.is_some() {
        return Err(not_applicable());
    }
    let key = gw
        .data
        .object_key(&sse, customer.map(|c| &c.key))
        .await
        .map_err(to_s3_error)?;
    Ok((Some(sse), Some(Arc::new(key))))
}

/// A stored version's encryption, for an answer that does not read its
/// bytes (HEAD): an SSE-C version must still be asked for with its key.
pub(super) fn for_head(
    system_headers: &[(String, String)],
    customer: Option<&CustomerKey>,
) -> S3Result<Option<Sse>> {
    let sse = Sse::of(system_headers).map_err(to_s3_error)?;
    match &sse {
        Some(s) if s.is_customer() => {
            shale_datapath::sse::Keys::open_customer(s, customer.map(|c| &c.key))
                .map_err(to_s3_error)?;
        }
        _ if customer.is_some() => return Err(not_applicable()),
        _ => {}
    }
    Ok(sse)
}

/// S3's answer to SSE-C headers on a read of a version not encrypted with
/// a customer key.
fn not_applicable() -> S3Error {
    s3_error!(
        InvalidRequest,
        "The encryption parameters are not applicable to this object."
    )
}

/// `x-amz-server-side-encryption` of an answer about a version encrypted
/// as `sse` (SSE-C answers with [`customer_headers`] instead).
pub(super) fn header(sse: Option<&Sse>) -> Option<ServerSideEncryption> {
    sse.filter(|s| !s.is_customer())
        .map(|s| ServerSideEncryption::from(s.algorithm().to_owned()))
}

/// `x-amz-server-side-encryption-customer-algorithm` and `-key-MD5` of an
/// answer about an SSE-C version (the key's MD5 as the request sent it).
pub(super) fn customer_headers(
    sse: Option<&Sse>,
    customer: Option<&CustomerKey>,
) -> (Option<String>, Option<String>) {
    match (sse, customer) {
        (Some(s), Some(c)) if s.is_customer() => {
            (Some(s.algorithm().to_owned()), Some(c.md5.clone()))
        }
        _ => (None, None),
    }
}

/// The plaintext of an inline version.
pub(super) fn open_inline(bytes: &[u8], size: u64, key: Option<&ObjectKey>) -> S3Result<Bytes> {
    match key {
        None => Ok(Bytes::copy_from_slice(bytes)),
        Some(k) => shale_datapath::DataPath::open_inline(bytes, size, k)
            .map(Bytes::from)
            .map_err(to_s3_error),
    }
}

/// S3's 404 for a bucket without default encryption.
fn not_found() -> S3Error {
    let mut e = s3_error!(
        ServerSideEncryptionConfigurationNotFoundError,
        "The server side encryption configuration was not found"
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

pub(super) async fn get_bucket_encryption(
    gw: &Gateway,
    req: S3Request<GetBucketEncryptionInput>,
) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    let Some(BucketConfig::Encryption(e)) = gw
        .meta
        .get_bucket_config(bucket, BucketConfigKind::Encryption)
        .await
        .map_err(meta_err)?
    else {
        return Err(not_found());
    };
    Ok(S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
            rules: vec![ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                    kms_master_key_id: e.kms_key_id,
                    sse_algorithm: ServerSideEncryption::from(e.algorithm.name().to_owned()),
                }),
                bucket_key_enabled: Some(e.bucket_key_enabled),
            }],
        }),
    }))
}

pub(super) async fn put_bucket_encryption(
    gw: &Gateway,
    req: S3Request<PutBucketEncryptionInput>,
) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
    let input = req.input;
    gw.require_bucket(&input.bucket).await?;
    let malformed = || {
        s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        )
    };
    let rules = input.server_side_encryption_configuration.rules;
    let [rule] = rules.as_slice() else {
        return Err(malformed());
    };
    let by_default = rule
        .apply_server_side_encryption_by_default
        .as_ref()
        .ok_or_else(malformed)?;
    let algorithm = SseAlgorithm::parse(by_default.sse_algorithm.as_str()).ok_or_else(malformed)?;
    let kms_key_id = by_default.kms_master_key_id.clone();
    if kms_key_id.is_some() && algorithm == SseAlgorithm::Aes256 {
        return Err(s3_error!(
            InvalidArgument,
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
        ));
    }
    match algorithm {
        SseAlgorithm::Aes256 => {
            if !gw.data.sse_keys().has_master() {
                return Err(to_s3_error(shale_datapath::Error::NoMasterKey));
            }
        }
        SseAlgorithm::AwsKms => {
            if let Some(id) = &kms_key_id {
                self::kms_key_id(id)?;
            }
            if !gw.data.sse_keys().has_master() {
                return Err(to_s3_error(shale_datapath::Error::NoMasterKey));
            }
        }
        SseAlgorithm::AwsKmsDsse => return Err(dsse_not_available()),
    }
    gw.put_access_config(
        &input.bucket,
        BucketConfig::Encryption(BucketEncryption {
            algorithm,
            kms_key_id,
            bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
        }),
    )
    .await?;
    Ok(S3Response::new(PutBucketEncryptionOutput::default()))
}

pub(super) async fn delete_bucket_encryption(
    gw: &Gateway,
    req: S3Request<DeleteBucketEncryptionInput>,
) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    gw.meta
        .delete_bucket_config(bucket, BucketConfigKind::Encryption)
        .await
        .map_err(meta_err)?;
    gw.access.forget(bucket);
    Ok(S3Response::with_status(
        DeleteBucketEncryptionOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}
