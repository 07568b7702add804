//! The keys page (`/_shale/console/keys`): the access keys, and forms to
//! create one, grant it a bucket and delete it.
//!
//! Each is the admin API's operation (`key-list`, `key-create`,
//! `key-grant`, `key-delete`) asked under the signed-in key
//! ([`super::admin_api`]), so exactly a key that `shale admin key` would
//! serve may use the page; any other sees the admin API's refusal. A new
//! key's secret is shown once: it travels in the session's one-shot
//! notice (this gateway's memory) to the page the create redirects to,
//! and no later page has it (the admin API never returns it again).

use std::fmt::Write;

use serde_json::Value;

use super::admin_api::admin;
use super::client::{S3Dispatch, Signer};
use super::pages::{escape, layout_with, notice_html};
use super::session::{Notice, SessionView};
use super::{Form, PREFIX};
use crate::admin::answer::{self, text};

/// A key's grants as one cell: `root`, or `bucket:permission, …`.
fn grants(v: &Value) -> String {
    answer::grants(v, ", ")
}

/// The keys page: `keys` is the admin API's `key-list` answer, or why it
/// could not be read.
pub fn page(
    access_key: &str,
    csrf: &str,
    keys: Result<&[Value], &str>,
    notice: Option<&Notice>,
) -> String {
    let csrf_e = escape(csrf);
    let token = format!("<input type=\"hidden\" name=\"csrf\" value=\"{csrf_e}\">");
    let mut body = notice_html(notice);
    body.push_str("<section><h2>Access keys</h2>");
    match keys {
        Err(message) => {
            let _ = write!(
                body,
                "<div id=\"list-error\" class=\"notice error\">The keys could not be listed: {}</div></section>",
                escape(message)
            );
            return layout_with("Keys", Some((access_key, csrf)), "", &body);
        }
        Ok(keys) => {
            body.push_str(
                "<table id=\"keys\"><thead><tr><th>Access key</th><th>Name</th><th>User</th>\
                 <th>State</th><th>Grants</th><th></th></tr></thead><tbody>",
            );
            for k in keys {
                let id = escape(&text(&k["access_key"]));
                let root = k["grants"] == "root";
                let delete = if root {
                    "<span class=\"muted\">root</span>".to_owned()
                } else {
                    format!(
                        "<form method=\"post\" action=\"{PREFIX}keys/delete\">{token}\
                         <input type=\"hidden\" name=\"access_key\" value=\"{id}\">\
                         <button class=\"danger delete\" type=\"submit\">Delete</button></form>"
                    )
                };
                let _ = write!(
                    body,
                    "<tr data-key=\"{id}\"><td class=\"access-key\">{id}</td><td class=\"name\">{}</td>\
                     <td>{}</td><td>{}</td><td class=\"grants\">{}</td><td>{delete}</td></tr>",
                    escape(&text(&k["name"])),
                    escape(&text(&k["user"])),
                    if k["disabled"] == true {
                        "disabled"
                    } else {
                        "enabled"
                    },
                    escape(&grants(&k["grants"])),
                );
            }
            body.push_str("</tbody></table></section>");
        }
    }
    let _ = write!(
        body,
        "<section><h2>Create a key</h2>\
         <form id=\"create-key-form\" method=\"post\" action=\"{PREFIX}keys/create\">{token}\
         <label for=\"key-name\">Name</label>\
         <input type=\"text\" id=\"key-name\" name=\"name\" required>\
         <label for=\"key-grant-bucket\">Bucket (optional)</label>\
         <input type=\"text\" id=\"key-grant-bucket\" name=\"bucket\">\
         <label for=\"key-grant-permission\">Permission on it</label>\
         <select id=\"key-grant-permission\" name=\"permission\">\
         <option value=\"read\">read</option><option value=\"write\">write</option>\
         <option value=\"owner\">owner</option></select>\
         <p><button id=\"create-key\" type=\"submit\">Create key</button></p></form>\
         <p class=\"muted\">The new key's secret is shown once, on the next page.</p></section>\
         <section><h2>Grant a bucket</h2>\
         <form id=\"grant-form\" method=\"post\" action=\"{PREFIX}keys/grant\">{token}\
         <label for=\"grant-key\">Access key</label>\
         <input type=\"text\" id=\"grant-key\" name=\"access_key\" required>\
         <label for=\"grant-bucket\">Bucket</label>\
         <input type=\"text\" id=\"grant-bucket\" name=\"bucket\" required>\
         <label for=\"grant-permission\">Permission</label>\
         <select id=\"grant-permission\" name=\"permission\">\
         <option value=\"read\">read</option><option value=\"write\">write</option>\
         <option value=\"owner\">owner</option><option value=\"none\">none (revoke)</option></select>\
         <p><button id=\"grant\" type=\"submit\">Grant</button></p></form></section>"
    );
    layout_with("Keys", Some((access_key, csrf)), "", &body)
}

