//! The HTML of the Objects pages (see [`super::objects`]); every string
//! from S3 or the request goes through [`escape`], as in [`super::pages`].

use std::fmt::Write;

use super::client_objects::{Listing, LockState, ObjectHead, VersionRow};
use super::objects::{LINK_EXPIRIES, action_url, breadcrumbs, browse_url};
use super::pages::{escape, layout, notice_html};
use super::session::Notice;

/// `n` bytes for people: `20.0 MiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The breadcrumb: Buckets › bucket › each folder of `prefix` (the last
/// one a link too, so a page can be reloaded from the start) › `leaf`.
fn breadcrumb(bucket: &str, prefix: &str, leaf: Option<&str>) -> String {
    let mut out = format!(
        "<nav id=\"breadcrumb\"><a href=\"/_shale/console/buckets\">Buckets</a> › \
         <a href=\"{}\">{}</a>",
        escape(&browse_url(bucket, "", None)),
        escape(bucket)
    );
    for (name, at) in breadcrumbs(prefix) {
        let _ = write!(
            out,
            " › <a href=\"{}\">{}</a>",
            escape(&browse_url(bucket, at, None)),
            escape(name)
        );
    }
    if let Some(leaf) = leaf {
        let _ = write!(out, " › <span id=\"leaf\">{}</span>", escape(leaf));
    }
    out.push_str("</nav>");
    out
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        escape(value)
    )
}

/// A one-button form posting `fields` to `action` of `bucket`.
fn button_form(
    bucket: &str,
    action: &str,
    csrf: &str,
    fields: &[(&str, &str)],
    (class, label): (&str, &str),
) -> String {
    let mut f = format!(
        "<form method=\"post\" action=\"{}\">{}",
        escape(&format!(
            "/_shale/console/b/{}/{action}",
            shale_common::sigv4::uri_encode(bucket, false)
        )),
        hidden("csrf", csrf)
    );
    for (name, value) in fields {
        f.push_str(&hidden(name, value));
    }
    let _ = write!(
        f,
        "<button class=\"{class}\" type=\"submit\">{label}</button></form>"
    );
    f
}

