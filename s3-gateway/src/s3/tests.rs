use super::copy::parse_copy_range;
use super::*;

fn resolve(header: &str, size: u64) -> Option<(u64, u64, String)> {
    let r = Range::parse(header).ok()?;
    resolve_range(Some(&r), size)
        .ok()
        .map(|(a, b, h)| (a, b, h.unwrap_or_default()))
}

#[test]
fn ranges_resolve_as_s3_does() {
    assert_eq!(
        resolve("bytes=0-0", 10),
        Some((0, 1, "bytes 0-0/10".into()))
    );
    assert_eq!(
        resolve("bytes=2-5", 10),
        Some((2, 6, "bytes 2-5/10".into()))
    );
    // An end past the object is cut to the object.
    assert_eq!(
        resolve("bytes=5-100", 10),
        Some((5, 10, "bytes 5-9/10".into()))
    );
    assert_eq!(
        resolve("bytes=7-", 10),
        Some((7, 10, "bytes 7-9/10".into()))
    );
    assert_eq!(
        resolve("bytes=-3", 10),
        Some((7, 10, "bytes 7-9/10".into()))
    );
    assert_eq!(
        resolve("bytes=-30", 10),
        Some((0, 10, "bytes 0-9/10".into()))
    );
    // Unsatisfiable: a start at or past the end, any range of an empty object.
    assert_eq!(resolve("bytes=10-", 10), None);
    assert_eq!(resolve("bytes=0-0", 0), None);
    assert!(resolve_range(None, 10).is_ok_and(|r| r == (0, 10, None)));
}

#[test]
fn aws_chunked_is_not_stored() {
    assert_eq!(stored_content_encoding(Some("aws-chunked".into())), None);
    assert_eq!(
        stored_content_encoding(Some("gzip,aws-chunked".into())),
        Some("gzip".into())
    );
    assert_eq!(
        stored_content_encoding(Some("aws-chunked, br".into())),
        Some("br".into())
    );
    assert_eq!(stored_content_encoding(None), None);
}

#[test]
fn listing_url_encoding_is_s3_form_encoding() {
    assert_eq!(encode_key("d e/f+g%".into(), true), "d+e/f%2Bg%25");
    assert_eq!(encode_key("ü".into(), true), "%C3%BC");
    assert_eq!(encode_key("a b".into(), false), "a b");
}

#[test]
fn copy_source_ranges() {
    assert_eq!(parse_copy_range(None, 10).ok(), Some((0, 10)));
    assert_eq!(parse_copy_range(Some("bytes=0-9"), 10).ok(), Some((0, 10)));
    assert_eq!(parse_copy_range(Some("bytes=3-3"), 10).ok(), Some((3, 4)));
    let code = |range: &str, size: u64| {
        parse_copy_range(Some(range), size)
            .err()
            .map(|e| (e.code().as_str().to_owned(), e.message().map(str::to_owned)))
    };
    // Malformed: S3's form message.
    for bad in ["bytes=5-", "bytes=-5", "0-1", "bytes=4-3", "bytes=+1-2"] {
        let (c, m) = code(bad, 10).unwrap_or_default();
        assert_eq!(c, "InvalidArgument", "{bad}");
        assert!(m.is_some_and(|m| m.contains("bytes=first-last")), "{bad}");
    }
    // Ending past the source: InvalidArgument with its size.
    assert_eq!(
        code("bytes=0-10", 10),
        Some((
            "InvalidArgument".into(),
            Some("Range specified is not valid for source object of size: 10".into())
        ))
    );
    // Starting past its last byte (or any range of an empty source):
    // InvalidRequest.
    for (range, size) in [("bytes=10-12", 10), ("bytes=11-11", 10), ("bytes=0-0", 0)] {
        assert_eq!(
            code(range, size),
            Some((
                "InvalidRequest".into(),
                Some("The specified copy range is invalid for the source object size".into())
            )),
            "{range} of {size}"
        );
    }
}

#[test]
fn continuation_tokens_round_trip() {
    for marker in ["a", "dir/", "ünïcode key with spaces", ""] {
        assert_eq!(
            token_decode(&token_encode(marker)).ok().as_deref(),
            Some(marker)
        );
    }
    assert!(token_decode("%%%").is_err());
}

#[test]
fn get_object_attributes_etags_are_bare() {
    let xml = "<GetObjectAttributesResponse><ETag>\"d41d8cd98f00b204e9800998ecf8427e-2\"</ETag><ObjectSize>0</ObjectSize></GetObjectAttributesResponse>";
    let mut resp = http::Response::new(s3s::Body::from(xml.to_owned()));
    resp.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(xml.len()),
    );
    unquote_etags(&mut resp);
    let body = resp.body().bytes().unwrap_or_default();
    let want = "<GetObjectAttributesResponse><ETag>d41d8cd98f00b204e9800998ecf8427e-2</ETag><ObjectSize>0</ObjectSize></GetObjectAttributesResponse>";
    assert_eq!(std::str::from_utf8(&body), Ok(want));
    assert_eq!(
        resp.headers()[http::header::CONTENT_LENGTH],
        want.len().to_string()
    );
}

#[test]
fn metadata_values_are_mail_safe_as_s3_sends_them() {
    assert_eq!(mail_safe("plain ascii = ok?"), "plain ascii = ok?");
    assert_eq!(mail_safe("café"), "=?UTF-8?Q?caf=C3=A9?=");
    assert_eq!(mail_safe("a b_c=d?é"), "=?UTF-8?Q?a_b=5Fc=3Dd=3F=C3=A9?=");
    // Control characters too (ceph's s3-tests, written against S3).
    assert_eq!(mail_safe("\u{4}mymeta"), "=?UTF-8?Q?=04mymeta?=");
    assert_eq!(mail_safe("日本"), "=?UTF-8?Q?=E6=97=A5=E6=9C=AC?=");
}
