//! The cluster page (`/_shale/console/cluster`): what `shale admin status`
//! shows, as a page that reloads itself every [`REFRESH_SECONDS`].
//!
//! The figures are the admin API's `status` answer, asked under the
//! signed-in key ([`super::admin_api`]): a root key sees the storage nodes
//! (zone, state, last heartbeat, disks with capacity bars), the metadata
//! group (leader, each replica's applied index and lag), the scrubbers',
//! this gateway's healer's and collector's progress, and the drains; any
//! other key sees the admin API's refusal. Capacity and progress bars are
//! `<meter>` and `<progress>` elements: the pages' CSP allows no inline
//! style and no script.

use std::fmt::Write;

use serde_json::Value;

use super::client::S3Dispatch;
use super::pages::{escape, layout_with, notice_html};
use super::session::Notice;
use crate::admin::answer::{self, bytes};

/// How often the page reloads itself, in seconds.
pub const REFRESH_SECONDS: u32 = 5;

impl super::Console {
    /// `GET cluster`: the page, from the admin API's `status` as the
    /// session's key may read it.
    pub(super) async fn cluster_page<D: S3Dispatch, B>(
        &self,
        s3: &D,
        req: &http::Request<B>,
        s: &super::session::SessionView,
    ) -> http::Response<s3s::Body> {
        let answer = self.admin_read(s3, req, s, "status").await;
        let html = match &answer {
            Ok(v) => page(&s.access_key, &s.csrf, Ok(v)),
            Err(f) => page(&s.access_key, &s.csrf, Err(&f.describe())),
        };
        super::page_response(http::StatusCode::OK, &html, &[])
    }
}

/// A JSON value as a cell shows it ([`answer::text`]), an empty string
/// as `-` too.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "-".into(),
        other => answer::text(other),
    }
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// A time in milliseconds ago as a page shows it (`1.2 s ago`).
fn ago(ms: Option<u64>) -> String {
    match ms {
        None => "never".into(),
        Some(ms) if ms < 120_000 => format!("{:.1} s ago", ms as f64 / 1000.0),
        Some(ms) if ms < 7_200_000 => format!("{} min ago", ms / 60_000),
        Some(ms) => format!("{} h ago", ms / 3_600_000),
    }
}

