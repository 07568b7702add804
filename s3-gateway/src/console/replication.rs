//! The replication page (`/_shale/console/replication`): per source and
//! destination bucket, the rules between them, the backlog, the oldest
//! pending task, lag p50/p99, and a chart of the lag over the last hour.
//!
//! The figures are the admin API's `replication-status` asked under the
//! signed-in key ([`super::admin_api`]), as `shale admin replication
//! status` asks them: a root key only. The chart is SVG drawn here (per
//! minute: the mean lag as a line, the largest as dots), inline in the
//! page; no script. Copies and lag are this gateway's worker's, since it
//! started; the backlog is the queue's, read from metadata.

use std::fmt::Write;

use serde_json::Value;

use super::client::S3Dispatch;
use super::cluster::REFRESH_SECONDS;
use super::pages::{escape, layout_with, notice_html};
use super::session::{Notice, SessionView};
use crate::admin::answer::{bytes, text};

/// The chart's size in SVG units.
const WIDTH: u64 = 600;
const HEIGHT: u64 = 140;
/// The chart's span.
const HOUR_MS: u64 = 3_600_000;

/// Milliseconds as a page shows them.
fn ms(v: &Value) -> String {
    match v.as_u64() {
        None => "-".into(),
        Some(ms) if ms < 10_000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// The lag chart of one pair: `history` is its `lag_history`, `now_ms`
/// the right edge (Unix ms).
pub fn chart(history: &[Value], now_ms: u64) -> String {
    let start = now_ms.saturating_sub(HOUR_MS);
    let points: Vec<(u64, u64, u64)> = history
        .iter()
        .filter_map(|m| {
            let t = m["minute_unix_ms"].as_u64()?;
            (t + 60_000 > start).then(|| (t, num(&m["mean_ms"]), num(&m["max_ms"])))
        })
        .collect();
    let top = points.iter().map(|p| p.2).max().unwrap_or(0).max(1);
    let x = |t: u64| (t.saturating_sub(start) + 30_000).min(HOUR_MS) * WIDTH / HOUR_MS;
    let y = |v: u64| HEIGHT - v.min(top) * (HEIGHT - 10) / top;
    let mut svg = format!(
        "<svg class=\"lag-chart\" viewBox=\"0 0 {WIDTH} {h}\" width=\"{WIDTH}\" height=\"{h}\" \
         role=\"img\" aria-label=\"Lag per minute over the last hour\">\
         <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#f5f6f8\" stroke=\"#d8dbe2\"/>\
         <text x=\"4\" y=\"12\" font-size=\"10\" fill=\"#667\">{}</text>\
         <text x=\"4\" y=\"{}\" font-size=\"10\" fill=\"#667\">-60 min</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#667\" text-anchor=\"end\">now</text>",
        escape(&ms(&Value::from(top))),
        HEIGHT + 14,
        WIDTH - 2,
        HEIGHT + 14,
        h = HEIGHT + 20,
    );
    if points.len() > 1 {
        let line: Vec<String> = points
            .iter()
            .map(|&(t, mean, _)| format!("{},{}", x(t), y(mean)))
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"mean\" fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"2\" points=\"{}\"/>",
            line.join(" ")
        );
    }
    for &(t, mean, max) in &points {
        let _ = write!(
            svg,
            "<circle class=\"max\" cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"#c53030\"/>\
             <circle class=\"mean\" cx=\"{}\" cy=\"{}\" r=\"2\" fill=\"#2b6cb0\"/>",
            x(t),
            y(max),
            x(t),
            y(mean)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The replication page: `status` is the admin API's answer, or why it
/// could not be read.
pub fn page(access_key: &str, csrf: &str, status: Result<&Value, &str>, now_ms: u64) -> String {
    let mut body = String::new();
    let v = match status {
        Err(message) => {
            body.push_str(&notice_html(Some(&Notice::error(format!(
                "Replication's status could not be read: {message}"
            )))));
            return layout_with("Replication", Some((access_key, csrf)), "", &body);
        }
        Ok(v) => v,
    };
    let pairs = v["pairs"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let _ = write!(
        body,
        "<section><h2>Replication</h2><p>Region <strong>{}</strong>: {} source and \
         destination pair(s). <span class=\"muted\">Copies and lag are this gateway's \
         worker's; this page reloads every {REFRESH_SECONDS} s.</span></p></section>",
        escape(&text(&v["region"])),
        pairs.len()
    );
    if pairs.is_empty() {
        body.push_str("<section><p id=\"no-pairs\" class=\"muted\">No bucket has a replication rule.</p></section>");
    }
    for p in pairs {
        let rules: Vec<String> = p["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let _ = write!(
            body,
            "<section class=\"pair\" data-source=\"{src}\" data-destination=\"{dst}\">\
             <h2>{src} → {dst}</h2><table><tbody>\
             <tr><th>Rules</th><td class=\"rules\">{}</td></tr>\
             <tr><th>Backlog</th><td class=\"backlog\">{} task(s), {}; {} failed</td></tr>\
             <tr><th>Oldest pending</th><td class=\"oldest\">{}</td></tr>\
             <tr><th>Lag (last 5 min)</th><td class=\"lag\">p50 <span class=\"p50\">{}</span>, \
             p99 <span class=\"p99\">{}</span>, max {}</td></tr>\
             <tr><th>Copied</th><td class=\"copied\">{} ({}), {} retries, {} failed</td></tr>\
             <tr><th>Last error</th><td class=\"last-error\">{}</td></tr>\
             </tbody></table>{}</section>",
            escape(&rules.join(", ")),
            num(&p["pending"]),
            bytes(num(&p["pending_bytes"])),
            num(&p["failed_pending"]),
            escape(&match p["oldest_pending_ms"].as_u64() {
                Some(age) => format!("{} ago", ms(&Value::from(age))),
                None => "none".into(),
            }),
            escape(&ms(&p["lag_p50_ms"])),
            escape(&ms(&p["lag_p99_ms"])),
            escape(&ms(&p["lag_max_ms"])),
            num(&p["replicated"]),
            bytes(num(&p["replicated_bytes"])),
            num(&p["retries"]),
            num(&p["failed"]),
            escape(&text(&p["last_error"])),
            chart(
                p["lag_history"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
                now_ms
            ),
            src = escape(&text(&p["bucket"])),
            dst = escape(&text(&p["destination"])),
        );
    }
    let head = format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">");
    layout_with("Replication", Some((access_key, csrf)), &head, &body)
}

impl super::Console {
    /// `GET replication`: the admin API's `replication-status` for the
    /// session's key.
    pub(super) async fn replication_page<D: S3Dispatch, B>(
        &self,
        s3: &D,
        req: &http::Request<B>,
        s: &SessionView,
    ) -> http::Response<s3s::Body> {
        let answer = self.admin_read(s3, req, s, "replication-status").await;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let html = match &answer {
            Ok(v) => page(&s.access_key, &s.csrf, Ok(v), now_ms),
            Err(f) => page(&s.access_key, &s.csrf, Err(&f.describe()), now_ms),
        };
        super::page_response(http::StatusCode::OK, &html, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_chart_places_each_minute_on_the_hour() {
        let now = 10 * HOUR_MS;
        let history = [
            json!({"minute_unix_ms": now - HOUR_MS - 120_000, "copies": 1, "mean_ms": 5, "max_ms": 5}),
            json!({"minute_unix_ms": now - 30 * 60_000, "copies": 2, "mean_ms": 100, "max_ms": 200}),
            json!({"minute_unix_ms": now - 60_000, "copies": 1, "mean_ms": 50, "max_ms": 50}),
        ];
        let svg = chart(&history, now);
        // The minute older than an hour is left out; the others are points.
        assert_eq!(svg.matches("<circle class=\"max\"").count(), 2);
        assert!(svg.contains("points=\"305,75 595,108\""), "{svg}");
        assert!(svg.contains("cx=\"305\" cy=\"10\""), "{svg}"); // the top is the max
        assert!(svg.contains(">200 ms<"));
        assert!(!chart(&[], now).contains("<circle"));
    }

    #[test]
    fn pairs_are_shown_escaped_and_a_refusal_is_a_notice() {
        let evil = "\"><script>alert(1)</script>";
        let v = json!({"region": evil, "pairs": [{
            "bucket": evil, "destination": evil, "rules": [evil], "pending": 2,
            "pending_bytes": 2048, "oldest_pending_ms": 1500, "failed_pending": 0,
            "replicated": 3, "replicated_bytes": 10, "lag_p50_ms": 40, "lag_p99_ms": 90,
            "lag_max_ms": 95, "retries": 0, "failed": 0, "last_error": evil,
            "lag_history": [],
        }]});
        let page = page("AK", "tok", Ok(&v), 0);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("<span class=\"p50\">40 ms</span>"));
        assert!(page.contains("1500 ms ago"));
        assert!(page.contains("2 task(s), 2.0 KiB"));
        let refused = super::page("AK", "tok", Err(evil), 0);
        assert!(!refused.contains("<script>") && refused.contains("id=\"notice\""));
    }
}
