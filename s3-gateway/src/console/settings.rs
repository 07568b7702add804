//! A bucket's settings page (`/_shale/console/settings/<bucket>`):
//! versioning, lifecycle, replication, policy and CORS.
//!
//! Each configuration is read with its S3 Get request and shown as S3
//! answered it (XML, or the policy's JSON) in a `<pre>`; a form posts an
//! edited document (or a versioning status, or a removal) to
//! `settings`, which sends it as the S3 Put or Delete request, signed
//! with the session's key: S3 checks the document and the key's rights,
//! and its error code is the notice. Nothing here parses a configuration.

use std::fmt::Write;

use bytes::Bytes;

use super::client::{S3Dispatch, S3Failure, Signer, send};
use super::pages::{escape, layout_with, notice_html};
use super::session::{Notice, SessionView};
use super::{Form, PREFIX};

/// One configuration of a bucket the page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// Its form value and element id (`lifecycle`).
    pub id: &'static str,
    /// The S3 subresource (`?lifecycle`).
    pub subresource: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// The error code S3 answers a bucket without one.
    pub none_code: &'static str,
    /// Whether S3 has a Delete for it (versioning has none: it is only
    /// suspended).
    pub deletable: bool,
}

/// The configurations, in the page's order.
pub const KINDS: [Kind; 5] = [
    Kind {
        id: "versioning",
        subresource: "versioning",
        title: "Versioning",
        none_code: "",
        deletable: false,
    },
    Kind {
        id: "lifecycle",
        subresource: "lifecycle",
        title: "Lifecycle",
        none_code: "NoSuchLifecycleConfiguration",
        deletable: true,
    },
    Kind {
        id: "replication",
        subresource: "replication",
        title: "Replication",
        none_code: "ReplicationConfigurationNotFoundError",
        deletable: true,
    },
    Kind {
        id: "policy",
        subresource: "policy",
        title: "Policy",
        none_code: "NoSuchBucketPolicy",
        deletable: true,
    },
    Kind {
        id: "cors",
        subresource: "cors",
        title: "CORS",
        none_code: "NoSuchCORSConfiguration",
        deletable: true,
    },
];

fn kind(id: &str) -> Option<Kind> {
    KINDS.iter().copied().find(|k| k.id == id)
}

/// What the page shows of one configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Current {
    /// The document S3 answered.
    Set(String),
    /// The bucket has none.
    None,
    /// It could not be read (S3's error, described).
    Failed(String),
}

/// The page's path for `bucket`.
pub fn page_path(bucket: &str) -> String {
    format!("{PREFIX}settings/{}", urlencoding::encode(bucket))
}

/// `/bucket`, refusing a name that would address a key.
fn bucket_path(bucket: &str) -> Result<String, S3Failure> {
    if bucket.is_empty() || bucket.contains('/') {
        return Err(S3Failure {
            status: 400,
            code: "InvalidBucketName".into(),
            message: "The specified bucket is not valid.".into(),
        });
    }
    Ok(format!("/{bucket}"))
}

/// One request on `bucket?subresource`; the answer's body as text.
async fn subresource<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    method: http::Method,
    bucket: &str,
    sub: &str,
    body: Bytes,
) -> Result<String, S3Failure> {
    let answer = send(
        s3,
        signer,
        method,
        &bucket_path(bucket)?,
        &[(sub, "")],
        body,
    )
    .await?;
    Ok(String::from_utf8_lossy(&answer.body).into_owned())
}

/// Reads every configuration of `bucket` (concurrently).
pub async fn read_all<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
) -> Vec<(Kind, Current)> {
    let reads = KINDS.iter().map(|k| async move {
        let current = match subresource(
            s3,
            signer,
            http::Method::GET,
            bucket,
            k.subresource,
            Bytes::new(),
        )
        .await
        {
            Ok(doc) => Current::Set(doc),
            Err(f) if !k.none_code.is_empty() && f.code == k.none_code => Current::None,
            Err(f) => Current::Failed(f.describe()),
        };
        (*k, current)
    });
    futures::future::join_all(reads).await
}

/// The versioning document for `status` (`Enabled`, `Suspended`).
fn versioning_body(status: &str) -> String {
    format!(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Status>{status}</Status></VersioningConfiguration>"
    )
}

/// The form's change, sent as S3's request; the notice that says what
/// happened.
pub(super) async fn apply<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    bucket: &str,
    form: &Form,
) -> Notice {
    let Some(k) = form.get("kind").and_then(kind) else {
        return Notice::error("No such setting.");
    };
    let action = form.get("action").unwrap_or("");
    let (method, body, done) = match (k.id, action) {
        ("versioning", "Enabled" | "Suspended") => (
            http::Method::PUT,
            versioning_body(action),
            format!("Versioning of {bucket} is now {action}."),
        ),
        (_, "save") if k.id != "versioning" => {
            let doc = form.get("document").unwrap_or("").trim();
            if doc.is_empty() {
                return Notice::error(format!(
                    "{} of {bucket} was not saved: the document is empty.",
                    k.title
                ));
            }
            (
                http::Method::PUT,
                doc.to_owned(),
                format!("{} of {bucket} saved.", k.title),
            )
        }
        (_, "delete") if k.deletable => (
            http::Method::DELETE,
            String::new(),
            format!("{} of {bucket} removed.", k.title),
        ),
        _ => return Notice::error("No such change."),
    };
    match subresource(s3, signer, method, bucket, k.subresource, Bytes::from(body)).await {
        Ok(_) => Notice::ok(done),
        Err(f) => Notice::error(format!(
            "{} of {bucket} was not changed: {}",
            k.title,
            f.describe()
        )),
    }
}

