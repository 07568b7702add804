//! Object operations: PutObject, GetObject, HeadObject,
//! GetObjectAttributes, DeleteObject(s), RestoreObject.

use super::*;

/// The bytes `[start, end)` a GET or HEAD reads, the Content-Range to
/// answer with, and the part it names: from `partNumber`, else `Range`.
///
/// As S3: `partNumber` is the part's position (1 to PartsCount) and
/// answers 206 with its Content-Range; a single-part object has one part,
/// the whole object; a part past the last is 416 InvalidPartNumber; a
/// request with both `partNumber` and `Range` is refused.
pub(super) fn read_extent(
    row: &ObjectRow,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<(u64, u64, Option<String>, Option<PartRead>)> {
    let Some(n) = part_number else {
        let (start, end, content_range) = resolve_range(range, row.size)?;
        return Ok((start, end, content_range, None));
    };
    if !(1..=10_000).contains(&n) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    if range.is_some() {
        return Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter."
        ));
    }
    let index = (n - 1) as usize;
    // S3 names the part asked for and the parts there are (a single-part
    // object has one).
    let not_satisfiable = || {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("InvalidPartNumber".into()),
            "The requested partnumber is not satisfiable",
        );
        e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        let actual = row.parts_count.unwrap_or(1);
        with_fields(
            e,
            &[
                ("PartNumberRequested", n.to_string()),
                ("ActualPartCount", actual.to_string()),
            ],
        )
    };
    let (start, end, count) = match (&row.data, row.parts_count) {
        (ObjectData::Parts(parts), Some(count)) => {
            let part = parts.get(index).ok_or_else(not_satisfiable)?;
            let start: u64 = parts[..index].iter().map(|p| p.size).sum();
            (start, start + part.size, Some(count))
        }
        _ if index == 0 => (0, row.size, None),
        _ => return Err(not_satisfiable()),
    };
    // An empty object has no byte to name in a Content-Range.
    let content_range = (end > start).then(|| format!("bytes {}-{}/{}", start, end - 1, row.size));
    Ok((start, end, content_range, Some(PartRead { index, count })))
}

/// The object headers common to GET and HEAD. S3 sends
/// `x-amz-mp-parts-count` only for a read of one part (`partNumber`) of a
/// multipart object.
pub(super) fn object_output(row: &ObjectRow, part: Option<&PartRead>) -> GetObjectOutput {
    GetObjectOutput {
        accept_ranges: Some("bytes".into()),
        cache_control: header(&row.system_headers, "cache-control").map(str::to_owned),
        content_disposition: header(&row.system_headers, "content-disposition").map(str::to_owned),
        content_encoding: header(&row.system_headers, "content-encoding").map(str::to_owned),
        content_language: header(&row.system_headers, "content-language").map(str::to_owned),
        // S3 answers binary/octet-stream for objects stored without a type.
        content_type: row
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream")
            .parse()
            .ok(),
        e_tag: Some(etag(&row.etag)),
        expires: parse_expires(header(&row.system_headers, "expires")),
        last_modified: Some(ts(row.last_modified_ms)),
        metadata: user_metadata(&row.user_metadata),
        parts_count: part.and_then(|p| p.count).map(|n| n as i32),
        content_length: Some(row.size as i64),
        // Sent only when the object has tags, as S3 does.
        tag_count: (!row.tags.is_empty()).then_some(row.tags.len() as i32),
        replication_status: header(&row.system_headers, shale_metadata::REPLICATION_STATUS)
            .map(|s| ReplicationStatus::from(s.to_owned())),
        ..Default::default()
    }
}