/// The browser of `prefix` in `bucket`: folders, objects (each with
/// download and delete), the next page, and the upload picker.
pub fn browser(
    (access_key, csrf): (&str, &str),
    (bucket, prefix, paged): (&str, &str, bool),
    listed: Result<&Listing, &str>,
    notice: Option<&Notice>,
) -> String {
    let mut list = String::new();
    match listed {
        Err(message) => {
            let _ = write!(
                list,
                "<div id=\"list-error\" class=\"notice error\">The objects could not be listed: {}</div>",
                escape(message)
            );
        }
        Ok(l) if l.prefixes.is_empty() && l.objects.is_empty() => {
            list.push_str("<p id=\"no-objects\" class=\"muted\">Nothing here yet.</p>");
        }
        Ok(l) => {
            list.push_str(
                "<table id=\"objects\"><thead><tr><th>Name</th><th>Size</th><th>Last modified</th>\
                 <th></th></tr></thead><tbody>",
            );
            for p in &l.prefixes {
                let name = p.strip_prefix(prefix).unwrap_or(p);
                let _ = write!(
                    list,
                    "<tr class=\"folder\" data-prefix=\"{}\"><td><a href=\"{}\">{}</a></td>\
                     <td></td><td></td><td></td></tr>",
                    escape(p),
                    escape(&browse_url(bucket, p, None)),
                    escape(name)
                );
            }
            for o in &l.objects {
                let name = o.key.strip_prefix(prefix).unwrap_or(&o.key);
                let _ = write!(
                    list,
                    "<tr class=\"object\" data-key=\"{key}\" data-size=\"{size}\">\
                     <td class=\"key\"><a href=\"{details}\">{name}</a></td>\
                     <td class=\"size\">{human}</td><td class=\"modified\">{modified}</td>\
                     <td class=\"actions\"><a class=\"download\" href=\"{download}\">Download</a> {delete}</td></tr>",
                    key = escape(&o.key),
                    size = o.size,
                    details = escape(&action_url(bucket, "object", &[("key", &o.key)])),
                    name = escape(name),
                    human = escape(&human_size(o.size)),
                    modified = escape(&o.last_modified),
                    download = escape(&action_url(bucket, "download", &[("key", &o.key)])),
                    delete = button_form(
                        bucket,
                        "delete",
                        csrf,
                        &[("key", &o.key)],
                        ("danger delete", "Delete")
                    ),
                );
            }
            list.push_str("</tbody></table>");
            let mut pager = String::new();
            if paged {
                let _ = write!(
                    pager,
                    "<a id=\"first-page\" href=\"{}\">First page</a> ",
                    escape(&browse_url(bucket, prefix, None))
                );
            }
            if let Some(t) = &l.next_token {
                let _ = write!(
                    pager,
                    "<a id=\"next-page\" href=\"{}\">Next page</a>",
                    escape(&browse_url(bucket, prefix, Some(t)))
                );
            }
            if !pager.is_empty() {
                let _ = write!(list, "<p class=\"pager\">{pager}</p>");
            }
        }
    }
    let into = if prefix.is_empty() {
        format!("the top of {}", escape(bucket))
    } else {
        escape(prefix)
    };
    let body = format!(
        "{}{}<section id=\"listing\"><h2>Objects</h2>{list}</section>\
         <section id=\"upload\" data-bucket=\"{}\" data-prefix=\"{}\" data-csrf=\"{}\">\
         <h2>Upload</h2><label for=\"files\">Files to upload into {into}</label>\
         <input type=\"file\" id=\"files\" multiple>\
         <ul id=\"uploads\"></ul>\
         <p class=\"muted\">Each file is uploaded with the signed-in key's rights; one larger than 8 MiB \
         is sent in parts of 8 MiB.</p></section>",
        breadcrumb(bucket, prefix, None),
        notice_html(notice),
        escape(bucket),
        escape(prefix),
        escape(csrf),
    );
    layout(
        &format!("{bucket}/{prefix}"),
        Some((access_key, csrf)),
        &body,
    )
}

/// What the object page shows, each part read on its own (one failing
/// leaves the others shown).
pub struct Details<'a> {
    /// HeadObject of the current version, or why not.
    pub head: Result<&'a ObjectHead, &'a str>,
    /// Its tags, or why not.
    pub tags: Result<&'a [(String, String)], &'a str>,
    /// Its Object Lock state (`None`: its bucket has none), or why not.
    pub lock: Result<Option<&'a LockState>, &'a str>,
    /// Its versions newest first, and whether more were not read.
    pub versions: Result<(&'a [VersionRow], bool), &'a str>,
    /// A presigned link just made, to copy.
    pub link: Option<&'a str>,
}

