//! Multipart uploads: create, upload a part, complete, abort, list parts
//! and uploads.

use super::*;

pub(super) async fn create_multipart_upload(
    gw: &Gateway,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let caller = Caller::owner(&req.extensions);
    let replica = replica::replica_of(
        &req.headers,
        &req.extensions,
        "s3:ReplicateObject",
        (&req.input.bucket, &req.input.key),
    )?;
    let customer = customer_key!(req)?;
    let input = req.input;
    check_key(&input.key)?;
    let acl = object_acl!(gw, input, caller.clone())?;
    let caller = acl.owner.clone();
    let tags = tagging::parse_header(input.tagging.as_deref())?;
    let checksum = upload_checksum(
        input.checksum_algorithm.as_ref(),
        input.checksum_type.as_ref(),
    )
    .map_err(to_s3_error)?;
    let lock = lock::lock_request(
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )?;
    let mut headers = collect_headers(
        input.content_type.map(|c| c.to_string()),
        input.cache_control,
        input.content_disposition,
        input.content_encoding,
        input.content_language,
        input.expires,
        input.metadata,
    )?;
    // The lock rides with the upload's headers until completion applies
    // it (`shale_metadata::UPLOAD_LOCK_MODE`); a bucket without Object
    // Lock refuses it now, as S3 does.
    if lock.retention.is_some() || lock.legal_hold {
        match gw
            .meta
            .get_bucket_config(&input.bucket, BucketConfigKind::ObjectLock)
            .await
            .map_err(meta_err)?
        {
            Some(BucketConfig::ObjectLock(_)) => {}
            _ => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Bucket is missing Object Lock Configuration"
                ));
            }
        }
    }
    if let Some(r) = lock.retention {
        let mode = match r.mode {
            shale_metadata::LockMode::Governance => "GOVERNANCE",
            shale_metadata::LockMode::Compliance => "COMPLIANCE",
        };
        headers
            .system
            .push((UPLOAD_LOCK_MODE.to_owned(), mode.to_owned()));
        headers
            .system
            .push((UPLOAD_LOCK_UNTIL.to_owned(), r.until_ms.to_string()));
    }
    if lock.legal_hold {
        headers
            .system
            .push((UPLOAD_LOCK_HOLD.to_owned(), "ON".to_owned()));
    }
    // A replica's identity rides the same way (`UPLOAD_REPLICA_VERSION`).
    if let Some(r) = replica {
        headers.system.push((
            shale_metadata::UPLOAD_REPLICA_VERSION.to_owned(),
            shale_metadata::version_id(r.order),
        ));
        headers.system.push((
            shale_metadata::UPLOAD_REPLICA_LAST_MODIFIED.to_owned(),
            r.last_modified_ms.to_string(),
        ));
    }
    // The upload's object key rides with its headers, sealed, until
    // completion makes them the object's: every part is sealed under it.
    let encryption = write_encryption!(gw, input, customer)?;
    if let Some((_, sse)) = &encryption {
        sse::record(&mut headers.system, sse);
    }
    let upload_id = uuid::Uuid::new_v4().simple().to_string();
    let upload = Upload {
        bucket: input.bucket.clone(),
        key: input.key.clone(),
        upload_id: upload_id.clone(),
        initiated_ms: now_ms(),
        content_type: headers.content_type,
        system_headers: {
            acl.apply(&mut headers.system);
            headers.system
        },
        user_metadata: headers.user,
        tags,
        checksum,
        owner: caller,
    };
    gw.meta.create_upload(upload).await.map_err(meta_err)?;
    let (customer_algorithm, customer_md5) =
        sse::customer_headers(encryption.as_ref().map(|(_, s)| s), customer.as_ref());
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload_id),
        checksum_algorithm: checksum.map(|c| s3_algorithm(c.algorithm)),
        checksum_type: checksum.map(|c| checksum::s3_type(c.kind)),
        server_side_encryption: sse::header(encryption.as_ref().map(|(_, s)| s)),
        ssekms_key_id: sse::kms_header(gw, encryption.as_ref().map(|(_, s)| s)),
        sse_customer_algorithm: customer_algorithm,
        sse_customer_key_md5: customer_md5,
        ..Default::default()
    }))
}