pub(super) async fn put_object(
    gw: &Gateway,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let trailers = req.trailing_headers.clone();
    let mut checks = RequestChecksums::from_request(&req.headers).map_err(to_s3_error)?;
    let caller = Caller::owner(&req.extensions);
    let replica = replica::replica_of(
        &req.headers,
        &req.extensions,
        "s3:ReplicateObject",
        (&req.input.bucket, &req.input.key),
    )?;
    // A browser upload (POST Object) arrives here too, from `post.rs`,
    // its signature and policy checked, its form fields as the input.
    let customer = customer_key!(req)?;
    let input = req.input;
    check_key(&input.key)?;
    let lock = lock::lock_request(
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )?;
    lock::require_integrity(&lock, &req.headers)?;
    // S3 stores the checksum the client sent, or computes the one it
    // named in x-amz-sdk-checksum-algorithm, or its default, CRC64NVME.
    let algorithm = match (checks.announced(), &input.checksum_algorithm) {
        (Some(a), _) => a,
        (None, Some(a)) => checksum::algorithm_of(a).map_err(to_s3_error)?,
        (None, None) => ChecksumAlgorithm::Crc64Nvme,
    };
    checks.compute(algorithm);
    // Checked before any byte of the body is stored.
    let acl = object_acl!(gw, input, caller.clone())?;
    let caller = acl.owner.clone();
    let tags = tagging::parse_header(input.tagging.as_deref())?;
    let expected_len = content_length(input.content_length)?;
    if expected_len.is_none_or(|n| n as usize > gw.data.config().inline_threshold) {
        gw.require_bucket(&input.bucket).await?;
    }
    let if_none_match = match &input.if_none_match {
        None => false,
        Some(ETagCondition::Any) => true,
        Some(_) => {
            return Err(s3_error!(
                NotImplemented,
                "If-None-Match on PUT supports only '*'"
            ));
        }
    };
    let if_match = match &input.if_match {
        None => None,
        Some(ETagCondition::ETag(e)) => Some(strip_quotes(e.value())),
        Some(ETagCondition::Any) => {
            return Err(s3_error!(NotImplemented, "If-Match on PUT needs an ETag"));
        }
    };
    let headers = collect_headers(
        input.content_type.map(|c| c.to_string()),
        input.cache_control,
        input.content_disposition,
        input.content_encoding,
        input.content_language,
        input.expires,
        input.metadata,
    )?;
    let encryption = write_encryption!(gw, input, customer)?;
    let prefix = shale_datapath::datapath::new_chunk_prefix();
    let (written, digests) = gw
        .store_body(
            input.body,
            checks,
            trailers,
            WriteTarget {
                chunk_prefix: &prefix,
                part_number: 1,
                allow_inline: true,
                expected_len,
                key: encryption.as_ref().map(|(k, _)| &**k),
            },
        )
        .await?;
    let checksum = full_object_checksum(&digests, algorithm)?;
    let mut written = written;
    if let Some((k, s)) = &encryption
        && sse::masks_etag(s)
    {
        written.part.etag = sse::masked_etag(k, &written.part.etag);
    }
    let size = written.part.size;
    let etag_hex = written.part.etag.clone();
    let data = match written.inline {
        Some(bytes) => ObjectData::Inline(bytes.to_vec()),
        None => ObjectData::Parts(vec![written.part]),
    };
    let mut system_headers = headers.system;
    acl.apply(&mut system_headers);
    if let Some((_, sse)) = &encryption {
        sse::record(&mut system_headers, sse);
    }
    let row = ObjectRow {
        size,
        etag: etag_hex.clone(),
        last_modified_ms: replica.map_or_else(now_ms, |r| r.last_modified_ms),
        content_type: headers.content_type,
        system_headers,
        user_metadata: headers.user,
        parts_count: None,
        data,
        tags,
        checksum: Some(checksum.clone()),
        owner: caller,
    };
    if matches!(row.data, ObjectData::Parts(_)) {
        gw.data
            .check_commit_deadline(&prefix)
            .map_err(to_s3_error)?;
    }
    let written = match replica {
        Some(r) => gw
            .meta
            .write_replica((&input.bucket, &input.key), row, r.order, false, lock)
            .await
            .map_err(meta_err)?,
        None => gw
            .meta
            .write_object(
                &input.bucket,
                &input.key,
                row,
                (if_none_match, if_match),
                lock,
            )
            .await
            .map_err(meta_err)?,
    };
    let expiration = gw.expiration(&input.bucket, &input.key, &written.row).await;
    let mut out = PutObjectOutput {
        e_tag: Some(etag(&etag_hex)),
        size: Some(size as i64),
        version_id: written.version_id,
        expiration,
        server_side_encryption: sse::header(encryption.as_ref().map(|(_, s)| s)),
        ssekms_key_id: sse::kms_header(gw, encryption.as_ref().map(|(_, s)| s)),
        ..Default::default()
    };
    (out.sse_customer_algorithm, out.sse_customer_key_md5) =
        sse::customer_headers(encryption.as_ref().map(|(_, s)| s), customer.as_ref());
    set_checksum_fields!(out, ChecksumFields::object(&checksum, None), type);
    Ok(S3Response::new(out))
}

