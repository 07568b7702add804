//! Copies: CopyObject and UploadPartCopy (copy-source conditionals,
//! `x-amz-copy-source-range`); a copy gets chunks of its own.

use super::*;

/// The bucket, key and version of `x-amz-copy-source`.
pub(super) fn copy_source(source: &CopySource) -> S3Result<(String, String, VersionRef)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => {
            let which = check_version(version_id.as_deref())?;
            Ok((bucket.to_string(), key.to_string(), which))
        }
        _ => Err(s3_error!(
            NotImplemented,
            "Access point copy sources are not supported"
        )),
    }
}

/// The bytes `[start, end)` that `x-amz-copy-source-range` names in a
/// source of `size` bytes: exactly `bytes=first-last`, both inclusive and
/// inside the source (S3 accepts no suffix or open ranges here). S3's
/// answers, all 400, never 416: a malformed, open, suffix or reversed value
/// is InvalidArgument; a range that starts past the source's last byte is
/// InvalidRequest; one that starts inside it and ends past it is
/// InvalidArgument naming the source's size.
pub(super) fn parse_copy_range(range: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(range) = range else {
        return Ok((0, size));
    };
    let parsed = range.strip_prefix("bytes=").and_then(|r| {
        let (a, b) = r.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return None;
        }
        Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
    });
    let Some((first, last)) = parsed.filter(|(a, b)| a <= b) else {
        return Err(s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        ));
    };
    if first >= size {
        return Err(s3_error!(
            InvalidRequest,
            "The specified copy range is invalid for the source object size"
        ));
    }
    if last >= size {
        return Err(s3_error!(
            InvalidArgument,
            "Range specified is not valid for source object of size: {}",
            size
        ));
    }
    Ok((first, last + 1))
}

pub(super) async fn copy_object(
    gw: &Gateway,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let (if_none_match, if_match) = destination_conditions(&req.headers)?;
    // The copy is a new version, the caller's (not the source's owner's).
    let caller = Caller::owner(&req.extensions);
    let customer = customer_key!(req)?;
    let source_customer = customer_key!(req, copy_source)?;
    let input = req.input;
    check_key(&input.key)?;
    let acl = object_acl!(gw, input, caller.clone())?;
    let caller = acl.owner.clone();
    let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
    let conditions = read_conditions!(copy input);
    let ReadVersion {
        row: src,
        version_id: src_version_id,
        ..
    } = gw
        .copy_source_row((&src_bucket, &src_key, src_version), conditions)
        .await?;
    // The copy's lock is its own request's (a copy's body is checked by
    // the store: no Content-MD5 needed), never the source's.
    let lock = lock::lock_request(
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )?;
    let replace = replaces_metadata(&input)?;
    let tags = copied_tags(&input, &src)?;
    // Copying a version by its id onto its own key restores it (a new
    // version): only a copy of the current object onto itself must change
    // something.
    if src_bucket == input.bucket
        && src_key == input.key
        && src_version == VersionRef::Latest
        && !changes_something(&input, replace)
    {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    let (bucket, key) = (input.bucket.clone(), input.key.clone());
    let asked = input.checksum_algorithm.clone();
    // The copy is encrypted as its request asks, else as its bucket's
    // default says: never as the source was.
    let encryption = write_encryption!(gw, input, customer)?;
    let (_, src_key) = sse::for_read(gw, &src.system_headers, source_customer.as_ref()).await?;
    let headers = copied_headers(input, &src, replace)?;
    gw.require_bucket(&bucket).await?;
    // The copy is a single-part object: it gets a FULL_OBJECT checksum
    // of the algorithm asked for, or of the source's, or S3's default.
    let algorithm = match (&asked, &src.checksum) {
        (Some(a), _) => checksum::algorithm_of(a).map_err(to_s3_error)?,
        (None, Some(c)) => c.algorithm,
        (None, None) => ChecksumAlgorithm::Crc64Nvme,
    };
    let mut copied = copy_data(
        gw,
        &src,
        src_key,
        encryption.as_ref().map(|(k, _)| &**k),
        algorithm,
    )
    .await?;
    if let Some((k, s)) = &encryption
        && sse::masks_etag(s)
    {
        copied.etag_hex = sse::masked_etag(k, &copied.etag_hex);
        if let ObjectData::Parts(parts) = &mut copied.data {
            parts
                .iter_mut()
                .for_each(|p| p.etag = copied.etag_hex.clone());
        }
    }
    let now = now_ms();
    let row = ObjectRow {
        size: src.size,
        etag: copied.etag_hex.clone(),
        last_modified_ms: now,
        content_type: headers.content_type,
        system_headers: {
            let mut system = headers.system;
            // The copy's ACL is its request's, never the source's.
            acl.apply(&mut system);
            sse::set(&mut system, encryption.as_ref().map(|(_, s)| s));
            system
        },
        user_metadata: headers.user,
        parts_count: None,
        data: copied.data,
        tags,
        checksum: Some(copied.checksum.clone()),
        owner: caller,
    };
    if matches!(row.data, ObjectData::Parts(_)) {
        gw.data
            .check_commit_deadline(&copied.chunk_prefix)
            .map_err(to_s3_error)?;
    }
    let written = gw
        .meta
        .write_object(&bucket, &key, row, (if_none_match, if_match), lock)
        .await
        .map_err(meta_err)?;
    let mut result = CopyObjectResult {
        e_tag: Some(etag(&copied.etag_hex)),
        last_modified: Some(ts(now)),
        ..Default::default()
    };
    set_checksum_fields!(result, ChecksumFields::object(&copied.checksum, None), type);
    let expiration = gw.expiration(&bucket, &key, &written.row).await;
    let (customer_algorithm, customer_md5) =
        sse::customer_headers(encryption.as_ref().map(|(_, s)| s), customer.as_ref());
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(result),
        expiration,
        version_id: written.version_id,
        copy_source_version_id: src_version_id,
        server_side_encryption: sse::header(encryption.as_ref().map(|(_, s)| s)),
        ssekms_key_id: sse::kms_header(gw, encryption.as_ref().map(|(_, s)| s)),
        sse_customer_algorithm: customer_algorithm,
        sse_customer_key_md5: customer_md5,
        ..Default::default()
    }))
}