pub(super) async fn upload_part(
    gw: &Gateway,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let trailers = req.trailing_headers.clone();
    let mut checks = RequestChecksums::from_request(&req.headers).map_err(to_s3_error)?;
    let customer = customer_key!(req)?;
    let input = req.input;
    if !(1..=10_000).contains(&input.part_number) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    let expected_len = content_length(input.content_length)?;
    // Fail before storing any byte when the upload does not exist.
    let upload = gw
        .meta
        .get_upload(&input.bucket, &input.key, &input.upload_id)
        .await
        .map_err(meta_err)?;
    let sent = match (checks.announced(), &input.checksum_algorithm) {
        (Some(a), _) => Some(a),
        (None, Some(a)) => Some(checksum::algorithm_of(a).map_err(to_s3_error)?),
        (None, None) => None,
    };
    if let Some(c) = upload.checksum {
        // S3 checksums every part of an upload with the upload's algorithm.
        if let Some(sent) = sent
            && sent != c.algorithm
        {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                c.algorithm.name().to_lowercase(),
                sent.name().to_lowercase()
            ));
        }
        checks.compute(c.algorithm);
    }
    if let Some(a) = sent {
        checks.compute(a);
    }
    // For the default object checksum, whatever the client sends.
    checks.compute(ChecksumAlgorithm::Crc64Nvme);
    let (encryption, key) = sse::for_read(gw, &upload.system_headers, customer.as_ref()).await?;
    let prefix = format!(
        "{}-{}",
        input.upload_id,
        shale_datapath::datapath::new_chunk_prefix()
    );
    let part_number = input.part_number as u32;
    let (written, digests) = gw
        .store_body(
            input.body,
            checks,
            trailers,
            WriteTarget {
                chunk_prefix: &prefix,
                part_number,
                allow_inline: false,
                expected_len,
                key: key.as_deref(),
            },
        )
        .await?;
    let mut written = written;
    if let (Some(k), Some(s)) = (&key, &encryption)
        && sse::masks_etag(s)
    {
        written.part.etag = sse::masked_etag(k, &written.part.etag);
    }
    let mut fields = ChecksumFields::pick(&digests, part_algorithm(upload.checksum));
    if let Some(a) = sent
        && let Some((_, v)) = digests.iter().find(|(d, _)| *d == a)
    {
        fields.add_digest(a, v);
    }
    let part = PartRow {
        number: part_number,
        size: written.part.size,
        etag: written.part.etag.clone(),
        last_modified_ms: now_ms(),
        layout: written.part,
        checksums: digests,
    };
    let etag_hex = part.etag.clone();
    gw.data
        .check_commit_deadline(&prefix)
        .map_err(to_s3_error)?;
    gw.meta
        .put_part(&input.bucket, &input.key, &input.upload_id, part)
        .await
        .map_err(meta_err)?;
    let mut out = UploadPartOutput {
        e_tag: Some(etag(&etag_hex)),
        server_side_encryption: sse::header(encryption.as_ref()),
        ssekms_key_id: sse::kms_header(gw, encryption.as_ref()),
        ..Default::default()
    };
    (out.sse_customer_algorithm, out.sse_customer_key_md5) =
        sse::customer_headers(encryption.as_ref(), customer.as_ref());
    set_checksum_fields!(out, fields);
    Ok(S3Response::new(out))
}

pub(super) async fn complete_multipart_upload(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = req.input;
    let mut checks = CompleteChecks {
        kind: input
            .checksum_type
            .as_ref()
            .map(checksum::type_of)
            .transpose()
            .map_err(to_s3_error)?,
        object_size: input
            .mpu_object_size
            .map(|n| {
                u64::try_from(n)
                    .map_err(|_| s3_error!(InvalidArgument, "negative x-amz-mp-object-size"))
            })
            .transpose()?,
        ..Default::default()
    };
    let parts: Vec<(u32, String)> = input
        .multipart_upload
        .and_then(|m| m.parts)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let number = p
                .part_number
                .filter(|n| *n >= 1)
                .ok_or_else(|| s3_error!(InvalidPart, "a part has no valid PartNumber"))?;
            for (algorithm, value) in [
                (ChecksumAlgorithm::Crc32, &p.checksum_crc32),
                (ChecksumAlgorithm::Crc32c, &p.checksum_crc32c),
                (ChecksumAlgorithm::Crc64Nvme, &p.checksum_crc64nvme),
                (ChecksumAlgorithm::Sha1, &p.checksum_sha1),
                (ChecksumAlgorithm::Sha256, &p.checksum_sha256),
            ] {
                if let Some(v) = value {
                    let digest = checksum::parse_value(algorithm, v).ok_or_else(|| {
                        s3_error!(
                            InvalidPart,
                            "part {}: the {} checksum is not valid",
                            number,
                            algorithm.name()
                        )
                    })?;
                    checks.parts.push((number as u32, algorithm, digest));
                }
            }
            let tag = p.e_tag.map(|e| strip_quotes(e.value())).unwrap_or_default();
            Ok((number as u32, tag))
        })
        .collect::<S3Result<_>>()?;
    for (algorithm, value) in [
        (ChecksumAlgorithm::Crc32, &input.checksum_crc32),
        (ChecksumAlgorithm::Crc32c, &input.checksum_crc32c),
        (ChecksumAlgorithm::Crc64Nvme, &input.checksum_crc64nvme),
        (ChecksumAlgorithm::Sha1, &input.checksum_sha1),
        (ChecksumAlgorithm::Sha256, &input.checksum_sha256),
    ] {
        if let Some(v) = value {
            checks.object = Some((
                algorithm,
                expected_object_checksum(algorithm, v, parts.len())?,
            ));
        }
    }
    if parts.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "You must specify at least one part"
        ));
    }
    let if_none_match = match &input.if_none_match {
        None => false,
        Some(ETagCondition::Any) => true,
        Some(_) => {
            return Err(s3_error!(
                NotImplemented,
                "If-None-Match on CompleteMultipartUpload supports only '*'"
            ));
        }
    };
    checks.if_match = match &input.if_match {
        None => None,
        Some(ETagCondition::ETag(e)) => Some(strip_quotes(e.value())),
        Some(ETagCondition::Any) => Some("*".to_owned()),
    };
    let written = gw
        .meta
        .finish_upload(
            &input.bucket,
            &input.key,
            &input.upload_id,
            parts,
            checks,
            if_none_match,
        )
        .await
        .map_err(meta_err)?;
    let row = written.row;
    let completed_sse = shale_datapath::sse::Sse::of(&row.system_headers).map_err(to_s3_error)?;
    let expiration = gw.expiration(&input.bucket, &input.key, &row).await;
    let mut out = CompleteMultipartUploadOutput {
        expiration,
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        e_tag: Some(etag(&row.etag)),
        server_side_encryption: sse::header(completed_sse.as_ref()),
        ssekms_key_id: sse::kms_header(gw, completed_sse.as_ref()),
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        version_id: written.version_id,
        ..Default::default()
    };
    if let Some(c) = &row.checksum {
        set_checksum_fields!(out, ChecksumFields::object(c, row.parts_count), type);
    }
    Ok(S3Response::new(out))
}