/// The object page: metadata, download, delete, a presigned link, tags and
/// the versions of the key.
pub fn object(
    (access_key, csrf): (&str, &str),
    (bucket, key): (&str, &str),
    d: Details<'_>,
    notice: Option<&Notice>,
) -> String {
    let prefix = super::objects::parent_prefix(key);
    let mut body = breadcrumb(
        bucket,
        prefix,
        Some(key.strip_prefix(prefix).unwrap_or(key)),
    );
    body.push_str(&notice_html(notice));
    body.push_str("<section id=\"metadata\"><h2>Object</h2>");
    let deleted = matches!(d.versions, Ok((rows, _)) if rows.first().is_some_and(|v| v.is_latest && v.delete_marker));
    match d.head {
        Err(_) if deleted => body.push_str(
            "<div id=\"head-error\" class=\"notice error\">The current version is a delete marker: \
             the object reads as deleted. Restore an older version below to bring it back.</div>",
        ),
        Err(message) => {
            let _ = write!(
                body,
                "<div id=\"head-error\" class=\"notice error\">The current version could not be read: {}</div>",
                escape(message)
            );
        }
        Ok(h) => {
            body.push_str("<table><tbody>");
            let mut row = |id: &str, name: &str, value: &str| {
                let _ = write!(
                    body,
                    "<tr><th>{}</th><td id=\"{id}\">{}</td></tr>",
                    escape(name),
                    escape(value)
                );
            };
            row("meta-key", "Key", key);
            row(
                "meta-size",
                "Size",
                &format!("{} ({} bytes)", human_size(h.size), h.size),
            );
            row("meta-type", "Content type", &h.content_type);
            row("meta-etag", "ETag", &h.etag);
            row("meta-modified", "Last modified", &h.last_modified);
            if !h.version_id.is_empty() {
                row("meta-version", "Version", &h.version_id);
            }
            for (name, value) in &h.metadata {
                named_row(&mut body, "user-meta", "x-amz-meta-", name, value);
            }
            body.push_str("</tbody></table>");
            let _ = write!(
                body,
                "<p class=\"actions\"><a id=\"download\" class=\"download\" href=\"{}\">Download</a></p>{}",
                escape(&action_url(bucket, "download", &[("key", key)])),
                button_form(
                    bucket,
                    "delete",
                    csrf,
                    &[("key", key)],
                    ("danger delete", "Delete")
                )
            );
        }
    }
    body.push_str("</section>");

    // A presigned link.
    let _ = write!(
        body,
        "<section id=\"share\"><h2>Copy a link</h2>\
         <form id=\"link-form\" method=\"post\" action=\"{}\">{}{}\
         <label for=\"expires\">Valid for</label><select id=\"expires\" name=\"expires\">",
        escape(&format!(
            "/_shale/console/b/{}/link",
            shale_common::sigv4::uri_encode(bucket, false)
        )),
        hidden("csrf", csrf),
        hidden("key", key)
    );
    for (secs, name) in LINK_EXPIRIES {
        let _ = write!(body, "<option value=\"{secs}\">{name}</option>");
    }
    body.push_str("</select> <button id=\"make-link\" type=\"submit\">Make a link</button></form>");
    if let Some(link) = d.link {
        let _ = write!(
            body,
            "<p><input type=\"text\" id=\"link\" readonly value=\"{}\"> \
             <button id=\"copy-link\" type=\"button\">Copy</button></p>\
             <p class=\"muted\">Anyone with this link can download the object until it expires, \
             with the signed-in key's rights.</p>",
            escape(link)
        );
    }
    body.push_str("</section>");

    lock_section(&mut body, d.lock);

    // Tags.
    body.push_str("<section id=\"tags-section\"><h2>Tags</h2>");
    match d.tags {
        Err(message) => {
            let _ = write!(
                body,
                "<div id=\"tags-error\" class=\"notice error\">The tags could not be read: {}</div>",
                escape(message)
            );
        }
        Ok(tags) => {
            if tags.is_empty() {
                body.push_str("<p class=\"muted\" id=\"no-tags\">No tags.</p>");
            } else {
                body.push_str("<table id=\"tags\"><tbody>");
                for (k, v) in tags {
                    named_row(&mut body, "tag", "", k, v);
                }
                body.push_str("</tbody></table>");
            }
            let lines: String = tags.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            let _ = write!(
                body,
                "<form id=\"tags-form\" method=\"post\" action=\"{}\">{}{}\
                 <label for=\"tags-text\">One tag a line, as name=value</label>\
                 <textarea id=\"tags-text\" name=\"tags\" rows=\"4\" cols=\"40\">{}</textarea>\
                 <p><button id=\"save-tags\" type=\"submit\">Save tags</button></p></form>",
                escape(&format!(
                    "/_shale/console/b/{}/tags",
                    shale_common::sigv4::uri_encode(bucket, false)
                )),
                hidden("csrf", csrf),
                hidden("key", key),
                escape(&lines)
            );
        }
    }
    body.push_str("</section>");

    // Versions.
    body.push_str("<section id=\"versions-section\"><h2>Versions</h2>");
    match d.versions {
        Err(message) => {
            let _ = write!(
                body,
                "<div id=\"versions-error\" class=\"notice error\">The versions could not be listed: {}</div>",
                escape(message)
            );
        }
        Ok((rows, more)) => {
            body.push_str(
                "<table id=\"versions\"><thead><tr><th>Version</th><th>Written</th><th>Size</th>\
                 <th></th></tr></thead><tbody>",
            );
            for v in rows {
                let mut actions = String::new();
                if !v.delete_marker {
                    let _ = write!(
                        actions,
                        "<a class=\"download\" href=\"{}\">Download</a> ",
                        escape(&action_url(
                            bucket,
                            "download",
                            &[("key", key), ("version", &v.version_id)]
                        ))
                    );
                    if !v.is_latest {
                        actions.push_str(&button_form(
                            bucket,
                            "restore",
                            csrf,
                            &[("key", key), ("version", &v.version_id)],
                            ("restore", "Restore"),
                        ));
                    }
                }
                actions.push_str(&button_form(
                    bucket,
                    "delete",
                    csrf,
                    &[("key", key), ("version", &v.version_id)],
                    ("danger delete-version", "Delete this version"),
                ));
                let _ = write!(
                    body,
                    "<tr class=\"version{}\" data-version=\"{id}\" data-marker=\"{}\" data-latest=\"{}\">\
                     <td class=\"version-id\">{id}{}</td><td class=\"written\">{}</td><td>{}</td><td class=\"actions\">{actions}</td></tr>",
                    if v.delete_marker { " marker" } else { "" },
                    v.delete_marker,
                    v.is_latest,
                    if v.is_latest {
                        " <strong>(current)</strong>"
                    } else {
                        ""
                    },
                    escape(&v.last_modified),
                    if v.delete_marker {
                        "<em>delete marker</em>".to_owned()
                    } else {
                        escape(&human_size(v.size))
                    },
                    id = escape(&v.version_id),
                );
            }
            body.push_str("</tbody></table>");
            if more {
                body.push_str("<p class=\"muted\">More versions exist than the console shows.</p>");
            }
        }
    }
    body.push_str("</section>");
    layout(key, Some((access_key, csrf)), &body)
}