pub(super) async fn get_object(
    gw: &Gateway,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let customer = customer_key!(req)?;
    let input = req.input;
    let which = check_version(input.version_id.as_deref())?;
    let conditions = read_conditions!(input);
    let ReadVersion {
        row,
        version_id,
        version,
    } = gw
        .object_for_read(&input.bucket, &input.key, which, conditions)
        .await?;
    let held = lock::lock_out(&version);
    let expiration = if which == VersionRef::Latest {
        gw.expiration(&input.bucket, &input.key, &row).await
    } else {
        None
    };
    let (start, end, content_range, part) =
        read_extent(&row, input.range.as_ref(), input.part_number)?;
    let (encryption, key) = sse::for_read(gw, &row.system_headers, customer.as_ref()).await?;
    let body = match &row.data {
        ObjectData::Inline(bytes) => {
            let plain = sse::open_inline(bytes, row.size, key.as_deref())?;
            let to = (end as usize).min(plain.len());
            let piece = plain.slice((start as usize).min(to)..to);
            StreamingBlob::wrap(futures::stream::once(async move {
                Ok::<_, std::io::Error>(piece)
            }))
        }
        ObjectData::Parts(parts) => {
            let stream = gw
                .data
                .read_plain(parts, key, row.parts_count.is_some(), start, end)
                .await
                .map_err(to_s3_error)?;
            StreamingBlob::wrap(stream)
        }
    };
    let mut out = object_output(&row, part.as_ref());
    out.server_side_encryption = sse::header(encryption.as_ref());
    out.ssekms_key_id = sse::kms_header(gw, encryption.as_ref());
    (out.sse_customer_algorithm, out.sse_customer_key_md5) =
        sse::customer_headers(encryption.as_ref(), customer.as_ref());
    if let Some(fields) = reported_checksum(
        &row,
        input.checksum_mode.as_ref(),
        &content_range,
        part.as_ref(),
    ) {
        set_checksum_fields!(out, fields, type);
    }
    out.body = Some(body);
    out.version_id = version_id;
    out.expiration = expiration;
    out.object_lock_mode = held.mode;
    out.object_lock_retain_until_date = held.until;
    out.object_lock_legal_hold_status = held.hold;
    out.content_length = Some((end - start) as i64);
    out.content_range = content_range;
    apply_overrides(
        &mut out,
        ResponseOverrides {
            cache_control: input.response_cache_control,
            content_disposition: input.response_content_disposition,
            content_encoding: input.response_content_encoding,
            content_language: input.response_content_language,
            content_type: input.response_content_type,
            expires: input.response_expires,
        },
    );
    Ok(S3Response::new(out))
}

