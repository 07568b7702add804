//! Listings: ListObjectsV2, ListObjects, ListObjectVersions.

use super::*;

/// The `Owner` of each entry of one page: the few writers of a page's
/// versions, each worked out once (an owner's id is a SHA-256).
#[derive(Default)]
struct Owners(Vec<(Option<String>, Owner)>);

impl Owners {
    fn of(&mut self, key: Option<&str>) -> Owner {
        if let Some((_, o)) = self.0.iter().find(|(k, _)| k.as_deref() == key) {
            return o.clone();
        }
        let o = owner(key);
        // A page by many writers would make the search long: keep a few.
        if self.0.len() < 16 {
            self.0.push((key.map(str::to_owned), o.clone()));
        }
        o
    }
}

/// Listing entries for objects; keys URL-encoded when `url`.
pub(super) fn object_entries(
    objects: Vec<shale_metadata::ObjectSummary>,
    url: bool,
    with_owner: bool,
) -> Vec<Object> {
    let mut owners = Owners::default();
    objects
        .into_iter()
        .map(|o| Object {
            e_tag: Some(etag(&o.etag)),
            key: Some(encode_key(o.key, url)),
            last_modified: Some(ts(o.last_modified_ms)),
            size: Some(o.size as i64),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            owner: with_owner.then(|| owners.of(o.owner.as_deref())),
            ..Default::default()
        })
        .collect()
}

/// Listing entries for common prefixes; URL-encoded when `url`.
pub(super) fn prefix_entries(prefixes: Vec<String>, url: bool) -> Vec<CommonPrefix> {
    prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(encode_key(p, url)),
        })
        .collect()
}

pub(super) async fn list_objects_v2(
    gw: &Gateway,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    let max_keys = page_size(input.max_keys)?;
    let start = match &input.continuation_token {
        Some(t) => Some(token_decode(t)?),
        None => input.start_after.clone().filter(|s| !s.is_empty()),
    };
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let res = gw
        .meta
        .list_objects(
            &input.bucket,
            &prefix,
            delimiter.as_deref(),
            start.as_deref(),
            max_keys,
        )
        .await
        .map_err(meta_err)?;
    let url = is_url_encoding(&input.encoding_type);
    let key_count = (res.objects.len() + res.common_prefixes.len()) as i32;
    let contents = object_entries(res.objects, url, input.fetch_owner == Some(true));
    let common_prefixes = prefix_entries(res.common_prefixes, url);
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(encode_key(prefix, url)),
        max_keys: Some(max_keys as i32),
        key_count: Some(key_count),
        continuation_token: input.continuation_token,
        is_truncated: Some(res.is_truncated),
        next_continuation_token: if res.is_truncated {
            res.next_marker.as_deref().map(token_encode)
        } else {
            None
        },
        contents: Some(contents),
        common_prefixes: Some(common_prefixes),
        delimiter: delimiter.map(|d| encode_key(d, url)),
        encoding_type: input.encoding_type,
        start_after: input.start_after.map(|s| encode_key(s, url)),
        ..Default::default()
    }))
}

pub(super) async fn list_objects(
    gw: &Gateway,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = req.input;
    let max_keys = page_size(input.max_keys)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let marker = input.marker.clone().filter(|m| !m.is_empty());
    let res = gw
        .meta
        .list_objects(
            &input.bucket,
            &prefix,
            delimiter.as_deref(),
            marker.as_deref(),
            max_keys,
        )
        .await
        .map_err(meta_err)?;
    let url = is_url_encoding(&input.encoding_type);
    let contents = object_entries(res.objects, url, true);
    let common_prefixes = prefix_entries(res.common_prefixes, url);
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(encode_key(prefix, url)),
        // S3 always answers a Marker, empty when the request had none.
        marker: Some(encode_key(input.marker.unwrap_or_default(), url)),
        max_keys: Some(max_keys as i32),
        is_truncated: Some(res.is_truncated),
        contents: Some(contents),
        common_prefixes: Some(common_prefixes),
        // S3 sends NextMarker only with a delimiter; without one the
        // client continues from the last key of the page.
        next_marker: if res.is_truncated && delimiter.is_some() {
            res.next_marker.map(|m| encode_key(m, url))
        } else {
            None
        },
        delimiter: delimiter.map(|d| encode_key(d, url)),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// ListObjectVersions: keys in order, each key's versions newest first,
/// delete markers among them, resuming strictly after (`key-marker`,
/// `version-id-marker`). A bucket that never had versioning lists each
/// object once, as its `null` version.
pub(super) async fn list_object_versions(
    gw: &Gateway,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let input = req.input;
    let max_keys = page_size(input.max_keys)?;
    let key_marker = input.key_marker.clone().filter(|s| !s.is_empty());
    let version_marker = input.version_id_marker.clone().filter(|s| !s.is_empty());
    let version_marker = match &version_marker {
        Some(_) if key_marker.is_none() => {
            return Err(s3_error!(
                InvalidArgument,
                "A version-id marker cannot be specified without a key marker."
            ));
        }
        Some(v) => Some(check_version(Some(v))?),
        None => None,
    };
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let res = gw
        .meta
        .list_versions(
            &input.bucket,
            &prefix,
            delimiter.clone(),
            (key_marker, version_marker),
            max_keys,
        )
        .await
        .map_err(meta_err)?;
    let url = is_url_encoding(&input.encoding_type);
    let mut versions = Vec::new();
    let mut delete_markers = Vec::new();
    let order = VersionOrder(res.versions.iter().map(|v| v.delete_marker).collect());
    let mut owners = Owners::default();
    for v in res.versions {
        if v.delete_marker {
            delete_markers.push(DeleteMarkerEntry {
                is_latest: Some(v.is_latest),
                key: Some(encode_key(v.key, url)),
                last_modified: Some(ts(v.last_modified_ms)),
                owner: Some(owners.of(v.owner.as_deref())),
                version_id: Some(v.version_id),
            });
        } else {
            versions.push(ObjectVersion {
                e_tag: Some(etag(&v.etag)),
                is_latest: Some(v.is_latest),
                key: Some(encode_key(v.key, url)),
                last_modified: Some(ts(v.last_modified_ms)),
                owner: Some(owners.of(v.owner.as_deref())),
                size: Some(v.size as i64),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id: Some(v.version_id),
                ..Default::default()
            });
        }
    }
    let mut resp = S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(encode_key(prefix, url)),
        // S3 echoes both markers, empty when the request had none.
        key_marker: Some(encode_key(input.key_marker.unwrap_or_default(), url)),
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        max_keys: Some(max_keys as i32),
        is_truncated: Some(res.is_truncated),
        next_key_marker: res.next_key_marker.map(|m| encode_key(m, url)),
        next_version_id_marker: res.next_version_id_marker,
        versions: Some(versions),
        delete_markers: Some(delete_markers),
        common_prefixes: Some(prefix_entries(res.common_prefixes, url)),
        delimiter: delimiter.map(|d| encode_key(d, url)),
        encoding_type: input.encoding_type,
        ..Default::default()
    });
    resp.extensions.insert(order);
    Ok(resp)
}
