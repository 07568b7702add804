//! The checksums S3 reports for an object: computed at upload, combined for
//! multipart objects (COMPOSITE or FULL_OBJECT), and shown per part.

use super::*;

/// GetObjectAttributes' ObjectParts of a multipart object: a page of its
/// parts after `marker`, with each part's checksum when the object has one.
pub(super) fn object_parts(
    row: &ObjectRow,
    total: u32,
    marker: Option<i32>,
    max: u32,
) -> GetObjectAttributesParts {
    let sizes: Vec<(u32, u64)> = match &row.data {
        ObjectData::Parts(parts) => parts.iter().map(|p| (p.number, p.size)).collect(),
        ObjectData::Inline(_) => Vec::new(),
    };
    let after = marker.unwrap_or(0).max(0) as u32;
    let remaining: Vec<(usize, &(u32, u64))> = sizes
        .iter()
        .enumerate()
        .filter(|(_, (number, _))| *number > after)
        .collect();
    let truncated = remaining.len() > max as usize;
    let page: Vec<ObjectPart> = remaining
        .into_iter()
        .take(max as usize)
        .map(|(i, (number, size))| {
            let mut part = ObjectPart {
                part_number: Some(*number as i32),
                size: Some(*size as i64),
                ..Default::default()
            };
            if let Some(c) = &row.checksum
                && let Some(d) = c.parts.get(i)
            {
                set_checksum_fields!(part, ChecksumFields::digest(c.algorithm, d));
            }
            part
        })
        .collect();
    let next = page.last().and_then(|p| p.part_number);
    GetObjectAttributesParts {
        is_truncated: Some(truncated),
        max_parts: Some(max as i32),
        next_part_number_marker: if truncated { next } else { None },
        part_number_marker: marker,
        parts: Some(page),
        total_parts_count: Some(total as i32),
    }
}

/// Every checksum computed for one body, by algorithm.
pub(super) type Digests = Vec<(ChecksumAlgorithm, Vec<u8>)>;

/// The FULL_OBJECT checksum of `algorithm` among those computed for a body.
pub(super) fn full_object_checksum(
    digests: &Digests,
    algorithm: ChecksumAlgorithm,
) -> S3Result<ObjectChecksum> {
    let value = digests
        .iter()
        .find(|(a, _)| *a == algorithm)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            to_s3_error(Error::Internal(format!(
                "the {} checksum was not computed",
                algorithm.name()
            )))
        })?;
    Ok(ObjectChecksum {
        algorithm,
        kind: ChecksumType::FullObject,
        value,
        parts: Vec::new(),
    })
}

/// The checksum UploadPart and UploadPartCopy report for a part: the
/// upload's algorithm, or CRC64NVME (S3's default) for an upload created
/// without one. (ListParts lists none for such an upload, as S3.)
pub(super) fn part_algorithm(upload: Option<UploadChecksum>) -> ChecksumAlgorithm {
    upload.map_or(ChecksumAlgorithm::Crc64Nvme, |c| c.algorithm)
}

/// `x-amz-checksum-algorithm` and `x-amz-checksum-type` of
/// CreateMultipartUpload, with S3's rules: a type needs an algorithm, an
/// algorithm alone gets its default type, and SHAs cannot be FULL_OBJECT
/// nor CRC64NVME COMPOSITE.
pub(super) fn upload_checksum(
    algorithm: Option<&s3s::dto::ChecksumAlgorithm>,
    kind: Option<&s3s::dto::ChecksumType>,
) -> Result<Option<UploadChecksum>, Error> {
    let Some(algorithm) = algorithm else {
        return match kind {
            None => Ok(None),
            Some(_) => Err(Error::InvalidRequest(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".into(),
            )),
        };
    };
    let algorithm = checksum::algorithm_of(algorithm)?;
    let kind = match kind {
        Some(k) => checksum::type_of(k)?,
        None => algorithm.default_type(),
    };
    if !algorithm.supports(kind) {
        return Err(Error::InvalidRequest(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.name(),
            algorithm.name().to_lowercase()
        )));
    }
    Ok(Some(UploadChecksum { algorithm, kind }))
}

/// S3's name of a checksum algorithm.
pub(super) fn s3_algorithm(a: ChecksumAlgorithm) -> s3s::dto::ChecksumAlgorithm {
    s3s::dto::ChecksumAlgorithm::from(a.name().to_owned())
}

/// The object checksum a CompleteMultipartUpload expects: a digest, with a
/// `-<parts>` suffix for COMPOSITE ones, whose count must be the parts'.
pub(super) fn expected_object_checksum(
    algorithm: ChecksumAlgorithm,
    value: &str,
    parts: usize,
) -> S3Result<Vec<u8>> {
    let (digest, count) = match value.trim().rsplit_once('-') {
        Some((d, n)) => (d, Some(n)),
        None => (value, None),
    };
    let bad = || {
        s3_error!(
            InvalidRequest,
            "Value for {} header is invalid.",
            algorithm.header()
        )
    };
    let digest = checksum::parse_value(algorithm, digest).ok_or_else(bad)?;
    if let Some(n) = count
        && n.parse::<usize>().map_err(|_| bad())? != parts
    {
        return Err(s3_error!(
            BadDigest,
            "The {} you specified did not match the calculated checksum.",
            algorithm.name().to_lowercase()
        ));
    }
    Ok(digest)
}

/// The checksum GET and HEAD report: only when the request asks for it
/// (`x-amz-checksum-mode: ENABLED`), and never for a range, whose bytes are
/// not the ones the checksum covers (S3 does the same).
///
/// For one part of a multipart object (`partNumber`), S3 answers the
/// part's own digest, with type COMPOSITE, when the object's checksum is
/// COMPOSITE; a FULL_OBJECT checksum covers the whole object, not the part,
/// so none is sent unless the part is the whole object.
pub(super) fn reported_checksum(
    row: &ObjectRow,
    mode: Option<&ChecksumMode>,
    content_range: &Option<String>,
    part: Option<&PartRead>,
) -> Option<ChecksumFields> {
    let enabled = mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED));
    if !enabled {
        return None;
    }
    let c = row.checksum.as_ref()?;
    match part {
        Some(PartRead {
            index,
            count: Some(count),
        }) => match c.kind {
            ChecksumType::Composite => c.parts.get(*index).map(|d| {
                let mut f = ChecksumFields::digest(c.algorithm, d);
                f.kind = Some(checksum::s3_type(ChecksumType::Composite));
                f
            }),
            ChecksumType::FullObject if *count == 1 => {
                Some(ChecksumFields::object(c, row.parts_count))
            }
            ChecksumType::FullObject => None,
        },
        // partNumber=1 of a single-part object is the whole object.
        Some(PartRead { count: None, .. }) => Some(ChecksumFields::object(c, row.parts_count)),
        None if content_range.is_some() => None,
        None => Some(ChecksumFields::object(c, row.parts_count)),
    }
}