pub(super) async fn head_object(
    gw: &Gateway,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let customer = customer_key!(req)?;
    let input = req.input;
    let which = check_version(input.version_id.as_deref())?;
    let conditions = read_conditions!(input);
    let ReadVersion {
        row,
        version_id,
        version,
    } = gw
        .object_for_read(&input.bucket, &input.key, which, conditions)
        .await?;
    let held = lock::lock_out(&version);
    let expiration = if which == VersionRef::Latest {
        gw.expiration(&input.bucket, &input.key, &row).await
    } else {
        None
    };
    let (start, end, content_range, part) =
        read_extent(&row, input.range.as_ref(), input.part_number)?;
    // An SSE-C version answers only to its key (checked, not used); no
    // other key is opened for a HEAD.
    let encryption = sse::for_head(&row.system_headers, customer.as_ref())?;
    let (customer_algorithm, customer_md5) =
        sse::customer_headers(encryption.as_ref(), customer.as_ref());
    let mut o = object_output(&row, part.as_ref());
    apply_overrides(
        &mut o,
        ResponseOverrides {
            cache_control: input.response_cache_control,
            content_disposition: input.response_content_disposition,
            content_encoding: input.response_content_encoding,
            content_language: input.response_content_language,
            content_type: input.response_content_type,
            expires: input.response_expires,
        },
    );
    let content_length = (end - start) as i64;
    let fields = reported_checksum(
        &row,
        input.checksum_mode.as_ref(),
        &content_range,
        part.as_ref(),
    );
    let partial = content_range.is_some();
    let mut resp = S3Response::new(HeadObjectOutput {
        accept_ranges: o.accept_ranges,
        cache_control: o.cache_control,
        content_disposition: o.content_disposition,
        content_encoding: o.content_encoding,
        content_language: o.content_language,
        content_length: Some(content_length),
        content_range,
        content_type: o.content_type,
        e_tag: o.e_tag,
        expires: o.expires,
        last_modified: o.last_modified,
        metadata: o.metadata,
        parts_count: o.parts_count,
        replication_status: o.replication_status,
        server_side_encryption: sse::header(encryption.as_ref()),
        ssekms_key_id: sse::kms_header(gw, encryption.as_ref()),
        sse_customer_algorithm: customer_algorithm,
        sse_customer_key_md5: customer_md5,
        version_id,
        expiration,
        object_lock_mode: held.mode,
        object_lock_retain_until_date: held.until,
        object_lock_legal_hold_status: held.hold,
        ..Default::default()
    });
    if let Some(fields) = fields {
        set_checksum_fields!(resp.output, fields, type);
    }
    // S3 sends x-amz-tagging-count on HEAD as on GET, but s3s's
    // HeadObjectOutput (from AWS's API model) has no field for it.
    if let Some(n) = o.tag_count {
        resp.headers.insert(
            http::HeaderName::from_static("x-amz-tagging-count"),
            http::HeaderValue::from(n),
        );
    }
    // S3 answers a HEAD with a Range or a partNumber 206, as the GET;
    // s3s 0.14.1 answers every HEAD 200.
    if partial {
        resp.extensions
            .insert(StatusOverride(http::StatusCode::PARTIAL_CONTENT));
    }
    Ok(resp)
}

pub(super) async fn get_object_attributes(
    gw: &Gateway,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    let which = check_version(input.version_id.as_deref())?;
    let view = gw.live_version(&input.bucket, &input.key, which).await?;
    let row = view.object.row;
    // SDKs send the list as one comma-separated header, which s3s 0.14.1
    // keeps as a single item.
    let wants = |name: &str| {
        input
            .object_attributes
            .iter()
            .flat_map(|a| a.as_str().split(','))
            .any(|a| a.trim().eq_ignore_ascii_case(name))
    };
    let mut out = GetObjectAttributesOutput {
        last_modified: Some(ts(row.last_modified_ms)),
        version_id: view.version_id,
        ..Default::default()
    };
    if wants(ObjectAttributes::ETAG) {
        // S3 answers this ETag without quotes (unlike GET, HEAD and
        // listings); s3s quotes it, the HTTP front unquotes it.
        out.e_tag = Some(etag(&row.etag));
    }
    if wants(ObjectAttributes::OBJECT_SIZE) {
        out.object_size = Some(row.size as i64);
    }
    if wants(ObjectAttributes::STORAGE_CLASS) {
        out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    }
    if wants(ObjectAttributes::CHECKSUM)
        && let Some(c) = &row.checksum
    {
        // The digest alone: the parts count is ObjectParts' business.
        let mut checksum = Checksum::default();
        set_checksum_fields!(checksum, ChecksumFields::object(c, None), type);
        out.checksum = Some(checksum);
    }
    if wants(ObjectAttributes::OBJECT_PARTS)
        && let Some(total) = row.parts_count
    {
        out.object_parts = Some(object_parts(
            &row,
            total,
            input.part_number_marker,
            page_size(input.max_parts)?,
        ));
    }
    let mut resp = S3Response::new(out);
    resp.extensions.insert(BareETags);
    Ok(resp)
}