/// If-None-Match: * and If-Match on the destination (S3 takes them on
/// CopyObject as on PutObject); s3s 0.14.1's CopyObjectInput predates them,
/// so they are read from the headers.
fn destination_conditions(headers: &http::HeaderMap) -> S3Result<(bool, Option<String>)> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let if_none_match = match header("if-none-match").as_deref() {
        None => false,
        Some("*") => true,
        Some(_) => {
            return Err(s3_error!(
                NotImplemented,
                "If-None-Match on CopyObject supports only '*'"
            ));
        }
    };
    Ok((if_none_match, header("if-match").map(|e| strip_quotes(&e))))
}

/// `x-amz-metadata-directive`: true for REPLACE (the request's headers),
/// false for COPY, the default (the source's).
fn replaces_metadata(input: &CopyObjectInput) -> S3Result<bool> {
    match input.metadata_directive.as_ref().map(|d| d.as_str()) {
        None => Ok(false),
        Some(d) if d == MetadataDirective::COPY => Ok(false),
        Some(d) if d == MetadataDirective::REPLACE => Ok(true),
        Some(_) => Err(s3_error!(InvalidArgument, "Unknown metadata directive.")),
    }
}

/// The copy's tags, by `x-amz-tagging-directive`: COPY (the default) keeps
/// the source's and ignores `x-amz-tagging`; REPLACE takes `x-amz-tagging`,
/// or no tags without it.
fn copied_tags(input: &CopyObjectInput, src: &ObjectRow) -> S3Result<Vec<(String, String)>> {
    match input.tagging_directive.as_ref().map(|d| d.as_str()) {
        None => Ok(src.tags.clone()),
        Some(d) if d == TaggingDirective::COPY => Ok(src.tags.clone()),
        Some(d) if d == TaggingDirective::REPLACE => {
            tagging::parse_header(input.tagging.as_deref())
        }
        Some(_) => Err(s3_error!(InvalidArgument, "Unknown tagging directive.")),
    }
}

/// Whether a copy changes more than the bytes: S3 refuses a copy onto
/// itself that changes nothing, and counts new metadata, a storage class,
/// a website redirect or encryption as a change.
fn changes_something(input: &CopyObjectInput, replace: bool) -> bool {
    replace
        || input.storage_class.is_some()
        || input.website_redirect_location.is_some()
        || input.server_side_encryption.is_some()
        || input.sse_customer_algorithm.is_some()
        || input.ssekms_key_id.is_some()
}