/// The settings page of `bucket`.
pub fn page(
    access_key: &str,
    csrf: &str,
    bucket: &str,
    current: &[(Kind, Current)],
    notice: Option<&Notice>,
) -> String {
    let csrf_e = escape(csrf);
    let bucket_e = escape(bucket);
    let mut body = format!(
        "{}<section><h2>Settings of <span id=\"settings-bucket\">{bucket_e}</span></h2>\
         <p><a href=\"{PREFIX}buckets\">All buckets</a></p></section>",
        notice_html(notice)
    );
    let hidden = |k: &Kind| {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{csrf_e}\">\
             <input type=\"hidden\" name=\"bucket\" value=\"{bucket_e}\">\
             <input type=\"hidden\" name=\"kind\" value=\"{}\">",
            k.id
        )
    };
    for (k, cur) in current {
        let (shown, text) = match cur {
            Current::Set(doc) => (
                format!(
                    "<pre class=\"current\" id=\"{}-current\">{}</pre>",
                    k.id,
                    escape(doc)
                ),
                doc.as_str(),
            ),
            Current::None => (
                format!(
                    "<p class=\"current muted\" id=\"{}-current\">None.</p>",
                    k.id
                ),
                "",
            ),
            Current::Failed(why) => (
                format!(
                    "<p class=\"current notice error\" id=\"{}-current\">Could not be read: {}</p>",
                    k.id,
                    escape(why)
                ),
                "",
            ),
        };
        let _ = write!(
            body,
            "<section id=\"{id}\"><h2>{}</h2>{shown}",
            k.title,
            id = k.id
        );
        let action = format!("{PREFIX}settings");
        if k.id == "versioning" {
            let _ = write!(
                body,
                "<form method=\"post\" action=\"{action}\">{}\
                 <button id=\"versioning-enable\" name=\"action\" value=\"Enabled\" type=\"submit\">Enable</button> \
                 <button id=\"versioning-suspend\" name=\"action\" value=\"Suspended\" type=\"submit\">Suspend</button>\
                 </form>",
                hidden(k)
            );
        } else {
            let _ = write!(
                body,
                "<form method=\"post\" action=\"{action}\">{}\
                 <textarea id=\"{id}-document\" name=\"document\" rows=\"8\">{}</textarea>\
                 <p><button id=\"{id}-save\" name=\"action\" value=\"save\" type=\"submit\">Save</button></p></form>\
                 <form method=\"post\" action=\"{action}\">{}\
                 <button id=\"{id}-delete\" class=\"danger\" name=\"action\" value=\"delete\" type=\"submit\">Remove</button></form>",
                hidden(k),
                escape(text),
                hidden(k),
                id = k.id
            );
        }
        body.push_str("</section>");
    }
    layout_with(
        &format!("Settings of {bucket}"),
        Some((access_key, csrf)),
        "",
        &body,
    )
}

impl super::Console {
    /// `GET settings/<bucket>`: every configuration as S3 answers it to
    /// the session's key.
    pub(super) async fn settings_page<D: S3Dispatch, B>(
        &self,
        s3: &D,
        req: &http::Request<B>,
        s: &SessionView,
        bucket: &str,
    ) -> http::Response<s3s::Body> {
        let host = super::request_host(req);
        let signer = self.signer(s, &host);
        let current = read_all(s3, &signer, bucket).await;
        let notice = self.sessions.take_notice(&s.id);
        super::page_response(
            http::StatusCode::OK,
            &page(&s.access_key, &s.csrf, bucket, &current, notice.as_ref()),
            &[],
        )
    }
}

/// The bucket a `settings/<bucket>` page names (percent-decoded).
pub fn bucket_of(page: &str) -> Option<String> {
    let raw = page.strip_prefix("settings/")?;
    let name = urlencoding::decode(raw).ok()?.into_owned();
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_shows_each_configuration_and_escapes_it() {
        let evil = "\"><script>alert(1)</script>";
        let current = vec![
            (KINDS[0], Current::Set("<VersioningConfiguration/>".into())),
            (KINDS[1], Current::None),
            (KINDS[2], Current::Failed(evil.into())),
            (KINDS[3], Current::Set(evil.into())),
            (KINDS[4], Current::None),
        ];
        let notice = Notice::error(evil);
        let page = page(evil, evil, evil, &current, Some(&notice));
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;VersioningConfiguration/&gt;"));
        assert!(page.contains("id=\"lifecycle-current\">None."));
        // Every form carries the token; versioning has no document.
        let forms = page.matches("<form").count();
        assert_eq!(forms, 1 + 1 + 4 * 2); // sign-out, versioning, 4 × (save, remove)
        let token = format!("name=\"csrf\" value=\"{}\"", escape(evil));
        assert_eq!(page.matches(&token).count(), forms);
        assert!(!page.contains("versioning-document"));
        assert!(page.contains("id=\"policy-document\" name=\"document\" rows=\"8\">&quot;&gt;"));
    }

    #[test]
    fn settings_paths_name_one_bucket() {
        assert_eq!(bucket_of("settings/photos").as_deref(), Some("photos"));
        assert_eq!(bucket_of("settings/a%2Fb"), None);
        assert_eq!(bucket_of("settings/"), None);
        assert_eq!(bucket_of("buckets"), None);
        assert_eq!(page_path("a b"), "/_shale/console/settings/a%20b");
    }
}