pub(super) async fn delete_object(
    gw: &Gateway,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let caller = Caller::owner(&req.extensions);
    let bypass = lock::bypass(
        req.input.bypass_governance_retention,
        &req.extensions,
        &req.input.bucket,
        &req.input.key,
    );
    let replica = replica::replica_of(
        &req.headers,
        &req.extensions,
        "s3:ReplicateDelete",
        (&req.input.bucket, &req.input.key),
    )?;
    let input = req.input;
    check_key(&input.key)?;
    let which = check_version(input.version_id.as_deref())?;
    if let Some(r) = replica {
        // A delete marker of the source bucket, kept with its id.
        if which != VersionRef::Latest {
            return Err(s3_error!(
                InvalidRequest,
                "A replicated delete marker is a DELETE without a version id"
            ));
        }
        let marker = ObjectRow::delete_marker(r.last_modified_ms, caller);
        let written = gw
            .meta
            .write_replica(
                (&input.bucket, &input.key),
                marker,
                r.order,
                true,
                LockRequest::default(),
            )
            .await
            .map_err(meta_err)?;
        return Ok(S3Response::with_status(
            DeleteObjectOutput {
                delete_marker: Some(true),
                version_id: written.version_id,
                ..Default::default()
            },
            http::StatusCode::NO_CONTENT,
        ));
    }
    let gone = gw
        .meta
        .delete_version(&input.bucket, &input.key, which, bypass, caller)
        .await
        .map_err(meta_err)?;
    Ok(S3Response::with_status(
        DeleteObjectOutput {
            delete_marker: gone.delete_marker.then_some(true),
            version_id: gone.version_id,
            ..Default::default()
        },
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn delete_objects(
    gw: &Gateway,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let caller = Caller::owner(&req.extensions);
    let authorization = req.extensions.get::<Authorization>().cloned();
    let extensions = req.extensions;
    let asked_bypass = req.input.bypass_governance_retention;
    let input = req.input;
    if input.delete.objects.len() > 1000 {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed: more than 1000 keys"
        ));
    }
    gw.require_bucket(&input.bucket).await?;
    let quiet = input.delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for obj in input.delete.objects {
        // Each key is a DeleteObject of its own to the bucket's policy.
        let may = authorization
            .as_ref()
            .is_some_and(|a| a.may_delete(&input.bucket, &obj.key, obj.version_id.is_some()));
        if !may {
            errors.push(s3s::dto::Error {
                code: Some("AccessDenied".to_owned()),
                key: Some(obj.key),
                message: Some("Access Denied".to_owned()),
                version_id: obj.version_id,
            });
            continue;
        }
        let bypass = lock::bypass(asked_bypass, &extensions, &input.bucket, &obj.key);
        // A version id this store never made names no version: S3 answers
        // NoSuchVersion for it here (a single DELETE: 400 InvalidArgument).
        let result = match VersionRef::parse(obj.version_id.as_deref()) {
            Ok(which) => gw
                .meta
                .delete_version(&input.bucket, &obj.key, which, bypass, caller.clone())
                .await
                .map(|gone| (which, gone)),
            Err(_) => Err(MetaError::NoSuchVersion),
        };
        match result {
            Ok((which, gone)) => {
                if !quiet {
                    // A marker, made now or removed by its id, is named
                    // by DeleteMarkerVersionId; a version asked for by id,
                    // by VersionId.
                    let _ = which;
                    deleted.push(DeletedObject {
                        key: Some(obj.key),
                        version_id: obj.version_id,
                        delete_marker: gone.delete_marker.then_some(true),
                        delete_marker_version_id: gone.version_id.filter(|_| gone.delete_marker),
                    });
                }
            }
            Err(e) => {
                let s3e = meta_err(e);
                errors.push(s3s::dto::Error {
                    code: Some(s3e.code().as_str().to_owned()),
                    key: Some(obj.key),
                    message: s3e.message().map(str::to_owned),
                    version_id: obj.version_id,
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: Some(errors),
        ..Default::default()
    }))
}

/// Every object is in the STANDARD class, which has nothing to
/// restore: S3's answer for such an object.
pub(super) async fn restore_object(
    gw: &Gateway,
    req: S3Request<RestoreObjectInput>,
) -> S3Result<S3Response<RestoreObjectOutput>> {
    let input = req.input;
    let which = check_version(input.version_id.as_deref())?;
    gw.live_version(&input.bucket, &input.key, which).await?;
    Err(s3_error!(
        InvalidObjectState,
        "Restore is not allowed for the object's current storage class"
    ))
}