/// The copy's stored headers: the request's with REPLACE, else the source's.
fn copied_headers(
    input: CopyObjectInput,
    src: &ObjectRow,
    replace: bool,
) -> S3Result<StoredHeaders> {
    Ok(if replace {
        collect_headers(
            input.content_type.map(|c| c.to_string()),
            input.cache_control,
            input.content_disposition,
            input.content_encoding,
            input.content_language,
            input.expires,
            input.metadata,
        )?
    } else {
        StoredHeaders {
            content_type: src.content_type.clone(),
            system: src.system_headers.clone(),
            user: src.user_metadata.clone(),
        }
    })
}

/// The bytes of a copy, written, and what its row records of them.
struct CopiedData {
    data: ObjectData,
    etag_hex: String,
    checksum: ObjectChecksum,
    /// The prefix of the copy's chunks (for the commit deadline).
    chunk_prefix: String,
}

/// Copies the source's bytes: an inline source stays inline; an
/// erasure-coded one is read and written again as chunks of its own
/// (versions never share chunks, so deleting one can never free the other's
/// data), its MD5 (the ETag) and its checksum of `algorithm` computed on
/// the way. The source's plaintext (opened with `src_key`) is sealed again
/// under `key`, the copy's own object key, when it has one.
async fn copy_data(
    gw: &Gateway,
    src: &ObjectRow,
    src_key: Option<Arc<shale_common::sse::ObjectKey>>,
    key: Option<&shale_common::sse::ObjectKey>,
    algorithm: ChecksumAlgorithm,
) -> S3Result<CopiedData> {
    let mut hasher = sums::Hasher::new(algorithm);
    let chunk_prefix = shale_datapath::datapath::new_chunk_prefix();
    let (data, etag_hex) = match &src.data {
        ObjectData::Inline(bytes) => {
            let plain = sse::open_inline(bytes, src.size, src_key.as_deref())?;
            let md5: [u8; 16] =
                md5::Digest::finalize(<md5::Md5 as md5::Digest>::new_with_prefix(&plain)).into();
            hasher.update(&plain);
            let stored = match key {
                Some(k) => shale_common::sse::seal_all(k, 1, &plain),
                None => plain.to_vec(),
            };
            (ObjectData::Inline(stored), hex::encode(md5))
        }
        ObjectData::Parts(parts) => {
            let stream = gw
                .data
                .read_plain(parts, src_key, src.parts_count.is_some(), 0, src.size)
                .await
                .map_err(to_s3_error)?;
            let stream =
                stream.map(|r| r.map_err(|e| shale_datapath::Error::Unrecoverable(e.to_string())));
            let written = gw
                .data
                .write_body(
                    stream,
                    WriteTarget {
                        chunk_prefix: &chunk_prefix,
                        part_number: 1,
                        allow_inline: true,
                        expected_len: Some(src.size),
                        key,
                    },
                    |b| hasher.update(b),
                )
                .await
                .map_err(to_s3_error)?;
            let etag_hex = written.part.etag.clone();
            let data = match written.inline {
                Some(bytes) => ObjectData::Inline(bytes.to_vec()),
                None => ObjectData::Parts(vec![written.part]),
            };
            (data, etag_hex)
        }
    };
    let checksum = ObjectChecksum {
        algorithm,
        kind: ChecksumType::FullObject,
        value: hasher.finalize(),
        parts: Vec::new(),
    };
    Ok(CopiedData {
        data,
        etag_hex,
        checksum,
        chunk_prefix,
    })
}