fn metadata_section(out: &mut String, m: &Value) {
    let replicas = m["replicas"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    out.push_str("<section id=\"metadata\"><h2>Metadata group</h2>");
    match m["leader"].as_u64() {
        Some(id) => {
            let _ = write!(
                out,
                "<p id=\"metadata-leader\">{} replica(s); leader <strong>{id}</strong> \
                 (term {}, last log entry {}).</p>",
                replicas.len(),
                escape(&text(&m["term"])),
                escape(&text(&m["last_log"]))
            );
        }
        None => {
            let _ = write!(
                out,
                "<p id=\"metadata-leader\" class=\"notice error\">No leader answers \
                 ({} replica(s) configured).</p>",
                replicas.len()
            );
        }
    }
    out.push_str(
        "<table id=\"replicas\"><thead><tr><th>Replica</th><th>Address</th><th>Role</th>\
         <th>State</th><th class=\"num\">Applied index</th><th class=\"num\">Lag (entries)</th>\
         </tr></thead><tbody>",
    );
    for r in replicas {
        let state = if r["reachable"] == true {
            text(&r["state"])
        } else {
            "unreachable".into()
        };
        let _ = write!(
            out,
            "<tr data-replica=\"{}\"><td>{}</td><td>{}</td><td class=\"role\">{}</td>\
             <td>{}</td><td class=\"num applied\">{}</td><td class=\"num lag\">{}</td></tr>",
            escape(&text(&r["addr"])),
            escape(&text(&r["id"])),
            escape(&text(&r["addr"])),
            escape(&text(&r["role"])),
            escape(&state),
            escape(&text(&r["applied"])),
            escape(&text(&r["lag"])),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn nodes_section(out: &mut String, nodes: &[Value]) {
    let up = nodes.iter().filter(|n| n["up"] == true).count();
    let _ = write!(
        out,
        "<section><h2>Storage nodes</h2><p id=\"nodes-summary\">{} node(s), {up} up.</p>\
         <table id=\"nodes\"><thead><tr><th>Node</th><th>Address</th><th>Zone</th>\
         <th>State</th><th>Last heartbeat</th><th class=\"num\">Chunks</th>\
         <th class=\"num\">Corrupt</th></tr></thead><tbody>",
        nodes.len()
    );
    for n in nodes {
        let disks = n["disks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let chunks: u64 = disks.iter().map(|d| num(&d["chunks"])).sum();
        let state = text(&n["state"]);
        let _ = write!(
            out,
            "<tr data-node=\"{id}\" data-state=\"{state}\"><td>{id}</td><td>{}</td>\
             <td class=\"zone\">{}</td><td class=\"state\">{state}</td>\
             <td class=\"heartbeat\">{}</td><td class=\"num\">{chunks}</td>\
             <td class=\"num\">{}</td></tr>",
            escape(&text(&n["addr"])),
            escape(&text(&n["zone"])),
            escape(&ago(n["last_heartbeat_ms_ago"].as_u64())),
            num(&n["corrupt_chunks"]),
            id = escape(&text(&n["id"])),
            state = escape(&state),
        );
    }
    out.push_str("</tbody></table></section>");

    out.push_str(
        "<section><h2>Disks</h2><table id=\"disks\"><thead><tr><th>Node</th><th>Disk</th>\
         <th>Used</th><th></th><th class=\"num\">Chunks</th></tr></thead><tbody>",
    );
    for n in nodes {
        let id = escape(&text(&n["id"]));
        for d in n["disks"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let path = escape(&text(&d["path"]));
            // The file system's use (what fills a disk), and the part of it
            // that is chunks.
            let capacity = d["capacity_bytes"].as_u64();
            let used = capacity.map(|c| c.saturating_sub(num(&d["available_bytes"])));
            let (bar, figures) = match (used, capacity) {
                (Some(u), Some(c)) if c > 0 => (
                    format!(
                        "<meter min=\"0\" max=\"{c}\" value=\"{u}\" high=\"{}\" optimum=\"0\">{}%</meter>",
                        c / 10 * 9,
                        u * 100 / c
                    ),
                    format!(
                        "{} of {} ({} by chunks)",
                        bytes(u),
                        bytes(c),
                        bytes(num(&d["used_bytes"]))
                    ),
                ),
                _ => (
                    String::new(),
                    format!("{} by chunks", bytes(num(&d["used_bytes"]))),
                ),
            };
            let error = match d["error"].as_str() {
                Some(e) => format!(" <span class=\"disk-error\">{}</span>", escape(e)),
                None => String::new(),
            };
            let _ = write!(
                out,
                "<tr data-node=\"{id}\" data-disk=\"{path}\"><td>{id}</td><td>{path}</td>\
                 <td class=\"bar\">{bar}</td><td class=\"used\">{}{error}</td>\
                 <td class=\"num\">{}</td></tr>",
                escape(&figures),
                num(&d["chunks"]),
            );
        }
    }
    out.push_str("</tbody></table></section>");
}

fn drains_section(out: &mut String, nodes: &[Value], heal: &Value) {
    let draining: Vec<&Value> = nodes
        .iter()
        .filter(|n| text(&n["state"]).starts_with("draining") || !n["drain_chunks_left"].is_null())
        .collect();
    out.push_str("<section id=\"drains\"><h2>Drains</h2>");
    if draining.is_empty() {
        out.push_str("<p class=\"muted\">No node is being drained.</p></section>");
        return;
    }
    if heal.is_object() {
        // This gateway's healer's count: chunks moved off draining nodes
        // and chunks it last found left on them.
        let (moved, left) = (num(&heal["drained"]), num(&heal["drain_backlog"]));
        // Nothing moved and nothing left: done (an empty node drains at once).
        let (value, max) = if moved + left == 0 {
            (1, 1)
        } else {
            (moved, moved + left)
        };
        let _ = write!(
            out,
            "<p>This gateway's healer: <progress id=\"drain-progress\" max=\"{max}\" value=\"{value}\">\
             </progress> {moved} chunk(s) moved, {left} left.</p>"
        );
    }
    out.push_str(
        "<table id=\"drain-nodes\"><thead><tr><th>Node</th><th>State</th>\
         <th class=\"num\">Chunks left</th></tr></thead><tbody>",
    );
    for n in draining {
        let left = if n["drained"] == true {
            "0 (drained)".to_owned()
        } else {
            match n["drain_chunks_left"].as_u64() {
                Some(l) => l.to_string(),
                None => "not counted yet".into(),
            }
        };
        let _ = write!(
            out,
            "<tr data-node=\"{}\"><td>{0}</td><td class=\"state\">{}</td><td class=\"num left\">{}</td></tr>",
            escape(&text(&n["id"])),
            escape(&text(&n["state"])),
            escape(&left)
        );
    }
    out.push_str("</tbody></table></section>");
}

fn workers_section(out: &mut String, nodes: &[Value], heal: &Value, gc: &Value) {
    out.push_str("<section id=\"workers\"><h2>Background work</h2><table><tbody>");
    let scrubs: Vec<&Value> = nodes
        .iter()
        .map(|n| &n["scrub"])
        .filter(|s| s.is_object())
        .collect();
    let sum = |k: &str| scrubs.iter().map(|s| num(&s[k])).sum::<u64>();
    let _ = write!(
        out,
        "<tr id=\"scrub\"><th>Scrub</th><td>{} node(s) answering: {} pass(es), {} chunk(s) \
         ({}) verified, {} corrupt</td></tr>",
        scrubs.len(),
        sum("passes"),
        sum("chunks_checked"),
        bytes(sum("bytes_checked")),
        sum("corrupt")
    );
    if heal.is_object() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let last = heal["last_sweep_unix_ms"]
            .as_u64()
            .map(|ms| ago(Some(now_ms.saturating_sub(ms))));
        let _ = write!(
            out,
            "<tr id=\"heal\"><th>Heal</th><td>backlog {} chunk(s), {} unavailable; \
             {} healed ({} moved), {} failed; last sweep {}</td></tr>",
            num(&heal["backlog"]),
            num(&heal["unavailable"]),
            num(&heal["healed"]),
            num(&heal["moved"]),
            num(&heal["failed"]),
            escape(&last.unwrap_or_else(|| "none yet".into()))
        );
    } else {
        out.push_str(
            "<tr id=\"heal\"><th>Heal</th><td class=\"muted\">this gateway runs no healer</td></tr>",
        );
    }
    if gc.is_object() {
        let _ = write!(
            out,
            "<tr id=\"gc\"><th>GC</th><td>{} due, {} done; {} chunk(s) deleted, \
             {} delete failure(s); {} orphan(s) deleted</td></tr>",
            num(&gc["due"]),
            num(&gc["entries_done"]),
            num(&gc["chunks_deleted"]),
            num(&gc["chunk_failures"]),
            num(&gc["orphans_deleted"]),
        );
    } else {
        out.push_str(
            "<tr id=\"gc\"><th>GC</th><td class=\"muted\">this gateway runs no collector</td></tr>",
        );
    }
    out.push_str("</tbody></table></section>");
}

/// The cluster page: `status` is the admin API's answer, or why it could
/// not be read (its S3 error, shown as the page's notice).
pub fn page(access_key: &str, csrf: &str, status: Result<&Value, &str>) -> String {
    let mut body = String::new();
    let head = match status {
        Err(message) => {
            body.push_str(&notice_html(Some(&Notice::error(format!(
                "The cluster's status could not be read: {message}"
            )))));
            String::new()
        }
        Ok(v) => {
            let nodes = v["nodes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let _ = write!(
                body,
                "<section><h2>Cluster</h2><p id=\"cluster-summary\">Region <strong>{}</strong>; \
                 map epoch {} (this gateway places by {}); {} bucket(s). \
                 <span class=\"muted\">This page reloads every {REFRESH_SECONDS} s.</span></p></section>",
                escape(&text(&v["region"])),
                escape(&text(&v["epoch"])),
                escape(&text(&v["gateway_epoch"])),
                escape(&text(&v["buckets"])),
            );
            metadata_section(&mut body, &v["metadata"]);
            nodes_section(&mut body, nodes);
            drains_section(&mut body, nodes, &v["heal"]);
            workers_section(&mut body, nodes, &v["heal"], &v["gc"]);
            format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">")
        }
    };
    layout_with("Cluster", Some((access_key, csrf)), &head, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(evil: &str) -> Value {
        json!({
            "region": evil,
            "epoch": 7,
            "gateway_epoch": 7,
            "buckets": 2,
            "metadata": {
                "leader": 1, "term": 3, "last_log": 40,
                "replicas": [
                    {"id": 1, "addr": evil, "role": "leader", "reachable": true,
                     "state": "Leader", "applied": 40, "lag": 0},
                    {"id": 2, "addr": "127.0.0.1:2", "role": "follower", "reachable": false,
                     "state": null, "applied": null, "lag": null},
                ],
            },
            "nodes": [
                {"id": 1, "addr": evil, "zone": evil, "state": "up", "up": true,
                 "last_heartbeat_ms_ago": 300, "corrupt_chunks": 0, "drain_chunks_left": null,
                 "drained": false, "scrub": {"passes": 2, "chunks_checked": 5,
                 "bytes_checked": 2048, "corrupt": 0},
                 "disks": [{"path": evil, "chunks": 5, "used_bytes": 1024,
                            "capacity_bytes": 10_000, "available_bytes": 4_000, "error": evil}]},
                {"id": 2, "addr": "127.0.0.1:3", "zone": "z2", "state": "draining (down)",
                 "up": false, "last_heartbeat_ms_ago": 9000, "corrupt_chunks": 1,
                 "drain_chunks_left": 3, "drained": false, "scrub": null, "disks": []},
            ],
            "heal": {"backlog": 1, "unavailable": 0, "healed": 4, "moved": 2, "failed": 0,
                     "drained": 5, "drain_backlog": 3, "last_sweep_unix_ms": null},
            "gc": {"due": 0, "entries_done": 1, "chunks_deleted": 6, "chunk_failures": 0,
                   "orphans_deleted": 0},
        })
    }

    #[test]
    fn the_page_shows_nodes_disks_group_and_drains() {
        let v = sample("z1");
        let page = page("AK", "tok", Ok(&v));
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(page.contains("<tr data-node=\"1\" data-state=\"up\">"));
        assert!(page.contains("data-state=\"draining (down)\""));
        assert!(page.contains("<meter min=\"0\" max=\"10000\" value=\"6000\""));
        assert!(page.contains("5.9 KiB of 9.8 KiB (1.0 KiB by chunks)"));
        assert!(page.contains("leader <strong>1</strong>"));
        assert!(page.contains("<td>unreachable</td>"));
        assert!(page.contains("<progress id=\"drain-progress\" max=\"8\" value=\"5\">"));
        assert!(page.contains("1 node(s) answering: 2 pass(es)"));
        assert!(page.contains("6 chunk(s) deleted"));
    }

    #[test]
    fn every_shown_string_is_escaped_and_a_refusal_is_a_notice() {
        let evil = "\"><script>alert(1)</script>";
        let v = sample(evil);
        for page in [page(evil, evil, Ok(&v)), page("AK", "tok", Err(evil))] {
            assert!(!page.contains("<script>"), "{page}");
            assert!(page.contains("&lt;script&gt;"), "{page}");
        }
        let refused = page(
            "AK",
            "tok",
            Err("AccessDenied: the admin API needs a root key"),
        );
        assert!(refused.contains(
            "id=\"notice\" class=\"notice error\" role=\"status\">The cluster&#x27;s status \
             could not be read: AccessDenied: the admin API needs a root key"
        ));
        assert!(!refused.contains("http-equiv"));
        assert!(!refused.contains("id=\"nodes\""));
    }

    #[test]
    fn sizes_and_ages_read_as_people_say_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(ago(None), "never");
        assert_eq!(ago(Some(1_240)), "1.2 s ago");
        assert_eq!(ago(Some(600_000)), "10 min ago");
        assert_eq!(ago(Some(10_800_000)), "3 h ago");
    }
}