impl super::Console {
    /// `GET keys`: the admin API's `key-list` for the session's key.
    pub(super) async fn keys_page<D: S3Dispatch, B>(
        &self,
        s3: &D,
        req: &http::Request<B>,
        s: &SessionView,
    ) -> http::Response<s3s::Body> {
        let listed = self.admin_read(s3, req, s, "key-list").await;
        let notice = self.sessions.take_notice(&s.id);
        let html = match &listed {
            Ok(v) => page(
                &s.access_key,
                &s.csrf,
                Ok(v.as_array().map(Vec::as_slice).unwrap_or(&[])),
                notice.as_ref(),
            ),
            Err(f) => page(&s.access_key, &s.csrf, Err(&f.describe()), notice.as_ref()),
        };
        super::page_response(http::StatusCode::OK, &html, &[])
    }
}

/// A POST of the keys page (`keys/create`, `keys/grant`, `keys/delete`):
/// the admin API's operation; the notice that says what happened.
pub(super) async fn apply<D: S3Dispatch>(
    s3: &D,
    signer: &Signer<'_>,
    page: &str,
    form: &Form,
) -> Notice {
    let field = |name: &str| form.get(name).unwrap_or("").trim();
    match page {
        "keys/create" => {
            let name = field("name");
            if name.is_empty() {
                return Notice::error("Give the key a name.");
            }
            let grant = format!("{}:{}", field("bucket"), field("permission"));
            let mut params = vec![("name", name)];
            if !field("bucket").is_empty() {
                params.push(("grant", grant.as_str()));
            }
            match admin(s3, signer, http::Method::POST, "key-create", &params).await {
                Ok(v) => Notice::ok(format!(
                    "Key {} created. Its secret, shown only this once: {}",
                    text(&v["access_key"]),
                    text(&v["secret_key"])
                )),
                Err(f) => Notice::error(format!("The key was not created: {}", f.describe())),
            }
        }
        "keys/grant" => {
            let (key, bucket, permission) =
                (field("access_key"), field("bucket"), field("permission"));
            let params = [
                ("access_key", key),
                ("bucket", bucket),
                ("permission", permission),
            ];
            match admin(s3, signer, http::Method::POST, "key-grant", &params).await {
                Ok(_) => Notice::ok(format!("Key {key} now has {permission} on {bucket}.")),
                Err(f) => Notice::error(format!("The grant was not made: {}", f.describe())),
            }
        }
        "keys/delete" => {
            let key = field("access_key");
            match admin(
                s3,
                signer,
                http::Method::POST,
                "key-delete",
                &[("access_key", key)],
            )
            .await
            {
                Ok(_) => Notice::ok(format!("Key {key} deleted.")),
                Err(f) => Notice::error(format!("Key {key} was not deleted: {}", f.describe())),
            }
        }
        _ => Notice::error("No such change."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_listed_escaped_and_every_form_has_the_token() {
        let evil = "\"><script>alert(1)</script>";
        let keys = [
            json!({"access_key": "AKROOT", "name": "root", "user": null,
                   "disabled": false, "grants": "root"}),
            json!({"access_key": evil, "name": evil, "user": evil, "disabled": true,
                   "grants": [{"bucket": evil, "permission": "read"}]}),
        ];
        let notice = Notice::ok(evil);
        let page = page("AK", "tok", Ok(&keys), Some(&notice));
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("alert(1)&lt;/script&gt;:read"));
        // sign-out, one delete (the root key has none), create, grant
        assert_eq!(page.matches("<form").count(), 4);
        assert_eq!(page.matches("name=\"csrf\" value=\"tok\"").count(), 4);
        let refused = super::page("AK", "tok", Err(evil), None);
        assert!(!refused.contains("<script>") && !refused.contains("id=\"keys\""));
    }
}
