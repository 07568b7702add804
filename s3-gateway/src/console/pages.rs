//! The console's pages, rendered on the server as plain HTML.
//!
//! Every string that did not come from this file (bucket names, dates,
//! S3's messages, the access key, tokens) goes through [`escape`] before
//! it reaches a page, in text and in attribute values alike. Pages load
//! only the console's own style sheet and script (`console.js`); the
//! Content-Security-Policy the console sends allows nothing else (see
//! `mod.rs`).

use std::fmt::Write;

use super::client::BucketRow;
use super::session::Notice;

/// `s` with HTML's special characters replaced by entities: safe in text
/// and in double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// The console's style sheet, served at `style.css`.
pub const STYLE_CSS: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.6em 1.2em;display:flex;align-items:center;gap:1em}
header h1{font-size:1.1em;margin:0;flex:1}
header form{margin:0}
main{max-width:60em;margin:1.5em auto;padding:0 1.2em}
section{background:#fff;border:1px solid #d8dbe2;border-radius:6px;padding:1em 1.2em;margin-bottom:1.2em}
h2{font-size:1.05em;margin-top:0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4em .5em;border-bottom:1px solid #e5e7ec}
td form{margin:0}
label{display:block;margin:.5em 0 .2em}
input[type=text],input[type=password]{width:100%;max-width:28em;padding:.4em;box-sizing:border-box}
button{padding:.35em .9em;cursor:pointer}
button.danger{color:#a11}
.notice{padding:.6em 1em;border-radius:4px;margin-bottom:1em}
.notice.ok{background:#e3f4e6;border:1px solid #9fd3a8}
.notice.error{background:#fbe5e5;border:1px solid #e2a0a0}
.muted{color:#667}
nav#breadcrumb{margin-bottom:1em}
td.actions form,p.actions+form{display:inline;margin:0}
td.size,td.actions,td.modified,td.written{white-space:nowrap}
#uploads{list-style:none;padding:0}
#uploads li{display:flex;align-items:center;gap:.8em;margin:.3em 0}
#uploads .name{flex:1;overflow-wrap:anywhere}
#uploads progress{width:16em}
#uploads .state.done{color:#176c2b;font-weight:bold}
#uploads .state.failed{color:#a11}
input#link{width:100%;max-width:40em}
header nav a{color:#fff;margin-right:.9em}
meter,progress{width:10em;vertical-align:middle}
td.num,th.num{text-align:right}
pre{background:#f5f6f8;border:1px solid #e5e7ec;padding:.6em;overflow:auto;max-height:24em;white-space:pre-wrap;word-break:break-all}
textarea{width:100%;box-sizing:border-box;font-family:monospace}
";

pub(super) fn notice_html(notice: Option<&Notice>) -> String {
    match notice {
        Some(n) => format!(
            "<div id=\"notice\" class=\"notice {}\" role=\"status\">{}</div>",
            if n.error { "error" } else { "ok" },
            escape(&n.text)
        ),
        None => String::new(),
    }
}

/// A whole page: `title`, the header (with the key and a sign-out button
/// when signed in), and `body`.
pub(super) fn layout(title: &str, signed_in: Option<(&str, &str)>, body: &str) -> String {
    layout_with(title, signed_in, "", body)
}

/// [`layout`] with `head` (trusted markup, such as a refresh) in the
/// page's `<head>`.
pub(super) fn layout_with(
    title: &str,
    signed_in: Option<(&str, &str)>,
    head: &str,
    body: &str,
) -> String {
    let account = match signed_in {
        Some((access_key, csrf)) => format!(
            "<nav><a href=\"/_shale/console/buckets\">Buckets</a> \
             <a id=\"nav-cluster\" href=\"/_shale/console/cluster\">Cluster</a> \
             <a id=\"nav-replication\" href=\"/_shale/console/replication\">Replication</a> \
             <a id=\"nav-keys\" href=\"/_shale/console/keys\">Keys</a></nav>\
             <span id=\"signed-in-key\">{}</span>\
             <form method=\"post\" action=\"/_shale/console/sign-out\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button id=\"sign-out\" type=\"submit\">Sign out</button></form>",
            escape(access_key),
            escape(csrf)
        ),
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Shale console</title>{head}\
         <link rel=\"stylesheet\" href=\"/_shale/console/style.css\">\
         <script src=\"/_shale/console/console.js\" defer></script></head>\
         <body><header><h1>Shale console</h1>{account}</header><main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// The sign-in form, with the sign-in CSRF token, and a notice (a wrong
/// key or secret) if any.
pub fn sign_in(csrf: &str, access_key: &str, notice: Option<&Notice>) -> String {
    let body = format!(
        "<section><h2>Sign in</h2>{}\
         <form id=\"sign-in-form\" method=\"post\" action=\"/_shale/console/sign-in\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"access_key\">Access key</label>\
         <input type=\"text\" id=\"access_key\" name=\"access_key\" value=\"{}\" autocomplete=\"username\" required>\
         <label for=\"secret_key\">Secret</label>\
         <input type=\"password\" id=\"secret_key\" name=\"secret_key\" autocomplete=\"current-password\" required>\
         <p><button id=\"sign-in\" type=\"submit\">Sign in</button></p></form>\
         <p class=\"muted\">Sign in with an S3 access key and its secret: the console can do exactly \
         what that key may do through S3.</p></section>",
        notice_html(notice),
        escape(csrf),
        escape(access_key)
    );
    layout("Sign in", None, &body)
}

/// The buckets page: the key's buckets (each with a delete button), the
/// create form, and a notice if any.
pub fn buckets(
    access_key: &str,
    csrf: &str,
    region: &str,
    buckets: Result<&[BucketRow], &str>,
    notice: Option<&Notice>,
) -> String {
    let csrf_e = escape(csrf);
    let mut list = String::new();
    match buckets {
        Err(message) => {
            let _ = write!(
                list,
                "<div id=\"list-error\" class=\"notice error\">The buckets could not be listed: {}</div>",
                escape(message)
            );
        }
        Ok([]) => list.push_str("<p id=\"no-buckets\" class=\"muted\">No buckets yet.</p>"),
        Ok(rows) => {
            list.push_str(
                "<table id=\"buckets\"><thead><tr><th>Name</th><th>Created</th><th></th></tr></thead><tbody>",
            );
            for row in rows {
                let name = escape(&row.name);
                let _ = write!(
                    list,
                    "<tr data-bucket=\"{name}\"><td class=\"name\"><a href=\"{}\">{name}</a></td><td class=\"created\">{}</td>\
                     <td><a class=\"settings\" href=\"{}\">Settings</a> \
                     <form method=\"post\" action=\"/_shale/console/buckets/delete\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf_e}\">\
                     <input type=\"hidden\" name=\"name\" value=\"{name}\">\
                     <button class=\"danger delete\" type=\"submit\">Delete</button></form></td></tr>",
                    escape(&super::objects::browse_url(&row.name, "", None)),
                    escape(&row.created),
                    escape(&super::settings::page_path(&row.name))
                );
            }
            list.push_str("</tbody></table>");
        }
    }
    let body = format!(
        "{}<section><h2>Buckets</h2>{list}</section>\
         <section><h2>Create a bucket</h2>\
         <form id=\"create-bucket-form\" method=\"post\" action=\"/_shale/console/buckets/create\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf_e}\">\
         <label for=\"bucket-name\">Name</label>\
         <input type=\"text\" id=\"bucket-name\" name=\"name\" required>\
         <label for=\"bucket-region\">Region</label>\
         <input type=\"text\" id=\"bucket-region\" name=\"region\" value=\"{}\">\
         <label><input type=\"checkbox\" id=\"bucket-versioning\" name=\"versioning\" value=\"enabled\"> \
         Versioning enabled</label>\
         <label><input type=\"checkbox\" id=\"bucket-object-lock\" name=\"object_lock\" value=\"enabled\"> \
         Object Lock enabled (with versioning; it cannot be turned off)</label>\
         <p><button id=\"create-bucket\" type=\"submit\">Create bucket</button></p></form></section>",
        notice_html(notice),
        escape(region)
    );
    layout("Buckets", Some((access_key, csrf)), &body)
}

/// A page that only says what went wrong (403, 404, 405, 413, …).
pub fn error(title: &str, message: &str) -> String {
    let body = format!(
        "<section><h2>{}</h2><div id=\"notice\" class=\"notice error\">{}</div>\
         <p><a href=\"/_shale/console/\">Back to the console</a></p></section>",
        escape(title),
        escape(message)
    );
    layout(title, None, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_every_special_character() {
        assert_eq!(
            escape(r#"<script>alert('x&"y')</script>"#),
            "&lt;script&gt;alert(&#x27;x&amp;&quot;y&#x27;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain-name.1"), "plain-name.1");
        assert_eq!(escape("é ü"), "é ü");
    }

    #[test]
    fn user_strings_never_reach_a_page_unescaped() {
        let evil = "\"><script>alert(1)</script>";
        let rows = [BucketRow {
            name: evil.into(),
            created: evil.into(),
        }];
        let notice = Notice::error(evil);
        let pages = [
            buckets(evil, evil, evil, Ok(&rows), Some(&notice)),
            buckets(evil, evil, evil, Err(evil), None),
            sign_in(evil, evil, Some(&notice)),
            error(evil, evil),
        ];
        for page in pages {
            assert!(!page.contains("<script>"), "{page}");
            assert!(page.contains("&lt;script&gt;"), "{page}");
        }
    }

    #[test]
    fn every_form_carries_the_csrf_token() {
        let rows = [BucketRow {
            name: "b1".into(),
            created: "2026-01-01T00:00:00.000Z".into(),
        }];
        let page = buckets("AK", "tok123", "us-east-1", Ok(&rows), None);
        let forms = page.matches("<form").count();
        assert_eq!(forms, 3); // sign-out, delete b1, create
        assert_eq!(
            page.matches("name=\"csrf\" value=\"tok123\"").count(),
            forms
        );
        let page = sign_in("tok456", "", None);
        assert_eq!(page.matches("<form").count(), 1);
        assert!(page.contains("name=\"csrf\" value=\"tok456\""));
    }
}