pub(super) async fn abort_multipart_upload(
    gw: &Gateway,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    gw.meta
        .abort_upload(&input.bucket, &input.key, &input.upload_id)
        .await
        .map_err(meta_err)?;
    Ok(S3Response::with_status(
        AbortMultipartUploadOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

pub(super) async fn list_parts(
    gw: &Gateway,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let max_parts = page_size(input.max_parts)?;
    let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
    let upload = gw
        .meta
        .get_upload(&input.bucket, &input.key, &input.upload_id)
        .await
        .map_err(meta_err)?;
    // An upload created without an algorithm lists no part checksums, as
    // S3 does (the parts' CRC64NVME only makes the object's checksum).
    let reported = upload.checksum.map(|c| c.algorithm);
    let res = gw
        .meta
        .list_parts(
            &input.bucket,
            &input.key,
            &input.upload_id,
            marker,
            max_parts,
        )
        .await
        .map_err(meta_err)?;
    let parts = res
        .parts
        .into_iter()
        .map(|p| {
            let mut part = Part {
                e_tag: Some(etag(&p.etag)),
                last_modified: Some(ts(p.last_modified_ms)),
                part_number: Some(p.number as i32),
                size: Some(p.size as i64),
                ..Default::default()
            };
            if let Some(a) = reported {
                set_checksum_fields!(part, ChecksumFields::pick(&p.checksums, a));
            }
            part
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        is_truncated: Some(res.is_truncated),
        max_parts: Some(max_parts as i32),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: res.next_part_number_marker.map(|n| n as i32),
        parts: Some(parts),
        // The object the upload makes is its initiator's.
        owner: Some(owner(upload.owner.as_deref())),
        initiator: Some(acl::initiator(upload.owner.as_deref())),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        checksum_algorithm: upload.checksum.map(|c| s3_algorithm(c.algorithm)),
        checksum_type: upload.checksum.map(|c| checksum::s3_type(c.kind)),
        ..Default::default()
    }))
}

pub(super) async fn list_multipart_uploads(
    gw: &Gateway,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    let max_uploads = page_size(input.max_uploads)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let res = gw
        .meta
        .list_uploads(
            &input.bucket,
            &prefix,
            delimiter.as_deref(),
            input.key_marker.as_deref().filter(|s| !s.is_empty()),
            input.upload_id_marker.as_deref().filter(|s| !s.is_empty()),
            max_uploads,
        )
        .await
        .map_err(meta_err)?;
    let url = is_url_encoding(&input.encoding_type);
    let uploads = res
        .uploads
        .into_iter()
        .map(|u| MultipartUpload {
            initiated: Some(ts(u.initiated_ms)),
            initiator: Some(acl::initiator(u.owner.as_deref())),
            owner: Some(owner(u.owner.as_deref())),
            key: Some(encode_key(u.key, url)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            upload_id: Some(u.upload_id),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        common_prefixes: Some(
            res.common_prefixes
                .into_iter()
                .map(|p| CommonPrefix {
                    prefix: Some(encode_key(p, url)),
                })
                .collect(),
        ),
        delimiter: delimiter.map(|d| encode_key(d, url)),
        encoding_type: input.encoding_type,
        is_truncated: Some(res.is_truncated),
        key_marker: input.key_marker.map(|k| encode_key(k, url)),
        max_uploads: Some(max_uploads as i32),
        next_key_marker: res.next_key_marker.map(|k| encode_key(k, url)),
        next_upload_id_marker: res.next_upload_id_marker,
        prefix: Some(encode_key(prefix, url)),
        upload_id_marker: input.upload_id_marker,
        uploads: Some(uploads),
        ..Default::default()
    }))
}