pub(super) async fn upload_part_copy(
    gw: &Gateway,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    // x-amz-checksum-algorithm: s3s 0.14.1's UploadPartCopyInput has no
    // field for it, so it is read from the headers.
    let asked = match req
        .headers
        .get("x-amz-checksum-algorithm")
        .map(|v| v.to_str().unwrap_or_default())
    {
        None => None,
        Some(v) => Some(
            checksum::algorithm_of(&s3s::dto::ChecksumAlgorithm::from(v.to_owned()))
                .map_err(to_s3_error)?,
        ),
    };
    let customer = customer_key!(req)?;
    let source_customer = customer_key!(req, copy_source)?;
    let input = req.input;
    if !(1..=10_000).contains(&input.part_number) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
    let upload = gw
        .meta
        .get_upload(&input.bucket, &input.key, &input.upload_id)
        .await
        .map_err(meta_err)?;
    let conditions = read_conditions!(copy input);
    let ReadVersion {
        row: src,
        version_id: src_version_id,
        ..
    } = gw
        .copy_source_row((&src_bucket, &src_key, src_version), conditions)
        .await?;
    let (start, end) = parse_copy_range(input.copy_source_range.as_deref(), src.size)?;
    // The part's checksums: the upload's algorithm and CRC64NVME (for
    // the default object checksum), as UploadPart stores them, and the
    // one the request asks for, which must be the upload's if it has one.
    if let (Some(c), Some(a)) = (upload.checksum, asked)
        && a != c.algorithm
    {
        return Err(s3_error!(
            InvalidRequest,
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            c.algorithm.name().to_lowercase(),
            a.name().to_lowercase()
        ));
    }
    let reported = part_algorithm(upload.checksum);
    let mut hashers: Vec<sums::Hasher> = vec![sums::Hasher::new(ChecksumAlgorithm::Crc64Nvme)];
    for a in [Some(reported), asked].into_iter().flatten() {
        if hashers.iter().all(|h| h.algorithm() != a) {
            hashers.push(sums::Hasher::new(a));
        }
    }
    let algorithms: Vec<ChecksumAlgorithm> = hashers.iter().map(|h| h.algorithm()).collect();
    let (_, src_key) = sse::for_read(gw, &src.system_headers, source_customer.as_ref()).await?;
    let (encryption, key) = sse::for_read(gw, &upload.system_headers, customer.as_ref()).await?;
    let stream = match &src.data {
        ObjectData::Inline(bytes) => {
            let plain = sse::open_inline(bytes, src.size, src_key.as_deref())?;
            let to = (end as usize).min(plain.len());
            let piece = plain.slice((start as usize).min(to)..to);
            futures::stream::once(async move { Ok::<_, shale_datapath::Error>(piece) }).boxed()
        }
        ObjectData::Parts(parts) => gw
            .data
            .read_plain(parts, src_key, src.parts_count.is_some(), start, end)
            .await
            .map_err(to_s3_error)?
            .map(|r| r.map_err(|e| shale_datapath::Error::Unrecoverable(e.to_string())))
            .boxed(),
    };
    let prefix = format!(
        "{}-{}",
        input.upload_id,
        shale_datapath::datapath::new_chunk_prefix()
    );
    let part_number = input.part_number as u32;
    // The part's ETag is the MD5 of the copied bytes, computed here.
    let written = gw
        .data
        .write_body(
            stream,
            WriteTarget {
                chunk_prefix: &prefix,
                part_number,
                allow_inline: false,
                expected_len: Some(end - start),
                key: key.as_deref(),
            },
            |b| hashers.iter_mut().for_each(|h| h.update(b)),
        )
        .await
        .map_err(to_s3_error)?;
    let digests: Digests = algorithms
        .into_iter()
        .zip(hashers.into_iter().map(sums::Hasher::finalize))
        .collect();
    let now = now_ms();
    let mut written = written;
    if let (Some(k), Some(s)) = (&key, &encryption)
        && sse::masks_etag(s)
    {
        written.part.etag = sse::masked_etag(k, &written.part.etag);
    }
    let part = PartRow {
        number: part_number,
        size: written.part.size,
        etag: written.part.etag.clone(),
        last_modified_ms: now,
        layout: written.part,
        checksums: digests,
    };
    let mut fields = ChecksumFields::pick(&part.checksums, reported);
    if let Some(a) = asked
        && let Some((_, v)) = part.checksums.iter().find(|(d, _)| *d == a)
    {
        fields.add_digest(a, v);
    }
    let etag_hex = part.etag.clone();
    gw.data
        .check_commit_deadline(&prefix)
        .map_err(to_s3_error)?;
    gw.meta
        .put_part(&input.bucket, &input.key, &input.upload_id, part)
        .await
        .map_err(meta_err)?;
    let mut result = CopyPartResult {
        e_tag: Some(etag(&etag_hex)),
        last_modified: Some(ts(now)),
        ..Default::default()
    };
    set_checksum_fields!(result, fields);
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(result),
        copy_source_version_id: src_version_id,
        server_side_encryption: sse::header(encryption.as_ref()),
        ssekms_key_id: sse::kms_header(gw, encryption.as_ref()),
        sse_customer_algorithm: sse::customer_headers(encryption.as_ref(), customer.as_ref()).0,
        sse_customer_key_md5: sse::customer_headers(encryption.as_ref(), customer.as_ref()).1,
        ..Default::default()
    }))
}
