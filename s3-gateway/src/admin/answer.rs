//! The admin API's JSON answers as text, for the two that show them:
//! `shale admin` (a terminal) and the console's pages.

use serde_json::Value;

/// A JSON value as one cell: a string as it is, `null` as `-`.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A key's or user's `grants` as one cell: `root`, `(no buckets)`, or
/// `bucket:permission` joined by `sep`.
pub fn grants(v: &Value, sep: &str) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "(no buckets)".into(),
        Value::Array(a) => a
            .iter()
            .map(|g| format!("{}:{}", text(&g["bucket"]), text(&g["permission"])))
            .collect::<Vec<_>>()
            .join(sep),
        other => other.to_string(),
    }
}

/// `n` bytes in binary units (`1.5 GiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_grants_and_sizes_read_as_text() {
        assert_eq!(text(&json!("a")), "a");
        assert_eq!(text(&Value::Null), "-");
        assert_eq!(text(&json!(7)), "7");
        let g =
            json!([{"bucket": "b", "permission": "read"}, {"bucket": "c", "permission": "owner"}]);
        assert_eq!(grants(&g, ","), "b:read,c:owner");
        assert_eq!(grants(&g, ", "), "b:read, c:owner");
        assert_eq!(grants(&json!([]), ","), "(no buckets)");
        assert_eq!(grants(&json!("root"), ","), "root");
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