/// The Object Lock section of the object page: shown only when the
/// bucket has Object Lock (or the state could not be read).
fn lock_section(body: &mut String, lock: Result<Option<&LockState>, &str>) {
    let lock = match lock {
        Ok(None) => return,
        Err(message) => {
            let _ = write!(
                body,
                "<section id=\"lock-section\"><h2>Object Lock</h2>\
                 <div id=\"lock-error\" class=\"notice error\">The Object Lock state could not be read: {}</div></section>",
                escape(message)
            );
            return;
        }
        Ok(Some(lock)) => lock,
    };
    let retention = if lock.mode.is_empty() {
        "none".to_owned()
    } else {
        format!(
            "<span id=\"lock-mode\">{}</span> until <span id=\"lock-until\">{}</span>",
            escape(&lock.mode),
            escape(&lock.retain_until)
        )
    };
    let hold = match lock.legal_hold.as_str() {
        "" => "never set".to_owned(),
        h => escape(h),
    };
    let _ = write!(
        body,
        "<section id=\"lock-section\"><h2>Object Lock</h2><table id=\"lock\"><tbody>\
         <tr><th>Retention</th><td id=\"lock-retention\">{retention}</td></tr>\
         <tr><th>Legal hold</th><td id=\"legal-hold\">{hold}</td></tr></tbody></table></section>"
    );
}

/// A table row of a name (shown after `label`, and in `data-name` for
/// tests) and its value, both escaped.
fn named_row(body: &mut String, class: &str, label: &str, name: &str, value: &str) {
    let _ = write!(
        body,
        "<tr class=\"{class}\" data-name=\"{n}\"><th>{label}{n}</th><td>{}</td></tr>",
        escape(value),
        n = escape(name)
    );
}

#[cfg(test)]
mod tests {
    use super::super::client_objects::ObjectRow;
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(20 << 20), "20.0 MiB");
        assert_eq!(human_size(1536), "1.5 KiB");
    }

    #[test]
    fn object_pages_escape_what_s3_and_the_user_gave() {
        let evil = "\"><script>alert(1)</script>";
        let listing = Listing {
            prefixes: vec![format!("{evil}/")],
            objects: vec![ObjectRow {
                key: evil.into(),
                size: 1,
                last_modified: evil.into(),
            }],
            next_token: Some(evil.into()),
        };
        let notice = Notice::error(evil);
        let head = ObjectHead {
            content_type: evil.into(),
            etag: evil.into(),
            metadata: vec![(evil.into(), evil.into())],
            ..ObjectHead::default()
        };
        let tags = vec![(evil.to_owned(), evil.to_owned())];
        let lock = LockState {
            mode: evil.into(),
            retain_until: evil.into(),
            legal_hold: evil.into(),
        };
        let versions = vec![VersionRow {
            key: evil.into(),
            version_id: evil.into(),
            is_latest: false,
            delete_marker: false,
            size: 3,
            last_modified: evil.into(),
        }];
        let pages = [
            browser(
                (evil, evil),
                (evil, evil, true),
                Ok(&listing),
                Some(&notice),
            ),
            browser((evil, evil), (evil, "", false), Err(evil), None),
            object(
                (evil, evil),
                (evil, evil),
                Details {
                    head: Ok(&head),
                    tags: Ok(&tags),
                    lock: Ok(Some(&lock)),
                    versions: Ok((&versions, true)),
                    link: Some(evil),
                },
                Some(&notice),
            ),
            object(
                (evil, evil),
                (evil, evil),
                Details {
                    head: Err(evil),
                    tags: Err(evil),
                    lock: Err(evil),
                    versions: Err(evil),
                    link: None,
                },
                None,
            ),
        ];
        for page in pages {
            assert!(!page.contains("<script>"), "{page}");
            assert!(page.contains("&lt;script&gt;"), "{page}");
        }
    }

    #[test]
    fn every_object_form_carries_the_csrf_token() {
        let listing = Listing {
            prefixes: vec!["d/".into()],
            objects: vec![ObjectRow {
                key: "a".into(),
                size: 1,
                last_modified: "t".into(),
            }],
            next_token: None,
        };
        let page = browser(("AK", "tok1"), ("b", "", false), Ok(&listing), None);
        assert_eq!(page.matches("<form").count(), 2); // sign-out, delete a
        assert_eq!(page.matches("name=\"csrf\" value=\"tok1\"").count(), 2);
        assert!(page.contains("data-csrf=\"tok1\""));
        let head = ObjectHead::default();
        let versions = vec![
            VersionRow {
                key: "a".into(),
                version_id: "v2".into(),
                is_latest: true,
                delete_marker: true,
                size: 0,
                last_modified: "t".into(),
            },
            VersionRow {
                key: "a".into(),
                version_id: "v1".into(),
                is_latest: false,
                delete_marker: false,
                size: 1,
                last_modified: "t".into(),
            },
        ];
        let page = object(
            ("AK", "tok1"),
            ("b", "a"),
            Details {
                head: Ok(&head),
                tags: Ok(&[]),
                lock: Ok(None),
                versions: Ok((&versions, false)),
                link: None,
            },
            None,
        );
        // sign-out, delete, link, tags, delete v2, restore v1, delete v1
        assert_eq!(page.matches("<form").count(), 7);
        assert!(!page.contains("lock-section"), "no Object Lock, no section");
        assert_eq!(page.matches("name=\"csrf\" value=\"tok1\"").count(), 7);
        assert_eq!(page.matches("class=\"restore\"").count(), 1);
    }

    #[test]
    fn object_lock_state_is_shown_when_the_bucket_has_it() {
        let mut body = String::new();
        let locked = LockState {
            mode: "GOVERNANCE".into(),
            retain_until: "2030-01-01T00:00:00Z".into(),
            legal_hold: "ON".into(),
        };
        lock_section(&mut body, Ok(Some(&locked)));
        assert!(body.contains("<span id=\"lock-mode\">GOVERNANCE</span>"));
        assert!(body.contains("<span id=\"lock-until\">2030-01-01T00:00:00Z</span>"));
        assert!(body.contains("<td id=\"legal-hold\">ON</td>"));
        body.clear();
        lock_section(&mut body, Ok(Some(&LockState::default())));
        assert!(body.contains("<td id=\"lock-retention\">none</td>"));
        assert!(body.contains("<td id=\"legal-hold\">never set</td>"));
        body.clear();
        lock_section(&mut body, Ok(None));
        assert!(body.is_empty());
    }
}
